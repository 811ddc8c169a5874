"""Evaluation of a trained classifier on labelled documents."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tagsmith._params import check_language
from tagsmith._plural import plural, plural_s
from tagsmith._typing import LabelMatrix
from tagsmith.data.labelspace import check_label_table
from tagsmith.topk import TopK

if TYPE_CHECKING:
    import scipy.sparse as sp

    from tagsmith.calibration.thresholds import Thresholds
    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.classifier import TextClassifier

logger = logging.getLogger("tagsmith")

#: label spaces up to this size are scored in full (exact set metrics and LRAP)
FULL_RANKING_LIMIT = 1000
DEFAULT_KS = (1, 3, 5)


def check_label_shape(Y: object, texts: object, n_labels: int, name: str = "Y") -> None:
    """Refuse a label matrix ``Y`` (anything with a 2-D ``shape``) of other than one row
    per text of ``texts`` (where they have a length) and ``n_labels`` columns, naming
    ``name``, before any text is scored: the metrics refused it after scoring every
    text, naming their own ``y_true``. A ``Y`` without a shape is left to them.

    >>> import scipy.sparse as sp
    >>> try:
    ...     check_label_shape(sp.csr_matrix((2, 3)), ["a", "b", "c"], 3)
    ... except ValueError as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    parameter 'Y' must be a label matrix of 3 rows (one per text) and 3 columns (one
    per label of the classifier), got 'shape (2, 3)'
    """
    from collections.abc import Sized

    from tagsmith.exceptions import InvalidParameterError

    shape = getattr(Y, "shape", None)
    if not isinstance(shape, tuple) or len(shape) != 2:
        return
    n_docs = len(texts) if isinstance(texts, Sized) and not isinstance(texts, str) else None
    if shape[1] != n_labels or (n_docs is not None and shape[0] != n_docs):
        rows = "" if n_docs is None else f"{n_docs:,} row{plural_s(n_docs)} (one per text) and "
        raise InvalidParameterError(
            name, f"a label matrix of {rows}{n_labels:,} column{plural_s(n_labels)} (one per "
            "label of the classifier)", f"shape {shape}")


def held_texts(texts: Iterable[str] | StreamedTexts) -> Sequence[str] | StreamedTexts:
    """``texts`` as a list (an iterator's read once, as scoring reads them anyway), or as
    they are where read again from their corpus (``StreamedTexts``, which have a
    length): a ``Y`` of other rows than an iterator's texts was refused only after every
    text had been scored, as ``y_true``, where :func:`check_label_shape` can count them."""
    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.features.tfidf import _as_list

    return texts if isinstance(texts, StreamedTexts) else _as_list(texts)


def tuning_k(n_labels: int) -> int:
    """How many candidates per document to score when tuning or evaluating."""
    return n_labels if n_labels <= FULL_RANKING_LIMIT else 100


def propensities_for(classifier: TextClassifier) -> np.ndarray | None:
    """Jain et al. propensities from the training label counts, if recorded."""
    if not classifier.n_train_docs:
        return None
    import scipy.sparse as sp

    from tagsmith.metrics import propensities

    # one row holding the label counts: propensities() sums columns
    counts = sp.csr_matrix(classifier.label_counts[None, :].astype(np.float64))
    return propensities(counts, n_docs=classifier.n_train_docs)


def evaluate_topk(classifier: TextClassifier, Y: LabelMatrix, topk: TopK, *,
                  ks: Sequence[int] = DEFAULT_KS,
                  threshold: float | None = None, per_label: bool = False,
                  y_pred: LabelMatrix | None = None, lang: str = "en") -> dict:
    """Ranking metrics from ``topk`` and set metrics from the classifier's thresholds;
    with ``per_label``, also ``per_label`` (:func:`per_label_report`; labels named in
    ``lang``). ``y_pred``: the
    label sets of ``topk`` (``classifier.label_sets(topk, threshold)``) where the caller
    has them already (``eval --baseline`` compares them too)."""
    lang = check_language("lang", lang)
    check_label_table(Y, classifier.label_space, "Y")
    if y_pred is None:
        y_pred = classifier.label_sets(topk, threshold)
    forced = None
    if per_label and threshold is None:
        forced = forced_below(classifier.thresholds, topk, y_pred)
    thresholds = (classifier.thresholds.per_label if threshold is None
                  else np.full(classifier.n_labels, threshold))
    return evaluate_label_sets(Y, topk, y_pred, classifier.label_space, thresholds, ks=ks,
                               propensity=propensities_for(classifier),
                               per_label=per_label, forced=forced, lang=lang)


def forced_below(thresholds: Thresholds, topk: TopK, y_pred: LabelMatrix
                 ) -> np.ndarray | None:
    """Each label's predictions in ``y_pred`` (``thresholds``' sets of ``topk``) that
    ``thresholds.min_labels`` forced in below the label's threshold (a document's best
    labels), as :func:`label_rows`' ``forced`` counts them; None where it forces none."""
    if not thresholds.min_labels:
        return None
    import scipy.sparse as sp

    # each document's best labels, predicted below their thresholds
    passed = topk.label_sets(thresholds.per_label, max_labels=thresholds.max_labels)
    extra = sp.csr_matrix(y_pred, dtype=np.int8) - passed.astype(np.int8)
    return np.bincount(extra.indices[extra.data > 0], minlength=topk.n_labels)


