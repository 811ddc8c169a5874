"""Top-k scores as probabilities of a label being given, per label or frequency band.

Scores of different models (vote shares, label-tree path scores, squashed margins)
and of different labels are not on one scale. An audit compares pairs across labels,
so each score becomes ``P(given | score)``: isotonic regression of "the label is
given" on the score, fitted on every top-k entry, separately for each label with at
least ``min_positives`` given documents and pooled per frequency band for the rest
(:func:`tagsmith.audit._isotonic.grouped_isotonic`, one compiled pass). A pair outside
a document's top-k gets its group's rate of given labels among such pairs. By default
the audit cross-fits both over folds of documents
(:func:`tagsmith.audit._isotonic.grouped_isotonic_crossfit`): a document's values come
from the other folds, so none depends on its own labels.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tagsmith.audit._isotonic import grouped_isotonic, grouped_isotonic_crossfit
from tagsmith.audit._kernels import csr_contains_kernel, topk_position_kernel
from tagsmith.progress import progress_bar
from tagsmith.topk import TopK

#: documents whose top-k rows are counted at a time
_ROW_BLOCK = 65_536


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
                     band: np.ndarray, min_positives: int, folds: np.ndarray | None = None,
                     *, show_progress: bool = False
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated ``P(given | score)``: ``(n x k array, per given pair, outside rates)``.

    The ``n x k`` array is NaN at padding; a given pair outside the top-k gets its
    label group's rate of given labels among pairs outside it, which the third array
    holds per fold and label (``outside[folds[doc], label]``).

    ``folds`` (one fold id per document, ``0 .. n_folds - 1``): cross-fitted, each
    document's values come from the isotonic fits and outside rates of the other
    folds' documents, so that no value depends on the pair's own given status. An
    in-sample fit gives a small block of pairs at the top its own labels' mean, which
    favours given pairs over missing ones exactly where the noise-rate bounds are
    read. Without ``folds``, one in-sample fit (a single fold).

    ``show_progress``: the cross-fitted fits count the top-k pairs given their values
    (``issues (calibration)``; the start of the audit's issues step, 11 s at 85k
    yso-finna-en documents, said nothing); one in-sample fit has no count.
    """
    n, n_labels = Y.shape
    flat = topk.indices.ravel()
    group_of = calibration_groups(n_given, band, min_positives)
    n_groups = n_labels + int(np.max(band, initial=0)) + 1
    if folds is None:
        folds = np.zeros(n, np.int8)
    n_folds = int(folds.max(initial=0)) + 1
    # the fit reads the top-k's own arrays (masked copies of the scores and targets,
    # and a separate output, were the audit's peak memory at 10^4+ labels)
    calibrated = np.full(topk.indices.shape, np.nan, dtype=np.float32)
    if n_folds == 1:
        # each top-k entry's group, -1 at padding, a block of rows at a time (np.where's
        # n x k temporary of label ids was 8 bytes a top-k entry)
        groups = np.empty(len(flat), np.int32 if group_of.max(initial=0) < 2**31 - 1
                          else np.int64)
        for start in range(0, len(flat), _ROW_BLOCK * topk.indices.shape[1] or 1):
            part = flat[start:start + _ROW_BLOCK * topk.indices.shape[1]]
            groups[start:start + len(part)] = np.where(part >= 0, group_of[part], -1)
        grouped_isotonic(groups, topk.scores.ravel(), index.is_given.ravel(), smoothing=1.0,
                         out=calibrated.reshape(-1))
        del groups
    else:  # the fold of entry i is folds[i // k]: no n x k array of folds
        # the entries' groups read off their label ids (group_of[label], padding -1):
        # an n x k array of groups (4 bytes a top-k entry, beside ``calibrated``
        # through every fit, and an 8-byte temporary to build it) was the yso-finna-en
        # audit's peak memory
        with progress_bar(total=int(np.count_nonzero(flat >= 0)), desc="issues (calibration)",
                          unit="pair", enabled=show_progress) as bar:
            grouped_isotonic_crossfit(flat, topk.scores.ravel(), index.is_given.ravel(),
                                      folds, n_folds, row_width=topk.indices.shape[1],
                                      smoothing=1.0, out=calibrated.reshape(-1),
                                      counted=bar.update, label_groups=group_of)
    # the rate of given labels among each group's pairs outside the top-k, per fold from
    # the other folds' documents: counts per fold (in row blocks, so nothing of the size
    # of the top-k is copied), the other folds' being the total less the fold's own
    doc_of_given = np.repeat(np.arange(n), np.diff(Y.indptr))
    docs_per_fold = np.bincount(folds, minlength=n_folds)
    given_by_fold = np.zeros((n_folds, n_labels))
    in_topk_by_fold = np.zeros((n_folds, n_labels))
    given_in_topk_by_fold = np.zeros((n_folds, n_labels))
    for fold in range(n_folds):
        given_by_fold[fold] = np.bincount(Y.indices[folds[doc_of_given] == fold],
                                          minlength=n_labels)
    for start in range(0, n, _ROW_BLOCK):
        rows = slice(start, start + _ROW_BLOCK)
        indices, valid_rows, given_rows = topk.indices[rows], topk.valid[rows], \
            index.is_given[rows]
        for fold in range(n_folds):
            mine = folds[rows] == fold
            in_topk_by_fold[fold] += np.bincount(indices[mine][valid_rows[mine]],
                                                 minlength=n_labels)
            given_in_topk_by_fold[fold] += np.bincount(indices[mine][given_rows[mine]],
                                                       minlength=n_labels)
    outside = np.empty((n_folds, n_labels))
    for fold in range(n_folds):
        if n_folds == 1:
            other = slice(None)
            n_docs = n
        else:
            other = np.arange(n_folds) != fold
            n_docs = n - int(docs_per_fold[fold])
        counts = given_by_fold[other].sum(axis=0)
        in_topk = in_topk_by_fold[other].sum(axis=0)
        given_in_topk = given_in_topk_by_fold[other].sum(axis=0)
        out_given = np.bincount(group_of, weights=counts - given_in_topk, minlength=n_groups)
        out_pairs = np.bincount(group_of, weights=n_docs - in_topk, minlength=n_groups)
        outside[fold] = ((out_given + 0.5) / (out_pairs + 1.0))[group_of]
    # a group with no top-k entry in the other folds has no fit: it gets its outside rate
    for start in range(0, n, _ROW_BLOCK):
        rows = slice(start, start + _ROW_BLOCK)
        block = calibrated[rows]
        unfitted = np.isnan(block) & topk.valid[rows]
        if unfitted.any():
            r, c = np.nonzero(unfitted)
            block[r, c] = outside[folds[start + r], topk.indices[start + r, c]]
    given_cal = outside[folds[doc_of_given], Y.indices].astype(np.float64)
    inside = index.given_position >= 0
    given_cal[inside] = calibrated.ravel()[index.given_position[inside]]
    return calibrated, given_cal, outside
