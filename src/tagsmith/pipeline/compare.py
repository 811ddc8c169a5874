"""What an evaluation measured (which bundle, which documents), so that two saved
``eval --json`` reports can be told apart or matched later."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from tagsmith._params import check_int, check_language
from tagsmith.conformal.risk import check_alpha
from tagsmith.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.classifier import TextClassifier


def corpus_fingerprint(hashes: np.ndarray, Y: sp.spmatrix, space: LabelSpace) -> str:
    """SHA-256 over the documents in order: each text's hash (``hashes``, as
    :func:`~tagsmith.data.texthash.hash_texts` gives them: whitespace collapsed, case
    folded) and the URIs of its gold labels (``Y``'s columns in ``space``), sorted.

    The labels are hashed by URI, not by id, so one corpus read against two label
    spaces (a bundle trained before a label was added, and one after) has one
    fingerprint.

    >>> from tagsmith.data.labelspace import LabelSpace
    >>> from tagsmith.data.texthash import hash_texts
    >>> a = LabelSpace.from_uris(["x:a", "x:b"])
    >>> b = LabelSpace.from_uris(["x:b", "x:new", "x:a"])
    >>> h = hash_texts(["one", "two"])
    >>> corpus_fingerprint(h, sp.csr_matrix([[1, 1], [0, 1]]), a) == corpus_fingerprint(
    ...     h, sp.csr_matrix([[1, 0, 1], [1, 0, 0]]), b)
    True
    """
    labels = sp.csr_matrix(Y, copy=True)
    labels.eliminate_zeros()
    labels.sum_duplicates()
    uris = [space.uri_of(i) for i in range(labels.shape[1])]
    digest = hashlib.sha256(np.asarray(hashes, dtype="<u8").tobytes())
    indptr, indices = labels.indptr, labels.indices
    for row in range(labels.shape[0]):
        names = sorted(uris[j] for j in indices[indptr[row]:indptr[row + 1]])
        # a URI holds no control character (refused when read): TAB and LF separate
        digest.update(("\t".join(names) + "\n").encode("utf-8"))
    return digest.hexdigest()


def bundle_fingerprint(manifest: dict) -> str | None:
    """SHA-256 over the bundle's files as its manifest lists their checksums: any
    change to the model, thresholds or calibration changes it (a later ``calibrate``
    too); None for a manifest without them."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return None
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode("utf-8")).hexdigest()


def provenance(classifier: TextClassifier, bundle: str, corpus: str, corpus_print: str,
               *, vocab: str | None = None, threshold: float | None = None,
               n_unknown_labels: int = 0, n_skipped_lines: int = 0) -> dict:
    """``eval --json``'s ``provenance``: the bundle (path, creation time, fingerprint of
    its files, of its training data and of its label space), the corpus (path and
    :func:`corpus_fingerprint`), what was left out of it as it was read (unknown label
    occurrences and lines skipped by ``--unknown-labels skip`` and ``--on-error skip``:
    the fingerprint is of what was kept), the options that change the figures, the time
    of the evaluation and the tagsmith that made it."""
    from tagsmith import __version__

    manifest = classifier._loaded_manifest or classifier.manifest
    training = manifest.get("training") or {}
    labels = manifest.get("label_space") or {}
    return {
        "bundle": bundle,
        "bundle_created": manifest.get("created"),
        "bundle_fingerprint": bundle_fingerprint(manifest),
        "training_data_fingerprint": training.get("data_fingerprint"),
        "label_space_fingerprint": labels.get("fingerprint"),
        "corpus": corpus,
        "corpus_fingerprint": corpus_print,
        "n_unknown_labels_skipped": n_unknown_labels,
        "n_lines_skipped": n_skipped_lines,
        "vocab": vocab,
        "threshold": threshold,
        "evaluated": datetime.now(UTC).isoformat(timespec="seconds"),
        "tagsmith_version": __version__,
    }


