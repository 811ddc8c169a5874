"""Nearest neighbours on dense embeddings with label voting.

The dense counterpart of :mod:`tagsmith.models.knn` for sentence embeddings (or any
dense feature rows): training rows are L2-normalised and kept as float16 (half the
memory of float32, and cosines stay within 1e-3); a query's neighbours are found by
exact search, blocked matrix products against float64 copies of slices of the index
(rounded to float32, so a similarity does not depend on the documents queried with it),
and vote exactly as in ``knn``: the score of label ``l`` is

    sum_n sim_n**power * w_n * y_nl  /  sum_n sim_n**power * w_n

over the ``n_neighbors`` most similar training documents (of equally similar ones, such
as duplicate training texts, the earlier documents) whose similarity is above 1e-6 and
above the error float16 storage can put into it (:func:`_float16_error`, at most about
5e-4): an exactly orthogonal embedding came out at about 1e-4 and voted, with full
strength at ``power=0``.
Exact search costs ``n_queries x n_docs x dim`` multiply-adds: on two cores about
5 ms per query against 590k training documents of 384 dimensions, small next to
embedding the query text itself.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_int
from tagsmith._plural import plural_s
from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.models._knn_kernels import NOTHING_LEFT_OUT, vote_kernel
from tagsmith.models.base import (
    NESTED_TOPK,
    SAMPLE_WEIGHT,
    SOFT_TARGETS,
    BaseModel,
    check_targets,
    dense_float32_2d,
    refuse_non_finite_features,
    scaled_weights,
)
from tagsmith.models.knn import (
    _check_power,
    _float32_norm_lost,
    _voters,
    check_doc_weight,
    check_stored_targets,
)
from tagsmith.progress import progress_bar
from tagsmith.store.bundle import check_ids, sparse_from_state
from tagsmith.topk import TopK, _check_k

#: queries per search block and index rows per slice (bounds the block's score matrix)
QUERY_BLOCK = 1024
INDEX_SLICE = 16_384


def check_dense_features(X: FeatureMatrix, *, n_features: int | None = None) -> np.ndarray:
    """A dense, finite float32 matrix (sparse input is densified only if small)."""
    if sp.issparse(X):
        if X.shape[0] * X.shape[1] > 50_000_000:
            raise InvalidParameterError("X", "dense feature rows (e.g. sentence embeddings)",
                                        f"a large sparse matrix {X.shape}")
        X = cast("sp.spmatrix", X).toarray()  # sparse here: the cast tells the type checker
    given = X
    X = dense_float32_2d(X)
    # row-major: a row's norm and cosines are sums along it, and numpy adds along the rows
    # of a Fortran-ordered (or densified CSC) matrix in another order, so the same
    # document got scores an ulp apart (enough to reorder equally similar neighbours)
    X = np.ascontiguousarray(X)
    if not np.all(np.isfinite(X)):
        refuse_non_finite_features(given)
    if n_features is not None and X.shape[1] != n_features:
        raise InvalidParameterError("X", f"{n_features} feature column{plural_s(n_features)}",
                                    X.shape[1])
    return X


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm in float32 (zero rows stay zero); rows whose float32
    squares overflow or underflow (values above about 1.8e19 or below about 1e-23, which
    became zero rows) are scaled in float64."""
    with np.errstate(over="ignore"):  # rows whose squares overflow are scaled again
        norms = np.linalg.norm(X, axis=1, keepdims=True)
    unit = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    redo = _float32_norm_lost(norms[:, 0], X)
    if redo.size:
        rows = X[redo].astype(np.float64)
        row_norms = np.linalg.norm(rows, axis=1, keepdims=True)
        unit[redo] = np.divide(rows, row_norms, out=np.zeros_like(rows), where=row_norms > 0)
    return unit


