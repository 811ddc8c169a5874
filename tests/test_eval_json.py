"""`tagsmith eval --json` on a tiny corpus against brute-force metrics of the same ranking."""

import json
import math
import random

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import f1_score, precision_score, recall_score

import tagsmith.cli as tagsmith_cli
from tagsmith.metrics import evaluate

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]


def run(*args):
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def write_corpus(path, n, rng):
    """Documents whose words name their labels (some noisy, some without a label)."""
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(n):
            labels = rng.sample(range(8), rng.choice([0, 1, 1, 2, 3]))
            words = [f"w{lab}{rng.choice('abc')}" for lab in labels for _ in range(2)]
            words += [f"noise{rng.randint(0, 40)}" for _ in range(4)]
            if labels and rng.random() < 0.3:  # a label its words do not name
                words.remove(words[0])
            rng.shuffle(words)
            out.write(" ".join(words) + "\t" + " ".join(f"<urn:x:L{lab}>" for lab in labels)
                      + "\n")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("evaljson")
    rng = random.Random(19)
    write_corpus(base / "train.tsv", 240, rng)
    write_corpus(base / "test.tsv", 50, rng)
    # L8 and L9 are never used: labels never true (and, mostly, never predicted)
    (base / "vocab.tsv").write_text("".join(f"<urn:x:L{i}>\tL{i}\n" for i in range(10)))
    run("train", base / "train.tsv", "--output", base / "model", "--vocab",
        base / "vocab.tsv", "--dev-fraction", "0.25", "--no-refit", *FAST)
    return base


def ref_report(Y, ranking, P, inv_p, ks=(1, 3, 5)):
    n = len(Y)
    n_true = [sum(row) for row in Y]
    out = {}

    def mean(values):
        return sum(values) / len(values) if values else 0.0

    def hits(i, k):
        return sum(1 for lab in ranking[i][:k] if Y[i][lab])

    for k in ks:
        out[f"p@{k}"] = mean([hits(i, k) / k for i in range(n)])
    for k in ks:
        out[f"r@{k}"] = mean([hits(i, k) / n_true[i] for i in range(n) if n_true[i]])
    for k in ks:
        per_doc = []
        for i in range(n):
            dcg = sum(1 / math.log2(r + 2) for r, lab in enumerate(ranking[i][:k]) if Y[i][lab])
            idcg = sum(1 / math.log2(r + 2) for r in range(min(k, n_true[i])))
            per_doc.append(dcg / idcg if idcg else 0.0)
        out[f"ndcg@{k}"] = mean(per_doc)
    for k in ks:
        out[f"f1@{k}"] = mean([2 * hits(i, k) / (len(ranking[i][:k]) + n_true[i])
                               if n_true[i] else 0.0 for i in range(n)])
    for k in ks:
        gained = sum(inv_p[lab] for i in range(n) for lab in ranking[i][:k] if Y[i][lab])
        best = sum(sum(sorted((inv_p[lab] for lab in range(len(Y[i])) if Y[i][lab]),
                              reverse=True)[:k]) for i in range(n))
        out[f"psp@{k}"] = gained / best if best else 0.0
    lraps = []
    for i in range(n):
        true = [lab for lab in range(len(Y[i])) if Y[i][lab]]
        if not true or len(true) == len(Y[i]):
            lraps.append(1.0)
            continue
        ranks = [ranking[i].index(lab) + 1 for lab in true]
        lraps.append(mean([sum(1 for r2 in ranks if r2 <= r) / r for r in ranks]))
    out["lrap"] = mean(lraps)
    Ya, Pa = np.array(Y, bool), np.array(P, bool)
    present = np.flatnonzero(Ya.any(0) | Pa.any(0))
    out["micro_f1"] = f1_score(Ya, Pa, average="micro", zero_division=0)
    out["macro_f1"] = f1_score(Ya, Pa, average="macro", labels=present, zero_division=0)
    out["samples_f1"] = f1_score(Ya, Pa, average="samples", zero_division=0)
    out["micro_precision"] = precision_score(Ya, Pa, average="micro", zero_division=0)
    out["micro_recall"] = recall_score(Ya, Pa, average="micro", zero_division=0)
    out["n_docs"] = n
    out["n_docs_without_labels"] = sum(1 for count in n_true if count == 0)
    out["n_labels_evaluated"] = len(present)
    return out


