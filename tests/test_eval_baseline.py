"""`tagsmith eval BUNDLE CORPUS --baseline OLD`: two bundles on the same documents and
gold labels, each figure checked against a count by hand."""

import json
import random
import re

import numpy as np
import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]


def run(*args, code=0):
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])
    assert result.exit_code == code, result.output
    return result.output


def write_corpus(path, n, rng, labels=range(8)):
    """Documents whose words name their labels (some noisy)."""
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(n):
            chosen = rng.sample(list(labels), rng.choice([1, 1, 2, 3]))
            words = [f"w{lab}{rng.choice('abc')}" for lab in chosen for _ in range(2)]
            words += [f"noise{rng.randint(0, 40)}" for _ in range(4)]
            rng.shuffle(words)
            out.write(" ".join(words) + "\t" + " ".join(f"<urn:x:L{lab}>" for lab in chosen)
                      + "\n")


def vocab(path, uris):
    path.write_text("".join(f"<{uri}>\t{uri.rsplit(':', 1)[1]}\n" for uri in uris))
    return path


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    """Month 1: labels L0-L7 (L7 deprecated since, dropped from month 2), trained on
    few documents; month 2: L0-L6 and L8, new, in another order, on many more."""
    base = tmp_path_factory.mktemp("months")
    rng = random.Random(5)
    write_corpus(base / "m1.tsv", 40, rng, range(8))
    write_corpus(base / "m2.tsv", 300, rng, [0, 1, 2, 3, 4, 5, 6, 8])
    write_corpus(base / "test.tsv", 80, rng, [0, 1, 2, 3, 4, 5, 6, 8])
    # the month-1 words of L7 in test documents: the old model predicts its label there
    lines = (base / "test.tsv").read_text().splitlines()
    lines[:10] = [line.replace("\t", " w7a w7b w7c\t", 1) for line in lines[:10]]
    (base / "test.tsv").write_text("\n".join(lines) + "\n")
    run("train", base / "m1.tsv", "-o", base / "A", "--dev-fraction", "0.25", "--no-refit",
        "--vocab", vocab(base / "v1.tsv", [f"urn:x:L{i}" for i in range(8)]), *FAST)
    run("train", base / "m2.tsv", "-o", base / "B", "--dev-fraction", "0.25", "--no-refit",
        "--vocab", vocab(base / "v2.tsv", ["urn:x:L8", *(f"urn:x:L{i}"
                                                        for i in reversed(range(7)))]), *FAST)
    return base


def by_hand(bundle, test, gold_space):
    """P@1, the label sets' micro-F1 and each label's F1 of ``bundle`` against the
    gold labels of ``test`` (read in ``gold_space``), every label by URI."""
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.io import read_labelled

    clf = TextClassifier.load(bundle)
    data = read_labelled(test, gold_space)
    truth = [{gold_space.uri_of(j) for j in row.indices} for row in data.Y.tocsr()]
    topk = clf.predict_topk(data.texts, clf.n_labels)
    sets = clf.label_sets(topk)
    top1 = [clf.label_space.uri_of(int(i)) for i in topk.indices[:, 0]]
    predicted = [{clf.label_space.uri_of(j) for j in row.indices} for row in sets.tocsr()]
    hits = [uri in gold for uri, gold in zip(top1, truth, strict=True)]
    found = sum(len(p & g) for p, g in zip(predicted, truth, strict=True))
    micro = 2 * found / (sum(map(len, predicted)) + sum(map(len, truth)))
    f1 = {}
    for uri in set().union(*truth, *predicted):
        tp = sum(uri in p and uri in g for p, g in zip(predicted, truth, strict=True))
        total = sum(uri in p for p in predicted) + sum(uri in g for g in truth)
        f1[uri] = 2 * tp / total
    return np.array(hits), micro, f1


