"""Ranking metrics of a :class:`~tagsmith.topk.TopK` against the true label sets.

``y_true`` is an ``n_docs x n_labels`` label matrix (scipy sparse of any format and
dtype, nonzero = relevant; or a dense 0/1 array); ``topk`` holds each document's
candidates best first, padded with ``-1``. Only the CSR structure of ``y_true`` and
the ``n x k`` top-k arrays are touched: whether ``topk.indices[i, j]`` is relevant is
a vectorised lookup of the key ``i * n_labels + label`` among the sorted keys of
``y_true``'s nonzeros, so nothing ``n_docs x n_labels`` is ever densified.

Conventions shared by all ``@k`` metrics:

* padding entries are never hits, and a ``k`` larger than ``topk.k`` treats the
  missing columns as padding (P@k still divides by ``k``);
* every metric is a mean over documents returned as a Python ``float``; with no
  documents at all the result is ``0.0``;
* the ranking is the order of ``topk``'s rows as given. :class:`~tagsmith.topk.TopK`
  builds them with ties in score (float32: values closer than its resolution tie too)
  broken towards the lower label id, so every metric is deterministic; scikit-learn
  instead averages over tied scores (``ndcg_score``) or ranks a tie pessimistically
  (``label_ranking_average_precision_score``), so the two agree only without ties.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_int, check_number
from tagsmith._plural import plural_s
from tagsmith._typing import LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics.sets import _safe_div, _to_csr, as_label_matrix, check_label_values
from tagsmith.topk import TopK

__all__ = [
    "f1_at_k",
    "lrap",
    "ndcg_at_k",
    "precision_at_k",
    "propensities",
    "psp_at_k",
    "recall_at_k",
]


@dataclass(frozen=True)
class _Ranked:
    """Top-k hits of a batch: the shared intermediate of every ranking metric."""

    indices: np.ndarray  # n x K int32, -1 = padding
    valid: np.ndarray  # n x K bool, real candidates
    hits: np.ndarray  # n x K bool, real candidates that are true labels
    n_true: np.ndarray  # n int64, |y_i|
    y: sp.csr_matrix  # canonical boolean y_true
    n_labels: int


def _check_k(k) -> int:
    return check_int("k", k, 1, numpy=True)


def _hit_mask(y: sp.csr_matrix, indices: np.ndarray) -> np.ndarray:
    """Boolean ``n x K``: is ``indices[i, j]`` a nonzero of row ``i`` of ``y``?"""
    n, n_labels = y.shape
    valid = indices >= 0
    if y.nnz == 0 or indices.size == 0:
        return np.zeros(indices.shape, dtype=bool)
    # canonical CSR (rows in order, sorted column indices) => keys are sorted ascending
    keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(y.indptr)) * n_labels + y.indices
    query = np.arange(n, dtype=np.int64)[:, None] * n_labels + indices.astype(np.int64)
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return valid & (keys[pos] == query)


def topk_hits(y_true: LabelMatrix, topk: TopK) -> np.ndarray:
    """Boolean ``n x k``: is each top-k entry a true label of its document?

    Padding entries are never hits; explicit zeros in ``y_true`` are not labels.

    >>> topk = TopK.from_scores([[0.9, 0.1, 0.5]], k=2)
    >>> topk_hits([[1, 1, 0]], topk).tolist()
    [[True, False]]
    """
    return _ranked(_strict(y_true), topk, copy=False).hits


def _strict(y_true: LabelMatrix) -> sp.csr_matrix:
    """``y_true`` once its values are labels 0 or 1, as :func:`~tagsmith.metrics.evaluate`
    takes them (an error naming ``y_true`` otherwise): each public metric counted any
    nonzero entry as a label, a NaN gap, a 2 or a 0.5 a true label nobody gave."""
    return check_label_values(y_true, "y_true")


def _ranked(y_true, topk: TopK, k_max: int | None = None, *, copy: bool = True) -> _Ranked:
    """``copy=False``: ``y_true`` is :func:`_strict`'s own copy, not copied again."""
    y = _checked_labels(y_true, topk, copy=copy)
    indices = topk.indices if k_max is None else topk.indices[:, :k_max]
    return _ranked_rows(y, indices, topk.n_labels)


def _ranked_rows(y: sp.csr_matrix, indices: np.ndarray, n_labels: int) -> _Ranked:
    """The hits of ``indices`` (rows of a top-k) among the rows of ``y`` (canonical CSR)."""
    return _Ranked(indices, indices >= 0, _hit_mask(y, indices),
                   np.diff(y.indptr).astype(np.int64), y, n_labels)


