"""A random sample of documents for exhaustive review, and the noise estimates it gives.

The audit's bounds (:func:`tagsmith.audit.detect.mixture_bounds`) assume labels go
missing at random; labels left off by a habit of the indexers (Reuters-21578's
``money-fx`` off ``dlr`` stories) escape them, and the bound reads under the truth. A
person reviewing every label of a few documents drawn at random measures what the
ranking cannot: :func:`draw_review_sample` draws the documents (uniformly, without
replacement, seeded, whatever the audit ranked) and lists, for each, its given labels
and the model's best labels it lacks (and any candidate the audit flagged for it), as
rows of a review file (:data:`tagsmith.audit.review.COLUMNS`, so ``apply-review`` takes
it too): accepting a given label's row says it is wrong, accepting another's says it is
missing; a reviewer may add rows (``action`` ``add``) for labels missing that were not
shown. :func:`estimate_from_sample` reads the decisions back into estimates with 95%
intervals: the share of given labels that are wrong (Wilson's at the effective sample
size of a ratio over the documents drawn, each one's labels a cluster), the missing
labels per document (an exact Poisson interval on the count found), both scaled to the
corpus, and the precision and recall of the audit's flagged candidates (Wilson). A
stratified sample (``flagged_docs``: the documents with a flagged pair drawn apart from
the others) weights each stratum by its documents: the wrong share takes a stratified
Wilson interval (:func:`wilson_at` at the effective sample size), the recall Fay's
gamma interval on the ratio of the flagged errors to the others
(:func:`weighted_poisson_ratio_interval`), the missing count Fay and Feuer's gamma
interval (:func:`weighted_poisson_interval`).

The estimates assume the reviewer is right, and count as missing only the labels the
reviewer accepted among the rows shown or added.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tagsmith._plural import plural_s
from tagsmith._surface import said
from tagsmith.audit import DECISION_VALUES
from tagsmith.audit.detect import KINDS, MISSING, WRONG
from tagsmith.audit.review import (
    _DECISIONS,
    ACCEPT,
    ACTIONS,
    MODEL_TOP,
    _decided,
    _doc_number,
    _read_key,
    _review_records,
    _unquoted,
    doc_key,
    review_format,
    row_kind,
)
from tagsmith.exceptions import InvalidParameterError, ReviewFormatError
from tagsmith.models.splits import check_order

if TYPE_CHECKING:
    import scipy.sparse as sp

    from tagsmith.audit.detect import LabelIssues
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.topk import TopK

logger = logging.getLogger("tagsmith")

#: mixed into the sample's seed, so that the documents drawn do not follow the audit's
#: folds, which the same seed draws
_SALT = 0x5A3B1E
#: the file name of the sample in an audit's folder (``.csv`` or ``.jsonl``)
SAMPLE_STEM = "sample"


def _uri_key(uri: str) -> str:
    return uri.strip().strip("<>").strip()


def draw_review_sample(issues: LabelIssues, texts: Sequence[str], Y: sp.csr_matrix,
                       space: LabelSpace, n: int, *, seed: int = 0,
                       topk: TopK | None = None, lang: str = "en",
                       lines: Sequence[int] | None = None,
                       doc_ids: Sequence[str | None] | None = None,
                       flagged_docs: int | None = None,
                       warnings: list[str] | None = None,
                       order: np.ndarray | None = None,
                       hashes: np.ndarray | None = None) -> tuple[list[dict], dict]:
    """Draw ``n`` documents uniformly at random (without replacement, seeded by
    ``seed``) and return the review rows that show each one's pairs, and the record
    :func:`estimate_from_sample` reads them back with (JSON-able: the report's
    ``review_sample``).

    ``flagged_docs``: stratify, drawing ``n`` documents among those with no flagged pair
    and ``flagged_docs`` among those with one (each uniformly, without replacement):
    the record's ``strata`` holds each stratum's population and size, and its ``docs``
    each document's stratum. Without, one stratum (``all``) of ``n`` documents. A
    stratum asked for more documents than it holds (known only once the audit has
    flagged its candidates) takes them all, and a warning says so (logged, and appended
    to ``warnings``): refused, the whole audit before it was lost. Where no document has
    a flagged pair the sample is ``n`` documents drawn uniformly, one stratum; where
    every document has one, ``flagged_docs`` documents drawn uniformly, one stratum.

    Each document's rows: one per given label (``kind`` wrong, ``action`` remove:
    accept it where the label does not apply), then one per label among the first
    :data:`~tagsmith.audit.review.MODEL_TOP` of ``topk`` that it lacks and per missing
    candidate the audit flagged for it (``kind`` missing, ``action`` add: accept it
    where the label applies). The rows do not say which pairs the audit flagged (the
    record does), nor the audit's probabilities: the reviewer judges each pair alone.

    ``order`` (a permutation of the documents, the audit's
    :func:`~tagsmith.pipeline.audit.content_order`): the documents are drawn from the
    corpus listed in that order, so the same corpus sorted or shuffled draws the same
    documents (drawn by position, it drew others).
    """
    n_docs = len(texts)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidParameterError("review_sample", "a number of documents >= 1", n)
    if n > n_docs:
        raise InvalidParameterError(
            "review_sample", f"at most the corpus's {n_docs:,} document{plural_s(n_docs)} "
            "(a sample draws each document once)", n)
    if flagged_docs is not None:
        _check_flagged_docs(flagged_docs)
    if order is not None:
        # a repeated position drew a document twice (two rows of one document in
        # sample.csv), a short order IndexError'd or drew only its documents
        order = check_order("order", order, n_docs)
    rng = np.random.default_rng([int(seed), _SALT])
    with_flag = np.zeros(n_docs, bool)
    with_flag[issues.doc[issues.flagged]] = True
    if flagged_docs is not None and not with_flag.any():
        _warn(warnings, "review_sample_flagged %d: no document has a candidate the audit "
              "flagged; the sample is review_sample's %d documents drawn uniformly over "
              "the corpus, unstratified", flagged_docs, n)
        flagged_docs = None
    elif flagged_docs is not None and with_flag.all():
        # the others stratum is empty, the flagged one the corpus: drawn as an empty
        # stratum (0 of 0 documents), estimate-noise divided by its 0 documents drawn
        _warn(warnings, "review_sample %d: every document has a candidate the audit "
              "flagged; the sample is review_sample_flagged's %d documents drawn "
              "uniformly over the corpus, unstratified", n, flagged_docs)
        n, flagged_docs = min(int(flagged_docs), n_docs), None
    if flagged_docs is None:
        drawn = rng.choice(n_docs, size=int(n), replace=False)
        docs = np.sort(drawn if order is None else order[drawn]).tolist()
        strata = [{"name": "all", "population": n_docs, "n_sampled": len(docs),
                   "n_given": int(Y.nnz)}]
        stratum_of = dict.fromkeys(docs, "all")
    else:
        docs, strata, stratum_of = _stratified_draw(rng, with_flag, Y, int(n), flagged_docs,
                                                    warnings, order)
    chosen = set(docs)
    flagged: dict[int, dict[str, list[int]]] = {d: {"wrong": [], "missing": []} for d in docs}
    where = np.flatnonzero(issues.flagged)
    for d, label, kind in zip(issues.doc[where].tolist(), issues.label[where].tolist(),
                              issues.kind[where].tolist(), strict=True):
        if d in chosen:
            flagged[d][KINDS[kind]].append(label)
    indptr, indices = Y.indptr, Y.indices
    rows: list[dict] = []
    row_labels: list[int] = []
    record_docs = []
    for d in docs:
        given = indices[indptr[d]:indptr[d + 1]].tolist()
        top = [] if topk is None else [
            (t, v) for t, v in zip(topk.indices[d, :MODEL_TOP].tolist(),
                                   topk.scores[d, :MODEL_TOP].tolist(), strict=True) if t >= 0]
        shown = [t for t, _ in top if t not in given]
        shown += [t for t in flagged[d]["missing"] if t not in shown and t not in given]
        key = doc_key(texts[d])
        common = {
            "probability": None, "model_score": None, "threshold": None, "doc": d,
            "line": None if lines is None else lines[d],
            "doc_id": None if doc_ids is None else doc_ids[d], "doc_key": key,
            "given_labels": [space.uri_of(g) for g in given],
            "given_names": [space.name_of(g, lang) for g in given],
            "model_top": [f"{space.name_of(t, lang)} ({round(v, 6)})" for t, v in top],
            "copies": "", "related_rows": [], "text": texts[d]}
        for kind, labels in (("wrong", given), ("missing", shown)):
            for label in labels:
                rows.append({"rank": len(rows) + 1, "decision": "", "kind": kind,
                             "action": ACTIONS[kind], "label_uri": space.uri_of(label),
                             "label_name": space.name_of(label, lang), **common})
                row_labels.append(label)
        record_docs.append({
            "doc": d, "stratum": stratum_of[d], "doc_key": key,
            "given": [space.uri_of(g) for g in given],
            "shown_missing": [space.uri_of(t) for t in shown],
            "flagged_wrong": [space.uri_of(t) for t in flagged[d]["wrong"]],
            "flagged_missing": [space.uri_of(t) for t in flagged[d]["missing"]]})
    # how many of a row's copies carry its label, as the queue's rows say (the sample's
    # were left empty)
    if rows:
        from tagsmith.audit.review import _copies_cells

        cells = _copies_cells([row["doc"] for row in rows], row_labels, texts, Y, hashes)
        for row, cell in zip(rows, cells, strict=True):
            row["copies"] = cell
    record = {
        "design": "uniform over documents, without replacement" if flagged_docs is None
        else "stratified: the documents with a flagged pair, and the others, each drawn "
        "uniformly without replacement",
        "seed": int(seed), "n_sampled": len(docs), "n_docs": n_docs, "n_given": int(Y.nnz),
        "strata": strata,
        "n_rows": len(rows), "model_top": MODEL_TOP,
        "n_flagged": {"wrong": int((issues.flagged & (issues.kind == WRONG)).sum()),
                      "missing": int((issues.flagged & (issues.kind == MISSING)).sum())},
        "docs": record_docs, "label_space": _space_record(space)}
    return rows, record


def _warn(warnings: list[str] | None, template: str, *values: object) -> None:
    """Log a warning naming the parameters ``review_sample`` and
    ``review_sample_flagged`` (the command line reads its options), and append it to
    ``warnings``."""
    logger.warning(template, *values,
                   extra={"parameters": ("review_sample_flagged", "review_sample")})
    if warnings is not None:
        warnings.append(template % values)


def _check_flagged_docs(m: object) -> None:
    """Refuse a ``review_sample_flagged`` that is no number of documents >= 2."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 2:
        raise InvalidParameterError(
            "review_sample_flagged", "a number of documents >= 2 (a stratum's variance "
            "needs two)", m)


