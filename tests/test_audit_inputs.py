"""Bad input to audit_corpus and AuditOptions: a clear tagsmith error naming the
parameter before any work, never a scipy/attribute/index error or a silent result."""

import re

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.pipeline.audit import AuditOptions, audit_corpus

SPACE = LabelSpace([Label("u:a", {"en": "cats"}), Label("u:b", {"en": "dogs"})])
TEXTS = ["cats purr", "dogs bark", "cats sleep", "dogs run"]
Y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])


def _options():
    return AuditOptions(scores="knn", near_duplicates=False)


def _raises(name):
    return pytest.raises(InvalidParameterError, match="parameter " + re.escape(repr(name)[:-1]))


@pytest.mark.parametrize(("param", "kwargs"), [
    ("texts", {"texts": "ab", "Y": np.array([[1, 0], [0, 1]])}),  # one doc per character
    ("texts", {"texts": None}),                                     # TypeError
    ("Y", {"Y": np.ones((4, 2, 1))}),                               # scipy: no 3-D
    ("Y", {"Y": None}),                                             # scipy: dtype object
    ("Y", {"Y": Y.astype(str)}),                                    # scipy: dtype <U21
    ("Y", {"Y": np.where(Y == 0, np.nan, 1.0)}),                    # NaN audited as a label
    ("Y", {"Y": Y * 2}),                                            # 2 audited as a label
    ("Y", {"Y": 2 * Y - 1}),                                        # -1 audited as a label
    ("label_space", {"label_space": None}),                         # TypeError: no len()
    ("options", {"options": {"scores": "knn"}}),                    # AttributeError
    ("lines", {"lines": [1, 2]}),                                   # IndexError in review
    ("lines", {"lines": "1234"}),                                   # read per character
    ("doc_ids", {"doc_ids": ["a"]}),
    ("doc_ids", {"doc_ids": ["a", "b", "c", "d", "e"]}),            # one too many
    ("doc_ids", {"doc_ids": "abcd"}),                               # read per character
    ("doc_ids", {"doc_ids": ["a", "b", "a", None]}),                # review can't tell apart
    ("doc_ids[1]", {"doc_ids": ["a", 2, None, None]}),              # never the file's '2'
    ("splits", {"splits": ["cats purr"]}),                          # AttributeError
    ("splits['test']", {"splits": {"test": "cats purr"}}),          # one doc per character
    ("splits['test'][0]", {"splits": {"test": [None]}}),            # AttributeError casefold
    # a blank cell of df["line"] (NaN): the review's line "nan", the leakage int() a
    # ValueError naming no parameter; a line "3" was written as text
    ("lines[1]", {"lines": [2, float("nan"), 5, 8]}),
    ("lines[2]", {"lines": [2, 3, 5.5, 8]}),
    ("lines[0]", {"lines": ["2", 3, 5, 8]}),
    ("split_lines['test'][0]", {"splits": {"test": ["cats purr"]},
                                "split_lines": {"test": [float("nan")]}}),
], ids=lambda value: value if isinstance(value, str) else None)
def test_audit_corpus_refuses_bad_input(param, kwargs):
    args = {"texts": TEXTS, "Y": Y, "label_space": SPACE, "options": _options()} | kwargs
    with _raises(param):
        audit_corpus(args.pop("texts"), args.pop("Y"), args.pop("label_space"), **args)


def test_audit_corpus_names_a_repeated_id_and_both_positions():
    # read_audit_corpus refuses a file in which two records share an id; ids passed in
    # directly were audited, and the review named two documents by one id
    with pytest.raises(InvalidParameterError) as info:
        audit_corpus(TEXTS, Y, SPACE, options=_options(), doc_ids=["x", None, "y", "x"],
                     lines=[2, 3, 5, 8])
    assert str(info.value) == (
        "parameter 'doc_ids' must be a different id for each document (the review names "
        "documents by id, and apply-review checks it), got 'x' at doc_ids[0] and "
        "doc_ids[3] (lines 2 and 8)")


def test_audit_corpus_takes_documents_without_ids():
    # None and "" are no id: many documents may have none
    result = audit_corpus(TEXTS, Y, SPACE, options=_options(), doc_ids=[None, "", "", "d"])
    assert result.report is not None


@pytest.mark.parametrize(("field", "value"), [
    ("evidence", "no"), ("near_duplicates", "no"), ("show_progress", "yes"),
    ("lang", None), ("lang", 5), ("model", "nope"), ("model", 5),
    ("model_params", None), ("model_params", [1]), ("knn_params", "x"),
    ("featurizer_params", [1])])
