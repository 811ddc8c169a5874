import logging

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.metrics import precision_at_k
from tagsmith.models import make_model
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.crossfit import (
    CrossFitScores,
    HeldoutScores,
    cross_fit_topk,
    fold_assignment,
    heldout_split,
    heldout_topk,
    split_order,
)
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import (
    TrainOptions,
    duplicate_groups,
    in_training,
    text_hashes,
    train_classifier,
)
from tagsmith.topk import TopK

from conftest import FAST_FEATURES


@pytest.fixture(scope="module")
def goemotions_features(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    featurizer = TfidfFeaturizer.from_params(**FAST_FEATURES)
    X = featurizer.fit_transform(train.texts)
    return X, train.Y, space


def test_folds_are_balanced_and_seeded():
    fold = fold_assignment(1003, 5, seed=3)
    counts = np.bincount(fold)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 1003
    assert np.array_equal(fold, fold_assignment(1003, 5, seed=3))
    assert not np.array_equal(fold, fold_assignment(1003, 5, seed=4))


def test_out_of_fold_scores_are_honest(goemotions_features):
    """In-sample scores overstate accuracy; out-of-fold ones match a held-out split's."""
    X, Y, _ = goemotions_features
    params = {"n_jobs": 1}
    crossfit = cross_fit_topk(X, Y, "linear", params, n_folds=3, seed=0)
    assert crossfit.topk.k == Y.shape[1]  # small label space: every label scored
    assert np.all(crossfit.topk.indices >= 0)
    in_sample = make_model("linear", **params).fit(X, Y).predict_topk(X, 5)
    p1_in = precision_at_k(Y, in_sample, 1)
    p1_oof = precision_at_k(Y, crossfit.topk, 1)
    # an honest held-out estimate: train on the first 2/3, score the last 1/3
    cut = 2 * X.shape[0] // 3
    held = heldout_topk(X[:cut], Y[:cut], X[cut:], "linear", params)
    p1_held = precision_at_k(Y[cut:], held, 1)
    assert p1_in > p1_oof + 0.1
    assert abs(p1_oof - p1_held) < 0.06


def test_each_document_is_scored_by_a_model_that_never_saw_it():
    """A label seen only in one document cannot be predicted for it out of fold."""
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((60, 8)))
    Y = np.zeros((60, 3))
    Y[:, 0] = 1
    Y[7, 2] = 1  # a label carried by one document only
    X = sp.hstack([X, sp.csr_matrix((np.ones(1), ([7], [0])), shape=(60, 1))]).tocsr()
    crossfit = cross_fit_topk(X, sp.csr_matrix(Y), "linear", {"n_jobs": 1}, n_folds=4, k=3)
    row = dict(zip(crossfit.topk.indices[7].tolist(), crossfit.topk.scores[7].tolist(),
                   strict=True))
    in_sample = make_model("linear", n_jobs=1).fit(X, sp.csr_matrix(Y)).predict_topk(X[7], 3)
    in_row = dict(zip(in_sample.indices[0].tolist(), in_sample.scores[0].tolist(), strict=True))
    assert row[2] < in_row[2]
    assert row[2] < 0.01  # its fold model had no positive for label 2
    # one line at a prompt: the dataclass repr printed every document's fold
    assert repr(crossfit) == ("CrossFitScores(n_docs=60, k=3, n_labels=3, n_folds=4, "
                              "model='linear', seed=0)")


def test_bad_folds_are_clear_errors(goemotions_features):
    X, Y, _ = goemotions_features
    with pytest.raises(InvalidParameterError, match="n_folds"):
        cross_fit_topk(X, Y, "linear", n_folds=1)
    with pytest.raises(InvalidParameterError, match="n_folds"):
        cross_fit_topk(X[:3], Y[:3], "linear", n_folds=5)
    with pytest.raises(InvalidParameterError, match="Cx"):
        cross_fit_topk(X, Y, "linear", {"Cx": 1.0}, n_folds=2)


def test_an_all_zero_y_or_a_fold_with_nothing_to_learn_is_refused_naming_y():
    # every fold model was fitted on no positive target, silently
    X = sp.csr_matrix(np.eye(6, dtype=np.float32))
    with pytest.raises(InvalidParameterError, match="'Y' must be at least one positive"):
        cross_fit_topk(X, sp.csr_matrix((6, 2)), "linear", {"n_jobs": 1}, n_folds=3)
    # one labelled document: the models of the other folds have nothing to learn (it
    # read "every labelled document ... got '1 labelled documents'"); with groups, a
    # lone labelled document is no "copies of one text"; nor can fewer folds or another
    # seed help it, which the refusal told it to try
    Y = sp.csr_matrix(([1.0], ([0], [0])), shape=(6, 2))
    for groups in (None, [0, 1, 2, 3, 4, 4]):
        with pytest.raises(InvalidParameterError, match="'Y' must be positive targets "
                           r"outside fold \d of 3 \(the one labelled document fell in that "
                           r"fold: too few to cross-fit: it needs labelled documents of two "
                           r"texts at least\), got '1 labelled document'$"):
            cross_fit_topk(X, Y, "linear", {"n_jobs": 1}, n_folds=3, groups=groups)
    # with sample weights, only documents of weight above 0 teach: the fold model's own
    # error counted the documents of its fold ("0 on all 2 such documents") and did not
    # say that the folds were the cause
    Y = sp.csr_matrix(np.ones((6, 1), np.float32))
    weights = np.zeros(6)
    weights[np.flatnonzero(fold_assignment(6, 3, seed=0) == 0)[0]] = 1.0
    with pytest.raises(InvalidParameterError, match=r"outside fold \d of 3 .*got '1 labelled "
                       "document of sample weight above 0'"):
        cross_fit_topk(X, Y, "knn", {"n_jobs": 1}, n_folds=3, sample_weight=weights)


    # every labelled document a copy of one text: no fold count or seed helps, and the
    # refusal said to try them (30,000 copies of "Thank you!" once the calibration
    # split took the corpus' other texts)
    Y = sp.csr_matrix(([1.0, 1.0, 1.0], ([0, 1, 2], [0, 0, 0])), shape=(6, 2))
    for n_folds, seed in [(3, 0), (2, 5)]:
        with pytest.raises(InvalidParameterError, match=r"fell in that fold: they are "
                           "copies of one text, and equal texts share a fold"):
            cross_fit_topk(X, Y, "linear", {"n_jobs": 1}, n_folds=n_folds, seed=seed,
                           groups=[0, 0, 0, 1, 2, 3])


