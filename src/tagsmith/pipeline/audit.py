"""The label audit as one call: scores, issues, duplicates, leakage, report, review queue.

:func:`audit_corpus` takes a labelled corpus (texts and a label matrix) and returns an
:class:`AuditResult`; :meth:`AuditResult.write` puts the report (JSON and a
self-contained HTML page), the review queue (CSV or JSONL) and a per-label table in a
directory. The engine pieces live in :mod:`tagsmith.audit`.

>>> import numpy as np, scipy.sparse as sp
>>> from tagsmith.data.labelspace import LabelSpace
>>> space = LabelSpace.from_uris(["u:rain", "u:sun"])
>>> texts = ["rain and clouds", "sunny and warm", "heavy rain", "warm sun"] * 10
>>> labels = np.array([[1, 0], [0, 1], [1, 0], [0, 1]] * 10)
>>> labels[3] = [1, 0]  # "warm sun" labelled rain
>>> Y = sp.csr_matrix(labels)
>>> result = audit_corpus(texts, Y, space, options=AuditOptions(scores="knn",
...     knn_params={"n_neighbors": 5}, featurizer_params={"char_ngrams": None, "min_df": 1}))
>>> from tagsmith.audit.detect import WRONG
>>> issues = result.issues  # every candidate, most probable first
>>> int(issues.doc[0]), int(issues.kind[0]) == WRONG, space.uri_of(int(issues.label[0]))
(3, True, 'u:rain')
"""

from __future__ import annotations

import copy
import datetime
import logging
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import InitVar, asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from tagsmith import __version__
from tagsmith._params import (
    check_bool,
    check_choice,
    check_int,
    check_language,
    check_number,
    check_options,
)
from tagsmith._plural import and_more, clip, plural, plural_s
from tagsmith._surface import said
from tagsmith._typing import LabelMatrix
from tagsmith.audit import CALIBRATION_FOLDS, COOCCURRENCE_WEIGHT, KEPT_MARK, REVIEW_MARK
from tagsmith.audit.detect import (
    STATED_CERTAIN,
    UNKNOWN_CONFIDENCE,
    LabelIssues,
    check_calibration_folds,
    check_label_issue_options,
    check_single_label,
    find_label_issues,
    flag_copies,
    one_label_labels_in_use,
    order_one_label_wrong,
    pair_broader,
    pair_single_label,
)
from tagsmith.audit.duplicates import NEAR_DUPLICATE_THRESHOLD
from tagsmith.audit.health import MIN_BROADER_CODED_SHARE, MIN_BROADER_PAIR_DOCS
from tagsmith.audit.scores import AuditScores, check_cooccurrence, check_source
from tagsmith.data.corpus import DerivingLabels
from tagsmith.data.csvlimits import csv_writer
from tagsmith.data.labelspace import LabelSpace, check_label_table
from tagsmith.data.readers import check_not_a_vocabulary
from tagsmith.exceptions import AmbiguousLabelError, DataError, InvalidParameterError
from tagsmith.features.views import Views
from tagsmith.models.splits import groups_by_first
from tagsmith.pipeline.io import label_layout
from tagsmith.progress import _percent, progress_bar
from tagsmith.store.staging import make_staging, remove_staging, stale_staging

if TYPE_CHECKING:  # the classifier is imported only when one is given
    from tagsmith.audit.review import ReviewedPairs, TextFallback
    from tagsmith.pipeline.classifier import TextClassifier

logger = logging.getLogger("tagsmith")

#: beyond this many documents the audit's own features are word n-grams only
#: (character n-grams multiply the non-zeros, and with them the search cost, ~12x)
WORD_ONLY_ABOVE = 100_000
#: label spaces up to this size are cross-fitted by default (every label gets a score)
CROSSFIT_UP_TO_LABELS = 100
#: and corpora up to this size
CROSSFIT_UP_TO_DOCS = 200_000
#: candidates shown in the HTML report
HTML_CANDIDATES = 50
#: below this precision@1 of the out-of-sample scores against the given labels, the
#: scores carry little signal and the report warns that its candidates are unreliable
MIN_SCORES_P_AT_1 = 0.1
LOW_SIGNAL_WARNING = ("the scores recover few given labels (out-of-sample P@1 {p1:.3f} < "
                      "{threshold}); candidates are unreliable - use more documents or a "
                      "better model")
#: a noise-rate bound at or above this share (of the given labels wrong, or of the true
#: labels missing) says nothing to act on: the report withholds the bounds as not
#: informative (GoEmotions' first 60 to 150 texts bounded both rates at 87% to 100%)
MAX_INFORMATIVE_BOUND = 0.8
#: more than this share of the given labels on labels given to fewer documents than the
#: noise section's ``label_min_support``: the report warns that its rates say little
MAX_SHARE_ON_RARE_LABELS = 0.5
#: fewer distinct labelled texts than this (and at least the few-texts warning's
#: minimum), with a noise-rate bound at or above :data:`SMALL_CORPUS_WIDE_BOUND`: the
#: report warns that bounds this wide on so few texts may say more of the scores than of
#: the errors (random GoEmotions slices of 500 to 5,000 comments, 5% wrong and 10%
#: missing labels planted, were bounded at 24-55% wrong and 22-70% missing; Reuters-21578
#: slices of 1,000 at 14-18% and 12-20%, with no warning; the README's "Auditing a small
#: corpus", each seed on its own slice). The audit benchmarks' corpora are larger
SMALL_CORPUS_TEXTS = 5_000
SMALL_CORPUS_WIDE_BOUND = 0.25
#: the columns of ``labels.csv``, one row per label used or flagged (the README names them)
#: the audit's cross-fitting folds where ``n_folds`` is not given
N_FOLDS = 5

LABEL_COLUMNS = ("id", "uri", "name", "n_given", "band", "threshold", "est_wrong",
                 "est_missing", "wrong_rate", "missing_rate", "n_flagged_wrong",
                 "n_flagged_missing", "own_share")


@dataclass
class AuditOptions:
    """How to audit; every field has a sane default.

    ``scores``: ``auto`` (a bundle's stored cross-fitted scores when they are of this
    corpus; else K-fold cross-fitting for small label spaces and corpora, else
    leave-one-out kNN; a model or parameters for a source it does not pick are refused,
    not ignored), ``knn``, ``crossfit``, ``bundle`` or ``heldout`` (the ``classifier``'s
    own predictions, for a corpus it was not trained on: a test split; see
    :mod:`tagsmith.audit.scores`). ``model``/``model_params``/``n_folds``: the
    cross-fitted model (default: the bundle's, else ``linear`` with the logistic loss);
    ``knn_params``: the leave-one-out kNN's; ``cooccurrence``: the weight of the
    documents' leave-one-out label co-occurrence blended into the kNN scores before
    their top-k is taken (:func:`tagsmith.audit.scores.blend_cooccurrence`; 0 turns it
    off; ``"auto"`` keeps the weight of :data:`tagsmith.audit.COOCCURRENCE_GRID` whose
    blend has the highest P@1 against the given labels,
    :func:`tagsmith.audit.scores.choose_cooccurrence`), used by the ``knn`` source only
    (``auto`` refuses a value other than the default when it picks another source;
    ``crossfit`` and ``bundle`` ignore it). A source given by name (``knn``,
    ``crossfit``, ``bundle``, ``heldout``) ignores the parameters it does not use, with a
    warning naming them (the command line refuses them).
    ``k``: top-k width (default: every label up to 100 labels,
    else 50). ``n_folds`` (default 5) and ``seed`` (default 0): ``None`` is the default,
    resolved by :meth:`validate`, which records which of them were given
    (:meth:`was_given`): scores ``'auto'`` warns where it does not use the folds given.
    ``featurizer_params``: the TF-IDF features' parameters
    (:class:`~tagsmith.features.tfidf.TfidfFeaturizer`) where no bundle is given (a
    bundle's own featurizer is used otherwise, and parameters given with it are refused,
    not ignored; a multi-view bundle's neighbour search and label evidence use TF-IDF
    features built with them); ``None``: the defaults, word n-grams
    only above ``WORD_ONLY_ABOVE`` (100,000) documents.

    Passed to :func:`tagsmith.audit.detect.find_label_issues` (its module docstring
    gives the steps): ``evidence`` (stack the calibrated scores with label-centroid
    similarity, label co-occurrence and label frequency; ``False``: the calibrated scores
    alone); ``max_missing_per_doc``: a document's best top-k labels not given that are
    its missing candidates; ``min_probability``: the posterior error probability a pair
    must reach to be flagged (in (0, 1]; lower flags more, less surely);
    ``prior_strength``: the pseudo-documents a label's noise rates are shrunk with
    toward its frequency band's (>= 0; higher trusts a rare label's own counts less);
    ``rates``: the level of the noise rates the posteriors use, ``global`` (pooled, the
    best ranking on our benchmarks), ``band`` or ``label``; ``every_doc_labelled``:
    whether every document should carry a label, so that one given none is missing
    one (``None``: decided from the corpus); ``calibration_folds``: the folds the
    scores' calibration is cross-fitted over (1: in-sample); ``band_budget_below``:
    labels given to 2 or more documents, fewer than this (0: none), have their *wrong* flags
    pruned by frequency band, the band's estimated wrong count flagged by rank across
    them whatever ``min_probability`` (a label of a few documents never reaches it).
    ``single_label``: whether
    every document has one label (a catalogue), its wrong and missing rows then paired
    as one move (:func:`tagsmith.audit.detect.pair_single_label`); ``None`` decides from
    the corpus, ``True`` refuses a document given two labels. ``label_confidence``:
    ``Y``'s values below 1 are the given labels' own confidences (an LLM's, ``label``'s
    output), blended into the wrong candidates' probabilities and ranking
    (:func:`tagsmith.audit.detect.blend_label_confidence`); a value of exactly 1 is no
    stated confidence (unknown: its wrong candidate keeps the audit's probability, left
    out of the mean; warned of), so pass an LLM's stated 1.0 as
    :data:`tagsmith.audit.detect.STATED_CERTAIN`, as
    ``read_audit_corpus(..., confidences=True)`` reads it; ``False`` (the default): every
    label above 0 is given alike, the confidences unused. ``copies_majority``: copies of
    one text that disagree on a label raise the side most copies disagree with
    (:func:`tagsmith.audit.detect.flag_copies`); ``False`` (the default): the copies'
    disagreement is shown in the review's ``copies`` column only (on the audit
    benchmarks it flagged the corpora's own disagreements, which they count as right:
    GoEmotions PR-AUC 0.4581 -> 0.4529, Reuters 0.8287 -> 0.8265).
    ``broader_min_docs`` and ``broader_min_share``: the broader labels left off
    (report.json's ``broader_left_off``, ``docs_without_broader.csv``) are read for a
    pair (narrower, broader) whose narrower label is given to at least
    ``broader_min_docs`` documents, at least ``broader_min_share`` of them carrying the
    broader one too (10 and 0.9 by default); the review queue is not changed by them.

    Duplicates: ``near_duplicates`` (``False``: exact duplicates only) and
    ``near_duplicate_threshold``, the TF-IDF cosine in (0, 1] at which two texts are
    near duplicates (less a 1e-4 slack for float32 rounding), in the corpus and, for
    leakage, across the splits given. The review queue: ``max_review`` rows (``None``:
    every flagged pair); ``review_sample`` documents drawn at random for exhaustive
    review (:mod:`tagsmith.audit.sample`; ``AuditResult.sample``, the report's
    ``review_sample``; ``None``: none), stratified where ``review_sample_flagged`` is
    given (that many among the documents with a flagged pair, ``review_sample`` among
    the others). ``lang``: the language of the label names in the review queue, the
    sample and the report (a label with no name in it shows one in another language,
    else its URI: :meth:`~tagsmith.data.labelspace.LabelSpace.name_of`).
    ``show_progress``: progress bars on stderr.
    """

    scores: str = "auto"
    model: str | None = None
    model_params: dict = field(default_factory=dict)
    n_folds: int | None = None  # None: N_FOLDS, not given
    knn_params: dict = field(default_factory=dict)
    cooccurrence: float | str = COOCCURRENCE_WEIGHT
    k: int | None = None
    featurizer_params: dict | None = None
    evidence: bool = True
    max_missing_per_doc: int = 20
    min_probability: float = 0.5
    prior_strength: float = 20.0
    rates: str = "global"
    every_doc_labelled: bool | None = None
    #: whether every document has one label (a catalogue), its wrong and missing rows
    #: then paired as one move (:func:`tagsmith.audit.detect.pair_single_label`); None
    #: decides from the corpus, True refuses a document given two labels
    single_label: bool | None = None
    calibration_folds: int = CALIBRATION_FOLDS
    #: labels with fewer given documents than this have their wrong flags pruned by
    #: frequency band (step 6b of :mod:`tagsmith.audit.detect`); 0: off
    band_budget_below: int = 0
    near_duplicates: bool = True
    near_duplicate_threshold: float = NEAR_DUPLICATE_THRESHOLD
    max_review: int | None = None
    #: documents drawn at random for exhaustive review (:mod:`tagsmith.audit.sample`;
    #: ``AuditResult.sample``, the report's ``review_sample``); None: none
    review_sample: int | None = None
    #: stratify the sample: draw this many documents among those with a flagged pair,
    #: and ``review_sample`` among the others; None: ``review_sample`` uniformly
    review_sample_flagged: int | None = None
    seed: int | None = None  # None: 0, not given
    lang: str = "en"
    show_progress: bool = False
    #: blend the given labels' own confidences (Y's values below 1: an LLM's, label's
    #: output) into the wrong candidates' ranking
    #: (:func:`tagsmith.audit.detect.blend_label_confidence`); off: every label scoring
    #: above 0 is given alike
    label_confidence: bool = False
    #: copies of one text that disagree on a label: flag the side most copies disagree
    #: with (:func:`tagsmith.audit.detect.flag_copies`); off: shown in ``copies`` only
    copies_majority: bool = False
    #: the broader labels left off (report.json's broader_left_off,
    #: docs_without_broader.csv): a pair (narrower, broader) is read where the narrower
    #: label is given to at least ``broader_min_docs`` documents, at least
    #: ``broader_min_share`` of them carrying the broader one too
    #: (:data:`~tagsmith.audit.health.MIN_BROADER_PAIR_DOCS`,
    #: :data:`~tagsmith.audit.health.MIN_BROADER_CODED_SHARE`); the review queue is not
    #: changed by them
    broader_min_docs: int = MIN_BROADER_PAIR_DOCS
    broader_min_share: float = MIN_BROADER_CODED_SHARE
    # the fields validate() found left to their default (None): an init-only variable,
    # not a field (asdict, the report's meta.options, holds the resolved values), which
    # dataclasses.replace passes on from the attribute __post_init__ sets: a plain
    # attribute was lost there, and a validated copy's n_folds 5 read as given (scores
    # auto warned of folds nobody asked for)
    _defaulted: InitVar[Collection[str]] = ()

    def __post_init__(self, _defaulted: Collection[str]) -> None:
        # the instance's own set, under the name replace reads (mypy knows it not)
        vars(self)["_defaulted"] = set(_defaulted)
        # a bad field is refused here, naming it, not where the options are used; the
        # copy validated keeps a set of its own (validate adds to it)
        probe = copy.copy(self)
        vars(probe)["_defaulted"] = set(_defaulted)
        probe.validate()

    def _left_default(self) -> set[str]:
        """The fields :meth:`validate` found ``None`` (see ``_defaulted``)."""
        return vars(self)["_defaulted"]

    def was_given(self, name: str) -> bool:
        """Whether ``n_folds`` or ``seed`` was given (not ``None``, the default) as
        :meth:`validate` last found it: scores ``'auto'`` warns of folds it does not
        use where they were (the Python API's callers had an info line, the command
        line a warning). Options never validated: whether it is set (not ``None``)."""
        return getattr(self, name) is not None and name not in self._left_default()

    def validate(self) -> None:
        """Refuse a bad field; numpy numbers pass and are kept as plain Python ones,
        as :meth:`TrainOptions.validate` keeps them. ``n_folds`` and ``seed`` left
        ``None`` take their defaults (noted by :meth:`was_given`)."""
        from tagsmith.pipeline.crossfit import check_n_folds

        for name, default in (("n_folds", N_FOLDS), ("seed", 0)):
            value = getattr(self, name)
            if value is None:
                self._left_default().add(name)
                setattr(self, name, default)
            elif not (name in self._left_default() and value == default):
                # a value set since (the default validated before stays the default)
                self._left_default().discard(name)
        self.scores = check_source(self.scores)
        self.n_folds = check_n_folds("n_folds", self.n_folds)
        self.near_duplicate_threshold = check_number(
            "near_duplicate_threshold", self.near_duplicate_threshold, 0, strict=True,
            maximum=1, numpy=True)
        self.max_review = check_int("max_review", self.max_review, 0, allow_none=True,
                                    numpy=True)
        self.review_sample = check_int("review_sample", self.review_sample, 1,
                                       allow_none=True, numpy=True)
        self.review_sample_flagged = check_int(
            "review_sample_flagged", self.review_sample_flagged, 2, allow_none=True,
            numpy=True)
        if self.review_sample_flagged is not None:
            if self.review_sample is None:
                raise InvalidParameterError(
                    "review_sample_flagged", "given with review_sample (the documents to "
                    "draw among those with no flagged pair)", self.review_sample_flagged)
            if self.review_sample < 2:
                raise InvalidParameterError(
                    "review_sample", ">= 2 where the sample is stratified "
                    "(review_sample_flagged; a stratum's variance needs two)",
                    self.review_sample)
        self.k = check_int("k", self.k, 1, allow_none=True, numpy=True)
        self.cooccurrence = check_cooccurrence(self.cooccurrence)
        self.calibration_folds = check_calibration_folds(self.calibration_folds)
        self.band_budget_below = check_int("band_budget_below", self.band_budget_below, 0,
                                           numpy=True)
        # it seeds the folds and the label-issue sampling: -1 failed inside numpy
        self.seed = check_int("seed", self.seed, 0, numpy=True)
        self.broader_min_docs = check_int("broader_min_docs", self.broader_min_docs, 1,
                                          numpy=True)
        self.broader_min_share = check_number("broader_min_share", self.broader_min_share,
                                              0, strict=True, maximum=1, numpy=True)
        # find_label_issues' own options, checked here too: it runs after the scores
        check_label_issue_options(self.prior_strength, self.min_probability,
                                  self.max_missing_per_doc, self.rates,
                                  self.every_doc_labelled)
        check_single_label(self.single_label)
        self.prior_strength = float(self.prior_strength)
        self.min_probability = float(self.min_probability)
        self.max_missing_per_doc = int(self.max_missing_per_doc)
        # "no" was read as True, lang=None as no language at all
        for name in ("evidence", "near_duplicates", "show_progress", "label_confidence",
                     "copies_majority"):
            setattr(self, name, check_bool(name, getattr(self, name)))
        self.lang = check_language("lang", self.lang)  # every --lang's one check
        if self.model is not None:  # else refused only after the features were built
            from tagsmith.models import available_models

            self.model = check_choice("model", self.model, sorted(available_models()))
        for name in ("model_params", "knn_params", "featurizer_params"):
            value = getattr(self, name)
            if not isinstance(value, dict) and not (name == "featurizer_params"
                                                    and value is None):
                raise InvalidParameterError(name, "a dict of parameters" + (
                    " or None" if name == "featurizer_params" else ""), type(value).__name__)