def test_eval_baseline_compares_two_bundles_on_the_same_gold_labels(months):
    """A team retraining monthly compared last month's bundle with this one's by hand
    (two evals, a script): eval --baseline measures both against the bundle's gold
    labels, the baseline's labels matched by URI (a new label it lacks is one it misses,
    a label of its own the bundle lacks one it predicts wrongly), with a paired bootstrap
    interval of each difference."""
    from tagsmith.pipeline.classifier import TextClassifier

    got = json.loads(run("eval", months / "B", months / "test.tsv", "--baseline",
                         months / "A", "--json"))
    alone = json.loads(run("eval", months / "B", months / "test.tsv", "--json"))
    assert list(got)[-2:] == ["provenance", "baseline"]  # README: baseline after provenance
    compared = got.pop("baseline")
    assert got.pop("provenance")["corpus_fingerprint"] == alone.pop("provenance")[
        "corpus_fingerprint"]
    assert got == alone  # the bundle's own figures, as without --baseline
    space = TextClassifier.load(months / "B").label_space
    hits_b, micro_b, f1_b = by_hand(months / "B", months / "test.tsv", space)
    hits_a, micro_a, f1_a = by_hand(months / "A", months / "test.tsv", space)
    p1, f1 = compared["metrics"]["p@1"], compared["metrics"]["micro_f1"]
    assert p1["bundle"] == pytest.approx(alone["p@1"]) == pytest.approx(hits_b.mean())
    assert p1["baseline"] == pytest.approx(hits_a.mean())
    assert f1["bundle"] == pytest.approx(alone["micro_f1"]) == pytest.approx(micro_b)
    assert f1["baseline"] == pytest.approx(micro_a)
    assert p1["n_docs_better"] == int((hits_b & ~hits_a).sum())
    assert p1["n_docs_worse"] == int((hits_a & ~hits_b).sum())
    # the month-2 model, trained on 7 times the documents, is better beyond noise
    for m in (p1, f1):
        assert m["difference"] == pytest.approx(m["bundle"] - m["baseline"])
        assert 0 < m["interval"][0] <= m["difference"] <= m["interval"][1]
        assert m["verdict"] == "better"
    assert compared["bundle"] == str(months / "A") and compared["n_docs"] == 80
    rows = {row["uri"]: row for row in compared["per_label"]}
    new, old = rows.pop("urn:x:L8"), rows.pop("urn:x:L7")
    assert (new["in_baseline"], new["baseline_f1"], new["f1"]) == (False, None,
                                                                   pytest.approx(f1_b[
                                                                       "urn:x:L8"]))
    assert new["support"] > 0 and new["difference"] == pytest.approx(new["f1"])
    # the deprecated label: the old model still predicts it, each time wrongly
    assert (old["in_bundle"], old["f1"], old["support"], old["baseline_f1"]) == (
        False, None, 0, 0.0)
    assert "urn:x:L7" in f1_a
    for uri, row in rows.items():
        assert row["f1"] == pytest.approx(f1_b.get(uri, 0.0))
        assert row["baseline_f1"] == pytest.approx(f1_a.get(uri, 0.0))
        assert row["interval"][0] <= row["interval"][1]
    # the other way round, the same differences, negated, and "worse"
    back = json.loads(run("eval", months / "A", months / "test.tsv", "--baseline",
                          months / "B", "--json", "--vocab", months / "v2.tsv"))["baseline"]
    assert back["metrics"]["p@1"]["verdict"] == "worse"
    for key, m in back["metrics"].items():
        mine = compared["metrics"][key]
        assert (m["bundle"], m["baseline"]) == (mine["baseline"], mine["bundle"])
    assert back["metrics"]["p@1"]["n_docs_better"] == p1["n_docs_worse"]
    assert back["metrics"]["p@1"]["n_docs_worse"] == p1["n_docs_better"]
    back_rows = {row["uri"]: row for row in back["per_label"]}
    assert (back_rows["urn:x:L8"]["in_bundle"], back_rows["urn:x:L8"]["f1"]) == (False, None)


def test_eval_baseline_prints_what_moved(months):
    text = run("eval", months / "B", months / "test.tsv", "--baseline", months / "A")
    assert (f"against baseline {months / 'A'} on the same 80 documents (paired bootstrap "
            "over documents, 1,000 resamples, 95% intervals):") in text
    assert "  p@1 " in text and "  micro_f1 " in text and "better (right where the " in text
    assert "labels new, not in the baseline: L8 (support " in text
    assert "labels only in the baseline: L7 (support 0, F1 0.000)" in text
    back = run("eval", months / "A", months / "test.tsv", "--baseline", months / "B",
               "--vocab", months / "v2.tsv")
    assert "labels new, not in the baseline: L7 (support 0, F1 0.000)" in back
    assert "labels only in the baseline: L8 (support " in back
    # a bundle against itself: nothing moved
    same = run("eval", months / "B", months / "test.tsv", "--baseline", months / "B")
    assert "+0.0000 [+0.0000, +0.0000]  within noise (right where the baseline was wrong " \
           "on 0 documents, wrong where it was right on 0)" in same
    assert "beyond noise" not in same


def test_eval_baseline_is_refused_with_calibration(months):
    out = run("eval", months / "B", months / "test.tsv", "--baseline", months / "A",
              "--calibration", code=2)
    assert "--baseline and --calibration cannot be combined" in out
    out = run("eval", months / "B", months / "test.tsv", "--baseline", months / "nothing",
              code=4)  # a missing baseline, as a missing bundle
    assert str(months / "nothing") in out


def test_eval_of_an_old_bundle_on_a_test_set_with_a_new_label_says_the_way_out(months,
                                                                               tmp_path):
    """Last month's bundle on this month's test set stopped at the first label added
    since, saying only that the bundle's vocabulary lacks it: --vocab (the updated
    vocabulary) and --unknown-labels skip were in the README alone."""
    out = run("eval", months / "A", months / "test.tsv", code=3)
    assert (f"unknown label '<urn:x:L8>' (not in the vocabulary of the bundle {months / 'A'}); "
            "a label added since the bundle was trained? give the updated vocabulary with "
            "--vocab VOCAB to leave out the labels the model does not know, or "
            "--unknown-labels skip") in out
    run("eval", months / "A", months / "test.tsv", "--vocab", months / "v2.tsv")
    # a label the given vocabulary lacks too: --vocab is no way out
    odd = tmp_path / "odd.tsv"
    odd.write_text("w1a w1b\t<urn:x:nowhere>\n")
    out = run("eval", months / "A", odd, "--vocab", months / "v2.tsv", code=3)
    assert "unknown label '<urn:x:nowhere>'" in out and "added since" not in out


