"""TopK: the universal prediction type.

For ``n`` documents a TopK holds the ``k`` best labels of each, best first:
``indices`` (int32, ``n x k``) and ``scores`` (float32, ``n x k``). Rows with fewer
than ``k`` candidates are padded with index ``-1`` and score ``-inf``. Calibration,
conformal sets, audits and metrics all consume it, so nothing ever needs a dense
documents x labels array when the label space is large.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tagsmith._params import check_int
from tagsmith.exceptions import InvalidParameterError

PAD = -1


def _as_threshold_array(threshold, n_labels: int) -> np.ndarray:
    thr = np.asarray(threshold, dtype=np.float32)
    if thr.ndim == 0:
        return np.full(n_labels, float(thr), dtype=np.float32)
    if thr.shape != (n_labels,):
        raise InvalidParameterError(
            "threshold", f"a number or an array of shape ({n_labels},)", f"shape {thr.shape}"
        )
    return thr


@dataclass(frozen=True)
class TopK:
    """Sorted top-k label ids and scores for a batch of documents.

    >>> topk = TopK.from_scores(np.array([[0.1, 0.9, 0.4], [0.7, 0.2, 0.3]]), k=2)
    >>> topk.indices.tolist(), topk.scores.astype(float).round(2).tolist()
    ([[1, 2], [0, 2]], [[0.9, 0.4], [0.7, 0.3]])
    >>> topk.label_sets(0.35).toarray().astype(int).tolist()
    [[0, 1, 1], [1, 0, 0]]
    """

    indices: np.ndarray
    scores: np.ndarray
    n_labels: int

    def __post_init__(self):
        indices = np.ascontiguousarray(self.indices, dtype=np.int32)
        scores = np.ascontiguousarray(self.scores, dtype=np.float32)
        if indices.ndim != 2 or indices.shape != scores.shape:
            raise InvalidParameterError(
                "indices/scores", "two 2-D arrays of one shape",
                f"shapes {indices.shape} and {scores.shape}",
            )
        if indices.size and (indices.max() >= self.n_labels or indices.min() < PAD):
            raise InvalidParameterError(
                "indices", f"label ids in [0, {self.n_labels}) or -1 for padding",
                f"range [{indices.min()}, {indices.max()}]",
            )
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "scores", scores)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def empty(cls, n_docs: int, k: int, n_labels: int) -> TopK:
        return cls(np.full((n_docs, k), PAD, np.int32), np.full((n_docs, k), -np.inf, np.float32),
                   n_labels)

    @classmethod
    def from_scores(cls, scores, k: int) -> TopK:
        """Top-k of a dense ``n x n_labels`` score array (``k`` is capped at n_labels)."""
        scores = np.asarray(scores, dtype=np.float32)
        if scores.ndim != 2:
            raise InvalidParameterError("scores", "a 2-D array", f"{scores.ndim}-D")
        if np.isnan(scores).any():
            raise InvalidParameterError("scores", "numbers (no NaN)",
                                        f"{int(np.isnan(scores).sum())} NaN values")
        n_docs, n_labels = scores.shape
        k = _check_k(k, n_labels)
        if k == 0 or n_docs == 0:
            return cls.empty(n_docs, k, n_labels)
        if k < n_labels:
            part = _top_k_columns(scores, k)
        else:
            part = np.broadcast_to(np.arange(n_labels), (n_docs, n_labels))
        part_scores = np.take_along_axis(scores, part, axis=1)
        # stable order: higher score first, then lower label id (deterministic ties)
        order = np.lexsort((part, -part_scores), axis=1)
        indices = np.take_along_axis(part, order, axis=1)
        return cls(indices, np.take_along_axis(part_scores, order, axis=1), n_labels)

    @classmethod
    def from_csr(cls, matrix, k: int) -> TopK:
        """Top-k of each row of a sparse score matrix; missing entries are not candidates."""
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        n_docs, n_labels = matrix.shape
        k = _check_k(k, n_labels)
        out = cls.empty(n_docs, k, n_labels)
        if k == 0 or matrix.nnz == 0:
            return out
        matrix.sum_duplicates()
        row_of = np.repeat(np.arange(n_docs), np.diff(matrix.indptr))
        # sort entries by (row, -score, label id) then keep the first k of each row
        order = np.lexsort((matrix.indices, -matrix.data, row_of))
        # rows are the primary sort key, so sorted position p still lies in row_of[p]'s range
        rank = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], np.diff(matrix.indptr))
        ranked_rows = row_of[order]
        keep = rank < k
        out.indices[ranked_rows[keep], rank[keep]] = matrix.indices[order][keep]
        out.scores[ranked_rows[keep], rank[keep]] = matrix.data[order][keep]
        return out

    @classmethod
    def concatenate(cls, parts: Sequence[TopK]) -> TopK:
        if not parts:
            raise InvalidParameterError("parts", "at least one TopK", "an empty list")
        n_labels = parts[0].n_labels
        k = max(p.k for p in parts)
        padded = [p.padded_to(k) for p in parts]
        if any(p.n_labels != n_labels for p in parts):
            raise InvalidParameterError("parts", "TopKs over one label space", "different n_labels")
        return cls(np.vstack([p.indices for p in padded]), np.vstack([p.scores for p in padded]),
                   n_labels)

    # -- shape ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.indices.shape[0]

    @property
    def k(self) -> int:
        return self.indices.shape[1]

    @property
    def valid(self) -> np.ndarray:
        """Boolean ``n x k`` mask of real (non-padding) entries."""
        return self.indices >= 0

    def head(self, k: int) -> TopK:
        """The first ``k`` columns (all of them when ``k >= self.k``)."""
        k = _check_k(k, None)
        return TopK(self.indices[:, :k], self.scores[:, :k], self.n_labels)

    def padded_to(self, k: int) -> TopK:
        if k <= self.k:
            return self
        extra = k - self.k
        n = len(self)
        return TopK(np.hstack([self.indices, np.full((n, extra), PAD, np.int32)]),
                    np.hstack([self.scores, np.full((n, extra), -np.inf, np.float32)]),
                    self.n_labels)

    def __getitem__(self, rows) -> TopK:
        """Select documents (a slice, index array or boolean mask)."""
        indices = self.indices[rows]
        if indices.ndim == 1:
            indices = indices[None, :]
            return TopK(indices, self.scores[rows][None, :], self.n_labels)
        return TopK(indices, self.scores[rows], self.n_labels)

    def rows(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per document, the (label ids, scores) without padding."""
        valid = self.valid
        for i in range(len(self)):
            yield self.indices[i, valid[i]], self.scores[i, valid[i]]

    # -- conversion -------------------------------------------------------------------------
    def to_csr(self) -> sp.csr_matrix:
        """Scores as a sparse ``n x n_labels`` matrix (padding dropped)."""
        valid = self.valid
        n = len(self)
        indptr = np.concatenate([[0], np.cumsum(valid.sum(axis=1))])
        return sp.csr_matrix((self.scores[valid], self.indices[valid], indptr),
                             shape=(n, self.n_labels))

    def label_sets(self, threshold=0.5, *, min_labels: int = 0,
                   max_labels: int | None = None) -> sp.csr_matrix:
        """Labels whose score reaches the threshold, as a boolean sparse matrix.

        ``threshold`` is one number or one per label (shape ``(n_labels,)``). A
        document may get no label; ``min_labels`` forces its best ``m`` candidates
        in and ``max_labels`` caps the set size.
        """
        thr = _as_threshold_array(threshold, self.n_labels)
        valid = self.valid
        safe = np.where(valid, self.indices, 0)
        keep = valid & (self.scores >= thr[safe])
        if min_labels:
            keep[:, :min_labels] |= valid[:, :min_labels]
        if max_labels is not None:
            keep[:, max_labels:] = False
        indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
        data = np.ones(int(indptr[-1]), dtype=bool)
        return sp.csr_matrix((data, self.indices[keep], indptr), shape=(len(self), self.n_labels))


def _top_k_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Column ids of each row's k best scores; ties at the cut go to lower ids."""
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1:k]
    above = scores > kth
    tied = scores == kth
    needed = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= needed))
    return np.nonzero(chosen)[1].reshape(scores.shape[0], k)


def _check_k(k, n_labels: int | None) -> int:
    k = check_int("k", k, 1, numpy=True)
    return k if n_labels is None else int(min(k, n_labels))
