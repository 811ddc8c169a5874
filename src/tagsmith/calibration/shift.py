"""Label shift: estimate how label frequencies changed in a deployment corpus, and adapt.

When the share of each label differs between the data a model was calibrated on
(source) and the documents it now labels (target), but documents of a given label
still look the same, calibrated probabilities are off by the prior ratio. Each
label is treated as its own binary problem with source prior ``pi_s`` and unknown
target prior ``pi_t`` (label co-occurrence shift is ignored). With ``w1 = pi_t /
pi_s`` and ``w0 = (1 - pi_t) / (1 - pi_s)`` the adjusted probability is

    r = w1 p / (w1 p + w0 (1 - p)).

Estimators of ``pi_t`` from *unlabelled* target documents:

* ``"em"`` (Saerens, Latinne & Decaestecker 2002): start at ``pi_s``, alternate
  ``r`` (E-step) and ``pi_t = mean r`` (M-step) until it settles. Needs calibrated
  ``p`` and a ``pi_s`` consistent with them: the source prior is the mean calibrated
  probability on the calibration documents (:attr:`Calibrator.source_prior`), so
  with no shift EM stays where it starts.
* ``"bbse"`` (black-box shift estimation, Lipton, Wang & Smola 2018, soft per-label
  form): from labelled source documents, ``m1 = E[p | y = 1]`` and ``m0 = E[p | y =
  0]``; the target's mean ``p`` is ``m1 pi_t + m0 (1 - pi_t)``, solved for ``pi_t``.
  Needs enough source positives per label and a clear gap ``m1 - m0``; other labels
  use EM's estimate. Suits small label spaces.

Labels outside a document's top-k take their tail probability (their adjusted
tail is ``r`` of it), so the estimates cover every label without a dense matrix.

Few documents cannot tell a rare label's prior: per-label maximum likelihood then
drives many priors to 0 and inflates others, which hurts more than it helps (on
yso-finna-en, 25k labels, EM on 33k unshifted test documents moved the estimated
label distribution *away* from the truth and cost 9 points of micro-F1). So only
labels with a soft count ``sum_n p_n`` of at least ``min_count`` in the target
documents are re-estimated; the others keep their source prior (``frozen``). So do
labels whose probabilities do not vary over the documents (within ``FLAT``): the
likelihood then says nothing about the prior, and EM, following rounding, ran to 0 or
1. An estimate never reaches 0 or 1 either: it stays at least half a document
(``0.5 / n_docs``) inside [0, 1], or at the source prior where that is nearer the edge,
so no adjusted probability is exactly 0 or 1.

The estimate also rests on the calibration documents: ``pi_s`` and the calibrated
probabilities were measured there, and EM (or BBSE) divides the target's small
departures from them by how well the probabilities separate the label, so a label
with few calibration positives can move far on documents with no shift at all
(GoEmotions, 500 set-aside calibration documents, 500 unshifted test documents at
``min_count=5``: ``embarrassment`` 0.008 -> 0.056 on some 4 calibration positives,
total variation 0.23). Each estimate gets a first-order standard error (EM's): the
target documents' sampling, ``1 / sqrt(I)`` with ``I`` the Fisher information
``sum_n ((r_n - pi) / (pi (1 - pi)))^2`` (``r_n`` the probabilities adjusted to ``pi``)
taken at the estimate smoothed as Laplace's rule does a proportion, ``(n_docs pi_t +
1) / (n_docs + 2)`` (at the source prior alone,
5 documents that moved a label from 0.025 to 0.475 had the error of a rare label's
sampling, 0.029, where at 0.475 they tell it to no better than ``sqrt(0.475 x 0.525 /
5)``, 0.22; the shrinking keeps an estimate EM put at 0 or 1 on a few documents from
being told to nearly nothing; the larger of the errors at the source prior and at the
estimate overstated a falling label's: 0.2 -> 0.05 on 500 documents, 0.029 for a spread
of 0.013), and, given
``source_docs``, the calibration's, whose rate ``pi_s`` is known to
``sqrt(pi_s (1 - pi_s) / source_docs)`` and moves the estimate by that times ``n_docs
/ (I pi_s (1 - pi_s)) - 1`` (``I`` at ``pi_s``; the derivative of EM's estimate in
``pi_s``: near 0 for a label whose probabilities separate it cleanly, which EM counts
whatever ``pi_s`` says;
the ``- 1`` left out overstated such a label's error by the calibration's whole
``sqrt(pi_s (1 - pi_s) / source_docs)``). It misses the calibration curve's own error,
which dominates for labels with few calibration positives (or negatives), so a label
estimated on fewer than :data:`MIN_SOURCE_POSITIVES` expected calibration positives
(``pi_s x source_docs``) or negatives (``(1 - pi_s) x source_docs``) is ``weak``
whatever its error says. A change within :data:`SUPPORT_Z` standard
errors, or of a weak label, is ``unsupported``: the report counts and names those
labels and gives the shift without them.

>>> rng = np.random.default_rng(0)
>>> y = rng.random((4000, 2)) < [0.6, 0.2]     # target priors 0.6 and 0.2
>>> x = rng.normal(np.where(y, 1.0, -1.0))     # x | y ~ N(+-1, 1): likelihood ratio e^(2x)
>>> p = 0.3 * np.exp(2 * x) / (0.3 * np.exp(2 * x) + 0.7)  # calibrated for priors 0.3
>>> shift = estimate_label_shift(TopK.from_scores(p, 2), source_prior=np.array([0.3, 0.3]))
>>> bool(np.allclose(shift.target_prior, [0.6, 0.2], atol=0.05))
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from tagsmith._params import check_choice, check_int, check_number
from tagsmith._plural import plural, plural_s
from tagsmith._typing import LabelMatrix
from tagsmith.calibration._entries import check_labels, collect_entries
from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import TopK, check_topk

METHODS = ("em", "bbse")
#: soft count (sum of a label's probabilities over the target documents) below which a
#: label keeps its source prior
DEFAULT_MIN_COUNT = 50.0
_CLIP = 1e-9
#: expected calibration positives (source prior x calibration documents), or negatives,
#: below which a label's estimate is too weakly supported to read as a shift (BBSE's
#: default ``min_positives`` too, which it checks of both)
MIN_SOURCE_POSITIVES = 20.0
#: a change within this many standard errors is not told from no shift
SUPPORT_Z = 2.0
#: probabilities of a label spread less than this over the documents tell nothing of
#: its prior: the label keeps its source prior
FLAT = 1e-6
#: an adjusted probability strictly inside (0, 1) stays inside it once stored as float32
_F32_ABOVE_ZERO = float(np.finfo(np.float32).tiny)
_F32_BELOW_ONE = float(np.nextafter(np.float32(1.0), np.float32(0.0)))


def _check_probabilities(name: str, values: npt.ArrayLike) -> np.ndarray:
    """``values`` (float64) once every one is a probability in [0, 1], else an error
    naming ``name``: EM, BBSE and the adjustment read them as probabilities, and raw
    scores (a squared-hinge margin of 2, a negative one) gave estimates and "adjusted
    probabilities" outside [0, 1] (negative, or above 1), silently."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~((values >= 0.0) & (values <= 1.0))  # NaN fails too
    if bad.any():
        found = values[bad]
        raise InvalidParameterError(
            name, "calibrated probabilities in [0, 1]",
            f"{int(np.isnan(found).sum())} NaN value{plural_s(int(np.isnan(found).sum()))}"
            if np.isnan(found).any()
            else f"{found.size} score{plural_s(found.size)} outside [0, 1] (range "
            f"[{values.min():g}, {values.max():g}])")
    return values


