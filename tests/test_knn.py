"""The nearest-neighbour model against a brute-force dense reference, and its options."""


import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.models.knn import KNNModel
from tagsmith.pipeline.io import read_labelled

from conftest import FAST_FEATURES, through_npz


def _random_problem(n_docs=300, n_features=40, n_labels=12, n_queries=40, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n_docs, n_features, density=0.12, random_state=seed, format="csr",
                  dtype=np.float32)
    Q = sp.random(n_queries, n_features, density=0.12, random_state=seed + 1, format="csr",
                  dtype=np.float32)
    Y = sp.random(n_docs, n_labels, density=0.15, random_state=seed + 2, format="csr",
                  dtype=np.float32)  # soft targets in (0, 1)
    weights = rng.uniform(0.2, 3.0, size=n_docs)
    return X, Y, Q, weights


def _unit_rows(X) -> np.ndarray:
    dense = np.asarray(X.todense(), dtype=np.float64)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)


def _brute_force(X, Y, Q, weights, n_neighbors, power):
    """Exact neighbours (sim desc, then row asc) and vote scores, with dense numpy."""
    sims = _unit_rows(Q) @ _unit_rows(X).T
    rows = np.full((Q.shape[0], n_neighbors), -1)
    top_sims = np.zeros((Q.shape[0], n_neighbors))
    scores = np.zeros((Q.shape[0], Y.shape[1]))
    dense_Y = Y.toarray()
    for q in range(Q.shape[0]):
        positive = np.flatnonzero(sims[q] > 0)
        order = positive[np.lexsort((positive, -sims[q, positive]))][:n_neighbors]
        rows[q, :len(order)] = order
        top_sims[q, :len(order)] = sims[q, order]
        strength = sims[q, order] ** power * weights[order]
        if strength.sum() > 0:
            scores[q] = strength @ dense_Y[order] / strength.sum()
    return rows, top_sims, scores


@pytest.mark.parametrize("power", [0.0, 1.0, 2.5])
def test_exact_search_equals_brute_force(power):
    X, Y, Q, weights = _random_problem()
    model = KNNModel(n_neighbors=7, power=power, max_posting=None, n_jobs=1)
    model.fit(X, Y, sample_weight=weights)
    rows, sims = model.kneighbors(Q)
    ref_rows, ref_sims, ref_scores = _brute_force(X, Y, Q, weights, 7, power)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_allclose(sims, ref_sims, rtol=1e-5, atol=1e-6)
    topk = model.predict_topk(Q, Y.shape[1])
    np.testing.assert_allclose(topk.to_csr().toarray(), ref_scores, rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(topk.scores, axis=1) <= 0)
    # voted labels come first, best first; the unvoted fill in with score 0
    for q in range(Q.shape[0]):
        n_voted = np.count_nonzero(ref_scores[q] > 0)
        expected = np.lexsort((np.arange(Y.shape[1]), -ref_scores[q]))[:n_voted]
        np.testing.assert_array_equal(topk.indices[q, :n_voted], expected)


@pytest.mark.parametrize("max_posting", [None, 2])
def test_signed_features_find_every_neighbour_whatever_the_batch(max_posting):
    """Features of both signs (hashing with alternating signs, embeddings) can sum to
    exactly 0 midway through a query's posting lists. The search took an accumulator of
    0 for "not yet listed", listed such a document twice, ran out of list places before
    every document reached was listed, and never reset the unlisted ones' sums: they
    went missing as neighbours and leaked into the next query's similarities, so a
    document's neighbours and votes depended on the documents predicted with it."""
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.choice([-1.0, 0.0, 1.0], size=(40, 6)).astype(np.float32))
    Q = sp.csr_matrix(rng.choice([-1.0, 0.0, 1.0], size=(60, 6)).astype(np.float32))
    Y = sp.csr_matrix((rng.random((40, 5)) < 0.4).astype(np.float32))
    model = KNNModel(n_neighbors=40, max_posting=max_posting, n_jobs=1).fit(X, Y)
    rows, sims = model.kneighbors(Q)
    topk = model.predict_topk(Q, 5)
    for q in range(Q.shape[0]):
        alone_rows, alone_sims = model.kneighbors(Q[q])
        np.testing.assert_array_equal(alone_rows[0], rows[q])
        np.testing.assert_array_equal(alone_sims[0], sims[q])
        alone = model.predict_topk(Q[q], 5)
        np.testing.assert_array_equal(alone.indices[0], topk.indices[q])
        np.testing.assert_array_equal(alone.scores[0], topk.scores[q])
    if max_posting is None:  # exact search: every document of positive cosine, exactly
        exact = _unit_rows(Q) @ _unit_rows(X).T
        for q in range(Q.shape[0]):
            found = rows[q][rows[q] >= 0]
            assert sorted(found.tolist()) == np.flatnonzero(exact[q] > 1e-6).tolist()
            np.testing.assert_allclose(sims[q][rows[q] >= 0], exact[q, found], atol=1e-6)


def test_skipping_frequent_features_keeps_similarities_exact():
    X, Y, Q, weights = _random_problem(n_docs=400, seed=3)
    doc_freq = np.bincount(X.indices, minlength=X.shape[1])
    cut = int(np.median(doc_freq))  # about half the features are "frequent"
    model = KNNModel(n_neighbors=5, max_posting=cut, n_jobs=1).fit(X, Y)
    rows, sims = model.kneighbors(Q)
    exact = _unit_rows(Q) @ _unit_rows(X).T
    found = rows >= 0
    assert found.all(), "every query finds neighbours (frequent features as a fallback)"
    true_sims = np.take_along_axis(exact, np.where(found, rows, 0), axis=1)
    np.testing.assert_allclose(sims, true_sims, rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(sims, axis=1) <= 1e-7)
    # a cut above every document frequency is exact search
    wide = KNNModel(n_neighbors=5, max_posting=int(doc_freq.max()), n_jobs=1).fit(X, Y)
    np.testing.assert_array_equal(wide.kneighbors(Q)[0],
                                  KNNModel(n_neighbors=5, max_posting=None, n_jobs=1)
                                  .fit(X, Y).kneighbors(Q)[0])