def test_audit_options_refuse_bad_fields(field, value):
    # each passed validate: "no" read as True, a bad model refused only after the features
    with _raises(field):
        AuditOptions(**{field: value}).validate()


def test_audit_options_valid_fields_pass():
    options = AuditOptions(model="linear", model_params={"loss": "logistic"},
                           featurizer_params=None, evidence=np.bool_(False), lang="fi")
    options.validate()
    assert options.evidence is False and options.model == "linear"


def test_a_label_key_repeated_on_one_line_is_one_unknown_occurrence(tmp_path):
    """A document listing a key twice carries that label once (a known one's id is kept
    once), but an unknown key was counted per mention: the report's "labels missing from
    the vocabulary" and the reader's summary gave 3 occurrences of a key two documents
    carry."""
    from tagsmith.data.corpus import Corpus
    from tagsmith.pipeline.audit import read_audit_corpus

    path = tmp_path / "c.tsv"
    path.write_text("cats purr\tu:a u:zz u:zz\ndogs bark\tu:b u:b u:zz\ncats sleep\tu:a\n"
                    "dogs run\tu:b\n")
    data = read_audit_corpus(path, SPACE)
    assert data.unknown_labels == {"u:zz": 2}
    assert data.Y.toarray().tolist() == [[1, 0], [0, 1], [1, 0], [0, 1]]
    result = audit_corpus(data.texts, data.Y, SPACE, options=_options(),
                          unknown_labels=data.unknown_labels)
    unknown = result.report["labels"]["not_in_vocabulary"]
    assert (unknown["n_occurrences"], unknown["n_distinct"]) == (2, 1)
    corpus = Corpus(path, SPACE, unknown_labels="skip")
    assert len(list(corpus)) == 4
    assert corpus.report.n_unknown_labels == 2 and corpus.report.unknown_labels == {"u:zz": 2}


@pytest.mark.parametrize("derived", [True, False], ids=["no vocabulary", "vocabulary"])
@pytest.mark.parametrize("folder", [True, False], ids=["folder", "tsv"])
def test_a_corpus_with_no_label_is_refused_naming_where_its_labels_go(tmp_path, folder,
                                                                        derived):
    # the audit said only "no document has a label" of a folder whose .txt documents
    # have no .tsv/.key beside them; train gives the folder's layout (pipeline.io)
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import check_audit_corpus, read_audit_corpus
    from tagsmith.pipeline.io import read_deriving_labels

    if folder:
        path = tmp_path / "corpus"
        path.mkdir()
        for stem in "ab":
            (path / f"{stem}.txt").write_text(f"text {stem}\n", encoding="utf-8")
        layout = ("a corpus folder's document NAME.txt has its labels in NAME.tsv or "
                  "NAME.key beside it, one a line")
    else:
        path = tmp_path / "corpus.tsv"
        path.write_text("text a\ntext b\n", encoding="utf-8")
        layout = ("a TSV line is TEXT, a TAB, then its labels; a CSV corpus has a 'labels' "
                  "column, a JSONL object a 'labels' list")
    if derived:
        _, (data,) = read_deriving_labels([path], read_audit_corpus)
    else:
        data = read_audit_corpus(path, SPACE)
    with pytest.raises(DataError) as caught:
        check_audit_corpus(data, corpus=path, vocab=None if derived else "vocab.tsv")
    assert str(caught.value) == (f"{path}: no document has a label (2 documents); an audit "
                                 f"needs labelled documents: {layout}")


def test_an_in_memory_corpus_with_no_label_is_told_where_its_labels_go():
    # check_audit_corpus(corpus="<memory>") advised the TSV/CSV/JSONL layout, which an
    # in-memory corpus has none of: its labels are Y's entries
    from collections import Counter

    import scipy.sparse as sp

    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import AuditCorpus, check_audit_corpus

    data = AuditCorpus(["text a"], sp.csr_matrix((1, len(SPACE)), dtype=bool), [1], [None],
                       Counter(), 0)
    with pytest.raises(DataError) as caught:
        check_audit_corpus(data, corpus="<memory>")
    assert str(caught.value) == (
        "<memory>: no document has a label (1 document); an audit needs labelled "
        "documents: give Y a nonzero entry at each document's labels (row i for "
        "texts[i], column j for the label space's label j)")


