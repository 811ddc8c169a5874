"""The conformance suite every tagsmith model family must pass.

Each ``check_*`` function takes a zero-argument factory returning a fresh, unfitted
model and raises ``AssertionError`` (or the model's own error) when the model
breaks the contract in :mod:`tagsmith.models.base`. Run them all with
:func:`run_conformance`, or parametrize a test over :data:`CHECKS`, as
``tests/test_conformance.py`` does for every registered family.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from tagsmith.exceptions import InvalidParameterError, NotFittedError
from tagsmith.models.base import NESTED_TOPK, SAMPLE_WEIGHT, SOFT_TARGETS, BaseModel, takes_groups
from tagsmith.topk import TopK

Factory = Callable[[], BaseModel]


def make_problem(n_docs: int = 160, n_features: int = 60, n_labels: int = 6, seed: int = 0
                 ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """A learnable synthetic multi-label problem: (X csr float32, Y csr float32).

    Each label owns a few features; a document with the label shows some of them.
    """
    rng = np.random.default_rng(seed)
    owned = np.array_split(rng.permutation(n_features), n_labels)
    rows, cols, Y_rows, Y_cols = [], [], [], []
    for doc in range(n_docs):
        labels = rng.choice(n_labels, size=rng.integers(1, 3), replace=False)
        for label in labels:
            feats = rng.choice(owned[label], size=min(4, len(owned[label])), replace=False)
            rows += [doc] * len(feats)
            cols += feats.tolist()
            Y_rows.append(doc)
            Y_cols.append(label)
        noise = rng.choice(n_features, size=2, replace=False)
        rows += [doc, doc]
        cols += noise.tolist()
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_docs, n_features))
    X.sum_duplicates()
    Y = sp.csr_matrix((np.ones(len(Y_rows), np.float32), (Y_rows, Y_cols)),
                      shape=(n_docs, n_labels))
    return X, Y


def _scores(model, X, k=None) -> TopK:
    return model.predict_topk(X, k or model.n_labels_)


def _assert_same_topk(a: TopK, b: TopK, what: str) -> None:
    np.testing.assert_array_equal(a.indices, b.indices, err_msg=f"{what}: label order differs")
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6,
                               err_msg=f"{what}: scores differ")


def check_params_stored_verbatim(factory: Factory) -> None:
    model = factory()
    params = model.get_params()
    assert params, "get_params() returned nothing"
    clone = type(model)(**params)
    assert clone.get_params() == params, "constructor does not store parameters verbatim"
    from sklearn.base import clone as sklearn_clone

    # scikit-learn's clone (as GridSearchCV copies a model) asks get_params(deep=False)
    assert model.get_params(deep=False) == params, "get_params(deep=False) differs"
    copy = sklearn_clone(model)
    assert type(copy) is type(model) and copy.get_params() == params, \
        "sklearn.base.clone does not copy the parameters"
    try:
        model.set_params(no_such_parameter=1)
    except InvalidParameterError:
        pass
    else:
        raise AssertionError("set_params accepted an unknown parameter")


def check_not_fitted(factory: Factory) -> None:
    X, _ = make_problem()
    try:
        factory().predict_topk(X, 3)
    except NotFittedError:
        return
    raise AssertionError("predict_topk before fit did not raise NotFittedError")


def check_fit_predict_shapes(factory: Factory) -> None:
    X, Y = make_problem()
    model = factory()
    assert model.fit(X, Y) is model, "fit must return self"
    topk = model.predict_topk(X, 3)
    assert isinstance(topk, TopK) and topk.indices.shape == (X.shape[0], 3)
    assert topk.n_labels == Y.shape[1]
    assert np.all(np.diff(topk.scores, axis=1) <= 0), "scores are not sorted best-first"
    for row in topk.indices:
        real = row[row >= 0]
        assert len(set(real.tolist())) == len(real), "a label appears twice in one row"


def check_learns(factory: Factory) -> None:
    X, Y = make_problem(seed=1)
    X_test, Y_test = make_problem(seed=1, n_docs=60)  # same label->feature map (same seed)
    model = factory().fit(X, Y)
    top1 = model.predict_topk(X_test, 1).indices[:, 0]
    precision = np.asarray(Y_test[np.arange(len(top1)), top1]).ravel().mean()
    assert precision >= 0.9, f"P@1 {precision:.2f} on an easy synthetic problem"


def check_deterministic(factory: Factory) -> None:
    X, Y = make_problem()
    _assert_same_topk(_scores(factory().fit(X, Y), X), _scores(factory().fit(X, Y), X),
                      "two fits with the same seed")


def check_state_roundtrip(factory: Factory) -> None:
    """The state goes through a real bundle (its strict JSON, its checked ``.npz``): plain
    :func:`json.dumps` wrote ``inf`` as ``Infinity`` and read it back a float, where a
    bundle stores the string ``"Infinity"``, and refused numpy scalars a bundle takes."""
    import tempfile
    from pathlib import Path

    from tagsmith.store.bundle import Bundle, BundleWriter

    X, Y = make_problem()
    model = factory().fit(X, Y)
    meta, arrays = model.to_state()
    with tempfile.TemporaryDirectory(prefix="tagsmith-conformance-") as folder:
        writer = BundleWriter(Path(folder) / "bundle")
        writer.add_json("model.json", meta)  # must be JSON-able
        writer.add_arrays("model.npz", arrays)  # must not need pickle
        with Bundle(writer.commit()) as bundle:
            meta = bundle.read_json("model.json")
            loaded_arrays = bundle.read_arrays("model.npz")
    restored = type(model).from_state(meta, loaded_arrays)
    # exactly: a bundle holds the state as it was, so a loaded model answers as the one
    # saved (scores a last bit off change ties, thresholds and the conformal sets)
    _assert_identical_topk(_scores(model, X), _scores(restored, X),
                           "after to_state/from_state")


def check_dense_and_sparse_input(factory: Factory) -> None:
    X, Y = make_problem()
    model = factory().fit(X, Y)
    _assert_same_topk(_scores(model, X), _scores(model, X.toarray()), "dense vs sparse input")
    dense_fit = factory().fit(X.toarray(), Y.toarray())
    _assert_same_topk(_scores(model, X), _scores(dense_fit, X), "fit on dense vs sparse")


def _assert_identical_topk(a: TopK, b: TopK, what: str) -> None:
    np.testing.assert_array_equal(a.indices, b.indices, err_msg=f"{what}: label order differs")
    np.testing.assert_array_equal(a.scores, b.scores, err_msg=f"{what}: scores differ")


def _valued_problem():
    """:func:`make_problem` with feature values other than 1, whose sums depend on the
    order they are added in (as a matrix's memory layout may change it)."""
    X, Y = make_problem()
    X.data = np.random.default_rng(5).uniform(0.1, 3.0, X.nnz).astype(np.float32)
    return X, Y


def check_input_layouts(factory: Factory) -> None:
    """One matrix in any container, dtype or layout is one input: exactly the same top-k.

    CSC, COO, row- and column-major dense, float64 and integer values, and a
    non-canonical CSR (unsorted columns, an entry stored as two halves, explicit zeros)."""
    X, Y = _valued_problem()
    model = factory().fit(X, Y)
    queries = X[:40]
    expected = model.predict_topk(queries, 4)
    coo = queries.tocoo()
    shuffled = np.random.default_rng(0).permutation(coo.nnz)
    row, col, val = coo.row[shuffled], coo.col[shuffled], coo.data[shuffled].copy()
    val[:3] /= 2  # stored twice as halves (exact in binary), plus five explicit zeros
    rows = np.concatenate([row, row[:3], row[:5]])
    cols = np.concatenate([col, col[:3], (col[:5] + 1) % X.shape[1]])
    vals = np.concatenate([val, val[:3], np.zeros(5, np.float32)])
    by_row = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=queries.shape[0]))])
    messy = sp.csr_matrix((vals[by_row], cols[by_row], indptr), shape=queries.shape)
    assert not messy.has_canonical_format
    dense = queries.toarray()
    variants = {"CSC": queries.tocsc(), "COO": coo, "dense": dense,
                "column-major dense": np.asfortranarray(dense),
                "float64 CSR": queries.astype(np.float64), "non-canonical CSR": messy}
    for what, variant in variants.items():
        _assert_identical_topk(expected, model.predict_topk(variant, 4), what)
    # integer features: the same values as floats, however stored
    counts = sp.csr_matrix(np.rint(dense * 3).astype(np.int64))
    as_float = sp.csr_matrix(counts, dtype=np.float32)
    fitted = factory().fit(sp.csr_matrix(np.rint(X.toarray() * 3).astype(np.int32)),
                           Y.astype(bool))
    refitted = factory().fit(sp.csr_matrix(np.rint(X.toarray() * 3), dtype=np.float32), Y)
    _assert_identical_topk(fitted.predict_topk(counts, 4), refitted.predict_topk(as_float, 4),
                           "integer features and boolean targets")


