"""Training: fit featurizer and model, tune thresholds on held-out data, record it all.

Thresholds are tuned on a dev set when one is given; otherwise a seeded fraction of
the training data is held out, the model is fitted on the rest and tuned on it, and
(with ``refit``) featurizer and model are then fitted again on all the data, keeping
the tuned thresholds. The held-out metrics in the manifest always come from a model
that did not see those documents.

With ``calibration_fraction``, a seeded share of the documents is set aside first and
never trained on; the final model scores it and the classifier is calibrated on
those scores (probabilities, thresholds on them, conformal sets; see
:mod:`tagsmith.pipeline.confidence`), and the scores are kept in the bundle.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, cast

import numpy as np
import scipy.sparse as sp

from tagsmith._params import (
    check_at_construction,
    check_fraction,
    check_int,
    check_number,
    check_options,
    check_param_names,
)
from tagsmith._plural import NAME_LIMIT, and_more, clip, plural, plural_s
from tagsmith._surface import said
from tagsmith._typing import LabelMatrix
from tagsmith.audit.duplicates import groups_of_hashes  # also named here, where it was first
from tagsmith.calibration.thresholds import Thresholds, tune_thresholds
from tagsmith.data import texthash
from tagsmith.data.labelspace import LabelSpace, check_label_table
from tagsmith.data.texthash import in_training  # noqa: F401  (named here, where it was first)
from tagsmith.data.textio import check_no_lone_surrogate
from tagsmith.exceptions import DataError, InvalidParameterError
from tagsmith.features.tfidf import AnalyzedTexts, TfidfFeaturizer, _as_list, holds_unspaced
from tagsmith.features.unseen import recorded
from tagsmith.features.views import make_featurizer
from tagsmith.metrics.sets import sum_duplicates_wide
from tagsmith.models import check_model_params, get_model_class, make_model
from tagsmith.models.base import as_float32_csr, takes_groups
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.confidence import (
    CALIBRATED_HERE,
    CONFORMAL_SHARE,
    TUNED_HERE,
    ConfidenceOptions,
    _check_conformal_share,
    calibrate_classifier,
    check_heldout_labels,
    never_untrained,
    recall_reach,
    thresholds_documents,
    warn_thin_thresholds,
    without_labels,
)
from tagsmith.pipeline.crossfit import (
    MAX_FOLDS,
    HeldoutScores,
    default_k,
    fold_assignment,
    fold_of_every_labelled,
    heldout_split,
    labelled_texts,
    split_order,
    unfit_groups,
)
from tagsmith.pipeline.evaluate import evaluate_topk, tuning_k
from tagsmith.progress import progress_set
from tagsmith.topk import TopK

logger = logging.getLogger("tagsmith")

#: below this many documents no dev split is carved out (thresholds stay at 0.5)
MIN_DOCS_FOR_DEV_SPLIT = 20
#: every label's threshold when none were tuned
UNTUNED_THRESHOLD = 0.5


@dataclass
class TrainOptions:
    """How to train; every field has a sane default.

    ``model``: the model family, one of :func:`tagsmith.models.available_models`
    (``linear``, ``tree``, ``knn``, ``dense_knn``, ``ensemble``); ``model_params``: its
    parameters, as :func:`tagsmith.models.make_model` takes them (``random_state`` and
    ``show_progress`` default to ``seed`` and ``show_progress`` below).
    ``featurizer``: ``tfidf``, ``embedding`` (sentence embeddings) or ``views``
    (several named featurizers: ``featurizer_params`` maps each view's name to
    ``{"kind": ..., **its params}``); ``featurizer_params``: the featurizer's parameters.
    ``dev_fraction``: without ``dev_texts``, the share of the documents held out to tune
    the thresholds on (0: none, every threshold stays 0.5); ``refit``: refit the model
    on every document after tuning on that share (False keeps the model that never saw
    it). ``seed``: seeds the held-out splits, the cross-fitting folds and the model's
    ``random_state``: one seed, one model, to the bit. ``beta``: the thresholds maximise
    each label's F-beta on the held-out documents; ``min_support``: a label with fewer
    held-out positives takes the global threshold. ``crossfit_folds``: folds for
    out-of-fold scores of the training documents, stored in the bundle for ``audit``
    and ``calibrate`` (0: none, else 2 or more); ``crossfit_k``: their top-k width
    (default :func:`tagsmith.pipeline.crossfit.default_k`). ``calibration_fraction``:
    the share of the documents set aside (never trained on) to calibrate the model
    (0: none); ``calibration_k``: the top-k width of that split's scores (default:
    every label up to 100, else 50); ``confidence``: how to calibrate on it
    (:class:`~tagsmith.pipeline.confidence.ConfidenceOptions`; None: its defaults; other
    than those, refused without a split). ``show_progress``: progress bars on stderr.

    A field out of range is an :class:`~tagsmith.exceptions.InvalidParameterError`
    naming it, raised by :meth:`validate` (which :func:`train_classifier` calls).
    """

    model: str = "linear"
    model_params: dict = field(default_factory=dict)
    #: "tfidf", "embedding" (sentence embeddings) or "views" (several named featurizers:
    #: featurizer_params maps each view's name to {"kind": ..., **its params})
    featurizer: str = "tfidf"
    featurizer_params: dict = field(default_factory=dict)
    dev_fraction: float = 0.1
    refit: bool = True
    seed: int = 0
    beta: float = 1.0
    min_support: int = 5
    #: folds for out-of-fold scores of the training data, stored in the bundle (0: none)
    crossfit_folds: int = 0
    crossfit_k: int | None = None
    #: share of the documents set aside (never trained on) to calibrate the model (0: none)
    calibration_fraction: float = 0.0
    #: top-k width of the calibration split's scores (default: every label up to 100, else 50)
    calibration_k: int | None = None
    #: how to calibrate on that split (None: the defaults of ConfidenceOptions); other
    #: than the defaults, refused without a split (they would calibrate nothing)
    confidence: ConfidenceOptions | None = None
    show_progress: bool = False

    def __post_init__(self) -> None:
        # a bad field is refused here, naming it, not where the options are used; how
        # the fields go together (confidence and its calibration split, the model and
        # its featurizer) only there: a notebook may set one after the other
        check_at_construction(self, False)

    def validate(self, _together: bool = True) -> None:
        """Refuse a bad field, and fields that do not go together (a non-default
        ``confidence`` without a ``calibration_fraction``, a crossfit calibrator without
        ``crossfit_folds``, ``dense_knn`` without ``embedding`` features, ``views``
        without an ``ensemble``); numpy numbers pass and are kept as plain Python ones.
        Construction checks each field alone, so that a notebook may set them one after
        another; :func:`train_classifier` calls this before reading a text, and a caller
        may call it to check options set so before then.

        The options are written to the bundle's manifest (JSON), so a numpy scalar kept
        as such failed the save after the whole training had run (seed="1" or 1.5 failed
        inside numpy, -1 too). (``_together`` False: each field alone, as the options
        check themselves where they are made.)
        """
        for name in ("dev_fraction", "calibration_fraction"):
            setattr(self, name, check_fraction(name, getattr(self, name), numpy=True))
        self.beta = check_number("beta", self.beta, 0, strict=True, numpy=True)
        self.seed = check_int("seed", self.seed, 0, numpy=True)
        self.min_support = check_int("min_support", self.min_support, 0, numpy=True)
        expected = f"0 (none) or an integer in [2, {MAX_FOLDS}]"
        try:
            folds = check_int("crossfit_folds", self.crossfit_folds, 0, numpy=True)
        except InvalidParameterError:
            raise InvalidParameterError("crossfit_folds", expected,
                                        self.crossfit_folds) from None
        if folds == 1 or folds > MAX_FOLDS:
            raise InvalidParameterError("crossfit_folds", expected, folds)
        self.crossfit_folds = folds
        self.crossfit_k = check_int("crossfit_k", self.crossfit_k, 1, allow_none=True,
                                    numpy=True)
        self.calibration_k = check_int("calibration_k", self.calibration_k, 1,
                                       allow_none=True, numpy=True)
        if self.confidence is not None:
            self.confidence.validate()
        check_model_params(self.model, self.model_params)  # names and values
        _check_featurizer(self.featurizer, self.featurizer_params)
        if not _together:
            return
        if self.confidence is not None:
            if self.confidence.calibrator_source == "crossfit":
                self._check_crossfit_calibrator()
            if not self.calibration_fraction:
                self._check_confidence_applies(self.confidence)
        _check_member_views(self.model, self.model_params, self.featurizer,
                            self.featurizer_params)
        if self.model == "dense_knn" and self.featurizer != "embedding":
            raise InvalidParameterError(
                "featurizer", "'embedding' for model 'dense_knn', which needs dense rows "
                f"({said('--featurizer embedding', 'featurizer=' + repr('embedding'))})",
                self.featurizer)
        if self.featurizer == "views" and self.model != "ensemble":
            # refused by the model's fit ("'X' must be a 2-D feature matrix ..., got
            # 'Views'") only once every text had been featurized
            raise InvalidParameterError(
                "model", "'ensemble' with "
                f"{said('--featurizer views', 'featurizer=' + repr('views'))} (each member "
                "names the view it learns from)", self.model)

    def _check_confidence_applies(self, confidence: ConfidenceOptions) -> None:
        """Confidence options other than the defaults need the calibration split they
        calibrate on: without one they were ignored without a word, and the model came
        out uncalibrated. The defaults pass (code that always passes them and sets
        ``calibration_fraction`` or not); the CLI passes none without a split.
        """
        default = ConfidenceOptions()
        changed = [f"{f.name}={getattr(confidence, f.name)!r}" for f in fields(confidence)
                   if getattr(confidence, f.name) != getattr(default, f.name)]
        if changed:
            raise InvalidParameterError(
                "calibration_fraction", f"above 0 with confidence=ConfidenceOptions("
                f"{', '.join(changed)}): the confidence options calibrate the model on the "
                "calibration split, and without one nothing is calibrated (leave "
                "confidence out, or calibrate the trained model with "
                "calibrate_classifier)", self.calibration_fraction)

    def _check_crossfit_calibrator(self) -> None:
        """The cross-fitted calibrator needs both of its parts: the calibration split
        (its conformal sets) and the out-of-fold scores (the calibrator itself).

        Without a split nothing was calibrated, without a word (the model came out
        uncalibrated); without folds the refusal came after the whole training.
        """
        crossfit = "ConfidenceOptions(calibrator_source='crossfit')"
        if not self.calibration_fraction:
            raise InvalidParameterError(
                "calibration_fraction", f"above 0 with {crossfit}: its conformal sets are "
                "fitted on the calibration split, and without one nothing is calibrated",
                self.calibration_fraction)
        if not self.crossfit_folds:
            raise InvalidParameterError(
                "crossfit_folds", f"an integer in [2, {MAX_FOLDS}] with {crossfit}: the "
                "calibrator is fitted on the training documents' out-of-fold scores",
                self.crossfit_folds)



def _check_featurizer(kind: str, params: dict) -> None:
    """Unknown featurizer kinds or parameters are clear errors before any data is read."""
    from tagsmith.features.embedding import DEFAULT_ENCODER
    from tagsmith.features.views import (
        check_kind,
        check_view_name,
        featurizer_class,
        view_featurizer_class,
    )

    if check_kind(kind) != "views":
        check_param_names(featurizer_class(kind), params, owner=f"featurizer {kind!r}")
        if kind == "embedding" and params.get("encoder", DEFAULT_ENCODER) != DEFAULT_ENCODER:
            # a bundle loads only the packaged encoder (from_state): refuse before training
            # (and before validate, which would offer a model directory in its place)
            raise InvalidParameterError("encoder", f"the packaged {DEFAULT_ENCODER!r} when "
                                        "training a bundle", params["encoder"])
        if kind in ("tfidf", "embedding"):  # the values too
            view_featurizer_class(kind)(**params).validate()
        return
    if not params:
        raise InvalidParameterError("featurizer_params", "one {\"kind\": ...} entry per view",
                                    params)
    for name, spec in params.items():
        check_view_name(name)  # a bundle could not hold it: refused before any text is read
        if not isinstance(spec, dict) or "kind" not in spec:
            raise InvalidParameterError(f"view {name!r}", "a dict with a 'kind'", spec)
        if spec["kind"] == "views":  # the models failed on Views inside Views
            raise InvalidParameterError(f"view {name!r}", "one featurizer (views do not "
                                        "nest)", spec)
        _check_featurizer(spec["kind"], {k: v for k, v in spec.items() if k != "kind"})


def _check_member_views(model: str, model_params: dict, featurizer: str,
                        featurizer_params: dict) -> None:
    """An ensemble member's view must be one the featurizer makes: checked by the
    ensemble itself only when it was fitted, once every text had been featurized."""
    if model != "ensemble":
        return
    from tagsmith.features.views import Views
    from tagsmith.models.ensemble import EnsembleModel

    # stand-ins of the features, one row per view the featurizer will make
    features = (Views({name: np.zeros((1, 1)) for name in featurizer_params})
                if featurizer == "views" else np.zeros((1, 1)))
    ensemble = EnsembleModel(**{key: value for key, value in model_params.items()
                                if key == "members"})
    for position, view in enumerate(ensemble._member_views()):
        EnsembleModel._view_of(features, view, position)


def data_fingerprint(texts: Sequence[str], Y: sp.csr_matrix) -> str:
    """SHA-256 over texts and label ids: the same data gives the same fingerprint.

    Hashes the texts' UTF-8 byte lengths (so boundaries count), then their UTF-8 bytes
    in chunks of documents, then the label matrix's canonical CSR arrays: bulk updates
    rather than one per document, without ever holding every text encoded at once (on
    a corpus of long texts that doubled the memory of the texts).

    >>> Y = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    >>> data_fingerprint(["a", "b"], Y) == data_fingerprint(["a", "b"], Y.tocsc())
    True
    >>> data_fingerprint(["a", "b"], Y) == data_fingerprint(["ab", ""], Y)
    False
    """
    lengths = np.fromiter((len(text) if text.isascii() else len(text.encode("utf-8"))
                           for text in texts), dtype="<i8", count=len(texts))
    digest = hashlib.sha256(lengths.tobytes())
    for start in range(0, len(texts), FINGERPRINT_CHUNK):
        digest.update(b"".join(text.encode("utf-8")
                               for text in texts[start:start + FINGERPRINT_CHUNK]))
    labels = sp.csr_matrix(Y, copy=True)
    labels.eliminate_zeros()
    labels.sum_duplicates()  # canonical: sorted column ids, no duplicates
    digest.update(labels.indptr.astype("<i8").tobytes())
    digest.update(labels.indices.astype("<i4").tobytes())
    return digest.hexdigest()


#: documents encoded at a time by :func:`data_fingerprint`
FINGERPRINT_CHUNK = 4096


#: held-out data of which at least this share is training documents is refused
MAX_OVERLAP = 0.5


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """Sorted unique 8-byte hashes of the texts (whitespace collapsed, case folded).

    A compact, order-free record of which documents a model was trained on, so that
    held-out data can be checked for overlap whatever its order or subset.

    >>> text_hashes(["A  b", "a b", "c"]).size
    2
    """
    return np.unique(texthash.hash_texts(texts))


def duplicate_groups(texts: Sequence[str]) -> np.ndarray:
    """A group id per text (int64): texts equal under :func:`text_hashes`' rule
    (whitespace collapsed, case folded) share one, every other text has its own.

    Cross-fitting folds and held-out splits (calibration, ``dev_fraction``) keep each
    group on one side, so no document is scored by a model trained on its twin. Blank
    texts are no one's twins (each its own group): they share no words to learn.

    >>> duplicate_groups(["A  b", "c", "a b", "", " "]).tolist()
    [0, 1, 0, 2, 3]
    """
    return groups_of_hashes(texthash.hash_texts(texts), texthash.BLANK_HASH)


def check_overlap(train_hashes: np.ndarray | None, texts: Sequence[str], *,
                  name: str, source: str, hashes: np.ndarray | None = None) -> int:
    """How many of ``texts`` (held-out documents) are training documents, blank texts
    left out (:func:`~tagsmith.data.texthash.training_documents`, the count of ``eval``'s
    overlap warning and of ``audit --scores heldout``): an empty text holds nothing a
    model learnt, and a dev file with empty lines matched a training corpus's empty ones.

    Refuses (an :class:`InvalidParameterError` for parameter ``name``) when at least
    :data:`MAX_OVERLAP` of its texts that are not blank are training documents, warns
    with the count when some are (and how many blank texts were not counted);
    ``source`` names the documents (e.g. their file). ``hashes``: the texts' own (see
    :func:`in_training`), so a caller that groups them too hashes them once.
    """
    if train_hashes is None or not len(texts):
        return 0
    if hashes is None:
        hashes = texthash.hash_texts(texts)
    hashes = np.asarray(hashes)
    n_overlap = int(texthash.training_documents(train_hashes, hashes=hashes).sum())
    n_blank = int((hashes == texthash.BLANK_HASH).sum())
    n_docs = len(texts)
    blank = ("" if not n_blank else
             f"; {n_blank:,} blank text{plural_s(n_blank)} not counted")
    if n_overlap and n_overlap >= MAX_OVERLAP * (n_docs - n_blank):
        raise InvalidParameterError(
            name, "documents the model was not trained on",
            f"{source} ({n_overlap:,} of its {n_docs:,} document{plural_s(n_docs)} "
            f"{plural(n_overlap, 'is a training document', 'are training documents')}"
            f"{blank})")
    if n_overlap:
        logger.warning("%s: %s of its %s document%s %s (%s%s); held-out results are "
                       "optimistic", source, f"{n_overlap:,}", f"{n_docs:,}",
                       plural_s(n_docs),
                       plural(n_overlap, "is also a training document",
                              "are also training documents"), name, blank)
    return n_overlap


def label_texts(label_space: LabelSpace) -> list[str]:
    """One text per label: its preferred and alternative names in every language."""
    texts = []
    for i in range(len(label_space)):
        label = label_space[i]
        names = list(label.pref_labels.values())
        for alternatives in label.alt_labels.values():
            names.extend(alternatives)
        texts.append(" ; ".join(names) if names else "")
    return texts


def _featurizer_parts(featurizer, params: dict) -> list[tuple[Any, dict]]:
    """(featurizer, its params) for a featurizer or each view of a multi-view one."""
    views = getattr(featurizer, "featurizers", None)
    if isinstance(views, dict):
        return [(part, params.get(name, {})) for name, part in views.items()]
    return [(featurizer, params)]


@contextmanager
def _one_bar_over_documents(clf: TextClassifier, show: bool) -> Iterator[None]:
    """``clf``'s own progress bar over the documents it scores (``show``), its parts'
    bars off, inside the ``with`` block; every part's setting as it was afterwards.

    Scoring the held-out documents was silent (9-28 s on yso-finna-en's 32,803 dev
    documents: the tree shows a bar above 65,536 only); the classifier's bar alone
    logged a featurizer line per 8,192-document chunk, its training-time bar still on.
    A sentence-embedding featurizer keeps its bar: embedding is the slow part (some
    55 documents a second on 2 cores, minutes between the chunks' updates).
    """
    from tagsmith.features.embedding import EmbeddingFeaturizer

    parts = [part for part, _ in _featurizer_parts(clf.featurizer, {})
             if not isinstance(part, EmbeddingFeaturizer)]
    parts += [clf.model, *getattr(clf.model, "members_", [])]
    with progress_set([*((part, False) for part in parts if hasattr(part, "show_progress")),
                       (clf, show)]):
        yield


def _analyzed(texts: list[str], options: TrainOptions, unspaced: bool | None,
              n_fit: int) -> AnalyzedTexts | None:
    """The TF-IDF analysis of every training text (:meth:`~tagsmith.features.tfidf.
    TfidfFeaturizer.analyze`), for the fit on ``n_fit`` of them and the refit on all:
    each text was tokenised and n-grammed by both (16 s of GoEmotions' 95 s training);
    None for other featurizers."""
    if options.featurizer != "tfidf":
        return None
    featurizer = cast(TfidfFeaturizer, make_featurizer("tfidf", **options.featurizer_params))
    featurizer.show_progress = options.show_progress
    featurizer.unspaced_decided = unspaced
    featurizer.validate()
    logger.info("train: n-grams of %s document%s (for the fit and the refit)",
                f"{len(texts):,}", plural_s(len(texts)))
    return featurizer.analyze(texts, min(featurizer.min_df, n_fit))


def _fit(texts, Y, options: TrainOptions, stage: str, label_space: LabelSpace | None = None,
         previous=None, groups: np.ndarray | None = None, unspaced: bool | None = None,
         analyzed: AnalyzedTexts | None = None, rows: np.ndarray | None = None,
         clustering_of=None, place: np.ndarray | None = None):
    """Featurizer and model fitted on ``texts``; ``groups`` (:func:`duplicate_groups` of
    them) goes to a model that draws a split of its own (:func:`~tagsmith.models.base.
    takes_groups`: the ensemble's ``weights="auto"``), to keep equal texts on one side.
    ``unspaced``, when given, is what TF-IDF's ``split_unspaced="auto"`` decides (on the
    whole training corpus, not on ``texts``, a part of it). ``analyzed`` (:func:`_analyzed`
    of a corpus whose texts ``rows`` are ``texts``, None: all of them) gives TF-IDF its
    counts, the texts not analysed again; the fit on all of them (``rows`` None) empties
    it once its features are made. ``clustering_of``, the held-out fit's model: a label
    tree (or an ensemble's tree members) takes its clustering (the labels are clustered
    once, on the documents fitted on before the held-out ones are scored), ``place`` the
    labels it saw no document of (:meth:`~tagsmith.models.tree.LabelTree.fit`)."""
    started = time.perf_counter()
    logger.info("%s: features for %s document%s", stage, f"{len(texts):,}",
                plural_s(len(texts)))
    featurizer = make_featurizer(options.featurizer, **options.featurizer_params)
    parts = _featurizer_parts(featurizer, options.featurizer_params)
    old_parts = [] if previous is None else _featurizer_parts(previous, {})
    for i, (part, params) in enumerate(parts):
        if hasattr(part, "show_progress") and "show_progress" not in params:
            part.show_progress = options.show_progress  # embeddings: the main cost
        if unspaced is not None and hasattr(part, "unspaced_decided"):
            part.unspaced_decided = unspaced
        encoder = getattr(old_parts[i][0], "_encoder_model", None) if old_parts else None
        if encoder is not None:  # an encoder learns nothing from the texts: load it once
            part._encoder_model = encoder
    if analyzed is None:
        X = featurizer.fit_transform(texts)
    else:
        X = cast(TfidfFeaturizer, featurizer).fit_transform_analyzed(analyzed, rows)
        if rows is None:  # the refit, its last use: freed before the model is fitted
            analyzed.blocks.clear()
    _check_some_features(featurizer, X, texts, options)
    _warn_featureless(X, texts, stage)
    params = dict(options.model_params)
    model = make_model(options.model, **params)
    defaults = {"show_progress": options.show_progress, "random_state": options.seed}
    model.set_params(**{key: value for key, value in defaults.items()
                        if key in model.get_params() and key not in params})
    n_features = getattr(featurizer, "n_features", "?")
    logger.info("%s: fitting %s on %s document%s (%s features), %s label%s", stage,
                options.model, f"{Y.shape[0]:,}", plural_s(Y.shape[0]),
                f"{n_features:,}" if isinstance(n_features, int) else n_features,
                f"{Y.shape[1]:,}", plural_s(Y.shape[1]))
    label_features = None
    if label_space is not None:
        label_features = _label_features(featurizer, model, label_space)
    extra: dict[str, Any] = {}
    if label_features is not None:
        # label-name features join the label representations the model clusters
        # only a family that reads them (the tree, the ensemble) gets here; BaseModel.fit
        # declares neither label_features nor groups
        extra["label_features"] = label_features
    if groups is not None and takes_groups(model):
        extra["groups"] = groups
    if clustering_of is not None:
        from tagsmith.models.ensemble import EnsembleModel
        from tagsmith.models.tree import LabelTree
        # an ensemble hands each tree member its held-out fit's member's clustering
        if any(isinstance(model, kind) and isinstance(clustering_of, kind)
               for kind in (LabelTree, EnsembleModel)):
            extra["clustering_of"], extra["place"] = clustering_of, place
    cast(Any, model).fit(X, Y, **extra)
    return featurizer, model, time.perf_counter() - started, X


def _label_features(featurizer, model, label_space: LabelSpace):
    """The label names' features (labels x features, or
    :class:`~tagsmith.features.views.Views` of them), for a model that reads them
    (:meth:`~tagsmith.models.base.BaseModel.uses_label_features`: a
    ``label_feature_weight`` above 0, or an ensemble member's); None otherwise.

    The featurizer featurizes them as it does documents (the audit's cross-fit does
    the same): only TF-IDF did, and a weight given with sentence-embedding features
    was ignored without a word, as was an ensemble member's (the ensemble gives each
    member the names in its own view).
    """
    if not model.uses_label_features():
        return None
    return featurizer.transform(label_texts(label_space))


def _check_some_features(featurizer, X, texts: Sequence[str], options: TrainOptions) -> None:
    """A featurizer that kept no feature (say min_df above what the texts reach) would
    train a model of biases alone, predicting the same labels for every text. Word
    n-grams alone of texts in a script written without spaces (Chinese, Japanese, Thai)
    with ``split_unspaced`` off keep none either, whatever min_df: the message says so."""
    views = X.items() if hasattr(X, "items") else [(None, X)]
    parts = getattr(featurizer, "featurizers", None)
    n_docs = len(texts)
    for name, matrix in views:
        if matrix.shape[1] == 0:
            where = "" if name is None else f" (view {name!r})"
            part = parts[name] if isinstance(parts, dict) and name in parts else featurizer
            if _unsplit_unspaced(part, texts):
                hint = ("the texts are in a script written without spaces: "
                        "split_unspaced=true or char_ngrams keep features of them")
            elif _none_at_min_df_1(part, texts):
                # emoji or punctuation alone: "a lower min_df keeps more" sent the user
                # after a remedy that keeps none either (min_df=1 said it too)
                hint = ("no text holds a term these settings count, at any min_df: emoji, "
                        "punctuation or symbols alone, say"
                        + ("; char_ngrams keep features of them"
                           if getattr(part, "char_ngrams", 0) is None else ""))
            else:
                hint = "a lower min_df keeps more"
            raise InvalidParameterError(
                "featurizer_params", "settings that keep some features of the training texts",
                f"0 features from {n_docs:,} document{plural_s(n_docs)}{where} with "
                f"{options.featurizer_params or 'the defaults'} ({hint})")


def _none_at_min_df_1(featurizer, texts: Sequence[str]) -> bool:
    """Whether ``featurizer``, a TF-IDF one that kept no feature of ``texts``, keeps
    none with ``min_df=1`` either: no text holds a term it counts, so a lower min_df is
    no way out (fitted again only where its min_df is above 1, on this error's path)."""
    if not isinstance(featurizer, TfidfFeaturizer):
        return False
    if featurizer.min_df <= 1:
        return True
    probe = TfidfFeaturizer(**{**featurizer.get_params(), "min_df": 1})
    return probe.fit(texts).n_features == 0


def _unsplit_unspaced(featurizer, texts: Sequence[str]) -> bool:
    """Whether ``featurizer`` is a TF-IDF one with word n-grams alone, not splitting
    ``texts`` that hold a script written without spaces (:func:`~tagsmith.features.tfidf.
    holds_unspaced`): each of their runs is one word token, rarely in min_df documents."""
    split = getattr(featurizer, "_split_unspaced", None)
    return (split is not None and not split() and getattr(featurizer, "char_ngrams", 0) is None
            and holds_unspaced(texts))


#: how many texts of documents with no features the warning shows
FEATURELESS_SHOWN = 3


def featureless_rows(X: Any) -> np.ndarray:
    """The rows of ``X`` (a matrix, or :class:`~tagsmith.features.views.Views` of them)
    that hold no nonzero feature in any view, ascending.

    >>> featureless_rows(sp.csr_matrix(np.array([[0, 1], [0, 0]], np.float32))).tolist()
    [1]
    """
    views = list(X.values()) if hasattr(X, "items") else [X]
    empty = np.ones(views[0].shape[0], dtype=bool)
    for matrix in views:
        if sp.issparse(matrix):
            empty &= np.diff(sp.csr_matrix(matrix).indptr) == 0
        else:
            # no boolean copy of the whole view (220 MiB for 600,000 x 384 embeddings)
            empty &= ~np.any(np.asarray(matrix), axis=1)
    return np.flatnonzero(empty)


def _warn_featureless(X, texts: Sequence[str], stage: str) -> None:
    """Warn with the count and the first texts when some training documents have no
    features: emoji or punctuation alone, or a script written without spaces (Chinese,
    Japanese, Thai) with word n-grams only; the model gives each of them the same labels,
    and what it learns of their labels goes into its biases."""
    rows = featureless_rows(X)
    if not rows.size:
        return
    # empty texts (a CSV or JSONL corpus) are counted, not shown: "e.g. '', '', ''"
    worded = [i for i in rows if texts[i].strip()]
    n_blank = rows.size - len(worded)
    if not worded:
        why, shown = plural(n_blank, "an empty text", "empty texts"), ""
    else:
        why = "emoji or punctuation alone, say" + (
            f"; {n_blank:,} of them {plural(n_blank, 'an empty text', 'empty texts')}"
            if n_blank else "")
        shown = ", e.g. " + ", ".join(
            repr(texts[i] if len(texts[i]) <= 40 else texts[i][:37] + "...")
            for i in worded[:FEATURELESS_SHOWN])
    logger.warning("%s: %s of %s training document%s %s no features (%s): the model gives "
                   "them all the same labels%s", stage, f"{rows.size:,}", f"{len(texts):,}",
                   plural_s(len(texts)), plural(rows.size, "has", "have"), why, shown)


def train_classifier(texts: Iterable[str], Y: LabelMatrix, label_space: LabelSpace, *,
                     dev_texts: Iterable[str] | None = None,
                     dev_Y: LabelMatrix | None = None, options: TrainOptions | None = None,
                     dev_name: str = "dev_texts", dev_source: str | None = None,
                     _conformal_share: str = CONFORMAL_SHARE,
                     _corpus_name: str | None = None,
                     _text_hashes: np.ndarray | None = None,
                     lang: str = "en",
                     _set_size_limit: str = "max_set_size") -> TextClassifier:
    """Train a :class:`TextClassifier` on ``texts`` with labels ``Y`` (n_docs x n_labels).

    ``texts``: one str per document; ``Y``: their labels, a documents x labels 0/1
    matrix (scipy sparse, NumPy, or a one-hot DataFrame), column ``j`` the label
    ``label_space.uri_of(j)``; ``label_space``: the labels, saved with the model.
    ``dev_texts`` and ``dev_Y``: documents to tune the thresholds on (given together;
    without them ``options.dev_fraction`` of ``texts`` is held out), ``dev_name`` and
    ``dev_source`` name them in messages, as a parameter and as a file (``tagsmith
    train`` passes ``--dev`` and its path); ``dev_source`` is also recorded as the
    held-out metrics' ``source`` (``metrics.heldout``) and the calibration's
    ``thresholds_source`` where the thresholds are tuned again on them ("dev corpus"
    without it). ``options``: :class:`TrainOptions` (None: its
    defaults). ``lang``: the language its warnings name labels in (``train --lang``;
    :meth:`~tagsmith.data.labelspace.LabelSpace.name_of`, English by default: a German
    team's labels were named in English). Returns the fitted classifier, its
    thresholds tuned and its manifest (``save`` writes it) recording the options and
    held-out metrics. A parameter
    refused is an :class:`~tagsmith.exceptions.InvalidParameterError` naming it (a
    ``Y`` of another shape, a bare str as ``texts``, a field of ``options``); a corpus
    that cannot be trained on (no labelled document) a
    :class:`~tagsmith.exceptions.DataError`.

    ``_conformal_share`` (private, for ``tagsmith train``): how warnings about the
    calibrator / conformal split of the documents ``options.calibration_fraction`` sets
    aside name the share (see :func:`~tagsmith.pipeline.confidence.fit_confidence`).
    ``_set_size_limit`` (private, for ``tagsmith train``, which has no
    ``--max-set-size``): how the warning of too-wide sets names the set-size limit.
    ``_corpus_name`` (private, for ``tagsmith train``): the training corpus's name, which
    the manifest's ``calibration`` entry gives as the origin of that share
    (:func:`calibration_share_origin`; "the training data" without it).
    ``_text_hashes`` (private): the hashes of ``texts``, one per text, in order, where
    the caller has them already (``distill_classifier``'s overlap check), so the corpus
    is hashed once.

    >>> space = LabelSpace.from_uris(["u:pos", "u:neg"])
    >>> texts = ["good fine great", "bad awful poor"] * 10
    >>> Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 10))
    >>> clf = train_classifier(texts, Y, space, options=TrainOptions(dev_fraction=0.0,
    ...     featurizer_params={"char_ngrams": None, "min_df": 1}))
    >>> clf.predict_topk(["great"], k=1).indices.tolist()
    [[0]]
    """
    options = check_options("options", options, TrainOptions)
    options.validate()
    conformal_share = _check_conformal_share(_conformal_share)
    if not isinstance(label_space, LabelSpace):  # a dict or list of URIs was taken by len()
        raise InvalidParameterError("label_space", "a LabelSpace (load_vocabulary, "
                                    "LabelSpace.from_uris)", type(label_space).__name__)
    # a one-hot DataFrame's columns in another order trained each label on another's
    # documents, and its rows in another order than the texts' each document on another's
    # labels
    check_label_table(Y, label_space, "Y", texts=texts)
    check_label_table(dev_Y, label_space, "dev_Y", texts=dev_texts)
    # a bare str would be one document per character; None among the texts would fail
    # deep in the fingerprint: every document must be a str
    texts = _as_list(texts)
    # UTF-8 cannot hold a lone surrogate: the fingerprint failed with a bare
    # UnicodeEncodeError naming no document
    check_no_lone_surrogate(texts)
    if (dev_texts is None) != (dev_Y is None):  # one without the other tuned nothing
        raise InvalidParameterError("dev_Y" if dev_texts is not None else "dev_texts",
                                    "given together with "
                                    + ("dev_texts" if dev_texts is not None else "dev_Y"),
                                    None)
    if dev_texts is not None:
        dev_texts = _as_list(dev_texts, "dev_texts")
    Y = as_float32_csr(Y, "Y", "a 2-D label matrix (documents x labels)")
    if Y.shape != (len(texts), len(label_space)):
        raise InvalidParameterError("Y", f"shape ({len(texts)}, {len(label_space)})", Y.shape)
    # the documents carrying each label, counted once for the checks below (three times)
    support = label_support(Y)
    _check_positives(Y, label_space.deprecated_mask, label_space, lang=lang, support=support)
    _warn_deprecated_in_use(Y, label_space, support=support)
    # only the labels some document carries cost linear a solve (a label with none is set
    # without it): 1,000 documents over YSO's 27,754 labels, 2,338 used, trained in 32 s
    # and were told that training grows long
    n_used = labels_used(Y, support)
    _warn_linear_at_scale(options.model, n_used, Y.shape[0])
    started = time.perf_counter()
    fingerprint = data_fingerprint(texts, Y)
    calibration = None
    # equal texts stay on one side of every split and in one cross-fitting fold
    # once: blake2b of every text (seconds at 590,000), or the caller's
    hashes = texthash.hash_texts(texts) if _text_hashes is None else np.asarray(_text_hashes)
    if hashes.shape != (len(texts),):  # (a caller's, private: a mistake of this package)
        raise ValueError(f"_text_hashes: {hashes.shape} for {len(texts)} texts")
    groups = groups_of_hashes(hashes, texthash.BLANK_HASH)
    if options.calibration_fraction:
        fit_rows, cal_rows = heldout_split(len(texts), options.calibration_fraction,
                                           options.seed, name="calibration_fraction",
                                           groups=groups)
        calibration = ([texts[i] for i in cal_rows], _named(Y[cal_rows]), cal_rows,
                       groups[cal_rows])
        # too few (or unlabelled) to calibrate on: say so now, not after the training
        check_heldout_labels(calibration[1], _calibration_source(options))
        if np.unique(groups[fit_rows]).size == 1 < np.unique(groups[cal_rows]).size:
            # a text repeated in most of the corpus stays in training, whole, and the
            # share of documents set aside took every other text: the model then learnt
            # 30,000 copies of "Thank you!" alone, without a word
            logger.warning("calibration_fraction %g set aside %s documents holding every "
                           "text but one: the %s documents left to train on are copies "
                           "of one text (equal texts stay on one side), and the model "
                           "learns that text alone", options.calibration_fraction,
                           f"{len(cal_rows):,}", f"{len(fit_rows):,}",
                           extra={"parameters": ("calibration_fraction",)})
        texts, Y, groups = [texts[i] for i in fit_rows], Y[fit_rows], groups[fit_rows]
        hashes = hashes[fit_rows]
        logger.info("calibration split: %s document%s set aside (never trained on)",
                    f"{len(cal_rows):,}", plural_s(len(cal_rows)))
    if options.crossfit_folds > len(texts):  # found after the whole training, by 'n_folds'
        # the data's doing, as audit says of a corpus too small for its --folds: a
        # DataError (exit code 3, where it was 2); the command line names the corpus
        n_docs, n_folds = len(texts), options.crossfit_folds
        aside = "" if calibration is None else " once the calibration split is set aside"
        fewer = f"crossfit_folds {n_docs:,} or fewer, " if n_docs >= 2 else ""
        raise DataError(
            f"the corpus is too small for crossfit_folds {n_folds:,}: {n_folds:,}-fold "
            f"cross-fitting needs at least {n_folds:,} documents, it has {n_docs:,}{aside}; "
            f"give more documents, {fewer}or crossfit_folds 0 (no out-of-fold scores)",
            parameters=("crossfit_folds",))
    folds = None  # the cross-fitting's folds, drawn once
    by_content = None  # the documents in the order the cross-fitting draws and fits them
    if options.crossfit_folds:
        # the fold holding a lone labelled text (or every copy of it) leaves its model
        # nothing to learn, whatever the folds or seed: found after the whole training,
        # naming a parameter 'Y' that train has not. The data's doing, as audit says
        # of the same corpus: a DataError (exit code 3, where it was 2), naming the
        # option that turns cross-fitting off; the command line names the corpus
        n_labelled, n_texts = labelled_texts(Y, groups)
        n_folds = options.crossfit_folds
        aside = "" if calibration is None else ", the calibration split set aside,"
        if n_texts < 2:
            has = ("1 labelled document" if n_labelled == 1 else
                   f"{n_labelled:,} labelled documents, copies of one text (equal texts "
                   "share a fold)")
            raise DataError(
                f"cross-fitting (crossfit_folds {n_folds}) needs labelled documents of two "
                f"texts at least, and{aside} the corpus has {has}: the fold holding it "
                "leaves its fold model no labelled document to learn from; give more "
                "labelled documents or crossfit_folds 0 (no out-of-fold scores)",
                parameters=("crossfit_folds",))
        # the folds drawn once: the check's, then the cross-fitting's (~0.2 s each at
        # 590k documents)
        # along the documents' content (the audit's order), not their lines: the same
        # corpus shuffled drew other folds and fitted each fold model in another order,
        # and the bundle's out-of-fold scores (audit --scores bundle) moved with it
        from tagsmith.pipeline.audit import content_order

        by_content = content_order(hashes, texts, Y)
        folds = fold_assignment(Y.shape[0], n_folds, options.seed, groups, order=by_content)
        fold = fold_of_every_labelled(Y, n_folds, options.seed, groups, fold=folds)
        if fold is not None:
            # two labelled texts or more the seed's folds put in one: that fold's model
            # learnt nothing, found after the whole training, naming 'Y'
            every = "both" if n_labelled == 2 else f"all {n_labelled:,}"
            left = "" if calibration is None else " the calibration split left"
            raise DataError(
                f"cross-fitting (crossfit_folds {n_folds}) with seed {options.seed} puts "
                f"{every} labelled documents{left} in fold {fold + 1} of "
                f"{n_folds}, which leaves its fold model none to learn from; give another "
                "seed, more labelled documents or crossfit_folds 0 (no out-of-fold scores)",
                parameters=("crossfit_folds", "seed"))
    train_hashes = np.unique(hashes)
    if dev_texts is not None:  # a dev corpus that is (mostly) training data tunes nothing
        check_overlap(train_hashes, dev_texts, name=dev_name,
                      source=dev_source or "the dev corpus")
    heldout = _heldout(texts, Y, dev_texts, dev_Y, options, groups, dev_source)
    report: dict = {}
    n_final = len(texts)  # documents the final model is fitted on
    label_counts = None  # theirs: counted once, by the held-out fit when it is the final one
    dev_raw = None  # the raw scores of the held-out documents
    refitted = False  # whether the final model was fitted again on all the data
    if heldout is None:
        featurizer, model, fit_seconds, X_all = _fit(texts, Y, options, "train", label_space,
                                                     groups=groups)
        thresholds = Thresholds.constant(len(label_space), UNTUNED_THRESHOLD)
        report["heldout"] = None
    else:
        fit_idx, dev_part_texts, dev_part_Y, source = heldout
        fit_texts = texts if fit_idx is None else [texts[i] for i in fit_idx]
        fit_Y = Y if fit_idx is None else Y[fit_idx]
        # split_unspaced="auto" decided on a part of a corpus near its share could split
        # differently from the refit on all of it: both take the whole corpus's decision
        unspaced = None if fit_idx is None else holds_unspaced(texts)
        # texts analysed once for both fits (the same features, to the bit)
        analyzed = (_analyzed(texts, options, unspaced, len(fit_texts))
                    if fit_idx is not None and options.refit else None)
        featurizer, model, fit_seconds, X_fit = _fit(
            fit_texts, fit_Y, options, "train", label_space,
            groups=groups if fit_idx is None else groups[fit_idx], unspaced=unspaced,
            analyzed=analyzed, rows=fit_idx)
        X_all = X_fit if fit_idx is None else None
        del X_fit  # the part's features: held through the refit for nothing (its peak)
        # the counts of the documents fitted on give the held-out metrics their PSP@k
        fit_counts = _label_counts(fit_Y, len(label_space))
        clf = TextClassifier(label_space, featurizer, model, label_counts=fit_counts,
                             n_train_docs=len(fit_texts))
        # the model's first prediction (its compiled kernels: ~25 s for a tree at 25k
        # labels on 2 cores) and the tuning were a silent stretch before the refit
        n_dev = len(dev_part_texts)
        logger.info("train: scoring %s held-out document%s to tune thresholds", f"{n_dev:,}",
                    plural_s(n_dev))
        with _one_bar_over_documents(clf, options.show_progress):
            topk = dev_raw = clf.predict_topk(dev_part_texts, tuning_k(len(label_space)))
        logger.info("train: tuning thresholds of %s label%s on %s held-out document%s",
                    f"{len(label_space):,}", plural_s(len(label_space)), f"{n_dev:,}",
                    plural_s(n_dev))
        untrained = fit_counts == 0  # never predicted: tuned without their scores
        thresholds = _tune_learnt(dev_part_Y, topk, untrained, beta=options.beta,
                                  min_support=options.min_support)
        clf.thresholds = thresholds
        refit = refitted = fit_idx is not None and options.refit
        report["heldout"] = {"source": source, "n_docs": len(dev_part_texts),
                             "metrics": evaluate_topk(clf, dev_part_Y, topk),
                             # a word a program can compare (it was a sentence); the
                             # README says what it means
                             "model": "before_refit" if refit else "final",
                             "thresholds": TUNED_HERE}
        if refit:
            # a label the held-out fit never saw was not tuned (its threshold says
            # never); the refitted model learnt it from the held-out documents: it
            # backs off to the global threshold, as a label with too few positives
            learnt = (fit_counts == 0) & (_label_counts(Y, len(label_space)) > 0)
            # a label tree (an ensemble's tree members) keeps the held-out fit's
            # clustering (70 s of 306 s at 27,754 labels, 20,000 documents), the labels
            # learnt here put in their nearest leaf
            featurizer, model, fit_seconds, X_all = _fit(texts, Y, options,
                                                         "refit on all data", label_space,
                                                         previous=featurizer, groups=groups,
                                                         unspaced=unspaced, analyzed=analyzed,
                                                         clustering_of=model, place=learnt)
            del analyzed
            thresholds = never_untrained(thresholds, learnt, thresholds.global_threshold)
        else:  # the final model is this one: its counts and size are its data's
            label_counts, n_final = fit_counts, len(fit_texts)
            if fit_idx is not None:  # it saw only part of the texts: their hashes
                train_hashes = np.unique(hashes[fit_idx])
    crossfit = None
    if options.crossfit_folds:
        if X_all is None:  # the final model saw only part of the texts
            X_all = featurizer.transform(texts)
        crossfit = _cross_fit(featurizer, X_all, Y, options, label_space, groups, folds,
                              by_content)
        report["crossfit"] = {"n_folds": crossfit.n_folds, "k": crossfit.topk.k,
                              "seconds": round(crossfit.seconds, 3)}
    if label_counts is None:  # the final model was fitted on all of Y (no tuning, or a refit)
        label_counts = _label_counts(Y, len(label_space))
    thresholds = never_untrained(thresholds, label_counts == 0)
    manifest = {
        "training": {
            "n_docs": n_final, "seconds": round(time.perf_counter() - started, 3),
            "final_fit_seconds": round(fit_seconds, 3),
            "n_calibration_docs": 0 if calibration is None else len(calibration[0]),
            "data_fingerprint": fingerprint,
            # labels a labelled document carries: 1.0 each is a catalogue's, or a
            # multi-label corpus coded with one (main) label a document (train warns)
            "label_cardinality": label_cardinality(Y),
            # what was done, not the options' defaults: a dev corpus takes no share of
            # the data and nothing is refitted after it ('dev_fraction 0.1, refit true'
            # read as a split of the corpus and a refit); bundles written before keep
            # their values, which no reader interprets. A corpus too small to hold one
            # document out took no share either (a warning said so): 0.0
            "options": {"dev_fraction": None if dev_texts is not None
                        else options.dev_fraction if heldout is not None else 0.0,
                        "refit": refitted,
                        "seed": options.seed, "beta": options.beta,
                        "min_support": options.min_support,
                        # the calibrated thresholds' objective when it is a precision
                        # (beta alone was recorded, which they were not tuned for)
                        "min_precision": None if calibration is None else
                        _confidence_options(options).min_precision,
                        "min_recall": None if calibration is None else
                        _confidence_options(options).min_recall},
        },
        # with the objective they were tuned for, as a calibrated bundle's (it was left
        # out here: info said nothing of it)
        "thresholds": {"global": thresholds.global_threshold,
                       "n_tuned_labels": int(thresholds.tuned_mask.sum()),
                       "min_labels": thresholds.min_labels} | {
            key: value for key, value in thresholds.summary().items()
            if key in ("objective", "beta")},
        "metrics": report,
    }
    classifier = TextClassifier(label_space, featurizer, model, thresholds,
                                label_counts=label_counts, n_train_docs=n_final,
                                manifest=manifest, crossfit=crossfit,
                                train_hashes=train_hashes)
    if calibration is not None:
        # the held-out documents tune the thresholds again where the final model never
        # saw them (a dev corpus, or no refit: _heldout_after_calibration)
        replaced = heldout is not None and not (heldout[0] is not None and options.refit)
        _calibrate(classifier, calibration, _named(Y) if crossfit is not None else None,
                   options, conformal_share, replaced, lang=lang,
                   set_size_limit=_set_size_limit)
        # what the calibration was fitted on: the entry named nothing here, while a
        # calibration on a --data corpus names it (tagsmith info shows either)
        classifier.manifest["calibration"] = {**classifier.manifest["calibration"],
                                              **calibration_share_origin(
                                                  options, fingerprint, _corpus_name)}
        # thresholds tuned again, on probabilities: still none for an unlearnt label
        assert classifier.calibrator is not None  # calibrated just above
        classifier.thresholds = never_untrained(classifier.thresholds, label_counts == 0,
                                                bands=classifier.calibrator.bands)
        classifier.manifest["thresholds"] = classifier.thresholds.summary()
        if not replaced:
            # the thresholds shipped (the held-out documents, where the final model
            # never saw them, tune them again and warn of theirs): one warning, of
            # these, where the replaced ones were warned of too
            assert classifier.heldout is not None
            warn_thin_thresholds(classifier.thresholds, label_space, thresholds_documents(
                classifier.manifest["calibration"], classifier.heldout.source), lang=lang)
        if heldout is not None:
            # calibration rewrote the manifest: the held-out entry is its copy now
            _heldout_after_calibration(classifier, heldout, dev_raw,
                                       classifier.manifest["metrics"]["heldout"], options,
                                       lang=lang)
        classifier.manifest["training"]["seconds"] = round(time.perf_counter() - started, 3)
    for part, params in _featurizer_parts(featurizer, options.featurizer_params):
        if hasattr(part, "show_progress") and "show_progress" not in params:
            part.show_progress = False  # a training-time setting, not the bundle's
    return classifier


def label_support(Y: sp.csr_matrix, n_labels: int | None = None) -> np.ndarray:
    """The documents of ``Y`` (CSR, documents x labels) carrying each label: its stored
    entries other than 0, by column, for ``n_labels`` labels at least (default: its
    columns). ``train_classifier``, ``distill`` and their warnings count them so."""
    return np.bincount(Y.indices[Y.data != 0],
                       minlength=Y.shape[1] if n_labels is None else n_labels)


def labels_used(Y: sp.csr_matrix, support: np.ndarray | None = None) -> int:
    """How many labels some document of ``Y`` carries with a positive value (those a
    linear model solves for); ``support``: :func:`label_support`'s count, read where
    no value is negative."""
    if support is None or (Y.data < 0).any():
        support = np.bincount(Y.indices[Y.data > 0], minlength=Y.shape[1])
    return int(np.count_nonzero(support))


def _check_positives(Y: sp.csr_matrix, deprecated: np.ndarray | None = None,
                     label_space: LabelSpace | None = None, shown: int = 5,
                     lang: str = "en", support: np.ndarray | None = None) -> None:
    """No positive label at all is an error; labels without one are worth a warning,
    which counts apart those ``deprecated`` (the label space's mask): distill on STW's
    SKOS said 6,934 of its 7,394 labels had none, 1,151 of them deprecated, which LLM
    labeling never offers, without a word of them. The warning names the first
    ``shown`` of them (of ``label_space``), quoted, those not deprecated first, and counts
    the rest: "1 of 9 labels" named none, where the teacher had refused every self-harm
    report. The names are in ``lang``, as :meth:`LabelSpace.name_of` gives them."""
    if Y.shape[0] == 0:
        raise DataError("no training documents: the corpus is empty")
    if support is None:
        support = label_support(Y)
    if not support.any():
        raise DataError(f"none of the {Y.shape[0]:,} training documents carries a label of "
                        "the label space: the model would predict nothing")
    n_missing = int((support == 0).sum())
    if n_missing:
        n_retired = 0 if deprecated is None else int((deprecated & (support == 0)).sum())
        retired = ""
        if n_retired:
            which = ("it is" if n_missing == 1 else "both" if n_missing == n_retired == 2
                     else "all" if n_missing == n_retired else f"{n_retired:,} of them")
            retired = (f" ({which} deprecated, which the vocabulary retires and LLM "
                       "labeling and zero-shot never offer)")
        named = ""
        if label_space is not None:
            missing = np.flatnonzero(support == 0)
            broader = label_space.broader_of(np.flatnonzero(support > 0))
            n_broader = int(broader[missing].sum())
            if n_broader:
                # a product catalogue coded at its leaves: 2,954 of 17,217 labels "never
                # predicted", the first five named its roots and branches, and the 734
                # leaves truly without a product hid among the 2,220 broader categories
                which = ("it is" if n_missing == 1 else "all" if n_missing == n_broader
                         else f"{n_broader:,} of them")
                retired += (f" ({which} broader than labels that have documents, which a "
                            "corpus coded at the most specific level never carries)")
            rank = broader[missing].astype(np.int8)
            if deprecated is not None:
                # live labels first: the deprecated are never offered, and by index the
                # first five of a vocabulary retiring many hid the one left untaught
                rank = rank + 2 * deprecated[missing]
            missing = missing[np.argsort(rank, kind="stable")]
            named = ": " + and_more(missing, shown, lambda i: repr(clip(
                label_space.name_of(int(i), lang), NAME_LIMIT, collapse=False)))
        logger.warning("%s of %s label%s %s no positive training document and will never "
                       "be predicted%s%s", f"{n_missing:,}", f"{Y.shape[1]:,}",
                       plural_s(Y.shape[1]), plural(n_missing, "has", "have"), retired,
                       named)


#: from this many labels on, training ``linear`` says that ``tree`` exists. Its solver
#: fits every label on every document: 14 ms a label at 2,000 yso-finna-en documents,
#: 75 ms at 8,000 (one core; ``tree`` 1.5 and 6.3 ms), so 5,000 labels of 8,000
#: documents take 6 core-minutes, and a 17,217-label catalogue of 36,000 products took
#: over an hour where ``tree`` trained in 4.5 minutes
LINEAR_MANY_LABELS = 5_000

#: ... and from this many labels x documents (the 6 core-minutes above): a library's
#: first 100 hand-labelled documents over a 7,394-concept thesaurus trained in 8.6 s,
#: and were told that training "grows long"
LINEAR_MANY_CELLS = LINEAR_MANY_LABELS * 8_000


def _warn_linear_at_scale(model: str, n_labels: int, n_docs: int, *,
                          python: str = 'TrainOptions(model="tree")',
                          cli: str = "--model tree") -> bool:
    """Warn once per training when ``linear`` meets a label space the tree is made for
    on enough documents for it to matter: 17,000 labels trained for over an hour with
    nothing pointing at ``--model tree``. ``n_labels`` counts the labels with a positive
    training document: the solver fits those alone, so a large vocabulary mostly unused
    trains fast (:meth:`LinearOVR.fit <tagsmith.models.linear.LinearOVR.fit>`).
    ``python`` and ``cli``: the choice of the tree as a Python caller and the command
    line make it. Returns whether it warned."""
    if (model != "linear" or n_labels < LINEAR_MANY_LABELS
            or n_labels * n_docs < LINEAR_MANY_CELLS):
        return False
    told = ("linear fits one classifier per label on every document: at %s labels with "
            "documents its training grows long as documents grow (17,217 labels of 36,000 "
            "documents: "
            "over an hour on 2 cores); {} trains large label spaces in a fraction of the "
            "time (README: 'Model families')")
    # a Python caller is told the option's field, the command line its flag
    logger.warning(told.format(python), f"{n_labels:,}",
                   extra={"cli_message": told.format(cli)})
    return True


def _warn_deprecated_in_use(Y: sp.csr_matrix, label_space: LabelSpace,
                            support: np.ndarray | None = None) -> None:
    """Warn when training documents carry labels the vocabulary marks deprecated: the
    model learns and suggests them like any other (zero-shot and LLM labeling never
    offer one), and nothing said so.

    The warning counts them and names the one most documents carry (the lowest id of
    those tied)."""
    deprecated = label_space.deprecated_mask
    if not deprecated.any():
        return
    if support is None:
        support = label_support(Y)
    used = np.flatnonzero(deprecated & (support > 0))
    if not len(used):
        return
    top = int(used[np.argmax(support[used])])
    n_docs = int(support[top])
    # the vocabulary's replacements (dct:isReplacedBy), the most used first: what the
    # corpus should carry instead
    replaced = label_space.replaced_as(used[np.argsort(-support[used], kind="stable")])
    logger.warning("%s label%s the vocabulary marks deprecated %s carried by training "
                   "documents (%s<%s>, in %s document%s): the model learns and "
                   "suggests %s like any other label%s", f"{len(used):,}", plural_s(len(used)),
                   plural(len(used), "is", "are"), "most often " if len(used) > 1 else "",
                   clip(label_space.uri_of(top), collapse=False), f"{n_docs:,}",
                   plural_s(n_docs),
                   plural(len(used), "it", "them"),
                   f"; relabel with the vocabulary's replacements ({replaced})"
                   if replaced else "")


def _tune_learnt(y_true, topk: TopK, untrained: np.ndarray, **tuning) -> Thresholds:
    """Thresholds tuned (:func:`tune_thresholds` with ``tuning``) on held-out ``topk``,
    the ``untrained`` labels (no training document) left out of the tuning and never
    suggested: the model cannot have learnt them."""
    return never_untrained(tune_thresholds(y_true, without_labels(topk, untrained),
                                            **tuning), untrained, bands=tuning.get("bands"))


def _named(Y: sp.csr_matrix) -> sp.csr_matrix:
    """The labels that tune thresholds, count metrics and calibrate: 1 where a (soft)
    target is nonzero. Soft targets (distillation) train the model; their held-out
    documents' named labels are the truth they are measured against."""
    named = sp.csr_matrix(Y, dtype=np.float32, copy=True)
    named.sum_duplicates()
    named.eliminate_zeros()
    named.data[:] = 1.0
    return named


def labels_per_document(Y: LabelMatrix) -> np.ndarray:
    """How many labels each document of ``Y`` carries, as :func:`label_cardinality`
    counts them: a duplicate entry is one label, a stored 0 none (``train
    --single-label yes`` counted with its own code, a stored 0 as a label).

    >>> labels_per_document(sp.csr_matrix((np.array([1.0, 0.0, 1.0]), np.array([0, 1, 1]),
    ...     np.array([0, 2, 3])), shape=(2, 2))).tolist()  # a stored 0 is no label
    [1, 1]
    """
    positives = sp.csr_matrix(Y, copy=True)
    sum_duplicates_wide(positives)  # a duplicate entry is one label, a stored 0 none
    positives.eliminate_zeros()
    return np.diff(positives.indptr)


def label_cardinality(Y: LabelMatrix) -> dict:
    """How many labels the labelled documents of ``Y`` carry, as the manifest records it
    (``training.label_cardinality``): ``n_labelled_docs``, ``mean_labels`` (a labelled
    document's mean count) and ``share_one_label`` (the share of them carrying exactly
    one; None, as the mean, where no document has a label). A corpus coded with one
    label a document (a catalogue, or a library's main subject alone) reads 1.0: train
    warns of it, which the stored 1.0 lets a reader of the bundle see too (a model
    trained on Reuters-21578 kept to each story's first topic said nothing of it).

    >>> label_cardinality(sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]])))
    {'n_labelled_docs': 2, 'mean_labels': 1.5, 'share_one_label': 0.5}
    >>> label_cardinality(np.zeros((2, 3)))["mean_labels"] is None
    True
    >>> label_cardinality(sp.csr_matrix((np.ones(3_000_001), np.r_[0, 1, [0] * 2_999_999],
    ...     np.r_[0, 2:3_000_002]), shape=(3_000_000, 2)))  # one of them given two
    {'n_labelled_docs': 3000000, 'mean_labels': 1.000001, 'share_one_label': 0.999999}
    """
    per_doc = labels_per_document(Y)
    labelled = per_doc[per_doc > 0]
    if not len(labelled):
        return {"n_labelled_docs": 0, "mean_labels": None, "share_one_label": None}
    n_one = int(np.count_nonzero(labelled == 1))
    mean, share = round(float(labelled.mean()), 6), round(n_one / len(labelled), 6)
    # rounded to 1.0 only where exact: one document of 3,000,000 given two read
    # share_one_label 1.0, and train warned that every one carries exactly one label
    if n_one < len(labelled):
        share, mean = min(share, 0.999999), max(mean, 1.000001)
    return {"n_labelled_docs": int(len(labelled)), "mean_labels": mean,
            "share_one_label": share}


def _label_counts(Y, n_labels: int) -> np.ndarray:
    """Documents carrying each label, from the canonical matrix the fingerprint hashes: a
    stored 0 is no positive and a duplicate entry one document (a copy: Y may be the
    caller's)."""
    positives = sp.csr_matrix(Y, copy=True)
    sum_duplicates_wide(positives)  # an int8 label stored 256 times summed to 0
    positives.eliminate_zeros()
    return np.bincount(positives.indices, minlength=n_labels).astype(np.int64)


def _heldout_after_calibration(classifier: TextClassifier, heldout, raw: TopK | None,
                               entry: dict, options: TrainOptions,
                               lang: str = "en") -> None:
    """Calibration replaced the thresholds the held-out metrics were counted with.

    Where the final model never trained on the held-out documents (a dev corpus, or no
    refit) the thresholds are tuned again on them, on the calibrated probabilities: the
    user gave them to tune thresholds on, and the calibration split only kept that
    job when there were none (``--dev`` was otherwise used for nothing but the report,
    with thresholds tuned on a share of the calibration split). The documents are then
    measured as the calibrated classifier predicts them. Where the final model saw them
    (a refit), the thresholds stay those of the calibration split and the figures
    those of the model fitted before the refit, and say so.

    The held-out ``source`` names the dev corpus's file (``train --dev FILE``,
    :func:`_heldout`) in the manifest's ``thresholds_source`` and the warning of thin
    thresholds, as ``calibrate`` names its ``--data``.

    The final model is then the one that scored them for tuning: its ``raw`` scores are
    calibrated as :meth:`TextClassifier.predict_topk` would, not computed again (unless
    the calibrator reads more candidates than were kept).
    """
    fit_idx, dev_part_texts, dev_part_Y, source = heldout
    if fit_idx is not None and options.refit:
        return  # calibrate_classifier noted that the thresholds were replaced
    k = tuning_k(classifier.n_labels)
    width = k if classifier.calibrator is None else max(k, int(classifier.calibrator.k))
    if raw is not None and classifier.calibrator is not None and raw.k >= width:
        topk = classifier.to_probabilities(raw.head(width)).head(k)
    else:
        with _one_bar_over_documents(classifier, options.show_progress):
            topk = classifier.predict_topk(dev_part_texts, k)
    confidence = _confidence_options(options)
    untrained = classifier.label_counts == 0  # the final model is the held-out fit
    classifier.thresholds = _tune_learnt(
        dev_part_Y, topk, untrained, beta=confidence.beta,
        min_support=confidence.min_support, max_labels=confidence.max_labels,
        bands=None if classifier.calibrator is None else classifier.calibrator.bands,
        min_precision=confidence.min_precision, min_recall=confidence.min_recall)
    if classifier.calibrator is not None:  # what calibrate_classifier warns of, for the
        # thresholds it tuned and these replace
        warn_thin_thresholds(classifier.thresholds, classifier.label_space, source,
                             lang=lang)
    summary = classifier.thresholds.summary()
    classifier.manifest["thresholds"] = summary
    if isinstance(classifier.manifest.get("calibration"), dict):
        # tuned on these held-out documents: 'conformal' or 'calibrator' (the split's
        # part, which tuned the thresholds these replace) named documents they never saw
        reach = ({} if confidence.min_recall is None else
                 {"recall_reach": recall_reach(dev_part_Y, topk, untrained,
                                               confidence.max_labels)})
        classifier.manifest["calibration"] = {**classifier.manifest["calibration"],
                                              "thresholds": summary,
                                              "thresholds_source": source,
                                              "thresholds_tuned_on": "heldout", **reach}
    entry["metrics_before_calibration"] = entry["metrics"]
    entry["metrics"] = evaluate_topk(classifier, dev_part_Y, topk)
    entry["thresholds"] = CALIBRATED_HERE


def _calibrate(classifier: TextClassifier, calibration, crossfit_Y, options: TrainOptions,
               conformal_share: str, thresholds_replaced: bool = False, lang: str = "en",
               set_size_limit: str = "max_set_size"):
    """Score the set-aside documents with the final model and calibrate on them
    (``thresholds_replaced``: the held-out documents tune the thresholds again)."""
    cal_texts, cal_Y, cal_rows, cal_groups = calibration
    k = options.calibration_k or default_k(classifier.n_labels)
    # as the held-out scoring (:func:`_one_bar_over_documents`): silent otherwise but
    # for one featurizer line, the tree's bar starting above 65,536 documents only
    logger.info("calibration: scoring %s set-aside document%s", f"{len(cal_texts):,}",
                plural_s(len(cal_texts)))
    with _one_bar_over_documents(classifier, options.show_progress):
        topk = classifier.predict_topk(cal_texts, k, calibrated=False)
    # twins of the split on one side of its calibrator / conformal parts (and stored, so
    # that 'tagsmith calibrate BUNDLE' splits them alike)
    heldout = HeldoutScores(topk, cal_Y, cal_rows, _calibration_source(options), cal_groups,
                            unseen_words=recorded(cal_texts, classifier.featurizer))
    calibrate_classifier(classifier, heldout, options=_confidence_options(options),
                         crossfit_Y=crossfit_Y, _conformal_share=conformal_share,
                         _warn_thresholds=False, _thresholds_replaced=thresholds_replaced,
                         lang=lang, _set_size_limit=set_size_limit)


def _confidence_options(options: TrainOptions) -> ConfidenceOptions:
    """How training calibrates (and tunes thresholds on the calibrated probabilities)."""
    return options.confidence or ConfidenceOptions(
        seed=options.seed, beta=options.beta, min_support=options.min_support)


def calibration_share_origin(options: TrainOptions, fingerprint: str,
                             corpus: str | None = None) -> dict:
    """What the manifest's ``calibration`` entry records of the share of the training
    corpus (``corpus``: its name, if known) that ``options.calibration_fraction`` set
    aside: ``data`` says so, ``data_fingerprint`` is the whole training corpus's (its
    ``training.data_fingerprint``), ``data_fraction`` and ``data_seed`` draw the share
    from it again.

    >>> calibration_share_origin(TrainOptions(calibration_fraction=0.2, seed=1), "ab12",
    ...                          "train.tsv")["data"]
    '0.2 of the training corpus train.tsv set aside (seed 1)'
    """
    corpus = "the training data" if corpus is None else f"the training corpus {corpus}"
    return {"data": f"{options.calibration_fraction:g} of {corpus} set aside "
                    f"(seed {options.seed})",
            "data_fingerprint": fingerprint,
            "data_fraction": float(options.calibration_fraction),
            "data_seed": int(options.seed)}


def _calibration_source(options: TrainOptions) -> str:
    return (f"{options.calibration_fraction:g} of the training data set aside "
            f"(seed {options.seed})")


def _cross_fit(featurizer, X, Y, options: TrainOptions, label_space: LabelSpace,
               groups: np.ndarray | None = None, fold: np.ndarray | None = None,
               order: np.ndarray | None = None):
    """Out-of-fold scores of the training documents (features ``X``) with the options' model;
    ``groups`` (:func:`duplicate_groups`) keeps equal texts in one fold; ``fold``: the
    folds drawn already (:func:`~tagsmith.pipeline.crossfit.fold_assignment`) along
    ``order`` (:func:`~tagsmith.pipeline.audit.content_order`), the order each fold
    model learns its documents in."""
    from tagsmith.pipeline.crossfit import cross_fit_topk

    params = dict(options.model_params)
    model_params = get_model_class(options.model)._param_names()
    shown = "show_progress" in model_params and "show_progress" not in params
    if shown:
        params["show_progress"] = options.show_progress
    label_features = _label_features(featurizer, make_model(options.model, **params),
                                     label_space)
    crossfit = cross_fit_topk(X, Y, options.model, params, n_folds=options.crossfit_folds,
                              k=options.crossfit_k, seed=options.seed,
                              label_features=label_features, groups=groups, fold=fold,
                              order=order, show_progress=options.show_progress)
    if shown:  # the training's display setting, not the bundle's: stored as given
        crossfit.params = {key: value for key, value in crossfit.params.items()
                           if key != "show_progress"}
    return crossfit


def _heldout(texts, Y, dev_texts, dev_Y, options: TrainOptions,
             groups: np.ndarray | None = None, dev_source: str | None = None):
    """(fit indices or None, dev texts, dev labels, source) or None for no tuning.

    ``groups`` (:func:`duplicate_groups` of ``texts``) keeps equal texts on one side of
    a ``dev_fraction`` split. ``dev_source`` (``train --dev``'s file) is the source of
    ``dev_texts`` ("dev corpus" without it): the manifest's ``metrics.heldout.source``
    and train's "held-out (...)" line named no file where the thresholds' source did."""
    if dev_texts is not None:
        dev_texts = _as_list(dev_texts, "dev_texts")
        if not dev_texts:  # thresholds "tuned" on nothing, P@1 0.0 recorded as measured
            raise InvalidParameterError("dev_texts", "at least one held-out document "
                                        "(or None for no tuning)", "none")
        dev_Y = as_float32_csr(dev_Y, "dev_Y", "a 2-D label matrix (documents x labels)")
        if dev_Y.shape != (len(dev_texts), Y.shape[1]):
            raise InvalidParameterError("dev_Y", f"shape ({len(dev_texts)}, {Y.shape[1]})",
                                        dev_Y.shape)
        # thresholds are tuned and metrics counted on true/false labels
        other = dev_Y.data[(dev_Y.data != 0) & (dev_Y.data != 1)]
        if other.size:
            raise InvalidParameterError("dev_Y", "labels 0 or 1",
                                        f"{other.size} other value{plural_s(other.size)}, "
                                        f"e.g. {other[0]:g}")
        return None, dev_texts, dev_Y, dev_source or "dev corpus"
    n_dev = int(round(len(texts) * options.dev_fraction))
    if options.dev_fraction == 0:
        return None
    if len(texts) < MIN_DOCS_FOR_DEV_SPLIT or n_dev < 1:
        # asked to tune, and silently not: every label kept the untuned threshold
        logger.warning("dev_fraction %g of %s training document%s holds out none to tune "
                       "thresholds on (a split needs at least %d documents and one held "
                       "out): every label keeps the untuned threshold %g", options.dev_fraction,
                       f"{len(texts):,}", plural_s(len(texts)), MIN_DOCS_FOR_DEV_SPLIT,
                       UNTUNED_THRESHOLD,
                       extra={"parameters": ("dev_fraction",)})  # the CLI: --dev-fraction
        return None
    if n_dev >= len(texts):  # else the model was fitted on no document: an error about 'texts'
        raise InvalidParameterError("dev_fraction", f"a share of the {len(texts):,} "
                                                    f"document{plural_s(len(texts))} "
                                    "leaving at least one to fit on", options.dev_fraction)
    order = np.random.default_rng(options.seed).permutation(len(texts))
    fit_idx, dev_idx = split_order(order, n_dev, groups)
    if not dev_idx.size:  # every group of equal texts is too large for the share
        logger.warning("dev_fraction %g of %s training document%s holds out none to tune "
                       "thresholds on (%s, and twins stay on one side): every label keeps "
                       "the untuned threshold %g", options.dev_fraction, f"{len(texts):,}",
                       plural_s(len(texts)), unfit_groups(groups, n_dev), UNTUNED_THRESHOLD,
                       extra={"parameters": ("dev_fraction",)})
        return None
    return (fit_idx, [texts[i] for i in dev_idx], _named(Y[dev_idx]),
            f"{options.dev_fraction:g} of the training data (seed {options.seed})")