def test_query_of_only_frequent_features_still_finds_neighbours():
    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 1]], np.float32))
    Y = sp.csr_matrix(np.eye(4, dtype=np.float32))
    model = KNNModel(n_neighbors=2, max_posting=1, n_jobs=1).fit(X, Y)
    rows, sims = model.kneighbors(np.array([[1.0, 0.0, 0.0]]))
    assert rows[0].tolist() == [0, 1]  # ties go to the lower row
    np.testing.assert_allclose(sims[0], [np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-6)


def test_soft_targets_and_sample_weights_vote():
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    Y = np.array([[1.0, 0.0], [0.5, 1.0], [0.0, 1.0]])
    model = KNNModel(n_neighbors=2, n_jobs=1).fit(X, Y, sample_weight=[2.0, 1.0, 1.0])
    topk = model.predict_topk(np.array([[3.0, 0.0]]), 2)
    assert topk.indices.tolist() == [[0, 1]]
    # label 0: (2 * 1 + 1 * 0.5) / 3, label 1: (1 * 1) / 3
    np.testing.assert_allclose(topk.scores[0], [2.5 / 3, 1 / 3], rtol=1e-6)


def test_zero_weight_rows_are_left_out_and_rows_map_back():
    X, Y, Q, _ = _random_problem(seed=5)
    weights = np.ones(X.shape[0])
    weights[::3] = 0.0
    model = KNNModel(n_neighbors=4, max_posting=None, n_jobs=1).fit(X, Y, sample_weight=weights)
    assert model.n_docs_ == np.count_nonzero(weights)
    rows, _ = model.kneighbors(Q)
    assert not np.any(rows[rows >= 0] % 3 == 0)
    kept = np.flatnonzero(weights)
    ref_rows, _, _ = _brute_force(X[kept], Y[kept], Q, weights[kept], 4, 2.0)
    np.testing.assert_array_equal(rows, np.where(ref_rows >= 0, kept[ref_rows], -1))



def test_dense_knn_zero_weight_rows_map_back_also_after_save_and_load():
    """Dense kNN's neighbours are rows of the matrix given to fit, as knn's: with
    documents of weight 0 left out of the index, it returned positions in the index,
    other documents than the ones found."""
    from tagsmith.models.dense_knn import DenseKNNModel

    X, Y, Q, _ = _random_problem(seed=5)
    X, Q = X.toarray(), Q.toarray()
    weights = np.ones(X.shape[0])
    weights[::3] = 0.0
    model = DenseKNNModel(n_neighbors=4, n_jobs=1).fit(X, Y, sample_weight=weights)
    kept = np.flatnonzero(weights)
    sims = _unit_rows(sp.csr_matrix(Q)) @ _unit_rows(sp.csr_matrix(X[kept])).T
    rows, _ = model.kneighbors(Q)
    assert not np.any(rows[rows >= 0] % 3 == 0)
    # float16 index: compare with the brute force's best row where it leads clearly
    best = np.argsort(-sims, axis=1)
    clear = sims[np.arange(len(Q)), best[:, 0]] - sims[np.arange(len(Q)), best[:, 1]] > 1e-2
    assert clear.sum() > 10
    np.testing.assert_array_equal(rows[clear, 0], kept[best[clear, 0]])
    meta, arrays = model.to_state()
    restored = DenseKNNModel.from_state(meta, arrays)
    np.testing.assert_array_equal(restored.kneighbors(Q)[0], rows)
    # a bundle saved before rows were stored loads with the index positions it had
    old = DenseKNNModel.from_state(meta, {k: v for k, v in arrays.items() if k != "row_ids"})
    np.testing.assert_array_equal(old.predict_topk(Q, 3).scores,
                                  model.predict_topk(Q, 3).scores)


@pytest.mark.parametrize("family", ["knn", "dense_knn"])
def test_sample_weights_near_float_limits_vote_as_their_ratios(family):
    """Scores are ratios of weighted sums, so scaling every weight by a power of two
    changes no bit: weights near 1e308 summed to infinity (scores NaN), equal weights
    near 1e-320 lost their digits in the products (scores unlike unweighted ones)."""
    from tagsmith.models import make_model

    X, Y, Q, weights = _random_problem(seed=7)
    weights = 1.0 + weights / 4  # in [1, 2): used as they are
    if family == "dense_knn":
        X, Q = X.toarray(), Q.toarray()

    def topk(sample_weight):
        model = make_model(family, n_neighbors=6, n_jobs=1)
        return model.fit(X, Y, sample_weight=sample_weight).predict_topk(Q, 4)

    # (weights times 2**-1070 are subnormal, their digits lost before the model sees them)
    for scale, base in ((2.0 ** 1023, weights), (2.0 ** 1023, None), (2.0 ** -1070, None)):
        scaled = (np.ones(X.shape[0]) if base is None else base) * scale
        expected, found = topk(base), topk(scaled)
        assert np.all(np.isfinite(found.scores))
        np.testing.assert_array_equal(found.indices, expected.indices)
        np.testing.assert_array_equal(found.scores, expected.scores)

def test_max_features_per_doc_prunes_and_renormalises():
    X, Y, _, _ = _random_problem(n_features=80, seed=7)
    model = KNNModel(max_features_per_doc=3, n_jobs=1).fit(X, Y)
    rows = model.index_.tocsr()
    assert np.diff(rows.indptr).max() <= 3
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-6)
    # the kept entries are each row's largest (index columns are ranked feature ids)
    original_id = np.argsort(model.feature_rank_)
    dense = X.toarray()
    for row in range(X.shape[0]):
        largest = np.argsort(-dense[row], kind="stable")[:3]
        largest = largest[dense[row, largest] > 0]
        kept = original_id[rows.indices[rows.indptr[row]:rows.indptr[row + 1]]]
        assert set(kept.tolist()) == set(largest.tolist())


