"""Calibrated probabilities from sparse top-k scores.

A model's scores rank well but mean little: a squared-hinge score of 0.7 may be
right half the time for one label and always for another. A :class:`Calibrator`
maps each (label, score) entry of a :class:`~tagsmith.topk.TopK` to the probability
that the label is true, learned on held-out documents the model never saw:

* ``"platt"`` (default): per label, ``p = sigmoid(a_l * z + b_l)``, ``a_l >= 0``, on
  ``z = logit(score)`` (scores in [0, 1]) or the raw score, fitted by Newton's
  method with a Gaussian prior centred on the label's frequency band's pooled
  ``(a, b)``; the band's fit is itself shrunk toward one pooled fit over all labels.
  A label with little held-out evidence therefore gets its band's calibrator.
* ``"isotonic"``: per label, a non-decreasing step function, blended with its band's
  (and the band's with the global one) by the weight ``n / (n + shrinkage)``, with
  ``n = min(positives, negatives)`` of the label (or band).
* ``"temperature"``: one ``(a, b)`` for every label (bias-corrected temperature
  scaling, Alexandari et al. 2020).

``shrinkage`` is the prior's strength in entries of average information: larger
means rare labels lean more on their band. No probability is exactly 0 or 1: each
label's are kept ``1 / (2 (n + shrinkage + 1))`` away from them (``n`` its held-out
entries), the most certainty that many observations can support.

**Labels outside a document's top-k** have no score. Each label gets a *tail
probability* ``tail[l]``: the rate at which it was true in held-out documents whose
top-k did not list it, shrunk (with the weight of ``shrinkage`` such documents) toward
its band's rate scaled by the label's training frequency, at most the label's own
held-out rate. The band's rate is smoothed by half an observation (Jeffreys), so a tail is
never exactly 0, even in a band whose held-out documents missed no true label. It is
the calibrated probability of any unlisted label, so every (document, label) pair has
one, and conformal sets can reach beyond the top-k. When the top-k lists every label
of every held-out document (small label spaces), there is no tail (all 0).

>>> import scipy.sparse as sp
>>> rng = np.random.default_rng(0)
>>> raw = rng.random((400, 3)).astype(np.float32)
>>> y = sp.csr_matrix(rng.random((400, 3)) < raw ** 3)  # true rate = score cubed
>>> cal = fit_calibrator(y, TopK.from_scores(raw, 3), method="isotonic")
>>> bool(abs(cal.probabilities(np.array([0]), np.array([0.9]))[0] - 0.73) < 0.15)
True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tagsmith._params import check_choice, check_int, check_number
from tagsmith._plural import plural_s
from tagsmith.calibration._entries import Entries, check_fit_documents, collect_entries
from tagsmith.calibration.bands import FrequencyBands
from tagsmith.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from tagsmith.calibration._curves import IsotonicKnots
import numpy.typing as npt

from tagsmith._typing import LabelMatrix
from tagsmith.topk import TopK, check_topk

logger = logging.getLogger("tagsmith")

METHODS = ("platt", "isotonic", "temperature")
#: how scores become the features of the curves (see :func:`_features`)
TRANSFORMS = ("logit", "identity")
_EPS = 1e-7
#: (label, score) pairs :meth:`Calibrator.probabilities` maps at a time
PROBABILITY_CHUNK = 1 << 16


def _features(scores: npt.ArrayLike, transform: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if transform == "logit":
        clipped = np.clip(scores, _EPS, 1.0 - _EPS)
        return np.log(clipped) - np.log1p(-clipped)
    return scores


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))  # overflow-free logistic


@dataclass
class Calibrator:
    """A fitted score -> probability map for every label; see the module docstring.

    ``label_params`` (``(n_labels, 2)``, Platt and temperature) or ``knots`` with
    ``label_weight`` / ``band_weight`` (isotonic) hold the curves; ``tail``
    (``(n_labels,)``) the probability of a label outside the top-k; ``source_prior``
    (``(n_labels,)``) each label's mean calibrated probability on the fitting
    documents (the starting point of label-shift estimation).
    """

    method: str
    transform: str
    bands: FrequencyBands
    tail: np.ndarray
    source_prior: np.ndarray
    n_docs: int
    k: int
    shrinkage: float
    label_params: np.ndarray | None = None
    knots: IsotonicKnots | None = None
    label_weight: np.ndarray | None = None
    band_weight: np.ndarray | None = None
    margin: np.ndarray | None = None  # (n_labels,) distance kept from 0 and 1

    @property
    def n_labels(self) -> int:
        """The number of labels calibrated (one tail probability each)."""
        return int(self.tail.size)

    @property
    def tail_floor(self) -> float:
        """The least any label's tail is kept from 0: half an observation of at most
        ``n_docs`` unlisted documents and the prior's ``shrinkage`` (each label's own
        floor, ``1 / (2 (absent + shrinkage + 1))``, is at least this); 0 when there is
        no tail. Summed over thousands of labels the calibration never saw, the floors
        are most of the tails' expected count of true labels outside the top-k (see
        :func:`~tagsmith.calibration.reliability.reliability_report`)."""
        if not self.tail.any():
            return 0.0
        return 0.5 / (self.n_docs + self.shrinkage + 1.0)

    def __repr__(self) -> str:
        # one line at a prompt: the dataclass repr printed every label's curve, tail
        # and prior
        return (f"Calibrator(method={self.method!r}, n_labels={self.n_labels}, "
                f"n_bands={self.bands.n_bands}, n_docs={self.n_docs}, k={self.k})")

    # -- applying ------------------------------------------------------------------------
    def probabilities(self, labels: npt.ArrayLike, scores: npt.ArrayLike) -> np.ndarray:
        """Calibrated probability of each (label, score) pair (1-D arrays, float64).

        Each pair's probability depends on it alone, so long arrays are mapped
        :data:`PROBABILITY_CHUNK` pairs at a time into one result: the isotonic map's
        dozen float64 temporaries per pair were 330 MB for the 1.4 million pairs of
        50,000 documents' 28 candidates (the same values, chunked or not).
        """
        labels = np.asarray(labels, dtype=np.int64)
        scores = np.asarray(scores)
        if (labels.ndim != 1 or labels.shape != scores.shape
                or labels.size <= PROBABILITY_CHUNK):
            return self._probabilities(labels, scores)
        out = np.empty(labels.size)
        for start in range(0, labels.size, PROBABILITY_CHUNK):
            part = slice(start, start + PROBABILITY_CHUNK)
            out[part] = self._probabilities(labels[part], scores[part])
        return out

    def _probabilities(self, labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
        z = _features(scores, self.transform)
        if self.method == "isotonic":
            from tagsmith.calibration._curves import evaluate_isotonic

            assert self.knots is not None and self.label_weight is not None
            assert self.band_weight is not None
            band = self.bands.band_of[labels].astype(np.int64)
            n_labels, n_bands = self.n_labels, self.bands.n_bands
            own = evaluate_isotonic(self.knots, labels, z)
            pooled = evaluate_isotonic(self.knots, n_labels + band, z)
            overall = evaluate_isotonic(self.knots, np.full_like(labels, n_labels + n_bands), z)
            wb = self.band_weight[band]
            pooled = np.where(np.isnan(pooled), overall, wb * pooled + (1 - wb) * overall)
            wl = self.label_weight[labels]
            probs = np.where(np.isnan(own), pooled, wl * own + (1 - wl) * pooled)
        else:
            assert self.label_params is not None
            probs = _sigmoid(self.label_params[labels, 0] * z + self.label_params[labels, 1])
        if self.margin is not None:
            margin = self.margin[labels]
            probs = np.clip(probs, margin, 1.0 - margin)
        return probs

    def apply(self, topk: TopK) -> TopK:
        """``topk`` with calibrated probabilities, re-sorted best first (padding kept)."""
        self._check(topk)
        return topk.rescored(self.probabilities)

    def _check(self, topk: TopK) -> None:
        check_topk(topk)  # else an AttributeError on .n_labels
        if topk.n_labels != self.n_labels:
            raise InvalidParameterError("topk", f"scores over {self.n_labels} "
                                                f"label{plural_s(self.n_labels)}",
                                        f"{topk.n_labels} label{plural_s(topk.n_labels)}")

    # -- persistence ---------------------------------------------------------------------
    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The calibrator as a bundle saves it: JSON-able ``meta`` and named arrays
        (:meth:`from_state` reads them back)."""
        meta = {"method": self.method, "transform": self.transform, "n_docs": self.n_docs,
                "k": self.k, "shrinkage": self.shrinkage, "n_labels": self.n_labels}
        band_meta, band_arrays = self.bands.to_state()
        meta["bands"] = band_meta
        arrays = {"tail": self.tail.astype(np.float64),
                  **({} if self.margin is None else {"margin": self.margin}),
                  "source_prior": self.source_prior.astype(np.float64),
                  **{f"bands_{key}": value for key, value in band_arrays.items()}}
        if self.label_params is not None:
            arrays["label_params"] = self.label_params.astype(np.float64)
        if self.knots is not None:
            assert self.label_weight is not None and self.band_weight is not None
            arrays.update(self.knots.to_arrays("knots"))
            arrays["label_weight"] = self.label_weight.astype(np.float64)
            arrays["band_weight"] = self.band_weight.astype(np.float64)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], *,
                   source: str = "a calibrator state") -> Calibrator:
        """The calibrator ``to_state`` saved; :class:`ValueError` saying what is wrong with
        any other state (a bundle loads it as a damaged bundle).

        Negative Platt or temperature slopes (fits from before slopes were kept >= 0, or
        a crafted state) are set to 0 with a warning naming ``source`` (the bundle), see
        :func:`_nonnegative_slopes`: the rest of such a bundle stays usable.

        Everything is checked here, not on first use: string-typed weights or margins
        loaded, then failed on every text with a UFuncTypeError, NaN ones with an error
        about a parameter ``score`` nobody passed, a 2-D tail with an IndexError in the
        conformal sets; a margin above 0.5, weights or probabilities outside [0, 1] or
        unsorted isotonic knots gave wrong probabilities silently.
        """
        from tagsmith.store.bundle import check_values

        if meta["method"] not in METHODS:
            raise ValueError(f"unknown calibration method {meta['method']!r}")
        if meta["transform"] not in TRANSFORMS:
            raise ValueError(f"unknown calibration transform {meta['transform']!r}")
        n_labels = check_int("calibrator n_labels", meta["n_labels"], 0)
        bands = FrequencyBands.from_state(
            meta["bands"], {key[6:]: value for key, value in arrays.items()
                            if key.startswith("bands_")})
        if bands.n_labels != n_labels:
            raise ValueError("calibrator arrays do not match its label count")
        n_bands = bands.n_bands

        def values(name: str, shape: tuple[int, ...], **limits) -> np.ndarray:
            return check_values(f"calibrator {name}", arrays[name], shape, **limits)

        isotonic = meta["method"] == "isotonic"
        knots = label_params = label_weight = band_weight = None
        if isotonic:
            from tagsmith.calibration._curves import IsotonicKnots

            knots = IsotonicKnots.from_arrays(arrays, "knots")
            # one curve per label, per band and overall, read by group id in compiled code
            if knots.n_groups != n_labels + n_bands + 1:
                raise ValueError(f"calibrator has {knots.n_groups} isotonic curves, expected "
                                 f"{n_labels + n_bands + 1}")
            check_values("calibrator isotonic knots y", knots.y, (None,), low=0, high=1)
            label_weight = values("label_weight", (n_labels,), low=0, high=1)
            band_weight = values("band_weight", (n_bands,), low=0, high=1)
        else:
            label_params = _nonnegative_slopes(values("label_params", (n_labels, 2)),
                                               source)
        return cls(meta["method"], meta["transform"], bands,
                   values("tail", (n_labels,), low=0, high=1),
                   values("source_prior", (n_labels,), low=0, high=1),
                   check_int("calibrator n_docs", meta["n_docs"], 0),
                   check_int("calibrator k", meta["k"], 1),
                   check_number("calibrator shrinkage", meta["shrinkage"], 0, finite=True),
                   label_params=label_params, knots=knots, label_weight=label_weight,
                   band_weight=band_weight,
                   # kept from 0 and 1: more than 0.5 would clip every probability to 1 - margin
                   margin=values("margin", (n_labels,), low=0, high=0.5)
                   if "margin" in arrays else None)


