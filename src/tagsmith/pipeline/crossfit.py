"""Cross-fitted (out-of-sample) top-k scores for a training corpus.

Calibration, conformal prediction and label audits all need scores that a model
gives to documents it did *not* learn from: a model scores its own training data
far too confidently. K-fold cross-fitting splits the documents into ``n_folds``
seeded random folds, fits one model per fold on the other folds and scores the
held-out fold with it, so every document gets a sparse :class:`~tagsmith.topk.TopK`
row from a model that never saw it. The fold models are dropped once they have
scored their fold; only the ``n_docs x k`` scores are kept (never a dense docs x
labels array), and they can be stored next to the model in its bundle.

Features are computed once, on all documents, before the folds are drawn (the
TF-IDF vocabulary and idf see every document, the model does not): refitting the
featurizer per fold would cost a second pass over the texts for a negligible gain
in honesty, since document frequencies carry no label information.

>>> import numpy as np, scipy.sparse as sp
>>> X = sp.csr_matrix(np.tile(np.eye(3), (6, 1)))
>>> Y = sp.csr_matrix(np.tile(np.eye(3), (6, 1)))
>>> scores = cross_fit_topk(X, Y, "linear", {"C": 10.0, "n_jobs": 1}, n_folds=3, k=2)
>>> scores.topk.indices[:3, 0].tolist(), scores.fold.shape
([0, 1, 2], (18,))
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import MAX_FOLDS, check_int, check_number
from tagsmith._plural import plural, plural_s
from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics.sets import first_duplicate
from tagsmith.models import available_models, check_model_params, get_model_class, make_model
from tagsmith.models.base import (
    check_features,
    check_groups,
    check_sample_weight,
    check_targets,
    takes_groups,
)
from tagsmith.models.splits import (  # also named here, where they were first
    check_order,
    folds_in_order,
    has_repeats,
    split_order,
    unfit_groups,
)
from tagsmith.progress import progress_bar
from tagsmith.store.bundle import check_ids, sparse_from_state
from tagsmith.topk import TopK

if TYPE_CHECKING:
    from tagsmith.features.views import Views

logger = logging.getLogger("tagsmith")

#: top-k width kept per document: every label for small label spaces, else this many
DEFAULT_K = 50
#: label spaces up to this size keep every label's score (k = n_labels)
FULL_SCORES_UP_TO = 100
CROSSFIT_META, CROSSFIT_ARRAYS = "crossfit.json", "crossfit.npz"


def check_n_folds(name: str, n_folds: object) -> int:
    """``n_folds`` as an ``int`` in ``[2, MAX_FOLDS]``, else :class:`InvalidParameterError`.

    Fold numbers are int16 (in bundles too): more folds would wrap to negative
    numbers, whose documents every fold model trains on and none scores.

    >>> try:
    ...     check_n_folds("n_folds", 40000)
    ... except InvalidParameterError as exc:
    ...     print(exc)
    parameter 'n_folds' must be an integer in [2, 32767], got 40000
    """
    value = check_int(name, n_folds, 2, numpy=True)
    if value > MAX_FOLDS:
        raise InvalidParameterError(name, f"an integer in [2, {MAX_FOLDS}]", value)
    return value


@dataclass
class CrossFitScores:
    """Out-of-fold scores of every training document.

    ``topk`` (``n_docs x k``) holds each document's scores from the model of its
    fold; ``fold`` (``n_docs``, int16) says which fold held it out. ``model`` and
    ``params`` name the model family that produced them.
    ``grouped``: the folds kept repeated texts (equal but for case and spacing) in one
    fold; false for a corpus without any (the folds are the same either way) and in
    bundles written before it was recorded.
    """

    topk: TopK
    fold: np.ndarray
    n_folds: int
    seed: int
    model: str
    params: dict
    seconds: float = 0.0
    grouped: bool = False

    def __repr__(self) -> str:
        # one line at a prompt (clf.crossfit): the dataclass repr printed the fold of
        # every document and the model's parameters
        return (f"CrossFitScores(n_docs={len(self.topk)}, k={self.topk.k}, "
                f"n_labels={self.topk.n_labels}, n_folds={self.n_folds}, "
                f"model={self.model!r}, seed={self.seed})")

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        # no seconds: crossfit.json held the time the cross-fit took, so two trainings
        # of one model wrote two files; the manifest records it (metrics.crossfit), and
        # :meth:`from_state` is given it from there
        meta = {"n_folds": self.n_folds, "seed": self.seed, "model": self.model,
                "params": self.params, "n_labels": self.topk.n_labels}
        if self.grouped:  # recorded only then: bundles of duplicate-free corpora unchanged
            meta["grouped"] = True
        return meta, {"indices": self.topk.indices, "scores": self.topk.scores,
                      "fold": self.fold.astype(np.int16)}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], *,
                   seconds: object = None) -> CrossFitScores:
        """The scores ``to_state`` saved; a :class:`ValueError` naming the field of any
        other state (a bundle loads it as a damaged bundle). ``seconds``: the time the
        cross-fit took, as the bundle's manifest records it (``metrics.crossfit``);
        ``meta``'s own, in bundles written before it was left out, comes first.

        The fields were converted as they came: ``int()`` read an ``n_labels`` of 2.7 as
        2 and one of ``"3"`` as 3, ``dict()`` made a list of pairs a dict, ``str()`` a
        number a model name, and ``float()`` read ``"nan"`` or ``true`` as seconds."""
        # whole numbers as stored (JSON holds no numpy numbers)
        n_labels = check_int("crossfit.n_labels", meta["n_labels"], 0)
        topk = TopK(arrays["indices"], arrays["scores"], n_labels)
        n_folds = check_n_folds("crossfit.n_folds", meta["n_folds"])
        seed = check_int("crossfit.seed", meta["seed"], 0)
        model, params = meta["model"], meta["params"]
        if not isinstance(model, str) or not model:
            raise InvalidParameterError("crossfit.model", "a model name", model)
        if not isinstance(params, dict):
            raise InvalidParameterError("crossfit.params", "an object of model parameters",
                                        params)
        seconds = check_number("crossfit.seconds", meta.get(
            "seconds", 0.0 if seconds is None else seconds), 0, finite=True)
        grouped = meta.get("grouped", False)  # absent in older bundles: not grouped
        if not isinstance(grouped, bool):
            raise InvalidParameterError("crossfit.grouped", "true or false", grouped)
        fold = check_ids("cross-fit folds", arrays["fold"],
                         min(n_folds, np.iinfo(np.int16).max + 1), shape=(len(topk),),
                         dtype=np.int16)
        params = dict(params)
        if model in available_models():  # as the family reads them ("Infinity" is inf)
            params = get_model_class(model).params_from_json(params)
        return cls(topk, fold, n_folds, seed, model, params, seconds, grouped)


def check_seed(seed: object) -> int:
    """``seed`` as a plain ``int`` >= 0, else :class:`InvalidParameterError` naming it.

    It seeds the folds (or split) and the models' ``random_state``, and is stored in
    bundles: -1, 2.5 or ``"3"`` failed inside numpy's seeding (a bare ``ValueError`` or
    ``TypeError``), ``None`` or ``True`` as a bad ``random_state`` of the first fold
    model, and a numpy integer was kept as such (no JSON number).
    """
    return check_int("seed", seed, 0, numpy=True)


def fold_assignment(n_docs: int, n_folds: int, seed: int = 0,
                    groups: npt.ArrayLike | None = None, *,
                    order: npt.ArrayLike | None = None) -> np.ndarray:
    """Seeded random folds of (nearly) equal size: ``fold[i]`` in ``[0, n_folds)``.

    ``groups`` (one integer id per document, e.g. :func:`tagsmith.pipeline.train.
    duplicate_groups` of the texts) keeps the documents of a group in one fold, so that
    no document is scored by a model trained on its twin, and moves as few documents as
    it can from the folds without ``groups`` (figures measured on them stay close): a
    group goes to the fold of its first document in the seeded permutation while that
    fold's groups fit ``ceil(n_docs / n_folds)`` documents (the rest, largest first, to
    the fold with the fewest), then the last single documents (in that order) of folds
    grown too large fill the others, to sizes as equal as the groups allow. Without any
    duplicate the folds are the same.

    ``order`` (a permutation of the documents, e.g. the audit's
    :func:`~tagsmith.pipeline.audit.content_order`): the folds are drawn over the
    documents listed in that order, not over their positions, so a document's fold
    follows what ``order`` sorts by (its content), not its line: the same corpus shuffled
    put documents in other folds. ``fold[order]`` is then the draw of
    ``n_docs`` documents in that order.

    >>> fold_assignment(7, 3, seed=1).tolist().count(0) in (2, 3)
    True
    >>> fold = fold_assignment(6, 2, seed=0, groups=[0, 1, 0, 2, 3, 0])
    >>> len({fold[0], fold[2], fold[5]}), sorted(np.bincount(fold).tolist())
    (1, [3, 3])
    """
    n_folds = check_n_folds("n_folds", n_folds)
    drawn = np.random.default_rng(check_seed(seed)).permutation(n_docs)
    if order is not None:  # the permutation of the positions in order
        drawn = check_order("order", order, n_docs)[drawn]
    return folds_in_order(drawn, n_folds, groups)


def labelled_texts(Y: LabelMatrix, groups: npt.ArrayLike | None = None) -> tuple[int, int]:
    """``(labelled documents, distinct texts among them)`` of ``Y`` (rows with a positive
    target) and ``groups`` (one id per document, equal texts sharing one; each document
    its own without). Cross-fitting needs two such texts at least: the fold holding a
    lone one (or every copy of it) leaves its fold model nothing to learn, whatever the
    number of folds or the seed.

    >>> Y = sp.csr_matrix(np.array([[1, 0], [0, 0], [1, 1]]))
    >>> labelled_texts(Y), labelled_texts(Y, [5, 6, 5])
    ((2, 2), (2, 1))
    """
    labelled = np.flatnonzero(np.diff(sp.csr_matrix(sp.csr_matrix(Y) > 0).indptr) > 0)
    if groups is None:
        return len(labelled), len(labelled)
    return len(labelled), int(np.unique(np.asarray(groups)[labelled]).size)


def fold_of_every_labelled(Y: LabelMatrix, n_folds: int, seed: int = 0,
                           groups: npt.ArrayLike | None = None, *,
                           fold: np.ndarray | None = None) -> int | None:
    """The fold (from 0) of :func:`fold_assignment`'s ``n_folds`` folds of ``Y``'s rows
    (with ``seed`` and ``groups``, as :func:`cross_fit_topk` draws them) that holds every
    labelled document (a row with a positive target), leaving its fold model none to
    learn from; ``None`` where the labelled documents lie in two folds or more, or there
    are none. Cheap (no fit): a caller refuses such folds before any training.
    ``fold``: those folds drawn already (:func:`fold_assignment`), which the caller then
    passes on to :func:`cross_fit_topk` (drawing them costs ~0.2 s at 590k documents).

    >>> Y = sp.csr_matrix(np.array([[1], [0], [0], [0]]))
    >>> fold_of_every_labelled(Y, 2) == int(fold_assignment(4, 2)[0])
    True
    """
    Y = sp.csr_matrix(Y)
    teaches = np.diff(sp.csr_matrix(Y > 0).indptr) > 0
    if not teaches.any():
        return None
    if fold is None:
        fold = fold_assignment(Y.shape[0], n_folds, seed, groups)
    folds = np.unique(fold[teaches])
    return int(folds[0]) if folds.size == 1 else None


def default_k(n_labels: int) -> int:
    """Every label's score for small label spaces, else the best ``DEFAULT_K``."""
    return n_labels if n_labels <= FULL_SCORES_UP_TO else min(DEFAULT_K, n_labels)