def test_eval_baseline_warns_of_test_documents_the_baseline_was_trained_on(months, tmp_path,
                                                                           caplog):
    """The bundle's training documents in CORPUS were warned of, the baseline's not: a
    baseline trained on part of the test set looked better than it is, unsaid."""
    import logging

    corpus = tmp_path / "mixed.tsv"  # the test set and A's whole training corpus
    corpus.write_text((months / "test.tsv").read_text() + (months / "m1.tsv").read_text())
    # the documents A was fitted on: its corpus less the --dev-fraction held out
    n_fit = json.loads((months / "A" / "manifest.json").read_text())["training"]["n_docs"]
    assert n_fit == 30
    every = vocab(tmp_path / "every.tsv", [f"urn:x:L{i}" for i in range(9)])
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, list(map(str, [
            "eval", months / "B", corpus, "--baseline", months / "A", "--vocab",
            every])))  # L7, gone from B's vocabulary
    assert result.exit_code == 0, result.output
    messages = [r.getMessage() for r in caplog.records]
    assert (f"{corpus}, for the baseline {months / 'A'}: 30 of its 120 documents are "
            "documents the bundle was trained on") in " ".join(messages), messages
    assert not any(m.startswith(f"{corpus}: ") and "trained on" in m for m in messages)


def test_eval_json_says_what_was_left_out_of_the_fingerprinted_corpus(months, tmp_path):
    """The README said one test set has one corpus_fingerprint whichever bundle is
    evaluated, but the way out the error offers, --unknown-labels skip, hashes the gold
    labels left after the skip: another fingerprint, and nothing in provenance said
    why. provenance counts the label occurrences and lines left out as read."""
    def provenance(bundle, corpus, *options):
        return json.loads(run("eval", bundle, corpus, "--json", *options))["provenance"]

    new = provenance(months / "B", months / "test.tsv")
    assert (new["n_unknown_labels_skipped"], new["n_lines_skipped"]) == (0, 0)
    old = provenance(months / "A", months / "test.tsv", "--vocab", months / "v2.tsv")
    assert old["corpus_fingerprint"] == new["corpus_fingerprint"]
    assert old["n_unknown_labels_skipped"] == 0
    n_new = (months / "test.tsv").read_text().count("<urn:x:L8>")
    assert n_new > 0
    skipped = provenance(months / "A", months / "test.tsv", "--unknown-labels", "skip")
    assert skipped["corpus_fingerprint"] != new["corpus_fingerprint"]
    assert skipped["n_unknown_labels_skipped"] == n_new
    bad = tmp_path / "bad.tsv"  # a line of three columns, skipped
    bad.write_text((months / "test.tsv").read_text() + "w1a\t<urn:x:L1>\textra\n")
    lines = provenance(months / "B", bad, "--on-error", "skip")
    assert (lines["n_lines_skipped"], lines["corpus_fingerprint"]) == (1, new[
        "corpus_fingerprint"])


def compared(n_docs, bundle_right, baseline_right):
    """compare_predictions of documents each with the gold label a, a bundle and a
    baseline each predicting (top 1 and label set) a on the documents given, b else."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.compare import compare_predictions

    space = LabelSpace.from_uris(["x:a", "x:b"])
    gold = sp.csr_matrix(np.column_stack([np.ones(n_docs), np.zeros(n_docs)]))

    def predicted(right):
        top1 = np.array([0 if i in right else 1 for i in range(n_docs)])
        return top1, sp.csr_matrix(np.eye(2)[top1])

    return compare_predictions(gold, space, space, *predicted(bundle_right), space,
                               *predicted(baseline_right))["metrics"]


@pytest.mark.parametrize(("n_docs", "differing", "p_value"), [(1, 1, 1.0), (2, 2, 0.5),
                                                              (20, 4, 0.125)])
def test_eval_baseline_verdict_on_few_differing_documents_is_not_better(n_docs, differing,
                                                                        p_value):
    """The percentile bootstrap called a bundle right on 1 document where the baseline
    was wrong 'better', interval [+1, +1], and 4 of 20 all one way 'better' [+0.05,
    +0.40] where the exact sign test gives p = 0.125: both verdicts are 'too few
    documents' below 6 differing documents (P@1's was the sign test's, 'within
    noise')."""
    got = compared(n_docs, range(n_docs), range(differing, n_docs))
    p1, f1 = got["p@1"], got["micro_f1"]
    assert p1["difference"] == pytest.approx(differing / n_docs)
    assert (p1["n_docs_better"], p1["n_docs_worse"]) == (differing, 0)
    assert (p1["test"], p1["p_value"], p1["verdict"]) == (
        "bootstrap", pytest.approx(p_value), "too few documents")
    assert (p1["n_docs_differing"], p1["min_docs_differing"]) == (differing, 6)
    assert p1["interval"][0] > 0  # the bootstrap's interval, shown as it was
    assert (f1["test"], f1["n_docs_differing"], f1["min_docs_differing"]) == (
        "bootstrap", differing, 6)
    assert f1["verdict"] == "too few documents"


def test_eval_baseline_verdict_on_many_differing_documents():
    """Enough documents one way: the sign test and the bootstrap both say so."""
    got = compared(60, range(60), range(8, 60))  # 8 of 60: p = 2 / 2**8
    assert got["p@1"]["p_value"] == pytest.approx(2 / 2 ** 8)
    assert got["p@1"]["verdict"] == got["micro_f1"]["verdict"] == "better"
    back = compared(60, range(8, 60), range(60))
    assert back["p@1"]["verdict"] == back["micro_f1"]["verdict"] == "worse"
    mixed = compared(60, range(0, 56), range(4, 60))  # 4 one way, 4 the other
    assert (mixed["p@1"]["p_value"], mixed["p@1"]["verdict"]) == (1.0, "within noise")


