"""Exact and near-duplicate documents, conflicting labels among them, leakage between splits.

* **Exact duplicates**: equal texts after case folding and collapsing whitespace, in
  one Unicode normal form (NFC), full-width Latin and signs (¥, £) as their usual
  forms and without the invisible characters TF-IDF drops (soft hyphen, word joiner,
  byte-order mark), found by hashing (linear time).
* **Near duplicates**: pairs whose TF-IDF cosine reaches a threshold, every one of
  them, as comparing every pair would find them, but each text is searched once
  (exact copies collapsed) and only pairs that share one of their rarer features are
  compared (:func:`near_pairs`, prefix filtering as for leakage): sub-quadratic on
  groups of exact copies, with its work bounded (:data:`MAX_CANDIDATE_PAIRS`) on
  groups of many distinct near-identical texts.
* **Conflicts**: duplicate pairs whose label sets differ (the same text labelled two
  ways: at least one of them is wrong or incomplete).

What is counted does not depend on the order of the documents: a group of ``n`` exact
copies counts all its ``n (n - 1) / 2`` pairs, and its conflicting pairs are those
whose two copies have different label sets (``n (n - 1) / 2`` minus, per distinct label
set held by ``c`` copies, ``c (c - 1) / 2``; from counts, so linear). A near pair is
every pair of documents with different (normalized) texts whose cosine reaches the
threshold, counted once; a near pair of two texts held by ``a`` and ``b`` copies is
``a b`` pairs of documents, and its conflicting pairs are counted from each text's
counts of label sets. The pair list itself (:attr:`Duplicates.pairs`, for examples)
links each exact copy to its group's first document only, and holds the first
:data:`MAX_LISTED_NEAR_PAIRS` near pairs between the texts' first documents; groups are
joined over every near pair (:attr:`Duplicates.links`). "First" is in the audit's
content order where it gives one (:func:`find_duplicates`' ``order``), so that list and
its counts do not depend on the order of the documents either.
* **Leakage**: documents of another split (dev, test) that are exact or near
  duplicates of training documents, which inflate evaluation figures. Every near leak
  is found, as comparing each pair would find it, but only pairs that share one of
  their rarer features are compared (:func:`near_leaks`): the nearest-neighbour index,
  which stops reading features most documents share, missed short texts of common
  words ("Thank you!!!!!" for "Thank you!!!!").
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tagsmith._plural import plural_s
from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import INVISIBLE_IN_WORDS
from tagsmith.models.splits import check_order, groups_by_first
from tagsmith.progress import progress_bar

#: cosine from which two documents count as near duplicates (less COSINE_TOLERANCE)
NEAR_DUPLICATE_THRESHOLD = 0.9
#: slack of the threshold comparison: cosines are float32 sums, and two identical TF-IDF
#: rows of a few thousand terms come out up to ~1e-5 below 1 (more for longer rows), so a
#: threshold of 1 would miss them
COSINE_TOLERANCE = 1e-4


#: full-width ASCII (U+FF01..U+FF5E, as Chinese and Japanese input methods type Latin
#: letters and digits) to ASCII, the full-width signs (U+FFE0..U+FFE6: cent, pound, not,
#: macron, broken bar, yen, won) to their usual forms and the ideographic space to a
#: space: the width alone (Unicode's <wide> mappings), not NFKC, which also rewrites "…"
#: and "™" (and would regroup English corpora) and the macron as a space and a
#: combining macron
FULL_WIDTH_TO_ASCII = {**{code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)},
                       0xFFE0: 0xA2, 0xFFE1: 0xA3, 0xFFE2: 0xAC, 0xFFE3: 0xAF,
                       0xFFE4: 0xA6, 0xFFE5: 0xA5, 0xFFE6: 0x20A9, 0x3000: ord(" ")}


def normalized_text(text: str) -> str:
    """Case-folded text with runs of whitespace collapsed, in NFC, full-width Latin
    letters, digits, punctuation and signs as ASCII and their usual forms
    (:data:`FULL_WIDTH_TO_ASCII`) and without
    :data:`~tagsmith.features.tfidf.INVISIBLE_IN_WORDS` (what "exact" compares).

    A text and its copy with a decomposed "é" (files made on macOS) or a soft hyphen
    are the same text, with the same TF-IDF features: compared code point by code
    point they were only near duplicates (cosine 1), and under --no-near-duplicates
    neither a duplicate nor a leak into another split. So are "Ｆｏｏ ２０２６" and
    "Foo 2026", the same text typed with a Chinese or Japanese input method.

    >>> normalized_text("  Rain\\tToday ")
    'rain today'
    >>> normalized_text("CAFE\\u0301 ver\\xadsion") == normalized_text("café version")
    True
    >>> normalized_text("Ｆｏｏ\\u3000２０２６！"), normalized_text("wait… ™")
    ('foo 2026!', 'wait… ™')
    """
    if text.isascii():  # most texts: nothing to normalize but case and spaces
        return " ".join(text.casefold().split())
    text = INVISIBLE_IN_WORDS.sub("", text).translate(FULL_WIDTH_TO_ASCII)
    text = unicodedata.normalize("NFC", text).casefold()
    return " ".join(unicodedata.normalize("NFC", text).split())


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """A 64-bit hash of each normalized text (uint64; stable across processes)."""
    out = np.empty(len(texts), np.uint64)
    for i, text in enumerate(texts):
        digest = hashlib.blake2b(normalized_text(text).encode("utf-8"), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little")
    return out


#: the hash of an empty or whitespace-only text: such texts are no one's duplicates (they
#: are counted apart, as empty texts)
EMPTY_HASH = text_hashes([""])[0]


def exact_groups(hashes: np.ndarray) -> np.ndarray:
    """The audit's groups of exact duplicates: one id per document from its
    :func:`text_hashes` (this module's rule, broader than training's case and spacing:
    Unicode form, soft hyphens), a blank text no one's twin. The audit keeps each group
    out of its documents' kNN neighbours and in one calibration fold, and counts its
    distinct texts by them; whoever reproduces its scores (``benchmarks/
    audit_cooc_sweep.py``) groups with this rule too.

    >>> exact_groups(text_hashes(["ab", "A\u00adB", "c", "", " ", " AB"])).tolist()
    [0, 0, 1, 2, 3, 0]
    """
    return groups_of_hashes(hashes, EMPTY_HASH)


def groups_of_hashes(hashes: np.ndarray, blank_hash: np.integer | int) -> np.ndarray:
    """:func:`~tagsmith.pipeline.train.duplicate_groups` of texts from their ``hashes`` (one
    per text) under any rule, ``blank_hash`` that of the blank text (the audit groups by
    its own, broader rule of exact duplicates; training hashes its texts once for both
    uses). Here, below both, so that the audit need not reach up into the pipeline.

    >>> groups_of_hashes(np.array([7, 3, 7, 0, 0], np.uint64), 0).tolist()
    [0, 1, 0, 2, 3]
    """
    _, keys = np.unique(hashes, return_inverse=True)
    keys = keys.reshape(-1).astype(np.int64)
    blank = np.flatnonzero(hashes == blank_hash)
    keys[blank] = len(hashes) + np.arange(blank.size)  # ids no other text has
    return groups_by_first(keys)[0]  # numbered in the order the texts come


def exact_duplicate_pairs(hashes: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """``(m, 2)`` pairs ``(i, j)``, ``i < j``, linking each duplicate to its group's first
    document: in ``order`` (a permutation of the documents, the audit's
    :func:`~tagsmith.pipeline.audit.content_order`), else in the file.

    >>> exact_duplicate_pairs(np.array([5, 7, 5, 5], np.uint64)).tolist()
    [[0, 2], [0, 3]]
    >>> exact_duplicate_pairs(np.array([5, 7, 5, 5], np.uint64), np.array([2, 3, 0, 1])).tolist()
    [[0, 2], [2, 3]]
    """
    # a short or repeating order left documents out of their group's pairs, silently
    if order is None:
        order = np.argsort(hashes, kind="stable")
    else:
        order = check_order("order", order, len(hashes))
        order = order[np.argsort(hashes[order], kind="stable")]
    sorted_hashes = hashes[order]
    new_group = np.r_[True, sorted_hashes[1:] != sorted_hashes[:-1]]
    first = order[np.flatnonzero(new_group)][np.cumsum(new_group) - 1]
    dup = ~new_group
    pairs = np.column_stack([first[dup], order[dup]])
    pairs.sort(axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))].astype(np.int64)


def near_duplicate_pairs(rows: np.ndarray, sims: np.ndarray,
                         threshold: float = NEAR_DUPLICATE_THRESHOLD) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Pairs ``(i, j)`` (``i < j``, each once) with cosine >= ``threshold``, and the cosines.

    ``rows``/``sims`` (``n x m``): each document's nearest other documents (-1 = none).
    The comparison allows :data:`COSINE_TOLERANCE` for float32 rounding.

    >>> rows = np.array([[1, -1], [0, 2], [1, -1]])
    >>> sims = np.array([[0.95, 0], [0.95, 0.5], [0.5, 0]])
    >>> pairs, cos = near_duplicate_pairs(rows, sims)
    >>> pairs.tolist(), cos.round(2).tolist()
    ([[0, 1]], [0.95])
    """
    query = np.repeat(np.arange(rows.shape[0]), rows.shape[1]).reshape(rows.shape)
    keep = (rows >= 0) & (sims >= threshold - COSINE_TOLERANCE) & (rows != query)
    a, b = query[keep], rows[keep].astype(np.int64)
    pairs = np.column_stack([np.minimum(a, b), np.maximum(a, b)]).astype(np.int64)
    values = sims[keep].astype(np.float64)
    if len(pairs) == 0:
        return pairs.reshape(0, 2), values
    keys = pairs[:, 0] * rows.shape[0] + pairs[:, 1]
    _, first = np.unique(keys, return_index=True)
    return pairs[first], values[first]