def cross_fit_topk(X: FeatureMatrix | Views, Y: LabelMatrix, model: str,
                   params: dict | None = None, *, n_folds: int = 5,
                   k: int | None = None, seed: int = 0,
                   sample_weight: npt.ArrayLike | None = None,
                   label_features: FeatureMatrix | Views | None = None,
                   groups: npt.ArrayLike | None = None,
                   fold: npt.ArrayLike | None = None,
                   order: npt.ArrayLike | None = None,
                   show_progress: bool = False) -> CrossFitScores:
    """Out-of-fold :class:`TopK` scores for every row of ``X`` (docs x features, or
    :class:`~tagsmith.features.views.Views` for multi-view models).

    ``Y`` (docs x labels, sparse, values in [0, 1]) are the targets; ``model`` and
    ``params`` name the family and its parameters (as for
    :func:`tagsmith.models.make_model`); ``k`` defaults to :func:`default_k`.
    ``label_features`` is passed to models that use label-name features.
    ``groups`` (one integer id per document, e.g.
    :func:`tagsmith.pipeline.train.duplicate_groups` of the texts) keeps each group in
    one fold (see :func:`fold_assignment`): a document whose twin a fold model learnt
    from gets a falsely confident score; a fold model that draws a split of its own
    (the ensemble's ``weights="auto"``) gets those of its documents too.
    ``fold``: the folds :func:`fold_assignment` draws of these documents with
    ``n_folds``, ``seed`` and ``groups``, where the caller drew them already (for
    :func:`fold_of_every_labelled`'s check); they are not drawn again.
    ``order`` (a permutation of the rows, e.g.
    :func:`~tagsmith.pipeline.audit.content_order` of the texts): the folds are drawn
    along it (:func:`fold_assignment`'s ``order``; a ``fold`` given is the caller's
    draw with it) and each fold model learns its documents in that order, so the scores
    follow the documents, not their rows: without it the same corpus shuffled drew
    other folds and fitted each model's solver in another order (1,500 GoEmotions
    documents: the same top label for 92.7%). The scores come back in the rows' order.
    Each fold model sees ``(n_folds - 1) / n_folds`` of the documents, so the whole
    costs about ``n_folds - 1`` full trainings. A label tree's fold model clusters the
    labels anew, from the other folds' documents (and ``label_features`` where its
    ``label_feature_weight`` is above 0), never reusing a clustering of all documents
    (as ``train``'s refit does): that one is built from the fold's own documents, and
    their out-of-fold scores would come from a tree shaped by their labels.
    """
    n_folds = check_n_folds("n_folds", n_folds)  # a plain int: it is stored in bundles
    seed = check_seed(seed)  # so is the seed
    from tagsmith.features.views import Views

    if isinstance(X, Views):
        n_rows, rows_of = X.n_docs, X.take
    else:
        X = check_features(X)
        n_rows, rows_of = X.shape[0], X.__getitem__
    Y = check_targets(Y, n_rows, soft_ok=True)
    weights = check_sample_weight(sample_weight, n_rows)
    n_docs, n_labels = Y.shape
    if n_docs < n_folds:
        raise InvalidParameterError("n_folds", f"at most the number of documents ({n_docs})",
                                    n_folds)
    k = default_k(n_labels) if k is None else check_int("k", k, 1, numpy=True)
    params = dict(params or {})
    check_model_params(model, params)  # a mistyped or bad parameter fails before any fit
    if order is not None:
        order = check_order("order", order, n_docs)
    if fold is None:
        fold = fold_assignment(n_docs, n_folds, seed, groups, order=order)
    else:  # the caller's draw of the same folds: one fold in [0, n_folds) per document
        fold = np.asarray(fold)
        got: str | None = None
        if fold.shape != (n_docs,) or fold.dtype.kind not in "iu":
            got = f"shape {fold.shape}, dtype {fold.dtype}"
        elif n_docs and (fold.min() < 0 or fold.max() >= n_folds):
            got = f"folds {int(fold.min())} to {int(fold.max())}"
        if got is not None:
            raise InvalidParameterError("fold", f"one fold in [0, {n_folds}) per document "
                                        f"({n_docs}), as fold_assignment draws them", got)
    grouped = groups is not None and has_repeats(groups)
    # documents a fold model learns from: a positive target and, with sample weights, a
    # weight above 0 (the models refuse to fit on weight 0 for every labelled document)
    teaches = np.diff(sp.csr_matrix(Y > 0).indptr) > 0
    if weights is not None:
        teaches &= weights > 0
    indices = np.full((n_docs, min(k, n_labels)), -1, np.int32)
    scores = np.full(indices.shape, -np.inf, np.float32)
    started = time.perf_counter()
    with progress_bar(total=n_folds, desc="cross-fitting", unit="fold",
                      enabled=show_progress) as bar:
        # the rows in the order the models learn them (each fold's, in that order)
        along = fold if order is None else fold[order]
        for f in range(n_folds):
            held_out = np.flatnonzero(along == f)
            if order is not None:
                held_out = order[held_out]
            if not len(held_out):
                # fewer distinct texts than folds leave a fold empty: a model fitted on
                # every document would score nothing
                logger.info("cross-fit fold %d/%d: no document (fewer distinct texts than "
                            "folds), no model fitted", f + 1, n_folds)
                bar.update(1)
                continue
            kept = np.flatnonzero(along != f)
            if order is not None:
                kept = order[kept]
            if not teaches[kept].any():  # the fold model would have nothing to learn
                n_teach = int(np.count_nonzero(teaches))
                why = "too few to cross-fit; use fewer folds or another seed"
                if n_teach == 1:
                    # no fold count or seed helps a lone one: its fold's model learns none
                    why = "too few to cross-fit: it needs labelled documents of two texts at least"
                elif grouped and np.unique(np.asarray(groups)[teaches]).size == 1:
                    # no fold count or seed parts copies of one text: "use fewer folds or
                    # another seed" sent the user after a remedy that could not help
                    why = ("they are copies of one text, and equal texts share a fold: "
                           "cross-fitting needs labelled documents of two texts at least")
                # "1 labelled documents", and a lone one called "copies of one text"
                raise InvalidParameterError(
                    "Y", f"positive targets outside fold {f + 1} of {n_folds} ("
                    + plural(n_teach, "the one labelled document", "every labelled document")
                    + f" fell in that fold: {why})",
                    f"{n_teach} labelled document{plural_s(n_teach)}"
                    + ("" if weights is None else " of sample weight above 0"))
            fold_model = make_model(model, **params)
            if "random_state" in fold_model.get_params() and "random_state" not in params:
                fold_model.set_params(random_state=seed)
            fit_kwargs = {}
            if label_features is not None and fold_model.uses_label_features():
                fit_kwargs["label_features"] = label_features
            if groups is not None and takes_groups(fold_model):
                fit_kwargs["groups"] = np.asarray(groups)[kept]
            try:
                fold_model.fit(rows_of(kept), Y[kept],
                               None if weights is None else weights[kept], **fit_kwargs)
            except InvalidParameterError as exc:
                # the parameters were checked: what the fold's documents cannot satisfy
                # (weights='auto' on too few of them) said "got 75" of 150 documents
                raise InvalidParameterError(
                    exc.name, f"{exc.expected} (in the model of fold {f + 1} of {n_folds}, "
                    f"fitted on the {len(kept)} of {n_docs} document{plural_s(n_docs)} outside "
                    "that fold)",
                    exc.got, owner=exc.owner) from exc
            part = fold_model.predict_topk(rows_of(held_out), k).padded_to(indices.shape[1])
            indices[held_out] = part.indices
            scores[held_out] = part.scores
            del fold_model
            logger.info("cross-fit fold %d/%d: %s held-out document%s (%.1f s so far)", f + 1,
                        n_folds, f"{len(held_out):,}", plural_s(len(held_out)),
                        time.perf_counter() - started)
            bar.update(1)
    return CrossFitScores(TopK._trusted(indices, scores, n_labels), fold, n_folds, seed, model,
                          params,
                          time.perf_counter() - started, grouped)


