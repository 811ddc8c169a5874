"""The score-level ensemble: its combination rule, state, validation and pipeline use."""

import logging
import re

import numpy as np
import pytest
import scipy.sparse as sp

import tagsmith.models.knn as knn_module
from tagsmith.data.labelspace import LabelSpace
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import InvalidParameterError, NotFittedError
from tagsmith.models import make_model
from tagsmith.models.base import SAMPLE_WEIGHT, SOFT_TARGETS
from tagsmith.models.ensemble import EnsembleModel
from tagsmith.models.knn import KNNModel
from tagsmith.models.linear import LinearOVR
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.distill import ActiveOptions, active_distill
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import TrainOptions, train_classifier
from tagsmith.testing.conformance import make_problem

from conftest import FAST_FEATURES, through_npz

MEMBERS = [["linear", {"C": 2.0}], ["knn", {"n_neighbors": 5}]]


@pytest.fixture(scope="module")
def problem():
    X, Y = make_problem(n_docs=200, n_features=60, n_labels=8, seed=4)
    X_test, _ = make_problem(n_docs=40, n_features=60, n_labels=8, seed=4)
    return X, Y, X_test


def _expected(members, weights, X, k, k_member):
    """Hand computation: dense weighted sum over each member's top-k_member, then top-k."""
    n_labels = members[0].n_labels_
    total = np.zeros((X.shape[0], n_labels))
    proposed = np.zeros((X.shape[0], n_labels), bool)
    for member, weight in zip(members, np.asarray(weights) / np.sum(weights), strict=True):
        topk = member.predict_topk(X, k_member)
        for q in range(X.shape[0]):
            for label, score in zip(topk.indices[q], topk.scores[q], strict=True):
                if label >= 0:
                    total[q, label] += weight * score
                    proposed[q, label] = True
    indices = np.full((X.shape[0], k), -1)
    scores = np.full((X.shape[0], k), -np.inf)
    for q in range(X.shape[0]):
        labels = np.flatnonzero(proposed[q])
        order = labels[np.lexsort((labels, -total[q, labels]))][:k]
        indices[q, :len(order)] = order
        scores[q, :len(order)] = total[q, order]
    return indices, scores


@pytest.mark.parametrize("k, k_member", [(3, 2), (4, 8), (8, 3)])
def test_equals_hand_computed_weighted_combination(problem, k, k_member):
    X, Y, X_test = problem
    members = [LinearOVR(C=2.0, n_jobs=1).fit(X, Y), KNNModel(n_neighbors=5, n_jobs=1).fit(X, Y)]
    ensemble = EnsembleModel.from_fitted(members, weights=[1.0, 3.0], k_member=k_member)
    topk = ensemble.predict_topk(X_test, k)
    indices, scores = _expected(members, [1.0, 3.0], X_test, k, max(k, k_member))
    np.testing.assert_array_equal(topk.indices, indices)
    np.testing.assert_allclose(topk.scores, scores, rtol=1e-6)


def test_fit_equals_from_fitted_and_shares_settings(problem):
    X, Y, X_test = problem
    ensemble = EnsembleModel(members=MEMBERS, weights=[2, 1], n_jobs=1).fit(X, Y)
    assert [member.n_jobs for member in ensemble.members_] == [1, 1]
    members = [LinearOVR(C=2.0, n_jobs=1).fit(X, Y), KNNModel(n_neighbors=5, n_jobs=1).fit(X, Y)]
    by_hand = EnsembleModel.from_fitted(members, weights=[2, 1])
    a, b = ensemble.predict_topk(X_test, 5), by_hand.predict_topk(X_test, 5)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
    assert np.all((a.scores >= 0) & (a.scores <= 1))


def test_state_roundtrip_nests_members(problem):
    X, Y, X_test = problem
    ensemble = EnsembleModel(members=MEMBERS, n_jobs=1).fit(X, Y)
    meta, arrays = ensemble.to_state()
    assert [entry["model"] for entry in meta["members"]] == ["linear", "knn"]
    assert {key.split(".", 1)[0] for key in arrays} == {"m0", "m1"}
    restored = through_npz(EnsembleModel, meta, arrays)
    before, after = ensemble.predict_topk(X_test, 6), restored.predict_topk(X_test, 6)
    np.testing.assert_array_equal(before.indices, after.indices)
    np.testing.assert_array_equal(before.scores, after.scores)


@pytest.fixture(scope="module")
def tampered_states(problem):
    """what -> (meta, arrays): ensemble states that disagree with themselves."""
    import copy

    X, Y, _ = problem
    meta, arrays = EnsembleModel(members=MEMBERS, n_jobs=1).fit(X, Y).to_state()

    def with_second_member(member) -> tuple[dict, dict]:
        member_meta, member_arrays = member.to_state()
        tampered = copy.deepcopy(meta)
        tampered["members"][1] = {"model": member.name, "state": member_meta}
        tampered_arrays = {key: value for key, value in arrays.items() if key.startswith("m0.")}
        tampered_arrays.update({"m1." + key: value for key, value in member_arrays.items()})
        return tampered, tampered_arrays

    extra_member = copy.deepcopy(meta)
    extra_member["members"].append(copy.deepcopy(meta["members"][1]))
    extra_arrays = dict(arrays)
    extra_arrays.update({"m2." + key[3:]: value for key, value in arrays.items()
                         if key.startswith("m1.")})
    auto = copy.deepcopy(meta)
    auto["params"]["weights"] = "auto"
    auto["tuning"] = {"weights": [0.5, 0.3, 0.2], "powers": [1.0, 1.0]}
    auto_nan = copy.deepcopy(auto)
    auto_nan["tuning"] = {"weights": [float("nan"), 0.5], "powers": [1.0, 1.0]}
    return {"more labels": with_second_member(KNNModel(n_jobs=1).fit(X, sp.hstack([Y, Y]))),
            "fewer features": with_second_member(KNNModel(n_jobs=1).fit(X[:, :30], Y)),
            "extra member": (extra_member, extra_arrays), "tuned weights": (auto, arrays),
            "NaN weight": (auto_nan, arrays)}


@pytest.mark.parametrize("what", ["more labels", "fewer features", "extra member",
                                  "tuned weights", "NaN weight"])
def test_from_state_refuses_inconsistent_states(tampered_states, what):
    """Each of these loaded, then crashed at prediction (or mixed label spaces)."""
    meta, arrays = tampered_states[what]
    with pytest.raises(ValueError):
        EnsembleModel.from_state(meta, arrays)


