"""Calibration, conformal sets and label shift through TextClassifier, bundles and the CLI."""

import json
import re
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.calibration.reliability import reliability_report
from tagsmith.calibration.thresholds import FROM_LABEL
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import DataError, InvalidParameterError
from tagsmith.models.base import NESTED_TOPK
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.confidence import (
    ConfidenceOptions,
    calibrate_classifier,
    estimate_shift,
    evaluate_confidence,
    heldout_from_corpus,
)
from tagsmith.pipeline.evaluate import evaluate_classifier
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import TrainOptions, duplicate_groups, train_classifier

from conftest import FAST_FEATURES, ROOT

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]


def run(*args, input=None, quiet=True):
    return CliRunner().invoke(tagsmith_cli.cli, [*(["-q"] if quiet else []), *map(str, args)],
                              input=input)


@pytest.fixture(scope="module")
def data(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    return {name: read_labelled(goemotions_small[name], space)
            for name in ("train", "dev", "test")} | {"space": space}


@pytest.fixture(scope="module")
def calibrated(data):
    options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1},
                           dev_fraction=0.0, calibration_fraction=0.3)
    return train_classifier(data["train"].texts, data["train"].Y, data["space"],
                            options=options)


def test_training_sets_aside_and_calibrates(calibrated, data):
    clf = calibrated
    assert clf.is_calibrated and clf.conformal is not None and clf.heldout is not None
    assert len(clf.heldout) == 900 and clf.n_train_docs == 2100
    # the set-aside documents are exactly the ones the model did not train on
    assert clf.manifest["training"]["n_calibration_docs"] == 900
    assert int(clf.label_counts.sum()) == int(np.delete(
        data["train"].Y.toarray(), clf.heldout.rows, axis=0).astype(bool).sum())
    calibration = clf.manifest["calibration"]
    assert calibration["n_calibrator_docs"] + calibration["n_conformal_docs"] == 900
    assert calibration["calibrated"]["ece"] < calibration["raw"]["ece"] / 5
    assert set(clf.conformal.methods()) == {"recall", "mondrian", "lpicp"}
    probs = clf.predict_topk(data["test"].texts, 28)
    assert probs.scores.min() > 0 and probs.scores.max() < 1
    assert (clf.thresholds.source == FROM_LABEL).any()


def test_fitted_confidence_parts_print_one_line_each(calibrated):
    """The dataclass reprs of a calibrated classifier's parts printed every threshold,
    calibration curve and calibration score: pages at a prompt."""
    conformal, calibrator, thresholds = (calibrated.conformal, calibrated.calibrator,
                                         calibrated.thresholds)
    recall = conformal.recall
    assert repr(recall) == (f"RecallControl(n_labels=28, n_groups=1, "
                            f"n_scores={recall.scores.size}, k={recall.k})")
    assert conformal.lpicp is not None and conformal.mondrian is not None
    assert repr(conformal.lpicp) == (f"PowersetICP(n_labels=28, n_groups=1, "
                                     f"n_scores={conformal.lpicp.scores.size})")
    assert repr(conformal) == (f"ConformalModel(methods=['recall', 'mondrian', 'lpicp'], "
                               f"alpha={conformal.alpha:g}, k={recall.k}, "
                               f"n_docs={conformal.n_docs}, "
                               f"max_set_size={conformal.max_set_size})")
    assert repr(calibrator) == (f"Calibrator(method='isotonic', n_labels=28, "
                                f"n_bands={calibrator.bands.n_bands}, "
                                f"n_docs={calibrator.n_docs}, k={calibrator.k})")
    assert repr(thresholds).startswith("Thresholds(n_labels=28, n_tuned_labels=")
    for part in (recall, conformal.mondrian, conformal.lpicp, conformal, calibrator,
                 thresholds):
        assert "array" not in repr(part) and "\n" not in repr(part)


def test_an_uncalibrated_classifier_is_refused_alike_everywhere(cli_bundle, data):
    """predict_sets named the parameter 'classifier', evaluate_confidence and
    estimate_shift 'bundle' (no bundle was passed): one message, naming the classifier
    each caller passed, and what needed the calibration."""
    clf = TextClassifier.load(cli_bundle)
    texts, Y = data["test"].texts[:20], data["test"].Y[:20]
    messages = {}
    for purpose, call in (("conformal sets", lambda: clf.predict_sets(texts)),
                          ("a reliability report", lambda: evaluate_confidence(clf, texts, Y)),
                          ("a label-shift estimate", lambda: estimate_shift(clf, texts))):
        with pytest.raises(InvalidParameterError) as refused:
            call()
        assert refused.value.name == "classifier"
        messages[purpose] = str(refused.value)
        assert f"must be a calibrated classifier for {purpose} (calibrate_classifier, " \
            in messages[purpose]
    assert len({message.replace(purpose, "") for purpose, message in messages.items()}) == 1


def test_bundle_round_trip_keeps_probabilities_and_sets(calibrated, data, tmp_path):
    loaded = TextClassifier.load(calibrated.save(tmp_path / "bundle"))
    texts = data["test"].texts[:200]
    np.testing.assert_array_equal(loaded.predict_topk(texts, 28).scores,
                                  calibrated.predict_topk(texts, 28).scores)
    for method in ("recall", "mondrian", "lpicp"):
        a = loaded.predict_sets(texts, alpha=0.1, method=method)
        b = calibrated.predict_sets(texts, alpha=0.1, method=method)
        np.testing.assert_array_equal(a.size, b.size)
    np.testing.assert_array_equal(loaded.heldout.topk.indices, calibrated.heldout.topk.indices)


def test_a_smaller_k_gives_the_first_labels_of_a_larger_one(calibrated, data):
    # probabilities re-rank the model's candidates: the best label is the most probable
    # one whatever k is, and suggest(k=1) is the first suggestion of suggest(k=10)
    texts = data["test"].texts[:300]
    wide = calibrated.predict_topk(texts, 10)
    for k in (1, 3):
        narrow = calibrated.predict_topk(texts, k)
        np.testing.assert_array_equal(narrow.indices, wide.indices[:, :k])
        np.testing.assert_array_equal(narrow.scores, wide.scores[:, :k])
    # suggest(k=1) is the best label where it passes its threshold: what suggest(k=10)
    # says of that label (its first suggestion is another where the best fails its own
    # per-label threshold and the second passes: 'i mean, yeah tbh.' once the
    # calibration split kept equal texts together)
    best = wide.indices[:, 0].tolist()
    top1 = [[s.label_id for s in row] for row in calibrated.suggest(texts, k=1)]
    top10 = [[s.label_id for s in row if s.label_id == best[i]]
             for i, row in enumerate(calibrated.suggest(texts, k=10))]
    assert top1 == top10
    assert any(top1)
    raw = calibrated.predict_topk(texts, 1, calibrated=False)  # raw scores: the model's top 1
    np.testing.assert_array_equal(
        raw.indices, calibrated.model.predict_topk(calibrated.featurizer.transform(texts),
                                                   1).indices)


def count_calls(monkeypatch, *methods: tuple[object, str]) -> dict:
    """Calls of each (object, method name) of ``methods``, counted by name on the
    object's class (so a loaded copy counts too); the real methods run."""
    calls = dict.fromkeys((name for _, name in methods), 0)
    for part, name in methods:
        real = getattr(type(part), name)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(type(part), name, counted)
    return calls


def count_scoring(monkeypatch, classifier) -> dict:
    """Calls of the classifier's featurizer and model (:func:`count_calls`)."""
    return count_calls(monkeypatch, (classifier.featurizer, "transform"),
                       (classifier.model, "predict_topk"))


@pytest.mark.parametrize("nested", [True, False])
def test_predict_topks_score_once_what_predict_topk_gives_apart(calibrated, data, monkeypatch,
                                                                 nested):
    texts = data["test"].texts[:200]
    # model widths: 28 (the calibration width) for the calibrated ones, 28 and 5 raw
    requests = [(3, True, True), (28, False, False), (5, False, False), (10, True, False)]
    apart = [calibrated.predict_topk(texts, k, calibrated=cal, adjust_shift=shift)
             for k, cal, shift in requests]
    assert NESTED_TOPK in calibrated.model.capabilities  # a linear model's top-k nests
    if not nested:  # one scoring per width: a wider top-k could rank otherwise
        monkeypatch.setattr(type(calibrated.model), "capabilities", frozenset())
    calls = count_scoring(monkeypatch, calibrated)
    together = calibrated.predict_topks(texts, *requests)
    assert calls == {"transform": 1, "predict_topk": 1 if nested else 2}
    for a, b in zip(apart, together, strict=True):
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.scores, b.scores)


def test_predict_topks_calibrate_each_width_once(calibrated, data, monkeypatch):
    """Requests of one width (suggest --sets counting what --k cuts short,
    --replace-deprecated's first round) calibrated the same scores once each, and
    adjusted them for the label shift once each: once a width now, the same results."""
    import copy

    from tagsmith.pipeline.confidence import estimate_shift

    shifted = copy.copy(calibrated)  # the fixture's classifier keeps no label shift
    texts = data["test"].texts[:200]
    shifted.label_shift = estimate_shift(shifted, data["test"].texts[200:600], min_count=0)
    # widths 28 (the calibration width) thrice, 5 once; shifted at 28 twice
    requests = [(3, True, True), (10, True, False), (28, True, True), (5, True, False, 5),
                (5, False, False)]
    apart = [shifted.predict_topks(texts, request)[0] for request in requests]
    calls = count_calls(monkeypatch, (shifted.calibrator, "apply"),
                        (shifted.label_shift, "adjust"))
    together = shifted.predict_topks(texts, *requests)
    assert calls == {"apply": 2, "adjust": 1}
    for a, b in zip(apart, together, strict=True):
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.scores, b.scores)


@pytest.fixture(scope="module")
def calibrated_bundle(calibrated, tmp_path_factory):
    return calibrated.save(tmp_path_factory.mktemp("calibrated") / "model")


@pytest.mark.parametrize("options", [[], ["--reliability-k", "5", "--threshold", "0.3",
                                          "--alpha", "0.1"]])
def test_eval_calibration_scores_the_corpus_once(calibrated, calibrated_bundle,
                                                 goemotions_small, monkeypatch, options):
    # the metrics and the reliability report featurized and scored the corpus apart
    calls = count_scoring(monkeypatch, calibrated)
    result = run("eval", calibrated_bundle, goemotions_small["test"], "--calibration", "--json",
                 *options)
    assert result.exit_code == 0, result.output
    assert calls == {"transform": 1, "predict_topk": 1}
    monkeypatch.undo()
    # the figures of the metrics and of the report computed apart
    clf = TextClassifier.load(calibrated_bundle)
    test = read_labelled(goemotions_small["test"], clf.label_space)
    threshold = 0.3 if options else None
    report = evaluate_confidence(clf, test.texts, test.Y, alphas=(0.1,) if options else
                                 (0.05, 0.1, 0.2), reliability_k=5 if options else None)
    expected = {**evaluate_classifier(clf, test.texts, test.Y, threshold=threshold),
                "calibration": report}
    got = json.loads(result.output)
    assert got.pop("provenance")["bundle"] == str(calibrated_bundle)  # what was measured
    assert got == json.loads(tagsmith_cli.json_text(expected))


def test_calibrated_reliability_reads_the_calibrated_top_k(calibrated, data):
    # the calibrated report read the calibrated probabilities of the *raw* model's top K, so
    # its top-1 ECE changed with --reliability-k (K=1 scored the raw best label, not the
    # calibrated classifier's) and its ECE was not that of the K labels suggest shows
    texts, Y = data["test"].texts, data["test"].Y
    reports = {k: evaluate_confidence(calibrated, texts, Y, alphas=(0.1,), reliability_k=k)
               for k in (1, 3, None)}
    for k in (1, 3):
        shown = reliability_report(Y, calibrated.predict_topk(texts, k, adjust_shift=False))
        assert reports[k]["calibrated"]["ece"] == round(shown.ece, 6)
        assert reports[k]["calibrated"]["top1_ece"] == reports[None]["calibrated"]["top1_ece"]
        # the raw report reads the raw model's own top K
        assert reports[k]["raw"]["top1_ece"] == reports[None]["raw"]["top1_ece"]
    assert reports[1]["calibrated"]["ece"] == reports[1]["calibrated"]["top1_ece"]


@pytest.mark.parametrize("options", [[], ["-k", "3", "--threshold", "0.1", "--set-method",
                                          "lpicp", "--alpha", "0.3"]])
def test_suggest_sets_json_scores_each_batch_once(calibrated, calibrated_bundle, data,
                                                  monkeypatch, options):
    # the ranking and the sets featurized and scored every batch apart
    texts = data["test"].texts[:600]  # two batches of 512 and 88
    calls = count_scoring(monkeypatch, calibrated)
    result = run("suggest", calibrated_bundle, "--sets", *options, input="\n".join(texts) + "\n")
    assert result.exit_code == 0, result.output
    assert calls == {"transform": 2, "predict_topk": 2}
    monkeypatch.undo()
    # the suggestions and the sets made apart
    clf = TextClassifier.load(calibrated_bundle)
    k, threshold, method, alpha = (3, 0.1, "lpicp", 0.3) if options else (10, None, "recall",
                                                                          None)
    suggestions = clf.suggest(texts, k=k, threshold=threshold)
    sets = clf.suggest_sets(texts, alpha=alpha, method=method, max_members=100)
    expected = [{"doc": f"stdin:{i}", "suggestions": [s.to_dict() for s in doc],
                 "set": doc_set.to_dict(100)}
                for i, (doc, doc_set) in enumerate(zip(suggestions, sets, strict=True), 1)]
    assert [json.loads(line) for line in result.output.splitlines()] == \
        json.loads(tagsmith_cli.json_text(expected))


@pytest.mark.parametrize("bad", [-1, 2.5, None])
def test_max_members_is_checked_before_any_text_is_scored(calibrated, data, monkeypatch, bad):
    # max_members was never checked: -1 sliced from the end and dropped each set's least
    # probable member, 2.5 failed in numpy after the whole batch had been scored
    texts = data["test"].texts[:50]
    calls = count_scoring(monkeypatch, calibrated)
    with pytest.raises(InvalidParameterError, match="max_members"):
        calibrated.suggest_sets(texts, alpha=0.1, max_members=bad)
    with pytest.raises(InvalidParameterError, match="max_members"):
        calibrated.suggest_with_sets(texts, alpha=0.1, max_members=bad)
    assert calls == {"transform": 0, "predict_topk": 0}
    monkeypatch.undo()
    # a numpy count is a count, as elsewhere
    plain = calibrated.suggest_sets(texts, alpha=0.1, max_members=3)
    numpy = calibrated.suggest_with_sets(texts, alpha=0.1, max_members=np.int64(3))[1]
    assert [d.to_dict(3) for d in plain] == [d.to_dict(3) for d in numpy]


def test_sets_keep_their_promise_on_test_documents(calibrated, data):
    test = data["test"]
    for alpha in (0.1, 0.3):
        sets = calibrated.predict_sets(test.texts, alpha=alpha)
        recall = np.nanmean(sets.recall(test.Y))
        # 600 test documents, 450 calibration ones: a loose check of the level
        assert recall > 1 - alpha - 0.05
        lpicp = calibrated.predict_sets(test.texts, alpha=alpha, method="lpicp")
        assert lpicp.covers(test.Y).mean() > 1 - alpha - 0.05
    loose, tight = (calibrated.predict_sets(test.texts, alpha=a).size.mean() for a in (0.3, 0.05))
    assert loose < tight
    suggestions = calibrated.suggest_sets(test.texts[:3], alpha=0.2)
    assert all(s.size == len(s.labels) for s in suggestions)
    assert all(np.all(np.diff([x.score for x in s.labels]) <= 0) for s in suggestions)
    with pytest.raises(InvalidParameterError, match="method"):
        calibrated.predict_sets(test.texts[:2], method="magic")
    # a bad method is refused before any text is scored (a bare string would be refused
    # by the scoring itself, naming texts)
    with pytest.raises(InvalidParameterError, match="method"):
        calibrated.predict_sets("not a list", method="magic")


def test_calibrating_a_trained_model_on_a_labelled_corpus(data):
    options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1},
                           dev_fraction=0.0)
    clf = train_classifier(data["train"].texts, data["train"].Y, data["space"], options=options)
    with pytest.raises(InvalidParameterError, match="calibrated"):
        clf.predict_sets(["hello"])
    # the training documents are refused, as the CLI does (Python took them silently)
    with pytest.raises(InvalidParameterError, match="'texts' must be documents the model "
                       "was not trained on"):
        heldout_from_corpus(clf, data["train"].texts[:300], data["train"].Y[:300])
    # k=2.7 was truncated to 2
    for k in (2.7, 0, "5"):
        with pytest.raises(InvalidParameterError, match="'k' must be an integer >= 1"):
            heldout_from_corpus(clf, data["dev"].texts, data["dev"].Y, k=k)
    assert heldout_from_corpus(clf, data["dev"].texts[:20], data["dev"].Y[:20],
                               k=np.int64(3)).topk.k == 3
    # equal texts (a copy in capitals) share a group, as training's duplicate_groups
    # numbers them, so they stay on one side of the calibrator / conformal split
    twinned = [*data["dev"].texts[:20], data["dev"].texts[3].upper()]
    twins = heldout_from_corpus(clf, twinned, data["dev"].Y[list(range(20)) + [3]])
    assert twins.groups is not None and twins.groups[3] == twins.groups[20]
    np.testing.assert_array_equal(twins.groups, duplicate_groups(twinned))
    heldout = heldout_from_corpus(clf, data["dev"].texts, data["dev"].Y)
    report = calibrate_classifier(clf, heldout, options=ConfidenceOptions(method="platt"))
    assert report["n_calibrator_docs"] + report["n_conformal_docs"] == 600
    assert report["calibrated"]["ece"] < report["raw"]["ece"]
    evaluation = evaluate_confidence(clf, data["test"].texts, data["test"].Y, alphas=(0.2,))
    assert evaluation["calibrated"]["ece"] < evaluation["raw"]["ece"]
    assert set(evaluation["sets"]["alpha=0.2"]) == {"recall", "mondrian", "lpicp"}
    with pytest.raises(InvalidParameterError, match="calibrator_source"):
        calibrate_classifier(clf, heldout, options=ConfidenceOptions(calibrator_source="crossfit"))


def test_calibrating_a_trained_model_records_its_new_thresholds_in_the_manifest(data, tmp_path):
    # calibrate replaced the thresholds but the manifest kept those tuned on raw scores
    options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1})
    clf = train_classifier(data["train"].texts, data["train"].Y, data["space"], options=options)
    raw = clf.manifest["thresholds"]
    calibrate_classifier(clf, heldout_from_corpus(clf, data["dev"].texts, data["dev"].Y))
    assert clf.manifest["thresholds"] == clf.thresholds.summary()
    assert clf.manifest["thresholds"]["global"] != raw["global"]
    loaded = TextClassifier.load(clf.save(tmp_path / "bundle"))
    assert loaded.manifest["thresholds"] == loaded.thresholds.summary()


def test_label_shift_estimate_is_stored_and_adjusts(calibrated, data, tmp_path):
    test = data["test"]
    counts = np.asarray(test.Y.sum(axis=0)).ravel()
    # a deployment corpus heavy in one emotion: every test document of it, three times
    label = int(np.argsort(counts)[-2])
    rows = np.flatnonzero(test.Y[:, label].toarray().ravel())
    texts = [test.texts[i] for i in np.r_[np.arange(200), np.repeat(rows, 3)]]
    for method in ("em", "bbse"):
        shift = estimate_shift(calibrated, texts, method=method)
        assert shift.target_prior[label] > 2 * shift.source_prior[label]
        assert shift.total_variation() > 0.05
    before = calibrated.predict_topk(texts[:50], 28)
    calibrated.label_shift = shift
    try:
        loaded = TextClassifier.load(calibrated.save(tmp_path / "shifted"))
        after = loaded.predict_topk(texts[:50], 28)
        raised = after.to_csr()[:, label].toarray() > before.to_csr()[:, label].toarray()
        assert raised.mean() > 0.9
        # sets ignore the shift: their guarantee is for calibration-like documents
        assert np.array_equal(loaded.predict_sets(texts[:50]).size,
                              calibrated.predict_sets(texts[:50]).size)
    finally:
        calibrated.label_shift = None


