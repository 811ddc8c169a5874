"""Sparse cosine nearest neighbours with label voting, for extreme label spaces.

``fit`` keeps the (optionally pruned) L2-normalised training rows twice: as an
inverted index (features x documents) and as rows, with the training labels.
``predict_topk`` scores each query against the training documents by walking the
posting lists of its features into a dense per-thread accumulator (only touched
documents are read back; never a queries x documents matrix), keeps the most
similar documents in a small heap and lets the ``n_neighbors`` best vote: the score
of label ``l`` is

    sum_n sim_n**power * w_n * y_nl  /  sum_n sim_n**power * w_n

over the neighbours ``n`` with a similarity above 1e-6 (smaller cosines are float
rounding of 0 with signed features; ``_knn_kernels.VOTE_MIN_SIM``), ``w_n`` the sample
weight and ``y_nl`` the (soft) target, so scores lie in [0, 1]. A ``power`` so large
that every ``sim_n**power`` would underflow (a few hundred) votes with the same ratios
from ``sim_n`` divided by the largest. Labels no neighbour votes for fill the rest of
the ``k`` places with score 0, most frequent first.

Search cost is dominated by features that most documents share (short character
n-grams, "the", "of"), which also discriminate least. Features held by more than
``max_posting`` training documents are therefore read only until ``n_neighbors``
documents have been found: the neighbours are the documents most similar on the
rarer features, and their similarities are then completed exactly from their rows,
so the votes are weighted by true cosines. ``max_posting=None`` searches exactly.
On short titles with 200k training documents (yso-finna) the default makes the
search 40-70x faster than exact search at better P@1; where frequent words
carry the signal (GoEmotions) exact search is about 3 points of P@1 better.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, NamedTuple, overload

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_int
from tagsmith._plural import plural, plural_s
from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.models._knn_kernels import (
    NO_GROUPS,
    NOTHING_LEFT_OUT,
    VOTE_MIN_SIM,
    has_repeated_column_kernel,
    neighbors_kernel,
    prune_rows_kernel,
    vote_kernel,
)
from tagsmith.models.base import (
    NESTED_TOPK,
    SAMPLE_WEIGHT,
    SOFT_TARGETS,
    BaseModel,
    check_features,
    check_groups,
    check_sample_weight,
    check_targets,
    check_weighted_targets,
    scaled_weights,
)
from tagsmith.progress import progress_bar
from tagsmith.store.bundle import check_ids, sparse_from_state
from tagsmith.topk import TopK, _check_k

# queries per kernel call: large enough to amortise the per-call accumulators,
# small enough to keep the progress bar moving and the threads balanced
QUERY_BLOCK = 2048


#: rows scaled at a time by :func:`l2_normalize`, and at most this many of their entries
#: (a block of at least one row): 65,536 rows of 195 character n-grams each held five
#: int64 or float64 temporaries of 12.7 million entries, 400 MB of the audit's peak
_NORMALIZE_ROWS = 65_536
_NORMALIZE_ENTRIES = 1 << 20


def _row_blocks(indptr: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` blocks of the rows of a CSR ``indptr`` (int64), in order: at
    most :data:`_NORMALIZE_ROWS` rows and :data:`_NORMALIZE_ENTRIES` entries each (a
    longer row alone).

    >>> _row_blocks(np.array([0, 3, 3, 5], np.int64))
    [(0, 3)]
    >>> _row_blocks(np.zeros(1, np.int64))
    []
    """
    n_rows = indptr.size - 1
    blocks = []
    start = 0
    while start < n_rows:
        # the rows from start whose entries fit in a block
        stop = int(np.searchsorted(indptr, indptr[start] + _NORMALIZE_ENTRIES, side="right")) - 1
        stop = min(max(stop, start + 1), start + _NORMALIZE_ROWS, n_rows)
        blocks.append((start, stop))
        start = stop
    return blocks


#: a row norm below this, summed from float32 squares, may have lost its small squares
#: (below about 1e-38 they lose precision, below 1e-45 they become 0) and is summed
#: again in float64; no row of ordinary values (TF-IDF, counts) comes near it
_SMALLEST_FLOAT32_NORM = 2.0 ** -50


def _float32_norm_lost(norms: np.ndarray, X) -> np.ndarray:
    """Rows (with entries) whose norm, from float32 squares, overflowed (values above
    about 1.8e19 squared to infinity) or underflowed (values below about 1e-23 squared
    to 0), so that the row would be scaled to nothing: to be summed again in float64."""
    lost = ~(norms >= _SMALLEST_FLOAT32_NORM) | ~np.isfinite(norms)
    if sp.issparse(X):
        lost &= np.diff(X.indptr) > 0
    return np.flatnonzero(lost)


