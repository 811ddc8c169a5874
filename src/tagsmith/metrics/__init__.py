"""Fast, vectorised multi-label metrics that never densify a documents x labels matrix.

Ranking metrics (:mod:`tagsmith.metrics.ranking`) score a :class:`~tagsmith.topk.TopK`
against the true label sets; set metrics (:mod:`tagsmith.metrics.sets`) score
predicted label sets. :func:`evaluate` computes the usual report in one pass.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._typing import LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics.hierarchy import (
    ancestor_closure,
    closure_if_hierarchical,
    hierarchical_scores,
    most_specific,
    parent_matrix,
    scores_with_closure,
)
from tagsmith.metrics.ranking import (
    _check_k,
    _checked_labels,
    _dcg_rows,
    _discounts,
    _f1_of,
    _hit_counts,
    _inverse_propensities,
    _lrap_rows,
    _mean,
    _ndcg_of_dcg,
    _precision_of,
    _psp_gains,
    _psp_of,
    _Ranked,
    _ranked_rows,
    _recall_of,
    f1_at_k,
    lrap,
    ndcg_at_k,
    precision_at_k,
    propensities,
    psp_at_k,
    recall_at_k,
    topk_hits,
)
from tagsmith.metrics.sets import (
    _counts,
    _f1_micro,
    _macro,
    _precision_micro,
    _recall_micro,
    _samples,
    as_label_matrix,
    check_label_values,
    f1_macro,
    f1_micro,
    f1_samples,
    per_label_counts,
    per_label_f1,
    precision_micro,
    recall_micro,
    wilson_interval,
)
from tagsmith.topk import TopK, block_rows

if TYPE_CHECKING:
    from tagsmith.data.labelspace import LabelSpace

__all__ = [
    "ancestor_closure",
    "as_label_matrix",
    "evaluate",
    "f1_at_k",
    "f1_macro",
    "f1_micro",
    "f1_samples",
    "hierarchical_scores",
    "lrap",
    "most_specific",
    "ndcg_at_k",
    "parent_matrix",
    "per_label_counts",
    "per_label_f1",
    "precision_at_k",
    "precision_micro",
    "propensities",
    "psp_at_k",
    "recall_at_k",
    "recall_micro",
    "topk_hits",
    "wilson_interval",
]


def _check_ks(ks) -> tuple[int, ...]:
    try:
        return tuple(_check_k(k) for k in ks)
    except (TypeError, InvalidParameterError) as exc:
        raise InvalidParameterError("ks", "a sequence of integers >= 1", ks) from exc


def evaluate(y_true: LabelMatrix, topk: TopK, y_pred: LabelMatrix | None = None,
             ks: Sequence[int] = (1, 3, 5),
             propensity: npt.ArrayLike | None = None,
             hierarchy: LabelSpace | sp.spmatrix | sp.sparray | None = None
             ) -> dict[str, float]:
    """The standard report: ranking metrics at each ``k`` plus, optionally, set metrics.

    Keys, in this order: ``p@k``, ``r@k``, ``ndcg@k``, ``f1@k`` for every ``k`` in
    ``ks``; ``psp@k`` only when ``propensity`` (per-label propensities in (0, 1], shape
    ``(n_labels,)``) is given; ``lrap`` (a lower bound unless ``topk`` covers all
    labels); with ``y_pred`` (label sets shaped like ``y_true``) ``micro_f1``,
    ``macro_f1`` (over labels present in ``y_true`` or ``y_pred``), ``samples_f1``
    (``zero_division=0``), ``micro_precision`` and ``micro_recall``, and where
    ``hierarchy`` (a label space, or a parent matrix: :func:`hierarchical_scores`) gives
    some label a parent, ``hierarchical_precision``, ``hierarchical_recall`` and
    ``hierarchical_f1`` (absent without one: they would repeat the flat ones); finally
    ``n_docs``, ``n_docs_without_labels`` and ``n_labels_evaluated`` (ints: documents,
    documents with no true label, which count 0 in P@k, nDCG@k and F1@k but are left
    out of R@k, and labels present in ``y_true`` or ``y_pred``). See the individual
    functions for conventions. A ``y_true`` or ``y_pred`` holding a value other than 0
    or 1 (NaN, 2, 0.5) is an :class:`~tagsmith.exceptions.InvalidParameterError` naming
    it, its first such entry and where it is (pass ``y != 0`` for soft labels).

    >>> topk = TopK.from_scores([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], k=3)
    >>> report = evaluate([[1, 0, 1], [0, 1, 0]], topk, topk.label_sets(0.5), ks=(1,))
    >>> {key: round(value, 3) for key, value in report.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'p@1': 1.0, 'r@1': 0.75, 'ndcg@1': 1.0, 'f1@1': 0.833, 'lrap': 1.0, 'micro_f1': 1.0,
     'macro_f1': 1.0, 'samples_f1': 1.0, 'micro_precision': 1.0, 'micro_recall': 1.0,
     'n_docs': 2, 'n_docs_without_labels': 0, 'n_labels_evaluated': 3}
    """
    ks = _check_ks(ks)
    # the metrics count any nonzero entry as a label: a NaN (a table's gap) or a 2 was
    # measured as a true or predicted label nobody gave (the check: ~1% of the time)
    y = _checked_labels(check_label_values(y_true, "y_true"), topk, copy=False)
    if y_pred is not None:
        y_pred = check_label_values(y_pred, "y_pred")
    inv_p = None if propensity is None else _inverse_propensities(propensity, topk.n_labels,
                                                                  "propensity")
    rows = _RowMetrics(y, topk, ks, inv_p)
    report: dict[str, float] = {}
    report.update({f"p@{k}": _precision_of(rows.hit_counts[k], k) for k in ks})
    report.update({f"r@{k}": _recall_of(rows.hit_counts[k], rows.n_true) for k in ks})
    report.update({f"ndcg@{k}": _mean(_ndcg_of_dcg(rows.dcg[k], rows.n_true, k,
                                                   rows.discounts[k])) for k in ks})
    report.update({f"f1@{k}": _f1_of(rows.hit_counts[k], rows.sizes[k], rows.n_true)
                   for k in ks})
    if inv_p is not None:
        report.update({f"psp@{k}": _psp_of(itertools.chain.from_iterable(rows.psp_gains[k]),
                                           y, k, inv_p) for k in ks})
    report["lrap"] = _mean(rows.lrap)
    present = np.bincount(y.indices, minlength=topk.n_labels) > 0
    if y_pred is not None:
        counts = _counts(y, y_pred)
        present = counts.present
        report["micro_f1"] = _f1_micro(counts)
        report["macro_f1"] = _macro(counts, "present")
        report["samples_f1"] = _samples(counts, 0.0)
        report["micro_precision"] = _precision_micro(counts)
        report["micro_recall"] = _recall_micro(counts)
        closure = (None if hierarchy is None
                   else closure_if_hierarchical(hierarchy, topk.n_labels))
        if closure is not None:
            report.update(scores_with_closure(
                as_label_matrix(y, "y_true"), as_label_matrix(y_pred, "y_pred"), closure))
    report["n_docs"] = int(y.shape[0])
    # what P@k means: these documents count 0 in it, while R@k leaves them out
    report["n_docs_without_labels"] = int(np.count_nonzero(rows.n_true == 0))
    report["n_labels_evaluated"] = int(np.count_nonzero(present))
    return report


class _RowMetrics:
    """What :func:`evaluate` averages, kept per document from blocks of documents: each
    block's hits, found by a search of ``n x k`` int64 keys, and the ranking metrics'
    float64 ``n x k`` intermediates (eight bytes an entry each: 224 MB apiece for a
    million documents x 28 labels) exist for that block only. The per-document values
    are those of a whole-matrix call, so every mean is the same to the bit."""

    def __init__(self, y: sp.csr_matrix, topk: TopK, ks: tuple[int, ...],
                 inv_p: np.ndarray | None):
        n = y.shape[0]
        ks = tuple(dict.fromkeys(ks))  # a k given twice is one k: its PSP gains kept once
        self.n_true = np.diff(y.indptr).astype(np.int64)
        k_max = max(ks, default=topk.k)
        counts = np.int16 if topk.k <= np.iinfo(np.int16).max else np.int64
        self.hit_counts = {k: np.empty(n, counts) for k in ks}
        self.sizes = {k: np.empty(n, counts) for k in ks}
        self.dcg = {k: np.empty(n) for k in ks}
        # as a whole-matrix call takes them: over the columns the top k can list
        self.discounts = {k: _discounts(min(k, k_max, topk.k), self.n_true, k) for k in ks}
        self.psp_gains: dict[int, list[np.ndarray]] = {k: [] for k in ks}
        self.lrap = np.empty(n)
        step = block_rows(topk.k)  # documents per block
        for start in range(0, n, step):
            block = slice(start, start + step)
            full = _ranked_rows(y[block], topk.indices[block], topk.n_labels)
            self.lrap[block] = _lrap_rows(full)
            ranked = _head(full, k_max)
            for k in ks:
                self.hit_counts[k][block] = _hit_counts(ranked, k)
                self.sizes[k][block] = ranked.valid[:, :k].sum(axis=1)
                self.dcg[k][block] = _dcg_rows(ranked, k, self.discounts[k])
                if inv_p is not None:
                    self.psp_gains[k].append(_psp_gains(ranked, k, inv_p))


def _head(r: _Ranked, k: int) -> _Ranked:
    """``r`` over its first ``k`` columns (the hits of ``indices[:, :k]``)."""
    if k >= r.indices.shape[1]:
        return r
    return _Ranked(r.indices[:, :k], r.valid[:, :k], r.hits[:, :k], r.n_true, r.y, r.n_labels)