def check_threads_and_batches(factory: Factory) -> None:
    """Fitting and prediction give the same bits with any thread count (``n_jobs``), and
    a document's top-k does not depend on the documents predicted with it."""
    X, Y = _valued_problem()
    model = factory().fit(X, Y)
    expected = model.predict_topk(X, 4)
    parts = [model.predict_topk(X[start:start + 7], 4) for start in range(0, X.shape[0], 7)]
    _assert_identical_topk(expected, TopK.concatenate(parts), "predicted in batches of 7")
    if "n_jobs" in model.get_params():
        threaded = factory().set_params(n_jobs=3).fit(X, Y)
        _assert_identical_topk(expected, threaded.predict_topk(X, 4), "fitted with 3 threads")


def check_empty_documents(factory: Factory) -> None:
    X, Y = make_problem()
    model = factory().fit(X, Y)
    empty = sp.csr_matrix((3, X.shape[1]), dtype=np.float32)
    topk = model.predict_topk(empty, 2)
    assert topk.indices.shape == (3, 2)
    assert np.all(np.isfinite(topk.scores[topk.valid])), "non-finite score for empty documents"
    assert len(model.predict_topk(sp.csr_matrix((0, X.shape[1])), 2)) == 0


def check_label_without_positives(factory: Factory) -> None:
    X, Y = make_problem()
    Y = sp.hstack([Y, sp.csr_matrix((Y.shape[0], 1))], format="csr")  # a label never seen
    model = factory().fit(X, Y)
    topk = model.predict_topk(X, Y.shape[1])
    assert topk.n_labels == Y.shape[1]
    assert not np.any(topk.indices[:, 0] == Y.shape[1] - 1), "unseen label ranked first"