def evaluate_label_sets(Y: LabelMatrix, topk: TopK, y_pred: LabelMatrix, space: LabelSpace,
                        thresholds: np.ndarray | None, *, ks: Sequence[int] = DEFAULT_KS,
                        propensity: np.ndarray | None = None, per_label: bool = False,
                        forced: np.ndarray | None = None, lang: str = "en") -> dict:
    """``eval``'s report of any scorer (a bundle, zero-shot, a blend of both): ranking
    metrics from ``topk``, set metrics from ``y_pred`` (its label sets), hierarchical
    precision, recall and F1 where ``space`` has a hierarchy, and with
    ``per_label`` each label's figures (:func:`label_rows`; ``thresholds``, one per
    label, are what they report as the labels' thresholds: None where the sets are no
    threshold's, ``zeroshot --eval``'s best label of each document; labels named in
    ``lang``, a language tag: another value is refused, naming it)."""
    from tagsmith.metrics import evaluate

    # "" or "en us" named every label as no --lang can (the fallback's first name)
    lang = check_language("lang", lang)
    report: dict = evaluate(Y, topk, y_pred, ks=tuple(ks), propensity=propensity,
                            hierarchy=space)
    if per_label:
        # evaluate() checked Y's and y_pred's values: counted here without a second check
        report["per_label"] = label_rows(space, Y, y_pred, thresholds, forced, lang,
                                         checked=True)
    return report


def per_label_report(classifier: TextClassifier, Y: LabelMatrix, y_pred: LabelMatrix,
                     threshold: float | None = None,
                     forced: np.ndarray | None = None, lang: str = "en") -> list[dict]:
    """Each label's figures at the classifier's operating point (its tuned thresholds,
    or ``threshold`` when given): :func:`label_rows`, labels named in ``lang``."""
    lang = check_language("lang", lang)
    thresholds = (classifier.thresholds.per_label if threshold is None
                  else np.full(classifier.n_labels, threshold))
    return label_rows(classifier.label_space, Y, y_pred, thresholds, forced, lang)


def label_rows(space: LabelSpace, Y: LabelMatrix, y_pred: LabelMatrix,
               thresholds: np.ndarray | None, forced: np.ndarray | None = None,
               lang: str = "en", *, checked: bool = False) -> list[dict]:
    """Each label's figures at the operating point, for the labels true or predicted in
    ``Y`` or ``y_pred`` (those macro-F1 averages over), in label-id order: ``uri``,
    ``label`` (its name in ``lang``, else as
    :meth:`~tagsmith.data.labelspace.LabelSpace.name_of` falls back), ``threshold``
    (``thresholds``' entry, one per label of ``space``; None
    where it is infinite: no score reaches it, the label is never predicted; None too,
    with ``reachable`` true, where ``thresholds`` is None: sets no threshold made),
    ``reachable`` (False for such a threshold),
    ``support`` (documents carrying it), ``predicted``, ``true_positives``,
    ``precision`` and ``recall`` (``None`` where nothing was predicted, or no document
    carries it: no ratio, not a measured 0), each with its 95% Wilson interval
    (``precision_interval``, ``recall_interval``: ``[low, high]``, or ``None``), and
    ``f1``, and ``forced``: of ``predicted``, those below the label's threshold, each
    document's best labels that ``min_labels`` forces in (``forced``, per label; None:
    0). A rare label's figures rest on a handful of documents: the interval says
    how little they pin down (3 of 3 found is a recall of 0.44 to 1). ``Y`` and
    ``y_pred`` hold labels 0 or 1 (an error naming ``y_true`` or ``y_pred`` otherwise);
    ``checked``: the caller checked that already (:func:`tagsmith.metrics.evaluate`
    did), they are counted as they are.
    """
    from tagsmith.metrics import per_label_counts, wilson_interval
    from tagsmith.metrics.sets import _counts

    if checked:
        counts = _counts(Y, y_pred)
        tp, predicted, support = counts.tp_label, counts.pred_label, counts.true_label
    else:
        tp, predicted, support = per_label_counts(Y, y_pred)
    p_low, p_high = wilson_interval(tp, predicted)
    r_low, r_high = wilson_interval(tp, support)
    rows = []
    for i in np.flatnonzero((predicted + support) > 0).tolist():
        finite = thresholds is None or bool(np.isfinite(thresholds[i]))
        rows.append({
            "uri": space.uri_of(i), "label": space.name_of(i, lang),
            # an infinite threshold (never predicted) is no number JSON holds: null,
            # with "reachable" saying why (it was the string "Infinity" in a column of
            # numbers)
            "threshold": (float(thresholds[i]) if thresholds is not None and finite
                          else None),
            "reachable": finite, "support": int(support[i]),
            "predicted": int(predicted[i]), "true_positives": int(tp[i]),
            "precision": float(tp[i] / predicted[i]) if predicted[i] else None,
            "precision_interval": ([float(p_low[i]), float(p_high[i])] if predicted[i]
                                   else None),
            "recall": float(tp[i] / support[i]) if support[i] else None,
            "recall_interval": [float(r_low[i]), float(r_high[i])] if support[i] else None,
            "f1": float(2 * tp[i] / (predicted[i] + support[i])),
            "forced": 0 if forced is None else int(forced[i])})
    return rows