@pytest.mark.parametrize("source", [None, "<memory>", "my corpus"])
def test_the_python_api_names_y_when_no_document_has_a_label(source):
    # audit_corpus said only "no document has a label; an audit needs labels" of an
    # all-zero Y (the Python API's corpus is texts and Y, its source only a name)
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import audit_corpus

    with pytest.raises(DataError) as caught:
        audit_corpus(["a text", "another", "a third"], sp.csr_matrix((3, 2)),
                     LabelSpace.from_uris(["u:a", "u:b"]), source=source)
    prefix = f"{source}: " if source else ""
    assert str(caught.value) == (
        f"{prefix}no document has a label: Y (3 x 2) has no nonzero entry for any of the 3 "
        "documents; an audit needs labels: give Y a nonzero entry at each document's labels "
        "(row i for texts[i], column j for label_space's label j)")


def test_the_python_api_names_unknown_labels_when_every_label_was_dropped():
    from collections import Counter

    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import audit_corpus

    with pytest.raises(DataError) as caught:
        audit_corpus(["a text"], sp.csr_matrix((1, 1)), LabelSpace.from_uris(["u:a"]),
                     unknown_labels=Counter({"u:zz": 1}))
    assert str(caught.value) == ("the one label occurrence is not in the label space "
                                 "(unknown_labels), so Y has no label; is label_space the "
                                 "vocabulary of this corpus?")


def test_read_audit_corpus_names_path_when_given_a_corpus_object():
    # an in-memory Corpus was a TypeError from pathlib ("expected str, bytes or
    # os.PathLike object, not Corpus"), naming no parameter
    from tagsmith.data.corpus import Corpus
    from tagsmith.data.document import Document
    from tagsmith.pipeline.audit import read_audit_corpus

    corpus = Corpus.from_documents([Document("cats purr", (0,))], SPACE)
    with pytest.raises(InvalidParameterError) as caught:
        read_audit_corpus(corpus, SPACE)
    assert str(caught.value) == (
        "parameter 'path' must be a corpus file or folder (str or Path); documents in "
        "memory are audited by audit_corpus(texts, Y, label_space), got 'Corpus'")
def test_audit_corpus_checks_ids_read_by_read_audit_corpus_once(tmp_path, monkeypatch):
    """The CLI audit checked a corpus's ids twice: read_audit_corpus refuses a repeated
    one naming both lines, then audit_corpus went over the same ids again. Ids read by
    read_audit_corpus are now checked there alone; ids passed in any other way still
    are by audit_corpus."""
    import json

    import tagsmith.pipeline.audit as audit
    from tagsmith.pipeline.audit import read_audit_corpus

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{n}", "text": text,
                                          "labels": ["u:a" if row[0] else "u:b"]}) + "\n"
                              for n, (text, row) in enumerate(zip(TEXTS, Y, strict=True))))
    data = read_audit_corpus(corpus, SPACE)
    calls = []
    real = audit._check_unique_doc_ids
    monkeypatch.setattr(audit, "_check_unique_doc_ids",
                        lambda ids, lines: calls.append(list(ids)) or real(ids, lines))
    audit_corpus(data.texts, data.Y, SPACE, options=_options(), doc_ids=data.doc_ids,
                 lines=data.lines)
    assert calls == []
    audit_corpus(data.texts, data.Y, SPACE, options=_options(), doc_ids=list(data.doc_ids),
                 lines=data.lines)
    assert calls == [["d0", "d1", "d2", "d3"]]
    with pytest.raises(TypeError):  # the checked ids cannot be changed afterwards
        data.doc_ids[3] = "d0"  # type: ignore[index]


