"""Messages and log lines count correctly: "1 line ... was", "2 lines ... were", never
"(s)" or "1 rows". Each message is triggered with a count of 1 and of 2 through the
public reader, vocabulary, model and metric functions."""

import logging
import re
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from test_zeroshot import _CountingEncoder

from tagsmith._plural import plural, plural_s
from tagsmith.audit.report import _count
from tagsmith.calibration.shift import estimate_label_shift
from tagsmith.conformal.lpicp import fit_powerset_icp
from tagsmith.data.corpus import read_csv, read_directory, read_tsv
from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.data.texthash import hash_texts
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import CorpusFormatError, DataError, InvalidParameterError
from tagsmith.metrics.ranking import precision_at_k
from tagsmith.models.base import check_features, check_targets
from tagsmith.pipeline.audit import audit_corpus
from tagsmith.pipeline.train import TrainOptions, check_overlap, train_classifier
from tagsmith.topk import TopK
from tagsmith.zeroshot.scorer import ZeroShotClassifier

from conftest import FAST_FEATURES


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_plural_helpers():
    assert [plural(n, "entry", "entries") for n in (0, 1, 2)] == ["entries", "entry", "entries"]
    assert [plural(n, "was", "were") for n in (1, 3)] == ["was", "were"]
    assert [plural_s(n) for n in (0, 1, 2)] == ["s", "", "s"]


def test_report_count_helper():
    assert _count(1, "document") == "1 document"
    assert _count(2345, "document") == "2,345 documents"
    assert _count(0, "distinct key") == "0 distinct keys"
    assert _count(1, "entry", "entries") == "1 entry" and _count(2, "entry", "entries") == \
        "2 entries"
    assert _count(1.0, "wrong label") == "1.0 wrong labels"  # a decimal estimate


@pytest.mark.parametrize("n, expected", [
    (1, "1 line without a TAB ends in <uri> tokens and was read"),
    (2, "2 lines without a TAB end in <uri> tokens and were read")])
def test_tsv_lines_ending_in_uris_warning_counts(tmp_path, caplog, n, expected):
    path = tmp_path / f"c{n}.tsv"
    path.write_text("Fine\t<urn:x:joy>\n" + "".join(f"text {i} <urn:x:a>\n" for i in range(n)))
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        list(read_tsv(path))
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and expected in warnings[0], warnings
    assert "(s)" not in warnings[0]


@pytest.mark.parametrize("names, expected", [
    (["b.TXT"], ("1 file ending in .txt, .tsv or .key in another case", "rename it")),
    (["b.TXT", "c.Txt"], ("2 files ending in .txt, .tsv or .key in another case", "rename them"))])