@pytest.mark.parametrize("where", ["ensemble", "member"])
def test_a_stored_negative_seed_still_loads_and_predicts_as_before(problem, where):
    """Before random_state was checked (an integer >= 0), an ensemble with fixed weights
    and no tree member fitted with a negative seed, given to the ensemble (and so to
    its linear member) or to a member; its bundle must still load, and predict as the
    members it holds. Fitting again refuses the seed, as for any new model."""
    import copy
    import json

    X, Y, X_test = problem
    fitted = EnsembleModel(members=MEMBERS, weights=[2, 1], n_jobs=1).fit(X, Y)
    meta, arrays = fitted.to_state()
    old = copy.deepcopy(meta)  # as the earlier version wrote it
    if where == "ensemble":
        old["params"]["random_state"] = -3
    else:
        old["params"]["members"][0][1]["random_state"] = -3
    old["members"][0]["state"]["params"]["random_state"] = -3
    loaded = EnsembleModel.from_state(json.loads(json.dumps(old)), arrays)
    before, after = fitted.predict_topk(X_test, 6), loaded.predict_topk(X_test, 6)
    np.testing.assert_array_equal(before.indices, after.indices)
    np.testing.assert_array_equal(before.scores, after.scores)
    # the stored values are kept: saved again, the bundle is the one that was loaded
    assert loaded.get_params()["random_state"] == old["params"]["random_state"]
    assert loaded.members_[0].random_state == -3
    resaved, _ = loaded.to_state()
    assert json.loads(json.dumps(resaved)) == json.loads(json.dumps(old))
    again = EnsembleModel.from_state(resaved, arrays).predict_topk(X_test, 6)
    np.testing.assert_array_equal(again.scores, before.scores)
    with pytest.raises(InvalidParameterError, match="random_state"):
        loaded.fit(X, Y)
    # only an integer seed is tolerated: other stored values are refused as before
    for bad in (1.5, True, "3"):
        broken = copy.deepcopy(old)
        broken["params"]["random_state"] = bad
        with pytest.raises(InvalidParameterError, match="random_state"):
            EnsembleModel.from_state(broken, arrays)


@pytest.mark.parametrize("params, name", [
    ({"members": []}, "members"),
    ({"members": "knn"}, "members"),
    ({"members": [["knn"]]}, "members[0]"),
    ({"members": [["linear", {}], ["no-such-model", {}]]}, "members[1]"),
    ({"members": [["knn", 5]]}, "members[0] (knn) params"),
    ({"members": [["knn", {"n_neigbors": 5}]]}, ("members[0] (knn)", "n_neigbors")),
    ({"members": MEMBERS, "weights": [1.0]}, "weights"),
    ({"members": MEMBERS, "weights": [1.0, -1.0]}, "weights"),
    ({"members": MEMBERS, "weights": [1.0, "a"]}, "weights"),
    ({"k_member": 0}, "k_member"),
    ({"n_jobs": 0}, "n_jobs"),
])
def test_bad_parameters_are_named(problem, params, name):
    X, Y, _ = problem
    with pytest.raises(InvalidParameterError) as info:
        EnsembleModel(**params).fit(X, Y)
    # a member's parameter is named once, after its member: "members[0] (knn): parameter
    # 'n_neigbors' must be ...", not "parameter \"members[0] (knn) parameter 'n_neigbors'\""
    owner, name = name if isinstance(name, tuple) else (None, name)
    assert (info.value.owner, info.value.name) == (owner, name)
    where = "" if owner is None else f"{owner}: "
    assert str(info.value).startswith(f"{where}parameter {name!r} must be ")


@pytest.mark.parametrize("bad, message", [
    (["knn", {"power": -1}], "members[1] (knn): parameter 'power' must be "),
    (["tree", {"branching": 3}], "members[1] (tree): parameter 'branching' must be "),
    (["linear", {"loss": "hinge"}], "members[1] (linear): parameter 'loss' must be "),
])
def test_member_errors_surface_before_any_fitting(problem, monkeypatch, bad, message):
    X, Y, _ = problem
    fitted = []
    monkeypatch.setattr(LinearOVR, "fit", lambda self, *args, **kwargs: fitted.append(self))
    with pytest.raises(InvalidParameterError) as info:
        EnsembleModel(members=[["linear", {}], bad], n_jobs=1).fit(X, Y)
    assert str(info.value).startswith(message)
    assert info.value.owner == "members[1] (" + bad[0] + ")"
    # the first member's training would be thrown away: a bad value fails before it
    assert fitted == []


def test_from_fitted_checks_its_models(problem):
    X, Y, _ = problem
    with pytest.raises(InvalidParameterError):
        EnsembleModel.from_fitted([])
    with pytest.raises(NotFittedError):
        EnsembleModel.from_fitted([KNNModel(n_jobs=1).fit(X, Y), KNNModel()])
    with pytest.raises(InvalidParameterError) as info:
        EnsembleModel.from_fitted([KNNModel(n_jobs=1).fit(X, Y),
                                   KNNModel(n_jobs=1).fit(X, Y[:, :4])])
    assert info.value.name == "models"


class _NoWeightKNN(KNNModel):
    name = "knn-no-weights"
    capabilities = frozenset({SOFT_TARGETS})


def test_capabilities_are_the_members_intersection(problem, monkeypatch, caplog):
    from tagsmith import models

    monkeypatch.setattr(knn_module, "_NoWeightKNN", _NoWeightKNN, raising=False)
    monkeypatch.setitem(models._REGISTRY, "knn-no-weights", "tagsmith.models.knn:_NoWeightKNN")
    both = EnsembleModel(members=MEMBERS)
    assert both.capabilities == {SAMPLE_WEIGHT, SOFT_TARGETS}
    mixed = EnsembleModel(members=[["knn", {}], ["knn-no-weights", {}]], n_jobs=1)
    assert mixed.capabilities == {SOFT_TARGETS}
    X, Y, _ = problem
    weights = np.linspace(0.5, 1.5, X.shape[0])
    caplog.set_level(logging.WARNING, logger="tagsmith")
    mixed.fit(X, Y, sample_weight=weights)
    assert "no sample weights" in caplog.text
    # the capable member got the weights, the other did not
    assert np.allclose(mixed.members_[0].doc_weight_, weights)
    assert np.allclose(mixed.members_[1].doc_weight_, 1.0)


def test_trains_saves_and_loads_through_the_pipeline(goemotions_small, tmp_path):
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    options = TrainOptions(model="ensemble", featurizer_params=FAST_FEATURES,
                           model_params={"members": [["linear", {}], ["knn", {}]],
                                         "n_jobs": 1}, refit=False)
    clf = train_classifier(train.texts, train.Y, space, options=options)
    clf.save(tmp_path / "bundle")
    loaded = TextClassifier.load(tmp_path / "bundle")
    texts = train.texts[:50]
    np.testing.assert_array_equal(clf.predict_topk(texts, 5).indices,
                                  loaded.predict_topk(texts, 5).indices)
    assert make_model("ensemble").get_params()["members"] is None


def _tuning_problem(n_members, n_docs=150, n_labels=30, seed=0):
    """Held-out top-k scores of ``n_members`` noisy members on different scales."""
    from tagsmith.topk import TopK

    rng = np.random.default_rng(seed)
    Y = (rng.random((n_docs, n_labels)) < 0.08).astype(np.float32)
    Y[np.arange(n_docs), rng.integers(0, n_labels, n_docs)] = 1
    topks = []
    for i in range(n_members):
        quality = rng.uniform(0.05, 0.5)
        raw = quality * Y + rng.random((n_docs, n_labels))
        topks.append(TopK.from_scores((raw / raw.max()) ** (1 + 2 * (i % 3)), 8))
    return topks, sp.csr_matrix(Y)