@dataclass
class AuditResult:
    """What an audit found: ``issues``, the JSON-able ``report``, the ``review`` rows."""

    issues: LabelIssues
    report: dict
    review: list[dict]
    scores: AuditScores
    label_space: LabelSpace
    #: the rows of the random sample for exhaustive review (``review_sample``), or None
    sample: list[dict] | None = None
    #: every document given a label that has narrower labels, where the audit lists them
    #: (a single-label collection, a corpus coded at the most specific level; None
    #: elsewhere), as :func:`~tagsmith.audit.health.docs_on_parent_labels` gives them:
    #: ``docs_on_parent_labels.csv``
    docs_on_parents: list[dict] | None = None
    #: every duplicate pair the audit lists (:class:`DuplicatePairs`), for
    #: :data:`DUPLICATES`: report.json and the page list the first 20 of each kind
    duplicate_pairs: DuplicatePairs | None = None
    #: every document given a narrower label without a broader one the corpus codes
    #: beside it almost always, a row per such pair (None: the vocabulary has no
    #: hierarchy), as :func:`~tagsmith.audit.health.broader_left_off` gives them:
    #: :data:`BROADER_LEFT_OFF`
    broader_left_off: list[dict] | None = None

    def __repr__(self) -> str:
        # one line at a prompt: the dataclass repr printed every review row, the whole
        # report and the issues' arrays
        return (f"AuditResult(issues={self.issues!r}, n_review_rows={len(self.review)}, "
                f"scores={self.scores.source!r})")

    def write(self, directory: str | Path, *, html: bool = True, plots: bool = True,
              review_format: str = "csv", force: bool = False,
              keep: Sequence[str | Path] = ()) -> dict[str, Path]:
        """Write ``report.json``, ``report.html``, ``review.<csv|jsonl>``,
        ``labels.csv`` and :data:`DUPLICATES` (every duplicate pair listed, empty of rows
        for a result without them) into ``directory`` (created), and
        :data:`DOCS_ON_PARENTS` where
        the audit lists the documents on a label with narrower labels
        (``docs_on_parents``; else one an earlier audit wrote there is removed); returns
        the paths.

        A review file there that already holds decisions is not overwritten unless
        ``force``, nor another of these files that no audit wrote, nor ever a file in
        ``keep`` (the audit's inputs; see :func:`check_output`). Without ``html``, a
        ``report.html`` an earlier audit wrote there is removed (it would disagree with the new
        ``report.json``); a file of that name the audit did not write is left alone.
        An audit drawing no sample likewise removes an undecided ``sample.csv`` or
        ``sample.jsonl`` of an earlier one (the new ``report.json`` holds no record to
        read it with), with a warning.
        """
        from tagsmith.audit.report import is_report_html, render_html, write_json
        from tagsmith.audit.review import write_review
        from tagsmith.data.textio import atomic_text_writer
        from tagsmith.store.bundle import _folder_lock

        review_format = check_choice("review_format", review_format, ("csv", "jsonl"))
        directory = Path(directory)
        listed = self.docs_on_parents is not None
        left_off = self.broader_left_off is not None
        check_output(directory, review_format=review_format, force=force, html=html,
                     keep=keep, sample=self.sample is not None, docs_on_parents=listed,
                     broader_left_off=left_off)
        # an earlier save's word that its folder's table was kept says nothing of this
        # folder's: set again below only where this one's is kept
        section = self.report.get("broader_left_off")
        if isinstance(section, dict):
            section.pop("table_kept_decided", None)
        # everything is built before anything is written (a plot that fails must not leave
        # a half-written folder), then written to a staging folder and moved in at once
        page = render_html(self.report, plots=plots) if html else None
        # the outermost folder this run creates (directory or a parent of it), removed
        # again, if empty, when the run fails before writing anything
        created = _outermost_missing(directory)
        try:  # a folder that passes the writability check and refuses the mkdir (/proc,
            # a root-squashed share) ended in a traceback, exit code 1, after the audit
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _remove_created(directory, created)
            raise DataError(f"cannot create the folder ({exc.strerror or exc})",
                            path=directory) from exc
        # named after this process: the next audit here removes it if a kill (SIGKILL,
        # the OOM killer) left it behind, which it did forever
        for stale, pid in stale_staging(directory, ".audit-"):
            remove_staging(stale)
            logger.info("removed %s, the staging folder of an audit that was killed "
                        "(process %d)", stale, pid)
        try:
            staging = make_staging(directory, ".audit-")
        except OSError as exc:
            # the folder made just above was left behind, empty (one that existed is kept)
            _remove_created(directory, created)
            raise DataError(f"cannot create a folder in it to write the audit in "
                            f"({exc.strerror or exc})", path=directory) from exc
        names = output_names(review_format=review_format, html=html,
                             sample=self.sample is not None, docs_on_parents=listed,
                             broader_left_off=left_off)
        # an undecided sample of an earlier audit, which the new report.json holds no
        # record of: left, it was decided by a reviewer and then could not be read
        stale_samples = [] if self.sample is not None else _stale_samples(directory)
        try:
            write_json(self.report, staging / names["report_json"])
            write_review(self.review, staging / names["review"])
            if self.sample is not None:
                write_review(self.sample, staging / names["sample"])
            self._write_labels(staging / names["labels"])
            self._write_duplicates(staging / names["duplicates"])
            if listed:
                self._write_docs_on_parents(staging / names["docs_on_parents"])
            if left_off:
                self._write_broader_left_off(staging / names["broader_left_off"])
            if page is not None:
                with atomic_text_writer(staging / names["report_html"]) as out:
                    out.write(page)
            # the files move in one by one, under the folder's lock: two audits into one
            # folder finishing together interleaved their renames, and left one's
            # report.json beside the other's review; now they take turns, the last wins
            with _folder_lock(directory):
                if page is None and is_report_html(directory / "report.html"):
                    # moved into the staging folder (deleted with it) before the new files
                    # move in, so the folder never holds a new report.json with an old page
                    os.replace(directory / "report.html", staging / "stale-report.html")
                if not listed and _replaceable(directory / DOCS_ON_PARENTS, DOCS_ON_PARENTS) \
                        and (directory / DOCS_ON_PARENTS).is_file():
                    # an earlier audit's (a catalogue's), whose documents this one does
                    # not list: it would disagree with the new report.json; one of the
                    # user's own is left alone
                    os.replace(directory / DOCS_ON_PARENTS, staging / f"stale-{DOCS_ON_PARENTS}")
                # looked at again under the lock, as the samples are: a desk may have
                # decided the table while the files were written (it was replaced or
                # removed, decisions and all); kept, and the new one not moved in
                table_kept = not force and _n_decided_now(directory / BROADER_LEFT_OFF)
                if table_kept and left_off:
                    names = {k: v for k, v in names.items() if k != "broader_left_off"}
                    # report.json (and the page) gave the counts of the table not moved
                    # in, beside the kept one, without a word: they say so now
                    section = self.report.get("broader_left_off")
                    if isinstance(section, dict):
                        section["table_kept_decided"] = True
                        write_json(self.report, staging / names["report_json"])
                        if page is not None:
                            with atomic_text_writer(staging / names["report_html"]) as out:
                                out.write(render_html(self.report, plots=plots))
                if not left_off and not table_kept \
                        and _replaceable(directory / BROADER_LEFT_OFF, BROADER_LEFT_OFF) \
                        and (directory / BROADER_LEFT_OFF).is_file():
                    # an earlier audit's, with a hierarchy this one's vocabulary lacks
                    os.replace(directory / BROADER_LEFT_OFF,
                               staging / f"stale-{BROADER_LEFT_OFF}")
                if stale_samples:
                    # looked at again under the lock: a reviewer may have decided one
                    # while the files were written (it was removed, decisions and all)
                    stale_samples = _stale_samples(directory)
                for stale_sample in stale_samples:  # moved out with the staging folder
                    os.replace(stale_sample, staging / f"stale-{stale_sample.name}")
                paths = {}
                for key, name in names.items():
                    os.replace(staging / name, directory / name)
                    paths[key] = directory / name
        except BaseException as exc:
            if created is not None:
                shutil.rmtree(directory, ignore_errors=True)
                _remove_created(directory.parent, created)
            if isinstance(exc, OSError) and exc.filename is not None \
                    and Path(exc.filename).parent == staging:
                # a write that failed (a full disk) named the file in the staging folder,
                # '.audit-HOST-PID-*/report.json', a folder the user never saw
                exc.filename = str(directory / Path(exc.filename).name)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if table_kept:
            logger.warning("%s (%d review decision%s filled in while the audit ran) was kept: "
                           "apply it with tagsmith apply-review, then audit again for a new "
                           "table", directory / BROADER_LEFT_OFF, table_kept,
                           plural_s(table_kept))
        _warn_other_review(directory, review_format)
        if self.sample is not None:
            _warn_other_review(directory, review_format, stem="sample")
        for stale_sample in stale_samples:
            logger.warning("removed %s, the undecided review sample of an earlier audit: "
                           "this audit drew none (review_sample), and its report.json holds "
                           "no record to read that sample with", stale_sample,
                           extra={"parameters": ("review_sample",)})
        if self.sample is None:  # with force, or decided while the files were written
            _warn_decided_sample_kept(directory)
        return paths

    def _write_docs_on_parents(self, path: Path) -> Path:
        """Every document given a label that has narrower labels, a row for each such
        label (:data:`DOCS_ON_PARENTS_COLUMNS`): report.json lists the first 20."""
        from tagsmith.audit.review import _list_cell, _read_back_cell
        from tagsmith.data.csvlimits import spreadsheet_safe
        from tagsmith.data.textio import atomic_text_writer

        space, lang = self.label_space, self.report["meta"]["lang"]
        # each label's cells once: the rows repeat a few labels
        cells: dict[int, tuple[str, str, str]] = {}
        with atomic_text_writer(path) as out:
            writer = csv_writer(out)
            writer.writerow(DOCS_ON_PARENTS_COLUMNS)
            for doc in self.docs_on_parents or ():
                doc_id = _read_back_cell(str(doc["doc_id"] or ""))
                line = "" if doc["line"] is None else doc["line"]
                review = "; ".join(map(str, doc["review_rows"]))
                for label in doc["labels"]:
                    cell = cells.get(label)
                    if cell is None:
                        cell = cells[label] = (
                            _read_back_cell(space.uri_of(label)),
                            spreadsheet_safe(space.name_of(label, lang)),
                            # a URI holding "; " (a category path's step, "Toys; Games")
                            # quoted, as the review's list cells are: joined bare, the
                            # cell could not be split back into its URIs
                            _read_back_cell(_list_cell(
                                [space.uri_of(narrower)
                                 for narrower in space.narrower_ids(label)], "; ")))
                    writer.writerow([doc["doc"], line, doc_id, *cell, review])
        return path

    def _write_broader_left_off(self, path: Path) -> Path:
        """Every document given a narrower label without a broader one the corpus codes
        beside it almost always, a row per document and broader label
        (:data:`BROADER_LEFT_OFF_COLUMNS`): report.json lists the first 20."""
        from tagsmith.audit.review import _list_cell, _read_back_cell
        from tagsmith.data.csvlimits import spreadsheet_safe
        from tagsmith.data.textio import atomic_text_writer

        space, lang = self.label_space, self.report["meta"]["lang"]
        with atomic_text_writer(path) as out:
            writer = csv_writer(out)
            writer.writerow(BROADER_LEFT_OFF_COLUMNS)
            for row in self.broader_left_off or ():
                writer.writerow([
                    "", row["doc"], "" if row["line"] is None else row["line"],
                    _read_back_cell(str(row["doc_id"] or "")),
                    _read_back_cell(row["doc_key"]),
                    # several narrower labels under one broader label left off (a story
                    # on wheat and corn without grain) are one row: one decision
                    _read_back_cell(_list_cell([space.uri_of(c) for c in row["narrower"]],
                                               "; ")),
                    spreadsheet_safe(_list_cell([space.name_of(c, lang)
                                                 for c in row["narrower"]], " | ")),
                    _read_back_cell(space.uri_of(row["broader"])),
                    spreadsheet_safe(space.name_of(row["broader"], lang)),
                    row["share"], "" if row["missing_row"] is None else row["missing_row"],
                    "; ".join(map(str, row["review_rows"]))])
        return path

    def _write_duplicates(self, path: Path) -> Path:
        """Every duplicate pair the audit lists (:data:`DUPLICATES_COLUMNS`), conflicting
        ones first, exact copies before near pairs, the most similar first, as the
        report's tables list their first 20: a steward needs all of them to act."""
        from tagsmith.audit.review import _list_cell, _read_back_cell
        from tagsmith.data.textio import atomic_text_writer

        found, space = self.duplicate_pairs, self.label_space
        with atomic_text_writer(path) as out:
            writer = csv_writer(out)
            writer.writerow(DUPLICATES_COLUMNS)
            if found is None:
                return path
            # each document's cells once: an exact copy's group's first document
            # is in every pair of its group
            cells: dict[int, tuple] = {}

            def doc_cells(doc: int) -> tuple:
                cell = cells.get(doc)
                if cell is None:
                    Y = found.Y
                    uris = [space.uri_of(int(c))
                            for c in Y.indices[Y.indptr[doc]:Y.indptr[doc + 1]]]
                    doc_id = None if found.doc_ids is None else found.doc_ids[doc]
                    cell = cells[doc] = (
                        doc, "" if found.lines is None else int(found.lines[doc]),
                        _read_back_cell(str(doc_id or "")),
                        _read_back_cell(_list_cell(sorted(uris), "; ")))
                return cell

            order = np.lexsort((-found.cosine, ~found.exact, ~found.conflicting))
            for p in order:
                a, b = (doc_cells(int(d)) for d in found.pairs[p])
                writer.writerow(["exact" if found.exact[p] else "near",
                                 _round(float(found.cosine[p]), 4),
                                 "yes" if found.conflicting[p] else "no",
                                 *a[:3], *b[:3], a[3], b[3]])
        return path

    def _write_labels(self, path: Path) -> Path:
        """Per-label noise estimates of every label that is used or flagged."""

        from tagsmith.audit.detect import MISSING, WRONG
        from tagsmith.audit.review import _read_back_cell
        from tagsmith.data.csvlimits import spreadsheet_safe
        from tagsmith.data.textio import atomic_text_writer

        issues, space = self.issues, self.label_space
        flagged = issues.flagged
        n_labels = issues.n_labels
        wrong = np.bincount(issues.label[flagged & (issues.kind == WRONG)], minlength=n_labels)
        missing = np.bincount(issues.label[flagged & (issues.kind == MISSING)],
                              minlength=n_labels)
        # the weight of the label's own pairs in its rates, the rest its band's (step 4 of
        # tagsmith.audit.detect): a rate of a label of 3 documents was its band's, and
        # nothing in the row said so
        prior = float(self.report["meta"]["options"]["prior_strength"])
        own = np.divide(issues.n_given, issues.n_given + prior,
                        out=np.ones(n_labels), where=(issues.n_given + prior) > 0)
        with atomic_text_writer(path) as out:
            writer = csv_writer(out)  # a label name may hold a lone \r
            writer.writerow(LABEL_COLUMNS)
            for i in np.flatnonzero((issues.n_given > 0) | (wrong > 0) | (missing > 0)):
                # a code a spreadsheet saves as another number, 051010 as 51010, gets
                # a ' as review.csv's label_uri does (a finance team's sector codes)
                writer.writerow([int(i), _read_back_cell(space.uri_of(int(i))),
                                 spreadsheet_safe(space.name_of(int(i),
                                                                self.report["meta"]["lang"])),
                                 int(issues.n_given[i]), int(issues.band[i]),
                                 _round(issues.threshold[i]), _round(issues.est_wrong[i], 3),
                                 _round(issues.est_missing[i], 3),
                                 _round(issues.wrong_rate[i]), _round(issues.missing_rate[i]),
                                 int(wrong[i]), int(missing[i]), _round(own[i], 3)])
        return path


#: the file of the documents given a label that has narrower labels (all of them:
#: report.json lists the first 20), where the audit lists them
DOCS_ON_PARENTS = "docs_on_parent_labels.csv"

#: its columns: a document as the review queue names it, one of its labels that has
#: narrower ones, those narrower labels, and the ranks of the document's review rows
DOCS_ON_PARENTS_COLUMNS = ("doc", "line", "doc_id", "label_uri", "label_name",
                           "narrower_uris", "review_rows")

#: the file of every document given a narrower label without a broader one that the
#: corpus codes beside it almost always (written where the vocabulary has a hierarchy)
BROADER_LEFT_OFF = "docs_without_broader.csv"

#: its columns: a document as the review queue names it, the narrower label, the
#: broader one left off, the share of the narrower label's documents carrying it, the
#: rank of the review row adding it (empty: none) and the document's review rows
#: (one row per document and broader label, naming every narrower label the document
#: carries under it), its text's fingerprint and an empty decision: ``apply-review``
#: reads the table as a review whose rows each add ``broader_uri``, so a desk that
#: accepts them need not add the labels by hand
BROADER_LEFT_OFF_COLUMNS = ("decision", "doc", "line", "doc_id", "doc_key", "narrower_uris",
                            "narrower_names", "broader_uri", "broader_name", "share",
                            "missing_row", "review_rows")

#: report.json's broader_left_off where the corpus is read as coded at the most
#: specific level (broader moves): the check is not run there, and no table written
BROADER_LEFT_OFF_SKIPPED = ("not read: the corpus is coded at the most specific level, "
                            "where a broader label beside a narrower one is an error")


#: the file of every duplicate pair the audit lists (report.json and the page list the
#: first 20 of each kind): each exact copy beside its group's first document, each near
#: pair of texts once, as :func:`~tagsmith.audit.health.duplicates_section` counts them
DUPLICATES = "duplicates.csv"

#: its columns: ``exact``/``near``, the pair's cosine, whether the label sets differ
#: (``yes``/``no``), each document as the review queue names it and its labels' URIs
DUPLICATES_COLUMNS = ("kind", "cosine", "labels_differ", "doc_a", "line_a", "doc_id_a",
                      "doc_b", "line_b", "doc_id_b", "labels_a", "labels_b")


@dataclass
class DuplicatePairs:
    """The duplicate pairs an audit lists (:attr:`~tagsmith.audit.duplicates.Duplicates.pairs`
    and their flags), with what :data:`DUPLICATES` names each document by: its labels
    (``Y``), its line in its file and its id, where the corpus has them."""

    pairs: np.ndarray
    cosine: np.ndarray
    exact: np.ndarray
    conflicting: np.ndarray
    Y: sp.csr_matrix
    lines: Sequence[int] | None = None
    doc_ids: Sequence[str | None] | None = None

    def __repr__(self) -> str:
        return f"DuplicatePairs(n_pairs={len(self.pairs)})"


#: a document number as a CSV cell holds it (``175``, or ``175.0`` as a spreadsheet saves it)
_WHOLE = re.compile(r"[0-9]+(?:\.0*)?")


def apply_decisions(Y: LabelMatrix, review: Iterable[Mapping] | Any,
                    label_space: LabelSpace, *,
                    texts: Iterable[str] | None = None) -> sp.csr_matrix:
    """``Y`` with the review's accepted corrections, in memory: what ``apply-review``
    does to a corpus file, for labels held as a matrix (a notebook's).

    ``review``: review rows (:attr:`AuditResult.review`, one dict per row, or a pandas
    DataFrame of them; a decided ``review.csv`` read back with ``pd.read_csv`` or
    ``csv.DictReader``, its ``doc`` then a str of digits and its ``'``-protected cells
    read as ``apply-review`` reads them), each with its ``decision`` filled in as
    ``review.csv``'s is:
    ``accept`` (or ``yes``, ``y``, ``x``, ``1``, ``True``), ``reject`` (``no``, ``0``,
    ``False``), or left empty (``""``, None, NaN: undecided). An accepted ``missing``
    row gives document ``doc`` (its position in the audited texts, from 0) the label of
    its ``label_uri``, an accepted ``wrong`` row takes it away; other rows change
    nothing. ``Y`` (``n_docs x n_labels``, as :func:`audit_corpus` takes it) is left as
    it is: a new CSR matrix of 0/1 is returned, to train on
    (``train_classifier(texts, fixed, label_space)``).

    ``texts``: the audited texts, in the order they were audited; where given, each
    accepted row's ``doc_key`` must be the fingerprint of its document's text, so a
    review applied to a table sorted or filtered since the audit is refused rather than
    giving other documents its corrections. A row that names no document of ``Y``, a
    label not in ``label_space``, a kind other than ``missing`` or ``wrong``, or a
    decision that is neither, and a label both added and removed for one document, are
    refused as :class:`~tagsmith.exceptions.InvalidParameterError` naming the row
    (``review[3]``, by position).

    >>> space = LabelSpace.from_uris(["u:a", "u:b"])
    >>> rows = [{"decision": "accept", "kind": "missing", "label_uri": "u:b", "doc": 0},
    ...         {"decision": "accept", "kind": "wrong", "label_uri": "u:a", "doc": 1},
    ...         {"decision": "", "kind": "wrong", "label_uri": "u:a", "doc": 0}]
    >>> apply_decisions([[1, 0], [1, 0]], rows, space).toarray().tolist()
    [[1, 1], [0, 0]]
    """
    import math

    from tagsmith.audit.detect import KINDS
    from tagsmith.audit.review import (
        _DOC_KEY,
        ACCEPT,
        ACTIONS,
        KIND_OF_ACTION,
        REJECT,
        _unquoted,
        doc_key,
    )
    from tagsmith.features.tfidf import _as_list
    from tagsmith.metrics.sets import check_label_values

    if not isinstance(label_space, LabelSpace):
        raise InvalidParameterError("label_space", "a tagsmith LabelSpace",
                                    type(label_space).__name__)
    # its rows against the texts' too, as audit_corpus checks them: a one-hot DataFrame
    # sorted apart from df["text"] passed, and its other documents were corrected
    # (the fingerprints check the texts alone)
    check_label_table(Y, label_space, "Y", texts=texts)
    fixed = check_label_values(Y, "Y", soft_ok=True)
    if fixed.shape[1] != len(label_space):
        raise InvalidParameterError("Y", f"{len(label_space)} columns (one per label of "
                                    "label_space)", fixed.shape)
    n_docs = fixed.shape[0]
    text_list = None if texts is None else _as_list(texts, "texts")
    if text_list is not None and len(text_list) != n_docs:
        raise InvalidParameterError("texts", f"{n_docs:,} texts (one per row of Y)",
                                    len(text_list))
    if hasattr(review, "to_dict") and hasattr(review, "columns"):  # a pandas DataFrame
        rows = review.to_dict("records")
    elif isinstance(review, str | bytes | Path) or isinstance(review, Mapping):
        raise InvalidParameterError(
            "review", "review rows (AuditResult.review, or a DataFrame of them); a review "
            "file is applied by tagsmith.audit.review.apply_review",
            type(review).__name__ if not isinstance(review, str) else review)
    else:
        rows = list(review)

    def cell(row: object, column: str, i: int) -> object:
        if not isinstance(row, Mapping):
            raise InvalidParameterError(f"review[{i}]", "a review row (a dict)",
                                        type(row).__name__)
        if column not in row:
            raise InvalidParameterError(f"review[{i}]", f"a review row with a {column!r} "
                                        "field", sorted(map(str, row))[:8])
        return row[column]

    def text_of(value: object) -> str:
        if value is None or isinstance(value, float) and math.isnan(value):
            return ""
        return str(value).strip()

    changes: dict[tuple[int, int], tuple[bool, int]] = {}  # (doc, label): (add?, row)
    for i, row in enumerate(rows):
        decision = text_of(cell(row, "decision", i)).lower()
        if not decision or decision in ("none", "null", "nan"):
            continue
        if decision not in ACCEPT | REJECT:
            raise InvalidParameterError(f"review[{i}]['decision']", "accept or reject "
                                        "(yes/no, 1/0, True/False), or empty", decision)
        if decision in REJECT:
            continue
        kind = text_of(cell(row, "kind", i)).lower()
        action = text_of(row.get("action")).lower()
        if not kind and action in KIND_OF_ACTION:
            kind = KIND_OF_ACTION[action]
        if kind not in KINDS or action and action != ACTIONS[kind]:
            raise InvalidParameterError(f"review[{i}]['kind']", " or ".join(KINDS)
                                        + (f" (its action {action!r} contradicts it)"
                                           if kind in KINDS else ""), kind)
        uri = text_of(cell(row, "label_uri", i)).strip("<>")
        label = label_space.lookup(f"<{uri}>") if uri else None
        if label is None and _unquoted(uri) != uri:
            # review.csv read back (pd.read_csv): a URI a spreadsheet would save as
            # another number (a code 0111) is written '0111, and was refused as no label
            uri = _unquoted(uri)
            label = label_space.lookup(f"<{uri}>")
        if label is None:
            raise InvalidParameterError(f"review[{i}]['label_uri']", "the URI of a label "
                                        "of label_space", uri)
        doc = cell(row, "doc", i)
        if isinstance(doc, str) and _WHOLE.fullmatch(doc.strip()):
            # review.csv read with Python's csv (every cell a str): '1895' was refused as
            # no document number, where pandas' int column passed
            doc = int(doc.strip().partition(".")[0])
        if isinstance(doc, float | np.floating) and float(doc).is_integer():
            # a DataFrame's int column turns float once a row added by hand leaves a gap
            # in it (NaN), as a review file's reader takes a spreadsheet's "175.0"
            doc = int(doc)
        if isinstance(doc, bool | np.bool_) or not isinstance(doc, int | np.integer) \
                or not 0 <= doc < n_docs:
            raise InvalidParameterError(f"review[{i}]['doc']", f"a document number in "
                                        f"[0, {n_docs:,}) (a position in the texts)", doc)
        doc = int(doc)
        if text_list is not None:
            key = text_of(cell(row, "doc_key", i))
            # review.csv read back: a fingerprint a spreadsheet would take for a number
            # (about one row in 800) is written with a leading ', and its accepted row
            # was refused as "the texts are not those audited"
            if key.startswith("'") and _DOC_KEY.fullmatch(key[1:]):
                key = key[1:]
            if key != doc_key(text_list[doc]):
                raise InvalidParameterError(
                    f"review[{i}]['doc_key']", f"the fingerprint of texts[{doc}] "
                    f"({doc_key(text_list[doc])}): the texts are not those audited, or "
                    "not in the order audited (sorted or filtered since?)", key)
        add = kind == "missing"
        earlier = changes.setdefault((doc, label), (add, i))
        if earlier[0] != add:
            raise InvalidParameterError(f"review[{i}]", "no correction contradicting "
                                        f"review[{earlier[1]}], which "
                                        f"{'adds' if earlier[0] else 'removes'} this label",
                                        f"{ACTIONS[kind]} {uri!r} of document {doc}")
    fixed = sp.csr_matrix(fixed != 0, dtype=np.int8)
    if changes:
        # set and cleared by sparse operations: a LIL copy of Y (a Python list per
        # document, both ways) took 2.8 s, 0.1 s now, and Python objects per label at 590k
        # documents for a handful of corrections; the same matrix
        where = np.array(list(changes), dtype=np.int64).reshape(-1, 2)
        adds = np.array([added for added, _ in changes.values()], dtype=bool)

        def marked(rows: np.ndarray) -> sp.csr_matrix:
            return sp.csr_matrix((np.ones(len(rows), np.int8), (rows[:, 0], rows[:, 1])),
                                 shape=fixed.shape)

        fixed = fixed.maximum(marked(where[adds]))
        fixed = sp.csr_matrix(fixed - fixed.multiply(marked(where[~adds])), dtype=np.int8)
        fixed.eliminate_zeros()
        fixed.sort_indices()
    return fixed