def test_what_a_fold_model_refuses_names_its_fold():
    """An ensemble with weights='auto' needs 100 documents: cross-fitting 150 in two
    folds was refused with 'got 75', the documents of one fold model, not a word
    about the folds."""
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((150, 6)))
    Y = sp.csr_matrix((rng.random((150, 3)) < 0.4).astype(np.float32))
    params = {"members": [["knn", {}], ["knn", {"n_neighbors": 5}]], "weights": "auto",
              "n_jobs": 1}
    with pytest.raises(InvalidParameterError, match=r"'weights' must be 'auto' only with at "
                       r"least 100 training documents \(in the model of fold 1 of 2, fitted "
                       r"on the 75 of 150 documents outside that fold\), got 75"):
        cross_fit_topk(X, Y, "ensemble", params, n_folds=2)

def test_more_folds_than_int16_holds_are_refused():
    # fold numbers are int16: fold 32768 wrapped to -32768, a fold no model held out,
    # so its documents were trained on by every fold model and scored by none
    with pytest.raises(InvalidParameterError, match="32767"):
        fold_assignment(40000, 40000)
    assert fold_assignment(40000, 32767).min() == 0
    # the cap is int16's largest (a module-level assert said so, gone under python -O):
    # every fold number it allows is stored as int16 without wrapping
    from tagsmith._params import MAX_FOLDS

    assert MAX_FOLDS == np.iinfo(np.int16).max
    fold = fold_assignment(MAX_FOLDS, MAX_FOLDS)
    assert fold.dtype == np.int16 and sorted(fold.tolist()) == list(range(MAX_FOLDS))
    X = sp.csr_matrix(np.tile(np.eye(3), (4, 1)))
    with pytest.raises(InvalidParameterError, match=r"n_folds.*32767"):
        cross_fit_topk(X, X, "linear", {"n_jobs": 1}, n_folds=40000)
    with pytest.raises(InvalidParameterError, match=r"crossfit_folds.*32767"):
        TrainOptions(crossfit_folds=40000).validate()
    from tagsmith.pipeline.audit import AuditOptions
    with pytest.raises(InvalidParameterError, match=r"n_folds.*32767"):
        AuditOptions(n_folds=40000).validate()


def test_train_stores_crossfit_in_the_bundle(goemotions_small, tmp_path):
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    options = TrainOptions(featurizer_params=FAST_FEATURES, model="tree",
                           model_params={"n_jobs": 1}, dev_fraction=0.0, crossfit_folds=2)
    clf = train_classifier(train.texts[:800], train.Y[:800], space, options=options)
    assert clf.crossfit is not None and len(clf.crossfit.topk) == 800
    assert clf.manifest["metrics"]["crossfit"]["n_folds"] == 2
    loaded = TextClassifier.load(clf.save(tmp_path / "bundle"))
    assert loaded.crossfit is not None
    assert np.array_equal(loaded.crossfit.topk.indices, clf.crossfit.topk.indices)
    assert np.array_equal(loaded.crossfit.fold, clf.crossfit.fold)
    assert loaded.crossfit.model == "tree"
    with pytest.raises(InvalidParameterError, match="crossfit_folds"):
        TrainOptions(crossfit_folds=1).validate()