def heldout_topk(X_fit: FeatureMatrix | Views, Y_fit: LabelMatrix,
                 X_heldout: FeatureMatrix | Views, model: str, params: dict | None = None, *,
                 k: int | None = None, seed: int = 0,
                 sample_weight: npt.ArrayLike | None = None) -> TopK:
    """Scores for a held-out split (e.g. a calibration set) from a model fitted on the rest.

    ``X_fit``/``Y_fit`` train the model, ``X_heldout`` (docs x features) is scored.
    """
    Y_fit = sp.csr_matrix(Y_fit)
    # checked before the fit: int() read 2.5 as 2 and "3" as 3
    k = default_k(Y_fit.shape[1]) if k is None else check_int("k", k, 1, numpy=True)
    seed = check_seed(seed)
    fitted = make_model(model, **dict(params or {}))
    if "random_state" in fitted.get_params() and "random_state" not in (params or {}):
        fitted.set_params(random_state=seed)
    fitted.fit(X_fit, Y_fit, sample_weight)
    return fitted.predict_topk(X_heldout, k)


HELDOUT_META, HELDOUT_ARRAYS = "calibration_split.json", "calibration_split.npz"


@dataclass
class HeldoutScores:
    """Scores of a held-out calibration split by the *final* model, with the true labels.

    Unlike :class:`CrossFitScores` (each document scored by a fold model), these come
    from the model that is shipped, on documents it never saw, so they are what
    calibration and conformal sets need. ``topk`` (``n_docs x k``) and ``Y`` (sparse
    ``n_docs x n_labels``) are row-aligned; ``rows`` (``n_docs``, int64) locates the
    documents in their source (e.g. the training corpus), ``source`` says what that is.
    ``groups`` (one integer id per document, e.g.
    :func:`tagsmith.pipeline.train.duplicate_groups` of their texts) keeps equal texts on
    one side of the calibrator / conformal split; ``None`` where no id repeats (it is
    then dropped: each document is its own group) or the texts are unknown.
    """

    topk: TopK
    Y: sp.csr_matrix
    rows: np.ndarray
    source: str
    groups: np.ndarray | None = None
    #: the share of the documents' word tokens outside the featurizer's vocabulary, as
    #: the manifest records it (:func:`tagsmith.features.unseen.recorded`), where the
    #: texts were at hand; kept in the manifest, not with the split
    unseen_words: dict | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        # one line at a prompt: the dataclass repr printed the top-k, the labels and
        # every row
        return (f"HeldoutScores(n_docs={len(self.topk)}, k={self.topk.k}, "
                f"n_labels={self.topk.n_labels}, source={self.source!r})")

    def __post_init__(self):
        self.Y = sp.csr_matrix(self.Y, dtype=np.float32)
        self.rows = np.asarray(self.rows, dtype=np.int64)
        shape = (len(self.topk), self.topk.n_labels)
        if self.Y.shape != shape or self.rows.shape != (len(self.topk),):
            raise InvalidParameterError("Y", f"labels of shape {shape} and one row id per "
                                        "document", f"{self.Y.shape} and {self.rows.shape}")
        if self.groups is not None:
            groups = check_groups(self.groups, len(self.topk))
            # saved only with a repeated text: bundles of other corpora stay as they were
            self.groups = groups if has_repeats(groups) else None

    def __len__(self) -> int:
        return len(self.topk)

    def subset(self, rows: np.ndarray) -> HeldoutScores:
        """The documents at positions ``rows`` (an index array)."""
        return HeldoutScores(self.topk[rows], self.Y[rows], self.rows[rows], self.source,
                             None if self.groups is None else self.groups[rows])

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        y = sp.csr_matrix(self.Y)
        arrays = {"indices": self.topk.indices, "scores": self.topk.scores,
                  "rows": self.rows, "y_indptr": y.indptr.astype(np.int64),
                  "y_indices": y.indices.astype(np.int32), "y_data": y.data.astype(np.float32)}
        if self.groups is not None:
            arrays["groups"] = self.groups
        return {"source": self.source, "n_labels": self.topk.n_labels}, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> HeldoutScores:
        """The split ``to_state`` saved; :class:`ValueError` saying what is wrong with any
        other state (a bundle loads it as a damaged bundle).

        Its labels are what ``tagsmith calibrate`` (without ``--data``) refits on and
        BBSE shift estimation counts: a label of 2, -1, 0.5 or NaN (or one entry stored
        twice) loaded, then failed there with an error about a parameter ``y_true`` or
        ``source_y`` nobody passed. Row ids of strings or fractions were converted as
        they came, a fractional ``n_labels`` truncated.
        """
        n_labels = check_int("calibration split n_labels", meta["n_labels"], 0)
        source = meta["source"]
        if not isinstance(source, str):
            raise ValueError(f"calibration split source is {source!r}, not a description")
        topk = TopK(arrays["indices"], arrays["scores"], n_labels)
        y = sparse_from_state("held-out labels", "csr", arrays["y_data"], arrays["y_indices"],
                              arrays["y_indptr"], (len(topk), topk.n_labels))
        # each stored value checked, before any sum: a 1 stored twice was refused as
        # 'labels hold 2', which no entry of the file held
        labels = y.data
        if np.any((labels != 0) & (labels != 1)):  # NaN too
            bad = labels[(labels != 0) & (labels != 1)][0]
            raise ValueError(f"calibration split labels hold {bad:g}, expected labels 0 or 1")
        # tagsmith writes each label of a document once: one stored more often is a file
        # changed since, refused naming where (held-out labels a caller passes are
        # merged instead, by check_label_values)
        duplicate = first_duplicate(y)
        if duplicate is not None:
            row, column, times = duplicate
            raise ValueError(f"calibration split labels store label {column} of document "
                             f"{row} {times} times (counted from 0), expected each once")
        rows = np.asarray(arrays["rows"])
        if rows.dtype.kind in "iu" and rows.size and int(rows.min()) < 0:
            raise ValueError(f"calibration split rows hold {int(rows.min())}, expected row "
                             "ids >= 0")
        rows = check_ids("calibration split rows", rows, np.iinfo(np.int64).max,
                         shape=(len(topk),))
        if np.unique(rows).size != rows.size:
            raise ValueError("calibration split rows name a document twice")
        groups = None
        if "groups" in arrays:  # bundles before it, or without repeated texts, hold none
            groups = np.asarray(arrays["groups"])
            if groups.shape != rows.shape or groups.dtype.kind not in "iu":
                raise ValueError(f"calibration split groups are an array of shape "
                                 f"{groups.shape}, dtype {groups.dtype}, expected one "
                                 f"integer per document ({rows.size})")
        return cls(topk, y, rows, source, groups)