def _stratified_draw(rng: np.random.Generator, with_flag: np.ndarray, Y: sp.csr_matrix,
                     n: int, m: int, warnings: list[str] | None = None,
                     order: np.ndarray | None = None
                     ) -> tuple[list[int], list[dict], dict[int, str]]:
    """``n`` documents among those without a flagged pair and ``m`` among those with
    one (``with_flag``): the documents drawn, sorted, the strata and each one's
    stratum. A stratum that holds fewer documents than asked is drawn whole (its
    ``n_requested`` recorded), with a warning (see :func:`draw_review_sample`)."""
    _check_flagged_docs(m)
    if n < 2:
        raise InvalidParameterError(
            "review_sample", ">= 2 where the sample is stratified (review_sample_flagged; "
            "a stratum's variance needs two)", n)
    given_per_doc = np.diff(Y.indptr)
    strata, docs, stratum_of = [], [], {}
    listed = np.arange(len(with_flag)) if order is None else order  # drawn in this order
    for name, members, size, parameter in (
            ("flagged", listed[with_flag[listed]], m, "review_sample_flagged"),
            ("others", listed[~with_flag[listed]], n, "review_sample")):
        requested = size
        if size > len(members):
            # the documents with a flagged pair are known only after the scoring (8
            # minutes on Reuters): refusing here threw the whole audit away
            size = len(members)
            # the name in the template: the command line renames it there only
            _warn(warnings, parameter + " %d: only %d document%s %s candidate the audit "
                  "flagged; all of them were drawn (that stratum is read in full), %d in all",
                  requested, size, plural_s(size),
                  ("has" if size == 1 else "have") + (" a" if name == "flagged" else " no"),
                  size + (n if name == "flagged" else m))
        drawn = rng.choice(members, size=size, replace=False).tolist()
        docs += drawn
        stratum_of.update(dict.fromkeys(drawn, name))
        strata.append({"name": name, "population": int(len(members)), "n_sampled": size,
                       "n_given": int(given_per_doc[members].sum()),
                       **({"n_requested": requested} if requested != size else {})})
    return sorted(docs), strata, stratum_of


