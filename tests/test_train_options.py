"""Option combinations of ``tagsmith train`` (and the commands reading its bundles) that
were accepted and then did something else than asked, run end to end through the CLI."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.calibration.thresholds import tune_thresholds
from tagsmith.data.vocab import load_vocabulary
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import TrainOptions, train_classifier

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]


def run(*args, input=None):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)], input=input)


def test_train_with_dev_and_a_calibration_split_tunes_the_thresholds_on_dev(
        goemotions_small, tmp_path):
    """--dev is the corpus to tune thresholds on: with --calibration-fraction they were
    tuned again on half of the calibration split, and the dev corpus only reported."""
    out = tmp_path / "model"
    result = run("train", goemotions_small["train"], "-o", out, "--vocab",
                 goemotions_small["vocab"], "--dev", goemotions_small["dev"],
                 "--calibration-fraction", "0.2", "--json", *FAST)
    assert result.exit_code == 0, result.output
    clf = TextClassifier.load(out)
    dev = read_labelled(goemotions_small["dev"], clf.label_space)
    assert (clf.label_counts > 0).all()  # every label learnt: none is held at 'never'
    # F1-optimal on the dev corpus's calibrated probabilities, backing off by band
    probs = clf.predict_topk(dev.texts, clf.n_labels)
    expected = tune_thresholds(dev.Y, probs, bands=clf.calibrator.bands)
    np.testing.assert_allclose(clf.thresholds.per_label, expected.per_label, rtol=1e-6)
    assert clf.thresholds.min_labels == expected.min_labels
    # what the calibration split alone tunes (calibrate redoes it on the stored split)
    result = run("calibrate", out, "-o", tmp_path / "recalibrated")
    assert result.exit_code == 0, result.output
    split_only = TextClassifier.load(tmp_path / "recalibrated").thresholds
    assert not np.allclose(split_only.per_label, clf.thresholds.per_label)
    heldout = clf.manifest["metrics"]["heldout"]
    assert heldout["source"] == str(goemotions_small["dev"])  # --dev, as given
    assert heldout["thresholds"] == "calibrated_here"
    # the file, as calibrate names its --data ("dev corpus" named none)
    assert clf.manifest["calibration"]["thresholds_source"] == str(goemotions_small["dev"])
    # it said "conformal" (the part of the split the thresholds were tuned on before dev
    # replaced them), beside a thresholds_source naming the dev corpus
    assert clf.manifest["calibration"]["thresholds_tuned_on"] == "heldout"
    assert clf.manifest["calibration"]["thresholds"] == clf.thresholds.summary()
    # not the split's part, which tuned the thresholds these replaced (it read 'calibrator')
    assert clf.manifest["calibration"]["thresholds_tuned_on"] == "heldout"
    # the held-out figures are what eval measures on the dev corpus
    result = run("eval", out, goemotions_small["dev"], "--json")
    assert json.loads(result.output)["micro_f1"] == pytest.approx(
        heldout["metrics"]["micro_f1"])
    # and a later calibration says it replaced them
    recalibrated = TextClassifier.load(tmp_path / "recalibrated").manifest
    assert recalibrated["metrics"]["heldout"]["thresholds"] == "replaced_by_calibration"


@pytest.mark.parametrize("refit", [False, True])
def test_a_dev_split_the_final_model_never_saw_tunes_the_calibrated_thresholds(
        goemotions_small, tmp_path, refit):
    """--no-refit keeps the --dev-fraction split unseen, so it tunes as --dev does; after
    a refit the final model saw it, and the calibration split tunes them."""
    out = tmp_path / "model"
    result = run("train", goemotions_small["train"], "-o", out, "--vocab",
                 goemotions_small["vocab"], "--dev-fraction", "0.25",
                 *([] if refit else ["--no-refit"]), "--calibration-fraction", "0.2", *FAST)
    assert result.exit_code == 0, result.output
    manifest = TextClassifier.load(out).manifest
    recalibrated = tmp_path / "recalibrated"
    assert run("calibrate", out, "-o", recalibrated).exit_code == 0
    split_only = TextClassifier.load(recalibrated).thresholds
    thresholds = TextClassifier.load(out).thresholds
    if refit:
        assert "thresholds_source" not in manifest["calibration"]
        assert manifest["calibration"]["thresholds_tuned_on"] == "calibrator"
        np.testing.assert_array_equal(split_only.per_label, thresholds.per_label)
    else:
        assert manifest["calibration"]["thresholds_source"].startswith(
            "0.25 of the training data")
        assert manifest["calibration"]["thresholds_tuned_on"] == "heldout"
        assert manifest["metrics"]["heldout"]["thresholds"] == "calibrated_here"
        assert manifest["calibration"]["thresholds_tuned_on"] == "heldout"
        assert not np.allclose(split_only.per_label, thresholds.per_label)


@pytest.mark.parametrize("args, message", [
    # --sets with TSV rows lists the set members alone: -k cut and --threshold filtered
    # nothing there, and the user got the whole set back
    (["suggest", "{bundle}", "--sets", "--format", "tsv", "-k", "2"],
     "-k/--k only applies with ranked suggestions (with --sets, --format json has them)"),
    (["suggest", "{bundle}", "--sets", "--format", "tsv", "--threshold", "0.9"],
     "--threshold only applies with ranked suggestions"),
    # no share held out: the model was fitted once on everything, --no-refit meant nothing
    (["train", "{corpus}", "-o", "{out}", "--dev-fraction", "0", "--no-refit"],
     "--no-refit only applies with a share of CORPUS held out (--dev-fraction above 0)"),
])
def test_options_the_other_options_leave_nothing_to_do_are_refused(
        goemotions_small, tmp_path, args, message):
    filled = [arg.format(bundle=tmp_path / "no-bundle", corpus=goemotions_small["train"],
                         out=tmp_path / "out") for arg in args]
    result = run(*filled, input="I am so happy\n")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_the_same_options_still_work_where_they_apply(goemotions_small, tmp_path):
    out = tmp_path / "model"
    result = run("train", goemotions_small["train"], "-o", out, "--vocab",
                 goemotions_small["vocab"], "--dev-fraction", "0.2", "--no-refit",
                 "--calibration-fraction", "0.2", *FAST)
    assert result.exit_code == 0, result.output
    for fmt in ("json", "tsv"):
        result = run("suggest", out, "--format", fmt, "-k", "2", "--threshold", "0",
                     input="I am so happy\n")
        assert result.exit_code == 0 and len(result.output.splitlines()) == \
            (1 if fmt == "json" else 2), result.output
    result = run("suggest", out, "--sets", "-k", "1", "--threshold", "0",
                 input="I am so happy\n")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["suggestions"]) == 1


def test_train_fits_the_calibrator_on_out_of_fold_scores_when_asked(goemotions_small,
                                                                    tmp_path):
    """README's cross-fitted calibrator could be chosen from Python alone: nothing on the
    command line selected it, and --crossfit-folds only stored the scores."""
    out = tmp_path / "model"
    result = run("train", goemotions_small["train"], "-o", out, "--vocab",
                 goemotions_small["vocab"], "--dev-fraction", "0", "--calibration-fraction",
                 "0.2", "--crossfit-folds", "2", "--calibrator-source", "crossfit", *FAST)
    assert result.exit_code == 0, result.output
    calibration = json.loads((out / "manifest.json").read_text())["calibration"]
    assert calibration["calibrator_source"] == "crossfit"
    # every set-aside document goes to the conformal sets, the calibrator to the folds'
    assert calibration["n_conformal_docs"] == 600 and calibration["n_calibrator_docs"] == 2400
    # the summary called the 2,400 training documents set aside
    assert ("calibrated (isotonic) on 2,400 out-of-fold training documents, conformal sets "
            "on 600 documents:") in result.output


@pytest.mark.parametrize("n_docs, dev_fraction", [(12, 0.3), (40, 0.01)])
def test_a_dev_fraction_that_holds_out_nothing_says_the_thresholds_are_untuned(
        goemotions_small, caplog, n_docs, dev_fraction):
    """Fewer than 20 documents, or a share rounding to no document, tuned nothing and
    kept every threshold at 0.5 without a word."""
    caplog.set_level("WARNING", logger="tagsmith")
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    clf = train_classifier(data.texts[:n_docs], data.Y[:n_docs], space, options=TrainOptions(
        dev_fraction=dev_fraction, featurizer_params={"char_ngrams": None, "min_df": 1}))
    assert clf.manifest["metrics"]["heldout"] is None
    assert not clf.thresholds.tuned_mask.any()
    assert f"dev_fraction {dev_fraction:g} of {n_docs} training documents holds out none" \
        in caplog.text
    assert "every label keeps the untuned threshold 0.5" in caplog.text


def test_label_name_features_join_a_tree_on_sentence_embeddings(goemotions_small, tmp_path):
    """-p label_feature_weight=... was ignored without a word unless the features were
    TF-IDF: the tree was built from the documents alone."""
    corpus = tmp_path / "train.tsv"
    corpus.write_text("".join(goemotions_small["train"].read_text().splitlines(True)[:40]))
    scores = {}
    for weight in ("0", "1"):
        out = tmp_path / f"model-{weight}"
        result = run("train", corpus, "-o", out, "--vocab", goemotions_small["vocab"],
                     "--featurizer", "embedding", "--feature-param", "n_threads=2",
                     "--model", "tree", "-p", "leaf_size=4", "-p", "branching=2",
                     "-p", f"label_feature_weight={weight}", "--dev-fraction", "0")
        assert result.exit_code == 0, result.output
        clf = TextClassifier.load(out)
        scores[weight] = clf.predict_topk(["thank you so much, I love it"], 5).scores
    assert not np.array_equal(scores["0"], scores["1"])


def test_an_ensemble_member_fits_with_label_name_features(goemotions_small, tmp_path):
    """-p members=[["tree", {"label_feature_weight": ...}]] was accepted and ignored:
    the ensemble passed no label-name features to its members."""
    corpus = tmp_path / "train.tsv"
    corpus.write_text("".join(goemotions_small["train"].read_text().splitlines(True)[:40]))
    tree = {"leaf_size": 4, "branching": 2}
    scores = {}
    for name, params in [("tree", {**tree, "label_feature_weight": 1}),
                         ("ensemble", {"members": [["tree", {**tree, "label_feature_weight": 0}]]}),
                         ("ensemble-names",
                          {"members": [["tree", {**tree, "label_feature_weight": 1}]]})]:
        out = tmp_path / name
        options = [arg for key, value in params.items()
                   for arg in ("-p", f"{key}={json.dumps(value)}")]
        result = run("train", corpus, "-o", out, "--vocab", goemotions_small["vocab"],
                     "--model", name.split("-")[0], *options, "--dev-fraction", "0")
        assert result.exit_code == 0, result.output
        clf = TextClassifier.load(out)
        scores[name] = clf.predict_topk(["thank you so much, I love it"], 5).scores
    # a one-member ensemble scores as its member does: as the tree given the names
    np.testing.assert_allclose(scores["ensemble-names"], scores["tree"], rtol=1e-6)
    assert not np.allclose(scores["ensemble"], scores["tree"])


def test_the_untuned_thresholds_warning_names_the_option_typed(goemotions_small, tmp_path,
                                                                caplog):
    """train --dev-fraction warned about 'dev_fraction', the library's parameter; Python
    callers still read that name once the command is over."""
    caplog.set_level("WARNING", logger="tagsmith")
    corpus = tmp_path / "train.tsv"
    corpus.write_text("".join(goemotions_small["train"].read_text().splitlines(True)[:12]))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "train", str(corpus), "-o", str(tmp_path / "model"), "--dev-fraction", "0.3", *FAST])
    assert result.exit_code == 0, result.output
    assert "--dev-fraction 0.3 of 12 training documents holds out none" in caplog.text
    assert "dev_fraction" not in caplog.text
    caplog.clear()
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(corpus, space)
    train_classifier(data.texts, data.Y, space, options=TrainOptions(
        dev_fraction=0.3, featurizer_params={"char_ngrams": None, "min_df": 1}))
    assert "dev_fraction 0.3 of 12 training documents holds out none" in caplog.text
    assert "--dev-fraction" not in caplog.text


@pytest.mark.parametrize("featurizer, members, wrong", [
    ("views", [["linear", {}, "wrods"]], "'wrods'"),  # a view no --feature-param names
    ("views2", [["linear", {}]], "no view"),  # two views, and the member names neither
    ("tfidf", [["linear", {}, "words"]], "view 'words'"),  # views without --featurizer views
])
def test_ensemble_members_naming_views_are_checked_before_any_data_is_read(
        tmp_path, featurizer, members, wrong):
    # found only when the ensemble was fitted, after every text had been featurized
    # (sentence embeddings: about 300 texts a second); a missing corpus shows it: the
    # refusal came as exit code 3 for the corpus, not 2 for the parameter
    views = ["--featurizer", "views", "--feature-param", 'words={"kind": "tfidf"}']
    if featurizer == "views2":
        views += ["--feature-param", 'chars={"kind": "tfidf", "word_ngrams": null}']
    result = run("train", tmp_path / "missing.tsv", "-o", tmp_path / "model", "--model",
                 "ensemble", "-p", f"members={json.dumps(members)}",
                 *(views if featurizer != "tfidf" else []))
    assert result.exit_code == 2, result.output
    assert "members[0]" in result.output and wrong in result.output
    assert "missing.tsv" not in result.output


@pytest.mark.parametrize("args, wrong", [
    # a plain model over views: its fit refused the Views ("'X' must be a 2-D feature
    # matrix") once every text had been featurized
    (["--model", "linear"], "'--model' must be 'ensemble' with --featurizer views"),
    # views inside a view: every model failed with "'Views' object has no attribute
    # 'shape'", an AttributeError naming nothing
    (["--model", "ensemble", "-p", 'members=[["linear", {}, "nest"]]', "--feature-param",
      'nest={"kind": "views", "inner": {"kind": "tfidf"}}'],
     "view 'nest'\" must be one featurizer (views do not nest)")])
def test_views_fit_only_ensembles_of_plain_views_checked_before_any_data_is_read(
        tmp_path, args, wrong):
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.features.views import make_featurizer

    result = run("train", tmp_path / "missing.tsv", "-o", tmp_path / "model", "--featurizer",
                 "views", "--feature-param", 'words={"kind": "tfidf"}', *args)
    assert result.exit_code == 2, result.output
    assert wrong in result.output and "missing.tsv" not in result.output
    with pytest.raises(InvalidParameterError, match="views do not nest"):  # the library too
        make_featurizer("views", words={"kind": "views", "inner": {"kind": "tfidf"}})


def test_train_says_what_runs_between_the_held_out_fit_and_the_refit(goemotions_small, caplog):
    """Scoring the held-out documents (a tree's compiled kernels: ~25 s at 25k labels)
    and tuning the thresholds ran without a line between the held-out fit and the refit."""
    caplog.set_level("INFO", logger="tagsmith")
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    train_classifier(data.texts[:200], data.Y[:200], space, options=TrainOptions(
        dev_fraction=0.1, featurizer_params={"char_ngrams": None, "min_df": 1}))
    lines = [r.getMessage() for r in caplog.records]
    scoring = "train: scoring 20 held-out documents to tune thresholds"
    tuning = f"train: tuning thresholds of {len(space)} labels on 20 held-out documents"
    refit = next(i for i, line in enumerate(lines) if line.startswith("refit on all data"))
    assert lines.index(scoring) < lines.index(tuning) < refit


def test_a_calibration_split_of_one_text_names_train_s_own_option(tmp_path):
    """train has no --conformal-fraction, but its refusal of a set-aside share holding one
    text read "parameter 'conformal_fraction' must be ... 1 distinct texts), got 0.5"."""
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"text number {i % 3}\t<u:{i % 3}>\n" for i in range(60)))
    result = run("train", corpus, "-o", tmp_path / "m", "--dev-fraction", "0",
                 "--calibration-fraction", "0.2", *FAST)
    assert result.exit_code == 2
    assert "error: option '--calibration-fraction' must be a share setting aside" \
        in result.output
    assert "the 20 documents hold 1 distinct text);" in result.output
    assert "--calibrator-source same fits both on all of them, got 0.2" in result.output


def test_a_calibration_split_leaving_one_text_to_train_on_warns(tmp_path, caplog):
    """30,000 copies of "Thank you!" among 3,000 other texts: --calibration-fraction 0.1
    set aside every other text, and the model learnt "Thank you!" alone without a word."""
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join([f"text number {i}\t<u:{i % 3}>\n" for i in range(12)]
                              + ["Thank you!\t<u:0>\n"] * 150))
    caplog.set_level("WARNING", logger="tagsmith")
    result = CliRunner().invoke(tagsmith_cli.cli, list(map(str, [
        "train", corpus, "-o", tmp_path / "m", "--dev-fraction", "0",
        "--calibration-fraction", "0.1", "--calibrator-source", "same", *FAST])))
    assert result.exit_code == 0, result.output
    assert ("--calibration-fraction 0.1 set aside 12 documents holding every text but "
            "one: the 150 documents left to train on are copies of one text") in caplog.text


def _small_chunks_and_tiny_tree_batches(goemotions_small, caplog, monkeypatch):
    """GoEmotions' small slice with the classifier's scoring chunk lowered to 8 documents
    and the tree's own bar to batches of 4, INFO lines captured: the one-bar tests."""
    import tagsmith.models.tree as tree_module
    import tagsmith.pipeline.classifier as classifier_module

    monkeypatch.setattr(classifier_module, "PREDICT_CHUNK", 8)
    monkeypatch.setattr(tree_module, "PREDICT_BATCH", 4)
    caplog.set_level("INFO", logger="tagsmith")
    space = load_vocabulary(goemotions_small["vocab"])
    return space, read_labelled(goemotions_small["train"], space)


def test_train_scores_the_held_out_documents_under_one_bar(goemotions_small, caplog,
                                                           monkeypatch):
    """Scoring yso-finna-en's 32,803 dev documents was silent for 9-28 s (the tree shows
    a bar above 65,536 documents only); the classifier's own bar alone logged the
    featurizer's training-time bar once per 8,192-document chunk. Now one bar (the
    thresholds lowered here to 8 documents a chunk, 4 a tree batch) and no other."""
    space, data = _small_chunks_and_tiny_tree_batches(goemotions_small, caplog, monkeypatch)
    clf = train_classifier(data.texts[:200], data.Y[:200], space, options=TrainOptions(
        model="tree", dev_fraction=0.1, show_progress=True, refit=False,
        featurizer_params={"char_ngrams": None, "min_df": 1}))
    lines = [r.getMessage() for r in caplog.records]
    scoring = lines.index("train: scoring 20 held-out documents to tune thresholds")
    tuning = lines.index(f"train: tuning thresholds of {len(space)} labels on 20 held-out "
                         "documents")
    # one bar: its closing line, and on a slow machine its mid-run lines (one each 10 s)
    between = lines[scoring + 1:tuning]
    assert between[-1] == "predicting: 20/20 docs (100%)"
    assert all(line.startswith("predicting: ") for line in between), between
    # the settings are as they were: the model's training-time one kept, the bundle's
    # classifier and featurizer without a bar
    assert clf.model.show_progress
    assert not clf.show_progress and not clf.featurizer.show_progress


@pytest.mark.parametrize("model, model_params", [
    ("tree", {}),
    ("ensemble", {"members": [["linear", {}], ["knn", {"n_neighbors": 3}]]}),
])
def test_bundles_store_the_same_params_with_progress_on_or_off(goemotions_small, tmp_path,
                                                               model, model_params):
    """``tagsmith info`` showed ``"show_progress": true`` among the model's params of a
    bundle trained with progress on (a terminal), ``false`` of one trained with ``-q``:
    the display setting of the training went into the bundle with the model."""
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    stored = []
    for shown in (True, False):
        clf = train_classifier(data.texts[:200], data.Y[:200], space, options=TrainOptions(
            model=model, model_params=model_params, show_progress=shown, crossfit_folds=2,
            featurizer_params={"char_ngrams": None, "min_df": 1}))
        path = clf.save(tmp_path / f"bundle-{shown}")
        manifest = json.loads((path / "manifest.json").read_text())
        model_json = json.loads((path / "model.json").read_text())
        model_json.pop("tuning", None)  # its timings
        crossfit = json.loads((path / "crossfit.json").read_text())
        stored.append((manifest["model"], model_json, crossfit["params"]))
        # the setting is the trained object's still: saving put it back
        assert clf.model.show_progress == shown
    assert stored[0] == stored[1]
    assert "show_progress" not in stored[1][2]


def test_a_bundle_saved_with_its_progress_setting_still_loads(goemotions_small, tmp_path,
                                                              monkeypatch):
    """Older bundles stored the model's ``show_progress`` (true when trained on a
    terminal): they load and predict as before."""
    import contextlib

    import tagsmith.pipeline.classifier as classifier_module

    monkeypatch.setattr(classifier_module, "_display_defaults",
                        lambda model: contextlib.nullcontext())  # saved as before
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    clf = train_classifier(data.texts[:200], data.Y[:200], space, options=TrainOptions(
        model="tree", show_progress=True, featurizer_params={"char_ngrams": None, "min_df": 1}))
    path = clf.save(tmp_path / "old")
    assert json.loads((path / "model.json").read_text())["params"]["show_progress"] is True
    loaded = TextClassifier.load(path)
    assert loaded.predict_topk(data.texts[:5], 3).indices.tolist() \
        == clf.predict_topk(data.texts[:5], 3).indices.tolist()


def test_train_log_lines_write_counts_with_thousands_separators(goemotions_small, caplog):
    """On yso-finna-en the log read 'train: fitting tree on 590522 documents (400000
    features), 27754 labels' and 'label tree depth 1: training 2 nodes on 1181044 rows'
    beside warnings writing '27,754': every count of four digits or more has its commas."""
    import re

    caplog.set_level("INFO", logger="tagsmith")
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    train_classifier(data.texts[:2400], data.Y[:2400], space, options=TrainOptions(
        model="tree", dev_fraction=0.5, featurizer_params={"char_ngrams": None}))
    lines = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert "refit on all data: features for 2,400 documents" in lines
    assert any(line.startswith("train: fitting tree on 1,200 documents (") for line in lines)
    bare = [line for line in lines if re.search(r"(?<![\d.,])\d{4,}(?![\d.])", line)]
    assert not bare, bare


def test_train_scores_the_calibration_split_under_one_bar(goemotions_small, caplog,
                                                          monkeypatch):
    """Scoring the documents --calibration-fraction set aside was the stretch held-out
    scoring was before: a featurizer line, then silence (the tree shows a bar above
    65,536 documents only). Now it is announced, under one bar (the thresholds lowered
    here to 8 documents a chunk, 4 a tree batch) and no other."""
    space, data = _small_chunks_and_tiny_tree_batches(goemotions_small, caplog, monkeypatch)
    clf = train_classifier(data.texts[:300], data.Y[:300], space, options=TrainOptions(
        model="tree", dev_fraction=0.1, calibration_fraction=0.2, show_progress=True,
        featurizer_params={"char_ngrams": None, "min_df": 1}))
    lines = [r.getMessage() for r in caplog.records]
    scoring = lines.index("calibration: scoring 60 set-aside documents")
    calibrating = next(i for i, line in enumerate(lines) if line.startswith("calibrat")
                       and i > scoring)
    assert lines[scoring + 1:calibrating] == ["predicting: 60/60 docs (100%)"]
    assert clf.model.show_progress  # the training-time setting, as it was
    assert not clf.show_progress and not clf.featurizer.show_progress


@pytest.mark.parametrize("labels, has", [
    (["<u:a>"] + [""] * 29, "the corpus has 1 labelled document:"),
    (["<u:a>"] * 30, "the corpus has 30 labelled documents, copies of one text (equal texts "
                     "share a fold):")])
def test_crossfit_folds_with_one_labelled_text_is_refused_before_training(tmp_path, labels,
                                                                          has):
    """One labelled document, or copies of one text alone labelled: the fold holding it
    leaves its model nothing to learn, whatever the folds or seed. Found after the
    whole training, naming a parameter 'Y' train has not, and the lone document was
    told to try fewer folds or another seed. The data's doing: refused naming the
    corpus, exit code 3, as audit refuses the same corpus (it was exit code 2 here,
    naming --crossfit-folds alone), and the option that turns cross-fitting off."""
    corpus = tmp_path / "c.tsv"
    copies = len(set(labels)) == 1
    corpus.write_text("".join(f"{'same text' if copies else f'text number {i}'}\t{label}\n"
                              for i, label in enumerate(labels)))
    result = run("train", corpus, "-o", tmp_path / "b", "--crossfit-folds", "5", *FAST)
    assert result.exit_code == 3, result.output
    output = " ".join(result.output.split())
    assert (f"error: {corpus}: cross-fitting (--crossfit-folds 5) needs labelled documents "
            f"of two texts at least, and {has} the fold holding it leaves its fold model no "
            "labelled document to learn from; give more labelled documents or "
            "--crossfit-folds 0 (no out-of-fold scores)") in output
    assert "'Y'" not in result.output and not (tmp_path / "b").exists()
    audited = run("audit", corpus, "-o", tmp_path / "a", "--scores", "crossfit")
    assert audited.exit_code == result.exit_code, audited.output  # the same cause


def test_crossfit_folds_with_one_labelled_text_left_by_the_calibration_split_says_so_first(
        tmp_path):
    """The refusal where the calibration split took every other labelled text read
    "got '3 labelled documents (the calibration split set aside), copies of one text'",
    as if the split were the copies: the split is named first."""
    from tagsmith.pipeline.crossfit import heldout_split
    from tagsmith.pipeline.train import duplicate_groups

    texts = ["same labelled text"] * 3 + ["other labelled text"] + [
        f"plain words {i}" for i in range(30)]
    groups = duplicate_groups(texts)
    # a seed whose split keeps the copies and sets the other labelled text aside
    splits = {seed: heldout_split(len(texts), 0.5, seed, groups=groups) for seed in range(50)}
    seed = next(seed for seed, (fit, aside) in splits.items() if 0 in fit and 3 in aside)
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"{text}\t{'<u:a>' if i < 4 else ''}\n"
                              for i, text in enumerate(texts)))
    result = run("train", corpus, "-o", tmp_path / "b", "--crossfit-folds", "2",
                 "--calibration-fraction", "0.5", "--seed", seed, *FAST)
    assert result.exit_code == 3, result.output
    assert "and, the calibration split set aside, the corpus has 3 labelled documents, " \
        "copies of one text (equal texts share a fold):" in " ".join(result.output.split())
    assert not (tmp_path / "b").exists()


