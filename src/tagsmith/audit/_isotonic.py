"""Isotonic regression of many groups at once (pool-adjacent-violators, compiled).

Label audits calibrate out-of-sample scores to probabilities per label (or per
frequency band of rare labels): one increasing step function per group, fitted to
0/1 targets. Doing this with one scikit-learn call per label would be a Python loop
over up to 10^5 labels, so the groups are sorted once and a compiled PAVA runs over
all of them in one pass.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from tagsmith._numba import njit
from tagsmith.calibration._isotonic import _interp

#: entries sorted at a time (larger inputs go a range of groups at a time)
CHUNK = 2_000_000


@njit(nogil=True, cache=True)
def _pava_groups(group_starts, values, weights):
    """Fit an increasing step function in every group ``[starts[g], starts[g+1])``, in
    place.

    ``values`` are the targets (already averaged over tied scores) in increasing
    score order inside each group, ``weights`` their counts; on return ``values``
    holds the fitted value of each position and ``weights`` the total weight of its
    block. The blocks are kept in the arrays' own leading entries (a group's ``b``-th
    block at ``start + b``, never past the entry being read) and spread back from the
    last: separate block and output arrays (four float64 arrays of the points) were the
    audit's peak memory at yso-finna-en's 590k documents.
    """
    n = len(values)
    block_end = np.empty(n, np.int64)
    for g in range(len(group_starts) - 1):
        start, end = group_starts[g], group_starts[g + 1]
        top = start  # one past the last block
        for j in range(start, end):
            value, weight = values[j], weights[j]  # read before block ``top <= j`` is written
            values[top] = value
            weights[top] = weight
            block_end[top] = j + 1
            top += 1
            # merge while the last two blocks violate monotonicity
            while top > start + 1 and values[top - 2] >= values[top - 1]:
                w = weights[top - 2] + weights[top - 1]
                values[top - 2] = (values[top - 2] * weights[top - 2]
                                   + values[top - 1] * weights[top - 1]) / w
                weights[top - 2] = w
                block_end[top - 2] = block_end[top - 1]
                top -= 1
        # block b covers [end of block b - 1, end of b), all at or past ``start + b``:
        # spread from the last block back, so no block is overwritten before it is read
        for b in range(top - 1, start - 1, -1):
            value, weight = values[b], weights[b]
            first = block_end[b - 1] if b > start else start
            for position in range(block_end[b] - 1, first - 1, -1):
                values[position] = value
                weights[position] = weight


@njit(nogil=True, cache=True)
def _point_sums(new_point, targets, values, weights):
    """Per point (a run of sorted entries, each run starting where ``new_point``), the
    number of its entries into ``weights`` and the sum of their ``targets`` into
    ``values`` (both zeroed), added in entry order."""
    p = -1
    for j in range(len(new_point)):
        if new_point[j]:
            p += 1
        weights[p] += 1.0
        values[p] += targets[j]


def grouped_isotonic(groups: np.ndarray, scores: np.ndarray, targets: np.ndarray, *,
                     smoothing: float = 0.0, dtype: npt.DTypeLike = np.float64,
                     out: np.ndarray | None = None) -> np.ndarray:
    """Per group, the increasing step function of ``scores`` closest to ``targets``.

    ``groups`` (int), ``scores`` (float) and ``targets`` (0/1 or fractions) are
    arrays of one length; returns the fitted value of every entry (``dtype``). Entries
    with equal group and score get the same value. With ``smoothing`` ``a > 0`` each
    step's mean ``s / w`` becomes ``(s + a / 2) / (w + a)``, so small steps of all
    ones or all zeros do not claim certainty.

    With ``out`` (an array of the same length) the values are written there and
    entries whose group is negative are skipped (left as they are): a caller can pass
    views of its own arrays, padding marked ``-1``, instead of masked copies.

    Large inputs are processed a range of groups at a time (about ``CHUNK`` entries
    each), so the sorting's temporary arrays stay small.

    >>> grouped_isotonic(np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.5, 0.9]),
    ...                  np.array([0, 1, 0, 1, 0])).tolist()
    [0.0, 0.5, 0.5, 0.5, 0.5]
    >>> out = np.full(4, -1.0)
    >>> grouped_isotonic(np.array([0, -1, 0, 0]), np.array([0.1, 0.5, 0.2, 0.3]),
    ...                  np.array([0, 1, 1, 0]), out=out).tolist()
    [0.0, -1.0, 0.5, 0.5]
    """
    groups = np.asarray(groups)
    if out is None:
        if len(groups) <= CHUNK:
            return _grouped_isotonic(groups, scores, targets, smoothing).astype(dtype,
                                                                                copy=False)
        out = np.empty(len(groups), dtype)
    scores, targets = np.asarray(scores), np.asarray(targets)
    for low, high in _group_ranges(groups):
        idx = np.flatnonzero((groups >= low) & (groups < high))
        out[idx] = _grouped_isotonic(groups[idx], scores[idx], targets[idx], smoothing)
    return out


def _group_ranges(groups: np.ndarray):
    """Ranges ``(low, high)`` of group ids holding about ``CHUNK`` entries each (one
    group larger than that is a range of its own); negative groups are not counted."""
    n_groups = int(groups.max(initial=-1)) + 1
    sizes = np.zeros(n_groups, np.int64)
    for start in range(0, len(groups), CHUNK):
        part = groups[start:start + CHUNK]
        sizes += np.bincount(part[part >= 0], minlength=n_groups)
    return _ranges_of(sizes)


def _ranges_of(sizes: np.ndarray):
    """:func:`_group_ranges` of the groups' entry counts ``sizes``."""
    cuts = np.searchsorted(np.cumsum(sizes), np.arange(CHUNK, int(sizes.sum()), CHUNK))
    bounds = np.unique(np.r_[0, cuts + 1, len(sizes)])
    return zip(bounds[:-1], bounds[1:], strict=True)