def _space_record(space: LabelSpace) -> dict:
    """The audit's labels, as the sample's record keeps them (``label_space``): their
    URIs' common prefix and each one's rest, so that :func:`estimate_from_sample` can
    refuse a label a reviewer added that is none of them (a misspelt URI was counted as
    a missing label found). The prefix keeps it small: YSO's 27,754 URIs (``.../yso/p``
    and a number) take 240 kB of JSON, where in full they take 1 MB."""
    import os

    uris = [_uri_key(label.uri) for label in space]
    prefix = os.path.commonprefix(uris) if len(uris) > 1 else ""
    return {"n_labels": len(uris), "uri_prefix": prefix,
            "uri_suffixes": [uri[len(prefix):] for uri in uris]}


def _unknown_label(uri: str, labels: dict) -> str:
    """Why ``uri`` is no label of the audit whose labels the sample's record keeps
    (``labels``: its ``label_space``), with the nearest URI where one is close."""
    import difflib

    prefix = labels["uri_prefix"]
    known = [prefix + suffix for suffix in labels["uri_suffixes"]]
    folded = [k for k in known if k.casefold() == uri.casefold()]
    if folded or not prefix or not uri.startswith(prefix):
        near = folded or difflib.get_close_matches(uri, known, n=1, cutoff=0.8)
    else:  # the rests alone: seconds faster over 25,000 labels
        near = [prefix + rest for rest in difflib.get_close_matches(
            uri[len(prefix):], labels["uri_suffixes"], n=1, cutoff=0.6)]
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return (f"label {uri!r} is no label of the audit (none of the {labels['n_labels']:,} "
            "its report.json's review_sample records): a label added by hand must be one "
            f"the audit knew, by its URI, or it counts as a missing label found{hint}")


def wilson(k: float, n: float) -> tuple[float, float]:
    """The 95% Wilson score interval of ``k`` successes in ``n`` trials (``(0, 1)`` where
    ``n`` is 0), by :func:`tagsmith.metrics.sets.wilson_interval`, the package's one
    Wilson interval.

    >>> [round(x, 4) for x in wilson(0, 10)]
    [0.0, 0.2775]
    """
    if n == 0:
        return 0.0, 1.0
    # imported here: scipy.special, which the report needs and importing the module not
    from tagsmith.metrics.sets import wilson_interval

    low, high = wilson_interval(k, n)
    return float(low), float(high)


