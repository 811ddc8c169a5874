"""Decision thresholds tuned on held-out data, from sparse top-k scores.

A global threshold maximises micro F-beta; per-label thresholds maximise each
label's F-beta (or, with ``min_precision``, are each label's lowest cut whose held-out
precision reaches it, by the lower end of its Wilson interval: see
:func:`tune_thresholds`). Labels with too few held-out positives back off to their frequency
band's threshold (micro F-beta over the band's labels, when ``bands`` are given and
the band has enough positives) or else to the global one. An optional ``max_labels``
caps the set size. Everything is computed from the (document, label, score) entries
of a :class:`~tagsmith.topk.TopK`, sorted once, so the cost is ``O(n k log(n k))``
at any label-space size. Positives outside the top-k count as misses at every
threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from tagsmith._json import number_from_json
from tagsmith._params import check_int, check_number
from tagsmith._plural import plural_s
from tagsmith._typing import LabelMatrix
from tagsmith.calibration.bands import FrequencyBands
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics import as_label_matrix, topk_hits
from tagsmith.metrics.sets import check_label_values
from tagsmith.store.bundle import check_ids, check_values
from tagsmith.topk import TopK, check_topk

#: where a label's threshold came from (:attr:`Thresholds.source`)
FROM_GLOBAL, FROM_BAND, FROM_LABEL = 0, 1, 2
#: a label's own threshold tuned on fewer held-out positives than this is rough: its
#: precision and recall at it are warned of (as ``shift`` marks a label estimated on
#: fewer expected calibration positives unsupported)
FEW_POSITIVES = 20


@dataclass
class Thresholds:
    """Per-label thresholds (shape ``(n_labels,)``) and how each was chosen.

    ``source`` (int8, ``(n_labels,)``) says where each came from: ``FROM_LABEL``,
    ``FROM_BAND`` or ``FROM_GLOBAL``; ``min_labels`` (an integer from 0 to the label
    count) forces each document's best candidates in; ``max_labels`` caps the set size
    (None: no cap); ``support`` (int64, ``(n_labels,)``) the held-out positives each
    label's threshold was tuned on (:func:`tune_thresholds`; None for thresholds loaded
    from a bundle, which does not store it). The objective they were tuned for:
    ``beta`` (F-beta) or ``min_precision`` (each label's precision; a label that cannot
    reach it has an infinite threshold, never passed), None for thresholds of no
    recorded objective; ``best_precision`` (float64, ``(n_labels,)``, with
    ``min_precision`` alone, not stored) the highest lower Wilson bound of each label's
    precision at any cut, NaN where it has no held-out entry. Or ``min_recall`` (each
    label's recall: its highest cut whose held-out recall reaches it by the lower end of
    its Wilson interval, or its band's or the global one, as F-beta's back off);
    ``capped`` (bool, ``(n_labels,)``, with ``min_recall`` alone, not stored) marks the
    labels of their own threshold that reach it at no cut, whose threshold is capped at
    their lowest held-out positive (not 0, every document), and ``best_recall`` the
    highest lower Wilson bound of each label's recall (NaN where it has no held-out
    positive ranked, and an infinite threshold); ``coverage`` (float64, with
    ``min_recall`` alone, not stored) the share of the held-out documents each label's
    threshold passes (near 1: the label for nearly every document);
    ``capped_shared`` (bool, ``(n_labels,)``, with ``min_recall`` alone, not stored) the
    labels on their band's or the global threshold where that one is capped likewise
    (the pooled positives reach it at no cut), ``capped_bands`` the names of such bands,
    and ``capped_global`` (with ``min_recall`` alone, not stored) whether the global
    threshold is capped so, whichever labels are on it. ``band_of`` (int16,
    ``(n_labels,)``, or None where they were tuned without bands, or loaded from a
    bundle saved before it was kept) the frequency band of each label, named by
    ``band_names``, as :func:`tune_thresholds` was given them: stored, so that moving
    labels off a capped band (:func:`~tagsmith.pipeline.confidence.never_untrained`)
    can tell which bands keep labels without the bands themselves.
    """

    per_label: np.ndarray
    global_threshold: float
    tuned_mask: np.ndarray  # True where the label's own threshold is used
    min_labels: int = 0
    max_labels: int | None = None
    source: np.ndarray | None = None
    support: np.ndarray | None = None
    beta: float | None = None
    min_precision: float | None = None
    best_precision: np.ndarray | None = None
    min_recall: float | None = None
    capped: np.ndarray | None = None
    best_recall: np.ndarray | None = None
    coverage: np.ndarray | None = None
    capped_shared: np.ndarray | None = None
    capped_bands: tuple[str, ...] = ()
    capped_global: bool = False
    band_of: np.ndarray | None = None
    band_names: tuple[str, ...] = ()

    def __post_init__(self):
        if self.source is None:
            self.source = np.where(self.tuned_mask, FROM_LABEL, FROM_GLOBAL).astype(np.int8)

    def __repr__(self) -> str:
        """One line at a prompt: the dataclass repr printed every label's threshold.

        >>> Thresholds(np.array([0.3, 0.5, 0.5]), 0.5,
        ...            np.array([True, False, False]))  # doctest: +NORMALIZE_WHITESPACE
        Thresholds(n_labels=3, n_tuned_labels=1, global_threshold=0.5, min_labels=0,
                   max_labels=None)
        """
        return (f"Thresholds(n_labels={int(self.per_label.size)}, "
                f"n_tuned_labels={int(np.count_nonzero(self.tuned_mask))}, "
                f"global_threshold={float(self.global_threshold):.4g}, "
                f"min_labels={self.min_labels}, max_labels={self.max_labels})")

    def label_sets(self, topk: TopK) -> sp.csr_matrix:
        """Boolean sparse label sets of ``topk`` under these thresholds."""
        return topk.label_sets(self.per_label, min_labels=self.min_labels,
                               max_labels=self.max_labels)

    def summary(self) -> dict:
        """Counts of where the thresholds came from, and the objective they were tuned
        for (``objective``: ``"f_beta"`` with its ``beta``, ``"precision"`` with
        ``min_precision`` and ``n_unreachable_labels``, the labels never predicted, as
        none reaches it; ``"recall"`` with ``min_recall``, ``n_unreachable_labels`` only
        where there are any (labels of their own never predicted, no held-out positive
        ranked: thresholds tuned before such labels backed off to their band's or the
        global threshold), and ``n_capped_labels`` and ``n_capped_shared_labels`` where
        the thresholds were tuned here: the labels that reach it at no cut, capped at
        their lowest held-out positive, and those on a band's or the global threshold
        capped so; absent for thresholds of no recorded objective).

        ``n_tuned_labels``, ``n_band_labels`` and ``n_global_labels`` count the labels on
        their own threshold, their band's and the global one; a label at an infinite
        threshold not its own (one the model never learnt: never predicted) is in none
        of them (the summaries of ``calibrate`` and ``train`` count it apart).
        """
        assert self.source is not None
        # n_band_labels counted a band's labels alone: the global ones were left to
        # readers of --json to derive, wrongly where labels were never learnt
        on_global = (self.source == FROM_GLOBAL) & np.isfinite(self.per_label)
        summary = {"global": float(self.global_threshold), "min_labels": self.min_labels,
                   "max_labels": self.max_labels,
                   "n_tuned_labels": int(np.count_nonzero(self.source == FROM_LABEL)),
                   "n_band_labels": int(np.count_nonzero(self.source == FROM_BAND)),
                   "n_global_labels": int(np.count_nonzero(on_global))}
        return summary | self._objective()

    def _objective(self) -> dict:
        if self.min_recall is not None:
            never = int(np.count_nonzero((self.source == FROM_LABEL)
                                         & np.isposinf(self.per_label)))
            recall: dict = {"objective": "recall", "min_recall": self.min_recall}
            # always 0 since such labels back off (a bundle tuned before has some)
            if never:
                recall["n_unreachable_labels"] = never
            if self.capped is not None:
                recall["n_capped_labels"] = int(np.count_nonzero(self.capped))
            if self.capped_shared is not None:
                recall["n_capped_shared_labels"] = int(np.count_nonzero(self.capped_shared))
            return recall
        if self.min_precision is not None:
            unreachable = (self.source == FROM_LABEL) & np.isposinf(self.per_label)
            return {"objective": "precision", "min_precision": self.min_precision,
                    "n_unreachable_labels": int(np.count_nonzero(unreachable))}
        if self.beta is not None:
            return {"objective": "f_beta", "beta": self.beta}
        return {}

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        assert self.source is not None
        meta: dict = {"global_threshold": float(self.global_threshold),
                      "min_labels": self.min_labels, "max_labels": self.max_labels}
        if self.min_precision is not None:
            meta["min_precision"] = self.min_precision
        elif self.min_recall is not None:
            meta["min_recall"] = self.min_recall
        elif self.beta is not None:
            meta["beta"] = self.beta
        arrays = {"per_label": self.per_label.astype(np.float32),
                  "tuned_mask": self.tuned_mask.astype(bool),
                  "source": self.source.astype(np.int8)}
        if self.band_of is not None:  # each label's band, named (a bundle before: none)
            arrays["band_of"] = self.band_of.astype(np.int16)
            meta["band_names"] = list(self.band_names)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> Thresholds:
        """The thresholds ``to_state`` saved; :class:`ValueError` saying what is wrong
        with any other state (a bundle loads it as a damaged bundle).

        The arrays were converted as they came: thresholds stored as strings of digits
        were parsed, a ``tuned_mask`` of strings read as all true (``"False"`` too), a
        ``source`` of 7 (or 300, wrapped to int8) counted as no source at all, and a
        ``global_threshold`` of ``"nan"`` or ``true`` was taken as NaN or 1.0.
        Thresholds may be infinite (``inf``: a label the model never learnt, never
        suggested), never NaN.
        """
        # whole numbers as stored: int() would read a crafted 2.7 as 2 (a ValueError is a
        # damaged bundle to the loader)
        min_labels = check_int("thresholds.min_labels", meta.get("min_labels", 0), 0)
        max_labels = check_int("thresholds.max_labels", meta.get("max_labels"), 0,
                               allow_none=True)
        global_threshold = meta["global_threshold"]
        if isinstance(global_threshold, bool) or not isinstance(global_threshold, int | float) \
                or not np.isfinite(global_threshold):
            raise ValueError(f"thresholds global_threshold is {global_threshold!r}, not a "
                             "finite number")
        # one entry per label: the loader checks the lengths against the label space
        per_label = check_values("thresholds per_label", arrays["per_label"], (None,),
                                 finite=False)
        tuned_mask = arrays["tuned_mask"]
        if tuned_mask.dtype != np.bool_ or tuned_mask.ndim != 1:
            raise ValueError(f"thresholds tuned_mask is not an array of booleans, one per "
                             f"label (dtype {tuned_mask.dtype}, shape {tuned_mask.shape})")
        source = None
        if "source" in arrays:
            source = check_ids("thresholds source", arrays["source"], FROM_LABEL + 1,
                               shape=tuned_mask.shape, dtype=np.int8)
            if not np.array_equal(source == FROM_LABEL, tuned_mask):
                raise ValueError("thresholds source and tuned_mask disagree on which labels "
                                 "have a threshold of their own")
        min_precision = meta.get("min_precision")
        if min_precision is not None and (isinstance(min_precision, bool) or not isinstance(
                min_precision, int | float) or not 0 < min_precision < 1):
            raise ValueError(f"thresholds min_precision is {min_precision!r}, not a number "
                             "between 0 and 1")
        min_recall = meta.get("min_recall")
        if min_recall is not None and (isinstance(min_recall, bool) or not isinstance(
                min_recall, int | float) or not 0 < min_recall < 1):
            raise ValueError(f"thresholds min_recall is {min_recall!r}, not a number "
                             "between 0 and 1")
        if min_precision is not None and min_recall is not None:
            # to_state writes one: loaded as both, the summary said recall and a save
            # wrote precision
            raise ValueError(f"thresholds have min_precision {min_precision:g} and "
                             f"min_recall {min_recall:g}: two objectives, where they are "
                             "tuned for one")
        beta = number_from_json(meta.get("beta"))  # may be infinite ("Infinity")
        if beta is not None and (isinstance(beta, bool) or not isinstance(beta, int | float)
                                 or not beta > 0):
            raise ValueError(f"thresholds beta is {beta!r}, not a number above 0")
        band_of, band_names = None, ()
        if "band_of" in arrays:  # absent in bundles saved before it was kept
            names = meta.get("band_names")
            if not isinstance(names, list) or not names \
                    or not all(isinstance(name, str) for name in names):
                raise ValueError(f"thresholds band_names is {names!r}, not the names of "
                                 "the bands of band_of")
            band_of = check_ids("thresholds band_of", arrays["band_of"], len(names),
                                shape=tuned_mask.shape, dtype=np.int16)
            band_names = tuple(names)
        return cls(per_label.astype(np.float32), float(global_threshold), tuned_mask,
                   min_labels, max_labels, source,
                   beta=None if beta is None else float(beta),
                   min_precision=None if min_precision is None else float(min_precision),
                   min_recall=None if min_recall is None else float(min_recall),
                   band_of=band_of, band_names=band_names)

    @classmethod
    def constant(cls, n_labels: int, value: float = 0.5) -> Thresholds:
        n_labels = check_int("n_labels", n_labels, 0, numpy=True)  # numpy: negative dimensions
        return cls(np.full(n_labels, value, np.float32), value, np.zeros(n_labels, bool))


def _fbeta(tp, fp, fn, beta: float) -> np.ndarray:
    b2 = beta * beta
    if b2 > 1e100:
        # divided by 1 + b2: the products below overflowed to inf from beta ~1e154 (and
        # for beta = inf), and every F-beta was NaN; here it tends to the recall, a false
        # positive weighing 1 / (1 + b2) (nothing at infinity)
        w = 1.0 / (1.0 + b2)
        denom = tp + (1.0 - w) * fn + w * fp
        return np.divide(tp, denom, out=np.zeros_like(denom, dtype=np.float64),
                         where=denom > 0)
    denom = (1 + b2) * tp + b2 * fn + fp
    return np.divide((1 + b2) * tp, denom, out=np.zeros_like(denom, dtype=np.float64),
                     where=denom > 0)


def _midway(upper, lower) -> np.ndarray:
    """float32 cut midway between scores ``upper`` > ``lower``, strictly above ``lower``.

    Thresholds are float32 and an entry passes with ``score >= cut``: the midpoint of
    two adjacent float32 scores rounds to one of them, and onto ``lower`` it would let
    that entry through, so the cut is at least the next float32 above ``lower`` (and
    at most ``upper``: a ``lower`` of ``upper - 1e-6`` that rounded to ``upper``
    must not shut the chosen entry out).

    >>> lower = np.float32(1.0)
    >>> bool(_midway(np.nextafter(lower, np.float32(2)), lower) > lower)
    True
    """
    upper, lower = np.asarray(upper, np.float32), np.asarray(lower, np.float32)
    mid = ((upper.astype(np.float64) + lower) / 2.0).astype(np.float32)
    return np.minimum(np.maximum(mid, np.nextafter(lower, np.float32(np.inf))), upper)


def _cut_between(scores: np.ndarray, best: int) -> float:
    """Midway between the chosen score and the next lower one (robust to small shifts)."""
    if best + 1 < len(scores):
        return float(_midway(scores[best], scores[best + 1]))
    return float(scores[best]) - 1e-6


def best_global_threshold(y_true: LabelMatrix, topk: TopK, *, beta: float = 1.0,
                          hits: np.ndarray | None = None) -> float:
    """Threshold maximising micro F-beta over all top-k entries.

    ``y_true`` holds labels 0 or 1 (or booleans); anything else (NaN, negative
    values, fractions, values above 1) is refused. ``hits`` (n x k, from
    :func:`tagsmith.metrics.topk_hits`) may be passed when the caller already has it.
    """
    # as tune_thresholds: F-beta squares beta, so -1 silently meant 1 (and 0 precision)
    beta = check_number("beta", beta, 0, strict=True, numpy=True)
    y_true = check_label_values(y_true)
    hits = topk_hits(y_true, topk) if hits is None else hits
    return _global_threshold(topk, hits, int(as_label_matrix(y_true).nnz), beta)


def _global_threshold(topk: TopK, hits: np.ndarray, n_pos: int, beta: float) -> float:
    """:func:`best_global_threshold` on checked input, given the number of positives."""
    valid = topk.valid
    scores, is_hit = topk.scores[valid], hits[valid]
    if scores.size == 0 or n_pos == 0:
        return 0.5
    order = np.argsort(-scores, kind="stable")
    scores, is_hit = scores[order], is_hit[order]
    tp = np.cumsum(is_hit)
    fp = np.arange(1, len(scores) + 1) - tp
    f = _fbeta(tp, fp, n_pos - tp, beta)
    # only cut where the next score differs (ties go together)
    boundary = np.append(scores[1:] != scores[:-1], True)
    f[~boundary] = -1.0
    return _cut_between(scores, int(np.argmax(f)))


def tune_thresholds(y_true: LabelMatrix, topk: TopK, *, beta: float = 1.0, min_support: int = 5,
                    tune_min_labels: bool = True, bands: FrequencyBands | None = None,
                    max_labels: int | None = None,
                    min_precision: float | None = None,
                    min_recall: float | None = None) -> Thresholds:
    """Per-label F-beta thresholds with back-off to the band or global threshold.

    ``y_true``: sparse (n_docs x n_labels) held-out labels; ``topk``: the model's
    scores on the same documents (labels 0 or 1, or booleans; NaN, negative values,
    fractions and values above 1 are refused). Labels with fewer than ``min_support`` held-out
    positives use their band's threshold when ``bands`` are given and the band has
    at least ``min_support`` positives, else the global threshold. With
    ``tune_min_labels``, also decides whether always giving each document its best
    label raises micro F-beta (the same ``beta`` as the thresholds). ``max_labels``
    caps every set (applied while tuning, so the thresholds suit the cap).

    ``min_precision`` (in (0, 1); another objective than ``beta``, which must then be
    left at 1) tunes for precision instead: each label's threshold is its lowest cut
    at which the lower end of the 95% Wilson interval of its held-out precision
    reaches ``min_precision`` (so a label needs more held-out hits the fewer it has:
    3 of 3 right is a precision of 0.44 to 1, never "0.9"); a label with no such cut
    (none at all, with too few positives) gets an infinite threshold and is never
    predicted by them, without back-off (``min_support``, ``bands`` and
    ``tune_min_labels`` do not apply: a band's or a forced best label's precision is no
    label's own). The global threshold is the same rule over every entry (1.0 where
    it has no such cut).

    ``min_recall`` (in (0, 1); the third objective, refused with ``min_precision`` or a
    ``beta`` other than 1) tunes for recall: each label's threshold is its highest cut
    at which the lower end of the 95% Wilson interval of its held-out recall (its hits
    over all its held-out positives, those outside the top-k included) reaches
    ``min_recall``, without a forced best label either. A label that reaches it at no
    cut (too few held-out positives: 20 of 20 found is a recall of 0.84 to 1; or
    positives the top-k never ranks) would need a threshold of 0, every document: its
    threshold is capped at its lowest held-out positive instead (``capped``). As with
    F-beta, a label with fewer than ``min_support`` held-out positives, or none ranked,
    backs off to its band's threshold (the same rule on the band's entries pooled, a
    band with no cut reaching it capped likewise) when ``bands`` are given and the band
    has at least ``min_support`` positives, else to the global one: an infinite
    threshold, never predicted, is no recall. The global threshold is the same rule
    over every entry, on the positives of the labels that have entries (a label with
    none, one the model never learnt, has no miss a cut could catch); a band's
    likewise.

    >>> topk = TopK.from_scores(np.array([[0.9, 0.2], [0.6, 0.7], [0.1, 0.8]]), k=2)
    >>> y = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 1]]))
    >>> tune_thresholds(y, topk, min_support=1, tune_min_labels=False).per_label.round(2)
    array([0.35, 0.45], dtype=float32)
    """
    checked_beta = check_number("beta", beta, 0, strict=True, numpy=True)
    check_int("max_labels", max_labels, 1, allow_none=True, numpy=True)
    min_precision = check_min_precision(min_precision, checked_beta)
    min_recall = check_min_recall(min_recall, checked_beta, min_precision)
    # a negative support silently tuned every label on its own (as min_support=0)
    check_int("min_support", min_support, 0, numpy=True)
    check_topk(topk)
    if max_labels is not None:
        topk = topk.head(max_labels)
    y_true = check_label_values(y_true)
    if y_true.shape != (len(topk), topk.n_labels):
        raise InvalidParameterError("y_true", f"shape {(len(topk), topk.n_labels)}",
                                    y_true.shape)
    # one check for the three objectives (a precision's, which uses no band, took them
    # unchecked; a recall's checked them after its per-label and global cuts)
    if bands is not None and bands.n_labels != topk.n_labels:
        raise InvalidParameterError("bands", f"bands over {topk.n_labels} "
                                             f"label{plural_s(topk.n_labels)}",
                                    f"{bands.n_labels} label{plural_s(bands.n_labels)}")
    hits = topk_hits(y_true, topk)  # computed once, used by both searches
    # y_true is checked: as a label set once (not re-checked and re-copied per use)
    labels = as_label_matrix(y_true)
    if min_precision is not None:
        return _with_bands(_precision_thresholds(labels, topk, hits, min_precision,
                                                 max_labels), bands)
    if min_recall is not None:
        return _with_bands(_recall_thresholds(labels, topk, hits, min_recall, max_labels,
                                              min_support, bands), bands)
    global_thr = _global_threshold(topk, hits, int(labels.nnz), checked_beta)
    per_label = np.full(topk.n_labels, global_thr, dtype=np.float32)
    support = np.bincount(labels.indices, minlength=topk.n_labels)
    source = np.full(topk.n_labels, FROM_GLOBAL, dtype=np.int8)
    valid = topk.valid
    if bands is not None:
        band_of = bands.band_of.astype(np.int64)
        band_support = np.bincount(band_of, weights=support, minlength=bands.n_bands)
        band_best = _grouped_best(band_of[topk.indices[valid]], topk.scores[valid],
                                  hits[valid], band_support, bands.n_bands, beta)
        usable = (band_support >= min_support) & ~np.isnan(band_best)
        from_band = usable[band_of]
        per_label[from_band] = band_best[band_of[from_band]]
        source[from_band] = FROM_BAND
    own = _grouped_best(topk.indices[valid], topk.scores[valid], hits[valid], support,
                        topk.n_labels, beta)
    tuned = (support >= min_support) & ~np.isnan(own)
    per_label[tuned] = own[tuned]
    source[tuned] = FROM_LABEL
    result = Thresholds(per_label, global_thr, tuned, max_labels=max_labels, source=source,
                        support=support.astype(np.int64), beta=float(checked_beta))
    if tune_min_labels:
        result.min_labels = _best_min_labels(labels, topk, per_label, checked_beta)
    return _with_bands(result, bands)


def _with_bands(thresholds: Thresholds, bands: FrequencyBands | None) -> Thresholds:
    """``thresholds`` recording each label's band of ``bands`` (if any), named."""
    if bands is not None:
        thresholds.band_of = bands.band_of.astype(np.int16, copy=True)
        thresholds.band_names = tuple(bands.names())
    return thresholds