@pytest.mark.parametrize("n_members, powers, expected", [
    (2, None, ([0.1, 0.9], [1.0, 1.0], 0.74, 0.5471735094202341, 36)),
    (2, [1.0, 1.0], ([0.1, 0.9], [1.0, 1.0], 0.74, 0.5471735094202341, 9)),
    (3, None, ([0.1, 0.4, 0.5], [1.0, 1.0, 1.0], 0.8, 0.6615078429639573, 288)),
    (4, [1.0] * 4, ([0.1, 0.4, 0.4, 0.1], [1.0] * 4, 0.8066666666666666,
                    0.6632520200865716, 84)),
])
def test_small_ensembles_still_search_the_whole_grid(n_members, powers, expected):
    """What the exhaustive grid chose before coordinate ascent existed, unchanged."""
    from tagsmith.models._ensemble_tuning import tune_combination, weight_grid

    topks, Y = _tuning_problem(n_members)
    result = tune_combination(topks, Y, powers=powers)
    weights, chosen_powers, p1, ndcg, n_tried = expected
    assert result["weights"] == weights and result["powers"] == chosen_powers
    assert result["p@1"] == pytest.approx(p1) and result["ndcg@5"] == pytest.approx(ndcg)
    assert result["n_tried"] == n_tried and "n_sweeps" not in result
    assert weight_grid(3, 0.25).tolist() == [[0.25, 0.25, 0.5], [0.25, 0.5, 0.25],
                                             [0.5, 0.25, 0.25]]


def test_many_members_tune_by_coordinate_ascent():
    """12 members: a 9 ** 12 grid walk (with no point summing to 1) hung; coordinate
    ascent from equal weights ends at least as good as them, deterministically."""
    from tagsmith.metrics import ndcg_at_k, precision_at_k
    from tagsmith.models._ensemble_tuning import (
        MAX_SWEEPS,
        POWER_CHOICES,
        combine,
        tune_combination,
        weight_grid,
    )
    from tagsmith.topk import TopK

    assert weight_grid(12).shape == (0, 12)  # enumerated directly, not by filtering
    topks, Y = _tuning_problem(12)
    result = tune_combination(topks, Y)
    assert len(result["weights"]) == 12 and min(result["weights"]) > 0
    assert sum(result["weights"]) == pytest.approx(1.0)
    assert set(result["powers"]) <= set(POWER_CHOICES)
    assert 1 <= result["n_sweeps"] <= MAX_SWEEPS
    # a sweep tries 9 weights x 2 powers per member (less the current one)
    assert result["n_tried"] <= 1 + result["n_sweeps"] * 12 * 17
    equal = TopK.from_csr(combine([topk.to_csr() for topk in topks], [1 / 12] * 12,
                                  [1.0] * 12), 5)
    equal_objective = (precision_at_k(Y, equal, 1) + ndcg_at_k(Y, equal, 5)) / 2
    chosen = TopK.from_csr(combine([topk.to_csr() for topk in topks], result["weights"],
                                   result["powers"]), 5)
    objective = (precision_at_k(Y, chosen, 1) + ndcg_at_k(Y, chosen, 5)) / 2
    assert objective == pytest.approx((result["p@1"] + result["ndcg@5"]) / 2)
    assert objective > equal_objective  # strictly here: these members differ a lot
    assert tune_combination(topks, Y) == result
    fixed = tune_combination(topks, Y, powers=[0.5] * 12)
    assert fixed["powers"] == [0.5] * 12


def test_an_ensemble_of_twelve_members_fits_with_auto_weights(problem):
    X, Y, X_test = problem
    members = [["knn", {"n_neighbors": n}] for n in range(1, 13)]
    model = EnsembleModel(members=members, weights="auto", tune_fraction=0.25, n_jobs=1,
                          random_state=0).fit(X, Y)
    assert model.weights_.shape == (12,) and np.all(model.weights_ > 0)
    assert model.weights_.sum() == pytest.approx(1.0)
    assert model.tuning_["n_docs"] == 50 and model.tuning_["n_sweeps"] >= 1
    again = EnsembleModel.from_state(*model.to_state())
    np.testing.assert_array_equal(again.predict_topk(X_test, 3).indices,
                                  model.predict_topk(X_test, 3).indices)


class _Proposes:
    """A fitted member stand-in: proposes the same top-k scores for any input."""

    def __init__(self, topk):
        self.topk = topk

    def predict_topk(self, X, k):
        return self.topk


def test_tuning_on_soft_targets_ranks_against_their_labels():
    """The ranking metrics refuse labels other than 0 or 1 (a 0.5 was counted a whole
    label); an ensemble of soft-target members tunes on its held-out soft targets,
    whose labels are their nonzero entries, as before: the same choice as on those."""
    from tagsmith.models._ensemble_tuning import tune_combination
    from tagsmith.topk import TopK

    rng = np.random.default_rng(5)
    n_docs, n_labels = 40, 6
    truth = rng.integers(0, n_labels, n_docs)
    soft = sp.csr_matrix((rng.uniform(0.2, 0.9, n_docs), (np.arange(n_docs), truth)),
                         shape=(n_docs, n_labels))
    topks = [TopK.from_scores(rng.random((n_docs, n_labels)), 3) for _ in range(2)]
    assert tune_combination(topks, soft) == tune_combination(topks, soft != 0)


@pytest.mark.parametrize("n_members", [2, 6])  # the whole grid; coordinate ascent
def test_tuning_scores_the_candidates_prediction_ranks(n_members):
    """A label every member proposes with a score of 0 (a kNN with no neighbour votes
    fills its top-k with 0s) stays a candidate at prediction (combined_scores, as the
    tree and kNN models keep theirs); tuning dropped it, so the P@1 and nDCG@5 it
    reported (and stored with the weights) were not those of the ensemble it chose."""
    from tagsmith.metrics import ndcg_at_k, precision_at_k
    from tagsmith.models._ensemble_tuning import tune_combination
    from tagsmith.topk import TopK

    rng = np.random.default_rng(3)
    n_docs, n_labels, k = 80, 12, 4
    truth = rng.integers(0, n_labels, n_docs)
    truth[:20] = 0  # documents no member has evidence for: the first zero wins at prediction
    Y = sp.csr_matrix((np.ones(n_docs), (np.arange(n_docs), truth)), shape=(n_docs, n_labels))
    topks = []
    for i in range(n_members):
        scores = rng.random((n_docs, n_labels)) * 0.5
        scores[np.arange(n_docs), truth] += rng.uniform(0.0, 0.6) * (i % 2 + 0.5)
        scores[:20] = 0.0
        topks.append(TopK.from_scores(scores, k))
    result = tune_combination(topks, Y)

    model = EnsembleModel(members=[["knn", {}]] * n_members)
    model.members_ = [_Proposes(topk) for topk in topks]
    model.weights_ = np.asarray(result["weights"])
    model.powers_ = np.asarray(result["powers"])
    model.views_ = [None] * n_members
    model.n_labels_ = n_labels
    predicted = TopK.from_csr(model.combined_scores(sp.csr_matrix((n_docs, 1)), k), 5)
    assert predicted.valid[:20, 0].all()  # zeros, still candidates
    assert result["p@1"] == pytest.approx(precision_at_k(Y, predicted, 1))
    assert result["ndcg@5"] == pytest.approx(ndcg_at_k(Y, predicted, 5))