def prior_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Total variation between two label-frequency vectors, each normalised to sum 1.

    >>> round(prior_distance([0.2, 0.2], [0.1, 0.3]), 6)
    0.25
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(0.5 * np.abs(a / max(a.sum(), _CLIP) - b / max(b.sum(), _CLIP)).sum())


@dataclass
class LabelShift:
    """Estimated target priors (``(n_labels,)``) against the source priors."""

    method: str
    source_prior: np.ndarray
    target_prior: np.ndarray
    n_docs: int
    iterations: int = 0
    converged: bool = True
    estimated_by_em: np.ndarray | None = None  # bbse: labels that fell back to EM
    frozen: np.ndarray | None = None  # labels with too little evidence, kept at the source
    min_count: float | None = None  # the evidence a label needed to be re-estimated
    flat: np.ndarray | None = None  # frozen labels whose probabilities did not vary
    source_docs: int | None = None  # calibration documents the source prior was measured on
    standard_error: np.ndarray | None = None  # first-order, per label (module docstring)
    #: when it was estimated, ISO 8601 UTC to the second (None: a bundle saved before it
    #: was recorded, or a shift built by hand)
    estimated_at: str | None = None

    @property
    def n_labels(self) -> int:
        """The number of labels of the label space the shift was estimated over."""
        return int(self.source_prior.size)

    @property
    def n_flat(self) -> int:
        """Labels kept at the source prior because their probabilities did not vary."""
        return 0 if self.flat is None else int(np.count_nonzero(self.flat))

    @property
    def n_frozen(self) -> int:
        """Labels left at their source prior for lack of evidence (soft count < min_count)."""
        return 0 if self.frozen is None else int(np.count_nonzero(self.frozen))

    @property
    def n_estimated(self) -> int:
        """Labels whose target prior was actually estimated."""
        return self.n_labels - self.n_frozen

    @property
    def source_positives(self) -> np.ndarray | None:
        """Expected positives of each label among the calibration documents
        (``source_prior x source_docs``); None when their number is unknown."""
        return None if self.source_docs is None else self.source_prior * self.source_docs

    @property
    def source_negatives(self) -> np.ndarray | None:
        """Expected negatives of each label among the calibration documents
        (``(1 - source_prior) x source_docs``); None when their number is unknown."""
        return None if self.source_docs is None else (1.0 - self.source_prior) * self.source_docs

    @property
    def weak(self) -> np.ndarray:
        """Labels estimated (not frozen) on fewer than :data:`MIN_SOURCE_POSITIVES`
        expected calibration positives or negatives (the smaller of the two, as BBSE's
        ``min_positives`` checks both): their estimate can move far with no shift. A
        label in nearly every calibration document (0.99 of 200: some 2 negatives) is as
        weakly supported as one in nearly none. None is marked when the number of
        calibration documents is unknown."""
        positives, negatives = self.source_positives, self.source_negatives
        if positives is None or negatives is None:
            return np.zeros(self.n_labels, dtype=bool)
        return self._estimated() & (np.minimum(positives, negatives) < MIN_SOURCE_POSITIVES)

    def _estimated(self) -> np.ndarray:
        return np.ones(self.n_labels, bool) if self.frozen is None else ~self.frozen

    @property
    def unsupported(self) -> np.ndarray:
        """Labels estimated whose change the evidence does not support: weak ones
        (:attr:`weak`) and those within :data:`SUPPORT_Z` standard errors of their
        source prior (none marked so without ``standard_error``)."""
        out = self.weak
        if self.standard_error is not None:
            change = np.abs(self.target_prior - self.source_prior)
            out = out | (self._estimated() & ~(change > SUPPORT_Z * self.standard_error))
        return out

    def without_unsupported(self) -> LabelShift:
        """This shift with every :attr:`unsupported` label back at its source prior (the
        shift ``report``'s ``total_variation_supported``): what ``shift --save`` stores
        unless told to apply such labels too.

        >>> shift = LabelShift("em", np.array([0.1, 0.2]), np.array([0.3, 0.25]), n_docs=90,
        ...                    standard_error=np.array([0.01, 0.05]))
        >>> shift.without_unsupported().target_prior.tolist()
        [0.3, 0.2]
        """
        return replace(self, target_prior=np.where(self.unsupported, self.source_prior,
                                                   self.target_prior))

    def __repr__(self) -> str:
        """One line at a prompt: the dataclass repr printed both priors and every mask.

        >>> LabelShift("em", np.full(300, 0.1), np.full(300, 0.2), n_docs=50, iterations=7,
        ...            frozen=np.arange(300) < 2)  # doctest: +NORMALIZE_WHITESPACE
        LabelShift(method='em', n_labels=300, n_estimated=298, n_docs=50, iterations=7,
                   converged=True)
        """
        return (f"LabelShift(method={self.method!r}, n_labels={self.n_labels}, "
                f"n_estimated={self.n_estimated}, n_docs={self.n_docs}, "
                f"iterations={self.iterations}, converged={self.converged})")

    def ratios(self) -> tuple[np.ndarray, np.ndarray]:
        """``(w1, w0)`` per label; both priors are clipped alike, so a label whose
        target prior equals its source prior has ratios 1 even at 0 or 1 (a source
        prior of 0 kept by a frozen label made every adjusted probability of it 0)."""
        source = np.clip(self.source_prior, _CLIP, 1 - _CLIP)
        target = np.clip(self.target_prior, _CLIP, 1 - _CLIP)
        return target / source, (1.0 - target) / (1.0 - source)

    def adjust_probabilities(self, labels: npt.ArrayLike, probabilities: npt.ArrayLike
                             ) -> np.ndarray:
        """Adjusted probability of each (label, probability) pair (probabilities in
        [0, 1], else an error naming ``probabilities``)."""
        w1, w0 = self.ratios()
        labels = np.asarray(labels, dtype=np.int64)
        p = _check_probabilities("probabilities", probabilities)
        num = w1[labels] * p
        den = num + w0[labels] * (1.0 - p)
        r = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        # adjust stores float32, whose rounding took an r within 2^-25 of 1 (a large
        # shift of a confident probability) to exactly 1: a probability strictly inside
        # (0, 1) stays inside, as the estimates do
        inside = (p > 0.0) & (p < 1.0)
        return np.where(inside, np.clip(r, _F32_ABOVE_ZERO, _F32_BELOW_ONE), r)

    def adjust(self, topk: TopK) -> TopK:
        """``topk`` of calibrated probabilities, adjusted and re-sorted."""
        check_topk(topk)
        if topk.n_labels != self.n_labels:
            raise InvalidParameterError("topk", f"probabilities over {self.n_labels} "
                                                f"label{plural_s(self.n_labels)}",
                                        f"{topk.n_labels} label{plural_s(topk.n_labels)}")
        _check_probabilities("topk", topk.scores[topk.valid])
        return topk.rescored(self.adjust_probabilities)

    def adjust_tail(self, tail: np.ndarray) -> np.ndarray:
        """``tail``, one probability per label (a calibrator's probability of a label
        outside the top-k), adjusted to the new priors as :meth:`adjust_probabilities`
        adjusts each label's."""
        return self.adjust_probabilities(np.arange(self.n_labels), tail)

    def adjust_thresholds(self, per_label: npt.ArrayLike) -> np.ndarray:
        """Thresholds on *unadjusted* probabilities that decide as ``per_label`` does on
        adjusted ones: ``r >= t`` iff ``p >= t'`` for every float32 probability ``p`` in
        [0, 1], with ``r`` the adjusted probability as :meth:`adjust` stores it (float32)
        and ``t``, ``t'`` float32, as :meth:`TopK.label_sets` reads thresholds.

        The closed form ``t' = w0 t / (w1 (1 - t) + w0 t)``, rounded to float32, could
        disagree at the boundary: a score one float32 step either side of it decided
        otherwise than its rounded adjusted probability. ``r`` never falls as ``p``
        rises, so ``t'`` is found exactly instead: the smallest float32 ``p`` whose
        ``r`` passes, by bisection over the float32 bit patterns of [0, 1] (which order
        as the numbers do). Where no ``p`` in [0, 1] passes, ``t'`` is the float32 just
        above 1.
        """
        n = self.n_labels
        t = np.broadcast_to(np.asarray(per_label, dtype=np.float32), (n,))
        labels = np.arange(n)

        def passes(p: np.ndarray) -> np.ndarray:
            return self.adjust_probabilities(labels, p).astype(np.float32) >= t

        one = np.float32(1.0)
        lo = np.zeros(n, np.int64)  # bit patterns: 0.0 is 0, and 1.0 the largest here
        hi = np.full(n, int(np.array(one).view(np.int32)), np.int64)
        while np.any(lo < hi):  # the smallest passing pattern in [lo, hi]: ~30 rounds
            mid = lo + (hi - lo) // 2
            ok = passes(mid.astype(np.int32).view(np.float32))
            hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid + 1)
        out = lo.astype(np.int32).view(np.float32).copy()
        out[~passes(np.full(n, one))] = np.nextafter(one, np.float32(2.0))
        return out

    def total_variation(self) -> float:
        """Estimated shift: total variation between source and target label frequencies."""
        return prior_distance(self.source_prior, self.target_prior)

    def report(self, names: Sequence[str] | Callable[[int], str] | None = None,
               top: int = 10) -> dict:
        """Summary: the shift's size and the labels whose share changed most.

        ``names``: every label's name in id order, or a function naming a label id,
        called only for the (at most ``top``) labels listed: naming all 25k labels of
        a thesaurus in a Python loop to show ten of them took longer than the report.
        """
        change = self.target_prior - self.source_prior
        by_change = np.argsort(-np.abs(change), kind="stable")
        order = by_change[:top]
        order = order[change[order] != 0]  # labels left at their prior did not change
        positives, negatives = self.source_positives, self.source_negatives
        unsupported = self.unsupported  # a property over every label: once, not per row
        name_of: Callable[[int], str] | None
        if names is None or callable(names):
            name_of = names
        else:  # a list of every name: an empty one names nothing, as before
            listed = names
            name_of = (lambda i: listed[i]) if len(listed) else None
        return {"method": self.method, "n_docs": self.n_docs,
                "total_variation": round(self.total_variation(), 6),
                "iterations": self.iterations, "converged": self.converged,
                "n_labels": self.n_labels, "n_labels_estimated": self.n_estimated,
                "n_labels_frozen": self.n_frozen, "n_labels_flat": self.n_flat,
                **({} if self.min_count is None else {"min_count": self.min_count}),
                "labels_per_doc_source": round(float(self.source_prior.sum()), 4),
                "labels_per_doc_target": round(float(self.target_prior.sum()), 4),
                "largest_changes": [
                    {"label_id": int(i), **({"label": name_of(int(i))} if name_of else {}),
                     "source_prior": round(float(self.source_prior[i]), 6),
                     "target_prior": round(float(self.target_prior[i]), 6),
                     **({} if positives is None or negatives is None else
                        {"calibration_positives": round(float(positives[i]), 1),
                         "calibration_negatives": round(float(negatives[i]), 1)}),
                     **({} if self.standard_error is None else
                        {"standard_error": round(float(self.standard_error[i]), 6),
                         "supported": not bool(unsupported[i])})}
                    for i in order],
                **self._support_report()}

    def _support_report(self) -> dict:
        """How many estimated labels the evidence does not support, and the shift without
        them (at their source prior)."""
        unsupported = self.unsupported
        without = np.where(unsupported, self.source_prior, self.target_prior)
        weak = self.weak
        few_positives = weak.copy()
        if self.source_positives is not None:
            few_positives &= self.source_positives < MIN_SOURCE_POSITIVES
        # n_labels_few_calibration_positives keeps its name and meaning (few positives);
        # n_labels_few_calibration_examples counts every weak label (few positives or
        # few negatives), which the warning gives
        return {**({} if self.source_docs is None else
                   {"calibration_docs": self.source_docs,
                    "min_calibration_positives": MIN_SOURCE_POSITIVES,
                    "n_labels_few_calibration_positives": int(np.count_nonzero(few_positives)),
                    "n_labels_few_calibration_examples": int(np.count_nonzero(weak))}),
                "n_labels_unsupported": int(np.count_nonzero(unsupported)),
                "total_variation_supported": round(prior_distance(self.source_prior,
                                                                  without), 6)}

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The shift as a bundle saves it: JSON-able ``meta`` and named arrays
        (:meth:`from_state` reads them back)."""
        # the date and the total variation (what is applied, of the labels saved) let
        # `tagsmith info` say which shift a bundle holds; neither is read back but the date
        meta = {"method": self.method, "n_docs": self.n_docs, "iterations": self.iterations,
                "converged": self.converged, "n_labels": self.n_labels,
                "total_variation": round(self.total_variation(), 6)}
        if self.estimated_at is not None:
            meta["estimated_at"] = self.estimated_at
        if self.min_count is not None:
            meta["min_count"] = self.min_count
        if self.source_docs is not None:
            meta["source_docs"] = self.source_docs
        arrays = {"source_prior": self.source_prior, "target_prior": self.target_prior}
        if self.estimated_by_em is not None:
            arrays["estimated_by_em"] = self.estimated_by_em.astype(bool)
        if self.frozen is not None:
            arrays["frozen"] = self.frozen.astype(bool)
        if self.flat is not None:
            arrays["flat"] = self.flat.astype(bool)
        if self.standard_error is not None:
            arrays["standard_error"] = self.standard_error.astype(np.float64)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> LabelShift:
        """The label shift ``to_state`` saved; :class:`ValueError` saying what is wrong with
        any other state (a bundle loads it as a damaged bundle).

        Checked here, not when probabilities are adjusted: 2-D priors loaded, then failed
        on every text with an IndexError; a NaN prior or one outside [0, 1] (string ones
        were parsed as numbers) gave NaN or negative probabilities silently, and masks of
        another shape miscounted the labels estimated.
        """
        from tagsmith.store.bundle import check_values

        if meta["method"] not in METHODS:
            raise ValueError(f"unknown label-shift method {meta['method']!r}")
        n_labels = check_int("label-shift n_labels", meta["n_labels"], 0)
        source_prior, target_prior = (
            check_values(f"label-shift {name}", arrays[name], (n_labels,), low=0, high=1)
            for name in ("source_prior", "target_prior"))
        standard_error = arrays.get("standard_error")
        if standard_error is not None:
            standard_error = check_values("label-shift standard_error", standard_error,
                                          (n_labels,), low=0, finite=False)
        masks = {}
        for name in ("estimated_by_em", "frozen", "flat"):
            mask = arrays.get(name)
            if mask is not None and (mask.dtype != np.bool_ or mask.shape != (n_labels,)):
                raise ValueError(f"label-shift {name} is not {n_labels} "
                                 f"{plural(n_labels, 'boolean', 'booleans')}, one per "
                                 f"label (dtype {mask.dtype}, shape {mask.shape})")
            masks[name] = mask
        converged = meta.get("converged", True)
        if not isinstance(converged, bool):
            raise ValueError(f"label-shift converged is {converged!r}, not true or false")
        estimated_at = meta.get("estimated_at")  # absent in bundles saved before it
        if estimated_at is not None:
            try:
                datetime.fromisoformat(estimated_at)
            except (TypeError, ValueError):
                raise ValueError(f"label-shift estimated_at is {estimated_at!r}, not an ISO "
                                 "8601 date") from None
        return cls(meta["method"], source_prior, target_prior,
                   check_int("label-shift n_docs", meta["n_docs"], 1),
                   check_int("label-shift iterations", meta.get("iterations", 0), 0), converged,
                   masks["estimated_by_em"], masks["frozen"],
                   check_number("label-shift min_count", meta.get("min_count"), 0, finite=True,
                                allow_none=True),
                   masks["flat"],
                   check_int("label-shift source_docs", meta.get("source_docs"), 1,
                             allow_none=True), standard_error, estimated_at)


def _probabilities(n_labels: int) -> str:
    """'1 probability in [0, 1]', '3 probabilities in [0, 1]'."""
    return f"{n_labels} {plural(n_labels, 'probability', 'probabilities')} in [0, 1]"


def _check_per_label(name: str, values: npt.ArrayLike, n_labels: int) -> np.ndarray:
    """``values`` (float64) once they are ``n_labels`` probabilities in [0, 1] (the
    source prior, the tail), else an error naming ``name``."""
    out = np.asarray(values, dtype=np.float64)
    if out.shape != (n_labels,):
        raise InvalidParameterError(name, _probabilities(n_labels), f"shape {out.shape}")
    if not np.all((out >= 0) & (out <= 1)):  # NaN fails too
        # the right shape with a NaN or a 1.5 was refused as got 'shape (3,)'
        n_nan = int(np.isnan(out).sum())
        raise InvalidParameterError(name, _probabilities(n_labels),
                                    f"{n_nan} NaN value{plural_s(n_nan)}" if n_nan
                                    else f"range [{out.min()}, {out.max()}]")
    return out


def estimate_label_shift(topk: TopK, *, source_prior: npt.ArrayLike,
                         tail: npt.ArrayLike | None = None, method: str = "em",
                         source_y: LabelMatrix | None = None, source_topk: TopK | None = None,
                         bbse_topk: TopK | None = None, max_iter: int = 1000, tol: float = 1e-7,
                         min_positives: int = 20, min_gap: float = 0.1,
                         min_count: float = DEFAULT_MIN_COUNT,
                         prior_strength: float = 0.0,
                         source_docs: int | None = None) -> LabelShift:
    """Target label priors of the unlabelled documents in ``topk`` (calibrated probabilities).

    ``source_prior`` (``(n_labels,)``): priors the probabilities were calibrated under;
    ``tail`` (``(n_labels,)``, default 0): probability of a label outside a document's
    top-k. ``"bbse"`` also needs labelled source documents: ``source_y`` and their
    calibrated ``source_topk``; labels with fewer than ``min_positives`` source
    positives or a gap ``E[p|y=1] - E[p|y=0]`` below ``min_gap`` use EM's estimate.
    BBSE compares the source statistics with the target documents' mean probabilities,
    so both must come from the same candidates: where ``source_topk`` holds another
    top-k width than ``topk``, ``bbse_topk`` gives the target documents' probabilities
    at the source's width (default: ``topk``, which EM reads; with ``"em"`` it is
    refused, as EM would ignore it).
    Labels whose soft count in the target (sum of their probabilities) is below
    ``min_count`` (default 50; 0 estimates every label) keep their source prior: the
    result's ``frozen`` marks them and ``n_estimated`` counts the others (0 when the
    documents are too few to tell anything); so do labels whose probabilities do not
    vary (``flat``). Estimates stay ``0.5 / n_docs`` inside [0, 1] (or at the source
    prior, where that is nearer the edge). ``prior_strength`` (pseudo-documents at the
    source prior, default 0) also pulls EM toward no shift. ``max_iter`` counts EM
    steps. ``source_docs`` (the number of calibration documents ``source_prior`` was
    measured on; None: unknown) marks the estimated labels with fewer than
    :data:`MIN_SOURCE_POSITIVES` expected positives there (:attr:`LabelShift.weak`)
    and adds the calibration's share to each label's ``standard_error``.
    """
    method = check_choice("method", method, METHODS)
    n_labels = check_topk(topk).n_labels
    prior = _check_per_label("source_prior", source_prior, n_labels)
    tail_arr = (np.zeros(n_labels) if tail is None
                else _check_per_label("tail", tail, n_labels))
    n_docs = len(topk)
    if n_docs == 0:
        raise InvalidParameterError("topk", "at least one document", "none")
    valid = topk.valid
    labels = topk.indices[valid].astype(np.int64)
    p = _check_probabilities("topk", topk.scores[valid])
    absent = n_docs - np.bincount(labels, minlength=n_labels)
    check_number("prior_strength", prior_strength, 0, numpy=True)
    min_count = check_number("min_count", min_count, 0, finite=True, numpy=True)
    # unchecked, a string max_iter was a bare TypeError, a NaN tol never converged, and
    # min_gap=0 let a label whose probabilities do not separate its positives (gap 0)
    # through BBSE: a division by zero, read as target prior 1
    max_iter = check_int("max_iter", max_iter, 1, numpy=True)
    source_docs = check_int("source_docs", source_docs, 1, allow_none=True, numpy=True)
    tol = check_number("tol", tol, 0, strict=True, finite=True, numpy=True)
    min_positives = check_int("min_positives", min_positives, 0, numpy=True)
    min_gap = check_number("min_gap", min_gap, 0, strict=True, finite=True, numpy=True)
    if method == "em" and bbse_topk is not None:
        # EM reads topk alone: probabilities at another width were ignored silently, and
        # a caller who meant them for the estimate got topk's instead
        raise InvalidParameterError("bbse_topk", "None with method 'em' (only BBSE reads "
                                    "it; EM estimates from topk)",
                                    f"a {type(bbse_topk).__name__}")
    if method == "bbse":
        if source_y is None or source_topk is None:
            raise InvalidParameterError("source_y", "labelled source documents for BBSE "
                                        "(source_y and source_topk)", None)
        if not isinstance(source_topk, TopK) or source_topk.n_labels != n_labels:
            raise InvalidParameterError(
                "source_topk", f"a TopK of probabilities over the {n_labels} "
                               f"label{plural_s(n_labels)}",
                f"{source_topk.n_labels} "
                f"label{plural_s(source_topk.n_labels)}" if isinstance(source_topk, TopK)
                else type(source_topk).__name__)
        source_y = check_labels(source_y, source_topk, "source_y")  # before the EM run
        _check_probabilities("source_topk", source_topk.scores[source_topk.valid])
    soft_count = np.bincount(labels, weights=p, minlength=n_labels) + absent * tail_arr
    if method == "bbse":  # checked before the EM run; at topk's own width its soft counts
        bbse_mean = soft_count / n_docs if bbse_topk is None else _bbse_target_mean(
            bbse_topk, tail_arr, n_docs)
    flat = _flat(labels, p, absent, tail_arr)
    frozen = (soft_count < min_count) | flat
    # the labels are independent problems: EM only reads the entries of the others
    active = ~frozen[labels]
    target, iterations, converged = _EM(labels[active], p[active], absent, tail_arr, prior,
                                        n_docs, float(prior_strength), ~frozen
                                        ).run(max_iter, tol)
    fallback = None
    if method == "bbse":
        assert source_topk is not None
        estimate, usable = _bbse(source_y, source_topk, tail_arr, bbse_mean, min_positives,
                                 min_gap)
        target, fallback = np.where(usable, estimate, target), ~usable
    edge = 0.5 / n_docs  # half a document: never exactly 0 or 1, nor past the source prior
    target = np.clip(target, np.minimum(prior, edge), np.maximum(prior, 1.0 - edge))
    target = np.where(frozen, prior, target)
    return LabelShift(method, prior, target, n_docs, iterations, converged, fallback, frozen,
                      min_count, flat, source_docs,
                      _standard_error(labels, p, absent, tail_arr, prior, target, n_docs,
                                      source_docs),
                      datetime.now(UTC).isoformat(timespec="seconds"))


def _information(labels: np.ndarray, p: np.ndarray, absent: np.ndarray, tail: np.ndarray,
                 source: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Fisher information of each label's target prior at ``at`` (probabilities calibrated
    under ``source``, both clipped inside (0, 1)): ``sum_n ((r_n - at) / (at (1 - at)))^2``
    with ``r_n`` the probabilities adjusted to ``at`` (``p_n`` itself at the source)."""
    n_labels = source.size
    w1, w0 = at / source, (1.0 - at) / (1.0 - source)
    num = w1[labels] * p
    den = num + w0[labels] * (1.0 - p)
    r = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    tail_num = w1 * tail
    tail_den = tail_num + w0 * (1.0 - tail)
    r_tail = np.divide(tail_num, tail_den, out=np.zeros(n_labels), where=tail_den > 0)
    return (np.bincount(labels, weights=(r - at[labels]) ** 2, minlength=n_labels)
            + absent * (r_tail - at) ** 2) / (at * (1.0 - at)) ** 2