def test_a_held_out_check_of_unlabelled_documents_says_it_measures_nothing(tmp_path, caplog):
    """A corpus mostly unlabelled held out 3 documents with no label: every figure read
    0.0000 (LRAP 1.0), with no word that there was nothing to measure."""
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"document number {i} about things\t{'<u:a>' if i == 3 else ''}\n"
                              for i in range(30)))
    result = run("train", corpus, "-o", tmp_path / "b", *FAST)
    assert result.exit_code == 0, result.output
    assert ("P@1 0.0000  nDCG@5 0.0000  micro-F1 0.0000  macro-F1 0.0000  (none of the 3 "
            "held-out documents has a label: these figures measure nothing)") in result.output
    result = CliRunner().invoke(tagsmith_cli.cli, ["train", str(corpus), "-o",
                                                   str(tmp_path / "b2"), "--json", *FAST])
    assert result.exit_code == 0, result.output
    # logged, as every warning (pytest's handler on the root has it, not stderr)
    assert "none of the 3 held-out documents has a label: these figures measure " \
        "nothing" in caplog.text and "too few for its figures" not in caplog.text


def test_a_held_out_check_of_one_unlabelled_document_says_it_has_no_label(tmp_path):
    """One held-out document with no label read "the one held-out document has a
    label: these figures measure nothing", the opposite of what it meant."""
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"document number {i} about things\t{'<u:a>' if i == 3 else ''}\n"
                              for i in range(30)))
    result = run("train", corpus, "-o", tmp_path / "b", "--dev-fraction", "0.034", *FAST)
    assert result.exit_code == 0, result.output
    assert ("macro-F1 0.0000  (the one held-out document has no label: these figures "
            "measure nothing)") in result.output


