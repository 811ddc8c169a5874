"""Behaviour of the one-vs-rest linear model beyond the shared conformance suite."""

import numpy as np
import scipy.sparse as sp

from tagsmith.models.linear import LinearOVR


def test_soft_targets_are_learned_as_probabilities():
    # two groups of identical documents; in group A the label's soft target is 0.8,
    # in group B 0.1: the cross-entropy minimiser predicts those means
    X = sp.csr_matrix(np.array([[1.0, 0.0]] * 20 + [[0.0, 1.0]] * 20))
    Y = sp.csr_matrix(np.array([[0.8]] * 20 + [[0.1]] * 20))
    model = LinearOVR(loss="logistic", C=1000.0, tol=1e-8, max_iter=10_000, n_jobs=1).fit(X, Y)
    scores = model.predict_scores(np.array([[1.0, 0.0], [0.0, 1.0]]))[:, 0]
    np.testing.assert_allclose(scores, [0.8, 0.1], atol=0.02)


def test_integer_sample_weights_equal_duplicated_rows():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((60, 8)) * (rng.random((60, 8)) < 0.5))
    Y = sp.csr_matrix((rng.random((60, 2)) < 0.4).astype(np.float32))
    weights = rng.integers(1, 4, size=60)
    params = {"loss": "logistic", "C": 2.0, "tol": 1e-9, "max_iter": 10_000, "n_jobs": 1,
              "prune_threshold": 0.0}
    weighted = LinearOVR(**params).fit(X, Y, sample_weight=weights)
    rows = np.repeat(np.arange(60), weights)
    duplicated = LinearOVR(**params).fit(X[rows], Y[rows])
    np.testing.assert_allclose(weighted.predict_scores(X), duplicated.predict_scores(X),
                               atol=2e-3)


def test_weights_are_pruned_and_kept_sparse():
    rng = np.random.default_rng(1)
    X = sp.random(200, 500, density=0.02, format="csr", random_state=1)
    Y = sp.csr_matrix((rng.random((200, 3)) < 0.3).astype(np.float32))
    dense = LinearOVR(prune_threshold=0.0, n_jobs=1).fit(X, Y)
    pruned = LinearOVR(prune_threshold=0.05, n_jobs=1).fit(X, Y)
    assert sp.issparse(pruned.coef_) and pruned.coef_.nnz < dense.coef_.nnz
    assert np.all(np.abs(pruned.coef_.data) > 0.05)


def test_the_model_does_not_depend_on_the_number_of_threads():
    # the same seed must give the same model on a 1-core laptop and a 16-core server:
    # the labels are trained in blocks whose size follows the thread count
    rng = np.random.default_rng(4)
    X = sp.random(300, 200, density=0.05, format="csr", random_state=4, dtype=np.float32)
    Y = sp.csr_matrix((rng.random((300, 11)) < 0.2).astype(np.float32))
    for loss in ("squared_hinge", "logistic"):
        models = [LinearOVR(loss=loss, n_jobs=n_jobs, max_iter=5).fit(X, Y)
                  for n_jobs in (1, 2, 3, 11)]
        for other in models[1:]:
            assert (other.coef_ != models[0].coef_).nnz == 0, loss
            np.testing.assert_array_equal(other.intercept_, models[0].intercept_)


def test_sample_weights_must_be_numbers():
    import pytest

    from tagsmith.exceptions import InvalidParameterError

    X = sp.csr_matrix(np.eye(4, dtype=np.float32))
    Y = sp.csr_matrix(np.eye(4, 2, dtype=np.float32))
    for bad in (np.array(["1", "2", "1", "1"]), [1.0, -1.0, 1.0, 1.0], [1.0, 1.0]):
        with pytest.raises(InvalidParameterError, match="sample_weight"):
            LinearOVR(n_jobs=1).fit(X, Y, sample_weight=bad)
    LinearOVR(n_jobs=1).fit(X, Y, sample_weight=np.array([True, True, False, True]))


