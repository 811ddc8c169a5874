"""Distillation: train a fast tagsmith model on the LLM's soft labels.

:func:`distill_classifier` trains any model family on soft targets (``Y`` in (0, 1],
e.g. confidences scaled by the teacher's per-label reliability) and reports agreement
with the teacher on held-out teacher-labelled documents and, where human labels exist,
accuracy against them.

:func:`active_distill` spends a budget of teacher calls in rounds: a first random batch,
then each round the current student scores the unlabelled pool and the next batch is
chosen by ``strategy`` (``robust``: robust active distillation, ``uncertainty``,
``random``; see :mod:`tagsmith.labeling.selection`), sent to the LLM, and the student is
retrained on everything labelled so far. Features are fitted once on the whole pool
(unsupervised); thresholds are tuned on out-of-fold scores of the labelled documents
against the teacher's labels.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import (
    check_at_construction,
    check_bool,
    check_choice,
    check_fraction,
    check_int,
    check_number,
    check_options,
)
from tagsmith._plural import NAME_LIMIT, and_more, clip, none_of, plural, plural_s
from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.calibration.thresholds import Thresholds, tune_thresholds
from tagsmith.data.labelspace import LabelSpace, check_label_space, check_label_table
from tagsmith.data.textio import check_no_lone_surrogate
from tagsmith.exceptions import (
    InvalidParameterError,
    NoTeacherAnswersError,
    TeacherFailedError,
)
from tagsmith.features.tfidf import TfidfFeaturizer, _as_list
from tagsmith.models import check_model_params, make_model
from tagsmith.models.base import check_groups
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.evaluate import evaluate_classifier
from tagsmith.pipeline.train import (
    TrainOptions,
    _label_features,
    _warn_linear_at_scale,
    duplicate_groups,
    label_support,
    labels_used,
    text_hashes,
    train_classifier,
)
from tagsmith.topk import TopK

if TYPE_CHECKING:
    from tagsmith.labeling.client import LLMClient
    from tagsmith.labeling.labeler import LabelingOptions, LabelingReport, LLMLabels
    from tagsmith.labeling.reliability import Reliability

logger = logging.getLogger("tagsmith")

#: ``teacher(indices) -> soft targets (len(indices) x n_labels CSR), answered mask``
Teacher = Callable[[np.ndarray], tuple[sp.csr_matrix, np.ndarray]]


def distill_classifier(texts: Iterable[str], Y_soft: LabelMatrix | LLMLabels,
                       label_space: LabelSpace, *,
                       options: TrainOptions | None = None,
                       human_texts: Iterable[str] | None = None,
                       human_Y: LabelMatrix | None = None,
                       human_name: str = "human_texts",
                       human_source: str = "the human sample", lang: str = "en",
                       reliability: Reliability | None = None,
                       _starved_remedy: str | None = None
                       ) -> tuple[TextClassifier, dict]:
    """Train on soft targets; report teacher agreement (held out) and human accuracy.

    ``Y_soft``: ``n_docs x n_labels`` with values in [0, 1]. Teacher agreement is the
    held-out report of training (a ``dev_fraction`` of the teacher-labelled documents,
    their named labels taken as truth). Human accuracy is measured on documents the
    student is not trained on: a human sample at least half made of the
    teacher-labelled ``texts`` is refused before training (parameter ``human_name``,
    e.g. the CLI's ``--human``; ``human_source`` names its documents), a smaller
    overlap draws a warning (as held-out data does everywhere,
    :func:`~tagsmith.pipeline.train.check_overlap`). A human sample naming no label
    (``human_Y`` all zeros, nothing to measure accuracy against) is refused before
    training, as :class:`~tagsmith.exceptions.InvalidParameterError` naming ``human_Y``.
    ``lang``: the language the training's warnings name labels in (``distill --lang``),
    as :func:`~tagsmith.pipeline.train.train_classifier` takes it.

    ``Y_soft`` may be the :class:`~tagsmith.labeling.labeler.LLMLabels` of
    ``label_documents(texts, ...)``: its documents no answer labelled (``answered``
    False: refused, failed, malformed) are left out, as ``distill`` leaves out their
    lines, and counted in the report's ``n_unanswered_left_out``. Its bare ``.Y`` trains
    on them as documents that have none of the labels.

    ``reliability``: the teacher's :class:`~tagsmith.labeling.reliability.Reliability`
    on a human sample (``estimate_reliability``; with votes, its ``minority`` too), which
    weighs each label by its precision as ``label --human`` writes its output
    (:meth:`~tagsmith.labeling.reliability.Reliability.soft_targets`; of an
    ``LLMLabels`` with votes, a label at most half the votes named by ``minority``).
    ``None``: the targets as given, as ``distill`` reads a ``label`` output made
    without ``--human``: with votes, a label one vote of 3 named is taken at the
    confidence the LLM gave it, as sure as one all 3 named.

    >>> space = LabelSpace.from_uris(["u:sport", "u:music"],
    ...                              names={"u:sport": "sport", "u:music": "music"})
    >>> texts = ["football match", "concert tonight", "football final", "a concert"] * 5
    >>> Y_soft = sp.csr_matrix(np.array([[0.9, 0.1], [0.0, 0.8], [1.0, 0.0], [0.2, 0.7]] * 5))
    >>> student, report = distill_classifier(texts, Y_soft, space, options=TrainOptions(
    ...     dev_fraction=0.0, featurizer_params={"char_ngrams": None, "min_df": 1}),
    ...     human_texts=["the football cup", "a concert hall"], human_Y=sp.identity(2))
    >>> student.predict_topk(["football tonight"], k=1).indices.tolist(), report["n_docs"]
    ([[0]], 20)
    >>> report["human_accuracy"]["p@1"]
    1.0
    """
    from tagsmith.data.texthash import hash_texts
    from tagsmith.labeling.labeler import LLMLabels
    from tagsmith.pipeline.train import check_overlap

    options = check_options("options", options, TrainOptions)
    # a vocabulary's path was taken by len() as that many labels
    label_space = check_label_space("label_space", label_space)
    _check_reliability(reliability, len(label_space))
    n_unanswered = None
    vote_share = None  # an LLMLabels' (with votes), on its answered documents
    if isinstance(Y_soft, LLMLabels):
        # a notebook's label_documents -> distill_classifier(texts, labelled.Y, ...)
        # trained on the documents the LLM refused or failed on as having no label (104
        # of 300 with a teacher refusing a third), where distill leaves their lines out
        texts = _as_list(texts)
        answered = np.asarray(Y_soft.answered, dtype=bool)
        if len(answered) != len(texts):
            raise InvalidParameterError("Y_soft", f"the LLMLabels of the {len(texts):,} "
                                        "texts", f"those of {len(answered):,} documents")
        n_unanswered = int(len(answered) - answered.sum())
        if texts and not answered.any():
            # "no training documents: the corpus is empty", of the texts given
            raise InvalidParameterError(
                "Y_soft", "the LLMLabels of documents the LLM answered",
                f"none of the {len(texts):,} answered (refused, failed or malformed: "
                "labelled.report says why); nothing to distil from")
        if n_unanswered:
            logger.warning("distilling from the %s of %s the LLM answered: %s left out",
                           f"{int(answered.sum()):,}", f"{len(texts):,} documents",
                           f"{n_unanswered:,} unanswered (refused, failed or malformed)")
        texts = [text for text, kept in zip(texts, answered, strict=True) if kept]
        if Y_soft.vote_share is not None:
            vote_share = sp.csr_matrix(Y_soft.vote_share)[answered]
        Y_soft = sp.csr_matrix(Y_soft.Y)[answered]
    check_label_table(Y_soft, label_space, "Y_soft", texts=texts)
    check_label_table(human_Y, label_space, "human_Y", texts=human_texts)
    texts = _as_list(texts)
    Y_soft = _check_soft(Y_soft, len(texts), len(label_space))
    if reliability is not None:
        # weighed as label --human writes its output: with votes (an LLMLabels' shares),
        # the labels few votes named by the minority's precision (the bare Y took them
        # as sure as the rest); after Y_soft's checks: a bad one (an LLMLabels' too) was
        # refused as soft_targets' 'Y_llm'
        Y_soft = sp.csr_matrix(reliability.soft_targets(Y_soft, vote_share=vote_share))
    human = _check_human(human_texts, human_Y, len(label_space))
    hashes = None
    if human is not None:  # the student's own training documents scored 'accuracy'
        # hashed once: training reads the same hashes (it hashed the corpus again)
        # (hashing failed on one as a bare UnicodeEncodeError naming no document)
        check_no_lone_surrogate(texts)
        check_no_lone_surrogate(human[0], "human_texts")
        hashes = hash_texts(texts)
        check_overlap(np.unique(hashes), human[0], name=human_name, source=human_source)
    # counted as the student learns: a target under LEARNT_TARGET (a label given at
    # 0.05) teaches it the label is unlikely there; every document counts, the held-out
    # ones too (the final student is refitted on them)
    starved = starved_labels(Y_soft, label_space, lang=lang, min_target=LEARNT_TARGET)
    # the CLI's distill passes its own words (DISTILL_STARVED_REMEDY)
    warn_starved(starved, len(texts), _starved_remedy or PY_DISTILL_STARVED_REMEDY,
                 min_target=LEARNT_TARGET)
    classifier = train_classifier(texts, Y_soft, label_space, options=options,
                                  _text_hashes=hashes, lang=lang)
    heldout = classifier.manifest["metrics"].get("heldout")
    report: dict = {"n_docs": len(texts), "n_soft_targets": int(Y_soft.nnz),
                    "teacher_agreement": heldout["metrics"] if heldout else None,
                    "starved_labels": starved,
                    # the target a positive was counted at (label --budget's records
                    # have the same shape and count at it too)
                    "starved_min_target": LEARNT_TARGET}
    if n_unanswered is not None:
        report["n_unanswered_left_out"] = n_unanswered
    if human is not None:
        # check_overlap above warned of the student's training documents already
        report["human_accuracy"] = evaluate_classifier(classifier, *human, source=None)
    classifier.manifest.setdefault("distillation", {}).update(
        {key: value for key, value in report.items() if key != "teacher_agreement"})
    return classifier, report


def _check_reliability(reliability: object, n_labels: int) -> None:
    """Refuse a ``reliability=`` that is not a :class:`Reliability` of ``n_labels``
    labels: a string failed as an AttributeError, and one of another label set was
    refused as soft_targets' ``'Y_llm'`` having the wrong number of columns."""
    if reliability is None:
        return
    from tagsmith.labeling.reliability import Reliability

    if not isinstance(reliability, Reliability):
        raise InvalidParameterError(
            "reliability", "a Reliability (estimate_reliability) or None",
            type(reliability).__name__)
    sizes = [len(reliability.precision)] + ([] if reliability.minority is None else
                                            [len(reliability.minority.precision)])
    n_rel = next((size for size in sizes if size != n_labels), None)
    if n_rel is not None:
        raise InvalidParameterError(
            "reliability", f"the teacher's reliability on the {n_labels:,} labels of "
            "label_space", f"one of {n_rel:,} labels")


def _check_soft(Y_soft, n_docs: int, n_labels: int) -> sp.csr_matrix:
    """The soft targets as float32 CSR (zeros dropped), checked before training.

    Text ('abc') failed as numpy's bare ValueError, and a wrong shape or a value
    outside [0, 1] was refused as ``Y``, a name ``distill_classifier`` does not have,
    after the features had been fitted.
    """
    from tagsmith.models.base import as_float32_csr

    expected = f"soft targets in [0, 1], a ({n_docs}, {n_labels}) matrix"
    Y = as_float32_csr(Y_soft, "Y_soft", expected, copy=True)
    if Y.shape != (n_docs, n_labels):
        raise InvalidParameterError("Y_soft", expected, f"shape {Y.shape}")
    if Y.nnz and not np.all((Y.data >= 0) & (Y.data <= 1)):  # NaN fails both
        raise InvalidParameterError("Y_soft", expected,
                                    f"{int(np.isnan(Y.data).sum())} NaN values"
                                    if np.isnan(Y.data).any()
                                    else f"range [{Y.data.min()}, {Y.data.max()}]")
    Y.eliminate_zeros()
    return Y


def _check_human(human_texts, human_Y, n_labels: int
                 ) -> tuple[list[str], sp.csr_matrix] | None:
    """The human sample as (texts, labels), checked before the student is trained.

    One of the two alone was ignored without a word (no human accuracy in the report),
    and labels with a row too many failed after training, naming ``y_true``.
    """
    if human_texts is None and human_Y is None:
        return None
    if human_texts is None or human_Y is None:
        given, missing = (("human_texts", "human_Y") if human_Y is None
                          else ("human_Y", "human_texts"))
        raise InvalidParameterError(missing, f"given with {given} (the human sample's "
                                    "texts and labels go together)", None)
    texts = _as_list(human_texts, "human_texts")
    try:
        labels = sp.csr_matrix(human_Y)
    except (TypeError, ValueError):
        raise InvalidParameterError("human_Y", "a documents x labels matrix",
                                    type(human_Y).__name__) from None
    if labels.shape != (len(texts), n_labels):
        raise InvalidParameterError("human_Y", f"labels of shape ({len(texts)}, {n_labels}) "
                                    "for human_texts", labels.shape)
    if labels.count_nonzero() == 0:
        # scored 0.0000 on every figure, as if the student were wrong everywhere, after
        # training; the CLI's --human refuses such a corpus first, naming its file
        n = len(texts)
        raise InvalidParameterError(
            "human_Y", "labels naming at least one label of the vocabulary (accuracy "
            "against a human sample naming none says nothing of the student)",
            f"{n:,} document{plural_s(n)}, " + plural(n, "naming no label", "none naming a label"))
    return texts, labels


@dataclass
class ActiveOptions:
    """How a labeling budget is spent (:func:`active_distill` has an example).

    >>> options = ActiveOptions(budget=200, rounds=4, initial_fraction=0.25)
    >>> options.validate(n_pool=5000); round_sizes(options.budget, options.rounds,
    ...                                             options.initial_fraction)
    [50, 50, 50, 50]
    >>> ActiveOptions(strategy="best").validate(n_pool=5000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tagsmith.exceptions.InvalidParameterError: parameter 'strategy' must be one of ...
    """

    budget: int = 1000
    strategy: str = "robust"
    rounds: int = 4
    initial_fraction: float = 0.25
    #: expected share of the teacher's answers that are wrong (for robust selection)
    teacher_error_rate: float = 0.2
    #: how many mistakes the adversary of the selection game makes: ``"batch"`` (k = rate
    #: x batch size, the mistakes the teacher is expected to make on what it is sent) or
    #: ``"pool"`` (k = rate x unlabelled pool, METHODS.md section 2: the adversary may put
    #: every mistake it could make anywhere onto the batch, which forces the selection to
    #: spread over more than k documents, close to random sampling). ``"batch"`` is the
    #: default because it did better on GoEmotions and Reuters (benchmarks/RESULTS.md)
    mistakes_scope: str = "batch"
    #: the teacher's per-label precision (``Reliability.precision``): robust selection
    #: then discounts each document's gain by the chance the teacher gets it wrong
    teacher_precision: np.ndarray | None = None
    gain: str = "margin"
    model: str = "linear"
    model_params: dict = field(default_factory=dict)
    featurizer_params: dict = field(default_factory=dict)
    threshold_folds: int = 3
    seed: int = 0
    #: progress lines while the pool's features are built (a minute of silence for
    #: 20,000 documents before the first teacher call was sent)
    show_progress: bool = False
    #: opt-in share of each round after the first spent on rare labels: the documents
    #: the student scores highest for the labels with fewest positives bought so far
    #: (1 to :data:`RARE_TARGET` - 1 of them), in turn, the fewest first; the rest of
    #: the round goes by ``strategy``. 0 (the default): none
    rare_share: float = 0.0
    #: with ``rare_share``: a label targeted this many rounds in a row none of whose
    #: documents the teacher gave it (at :data:`LEARNT_TARGET` or more) is targeted no
    #: more, the share spent on the other rare labels (on ``strategy`` where none is
    #: left). 0 (the default): every rare label is targeted every round, however often
    #: it was missed (a label the share keeps missing took its turn in every round)
    rare_give_up: int = 0

    def __post_init__(self) -> None:
        # a bad field is refused here, naming it, not where the options are used; the
        # budget against the pool it is spent on only then
        budget = check_int("budget", self.budget, 1, numpy=True)
        check_at_construction(self, budget)

    def validate(self, n_pool: int, n_labels: int | None = None) -> None:
        """Refuse a bad field before any feature is built or any teacher call is paid
        for; numpy numbers pass and are kept as plain Python ones (``budget`` is written
        to the student's manifest, JSON, and ``seed`` seeds numpy: -1 failed inside it).

        ``n_labels``, when given, is the length ``teacher_precision`` must have. The
        student's model, its parameters, ``gain`` and ``threshold_folds`` were first used
        after the teacher had answered a round (or all of them): they are checked here.
        """
        from tagsmith.labeling.selection import GAINS, STRATEGIES
        from tagsmith.pipeline.crossfit import check_n_folds
        from tagsmith.pipeline.train import _check_featurizer

        self.strategy = check_choice("strategy", self.strategy, STRATEGIES)
        expected = f"an integer in [1, {n_pool}] (the pool size)"
        try:
            budget = check_int("budget", self.budget, 1, numpy=True)
        except InvalidParameterError:
            raise InvalidParameterError("budget", expected, self.budget) from None
        if budget > n_pool:
            # a pool smaller than the default budget, with no budget given, was told
            # "got 1000" of a number the caller never wrote
            raise InvalidParameterError(
                "budget", expected, f"{budget} (ActiveOptions' default: give "
                "ActiveOptions(budget=N), the documents the teacher labels)"
                if budget == ActiveOptions.budget else budget)
        self.budget = budget
        self.rounds = check_int("rounds", self.rounds, 1, numpy=True)
        self.initial_fraction = check_number("initial_fraction", self.initial_fraction, 0,
                                             strict=True, maximum=1, numpy=True)
        self.mistakes_scope = check_choice("mistakes_scope", self.mistakes_scope,
                                           ("pool", "batch"))
        self.teacher_error_rate = check_fraction("teacher_error_rate",
                                                 self.teacher_error_rate, numpy=True)
        if self.teacher_precision is not None:
            self.teacher_precision = _check_precision(self.teacher_precision, n_labels)
        self.gain = check_choice("gain", self.gain, GAINS)
        check_model_params(self.model, self.model_params)  # names and values
        _check_featurizer("tfidf", self.featurizer_params)
        self.threshold_folds = check_n_folds("threshold_folds", self.threshold_folds)
        self.seed = check_int("seed", self.seed, 0, numpy=True)
        # "no" (truthy) turned the progress lines on, as LabelingOptions refuses it
        self.show_progress = check_bool("show_progress", self.show_progress)
        self.rare_share = check_fraction("rare_share", self.rare_share, numpy=True)
        self.rare_give_up = check_int("rare_give_up", self.rare_give_up, 0, numpy=True)
        if self.rare_give_up and not self.rare_share:
            # refused as label --rare-give-up without --rare-share is: from Python it was
            # silently ignored (no label is targeted, so none is ever given up)
            raise InvalidParameterError(
                "rare_give_up", "0 without rare_share (it gives up only the rare labels "
                "the share targets)", self.rare_give_up)


def _check_precision(precision, n_labels: int | None) -> np.ndarray:
    """The teacher's per-label precision as a float array of values in [0, 1]."""
    expected = "per-label values in [0, 1]" + ("" if n_labels is None
                                                else f", {n_labels:,} of them")
    try:
        values = np.asarray(precision, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError("teacher_precision", expected, precision) from None
    if values.ndim != 1 or n_labels is not None and len(values) != n_labels:
        raise InvalidParameterError("teacher_precision", expected, f"shape {values.shape}")
    if not np.all((values >= 0) & (values <= 1)):  # NaN fails both
        raise InvalidParameterError("teacher_precision", expected,
                                    f"range [{values.min()}, {values.max()}]")
    return values


@dataclass
class ActiveResult:
    """The student, the documents the teacher labelled and their soft targets."""

    classifier: TextClassifier
    selected: np.ndarray
    Y_teacher: sp.csr_matrix
    rounds: list[dict]

    def __repr__(self) -> str:
        # one line at a prompt: the dataclass repr printed every selected document and
        # each round's record
        return (f"ActiveResult(classifier={self.classifier!r}, "
                f"n_selected={len(self.selected)}, n_rounds={len(self.rounds)})")


def distillation_record(strategy: str, requested: int, budget: int,
                        rounds: list[dict]) -> dict:
    """What a distilled model's manifest (and the LLM summary) records of its active
    distillation: ``budget`` is the teacher calls it could spend, and ``budget_requested``
    the one asked for where blank documents or copies in the pool cut it (it recorded
    the request alone, so the manifest claimed calls that were never made).

    >>> distillation_record("robust", 50, 40, [])
    {'strategy': 'robust', 'budget': 40, 'budget_requested': 50, 'rounds': []}
    """
    record: dict = {"strategy": strategy, "budget": int(budget)}
    if budget != requested:
        record["budget_requested"] = int(requested)
    record["rounds"] = rounds
    return record


def round_sizes(budget: int, rounds: int, initial_fraction: float) -> list[int]:
    """Batch size per round: an initial random batch, the rest split evenly. A budget
    too small for ``rounds`` non-empty batches fills fewer rounds (an empty round would
    select nothing, and selection refuses a batch of none).

    >>> round_sizes(1000, 4, 0.25)
    [250, 250, 250, 250]
    >>> round_sizes(10, 3, 0.5)
    [5, 3, 2]
    >>> round_sizes(3, 4, 0.25)
    [1, 1, 1]
    """
    first = max(1, min(budget, int(round(budget * initial_fraction))))
    rest = budget - first
    if rounds == 1 or rest == 0:
        return [budget]
    # a round past one per document left would be empty: rounds=2**64 never ended
    n = min(rounds - 1, rest)
    sizes = [rest // n + (1 if i < rest % n else 0) for i in range(n)]
    return [first] + [size for size in sizes if size]


def _fit_student(X, Y, options: ActiveOptions, label_features=None, *,
                 warned: list[bool] | None = None):
    """The student fitted on ``X``, ``Y``. No ``groups`` (equal texts kept on one side
    of a split the model draws itself): active selection sends no copy, so the
    documents taught are distinct texts, each its own group. ``warned`` (one flag, a
    run's): whether :func:`~tagsmith.pipeline.train._warn_linear_at_scale` has warned
    yet; it warns once, at the first fit large enough (the students grow each round)."""
    if warned is not None and not warned[0]:
        # train_classifier's warning: a budget of thousands over a large vocabulary
        # fitted its linear students round after round without it
        n_used = labels_used(Y)
        warned[0] = _warn_linear_at_scale(
            options.model, n_used, Y.shape[0], python='ActiveOptions(model="tree")',
            cli="'tagsmith train --model tree' on the labels written")
    params = dict(options.model_params)
    model = make_model(options.model, **params)
    if "random_state" in model.get_params() and "random_state" not in params:
        model.set_params(random_state=options.seed)
    if label_features is not None:  # label_feature_weight was ignored without a word
        # only a family that reads them (the tree, the ensemble); BaseModel.fit does not
        # declare label_features
        return cast(Any, model).fit(X, Y, label_features=label_features)
    return model.fit(X, Y)


def active_distill(pool_texts: Iterable[str], label_space: LabelSpace, teacher: Teacher,
                   options: ActiveOptions | None = None, *,
                   X_pool: FeatureMatrix | None = None,
                   featurizer: TfidfFeaturizer | None = None,
                   text_groups: npt.ArrayLike | None = None,
                   student_kept: bool = True,
                   _text_hashes: np.ndarray | None = None,
                   lang: str = "en",
                   labelled_before: tuple[npt.ArrayLike, sp.csr_matrix] | None = None,
                   zero_shot: TopK | None = None,
                   _starved_remedy: str | None = None) -> ActiveResult:
    """Spend ``options.budget`` teacher calls on the pool and distil a student.

    ``teacher(indices)`` labels pool documents (e.g. :func:`llm_teacher`). ``X_pool``
    (one row per pool document) and the fitted ``featurizer`` that made it may be
    passed together to reuse features across runs. Blank documents and copies (equal
    texts, case and spacing aside: only the first of each group is a candidate) are never
    sent, so every teacher call is for a new text. A round the teacher answered none
    of trains nothing (the next one picks at random); if it answered none at all,
    :class:`~tagsmith.exceptions.NoTeacherAnswersError`. A teacher
    that raises after answering some documents ends the run with
    :class:`~tagsmith.exceptions.TeacherFailedError`, which holds the answers paid for
    (``selected``, ``Y_teacher``, ``rounds``); one that raises before any answer, its
    own error. ``text_groups`` (one integer per pool document:
    :func:`~tagsmith.pipeline.train.duplicate_groups` of ``pool_texts``, or any numbering
    of the same groups), when the caller has them, spares hashing every text again; a
    caller passing them vouches for them (they are checked for shape and type only).
    ``student_kept``: whether the caller keeps the student (``label --budget`` without
    ``--student`` does not), which the warning of labels never taught says, naming them
    in ``lang`` (``label --lang``; a label without a name in it falls back as
    :meth:`~tagsmith.data.labelspace.LabelSpace.name_of` picks one).
    ``labelled_before``: ``(indices, Y)``, pool documents the teacher labelled in an
    earlier run and their targets (``label --budget --labelled``): none of them, nor a
    copy of one, is sent again; the student learns from them from the first round on
    (which is chosen by ``options.strategy``, not at random), and the budget is spent on
    new documents only. ``selected`` and ``Y_teacher`` hold the new documents alone.
    ``_text_hashes`` (private): the pool's texts' hashes (``hash_texts``), one per
    document, where the caller has them: the student records those it was taught, as
    ``train`` records its own, and they spare hashing those texts again.
    ``zero_shot``: the pool's top labels by their names (a
    :class:`~tagsmith.zeroshot.scorer.ZeroShotClassifier`'s ``predict_topk``, one row a
    pool document; ``label --shortlist-zeroshot``'s shortlist): with
    ``options.rare_share``, a label no document taught carries yet (the student cannot
    score it) is targeted too, before the labels of 1 to :data:`RARE_TARGET` - 1
    positives, and each target takes the candidates ``zero_shot`` scores highest for it,
    not the student (on GoEmotions' rarest emotions, it bought more of them: README,
    "Rare labels under a budget").

    >>> from tagsmith.labeling.client import ScriptedLLM
    >>> space = LabelSpace.from_uris(["u:sport", "u:music"],
    ...                              names={"u:sport": "sport", "u:music": "music"})
    >>> texts = [f"{w} news {i}" for i in range(20) for w in ("football match", "concert")]
    >>> llm = ScriptedLLM(lambda request: '{"labels": [{"label": "%s", "confidence": 0.9}]}'
    ...     % ("sport" if "football" in request.messages[-1]["content"] else "music"))
    >>> result = active_distill(texts, space, llm_teacher(texts, space, llm), ActiveOptions(
    ...     budget=12, rounds=2, featurizer_params={"char_ngrams": None, "min_df": 1}))
    >>> len(result.selected), result.classifier.suggest(["football match tonight"], k=1)[0][0].uri
    (12, 'u:sport')
    """
    from tagsmith.labeling.selection import select_batch, teacher_error_risk, uncertainty_gains

    options = check_options("options", options, ActiveOptions)
    label_space = check_label_space("label_space", label_space)
    if not callable(teacher):  # failed after the features were built, as a TypeError
        raise InvalidParameterError("teacher", "a function of pool indices (llm_teacher(...))",
                                    type(teacher).__name__)
    # every text a str before the copies are found (a None failed there as a bare
    # AttributeError, and with X_pool given reached no featurizer that would refuse it)
    pool_texts = _as_list(pool_texts, "pool_texts")
    n_pool = len(pool_texts)
    options.validate(n_pool, len(label_space))
    _check_pool_features(X_pool, featurizer, n_pool)
    # checked before the pool's features are fitted (seconds to minutes), not after
    before = np.zeros(0, np.int64)
    Y_before = sp.csr_matrix((0, len(label_space)), dtype=np.float32)
    if labelled_before is not None:
        before = np.asarray(labelled_before[0], np.int64).reshape(-1)
        Y_before = sp.csr_matrix(labelled_before[1], dtype=np.float32)
        if Y_before.shape != (len(before), len(label_space)) or (
                len(before) and (before.min() < 0 or before.max() >= n_pool)):
            raise InvalidParameterError(
                "labelled_before", f"(pool indices, targets of shape ({len(before)}, "
                f"{len(label_space)}))",
                f"{len(before)} indices, targets of shape {Y_before.shape}")
    if zero_shot is not None and (not isinstance(zero_shot, TopK) or zero_shot.n_labels
                                  != len(label_space) or len(zero_shot.indices) != n_pool):
        raise InvalidParameterError(
            "zero_shot", f"a TopK of the {n_pool:,} pool documents over the "
            f"{len(label_space):,} labels", zero_shot if not isinstance(zero_shot, TopK)
            else f"{len(zero_shot.indices):,} rows over {zero_shot.n_labels:,} labels")
    # a blank document (empty or whitespace only) is never chosen: the LLM teacher does
    # not send it (nothing to label), yet it took one of the budget's calls
    blank = np.fromiter((isinstance(text, str) and not text.strip() for text in pool_texts),
                        bool, n_pool)
    n_blank = int(blank.sum())
    # nor is a copy (equal text, case and spacing aside: duplicate_groups) of a document
    # asked already, or a second copy in one batch: each took one of the budget's calls
    # for a text the teacher had answered, and taught the student nothing. Only the
    # first document of each group is a candidate (a pool without copies keeps them all)
    if text_groups is None:
        text_groups = duplicate_groups(pool_texts)
    else:  # any numbering: only which documents share a group is read
        text_groups = check_groups(text_groups, n_pool, name="text_groups",
                                   docs="pool document", hint=": duplicate_groups(pool_texts)")
    copy = np.ones(n_pool, bool)
    copy[np.unique(text_groups, return_index=True)[1]] = False
    n_copies = int(copy.sum())  # blank documents are no one's copies
    budget = _usable_budget(options.budget, n_pool, n_blank, n_copies)
    rng = np.random.default_rng(options.seed)
    if X_pool is None or featurizer is None:  # both or neither (checked above)
        featurizer = TfidfFeaturizer.from_params(**options.featurizer_params)
        if options.show_progress:
            logger.info("active distillation: building the features of the pool's %s "
                        "documents before the first teacher call", f"{n_pool:,}")
        featurizer.show_progress = options.show_progress
        try:
            X_pool = featurizer.fit_transform(list(pool_texts))
        finally:  # the student's later transforms (a round's pool) are short
            featurizer.show_progress = False
    # the label names' features, for a student that reads them, as training gives them
    label_features = _label_features(featurizer, make_model(options.model,
                                                            **options.model_params),
                                     label_space)
    n_labels = len(label_space)
    labelled = np.zeros(n_pool, bool)
    rows: list[sp.csr_matrix] = []
    picked: list[np.ndarray] = []
    history: list[dict] = []
    model = None
    warned = [False]  # the linear-at-scale warning, once a run (not once a round)
    # positives bought so far per label (rare_share's targets), counted as each round's
    # answers come: every round stacked all the answers again to count them
    support = label_support(Y_before, n_labels)
    # rare_give_up: the rounds in a row each label was targeted and not bought, and the
    # labels given up (targeted no more)
    missed = np.zeros(n_labels, np.int64)
    given_up = np.zeros(n_labels, bool)
    gave_up: list[str] = []  # their URIs, in the order given up (the run's summary)
    if labelled_before is not None:
        # a document labelled before, and every copy of it, is never sent again
        labelled |= np.isin(text_groups, np.asarray(text_groups)[before])
        if len(before):
            model = _fit_student(X_pool[before], Y_before, options, label_features,
                                 warned=warned)

    def taught(selected: np.ndarray, Y_teacher: sp.csr_matrix):
        if not len(before):
            return selected, Y_teacher
        return (np.concatenate([before, selected]),
                sp.vstack([Y_before, Y_teacher]).tocsr())

    sizes = round_sizes(budget, options.rounds, options.initial_fraction)
    for number, size in enumerate(sizes):
        # the lines say a round by its place from 1, as the LLM teacher's progress does
        # ("LLM labeling, round 1"): they said "round 0" of the round it called round 1
        said = f"round {number + 1} of {len(sizes)}"
        started = time.perf_counter()
        candidates = np.flatnonzero(~labelled & ~blank & ~copy)
        if not len(candidates):  # every document is labelled already
            break
        size = min(size, len(candidates))
        rare = np.zeros(0, np.int64)  # positions in candidates the share picked
        picked_for: dict[int, int] = {}  # each of them: the label it was picked for
        if model is None or (number == 0 and not len(before)):
            chosen = np.sort(rng.choice(candidates, size=min(size, len(candidates)),
                                        replace=False))
            n_mistakes = 0.0
        else:
            # scored once a round: the share's picks read the student's top RARE_TOPK,
            # the gains its top 10 (the head of the same ranking; each round scored every
            # candidate twice, for 10 labels and again for 50)
            ranks_rare = options.rare_share > 0 and zero_shot is None
            scored = _predict_candidates(model, X_pool, candidates, min(
                n_labels, RARE_TOPK if ranks_rare else GAIN_TOPK))
            topk = scored.head(GAIN_TOPK)
            gains = uncertainty_gains(topk, options.gain)
            if options.strategy == "robust" and options.teacher_precision is not None:
                gains = np.clip(gains * (1.0 - teacher_error_risk(
                    topk, options.teacher_precision)), 1e-6, 1.0)
            if options.rare_share > 0:
                rare = _rare_picks(model, X_pool, candidates, support,
                                   rare_count(size, options.rare_share),
                                   zero_shot=zero_shot,
                                   offered=~label_space.deprecated_mask & ~given_up,
                                   scored=scored if ranks_rare else None,
                                   picked_for=picked_for)
            rest = np.setdiff1d(np.arange(len(candidates)), rare)
            size_rest = size - len(rare)
            scope = len(rest) if options.mistakes_scope == "pool" else size_rest
            n_mistakes = options.teacher_error_rate * scope
            chosen = np.sort(np.concatenate([
                candidates[rare], candidates[rest[select_batch(
                    options.strategy, gains[rest], size_rest, n_mistakes=n_mistakes,
                    rng=rng)]] if size_rest else np.zeros(0, np.int64)]))
        try:
            Y_batch, keep = _check_answer(*teacher(chosen), len(chosen), n_labels)
        except Exception as error:
            if not sum(map(len, picked)):
                raise  # nothing answered yet: nothing to hand back
            # the answers of the rounds before were paid for, and a custom teacher
            # has no cache to replay them from: the error carries them
            done = np.concatenate(picked)
            raise TeacherFailedError(
                f"the teacher failed in round {number + 1}, after answering for {len(done):,} "
                f"document{plural_s(len(done))} in the "
                f"{plural(number, 'round', f'{number} rounds')} before it: "
                f"{type(error).__name__}: {error}",
                selected=done,
                Y_teacher=sp.vstack(rows).tocsr(), rounds=history, cause=error) from error
        labelled[chosen] = True
        picked.append(chosen[keep])
        rows.append(Y_batch[keep])
        support += label_support(rows[-1], n_labels)
        selected = np.concatenate(picked)
        Y_teacher = sp.vstack(rows).tocsr()
        if len(selected):  # a round the teacher answered none of (the endpoint was
            # down a while) failed as "'Y' must be the targets of at least one
            # document"; with nothing to learn from yet, the next round picks at random
            rows_taught, Y_taught = taught(selected, Y_teacher)
            model = _fit_student(X_pool[rows_taught], Y_taught, options, label_features,
                                 warned=warned)
        else:
            logger.warning("active distillation %s: the teacher answered %s sent",
                           said, none_of(len(chosen)))
        # numbered from 1, as the lines say them: the summary, the student's manifest and
        # TeacherFailedError.rounds said "round": 0 of the round the lines called round 1
        record: dict[str, Any] = {"round": number + 1, "asked": int(len(chosen)),
                                  "answered": int(keep.sum()),
                                  "n_mistakes_assumed": round(float(n_mistakes), 1),
                                  "seconds": round(time.perf_counter() - started, 3)}
        for_rare = ""
        if options.rare_share > 0:
            # what the share bought (the record said how many were asked, not for what):
            # the documents sent for the rare labels, and those the teacher gave the
            # label each was sent for at a target of at least LEARNT_TARGET, distill's
            # positive (any nonzero target counted: one given at 0.3 was "bought", then
            # no positive of distill's on the same labels)
            label_of = {int(candidates[at]): label for at, label in picked_for.items()}
            # the labels of the documents answered (a failed call is no miss), and of
            # those the teacher gave the label sent for: one pass over the round
            answered_rows = [(row, label_of[doc]) for row, doc in enumerate(chosen.tolist())
                             if keep[row] and doc in label_of]
            answered_for = [label for _, label in answered_rows]
            got = [label for row, label in answered_rows
                   if Y_batch[row, label] >= LEARNT_TARGET]
            bought = len(got)
            record["rare_asked"] = len(label_of)
            record["rare_bought"] = int(bought)
            if options.rare_give_up:
                newly = _give_up_rare(missed, given_up, list(label_of.values()),
                                      answered_for, got, options.rare_give_up)
                if len(newly):
                    record["rare_given_up"] = [label_space.uri_of(int(i)) for i in newly]
                    gave_up.extend(record["rare_given_up"])
                    logger.info("active distillation %s: %s targeted %s round%s in a row "
                                "and never bought: targeted no more (rare_give_up)", said,
                                and_more(newly, 5, lambda i: repr(clip(
                                    label_space.name_of(int(i), lang), NAME_LIMIT,
                                    collapse=False))),
                                f"{options.rare_give_up:,}",
                                plural_s(options.rare_give_up))
            if label_of:  # (the first round, at random, spends none)
                for_rare = (f" ({len(label_of):,} for rare labels, {bought:,} of them "
                            f"given the label sent for at {LEARNT_TARGET:g} or more)")
        history.append(record)
        logger.info("active distillation %s: %s asked%s, %s labelled so far", said,
                    f"{len(chosen):,}", for_rare, f"{len(selected):,}")
    selected = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    Y_teacher = (sp.vstack(rows).tocsr() if rows
                 else sp.csr_matrix((0, n_labels), dtype=np.float32))
    if model is None:
        raise NoTeacherAnswersError(
            f"the teacher answered {none_of(int(labelled.sum()))} it was sent "
            "(every call failed or every answer was malformed): no student to train")
    # the student learnt the documents labelled before too (labelled_before)
    rows_taught, Y_taught = taught(selected, Y_teacher)
    _warn_untaught(Y_taught, label_space, student_kept=student_kept, lang=lang)
    # a positive counted at LEARNT_TARGET, as distill counts it on the same labels (any
    # target counted here: a label given 20 documents at 0.3 was not starved, distill
    # of the output named it, and the two counts of one file differed)
    starved = starved_labels(Y_taught, label_space, lang=lang, min_target=LEARNT_TARGET)
    # label --budget passes its own words (BUDGET_STARVED_REMEDY)
    warn_starved(starved, Y_taught.shape[0], _starved_remedy or PY_BUDGET_STARVED_REMEDY,
                 learner="the student" if student_kept else "a model trained on these labels",
                 min_target=LEARNT_TARGET)
    # no groups for the thresholds' folds either: the documents taught are distinct texts
    # (no copy is a candidate), so their folds are the same with or without them
    thresholds = _student_thresholds(X_pool[rows_taught], Y_taught, options, n_labels,
                                     label_features)
    # the texts taught, as train records its own, for calibrate --data's check (without
    # them, a student just written was said to be "saved by an older tagsmith")
    hashes_taught = (text_hashes([pool_texts[int(i)] for i in rows_taught])
                     if _text_hashes is None
                     else np.unique(np.asarray(_text_hashes)[rows_taught]))
    classifier = TextClassifier(label_space, featurizer, model, thresholds,
                                label_counts=np.bincount(Y_taught.indices, minlength=n_labels),
                                n_train_docs=len(rows_taught), train_hashes=hashes_taught,
                                manifest={"distillation": distillation_record(
                                    options.strategy, options.budget, budget, history)})
    if len(before):
        classifier.manifest["distillation"]["n_labelled_before"] = int(len(before))
    # each starved label's count of positives bought (label --budget's summary too), and
    # the target a positive was counted at: distill's records have the same shape and
    # count at LEARNT_TARGET, and nothing told the two apart
    classifier.manifest["distillation"]["starved_labels"] = starved
    classifier.manifest["distillation"]["starved_min_target"] = LEARNT_TARGET
    if options.rare_share:  # how the budget was spent, where it was not by strategy alone
        classifier.manifest["distillation"]["rare_share"] = options.rare_share
        if options.rare_give_up:
            classifier.manifest["distillation"]["rare_give_up"] = options.rare_give_up
            # the labels given up, run-wide: only INFO lines (hidden by -q) and each
            # round's record named them, and label's summary said nothing of them
            classifier.manifest["distillation"]["rare_given_up"] = gave_up
        # and by what its documents were ranked: a run's summary did not say whether
        # the labels of no positive were targeted (by their names) or not
        classifier.manifest["distillation"]["rare_share_ranked_by"] = (
            "student" if zero_shot is None else "zeroshot")
    return ActiveResult(classifier, selected, Y_teacher, history)


#: ``rare_share`` targets the labels with fewer positives bought than this (and at
#: least one: the student scores a label it has learnt from some document)
RARE_TARGET = 20
#: the student's top labels a candidate is scored for when ``rare_share`` targets labels
RARE_TOPK = 50
#: the student's top labels a candidate's uncertainty (its gain) is read from
GAIN_TOPK = 10


def rare_count(size: int, share: float) -> int:
    """The documents of a round of ``size`` that ``rare_share`` ``share`` spends on rare
    labels: ``size * share`` rounded half up, and at least one where ``share`` is not 0.
    Python's ``round`` (half to even) spent none of a round of 1 or 2 at 0.2 (nor 2 of a
    round of 5 at 0.5), so a small budget opted in bought no rare label at all.

    >>> [rare_count(size, 0.2) for size in (1, 2, 3, 10, 375)]
    [1, 1, 1, 2, 75]
    >>> rare_count(5, 0.5), rare_count(10, 0.0)
    (3, 0)
    """
    if not share:
        return 0
    return max(1, int(np.floor(size * share + 0.5)))


def _give_up_rare(missed: np.ndarray, given_up: np.ndarray, sent: list[int],
                  answered: list[int], got: list[int], rounds: int) -> np.ndarray:
    """One round of ``rare_give_up``: update ``missed`` (per label, the rounds in a row
    the share sent documents for it, the teacher answered some and gave it none) and
    ``given_up`` in place, and return the labels given up this round. ``sent``: the
    label each document of the share was sent for; ``answered``: those of the documents
    answered; ``got``: those of the documents the teacher gave the label sent for. A
    label the round sent nothing for ends its run of misses (the count went on over the
    rounds it was skipped in, and a label targeted in rounds 2 and 4 was given up as
    "targeted 2 rounds in a row"); one whose documents all failed neither counts nor ends
    it (a failed call is no miss).

    >>> missed, given_up = np.zeros(3, np.int64), np.zeros(3, bool)
    >>> _give_up_rare(missed, given_up, [0, 1], [0, 1], [], 2).tolist()
    []
    >>> _give_up_rare(missed, given_up, [0], [0], [], 2).tolist(), missed.tolist()
    ([0], [2, 0, 0])
    """
    skipped = np.ones(len(missed), bool)
    skipped[np.asarray(sent, np.int64)] = False
    missed[skipped] = 0
    targeted = np.unique(np.asarray(answered, np.int64))
    missed[targeted] += 1
    missed[np.asarray(got, np.int64)] = 0
    newly = targeted[(missed[targeted] >= rounds) & ~given_up[targeted]]
    given_up[newly] = True
    return newly


def _rare_picks(model, X_pool, candidates: np.ndarray, support: np.ndarray,
                n: int, *, zero_shot: TopK | None = None,
                offered: np.ndarray | None = None, scored: TopK | None = None,
                picked_for: dict[int, int] | None = None) -> np.ndarray:
    """Up to ``n`` positions in ``candidates``: in turn for each label of 1 to
    :data:`RARE_TARGET` - 1 positives in ``support`` (the fewest first), the candidate
    not yet picked that the student scores highest for it (among its top
    :data:`RARE_TOPK`; a label in no candidate's top is skipped). With ``zero_shot``
    (the pool's top labels by their names), the labels of 0 positives are targeted
    too, first, and every target takes the candidate
    ``zero_shot`` scores highest for it (among its top): on GoEmotions this bought the
    rarest emotions more positives than the student's scores, learnt from a few.
    ``offered`` (a mask of labels, not deprecated): only those are targeted.
    ``scored``: the student's top :data:`RARE_TOPK` (at least) of ``candidates``, where
    the round has scored them already (its gains read the same ranking's head).
    ``picked_for``, a dict, gets each pick's position mapped to the label it was picked
    for (the round's record counts those the teacher gave that label)."""
    # a deprecated label (not ``offered``) is no target by either ranking: the student's
    # targeted one labelled_before carried, which the teacher is never offered
    low = (support < RARE_TARGET) & ((support > 0) if zero_shot is None else True)
    if offered is not None:
        low &= offered
    targets = np.flatnonzero(low)
    if not n or not len(targets):
        return np.zeros(0, np.int64)
    targets = targets[np.argsort(support[targets], kind="stable")]
    if zero_shot is not None:  # by the label's name (the student cannot score one of 0)
        topk = zero_shot[candidates]
    elif scored is not None:
        topk = scored.head(RARE_TOPK)
    else:
        topk = _predict_candidates(model, X_pool, candidates, min(len(support), RARE_TOPK))
    # each target's candidates, best first (ties by place), grouped in one sort: a
    # comparison of the whole top-k with each target took minutes a round for 10^5
    # candidates and thousands of labels of 1 to 19 positives
    rank = np.full(len(support), -1, np.int64)
    rank[targets] = np.arange(len(targets))
    valid = topk.valid
    hit_rank = np.where(valid, rank[np.where(valid, topk.indices, 0)], -1)
    rows, cols = np.nonzero(hit_rank >= 0)
    of_label = hit_rank[rows, cols]
    order = np.lexsort((rows, -topk.scores[rows, cols], of_label))
    rows, of_label = rows[order], of_label[order]
    bounds = np.searchsorted(of_label, np.arange(len(targets) + 1))
    kept = [i for i in range(len(targets)) if bounds[i] < bounds[i + 1]]
    ranked = [rows[bounds[i]:bounds[i + 1]].tolist() for i in kept]
    at = [0] * len(ranked)  # per target: its next candidate not looked at
    picked: list[int] = []
    taken = np.zeros(len(candidates), bool)
    left = list(range(len(ranked)))
    while len(picked) < n and left:  # in turn, one a target, the fewest first
        still = []
        for i in left:
            if len(picked) >= n:
                break
            best, j = ranked[i], at[i]
            while j < len(best) and taken[best[j]]:
                j += 1
            if j < len(best):
                taken[best[j]] = True
                picked.append(best[j])
                if picked_for is not None:
                    picked_for[best[j]] = int(targets[kept[i]])
                j += 1
            at[i] = j
            if j < len(best):
                still.append(i)
        left = still
    return np.array(sorted(picked), np.int64)


#: rows of the pool's features a round's student scores at once (:func:`_predict_candidates`)
CANDIDATE_BLOCK = 2048


def _predict_candidates(model, X_pool, candidates: np.ndarray, k: int) -> TopK:
    """The student's top ``k`` for the pool's ``candidates``, scored a block of
    :data:`CANDIDATE_BLOCK` rows at a time. ``X_pool[candidates]`` copied nearly the whole
    pool's features in every round: over 20,000 texts (word and character n-grams) about
    300 MB more, the run's peak (each row is scored on its own: the same top ``k``)."""
    if len(candidates) <= CANDIDATE_BLOCK:
        return model.predict_topk(X_pool[candidates], k)
    return TopK.concatenate([model.predict_topk(X_pool[candidates[start:start + CANDIDATE_BLOCK]],
                                                k)
                             for start in range(0, len(candidates), CANDIDATE_BLOCK)])


def _warn_untaught(Y_teacher: sp.csr_matrix, label_space: LabelSpace, shown: int = 5, *,
                   student_kept: bool = True, lang: str = "en") -> None:
    """Warn of the labels (not deprecated: never offered) the teacher gave no document
    taught: the student never predicts them. ``distill`` and ``train`` warn of them on
    the same file, where a budgeted student of 30 tickets left out a support team's
    'Gift card' and other intents without a word. Without ``student_kept`` (``label
    --budget`` without ``--student``: none is written) the warning is of a model
    trained on the labels. The names are quoted, as the taxonomy's warnings quote
    theirs: one holding a comma read as two; in ``lang``."""
    support = label_support(Y_teacher, len(label_space))
    untaught = np.flatnonzero((support == 0) & ~label_space.deprecated_mask)
    if not len(untaught):
        return
    n = len(untaught)
    named = and_more(untaught, shown, lambda i: repr(clip(label_space.name_of(int(i), lang),
                                                          NAME_LIMIT, collapse=False)))
    never = (" and the student will never predict %s" if student_kept else
             "; a model trained on these labels will never predict %s")
    logger.warning("active distillation: %s of %s label%s %s no positive training document "
                   "(the teacher gave %s to none of the %s document%s it labelled: %s)"
                   + never, f"{n:,}", f"{len(label_space):,}",
                   plural_s(len(label_space)), plural(n, "has", "have"),
                   plural(n, "it", "them"), f"{Y_teacher.shape[0]:,}",
                   plural_s(Y_teacher.shape[0]), named, plural(n, "it", "them"))


#: a label the training documents carry at least once and at most this many times is
#: starved: a student learns next to nothing of it (GoEmotions' five rarest emotions, 1
#: to 12 positives each in 1,500 documents a budget of 1,500 bought, scored test F1 0
#: to 0.30, most of them 0)
STARVED_MAX = 5


def starved_labels(Y: sp.csr_matrix, label_space: LabelSpace, *, lang: str = "en",
                   max_positives: int = STARVED_MAX, min_target: float = 0.0) -> list[dict]:
    """The labels (not deprecated) 1 to ``max_positives`` documents of ``Y`` carry, the
    fewest first (ties in vocabulary order): each as ``{"uri", "label", "positives"}``,
    the name in ``lang``. Labels no document carries are another warning's
    (:func:`_warn_untaught`, ``train``'s). With ``min_target`` (``distill``'s
    :data:`LEARNT_TARGET`), a document counts as a label's positive only where its
    target is at least that: a label some documents carry, none of them or at most
    ``max_positives`` at that target, is starved (0 positives where all are weaker),
    and each record has ``"given"`` too: the documents of any target of it (a label
    given often but only weakly is no label short of documents).

    >>> space = LabelSpace.from_uris(["u:a", "u:b", "u:c"],
    ...                              names={"u:a": "a", "u:b": "b", "u:c": "c"})
    >>> Y = sp.csr_matrix(np.array([[1, 0, 0]] * 9 + [[1, 1, 0]] * 2))
    >>> starved_labels(Y, space)
    [{'uri': 'u:b', 'label': 'b', 'positives': 2}]
    >>> soft = sp.csr_matrix(np.array([[0.9, 0.0, 0.05]] * 11))
    >>> starved_labels(soft, space, min_target=0.5)
    [{'uri': 'u:c', 'label': 'c', 'positives': 0, 'given': 11}]
    """
    given = label_support(Y, len(label_space))
    support = given
    if min_target > 0:
        Y = sp.csr_matrix(Y)
        support = np.bincount(Y.indices[Y.data >= min_target], minlength=len(label_space))
    rows = np.flatnonzero((given > 0) & (support <= max_positives)
                          & ~label_space.deprecated_mask)
    rows = rows[np.argsort(support[rows], kind="stable")]
    return [{"uri": label_space.uri_of(int(i)), "label": label_space.name_of(int(i), lang),
             "positives": int(support[i]), **({"given": int(given[i])} if min_target > 0
                                              else {})} for i in rows]


#: the soft target at which ``distill`` counts a document as a label's positive for
#: :func:`starved_labels`: below it, the student's loss pulls the label's score on the
#: document toward a low value (a label given at 0.05 is nearly a negative)
LEARNT_TARGET = 0.5
#: what :func:`warn_starved` says to do after a budgeted run
BUDGET_STARVED_REMEDY = (
    "a larger budget buys them only as often as the pool holds them; to teach them, "
    "label documents that carry them (found with zeroshot or a search, labelled by hand) "
    "and distill from the output with those lines added (a line without scores is read "
    "as a person's labels)")
#: what :func:`warn_starved` says to do after ``distill``
DISTILL_STARVED_REMEDY = (
    "to teach them, label more documents that carry them (by hand, or with a label "
    "--budget run) and distill from LABELS with those lines added")
#: the same to a Python caller of :func:`active_distill` and :func:`distill_classifier`,
#: who was told of ``zeroshot``, ``label --budget``, output lines and ``LABELS``: the
#: options of commands it never ran
PY_BUDGET_STARVED_REMEDY = (
    "a larger budget buys them only as often as the pool holds them; to teach them, "
    "label pool documents that carry them (found with a ZeroShotClassifier or a search, "
    "labelled by hand) and give them as labelled_before=(indices, Y), or spend part of "
    "each round on them with ActiveOptions(rare_share=...)")
PY_DISTILL_STARVED_REMEDY = (
    "to teach them, label more documents that carry them (by hand, or with "
    "active_distill) and add them to texts and Y_soft (a person's label as 1)")


def warn_starved(starved: list[dict], n_docs: int, remedy: str, shown: int = 5, *,
                 learner: str = "the student", min_target: float = 0.0) -> None:
    """Warn of :func:`starved_labels`' labels, naming the first ``shown`` (quoted, with
    their counts) and ``remedy``, what to do. A student distilled from a budget that
    bought 1 to 12 documents of each of GoEmotions' five rarest emotions never predicted
    most of them, and neither ``label --budget`` nor ``distill`` said a word.
    ``learner``: who would learn them (``label --budget`` without ``--student`` keeps
    no student: "a model trained on these labels"). ``min_target``: the target a
    positive was counted at (``distill``'s), said where it is not 0; with it, a label
    of no positive the teacher gave only below it is warned of on its own, with the
    documents it was given on: it was told to "label more documents that carry them",
    but the teacher is unsure of it, not short of documents of it."""
    # split in one pass (a `row not in weak` filter compared every pair of dicts: quadratic
    # in the labels of a large vocabulary the teacher gives only weakly)
    weak: list[dict] = []
    strong: list[dict] = []
    for row in starved:
        (weak if min_target and not row["positives"] and row.get("given") else strong
         ).append(row)
    if weak:
        n = len(weak)
        named = and_more(weak, shown, lambda row: (
            f"{clip(row['label'], NAME_LIMIT, collapse=False)!r} (given on "
            f"{row['given']:,} document{plural_s(row['given'])})"))
        logger.warning("%s label%s the teacher gave only below a target of %g, so no "
                       "positive training document of the %s learnt from: %s; the teacher is "
                       "unsure of %s rather than short of documents of %s, and more documents "
                       "labelled the same way would not teach %s to %s (check %s name%s and "
                       "description%s, or label documents of %s by hand)",
                       f"{n:,}", plural_s(n), min_target, f"{n_docs:,}", named,
                       plural(n, "it", "them"), plural(n, "it", "them"),
                       plural(n, "it", "them"), learner, plural(n, "its", "their"),
                       plural_s(n), plural_s(n), plural(n, "it", "them"))
        starved = strong
    if not starved:
        return
    n = len(starved)
    named = and_more(starved, shown, lambda row: (
        f"{clip(row['label'], NAME_LIMIT, collapse=False)!r} ({row['positives']:,})"))
    # min(fewest, 1) below: 0 only for a direct caller passing starved_labels(...,
    # min_target>0) records without min_target (then "only 0 to 5"); distill and label
    # --budget never reach it with a 0 (their 0-positive rows went to `weak` above)
    fewest = min(row["positives"] for row in starved)
    at = f" (a target of at least {min_target:g})" if min_target else ""
    logger.warning("%s label%s %s only %d to %d positive training documents%s of the %s "
                   "learnt from, too few for %s to learn %s (it will rarely if "
                   "ever predict %s): %s; %s", f"{n:,}", plural_s(n), plural(n, "has", "have"),
                   min(fewest, 1), STARVED_MAX, at, f"{n_docs:,}", learner,
                   plural(n, "it", "them"),
                   plural(n, "it", "them"), named, remedy)


def _usable_budget(budget: int, n_pool: int, n_blank: int, n_copies: int = 0) -> int:
    """The teacher calls to spend: ``budget``, at most one per non-blank document that
    is no copy of another (``n_copies``: the documents after the first of each group of
    equal texts)."""
    n_usable = n_pool - n_blank - n_copies
    if not n_usable:
        raise InvalidParameterError("pool_texts", "at least one document that is not "
                                    "blank (empty or whitespace only)",
                                    f"{n_pool:,} blank document{plural_s(n_pool)}")
    if n_blank:
        logger.info("active distillation: %s blank document%s of the pool %s never sent "
                    "to the teacher", f"{n_blank:,}", plural_s(n_blank),
                    plural(n_blank, "is", "are"))
    if n_copies:
        logger.info("active distillation: %s document%s of the pool %s "
                    "(equal text, case and spacing aside), never sent to the teacher",
                    f"{n_copies:,}", plural_s(n_copies), plural(n_copies, "is a copy of another",
                                                          "are copies of others"))
    if budget > n_usable:
        logger.warning("active distillation: %s",
                       budget_cut_message(budget, n_pool, n_usable, "in the pool"))
        return n_usable
    return budget


def budget_cut_message(budget: int, n_docs: int, n_usable: int, docs: str,
                       votes: int = 1) -> str:
    """The one wording of a budget cut to the ``n_usable`` of ``n_docs`` documents that
    may be sent (neither blank nor a copy of another), for ``label --budget``
    (:func:`~tagsmith.pipeline.llm.label_corpus`) and :func:`active_distill` alike (they
    said it in two ways); ``docs`` says which documents ("to label", "in the pool");
    ``votes``: the calls each document is asked in (``label --votes``).

    >>> budget_cut_message(500, 12, 12, "to label")
    'budget=500 is more than the 12 documents to label: at most 12 teacher calls spent'
    >>> budget_cut_message(3, 6, 1, "in the pool")  # doctest: +NORMALIZE_WHITESPACE
    'budget=3 is more than the 1 of the 6 documents in the pool that is neither blank
     nor a copy of another: at most 1 teacher call spent'
    >>> budget_cut_message(50, 30, 30, "to label", votes=3)  # doctest: +NORMALIZE_WHITESPACE
    'budget=50 is more than the 30 documents to label: at most 90 teacher calls spent
     (3 votes a document)'
    """
    if n_usable == n_docs:
        what = f"the {n_docs:,} document{plural_s(n_docs)} {docs}"
    else:
        what = (f"the {n_usable:,} of the {n_docs:,} document{plural_s(n_docs)} {docs} "
                f"that {plural(n_usable, 'is', 'are')} neither blank nor a copy of another")
    # with votes a document is that many calls: "at most 30 teacher calls spent" was
    # followed by 90
    calls = n_usable * votes
    return (f"budget={budget} is more than {what}: at most {calls:,} teacher "
            f"call{plural_s(calls)} spent" + (f" ({votes} votes a document)" if votes > 1
                                             else ""))


def _check_pool_features(X_pool, featurizer, n_pool: int) -> None:
    """``X_pool`` and ``featurizer`` go together, one row of features per pool document.

    Fewer rows failed as a bare IndexError once the teacher had answered the first
    round; more were used silently, the rows after ``n_pool`` never read; and one
    without the other was dropped without a word (the features were fitted anew).
    """
    if X_pool is None and featurizer is None:
        return
    if X_pool is None or featurizer is None:
        given, missing = (("X_pool", "featurizer") if featurizer is None
                          else ("featurizer", "X_pool"))
        raise InvalidParameterError(missing, f"given with {given} (the pool's features "
                                    "and the featurizer that made them go together)", None)
    shape = getattr(X_pool, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != n_pool:
        raise InvalidParameterError("X_pool", f"a feature matrix with one row per pool "
                                    f"document ({n_pool})",
                                    f"shape {shape}" if shape is not None
                                    else type(X_pool).__name__)


def _check_answer(Y_batch, answered, n_asked: int, n_labels: int
                  ) -> tuple[sp.csr_matrix, np.ndarray]:
    """The teacher's answer to ``n_asked`` documents as (CSR targets, answered mask).

    A custom teacher's answer of the wrong shape failed as a bare IndexError, or (too
    few label columns) as "'model' must be a model over N labels", and its targets
    outside [0, 1] as an error naming ``Y``: each now names the teacher.
    """
    expected = (f"targets of shape ({n_asked}, {n_labels}) in [0, 1] and an answered "
                f"mask of {n_asked} booleans, one per document sent")
    try:
        Y_batch = sp.csr_matrix(Y_batch, dtype=np.float32, copy=True)
        keep = np.asarray(answered)
    except (TypeError, ValueError):
        raise InvalidParameterError("teacher", expected,
                                    f"{type(Y_batch).__name__}, {type(answered).__name__}"
                                    ) from None
    if Y_batch.shape != (n_asked, n_labels):
        raise InvalidParameterError("teacher", expected, f"targets of shape {Y_batch.shape}")
    if keep.shape != (n_asked,) or keep.dtype.kind not in "biu" or \
            keep.dtype.kind != "b" and not np.isin(keep, (0, 1)).all():
        # integers other than 0/1 are indices, not a mask: read as booleans, index 0
        # was dropped and every other index kept
        raise InvalidParameterError("teacher", expected,
                                    f"an answered mask of shape {keep.shape}, dtype {keep.dtype}")
    if Y_batch.nnz and not np.all((Y_batch.data >= 0) & (Y_batch.data <= 1)):  # NaN fails
        raise InvalidParameterError("teacher", expected, "targets in range "
                                    f"[{Y_batch.data.min()}, {Y_batch.data.max()}]")
    # a stored zero is no label: kept, it was counted in the student's label counts and
    # taken as a named label by threshold tuning
    Y_batch.eliminate_zeros()
    return Y_batch, keep.astype(bool)


def _student_thresholds(X, Y, options: ActiveOptions, n_labels: int,
                        label_features=None, groups=None) -> Thresholds:
    """One global threshold (and whether every document gets its best label), tuned on
    out-of-fold scores against the teacher's named labels (``groups``, one id per
    document, keeps equal texts in one fold).

    Per-label thresholds overfit a few thousand noisy documents: on GoEmotions with
    500-2,000 labelled documents they cost 10-20 points of micro-F1 against one global
    threshold.
    """
    from tagsmith.pipeline.crossfit import (
        cross_fit_topk,
        fold_of_every_labelled,
        labelled_texts,
    )

    if X.shape[0] < max(2, options.threshold_folds) * 5:
        return Thresholds.constant(n_labels)
    if (labelled_texts(Y, groups)[1] < 2
            or fold_of_every_labelled(Y, options.threshold_folds, options.seed,
                                      groups) is not None):
        # the teacher's labels on one document (or those the folds put in one): a fold
        # model with none to learn failed naming a parameter 'Y', after every call was
        # paid for
        logger.warning("the student's threshold is left untuned (%g): the teacher's "
                       "labels are on too few documents to tune it on out-of-fold scores",
                       Thresholds.constant(n_labels).global_threshold)
        return Thresholds.constant(n_labels)
    scores = cross_fit_topk(X, Y, options.model, options.model_params,
                            n_folds=options.threshold_folds, seed=options.seed,
                            label_features=label_features, groups=groups)
    named = sp.csr_matrix((np.ones(Y.nnz, np.float32), Y.indices, Y.indptr), shape=Y.shape)
    tuned = tune_thresholds(named, scores.topk, min_support=Y.shape[0] + 1)
    return Thresholds(np.full(n_labels, tuned.global_threshold, np.float32),
                      tuned.global_threshold, np.zeros(n_labels, bool), tuned.min_labels,
                      beta=tuned.beta)  # the objective, which the manifest records


def llm_teacher(texts: Iterable[str], label_space: LabelSpace, client: LLMClient,
                labeling_options: LabelingOptions | None = None, *,
                reliability: Reliability | None = None, shortlist: TopK | None = None,
                report: LabelingReport | None = None,
                unknown: dict[int, list[str]] | None = None) -> Teacher:
    """A :data:`Teacher` that labels pool documents with the LLM.

    With a :class:`~tagsmith.labeling.reliability.Reliability`, confidences become
    reliability-weighted soft targets. With a
    :class:`~tagsmith.labeling.labeler.LabelingReport`, every batch's counts (failed
    calls, malformed answers, unknown labels) are added to it. With ``unknown`` (a
    dict), each answered pool document whose answer named labels no one label has (a
    misspelt name, one two labels share, one with an invalid confidence) gets its
    names under its pool index: ``label --budget``'s lines list them as
    ``unknown_labels``, as ``label``'s do (``apply-review --decide-from`` read such a
    line's misspelt label as one not given).

    >>> from tagsmith.labeling.client import ScriptedLLM
    >>> space = LabelSpace.from_uris(["u:sport", "u:music"],
    ...                              names={"u:sport": "sport", "u:music": "music"})
    >>> texts = ["football tonight", "a concert", "the cup final"]
    >>> llm = ScriptedLLM(lambda request: '{"labels": [{"label": "%s", "confidence": 0.9}]}'
    ...     % ("music" if "concert" in request.messages[-1]["content"] else "sport"))
    >>> teach = llm_teacher(texts, space, llm)
    >>> Y, answered = teach(np.array([1, 2]))  # the pool documents 1 and 2
    >>> Y.toarray().astype(float).round(2).tolist(), answered.tolist()
    ([[0.0, 0.9], [0.9, 0.0]], [True, True])
    """
    from tagsmith.labeling.client import Usage, check_client
    from tagsmith.labeling.labeler import label_documents

    # refused here, not in the first round, after the features were built
    label_space = check_label_space("label_space", label_space)
    check_client("client", client)
    # by position, as active_distill's indices are: a pandas Series was read by its
    # index labels, so a sampled or filtered DataFrame's column sent the LLM other
    # documents than those chosen, their answers taught as the chosen ones' (or a
    # KeyError where no label matched)
    texts = _as_list(texts, "texts")
    rounds = itertools.count(1)

    def teach(indices: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        batch_shortlist = None if shortlist is None else shortlist[indices]
        # each round's labeling named: a warning said again word for word is shown once
        # (the CLI), and rounds of equal counts ('LLM labeling: 5 unknown labels
        # rejected, ...') read as one
        number = next(rounds)
        result = label_documents([texts[i] for i in indices], label_space, client,
                                 labeling_options, shortlist=batch_shortlist,
                                 desc=f"LLM labeling, round {number}")
        # each round's bar counts its own calls and cost: the whole spend was said only
        # in the JSON summary at the end (the last bar of a 2,000-call budget said
        # "cost 1.0982" of 4.5168)
        usage = getattr(client, "usage", None)
        summary = getattr(usage, "summary", None)
        if labeling_options is not None and labeling_options.show_progress \
                and callable(summary):
            # a price not given named as the caller gives it: the client's price_prompt
            # to a Python caller (it was told of label's --price-prompt), the option on
            # the command line, whose filter swaps in cli_message
            # once: the usage was summed up twice, three times for a Usage
            cli = usage.summary(flags=True) if isinstance(usage, Usage) else summary()
            said = {"round": number, "usage_cli": cli,
                    "usage": usage.summary(flags=False) if isinstance(usage, Usage) else cli}
            logger.info("LLM usage after round %(round)d: %(usage)s", said,
                        extra={"cli_message": "LLM usage after round %(round)d: "
                                              "%(usage_cli)s"})
        if report is not None:
            # the refused documents as positions in the pool (the round's are in its batch)
            report.merge(result.report, positions=indices)
        if unknown is not None and result.unknown is not None:
            for doc, names in enumerate(result.unknown):
                if names and result.answered[doc]:
                    unknown[int(indices[doc])] = list(names)
        Y = (result.Y if reliability is None
             else reliability.soft_targets(result.Y, vote_share=result.vote_share))
        return Y, result.answered

    return teach