def _standard_error(labels: np.ndarray, p: np.ndarray, absent: np.ndarray, tail: np.ndarray,
                    prior: np.ndarray, target: np.ndarray, n_docs: int,
                    source_docs: int | None) -> np.ndarray:
    """First-order standard error of each label's EM estimate: the target documents'
    sampling, at the ``target`` estimate smoothed as a proportion with a positive and a
    negative pseudo-document, and, with ``source_docs``, the calibration
    rate's at the source prior (see the module docstring); infinite where the
    probabilities carry no information."""
    source = np.clip(prior, _CLIP, 1 - _CLIP)
    spread = source * (1.0 - source)
    information = _information(labels, p, absent, tail, source, source)
    # at the source prior alone, a label that moved from 0.025 to 0.475 on 5 documents
    # had the error of a rare label's sampling (0.029) and read as supported; at the
    # estimate itself, one EM put near 0 or 1 on a few documents would be told to
    # nearly nothing: smoothed, five documents tell 0.475 to some +-0.35. (The larger
    # of the two errors overstated falling labels: 0.2 -> 0.05 on 500 documents, spread
    # 0.013, was given 0.029.)
    smoothed = (n_docs * target + 1.0) / (n_docs + 2.0)
    at_target = _information(labels, p, absent, tail, source,
                             np.clip(smoothed, _CLIP, 1 - _CLIP))
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = 1.0 / at_target
        if source_docs is not None:
            # d(estimate)/d(pi_s) = 1 - n_docs / (I spread): the source prior moves both
            # the starting point and, the other way, the target's departures from it
            slope = n_docs / (information * spread) - 1.0
            variance = variance + slope ** 2 * spread / source_docs
    return np.where(information > 0, np.sqrt(variance), np.inf)