def output_names(*, review_format: str = "csv", html: bool = True,
                 sample: bool = False, docs_on_parents: bool = False,
                 broader_left_off: bool = False) -> dict[str, str]:
    """The files :meth:`AuditResult.write` puts in its folder, by key."""
    return {"report_json": "report.json", "review": f"review.{review_format}",
            "labels": "labels.csv", "duplicates": DUPLICATES} \
        | ({"report_html": "report.html"} if html else {}) \
        | ({"sample": f"sample.{review_format}"} if sample else {}) \
        | ({"docs_on_parents": DOCS_ON_PARENTS} if docs_on_parents else {}) \
        | ({"broader_left_off": BROADER_LEFT_OFF} if broader_left_off else {})


def check_output(directory: str | Path, *, review_format: str = "csv", force: bool = False,
                 name: str | None = None, html: bool = True,
                 keep: Sequence[str | Path] = (), sample: bool = False,
                 docs_on_parents: bool = False, broader_left_off: bool = False) -> None:
    """Fail before an audit whose output could not or must not be written.

    ``directory`` must be a writable directory or not exist yet (a :class:`DataError`
    naming it, and the option ``name`` when given, as for every output that cannot be
    written), and none of the files the audit writes there (:func:`output_names`) may
    be a folder: no file can be renamed onto one, nor one of the files in ``keep`` (the
    audit's inputs: the corpus, the vocabulary, the splits), whatever ``force``. Its
    ``review.<review_format>``, when it exists and a reviewer has filled in any
    ``decision``, is not overwritten unless ``force``: the review would be lost. A
    review file that cannot be read to tell is not overwritten either, nor without
    ``force`` a ``report.json``, ``report.html``, ``labels.csv`` or :data:`DUPLICATES` that
    no audit wrote.
    A decided ``sample.csv`` or ``sample.jsonl`` (a random sample for review,
    ``review_sample``) is not overwritten either, whether or not this audit draws one: the
    ``report.json`` it replaces holds the record the sample is read with. Nor without
    ``force`` is a ``review.jsonl`` or ``sample.jsonl`` this audit writes that is no review
    file (its first row lacks the review's fields: a JSONL file of the user's own), as a
    CSV one of the user's own fails its header check. ``sample``: this audit draws one
    (its file is checked as the others are); ``docs_on_parents``: it lists the documents
    given a label that has narrower labels (:data:`DOCS_ON_PARENTS`, checked so too);
    ``broader_left_off``: it lists those given a narrower label without its broader one
    (:data:`BROADER_LEFT_OFF`, likewise).
    """
    from tagsmith.data.textio import check_writable_dir, same_file

    directory = Path(directory)
    # a file, below a file, read-only: refused now, not after the whole audit
    check_writable_dir(directory, name)
    if directory.is_symlink() and not directory.exists():
        # mkdir refused it after the whole audit: "cannot create the folder (File exists)"
        prefix = f"{name}: " if name else ""
        raise DataError(f"{prefix}is a symbolic link to {os.readlink(directory)}, which does "
                        "not exist: create that folder, or remove the link", path=directory)
    for file_name in output_names(review_format=review_format, html=html, sample=sample,
                                  docs_on_parents=docs_on_parents,
                                  broader_left_off=broader_left_off).values():
        target = directory / file_name
        # found only when the files moved in one by one, after the whole audit: a new
        # report.json beside the old page and label table, and an IsADirectoryError
        if target.is_dir() and not target.is_symlink():
            raise DataError(f"is a folder, where the audit writes its {file_name} (move it "
                            "away or write to another output directory)", path=target)
        # a vocabulary named labels.csv beside the corpus, audited with -o into its
        # folder, was replaced by the per-label noise table: the inputs are never written
        for kept in keep:
            if same_file(target, Path(kept)):
                raise DataError(f"is an input of this audit, where the audit writes its "
                                f"{file_name}; write to another output directory",
                                path=target)
        # a list of labels of the user's own named labels.csv (not given to this audit)
        # in the folder was replaced by the per-label table, and so was any report.json
        # or report.html: the files an earlier audit wrote are replaced, no other file
        if not force and not file_name.startswith(("review.", "sample.")) \
                and not _replaceable(target, file_name):
            raise DataError(f"is a file this audit did not write, where the audit writes its "
                            f"{file_name}; refusing to overwrite it (move it away, write to "
                            "another output directory, or pass force=True to overwrite it; "
                            "CLI: --force)", path=target)
    # a decided sample is read with the record in report.json, which every audit
    # replaces: one drawing no sample (or another) left the reviewer's work unreadable
    # docs_without_broader.csv too: a desk that decided its rows (apply-review reads it)
    # lost them to the next audit into the folder
    for reviewed in (f"review.{review_format}", "sample.csv", "sample.jsonl",
                     BROADER_LEFT_OFF):
        review = directory / reviewed
        if force or not review.is_file():
            continue
        writes = reviewed.startswith("review.") or sample and reviewed.endswith(review_format)
        try:
            n_decided = _n_decisions(review)
        except DataError:
            if writes:
                raise
            continue  # a file of the user's own that is no review: not this audit's to judge
        if n_decided:
            then = ("refusing to overwrite the reviewed file (apply it with tagsmith "
                    "apply-review" if reviewed.startswith("review.")
                    or reviewed == BROADER_LEFT_OFF else
                    "refusing to overwrite it, or the report.json that holds the record it is "
                    "read with (read it first with tagsmith estimate-noise")
            raise DataError(f"{n_decided:,} review decision{'' if n_decided == 1 else 's'} "
                            f"already filled in; {then}, move it away, write to another "
                            "output directory, or pass force=True to overwrite it; CLI: "
                            "--force)", path=review)
        if writes and reviewed.endswith(".jsonl") and (why := _not_a_review(review)):
            # a CSV of the user's own fails its header check above; a JSONL one (a sample
            # of a corpus, {"text": ..., "labels": ...}, named sample.jsonl or
            # review.jsonl) counted no decision, and was replaced by the audit's sample or
            # review queue without a word
            raise DataError(f"is a file this audit did not write ({why}), where the audit "
                            f"writes its {reviewed}; refusing to overwrite it (move it "
                            "away, write to another output directory, or pass force=True to "
                            "overwrite it; CLI: --force)", path=review)


def _stale_samples(directory: Path) -> list[Path]:
    """The ``sample.csv`` and ``sample.jsonl`` in ``directory`` that an audit drawing no
    sample removes: review files (as :func:`check_output` reads them) with no decision
    filled in. A decided one is refused by :func:`check_output` (or kept, with
    ``force``), and a file of the user's own that is no review file is left alone."""
    stale = []
    for name in ("sample.csv", "sample.jsonl"):
        path = directory / name
        if path.is_symlink() or not path.is_file() or not path.stat().st_size:
            continue
        try:
            if _n_decisions(path) or (name.endswith(".jsonl") and _not_a_review(path)):
                continue
        except DataError:
            continue
        stale.append(path)
    return stale


def _n_decided_now(path: Path) -> int:
    """The decisions filled in ``path`` (:data:`BROADER_LEFT_OFF`), 0 where it is none
    to read (absent, a link, a file that is no review)."""
    if path.is_symlink() or not path.is_file():
        return 0
    try:
        return _n_decisions(path)
    except DataError:
        return 0


def _warn_decided_sample_kept(directory: Path) -> None:
    """Warn of a decided ``sample.csv`` or ``sample.jsonl`` in ``directory`` that an
    audit drawing no sample wrote beside with ``force`` (without, it is refused), or
    that was decided while the audit wrote its files: kept, as a reviewer's work is, but
    its record went with the report.json replaced."""
    for name in ("sample.csv", "sample.jsonl"):
        path = directory / name
        try:
            n_decided = _n_decisions(path) if path.is_file() else 0
        except DataError:
            continue
        if n_decided:
            logger.warning("%s (%d review decision%s filled in) was kept, but the report.json "
                           "replaced held the record estimate-noise reads it with: it can no "
                           "longer be read", path, n_decided, plural_s(n_decided))


def _not_a_review(path: Path) -> str | None:
    """Why the JSONL file ``path`` (read already by :func:`_n_decisions`) is no review
    file: its first row lacks the review's fields; None where it is one, or is empty."""
    from tagsmith.audit.review import REQUIRED, _review_records

    for line, row in _review_records(path):
        missing = [field for field in REQUIRED if field not in row]
        return (f"line {line} has no field{plural_s(len(missing))} {', '.join(missing)}"
                if missing else None)
    return None


#: how each file an audit writes (but its review, see :func:`check_output`) begins
_AUDIT_FILE_STARTS = {
    "report.json": re.compile(rb'\A\{\s*"meta":\s*\{\s*"tagsmith_version":'),
    # its first columns: a table of an audit that had more or fewer columns after them
    "labels.csv": re.compile(rb"\A" + ",".join(LABEL_COLUMNS[:4]).encode("ascii") + b","),
    DOCS_ON_PARENTS: re.compile(rb"\A" + ",".join(DOCS_ON_PARENTS_COLUMNS[:4]).encode("ascii")
                                + b","),
    DUPLICATES: re.compile(rb"\A" + ",".join(DUPLICATES_COLUMNS[:4]).encode("ascii") + b","),
    # or the columns an audit wrote before the table could be decided (a row per pair)
    BROADER_LEFT_OFF: re.compile(rb"\A(?:" + ",".join(BROADER_LEFT_OFF_COLUMNS[:4]).encode(
        "ascii") + rb"|doc,line,doc_id,narrower_uri),"),
}


def _replaceable(target: Path, file_name: str) -> bool:
    """Whether the audit may replace ``target``, where it writes ``file_name``: nothing
    is there, a symbolic link (the link is replaced, not what it points to), or a file an
    audit wrote (the page by :func:`~tagsmith.audit.report.is_report_html`, the others
    by how they begin)."""
    from tagsmith.audit.report import is_report_html

    if target.is_symlink() or not target.exists():
        return True
    if file_name == "report.html":
        return is_report_html(target)
    try:
        with open(target, "rb") as file:
            start = file.read(256)
    except OSError:  # unreadable: not known to be the audit's
        return False
    if file_name == BROADER_LEFT_OFF and _saved_broader_table(start):
        return True
    return bool(_AUDIT_FILE_STARTS[file_name].match(start))


def _saved_broader_table(start: bytes) -> bool:
    """Whether ``start`` (a file's first bytes) begins as :data:`BROADER_LEFT_OFF` saved
    again by a spreadsheet, as ``apply-review`` reads it: a byte-order mark, a
    capitalised ``Decision``, a ``;`` or tab for the comma. The table is a desk's review
    now, opened and saved so: such a file, left undecided, was "a file this audit did
    not write", not replaced without ``force``.

    >>> _saved_broader_table(b"\\xef\\xbb\\xbfDecision;doc;line;doc_id;doc_key;narrower_uris")
    True
    >>> _saved_broader_table(b"text,labels,id")
    False
    """
    from tagsmith.audit.review import _delimiter

    lines = start.decode("utf-8", "replace").removeprefix("\ufeff").splitlines()
    if not lines:
        return False
    names = [name.strip().strip('"').lower() for name in lines[0].split(_delimiter(lines[0]))]
    return names[:4] == list(BROADER_LEFT_OFF_COLUMNS[:4])


def _outermost_missing(directory: Path) -> Path | None:
    """The outermost of ``directory`` and its parents that does not exist (what
    ``mkdir(parents=True)`` creates first), or None when ``directory`` exists."""
    if directory.exists():
        return None
    top = directory
    for parent in directory.parents:
        if parent.exists():
            break
        top = parent
    return top


def _remove_created(folder: Path, created: Path | None) -> None:
    """Remove ``folder`` and its parents up to ``created`` (see :func:`_outermost_missing`)
    while empty: the folders a failed run made and wrote nothing in. A folder that
    existed before the run is never removed, nor one that holds anything."""
    if created is None:
        return
    for path in (folder, *folder.parents):
        if not (path == created or created in path.parents):
            return
        try:
            path.rmdir()  # only an empty folder
        except OSError:
            return
        if path == created:
            return


def _warn_other_review(directory: Path, review_format: str, stem: str = "review") -> None:
    """Warn of a review file of the other format in ``directory``, left by an earlier
    audit (``--review-format csv`` after ``jsonl``, or the other way round): it stood
    beside the new report without a word. It is not removed: it may hold a reviewer's
    decisions. ``stem`` ``sample``: the random sample for review (``review_sample``),
    whose record the new report.json replaced."""
    other = directory / (f"{stem}.jsonl" if review_format == "csv" else f"{stem}.csv")
    if not other.is_file():
        return
    try:
        n_decided = _n_decisions(other)
    except DataError:
        held = "a file this audit did not write"
    else:
        held = (f"with {n_decided:,} review decision{plural_s(n_decided)} filled in"
                if n_decided else "with no review decision filled in")
    if stem == "sample":
        logger.warning("%s is left from an earlier audit (%s) beside this audit's "
                       "sample.%s; report.json now holds this one's record, with which "
                       "estimate-noise would read the earlier sample too (it may not agree "
                       "with it); it was not removed: move it away", other, held,
                       review_format)
        return
    logger.warning("%s is left from an earlier audit (%s) beside this audit's "
                   "review.%s, which may not agree with it; it was not removed: apply-review "
                   "the one you reviewed and move the other away", other, held,
                   review_format)


def _n_decisions(path: Path) -> int:
    """How many rows of a review file have a non-empty ``decision`` (read as
    ``apply-review`` reads it: a capitalised header is fine)."""
    from tagsmith.audit.review import count_decisions
    from tagsmith.exceptions import ReviewFormatError

    try:
        return count_decisions(path)
    except (OSError, ReviewFormatError) as exc:
        raise DataError(f"could not check it for review decisions ({exc}); refusing to "
                        "overwrite it (move it away, or pass force=True to overwrite it; CLI: "
                        "--force)",
                        path=path) from exc


def _round(value, digits: int = 6):
    value = float(value)
    return "" if np.isnan(value) else round(value, digits)


def _features(texts, classifier, options: AuditOptions):
    """The model's featurizer and features: the classifier's when given, else TF-IDF."""
    if classifier is not None:
        return classifier.featurizer, classifier.featurizer.transform(texts)
    from tagsmith.features.tfidf import TfidfFeaturizer

    params = options.featurizer_params
    if params is None:
        params = {"char_ngrams": None} if len(texts) > WORD_ONLY_ABOVE else {}
    featurizer = TfidfFeaturizer.from_params(**params)
    featurizer.show_progress = options.show_progress
    try:
        return featurizer, featurizer.fit_transform(texts)
    finally:
        featurizer.show_progress = False  # later transforms (leakage splits) are short


#: the score sources given by name, and what each does, for the warning that a model
#: parameter given from Python is ignored (the command line refuses it)
_EXPLICIT_SOURCES = {
    "heldout": "takes the bundle's predictions and fits nothing",
    "bundle": "takes the bundle's stored out-of-fold scores and fits nothing",
    "knn": "takes leave-one-out kNN scores, with no model and no folds",
    "crossfit": "cross-fits a model, with no kNN scores",
}
#: the sources each AuditOptions model parameter is used by
_USED_BY = {"model": ("crossfit",), "model_params": ("crossfit",), "n_folds": ("crossfit",),
            "knn_params": ("knn",), "cooccurrence": ("knn",)}