#: resamples of the paired bootstrap of ``eval --baseline``
BOOTSTRAP_RESAMPLES = 1000
#: resamples drawn at a time (a dense resamples x documents weight matrix each)
BOOTSTRAP_BATCH = 50
#: the metrics ``eval --baseline`` compares document by document
COMPARED_METRICS = ("p@1", "micro_f1")
#: documents on which the two bundles' label sets must differ (in what micro-F1 counts
#: of them: labels right, labels predicted) for a micro-F1 verdict: on fewer, even all
#: one way, no two-sided paired test at 5% tells them apart (the sign test's least
#: p-value on 5 is 2/32 = 0.0625, on 6 it is 0.031), where the percentile bootstrap
#: leaves 0 out from 4 (a draw holds none of 4 of n documents with odds near e^-4)
MIN_DOCS_DIFFERING = 6
#: the verdict of micro-F1, and of a label's F1, on fewer than MIN_DOCS_DIFFERING
#: differing documents
TOO_FEW = "too few documents"
#: a label's verdict where the baseline lacks it (new to the vocabulary since), and where
#: the bundle does: no comparison, as eval --baseline's text lists them apart. A new
#: label the bundle had no training document for read "within noise", difference 0.0
NOT_IN_BASELINE = "new, not in the baseline"
NOT_IN_BUNDLE = "only in the baseline"
#: a label's verdict where neither has it (a --vocab label of the corpus both lack): it
#: read NOT_IN_BASELINE, new in a bundle that does not hold it either
IN_NEITHER = "in neither bundle"


def _columns(space: LabelSpace, shared: dict[str, int], extra: list[str]) -> np.ndarray:
    """Each of ``space``'s label ids as a column of the shared table: the gold labels'
    own, else a column of its own past them (``extra``, grown as needed)."""
    out = np.empty(len(space), dtype=np.int64)
    for i in range(len(space)):
        uri = space.uri_of(i)
        if uri not in shared:
            shared[uri] = len(shared)
            extra.append(uri)
        out[i] = shared[uri]
    return out


def _remap(matrix: sp.spmatrix, columns: np.ndarray, width: int) -> sp.csr_matrix:
    m = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    m.data[:] = 1.0
    m.eliminate_zeros()
    return sp.csr_matrix((m.data, columns[m.indices], m.indptr), shape=(m.shape[0], width))


def _check_compared(name: str, matrix: object, n_docs: int | None, space: LabelSpace) -> int:
    """``matrix``'s documents, where it is a matrix of ``n_docs`` rows (any, for None)
    and a column per label of ``space``; else an InvalidParameterError naming it."""
    shape = getattr(matrix, "shape", None)
    rows = "" if n_docs is None else f"{n_docs:,} rows (one per document of Y) and "
    expected = f"a matrix of {rows}{len(space):,} columns (one per label)"
    if shape is None or len(shape) != 2 or (n_docs is not None and shape[0] != n_docs) \
            or shape[1] != len(space):
        raise InvalidParameterError(name, expected, f"shape {shape}" if shape is not None
                                    else type(matrix).__name__)
    return int(shape[0])


def _check_top1(name: str, top1: object, n_docs: int, n_labels: int) -> None:
    """Refuse ``top1`` unless it is one label id (-1: none) per document."""
    values = np.asarray(top1)
    expected = (f"{n_docs:,} integer label ids (one per document of Y, -1 for none) "
                f"in [-1, {n_labels})")
    if values.ndim != 1 or len(values) != n_docs:
        raise InvalidParameterError(name, expected, f"shape {values.shape}")
    # the dtype even of no documents: an empty float top1 failed inside numpy indexing
    if values.dtype.kind not in "iu" or (len(values) and (values.min() < -1
                                                         or values.max() >= n_labels)):
        got = (f"dtype {values.dtype}" if values.dtype.kind not in "iu"
               else f"values in [{values.min()}, {values.max()}]")
        raise InvalidParameterError(name, expected, got)


