"""Trustworthy confidence for a trained classifier: calibrate, tune, fit conformal sets.

:func:`calibrate_classifier` turns held-out scores of the shipped model (a
:class:`~tagsmith.pipeline.crossfit.HeldoutScores`, e.g. the calibration split that
``train`` keeps aside, or a labelled corpus the model never saw) into:

1. a :class:`~tagsmith.calibration.scaling.Calibrator` (scores -> probabilities,
   with tail probabilities for unlisted labels) and per-label F-beta thresholds on
   those probabilities (band / global back-off, optional set-size cap), fitted on one
   part of the held-out documents;
2. conformal statistics (:class:`ConformalModel`: recall control, its Mondrian
   per-band variant and, for small label spaces, LP-ICP) fitted on the *other*
   part, scored through the now fixed calibrator, so the guarantees hold exactly.

The split is seeded (``conformal_fraction`` of the documents go to the conformal
part). ``calibrator_source="crossfit"`` fits the calibrator on the training
documents' out-of-fold scores instead and keeps every held-out document for the
conformal part; ``"same"`` uses all held-out documents for both (more data for each,
but the conformal guarantee is then only approximate). The report compares raw
and calibrated reliability on the conformal part, which the calibrator never saw.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import (
    check_at_construction,
    check_bool,
    check_choice,
    check_int,
    check_language,
    check_number,
    check_options,
)
from tagsmith._plural import and_more, plural, plural_s
from tagsmith._surface import said
from tagsmith._typing import LabelMatrix
from tagsmith.calibration.reliability import reliability_report
from tagsmith.calibration.scaling import METHODS, Calibrator, fit_calibrator
from tagsmith.calibration.thresholds import (
    FEW_POSITIVES,
    FROM_BAND,
    FROM_GLOBAL,
    FROM_LABEL,
    Thresholds,
    check_min_precision,
    check_min_recall,
    tune_thresholds,
)
from tagsmith.conformal.lpicp import PowersetICP, PowersetSets, fit_powerset_icp
from tagsmith.conformal.risk import RecallControl, check_alpha, fit_recall_control
from tagsmith.data.labelspace import check_label_table
from tagsmith.exceptions import DataError, InvalidParameterError
from tagsmith.models.splits import split_order
from tagsmith.pipeline.classifier import require_calibrated
from tagsmith.pipeline.crossfit import CrossFitScores, HeldoutScores
from tagsmith.topk import PAD, TopK, check_topk

if TYPE_CHECKING:  # the classifier imports this module
    from tagsmith.calibration.bands import FrequencyBands
    from tagsmith.calibration.shift import LabelShift
    from tagsmith.conformal.sets import LabelSets
    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.classifier import TextClassifier

logger = logging.getLogger("tagsmith")

#: LP-ICP is fitted by default up to this many labels (it needs every label's probability)
LPICP_MAX_LABELS = 100
#: calibration on fewer held-out documents than this is refused
MIN_HELDOUT_DOCS = 10
#: below this many held-out documents calibration warns: probabilities and conformal
#: guarantees fitted on so few are noisy
FEW_HELDOUT_DOCS = 100
#: a ``conformal_fraction`` split leaving either part (the calibrator's documents, the
#: conformal sets') fewer documents than this is refused (half of MIN_HELDOUT_DOCS: the
#: default even split of the fewest held-out documents passes), fewer than half of
#: FEW_HELDOUT_DOCS gives a warning
MIN_SPLIT_DOCS = MIN_HELDOUT_DOCS // 2
SOURCES = ("auto", "split", "crossfit", "same")
SET_METHODS = ("recall", "mondrian", "lpicp")


@dataclass
class ConfidenceOptions:
    """How to calibrate; every field has a sane default.

    ``method``: the calibrator, ``isotonic``, ``platt`` or ``temperature``
    (:func:`tagsmith.calibration.scaling.fit_calibrator`); ``n_bands``: the label
    frequency bands a rare label's calibrator, threshold and Mondrian sets back off to;
    ``shrinkage``: the weight, in held-out entries, of the band's fit in each label's.
    ``calibrator_source``: where the calibrator is fitted, ``split`` (one part of the
    held-out documents, the conformal statistics on the other: an exact guarantee),
    ``same`` (all of them for both: an approximate one), ``crossfit`` (the training
    documents' out-of-fold scores; needs ``crossfit_folds`` and a calibration split) or
    ``auto`` (``split``); ``conformal_fraction``: the share of the held-out documents for the
    conformal part, in (0, 1); ``seed``: seeds that split. ``alpha``: the miss rate in
    (0, 1) the conformal sets are calibrated for (``predict_sets``'s default);
    ``lpicp``: fit label-powerset sets too (None: for label spaces up to 100 labels);
    ``max_set_size``: sets larger abstain (None: 3 times the calibration documents'
    mean number of true labels, at least 3). ``beta``: the re-tuned
    thresholds maximise each label's F-beta on the calibrated probabilities, or reach
    ``min_precision`` or ``min_recall`` instead (one of the three); ``min_support``: a
    label with fewer held-out positives backs off to its band's threshold, then the
    global one; ``max_labels``: most labels a document's thresholded set keeps (None:
    no cap).

    A field out of range is an :class:`~tagsmith.exceptions.InvalidParameterError`
    naming it, raised by :meth:`validate`.
    """

    method: str = "isotonic"
    n_bands: int = 4
    shrinkage: float = 30.0
    calibrator_source: str = "auto"
    conformal_fraction: float = 0.5
    alpha: float = 0.1
    lpicp: bool | None = None  # None: when the label space has <= LPICP_MAX_LABELS labels
    beta: float = 1.0
    min_support: int = 5
    max_labels: int | None = None
    max_set_size: int | None = None
    seed: int = 0
    #: thresholds for this precision per label instead of F-beta (``tune_thresholds``),
    #: tuned on documents the calibrator did not fit where there are such
    min_precision: float | None = None
    #: thresholds for this recall per label instead (``tune_thresholds``), likewise
    min_recall: float | None = None

    def __post_init__(self) -> None:
        # a bad field is refused here, naming it, not where the options are used
        check_at_construction(self)

    def validate(self) -> None:
        """Refuse a bad field; numpy numbers pass and are kept as plain Python ones
        (the options are written to the bundle's manifest, JSON: a numpy ``max_labels``
        or ``alpha`` failed the save after the whole calibration had run)."""
        self.method = check_choice("method", self.method, METHODS)
        self.calibrator_source = check_choice("calibrator_source", self.calibrator_source,
                                              SOURCES)
        self.conformal_fraction = check_alpha(self.conformal_fraction, "conformal_fraction")
        self.n_bands = check_int("n_bands", self.n_bands, 1, numpy=True)
        self.shrinkage = check_number("shrinkage", self.shrinkage, 0, finite=True, numpy=True)
        self.beta = check_number("beta", self.beta, 0, strict=True, numpy=True)
        self.min_precision = check_min_precision(self.min_precision, self.beta)
        self.min_recall = check_min_recall(self.min_recall, self.beta, self.min_precision)
        self.max_set_size = check_int("max_set_size", self.max_set_size, 1, allow_none=True,
                                      numpy=True)
        self.max_labels = check_int("max_labels", self.max_labels, 1, allow_none=True,
                                    numpy=True)
        # as TrainOptions checks them: -1 or 1.5 failed inside numpy's seeding (a bare
        # ValueError or TypeError) once the calibrator split began
        self.seed = check_int("seed", self.seed, 0, numpy=True)
        self.min_support = check_int("min_support", self.min_support, 0, numpy=True)
        self.alpha = check_alpha(self.alpha)
        # None (auto) or a flag: "no" or 1.5 fitted LP-ICP by their truth value
        if self.lpicp is not None:
            self.lpicp = check_bool("lpicp", self.lpicp)


@dataclass(frozen=True)
class AlphaFloor:
    """Why every ``method`` set at an alpha is everything (:meth:`ConformalModel.alpha_floor`):
    ``n`` calibration documents with a true label (in the smallest band or group where
    ``banded``), so no alpha below ``smallest = 1 / (n + 1)`` is met; ``needed_text``:
    how many such documents the alpha needs (``"99"``, ``"1e+300"``)."""

    method: str
    n: int
    smallest: float
    needed_text: str
    banded: bool


@dataclass
class ConformalModel:
    """The conformal statistics a bundle keeps: any alpha can be asked for later."""

    recall: RecallControl
    mondrian: RecallControl | None
    lpicp: PowersetICP | None
    alpha: float
    max_set_size: int | None = None
    n_docs: int = 0

    @property
    def k(self) -> int:
        """Candidates per document the sets were calibrated with (predict with these)."""
        return self.recall.k

    def __repr__(self) -> str:
        # one line at a prompt: the dataclass repr printed the calibration scores of
        # each method
        return (f"ConformalModel(methods={self.methods()}, alpha={self.alpha:g}, "
                f"k={self.k}, n_docs={self.n_docs}, max_set_size={self.max_set_size})")

    def methods(self) -> list[str]:
        """The set methods fitted, of ``recall``, ``mondrian`` and ``lpicp``, in that
        order (``predict_sets``' ``method`` takes one of them)."""
        return [name for name, part in (("recall", self.recall), ("mondrian", self.mondrian),
                                        ("lpicp", self.lpicp)) if part is not None]

    def alpha_too_small(self, alpha: float, method: str = "recall") -> str | None:
        """Why every ``method`` set at ``alpha`` is the whole label space (or the whole
        band, for ``mondrian``), or ``None`` when the calibration allows smaller sets.

        With ``n`` calibration documents (those with a true label; per band for
        ``mondrian``, per group for ``lpicp``), no set short of everything meets an
        ``alpha`` below ``1 / (n + 1)``: 6 documents at ``alpha`` 0.01 answered every
        document with every label, without a word. For ``mondrian``, a band without such
        documents has no threshold at any alpha (its labels join every set): that is
        said instead.

        >>> rng = np.random.default_rng(0)
        >>> scores = rng.random((6, 3))
        >>> recall = fit_recall_control(sp.csr_matrix(scores > 0.5), TopK.from_scores(scores, 3))
        >>> model = ConformalModel(recall, None, None, alpha=0.1, n_docs=6)
        >>> model.alpha_too_small(0.2) is None
        True
        >>> reason, remedy = model.alpha_too_small(0.01).split(": ")
        >>> reason
        'alpha 0.01 is below 1/(n + 1) = 0.1429 for the n = 6 conformal documents with a true label'
        >>> remedy.split("; ")[0], remedy.split(", ")[1]
        ('every recall set is every label', 'or use an alpha of at least 0.1429')
        >>> remedy.split("; ")[1].split(",")[0]
        'calibrate on at least 99 such documents'
        """
        floor = self._alpha_floor(alpha, method)
        if floor is None or isinstance(floor, str):
            return floor
        whole = "every label" if method != "mondrian" else "every label of its band"
        docs = (f"the n = {floor.n} conformal document{plural_s(floor.n)} with a true label"
                + (" in the smallest band" if floor.banded else ""))
        return (f"alpha {alpha:g} is below 1/(n + 1) = {floor.smallest:.4f} for {docs}: every "
                f"{method} set is {whole}; calibrate on at least {floor.needed_text} such "
                f"documents, or use an alpha of at least {floor.smallest:.4f}")

    def alpha_floor(self, alpha: float, method: str = "recall") -> AlphaFloor | None:
        """The figures of :meth:`alpha_too_small` where ``alpha`` is below ``1 / (n +
        1)`` for the ``method`` sets, else ``None`` (a ``mondrian`` band without
        documents, which no alpha helps, is ``None`` too): the warning of too-wide sets
        carries them, and the CLI then does not say them again."""
        floor = self._alpha_floor(alpha, method)
        return None if isinstance(floor, str) else floor

    def _alpha_floor(self, alpha: float, method: str) -> AlphaFloor | str | None:
        part = {"recall": self.recall, "mondrian": self.mondrian, "lpicp": self.lpicp}.get(method)
        if part is None:
            return None
        if isinstance(part, PowersetICP):
            counts = np.diff(part.indptr)
        else:
            counts = np.asarray(part.n_docs)
            # a band of labels never trained alone has no document and no set member
            in_sets = np.ones(counts.size, bool)
            if part.excluded is not None and part.band_of is not None:
                in_sets = np.bincount(part.band_of[~part.excluded].astype(np.int64),
                                      minlength=counts.size) > 0
            empty = int(np.count_nonzero((counts == 0) & in_sets))
            if empty and method == "mondrian":
                # no threshold at any alpha: each such band's labels join every set; left
                # out of the count below, this said nothing (calibrated on documents of
                # the frequent labels alone, a set held every rare label, silently)
                bands = (f"{empty} of the {counts.size} frequency bands have"
                         if empty > 1 else f"1 of the {counts.size} frequency bands has")
                those = "those bands" if empty > 1 else "that band"
                return (f"{bands} no conformal document with a true label: every mondrian "
                        f"set holds every label of {those}, at any alpha; calibrate on "
                        "documents with labels of every band, or use the recall sets")
        counts = counts[counts > 0]  # a group without documents has no threshold at any alpha
        if counts.size == 0:
            return None
        n = int(counts.min())
        smallest = 1.0 / (n + 1)
        # the budget rule of risk.py and lpicp.py, with their 1e-12 relative tolerance
        if alpha * (n + 1) * (1 + 1e-12) >= 1.0:
            return None
        needed = int(np.ceil(1.0 / alpha * (1 - 1e-12))) - 1
        # alpha 1e-300 asked for a number of documents of 300 digits
        needed_text = str(needed) if needed < 10 ** 12 else f"{needed:.3g}"
        return AlphaFloor(method, n, smallest, needed_text, counts.size > 1)

    def set_size_limit(self, method: str = "recall", max_set_size: int | None = None) -> int:
        """The set size above which a ``method`` set abstains: ``max_set_size``, else
        the calibrated one, else the method's default (3 x the calibration documents'
        mean number of true labels, at least 3)."""
        if max_set_size is not None:
            return int(max_set_size)
        if self.max_set_size is not None:
            return int(self.max_set_size)
        part = {"recall": self.recall, "mondrian": self.mondrian, "lpicp": self.lpicp}[method]
        return (self.recall if part is None else part).default_max_set_size()

    def check_options(self, alpha: float | None, max_set_size: int | None,
                      min_confidence: float, method: str = "recall"
                      ) -> tuple[float, int | None, float]:
        """``(alpha, max_set_size, min_confidence)`` of :meth:`predict`, checked: alpha in
        (0, 1) (None: the calibrated one), max_set_size None or an integer >= 1,
        min_confidence a probability (NaN or above 1 flagged every set, below 0 none),
        method one this model was calibrated for."""
        check_choice("method", method, self.methods(),
                     note="the ones this model was calibrated for")
        alpha = self.alpha if alpha is None else check_alpha(alpha)
        max_set_size = check_int("max_set_size", max_set_size, 1, allow_none=True,
                                 numpy=True)
        min_confidence = check_number("min_confidence", min_confidence, 0, maximum=1,
                                      numpy=True)
        return alpha, max_set_size, min_confidence

    def predict(self, probabilities: TopK, *, alpha: float | None = None,
                method: str = "recall", max_set_size: int | None = None,
                min_confidence: float = 0.0) -> LabelSets | PowersetSets:
        """Sets for calibrated ``probabilities`` (k = :attr:`k` candidates per document)."""
        alpha, limit, min_confidence = self._checked(probabilities, alpha, max_set_size,
                                                     min_confidence, method)
        if method == "recall":
            return self.recall.predict(probabilities, alpha, max_set_size=limit,
                                       min_confidence=min_confidence)
        if method == "mondrian" and self.mondrian is not None:
            return self.mondrian.predict(probabilities, alpha, max_set_size=limit,
                                         min_confidence=min_confidence)
        if method == "lpicp" and self.lpicp is not None:
            sets = self.lpicp.predict(probabilities, alpha, max_set_size=limit)
            if min_confidence > 0:  # LP-ICP's own measure: the best label set's p-value
                sets.unsure = sets.credibility < min_confidence
                sets.abstain |= sets.unsure
            return sets
        raise AssertionError(f"unreachable: {method!r} passed check_options")

    def set_sizes(self, probabilities: TopK, *, alpha: float | None = None,
                  method: str = "recall", max_set_size: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """``(set size, too_large)`` per document of :meth:`predict`'s sets (an LP-ICP
        set's size: its possible labels), checked as predict checks. LP-ICP's without
        predict's count of each document's label sets, which nothing here reads (seconds
        on a weak model's thousands of documents)."""
        if method != "lpicp" or self.lpicp is None:
            sets = self.predict(probabilities, alpha=alpha, method=method,
                                max_set_size=max_set_size)
            too_large = sets.too_large if sets.too_large is not None else sets.abstain
            sizes = sets.possible.sum(axis=1) if isinstance(sets, PowersetSets) else sets.size
            return np.asarray(sizes), np.asarray(too_large, bool)
        alpha, limit, _ = self._checked(probabilities, alpha, max_set_size, 0.0, method)
        return self.lpicp.set_sizes(probabilities, alpha, max_set_size=limit)

    def _checked(self, probabilities: TopK, alpha: float | None, max_set_size: int | None,
                 min_confidence: float, method: str) -> tuple[float, int | None, float]:
        """:meth:`check_options` and ``probabilities`` checked, the size limit resolved
        (the calibrated one where ``max_set_size`` is None)."""
        alpha, max_set_size, min_confidence = self.check_options(alpha, max_set_size,
                                                                 min_confidence, method)
        limit = self.max_set_size if max_set_size is None else max_set_size
        check_topk(probabilities, "probabilities")
        # another width voids the guarantee of every method (LP-ICP needs every label)
        self.recall.check_width(probabilities, "probabilities")
        return alpha, limit, min_confidence

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The conformal parts as a bundle saves them: JSON-able ``meta`` and named
        arrays, each part's prefixed with its method's name (:meth:`from_state` reads
        them back)."""
        meta: dict = {"alpha": self.alpha, "max_set_size": self.max_set_size,
                      "n_docs": self.n_docs}
        arrays: dict[str, np.ndarray] = {}
        for name, part in (("recall", self.recall), ("mondrian", self.mondrian),
                           ("lpicp", self.lpicp)):
            if part is None:
                continue
            part_meta, part_arrays = part.to_state()
            meta[name] = part_meta
            arrays.update({f"{name}__{key}": value for key, value in part_arrays.items()})
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> ConformalModel:
        """The conformal model :meth:`to_state` saved."""
        def part(name):
            prefix = f"{name}__"
            return {key[len(prefix):]: value for key, value in arrays.items()
                    if key.startswith(prefix)}

        recall = RecallControl.from_state(meta["recall"], part("recall"))
        mondrian = (RecallControl.from_state(meta["mondrian"], part("mondrian"))
                    if "mondrian" in meta else None)
        lpicp = (PowersetICP.from_state(meta["lpicp"], part("lpicp"))
                 if "lpicp" in meta else None)
        _check_parts_agree(recall, mondrian, lpicp)
        # what predict would refuse on every text, naming a parameter nobody passed
        return cls(recall, mondrian, lpicp, check_alpha(meta["alpha"], "conformal alpha"),
                   check_int("conformal max_set_size", meta.get("max_set_size"), 1,
                             allow_none=True),
                   check_int("conformal n_docs", meta.get("n_docs", 0), 0))


def _check_parts_agree(recall: RecallControl, mondrian: RecallControl | None,
                       lpicp: PowersetICP | None) -> None:
    """ValueError unless the conformal methods of one bundle cover the same labels and
    read the same top-k width, as they were fitted (on the same probabilities): only the
    recall control's are checked against the classifier, and another count or width
    failed on every text with the method (or gave LP-ICP sets over other labels)."""
    if mondrian is not None and (mondrian.n_labels, mondrian.k) != (recall.n_labels, recall.k):
        raise ValueError(f"the Mondrian recall control covers {mondrian.n_labels} "
                         f"label{plural_s(mondrian.n_labels)} at "
                         f"top-{mondrian.k}, the recall control {recall.n_labels} at "
                         f"top-{recall.k}")
    if lpicp is not None:
        if lpicp.n_labels != recall.n_labels:
            raise ValueError(f"LP-ICP covers {lpicp.n_labels} label{plural_s(lpicp.n_labels)}, the "
                             "recall control "
                             f"{recall.n_labels}")
        if recall.k < recall.n_labels:  # LP-ICP reads every label's probability
            raise ValueError(f"LP-ICP needs every label's probability, the sets are "
                             f"calibrated at top-{recall.k} of {recall.n_labels} "
                             f"label{plural_s(recall.n_labels)}")


#: how the warnings about the calibrator / conformal split name the share, ``%g`` its
#: value: ``tagsmith train``, which has no ``--conformal-fraction``, passes its own words
#: (the private ``_conformal_share`` keyword of :func:`fit_confidence` and its callers)
CONFORMAL_SHARE = "conformal_fraction %g"


def _check_conformal_share(conformal_share: object) -> str:
    """``_conformal_share`` if it is words with one ``%g`` (where the share's value goes)
    and no other ``%``, else :class:`InvalidParameterError` naming it: the warnings
    format it with the value, and another ``%`` broke the logging of the warning.

    >>> _check_conformal_share("the share %g")
    'the share %g'
    """
    if not isinstance(conformal_share, str) or conformal_share.count("%") != 1 \
            or "%g" not in conformal_share:
        raise InvalidParameterError("_conformal_share", "words naming the share, with one %g "
                                    f"where its value goes (e.g. {CONFORMAL_SHARE!r})",
                                    conformal_share)
    return conformal_share


def _split(heldout: HeldoutScores, options: ConfidenceOptions, crossfit, crossfit_Y,
           conformal_share: str = CONFORMAL_SHARE):
    """(calibrator documents: (Y, topk), conformal documents: HeldoutScores, how);
    the warnings name the share as ``conformal_share`` says."""
    source = options.calibrator_source
    if source == "auto":
        source = "split"
    if source == "crossfit":
        if crossfit is None or crossfit_Y is None:
            # "must be 'crossfit' only with ..., got 'none available'" read as if 'crossfit'
            # were the remedy and named neither what was missing nor where it comes from
            raise InvalidParameterError(
                "calibrator_source", "'split' or 'same' here: 'crossfit' needs the "
                "out-of-fold training scores and their labels (crossfit, crossfit_Y), which "
                "training computes with TrainOptions(crossfit_folds=5, calibration_fraction="
                "0.1, confidence=ConfidenceOptions(calibrator_source='crossfit'))",
                "crossfit without them")
        return (sp.csr_matrix(crossfit_Y), crossfit.topk), heldout, "crossfit"
    if source == "same":
        return (heldout.Y, heldout.topk), heldout, "same"
    n = len(heldout)
    order = np.random.default_rng(options.seed).permutation(n)
    # equal texts (heldout.groups) on one side: a twin in each part made the conformal
    # part's scores look like the calibrator's (the split is the same without them)
    n_wanted = int(round(n * options.conformal_fraction))
    fitting_rows, conformal_rows = split_order(order, n_wanted, heldout.groups)
    n_conformal = conformal_rows.size
    smallest = min(n_conformal, n - n_conformal)
    parts = (f"{n - n_conformal:,} would go to the calibrator, {n_conformal:,} to the "
             "conformal sets")
    if heldout.groups is not None and n_conformal != n_wanted:
        # why the share was not met: "0.2 of 60 documents: 0 to the conformal sets" alone
        # read as a miscount
        n_texts = np.unique(heldout.groups).size
        parts += (f"; equal texts stay on one side, and the {n:,} documents hold "
                  f"{n_texts:,} distinct text{plural_s(n_texts)}")
    if smallest < MIN_SPLIT_DOCS:
        # the share is what the user chose (calibrate --conformal-fraction); the documents
        # are at least MIN_HELDOUT_DOCS whenever a classifier is calibrated. 0.999 of
        # 1,000 fitted the calibrator on one document without a word
        raise InvalidParameterError(
            "conformal_fraction", f"a share of the {n:,} held-out documents that leaves at "
            f"least {MIN_SPLIT_DOCS} to the calibrator and {MIN_SPLIT_DOCS} to the "
            f"conformal sets ({parts})", options.conformal_fraction)
    if (heldout.groups is not None and smallest >= MIN_SPLIT_DOCS
            and abs(n_conformal - n_wanted) > max(1, n_wanted // 10)):
        # 500 copies of one text among 700 held-out documents: 197 went to the conformal
        # sets for the 350 asked, and only the log's counts, unexplained, said so
        logger.warning(conformal_share + " of the %s held-out documents asks %s for the "
                       "conformal sets, but %s", options.conformal_fraction, f"{n:,}",
                       f"{n_wanted:,}", parts,
                       extra={"parameters": ("conformal_fraction",)})
    if smallest < FEW_HELDOUT_DOCS // 2 <= n // 2:  # fewer held-out documents: check_heldout
        # warns already, whatever the share
        logger.warning(conformal_share + " splits the %s held-out documents unevenly "
                       "(%s): fitted on so few, that part is unreliable (%d or more each "
                       "recommended)", options.conformal_fraction, f"{n:,}", parts,
                       FEW_HELDOUT_DOCS // 2, extra={"parameters": ("conformal_fraction",)})
    conformal = heldout.subset(conformal_rows)
    fitting = heldout.subset(fitting_rows)
    return (fitting.Y, fitting.topk), conformal, "split"


def fit_confidence(heldout: HeldoutScores, *, options: ConfidenceOptions | None = None,
                   label_counts: npt.ArrayLike | None = None,
                   crossfit: CrossFitScores | None = None,
                   crossfit_Y: LabelMatrix | None = None,
                   _conformal_share: str = CONFORMAL_SHARE,
                   _thresholds_replaced: bool = False,
                   _set_size_limit: str = "max_set_size",
                   ) -> tuple[Calibrator, Thresholds, ConformalModel, dict]:
    """Calibrator, thresholds, conformal model and a report from held-out scores.

    ``label_counts`` (training label frequencies) define the frequency bands.
    ``_conformal_share`` (private, for ``tagsmith train``, whose users set the share
    otherwise): how warnings about the calibrator / conformal split name
    ``options.conformal_fraction``, ``%g`` its value (:data:`CONFORMAL_SHARE`).
    ``_thresholds_replaced`` (private, for ``tagsmith train --dev``, which tunes them
    again on its held-out documents): no warning that a precision's or recall's
    thresholds are tuned on the calibrator's own documents, as they are not shipped.
    ``_set_size_limit`` (private, for ``tagsmith train``, which has no option for it):
    how the warning of too-wide sets names ``options.max_set_size``.
    Returns ``(calibrator, thresholds, conformal, report)``.

    >>> rng = np.random.default_rng(0)
    >>> scores = rng.random((400, 3))
    >>> heldout = HeldoutScores(TopK.from_scores(scores, 3),
    ...                         sp.csr_matrix(rng.random((400, 3)) < scores ** 2),
    ...                         np.arange(400), "demo")
    >>> calibrator, thresholds, conformal, report = fit_confidence(heldout)
    >>> report["n_calibrator_docs"], report["n_conformal_docs"], conformal.methods()
    (200, 200, ['recall', 'mondrian', 'lpicp'])
    """
    options = check_options("options", options, ConfidenceOptions)
    options.validate()
    conformal_share = _check_conformal_share(_conformal_share)
    started = time.perf_counter()
    (fit_Y, fit_topk), conformal_part, how = _split(heldout, options, crossfit, crossfit_Y,
                                                    conformal_share)
    width, n_labels = conformal_part.topk.k, conformal_part.topk.n_labels
    if options.lpicp and width < n_labels:  # refused by LP-ICP after the calibrator's fit,
        # naming a parameter 'topk' nobody passed
        raise InvalidParameterError(
            "lpicp", f"off (or left to its default) for held-out scores of the top {width} "
            f"of {n_labels} label{plural_s(n_labels)}: LP-ICP needs every label's probability, "
            "scores over all "
            f"{n_labels}", True)
    calibrator = fit_calibrator(fit_Y, fit_topk, method=options.method,
                                label_counts=label_counts, n_bands=options.n_bands,
                                shrinkage=options.shrinkage)
    fit_probs = calibrator.apply(fit_topk)
    # tuned without the entries of labels the model never learnt (no training document:
    # never predicted), as train tunes its own: their pooled equal scores moved the
    # global and band thresholds
    untrained = (np.zeros(fit_probs.n_labels, bool) if label_counts is None
                 else np.asarray(label_counts) == 0)
    thresholds = tune_thresholds(fit_Y, without_labels(fit_probs, untrained),
                                 beta=options.beta,
                                 min_support=options.min_support, bands=calibrator.bands,
                                 max_labels=options.max_labels)
    calibrator_seconds = time.perf_counter() - started
    probs = calibrator.apply(conformal_part.topk)
    thresholds_docs = "calibrator"
    target = (("precision", options.min_precision) if options.min_precision is not None
              else ("recall", options.min_recall) if options.min_recall is not None
              else None)
    if target is not None:
        # a precision (or recall) target on documents the calibrator did not fit, where
        # there are such: its top isotonic step fits its own documents (GoEmotions'
        # neutral at p >= 0.9 was right 0.954 of the time on them, 0.72 on unseen ones)
        tuning_Y, tuning_probs = ((fit_Y, fit_probs) if how == "same"
                                  else (conformal_part.Y, probs))
        thresholds_docs = "calibrator" if how == "same" else "conformal"
        if how == "same" and not _thresholds_replaced:
            logger.warning("the thresholds for %s %g are tuned on the calibrator's "
                           "own documents (calibrator source 'same'): its probabilities "
                           "fit those, and the labels' %s on other documents may "
                           "fall short of it", target[0], target[1], target[0],
                           extra={"parameters": (f"min_{target[0]}",)})
        thresholds = tune_thresholds(tuning_Y, without_labels(tuning_probs, untrained),
                                     min_precision=options.min_precision,
                                     min_recall=options.min_recall,
                                     max_labels=options.max_labels,
                                     # a recall's labels of too few held-out positives
                                     # back off to their band's (precision's do not)
                                     min_support=options.min_support,
                                     bands=calibrator.bands)
    reach = (None if options.min_recall is None
             else recall_reach(tuning_Y, tuning_probs, untrained, options.max_labels))
    conformal_Y = sp.csr_matrix(conformal_part.Y)
    if conformal_Y.count_nonzero() == 0:
        raise DataError(f"none of the {len(conformal_part):,} held-out documents "
                        f"({heldout.source}) set aside for the conformal sets carries a "
                        "label, so the sets could only be every label; give more labelled "
                        "held-out documents (or another "
                        + said("--conformal-fraction", "ConfidenceOptions(conformal_fraction=...)")
                        + ")")
    # a label the model never learnt scores every document the same: in every set once
    # the threshold fell below that score (GoEmotions walk: 70 of 70), it is in none,
    # and its positives are left out of the calibration (the guarantee is then of the
    # labels the model learnt)
    exclude = untrained if untrained.any() else None
    if exclude is not None and conformal_Y[:, ~untrained].count_nonzero() == 0:
        raise DataError(f"none of the {len(conformal_part):,} held-out documents "
                        f"({heldout.source}) set aside for the conformal sets carries a "
                        "label the model was trained on (labels without a training "
                        "document are in no set), so the sets could only be every label; "
                        "give held-out documents of the labels it learnt")
    recall = fit_recall_control(conformal_part.Y, probs, tail=calibrator.tail,
                                exclude=exclude)
    mondrian = None
    if calibrator.bands.n_bands > 1:
        mondrian = fit_recall_control(conformal_part.Y, probs, tail=calibrator.tail,
                                      bands=calibrator.bands, exclude=exclude)
    use_lpicp = options.lpicp
    full = probs.k >= probs.n_labels and bool(probs.valid.all())
    if use_lpicp is None:
        use_lpicp = full and probs.n_labels <= LPICP_MAX_LABELS
    # as the recall sets: a never-trained label's positives raised every calibration
    # score by about 1, and its constant probability said nothing of the document
    lpicp = fit_powerset_icp(conformal_part.Y, probs, exclude=exclude) if use_lpicp else None
    conformal = ConformalModel(recall, mondrian, lpicp, options.alpha, options.max_set_size,
                               len(conformal_part))
    own_sets, wide_warned = _warn_wide_sets(conformal, probs, options, conformal_share, how,
                                            _set_size_limit)
    seconds = time.perf_counter() - started
    raw_report = reliability_report(conformal_part.Y, _unit_scores(conformal_part.topk))
    cal_report = reliability_report(conformal_part.Y, probs, bands=calibrator.bands,
                                    tail=calibrator.tail)
    report = {
        "options": asdict(options), "calibrator_source": how,
        "n_calibrator_docs": int(fit_Y.shape[0]), "n_conformal_docs": len(conformal_part),
        "k": int(conformal_part.topk.k), "seconds": round(seconds, 3),
        "calibrator_seconds": round(calibrator_seconds, 3),
        "raw": {"ece": round(raw_report.ece, 6), "brier": round(raw_report.brier, 6),
                "top1_ece": round(raw_report.top1_ece, 6)} if raw_report else None,
        "calibrated": cal_report.to_dict(), "thresholds": thresholds.summary(),
        "thresholds_tuned_on": thresholds_docs,
        "conformal": {"methods": conformal.methods(), "alpha": options.alpha,
                      # labels never trained: in no conformal set (recall, mondrian, lpicp)
                      "n_untrained_labels": int(np.count_nonzero(untrained)),
                      # each method's sets at alpha on the conformal documents themselves
                      "sets_on_conformal_documents": own_sets,
                      # warned of as too wide to use at alpha: that warning says the
                      # alpha_floor of the recall and mondrian sets, which the CLI's
                      # alpha check then leaves out (warn_alpha_too_small)
                      "too_wide_warned": wide_warned},
    }
    if reach is not None:
        report["recall_reach"] = reach
    # counts grouped as the CLI's summaries group them ("2,171 documents"); DEBUG: train
    # and calibrate print it as their summary, which this line said again on stderr
    logger.debug("calibrated (%s) on %s document%s, conformal sets on %s "
                 "document%s: ECE %.4f -> %.4f (%s) in %.1fs", options.method,
                 f"{fit_Y.shape[0]:,}", plural_s(fit_Y.shape[0]), f"{len(conformal_part):,}",
                 plural_s(len(conformal_part)), raw_report.ece, cal_report.ece,
                 "in-sample: the calibrator's own documents" if how == "same"
                 else "held-out part", seconds)
    return calibrator, thresholds, conformal, report


#: a method whose sets at the calibrated alpha abstain as too large on at least this
#: share of the conformal documents themselves is warned of (its sets are too wide to use)
WIDE_SETS_SHARE = 0.5
#: below this many conformal documents with a true label per unit of alpha (100 at alpha
#: 0.1; in the smallest band for mondrian), that warning names the few documents as a cause
FEW_SET_DOCS = 10


def _warn_wide_sets(conformal: ConformalModel, probs: TopK, options: ConfidenceOptions,
                    conformal_share: str, how: str,
                    set_size_limit: str = "max_set_size") -> tuple[dict, bool]:
    """Each method's sets at ``options.alpha`` on the conformal documents (``probs``)
    themselves: ``{method: {"set_size_mean", "too_large_rate"}}``; one warning names the
    methods whose sets abstain as too large on :data:`WIDE_SETS_SHARE` of them or more,
    and whether it did. Where ``options.alpha`` is below what the documents allow the
    recall or mondrian sets (:meth:`ConformalModel.alpha_floor`), it says that too, with
    the figures: the smallest alpha, the documents needed (the CLI said them again in a
    warning of its own, of the same documents with the same remedies).
    A clinical-coding walk calibrated 77 codes on 30 conformal documents: every
    ``lpicp`` set was the whole label space, and every document abstained, without a
    word until suggest; its ``mondrian`` sets held 31 labels each. ``set_size_limit``
    names the limit (train, which has no ``--max-set-size``, in its own words)."""
    out: dict = {}
    wide = []
    for method in conformal.methods():
        sizes, too_large = conformal.set_sizes(probs, method=method)
        out[method] = {"set_size_mean": round(float(np.mean(sizes)), 3) if len(sizes) else 0.0,
                       "too_large_rate": round(float(np.mean(too_large)), 4)
                       if len(sizes) else 0.0}
        if len(sizes) and out[method]["too_large_rate"] >= WIDE_SETS_SHARE:
            wide.append((method, out[method]["set_size_mean"],
                         int(np.count_nonzero(too_large)), len(sizes),
                         conformal.set_size_limit(method)))
    if not wide:
        return out, False
    # "(90 of 90 above the 4 that abstain as too large)" read as if 4 sets abstained: 4
    # is the size limit, the 90 sets past it the ones abstaining; the limit said once
    # where the methods share it (the demo's line said it three times over)
    limits = {limit for *_, limit in wide}

    def larger(limit: int) -> str:
        return f"larger than {limit:,} label{plural_s(limit)}"

    shared = (f"sets {larger(next(iter(limits)))} ({set_size_limit}) abstain: "
              if len(limits) == 1 else "")
    said = shared + "; ".join(
        f"{method} sets hold {mean:.1f} on average ({n_large:,} of {n:,} "
        + ("too large)" if shared else
           f"{larger(limit)}, {set_size_limit}, so they abstain)")
        for method, mean, n_large, n, limit in wide)
    counts = np.asarray(conformal.recall.n_docs).ravel()
    n_min, where = int(counts.sum()), ""
    if conformal.mondrian is not None:
        per_band = np.asarray(conformal.mondrian.n_docs)
        n_min, where = int(per_band[per_band > 0].min()), " in the smallest frequency band"
    # few documents make the threshold more cautious; a weak model's scores alone do it
    # too (1,500 conformal documents of a model trained on 420 gave such sets), so that
    # is said as a cause only where the documents are few for this alpha
    # the smallest band's count only where there are bands: "90 ... (90)" of one band
    # repeated the whole count with nothing to tell it by
    smallest = f" ({n_min:,}{where})" if where else ""
    few = (f"; with only {int(counts.sum()):,} calibration documents with a true "
           f"label{smallest} the threshold is more cautious still"
           if n_min < FEW_SET_DOCS / options.alpha else "")
    # every recall (mondrian) set is every label (of its band) at this alpha: said here,
    # with its figures, as the cause it is, not in a second warning of the same documents
    floors = [floor for method in ("recall", "mondrian")
              if (floor := conformal.alpha_floor(options.alpha, method)) is not None]
    if floors:  # few then holds too: n_min < 1/alpha - 1
        # "those 4": the smallest band's count said just before (the recall sets' n
        # the whole count)
        below = " and ".join(f"{floor.smallest:.4f} for those {floor.n:,}"
                             for floor in floors)
        every = ", ".join(f"every {floor.method} set "
                          + ("is " if i == 0 else "")
                          + ("every label of its band" if floor.method == "mondrian"
                             else "every label") for i, floor in enumerate(floors))
        few += f", and alpha {options.alpha:g} is below 1/(n + 1) = {below}: {every}"
    # the share named as the caller names it (train: its own words), its value an
    # argument; alpha with the commands that take it, as train has no --alpha. Where
    # more conformal documents come from, a sentence of its own: in the list's
    # parentheses train's words, in parentheses themselves, nested three deep
    more, values, source = ((", more conformal documents", (options.conformal_fraction,),
                             ". More conformal documents come from more held-out documents "
                             "or a larger share than " + conformal_share)
                            if how == "split" else (", more held-out documents", (), ""))
    if not few:  # more of them would barely narrow the sets
        more, values, source = "", (), ""
    use = "a larger alpha"
    if floors:  # how large, how many
        use = f"an alpha of at least {max(floor.smallest for floor in floors):.4f}"
        banded = " in the smallest frequency band" if any(f.banded for f in floors) else ""
        more = (f", at least {floors[0].needed_text} "
                + ("conformal" if how == "split" else "held-out")
                + f" documents with a true label{banded}")
    def worded(alphas: str, methods: str) -> str:
        return ("at alpha %g the conformal sets are too wide to use: on the %s conformal "
                # the methods' words in the template, not an argument: the CLI
                # names max_set_size as its option only there (a '%' in them escaped)
                "documents themselves, of %s labels, " + said.replace("%", "%%")
                + ". To keep its promise a set must "
                "reach down to where the model ranks the true labels, and it ranks many "
                # the few documents in the template: its alpha is an option's name
                "low" + few.replace("%", "%%") + ". Use " + use + " (" + alphas
                + "), another set method (" + methods + ")"
                + more.replace("%", "%%") + ", or a better-trained model" + source)

    # alpha is an option of other commands than the one warning (train has none): a
    # Python caller is told the parameters, the command line the commands that take it
    logger.warning(worded("ConfidenceOptions(alpha=...) for the classifier's sets, "
                          "predict_sets(alpha=...) for one call's",
                          "predict_sets(method=...)"),
                   options.alpha, f"{len(probs):,}", f"{probs.n_labels:,}", *values,
                   extra={"parameters": ("alpha", "conformal_fraction", "max_set_size"),
                          "cli_message": worded(
                              "calibrate --alpha for the bundle's sets, suggest --sets "
                              "--alpha for one run's", "suggest --sets --set-method")})
    return out, True


#: the share of the held-out positives out of a recall target's reach (labels never
#: learnt, or ranked outside the candidates scored) from which calibrate says so
MATERIAL_UNREACHABLE = 0.01


def recall_reach(Y: LabelMatrix, topk: TopK, untrained: np.ndarray,
                 max_labels: int | None = None) -> dict:
    """What share of the held-out positives (``Y``, scored as ``topk``) a recall
    target's thresholds can catch: ``n_positives``, of which ``n_reachable`` are of
    labels the model learnt ranked among the ``k`` candidates scored,
    ``n_never_learnt`` of labels it never learnt (``untrained``, a boolean mask:
    never predicted) and ``n_unranked`` of learnt labels ranked outside them (missed at
    any threshold); ``share_reachable`` the first share (1.0 with no positive). With
    ``max_labels`` below ``k`` (a set holds only labels ranked within it), positives
    ranked below it count as unranked too, and the dict says ``max_labels``.

    Each label's recall counts its positives outside the candidates as misses, but
    calibrate said nothing of how many there were: on yso-finna-en 74.8% of the test
    positives were out of reach, recall 0 at any threshold.

    >>> topk = TopK.from_scores(np.array([[0.9, 0.5, 0.1], [0.2, 0.8, 0.7]]), 2)
    >>> recall_reach(sp.csr_matrix(np.array([[1, 0, 1], [1, 1, 0]])), topk,
    ...              np.array([False, True, False]))  # doctest: +NORMALIZE_WHITESPACE
    {'n_positives': 4, 'n_reachable': 1, 'n_never_learnt': 1, 'n_unranked': 2, 'k': 2,
     'share_reachable': 0.25}
    """
    from tagsmith.metrics.ranking import topk_hits
    from tagsmith.metrics.sets import as_label_matrix

    labels = as_label_matrix(Y)
    width = int(topk.k)
    cap = int(max_labels) if max_labels is not None and max_labels < width else None
    if cap is not None:  # label_sets keeps no label ranked below the cap
        topk = topk.head(cap)
    n_positives = int(labels.nnz)
    per_label = np.bincount(labels.indices, minlength=topk.n_labels)
    never = int(per_label[untrained].sum())
    reachable = int(topk_hits(labels, without_labels(topk, untrained)).sum())
    return {"n_positives": n_positives, "n_reachable": reachable, "n_never_learnt": never,
            "n_unranked": n_positives - never - reachable, "k": width,
            "share_reachable": round(reachable / n_positives, 6) if n_positives else 1.0,
            **({"max_labels": cap} if cap is not None else {})}


def _unit_scores(topk: TopK) -> TopK:
    """Raw scores clipped to [0, 1] so the reliability of scores outside it can be read."""
    scores = np.where(topk.valid, np.clip(topk.scores, 0.0, 1.0), -np.inf)
    return TopK._trusted(topk.indices, scores, topk.n_labels)


def calibrate_classifier(classifier: TextClassifier, heldout: HeldoutScores, *,
                         options: ConfidenceOptions | None = None,
                         crossfit_Y: LabelMatrix | None = None,
                         _conformal_share: str = CONFORMAL_SHARE,
                         _warn_thresholds: bool = True,
                         _thresholds_replaced: bool = False, lang: str = "en",
                         _set_size_limit: str = "max_set_size") -> dict:
    """Fit calibration and conformal sets on ``heldout`` and attach them to ``classifier``
    (``_conformal_share``, ``_thresholds_replaced`` and ``_set_size_limit``, private: see
    :func:`fit_confidence`; ``_warn_thresholds``, private, False for ``train``, which
    warns of the thresholds it ships: see :func:`warn_thin_thresholds`).

    Replaces the classifier's thresholds by ones tuned on calibrated probabilities,
    keeps ``heldout`` in it (saved in its bundle) and records the report in its
    manifest. Returns the report. ``lang``: the language its warnings name labels in
    (:meth:`~tagsmith.data.labelspace.LabelSpace.name_of`; ``calibrate --lang``).
    """
    if heldout.topk.n_labels != classifier.n_labels:
        raise InvalidParameterError("heldout", f"scores over {classifier.n_labels} "
                                               f"label{plural_s(classifier.n_labels)}",
                                    f"{heldout.topk.n_labels} "
                                    f"label{plural_s(heldout.topk.n_labels)}")
    check_heldout(heldout)
    counts = classifier.label_counts if classifier.n_train_docs else None
    calibrator, thresholds, conformal, report = fit_confidence(
        heldout, options=options, label_counts=counts, crossfit=classifier.crossfit,
        crossfit_Y=crossfit_Y, _conformal_share=_conformal_share,
        _thresholds_replaced=_thresholds_replaced, _set_size_limit=_set_size_limit)
    # the documents the thresholds were tuned on, by name (calibrate --json, and its
    # recall-reach line), as train names them
    report["thresholds_source"] = thresholds_documents(report, heldout.source)
    if counts is not None:
        # a label the model never learnt stays never predicted, as train leaves it: it
        # backed off to its band's threshold (or counted as one that cannot reach
        # min_precision)
        thresholds = never_untrained(thresholds, classifier.label_counts == 0,
                                     bands=calibrator.bands)
        report["thresholds"] = thresholds.summary()
    # the calibration documents' share of words the featurizer has no feature for, which
    # shift compares new documents with: measured where the texts were at hand, kept
    # from the manifest where the stored split is calibrated again (the same documents
    # and featurizer)
    unseen = heldout.unseen_words
    if unseen is None and heldout is classifier.heldout:
        unseen = (classifier.manifest.get("calibration") or {}).get("unseen_words")
    classifier.calibrator = calibrator
    classifier.thresholds = thresholds
    if _warn_thresholds:
        warn_thin_thresholds(thresholds, classifier.label_space,
                             thresholds_documents(report, heldout.source), lang=lang)
    classifier.conformal = conformal
    classifier.heldout = heldout
    classifier.label_shift = None  # estimated for the old probabilities
    # the manifest describes the thresholds the bundle now holds, not the raw-score ones
    classifier.manifest = {**classifier.manifest, "thresholds": report["thresholds"],
                           "calibration": _manifest_summary(report) | (
                               {"unseen_words": unseen} if unseen is not None else {})}
    _mark_replaced_thresholds(classifier.manifest)
    return report


def never_untrained(thresholds: Thresholds, labels: np.ndarray,
                    value: float = np.inf, bands: FrequencyBands | None = None) -> Thresholds:
    """``thresholds`` with those of ``labels`` (a boolean mask) backed off to ``value``:
    by default one no score reaches, for labels the model had no positive of; given the
    global threshold, they are on it, and capped short of a recall target where it is
    (``capped_shared``; they were counted as not capped). ``capped_bands`` names the
    capped bands some label is still on (the capped warning named a band whose labels
    had all been moved off it), by the bands the thresholds record
    (:attr:`Thresholds.band_of`), else ``bands``, those they were tuned with, needed
    then where a label moved was on one.

    Such a label's model gives every document the same low score, and held-out
    documents carrying it (a label of the dev corpus only, or of the held-out part
    only) tuned its threshold just below that score: it was then suggested for every
    document, after a warning that it would never be.
    """
    if not labels.any():
        return thresholds
    per_label = thresholds.per_label.astype(np.float32, copy=True)
    per_label[labels] = value
    tuned = thresholds.tuned_mask.copy()
    tuned[labels] = False
    source = None if thresholds.source is None else thresholds.source.copy()
    if source is not None:
        source[labels] = FROM_GLOBAL
    capped = None if thresholds.capped is None else thresholds.capped & ~labels
    shared = None
    if thresholds.capped_shared is not None:
        shared = thresholds.capped_shared.copy()
        # an infinite value is no threshold capped; the global one is, where it is
        shared[labels] = (thresholds.capped_global
                          and float(value) == float(thresholds.global_threshold))
    return replace(thresholds, per_label=per_label, tuned_mask=tuned, source=source,
                   capped=capped, capped_shared=shared,
                   capped_bands=_capped_bands_left(thresholds, labels, source, shared, bands))


def untrained_out_of_sets(classifier: TextClassifier, shown: int = 5,
                          method: str | None = None, lang: str = "en") -> str:
    """What the conformal sets of ``classifier`` (those of ``method``; ``None``: every
    method it was calibrated for) say of the labels it has no training document of, for
    ``calibrate``, ``train`` and ``suggest --sets``: '' where there is none (or no
    calibration). Calibrated now, such labels are in no set and outside the guarantee;
    calibrated before they were left out, each joins every recall or mondrian set whose
    threshold falls below its constant probability, or counts in the whole label set of
    the lpicp sets, and calibrating again leaves them out.

    A label without a training document scores every document the same: in every set
    (70 of 70 on a walk), it was noise to a moderator and said nothing of the document.
    """
    conformal = classifier.conformal
    if conformal is None or not classifier.n_train_docs:
        return ""
    untrained = np.flatnonzero(classifier.label_counts == 0)
    if not untrained.size:
        return ""
    n = int(untrained.size)
    # the broader categories of a catalogue coded at its leaves last, counted apart:
    # the five named were its roots and branches, hiding the leaves without a product
    broader = classifier.label_space.broader_of(np.flatnonzero(classifier.label_counts))
    untrained = untrained[np.argsort(broader[untrained], kind="stable")]
    n_broader = int(broader[untrained].sum())
    names = and_more(untrained, shown,
                     lambda i: repr(classifier.label_space.name_of(int(i), lang)))
    if n_broader:
        which = ("it is" if n == 1 else "all" if n == n_broader
                 else f"{n_broader:,} of them")
        names += f"; {which} broader than labels that have documents"
    methods = conformal.methods() if method is None else [method]
    parts: dict[str, RecallControl | PowersetICP | None] = {
        "recall": conformal.recall, "mondrian": conformal.mondrian, "lpicp": conformal.lpicp}
    stale = [name for name in methods
             if (part := parts[name]) is not None and part.excluded is None]
    if stale:  # calibrated before they were left out
        effects = []
        if set(stale) & {"recall", "mondrian"}:
            effects.append(f"{plural(n, 'it joins', 'each joins')} every "
                           f"{' or '.join(m for m in stale if m != 'lpicp')} set whose "
                           "threshold is below that score")
        if "lpicp" in stale:
            effects.append(f"{plural(n, 'it counts', 'each counts')} in the whole label set "
                           "the lpicp sets cover")
        return (f"{n:,} label{plural_s(n)} without a training document ({names}) "
                f"{plural(n, 'is', 'are')} scored the same for every document, and the "
                "conformal sets were calibrated with "
                f"{plural(n, 'it', 'them')} in: {'; '.join(effects)}; run tagsmith "
                f"calibrate again to leave {plural(n, 'it', 'them')} out of the sets")
    kinds = (methods[0] if len(methods) == 1
             else f"{', '.join(methods[:-1])} or {methods[-1]}")
    return (f"{n:,} label{plural_s(n)} never trained (no training document: {names}) "
            f"cannot be in any {kinds} set; {plural(n, 'its', 'their')} coverage "
            "is not guaranteed (the sets' guarantee is of the labels the model learnt)")


def _capped_bands_left(thresholds: Thresholds, labels: np.ndarray, source: np.ndarray | None,
                       shared: np.ndarray | None,
                       bands: FrequencyBands | None) -> tuple[str, ...]:
    """The ``capped_bands`` of ``thresholds`` some label is still on once ``labels`` are
    moved off theirs (``source`` and ``shared``: the labels' after the move)."""
    named = thresholds.capped_bands
    if (not named or thresholds.source is None or thresholds.capped_shared is None
            or not (labels & (thresholds.source == FROM_BAND)
                    & thresholds.capped_shared).any()):
        return named  # no label moved off a capped band
    if thresholds.band_of is not None:  # recorded by tune_thresholds
        band_of, names = thresholds.band_of, list(thresholds.band_names)
    elif bands is not None:
        band_of, names = bands.band_of, bands.names()
    else:
        raise ValueError("never_untrained: bands are needed to tell which capped bands "
                         f"({', '.join(named)}) keep labels once some are moved off them")
    assert source is not None and shared is not None  # copies of the ones checked above
    left = np.unique(band_of[(source == FROM_BAND) & shared])
    return tuple(names[b] for b in left.tolist() if names[b] in named)


def without_labels(topk: TopK, labels: np.ndarray) -> TopK:
    """``topk`` with the entries of ``labels`` (a boolean mask) moved out as padding.

    Thresholds are tuned without the entries of the labels a model never learnt
    (train's on held-out documents, a calibration's: :func:`fit_confidence`): the
    global threshold is tuned on every entry, and the equal scores of a label the
    model never learnt, reaching all of its held-out positives only at the bottom,
    pulled it down to there (so every label backing off to it was suggested for
    every document).
    """
    drop = topk.valid & labels[np.where(topk.valid, topk.indices, 0)]
    if not drop.any():
        return topk
    order = np.argsort(drop, axis=1, kind="stable")  # the kept entries first, as they were
    indices = np.where(drop, PAD, topk.indices)
    scores = np.where(drop, -np.inf, topk.scores).astype(np.float32)
    return TopK(np.take_along_axis(indices, order, axis=1),
                np.take_along_axis(scores, order, axis=1), topk.n_labels)


def thresholds_documents(report: dict, source: str) -> str:
    """The documents a calibration (``report``: :func:`fit_confidence`'s, or the
    manifest's ``calibration``) tuned its thresholds on, for the warnings that count
    their positives: the part of the held-out documents (``source``) they are, or the
    out-of-fold training scores. A warning naming the whole held-out set counted the
    positives of half of it (or of none of it, with a cross-fitted calibrator).

    >>> thresholds_documents({"calibrator_source": "split",
    ...                       "thresholds_tuned_on": "conformal"}, "dev.tsv")
    'dev.tsv, its conformal part'
    >>> thresholds_documents({"calibrator_source": "split",
    ...                       "thresholds_tuned_on": "heldout"}, "dev corpus")
    'dev corpus'
    """
    how, on = report.get("calibrator_source"), report.get("thresholds_tuned_on")
    if on == "heldout":  # train's --dev (or unrefitted held-out) documents: ``source``
        return source
    if on == "calibrator" and how == "crossfit":
        return "the out-of-fold training scores"
    if how == "split":
        return f"{source}, its {'conformal' if on == 'conformal' else 'calibrator'} part"
    return source


def warn_thin_thresholds(thresholds: Thresholds, label_space: LabelSpace, source: str,
                         shown: int = 5, lang: str = "en") -> None:
    """Warn of labels whose thresholds rest on few held-out positives (``source`` names
    those documents): their own thresholds tuned on fewer than :data:`~tagsmith.
    calibration.thresholds.FEW_POSITIVES`, and those with some positives but too few for
    a threshold of their own (their band's or the global one). Each group is counted and
    its ``shown`` labels with the fewest named with their counts. A rare label's
    threshold from 5 positives, or its band's from 4, was taken without a word. Labels
    are named in ``lang`` (:meth:`~tagsmith.data.labelspace.LabelSpace.name_of`: a
    team's ``--lang de`` read them in English)."""
    support = thresholds.support
    if support is None or thresholds.source is None:
        return
    if thresholds.min_precision is not None:
        _warn_unreachable(thresholds, label_space, source, shown, lang)
        return
    recall = thresholds.min_recall is not None
    if recall:
        _warn_capped(thresholds, label_space, source, shown, lang)
        _warn_broad(thresholds, label_space, source, shown, lang)
    own = thresholds.source == FROM_LABEL
    # a label never predicted (one the model never learnt: an infinite threshold) has
    # no precision or recall to be rough, nor a band's threshold
    predicted = np.isfinite(thresholds.per_label)
    parts = []
    for labels, what in (
            # a recall's own thresholds on few positives are capped, and warned of so
            (np.flatnonzero(own & (support < FEW_POSITIVES) & predicted & ~recall),
             f"tuned on fewer than {FEW_POSITIVES} held-out positives, so {{its}} precision "
             "and recall at {its} {thresholds} are rough"),
            # not "too few positives" alone: a label whose positives the top-k never
            # ranked has none of its own either, however many it has
            (np.flatnonzero(~own & (support > 0) & predicted),
             "without a threshold of {its} own (too few held-out positives, or none ranked "
             "among the scored candidates) {use} {its} band's or the global one")):
        if not len(labels):
            continue
        n = len(labels)
        what = what.format(its=plural(n, "its", "their"),
                           thresholds=plural(n, "threshold", "thresholds"),
                           use=plural(n, "uses", "use"))
        labels = labels[np.argsort(support[labels], kind="stable")]
        named = and_more(labels, shown,
                         lambda i: f"{label_space.name_of(int(i), lang)} {int(support[i])}")
        parts.append(f"{len(labels):,} label{plural_s(len(labels))} {what} ({named})")
    if parts:
        # eval's option, given to calibrate and train too: a Python caller is told the
        # parameter, the command line the command
        told = "thresholds on few held-out positives (%s): %s; {} gives each label's " \
            "precision and recall with intervals"
        logger.warning(told.format("evaluate_classifier(..., per_label=True)"), source,
                       "; ".join(parts),
                       extra={"cli_message": told.format("eval --per-label")})


def _warn_unreachable(thresholds: Thresholds, label_space: LabelSpace, source: str,
                      shown: int = 5, lang: str = "en") -> None:
    """Warn, once, of the labels ``min_precision`` thresholds never predict: no cut of
    their held-out documents (``source``) reaches the precision by the lower end of its
    Wilson interval. Counted, the ``shown`` nearest to it named with their best lower
    bound and held-out positives (or that they have no held-out entry)."""
    support = thresholds.support
    assert thresholds.min_precision is not None and support is not None
    # (a label the model never learnt is never predicted either, and said so elsewhere)
    never = np.flatnonzero(np.isposinf(thresholds.per_label)
                           & (thresholds.source == FROM_LABEL))
    if not len(never):
        return
    named = _nearest_named(never, thresholds.best_precision, support, label_space, shown,
                           lambda n_pos: "no held-out entry", lang)
    n = len(never)
    # every label never predicted (these, and any never trained): a clinical-coding
    # walk's --min-precision 0.9 on 60 documents left every suggestion empty, and the
    # warning never said so
    n_labels = thresholds.per_label.size
    n_never = int(np.count_nonzero(np.isposinf(thresholds.per_label)))
    # suggest's and calibrate's options on the command line (cli_message), the
    # parameters from Python
    def outcome(suggest: str, data: str) -> str:
        return (f"no label can ever be suggested ({n_never:,} of {n_labels:,} never "
                f"predicted): every suggestion at the tuned thresholds ({suggest}) will be "
                f"empty; give more held-out documents{data}, a lower min_precision, or "
                "leave it out for F-beta thresholds" if n_never >= n_labels else
                f"{n_never:,} of the {n_labels:,} labels can never be suggested")

    def told(suggest: str, data: str) -> str:
        return ("%s label%s cannot reach precision %g on the held-out documents (%s) at "
                "any threshold, by the lower end of %s 95%% Wilson interval, and %s never "
                "predicted by the thresholds; " + outcome(suggest, data).replace("%", "%%")
                + "; best lower bound%s: %s")

    logger.warning(told("suggest without threshold=...", ""), f"{n:,}", plural_s(n),
                   thresholds.min_precision, source, plural(n, "its", "their"),
                   plural(n, "is", "are"), plural_s(n), named,
                   extra={"parameters": ("min_precision",),
                          "cli_message": told("suggest without --threshold",
                                              " (calibrate --data)")})


def _nearest_named(labels: np.ndarray, best: np.ndarray | None, support: np.ndarray,
                   label_space: LabelSpace, shown: int,
                   no_bound: Callable[[int], str], lang: str = "en") -> str:
    """The ``shown`` of ``labels`` nearest to a precision's or recall's target, highest
    ``best`` lower bound first, each named with it and its held-out positives (or
    ``no_bound(positives)`` where its bound is NaN), and a count of the rest, as
    :func:`_warn_unreachable` and :func:`_warn_capped` say them."""
    if best is None:
        best = np.full(len(support), np.nan)
    order = labels[np.argsort(-np.nan_to_num(best[labels], nan=-1.0), kind="stable")]

    def said(i: int) -> str:
        name, n_pos = label_space.name_of(i, lang), int(support[i])
        if np.isnan(best[i]):
            return f"{name} ({no_bound(n_pos)})"
        return f"{name} {best[i]:.3f} ({n_pos:,} positive{plural_s(n_pos)})"

    return and_more(order, shown, lambda i: said(int(i)))


def _warn_capped(thresholds: Thresholds, label_space: LabelSpace, source: str,
                 shown: int = 5, lang: str = "en") -> None:
    """Warn, once, of the labels ``min_recall`` thresholds cannot hold it for: no cut of
    their held-out documents (``source``) reaches the recall by the lower end of its
    Wilson interval, which would take a threshold of 0 (the label for every document):
    capped at their lowest held-out positive instead, or never predicted where they
    have none ranked. Counted, the ``shown`` nearest named with their best lower bound
    and held-out positives; with ``max_labels``, said to bound the recall (a positive
    below a document's best ``max_labels`` is a miss at any threshold)."""
    support = thresholds.support
    assert thresholds.min_recall is not None and support is not None
    capped = (np.zeros(thresholds.per_label.shape, bool) if thresholds.capped is None
              else thresholds.capped)
    never = np.isposinf(thresholds.per_label) & (thresholds.source == FROM_LABEL)
    short = np.flatnonzero(capped | never)
    # a band's (or the global) threshold capped so: its labels were counted nowhere
    # (yso-finna at 0.5: bands 0-3, 4-9 and 10-38, most of 14,189 labels)
    n_shared = (0 if thresholds.capped_shared is None
                else int(np.count_nonzero(thresholds.capped_shared)))
    shared = ""
    if n_shared:
        which = (f"band{plural_s(len(thresholds.capped_bands))} "
                 f"{', '.join(thresholds.capped_bands)}" if thresholds.capped_bands
                 else "")
        shared = (f"{n_shared:,} label{plural_s(n_shared)} on {plural(n_shared, 'its', 'their')} "
                  f"band's or the global threshold, whose pooled held-out positives reach "
                  f"recall {thresholds.min_recall:g} at no cut either, "
                  f"{plural(n_shared, 'is', 'are')} capped likewise at the pool's lowest "
                  f"held-out positive" + (f" ({which})" if which else ""))
    if not len(short):
        if shared:
            logger.warning("%s, on the held-out documents (%s)",
                           shared[0].upper() + shared[1:], source,
                           extra={"parameters": ("min_recall", "max_labels")})
        return
    named = _nearest_named(short, thresholds.best_recall, support, label_space, shown,
                           lambda n_pos: "no held-out positive ranked"
                           + ("" if n_pos else ", none at all"), lang)
    n, n_never = len(short), int(np.count_nonzero(never))
    left = (f" ({n_never:,} with no held-out positive ranked: never predicted)"
            if n_never else "")
    # a set cap tuned with: the positives below it are misses whatever the threshold
    # (GoEmotions at 0.9, max_labels 3: 27 labels capped, test recall 0.759 where 0.951
    # without), which the positives named did not say
    cap = ("" if thresholds.max_labels is None else
           f"; max_labels {thresholds.max_labels} caps each set at a document's "
           f"{thresholds.max_labels} best candidates, as it did while tuning: a positive "
           "ranked below them is a miss at any threshold, and the recall such sets reach "
           "is bounded by it")
    logger.warning("%s label%s cannot reach recall %g on the held-out documents (%s) at "
                   "any threshold above 0 (every document), by the lower end of %s 95%% "
                   "Wilson interval: %s capped at %s lowest held-out positive, not at "
                   "0%s; best lower bound%s: %s%s" + cap.replace("%", "%%"),
                   f"{n:,}", plural_s(n), thresholds.min_recall, source,
                   plural(n, "its", "their"),
                   plural(n, "its threshold is", "their thresholds are"),
                   plural(n, "its", "their"), left, plural_s(n), named,
                   f"; and {shared}" if shared else "",
                   extra={"parameters": ("min_recall", "max_labels")})


#: a ``min_recall`` threshold passing at least this share of its held-out documents is
#: warned of: the label for most documents, which a review sees nearly all of
BROAD_SHARE = 0.5


def _warn_broad(thresholds: Thresholds, label_space: LabelSpace, source: str,
                shown: int = 5, lang: str = "en") -> None:
    """Warn of the labels whose ``min_recall`` thresholds pass at least
    :data:`BROAD_SHARE` of their held-out documents (``source``): the recall holds, or
    comes nearest, only by predicting the label for most documents (GoEmotions at
    recall 0.95: 4 labels for every test document), which was said of none. Counted,
    the broadest ``shown`` named with their share."""
    if thresholds.coverage is None:
        return
    coverage = np.where(np.isfinite(thresholds.per_label), thresholds.coverage, 0.0)
    broad = np.flatnonzero(coverage >= BROAD_SHARE)
    if not len(broad):
        return
    order = broad[np.argsort(-coverage[broad], kind="stable")]
    named = and_more(order, shown,
                     lambda i: f"{label_space.name_of(int(i), lang)} {coverage[i]:.0%}")
    n = len(broad)
    logger.warning("%s label%s %s predicted for at least %s of the held-out documents (%s) "
                   "by %s threshold%s for recall %g: the recall comes from predicting %s "
                   "for most documents, a review of them sees nearly all (%s)", f"{n:,}",
                   plural_s(n), plural(n, "is", "are"), f"{BROAD_SHARE:.0%}", source,
                   plural(n, "its", "their"), plural_s(n), thresholds.min_recall,
                   plural(n, "it", "them"), named,
                   extra={"parameters": ("min_recall",)})


#: how training notes the held-out metrics' thresholds (``metrics.heldout.thresholds``),
#: and what calibration makes of it: words a program compares (they were sentences)
TUNED_HERE = "tuned_here"
#: training calibrated and then tuned the thresholds on these documents' probabilities
CALIBRATED_HERE = "calibrated_here"
#: tuned on these documents, before a calibration replaced them (the bundle holds others)
REPLACED = "replaced_by_calibration"
#: what bundles written before the words said for ``TUNED_HERE``, ``CALIBRATED_HERE`` and
#: ``REPLACED``: a later calibration writes the word for each (the third was kept, so an
#: older bundle calibrated again still said it in a sentence)
_OLDER_SENTENCES = ("tuned on these documents", "calibrated, tuned on these documents",
                    "tuned on these documents, before calibration replaced them")


def _mark_replaced_thresholds(manifest: dict) -> None:
    """The training-time held-out metrics were counted with thresholds the bundle no
    longer holds: say so (a copy: the manifest's dicts may be shared)."""
    metrics = manifest.get("metrics")
    if not isinstance(metrics, dict):
        return
    entry = metrics.get("heldout")
    if isinstance(entry, dict) and entry.get("thresholds") in (
            TUNED_HERE, CALIBRATED_HERE, *_OLDER_SENTENCES):
        manifest["metrics"] = {**metrics, "heldout": {**entry, "thresholds": REPLACED}}


def check_heldout_labels(Y: sp.spmatrix | sp.sparray, source: str) -> int:
    """Refuse the labels ``Y`` (documents x labels) of held-out documents that cannot
    calibrate anything (see :func:`check_heldout`); returns their label occurrences.
    Training calls it on its calibration split before fitting, not after."""
    n_docs = Y.shape[0]
    n_positive = int(np.count_nonzero(sp.csr_matrix(Y).data))
    # "the 1 held-out documents ... carry", "only 1 held-out documents"
    docs = plural(n_docs, "held-out document", "held-out documents")
    if n_positive == 0:
        raise DataError(f"the {n_docs:,} {docs} ({source}) "
                        + plural(n_docs, "carries", "carry") + " no label of the model's "
                        "label space: calibrating on "
                        + plural(n_docs, "it", "them") + " would make every probability ~0; "
                        "give labelled documents the model was not trained on")
    if n_docs < MIN_HELDOUT_DOCS:
        raise DataError(f"only {n_docs} {docs} ({source}): calibration "
                        f"needs at least {MIN_HELDOUT_DOCS} (and {FEW_HELDOUT_DOCS} or more "
                        "for reliable probabilities)")
    return n_positive


def check_heldout(heldout: HeldoutScores) -> None:
    """Refuse held-out documents that cannot calibrate anything; warn when they are few.

    No positive label at all would map every score to ~0 and report a perfect ECE;
    fewer than :data:`MIN_HELDOUT_DOCS` documents are refused, fewer than
    :data:`FEW_HELDOUT_DOCS` give a warning.
    """
    n_docs = len(heldout)
    n_positive = check_heldout_labels(heldout.Y, heldout.source)
    if n_docs < FEW_HELDOUT_DOCS:
        logger.warning("calibrating on only %s held-out documents (%s, %s label occurrences): "
                       "probabilities and conformal guarantees from so few are unreliable "
                       "(%d or more recommended)", f"{n_docs:,}", heldout.source,
                       f"{n_positive:,}", FEW_HELDOUT_DOCS)


def _manifest_summary(report: dict) -> dict:
    calibrated = report["calibrated"]
    # a recall target's reach on the documents its thresholds were tuned on (train says
    # it as calibrate does, from here; train's --dev replaces it where it tunes them again)
    return {key: report[key] for key in ("calibrator_source", "n_calibrator_docs",
                                         "n_conformal_docs", "k", "seconds", "raw",
                                         "thresholds", "thresholds_tuned_on",
                                         "conformal", "recall_reach") if key in report} | {
        "method": report["options"]["method"],
        "calibrated": {key: calibrated[key] for key in ("ece", "brier", "top1_ece")}}


def heldout_from_corpus(classifier: TextClassifier, texts: Iterable[str], Y: LabelMatrix, *,
                        k: int | None = None, source: str = "labelled corpus",
                        name: str = "texts") -> HeldoutScores:
    """Raw scores of the shipped model for labelled documents it never saw.

    Documents the model was trained on are refused (at least half of them; fewer draw
    a warning): calibrating on them makes the probabilities and the conformal
    guarantees optimistic. ``name`` is the parameter the messages name (the CLI's
    ``--data``).
    """
    from tagsmith.data.texthash import BLANK_HASH, hash_texts
    from tagsmith.features.tfidf import _as_list
    from tagsmith.features.unseen import recorded
    from tagsmith.metrics.sets import check_label_values
    from tagsmith.pipeline.crossfit import default_k
    from tagsmith.pipeline.evaluate import check_label_shape
    from tagsmith.pipeline.train import check_overlap, groups_of_hashes

    k = default_k(classifier.n_labels) if k is None else check_int("k", k, 1, numpy=True)
    check_label_table(Y, classifier.label_space, "Y", texts=texts)
    texts = _as_list(texts)
    # before any text is scored, as evaluate_classifier checks them: a NaN (a table's
    # gap) was kept as a true label to calibrate on
    Y = check_label_values(Y, "Y")
    check_label_shape(Y, texts, classifier.n_labels)  # a list of lists has a shape as CSR
    hashes = hash_texts(texts)  # once, for the overlap check and the groups
    if classifier.train_hashes is None and texts:
        # a bundle saved before it kept its training texts' hashes: a subset of its own
        # training corpus calibrated it without a word (ECE near 0, void guarantees)
        logger.warning("%s: the bundle records no training texts (it was saved by an older "
                       "tagsmith), so %s cannot be checked for documents the model was "
                       "trained on, which would make its probabilities and conformal "
                       "guarantees optimistic; train it again with this version to have "
                       "them checked", source, name)
    check_overlap(classifier.train_hashes, texts, name=name, source=source, hashes=hashes)
    topk = classifier.predict_topk(texts, k, calibrated=False)
    # equal texts (duplicate_groups) on one side of the calibrator / conformal split
    return HeldoutScores(topk, sp.csr_matrix(Y), np.arange(len(topk)), source,
                         groups_of_hashes(hashes, BLANK_HASH),
                         unseen_words=recorded(texts, classifier.featurizer))


def _check_alphas(alphas: object) -> list[float]:
    """``alphas`` as a list of miss rates in (0, 1), each refused naming its position:
    one out of range was refused as ``alpha`` once every text had been scored, and a
    bare number failed as no iterable.

    >>> _check_alphas((0.05, 0.1))
    [0.05, 0.1]
    >>> for bad in (0.1, [0.1, 1.5]):
    ...     try:
    ...         _check_alphas(bad)
    ...     except InvalidParameterError as exc:
    ...         print(exc)
    parameter 'alphas' must be a sequence of numbers in (0, 1), got 0.1
    parameter 'alphas[1]' must be a number in (0, 1), got 1.5
    """
    if isinstance(alphas, str | bytes | dict) or not isinstance(alphas, Iterable):
        raise InvalidParameterError("alphas", "a sequence of numbers in (0, 1)", alphas)
    return [check_alpha(alpha, f"alphas[{i}]") for i, alpha in enumerate(alphas)]


def evaluate_confidence(classifier: TextClassifier, texts: Iterable[str], Y: LabelMatrix, *,
                        alphas: Iterable[float] = (0.05, 0.1, 0.2),
                        reliability_k: int | None = None,
                        png: str | os.PathLike[str] | None = None) -> dict:
    """Reliability (raw vs calibrated) and conformal sets of ``classifier`` on labelled data.

    ``Y`` is ``n_docs x n_labels``; the documents must be unseen by the model and its
    calibration. Reliability is measured over each document's top ``reliability_k``
    candidates (default: the calibration width, which is every label for small
    label spaces): the raw model's top ``reliability_k`` for the raw figures, the
    calibrated classifier's (the most probable of the calibration width, as
    ``predict_topk`` gives them without label shift) for the calibrated ones. Sets
    are reported per alpha and method (recall: mean recall and set size; LP-ICP:
    coverage and number of label sets). ``png`` writes a reliability diagram.
    ``alphas``, ``reliability_k`` and the shape of ``Y`` are checked before any text
    is scored (an :class:`~tagsmith.exceptions.InvalidParameterError` naming them).
    """
    from tagsmith.pipeline.evaluate import check_label_shape, held_texts

    alphas = _check_alphas(alphas)
    k, reliability_k = _confidence_k(classifier, reliability_k)
    check_label_table(Y, classifier.label_space, "Y", texts=texts)
    from tagsmith.metrics.sets import check_label_values

    Y = check_label_values(Y, "Y")  # refused after every text was scored, as 'y_true'
    # an iterator's texts counted (scoring lists them anyway): a Y of other rows was
    # refused after scoring, as 'y_true'
    held = held_texts(texts)
    check_label_shape(Y, held, classifier.n_labels)  # a list of lists has a shape as CSR
    raw = classifier.predict_topk(held, k, calibrated=False)
    return _confidence_report(classifier, raw, Y, k, alphas=alphas, reliability_k=reliability_k,
                              png=png)


def evaluate_with_confidence(classifier: TextClassifier, texts: Iterable[str] | StreamedTexts,
                             Y: LabelMatrix, *, threshold: float | None = None,
                             alphas: Iterable[float] = (0.05, 0.1, 0.2),
                             reliability_k: int | None = None,
                             png: str | os.PathLike[str] | None = None,
                             source: str | None = "texts",
                             per_label: bool = False, lang: str = "en",
                             ks: Sequence[int] | None = None) -> tuple[dict, dict]:
    """``(evaluate_classifier(...), evaluate_confidence(...))`` of the same labelled
    documents (the same results), featurized and scored once for both; training
    documents among them draw :func:`evaluate_classifier`'s warning naming ``source``
    (``None``: not checked); ``per_label``, ``lang`` and ``ks`` (None: its default, 1, 3
    and 5) as :func:`evaluate_classifier`'s."""
    from tagsmith.pipeline.evaluate import (
        DEFAULT_KS,
        check_label_shape,
        evaluate_topk,
        evaluation_k,
        held_texts,
        overlap_checked,
    )

    ks, k = evaluation_k(classifier, DEFAULT_KS if ks is None else ks, threshold)
    lang = check_language("lang", lang)  # before any text is scored
    raw_k, reliability_k = _confidence_k(classifier, reliability_k)
    check_label_table(Y, classifier.label_space, "Y", texts=texts)
    # a Y of other rows or columns than the texts and labels was refused after every
    # text had been scored, as 'y_true' (an iterator's texts counted first)
    texts = held_texts(texts)
    check_label_shape(Y, texts, classifier.n_labels)
    if source is not None:
        texts = overlap_checked(classifier, texts, source)
    topk, raw = classifier.predict_topks(texts, (k, True, True), (raw_k, False, False))
    return (evaluate_topk(classifier, Y, topk, ks=ks, threshold=threshold,
                          per_label=per_label, lang=lang),
            _confidence_report(classifier, raw, Y, raw_k, alphas=alphas,
                               reliability_k=reliability_k, png=png))


def _confidence_k(classifier, reliability_k) -> tuple[int, int | None]:
    """The raw candidates per document :func:`evaluate_confidence` reads (the calibration
    width) and ``reliability_k``, both checked with the classifier before any scoring."""
    reliability_k = check_int("reliability_k", reliability_k, 1, allow_none=True, numpy=True)
    require_calibrated(classifier, "a reliability report")
    conformal = classifier.conformal
    k = conformal.k if conformal is not None else classifier.calibrator.k
    if reliability_k is not None and reliability_k > k and k < classifier.n_labels:
        # it was cut to k without a word: "top 10" asked for, the top 5 measured
        raise InvalidParameterError(
            "reliability_k", f"at most the calibration width of {k} candidates (calibrated "
            f"probabilities exist for each document's top {k} of {classifier.n_labels} "
            "labels; calibrate with a larger -k for more)", reliability_k)
    return k, reliability_k


def _confidence_report(classifier, raw: TopK, Y, k: int, *, alphas, reliability_k: int | None,
                       png) -> dict:
    """:func:`evaluate_confidence`'s report from the ``raw`` top-``k`` scores."""
    from tagsmith.calibration.reliability import reliability_diagram

    conformal = classifier.conformal
    probs = classifier.to_probabilities(raw, adjust_shift=False)
    shown = k if reliability_k is None else min(reliability_k, k)
    # each over its own top ``shown``: the raw model's, and the calibrated classifier's (the
    # most probable of the k, what suggest shows); the calibrated probabilities of the raw
    # top ``shown`` made the calibrated top-1 ECE change with ``reliability_k``
    raw_report = reliability_report(Y, _unit_scores(raw.head(shown)))
    cal_report = reliability_report(Y, probs.head(shown), bands=classifier.calibrator.bands)
    # tail probabilities are for labels outside the calibration width k
    cal_report.tail = reliability_report(Y, probs, tail=classifier.calibrator.tail,
                                         tail_floor=classifier.calibrator.tail_floor).tail
    out: dict = {"k": shown, "calibration_k": k, "raw": {"ece": round(raw_report.ece, 6),
                                     "brier": round(raw_report.brier, 6),
                                     "top1_ece": round(raw_report.top1_ece, 6)},
                 "calibrated": cal_report.to_dict(), "sets": {}}
    if conformal is not None:
        for alpha in alphas:
            entry = {}
            for method in conformal.methods():
                sets = conformal.predict(probs, alpha=alpha, method=method)
                # per frequency band too: mondrian's guarantee is each band's, and the
                # marginal recall sets' figure hid the rare bands' (0.61 against 0.79)
                entry[method] = (sets.summary(Y) if method == "lpicp" else
                                 sets.summary(Y, bands=classifier.calibrator.bands))
                # the calibration's own draw: LP-ICP's documents, else those with a
                # trained label (the recall control's, one group)
                drawn = (conformal.n_docs if method == "lpicp"
                         else int(conformal.recall.n_docs.sum()))
                entry[method] |= _guarantee_check(entry[method], alpha, drawn)
            out["sets"][_alpha_key(alpha, out["sets"])] = entry
    if png is not None:
        out["reliability_png"] = str(reliability_diagram(
            {"raw": raw_report, "calibrated": cal_report}, png,
            title=f"Reliability ({len(raw)} document{plural_s(len(raw))}, top {shown})"))
    return out


#: the one-sided confidence of :func:`_guarantee_check`'s lower bound
GUARANTEE_CONFIDENCE = 0.95


def _guarantee_check(summary: dict, alpha: float, n_calibration: int = 0) -> dict:
    """``guarantee_lower_bound``: the least recall (LP-ICP: coverage) that ``summary``'s
    documents allow at 95% where the sets hold 1 - ``alpha`` on them, and
    ``below_guarantee``, whether the measured one falls short of it ({} where nothing
    was measured). A month of posts whose sets held 0.868 of the true labels at alpha
    0.1 was reported without a flag, and so would 0.899 of 30 documents be.

    The bound is the 5% quantile of Binomial(n, 1 - alpha) over n: LP-ICP's coverage
    counts documents whose whole label set is covered, each a Bernoulli trial; a
    document's recall lies in [0, 1], and a variable in [0, 1] with mean m varies at
    most as a Bernoulli of mean m does, so the mean recall of n documents spreads no
    more than the binomial proportion.

    ``n_calibration``, the documents the sets were calibrated on (0: not known; else
    returned as ``guarantee_n_calibration``), widens it for the calibration's own draw:
    sets calibrated on n documents hold on new ones a share that itself varies by about
    sqrt(alpha (1 - alpha) / (n + 2)) (the Beta law of a split-conformal coverage given
    its calibration), and the two shortfalls add in quadrature. Without it, sound sets
    on 5,427 unshifted GoEmotions documents calibrated on 2,170 would be flagged about
    one time in five per method and alpha (estimated from the spreads: the calibration
    draw alone 0.0064, the test documents 0.0041).

    >>> _guarantee_check({"recall_mean": 0.868, "n_labelled_docs": 1500}, 0.1)
    {'guarantee_lower_bound': 0.887333, 'below_guarantee': True}
    >>> _guarantee_check({"recall_mean": 0.868, "n_labelled_docs": 1500}, 0.1, 143)
    {'guarantee_lower_bound': 0.857108, 'below_guarantee': False, 'guarantee_n_calibration': 143}
    >>> _guarantee_check({"recall_mean": 0.88, "n_labelled_docs": 100}, 0.1)
    {'guarantee_lower_bound': 0.85, 'below_guarantee': False}
    >>> _guarantee_check({"coverage": 0.5, "n_docs": 0}, 0.1)
    {}
    """
    from scipy.special import bdtr

    if "coverage" in summary:
        measured, n = summary["coverage"], summary["n_docs"]
    else:
        measured, n = summary.get("recall_mean"), summary.get("n_labelled_docs", 0)
    if measured is None or not n:
        return {}
    # the least count k with P(X <= k) >= 5%: fewer than k fall short of 1 - alpha
    # with probability under 5% (documents of the guarantee's own distribution)
    cdf = bdtr(np.arange(n + 1), n, 1.0 - float(alpha))
    least = int(np.searchsorted(cdf, 1.0 - GUARANTEE_CONFIDENCE))
    bound = least / n
    if n_calibration > 0:
        from scipy.stats import norm

        short = (1.0 - float(alpha)) - bound
        spread = float(norm.ppf(GUARANTEE_CONFIDENCE)) * np.sqrt(
            float(alpha) * (1.0 - float(alpha)) / (n_calibration + 2))
        bound = (1.0 - float(alpha)) - float(np.hypot(short, spread))
    out = {"guarantee_lower_bound": round(bound, 6),
           "below_guarantee": bool(measured < bound - 1e-9)}
    if n_calibration > 0:
        out["guarantee_n_calibration"] = int(n_calibration)
    return out


def _alpha_key(alpha: float, taken: dict) -> str:
    """``"alpha=0.1"``, or the exact value where another alpha already printed alike
    (``--alpha 0.1 --alpha 0.1000001``: both read ``alpha=0.1``, and the second report
    replaced the first without a word).

    >>> _alpha_key(0.1, {}), _alpha_key(0.1000001, {"alpha=0.1": {}})
    ('alpha=0.1', 'alpha=0.1000001')
    """
    key = f"alpha={alpha:g}"
    return f"alpha={float(alpha)!r}" if key in taken else key


def estimate_shift(classifier: TextClassifier, texts: Iterable[str], *, method: str = "em",
                   k: int | None = None, min_count: float | None = None) -> LabelShift:
    """Estimated label shift of the unlabelled ``texts`` against the calibration data.

    ``"bbse"`` uses the held-out documents stored with the calibration as labelled
    source data. Labels with a soft count below ``min_count`` (default
    :data:`~tagsmith.calibration.shift.DEFAULT_MIN_COUNT`) in ``texts`` keep their
    calibration prior. Returns a :class:`~tagsmith.calibration.shift.LabelShift`.

    The texts are scored as the source statistics were: the calibrator's top-k width
    for the source priors (EM), the stored held-out documents' width for BBSE's
    statistics. ``k`` may only repeat the calibrator's width (``None``: it);
    probabilities over another top-k are not comparable with the source's.
    """
    from tagsmith.calibration.shift import DEFAULT_MIN_COUNT, METHODS, estimate_label_shift

    method = check_choice("method", method, METHODS)  # before every text is scored
    k = check_int("k", k, 1, allow_none=True, numpy=True)
    calibrator = require_calibrated(classifier, "a label-shift estimate")
    width = int(calibrator.k)
    if k is not None and k != width:
        raise InvalidParameterError(
            "k", f"None or the calibration width {width} (the source priors were computed "
            f"over the model's top {width} candidates; another top-k gives probabilities "
            "not comparable with them)", k)
    heldout = classifier.heldout
    if method == "bbse" and heldout is None:
        raise InvalidParameterError("method", "'em' (BBSE needs the held-out documents "
                                    "stored at calibration)", method)
    requests = [(width, True, False, width)]
    source_width = None if heldout is None or method != "bbse" else heldout.topk.k
    if source_width is not None and source_width != width:
        requests.append((source_width, True, False, source_width))
    probs, *at_source_width = classifier.predict_topks(texts, *requests)
    if not len(probs):  # refused below as 'topk', a parameter the caller never passed
        raise InvalidParameterError("texts", "at least one document", "none")
    source_y = source_topk = None
    if method == "bbse" and heldout is not None:
        # every stored document, also those the calibrator was fitted on: there its
        # probabilities separate the labels a little better (isotonic: E[p|y=1] -
        # E[p|y=0] some 5-10% wider than on unseen documents), which shrinks the
        # estimated shift by a few per cent of itself; but only the unseen half, or a
        # 2-fold cross-fitted calibrator, doubled the noise and gave larger errors in
        # every simulation tried (RMSE 0.019 -> 0.031 and 0.026 on 600 documents)
        source_y = heldout.Y
        source_topk = calibrator.apply(heldout.topk)
    return estimate_label_shift(probs, source_prior=calibrator.source_prior,
                                tail=calibrator.tail, method=method, source_y=source_y,
                                source_topk=source_topk,
                                bbse_topk=at_source_width[0] if at_source_width else None,
                                min_count=DEFAULT_MIN_COUNT if min_count is None else min_count,
                                source_docs=calibrator.n_docs or None)