@pytest.fixture(scope="module")
def goemotions(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    test = read_labelled(goemotions_small["test"], space)
    featurizer = TfidfFeaturizer(**FAST_FEATURES)
    return featurizer.fit_transform(train.texts), train.Y, featurizer.transform(test.texts), test.Y


def test_learns_goemotions_and_threads_agree(goemotions):
    X, Y, X_test, Y_test = goemotions
    model = KNNModel(n_jobs=1).fit(X, Y)
    topk = model.predict_topk(X_test, 5)
    precision = np.asarray(Y_test[np.arange(len(topk)), topk.indices[:, 0]]).mean()
    majority = np.asarray(Y_test.sum(axis=0)).max() / Y_test.shape[0]
    assert precision > majority + 0.05
    threaded = KNNModel(n_jobs=2).fit(X, Y).predict_topk(X_test, 5)
    np.testing.assert_array_equal(threaded.indices, topk.indices)
    np.testing.assert_array_equal(threaded.scores, topk.scores)


def test_state_roundtrip_gives_identical_predictions(goemotions):
    X, Y, X_test, _ = goemotions
    weights = np.linspace(0.0, 2.0, X.shape[0])
    model = KNNModel(max_features_per_doc=20, n_jobs=1).fit(X, Y, sample_weight=weights)
    meta, arrays = model.to_state()
    restored = through_npz(KNNModel, meta, arrays)
    before, after = model.predict_topk(X_test, 10), restored.predict_topk(X_test, 10)
    np.testing.assert_array_equal(before.indices, after.indices)
    np.testing.assert_array_equal(before.scores, after.scores)
    np.testing.assert_array_equal(model.kneighbors(X_test[:20])[0],
                                  restored.kneighbors(X_test[:20])[0])


def _tampered(arrays: dict, key: str, value) -> dict:
    out = dict(arrays)
    out[key] = np.array(arrays[key], copy=True)
    out[key].flat[0] = value
    return out


@pytest.mark.parametrize("family", ["knn", "dense_knn"])
def test_from_state_refuses_targets_and_index_values_fit_refuses(family):
    """A stored target of NaN or 7 loaded and came out as a label's score (NaN, or
    above 1, in a TopK that is not checked); a NaN in the index hid its document."""
    from tagsmith.models.dense_knn import DenseKNNModel

    X, Y, Q, _ = _random_problem()
    Y = sp.csr_matrix((Y > 0).astype(np.float32))
    model_class = KNNModel if family == "knn" else DenseKNNModel
    data = X if family == "knn" else X.toarray()
    meta, arrays = model_class(n_neighbors=5, n_jobs=1).fit(data, Y).to_state()
    index_key = "index_data" if family == "knn" else "index"
    for key, value in (("targets_data", np.nan), ("targets_data", 7.0),
                       ("targets_data", -1.0), (index_key, np.nan)):
        with pytest.raises(ValueError):  # loading it is the failure
            model_class.from_state(meta, _tampered(arrays, key, value))
    # a label stored twice for one document: its values add up, within [0, 1] or not
    twice = dict(arrays)
    row = int(np.flatnonzero(np.diff(arrays["targets_indptr"]) == 1)[0])
    start = int(arrays["targets_indptr"][row])
    twice["targets_data"] = np.insert(arrays["targets_data"], start, 1.0)
    twice["targets_indices"] = np.insert(arrays["targets_indices"], start,
                                         arrays["targets_indices"][start])
    twice["targets_indptr"] = arrays["targets_indptr"] + (np.arange(
        len(arrays["targets_indptr"])) > row)
    with pytest.raises(ValueError):
        model_class.from_state(meta, twice)
    restored = model_class.from_state(meta, arrays)
    query = Q if family == "knn" else Q.toarray()
    top = restored.predict_topk(query, 3)
    assert np.all((top.scores >= 0) & (top.scores <= 1))


@pytest.mark.parametrize("params, name", [
    ({"n_neighbors": 0}, "n_neighbors"),
    ({"n_neighbors": 2.5}, "n_neighbors"),
    ({"power": -1.0}, "power"),
    ({"power": float("nan")}, "power"),
    ({"max_features_per_doc": 0}, "max_features_per_doc"),
    ({"max_posting": 0}, "max_posting"),
    ({"n_jobs": 0}, "n_jobs"),
])
def test_bad_parameters_are_named(params, name):
    X, Y, _, _ = _random_problem()
    with pytest.raises(InvalidParameterError) as info:
        KNNModel(**params).fit(X, Y)
    assert info.value.name == name


@pytest.mark.parametrize("index_slice", [16_384, 700])
def test_dense_neighbours_among_duplicates_do_not_depend_on_the_batch(index_slice,
                                                                     monkeypatch):
    """Of training documents with equal similarity (duplicate texts), the earlier ones
    vote, whatever else is queried: argpartition kept an arbitrary few of them, and
    float32 products gave duplicates cosines an ulp apart depending on their place in
    the BLAS tiles, so a document's labels changed with its batch."""
    import tagsmith.models.dense_knn as dense_knn

    monkeypatch.setattr(dense_knn, "INDEX_SLICE", index_slice)
    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 8))
    which = rng.integers(0, 50, 5000)
    X = base[which]
    Y = (rng.random((5000, 20)) < 0.2).astype(np.float32)
    model = dense_knn.DenseKNNModel(n_neighbors=10, n_jobs=1).fit(X, Y)
    queries = base[rng.integers(0, 50, 300)]
    rows, _ = model.kneighbors(queries)
    for query, found in zip(queries, rows, strict=True):
        duplicates = np.flatnonzero((X == query).all(axis=1))
        assert found.tolist() == duplicates[:10].tolist()
    batch = model.predict_topk(queries, 5)
    for i in range(0, 300, 7):
        alone = model.predict_topk(queries[i:i + 1], 5)
        np.testing.assert_array_equal(alone.indices[0], batch.indices[i])
        np.testing.assert_array_equal(alone.scores[0], batch.scores[i])


@pytest.mark.parametrize("name", ["knn", "linear", "tree", "dense_knn"])
def test_fitting_leaves_the_callers_matrices_as_they_were(name):
    """Checks summed duplicates, dropped zeros and sorted indices in place, on arrays
    that could be the caller's."""
    from tagsmith.models import make_model

    rng = np.random.default_rng(0)
    X = sp.random(60, 30, density=0.3, format="csr", random_state=1, dtype=np.float32)
    X.indices[X.indptr[0]:X.indptr[1]] = X.indices[X.indptr[0]:X.indptr[1]][::-1]  # unsorted
    X.has_sorted_indices = False
    Y = sp.csr_matrix(np.maximum(np.eye(60, 4), rng.random((60, 4)) < 0.4).astype(np.float32))
    Y.data[::3] = 0.0  # explicit zeros
    Y.indices[Y.indptr[1]:Y.indptr[2]] = Y.indices[Y.indptr[1]:Y.indptr[2]][::-1]
    Y.has_sorted_indices = False
    before = [a.copy() for a in (X.data, X.indices, X.indptr, Y.data, Y.indices, Y.indptr)]
    features = X.toarray() if name == "dense_knn" else X
    make_model(name).fit(features, Y)
    after = (X.data, X.indices, X.indptr, Y.data, Y.indices, Y.indptr)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


# -- n_neighbors above the training documents; prediction does not write to the model ------

def _dense_problem(n_docs=60, dim=8, n_labels=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_docs, dim))
    Y = (rng.random((n_docs, n_labels)) < 0.3).astype(np.float32)
    Y[:, 0] = 1.0  # every document labelled
    Q = rng.normal(size=(25, dim))
    return X, Y, Q


@pytest.mark.parametrize("max_posting", [None, 500, 3])
def test_huge_n_neighbors_predicts_as_n_train(max_posting):
    # 10**9 neighbours used to allocate queries x 10**9 arrays at prediction time
    X, Y, Q, weights = _random_problem(n_docs=80, seed=11)
    kept = 80 - 20
    weights[:20] = 0.0  # left out: the cap is the documents indexed, not the rows given
    capped = KNNModel(n_neighbors=kept, max_posting=max_posting, n_jobs=1)
    capped.fit(X, Y, sample_weight=weights)
    huge = KNNModel(n_neighbors=10**9, max_posting=max_posting, n_jobs=1)
    huge.fit(X, Y, sample_weight=weights)
    a, b = capped.predict_topk(Q, 5), huge.predict_topk(Q, 5)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)
    rows, sims = huge.kneighbors(Q)
    assert rows.shape == (Q.shape[0], kept)
    np.testing.assert_array_equal(rows, capped.kneighbors(Q)[0])
    np.testing.assert_array_equal(sims, capped.kneighbors(Q)[1])
    loo_a, rows_a, sims_a = capped.leave_one_out_topk(X, 5, return_neighbors=True)
    loo_b, rows_b, sims_b = huge.leave_one_out_topk(X, 5, return_neighbors=True)
    np.testing.assert_array_equal(loo_a.indices, loo_b.indices)
    np.testing.assert_array_equal(loo_a.scores, loo_b.scores)
    np.testing.assert_array_equal(rows_a, rows_b)
    np.testing.assert_array_equal(sims_a, sims_b)
    # a document never votes for itself, with every other document voting
    assert not np.any(rows_b == np.arange(80)[:, None])