def wilson_at(p: float, n: float) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion ``p`` estimated from ``n`` (an
    effective sample size where the draw was not simple: a stratified Wilson).

    >>> [round(x, 4) for x in wilson_at(0.25, 20)]
    [0.1119, 0.4687]
    """
    return wilson(p * n, n)


def poisson_interval(k: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Garwood) interval of a Poisson mean from one count ``k``.

    >>> [round(x, 3) for x in poisson_interval(0)]
    [0.0, 3.689]
    """
    from scipy.special import gammaincinv

    tail = (1 - level) / 2
    lower = 0.0 if k == 0 else float(gammaincinv(k, tail))
    return lower, float(gammaincinv(k + 1, 1 - tail))


def weighted_poisson_interval(weights: Sequence[float], counts: Sequence[int],
                              level: float = 0.95) -> tuple[float, float]:
    """The gamma interval of Fay and Feuer (1997) of a weighted sum of Poisson counts,
    sum of ``weights`` x ``counts``: Garwood's exact interval, scaled, where there is
    one weight.

    >>> [round(x, 3) for x in weighted_poisson_interval([2.0], [10])]
    [9.591, 36.781]
    """
    from scipy.special import gammaincinv

    tail = (1 - level) / 2
    total = sum(w * k for w, k in zip(weights, counts, strict=True))
    variance = sum(w * w * k for w, k in zip(weights, counts, strict=True))
    top = max(weights)
    lower = 0.0 if total == 0 else \
        float(gammaincinv(total * total / variance, tail)) * variance / total
    shape = (total + top) ** 2 / (variance + top * top)
    upper = float(gammaincinv(shape, 1 - tail)) * (variance + top * top) / (total + top)
    return lower, upper


def weighted_poisson_ratio_interval(num_weights: Sequence[float], num_counts: Sequence[int],
                                    den_weights: Sequence[float], den_counts: Sequence[int],
                                    level: float = 0.95) -> tuple[float, float]:
    """Fay's (1999) gamma interval of the ratio of two weighted sums of Poisson counts,
    sum of ``num_weights`` x ``num_counts`` over sum of ``den_weights`` x ``den_counts``:
    each sum taken as a gamma variable (as in :func:`weighted_poisson_interval`, the
    largest weight added where a limit needs it), their ratio as an F variable. The
    upper end is infinite where the denominator counts none. With equal weights it is
    the exact conditional interval, Clopper-Pearson's on ``k`` of ``k + m``, as odds.

    >>> [round(x, 4) for x in weighted_poisson_ratio_interval([1.0], [3], [1.0], [1])]
    [0.2409, 157.4921]
    """
    from scipy.special import fdtri

    tail = (1 - level) / 2

    def moments(weights: Sequence[float], counts: Sequence[int]) -> tuple[float, float, float]:
        return (sum(w * k for w, k in zip(weights, counts, strict=True)),
                sum(w * w * k for w, k in zip(weights, counts, strict=True)), max(weights))

    y1, v1, w1 = moments(num_weights, num_counts)
    y2, v2, w2 = moments(den_weights, den_counts)
    if y1 <= 0:
        lower = 0.0
    else:
        shape1, shape2 = y1 * y1 / v1, (y2 + w2) ** 2 / (v2 + w2 * w2)
        lower = y1 / (y2 + w2) * float(fdtri(2 * shape1, 2 * shape2, tail))
    if y2 <= 0:
        upper = math.inf
    else:
        shape1, shape2 = (y1 + w1) ** 2 / (v1 + w1 * w1), y2 * y2 / v2
        upper = (y1 + w1) / y2 * float(fdtri(2 * shape1, 2 * shape2, 1 - tail))
    return lower, upper


def _stratified_recall(found: dict[str, np.ndarray], flagged: dict[str, np.ndarray],
                       strata: list[dict]) -> dict:
    """The recall of a stratified sample, the corpus total of the errors found that were
    flagged over that of all errors found (``flagged``, ``found``: per stratum, one
    count per document drawn), with an interval that counts what the strata may hold
    unseen: the ratio R / (1 - R), flagged errors over those not flagged, takes Fay's
    gamma interval (:func:`weighted_poisson_ratio_interval`, each stratum's documents
    per document drawn its weight). The stratified Wilson read 3 of 3 errors found, all
    in the flagged stratum, as 43.85% to 100%, as if the others stratum, weighted 50
    times more, could hold no error unseen. The flagged errors lie in the flagged
    stratum alone, whose weight is theirs."""
    k = int(sum(int(v.sum()) for v in flagged.values()))
    n = int(sum(int(v.sum()) for v in found.values()))
    if n == 0:
        return {"k": k, "n": n, "share": None, "interval": [0.0, 1.0], "n_effective": None,
                "interval_method": _RECALL_METHOD}
    total_flagged, _ = _stratum_sums(flagged, strata)
    total_found, _ = _stratum_sums(found, strata)
    weights = {s["name"]: s["population"] / s["n_sampled"] for s in strata}
    holding = [s["name"] for s in strata if s["name"] != "others"] or list(weights)
    low, high = weighted_poisson_ratio_interval(
        [weights[name] for name in holding], [int(flagged[name].sum()) for name in holding],
        list(weights.values()),
        [int(found[name].sum() - flagged[name].sum()) for name in weights])
    return {"k": k, "n": n, "share": round(total_flagged / total_found, 6),
            "interval": [round(low / (1 + low), 6),
                         1.0 if math.isinf(high) else round(high / (1 + high), 6)],
            # kept in --json, where the stratified Wilson put it (null: no Wilson's now)
            "n_effective": None, "interval_method": _RECALL_METHOD}


