"""Out-of-sample scores of a training corpus, as an audit needs them.

An audit must score each document with a model that did not learn from it. Three
sources, from cheapest to most expensive:

* ``knn``: leave-one-out nearest neighbours
  (:meth:`tagsmith.models.knn.KNNModel.leave_one_out_topk`): index every document
  once and let each be voted on by its neighbours other than itself and its exact
  copies (``groups``). One prediction pass at any scale (yso-finna-en's 590k
  documents: about half a minute on two cores).
* ``crossfit``: K-fold cross-fitting (:func:`tagsmith.pipeline.crossfit.cross_fit_topk`)
  with any model family; costs about ``K - 1`` trainings plus scoring every document.
* ``bundle``: the cross-fitted scores a bundle stored at training time
  (``tagsmith train --crossfit-folds N``), when the bundle was trained on this very
  corpus (its data fingerprint says so).
* ``heldout``: the predictions of a bundle trained on *other* documents (a test split
  audited with the model trained on the train split): out of sample as they are, one
  prediction pass, no cross-fitting of the (often small) held-out set itself.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, cast

from tagsmith._params import check_choice, check_number
from tagsmith._plural import plural_s
from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import TopK

if TYPE_CHECKING:
    import numpy.typing as npt
    import scipy.sparse as sp

    from tagsmith._typing import FeatureMatrix, LabelMatrix
    from tagsmith.features.views import Views
    from tagsmith.models.knn import KNNModel
    from tagsmith.pipeline.crossfit import CrossFitScores

logger = logging.getLogger("tagsmith")

SOURCES = ("auto", "knn", "crossfit", "bundle", "heldout")
#: :func:`capped_labels`: documents of each label searched again with a wider cap, at
#: most this many in all (2.4 s on GoEmotions' 43,410 comments, 23 labels), and no
#: fewer than the second number per label (the largest labels first)
CAP_CHECK_DOCS = (1000, 30)
#: ... and a label is named when its own documents' mean score falls by this much
#: under the cap: 0.59 for the largest category of a 36,000-product catalogue (its
#: four words in 850-900 documents each, so the neighbours were near random), at
#: most 0.23 on GoEmotions (gratitude's "thanks"), whose audit it should not disturb
CAP_CHECK_DROP = 0.3
#: neighbours that vote in the leave-one-out scores (the kNN model's default)
KNN_DEFAULTS = {"n_neighbors": 50}


@dataclass
class AuditScores:
    """Out-of-sample ``topk`` (``n_docs x k``) and where it came from."""

    topk: TopK
    source: str
    details: dict = field(default_factory=dict)
    seconds: float = 0.0
    #: kNN scores: the labels the search's ``max_posting`` costs their own documents'
    #: neighbours (:func:`capped_labels`), not in the report's ``scores`` section
    capped: list[CappedLabel] = field(default_factory=list)

    def __repr__(self) -> str:
        """One line at a prompt: the dataclass repr printed the top-k and the details.

        >>> AuditScores(TopK.empty(4, 2, n_labels=3), "knn", {"n_neighbors": 50})
        AuditScores(source='knn', topk=TopK(n_docs=4, k=2, n_labels=3, n_padded=8))
        """
        return f"AuditScores(source={self.source!r}, topk={self.topk!r})"

    def describe(self) -> dict:
        return {"source": self.source, "k": int(self.topk.k), "seconds": round(self.seconds, 2),
                **self.details}


def given_p_at_1(Y: LabelMatrix, topk: TopK) -> float:
    """P@1 of ``topk`` against the given labels ``Y``, to 4 decimals: the audit report's
    ``p@1_vs_given`` (how well out-of-sample scores agree with the corpus's own labels,
    no other labels needed), and what ``cooccurrence="auto"`` maximises.

    >>> given_p_at_1([[1, 0], [1, 0], [0, 1]], TopK.from_scores([[0.9, 0.1]] * 3, k=1))
    0.6667
    """
    from tagsmith.metrics import as_label_matrix, precision_at_k

    # an audit's soft labels (0.5) are given labels: nonzero is one, as before the
    # metrics refused other values than 0 or 1
    return round(precision_at_k(as_label_matrix(Y, "Y"), topk, 1), 4)


def check_cooccurrence(value: object) -> float | str:
    """The audit's co-occurrence weight: ``"auto"``, or a finite number >= 0 (returned
    as a plain ``float``; numpy numbers pass).

    >>> check_cooccurrence("auto"), check_cooccurrence(1)
    ('auto', 1.0)
    """
    if isinstance(value, str) and value == "auto":
        return "auto"
    try:
        return check_number("cooccurrence", value, 0, finite=True, numpy=True)
    except InvalidParameterError:
        raise InvalidParameterError("cooccurrence", "'auto' or a finite number >= 0",
                                    value) from None


def choose_cooccurrence(topk: TopK, Y: LabelMatrix, *,
                        grid: tuple[float, ...] | list[float] | None = None,
                        cooccurrence_counts: tuple | None = None,
                        n_threads: int | None = None) -> tuple[float, TopK, dict]:
    """The co-occurrence weight of ``grid`` (default
    :data:`tagsmith.audit.COOCCURRENCE_GRID`) whose blend of ``topk``
    (:func:`blend_cooccurrence`) has the highest P@1 against the given labels ``Y``
    (:func:`given_p_at_1`; ties: the smaller weight), that blend, and
    ``{"grid": [...], "p@1_vs_given": [...]}`` (one P@1 per weight, in grid order).
    The co-occurrence counts are built once for every weight (or taken from
    ``cooccurrence_counts``, :func:`tagsmith.audit.evidence.label_cooccurrence` of
    ``Y != 0``). One line is logged with every weight's P@1 and the choice.

    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> Y = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 0]], bool))
    >>> knn = TopK(np.array([[2, -1], [2, -1], [2, -1]]),
    ...            np.array([[0.5, -np.inf], [0.5, -np.inf], [0.5, -np.inf]]), 3)
    >>> weight, blended, details = choose_cooccurrence(knn, Y, grid=[0, 1, 3])
    >>> weight, details["p@1_vs_given"]  # 1 lifts documents 0 and 1's other label first
    (1.0, [0.0, 0.6667, 0.6667])
    """
    import scipy.sparse as sp

    from tagsmith.audit import COOCCURRENCE_GRID

    weights = [check_number(f"grid[{i}]", w, 0, finite=True, numpy=True)
               for i, w in enumerate(COOCCURRENCE_GRID if grid is None else grid)]
    if not weights:
        raise InvalidParameterError("grid", "at least one weight", [])
    Y = sp.csr_matrix(Y)
    if any(weights):
        cooccurrence_counts = _blend_inputs(topk, Y, cooccurrence_counts)
    # each weight's P@1 from its blend's first column, blended a block of documents at a
    # time: holding a whole blend per weight (590k documents x k=50 on yso-finna-en,
    # 236 MB each) raised the audit's peak memory; the chosen weight is blended once more
    kernel_counts = None if cooccurrence_counts is None else _kernel_counts(cooccurrence_counts)
    p1s = []
    for weight in weights:
        if weight == 0:
            p1s.append(given_p_at_1(Y, topk))
        else:
            assert kernel_counts is not None
            p1s.append(_blended_p_at_1(topk, Y, weight, kernel_counts, n_threads))
    best = max(range(len(weights)), key=lambda i: (p1s[i], -weights[i]))
    logger.info("co-occurrence weight auto: P@1 vs given %s; chose %g",
                ", ".join(f"{p:.4f} at {w:g}" for w, p in zip(weights, p1s, strict=True)),
                weights[best])
    blended = blend_cooccurrence(topk, Y, weights[best], cooccurrence_counts=cooccurrence_counts,
                                 n_threads=n_threads)
    return weights[best], blended, {"grid": weights, "p@1_vs_given": p1s}


#: documents blended at a time when only the blend's P@1 is wanted
_P1_BLOCK = 65_536


def _blended_p_at_1(topk: TopK, Y: sp.csr_matrix, weight: float, kernel_counts: tuple,
                    n_threads: int | None) -> float:
    """:func:`given_p_at_1` of ``blend_cooccurrence(topk, Y, weight)``, blending
    :data:`_P1_BLOCK` documents at a time (the kernel scores each document alone, so
    every block's rows are those of the whole blend); ``kernel_counts`` from
    :func:`_kernel_counts`."""
    from tagsmith.metrics import as_label_matrix, precision_at_k

    Y = as_label_matrix(Y, "Y")  # soft labels given labels, as given_p_at_1 takes them
    n_docs, hits = len(topk), 0
    for start in range(0, n_docs, _P1_BLOCK):
        end = min(start + _P1_BLOCK, n_docs)
        part = _blend_rows(topk, kernel_counts, weight, n_threads, start, end)
        hits += round(precision_at_k(Y[start:end], part, 1) * (end - start))
    return round(hits / n_docs, 4) if n_docs else 0.0


def blend_cooccurrence(topk: TopK, Y: sp.spmatrix | sp.sparray, weight: float, *,
                       cooccurrence_counts: tuple | None = None,
                       n_threads: int | None = None) -> TopK:
    """``topk`` (leave-one-out scores of the documents of ``Y``) re-ranked with a
    leave-one-out co-occurrence score: the top-k (same ``k``) of
    ``score + weight * cooc`` over all labels, where ``score`` is 0 outside ``topk`` and
    ``cooc(d, c)`` is the mean, over the document's other given labels ``a``, of
    ``P(c | a)`` counted on the corpus without ``d`` (0 where ``a`` has no other
    document; 0 for a document given no label). The candidates are the labels of
    ``topk`` (whatever their score: a label the kNN scored 0 stays a candidate) and the
    others scored > 0; ties smaller label id first. ``weight`` 0 returns ``topk`` itself.
    ``cooccurrence_counts``: :func:`tagsmith.audit.evidence.label_cooccurrence` of
    ``Y != 0``, when the caller has built it already (the audit shares it with
    :class:`tagsmith.audit.evidence.PairEvidence`); ``None`` builds it.

    Labels a kNN vote misses but the document's other labels imply enter the top-k
    (yso-finna-en: the top 50 hold 52.5% of the given labels instead of 44.5% at
    weight 0.3).

    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> Y = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 0]], bool))
    >>> knn = TopK(np.array([[0, -1], [0, -1], [2, -1]]),
    ...            np.array([[0.5, -np.inf], [0.5, -np.inf], [0.1, -np.inf]]), 3)
    >>> blended = blend_cooccurrence(knn, Y, 1.0)  # document 2's label 0 implies label 1
    >>> blended.indices.tolist(), blended.scores.astype(float).round(2).tolist()
    ([[0, 1], [0, 1], [1, 2]], [[1.5, 0.5], [1.5, 0.5], [1.0, 0.1]])
    """
    weight = check_number("weight", weight, numpy=True, finite=True)
    if weight == 0:
        return topk
    cooccurrence_counts = _blend_inputs(topk, Y, cooccurrence_counts)
    return _blend_rows(topk, _kernel_counts(cooccurrence_counts), weight, n_threads, 0,
                       len(topk))


def _blend_inputs(topk: TopK, Y: sp.spmatrix | sp.sparray,
                  cooccurrence_counts: tuple | None) -> tuple:
    """``cooccurrence_counts`` (built when ``None``), checked against ``topk`` and ``Y``."""
    from tagsmith.audit.evidence import label_cooccurrence

    if Y.shape[0] != len(topk) or Y.shape[1] != topk.n_labels:
        raise InvalidParameterError("Y", f"shape ({len(topk)}, {topk.n_labels}), as the "
                                    "top-k's", Y.shape)
    if cooccurrence_counts is None:
        cooccurrence_counts = label_cooccurrence(Y != 0)
    if cooccurrence_counts[0].shape != Y.shape:
        raise InvalidParameterError("cooccurrence_counts", f"the counts of labels of shape "
                                    f"{Y.shape} (label_cooccurrence(Y != 0))",
                                    cooccurrence_counts[0].shape)
    return cooccurrence_counts


def _kernel_counts(cooccurrence_counts: tuple) -> tuple:
    """The counts as the blend kernel reads them (row pointers of the labels as int64, and
    ``inv[a] = 1 / (count(a) - 1)``, 0 for a label given fewer than twice), made once
    for every block and weight."""
    import numpy as np

    Yf, counts, cooc = cooccurrence_counts
    inv = np.where(counts >= 2, 1.0 / np.maximum(counts - 1.0, 1.0), 0.0)
    return Yf.indptr.astype(np.int64), Yf.indices, *cooc, inv


def _blend_rows(topk: TopK, kernel_counts: tuple, weight: float, n_threads: int | None,
                start: int, end: int) -> TopK:
    """The blend of documents ``start:end`` (checked arguments, ``weight`` > 0;
    ``kernel_counts`` from :func:`_kernel_counts`)."""
    import os

    import numpy as np

    from tagsmith.audit._kernels import cooccurrence_blend_kernel, run_in_threads

    k = topk.k
    indices = np.empty((end - start, k), np.int32)
    scores = np.empty((end - start, k), np.float32)
    run_in_threads(cooccurrence_blend_kernel,
                   (*kernel_counts, float(weight), int(topk.n_labels)),
                   (np.arange(start, end, dtype=np.int64), topk.indices[start:end],
                    topk.scores[start:end], indices, scores), n_threads or os.cpu_count() or 1)
    return TopK._trusted(indices, scores, topk.n_labels)


def knn_scores(X: FeatureMatrix, Y: LabelMatrix, *, k: int, params: dict | None = None,
               cooccurrence: float | str = 0.0, cooccurrence_counts: tuple | None = None,
               groups: npt.ArrayLike | None = None,
               show_progress: bool = False) -> AuditScores:
    """Leave-one-out kNN scores of the rows of ``X`` (docs x features) with labels ``Y``.

    ``groups`` (one id per document, e.g. the audit's exact duplicates) leaves each
    document's whole group out of its neighbours
    (:meth:`~tagsmith.models.knn.KNNModel.leave_one_out_topk`): an exact copy would
    vote for the labels both carry at similarity 1, a wrong one looking right.

    ``cooccurrence`` > 0 blends in the documents' leave-one-out label co-occurrence
    with that weight (:func:`blend_cooccurrence`) before the top-k is taken; 0: the
    kNN scores alone; ``"auto"``: the weight of
    :data:`tagsmith.audit.COOCCURRENCE_GRID` whose blend agrees best with the given
    labels (:func:`choose_cooccurrence`; the details record every weight's P@1 under
    ``cooccurrence_auto`` and the choice under ``cooccurrence``).
    ``cooccurrence_counts``: :func:`tagsmith.audit.evidence.label_cooccurrence` of
    ``Y != 0`` when the caller has it (else built when needed).

    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]))
    >>> Y = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]]))
    >>> knn_scores(X, Y, k=1, params={"n_neighbors": 1}).topk.indices.ravel().tolist()
    [0, 0, 1, 1]
    """
    from tagsmith.models import make_model

    weight = check_cooccurrence(cooccurrence)
    started = time.perf_counter()
    params = {**KNN_DEFAULTS, **(params or {})}
    model = cast("KNNModel", make_model("knn", **params))
    if "show_progress" not in params:
        model.set_params(show_progress=show_progress)
    model.fit(X, Y)
    # the neighbours themselves are not kept: near duplicates are found exactly from
    # the features (tagsmith.audit.duplicates.near_pairs), which they fed before
    topk = model.leave_one_out_topk(X, k, groups=groups)
    auto: dict = {}
    if isinstance(weight, str):  # "auto"
        weight, topk, auto = choose_cooccurrence(topk, Y,
                                                 cooccurrence_counts=cooccurrence_counts)
    elif weight:
        topk = blend_cooccurrence(topk, Y, weight, cooccurrence_counts=cooccurrence_counts)
    seconds = time.perf_counter() - started
    logger.info("leave-one-out kNN scores of %s document%s in %.1f s", f"{X.shape[0]:,}",
                plural_s(X.shape[0]), seconds)
    shown = {k: v for k, v in model.get_params().items() if k != "show_progress"}
    details = {"model": "knn", "params": shown, "cooccurrence": float(weight)}
    if auto:
        details["cooccurrence_auto"] = auto
    # leave_one_out_topk refused X unless it is the training matrix: capped_labels
    # need not read all of it again for that (~1 s at yso-finna-en's scale)
    return AuditScores(topk, "knn", details, seconds=seconds,
                       capped=capped_labels(model, X, Y, checked=True))


class CappedLabel(NamedTuple):
    """A label whose documents the kNN search's ``max_posting`` misses (see
    :func:`capped_labels`): its id, its documents, and the mean leave-one-out score
    of it on a sample of them, by the capped search and by one capped at ``n_docs``."""

    label: int
    n_docs: int
    capped: float
    exact: float


def capped_labels(model: KNNModel, X: FeatureMatrix, Y: LabelMatrix, *,
                  seed: int = 0, checked: bool = False) -> list[CappedLabel]:
    """The labels given to more documents than ``model.max_posting`` whose own
    documents score much lower by the capped search than by the exact one.

    Such a label's own words are held by more documents than the cap, so the search
    skips them once rarer words have found ``n_neighbors`` candidates, and its
    documents get neighbours of other labels: the audit flags them ``wrong`` at a
    high probability. A sample of each such label's documents (:data:`CAP_CHECK_DOCS`)
    is searched both ways; those whose mean score falls by :data:`CAP_CHECK_DROP` or
    more are returned, largest first. ``X`` must be the matrix ``model`` was fitted on
    (another one is refused, as by ``leave_one_out_topk``; checked once, not per label).
    ``checked``: the caller had ``model`` check this very ``X`` already (its
    ``leave_one_out_topk``, as :func:`knn_scores` does), which is then not read again
    for it (the check fingerprints all of ``X``). Its time is logged at debug level.
    """
    import numpy as np
    import scipy.sparse as sp

    cap = model.max_posting
    if cap is None:
        return []
    started = time.perf_counter()
    columns = sp.csc_matrix(Y)
    counts = np.diff(columns.indptr)
    over = [int(label) for label in np.argsort(-counts, kind="stable") if counts[label] > cap]
    if not over:
        logger.debug("max_posting check: no label of more than %s documents (the largest has "
                     "%s), in %.2f s", f"{cap:,}", f"{int(counts.max(initial=0)):,}",
                     time.perf_counter() - started)
        return []
    n_over = len(over)
    budget, least = CAP_CHECK_DOCS
    per_label = max(least, min(200, budget // len(over)))
    over = over[:max(1, budget // per_label)]
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for label in over:
        docs = columns.indices[columns.indptr[label]:columns.indptr[label + 1]]
        rows.append(rng.choice(docs, min(per_label, len(docs)), replace=False))
        labels.append(np.full(len(rows[-1]), label))
    # the capped search, all the labels' samples at once (the cap is the same for all);
    # it checks that X is the training matrix, once (unless the caller did): the searches
    # below skip that
    capped = np.split(model.own_label_scores(X, np.concatenate(rows), np.concatenate(labels),
                                             check_matrix=not checked),
                      np.cumsum([len(r) for r in rows])[:-1])
    found = []
    for label, row_ids, label_ids, scores in zip(over, rows, labels, capped, strict=True):
        # the search the warning advises: a cap of the label's size (cheaper than exact
        # search, which read every posting list: 40 s for GoEmotions' 23 labels)
        low = float(scores.mean())
        high = float(model.own_label_scores(X, row_ids, label_ids, max_posting=int(counts[label]),
                                            check_matrix=False).mean())
        if high - low >= CAP_CHECK_DROP:
            found.append(CappedLabel(label, int(counts[label]), round(low, 3), round(high, 3)))
    n_searched = sum(len(r) for r in rows)
    logger.debug("max_posting check: %s label%s of more than %s documents, %s checked on %s "
                 "of their documents, %s named, in %.2f s", f"{n_over:,}", plural_s(n_over),
                 f"{cap:,}", f"{len(over):,}", f"{n_searched:,}", f"{len(found):,}",
                 time.perf_counter() - started)
    return found


def crossfit_scores(X: FeatureMatrix | Views, Y: LabelMatrix, *, model: str,
                    params: dict | None = None, n_folds: int = 5,
                    k: int | None = None, seed: int = 0,
                    label_features: FeatureMatrix | Views | None = None,
                    groups: npt.ArrayLike | None = None,
                    fold: npt.ArrayLike | None = None,
                    show_progress: bool = False) -> AuditScores:
    """K-fold cross-fitted scores (see :func:`tagsmith.pipeline.crossfit.cross_fit_topk`);
    ``groups`` (one id per document, e.g. :func:`tagsmith.pipeline.train.duplicate_groups`
    of the texts) keeps each group of equal texts in one fold; ``fold``: those folds,
    drawn already (not drawn again)."""
    from tagsmith.models import get_model_class
    from tagsmith.pipeline.crossfit import cross_fit_topk

    params = dict(params or {})
    if "show_progress" in get_model_class(model)._param_names():
        params.setdefault("show_progress", show_progress)
    result = cross_fit_topk(X, Y, model, params, n_folds=n_folds, k=k, seed=seed,
                            label_features=label_features, groups=groups, fold=fold,
                            show_progress=show_progress)
    return from_crossfit(result, "crossfit")


def from_crossfit(crossfit: CrossFitScores, source: str) -> AuditScores:
    """Wrap :class:`~tagsmith.pipeline.crossfit.CrossFitScores` (computed or stored).
    ``n_folds`` is the number of folds that held documents (repeated texts kept whole can
    leave some empty: 10 asked of 5 distinct texts used 5), with ``n_folds_requested``
    beside it when that differs."""
    import numpy as np

    params = {k: v for k, v in crossfit.params.items() if k != "show_progress"}
    used = int(np.unique(crossfit.fold).size)
    folds: dict = {"n_folds": used}
    if used != crossfit.n_folds:
        folds["n_folds_requested"] = int(crossfit.n_folds)
    return AuditScores(crossfit.topk, source,
                       {"model": crossfit.model, "params": params,
                        **folds, "seed": crossfit.seed},
                       crossfit.seconds)


def check_source(source: str) -> str:
    return check_choice("scores", source, SOURCES)
