"""One-vs-rest linear classifier on sparse features (the baseline family).

One binary L2-regularised linear model per label, trained by the compiled dual
coordinate descent solver of :mod:`tagsmith.models._solver` (LIBLINEAR's algorithm)
on blocks of labels in parallel threads, weights pruned and kept as one sparse
features x labels matrix. Every label sees every document, so this suits up to a
few thousand labels; the label tree covers extreme label spaces.

Soft targets ``y`` in (0, 1) are trained exactly: a document with target ``y`` and
weight ``w`` contributes ``w*y`` of a positive and ``w*(1-y)`` of a negative example,
which for the logistic loss is the cross-entropy with a soft label.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_choice, check_int, check_number
from tagsmith._plural import plural_s
from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.models.base import (
    COLUMN_TOPK,
    NESTED_TOPK,
    SAMPLE_WEIGHT,
    SCORE_BATCHES,
    SOFT_TARGETS,
    BaseModel,
    check_features,
    check_sample_weight,
    check_targets,
    check_weighted_targets,
    warn_if_all_pruned,
)
from tagsmith.progress import progress_bar
from tagsmith.store.bundle import check_values, sparse_from_state
from tagsmith.topk import TopK

logger = logging.getLogger("tagsmith")

LOSSES = ("logistic", "squared_hinge")
# most float32-sized entries of one task's solver state (weights and dual variables)
BLOCK_WEIGHTS_LIMIT = 16_000_000
# below this many float32 entries (256 MB) the weights are densified for prediction
DENSE_WEIGHTS_LIMIT = 64_000_000
# first predictions arriving together each built their own dense copy (up to 256 MB
# apiece): one builds, the rest wait. Module-wide, so models stay deep-copyable.
_DENSE_COEF_LOCK = threading.Lock()


def sigmoid(values: np.ndarray) -> np.ndarray:
    """Numerically safe logistic function, float32 in and out."""
    values = np.clip(values, -60.0, 60.0)
    return (1.0 / (1.0 + np.exp(-values))).astype(np.float32)


class LinearOVR(BaseModel):
    """One-vs-rest linear classifier; scores are ``sigmoid(x @ w_l + b_l)`` in [0, 1].

    The default squared hinge loss (a linear SVM, LIBLINEAR's default C=1) ranks best
    on TF-IDF features; its scores are monotone in the margin but not probabilities
    (calibration maps them to probabilities). ``loss="logistic"`` gives scores that
    approximate probabilities directly.

    Parameters (keyword-only): ``loss`` ("logistic" or "squared_hinge"), ``C``
    (inverse regularisation strength), ``tol`` (the dual solver's stopping gap; below
    1e-3 the squared hinge solver keeps every example active: slower, but it
    converges), ``max_iter``, ``prune_threshold``
    (weights with smaller magnitude are dropped), ``n_jobs`` (threads; ``None`` =
    all cores), ``random_state``, ``show_progress``.

    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    >>> Y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    >>> model = LinearOVR(C=10.0).fit(X, Y)
    >>> model.predict_topk(np.array([[0.9, 0.0]]), k=1).indices.tolist()
    [[0]]
    """

    name = "linear"
    capabilities = frozenset({SAMPLE_WEIGHT, SOFT_TARGETS, NESTED_TOPK, COLUMN_TOPK,
                              SCORE_BATCHES})

    def __init__(self, *, loss: str = "squared_hinge", C: float = 1.0, tol: float = 0.1,
                 max_iter: int = 100, prune_threshold: float = 1e-4, n_jobs: int | None = None,
                 random_state: int = 0, show_progress: bool = False):
        self.loss = loss
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.prune_threshold = prune_threshold
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.show_progress = show_progress

    # -- validation --------------------------------------------------------------------
    def _validate_params(self) -> None:
        """Refuse bad values by name; numpy numbers pass and are stored back as plain
        ones (``get_params()`` goes into the bundle's JSON, which refuses numpy values)."""
        loss = check_choice("loss", self.loss, LOSSES)
        C = check_number("C", self.C, 0, strict=True, numpy=True)
        tol = check_number("tol", self.tol, 0, strict=True, numpy=True)
        max_iter = check_int("max_iter", self.max_iter, 1, numpy=True)
        prune_threshold = check_number("prune_threshold", self.prune_threshold, 0, numpy=True)
        random_state = check_int("random_state", self.random_state, 0, numpy=True)
        self._check_n_jobs()
        # every field checked: only now store them back
        self.loss, self.C, self.tol, self.max_iter = loss, C, tol, max_iter
        self.prune_threshold, self.random_state = prune_threshold, random_state

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: FeatureMatrix, Y: LabelMatrix, sample_weight: npt.ArrayLike | None = None
            ) -> LinearOVR:
        """Fit on features ``X`` (n_docs x n_features) and targets ``Y`` (n_docs x n_labels)."""
        from tagsmith.models._solver import (
            LOSS_CODES,
            NO_POSITIVE_MARGIN,
            kernel_count,
            kernel_seed,
            train_block,
        )

        self._validate_params()
        X = check_features(X)
        Y = check_targets(Y, X.shape[0], soft_ok=True)
        weights = check_sample_weight(sample_weight, X.shape[0])
        check_weighted_targets(Y, weights)
        n_docs, n_labels = Y.shape
        # rows of weight 0 are left out, exactly as if they were not there
        rows = np.arange(n_docs, dtype=np.int64) if weights is None else \
            np.flatnonzero(weights > 0).astype(np.int64)
        row_weight = np.ones(n_docs) if weights is None else weights[rows]
        Y_rows = Y if weights is None else Y[rows]
        # A label with no positive document has nothing to solve: the solver gives it no
        # weights and the bias -NO_POSITIVE_MARGIN, so it is set so here and only the
        # labels with one are handed to the solver, renumbered 0, 1, ... (a label's
        # weights depend on its own targets alone, never on the labels beside it). The
        # solver was handed all of them: distilling 1,001 documents over YSO's 27,754
        # labels, 26,549 of them with no positive, spent most of its minutes on those
        positive = np.bincount(Y_rows.indices[Y_rows.data > 0], minlength=n_labels) > 0
        trained = np.flatnonzero(positive)
        n_trained = len(trained)
        n_empty = n_labels - n_trained
        renumber = np.full(n_labels, -1, np.int64)
        renumber[trained] = np.arange(n_trained)
        kept = positive[Y_rows.indices]  # entries of a label with no positive: dropped
        row_of = np.repeat(np.arange(Y_rows.shape[0]), np.diff(Y_rows.indptr))
        counts = np.bincount(row_of[kept], minlength=Y_rows.shape[0])
        indptr = X.indptr.astype(np.int64)
        label_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        label_ids = renumber[Y_rows.indices[kept]].astype(np.int32)
        targets = Y_rows.data[kept].astype(np.float64)
        # labels per task: enough tasks to share out, and solver state of bounded size.
        # Per label a task holds its weights over the used features (float32) and, per
        # row, two float64 dual variables and an active flag (17 bytes, about four
        # float32 entries): with many documents the latter dominate (a million rows
        # and 64 labels held 1.1 GB per thread)
        used = max(1, int(np.count_nonzero(np.bincount(X.indices, minlength=X.shape[1]))))
        per_label = used + 4 * len(rows)
        width = max(1, min(64, BLOCK_WEIGHTS_LIMIT // per_label,
                           -(-n_trained // self._n_threads())))
        tasks = [(lo, min(n_trained, lo + width)) for lo in range(0, n_trained, width)]
        maps = threading.local()

        def work(task: tuple[int, int]):
            local = getattr(maps, "buffer", None)
            if local is None:
                local = maps.buffer = np.full(X.shape[1], -1, np.int32)
            lo, hi = task
            return lo, train_block(X.data, X.indices, indptr, rows, label_ptr, label_ids,
                                   targets, row_weight, n_trained, lo, hi, float(self.C), 1.0,
                                   LOSS_CODES[self.loss], float(self.tol),
                                   kernel_count(self.max_iter), float(self.prune_threshold),
                                   kernel_seed(int(self.random_state) * 7_919), local)

        parts = []
        pool = ThreadPoolExecutor(max_workers=self._n_threads())
        try:
            # a label with no positive document counts as trained, as one never to
            # predict: "9/9 labels" beside the warning that 1 of 9 has none read as a
            # contradiction. They are counted as the last ones done, in no time
            with progress_bar(total=n_labels, desc="training labels", unit="label",
                              enabled=self.show_progress) as bar:
                if n_empty:
                    bar.set_postfix_str(f"{n_empty:,} of them with no positive "
                                        "document, never predicted", refresh=False)
                for _, out in pool.map(work, tasks):
                    parts.append(out)
                    bar.update(len(out[3]))
                if n_empty:
                    bar.update(n_empty)
        except BaseException:
            # Ctrl-C or a failed task: drop the queued ones instead of finishing them
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        child = np.concatenate([out[0] for out in parts]) if parts else np.zeros(0, np.int32)
        feat = np.concatenate([out[1] for out in parts]) if parts else np.zeros(0, np.int32)
        val = np.concatenate([out[2] for out in parts]) if parts else np.zeros(0, np.float32)
        # the model's attributes are set together at the end: a fit stopped before (Ctrl-C
        # in the warnings) left the new weights under the old n_labels_ and dense cache
        coef = sp.csc_matrix((val, (feat, trained[child].astype(np.int32))),
                             shape=(X.shape[1], n_labels), dtype=np.float32)
        coef.sort_indices()
        intercept = np.full(n_labels, -NO_POSITIVE_MARGIN, np.float32)
        if parts:
            intercept[trained] = np.concatenate([out[3] for out in parts])
        n_unconverged = sum(int(out[4]) for out in parts)
        if n_unconverged:  # once per fit, not once per block of labels
            logger.warning("linear: the solver stopped at max_iter=%d before reaching "
                           "tol=%g for %s of %s label%s; raise max_iter (or tol) for "
                           "a converged model", self.max_iter, self.tol,
                           f"{n_unconverged:,}", f"{n_labels:,}", plural_s(n_labels))
        warn_if_all_pruned("linear", float(self.prune_threshold), coef.nnz, X)
        self.coef_, self.intercept_, self._dense_coef = coef, intercept, None
        self.n_features_ = X.shape[1]
        self.n_labels_ = n_labels
        return self

    # -- prediction ----------------------------------------------------------------------------
    def decision_function(self, X: FeatureMatrix) -> np.ndarray:
        """Raw margins ``X @ W + b`` as a dense float32 array (n_docs x n_labels)."""
        self._check_fitted()
        X = check_features(X, n_features=self.n_features_)
        margins = _margins(X, self._prediction_weights())
        return (margins + self.intercept_).astype(np.float32)

    def predict_scores(self, X: FeatureMatrix) -> np.ndarray:
        """Scores in [0, 1], dense (n_docs x n_labels): use only for small label spaces."""
        return sigmoid(self.decision_function(X))

    def predict_topk(self, X: FeatureMatrix, k: int) -> TopK:
        """The ``k`` best labels per document (scores in [0, 1]), in batches of rows."""
        self._check_fitted()
        X = check_features(X, n_features=self.n_features_)
        return self._topk_of(X, k, self._prediction_weights(), self.intercept_)

    def predict_topk_among(self, X: FeatureMatrix, k: int, labels: npt.ArrayLike, *,
                           columns: dict | None = None) -> TopK:
        """The ``k`` best of ``labels`` (ascending label ids) per document, scored as
        :meth:`predict_topk` scores them (each label's score is its own column's, ties
        to the lower id as there) from their weights alone: a restricted suggest's short
        allow list asked for every label's score, in widening rounds, to rank a few.
        Rows with fewer than ``k`` such labels are padded.

        The labels' columns are copied for this call only: kept on the model, they held
        up to half its weights again for as long as the model lived. A caller scoring
        many chunks with the same labels passes one dict ``columns`` to every call of
        its own call (a restricted suggest's chunks of 8,192 texts, and its recall
        count's scoring): the copy is made once into it and read from it thereafter."""
        self._check_fitted()
        X = check_features(X, n_features=self.n_features_)
        k = check_int("k", k, 1, numpy=True)
        labels = np.asarray(labels, dtype=np.int64)
        if (labels.ndim != 1 or not labels.size or labels[0] < 0
                or labels[-1] >= self.n_labels_ or (np.diff(labels) <= 0).any()):
            raise InvalidParameterError("labels", "ascending label ids, distinct, in "
                                        f"[0, {self.n_labels_})", labels)
        key = labels.tobytes()
        kept = None if columns is None else columns.get(key)
        if kept is None:
            kept = (self._prediction_weights()[:, labels], self.intercept_[labels])
            if columns is not None:
                columns[key] = kept
        part = self._topk_of(X, k, *kept)
        indices = np.full((X.shape[0], k), -1, dtype=np.int32)
        scores = np.full((X.shape[0], k), -np.inf, dtype=np.float32)
        # the columns' ids back to label ids (ascending: ties still go to the lower id)
        indices[:, :part.k] = np.where(part.valid, labels[np.maximum(part.indices, 0)], -1)
        scores[:, :part.k] = part.scores
        return TopK._trusted(indices, scores, self.n_labels_)

    def score_batches(self, X: FeatureMatrix) -> Iterator[tuple[int, np.ndarray]]:
        """Every label's score (in [0, 1]) of each row of ``X``, as ``(start, scores)``:
        dense float32 blocks of rows from ``start`` on, of at most 2**24 scores each.
        The scores :meth:`predict_topk` ranks, computed as it computes them."""
        self._check_fitted()
        X = check_features(X, n_features=self.n_features_)
        yield from self._batches_of(X, self._prediction_weights(), self.intercept_)

    @staticmethod
    def _batches_of(X: sp.csr_matrix, weights: Any, intercept: np.ndarray
                    ) -> Iterator[tuple[int, np.ndarray]]:
        """``sigmoid(X @ weights + intercept)`` in batches of rows of at most 2**24
        scores, each as ``(first row, scores)``."""
        batch = max(1, 2 ** 24 // max(1, weights.shape[1]))
        for start in range(0, X.shape[0], batch):
            margins = _margins(X[start:start + batch], weights)
            yield start, sigmoid((margins + intercept).astype(np.float32))

    @classmethod
    def _topk_of(cls, X: sp.csr_matrix, k: int, weights: Any, intercept: np.ndarray) -> TopK:
        """The ``k`` best columns of ``sigmoid(X @ weights + intercept)`` per row (a TopK
        over ``weights``' columns), in batches of rows of at most 2**24 scores."""
        parts = [TopK.from_scores(scores, k)
                 for _, scores in cls._batches_of(X, weights, intercept)]
        if not parts:
            return TopK.from_scores(np.zeros((0, weights.shape[1]), np.float32), k)
        return TopK.concatenate(parts)

    def _prediction_weights(self):
        if self.n_features_ * self.n_labels_ > DENSE_WEIGHTS_LIMIT:
            return self.coef_
        dense = getattr(self, "_dense_coef", None)
        if dense is None:
            with _DENSE_COEF_LOCK:
                dense = getattr(self, "_dense_coef", None)
                if dense is None:
                    dense = self._dense_coef = self.coef_.toarray()
        return dense

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {"params": self.get_params(), "n_features": int(self.n_features_),
                "n_labels": int(self.n_labels_)}
        arrays = {"coef_data": self.coef_.data, "coef_indices": self.coef_.indices,
                  "coef_indptr": self.coef_.indptr, "intercept": self.intercept_}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> LinearOVR:
        from tagsmith.models.ensemble import _old_seed

        model = cls(**cls.params_from_json(meta["params"]))
        # refitting (audit --bundle) reads them: a bad one is a damaged state now, not
        # an error deep inside training about a parameter nobody passed. A negative
        # seed, which bundles written before seeds were checked may hold, is kept as
        # the ensemble keeps it: prediction never uses it, fitting refuses it by name
        seed = model.random_state
        if _old_seed(seed):
            model.random_state = 0
        model._validate_params()
        if _old_seed(seed):
            model.random_state = seed
        shape = (int(meta["n_features"]), int(meta["n_labels"]))
        model.coef_ = sparse_from_state("coef", "csc", arrays["coef_data"],
                                        arrays["coef_indices"], arrays["coef_indptr"], shape)
        # checked as numbers: astype parsed a string array and read a record array as 0
        model.intercept_ = check_values("intercept", arrays["intercept"], (shape[1],),
                                        finite=False).astype(np.float32)
        # fit never makes one: a NaN weight loaded fine and every prediction then failed
        # with an error about a 'scores' parameter nobody passed
        for name, values in (("coef", model.coef_.data), ("intercept", model.intercept_)):
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{name} holds NaN or infinite values")
        model.n_features_, model.n_labels_ = shape
        model._dense_coef = None
        return model


def _margins(X: sp.csr_matrix, weights: Any) -> np.ndarray:
    """``X @ weights`` as a dense array. Sparse (CSC) weights are read as stored by a
    compiled kernel: scipy converted all of them to CSR on every product (a second and
    the weights' size again per batch on a 7,019-label bundle). The kernel sums each
    margin in scipy's order (sorted indices on both sides), so the scores are the
    same to the bit; unsorted indices, or other types, go to scipy as before."""
    if (sp.issparse(weights) and weights.format == "csc" and X.dtype == np.float32
            and weights.dtype == np.float32 and X.has_sorted_indices
            and weights.has_sorted_indices):
        from tagsmith.models._linear_kernels import csc_margins

        by_feature = X.tocsc()
        out = np.empty((X.shape[0], weights.shape[1]), dtype=np.float32)
        csc_margins(by_feature.indptr, by_feature.indices, by_feature.data,
                    weights.indptr, weights.indices, weights.data, out)
        return out
    margins = X @ weights
    return margins.toarray() if sp.issparse(margins) else np.asarray(margins)


def _columns_to_csc(columns, n_features: int) -> sp.csc_matrix:
    lengths = np.array([len(indices) for indices, _ in columns], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([c[0] for c in columns]) if columns else np.zeros(0, np.int32)
    data = np.concatenate([c[1] for c in columns]) if columns else np.zeros(0, np.float32)
    return sp.csc_matrix((data.astype(np.float32), indices.astype(np.int32), indptr),
                         shape=(n_features, len(columns)))