def test_crossfit_folds_putting_every_labelled_document_in_one_fold_is_refused_first(
        tmp_path, monkeypatch):
    """Two labelled texts that --seed's folds put in one fold (a corpus mostly
    unlabelled): that fold's model had nothing to learn, found after the whole training
    and refused naming a parameter 'Y' train has not (exit code 2). The folds are drawn
    before the training, and another seed that parts them trains."""
    import scipy.sparse as sp

    from tagsmith.data.texthash import hash_texts
    from tagsmith.pipeline import crossfit, train
    from tagsmith.pipeline.audit import content_order

    texts = [f"text number {i}" for i in range(10)]
    labels = ["<u:a>", "<u:b>"] + [""] * 8
    # the folds are drawn along the texts' content (distinct texts: their hashes alone)
    order = content_order(hash_texts(texts), texts, sp.csr_matrix((10, 2)))
    together = [seed for seed in range(20) if len(set(crossfit.fold_assignment(
        10, 2, seed, order=order)[:2])) == 1]
    apart = [seed for seed in range(20) if seed not in together]
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"{t}\t{label}\n" for t, label in zip(texts, labels, strict=True)))
    fitted = []
    real_fit = train._fit
    monkeypatch.setattr(train, "_fit", lambda *a, **k: fitted.append(1) or real_fit(*a, **k))
    result = run("train", corpus, "-o", tmp_path / "b", "--crossfit-folds", "2", "--seed",
                 together[0], *FAST)
    assert result.exit_code == 3, result.output  # the data's, as audit's is (it was 2)
    fold = crossfit.fold_assignment(10, 2, together[0], order=order)[0] + 1
    assert (f"error: {corpus}: cross-fitting (--crossfit-folds 2) with --seed {together[0]} "
            f"puts both labelled documents in fold {fold} of 2, which leaves its fold model "
            "none to learn from; give another --seed, more labelled documents or "
            "--crossfit-folds 0 (no out-of-fold scores)") in " ".join(result.output.split())
    assert "'Y'" not in result.output and not fitted and not (tmp_path / "b").exists()
    result = run("train", corpus, "-o", tmp_path / "b", "--crossfit-folds", "2", "--seed",
                 apart[0], *FAST)
    assert result.exit_code == 0, result.output