@pytest.mark.parametrize("powers", [(1.0, 1.0, 1.0), (0.5, 1.0, 0.5)])
def test_tuning_objective_ranks_as_prediction_does(powers):
    """Tuning scores candidates on a padded per-document layout built once; each must
    score exactly what combine() then TopK.from_csr gives (ties by label id, zeros
    still candidates, documents with fewer than 5 entries padded)."""
    from tagsmith.metrics import ndcg_at_k, precision_at_k
    from tagsmith.models._ensemble_tuning import _Candidates, combine, weight_grid
    from tagsmith.topk import TopK

    rng = np.random.default_rng(7)
    n_docs, n_labels = 60, 9
    Y = sp.csr_matrix((rng.random((n_docs, n_labels)) < 0.3).astype(np.float32))
    # scores on a coarse grid so that sums tie; some rows all zero; k=3 < 5
    topks = [TopK.from_scores(np.round(rng.random((n_docs, n_labels)) * 4) / 4, 3)
             for _ in powers]
    topks[0].scores[:10] = 0.0
    scores = [topk.to_csr() for topk in topks]
    candidates = _Candidates(scores, Y, powers)
    for weights in weight_grid(3, 0.25):
        got = candidates.objective(candidates.scattered(weights, powers))
        top = TopK.from_csr(combine(scores, weights, powers), 5)
        assert got == (precision_at_k(Y, top, 1), ndcg_at_k(Y, top, 5))


@pytest.mark.parametrize("multi_view", [False, True])
def test_members_fit_with_label_name_features_in_their_own_view(problem, multi_view):
    """A member's label_feature_weight was accepted and ignored: the ensemble's fit took
    no label-name features, so its tree was built from the documents alone."""
    from tagsmith.features.views import Views
    from tagsmith.models.tree import LabelTree

    X, Y, X_test = problem
    names = sp.random(Y.shape[1], X.shape[1], density=0.3, random_state=1, format="csr",
                      dtype=np.float32)
    params = {"leaf_size": 2, "branching": 2, "label_feature_weight": 3.0, "n_jobs": 1}
    tree = LabelTree(**params).fit(X, Y, label_features=names)
    without = LabelTree(**{**params, "label_feature_weight": 0.0}).fit(X, Y)
    expected = tree.predict_topk(X_test, 5)
    assert not np.allclose(expected.scores, without.predict_topk(X_test, 5).scores)
    members = [["tree", params], ["knn", {"n_neighbors": 5}]]
    if multi_view:  # the knn member reads another view, of another width
        other = np.random.default_rng(2).random((X.shape[0], 7))
        X = Views({"words": X, "other": other})
        X_test = Views({"words": X_test, "other": other[:X_test.shape[0]]})
        names = Views({"words": names, "other": np.ones((Y.shape[1], 7))})
        members = [[*members[0], "words"], [*members[1], "other"]]
    ensemble = EnsembleModel(members=members, n_jobs=1)
    assert ensemble.uses_label_features()
    ensemble.fit(X, Y, label_features=names)
    member_X = X_test["words"] if multi_view else X_test
    got = ensemble.members_[0].predict_topk(member_X, 5)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-6)
    assert not EnsembleModel(members=[["tree", {}], ["knn", {}]]).uses_label_features()


def test_cross_fitting_gives_ensemble_members_the_label_name_features(problem):
    """Cross-fitting (train --crossfit-folds, audit) passed label-name features only to a
    model with its own label_feature_weight, never to an ensemble's members."""
    from tagsmith.pipeline.crossfit import cross_fit_topk

    X, Y, _ = problem
    names = sp.random(Y.shape[1], X.shape[1], density=0.3, random_state=1, format="csr",
                      dtype=np.float32)
    params = {"leaf_size": 2, "branching": 2, "label_feature_weight": 3.0, "n_jobs": 1}
    tree = cross_fit_topk(X, Y, "tree", params, n_folds=3, k=4, label_features=names)
    ensemble = cross_fit_topk(X, Y, "ensemble", {"members": [["tree", params]]}, n_folds=3,
                              k=4, label_features=names)
    # the same labels with the same scores (equal scores may come in another order)
    np.testing.assert_allclose(ensemble.topk.to_csr().toarray(), tree.topk.to_csr().toarray(),
                               rtol=1e-6)


def test_an_ensemble_member_may_be_an_ensemble(problem, tmp_path):
    """A nested ensemble (a registered family like any other) failed every fit with a
    TypeError: the members' capabilities were read off their classes, where the
    ensemble's is a property."""
    X, Y, X_test = problem
    inner = {"members": MEMBERS, "weights": [2, 1]}
    nested = EnsembleModel(members=[["ensemble", inner], ["knn", {"n_neighbors": 3}]],
                           n_jobs=1)
    assert nested.capabilities == EnsembleModel(members=[*MEMBERS, ["knn", {}]]).capabilities
    nested.fit(X, Y)
    by_hand = EnsembleModel.from_fitted([EnsembleModel(**inner, n_jobs=1).fit(X, Y),
                                         KNNModel(n_neighbors=3, n_jobs=1).fit(X, Y)])
    np.testing.assert_allclose(nested.predict_topk(X_test, 5).scores,
                               by_hand.predict_topk(X_test, 5).scores, rtol=1e-6)
    meta, arrays = nested.to_state()
    again = EnsembleModel.from_state(meta, arrays)
    np.testing.assert_array_equal(again.predict_topk(X_test, 5).scores,
                                  nested.predict_topk(X_test, 5).scores)


def test_large_weights_are_normalised_without_overflow(problem):
    """weights=[1e308, 1e308] summed to inf: every normalised weight, so every score,
    was 0."""
    X, Y, X_test = problem
    members = [LinearOVR(C=2.0, n_jobs=1).fit(X, Y), KNNModel(n_neighbors=5, n_jobs=1).fit(X, Y)]
    large = EnsembleModel.from_fitted(members, weights=[1e308, 1e308])
    np.testing.assert_allclose(large.weights_, [0.5, 0.5])
    equal = EnsembleModel.from_fitted(members)
    np.testing.assert_allclose(large.predict_topk(X_test, 5).scores,
                               equal.predict_topk(X_test, 5).scores, rtol=1e-6)


@pytest.mark.parametrize("weights", [None, [2, 1]])
def test_a_tune_fraction_without_auto_weights_is_warned_about_and_still_loads(problem, caplog,
                                                                               weights):
    """tune_fraction only sets the documents held out for weights="auto"; with fixed or
    equal weights it was accepted and ignored without a word. A warning, not an error:
    the bundle keeps every parameter, and one saved so must still load and refit."""
    X, Y, X_test = problem
    caplog.set_level(logging.WARNING, logger="tagsmith")
    EnsembleModel(members=MEMBERS, weights=weights, n_jobs=1).fit(X, Y)
    assert "tune_fraction" not in caplog.text  # the default: nothing given, nothing said
    model = EnsembleModel(members=MEMBERS, weights=weights, tune_fraction=0.2,
                          n_jobs=1).fit(X, Y)
    assert "tune_fraction 0.2 has no effect" in caplog.text
    assert "weights='auto'" in caplog.text
    caplog.clear()
    meta, arrays = model.to_state()
    again = EnsembleModel.from_state(meta, arrays)  # loading warns about nothing
    assert again.get_params()["tune_fraction"] == 0.2 and caplog.text == ""
    np.testing.assert_array_equal(again.predict_topk(X_test, 3).indices,
                                  model.predict_topk(X_test, 3).indices)
    EnsembleModel(members=MEMBERS, weights="auto", tune_fraction=0.3, n_jobs=1).fit(X, Y)
    assert "has no effect" not in caplog.text  # used by auto