def test_eval_json_equals_brute_force_metrics_of_the_same_ranking(tiny):
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import propensities_for
    from tagsmith.pipeline.io import read_labelled

    printed = json.loads(run("eval", tiny / "model", tiny / "test.tsv", "--json"))
    assert printed.pop("provenance")["corpus"] == str(tiny / "test.tsv")  # the last key
    clf = TextClassifier.load(tiny / "model")
    test = read_labelled(tiny / "test.tsv", clf.label_space)
    topk = clf.predict_topk(test.texts, clf.n_labels)  # small label space: every label
    Y = (test.Y.toarray() != 0).tolist()
    P = (clf.label_sets(topk, None).toarray() != 0).tolist()
    ranking = [[int(lab) for lab in row if lab >= 0] for row in topk.indices]
    # Jain et al. propensities from the documents the final model was fitted on
    manifest = json.loads((tiny / "model" / "manifest.json").read_text())
    n_fit = manifest["training"]["n_docs"]
    assert n_fit == clf.n_train_docs == 180  # --no-refit: 240 less the 25% dev split
    c = (math.log(n_fit) - 1) * (1.5 + 1) ** 0.55
    inv_p = [1 + c * (int(count) + 1.5) ** -0.55 for count in clf.label_counts]
    expected = ref_report(Y, ranking, P, inv_p)
    assert list(printed) == list(expected)  # the keys, in evaluate()'s documented order
    for key, value in expected.items():
        assert printed[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert isinstance(printed["n_docs"], int) and isinstance(printed["n_labels_evaluated"], int)
    assert 0 < printed["p@1"] < 1 and 0 < printed["macro_f1"] < 1  # not a degenerate case
    assert printed["n_labels_evaluated"] == 8  # L8, L9: never true, never predicted
    # the documents P@k counts as 0 and R@k leaves out (the reader could not tell)
    assert printed["n_docs_without_labels"] == expected["n_docs_without_labels"] > 0
    assert isinstance(printed["n_docs_without_labels"], int)
    text = run("eval", tiny / "model", tiny / "test.tsv").splitlines()
    assert any(line.split() == ["n_docs_without_labels", str(printed["n_docs_without_labels"])]
               for line in text), text
    assert printed["psp@5"] <= 1.0
    # and the library's own report of the same data, value for value
    propensity = propensities_for(clf)
    np.testing.assert_allclose(1 / propensity, inv_p, rtol=1e-12)
    assert printed == json.loads(json.dumps(evaluate(
        test.Y, topk, clf.label_sets(topk, None), propensity=propensity)))


def test_eval_k_chooses_the_ranking_metrics_k_as_annif_compares_at_10(tiny):
    """Annif users compare NDCG@10 and P@10: eval --k gives them (comma-separated or
    repeated), equal to brute-force metrics of the same ranking; no --k prints what it
    printed, byte for byte, and a bad --k is refused naming it."""
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import propensities_for
    from tagsmith.pipeline.io import read_labelled

    clf = TextClassifier.load(tiny / "model")
    test = read_labelled(tiny / "test.tsv", clf.label_space)
    topk = clf.predict_topk(test.texts, clf.n_labels)
    Y = (test.Y.toarray() != 0).tolist()
    P = (clf.label_sets(topk, None).toarray() != 0).tolist()
    ranking = [[int(lab) for lab in row if lab >= 0] for row in topk.indices]
    inv_p = (1 / propensities_for(clf)).tolist()
    for args, ks in ((["--k", "1,3,5,10"], (1, 3, 5, 10)), (["--k", "2", "--k", "10,2"], (2, 10))):
        printed = json.loads(run("eval", tiny / "model", tiny / "test.tsv", "--json", *args))
        printed.pop("provenance")
        expected = ref_report(Y, ranking, P, inv_p, ks)
        assert list(printed) == list(expected), args
        for key, value in expected.items():
            assert printed[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (args, key)
    assert 0 < printed["ndcg@10"] < 1 and printed["p@10"] < printed["p@2"]
    text = run("eval", tiny / "model", tiny / "test.tsv", "--k", "1,3,5,10")
    assert "ndcg@10" in text and "p@10" in text
    assert (run("eval", tiny / "model", tiny / "test.tsv")
            == run("eval", tiny / "model", tiny / "test.tsv", "--k", "1,3,5"))
    for bad in ("0", "1,,3", "ten", "-1", "3.5"):
        result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "eval", str(tiny / "model"),
                                                       str(tiny / "test.tsv"), "--k", bad])
        assert result.exit_code == 2, (bad, result.output)
        assert "Invalid value for '--k'" in result.output, result.output
        assert repr(bad) in result.output and "whole numbers >= 1" in result.output


# ---------------------------------------------------------------- training documents


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    """A tiny bundle trained on every line of ``train.tsv`` (40 documents, refitted on
    all after tuning), each text unique; ``mixed.tsv`` holds 5 of them and 7
    texts it never saw."""
    base = tmp_path_factory.mktemp("evalseen")

    def line(i, label):
        return f"doc{i} w{label}a w{label}b\t<urn:x:L{label}>\n"

    (base / "vocab.tsv").write_text("".join(f"<urn:x:L{i}>\tL{i}\n" for i in range(3)))
    (base / "train.tsv").write_text("".join(line(i, i % 3) for i in range(40)))
    (base / "mixed.tsv").write_text("".join(line(i, i % 3) for i in range(5))
                                    + "".join(line(i, i % 3) for i in range(100, 107)))
    (base / "unseen.tsv").write_text("".join(line(i, i % 3) for i in range(200, 210)))
    run("train", base / "train.tsv", "--output", base / "model", "--vocab",
        base / "vocab.tsv", *FAST)
    return base


