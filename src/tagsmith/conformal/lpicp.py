"""Label-powerset inductive conformal prediction (LP-ICP) with pruning.

Each label *set* is a candidate answer (Maltoudoglou et al., Pattern Recognition
122, 2022). With calibrated probabilities ``o(x)`` the nonconformity of a label set
``Y`` is the L1 distance ``a(x, Y) = sum_l |Y_l - o_l(x)|``. With ``q`` calibration
documents' scores ``a_i``, the p-value of ``Y`` is ``(#{a_i >= a(x, Y)} + 1) /
(q + 1)`` and the prediction set at significance ``epsilon`` is every ``Y`` with
p-value above ``epsilon``. **Guarantee**: the true label set is in the prediction
set with probability at least ``1 - epsilon`` (for exchangeable documents).

Pruning, exact: ``p(Y) > epsilon`` iff ``a(x, Y) <= a_(m)``, the ``m``-th largest
calibration score with ``m = floor(epsilon (q + 1))``. Since ``a(x, Y) = a(x, Ŷ) +
sum of flip costs |1 - 2 o_l|`` over the labels where ``Y`` differs from ``Ŷ = {l :
o_l >= 0.5}``, the set is ``Ŷ`` with every combination of flips whose total cost
fits the budget ``a_(m) - a(x, Ŷ)``: labels costlier than the budget never flip.
So the labels in *every* set (``certain``) and in *some* set (``possible``) come
from one comparison per label, and the number of sets from a depth-first count
over the cheap flips (capped) — never an enumeration of ``2^L`` sets.

Per-band variant (``bands``): the labels are split by frequency band and each band
gets its own nonconformity, calibration scores and threshold, so each band's part
of the label set is covered with probability ``1 - epsilon`` (rare labels get their
own guarantee; the whole set is covered with probability at least ``1 - B epsilon``
for ``B`` bands). The prediction set is the product of the bands' sets.

Excluded labels (``exclude``, a boolean mask: labels the model was never trained on,
whose probability is the same for every document) are in no label set and count in no
nonconformity: the guarantee is then that the true label set *less the excluded labels*
is in the prediction set with probability at least ``1 - epsilon``, as the recall sets
leave them out (:mod:`tagsmith.conformal.risk`). Counted, such a label's positives
raised every calibration score by ``1 - o_l`` and its constant probability said nothing
of the document.

Needs every label's probability (``topk.k == n_labels``): it is meant for small
label spaces; use recall control (:mod:`tagsmith.conformal.risk`) for large ones.

>>> import scipy.sparse as sp
>>> rng = np.random.default_rng(0)
>>> probs = TopK.from_scores(rng.random((2000, 4)), k=4)
>>> y = sp.csr_matrix(rng.random((2000, 4)) < probs.to_csr().toarray())
>>> icp = fit_powerset_icp(y[:1000], probs[:1000])
>>> sets = icp.predict(probs[1000:], 0.2)
>>> bool(abs(sets.covers(y[1000:]).mean() - 0.8) < 0.04)
True
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt

from tagsmith._plural import plural_s
from tagsmith._typing import LabelMatrix
from tagsmith.calibration._entries import check_fit_documents, check_labels
from tagsmith.calibration.bands import FrequencyBands
from tagsmith.conformal.risk import check_alpha, check_exclude, saved_excluded
from tagsmith.conformal.sets import without_labels
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics import as_label_matrix
from tagsmith.topk import TopK

#: tolerance of nonconformity comparisons (sums of floats)
TOL = 1e-9
#: label-set counting stops here (the count is then a lower bound)
COUNT_CAP = 1_000_000


def dense_probabilities(topk: TopK) -> np.ndarray:
    """``n x n_labels`` probabilities from a top-k listing every label (small spaces)."""
    if topk.k < topk.n_labels or not topk.valid.all():
        raise InvalidParameterError(
            "topk", f"every label's probability (k = n_labels = {topk.n_labels}); LP-ICP is "
            "for small label spaces, use recall control for large ones", f"k = {topk.k}")
    scores = topk.scores.astype(np.float64)
    # the exact pruning reads a flip of label l as costing |1 - 2 o_l|, which is the
    # change of |Y_l - o_l| only for o_l in [0, 1]: with raw scores (a margin of 1.5)
    # the sets disagreed with the p-values (covers, p_values), silently
    outside = ~((scores >= 0.0) & (scores <= 1.0))  # NaN fails too
    if outside.any():
        raise InvalidParameterError(
            "topk", "calibrated probabilities in [0, 1] (LP-ICP's nonconformity is an L1 "
            "distance to a 0/1 label set)",
            f"{int(outside.sum())} score{plural_s(int(outside.sum()))} outside [0, 1] (range "
            f"[{np.nanmin(scores):g}, {np.nanmax(scores):g}])")
    out = np.zeros((len(topk), topk.n_labels), dtype=np.float64)
    np.put_along_axis(out, topk.indices.astype(np.int64), scores, 1)
    return out


@dataclass
class PowersetSets:
    """LP-ICP prediction sets of a batch (dense ``n x n_labels`` bools: small spaces).

    ``predicted`` is the most credible set ``Ŷ``; ``certain`` the labels in every set
    of the prediction set; ``possible`` those in some set; ``n_sets`` the number of
    label sets (a lower bound where ``capped``: ``count_cap`` or more), counted on first
    read (a weak model's thousands of documents took seconds to count, paid by outputs
    that show none); ``credibility`` the p-value of ``Ŷ``
    (the smallest over bands); ``confidence`` one minus the second largest p-value;
    ``empty`` documents whose prediction set is empty (nothing is typical enough);
    ``abstain`` those empty, with more than ``max_set_size`` possible labels or, if
    given, more than ``max_sets`` label sets (``too_large`` marks these two), or (set by
    :meth:`~tagsmith.pipeline.confidence.ConformalModel.predict`) whose credibility is
    below a ``min_confidence`` (``unsure``). Labels the calibrator excluded
    (:attr:`PowersetICP.excluded`) are in no label set, and :meth:`covers` reads the
    true label set without them.
    """

    icp: PowersetICP
    probabilities: np.ndarray
    predicted: np.ndarray
    certain: np.ndarray
    possible: np.ndarray
    credibility: np.ndarray
    confidence: np.ndarray
    empty: np.ndarray
    abstain: np.ndarray
    epsilon: float
    budget: np.ndarray  # (n, n_groups) flip budget per band
    too_large: np.ndarray | None = None
    unsure: np.ndarray | None = None
    count_cap: int = COUNT_CAP
    _counted: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def n_sets(self) -> np.ndarray:
        """``(n,)`` label sets per document (0 where empty), at most ``count_cap``
        (:attr:`capped` there: a lower bound), counted on first read."""
        if self._counted is None:
            self._counted = self.icp._count_sets(self.probabilities, self.budget, self.empty,
                                                 self.count_cap)
        return self._counted

    @property
    def capped(self) -> np.ndarray:
        """``(n,)`` bool: documents whose :attr:`n_sets` stopped at ``count_cap`` (a
        lower bound of their label sets)."""
        return self.n_sets >= self.count_cap

    def __len__(self) -> int:
        return int(self.predicted.shape[0])

    def __repr__(self) -> str:
        """One line, as :class:`~tagsmith.conformal.sets.LabelSets`: the dataclass repr
        printed the calibrator and every array of the batch.

        >>> rng = np.random.default_rng(0)
        >>> probs = TopK.from_scores(rng.random((200, 3)), k=3)
        >>> y = rng.random((200, 3)) < probs.to_csr().toarray()
        >>> sets = fit_powerset_icp(y[:100], probs[:100]).predict(probs[100:], 0.2)
        >>> repr(sets).startswith("PowersetSets(n_docs=100, n_labels=3, mean_n_sets=")
        True
        """
        n = len(self)
        mean = float(self.n_sets.mean()) if n else 0.0
        return (f"PowersetSets(n_docs={n}, n_labels={self.predicted.shape[1]}, "
                f"mean_n_sets={mean:.4g}, n_empty={int(np.count_nonzero(self.empty))}, "
                f"n_abstain={int(np.count_nonzero(self.abstain))}, "
                f"epsilon={float(self.epsilon):g})")

    @property
    def size(self) -> np.ndarray:
        """``(n,)``: each document's number of label sets, :attr:`n_sets` (the size
        of its prediction set, read as a :class:`~tagsmith.conformal.sets.LabelSets`'
        ``size`` is)."""
        return self.n_sets

    def covers(self, y_true: LabelMatrix) -> np.ndarray:
        """Per document: is its true label set (less the excluded labels, which count in
        no nonconformity) in its prediction set?"""
        y = as_label_matrix(y_true)
        if y.shape != self.predicted.shape:
            raise InvalidParameterError("y_true", f"a label matrix of shape "
                                        f"{self.predicted.shape}", f"shape {y.shape}")
        scores = self.icp.nonconformity(self.probabilities, y.toarray())
        thresholds = self.icp.thresholds(self.epsilon)
        return np.all(scores <= thresholds[None, :] + TOL, axis=1)

    def label_sets(self, i: int, limit: int = 20) -> list[np.ndarray]:
        """The ``limit`` most credible label sets of document ``i`` (cheapest first)."""
        if self.empty[i]:
            return []
        group_of = self.icp.group_of()
        kept = self.icp.kept()
        # the cheapest combinations over the bands, one band at a time: the `limit`
        # cheapest of a sum of costs only need the `limit` cheapest of each part
        combos: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]
        for g in range(self.icp.n_groups):
            labels = np.flatnonzero((group_of == g) & kept)
            costs = np.abs(1.0 - 2.0 * self.probabilities[i, labels])
            options = _flip_sets(labels, costs, self.budget[i, g], limit)
            combos = sorted(((spent + cost, flips + more) for spent, flips in combos
                             for cost, more in options), key=lambda item: item[0])[:limit]
        out = []
        for _, flips in combos:
            chosen = self.predicted[i].copy()
            chosen[list(flips)] ^= True
            out.append(np.flatnonzero(chosen))
        return out

    def summary(self, y_true: LabelMatrix | None = None) -> dict:
        """Mean and median number of label sets (``n_sets_capped`` documents' counts
        stopped at ``n_sets_cap``: where any did, both are lower bounds), labels
        possible and certain, empty and
        abstain rates and, with labels, coverage (of the true label sets less the excluded
        labels; ``n_untrained_positives`` counts their true labels). ``alpha`` is
        ``epsilon`` under the name the other methods' summaries give it (``epsilon`` kept
        for the readers of the summaries written before)."""
        out = {"alpha": self.epsilon, "epsilon": self.epsilon, "n_docs": len(self),
               "n_sets_mean": float(self.n_sets.mean()) if len(self) else 0.0,
               "n_sets_median": float(np.median(self.n_sets)) if len(self) else 0.0,
               # the documents whose count stopped at the cap: where any did, the mean
               # and median are lower bounds (they read as exact without a word)
               "n_sets_capped": int(np.count_nonzero(self.capped)),
               "n_sets_cap": int(self.count_cap),
               "possible_labels_mean": float(self.possible.sum(axis=1).mean()) if len(self)
               else 0.0,
               "certain_labels_mean": float(self.certain.sum(axis=1).mean()) if len(self)
               else 0.0,
               "empty_rate": float(self.empty.mean()) if len(self) else 0.0,
               "abstain_rate": float(self.abstain.mean()) if len(self) else 0.0}
        if y_true is not None:
            out["coverage"] = float(self.covers(y_true).mean()) if len(self) else 0.0
            excluded = self.icp.excluded
            out["n_untrained_positives"] = (
                0 if excluded is None
                else int(as_label_matrix(y_true)[:, np.flatnonzero(excluded)].nnz))
        return out


def _flip_sets(labels: np.ndarray, costs: np.ndarray, budget: float,
               limit: int) -> list[tuple[float, tuple[int, ...]]]:
    """The ``limit`` cheapest (total cost, flipped labels) combinations within budget,
    cheapest first.

    Best-first over the ascending costs: a combination (a run of sorted positions)
    leads to itself plus the next position, and to itself with its last position moved
    one on; each subset is reached once, never cheaper than the one it came from.
    """
    order = np.argsort(costs, kind="stable")
    costs, labels = costs[order].astype(np.float64), labels[order]
    found: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]
    cap = budget + TOL
    heap: list[tuple[float, tuple[int, ...]]] = []
    if costs.size:
        heap.append((float(costs[0]), (0,)))
    while heap and len(found) < limit:
        spent, positions = heapq.heappop(heap)
        if spent > cap:
            break
        found.append((spent, tuple(int(labels[j]) for j in positions)))
        last = positions[-1]
        if last + 1 < costs.size:
            heapq.heappush(heap, (spent + float(costs[last + 1]), (*positions, last + 1)))
            heapq.heappush(heap, (spent - float(costs[last]) + float(costs[last + 1]),
                                  (*positions[:-1], last + 1)))
    return found[:limit]


@functools.cache
def _count_within() -> Callable[..., np.ndarray]:
    """:func:`tagsmith.conformal._lpicp_kernels.count_within` (compiled), imported on
    first use: a calibrated bundle loads (and its ``--sets`` of the other methods are
    made) without numba's 0.8 s import."""
    from tagsmith.conformal._lpicp_kernels import count_within

    return cast(Callable[..., np.ndarray], count_within)


