"""Model parameters (and the encoder's and complete_all's) taken from numpy arrays: numpy
integers and floats are accepted and kept as plain Python values, so a fitted model's
state (which holds ``get_params()``) goes through JSON; bad values, numpy ones and bools
included, are refused naming the parameter."""

import json

import numpy as np
import pytest

from tagsmith.exceptions import InvalidParameterError
from tagsmith.labeling.client import complete_all
from tagsmith.models.dense_knn import DenseKNNModel
from tagsmith.models.ensemble import EnsembleModel
from tagsmith.models.knn import KNNModel
from tagsmith.models.linear import LinearOVR
from tagsmith.models.tree import LabelTree

X = np.array([[1.0, 0.0, 0.2], [0.0, 1.0, 0.1], [1.0, 0.1, 0.0], [0.1, 1.0, 0.0],
              [0.9, 0.0, 0.1], [0.0, 0.9, 0.2], [0.2, 0.1, 1.0], [0.0, 0.2, 0.9]])
Y = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0],
              [0, 0, 1], [0, 0, 1]])
i64, f32 = np.int64, np.float32


def _plain(value) -> bool:
    """Only plain Python values, all the way down (what the bundle's JSON takes)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def _state_round_trip(model):
    meta, arrays = model.to_state()
    assert _plain(meta["params"]), meta["params"]
    text = json.dumps(meta)  # numpy values would raise TypeError here
    return type(model).from_state(json.loads(text), arrays)


NUMPY_MODELS = [
    lambda: LinearOVR(C=f32(10), tol=f32(0.1), max_iter=i64(50), prune_threshold=f32(1e-4),
                      n_jobs=i64(1), random_state=i64(3)),
    lambda: LabelTree(n_trees=i64(2), branching=[i64(2), np.int32(4)], leaf_size=i64(2),
                      max_depth=i64(5), beam_width=i64(3), C=f32(1), tol=f32(0.1),
                      max_iter=i64(5), prune_threshold=f32(0.01), max_rep_features=i64(10),
                      label_feature_weight=f32(0), cluster_iter=i64(3),
                      cluster_balance=f32(0.5), negative_beam=(i64(0), i64(1)),
                      n_jobs=i64(1), random_state=i64(1)),
    lambda: KNNModel(n_neighbors=i64(3), power=f32(2), max_features_per_doc=i64(3),
                     max_posting=i64(10), n_jobs=i64(1)),
    lambda: DenseKNNModel(n_neighbors=i64(3), power=f32(2), n_jobs=i64(-1)),
]


@pytest.mark.parametrize("make", NUMPY_MODELS, ids=["linear", "tree", "knn", "dense_knn"])
def test_model_with_numpy_params_fits_and_its_state_goes_through_json(make):
    model = make().fit(X, Y)
    assert _plain(model.get_params())
    assert model.predict_topk(X[:1], k=1).indices.tolist() == [[0]]
    loaded = _state_round_trip(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_allclose(loaded.predict_topk(X, k=2).scores,
                               model.predict_topk(X, k=2).scores)


def test_tree_keeps_the_shape_of_per_tree_values():
    model = LabelTree(n_trees=2, branching=[i64(2), i64(4)], leaf_size=i64(2),
                      negative_beam=(i64(0), i64(1))).fit(X, Y)
    assert model.branching == [2, 4] and model.leaf_size == 2
    assert model.negative_beam == [0, 1]


def test_ensemble_with_numpy_params_keeps_plain_member_params():
    members = [["linear", {"C": f32(10), "max_iter": i64(20)}],
               ("knn", {"n_neighbors": i64(2), "power": f32(1)})]
    model = EnsembleModel(members=members, weights=np.array([1.0, 3.0], f32),
                          powers=[f32(1), np.float64(0.5)], k_member=i64(3),
                          tune_fraction=f32(0.1), n_jobs=i64(1), random_state=i64(2))
    model.fit(X, Y)
    params = model.get_params()
    assert _plain(params), params
    assert params["members"][0] == ["linear", {"C": 10.0, "max_iter": 20}]
    assert params["members"][1] == ("knn", {"n_neighbors": 2, "power": 1.0})
    # the caller's member dicts are left as given
    assert type(members[0][1]["C"]) is f32
    assert model.predict_topk(X[:1], k=1).indices.tolist() == [[0]]
    loaded = _state_round_trip(model)
    np.testing.assert_allclose(loaded.predict_topk(X, k=2).scores,
                               model.predict_topk(X, k=2).scores)


@pytest.mark.parametrize("make, message", [
    (lambda: LinearOVR(max_iter=i64(0)), "parameter 'max_iter' must be an integer >= 1"),
    (lambda: LinearOVR(max_iter=True), "parameter 'max_iter' must be an integer >= 1"),
    (lambda: LinearOVR(C=f32(0)), "parameter 'C' must be a number > 0"),
    (lambda: LinearOVR(random_state=-1), "parameter 'random_state' must be an integer >= 0"),
    (lambda: LinearOVR(n_jobs=np.bool_(True)), "parameter 'n_jobs' must be None, a positive"),
    (lambda: LinearOVR(n_jobs=True), "parameter 'n_jobs' must be None, a positive"),
    (lambda: LinearOVR(n_jobs=i64(0)), "parameter 'n_jobs' must be None, a positive"),
    (lambda: LabelTree(branching=i64(6)), "parameter 'branching' must be a power of two"),
    (lambda: LabelTree(branching=[i64(2), True]),
     "parameter 'branching' must be a power of two"),
    (lambda: LabelTree(leaf_size=[np.float64(4.0)]),
     "parameter 'leaf_size' must be an integer >= 2"),
    (lambda: LabelTree(beam_width=np.bool_(True)),
     "parameter 'beam_width' must be an integer >= 1"),
    (lambda: LabelTree(cluster_balance=f32(0.75)),
     "parameter 'cluster_balance' must be a number in (0, 0.5]"),
    (lambda: LabelTree(max_rep_features=i64(0)),
     "parameter 'max_rep_features' must be an integer >= 1, got"),
    (lambda: KNNModel(n_neighbors=True), "parameter 'n_neighbors' must be an integer >= 1"),
    (lambda: KNNModel(max_posting=i64(0)),
     "parameter 'max_posting' must be None or an integer >= 1"),
    (lambda: KNNModel(power=np.float64(np.inf)), "parameter 'power' must be a finite number"),
    (lambda: DenseKNNModel(power=np.bool_(True)), "parameter 'power' must be a finite number"),
    (lambda: EnsembleModel(members=[["knn", {"n_neighbors": i64(0)}]]),
     "members[0] (knn): parameter 'n_neighbors' must be an integer >= 1"),
    (lambda: EnsembleModel(members=[["knn", {}]], k_member=i64(0)),
     "parameter 'k_member' must be None or an integer >= 1"),
    (lambda: EnsembleModel(members=[["knn", {}]], tune_fraction=f32(1)),
     "parameter 'tune_fraction' must be a number in (0, 1)"),
    (lambda: EnsembleModel(members=[["knn", {}]], random_state=i64(-1)),
     "parameter 'random_state' must be None or an integer >= 0"),
])
def test_bad_model_values_are_refused_by_name(make, message):
    with pytest.raises(InvalidParameterError) as info:
        make().fit(X, Y)
    assert message in str(info.value)


def test_encoder_refuses_a_bad_batch_size_before_loading_a_model(monkeypatch):
    import builtins

    from tagsmith.zeroshot.encoder import SentenceEncoder

    real_import = builtins.__import__

    def no_model_libraries(name, *args, **kwargs):
        if name.split(".")[0] in ("torch", "sentence_transformers", "transformers"):
            raise AssertionError(f"{name} imported before the settings were checked")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_model_libraries)
    for kwargs, name in [({"batch_size": i64(0)}, "batch_size"),
                         ({"batch_size": True}, "batch_size"),
                         ({"batch_size": "8"}, "batch_size"),
                         ({"n_threads": -1}, "n_threads"),
                         ({"max_seq_length": 2.5}, "max_seq_length")]:
        with pytest.raises(InvalidParameterError, match=f"parameter '{name}'"):
            SentenceEncoder("/nonexistent/model", **kwargs)


class _Client:
    """Answers every request with its own text; counts nothing (complete_all only reads
    ``usage`` for the progress bar)."""

    class usage:  # noqa: N801 - stands in for the attribute
        n_requests = n_cached = 0
        cost = 0.0
        priced = False

    def complete(self, request):
        return request


@pytest.mark.parametrize("kwargs, name", [
    ({"n_workers": 0}, "n_workers"), ({"n_workers": True}, "n_workers"),
    ({"n_workers": "4"}, "n_workers"), ({"max_consecutive_failures": 0},
                                        "max_consecutive_failures"),
    ({"max_consecutive_failures": np.float64(3)}, "max_consecutive_failures"),
])
def test_complete_all_checks_its_counts_by_name(kwargs, name):
    with pytest.raises(InvalidParameterError, match=f"parameter '{name}' must be an integer"):
        complete_all(_Client(), ["a"], **kwargs)


def test_complete_all_takes_numpy_counts():
    assert complete_all(_Client(), ["a", "b"], n_workers=i64(2),
                        max_consecutive_failures=np.int32(1)) == ["a", "b"]