def label_sets_differ(Y: sp.csr_matrix, pairs: np.ndarray) -> np.ndarray:
    """Per pair ``(i, j)``: do documents ``i`` and ``j`` have different label sets?"""
    if len(pairs) == 0:
        return np.zeros(0, bool)
    Y = sp.csr_matrix(Y != 0, dtype=np.int8)
    diff = Y[pairs[:, 0]] - Y[pairs[:, 1]]
    return np.asarray(abs(diff).sum(axis=1)).ravel() > 0


def label_set_hashes(Y: sp.csr_matrix) -> np.ndarray:
    """A 64-bit hash of each row's label set (``uint64``, one per document; equal sets,
    equal hashes, in any order of the ids).

    A row's hash is the sum of its label ids' 64-bit hashes; with a full avalanche mixer
    (splitmix64's finalizer) the sums collide about as rarely as random numbers (one
    multiplication and one shift kept enough of the ids' arithmetic that {55, 166} and
    {106, 115} summed to the same hash).

    >>> h = label_set_hashes(sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 0], [1, 1, 0]])))
    >>> bool(h[0] == h[2]), bool(h[0] != h[1])
    (True, True)
    """
    Y = sp.csr_matrix(Y)
    rows = np.repeat(np.arange(Y.shape[0]), np.diff(Y.indptr))
    mixed = Y.indices.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed ^= mixed >> np.uint64(31)
    row_hash = np.zeros(Y.shape[0], np.uint64)
    np.add.at(row_hash, rows, mixed)
    return row_hash