def test_crossfit_folds_above_the_documents_is_refused_naming_the_corpus(tmp_path):
    """More --crossfit-folds than documents: "option '--crossfit-folds' must be at most
    the 3 documents to cross-fit, got 5", exit code 2, where audit refuses the same
    corpus for its --folds naming it, exit code 3: the same cause, the same code."""
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"text number {i}\t<u:{'ab'[i % 2]}>\n" for i in range(3)))
    result = run("train", corpus, "-o", tmp_path / "b", "--crossfit-folds", "5",
                 "--dev-fraction", "0", *FAST)
    assert result.exit_code == 3, result.output
    assert (f"error: {corpus}: the corpus is too small for --crossfit-folds 5: 5-fold "
            "cross-fitting needs at least 5 documents, it has 3; give more documents, "
            "--crossfit-folds 3 or fewer, or --crossfit-folds 0 (no out-of-fold scores)"
            ) in " ".join(result.output.split())
    audited = run("audit", corpus, "-o", tmp_path / "a", "--scores", "crossfit")
    assert audited.exit_code == result.exit_code, audited.output


def test_help_on_train_options_and_train_classifier_says_what_each_parameter_does():
    """A researcher reading help(TrainOptions) met 'every field has a sane default' and
    a list of names (seed, beta, refit, min_support, ... said nothing), and
    help(train_classifier) described its private parameters alone; each public field
    and parameter is now named in its docstring, with what it does."""
    import inspect

    from conftest import undocumented_fields

    assert undocumented_fields(TrainOptions) == []
    public = [name for name in inspect.signature(train_classifier).parameters
              if not name.startswith("_")]
    undocumented = [name for name in public if f"``{name}``" not in train_classifier.__doc__]
    assert not undocumented, undocumented
    assert "Returns" in train_classifier.__doc__