def test_auto_weights_leave_out_documents_of_weight_zero(problem):
    """weights="auto" held out documents at random among all of them and scored the
    held-out ones unweighted, documents of weight 0 included: the tuned weights (and
    the P@1 and nDCG@5 stored with them) depended on documents that were not there.
    Now a fit with weight-0 documents tunes, and predicts, as one without them."""
    X, Y, X_test = problem
    rng = np.random.default_rng(11)
    n_extra = 120  # noise documents with shuffled labels, interleaved, of weight 0
    X_all = sp.vstack([X, sp.random(n_extra, X.shape[1], density=0.2, random_state=12,
                                    format="csr", dtype=np.float32)]).tocsr()
    Y_all = sp.vstack([Y, Y[rng.permutation(Y.shape[0])[:n_extra]]]).tocsr()
    order = rng.permutation(X_all.shape[0])
    X_all, Y_all = X_all[order], Y_all[order]
    weights = (order < X.shape[0]).astype(np.float64)

    def fit(*args, **kwargs):
        return EnsembleModel(members=MEMBERS, weights="auto", tune_fraction=0.3, n_jobs=1,
                             random_state=3).fit(*args, **kwargs)

    kept = weights > 0
    weighted, dropped = fit(X_all, Y_all, sample_weight=weights), fit(X_all[kept], Y_all[kept])
    assert weighted.tuning_ == dropped.tuning_
    expected = dropped.predict_topk(X_test, 5)
    np.testing.assert_array_equal(weighted.predict_topk(X_test, 5).indices, expected.indices)
    np.testing.assert_array_equal(weighted.predict_topk(X_test, 5).scores, expected.scores)
    # equal weights are no weights, to the bit
    assert fit(X, Y, sample_weight=np.full(X.shape[0], 3.0)).tuning_ == fit(X, Y).tuning_


def test_tuning_weights_held_out_documents_as_copies():
    """With sample weights, tuning scores weighted means of P@1 and nDCG@5: a document of
    weight 3 counts as three copies of it (it counted once)."""
    from tagsmith.models._ensemble_tuning import tune_combination
    from tagsmith.topk import TopK

    topks, Y = _tuning_problem(3)
    repeats = np.random.default_rng(5).integers(1, 5, Y.shape[0])
    rows = np.repeat(np.arange(Y.shape[0]), repeats)
    copied = tune_combination([TopK._trusted(t.indices[rows], t.scores[rows], t.n_labels)
                               for t in topks], Y[rows])
    weighted = tune_combination(topks, Y, sample_weight=repeats.astype(np.float64))
    assert weighted["weights"] == copied["weights"] and weighted["powers"] == copied["powers"]
    assert weighted["p@1"] == pytest.approx(copied["p@1"])
    assert weighted["ndcg@5"] == pytest.approx(copied["ndcg@5"])
    assert weighted["p@1"] != tune_combination(topks, Y)["p@1"]  # the weights count
    # weights near 1e308 summed to infinity: every candidate scored NaN, the first kept
    huge = tune_combination(topks, Y, sample_weight=repeats * 2.0 ** 1020)
    assert huge == weighted


def test_auto_weights_fit_from_the_documents_they_name(problem):
    """'auto only with at least 100 training documents' refused 100 and 101 documents
    (50 held out needed twice as many plus 2), and a tune_fraction above 0.5 was refused
    as too few documents, naming weights, whatever the corpus size."""
    X, Y, _ = problem
    for n_docs in (100, 101):
        model = EnsembleModel(members=MEMBERS, weights="auto", n_jobs=1).fit(X[:n_docs],
                                                                             Y[:n_docs])
        assert model.tuning_["n_docs"] == 50
    with pytest.raises(InvalidParameterError, match="'weights' must be 'auto' only with at "
                       "least 100 training documents, got 99"):
        EnsembleModel(members=MEMBERS, weights="auto", n_jobs=1).fit(X[:99], Y[:99])
    with pytest.raises(InvalidParameterError, match=r"'tune_fraction' must be a share holding "
                       r"out at most half of the 200 documents \(160 held out\), got 0.8"):
        EnsembleModel(members=MEMBERS, weights="auto", tune_fraction=0.8, n_jobs=1).fit(X, Y)


def _copied(X, Y, n_copies=2):
    """Every document ``n_copies`` times, in a row, and the group id of each (its
    original's row): equal texts as :func:`duplicate_groups` numbers them."""
    rows = np.repeat(np.arange(X.shape[0]), n_copies)
    return X[rows], Y[rows], rows


def test_auto_weights_keep_copies_of_a_text_on_one_side_of_the_tuning_split(problem, caplog):
    """weights="auto" held out documents one by one: a document and its copy fell on
    both sides, and the tuning scored the members on documents they had been fitted
    on (a kNN at similarity 1). With ``groups``, whole groups are held out, about
    ``tune_fraction`` of the documents, and the tuning's P@1 is that of unseen texts."""
    X, Y, _ = problem
    # labels the features do not predict: only a member that recalls a copy gets them
    Y = Y[np.random.default_rng(0).permutation(Y.shape[0])]
    X_copies, Y_copies, groups = _copied(X, Y)
    members = [["linear", {"C": 2.0, "max_iter": 1000}], ["knn", {"n_neighbors": 1}]]
    for seed in range(5):
        model = EnsembleModel(members=members, weights="auto", tune_fraction=0.25, n_jobs=1,
                              random_state=seed)
        model._validate_params()
        rest, hold = model._tuning_split(len(groups), None, groups)
        assert not set(groups[hold]) & set(groups[rest])
        assert abs(len(hold) - 100) <= 1 and len(hold) + len(rest) == len(groups)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        grouped = EnsembleModel(members=members, weights="auto", tune_fraction=0.25,
                                n_jobs=1).fit(X_copies, Y_copies, groups=groups)
    assert "on 100 held-out documents" in caplog.text
    document_wise = EnsembleModel(members=members, weights="auto", tune_fraction=0.25,
                                  n_jobs=1).fit(X_copies, Y_copies)
    assert document_wise.tuning_["p@1"] > 0.6  # copies recalled
    assert grouped.tuning_["p@1"] < 0.4  # near chance, as for a new text
    # weight-0 documents are still left out (the members fit on them at weight 0), and
    # the groups of the others stay whole
    weights = np.ones(len(groups))
    weights[::7] = 0.0
    rest, hold = model._tuning_split(len(groups), weights, groups)
    assert (weights[hold] > 0).all()
    assert not set(groups[hold]) & set(groups[rest[weights[rest] > 0]])
    with pytest.raises(InvalidParameterError, match="one integer group id per document"):
        EnsembleModel(members=members, weights="auto", n_jobs=1).fit(X_copies, Y_copies,
                                                                     groups=groups[1:])