def test_n_neighbors_above_n_train_keeps_its_neighbours_and_loo():
    # n_neighbors between n_docs and 10**9: the same figures as before the cap (every
    # document found, the frequent features all read), the padding columns dropped
    X, Y, Q, _ = _random_problem(n_docs=50, seed=12)
    exact = KNNModel(n_neighbors=50, max_posting=None, n_jobs=1).fit(X, Y)
    wide = KNNModel(n_neighbors=70, max_posting=2, n_jobs=1).fit(X, Y)
    np.testing.assert_array_equal(wide.kneighbors(Q)[0], exact.kneighbors(Q)[0])
    np.testing.assert_array_equal(wide.predict_topk(Q, 4).scores,
                                  exact.predict_topk(Q, 4).scores)
    ref_rows, _, _ = _brute_force(X, Y, Q, np.ones(50), 50, 2.0)
    np.testing.assert_array_equal(wide.kneighbors(Q)[0], ref_rows)
    # leave-one-out with n_neighbors = n_docs - 1 and n_docs: every other document votes
    for n in (49, 50, 10**9):
        _, rows, _ = KNNModel(n_neighbors=n, max_posting=2, n_jobs=1).fit(X, Y) \
            .leave_one_out_topk(X, 2, return_neighbors=True)
        assert rows.shape[1] == min(n, 50)
        assert not np.any(rows == np.arange(50)[:, None])


def test_dense_knn_huge_n_neighbors_predicts_as_n_train():
    from tagsmith.models.dense_knn import DenseKNNModel

    X, Y, Q = _dense_problem()
    capped = DenseKNNModel(n_neighbors=60, n_jobs=1).fit(X, Y)
    huge = DenseKNNModel(n_neighbors=10**9, n_jobs=1).fit(X, Y)
    a, b = capped.predict_topk(Q, 4), huge.predict_topk(Q, 4)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)
    rows, sims = huge.kneighbors(Q)
    assert rows.shape == (Q.shape[0], 60)
    np.testing.assert_array_equal(rows, capped.kneighbors(Q)[0])
    assert huge.kneighbors(Q, 10**9)[0].shape == (Q.shape[0], 60)


def _model_snapshot(model):
    import copy

    params = {key: (type(value), value) for key, value in model.get_params().items()}
    state = {key: copy.deepcopy(value) for key, value in vars(model).items()
             if key not in model.get_params()}
    return params, state


def _assert_same_snapshot(before, after):
    assert before[0] == after[0]  # the same values, of the same types
    assert before[1].keys() == after[1].keys()
    for key, value in before[1].items():
        other = after[1][key]
        if sp.issparse(value):
            assert (value != other).nnz == 0
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, other)
        elif isinstance(value, tuple):
            for x, y in zip(value, other, strict=True):
                np.testing.assert_array_equal(x, y)
        else:
            assert value == other, key


@pytest.mark.parametrize("family", ["knn", "dense_knn"])
def test_prediction_does_not_write_to_the_model(family):
    from tagsmith.models.dense_knn import DenseKNNModel

    X, Y, Q = _dense_problem()
    cls = KNNModel if family == "knn" else DenseKNNModel
    model = cls(n_neighbors=7, n_jobs=1).fit(X, Y)
    # numpy values set after fit: prediction takes them, and leaves them as they are
    model.set_params(n_neighbors=np.int64(5), power=np.float32(1.5), n_jobs=np.int32(1))
    if family == "knn":
        model.set_params(max_posting=np.int16(400))
    before = _model_snapshot(model)
    topk = model.predict_topk(Q, 3)
    model.kneighbors(Q)
    if family == "knn":
        model.leave_one_out_topk(X, 3)
    _assert_same_snapshot(before, _model_snapshot(model))
    assert type(model.n_neighbors) is np.int64 and type(model.power) is np.float32
    # the numpy values were used
    plain = cls(n_neighbors=5, power=1.5, n_jobs=1).fit(X, Y)
    np.testing.assert_array_equal(topk.scores, plain.predict_topk(Q, 3).scores)
    # a bad value set after fit is still refused by name at prediction
    model.set_params(n_neighbors=0)
    with pytest.raises(InvalidParameterError, match="n_neighbors"):
        model.predict_topk(Q, 3)
    model.set_params(n_neighbors=5, n_jobs=0)
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        model.predict_topk(Q, 3)


def test_l2_normalize_is_the_diagonal_product_without_its_float64_copies():
    """l2_normalize fills one float32 copy block by block; it must give exactly what
    the sparse product diag(scale) @ X gave (the same float32 values, each row in the
    product's reversed order, zeros dropped), so kNN scores and audits do not move.
    Explicit zeros, unsorted rows, float64 input and a repeated entry included."""
    from tagsmith.models import knn

    def product(X):
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel())
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        out = sp.csr_matrix(sp.diags(scale) @ X, dtype=np.float32)
        out.eliminate_zeros()
        return out

    rng = np.random.default_rng(0)
    cases = []
    for seed in range(30):
        X = sp.random(int(rng.integers(1, 200)), int(rng.integers(1, 40)),
                      density=rng.random() * 0.5, format="csr", dtype=np.float32,
                      random_state=seed)
        X.data[::7] = 0
        if seed % 2:
            X = X[:, rng.permutation(X.shape[1])]
        cases += [X, X.astype(np.float64)]
    cases.append(sp.csr_matrix((np.array([1, 2, 3], np.float32), np.array([0, 0, 1]),
                                np.array([0, 3])), shape=(1, 2)))
    for X in cases:
        got, want = knn.l2_normalize(X), product(X)
        assert got.dtype == np.float32
        for attr in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(got, attr), getattr(want, attr))


@pytest.mark.parametrize(("max_rows", "max_entries"), [(3, 5), (1, 1), (4, 10 ** 9),
                                                      (10 ** 9, 7)])
def test_l2_normalize_in_blocks_of_rows_and_entries_is_the_whole_product(monkeypatch, max_rows,
                                                                         max_entries):
    """Norms and scaling a block of rows at a time (at most so many rows and entries, a
    longer row alone): bit for bit what one pass over the whole matrix gives, with
    empty rows, rows longer than a block, unsorted rows, explicit zeros, float64 input
    and an overflowing row."""
    from tagsmith.models import knn

    rng = np.random.default_rng(1)
    cases = []
    for seed in range(12):
        X = sp.random(int(rng.integers(1, 60)), int(rng.integers(1, 30)),
                      density=rng.random() * 0.6, format="lil", dtype=np.float32,
                      random_state=seed)
        X[::4] = 0  # empty rows
        X = sp.csr_matrix(X)
        X.data[::5] = 0
        if seed % 2:
            X = X[:, rng.permutation(X.shape[1])]
        if seed % 3 == 0 and X.nnz:
            X.data[0] = 3e19  # its squares overflow float32: summed again in float64
        cases += [X, X.astype(np.float64)]
    cases.append(sp.csr_matrix((0, 4), dtype=np.float32))
    wholes = [knn.l2_normalize(X) for X in cases]
    monkeypatch.setattr(knn, "_NORMALIZE_ROWS", max_rows)
    monkeypatch.setattr(knn, "_NORMALIZE_ENTRIES", max_entries)
    for X, whole in zip(cases, wholes, strict=True):
        indptr = X.indptr.astype(np.int64)
        blocks = knn._row_blocks(indptr)
        stops = [0] + [stop for _, stop in blocks]  # one after another, every row
        assert [start for start, _ in blocks] == stops[:-1] and stops[-1] == X.shape[0]
        for start, stop in blocks:
            assert stop - start <= max_rows
            assert stop - start == 1 or indptr[stop] - indptr[start] <= max_entries
        got = knn.l2_normalize(X)
        for attr in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(got, attr), getattr(whole, attr))