def test_tree_on_a_large_label_space_calibrates_with_a_tail(tmp_path):
    corpus = ROOT / "tests" / "data" / "yso-sample.tsv.gz"
    result = run("train", corpus, "--output", tmp_path / "tree", "--model", "tree",
                 "-p", "leaf_size=20", "-p", "branching=4", "--dev-fraction", "0",
                 "--calibration-fraction", "0.4", *FAST)
    assert result.exit_code == 0, result.output
    clf = TextClassifier.load(tmp_path / "tree")
    assert clf.conformal.lpicp is None  # 584 labels: LP-ICP is for small spaces
    assert clf.conformal.k == 50 and clf.calibrator.tail.max() > 0
    sets = clf.predict_sets(["Zero waste home : the ultimate guide"], alpha=0.05)
    assert sets.size[0] > 50  # reaching 95% recall takes labels beyond the listed 50
    assert sets.abstain[0]
    # a set cut to max_members lists its most probable members (tail ones were cut by
    # label id, so the list skipped more probable members for less probable ones)
    texts = ["Zero waste home : the ultimate guide", "History of Finnish forests"]
    full = clf.suggest_sets(texts, alpha=0.05, max_members=10_000)
    for cut in (5, 60):
        for whole, part in zip(full, clf.suggest_sets(texts, alpha=0.05, max_members=cut),
                               strict=True):
            assert part.size == whole.size > cut
            assert [(s.label_id, s.score) for s in part.labels] == \
                [(s.label_id, s.score) for s in whole.labels[:cut]]


# -- CLI ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_bundle(goemotions_small, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-confidence") / "model"
    result = run("train", goemotions_small["train"], "--output", out, "--vocab",
                 goemotions_small["vocab"], "--dev-fraction", "0", *FAST)
    assert result.exit_code == 0, result.output
    return out


def test_cli_calibrate_refuses_an_output_inside_its_input_bundle(cli_bundle, goemotions_small):
    before = sorted(p.name for p in cli_bundle.iterdir())
    result = run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "-o",
                 cli_bundle / "sub" / "calibrated")
    assert result.exit_code == 2 and "inside the input bundle" in result.output
    assert "-o/--output" in result.output
    assert sorted(p.name for p in cli_bundle.iterdir()) == before  # nothing written


def test_cli_calibrate_eval_suggest_and_shift(cli_bundle, goemotions_small, tmp_path):
    plain = run("suggest", cli_bundle, "--sets", input="so happy\n")
    assert plain.exit_code == 2 and "calibrate" in plain.output
    # shift said "parameter 'bundle' must be a calibrated model ..., got 'an uncalibrated
    # one'", naming no bundle
    for files, stdin in (([goemotions_small["test"]], None), ([], "so happy\n")):
        plain = run("shift", cli_bundle, *files, input=stdin)
        assert plain.exit_code == 2, plain.output
        assert f"got '{cli_bundle}, which is not calibrated'" in plain.output
        assert "'BUNDLE'" in plain.output and "tagsmith calibrate" in plain.output
    png = tmp_path / "reliability.png"
    result = run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "--method",
                 "platt", "--reliability-png", png, "--alpha", "0.2")
    assert result.exit_code == 0, result.output
    assert "ECE" in result.output and png.read_bytes()[:4] == b"\x89PNG"
    result = run("eval", cli_bundle, goemotions_small["test"], "--calibration", "--json",
                 "--alpha", "0.1", "--alpha", "0.2")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["calibration"]
    assert set(report["sets"]) == {"alpha=0.1", "alpha=0.2"}
    assert report["calibrated"]["ece"] < report["raw"]["ece"]
    # alphas that print alike keep a report each (the second replaced the first)
    result = run("eval", cli_bundle, goemotions_small["test"], "--calibration", "--json",
                 "--alpha", "0.1", "--alpha", "0.1000001")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.output)["calibration"]["sets"]) == {"alpha=0.1",
                                                                      "alpha=0.1000001"}
    table = run("eval", cli_bundle, goemotions_small["test"], "--calibration")
    assert table.exit_code == 0 and "coverage" in table.output and "recall" in table.output
    result = run("suggest", cli_bundle, "--sets", input="Thank you so much!\nugh, again?\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[0]["set"]["alpha"] == 0.2  # the default stored by calibrate
    assert lines[0]["set"]["size"] == len(lines[0]["set"]["labels"])
    tsv = run("suggest", cli_bundle, "--sets", "--alpha", "0.3", "--format", "tsv",
              "--set-method", "lpicp", input="Thank you so much!\n")
    assert tsv.exit_code == 0 and all(len(r.split("\t")) == 6 for r in tsv.output.splitlines())
    unsure = run("suggest", cli_bundle, "--sets", "--min-confidence", "1", "--format", "json",
                 input="Thank you so much!\nugh\n")
    assert all(json.loads(line)["set"]["abstain"] for line in unsure.output.splitlines())
    shifted = run("shift", cli_bundle, goemotions_small["test"], "--json", "--save",
                  "--save-unsupported")  # every estimate here is unsupported
    assert shifted.exit_code == 0, shifted.output
    assert json.loads(shifted.stdout)["total_variation"] >= 0  # stderr: a warning
    assert TextClassifier.load(cli_bundle).label_shift is not None
    assert run("shift", cli_bundle, "--clear").exit_code == 0
    assert TextClassifier.load(cli_bundle).label_shift is None


def test_cli_calibrate_refuses_what_would_mislead(cli_bundle, goemotions_small, tmp_path):
    before = (cli_bundle / "manifest.json").read_text()
    on_train = run("calibrate", cli_bundle, "--data", goemotions_small["train"])
    assert on_train.exit_code == 2 and "trained on" in on_train.output
    bad = tmp_path / "bad.tsv"
    bad.write_text("fine\t<urn:goemotions:joy>\nbroken\t<urn:goemotions:nope>\n")
    broken = run("calibrate", cli_bundle, "--data", bad)
    assert broken.exit_code == 3 and f"{bad}:2" in broken.output
    assert (cli_bundle / "manifest.json").read_text() == before  # nothing replaced
    assert run("suggest", cli_bundle, "--alpha", "0.1", input="x\n").exit_code == 2
    assert run("eval", cli_bundle, goemotions_small["test"], "--alpha", "0.1").exit_code == 2
    assert run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "--alpha",
               "1.5").exit_code == 2


def test_calibrator_from_out_of_fold_scores_keeps_every_heldout_doc_for_sets(data):
    options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1},
                           dev_fraction=0.0, calibration_fraction=0.2, crossfit_folds=2,
                           confidence=ConfidenceOptions(calibrator_source="crossfit"))
    clf = train_classifier(data["train"].texts, data["train"].Y, data["space"], options=options)
    calibration = clf.manifest["calibration"]
    assert calibration["calibrator_source"] == "crossfit"
    assert calibration["n_calibrator_docs"] == 2400 and calibration["n_conformal_docs"] == 600
    assert calibration["calibrated"]["ece"] < calibration["raw"]["ece"] / 3


@pytest.mark.parametrize("fields, parameter", [
    # no calibration split: training calibrated nothing and said nothing
    ({"crossfit_folds": 3}, "calibration_fraction"),
    ({"crossfit_folds": 3, "calibration_fraction": 0.0}, "calibration_fraction"),
    # no out-of-fold scores: refused only after the whole training
    ({"calibration_fraction": 0.2}, "crossfit_folds"),
])
def test_a_crossfit_calibrator_without_its_parts_is_refused_before_training(fields, parameter):
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace

    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES,
                           confidence=ConfidenceOptions(calibrator_source="crossfit"),
                           **fields)
    with pytest.raises(InvalidParameterError) as refused:
        options.validate()
    assert refused.value.name == parameter
    assert "with ConfidenceOptions(calibrator_source='crossfit')" in str(refused.value)
    space = LabelSpace.from_uris(["u:pos", "u:neg"])
    texts = ["good fine great", "bad awful poor"] * 20
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 20))
    with pytest.raises(InvalidParameterError, match=f"parameter '{parameter}'"):
        train_classifier(texts, Y, space, options=options)


@pytest.mark.parametrize("confidence, shown", [
    (ConfidenceOptions(method="platt"), "ConfidenceOptions(method='platt')"),
    (ConfidenceOptions(alpha=0.2, max_set_size=3),
     "ConfidenceOptions(alpha=0.2, max_set_size=3)"),
])
def test_confidence_options_without_a_calibration_split_are_refused(confidence, shown):
    """ConfidenceOptions(method='platt') with calibration_fraction 0 trained an
    uncalibrated model without a word: nothing was calibrated, the options unread."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace

    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES,
                           confidence=confidence)
    with pytest.raises(InvalidParameterError) as refused:
        options.validate()
    assert refused.value.name == "calibration_fraction"
    assert f"above 0 with confidence={shown}:" in str(refused.value)
    assert str(refused.value).endswith("got 0.0")
    space = LabelSpace.from_uris(["u:pos", "u:neg"])
    texts = ["good fine great", "bad awful poor"] * 20
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 20))
    with pytest.raises(InvalidParameterError, match="parameter 'calibration_fraction'"):
        train_classifier(texts, Y, space, options=options)
    # the defaults pass (code that always passes them and sets a split or not), and the
    # options apply once there is a split
    TrainOptions(confidence=ConfidenceOptions()).validate()
    TrainOptions(confidence=confidence, calibration_fraction=0.2).validate()


def test_train_without_a_calibration_split_passes_no_confidence_options(goemotions_small,
                                                                        tmp_path):
    """The command line always passed ConfidenceOptions(calibrator_source='split'), which
    the library now refuses without a split: an uncalibrated train must still run."""
    corpus = tmp_path / "train.tsv"
    corpus.write_text("".join(goemotions_small["train"].read_text().splitlines(True)[:60]))
    result = run("train", corpus, "-o", tmp_path / "model", "--vocab",
                 goemotions_small["vocab"], "--dev-fraction", "0", "--seed", "3", *FAST)
    assert result.exit_code == 0, result.output
    assert not TextClassifier.load(tmp_path / "model").is_calibrated


def test_calibrate_json_with_a_diagram_prints_one_json_object(calibrated_cli_bundle,
                                                              tmp_path):
    png = tmp_path / "reliability.png"
    result = run("calibrate", calibrated_cli_bundle, "-o", tmp_path / "model",
                 "--reliability-png", png, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # the diagram's line is not printed before it
    assert report["reliability_png"] == str(png) and png.read_bytes()[:4] == b"\x89PNG"
    text = run("calibrate", calibrated_cli_bundle, "-o", tmp_path / "model",
               "--reliability-png", png)
    assert text.exit_code == 0 and f"reliability diagram -> {png}" in text.stdout


@pytest.fixture(scope="module")
def calibrated_cli_bundle(goemotions_small, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-calibrated") / "model"
    result = run("train", goemotions_small["dev"], "--output", out, "--vocab",
                 goemotions_small["vocab"], "--dev-fraction", "0", "--calibration-fraction",
                 "0.3", *FAST)
    assert result.exit_code == 0, result.output
    return out


def test_calibrate_names_what_its_reliability_is_measured_over(cli_bundle,
                                                               calibrated_cli_bundle,
                                                               goemotions_small, tmp_path):
    """"held-out reliability over the top 28" had no noun: 28 of what?"""
    stored = run("calibrate", calibrated_cli_bundle, "-o", tmp_path / "all")
    assert stored.exit_code == 0, stored.output
    assert "held-out reliability over all 28 labels of each document: ECE" in stored.output
    narrow = run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "-k", "5",
                 "-o", tmp_path / "top5")
    assert narrow.exit_code == 0, narrow.output
    assert "held-out reliability over each document's top 5 labels: ECE" in narrow.output
    # --calibrator-source same: the calibrator was fitted on the very documents the figures
    # are measured on, and the summary (and the log, "held-out part") said held-out
    same = run("calibrate", calibrated_cli_bundle, "-o", tmp_path / "same",
               "--calibrator-source", "same", quiet=False)
    assert same.exit_code == 0, same.output
    assert ("in-sample reliability (the calibrator's own documents) over all 28 labels of "
            "each document: ECE" in same.output), same.output
    assert "held-out" not in same.output, same.output



def test_eval_calibration_names_what_its_reliability_is_measured_over(
        cli_bundle, calibrated_cli_bundle, goemotions_small, tmp_path):
    """eval --calibration said "reliability over each document's top 28:" (no noun, and
    28 of 28 labels are no top): it now reads as calibrate's summary."""
    test = goemotions_small["test"]
    every = run("eval", calibrated_cli_bundle, test, "--calibration")
    assert every.exit_code == 0, every.output
    assert "\nreliability over all 28 labels of each document:\n" in every.output
    few = run("eval", calibrated_cli_bundle, test, "--calibration", "--reliability-k", "1")
    assert few.exit_code == 0, few.output
    assert "\nreliability over each document's top 1 label:\n" in few.output
    narrow = tmp_path / "top5"
    result = run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "-k", "5",
                 "-o", narrow)
    assert result.exit_code == 0, result.output
    tail = run("eval", narrow, test, "--calibration")
    assert tail.exit_code == 0, tail.output
    assert "\nreliability over each document's top 5 labels:\n" in tail.output
    # a wider --reliability-k was cut to the calibration width without a word: "top 10"
    # asked for, "top 5" measured (the calibrated probabilities stop there)
    wider = run("eval", narrow, test, "--calibration", "--reliability-k", "10")
    assert wider.exit_code == 2, wider.output
    assert ("'--reliability-k' must be at most the calibration width of 5 candidates"
            in wider.output), wider.output
    assert "reliability over" not in wider.output
    assert "  true labels outside each document's top 5 labels: " in tail.output
    # the expected figure says how much of it is the tails' floor, not evidence
    floor = json.loads(run("eval", narrow, test, "--calibration", "--json").stdout)[
        "calibration"]["calibrated"]["tail"]["expected_from_floor_at_least"]
    assert floor > 0 and (f", at least {floor:,.1f} of it the tails' floor (half a "
                          "calibration document per label, by design), not evidence)\n"
                          ) in tail.output
    assert "top 28:" not in every.output + few.output + tail.output


def test_reliability_png_never_overwrites_an_input(calibrated_cli_bundle, goemotions_small,
                                                   tmp_path):
    bundle = calibrated_cli_bundle
    corpus = tmp_path / "test.tsv"
    corpus.write_bytes(goemotions_small["test"].read_bytes())
    vocab = tmp_path / "vocab.tsv"
    vocab.write_bytes(goemotions_small["vocab"].read_bytes())
    a_file = tmp_path / "a_file"
    a_file.write_text("x\n")
    (tmp_path / "folder.png").mkdir()
    before = {p: p.read_bytes() for p in (corpus, vocab, *sorted(bundle.iterdir()))}
    cases = [(corpus, 2), (vocab, 2), (bundle / "model.npz", 2), (bundle / "diagram.png", 2),
             (tmp_path / "folder.png", 3), (a_file / "x.png", 3)]
    for png, code in cases:
        for args in (("eval", bundle, corpus, "--calibration"),
                     ("calibrate", bundle, "--data", corpus)):
            result = run(*args, "--reliability-png", png)
            assert result.exit_code == code, (args, png, result.output)
            assert "--reliability-png" in result.output and str(png) in result.output
            assert "Traceback" not in result.output
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "folder.png", "test.tsv",
                                                          "vocab.tsv"]
    assert not any(p.name.endswith(".tmp") for p in bundle.iterdir())
    good = tmp_path / "plots" / "reliability.png"
    result = run("eval", bundle, corpus, "--calibration", "--reliability-png", good)
    assert result.exit_code == 0, result.output
    assert good.read_bytes()[:4] == b"\x89PNG"


def test_eval_calibration_on_texts_without_labels_is_a_clear_error(calibrated_cli_bundle,
                                                                    goemotions_small, tmp_path):
    """The set recall of documents without labels is undefined: the table crashed on it
    (TypeError formatting None, exit 1) after the whole corpus had been scored."""
    texts = tmp_path / "texts.tsv"
    texts.write_text("".join(line.split("\t")[0] + "\n" for line in
                             goemotions_small["test"].read_text().splitlines()[:50]))
    for extra in ((), ("--json",)):
        result = run("eval", calibrated_cli_bundle, texts, "--calibration", *extra)
        assert result.exit_code == 3, result.output
        assert f"{texts}: no document carries a label" in result.output
        assert "Traceback" not in result.output


def test_recalibrating_says_it_drops_the_stored_label_shift(calibrated_cli_bundle,
                                                           goemotions_small, tmp_path,
                                                           caplog):
    """A new calibration removes a saved shift (it was estimated on the old
    probabilities); the user who had run shift --save was not told."""
    import shutil

    bundle = tmp_path / "model"
    shutil.copytree(calibrated_cli_bundle, bundle)
    docs = tmp_path / "docs.txt"
    docs.write_text(goemotions_small["test"].read_text())
    assert run("shift", bundle, docs, "--min-count", "5", "--save",
               "--save-unsupported").exit_code == 0
    assert (bundle / "label_shift.json").exists()
    result = run("calibrate", bundle, "--json", quiet=False)
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # stdout stays one JSON object
    # logged, as every warning (pytest's handler on the root has it, not stderr)
    assert f"the label shift stored in {bundle} was estimated for the old probabilities" \
        in caplog.text and "shift --save again" in caplog.text
    assert not (bundle / "label_shift.json").exists()
    # -q is errors only: the warning was printed all the same
    assert run("shift", bundle, docs, "--min-count", "5", "--save",
               "--save-unsupported").exit_code == 0
    caplog.clear()
    result = run("calibrate", bundle, "--json")
    assert result.exit_code == 0 and not result.stderr, result.output
    # logged since the warning is: not result.stderr held whatever -q did (pytest's
    # handler on the root has the log lines), -q leaves them out of every root handler
    assert "label shift stored" not in caplog.text, caplog.text
    assert not (bundle / "label_shift.json").exists()
    result = run("calibrate", bundle)  # no shift left: nothing to say
    assert result.exit_code == 0 and "label shift" not in result.stderr


def test_shift_says_when_labels_lack_evidence_and_saves_nothing(
        calibrated_cli_bundle, goemotions_small, tmp_path, caplog):
    """shift --save where no label could be estimated was refused, exit code 2: a
    monthly `shift --save` under `set -e` stopped there. It saves nothing, says so and
    exits 0."""
    few = tmp_path / "few.txt"
    few.write_text("".join(goemotions_small["test"].read_text().splitlines(True)[:74]))
    before = (calibrated_cli_bundle / "manifest.json").read_text()
    saved = run("shift", calibrated_cli_bundle, few, "--save", quiet=False)
    assert saved.exit_code == 0, saved.output
    assert "28 of 28 labels" in saved.output and "--min-count 50" in caplog.text
    # said as a sentence: what is wrong and what to do ("got 'none estimated'" did neither)
    assert f"--save saved nothing, so {calibrated_cli_bundle} is left as it was: the shift " \
        "of no label could be estimated" in caplog.text
    assert "more documents or a lower --min-count would estimate some" in caplog.text
    # the warning of nothing saved says the remedy itself: it pointed to "the warning
    # above", which -q hides with it
    assert "the warning above" not in caplog.text
    assert ("the shift of no label could be estimated for lack of evidence (more documents "
            "or a lower --min-count would estimate some)") in caplog.text
    assert saved.stdout.splitlines()[-1] == (
        f"nothing saved: {calibrated_cli_bundle} is left as it was (no label was estimated: "
        "more documents or a lower --min-count would estimate some)")
    # under -q the stdout line is all there is: it says what to do, as the refusal did
    quiet = run("shift", calibrated_cli_bundle, few, "--save")
    assert quiet.exit_code == 0 and not quiet.stderr, quiet.output
    assert quiet.stdout.splitlines()[-1].endswith(
        "(no label was estimated: more documents or a lower --min-count would estimate some)")
    assert (calibrated_cli_bundle / "manifest.json").read_text() == before
    assert TextClassifier.load(calibrated_cli_bundle).label_shift is None
    report = json.loads(run("shift", calibrated_cli_bundle, few, "--save", "--json").stdout)
    assert (report["saved"], report["not_saved"], report["saved_labels"]) \
        == (None, "none_estimated", 0)
    assert report["not_saved_remedy"] \
        == "more documents or a lower --min-count would estimate some"
    assert (calibrated_cli_bundle / "manifest.json").read_text() == before
    caplog.clear()
    shown = run("shift", calibrated_cli_bundle, few, quiet=False)
    assert shown.exit_code == 0, shown.output
    assert "28 of 28 labels left at their calibration share" in shown.output
    # none estimated: not "most labels ...; the shift covers only 0 labels", which read
    # as a measured shift of 0
    # logged, as every warning (pytest's handler on the root has it, not stderr)
    assert "no label was estimated for lack of evidence" in caplog.text
    assert "not a measured shift" in caplog.text
    assert "most labels" not in caplog.text and "0 labels" not in shown.output + caplog.text
    # -q is errors only: the warning was printed all the same
    caplog.clear()
    quiet = run("shift", calibrated_cli_bundle, few)
    assert quiet.exit_code == 0 and "28 of 28 labels" in quiet.stdout, quiet.output
    # logged: "warning" not in stderr held whatever -q did (the record goes to pytest's
    # handler on the root, and reads "WARNING"); -q leaves it out of every root handler
    assert "warning" not in quiet.stderr and "no label was estimated" not in caplog.text
    report = json.loads(run("shift", calibrated_cli_bundle, few, "--json", "--min-count",
                            "0").stdout)
    assert (report["n_labels_estimated"], report["min_count"]) == (28, 0.0)
    for bad in ("nan", "inf", "-1"):
        result = run("shift", calibrated_cli_bundle, few, "--min-count", bad)
        assert result.exit_code == 2 and "--min-count" in result.output