def test_duplicate_entries_train_as_their_sum():
    """A CSR matrix may hold a (row, column) entry several times, meaning their sum.

    The solver's step size uses each row's squared norm, computed entry by entry: with
    a value split into duplicates it was too small and training took other steps.
    """
    rng = np.random.default_rng(2)
    X = sp.csr_matrix((rng.random((80, 10)) * (rng.random((80, 10)) < 0.5)).astype(np.float32))
    Y = sp.csr_matrix((rng.random((80, 3)) < 0.4).astype(np.float32))
    # every entry stored as four quarters (exact in float32), then as the matrix holds it
    indptr = X.indptr * 4
    split = sp.csr_matrix((np.repeat(X.data / 4, 4), np.repeat(X.indices, 4), indptr),
                          shape=X.shape)
    stored = (split.data.copy(), split.indices.copy(), split.indptr.copy())
    assert split.nnz == 4 * X.nnz and not split.has_canonical_format
    for loss in ("squared_hinge", "logistic"):
        plain = LinearOVR(loss=loss, n_jobs=1).fit(X, Y)
        duplicated = LinearOVR(loss=loss, n_jobs=1).fit(split, Y)
        np.testing.assert_array_equal(duplicated.coef_.toarray(), plain.coef_.toarray())
        np.testing.assert_array_equal(duplicated.intercept_, plain.intercept_)
        np.testing.assert_array_equal(duplicated.decision_function(split),
                                      plain.decision_function(X))
    # the caller's matrix is left as it was given
    for before, after in zip(stored, (split.data, split.indices, split.indptr), strict=True):
        np.testing.assert_array_equal(before, after)


def test_task_size_is_bounded_by_the_rows_too(monkeypatch):
    # the solver keeps two float64 dual variables and a flag per (row, label) of a task:
    # the labels per task must shrink with the documents, not only with the features
    import tagsmith.models._solver as solver
    import tagsmith.models.linear as linear

    widths = []
    train_block = solver.train_block

    def recording(*args):
        widths.append((len(args[3]), args[10] - args[9]))
        return train_block(*args)

    monkeypatch.setattr(solver, "train_block", recording)
    monkeypatch.setattr(linear, "BLOCK_WEIGHTS_LIMIT", 40_000)
    rng = np.random.default_rng(5)
    X = sp.random(2_000, 30, density=0.2, format="csr", random_state=5, dtype=np.float32)
    Y = sp.csr_matrix((rng.random((2_000, 40)) < 0.1).astype(np.float32))
    model = LinearOVR(n_jobs=1, max_iter=3).fit(X, Y)
    assert sum(width for _, width in widths) == 40
    assert all(width * 4 * n_rows <= 40_000 for n_rows, width in widths)
    # the block size does not change the model
    monkeypatch.setattr(linear, "BLOCK_WEIGHTS_LIMIT", 10**9)
    unbounded = LinearOVR(n_jobs=1, max_iter=3).fit(X, Y)
    assert (unbounded.coef_ != model.coef_).nnz == 0
    np.testing.assert_array_equal(unbounded.intercept_, model.intercept_)


def _mostly_unused_labels():
    """60 documents over 40 labels, 5 of them with a positive document (as LLM labels of
    1,001 documents over YSO's 27,754: 26,549 had none), one with soft targets and one
    whose only entries are explicit zeros and weight-0 rows' positives."""
    rng = np.random.default_rng(9)
    X = sp.random(60, 25, density=0.3, format="csr", random_state=9, dtype=np.float32)
    Y = np.zeros((60, 40), np.float32)
    for label in (3, 7, 8, 21, 39):
        Y[:, label] = rng.random(60) < 0.3
    Y[:, 8] *= 0.6  # soft targets
    weights = np.ones(60)
    weights[:4] = 0.0
    Y[:4, 30] = 1.0  # label 30: positives only in rows of weight 0
    Y = sp.coo_matrix(Y)
    # label 31: an explicit zero entry, no positive
    Y = sp.csr_matrix((np.append(Y.data, 0.0), (np.append(Y.row, 5), np.append(Y.col, 31))),
                      shape=Y.shape)
    assert Y.nnz == sp.csr_matrix(Y.toarray()).nnz + 1
    return X, Y, weights