class _Flips(NamedTuple):
    """:meth:`PowersetICP._flips`: ``(n, n_labels)`` arrays but ``best_scores`` and
    ``budget`` (``(n, n_groups)``) and ``empty`` (``(n,)``)."""

    predicted: np.ndarray
    costs: np.ndarray
    best_scores: np.ndarray
    budget: np.ndarray
    empty: np.ndarray
    certain: np.ndarray
    possible: np.ndarray


@dataclass
class PowersetICP:
    """Calibration scores (ascending) per band group: ``scores[indptr[g]:indptr[g+1]]``."""

    indptr: np.ndarray
    scores: np.ndarray
    n_labels: int
    band_of: np.ndarray | None = None
    mean_true_labels: float = 1.0
    excluded: np.ndarray | None = None  # (n_labels,) bool: in no set, counted nowhere

    @property
    def n_excluded(self) -> int:
        """How many labels are in no label set (:attr:`excluded`)."""
        return 0 if self.excluded is None else int(np.count_nonzero(self.excluded))

    def kept(self) -> np.ndarray:
        """``(n_labels,)`` bool: the labels not excluded."""
        return (np.ones(self.n_labels, bool) if self.excluded is None
                else ~self.excluded.astype(bool))

    @property
    def n_groups(self) -> int:
        return int(self.indptr.size - 1)

    def __repr__(self) -> str:
        # one line at a prompt: the dataclass repr printed every calibration score
        return (f"PowersetICP(n_labels={self.n_labels}, n_groups={self.n_groups}, "
                f"n_scores={int(self.scores.size)})")

    def default_max_set_size(self) -> int:
        return max(3, int(np.ceil(3 * self.mean_true_labels)))

    def group_of(self) -> np.ndarray:
        return (np.zeros(self.n_labels, np.int64) if self.band_of is None
                else self.band_of.astype(np.int64))

    def _one_hot(self) -> np.ndarray:
        onehot = np.zeros((self.n_labels, self.n_groups))
        onehot[np.arange(self.n_labels), self.group_of()] = 1.0
        onehot[~self.kept()] = 0.0  # an excluded label counts in no nonconformity
        return onehot

    def nonconformity(self, probabilities: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``(n, n_groups)`` L1 nonconformity of label sets ``y`` (dense 0/1)."""
        return np.abs(np.asarray(y, np.float64) - probabilities) @ self._one_hot()

    def thresholds(self, epsilon: float) -> np.ndarray:
        """Largest admissible nonconformity per group (``+inf``: every set; ``-inf``: none)."""
        epsilon = check_alpha(epsilon, "epsilon")
        out = np.empty(self.n_groups)
        for g in range(self.n_groups):
            scores = self.scores[self.indptr[g]:self.indptr[g + 1]]
            # m = floor(epsilon (q + 1)) with risk.py's 1e-12 relative tolerance, so
            # 0.29 * 100 = 28.999... is 29. A smaller m is the conservative side (a
            # larger threshold, larger sets); without the tolerance m came out one short,
            # and sets held label sets whose p-value is exactly epsilon, which
            # p_values() and "p-value above epsilon" exclude. The tolerance never lifts m
            # past epsilon (q + 1) for the epsilon asked for (its decimal value): only
            # an epsilon within 1e-12 (relative) below m / (q + 1) is read as that value.
            m = int(np.floor(epsilon * (scores.size + 1) * (1 + 1e-12)))
            out[g] = np.inf if m <= 0 else (-np.inf if m > scores.size
                                            else scores[scores.size - m])
        return out

    def p_values(self, scores: np.ndarray) -> np.ndarray:
        """p-values of nonconformity scores ``(n, n_groups)``."""
        out = np.empty_like(scores, dtype=np.float64)
        for g in range(self.n_groups):
            cal = self.scores[self.indptr[g]:self.indptr[g + 1]]
            at_least = cal.size - np.searchsorted(cal, scores[:, g] - TOL, side="left")
            out[:, g] = (at_least + 1) / (cal.size + 1)
        return out

    def predict(self, topk: TopK, epsilon: float, *, max_set_size: int | None = None,
                max_sets: int | None = None, count_cap: int = COUNT_CAP) -> PowersetSets:
        """Prediction sets at significance ``epsilon`` for calibrated ``topk`` (all labels).

        Documents are flagged abstain when their prediction set is empty (nothing is
        typical enough), when more than ``max_set_size`` labels are possible (default:
        3 x the calibration documents' mean number of labels, at least 3) or when
        there are more than ``max_sets`` label sets (default: no limit).
        """
        o, epsilon = self._checked(topk, epsilon)
        flips = self._flips(o, epsilon)
        predicted, costs, best_scores, budget = (flips.predicted, flips.costs,
                                                 flips.best_scores, flips.budget)
        empty, certain, possible = flips.empty, flips.certain, flips.possible
        group, kept = self.group_of(), self.kept()
        p_best = self.p_values(best_scores)
        cheapest = np.full((len(topk), self.n_groups), np.inf)
        for g in range(self.n_groups):
            members = np.flatnonzero((group == g) & kept)
            if members.size:
                cheapest[:, g] = costs[:, members].min(axis=1)
        # a set's p-value is its smallest over the bands; the runner-up to Ŷ flips the
        # cheapest label of one band, so the other bands' p-values of Ŷ cap its own
        p_second = self.p_values(best_scores + cheapest)
        for g in range(self.n_groups if self.n_groups > 1 else 0):
            p_second[:, g] = np.minimum(p_second[:, g], np.delete(p_best, g, axis=1).min(axis=1))
        no_flip = np.bincount(group[kept], minlength=self.n_groups) == 0  # no label to flip
        p_second[:, no_flip] = 0.0
        credibility = p_best.min(axis=1)
        confidence = 1.0 - p_second.max(axis=1)
        too_large = self._too_large(possible, max_set_size)
        sets = PowersetSets(self, o, predicted & ~empty[:, None], certain, possible,
                            credibility, confidence, empty, np.asarray(empty, bool), epsilon,
                            budget, too_large=too_large, unsure=np.zeros(len(topk), bool),
                            count_cap=int(count_cap))
        if max_sets is not None:  # the one flag that needs the count
            too_large |= sets.n_sets > max_sets
        sets.abstain = np.asarray(empty | too_large, bool)
        return sets

    def _count_sets(self, o: np.ndarray, budget: np.ndarray, empty: np.ndarray,
                    count_cap: int) -> np.ndarray:
        """:attr:`PowersetSets.n_sets`: per document the label sets of its flips within
        its bands' ``budget`` (a product over the bands), capped at ``count_cap``; 0 where
        ``empty``."""
        group, kept = self.group_of(), self.kept()
        costs = np.abs(1.0 - 2.0 * o)
        n_sets = np.ones(o.shape[0], dtype=np.int64)
        for g in range(self.n_groups):
            members = np.flatnonzero((group == g) & kept)
            sorted_costs = np.sort(costs[:, members], axis=1)
            counts = _count_within()(sorted_costs, np.minimum(budget[:, g], 1e300), count_cap)
            n_sets = np.minimum(n_sets * counts, count_cap)
        n_sets[empty] = 0
        return n_sets

    def set_sizes(self, topk: TopK, epsilon: float, *,
                  max_set_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(possible labels per document, too_large)`` of :meth:`predict`'s sets without
        counting their label sets (``max_sets``, which needs the count, is not taken):
        what a check of the sets' width reads. Calibrate's check paid predict's count of
        every document's label sets, up to ``count_cap`` each, for these two (22 s on
        2,000 documents of 28 labels with a weak model).

        >>> rng = np.random.default_rng(0)
        >>> probs = TopK.from_scores(rng.random((300, 4)), k=4)
        >>> y = rng.random((300, 4)) < probs.to_csr().toarray()
        >>> icp = fit_powerset_icp(y[:200], probs[:200])
        >>> sizes, too_large = icp.set_sizes(probs[200:], 0.2, max_set_size=2)
        >>> sets = icp.predict(probs[200:], 0.2, max_set_size=2)
        >>> bool((sizes == sets.possible.sum(axis=1)).all())
        True
        >>> bool((too_large == sets.too_large).all())
        True
        """
        o, epsilon = self._checked(topk, epsilon)
        possible = self._flips(o, epsilon).possible
        return possible.sum(axis=1), self._too_large(possible, max_set_size)

    def _checked(self, topk: TopK, epsilon: float) -> tuple[np.ndarray, float]:
        """Dense probabilities of ``topk`` (over this calibrator's labels) and ``epsilon``,
        checked."""
        if topk.n_labels != self.n_labels:
            raise InvalidParameterError("topk", f"probabilities over {self.n_labels} "
                                                f"label{plural_s(self.n_labels)}",
                                        f"{topk.n_labels} label{plural_s(topk.n_labels)}")
        epsilon = check_alpha(epsilon, "epsilon")
        return dense_probabilities(topk), epsilon

    def _flips(self, o: np.ndarray, epsilon: float) -> _Flips:
        """Each document's flips within its bands' budgets at (checked) ``epsilon``:
        :meth:`predict`'s and :meth:`set_sizes`' sets, from one comparison per label."""
        kept = self.kept()
        predicted = (o >= 0.5) & kept[None, :]
        costs = np.abs(1.0 - 2.0 * o)
        best_scores = self.nonconformity(o, predicted)
        thresholds = self.thresholds(epsilon)
        budget = thresholds[None, :] - best_scores + TOL
        label_budget = budget[:, self.group_of()]
        empty = np.any(budget < 0, axis=1)
        flippable = (costs <= label_budget) & ~empty[:, None] & kept[None, :]
        certain = predicted & ~flippable & ~empty[:, None]
        possible = (predicted | flippable) & ~empty[:, None]
        return _Flips(predicted, costs, best_scores, budget, empty, certain, possible)

    def _too_large(self, possible: np.ndarray, max_set_size: int | None) -> np.ndarray:
        """Documents with more than ``max_set_size`` possible labels (default:
        :meth:`default_max_set_size`)."""
        limit = self.default_max_set_size() if max_set_size is None else int(max_set_size)
        return np.asarray(possible.sum(axis=1) > limit, bool)

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        meta = {"n_labels": self.n_labels, "per_band": self.band_of is not None,
                "mean_true_labels": self.mean_true_labels}
        arrays = {"indptr": self.indptr.astype(np.int64), "scores": self.scores}
        if self.band_of is not None:
            arrays["band_of"] = self.band_of.astype(np.int16)
        if self.excluded is not None and self.excluded.any():
            arrays["excluded"] = self.excluded.astype(bool)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> PowersetICP:
        """The LP-ICP ``to_state`` saved; :class:`ValueError` saying what is wrong with any
        other state (a bundle loads it as a damaged bundle): thresholds and p-values read
        the calibration scores by position and by binary search, so unsorted or NaN ones
        gave wrong sets silently."""
        from tagsmith._params import check_int, check_number
        from tagsmith.store.bundle import (
            check_ids,
            check_pointers,
            check_sorted_groups,
            check_values,
        )

        # L1 distances between a label set and probabilities: finite, >= 0
        scores = check_values("LP-ICP scores", arrays["scores"], (None,), low=0)
        indptr = check_pointers("LP-ICP indptr", arrays["indptr"], end=scores.size)
        check_sorted_groups("LP-ICP scores", scores, indptr)
        out = cls(indptr, scores, check_int("LP-ICP n_labels", meta["n_labels"], 0),
                  arrays["band_of"] if meta.get("per_band") else None,
                  check_number("LP-ICP mean_true_labels", meta.get("mean_true_labels", 1.0),
                               0, finite=True))
        if out.band_of is not None:
            out.band_of = check_ids("LP-ICP band_of", out.band_of, out.n_groups,
                                    shape=(out.n_labels,), dtype=np.int16)
        elif out.n_groups != 1:
            raise ValueError(f"LP-ICP without bands has {out.n_groups} groups, expected 1")
        out.excluded = saved_excluded(arrays, out.n_labels, "LP-ICP")
        return out


def fit_powerset_icp(y_true: LabelMatrix, topk: TopK, *,
                     bands: FrequencyBands | None = None,
                     exclude: npt.ArrayLike | None = None) -> PowersetICP:
    """Calibration scores of the true label sets of held-out documents.

    ``topk`` holds their calibrated probabilities for every label; ``y_true`` their
    labels. The documents must be unseen by the model and by the calibrator.
    ``exclude`` (a boolean mask over the labels, as
    :func:`~tagsmith.conformal.risk.fit_recall_control`'s): labels in no label set,
    counted in no nonconformity (see the module docstring).
    """
    excluded = check_exclude(exclude, topk)
    y = (check_labels(y_true, topk) if excluded is None
         else without_labels(y_true, excluded, topk))
    check_fit_documents(y.shape[0], "a powerset ICP")
    band_of = None
    if bands is not None:
        if bands.n_labels != topk.n_labels:
            raise InvalidParameterError("bands", f"bands over {topk.n_labels} "
                                                 f"label{plural_s(topk.n_labels)}",
                                        f"{bands.n_labels} label{plural_s(bands.n_labels)}")
        band_of = bands.band_of
    icp = PowersetICP(np.zeros(2, np.int64), np.zeros(0), topk.n_labels, band_of,
                      excluded=excluded)
    n_groups = 1 if band_of is None else bands.n_bands  # type: ignore[union-attr]
    icp.indptr = np.zeros(n_groups + 1, np.int64)
    scores = icp.nonconformity(dense_probabilities(topk), y.toarray())
    icp.scores = np.concatenate([np.sort(scores[:, g]) for g in range(n_groups)])
    icp.indptr = np.arange(n_groups + 1, dtype=np.int64) * scores.shape[0]
    n_true = np.diff(y.indptr)
    icp.mean_true_labels = float(n_true[n_true > 0].mean()) if (n_true > 0).any() else 1.0
    return icp