def test_auto_weights_without_copies_draw_the_same_tuning_split(problem):
    """No groups, or groups of one document each (or whose only copies have weight 0),
    hold out the very documents drawn before groups were taken, and tune the same."""
    X, Y, _ = problem
    n_docs = X.shape[0]
    weights = np.ones(n_docs)
    weights[::9] = 0.0
    singles = np.arange(n_docs)
    twins_of_weight_zero = singles.copy()
    twins_of_weight_zero[9] = 0  # both of weight 0
    for seed in (None, 0, 3):
        model = EnsembleModel(members=MEMBERS, weights="auto", tune_fraction=0.3, n_jobs=1,
                              random_state=seed)
        model._validate_params()
        for sample_weight in (None, weights):
            present = singles if sample_weight is None else np.flatnonzero(sample_weight > 0)
            n_hold = round(0.3 * len(present))
            # the draw before groups, as it was written
            order = present[np.random.default_rng(seed or 0).permutation(len(present))]
            expected = np.sort(order[:n_hold])
            for groups in (None, singles, twins_of_weight_zero):
                if groups is twins_of_weight_zero and sample_weight is None:
                    continue
                rest, hold = model._tuning_split(n_docs, sample_weight, groups)
                np.testing.assert_array_equal(hold, expected)
                np.testing.assert_array_equal(rest, np.setdiff1d(singles, expected))
    plain = EnsembleModel(members=MEMBERS, weights="auto", tune_fraction=0.3, n_jobs=1).fit(X, Y)
    single = EnsembleModel(members=MEMBERS, weights="auto", tune_fraction=0.3,
                           n_jobs=1).fit(X, Y, groups=singles)
    assert single.tuning_ == plain.tuning_
    np.testing.assert_array_equal(single.predict_topk(X, 5).scores,
                                  plain.predict_topk(X, 5).scores)


def _copied_corpus():
    """300 texts: 150 of random words, each twice (once in capitals, an equal text
    for training), with one random label per text: only a member that recalls a copy
    predicts it."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(words, 6)) for _ in range(150)]
    labels = rng.integers(0, 6, 150)
    rows = rng.permutation(np.repeat(np.arange(150), 2))
    texts = [texts[i] if j % 2 else texts[i].upper() for j, i in enumerate(rows)]
    Y = sp.csr_matrix((np.ones(300, np.float32), (np.arange(300), labels[rows])),
                      shape=(300, 6))
    return texts, Y, LabelSpace.from_uris([f"u:{i}" for i in range(6)])


AUTO_PARAMS = {"members": [["linear", {"C": 2.0, "max_iter": 1000}],
                           ["knn", {"n_neighbors": 1}]],
               "weights": "auto", "tune_fraction": 0.3, "n_jobs": 1}


def _tuned_p_at_1(caplog) -> list[float]:
    return [float(p) for p in re.findall(r"ensemble weights .* P@1 ([0-9.]+)", caplog.text)]


def test_training_and_cross_fitting_hand_the_texts_groups_to_auto_weights(caplog):
    """Training fitted an ensemble with weights="auto" on features alone: its tuning
    split held out one copy of a text and fitted on the other, and the tuned P@1 (0.65
    to 0.87) was that of recalled copies. The held-out fit, the
    refit and every cross-fit fold model now get the groups of their texts."""
    texts, Y, space = _copied_corpus()
    options = TrainOptions(model="ensemble", featurizer_params=FAST_FEATURES,
                           model_params=AUTO_PARAMS, crossfit_folds=2)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        train_classifier(texts, Y, space, options=options)
    tuned = _tuned_p_at_1(caplog)
    assert len(tuned) == 4  # held-out fit, refit, two folds
    assert max(tuned) < 0.4  # near chance (1/6), as for new texts


class _GroupedLinear(LinearOVR):
    """A linear model whose fit takes ``groups=`` and says so; it keeps what it got."""

    fit_takes_groups = True

    def fit(self, X, Y, sample_weight=None, groups=None):
        self.groups_seen_ = groups
        return super().fit(X, Y, sample_weight)


class _UndeclaredGroupsLinear(_GroupedLinear):
    """The same fit, ``groups=`` in its signature, but the class does not declare it."""

    fit_takes_groups = False


@pytest.mark.parametrize("model_class, gets_groups",
                         [(_GroupedLinear, True), (_UndeclaredGroupsLinear, False)])
def test_training_hands_groups_to_a_model_that_declares_it(monkeypatch, model_class,
                                                           gets_groups):
    """Whether training passes the texts' groups was guessed from ``fit``'s signature:
    a ``groups`` parameter was enough. The class declares it now
    (``BaseModel.fit_takes_groups``), and only a declaring model gets them."""
    from tagsmith import models

    monkeypatch.setitem(models._REGISTRY, "grouped-test",
                        f"{__name__}:{model_class.__name__}")
    texts, Y, space = _copied_corpus()
    options = TrainOptions(model="grouped-test", featurizer_params=FAST_FEATURES,
                           model_params={"n_jobs": 1})
    model = train_classifier(texts, Y, space, options=options).model
    assert isinstance(model, model_class)
    if gets_groups:  # the duplicate groups of the texts it was fitted on: each text twice
        groups = np.asarray(model.groups_seen_)
        assert groups.ndim == 1 and groups.dtype.kind == "i"
        assert np.unique(groups).size < groups.size
    else:
        assert model.groups_seen_ is None


def test_active_distillation_hands_the_texts_groups_to_auto_weights(caplog):
    """The student of active distillation, and its out-of-fold threshold models, keep
    equal texts on one side of their weights="auto" tuning split too."""
    texts, Y, space = _copied_corpus()

    def teacher(indices):
        return Y[indices], np.ones(len(indices), bool)

    options = ActiveOptions(budget=300, rounds=1, model="ensemble", model_params=AUTO_PARAMS,
                            featurizer_params=FAST_FEATURES)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        active_distill(texts, space, teacher, options)
    tuned = _tuned_p_at_1(caplog)
    assert len(tuned) == 1 + options.threshold_folds
    assert max(tuned) < 0.4


def test_a_single_member_ensemble_orders_labels_like_its_member():
    """With one member, the ensemble is that member: its zero-score labels (a kNN's
    labels without votes, in frequency order) came back ordered by label id, as the
    combined score matrix breaks ties; they follow in the member's order now, scores
    bit for bit the member's."""
    rng = np.random.default_rng(3)
    X = sp.random(80, 20, density=0.2, random_state=3, format="csr", dtype=np.float32)
    Y = sp.csr_matrix(rng.random((80, 10)) < 0.1 + 0.6 * (np.arange(10) >= 7),
                      dtype=np.float32)  # frequent labels with high ids
    member = KNNModel(n_neighbors=2, n_jobs=1).fit(X, Y)
    expected = member.predict_topk(X, 10)
    assert (expected.scores == 0).any()  # a zero-score tail to order
    for ensemble in (EnsembleModel.from_fitted([member]),
                     EnsembleModel(members=[("knn", {"n_neighbors": 2})], n_jobs=1).fit(X, Y)):
        got = ensemble.predict_topk(X, 10)
        assert got.indices.tolist() == expected.indices.tolist()
        assert np.array_equal(got.scores, expected.scores)
        head = ensemble.predict_topk(X, 4)  # k below k_member: the member's first k
        assert head.indices.tolist() == expected.indices[:, :4].tolist()