@pytest.mark.parametrize("model, n_labels, n_used, cells, warned", [
    ("linear", 5_000, 5_000, 5_000 * 40, True), ("linear", 4_999, 4_999, 1, False),
    ("tree", 5_000, 5_000, 1, False), ("linear", 5_000, 5_000, 5_000 * 40 + 1, False),
    # a large vocabulary few documents use: only the used labels cost a solve
    ("linear", 6_000, 7, 1, False), ("linear", 6_000, 4_999, 1, False),
    ("linear", 6_000, 5_000, 5_000 * 40, True)])
def test_linear_at_thousands_of_labels_points_at_the_tree(caplog, monkeypatch, model,
                                                          n_labels, n_used, cells, warned):
    """17,000 labels trained linear for over an hour (its solver fits every label on
    every document) with nothing saying --model tree is made for that; from 5,000 labels
    on (measured: README's 'Model families'), training says so once, where labels x
    documents reach ``LINEAR_MANY_CELLS`` (40 documents here stand for the 8,000 it
    takes at 5,000 labels): 100 documents over a 7,394-label thesaurus trained in
    seconds and were told that training grows long. Only labels with a positive
    document count (the solver skips the rest): 1,000 yso-finna-en documents over
    27,754 labels, 2,338 of them used, trained in 32 s and were told it grows long."""
    from tagsmith.data.labelspace import Label, LabelSpace
    from tagsmith.pipeline import train as train_module

    monkeypatch.setattr(train_module, "LINEAR_MANY_CELLS", cells)
    caplog.set_level("WARNING", logger="tagsmith")
    space = LabelSpace([Label(f"u:{i}") for i in range(n_labels)])
    rng = np.random.default_rng(0)
    texts = [f"w{i % 7} w{i % 5} x{rng.integers(9)}" for i in range(40)]
    Y = np.zeros((40, n_labels), np.float32)
    Y[np.arange(40), np.arange(40) % 7] = 1
    used = np.arange(n_used)
    Y[used % 40, used] = 1  # the first n_used labels, each on one document
    train_classifier(texts, Y, space, options=TrainOptions(
        model=model, dev_fraction=0.0, featurizer_params={"char_ngrams": None, "min_df": 1}))
    # from Python, TrainOptions(model="tree") (train's --model tree: the test below)
    lines = [r.getMessage() for r in caplog.records
             if 'TrainOptions(model="tree") trains' in r.getMessage()]
    if warned:
        assert len(lines) == 1, lines
        assert f"at {n_used:,} labels with documents" in lines[0]
        assert "'Model families'" in lines[0]
    else:
        assert lines == []