def _nonnegative_slopes(label_params: np.ndarray, source: str) -> np.ndarray:
    """``label_params`` (``(n_labels, 2)``, checked) with every negative slope ``a`` set
    to 0, and a warning naming ``source`` and the labels when there were any.

    A negative slope makes a label's probability fall as its score rises: its worst
    candidates became its most probable ones (0.98 at score 0). Fitting keeps slopes
    >= 0 (see :func:`_newton_logistic`), but bundles calibrated before it did, or
    crafted ones, may hold some. Refusing them would also refuse ``tagsmith calibrate``
    the bundle that would fix it (it loads the bundle first), so such a label keeps its
    intercept with slope 0: a constant probability ``sigmoid(b)``, the old curve's
    value at ``z = 0``, never an inverted one, until the bundle is calibrated again.

    >>> _nonnegative_slopes(np.array([[2.0, 0.5], [-1.0, 0.25]]), "x").tolist()
    [[2.0, 0.5], [0.0, 0.25]]
    """
    negative = np.flatnonzero(label_params[:, 0] < 0)
    if negative.size == 0:
        return label_params
    shown = ", ".join(str(int(i)) for i in negative[:10]) + (", ..." if negative.size > 10
                                                            else "")
    logger.warning("%s: calibrator label_params holds negative slopes for %s of %s label%s "
                   "(label id%s %s), which would make their probabilities fall as their "
                   "scores rise; their slopes are set to 0 (a constant probability). Run "
                   "tagsmith calibrate on it again to refit them", source, f"{negative.size:,}",
                   f"{label_params.shape[0]:,}", plural_s(label_params.shape[0]),
                   "s" if negative.size > 1 else "", shown)
    label_params = label_params.copy()
    label_params[negative, 0] = 0.0
    return label_params