def _float16_error(queries: np.ndarray, index: np.ndarray) -> np.ndarray:
    """A bound on how far the float16 ``index`` rows (unit rows rounded) move the cosine
    of each query row with the index row beside it (both ``m x dim``).

    Rounding to float16 moves a normal value by at most 2**-11 of itself, a subnormal one
    (below 2**-14) by at most 2**-25, so ``q . x`` moves by at most
    ``2**-11 sum |q_i x_i| + 2**-25 sum |q_i|``: at most about 2**-11 (4.9e-4) for unit
    rows of any dimension, as ``sum |q_i x_i| <= 1``. 2**-22 more covers the float32
    roundings of the unit rows and of the cosine itself."""
    magnitudes = np.abs(queries)
    return (2.0 ** -11 * np.einsum("ij,ij->i", magnitudes, np.abs(index.astype(np.float32)))
            + 2.0 ** -25 * magnitudes.sum(axis=1) + 2.0 ** -22)


def _best_n(sims: np.ndarray, ids: np.ndarray | None, n: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, sims)`` of the ``n`` best entries of each row of ``sims`` (in no order),
    ties at the cut going to the lower id (``ids``: the entries' ids, default their
    columns). ``argpartition`` alone keeps an arbitrary few of equal entries, chosen by
    the rest of the row, so a document's neighbours among duplicate training texts (and
    its votes) changed with the documents it was queried with."""
    take = min(n, sims.shape[1])
    cut = np.argpartition(-sims, take - 1, axis=1)[:, :take]
    if take < sims.shape[1]:
        kth = np.take_along_axis(sims, cut, axis=1).min(axis=1, keepdims=True)
        for row in np.flatnonzero((sims >= kth).sum(axis=1) > take):
            candidates = np.flatnonzero(sims[row] >= kth[row])
            keys = candidates if ids is None else ids[row, candidates]
            cut[row] = candidates[np.lexsort((keys, -sims[row, candidates]))[:take]]
    cut_sims = np.take_along_axis(sims, cut, axis=1)
    return (cut if ids is None else np.take_along_axis(ids, cut, axis=1)), cut_sims


class DenseKNNModel(BaseModel):
    """Cosine k-nearest-neighbour classifier on dense rows; scores in [0, 1].

    Parameters (keyword-only): ``n_neighbors`` (documents that vote), ``power``
    (similarity exponent of a vote), ``n_jobs`` (threads; ``None`` = all cores),
    ``show_progress``.

    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    >>> Y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    >>> model = DenseKNNModel(n_neighbors=2).fit(X, Y)
    >>> model.predict_topk(np.array([[0.9, 0.0]]), k=2).indices.tolist()
    [[0, 1]]
    """

    name = "dense_knn"
    capabilities = frozenset({SAMPLE_WEIGHT, SOFT_TARGETS, NESTED_TOPK})

    def __init__(self, *, n_neighbors: int = 50, power: float = 4.0, n_jobs: int | None = None,
                 show_progress: bool = False):
        self.n_neighbors = n_neighbors
        self.power = power
        self.n_jobs = n_jobs
        self.show_progress = show_progress

    def _checked_params(self) -> tuple[int, float]:
        """``(n_neighbors, power)`` checked, as plain values; the model is not modified
        (prediction calls this, and prediction never writes to the model)."""
        n_neighbors = check_int("n_neighbors", self.n_neighbors, 1, numpy=True)
        power = _check_power(self.power)
        self._checked_n_jobs()
        return n_neighbors, power

    def _validate_params(self) -> None:
        n_neighbors, power = self._checked_params()
        self._check_n_jobs()
        # every field checked: store plain values back (get_params() goes into bundles)
        self.n_neighbors, self.power = n_neighbors, power

    def fit(self, X: FeatureMatrix, Y: LabelMatrix, sample_weight: npt.ArrayLike | None = None
            ) -> DenseKNNModel:
        """Index ``X`` (n_docs x dim, dense) with its targets ``Y`` (n_docs x n_labels)."""
        self._validate_params()
        X = check_dense_features(X)
        Y = check_targets(Y, X.shape[0], soft_ok=True)
        X, Y, weights, kept = _voters(X, Y, sample_weight)
        self._set_state(_unit_rows(X).astype(np.float16), sp.csr_matrix(Y, dtype=np.float32),
                        weights, kept.astype(np.int32))
        return self

    def _set_state(self, index: np.ndarray, Y: sp.csr_matrix, weights: np.ndarray,
                   row_ids: np.ndarray) -> None:
        # everything is built first and set together: a fit stopped part-way left the
        # new index beside the old fit's labels and weights
        index = np.ascontiguousarray(index, dtype=np.float16)
        Y.eliminate_zeros()
        Y.sort_indices()
        doc_weight = np.asarray(weights, dtype=np.float64)
        vote_weight = scaled_weights(doc_weight)
        prior = np.asarray(Y.T @ vote_weight, dtype=np.float64).ravel()
        label_order = np.argsort(-prior, kind="stable").astype(np.int32)
        target_arrays = (Y.indptr.astype(np.int64), Y.indices.astype(np.int32), Y.data)
        self.index_ = index
        # the index leaves documents of weight 0 out: its rows' numbers in the matrix
        # given to fit, which kneighbors returns
        self.row_ids_ = row_ids
        self.targets_ = Y
        self.doc_weight_, self._vote_weight = doc_weight, vote_weight
        self.label_order_ = label_order
        self._label_prior = prior
        self.n_docs_, self.n_features_ = index.shape
        self.n_labels_ = Y.shape[1]
        self._target_arrays = target_arrays

    def kneighbors(self, X: FeatureMatrix, n_neighbors: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, sims)``, both ``n x min(n_neighbors, n_docs_)``, best first: row
        numbers in the training matrix given to ``fit`` (int32) and cosine similarities;
        row -1 where none > 0."""
        self._check_fitted()
        n_neighbors = self._checked_params()[0] if n_neighbors is None else n_neighbors
        n_neighbors = check_int("n_neighbors", n_neighbors, 1, numpy=True)
        queries = _unit_rows(check_dense_features(X, n_features=self.n_features_))
        # never wider than the training documents: n_neighbors=10**9 must not allocate a
        # queries x 10**9 matrix (the places past n_docs_ could only hold -1)
        n = min(n_neighbors, self.n_docs_)
        index_rows, sims = self._index_neighbors(queries, n)
        found = index_rows >= 0
        rows = np.full(index_rows.shape, -1, np.int32)
        rows[found] = self.row_ids_[index_rows[found]]
        return rows, sims

    def _index_neighbors(self, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, sims)`` of :meth:`kneighbors`, rows as positions in the index."""
        rows = np.full((len(queries), n), -1, np.int32)
        sims = np.zeros((len(queries), n), np.float32)
        starts = range(0, len(queries), QUERY_BLOCK)

        def work(start: int) -> int:
            block = queries[start:start + QUERY_BLOCK]
            ids, best = self._search(block, n)
            ids[best <= 0] = -1
            rows[start:start + len(block), :n] = ids
            sims[start:start + len(block), :n] = np.maximum(best, 0)
            return len(block)

        with progress_bar(total=len(queries), desc="dense knn queries", unit="doc",
                          enabled=self.show_progress and len(queries) > QUERY_BLOCK) as bar:
            # numpy's matrix products release the GIL, so query blocks run side by side
            with ThreadPoolExecutor(max_workers=max(1, self._n_threads())) as pool:
                for done in pool.map(work, starts):
                    bar.update(done)
        return rows, sims

    def _search(self, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``n`` rows of the index for each query, best first; of rows with
        equal similarity (duplicate training texts), the lower rows."""
        best_ids = np.zeros((len(queries), 0), np.int64)
        best_sims = np.zeros((len(queries), 0), np.float32)
        queries64 = queries.astype(np.float64)
        for lo in range(0, self.n_docs_, INDEX_SLICE):
            # in float64, rounded to float32: the rounding of a float32 product depends on
            # where its row and column fall in the BLAS kernel's tiles, so one training
            # text's duplicates got cosines an ulp apart, ordered by the batch a document
            # came in with; float64 errors (1e-16) almost never survive the rounding
            part = self.index_[lo:lo + INDEX_SLICE].astype(np.float64)
            scores = (queries64 @ part.T).astype(np.float32)
            ids, sims = _best_n(scores, None, n)
            best_ids = np.hstack([best_ids, ids + lo])
            best_sims = np.hstack([best_sims, sims])
            if best_ids.shape[1] > n:
                best_ids, best_sims = _best_n(best_sims, best_ids, n)
        # best first; equal similarities go to the lower row
        order = np.lexsort((best_ids, -best_sims), axis=1)
        return np.take_along_axis(best_ids, order, axis=1), np.take_along_axis(best_sims, order,
                                                                              axis=1)

    def predict_topk(self, X: FeatureMatrix, k: int) -> TopK:
        """The ``k`` best labels per document (scores in [0, 1]), best first."""
        self._check_fitted()
        n_neighbors, power = self._checked_params()
        k = _check_k(k, self.n_labels_)
        queries = _unit_rows(check_dense_features(X, n_features=self.n_features_))
        rows, sims = self._index_neighbors(queries, min(n_neighbors, self.n_docs_))
        # a neighbour votes only where its cosine is above the float16 error: its sign
        # is certain then (VOTE_MIN_SIM, 1e-6, is far below that error)
        for start in range(0, len(rows), 256):  # 256 x n_neighbors index rows at a time
            block_rows, block_sims = rows[start:start + 256], sims[start:start + 256]
            found = np.nonzero(block_rows >= 0)
            error = _float16_error(queries[start + found[0]], self.index_[block_rows[found]])
            block_sims[found] = np.where(block_sims[found] > error, block_sims[found], 0.0)
        indices = np.empty((len(rows), k), np.int32)
        scores = np.empty((len(rows), k), np.float32)
        vote_kernel(rows, sims, power, *self._target_arrays, self._vote_weight,
                    self.label_order_, indices, scores, self._label_prior,
                    *NOTHING_LEFT_OUT)
        return TopK._trusted(indices, scores, self.n_labels_)

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {"params": self.get_params(), "n_features": int(self.n_features_),
                "n_labels": int(self.n_labels_), "n_docs": int(self.n_docs_)}
        return meta, {"index": self.index_, "targets_data": self.targets_.data,
                      "targets_indices": self.targets_.indices,
                      "targets_indptr": self.targets_.indptr, "doc_weight": self.doc_weight_,
                      "row_ids": self.row_ids_}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> DenseKNNModel:
        model = cls(**cls.params_from_json(meta["params"]))
        # prediction checks them: a bad one is a damaged state now, not an error about a
        # parameter nobody passed at the first prediction
        model._validate_params()
        n_docs, n_labels = int(meta["n_docs"]), int(meta["n_labels"])
        index = np.asarray(arrays["index"])
        if index.shape != (n_docs, int(meta["n_features"])):
            raise ValueError(f"index has shape {index.shape}, expected "
                             f"({n_docs}, {meta['n_features']})")
        if index.dtype.kind not in "iuf":  # complex: its imaginary part was dropped
            raise ValueError(f"index has dtype {index.dtype}, expected numbers")
        if not np.all(np.isfinite(index)):
            raise ValueError("index holds NaN or infinite values")
        targets = sparse_from_state("targets", "csr", arrays["targets_data"],
                                    arrays["targets_indices"], arrays["targets_indptr"],
                                    (n_docs, n_labels))
        # bundles saved before the rows were stored: positions in the index, as they gave
        row_ids = (check_ids("row_ids", arrays["row_ids"], np.iinfo(np.int32).max,
                             shape=(n_docs,), dtype=np.int32) if "row_ids" in arrays
                   else np.arange(n_docs, dtype=np.int32))
        model._set_state(index, check_stored_targets(targets),
                         check_doc_weight(arrays["doc_weight"], n_docs), row_ids)
        return model
