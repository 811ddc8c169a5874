"""``eval --labels-before``: how a bundle's figures on a test split move once a review
corrected its labels, with paired intervals, instead of two eval runs compared by hand."""

import hashlib
import json

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import InvalidParameterError
from tagsmith.pipeline.compare import compare_gold
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import TrainOptions, train_classifier

from conftest import FAST_FEATURES

tagsmith_cli._register_commands()


def invoke(*args):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])


@pytest.fixture(scope="module")
def setup(goemotions_small, tmp_path_factory):
    """A bundle trained on the slice's train split, its test split as given (``before``)
    and with the first label of every fifth document replaced by another (``after``)."""
    base = tmp_path_factory.mktemp("labels-before")
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    classifier = train_classifier(train.texts[:1500], train.Y[:1500], space,
                                  options=TrainOptions(dev_fraction=0.0,
                                                       featurizer_params=FAST_FEATURES,
                                                       model_params={"n_jobs": 1}))
    bundle = base / "bundle"
    classifier.save(bundle)
    lines = goemotions_small["test"].read_text(encoding="utf-8").splitlines()
    changed = []
    for i in range(0, len(lines), 5):
        text, labels = lines[i].split("\t", 1)
        first = labels.split()[0]
        other = "<urn:goemotions:neutral>" if first != "<urn:goemotions:neutral>" \
            else "<urn:goemotions:joy>"
        lines[i] = f"{text}\t{' '.join([other] + labels.split()[1:])}"
        changed.append(i)
    after = base / "after.tsv"
    after.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"bundle": bundle, "before": goemotions_small["test"], "after": after,
            "n_changed": len(changed), "vocab": goemotions_small["vocab"], "base": base}


def _p1_and_f1(setup, corpus):
    result = invoke("eval", setup["bundle"], corpus, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    return metrics["p@1"], metrics["micro_f1"]


def test_labels_before_says_which_figures_moved_and_by_how_much(setup):
    # a team that fixed its test split ran eval twice and compared the tables by hand:
    # no interval, no count of the documents relabelled
    result = invoke("eval", setup["bundle"], setup["after"], "--labels-before",
                    setup["before"], "--json")
    assert result.exit_code == 0, result.output
    moved = json.loads(result.stdout.strip().splitlines()[-1])["labels_before"]
    p1_before, f1_before = _p1_and_f1(setup, setup["before"])
    p1_after, f1_after = _p1_and_f1(setup, setup["after"])
    assert moved["corpus"] == str(setup["before"])
    # the files measured, not their paths alone: a report saved before the before file
    # was edited or replaced could not tell which it was measured against
    for key, path in (("sha256", setup["before"]), ("corpus_sha256", setup["after"])):
        assert moved[key] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert moved["n_docs_relabelled"] == setup["n_changed"]
    p1, f1 = moved["metrics"]["p@1"], moved["metrics"]["micro_f1"]
    assert p1["before"] == pytest.approx(p1_before) and p1["after"] == pytest.approx(p1_after)
    assert f1["before"] == pytest.approx(f1_before) and f1["after"] == pytest.approx(f1_after)
    for m in (p1, f1):
        low, high = m["interval"]
        assert low <= m["difference"] <= high
    text = invoke("eval", setup["bundle"], setup["after"], "--labels-before", setup["before"])
    assert text.exit_code == 0, text.output
    assert (f"{setup['n_changed']} of the 600 documents relabelled" in text.output)
    assert f"  p@1       {p1_before:.4f} -> {p1_after:.4f}" in text.output


def test_labels_before_refuses_other_documents_and_combinations(setup, goemotions_small):
    result = invoke("eval", setup["bundle"], setup["after"], "--labels-before",
                    goemotions_small["dev"])
    assert result.exit_code == 2
    assert "differ from" in result.output and "the first: its document 1," in result.output
    shorter = setup["base"] / "shorter.tsv"
    shorter.write_text("\n".join(setup["before"].read_text(encoding="utf-8")
                                 .splitlines()[:100]) + "\n", encoding="utf-8")
    result = invoke("eval", setup["bundle"], setup["after"], "--labels-before", shorter)
    assert result.exit_code == 2 and "holds 100 documents" in result.output
    result = invoke("eval", setup["bundle"], setup["after"], "--labels-before",
                    setup["after"])
    assert result.exit_code == 2 and "is CORPUS itself" in result.output
    result = invoke("eval", setup["bundle"], setup["after"], "--labels-before",
                    setup["before"], "--baseline", setup["bundle"])
    assert result.exit_code == 2 and "--labels-before and --baseline" in result.output


def test_compare_gold_counts_documents_and_refuses_other_shapes():
    before = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 1], [1, 0]]))
    after = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]]))
    top1 = np.array([0, 0, 1, 0])
    sets = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [1, 0]]))
    result = compare_gold(before, after, top1, sets, resamples=200)
    p1 = result["metrics"]["p@1"]
    assert (p1["before"], p1["after"]) == (0.75, 0.75)
    assert (p1["n_docs_right_now"], p1["n_docs_wrong_now"]) == (1, 1)
    assert result["n_docs_relabelled"] == 2 and p1["verdict"] == "too few documents"
    with pytest.raises(InvalidParameterError, match="Y_after"):
        compare_gold(before, after[:3], top1, sets)
    with pytest.raises(InvalidParameterError, match="top1"):
        compare_gold(before, after, top1[:3], sets)


