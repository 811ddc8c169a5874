"""Compiled per-pair kernels of the label audit (numba, run without the GIL in threads).

Each kernel scores a batch of (document, label) pairs given as two int64 arrays, with
leave-one-out corrections for pairs whose label is given to the document, so a
document's own label never vouches for itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tagsmith._numba import njit
from tagsmith.models._knn_kernels import heap_drain, heap_offer


@njit(nogil=True, cache=True)
def _find(indices, start, end, value):
    """Position of ``value`` in the sorted ``indices[start:end]``, or -1."""
    lo, hi = start, end
    while lo < hi:
        mid = (lo + hi) // 2
        if indices[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    if lo < end and indices[lo] == value:
        return lo
    return -1


@njit(nogil=True, cache=True)
def topk_position_kernel(topk_indices, rows, labels, out):
    """Flat position ``row * k + j`` of each pair in the top-k, or -1 (a scan of k ids)."""
    k = topk_indices.shape[1]
    for p in range(len(rows)):
        row, label = rows[p], labels[p]
        out[p] = -1
        for j in range(k):
            if topk_indices[row, j] == label:
                out[p] = row * k + j
                break


@njit(nogil=True, cache=True)
def csr_contains_kernel(indptr, indices, rows, labels, out):
    """Whether each pair is a nonzero of a CSR matrix with sorted column ids."""
    for p in range(len(rows)):
        out[p] = _find(indices, indptr[rows[p]], indptr[rows[p] + 1], labels[p]) >= 0


@njit(nogil=True, cache=True)
def centroid_cosine_kernel(x_indptr, x_indices, x_data, m_indptr, m_indices, m_data, m_norm2,
                           rows, labels, given, out):
    """Cosine between document ``rows[j]`` and the centroid of label ``labels[j]``.

    Documents are L2-normalised CSR rows, centroids the (pruned) sums of their
    labels' documents, CSR with sorted column ids and squared norms ``m_norm2``. For
    a given pair the document is taken out of its label's centroid first (on the
    features the centroid kept).
    """
    for j in range(len(rows)):
        row, label = rows[j], labels[j]
        m_start, m_end = m_indptr[label], m_indptr[label + 1]
        dot = 0.0
        own = 0.0
        for p in range(x_indptr[row], x_indptr[row + 1]):
            at = _find(m_indices, m_start, m_end, x_indices[p])
            if at >= 0:
                dot += x_data[p] * m_data[at]
                own += x_data[p] * x_data[p]
        if given[j]:
            num = dot - own
            norm2 = m_norm2[label] - 2.0 * dot + own
        else:
            num = dot
            norm2 = m_norm2[label]
        out[j] = num / np.sqrt(norm2) if norm2 > 1e-12 else 0.0


@njit(nogil=True, cache=True)
def cooccurrence_kernel(y_indptr, y_indices, c_indptr, c_indices, c_data, counts, seed, rows,
                        labels, given, out_best, out_others):
    """How strongly a document's other given labels imply label ``labels[j]``.

    ``out_best[j]`` is ``max P(label | other)`` over the document's other given
    labels, from the co-occurrence counts ``C`` (CSR, labels x labels, sorted ids)
    and label counts, leaving the document itself out; ``out_others[j]`` counts the
    other given labels (0: no evidence either way).

    ``seed >= 0`` makes the evidence symmetric: a pair not given also compares only
    ``g - 1`` of the document's ``g`` given labels, leaving out one picked by a hash of
    ``(seed, row, label)``, as a given pair leaves out its own label. Otherwise a given
    pair sees one label fewer than a pair not given, and the lift tells the two apart
    by that alone (see :class:`tagsmith.audit.evidence.PairEvidence`).
    """
    for j in range(len(rows)):
        row, label = rows[j], labels[j]
        start, end = y_indptr[row], y_indptr[row + 1]
        skip = -1
        if seed >= 0 and not given[j] and end > start:
            h = (np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
                 + np.uint64(row) * np.uint64(0xBF58476D1CE4E5B9)
                 + np.uint64(label) * np.uint64(0x94D049BB133111EB))
            h ^= h >> np.uint64(31)
            h *= np.uint64(0xD6E8FEB86659FD93)
            h ^= h >> np.uint64(32)
            skip = start + np.int64(h % np.uint64(end - start))
        best = 0.0
        others = 0
        for p in range(start, end):
            other = y_indices[p]
            if other == label or p == skip:
                continue
            others += 1
            at = _find(c_indices, c_indptr[other], c_indptr[other + 1], label)
            together = c_data[at] if at >= 0 else 0.0
            if given[j]:
                together -= 1.0
            rest = counts[other] - 1.0
            if rest > 0.0 and together > 0.0:
                implied = together / rest
                if implied > best:
                    best = implied
        out_best[j] = best
        out_others[j] = others


def run_in_threads(kernel: Callable[..., object], shared: tuple, per_pair: tuple,
                   n_threads: int) -> None:
    """``kernel(*shared, *per_pair)`` on contiguous blocks of the per-pair arrays, in threads.

    ``per_pair`` are the 1-D pair and output arrays (one length), sliced per block.
    """
    from concurrent.futures import ThreadPoolExecutor

    n_items = len(per_pair[0])
    n_threads = max(1, min(n_threads, n_items // 10_000 + 1))
    bounds = np.linspace(0, n_items, n_threads + 1).astype(np.int64)

    def block(t: int) -> None:
        start, end = bounds[t], bounds[t + 1]
        kernel(*shared, *[array[start:end] for array in per_pair])

    if n_threads == 1:
        block(0)
        return
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        list(pool.map(block, range(n_threads)))


@njit(nogil=True, cache=True)
def cooccurrence_blend_kernel(y_indptr, y_indices, c_indptr, c_indices, c_data, inv, weight,
                              n_labels, rows, topk_indices, topk_scores, out_indices,
                              out_scores):
    """The top-k of ``knn + weight * cooc`` for documents ``rows`` (one per top-k row).

    ``cooc(d, c)``: the mean over the document's other given labels ``a`` of the
    leave-one-out ``P(c | a)`` = ``(C[a, c] - [c given to d]) * inv[a]``, ``inv[a]`` =
    ``1 / (count[a] - 1)`` (0 below 2), from the co-occurrence counts ``C`` (CSR, labels
    x labels, sorted ids; its diagonal is never read). The mean runs over all of ``d``'s
    ``g`` given labels for a label not given to it, over the ``g - 1`` others for a
    given one. The top-k holds the ``k`` largest blended scores of the kNN top-k's
    labels and the other labels scored > 0, ties smaller id first; the rest of a row is
    padding (id -1, score -inf).

    Scratch: one dense accumulator over labels (one array: a second one pushed the walk
    out of the cache, 4x slower on yso-finna-en). The given labels' co-occurrence rows
    are walked once to accumulate (every term > 0, so every label touched is non-zero)
    and once to take each sum and clear it; the given labels (their sums exactly, by
    search, with the document's own co-occurrence out) and the kNN entries go first.
    """
    k = out_indices.shape[1]
    acc = np.zeros(n_labels)
    given = np.zeros(n_labels, np.bool_)
    heap_values = np.empty(k)
    heap_labels = np.empty(k, np.int64)
    for j in range(len(rows)):
        row = rows[j]
        start, end = y_indptr[row], y_indptr[row + 1]
        g = end - start
        scale_given = weight / max(g - 1, 1)
        scale_other = weight / max(g, 1)
        for p in range(start, end):
            a = y_indices[p]
            share = inv[a]
            if share == 0.0:
                continue
            for q in range(c_indptr[a], c_indptr[a + 1]):
                c = c_indices[q]
                if c != a:  # C's diagonal (a's own count) is no co-occurrence
                    acc[c] += c_data[q] * share
        for p in range(start, end):  # given labels: leave-one-out, exactly
            c = y_indices[p]
            given[c] = True
            raw = 0.0
            for o in range(start, end):
                a = y_indices[o]
                if a == c or inv[a] == 0.0:
                    continue
                at = _find(c_indices, c_indptr[a], c_indptr[a + 1], c)
                if at >= 0:
                    raw += (c_data[at] - 1.0) * inv[a]
            acc[c] = scale_given * max(raw, 0.0)
        size = 0
        for i in range(topk_indices.shape[1]):
            c = topk_indices[j, i]
            if c < 0:
                continue
            value = topk_scores[j, i] + (acc[c] if given[c] else scale_other * acc[c])
            acc[c] = 0.0
            given[c] = False  # taken
            # kept whatever its score, as the kNN top-k kept it (a label scored 0 there
            # is a candidate the audit calibrates, unlike one left out)
            size = heap_offer(heap_values, heap_labels, size, k, value, c)
        for p in range(start, end):
            c = y_indices[p]
            if given[c]:  # not in the kNN top-k
                given[c] = False
                value = acc[c]
                acc[c] = 0.0
                if value > 0.0:
                    size = heap_offer(heap_values, heap_labels, size, k, value, c)
        for p in range(start, end):
            a = y_indices[p]
            if inv[a] == 0.0:
                continue
            for q in range(c_indptr[a], c_indptr[a + 1]):
                c = c_indices[q]
                together = acc[c]
                if together == 0.0:  # the diagonal, or taken already
                    continue
                acc[c] = 0.0
                value = scale_other * together
                if size < k or value >= heap_values[0]:
                    size = heap_offer(heap_values, heap_labels, size, k, value, c)
        for i in range(size, k):
            out_indices[j, i] = -1
            out_scores[j, i] = -np.inf
        heap_drain(heap_values, heap_labels, size, out_scores[j], out_indices[j])