def check_nothing_to_learn(factory: Factory) -> None:
    """No document, or no positive target at all, is refused naming ``Y``: such a fit
    used to succeed and rank every document's labels in column order."""
    X, Y = make_problem()
    for bad_X, bad_Y, what in [(X[:0], Y[:0], "no document"),
                               (X, sp.csr_matrix(Y.shape, dtype=np.float32), "an all-zero Y"),
                               (X, Y * 0, "a Y of stored zeros")]:
        try:
            factory().fit(bad_X, bad_Y)
        except InvalidParameterError as exc:
            assert exc.name == "Y", f"{what} refused naming {exc.name!r}, not 'Y'"
            continue
        raise AssertionError(f"fit accepted {what}")
    if SAMPLE_WEIGHT in factory().capabilities:
        # documents of weight 0 are left out: weight 0 on every labelled one leaves none
        weights = np.ones(X.shape[0])
        weights[np.unique(Y.nonzero()[0])] = 0.0
        try:
            factory().fit(X, Y, sample_weight=weights)
        except InvalidParameterError as exc:
            assert exc.name == "sample_weight", \
                f"zero weight on every labelled document refused naming {exc.name!r}"
        else:
            raise AssertionError("fit accepted zero weight on every labelled document")


def check_k_larger_than_labels(factory: Factory) -> None:
    X, Y = make_problem()
    model = factory().fit(X, Y)
    topk = model.predict_topk(X[:5], Y.shape[1] + 10)
    assert topk.k <= Y.shape[1]
    assert np.all(topk.indices < Y.shape[1])


def check_bad_input(factory: Factory) -> None:
    X, Y = make_problem()
    # not just refused: refused by name (no scipy "CSR arrays don't yet support 3D",
    # no numpy "could not convert string to float")
    for bad_X, bad_Y, what in [(X, Y[:-1], "Y with too few rows"),
                               (X, Y * 2.0, "targets above 1"),
                               (X, Y.toarray()[:, :, None], "a 3-D Y"),
                               (X, np.where(Y.toarray() > 0, "yes", "no"), "a Y of strings"),
                               (np.full(X.shape, "a"), Y, "an X of strings"),
                               # numpy casts these with a warning at most: the numbers in
                               # strings parsed, complex ones without their imaginary part
                               (X.toarray().astype(str), Y, "an X of numbers as strings"),
                               (X * (1 + 1j), Y, "a complex X"),
                               (X, Y * (1 + 1j) / 2, "a complex Y")]:
        try:
            factory().fit(bad_X, bad_Y)
        except InvalidParameterError:
            continue
        raise AssertionError(f"fit accepted {what}")
    model = factory().fit(X, Y)
    for bad, what in [(X[:, :-1], "too few feature columns"),
                      (X.toarray() * (1 + 1j), "a complex X")]:
        try:
            model.predict_topk(bad, 2)
        except InvalidParameterError:
            continue
        raise AssertionError(f"predict_topk accepted {what}")
    try:
        model.predict_topk(X, 0)
    except InvalidParameterError:
        return
    raise AssertionError("predict_topk accepted k=0")