# -- fitting ---------------------------------------------------------------------------------
def fit_calibrator(y_true: LabelMatrix, topk: TopK, *, method: str = "platt",
                   bands: FrequencyBands | None = None,
                   label_counts: npt.ArrayLike | None = None, n_bands: int = 4,
                   shrinkage: float = 30.0) -> Calibrator:
    """Fit a :class:`Calibrator` on held-out scores ``topk`` and labels ``y_true``.

    ``y_true`` is ``n_docs x n_labels`` (sparse); ``topk`` the model's scores for the
    same documents, which it must not have been trained on. ``label_counts``
    (training label frequencies, ``(n_labels,)``) define the frequency bands (and
    order the tail); without them the held-out counts are used. ``bands`` overrides
    ``n_bands``.
    """
    method = check_choice("method", method, METHODS)
    check_number("shrinkage", shrinkage, 0, finite=True, numpy=True)
    entries = collect_entries(y_true, topk)
    check_fit_documents(entries.n_docs, "a calibrator")
    if entries.score.size and not np.all(np.isfinite(entries.score)):
        raise InvalidParameterError("topk", "finite scores", "NaN or infinite scores")
    counts = _label_counts(label_counts, entries)
    bands = FrequencyBands.from_counts(counts, n_bands) if bands is None else bands
    if bands.n_labels != entries.n_labels:
        raise InvalidParameterError("bands", f"bands over {entries.n_labels} "
                                             f"label{plural_s(entries.n_labels)}",
                                    f"{bands.n_labels} label{plural_s(bands.n_labels)}")
    in_unit = entries.score.size == 0 or (entries.score.min() >= 0 and entries.score.max() <= 1)
    transform = "logit" if in_unit else "identity"
    z = _features(entries.score, transform)
    y = entries.hit.astype(np.float64)
    fitted: dict = {}
    if method == "isotonic":
        fitted.update(_fit_isotonic(entries, z, y, bands, shrinkage))
    else:
        fitted["label_params"] = _fit_platt(entries.label, z, y, bands, shrinkage,
                                            per_label=method == "platt")
    listed = np.bincount(entries.label, minlength=entries.n_labels)
    margin = 0.5 / (listed + shrinkage + 1.0)
    calibrator = Calibrator(method, transform, bands, np.zeros(entries.n_labels),
                            np.zeros(entries.n_labels), entries.n_docs, topk.k,
                            float(shrinkage), margin=margin, **fitted)
    calibrator.tail = _tail_rates(entries, bands, counts, shrinkage)
    probs = calibrator.probabilities(entries.label, entries.score)
    calibrator.source_prior = _mean_probability(entries, probs, calibrator.tail)
    return calibrator