def test_tree_members_clustered_alike_cluster_the_labels_once(caplog):
    # each tree member clustered the labels itself, the longest single step of a tree's
    # fit (30-70 s at 27,754 labels), where members of the same clustering parameters
    # on the same features cluster alike: the later ones take the first's clustering,
    # and every member is the model it was when fitted alone
    X, Y = make_problem(n_docs=300, n_features=60, n_labels=24, seed=5)
    shared = {"branching": 2, "leaf_size": 4, "n_jobs": 1}
    members = [["tree", {**shared, "C": 0.5}], ["tree", {**shared, "C": 2.0}],
               ["tree", {**shared, "C": 2.0, "leaf_size": 6}], ["knn", {}]]
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        ensemble = EnsembleModel(members=members, n_jobs=1).fit(X, Y)
    messages = [record.getMessage() for record in caplog.records]
    # the clustering counted as the tree logs it: one for leaf_size 4, one for 6
    assert sum("clustering 24 labels" in message for message in messages) == 2
    assert sum("clustering of the fit before, reused" in message for message in messages) == 1
    for member, (_, params) in zip(ensemble.members_[:3], members, strict=False):
        alone = make_model("tree", **params).fit(X, Y)
        for name in ("node_slot_ptr_", "slot_target_", "entry_val_", "slot_bias_"):
            np.testing.assert_array_equal(getattr(member, name), getattr(alone, name))


def test_a_refit_and_weights_auto_reuse_the_tree_members_clustering(caplog):
    # train's refit of an ensemble clustered each tree member again (the tree's own
    # refit did not), and weights="auto"'s final fit again after its tuning fit: each
    # clustering 30-70 s at 27,754 labels. Member i takes clustering_of's member i's
    X, Y = make_problem(n_docs=300, n_features=60, n_labels=24, seed=5)
    members = [["tree", {"branching": 2, "leaf_size": 4, "n_jobs": 1}],
               ["tree", {"branching": 2, "leaf_size": 6, "n_jobs": 1}], ["knn", {}]]
    # weights="auto": the tuning fit clusters, the final fit on all documents reuses it
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        auto = EnsembleModel(members=members, weights="auto", n_jobs=1).fit(X, Y)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("clustering 24 labels" in message for message in messages) == 2
    assert sum("clustering of the fit before, reused" in message for message in messages) == 2
    assert auto.predict_topk(X[:5], 3).indices.shape == (5, 3)
    first = EnsembleModel(members=members, n_jobs=1).fit(X[:200], Y[:200])
    place = np.asarray(Y[:200].sum(axis=0)).ravel() == 0
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        refit = EnsembleModel(members=members, n_jobs=1).fit(X, Y, clustering_of=first,
                                                             place=place)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("clustering 24 labels" in message for message in messages) == 0
    assert sum("clustering of the fit before, reused" in message for message in messages) == 2
    # each tree member is the tree refitted alone on its member's clustering
    for position in (0, 1):
        alone = make_model("tree", **members[position][1]).fit(
            X, Y, clustering_of=first.members_[position], place=place)
        for name in ("node_slot_ptr_", "slot_target_", "entry_val_", "slot_bias_"):
            np.testing.assert_array_equal(getattr(refit.members_[position], name),
                                          getattr(alone, name))
    # a refit of weights="auto" on a held-out fit: no clustering at all
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        EnsembleModel(members=members, weights="auto", n_jobs=1).fit(
            X, Y, clustering_of=first, place=place)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("clustering 24 labels" in message for message in messages) == 0


def test_a_refit_of_an_ensemble_places_the_labels_its_first_fit_saw_no_document_of(caplog):
    # the refit test above has every label in its first fit (place all False), so it
    # never checked that the ensemble hands ``place`` to its tree members: here labels
    # 0-3 have documents only after the first 200, and the refit moves them to a leaf
    X, Y = make_problem(n_docs=300, n_features=60, n_labels=24, seed=5)
    Y = sp.lil_matrix(Y)
    for label in range(4):
        Y[:200, label] = 0
        Y[250 + 10 * label:255 + 10 * label, label] = 1
    Y = Y.tocsr()
    members = [["tree", {"branching": 2, "leaf_size": 4, "n_jobs": 1}],
               ["tree", {"branching": 2, "leaf_size": 6, "n_jobs": 1}], ["knn", {}]]
    first = EnsembleModel(members=members, n_jobs=1).fit(X[:200], Y[:200])
    place = np.asarray(Y[:200].sum(axis=0)).ravel() == 0
    assert place.sum() == 4
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        refit = EnsembleModel(members=members, n_jobs=1).fit(X, Y, clustering_of=first,
                                                             place=place)
    messages = [record.getMessage() for record in caplog.records]
    assert not any("clustering 24 labels" in message for message in messages)
    moved = [int(m.group(1)) for message in messages
             if (m := re.search(r"reused; (\d+) labels? it saw no document of", message))]
    # the first tree moves a label; the second keeps them in their leaf of movers alone
    assert len(moved) == 2 and moved[0] > 0
    names = ("node_slot_ptr_", "slot_target_", "entry_val_", "slot_bias_")
    for position in (0, 1):
        alone = make_model("tree", **members[position][1]).fit(
            X, Y, clustering_of=first.members_[position], place=place)
        unplaced = make_model("tree", **members[position][1]).fit(
            X, Y, clustering_of=first.members_[position])
        # placing changed the first tree, so equality below covers the placement
        changed = any(not np.array_equal(getattr(alone, name), getattr(unplaced, name))
                      for name in names)
        assert changed == (position == 0)
        for name in names:
            np.testing.assert_array_equal(getattr(refit.members_[position], name),
                                          getattr(alone, name))


def test_clustering_of_another_ensemble_is_refused_by_name():
    X, Y = make_problem(n_docs=120, n_features=40, n_labels=12, seed=2)
    tree = ["tree", {"branching": 2, "leaf_size": 4, "n_jobs": 1}]
    first = EnsembleModel(members=[tree, ["knn", {}]], n_jobs=1).fit(X, Y)
    with pytest.raises(InvalidParameterError, match="clustering_of.*2 members"):
        EnsembleModel(members=[tree], n_jobs=1).fit(X, Y, clustering_of=first)
    with pytest.raises(InvalidParameterError, match="place"):
        EnsembleModel(members=[tree, ["knn", {}]], n_jobs=1).fit(X, Y, clustering_of=first,
                                                                 place=np.ones(3, bool))
    # an unfitted ensemble read "must be a fitted ensemble ..., got 'EnsembleModel'"
    with pytest.raises(InvalidParameterError, match="got 'an unfitted EnsembleModel'"):
        EnsembleModel(members=[tree, ["knn", {}]], n_jobs=1).fit(
            X, Y, clustering_of=EnsembleModel(members=[tree, ["knn", {}]]))