_RECALL_METHOD = ("Fay's gamma interval on the ratio of the flagged errors' stratified total "
                  "to the others' (each stratum's count found times its documents per "
                  "document drawn, the counts taken as Poisson), as a share")


def _proportion(k: int, n: int) -> dict:
    low, high = wilson(k, n)
    return {"k": k, "n": n, "share": None if n == 0 else round(k / n, 6),
            "interval": [round(low, 6), round(high, 6)]}


def estimate_from_sample(path: str | Path, record: dict, *,
                         bounds: dict | None = None) -> dict:
    """Estimates from a reviewed sample file ``path`` (drawn by
    :func:`draw_review_sample`, whose ``record`` the audit's report keeps as
    ``review_sample``): every row must be decided (accept or reject); rows a reviewer
    added (``action`` add, a label the document lacks) count as missing labels found.

    ``bounds``: the audit's ``noise.bounds`` (or its withheld ones), shown beside the
    estimates. Raises :class:`ReviewFormatError` naming the file and line of a row that
    is undecided, holds an unknown decision, names a document not in the sample or
    not as audited, or contradicts another row, and naming a shown pair with no row.
    """
    path = Path(path)
    csv_cells = review_format(path) == "csv"
    docs = {entry["doc"]: entry for entry in record["docs"]}
    # a report of an audit before the record kept the labels: added labels not checked
    labels = record.get("label_space")
    known = None if labels is None else {labels["uri_prefix"] + suffix
                                         for suffix in labels["uri_suffixes"]}
    verdicts: dict[tuple[int, str], tuple[bool, int, str]] = {}  # accepted?, line, kind
    added: set[tuple[int, str]] = set()
    for line, row in _review_records(path):
        for column in ("decision", "kind", "label_uri", "doc", "doc_key"):
            if column not in row:
                raise ReviewFormatError(f"missing field {column!r}", path=path, line=line)
        if not _decided(row["decision"]):
            raise ReviewFormatError(
                "no decision: the estimate needs every row of the sample decided ("
                f"{DECISION_VALUES}); accept a given label's row (action remove) where it "
                "does not apply, another's (action add) where it does", path=path, line=line)
        decision = str(row["decision"]).strip().lower()
        if decision not in _DECISIONS:
            raise ReviewFormatError(f"decision must be {DECISION_VALUES}, found "
                                    f"{row['decision']!r}", path=path, line=line)
        doc = _doc_number(row, path, line)
        entry = docs.get(doc)
        if entry is None:
            raise ReviewFormatError(f"document {doc} is not in the sample this audit drew "
                                    f"({record['n_sampled']:,} document"
                                    f"{plural_s(record['n_sampled'])}, seed {record['seed']})",
                                    path=path, line=line)
        key = _read_key(row["doc_key"], path, line, doc)
        if key != entry["doc_key"]:
            raise ReviewFormatError(f"doc_key {key!r} is not that of document {doc} as "
                                    "audited: the sample is of another audit, or the row was "
                                    "edited", path=path, line=line)
        # a JSONL row's null was read as the label 'None', and counted as a missing one
        uri = "" if row["label_uri"] is None else _uri_key(
            _unquoted(str(row["label_uri"]).strip(), csv_cells))
        if not uri:
            raise ReviewFormatError("label_uri is empty (a row added by hand takes the "
                                    "label's URI)", path=path, line=line)
        kind = row_kind(row, path, line)
        given = {_uri_key(u) for u in entry["given"]}
        if (kind == "wrong") != (uri in given):
            raise ReviewFormatError(
                f"kind {kind} for label {uri!r}, which document {doc} "
                + ("was given: its row is kind wrong" if uri in given else
                   "was not given: a label it lacks is kind missing (action add)"),
                path=path, line=line)
        accept = decision in ACCEPT
        previous = verdicts.get((doc, uri))
        if previous is not None:
            if previous[0] != accept:
                raise ReviewFormatError(f"contradicts line {previous[1]}: label {uri!r} of "
                                        f"document {doc} decided both ways",
                                        path=path, line=line)
            continue
        verdicts[(doc, uri)] = (accept, line, kind)
        if kind == "missing" and uri not in {_uri_key(u) for u in entry["shown_missing"]}:
            if not accept:
                continue  # a label added by hand and rejected says nothing
            if labels is not None and known is not None and uri not in known:
                raise ReviewFormatError(_unknown_label(uri, labels), path=path, line=line)
            added.add((doc, uri))
    # every shown pair decided: a row deleted would leave a given label uncounted
    for entry in record["docs"]:
        for kind, uris in (("wrong", entry["given"]), ("missing", entry["shown_missing"])):
            for uri in uris:
                if (entry["doc"], _uri_key(uri)) not in verdicts:
                    raise ReviewFormatError(
                        f"no row decides label {uri!r} of document {entry['doc']} (a "
                        f"{kind} row the sample showed): every shown pair must be decided",
                        path=path)
    if len(record.get("strata") or ()) > 1:
        return _stratified_estimates(record, verdicts, added, bounds)
    return _estimates(record, verdicts, added, bounds)