def check_sample_weight(factory: Factory) -> None:
    model = factory()
    if SAMPLE_WEIGHT not in model.capabilities:
        return
    X, Y = make_problem()
    weights = np.ones(X.shape[0])
    weights[::4] = 0.0
    weighted = factory().fit(X, Y, sample_weight=weights)
    kept = weights > 0
    dropped = factory().fit(X[kept], Y[kept])
    _assert_same_topk(_scores(weighted, X), _scores(dropped, X),
                      "zero sample weights vs rows removed")


def check_soft_targets(factory: Factory) -> None:
    model = factory()
    if SOFT_TARGETS not in model.capabilities:
        return
    X, Y = make_problem()
    soft = Y.copy()
    soft.data = np.where(np.arange(soft.nnz) % 3 == 0, 0.6, 1.0).astype(np.float32)
    fitted = factory().fit(X, soft)
    topk = fitted.predict_topk(X, 2)
    assert np.all(np.isfinite(topk.scores))
    hard = factory().fit(X, Y)
    soft_as_hard = factory().fit(X, Y.astype(np.float64))
    _assert_same_topk(_scores(hard, X), _scores(soft_as_hard, X), "binary targets as floats")


def check_nested_topk(factory: Factory) -> None:
    """A model declaring nested top-k gives, for every k, the first k labels of its full
    ranking: same labels, same order (ties too), same scores."""
    model = factory()
    if NESTED_TOPK not in model.capabilities:
        return
    X, Y = make_problem()
    model.fit(X, Y)
    # empty documents too: their scores tie
    queries = sp.vstack([X[:20], sp.csr_matrix((3, X.shape[1]), dtype=np.float32)]).tocsr()
    full = model.predict_topk(queries, Y.shape[1])
    for k in range(1, Y.shape[1]):
        topk = model.predict_topk(queries, k)
        np.testing.assert_array_equal(topk.indices, full.head(k).indices,
                                      err_msg=f"top-{k} is not the head of the full ranking")
        np.testing.assert_array_equal(topk.scores, full.head(k).scores,
                                      err_msg=f"top-{k} scores differ from the full ranking's")


def check_groups_declared(factory: Factory) -> None:
    """``fit`` takes ``groups=`` exactly when the class declares ``fit_takes_groups``
    (callers ask :func:`~tagsmith.models.base.takes_groups`, they do not guess from the
    signature), and one group per document changes nothing."""
    import inspect

    model = factory()
    declared = takes_groups(model)
    in_signature = "groups" in inspect.signature(model.fit).parameters
    assert declared == in_signature, (
        f"{type(model).__name__}.fit_takes_groups is {declared}, but its fit "
        f"{'takes' if in_signature else 'has no'} groups=")
    if not declared:
        return
    X, Y = make_problem()
    grouped = factory().fit(X, Y, groups=np.arange(X.shape[0]) * 3)  # type: ignore[call-arg]
    _assert_identical_topk(_scores(grouped, X), _scores(factory().fit(X, Y), X),
                           "one group per document vs no groups")


CHECKS = [
    check_params_stored_verbatim, check_not_fitted, check_fit_predict_shapes, check_learns,
    check_deterministic, check_state_roundtrip, check_dense_and_sparse_input,
    check_input_layouts, check_threads_and_batches,
    check_empty_documents, check_label_without_positives, check_nothing_to_learn,
    check_k_larger_than_labels, check_bad_input, check_sample_weight, check_soft_targets,
    check_nested_topk, check_groups_declared,
]


def run_conformance(factory: Factory) -> None:
    """Run every check; the first failure raises."""
    for check in CHECKS:
        check(factory)