def test_compare_gold_without_a_best_label_or_a_document():
    # compare_gold raised numpy's "truth value of an array ... is ambiguous" where no
    # document had a best label (top1 all -1: blank texts) or there was no document
    before = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    after = sp.csr_matrix(np.array([[1, 0], [1, 0]]))
    result = compare_gold(before, after, np.array([-1, -1]), sp.csr_matrix((2, 2)),
                          resamples=20)
    p1 = result["metrics"]["p@1"]
    assert (p1["before"], p1["after"], p1["n_docs_right_now"]) == (0.0, 0.0, 0)
    assert result["n_docs_relabelled"] == 1
    empty = sp.csr_matrix((0, 2))
    result = compare_gold(empty, empty, np.zeros(0, dtype=int), empty, resamples=20)
    assert result["n_docs"] == 0 and result["metrics"]["p@1"]["after"] == 0.0



def _moved(n_docs, right_now, wrong_now):
    """compare_gold of ``n_docs`` documents of one label each, the best label always
    label 0: ``right_now`` of them relabelled 1 -> 0, ``wrong_now`` 0 -> 1."""
    before = np.zeros((n_docs, 2))
    before[:, 0] = 1
    before[:right_now] = [0, 1]
    after = before.copy()
    after[:right_now] = [1, 0]
    after[right_now:right_now + wrong_now] = [0, 1]
    sets = sp.csr_matrix(np.tile([1.0, 0.0], (n_docs, 1)))
    return compare_gold(sp.csr_matrix(before), sp.csr_matrix(after),
                        np.zeros(n_docs, dtype=int), sets)["metrics"]


@pytest.mark.parametrize("n_docs, right_now, wrong_now",
                         [(300, 9, 2), (100, 5, 0), (300, 7, 0), (300, 30, 20)])
def test_p1_verdict_agrees_with_its_interval(n_docs, right_now, wrong_now):
    # P@1's interval was the paired bootstrap's, its verdict the sign test's: 9 documents
    # right now of 2 wrong read "+0.0233 [+0.0033, +0.0433] within noise" (p = 0.065)
    for key, m in _moved(n_docs, right_now, wrong_now).items():
        low, high = m["interval"]
        if 0 < m.get("n_docs_differing", right_now + wrong_now) < 6:
            assert m["verdict"] == "too few documents", (key, m)
        else:
            expected = "higher" if low > 0 else "lower" if high < 0 else "within noise"
            assert m["verdict"] == expected, (key, m)
        assert m["test"] == "bootstrap"
    assert _moved(100, 5, 0)["p@1"]["n_docs_differing"] == 5