def check_min_precision(min_precision: float | None, beta: float = 1.0) -> float | None:
    """``min_precision`` checked: None, or a number in (0, 1), with ``beta`` left at 1
    (two objectives for one set of thresholds are refused). At 1 no count of hits has a
    Wilson lower bound reaching it: every label would be left out."""
    if min_precision is None:
        return None
    value = check_number("min_precision", min_precision, 0, strict=True, numpy=True,
                         maximum=1)
    if value >= 1:
        raise InvalidParameterError("min_precision", "a precision in (0, 1) (at 1 no label "
                                    "reaches it on any count of held-out documents)",
                                    min_precision)
    if beta != 1:
        raise InvalidParameterError("min_precision", f"None with beta {beta:g}: the "
                                    "thresholds have one objective, F-beta or a precision",
                                    min_precision)
    return float(value)


def check_min_recall(min_recall: float | None, beta: float = 1.0,
                     min_precision: float | None = None) -> float | None:
    """``min_recall`` checked: None, or a number in (0, 1), with ``beta`` left at 1 and
    no ``min_precision`` (one objective for one set of thresholds)."""
    if min_recall is None:
        return None
    value = check_number("min_recall", min_recall, 0, strict=True, numpy=True, maximum=1)
    if value >= 1:
        raise InvalidParameterError("min_recall", "a recall in (0, 1) (at 1 no label "
                                    "reaches it on any count of held-out documents)",
                                    min_recall)
    if min_precision is not None:
        raise InvalidParameterError("min_recall", f"None with min_precision "
                                    f"{min_precision:g}: the thresholds have one objective, "
                                    "a precision or a recall", min_recall)
    if beta != 1:
        raise InvalidParameterError("min_recall", f"None with beta {beta:g}: the "
                                    "thresholds have one objective, F-beta or a recall",
                                    min_recall)
    return float(value)