@pytest.mark.parametrize(("n_docs", "better", "worse"),
                         [(300, 9, 2), (100, 5, 0), (300, 7, 0), (300, 30, 20), (60, 8, 0)])
def test_eval_baseline_p1_verdict_agrees_with_its_interval(n_docs, better, worse):
    """P@1's interval was the paired bootstrap's and its verdict the sign test's: a
    bundle right on 9 documents the baseline got wrong, wrong on 2 it got right (of
    300) read '+0.0233 [+0.0033, +0.0467]  within noise' (p = 0.065). As eval
    --labels-before's: the verdict is the interval's, 'too few documents' where fewer
    than 6 documents differ."""
    got = compared(n_docs, [*range(better), *range(better + worse, n_docs)],
                   [*range(better, n_docs)])
    p1 = got["p@1"]
    assert (p1["n_docs_better"], p1["n_docs_worse"]) == (better, worse)
    low, high = p1["interval"]
    if better + worse < 6:
        assert p1["verdict"] == "too few documents"
    else:
        assert p1["verdict"] == ("better" if low > 0 else "worse" if high < 0
                                 else "within noise")
    assert (p1["test"], p1["n_docs_differing"]) == ("bootstrap", better + worse)
    assert "p_value" in p1  # kept for callers that read it
    if (better, worse) == (9, 2):
        assert low > 0 and p1["verdict"] == "better"


def test_eval_baseline_text_counts_one_document_as_one(months, tmp_path):
    """'on the same 1 documents', 'on 1 documents'."""
    one = tmp_path / "one.tsv"  # L8, new: B gets it right, A cannot
    one.write_text("w8a w8b w8c w8a\t<urn:x:L8>\n")
    text = run("eval", months / "B", one, "--baseline", months / "A")
    assert "on the same 1 document (paired bootstrap" in text
    assert ("too few documents (right where the baseline was wrong on 1 document, wrong "
            "where it was right on 0)") in text
    assert "too few documents (the label sets differ on 1 document, fewer than 6)" in text
    assert "1 documents" not in text


def test_eval_baseline_is_refused_with_unknown_labels_skip(months):
    """eval OLD --baseline NEW --unknown-labels skip left NEW's new label out of the
    gold labels before either bundle was measured: NEW's right predictions of it
    counted as wrong. Refused, pointing to --vocab, which keeps it."""
    out = run("eval", months / "A", months / "test.tsv", "--baseline", months / "B",
              "--unknown-labels", "skip", code=2)
    assert "--baseline and --unknown-labels skip cannot be combined" in out
    assert "--vocab VOCAB, which keeps them" in out
    # the way out an unknown label's error offers is --vocab alone
    out = run("eval", months / "A", months / "test.tsv", "--baseline", months / "B", code=3)
    assert out.rstrip().endswith("--vocab VOCAB to leave out the labels the model does "
                                 "not know"), out
    kept = json.loads(run("eval", months / "A", months / "test.tsv", "--baseline",
                          months / "B", "--vocab", months / "v2.tsv", "--json"))
    rows = {row["uri"]: row for row in kept["baseline"]["per_label"]}
    assert rows["urn:x:L8"]["support"] > 0 and rows["urn:x:L8"]["baseline_f1"] > 0