def test_eval_does_not_count_blank_texts_as_training_documents(goemotions_small, tmp_path,
                                                               caplog):
    # Reuters-21578's test split: "20 of its 3,019 documents are documents the bundle was
    # trained on", 14 of them empty stories matching the training split's empty ones
    import logging

    from tagsmith.data.texthash import in_training
    from tagsmith.pipeline.evaluate import evaluate_classifier

    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    texts = list(train.texts[:300]) + [""]
    Y = sp.vstack([train.Y[:300], train.Y[:1]])
    classifier = train_classifier(texts, Y, space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1}))
    bundle = tmp_path / "bundle"
    classifier.save(bundle)
    test = read_labelled(goemotions_small["test"], space)
    held = [text for text in test.texts[:60]
            if not in_training(classifier.train_hashes, [text])[0]][:40]
    rows = held + ["", " ", texts[3]]
    n_docs = len(rows)
    joy = space.uris.index("urn:goemotions:joy")
    gold = sp.csr_matrix((np.ones(n_docs), (np.arange(n_docs), np.full(n_docs, joy))),
                         shape=(n_docs, len(space)))
    expected = f"1 of its {n_docs} documents is a document the bundle was trained on"
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        evaluate_classifier(classifier, rows, gold, source="test.jsonl")
    assert expected in caplog.text, caplog.text
    # the command line's texts are hashed as they are streamed: the same count
    corpus = tmp_path / "test.jsonl"
    corpus.write_text("".join(json.dumps({"text": t, "labels": ["urn:goemotions:joy"]})
                              + "\n" for t in rows), encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, ["eval", str(bundle), str(corpus)])
    assert result.exit_code == 0, result.output
    assert expected in caplog.text, caplog.text


def test_labels_before_names_a_line_on_error_skip_left_out(setup):
    # with --on-error skip, a malformed line of the before file read "holds 599
    # documents and CORPUS 600", with no word of the skipped line
    lines = setup["before"].read_text(encoding="utf-8").splitlines()
    lines[9] = "\t" + lines[9].split("\t", 1)[1]  # an empty text
    broken = setup["base"] / "broken-before.tsv"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("eval", setup["bundle"], setup["after"], "--labels-before", broken,
                    "--on-error", "skip")
    assert result.exit_code == 2
    assert "holds 599 documents" in result.output
    assert (f"--on-error skip left out 1 line of {broken} (the first: line 10"
            in " ".join(result.output.split()))


def test_both_comparisons_draw_the_same_paired_bootstrap():
    # compare_predictions and compare_gold each had a copy of the draw loop
    from tagsmith.pipeline.compare import BOOTSTRAP_BATCH, bootstrap_weights

    batches = list(bootstrap_weights(7, BOOTSTRAP_BATCH + 3, seed=4))
    assert [start for start, _ in batches] == [0, BOOTSTRAP_BATCH]
    assert [len(w) for _, w in batches] == [BOOTSTRAP_BATCH, 3]
    assert all((w.sum(axis=1) == 7).all() for _, w in batches)
    again = list(bootstrap_weights(7, BOOTSTRAP_BATCH + 3, seed=4))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(batches, again, strict=True))


def test_labels_before_json_counts_what_the_before_files_read_left_out(setup):
    """provenance counts the lines and unknown labels --on-error skip and
    --unknown-labels skip left out of CORPUS; labels_before gave none for the before file,
    whose skipped line or label said so in the log alone."""
    bad = "a line of three columns\t<urn:goemotions:joy>\textra\n"  # skipped in both
    before = setup["base"] / "before-skips.tsv"
    lines = setup["before"].read_text(encoding="utf-8").splitlines(keepends=True)
    text, labels = lines[3].rstrip("\n").split("\t", 1)
    lines[3] = f"{text}\t{labels} <urn:goemotions:not-a-label>\n"  # unknown: skipped
    before.write_text("".join(lines) + bad, encoding="utf-8")
    after = setup["base"] / "after-skips.tsv"
    after.write_text(setup["after"].read_text(encoding="utf-8") + bad, encoding="utf-8")
    result = invoke("eval", setup["bundle"], after, "--labels-before", before, "--json",
                    "--on-error", "skip", "--unknown-labels", "skip")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    moved, provenance = metrics["labels_before"], metrics["provenance"]
    assert (moved["n_lines_skipped"], moved["n_unknown_labels_skipped"]) == (1, 1)
    assert (provenance["n_lines_skipped"], provenance["n_unknown_labels_skipped"]) == (1, 0)
    plain = invoke("eval", setup["bundle"], setup["after"], "--labels-before",
                   setup["before"], "--json")
    moved = json.loads(plain.stdout.strip().splitlines()[-1])["labels_before"]
    assert (moved["n_lines_skipped"], moved["n_unknown_labels_skipped"]) == (0, 0)