def test_the_warning_of_linear_at_scale_names_the_option_as_its_caller_gives_it(caplog):
    """train_classifier's warning of linear on a large label space told a Python caller
    to use "--model tree", a flag: it names TrainOptions(model="tree"), and the command
    line's wording, which train's filter swaps in, still names --model tree."""
    from tagsmith.pipeline.train import LINEAR_MANY_LABELS, _warn_linear_at_scale

    with caplog.at_level("WARNING", logger="tagsmith"):
        _warn_linear_at_scale("linear", LINEAR_MANY_LABELS, 8_000)
    [record] = [r for r in caplog.records if "fraction of the time" in r.getMessage()]
    assert f"at {LINEAR_MANY_LABELS:,} labels" in record.getMessage()
    assert ('; TrainOptions(model="tree") trains large label spaces in a fraction of the '
            "time") in record.getMessage()
    assert "--model" not in record.getMessage()
    # as train prints it: the filter a command installs on its handlers swaps it in
    assert tagsmith_cli._OptionNames(tagsmith_cli.cli.commands["train"]).filter(record)
    assert "; --model tree trains large label spaces in a fraction of the time" \
        in record.getMessage()
    assert "TrainOptions" not in record.getMessage()


def test_train_counts_each_label_s_documents_once(goemotions_small):
    """train_classifier counted the documents of each label three times (its check of
    positives, its deprecated-label warning, its linear-at-scale warning), as distill
    counted them in a copy of its own: one helper, label_support, counted once here."""
    import sys

    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    called = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_name in ("label_support", "labels_used"):
            called.append((frame.f_code.co_name, frame.f_back.f_code.co_name))

    sys.setprofile(profile)
    try:
        train_classifier(data.texts[:200], data.Y[:200], space, options=TrainOptions(
            dev_fraction=0.1, featurizer_params={"char_ngrams": None, "min_df": 1}))
    finally:
        sys.setprofile(None)
    assert called == [("label_support", "train_classifier"),
                      ("labels_used", "train_classifier")], called