@pytest.mark.parametrize("differing", [2, 4, 5])
def test_eval_baseline_label_verdict_on_few_differing_documents_is_too_few(differing):
    """A label whose predictions differ on 4 or 5 of 20 documents, all one way, was
    listed as its F1 risen beyond noise: the percentile bootstrap's interval left 0 out
    (on 2 or 3 a draw without them is too likely for that). Its verdict is 'too few
    documents' below 6 differing documents, as micro-F1's."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.compare import compare_predictions

    space = LabelSpace.from_uris(["x:a", "x:b"])
    gold = sp.csr_matrix(np.column_stack([np.ones(20), np.zeros(20)]))

    def predicted(right):
        top1 = np.array([0 if i in right else 1 for i in range(20)])
        return top1, sp.csr_matrix(np.eye(2)[top1])

    rows = {row["uri"]: row for row in compare_predictions(
        gold, space, space, *predicted(range(20)), space,
        *predicted(range(differing, 20)))["per_label"]}
    a = rows["x:a"]
    assert a["difference"] > 0 and a["n_docs_differing"] == differing
    if differing >= 4:
        assert a["interval"][0] > 0  # the bootstrap's interval, shown as it was
    assert a["verdict"] == rows["x:b"]["verdict"] == "too few documents"
    many = {row["uri"]: row for row in compare_predictions(
        gold, space, space, *predicted(range(20)), space, *predicted(range(8, 20)))[
        "per_label"]}
    assert many["x:a"]["n_docs_differing"] == 8
    assert many["x:a"]["verdict"] == "better"  # 8 of 20: the interval's


def test_eval_baseline_text_counts_labels_on_too_few_documents_with_the_others(months):
    """B against A on the test set: two labels' predictions differ on 4 and 5 documents,
    all one way, and were listed under 'labels whose F1 rose beyond noise'."""
    report = json.loads(run("eval", months / "B", months / "test.tsv", "--baseline",
                            months / "A", "--json"))["baseline"]
    shared = [row for row in report["per_label"] if row["in_bundle"] and row["in_baseline"]]
    few = [row for row in shared if 0 < row["n_docs_differing"] < 6]
    assert few and all(row["verdict"] == "too few documents" for row in few)
    assert any(row["interval"][0] > 0 for row in few)  # the bootstrap left 0 out
    assert all(row["verdict"] != "too few documents" for row in report["per_label"]
               if row["n_docs_differing"] == 0 or row["n_docs_differing"] >= 6)
    quiet = sum(row["verdict"] == "within noise" for row in shared)
    text = run("eval", months / "B", months / "test.tsv", "--baseline", months / "A")
    moved = text.split("labels whose F1", 1)[1].split(" other label", 1)[0]
    assert not any(f"  {row['label']}  support" in moved for row in few)
    assert (f"{quiet + len(few)} other labels within noise or on too few documents "
            f"({len(few)} whose predictions by the two bundles differ on fewer than 6 "
            "documents; --json lists every label)") in text


@pytest.fixture(scope="module")
def calibrated(months):
    """Month 2's bundle calibrated into a copy: the same featurizer (parameters,
    vocabulary, idf), its featurizer.npz written again at another time (the same
    bytes)."""
    rng = random.Random(11)
    write_corpus(months / "held.tsv", 120, rng, [0, 1, 2, 3, 4, 5, 6, 8])
    run("calibrate", months / "B", "--data", months / "held.tsv", "-o", months / "Bc")
    return months / "Bc"


def counting_transforms(monkeypatch):
    """The texts each featurizer transforms, counted as they pass (the featurizer runs)."""
    from tagsmith.features.tfidf import TfidfFeaturizer

    seen = []
    transform = TfidfFeaturizer.transform

    def counted(self, texts, *args, **kwargs):
        seen.append(len(texts))
        return transform(self, texts, *args, **kwargs)

    monkeypatch.setattr(TfidfFeaturizer, "transform", counted)
    return seen


def test_eval_baseline_featurizes_once_where_both_bundles_featurizers_are_the_same(
        months, calibrated, monkeypatch):
    """eval --baseline featurized the corpus again for the baseline (~3 s of 8 s on
    GoEmotions' test set) where both bundles' featurizers were the same (a bundle and
    its calibrated copy); it is now featurized once, the figures as before."""
    from tagsmith.pipeline.classifier import TextClassifier, same_featurizer

    new, old = TextClassifier.load(calibrated), TextClassifier.load(months / "B")
    assert same_featurizer(new, old)
    assert not same_featurizer(old, TextClassifier.load(months / "A"))
    apart = json.loads(run("eval", calibrated, months / "test.tsv", "--json"))
    seen = counting_transforms(monkeypatch)
    both = json.loads(run("eval", calibrated, months / "test.tsv", "--baseline",
                          months / "B", "--json"))
    assert seen == [80]
    alone = json.loads(run("eval", months / "B", months / "test.tsv", "--json"))
    assert seen == [80, 80]
    for report in (apart, both):  # the time each ran, to the second: not a figure
        report["provenance"].pop("evaluated")
    assert {key: both[key] for key in apart} == apart
    for key in ("p@1", "micro_f1"):
        assert both["baseline"]["metrics"][key]["baseline"] == pytest.approx(alone[key])
        assert both["baseline"]["metrics"][key]["bundle"] == pytest.approx(apart[key])


def test_eval_baseline_featurizes_twice_where_the_featurizers_differ(months, monkeypatch):
    """Bundles trained on other documents (month 1 and month 2: other vocabularies)
    each featurize the corpus."""
    seen = counting_transforms(monkeypatch)
    run("eval", months / "B", months / "test.tsv", "--baseline", months / "A", "--json")
    assert seen == [80, 80]


@pytest.mark.parametrize("chunk", [16, 1000])
def test_a_pair_of_predictions_featurized_once_is_each_bundles_own(months, calibrated,
                                                                   monkeypatch, chunk):
    """predict_topk_pair (one featurization for two bundles with the same featurizer)
    gives exactly each bundle's predict_topk, in chunks under a progress bar or whole."""
    import tagsmith.pipeline.classifier as classifier_module
    from tagsmith.pipeline.classifier import TextClassifier, predict_topk_pair
    from tagsmith.pipeline.io import read_labelled

    monkeypatch.setattr(classifier_module, "PREDICT_CHUNK", chunk)
    new, old = TextClassifier.load(calibrated), TextClassifier.load(months / "B")
    new.show_progress = True
    texts = read_labelled(months / "test.tsv", old.label_space).texts
    seen = counting_transforms(monkeypatch)
    pair = predict_topk_pair(new, old, texts, 5, 3)
    assert sum(seen) == 80
    for got, alone in zip(pair, (new.predict_topk(texts, 5), old.predict_topk(texts, 3)),
                          strict=True):
        assert np.array_equal(got.indices, alone.indices)
        assert np.array_equal(got.scores, alone.scores)


def test_the_same_featurizer_is_told_by_the_checksums_and_older_bytes_by_the_arrays(
        months, calibrated, tmp_path, monkeypatch):
    """A bundle and its calibrated copy record one featurizer.npz checksum (equal arrays
    are written as equal bytes): the featurizer is the same by the checksums alone, no
    state rebuilt and compared. A bundle written before, whose featurizer.npz holds the
    same arrays as other bytes (numpy.savez on Windows marked its members as written
    there), is still found the same, by its arrays."""
    import hashlib
    import shutil
    import sys

    from tagsmith.features.tfidf import TfidfFeaturizer
    from tagsmith.pipeline.classifier import TextClassifier, same_featurizer

    files = [json.loads((bundle / "manifest.json").read_text())["files"]
             for bundle in (calibrated, months / "B")]
    assert files[0]["featurizer.npz"] == files[1]["featurizer.npz"]
    new, old = TextClassifier.load(calibrated), TextClassifier.load(months / "B")
    states = []
    to_state = TfidfFeaturizer.to_state
    monkeypatch.setattr(TfidfFeaturizer, "to_state",
                        lambda self: (states.append(self), to_state(self))[1])
    assert same_featurizer(new, old) and states == []
    older = tmp_path / "older"  # B as numpy.savez wrote it on Windows
    shutil.copytree(months / "B", older)
    with np.load(older / "featurizer.npz", allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    with monkeypatch.context() as patched:
        patched.setattr(sys, "platform", "win32")
        np.savez(older / "featurizer.npz", **arrays)
    manifest = json.loads((older / "manifest.json").read_text())
    manifest["files"]["featurizer.npz"] = hashlib.sha256(
        (older / "featurizer.npz").read_bytes()).hexdigest()
    assert manifest["files"]["featurizer.npz"] != files[1]["featurizer.npz"]
    (older / "manifest.json").write_text(json.dumps(manifest))
    assert same_featurizer(new, TextClassifier.load(older)) and len(states) == 2


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("top1", np.zeros(3, dtype=int), "shape (3,)"),
    ("base_top1", np.zeros(4), "dtype float64"),
    ("top1", np.array([0, 1, 2, 0]), "values in [0, 2]"),
    ("sets", "matrix", "shape (3, 2)"),
    ("base_sets", "matrix", "shape (4, 3)"),
    ("Y", "matrix", "shape (4, 3)"),
    ("resamples", 0, "0"),
    ("seed", -1, "-1"),
    ("confidence", 95, "95"),
    ("confidence", 1.0, "1.0"),
    # as the evaluate functions and --lang refuse them: each label was named by the
    # fallback's name without a word
    ("lang", "pt_BR", "pt_BR"),
    ("lang", "", "''"),
])
def test_compare_predictions_refuses_mismatched_predictions_and_bad_settings(
        name, value, shown):
    """A researcher comparing two models from Python met a top1 of the first documents
    alone read as wrong on the rest (P@1 far below the truth, no error), and
    resamples=0 or confidence=95 failing inside numpy; each is now refused naming the
    parameter and what it was."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.compare import compare_predictions

    space = LabelSpace.from_uris(["x:a", "x:b"])
    top1 = np.array([0, 1, 0, 1])
    args = {"Y": sp.csr_matrix(np.eye(2)[top1]), "top1": top1,
            "sets": sp.csr_matrix(np.eye(2)[top1]), "base_top1": top1,
            "base_sets": sp.csr_matrix(np.eye(2)[top1]), "resamples": 20}
    assert compare_predictions(args["Y"], space, space, args["top1"], args["sets"], space,
                               args["base_top1"], args["base_sets"],
                               resamples=20)["metrics"]["p@1"]["bundle"] == 1.0
    if isinstance(value, str) and value == "matrix":  # a matrix of the wrong shape
        value = sp.csr_matrix(np.ones((3, 2) if name == "sets" else (4, 3)))
    args[name] = value
    with pytest.raises(InvalidParameterError, match=rf"parameter '{name}' .*{re.escape(shown)}"):
        compare_predictions(args.pop("Y"), space, space, args.pop("top1"), args.pop("sets"),
                            space, args.pop("base_top1"), args.pop("base_sets"), **args)


def test_eval_names_labels_in_lang(tmp_path, caplog):
    """A German team trained on a thesaurus named in en/de (``train --vocab --lang de``,
    ``suggest --lang de``), then read ``eval --per-label``, ``--results-file`` and
    ``--baseline``'s labels in English, eval having no ``--lang``. They are named in
    ``--lang`` (a label without a name in it falling back as in suggest), and a
    ``--lang`` no label is named in is warned about."""
    rng = random.Random(3)
    names = [("road transport", "Stra\u00dfenverkehr"), ("pedestrian", "Fu\u00dfg\u00e4nger"),
             ("customs duties", "Z\u00f6lle"), ("co-determination", "")]
    voc = tmp_path / "ev.csv"
    voc.write_text("uri,label_en,label_de\n" + "".join(
        f"urn:x:L{i},{en},{de}\n" for i, (en, de) in enumerate(names)), encoding="utf-8")
    write_corpus(tmp_path / "train.tsv", 80, rng, labels=range(4))
    write_corpus(tmp_path / "test.tsv", 30, rng, labels=range(4))
    run("train", tmp_path / "train.tsv", "--vocab", voc, "-o", tmp_path / "B", *FAST)
    got = json.loads(run("eval", tmp_path / "B", tmp_path / "test.tsv", "--per-label",
                         "--json", "--lang", "de", "--results-file", tmp_path / "r.tsv",
                         "--baseline", tmp_path / "B"))
    german = {f"urn:x:L{i}": de or en for i, (en, de) in enumerate(names)}
    assert {row["uri"]: row["label"] for row in got["per_label"]} == german
    assert {row["uri"]: row["label"] for row in got["baseline"]["per_label"]} == german
    rows = (tmp_path / "r.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert {row.split("\t")[0]: row.split("\t")[1] for row in rows} == {
        f"<{uri}>": name for uri, name in german.items()}
    text = run("eval", tmp_path / "B", tmp_path / "test.tsv", "--per-label", "--lang", "de")
    assert "Stra\u00dfenverkehr" in text and "road transport" not in text
    english = json.loads(run("eval", tmp_path / "B", tmp_path / "test.tsv", "--per-label",
                             "--json"))
    assert [row["label"] for row in english["per_label"]] == [en for en, _ in names]
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "eval", str(tmp_path / "B"), str(tmp_path / "test.tsv"), "--per-label",
            "--lang", "fi"])
    assert result.exit_code == 0, result.output
    assert "no label has a name in language 'fi' (--lang)" in caplog.text


def test_evaluate_classifier_names_per_label_rows_in_lang(tmp_path):
    """evaluate_classifier(per_label=True) took no lang: a Python caller's rows were
    named in English, and eval renamed them itself. It names them in ``lang`` (as
    evaluate_with_confidence and evaluate_topk do), English by default."""
    import scipy.sparse as sp

    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.confidence import evaluate_with_confidence
    from tagsmith.pipeline.evaluate import evaluate_classifier

    rng = random.Random(4)
    voc = tmp_path / "ev.csv"
    voc.write_text("uri,label_en,label_de\nurn:x:L0,road transport,Stra\u00dfenverkehr\n"
                   "urn:x:L1,customs duties,Z\u00f6lle\nurn:x:L2,pedestrian,\n",
                   encoding="utf-8")
    write_corpus(tmp_path / "train.tsv", 60, rng, labels=range(3))
    run("train", tmp_path / "train.tsv", "--vocab", voc, "-o", tmp_path / "B", *FAST,
        "--calibration-fraction", "0.3")
    classifier = TextClassifier.load(tmp_path / "B")
    texts = ["w0a w0b noise1", "w1a w1c noise2"]
    assert classifier.label_space.uris == ["urn:x:L0", "urn:x:L1", "urn:x:L2"]
    Y = sp.csr_matrix(np.eye(2, 3, dtype=np.int8))  # each text's own label
    # rows for the labels true or predicted: L0 and L1 at least
    german = {"urn:x:L0": "Stra\u00dfenverkehr", "urn:x:L1": "Z\u00f6lle",
              "urn:x:L2": "pedestrian"}  # no German name: English, as suggest shows it
    english = {"urn:x:L0": "road transport", "urn:x:L1": "customs duties",
               "urn:x:L2": "pedestrian"}
    for lang, names in (("de", german), ("en", english)):
        rows = evaluate_classifier(classifier, texts, Y, per_label=True, source=None,
                                   lang=lang)["per_label"]
        assert {row["uri"]: row["label"] for row in rows} == \
            {row["uri"]: names[row["uri"]] for row in rows}
        assert {"urn:x:L0", "urn:x:L1"} <= {row["uri"] for row in rows}
    default = evaluate_classifier(classifier, texts, Y, per_label=True, source=None)
    assert {row["label"] for row in default["per_label"]} <= set(english.values())
    rows = evaluate_with_confidence(classifier, texts, Y, source=None, per_label=True,
                                    lang="de")[0]["per_label"]
    assert {row["uri"]: row["label"] for row in rows} == \
        {row["uri"]: german[row["uri"]] for row in rows}
    assert "urn:x:L0" in {row["uri"] for row in rows}


@pytest.mark.parametrize("value", [95, float("nan"), 1.0, 0])
def test_compare_predictions_says_confidence_is_in_the_open_interval(value):
    """compare_predictions(..., confidence=95) was refused as "a number in (0, 1]", so a
    researcher who then passed 1 was refused again, as "(0, 1)"; every bad confidence is
    now refused with the one range that holds, (0, 1), as alphas are."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.compare import compare_predictions

    space = LabelSpace.from_uris(["x:a", "x:b"])
    top1 = np.array([0, 1, 0, 1])
    Y = sp.csr_matrix(np.eye(2)[top1])
    with pytest.raises(InvalidParameterError) as caught:
        compare_predictions(Y, space, space, top1, Y, space, top1, Y, resamples=20,
                            confidence=value)
    assert caught.value.name == "confidence"
    assert caught.value.expected == "a number in (0, 1)"


