"""Compiled per-pair kernels of the label audit (numba, run without the GIL in threads).

Each kernel scores a batch of (document, label) pairs given as two int64 arrays, with
leave-one-out corrections for pairs whose label is given to the document, so a
document's own label never vouches for itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
def cooccurrence_kernel(y_indptr, y_indices, c_indptr, c_indices, c_data, counts, rows, labels,
                        given, out_best, out_others):
    """How strongly a document's other given labels imply label ``labels[j]``.

    ``out_best[j]`` is ``max P(label | other)`` over the document's other given
    labels, from the co-occurrence counts ``C`` (CSR, labels x labels, sorted ids)
    and label counts, leaving the document itself out; ``out_others[j]`` counts the
    other given labels (0: no evidence either way).
    """
    for j in range(len(rows)):
        row, label = rows[j], labels[j]
        best = 0.0
        others = 0
        for p in range(y_indptr[row], y_indptr[row + 1]):
            other = y_indices[p]
            if other == label:
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


def run_in_threads(kernel, shared: tuple, per_pair: tuple, n_threads: int) -> None:
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