def compare_predictions(Y: sp.spmatrix, gold: LabelSpace, space: LabelSpace,
                        top1: np.ndarray,
                        sets: sp.spmatrix, base_space: LabelSpace, base_top1: np.ndarray,
                        base_sets: sp.spmatrix, *, resamples: int = BOOTSTRAP_RESAMPLES,
                        seed: int = 0, confidence: float = 0.95, lang: str = "en") -> dict:
    """A bundle's predictions against a baseline's on the same documents and gold labels.

    ``Y`` (documents x ``gold``'s labels) is the truth for both; ``top1`` and ``sets``
    are the bundle's best label per document (-1: none) and label sets in ``space``'s
    ids, ``base_top1`` and ``base_sets`` the baseline's in ``base_space``'s, each
    matched to the gold labels by URI: a gold label a model does not know is one it
    misses, a label of its own the gold labels lack one it predicts wrongly.

    P@1 and micro-F1 of each, their difference and its ``confidence`` interval by a
    paired bootstrap over documents (``resamples`` draws of the documents with
    replacement, ``seed``), and for P@1 the documents the bundle gets right and the
    baseline wrong, and the reverse (with the exact sign test's ``p_value`` on them).
    Each verdict is the interval's (``test``: ``bootstrap``) where the two differ on
    none or at least MIN_DOCS_DIFFERING documents (``n_docs_differing``: for P@1 those
    only one gets right, for micro-F1 those whose labels right or predicted differ),
    else TOO_FEW;
    then each label's F1 under both (``None`` for a
    model without the label) with the interval of its difference, for the labels
    true or predicted by either, and the documents where the two's predictions of it
    differ (``n_docs_differing``): the label's verdict is the interval's where they
    differ on none or at least MIN_DOCS_DIFFERING, else TOO_FEW, as micro-F1's; a label
    one of the two lacks is no comparison, its verdict NOT_IN_BASELINE,
    NOT_IN_BUNDLE or, both lacking it, IN_NEITHER (its ``difference``, the missing
    side's F1 counted 0, kept). Labels
    are named in ``lang`` (:meth:`~tagsmith.data.labelspace.LabelSpace.name_of`), a
    language tag: another value, "" or "pt_BR", is refused naming it, as ``--lang`` is.

    A predictions' length or width other than ``Y``'s documents and its space's labels,
    a ``Y``, ``sets`` or ``base_sets`` holding a value other than 0 or 1 (NaN, 2),
    ``resamples`` below 1, a negative ``seed`` or a ``confidence`` outside (0, 1) is an
    :class:`~tagsmith.exceptions.InvalidParameterError` naming the parameter: a
    ``top1`` of too few documents was read as wrong on the rest, and ``confidence=95``
    failed inside numpy. No documents at all are figures of 0.0 (as
    :func:`~tagsmith.pipeline.evaluate.evaluate_classifier` gives them), a difference of
    0.0 within noise and no label rows.
    """
    resamples = check_int("resamples", resamples, 1, numpy=True)
    seed = check_int("seed", seed, 0, numpy=True)
    # as every rate in (0, 1) is checked: a check_number to 1 refused 95 as "a number in
    # (0, 1]", and then 1 itself
    confidence = check_alpha(confidence, "confidence")
    # as the evaluate functions check it: "" or "pt_BR" named each label by the
    # fallback's name without a word, where --lang refuses them
    lang = check_language("lang", lang)
    n = _check_compared("Y", Y, None, gold)
    for best_name, best_value, sets_name, sets_value, named in (
            ("top1", top1, "sets", sets, space),
            ("base_top1", base_top1, "base_sets", base_sets, base_space)):
        _check_top1(best_name, best_value, n, len(named))
        _check_compared(sets_name, sets_value, n, named)
    from tagsmith.metrics.sets import check_label_values

    # each counted any nonzero entry as a label: a NaN of a gold table's gap was a true
    # label both models missed, a 2 in the sets one they predicted
    Y, sets, base_sets = (check_label_values(value, name) for name, value in
                          (("Y", Y), ("sets", sets), ("base_sets", base_sets)))
    shared = {gold.uri_of(i): i for i in range(len(gold))}
    extra: list[str] = []
    own = _columns(space, shared, extra)
    base = _columns(base_space, shared, extra)
    width = len(shared)
    truth = _remap(Y, np.arange(Y.shape[1]), width)
    both = {}
    for name, cols, best, chosen in (("bundle", own, top1, sets),
                                     ("baseline", base, base_top1, base_sets)):
        best = np.asarray(best)
        hit = np.zeros(n)
        ok = best >= 0
        rows = np.flatnonzero(ok)
        hit[rows] = np.asarray(truth[rows, cols[best[rows]]]).ravel()
        predicted = _remap(chosen, cols, width)
        found = predicted.multiply(truth).tocsr()
        both[name] = {"hit": hit, "predicted": predicted, "found": found}
    n_true = np.asarray(truth.sum(axis=1)).ravel()

    def label_f1(found, predicted, support):
        total = predicted + support
        return np.divide(2 * found, total, out=np.zeros_like(total, dtype=np.float64),
                         where=total > 0)

    per_doc = {name: (part["hit"], np.asarray(part["found"].sum(axis=1)).ravel(),
                      np.asarray(part["predicted"].sum(axis=1)).ravel())
               for name, part in both.items()}
    support = np.asarray(truth.sum(axis=0)).ravel()
    counts = {name: (np.asarray(part["found"].sum(axis=0)).ravel(),
                     np.asarray(part["predicted"].sum(axis=0)).ravel())
              for name, part in both.items()}
    labels = np.flatnonzero(support + counts["bundle"][1] + counts["baseline"][1] > 0)
    # per label, the documents where one bundle predicts it and the other does not
    label_differs = np.bincount(
        (both["bundle"]["predicted"] != both["baseline"]["predicted"]).tocsr().indices,
        minlength=width)
    # the paired bootstrap: one weight per document per draw, the same for both models
    drawn_metrics = np.empty((resamples, 2))
    drawn_labels = np.empty((resamples, len(labels)), dtype=np.float32)
    stack = sp.hstack([truth[:, labels]] + [both[name][part][:, labels]
                                            for name in ("bundle", "baseline")
                                            for part in ("found", "predicted")]).tocsc()
    docs = np.column_stack([n_true] + [values for name in ("bundle", "baseline")
                                       for values in per_doc[name]])
    n_labels = len(labels)
    for start, weights in bootstrap_weights(n, resamples, seed):
        size = len(weights)
        d = weights @ docs  # (size, 7): true, then hit/found/predicted of each
        p1 = (d[:, 1] - d[:, 4]) / max(n, 1)  # no documents: 0, as evaluate's figures
        f1 = (_micro_f1(d[:, 2], d[:, 3], d[:, 0]) - _micro_f1(d[:, 5], d[:, 6], d[:, 0]))
        drawn_metrics[start:start + size] = np.column_stack([p1, f1])
        if n_labels:
            s = np.asarray((sp.csr_matrix(weights) @ stack).todense())
            sup, parts = s[:, :n_labels], s[:, n_labels:]
            fb, pb, fa, pa = (parts[:, j * n_labels:(j + 1) * n_labels] for j in range(4))
            drawn_labels[start:start + size] = label_f1(fb, pb, sup) - label_f1(fa, pa, sup)
    tail = (1 - confidence) / 2 * 100
    bounds = np.percentile(drawn_metrics, [tail, 100 - tail], axis=0)
    label_bounds = (np.percentile(drawn_labels, [tail, 100 - tail], axis=0) if n_labels
                    else np.zeros((2, 0)))
    metrics = {}
    for j, key in enumerate(COMPARED_METRICS):
        if key == "p@1":
            values = {name: float(per_doc[name][0].sum() / max(n, 1)) for name in both}
        else:
            values = {name: float(_micro_f1(np.array(per_doc[name][1].sum()),
                                            np.array(per_doc[name][2].sum()),
                                            np.array(float(n_true.sum()))))
                      for name in both}
        low, high = float(bounds[0, j]), float(bounds[1, j])
        metrics[key] = {"baseline": values["baseline"], "bundle": values["bundle"],
                        "difference": values["bundle"] - values["baseline"],
                        "interval": [low, high], "verdict": _verdict(low, high)}
    gained = both["bundle"]["hit"] > both["baseline"]["hit"]
    lost = both["bundle"]["hit"] < both["baseline"]["hit"]
    n_better, n_worse = int(gained.sum()), int(lost.sum())
    # P@1's verdict is the interval's printed beside it, as compare_gold's (eval
    # --labels-before): it was the exact sign test's, and 9 documents right of 2 wrong
    # read "[+0.0033, +0.0467] within noise" (p = 0.065). On fewer than
    # MIN_DOCS_DIFFERING documents only one bundle gets right it is TOO_FEW, where the
    # percentile bootstrap called 1 of 1 'better' with [+1, +1], and 4 of 20 (p = 0.125).
    # The sign test's p is kept (p_value) for callers that read it.
    p_value = sign_test(n_better, n_worse)
    p1_metric = metrics["p@1"]
    p1_metric.update(n_docs_better=n_better, n_docs_worse=n_worse, test="bootstrap",
                     p_value=p_value, n_docs_differing=n_better + n_worse,
                     min_docs_differing=MIN_DOCS_DIFFERING)
    if 0 < n_better + n_worse < MIN_DOCS_DIFFERING:
        p1_metric["verdict"] = TOO_FEW
    # micro-F1's verdict is its interval's too (the bootstrap's), TOO_FEW below
    # MIN_DOCS_DIFFERING documents on which the two bundles' predictions differ
    differ = np.flatnonzero((per_doc["bundle"][1] != per_doc["baseline"][1])
                            | (per_doc["bundle"][2] != per_doc["baseline"][2]))
    f1_metric = metrics["micro_f1"]
    f1_metric.update(test="bootstrap", n_docs_differing=len(differ),
                     min_docs_differing=MIN_DOCS_DIFFERING)
    if 0 < len(differ) < MIN_DOCS_DIFFERING:  # none: the same on every document
        f1_metric["verdict"] = TOO_FEW
    in_bundle = np.zeros(width, dtype=bool)
    in_bundle[own] = True
    in_baseline = np.zeros(width, dtype=bool)
    in_baseline[base] = True
    names = {}
    for named in (base_space, gold, space):  # the bundle's names first, then the gold's
        names.update({named.uri_of(i): named.name_of(i, lang) for i in range(len(named))})
    uris = list(shared)
    label_rows = []
    for j, col in enumerate(labels.tolist()):
        f1 = {name: float(label_f1(counts[name][0][col], counts[name][1][col], support[col]))
              for name in both}
        f1_bundle = f1["bundle"] if in_bundle[col] else None
        f1_base = f1["baseline"] if in_baseline[col] else None
        low, high = float(label_bounds[0, j]), float(label_bounds[1, j])
        n_differing = int(label_differs[col])
        # as micro-F1's: 2 of 2 documents one way left 0 out of the bootstrap's interval
        verdict = (IN_NEITHER if not in_baseline[col] and not in_bundle[col]
                   else NOT_IN_BASELINE if not in_baseline[col]
                   else NOT_IN_BUNDLE if not in_bundle[col]
                   else TOO_FEW if 0 < n_differing < MIN_DOCS_DIFFERING
                   else _verdict(low, high))
        label_rows.append({
            "uri": uris[col], "label": names[uris[col]], "support": int(support[col]),
            "in_bundle": bool(in_bundle[col]), "in_baseline": bool(in_baseline[col]),
            "baseline_f1": f1_base, "f1": f1_bundle,
            "difference": f1["bundle"] - f1["baseline"],
            "interval": [low, high], "verdict": verdict,
            "n_docs_differing": n_differing})
    return {"n_docs": n, "resamples": resamples, "seed": seed, "confidence": confidence,
            "metrics": metrics, "per_label": label_rows}


