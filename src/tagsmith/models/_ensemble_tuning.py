"""Choosing an ensemble's member weights and score powers on held-out documents.

Members' scores live on different scales (a tree's path products are mostly tiny, a
vote share is not), so fixed weights rarely suit a new dataset. Given each member's
top-k scores for held-out documents and their true labels, :func:`tune_combination`
tries every weight vector on a simplex grid and every power from a short list per
member, and keeps the combination with the best mean of P@1 and nDCG@5. Everything
is computed on sparse top-k scores, so it costs the same at any label-space size.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

from tagsmith.metrics import ndcg_at_k, precision_at_k
from tagsmith.topk import TopK

#: spacing of the weight grid on the simplex
WEIGHT_STEP = 0.1
#: score exponents tried per member when powers are tuned too
POWER_CHOICES = (0.5, 1.0)


def weight_grid(n_members: int, step: float = WEIGHT_STEP) -> np.ndarray:
    """Every weight vector with entries in multiples of ``step``, all > 0, summing to 1.

    >>> weight_grid(2, 0.25).tolist()
    [[0.25, 0.75], [0.5, 0.5], [0.75, 0.25]]
    """
    units = int(round(1.0 / step))
    rows = [combo for combo in itertools.product(range(1, units), repeat=n_members)
            if sum(combo) == units]
    if n_members == 1:
        rows = [(units,)]
    return np.array(rows, dtype=np.float64) / units


def combine(scores: list[sp.csr_matrix], weights, powers) -> sp.csr_matrix:
    """``sum_i weights[i] * max(scores_i, 0) ** powers[i]`` over the union of entries."""
    total = None
    for matrix, weight, power in zip(scores, weights, powers, strict=True):
        part = matrix.copy()
        np.maximum(part.data, 0, out=part.data)
        if power != 1.0:
            part.data **= power
        part.data *= weight
        total = part if total is None else total + part
    assert total is not None
    return total


def tune_combination(topks: list[TopK], Y, *, powers=None, step: float = WEIGHT_STEP) -> dict:
    """The weights (and, unless ``powers`` is given, the powers) that score best.

    ``topks`` holds each member's top-k scores for the same held-out documents, ``Y``
    (docs x labels) their true labels. Returns ``{"weights", "powers", "p@1",
    "ndcg@5", "n_docs", "n_tried"}``.
    """
    scores = [topk.to_csr() for topk in topks]
    n_members = len(scores)
    power_sets = [tuple(powers)] if powers is not None else \
        list(itertools.product(POWER_CHOICES, repeat=n_members))
    best: dict = {}
    tried = 0
    for power_set in power_sets:
        transformed = [combine([matrix], [1.0], [power]) for matrix, power in
                       zip(scores, power_set, strict=True)]
        for weights in weight_grid(n_members, step):
            top = TopK.from_csr(combine(transformed, weights, [1.0] * n_members), 5)
            p1, ndcg = precision_at_k(Y, top, 1), ndcg_at_k(Y, top, 5)
            tried += 1
            if not best or (p1 + ndcg) / 2 > (best["p@1"] + best["ndcg@5"]) / 2 + 1e-12:
                best = {"weights": weights.tolist(), "powers": list(power_set),
                        "p@1": float(p1), "ndcg@5": float(ndcg)}
    best.update({"n_docs": int(Y.shape[0]), "n_tried": tried})
    return best