def heldout_split(n_docs: int, fraction: float, seed: int = 0, *,
                  name: str = "fraction",
                  groups: npt.ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(fit rows, held-out rows)``, each sorted; ``fraction`` of the docs held out.
    A refused ``fraction`` is named ``name`` (the caller's parameter). ``groups`` (one
    integer id per document) puts each group on one side (see :func:`split_order`).

    >>> fit, held = heldout_split(10, 0.2, seed=0)
    >>> len(fit), len(held), sorted(set(fit) | set(held)) == list(range(10))
    (8, 2, True)
    """
    # a string, None or a list failed comparing with 0.0 (a bare TypeError)
    if (isinstance(fraction, (bool, np.bool_))
            or not isinstance(fraction, (int, float, np.integer, np.floating))
            or not 0.0 < fraction < 1.0):
        raise InvalidParameterError(name, "a number in (0, 1)", fraction)
    n_held = int(round(n_docs * fraction))
    if n_held < 1 or n_held >= n_docs:
        raise InvalidParameterError(name, f"a share of the {n_docs} document{plural_s(n_docs)} "
                                          "leaving at "
                                    "least one on each side", fraction)
    order = np.random.default_rng(check_seed(seed)).permutation(n_docs)
    fit, held = split_order(order, n_held, groups)
    if not held.size:  # every group of equal texts is too large for the share
        raise InvalidParameterError(name, f"a share of the {n_docs} document{plural_s(n_docs)} "
                                    f"holding out at least one whole group of equal texts "
                                    f"({unfit_groups(groups, n_held)})", fraction)
    return fit, held