def exact_pair_counts(hashes: np.ndarray, Y: LabelMatrix) -> tuple[int, int]:
    """(pairs, conflicting pairs) over all pairs within each group of equal ``hashes``
    (documents whose hash is :data:`EMPTY_HASH` left out): a group of ``n`` has
    ``n (n - 1) / 2`` pairs, of which those between copies with equal label sets do not
    conflict. Whatever the order of the documents.

    >>> Y = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 1], [1, 0]]))
    >>> exact_pair_counts(np.array([5, 5, 5, 7], np.uint64), Y)
    (3, 2)
    >>> exact_pair_counts(np.array([5, 5, 5, 7], np.uint64), Y[[1, 2, 0, 3]])
    (3, 2)
    """
    rows = np.flatnonzero(hashes != EMPTY_HASH)
    _, group, sizes = np.unique(hashes[rows], return_inverse=True, return_counts=True)
    in_group = sizes[group] > 1
    rows, group = rows[in_group], group[in_group]
    n_pairs = int((sizes * (sizes - 1) // 2).sum())
    if not len(rows):
        return 0, 0
    Y = sp.csr_matrix(sp.csr_matrix(Y)[rows] != 0)
    Y.sum_duplicates()
    label_set = label_set_hashes(Y)
    _, same = np.unique(np.column_stack([group.astype(np.uint64), label_set]), axis=0,
                        return_counts=True)
    return n_pairs, n_pairs - int((same * (same - 1) // 2).sum())


@dataclass
class Duplicates:
    """Duplicate pairs within one corpus (``pairs``: ``m x 2``, ``kind``: 'exact'/'near')."""

    pairs: np.ndarray
    cosine: np.ndarray
    exact: np.ndarray  # bool per pair
    conflicting: np.ndarray  # bool per pair: label sets differ
    n_docs: int
    #: (pairs, conflicting pairs) over all pairs of exact copies (:func:`exact_pair_counts`);
    #: ``None``: counted from ``pairs``, where each copy meets its group's first only
    exact_counts: tuple[int, int] | None = None
    #: (pairs, conflicting pairs) over all near pairs, listed in ``pairs`` or not
    #: (:func:`near_pairs`); ``None``: counted from ``pairs``
    near_counts: tuple[int, int] | None = None
    #: more links between documents (``m x 2``) that join groups, from near pairs that
    #: are not in ``pairs`` (:func:`near_pairs`)
    links: np.ndarray | None = None
    #: the near search stopped at :data:`MAX_CANDIDATE_PAIRS`: its counts are lower
    #: bounds, and groups the pairs not compared would join are apart
    near_counts_lower_bound: bool = False

    def groups(self) -> np.ndarray:
        """Connected component of each document over the pairs (-1 for no duplicate)."""
        from scipy.sparse.csgraph import connected_components

        n = self.n_docs
        edges = self.pairs if self.links is None else np.vstack([self.pairs, self.links])
        graph = sp.csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])),
                              shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        involved = np.zeros(n, bool)
        involved[edges.ravel()] = True
        return np.where(involved, labels, -1)

    def _counts(self) -> tuple[int, int, int, int]:
        """(exact pairs, of them conflicting, near pairs, of them conflicting)."""
        exact, near = self.exact, ~self.exact
        n_exact, n_exact_conflicting = self.exact_counts or (
            int(exact.sum()), int((self.conflicting & exact).sum()))
        n_near, n_near_conflicting = self.near_counts or (
            int(near.sum()), int((self.conflicting & near).sum()))
        return n_exact, n_exact_conflicting, n_near, n_near_conflicting

    def __repr__(self) -> str:
        # one line at a prompt: the dataclass repr printed every pair, cosine and flag
        n_exact, n_exact_conflicting, n_near, n_near_conflicting = self._counts()
        return (f"Duplicates(n_docs={self.n_docs}, n_exact_pairs={n_exact}, "
                f"n_near_pairs={n_near}, "
                f"n_conflicting_pairs={n_exact_conflicting + n_near_conflicting}, "
                f"n_listed_pairs={len(self.pairs)})")

    def summary(self) -> dict:
        groups = self.groups()
        n_exact, n_exact_conflicting, n_near, n_near_conflicting = self._counts()
        return {
            "n_exact_pairs": n_exact, "n_near_pairs": n_near,
            "n_docs_in_duplicate_groups": int((groups >= 0).sum()),
            "n_duplicate_groups": int(len(np.unique(groups[groups >= 0]))),
            "n_conflicting_pairs": n_exact_conflicting + n_near_conflicting,
            "n_conflicting_exact_pairs": n_exact_conflicting,
            "near_counts_lower_bound": self.near_counts_lower_bound,
        }


def find_duplicates(texts: Sequence[str], Y: sp.csr_matrix,
                    neighbors: tuple[np.ndarray, np.ndarray] | None,
                    *, threshold: float = NEAR_DUPLICATE_THRESHOLD,
                    hashes: np.ndarray | None = None,
                    features: FeatureMatrix | None = None,
                    feature_rows: np.ndarray | None = None,
                    order: np.ndarray | None = None,
                    show_progress: bool = False) -> Duplicates:
    """Exact duplicates of ``texts`` and, with ``features`` (their TF-IDF rows) or
    ``neighbors``, near duplicates.

    ``features``: every near pair, counted exactly (:func:`near_pairs`; ``neighbors``
    are not needed then). ``neighbors`` alone (``rows``/``sims``, each document's
    nearest others, :func:`near_duplicate_pairs`): the near pairs among them only (a
    group of more near-identical texts than the neighbours searched loses pairs, and a
    short text of common words may miss its near duplicates). ``show_progress``: the
    search of ``features`` counts the texts searched (:func:`near_pairs`).
    ``feature_rows``: the row of ``features`` that holds each text's (``features`` in
    another order, as the audit's are in content order; default: row ``i`` is text
    ``i``); the result is the one of ``features`` put in the texts' order, without that
    copy of the whole matrix. ``order`` (a permutation of the documents, the audit's
    :func:`~tagsmith.pipeline.audit.content_order`): the document of each text that
    stands for it (each exact copy is paired with it, near pairs join it) is the first
    in that order, and the near search (so the pairs listed up to
    :data:`MAX_LISTED_NEAR_PAIRS`) goes along it; without, the first in the file, so
    the same corpus shuffled listed other pairs (``n_conflict_rows`` 57 or 78 of 8,080
    GoEmotions documents).

    >>> Y = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 0]]))
    >>> dups = find_duplicates(["Rain today", "rain  today", "Sun"], Y, None)
    >>> dups.pairs.tolist(), dups.conflicting.tolist()
    ([[0, 1]], [True])
    """
    hashes = text_hashes(texts) if hashes is None else hashes
    empty = hashes == EMPTY_HASH
    # order is checked (a permutation of the documents) by exact_duplicate_pairs and
    # near_pairs, each of which refuses it alike: a third check here sorted it again
    exact_pairs = exact_duplicate_pairs(hashes, order)
    exact_pairs = exact_pairs[~empty[exact_pairs[:, 0]]]  # a group is empty as a whole
    near_counts = links = None
    lower_bound = False
    if features is not None:
        found = near_pairs(features, hashes, Y, threshold, rows=feature_rows, order=order,
                           show_progress=show_progress)
        near, cosine, links = found.pairs, found.cosine, found.links
        near_counts, lower_bound = (found.n_pairs, found.n_conflicting), not found.complete
    elif neighbors is not None:
        near, cosine = near_duplicate_pairs(*neighbors, threshold)
    else:
        near, cosine = np.zeros((0, 2), np.int64), np.zeros(0)
    # two equal texts are already linked through their exact group's first document (a
    # third copy's neighbours include the second one, at cosine 1): not a near pair
    keep = ~(empty[near[:, 0]] | empty[near[:, 1]]) & (hashes[near[:, 0]] != hashes[near[:, 1]])
    # each pair's documents in the file's order, as the exact pairs' (the search's follow
    # its texts, in content order with ``order``)
    near, cosine = np.sort(near[keep], axis=1), cosine[keep]
    pairs = np.vstack([exact_pairs, near]) if len(near) else exact_pairs
    cos = np.r_[np.ones(len(exact_pairs)), cosine]
    is_exact = np.r_[np.ones(len(exact_pairs), bool), np.zeros(len(near), bool)]
    if len(pairs):
        keys = pairs[:, 0] * max(len(texts), 1) + pairs[:, 1]
        _, first = np.unique(keys, return_index=True)  # an exact pair is also near: keep one
        pairs, cos, is_exact = pairs[first], cos[first], is_exact[first]
    pairs = pairs.reshape(-1, 2)
    return Duplicates(pairs, cos, is_exact, label_sets_differ(Y, pairs), len(texts),
                      exact_counts=exact_pair_counts(hashes, Y), near_counts=near_counts,
                      links=links, near_counts_lower_bound=lower_bound)


#: candidate pairs verified per block of :func:`near_leaks` (bounds its memory)
LEAK_BLOCK_PAIRS = 2_000_000


def _prefix_rows(X: sp.csr_matrix, rank: np.ndarray, bound: float) -> sp.csr_matrix:
    """Each row's *prefix*, over the feature ids ``rank`` gives (rarest first): its
    rarest entries, up to where the norm of the entries left falls below ``bound``
    (the rest, the row's most common features, form its suffix). Values set to 1: only
    who meets whom matters."""
    from tagsmith.models._knn_kernels import prefix_mask_kernel

    ranked = sp.csr_matrix((X.data.copy(), rank[X.indices], X.indptr.copy()), shape=X.shape)
    ranked.has_sorted_indices = False
    ranked.sort_indices()  # each row rarest first
    keep = prefix_mask_kernel(ranked.indptr, ranked.data, bound)
    indptr = np.r_[0, np.cumsum(keep)][X.indptr]
    return sp.csr_matrix((np.ones(int(indptr[-1]), np.float32), ranked.indices[keep],
                          indptr), shape=X.shape)


#: near pairs listed at most (:attr:`Duplicates.pairs`, for examples); counts and groups
#: take every pair in, listed or not
MAX_LISTED_NEAR_PAIRS = 1_000_000
#: candidate pairs compared at most within one corpus (:func:`near_pairs`): beyond them
#: the near counts are lower bounds (``near_counts_lower_bound`` in the summary)
MAX_CANDIDATE_PAIRS = 500_000_000


@dataclass
class NearPairs:
    """What :func:`near_pairs` found: the first near pairs (``pairs``, ``i < j``, at most
    :data:`MAX_LISTED_NEAR_PAIRS`) and their cosines, every near pair counted
    (``n_pairs``, of which ``n_conflicting`` between different label sets), ``links``
    that join the groups all pairs make (each text linked to its group's first text),
    the candidate pairs compared and whether every candidate was (``complete``)."""

    pairs: np.ndarray
    cosine: np.ndarray
    n_pairs: int
    n_conflicting: int
    links: np.ndarray
    n_candidates: int
    complete: bool

    def __repr__(self) -> str:
        # one line at a prompt: the dataclass repr printed every listed pair and link
        return (f"NearPairs(n_pairs={self.n_pairs}, n_conflicting={self.n_conflicting}, "
                f"n_listed={len(self.pairs)}, n_candidates={self.n_candidates}, "
                f"complete={self.complete})")


def _group_label_sets(group: np.ndarray, Y, n_groups: int) -> tuple[np.ndarray, np.ndarray,
                                                                  sp.csr_matrix]:
    """Per group of documents (``group``: each document's, ``0..n_groups-1``): the hash
    of one of its label sets, whether its documents hold several, and how many of its
    documents hold each distinct label set (groups x sets, int64)."""
    Y = sp.csr_matrix(sp.csr_matrix(Y) != 0)
    Y.sum_duplicates()
    pairs, counts = np.unique(np.column_stack([group.astype(np.uint64), label_set_hashes(Y)]),
                              axis=0, return_counts=True)
    owner = pairs[:, 0].astype(np.int64)
    some_set = np.zeros(n_groups, np.uint64)
    some_set[owner] = pairs[:, 1]
    _, set_id = np.unique(pairs[:, 1], return_inverse=True)
    counts_matrix = sp.csr_matrix((counts.astype(np.int64), (owner, set_id.ravel())),
                                  shape=(n_groups, len(pairs)))
    return some_set, np.bincount(owner, minlength=n_groups) > 1, counts_matrix


def near_pairs(X: FeatureMatrix, hashes: np.ndarray, Y: LabelMatrix,
               threshold: float = NEAR_DUPLICATE_THRESHOLD, *,
               rows: np.ndarray | None = None,
               order: np.ndarray | None = None,
               show_progress: bool = False) -> NearPairs:
    """Every near pair within one corpus (features ``X``, sparse or dense): two
    documents with different (normalized) texts, neither empty, whose cosine reaches
    ``threshold`` less :data:`COSINE_TOLERANCE`, counted exactly, as comparing every
    pair would.

    Exact copies are collapsed first: each text is searched once (its first document),
    and a near pair of two texts held by ``a`` and ``b`` documents is ``a b`` pairs of
    documents, of which those whose two label sets differ conflict (from each text's
    counts of label sets, so a text copied 50,000 times costs one search). The texts
    are self-joined by prefix filtering as in :func:`near_leaks` (only pairs sharing one
    of their rarer features are compared, each unordered pair once, a block of about
    :data:`LEAK_BLOCK_PAIRS` at a time); groups are joined by union-find as pairs are
    verified, and only the first :data:`MAX_LISTED_NEAR_PAIRS` are kept. Past
    :data:`MAX_CANDIDATE_PAIRS` candidate pairs (tens of thousands of distinct
    near-identical texts) the search stops: its counts are then lower bounds
    (``complete`` False). ``show_progress``: a bar (``duplicates``) counts the distinct
    texts searched, block by block (the audit's duplicates step, 14-31 s at 85k
    yso-finna-en documents, said nothing while it ran). ``rows``: the row of ``X`` that
    holds document ``i``'s features (default ``i``): only the searched texts' rows are
    taken, so ``X`` in another order needs no reordered copy of the whole matrix.
    ``order`` (a permutation of the documents, the audit's
    :func:`~tagsmith.pipeline.audit.content_order`): each text is searched as its first
    document in that order, the texts in that order (default: the file's).

    >>> X = np.array([[1.0, 0.0], [0.99, 0.1], [1.0, 0.02], [0.0, 1.0], [1.0, 0.02]])
    >>> Y = sp.csr_matrix(np.array([[1], [1], [0], [1], [1]]))
    >>> found = near_pairs(X, np.array([1, 2, 3, 4, 3], np.uint64), Y)
    >>> sorted(found.pairs.tolist()), found.n_pairs, found.n_conflicting
    ([[0, 1], [0, 2], [1, 2]], 5, 2)
    >>> found.links.tolist()  # documents 1 and 2 (and so 4) join document 0's group
    [[0, 1], [0, 2]]
    """
    docs = np.flatnonzero(hashes != EMPTY_HASH)
    if order is not None:  # the documents in that order: the first of each text in it
        # a short or repeating order searched some texts twice and others never, silently
        order = check_order("order", order, len(hashes))
        docs = order[hashes[order] != EMPTY_HASH]
    _, first, group, sizes = np.unique(hashes[docs], return_index=True, return_inverse=True,
                                       return_counts=True)
    by_first = np.argsort(first, kind="stable")  # texts in the order of their first document
    reps, sizes = docs[first[by_first]], sizes[by_first].astype(np.int64)
    renumber = np.empty(len(by_first), np.int64)
    renumber[by_first] = np.arange(len(by_first))
    group = renumber[group.ravel()]
    with progress_bar(total=len(reps), desc="duplicates", unit="text",
                      enabled=show_progress) as bar:
        some_set, mixed, set_counts = _group_label_sets(group, sp.csr_matrix(Y)[docs],
                                                        len(reps))
        # the representatives searched against themselves, as a split against training
        # documents (only the representatives' rows copied)
        index = NearLeakIndex(sp.csr_matrix(X)[reps if rows is None else rows[reps]],
                              threshold, keep_prefix=True)
        return _near_pairs_found(index, reps, sizes, some_set, mixed, set_counts, bar)


def _near_pairs_found(index: NearLeakIndex, reps: np.ndarray, sizes: np.ndarray,
                      some_set: np.ndarray, mixed: np.ndarray, set_counts: sp.csr_matrix,
                      bar) -> NearPairs:
    """:func:`near_pairs`' self-join of the texts ``reps`` (their ``index``), counted
    on ``bar`` as it goes."""
    from tagsmith.models._knn_kernels import union_pairs_kernel

    parent = np.arange(len(reps), dtype=np.int64)
    listed: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    n_listed = n_pairs = n_conflicting = n_candidates = 0
    complete = True
    for a, b in index.candidate_blocks(counted=bar.update):
        upper = b > a  # each unordered pair once; a text and itself is no near pair
        a, b = a[upper], b[upper]
        if n_candidates + len(a) > MAX_CANDIDATE_PAIRS:
            complete = False
            break
        n_candidates += len(a)
        a, b, sims = index.near(None, a, b)
        weight = sizes[a] * sizes[b]
        same = np.where(some_set[a] == some_set[b], weight, 0)
        either_mixed = np.flatnonzero(mixed[a] | mixed[b])
        if len(either_mixed):  # copies with several label sets: the pairs of equal sets
            same[either_mixed] = np.asarray(set_counts[a[either_mixed]].multiply(
                set_counts[b[either_mixed]]).sum(axis=1)).ravel()
        n_pairs += int(weight.sum())
        n_conflicting += int((weight - same).sum())
        union_pairs_kernel(parent, a, b)
        take = min(len(a), MAX_LISTED_NEAR_PAIRS - n_listed)
        if take > 0:
            listed.append((reps[a[:take]], reps[b[:take]], sims[:take]))
            n_listed += take
    while True:  # every text's root (the first text of its group)
        root = parent[parent]
        if np.array_equal(root, parent):
            break
        parent = root
    joined = parent != np.arange(len(reps))
    links = np.column_stack([reps[parent[joined]], reps[joined]]).astype(np.int64)
    pairs = (np.column_stack([np.concatenate([p[0] for p in listed]),
                              np.concatenate([p[1] for p in listed])]).astype(np.int64)
             if listed else np.zeros((0, 2), np.int64))
    cosine = np.concatenate([p[2] for p in listed]) if listed else np.zeros(0)
    return NearPairs(pairs, cosine, n_pairs, n_conflicting, links, n_candidates, complete)


class NearLeakIndex:
    """The training side of :func:`near_leaks`, built once and searched with each other
    split (dev, test): its rows normalised, its features ranked and its prefixes
    transposed, work that does not depend on the split searched.

    >>> train = sp.csr_matrix(np.array([[1.0, 0, 0], [0.1, 1, 0], [1, 1, 0]]))
    >>> index = NearLeakIndex(train)
    >>> [index.search(sp.csr_matrix(row))[0].tolist() for row in ([[0.0, 1, 0.05]],
    ...                                                           [[0.0, 0, 1]])]
    [[1], [-1]]
    """

    def __init__(self, train_X: FeatureMatrix, threshold: float = NEAR_DUPLICATE_THRESHOLD, *,
                 keep_prefix: bool = False, rows: np.ndarray | None = None) -> None:
        """``rows``: the training document each row of ``train_X`` holds (default: row
        ``i`` is document ``i``; the audit's features are in content order): the search
        names those documents, and of equal cosines the first document, as it would
        with ``train_X`` put in their order (a copy of the whole matrix)."""
        from tagsmith.models.knn import l2_normalize

        if rows is not None and len(rows) != train_X.shape[0]:
            raise InvalidParameterError("rows", f"one document per row of train_X "
                                        f"({train_X.shape[0]:,})", f"{len(rows):,}")
        self._rows = rows

        train = l2_normalize(sp.csr_matrix(train_X))
        train.sort_indices()
        self.threshold = threshold
        self.n_features = train.shape[1]
        self._cut = threshold - COSINE_TOLERANCE
        # the suffix norm stays a little below the cut: float32 rows and sums are off by
        # far less than 1e-5
        self._bound = max(self._cut - 1e-5, 0.0)
        self._rank = np.empty(train.shape[1], np.int32)
        self._rank[np.argsort(np.bincount(train.indices, minlength=train.shape[1]),
                              kind="stable")] = np.arange(train.shape[1], dtype=np.int32)
        prefix = _prefix_rows(train, self._rank, self._bound)
        self._prefix_t = prefix.T.tocsr()
        # the training rows' own prefixes, for a self-join (:func:`near_pairs`)
        self._prefix = prefix if keep_prefix else None
        # per prefix feature, how many training rows hold it in their prefix
        self._posting = np.diff(self._prefix_t.indptr).astype(np.float64)
        self._train_arrays = (train.indptr.astype(np.int64),
                              train.indices.astype(np.int32, copy=False), train.data)

    def candidate_blocks(self, other_prefix: sp.csr_matrix | None = None, *,
                         counted: Callable[[int], object] | None = None
                         ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The pairs ``(a, b)`` (row of the other side, training row) whose prefixes share
        a feature, a block of about :data:`LEAK_BLOCK_PAIRS` at a time (``a`` ascending
        across blocks): every pair that can reach the threshold is among them.
        ``other_prefix`` None: the training rows against themselves (built with
        ``keep_prefix``). ``counted``: called with the number of rows of the other side
        each block covered, once the caller has taken the block (a progress bar's
        ``update``)."""
        if other_prefix is None:
            if self._prefix is None:
                raise ValueError("a self-join needs NearLeakIndex(..., keep_prefix=True)")
            other_prefix = self._prefix
        # an upper bound of each row's candidate pairs (more where prefix features repeat)
        estimate = np.cumsum(other_prefix @ self._posting)
        start = 0
        while start < other_prefix.shape[0]:
            done = estimate[start - 1] if start else 0.0
            stop = max(start + 1, int(np.searchsorted(estimate, done + LEAK_BLOCK_PAIRS,
                                                      side="right")))
            pairs = (other_prefix[start:stop] @ self._prefix_t).tocoo()
            yield pairs.row.astype(np.int64) + start, pairs.col.astype(np.int64)
            if counted is not None:
                counted(stop - start)
            start = stop

    def near(self, other_arrays: tuple | None, a: np.ndarray, b: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Of the candidate pairs ``(a, b)``, those whose exact cosine (``other_arrays``:
        the other side's normalised CSR indptr, indices, data; None: the training rows')
        reaches the threshold, with their cosines (a cosine of 0 never does)."""
        from tagsmith.models._knn_kernels import pair_dots_kernel

        other = self._train_arrays if other_arrays is None else other_arrays
        sims = pair_dots_kernel(other[0], other[1], other[2], *self._train_arrays, a, b,
                                self.n_features)
        keep = (sims >= self._cut) & (sims > 0)
        return a[keep], b[keep], sims[keep]

    def search(self, other_X: FeatureMatrix) -> tuple[np.ndarray, np.ndarray]:
        """``(nearest, cosine)`` per row of ``other_X`` (:func:`near_leaks`)."""
        from tagsmith.models.knn import l2_normalize

        other = l2_normalize(sp.csr_matrix(other_X))
        if other.shape[1] != self.n_features:
            raise InvalidParameterError("other_X", f"features with {self.n_features:,} "
                                        f"column{plural_s(self.n_features)} like the training "
                                        "ones",
                                        f"{other.shape[1]:,} column{plural_s(other.shape[1])}")
        other.sort_indices()
        nearest = np.full(other.shape[0], -1, np.int64)
        cosine = np.zeros(other.shape[0])
        other_arrays = (other.indptr.astype(np.int64),
                        other.indices.astype(np.int32, copy=False), other.data)
        for a, b in self.candidate_blocks(_prefix_rows(other, self._rank, self._bound)):
            a, b, sims = self.near(other_arrays, a, b)
            if self._rows is not None:  # the training documents the rows hold
                b = self._rows[b]
            best = np.lexsort((b, -sims, a))  # per query: highest cosine, then first row
            first = best[np.r_[True, a[best][1:] != a[best][:-1]]] if len(best) else best
            nearest[a[first]], cosine[a[first]] = b[first], sims[first]
        return nearest, cosine


def near_leaks(train_X: FeatureMatrix | NearLeakIndex, other_X: FeatureMatrix,
               threshold: float = NEAR_DUPLICATE_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``other_X``: the row of ``train_X`` of highest cosine among those
    reaching ``threshold`` (less :data:`COSINE_TOLERANCE`; the first such row on ties)
    and that cosine, or ``-1`` and ``0`` when none does (nor does a cosine of 0 count).

    Exact, as comparing every pair would be, without comparing every pair (prefix
    filtering): features are ranked rarest first by their training document frequency,
    and each row's *prefix* is its rarest entries up to where the norm of the entries
    left (its *suffix*, the most common features) falls below the threshold ``t``. Two
    rows whose prefixes share no feature have a cosine below ``t``: with ``b`` the
    first rank of the suffix that starts earlier (say ``q``'s), the features ranked
    below ``b`` are in both prefixes, so they add nothing, and those from ``b`` on add
    at most ``|q_suffix| |d| < t`` (Cauchy-Schwarz). So only the pairs that share a
    prefix feature are compared (exactly, from the whole rows), a block of about
    :data:`LEAK_BLOCK_PAIRS` at a time. Features most documents share ("the", "you")
    are in a prefix only where a row holds little else, so short texts of common words
    are compared with one another only, and no near pair is skipped because its common
    words were (the nearest-neighbour index stops reading features held by more than
    ``max_posting`` documents: it missed "Thank you!!!!!" for "Thank you!!!!").
    Searching several splits against one training set, build its
    :class:`NearLeakIndex` once.

    >>> train = sp.csr_matrix(np.array([[1.0, 0, 0], [0.1, 1, 0], [1, 1, 0]]))
    >>> nearest, cosine = near_leaks(train, sp.csr_matrix(np.array([[0.0, 1, 0.05],
    ...                                                          [0, 0, 1]])))
    >>> nearest.tolist(), cosine.round(3).tolist()
    ([1, -1], [0.994, 0.0])
    """
    return NearLeakIndex(train_X, threshold).search(other_X)


def leakage(train_hashes: np.ndarray, other_texts: Sequence[str], *,
            train_X: FeatureMatrix | NearLeakIndex | None = None,
            other_X: FeatureMatrix | None = None,
            featurize: Callable[[list[str]], FeatureMatrix] | None = None,
            threshold: float = NEAR_DUPLICATE_THRESHOLD) -> dict:
    """How many documents of another split duplicate a training document.

    ``train_X`` (the training features, or their :class:`NearLeakIndex` at
    ``threshold``, built once for several splits) and ``other_X`` (the other split's
    features, from the same featurizer) enable near duplicates, every one of them
    (:func:`near_leaks`). In place of ``other_X``, ``featurize`` (that featurizer's
    ``transform``) featurizes only the texts searched: an exact duplicate is not (its
    training document is its hash match), nor a text that repeats an earlier one of the
    split (it has that one's nearest document and cosine), the same result as
    featurizing and searching every text, less work (a split that copies training
    texts: 112 of the Reuters slice's 771 dev stories). Returns counts and, per
    leaking document, its training document (for an exact duplicate the first training
    document with its text, cosine 1; for a near one the most similar training
    document) and cosine (-1 and 0 for a document that leaks nothing), and
    ``near_duplicate_threshold``: ``threshold``, or ``None`` when near duplicates were
    not looked for (no ``train_X``; ``n_near`` 0 then says nothing). Empty texts leak
    nothing.

    >>> result = leakage(text_hashes(["Rain", "Sun", "sun", ""]), ["SUN", " ", "Fog"])
    >>> result["exact_mask"].tolist(), result["nearest_train"].tolist()
    ([True, False, False], [1, -1, -1])
    """
    other_hashes = text_hashes(other_texts)
    candidates = np.flatnonzero(train_hashes != EMPTY_HASH)
    unique, first = np.unique(train_hashes[candidates], return_index=True)
    at = np.minimum(np.searchsorted(unique, other_hashes), max(len(unique) - 1, 0))
    other_empty = other_hashes == EMPTY_HASH
    exact = ((unique[at] == other_hashes) if len(unique) else np.zeros(len(other_texts), bool))
    exact &= ~other_empty
    near = np.zeros(len(other_texts), bool)
    nearest = np.full(len(other_texts), -1, np.int64)
    cosine = np.zeros(len(other_texts))
    if other_X is not None and featurize is not None:
        raise InvalidParameterError("featurize", "None where other_X is given (one or the "
                                    "other)", "a function")
    if other_X is not None and other_X.shape[0] != len(other_texts):
        raise InvalidParameterError("other_X", f"one row per text of the split "
                                    f"({len(other_texts):,})", f"{other_X.shape[0]:,} rows")
    searched = train_X is not None and (other_X is not None or featurize is not None)
    if searched and len(other_texts):
        index = train_X if isinstance(train_X, NearLeakIndex) else NearLeakIndex(
            train_X, threshold)
        if index.threshold != threshold:
            raise InvalidParameterError("threshold", f"the threshold of the index given as "
                                        f"train_X ({index.threshold:g})", threshold)
        # each text that is no exact duplicate searched; with featurize, each distinct
        # one once (its first row): equal texts get equal features, so the same nearest
        # document and cosine (rows of a given other_X are searched as they are)
        source = np.full(len(other_texts), -1, np.int64)  # per row, the searched one it is
        if featurize is None:
            own = np.flatnonzero(~exact)  # the rows searched
            source[own] = np.arange(len(own))
        else:
            # keyed by the raw text, not the exact-leak hashes: those fold case and
            # spacing, and texts equal only so may be featurized differently
            first_row: dict[str, int] = {}
            rows: list[int] = []
            for i in np.flatnonzero(~exact).tolist():
                source[i] = first_row.setdefault(other_texts[i], len(rows))
                if source[i] == len(rows):
                    rows.append(i)
            own = np.asarray(rows, np.int64)
        if len(own):
            if featurize is None:
                searched_X = sp.csr_matrix(other_X)[own]
            else:
                searched_X = featurize([other_texts[i] for i in own.tolist()])
                if searched_X.shape[0] != len(own):
                    raise InvalidParameterError(
                        "featurize", f"one row per text it is given ({len(own):,})",
                        f"{searched_X.shape[0]:,} rows")
            found, sims = index.search(searched_X)
            copies = source >= 0
            nearest[copies], cosine[copies] = found[source[copies]], sims[source[copies]]
        near = (nearest >= 0) & ~exact & ~other_empty
    # an exact duplicate's training document is its hash match, not the nearest neighbour
    nearest[exact] = candidates[first[at[exact]]]
    cosine[exact] = 1.0
    n = max(len(other_texts), 1)
    return {"n_docs": len(other_texts), "n_exact": int(exact.sum()),
            "n_near": int(near.sum()), "fraction_exact": round(float(exact.sum()) / n, 5),
            "fraction_near": round(float(near.sum()) / n, 5),
            "near_duplicate_threshold": float(threshold) if searched else None,
            "exact_mask": exact, "near_mask": near, "nearest_train": nearest,
            "cosine": cosine}