def test_shift_messages_count_one_label_and_one_document_in_the_singular(
        calibrated_cli_bundle, goemotions_small, tmp_path, caplog):
    """The shift said 'covers only 1 labels' and 'em: 1 documents'."""
    lines = goemotions_small["test"].read_text().splitlines(True)
    one = tmp_path / "one.txt"
    one.write_text(lines[0])
    shown = run("shift", calibrated_cli_bundle, one, quiet=False)
    assert shown.exit_code == 0, shown.output
    assert "em: 1 document, estimated shift" in shown.output
    # logged, as every warning (pytest's handler on the root has it, not stderr)
    assert "no label was estimated" in caplog.text
    assert "0 labels" not in shown.output + caplog.text
    few = tmp_path / "few.txt"
    few.write_text("".join(lines[:200]))
    report = json.loads(run("shift", calibrated_cli_bundle, few, "--json",
                            "--min-count", "20").stdout)
    assert report["n_labels_estimated"] == 1  # the case the message gets wrong
    shown = run("shift", calibrated_cli_bundle, few, "--min-count", "20", quiet=False)
    assert shown.exit_code == 0, shown.output
    assert "the shift covers only 1 label (more documents" in caplog.text
    assert "1 labels" not in shown.output + caplog.text
    assert "these 200 documents" in caplog.text
    # '1 of the 1 label estimated moved ..., 1 of them on fewer than ...'
    assert "the only label estimated moved within 2 standard errors" in caplog.text
    assert "1 of the 1" not in caplog.text and "1 of them" not in caplog.text


def test_shift_groups_thousands_as_the_other_summaries(calibrated_cli_bundle, goemotions_small,
                                                       tmp_path):
    """'em: 1200 documents' and 'in these 1200 documents', where train and calibrate
    write '1,200'."""
    lines = goemotions_small["test"].read_text().splitlines(True)
    many = tmp_path / "many.txt"
    many.write_text("".join(lines * 2))  # 1,200 documents
    shown = run("shift", calibrated_cli_bundle, many, "--top", "0", quiet=False)
    assert shown.exit_code == 0, shown.output
    assert "em: 1,200 documents, estimated shift" in shown.output
    assert "in these 1,200 documents" in shown.output and "1200" not in shown.output


def test_the_overlap_warning_groups_thousands(caplog):
    """'1500 documents are also training documents' wrote its counts ungrouped, where
    every summary writes 1,500 (the conformal-fraction refusal and warning too: see
    test_a_conformal_fraction_leaving_a_part_a_handful_is_refused_and_a_lopsided_one_warns)."""
    import logging

    from tagsmith.pipeline.train import check_overlap, text_hashes

    texts = [f"document number {i}" for i in range(1500)]
    with caplog.at_level(logging.WARNING):
        assert check_overlap(text_hashes(texts[:200]), texts, name="dev", source="demo") == 200
    assert "demo: 200 of its 1,500 documents are also training documents (dev)" in caplog.text


def test_crossfit_calibration_without_out_of_fold_scores_says_where_they_come_from():
    """The refusal read "parameter 'calibrator_source' must be 'crossfit' only with
    out-of-fold scores and their labels, got 'none available'": 'crossfit' was what
    was given, and nothing said how to get the scores it needs."""
    import scipy.sparse as sp

    from tagsmith.pipeline.confidence import ConfidenceOptions, fit_confidence
    from tagsmith.pipeline.crossfit import HeldoutScores
    from tagsmith.topk import TopK

    rng = np.random.default_rng(0)
    scores = rng.random((100, 3))
    heldout = HeldoutScores(TopK.from_scores(scores, 3), sp.csr_matrix(scores > 0.5),
                            np.arange(100), "demo")
    with pytest.raises(InvalidParameterError) as refused:
        fit_confidence(heldout, options=ConfidenceOptions(calibrator_source="crossfit"))
    message = str(refused.value)
    assert "must be 'split' or 'same' here: 'crossfit' needs the out-of-fold" in message
    assert "TrainOptions(crossfit_folds=5, calibration_fraction=0.1, confidence=" in message
    assert message.endswith("got 'crossfit without them'")


def test_a_classifier_refuses_parts_of_another_size(calibrated, tmp_path):
    import scipy.sparse as sp

    from tagsmith.calibration.scaling import fit_calibrator
    from tagsmith.calibration.thresholds import Thresholds
    from tagsmith.pipeline.crossfit import HeldoutScores
    from tagsmith.topk import TopK

    clf = calibrated
    base = (clf.label_space, clf.featurizer, clf.model)
    rng = np.random.default_rng(0)
    small = TopK.from_scores(rng.random((200, 3)), 3)
    small_Y = sp.csr_matrix(rng.random((200, 3)) < 0.3)
    # each was accepted and saved a bundle that load refuses
    wrong = {"label_counts": {"label_counts": np.ones(3)},
             "thresholds.per_label": {"thresholds": Thresholds.constant(3)},
             "calibrator": {"calibrator": fit_calibrator(small_Y, small)},
             "heldout": {"heldout": HeldoutScores(small, small_Y, np.arange(200), "toy")}}
    for name, parts in wrong.items():
        with pytest.raises(InvalidParameterError, match=f"'{name}' must be"):
            TextClassifier(*base, **parts)
    whole = TextClassifier(*base, clf.thresholds, label_counts=clf.label_counts,
                           calibrator=clf.calibrator, conformal=clf.conformal,
                           heldout=clf.heldout)
    assert TextClassifier.load(whole.save(tmp_path / "whole")).is_calibrated


def test_set_options_are_checked(calibrated):
    from tagsmith.conformal.risk import check_alpha

    probs = calibrated.predict_topk(["hello there"], calibrated.conformal.k,
                                    adjust_shift=False)
    # NaN or above 1 flagged every set, a max_set_size of 0 every set but the empty
    # one, and a string alpha was converted
    for kwargs in ({"min_confidence": float("nan")}, {"min_confidence": 1.5},
                   {"min_confidence": -0.1}, {"min_confidence": "0.5"}, {"max_set_size": 0},
                   {"max_set_size": 2.5}, {"alpha": "0.1"}, {"alpha": True},
                   {"alpha": float("nan")}):
        name = next(iter(kwargs))
        for method in ("recall", "lpicp"):
            with pytest.raises(InvalidParameterError, match=f"'{name}' must be"):
                calibrated.predict_sets(["hello there"], method=method, **kwargs)
            with pytest.raises(InvalidParameterError, match=f"'{name}' must be"):
                calibrated.conformal.predict(probs, method=method, **kwargs)
    with pytest.raises(InvalidParameterError, match="'alpha'"):
        check_alpha("0.1")
    with pytest.raises(InvalidParameterError, match="'alpha'"):
        ConfidenceOptions(alpha="0.1").validate()
    sets = calibrated.predict_sets(["hello there"], alpha=np.float64(0.2),
                                   max_set_size=np.int64(3), min_confidence=1)
    assert bool(sets.abstain[0])


def test_confidence_options_check_seed_support_and_cap_before_any_work(tmp_path):
    # a negative seed failed inside numpy (bare ValueError, exit 1) after the calibrator
    # search began; min_support and max_labels were not checked at all
    for kwargs in ({"seed": -1}, {"seed": 1.5}, {"seed": "1"}, {"min_support": -1},
                   {"min_support": 2.5}, {"max_labels": 0}):
        name = next(iter(kwargs))
        with pytest.raises(InvalidParameterError, match=f"'{name}' must be"):
            ConfidenceOptions(**kwargs).validate()
    ConfidenceOptions(seed=3, min_support=0, max_labels=np.int64(2)).validate()
    result = run("calibrate", tmp_path / "no-bundle", "--seed", "-1")
    assert result.exit_code == 2 and "seed" in result.output


def test_lpicp_is_a_flag_and_refused_by_name_for_a_partial_top_k(cli_bundle,
                                                                goemotions_small, tmp_path):
    """lpicp="no" or 1.5 fitted LP-ICP by their truth value (and a numpy bool stayed one
    in the report); calibrate --lpicp -k 5 of 28 labels was refused, after the
    calibrator's fit, as a parameter 'topk' nobody passed."""
    for bad in ("no", 1.5, 0):
        with pytest.raises(InvalidParameterError, match="'lpicp' must be true or false"):
            ConfidenceOptions(lpicp=bad).validate()
    options = ConfidenceOptions(lpicp=np.bool_(False))
    options.validate()
    assert options.lpicp is False
    result = run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "-k", "5",
                 "--lpicp", "-o", tmp_path / "model")
    assert result.exit_code == 2
    assert "option '--lpicp' must be off" in result.output and "top 5 of 28" in result.output
    assert not (tmp_path / "model").exists()
    # without --lpicp, the same top 5 calibrates with the recall controls alone
    result = run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "-k", "5",
                 "-o", tmp_path / "model")
    assert result.exit_code == 0, result.output
    assert TextClassifier.load(tmp_path / "model").conformal.methods() == ["recall",
                                                                          "mondrian"]


def test_evaluate_confidence_and_estimate_shift_check_their_options_before_scoring():
    # reliability_k=0 was blamed on 'k', 2.5 silently became 2; estimate_shift truncated
    # k=2.5 too and scored every text before refusing an unknown method
    from types import SimpleNamespace

    def never(*args, **kwargs):
        raise AssertionError("texts were scored before the options were checked")

    classifier = SimpleNamespace(calibrator=SimpleNamespace(k=5), conformal=None,
                                 heldout=None, predict_topk=never)
    for value in (0, 2.5, "3"):
        with pytest.raises(InvalidParameterError, match="'reliability_k' must be"):
            evaluate_confidence(classifier, ["a"], np.zeros((1, 3)), reliability_k=value)
        with pytest.raises(InvalidParameterError, match="'k' must be"):
            estimate_shift(classifier, ["a"], k=value)
    with pytest.raises(InvalidParameterError, match="'method' must be"):
        estimate_shift(classifier, ["a"], method="ml")


def test_conformal_predict_refuses_another_width_than_calibrated(calibrated):
    conformal = calibrated.conformal
    probs = calibrated.predict_topk(["hello there", "so happy"], conformal.k,
                                    adjust_shift=False)
    assert probs.k == conformal.k  # what TextClassifier passes: accepted
    for method in conformal.methods():
        assert len(conformal.predict(probs, method=method)) == 2
        with pytest.raises(InvalidParameterError,
                           match=rf"'probabilities' must be exactly the calibration width "
                           rf"of {conformal.k} candidates.*got 'a top-{conformal.k - 1}'"):
            conformal.predict(probs.head(conformal.k - 1), method=method)
    assert len(calibrated.predict_sets(["hello there"])) == 1


def test_tsv_sets_keep_a_row_for_an_empty_set(calibrated_cli_bundle, goemotions_small):
    """A TSV row per set member left a document with an empty set (a large alpha, or an
    LP-ICP abstention: no label set typical enough) with no row at all: it vanished from
    the output, and its abstain flag with it, while JSON listed it."""
    texts = "".join(line.split("\t")[0] + "\n" for line in
                    goemotions_small["test"].read_text().splitlines()[:40])
    for method, alpha in (("lpicp", "0.95"), ("recall", "0.99")):
        args = ("suggest", calibrated_cli_bundle, "--sets", "--set-method", method,
                "--alpha", alpha)
        sets = {line["doc"]: line["set"] for line in
                map(json.loads, run(*args, input=texts).stdout.splitlines())}
        empty = {doc: entry for doc, entry in sets.items() if entry["size"] == 0}
        assert empty, method  # the case under test
        result = run(*args, "--format", "tsv", input=texts)
        assert result.exit_code == 0, result.output
        rows = [row.split("\t") for row in result.stdout.splitlines()]
        assert {row[0] for row in rows} == set(sets)  # every document has its rows
        for doc, entry in empty.items():
            flag = "abstain" if entry["abstain"] else "ok"
            assert [row[1:] for row in rows if row[0] == doc] == [
                ["", "(empty set)", "", "0", flag]]


def test_a_set_method_the_bundle_lacks_is_refused_naming_the_option(calibrated_cli_bundle,
                                                                     tmp_path):
    """suggest --set-method lpicp on a bundle calibrated without LP-ICP was refused as
    ``parameter 'method'``, a name the user never typed."""
    bundle = tmp_path / "model"
    assert run("calibrate", calibrated_cli_bundle, "-o", bundle, "--no-lpicp").exit_code == 0
    result = run("suggest", bundle, "--sets", "--set-method", "lpicp", input="Thanks!\n")
    assert result.exit_code == 2, result.output
    assert "option '--set-method' must be 'recall' or 'mondrian'" in result.output
    assert "got 'lpicp'" in result.output and "'method'" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize("fraction", ["0.02", "0.97"])
def test_a_conformal_fraction_leaving_a_part_empty_is_refused_naming_it(
        calibrated_cli_bundle, goemotions_small, tmp_path, fraction):
    """On few held-out documents, a --conformal-fraction that rounds one part to nothing
    was refused as ``parameter 'heldout' must be enough held-out documents ...``: no
    option of that name, and not the one to change."""
    few = tmp_path / "few.tsv"
    few.write_text("".join(goemotions_small["test"].read_text().splitlines(True)[:12]))
    out = tmp_path / "model"
    result = run("calibrate", calibrated_cli_bundle, "--data", few, "-o", out,
                 "--conformal-fraction", fraction)
    assert result.exit_code == 2, result.output
    assert "option '--conformal-fraction' must be a share of the 12 held-out documents" \
        in result.output and f"got {fraction}" in result.output
    assert "'heldout'" not in result.output and not out.exists()


def test_shift_clear_honours_json_and_says_when_there_was_nothing(calibrated_cli_bundle,
                                                                  goemotions_small, tmp_path):
    """shift --clear --json printed a line of text (a script reading JSON failed on it),
    said 'label shift removed' from a bundle that held none (and rewrote it), and let a
    --lang it never used pass."""
    import shutil

    bundle = tmp_path / "model"
    shutil.copytree(calibrated_cli_bundle, bundle)
    before = (bundle / "manifest.json").read_bytes()
    nothing = run("shift", bundle, "--clear", "--json")
    assert nothing.exit_code == 0, nothing.output
    assert json.loads(nothing.stdout) == {"bundle": str(bundle), "label_shift_removed": False}
    assert (bundle / "manifest.json").read_bytes() == before
    assert "no label shift stored" in run("shift", bundle, "--clear").stdout
    docs = tmp_path / "docs.txt"
    docs.write_text(goemotions_small["test"].read_text())
    assert run("shift", bundle, docs, "--min-count", "5", "--save",
               "--save-unsupported").exit_code == 0
    removed = run("shift", bundle, "--clear", "--json")
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout) == {"bundle": str(bundle), "label_shift_removed": True}
    assert TextClassifier.load(bundle).label_shift is None
    lang = run("shift", bundle, "--clear", "--lang", "fr")
    assert lang.exit_code == 2 and "--lang only applies with an estimate" in lang.output


def test_shift_of_one_document_does_not_advise_a_lower_min_count(calibrated_cli_bundle,
                                                                  goemotions_small, tmp_path,
                                                                  caplog):
    """One document gives every label one probability in every document, so no
    --min-count can let a label be estimated; the refusal of --save (and the warning)
    still advised a lower --min-count, to a user who had typed --min-count 0."""
    one = tmp_path / "one.txt"
    one.write_text(goemotions_small["test"].read_text().splitlines(True)[0])
    for extra in ((), ("--min-count", "0")):
        caplog.clear()
        saved = run("shift", calibrated_cli_bundle, one, "--save", *extra, quiet=False)
        assert saved.exit_code == 0, saved.output  # saves nothing, as said
        assert "28 with the same probability in every document" in saved.output
        assert "nothing saved" in saved.stdout and "--save saved nothing" in caplog.text
        assert "(more documents would estimate some)" in caplog.text
        assert "--min-count" not in saved.output + caplog.text
        caplog.clear()
        shown = run("shift", calibrated_cli_bundle, one, *extra, quiet=False)
        assert shown.exit_code == 0, shown.output
        # logged, as every warning (pytest's handler on the root has it, not stderr)
        assert "(more documents would estimate some)" in caplog.text
        assert "lower --min-count" not in shown.output + caplog.text


def test_shift_of_identical_documents_does_not_advise_more_of_them(calibrated_cli_bundle,
                                                                   goemotions_small, tmp_path,
                                                                   caplog):
    """30 copies of one text give every label one probability in every document, as one
    document does: the refusal of --save said "Give more documents", which more copies
    never satisfy. It says the documents score alike and to give ones that differ."""
    same = tmp_path / "same.txt"
    same.write_text(goemotions_small["test"].read_text().splitlines(True)[0] * 30)
    saved = run("shift", calibrated_cli_bundle, same, "--save", "--min-count", "0",
                quiet=False)
    assert saved.exit_code == 0, saved.output  # saves nothing, as said
    assert "nothing saved" in saved.stdout and "--save saved nothing" in caplog.text
    assert "more documents" not in caplog.text
    assert "(documents that differ would estimate some)" in caplog.text
    caplog.clear()
    shown = run("shift", calibrated_cli_bundle, same, "--min-count", "0", quiet=False)
    assert shown.exit_code == 0, shown.output
    assert "(documents that differ would estimate some)" in caplog.text


def test_a_conformal_fraction_leaving_a_part_a_handful_is_refused_and_a_lopsided_one_warns(
        caplog):
    """--conformal-fraction 0.999 of 1,000 held-out documents fitted the calibrator on
    one document without a word (only a part of none was refused)."""
    import logging

    import scipy.sparse as sp

    from tagsmith.pipeline.confidence import ConfidenceOptions, fit_confidence
    from tagsmith.pipeline.crossfit import HeldoutScores
    from tagsmith.topk import TopK

    rng = np.random.default_rng(0)
    scores = rng.random((1000, 3))
    heldout = HeldoutScores(TopK.from_scores(scores, 3),
                            sp.csr_matrix(rng.random((1000, 3)) < scores ** 2),
                            np.arange(1000), "demo")
    for fraction, parts in ((0.999, "1 would go to the calibrator, 999 to the conformal sets"),
                            (0.996, "4 would go to the calibrator, 996 to"),
                            (0.004, "996 would go to the calibrator, 4 to")):
        with pytest.raises(InvalidParameterError, match="'conformal_fraction' must be a share "
                           "of the 1,000 held-out documents that leaves at least 5 to the "
                           rf"calibrator and 5 to the conformal sets \({parts}"):
            fit_confidence(heldout, options=ConfidenceOptions(conformal_fraction=fraction))
    caplog.set_level(logging.WARNING, logger="tagsmith")
    fit_confidence(heldout, options=ConfidenceOptions(conformal_fraction=0.97))
    assert "conformal_fraction 0.97 splits the 1,000 held-out documents unevenly (30 " \
        "would go to the calibrator, 970 to the conformal sets)" in caplog.text
    caplog.clear()
    fit_confidence(heldout, options=ConfidenceOptions(conformal_fraction=0.9))  # 100 and 900
    assert "unevenly" not in caplog.text