def test_a_cosine_of_float_noise_does_not_vote_at_power_0():
    """A training row orthogonal to the query (signed features) gets a float32 cosine
    of about 1e-8, not 0; at ``power=0`` (x**0 == 1) it voted with full strength and
    gave its label score 1. Negative cosines never voted; the noise does not either."""
    rng = np.random.default_rng(0)
    query = rng.standard_normal(8)
    orthogonal = rng.standard_normal(8)
    orthogonal -= query * (query @ orthogonal) / (query @ query)
    X, Y = np.vstack([orthogonal, -query]), np.array([[1, 0], [0, 1]])
    model = KNNModel(n_neighbors=2, power=0.0, max_posting=None, n_jobs=1).fit(X, Y)
    rows, sims = model.kneighbors(query[None])
    assert rows[0, 0] == 0 and 0 < sims[0, 0] < 1e-6  # the noise this test is about
    assert model.predict_topk(query[None], 2).scores.tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize("power", [1100.0, 5000.0])
def test_a_large_power_keeps_the_ranking(power):
    """``sim**power`` of every neighbour underflowed to 0 (0.5**1100 is below the
    smallest float64): every score was 0 and the labels came in frequency order. The
    votes are the same ratios computed from ``sim / largest sim``."""
    X = np.array([[1.0, 0.0], [0.866, 0.5], [0.9165, 0.4], [0.893, 0.45]])
    Y = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 1, 0]])  # label 1 the most frequent
    model = KNNModel(n_neighbors=3, power=power, max_posting=None, n_jobs=1).fit(X, Y)
    topk = model.predict_topk(np.array([[0.0, 1.0]]), 3)
    sims = X[1:, 1] / np.linalg.norm(X[1:], axis=1)
    assert sims.max() ** power == 0  # what the votes were computed from
    expected = (sims / sims.max()) ** power
    assert topk.indices[0].tolist() == [0, 1, 2]  # the closest row's label first
    scores = (expected @ Y[1:] / expected.sum()).astype(np.float32)
    np.testing.assert_allclose(topk.scores[0], scores,
                               rtol=1e-6)
    assert topk.scores[0, 0] > 0.99


@pytest.mark.parametrize("power", [1e12, 1e300, 2.0 ** 64])
def test_a_huge_power_over_a_cosine_above_1_keeps_the_scores_finite(power):
    """A document's cosine with itself comes out of the float32 sums a hair above 1
    (1.0000001); raised to a power of 1e10 or more it overflowed to inf, and every
    score it voted for was inf / inf, NaN. The votes come from ``sim / largest sim``
    there too: the closest row's labels score 1, the others 0."""
    X = np.random.default_rng(2).standard_normal((3, 5))
    Y = np.array([[1, 0], [0, 1], [1, 1]])
    model = KNNModel(n_neighbors=2, power=power, max_posting=None, n_jobs=1).fit(X, Y)
    _, sims = model.kneighbors(X[:1])
    assert sims[0, 0] > 1  # the rounding this test is about
    topk = model.predict_topk(X[:1], 2)
    assert topk.indices[0].tolist() == [0, 1]
    assert topk.scores[0].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("power", [0.0, 1.0, 2.0, 3.0])
def test_ordinary_powers_vote_with_unscaled_similarities(power):
    """The underflow guard never scales the votes of ordinary powers: scores equal, to
    the bit, the ratio of sums of ``sim**power * weight`` in the kernel's order."""
    X, Y, Q, weights = _random_problem(seed=3)
    model = KNNModel(n_neighbors=7, power=power, max_posting=None, n_jobs=1)
    model.fit(X, Y, sample_weight=weights)
    rows, sims = model.kneighbors(Q)
    topk = model.predict_topk(Q, Y.shape[1])
    dense_Y = Y.toarray().astype(np.float32)
    for q in range(Q.shape[0]):
        votes, total = np.zeros(Y.shape[1]), 0.0
        for row, sim in zip(rows[q], sims[q].astype(np.float64), strict=True):
            if row < 0:
                break
            strength = (sim if power == 1.0 else sim ** power) * weights[row]
            total += strength
            votes += strength * dense_Y[row].astype(np.float64)
        expected = (votes / total if total > 0 else votes).astype(np.float32)
        np.testing.assert_array_equal(topk.scores[q], np.sort(expected)[::-1])


def test_leave_one_out_refuses_another_matrix_of_as_many_rows():
    """Given another matrix with enough rows (the test set, other features), each row
    was searched against the training documents and 'itself' dropped by row number:
    scores that are not leave-one-out, without a word. The fingerprint ``fit`` keeps
    tells the matrices apart; a bundle saved without one still loads and runs."""
    from tagsmith.models.knn import matrix_fingerprint

    X, Y, Q, _ = _random_problem(n_queries=300)
    model = KNNModel(n_neighbors=5, n_jobs=1).fit(X, Y)
    same = model.leave_one_out_topk(X.copy(), 3)  # same values, another object: accepted
    stored_zero = sp.csr_matrix(X, copy=True)
    stored_zero.data[0] = 0.0
    with pytest.raises(InvalidParameterError, match="training matrix"):
        model.leave_one_out_topk(stored_zero, 3)
    # the same values stored otherwise (an explicit zero, a row's entries reversed)
    refit = KNNModel(n_neighbors=5, n_jobs=1).fit(stored_zero, Y)
    unsorted = sp.csr_matrix(stored_zero.toarray())
    for row in range(unsorted.shape[0]):
        lo, hi = unsorted.indptr[row], unsorted.indptr[row + 1]
        unsorted.indices[lo:hi] = unsorted.indices[lo:hi][::-1].copy()
        unsorted.data[lo:hi] = unsorted.data[lo:hi][::-1].copy()
    unsorted.has_sorted_indices = False
    np.testing.assert_array_equal(refit.leave_one_out_topk(unsorted, 3).indices,
                                  refit.leave_one_out_topk(stored_zero, 3).indices)
    np.testing.assert_array_equal(same.indices, model.leave_one_out_topk(X.toarray(), 3).indices)
    for other in (Q, X[::-1], X * 2):
        with pytest.raises(InvalidParameterError, match="training matrix given to fit"):
            model.leave_one_out_topk(other, 3)
    meta, arrays = model.to_state()
    assert meta["train_fingerprint"] == matrix_fingerprint(sp.csr_matrix(X))
    with pytest.raises(InvalidParameterError, match="training matrix"):
        KNNModel.from_state(meta, arrays).leave_one_out_topk(Q, 3)
    del meta["train_fingerprint"]  # a bundle saved before: only the row count is checked
    old = KNNModel.from_state(meta, arrays)
    np.testing.assert_array_equal(old.leave_one_out_topk(X, 3).scores, same.scores)
    assert "train_fingerprint" not in old.to_state()[0]