def test_the_crossfit_time_is_the_manifests_and_older_bundles_keep_theirs(goemotions_small,
                                                                         tmp_path):
    """crossfit.json held the seconds the cross-fit took, so two trainings of one model
    wrote two crossfit.json files (and checksums); the time is the manifest's
    (metrics.crossfit.seconds) alone, and a loaded bundle has it from there. A bundle
    written before, whose crossfit.json holds seconds, loads them as it did."""
    import hashlib
    import json

    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    options = TrainOptions(featurizer_params=FAST_FEATURES, dev_fraction=0.0,
                           crossfit_folds=2)
    clf = train_classifier(train.texts[:300], train.Y[:300], space, options=options)
    path = clf.save(tmp_path / "bundle")
    assert "seconds" not in json.loads((path / "crossfit.json").read_text())
    recorded = clf.manifest["metrics"]["crossfit"]["seconds"]
    assert recorded == round(clf.crossfit.seconds, 3) > 0
    assert TextClassifier.load(path).crossfit.seconds == recorded
    meta = json.loads((path / "crossfit.json").read_text())  # as written before
    (path / "crossfit.json").write_text(json.dumps({**meta, "seconds": 12.5}))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["crossfit.json"] = hashlib.sha256(
        (path / "crossfit.json").read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert TextClassifier.load(path).crossfit.seconds == 12.5


@pytest.mark.parametrize("k", [0, -1, 2.5, "3"])
def test_a_bad_k_is_refused_naming_it(k):
    X = sp.csr_matrix(np.tile(np.eye(3), (4, 1)))
    with pytest.raises(InvalidParameterError, match="'k'"):
        cross_fit_topk(X, X, "linear", {"n_jobs": 1}, n_folds=2, k=k)
    # heldout_topk read 2.5 as 2 and "3" as 3
    with pytest.raises(InvalidParameterError, match="'k'"):
        heldout_topk(X, X, X, "knn", {"n_jobs": 1}, k=k)


def test_numpy_integer_folds_are_accepted_and_stored_as_ints(tmp_path):
    """crossfit_folds=np.int64(2) (say, from an array of settings) was refused, as were
    numpy seeds and supports; numpy numbers that passed (a float32 dev_fraction or
    beta, a numpy max_labels or alpha for calibration) failed the bundle's JSON save
    after the whole training had run."""
    import json

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.confidence import ConfidenceOptions

    space = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
    words = ["alpha", "beta", "gamma"]
    texts = [f"{words[i % 3]} word{i % 7} thing{i % 5}" for i in range(120)]
    Y = sp.csr_matrix(np.eye(3, dtype=np.float32)[[i % 3 for i in range(120)]])
    confidence = ConfidenceOptions(n_bands=np.int64(2), seed=np.int64(2),
                                   min_support=np.int64(1), max_labels=np.int64(2),
                                   alpha=np.float32(0.25), conformal_fraction=np.float32(0.5))
    options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1},
                           crossfit_folds=np.int64(2), crossfit_k=np.int64(2),
                           seed=np.int64(1), min_support=np.int64(2),
                           dev_fraction=np.float32(0.25), beta=np.float32(1.0),
                           calibration_fraction=np.float32(0.3), calibration_k=np.int64(3),
                           confidence=confidence)
    clf = train_classifier(texts, Y, space, options=options)
    assert clf.crossfit is not None and clf.crossfit.n_folds == 2
    assert type(clf.crossfit.n_folds) is int
    for name in ("crossfit_folds", "crossfit_k", "seed", "min_support", "calibration_k"):
        assert type(getattr(options, name)) is int, name
    for name in ("dev_fraction", "beta", "calibration_fraction"):
        assert type(getattr(options, name)) is float, name
    for name in ("n_bands", "seed", "min_support", "max_labels"):
        assert type(getattr(confidence, name)) is int, name
    assert type(confidence.alpha) is float and type(confidence.conformal_fraction) is float
    json.dumps(clf.manifest)
    loaded = TextClassifier.load(clf.save(tmp_path / "bundle"))
    assert loaded.crossfit is not None and loaded.crossfit.n_folds == 2
    assert loaded.manifest["training"]["options"]["seed"] == 1
    scores = cross_fit_topk(sp.csr_matrix(np.tile(np.eye(3), (4, 1))),
                            sp.csr_matrix(np.tile(np.eye(3), (4, 1))), "linear",
                            {"n_jobs": 1}, n_folds=np.int64(3))
    assert type(scores.n_folds) is int and json.dumps(scores.to_state()[0])
    # still refused: not integers, or outside [2, 32767] (0 meaning none)
    for bad in (np.int64(1), np.int64(40000), np.float64(2.0), np.bool_(True)):
        with pytest.raises(InvalidParameterError, match="crossfit_folds"):
            TrainOptions(crossfit_folds=bad).validate()


def test_audit_options_take_numpy_integers_and_check_the_seed():
    from tagsmith.pipeline.audit import AuditOptions

    options = AuditOptions(n_folds=np.int64(3), max_review=np.int64(5),
                           max_missing_per_doc=np.int64(4), seed=np.int64(1),
                           k=np.int64(5), prior_strength=np.float32(20))
    options.validate()
    for name in ("n_folds", "max_review", "max_missing_per_doc", "seed", "k"):
        assert type(getattr(options, name)) is int, name
    assert type(options.prior_strength) is float
    # a negative seed failed inside numpy once the folds were drawn
    for bad in (-1, 1.5, "1"):
        with pytest.raises(InvalidParameterError, match="'seed'"):
            AuditOptions(seed=bad).validate()


@pytest.mark.parametrize("seed", [-1, 2.5, "3", None, True])
def test_a_bad_seed_is_refused_naming_it(seed):
    """-1, 2.5 and "3" failed inside numpy's seeding (a bare ValueError or TypeError),
    None and True as a bad 'random_state' of 'the model of fold 1', a parameter the
    caller never passed."""
    X = sp.csr_matrix(np.tile(np.eye(3), (4, 1)))
    with pytest.raises(InvalidParameterError, match="'seed'"):
        cross_fit_topk(X, X, "linear", {"n_jobs": 1}, n_folds=2, seed=seed)
    with pytest.raises(InvalidParameterError, match="'seed'"):
        heldout_topk(X, X, X, "linear", {"n_jobs": 1}, seed=seed)
    with pytest.raises(InvalidParameterError, match="'seed'"):
        heldout_split(12, 0.25, seed)
    with pytest.raises(InvalidParameterError, match="'seed'"):
        fold_assignment(12, 3, seed)


def test_a_numpy_seed_is_stored_as_a_plain_int():
    """A numpy seed was kept in the scores, whose state (a bundle's crossfit.json) then
    failed its JSON save; the folds are those of the same plain seed."""
    import json

    X = sp.csr_matrix(np.tile(np.eye(3), (4, 1)))
    scores = cross_fit_topk(X, X, "linear", {"n_jobs": 1}, n_folds=2, seed=np.int64(4))
    assert type(scores.seed) is int and json.loads(json.dumps(scores.to_state()[0]))["seed"] == 4
    np.testing.assert_array_equal(scores.fold, fold_assignment(12, 2, 4))


@pytest.mark.parametrize("fraction", ["0.3", None, [0.3], True, 0.0, 1.0, float("nan")])
def test_heldout_split_refuses_a_fraction_that_is_no_share_by_its_name(fraction):
    """A string, None or a list failed comparing with 0.0 (a bare TypeError), not as the
    refused parameter its docstring promises."""
    with pytest.raises(InvalidParameterError, match="'share' must be a number in"):
        heldout_split(10, fraction, name="share")


def test_heldout_split_takes_numpy_fractions():
    fit, held = heldout_split(10, np.float32(0.3), 1)
    assert len(held) == 3 and sorted([*fit, *held]) == list(range(10))


def test_heldout_scores_print_one_line():
    """The dataclass repr printed the top-k, the label matrix and every row."""
    from tagsmith.topk import TopK

    topk = TopK.from_scores(np.random.default_rng(0).random((2000, 4)), k=3)
    heldout = HeldoutScores(topk, sp.csr_matrix((2000, 4)), np.arange(2000), "dev.tsv")
    assert repr(heldout) == "HeldoutScores(n_docs=2000, k=3, n_labels=4, source='dev.tsv')"


# ---- equal texts on one side of every split (twins leaked each other's labels) ----