def test_the_readme_confidence_functions_have_type_hints_on_every_parameter():
    """README's Python API calls them; ``classifier`` and ``texts`` had no hints, so
    mypy took anything for them (and estimate_shift said nothing of what it returns)."""
    import inspect

    from tagsmith.pipeline import confidence

    for name in ("calibrate_classifier", "heldout_from_corpus", "evaluate_confidence",
                 "estimate_shift"):
        signature = inspect.signature(getattr(confidence, name))
        assert signature.return_annotation is not inspect.Signature.empty, name
        for parameter in ("classifier", "texts"):
            if parameter in signature.parameters:
                assert signature.parameters[parameter].annotation is not \
                    inspect.Parameter.empty, (name, parameter)


def test_predict_sets_is_typed_by_its_method_for_a_user_s_type_checker():
    """``clf.predict_sets(texts, alpha=0.1, method="recall").recall(Y)``, as README
    writes it, was an error under mypy (``"PowersetSets" has no attribute "recall"``):
    the return type was ``LabelSets | PowersetSets`` whatever the method."""
    import inspect
    import typing

    from tagsmith.pipeline.classifier import TextClassifier

    returns = {}
    for overload in typing.get_overloads(TextClassifier.predict_sets):
        signature = inspect.signature(overload)
        returns[signature.parameters["method"].annotation] = signature.return_annotation
    assert returns == {"Literal['recall', 'mondrian']": "LabelSets",
                       "Literal['lpicp']": "PowersetSets",
                       "str": "LabelSets | PowersetSets"}


def test_the_texts_of_the_public_methods_are_typed_as_any_iterable_of_str():
    """README says texts are any sequence or iterable of str, a NumPy array of str too,
    and at run time they are; but ``suggest``, ``predict_sets``, ``explain``,
    ``suggest_sets``, ``suggest_with_sets``, ``evaluate_classifier``, ``train_classifier``
    and ``audit_corpus`` were typed ``Sequence[str]``, so mypy in a user's project
    refused ``clf.suggest(np.array(...))`` (an ndarray is no Sequence) where
    ``predict_topk`` took it."""
    import inspect

    from tagsmith.pipeline.audit import audit_corpus
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import evaluate_classifier
    from tagsmith.pipeline.train import train_classifier

    functions = [getattr(TextClassifier, name) for name in (
        "predict_topk", "suggest", "predict_sets", "explain", "suggest_sets",
        "suggest_with_sets")] + [evaluate_classifier, train_classifier, audit_corpus]
    for function in functions:
        annotation = inspect.signature(function).parameters["texts"].annotation
        assert annotation.startswith("Iterable[str]"), (function.__name__, annotation)


def test_the_calibration_log_line_groups_thousands_as_the_summaries(caplog):
    # the INFO line said 'calibrated (isotonic) on 2171 documents' under a summary that
    # says '2,171 set-aside documents'
    import logging

    import scipy.sparse as sp

    from tagsmith.pipeline.confidence import ConfidenceOptions, fit_confidence
    from tagsmith.pipeline.crossfit import HeldoutScores
    from tagsmith.topk import TopK

    rng = np.random.default_rng(0)
    scores = rng.random((4000, 3))
    heldout = HeldoutScores(TopK.from_scores(scores, 3),
                            sp.csr_matrix(rng.random((4000, 3)) < scores ** 2),
                            np.arange(4000), "demo")
    caplog.set_level(logging.DEBUG, logger="tagsmith")  # the CLI's summaries say it
    fit_confidence(heldout, options=ConfidenceOptions())
    assert "calibrated (isotonic) on 2,000 documents, conformal sets on 2,000 documents" \
        in caplog.text, caplog.text


def test_shift_on_a_folder_reads_the_documents_the_corpus_reader_reads(
        calibrated_cli_bundle, tmp_path, monkeypatch):
    """shift reads a folder's documents as suggest does (ids are not used by shift, so
    two folders whose files share a stem are read, not refused): the corpus reader's
    selection, texts and order, the documents an eval or audit of the folder reads."""
    import tagsmith.pipeline.confidence as confidence
    from tagsmith.data.readers import read_records

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in (("b.txt", "so angry\n"), ("a.txt", " thanks a lot "),
                       ("a.tsv", "<urn:goemotions:joy>\tjoy\n"), ("c.TXT", "not read"),
                       (".h.txt", "not read")):
        (docs / name).write_text(text)
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("so sad")
    seen: list[list[str]] = []
    real = confidence.estimate_shift

    def spy(classifier, texts, **kwargs):
        seen.append(list(texts))
        return real(classifier, texts, **kwargs)

    monkeypatch.setattr(confidence, "estimate_shift", spy)
    result = run("shift", calibrated_cli_bundle, docs, other, "--json")
    assert result.exit_code == 0, result.output
    expected = [r.text for r in read_records(docs)] + [r.text for r in read_records(other)]
    assert seen == [expected] and expected == ["thanks a lot", "so angry", "so sad"]
    assert json.loads(result.stdout)["n_docs"] == 3


def test_cli_suggest_sets_with_a_threshold_cuts_the_ranking_and_leaves_the_sets(
        calibrated_cli_bundle):
    """README: with --sets, --format json has the ranked suggestions, and --threshold keeps
    those whose printed score is at least it; the conformal set is the same either way."""
    stdin = "Thank you so much!\nugh, again?\nI love this, so happy\n"
    base = ["suggest", calibrated_cli_bundle, "--sets", "-k", "5", "--format", "json"]
    tuned = run(*base, input=stdin)  # the tuned thresholds: the sets are the same
    everything = run(*base, "--threshold", "0", input=stdin)
    assert tuned.exit_code == everything.exit_code == 0, tuned.output + everything.output
    before = [json.loads(line) for line in everything.output.splitlines()]
    assert [json.loads(line)["set"] for line in tuned.output.splitlines()] == \
        [line["set"] for line in before]
    assert all(len(line["suggestions"]) == 5 for line in before)
    cut = before[0]["suggestions"][2]["score"]  # a printed score: the boundary is kept
    assert before[0]["suggestions"][1]["score"] > cut
    result = run(*base, "--threshold", str(cut), input=stdin)
    assert result.exit_code == 0, result.output
    after = [json.loads(line) for line in result.output.splitlines()]
    assert [line["set"] for line in after] == [line["set"] for line in before]
    assert [line["suggestions"] for line in after] == \
        [[s for s in line["suggestions"] if s["score"] >= cut] for line in before]
    assert len(after[0]["suggestions"]) >= 3 and all(
        s["score"] >= cut for line in after for s in line["suggestions"])
    # nothing scores above 1: no suggestion left, every set still there
    result = run(*base, "--threshold", "1", input=stdin)
    assert result.exit_code == 0, result.output
    after = [json.loads(line) for line in result.output.splitlines()]
    assert all(line["suggestions"] == [] for line in after)
    assert [line["set"] for line in after] == [line["set"] for line in before]


@pytest.mark.parametrize("bad", ["conformal_fraction", "100% of %g", "%s %g", None])
def test_the_words_naming_the_conformal_share_are_checked_before_training(bad):
    """The warnings about the calibrator / conformal split format ``_conformal_share``
    with the share's value: one ``%g`` and no other ``%``, or the warning could not be
    logged. Refused naming the keyword, before any feature is built. The keyword is
    private (train's CLI names its share with it): a warning's wording is no parameter of
    the public functions, whose signatures do not show it."""
    import inspect

    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.confidence import calibrate_classifier, fit_confidence

    texts = ["good fine great", "bad awful poor"] * 10
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 10))
    with pytest.raises(InvalidParameterError, match="parameter '_conformal_share' must be "
                       r"words naming the share, with one %g where its value goes"):
        train_classifier(texts, Y, LabelSpace.from_uris(["u:pos", "u:neg"]),
                         _conformal_share=bad)
    for function in (train_classifier, calibrate_classifier, fit_confidence):
        assert "conformal_share" not in inspect.signature(function).parameters


def test_shift_of_an_unshifted_sample_says_its_changes_are_unsupported(
        calibrated_cli_bundle, goemotions_small, caplog):
    """Test documents from the calibration's own distribution at --min-count 5: labels
    with a handful of calibration positives moved several times their share and the
    total variation read as a large shift, with nothing to tell it from a real one."""
    docs = goemotions_small["test"]
    report = json.loads(run("shift", calibrated_cli_bundle, docs, "--min-count", "5",
                            "--json").stdout)
    assert report["total_variation"] > 0.1  # the misleading figure...
    unsupported = [row for row in report["largest_changes"] if not row["supported"]]
    assert unsupported and report["n_labels_unsupported"] >= len(unsupported)
    # ...is mostly changes the evidence does not support
    assert report["total_variation_supported"] < report["total_variation"] / 2
    for row in unsupported:
        assert row["standard_error"] > 0 and "calibration_positives" in row
    shown = run("shift", calibrated_cli_bundle, docs, "--min-count", "5", quiet=False)
    assert shown.exit_code == 0, shown.output
    # logged, as every warning (pytest's handler on the root has it, not stderr)
    n, of = report["n_labels_unsupported"], report["n_labels_estimated"]
    which = f"all {of}" if n == of else f"{n} of the {of}"  # not '25 of the 25'
    assert f"{which} labels estimated moved within 2 standard errors" in caplog.text
    # every estimated label unsupported here: "without them the shift is 0.0000" was a
    # figure over no label, as the first line's was
    assert n == of and report["total_variation_supported"] == 0, report
    assert "without them no estimated label is left to give a shift" in caplog.text
    assert "without them the shift is" not in caplog.text
    assert f"  {unsupported[0]['label']}  unsupported (+-" in shown.stdout


def test_shift_headline_leads_with_the_supported_shift(calibrated_cli_bundle, goemotions_small,
                                                      tmp_path, caplog):
    """A month with no real shift led shift's first line with the total variation of
    every estimated label (0.205 on a trust-and-safety walk), unsupported moves of labels
    on under one calibration positive included; the supported 0.031 came only in a
    warning. The first line now leads with the supported figure and names the other:
    here documents most of which hold gratitude, a move the evidence supports, while
    other labels' moves are not."""
    lines = goemotions_small["test"].read_text(encoding="utf-8").splitlines(keepends=True)
    grateful = [line for line in lines if "goemotions:gratitude>" in line]
    docs = tmp_path / "grateful.tsv"
    docs.write_text("".join(grateful + [line for line in lines if line not in grateful][:40]),
                    encoding="utf-8")
    report = json.loads(run("shift", calibrated_cli_bundle, docs, "--min-count", "5",
                            "--json").stdout)
    n = report["n_labels_unsupported"]
    assert 0 < n < report["n_labels_estimated"], report
    assert 0 < report["total_variation_supported"] < report["total_variation"], report
    first = run("shift", calibrated_cli_bundle, docs, "--min-count", "5").stdout.splitlines()[0]
    assert first.startswith(
        f"em: {report['n_docs']:,} documents, estimated shift (total variation of label "
        f"frequencies) {report['total_variation_supported']:.4f} over the supported labels "
        f"({report['total_variation']:.4f} counting the "
        f"{'unsupported one' if n == 1 else f'{n} unsupported ones'}); "), first
    # its warning gives the figure without them where some are left
    shown = run("shift", calibrated_cli_bundle, docs, "--min-count", "5", quiet=False)
    assert shown.exit_code == 0, shown.output
    assert f"without them the shift is {report['total_variation_supported']:.4f}" \
        in caplog.text, caplog.text


def test_shift_headline_of_no_supported_label_says_so(calibrated_cli_bundle, goemotions_small):
    """On unshifted documents no estimated label's move is supported, and the first line
    read "0.0000 over the supported labels (0.4387 counting the 25 unsupported ones)", a
    figure over labels there were none of. It now says none is supported; the JSON keys
    are as they were."""
    docs = goemotions_small["test"]
    report = json.loads(run("shift", calibrated_cli_bundle, docs, "--min-count", "5",
                            "--json").stdout)
    n = report["n_labels_unsupported"]
    assert n == report["n_labels_estimated"] > 1, report
    assert report["total_variation_supported"] == 0 < report["total_variation"], report
    first = run("shift", calibrated_cli_bundle, docs, "--min-count", "5").stdout.splitlines()[0]
    assert first.startswith(
        f"em: {report['n_docs']:,} documents, estimated shift (total variation of label "
        f"frequencies): no estimated label's move is supported ({report['total_variation']:.4f} "
        f"counting the {n} unsupported ones); "), first
    assert "over the supported labels" not in first


def test_eval_calibration_flags_sets_below_their_guarantee_only_where_documents_shifted(
        calibrated, goemotions_small, tmp_path):
    """A month of posts whose sets held 0.868 of the true labels at alpha 0.1 was shown
    without a flag. Sets short of 1 - alpha by more than the documents evaluated and the
    calibration's own draw allow (a 95% lower bound) are flagged now: here every third
    document reads as a neutral one while keeping its labels; the unshifted documents
    draw no flag."""
    bundle = calibrated.save(tmp_path / "bundle")
    lines = goemotions_small["test"].read_text(encoding="utf-8").splitlines()
    neutral = [line.split("\t")[0] for line in lines
               if line.split("\t")[1] == "<urn:goemotions:neutral>"]
    shifted = tmp_path / "shifted.tsv"
    shifted.write_text("".join(
        f"{neutral[i % len(neutral)]}\t{line.split(chr(9))[1]}\n" if i % 3 == 0 else line + "\n"
        for i, line in enumerate(lines)), encoding="utf-8")
    plain = json.loads(run("eval", bundle, goemotions_small["test"], "--calibration",
                           "--json").stdout)["calibration"]["sets"]
    wave = json.loads(run("eval", bundle, shifted, "--calibration",
                          "--json").stdout)["calibration"]["sets"]
    for sets in (plain, wave):
        assert set(sets) == {"alpha=0.05", "alpha=0.1", "alpha=0.2"}
    for methods in plain.values():
        for summary in methods.values():
            assert summary["below_guarantee"] is False, summary
    recall = wave["alpha=0.1"]["recall"]
    assert recall["below_guarantee"] is True
    assert recall["recall_mean"] < recall["guarantee_lower_bound"] < 0.9
    # Binomial(600, 0.9)'s 5% quantile / 600, widened for the calibration's own draw
    drawn = int(calibrated.conformal.recall.n_docs.sum())
    assert drawn > 0 and recall["guarantee_lower_bound"] == round(
        0.9 - np.hypot(0.9 - 0.88, 1.6448536 * np.sqrt(0.09 / (drawn + 2))), 6)
    bound = recall["guarantee_lower_bound"]
    flag = (f"below 1 - alpha = 0.9 by more than 600 labelled documents and {drawn:,} "
            f"calibration ones allow (95% lower bound {bound:.4f}): these documents are not "
            "covered as the calibration ones were")
    assert flag in run("eval", bundle, shifted, "--calibration").stdout
    assert "below 1 - alpha" not in run("eval", bundle, goemotions_small["test"],
                                        "--calibration").stdout


def test_shift_marks_a_label_of_one_calibration_positive_in_the_singular():
    """A listed label expected once among the calibration documents was printed
    'unsupported (+-0.0300, 1 calibration positives)'."""
    from tagsmith.calibration.shift import LabelShift
    from tagsmith.cli.confidence import _unsupported_mark

    shift = LabelShift("em", np.array([0.01, 0.3]), np.array([0.05, 0.3]), n_docs=200,
                       source_docs=100, standard_error=np.array([0.03, 0.01]))
    row, = shift.report(names=["rare", "common"])["largest_changes"]
    assert row["calibration_positives"] == 1.0 and not row["supported"]
    assert _unsupported_mark(row) == "  unsupported (+-0.0300, 1 calibration positive)"


def test_eval_prints_the_tails_counts_with_the_floors_separators(capsys):
    """The tail line read '3729 (expected 43340.5, at least 41,849.0 of it the tails'
    floor ...)': one figure with a thousands separator, the two it is read against
    without."""
    from tagsmith.cli.commands import _print_confidence

    unit = {"ece": 0.1, "brier": 0.1, "top1_ece": 0.1}
    _print_confidence({"k": 50, "calibration_k": 50, "raw": unit, "sets": {},
                       "calibrated": {**unit, "bands": [], "tail": {
                           "observed_positives_outside_topk": 3729,
                           "expected_positives_outside_topk": 43340.5,
                           "expected_from_floor_at_least": 41849.0, "positives": 9000}}},
                      27754)
    assert ": 3,729 (expected 43,340.5, at least 41,849.0 of it the tails' floor" \
        in capsys.readouterr().out


def test_eval_calibration_says_where_the_label_set_counts_are_a_lower_bound(
        calibrated, data, capsys):
    """eval --calibration's n_sets_mean (and median) averaged counts that stopped at the
    cap (1,000,000) as if exact. The summary now has n_sets_capped (documents whose
    count stopped there) and n_sets_cap, and the text says where the mean is a lower
    bound; where no count stopped, no line."""
    from tagsmith.cli.commands import _print_confidence

    icp = calibrated.conformal.lpicp
    probs = calibrated.predict_topk(data["test"].texts[:200], 28)
    capped = icp.predict(probs, 0.1, count_cap=40)
    summary = capped.summary()
    assert summary["n_sets_capped"] == int(capped.capped.sum()) > 0
    assert summary["n_sets_cap"] == 40
    exact = icp.predict(probs, 0.1).summary()
    assert exact["n_sets_capped"] == 0 and exact["n_sets_cap"] == 1_000_000
    assert exact["n_sets_mean"] > summary["n_sets_mean"]  # the capped one: a lower bound
    unit = {"ece": 0.1, "brier": 0.1, "top1_ece": 0.1}
    for sets, said in ((summary, f"label sets: a lower bound, "
                                 f"{summary['n_sets_capped']} of 200 documents' counts "
                                 "stopped at 40"), (exact, None)):
        _print_confidence({"k": 28, "calibration_k": 28, "raw": unit,
                           "calibrated": {**unit, "bands": []},
                           "sets": {"0.1": {"lpicp": {**sets, "coverage": 0.9}}}}, 28)
        out = capsys.readouterr().out
        assert "0.1 lpicp" in out
        assert (said in out) if said else ("lower bound" not in out)
    # one document: "1 of 1 document's count", not "1 of 1 document' counts"
    one = {**summary, "n_docs": 1, "n_sets_capped": 1}
    _print_confidence({"k": 28, "calibration_k": 28, "raw": unit,
                       "calibrated": {**unit, "bands": []},
                       "sets": {"0.1": {"lpicp": {**one, "coverage": 0.9}}}}, 28)
    assert "a lower bound, 1 of 1 document's count stopped at 40" in capsys.readouterr().out


def test_training_names_the_corpus_its_calibration_share_came_from(data):
    """The calibration entry's origin was written twice: by train_classifier (naming
    "the training data") and again by 'tagsmith train' (naming its corpus). One writer
    now: train_classifier names the corpus its caller gives (_corpus_name)."""
    options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1},
                           dev_fraction=0.0, calibration_fraction=0.3, seed=3)
    texts, Y = data["train"].texts[:600], data["train"].Y[:600]
    named = train_classifier(texts, Y, data["space"], options=options,
                             _corpus_name="train.tsv").manifest
    assert named["calibration"]["data"] == ("0.3 of the training corpus train.tsv set "
                                            "aside (seed 3)")
    assert named["calibration"]["data_fingerprint"] == named["training"]["data_fingerprint"]
    unnamed = train_classifier(texts, Y, data["space"], options=options).manifest
    assert unnamed["calibration"]["data"] == "0.3 of the training data set aside (seed 3)"