def test_directory_other_case_warning_counts(tmp_path, caplog, names, expected):
    (tmp_path / "a.txt").write_text("read\n", encoding="utf-8")
    for name in names:
        (tmp_path / name).write_text("not read\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert [r.text for r in read_directory(tmp_path)] == ["read"]
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and all(part in warnings[0] for part in expected), warnings


@pytest.mark.parametrize("header, row, expected", [
    ("text", "a,b", "expected 1 column as in the header, found 2"),
    ("text,labels", "a,b,c", "expected 2 columns as in the header, found 3")])
def test_csv_row_width_error_counts(tmp_path, header, row, expected):
    path = tmp_path / "c.csv"
    path.write_text(f"{header}\n{row}\n")
    errors: list = []
    assert list(read_csv(path, on_error=errors.append)) == []
    assert [(e.line, e.reason) for e in errors] == [(2, expected)]


@pytest.mark.parametrize("content, expected", [
    ("\ntext\nhello\n", "remove the blank line before line 2"),
    ("\n\ntext\nhello\n", "remove the blank lines before line 3")])
def test_csv_blank_header_lines_count(tmp_path, content, expected):
    path = tmp_path / "blank.csv"
    path.write_text(content)
    with pytest.raises(CorpusFormatError, match=expected + "$"):
        list(read_csv(path))


@pytest.mark.parametrize("bad, expected", [
    ("\tno uri\n", "skipped 1 malformed or duplicate line (line 2)"),
    ("\tno uri\n\talso none\n", "skipped 2 malformed or duplicate lines (lines 2, 3)")])
def test_vocabulary_skipped_lines_warning_counts(tmp_path, caplog, bad, expected):
    path = tmp_path / "v.tsv"
    path.write_text("<http://x/a>\ta\n" + bad + "<http://x/d>\td\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert load_vocabulary(path, on_error="skip").uris == ["http://x/a", "http://x/d"]
    assert any(expected in message for message in _warnings(caplog)), _warnings(caplog)


@pytest.mark.parametrize("broader, expected", [
    ("http://x/zzz", "dropped 1 broader link to labels outside it"),
    ("http://x/zzz http://x/yyy", "dropped 2 broader links to labels outside it")])
def test_vocabulary_dangling_broader_warning_counts(tmp_path, caplog, broader, expected):
    path = tmp_path / "v.csv"
    path.write_text(f"uri,label_en,broader\nhttp://x/a,Apple,{broader}\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        load_vocabulary(path)
    assert any(expected in message for message in _warnings(caplog)), _warnings(caplog)


@pytest.mark.parametrize("n_docs, expected", [
    (1, "parameter 'Y' must be 1 row (one per document), got 3"),
    (2, "parameter 'Y' must be 2 rows (one per document), got 3")])
def test_target_rows_mismatch_counts(n_docs, expected):
    with pytest.raises(InvalidParameterError) as info:
        check_targets(np.ones((3, 2)), n_docs, soft_ok=False)
    assert str(info.value) == expected


@pytest.mark.parametrize("n_features, expected", [
    (1, "parameter 'X' must be 1 feature column, got 3"),
    (2, "parameter 'X' must be 2 feature columns, got 3")])
def test_feature_columns_mismatch_counts(n_features, expected):
    with pytest.raises(InvalidParameterError) as info:
        check_features(np.ones((2, 3)), n_features=n_features)
    assert str(info.value) == expected


@pytest.mark.parametrize("n_topk, n_true, expected", [
    (1, 2, "must be 1 row (one per topk document), got '2 rows'"),
    (2, 1, "must be 2 rows (one per topk document), got '1 row'")])
def test_metric_rows_mismatch_counts(n_topk, n_true, expected):
    topk = TopK.from_scores(np.tile([0.9, 0.1], (n_topk, 1)), 1)
    with pytest.raises(InvalidParameterError) as info:
        precision_at_k(np.ones((n_true, 2)), topk, 1)
    assert str(info.value).endswith(expected), str(info.value)


@pytest.mark.parametrize("n_labels, expected", [
    (1, "must be 1 column (topk.n_labels), got '2 columns'"),
    (2, "must be 2 columns (topk.n_labels), got '1 column'")])
def test_metric_columns_mismatch_counts(n_labels, expected):
    topk = TopK.from_scores(np.linspace(0.9, 0.1, n_labels)[None, :], 1)
    with pytest.raises(InvalidParameterError) as info:
        precision_at_k(np.ones((1, 3 - n_labels)), topk, 1)
    assert str(info.value).endswith(expected), str(info.value)


@pytest.mark.parametrize("n_train, expected", [
    (1, "1 of its 5 documents is also a training document (dev)"),
    (2, "2 of its 5 documents are also training documents (dev)")])
def test_overlap_warning_counts(caplog, n_train, expected):
    texts = [f"document {i}" for i in range(5)]
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert check_overlap(hash_texts(texts[:n_train]), texts, name="dev",
                             source="dev.tsv") == n_train
    assert f"dev.tsv: {expected}" in caplog.text


def test_overlap_refusal_counts():
    with pytest.raises(InvalidParameterError, match=r"1 of its 1 document is a training "
                                                    r"document\)"):
        check_overlap(hash_texts(["a"]), ["a"], name="dev", source="dev.tsv")
    with pytest.raises(InvalidParameterError, match=r"2 of its 2 documents are training "
                                                    r"documents\)"):
        check_overlap(hash_texts(["a", "b"]), ["a", "b"], name="dev", source="dev.tsv")


def test_labels_without_positives_warning_counts(caplog):
    caplog.set_level("WARNING", logger="tagsmith")
    space = LabelSpace.from_uris(["u:a", "u:b", "u:c", "u:d"])
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0]] * 2))
    train_classifier(["good day", "bad day"] * 2, Y, space, options=options)
    assert "2 of 4 labels have no positive training document" in caplog.text