def test_leave_one_out_orders_labels_without_votes_as_a_model_fitted_without_it():
    """The labels no neighbour votes for follow in frequency order, and that frequency
    counted the document left out: a label of its own came as early as if it were
    still in the training set, where a model fitted without it puts it later (a label
    only it has, last). The whole order, with sample weights, is the refitted one's."""
    rng = np.random.default_rng(5)
    n, n_labels = 60, 12
    X = sp.random(n, 20, density=0.25, random_state=5, format="csr", dtype=np.float32)
    Y = sp.csr_matrix(rng.random((n, n_labels)) < 0.25, dtype=np.float32)
    weights = rng.integers(1, 5, n).astype(np.float64)  # sums exact either way
    params = {"n_neighbors": 2, "max_posting": None, "n_jobs": 1}
    model = KNNModel(**params).fit(X, Y, sample_weight=weights)
    loo = model.leave_one_out_topk(X, n_labels)
    differs = 0
    for i in range(n):
        keep = np.flatnonzero(np.arange(n) != i)
        refit = KNNModel(**params).fit(X[keep], Y[keep], sample_weight=weights[keep])
        expected = refit.predict_topk(X[i], n_labels)
        np.testing.assert_allclose(loo.scores[i], expected.scores[0], atol=1e-6)
        assert loo.indices[i].tolist() == expected.indices[0].tolist(), i
        differs += refit.label_order_.tolist() != model.label_order_.tolist()
    assert differs > n // 2  # the frequency order moves for most documents


def test_dense_knn_float16_noise_of_an_orthogonal_row_does_not_vote_at_power_0():
    """The dense index keeps unit rows in float16: a training row exactly orthogonal to
    the query gets a cosine of about 1e-4, far above the 1e-6 below which a neighbour
    does not vote; at ``power=0`` it voted with full strength and gave its label score
    1. A neighbour votes only above the float16 error of its cosine now (at most about
    5e-4); a small but certain cosine (0.01) still votes."""
    from tagsmith.models.dense_knn import DenseKNNModel

    rng = np.random.default_rng(0)
    for _ in range(50):  # an orthogonal row whose float16 cosine is positive noise
        query, row = rng.standard_normal(384), rng.standard_normal(384)
        row -= query * (query @ row) / (query @ query)
        X = np.vstack([row, -query])
        model = DenseKNNModel(n_neighbors=2, power=0.0).fit(X, np.array([[1, 0], [0, 1]]))
        rows, sims = model.kneighbors(query[None])
        if rows[0, 0] == 0 and sims[0, 0] > 1e-5:
            break
    assert rows[0, 0] == 0 and 1e-5 < sims[0, 0] < 2.0 ** -11  # the noise at issue
    assert model.predict_topk(query[None], 2).scores.tolist() == [[0.0, 0.0]]
    near = row / np.linalg.norm(row) + 0.01 * query / np.linalg.norm(query)
    model = DenseKNNModel(n_neighbors=2, power=0.0).fit(np.vstack([near, -query]),
                                                        np.array([[1, 0], [0, 1]]))
    assert model.predict_topk(query[None], 2).scores.tolist() == [[1.0, 0.0]]


def test_leave_one_out_holds_the_neighbours_only_when_asked():
    # the n x n_neighbors arrays of neighbours and similarities were allocated (and
    # filled with -1) whether or not they were returned: 240 MB for an audit's kNN
    # scores of 600,000 documents x 50 neighbours that nothing read
    import tracemalloc

    rng = np.random.default_rng(0)
    # 5,000 documents: the neighbour arrays (2 MB) are still the whole difference
    n_docs, n_neighbors = 5_000, 50
    X = sp.random(n_docs, 300, density=0.02, format="csr", random_state=1, dtype=np.float32)
    X.data[:] = 1.0
    Y = sp.csr_matrix((rng.random((n_docs, 5)) < 0.3).astype(np.float32))
    model = KNNModel(n_neighbors=n_neighbors, n_jobs=1).fit(X, Y)
    model.leave_one_out_topk(X, 1)  # compiled and warmed before measuring
    neighbour_bytes = n_docs * n_neighbors * (4 + 4)

    def peak(**kwargs):
        tracemalloc.start()
        try:
            result = model.leave_one_out_topk(X, 1, **kwargs)
            return result, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    topk, plain = peak()
    (asked, rows, sims), with_neighbours = peak(return_neighbors=True)
    assert with_neighbours - plain > neighbour_bytes / 2  # others peak elsewhere
    assert rows.shape == sims.shape == (n_docs, n_neighbors)
    assert np.array_equal(asked.indices, topk.indices)
    assert np.array_equal(asked.scores, topk.scores)


@pytest.mark.parametrize("bad, shown", [
    ([["a", "b"], ["c", "d"]], "list"),  # strings are not parsed as numbers
    (np.array([[1 + 2j, 0.0]]), "dtype complex128"),  # nor complex numbers cut to reals
    (np.zeros(3), "1-D array"),
])
def test_dense_and_sparse_feature_checks_name_x_alike(bad, shown):
    """Both feature checks (the sparse models' and the dense kNN's) refuse what is not a
    2-D matrix of real numbers the same way: naming X and what was given."""
    from tagsmith.models.base import check_features
    from tagsmith.models.dense_knn import check_dense_features

    for check in (check_features, check_dense_features):
        with pytest.raises(InvalidParameterError, match="X") as info:
            check(bad)
        assert shown in str(info.value)


# ---- leave-one-out leaving out a document's exact copies (groups) ----

def _twinned_problem(seed=0):
    """The random problem with rows 0..29 copied at 300..329 and row 0 at 330..339
    (groups: each copy with its original), and soft targets the copies share."""
    X, Y, _, weights = _random_problem(seed=seed)
    copies = np.r_[np.arange(30), np.zeros(10, np.int64)]
    X = sp.vstack([X, X[copies]], format="csr")
    Y = sp.vstack([Y, Y[copies]], format="csr")
    weights = np.r_[weights, weights[copies]]
    groups = np.r_[np.arange(300), copies]
    return X, Y, weights, groups