def test_labels_with_no_positive_document_are_not_handed_to_the_solver(monkeypatch):
    """``distill`` of 1,001 LLM-labelled documents over YSO's 27,754 labels spent 3
    minutes, most of them in the solver's passes over the 26,549 labels that had no
    positive document: each is set to no weights and a bias of -12 without solving."""
    import tagsmith.models._solver as solver

    handed = []
    train_block = solver.train_block

    def recording(*args):
        handed.append(args[10] - args[9])  # child_hi - child_lo
        return train_block(*args)

    monkeypatch.setattr(solver, "train_block", recording)
    X, Y, weights = _mostly_unused_labels()
    LinearOVR(n_jobs=2).fit(X, Y, sample_weight=weights)
    assert sum(handed) == 5


def test_labels_with_no_positive_document_change_no_other_label():
    """A fit over extra labels that have no positive document gives every other label
    the weights and bias it gets without them, to the bit; the extra ones get no weights
    and the bias -12 (a score of about 6e-6, below every trained label's)."""
    X, Y, weights = _mostly_unused_labels()
    used = [3, 7, 8, 21, 39]
    unused = [label for label in range(40) if label not in used]
    for loss in ("squared_hinge", "logistic"):
        params = {"loss": loss, "n_jobs": 2, "prune_threshold": 0.0}
        full = LinearOVR(**params).fit(X, Y, sample_weight=weights)
        alone = LinearOVR(**params).fit(X, Y[:, used], sample_weight=weights)
        assert (full.coef_[:, used] != alone.coef_).nnz == 0
        np.testing.assert_array_equal(full.intercept_[used], alone.intercept_)
        assert full.coef_[:, unused].nnz == 0
        np.testing.assert_array_equal(full.intercept_[unused], np.float32(-12.0))
        scores = full.predict_scores(X)
        assert scores[:, unused].max() < scores[:, used].min()


def test_any_non_negative_seed_trains():
    """``tagsmith train --seed $(date +%s%N)`` gives the model a 64-bit random_state:
    its kernel seed (``random_state * 7_919``) overflowed int64 and numba refused it with
    "int too big to convert" after the features were built. Seeds count modulo 2**64,
    so a seed that worked before trains exactly the model it did."""
    rng = np.random.default_rng(6)
    X = sp.random(120, 40, density=0.1, format="csr", random_state=6, dtype=np.float32)
    Y = sp.csr_matrix((rng.random((120, 3)) < 0.3).astype(np.float32))
    for seed in (3, 1_700_000_000_000_000_000, 2**70 + 11):
        big = LinearOVR(random_state=seed + 2**64, max_iter=5, n_jobs=1).fit(X, Y)
        plain = LinearOVR(random_state=seed, max_iter=5, n_jobs=1).fit(X, Y)
        assert (big.coef_ != plain.coef_).nnz == 0
        np.testing.assert_array_equal(big.intercept_, plain.intercept_)
    # the seed still matters
    other = LinearOVR(random_state=4, max_iter=5, n_jobs=1).fit(X, Y)
    assert (other.coef_ != LinearOVR(random_state=3, max_iter=5, n_jobs=1).fit(X, Y).coef_).nnz