def _eval_warnings(caplog, *args):
    import logging

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, list(map(str, args)))
    assert result.exit_code == 0, result.output
    return [r.getMessage() for r in caplog.records if "trained on" in r.getMessage()]


@pytest.mark.parametrize("calibration", [False, True])
def test_eval_on_training_documents_warns_naming_the_corpus_and_count(seen, caplog,
                                                                      calibration):
    """``tagsmith eval BUNDLE CORPUS`` on the very corpus the bundle was trained on gave
    P@1 0.9975 with no word that the figures were of documents it had learnt. It warns
    (evaluating on training data can be intended) naming the corpus and the count."""
    if calibration:  # --calibration needs a calibrated bundle: one with its own split
        run("train", seen / "train.tsv", "--output", seen / "cal", "--vocab",
            seen / "vocab.tsv", "--calibration-fraction", "0.5", *FAST)
    bundle = seen / ("cal" if calibration else "model")
    extra = ["--calibration"] if calibration else []
    if calibration:  # its calibration split (half) was never trained on: the rest was
        from tagsmith.pipeline.classifier import TextClassifier
        from tagsmith.pipeline.train import in_training

        corpus, n_docs = seen / "train.tsv", 40
        n = int(in_training(TextClassifier.load(bundle).train_hashes,
                            [f"doc{i} w{i % 3}a w{i % 3}b" for i in range(40)]).sum())
        assert 10 < n < 30
    else:
        corpus, n_docs, n = seen / "mixed.tsv", 12, 5
    warnings = _eval_warnings(caplog, "eval", bundle, corpus, *extra)
    assert warnings == [
        f"{corpus}: {n} of its {n_docs} documents are documents the bundle was trained on: "
        "the figures are optimistic for them (evaluate on documents it never saw for a "
        "fair estimate)"]
    assert _eval_warnings(caplog, "eval", bundle, seen / "unseen.tsv", *extra) == []


def test_evaluate_classifier_warns_of_training_documents(seen, caplog):
    """The Python path warns alike, naming its ``source``; ``source=None`` checks nothing
    (a caller that checked already, as ``distill_classifier`` does)."""
    import logging

    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import evaluate_classifier
    from tagsmith.pipeline.io import read_labelled

    classifier = TextClassifier.load(seen / "model")
    data = read_labelled(seen / "train.tsv", classifier.label_space)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        evaluate_classifier(classifier, data.texts, data.Y)
        evaluate_classifier(classifier, data.texts, data.Y, source="my docs")
        evaluate_classifier(classifier, data.texts, data.Y, source=None)
    warnings = [r.getMessage() for r in caplog.records if "trained on" in r.getMessage()]
    assert [w.split(":", 1)[0] for w in warnings] == ["texts", "my docs"]
    assert all("40 of its 40 documents are documents the bundle was trained on" in w
               for w in warnings)


def test_one_training_document_is_warned_of_in_the_singular(seen, caplog):
    """One training document among the evaluated was "1 of its 2 documents is a document
    the bundle was trained on: the figures are optimistic for them"."""
    import logging

    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import warn_training_overlap

    classifier = TextClassifier.load(seen / "model")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert warn_training_overlap(classifier, ["doc0 w0a w0b", "doc200 w2a w2b"],
                                     "docs.tsv") == 1
    assert [r.getMessage() for r in caplog.records] == [
        "docs.tsv: 1 of its 2 documents is a document the bundle was trained on: the "
        "figures are optimistic for it (evaluate on documents it never saw for a fair "
        "estimate)"]


def test_evaluate_classifier_reads_texts_given_as_an_iterator(seen, caplog):
    """The training-overlap check took ``len`` of the texts and read them before the
    scoring did: a generator of texts, scored as any other before the check, failed with
    "object of type 'generator' has no len()" (and an iterator with a length would have
    reached the model exhausted)."""
    import logging

    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import evaluate_classifier
    from tagsmith.pipeline.io import read_labelled

    classifier = TextClassifier.load(seen / "model")
    data = read_labelled(seen / "train.tsv", classifier.label_space)
    expected = evaluate_classifier(classifier, data.texts, data.Y, source=None)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        got = evaluate_classifier(classifier, (text for text in data.texts), data.Y)
    assert got == expected
    assert any("40 of its 40 documents" in r.getMessage() for r in caplog.records)