def test_one_held_out_document_is_refused_in_the_singular():
    """'the 1 held-out documents (one.tsv) carry no label' and 'only 1 held-out
    documents' (calibrate --data of one document, train --calibration-fraction of a
    corpus of two)."""
    from tagsmith.pipeline.confidence import check_heldout_labels

    with pytest.raises(DataError, match=r"^the 1 held-out document \(d\) carries no label of "
                       "the model's label space: calibrating on it would"):
        check_heldout_labels(sp.csr_matrix((1, 3)), "d")
    with pytest.raises(DataError, match=r"^only 1 held-out document \(d\): calibration needs"):
        check_heldout_labels(sp.csr_matrix(np.ones((1, 3))), "d")
    with pytest.raises(DataError, match=r"^the 2 held-out documents \(d\) carry no label .* "
                       "calibrating on them would"):
        check_heldout_labels(sp.csr_matrix((2, 3)), "d")


def test_calibration_warns_naming_labels_whose_thresholds_rest_on_few_positives(data, caplog):
    """A moderation team's rare labels have a handful of held-out positives: a label with
    5 of them got an F1 threshold of its own and one with 4 its band's, and neither was
    said; the warning names them with their counts, fewest first."""
    import logging

    from tagsmith.calibration.thresholds import FEW_POSITIVES

    heldout = heldout_from_corpus(_fresh(data), data["dev"].texts, data["dev"].Y)
    clf = _fresh(data)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        calibrate_classifier(clf, heldout, options=ConfidenceOptions(method="isotonic"))
    thresholds = clf.thresholds
    support = thresholds.support
    assert support is not None and support.sum() > 0
    thin = np.flatnonzero((thresholds.source == FROM_LABEL) & (support < FEW_POSITIVES))
    backed = np.flatnonzero((thresholds.source != FROM_LABEL) & (support > 0))
    assert len(thin) and len(backed)  # both kinds among GoEmotions' rare labels
    text = " ".join(r.getMessage() for r in caplog.records if "held-out positive" in r.message)
    assert f"{len(thin)} label{'s' if len(thin) > 1 else ''} tuned on fewer than " \
           f"{FEW_POSITIVES} held-out positives" in text
    fewest = int(thin[np.argmin(support[thin])])
    assert f"{clf.label_space.name_of(fewest)} {int(support[fewest])}" in text
    fewest = int(backed[np.argmin(support[backed])])
    assert f"{clf.label_space.name_of(fewest)} {int(support[fewest])}" in text
    # a Python caller is told the parameter (the CLI's eval --per-label: tests below)
    assert "evaluate_classifier(..., per_label=True) gives each label's" in text
    assert "eval --per-label" not in text


def _fresh(data):
    options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1},
                           dev_fraction=0.0)
    return train_classifier(data["train"].texts, data["train"].Y, data["space"],
                            options=options)


def test_min_precision_thresholds_are_tuned_on_documents_the_calibrator_did_not_fit(
        calibrated, caplog):
    """calibrate --min-precision: the top isotonic step fits the calibrator's own
    documents (GoEmotions' neutral at p >= 0.9: right 0.954 of the time on them, 0.72 on
    unseen ones), so a precision target is tuned on the conformal part; with calibrator
    source 'same' there is none, and a warning says so."""
    from tagsmith.calibration.thresholds import tune_thresholds
    from tagsmith.pipeline.confidence import _split, fit_confidence

    options = ConfidenceOptions(min_precision=0.6)
    calibrator, thresholds, _, report = fit_confidence(calibrated.heldout, options=options)
    (fit_Y, fit_topk), conformal, _ = _split(calibrated.heldout, options, None, None)
    expected = tune_thresholds(conformal.Y, calibrator.apply(conformal.topk),
                               min_precision=0.6)
    np.testing.assert_array_equal(thresholds.per_label, expected.per_label)
    on_its_own = tune_thresholds(fit_Y, calibrator.apply(fit_topk), min_precision=0.6)
    assert not np.array_equal(thresholds.per_label, on_its_own.per_label)
    assert report["thresholds"]["objective"] == "precision"
    assert report["thresholds_tuned_on"] == "conformal"
    assert "tuned on the calibrator's own documents" not in caplog.text
    same = ConfidenceOptions(min_precision=0.6, calibrator_source="same")
    _, _, _, report = fit_confidence(calibrated.heldout, options=same)
    assert report["thresholds_tuned_on"] == "calibrator"
    assert "tuned on the calibrator's own documents" in caplog.text
    with pytest.raises(InvalidParameterError, match="one objective"):
        ConfidenceOptions(min_precision=0.9, beta=0.5).validate()


def test_cli_calibrate_min_precision_is_stored_shown_and_used(cli_bundle, goemotions_small,
                                                              tmp_path, caplog):
    """A moderation team's "auto-act on a label at >= 90% precision": calibrate
    --min-precision tunes each label's threshold for it, names the labels that cannot
    reach it (never predicted), and the bundle records the objective (info) and uses the
    thresholds in eval and suggest."""
    out = tmp_path / "p60"
    result = run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "--min-precision",
                 "0.6", "-o", out, quiet=False)
    assert result.exit_code == 0, result.output
    assert "thresholds for precision 0.6 (tuned on the conformal documents)" in result.output
    clf = TextClassifier.load(out)
    never = np.flatnonzero(np.isposinf(clf.thresholds.per_label))
    assert clf.thresholds.min_precision == 0.6 and 0 < len(never) < clf.n_labels
    assert (f"{len(never)} labels cannot reach precision 0.6 on the held-out documents"
            in caplog.text)
    assert f"{len(never)} never predicted" in result.output
    info = json.loads(run("info", out, "--json").output)
    assert info["thresholds"]["objective"] == "precision"
    assert info["thresholds"]["min_precision"] == 0.6
    assert info["thresholds"]["n_unreachable_labels"] == len(never)
    rows = json.loads(run("eval", out, goemotions_small["test"], "--json",
                          "--per-label").output)["per_label"]
    by_uri = {row["uri"]: row for row in rows}
    for i in never:
        row = by_uri.get(clf.label_space.uri_of(int(i)))
        assert row is None or row["predicted"] == 0
    suggested = run("suggest", out, "--format", "json", input="Thank you so much!\nugh\n"
                    "I love it\nwhat?\n")
    assert suggested.exit_code == 0, suggested.output
    names = {clf.label_space.name_of(int(i)) for i in never}
    for line in suggested.output.splitlines():
        assert not names & {s["label"] for s in json.loads(line)["suggestions"]}
    again = run("calibrate", out)  # F-beta again
    assert again.exit_code == 0, again.output
    assert TextClassifier.load(out).thresholds.min_precision is None
    assert json.loads(run("info", out, "--json").output)["thresholds"]["objective"] == "f_beta"



def test_cli_calibrate_min_recall_is_stored_shown_and_capped(cli_bundle, goemotions_small,
                                                             tmp_path, caplog):
    """A trust-and-safety team's "catch 90% of harm, review the rest": calibrate
    --min-recall tunes each label's highest threshold holding that recall; a label
    whose held-out positives cannot show it (it would need a threshold of 0, every
    document) is capped at its lowest held-out positive and named in a warning."""
    out = tmp_path / "r90"
    result = run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "--min-recall",
                 "0.9", "-o", out, quiet=False)
    assert result.exit_code == 0, result.output
    clf = TextClassifier.load(out)
    info = json.loads(run("info", out, "--json").output)["thresholds"]
    assert (info["objective"], info["min_recall"]) == ("recall", 0.9)
    capped = info["n_capped_labels"]
    assert 0 < capped < clf.n_labels and clf.thresholds.min_recall == 0.9
    # labels of fewer than 5 held-out positives take their band's threshold, as
    # F-beta's do (they had their own, capped at those few, or none: never predicted)
    band = info["n_band_labels"]
    assert band > 0 and info["n_tuned_labels"] + band == clf.n_labels
    own = clf.n_labels - capped - band
    reach = "label reaches" if own == 1 else "labels reach"
    assert (f"thresholds for recall 0.9 (tuned on the conformal documents): {own} {reach} "
            f"it, {capped} capped at their lowest held-out positive (short of it), {band} "
            "from their band\n") in result.output
    assert (f"{capped} labels cannot reach recall 0.9 on the held-out documents"
            in caplog.text)
    # the recall bought by predicting labels for most documents: said
    assert "predicted for at least 50% of the held-out documents" in caplog.text
    # and the labels backed off, as F-beta's thresholds say them
    assert "without a threshold of their own (too few held-out positives" in caplog.text
    assert np.isfinite(clf.thresholds.per_label).all()
    assert (clf.thresholds.per_label > 0).all()  # capped, never 0
    for extra, said in ((["--min-precision", "0.9"], "--min-precision and --min-recall"),
                        (["--beta", "2"], "--min-recall and --beta")):
        refused = run("calibrate", out, "--min-recall", "0.9", *extra)
        assert refused.exit_code == 2 and said in refused.output
    trained = run("train", goemotions_small["train"], "-o", tmp_path / "trained", "--vocab",
                  goemotions_small["vocab"], "--calibration-fraction", "0.3", "--min-recall",
                  "0.8", "--json", *FAST)
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout)
    assert (summary["thresholds"]["objective"], summary["thresholds"]["min_recall"]) == (
        "recall", 0.8)
    manifest = json.loads(run("info", tmp_path / "trained", "--json").output)
    assert manifest["training"]["options"]["min_recall"] == 0.8
    unused = run("train", goemotions_small["train"], "-o", tmp_path / "x", "--min-recall", "0.8")
    assert unused.exit_code == 2 and "--min-recall only applies with --calibration-fraction" \
        in unused.output


def test_calibrate_min_recall_says_what_share_of_the_positives_it_can_reach(
        cli_bundle, goemotions_small, tmp_path):
    """A recall target covers the held-out positives of labels the model learnt ranked
    among the candidates scored; the rest are missed at any threshold (yso-finna-en:
    74.8% of the test positives). calibrate said nothing of it (the README alone did).
    Its --json gives the counts (recall_reach), and its text says them where the share
    out of reach is material (here -k 3 of 28 labels), not where every positive is
    ranked."""
    from tagsmith.pipeline.confidence import _split

    out = tmp_path / "r90"
    args = ("calibrate", cli_bundle, "--data", goemotions_small["dev"], "--min-recall",
            "0.9", "-k", "3", "-o", out)
    report = json.loads(run(*args, "--json").stdout)
    reach = report["recall_reach"]
    # by hand: the conformal part's positives among each document's 3 candidates
    _, part, _ = _split(TextClassifier.load(out).heldout,
                        ConfidenceOptions(**report["options"]), None, None)
    Y = sp.csr_matrix(part.Y)
    total = int(Y.count_nonzero())
    ranked = sum(len(set(Y[i].indices.tolist()) & set(part.topk.indices[i].tolist()))
                 for i in range(Y.shape[0]))
    assert reach == {"n_positives": total, "n_reachable": ranked, "n_never_learnt": 0,
                     "n_unranked": total - ranked, "k": 3,
                     "share_reachable": round(ranked / total, 6)}
    assert ranked < 0.95 * total
    # the documents counted, by name (train --json names them alike)
    assert report["thresholds_source"] == f"{goemotions_small['dev']}, its conformal part"
    text = run(*args)
    assert text.exit_code == 0, text.output
    assert (f"recall 0.9 is of the positives the thresholds can reach: {ranked:,} of the "
            f"{total:,} held-out positives tuned on ({100 * ranked / total:.1f}%; "
            f"{report['thresholds_source']}); "
            f"{total - ranked:,} are of labels ranked outside each document's top 3 "
            "candidates, missed at any threshold\n") in text.stdout, text.stdout
    every = ("calibrate", cli_bundle, "--data", goemotions_small["dev"], "--min-recall",
             "0.9", "-o", tmp_path / "all")
    reach = json.loads(run(*every, "--json").stdout)["recall_reach"]
    assert (reach["n_unranked"], reach["share_reachable"]) == (0, 1.0)
    assert "can reach" not in run(*every).stdout


def test_calibrate_min_recall_with_max_labels_says_the_cap_caps_the_recall(
        cli_bundle, goemotions_small, tmp_path, caplog):
    """calibrate --min-recall 0.9 --max-labels 3 on GoEmotions capped 27 labels (test
    recall 0.707, 0.964 without the cap) and the warning of the capped labels spoke of
    their held-out positives alone: a positive ranked below a document's 3 best is a
    miss at any threshold. The warning says --max-labels is the cause."""
    result = run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "--min-recall",
                 "0.9", "--max-labels", "3", "-o", tmp_path / "r90", quiet=False)
    assert result.exit_code == 0, result.output
    assert "labels cannot reach recall 0.9" in caplog.text
    assert ("--max-labels 3 caps each set at a document's 3 best candidates, as it did "
            "while tuning: a positive ranked below them is a miss at any threshold") \
        in caplog.text
    caplog.clear()
    alone = run("calibrate", cli_bundle, "--data", goemotions_small["dev"], "--min-recall",
                "0.9", "-o", tmp_path / "plain", quiet=False)
    assert alone.exit_code == 0, alone.output
    assert "labels cannot reach recall 0.9" in caplog.text
    assert "--max-labels" not in caplog.text
    # "(every document)" said once a warning (it was said of threshold 0 twice over)
    warned = next(r.getMessage() for r in caplog.records if "cannot reach" in r.getMessage())
    assert warned.count("(every document)") == 1, warned


def _recall_bundle_cut_at_3(cli_bundle, goemotions_small, tmp_path):
    """``cli_bundle`` calibrated for recall 0.9 on the dev split, 40 test texts, the
    bundle loaded, and how many of those texts have labels passing their thresholds
    below the best 3 (some, or the --k warnings' tests would test nothing)."""
    out = tmp_path / "r90"
    calibrated = run("calibrate", cli_bundle, "--data", goemotions_small["dev"],
                     "--min-recall", "0.9", "-o", out)
    assert calibrated.exit_code == 0, calibrated.output
    texts = [line.split("\t")[0] for line in
             goemotions_small["test"].read_text(encoding="utf-8").splitlines()[:40]]
    clf = TextClassifier.load(out)
    cut = sum(len(every) > len(listed) for every, listed in
              zip(clf.suggest(texts, k=clf.n_labels), clf.suggest(texts, k=3), strict=True))
    assert 0 < cut
    return out, texts, clf, cut


def test_suggest_warns_when_k_cuts_labels_passing_their_thresholds(cli_bundle, monkeypatch,
                                                                   goemotions_small,
                                                                   tmp_path, caplog):
    """A --min-recall 0.9 bundle passes about 20 of GoEmotions' 28 labels per document,
    and suggest's default --k 10 left the others out, silently: its micro recall was
    0.912 where eval's, at the same thresholds, was 0.980. suggest now warns of the
    documents with labels passing their thresholds below the --k listed (what it lists
    is unchanged); a --threshold given, which keeps the best --k alone by design, is
    not warned of. The count scored each batch a second time, at the width the
    thresholds were tuned on (suggest over a corpus took twice as long): one scoring
    now serves both."""
    out, texts, clf, cut = _recall_bundle_cut_at_3(cli_bundle, goemotions_small, tmp_path)
    caplog.clear()
    scorings = []
    scored = TextClassifier._predict_topks
    with monkeypatch.context() as patched:
        patched.setattr(TextClassifier, "_predict_topks", lambda self, *args: (
            scorings.append(args[1]), scored(self, *args))[1])
        result = run("suggest", out, "-k", "3", "--format", "json",
                     input="\n".join(texts) + "\n", quiet=False)
    assert result.exit_code == 0, result.output
    assert len(scorings) == 1, scorings  # the 40 texts, one batch: featurized once
    listed = [[s["label"] for s in json.loads(line)["suggestions"]]
              for line in result.stdout.splitlines()]
    assert listed == [[s.label for s in row] for row in clf.suggest(texts, k=3)]
    assert (f"{cut} of 40 documents have labels passing the bundle's thresholds (for "
            "recall 0.9) below the --k 3 listed, left out: a larger --k (up to 28, the "
            "candidates the thresholds were tuned on) lists them") in caplog.text
    for options in (["-k", str(clf.n_labels)], ["-k", "3", "--threshold", "0.001"]):
        caplog.clear()
        other = run("suggest", out, *options, input="\n".join(texts) + "\n", quiet=False)
        assert other.exit_code == 0, other.output
        assert "below the --k" not in caplog.text


def test_suggest_exclude_counts_the_allowed_labels_k_cuts_short(cli_bundle, goemotions_small,
                                                                tmp_path, caplog):
    """With --exclude, suggest's --k warning counts the documents whose allowed labels
    passing their thresholds reach below the --k listed, from the restricted ranking: a
    denied label is never listed, so counting it would ask for a larger --k that lists
    nothing more."""
    out, texts, clf, _ = _recall_bundle_cut_at_3(cli_bundle, goemotions_small, tmp_path)
    denied = [clf.label_space.uri_of(int(i)) for i in np.argsort(-clf.label_counts)[:5]]
    restricted = clf.restricted(exclude=denied)
    cut = sum(len(every) > len(listed) for every, listed in zip(
        restricted.suggest(texts, k=clf.n_labels), restricted.suggest(texts, k=3),
        strict=True))
    assert 0 < cut
    caplog.clear()
    result = run("suggest", out, "-k", "3", "--exclude", ",".join(denied),
                 input="\n".join(texts) + "\n", quiet=False)
    assert result.exit_code == 0, result.output
    listed = [[s["uri"] for s in json.loads(line)["suggestions"]]
              for line in result.stdout.splitlines()]
    assert listed == [[s.uri for s in row] for row in restricted.suggest(texts, k=3)]
    assert not {uri for row in listed for uri in row} & set(denied)
    assert (f"{cut} of 40 documents have labels passing the bundle's thresholds (for "
            "recall 0.9) below the --k 3 listed, left out") in caplog.text


def test_suggest_sets_json_warns_when_k_cuts_labels_passing_their_thresholds(
        cli_bundle, goemotions_small, tmp_path, caplog, monkeypatch):
    """suggest --sets --format json lists each document's ranking beside its set, cut by
    --k as suggest's alone: a --min-recall bundle's labels passing their thresholds below
    the --k listed were left out there without the warning suggest without --sets
    gives. Warned of, counted the same way (the text rows of --sets list the sets alone,
    no ranking: nothing cut to warn of). The count scored each batch a second time, at
    the width the thresholds were tuned on: one scoring now serves the ranking, the
    sets and the count, which are what they were."""
    out, texts, clf, cut = _recall_bundle_cut_at_3(cli_bundle, goemotions_small, tmp_path)
    caplog.clear()
    scorings = []
    scored = TextClassifier._predict_topks
    with monkeypatch.context() as patched:
        patched.setattr(TextClassifier, "_predict_topks", lambda self, *args: (
            scorings.append(args[1]), scored(self, *args))[1])
        result = run("suggest", out, "-k", "3", "--sets", "--format", "json",
                     input="\n".join(texts) + "\n", quiet=False)
    assert result.exit_code == 0, result.output
    assert len(scorings) == 1, scorings  # the 40 texts, one batch: featurized once
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    listed = [[s["label"] for s in line["suggestions"]] for line in lines]
    assert listed == [[s.label for s in row] for row in clf.suggest(texts, k=3)]
    ranked, sets = clf.suggest_with_sets(texts, k=3, max_members=100)
    assert [line["suggestions"] for line in lines] == [
        [s.to_dict() for s in row] for row in ranked]
    assert [line["set"] for line in lines] == [doc_set.to_dict(100) for doc_set in sets]
    assert (f"{cut} of 40 documents have labels passing the bundle's thresholds (for "
            "recall 0.9) below the --k 3 listed, left out") in caplog.text
    for options in (["-k", str(clf.n_labels)], ["--format", "tsv"]):
        caplog.clear()
        other = run("suggest", out, "--sets", *options, input="\n".join(texts) + "\n",
                    quiet=False)
        assert other.exit_code == 0, other.output
        assert "below the --k" not in caplog.text