def _checked_labels(y_true, topk: TopK, *, copy: bool = True) -> sp.csr_matrix:
    """``y_true`` as a canonical boolean CSR copy, once it has a row per ``topk`` document
    and a column per label; ``copy=False``: ``y_true`` is a CSR copy the caller made for
    this (:func:`check_label_values`'), taken over as :func:`as_label_matrix` does."""
    if not isinstance(topk, TopK):
        raise InvalidParameterError("topk", "a tagsmith.topk.TopK", type(topk).__name__)
    y = as_label_matrix(y_true, "y_true", copy=copy)
    if y.shape[0] != len(topk):
        raise InvalidParameterError("y_true", f"{len(topk)} row{plural_s(len(topk))} (one per topk "
                                    "document)", f"{y.shape[0]} row{plural_s(y.shape[0])}")
    if y.shape[1] != topk.n_labels:
        raise InvalidParameterError("y_true", f"{topk.n_labels} column{plural_s(topk.n_labels)} "
                                    "(topk.n_labels)", f"{y.shape[1]} column{plural_s(y.shape[1])}")
    return y


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


def _precision_rows(r: _Ranked, k: int) -> np.ndarray:
    return r.hits[:, :k].sum(axis=1) / k


# The @k metrics below from per-document counts (hits, real candidates in the top k) and
# DCGs, so that :func:`tagsmith.metrics.evaluate` can keep those from blocks of documents
# and take the very same means as a whole-matrix call.
def _hit_counts(r: _Ranked, k: int) -> np.ndarray:
    return r.hits[:, :k].sum(axis=1)


def _precision(r: _Ranked, k: int) -> float:
    return _mean(_precision_rows(r, k))


def _precision_of(hit_counts: np.ndarray, k: int) -> float:
    return _mean(hit_counts / k)


def _recall(r: _Ranked, k: int) -> float:
    return _recall_of(_hit_counts(r, k), r.n_true)


def _recall_of(hit_counts: np.ndarray, n_true: np.ndarray) -> float:
    has_true = n_true > 0
    return _mean(hit_counts[has_true] / n_true[has_true])


def _ndcg_rows(r: _Ranked, k: int) -> np.ndarray:
    discount = _discounts(r.hits[:, :k].shape[1], r.n_true, k)
    return _ndcg_of_dcg(_dcg_rows(r, k, discount), r.n_true, k, discount)


def _discounts(width: int, n_true: np.ndarray, k: int) -> np.ndarray:
    """The rank discounts ``1 / log2(rank + 1)`` nDCG@k of a top-k ``width`` columns wide
    reads for documents with ``n_true`` labels."""
    # only the discounts a row can use: its listed columns, and an ideal of min(k, |y_i|)
    # labels (k of them made a k far beyond the ranking cost O(k) memory)
    depth = min(k, max(width, int(n_true.max(initial=0))))
    return 1.0 / np.log2(np.arange(2, depth + 2))


def _dcg_rows(r: _Ranked, k: int, discount: np.ndarray) -> np.ndarray:
    hits = r.hits[:, :k]
    # DCG and ideal DCG both summed in rank order (cumsum is sequential): a perfect ranking
    # adds the ideal's very terms in its order, so it scores exactly 1, and rounding, being
    # monotone, keeps any other DCG <= its ideal (a dot product summed in another order
    # gave 0.9999999999999999 or 1.0000000000000004 for a perfect ranking)
    gains = hits * discount[: hits.shape[1]]
    return np.cumsum(gains, axis=1, out=gains)[:, -1] if hits.shape[1] else np.zeros(len(hits))


def _ndcg_of_dcg(dcg: np.ndarray, n_true: np.ndarray, k: int,
                 discount: np.ndarray) -> np.ndarray:
    """Each document's nDCG@k from its DCG@k: divided by the ideal DCG of its
    ``min(k, |y_i|)`` labels (``discount`` from :func:`_discounts`)."""
    # no row's ideal reaches past the discounts (a k of 2**64 is no int64 for np.minimum)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum(n_true,
                                                                    min(k, discount.size))]
    return _safe_div(dcg, ideal)


def _ndcg(r: _Ranked, k: int) -> float:
    return _mean(_ndcg_rows(r, k))


def _f1(r: _Ranked, k: int) -> float:
    return _f1_of(_hit_counts(r, k), r.valid[:, :k].sum(axis=1), r.n_true)


def _f1_of(hit_counts: np.ndarray, sizes: np.ndarray, n_true: np.ndarray) -> float:
    """Mean F1@k from each document's hits and real candidates in its top k."""
    # int64: evaluate keeps the counts in int16, where twice 16,384 hits wraps around
    return _mean(_safe_div(2 * hit_counts.astype(np.int64), sizes + n_true))