@pytest.mark.parametrize("n_docs, n_folds", [(2, 2), (7, 3), (101, 5), (1003, 10)])
def test_folds_without_groups_are_the_figures_of_record(n_docs, n_folds):
    """The document-wise folds that benchmark figures rest on: a permutation of seed 0,
    position j in fold j % n_folds. Single-document groups give the very same bytes."""
    order = np.random.default_rng(0).permutation(n_docs)
    expected = np.empty(n_docs, np.int16)
    expected[order] = np.arange(n_docs) % n_folds
    assert fold_assignment(n_docs, n_folds, seed=0).tobytes() == expected.tobytes()
    for groups in (np.arange(n_docs), 7 * np.arange(n_docs)[::-1]):  # any distinct ids
        assert fold_assignment(n_docs, n_folds, 0, groups).tobytes() == expected.tobytes()


def test_equal_texts_share_a_fold_and_the_folds_stay_balanced():
    texts = [f"text {i}" for i in range(300)]
    texts += [texts[i].upper() + "  " for i in range(0, 300, 3)]  # 100 twins (case, spaces)
    texts += ["text 5"] * 8  # a group of 10
    groups = duplicate_groups(texts)
    assert groups.max() + 1 == 300
    before = fold_assignment(len(texts), 5, seed=0)
    assert any(before[i] != before[300 + i // 3] for i in range(0, 300, 3))  # the defect
    fold = fold_assignment(len(texts), 5, seed=0, groups=groups)
    for group in range(300):
        assert len(set(fold[groups == group])) == 1
    counts = np.bincount(fold, minlength=5)
    assert counts.max() - counts.min() <= 1 and counts.sum() == len(texts)
    assert np.array_equal(fold, fold_assignment(len(texts), 5, seed=0, groups=groups))
    assert not np.array_equal(fold, fold_assignment(len(texts), 5, seed=1, groups=groups))


def test_grouped_folds_move_few_documents_from_the_folds_of_record():
    """Figures measured on the document-wise folds stay close: a group joins the fold of
    its first document and a few single documents rebalance (placing the groups first
    moved 34,430 of GoEmotions' 43,410 training documents for its 354 in groups)."""
    texts = [f"text {i}" for i in range(2000)] + [f"TEXT {i}" for i in range(0, 2000, 50)]
    groups = duplicate_groups(texts)
    before = fold_assignment(len(texts), 5, seed=0)
    fold = fold_assignment(len(texts), 5, seed=0, groups=groups)
    moved = np.count_nonzero(fold != before)
    assert 0 < moved <= 2 * 80
    assert np.array_equal(fold[:2000:50], fold[2000:])
    counts = np.bincount(fold, minlength=5)
    assert counts.max() - counts.min() <= 1


def test_a_group_larger_than_a_fold_is_kept_whole():
    groups = np.r_[np.zeros(50, np.int64), np.arange(1, 21)]
    fold = fold_assignment(70, 4, seed=2, groups=groups)
    assert len(set(fold[:50])) == 1
    assert sorted(np.bincount(fold).tolist()) == [6, 7, 7, 50]


def test_an_empty_fold_fits_no_model(caplog):
    # 3 distinct texts (4 copies each) over 4 folds leave one fold empty; its model was
    # fitted on every document and scored nothing
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(np.repeat(rng.random((3, 8)), 4, axis=0))
    Y = sp.csr_matrix(np.repeat(np.eye(3), 4, axis=0))
    groups = np.repeat(np.arange(3), 4)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        scores = cross_fit_topk(X, Y, "linear", {"n_jobs": 1}, n_folds=4, k=2, seed=0,
                                groups=groups)
    empty = [f for f in range(4) if not np.any(scores.fold == f)]
    assert len(empty) == 1
    said = [r.getMessage() for r in caplog.records if "cross-fit fold" in r.getMessage()]
    assert f"cross-fit fold {empty[0] + 1}/4: no document (fewer distinct texts than " \
        "folds), no model fitted" in said, said
    assert sum("held-out document" in m for m in said) == 3
    assert (scores.topk.indices[:, 0] >= 0).all()


@pytest.mark.parametrize("seed", range(40))
def test_groups_whose_first_documents_share_a_fold_spread_over_the_others(seed):
    """A group joined the fold of its first document whatever that fold held already:
    six copies of six texts over 5 folds left a fold empty for most seeds (its model
    scored nothing, another fold's saw half the corpus), and three groups of 10 with 10
    single documents over 2 folds split 30 / 10 for some."""
    fold = fold_assignment(36, 5, seed, groups=np.tile(np.arange(6), 6))
    assert sorted(np.bincount(fold, minlength=5).tolist()) == [6, 6, 6, 6, 12]
    groups = np.r_[np.repeat([0, 1, 2], 10), np.arange(3, 13)]
    fold = fold_assignment(40, 2, seed, groups=groups)
    assert np.bincount(fold, minlength=2).tolist() == [20, 20]
    for group in range(3):
        assert len(set(fold[groups == group])) == 1


@pytest.mark.parametrize("groups, got", [([0, 1], r"\(2,\)"), ([[0, 1, 2]], r"\(1, 3\)"),
                                         ([0.0, 1.0, 2.0], "float64")])
def test_bad_groups_are_refused_naming_them(groups, got):
    with pytest.raises(InvalidParameterError, match=f"parameter 'groups'.*{got}"):
        fold_assignment(3, 2, groups=groups)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_heldout_split_with_single_document_groups_is_the_split_of_record(fraction):
    fit, held = heldout_split(101, fraction, seed=4)
    order = np.random.default_rng(4).permutation(101)
    n_held = round(101 * fraction)
    assert np.array_equal(held, np.sort(order[:n_held]))
    assert np.array_equal(fit, np.sort(order[n_held:]))
    grouped = heldout_split(101, fraction, seed=4, groups=np.arange(101)[::-1])
    assert np.array_equal(grouped[0], fit) and np.array_equal(grouped[1], held)


def test_heldout_split_keeps_equal_texts_on_one_side():
    groups = np.r_[np.arange(100), np.arange(0, 100, 2), np.arange(0, 100, 4)]
    fit, held = heldout_split(len(groups), 0.2, seed=0, groups=groups)
    assert not np.intersect1d(groups[fit], groups[held]).size
    assert abs(len(held) - round(len(groups) * 0.2)) <= 1
    assert len(fit) + len(held) == len(groups)
    fit0, held0 = heldout_split(len(groups), 0.2, seed=0)
    assert np.intersect1d(groups[fit0], groups[held0]).size  # the defect
    with pytest.raises(InvalidParameterError, match="calibration_fraction.*whole group"):
        heldout_split(10, 0.2, groups=np.r_[np.zeros(5, int), np.ones(5, int)],
                      name="calibration_fraction")
    # a group that brings the share nearer is held out: 6 + 6 for 11 of 36, not 6
    fit, held = heldout_split(36, 0.3, groups=np.arange(36) % 6)
    assert len(held) == 12 and len(fit) == 24


def test_a_large_group_that_comes_early_is_passed_over_while_later_groups_fit():
    """One text repeated 500 times whose first copy came 8th in the permutation was held
    out for a share of 350 (it brought 7 nearer), leaving later single documents to
    training: 507 held out, all but 7 of them one text."""
    groups = np.r_[np.arange(7), np.full(500, 7), np.arange(8, 3008)]
    fit, held = split_order(np.arange(groups.size), 350, groups)
    assert held.size == 350 and not np.isin(7, groups[held])
    assert fit.size + held.size == groups.size
    # a group that overshoots is still taken where nothing smaller is left to fit
    fit, held = split_order(np.arange(12), 5, np.r_[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    assert held.tolist() == [0, 1, 2, 3]
    fit, held = split_order(np.arange(12), 7, np.r_[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    assert held.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("n_docs, fraction, groups, smallest", [
    (20, 0.25, np.repeat([0, 1], 10), 10),  # exactly twice the 5 wanted: none nearer
    (30, 0.1, np.repeat([0, 1, 2], [10, 12, 8]), 8)])  # the smallest too: twice 3 < 8
def test_a_share_no_group_fits_is_refused_saying_why(n_docs, fraction, groups, smallest):
    """The refusal said each group 'is more than twice' the share: false for a group of
    exactly twice (as far from the share as none) and for one that would leave nothing
    on the other side."""
    with pytest.raises(InvalidParameterError, match=(
            rf"each group of equal texts \(the smallest has {smallest} documents\) holds "
            rf"out at least twice {round(n_docs * fraction)} or leaves no document on the "
            "other side")):
        heldout_split(n_docs, fraction, groups=groups)


def test_a_share_of_copies_of_one_text_is_refused_saying_so():
    """'each group of equal texts (the smallest has 10 documents)' where there was one."""
    with pytest.raises(InvalidParameterError, match=r"\(the 10 documents are copies of one "
                       r"text\), got 0.6"):
        heldout_split(10, 0.6, groups=np.zeros(10, int))

def test_a_dev_share_no_group_fits_warns_saying_why(caplog):
    from tagsmith.pipeline.train import TrainOptions, _heldout

    groups = np.repeat([0, 1], 10)  # 0.25 of 20 is 5: each group is exactly twice that
    texts = [f"text {group}" for group in groups]
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert _heldout(texts, sp.csr_matrix((20, 2)), None, None,
                        TrainOptions(dev_fraction=0.25), groups) is None
    assert ("(each group of equal texts (the smallest has 10 documents) holds out at least "
            "twice 5 or leaves no document on the other side, and twins stay on one side)"
            in caplog.text)


def test_duplicate_groups_follow_the_training_hashes():
    texts = ["A  b", "c", "a b", "", " ", "C\n"]
    assert duplicate_groups(texts).tolist() == [0, 1, 0, 2, 3, 1]  # blanks are no twins
    assert text_hashes(texts).size == 3  # the same rule: 'a b', 'c', ''


def _twinned(goemotions_small, n_docs=400):
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    texts = list(data.texts[:n_docs]) + [t.upper() for t in data.texts[:n_docs // 2]]
    Y = sp.vstack([data.Y[:n_docs], data.Y[:n_docs // 2]]).tocsr()
    return texts, Y, space


def _content_sorted(texts, Y):
    """The corpus in the audit's content order (:func:`content_order`), which the audit
    folds and scores along: for this order, the folds of file positions the tests
    compute by hand are the audit's own."""
    from tagsmith.audit.duplicates import text_hashes
    from tagsmith.pipeline.audit import content_order

    order = content_order(text_hashes(texts), texts, Y)
    texts = [texts[i] for i in order]
    Y = Y[order]
    assert np.array_equal(content_order(text_hashes(texts), texts, Y), np.arange(len(texts)))
    return texts, Y


def test_training_keeps_twins_in_one_crossfit_fold_and_out_of_the_calibration_split(
        goemotions_small, tmp_path):
    texts, Y, space = _twinned(goemotions_small)
    options = TrainOptions(featurizer_params=FAST_FEATURES, model="tree",
                           model_params={"n_jobs": 1}, dev_fraction=0.0, crossfit_folds=3,
                           calibration_fraction=0.2)
    clf = train_classifier(texts, Y, space, options=options)
    cal_rows = clf.heldout.rows
    fit_rows = np.setdiff1d(np.arange(len(texts)), cal_rows)
    groups = duplicate_groups(texts)
    assert not np.intersect1d(groups[cal_rows], groups[fit_rows]).size
    fit_groups = groups[fit_rows]
    for group in np.unique(fit_groups):
        assert len(set(clf.crossfit.fold[fit_groups == group])) == 1
    # the split's twins stay together when it is split for the calibrator and the sets
    # (kept in the bundle, for 'tagsmith calibrate BUNDLE'), and the folds say grouped
    assert np.array_equal(clf.heldout.groups, groups[cal_rows])
    assert clf.crossfit.grouped
    path = clf.save(tmp_path / "twins.tsm")
    loaded = TextClassifier.load(path)
    assert np.array_equal(loaded.heldout.groups, groups[cal_rows]) and loaded.crossfit.grouped


def test_a_dev_fraction_split_keeps_twins_on_one_side(goemotions_small):
    texts, Y, space = _twinned(goemotions_small)
    clf = train_classifier(texts, Y, space, options=TrainOptions(
        featurizer_params=FAST_FEATURES, model="tree", model_params={"n_jobs": 1},
        dev_fraction=0.25, refit=False))
    # the model's training hashes hold the texts it was fitted on: no dev document's
    # twin among them
    assert clf.n_train_docs == np.count_nonzero(in_training(clf.train_hashes, texts))
    assert clf.n_train_docs == len(texts) - round(len(texts) * 0.25)


def test_the_audit_cross_fits_twins_in_one_fold(goemotions_small):
    """Each twin was scored by a model trained on the other: a wrong label both share
    looked right to the audit."""
    from tagsmith.pipeline.audit import AuditOptions, _features, audit_corpus

    texts, Y, space = _twinned(goemotions_small, 300)
    texts, Y = _content_sorted(texts, Y)
    options = AuditOptions(scores="crossfit", model="linear", n_folds=3,
                           featurizer_params=FAST_FEATURES, near_duplicates=False,
                           evidence=False)
    result = audit_corpus(texts, Y, space, options=options)
    X = _features(texts, None, options)[1]
    params = {"loss": "logistic"}
    grouped = cross_fit_topk(X, Y, "linear", params, n_folds=3,
                             groups=duplicate_groups(texts))
    plain = cross_fit_topk(X, Y, "linear", params, n_folds=3)
    assert np.array_equal(result.scores.topk.indices, grouped.topk.indices)
    assert np.array_equal(result.scores.topk.scores, grouped.topk.scores)
    assert not np.array_equal(result.scores.topk.scores, plain.topk.scores)


def test_the_audit_leaves_twins_out_of_each_others_knn_neighbours(goemotions_small):
    """The kNN scores left out the document but not its exact copy, a neighbour at
    similarity 1: a wrong label both share looked right. The copies are the audit's
    exact duplicates (a soft hyphen apart, which training's rule keeps apart)."""
    from tagsmith.audit import duplicates as dup
    from tagsmith.models.knn import KNNModel
    from tagsmith.pipeline.audit import AuditOptions, _features, audit_corpus
    from tagsmith.pipeline.crossfit import default_k
    from tagsmith.pipeline.train import groups_of_hashes

    texts, Y, space = _twinned(goemotions_small, 300)
    texts[300:] = [text[:1] + "\u00ad" + text[1:] for text in texts[:150]]
    texts, Y = _content_sorted(texts, Y)
    options = AuditOptions(scores="knn", featurizer_params=FAST_FEATURES, cooccurrence=0,
                           near_duplicates=False, evidence=False)
    result = audit_corpus(texts, Y, space, options=options)
    assert result.scores.source == "knn"
    X = _features(texts, None, options)[1]
    model = KNNModel(n_neighbors=50).fit(X, Y)
    k = default_k(Y.shape[1])
    grouped = model.leave_one_out_topk(
        X, k, groups=groups_of_hashes(dup.text_hashes(texts), dup.EMPTY_HASH))
    plain = model.leave_one_out_topk(X, k)
    assert np.array_equal(result.scores.topk.indices, grouped.indices)
    assert np.array_equal(result.scores.topk.scores, grouped.scores)
    assert not np.array_equal(result.scores.topk.scores, plain.scores)
    # the copy voted its own labels: with it, the given labels scored higher
    given = Y.toarray().astype(bool)
    def given_score(topk):
        return sum(float(s) for row in range(Y.shape[0])
                   for label, s in zip(topk.indices[row], topk.scores[row], strict=True)
                   if given[row, label])
    assert given_score(plain) > given_score(grouped)


# ---- the calibrator / conformal split of the held-out documents ----

def _heldout(groups, n_docs=300, n_labels=3):
    rng = np.random.default_rng(0)
    n = n_docs if groups is None else len(groups)
    scores = rng.random((n, n_labels))
    return HeldoutScores(TopK.from_scores(scores, n_labels),
                         sp.csr_matrix(rng.random((n, n_labels)) < scores), np.arange(n),
                         "held-out", groups)


def test_the_calibrator_and_conformal_parts_keep_twins_on_one_side():
    """The held-out documents were split one by one: a twin among the calibrator's
    documents and one among the conformal sets' made the sets look better covered."""
    from tagsmith.pipeline.confidence import ConfidenceOptions, _split

    groups = np.r_[np.arange(200), np.arange(0, 200, 2)]  # 100 twins
    options = ConfidenceOptions()
    (fit_Y, _), conformal, how = _split(_heldout(groups), options, None, None)
    assert how == "split" and fit_Y.shape[0] + len(conformal) == 300
    fitting = np.setdiff1d(np.arange(300), conformal.rows)
    assert not np.intersect1d(groups[fitting], groups[conformal.rows]).size
    assert abs(len(conformal) - 150) <= 1
    _, plain, _ = _split(_heldout(None), options, None, None)
    plain_fit = np.setdiff1d(np.arange(300), plain.rows)
    assert np.intersect1d(groups[plain_fit], groups[plain.rows]).size  # the defect


def test_a_conformal_part_far_from_its_share_warns_saying_why(caplog):
    """500 copies of one text among 700 held-out documents: 197 went to the conformal
    sets for the 350 asked, without a word."""
    from tagsmith.pipeline.confidence import ConfidenceOptions, _split

    groups = np.r_[np.zeros(500, int), np.arange(1, 201)]
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        _, conformal, _ = _split(_heldout(groups), ConfidenceOptions(), None, None)
    assert len(conformal) == 200
    assert ("conformal_fraction 0.5 of the 700 held-out documents asks 350 for the "
            "conformal sets, but 500 would go to the calibrator, 200 to the conformal sets; "
            "equal texts stay on one side, and the 700 documents hold 201 distinct texts"
            ) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):  # a document or a few off
        _split(_heldout(np.r_[np.arange(200), np.arange(0, 200, 2)]), ConfidenceOptions(),
               None, None)
    assert "asks" not in caplog.text

def test_a_conformal_share_twins_leave_empty_is_refused_naming_them():
    """0.2 of 60 held-out documents is 12; when the twins kept together leave none to
    the conformal sets, the refusal said so without why ('0 to the conformal sets')."""
    from tagsmith.pipeline.confidence import ConfidenceOptions, _split

    with pytest.raises(InvalidParameterError, match=r"60 would go to the calibrator, 0 to "
                       r"the conformal sets; equal texts stay on one side, and the 60 "
                       r"documents hold 2 distinct texts\), got 0.2"):
        _split(_heldout(np.repeat([0, 1], 30)), ConfidenceOptions(conformal_fraction=0.2),
               None, None)


@pytest.mark.parametrize("groups", [None, np.arange(301)[::-1]])
def test_the_calibrator_and_conformal_split_without_twins_is_the_split_of_record(groups):
    from tagsmith.pipeline.confidence import ConfidenceOptions, _split

    heldout = _heldout(groups if groups is None else groups[:300])
    assert heldout.groups is None  # no repeated text: nothing kept, nothing saved
    assert "groups" not in heldout.to_state()[1]
    (fit_Y, fit_topk), conformal, _ = _split(heldout, ConfidenceOptions(seed=3), None, None)
    order = np.random.default_rng(3).permutation(300)
    assert np.array_equal(conformal.rows, np.sort(order[:150]))
    assert np.array_equal(fit_topk.scores, heldout.topk.scores[np.sort(order[150:])])


def test_heldout_groups_round_trip_and_bad_ones_are_refused():
    heldout = _heldout(np.r_[np.arange(30), [0, 1]])
    meta, arrays = heldout.to_state()
    again = HeldoutScores.from_state(meta, arrays)
    assert np.array_equal(again.groups, heldout.groups)
    assert np.array_equal(heldout.subset(np.array([0, 30, 5])).groups, [0, 0, 5])
    del arrays["groups"]  # a bundle written before the groups were kept
    assert HeldoutScores.from_state(meta, arrays).groups is None
    arrays["groups"] = np.zeros(31)
    with pytest.raises(ValueError, match="groups.*shape \\(31,\\), dtype float64"):
        HeldoutScores.from_state(meta, arrays)


# ---- the audit's calibration folds (step 1 of find_label_issues) ----

@pytest.mark.parametrize("n_folds", [2, 3])
def test_audit_calibration_folds_keep_twins_in_one_fold(n_folds):
    from tagsmith.audit.detect import _calibration_folds

    groups = np.r_[np.arange(300), np.arange(0, 300, 3)]
    position = np.random.default_rng((7, 1)).permutation(400)
    of_record = (position % n_folds).astype(np.int8)  # the folds without groups
    assert _calibration_folds(400, n_folds, 7, None).tobytes() == of_record.tobytes()
    assert _calibration_folds(400, n_folds, 7, np.arange(400)[::-1]).tobytes() == \
        of_record.tobytes()
    assert any(of_record[i] != of_record[300 + i // 3] for i in range(0, 300, 3))  # defect
    folds = _calibration_folds(400, n_folds, 7, groups)
    assert np.array_equal(folds[:300:3], folds[300:])
    counts = np.bincount(folds, minlength=n_folds)
    assert counts.max() - counts.min() <= 1


def test_the_audit_calibrates_twins_in_one_fold(goemotions_small):
    """Calibrated on the other fold, a twin's given label made the same wrong label of
    its copy look given."""
    from tagsmith.audit.detect import find_label_issues
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    texts, Y, space = _twinned(goemotions_small, 300)
    texts, Y = _content_sorted(texts, Y)
    options = AuditOptions(scores="knn", featurizer_params=FAST_FEATURES,
                           near_duplicates=False, evidence=False)
    result = audit_corpus(texts, Y, space, options=options)
    topk = result.scores.topk
    grouped = find_label_issues(Y, topk, evidence=False, groups=duplicate_groups(texts))
    plain = find_label_issues(Y, topk, evidence=False)
    assert np.array_equal(result.issues.probability, grouped.probability)
    assert np.array_equal(result.issues.doc, grouped.doc)
    assert not np.array_equal(result.issues.probability, plain.probability)


def test_the_audit_keeps_its_exact_duplicates_in_one_fold(goemotions_small):
    """The audit grouped twins by training's rule (case and spacing), while the copies
    its own exact-duplicate report finds (and the features cannot tell apart) also
    differ by Unicode form or a soft hyphen: such a copy fell in the other calibration
    fold, its label seen."""
    from tagsmith.audit import duplicates as dup
    from tagsmith.audit.detect import find_label_issues
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    texts, Y, space = _twinned(goemotions_small, 300)
    texts[300:] = [text[:1] + "\u00ad" + text[1:] for text in texts[:150]]
    same = dup.text_hashes(texts)
    assert np.array_equal(same[:150], same[300:])  # exact duplicates to the audit
    assert not np.intersect1d(duplicate_groups(texts[:150]), duplicate_groups(texts)[300:]).size
    texts, Y = _content_sorted(texts, Y)
    same = dup.text_hashes(texts)
    options = AuditOptions(scores="knn", featurizer_params=FAST_FEATURES,
                           near_duplicates=False, evidence=False)
    result = audit_corpus(texts, Y, space, options=options)
    groups = np.unique(same, return_inverse=True)[1].reshape(-1)
    grouped = find_label_issues(Y, result.scores.topk, evidence=False, groups=groups)
    plain = find_label_issues(Y, result.scores.topk, evidence=False,
                              groups=duplicate_groups(texts))  # training's rule
    assert not np.array_equal(result.issues.probability, plain.probability)
    assert np.array_equal(result.issues.probability, grouped.probability)
    assert np.array_equal(result.issues.doc, grouped.doc)


# ---- a bundle's stored folds say whether they were grouped ----

def test_crossfit_grouped_is_recorded_only_when_true_and_read_back():
    topk = TopK.from_scores(np.random.default_rng(0).random((6, 3)), k=3)
    scores = CrossFitScores(topk, np.arange(6) % 2, 2, 0, "linear", {}, 1.0)
    meta, arrays = scores.to_state()
    assert "grouped" not in meta  # bundles of duplicate-free corpora keep their bytes
    assert not CrossFitScores.from_state(meta, arrays).grouped  # and older bundles
    scores.grouped = True
    meta, arrays = scores.to_state()
    assert meta["grouped"] is True and CrossFitScores.from_state(meta, arrays).grouped
    with pytest.raises(InvalidParameterError, match="crossfit.grouped.*'yes'"):
        CrossFitScores.from_state({**meta, "grouped": "yes"}, arrays)


def test_auditing_with_ungrouped_bundle_folds_of_repeated_texts_warns(goemotions_small,
                                                                     caplog):
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    texts, Y, space = _twinned(goemotions_small, 300)
    clf = train_classifier(texts, Y, space, options=TrainOptions(
        featurizer_params=FAST_FEATURES, model="tree", model_params={"n_jobs": 1},
        dev_fraction=0.0, crossfit_folds=2))
    assert clf.crossfit.grouped
    options = AuditOptions(scores="bundle", near_duplicates=False, evidence=False)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        audit_corpus(texts, Y, space, classifier=clf, options=options)
    assert "document by document" not in caplog.text
    clf.crossfit.grouped = False  # as a bundle trained before the folds were grouped reads
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = audit_corpus(texts, Y, space, classifier=clf, options=options)
    assert ("folds were drawn document by document (it was trained before equal texts "
            "were kept in one fold), and 300 of the 450 documents share their text"
            ) in caplog.text
    # a Python caller is told train_classifier's option, not train's flag, and so is the
    # report; audit's filter swaps in the command line's wording
    fix = ("retrain the bundle (train_classifier with TrainOptions(crossfit_folds=...)) or "
           "audit with scores 'crossfit'")
    [record] = [r for r in caplog.records if "document by document" in r.getMessage()]
    assert fix in record.getMessage() and "--" not in record.getMessage()
    assert [w for w in result.report["warnings"] if "document by document" in w] \
        == [record.getMessage()]
    import tagsmith.cli as tagsmith_cli

    tagsmith_cli._register_commands()
    assert tagsmith_cli._OptionNames(tagsmith_cli.cli.commands["audit"]).filter(record)
    assert ("retrain the bundle (train --crossfit-folds) or audit with --scores 'crossfit'"
            in record.getMessage())
    assert "TrainOptions" not in record.getMessage()
    # without repeated texts the folds were never grouped, and nothing is wrong with them
    caplog.clear()
    plain = train_classifier(texts[:300], Y[:300], space, options=TrainOptions(
        featurizer_params=FAST_FEATURES, model="tree", model_params={"n_jobs": 1},
        dev_fraction=0.0, crossfit_folds=2))
    assert not plain.crossfit.grouped
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        audit_corpus(texts[:300], Y[:300], space, classifier=plain, options=options)
    assert "document by document" not in caplog.text


def _counting_folds(monkeypatch) -> list:
    """Each draw of the folds (fold_assignment orders them by folds_in_order), counted."""
    import tagsmith.pipeline.crossfit as crossfit

    drawn: list = []
    original = crossfit.folds_in_order

    def counted(*args, **kwargs):
        drawn.append(args[1])
        return original(*args, **kwargs)
    monkeypatch.setattr(crossfit, "folds_in_order", counted)
    return drawn


def test_train_draws_its_crossfit_folds_once(goemotions_small, monkeypatch):
    """The check that the folds do not put every labelled document in one
    (fold_of_every_labelled) drew them, then cross_fit_topk drew them again (~0.2 s
    each at 590k documents): drawn once, the check's folds are the ones fitted on."""
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    drawn = _counting_folds(monkeypatch)
    options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1},
                           dev_fraction=0.0, crossfit_folds=3, seed=2)
    clf = train_classifier(train.texts[:300], train.Y[:300], space, options=options)
    assert drawn == [3]
    # drawn along the documents' content (training's text hashes, as the audit orders)
    from tagsmith.data.texthash import hash_texts
    from tagsmith.pipeline.audit import content_order

    texts = list(train.texts[:300])
    order = content_order(hash_texts(texts), texts, train.Y[:300])
    np.testing.assert_array_equal(clf.crossfit.fold, fold_assignment(
        300, 3, 2, duplicate_groups(texts), order=order))


@pytest.mark.parametrize("scores", ["crossfit", "auto"])
def test_audit_draws_its_crossfit_folds_once(goemotions_small, monkeypatch, scores):
    """Auto's check of the folds, the explicit scores' check and the cross-fitting each
    drew them: drawn once."""
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    drawn = _counting_folds(monkeypatch)
    options = AuditOptions(scores=scores, n_folds=3, seed=1, model_params={"n_jobs": 1}
                           if scores == "crossfit" else {}, featurizer_params=FAST_FEATURES)
    result = audit_corpus(train.texts[:300], train.Y[:300], space, options=options)
    assert drawn == [3]
    assert result.report["scores"]["source"] == "crossfit"


def test_folds_given_to_cross_fit_topk_are_used_and_checked():
    X = sp.random(12, 5, density=0.5, random_state=0, format="csr")
    Y = sp.csr_matrix(np.eye(12, 2) + np.eye(12, 2, -6))
    fold = fold_assignment(12, 3, 5)
    scores = cross_fit_topk(X, Y, "linear", {"n_jobs": 1}, n_folds=3, seed=5, fold=fold)
    np.testing.assert_array_equal(scores.fold, fold)
    with pytest.raises(InvalidParameterError, match=r"fold.*got .folds 1 to 3"):
        cross_fit_topk(X, Y, "linear", {"n_jobs": 1}, n_folds=3, fold=fold + 1)
    with pytest.raises(InvalidParameterError, match=r"fold.*got .shape \(11,\)"):
        cross_fit_topk(X, Y, "linear", {"n_jobs": 1}, n_folds=3, fold=fold[:11])
