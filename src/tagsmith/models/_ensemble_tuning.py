"""Choosing an ensemble's member weights and score powers on held-out documents.

Members' scores live on different scales (a tree's path products are mostly tiny, a
vote share is not), so fixed weights rarely suit a new dataset. Given each member's
top-k scores for held-out documents and their true labels, :func:`tune_combination`
keeps the combination of weights and powers (one exponent from a short list per
member) with the best mean of P@1 and nDCG@5. Up to :data:`EXHAUSTIVE_MAX_MEMBERS`
members it tries every weight vector on a simplex grid with every power set; the grid
and the power sets grow exponentially with the members (and a 0.1 simplex grid has no
point at all past 10 members), so larger ensembles get a coordinate ascent over the
same per-member values instead (see :func:`tune_combination`). Everything is computed
on sparse top-k scores, so it costs the same at any label-space size.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith.metrics import as_label_matrix, ndcg_at_k, precision_at_k
from tagsmith.metrics.ranking import _ndcg_rows, _precision_rows, _ranked
from tagsmith.models.base import scaled_weights
from tagsmith.topk import PAD, TopK

#: spacing of the weight grid on the simplex
WEIGHT_STEP = 0.1
#: score exponents tried per member when powers are tuned too
POWER_CHOICES = (0.5, 1.0)
#: the most members whose weight grid and power sets are searched exhaustively
#: (4 members: 84 weight vectors x 16 power sets = 1,344 combinations)
EXHAUSTIVE_MAX_MEMBERS = 4
#: coordinate ascent (more members): the most sweeps over the members
MAX_SWEEPS = 10


def weight_grid(n_members: int, step: float = WEIGHT_STEP) -> np.ndarray:
    """Every weight vector with entries in multiples of ``step``, all > 0, summing to 1.

    >>> weight_grid(2, 0.25).tolist()
    [[0.25, 0.75], [0.5, 0.5], [0.75, 0.25]]
    """
    units = int(round(1.0 / step))
    if n_members == 1:
        return np.array([[1.0]])

    def compositions(total: int, parts: int):
        # lexicographic, as filtering itertools.product(range(1, units)) would give, but
        # without walking its (units - 1) ** n_members tuples
        if parts == 1:
            if 1 <= total < units:
                yield (total,)
            return
        for first in range(1, min(units - 1, total - parts + 1) + 1):
            for rest in compositions(total - first, parts - 1):
                yield (first, *rest)

    rows = list(compositions(units, n_members))
    return np.array(rows, dtype=np.float64).reshape(len(rows), n_members) / units


def combine(scores: list[sp.csr_matrix], weights: Sequence[float] | np.ndarray,
            powers: Sequence[float] | np.ndarray) -> sp.csr_matrix:
    """``sum_i weights[i] * max(scores_i, 0) ** powers[i]`` over the union of entries,
    as :meth:`~tagsmith.models.ensemble.EnsembleModel.combined_scores` adds them at
    prediction: in float64, and an entry that sums to 0 (a label every member proposing
    it scored 0) stays an entry, a candidate ranked after the positive ones, as it is
    there (sparse addition would drop it)."""
    rows, cols, values = [], [], []
    for matrix, weight, power in zip(scores, weights, powers, strict=True):
        coo = sp.coo_matrix(matrix)
        data = np.maximum(coo.data.astype(np.float64), 0.0)
        rows.append(coo.row)
        cols.append(coo.col)
        values.append(weight * (data if power == 1.0 else data ** power))
    if not values:
        raise ValueError("combine needs at least one member's scores")
    # duplicates (a label proposed by several members) are summed on conversion
    return sp.coo_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                         shape=scores[0].shape).tocsr()


def tune_combination(topks: list[TopK], Y: sp.csr_matrix, *,
                     powers: Sequence[float] | np.ndarray | None = None,
                     step: float = WEIGHT_STEP,
                     sample_weight: npt.ArrayLike | None = None) -> dict:
    """The weights (and, unless ``powers`` is given, the powers) that score best.

    ``topks`` holds each member's top-k scores for the same held-out documents, ``Y``
    (docs x labels) their true labels, ``sample_weight`` (``None``: equal) the
    documents' weights, all above 0: P@1 and nDCG@5 are then means weighted by them,
    so a document of weight 2 counts as two copies of it. Returns ``{"weights", "powers", "p@1",
    "ndcg@5", "n_docs", "n_tried"}``, plus ``"n_sweeps"`` after a coordinate ascent.

    Up to :data:`EXHAUSTIVE_MAX_MEMBERS` members, every weight vector of
    :func:`weight_grid` is tried with every power set (``POWER_CHOICES`` per member),
    the first best kept. With more members, a deterministic coordinate ascent: each
    member's weight takes the grid's values (multiples of ``step`` below 1, the vector
    normalised to sum 1) and its power one of ``POWER_CHOICES``; starting from equal
    weights and powers 1 (or the given powers), each sweep visits the members in order
    and gives each the value (and power) that scores best with the others held, moving
    only on a strict improvement; it stops after a sweep with no move or after
    :data:`MAX_SWEEPS` sweeps. A sweep tries ``len(grid values) * len(power choices)``
    combinations per member, so its cost grows linearly with the members, and the
    result never scores below equal weights.
    """
    scores = [topk.to_csr() for topk in topks]
    n_members = len(scores)
    candidates = _Candidates(scores, Y, powers, sample_weight)
    if n_members > EXHAUSTIVE_MAX_MEMBERS:
        return _coordinate_ascent(candidates, powers, step)
    power_sets = [tuple(float(p) for p in powers)] if powers is not None else \
        list(itertools.product(POWER_CHOICES, repeat=n_members))
    best: dict = {}
    tried = 0
    grid = weight_grid(n_members, step)
    for power_set in power_sets:
        for weights in grid:
            p1, ndcg = candidates.objective(candidates.scattered(weights, power_set))
            tried += 1
            if not best or (p1 + ndcg) / 2 > (best["p@1"] + best["ndcg@5"]) / 2 + 1e-12:
                best = {"weights": weights.tolist(), "powers": list(power_set),
                        "p@1": p1, "ndcg@5": ndcg}
    best.update({"n_docs": int(Y.shape[0]), "n_tried": tried})
    return best


class _Candidates:
    """Every member's entries placed once on the union of all entries (stored zeros
    included), each member's scores raised to each power it may take computed once:
    a candidate combination then costs one pass over the union, not a sum of
    matrices built from scratch. Shared by the grid search and the coordinate ascent."""

    def __init__(self, scores: list[sp.csr_matrix], Y, powers, sample_weight=None) -> None:
        # soft targets' labels are their nonzero entries, as the ranking metrics took
        # them before refusing values other than 0 or 1
        self.Y = as_label_matrix(Y, "Y")
        # equal weights are no weights: the unweighted means, to the bit
        weight = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        self.weight = None if weight is None or np.all(weight == weight[:1]) else weight
        if self.weight is not None:
            # scaled by the power of two that brings the largest into [1, 2): the means
            # keep their bits, where weights near 1e308 summed to infinity and every
            # candidate scored NaN (the first one was kept, its NaN stored)
            self.weight = scaled_weights(self.weight)
        n_docs, n_labels = scores[0].shape
        coos = [matrix.tocoo() for matrix in scores]
        for coo in coos:
            coo.sum_duplicates()  # one entry per (document, label), as in a TopK
        member_keys = [coo.row.astype(np.int64) * n_labels + coo.col for coo in coos]
        union_keys = np.unique(np.concatenate(member_keys))
        indptr = np.searchsorted(union_keys, np.arange(n_docs + 1, dtype=np.int64) * n_labels)
        self.size = len(union_keys)
        self.positions = [np.searchsorted(union_keys, keys) for keys in member_keys]
        # the union laid out as one padded row per document (labels ascending, then pads
        # of id -1): a candidate's top 5 is then a row-wise stable sort of at most
        # (members x k) entries, where TopK.from_csr sorted every entry by three keys
        row_len = np.diff(indptr)
        self.k = min(5, n_labels)
        width = max(int(row_len.max(initial=0)), self.k)
        self._row = np.repeat(np.arange(n_docs), row_len)
        self._slot = np.arange(len(union_keys)) - np.repeat(indptr[:-1], row_len)
        self._labels = np.full((n_docs, width), PAD, np.int32)
        self._labels[self._row, self._slot] = union_keys % n_labels
        self.n_labels = n_labels
        self.transformed: list[dict[float, np.ndarray]] = []
        for i, coo in enumerate(coos):
            base = np.maximum(coo.data.astype(np.float64), 0.0)
            member_powers = POWER_CHOICES if powers is None else (float(powers[i]),)
            self.transformed.append({power: base if power == 1.0 else base ** power
                                     for power in member_powers})

    def scattered(self, weights, powers, skip: int = -1) -> np.ndarray:
        """``sum_j weights[j] * max(scores_j, 0) ** powers[j]`` on the union's entries,
        ``j != skip``."""
        data = np.zeros(self.size)
        for j, (where, weight, power) in enumerate(zip(self.positions, weights, powers,
                                                       strict=True)):
            if j != skip:
                data[where] += weight * self.transformed[j][power]
        return data

    def objective(self, data: np.ndarray) -> tuple[float, float]:
        """P@1 and nDCG@5 of the union's entries scored ``data``; as combine() and
        prediction, an entry summing to 0 is still a candidate."""
        # ranked as TopK.from_csr ranks them: float32 scores, best first, equal scores
        # by label id (the stable sort keeps the row's ascending labels), pads last
        scores = np.full(self._labels.shape, -np.inf, np.float32)
        scores[self._row, self._slot] = data
        order = np.argsort(-scores, axis=1, kind="stable")[:, :self.k]
        top = TopK._trusted(np.take_along_axis(self._labels, order, axis=1),
                            np.take_along_axis(scores, order, axis=1), self.n_labels)
        if self.weight is None:
            return float(precision_at_k(self.Y, top, 1)), float(ndcg_at_k(self.Y, top, 5))
        ranked = _ranked(self.Y, top, 5)
        return (float(np.average(_precision_rows(ranked, 1), weights=self.weight)),
                float(np.average(_ndcg_rows(ranked, 5), weights=self.weight)))


def _coordinate_ascent(candidates: _Candidates, powers, step: float) -> dict:
    """:func:`tune_combination` for many members (see there)."""
    n_members = len(candidates.positions)
    units = int(round(1.0 / step))
    values = range(1, units)  # a member's weight, in units of ``step`` before normalising
    positions, transformed = candidates.positions, candidates.transformed
    objective = candidates.objective

    current = [units // 2] * n_members
    current_powers = [1.0] * n_members if powers is None else [float(p) for p in powers]
    tried, sweeps = 0, 0
    p1, ndcg = objective(candidates.scattered(current, current_powers))
    tried += 1
    while sweeps < MAX_SWEEPS:
        sweeps += 1
        moved = False
        for i in range(n_members):
            others = candidates.scattered(current, current_powers, skip=i)
            here = (p1 + ndcg) / 2
            best: tuple[int, float, tuple[float, float]] | None = None
            for power in transformed[i]:
                for value in values:
                    if value == current[i] and power == current_powers[i]:
                        continue
                    data = others.copy()
                    data[positions[i]] += value * transformed[i][power]
                    scored = objective(data)
                    tried += 1
                    if (scored[0] + scored[1]) / 2 > here + 1e-12:
                        best, here = (value, power, scored), (scored[0] + scored[1]) / 2
            if best is not None:
                current[i], current_powers[i], (p1, ndcg) = best
                moved = True
        if not moved:
            break
    weights = np.asarray(current, dtype=np.float64)
    return {"weights": (weights / weights.sum()).tolist(), "powers": current_powers,
            "p@1": p1, "ndcg@5": ndcg, "n_docs": int(candidates.Y.shape[0]), "n_tried": tried,
            "n_sweeps": sweeps}