def _inverse_propensities(values, n_labels: int, name: str = "propensities") -> np.ndarray:
    """``1 / p`` of propensities ``values`` in (0, 1], else :class:`InvalidParameterError`
    naming the caller's parameter ``name``. Above 1 is no propensity (the chance that a
    relevant label was observed): it is most likely ``1 / p`` passed by mistake, which
    was accepted and weighted the rare labels least."""
    p = np.asarray(values, dtype=np.float64)
    if p.shape != (n_labels,):
        raise InvalidParameterError(name, f"an array of shape ({n_labels},)",
                                    f"shape {p.shape}")
    if p.size and not (np.isfinite(p).all() and (p > 0).all() and (p <= 1).all()):
        raise InvalidParameterError(name, "propensities in (0, 1]",
                                    f"range [{p.min()}, {p.max()}]")
    return 1.0 / p


def _psp(r: _Ranked, k: int, inv_p: np.ndarray) -> float:
    return _psp_of(_psp_gains(r, k, inv_p), r.y, k, inv_p)


def _psp_gains(r: _Ranked, k: int, inv_p: np.ndarray) -> np.ndarray:
    """``1 / p_l`` of each hit among the top ``k`` (PSP@k's numerator, unsummed)."""
    return inv_p[r.indices[:, :k][r.hits[:, :k]]]


def _psp_of(gains: Iterable[float], y: sp.csr_matrix, k: int, inv_p: np.ndarray) -> float:
    """PSP@k from the ``gains`` of every hit (in any order) and the true labels ``y``."""
    # both sums are exactly rounded (math.fsum): summed in their own orders, a perfect
    # ranking (the same terms) gave 1.0000000000000002, and any ranking could exceed 1;
    # exact, the gains' sum is the same in any order or in parts
    gained = math.fsum(gains)
    # best achievable: the k largest 1/p_l among each document's true labels
    row = np.repeat(np.arange(y.shape[0]), np.diff(y.indptr))
    weights = inv_p[y.indices]
    order = np.lexsort((-weights, row))  # row is the primary key: rows keep their ranges
    rank = np.arange(y.nnz) - np.repeat(y.indptr[:-1], np.diff(y.indptr))
    best = math.fsum(weights[order][rank < k])
    return gained / best if best else 0.0


def _lrap(r: _Ranked) -> float:
    return _mean(_lrap_rows(r))


def _lrap_rows(r: _Ranked) -> np.ndarray:
    rank = np.arange(1, r.hits.shape[1] + 1)
    precision_at_hits = np.cumsum(r.hits, axis=1) / rank * r.hits
    score = _safe_div(precision_at_hits.sum(axis=1), r.n_true)
    score[(r.n_true == 0) | (r.n_true == r.n_labels)] = 1.0
    return score


# -- public API ------------------------------------------------------------------------------
def precision_at_k(y_true: LabelMatrix, topk: TopK, k: int) -> float:
    """P@k: hits among each document's top ``k`` divided by ``k``, averaged over documents.

    Standard XMC convention: the divisor is ``k`` even when a row has fewer real
    candidates or fewer true labels; documents without true labels count as 0.

    >>> topk = TopK.from_scores([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], k=2)
    >>> precision_at_k([[1, 0, 1], [1, 0, 0]], topk, k=2)
    0.5
    """
    k = _check_k(k)
    return _precision(_ranked(_strict(y_true), topk, k, copy=False), k)


def recall_at_k(y_true: LabelMatrix, topk: TopK, k: int) -> float:
    """R@k: hits among the top ``k`` divided by ``|y_i|``, averaged over documents.

    Documents without true labels are left out of the mean (0.0 if all are).

    >>> topk = TopK.from_scores([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], k=2)
    >>> recall_at_k([[1, 1, 1], [0, 0, 0]], topk, k=2)
    0.6666666666666666
    """
    k = _check_k(k)
    return _recall(_ranked(_strict(y_true), topk, k, copy=False), k)


def ndcg_at_k(y_true: LabelMatrix, topk: TopK, k: int) -> float:
    """nDCG@k with binary relevance, averaged over documents.

    ``DCG@k = sum_{r=1..k} rel_r / log2(r + 1)`` and the ideal
    ``IDCG@k = sum_{r=1..min(k, |y_i|)} 1 / log2(r + 1)``. Documents without true labels
    score 0 and count in the mean (as in sklearn). A document with fewer than ``k``
    true labels is normalised by the ideal DCG of its ``|y_i|`` labels, so a ranking
    with them all first scores 1. Without score ties, and when ``topk`` lists at least
    ``min(k, n_labels)`` labels of every document, this equals
    ``sklearn.metrics.ndcg_score(y_true, scores, k=k)``; with ties tagsmith ranks the
    lower label id first where sklearn averages the tied gains, and labels a short
    row does not list count as misses where sklearn ranks them by their scores.

    >>> topk = TopK.from_scores([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], k=2)
    >>> round(ndcg_at_k([[0, 0, 1], [0, 1, 0]], topk, k=2), 4)
    0.8155
    """
    k = _check_k(k)
    return _ndcg(_ranked(_strict(y_true), topk, k, copy=False), k)