def _flat(labels: np.ndarray, p: np.ndarray, absent: np.ndarray, tail: np.ndarray
          ) -> np.ndarray:
    """Labels whose probabilities (the tail for the documents that do not list them)
    spread less than :data:`FLAT`."""
    low = np.where(absent > 0, tail, np.inf)
    high = np.where(absent > 0, tail, -np.inf)
    np.minimum.at(low, labels, p)
    np.maximum.at(high, labels, p)
    return high - low < FLAT


class _EM:
    """Saerens EM on per-label binary priors, with an optional Beta prior (MAP).

    The labels' problems are independent, so each is accelerated by its own SQUAREM
    extrapolation (Varadhan & Roland 2008), kept only where it raises that label's
    likelihood: plain EM creeps toward tiny priors over thousands of iterations.
    """

    def __init__(self, labels, p, absent, tail, prior, n_docs, strength, watched):
        self.labels, self.p, self.absent, self.tail = labels, p, absent, tail
        self.watched = watched  # labels whose convergence counts
        self.source = np.clip(prior, _CLIP, 1 - _CLIP)
        self.n_docs, self.strength = n_docs, strength
        self.n_labels = prior.size

    def _ratios(self, target):
        return target / self.source, (1.0 - target) / (1.0 - self.source)

    def step(self, target: np.ndarray) -> np.ndarray:
        w1, w0 = self._ratios(target)
        num = w1[self.labels] * self.p
        den = num + w0[self.labels] * (1.0 - self.p)
        r = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        tail_num = w1 * self.tail
        tail_den = tail_num + w0 * (1.0 - self.tail)
        r_tail = np.divide(tail_num, tail_den, out=np.zeros(self.n_labels), where=tail_den > 0)
        summed = np.bincount(self.labels, weights=r, minlength=self.n_labels) \
            + self.absent * r_tail
        return (summed + self.strength * self.source) / (self.n_docs + self.strength)

    def objective(self, target: np.ndarray) -> np.ndarray:
        """Per-label log-likelihood (+ log Beta prior) of the target priors."""
        w1, w0 = self._ratios(target)
        mix = w1[self.labels] * self.p + w0[self.labels] * (1.0 - self.p)
        tail_mix = w1 * self.tail + w0 * (1.0 - self.tail)
        with np.errstate(divide="ignore"):
            out = np.bincount(self.labels, weights=np.log(np.maximum(mix, 1e-300)),
                              minlength=self.n_labels) \
                + self.absent * np.log(np.maximum(tail_mix, 1e-300))
            if self.strength:
                t = np.clip(target, 1e-300, 1.0)
                out += self.strength * (self.source * np.log(t)
                                        + (1 - self.source) * np.log1p(-np.minimum(t, 1 - 1e-16)))
        return out

    @staticmethod
    def _inside(target, second, r, v, alpha) -> np.ndarray:
        """The SQUAREM extrapolation ``target - 2 alpha r + alpha^2 v``, stepped back
        toward plain EM (``alpha -> -1``, where it is ``second``) until it lies strictly
        inside (0, 1).

        0 and 1 are fixed points of every EM step (``w1`` or ``w0`` is 0 there), so a
        jump clipped onto one stayed there for good whenever the likelihood rose on the
        way, even where it peaked inside: EM returned an edge (then ``0.5 / n_docs`` from
        it) where textbook EM converges to 0.11 or 0.92, for 3-6% of the labels of small
        random batches (30 to 2000 documents).
        """
        jump = target - 2 * alpha * r + alpha * alpha * v
        for _ in range(60):
            outside = ~((jump > 0.0) & (jump < 1.0))
            if not outside.any():
                return jump
            alpha = np.where(outside, (alpha - 1.0) / 2.0, alpha)
            jump = np.where(outside, target - 2 * alpha * r + alpha * alpha * v, jump)
        return np.where(outside, second, jump)

    def run(self, max_iter: int, tol: float) -> tuple[np.ndarray, int, bool]:
        target = self.source.copy()
        steps = 0
        while steps < max_iter:
            first = self.step(target)
            second = self.step(first)
            steps += 2
            r = first - target
            v = second - first - r
            norm_v = np.abs(v)
            alpha = np.where(norm_v > 0, -np.abs(r) / np.where(norm_v > 0, norm_v, 1.0), -1.0)
            alpha = np.minimum(alpha, -1.0)
            jump = self._inside(target, second, r, v, alpha)
            candidate = self.step(jump)
            steps += 1
            keep = self.objective(candidate) >= self.objective(second)
            new = np.where(keep, candidate, second)
            moved = float(np.max(np.abs(new - target)[self.watched], initial=0.0))
            target = new
            if moved < tol:
                return target, steps, True
        return target, steps, False


