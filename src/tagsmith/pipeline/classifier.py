"""TextClassifier: featurizer + model + thresholds + label space, as one bundle.

This façade is what the CLI and the Python API use: give it texts, get ranked
suggestions with scores, or label sets from the tuned thresholds. A calibrated
classifier (see :mod:`tagsmith.pipeline.confidence`) also carries a calibrator (its
scores are then probabilities), conformal statistics (label sets with a guarantee),
the held-out scores they were fitted on and, optionally, an estimated label shift.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast, overload

import numpy as np
import scipy.sparse as sp

from tagsmith._params import check_int
from tagsmith._plural import plural, plural_s
from tagsmith.calibration.scaling import Calibrator
from tagsmith.calibration.shift import LabelShift
from tagsmith.calibration.thresholds import Thresholds
from tagsmith.data.labelspace import LabelSpace
from tagsmith.exceptions import BundleError, DataError, InvalidParameterError
from tagsmith.features.tfidf import _as_list
from tagsmith.features.views import featurizer_from_state
from tagsmith.models import get_model_class
from tagsmith.models.base import COLUMN_TOPK, NESTED_TOPK, SCORE_BATCHES
from tagsmith.pipeline.crossfit import (
    CROSSFIT_ARRAYS,
    CROSSFIT_META,
    HELDOUT_ARRAYS,
    HELDOUT_META,
    CrossFitScores,
    HeldoutScores,
)
from tagsmith.progress import progress_bar, progress_set
from tagsmith.store.bundle import Bundle, BundleWriter, manifest_text_columns
from tagsmith.topk import RowFill, TopK

if TYPE_CHECKING:
    from tagsmith._typing import Featurizer
    from tagsmith.conformal.lpicp import PowersetSets
    from tagsmith.conformal.sets import LabelSets
    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.models.base import BaseModel
    from tagsmith.pipeline.confidence import ConformalModel
    from tagsmith.pipeline.explain import Evidence, Explainer

LABEL_SPACE_FILE = "label_space.json"
FEATURIZER_META, FEATURIZER_ARRAYS = "featurizer.json", "featurizer.npz"
MODEL_META, MODEL_ARRAYS = "model.json", "model.npz"
THRESHOLDS_META, THRESHOLDS_ARRAYS = "thresholds.json", "thresholds.npz"
STATS_ARRAYS = "label_stats.npz"
CALIBRATOR_META, CALIBRATOR_ARRAYS = "calibrator.json", "calibrator.npz"
CONFORMAL_META, CONFORMAL_ARRAYS = "conformal.json", "conformal.npz"
SHIFT_META, SHIFT_ARRAYS = "label_shift.json", "label_shift.npz"
#: 8-byte hashes of the training texts (bundles before it have none)
TRAIN_HASHES = "train_texts.npz"
#: the manifest's sections :meth:`TextClassifier.save` writes as JSON objects (commands
#: read their entries); the manifest has no checksum of its own
MANIFEST_SECTIONS = ("label_space", "model", "featurizer", "training", "thresholds",
                     "metrics", "calibration", "distillation")
#: texts scored at a time under :attr:`TextClassifier.show_progress`
PREDICT_CHUNK = 8192


@dataclass(frozen=True)
class Suggestion:
    """One suggested label for one document; ``evidence``: the terms of the document
    supporting it, when asked for (:meth:`TextClassifier.explain`), else None."""

    label_id: int
    uri: str
    label: str
    score: float
    evidence: tuple[Evidence, ...] | None = None

    def to_dict(self) -> dict:
        from tagsmith._score import shown_score

        # 6 decimals, 6 significant digits below 0.001 (a tree bundle's scores)
        out: dict = {"uri": self.uri, "label": self.label, "score": shown_score(self.score)}
        if self.evidence is not None:
            out["evidence"] = [e.to_dict() for e in self.evidence]
        return out


@dataclass
class DocumentSet:
    """A document's conformal label set: its members, size and abstain flag.

    For LP-ICP the members are the labels in some label set of the prediction set
    (``extra`` adds the number of label sets, the labels in all of them, credibility
    and confidence). ``abstain_reasons`` says why an abstaining set abstains (empty
    otherwise): ``"too_large"`` (more labels, or LP-ICP label sets, than the limit),
    ``"low_confidence"`` (below ``min_confidence``), ``"empty"`` (LP-ICP: no label set
    typical enough).
    """

    labels: list[Suggestion]
    size: int
    abstain: bool
    alpha: float
    method: str
    extra: dict
    abstain_reasons: tuple[str, ...] = ()

    def to_dict(self, max_members: int = 100) -> dict:
        return {"alpha": self.alpha, "method": self.method, "size": self.size,
                "abstain": self.abstain, "abstain_reasons": list(self.abstain_reasons),
                "labels": [s.to_dict() for s in self.labels[:max_members]],
                "truncated": len(self.labels) > max_members or self.size > len(self.labels),
                **self.extra}


def _abstain_reasons(sets, i: int) -> tuple[str, ...]:
    """Why document ``i`` of ``sets`` (:class:`LabelSets` or :class:`PowersetSets`)
    abstains, as :class:`DocumentSet` names the reasons; ``()`` when it does not."""
    if not sets.abstain[i]:
        return ()
    marks = (("empty", getattr(sets, "empty", None)), ("too_large", sets.too_large),
             ("low_confidence", sets.unsure))
    return tuple(name for name, mask in marks if mask is not None and bool(mask[i]))


class TextClassifier:
    """A trained classifier over texts.

    ``label_counts`` (shape ``(n_labels,)``) and ``n_train_docs`` record the training
    label frequencies, used for propensity-scored metrics and frequency bands.
    ``calibrator``, ``conformal`` (a :class:`~tagsmith.pipeline.confidence.ConformalModel`),
    ``heldout`` and ``label_shift`` are set by calibration and shift estimation.
    """

    def __init__(self, label_space: LabelSpace, featurizer: Featurizer, model: BaseModel,
                 thresholds: Thresholds | None = None, *,
                 label_counts: np.ndarray | None = None, n_train_docs: int = 0,
                 manifest: dict | None = None, crossfit: CrossFitScores | None = None,
                 calibrator: Calibrator | None = None,
                 conformal: ConformalModel | None = None,
                 heldout: HeldoutScores | None = None, label_shift: LabelShift | None = None,
                 train_hashes: np.ndarray | None = None):
        if model.n_labels_ != len(label_space):
            raise InvalidParameterError("model", f"a model over {len(label_space)} "
                                                 f"label{plural_s(len(label_space))}",
                                        f"{model.n_labels_} label{plural_s(model.n_labels_)}")
        _check_feature_spaces(featurizer, model)
        self.label_space = label_space
        self.featurizer = featurizer
        self.model = model
        self.thresholds = thresholds or Thresholds.constant(len(label_space))
        self.label_counts = (np.zeros(len(label_space), np.int64) if label_counts is None
                             else _check_counts(label_counts))
        # per-label parts of another size would save a bundle that cannot be loaded
        _check_label_parts(len(label_space), self.thresholds, self.label_counts,
                           {"calibrator": calibrator, "conformal": conformal,
                            "heldout": heldout, "label_shift": label_shift,
                            "crossfit": crossfit})
        # a negative or fractional count would load, then fail (or give NaN) in the metrics
        self.n_train_docs = check_int("n_train_docs", n_train_docs, 0, numpy=True)
        self.manifest = manifest or {}
        self._loaded_manifest: dict = {}  # set by load
        # out-of-fold scores of the training documents, when training computed them
        self.crossfit = crossfit
        self.calibrator = calibrator
        self.conformal = conformal
        self.heldout = heldout
        self.label_shift = label_shift
        # sorted 8-byte hashes of the training texts (see pipeline.train.text_hashes), to
        # refuse held-out data that overlaps them; None for bundles that predate them
        self.train_hashes = train_hashes
        #: a progress bar over :meth:`predict_topk` calls on more than
        #: :data:`PREDICT_CHUNK` texts (the CLI turns it on; never stored in a bundle)
        self.show_progress = False
        #: the labels a restricted copy (:meth:`restricted`) may suggest, a boolean mask;
        #: None: every label
        self.allowed: np.ndarray | None = None

    @property
    def n_labels(self) -> int:
        """Size of the label space the model predicts over."""
        return len(self.label_space)

    @property
    def text_columns(self) -> tuple[str, ...] | None:
        """The CSV columns (JSONL keys) the bundle's documents were read from, in order
        (its manifest's ``training.text_columns``: ``--text-column`` given to ``train``),
        as the readers' ``text_columns=`` takes them, a name holding a comma one column;
        None: ``text``. A loaded bundle reads no columns by itself: give them to the
        reader, ``read_labelled(path, clf.label_space, text_columns=clf.text_columns)``."""
        return manifest_text_columns(self.manifest, "the classifier's manifest")

    @property
    def is_calibrated(self) -> bool:
        """Whether calibration (``tagsmith calibrate``, :func:`calibrate_classifier`) fitted
        probabilities and conformal sets: :meth:`predict_sets` needs it."""
        return self.calibrator is not None

    def __repr__(self) -> str:
        # what a user checks at a prompt: which model over which labels, calibrated or not
        # (the object's default repr was its address only)
        return (f"TextClassifier(model={type(self.model).__name__}, "
                f"featurizer={type(self.featurizer).__name__}, n_labels={self.n_labels}, "
                f"n_train_docs={self.n_train_docs}, calibrated={self.is_calibrated}, "
                f"label_shift={self.label_shift is not None})")

    # -- prediction ----------------------------------------------------------------------
    def predict_topk(self, texts: Iterable[str] | StreamedTexts, k: int = 10, *,
                     calibrated: bool = True,
                     adjust_shift: bool = True) -> TopK:
        """Top ``k`` labels for each text (``TopK`` of shape n_docs x k).

        A calibrated classifier returns the ``k`` most probable labels among the
        model's top ``max(k, calibration k)`` (the candidates its calibrator and
        thresholds were fitted on), adjusted for the stored label shift if there is
        one (``adjust_shift=False``: without it), so a smaller ``k`` gives the first
        labels of a larger one; with ``calibrated=False`` the model's raw scores. With
        :attr:`show_progress`, many
        texts are scored in chunks under a progress bar (the same result); ``texts`` read
        again from their corpus (:class:`~tagsmith.data.corpus.StreamedTexts`) are read
        and scored a chunk at a time.
        """
        return self.predict_topks(texts, (k, calibrated, adjust_shift))[0]

    def predict_topks(self, texts: Iterable[str] | StreamedTexts,
                      *requests: tuple[int, bool, bool] | tuple[int, bool, bool, int]
                      ) -> list[TopK]:
        """:meth:`predict_topk` of the same texts for each ``(k, calibrated, adjust_shift)``
        of ``requests``, the texts featurized and scored once.

        The model scores them once at the widest width needed when its top-k is nested
        (:data:`~tagsmith.models.base.NESTED_TOPK`), else once per width; either way
        each result is exactly what :meth:`predict_topk` returns for that request.
        A fourth entry ``width`` (at least ``k``) takes the ``k`` best of exactly the
        model's top ``width`` instead of its top ``max(k, calibration k)``: conformal
        sets and label-shift estimation read probabilities over the candidates their
        statistics were fitted on.
        """
        return self._predict_topks_kept(texts, requests, None)

    def _predict_topks_kept(self, texts: Iterable[str] | StreamedTexts, requests,
                            kept: list | None) -> list[TopK]:
        """:meth:`predict_topks`; with a list ``kept``, each chunk's feature matrix is
        appended to it, for :meth:`explain` to read (featurizing the texts again took
        as long as scoring them)."""
        from tagsmith.data.corpus import StreamedTexts

        if not requests:
            if not isinstance(texts, StreamedTexts):
                _as_list(texts)  # what it refuses, refused with no request too
            return []
        requests = tuple(self._check_request(request) for request in requests)
        # a restricted linear model's allowed weight columns, copied once for this call
        # (they were copied again for every chunk of texts, and for every request)
        copies: dict = {}
        return _scored_in_chunks(texts, [self.n_labels] * len(requests),
                                 lambda chunk: self._predict_topks(chunk, requests, kept,
                                                                   copies),
                                 self.show_progress)

    def _check_request(self, request) -> tuple[int, bool, bool, int]:
        """A :meth:`predict_topks` request as ``(k, calibrated, adjust_shift, width)``."""
        if len(request) not in (3, 4):
            raise InvalidParameterError("requests", "(k, calibrated, adjust_shift) or (k, "
                                        "calibrated, adjust_shift, width)",
                                        f"{len(request)} "
                                        f"{plural(len(request), 'entry', 'entries')}")
        k, calibrated, adjust_shift = request[:3]
        k = check_int("k", k, 1, numpy=True)
        width = (self._width(k, calibrated) if len(request) == 3
                 else check_int("width", request[3], k, numpy=True))
        return k, calibrated, adjust_shift, width

    def _width(self, k: int, calibrated: bool) -> int:
        """The model's candidates behind a top ``k``: probabilities re-rank them, so
        scoring only the model's top k would drop a more probable label ranked just
        below it, and the best label would change with k."""
        if not calibrated or self.calibrator is None:
            return k
        return max(k, int(self.calibrator.k))

    def _predict_topks(self, texts: Sequence[str], requests,
                       kept: list | None = None, copies: dict | None = None) -> list[TopK]:
        X = self.featurizer.transform(texts)
        if kept is not None:
            kept.append(X)
        return self._topks_of_features(X, requests, copies)

    def restricted(self, *, only: Iterable[str] | str | None = None,
                   exclude: Iterable[str] | str | None = None,
                   under: Iterable[str] | str | None = None) -> TextClassifier:
        """A copy of this classifier that suggests only the labels allowed: those of
        ``only`` (when given), in a branch of ``under`` (when given: each label and its
        descendants; needs a hierarchy), and not in ``exclude``; each label a URI,
        ``<URI>``, a preferred name in any language or a notation (as a corpus names
        labels). An unknown label, or a restriction allowing none, is refused naming
        the parameter. Its :meth:`predict_topk` (and so :meth:`suggest`) gives each
        text the ``k`` best allowed labels of this classifier's ranking (the first
        ``k`` allowed of its top ``k'`` for a ``k'`` that holds ``k`` of them, or of
        all the model ranks: a tree model's beam reaches some leaves' labels alone),
        ranked and scored as here, before any threshold; its conformal
        sets are refused (a set restricted after the fact loses its guarantee).
        A copy restricted again allows what both restrictions allow. Without any of the
        three, this classifier itself.
        """
        from tagsmith.pipeline.restrict import allowed_labels

        allowed = allowed_labels(self.label_space, only=only, exclude=exclude, under=under)
        if allowed is None:
            return self
        if self.allowed is not None:
            allowed &= self.allowed
            if not allowed.any():
                raise InvalidParameterError("only/exclude/under", "a restriction allowing "
                                            "some of the labels this classifier allows",
                                            "one that allows none of them")
        out = copy.copy(self)
        out.allowed = allowed
        return out

    def _topks_of_features(self, X, requests, copies: dict | None = None) -> list[TopK]:
        """:meth:`_predict_topks` of texts this classifier's featurizer gave ``X``;
        ``copies``: see :meth:`_allowed_topks`."""
        if self.allowed is not None:
            return self._allowed_topks(X, requests, copies)
        return self._unrestricted_topks(X, requests)

    def _allowed_topks(self, X, requests, copies: dict | None = None) -> list[TopK]:
        """For each request, the ``k`` best allowed labels (:attr:`allowed`) of its
        ranking of each row of ``X``: the allowed ones of the top ``k'``, ``k'`` grown
        (4 times at a time) for the rows whose top ``k'`` holds fewer than ``k`` of them,
        until it does, the model lists no more candidates, or ``k'`` is every label.
        Each round scores the rows some request still widens once, for every request
        (suggest's ranking and a recall's count of what ``--k`` cut short were scored
        once each), and each request reads its own rows: the same results as one
        request at a time. A column-scoring model copies the allowed labels' weights into
        ``copies`` (a dict the caller keeps for one call over all its chunks; a new one
        per ``X`` where none is given), once for all the requests."""
        allowed = cast(np.ndarray, self.allowed)
        copies = {} if copies is None else copies
        from tagsmith.features.views import Views

        # a multi-view featurizer's Views, or one matrix
        n_docs, rows_of = (X.n_docs, X.take) if isinstance(X, Views) \
            else (X.shape[0], X.__getitem__)
        n_labels = self.n_labels
        n_allowed = int(allowed.sum())
        wants, wides, pendings = [], [], []
        outs: list[tuple[np.ndarray, np.ndarray] | None] = []
        # the allowed labels' columns are copied (once per call, into ``copies``): worth
        # it for a short list; most labels allowed (--exclude a few) copied nearly every
        # weight for a round that k + the labels denied already ranks in one scoring
        columns = COLUMN_TOPK in self.model.capabilities and 2 * n_allowed <= n_labels
        # a calibrated request of fewer than the labels allowed: the rounds' results
        # from every label's scores at once (stop 49: 40 s in rounds for 2,000 texts,
        # 50 labels of 5,475 allowed, k 10)
        batches = SCORE_BATCHES in self.model.capabilities and 2 * n_allowed <= n_labels
        deep: list[int] = []
        for k, calibrated, *_ in requests:
            if columns and (k >= n_allowed or not (calibrated and self.calibrator is not None)):
                # raw scores: the allowed labels' own columns rank them as every label's
                # do. Probabilities are ranked among the model's top candidates, which
                # only every label's scores say; but with k at least the labels allowed,
                # the rounds' first width is every label, which holds all of them: their
                # own columns' scores calibrated rank them as that round did
                outs.append(None)
                pendings.append(np.arange(0))
                wants.append(0)
                wides.append(0)
                continue
            want = min(k, n_allowed)
            wants.append(want)
            # k + the labels denied holds k allowed ones for sure; a short allow list
            # (a branch) is reached sooner by the share of labels it allows
            wides.append(max(1, min(n_labels, k + (n_labels - n_allowed),
                                    max(2 * k, -(-want * n_labels // n_allowed)))))
            if (batches and calibrated and self.calibrator is not None and k < n_allowed
                    and wides[-1] >= requests[len(outs)][3]):
                # every round calibrates its whole width: read from every label's
                # scores, once, which round each row stops at (see _rounds_at_once)
                deep.append(len(outs))
                outs.append(None)
                pendings.append(np.arange(0))
                continue
            pendings.append(np.arange(n_docs))
            outs.append((np.full((n_docs, k), -1, dtype=np.int32),
                         np.full((n_docs, k), -np.inf, dtype=np.float32)))
        while True:
            active = [i for i, pending in enumerate(pendings) if pending.size]
            if not active:
                break
            rows = np.unique(np.concatenate([pendings[i] for i in active]))
            # the first round scores every row: X as it is
            topks = self._unrestricted_topks(
                X if rows.size == n_docs else rows_of(rows),
                [(wides[i], requests[i][1], requests[i][2], max(requests[i][3], wides[i]))
                 for i in active])
            for i, topk in zip(active, topks, strict=True):
                k, pending, wide = requests[i][0], pendings[i], wides[i]
                at = np.searchsorted(rows, pending)  # this request's rows among those scored
                ids, row_scores = topk.indices[at], topk.scores[at]
                keep = (ids >= 0) & allowed[np.maximum(ids, 0)]
                # asked for every label: done, whatever width the model gave back
                done = ((keep.sum(axis=1) >= wants[i]) | (ids[:, -1] < 0)
                        | (wide >= n_labels))
                # each done row's allowed candidates, in rank order (a stable sort of the
                # kept ones first), then padding
                order = np.argsort(~keep[done], axis=1, kind="stable")[:, :k]
                finished = pending[done]
                picked = np.take_along_axis(keep[done], order, axis=1)
                got_ids = np.take_along_axis(ids[done], order, axis=1)
                got_scores = np.take_along_axis(row_scores[done], order, axis=1)
                n = order.shape[1]
                indices, scores = cast(tuple[np.ndarray, np.ndarray], outs[i])
                indices[finished, :n] = np.where(picked, got_ids, -1)
                scores[finished, :n] = np.where(picked, got_scores, -np.inf)
                pendings[i] = pending[~done]
                wides[i] = min(n_labels, 4 * wide)
        allowed_ids = np.flatnonzero(allowed)
        if deep:
            for i, topk in zip(deep, self._rounds_at_once(
                    X, [(requests[i][0], requests[i][2], wides[i]) for i in deep],
                    allowed_ids), strict=True):
                outs[i] = (topk.indices, topk.scores)
        # a COLUMN_TOPK model's (no method of BaseModel)
        among = cast(Callable[..., TopK], getattr(self.model, "predict_topk_among", None))
        return [TopK._trusted(out[0], out[1], n_labels) if out is not None
                else self.to_probabilities(among(X, request[0], allowed_ids, columns=copies),
                                           adjust_shift=request[2]) if request[1]
                else among(X, request[0], allowed_ids, columns=copies)
                for request, out in zip(requests, outs, strict=True)]

    def _rounds_at_once(self, X, requests, allowed_ids: np.ndarray) -> list[TopK]:
        """What :meth:`_allowed_topks`' widening rounds give each calibrated request
        ``(k, adjust_shift, first width)`` (``k`` below the labels allowed, the first
        width at least the request's own width), from every label's scores read once
        (a :data:`~tagsmith.models.base.SCORE_BATCHES` model's), each row's allowed
        labels alone calibrated.

        A round of width ``w`` calibrates the model's top ``w`` and keeps the allowed
        labels among them; a row stops at the first ``w`` (of the first width times 4,
        16, ... up to every label) whose top ``w`` holds ``k`` allowed labels: the first
        ``w`` above the rank of its ``k``-th best allowed label in the model's ranking
        (score, then lower id, as :meth:`TopK.from_scores` ranks). Its candidates are
        the allowed labels of that top ``w``; calibrated and re-sorted, their first ``k``
        are that round's."""
        n_labels = self.n_labels
        n_allowed = allowed_ids.size
        ids = np.arange(n_labels)
        parts: list[list[TopK]] = [[] for _ in requests]
        # a SCORE_BATCHES model's (no method of BaseModel)
        score_batches = cast(Callable[..., Iterator[tuple[int, np.ndarray]]],
                             getattr(self.model, "score_batches", None))
        for _, scores in score_batches(X):
            allowed_scores = scores[:, allowed_ids]
            n_rows = scores.shape[0]
            for part, (k, adjust_shift, first) in zip(parts, requests, strict=True):
                widths = [first]
                while widths[-1] < n_labels:
                    widths.append(min(n_labels, 4 * widths[-1]))
                # each row's k-th best allowed label (score, then lower id) ...
                kth = -np.partition(-allowed_scores, k - 1, axis=1)[:, k - 1:k]
                tied = allowed_scores == kth
                needed = k - (allowed_scores > kth).sum(axis=1, keepdims=True)
                label = allowed_ids[np.argmax(tied & (np.cumsum(tied, axis=1) == needed),
                                              axis=1)]
                # ... and its rank among every label: the round that stops the row is
                # the first whose width is above it
                rank = ((scores > kth).sum(axis=1)
                        + ((scores == kth) & (ids < label[:, None])).sum(axis=1))
                width = np.asarray(widths)[np.searchsorted(widths, rank, side="right")]
                inside = np.ones((n_rows, n_allowed), dtype=bool)
                for w in np.unique(width[width < n_labels]).tolist():
                    rows = np.flatnonzero(width == w)
                    # the allowed labels of each row's top w (ties at the cut to lower
                    # ids, as TopK.from_scores takes them)
                    row_scores = scores[rows]
                    cut = -np.partition(-row_scores, w - 1, axis=1)[:, w - 1:w]
                    ours = allowed_scores[rows]
                    keep = ours > cut
                    at_cut = ours == cut
                    some = np.flatnonzero(at_cut.any(axis=1))
                    if some.size:
                        level = row_scores[some] == cut[some]
                        room = w - (row_scores[some] > cut[some]).sum(axis=1, keepdims=True)
                        keep[some] |= (at_cut[some]
                                       & (np.cumsum(level, axis=1)[:, allowed_ids] <= room))
                    inside[rows] = keep
                raw = TopK._trusted(np.where(inside, allowed_ids, -1),
                                    np.where(inside, allowed_scores, -np.inf), n_labels)
                part.append(self.to_probabilities(raw, adjust_shift=adjust_shift).head(k))
        return [TopK.concatenate(part) if part else TopK.empty(0, k, n_labels)
                for part, (k, *_) in zip(parts, requests, strict=True)]

    def _unrestricted_topks(self, X, requests) -> list[TopK]:
        """:meth:`_topks_of_features` of every label."""
        widths = sorted({width for *_, width in requests})
        if NESTED_TOPK in self.model.capabilities:
            widest = self.model.predict_topk(X, widths[-1])
            raw = {width: widest.head(width) for width in widths}
        else:
            raw = {width: self.model.predict_topk(X, width) for width in widths}
        # each width's probabilities (and shifted ones) once: two requests of one width
        # (suggest --sets counting what --k cuts short, --replace-deprecated's first
        # round) calibrated the same scores twice
        probs: dict[int, TopK] = {}
        shifted: dict[int, TopK] = {}
        out = []
        for k, calibrated, adjust_shift, width in requests:
            scores = raw[width]
            if calibrated and self.calibrator is not None:
                if width not in probs:  # as to_probabilities, its steps kept apart
                    probs[width] = self.calibrator.apply(scores)
                scores = probs[width]
                if adjust_shift and self.label_shift is not None:
                    if width not in shifted:
                        shifted[width] = self.label_shift.adjust(scores)
                    scores = shifted[width]
            out.append(scores.head(k) if scores.k > k else scores)
        return out

    def to_probabilities(self, raw: TopK, *, adjust_shift: bool = True) -> TopK:
        """Raw model scores -> calibrated probabilities, if calibrated (adjusted for the
        stored label shift, if any, unless ``adjust_shift=False``)."""
        if self.calibrator is None:
            return raw
        probs = self.calibrator.apply(raw)
        if adjust_shift and self.label_shift is not None:
            probs = self.label_shift.adjust(probs)
        return probs

    def tail_probability(self, *, adjust_shift: bool = True) -> np.ndarray:
        """Probability of each label when it is outside a document's top-k, ``(n_labels,)``
        (adjusted for the stored label shift, if any, unless ``adjust_shift=False``)."""
        if self.calibrator is None:
            return np.zeros(self.n_labels)
        tail = self.calibrator.tail
        if adjust_shift and self.label_shift is not None:
            tail = self.label_shift.adjust_tail(tail)
        return tail

    def unseen_words(self, texts: Iterable[str], *, top: int = 10) -> dict:
        """How many of ``texts``' word tokens the model has no feature for, against the
        calibration documents' share recorded in the manifest: the report ``tagsmith
        shift --json`` holds under ``unseen_words``, from the same function
        (:func:`tagsmith.features.unseen.report`).

        Keys: ``measured``; where measured, ``view``, ``n_docs``, ``n_tokens``,
        ``n_unseen``, ``share``, ``calibration_share`` (``None`` where calibration
        recorded none: a bundle calibrated before it was recorded, or on scores whose
        texts were not at hand), ``top`` (the ``top`` most frequent unseen words, each
        ``{"word", "count"}``) and ``well_above_calibration`` (what ``shift`` warns of:
        at least twice the calibration share, 1 point above it, in 20 unseen tokens or
        more; ``None`` without a calibration share); where not (character n-grams alone,
        sentence embeddings), ``reason``. A token is a word as the featurizer tokenizes
        it (its lowercasing and token pattern), unseen if no term of its word unigrams.
        """
        from tagsmith.features.unseen import report

        top = check_int("top", top, 0, numpy=True)
        texts = _as_list(texts)
        calibration = (self.manifest.get("calibration") or {}).get("unseen_words")
        return report(self.featurizer, texts, calibration, top)

    # which class comes back is known from ``method`` where it is a literal: a user's
    # ``sets.recall(Y)``, as README writes it, was refused by mypy ("PowersetSets" has no
    # attribute "recall") for the default method's LabelSets
    @overload
    def predict_sets(self, texts: Iterable[str], *, alpha: float | None = None,
                     method: Literal["recall", "mondrian"] = "recall",
                     max_set_size: int | None = None,
                     min_confidence: float = 0.0) -> LabelSets: ...

    @overload
    def predict_sets(self, texts: Iterable[str], *, alpha: float | None = None,
                     method: Literal["lpicp"], max_set_size: int | None = None,
                     min_confidence: float = 0.0) -> PowersetSets: ...

    @overload
    def predict_sets(self, texts: Iterable[str], *, alpha: float | None = None,
                     method: str = "recall", max_set_size: int | None = None,
                     min_confidence: float = 0.0) -> LabelSets | PowersetSets: ...

    def predict_sets(self, texts: Iterable[str], *, alpha: float | None = None,
                     method: str = "recall", max_set_size: int | None = None,
                     min_confidence: float = 0.0) -> LabelSets | PowersetSets:
        """Conformal label sets (``LabelSets``, or ``PowersetSets`` for ``"lpicp"``).

        ``method``: ``"recall"`` (at least 1 - alpha of a document's labels on
        average), ``"mondrian"`` (the same within every frequency band) or ``"lpicp"``
        (the whole label set covered with probability 1 - alpha; small label spaces).
        Sets use the calibrated probabilities of the model's top ``conformal.k``
        candidates (the candidates the sets were calibrated on, even when the
        calibrator saw more), without any label-shift adjustment: the guarantee is for
        documents like the calibration documents.

        ``alpha``: the allowed miss rate, in (0, 1) (``None``: the one calibration
        stored); ``max_set_size``: larger sets abstain (``None``: the stored size);
        ``min_confidence``: a set abstains when its best label's probability (LP-ICP:
        its best label set's credibility) is below it.
        """
        options = self._set_options(alpha, method, max_set_size, min_confidence)
        probs = self.predict_topks(texts, self._set_request())[0]
        return self._conformal().predict(probs, **options)

    def _conformal(self) -> ConformalModel:
        """The conformal statistics, or an error saying the model is not calibrated (or
        is a :meth:`restricted` copy)."""
        if self.allowed is not None:
            # a set cut to the allowed labels keeps no guarantee: 1-alpha of the true
            # labels are in the set as made, not in what a restriction leaves of it
            raise InvalidParameterError(
                "only/exclude/under", "left out of conformal sets (a set restricted to "
                "some labels loses its guarantee): use the ranked suggestions",
                "a restricted classifier")
        require_calibrated(self, "conformal sets", conformal=True)
        assert self.conformal is not None  # checked just above
        return self.conformal

    def _set_options(self, alpha, method, max_set_size, min_confidence) -> dict:
        """The keyword arguments of ``conformal.predict``, checked before any text is scored."""
        alpha, max_set_size, min_confidence = self._conformal().check_options(
            alpha, max_set_size, min_confidence, method)
        return {"alpha": alpha, "method": method, "max_set_size": max_set_size,
                "min_confidence": min_confidence}

    def _set_request(self) -> tuple[int, bool, bool, int]:
        """The :meth:`predict_topks` request of the sets' probabilities: the model's top
        conformal width, calibrated, without the label shift. Exactly those candidates,
        as the conformal statistics were fitted on (the held-out documents' top-k):
        the best of a calibrator's wider top-k are other labels, scored otherwise, and
        the sets lost their guarantee."""
        k = self._conformal().k
        return k, True, False, k

    def label_sets(self, topk: TopK, threshold: float | None = None) -> sp.csr_matrix:
        """Boolean sparse label sets from the tuned thresholds, or one global ``threshold``
        (a number in [0, 1])."""
        if threshold is None:
            return self.thresholds.label_sets(topk)
        return topk.label_sets(cast(float, _check_threshold(threshold)))  # not None here

    def suggest(self, texts: Iterable[str] | StreamedTexts, *, k: int = 10,
                threshold: float | None = None, lang: str = "en",
                explain: int | None = None,
                only: Iterable[str] | str | None = None,
                exclude: Iterable[str] | str | None = None,
                under: Iterable[str] | str | None = None) -> list[list[Suggestion]]:
        """Ranked suggestions per text (scores are probabilities once calibrated).

        ``threshold=None`` keeps the labels that pass the tuned per-label thresholds
        (so a document may get none); a number in [0, 1] keeps top-k labels scoring at
        least it (``0`` keeps all ``k``; NaN, infinity and numbers outside [0, 1] are
        refused: scores are in [0, 1]). Label names are in ``lang`` (else as
        :meth:`~tagsmith.data.labelspace.LabelSpace.name_of` falls back). ``explain``:
        each suggestion's ``evidence``, up to this many terms (:meth:`explain`).

        ``only``, ``exclude`` and ``under`` restrict the labels suggested, before the
        top ``k`` and the thresholds (each text gets its ``k`` best allowed labels):
        see :meth:`restricted`.
        """
        _check_threshold(threshold)
        if explain is not None:  # refused before any scoring
            from tagsmith.pipeline.explain import check_terms

            check_terms(explain)
            # made (and kept) here, so the restricted copy below shares it: made on the
            # copy, it was made again on every call
            self._explainer()
        classifier = self.restricted(only=only, exclude=exclude, under=under)
        if explain is None:  # texts read again from their corpus (StreamedTexts) stay
            # a chunk at a time
            return classifier._suggestions(classifier.predict_topk(texts, k), threshold,
                                           lang)
        from tagsmith.data.corpus import StreamedTexts

        if isinstance(texts, StreamedTexts):  # read again from their corpus: scored and
            # explained a chunk at a time, as without explain (the corpus and all its
            # features were held); each text's suggestions and evidence are its own
            out: list[list[Suggestion]] = []
            with progress_bar(total=len(texts), desc="predicting", unit="doc",
                              enabled=self.show_progress
                              and len(texts) > PREDICT_CHUNK) as bar:
                for chunk in texts.chunks(PREDICT_CHUNK):
                    out.extend(classifier._explained(chunk, k, threshold, lang, explain))
                    bar.update(len(chunk))
            return out
        return classifier._explained(_as_list(texts), k, threshold, lang, explain)

    def _explained(self, texts: list[str], k: int, threshold: float | None, lang: str,
                   explain: int) -> list[list[Suggestion]]:
        """:meth:`suggest` of ``texts`` with ``explain`` terms of evidence, the features
        scoring made explained without a second featurizing."""
        kept: list = []
        topk = self._predict_topks_kept(texts, ((k, True, True),), kept)[0]
        return self.explain(texts, self._suggestions(topk, threshold, lang), explain,
                            features=_stacked(kept))

    def _explainer(self) -> Explainer:
        """The :class:`~tagsmith.pipeline.explain.Explainer` of this classifier, made on
        first use (refused for a model or featurizer it cannot explain)."""
        from tagsmith.pipeline.explain import Explainer

        made = getattr(self, "_made_explainer", None)
        # remade when the featurizer or model was swapped since
        if made is None or made[0] is not self.featurizer or made[1] is not self.model:
            made = self._made_explainer = (self.featurizer, self.model,
                                           Explainer(self.featurizer, self.model))
        return made[2]

    def explain(self, texts: Iterable[str], suggestions: Sequence[Sequence[Suggestion]],
                n_terms: int = 5, *, features: sp.spmatrix | None = None
                ) -> list[list[Suggestion]]:
        """``suggestions`` (per text of ``texts``, as :meth:`suggest` made them) with
        their ``evidence``: the ``n_terms`` terms of the text that contribute most to
        the label's margin, largest first, positive contributions only. Exact for the
        linear model over TF-IDF features; other models and featurizers are refused
        (:class:`~tagsmith.exceptions.InvalidParameterError` naming them).
        ``features``: the texts' feature matrix from this classifier's featurizer, if
        already made (one row per text); ``None``: the texts are featurized here."""
        texts = _as_list(texts)
        if len(texts) != len(suggestions):
            raise InvalidParameterError("suggestions", f"one list per text ({len(texts)})",
                                        f"{len(suggestions)} lists")
        found = self._explainer().explain(
            texts, [[s.label_id for s in row] for row in suggestions], n_terms,
            features=features)
        return [[replace(s, evidence=tuple(evidence)) for s, evidence in
                 zip(row, per_label, strict=True)]
                for row, per_label in zip(suggestions, found, strict=True)]

    def _suggestions(self, topk: TopK, threshold: float | None,
                     lang: str) -> list[list[Suggestion]]:
        chosen = self.label_sets(topk, threshold)
        out = []
        for row, (ids, scores) in enumerate(topk.rows()):
            keep = set(chosen.indices[chosen.indptr[row]:chosen.indptr[row + 1]].tolist())
            out.append([self._suggestion(int(i), float(s), lang)
                        for i, s in zip(ids, scores, strict=True) if int(i) in keep])
        return out

    def _suggestion(self, label_id: int, score: float, lang: str) -> Suggestion:
        return Suggestion(label_id, self.label_space.uri_of(label_id),
                          self.label_space.name_of(label_id, lang), score)

    def suggest_sets(self, texts: Iterable[str], *, alpha: float | None = None,
                     method: str = "recall", lang: str = "en",
                     max_set_size: int | None = None, min_confidence: float = 0.0,
                     max_members: int = 1000) -> list[DocumentSet]:
        """Each text's conformal label set (see :meth:`predict_sets`), members best first.

        At most ``max_members`` members are listed per document (``size`` is exact);
        label names are in ``lang``, as :meth:`suggest` names them.
        """
        return self._suggest_sets(texts, alpha=alpha, method=method, lang=lang,
                                  max_set_size=max_set_size, min_confidence=min_confidence,
                                  max_members=max_members)

    def _suggest_sets(self, texts: Iterable[str], *, alpha: float | None, method: str,
                      lang: str, max_set_size: int | None, min_confidence: float,
                      max_members: int, count: bool = True) -> list[DocumentSet]:
        """:meth:`suggest_sets`; ``count=False``: an LP-ICP set's ``extra`` without
        ``n_label_sets`` (suggest's text rows, which show none), its label sets never
        counted."""
        max_members = _check_max_members(max_members)
        sets = self.predict_sets(texts, alpha=alpha, method=method, max_set_size=max_set_size,
                                 min_confidence=min_confidence)
        return self._document_sets(sets, method, lang, max_members, count=count)

    def suggest_with_sets(self, texts: Iterable[str], *, k: int = 10,
                          threshold: float | None = None, lang: str = "en",
                          alpha: float | None = None, method: str = "recall",
                          max_set_size: int | None = None, min_confidence: float = 0.0,
                          max_members: int = 1000
                          ) -> tuple[list[list[Suggestion]], list[DocumentSet]]:
        """:meth:`suggest` and :meth:`suggest_sets` of the same texts (the same results),
        the texts featurized and scored once for both."""
        suggestions, sets, _ = self._suggest_with_sets(
            texts, k=k, threshold=threshold, lang=lang, alpha=alpha, method=method,
            max_set_size=max_set_size, min_confidence=min_confidence,
            max_members=max_members)
        return suggestions, sets

    def _suggest_with_sets(self, texts: Iterable[str], *requests: tuple[int, bool, bool],
                           k: int = 10, threshold: float | None = None, lang: str = "en",
                           alpha: float | None = None, method: str = "recall",
                           max_set_size: int | None = None, min_confidence: float = 0.0,
                           max_members: int = 1000, kept: list | None = None
                           ) -> tuple[list[list[Suggestion]], list[DocumentSet], list[TopK]]:
        """:meth:`suggest_with_sets`, and the :meth:`predict_topks` of ``requests`` from
        the same scoring (suggest's count of the labels --k cut short scored each batch
        a second time for them); ``kept``: as :meth:`_predict_topks_kept`."""
        _check_threshold(threshold)
        max_members = _check_max_members(max_members)
        options = self._set_options(alpha, method, max_set_size, min_confidence)
        topk, probs, *extra = self._predict_topks_kept(
            texts, ((k, True, True), self._set_request(), *requests), kept)
        return (self._suggestions(topk, threshold, lang),
                self._document_sets(self._conformal().predict(probs, **options), method, lang,
                                    max_members), extra)

    def _document_sets(self, sets, method: str, lang: str, max_members: int,
                       count: bool = True) -> list[DocumentSet]:
        """Each document's :class:`DocumentSet` of ``sets``. An LP-ICP one's ``extra``
        has ``n_label_sets`` (and, where that stopped at the count's cap, a lower bound,
        ``n_label_sets_capped``: True) unless ``count`` is False: the count is most of
        the time of a weak model's sets (every document capped at a million)."""
        ranked = None
        if method != "lpicp":
            # every member's probability, then the best max_members (labels() lists the
            # top-k members and then the tail ones by id: cut, it kept the lowest ids)
            ranked = sets.ranked_members(self.tail_probability(adjust_shift=False),
                                         max_members)
        counted = capped = None
        if method == "lpicp" and count:
            counted, capped = sets.n_sets, sets.capped
        out = []
        for i in range(len(sets)):
            if method == "lpicp":
                ids = np.flatnonzero(sets.possible[i])
                probs = sets.probabilities[i, ids]
                extra: dict = {}
                if counted is not None and capped is not None:
                    extra["n_label_sets"] = int(counted[i])
                    if capped[i]:  # printed as the cap alone, it read as exact
                        extra["n_label_sets_capped"] = True
                extra |= {"certain": [self.label_space.uri_of(int(j))
                                      for j in np.flatnonzero(sets.certain[i])],
                          "credibility": round(float(sets.credibility[i]), 6),
                          "confidence": round(float(sets.confidence[i]), 6)}
            else:
                assert ranked is not None
                ids, probs = ranked[i]
                extra = {}
            order = np.argsort(-probs, kind="stable") if method == "lpicp" \
                else range(ids.size)
            members = [self._suggestion(int(ids[j]), float(probs[j]), lang) for j in order]
            size = len(ids) if method == "lpicp" else int(sets.size[i])
            out.append(DocumentSet(members, size, bool(sets.abstain[i]),
                                   float(sets.epsilon if method == "lpicp" else sets.alpha),
                                   method, extra, _abstain_reasons(sets, i)))
        return out

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path, *, in_place: bool = False) -> Path:
        """Write the bundle atomically (see :mod:`tagsmith.store.bundle`).

        ``in_place``: ``path`` is the bundle this classifier was loaded from
        (:meth:`load`), changed in place (``calibrate``, ``shift --save``); the save is refused (a
        :class:`~tagsmith.exceptions.BundleTargetError`) where another process saved a
        bundle there since the load, whose changes this save would drop.
        """
        # a classifier not loaded from a bundle has no bundle to find still there
        replaces = self._loaded_manifest if in_place and self._loaded_manifest else None
        writer = BundleWriter(Path(path), replaces=replaces)
        writer.add_json(LABEL_SPACE_FILE, self.label_space.to_dict())
        feat_meta, feat_arrays = self.featurizer.to_state()
        writer.add_json(FEATURIZER_META, feat_meta)
        writer.add_arrays(FEATURIZER_ARRAYS, feat_arrays)
        with _display_defaults(self.model):
            model_meta, model_arrays = self.model.to_state()
            model_params = self.model.get_params()
        writer.add_json(MODEL_META, {"name": self.model.name, **model_meta})
        writer.add_arrays(MODEL_ARRAYS, model_arrays)
        thr_meta, thr_arrays = self.thresholds.to_state()
        writer.add_json(THRESHOLDS_META, thr_meta)
        writer.add_arrays(THRESHOLDS_ARRAYS, thr_arrays)
        writer.add_arrays(STATS_ARRAYS, {"label_counts": self.label_counts,
                                         "n_train_docs": np.array(self.n_train_docs)})
        if self.train_hashes is not None:
            writer.add_arrays(TRAIN_HASHES, {"hashes": np.asarray(self.train_hashes, "<u8")})
        if self.crossfit is not None:
            cf_meta, cf_arrays = self.crossfit.to_state()
            writer.add_json(CROSSFIT_META, cf_meta)
            writer.add_arrays(CROSSFIT_ARRAYS, cf_arrays)
        for part, meta_name, arrays_name in (
                (self.calibrator, CALIBRATOR_META, CALIBRATOR_ARRAYS),
                (self.conformal, CONFORMAL_META, CONFORMAL_ARRAYS),
                (self.heldout, HELDOUT_META, HELDOUT_ARRAYS),
                (self.label_shift, SHIFT_META, SHIFT_ARRAYS)):
            if part is not None:
                part_meta, part_arrays = part.to_state()
                writer.add_json(meta_name, part_meta)
                writer.add_arrays(arrays_name, part_arrays)
        writer.manifest = {
            **self.manifest,
            "model": {"name": self.model.name, "params": model_params},
            "featurizer": {"name": getattr(self.featurizer, "kind", "tfidf"),
                           "params": self.featurizer.get_params()},
            "label_space": {"fingerprint": self.label_space.fingerprint,
                            "n_labels": self.n_labels},
        }
        target = writer.commit()
        if in_place and writer.written is not None:
            # a further in-place save expects this one's bundle there, not the loaded one
            # (a second save was refused as though another command had saved meanwhile)
            self._loaded_manifest = writer.written
        return target

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        """Load and check a bundle; raises :class:`BundleError` naming what is wrong."""
        with Bundle(path) as bundle:  # its files read as verified, even if replaced meanwhile
            return cls._from_bundle(bundle, path)

    @classmethod
    def _from_bundle(cls, bundle: Bundle, path: str | Path) -> TextClassifier:
        check_manifest_sections(bundle.manifest, path)
        manifest_text_columns(bundle.manifest, path)  # a damaged field: told on loading
        try:
            try:
                label_space = LabelSpace.from_dict(bundle.read_json(LABEL_SPACE_FILE))
            except DataError as exc:  # a vocabulary's error, but the bundle is what is wrong
                raise BundleError(f"{LABEL_SPACE_FILE}: {exc.reason}", path=path) from exc
            featurizer = featurizer_from_state(bundle.read_json(FEATURIZER_META),
                                               bundle.read_arrays(FEATURIZER_ARRAYS))
            model_meta = bundle.read_json(MODEL_META)
            model_class = get_model_class(model_meta["name"])
            model = model_class.from_state(model_meta, bundle.read_arrays(MODEL_ARRAYS))
            thresholds = Thresholds.from_state(bundle.read_json(THRESHOLDS_META),
                                               bundle.read_arrays(THRESHOLDS_ARRAYS))
            stats = bundle.read_arrays(STATS_ARRAYS)
            crossfit = (CrossFitScores.from_state(
                bundle.read_json(CROSSFIT_META), bundle.read_arrays(CROSSFIT_ARRAYS),
                seconds=bundle.manifest.get("metrics", {}).get("crossfit", {}).get("seconds"))
                        if bundle.has(CROSSFIT_META) else None)
            parts = _load_confidence(bundle)
            train_hashes = (_check_train_hashes(
                bundle.read_arrays(TRAIN_HASHES, keys=("hashes",))["hashes"])
                if bundle.has(TRAIN_HASHES) else None)
        except BundleError:
            raise
        except (KeyError, ValueError, TypeError, AttributeError, RecursionError,
                OverflowError) as exc:
            # AttributeError: a JSON part of another shape ([] where {} belongs);
            # OverflowError: a count beyond int64 (an integer ``"n_features"`` of 31 digits),
            # which numpy and scipy cannot hold
            raise BundleError(f"incompatible or damaged contents ({type(exc).__name__}: {exc})",
                              path=path) from exc
        recorded = bundle.manifest.get("label_space", {}).get("fingerprint")
        if recorded != label_space.fingerprint:
            raise BundleError("the label space does not match the fingerprint in the manifest",
                              path=path)
        for name in ("label_counts", "n_train_docs"):
            if name not in stats:
                raise BundleError(f"{STATS_ARRAYS} has no {name}", path=path)
        if np.size(stats["n_train_docs"]) != 1:
            raise BundleError(f"{STATS_ARRAYS} n_train_docs is not one number", path=path)
        try:  # the constructor checks every per-label part against the label space
            classifier = cls(label_space, featurizer, model, thresholds,
                             label_counts=stats["label_counts"],
                             n_train_docs=np.asarray(stats["n_train_docs"]).reshape(()).item(),
                             manifest=rounds_from_1(bundle.manifest), crossfit=crossfit,
                             train_hashes=train_hashes, **parts)
        except (InvalidParameterError, TypeError, ValueError) as exc:
            raise BundleError(f"incompatible parts: {exc}", path=path) from exc
        # the manifest as loaded, before a command changes ``manifest``: what an in-place
        # save expects to find still there (see :meth:`save`)
        classifier._loaded_manifest = copy.deepcopy(bundle.manifest)
        return classifier



def _stacked(kept: list):
    """The one feature matrix of the chunks' ``kept`` by :meth:`TextClassifier._predict_topks`
    (one chunk unless scored under a progress bar)."""
    return kept[0] if len(kept) == 1 else sp.vstack(kept, format="csr")


def _scored_in_chunks(texts: Iterable[str] | StreamedTexts, n_labels: list[int],
                      score, show_progress: bool) -> list[TopK]:
    """``score(texts)`` (a list of TopKs, one per entry of ``n_labels``, over that many
    labels), in chunks under a progress bar with ``show_progress`` (the same result)
    and for texts read again from their corpus (:class:`StreamedTexts`), which are read
    a chunk at a time."""
    from tagsmith.data.corpus import StreamedTexts

    held: Sequence[str] | None = None
    chunks: Iterator[Sequence[str]]
    if isinstance(texts, StreamedTexts):  # read again from their corpus, a chunk at a time
        n_docs, chunks = len(texts), texts.chunks(PREDICT_CHUNK)
    else:
        # a DataFrame was scored as the one document "text" (its column names)
        held = _as_list(texts)
        n_docs = len(held)
        chunks = (held[start:start + PREDICT_CHUNK]
                  for start in range(0, n_docs, PREDICT_CHUNK))
    if not n_docs:
        return score([])
    if held is not None and (not show_progress or n_docs <= PREDICT_CHUNK):
        return score(held)
    # each chunk's rows go straight into arrays for all texts (stacking the chunks'
    # results at the end held them twice); texts read again from their corpus
    # (StreamedTexts) are held a chunk at a time
    fills = [RowFill(n_docs, n) for n in n_labels]
    with progress_bar(total=n_docs, desc="predicting", unit="doc",
                      enabled=show_progress and n_docs > PREDICT_CHUNK) as bar:
        for chunk in chunks:
            for fill, part in zip(fills, score(chunk), strict=True):
                fill.add(part)
            bar.update(len(chunk))
    return [fill.result() for fill in fills]


def same_featurizer(first: TextClassifier, second: TextClassifier) -> bool:
    """Whether two loaded bundles' featurizers are the same: their ``featurizer.json``
    (parameters and vocabulary) is one file, by the checksums their manifests record
    (verified when each was loaded), and so is their ``featurizer.npz`` (the idf
    arrays), which tagsmith writes as the same bytes for the same arrays. Where only
    the ``.npz`` checksums differ, the arrays are compared: bundles written before
    that (with ``numpy.savez``, which left the members' date and system to
    :mod:`zipfile`) may hold the same arrays as other bytes, one written on Windows
    (its members marked as written there) or under a Python that dates them. A bundle
    and its calibrated copy, or two models trained on one featurization, share theirs;
    bundles trained on other documents, or a classifier not loaded from a bundle
    (nothing recorded), do not."""
    recorded = []
    for classifier in (first, second):
        files = classifier._loaded_manifest.get("files")
        recorded.append((files.get(FEATURIZER_META), files.get(FEATURIZER_ARRAYS))
                        if isinstance(files, dict) else (None, None))
    if recorded[0][0] is None or recorded[0][0] != recorded[1][0] \
            or type(first.featurizer) is not type(second.featurizer):
        return False
    if recorded[0][1] is not None and recorded[0][1] == recorded[1][1]:
        return True  # the same files: the same featurizer, no arrays to compare
    (meta, arrays), (other_meta, other_arrays) = (
        first.featurizer.to_state(), second.featurizer.to_state())
    return meta == other_meta and arrays.keys() == other_arrays.keys() and all(
        np.asarray(array).dtype == np.asarray(other_arrays[name]).dtype
        and np.array_equal(array, other_arrays[name]) for name, array in arrays.items())


def predict_topk_pair(first: TextClassifier, second: TextClassifier,
                      texts: Iterable[str] | StreamedTexts, k_first: int, k_second: int
                      ) -> tuple[TopK, TopK]:
    """``first.predict_topk(texts, k_first)`` and ``second.predict_topk(texts,
    k_second)`` (the same results), the texts featurized once where the bundles'
    featurizers are the same files (:func:`same_featurizer`), else by each. Under
    ``first``'s progress bar."""
    from tagsmith.data.corpus import StreamedTexts

    if not same_featurizer(first, second):
        if not isinstance(texts, StreamedTexts):
            texts = _as_list(texts)  # read twice
        return first.predict_topk(texts, k_first), second.predict_topk(texts, k_second)
    requests = ((first._check_request((k_first, True, True)),),
                (second._check_request((k_second, True, True)),))

    def score(chunk: Sequence[str]) -> list[TopK]:
        X = first.featurizer.transform(chunk)
        return [*first._topks_of_features(X, requests[0]),
                *second._topks_of_features(X, requests[1])]

    both = _scored_in_chunks(texts, [first.n_labels, second.n_labels], score,
                             first.show_progress)
    return both[0], both[1]


@contextmanager
def _display_defaults(model: BaseModel) -> Iterator[None]:
    """``model``'s ``show_progress`` and its members' (an ensemble's) at their family's
    default inside the ``with`` block, as they were afterwards.

    The bundle stores the model's parameters: a training with progress on (a terminal)
    stored ``"show_progress": true``, one with ``-q`` ``false``, so two bundles of one
    training differed (in ``tagsmith info`` and in ``model.json``) by where they ran.
    """
    parts = [model, *getattr(model, "members_", [])]
    defaults = [(part, inspect.signature(type(part)).parameters.get("show_progress"))
                for part in parts if hasattr(part, "show_progress")]
    with progress_set([(part, False if default is None else default.default)
                       for part, default in defaults]):
        yield


def check_manifest_sections(manifest: dict, path: str | Path) -> None:
    """Each of the manifest's :data:`MANIFEST_SECTIONS` that it holds is an object: they
    are read with ``.get()``, and a list there was an AttributeError. ``tagsmith info``
    checks them too: it printed such a manifest as sound, exit code 0."""
    for section in MANIFEST_SECTIONS:
        if not isinstance(manifest.get(section, {}), dict):
            raise BundleError(f"manifest.json: {section!r} is not an object", path=path)


def rounds_from_1(manifest: dict) -> dict:
    """``manifest`` with its ``distillation.rounds`` numbered from 1, as the run's lines
    say them (``active distillation round 1 of 4``): a student saved before numbered
    them from 0 (its first round ``"round": 0``), and is read as if saved now. The
    manifest itself where there is nothing to renumber; otherwise a copy.

    >>> rounds_from_1({"distillation": {"rounds": [{"round": 0}, {"round": 1}]}})
    {'distillation': {'rounds': [{'round': 1}, {'round': 2}]}}
    >>> rounds_from_1({"distillation": {"rounds": [{"round": 1}, {"round": 2}]}})
    {'distillation': {'rounds': [{'round': 1}, {'round': 2}]}}
    """
    record = manifest.get("distillation")
    if not isinstance(record, dict):
        return manifest
    rounds = record.get("rounds")
    if not (isinstance(rounds, list) and rounds and isinstance(rounds[0], dict)
            and rounds[0].get("round") == 0):
        return manifest
    renumbered = [{**entry, "round": entry["round"] + 1}
                  if isinstance(entry, dict) and isinstance(entry.get("round"), int)
                  else entry for entry in rounds]
    return {**manifest, "distillation": {**record, "rounds": renumbered}}


def require_calibrated(classifier: TextClassifier, purpose: str, *,
                       conformal: bool = False) -> Calibrator:
    """``classifier``'s calibrator, for ``purpose``; refused when it has none (nor, with
    ``conformal``, conformal statistics).

    One message for every caller, naming the parameter each of them was passed: the
    ``classifier`` of :func:`~tagsmith.pipeline.confidence.evaluate_confidence` and
    :func:`~tagsmith.pipeline.confidence.estimate_shift`, the classifier
    :meth:`TextClassifier.predict_sets` is called on (the same mistake named
    ``classifier`` in one place and ``bundle`` in the other).

    >>> try:
    ...     require_calibrated(object(), "conformal sets")
    ... except InvalidParameterError as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    parameter 'classifier' must be a calibrated classifier for conformal sets
    (calibrate_classifier, tagsmith calibrate, or training with a calibration_fraction
    above 0), got 'an uncalibrated one'
    """
    calibrator = getattr(classifier, "calibrator", None)
    if calibrator is None or conformal and getattr(classifier, "conformal", None) is None:
        raise InvalidParameterError(
            "classifier", f"a calibrated classifier for {purpose} (calibrate_classifier, "
            "tagsmith calibrate, or training with a calibration_fraction above 0)",
            "an uncalibrated one")
    return calibrator


def _check_label_parts(n_labels: int, thresholds: Thresholds, label_counts: np.ndarray,
                       parts: dict) -> None:
    """The per-label arrays and calibration parts given to :class:`TextClassifier` cover
    its ``n_labels`` labels (the checks ``load`` makes, as parameter errors)."""
    arrays = {"label_counts": label_counts, "thresholds.per_label": thresholds.per_label,
              "thresholds.tuned_mask": thresholds.tuned_mask}
    if thresholds.source is not None:
        arrays["thresholds.source"] = thresholds.source
    crossfit = parts.pop("crossfit", None)
    if crossfit is not None and crossfit.topk.n_labels != n_labels:
        raise InvalidParameterError("crossfit", f"scores over the {n_labels} "
                                                f"label{plural_s(n_labels)}",
                                    f"scores over {crossfit.topk.n_labels} "
                                    f"label{plural_s(crossfit.topk.n_labels)}")
    for name, array in arrays.items():
        if np.shape(array) != (n_labels,):
            raise InvalidParameterError(name, f"an array of shape ({n_labels},), one entry "
                                        "per label", f"shape {np.shape(array)}")
    # what label_sets refuses, refused here: a bundle holding it would load and then fail
    # on every text with an error about a parameter nobody passed. Plain ints kept: a
    # numpy one passed, then failed the save (JSON) after the work
    thresholds.min_labels = check_int("thresholds.min_labels", thresholds.min_labels, 0,
                                      numpy=True)
    thresholds.max_labels = check_int("thresholds.max_labels", thresholds.max_labels, 0,
                                      allow_none=True, numpy=True)
    if thresholds.min_labels > n_labels:  # no set can hold more labels than there are
        raise InvalidParameterError("thresholds.min_labels", f"an integer in [0, {n_labels}] "
                                    f"(at most the {n_labels} "
                                    f"label{plural_s(n_labels)})", thresholds.min_labels)
    if np.isnan(np.asarray(thresholds.per_label, dtype=np.float64)).any():
        raise InvalidParameterError("thresholds.per_label", "numbers (no NaN)",
                                    "NaN for some labels")
    for name, part in parts.items():
        if part is not None and part_labels(part) != n_labels:
            raise InvalidParameterError(name, f"one covering the {n_labels} "
                                              f"label{plural_s(n_labels)}",
                                        f"one covering {part_labels(part)} "
                                        f"label{plural_s(part_labels(part))}")


def _check_train_hashes(hashes: np.ndarray) -> np.ndarray:
    """A bundle's training-text hashes when they are a 1-D array of 8-byte unsigned
    integers (what :func:`~tagsmith.pipeline.train.text_hashes` gives), else ValueError:
    strings or narrower integers matched no text, which silently let ``calibrate
    --data`` (:func:`~tagsmith.pipeline.confidence.heldout_from_corpus`) calibrate on the
    training documents."""
    if hashes.dtype.kind != "u" or hashes.dtype.itemsize != 8 or hashes.ndim != 1:
        raise ValueError(f"{TRAIN_HASHES} hashes are not a 1-D array of 8-byte unsigned "
                         f"integers (dtype {hashes.dtype}, shape {hashes.shape})")
    return hashes


def _check_counts(label_counts) -> np.ndarray:
    """``label_counts`` as int64 when every entry is a whole number >= 0."""
    counts = np.asarray(label_counts)
    if counts.dtype.kind not in "iu":
        whole = counts.dtype.kind == "f" and bool(np.all(np.isfinite(counts))) \
            and bool(np.all(counts == np.round(counts)))
        if not whole:
            raise InvalidParameterError("label_counts", "counts (whole numbers >= 0)",
                                        f"an array of {counts.dtype}")
    if counts.size and counts.min() < 0:
        raise InvalidParameterError("label_counts", "counts (whole numbers >= 0)",
                                    f"a count of {counts.min()}")
    return counts.astype(np.int64)


def _check_feature_spaces(featurizer, model) -> None:
    """The model reads the columns the featurizer writes (for a multi-view featurizer,
    each ensemble member those of its view): a bundle whose parts disagree would load
    and then fail on every text."""
    given = getattr(featurizer, "n_features", None)  # None while unfitted
    expected = getattr(model, "n_features_", None)
    pairs = [("model", given, expected)]
    if isinstance(given, dict):  # views: the members name theirs
        pairs = [(f"model member {i} (view {view!r})", given.get(view),
                  getattr(member, "n_features_", None))
                 for i, (member, view) in enumerate(zip(getattr(model, "members_", []),
                                                        getattr(model, "views_", []),
                                                        strict=False))
                 if view is not None]
        missing = [view for view in getattr(model, "views_", []) if view is not None
                   and view not in given]
        if missing:
            raise InvalidParameterError("model", f"members over the featurizer's views "
                                        f"({', '.join(sorted(given))})", f"view {missing[0]!r}")
    for name, columns, wanted in pairs:
        if isinstance(columns, int | np.integer) and isinstance(wanted, int | np.integer) \
                and columns != wanted:
            raise InvalidParameterError(name, f"a model over the featurizer's {columns} "
                                        f"feature column{plural_s(int(columns))}",
                                        f"{wanted} column{plural_s(int(wanted))}")


def part_labels(part: HeldoutScores | ConformalModel | Calibrator | LabelShift) -> int:
    """Number of labels a stored calibration part covers."""
    if isinstance(part, HeldoutScores):
        return part.topk.n_labels
    if hasattr(part, "recall"):  # ConformalModel
        return part.recall.n_labels
    return int(part.n_labels)


def _load_confidence(bundle: Bundle) -> dict:
    def conformal_model(meta, arrays):
        from tagsmith.pipeline.confidence import ConformalModel  # numba only when needed

        return ConformalModel.from_state(meta, arrays)

    def calibrator(meta, arrays):  # its warnings name the bundle
        return Calibrator.from_state(meta, arrays, source=str(bundle.path))

    out: dict = {}
    for key, load, meta_name, arrays_name in (
            ("calibrator", calibrator, CALIBRATOR_META, CALIBRATOR_ARRAYS),
            ("conformal", conformal_model, CONFORMAL_META, CONFORMAL_ARRAYS),
            ("heldout", HeldoutScores.from_state, HELDOUT_META, HELDOUT_ARRAYS),
            ("label_shift", LabelShift.from_state, SHIFT_META, SHIFT_ARRAYS)):
        out[key] = (load(bundle.read_json(meta_name), bundle.read_arrays(arrays_name))
                    if bundle.has(meta_name) else None)
    return out


def _check_threshold(threshold: float | None) -> float | None:
    """``threshold`` if it is ``None`` or a finite number in [0, 1] (scores are in
    [0, 1]; NaN would silently keep nothing), else :class:`InvalidParameterError`."""
    if threshold is None:
        return None
    from tagsmith._params import check_number

    return check_number("threshold", threshold, 0, maximum=1, numpy=True)


def _check_max_members(max_members) -> int:
    """``max_members`` of the document sets checked before any text is scored: a
    negative count sliced from the end (-1 dropped the least probable member)."""
    return check_int("max_members", max_members, 0, numpy=True)