@pytest.mark.parametrize("texts, expected", [
    (["cats", " "], "1 of 2 documents is empty or without a letter or digit: no zero-shot "
                    "suggestion for it"),
    (["", "cats", " "], "2 of 3 documents are empty or without a letter or digit: no zero-shot "
                        "suggestion for them")])
def test_zeroshot_blank_documents_warning_counts(caplog, texts, expected):
    space = LabelSpace([Label(f"u:{i}", {"en": f"label {i}"}) for i in range(3)])
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        ZeroShotClassifier(space, _CountingEncoder()).predict_topk(texts, 2)
    assert expected in caplog.text


@pytest.mark.parametrize("background, expected", [
    (["a", " "], "1 of 2 background documents is empty"),
    (["", "a", " "], "2 of 3 background documents are empty")])
def test_zeroshot_blank_background_info_counts(caplog, background, expected):
    space = LabelSpace([Label(f"u:{i}", {"en": f"label {i}"}) for i in range(3)])
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        ZeroShotClassifier(space, _CountingEncoder()).fit_background(background, neighbors=1)
    assert expected in caplog.text


@pytest.mark.parametrize("n_unknown, expected", [
    (1, "the one label occurrence is not in the label space"),
    (2, "none of the 2 label occurrences are in the label space")])
def test_audit_unknown_label_occurrences_counts(n_unknown, expected):
    with pytest.raises(DataError, match=expected):
        audit_corpus(["a text", "another"], sp.csr_matrix((2, 1)), LabelSpace.from_uris(["u:a"]),
                     unknown_labels=Counter({"u:zzz": n_unknown}))


@pytest.mark.parametrize("scores, expected", [
    ([[0.9]], "a function returning 1 score (one per real entry)"),
    ([[0.9, 0.1]], "a function returning 2 scores (one per real entry)")])
def test_rescored_wrong_count_counts(scores, expected):
    topk = TopK.from_scores(np.array(scores), len(scores[0]))
    with pytest.raises(InvalidParameterError, match=re.escape(expected)):
        topk.rescored(lambda indices, values: values[:0])


@pytest.mark.parametrize("scores, expected", [
    ([[1.5, 0.2]], "got '1 score outside [0, 1] (range [0.2, 1.5])'"),
    ([[1.5, 1.2]], "got '2 scores outside [0, 1] (range [1.2, 1.5])'")])
def test_label_shift_out_of_range_counts(scores, expected):
    topk = TopK.from_scores(np.array(scores), 2)
    with pytest.raises(InvalidParameterError, match=re.escape(expected)):
        estimate_label_shift(topk, source_prior=[0.5, 0.5])


@pytest.mark.parametrize("n_nan, expected", [(1, "got '1 NaN value'"), (2, "got '2 NaN values'")])
def test_nan_target_counts(n_nan, expected):
    Y = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])
    Y[0, :n_nan] = np.nan
    with pytest.raises(InvalidParameterError, match=re.escape(expected)):
        check_targets(Y, 2, soft_ok=True)


@pytest.mark.parametrize("scores, expected", [
    ([[1.5, 0.2], [0.3, 0.1]], "got '1 score outside [0, 1]"),
    ([[1.5, 0.2], [1.3, 0.1]], "got '2 scores outside [0, 1]")])
def test_lpicp_out_of_range_counts(scores, expected):
    y = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    with pytest.raises(InvalidParameterError, match=re.escape(expected)):
        fit_powerset_icp(y, TopK.from_scores(np.array(scores), 2))


# messages whose count and noun sat in two adjacent string literals


@pytest.mark.parametrize("n_indices, n_values, expected", [
    (1, 2, "m: 1 index for 2 values"), (2, 1, "m: 2 indices for 1 value")])
