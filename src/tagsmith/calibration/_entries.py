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
from tagsmith.topk import TopK, check_topk


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
    rows2d = np.broadcast_to(np.arange(n_docs)[:, None], topk.indices.shape)
    cols2d = np.broadcast_to(np.arange(topk.k)[None, :], topk.indices.shape)
    row = rows2d[valid].astype(np.int64)
    col = cols2d[valid].astype(np.int64)
    label = topk.indices[valid].astype(np.int64)
    score = topk.scores[valid].astype(np.float64)
    entry_keys = row * n_labels + label
    true_keys = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(y.indptr)) * n_labels \
        + y.indices.astype(np.int64)
    order = np.argsort(entry_keys, kind="stable")
    sorted_keys = entry_keys[order]
    true_col = np.full(true_keys.size, -1, dtype=np.int64)
    hit = np.zeros(entry_keys.size, dtype=bool)
    if sorted_keys.size and true_keys.size:
        pos = np.minimum(np.searchsorted(sorted_keys, true_keys), sorted_keys.size - 1)
        found = sorted_keys[pos] == true_keys
        true_col[found] = col[order[pos[found]]]
        hit[order[pos[found]]] = True
    return Entries(row, label, score, hit, y, true_col, n_docs, n_labels)