def _float64_row_norms(X: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """L2 norms of ``X``'s ``rows``, summed in float64 (the rows
    :func:`_float32_norm_lost` names)."""
    part = sp.csr_matrix(X[rows], dtype=np.float64)
    return np.sqrt(np.asarray(part.multiply(part).sum(axis=1)).ravel())


def l2_normalize(X: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (empty rows stay empty), CSR float32, zeros dropped.

    Each entry is the float64 product of the entry and its row's scale, rounded to
    float32, and each row's entries come in the reverse of their stored order: exactly
    what the sparse product ``diag(scale) @ X`` gives, which this function computed
    until it was found to hold float64 copies of every entry at once (the label audit's
    peak memory on yso-finna-en). Now only one float32 copy of ``X`` is made, filled a
    block of rows at a time. A matrix with repeated entries in a row (summed by the
    product) still goes through the product.

    The norms are summed from float32 squares (as the product's were), but for rows
    whose squares overflow or underflow float32 (values above about 1.8e19 or below
    about 1e-23), summed in float64: those rows became empty.
    """
    indptr = X.indptr.astype(np.int64)
    blocks = _row_blocks(indptr)
    # a block of rows at a time: the squares of every entry were a copy of X
    norms = np.zeros(X.shape[0])
    with np.errstate(over="ignore"):  # rows whose squares overflow are summed again
        for start, stop in blocks:
            part = X[start:stop]
            norms[start:stop] = np.sqrt(np.asarray(part.multiply(part).sum(axis=1),
                                                   dtype=np.float64).ravel())
    redo = _float32_norm_lost(norms, X)
    if redo.size:
        norms[redo] = _float64_row_norms(X, redo)
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    if not X.has_canonical_format and has_repeated_column_kernel(
            X.indptr.astype(np.int64), X.indices, np.int64(X.shape[1])):
        X = sp.csr_matrix(sp.diags(scale) @ X, dtype=np.float32)
        X.eliminate_zeros()
        return X
    data = np.empty(X.nnz, np.float32)
    indices = np.empty_like(X.indices)
    for start, stop in blocks:
        low, high = indptr[start], indptr[stop]
        rows = np.repeat(np.arange(start, stop), np.diff(indptr[start:stop + 1]))
        # the entry at position p of row r goes to the mirrored position of that row
        target = indptr[rows] + indptr[rows + 1] - 1 - np.arange(low, high)
        indices[target] = X.indices[low:high]
        data[target] = (X.data[low:high].astype(np.float64) * scale[rows]).astype(np.float32)
    out = sp.csr_matrix((data, indices, X.indptr.copy()), shape=X.shape)
    out.eliminate_zeros()
    return out


def prune_rows(X: sp.csr_matrix, max_features: int | None) -> sp.csr_matrix:
    """Each row's ``max_features`` largest-magnitude entries (all of them for ``None``).

    >>> X = sp.csr_matrix(np.array([[0.1, 0.5, 0.3], [0.0, 0.2, 0.0]], np.float32))
    >>> pruned = prune_rows(X, 2)
    >>> pruned.indptr.tolist(), pruned.indices.tolist()
    ([0, 2, 3], [1, 2, 1])
    """
    X = sp.csr_matrix(X, dtype=np.float32)
    if not X.has_canonical_format:  # on a copy: the arrays may be the caller's
        X = X.copy()
        X.sum_duplicates()  # also sorts the column indices
    if max_features is None or X.shape[0] == 0:
        return X
    # no row holds more than the columns: a larger count (2**64) keeps them all, where
    # np.int64 refused it ("Python int too large to convert to C long")
    indptr, indices, data = prune_rows_kernel(X.indptr.astype(np.int64),
                                              X.indices.astype(np.int32), X.data,
                                              np.int64(min(max_features, X.shape[1])))
    return sp.csr_matrix((data, indices, indptr), shape=X.shape)


def matrix_fingerprint(X: sp.csr_matrix) -> str:
    """A cheap fingerprint of a checked feature matrix (:func:`check_features`): its
    shape and a BLAKE2b hash of its CSR arrays (read in place, not copied; about 0.1 s
    per 100 MB of entries). :meth:`KNNModel.leave_one_out_topk` compares it with the
    training matrix's, kept by ``fit``. Stored zeros and the order of a row's entries
    do not count (a dense copy of the matrix has the same fingerprint)."""
    if not X.has_sorted_indices or (X.nnz and not X.data.all()):
        X = X.copy()  # the arrays may be the caller's
        X.eliminate_zeros()
        X.sort_indices()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.asarray(X.shape, np.int64).tobytes())
    for array in (X.indptr.astype(np.int64, copy=False), X.indices.astype(np.int32, copy=False),
                  X.data):
        digest.update(np.ascontiguousarray(array).data)  # in place, no copy
    return f"{X.shape[0]}x{X.shape[1]}:{X.nnz}:{digest.hexdigest()}"


def _check_power(value) -> float:
    """A vote's similarity exponent: a finite number >= 0 (shared by the kNN families),
    numpy numbers included, as a plain ``float``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not 0 <= float(value) < float("inf"):
        raise InvalidParameterError("power", "a finite number >= 0", value)
    return float(value)


def _voters(X, Y, sample_weight):
    """Rows of ``X``/``Y`` that vote, their weights and their original row numbers.

    A document with sample weight 0 is left out."""
    weights = check_sample_weight(sample_weight, X.shape[0])
    check_weighted_targets(Y, weights)
    if weights is None:
        weights = np.ones(X.shape[0])
    kept = np.flatnonzero(weights > 0)
    if len(kept) < X.shape[0]:
        X, Y, weights = X[kept], Y[kept], weights[kept]
    return X, Y, weights, kept


def check_doc_weight(weights: npt.ArrayLike, n_docs: int) -> np.ndarray:
    """A bundle's vote weights: ``n_docs`` finite non-negative numbers, else a
    ValueError (:class:`InvalidParameterError`) naming ``doc_weight``."""
    checked = check_sample_weight(weights, n_docs, name="doc_weight")
    if checked is None:
        raise ValueError("doc_weight is missing")
    return checked


def check_stored_targets(targets: sp.csr_matrix) -> sp.csr_matrix:
    """A bundle's training targets: values in [0, 1] as ``fit`` accepts them, else a
    ValueError. The votes are trusted (a NaN or a 7 came out as a label's score).
    A label stored twice in a row counts once, with the sum of its values."""
    if not targets.has_canonical_format:
        targets = targets.copy()  # the arrays may be a live model's
        targets.sum_duplicates()
    data = targets.data
    if data.size and not (np.all(np.isfinite(data)) and data.min() >= 0 and data.max() <= 1):
        raise ValueError("targets hold values outside [0, 1] (NaN, infinite or out of range)")
    return targets


class _KNNParams(NamedTuple):
    n_neighbors: int
    power: float
    max_features_per_doc: int | None
    max_posting: int | None


class KNNModel(BaseModel):
    """Cosine k-nearest-neighbour classifier on sparse features; scores in [0, 1].

    Parameters (keyword-only): ``n_neighbors`` (documents that vote), ``power``
    (similarity exponent of a vote: 0 is an unweighted vote, larger values favour
    the closest documents), ``max_features_per_doc`` (training rows keep only their
    largest weights, then are renormalised; ``None`` keeps all), ``max_posting``
    (features held by more training documents than this are read only until
    ``n_neighbors`` documents have been found; ``None`` = exact search), ``n_jobs``
    (threads; ``None`` = all cores), ``show_progress``.

    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    >>> Y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    >>> model = KNNModel(n_neighbors=2).fit(X, Y)
    >>> topk = model.predict_topk(np.array([[0.9, 0.0]]), k=2)
    >>> topk.indices.tolist(), topk.scores.tolist()
    ([[0, 1]], [[1.0, 0.0]])
    """

    name = "knn"
    capabilities = frozenset({SAMPLE_WEIGHT, SOFT_TARGETS, NESTED_TOPK})

    def __init__(self, *, n_neighbors: int = 50, power: float = 2.0,
                 max_features_per_doc: int | None = None, max_posting: int | None = 500,
                 n_jobs: int | None = None, show_progress: bool = False):
        self.n_neighbors = n_neighbors
        self.power = power
        self.max_features_per_doc = max_features_per_doc
        self.max_posting = max_posting
        self.n_jobs = n_jobs
        self.show_progress = show_progress

    # -- validation --------------------------------------------------------------------------
    def _checked_params(self) -> _KNNParams:
        """The parameters checked, as plain values; the model is not modified (prediction
        calls this, and prediction never writes to the model)."""
        n_neighbors = check_int("n_neighbors", self.n_neighbors, 1, numpy=True)
        power = _check_power(self.power)
        max_features_per_doc = check_int("max_features_per_doc", self.max_features_per_doc, 1,
                                         allow_none=True, numpy=True)
        max_posting = check_int("max_posting", self.max_posting, 1, allow_none=True, numpy=True)
        self._checked_n_jobs()
        return _KNNParams(n_neighbors, power, max_features_per_doc, max_posting)

    def _validate_params(self) -> None:
        params = self._checked_params()
        self._check_n_jobs()
        # every field checked: store plain values back (get_params() goes into bundles)
        self.n_neighbors, self.power = params.n_neighbors, params.power
        self.max_features_per_doc, self.max_posting = (params.max_features_per_doc,
                                                       params.max_posting)

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: FeatureMatrix, Y: LabelMatrix,
            sample_weight: npt.ArrayLike | None = None) -> KNNModel:
        """Index ``X`` (n_docs x n_features) with its targets ``Y`` (n_docs x n_labels).

        Documents with sample weight 0 are left out; the others vote with their weight.
        """
        self._validate_params()
        X = check_features(X)
        Y = check_targets(Y, X.shape[0], soft_ok=True)
        fingerprint = matrix_fingerprint(X)
        X, Y, weights, kept = _voters(X, Y, sample_weight)
        X = l2_normalize(prune_rows(X, self.max_features_per_doc))
        # feature ids ranked by document frequency, most frequent first (see _knn_kernels)
        doc_freq = np.bincount(X.indices, minlength=X.shape[1])
        feature_rank = np.empty(X.shape[1], np.int32)
        feature_rank[np.argsort(-doc_freq, kind="stable")] = np.arange(X.shape[1])
        index = sp.csr_matrix((X.data, feature_rank[X.indices], X.indptr), shape=X.shape).tocsc()
        Y = sp.csr_matrix(Y, dtype=np.float32)
        Y.eliminate_zeros()
        self._set_state(index, feature_rank, Y, weights, kept.astype(np.int32))
        self.train_fingerprint_: str | None = fingerprint
        return self

    def _set_state(self, index, feature_rank: np.ndarray, Y: sp.csr_matrix, weights: np.ndarray,
                   row_ids: np.ndarray) -> None:
        # everything is built first and set together: a fit stopped while the index was
        # sorted or converted (seconds for 590k documents) left the new index beside
        # the old fit's kernel arrays, labels and weights
        index = sp.csc_matrix(index, dtype=np.float32)  # docs x ranked features
        index.sort_indices()
        Y.sort_indices()
        doc_weight = np.asarray(weights, dtype=np.float64)
        vote_weight = scaled_weights(doc_weight)
        prior = np.asarray(Y.T @ vote_weight, dtype=np.float64).ravel()
        rows = index.tocsr()
        rows.sort_indices()
        # kernel views, converted once: int64 offsets, int32 ids, float32 values
        kernel_arrays = (
            index.indptr.astype(np.int64), index.indices.astype(np.int32, copy=False),
            index.data, rows.indptr.astype(np.int64),
            rows.indices.astype(np.int32, copy=False), rows.data)
        target_arrays = (Y.indptr.astype(np.int64), Y.indices.astype(np.int32, copy=False),
                         Y.data)
        self.index_, self.feature_rank_, self.targets_ = index, feature_rank, Y
        self.doc_weight_, self.row_ids_, self._vote_weight = doc_weight, row_ids, vote_weight
        self.label_order_ = np.argsort(-prior, kind="stable").astype(np.int32)
        self._label_prior = prior  # what leave_one_out_topk takes each document out of
        self.n_docs_, self.n_features_ = index.shape
        self.n_labels_ = Y.shape[1]
        self._doc_freq = np.diff(index.indptr)  # non-increasing by construction
        self._kernel_arrays, self._target_arrays = kernel_arrays, target_arrays

    # -- prediction --------------------------------------------------------------------------
    def _queries(self, X) -> sp.csr_matrix:
        """Validated, L2-normalised queries over the ranked feature ids."""
        X = l2_normalize(check_features(X, n_features=self.n_features_))
        X = sp.csr_matrix((X.data, self.feature_rank_[X.indices], X.indptr), shape=X.shape)
        X.has_sorted_indices = False
        X.sort_indices()  # the kernel reads each query's features rarest first
        return X

    def _search_plan(self, n_neighbors: int, max_posting: int | None) -> tuple[int, int]:
        """``(width, n_frequent)`` of a search for ``n_neighbors``: never wider than the
        training documents (``n_neighbors=10**9`` must not allocate a queries x 10**9
        matrix), with the same neighbours as the uncapped search. That one never had
        ``n_neighbors`` documents to stop reading frequent features at, so it read them
        all: exact search, ``n_frequent = 0``."""
        width = max(1, min(n_neighbors, self.n_docs_))
        if max_posting is None or n_neighbors > self.n_docs_:
            return width, 0
        return width, int(np.count_nonzero(self._doc_freq > max_posting))

    def _run_blocks(self, n_queries: int, work) -> None:
        """Call ``work(start, end)`` on blocks of query rows, in threads."""
        threads = max(1, min(self._n_threads(), -(-n_queries // 64)))
        # a few blocks per thread keep the threads busy to the end
        block = min(QUERY_BLOCK, max(64, -(-n_queries // (4 * threads))))
        starts = range(0, n_queries, block)
        with progress_bar(total=n_queries, desc="knn queries", unit="doc",
                          enabled=self.show_progress and n_queries > QUERY_BLOCK) as bar:
            if threads == 1:
                for start in starts:
                    bar.update(work(start, min(start + block, n_queries)))
                return
            pool = ThreadPoolExecutor(max_workers=threads)
            try:
                for done in pool.map(lambda s: work(s, min(s + block, n_queries)), starts):
                    bar.update(done)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()

    def _neighbors(self, X: sp.csr_matrix, n_neighbors: int, n_frequent: int,
                   q_group: np.ndarray = NO_GROUPS, doc_group: np.ndarray = NO_GROUPS):
        out_doc = np.empty((X.shape[0], n_neighbors), np.int32)
        out_sim = np.empty((X.shape[0], n_neighbors), np.float32)
        neighbors_kernel(X.indptr.astype(np.int64), X.indices.astype(np.int32), X.data,
                         *self._kernel_arrays, np.int64(n_frequent), out_doc, out_sim,
                         q_group, doc_group)
        return out_doc, out_sim

    def kneighbors(self, X: FeatureMatrix, n_neighbors: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """The most similar training documents of each row of ``X``, best first.

        Returns ``(rows, sims)``, both ``n x min(n_neighbors, n_docs_)``: row numbers
        in the training matrix given to ``fit`` (int32) and cosine similarities
        (float32). Places with no document of positive similarity hold row ``-1`` and 0.
        """
        self._check_fitted()
        params = self._checked_params()
        n_neighbors = params.n_neighbors if n_neighbors is None else n_neighbors
        n_neighbors = check_int("n_neighbors", n_neighbors, 1, numpy=True)
        X = self._queries(X)
        width, n_frequent = self._search_plan(n_neighbors, params.max_posting)
        rows = np.full((X.shape[0], width), -1, np.int32)
        sims = np.zeros((X.shape[0], width), np.float32)

        def work(start: int, end: int) -> int:
            docs, block_sims = self._neighbors(X[start:end], width, n_frequent)
            found = docs >= 0
            rows[start:end][found] = self.row_ids_[docs[found]]
            sims[start:end] = block_sims
            return end - start

        self._run_blocks(X.shape[0], work)
        return rows, sims

    def predict_topk(self, X: FeatureMatrix, k: int) -> TopK:
        """The ``k`` best labels per document (scores in [0, 1]), best first."""
        self._check_fitted()
        params = self._checked_params()
        k = _check_k(k, self.n_labels_)
        X = self._queries(X)
        width, n_frequent = self._search_plan(params.n_neighbors, params.max_posting)
        indices = np.empty((X.shape[0], k), np.int32)
        scores = np.empty((X.shape[0], k), np.float32)
        power = params.power

        def work(start: int, end: int) -> int:
            docs, sims = self._neighbors(X[start:end], width, n_frequent)
            vote_kernel(docs, sims, power, *self._target_arrays, self._vote_weight,
                        self.label_order_, indices[start:end], scores[start:end],
                        self._label_prior, *NOTHING_LEFT_OUT)
            return end - start

        self._run_blocks(X.shape[0], work)
        return TopK._trusted(indices, scores, self.n_labels_)

    # -- state -------------------------------------------------------------------------------
    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The fitted model as a bundle saves it: JSON-able ``meta`` and named arrays
        (:meth:`from_state` reads them back); an unfitted model is refused."""
        self._check_fitted()
        meta = {"params": self.get_params(), "n_features": int(self.n_features_),
                "n_labels": int(self.n_labels_), "n_docs": int(self.n_docs_)}
        arrays = {"index_data": self.index_.data, "index_indices": self.index_.indices,
                  "index_indptr": self.index_.indptr, "feature_rank": self.feature_rank_,
                  "targets_data": self.targets_.data, "targets_indices": self.targets_.indices,
                  "targets_indptr": self.targets_.indptr, "doc_weight": self.doc_weight_,
                  "row_ids": self.row_ids_}
        if self.train_fingerprint_ is not None:
            meta["train_fingerprint"] = self.train_fingerprint_
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> KNNModel:
        """The model :meth:`to_state` saved, its parameters and arrays checked (a
        damaged state is a ``ValueError`` here, not at the first prediction)."""
        model = cls(**cls.params_from_json(meta["params"]))
        # prediction checks them: a bad one is a damaged state now, not an error about a
        # parameter nobody passed at the first prediction
        model._validate_params()
        n_features, n_labels, n_docs = (int(meta["n_features"]), int(meta["n_labels"]),
                                        int(meta["n_docs"]))
        index = sparse_from_state("index", "csc", arrays["index_data"], arrays["index_indices"],
                                  arrays["index_indptr"], (n_docs, n_features))
        if not np.all(np.isfinite(index.data)):
            raise ValueError("index holds NaN or infinite values")
        targets = sparse_from_state("targets", "csr", arrays["targets_data"],
                                    arrays["targets_indices"], arrays["targets_indptr"],
                                    (n_docs, n_labels))
        # the kernels index the posting lists by ranked feature id: a permutation
        feature_rank = check_ids("feature_rank", arrays["feature_rank"], n_features,
                                 shape=(n_features,), dtype=np.int32)
        if np.any(np.bincount(feature_rank, minlength=n_features) != 1):
            raise ValueError("feature_rank is not a permutation of the feature ids")
        row_ids = check_ids("row_ids", arrays["row_ids"], np.iinfo(np.int32).max,
                            shape=(n_docs,), dtype=np.int32)
        # the training rows indexed, in their order (fit's): looked up by bisection
        if np.any(np.diff(row_ids) <= 0):
            raise ValueError("row_ids is not increasing")
        model._set_state(index, feature_rank, check_stored_targets(targets),
                         check_doc_weight(arrays["doc_weight"], n_docs), row_ids)
        # bundles saved before the fingerprint was kept have none: not checked then
        fingerprint = meta.get("train_fingerprint")
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise ValueError("train_fingerprint is not a string")
        model.train_fingerprint_ = fingerprint
        return model

    # -- leave-one-out (appended for label audits) ------------------------------------------------
    @overload
    def leave_one_out_topk(self, X: FeatureMatrix, k: int, *,
                           return_neighbors: Literal[False] = False,
                           groups: npt.ArrayLike | None = None) -> TopK: ...

    @overload
    def leave_one_out_topk(self, X: FeatureMatrix, k: int, *, return_neighbors: Literal[True],
                           groups: npt.ArrayLike | None = None
                           ) -> tuple[TopK, np.ndarray, np.ndarray]: ...

    @overload
    def leave_one_out_topk(self, X: FeatureMatrix, k: int, *, return_neighbors: bool,
                           groups: npt.ArrayLike | None = None
                           ) -> TopK | tuple[TopK, np.ndarray, np.ndarray]: ...

    def leave_one_out_topk(self, X: FeatureMatrix, k: int, *, return_neighbors: bool = False,
                           groups: npt.ArrayLike | None = None
                           ) -> TopK | tuple[TopK, np.ndarray, np.ndarray]:
        """Scores of the training documents, each voted by its neighbours but itself.

        ``X`` is the matrix given to ``fit`` (same rows, same order, same values: another
        one is refused, by the fingerprint ``fit`` keeps; models loaded from bundles saved
        before it was kept only check the row count). Each row is
        searched for ``n_neighbors + 1`` neighbours, the row itself is dropped (or
        the last one when the row was not indexed), and the rest vote as in
        :meth:`predict_topk`: out-of-sample scores for every training document at
        the cost of one prediction pass. The labels without votes follow in the order
        a model fitted without the document gives them (its own labels count it no
        more in the frequencies). With ``return_neighbors``, also returns the
        ``(rows, sims)`` of :meth:`kneighbors` without the documents themselves.

        ``groups`` (one integer id per row of ``X``, e.g. the exact duplicates of the
        texts) leaves out a document's whole group, not only itself: an exact copy is a
        neighbour of similarity 1, and a wrong label both copies share would vote for
        itself. The search then skips the group's documents as if they were not indexed,
        so it costs no wider search whatever the group's size (a group of hundreds of
        copies is searched as fast as a singleton, and the neighbours are the
        ``n_neighbors`` best documents outside it, with ``max_posting`` too), and the
        labels without votes follow in the order a model fitted without the whole group
        gives them (the copies' labels count them no more in the frequencies). Without
        ``groups``, or with none of two rows, the scores are those of itself alone.

        >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> Y = np.array([[1, 0], [1, 0], [0, 1], [1, 1]])
        >>> topk = KNNModel(n_neighbors=1).fit(X, Y).leave_one_out_topk(X, k=2)
        >>> topk.indices[:, 0].tolist(), topk.scores[:, 0].tolist()
        ([0, 0, 0, 1], [1.0, 1.0, 1.0, 1.0])
        """
        self._check_fitted()
        params = self._checked_params()
        k = _check_k(k, self.n_labels_)
        X = self._check_training_matrix(X)
        group_ids = self._loo_groups(groups, X.shape[0])
        X = self._queries(X)
        if group_ids is not None:
            return self._leave_group_out_topk(X, k, params, group_ids, return_neighbors)
        internal = self._row_places(np.arange(X.shape[0]))
        # one more than the neighbours, for the document itself
        search, n_frequent = self._search_plan(params.n_neighbors + 1, params.max_posting)
        n_neighbors = min(params.n_neighbors, self.n_docs_)
        if search <= n_neighbors:  # all n_docs_ found: the extra place only ever held -1
            search = n_neighbors + 1

        def search_without_self(start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
            docs, block_sims = self._neighbors(X[start:end], search, n_frequent)
            is_self = docs == internal[start:end, None]
            # a stable sort on "is self" moves the document itself to the end
            order = np.argsort(is_self, axis=1, kind="stable")[:, :n_neighbors]
            return (np.ascontiguousarray(np.take_along_axis(docs, order, axis=1)),
                    np.ascontiguousarray(np.take_along_axis(block_sims, order, axis=1)))

        # each document's own targets and weight leave the label frequencies
        left_out = (internal, *self._target_arrays, self._vote_weight)
        return self._vote_without(X.shape[0], k, params.power, left_out, n_neighbors,
                                  return_neighbors, search_without_self)

    def _check_training_matrix(self, X: FeatureMatrix) -> sp.csr_matrix:
        """``X`` checked (:func:`check_features`) and refused unless it is the matrix
        given to ``fit``: by the fingerprint ``fit`` keeps, or by the row count alone for
        a model loaded from a bundle saved before it was kept. Another matrix (the test
        set, other features) was searched against the training documents with "itself"
        dropped by row number: scores that are not leave-one-out, without a word."""
        X = check_features(X, n_features=self.n_features_)
        if X.shape[0] <= (int(self.row_ids_.max()) if len(self.row_ids_) else -1):
            raise InvalidParameterError("X", "the training matrix given to fit",
                                        f"{X.shape[0]} row{plural_s(X.shape[0])}")
        if self.train_fingerprint_ is not None \
                and matrix_fingerprint(X) != self.train_fingerprint_:
            raise InvalidParameterError(
                "X", "the training matrix given to fit (same rows, order and values)",
                f"a different {X.shape[0]} x {X.shape[1]} matrix of {X.nnz} "
                f"{plural(X.nnz, 'entry', 'entries')}")
        return X

    def _row_places(self, rows: np.ndarray) -> np.ndarray:
        """Each of ``rows`` (rows of the training matrix) by its place in the index, -1
        where it was not indexed (sample weight 0): looked up in the increasing
        ``row_ids_``, so that a call costs its rows alone. An array over every training
        row was built in each call (:func:`~tagsmith.audit.scores.capped_labels` calls
        :meth:`own_label_scores` up to 35 times in one audit), then once per fit and
        load, up to the largest stored row id: a bundle whose ``row_ids`` ended in
        2,000,000,000 took 16 GB to load."""
        row_ids = self.row_ids_
        places = np.searchsorted(row_ids, rows)
        found = places < len(row_ids)
        found[found] = row_ids[places[found]] == rows[found]
        return np.where(found, places, -1).astype(np.int64)

    def own_label_scores(self, X: FeatureMatrix, rows: npt.ArrayLike, labels: npt.ArrayLike,
                         *, max_posting: int | None = None,
                         check_matrix: bool = True) -> np.ndarray:
        """The leave-one-out score of label ``labels[i]`` for training row ``rows[i]`` of
        ``X`` (the matrix given to ``fit``), voted as in :meth:`predict_topk` by the row's
        ``n_neighbors`` most similar documents other than itself; ``max_posting`` (when
        above the model's own) searches with that cap instead. The two tell whether
        the cap costs a label its own documents' neighbours
        (:func:`tagsmith.audit.scores.capped_labels` checks a sample of the labels held
        by more documents than the cap, each with a cap of its size).

        ``X`` is refused unless it is the training matrix, as by
        :meth:`leave_one_out_topk`; ``check_matrix=False`` skips that check (it reads
        all of ``X``) where the caller made it already on this very ``X``:
        :func:`~tagsmith.audit.scores.capped_labels` checks it in its first call only,
        not in each of its up to 34 calls (and in none after :meth:`leave_one_out_topk`
        checked it, in the audit's kNN scores).

        >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
        >>> KNNModel(n_neighbors=1).fit(X, Y).own_label_scores(X, [0, 2], [0, 0]).tolist()
        [1.0, 0.0]
        """
        self._check_fitted()
        params = self._checked_params()
        if check_matrix:
            X = self._check_training_matrix(X)
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        # a negative row named the last rows (numpy's wrap), a label out of range or
        # lists of two lengths failed deep in the vote with an IndexError or a reshape
        n_rows = X.shape[0]
        if len(rows) and (rows.min() < 0 or rows.max() >= n_rows):
            raise InvalidParameterError("rows", f"row numbers of X, 0 to {n_rows - 1}",
                                        int(rows.min() if rows.min() < 0 else rows.max()))
        if len(labels) != len(rows):
            raise InvalidParameterError("labels", f"one per row of rows ({len(rows)})",
                                        f"{len(labels)} of them")
        if len(labels) and (labels.min() < 0 or labels.max() >= self.n_labels_):
            raise InvalidParameterError(
                "labels", f"label ids, 0 to {self.n_labels_ - 1}",
                int(labels.min() if labels.min() < 0 else labels.max()))
        # the sampled rows alone: checking all of X in each call cost more than their
        # search (the training-matrix check above reads it once, where asked)
        picked = sp.csr_matrix(X)[rows] if sp.issparse(X) else np.asarray(X)[rows]
        own = self._row_places(rows)
        cap = params.max_posting
        if cap is not None and max_posting is not None:
            cap = max(cap, check_int("max_posting", max_posting, 1, numpy=True))
        search, n_frequent = self._search_plan(params.n_neighbors + 1, cap)
        queries = self._queries(picked)
        docs = np.empty((len(rows), search), np.int32)
        sims = np.empty((len(rows), search), np.float32)

        def work(begin: int, end: int) -> int:
            docs[begin:end], sims[begin:end] = self._neighbors(queries[begin:end], search,
                                                               n_frequent)
            return end - begin

        self._run_blocks(len(rows), work)
        keep = (docs >= 0) & (docs != own[:, None]) & (sims > VOTE_MIN_SIM)
        keep &= np.cumsum(keep, axis=1) <= params.n_neighbors
        near = np.where(keep, docs, 0)
        largest = np.where(keep, sims, 0).max(axis=1, initial=0.0).astype(np.float64)
        # divided by the largest first: the same ratios, no underflow at a large power
        ratio = np.where(keep, sims, 0) / np.where(largest > 0, largest, 1.0)[:, None]
        strength = np.where(keep, ratio ** params.power * self._vote_weight[near], 0.0)
        given = np.asarray(self.targets_[near.ravel(), np.repeat(labels, search)],
                           dtype=np.float64).reshape(near.shape)
        total = strength.sum(axis=1)
        return np.divide((strength * given).sum(axis=1), total, out=np.zeros(len(rows)),
                         where=total > 0)

    @staticmethod
    def _loo_groups(groups: npt.ArrayLike | None, n_rows: int) -> np.ndarray | None:
        """``groups`` checked and numbered ``0..n_groups - 1``; ``None`` when no group
        holds two rows (the search of each document without itself alone)."""
        if groups is None:
            return None
        _, numbered = np.unique(check_groups(groups, n_rows), return_inverse=True)
        numbered = numbered.reshape(-1).astype(np.int64)
        if numbered.size == 0 or int(numbered.max()) + 1 == numbered.size:
            return None
        return numbered

    def _leave_group_out_topk(self, X: sp.csr_matrix, k: int, params: _KNNParams,
                              group_ids: np.ndarray, return_neighbors: bool
                              ) -> TopK | tuple[TopK, np.ndarray, np.ndarray]:
        """:meth:`leave_one_out_topk` of the ranked queries ``X`` leaving out each
        document's group ``group_ids`` (numbered, one per row): the kernel skips the
        documents of the query's group, at the width of an ordinary prediction, and the
        labels without votes follow by the frequencies the group's documents leave."""
        width, n_frequent = self._search_plan(params.n_neighbors, params.max_posting)
        doc_group = np.ascontiguousarray(group_ids[self.row_ids_])
        n_groups = int(group_ids.max()) + 1
        # the weighted targets each group gave the label frequencies (one row per group)
        members = sp.csr_matrix((self._vote_weight, (doc_group, np.arange(self.n_docs_))),
                                shape=(n_groups, self.n_docs_))
        sums = sp.csr_matrix(members @ self.targets_, dtype=np.float64)
        sums.sum_duplicates()
        sums.sort_indices()
        left_out = (group_ids, sums.indptr.astype(np.int64),
                    sums.indices.astype(np.int32, copy=False), sums.data, np.ones(n_groups))

        def search_without_group(start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
            return self._neighbors(X[start:end], width, n_frequent,
                                   np.ascontiguousarray(group_ids[start:end]), doc_group)

        return self._vote_without(X.shape[0], k, params.power, left_out, width,
                                  return_neighbors, search_without_group)

    def _vote_without(self, n_queries: int, k: int, power: float, left_out: tuple,
                      width: int, return_neighbors: bool,
                      search: Callable[[int, int], tuple[np.ndarray, np.ndarray]]
                      ) -> TopK | tuple[TopK, np.ndarray, np.ndarray]:
        """The votes of the neighbours ``search(start, end)`` finds for each block of the
        ranked queries (``width`` of them, the document itself already left out), with
        their ``(rows, sims)`` if ``return_neighbors``: the common part of
        :meth:`leave_one_out_topk` and :meth:`_leave_group_out_topk`. ``left_out``: the
        row per query (-1: none) of the weights it leaves out of the label frequencies,
        and those weights (``self_doc`` and ``left_*`` of ``vote_kernel``)."""
        left_row, *left_weights = left_out
        indices = np.empty((n_queries, k), np.int32)
        scores = np.empty((n_queries, k), np.float32)
        # only when asked: n x width of each (240 MB for 600,000 documents x 50)
        shape = (n_queries, width) if return_neighbors else (0, width)
        rows = np.full(shape, -1, np.int32)
        sims = np.zeros(shape, np.float32)

        def work(start: int, end: int) -> int:
            docs, block_sims = search(start, end)
            vote_kernel(docs, block_sims, power, *self._target_arrays, self._vote_weight,
                        self.label_order_, indices[start:end], scores[start:end],
                        self._label_prior, left_row[start:end], *left_weights)
            if return_neighbors:
                found = docs >= 0
                rows[start:end][found] = self.row_ids_[docs[found]]
                sims[start:end] = block_sims
            return end - start

        self._run_blocks(n_queries, work)
        topk = TopK._trusted(indices, scores, self.n_labels_)
        return (topk, rows, sims) if return_neighbors else topk