def test_sparse_state_indices_mismatch_counts(n_indices, n_values, expected):
    from tagsmith.store.bundle import sparse_from_state

    with pytest.raises(ValueError, match=f"^{expected}$"):
        sparse_from_state("m", "csr", np.ones(n_values), np.zeros(n_indices, np.int64),
                          np.array([0, n_values]), (1, 3))


@pytest.mark.parametrize("n_labels, expected", [
    (1, "the label space of its top-k (1 label)"), (2, "the label space of its top-k (2 labels)")])
def test_blend_label_space_mismatch_counts(n_labels, expected):
    from tagsmith.zeroshot.scorer import blend_topk

    zs = TopK(np.zeros((1, 1), np.int32), np.ones((1, 1), np.float32), n_labels=n_labels)
    space = LabelSpace([Label(f"u:{i}", {"en": f"label {i}"}) for i in range(3)])
    with pytest.raises(InvalidParameterError) as error:
        blend_topk(None, zs, zeroshot_space=space)
    assert expected in str(error.value) and "got '3 labels'" in str(error.value)


@pytest.mark.parametrize("n_members, expected", [
    (1, "are not 1 finite number > 0"), (2, "are not 2 finite numbers > 0")])
def test_ensemble_state_tuned_weights_counts(n_members, expected):
    from tagsmith.models.ensemble import EnsembleModel
    from tagsmith.models.knn import KNNModel

    rng = np.random.default_rng(3)
    X = sp.random(40, 20, density=0.2, random_state=3, format="csr", dtype=np.float32)
    Y = sp.csr_matrix(rng.random((40, 5)) < 0.3, dtype=np.float32)
    members = [KNNModel(n_neighbors=2 + i, n_jobs=1).fit(X, Y) for i in range(n_members)]
    meta, arrays = EnsembleModel.from_fitted(members).to_state()
    meta["params"]["weights"] = "auto"
    meta["tuning"] = {"weights": [float("nan")] * n_members, "powers": [1.0] * n_members}
    with pytest.raises(ValueError, match=re.escape(expected)):
        EnsembleModel.from_state(meta, arrays)


@pytest.mark.parametrize(("total", "unit", "done", "line"), [
    (1, "call", 1, "LLM labeling: 1/1 call (100%)"),
    (50, "call", 50, "LLM labeling: 50/50 calls (100%)"),
    (10, "batch", 4, "LLM labeling: 4/10 batches (40%)"),
    (None, "doc", 5, "LLM labeling: 5 docs"),
    (None, "doc", 1, "LLM labeling: 1 doc"),
])
def test_progress_log_lines_count_their_unit(caplog, monkeypatch, total, unit, done, line):
    """Off a terminal, progress lines read "50/50 call (100%)", "zeroshot: 5 doc"."""
    from tagsmith import progress

    monkeypatch.setattr(progress, "_silenced", False)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        with progress.progress_bar(total=total, desc="LLM labeling", unit=unit) as bar:
            bar.update(done)
    assert line in caplog.messages, caplog.messages


