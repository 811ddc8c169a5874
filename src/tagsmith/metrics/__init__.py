"""Fast, vectorised multi-label metrics that never densify a documents x labels matrix.

Ranking metrics (:mod:`tagsmith.metrics.ranking`) score a :class:`~tagsmith.topk.TopK`
against the true label sets; set metrics (:mod:`tagsmith.metrics.sets`) score
predicted label sets. :func:`evaluate` computes the usual report in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tagsmith._typing import LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics.ranking import (
    _check_k,
    _f1,
    _inverse_propensities,
    _lrap,
    _ndcg,
    _precision,
    _psp,
    _ranked,
    _recall,
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
    f1_macro,
    f1_micro,
    f1_samples,
    per_label_f1,
    precision_micro,
    recall_micro,
)
from tagsmith.topk import TopK

__all__ = [
    "as_label_matrix",
    "evaluate",
    "f1_at_k",
    "f1_macro",
    "f1_micro",
    "f1_samples",
    "lrap",
    "ndcg_at_k",
    "per_label_f1",
    "precision_at_k",
    "precision_micro",
    "propensities",
    "psp_at_k",
    "recall_at_k",
    "recall_micro",
    "topk_hits",
]


def _check_ks(ks) -> tuple[int, ...]:
    try:
        return tuple(_check_k(k) for k in ks)
    except (TypeError, InvalidParameterError) as exc:
        raise InvalidParameterError("ks", "a sequence of integers >= 1", ks) from exc


def evaluate(y_true: LabelMatrix, topk: TopK, y_pred: LabelMatrix | None = None,
             ks: Sequence[int] = (1, 3, 5),
             propensity: npt.ArrayLike | None = None) -> dict[str, float]:
    """The standard report: ranking metrics at each ``k`` plus, optionally, set metrics.

    Keys, in this order: ``p@k``, ``r@k``, ``ndcg@k``, ``f1@k`` for every ``k`` in
    ``ks``; ``psp@k`` only when ``propensity`` (per-label propensities in (0, 1], shape
    ``(n_labels,)``) is given; ``lrap`` (a lower bound unless ``topk`` covers all
    labels); with ``y_pred`` (label sets shaped like ``y_true``) ``micro_f1``,
    ``macro_f1`` (over labels present in ``y_true`` or ``y_pred``), ``samples_f1``
    (``zero_division=0``), ``micro_precision`` and ``micro_recall``; finally
    ``n_docs``, ``n_docs_without_labels`` and ``n_labels_evaluated`` (ints: documents,
    documents with no true label, which count 0 in P@k, nDCG@k and F1@k but are left
    out of R@k, and labels present in ``y_true`` or ``y_pred``). See the individual
    functions for conventions.

    >>> topk = TopK.from_scores([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], k=3)
    >>> report = evaluate([[1, 0, 1], [0, 1, 0]], topk, topk.label_sets(0.5), ks=(1,))
    >>> {key: round(value, 3) for key, value in report.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'p@1': 1.0, 'r@1': 0.75, 'ndcg@1': 1.0, 'f1@1': 0.833, 'lrap': 1.0, 'micro_f1': 1.0,
     'macro_f1': 1.0, 'samples_f1': 1.0, 'micro_precision': 1.0, 'micro_recall': 1.0,
     'n_docs': 2, 'n_docs_without_labels': 0, 'n_labels_evaluated': 3}
    """
    ks = _check_ks(ks)
    ranked = _ranked(y_true, topk, max(ks, default=None))
    full = _ranked(ranked.y, topk) if ranked.indices.shape[1] < topk.k else ranked
    inv_p = None if propensity is None else _inverse_propensities(propensity, topk.n_labels,
                                                                  "propensity")
    report: dict[str, float] = {}
    for name, fn in (("p", _precision), ("r", _recall), ("ndcg", _ndcg), ("f1", _f1)):
        report.update({f"{name}@{k}": fn(ranked, k) for k in ks})
    if inv_p is not None:
        report.update({f"psp@{k}": _psp(ranked, k, inv_p) for k in ks})
    report["lrap"] = _lrap(full)
    present = np.bincount(ranked.y.indices, minlength=topk.n_labels) > 0
    if y_pred is not None:
        counts = _counts(ranked.y, y_pred)
        present = counts.present
        report["micro_f1"] = _f1_micro(counts)
        report["macro_f1"] = _macro(counts, "present")
        report["samples_f1"] = _samples(counts, 0.0)
        report["micro_precision"] = _precision_micro(counts)
        report["micro_recall"] = _recall_micro(counts)
    report["n_docs"] = int(ranked.y.shape[0])
    # what P@k means: these documents count 0 in it, while R@k leaves them out
    report["n_docs_without_labels"] = int(np.count_nonzero(ranked.n_true == 0))
    report["n_labels_evaluated"] = int(np.count_nonzero(present))
    return report