def _estimates(record: dict, verdicts: dict, added: set, bounds: dict | None) -> dict:
    n, n_docs, n_given = record["n_sampled"], record["n_docs"], record["n_given"]
    given_in_sample = sum(len(e["given"]) for e in record["docs"])
    wrong = sum(1 for accept, _, kind in verdicts.values() if accept and kind == "wrong")
    missing = sum(1 for accept, _, kind in verdicts.values() if accept and kind == "missing")
    # a document's labels are decided together, by one reviewer reading one text: the
    # given labels are clusters of documents, as a stratified sample reads them (they
    # were taken as independent, the interval too narrow where errors come in clusters)
    by_doc: dict[int, list[int]] = {e["doc"]: [len(e["given"]), 0] for e in record["docs"]}
    for (doc, _), (accept, _, kind) in verdicts.items():
        by_doc[doc][1] += bool(accept) and kind == "wrong"
    counts = np.asarray(list(by_doc.values()), float).reshape(-1, 2)
    share = _design_proportion({"all": counts[:, 1]}, {"all": counts[:, 0]},
                               [{"name": "all", "population": n_docs, "n_sampled": n}])
    wrong_est = {**share, "corpus_count": round(share["share"] * n_given, 1)
                 if share["share"] is not None else None,
                 "corpus_interval": [round(x * n_given, 1) for x in share["interval"]],
                 "interval_method": "Wilson's at the effective sample size of a ratio "
                                    "estimate over the documents drawn (each one's given "
                                    "labels a cluster; design variance by linearisation, "
                                    "finite-population corrected), at most the given labels "
                                    "counted"}
    low, high = poisson_interval(missing)
    per_doc = missing / n
    missing_est = {"k": missing, "n_docs": n, "n_added_by_reviewer": len(added),
                   "per_doc": round(per_doc, 6),
                   "per_doc_interval": [round(low / n, 6), round(high / n, 6)],
                   "corpus_count": round(per_doc * n_docs, 1),
                   "corpus_interval": [round(low / n * n_docs, 1),
                                       round(high / n * n_docs, 1)],
                   "interval_method": "exact Poisson (Garwood) on the count found, no "
                                      "finite-population correction"}
    audit: dict = {}
    errors_flagged = {"wrong": 0, "missing": 0}
    errors = {"wrong": wrong, "missing": missing}
    for kind in ("wrong", "missing"):
        pairs = [(e["doc"], _uri_key(u)) for e in record["docs"] for u in e[f"flagged_{kind}"]]
        confirmed = sum(1 for pair in pairs if verdicts[pair][0])
        errors_flagged[kind] = confirmed
        audit[kind] = {"precision": _proportion(confirmed, len(pairs)),
                       "recall": _proportion(confirmed, errors[kind])}
    audit["all"] = {"precision": _proportion(sum(errors_flagged.values()),
                                             sum(len(e["flagged_wrong"]) + len(e["flagged_missing"])
                                                 for e in record["docs"])),
                    "recall": _proportion(sum(errors_flagged.values()), wrong + missing)}
    result = {
        "n_sampled": n, "n_docs": n_docs, "n_given": n_given, "seed": record["seed"],
        "given_in_sample": given_in_sample, "n_rows_decided": len(verdicts),
        "wrong": wrong_est, "missing": missing_est, "audit": audit,
        "assumes": ("the reviewer is right; the documents were drawn uniformly at random; "
                    "missing labels are those the reviewer accepted among the rows shown "
                    "(the given labels, the model's top labels and the audit's candidates) "
                    "or added: a missing label neither shown nor added is not counted"),
        "bounds": None}
    result["bounds"] = _beside_bounds(bounds, missing_est)
    return result


def _beside_bounds(bounds: dict | None, missing_est: dict) -> dict | None:
    """The audit's bounds, shown beside the estimates (None without)."""
    if not bounds:
        return None
    est = _bound_figure(bounds.get("est_missing"))
    return {"est_wrong": _bound_figure(bounds.get("est_wrong")), "est_missing": est,
            "withheld": bool(bounds.get("withheld")),
            "missing_above_bound": est is not None and missing_est["corpus_interval"][0] > est}


