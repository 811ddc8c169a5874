"""Seeded label noise with a known truth, to measure how well an audit finds errors.

:func:`inject_label_noise` removes a fraction of the given labels (they become
*missing*) and adds random labels a document did not have (they are *wrong*), and
returns which (document, label) pairs it changed, so the candidates of an audit can be
scored against the truth (:func:`candidate_hits`, :func:`average_precision`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tagsmith._params import check_choice, check_fraction, check_int
from tagsmith._typing import LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics.sets import check_label_values


@dataclass
class InjectedNoise:
    """A noisy copy of a label matrix and the pairs that were changed.

    ``Y`` is the noisy ``n_docs x n_labels`` matrix; ``removed`` and ``added`` are
    boolean CSR matrices of the same shape marking the labels taken away (now
    missing) and the labels put in (now wrong).
    """

    Y: sp.csr_matrix
    removed: sp.csr_matrix
    added: sp.csr_matrix

    @property
    def n_removed(self) -> int:
        return int(self.removed.nnz)

    @property
    def n_added(self) -> int:
        return int(self.added.nnz)


def _check_rate(name: str, value) -> float:
    return check_fraction(name, value)


def _pairs_matrix(rows: np.ndarray, cols: np.ndarray, shape) -> sp.csr_matrix:
    data = np.ones(len(rows), dtype=bool)
    matrix = sp.csr_matrix((data, (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = True
    return matrix


def inject_label_noise(Y: LabelMatrix, *, missing_rate: float = 0.10, wrong_rate: float = 0.05,
                       seed: int = 0, wrong_labels: str = "prior") -> InjectedNoise:
    """Remove ``missing_rate`` of the given labels and add ``wrong_rate`` wrong ones.

    Both rates are fractions of the number of given labels (nonzeros of ``Y``,
    ``n_docs x n_labels``). Removed labels are drawn uniformly among the given ones.
    Each added label goes to a uniformly drawn document, with a label that document
    does not have, drawn in proportion to the labels' frequencies
    (``wrong_labels="prior"``: plausible labels, so a wrong label is not given away by
    being rare) or uniformly (``"uniform"``). Seeded (``seed``: an integer >= 0): same
    input, same noise. ``Y``'s values must be labels in [0, 1] (nonzero = given).

    >>> Y = sp.csr_matrix(np.eye(40, 4, dtype=np.float32) + np.eye(40, 4, k=-4))
    >>> noise = inject_label_noise(Y, missing_rate=0.25, wrong_rate=0.25, seed=1)
    >>> noise.n_removed, noise.n_added, noise.Y.nnz == Y.nnz - 2 + 2
    (2, 2, True)
    >>> bool((noise.removed.multiply(noise.Y)).nnz == 0 and noise.added.multiply(Y).nnz == 0)
    True
    """
    missing_rate = _check_rate("missing_rate", missing_rate)
    wrong_rate = _check_rate("wrong_rate", wrong_rate)
    wrong_labels = check_choice("wrong_labels", wrong_labels, ("prior", "uniform"))
    seed = check_int("seed", seed, 0, numpy=True)  # -1 was numpy's "non-negative integer"
    # checked only (the noise is drawn on ``Y`` as before): a NaN went through as a
    # label, strings and 3-D arrays failed in numpy / scipy
    check_label_values(Y, "Y", soft_ok=True)
    Y = sp.csr_matrix(Y, dtype=np.float32)
    if not Y.has_canonical_format or not Y.data.all():
        # a float32 CSR shares the caller's arrays, which the next two calls would change
        # in place (or fail to, when they are read-only): copied only when they would
        Y = Y.copy()
    Y.eliminate_zeros()
    Y.sum_duplicates()
    n_docs, n_labels = Y.shape
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_docs), np.diff(Y.indptr))
    n_remove = int(round(missing_rate * Y.nnz))
    picked = rng.choice(Y.nnz, size=n_remove, replace=False) if n_remove else np.zeros(0, int)
    removed = _pairs_matrix(rows[picked], Y.indices[picked], Y.shape)
    n_add = int(round(wrong_rate * Y.nnz))
    added = _draw_wrong(Y, n_add, rng, wrong_labels)
    noisy = (Y.astype(bool).astype(np.int8) - removed.astype(np.int8)
             + added.astype(np.int8)).tocsr()
    noisy.eliminate_zeros()
    noisy = sp.csr_matrix(noisy, dtype=np.float32)
    noisy.sort_indices()
    return InjectedNoise(noisy, removed, added)


def _draw_wrong(Y: sp.csr_matrix, n_add: int, rng: np.random.Generator,
                mode: str) -> sp.csr_matrix:
    """``n_add`` distinct (document, label) pairs that are not labels of ``Y``."""
    n_docs, n_labels = Y.shape
    if n_add == 0 or n_docs == 0 or n_labels == 0:
        return sp.csr_matrix(Y.shape, dtype=bool)
    counts = np.bincount(Y.indices, minlength=n_labels).astype(np.float64)
    prior = counts / counts.sum() if mode == "prior" and counts.sum() > 0 else None
    given = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(Y.indptr)) * n_labels \
        + Y.indices
    chosen = np.zeros(0, np.int64)
    for _ in range(100):  # redraw the few collisions with given labels or each other
        need = n_add - len(chosen)
        if need <= 0:
            break
        docs = rng.integers(0, n_docs, size=2 * need)
        labels = rng.choice(n_labels, size=2 * need, p=prior)
        keys = docs.astype(np.int64) * n_labels + labels
        keys = keys[~np.isin(keys, given)]
        keys = np.setdiff1d(np.unique(keys), chosen)
        chosen = np.concatenate([chosen, rng.permutation(keys)[:need]])
    if len(chosen) < n_add:
        raise InvalidParameterError("wrong_rate", "a rate leaving room for wrong labels",
                                    f"only {len(chosen)} of {n_add} could be placed")
    return _pairs_matrix(chosen // n_labels, chosen % n_labels, Y.shape)


def candidate_hits(rows: np.ndarray, labels: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Boolean per candidate pair ``(rows[j], labels[j])``: is it a nonzero of ``truth``?
    ``truth`` is left as it is.

    >>> truth = sp.csr_matrix(np.array([[0, 1], [1, 0]], dtype=bool))
    >>> candidate_hits(np.array([0, 1, 1]), np.array([1, 1, 0]), truth).tolist()
    [True, False, True]
    """
    truth = sp.csr_matrix(truth)
    if not truth.has_canonical_format or truth.nnz and not truth.data.all():
        # on a copy: csr_matrix() shares the caller's arrays, which sum_duplicates()
        # rewrote in place (the caller's matrix summed and compacted under it)
        truth = truth.copy()
        truth.sum_duplicates()  # sorted keys for the search below
        truth.eliminate_zeros()  # an explicit zero is no label
    n_labels = truth.shape[1]
    keys = np.repeat(np.arange(truth.shape[0], dtype=np.int64), np.diff(truth.indptr)) \
        * n_labels + truth.indices
    query = np.asarray(rows, dtype=np.int64) * n_labels + np.asarray(labels, dtype=np.int64)
    if keys.size == 0:
        return np.zeros(len(query), dtype=bool)
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return keys[pos] == query


def average_precision(scores: np.ndarray, hits: np.ndarray, n_positives: int) -> float:
    """Area under the precision-recall curve of a ranking (average precision).

    ``scores`` rank the candidates (higher first, ties broken by position), ``hits``
    says which are true errors, ``n_positives`` is the number of true errors in all,
    ranked or not: errors never ranked count as never recalled.

    >>> round(average_precision(np.array([0.9, 0.8, 0.1]), np.array([True, False, True]), 3), 4)
    0.5556
    """
    if n_positives <= 0:
        return 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ranked = np.asarray(hits, dtype=bool)[order]
    true_so_far = np.cumsum(ranked)
    precision = true_so_far / np.arange(1, len(ranked) + 1)
    return float(precision[ranked].sum() / n_positives)