def evaluate_classifier(classifier: TextClassifier, texts: Iterable[str] | StreamedTexts,
                        Y: LabelMatrix, *,
                        ks: Sequence[int] = DEFAULT_KS,
                        threshold: float | None = None,
                        source: str | None = "texts", per_label: bool = False,
                        most_specific: bool = False,
                        closure: sp.csr_matrix | None = None, lang: str = "en") -> dict:
    """Predict ``texts`` and score against ``Y`` (n_docs x n_labels sparse).

    ``ks`` and ``threshold`` are checked before any text is scored; ``per_label``
    adds each label's figures (:func:`per_label_report`). Texts the bundle
    records it was trained on draw a warning naming ``source`` (the figures are
    optimistic for them; see :func:`warn_training_overlap`); ``source=None`` checks
    nothing, for a caller that checked already. ``texts`` may be
    :class:`~tagsmith.data.corpus.StreamedTexts` (their hashes checked, the texts read
    again a chunk at a time to be scored).

    ``classifier``: a trained or loaded :class:`TextClassifier`; ``Y``: the gold
    labels, documents x labels (column ``j`` the label
    ``classifier.label_space.uri_of(j)``); ``ks``: the k of the ranking metrics;
    ``threshold``: one threshold for every label's set metrics (None: the tuned ones).
    Returns a dict of plain Python numbers (``json.dumps`` takes it): ``p@k``,
    ``r@k``, ``ndcg@k``, ``f1@k`` and ``psp@k`` for each k of ``ks`` (``psp@k``
    propensity-scored from the training label counts, left out for a bundle that
    records none), then ``lrap``, ``micro_f1``, ``macro_f1``, ``samples_f1``,
    ``micro_precision``, ``micro_recall``, where the label space has a hierarchy (some
    label a broader one) ``hierarchical_precision``, ``hierarchical_recall`` and
    ``hierarchical_f1`` (each set augmented with its labels' ancestors), then
    ``n_docs``, ``n_docs_without_labels`` and ``n_labels_evaluated`` (README "Metrics"
    gives their conventions); with ``per_label``, ``per_label``: a list of one dict per
    label, named in ``lang`` (a language tag; a label without a name in it falls back
    as :meth:`~tagsmith.data.labelspace.LabelSpace.name_of` picks one). A bad ``ks``,
    ``threshold`` or ``Y`` (of another shape, or holding a value other than 0 or 1:
    NaN, 2) is an :class:`~tagsmith.exceptions.InvalidParameterError` naming it.
    ``most_specific`` drops from each predicted label set every label one of whose
    descendants is predicted too (:func:`tagsmith.metrics.most_specific`) before the set
    metrics are measured (the ranking metrics, and the hierarchical ones, whose augmented
    sets it leaves as they were, are unchanged); a label space without
    hierarchy is refused, naming ``hierarchy``, before any text is scored. ``closure``
    (with ``most_specific`` alone): the label space's ancestor closure, made by the
    caller already (:func:`tagsmith.metrics.hierarchy.most_specific_closure`, as ``eval
    --most-specific`` makes it to refuse a flat space before the corpus is read),
    checked to be the closure of the classifier's label space (a sparse matrix: a dense
    one is refused, as is one of another hierarchy;
    :func:`tagsmith.metrics.hierarchy.check_closure`) and used; None: made here.
    """
    ks, k = evaluation_k(classifier, ks, threshold)
    lang = check_language("lang", lang)  # as --lang is: "" fell back without a word
    check_label_table(Y, classifier.label_space, "Y", texts=texts)  # before any scoring
    from tagsmith.metrics.sets import check_label_values

    # the metrics count any nonzero as a true label: a NaN or a 2 measured a label
    # nobody gave (a table with missing values read every gap as a hit to find)
    Y = check_label_values(Y, "Y")
    texts = held_texts(texts)  # an iterator's counted
    # on the CSR made of it: a list of lists, which has no shape, was refused after
    # every text had been scored, as 'y_true'
    check_label_shape(Y, texts, classifier.n_labels)
    if closure is not None:
        from tagsmith.exceptions import InvalidParameterError

        if not most_specific:
            raise InvalidParameterError("closure", "None unless most_specific=True (the "
                                        "closure is most_specific's)", "a closure")
        from tagsmith.metrics.hierarchy import check_closure

        # the classifier's hierarchy's, checked with one product (a dense one, or one
        # of another hierarchy of the same width, was used as given)
        closure = check_closure(closure, classifier.label_space, classifier.n_labels)
    elif most_specific:  # a flat label space refused before any text is scored
        from tagsmith.metrics.hierarchy import most_specific_closure

        closure = most_specific_closure(classifier.label_space, classifier.n_labels)
    if source is not None:
        texts = overlap_checked(classifier, texts, source)
    topk = classifier.predict_topk(texts, k)
    y_pred = None
    if closure is not None:
        from tagsmith.metrics.hierarchy import most_specific_with_closure

        y_pred = most_specific_with_closure(classifier.label_sets(topk, threshold), closure)
    return evaluate_topk(classifier, Y, topk, ks=ks, threshold=threshold,
                         per_label=per_label, y_pred=y_pred, lang=lang)