def _topics_corpus(path, second_label: bool = False):
    """60 short stories on three topics, each given its one topic; with ``second_label``
    every tenth also given the next topic."""
    words = {"a": "wheat harvest grain", "b": "oil barrel crude", "c": "bank rate money"}
    rows = []
    for i in range(60):
        topic = "abc"[i % 3]
        labels = f"<u:{topic}>" + (f" <u:{'abc'[(i + 1) % 3]}>"
                                   if second_label and i % 10 == 0 else "")
        rows.append(f"story {i} about {words[topic]} number {i % 7}\t{labels}\n")
    path.write_text("".join(rows))
    return path


def test_train_on_one_label_a_document_records_it_and_says_what_it_means(tmp_path, caplog):
    """Reuters-21578 kept to each story's first topic trained a model that said nothing:
    its held-out figures were measured against the one topic kept, the manifest recorded
    nothing of how many labels a document carries, and the model, free to give several,
    had learnt a second topic as evidence against the first."""
    corpus = _topics_corpus(tmp_path / "one.tsv")
    caplog.set_level("WARNING", logger="tagsmith")

    def run(*args):  # not -q: its warnings are logged
        return CliRunner().invoke(tagsmith_cli.cli, list(map(str, args)))

    result = run("train", corpus, "-o", tmp_path / "m", *FAST)
    assert result.exit_code == 0, result.output
    training = TextClassifier.load(tmp_path / "m").manifest["training"]
    assert training["label_cardinality"] == {"n_labelled_docs": 60, "mean_labels": 1.0,
                                             "share_one_label": 1.0}
    said = [r.getMessage() for r in caplog.records if "exactly one label" in r.getMessage()]
    assert len(said) == 1, caplog.text
    assert said[0].startswith("every one of the 60 labelled documents carries exactly one "
                              "label, and the model may give a document several")
    assert f"tagsmith audit {corpus} --single-label no --review-sample N" in said[0]
    assert "train with --single-label yes, and this warning is not given" in said[0]
    # a true catalogue says so, and is not warned
    caplog.clear()
    result = run("train", corpus, "-o", tmp_path / "m2", "--single-label", "yes", *FAST)
    assert result.exit_code == 0, result.output
    assert "exactly one label" not in caplog.text
    # nor is a corpus whose documents carry several
    several = _topics_corpus(tmp_path / "several.tsv", second_label=True)
    result = run("train", several, "-o", tmp_path / "m3", *FAST)
    assert result.exit_code == 0, result.output
    assert "exactly one label" not in caplog.text
    cardinality = TextClassifier.load(tmp_path / "m3").manifest["training"][
        "label_cardinality"]
    assert cardinality["share_one_label"] < 1.0 < cardinality["mean_labels"]