def f1_at_k(y_true: LabelMatrix, topk: TopK, k: int) -> float:
    """F1@k: per document ``2 hits / (min(k, real candidates) + |y_i|)``, averaged.

    The predicted set is the row's top ``k`` real (non-padding) candidates. Documents
    without true labels score 0 (also when their predicted set is empty).

    >>> topk = TopK.from_scores([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], k=1)
    >>> f1_at_k([[1, 0, 1], [1, 0, 0]], topk, k=1)
    0.3333333333333333
    """
    k = _check_k(k)
    return _f1(_ranked(_strict(y_true), topk, k, copy=False), k)


def psp_at_k(y_true: LabelMatrix, topk: TopK, k: int,
             propensities: npt.ArrayLike) -> float:
    """Propensity-scored precision PSP@k (Jain et al. 2016), as pyxclib computes it.

    Each hit on label ``l`` gains ``1 / p_l`` (``propensities``: shape ``(n_labels,)``,
    values in ``(0, 1]``, e.g. from :func:`propensities`). With ``PSP_i = (sum of
    1/p_l over the hits in the top k) / k`` and ``best_i = (sum of the k largest 1/p_l
    among the true labels of document i) / k``, the result is the ratio of the means
    ``mean_i PSP_i / mean_i best_i`` -- not a mean of per-document ratios. It is 1.0
    for a perfect ranking and 0.0 when no document has a true label.

    >>> topk = TopK.from_scores([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], k=1)
    >>> psp_at_k([[1, 0, 1], [0, 1, 0]], topk, 1, propensities=[0.5, 1.0, 0.25])
    0.6
    """
    k = _check_k(k)
    r = _ranked(_strict(y_true), topk, k, copy=False)
    return _psp(r, k, _inverse_propensities(propensities, r.n_labels))


def lrap(y_true: LabelMatrix, topk: TopK) -> float:
    """Label ranking average precision over the ranking in ``topk``.

    For document ``i`` and each true label at rank ``r`` (1-based), precision is the
    number of true labels at ranks ``<= r`` divided by ``r``; the document's score is
    the mean over its true labels, and the result the mean over documents. As in
    ``sklearn.metrics.label_ranking_average_precision_score``, a document with no or
    with all ``n_labels`` true labels scores 1.0. When ``topk`` covers every label
    (``k == n_labels``, no ties, no padding) this equals sklearn exactly; otherwise
    true labels missing from the top-k contribute precision 0, so the result is a
    lower bound of the full-ranking LRAP.

    >>> topk = TopK.from_scores([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], k=3)
    >>> lrap([[0, 1, 1], [0, 1, 0]], topk)
    0.7916666666666666
    """
    return _lrap(_ranked(_strict(y_true), topk, copy=False))


def propensities(y_train: LabelMatrix, A: float = 0.55, B: float = 1.5, *,
                 n_docs: int | None = None) -> np.ndarray:
    """Per-label propensities ``p_l`` of Jain et al. (2016), float64 of shape ``(n_labels,)``.

    ``p_l = 1 / (1 + C exp(-A log(N_l + B)))`` with ``C = (log N - 1) (B + 1)^A``, where
    ``N`` is the number of training documents (``y_train``'s rows, or ``n_docs``) and
    ``N_l`` the column sums of ``y_train`` -- the label frequencies for a 0/1 matrix
    (entries are summed as in pyxclib, so a matrix of label counts works too).
    Usual constants: ``A=0.55, B=1.5`` for most data sets, ``A=0.6, B=2.6`` for
    Amazon and ``A=0.5, B=0.4`` for Wikipedia; both must be finite and > 0 (with
    ``B <= 0`` a label never seen in training got propensity 0 or NaN). For ``N < e``
    the formula gives ``C < 0``; ``C`` is then clipped to 0, i.e. all propensities are 1.

    >>> propensities([[1, 0], [1, 0], [1, 1], [1, 0]]).round(3).tolist()
    [0.8, 0.721]
    """
    A = check_number("A", A, 0, strict=True, finite=True, numpy=True)
    B = check_number("B", B, 0, strict=True, finite=True, numpy=True)
    y = _to_csr(y_train, "y_train").astype(np.float64)
    if n_docs is None:  # the error names what the caller passed: y_train, not n_docs
        if y.shape[0] < 1:
            raise InvalidParameterError("y_train", "at least one training document (row)",
                                        "0 rows")
        n = y.shape[0]
    else:
        n = check_int("n_docs", n_docs, 1, numpy=True)
    freq = np.bincount(y.indices, weights=y.data, minlength=y.shape[1])
    c = max((np.log(n) - 1.0) * (B + 1.0) ** A, 0.0)
    return 1.0 / (1.0 + c * np.exp(-A * np.log(freq + B)))