def bootstrap_weights(n: int, resamples: int, seed: int
                      ) -> Iterator[tuple[int, np.ndarray]]:
    """The paired bootstrap's draws over ``n`` documents, BOOTSTRAP_BATCH at a time:
    ``(start, weights)`` pairs, ``weights`` a float (draws x ``n``) matrix of how often
    each document was drawn in each of the draws numbered from ``start``; the same for
    the same ``seed``. Both sides of a comparison are weighted by one draw (the pairing);
    ``compare_predictions`` and ``compare_gold`` each had a copy of this loop.

    >>> [(start, w.shape, w.sum(axis=1).tolist()) for start, w in bootstrap_weights(3, 2, 0)]
    [(0, (2, 3), [3.0, 3.0])]
    """
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, BOOTSTRAP_BATCH):
        size = min(BOOTSTRAP_BATCH, resamples - start)
        yield start, np.stack([np.bincount(rng.integers(0, n, n), minlength=n)
                               for _ in range(size)]).astype(np.float64)


def _micro_f1(found: np.ndarray, predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Micro-F1, ``2 found / (predicted + true)`` (0 where both are 0), of totals or of
    each bootstrap draw's: ``compare_predictions`` and ``compare_gold`` each had a local
    copy, their arguments in two orders."""
    total = predicted + true
    return np.divide(2 * found, total, out=np.zeros_like(total, dtype=np.float64),
                     where=total > 0)


def sign_test(n_better: int, n_worse: int) -> float:
    """The exact two-sided sign test's p-value (McNemar's exact test) of ``n_better``
    documents one way and ``n_worse`` the other: twice the binomial tail of the fewer
    under even odds, at most 1 (1 where none differ).

    >>> sign_test(4, 0), sign_test(1, 0), sign_test(0, 0)
    (0.125, 1.0, 1.0)
    """
    from scipy.stats import binom

    n = n_better + n_worse
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * binom.cdf(min(n_better, n_worse), n, 0.5)))


def _verdict(low: float, high: float) -> str:
    """``better`` or ``worse`` where the interval of the difference leaves out 0,
    ``within noise`` where it holds it."""
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "within noise"


#: compare_gold's verdicts: the figure under the labels after a review against before
_MOVED = {"better": "higher", "worse": "lower"}


def compare_gold(Y_before: sp.spmatrix, Y_after: sp.spmatrix, top1: np.ndarray,
                 sets: sp.spmatrix, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                 confidence: float = 0.95) -> dict:
    """One model's predictions measured against two versions of the same documents'
    labels: ``Y_before`` (a test split as it was) and ``Y_after`` (corrected by a
    review, ``apply-review``'s output), both documents x the model's labels; ``top1``
    the model's best label per document (-1: none), ``sets`` its label sets.

    P@1 and micro-F1 under each, the difference (after - before) and its
    ``confidence`` interval by a paired bootstrap over documents (``resamples`` draws,
    ``seed``), the documents whose labels differ (``n_docs_relabelled``), and for P@1
    the documents whose best label is right only after (``n_docs_right_now``) and only
    before (``n_docs_wrong_now``); each figure's verdict ``higher``, ``lower`` or
    ``within noise`` is its interval's (``test``: ``bootstrap``), TOO_FEW where fewer than
    MIN_DOCS_DIFFERING documents moved it (``n_docs_differing``: for P@1 those right or
    wrong now, for micro-F1 those relabelled), as micro-F1's of ``eval --baseline``.
    What a team reporting figures on a test split sees move once its errors are fixed.

    >>> before = sp.csr_matrix([[1, 0], [0, 1], [0, 1], [1, 0]])
    >>> after = sp.csr_matrix([[1, 0], [1, 0], [0, 1], [1, 0]])
    >>> result = compare_gold(before, after, np.array([0, 0, 1, 0]),
    ...                       sp.csr_matrix([[1, 0], [1, 0], [0, 1], [1, 0]]))
    >>> m = result["metrics"]["p@1"]
    >>> m["before"], m["after"], m["n_docs_right_now"], result["n_docs_relabelled"]
    (0.75, 1.0, 1, 1)
    """
    resamples = check_int("resamples", resamples, 1, numpy=True)
    seed = check_int("seed", seed, 0, numpy=True)
    confidence = check_alpha(confidence, "confidence")
    from tagsmith.metrics.sets import check_label_values

    Y_before, Y_after, sets = (sp.csr_matrix(check_label_values(value, name), dtype=np.float64)
                               for name, value in (("Y_before", Y_before),
                                                   ("Y_after", Y_after), ("sets", sets)))
    if Y_after.shape != Y_before.shape:
        raise InvalidParameterError("Y_after", f"shape {Y_before.shape}, Y_before's",
                                    Y_after.shape)
    n, width = Y_before.shape
    _check_top1("top1", top1, n, width)
    if sets.shape != (n, width):
        raise InvalidParameterError("sets", f"shape {(n, width)}, Y_before's", sets.shape)
    best = np.asarray(top1)
    rows = np.flatnonzero(best >= 0)
    per_doc = {}
    for name, Y in (("before", Y_before), ("after", Y_after)):
        hit = np.zeros(n)
        if len(rows):  # no row: scipy gives a (1, 0) matrix, which != 0 cannot compare
            hit[rows] = np.asarray(Y[rows, best[rows]]).ravel() != 0
        found = np.asarray(sets.multiply(Y != 0).sum(axis=1)).ravel()
        true = np.asarray((Y != 0).sum(axis=1)).ravel()
        per_doc[name] = (hit, found, true)
    predicted = np.asarray((sets != 0).sum(axis=1)).ravel()

    docs = np.column_stack([predicted, *per_doc["before"], *per_doc["after"]])
    drawn = np.empty((resamples, 2))
    for start, weights in bootstrap_weights(n, resamples, seed):
        d = weights @ docs  # predicted, then hit/found/true before, and after
        drawn[start:start + len(weights)] = np.column_stack([
            (d[:, 4] - d[:, 1]) / max(n, 1),
            _micro_f1(d[:, 5], d[:, 0], d[:, 6]) - _micro_f1(d[:, 2], d[:, 0], d[:, 3])])
    tail = (1 - confidence) / 2 * 100
    bounds = np.percentile(drawn, [tail, 100 - tail], axis=0)
    values = {name: {"p@1": float(hit.sum() / max(n, 1)),
                     "micro_f1": float(_micro_f1(np.array(float(found.sum())),
                                                 np.array(float(predicted.sum())),
                                                 np.array(float(true.sum()))))}
              for name, (hit, found, true) in per_doc.items()}
    right_now = int((per_doc["after"][0] > per_doc["before"][0]).sum())
    wrong_now = int((per_doc["after"][0] < per_doc["before"][0]).sum())
    relabelled = int(((Y_before != 0) != (Y_after != 0)).sum(axis=1).astype(bool).sum())
    # each verdict is its interval's, the one printed beside it, on fewer than
    # MIN_DOCS_DIFFERING documents that moved it TOO_FEW: P@1's was the sign test's, and
    # 5 documents right now of 0 wrong read "[+0.0010, +0.0090] within noise" (p = 0.0625)
    differing = {"p@1": right_now + wrong_now, "micro_f1": relabelled}
    metrics = {}
    for j, key in enumerate(COMPARED_METRICS):
        low, high = float(bounds[0, j]), float(bounds[1, j])
        verdict = (TOO_FEW if 0 < differing[key] < MIN_DOCS_DIFFERING
                   else _verdict(low, high))
        metrics[key] = {"before": values["before"][key], "after": values["after"][key],
                        "difference": values["after"][key] - values["before"][key],
                        "interval": [low, high], "verdict": _MOVED.get(verdict, verdict),
                        "test": "bootstrap", "n_docs_differing": differing[key],
                        "min_docs_differing": MIN_DOCS_DIFFERING}
    metrics["p@1"].update(n_docs_right_now=right_now, n_docs_wrong_now=wrong_now)
    return {"n_docs": n, "n_docs_relabelled": relabelled, "resamples": resamples,
            "seed": seed, "confidence": confidence, "metrics": metrics}