def test_a_refit_clusters_again_only_the_members_whose_clustering_settings_differ(caplog):
    # from Python, a refit whose one tree member had another leaf_size than its
    # counterpart in clustering_of was refused whole: that member alone is clustered
    # again, with a warning naming it (by its path in a nested ensemble) and the setting
    X, Y = make_problem(n_docs=200, n_features=40, n_labels=16, seed=3)
    tree = ["tree", {"branching": 2, "leaf_size": 4, "n_jobs": 1}]
    other = ["tree", {"branching": 2, "leaf_size": 6, "n_jobs": 1}]
    first = EnsembleModel(members=[tree, tree, ["ensemble", {"members": [tree, tree]}]],
                          n_jobs=1).fit(X[:150], Y[:150])
    members = [tree, other, ["ensemble", {"members": [other, tree]}]]
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        refit = EnsembleModel(members=members, n_jobs=1).fit(X, Y, clustering_of=first)
    messages = [record.getMessage() for record in caplog.records]
    warned = [record.getMessage() for record in caplog.records
              if record.levelno == logging.WARNING and "clustered again" in record.getMessage()]
    assert len(warned) == 2
    assert warned[0].startswith("ensemble members[1] (tree)")
    assert warned[1].startswith("ensemble members[2].members[0] (tree)")
    assert all("leaf_size 6 (clustering_of's member: 4)" in message for message in warned)
    # leaf_size 6 clustered once (the nested ensemble clusters its own), 4 reused twice
    assert sum("clustering 16 labels" in message for message in messages) == 2
    assert sum("clustering of the fit before, reused" in message for message in messages) == 2
    alone = make_model("tree", **other[1]).fit(X, Y)
    for member in (refit.members_[1], refit.members_[2].members_[0]):
        for name in ("node_slot_ptr_", "slot_target_", "entry_val_"):
            np.testing.assert_array_equal(getattr(member, name), getattr(alone, name))
    # a member that is no tree in clustering_of, or a nested one of other size, alike
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        EnsembleModel(members=[tree, ["ensemble", {"members": [tree]}], ["knn", {}]],
                      n_jobs=1).fit(X, Y, clustering_of=EnsembleModel(
                          members=[["knn", {}], ["ensemble", {"members": [tree, tree]}],
                                   ["knn", {}]], n_jobs=1).fit(X[:150], Y[:150]))
    warned = [record.getMessage() for record in caplog.records]
    assert any("members[0] (tree)" in message and "a KNNModel, not a tree" in message
               for message in warned)
    assert any("members[1] (ensemble)" in message and "its 1 member where" in message
               for message in warned)


@pytest.mark.parametrize("old_leaf_sizes, matching", [((4, 6), 0), ((6, 4), 1)])
def test_twin_tree_members_take_the_one_matching_counterparts_clustering(caplog,
                                                                         old_leaf_sizes,
                                                                         matching):
    """Two tree members of one view and settings share one clustering; where only one
    counterpart in clustering_of matched them, the other was warned "clustered again"
    and took its twin's reused clustering (untrue), or was clustered again and its twin
    took that, its own matching counterpart left unused. Both take the matching one."""
    X, Y = make_problem(n_docs=200, n_features=40, n_labels=16, seed=3)
    old = [["tree", {"branching": 2, "leaf_size": size, "n_jobs": 1}]
           for size in old_leaf_sizes]
    tree = ["tree", {"branching": 2, "leaf_size": 4, "n_jobs": 1}]
    first = EnsembleModel(members=old, n_jobs=1).fit(X[:150], Y[:150])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        refit = EnsembleModel(members=[tree, tree], n_jobs=1).fit(X, Y, clustering_of=first)
    messages = [record.getMessage() for record in caplog.records]
    assert not any("clustered again" in message for message in messages), messages
    assert not any("clustering 16 labels" in message for message in messages), messages
    assert sum(f"taken from clustering_of's members[{matching}]" in message
               for message in messages) == 1, messages
    alone = make_model("tree", **tree[1]).fit(X, Y, clustering_of=first.members_[matching])
    for member in refit.members_:
        for name in ("node_slot_ptr_", "slot_target_", "entry_val_"):
            np.testing.assert_array_equal(getattr(member, name), getattr(alone, name))


def test_place_without_clustering_of_is_refused_by_name():
    # place only moves labels into a reused clustering: given alone it did nothing
    X, Y = make_problem(n_docs=80, n_features=20, n_labels=6, seed=1)
    tree = ["tree", {"branching": 2, "leaf_size": 4, "n_jobs": 1}]
    with pytest.raises(InvalidParameterError, match="'place' must be given only with "
                                                    "clustering_of"):
        EnsembleModel(members=[tree], n_jobs=1).fit(X, Y, place=np.ones(6, bool))
    with pytest.raises(InvalidParameterError, match="'place' must be given only with "
                                                    "clustering_of"):
        make_model("tree", **tree[1]).fit(X, Y, place=np.ones(6, bool))


@pytest.mark.parametrize("inner, expected", [
    ([["tree", {"bogus": 1}]], r"^members\[1\]\.members\[0\] \(tree\): parameter 'bogus'"),
    ([["knn", {"n_neighbors": 0}]],
     r"^members\[1\]\.members\[0\] \(knn\): parameter 'n_neighbors'"),
    ([["knn", {}], ["ensemble", {"members": [["knn", {"n_neighbors": 0}]]}]],
     r"^members\[1\]\.members\[1\]\.members\[0\] \(knn\): parameter 'n_neighbors'"),
    ([["nope", {}]], r"^parameter 'members\[1\]\.members\[0\]' must be a registered"),
    ([["knn", {}, "words"]], r"^parameter 'members\[1\]\.members\[0\] view' must be"),
])
def test_a_nested_ensembles_errors_name_the_path_to_its_member(inner, expected):
    # a nested ensemble's error named its own member, "members[1] (ensemble): parameter
    # 'bogus'" or "members[0] view", which read as the outer one's first member
    X, Y = make_problem(n_docs=60, n_features=20, n_labels=5, seed=1)
    model = EnsembleModel(members=[["knn", {}], ["ensemble", {"members": inner}]], n_jobs=1)
    with pytest.raises(InvalidParameterError, match=expected):
        model.fit(X, Y)


def test_weights_auto_keeps_no_nested_ensembles_weights_for_its_final_fit():
    # weights="auto" kept its tuning fit's nested ensembles whole for the final fit on
    # all documents (their trees' weights, their kNN members' documents), where a tree
    # member kept its clustering alone: the final fit's peak memory held a second model
    X, Y = make_problem(n_docs=200, n_features=40, n_labels=16, seed=3)
    tree = ["tree", {"branching": 2, "leaf_size": 4, "n_jobs": 1}]
    members = [["ensemble", {"members": [tree, ["knn", {}]], "n_jobs": 1}], tree,
               ["knn", {}]]
    model = EnsembleModel(members=members, weights="auto", n_jobs=1)
    specs, views = model._validate_params(), model._member_views()
    _, shapes, _ = model._tune(X, Y.tocsr(), None, specs, views)
    nested, shell, knn = shapes
    assert knn is None and nested.members_[1] is None
    for kept in (nested.members_[0], shell):
        assert sorted(kept.trees_[0]) == ["node_slot_ptr_", "slot_is_label_", "slot_target_"]
        assert not hasattr(kept, "entry_val_")
    # a nested ensemble refitted on its shell is the one refitted on it whole
    inner = members[0][1]
    whole = EnsembleModel(**inner).fit(X[:150], Y[:150])
    place = np.asarray(Y[:150].sum(axis=0)).ravel() == 0
    refits = [EnsembleModel(**inner).fit(X, Y, clustering_of=of, place=place)
              for of in (whole, whole._clustering_only())]
    for name in ("node_slot_ptr_", "slot_target_", "entry_val_"):
        np.testing.assert_array_equal(getattr(refits[0].members_[0], name),
                                      getattr(refits[1].members_[0], name))