@pytest.fixture(scope="module")
def seen_cal(seen):
    """``seen`` with a calibrated bundle ``cal``: half its training corpus set aside."""
    if not (seen / "cal").exists():
        run("train", seen / "train.tsv", "--output", seen / "cal", "--vocab",
            seen / "vocab.tsv", "--calibration-fraction", "0.5", *FAST)
    return seen


def _eval_output(caplog, *args):
    """eval's stdout and its log records (every level), one run."""
    import logging

    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, list(map(str, args)))
    assert result.exit_code == 0, result.output
    return _untimed(result.stdout), [(r.levelname, r.getMessage()) for r in caplog.records]


def _untimed(stdout: str) -> str:
    """eval's output less the time ``--json`` says it was evaluated at, which two runs
    may not share."""
    if not stdout.startswith("{"):
        return stdout
    report = json.loads(stdout)
    assert report["provenance"].pop("evaluated")
    return json.dumps(report)


@pytest.mark.parametrize("calibration", [False, True])
def test_eval_streams_its_corpus_with_the_output_of_a_corpus_held_whole(
        seen_cal, caplog, monkeypatch, calibration):
    """eval held every text of its corpus until it returned (15 MB per 100,000
    documents), for the training-overlap check and the prediction. It keeps each text's
    hash, and reads the texts again a chunk at a time to score them: whatever the
    chunks, the figures, the overlap warning and every other line are those of the
    texts held whole (as the library's list path, and eval before, has them)."""
    import tagsmith.data.corpus as corpus_module
    import tagsmith.pipeline.classifier as classifier_module
    import tagsmith.pipeline.io as io

    bundle = seen_cal / ("cal" if calibration else "model")
    # 5 training documents and 7 it never saw; the calibrated bundle never saw its
    # calibration half of train.tsv
    corpus = seen_cal / ("train.tsv" if calibration else "mixed.tsv")
    extra = ["--calibration"] if calibration else []
    read = io.read_labelled

    def held_whole(*args, **kwargs):  # eval before: the texts in a list, hashed at once
        kwargs["keep_texts"] = True
        data = read(*args, **kwargs)
        return io.StreamedLabelledData(data.texts, data.Y, data.report, data.texts, True)

    for size in (1, 5, 8192):  # the chunks hashed, and those scored (with a bar or not)
        monkeypatch.setattr(corpus_module, "HASH_CHUNK", size)
        monkeypatch.setattr(classifier_module, "PREDICT_CHUNK", size)
        with monkeypatch.context() as patched:
            patched.setattr(io, "read_labelled", held_whole)
            expected = [_eval_output(caplog, "eval", bundle, corpus, *extra, *json_flag)
                        for json_flag in ([], ["--json"])]
        assert sum(f"of its {12 + 28 * calibration} documents are documents the bundle "
                   "was trained on" in message for _, message in expected[0][1]) == 1
        got = [_eval_output(caplog, "eval", bundle, corpus, *extra, *json_flag)
               for json_flag in ([], ["--json"])]
        assert got == expected, size


def test_eval_scores_texts_it_does_not_hold(seen, monkeypatch):
    """What eval gives the model is the corpus's texts read again (hashes held, the
    texts a chunk at a time), not a list of every text."""
    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.pipeline.classifier import TextClassifier

    given = []
    predict = TextClassifier.predict_topks

    def watched(self, texts, *requests):
        given.append(texts)
        return predict(self, texts, *requests)

    monkeypatch.setattr(TextClassifier, "predict_topks", watched)
    run("eval", seen / "model", seen / "mixed.tsv")
    assert len(given) == 1 and isinstance(given[0], StreamedTexts)
    assert len(given[0]) == 12 and len(given[0].hashes) == 12


def test_streamed_texts_refuse_a_corpus_changed_after_its_labels_were_read(tmp_path):
    """Texts read again are the texts first read, or the labels read first would be
    matched with other documents' scores: a line changed, added or removed in between
    is a DataError naming the file."""
    from tagsmith.data import LabelSpace
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.io import read_labelled

    space = LabelSpace.from_uris(["urn:x:a"])
    path = tmp_path / "c.tsv"
    lines = [f"text {i}\t<urn:x:a>\n" for i in range(5)]
    path.write_text("".join(lines))
    data = read_labelled(path, space, keep_texts=False)
    assert data.texts == [] and len(data) == 5
    assert [text for chunk in data.streamed.chunks(2) for text in chunk] == [
        f"text {i}" for i in range(5)]
    for changed, why in [(lines[:3] + ["other\t<urn:x:a>\n"] + lines[4:],
                          "document 4 is not the one read first"),
                         (lines + ["more\t<urn:x:a>\n"], "more than the 5 documents it had"),
                         (lines[:4], "4 documents where it had 5")]:
        path.write_text("".join(changed))
        with pytest.raises(DataError, match=f"c.tsv: the corpus changed after it was read "
                           f"for its labels \\({why}\\); run again once it is written"):
            [chunk for chunk in data.streamed.chunks(2)]


