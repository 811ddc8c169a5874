"""Top-k scores as probabilities of a label being given, per label or frequency band.

Scores of different models (vote shares, label-tree path scores, squashed margins)
and of different labels are not on one scale. An audit compares pairs across labels,
so each score becomes ``P(given | score)``: isotonic regression of "the label is
given" on the score, fitted on every top-k entry, separately for each label with at
least ``min_positives`` given documents and pooled per frequency band for the rest
(:func:`tagsmith.audit._isotonic.grouped_isotonic`, one compiled pass). A pair outside
a document's top-k gets its group's rate of given labels among such pairs.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tagsmith.audit._isotonic import grouped_isotonic
from tagsmith.audit._kernels import csr_contains_kernel, topk_position_kernel
from tagsmith.topk import TopK


class PairIndex:
    """Where (document, label) pairs sit in a TopK, and which top-k entries are given.

    ``given_position`` (per nonzero of ``Y`` in CSR order): flat position of the pair
    in ``topk.indices`` or -1; ``is_given`` (``n x k`` bool): top-k entries that are
    given labels. Lookups scan a document's ``k`` top-k ids (compiled), so nothing of
    the size of the top-k is sorted or copied.

    >>> Y = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], bool))
    >>> index = PairIndex(Y, TopK.from_scores(np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]]), 2))
    >>> index.given_position.tolist(), index.lookup(np.array([1, 1]), np.array([1, 0])).tolist()
    ([0, 1, 2], [2, -1])
    >>> index.contains(np.array([0, 0]), np.array([2, 1])).tolist()
    [True, False]
    """

    def __init__(self, Y: sp.csr_matrix, topk: TopK):
        n, k = topk.indices.shape
        self.topk_indices = topk.indices
        self.Y = Y
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(Y.indptr))
        self.given_position = self.lookup(rows, Y.indices)
        is_given = np.zeros(n * k, dtype=bool)
        is_given[self.given_position[self.given_position >= 0]] = True
        self.is_given = is_given.reshape(n, k)

    def lookup(self, rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Flat top-k position of each pair, or -1 when the pair is not in the top-k."""
        out = np.empty(len(rows), np.int64)
        topk_position_kernel(self.topk_indices, np.asarray(rows, np.int64),
                             np.asarray(labels, np.int64), out)
        return out

    def contains(self, rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Whether each pair is a given label."""
        out = np.empty(len(rows), np.bool_)
        csr_contains_kernel(self.Y.indptr.astype(np.int64), self.Y.indices.astype(np.int64),
                            np.asarray(rows, np.int64), np.asarray(labels, np.int64), out)
        return out


def calibration_groups(n_given: np.ndarray, band: np.ndarray, min_positives: int) -> np.ndarray:
    """Group id per label: its own id with ``min_positives`` given documents, else
    ``n_labels + band``.

    >>> calibration_groups(np.array([500, 3, 0]), np.array([9, 2, 0]), 100).tolist()
    [0, 5, 3]
    """
    n_labels = len(n_given)
    return np.where(np.asarray(n_given) >= min_positives, np.arange(n_labels),
                    n_labels + np.asarray(band))


def calibrate_scores(Y: sp.csr_matrix, topk: TopK, index: PairIndex, n_given: np.ndarray,
                     band: np.ndarray, min_positives: int):
    """Calibrated ``P(given | score)``: ``(n x k array, per given pair, per label outside)``.

    The ``n x k`` array is NaN at padding; a given pair outside the top-k and the
    third array hold the label group's rate of given labels among pairs outside it.
    """
    n, n_labels = Y.shape
    valid = topk.valid.ravel()
    flat = topk.indices.ravel()
    group_of = calibration_groups(n_given, band, min_positives)
    in_topk = np.bincount(flat[valid], minlength=n_labels)
    given_in_topk = np.bincount(flat[index.is_given.ravel()], minlength=n_labels)
    # each top-k entry's group, -1 at padding: the fit reads the top-k's own arrays
    # (masked copies of the scores and targets, and a separate output, were the audit's
    # peak memory at 10^4+ labels)
    groups = group_of.astype(np.int32 if group_of.max(initial=0) < 2**31 - 1
                             else np.int64)[np.where(valid, flat, 0)]
    groups[~valid] = -1
    calibrated = np.full(topk.indices.shape, np.nan, dtype=np.float32)
    grouped_isotonic(groups, topk.scores.ravel(), index.is_given.ravel(), smoothing=1.0,
                     out=calibrated.reshape(-1))
    del groups
    n_groups = n_labels + int(np.max(band, initial=0)) + 1
    out_given = np.bincount(group_of, weights=n_given - given_in_topk, minlength=n_groups)
    out_pairs = np.bincount(group_of, weights=n - in_topk, minlength=n_groups)
    outside_p = ((out_given + 0.5) / (out_pairs + 1.0))[group_of]
    given_cal = outside_p[Y.indices].astype(np.float64)
    inside = index.given_position >= 0
    given_cal[inside] = calibrated.ravel()[index.given_position[inside]]
    return calibrated, given_cal, outside_p