def test_suggest_explain_featurizes_each_batch_once_where_k_cuts_short(
        cli_bundle, goemotions_small, tmp_path, capsys):
    """suggest --explain on a --min-recall bundle (its ranking and the count of labels
    --k cuts short from one scoring), with and without --sets --format json: the
    explanation featurized each batch again; it reads the features scoring made, the
    evidence what it was."""
    from tagsmith.cli.commands import _suggest_batch
    from tagsmith.features.tfidf import TfidfFeaturizer

    class CountingTfidf(TfidfFeaturizer):
        calls = 0

        def transform(self, texts):
            self.calls += 1
            return super().transform(texts)

    out, texts, clf, cut = _recall_bundle_cut_at_3(cli_bundle, goemotions_small, tmp_path)
    capsys.readouterr()
    featurizer = clf.featurizer = CountingTfidf.from_state(*clf.featurizer.to_state())
    batch = list(enumerate(texts))
    for sets in (False, True):
        before = featurizer.calls
        assert _suggest_batch(clf, batch, 3, None, "en", sets, "json", None, "recall", None,
                              0.0, explain=2) == cut
        assert featurizer.calls == before + 1, sets
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        expected = TextClassifier.load(out)
        explained = expected.explain(texts, expected.suggest(texts, k=3), 2)
        assert [line["suggestions"] for line in lines] == [
            [s.to_dict() for s in row] for row in explained]
        assert any(s["evidence"] for line in lines for s in line["suggestions"])


def test_suggest_replace_deprecated_counts_the_labels_k_cuts_short(
        cli_bundle, goemotions_small, tmp_path, caplog, monkeypatch):
    """suggest --vocab V --replace-deprecated lists a ranking cut by --k as suggest's
    alone, but the documents whose labels passing a --min-recall bundle's thresholds
    were left out below it were never counted: no warning, whatever --k. They are
    counted as any other, from the same scoring: with a vocabulary that retires nothing
    as without the option; with one that replaces a label, where the labels passing,
    replaced, name one not listed."""
    out, texts, clf, cut = _recall_bundle_cut_at_3(cli_bundle, goemotions_small, tmp_path)
    same = tmp_path / "same.csv"
    uris = clf.label_space.uris
    same.write_text("uri,label_en\n" + "".join(f"{uri},{clf.label_space.name_of(i)}\n"
                                               for i, uri in enumerate(uris)))
    said = ("of 40 documents have labels passing the bundle's thresholds (for recall "
            "0.9) below the --k 3 listed, left out")
    caplog.clear()
    scorings = []
    scored = TextClassifier._predict_topks
    with monkeypatch.context() as patched:
        patched.setattr(TextClassifier, "_predict_topks", lambda self, *args: (
            scorings.append(args[1]), scored(self, *args))[1])
        result = run("suggest", out, "-k", "3", "--vocab", same, "--replace-deprecated",
                     input="\n".join(texts) + "\n", quiet=False)
    assert result.exit_code == 0, result.output
    assert f"{cut} {said}" in caplog.text
    # the rankings of the first round, twice as deep as --k, and the count's width,
    # from one scoring (the rounds after it score only the texts cut short, if any)
    assert len(scorings[0]) == 2 and scorings[0][1][0] == 28, scorings
    listed = [[s["uri"] for s in json.loads(line)["suggestions"]]
              for line in result.stdout.splitlines()]
    assert listed == [[s.uri for s in row] for row in clf.suggest(texts, k=3)]
    # annoyance retired, replaced by anger
    annoyance, anger = "urn:goemotions:annoyance", "urn:goemotions:anger"
    replaced = tmp_path / "replaced.csv"
    replaced.write_text(same.read_text().replace(f"{annoyance},annoyance\n", "").replace(
        "uri,label_en\n", "uri,label_en,deprecated,replaced_by\n") +
        f"{annoyance},annoyance,true,{anger}\n")
    caplog.clear()
    result = run("suggest", out, "-k", "3", "--vocab", replaced, "--replace-deprecated",
                 input="\n".join(texts) + "\n", quiet=False)
    assert result.exit_code == 0, result.output
    listed = [{s["uri"] for s in json.loads(line)["suggestions"]}
              for line in result.stdout.splitlines()]
    assert not any(annoyance in shown for shown in listed)  # retired: replaced
    every = [{anger if s.uri == annoyance else s.uri for s in row}
             for row in clf.suggest(texts, k=clf.n_labels)]
    expected = sum(bool(names - shown) for names, shown in zip(every, listed, strict=True))
    assert 0 < expected and f"{expected} {said}" in caplog.text, caplog.text


def test_suggest_replace_deprecated_counts_the_labels_passing_once_replaced(
        cli_bundle, goemotions_small, tmp_path, caplog):
    """The count of documents --k cuts short under --replace-deprecated is of the labels
    passing once each retired one is replaced (or left out, having no replacement): the
    test above, retiring one label, found the same count as comparing how many labels
    pass with how many are listed, so nothing checked the replacing. With every label
    but anger retired onto anger, a document lists anger alone and nothing passing is
    left out (counting labels, the documents with 2 passing were); with every label but
    4 retired without a replacement, those 4 alone are named."""
    out, texts, clf, _ = _recall_bundle_cut_at_3(cli_bundle, goemotions_small, tmp_path)
    uris, name_of = clf.label_space.uris, clf.label_space.name_of
    anger = "urn:goemotions:anger"
    every = clf.suggest(texts, k=clf.n_labels)  # the labels passing, best first

    def suggest_with(vocab_rows: str) -> list[set[str]]:
        vocab = tmp_path / "vocab.csv"
        vocab.write_text("uri,label_en,deprecated,replaced_by\n" + vocab_rows)
        caplog.clear()
        result = run("suggest", out, "-k", "3", "--vocab", vocab, "--replace-deprecated",
                     input="\n".join(texts) + "\n", quiet=False)
        assert result.exit_code == 0, result.output
        return [{s["uri"] for s in json.loads(line)["suggestions"]}
                for line in result.stdout.splitlines()]

    said = "below the --k 3 listed, left out"
    onto_anger = "".join(f"{uri},{name_of(i)},{'false' if uri == anger else 'true'},"
                         f"{'' if uri == anger else anger}\n" for i, uri in enumerate(uris))
    listed = suggest_with(onto_anger)
    assert all(shown <= {anger} for shown in listed)
    assert sum(len(row) > 1 for row in every) > 0  # what counting labels counted
    assert said not in caplog.text, caplog.text
    kept = {s.uri for s in every[0][:4]}
    assert len(kept) == 4
    dropped = "".join(f"{uri},{name_of(i)},{'false' if uri in kept else 'true'},\n"
                      for i, uri in enumerate(uris))
    listed = suggest_with(dropped)
    named = [{s.uri for s in row} & kept for row in every]
    expected = sum(bool(names - shown) for names, shown in zip(named, listed, strict=True))
    counted_labels = sum(len(row) > len(shown) for row, shown in zip(every, listed,
                                                                       strict=True))
    assert 0 < expected < counted_labels
    assert f"{expected} of 40 documents have labels passing" in caplog.text, caplog.text


@pytest.mark.parametrize("objective", [("--min-recall", "0.8"), ("--min-precision", "0.7")])
def test_train_counts_the_labels_it_never_learnt_as_calibrate_does(goemotions_small, tmp_path,
                                                                   objective):
    """calibrate's line of a precision's or recall's thresholds ends with the labels the
    model never learnt ('2 never predicted (no training document)'); train's, the same
    line, left them out: its counts added up to 26 of 28 labels."""
    rows = goemotions_small["train"].read_text(encoding="utf-8").splitlines()
    kept = [row for row in rows if "<urn:goemotions:grief>" not in row
            and "<urn:goemotions:pride>" not in row]
    corpus = tmp_path / "train.tsv"
    corpus.write_text("\n".join(kept) + "\n", encoding="utf-8")
    result = run("train", corpus, "-o", tmp_path / "m", "--vocab", goemotions_small["vocab"],
                 "--calibration-fraction", "0.3", *objective, *FAST)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines()
                if line.startswith("thresholds for"))
    assert line.endswith(", 2 never predicted (no training document)"), line


def test_train_min_recall_says_what_share_of_the_positives_it_tuned_on_it_can_reach(
        goemotions_small, tmp_path):
    """calibrate --min-recall says what share of the held-out positives it tuned on the
    target can reach (recall_reach); train --min-recall said nothing of it. It does now,
    of the documents the thresholds were tuned on: --dev's, where the calibration
    tunes them again there (here every --dev positive of gratitude, a label the model
    never learnt, is out of reach, where none of the calibration split is)."""
    rows = goemotions_small["train"].read_text(encoding="utf-8").splitlines()
    corpus = tmp_path / "train.tsv"
    corpus.write_text("".join(row + "\n" for row in rows
                              if "<urn:goemotions:gratitude>" not in row), encoding="utf-8")
    dev_rows = goemotions_small["dev"].read_text(encoding="utf-8").splitlines()
    total = sum(len(row.split("\t")[1].split()) for row in dev_rows)
    never = sum("<urn:goemotions:gratitude>" in row for row in dev_rows)
    assert never >= 0.01 * total  # material: said
    args = ("train", corpus, "--vocab", goemotions_small["vocab"], "--dev",
            goemotions_small["dev"], "--calibration-fraction", "0.3", "--min-recall", "0.8",
            *FAST)
    summary = json.loads(run(*args, "-o", tmp_path / "dev", "--json").stdout)
    # 28 labels: every one ranked for every document (tuning_k), none out of the ranking
    assert summary["recall_reach"] == {
        "n_positives": total, "n_reachable": total - never, "n_never_learnt": never,
        "n_unranked": 0, "k": 28, "share_reachable": round((total - never) / total, 6)}
    # the documents counted, named as calibrate --json names them (train had none): by
    # --dev's file, as calibrate names its --data ('dev corpus' named no file)
    documents = summary["calibration"]["thresholds_source"]
    assert summary["calibration"]["thresholds_tuned_on"] == "heldout"
    assert documents == TextClassifier.load(tmp_path / "dev").manifest["calibration"][
        "thresholds_source"] == str(goemotions_small["dev"]), documents
    text = run(*args, "-o", tmp_path / "dev-text")
    assert text.exit_code == 0, text.output
    assert (f"recall 0.8 is of the positives the thresholds can reach: {total - never:,} of "
            f"the {total:,} held-out positives tuned on "
            f"({100 * (total - never) / total:.1f}%; {documents}); {never:,} are of labels "
            "never learnt, missed at any threshold\n") in text.stdout, text.stdout
    # without --dev, tuned on the calibration split, which holds no gratitude either
    alone = ("train", corpus, "--vocab", goemotions_small["vocab"], "--calibration-fraction",
             "0.3", "--min-recall", "0.8", *FAST)
    split = json.loads(run(*alone, "-o", tmp_path / "split", "--json").stdout)
    reach = split["recall_reach"]
    calibration = TextClassifier.load(tmp_path / "split").manifest["calibration"]
    assert calibration["thresholds_tuned_on"] == "conformal"
    assert split["calibration"]["thresholds_source"] == (
        "0.3 of the training data set aside (seed 0), its conformal part")
    # calibrate --json names them alike, and its line as train's does
    again = json.loads(run("calibrate", tmp_path / "split", "-o", tmp_path / "again",
                           "--min-recall", "0.8", "--json").stdout)
    assert again["thresholds_source"] == split["calibration"]["thresholds_source"]
    assert reach["n_positives"] > 0
    assert (reach["n_never_learnt"], reach["n_unranked"], reach["share_reachable"]) == (
        0, 0, 1.0)
    assert "can reach" not in run(*alone, "-o", tmp_path / "split-text").stdout
    # an F1 objective has no recall target to reach
    assert "recall_reach" not in json.loads(run(
        "train", corpus, "--vocab", goemotions_small["vocab"], "--calibration-fraction",
        "0.3", "-o", tmp_path / "f1", "--json", *FAST).stdout)


def test_train_with_dev_warns_of_the_thresholds_it_ships_alone(data, caplog):
    """train --dev D --calibration-fraction F tunes the thresholds again on D's
    probabilities: it warned of the calibration split's thresholds too, which it had
    replaced (two warnings with other labels and counts, one of thresholds never
    shipped)."""
    import logging

    options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1},
                           calibration_fraction=0.3)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        clf = train_classifier(data["train"].texts, data["train"].Y, data["space"],
                               options=options, dev_texts=data["dev"].texts,
                               dev_Y=data["dev"].Y, dev_source="dev.tsv")
    warned = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith("thresholds on few held-out positives")]
    source = clf.manifest["calibration"]["thresholds_source"]
    assert len(warned) == 1 and f"positives ({source})" in warned[0], warned
    assert source == "dev.tsv"  # the file, as calibrate names its --data
    # without a name (a library caller's dev_texts) it reads as before
    unnamed = train_classifier(data["train"].texts, data["train"].Y, data["space"],
                               options=options, dev_texts=data["dev"].texts,
                               dev_Y=data["dev"].Y)
    assert unnamed.manifest["calibration"]["thresholds_source"] == "dev corpus"


@pytest.mark.parametrize("objective", [{"min_recall": 0.9}, {"min_precision": 0.7}])
def test_train_with_dev_says_nothing_of_thresholds_on_the_calibrators_documents(
        data, caplog, objective):
    """train --dev D --calibration-fraction F --calibrator-source same --min-recall R
    tunes the thresholds on D's probabilities (thresholds_tuned_on "heldout"), but
    warned that they were tuned on the calibrator's own documents, where the recall
    (or precision) on others may fall short: of thresholds it had replaced. Without
    --dev that is what they are tuned on, and still said."""
    import logging

    said = "are tuned on the calibrator's own documents"
    for dev in (True, False):
        options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1},
                               calibration_fraction=0.3, confidence=ConfidenceOptions(
                                   calibrator_source="same", **objective))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            clf = train_classifier(data["train"].texts, data["train"].Y, data["space"],
                                   options=options,
                                   dev_texts=data["dev"].texts if dev else None,
                                   dev_Y=data["dev"].Y if dev else None, dev_source="dev.tsv")
        tuned_on = clf.manifest["calibration"]["thresholds_tuned_on"]
        assert tuned_on == ("heldout" if dev else "calibrator")
        assert (said in caplog.text) is not dev, caplog.text


def test_the_few_positives_warning_words_one_label_and_labels_it_cannot_describe(caplog):
    """One label's "precision and recall at its threshold is rough" (they are two); a
    label of 9 held-out positives none of which the top-k ranked has no threshold of its
    own, and was said to have too few positives for one; a label the model never
    learnt (an infinite threshold: never predicted) was said to use its band's."""
    import logging

    from tagsmith.calibration.thresholds import FROM_BAND, FROM_GLOBAL, Thresholds
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.confidence import warn_thin_thresholds

    names = ["pride", "unranked", "unlearnt", "grief"]
    space = LabelSpace.from_uris([f"u:{n}" for n in names],
                                 names={f"u:{n}": n for n in names})
    thresholds = Thresholds(
        np.array([0.3, 0.5, np.inf, 0.4], np.float32), 0.5,
        np.array([True, False, False, False]),
        source=np.array([FROM_LABEL, FROM_GLOBAL, FROM_GLOBAL, FROM_BAND], np.int8),
        support=np.array([6, 9, 4, 3]))
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        warn_thin_thresholds(thresholds, space, "dev")
    text = caplog.text
    assert ("1 label tuned on fewer than 20 held-out positives, so its precision and recall "
            "at its threshold are rough (pride 6)") in text
    assert "unlearnt" not in text
    assert ("2 labels without a threshold of their own (too few held-out positives, or none "
            "ranked among the scored candidates) use their band's or the global one "
            "(grief 3, unranked 9)") in text


def test_the_few_positives_warnings_name_the_part_the_thresholds_were_tuned_on(data, caplog):
    """The thresholds are tuned on one part of the held-out documents (the calibrator's,
    or for --min-precision the conformal one), or on the out-of-fold training scores
    with a cross-fitted calibrator: the warnings counting their positives named the
    whole held-out set ('0.1 of the training data set aside'), counting half of it, or
    none of it."""
    import logging

    def warned(**confidence):
        caplog.clear()
        options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1},
                               dev_fraction=0.0, calibration_fraction=0.2,
                               crossfit_folds=2 if confidence else 0,
                               confidence=ConfidenceOptions(**confidence) if confidence
                               else None)
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            train_classifier(data["train"].texts, data["train"].Y, data["space"],
                             options=options)
        return [r.getMessage() for r in caplog.records if "held-out positives" in
                r.getMessage() or "cannot reach precision" in r.getMessage()]

    [message] = warned()
    assert message.startswith("thresholds on few held-out positives (0.2 of the training "
                              "data set aside (seed 0), its calibrator part): ")
    [message] = warned(calibrator_source="crossfit")
    assert message.startswith("thresholds on few held-out positives (the out-of-fold "
                              "training scores)")
    [message] = warned(calibrator_source="crossfit", min_precision=0.9)
    assert "on the held-out documents (0.2 of the training data set aside (seed 0)) at" \
        in message


def test_the_capped_warning_and_line_count_the_labels_of_a_capped_band(caplog):
    """A band's recall threshold capped short of the target (its pooled held-out
    positives reach it at no cut) was counted nowhere: not in ``n_capped_labels``, not
    in the capped warning, and calibrate's line said '14,189 from their band' of
    yso-finna's 0.5, most of them on bands capped so. Counted and the bands named; the
    labels the model never learnt (never predicted) are not counted."""
    import logging

    from tagsmith.calibration.bands import FrequencyBands
    from tagsmith.calibration.thresholds import tune_thresholds
    from tagsmith.cli.confidence import recall_thresholds_line
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.confidence import never_untrained, warn_thin_thresholds
    from tagsmith.topk import TopK

    rng = np.random.default_rng(5)
    n = 400
    scores = rng.random((n, 7)).astype(np.float32)
    y = np.zeros((n, 7), dtype=bool)
    y[:, 0] = scores[:, 0] > 0.6
    y[:, 1] = scores[:, 1] > 0.6
    for label in (2, 3, 4, 5):
        y[rng.choice(n, 2, replace=False), label] = True
    bands = FrequencyBands(np.array([1, 1, 0, 0, 0, 0, 0]), np.array([0, 50, 10**9]))
    thresholds = never_untrained(
        tune_thresholds(sp.csr_matrix(y), TopK.from_scores(scores, 7), min_recall=0.7,
                        bands=bands, min_support=5),
        np.array([False] * 6 + [True]), bands=bands)  # label 6: never learnt
    summary = thresholds.summary()
    assert summary["n_capped_shared_labels"] == 4
    names = [f"l{i}" for i in range(7)]
    space = LabelSpace.from_uris([f"u:{n}" for n in names],
                                 names={f"u:{n}": n for n in names})
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        warn_thin_thresholds(thresholds, space, "dev")
    assert ("4 labels on their band's or the global threshold, whose pooled held-out "
            "positives reach recall 0.7 at no cut either, are capped likewise at the "
            "pool's lowest held-out positive (band 0-49)") in caplog.text
    assert recall_thresholds_line(summary, n_labels=6).endswith(
        "4 from their band (4 of them on a band's or the global threshold capped short of "
        "it likewise)")


def test_calibrate_json_counts_the_labels_on_the_global_threshold(cli_bundle,
                                                                  goemotions_small, tmp_path):
    """calibrate's text says how many labels take the global threshold ('9 from their
    band, 0 global'); its --json counted those on a band's alone (n_band_labels) and no
    key the global ones. n_global_labels does; the counts add up to the labels."""
    args = ("calibrate", cli_bundle, "--data", goemotions_small["dev"], "-o",
            tmp_path / "c")
    report = json.loads(run(*args, "--json").stdout)["thresholds"]
    n_global = report["n_global_labels"]
    assert report["n_tuned_labels"] + report["n_band_labels"] + n_global == 28, report
    text = run(*args)
    assert text.exit_code == 0, text.output
    assert (f"{report['n_band_labels']} from their band, {n_global} global"
            in text.stdout), text.stdout


def test_one_label_from_its_band_is_said_in_the_singular(capsys):
    """``recall_thresholds_line`` and the F-beta thresholds line said "1 from their
    band" of one label."""
    from tagsmith.cli.confidence import _print_fbeta_thresholds, recall_thresholds_line

    line = recall_thresholds_line({"min_recall": .9, "n_tuned_labels": 2,
                                   "n_band_labels": 1}, n_labels=3)
    assert "1 from its band" in line
    assert "2 from their band" in recall_thresholds_line(
        {"min_recall": .9, "n_tuned_labels": 2, "n_band_labels": 2}, n_labels=4)
    _print_fbeta_thresholds({"n_tuned_labels": 2, "n_band_labels": 1, "global": 0.5}, 3)
    assert "1 from its band" in capsys.readouterr().out