def test_leave_one_out_leaves_out_the_documents_exact_copies():
    """Rows 0 and 1 identical: without groups each is voted by the other at similarity 1,
    the label they share scored 1.0 (a wrong label both carry looked right)."""
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.9, 0.2], [0.0, 1.0]])
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    model = KNNModel(n_neighbors=1).fit(X, Y)
    alone = model.leave_one_out_topk(X, 2)
    assert alone.indices[:2, 0].tolist() == [0, 0] and alone.scores[:2, 0].tolist() == [1, 1]
    topk, rows, sims = model.leave_one_out_topk(X, 2, groups=[5, 5, 7, 9],
                                                return_neighbors=True)
    assert topk.indices[:2, 0].tolist() == [1, 1]  # voted by row 2, not by the copy
    assert rows[:, 0].tolist() == [2, 2, 0, 2]


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_leave_group_out_equals_brute_force_without_the_group(power):
    """Exact search: each document voted by the n_neighbors best rows outside its group,
    neighbours and scores of a dense reference that drops the group's rows."""
    X, Y, weights, groups = _twinned_problem()
    model = KNNModel(n_neighbors=7, power=power, max_posting=None)
    model.fit(X, Y, sample_weight=weights)
    topk, rows, sims = model.leave_one_out_topk(X, Y.shape[1], groups=groups,
                                                return_neighbors=True)
    for i in range(X.shape[0]):
        keep = np.flatnonzero(groups != groups[i])
        ref_rows, ref_sims, ref_scores = _brute_force(X[keep], Y[keep], X[i], weights[keep],
                                                      7, power)
        found = ref_rows[0] >= 0
        np.testing.assert_array_equal(rows[i][found], keep[ref_rows[0][found]])
        assert np.all(rows[i][~found] == -1)
        np.testing.assert_allclose(sims[i], ref_sims[0], atol=1e-5)
        voted = topk.scores[i] > 0
        np.testing.assert_allclose(topk.scores[i][voted], ref_scores[0][topk.indices[i][voted]],
                                   rtol=1e-5)
        assert not np.any(ref_scores[0][np.setdiff1d(np.arange(Y.shape[1]),
                                                     topk.indices[i][voted])] > 1e-6)


def test_leave_group_out_reads_frequent_features_past_the_groups_copies():
    """With max_posting, frequent features are read until n_neighbors documents are found:
    the copies of a group must not count, else a document with 300 copies stopped at them
    and had no neighbour (and no votes) at all."""
    n_copies = 300
    X = sp.lil_matrix((n_copies + 5, 7), dtype=np.float32)
    X[:n_copies, 0] = 1.0  # the copies' own rare word
    X[:, 1] = 1.0  # a word every document has: frequent at max_posting=1
    for j in range(5):
        X[n_copies + j, 2 + j] = 1.0
    X = X.tocsr()
    Y = sp.csr_matrix(np.r_[np.tile([[1, 0]], (n_copies, 1)), np.tile([[0, 1]], (5, 1))])
    groups = np.r_[np.zeros(n_copies, np.int64), np.arange(1, 6)]
    model = KNNModel(n_neighbors=2, max_posting=1).fit(X, Y)
    topk, rows, _ = model.leave_one_out_topk(X, 2, groups=groups, return_neighbors=True)
    assert np.all(rows[:n_copies] >= n_copies)  # two neighbours outside the group
    assert np.all(topk.indices[:n_copies, 0] == 1) and np.all(topk.scores[:n_copies, 0] == 1)


def test_leave_group_out_orders_labels_without_votes_as_a_model_fitted_without_the_group():
    """The labels no neighbour votes for follow in the frequency order of a model fitted
    without the document's whole group: its copies' labels counted too before (only the
    document itself was taken out of the frequencies), so a wrong label every copy
    carries came as early as if the copies were still in the training set. Exact
    search, integer weights: the whole top-k is the refitted model's."""
    rng = np.random.default_rng(7)
    n, n_labels = 60, 12
    X = sp.random(n, 20, density=0.25, random_state=7, format="csr", dtype=np.float32)
    Y = sp.csr_matrix(rng.random((n, n_labels)) < 0.25, dtype=np.float32)
    copies = np.r_[np.arange(10), np.zeros(6, np.int64), np.full(4, 1)]
    X = sp.vstack([X, X[copies]], format="csr")
    Y = sp.vstack([Y, Y[copies]], format="lil")
    Y[n + 10:n + 16, 11] = 1.0  # row 0's copies share a label row 0 lacks
    Y = Y.tocsr()
    groups = np.r_[np.arange(n), copies]
    weights = rng.integers(1, 5, len(groups)).astype(np.float64)  # sums exact either way
    params = {"n_neighbors": 2, "max_posting": None, "n_jobs": 1}
    model = KNNModel(**params).fit(X, Y, sample_weight=weights)
    lgo = model.leave_one_out_topk(X, n_labels, groups=groups)
    for i in range(len(groups)):
        keep = np.flatnonzero(groups != groups[i])
        refit = KNNModel(**params).fit(X[keep], Y[keep], sample_weight=weights[keep])
        expected = refit.predict_topk(X[i], n_labels)
        np.testing.assert_allclose(lgo.scores[i], expected.scores[0], atol=1e-6)
        assert lgo.indices[i].tolist() == expected.indices[0].tolist(), i


def _one_large_group(n_single, n_copies, n_labels):
    """A kNN over ``n_single`` documents and ``n_copies`` copies of one more, each with a
    random one of ``n_labels`` labels, its training matrix and groups: the problem
    benchmarks/knn_group_timing.py times the grouped path on."""
    import sys
    from pathlib import Path

    here = str(Path(__file__).resolve().parents[1] / "benchmarks")
    if here not in sys.path:
        sys.path.insert(0, here)
    from knn_group_timing import problem

    return problem(n_single, n_copies, n_labels)


def test_leave_group_out_at_any_k_is_a_prefix_of_the_full_ranking():
    """The best k of a group's labels without votes, kept as they come, rank as the whole
    sorted list did (ties to the lower id): a narrower top-k is a prefix of a wider one."""
    model, X, groups = _one_large_group(200, 300, 150)
    full = model.leave_one_out_topk(X, 150, groups=groups)
    for k in (1, 3, 10, 40):
        cut = model.leave_one_out_topk(X, k, groups=groups)
        np.testing.assert_array_equal(cut.indices, full.indices[:, :k])
        np.testing.assert_array_equal(cut.scores, full.scores[:, :k])


@pytest.mark.parametrize("max_posting", [None, 20])
def test_leave_one_out_without_repeated_groups_is_unchanged(max_posting):
    """groups=None and groups of one row each give the very same bytes as before."""
    X, Y, weights, _ = _twinned_problem()
    model = KNNModel(n_neighbors=7, max_posting=max_posting).fit(X, Y, sample_weight=weights)
    before = model.leave_one_out_topk(X, 5, return_neighbors=True)
    for groups in (None, np.arange(X.shape[0])[::-1].copy(), np.arange(X.shape[0]) * 3):
        after = model.leave_one_out_topk(X, 5, return_neighbors=True, groups=groups)
        for a, b in zip((before[0].indices, before[0].scores, *before[1:]),
                        (after[0].indices, after[0].scores, *after[1:]), strict=True):
            assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("groups", [[0, 1, 2], [[0], [1], [2], [3]], [0.0, 1.0, 0.0, 2.0]])
def test_leave_one_out_names_bad_groups(groups):
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.9, 0.2], [0.0, 1.0]])
    model = KNNModel(n_neighbors=1).fit(X, np.eye(4, 2))
    with pytest.raises(InvalidParameterError, match="'groups'"):
        model.leave_one_out_topk(X, 2, groups=groups)