def _label_counts(label_counts, entries: Entries) -> np.ndarray:
    """Per-label training counts, ``(n_labels,)`` int64, checked before any cast: a
    negative count (with ``bands`` given, nothing else looked) made the tail's prior
    0 or negative, so a tail of exactly 0, and NaN or 1e30 cast to a huge negative
    int64 that zeroed every tail of its band."""
    if label_counts is None:
        return np.bincount(entries.y.indices, minlength=entries.n_labels).astype(np.int64)
    try:
        counts = np.asarray(label_counts, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError("label_counts", "numeric counts",
                                    type(label_counts).__name__) from None
    if counts.shape != (entries.n_labels,):
        raise InvalidParameterError("label_counts", f"shape ({entries.n_labels},)", counts.shape)
    # far below int64's limit: the tail sums them per band
    bad = ~(np.isfinite(counts) & (counts >= 0) & (counts <= 2.0 ** 53))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError("label_counts", "finite non-negative counts",
                                    f"{counts[first]} for label {first}")
    return counts.astype(np.int64)


def _mean_probability(entries: Entries, probs: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Mean calibrated probability per label over the documents, tail included."""
    n = max(entries.n_docs, 1)
    listed = np.bincount(entries.label, minlength=entries.n_labels)
    summed = np.bincount(entries.label, weights=probs, minlength=entries.n_labels)
    return (summed + (entries.n_docs - listed) * tail) / n


def _tail_rates(entries: Entries, bands: FrequencyBands, counts: np.ndarray,
                shrinkage: float) -> np.ndarray:
    """P(label true | not in the top-k), shrunk toward the band rate x relative frequency.

    The prior is ``band rate x (count + 1) / (band mean count + 1)``, at most the label's
    own held-out rate ``(positives + 1/2) / (n_docs + 1)``, and weighs as much as
    ``shrinkage`` unlisted documents: a label far above its band's mean count got many
    times the band's rate (up to 1) with the weight of every held-out document, so its
    tail stayed far above the rate at which it was true when unlisted, or at all.

    The band rate is the Jeffreys (add-half) estimate ``(missed + 1/2) / (absent + 1)``
    of the band's missed-positive rate, the posterior mean under a Beta(1/2, 1/2) prior,
    as the calibrated probabilities keep half an observation away from 0 and 1: a band
    whose held-out documents missed no true label had a rate, and so every tail in it,
    of exactly 0, a certainty no finite sample supports (conformal sets and label-shift
    estimation then treated those labels as impossible outside the top-k). It moves a
    band rate by at most ``1 / (2 (absent + 1))``, so a tail that was positive moves by
    at most that, times the label's frequency scaling and its prior weight. A band that
    every document lists whole (no evidence of its own) takes the pooled rate of all
    labels, and a label every document lists takes its prior: either may be unlisted in
    a new document. Each tail is kept ``1 / (2 (absent + strength + 1))`` from 0 and 1,
    the rule of the listed probabilities with the label's unlisted documents and the
    prior's weight as its observations. Only when the top-k listed every label of every
    document is there no tail at all (all 0: then nothing is ever outside the top-k).
    """
    n_labels = entries.n_labels
    positives = np.bincount(entries.y.indices, minlength=n_labels)
    caught = np.bincount(entries.label[entries.hit], minlength=n_labels)
    missed = (positives - caught).astype(np.float64)
    absent = (entries.n_docs - np.bincount(entries.label, minlength=n_labels)).astype(np.float64)
    band = bands.band_of.astype(np.int64)
    band_missed = np.bincount(band, weights=missed, minlength=bands.n_bands)
    band_absent = np.bincount(band, weights=absent, minlength=bands.n_bands)
    if not band_absent.any():
        return np.zeros(n_labels)  # every label listed in every document: no tail
    pooled = (band_missed.sum() + 0.5) / (band_absent.sum() + 1.0)
    # Jeffreys (add-half): never exactly 0
    band_rate = np.where(band_absent > 0, (band_missed + 0.5) / (band_absent + 1.0), pooled)
    band_mean_count = np.bincount(band, weights=counts, minlength=bands.n_bands) \
        / np.maximum(bands.sizes(), 1)
    # a label far more frequent than its band's mean (the top band is open-ended,
    # label_counts may come from training) scaled past its own rate: a top-k that ranks
    # better than chance lists a true label more often than a false one, so a label is
    # no more likely unlisted than overall, and its held-out rate (Jeffreys) caps it
    positive_rate = (positives + 0.5) / (entries.n_docs + 1.0)
    prior = np.minimum(band_rate[band] * (counts + 1.0) / (band_mean_count[band] + 1.0),
                       positive_rate)
    # the prior weighs as much as `shrinkage` unlisted documents, as the curves' prior
    # does in entries; weighing a whole pass, it outweighed a frequent label's own misses
    strength = float(shrinkage)
    weight = absent + strength
    tail = np.divide(missed + strength * prior, weight, out=prior.copy(), where=weight > 0)
    # half an observation from 0 and 1, as the listed probabilities: a label unlisted and
    # true in every held-out document, with a prior capped at 1, got a tail of exactly 1
    margin = 0.5 / (absent + strength + 1.0)
    return np.clip(tail, margin, 1.0 - margin)


# -- Platt ---------------------------------------------------------------------------------
def _fit_platt(label, z, y, bands: FrequencyBands, shrinkage: float, *,
               per_label: bool) -> np.ndarray:
    """``(n_labels, 2)`` slopes and intercepts: global -> band -> label, each shrunk."""
    n_labels = bands.n_labels
    zeros = np.zeros(z.size, dtype=np.int64)
    flat_prior = np.array([[1.0, 0.0]])
    # a whisper of prior keeps the global fit finite on separable data
    glob = _newton_logistic(zeros, z, y, 1, flat_prior, np.full((1, 2), 1e-6))
    if not per_label:
        return np.repeat(glob, n_labels, axis=0)
    band = bands.band_of.astype(np.int64)[label]
    band_prior = np.repeat(glob, bands.n_bands, axis=0)
    band_prec = shrinkage * _mean_information(band, z, glob[zeros], bands.n_bands)
    band_params = _newton_logistic(band, z, y, bands.n_bands, band_prior, band_prec)
    label_prior = band_params[bands.band_of.astype(np.int64)]
    info = _mean_information(band, z, band_params[band], bands.n_bands)
    label_prec = shrinkage * info[bands.band_of.astype(np.int64)]
    return _newton_logistic(label, z, y, n_labels, label_prior, label_prec)


def _mean_information(group, z, params, n_groups: int) -> np.ndarray:
    """Mean per-entry Fisher information of (a, b) in each group, ``(n_groups, 2)``."""
    p = _sigmoid(params[:, 0] * z + params[:, 1])
    w = p * (1.0 - p)
    n = np.maximum(np.bincount(group, minlength=n_groups), 1)
    info = np.stack([np.bincount(group, weights=w * z * z, minlength=n_groups) / n,
                     np.bincount(group, weights=w, minlength=n_groups) / n], axis=1)
    # a group without entries (or with only certain ones) still needs a proper prior
    return np.maximum(info, 1e-3)


def _projected(theta: np.ndarray, step: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``theta - scale * step`` with the slopes clipped at 0."""
    candidate = theta - scale[:, None] * step
    candidate[:, 0] = np.maximum(candidate[:, 0], 0.0)
    return candidate


def _newton_logistic(group, z, y, n_groups: int, prior_mean: np.ndarray,
                     prior_prec: np.ndarray, max_iter: int = 100,
                     tol: float = 1e-7) -> np.ndarray:
    """MAP ``(a, b)`` per group of ``p = sigmoid(a z + b)`` under independent Gaussian
    priors, with the slope ``a >= 0``; projected Newton steps with per-group step
    halving, all groups at once.

    The slope is kept non-negative so that a probability never falls as the score
    rises: a label listed only with high scores and never true in the held-out
    documents got a negative slope, and then its *lowest* scores (``z`` down to -16)
    the highest probabilities (0.98). A precision of at least 1e-6 (the global fit's
    whisper of prior) keeps ``shrinkage=0`` finite on separable or constant scores,
    where the fits ran off to 1e258 with overflow warnings."""
    prior_mean = prior_mean.astype(np.float64).copy()
    prior_mean[:, 0] = np.maximum(prior_mean[:, 0], 0.0)
    prior_prec = np.maximum(prior_prec, 1e-6)
    theta = prior_mean.copy()

    def objective(params):
        m = params[group, 0] * z + params[group, 1]
        loss = np.bincount(group, weights=np.logaddexp(0.0, m) - y * m, minlength=n_groups)
        return loss + 0.5 * np.sum(prior_prec * (params - prior_mean) ** 2, axis=1)

    current = objective(theta)
    for _ in range(max_iter):
        a, b = theta[group, 0], theta[group, 1]
        p = _sigmoid(a * z + b)
        r, w = p - y, np.maximum(p * (1.0 - p), 1e-12)
        ga = np.bincount(group, weights=r * z, minlength=n_groups) \
            + prior_prec[:, 0] * (theta[:, 0] - prior_mean[:, 0])
        gb = np.bincount(group, weights=r, minlength=n_groups) \
            + prior_prec[:, 1] * (theta[:, 1] - prior_mean[:, 1])
        haa = np.bincount(group, weights=w * z * z, minlength=n_groups) + prior_prec[:, 0]
        hab = np.bincount(group, weights=w * z, minlength=n_groups)
        hbb = np.bincount(group, weights=w, minlength=n_groups) + prior_prec[:, 1]
        det = np.maximum(haa * hbb - hab * hab, 1e-300)
        step = np.stack([(hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det], axis=1)
        # a slope at its bound that the gradient pushes below it stays there: b alone moves
        pinned = (theta[:, 0] <= 0.0) & (ga > 0)
        step[pinned, 0] = 0.0
        step[pinned, 1] = gb[pinned] / hbb[pinned]
        scale = np.ones(n_groups)

        candidate = _projected(theta, step, scale)
        new = objective(candidate)
        for _ in range(30):  # halve the step of groups whose objective rose
            worse = new > current + 1e-12 * (1.0 + np.abs(current))
            if not worse.any():
                break
            scale[worse] *= 0.5
            candidate = _projected(theta, step, scale)
            new = objective(candidate)
        worse = new > current
        candidate[worse] = theta[worse]
        new[worse] = current[worse]
        moved = np.max(np.abs(candidate - theta)) if n_groups else 0.0
        theta, current = candidate, new
        if moved < tol:
            break
    return theta


# -- isotonic ------------------------------------------------------------------------------
def _fit_isotonic(entries: Entries, z, y, bands: FrequencyBands, shrinkage: float) -> dict:
    from tagsmith.calibration._isotonic import fit_isotonic_groups

    n_labels, n_bands = entries.n_labels, bands.n_bands
    label = entries.label
    band = bands.band_of.astype(np.int64)[label]
    # the curves of the labels, then of the bands, then the overall one (groups n_labels
    # + band and n_labels + n_bands): each fitted alone, the points never held three
    # times over (one fit of the tripled points made the same knots)
    knots = _stack_knots([fit_isotonic_groups(label, z, y, n_labels),
                          fit_isotonic_groups(band, z, y, n_bands),
                          fit_isotonic_groups(np.zeros(label.size, np.int64), z, y, 1)])

    def weight(groups, n_groups):
        pos = np.bincount(groups, weights=y, minlength=n_groups)
        neg = np.bincount(groups, weights=1.0 - y, minlength=n_groups)
        n_eff = np.minimum(pos, neg)
        return n_eff / (n_eff + shrinkage) if shrinkage > 0 else np.ones(n_groups)

    return {"knots": knots, "label_weight": weight(label, n_labels),
            "band_weight": weight(band, n_bands)}


def _stack_knots(parts: list[IsotonicKnots]) -> IsotonicKnots:
    """The knots of ``parts``' groups one after another (their group ids offset)."""
    from tagsmith.calibration._curves import IsotonicKnots

    offsets = np.cumsum([0] + [part.x.size for part in parts])
    indptr = np.concatenate([parts[0].indptr[:1]] + [part.indptr[1:] + offset for part, offset
                                                      in zip(parts, offsets, strict=False)])
    return IsotonicKnots(indptr, np.concatenate([part.x for part in parts]),
                         np.concatenate([part.y for part in parts]))