def test_compare_predictions_refuses_a_float_top1_of_no_documents_naming_it():
    """With no documents the batch skipped top1's dtype check: an empty float top1 (as
    np.array([]) gives) failed inside numpy indexing ('arrays used as indices must be
    of integer...'); it is refused naming top1 and its dtype, as for any length."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.compare import compare_predictions

    space = LabelSpace.from_uris(["x:a", "x:b"])
    none = sp.csr_matrix((0, 2))
    with pytest.raises(InvalidParameterError, match=r"parameter 'top1' .*dtype float64"):
        compare_predictions(none, space, space, np.array([]), none, space,
                            np.zeros(0, dtype=int), none, resamples=20)


def test_compare_predictions_of_no_documents_gives_figures_of_zero_as_evaluate_does():
    """With no documents P@1 was 0/0: two RuntimeWarnings and NaN figures (a NaN
    interval in the JSON); they are 0.0 as evaluate_classifier's figures of no
    documents are, a difference of 0.0 within noise, with no warning."""
    import warnings

    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.compare import compare_predictions

    space = LabelSpace.from_uris(["x:a", "x:b"])
    none = sp.csr_matrix((0, 2))
    nothing = np.zeros(0, dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compare_predictions(none, space, space, nothing, none, space, nothing, none,
                                     resamples=20)
    assert result["n_docs"] == 0 and result["per_label"] == []
    for key in ("p@1", "micro_f1"):
        figures = result["metrics"][key]
        assert (figures["bundle"], figures["baseline"], figures["difference"],
                figures["interval"], figures["verdict"]) == (
            0.0, 0.0, 0.0, [0.0, 0.0], "within noise")


@pytest.mark.parametrize(("name", "bad", "shown"), [
    ("Y", np.nan, "nan at document 1, label 0"),
    ("sets", 2.0, "2 at document 1, label 0"),
    ("base_sets", -1.0, "-1 at document 1, label 0"),
])
def test_compare_predictions_refuses_labels_other_than_0_or_1(name, bad, shown):
    """compare_predictions counted any nonzero entry of Y and the sets as a label: a
    gold table's NaN gap was a true label both models missed (P@1 and micro-F1 measured
    low without a word), a 2 in the sets a label predicted. Each is refused naming the
    parameter and the first such entry, as evaluate_classifier refuses its Y."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.compare import compare_predictions

    space = LabelSpace.from_uris(["x:a", "x:b"])
    top1 = np.array([0, 1, 0, 1])
    args = {name: np.eye(2)[top1] for name in ("Y", "sets", "base_sets")}
    args[name] = args[name].copy()
    args[name][1, 0] = bad
    with pytest.raises(InvalidParameterError,
                       match=rf"parameter '{name}' must be labels 0 or 1 .*{re.escape(shown)}"):
        compare_predictions(sp.csr_matrix(args["Y"]), space, space, top1,
                            sp.csr_matrix(args["sets"]), space, top1,
                            sp.csr_matrix(args["base_sets"]), resamples=20)