@pytest.mark.parametrize("reader", ["audit", "corpus"])
def test_unknown_labels_skipped_say_what_the_first_such_key_is_instead(tmp_path, caplog,
                                                                       reader):
    """Agents' hand-tagged tickets in a CSV, one intent a cell ("Billing issue"), were read
    as the labels 'Billing' and 'issue' (a cell without `|` is split at its spaces):
    `audit` skipped 476 such occurrences with "most often 'request' x39" and audited a
    corpus stripped of its labels ("83% missing labels"), where `train` refuses the first
    naming the label to write; the skip now says that too, as does a name in another
    case."""
    from tagsmith.data.corpus import Corpus
    from tagsmith.pipeline.audit import read_audit_corpus

    space = LabelSpace([Label("u:bill", {"en": "Billing issue"}),
                        Label("u:ref", {"en": "Refund request"})])
    path = tmp_path / "tickets.csv"
    path.write_text("text,labels\ncharged twice,u:bill\nrefund please,Refund request\n"
                    "fee on my bill,Billing issue|Refund request\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        if reader == "audit":
            read_audit_corpus(path, space)
        else:
            list(Corpus(path, space, unknown_labels="skip"))
    assert ("2 unknown label occurrences skipped (2 distinct, most often 'Refund' x1; "
            "line 3's 'Refund': part of 'Refund request', the label <u:ref> "
            "('Refund request'), read as 2 labels as the cell is split at its spaces; "
            "write <u:ref> in its place, or end the cell with '|' ('Refund request|', "
            "one label))") in caplog.text
    caplog.clear()
    path.write_text("text,labels\ncharged twice,u:bill\nrefund please,refund request|\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        if reader == "audit":
            read_audit_corpus(path, space)
        else:
            list(Corpus(path, space, unknown_labels="skip"))
    assert ("1 unknown label occurrence skipped (1 distinct, most often 'refund request' x1; "
            "line 3's 'refund request': the preferred name 'Refund request' of <u:ref>"
            in caplog.text)


def test_an_audit_of_a_corpus_whose_labels_are_mostly_unknown_says_its_figures_say_little(
        tmp_path, caplog):
    """A CSV of one intent a cell ("Billing issue") read as 'Billing' and 'issue' was
    audited "83% missing labels" with no word that most of its labels were not read (all
    of them unknown is refused); train and eval refuse the first unknown label unless
    told to skip them. Most unknown: one warning says so, with the hint; a few: none."""
    from tagsmith.pipeline.audit import check_audit_corpus, read_audit_corpus

    space = LabelSpace([Label("u:bill", {"en": "Billing issue"}),
                        Label("u:ref", {"en": "Refund request"})])
    path = tmp_path / "tickets.csv"
    path.write_text("text,labels\ncharged twice,u:bill\nrefund please,Refund request\n"
                    "fee on my bill,Billing issue\nmoney back,Refund request\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        check_audit_corpus(read_audit_corpus(path, space), corpus=path, vocab="intents.csv")
    assert (f"{path}: 6 of its 7 label occurrences (86%) are not in intents.csv (most "
            "often 'Refund' x2) and are left out: the audit describes a corpus stripped of "
            "them, its missing and wrong labels mostly of its reading, not of its tagging; "
            "line 3's 'Refund': part of 'Refund request'") in caplog.text, caplog.text
    caplog.clear()
    path.write_text("text,labels\ncharged twice,u:bill\nrefund please,u:ref\n"
                    "fee on my bill,u:bill|\nmoney back,Refund|\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        check_audit_corpus(read_audit_corpus(path, space), corpus=path, vocab="intents.csv")
    assert "1 unknown label occurrence skipped" in caplog.text
    assert "stripped" not in caplog.text, caplog.text


def test_help_on_audit_options_says_what_each_field_does():
    """help(AuditOptions) sent half its fields to find_label_issues and left
    prior_strength, min_probability, near_duplicate_threshold, featurizer_params and
    lang explained nowhere; each field is now named in its docstring."""
    from conftest import undocumented_fields

    assert undocumented_fields(AuditOptions) == []


def test_pandas_ids_and_lines_with_a_shuffled_index_are_read_by_position():
    """``doc_ids`` (and ``lines``) given as a pandas Series whose index is not 0..n-1 (a
    DataFrame's column after a shuffle or a filter) were looked up by label: each review
    row named another document's id and line, and apply-review then refused the row or
    matched it elsewhere. They are read by position, as a list is."""
    pd = pytest.importorskip("pandas")
    texts = ["cats purr", "dogs bark", "cats sleep", "dogs run", "cats purr loudly",
             "dogs bark at night", "cats nap", "dogs dig"]
    # two labels the wrong way round: flagged and named in the review
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [0, 1], [1, 0], [1, 0], [0, 1]])
    ids = [f"id{n}" for n in range(len(texts))]
    lines = [10 + n for n in range(len(texts))]
    order = [5, 2, 7, 0, 3, 6, 1, 4]  # the index of a shuffled frame, kept in its rows
    result = audit_corpus(texts, labels, SPACE, options=_options(),
                          doc_ids=pd.Series(ids, index=order),
                          lines=pd.Series(lines, index=order))
    assert result.review
    assert [(row["doc_id"], row["line"]) for row in result.review] == [
        (ids[row["doc"]], lines[row["doc"]]) for row in result.review]
    assert all(type(row["line"]) is int for row in result.review)  # JSON-able
    # a column upcast to float by a blank cell elsewhere: whole floats are its lines
    floats = audit_corpus(texts, labels, SPACE, options=_options(),
                          lines=pd.Series(lines, index=order, dtype=float))
    assert [row["line"] for row in floats.review] == [row["line"] for row in result.review]
    assert all(type(row["line"]) is int for row in floats.review)