@pytest.mark.parametrize("content, name", [
    ("text,labels\n,urn:x:a\n  ,urn:x:a\n", "c.csv"),  # every text blank
    ("<urn:x:a>\ta\n<urn:x:b>\tb\n", "c.tsv"),  # a vocabulary given as the corpus
    ("", "c.tsv"),  # no document
])
def test_a_corpus_read_without_its_texts_is_refused_as_with_them(tmp_path, content, name):
    """The checks of read_labelled and require_text decide on hashed texts as on texts
    held (the same refusal, word for word)."""
    from tagsmith.data import LabelSpace
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.io import read_labelled

    space = LabelSpace.from_uris(["urn:x:a", "urn:x:b"])
    path = tmp_path / name
    path.write_text(content)
    errors = []
    for keep in (True, False):
        with pytest.raises(DataError) as caught:
            read_labelled(path, space, keep_texts=keep, unknown_labels="skip").require_text(
                path, "evaluate on")
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no named pipes")
def test_eval_reads_a_named_pipe_once(seen, tmp_path):
    """A corpus read again to be scored must be a file: a named pipe written once was
    evaluated as any file, and a second read of it would wait for a writer for ever.
    Its texts are held, as before, and the output is the file's."""
    import os
    import threading

    fifo = tmp_path / "pipe.tsv"
    os.mkfifo(fifo)
    text = (seen / "mixed.tsv").read_text()
    writer = threading.Thread(target=fifo.write_text, args=(text,), daemon=True)
    writer.start()
    try:
        got = run("eval", seen / "model", fifo, "--json")
    finally:
        if writer.is_alive():
            # the pipe was never opened, or the writer is just closing it: opened without
            # waiting for a writer (a blocking open here waited for ever where the writer
            # had closed a moment before: a fresh-clone run hung on it), the writer goes
            reading = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            try:
                writer.join(10)
            finally:
                os.close(reading)
        writer.join(10)
    got = json.loads(_untimed(got))
    expected = json.loads(_untimed(run("eval", seen / "model", seen / "mixed.tsv", "--json")))
    assert got["provenance"].pop("corpus") == str(fifo)
    assert expected["provenance"].pop("corpus") == str(seen / "mixed.tsv")
    assert got == expected  # the same documents: the same fingerprint