def _group_sizes(labels: np.ndarray, label_groups: np.ndarray) -> np.ndarray:
    """Entries per group, up to the highest group an entry has, where entry ``i``'s
    group is ``label_groups[labels[i]]`` (none for a negative label or group): counted
    a block of entries at a time (no array of the entries' groups)."""
    per_label = np.zeros(len(label_groups), np.int64)
    for start in range(0, len(labels), CHUNK):
        part = labels[start:start + CHUNK]
        per_label += np.bincount(part[part >= 0], minlength=len(label_groups))
    counted = (per_label > 0) & (label_groups >= 0)
    n_groups = int(label_groups[counted].max(initial=-1)) + 1
    sizes = np.zeros(n_groups, np.int64)
    np.add.at(sizes, label_groups[counted], per_label[counted])
    return sizes


def _range_entries(labels: np.ndarray, label_groups: np.ndarray, low: int, high: int,
                   size: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions (ascending, int64) of the ``size`` entries whose group
    ``label_groups[labels[i]]`` is in ``[low, high)``, and their groups less ``low``
    (int32 where the range's ids fit), found a block of entries at a time."""
    in_range = (label_groups >= low) & (label_groups < high)
    pos = np.empty(size, np.int64)
    g = np.empty(size, np.int64 if high - low >= 2**31 - 1 else np.int32)
    filled = 0
    for start in range(0, len(labels), _MAP_BLOCK):
        part = labels[start:start + _MAP_BLOCK]
        hit = np.flatnonzero((part >= 0) & in_range[part])  # -1 reads the last: masked
        pos[filled:filled + len(hit)] = hit + start
        g[filled:filled + len(hit)] = label_groups[part[hit]] - low
        filled += len(hit)
    assert filled == size, (filled, size)
    return pos, g


def _grouped_isotonic(groups, scores, targets, smoothing: float) -> np.ndarray:
    groups = np.asarray(groups)
    if len(groups) == 0:
        return np.zeros(0, np.float64)
    low = int(groups.min())
    order, point_of, _, _, fitted = _fit_points(groups - low, scores, targets, smoothing)
    out = np.empty(len(groups), np.float64)
    out[order] = fitted[point_of]
    return out


def _narrow(groups: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group ids (from 0) and scores in the narrowest exact types: one band of rare labels
    is a single group of millions of entries at 10^4+ labels, and this was the audit's
    peak memory."""
    wide = len(groups) > 0 and int(groups.max()) >= 2**31 - 1
    groups = groups.astype(np.int64 if wide else np.int32, copy=False)
    scores = np.asarray(scores)
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)  # float32 sorts and ties as its exact float64
    return groups, scores


def _fit_points(groups, scores, targets, smoothing: float, *, keep_order: bool = True,
                select: np.ndarray | None = None):
    """The fit at its points (distinct (group, score) pairs, sorted by group then score).

    ``groups`` are ids from 0. Returns ``(order, point_of, point_group, point_score,
    fitted)``: the entries' sort order, each sorted entry's point, and per point its
    group, score and fitted value; without ``keep_order`` the first two are ``None``,
    released before the fit (a caller reading the fit at its points needs neither).

    With ``select`` (a boolean mask) the entries are ``groups[select]`` etc., and they
    are already sorted by group, then score (no order is kept): the cross-fit sorts a
    range once and fits each fold's complement of it, and the selected copies are
    released here as soon as the points are built (a caller's copies live on beside
    the whole fit).
    """
    if select is not None:
        assert not keep_order, "presorted entries have no order to keep"
        groups, scores, targets = groups[select], scores[select], targets[select]
        order = None
        g_sorted, s_sorted = _narrow(groups, scores)
        del groups, scores
    else:
        groups, scores = _narrow(groups, scores)
        order = np.lexsort((scores, groups))
        g_sorted, s_sorted = groups[order], scores[order]
    # tied (group, score) entries form one point of the regression
    new_point = np.r_[True, (g_sorted[1:] != g_sorted[:-1]) | (s_sorted[1:] != s_sorted[:-1])]
    point_score = s_sorted[new_point]
    del s_sorted
    point_group = g_sorted[new_point]
    del g_sorted
    targets = np.asarray(targets)
    if targets.dtype != np.bool_:
        targets = targets.astype(np.float64, copy=False)
    if order is not None:
        targets = targets[order]
    # each point's count and sum of targets, adding its entries in order (as a bincount
    # of them: the same float64 sums), without an int64 copy of the entries' points nor
    # a float64 one of their targets (bincount's: 16 bytes an entry)
    n_points = len(point_score)
    weights = np.zeros(n_points, np.float64)
    values = np.zeros(n_points, np.float64)
    _point_sums(new_point, targets, values, weights)
    del targets
    point_of = None
    if keep_order:
        point_of = np.cumsum(new_point, dtype=np.int64 if len(new_point) >= 2**31 else np.int32)
        np.subtract(point_of, 1, out=point_of)
    del new_point
    # in place, as all that follows: one band group is millions of points
    np.divide(values, weights, out=values)
    kept = (order, point_of) if keep_order else (None, None)
    del order, point_of
    group_starts = np.flatnonzero(np.r_[True, point_group[1:] != point_group[:-1], True])
    # the fitted values and their blocks' weights replace the points' own
    _pava_groups(group_starts.astype(np.int64), values, weights)
    fitted, block_weight = values, weights
    del values, weights
    if smoothing > 0:
        # (fitted * block_weight + smoothing / 2) / (block_weight + smoothing), same steps
        fitted *= block_weight
        fitted += smoothing / 2
        block_weight += smoothing
        fitted /= block_weight
    return (*kept, point_group, point_score, fitted)


#: entries whose positions are mapped at a time (in place, no second array of them)
_MAP_BLOCK = 1 << 20


def grouped_isotonic_crossfit(groups: np.ndarray, scores: np.ndarray, targets: np.ndarray,
                              folds: np.ndarray, n_folds: int, *, row_width: int = 1,
                              smoothing: float = 0.0, out: np.ndarray,
                              counted: Callable[[int], object] | None = None,
                              label_groups: np.ndarray | None = None) -> np.ndarray:
    """:func:`grouped_isotonic` cross-fitted: each entry's value comes from the fits on
    the entries of the *other* folds, so it does not depend on its own target (an
    in-sample fit gives a small block at the top its own targets' mean).

    ``folds`` (int, ``0 .. n_folds - 1``): entry ``i``'s fold is ``folds[i //
    row_width]`` (one per entry by default; one per row of a flattened ``n x
    row_width`` array, so no array of folds per entry is needed); ``out`` as in
    :func:`grouped_isotonic` (entries of a negative group are skipped). A held-out
    score is read off the other folds' fit linearly between its two nearest fitted
    scores (the end value beyond them); a group with no entry in the other folds gets
    NaN (the caller's fallback). ``counted``: called with the number of entries each
    fit has given their values (a progress bar's ``update``): every entry of a
    non-negative group once in all.

    ``label_groups``: ``groups`` holds each entry's label (negative: padding) and its
    group is ``label_groups[label]``, looked up a block of entries at a time: a
    calibration's top-k label ids serve as they are, with no array of groups of the
    top-k's size (4 bytes a top-k entry held through every fit, and an 8-byte
    temporary to build it: the yso-finna-en audit's peak). The values are those of the
    groups given one per entry.

    >>> out = np.empty(6)
    >>> grouped_isotonic_crossfit(np.zeros(6, int), np.array([1., 2., 3., 4., 5., 6.]),
    ...                           np.array([0, 0, 1, 0, 1, 1]),
    ...                           np.array([0, 1, 0, 1, 0, 1]), 2, out=out).tolist()
    [0.0, 0.5, 0.0, 1.0, 0.5, 1.0]
    """
    groups = np.asarray(groups)
    scores, targets, folds = np.asarray(scores), np.asarray(targets), np.asarray(folds)
    fold_type = np.int8 if n_folds <= 127 else np.int64
    if label_groups is None:  # each entry's own group: the identity of its ids
        label_groups = np.arange(int(groups.max(initial=-1)) + 1)
    label_groups = np.asarray(label_groups)
    sizes = _group_sizes(groups, label_groups)
    for low, high in _ranges_of(sizes):
        # the range sorted once by group, then score, for every fold (a fold's complement
        # of sorted entries is sorted): the entries' positions in that order, and their
        # groups, scores, targets and folds
        pos, g = _range_entries(groups, label_groups, int(low), int(high),
                                int(sizes[low:high].sum()))
        g, s = _narrow(g, scores[pos])
        order = np.lexsort((s, g))
        g_sorted = g[order]
        del g
        s_sorted = s[order]
        del s
        for start in range(0, len(order), _MAP_BLOCK):  # order becomes the positions
            block = order[start:start + _MAP_BLOCK]
            block[:] = pos[block]
        del pos
        # held through the folds' fits: 32-bit where every position fits (4 bytes an
        # entry less; the same positions)
        pos = order.astype(np.int32) if len(groups) < 2**31 else order
        del order
        t_sorted = targets[pos]
        f_sorted = np.empty(len(pos), fold_type)
        for start in range(0, len(pos), _MAP_BLOCK):
            block = pos[start:start + _MAP_BLOCK]
            f_sorted[start:start + _MAP_BLOCK] = folds[block // row_width if row_width != 1
                                                       else block]
        n_range = int(high - low)
        for fold in range(n_folds):
            held = f_sorted == fold
            if not held.any():
                continue
            n_held = int(held.sum())
            if n_held == len(held):
                out[pos] = np.nan
                if counted is not None:
                    counted(n_held)
                continue
            _, _, point_group, point_score, fitted = _fit_points(
                g_sorted, s_sorted, t_sorted, smoothing, keep_order=False, select=~held)
            group_starts = np.searchsorted(point_group, np.arange(n_range + 1)).astype(np.int64)
            del point_group
            part = np.empty(n_held)
            # linear between fitted points, the end value beyond them, NaN for a group
            # the other folds do not have (the calibration package's reader of its knots)
            _interp(group_starts, point_score.astype(np.float64), fitted,
                    g_sorted[held].astype(np.int64), s_sorted[held].astype(np.float64), part)
            del point_score, fitted
            # straight into ``out``: a float64 array of the range's size was the peak
            # memory of a yso-finna-en audit (one band group of 8M top-k entries)
            out[pos[held]] = part
            if counted is not None:
                counted(len(part))
    return out