#: the confidence of the Wilson interval whose lower end a ``min_precision`` threshold's
#: held-out precision (or a ``min_recall`` one's recall) must reach
PRECISION_CONFIDENCE = 0.95


def _precision_thresholds(labels: sp.csr_matrix, topk: TopK, hits: np.ndarray,
                          min_precision: float, max_labels: int | None) -> Thresholds:
    """:func:`tune_thresholds` with ``min_precision``, on checked input."""
    valid = topk.valid
    support = np.bincount(labels.indices, minlength=topk.n_labels).astype(np.int64)
    per_label, best = _grouped_precision_cut(topk.indices[valid], topk.scores[valid],
                                             hits[valid], topk.n_labels, min_precision)
    pooled, _ = _grouped_precision_cut(np.zeros(int(valid.sum()), np.int64),
                                       topk.scores[valid], hits[valid], 1, min_precision)
    global_thr = float(pooled[0]) if np.isfinite(pooled[0]) else 1.0
    tuned = np.ones(topk.n_labels, bool)  # each label's own: a cut, or never
    return Thresholds(per_label, global_thr, tuned, max_labels=max_labels,
                      source=np.full(topk.n_labels, FROM_LABEL, np.int8), support=support,
                      min_precision=min_precision, best_precision=best)


def _recall_thresholds(labels: sp.csr_matrix, topk: TopK, hits: np.ndarray,
                       min_recall: float, max_labels: int | None, min_support: int = 5,
                       bands: FrequencyBands | None = None) -> Thresholds:
    """:func:`tune_thresholds` with ``min_recall``, on checked input."""
    valid = topk.valid
    support = np.bincount(labels.indices, minlength=topk.n_labels).astype(np.int64)
    scores, is_hit = topk.scores[valid], hits[valid]
    own, best, capped = _grouped_recall_cut(topk.indices[valid], scores, is_hit, support,
                                            topk.n_labels, min_recall)
    # the pool's positives are those of the labels pooled: a label with no entry (one
    # the model never learnt, its entries moved out) counted misses no cut could catch
    pooled_support = np.where(np.bincount(topk.indices[valid], minlength=topk.n_labels) > 0,
                              support, 0)
    pooled, _, pooled_capped = _grouped_recall_cut(
        np.zeros(int(valid.sum()), np.int64), scores, is_hit,
        np.array([pooled_support.sum()]), 1, min_recall)
    global_thr = float(pooled[0]) if np.isfinite(pooled[0]) else 1.0
    per_label = np.full(topk.n_labels, global_thr, dtype=np.float32)
    source = np.full(topk.n_labels, FROM_GLOBAL, dtype=np.int8)
    # as F-beta's: a label of too few held-out positives (or none ranked) backs off to
    # its band's threshold, the same rule on the band's pooled recall (an infinite
    # one, never predicted, was no recall at all), else to the global one
    tuned = (support >= min_support) & np.isfinite(own)
    # the labels on a shared threshold (band or global) capped short of it, as their own
    capped_global = bool(pooled_capped[0]) and bool(np.isfinite(pooled[0]))
    shared_capped = np.full(topk.n_labels, capped_global)
    capped_bands: tuple[str, ...] = ()
    if bands is not None:
        band_of = bands.band_of.astype(np.int64)
        band_support = np.bincount(band_of, weights=pooled_support,
                                   minlength=bands.n_bands).astype(np.int64)
        band_cut, _, band_capped = _grouped_recall_cut(
            band_of[topk.indices[valid]], scores, is_hit, band_support, bands.n_bands,
            min_recall)
        usable = (band_support >= min_support) & np.isfinite(band_cut)
        from_band = usable[band_of] & ~tuned
        per_label[from_band] = band_cut[band_of[from_band]]
        source[from_band] = FROM_BAND
        shared_capped[from_band] = band_capped[band_of[from_band]]
        names = bands.names()
        capped_bands = tuple(names[b] for b in np.unique(band_of[from_band])
                             if band_capped[b])
    per_label[tuned] = own[tuned]
    source[tuned] = FROM_LABEL
    passed = valid & (topk.scores >= per_label[np.where(valid, topk.indices, 0)])
    coverage = (np.bincount(topk.indices[passed], minlength=topk.n_labels)
                / max(len(topk), 1))
    shared_capped &= ~tuned
    return Thresholds(per_label, global_thr, tuned, max_labels=max_labels, source=source,
                      support=support, min_recall=min_recall, capped=capped & tuned,
                      best_recall=best, coverage=coverage, capped_shared=shared_capped,
                      capped_bands=capped_bands, capped_global=capped_global)