def _bound_figure(value: object) -> float | None:
    """A bound's count as a finite number, or None where the report holds none (null,
    ``"NaN"`` as tagsmith writes a NaN to JSON, or a NaN read back).

    >>> _bound_figure(161.9), _bound_figure("NaN"), _bound_figure(float("nan")), _bound_figure(None)
    (161.9, None, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _stratum_sums(values: dict[str, np.ndarray], strata: list[dict]
                  ) -> tuple[float, float]:
    """The stratified estimate of a corpus total, sum over strata of population x the
    stratum's mean, and its design variance, sum of population^2 x (1 - n/population) x
    the stratum's sample variance / n (``values``: per stratum, one value per document
    drawn)."""
    total = variance = 0.0
    for stratum in strata:
        y = values[stratum["name"]]
        big_n, n = stratum["population"], len(y)
        total += big_n * float(y.mean())
        # a stratum drawn whole (fewer documents than asked) has no variance; one of a
        # single document drawn (a uniform sample of one) none that it can tell
        if 1 < n < big_n:
            variance += big_n * big_n * (1 - n / big_n) * float(y.var(ddof=1)) / n
    return total, variance


def _kish_size(x: dict[str, np.ndarray], strata: list[dict]) -> float:
    """Kish's effective sample size, (sum w)^2 / sum w^2, of the units counted in ``x``
    (per stratum, one count per document drawn), each weighted by its stratum's
    population over the documents drawn from it: their count where the weights are
    equal, fewer where they differ (0 without units).

    >>> strata = [{"name": "a", "population": 10}, {"name": "b", "population": 100}]
    >>> round(_kish_size({"a": np.array([2.0, 1.0]), "b": np.array([3.0, 0.0])}, strata), 3)
    3.594
    """
    total = squares = 0.0
    for stratum in strata:
        counts = x[stratum["name"]]
        if len(counts) == 0:
            continue
        weight, units = stratum["population"] / len(counts), float(counts.sum())
        total += weight * units
        squares += weight * weight * units
    return total * total / squares if squares > 0 else 0.0


def _design_proportion(y: dict[str, np.ndarray], x: dict[str, np.ndarray],
                       strata: list[dict]) -> dict:
    """A corpus proportion, total of ``y`` over total of ``x`` (each document's counts,
    per stratum), as a stratified ratio estimate: its variance by linearisation (the
    residuals y - R x), its interval Wilson's at the effective sample size R (1 - R) /
    variance, at most the ``x`` counted in the sample (a design effect under 1 is not
    taken). At a read of 0% or 100% that variance is 0, and the effective size is
    Kish's over the units counted in ``x`` (:func:`_kish_size`)."""
    k = int(sum(int(v.sum()) for v in y.values()))
    n = int(sum(int(v.sum()) for v in x.values()))
    if n == 0:
        return {"k": k, "n": n, "share": None, "interval": [0.0, 1.0], "n_effective": None}
    total_y, _ = _stratum_sums(y, strata)
    total_x, _ = _stratum_sums(x, strata)
    if n == 0 or total_x <= 0:
        return {"k": k, "n": n, "share": None, "interval": [0.0, 1.0], "n_effective": None}
    ratio = total_y / total_x
    _, variance = _stratum_sums({name: y[name] - ratio * x[name] for name in y}, strata)
    variance /= total_x * total_x
    if variance <= 0 or not 0 < ratio < 1:
        # the linearised variance is 0 at a read of 0% or 100%: Kish's effective size of
        # the units counted in ``x``, each weighted by its stratum's documents per
        # document drawn, so that a heavily weighted stratum does not count as many
        n_eff = _kish_size(x, strata)
    else:
        n_eff = min(float(n), ratio * (1 - ratio) / variance)
    low, high = wilson_at(ratio, n_eff)
    return {"k": k, "n": n, "share": round(ratio, 6), "interval": [round(low, 6),
                                                                 round(high, 6)],
            "n_effective": round(n_eff, 1)}