def test_concurrent_first_predictions_build_one_dense_weight_copy():
    """Small weights are densified on first prediction: predictions arriving together
    each found no dense copy and built their own (up to 256 MB apiece)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    rng = np.random.default_rng(0)
    X = sp.random(200, 3000, density=0.01, format="csr", random_state=0, dtype=np.float32)
    Y = sp.csr_matrix((rng.random((200, 2000)) < 0.01).astype(np.float32))
    model = LinearOVR().fit(X, Y)
    start = Barrier(8)

    def first_use(_):
        start.wait()
        return model._prediction_weights()

    with ThreadPoolExecutor(8) as pool:
        copies = list(pool.map(first_use, range(8)))
    assert len({id(dense) for dense in copies}) == 1
    assert model._prediction_weights() is copies[0]


def _squared_hinge_objective(wb, X, y, C):
    # the primal LinearOVR minimises: L2 on weights and bias, C * squared hinge
    margins = X @ wb[:-1] + wb[-1]
    hinge = np.maximum(0.0, 1.0 - np.where(y > 0, 1.0, -1.0) * margins)
    value = 0.5 * wb @ wb + C * np.sum(hinge ** 2)
    grad_m = -2.0 * C * hinge * np.where(y > 0, 1.0, -1.0)
    return value, np.concatenate([wb[:-1] + X.T @ grad_m, [wb[-1] + grad_m.sum()]])


def test_tight_tolerance_reaches_the_squared_hinge_optimum():
    # Shrunk examples came back only once the active set met tol, which float32 margins
    # may never do at tol=1e-8: the solver settled on a subset of the examples (an
    # objective 0.15% above the optimum here, up to 40% on other small problems)
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)) * (rng.random((40, 5)) < 0.6)
    Y = (rng.random((40, 3)) < 0.3).astype(np.float32)
    Y[0] = 1.0
    C = 50.0
    model = LinearOVR(C=C, tol=1e-8, max_iter=100_000, prune_threshold=0.0, n_jobs=1).fit(X, Y)
    X64 = X.astype(np.float32).astype(np.float64)
    for label in range(3):
        wb = np.append(model.coef_[:, label].toarray().ravel(), model.intercept_[label])
        reached = _squared_hinge_objective(wb.astype(np.float64), X64, Y[:, label], C)[0]
        best = minimize(_squared_hinge_objective, np.zeros(6), args=(X64, Y[:, label], C),
                        jac=True, method="L-BFGS-B",
                        options={"maxiter": 10_000, "ftol": 1e-15, "gtol": 1e-10}).fun
        assert reached <= best * (1 + 1e-6), (label, reached, best)


def _unconverging_problem():
    rng = np.random.default_rng(3)
    X = sp.csr_matrix(rng.random((80, 10)) * (rng.random((80, 10)) < 0.5))
    Y = (rng.random((80, 3)) < 0.4).astype(np.float32)
    Y[:, 2] = 0  # no positive example: nothing to solve, never "unconverged"
    return X, sp.csr_matrix(Y)


def test_stopping_at_max_iter_warns_once_with_the_count(caplog):
    # the solver stopped at max_iter without a word: the model was simply worse
    X, Y = _unconverging_problem()
    with caplog.at_level("WARNING", logger="tagsmith"):
        LinearOVR(tol=1e-6, max_iter=1, n_jobs=3).fit(X, Y)  # one block per label
    warnings = [r.getMessage() for r in caplog.records if "max_iter" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "for 2 of 3 labels" in warnings[0] and "raise max_iter" in warnings[0]


def test_a_converged_fit_does_not_warn(caplog):
    X, Y = _unconverging_problem()
    with caplog.at_level("WARNING", logger="tagsmith"):
        LinearOVR(n_jobs=1).fit(X, Y)
    assert "max_iter" not in caplog.text


def test_the_solver_counts_unconverged_labels():
    from tagsmith.models._solver import LOSS_CODES, train_block

    X, Y = _unconverging_problem()
    # float32 features as LinearOVR.fit passes them (check_features): float64 ones had
    # numba compile a second version of the solver for this test alone
    for max_iter, tol, expected in ((1, 1e-6, 2), (10_000, 0.1, 0)):
        out = train_block(X.data.astype(np.float32), X.indices, X.indptr.astype(np.int64),
                          np.arange(80, dtype=np.int64), Y.indptr.astype(np.int64),
                          Y.indices.astype(np.int32), Y.data.astype(np.float64),
                          np.ones(80), 3, 0, 3, 1.0, 1.0, LOSS_CODES["squared_hinge"], tol,
                          max_iter, 1e-4, 0, np.full(10, -1, np.int32))
        assert out[4] == expected


def test_a_fit_stopped_after_its_solver_leaves_the_model_fitted_before(monkeypatch):
    """A refit stopped after the solver (Ctrl-C in its warnings, or pruning's check) had
    written the new weights, of other labels, under the old n_labels_ and over the
    cached dense weights, so the model was neither fit."""
    import pytest

    import tagsmith.models.linear as linear

    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((200, 30)) * (rng.random((200, 30)) < 0.3))
    Y = sp.csr_matrix((rng.random((200, 5)) < 0.3).astype(np.float32))
    model = LinearOVR(n_jobs=1).fit(X, Y)
    before = model.predict_topk(X[:20], 3)
    coef, intercept = model.coef_, model.intercept_

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(linear, "warn_if_all_pruned", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y[:, :3])  # other labels, fewer
    assert model.n_labels_ == 5
    assert model.coef_ is coef and model.intercept_ is intercept
    after = model.predict_topk(X[:20], 3)
    np.testing.assert_array_equal(after.indices, before.indices)
    np.testing.assert_array_equal(after.scores, before.scores)


def _sparse_weight_model(n_features=70_000, n_labels=1_000, seed=0):
    """A model whose weights stay sparse (CSC) at prediction (features x labels above
    DENSE_WEIGHTS_LIMIT), of values of mixed magnitude and sign: sums of them depend on
    the order of their terms."""
    from tagsmith.models.linear import DENSE_WEIGHTS_LIMIT

    assert n_features * n_labels > DENSE_WEIGHTS_LIMIT
    rng = np.random.default_rng(seed)
    coef = sp.random(n_features, n_labels, density=0.02, format="csc", random_state=seed,
                     dtype=np.float32)
    coef.data = (rng.choice([-1, 1], coef.nnz) * 10.0 ** rng.uniform(-4, 4, coef.nnz)
                 ).astype(np.float32)
    meta = {"params": LinearOVR().get_params(), "n_features": n_features,
            "n_labels": n_labels}
    arrays = {"coef_data": coef.data, "coef_indices": coef.indices,
              "coef_indptr": coef.indptr,
              "intercept": rng.normal(size=n_labels).astype(np.float32)}
    model = LinearOVR.from_state(meta, arrays)
    X = sp.random(40, n_features, density=0.05, format="csr", random_state=seed + 1,
                  dtype=np.float32)
    X.data = (10.0 ** rng.uniform(-3, 3, X.nnz)).astype(np.float32)
    return model, X


def test_sparse_weights_score_bit_identically_to_scipys_product():
    """Sparse weights are multiplied without scipy (which converted them all to CSR on
    every batch): the margins must still be scipy's to the bit, as figures of record
    were computed from them, in a case where the order of a sum's terms matters."""
    from tagsmith.models.linear import sigmoid

    model, X = _sparse_weight_model()
    assert sp.issparse(model._prediction_weights())
    scipy_margins = (X @ model.coef_).toarray()
    # the case is order-sensitive: summed from the last feature down, margins differ
    reversed_order = sp.csr_matrix((X.data[::-1], X.indices[::-1], X.indptr), X.shape)
    rows = [slice(X.indptr[i], X.indptr[i + 1]) for i in range(X.shape[0])]
    reversed_order.data = np.concatenate([X.data[r][::-1] for r in rows])
    reversed_order.indices = np.concatenate([X.indices[r][::-1] for r in rows])
    assert not np.array_equal((reversed_order @ model.coef_).toarray(), scipy_margins)

    expected = (scipy_margins + model.intercept_).astype(np.float32)
    assert np.array_equal(model.decision_function(X), expected)
    scores = np.vstack([block for _, block in model.score_batches(X)])
    assert np.array_equal(scores, sigmoid(expected))
    top = model.predict_topk(X, 5)
    assert np.array_equal(top.scores, np.sort(sigmoid(expected), axis=1)[:, ::-1][:, :5])
    labels = np.arange(3, 1_000, 7)
    among = model.predict_topk_among(X, 5, labels)
    kept = sigmoid(expected[:, labels])
    assert np.array_equal(among.scores, np.sort(kept, axis=1)[:, ::-1][:, :5])
    # unsorted document indices keep scipy's product (and its order) as before
    assert np.array_equal(model.decision_function(reversed_order),
                          ((reversed_order @ model.coef_).toarray()
                           + model.intercept_).astype(np.float32))


def test_sparse_weights_are_not_copied_to_score():
    """Scoring a few documents with sparse weights copied all the weights (scipy's
    conversion to CSR, per batch): 1.3 s and the weights' size again on a 7,019-label
    bundle. The copy is gone: scoring allocates far less than the weights hold."""
    import tracemalloc

    model, X = _sparse_weight_model()
    few = X[:3]
    model.predict_topk(few, 5)  # the kernel's compile is not the scoring
    weight_bytes = model.coef_.data.nbytes + model.coef_.indices.nbytes
    tracemalloc.start()
    try:
        model.predict_topk(few, 5)
        model.decision_function(few)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < weight_bytes / 4