def test_train_s_one_label_warning_follows_the_held_out_figures_it_speaks_of(tmp_path):
    """The one-label warning, which speaks of train's held-out figures, was printed
    before them (logged while the summary was still to come): in a terminal's one
    stream (stdout and stderr together) it now follows the held-out line."""
    import os
    import subprocess
    import sys

    corpus = _topics_corpus(tmp_path / "one.tsv")
    done = subprocess.run([sys.executable, "-m", "tagsmith", "train", str(corpus), "-o",
                           str(tmp_path / "m"), *FAST], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stdout
    heldout = done.stdout.index("held-out (")
    warned = done.stdout.index("carries exactly one label")
    assert heldout < warned, done.stdout
    assert "train's held-out figures count a second label" in " ".join(
        done.stdout[warned:].split()), done.stdout


def test_train_single_label_yes_refuses_a_document_given_two_before_training(tmp_path):
    """--single-label yes says each document has one label by design: a corpus giving
    six of its sixty documents two is refused, as audit --single-label yes refuses it,
    before any training, and no bundle is written."""
    several = _topics_corpus(tmp_path / "several.tsv", second_label=True)
    result = run("train", several, "-o", tmp_path / "m", "--single-label", "yes", *FAST)
    assert result.exit_code == 2, result.output
    assert "Invalid value for --single-label" in result.output
    assert (f"{several}: one label a document was said, but 6 of its 60 labelled documents "
            "carry two or more; train it with --single-label auto or no") in result.output
    assert not (tmp_path / "m").exists()


def test_train_single_label_yes_refuses_a_dev_document_given_two(tmp_path):
    """--single-label yes read CORPUS alone: a --dev giving documents two labels had the
    thresholds tuned on it silently; it is refused, naming the file and a document."""
    corpus = _topics_corpus(tmp_path / "one.tsv")
    dev = _topics_corpus(tmp_path / "dev.tsv", second_label=True)
    result = run("train", corpus, "-o", tmp_path / "m", "--dev", dev,
                 "--single-label", "yes", *FAST)
    assert result.exit_code == 2, result.output
    assert (f"{dev} (--dev): one label a document was said, but 6 of its 60 labelled "
            "documents carry two or more; train it with --single-label auto or no "
            "(the first: line 1)") in " ".join(result.output.split()), result.output
    assert not (tmp_path / "m").exists()


def test_train_single_label_yes_names_the_line_of_the_document_given_two(tmp_path):
    """--single-label yes named "document 8" where the story given two topics is on
    line 9 of the JSON Lines corpus (a malformed first line skipped): the file and its
    line are named. A label written twice on a line is one label, as the manifest's
    label_cardinality counts it (the check counts with the same function). One such
    document "carries" two, not "carry"."""
    words = {"a": "wheat harvest grain", "b": "oil barrel crude", "c": "bank rate money"}
    rows = ["{not json\n"]
    for i in range(60):
        topic = "abc"[i % 3]
        labels = ([topic] + ([topic] if i == 4 else [])
                  + (["abc"[(i + 1) % 3]] if i == 7 else []))
        rows.append(json.dumps({"text": f"story {i} about {words[topic]} number {i % 7}",
                                "labels": labels}) + "\n")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(rows))
    result = run("train", corpus, "-o", tmp_path / "m", "--single-label", "yes",
                 "--on-error", "skip", *FAST)
    assert result.exit_code == 2, result.output
    assert (f"{corpus}: one label a document was said, but 1 of its 60 labelled documents "
            "carries two or more; train it with --single-label auto or no (the first: "
            "line 9)") in " ".join(result.output.split()), result.output
    assert not (tmp_path / "m").exists()


def test_train_s_one_label_warning_advises_an_audit_command_that_runs(tmp_path, caplog):
    """The warning's audit command named the corpus bare: a path with a space
    (``my stories.tsv``) read as two arguments where pasted into a shell."""
    corpus = _topics_corpus(tmp_path / "my stories.tsv")
    caplog.set_level("WARNING", logger="tagsmith")
    result = CliRunner().invoke(tagsmith_cli.cli, ["train", str(corpus), "-o",
                                                   str(tmp_path / "m"), *FAST])
    assert result.exit_code == 0, result.output
    assert f"tagsmith audit '{corpus}' --single-label no" in caplog.text, caplog.text


def test_train_s_one_label_warning_names_the_vocabulary_and_selection_train_read(tmp_path,
                                                                                  caplog):
    """train given --vocab (and --vocab-prefix) advised ``tagsmith audit CORPUS
    --single-label no`` with neither: that audit derived the labels from the corpus and
    lost the vocabulary's names and hierarchy. The command names them as train read them."""
    corpus = _topics_corpus(tmp_path / "c.tsv")
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:a>\ta\n<u:b>\tb\n<u:c>\tc\n")
    caplog.set_level("WARNING", logger="tagsmith")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "train", str(corpus), "--vocab", str(vocab), "--vocab-prefix", "u:", "-o",
        str(tmp_path / "m"), *FAST])
    assert result.exit_code == 0, result.output
    assert (f"tagsmith audit {corpus} --vocab {vocab} --vocab-prefix u: --single-label no"
            in caplog.text), caplog.text


def test_train_on_one_same_label_everywhere_is_not_warned_of_several(tmp_path, caplog):
    """Every document given the one same label (a model of one label): train warned
    that the model may give a document several, as the audit's note (two labels in use
    or more) does not."""
    corpus = tmp_path / "one.tsv"
    corpus.write_text("".join(f"story {i} about thing {i % 7} word{i % 5}\t<u:a>\n"
                              for i in range(60)))
    caplog.set_level("WARNING", logger="tagsmith")
    result = CliRunner().invoke(tagsmith_cli.cli, ["train", str(corpus), "-o",
                                                   str(tmp_path / "m"), *FAST])
    assert result.exit_code == 0, result.output
    assert "exactly one label" not in caplog.text, caplog.text


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_train_single_label_yes_reads_no_pipe_again_for_the_line(tmp_path):
    """The refusal's "the first: line N" read the corpus again: a corpus given as a named
    pipe (``<(zcat corpus.tsv.gz)``), read once already, had that second read wait for a
    writer that never came, and train hung instead of refusing. A pipe's document is
    named by its place."""
    import threading

    from tagsmith.cli.commands import _where_document

    pipe = tmp_path / "corpus.tsv"
    os.mkfifo(pipe)
    found: list[str] = []
    worker = threading.Thread(target=lambda: found.append(_where_document(
        str(pipe), None, 7, on_error="fail", unknown_labels="fail")), daemon=True)
    worker.start()
    worker.join(timeout=20)
    hung = worker.is_alive()
    if hung:  # release the blocked open before failing
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=5)
    assert not hung, "the pipe was read again"
    assert found == ["document 8"]