class _Groups(NamedTuple):
    """Entries sorted by group id, then by score, highest first (:func:`_sorted_groups`)."""

    labels: np.ndarray  # the entries' group ids
    scores: np.ndarray
    starts: np.ndarray  # where each group begins
    group: np.ndarray  # each entry's group, numbered from 0 in order
    tp: np.ndarray  # the hits of its group down to it, it included
    seen: np.ndarray  # the entries of its group down to it, it included
    last_in_group: np.ndarray  # bool: its group's last entry
    boundary: np.ndarray  # bool: a cut may fall after it (ties go together)


def _sorted_groups(labels: np.ndarray, scores: np.ndarray, is_hit: np.ndarray) -> _Groups:
    """The sort and grouping that F-beta, precision and recall cuts per group share
    (``labels``: each entry's group id, a label or its band; nonempty).

    >>> g = _sorted_groups(np.array([1, 0, 1, 1]), np.array([0.2, 0.9, 0.5, 0.5]),
    ...                    np.array([1, 1, 0, 1], bool))
    >>> g.labels.tolist(), g.tp.tolist(), g.seen.tolist(), g.boundary.tolist()
    ([0, 1, 1, 1], [1, 0, 1, 2], [1, 1, 2, 3], [True, False, True, True])
    """
    order = np.lexsort((-scores, labels))
    labels, scores, is_hit = labels[order], scores[order], is_hit[order]
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(labels)]))
    tp_all = np.cumsum(is_hit)
    tp = tp_all - np.r_[0, tp_all][starts][group]
    seen = np.arange(len(labels)) - starts[group] + 1
    last_in_group = np.r_[labels[1:] != labels[:-1], True]
    boundary = last_in_group | np.r_[scores[1:] != scores[:-1], True]
    return _Groups(labels, scores, starts, group, tp, seen, last_in_group, boundary)


