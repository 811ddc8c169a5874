"""Model inputs at the edges: feature values near float32's limits, iteration counts
beyond int64, CSR matrices with int64 index arrays, NaN targets. Each is trained on or
refused by name, never lost silently or left to crash inside numba."""

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.exceptions import InvalidParameterError
from tagsmith.models import make_model
from tagsmith.models.base import check_features
from tagsmith.models.knn import l2_normalize
from tagsmith.testing.conformance import make_problem


def _problem():
    X, Y = make_problem(n_docs=120, n_features=40, n_labels=6, seed=2)
    X.data = np.random.default_rng(2).uniform(0.1, 3.0, X.nnz).astype(np.float32)
    return X, Y


def _scaled(X, scale: float):
    scaled = X.copy()
    scaled.data = (scaled.data.astype(np.float64) * scale).astype(np.float32)
    return scaled


# -- values out of float32's reach ---------------------------------------------------------
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("family", ["linear", "knn", "dense_knn"])
@pytest.mark.parametrize("sparse", [False, True])
def test_features_beyond_float32_are_refused_as_such(family, sparse):
    """A finite float64 feature of 1e39 was refused as 'NaN or infinity'."""
    X, Y = _problem()
    big = X.toarray().astype(np.float64)
    big[3, 5] = 1e39
    with pytest.raises(InvalidParameterError, match="beyond float32's range") as caught:
        make_model(family, n_jobs=1).fit(sp.csr_matrix(big) if sparse else big, Y)
    assert caught.value.name == "X" and "1e+39" in str(caught.value)
    big[3, 5] = np.nan  # a real NaN is still called one
    with pytest.raises(InvalidParameterError, match="NaN or infinity"):
        make_model(family, n_jobs=1).fit(sp.csr_matrix(big) if sparse else big, Y)


@pytest.mark.parametrize("scale", [1e20, 1e30, 1e-24, 1e-30])
def test_l2_normalize_scales_rows_whose_squares_leave_float32(scale):
    """Squares of values above about 1.8e19 overflowed the float32 norms, below about
    1e-23 they underflowed to 0: either way the row was scaled to nothing."""
    X, _ = _problem()
    expected = l2_normalize(X)
    got = l2_normalize(_scaled(X, scale))
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_allclose(got.data, expected.data, rtol=1e-5)


@pytest.mark.parametrize("family", ["knn", "dense_knn"])
@pytest.mark.parametrize("scale", [1e20, 1e-24])
def test_cosine_models_find_neighbours_of_rows_of_extreme_magnitude(family, scale):
    """Cosine similarity does not depend on a row's scale: queries (and training rows)
    far from 1 in magnitude have the neighbours of their unscaled selves; they had
    none (every score 0)."""
    X, Y = _problem()
    dense = family == "dense_knn"

    def rows(matrix):
        return matrix.toarray() if dense else matrix

    model = make_model(family, n_jobs=1, n_neighbors=5).fit(rows(X), Y)
    expected = model.predict_topk(rows(X[:30]), 3)
    assert expected.scores[:, 0].min() > 0
    for fitted, queries in [(model, _scaled(X[:30], scale)),
                            (make_model(family, n_jobs=1, n_neighbors=5)
                             .fit(rows(_scaled(X, scale)), Y), X[:30])]:
        got = fitted.predict_topk(rows(queries), 3)
        np.testing.assert_array_equal(got.indices, expected.indices)
        np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-4)


# -- iteration counts beyond int64 ----------------------------------------------------------
@pytest.mark.parametrize("family, param, reference", [
    ("linear", "max_iter", 10**6), ("tree", "max_iter", 10**6),
    ("tree", "cluster_iter", 10**6), ("knn", "max_features_per_doc", 40)])
@pytest.mark.parametrize("huge", [2**63, 2**64])
def test_counts_beyond_int64_train_as_no_limit(family, param, reference, huge):
    """max_iter=2**64 ('no limit': the loops stop when they converge) failed inside numba
    with a TypingError, cluster_iter=2**63 and max_features_per_doc=2**63 with an
    OverflowError, after the features were built; max_iter=2**63 compiled the solver
    for uint64, where it ran no iteration: a linear model of zero weights."""
    X, Y = _problem()
    extra = {"leaf_size": 2, "branching": 2} if family == "tree" else {}
    model = make_model(family, n_jobs=1, **{param: huge}, **extra).fit(X, Y)
    assert model.get_params()[param] == huge  # kept as given
    expected = make_model(family, n_jobs=1, **{param: reference}, **extra).fit(X, Y)
    got, want = model.predict_topk(X[:30], 3), expected.predict_topk(X[:30], 3)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.scores, want.scores)