def test_warned_counts_over_a_thousand_have_thousands_separators(tmp_path, caplog):
    """Counts of lines, labels cells, labels and documents in warnings are written
    '1,200', as most messages write them; '%d' wrote '1200'. Line numbers stay plain
    ('first: line 2')."""
    from tagsmith.pipeline.train import _check_positives

    corpus = tmp_path / "k.csv"
    corpus.write_text("text,labels\n" + "".join(f'doc {i},"1,000"\n' for i in range(1200)),
                      encoding="utf-8")
    vocabulary = tmp_path / "v.tsv"
    vocabulary.write_text("<http://x/a>\ta\n" + "\tno uri\n" * 1200, encoding="utf-8")
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(1002):
        (root / f"d{i}.txt").write_text(f"text {i}", encoding="utf-8")
    (root / "d0.tsv").write_text("a\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        list(read_csv(corpus))
        load_vocabulary(vocabulary, on_error="skip")
        list(read_directory(root))
        _check_positives(sp.csr_matrix(np.eye(2, 1203)))
    said = "\n".join(_warnings(caplog))
    assert f"{corpus}: 1,200 labels cells split at a comma between numbers (first: line 2, " \
        in said, said
    assert f"{vocabulary}: skipped 1,200 malformed or duplicate lines (lines 2, 3," in said
    assert f"{root}: 1,001 of 1,002 documents have no label file" in said
    assert "1,201 of 1,203 labels have no positive training document" in said


def test_rejection_warning_writes_every_count_with_thousands_separators(caplog):
    """The LLM labeling warning wrote '1,200 unknown labels rejected' beside '1300 invalid
    items' and '1400 answers named only labels off ...': one line, two ways of writing a
    count (302ec0b2 converted its '%d's, not the counts built in f-strings)."""
    from tagsmith.labeling.labeler import LabelingReport, warn_rejections

    report = LabelingReport(n_unknown_labels=1200, n_invalid_items=1300,
                            n_ambiguous_labels=1500, n_off_shortlist_answers=1400)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        warn_rejections(report, "LLM labeling")
    said, = _warnings(caplog)
    assert said.startswith("LLM labeling: 1,200 unknown labels rejected"), said
    assert "also rejected: 1,300 invalid items (" in said, said
    assert " and 1,500 ambiguous names; 1,400 answers named only labels off" in said, said


def test_warnings_naming_untaught_labels_clip_long_names(caplog):
    """train's and distill's warnings of labels without a positive document printed five
    2,000-character names whole (10,000 characters of one log line): each name is cut
    to a bounded length with an ellipsis, a short one kept as it is spelt."""
    from tagsmith._plural import NAME_LIMIT
    from tagsmith.pipeline.distill import _warn_untaught
    from tagsmith.pipeline.train import _check_positives

    space = LabelSpace([Label("u:kept", {"en": "kept  as is"})]
                       + [Label(f"u:{i}", {"en": f"{i}" + "x" * 2000}) for i in range(5)]
                       + [Label("u:taught", {"en": "taught"})])
    Y = sp.csr_matrix(np.eye(1, 7, 6))
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        _check_positives(Y, space.deprecated_mask, space)
        _warn_untaught(Y, space)
    for said in _warnings(caplog):
        assert len(said) < 5 * (NAME_LIMIT + 4) + 400, said
        assert "'kept  as is', '0xxx" in said, said
        assert "x…', '1xxx" in said and "and 1 more" in said, said
    assert len(_warnings(caplog)) == 2


def test_a_shared_name_and_a_hint_count_a_thousand_more_with_a_separator():
    """A name 1,005 concepts share said 'and 1000 more' (and '1005 concepts'), where
    every other list of names says 'and 1,000 more' (and_more): the same now."""
    from tagsmith.exceptions import AmbiguousLabelError

    space = LabelSpace([Label(f"u:{i}", {"en": "Bank"}, {"en": ["Ufer"]})
                        for i in range(1005)])
    with pytest.raises(AmbiguousLabelError) as raised:
        space.lookup("Bank")
    assert "1,005 concepts have it (<u:0>, <u:1>, <u:2>, <u:3>, <u:4> and 1,000 more)" \
        in str(raised.value), str(raised.value)
    with pytest.raises(AmbiguousLabelError) as raised:  # an alternative label of each
        space.lookup("Ufer")
    assert "1,005 concepts" in str(raised.value) and "and 1,000 more" in str(raised.value), \
        str(raised.value)
    cased = space.unknown_hint("bank")  # another case of every one's preferred name
    assert "preferred name of 1,005 concepts" in cased and "and 1,000 more;" in cased, cased


def test_a_uri_end_many_concepts_share_is_counted_with_a_separator():
    """'1622', the end of 1,005 concepts' URIs, was hinted as 'the end of 1005 concepts'
    URIs', where the hint's other counts (and its 'and 1,000 more') have a separator."""
    space = LabelSpace([Label(f"http://v{i}.example/1622", {"en": f"c{i}"})
                        for i in range(1005)])
    hint = space.unknown_hint("1622")
    assert hint.startswith("the end of 1,005 concepts' URIs, "), hint
    assert "and 1,000 more; write the URI of the one meant" in hint, hint
