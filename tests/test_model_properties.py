"""Property and edge-case tests of the model layer: every family's top-k contract on
random small problems, the bundle round trip, and states a damaged bundle may hold."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tagsmith.exceptions import BundleError, InvalidParameterError
from tagsmith.models import get_model_class, make_model
from tagsmith.store.bundle import Bundle, BundleWriter
from tagsmith.topk import TopK

FAMILIES = {
    "linear": ("linear", {}),
    "tree": ("tree", {"leaf_size": 2, "branching": 2}),
    "forest": ("tree", {"leaf_size": 2, "branching": 2, "n_trees": 2, "beam_width": 2}),
    "knn": ("knn", {"n_neighbors": 4, "max_posting": 3}),
    "dense_knn": ("dense_knn", {"n_neighbors": 4}),
    "ensemble": ("ensemble", {"members": [["tree", {"leaf_size": 2, "branching": 2,
                                                    "beam_width": 1}],
                                          ["knn", {"n_neighbors": 3}]],
                              "weights": [3, 1], "k_member": 2}),
}


def _problem(seed: int, n_docs: int = 30, n_features: int = 12, n_labels: int = 7):
    """Random X (one empty row), and Y with a label of one positive and one never positive."""
    rng = np.random.default_rng(seed)
    X = sp.random(n_docs, n_features, density=0.3, format="csr", random_state=seed,
                  dtype=np.float32)
    X = sp.csr_matrix(X.multiply(np.arange(n_docs)[:, None] != 3))  # row 3 is empty
    Y = rng.random((n_docs, n_labels)) < 0.3
    Y[0, 0] = True
    Y[:, -1] = False  # never positive
    Y[:, -2] = False
    Y[1, -2] = True  # one positive
    return X, sp.csr_matrix(Y.astype(np.float32))


def _check_contract(topk: TopK, n_docs: int, k: int, n_labels: int) -> None:
    """What predict_topk promises: shape, dtypes, scores in [0, 1] sorted best first, no
    label twice in a row, and padding (-1, -inf) only after the real entries."""
    assert topk.indices.shape == (n_docs, min(k, n_labels))
    assert topk.indices.dtype == np.int32 and topk.scores.dtype == np.float32
    assert topk.n_labels == n_labels
    TopK(topk.indices, topk.scores, topk.n_labels)  # the checks _trusted skips
    valid = topk.valid
    assert np.all(topk.scores[~valid] == -np.inf)
    real = topk.scores[valid]
    assert np.all((real >= 0) & (real <= 1))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_top_k_contract_for_every_width(family):
    name, params = FAMILIES[family]
    X, Y = _problem(0)
    model = make_model(name, n_jobs=1, **params).fit(X, Y)
    n_labels = Y.shape[1]
    for k in (1, 3, n_labels, n_labels + 4):
        topk = model.predict_topk(X, k)
        _check_contract(topk, X.shape[0], k, n_labels)
        assert topk.valid[:, 0].all()  # every family proposes at least one label
    assert len(model.predict_topk(X[3], 2)) == 1  # a single (empty) document
    assert len(model.predict_topk(X[:0], 2)) == 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), k=st.integers(1, 9), family=st.sampled_from(sorted(FAMILIES)))
def test_top_k_contract_on_random_problems(seed, k, family):
    name, params = FAMILIES[family]
    X, Y = _problem(seed, n_docs=int(np.random.default_rng(seed).integers(2, 25)))
    model = make_model(name, n_jobs=1, **params).fit(X, Y)
    _check_contract(model.predict_topk(X, k), X.shape[0], k, Y.shape[1])


def test_ensemble_member_proposing_nothing_for_a_row():
    # a one-leaf beam proposes two labels per document: the ensemble's other labels come
    # from the other member only, and where a member proposes a label it counts 0 there
    X, Y = _problem(1)
    tree = make_model("tree", n_jobs=1, leaf_size=2, branching=2, beam_width=1).fit(X, Y)
    knn = make_model("knn", n_jobs=1, n_neighbors=3).fit(X, Y)
    ensemble = get_model_class("ensemble").from_fitted([tree, knn], weights=[1, 3])
    n_labels = Y.shape[1]
    topk = ensemble.predict_topk(X, n_labels)
    _check_contract(topk, X.shape[0], n_labels, n_labels)
    expected = (0.25 * tree.predict_topk(X, n_labels).to_csr().toarray()
                + 0.75 * knn.predict_topk(X, n_labels).to_csr().toarray())
    np.testing.assert_allclose(topk.to_csr().toarray(), expected, atol=1e-6)
    # the tree alone leaves most places empty: only its real entries come through
    alone = get_model_class("ensemble").from_fitted([tree]).predict_topk(X, n_labels)
    assert np.array_equal(alone.valid, tree.predict_topk(X, n_labels).valid)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bundle_round_trip_predicts_the_same(tmp_path, family):
    name, params = FAMILIES[family]
    X, Y = _problem(2)
    model = make_model(name, n_jobs=1, **params).fit(X, Y)
    meta, arrays = model.to_state()
    writer = BundleWriter(tmp_path / "b")
    writer.add_json("model.json", meta)
    writer.add_arrays("model.npz", arrays)
    writer.commit()
    bundle = Bundle(tmp_path / "b")
    loaded = get_model_class(name).from_state(bundle.read_json("model.json"),
                                              bundle.read_arrays("model.npz"))
    for k in (1, 5):
        before, after = model.predict_topk(X, k), loaded.predict_topk(X, k)
        np.testing.assert_array_equal(before.indices, after.indices)
        np.testing.assert_array_equal(before.scores, after.scores)
    # a truncated array file, even with a checksum that matches it, names the file
    damaged = (tmp_path / "b" / "model.npz").read_bytes()[:-100]
    (tmp_path / "b" / "model.npz").write_bytes(damaged)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    import hashlib

    manifest["files"]["model.npz"] = hashlib.sha256(damaged).hexdigest()
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="model.npz"):
        Bundle(tmp_path / "b").read_arrays("model.npz")


def test_dense_knn_scores_do_not_depend_on_the_memory_layout():
    # a row's norm and cosines are sums along it: numpy added along the rows of a
    # column-major array (or a densified CSC matrix) in another order, and the same
    # documents got scores an ulp apart
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 37)).astype(np.float32)
    Y = sp.csr_matrix(rng.random((200, 6)) < 0.3)
    model = make_model("dense_knn", n_jobs=1, n_neighbors=5).fit(X, Y)
    expected = model.predict_topk(X, 6)
    for variant in (np.asfortranarray(X), sp.csc_matrix(X)):
        topk = model.predict_topk(variant, 6)
        np.testing.assert_array_equal(topk.indices, expected.indices)
        np.testing.assert_array_equal(topk.scores, expected.scores)
    refitted = make_model("dense_knn", n_jobs=1, n_neighbors=5).fit(np.asfortranarray(X), Y)
    np.testing.assert_array_equal(refitted.predict_topk(X, 6).scores, expected.scores)


def _fitted_state(name, **params):
    X, Y = _problem(3)
    model = make_model(name, n_jobs=1, **params).fit(X, Y)
    meta, arrays = model.to_state()
    return X, json.loads(json.dumps(meta)), {key: np.array(value) for key, value in arrays.items()}


@pytest.mark.parametrize("key", ["coef_data", "intercept"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_linear_state_with_non_finite_weights_is_refused_on_load(key, bad):
    # loaded fine, then every prediction failed with "parameter 'scores' must be finite"
    X, meta, arrays = _fitted_state("linear")
    arrays[key][0] = bad
    with pytest.raises(ValueError, match=key.split("_")[0]):
        get_model_class("linear").from_state(meta, arrays)


@pytest.mark.parametrize("key", ["slot_bias", "entry_val", "t1_slot_bias"])
def test_tree_state_with_non_finite_weights_is_refused_on_load(key):
    # beam search turned a NaN weight into NaN label scores, handed out as a trusted TopK
    # (a single tree) or refused as a 'matrix' parameter nobody passed (a forest)
    X, meta, arrays = _fitted_state("tree", leaf_size=2, branching=2, n_trees=2)
    arrays[key][0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite weights"):
        get_model_class("tree").from_state(meta, arrays)


@pytest.mark.parametrize("name", ["knn", "dense_knn"])
@pytest.mark.parametrize("param, bad", [("n_neighbors", 0), ("power", -1.0), ("n_jobs", 0)])
def test_knn_state_with_bad_parameters_is_refused_on_load(name, param, bad):
    # loaded fine, then the first prediction failed naming a parameter nobody passed
    X, meta, arrays = _fitted_state(name, n_neighbors=3)
    meta["params"][param] = bad
    with pytest.raises(InvalidParameterError, match=param):
        get_model_class(name).from_state(meta, arrays)


# -- TopK construction against a plain reference ------------------------------------------------
SCORES = st.sampled_from([0.0, -0.0, 1e-30, 0.25, 0.5, 1.0, 3.0, -1.0, -2.5])


def _reference(row: np.ndarray, candidates, k: int) -> list[int]:
    """Best first, ties to the lower label id."""
    return sorted(candidates, key=lambda j: (-row[j], j))[:k]


@settings(max_examples=200, deadline=None)
@given(scores=hnp.arrays(np.float32, st.tuples(st.integers(0, 5), st.integers(1, 8)),
                         elements=SCORES),
       k=st.integers(1, 10))
def test_from_scores_matches_a_sort_and_is_nested(scores, k):
    topk = TopK.from_scores(scores, k)
    width = min(k, scores.shape[1])
    assert topk.k == width
    for i, row in enumerate(scores):
        assert topk.indices[i].tolist() == _reference(row, range(scores.shape[1]), width)
    for j in range(1, width + 1):
        np.testing.assert_array_equal(TopK.from_scores(scores, j).indices,
                                      topk.head(j).indices)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), k=st.integers(1, 10))
def test_from_csr_matches_a_sort_of_the_stored_entries(data, k):
    scores = data.draw(hnp.arrays(np.float32, st.tuples(st.integers(0, 5), st.integers(1, 8)),
                                  elements=SCORES))
    stored = data.draw(hnp.arrays(np.bool_, scores.shape, elements=st.booleans()))
    rows, cols = np.nonzero(stored)  # explicit zeros among them stay candidates
    topk = TopK.from_csr(sp.csr_matrix((scores[rows, cols], (rows, cols)),
                                       shape=scores.shape), k)
    TopK(topk.indices, topk.scores, topk.n_labels)
    for i, row in enumerate(scores):
        expected = _reference(row, np.flatnonzero(stored[i]).tolist(), topk.k)
        assert topk.indices[i, :len(expected)].tolist() == expected
        assert np.all(topk.indices[i, len(expected):] == -1)
    back = TopK.from_csr(topk.to_csr(), topk.k)
    np.testing.assert_array_equal(back.indices, topk.indices)