def _choose_source(options: AuditOptions, classifier, texts, Y,
                   groups: np.ndarray | None = None,
                   folds: Callable[[], np.ndarray] | None = None,
                   warnings: list[str] | None = None,
                   label_space: LabelSpace | None = None) -> str:
    """The scores' source: ``options.scores``, or what ``'auto'`` picks. ``groups``:
    the documents' exact-duplicate groups (equal texts share a fold), for auto to tell
    whether cross-fitting can work here (kNN scores where it cannot). Where the
    options' ``n_folds`` was given (:meth:`AuditOptions.was_given`), auto picking scores
    that take no folds says so in a warning, where ``n_folds`` was ignored with an info
    line at most, as does auto leaving folds of the ``seed`` given that cannot teach;
    the warnings are appended to ``warnings`` too (the report's).
    ``folds``: the cross-fitting's folds, drawn once (:func:`_fold_drawer`)."""
    given = {name for name in ("n_folds", "seed") if options.was_given(name)}

    def warn(level: int, template: str, *values: object, parameters: tuple) -> None:
        logger.log(level, template, *values, extra={"parameters": parameters})
        if level >= logging.WARNING and warnings is not None:
            warnings.append(template % values)
    from tagsmith.pipeline.train import data_fingerprint

    stored = classifier is not None and classifier.crossfit is not None
    matches = stored and classifier.manifest.get("training", {}).get(
        "data_fingerprint") == data_fingerprint(texts, Y)
    # the fingerprint is the whole training corpus's; with a calibration split the stored
    # scores cover only the documents the models were fitted on, not one per document here
    covered = len(classifier.crossfit.topk) if stored else 0
    if options.scores in _EXPLICIT_SOURCES:
        # the command line refuses them; from Python they were ignored without a word
        # (heldout warned since stop 54, knn, bundle and crossfit said nothing)
        ignored = [name for name, given in (
            ("model", options.model), ("model_params", options.model_params),
            ("n_folds", options.was_given("n_folds")), ("knn_params", options.knn_params),
            ("cooccurrence", options.cooccurrence != COOCCURRENCE_WEIGHT))
            if given and options.scores not in _USED_BY[name]]
        if ignored:
            warn(logging.WARNING, "scores %s %s: the %s given %s ignored", options.scores,
                 _EXPLICIT_SOURCES[options.scores], " and ".join(ignored),
                 "is" if len(ignored) == 1 else "are", parameters=("scores", *ignored))
    if options.scores == "heldout":  # checked by audit_corpus (_check_heldout)
        return "heldout"
    if options.scores == "bundle":
        # the value refused is 'bundle'; what was "got" used to be a description ("got
        # 'a bundle without stored scores'"), which read as if 'bundle' were required
        others = "'auto', 'crossfit' or 'knn'"
        if classifier is None:
            raise InvalidParameterError("scores", f"{others} without a bundle "
                                        f"({said('--bundle', 'classifier=')})", "bundle")
        if not stored:
            raise InvalidParameterError(
                "scores", f"{others} with a bundle that stores no out-of-fold scores "
                "(for 'bundle', train it on this corpus with "
                f"{said('--crossfit-folds', 'TrainOptions(crossfit_folds=...)')})", "bundle")
        if not matches:
            raise InvalidParameterError(
                "scores", f"{others} for a corpus other than the one the bundle was trained "
                "on (its stored scores are that corpus's)", "bundle")
        if covered != len(texts):
            raise InvalidParameterError(
                "scores", f"{others} here: the bundle's stored scores cover {covered:,} of "
                f"the {len(texts):,} document{plural_s(len(texts))} (the rest were set aside "
                "for calibration)", "bundle")
        return "bundle"
    matches = matches and covered == len(texts)
    if options.scores != "auto":
        return options.scores
    small = Y.shape[1] <= CROSSFIT_UP_TO_LABELS and len(texts) <= CROSSFIT_UP_TO_DOCS
    chosen = "bundle" if matches else "crossfit" if small else "knn"
    if chosen == "crossfit" and not (options.model or options.model_params):
        # fewer documents than folds, one labelled text, or folds of the seed putting
        # every labelled document in one: auto picked cross-fitting, then refused the
        # corpus telling the user to pass scores knn, which scores any corpus of a
        # document (none is refused before); a --model or --param (cross-fitting's
        # alone) keeps it
        n_docs = len(texts)
        cannot: tuple[str, tuple] | None = None
        seeded = False  # whether the seed's folds are the reason
        if n_docs < _folds_and_seed(options)[0]:
            cannot = ("the corpus has %s, fewer than n_folds %d",
                      (f"{n_docs:,} document{plural_s(n_docs)}", options.n_folds))
        elif groups is not None:
            refused = _folds_cannot_teach(Y, groups, options, folds)
            cannot = None if refused is None else refused[0]
            seeded = refused is not None and "seed" in refused[1].parameters
        if cannot is not None:
            # the reason a template (the command line names its options there), its
            # values arguments; a warning where the user's --folds goes unused, or their
            # --seed drew the folds that cannot teach (an info line let both pass)
            why, values = cannot
            folds_unused = "n_folds" in given  # the folds the user asked for: not used
            loud = folds_unused or (seeded and "seed" in given)
            warn(logging.WARNING if loud else logging.INFO,
                 f"scores auto: {why}, which cross-fitting cannot score: auditing with "
                 "scores knn (leave-one-out kNN, no folds) instead"
                 + ("; the n_folds %d given is not used" if folds_unused else ""),
                 *values, *((options.n_folds,) if folds_unused else ()),
                 parameters=("scores", "seed", "n_folds"))
            chosen = "knn"
            given = set()  # said
    if classifier is not None and chosen != "bundle":
        _warn_bundle_not_scoring(classifier, texts, chosen, warn)
    if chosen != "crossfit" and "n_folds" in given:
        # kNN scores for a large corpus or label space, or the bundle's: --folds was
        # ignored without a word (--model is refused below)
        what = (f"knn (leave-one-out kNN, no folds) for {len(texts):,} "
                f"document{plural_s(len(texts))} and {Y.shape[1]:,} label{plural_s(Y.shape[1])}"
                if chosen == "knn" else "bundle (its stored out-of-fold scores, of its own "
                                        "folds)")
        warn(logging.WARNING, f"scores auto chose {what}: the n_folds %d given is not used",
             options.n_folds, parameters=("scores", "n_folds"))
    # a model or parameters for the source auto did not pick would be ignored silently;
    # each is used by one source, the one the message asks for
    used_by = {name: source for name, source, given in (
        (said("model (--model)", "model"), "crossfit", options.model),
        (said("model_params (--param)", "model_params"), "crossfit", options.model_params),
        ("knn_params", "knn", options.knn_params),
        (said("cooccurrence (--cooccurrence)", "cooccurrence"), "knn",
         options.cooccurrence != COOCCURRENCE_WEIGHT))
        if given and source != chosen}
    unused = list(used_by)
    if unused:
        # it said "'crossfit' or 'knn'" for any of them: 'crossfit' with --cooccurrence
        # is refused in turn, 'knn' with --model
        sources = sorted(set(used_by.values()))
        wanted = f"'{sources[0]}'" if len(sources) == 1 else " or ".join(
            f"'{source}' (for {' and '.join(n for n in unused if used_by[n] == source)})"
            for source in sources)
        raise InvalidParameterError(
            "scores", f"{wanted}, not 'auto', when {' and '.join(unused)} "
            f"{'is' if len(unused) == 1 else 'are'} given (auto chose {chosen} scores for "
            f"{len(texts):,} document{plural_s(len(texts))} and {Y.shape[1]:,} "
            f"label{plural_s(Y.shape[1])}, which would ignore "
            f"{'it' if len(unused) == 1 else 'them'})", options.scores)
    return chosen


def _check_heldout(classifier, texts, Y, warnings: list[str] | None,
                   label_space: LabelSpace | None = None) -> int | None:
    """Refuse scores ``'heldout'`` where the bundle's predictions are not out of sample
    here or do not cover the audit's labels: no bundle, a bundle over another label
    space (a ``vocab`` other than its own), or a corpus of which at least
    :data:`~tagsmith.pipeline.train.MAX_OVERLAP` are the bundle's training documents
    (the corpus it was trained on: cross-fit it, or use its stored scores). Some
    training documents among them are warned of (their scores are in sample: their
    wrong labels look right); a bundle that records no training texts cannot be
    checked, which is warned of too. Returns how many are training documents (None
    where that cannot be checked)."""
    from tagsmith.pipeline.train import MAX_OVERLAP

    others = "'auto', 'crossfit' or 'knn'"
    if classifier is None:
        raise InvalidParameterError("scores", f"{others} without a bundle "
                                    f"({said('--bundle', 'classifier=')}); 'heldout' scores "
                                    "with a bundle's model", "heldout")
    uris = [classifier.label_space.uri_of(i) for i in range(classifier.n_labels)]
    ours = None if label_space is None else [label_space.uri_of(i)
                                             for i in range(len(label_space))]
    if (ours is None and Y.shape[1] != len(uris)) or (
            ours is not None and not set(ours) & set(uris)):
        raise InvalidParameterError(
            "scores", f"{others} with a label space other than the bundle's "
            f"(the audit's {Y.shape[1]:,} label{plural_s(Y.shape[1])} share "
            f"{'no URI' if ours is not None else 'no ids'} with its {len(uris):,}): "
            "'heldout' scores the bundle's labels; audit with the bundle's vocabulary "
            f"({said('leave out --vocab', 'label_space=classifier.label_space')})",
            "heldout")
    if label_space is not None and ours != uris:
        # an updated vocabulary (labels added, some removed) was refused: the bundle's
        # predictions are matched to the audit's labels by URI instead
        _warn_heldout_labels(classifier, label_space, warnings, Y)
    if classifier.train_hashes is None:
        message = ("scores heldout: the bundle records no training texts (saved before "
                   "they were kept), so whether the corpus holds its training documents, "
                   "whose predictions are in sample, cannot be checked")
        logger.warning(message, extra={"parameters": ("scores",)})
        if warnings is not None:
            warnings.append(message)
        return None
    n_docs = len(texts)
    n_in, n_texts = _n_training_documents(classifier, texts)
    if n_in >= MAX_OVERLAP * n_texts:
        raise InvalidParameterError(
            "scores", f"{others} for the corpus the bundle was trained on: {n_in:,} of its "
            f"{n_docs:,} document{plural_s(n_docs)}{_not_blank(n_texts, n_docs)} "
            f"{plural(n_in, 'is a training document', 'are training documents')} of the "
            "bundle, whose predictions of them are in sample ('heldout' is for a corpus "
            "the bundle never saw, a test split)", "heldout")
    if n_in:
        message = (f"scores heldout: {n_in:,} of the corpus's {n_docs:,} "
                   f"document{plural_s(n_docs)} "
                   f"{plural(n_in, 'is a training document', 'are training documents')} "
                   "of the bundle: its "
                   f"{plural(n_in, 'prediction of it is', 'predictions of them are')} "
                   "in sample (a wrong label the bundle learnt looks right)")
        logger.warning(message, extra={"parameters": ("scores",)})
        if warnings is not None:
            warnings.append(message)
    return n_in


def _heldout_columns(classifier, label_space: LabelSpace | None) -> np.ndarray | None:
    """The audit's label id of each of the bundle's labels, matched by URI (-1: not one
    of the audit's), or None where the two are the same labels in the same order."""
    if label_space is None:
        return None
    ours = {label_space.uri_of(i): i for i in range(len(label_space))}
    columns = np.array([ours.get(classifier.label_space.uri_of(i), -1)
                        for i in range(classifier.n_labels)], dtype=np.int64)
    if len(ours) == classifier.n_labels and (columns == np.arange(len(columns))).all():
        return None
    return columns


def _warn_heldout_labels(classifier, label_space: LabelSpace,
                         warnings: list[str] | None, Y=None) -> None:
    """One warning naming the audit's labels the bundle lacks (they get no scores: the
    model never predicts them, so they are not audited, their given occurrences in
    ``Y`` counted) and the bundle's labels the audit lacks (left out of its
    predictions)."""
    from tagsmith._plural import and_more

    theirs = {classifier.label_space.uri_of(i) for i in range(classifier.n_labels)}
    ours = {label_space.uri_of(i) for i in range(len(label_space))}
    new_ids = [i for i in range(len(label_space)) if label_space.uri_of(i) not in theirs]
    new = [label_space.name_of(i) for i in new_ids]
    gone = [classifier.label_space.name_of(i) for i in range(classifier.n_labels)
            if classifier.label_space.uri_of(i) not in ours]
    parts = []
    if new:
        parts.append(f"{len(new):,} {plural(len(new), 'label', 'labels')} of the audit "
                     f"not the bundle's ({and_more(new, 5, repr)}) "
                     f"{plural(len(new), 'gets', 'get')} no scores (the model never "
                     f"predicts {plural(len(new), 'it', 'them')}) and "
                     f"{plural(len(new), 'is', 'are')} not audited"
                     + ("" if Y is None else _given_left_out(Y, new_ids)))
    if gone:
        parts.append(f"{len(gone):,} {plural(len(gone), 'label', 'labels')} of the "
                     f"bundle not the audit's ({and_more(gone, 5, repr)}) "
                     f"{plural(len(gone), 'is', 'are')} left out of its predictions")
    if not parts:  # the same labels in another order: matched by URI, nothing to say
        return
    message = ("scores heldout: the bundle's predictions are matched to the audit's "
               "labels by URI: " + "; ".join(parts))
    logger.warning(message, extra={"parameters": ("scores",)})
    if warnings is not None:
        warnings.append(message)


def _given_left_out(Y, ids: list[int]) -> str:
    """What of ``Y`` (the audit's labels) the labels ``ids`` not audited leave out, to
    follow the warning's words: their given occurrences, counted."""
    n = int(np.isin(sp.csr_matrix(Y).indices, ids).sum())
    whose = plural(len(ids), "its", "their")
    if not n:
        return " (given to no document)"
    return (f": {whose} {n:,} given occurrence{plural_s(n)} "
            f"{plural(n, 'is', 'are')} left out of the issues (no wrong or missing "
            "candidates, not counted in the noise estimates)")


def _remapped(topk, columns: np.ndarray, n_labels: int):
    """``topk`` (the bundle's label ids) in the audit's ids (``columns``), the bundle's
    labels the audit lacks left out (each row's others moved up, padding after)."""
    from tagsmith.topk import TopK

    indices = topk.indices
    mapped = np.where(indices >= 0, columns[np.maximum(indices, 0)], -1)
    keep = mapped >= 0
    order = np.argsort(~keep, axis=1, kind="stable")
    return TopK._trusted(np.take_along_axis(mapped, order, 1),
                         np.take_along_axis(np.where(keep, topk.scores, -np.inf), order, 1),
                         n_labels)


def _heldout_audited(classifier, label_space: LabelSpace) -> np.ndarray | None:
    """The audit's label ids that are the bundle's (matched by URI, ascending), or None
    where every label of the audit is: the others get no scores, and are not audited."""
    columns = _heldout_columns(classifier, label_space)
    if columns is None:
        return None
    audited = np.unique(columns[columns >= 0])
    return None if len(audited) == len(label_space) else audited