@pytest.mark.parametrize("family", ["knn", "dense_knn"])
def test_a_fit_stopped_while_indexing_leaves_the_model_fitted_before(family, monkeypatch):
    """A refit stopped while its index was built (Ctrl-C in sorting or converting a
    large index, seconds for 590k documents) left the new index beside the old kernel
    arrays and labels: the model predicted from a mix of both fits."""
    import importlib

    from tagsmith.models import make_model

    module = importlib.import_module(f"tagsmith.models.{family}")
    rng = np.random.default_rng(0)
    X = rng.random((120, 20)) * (rng.random((120, 20)) < 0.4)
    X = X.astype(np.float32) if family == "dense_knn" else sp.csr_matrix(X)
    Y = sp.csr_matrix((rng.random((120, 6)) < 0.3).astype(np.float32))
    model = make_model(family, n_jobs=1).fit(X, Y)
    before = model.predict_topk(X[:20], 3)
    index = model.index_

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "scaled_weights", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X[:60], Y[:60, :4])  # other documents, other labels
    assert model.index_ is index and model.n_labels_ == 6 and model.n_docs_ == 120
    after = model.predict_topk(X[:20], 3)
    np.testing.assert_array_equal(after.indices, before.indices)
    np.testing.assert_array_equal(after.scores, before.scores)


def test_own_label_scores_refuses_rows_and_labels_out_of_range():
    """A negative row scored the last row (numpy's wrap), a label out of range or two
    lists of other lengths failed inside the vote; each now names its parameter."""
    X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    model = KNNModel(n_neighbors=1).fit(X, Y)
    assert model.own_label_scores(X, [0, 2], [0, 1]).tolist() == [1.0, 1.0]
    for rows, labels, name in (([-1], [0], "'rows'"), ([4], [0], "'rows'"),
                               ([0, 1], [0], "'labels'"), ([0], [2], "'labels'"),
                               ([0], [-1], "'labels'")):
        with pytest.raises(InvalidParameterError, match=name):
            model.own_label_scores(X, rows, labels)


def test_own_label_scores_finds_rows_weighted_zero_apart_and_loads_without_a_row_array():
    """own_label_scores built an index of every training row (its place among the
    indexed ones) in each call, however few rows it searched: the audit's max_posting
    check (capped_labels) calls it up to 35 times. Then the fit and every load built it
    once, up to the largest stored row id: a state whose row_ids ended in 10,000,000
    took 80 MB to load (2,000,000,000: 16 GB). Rows are now looked up in row_ids."""
    import tracemalloc

    X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    model = KNNModel(n_neighbors=1, n_jobs=1).fit(X, Y)
    assert model.own_label_scores(X, [0, 2], [0, 0]).tolist() == [1.0, 0.0]
    # row 1 weighted 0 is no longer indexed: row 0's nearest other document is row 3 of
    # the other label, and row 1 (searched, not indexed) still finds row 0
    model.fit(X, Y, sample_weight=[1.0, 0.0, 1.0, 1.0])
    assert model.own_label_scores(X, [0, 1], [0, 0]).tolist() == [0.0, 1.0]
    # the last row weighted 0: rows after the last indexed one are not indexed
    model.fit(X, Y, sample_weight=[1.0, 1.0, 1.0, 0.0])
    assert model.own_label_scores(X, [3, 2], [1, 1]).tolist() == [1.0, 0.0]
    assert model.leave_one_out_topk(X, 1).indices[:, 0].tolist() == [0, 0, 0, 1]
    meta, arrays = model.to_state()
    far = dict(arrays, row_ids=np.array([0, 1, 10_000_000], np.int32))
    tracemalloc.start()
    try:
        restored = KNNModel.from_state(meta, far)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000, peak
    assert restored.own_label_scores(X, [0, 3], [0, 1], check_matrix=False).shape == (2,)
    # fit stores them increasing; another order is a damaged state, refused at load
    with pytest.raises(ValueError, match="row_ids is not increasing"):
        KNNModel.from_state(meta, dict(arrays, row_ids=np.array([1, 0, 2], np.int32)))


def test_own_label_scores_refuses_another_matrix_of_the_same_shape():
    """own_label_scores took any matrix with enough rows: the test set, or the features
    of another run, was searched with "itself" dropped by row number, and the audit's
    max_posting check (capped_labels) compared scores that were not leave-one-out. It
    now refuses another matrix as leave_one_out_topk does; capped_labels checks once."""
    from tagsmith.audit.scores import capped_labels

    X, Y, _, _ = _random_problem(n_queries=1)
    model = KNNModel(n_neighbors=5, max_posting=20, n_jobs=1).fit(X, Y)
    rows, labels = [0, 1, 2], [0, 1, 2]
    expected = model.own_label_scores(X, rows, labels)
    np.testing.assert_array_equal(model.own_label_scores(X.toarray(), rows, labels), expected)
    other = X[::-1]  # same shape, same entries, another row order
    assert other.shape == X.shape
    for matrix in (other, X * 2):
        with pytest.raises(InvalidParameterError,
                           match=r"'X'.*training matrix given to fit.*a different 300 x 40"):
            model.own_label_scores(matrix, rows, labels)
        with pytest.raises(InvalidParameterError, match="training matrix given to fit"):
            capped_labels(model, matrix, Y)
    assert max(np.diff(sp.csc_matrix(Y).indptr)) > 20  # capped_labels had labels to check
    # a caller that checked this very X already may skip the check (it reads all of X)
    np.testing.assert_array_equal(
        model.own_label_scores(X, rows, labels, check_matrix=False), expected)


def test_the_audits_knn_scores_fingerprint_x_once_after_fit(monkeypatch):
    """With labels over max_posting, knn_scores had X fingerprinted by
    leave_one_out_topk and again by capped_labels' first search (~1 s at yso-finna-en's
    scale): capped_labels is told it was checked. Called alone, it still refuses
    another matrix."""
    import tagsmith.models.knn as knn_module
    from tagsmith.audit.scores import capped_labels, knn_scores

    X, Y, _, _ = _random_problem(n_queries=1)
    Y = sp.csr_matrix((Y.toarray() > 0).astype(np.float32))
    params = {"n_neighbors": 5, "max_posting": 20, "n_jobs": 1}
    assert max(np.diff(sp.csc_matrix(Y).indptr)) > 20  # labels over the cap to check
    fingerprinted = []
    real = knn_module.matrix_fingerprint

    def counted(matrix):  # the real fingerprint, its calls counted
        fingerprinted.append(matrix.shape)
        return real(matrix)

    monkeypatch.setattr(knn_module, "matrix_fingerprint", counted)
    scores = knn_scores(X, Y, k=5, params=params)
    assert len(fingerprinted) == 2  # fit's, then leave_one_out_topk's check: no third
    monkeypatch.undo()
    model = KNNModel(**params).fit(X, Y)
    assert scores.capped == capped_labels(model, X, Y)  # the same labels found
    with pytest.raises(InvalidParameterError, match="training matrix given to fit"):
        capped_labels(model, X[::-1], Y)