def _stratified_estimates(record: dict, verdicts: dict, added: set,
                          bounds: dict | None) -> dict:
    """:func:`_estimates` of a stratified sample: each stratum weighted by its population
    (the number of documents in it)."""
    strata = record["strata"]
    names = [stratum["name"] for stratum in strata]
    by_doc: dict[int, dict[str, int]] = {
        entry["doc"]: dict.fromkeys(("wrong", "missing", "given", "flagged_wrong",
                                     "flagged_missing", "confirmed_wrong",
                                     "confirmed_missing"), 0) for entry in record["docs"]}
    for (doc, _), (accept, _, kind) in verdicts.items():
        by_doc[doc][kind] += bool(accept)
    for entry in record["docs"]:
        counts = by_doc[entry["doc"]]
        counts["given"] = len(entry["given"])
        for kind in ("wrong", "missing"):
            pairs = [(entry["doc"], _uri_key(u)) for u in entry[f"flagged_{kind}"]]
            counts[f"flagged_{kind}"] = len(pairs)
            counts[f"confirmed_{kind}"] = sum(1 for pair in pairs if verdicts[pair][0])

    def per_stratum(*columns: str) -> dict[str, np.ndarray]:
        values: dict[str, list[int]] = {name: [] for name in names}
        for entry in record["docs"]:
            counts = by_doc[entry["doc"]]
            values[entry["stratum"]].append(sum(counts[c] for c in columns))
        return {name: np.asarray(v, float) for name, v in values.items()}

    n, n_docs, n_given = record["n_sampled"], record["n_docs"], record["n_given"]
    share = _design_proportion(per_stratum("wrong"), per_stratum("given"), strata)
    wrong_est = {**share, "corpus_count": None if share["share"] is None
                 else round(share["share"] * n_given, 1),
                 "corpus_interval": [round(v * n_given, 1) for v in share["interval"]],
                 "interval_method": "stratified Wilson: a ratio estimate over the strata "
                                    "(each weighted by its documents), Wilson's interval at "
                                    "its effective sample size (design variance by "
                                    "linearisation, finite-population corrected)"}
    missing_found = per_stratum("missing")
    total, _ = _stratum_sums(missing_found, strata)
    low, high = weighted_poisson_interval(
        [stratum["population"] / stratum["n_sampled"] for stratum in strata],
        [int(missing_found[stratum["name"]].sum()) for stratum in strata])
    missing_est = {"k": int(sum(int(v.sum()) for v in missing_found.values())),
                   "n_docs": n, "n_added_by_reviewer": len(added),
                   "per_doc": round(total / n_docs, 6),
                   "per_doc_interval": [round(low / n_docs, 6), round(high / n_docs, 6)],
                   "corpus_count": round(total, 1),
                   "corpus_interval": [round(low, 1), round(high, 1)],
                   "interval_method": "Fay-Feuer gamma interval on the stratified total (each "
                                      "stratum's count found times its documents per document "
                                      "drawn, the counts taken as Poisson; Garwood's where "
                                      "there is one stratum), no finite-population correction"}
    audit: dict = {}
    for kind, columns in (("wrong", ("wrong",)), ("missing", ("missing",)),
                          ("all", ("wrong", "missing"))):
        flags = ("flagged_wrong", "flagged_missing") if kind == "all" else (f"flagged_{kind}",)
        confirmed = tuple(f.replace("flagged", "confirmed") for f in flags)
        # the flagged pairs all lie in the flagged stratum: its precision is theirs
        k = int(sum(by_doc[e["doc"]][c] for e in record["docs"] for c in confirmed))
        n_pairs = int(sum(by_doc[e["doc"]][f] for e in record["docs"] for f in flags))
        audit[kind] = {"precision": _proportion(k, n_pairs),
                       "recall": _stratified_recall(per_stratum(*columns),
                                                    per_stratum(*confirmed), strata)}
    shown = []
    for stratum in strata:
        docs = [e for e in record["docs"] if e["stratum"] == stratum["name"]]
        shown.append({**stratum, "given_in_sample": sum(len(e["given"]) for e in docs),
                      "wrong_found": sum(by_doc[e["doc"]]["wrong"] for e in docs),
                      "missing_found": sum(by_doc[e["doc"]]["missing"] for e in docs)})
    return {
        "n_sampled": n, "n_docs": n_docs, "n_given": n_given, "seed": record["seed"],
        "design": record["design"], "strata": shown,
        "given_in_sample": sum(len(e["given"]) for e in record["docs"]),
        "n_rows_decided": len(verdicts),
        "wrong": wrong_est, "missing": missing_est, "audit": audit,
        "assumes": ("the reviewer is right; the documents were drawn uniformly at random "
                    "within each stratum; missing labels are those the reviewer accepted "
                    "among the rows shown (the given labels, the model's top labels and the "
                    "audit's candidates) or added: a missing label neither shown nor added "
                    "is not counted"),
        "bounds": _beside_bounds(bounds, missing_est)}


def read_sample_record(report: str | Path, sample: str | Path | None = None
                       ) -> tuple[dict, dict | None]:
    """The ``review_sample`` record of an audit's ``report.json``, and its bounds
    (``noise.bounds``, or the withheld ones marked ``withheld``; None without). A report
    that cannot be read, or that holds no sample (the audit ran without
    ``review_sample``, or was run again without it since ``sample`` was drawn), raises
    :class:`DataError` naming it."""
    import json

    from tagsmith.exceptions import DataError

    report = Path(report)
    try:
        with open(report, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        where = (f" beside {sample} is needed to read a review sample (give its path with "
                 "--report)" if sample is not None else
                 " is needed to read a review sample")
        raise DataError(f"no such file: the audit's report.json{where}",
                        path=report) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the audit's report ({exc})", path=report) from None
    except RecursionError:  # '[' * 100000: json nests a call per bracket, a traceback
        raise DataError("cannot read the audit's report (nested too deeply to read)",
                        path=report) from None
    record = data.get("review_sample") if isinstance(data, dict) else None
    if not isinstance(record, dict):
        drew = said("audit --review-sample N", "AuditOptions(review_sample=N)")
        raise DataError(f"holds no review sample: the audit that wrote it drew none ({drew}), "
                        "or was run again without it since the sample was drawn", path=report)
    return record, audit_bounds(data)


def audit_bounds(report: dict) -> dict | None:
    """The bounds of an audit's report (``report.json`` read, or ``AuditResult.report``)
    that :func:`estimate_from_sample` shows beside its estimates: ``noise.bounds``, or
    where the audit withheld them (not informative) ``noise.withheld_bounds`` marked
    ``withheld``; None without either."""
    noise = report.get("noise") or {}
    if noise.get("bounds"):
        return noise["bounds"]
    withheld = noise.get("withheld_bounds")
    return {**withheld, "withheld": True} if withheld else None