def _cut_after(scores: np.ndarray, last_in_group: np.ndarray, at: np.ndarray) -> np.ndarray:
    """float32 cuts just below the sorted entries ``at`` (:func:`_sorted_groups`): midway
    to the next entry of their group, or 1e-6 below a group's last."""
    next_scores = np.where(last_in_group[at], scores[at] - 1e-6,
                           scores[np.minimum(at + 1, len(scores) - 1)])
    return _midway(scores[at], next_scores)


def _grouped_recall_cut(labels: np.ndarray, scores: np.ndarray, is_hit: np.ndarray,
                        support: np.ndarray, n_groups: int, min_recall: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group id of the entries (``support``: each group's positives, those outside
    the entries included): the highest cut whose hits' recall has a Wilson lower bound
    of at least ``min_recall`` (float32), else the cut just below the group's lowest hit
    (``capped`` True), or inf where it has none; and the highest such bound (float64,
    NaN where the group has no hit).

    >>> hits = np.array([1] * 10 + [0, 1], bool)  # 10 of the 11 positives on top
    >>> cut, best, capped = _grouped_recall_cut(np.zeros(12, np.int64),
    ...     np.linspace(0.99, 0.88, 12), hits, np.array([11]), 1, 0.6)
    >>> round(float(cut[0]), 3), round(float(best[0]), 3), bool(capped[0])
    (0.895, 0.741, False)
    >>> cut, _, capped = _grouped_recall_cut(np.zeros(12, np.int64),
    ...     np.linspace(0.99, 0.88, 12), hits, np.array([11]), 1, 0.8)  # 11 of 11: 0.741
    >>> round(float(cut[0]), 3), bool(capped[0])
    (0.88, True)
    """
    from tagsmith.metrics.sets import wilson_interval

    cut = np.full(n_groups, np.inf, dtype=np.float32)
    best = np.full(n_groups, np.nan)
    capped = np.zeros(n_groups, bool)
    if labels.size == 0:
        return cut, best, capped
    labels, scores, starts, group, tp, _, last_in_group, boundary = _sorted_groups(
        labels, scores, is_hit)
    positives = np.maximum(support[labels], tp)  # at least the hits counted
    low, _ = wilson_interval(tp, np.maximum(positives, 1), confidence=PRECISION_CONFIDENCE)
    low = np.where(boundary & (tp > 0), low, -1.0)
    best_low = np.full(len(starts), -1.0)
    np.maximum.at(best_low, group, low)
    best[labels[starts]] = np.where(best_low >= 0, best_low, np.nan)
    big = len(labels)
    # the highest cut reaching it: the first qualifying entry of each group; else the
    # cut catching every hit of the group (the first boundary at its total hits)
    qualifies = low >= min_recall
    total = tp[last_in_group][group]
    all_hits = boundary & (tp > 0) & (tp == total)
    first = np.full(len(starts), big)
    np.minimum.at(first, group, np.where(qualifies, np.arange(big), big))
    lowest_hit = np.full(len(starts), big)
    np.minimum.at(lowest_hit, group, np.where(all_hits, np.arange(big), big))
    reached = first < big
    at = np.where(reached, first, lowest_hit)
    found = at < big
    cut[labels[starts[found]]] = _cut_after(scores, last_in_group, at[found])
    capped[labels[starts[found & ~reached]]] = True
    return cut, best, capped


def _grouped_precision_cut(labels: np.ndarray, scores: np.ndarray, is_hit: np.ndarray,
                           n_groups: int, min_precision: float
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Per group id of the entries: the lowest cut whose entries' precision has a Wilson
    lower bound of at least ``min_precision`` (float32, inf where none has), and the
    highest such bound at any cut (float64, NaN where the group has no entry).

    >>> cut, best = _grouped_precision_cut(np.zeros(12, np.int64),
    ...     np.linspace(0.99, 0.88, 12), np.array([1] * 10 + [0, 1], bool), 1, 0.7)
    >>> round(float(cut[0]), 3), round(float(best[0]), 3)  # 10 of the top 10, not 11 of 12
    (0.895, 0.722)
    """
    from tagsmith.metrics.sets import wilson_interval

    cut = np.full(n_groups, np.inf, dtype=np.float32)
    best = np.full(n_groups, np.nan)
    if labels.size == 0:
        return cut, best
    labels, scores, starts, group, tp, seen, last_in_group, boundary = _sorted_groups(
        labels, scores, is_hit)
    low, _ = wilson_interval(tp, seen, confidence=PRECISION_CONFIDENCE)
    low = np.where(boundary, low, -1.0)
    best_low = np.full(len(starts), -1.0)
    np.maximum.at(best_low, group, low)
    best[labels[starts]] = np.where(best_low >= 0, best_low, np.nan)
    # the lowest cut reaching it: the last qualifying entry of each group
    position = np.where(low >= min_precision, np.arange(len(labels)), -1)
    last = np.full(len(starts), -1)
    np.maximum.at(last, group, position)
    found = last[last >= 0]
    cut[labels[found]] = _cut_after(scores, last_in_group, found)
    return cut, best


def _grouped_best(labels: np.ndarray, scores: np.ndarray, is_hit: np.ndarray,
                  support: np.ndarray, n_groups: int, beta: float) -> np.ndarray:
    """Best F-beta cut per group id of the entries (NaN where the group has no hit).

    ``labels`` are the entries' group ids (a label, or its band), ``support`` the
    positives of each group (those outside the top-k included).
    """
    out = np.full(n_groups, np.nan, dtype=np.float32)
    if labels.size == 0:
        return out
    labels, scores, _, group, tp, seen, last_in_group, boundary = _sorted_groups(
        labels, scores, is_hit)
    f = _fbeta(tp, seen - tp, support[labels] - tp, beta)
    f[~boundary] = -1.0
    best_order = np.lexsort((-f, group))  # best F first within each group
    best = best_order[np.flatnonzero(np.r_[True, group[best_order][1:] !=
                                           group[best_order][:-1]])]
    # no hit: back off
    cut = np.where(f[best] > 0, _cut_after(scores, last_in_group, best), np.nan)
    out[labels[best]] = cut
    return out


def _best_min_labels(labels: sp.csr_matrix, topk: TopK, per_label: np.ndarray,
                     beta: float = 1.0) -> int:
    """0 or 1: whether forcing each document's best label in raises micro F-beta.

    By the thresholds' own ``beta``: micro F1 here chose for recall-heavy (``beta > 1``)
    or precision-heavy thresholds by another measure than theirs. With ``beta = 1``
    F-beta is ``2 TP / (2 TP + FN + FP)``, exactly micro F1 (integer counts).
    """
    n_true = int(labels.count_nonzero())
    scores = []
    for m in (0, 1):
        predicted = topk.label_sets(per_label, min_labels=m)
        tp = int(labels.multiply(predicted).count_nonzero())
        fp = int(predicted.count_nonzero()) - tp
        scores.append(float(_fbeta(np.float64(tp), fp, n_true - tp, beta)))
    return int(np.argmax(scores))