def _bbse_target_mean(topk, tail: np.ndarray, n_docs: int) -> np.ndarray:
    """Each label's mean probability over the target documents in ``topk`` (BBSE's
    ``bbse_topk``), a label outside a document's top-k counting its ``tail``."""
    if not isinstance(topk, TopK) or topk.n_labels != tail.size or len(topk) != n_docs:
        raise InvalidParameterError(
            "bbse_topk", f"a TopK of probabilities of the {n_docs} target "
            f"document{plural_s(n_docs)} over the {tail.size} label{plural_s(tail.size)}",
            f"{len(topk)} document{plural_s(len(topk))} over {topk.n_labels} "
            f"label{plural_s(topk.n_labels)}" if isinstance(topk, TopK) else type(topk).__name__)
    valid = topk.valid
    labels = topk.indices[valid].astype(np.int64)
    p = _check_probabilities("bbse_topk", topk.scores[valid])
    absent = n_docs - np.bincount(labels, minlength=tail.size)
    return (np.bincount(labels, weights=p, minlength=tail.size) + absent * tail) / n_docs


def _bbse(source_y, source_topk: TopK, tail, mean_target, min_positives, min_gap):
    """Soft per-label BBSE: (estimates, usable mask)."""
    entries = collect_entries(source_y, source_topk)
    n_labels, n = entries.n_labels, entries.n_docs
    y = entries.y
    true_p = entries.true_scores(source_topk.scores, tail)
    positives = np.bincount(y.indices, minlength=n_labels)
    sum_pos = np.bincount(y.indices, weights=true_p, minlength=n_labels)
    listed = np.bincount(entries.label, minlength=n_labels)
    total = np.bincount(entries.label, weights=entries.score, minlength=n_labels) \
        + (n - listed) * tail
    negatives = n - positives
    m1 = np.divide(sum_pos, positives, out=np.zeros(n_labels), where=positives > 0)
    m0 = np.divide(total - sum_pos, negatives, out=np.zeros(n_labels), where=negatives > 0)
    gap = m1 - m0
    usable = (positives >= min_positives) & (negatives >= min_positives) & (gap >= min_gap)
    estimate = np.divide(mean_target - m0, gap, out=np.zeros(n_labels), where=usable)
    return np.clip(estimate, 0.0, 1.0), usable
