"""The data health report: a "nutrition label" for a multi-label collection, as JSON.

:func:`health_report` gathers, from the label matrix and what the audit found:
label cardinality and density, the long tail of label frequencies, the most frequent
and the most strongly associated co-occurring pairs, unused, rare and deprecated
labels, labels missing from the vocabulary, duplicates and conflicting labels among
them, leakage between splits, and the estimated noise rates. Everything is computed
from sparse matrices (the co-occurrence matrix is ``Y^T Y``, sparse); lists of
examples are capped, so the report stays small at any label-space size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from tagsmith._plural import clip
from tagsmith.data.labelspace import LabelSpace

if TYPE_CHECKING:
    from tagsmith.audit.detect import LabelIssues
    from tagsmith.audit.duplicates import Duplicates

#: labels with fewer given documents than this are "rare"
RARE_BELOW = 5
#: examples listed per section
MAX_EXAMPLES = 20
#: rank-frequency points kept for the long-tail plot
TAIL_POINTS = 400


def _label_ref(space: LabelSpace, label_id: int, lang: str) -> dict:
    """A label as the report shows it; ``name_lang``: the language tag the name is in
    (``lang`` or the one it fell back to), ``None`` when the name is the URI."""
    name, name_lang = space.name_and_language(int(label_id), lang)
    return {"id": int(label_id), "uri": space.uri_of(int(label_id)), "name": name,
            "name_lang": name_lang}


def _quantiles(values: np.ndarray, qs=(0.5, 0.9, 0.99)) -> dict:
    if len(values) == 0:
        return {f"p{int(q * 100)}": 0 for q in qs}
    return {f"p{int(q * 100)}": round(float(np.quantile(values, q)), 3) for q in qs}


def corpus_section(texts: Sequence[str], Y: sp.csr_matrix) -> dict:
    """Document counts, text lengths, label cardinality and density.

    >>> Y = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 0]], bool))
    >>> section = corpus_section(["a b c", ""], Y)
    >>> section["cardinality"], section["density"], section["n_docs_without_labels"]
    (1.0, 0.333333, 1)
    """
    n, n_labels = Y.shape
    per_doc = np.diff(Y.indptr)
    words = np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))
    histogram = np.bincount(np.minimum(per_doc, 20), minlength=21)
    return {
        "n_docs": int(n), "n_labels_in_space": int(n_labels), "n_assignments": int(Y.nnz),
        "cardinality": round(float(per_doc.mean()) if n else 0.0, 6),
        "density": round(float(per_doc.mean() / n_labels) if n and n_labels else 0.0, 6),
        "labels_per_doc": {"max": int(per_doc.max(initial=0)), **_quantiles(per_doc)},
        "labels_per_doc_histogram": histogram.tolist(),  # index 20 = 20 or more
        "n_docs_without_labels": int((per_doc == 0).sum()),
        "n_empty_texts": int((words == 0).sum()),
        "words_per_doc": {"mean": round(float(words.mean()) if n else 0.0, 2),
                          **_quantiles(words)},
        "n_distinct_label_sets": int(_n_distinct_rows(Y)),
    }


def _n_distinct_rows(Y: sp.csr_matrix) -> int:
    from tagsmith.audit.duplicates import label_set_hashes

    return len(np.unique(label_set_hashes(Y))) if Y.shape[0] else 0


def top_label_count(n_used: int, percent: int) -> int:
    """How many labels "the top ``percent``% of the ``n_used`` labels in use" are: the
    share rounded up, at least one (integer arithmetic: ``0.1 * 30`` is a float just over
    3, which would round up to 4). Round-half-to-even made 1% of 250 labels 2, of 350
    labels 4; rounding up makes any share hold at least that fraction of the labels.

    >>> [top_label_count(n, 1) for n in (1, 99, 100, 101, 250, 350)]
    [1, 1, 1, 2, 3, 4]
    >>> [top_label_count(n, 10) for n in (1, 25, 30, 35)]
    [1, 3, 3, 4]
    """
    return max(1, -(-n_used * percent // 100))


def docs_on_parent_labels(Y: sp.csr_matrix, space: LabelSpace, *,
                          lines: Sequence[int] | None = None,
                          doc_ids: Sequence[str | None] | None = None,
                          review_rows: Mapping[int, Sequence[int]] | None = None,
                          limit: int | None = None) -> list[dict]:
    """The documents of ``Y`` given a label that has narrower labels in ``space``, in
    corpus order (the first ``limit``; None: all), each named as the review queue names
    it (``doc``, ``line``, ``doc_id`` from ``lines`` and ``doc_ids``), with ``labels``
    (the ids of those of its labels, ascending) and ``review_rows`` (the ranks of the
    review queue's rows of the document, from ``review_rows``, which maps a document to
    them: none, where the scores flagged nothing, or the queue was cut before it).

    >>> from tagsmith.data.labelspace import Label
    >>> space = LabelSpace([Label("E"), Label("E11", broader=["E"]), Label("I10")])
    >>> Y = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 1], [0, 0, 1]]))
    >>> docs_on_parent_labels(Y, space, review_rows={1: [4, 5]})
    [{'doc': 1, 'line': None, 'doc_id': None, 'labels': [0], 'review_rows': [4, 5]}]
    >>> docs_on_parent_labels(Y, space, limit=-1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tagsmith.exceptions.InvalidParameterError: parameter 'limit' must be None or ..., got -1
    """
    from tagsmith._params import check_int
    from tagsmith.exceptions import InvalidParameterError

    # a negative limit dropped the last documents as a slice does
    limit = check_int("limit", limit, 0, allow_none=True)
    # one of each per row of Y: a list of another length named each document by another
    # one's line or id (longer), or failed with an IndexError (shorter)
    for name, values in (("lines", lines), ("doc_ids", doc_ids)):
        if values is not None and len(values) != Y.shape[0]:
            raise InvalidParameterError(
                name, f"one per row of Y ({Y.shape[0]}) or None",
                f"{len(values)} of them")
    on_parent = _narrower_counts(space, Y.shape[1]) > 0
    per_doc = _per_doc_on(Y, on_parent)
    review_rows = review_rows or {}
    docs = []
    for doc in np.flatnonzero(per_doc)[:limit].tolist():
        given = Y.indices[Y.indptr[doc]:Y.indptr[doc + 1]]
        docs.append({"doc": doc, "line": None if lines is None else int(lines[doc]),
                     "doc_id": None if doc_ids is None else doc_ids[doc],
                     "labels": sorted(given[on_parent[given]].tolist()),
                     "review_rows": list(review_rows.get(doc, ()))})
    return docs


#: the least share of the documents given a narrower label that also carry its broader
#: label (any ancestor) for the corpus to be read as coding the two together: Reuters'
#: desk gives grain beside wheat in 280 of 283 documents (98.9%)
MIN_BROADER_CODED_SHARE = 0.9
#: the fewest documents given the narrower label for its pair's share to be read: 2 of
#: 2 says nothing of a desk's habit
MIN_BROADER_PAIR_DOCS = 10


#: documents read at a time for the pairs' counts (bounds the expansion's memory)
_BROADER_BLOCK = 50_000


def _broader_triples(Y: sp.csr_matrix, ancestors: sp.csr_matrix, read: np.ndarray):
    """For each block of :data:`_BROADER_BLOCK` documents of ``Y`` (CSR, sorted
    indices): every (document, label given, ancestor) of a label ``read`` marks, as
    four arrays: the document, the label, the position of the pair in ``ancestors``'
    stored entries and whether the document carries the ancestor too."""
    n_labels = Y.shape[1]
    per_label = np.diff(ancestors.indptr)
    for start in range(0, Y.shape[0], _BROADER_BLOCK):
        block = Y[start:start + _BROADER_BLOCK]
        docs = np.repeat(np.arange(block.shape[0], dtype=np.int64), np.diff(block.indptr))
        labels = block.indices.astype(np.int64)
        keys = docs * n_labels + labels  # sorted: rows in order, indices sorted
        mine = read[labels] & (per_label[labels] > 0)
        docs, labels = docs[mine], labels[mine]
        n_up = per_label[labels]
        total = int(n_up.sum())
        first = np.repeat(ancestors.indptr[labels].astype(np.int64), n_up)
        pair = first + (np.arange(total, dtype=np.int64)
                        - np.repeat(np.cumsum(n_up) - n_up, n_up))
        doc_of = np.repeat(docs, n_up)
        wanted = doc_of * n_labels + ancestors.indices[pair]
        at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        present = (keys[at] == wanted) if len(keys) else np.zeros(total, bool)
        yield doc_of + start, np.repeat(labels, n_up), pair, present


def broader_left_off(Y: sp.csr_matrix, space: LabelSpace, *, lang: str = "en",
                     lines: Sequence[int] | None = None,
                     doc_ids: Sequence[str | None] | None = None,
                     review_rows: Mapping[int, Sequence[int]] | None = None,
                     missing_rows: Mapping[tuple[int, int], int] | None = None,
                     min_docs: int = MIN_BROADER_PAIR_DOCS,
                     min_share: float = MIN_BROADER_CODED_SHARE,
                     leave_out: Callable[[int, int], bool] | None = None,
                     ) -> tuple[dict, list[dict]] | None:
    """The documents given a narrower label without a broader one (an ancestor) that
    the corpus itself codes beside it almost always: the pairs (narrower, ancestor)
    whose narrower label is given to at least ``min_docs`` documents
    (:data:`MIN_BROADER_PAIR_DOCS`), at least ``min_share`` of them
    (:data:`MIN_BROADER_CODED_SHARE`) carrying the ancestor too.

    Returns None where ``space`` has no hierarchy (or is not ``Y``'s label space), else
    the report's section (its ``pairs`` and its ``docs`` the first
    :data:`MAX_EXAMPLES`, ``n_pairs`` and ``n_rows`` counting all) and every such
    document, a row per (document, narrower label, broader label left off), in corpus
    order: one row per document and broader label left off: ``doc``, ``line``,
    ``doc_id``, ``narrower`` (the ids of the document's labels under it, sorted) and
    ``broader`` (a label id), ``share`` (the largest of its pairs'), ``review_rows``
    (the document's ranks in the review queue, from ``review_rows``) and
    ``missing_row`` (the rank of the queue's row adding the broader label, from
    ``missing_rows``, which maps ``(doc, label)`` to it; None: no such row).
    ``leave_out(doc, broader)``: True for a row an earlier review decided (rejected:
    the broader label does not apply), left out and counted (the section's
    ``n_left_out_reviewed``), as the review queue leaves out the candidates an earlier
    review decided (``audit --reviewed``). A
    deprecated broader label is no pair's (none to add). A corpus
    coded at the most specific level (ICD-10) has almost no such pair (the audit does
    not call this there: a broader label beside a narrower one is its error); a thesaurus that gives
    a broad concept beside some narrow ones and not others has few.

    >>> from tagsmith.data.labelspace import Label
    >>> space = LabelSpace([Label("grain"), Label("wheat", broader=["grain"]), Label("x")])
    >>> Y = sp.csr_matrix(np.array([[1, 1, 0]] * 10 + [[0, 1, 1]]))
    >>> section, rows = broader_left_off(Y, space, missing_rows={(10, 0): 3})
    >>> [(p["narrower"]["uri"], p["broader"]["uri"], p["n_docs"], p["n_beside"])
    ...  for p in section["pairs"]]
    [('wheat', 'grain', 11, 10)]
    >>> [(r["doc"], r["narrower"], r["broader"], r["missing_row"]) for r in rows]
    [(10, [1], 0, 3)]
    """
    n_labels = Y.shape[1]
    if len(space) != n_labels or not space.has_hierarchy:
        return None
    from tagsmith.audit.detect import ancestor_matrix

    ancestors = ancestor_matrix(space, n_labels)
    if ancestors is None:
        return None
    # a copy: sorted and rid of duplicates in place, the caller's Y must not change
    Y = sp.csr_matrix(Y, copy=True)
    Y.sum_duplicates()  # sorted indices: the membership test below searches them
    Y.eliminate_zeros()
    counts = np.bincount(Y.indices, minlength=n_labels)
    ancestors = sp.csr_matrix(ancestors)
    deprecated = space.deprecated_mask
    if deprecated.any():
        # a deprecated broader label is none to add, however often the corpus still
        # gives it: the row asked a coder to add a label the vocabulary retired
        keep = ~deprecated[ancestors.indices]
        of = np.repeat(np.arange(n_labels), np.diff(ancestors.indptr))
        ancestors = sp.csr_matrix((ancestors.data[keep], (of[keep], ancestors.indices[keep])),
                                  shape=ancestors.shape)
    from tagsmith._params import check_int, check_number

    min_docs = check_int("min_docs", min_docs, 1, numpy=True)
    min_share = check_number("min_share", min_share, 0, strict=True, maximum=1, numpy=True)
    read = counts >= min_docs
    # each pair (narrower, ancestor) is one stored entry of ``ancestors``; its documents
    # are counted by expanding each (document, read label) entry of Y into its
    # ancestors and looking each up among the document's labels, in blocks of
    # documents: a loop of np.intersect1d over the pairs sorted the root's documents
    # once for each label under it (74 s for 10^5 documents of 25,000 labels coded with
    # their ancestors)
    beside_all = np.zeros(ancestors.nnz, np.int64)
    for _, _, pair, present in _broader_triples(Y, ancestors, read):
        beside_all += np.bincount(pair[present], minlength=ancestors.nnz)
    narrower_all = np.repeat(np.arange(n_labels), np.diff(ancestors.indptr))
    habit = read[narrower_all] & (beside_all >= min_share * counts[narrower_all])
    review_rows = review_rows or {}
    missing_rows = missing_rows or {}
    gap = habit & (beside_all < counts[narrower_all])
    # every (document, pair) left off, gathered by array operations (a dict built per
    # such entry in Python was most of the call's time at 10^5 documents)
    off_doc: list[np.ndarray] = []
    off_pair: list[np.ndarray] = []
    if gap.any():
        for doc_of, _, pair, present in _broader_triples(Y, ancestors, read):
            off = ~present & gap[pair]
            off_doc.append(doc_of[off])
            off_pair.append(pair[off])
    doc_all = np.concatenate(off_doc) if off_doc else np.zeros(0, np.int64)
    pair_all = np.concatenate(off_pair) if off_pair else np.zeros(0, np.int64)
    # the documents left off of each pair, for its n_left_off
    n_left = np.bincount(pair_all, minlength=ancestors.nnz)
    # one row per document and broader label left off, naming every narrower label the
    # document carries under it (a row per pair asked about grain twice for a story on
    # wheat and corn, and a reviewer decided it twice), in corpus order
    broader_all = ancestors.indices[pair_all].astype(np.int64)
    narrow_all = narrower_all[pair_all]
    order = np.lexsort((narrow_all, broader_all, doc_all))
    doc_all, broader_all, narrow_all, pair_all = (
        doc_all[order], broader_all[order], narrow_all[order], pair_all[order])
    share_all = beside_all[pair_all] / np.maximum(counts[narrow_all], 1)
    first = np.ones(len(order), bool)
    first[1:] = (doc_all[1:] != doc_all[:-1]) | (broader_all[1:] != broader_all[:-1])
    starts = np.flatnonzero(first)
    bounds = np.append(starts, len(order)).tolist()
    # a row's share: its strongest pair's (the narrower label coded beside it most often)
    shares = (np.maximum.reduceat(share_all, starts) if len(starts) else np.zeros(0))
    narrow_list = narrow_all.tolist()
    rows = []
    for i, (doc, a, share) in enumerate(zip(doc_all[starts].tolist(),
                                            broader_all[starts].tolist(),
                                            shares.tolist(), strict=True)):
        rows.append({"doc": doc, "line": None if lines is None else int(lines[doc]),
                     "doc_id": None if doc_ids is None else doc_ids[doc],
                     "narrower": narrow_list[bounds[i]:bounds[i + 1]], "broader": a,
                     "share": round(share, 4),
                     "review_rows": list(review_rows.get(doc, ())),
                     "missing_row": missing_rows.get((doc, a))})
    # the rows an earlier review rejected (audit --reviewed): listed again, undecided,
    # the desk decided them again every month
    n_reviewed = 0
    if leave_out is not None:
        kept = [row for row in rows if not leave_out(row["doc"], row["broader"])]
        n_reviewed, rows = len(rows) - len(kept), kept
    # the pairs with documents left off first, most of them first, then by share: only
    # the first MAX_EXAMPLES are listed, picked by array operations (a Python sort of
    # tuples keyed per pair took 0.4 s of 38,418 pairs at 25,000 labels)
    habit_at = np.flatnonzero(habit)
    habit_narrower = narrower_all[habit_at]
    habit_share = beside_all[habit_at] / counts[habit_narrower]
    first_pairs = habit_at[np.lexsort((ancestors.indices[habit_at], habit_narrower,
                                       -habit_share, -n_left[habit_at]))[:MAX_EXAMPLES]]
    pairs = [(c, a, int(counts[c]), b, n) for c, a, b, n in
             zip(narrower_all[first_pairs].tolist(),
                 ancestors.indices[first_pairs].tolist(),
                 beside_all[first_pairs].tolist(), n_left[first_pairs].tolist(),
                 strict=True)]
    section = {
        "min_share": min_share, "min_docs": min_docs, "n_pairs": len(habit_at),
        "pairs": [{"narrower": _label_ref(space, c, lang), "broader": _label_ref(space, a, lang),
                   "n_docs": n_docs, "n_beside": beside, "share": round(beside / n_docs, 4),
                   "n_left_off": n}
                  # the first MAX_EXAMPLES (n_pairs counts them all): every pair listed
                  # made several MB of JSON at 25,000 labels (38,354 pairs, most with
                  # none left off), and docs_without_broader.csv lists every row
                  for c, a, n_docs, beside, n in pairs],
        "n_docs": len({row["doc"] for row in rows}), "n_rows": len(rows),
        "n_in_review": sum(row["missing_row"] is not None for row in rows),
        "n_left_out_reviewed": n_reviewed,
        "docs": [{**{k: row[k] for k in ("doc", "line", "doc_id", "share", "review_rows",
                                          "missing_row")},
                  "narrower": [_label_ref(space, c, lang) for c in row["narrower"]],
                  "broader": _label_ref(space, row["broader"], lang)}
                 for row in rows[:MAX_EXAMPLES]],
    }
    return section, rows


def broader_left_off_skipped(reason: str, *, min_docs: int = MIN_BROADER_PAIR_DOCS,
                             min_share: float = MIN_BROADER_CODED_SHARE) -> dict:
    """report.json's ``broader_left_off`` where the check is not read (a corpus coded
    at the most specific level): ``skipped`` (the reason) beside the counts of
    :func:`broader_left_off`'s section as none found, so a reader of ``n_pairs`` or
    ``pairs`` reads it as any other.

    >>> broader_left_off_skipped("not read")["n_pairs"]
    0
    """
    return {"skipped": reason, "min_share": min_share, "min_docs": min_docs, "n_pairs": 0,
            "pairs": [], "n_docs": 0, "n_rows": 0, "n_in_review": 0, "n_left_out_reviewed": 0,
            "docs": []}


def labels_section(Y: sp.csr_matrix, space: LabelSpace, *, lang: str = "en",
                   unknown: dict | None = None,
                   docs_on_parents: Sequence[dict] | None = None) -> dict:
    """Label frequencies: long tail, unused, rare, deprecated and unknown labels.
    ``unknown``: the label keys the reader dropped (``vocabulary``: whether they were
    checked against a vocabulary); without it, none were, as without a vocabulary.
    ``docs_on_parents``: the documents given a label that has narrower ones (a
    catalogue's product on a parent category, a code where a subcode belongs), as
    :func:`docs_on_parent_labels` gives them (the caller writes all of them to a
    table too: found once, not twice); the section lists the first ones, their labels
    named. None (a thesaurus, where such a label is no mistake): the list is empty."""
    n_labels = Y.shape[1]
    counts = np.bincount(Y.indices, minlength=n_labels)
    order = np.argsort(-counts, kind="stable")
    used = counts > 0
    deprecated = space.deprecated_mask
    sorted_counts = counts[order][: int(used.sum())]
    total = max(int(counts.sum()), 1)
    n_used = max(len(sorted_counts), 1)
    cumulative = np.cumsum(sorted_counts) / total if len(sorted_counts) else np.zeros(0)

    def share_of_top(percent: int) -> float:
        top = top_label_count(n_used, percent)
        return round(float(cumulative[min(top, len(cumulative)) - 1]), 4) if len(
            cumulative) else 0.0

    ranks = (np.unique(np.geomspace(1, len(sorted_counts), TAIL_POINTS).astype(int))
             if len(sorted_counts) else np.zeros(0, np.int64))  # no label used: no curve
    unused = np.flatnonzero(~used & ~deprecated)
    rare = np.flatnonzero(used & (counts < RARE_BELOW))
    # the rarest first (ties in the vocabulary's order): in the vocabulary's order the
    # first 20 of Reuters' 33 rare labels hid a label given to one document among
    # "13 more", the one a steward looks for first
    rare = rare[np.argsort(counts[rare], kind="stable")]
    deprecated_used = np.flatnonzero(used & deprecated)
    # labels in use with narrower labels in the vocabulary (a catalogue's product put on
    # a parent category, not a leaf), most used first
    narrower = _narrower_counts(space, n_labels)
    with_narrower = np.flatnonzero(used & (narrower > 0))
    with_narrower = with_narrower[np.argsort(-counts[with_narrower], kind="stable")]
    n_docs_with_narrower = int(np.count_nonzero(_per_doc_on(Y, narrower > 0)))
    # the documents themselves: the count alone left a coder of an ICD-coded corpus
    # unable to find 36 of its 41 (no review row names a document the scores did not
    # flag); with whether each has a review row too: one that has none is found
    # nowhere else
    docs_on_parent = [{**doc, "labels": [_label_ref(space, i, lang) for i in doc["labels"]]}
                      for doc in (docs_on_parents or ())[:MAX_EXAMPLES]]
    return {
        "n_used": int(used.sum()), "n_unused": int(len(unused)), "n_rare": int(len(rare)),
        "rare_below": RARE_BELOW, "n_deprecated_in_use": int(len(deprecated_used)),
        "count": {"max": int(counts.max(initial=0)), **_quantiles(sorted_counts)},
        "share_of_assignments_top_1pct_labels": share_of_top(1),
        "share_of_assignments_top_10pct_labels": share_of_top(10),
        "n_top_1pct_labels": min(top_label_count(n_used, 1), len(sorted_counts)),
        "n_top_10pct_labels": min(top_label_count(n_used, 10), len(sorted_counts)),
        "gini": round(_gini(sorted_counts), 4),
        "most_frequent": [{**_label_ref(space, i, lang), "count": int(counts[i])}
                          for i in order[:MAX_EXAMPLES] if counts[i] > 0],
        "unused_examples": [_label_ref(space, i, lang) for i in unused[:MAX_EXAMPLES]],
        "rare_examples": [{**_label_ref(space, i, lang), "count": int(counts[i])}
                          for i in rare[:MAX_EXAMPLES]],
        # with what the vocabulary replaces each (dct:isReplacedBy): what to use instead
        "deprecated_in_use": [{**_label_ref(space, i, lang), "count": int(counts[i]),
                               "replaced_by": [_label_ref(space, j, lang)
                                               for j in space.replacement_ids(int(i))]}
                              for i in deprecated_used[:MAX_EXAMPLES]],
        "n_with_narrower_in_use": int(len(with_narrower)),
        "n_docs_on_labels_with_narrower": n_docs_with_narrower,
        "with_narrower_in_use": [{**_label_ref(space, i, lang), "count": int(counts[i]),
                                  "n_narrower": int(narrower[i])}
                                 for i in with_narrower[:MAX_EXAMPLES]],
        "docs_on_labels_with_narrower": docs_on_parent,
        # without ``unknown`` no key was checked against a vocabulary: the page then
        # said "Labels missing from the vocabulary: 0 occurrences" of one never given
        "not_in_vocabulary": unknown or {"vocabulary": False, "n_occurrences": 0,
                                         "n_distinct": 0, "examples": []},
        "rank_frequency": {"rank": ranks.tolist(), "count": sorted_counts[ranks - 1].tolist()},
    }


def _per_doc_on(Y: sp.csr_matrix, on: np.ndarray) -> np.ndarray:
    """How many of each document's labels are ones ``on`` (a mask over the labels)
    marks."""
    return np.bincount(np.repeat(np.arange(Y.shape[0]), np.diff(Y.indptr))[on[Y.indices]],
                       minlength=Y.shape[0])


def _narrower_counts(space: LabelSpace, n_labels: int) -> np.ndarray:
    """How many narrower labels of the space each label has (0 for a space of another
    size: a label space derived from the corpus, which has no hierarchy)."""
    counts = np.zeros(n_labels, np.int64)
    if len(space) != n_labels:
        return counts
    for label_id in range(n_labels):
        counts[label_id] = len(space.narrower_ids(label_id))
    return counts


def _gini(sorted_desc: np.ndarray) -> float:
    """Gini coefficient of label frequencies (0: all equal, near 1: a few labels dominate)."""
    if len(sorted_desc) == 0 or sorted_desc.sum() == 0:
        return 0.0
    values = np.sort(sorted_desc).astype(np.float64)
    n = len(values)
    return float((2 * np.arange(1, n + 1) - n - 1) @ values / (n * values.sum()))


def cooccurrence_section(Y: sp.csr_matrix, space: LabelSpace, *, lang: str = "en",
                         min_count: int = 5) -> dict:
    """The most frequent co-occurring label pairs, and the most strongly associated ones
    (normalised pointwise mutual information, pairs seen at least ``min_count`` times).
    Each pair once, lower label id first; ties in label-id order.

    >>> space = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
    >>> Y = sp.csr_matrix(np.array([[1, 1, 0]] * 6 + [[0, 0, 1]] * 2, bool))
    >>> cooccurrence_section(Y, space)["top_by_count"][0]["count"]
    6
    """
    n = Y.shape[0]
    Yf = sp.csr_matrix(Y, dtype=np.float32)
    counts = np.bincount(Yf.indices, minlength=Y.shape[1]).astype(np.float64)
    pairs = sp.triu(Yf.T @ Yf, k=1).tocoo()
    a, b, c = pairs.row, pairs.col, pairs.data.astype(np.float64)
    out: dict = {"n_pairs": int(len(c)), "top_by_count": [], "top_by_npmi": [],
                 "npmi_min_count": min_count}
    if len(c) == 0 or n == 0:
        return out
    # ties in label-id order: the order of Y^T Y's entries is scipy's (it listed the
    # pairs of one document's three labels as (0, 1), (1, 2), (0, 2))
    top = np.lexsort((b, a, -c))[:MAX_EXAMPLES]
    out["top_by_count"] = [_pair(space, a[i], b[i], c[i], None, lang) for i in top]
    pmi = np.log(n * c / (counts[a] * counts[b]))
    # a pair in every document has NPMI 1 (its PMI is 0 over -log 1 = 0)
    npmi = np.divide(pmi, -np.log(c / n), out=np.ones_like(pmi), where=c < n)
    eligible = np.flatnonzero(c >= min_count)
    top = eligible[np.lexsort((b[eligible], a[eligible], -npmi[eligible]))[:MAX_EXAMPLES]]
    out["top_by_npmi"] = [_pair(space, a[i], b[i], c[i], npmi[i], lang) for i in top]
    return out


def _pair(space, a, b, count, npmi, lang) -> dict:
    item = {"a": _label_ref(space, a, lang), "b": _label_ref(space, b, lang),
            "count": int(count)}
    if npmi is not None:
        item["npmi"] = round(float(npmi), 4)
    return item


def noise_section(issues: LabelIssues, space: LabelSpace, *, lang: str = "en",
                  min_support: int = 20) -> dict:
    """Estimated noise rates (overall, per frequency band, noisiest labels) and the
    candidates found (:class:`~tagsmith.audit.detect.LabelIssues`)."""
    from tagsmith.audit.detect import MISSING, WRONG

    n_given = issues.n_given
    total = max(float(n_given.sum()), 1.0)
    wrong, missing = float(issues.est_wrong.sum()), float(issues.est_missing.sum())
    supported = np.flatnonzero(n_given >= min_support)

    quality = issues.doc_quality
    flagged = issues.flagged
    # per label, the counts behind its rates and how many of its pairs were flagged:
    # Reuters-21578's page listed retail at a 50% missing rate (yen 42%) with no row in
    # the review queue and nothing to say the rate counted pairs scored above a threshold
    # of 0.24 whose error probabilities stayed under --min-probability
    flagged_by_kind = [np.bincount(issues.label[flagged & (issues.kind == kind)],
                                   minlength=len(n_given)) for kind in (WRONG, MISSING)]

    def noisiest(rate: np.ndarray) -> list[dict]:
        chosen = supported[np.argsort(-rate[supported], kind="stable")[:MAX_EXAMPLES]]
        return [{**_label_ref(space, i, lang), "n_given": int(n_given[i]),
                 "wrong_rate": round(float(issues.wrong_rate[i]), 4),
                 "missing_rate": round(float(issues.missing_rate[i]), 4),
                 "est_wrong": round(float(issues.est_wrong[i]), 1),
                 "est_missing": round(float(issues.est_missing[i]), 1),
                 "threshold": round(float(issues.threshold[i]), 4),
                 "n_flagged_wrong": int(flagged_by_kind[0][i]),
                 "n_flagged_missing": int(flagged_by_kind[1][i])} for i in chosen]

    return {
        "est_wrong": round(wrong, 1), "est_missing": round(missing, 1),
        "wrong_rate": round(wrong / total, 5),
        "missing_rate": round(missing / max(total - wrong + missing, 1.0), 5),
        # upper bounds by mixture proportion (tighter than confident learning's counts;
        # None when the audit drew no background pairs)
        "bounds": issues.details.get("mixture_bounds"),
        # too few distinct texts for the bounds and the calibration to inform (None: enough)
        "warning": issues.details.get("texts", {}).get("warning"),
        "n_candidates": int(len(issues)),
        "n_flagged_missing": int((flagged & (issues.kind == MISSING)).sum()),
        "n_flagged_wrong": int((flagged & (issues.kind == WRONG)).sum()),
        "n_docs_with_flagged": int(len(np.unique(issues.doc[flagged]))),
        "bands": issues.band_table(),
        "noisiest_by_wrong_rate": noisiest(issues.wrong_rate),
        "noisiest_by_missing_rate": noisiest(issues.missing_rate),
        "label_min_support": min_support,
        "doc_quality": {"mean": round(float(quality.mean()) if len(quality) else 1.0, 4),
                        "n_below_0.5": int((quality < 0.5).sum()),
                        "histogram": np.histogram(quality, bins=20, range=(0, 1))[0].tolist()},
        "method": issues.details,
    }


def duplicates_section(dups: Duplicates, texts: Sequence[str], Y: sp.csr_matrix,
                       space: LabelSpace, *,
                       lang: str = "en", threshold: float | None,
                       lines: Sequence[int] | None = None) -> dict:
    """Duplicate counts, the first conflicting pairs with their label differences, and
    the first pairs that carry the same labels (``same_label_examples``: the counts
    named no document of them, so a steward told of 20 such pairs could remove none).

    The counts do not depend on the order of the documents (see
    :mod:`tagsmith.audit.duplicates`: every pair of exact copies, every near pair once);
    the examples pair each exact copy with its group's first document. ``threshold``:
    the near duplicates' cosine, ``None`` when they were not looked for (recorded as
    such: their count of 0 then says nothing). ``lines``: each document's line in its
    file, recorded beside the document numbers (``line_a``, ``line_b``), which count
    from 0 and so named the line before.

    ``n_conflict_rows``, ``n_same_label_rows`` (and of them ``..._near``): the pairs of
    texts each list would hold whole, as ``duplicates.csv`` does, which the page's
    tables stop at the first :data:`MAX_EXAMPLES` of: near pairs, listed after the exact
    copies, showed none once there were 20 exact ones, and nothing said the list went
    on."""
    near = ~dups.exact
    out = {**dups.summary(), "near_duplicate_threshold": threshold,
           "n_conflict_rows": int(dups.conflicting.sum()),
           "n_conflict_rows_near": int((dups.conflicting & near).sum()),
           "n_same_label_rows": int((~dups.conflicting).sum()),
           "n_same_label_rows_near": int((~dups.conflicting & near).sum()),
           "conflict_examples": [], "same_label_examples": []}
    for key, rows in (("conflict_examples", np.flatnonzero(dups.conflicting)),
                      ("same_label_examples", np.flatnonzero(~dups.conflicting))):
        # exact copies first, then the most similar near pairs
        order = rows[np.lexsort((-dups.cosine[rows], ~dups.exact[rows]))]
        for p in order[:MAX_EXAMPLES]:
            i, j = (int(v) for v in dups.pairs[p])
            labels_i = Y.indices[Y.indptr[i]:Y.indptr[i + 1]].tolist()
            labels_j = Y.indices[Y.indptr[j]:Y.indptr[j + 1]].tolist()
            example = {
                "doc_a": i, "doc_b": j,
                **({"line_a": int(lines[i]), "line_b": int(lines[j])} if lines is not None
                   else {}),
                "exact": bool(dups.exact[p]),
                "cosine": round(float(dups.cosine[p]), 4),
                "text_a": clip(texts[i]), "text_b": clip(texts[j])}
            if key == "conflict_examples":
                example["only_a"] = [_label_ref(space, c, lang)
                                     for c in sorted(set(labels_i) - set(labels_j))]
                example["only_b"] = [_label_ref(space, c, lang)
                                     for c in sorted(set(labels_j) - set(labels_i))]
            else:
                example["labels"] = [_label_ref(space, c, lang) for c in sorted(labels_i)]
            out[key].append(example)
    return out


def leakage_section(results: dict, train_texts: Sequence[str], other_texts: dict, *,
                    train_lines: Sequence[int] | None = None,
                    other_lines: Mapping[str, Sequence[int]] | None = None) -> dict:
    """Per other split: exact and near duplicates of training documents, with examples.

    ``train_lines`` (each training document's line in its file) and ``other_lines``
    (split name -> each of its documents' lines) are recorded beside the document
    numbers, which count from 0 and so named the line before (``line``,
    ``train_line``); a split absent from ``other_lines`` has no ``line``."""
    out = {}
    for name, result in results.items():
        texts = other_texts[name]
        lines = (other_lines or {}).get(name)
        leaking = np.flatnonzero(result["exact_mask"] | result["near_mask"])
        examples = []
        for i in leaking[:MAX_EXAMPLES]:
            nearest = int(result["nearest_train"][i])
            examples.append({"doc": int(i),
                             **({"line": int(lines[i])} if lines is not None else {}),
                             "text": clip(texts[i]),
                             "exact": bool(result["exact_mask"][i]),
                             "cosine": round(float(result["cosine"][i]), 4),
                             "train_doc": nearest,
                             **({"train_line": int(train_lines[nearest])}
                                if train_lines is not None and nearest >= 0 else {}),
                             "train_text": clip(train_texts[nearest]) if nearest >= 0
                             else None})
        out[name] = {key: value for key, value in result.items()
                     if not isinstance(value, np.ndarray)} | {"examples": examples}
    return out