def test_eval_of_a_folder_says_what_its_reader_says_once(seen, caplog, tmp_path):
    """The texts read again to be scored are read quietly: a folder whose document has
    no label file, beside a file in another case, drew each of the folder reader's
    warnings twice."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for i, line in enumerate((seen / "mixed.tsv").read_text().splitlines()[:4]):
        text, labels = line.split("\t")
        (folder / f"d{i}.txt").write_text(text)
        if i:  # d0 has no label file
            (folder / f"d{i}.tsv").write_text(labels + "\n")
    (folder / "other.TXT").write_text("not read")
    _, records = _eval_output(caplog, "eval", seen / "model", folder)
    said = [message for level, message in records if level == "WARNING"]
    assert len(said) == 3, said  # the two folder warnings and the overlap's
    assert sum("has no label file" in message for message in said) == 1
    assert sum("in another case not read" in message for message in said) == 1


def test_eval_says_once_that_an_old_bundle_cannot_be_checked_for_training_documents(
        seen, caplog, tmp_path):
    """A bundle saved before it recorded its training texts was evaluated without a word
    on the overlap check (a corpus of its training documents read as checked): one info
    line names the corpus and says why; a bundle that records them says nothing of it."""
    import shutil

    from tagsmith.pipeline.classifier import TRAIN_HASHES

    old = tmp_path / "old"
    shutil.copytree(seen / "model", old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["files"][TRAIN_HASHES]
    (old / TRAIN_HASHES).unlink()
    (old / "manifest.json").write_text(json.dumps(manifest))
    corpus = seen / "mixed.tsv"
    _, records = _eval_output(caplog, "eval", old, corpus)
    said = [(level, message) for level, message in records if "trained on" in message]
    assert said == [("INFO", f"{corpus}: not checked for documents the bundle was trained "
                     "on: the bundle records no training texts (it was saved by an older "
                     "tagsmith); train it again with this version to have them checked")]
    _, records = _eval_output(caplog, "eval", seen / "model", corpus)
    assert not any("not checked" in message for _, message in records)


def test_eval_json_says_which_bundle_measured_which_documents(tiny, tmp_path):
    """Two saved eval --json reports could not be matched: nothing in them named the
    bundle or the test set. ``provenance`` names both, with fingerprints: of the
    bundle's files, its training data and label space, and of the corpus's documents
    and gold labels by URI, so a bundle trained on a vocabulary with a label more
    (ids shifted) reports the same corpus fingerprint for the same test set."""
    from tagsmith.pipeline.compare import bundle_fingerprint

    vocab = tmp_path / "vocab.tsv"  # a new label first, the others in reverse: every id moves
    vocab.write_text("<urn:x:new>\tnew\n" + "".join(f"<urn:x:L{i}>\tL{i}\n"
                                                   for i in reversed(range(10))))
    run("train", tiny / "train.tsv", "--output", tmp_path / "later", "--vocab", vocab,
        "--dev-fraction", "0.25", "--no-refit", *FAST)
    first = json.loads(run("eval", tiny / "model", tiny / "test.tsv", "--json"))["provenance"]
    later = json.loads(run("eval", tmp_path / "later", tiny / "test.tsv", "--json",
                           "--threshold", "0.4"))["provenance"]
    for report, bundle in ((first, tiny / "model"), (later, tmp_path / "later")):
        manifest = json.loads((bundle / "manifest.json").read_text())
        assert report["bundle"] == str(bundle)
        assert report["bundle_created"] == manifest["created"]
        assert report["bundle_fingerprint"] == bundle_fingerprint(manifest)
        assert report["training_data_fingerprint"] == manifest["training"]["data_fingerprint"]
        assert report["label_space_fingerprint"] == manifest["label_space"]["fingerprint"]
        assert report["corpus"] == str(tiny / "test.tsv")
        assert report["evaluated"].endswith("+00:00") and report["vocab"] is None
    assert (first["threshold"], later["threshold"]) == (None, 0.4)
    assert first["bundle_fingerprint"] != later["bundle_fingerprint"]
    assert first["label_space_fingerprint"] != later["label_space_fingerprint"]
    assert first["corpus_fingerprint"] == later["corpus_fingerprint"]
    # one gold label changed, or one text: another test set
    lines = (tiny / "test.tsv").read_text().splitlines(keepends=True)
    text, labels = lines[0].rstrip("\n").split("\t")
    for changed in (f"{text}\t{labels} <urn:x:L9>\n", f"{text} more\t{labels}\n"):
        other = tmp_path / "other.tsv"
        other.write_text(changed + "".join(lines[1:]))
        report = json.loads(run("eval", tiny / "model", other, "--json"))["provenance"]
        assert report["corpus_fingerprint"] != first["corpus_fingerprint"]


def test_help_on_evaluate_classifier_says_what_it_returns():
    """help(evaluate_classifier) said 'Predict texts and score against Y' and nothing of
    the dict it returns or of ks and threshold; every parameter is now named, and each
    key of what it returns."""
    import inspect

    from tagsmith.pipeline.evaluate import evaluate_classifier

    doc = evaluate_classifier.__doc__
    assert not [name for name in inspect.signature(evaluate_classifier).parameters
                if f"``{name}``" not in doc]
    keys = ["p@k", "r@k", "ndcg@k", "f1@k", "psp@k", "lrap", "micro_f1", "macro_f1",
            "samples_f1", "micro_precision", "micro_recall", *HIER_KEYS, "n_docs",
            "n_docs_without_labels", "n_labels_evaluated"]
    assert "Returns" in doc and not [key for key in keys if f"``{key}``" not in doc]


@pytest.mark.parametrize("bad", [2, np.nan])
def test_evaluate_classifier_refuses_labels_other_than_0_or_1(bad):
    """evaluate_classifier counted any nonzero entry of Y as a true label: a gold
    matrix with NaN for missing values (a pandas table's gaps) or a 2 was measured
    without a word, every NaN a label the model failed to find. It is refused naming Y
    and the first such entry."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.evaluate import evaluate_classifier
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    space = LabelSpace.from_uris(["u:pos", "u:neg"])
    texts = ["good fine great", "bad awful poor"] * 10
    Y = np.array([[1, 0], [0, 1]] * 10, dtype=float)
    clf = train_classifier(texts, sp.csr_matrix(Y), space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params={"char_ngrams": None, "min_df": 1}))
    assert evaluate_classifier(clf, texts, Y, source=None)["p@1"] == 1.0
    Y[3, 0] = bad
    with pytest.raises(InvalidParameterError, match=r"parameter 'Y' must be labels 0 or 1.*"
                                                    r"document 3, label 0"):
        evaluate_classifier(clf, texts, Y, source=None)


# ---------------------------------------------------------------- hierarchical metrics


HIER_KEYS = ["hierarchical_precision", "hierarchical_recall", "hierarchical_f1"]


def hier_vocab(path):
    """L0..L9 of the tiny corpus as a CSV vocabulary with a polyhierarchy: L1..L3 under
    L0, L4 and L5 under L1, L5 under L2 too; L6..L9 flat."""
    broader = {1: "urn:x:L0", 2: "urn:x:L0", 3: "urn:x:L0", 4: "urn:x:L1",
               5: "urn:x:L1 urn:x:L2"}
    path.write_text("uri,label_en,broader\n" + "".join(
        f"urn:x:L{i},L{i},{broader.get(i, '')}\n" for i in range(10)))
    return path


