"""Compiled beam search over a trained label tree (see :mod:`tagsmith.models.tree`).

Each tree node stores the weights of its children's classifiers as a small CSR
matrix *by feature*: the sorted feature ids the node uses, and for each feature the
(child, weight) entries. A document's sorted features are merged with a node's by
galloping binary search, so scoring a node costs about ``nnz(x) * log(features of
the node)`` plus the entries touched, whatever the node's size.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

import numpy as np
from numba import prange

from tagsmith._numba import njit
from tagsmith.models._solver import assign_local_ids

SCORE_SIGMOID = 0
SCORE_L2_HINGE = 1
SCORE_L3_HINGE = 2
SCORE_CODES = {"sigmoid": SCORE_SIGMOID, "l2-hinge": SCORE_L2_HINGE, "l3-hinge": SCORE_L3_HINGE}
#: numba's threading layers that take parallel launches from several threads at once
THREADSAFE_LAYERS = frozenset({"tbb", "omp"})
_LAUNCH_LOCK = threading.Lock()
#: whether this process was forked from one whose GNU OpenMP threads were running
_FORKED = {"after_gnu_openmp": False}


def _gnu_openmp_started() -> bool:
    """Whether numba's threads in this process run on GNU OpenMP (its ``omp`` layer
    started with libgomp), which a forked child cannot use."""
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    omppool = sys.modules.get("numba.np.ufunc.omppool")
    return bool(parallel is not None and getattr(parallel, "_is_initialized", False)
                and omppool is not None and getattr(omppool, "openmp_vendor", "") == "GNU")


def _note_fork() -> None:
    if _gnu_openmp_started():
        _FORKED["after_gnu_openmp"] = True


os.register_at_fork(after_in_child=_note_fork)


def launch(kernel: Callable[..., object], *args: object) -> None:
    """Run the ``parallel=True`` ``kernel`` on ``args``, one launch at a time unless
    numba's threading layer is thread-safe.

    Without TBB or an OpenMP runtime (a container without libgomp, macOS without
    libomp) numba falls back to its workqueue layer, which aborts the whole process
    ("Concurrent access has been detected") when two threads launch a kernel at once:
    a service predicting with a tree from a thread pool died without an exception.
    The layer is chosen at the first launch, which is therefore serialised too.

    In a process forked after its parent ran a kernel on GNU OpenMP (numba's usual
    ``omp`` layer on Linux), a parallel launch aborted the child ("Terminating: fork()
    called from a process already using GNU OpenMP, this is unsafe."): a
    ``multiprocessing`` pool (fork, Linux's default) or a pre-forking server predicting
    with a tree the parent had used waited for ever on its dead workers. Such a child
    runs the kernel's serial twin, on the calling thread.
    """
    if _FORKED["after_gnu_openmp"]:
        SERIAL_TWINS[kernel](*args)
        return
    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = None
    if layer in THREADSAFE_LAYERS:
        kernel(*args)
        return
    with _LAUNCH_LOCK:
        kernel(*args)


@njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _log_score(margin, score):
    if score == SCORE_SIGMOID:
        if margin >= 0.0:
            return -np.log1p(np.exp(-margin))
        return margin - np.log1p(np.exp(margin))
    gap = 1.0 - margin
    if gap <= 0.0:
        return 0.0
    if score == SCORE_L2_HINGE:
        return -gap * gap
    return -gap * gap * gap


@njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _insert_sorted(scores, items, size, value, item):
    """Insert ``(value, item)`` into the descending list of ``size`` entries (capacity
    ``len(scores)``), dropping the last when full; returns the new size."""
    capacity = scores.shape[0]
    if size == capacity and value <= scores[size - 1]:
        return size
    pos = size if size < capacity else capacity - 1
    while pos > 0 and scores[pos - 1] < value:
        scores[pos] = scores[pos - 1]
        items[pos] = items[pos - 1]
        pos -= 1
    scores[pos] = value
    items[pos] = item
    return size + 1 if size < capacity else size


@njit(nogil=True, cache=True, error_model="numpy")
def _node_margins(x_data, x_indices, start, end, fs, fe, feat_ids, feat_entry_ptr,
                  entry_child, entry_val, margins):
    lo = fs
    for p in range(start, end):
        f = x_indices[p]
        hi = fe
        # galloping: the document's features are sorted, so lo only moves forward
        step = 1
        probe = lo
        while probe < fe and feat_ids[probe] < f:
            lo = probe + 1
            probe = lo + step
            step *= 2
        if probe < fe:
            hi = probe + 1
        while lo < hi:
            mid = (lo + hi) >> 1
            if feat_ids[mid] < f:
                lo = mid + 1
            else:
                hi = mid
        if lo >= fe:
            break
        if feat_ids[lo] == f:
            v = x_data[p]
            for e in range(feat_entry_ptr[lo], feat_entry_ptr[lo + 1]):
                margins[entry_child[e]] += v * entry_val[e]


@njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _child_margins(node, x_data, x_indices, start, end, node_slot_ptr, slot_bias,
                   node_feat_ptr, feat_ids, feat_entry_ptr, entry_child, entry_val, margins):
    """Margins of ``node``'s children for one document into ``margins``; returns the
    node's first slot and its number of children."""
    s0 = node_slot_ptr[node]
    n_children = node_slot_ptr[node + 1] - s0
    for j in range(n_children):
        margins[j] = slot_bias[s0 + j]
    _node_margins(x_data, x_indices, start, end, node_feat_ptr[node], node_feat_ptr[node + 1],
                  feat_ids, feat_entry_ptr, entry_child, entry_val, margins)
    return s0, n_children


@njit(nogil=True, cache=True, error_model="numpy")
def _beam_search_row(d, x_data, x_indices, x_indptr, node_slot_ptr, slot_target, slot_is_label,
                     slot_bias, node_feat_ptr, feat_ids, feat_entry_ptr, entry_child, entry_val,
                     max_children, beam_width, k, score, out_idx, out_score):
    """:func:`beam_search` of row ``d``."""
    start, end = x_indptr[d], x_indptr[d + 1]
    beam_nodes = np.empty(beam_width, np.int64)
    beam_scores = np.empty(beam_width, np.float64)
    cand_nodes = np.empty(beam_width * max_children, np.int64)
    cand_scores = np.empty(beam_width * max_children, np.float64)
    margins = np.empty(max_children, np.float64)
    top_label = np.full(k, -1, np.int64)
    top_score = np.full(k, -np.inf, np.float64)
    n_top = 0
    beam_nodes[0] = 0
    beam_scores[0] = 0.0
    n_beam = 1
    while n_beam > 0:
        n_cand = 0
        for b in range(n_beam):
            s0, n_children = _child_margins(beam_nodes[b], x_data, x_indices, start, end,
                                            node_slot_ptr, slot_bias, node_feat_ptr, feat_ids,
                                            feat_entry_ptr, entry_child, entry_val, margins)
            for j in range(n_children):
                value = beam_scores[b] + _log_score(margins[j], score)
                if slot_is_label[s0 + j]:
                    n_top = _insert_sorted(top_score, top_label, n_top, value,
                                           slot_target[s0 + j])
                else:
                    cand_nodes[n_cand] = slot_target[s0 + j]
                    cand_scores[n_cand] = value
                    n_cand += 1
        if n_cand <= beam_width:
            for c in range(n_cand):
                beam_nodes[c] = cand_nodes[c]
                beam_scores[c] = cand_scores[c]
            n_beam = n_cand
        else:
            order = np.argsort(-cand_scores[:n_cand])
            for c in range(beam_width):
                beam_nodes[c] = cand_nodes[order[c]]
                beam_scores[c] = cand_scores[order[c]]
            n_beam = beam_width
    for j in range(k):
        if j < n_top:
            out_idx[d, j] = top_label[j]
            out_score[d, j] = np.exp(top_score[j])
        else:
            out_idx[d, j] = -1
            out_score[d, j] = -np.inf


@njit(parallel=True, cache=True, error_model="numpy")
def beam_search(x_data, x_indices, x_indptr, node_slot_ptr, slot_target, slot_is_label,
                slot_bias, node_feat_ptr, feat_ids, feat_entry_ptr, entry_child, entry_val,
                max_children, beam_width, k, score, out_idx, out_score):
    """Top-``k`` labels of every row of a CSR matrix (with sorted column indices)."""
    for d in prange(x_indptr.shape[0] - 1):
        _beam_search_row(d, x_data, x_indices, x_indptr, node_slot_ptr, slot_target,
                         slot_is_label, slot_bias, node_feat_ptr, feat_ids, feat_entry_ptr,
                         entry_child, entry_val, max_children, beam_width, k, score, out_idx,
                         out_score)


@njit(nogil=True, cache=True, error_model="numpy")
def beam_search_serial(x_data, x_indices, x_indptr, node_slot_ptr, slot_target, slot_is_label,
                       slot_bias, node_feat_ptr, feat_ids, feat_entry_ptr, entry_child,
                       entry_val, max_children, beam_width, k, score, out_idx, out_score):
    """:func:`beam_search` on the calling thread (see :func:`launch`)."""
    for d in range(x_indptr.shape[0] - 1):
        _beam_search_row(d, x_data, x_indices, x_indptr, node_slot_ptr, slot_target,
                         slot_is_label, slot_bias, node_feat_ptr, feat_ids, feat_entry_ptr,
                         entry_child, entry_val, max_children, beam_width, k, score, out_idx,
                         out_score)


@njit(nogil=True, cache=True, error_model="numpy")
def balanced_two_means(data, indices, indptr, rows, n_iter, seed, local, min_side):
    """Spherical 2-means of the CSR rows ``rows`` (L2-normalised), with each side
    holding at least ``min_side`` rows.

    Returns a boolean mask: True for the rows of the first side. With ``2 * min_side
    >= n`` the split is exactly balanced (``ceil(n/2)`` rows first); otherwise each
    row goes to its nearer centroid, as far as the ``min_side`` floor allows.
    ``local`` (int32, n_features) is scratch that must be -1 on entry; it is left so.
    """
    n = rows.shape[0]
    half = (n + 1) // 2
    balanced = 2 * min_side >= n
    n_used = assign_local_ids(indices, indptr, rows, local)
    centroids = np.zeros((2, n_used), np.float64)
    state = np.uint64(seed) * np.uint64(2654435761) + np.uint64(1442695040888963407)
    state ^= state >> np.uint64(33)
    first = np.int64(state % np.uint64(n))
    state = state * np.uint64(6364136223846793005) + np.uint64(1)
    second = np.int64((state >> np.uint64(11)) % np.uint64(n - 1))
    if second >= first:
        second += 1
    for side, pick in ((0, first), (1, second)):
        row = rows[pick]
        for p in range(indptr[row], indptr[row + 1]):
            centroids[side, local[indices[p]]] = data[p]
    difference = np.empty(n, np.float64)
    best = -np.inf
    left = np.zeros(n, np.bool_)
    previous = np.zeros(n, np.bool_)
    for iteration in range(n_iter):
        for r in range(n):
            row = rows[r]
            total = 0.0
            for p in range(indptr[row], indptr[row + 1]):
                j = local[indices[p]]
                total += data[p] * (centroids[0, j] - centroids[1, j])
            difference[r] = -total
        order = np.argsort(difference, kind="mergesort")
        n_left = half
        if not balanced:  # nearer centroid (difference < 0: closer to the first)
            n_left = 0
            for r in range(n):
                if difference[r] < 0.0:
                    n_left += 1
            n_left = min(max(n_left, min_side), n - min_side)
        left[:] = False
        for r in range(n_left):
            left[order[r]] = True
        if iteration > 0 and np.array_equal(left, previous):
            break
        # stop when the objective (similarity to the own centroid) no longer improves
        objective = 0.0
        for r in range(n):
            row = rows[r]
            side = 0 if left[r] else 1
            for p in range(indptr[row], indptr[row + 1]):
                objective += data[p] * centroids[side, local[indices[p]]]
        if iteration > 0 and objective - best <= 1e-4 * abs(best):
            break
        best = objective
        previous[:] = left
        centroids[:] = 0.0
        for r in range(n):
            side = 0 if left[r] else 1
            row = rows[r]
            for p in range(indptr[row], indptr[row + 1]):
                centroids[side, local[indices[p]]] += data[p]
        for side in range(2):
            norm = np.sqrt(np.sum(centroids[side] ** 2))
            if norm > 0.0:
                centroids[side] /= norm
    for r in range(n):
        row = rows[r]
        for p in range(indptr[row], indptr[row + 1]):
            local[indices[p]] = -1
    return left


@njit(nogil=True, cache=True, error_model="numpy")
def _expand_beam_row(d, x_data, x_indices, x_indptr, beam_nodes, beam_scores, node_slot_ptr,
                     slot_target, slot_is_label, slot_bias, node_feat_ptr, feat_ids,
                     feat_entry_ptr, entry_child, entry_val, max_children, score, out_nodes,
                     out_scores):
    """:func:`expand_beam` of row ``d``."""
    b_in = beam_nodes.shape[1]
    b_out = out_nodes.shape[1]
    start, end = x_indptr[d], x_indptr[d + 1]
    margins = np.empty(max_children, np.float64)
    best_nodes = np.full(b_out, -1, np.int64)
    best_scores = np.full(b_out, -np.inf, np.float64)
    n_best = 0
    for b in range(b_in):
        node = beam_nodes[d, b]
        if node < 0:
            continue
        s0, n_children = _child_margins(node, x_data, x_indices, start, end, node_slot_ptr,
                                        slot_bias, node_feat_ptr, feat_ids, feat_entry_ptr,
                                        entry_child, entry_val, margins)
        for j in range(n_children):
            if slot_is_label[s0 + j]:
                continue
            value = beam_scores[d, b] + _log_score(margins[j], score)
            n_best = _insert_sorted(best_scores, best_nodes, n_best, value,
                                    slot_target[s0 + j])
    for j in range(b_out):
        out_nodes[d, j] = best_nodes[j]
        out_scores[d, j] = best_scores[j]


@njit(parallel=True, cache=True, error_model="numpy")
def expand_beam(x_data, x_indices, x_indptr, beam_nodes, beam_scores, node_slot_ptr,
                slot_target, slot_is_label, slot_bias, node_feat_ptr, feat_ids, feat_entry_ptr,
                entry_child, entry_val, max_children, score, out_nodes, out_scores):
    """One level of beam search for every row: the best child nodes of each row's beam.

    ``beam_nodes`` (n x b_in, -1 padded) and ``beam_scores`` (log path scores) are the
    rows' current nodes; the children of those nodes that are nodes themselves (not
    labels) compete for the ``b_out`` places of ``out_nodes``/``out_scores`` (-1 and
    -inf where fewer). Used in training to find the nodes a document would reach.
    """
    for d in prange(x_indptr.shape[0] - 1):
        _expand_beam_row(d, x_data, x_indices, x_indptr, beam_nodes, beam_scores,
                         node_slot_ptr, slot_target, slot_is_label, slot_bias, node_feat_ptr,
                         feat_ids, feat_entry_ptr, entry_child, entry_val, max_children, score,
                         out_nodes, out_scores)


@njit(nogil=True, cache=True, error_model="numpy")
def expand_beam_serial(x_data, x_indices, x_indptr, beam_nodes, beam_scores, node_slot_ptr,
                       slot_target, slot_is_label, slot_bias, node_feat_ptr, feat_ids,
                       feat_entry_ptr, entry_child, entry_val, max_children, score, out_nodes,
                       out_scores):
    """:func:`expand_beam` on the calling thread (see :func:`launch`)."""
    for d in range(x_indptr.shape[0] - 1):
        _expand_beam_row(d, x_data, x_indices, x_indptr, beam_nodes, beam_scores,
                         node_slot_ptr, slot_target, slot_is_label, slot_bias, node_feat_ptr,
                         feat_ids, feat_entry_ptr, entry_child, entry_val, max_children, score,
                         out_nodes, out_scores)


@njit(nogil=True, cache=True, error_model="numpy")
def children_in_range(node_slot_ptr, node_feat_ptr, feat_entry_ptr, entry_child):
    """Whether every weight entry names a child its node has (``0 <= child < width``).

    Walks the entries once instead of expanding per-entry node widths (an int64 array
    as long as the weights: hundreds of MB for a large tree, at load time). The
    pointers must already be known consistent (increasing, ending at the array ends).
    """
    for node in range(len(node_feat_ptr) - 1):
        width = node_slot_ptr[node + 1] - node_slot_ptr[node]
        for f in range(node_feat_ptr[node], node_feat_ptr[node + 1]):
            for e in range(feat_entry_ptr[f], feat_entry_ptr[f + 1]):
                child = entry_child[e]
                if child < 0 or child >= width:
                    return False
    return True


#: each parallel kernel's twin without ``prange`` (see :func:`launch`)
SERIAL_TWINS = {beam_search: beam_search_serial, expand_beam: expand_beam_serial}
