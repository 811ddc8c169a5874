"""Where each true label sits in a document's top-k, without densifying anything.

Calibration, conformal sets and label-shift estimation all need, for held-out
documents, the (label, score, is-true) triples of the top-k entries and, for every
true label, its score or the fact that it fell outside the top-k. Both come from
one sort of ``row * n_labels + label`` keys, so the cost is ``O(n k log(n k))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tagsmith._typing import LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics import as_label_matrix
from tagsmith.metrics.sets import check_label_values
from tagsmith.topk import TopK, block_rows, check_topk


@dataclass(frozen=True)
class Entries:
    """The valid top-k entries of a batch, flattened row by row.

    ``row``, ``label`` (int64), ``score`` (float64) and ``hit`` (bool, the label is
    true for the row) have one element per entry; ``y`` is the canonical boolean label
    matrix; ``true_col`` (``(y.nnz,)``) gives, for every true label in ``y``'s CSR
    order, its column in the top-k or ``-1`` when it is outside.
    """

    row: np.ndarray
    label: np.ndarray
    score: np.ndarray
    hit: np.ndarray
    y: sp.csr_matrix
    true_col: np.ndarray
    n_docs: int
    n_labels: int

    @property
    def true_row(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_docs), np.diff(self.y.indptr))

    def true_scores(self, topk_scores: np.ndarray, outside: np.ndarray | float) -> np.ndarray:
        """Score of every true label: its top-k score, else ``outside`` (per label or one)."""
        rows, cols = self.true_row, self.true_col
        inside = cols >= 0
        out = np.empty(cols.size, dtype=np.float64)
        out[inside] = topk_scores[rows[inside], cols[inside]]
        fallback = np.asarray(outside, dtype=np.float64)
        out[~inside] = fallback if fallback.ndim == 0 else fallback[self.y.indices[~inside]]
        return out


def check_labels(y_true: LabelMatrix, topk: TopK, name: str = "y_true") -> sp.csr_matrix:
    """Canonical boolean CSR of ``y_true``, which must be ``len(topk) x topk.n_labels``."""
    check_topk(topk)  # else an AttributeError on .n_labels
    # a NaN or a 2 was a true label, a -1 too
    # the checked copy is taken over, not copied a second time
    y = as_label_matrix(check_label_values(y_true, name), name, copy=False)
    if y.shape != (len(topk), topk.n_labels):
        raise InvalidParameterError(name, f"a label matrix of shape {(len(topk), topk.n_labels)}",
                                    f"shape {y.shape}")
    return y


def check_fit_documents(n_docs: int, what: str) -> None:
    """Refuse fitting ``what`` on no held-out document, naming ``y_true`` (it was fitted
    on nothing: a calibrator of defaults, a recall control whose sets were every
    label)."""
    if n_docs == 0:
        raise InvalidParameterError("y_true", f"the labels of at least one held-out document "
                                    f"to fit {what} on", "0 documents")


def collect_entries(y_true: LabelMatrix, topk: TopK) -> Entries:
    """:class:`Entries` of ``topk`` against the labels ``y_true`` (n_docs x n_labels).

    >>> topk = TopK.from_scores(np.array([[0.9, 0.2, 0.1]]), k=2)
    >>> e = collect_entries(sp.csr_matrix(np.array([[0, 1, 1]])), topk)
    >>> e.label.tolist(), e.hit.tolist(), e.true_col.tolist()
    ([0, 1], [False, True], [1, -1])
    """
    y = check_labels(y_true, topk)
    n_docs, n_labels = y.shape
    valid = topk.valid
    row = np.repeat(np.arange(n_docs, dtype=np.int64), valid.sum(axis=1))
    label = topk.indices[valid].astype(np.int64)
    score = topk.scores[valid].astype(np.float64)
    # the true labels' keys ascend (canonical CSR): each entry's key is looked up among
    # them, a block of rows at a time (sorting every entry's key, as this did, took five
    # int64 arrays of them at once: 1.1 GB for a million documents x 28 labels); a row
    # lists a label once and a true label is stored once, so a match is one both ways
    true_keys = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(y.indptr)) * n_labels \
        + y.indices.astype(np.int64)
    true_col = np.full(true_keys.size, -1, dtype=np.int64)
    hit = np.zeros(label.size, dtype=bool)
    if label.size and true_keys.size:
        step = block_rows(topk.k)
        first = 0  # the block's first entry
        for start in range(0, n_docs, step):
            block = valid[start:start + step]
            end = first + int(np.count_nonzero(block))
            keys = row[first:end] * n_labels + label[first:end]
            pos = np.minimum(np.searchsorted(true_keys, keys), true_keys.size - 1)
            found = true_keys[pos] == keys
            hit[first:end] = found
            true_col[pos[found]] = np.nonzero(block)[1][found]
            first = end
    return Entries(row, label, score, hit, y, true_col, n_docs, n_labels)