def test_recall_reach_counts_the_positives_below_the_max_labels_cap_as_out_of_reach():
    """A set holds no label ranked below --max-labels (label_sets cuts there), but the
    reach counted every positive among the k candidates scored as reachable: 4 of 4
    here, where no threshold catches more than 2. Counted out of reach now, and the
    line says the cap did it."""
    from tagsmith.calibration.thresholds import Thresholds
    from tagsmith.cli.confidence import recall_reach_line
    from tagsmith.pipeline.confidence import recall_reach
    from tagsmith.topk import TopK

    topk = TopK.from_scores(np.array([[0.9, 0.5, 0.1], [0.2, 0.8, 0.7]]), 3)
    Y = sp.csr_matrix(np.array([[1, 0, 1], [1, 1, 0]]))
    untrained = np.zeros(3, bool)
    assert recall_reach(Y, topk, untrained)["n_reachable"] == 4
    reach = recall_reach(Y, topk, untrained, max_labels=1)
    assert reach == {"n_positives": 4, "n_reachable": 2, "n_never_learnt": 0,
                     "n_unranked": 2, "k": 3, "share_reachable": 0.5, "max_labels": 1}
    # the most any thresholds catch under the cap: every label passing
    every = Thresholds.constant(3, 0.0)
    every.max_labels = 1
    assert Y.multiply(every.label_sets(topk)).count_nonzero() == reach["n_reachable"]
    assert "max_labels" not in recall_reach(Y, topk, untrained, max_labels=3)
    assert recall_reach_line(reach, 0.9, "dev.tsv").endswith(
        "2 of the 4 held-out positives tuned on (50.0%; dev.tsv); 2 are of labels ranked "
        "outside each document's top 1 candidate (the --max-labels cap, of 3 scored), "
        "missed at any threshold")


@pytest.mark.parametrize(("call", "name", "shown"), [
    ("confidence", "alphas[1]", "1.5"),
    ("confidence", "alphas", "0.1"),
    ("confidence", "Y", "shape (10, "),
    ("evaluate", "Y", "shape (50, 27)"),
])
def test_evaluation_refuses_bad_alphas_and_labels_naming_them_before_scoring(
        calibrated, data, monkeypatch, call, name, shown):
    """A researcher's evaluate_confidence(clf, texts, Y, alphas=[0.1, 1.5]) scored every
    text and then was refused as 'alpha'; a Y of other rows or columns than the texts
    and labels was refused after scoring as 'y_true', a parameter neither function
    has. Each is now refused first, naming the caller's parameter."""
    texts, Y = data["test"].texts[:50], data["test"].Y[:50]
    kwargs: dict = {}
    if name.startswith("alphas"):
        kwargs["alphas"] = [0.1, 1.5] if name == "alphas[1]" else 0.1
    elif call == "confidence":
        Y = Y[:10]
    else:
        Y = Y[:, :-1]
    calls = count_scoring(monkeypatch, calibrated)
    with pytest.raises(InvalidParameterError, match=rf"parameter '{re.escape(name)}' .*"
                                                    rf"got '?{re.escape(shown)}"):
        if call == "confidence":
            evaluate_confidence(calibrated, texts, Y, **kwargs)
        else:
            evaluate_classifier(calibrated, texts, Y, source=None)
    assert calls == {"transform": 0, "predict_topk": 0}


@pytest.mark.parametrize("call", ["confidence", "both", "evaluate"])
def test_a_y_of_other_rows_than_an_iterator_of_texts_is_refused_naming_y_before_scoring(
        calibrated, data, monkeypatch, call):
    """evaluate_confidence(clf, (t for t in texts), Y) with a Y of fewer rows scored every
    text and was then refused as 'y_true', a parameter it does not have (so were
    evaluate_with_confidence and evaluate_classifier): the texts are counted first, and
    Y is refused naming it, before any scoring."""
    from tagsmith.pipeline.confidence import evaluate_with_confidence

    texts = iter(data["test"].texts[:50])
    Y = data["test"].Y[:10]
    calls = count_scoring(monkeypatch, calibrated)
    with pytest.raises(InvalidParameterError,
                       match=r"parameter 'Y' .*50 rows \(one per text\).*got 'shape \(10, "):
        if call == "confidence":
            evaluate_confidence(calibrated, texts, Y)
        elif call == "both":
            evaluate_with_confidence(calibrated, texts, Y, source=None)
        else:
            evaluate_classifier(calibrated, texts, Y, source=None)
    assert calls == {"transform": 0, "predict_topk": 0}


@pytest.mark.parametrize("texts", [[], iter([])])
def test_label_shift_of_no_documents_names_texts(calibrated, texts):
    """estimate_shift(clf, []) was refused as "parameter 'topk' must be at least one
    document", a parameter the caller never passed; it names texts."""
    with pytest.raises(InvalidParameterError, match="parameter 'texts' must be at least one"):
        estimate_shift(calibrated, texts)


def test_help_on_confidence_options_says_what_each_field_does():
    """help(ConfidenceOptions) said 'every field has a sane default' over a bare list
    (n_bands, shrinkage, calibrator_source, lpicp, max_labels: nothing said); each
    field is now named in its docstring."""
    from conftest import undocumented_fields

    assert undocumented_fields(ConfidenceOptions) == []


@pytest.mark.parametrize("call", ["heldout", "evaluate"])
def test_calibration_labels_other_than_0_or_1_are_refused_naming_y_before_scoring(
        calibrated, data, monkeypatch, call):
    """heldout_from_corpus kept a NaN of a gold table's gap as a true label to calibrate
    on; evaluate_confidence refused it after scoring every text, as 'y_true'. Both refuse
    it first, naming Y and the entry."""
    texts = data["test"].texts[:50]
    Y = data["test"].Y[:50].toarray().astype(float)
    Y[7, 2] = np.nan
    calls = count_scoring(monkeypatch, calibrated)
    with pytest.raises(InvalidParameterError,
                       match=r"parameter 'Y' must be labels 0 or 1.*document 7, label 2"):
        if call == "heldout":
            heldout_from_corpus(calibrated, texts, Y)
        else:
            evaluate_confidence(calibrated, texts, Y)
    assert calls == {"transform": 0, "predict_topk": 0}


@pytest.mark.parametrize("call", ["heldout", "evaluate"])
def test_calibration_labels_as_a_list_of_another_shape_are_refused_naming_y(
        calibrated, data, monkeypatch, call):
    """A Y given as a list of lists, of fewer rows than the texts, passed the shape check
    (it has no .shape) and was refused after every text had been scored, as 'y_true'.
    It is refused first, naming Y and its shape."""
    texts = data["test"].texts[:50]
    Y = data["test"].Y[:10].toarray().tolist()
    calls = count_scoring(monkeypatch, calibrated)
    with pytest.raises(InvalidParameterError, match=r"parameter 'Y' .*got 'shape \(10, "):
        if call == "heldout":
            heldout_from_corpus(calibrated, texts, Y)
        else:
            evaluate_confidence(calibrated, texts, Y)
    assert calls == {"transform": 0, "predict_topk": 0}


def test_suggest_sets_counts_the_documents_that_abstain_and_why(calibrated_cli_bundle,
                                                                goemotions_small, tmp_path):
    """suggest --sets printed no count of the sets that abstain ("send to a human"): a
    finance walk read every set to learn that all of them did, and not why."""
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(goemotions_small["test"].read_text().splitlines(True)[:50]))
    result = run("suggest", calibrated_cli_bundle, docs, "--sets", "--max-set-size", "25",
                 "--min-confidence", "0.5", quiet=False)
    assert result.exit_code == 0, result.output
    sets = [json.loads(line)["set"] for line in result.stdout.splitlines()]  # stdout: JSON
    n_abstain = sum(s["abstain"] for s in sets)
    large = sum("too_large" in s["abstain_reasons"] for s in sets)
    unsure = sum("low_confidence" in s["abstain_reasons"] for s in sets)
    assert large == sum(s["size"] > 25 for s in sets)
    assert all(bool(s["abstain_reasons"]) == s["abstain"] for s in sets)
    assert 0 < large < n_abstain and 0 < unsure  # both reasons are met on these documents
    assert (f"{n_abstain} of 50 documents ({n_abstain / 50:.1%}) abstain (send to a human): "
            f"{large} with a set too large (more than 25 labels, --max-set-size), "
            f"{unsure} with confidence below --min-confidence 0.5") in result.stderr
    tsv = run("suggest", calibrated_cli_bundle, docs, "--sets", "--format", "tsv",
              "--set-method", "lpicp", quiet=False)
    assert tsv.exit_code == 0, tsv.output
    flags = {row.split("\t")[0]: row.split("\t")[5] for row in tsv.stdout.splitlines()}
    n_lpicp = sum(flag == "abstain" for flag in flags.values())
    assert f"{n_lpicp} of 50 documents" in tsv.stderr and "abstain" not in tsv.stdout.replace(
        "\tabstain", "")
    quiet = run("suggest", calibrated_cli_bundle, docs, "--sets")  # -q: errors only
    assert quiet.exit_code == 0 and "send to a human" not in quiet.stderr


def test_suggest_sets_counts_the_empty_sets_that_do_not_abstain(calibrated_cli_bundle,
                                                                goemotions_small, tmp_path):
    """A recall set of no label does not abstain, and the last line counted only the
    sets that do: a support team routing tickets by the sets read "1 of 20 documents
    abstains" and lost a ticket whose set was empty (no queue, and no person). The line
    counts them apart, saying that they name no label."""
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(goemotions_small["test"].read_text().splitlines(True)[:50]))
    result = run("suggest", calibrated_cli_bundle, docs, "--sets", "--alpha", "0.6",
                 quiet=False)
    assert result.exit_code == 0, result.output
    sets = [json.loads(line)["set"] for line in result.stdout.splitlines()]
    n_abstain = sum(s["abstain"] for s in sets)
    empty = sum(s["size"] == 0 and not s["abstain"] for s in sets)
    assert empty > 1  # at this alpha some sets hold no label and do not abstain
    assert (f"{n_abstain} of 50 documents ({n_abstain / 50:.1%}) abstain (send to a "
            f"human)") in result.stderr
    more = " more" if n_abstain else ""  # none abstains here: "0 ...; 6 have"
    assert (f"; {empty}{more} have an empty set (no label reaches the set's threshold) and "
            "do not abstain: a set of size 0 names no label, so send them to a human too "
            "(a smaller --alpha makes sets reach further down)") in result.stderr
    full = run("suggest", calibrated_cli_bundle, docs, "--sets", "--alpha", "0.05",
               quiet=False)
    assert full.exit_code == 0, full.output
    assert all(json.loads(line)["set"]["size"] for line in full.stdout.splitlines())
    assert "empty set" not in full.stderr


def test_the_empty_sets_are_no_more_after_no_document_abstains(capsys):
    """With no document abstaining the line read "0 of 20 documents (0.0%) abstain (send
    to a human); 1 more has an empty set": "more" than none."""
    from collections import Counter

    import click

    from tagsmith.cli.commands import _say_abstained

    with click.Context(click.Command("suggest"), obj={}):
        _say_abstained(Counter(empty_kept=1), 20, 0.5, 4)
        _say_abstained(Counter(abstain=2, low_confidence=2, empty_kept=3), 20, 0.5, 4)
    none, some = capsys.readouterr().err.splitlines()
    assert none.startswith("0 of 20 documents (0.0%) abstain (send to a human); 1 has an "
                           "empty set (no label reaches"), none
    assert "; 3 more have an empty set" in some, some


def test_calibrate_says_plainly_when_no_label_can_be_suggested(calibrated_cli_bundle,
                                                               goemotions_small, tmp_path,
                                                               caplog):
    """calibrate --min-precision 0.9 on 90 conformal documents left every suggestion
    empty (no label reached the target), and neither its warning nor its summary said
    that nothing would be suggested."""
    out = tmp_path / "strict"
    result = run("calibrate", calibrated_cli_bundle, "--min-precision", "0.9", "-o", out,
                 quiet=False)
    assert result.exit_code == 0, result.output
    assert "28 never predicted" in result.stdout
    assert "no label can ever be suggested: suggestions will be empty" in result.stdout
    # logged, as every warning (pytest's handler on the root has it, not stderr)
    assert "no label can ever be suggested (28 of 28 never predicted): every suggestion " \
        "at the tuned thresholds (suggest without --threshold) will be empty; give more " \
        "held-out documents (calibrate --data), a lower --min-precision, or leave it out " \
        "for F-beta thresholds" in caplog.text
    # from Python: the parameters, not the commands' options
    caplog.clear()
    clf = TextClassifier.load(calibrated_cli_bundle)
    with caplog.at_level("WARNING", logger="tagsmith"):
        calibrate_classifier(clf, clf.heldout, options=ConfidenceOptions(min_precision=0.9))
    assert "no label can ever be suggested (28 of 28 never predicted): every suggestion " \
        "at the tuned thresholds (suggest without threshold=...) will be empty; give more " \
        "held-out documents, a lower min_precision, or leave it out for F-beta " \
        "thresholds" in caplog.text
    assert "--" not in caplog.text.split("no label can ever be suggested")[1].split("\n")[0]
    texts = goemotions_small["test"].read_text().splitlines()[:20]
    suggested = run("suggest", out, input="\n".join(t.split("\t")[0] for t in texts) + "\n")
    assert all(json.loads(line)["suggestions"] == [] for line in suggested.stdout.splitlines())
    caplog.clear()
    looser = run("calibrate", calibrated_cli_bundle, "--min-precision", "0.5", "-o",
                 tmp_path / "looser", quiet=False)
    assert looser.exit_code == 0, looser.output
    assert "no label can ever be suggested" not in looser.stdout + caplog.text
    assert "of the 28 labels can never be suggested" in caplog.text


def test_shift_save_keeps_unsupported_labels_at_their_calibration_share(
        calibrated_cli_bundle, goemotions_small, tmp_path, caplog):
    """shift --save applied every estimate, those it had just called indistinguishable
    from no shift ('unsupported', on 90 calibration documents) included, and said only
    'probabilities are now adjusted to this shift'."""
    import shutil

    bundle = tmp_path / "model"
    shutil.copytree(calibrated_cli_bundle, bundle)
    docs = tmp_path / "docs.txt"
    lines = goemotions_small["test"].read_text().splitlines()
    docs.write_text("".join(line.split("\t")[0] + "\n" for line in lines))
    before = (bundle / "manifest.json").read_text()
    # every estimated label is unsupported (usual on a month without a shift): nothing is
    # saved, with a warning, and the exit code is 0 (it was refused, exit code 2, and a
    # monthly `shift --save` under `set -e` stopped there)
    caplog.clear()
    skipped = run("shift", bundle, docs, "--min-count", "5", "--save", quiet=False)
    assert skipped.exit_code == 0, skipped.output
    assert f"--save saved nothing, so {bundle} is left as it was: the change of all " \
        in caplog.text and "--save-unsupported" in caplog.text
    # not only the calibration documents: a tiny shift, or few documents in FILES, too
    assert ("The shift may be genuinely tiny, or too few documents measured it: calibrate "
            "on more documents or give more in FILES") in caplog.text
    assert skipped.stdout.splitlines()[-1] == (f"nothing saved: {bundle} is left as it was "
                                               "(every estimated label is unsupported)")
    assert (bundle / "manifest.json").read_text() == before
    assert TextClassifier.load(bundle).label_shift is None
    report = json.loads(run("shift", bundle, docs, "--min-count", "5", "--save",
                            "--json").stdout)
    assert (report["saved"], report["not_saved"]) == (None, "all_unsupported")
    assert report["not_saved_remedy"].startswith("calibrate on more documents or give more in "
                                                 "FILES, or add --save-unsupported")
    assert report["saved_labels"] == report["saved_unsupported"] == 0
    assert (bundle / "manifest.json").read_text() == before
    forced = run("shift", bundle, docs, "--min-count", "5", "--save", "--save-unsupported",
                 "--json")
    assert forced.exit_code == 0, forced.output
    report = json.loads(forced.stdout)
    assert report["saved_unsupported"] == report["n_labels_unsupported"] > 0
    stored = TextClassifier.load(bundle).label_shift
    assert stored.total_variation() == pytest.approx(report["total_variation"], abs=1e-6)
    # a month saving nothing keeps the shift saved before, and says so
    caplog.clear()
    kept = (bundle / "label_shift.json").read_bytes()
    assert run("shift", bundle, docs, "--min-count", "5", "--save", quiet=False).exit_code == 0
    assert (bundle / "label_shift.json").read_bytes() == kept
    assert "left as it was (the shift it stored before stays; shift --clear removes it)" \
        in caplog.text
    # 3,000 calibration documents, and documents of two emotions over-represented: some
    # labels' change is supported, the others' is not
    more = tmp_path / "more"
    assert run("calibrate", bundle, "--data", goemotions_small["train"], "-o",
               more).exit_code == 0
    shifted = tmp_path / "shifted.txt"
    picked = [line.split("\t")[0] + "\n" for line in lines
              if "gratitude" in line or "admiration" in line]
    shifted.write_text("".join(picked * 3) + docs.read_text())
    saved = run("shift", more, shifted, "--min-count", "5", "--save", "--json")
    assert saved.exit_code == 0, saved.output
    report = json.loads(saved.stdout)
    n_unsupported = report["n_labels_unsupported"]
    assert 0 < n_unsupported < report["n_labels_estimated"]
    assert report["saved_labels"] == report["n_labels_estimated"] - n_unsupported
    assert report["saved_unsupported"] == 0
    stored = TextClassifier.load(more).label_shift
    assert stored.total_variation() == pytest.approx(report["total_variation_supported"],
                                                     abs=1e-6)
    assert report["total_variation_saved"] == report["total_variation_supported"] \
        < report["total_variation"]
    assert int(np.count_nonzero(stored.target_prior != stored.source_prior)) \
        == report["saved_labels"]
    said = run("shift", more, shifted, "--min-count", "5", "--save")
    assert said.exit_code == 0, said.output
    assert (f"the estimates of {report['saved_labels']} labels (total variation "
            f"{report['total_variation_supported']:.4f}); the {n_unsupported} unsupported "
            "labels keep their calibration share (--save-unsupported applies them)") \
        in said.stdout
    assert run("shift", more, shifted, "--save-unsupported").exit_code == 2  # not alone


def test_train_s_wide_sets_warning_names_the_commands_that_take_alpha(goemotions_small,
                                                                      tmp_path, caplog):
    """train --calibration-fraction warned 'at alpha 0.1 ... Use a larger alpha', and
    train has no --alpha: the warning names the commands that take it."""
    result = run("train", goemotions_small["dev"], "--output", tmp_path / "model", "--vocab",
                 goemotions_small["vocab"], "--dev-fraction", "0", "--calibration-fraction",
                 "0.3", *FAST, quiet=False)
    assert result.exit_code == 0, result.output
    warned = [r.getMessage() for r in caplog.records if "too wide to use" in r.getMessage()]
    assert len(warned) == 1, warned
    assert warned[0].startswith("at alpha 0.1 the conformal sets are too wide to use")
    assert ("Use a larger alpha (calibrate --alpha for the bundle's sets, suggest --sets "
            "--alpha for one run's)") in warned[0]
    # where more conformal documents come from, train's share in its own words: read
    # "(a larger share than the conformal share 0.5 (train's fixed split ...), or more
    # held-out documents)", parentheses in parentheses
    assert ("or a better-trained model. More conformal documents come from more held-out "
            "documents or a larger share than the conformal share 0.5 (train's fixed split "
            "of what --calibration-fraction set aside") in warned[0], warned[0]
    # the set-size limit in train's words too: "max_set_size" named a parameter train
    # has no option for
    assert "max_set_size" not in warned[0] and "--max-set-size, so" not in warned[0]
    assert ("sets larger than 4 labels (train's default limit, which tagsmith calibrate "
            "--max-set-size sets otherwise) abstain: ") in warned[0], warned[0]
    # the limit said once, not once a method (the demo's line said it three times)
    assert warned[0].count("default limit") == 1, warned[0]
    depth = 0
    for char in warned[0]:
        depth += {"(": 1, ")": -1}.get(char, 0)
        assert depth <= 1, warned[0]