def test_eval_reports_hierarchical_metrics_where_the_bundle_has_a_hierarchy(tiny, tmp_path):
    """eval measured a thesaurus-labelled corpus with flat metrics only: a broader label
    suggested for its narrower gold label counted as wrong as any other. A bundle whose
    vocabulary has broader links now reports hierarchical precision, recall and F1
    (each set augmented with its labels' ancestors), in eval --json after the flat set
    metrics, in its text, in train --json's and the manifest's held-out metrics."""
    from tagsmith.metrics import hierarchical_scores
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.io import read_labelled

    vocab = hier_vocab(tmp_path / "hier.csv")
    trained = json.loads(run("train", tiny / "train.tsv", "--output", tmp_path / "hier",
                             "--vocab", vocab, "--dev-fraction", "0.25", "--no-refit",
                             "--json", *FAST))
    manifest = json.loads((tmp_path / "hier" / "manifest.json").read_text())
    for held_out in (trained["heldout"]["metrics"], manifest["metrics"]["heldout"]["metrics"]):
        assert set(HIER_KEYS) <= set(held_out), held_out
    printed = json.loads(run("eval", tmp_path / "hier", tiny / "test.tsv", "--json"))
    keys = list(printed)
    at = keys.index("micro_recall") + 1
    assert keys[at:at + 3] == HIER_KEYS
    clf = TextClassifier.load(tmp_path / "hier")
    test = read_labelled(tiny / "test.tsv", clf.label_space)
    sets = clf.label_sets(clf.predict_topk(test.texts, clf.n_labels), None)
    expected = hierarchical_scores(test.Y, sets, clf.label_space)
    assert {key: printed[key] for key in HIER_KEYS} == expected
    # the ancestors add shared labels: more credit than the flat figures give
    assert expected["hierarchical_recall"] > printed["micro_recall"]
    text = run("eval", tmp_path / "hier", tiny / "test.tsv").splitlines()
    assert any(line.split() == ["hierarchical_f1", f"{expected['hierarchical_f1']:.4f}"]
               for line in text), text
    # eval --baseline: the bundle's metrics keep them beside the comparison
    compared = json.loads(run("eval", tmp_path / "hier", tiny / "test.tsv", "--json",
                              "--baseline", tiny / "model"))
    assert {key: compared[key] for key in HIER_KEYS} == expected
    assert "baseline" in compared


def test_eval_vocab_with_a_hierarchy_gives_a_flat_bundle_hierarchical_metrics(tiny, tmp_path):
    """eval --vocab VOCAB names the labels as VOCAB does: its broader links are the
    hierarchy the metrics augment the sets with, where the bundle's vocabulary had none
    (a flat bundle's eval --json has no hierarchical key: the brute-force test above)."""
    from tagsmith.metrics import hierarchical_scores
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.io import read_labelled

    vocab = hier_vocab(tmp_path / "hier.csv")
    printed = json.loads(run("eval", tiny / "model", tiny / "test.tsv", "--json",
                             "--vocab", vocab))
    clf = TextClassifier.load(tiny / "model")
    test = read_labelled(tiny / "test.tsv", clf.label_space)
    sets = clf.label_sets(clf.predict_topk(test.texts, clf.n_labels), None)
    from tagsmith.data.vocab import load_vocabulary

    expected = hierarchical_scores(test.Y, sets, load_vocabulary(vocab))
    assert {key: printed[key] for key in HIER_KEYS} == expected
    flat = json.loads(run("eval", tiny / "model", tiny / "test.tsv", "--json"))
    assert not set(HIER_KEYS) & set(flat)