def test_eval_baseline_a_label_one_bundle_lacks_is_no_comparison_in_the_json():
    """A month-2 bundle's vocabulary gained 'bop', which it had no training document
    for: eval --baseline's text listed it 'new, not in the baseline ... F1 0.000', its
    JSON gave it verdict 'within noise', difference 0.0, as if compared and equal. The
    JSON's verdict now says what the text does, for a label only the baseline has too."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.compare import compare_predictions

    # the new bundle: a, b and new (never predicted); the baseline: a, b and gone
    space = LabelSpace.from_uris(["x:a", "x:b", "x:new"])
    base_space = LabelSpace.from_uris(["x:a", "x:b", "x:gone"])
    n = 20
    gold = sp.csr_matrix(np.column_stack([np.ones(n), np.zeros(n), np.arange(n) < 8]))
    top1 = np.zeros(n, np.int64)
    sets = sp.csr_matrix(np.eye(3)[top1])
    base_sets = sp.csr_matrix(np.eye(3)[np.full(n, 2)])  # 'gone' everywhere, wrongly
    rows = {row["uri"]: row for row in compare_predictions(
        gold, space, space, top1, sets, base_space, np.full(n, 2), base_sets)["per_label"]}
    new, gone, a = rows["x:new"], rows["x:gone"], rows["x:a"]
    assert (new["in_bundle"], new["in_baseline"], new["f1"], new["support"]) == (
        True, False, 0.0, 8)
    assert new["difference"] == 0.0  # the missing side's F1 counted 0, as documented
    assert new["verdict"] == "new, not in the baseline"
    assert (gone["in_bundle"], gone["verdict"]) == (False, "only in the baseline")
    assert a["verdict"] == "better"  # a label both have: compared as ever


def test_eval_baseline_a_vocab_label_neither_bundle_holds_is_listed_apart(months, tmp_path):
    """A --vocab label of the corpus that neither bundle holds (L9 here) got the JSON
    verdict 'new, not in the baseline', as if the bundle held it, and the text's list of
    new labels failed formatting its F1, None: eval --baseline crashed."""
    corpus = tmp_path / "with-l9.tsv"
    corpus.write_text((months / "test.tsv").read_text()
                      + "w1a w9a w9b noise1\t<urn:x:L1> <urn:x:L9>\n"
                      + "w9c w9a noise2\t<urn:x:L9>\n")
    every = vocab(tmp_path / "every.tsv", [f"urn:x:L{i}" for i in range(10)])
    text = run("eval", months / "B", corpus, "--baseline", months / "A", "--vocab", every)
    assert "labels in neither bundle: L9 (support 2)" in text
    assert "L9" not in next(line for line in text.splitlines()
                            if line.startswith("labels new, not in the baseline"))
    rows = {row["uri"]: row for row in json.loads(run(
        "eval", months / "B", corpus, "--baseline", months / "A", "--vocab", every,
        "--json"))["baseline"]["per_label"]}
    l9 = rows["urn:x:L9"]
    assert (l9["in_bundle"], l9["in_baseline"], l9["f1"], l9["baseline_f1"]) == (
        False, False, None, None)
    assert l9["verdict"] == "in neither bundle"
    assert rows["urn:x:L8"]["verdict"] == "new, not in the baseline"
    assert rows["urn:x:L7"]["verdict"] == "only in the baseline"