# -- int64 index arrays -----------------------------------------------------------------------
def _int64_indexed(X):
    wide = X.copy()
    # scipy keeps index arrays assigned (or handed over in a sparse matrix) as they are
    wide.indices, wide.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)
    return wide


def test_int64_indices_are_narrowed_to_int32_sharing_the_values():
    X, _ = _problem()
    wide = _int64_indexed(X)
    checked = check_features(wide)
    assert checked.indices.dtype == np.int32 and checked.indptr.dtype == np.int32
    assert np.shares_memory(checked.data, wide.data)  # the values are not copied
    assert wide.indices.dtype == np.int64  # the caller's matrix is left as it was
    assert (checked != X).nnz == 0
    assert np.shares_memory(check_features(X).indices, X.indices)  # int32: kept


def test_int64_indices_reach_the_kernels_as_int32():
    """int64 indices went to the solver and the beam search as they were: numba compiled
    both a second time (15-30 s on first use) for the same features."""
    from tagsmith.models._solver import train_block
    from tagsmith.models._tree_kernels import beam_search

    X, Y = _problem()
    wide = _int64_indexed(X)
    expected = make_model("tree", n_jobs=1, leaf_size=2, branching=2).fit(X, Y)
    model = make_model("tree", n_jobs=1, leaf_size=2, branching=2).fit(wide, Y)
    got = model.predict_topk(wide, 3)
    np.testing.assert_array_equal(got.indices, expected.predict_topk(X, 3).indices)
    make_model("linear", n_jobs=1).fit(wide, Y)
    for kernel in (train_block, beam_search):
        index_types = {str(signature[1]) for signature in kernel.signatures}
        assert index_types and not any("int64" in name for name in index_types), \
            f"{kernel.__name__} compiled for {index_types}"


# -- targets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["linear", "knn", "tree"])
def test_a_nan_target_is_called_nan(family):
    """A NaN target was reported as 'range [nan, nan]'."""
    X, Y = _problem()
    soft = Y.astype(np.float64).toarray()
    soft[4, 1] = np.nan
    with pytest.raises(InvalidParameterError, match="1 NaN value'") as caught:
        make_model(family, n_jobs=1).fit(X, soft)
    assert caught.value.name == "Y"



@pytest.mark.parametrize("family", ["linear", "knn", "tree"])
def test_duplicate_target_entries_are_named_as_such(family):
    """A sparse Y built from (document, label) pairs with one pair twice: scipy sums
    the two 1s, and the error said only 'range [1.0, 2.0]', though every value given
    was 1."""
    X, Y = _problem()
    coo = Y.tocoo()
    rows = np.r_[coo.row, coo.row[3]]  # the fourth pair again
    cols = np.r_[coo.col, coo.col[3]]
    doubled = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=Y.shape)
    with pytest.raises(InvalidParameterError, match=(
            rf"range \[1.0, 2.0\]: duplicate entries for \(row {coo.row[3]}, column "
            rf"{coo.col[3]}\) were summed")) as caught:
        make_model(family, n_jobs=1).fit(X, doubled)
    assert caught.value.name == "Y"
    halves = sp.coo_matrix((np.r_[np.ones(coo.nnz), -1.0], (rows, cols)), shape=Y.shape)
    make_model(family, n_jobs=1).fit(X, halves)  # a 1 and a -1 sum to 0: in range


# -- pruning that leaves nothing -----------------------------------------------------------
@pytest.mark.parametrize("family", ["linear", "tree"])
def test_pruning_every_weight_away_is_warned_about(family, caplog):
    """``prune_threshold=inf`` (or any value above the largest weight) dropped every
    weight without a word: the model then gave every document the same labels."""
    X, Y = _problem()
    params = {"leaf_size": 2, "branching": 2} if family == "tree" else {}
    with caplog.at_level("WARNING", logger="tagsmith"):
        model = make_model(family, prune_threshold=np.inf, n_jobs=1, **params).fit(X, Y)
    warned = [r.getMessage() for r in caplog.records if "dropped every weight" in r.getMessage()]
    assert warned and "prune_threshold=inf" in warned[0]
    top = model.predict_topk(X, 2)
    assert len({tuple(row) for row in top.indices}) == 1  # what the warning says
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        make_model(family, n_jobs=1, **params).fit(X, Y)
    assert not [r for r in caplog.records if "dropped every weight" in r.getMessage()]