def overlap_checked(classifier: TextClassifier, texts: Iterable[str] | StreamedTexts,
                    source: str) -> Sequence[str] | StreamedTexts:
    """``texts`` (a list of them if an iterator, as they are read twice: by the check,
    then by the model) once :func:`warn_training_overlap` has checked them."""
    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.features.tfidf import _as_list

    if not isinstance(texts, StreamedTexts):
        texts = _as_list(texts)
    warn_training_overlap(classifier, texts, source)
    return texts


def warn_training_overlap(classifier: TextClassifier, texts: Sequence[str] | StreamedTexts,
                          source: str) -> int:
    """How many of ``texts`` the classifier was trained on (as its bundle records them,
    :func:`~tagsmith.data.texthash.in_training`'s rule), with a warning naming
    ``source`` when any are. Evaluating on training documents may be intended, so it
    is not refused (as calibrating on them is): the figures are optimistic for them.
    Blank texts are not counted (an empty text holds nothing the bundle learnt).
    A bundle that records no training texts (saved before they were kept) cannot be
    checked: an info line says so. ``texts`` may be
    :class:`~tagsmith.data.corpus.StreamedTexts`, whose hashes are checked."""
    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.data.texthash import hash_texts, training_documents

    if not len(texts):
        return 0
    if classifier.train_hashes is None:
        # the overlap check said nothing: a corpus of training documents read as checked
        logger.info("%s: not checked for documents the bundle was trained on: the bundle "
                    "records no training texts (it was saved by an older tagsmith); train "
                    "it again with this version to have them checked", source)
        return 0
    # hashed as they were read where streamed (in_training's rule); a blank text is no
    # training document however many the training corpus held: Reuters-21578's test
    # split read 20 where 6 are copies, 14 empty stories
    hashes = texts.hashes if isinstance(texts, StreamedTexts) else hash_texts(texts)
    n_seen = int(training_documents(classifier.train_hashes, hashes=hashes).sum())
    if n_seen:
        logger.warning("%s: %s of its %s document%s %s the bundle was trained on: the "
                       "figures are optimistic for %s (evaluate on documents it never "
                       "saw for a fair estimate)", source, f"{n_seen:,}", f"{len(texts):,}",
                       plural_s(len(texts)),
                       plural(n_seen, "is a document", "are documents"),
                       plural(n_seen, "it", "them"))
    return n_seen


def evaluation_k(classifier: TextClassifier, ks: Sequence[int],
                 threshold: float | None) -> tuple[tuple, int]:
    """``ks`` checked, and the candidates to predict per document for
    :func:`evaluate_topk`; ``threshold`` is checked too (all before any text is scored)."""
    from tagsmith.metrics import _check_ks
    from tagsmith.pipeline.classifier import _check_threshold

    ks = _check_ks(ks)  # () is no ranking metric at all, as evaluate() has it
    _check_threshold(threshold)
    return ks, max((tuning_k(classifier.n_labels), *ks))