def _issues_of(Y: sp.csr_matrix, topk, audited: np.ndarray | None, **options):
    """:func:`find_label_issues` of ``Y`` and ``topk`` over the labels ``audited`` (their
    ids; None: every label): the others' columns are left out of the detection (no
    candidates; the noise estimates count none of their given labels, which read as 0
    given), and the issues are put back in the ids of all ``Y``'s labels. ``topk`` holds
    none of the labels left out (the bundle never predicts them)."""
    from tagsmith.topk import TopK

    if audited is None:
        return find_label_issues(Y, topk, **options)
    n_labels = Y.shape[1]
    reduced = np.full(n_labels, -1, np.int64)
    reduced[audited] = np.arange(len(audited))
    indices = np.where(topk.indices >= 0, reduced[np.maximum(topk.indices, 0)], -1)
    issues = find_label_issues(Y[:, audited],
                               TopK._trusted(indices, topk.scores, len(audited)), **options)

    def widened(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full(n_labels, fill, dtype=values.dtype)
        out[audited] = values
        return out

    return replace(issues, label=audited[issues.label].astype(issues.label.dtype),
                   n_given=widened(issues.n_given, 0), band=widened(issues.band, 0),
                   threshold=widened(issues.threshold, np.nan),
                   wrong_rate=widened(issues.wrong_rate, 0.0),
                   missing_rate=widened(issues.missing_rate, 0.0),
                   est_wrong=widened(issues.est_wrong, 0.0),
                   est_missing=widened(issues.est_missing, 0.0), n_labels=n_labels)


def _n_training_documents(classifier, texts) -> tuple[int, int]:
    """How many of ``texts`` are the classifier's training documents (its recorded
    hashes, training's rule of case and spacing), blank texts left out: an empty text
    holds nothing the bundle learnt, and Reuters-21578's test split has 14 of them,
    which made 20 'training documents' of its 6 copies; and how many are not blank, the
    count the share of training documents is of (with blank texts in it, 49 training
    documents beside 51 blank texts were under half, every text the bundle's own)."""
    from tagsmith.data.texthash import BLANK_HASH, hash_texts, training_documents

    hashes = hash_texts(texts)
    return (int(training_documents(classifier.train_hashes, texts, hashes=hashes).sum()),
            int((hashes != BLANK_HASH).sum()))


def _not_blank(n_texts: int, n_docs: int) -> str:
    """`` (N not blank)`` after a count of documents some of which are blank texts."""
    return "" if n_texts == n_docs else f" ({n_texts:,} not blank)"


def _warn_bundle_not_scoring(classifier, texts, chosen: str, warn) -> None:
    """Scores ``'auto'`` with a bundle whose stored scores are not this corpus's cross-fits
    the bundle's model family on the corpus (or takes kNN scores): its trained model
    scores nothing. Where the corpus is held out from the bundle (fewer than
    :data:`~tagsmith.pipeline.train.MAX_OVERLAP` of its documents are the bundle's
    training documents: a test split audited with the model of the train split), a
    warning says so and names scores ``'heldout'``; a few hundred test documents were
    cross-fitted without a word."""
    from tagsmith.pipeline.train import MAX_OVERLAP

    if classifier.train_hashes is None or not len(texts):
        return
    n_docs = len(texts)
    n_in, n_texts = _n_training_documents(classifier, texts)
    if n_in >= MAX_OVERLAP * n_texts:
        return  # the bundle's own corpus, relabelled: cross-fitting it is right
    what = ("cross-fits the bundle's model family on" if chosen == "crossfit"
            else "scores with leave-one-out kNN")
    held = ("none of them a training document of the bundle" if not n_in else
            f"only {n_in:,} of them "
            + plural(n_in, "a training document", "training documents") + " of the bundle")
    warn(logging.WARNING, "scores auto %s the corpus's %s document%s, %s: the bundle's "
         "trained model predicts none of them; scores heldout takes its predictions of a "
         "held-out set (a test split)", what, f"{n_docs:,}", plural_s(n_docs), held,
         parameters=("scores",))


def _crossfit_model(options: AuditOptions, classifier: TextClassifier | None,
                    ) -> tuple[str, dict]:
    """The model family cross-fitting fits and its parameters: ``options.model``, else
    the bundle's (its parameters, the ones given taking precedence), else ``linear``."""
    model = options.model or (classifier.model.name if classifier is not None else "linear")
    params = dict(options.model_params)
    if not options.model and classifier is not None:
        # the bundle's parameters, with the ones given here taking precedence
        params = {key: value for key, value in classifier.model.get_params().items()
                  if key != "show_progress"} | params
    elif model == "linear" and not params:
        # probability-like scores rank errors better than squashed SVM margins
        # (GoEmotions, benchmarks/audit.py: PR-AUC 0.36 against 0.33)
        params = {"loss": "logistic"}
    return model, params


def check_score_params(options: AuditOptions,
                       classifier: TextClassifier | None = None) -> None:
    """Refuse a bad name or value of ``options.model_params`` (for the model
    cross-fitting fits, :func:`_crossfit_model`) or ``options.knn_params``, as fitting
    them would, but before any feature is built: ``audit -p C=abc`` failed only after
    the features, and :meth:`AuditOptions.validate` cannot tell the bundle's model."""
    from tagsmith.audit.scores import KNN_DEFAULTS
    from tagsmith.models import check_model_params

    if options.knn_params:
        check_model_params("knn", {**KNN_DEFAULTS, **options.knn_params})
    if options.model_params:
        check_model_params(*_crossfit_model(options, classifier))


def _check_featurizer_params(options: AuditOptions,
                             classifier: TextClassifier | None = None) -> None:
    """Refuse ``options.featurizer_params`` with a bundle whose own featurizer makes every
    feature the audit uses: they were ignored without a word. A multi-view bundle's
    features are its views, so the neighbour search and the label evidence build TF-IDF
    features of their own, with these parameters."""
    if classifier is None or options.featurizer_params is None:
        return
    from tagsmith.features.views import MultiViewFeaturizer

    if not isinstance(classifier.featurizer, MultiViewFeaturizer):
        raise InvalidParameterError(
            "featurizer_params", "None with a bundle (its own featurizer makes the "
            "features; the parameters would be ignored)", options.featurizer_params)


def _scores(source: str, X, Y, classifier, options: AuditOptions, featurizer, space,
            cooccurrence_counts: tuple | None = None, groups: np.ndarray | None = None,
            folds: Callable[[], np.ndarray] | None = None):
    from tagsmith.audit import scores as audit_scores
    from tagsmith.pipeline.crossfit import default_k

    k = default_k(Y.shape[1]) if options.k is None else options.k
    if source == "bundle":
        return audit_scores.from_crossfit(classifier.crossfit, "bundle")
    if source == "heldout":
        return _heldout_scores(classifier, X, k, _heldout_columns(classifier, space),
                               Y.shape[1])
    if source == "knn":
        return audit_scores.knn_scores(X, Y, k=k, params=options.knn_params,
                                       cooccurrence=options.cooccurrence,
                                       cooccurrence_counts=cooccurrence_counts,
                                       groups=groups, show_progress=options.show_progress)
    model, params = _crossfit_model(options, classifier)
    from tagsmith.models import make_model
    from tagsmith.pipeline.train import _label_features

    label_features = _label_features(featurizer, make_model(model, **params), space)
    return audit_scores.crossfit_scores(X, Y, model=model, params=params,
                                        n_folds=_folds_and_seed(options)[0], k=k,
                                        seed=_folds_and_seed(options)[1],
                                        label_features=label_features, groups=groups,
                                        fold=None if folds is None else folds(),
                                        show_progress=options.show_progress)


def _heldout_scores(classifier, X, k: int, columns: np.ndarray | None = None,
                    n_labels: int | None = None) -> AuditScores:
    """The bundle's raw top-``k`` scores of the documents whose bundle features are ``X``
    (the audit calibrates them itself), recorded as scores ``'heldout'`` with the
    bundle's model and training size; ``columns``: the audit's id of each of the
    bundle's labels (:func:`_heldout_columns`, for an audit of ``n_labels`` labels)."""
    started = time.perf_counter()
    # the bundle's labels the audit dropped are cut out of each row after the top-k:
    # asked for k alone, a row with one among its best k kept k - 1 (the bundle's next
    # best label lost), so it is asked for k more each dropped label, then cut to k
    dropped = 0 if columns is None else int((columns < 0).sum())
    wide = min(k + dropped, classifier.n_labels)
    topk = classifier._topks_of_features(X, [(wide, False, False, wide)])[0]
    if columns is not None and n_labels is not None:
        topk = _remapped(topk, columns, n_labels).head(k)
    seconds = time.perf_counter() - started
    logger.info("scores heldout: the bundle's %s predictions of %s document%s in %.1f s",
                classifier.model.name, f"{len(topk):,}", plural_s(len(topk)), seconds)
    training = classifier.manifest.get("training", {}) if classifier.manifest else {}
    details = {"model": classifier.model.name, "n_train_docs": classifier.n_train_docs}
    if training.get("data_fingerprint"):
        details["bundle_data_fingerprint"] = training["data_fingerprint"]
    return AuditScores(topk, "heldout", details, seconds=seconds)


class _Described(str):
    """An error's ``got`` written as it is, not quoted as a value."""

    def __repr__(self) -> str:
        return str(self)


class _UniqueIds(tuple[str | None, ...]):
    """The document ids of an :class:`AuditCorpus`, each given once:
    :func:`read_audit_corpus` refused a repeated one naming both lines, so
    :func:`audit_corpus` does not check them a second time (a tuple, so that none can
    change in between)."""

    __slots__ = ()


def _check_unique_doc_ids(doc_ids: Sequence[str | None],
                          lines: Sequence[int] | None) -> None:
    """Refuse two documents of one id, as :func:`read_audit_corpus` refuses a corpus
    file that has them: the review names documents by id and apply-review checks it,
    which cannot tell two documents of one id apart. ``None`` or ``""`` (no id) is not
    checked."""
    from tagsmith.data.ids import FirstSeen

    first = FirstSeen[int]()  # each id and the position first giving it
    for i, doc_id in enumerate(doc_ids):
        if doc_id is None or doc_id == "":
            continue
        if not isinstance(doc_id, str):  # written to the review, never equal to the file's
            # a DataFrame's id column: its missing ids (NaN) were told "got 'float'",
            # its numbers "got 'int'", neither saying what to give
            missing = type(doc_id).__name__ == "NAType" or isinstance(
                doc_id, float | np.floating) and bool(np.isnan(doc_id))
            raise InvalidParameterError(
                f"doc_ids[{i}]", "a str or None" + (
                    " (a missing id, NaN: give doc_ids=df['id'].fillna(''))" if missing else
                    " (ids held as numbers: give doc_ids=df['id'].astype(str))"
                    if isinstance(doc_id, int | np.integer) else ""),
                _Described("NaN") if missing else type(doc_id).__name__)
        j = first.claim(doc_id, i)
        if j is None:
            continue
        where = f"doc_ids[{j}] and doc_ids[{i}]"
        if lines is not None:
            where += f" (lines {lines[j]} and {lines[i]})"
        raise InvalidParameterError(
            "doc_ids", "a different id for each document (the review names documents by "
            "id, and apply-review checks it)", _Described(f"{doc_id!r} at {where}"))


def issue_options(options: AuditOptions) -> dict:
    """The keyword arguments of :func:`~tagsmith.audit.detect.find_label_issues` that
    ``options`` sets, as :func:`audit_corpus` passes them (benchmarks/audit_cooc_sweep.py
    reproduces the audit with them)."""
    return {"evidence": options.evidence, "max_missing_per_doc": options.max_missing_per_doc,
            "prior_strength": options.prior_strength,
            "min_probability": options.min_probability, "rates": options.rates,
            "every_doc_labelled": options.every_doc_labelled,
            "calibration_folds": options.calibration_folds,
            "band_budget_below": options.band_budget_below,
            "seed": 0 if options.seed is None else options.seed}  # None: not validated


#: how a multi-labelled corpus refused under ``single_label=True`` is audited (the CLI
#: says it in its own values: ``--single-label auto`` or ``no``)
MULTI_LABELLED_ADVICE = "audit it with single_label None (detected) or False"


def _refuse_multi_labelled(Y: sp.csr_matrix, lines: Sequence[int] | None,
                           doc_ids: Sequence[str | None] | None, source: str | None) -> None:
    """Refuse ``single_label`` True where a document is given two labels or more, naming
    the first of them (before the work, not after it)."""
    over = np.flatnonzero(np.diff(Y.indptr) > 1)
    if not len(over):
        return
    def where(d: int) -> str:
        at = f"line {lines[d]}" if lines is not None else f"document {d}"
        doc_id = None if doc_ids is None else doc_ids[d]
        return (at + ("" if doc_id is None else f" ({clip(doc_id, 40)!r})")
                + f", {int(Y.indptr[d + 1] - Y.indptr[d])} labels")

    n = len(over)
    raise DataError(f"single_label: one label a document was asked for, but {n:,} "
                    f"document{plural_s(n)} {'is' if n == 1 else 'are'} given two or more "
                    f"({and_more(over.tolist(), 5, where, sep='; ')}): a multi-label "
                    f"corpus; {MULTI_LABELLED_ADVICE}", path=source,
                    parameters=("single_label",))


def _reviewed_section(reviewed: ReviewedPairs, issues, decided: np.ndarray,
                      undone: np.ndarray, space: LabelSpace, lang: str, texts: Sequence[str],
                      doc_ids: Sequence[str | None] | None, lines: Sequence[int] | None,
                      warnings: list[str], doc_keys: dict[int, str] | None = None,
                      fallback: TextFallback | None = None) -> dict:
    """The report's ``noise.reviewed``: the review files read, the pairs they decided,
    the flagged candidates left out as decided, and those kept as decided the other way
    (an accepted fix the corpus lacks, or a label changed since), warned of with the
    first one; and the decided pairs of ids no document has, matched by their text
    (``fallback``; every one, of a corpus without ids), warned of with their counts."""
    from tagsmith.audit.detect import KINDS
    from tagsmith.audit.review import texts_changed

    section: dict[str, Any] = {"files": list(reviewed.files), "n_decided_pairs": len(reviewed),
                               "n_left_out": int(decided.sum()),
                               "n_not_applied": int(undone.sum())}
    changed = [] if doc_ids is None else texts_changed(reviewed, texts, doc_ids, doc_keys)
    section["n_texts_changed"] = len(changed)
    by_text = _by_text_message(reviewed, doc_ids, fallback)
    if by_text:
        warnings.append(by_text)
        logger.warning(by_text)
    if changed:
        n = len(changed)
        message = (f"{n:,} document{plural_s(n)} an earlier review decided by id "
                   f"{'has' if n == 1 else 'have'} another text now (edited since, or "
                   "read with other text columns), so their pairs are asked about again "
                   f"(first: id {changed[0]!r})")
        warnings.append(message)
        logger.warning(message)
    if section["n_not_applied"]:
        first = int(np.flatnonzero(undone)[0])
        doc, label = int(issues.doc[first]), int(issues.label[first])
        kind = KINDS[int(issues.kind[first])]
        where = (f"document {doc}" + ("" if lines is None else f", line {lines[doc]}")
                 + ("" if doc_ids is None or not doc_ids[doc] else f", id {doc_ids[doc]!r}"))
        n = section["n_not_applied"]
        message = (f"{n:,} flagged candidate{plural_s(n)} {_earlier_review()} "
                   "decided the other way from the corpus (a fix accepted there that the "
                   "corpus does not carry, or a label changed since), kept in the review queue "
                   f"(first: {kind} {space.uri_of(label)} ({space.name_of(label, lang)}), "
                   f"{where}): apply that review to this corpus with apply-review, or "
                   "decide the rows again")
        section["warning"] = message
        warnings.append(message)
        logger.warning(message)
    return section


def _earlier_review() -> str:
    """An earlier review as the warnings of ``reviewed`` name it: by the command's
    option (``--reviewed``) while a command runs, by :func:`audit_corpus`'s parameter
    (``reviewed=read_reviewed(...)``) for a Python caller, who has no option to give.

    >>> _earlier_review()
    'an earlier review (reviewed=read_reviewed(...))'
    """
    return "an earlier review (" + said("--reviewed", "reviewed=read_reviewed(...)") + ")"


def _by_text_message(reviewed: ReviewedPairs, doc_ids: Sequence[str | None] | None,
                     fallback: TextFallback | None) -> str:
    """The warning of the decided pairs whose ``doc_id`` names no document of the
    corpus, matched by their text alone ("" where there are none): every pair decided
    by id, of a corpus without ids; those ``fallback`` holds, of one with ids."""
    from tagsmith.audit.review import corpus_has_ids

    if not corpus_has_ids(doc_ids):
        n = len(reviewed.by_id)
        if not n:
            return ""
        # rows of one text and label under several ids decided both ways decide nothing
        # (ReviewedPairs.decision): they were counted as matched. Unless a row of that
        # text and label without an id decides it (ReviewedPairs.by_key, read first):
        # those were counted as asked about again
        split = sum(len(rows) for pair, rows in reviewed.id_rows_by_key.items()
                    if pair not in reviewed.by_key
                    and len({applies for applies, _ in rows.values()}) > 1)
        matched = n - split
        message = (f"the corpus has no document ids: {'the' if not split else 'of the'} "
                   f"{n:,} pair{plural_s(n)} {_earlier_review()} decided by id"
                   + (f", {matched:,}" if split else "")
                   + (f" {'is' if matched == 1 else 'are'} matched by "
                      f"{'its' if matched == 1 else 'their'} text alone (copies of one text "
                      "share a decision)" if split else f" {'is' if n == 1 else 'are'} "
                      "matched by their text alone (copies of one text share a decision)"))
        if split:
            message += (f"; {split:,} not, rows of one text and label under other ids "
                        "deciding it both ways: asked about again")
        return message
    if fallback is None or not fallback.n_pairs:
        return ""
    n, matched, ambiguous = fallback.n_pairs, fallback.n_matched, fallback.n_ambiguous
    lost = len(fallback.lost)
    message = (f"{n:,} pair{plural_s(n)} {_earlier_review()} decided name "
               f"{'its document' if n == 1 else 'their documents'} by an id no document "
               f"of the corpus has ({lost:,} id{plural_s(lost)}, first "
               f"{min(fallback.lost)!r}: other ids, or ids a spreadsheet rewrote): matched "
               f"by their text alone, {matched:,} of them")
    if ambiguous:
        message += (f"; {ambiguous:,} not, their text being that of several documents "
                    "whose ids do not say which one: asked about again")
    return message


def _sample_reviewed_before(rows: list[dict], record: dict, reviewed: ReviewedPairs,
                            space: LabelSpace, texts: Sequence[str],
                            doc_ids: Sequence[str | None] | None, keys: dict[int, str],
                            warnings: list[str], fallback: TextFallback | None = None) -> None:
    """Count (the sample record's ``n_rows_reviewed_before``) and warn of the review
    sample's rows whose pair a ``--reviewed`` review decided: the sample is drawn
    uniformly over the corpus, as estimate-noise needs, so it asks them again (it did
    so without a word, beside a queue that left them out)."""
    from tagsmith.audit.review import corpus_has_ids, doc_key

    n_rows, docs = 0, set()
    has_ids = corpus_has_ids(doc_ids)
    for row in rows:
        doc = int(row["doc"])
        key = keys.get(doc)
        if key is None:
            key = keys[doc] = doc_key(texts[doc])
        label_id = space.id_of(str(row["label_uri"]))
        if reviewed.verdict(None if doc_ids is None else doc_ids[doc], key, label_id,
                            corpus_has_ids=has_ids, fallback=fallback) is not None:
            n_rows += 1
            docs.add(doc)
    record["n_rows_reviewed_before"] = n_rows
    if n_rows:
        n = len(docs)
        message = (f"{n_rows:,} row{plural_s(n_rows)} of the review sample ({n:,} "
                   f"document{plural_s(n)}) decide{'s' if n_rows == 1 else ''} a pair "
                   f"{_earlier_review()} decided: the sample is drawn uniformly over "
                   "the corpus, as estimate-noise needs, so it asks them again; decide them "
                   "as before")
        warnings.append(message)
        logger.warning(message)


def audit_corpus(texts: Iterable[str], Y: LabelMatrix, label_space: LabelSpace, *,
                 options: AuditOptions | None = None,
                 classifier: TextClassifier | None = None,
                 splits: Mapping[str, Sequence[str]] | None = None,
                 unknown_labels: Counter | None = None, lines: Sequence[int] | None = None,
                 doc_ids: Sequence[str | None] | None = None,
                 source: str | None = None, read: dict | None = None,
                 split_lines: Mapping[str, Sequence[int]] | None = None,
                 vocabulary: bool = True,
                 reviewed: ReviewedPairs | None = None) -> AuditResult:
    """Audit ``texts`` with labels ``Y`` (``n_docs x n_labels``) over ``label_space``.

    ``classifier`` (a :class:`~tagsmith.pipeline.classifier.TextClassifier`) lends its
    featurizer, its model family for cross-fitting and its stored cross-fitted scores
    (a multi-view featurizer's views are cross-fitted on; the neighbour search and the
    label evidence then use TF-IDF features of their own).
    ``splits`` maps names (``dev``, ``test``) to texts checked for leakage;
    ``unknown_labels`` counts labels the reader dropped as not in the vocabulary;
    ``lines``/``doc_ids`` locate documents in their file for the review queue, the
    duplicates and the leakage examples; ``split_lines`` maps split names to the lines
    of their documents (:attr:`AuditCorpus.lines`), for the leakage examples;
    ``read`` (:func:`read_summary`) records how the files were read in the report's meta;
    ``vocabulary`` False: ``label_space`` was derived from the corpus, so
    ``unknown_labels`` are keys that name no label (``<>``), not keys a vocabulary lacks
    (``labels.not_in_vocabulary.vocabulary`` in the report).
    ``reviewed`` (:func:`~tagsmith.audit.review.read_reviewed`): the pairs earlier
    reviews decided; a flagged candidate on one, where the corpus agrees with the
    decision, is left out of the review queue (counted in the report's
    ``noise.reviewed``), one it disagrees with (an accepted fix the corpus does not carry)
    is kept, and warned of.
    The warnings the audit gives of its own choices (scores ``'auto'`` not using the
    ``n_folds`` given) are logged and listed in the report's ``warnings``.
    """
    from tagsmith.audit import duplicates as dup
    from tagsmith.audit import health
    from tagsmith.audit.review import (
        ReviewedPairs,
        TextFallback,
        corpus_has_ids,
        doc_key,
        review_rows,
        reviewed_candidates,
    )
    from tagsmith.audit.warmup import compile_in_child
    from tagsmith.features.tfidf import _as_list
    from tagsmith.metrics.sets import check_label_values

    options = check_options("options", options, AuditOptions)
    options.validate()
    check_score_params(options, classifier)  # before the features are built
    _check_featurizer_params(options, classifier)
    if not isinstance(label_space, LabelSpace):
        raise InvalidParameterError("label_space", "a tagsmith LabelSpace",
                                    type(label_space).__name__)
    if reviewed is not None and not isinstance(reviewed, ReviewedPairs):
        # a review file's path went through the whole audit and failed deep in it
        raise InvalidParameterError("reviewed", "read_reviewed(...)'s ReviewedPairs (the "
                                    "review files read), or None", type(reviewed).__name__)
    # a one-hot DataFrame's columns, or its rows against the texts', in another order
    check_label_table(Y, label_space, "Y", texts=texts)
    texts = _as_list(texts, "texts")  # a bare str was audited one character per document
    drawn = (options.review_sample or 0) + (options.review_sample_flagged or 0)
    if drawn > len(texts):
        # before the work, not after it
        raise InvalidParameterError(
            "review_sample", f"at most the corpus's {len(texts):,} "
            f"document{plural_s(len(texts))} (a sample draws each document once)"
            + ("" if options.review_sample_flagged is None else
               f"; with review_sample_flagged {options.review_sample_flagged:,}: "
               f"{drawn:,} in all"), options.review_sample)
    # NaN, 2 or -1 were audited as given labels; strings, None or 3-D were scipy errors
    Y = check_label_values(Y, "Y", soft_ok=True)
    if Y.shape != (len(texts), len(label_space)):
        raise InvalidParameterError("Y", f"shape ({len(texts)}, {len(label_space)})", Y.shape)
    Y = sp.csr_matrix(Y)
    # confidences below 1 (label's output: an LLM's labels with its scores) are read as
    # given labels, each alike: the audit said nothing of it, and a user took its
    # ranking to weigh the LLM's own doubt
    n_soft = int(np.count_nonzero((Y.data > 0) & (Y.data < 1)))
    n_given = int(np.count_nonzero(Y.data))
    # the given labels' confidences, for label_confidence (where Y carries any below 1)
    confidence = _float32_confidences(Y) if options.label_confidence and n_soft else None
    if confidence is not None and not np.any(
            (confidence.data > 0)
            & (confidence.data < STATED_CERTAIN)):
        # every stated confidence 1.0 (stored just below 1, an unstated one exactly 1):
        # the LLM said nothing of its doubt, and the blend's re-flagging changed the
        # queue unsaid; warned of and the audit's own, as a Y of 0 and 1
        confidence = None
    # the given labels without a stated confidence (exactly 1), for a warning
    n_unstated = 0 if confidence is None else int(np.count_nonzero(
        confidence.data == UNKNOWN_CONFIDENCE))
    Y = sp.csr_matrix(Y != 0, dtype=bool)
    for name, where in (("lines", lines), ("doc_ids", doc_ids)):
        # a short list was an IndexError in the review queue, a str read per character
        if where is None:
            continue
        if isinstance(where, str | bytes) or not hasattr(where, "__len__"):
            found: object = type(where).__name__
        elif len(where) != len(texts):
            found = len(where)
        else:
            continue
        raise InvalidParameterError(name, f"one entry per document ({len(texts)})", found)
    # by position, as the texts are read: a pandas Series (df["id"] of a sampled or
    # filtered DataFrame) was looked up by its index labels, so every review row, the
    # duplicates and the leakage examples named another document's id and line
    lines = _line_numbers(_by_position(lines), "lines")
    if not isinstance(doc_ids, _UniqueIds):
        doc_ids = _by_position(doc_ids)
    if doc_ids is not None and not isinstance(doc_ids, _UniqueIds):
        _check_unique_doc_ids(doc_ids, lines)  # read_audit_corpus's are checked already
    if splits is not None:
        if not isinstance(splits, Mapping):  # a list was an AttributeError
            raise InvalidParameterError("splits", "a dict of split name -> texts",
                                        type(splits).__name__)
        splits = {name: _as_list(other, f"splits[{name!r}]") for name, other in splits.items()}
    if split_lines is not None:
        if not isinstance(split_lines, Mapping):
            raise InvalidParameterError("split_lines", "a dict of split name -> lines",
                                        type(split_lines).__name__)
        for name, where in split_lines.items():
            if name not in (splits or {}):
                raise InvalidParameterError("split_lines", "the lines of splits given in "
                                            "splits", name)
            n_split = len((splits or {})[name])
            if isinstance(where, str | bytes) or not hasattr(where, "__len__"):
                found = type(where).__name__
            elif len(where) != n_split:
                found = len(where)
            else:
                continue
            raise InvalidParameterError(f"split_lines[{name!r}]",
                                        f"one entry per document ({n_split})", found)
        split_lines = {name: list(_line_numbers(_by_position(where),
                                                f"split_lines[{name!r}]") or ())
                       for name, where in split_lines.items()}
    Y.sort_indices()
    if not texts:
        raise DataError("no documents to audit", path=source)
    if not len(label_space):
        raise DataError("the label space has no labels", path=source)
    if Y.nnz == 0:
        # the Python API's corpus is Y, not a file: "no document has a label" named no
        # parameter, and said nothing of where the labels go
        n_unknown = sum((unknown_labels or Counter()).values())
        none = (f"none of the {n_unknown:,} label occurrences are" if n_unknown > 1
                else "the one label occurrence is not")
        n_docs = len(texts)
        if n_unknown:
            mismatch = number_mismatch(unknown_labels or Counter(), label_space)
            raise DataError(f"{none} in the label space (unknown_labels), so Y has no "
                            "label; " + (mismatch or "is label_space the vocabulary of "
                                         "this corpus?"), path=source)
        raise DataError(f"no document has a label: Y ({n_docs:,} x {len(label_space):,}) "
                        f"has no nonzero entry for any of the {n_docs:,} "
                        f"document{plural_s(n_docs)}; an audit needs labels: give Y a "
                        "nonzero entry at each document's labels (row i for texts[i], "
                        "column j for label_space's label j)", path=source)
    _refuse_all_blank(texts, source)
    if options.single_label:
        _refuse_multi_labelled(Y, lines, doc_ids, source)
    for name, other in (splits or {}).items():
        if not len(other):
            # the Python API's parameter named: the CLI refuses an empty --split file
            # itself, naming the option and the file
            raise DataError(f"the split {name!r} has no documents to check for leakage: "
                            f"splits[{name!r}] is empty; give it the split's texts, or "
                            "leave the split out of splits")
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    n_steps = 5 + bool(splits)
    with progress_bar(total=n_steps, desc="audit", unit="step",
                      enabled=options.show_progress) as bar:
        def step(name: str) -> None:
            now = time.perf_counter()
            seconds[name] = round(now - started - sum(seconds.values()), 3)
            logger.info("audit: %s done (%.1f s)", name, seconds[name])
            bar.update(1)

        hashes = dup.text_hashes(texts)
        # twins in one fold (cross-fitting, calibration) and out of each other's kNN
        # neighbours: else each scores, or is calibrated on, the other's label as
        # seen. The audit's own exact duplicates:
        # training's rule (case and spacing) left apart copies the features cannot tell
        # apart (Unicode form, soft hyphens), which the duplicate report names as equal
        groups = dup.exact_groups(hashes)
        # the scores and the issues are computed along the documents' content, not their
        # lines (folds, samples, the solver's visits, ties), and put back in file order:
        # the same corpus sorted or shuffled gave another queue
        by_content = content_order(hashes, texts, Y, doc_ids)
        # None: in that order already, no copies
        order = None if np.array_equal(by_content, np.arange(len(texts))) else by_content
        del by_content
        folds = _fold_drawer(len(texts), options, groups, order)
        warnings: list[str] = []  # the report's
        if n_soft and not options.label_confidence:
            _warn_soft_labels(n_soft, n_given, warnings)
        elif options.label_confidence and confidence is None:
            # the command line reads a label output's lines, not a Y: it was told of Y
            # and STATED_CERTAIN, which it has no way to pass; said at the source, so
            # its log, report.json and page read the same words
            message = said(_NO_CONFIDENCE_BELOW_1_CLI, _NO_CONFIDENCE_BELOW_1)
            logger.warning(message)
            warnings.append(message)
        elif n_unstated:
            # a Y mixing confidences with exact 1s (an LLM's 1.0 passed as it is, say):
            # those labels were left out of the blend with nothing said
            message = _unstated_confidence_message(n_unstated, n_given)
            logger.warning(message)
            warnings.append(message)
        source_name = _choose_source(options, classifier, texts, Y, groups, folds, warnings,
                                     label_space)
        # heldout: how many of the corpus's documents the bundle was trained on, for the
        # report (the page said "trained on N other documents" where 42 were among them)
        n_in_corpus = (_check_heldout(classifier, texts, Y, warnings, label_space)
                       if source_name == "heldout" else None)
        _check_enough_documents(source_name, len(texts), _folds_and_seed(options)[0], source)
        if source_name == "crossfit":  # before the features (an encoder's, minutes)
            _check_folds_teach(Y, groups, options, source, folds)
        # a large audit's kernels compiled in a child process: the compiler's memory
        # stays with the process that compiles (2,691 MB against 1,974-1,983 MB cached);
        # after the checks, so that an audit refused costs no child (a cold one: minutes)
        compile_in_child(options, source_name, len(texts), bool(splits), classifier)
        # the features of the texts in content order (a vocabulary fitted on them is the
        # same, its columns too, for the corpus in any order)
        texts_c = texts if order is None else [texts[i] for i in order]
        model_featurizer, model_X = _features(texts_c, classifier, options)
        featurizer, X_c = model_featurizer, model_X
        if isinstance(model_X, Views):
            # a multi-view model is cross-fitted on its views; nearest neighbours (kNN
            # scores, duplicates, leakage) and the label evidence need one matrix
            featurizer, X_c = _features(texts_c, None, options)
        del texts_c
        step("features")
        # the label co-occurrence counts, built once when both the kNN scores' blend and
        # the evidence read them (each built its own: ~0.5 s at 25k labels)
        # the corpus in content order (the same as it is where order is None)
        Y_c, groups_c, blank_c = _in_order(order, Y, groups, hashes == dup.EMPTY_HASH)
        if order is not None:
            # numbered in content order too, as a shuffled corpus numbers them alike
            groups_c = groups_by_first(groups_c)[0]
        counts = None
        if source_name == "knn" and options.cooccurrence and options.evidence:
            from tagsmith.audit.evidence import label_cooccurrence

            # of the labels in content order: the counts carry the label matrix, which
            # the blend and the evidence read row by row
            counts = label_cooccurrence(Y_c)
        scores = _scores(source_name, model_X if source_name in ("crossfit", "heldout")
                         else X_c, Y_c,
                         classifier, options, model_featurizer, label_space,
                         cooccurrence_counts=counts,
                         groups=groups_c if source_name != "bundle" else None,
                         folds=folds if order is None else (lambda: folds()[order]))
        if source_name == "bundle" and order is not None:
            # stored in the bundle's (the file's) order: the issues read them in content order
            scores = replace(scores, topk=scores.topk[order])
        if source_name == "bundle" and classifier is not None:
            _warn_ungrouped_folds(classifier.crossfit, groups, warnings)
        if source_name == "heldout":
            scores.details["n_corpus_training_docs"] = n_in_corpus
        _warn_capped_labels(scores, label_space, options.lang, warnings)
        del model_X
        step("scores")
        # each document's row in content order
        inverse = None if order is None else inverse_order(order)
        # every near pair, from the features (the kNN scores' neighbours miss some): the
        # rows of X_c in content order read where each document's is, not a copy of X in
        # the file's order (two copies at once); and before the issues, whose candidate
        # rows (tens of millions at 25k labels) the search's memory otherwise adds to
        duplicates = dup.find_duplicates(texts, Y, None, hashes=hashes,
                                         threshold=options.near_duplicate_threshold,
                                         features=X_c if options.near_duplicates else None,
                                         feature_rows=inverse, order=order,
                                         show_progress=options.show_progress)
        step("duplicates")
        # heldout over labels the bundle lacks (an updated label space): those have no
        # scores, and their given occurrences were flagged wrong as if the model said no
        # (15 of 30 in a probe); they are left out of the issues, as the command line
        # skips them as unknown
        issues = _issues_of(Y_c, scores.topk,
                            _heldout_audited(classifier, label_space)
                            if source_name == "heldout" else None,
                            X=X_c, **issue_options(options),
                            cooccurrence_counts=counts,
                            groups=groups_c, blank=blank_c,
                            show_progress=options.show_progress)
        del Y_c, groups_c, blank_c
        if order is not None and inverse is not None:  # back in the file's order
            issues = issues_in_file_order(issues, order, inverse)
            scores = replace(scores, topk=scores.topk[inverse])
        if confidence is not None:
            from tagsmith.audit.detect import blend_label_confidence

            issues = blend_label_confidence(issues, confidence, options.min_probability,
                                            options.band_budget_below)
        # copies of one text that disagree on a label: the side most copies are on is
        # evidence the scores cannot see (equal texts share a fold), flagged whatever
        # the label's noise rate (40 labels planted on copies were flagged none)
        outside = None  # the wrong rows the copies flagged outside the two lists
        if options.copies_majority:
            blended = issues
            issues = flag_copies(issues, Y, groups, hashes == dup.EMPTY_HASH)
            if confidence is not None:
                from tagsmith.audit.detect import (
                    copies_flagged_anew,
                    interleave_label_confidence,
                )

                # flag_copies re-sorts by probability, which undid the blend's interleave
                # (the LLM's least confident rows back down, n_interleaved still said);
                # a row the copies flagged is no LLM pick (it was counted interleaved,
                # and n_wrong_flagged left it out)
                outside = copies_flagged_anew(blended, issues)
                issues = interleave_label_confidence(issues, confidence,
                                                     options.band_budget_below, outside)
            del blended
        # one label a document, said to be a corpus whose documents may carry several:
        # its wrong rows in order of the given label's score (a main subject with a
        # rival read as often wrong, ahead of labels given at random), the LLM's least
        # confident rows interleaved again after (ordered last, it undid the interleave)
        issues = order_one_label_wrong(issues, Y, single_label=options.single_label,
                                       confidence=confidence,
                                       band_budget_below=options.band_budget_below,
                                       outside=outside)
        del confidence, outside
        # a single-label corpus (a catalogue, one category each): a flagged missing
        # category implies the given one wrong, and the reverse; one move, two rows
        # side by side
        issues = pair_single_label(issues, Y, single_label=options.single_label)
        # a corpus coded at the most specific level (ICD-10): a broader code given where
        # a narrower one is missing is one move too (remove E11, add E11.9)
        issues = pair_broader(issues, Y, label_space)
        del counts
        step("issues")
        # the near leakage's training side; nothing reads the features otherwise
        # (--no-near-duplicates: at scale)
        near_X = X_c if options.near_duplicates else None
        del X_c
        leakage = {}
        if splits:
            near = options.near_duplicates
            threshold = options.near_duplicate_threshold
            # the training side (normalised rows, feature ranks, prefixes) once for all
            # (of X_c, its rows naming the documents in the file's order)
            index = dup.NearLeakIndex(near_X, threshold, rows=order) \
                if near_X is not None else None
            # featurized and searched: the split's texts that are neither exact leaks
            # nor repeats of an earlier text (their results are known)
            results = {name: dup.leakage(hashes, list(other), train_X=index,
                                         featurize=featurizer.transform if near else None,
                                         threshold=threshold)
                       for name, other in splits.items()}
            del index
            leakage = health.leakage_section(results, texts,
                                             {k: list(v) for k, v in splits.items()},
                                             train_lines=lines, other_lines=split_lines)
            step("leakage")
        del near_X
        decided = undone = None
        # each document's fingerprint, hashed once for both (texts_changed below)
        doc_keys: dict[int, str] = {}
        fallback = None
        if reviewed is not None:
            # the rows whose id names no document here, matched by their text: taken
            # once for the queue, the sample and the report's warning
            # (every document's fingerprint, hashed and not kept: 135 MB at 1,000,000
            # documents, where the queue and texts_changed read a few thousand)
            fallback = reviewed.text_fallback(doc_ids or (), lambda doc: doc_key(texts[doc])) \
                if corpus_has_ids(doc_ids) else TextFallback()
            decided, undone = reviewed_candidates(reviewed, issues, texts, doc_ids,
                                                  keys=doc_keys, fallback=fallback)
        review = review_rows(issues, texts, Y, label_space, lang=options.lang, lines=lines,
                             doc_ids=doc_ids, limit=options.max_review, topk=scores.topk,
                             hashes=hashes, exclude=decided)
        sample = None
        if options.review_sample is not None:
            from tagsmith.audit.sample import draw_review_sample

            sample, sample_record = draw_review_sample(
                issues, texts, Y, label_space, options.review_sample, seed=options.seed or 0,
                topk=scores.topk, lang=options.lang, lines=lines, doc_ids=doc_ids,
                flagged_docs=options.review_sample_flagged, warnings=warnings, order=order,
                hashes=hashes)
            if reviewed is not None:
                _sample_reviewed_before(sample, sample_record, reviewed, label_space,
                                        texts, doc_ids, doc_keys, warnings, fallback)
        lang = options.lang
        quality = _scores_quality(Y, scores)
        noise = _withhold_bounds(health.noise_section(issues, label_space, lang=lang), quality)
        noise["rare_labels_note"] = _rare_labels_note(
            issues.n_given, noise["label_min_support"], heldout=scores.source == "heldout")
        # one label a document: a catalogue, or a multi-label corpus coded with each
        # document's main label alone, which the audit cannot tell apart
        noise["one_label_note"] = _one_label_note(Y, issues.details.get("single_label"),
                                                  noise, options.single_label,
                                                  vocabulary=vocabulary,
                                                  ordered=issues.details.get(
                                                      "one_label_wrong_order"))
        noise["small_corpus_note"] = _small_corpus_note(
            issues.details["texts"], noise.get("bounds"), heldout=scores.source == "heldout",
            rare=noise["rare_labels_note"] is not None)
        # --max-review's rows, fewer where a single-label move would be cut in two
        noise["n_review_rows"] = len(review)
        if reviewed is not None and decided is not None and undone is not None:
            noise["reviewed"] = _reviewed_section(reviewed, issues, decided, undone,
                                                  label_space, lang, texts, doc_ids, lines,
                                                  warnings, doc_keys, fallback)
        # where a label with narrower ones is one put where a narrower one belongs
        # (the page's section and the command's line say so): a catalogue, or a
        # corpus coded at the most specific level
        on_parents = (isinstance(issues.details.get("single_label"), dict)
                      or isinstance(issues.details.get("broader_moves"), dict))
        # each document's review rows, by rank: whether a document on such a label is
        # in the queue at all (most are not: the scores flagged few of them)
        ranks: dict[int, list[int]] = {}
        for row in review:
            ranks.setdefault(row["doc"], []).append(row["rank"])
        # every such document, for docs_on_parent_labels.csv: report.json lists the
        # first 20, and a coder looked for the rest by hand (none in a flat vocabulary,
        # no table)
        docs_on_parents = (health.docs_on_parent_labels(Y, label_space, lines=lines,
                                                        doc_ids=doc_ids, review_rows=ranks)
                           if on_parents and label_space.has_hierarchy else None)
        # the documents given a narrower label without the broader one the corpus codes
        # beside it almost always (Reuters' wheat without grain): the scores flagged
        # few of them, and nothing said how consistently the corpus codes the two
        missing_rows = ({(row["doc"], label_space.id_of(row["label_uri"])): row["rank"]
                         for row in review if row["kind"] == "missing"}
                        if label_space.has_hierarchy else {})
        # not in a corpus read as coded at the most specific level (broader moves):
        # there a broader label beside a narrower one is the error the moves and
        # docs_on_parent_labels.csv report, and a few pairs read at 90% of 10 documents
        # asked to add one
        coded_specific = isinstance(issues.details.get("broader_moves"), dict)
        rejected_before = None
        if reviewed is not None and len(reviewed):
            has_ids = corpus_has_ids(doc_ids)

            def rejected_before(doc: int, broader: int) -> bool:
                # a row of an earlier table (or a review's missing row) the desk
                # rejected: left out, as the queue leaves out a rejected candidate;
                # an accepted one the corpus does not carry is listed again, as the
                # queue keeps it
                key = doc_keys.get(doc)
                if key is None:
                    key = doc_keys[doc] = doc_key(texts[doc])
                return reviewed.verdict(None if doc_ids is None else doc_ids[doc], key,
                                        broader, corpus_has_ids=has_ids,
                                        fallback=fallback) is False

        left_off = None if coded_specific else health.broader_left_off(
            Y, label_space, lang=lang, lines=lines, doc_ids=doc_ids, review_rows=ranks,
            missing_rows=missing_rows, min_docs=options.broader_min_docs,
            min_share=options.broader_min_share, leave_out=rejected_before)
        if left_off is not None:
            # the text's fingerprint, as a review row's: apply-review checks that a
            # decided row of docs_without_broader.csv names the document it was written of
            # (hashed once a document: a row per broader label, and rejected_before's)
            for row in left_off[1]:
                key = doc_keys.get(row["doc"])
                if key is None:
                    key = doc_keys[row["doc"]] = doc_key(texts[row["doc"]])
                row["doc_key"] = key
        report = {
            "meta": {"tagsmith_version": __version__, "lang": lang, "corpus": source,
                     "read": read or {},
                     "created": datetime.datetime.now(datetime.UTC).isoformat(
                         timespec="seconds"),
                     # label_confidence only where given: the reports of audits
                     # without it are as they were
                     "options": {k: v for k, v in asdict(options).items()
                                 if k != "show_progress"
                                 and (k not in ("label_confidence", "copies_majority")
                                      or v)}},
            "corpus": health.corpus_section(texts, Y),
            "labels": health.labels_section(
                Y, label_space, lang=lang, unknown=_unknown(unknown_labels, vocabulary),
                docs_on_parents=docs_on_parents),
            # null: the vocabulary has no hierarchy
            # skipped: the counts as none found, beside the reason (a reader of n_pairs
            # failed on the skipped form's lone key)
            "broader_left_off": (health.broader_left_off_skipped(
                BROADER_LEFT_OFF_SKIPPED, min_docs=options.broader_min_docs,
                min_share=options.broader_min_share) if coded_specific
                                 else None if left_off is None else left_off[0]),
            "cooccurrence": health.cooccurrence_section(Y, label_space, lang=lang),
            "noise": noise,
            "duplicates": health.duplicates_section(
                duplicates, texts, Y, label_space, lang=lang,
                threshold=options.near_duplicate_threshold if options.near_duplicates
                else None, lines=lines),
            "leakage": leakage,
            "scores": {**scores.describe(), **quality},
            # the warnings of the audit's own choices (its figures' stay in their
            # sections): scores auto's of the folds given, logged alone before
            "warnings": warnings,
            "top_candidates": [_short(row, label_space, lang)
                               for row in review[:HTML_CANDIDATES]],
        }
        if sample is not None:
            report["review_sample"] = sample_record
        step("report")
    report["timing"] = {**seconds, "total": round(time.perf_counter() - started, 3)}
    for warning in (quality.get("warning"), issues.details["texts"].get("warning"),
                    noise["bounds_note"], noise["rare_labels_note"],
                    noise["one_label_note"],
                    noise["small_corpus_note"]):
        if warning:
            logger.warning("audit%s: %s", f" of {source}" if source else "", warning)
    pairs = DuplicatePairs(duplicates.pairs, duplicates.cosine, duplicates.exact,
                           duplicates.conflicting, Y, lines, doc_ids)
    return AuditResult(issues, report, review, scores, label_space, sample, docs_on_parents,
                       pairs, None if left_off is None else left_off[1])


def _by_position(values: Sequence | None) -> list | Sequence | None:
    """``values`` (one per document) as a list read in order, whatever index a pandas
    Series carries (its ``[i]`` is by label); a list or tuple as it is."""
    if values is None or isinstance(values, list | tuple):
        return values
    listed = values.tolist() if hasattr(values, "tolist") else list(values)
    return listed if isinstance(listed, list) else list(values)


def _line_numbers(values: Sequence | None, name: str) -> list | Sequence | None:
    """``values`` (line numbers, one per document) as ints, a whole float (a pandas
    column upcast by a missing cell) read as its int; refused naming ``name[i]`` where
    one is no whole number. A NaN (``lines=df["line"]`` with a blank cell) reached
    the review queue as the line ``nan``, and the leakage section's ``int()`` failed
    naming no parameter.

    >>> _line_numbers([1, 2.0], "lines")
    [1, 2]
    >>> try:
    ...     _line_numbers([1, float("nan")], "lines")
    ... except InvalidParameterError as error:
    ...     print(error.name)
    lines[1]
    """
    if values is None or all(type(value) is int for value in values):  # as read from a file
        return values
    checked = []
    for i, value in enumerate(values):
        if isinstance(value, bool | np.bool_) or not isinstance(
                value, int | np.integer | float | np.floating) or not (
                np.isfinite(value) and float(value).is_integer()):
            raise InvalidParameterError(f"{name}[{i}]", "a line number (a whole number)",
                                        value)
        checked.append(int(value))
    return checked


def _warn_soft_labels(n_soft: int, n_given: int, warnings: list[str]) -> None:
    """Warn that the corpus's confidences (an LLM's, ``label``'s output) are not used:
    each label scoring above 0 is audited as given, whatever its score. Appended to
    ``warnings`` (the report's) too."""
    message = soft_labels_warning(f"{n_soft:,} of the corpus's {n_given:,} given labels "
                                  "carry a confidence below 1 (an LLM's labels, label's "
                                  "output?)")
    logger.warning(message)
    warnings.append(message)


def soft_labels_warning(what: str) -> str:
    """The warning that ``what`` (a corpus of an LLM's labels with its confidences) is
    audited as given labels, its confidences unused (audit on label's output). The
    setting that uses them is named as the caller gives it (:func:`tagsmith._surface.said`):
    ``AuditOptions(label_confidence=True)`` from Python, ``--label-confidence`` in a
    command."""
    return (f"{what}: the audit reads every label scoring above 0 as given, its "
            "confidence unused, and ranks the review by its own scores alone; the LLM's "
            "least confident labels are worth a look of their own (on a simulated "
            "teacher, its 100 least confident labels held more of its wrong ones than "
            "the review's first 100 rows); "
            + said("label_confidence (audit --label-confidence)",
                   "AuditOptions(label_confidence=True)")
            + " blends them into the wrong-label ranking")


def _warn_capped_labels(scores, label_space, lang: str, warnings: list[str]) -> None:
    """Warn of the labels whose documents the kNN search's ``max_posting`` left with
    neighbours of other labels (:func:`tagsmith.audit.scores.capped_labels`): the audit
    flagged dozens of a catalogue's largest category ``wrong`` at probability 1.0 with
    no hint why. The warning names them, their scores both ways and the parameter that
    mends it (``AuditOptions``' fields; audit's flags on the command line, whose filter
    swaps in ``cli_message``); it is appended to ``warnings`` (the report's) too, in the
    Python wording: the report is built before, and apart from, the command's logging."""
    if not scores.capped:
        return
    named = and_more(scores.capped, 5,
                     lambda c: f"{label_space.name_of(c.label, lang)!r} ({c.n_docs:,} documents: "
                     f"mean own score {c.capped:.2f}, {c.exact:.2f} with max_posting={c.n_docs})",
                     sep="; ", serial=False)
    largest = max(c.n_docs for c in scores.capped)
    cap = scores.details.get("params", {}).get("max_posting")
    told = (f"scores 'knn': the neighbour search reads words held by more than "
            f"max_posting={cap} documents only until it has found its candidates, "
            "and the documents of %s got neighbours of other labels, so the audit "
            "may flag them wrong falsely; audit again with {} (or above; slower) to "
            "score them fully")
    # a Python caller is told the options' fields, the command line audit's flags (it
    # told a notebook "--scores knn -p max_posting=N"); the report keeps the former
    template = told.format(f"AuditOptions(scores=\"knn\", knn_params={{\"max_posting\": "
                           f"{largest}}})")
    logger.warning(template, named, extra={
        "cli_message": told.format(f"--scores knn -p max_posting={largest}")})
    warnings.append(template % named)


def _warn_ungrouped_folds(crossfit, groups: np.ndarray, warnings: list[str]) -> None:
    """Warn when a bundle's stored cross-fit scores come from folds drawn document by
    document (a bundle trained before the folds kept equal texts together) over a corpus
    that repeats texts: each twin was scored by a model trained on its copy. The
    warning is appended to ``warnings`` (the report's) too, in the Python wording."""
    if crossfit.grouped:
        return
    repeated = int(np.count_nonzero(np.bincount(groups)[groups] > 1))
    if not repeated:
        return
    told = ("scores 'bundle': the bundle's stored cross-fit folds were drawn document "
            "by document (it was trained before equal texts were kept in one fold), "
            "and %d of the %d documents share their text with another (case and "
            "spacing aside): each of those was scored by a model trained on its "
            "twin, so a wrong label twins share looks right; retrain the bundle ({}) "
            "or audit with scores 'crossfit'")
    # train's option as a Python caller gives it, and as the command line does (it told
    # a notebook "train --crossfit-folds"); the report keeps the former
    template = told.format("train_classifier with TrainOptions(crossfit_folds=...)")
    logger.warning(template, repeated, len(groups), extra={
        "parameters": ("scores",), "cli_message": told.format("train --crossfit-folds")})
    warnings.append(template % (repeated, len(groups)))


def _check_enough_documents(source_name: str, n_docs: int, n_folds: int,
                            corpus: str | None) -> None:
    """K-fold cross-fitting needs at least K documents (and K is at least 2); the
    leave-one-out kNN scores need none, so the error offers them too. The error names
    ``n_folds`` and ``scores``, the command line ``--folds`` and ``--scores`` (it named
    both, "--folds 2; n_folds in AuditOptions", to a user who had given neither)."""
    if source_name != "crossfit" or n_docs >= n_folds:
        return
    s = "" if n_docs == 1 else "s"
    knn = "scores knn (leave-one-out kNN, no folds)"
    if n_docs < 2:
        raise DataError(f"the corpus is too small: {n_docs} document{s}, and cross-fitting "
                        f"needs at least 2 (with n_folds 2); give more documents or {knn}",
                        path=corpus, parameters=("n_folds", "scores"))
    raise DataError(f"the corpus is too small for n_folds {n_folds}: {n_folds}-fold "
                    f"cross-fitting needs at least {n_folds} documents, it has {n_docs}; "
                    f"give more documents, n_folds {n_docs} or fewer, or {knn}",
                    path=corpus, parameters=("n_folds", "scores"))


def _folds_and_seed(options: AuditOptions) -> tuple[int, int]:
    """``(n_folds, seed)`` of options :meth:`AuditOptions.validate` resolved."""
    if options.n_folds is None or options.seed is None:  # a caller's slip, not the user's
        raise RuntimeError("AuditOptions.validate() resolves n_folds and seed first")
    return options.n_folds, options.seed


def _fold_drawer(n_docs: int, options: AuditOptions,
                 groups: np.ndarray | None,
                 order: np.ndarray | None = None) -> Callable[[], np.ndarray]:
    """The cross-fitting's folds of ``n_docs`` documents (``options.n_folds``,
    ``options.seed``, ``groups``), drawn at the first call and kept: auto's check, the
    explicit scores' check and the cross-fitting each drew them (~0.2 s each at 590k
    documents). ``order`` (:func:`content_order`): the folds are drawn along it, so a
    document's fold follows its content, not its line (the same corpus sorted or
    shuffled put documents in other folds, and its queue changed)."""
    drawn: list[np.ndarray] = []

    def folds() -> np.ndarray:
        from tagsmith.pipeline.crossfit import fold_assignment

        if not drawn:
            drawn.append(fold_assignment(n_docs, *_folds_and_seed(options), groups,
                                         order=order))
        return drawn[0]
    return folds


def inverse_order(order: np.ndarray) -> np.ndarray:
    """Each position's place in ``order`` (a permutation, :func:`content_order`): row
    ``inverse[i]`` of a matrix taken in ``order`` is document ``i``'s."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse


def issues_in_file_order(issues: LabelIssues, order: np.ndarray,
                         inverse: np.ndarray) -> LabelIssues:
    """``issues`` found on the documents in ``order`` (:func:`content_order`) with
    their documents named, and their qualities, in the file's order (``inverse``,
    :func:`inverse_order`); the audit's and the co-occurrence sweep's one rule."""
    return replace(issues, doc=order[issues.doc].astype(issues.doc.dtype),
                   doc_quality=issues.doc_quality[inverse])


def _in_order(order: np.ndarray | None, *arrays):
    """``arrays`` (matrices, :class:`Views`, arrays or ``None``) with their rows in
    ``order``; as they are where ``order`` is ``None``."""
    if order is None:
        return arrays
    return tuple(None if a is None else a.take(order) if isinstance(a, Views)
                 else a[order] for a in arrays)


def content_order(hashes: np.ndarray, texts: Sequence[str], Y: LabelMatrix,
                  doc_ids: Sequence[str | None] | None = None) -> np.ndarray:
    """The documents' positions sorted by their content, the same for a corpus in any
    order: by the audit's text hash (:func:`tagsmith.audit.duplicates.text_hashes`),
    then, among equal hashes, by a hash of the text as written, the document's id and
    its given labels. The audit scores and detects along it, so that its folds, samples
    and ties follow the documents, not their lines: the same corpus sorted or shuffled
    gave another review queue (another quarter of the flags on GoEmotions). Documents
    whose text, id and labels are all equal are interchangeable, whatever their order.

    >>> import scipy.sparse as sp
    >>> from tagsmith.audit.duplicates import text_hashes
    >>> texts = ["b", "a", "a"]; Y = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 0]]))
    >>> order = content_order(text_hashes(texts), texts, Y)
    >>> back = [2, 0, 1]   # the same corpus in another order
    >>> other = content_order(text_hashes([texts[i] for i in back]),
    ...                       [texts[i] for i in back], Y[back])
    >>> np.array(back)[other].tolist() == order.tolist()
    True
    """
    import hashlib

    hashes = np.asarray(hashes, np.uint64)
    Y = sp.csr_matrix(Y)
    # the second key only breaks ties of the first: hashed for the documents that share
    # their text hash, not for all (a Python loop, ~20 us a document: ~12 s at 590k);
    # the order is the same, as a unique first key never reads the second
    _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    second = np.zeros(len(texts), np.uint64)
    for i in np.flatnonzero(counts[inverse.reshape(-1)] > 1).tolist():
        text = texts[i]
        h = hashlib.blake2b(digest_size=8)
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\x00" + ("" if doc_ids is None or doc_ids[i] is None
                            else str(doc_ids[i])).encode("utf-8", "surrogatepass"))
        h.update(b"\x00" + np.sort(Y.indices[Y.indptr[i]:Y.indptr[i + 1]])
                 .astype("<i8").tobytes())
        second[i] = int.from_bytes(h.digest(), "little")
    return np.lexsort((second, hashes))


def _folds_cannot_teach(Y, groups: np.ndarray, options: AuditOptions,
                        folds: Callable[[], np.ndarray] | None = None,
                        ) -> tuple[tuple[str, tuple], DataError] | None:
    """Why cross-fitting cannot score this corpus, whatever its model: labelled
    documents of one text alone (the fold holding it, or every copy of it, has no model
    to score it with), or folds of the seed that put every labelled document in one
    (that fold's model has none to learn from). ``None`` where it can; else a short
    reason (a logging template naming parameters, and its values) and the refusal for an
    explicit ``scores='crossfit'``."""
    from tagsmith.pipeline.crossfit import fold_of_every_labelled, labelled_texts

    n_labelled, n_texts = labelled_texts(Y, groups)
    if n_texts >= 2:
        fold = fold_of_every_labelled(Y, *_folds_and_seed(options), groups,
                                      fold=None if folds is None else folds())
        if fold is None:
            return None
        every = "both" if n_labelled == 2 else f"all {n_labelled:,}"
        return (("the folds of seed %d put %s labelled documents in fold %d of n_folds %d",
                 (options.seed, every, fold + 1, options.n_folds)),
                # the caller's names (the command line's --seed and --scores knn,
                # audit_corpus's seed and scores): it said "--seed ... or --scores knn
                # (seed and scores in AuditOptions)" to both
                DataError(f"cross-fitting with seed {options.seed} puts {every} labelled "
                          f"documents in fold {fold + 1} of {options.n_folds}, which leaves "
                          "its fold model none to learn from; give another seed, more "
                          "labelled documents or scores knn (leave-one-out kNN, no folds)",
                          parameters=("seed", "scores")))
    has = ("1 labelled document" if n_labelled == 1 else
           f"{n_labelled:,} labelled documents, copies of one text")
    what = has if n_labelled == 1 else f"{has} (equal texts share a fold)"
    return (("the corpus has %s", (has,)),
            DataError(f"cross-fitting needs labelled documents of two texts at least, and "
                      f"the corpus has {what}: the fold holding it leaves its fold model no "
                      "labelled document to learn from; give more labelled documents or "
                      "scores knn (leave-one-out kNN, no folds)", parameters=("scores",)))


def _check_folds_teach(Y, groups: np.ndarray, options: AuditOptions,
                       corpus: str | None,
                       folds: Callable[[], np.ndarray] | None = None) -> None:
    """Cross-fitting needs labelled documents of two texts at least, whatever --folds
    or --seed, and folds of the seed that do not put every labelled document in one
    (:func:`_folds_cannot_teach`). Refused naming the corpus, as one too small for the
    folds is; the fold model's own refusal named a parameter 'Y' no command line has
    (exit code 2), and told to try fewer folds where --folds 2 is the fewest. Scores
    ``'auto'`` takes the kNN scores here instead (:func:`_choose_source`)."""
    cannot = _folds_cannot_teach(Y, groups, options, folds)
    if cannot is not None:
        error = cannot[1]
        raise DataError(error.reason, path=corpus, parameters=error.parameters)


def _scores_quality(Y, scores: AuditScores) -> dict:
    """How well the out-of-sample scores agree with the given labels (a sanity check)."""
    from tagsmith.audit.scores import given_p_at_1
    from tagsmith.metrics import recall_at_k

    p1 = given_p_at_1(Y, scores.topk)  # what cooccurrence="auto" maximises
    quality: dict = {"p@1_vs_given": p1, "r@10_vs_given": round(recall_at_k(Y, scores.topk, 10), 4),
               "min_p@1_vs_given": MIN_SCORES_P_AT_1}
    if p1 < MIN_SCORES_P_AT_1:
        quality["warning"] = LOW_SIGNAL_WARNING.format(p1=p1, threshold=MIN_SCORES_P_AT_1)
    return quality


def _rare_labels_note(n_given: np.ndarray, min_support: int, *,
                      heldout: bool = False) -> str | None:
    """A warning where more than :data:`MAX_SHARE_ON_RARE_LABELS` of the given labels
    (``n_given``: each label's documents) fall on labels given to fewer than
    ``min_support`` documents, else None. A corpus whose median label has 3 documents
    (20,000 YSO-indexed titles, 16,000 labels) was reported "at most 17.09% wrong and
    49.80% missing" with 8,397 labels flagged, and nothing said that scores learnt from
    a label's 3 documents cannot tell a wrong assignment from a rare one.
    ``heldout``: the scores are a bundle's predictions (scores ``'heldout'``), which
    learnt the labels from its own training documents: what is fitted on this corpus's
    few documents of a label is their calibration and the noise rates, and no larger
    corpus with the same labels is advised (a test split has none).

    >>> _rare_labels_note(np.array([3, 2, 40]), 20) is None
    True
    >>> print(_rare_labels_note(np.array([3, 2, 3, 0, 10]), 20))
    ... # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    18 of the 18 given labels (100.0%) are of labels given to fewer than 20 documents
    (the median label: 3 documents): ...
    """
    given = n_given[n_given > 0]
    total = int(given.sum())
    on_rare = int(given[given < min_support].sum())
    if not total or on_rare <= MAX_SHARE_ON_RARE_LABELS * total:
        return None
    median = float(np.median(given))
    head = (f"{on_rare:,} of the {total:,} given labels ({100 * on_rare / total:.1f}%) are "
            f"of labels given to fewer than {min_support} documents (the median label: "
            f"{median:g} document{'' if median == 1 else 's'}): ")
    if heldout:
        return (head + "the bundle's scores learnt such a label from its training "
                "documents, but their calibration and the noise rates are fitted on this "
                "corpus's few documents of it, so the noise rates, their bounds and the "
                "labels flagged say little of how well they were given; review the flagged "
                "labels by hand, or measure the error rate on a random review sample "
                f"({_review_sample_named()})")
    return (head + "the "
            "scores learn too little of such a label to tell a wrong or missing label from "
            "a rare one, so the noise rates, their bounds and the labels flagged say more "
            "of how rare the labels are than of how well they were given; audit a larger "
            "corpus with the same labels, review the flagged labels by hand, or measure "
            f"the error rate on a random review sample ({_review_sample_named()})")


def _review_sample_named() -> str:
    """How the notes name the random review sample: the command line's option, or the
    Python caller's parameter (:func:`tagsmith._surface.said`)."""
    return said("--review-sample N", "AuditOptions(review_sample=N)")


def _one_label_note(Y: LabelMatrix, paired: object, noise: dict,
                    single_label: bool | None, *, vocabulary: bool = True,
                    ordered: dict | None = None) -> str | None:
    """A note where every labelled document of ``Y`` carries exactly one label, over
    two labels or more, and the user did not say it is a catalogue (``single_label``
    True): None otherwise. One label a document is a catalogue's (one category a
    product) or a multi-label corpus's coded with each document's main label alone (a
    library's main subject), and the labels cannot tell the two apart. Read as a
    catalogue (``paired``: :func:`tagsmith.audit.detect.pair_single_label`'s counts),
    each flagged missing label flagged the given one wrong: Reuters-21578's training
    split kept to its first listed topic was flagged 15 wrong labels, every one a true
    label, 14 of them only as the other half of a missing one, and nothing said that a
    corpus coded so is audited with ``single_label`` False. Either way, its missing
    labels were left off by a rule, not at random: the missing-label bound read at most
    0.34% where 19% of the true labels were left off. ``vocabulary`` False: the label
    space was derived from the corpus, and a label never given as a document's one label
    is not in it (20 of Reuters' 90 topics, 133 of the labels left off), so a reviewer
    of the sample cannot add it: the note asks for the vocabulary. ``ordered``: the
    wrong rows :func:`tagsmith.audit.detect.order_one_label_wrong` put in order of the
    given label's score (``details["one_label_wrong_order"]``), which the note says, and
    that such a row may be a true label all the same.

    >>> Y = sp.csr_matrix(np.eye(3))
    >>> noise = {"n_flagged_wrong": 3}
    >>> print(_one_label_note(Y, {"n_wrong_added": 2}, noise, None))
    ... # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    every labelled document carries exactly one label (3 labels in use): the audit read
    the corpus as a single-label collection (a catalogue, one category a document) and
    flagged the given label wrong beside each missing label it flagged, as one move (2
    of the 3 wrong rows were flagged only so). If a document can carry several labels
    and was coded with its main one alone (a library's main subject), ...
    >>> for n in (1, 0):  # "0 of the 0 wrong rows", "1 of the 1 wrong row were"
    ...     note = _one_label_note(Y, {"n_wrong_added": n}, {"n_flagged_wrong": n}, None)
    ...     print(note.split("one move ")[1].split(".")[0])
    (1 of the 1 wrong row was flagged only so)
    (none flagged here)
    >>> _one_label_note(Y, {"n_wrong_added": 2}, noise, True) is None
    True
    >>> _one_label_note(sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 1]])), False, noise,
    ...                 None) is None
    True
    >>> print(_one_label_note(Y, False, noise, False)[:59])
    every labelled document carries exactly one label (3 labels
    >>> print(_one_label_note(Y, False, noise, None).split(". ")[-1])
    ... # doctest: +NORMALIZE_WHITESPACE
    If each document truly has one label (a catalogue, one category a document), audit
    it with AuditOptions(single_label=True), and this note is not given
    >>> "single_label=True" in _one_label_note(Y, False, noise, False)
    False
    """
    if single_label:
        return None
    # one label a document, the labels in use: the predicate the wrong-row order reads
    n_used = one_label_labels_in_use(Y)
    if n_used < 2:
        return None
    head = (f"every labelled document carries exactly one label ({n_used:,} labels in use)"
            ": ")
    rule = ("its labels were left off by a rule, not at random, and the missing-label "
            "rates and bound count only labels missing at random: they can read far under "
            "the labels so left off (Reuters-21578 kept to each story's first topic: "
            "bounded at 0.34% missing, where 19% of the true labels were left off); measure "
            f"how many on a random review sample ({_review_sample_named()}, each drawn "
            "document's every label decided and the labels it lacks added, then "
            f"{said('tagsmith estimate-noise', 'tagsmith.audit.sample.estimate_from_sample')})")
    if not vocabulary:
        rule += (f"; give the vocabulary ({said('--vocab', 'load_vocabulary')}): without "
                 "it the label space is the "
                 "corpus's own, and a label never given as a document's one label is in "
                 "none of it, nor can a reviewer add it")
    # a true catalogue got this note on every audit under auto, and nothing said how
    # to state it as one (which drops the note)
    silence = ("" if single_label is not None else
               ". If each document truly has one label (a catalogue, one category a "
               "document), audit it with "
               + said("--single-label yes (single_label=True)",
                      "AuditOptions(single_label=True)")
               + ", and this note is not given")
    if not isinstance(paired, dict):
        wrong = ""
        if ordered and ordered.get("n_rows"):
            n = int(ordered["n_rows"])
            wrong = (f"; its {n:,} wrong row{plural_s(n)} {'is' if n == 1 else 'are'} in "
                     "order of the given label's own score (model_score, lowest first"
                     + (", the LLM's least confident rows interleaved among them"
                        if ordered.get("interleaved") else "") + "), "
                     "not of the error probability, which weighs each label's estimated "
                     "wrong rate and put first the labels often a document's main one of "
                     "several: a model learnt from one label a document reads a second "
                     "subject as evidence against the first, so a wrong row may be a true "
                     "label all the same (Reuters-21578 kept to each story's first topic "
                     "gave 23 wrong rows, every one a true topic; with 2% of its topics "
                     "replaced at random, 0.97 of the first 100 wrong rows were replaced "
                     "ones, 0.70 in the error probability's order)")
        return head + "if a document can carry several labels and was coded with its " \
            "main one alone (a library's main subject), " + rule + wrong + silence
    n_wrong = int(noise.get("n_flagged_wrong", 0))
    added = int(paired.get("n_wrong_added", 0))
    # said "0 of the 0 wrong rows" where nothing was flagged, "1 wrong row were"
    counted = (f"{added:,} of the {n_wrong:,} wrong row{plural_s(n_wrong)} "
               f"{'was' if added == 1 else 'were'} flagged only so" if n_wrong
               else "none flagged here")
    return (head + "the audit read the corpus as a single-label collection (a catalogue, "
            "one category a document) and flagged the given label wrong beside each "
            f"missing label it flagged, as one move ({counted}). If a document can carry "
            "several labels and was coded with its main one alone (a library's main "
            "subject), its given label is not in doubt: audit again with "
            f"{said('--single-label no (single_label=False)', 'AuditOptions(single_label=False)')}"
            ", where a missing row is a label to add beside it; "
            "and " + rule + silence)


def _small_corpus_note(texts: dict, bounds: dict | None, *, heldout: bool = False,
                       rare: bool = False) -> str | None:
    """A warning where the labelled documents have fewer than :data:`SMALL_CORPUS_TEXTS`
    distinct texts (``texts``: :func:`tagsmith.audit.detect.few_texts`'s record) and a
    noise-rate bound (``bounds``: the noise section's, None where withheld or absent) is
    at least :data:`SMALL_CORPUS_WIDE_BOUND`, else None; none where the few-texts warning
    already says the figures are not informative, nor where the rare-labels one (``rare``:
    :func:`_rare_labels_note` gave one) says they say more of how rare the labels are,
    nor for ``heldout`` scores (a bundle's, learnt from its own training documents).
    500 GoEmotions comments, 5% wrong and 10% missing labels planted, were reported "at
    most 53.90% wrong and 70.21% missing" with 155 wrong labels flagged (21 of them
    planted), and nothing said that on so few documents such figures may say more of the
    scores than of the errors.

    >>> wide = {"wrong_rate": 0.539, "missing_rate": 0.702}
    >>> _small_corpus_note({"n_distinct_labelled_texts": 6000}, wide) is None
    True
    >>> _small_corpus_note({"n_distinct_labelled_texts": 40, "warning": "40 ..."}, wide) is None
    True
    >>> _small_corpus_note({"n_distinct_labelled_texts": 1000},
    ...                    {"wrong_rate": 0.141, "missing_rate": 0.139}) is None
    True
    >>> small = {"n_distinct_labelled_texts": 458}
    >>> _small_corpus_note(small, wide, heldout=True), _small_corpus_note(small, wide, rare=True)
    (None, None)
    >>> print(_small_corpus_note({"n_distinct_labelled_texts": 458}, wide))
    ... # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    458 distinct labelled texts, fewer than 5,000, bounded at 53.90% wrong and 70.20%
    missing labels: ...
    """
    n_texts = texts.get("n_distinct_labelled_texts", 0)
    if heldout or rare or texts.get("warning") or n_texts >= SMALL_CORPUS_TEXTS or not bounds \
            or max(bounds["wrong_rate"], bounds["missing_rate"]) < SMALL_CORPUS_WIDE_BOUND:
        return None
    return (f"{n_texts:,} distinct labelled text{plural_s(n_texts)}, fewer than "
            f"{SMALL_CORPUS_TEXTS:,}, bounded at {100 * bounds['wrong_rate']:.2f}% wrong and "
            f"{100 * bounds['missing_rate']:.2f}% missing labels: bounds this wide on so few "
            "documents may say more of how poorly the scores learnt the labels than of the "
            "errors, and so may the flagged candidates (random GoEmotions slices of 500 to "
            "5,000 comments, 5% wrong and 10% missing labels planted, were bounded at "
            "24-55% wrong and 22-70% missing, and 10-34% of their flagged wrong labels were "
            "planted); review the queue most likely first, and measure the error rate on a "
            f"random review sample ({_review_sample_named()})")


def _withhold_bounds(noise: dict, quality: dict) -> dict:
    """``noise`` with its mixture bounds withheld where they cannot support an "at most":
    from scores that carry little signal (P@1 below ``MIN_SCORES_P_AT_1``: 1,000 GoEmotions
    texts given random labels, about 95% of them wrong, were bounded at 4% wrong, and at
    72% once the stacking no longer saw which pairs were given) or when one of them
    reaches ``MAX_INFORMATIVE_BOUND``. Then ``bounds`` is None, ``withheld_bounds`` holds
    them and ``bounds_note`` says why (None when the bounds stand or there are none).

    >>> noise = _withhold_bounds({"bounds": {"wrong_rate": 0.9, "missing_rate": 0.2}},
    ...                          {"p@1_vs_given": 0.5})
    >>> noise["bounds"], noise["bounds_note"].split(": ")[1]
    (None, 'one reads 80% or more')
    """
    bounds = noise.get("bounds")
    reason = None
    if bounds and quality["p@1_vs_given"] < MIN_SCORES_P_AT_1:
        reason = (f"the scores carry little signal (out-of-sample P@1 "
                  f"{quality['p@1_vs_given']:.3f} < {MIN_SCORES_P_AT_1}), and bounds from such "
                  "scores can read under the true rates")
    elif bounds and max(bounds["wrong_rate"], bounds["missing_rate"]) >= MAX_INFORMATIVE_BOUND:
        reason = f"one reads {100 * MAX_INFORMATIVE_BOUND:.0f}% or more"
    if bounds is None or reason is None:
        return {**noise, "bounds_note": None}
    note = (f"the noise-rate bounds (at most {100 * bounds['wrong_rate']:.2f}% wrong and "
            f"{100 * bounds['missing_rate']:.2f}% missing labels) are not informative: {reason}")
    return {**noise, "bounds": None, "withheld_bounds": bounds, "bounds_note": note}


def _unknown(counter: Counter | None, vocabulary: bool = True) -> dict:
    counter = counter or Counter()
    return {"vocabulary": bool(vocabulary),
            "n_occurrences": int(sum(counter.values())), "n_distinct": len(counter),
            "examples": [{"key": key, "count": int(n)} for key, n in counter.most_common(20)]}


def _short(row: dict, space: LabelSpace, lang: str) -> dict:
    """A review row as the report shows it: the text shortened (``text_shortened`` where
    it was), and the language tag of each name shown (``label_name_lang``,
    ``given_names_langs``; ``None``: the URI)."""
    text = " ".join(row["text"].split())
    # said, so the page can say its texts are not the whole ones the queue holds
    return {**row, "text": clip(text, 200, collapse=False),  # collapsed above
            "text_shortened": len(text) > 200,
            "label_name_lang": space.name_and_language(space.id_of(row["label_uri"]), lang)[1],
            "given_names_langs": [space.name_and_language(space.id_of(uri), lang)[1]
                                  for uri in row["given_labels"]]}


@dataclass
class AuditCorpus:
    """A corpus read for an audit: texts, labels, where each document is, and what the
    reader dropped (``unknown_labels``: label keys not in the vocabulary, counted)."""

    texts: list[str]
    Y: sp.csr_matrix
    lines: list[int]
    #: a document's id (None without one), each given once (:class:`_UniqueIds`)
    doc_ids: Sequence[str | None]
    unknown_labels: Counter
    n_skipped_lines: int
    #: the first skipped lines as ``(line, reason)`` (``--on-error skip``)
    skipped_lines: list[tuple[int | None, str]] = field(default_factory=list)
    on_error: str = "fail"
    #: how many of the skipped were a folder's files deleted after it was listed, which
    #: are no malformed lines (:class:`~tagsmith.data.readers.FileGoneError`)
    n_missing_files: int = 0
    #: what the first unknown key found to be one is instead, where it is (a name in
    #: another case, part of a name split at its spaces), for the audit's last lines
    unknown_hint: str | None = None
    #: the given labels' confidences (Y's pattern, a JSONL line's ``scores`` beside its
    #: ``labels``: label's output; 1 where a line has none), where any line has scores
    #: and :func:`read_audit_corpus` was asked for them (``confidences=True``); else None
    confidences: sp.csr_matrix | None = None

    def __repr__(self) -> str:
        # the dataclass repr printed every text, line and id (megabytes for a real corpus)
        return (f"AuditCorpus(n_docs={len(self.texts)}, n_labels={self.Y.shape[1]}, "
                f"n_assignments={self.Y.nnz}, "
                f"n_unknown_labels={sum(self.unknown_labels.values())}, "
                f"n_skipped_lines={self.n_skipped_lines}, on_error={self.on_error!r})")


#: skipped lines listed in the report (all are counted)
MAX_SKIPPED_SHOWN = 20


def read_summary(corpora: dict[str, AuditCorpus], on_error: str) -> dict:
    """How the audited files were read, for the report: the ``on_error`` policy (which
    ``apply-review`` must be given too), how many malformed lines were skipped (and of
    them, ``n_missing_files``, a folder's files gone missing) and the first
    :data:`MAX_SKIPPED_SHOWN` as ``file``, ``line``, ``reason``."""
    skipped = [{"file": str(path), "line": line, "reason": reason}
               for path, data in corpora.items() for line, reason in data.skipped_lines]
    return {"on_error": on_error,
            "n_skipped_lines": sum(data.n_skipped_lines for data in corpora.values()),
            "n_missing_files": sum(data.n_missing_files for data in corpora.values()),
            "skipped_lines": skipped[:MAX_SKIPPED_SHOWN]}


def _no_documents(data: AuditCorpus, path: str | Path, what: str) -> DataError:
    """The error refusing ``data``, read from ``path``, that holds no document: ``what``,
    the lines skipped and the first of them."""
    from tagsmith.data.readers import no_documents

    # the first skipped line says what the lines were (-q hides the warning); its
    # reason is a malformed line's where no file went missing
    first = (data.skipped_lines[0] if data.skipped_lines and not data.n_missing_files
             else None)
    return no_documents(path, data.n_skipped_lines, data.n_missing_files, first, what=what)


def check_split_corpus(data: AuditCorpus, *, name: str, path: str | Path) -> None:
    """Fail with a :class:`DataError` naming the file when the split ``name``'s ``data``
    (``audit --split NAME=PATH``) has no document to check for leakage: every line of it
    skipped was said without the first one and why, which only a warning said."""
    if not data.texts:
        raise _no_documents(data, path, f"no documents in the split {name!r} (--split "
                                        f"{name}=...) to check for leakage")


def check_audit_corpus(data: AuditCorpus, *, corpus: str | Path,
                       vocab: str | Path | None = None,
                       label_space: LabelSpace | DerivingLabels | None = None) -> None:
    """Fail with a :class:`DataError` naming the files when ``data`` (read from
    ``corpus`` with the labels of ``vocab``, ``label_space``) has no document or no label
    to audit; where none of its labels is known and they are numbers and the
    vocabulary's keys words (or the other way), the error says so
    (:func:`number_mismatch`)."""
    if not data.texts:
        raise _no_documents(data, corpus, "no documents to audit")
    # a folder whose documents have no label file beside them, or a CSV column named
    # 'tags', reads as no labels at all: the error says where labels go
    # an in-memory corpus (Corpus.source "<memory>") has no file layout to follow: its
    # labels are Y's entries
    layout = ("give Y a nonzero entry at each document's labels (row i for texts[i], "
              "column j for the label space's label j)" if str(corpus) == "<memory>"
              else label_layout(corpus))
    unlabelled = (f"no document has a label ({len(data.texts):,} "
                  f"document{plural_s(len(data.texts))}); an audit needs labelled "
                  f"documents: {layout}")
    if data.Y.shape[1] == 0:
        if vocab:
            raise DataError("the vocabulary has no labels", path=vocab)
        raise DataError(unlabelled, path=corpus)
    n_unknown = sum(data.unknown_labels.values())
    if data.Y.nnz:
        _refuse_all_blank(data.texts, corpus)
        if n_unknown > data.Y.nnz:
            _warn_mostly_unknown(data, n_unknown, corpus, vocab)
        return
    if n_unknown:
        key, count = data.unknown_labels.most_common(1)[0]
        none = (f"none of its {n_unknown:,} label occurrences are" if n_unknown > 1
                else "its one label occurrence is not")
        mismatch = number_mismatch(data.unknown_labels, label_space)
        if mismatch:
            raise DataError(f"{none} in {vocab or 'the vocabulary'}: {mismatch}"
                            + (f"; {data.unknown_hint}" if data.unknown_hint else ""),
                            path=corpus)
        raise DataError(f"{none} in {vocab or 'the vocabulary'} (most often {key!r} "
                        f"x{count:,}); is it the vocabulary of this corpus?", path=corpus)
    raise DataError(unlabelled, path=corpus)


def _whole_number(key: str) -> bool:
    key = key.strip()
    if key.startswith("<") and key.endswith(">"):
        key = key[1:-1].strip()
    return key.isascii() and key.isdigit()


def number_mismatch(unknown: Counter, label_space: object) -> str:
    """Where none of a corpus's labels is in ``label_space``: that its labels (the
    distinct ``unknown`` keys) are all whole numbers where no key or notation of the
    vocabulary is one, or the other way round, with two examples of each side; ``""``
    otherwise. A list of words given for a corpus of numbered labels was told only that
    none of its label occurrences were in it.

    >>> words = LabelSpace.from_uris(["joy", "anger", "fear"])
    >>> number_mismatch(Counter({"5": 2, "12": 1}), words)[:82]
    "the corpus's labels look like numbers ('5', '12'), the vocabulary's keys are words"
    >>> number_mismatch(Counter({"5": 2, "joy ish": 1}), words)
    ''
    >>> number_mismatch(Counter({"joie": 1}), LabelSpace.from_uris(["1", "2"]))[:60]
    "the corpus's labels are words ('joie'), the vocabulary's key"
    """
    from tagsmith._plural import NAME_LIMIT

    if not unknown or not isinstance(label_space, LabelSpace) or not len(label_space):
        return ""

    def shown(keys: Sequence[str]) -> str:
        return ", ".join(repr(clip(key, NAME_LIMIT)) for key in keys)

    corpus_keys = [key for key, _ in unknown.most_common(2)]
    vocab_keys = [label.uri for label, _ in zip(label_space, range(2), strict=False)]
    numbered = [_whole_number(key) for key in unknown]
    vocab_numbered = [_whole_number(label.uri)
                      or (label.notation is not None and _whole_number(label.notation))
                      for label in label_space]
    if all(numbered) and not any(vocab_numbered):
        return (f"the corpus's labels look like numbers ({shown(corpus_keys)}), the "
                f"vocabulary's keys are words ({shown(vocab_keys)}): a corpus naming its "
                "labels by number needs a vocabulary holding those numbers, as keys or "
                "as notations (a TSV's third column)")
    if not any(numbered) and all(vocab_numbered):
        return (f"the corpus's labels are words ({shown(corpus_keys)}), the "
                f"vocabulary's keys look like numbers ({shown(vocab_keys)}): a corpus "
                "naming its labels by name needs a vocabulary giving those names (a "
                "TSV's second column)")
    return ""


def _warn_mostly_unknown(data: AuditCorpus, n_unknown: int, corpus: str | Path,
                         vocab: str | Path | None) -> None:
    """Warn once that most of ``corpus``'s label occurrences are not in ``vocab``: the
    audit goes on (none known is refused, :func:`check_audit_corpus`) over a corpus
    stripped of them, its missing-label figures counting the labels it could not read
    (a CSV of one intent a cell, "Billing issue", read as 'Billing' and 'issue', was
    audited "83% missing" with nothing saying the figures were meaningless); ``train``
    and ``eval`` refuse the first unknown label unless told to skip them."""
    total = n_unknown + data.Y.nnz
    key, count = data.unknown_labels.most_common(1)[0]
    logger.warning(
        "%s: %s of its %s label occurrences (%d%%) are not in %s (most often %r x%s) "
        "and are left out: the audit describes a corpus stripped of them, its missing "
        "and wrong labels mostly of its reading, not of its tagging; %s",
        # 999 of 1,000 read "100%", as if none were known: never rounded up to 100
        corpus, f"{n_unknown:,}", f"{total:,}", _percent(n_unknown, total),
        vocab or "the vocabulary", key, f"{count:,}",
        data.unknown_hint or "is it the vocabulary of this corpus, and are its labels "
        "written as that vocabulary names them?")


def _refuse_all_blank(texts: Sequence[str], corpus: str | Path | None) -> None:
    """Refuse a corpus whose every text is blank, as train and label refuse one: the
    audit reported "estimated 0.00% wrong" (a figure that measured nothing) after warning
    of 0 distinct texts."""
    from tagsmith.data.readers import refuse_all_blank

    refuse_all_blank(texts, corpus, "audit, a blank text carries no evidence")


def read_audit_corpus(path: str | Path, label_space: LabelSpace | DerivingLabels, *,
                      on_error: str = "fail", confidences: bool = False) -> AuditCorpus:
    """Read a corpus keeping line numbers; unknown labels are counted, not fatal.

    ``confidences``: read each JSONL line's ``scores`` beside its labels (label's
    output) into :attr:`AuditCorpus.confidences`, for ``label_confidence``; off (the
    default), they are not read (a dict per line and a matrix of them, held for
    nothing by every audit of label's output without the option)."""
    from tagsmith.audit.review import check_unique_id
    from tagsmith.data.corpus import ReadReport, detect_format, labels_matrix
    from tagsmith.data.document import Document
    from tagsmith.data.ids import FirstSeen
    from tagsmith.data.readers import read_records

    if not isinstance(path, str | os.PathLike):  # a Corpus was a TypeError from pathlib
        raise InvalidParameterError(
            "path", "a corpus file or folder (str or Path); documents in memory are "
            "audited by audit_corpus(texts, Y, label_space)", type(path).__name__)
    on_error = check_choice("on_error", on_error, ("fail", "skip"))
    report = ReadReport(source=str(path))
    policy = report.skip_line if on_error == "skip" else "fail"
    form = detect_format(path)
    # a cell split at its spaces: a label name read as its words (not a JSONL list)
    split, folder = form not in ("jsonl", "dir"), form == "dir"
    texts, lines, doc_ids, docs = [], [], [], []
    # each document's labels' confidences (label's output: 'scores' beside 'labels'),
    # None for a document without; kept only where some document has them
    scores_read: list[dict[int, float] | None] = []
    # lines whose 'scores' could not be read (NaN, outside [0, 1], not one per label):
    # how many, and the first one's number, for one warning
    bad_scores: list[int] = [0, 0]
    id_lines = FirstSeen[int]()  # each document id and the line it is first given on
    for record in read_records(path, on_error=policy):
        check_unique_id(id_lines, record, path)
        scored = _record_scores(record) if confidences else None
        if isinstance(scored, str):  # "invalid"
            bad_scores[0] += 1
            bad_scores[1] = bad_scores[1] or record.line
            scored = None
        ids = []
        # a key written twice on one line is one label of the document, as a known one
        # (its id is kept once): counted twice, "labels missing from the vocabulary"
        # overstated how many label assignments the vocabulary lacks
        for key in dict.fromkeys(record.labels):
            try:
                label_id = label_space.lookup(key)
            except AmbiguousLabelError:  # a name several concepts share: not resolved
                report.add_unknown(key, ambiguous=True)
                continue
            if label_id is None:
                report.add_unknown(key)
                if report.hint_wanted(key):
                    # not for each skipped key (its "line N" built to be turned away),
                    # as Corpus does: an audit of another vocabulary's corpus skips
                    # hundreds of thousands
                    report.look_for_hint(key, record, label_space, split=split,
                                         csv_cell=form == "csv",
                                         where=record.source if folder
                                         else f"line {record.line}")
            else:
                ids.append(label_id)
                if scored is not None and key in scored[0]:
                    scored[1].setdefault(label_id, scored[0][key])
        if confidences:
            scores_read.append(None if scored is None else scored[1])
        texts.append(record.text)
        lines.append(record.line)
        doc_ids.append(record.doc_id)
        docs.append(Document(record.text, tuple(dict.fromkeys(ids))))
        report.add_doc(docs[-1])
    if report.has_skips:
        logger.warning("%s", report.summary())
    if bad_scores[0]:
        # they were dropped silently, the line's labels then read as certain
        logger.warning(
            "%s: %d line(s) with 'scores' that cannot be read beside their labels (NaN, "
            "outside [0, 1], not a number, or not one score per label), first on line %d: "
            "their labels' confidences are read as unknown (as a line without scores)",
            path, bad_scores[0],
            bad_scores[1])
    check_not_a_vocabulary(texts, path)  # as training and evaluation refuse one
    Y = labels_matrix(docs, len(label_space))
    return AuditCorpus(texts, Y, lines, _UniqueIds(doc_ids),
                       report.unknown_labels, report.n_skipped_lines,
                       list(report.skipped_lines), on_error, report.n_missing_files,
                       report.shown_hint(),
                       _confidence_matrix(Y, scores_read) if confidences else None)


def _record_scores(record) -> tuple[dict[str, float], dict[int, float]] | str | None:
    """A JSONL line's ``scores``, one per label (label's output), as ``({key: score},
    {})`` (the second filled with the labels' ids as they are read); None where the
    line has none (a corpus of the user's own); ``"invalid"`` where its ``scores`` is
    not one number in [0, 1] per label (NaN, out of range, a bool, another length: the
    line's labels read as given, as without scores, and counted in a warning). A label
    the line's ``added_by_review`` names (:data:`tagsmith.audit.REVIEW_MARK`: a
    person added it, scoring 1.0) or its ``kept_by_review`` (:data:`tagsmith.audit.KEPT_MARK`:
    a person kept it, rejecting a *wrong* row) has no score here: its confidence is
    unknown, a person's decision, not an LLM's stated 1.0 or its doubt; a mark that is not a list
    of keys is refused (:class:`~tagsmith.exceptions.DataError` naming the file and
    line), as ``apply-review`` refuses it."""
    scores = record.metadata.get("scores") if record.metadata else None
    if scores is None:
        return None
    # a review's decision, not the LLM's certainty (read so, a reviewed label's 1.0 was
    # the LLM's surest in the next audit's --label-confidence). A mark that is not a
    # list of keys is refused naming its line, on a line whose scores are one per label,
    # as apply-review refuses it there: the audit warned and read the line's labels as
    # unscored, so one file was audited and refused by the review that followed
    # the labels a person kept (KEPT_MARK, a wrong row rejected) too: read as the LLM's
    # low score, a label a reviewer had just confirmed was among the least confident
    # again in the next audit (without --reviewed)
    marked = [record.metadata.get(REVIEW_MARK), record.metadata.get(KEPT_MARK)]
    if marked != [None, None] and isinstance(scores, list) \
            and len(scores) == len(record.labels):
        from tagsmith.audit.review import review_mark

        marked = [review_mark(record), review_mark(record, KEPT_MARK)]
    if not isinstance(scores, list) or len(scores) != len(record.labels) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x <= 1
            for x in scores):
        return "invalid"
    reviewed = {k.strip() for keys in marked if keys for k in keys}
    by_key: dict[str, float] = {}
    for key, score in zip(record.labels, scores, strict=True):
        if key.strip() not in reviewed:
            by_key.setdefault(key.strip(), float(score))
    return by_key, {}


#: the warning of ``label_confidence`` where no given label's confidence is below 1
_NO_CONFIDENCE_BELOW_1 = (
    "label_confidence: no given label carries a confidence below 1 (Y is 0/1, or every "
    "stated confidence is 1.0), so the ranking is the audit's own; label's output carries "
    "the LLM's confidences (in Y, a value of exactly 1 is no stated confidence: an LLM's "
    "stated 1.0 is tagsmith.audit.detect.STATED_CERTAIN, as read_audit_corpus(..., "
    "confidences=True) reads it)")
#: its command line's wording (``audit --label-confidence``, a label output's lines)
_NO_CONFIDENCE_BELOW_1_CLI = (
    "--label-confidence: no given label carries a confidence below 1 (every line's scores "
    "are 1.0, or its lines have none), so the ranking is the audit's own")


def _unstated_confidence_message(n_unstated: int, n_given: int) -> str:
    """The warning of ``label_confidence`` on given labels without a stated confidence
    (exactly 1 in ``Y``). It named a line without scores and a 1.0 passed as it is, not
    the labels ``apply-review`` added (``added_by_review``), read so by
    :func:`read_audit_corpus`: after a review every such audit warned of them with a
    cause that was not theirs.

    >>> _unstated_confidence_message(3, 10)[:80]
    'label_confidence: 3 of the 10 given labels are exactly 1 in Y, no stated confide'

    While a command runs (:func:`tagsmith._surface.said`): the command line's wording, of
    a label output's lines (it spoke of ``Y`` and ``STATED_CERTAIN``, which the command
    has no way to pass; its reader reads a stated 1.0 as stated).

    >>> from tagsmith._surface import command_line
    >>> with command_line():
    ...     _unstated_confidence_message(3, 10)[:71]
    '--label-confidence: 3 of the 10 given labels have no stated confidence '
    """
    return said(
        f"--label-confidence: {n_unstated:,} of the {n_given:,} given labels have "
        "no stated confidence (on a line without scores, or added or kept by "
        "apply-review: its line's added_by_review or kept_by_review): their wrong "
        "candidates keep the audit's probability and are left out of the mean",
        f"label_confidence: {n_unstated:,} of the {n_given:,} given labels are "
        "exactly 1 in Y, no stated confidence (a line without scores in label's "
        "output, a label apply-review added (its line's added_by_review) or a person "
        "kept (kept_by_review), or a 1.0 "
        "passed as it is): their wrong candidates keep the audit's probability and are "
        "left out of the mean; an LLM's stated 1.0 is "
        "tagsmith.audit.detect.STATED_CERTAIN (read_audit_corpus(..., "
        "confidences=True) reads it so)")


def _float32_confidences(Y: sp.csr_matrix) -> sp.csr_matrix:
    """``Y`` (given labels' confidences) as float32 for the blend, a confidence strictly
    between 0 and 1 kept so: float32 rounded 0.99999999 (an LLM's log-probability near 0)
    to exactly 1, which the blend reads as no stated confidence
    (:data:`tagsmith.audit.detect.UNKNOWN_CONFIDENCE`), and 1e-50 to 0, none given."""
    out = Y.astype(np.float32)
    soft = (Y.data > 0) & (Y.data < 1)
    out.data[soft] = np.clip(out.data[soft], np.finfo(np.float32).tiny, STATED_CERTAIN)
    return out


def _confidence_matrix(Y: sp.csr_matrix,
                       confidences: list[dict[int, float] | None]) -> sp.csr_matrix | None:
    """``Y``'s pattern with each given label's confidence (exactly 1 where its line had
    none: unknown to the blend, :data:`tagsmith.audit.detect.UNKNOWN_CONFIDENCE`; a stated
    1.0 is the largest float32 below 1);
    None where no line had scores. A score of 0 beside a label (the LLM's least
    confidence; label itself writes 1e-4 at least) is kept as the smallest positive
    float32, a sparse entry still: it was read as 1, the label taken as certain."""
    if all(c is None for c in confidences):
        return None
    Y = sp.csr_matrix(Y, dtype=np.float32)
    Y.sort_indices()
    data = np.ones(Y.nnz, dtype=np.float32)
    # each scored (document, label) found among Y's sorted keys at once: a Python loop
    # over every given label of every scored line looked each up in its dict
    docs = [doc for doc, scored in enumerate(confidences) if scored
            for _ in range(len(scored))]
    if docs:
        labels = [label for scored in confidences if scored for label in scored]
        values = np.array([v for scored in confidences if scored for v in scored.values()],
                          dtype=np.float64)
        n_labels = np.int64(Y.shape[1])
        keys = np.repeat(np.arange(Y.shape[0], dtype=np.int64), np.diff(Y.indptr)) \
            * n_labels + Y.indices
        # every scored label is one of its document's (read off the same line's ids)
        at = np.searchsorted(keys, np.asarray(docs, np.int64) * n_labels
                             + np.asarray(labels, np.int64))
        # a stated 1.0 (an LLM certain) just below 1: exactly 1 is no stated confidence
        # (the lines without scores above), which the blend reads as unknown
        data[at] = np.where(values > 0, np.minimum(values, STATED_CERTAIN),
                            np.finfo(np.float32).tiny)
    return sp.csr_matrix((data, Y.indices.copy(), Y.indptr.copy()), shape=Y.shape)