@pytest.mark.parametrize("rows", [slice(0, 5), slice(None)])
def test_evaluate_classifier_refuses_a_list_y_of_another_shape_naming_y(rows):
    """Y as a list of lists (no .shape) of other rows or columns than the texts and
    labels was refused after every text had been scored, as 'y_true', a parameter
    evaluate_classifier has not; it names Y and the shape, as for a matrix."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.evaluate import evaluate_classifier
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    space = LabelSpace.from_uris(["u:pos", "u:neg"])
    texts = ["good fine great", "bad awful poor"] * 10
    Y = np.array([[1, 0], [0, 1]] * 10)
    clf = train_classifier(texts, sp.csr_matrix(Y), space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params={"char_ngrams": None, "min_df": 1}))
    bad = Y[rows] if rows.stop else Y[:, :1]
    with pytest.raises(InvalidParameterError,
                       match=rf"parameter 'Y' .*got 'shape \({len(bad)}, {bad.shape[1]}\)"):
        evaluate_classifier(clf, texts, bad.tolist(), source=None)


def test_eval_vocab_keeps_ancestors_reached_through_a_label_only_vocab_has(tiny, tmp_path):
    """eval --vocab VOCAB dropped a broader link to a label VOCAB has and the bundle
    lacks, and with it that label's own ancestors: L4 under a new G under L0 lost L0.
    The closure is now built over VOCAB's labels, then the bundle's kept: L4's
    augmented set holds L0, as a direct L4 -> L0 link would give it."""
    import scipy.sparse as sp

    from tagsmith.metrics import hierarchical_scores
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.io import read_labelled

    broader = {1: "urn:x:L0", 4: "urn:x:G"}
    vocab = tmp_path / "through.csv"
    vocab.write_text("uri,label_en,broader\n" + "".join(
        f"urn:x:L{i},L{i},{broader.get(i, '')}\n" for i in range(10))
        + "urn:x:G,G,urn:x:L0\n")
    printed = json.loads(run("eval", tiny / "model", tiny / "test.tsv", "--json",
                             "--vocab", vocab))
    clf = TextClassifier.load(tiny / "model")
    test = read_labelled(tiny / "test.tsv", clf.label_space)
    sets = clf.label_sets(clf.predict_topk(test.texts, clf.n_labels), None)
    ids = [clf.label_space.id_of(f"urn:x:L{i}") for i in (1, 4, 0, 0)]
    parents = sp.csr_matrix(([1, 1], (ids[:2], ids[2:])), shape=(10, 10))
    expected = hierarchical_scores(test.Y, sets, parents)
    assert {key: printed[key] for key in HIER_KEYS} == expected
    # L4 is in the test set: its lost ancestor changed the figures
    assert expected != hierarchical_scores(test.Y, sets, _without_row(parents, ids[1]))


def _without_row(matrix, row):
    """``matrix`` with row ``row`` emptied (a label's parent link dropped)."""
    kept = matrix.tolil()
    kept.rows[row], kept.data[row] = [], []
    return kept.tocsr()


def test_eval_k_of_more_digits_than_python_reads_is_refused_naming_it(tiny):
    """A --k of 5,000 digits passed the digit check and then broke int() (Python reads
    at most 4,300 digits): a traceback, where any other bad --k is refused naming it."""
    huge = "9" * 5000
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "eval", str(tiny / "model"),
                                                   str(tiny / "test.tsv"), "--k", f"1,{huge}"])
    assert result.exit_code == 2, (result.exception, result.output[-300:])
    assert "Invalid value for '--k'" in result.output and "whole numbers >= 1" in result.output


@pytest.mark.parametrize("lang", ["", "en us", "pt_BR", None])
def test_the_evaluate_functions_refuse_a_lang_that_is_no_language_tag(lang):
    """The library's evaluate functions took any lang: "" (or "pt_BR") named every
    label of the per-label figures by the fallback's name without a word, where --lang
    refuses it. Each refuses it as --lang does, naming 'lang' (evaluate_classifier and
    evaluate_with_confidence before any text is scored); a tag is taken in any case."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import Label, LabelSpace
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.confidence import evaluate_with_confidence
    from tagsmith.pipeline.evaluate import (
        evaluate_classifier,
        evaluate_label_sets,
        evaluate_topk,
        per_label_report,
    )
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    space = LabelSpace([Label("u:pos", {"en": "positive", "de": "positiv"}),
                        Label("u:neg", {"en": "negative", "de": "negativ"})])
    texts = ["good fine great", "bad awful poor"] * 10
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 10))
    clf = train_classifier(texts, Y, space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params={"char_ngrams": None, "min_df": 1}))
    topk = clf.predict_topk(texts, 2)
    y_pred = clf.label_sets(topk)
    unread = iter(texts)  # scored, it would be used up
    calls = {
        "evaluate_classifier": lambda lang: evaluate_classifier(
            clf, unread, Y, source=None, per_label=True, lang=lang),
        "evaluate_with_confidence": lambda lang: evaluate_with_confidence(
            clf, unread, Y, source=None, per_label=True, lang=lang),
        "evaluate_topk": lambda lang: evaluate_topk(clf, Y, topk, per_label=True, lang=lang),
        "evaluate_label_sets": lambda lang: evaluate_label_sets(
            Y, topk, y_pred, space, None, per_label=True, lang=lang),
        "per_label_report": lambda lang: per_label_report(clf, Y, y_pred, lang=lang)}
    for name, call in calls.items():
        with pytest.raises(InvalidParameterError, match=r"parameter 'lang' must be a "
                                                        r"language tag"):
            call(lang)
        assert next(unread) == "good fine great", name  # nothing was scored
        unread = iter(texts)
    report = evaluate_topk(clf, Y, topk, per_label=True, lang="DE")
    assert {row["label"] for row in report["per_label"]} == {"positiv", "negativ"}