def test_calibrate_warns_when_the_sets_it_fits_are_too_wide_to_use(calibrated_cli_bundle,
                                                                   goemotions_small, tmp_path,
                                                                   caplog):
    """A clinical-coding walk calibrated on a small corpus: every lpicp set was the whole
    label space and every document abstained (mondrian sets held 31 of 77 codes), and
    nothing said so before suggest."""
    result = run("calibrate", calibrated_cli_bundle, "-o", tmp_path / "wide", "--json",
                 quiet=False)
    assert result.exit_code == 0, result.output
    own = json.loads(result.stdout)["conformal"]["sets_on_conformal_documents"]
    assert set(own) == {"recall", "mondrian", "lpicp"}
    assert own["lpicp"]["set_size_mean"] > 20 and own["lpicp"]["too_large_rate"] == 1.0
    # logged, as every warning (pytest's handler on the root has it, not stderr)
    warned = [r.getMessage() for r in caplog.records if "too wide to use" in r.getMessage()]
    assert len(warned) == 1, warned  # once, naming every method
    assert warned[0].startswith("at --alpha 0.1 the conformal sets are too wide to use: on "
                                "the 90 conformal documents themselves, of 28 labels, ")
    assert ("sets larger than 4 labels (--max-set-size) abstain: recall sets hold "
            in warned[0]), warned[0]
    assert f"lpicp sets hold {own['lpicp']['set_size_mean']:.1f} on average (90 of 90 " \
        "too large)" in warned[0]
    assert "with only 90 calibration documents with a true label" in warned[0]
    assert "a larger share than --conformal-fraction 0.5" in warned[0]
    assert ("Use a larger --alpha (calibrate --alpha for the bundle's sets, suggest --sets "
            "--alpha for one run's), another set method") in warned[0]
    # the command line's wording of a warning that names another command's option
    assert [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("thresholds on few held-out positives")
            and r.getMessage().endswith("; eval --per-label gives each label's precision "
                                        "and recall with intervals")], caplog.text
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(line.split("\t")[0] + "\n" for line in
                            goemotions_small["test"].read_text().splitlines()[:20]))
    said = run("suggest", tmp_path / "wide", docs, "--sets", "--set-method", "lpicp",
               quiet=False)
    assert "20 of 20 documents (100.0%) abstain" in said.stderr
    assert "half the sets or more are too large: try a larger --alpha" in said.stderr
    caplog.clear()
    loose = run("calibrate", calibrated_cli_bundle, "-o", tmp_path / "loose", "--alpha",
                "0.6", quiet=False)
    assert loose.exit_code == 0, loose.output
    assert "too wide to use" not in caplog.text


def test_the_wide_sets_warning_names_python_parameters_to_a_python_caller(
        calibrated_cli_bundle, caplog):
    """A notebook's calibrate_classifier warned of sets too wide to use and told it to
    use "calibrate --alpha", "suggest --sets --alpha" and "--set-method": commands, not
    the parameters it can pass. From Python it names ConfidenceOptions(alpha=...) and
    predict_sets(alpha=..., method=...); the CLI's wording is the command line's (the
    tests above pin it)."""
    clf = TextClassifier.load(calibrated_cli_bundle)
    assert clf.heldout is not None
    with caplog.at_level("WARNING", logger="tagsmith"):
        calibrate_classifier(clf, clf.heldout)
    warned = [r.getMessage() for r in caplog.records if "too wide to use" in r.getMessage()]
    assert len(warned) == 1, warned
    assert warned[0].startswith("at alpha 0.1 the conformal sets are too wide to use")
    assert ("Use a larger alpha (ConfidenceOptions(alpha=...) for the classifier's sets, "
            "predict_sets(alpha=...) for one call's), another set method "
            "(predict_sets(method=...))") in warned[0], warned[0]
    assert "calibrate --alpha" not in warned[0] and "--set-method" not in warned[0]
    assert "a larger share than conformal_fraction 0.5" in warned[0], warned[0]
    # the advice of the thresholds on few positives too: eval's option from calibrate
    few = [r.getMessage() for r in caplog.records
           if r.getMessage().startswith("thresholds on few held-out positives")]
    assert len(few) == 1, few
    assert few[0].endswith("; evaluate_classifier(..., per_label=True) gives each label's "
                           "precision and recall with intervals"), few[0]


def test_calibrate_s_wide_sets_check_counts_no_lpicp_label_sets(calibrated_cli_bundle,
                                                                 calibrated, data, tmp_path):
    """calibrate's (and train's) check of the sets' width predicted the LP-ICP sets of
    every conformal document, counting each one's label sets (up to a million), only to
    read their possible labels and too-large flags: 22 s of a weak model's 2,000
    documents of 28 labels. It reads them without the count, as predict gives them."""
    from tagsmith.conformal import lpicp

    counted = lpicp._count_within.cache_info()
    result = run("calibrate", calibrated_cli_bundle, "-o", tmp_path / "again", "--json")
    assert result.exit_code == 0, result.output
    assert lpicp._count_within.cache_info() == counted  # no label set counted
    own = json.loads(result.stdout)["conformal"]["sets_on_conformal_documents"]
    assert set(own) == {"recall", "mondrian", "lpicp"} and own["lpicp"]["set_size_mean"] > 0
    conformal = calibrated.conformal
    probs = calibrated.predict_topk(data["test"].texts[:300], 28)
    for method in conformal.methods():
        for limit in (None, 2, 5):
            sizes, too_large = conformal.set_sizes(probs, method=method, max_set_size=limit)
            sets = conformal.predict(probs, method=method, max_set_size=limit)
            expected = (sets.possible.sum(axis=1) if method == "lpicp" else sets.size)
            np.testing.assert_array_equal(sizes, expected)
            np.testing.assert_array_equal(too_large, sets.too_large)
    with pytest.raises(InvalidParameterError, match="max_set_size"):
        conformal.set_sizes(probs, method="lpicp", max_set_size=0)


def test_suggest_s_lpicp_text_rows_count_no_label_sets(calibrated_cli_bundle, calibrated,
                                                       goemotions_small, tmp_path):
    """suggest --sets --set-method lpicp counted every document's label sets (up to a
    million each: 21 s of a weak model's 2,000 documents) for its text rows, which show
    the possible labels and no count. The text rows count none; JSON's n_label_sets is
    predict's count, as before."""
    from tagsmith.conformal import lpicp

    docs = tmp_path / "docs.txt"
    lines = goemotions_small["test"].read_text().splitlines(True)[:40]
    docs.write_text("".join(lines))
    counted = lpicp._count_within.cache_info()
    tsv = run("suggest", calibrated_cli_bundle, docs, "--sets", "--set-method", "lpicp",
              "--format", "tsv")
    assert tsv.exit_code == 0, tsv.output
    assert lpicp._count_within.cache_info() == counted  # no label set counted
    assert len({row.split("\t")[0] for row in tsv.stdout.splitlines()}) == 40
    as_json = run("suggest", calibrated_cli_bundle, docs, "--sets", "--set-method", "lpicp")
    assert as_json.exit_code == 0, as_json.output
    assert lpicp._count_within.cache_info() != counted  # JSON shows the count
    sets = [json.loads(line)["set"] for line in as_json.stdout.splitlines()]
    clf = TextClassifier.load(calibrated_cli_bundle)
    texts = [line.rstrip("\n").split("\t")[0] for line in lines]
    expected = clf.predict_sets(texts, method="lpicp")
    assert [s["n_label_sets"] for s in sets] == expected.n_sets.tolist()
    assert not expected.capped.any() and all("n_label_sets_capped" not in s for s in sets)
    # the same documents' TSV sizes are the JSON ones
    sizes = {row.split("\t")[0]: int(row.split("\t")[4]) for row in tsv.stdout.splitlines()}
    assert list(sizes.values()) == [s["size"] for s in sets]


def test_lpicp_n_label_sets_says_where_it_is_a_lower_bound(calibrated, data):
    """suggest's JSON printed n_label_sets 1000000 for every document of a weak model:
    the count's cap, a lower bound, read as exact. A capped count now comes with
    "n_label_sets_capped": true; an exact one as before, without the key. predict counts
    the label sets when they are first read (or for max_sets), not before."""
    from tagsmith.conformal import lpicp

    icp = calibrated.conformal.lpicp
    probs = calibrated.predict_topk(data["test"].texts[:200], 28)
    counted = lpicp._count_within.cache_info()
    sets = icp.predict(probs, 0.1, count_cap=40)
    assert lpicp._count_within.cache_info() == counted  # nothing read the count yet
    full = icp.predict(probs, 0.1).n_sets
    assert lpicp._count_within.cache_info() != counted
    np.testing.assert_array_equal(sets.n_sets, np.minimum(full, 40))
    np.testing.assert_array_equal(sets.capped, full >= 40)
    assert 0 < sets.capped.sum() < len(sets)  # both kinds are met
    documents = calibrated._document_sets(sets, "lpicp", "en", 100)
    for doc, n, capped in zip(documents, sets.n_sets, sets.capped, strict=True):
        assert doc.extra["n_label_sets"] == n
        assert doc.extra.get("n_label_sets_capped") is (True if capped else None)
        keys = list(doc.to_dict())
        assert keys[keys.index("n_label_sets") + 1] == (
            "n_label_sets_capped" if capped else "certain")
    uncounted = calibrated._document_sets(sets, "lpicp", "en", 100, count=False)
    assert all("n_label_sets" not in d.extra and "certain" in d.extra for d in uncounted)
    # max_sets reads the count: its too-large flags are those of the full count
    limited = icp.predict(probs, 0.1, max_sets=10)
    np.testing.assert_array_equal(limited.too_large,
                                  icp.predict(probs, 0.1).too_large | (full > 10))


def test_the_wide_sets_warning_of_one_band_counts_its_documents_once(calibrated_cli_bundle,
                                                                      tmp_path, caplog):
    """With one frequency band (no mondrian sets) the warning said "with only 90
    calibration documents with a true label (90) the threshold ...": the smallest
    band's count, in parentheses, repeated the whole count with nothing to tell it by."""
    result = run("calibrate", calibrated_cli_bundle, "-o", tmp_path / "one", "--bands", "1",
                 quiet=False)
    assert result.exit_code == 0, result.output
    warned = [r.getMessage() for r in caplog.records if "too wide to use" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "mondrian" not in warned[0]
    assert ("; with only 90 calibration documents with a true label the threshold is more "
            "cautious still.") in warned[0], warned[0]


@pytest.mark.parametrize("too_large, said", [(2, True), (1, False)])
def test_suggest_sets_summary_says_half_where_half_the_sets_are_too_large(capsys, too_large,
                                                                          said):
    """suggest --sets' summary said "most sets are too large" of 2 sets of 4: its
    condition is half or more, and the words now say that."""
    import click

    from tagsmith.cli.commands import _say_abstained

    with click.Context(click.Command("suggest")):
        _say_abstained(Counter(abstain=too_large, too_large=too_large), 4, 0.0, 5)
    line = capsys.readouterr().err
    assert line.startswith(f"{too_large} of 4 documents")
    assert ("; half the sets or more are too large: try a larger --alpha" in line) is said
    assert "most sets" not in line


def test_eval_calibration_gives_the_sets_recall_per_frequency_band(calibrated, calibrated_bundle,
                                                                   data, goemotions_small):
    """A moderation team read one recall per set method (0.79 at alpha 0.2) and could not
    see that the marginal recall sets held 0.61 of the rare labels, nor check the
    mondrian sets' promise, which is each band's: eval --calibration gives each band's."""
    test = data["test"]
    report = evaluate_confidence(calibrated, test.texts, test.Y, alphas=(0.2,))
    bands = calibrated.calibrator.bands
    assert bands.n_bands > 1
    raw = calibrated.predict_topk(test.texts, k=calibrated.conformal.k, calibrated=False)
    probs = calibrated.to_probabilities(raw, adjust_shift=False)
    Y = sp.csr_matrix(test.Y).toarray().astype(bool)
    for method in ("recall", "mondrian"):
        rows = report["sets"]["alpha=0.2"][method]["recall_by_band"]
        assert [row["band"] for row in rows] == bands.names()
        members = calibrated.conformal.predict(probs, alpha=0.2,
                                               method=method).to_csr().toarray()
        for b, row in enumerate(rows):
            in_band = Y & (bands.band_of == b)[None, :]
            docs = in_band.any(axis=1)
            assert row["n_docs"] == int(docs.sum()) and row["n_labels"] == bands.sizes()[b]
            share = (in_band & members).sum(axis=1)[docs] / in_band.sum(axis=1)[docs]
            assert row["recall_mean"] == pytest.approx(float(share.mean()))
    table = run("eval", calibrated_bundle, goemotions_small["test"], "--calibration",
                "--alpha", "0.2")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    for method in ("recall", "mondrian"):
        at = next(i for i, line in enumerate(lines) if line.startswith(f"alpha=0.2 {method} "))
        rows = report["sets"]["alpha=0.2"][method]["recall_by_band"]
        assert lines[at + 1] == "  recall by band (train count): " + ", ".join(
            f"{row['band']} {row['recall_mean']:.4f} ({row['n_docs']} docs)" for row in rows)


def test_shift_json_names_each_listed_label_by_its_uri(calibrated_cli_bundle,
                                                      goemotions_small, tmp_path):
    """A trust-and-safety dashboard fed by a monthly `shift --json` had only `label_id`
    (the label's place in this bundle, which a retrained bundle numbers anew) and
    `label` (its name in --lang) to key a label by: each listed label now has its URI,
    as suggest's and eval's JSON name labels."""
    docs = tmp_path / "docs.txt"
    lines = goemotions_small["test"].read_text().splitlines()
    docs.write_text("".join(line.split("\t")[0] + "\n" for line in lines))
    result = run("shift", calibrated_cli_bundle, docs, "--min-count", "5", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["largest_changes"]
    space = TextClassifier.load(calibrated_cli_bundle).label_space
    assert rows and [row["uri"] for row in rows] == [space[row["label_id"]].uri
                                                     for row in rows]
    assert all(list(row)[:3] == ["label_id", "uri", "label"] for row in rows)


def test_suggest_sets_says_it_ignores_a_saved_label_shift(calibrated_cli_bundle,
                                                          goemotions_small, tmp_path, caplog):
    """After `shift --save`, suggest --sets used the calibration's label frequencies, as
    documented, without a word: a trust-and-safety team saved a scam wave's shift and
    read the sets as still holding 1 - alpha of the true labels (0.87 at alpha 0.1)."""
    import shutil

    bundle = tmp_path / "model"
    shutil.copytree(calibrated_cli_bundle, bundle)
    docs = tmp_path / "docs.txt"
    lines = goemotions_small["test"].read_text().splitlines()
    docs.write_text("".join(line.split("\t")[0] + "\n" for line in lines[:20]))
    said = "holds a label shift (shift --save, total variation"
    plain = run("suggest", bundle, docs, "--sets", quiet=False)
    assert plain.exit_code == 0, plain.output
    assert said not in caplog.text  # no shift, no word of one
    assert run("shift", bundle, docs, "--min-count", "5", "--save",
               "--save-unsupported").exit_code == 0
    caplog.clear()
    result = run("suggest", bundle, docs, "--sets", quiet=False)
    assert result.exit_code == 0, result.output
    stored = TextClassifier.load(bundle).label_shift
    assert f"{bundle} {said} {stored.total_variation():.4f}), which --sets does not apply" \
        in caplog.text and "calibrate --data" in caplog.text
    assert caplog.text.count(said) == 1  # once, not per batch
    assert [json.loads(line)["set"] for line in result.stdout.splitlines()] == \
        [json.loads(line)["set"] for line in plain.stdout.splitlines()]
    caplog.clear()  # the ranked suggestions apply it: no word of it
    assert run("suggest", bundle, docs, quiet=False).exit_code == 0
    assert said not in caplog.text


def test_suggest_sets_empty_set_advice_knows_documents_may_rightly_carry_no_label(
        calibrated_cli_bundle, goemotions_small, tmp_path):
    """A moderation team, half of whose posts are benign (no label), read 'send them to
    a human too' of every empty set: half its traffic. Where calibration documents
    carried no label, the line says that an empty set is then also that answer."""
    corpus = tmp_path / "posts.tsv"
    lines = goemotions_small["dev"].read_text().splitlines()
    # every other post benign: its text, a TAB and no label
    corpus.write_text("".join((line.split("\t")[0] + "\t" if i % 2 else line) + "\n"
                              for i, line in enumerate(lines)))
    bundle = tmp_path / "model"
    trained = run("train", corpus, "--output", bundle, "--vocab", goemotions_small["vocab"],
                  "--dev-fraction", "0", "--calibration-fraction", "0.3", *FAST)
    assert trained.exit_code == 0, trained.output
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(line.split("\t")[0] + "\n"
                            for line in goemotions_small["test"].read_text().splitlines()[:50]))
    conformal = TextClassifier.load(bundle).conformal
    n_none = conformal.n_docs - int(conformal.recall.n_docs.sum())
    assert 0 < n_none < conformal.n_docs
    said = ("unless a document can rightly carry no label ({} of the sets' {} calibration "
            "documents carried {}): an empty set is then also that answer, which the sets "
            "do not tell from a miss")
    # labels without a training document (rare ones, in 420) count a calibration
    # document of theirs alone with those that carried none: the line says so
    carried = ("none, or only labels never trained" if conformal.recall.n_excluded
               else "none")
    result = run("suggest", bundle, docs, "--sets", "--alpha", "0.9", quiet=False)
    assert result.exit_code == 0, result.output
    assert "have an empty set" in result.stderr
    assert said.format(n_none, conformal.n_docs, carried) in result.stderr
    # every calibration document labelled (GoEmotions): the advice stands as it was
    plain = run("suggest", calibrated_cli_bundle, docs, "--sets", "--alpha", "0.6",
                quiet=False)
    assert plain.exit_code == 0 and "have an empty set" in plain.stderr, plain.output
    assert "rightly carry no label" not in plain.stderr


def test_suggest_sets_empty_set_advice_counts_documents_of_untrained_labels_as_such(
        goemotions_small, tmp_path):
    """The empty-set advice counted a calibration document whose only labels the model
    never trained on (left out of the sets' calibration) as one that "carried none":
    every such document of a label new since training read as a benign one."""
    # neutral never trained: stripped from every training document (those left with no
    # label dropped), then calibrated on documents that carry it
    neutral = "<urn:goemotions:neutral>"
    corpus = tmp_path / "train.tsv"
    kept = []
    for line in goemotions_small["dev"].read_text().splitlines():
        text, labels, *rest = line.split("\t")
        labels = " ".join(label for label in labels.split() if label != neutral)
        if labels:
            kept.append("\t".join([text, labels, *rest]) + "\n")
    corpus.write_text("".join(kept))
    model = tmp_path / "model"
    trained = run("train", corpus, "--output", model, "--vocab", goemotions_small["vocab"],
                  "--dev-fraction", "0", *FAST)
    assert trained.exit_code == 0, trained.output
    bundle = tmp_path / "calibrated"
    calibrated = run("calibrate", model, "--data", goemotions_small["test"], "-o", bundle)
    assert calibrated.exit_code == 0, calibrated.output
    conformal = TextClassifier.load(bundle).conformal
    assert conformal.recall.n_excluded > 0
    # every calibration document carries a label: those counted carry only neutral
    n_none = conformal.n_docs - int(conformal.recall.n_docs.sum())
    assert all(line.split("\t")[1].strip()
               for line in goemotions_small["test"].read_text().splitlines())
    assert 0 < n_none < conformal.n_docs
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(line.split("\t")[0] + "\n"
                            for line in goemotions_small["test"].read_text().splitlines()[:50]))
    result = run("suggest", bundle, docs, "--sets", "--alpha", "0.9", quiet=False)
    assert result.exit_code == 0, result.output
    assert "have an empty set" in result.stderr, result.output
    assert (f"({n_none:,} of the sets' {conformal.n_docs:,} calibration documents carried "
            "none, or only labels never trained): an empty set") in result.stderr
