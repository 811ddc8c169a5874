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
def _pava_groups(group_starts, values, weights, out, out_weight):
    """Fit an increasing step function in every group ``[starts[g], starts[g+1])``.

    ``values`` are the targets (already averaged over tied scores) in increasing
    score order inside each group, ``weights`` their counts; the fitted value of each
    position is written to ``out`` and the total weight of its block to ``out_weight``.
    """
    n = len(values)
    block_value = np.empty(n, np.float64)
    block_weight = np.empty(n, np.float64)
    block_end = np.empty(n, np.int64)
    for g in range(len(group_starts) - 1):
        start, end = group_starts[g], group_starts[g + 1]
        n_blocks = 0
        for j in range(start, end):
            block_value[n_blocks] = values[j]
            block_weight[n_blocks] = weights[j]
            block_end[n_blocks] = j + 1
            n_blocks += 1
            # merge while the last two blocks violate monotonicity
            while n_blocks > 1 and block_value[n_blocks - 2] >= block_value[n_blocks - 1]:
                w = block_weight[n_blocks - 2] + block_weight[n_blocks - 1]
                block_value[n_blocks - 2] = (block_value[n_blocks - 2] * block_weight[n_blocks - 2]
                                             + block_value[n_blocks - 1]
                                             * block_weight[n_blocks - 1]) / w
                block_weight[n_blocks - 2] = w
                block_end[n_blocks - 2] = block_end[n_blocks - 1]
                n_blocks -= 1
        position = start
        for b in range(n_blocks):
            while position < block_end[b]:
                out[position] = block_value[b]
                out_weight[position] = block_weight[b]
                position += 1


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
    cuts = np.searchsorted(np.cumsum(sizes), np.arange(CHUNK, int(sizes.sum()), CHUNK))
    bounds = np.unique(np.r_[0, cuts + 1, n_groups])
    return zip(bounds[:-1], bounds[1:], strict=True)


def _grouped_isotonic(groups, scores, targets, smoothing: float) -> np.ndarray:
    groups = np.asarray(groups)
    if len(groups) == 0:
        return np.zeros(0, np.float64)
    low = int(groups.min())
    order, point_of, _, _, fitted = _fit_points(groups - low, scores, targets, smoothing)
    out = np.empty(len(groups), np.float64)
    out[order] = fitted[point_of]
    return out


def _fit_points(groups, scores, targets, smoothing: float, *, keep_order: bool = True):
    """The fit at its points (distinct (group, score) pairs, sorted by group then score).

    ``groups`` are ids from 0. Returns ``(order, point_of, point_group, point_score,
    fitted)``: the entries' sort order, each sorted entry's point, and per point its
    group, score and fitted value; without ``keep_order`` the first two are ``None``,
    released before the fit (a caller reading the fit at its points needs neither).
    """
    # in the narrowest exact types: one band of rare labels is a single group of
    # millions of entries at 10^4+ labels, and this was the audit's peak memory
    wide = int(groups.max()) >= 2**31 - 1
    groups = groups.astype(np.int64 if wide else np.int32, copy=False)
    scores = np.asarray(scores)
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)  # float32 sorts and ties as its exact float64
    order = np.lexsort((scores, groups))
    g_sorted, s_sorted = groups[order], scores[order]
    # tied (group, score) entries form one point of the regression
    new_point = np.r_[True, (g_sorted[1:] != g_sorted[:-1]) | (s_sorted[1:] != s_sorted[:-1])]
    point_score = s_sorted[new_point]
    del s_sorted
    point_group = g_sorted[new_point]
    del g_sorted
    point_of = np.cumsum(new_point, dtype=np.int64 if len(new_point) >= 2**31 else np.int32)
    del new_point
    np.subtract(point_of, 1, out=point_of)
    n_points = int(point_of[-1]) + 1
    weights = np.bincount(point_of, minlength=n_points).astype(np.float64)
    targets = np.asarray(targets)
    if targets.dtype != np.bool_:
        targets = targets.astype(np.float64, copy=False)
    values = np.bincount(point_of, weights=targets[order], minlength=n_points)
    # in place, as all that follows: one band group is millions of points
    np.divide(values, weights, out=values)
    kept = (order, point_of) if keep_order else (None, None)
    del order, point_of
    group_starts = np.flatnonzero(np.r_[True, point_group[1:] != point_group[:-1], True])
    fitted = np.empty(n_points, np.float64)
    block_weight = np.empty(n_points, np.float64)
    _pava_groups(group_starts.astype(np.int64), values, weights, fitted, block_weight)
    del values, weights
    if smoothing > 0:
        # (fitted * block_weight + smoothing / 2) / (block_weight + smoothing), same steps
        fitted *= block_weight
        fitted += smoothing / 2
        block_weight += smoothing
        fitted /= block_weight
    return (*kept, point_group, point_score, fitted)


def grouped_isotonic_crossfit(groups: np.ndarray, scores: np.ndarray, targets: np.ndarray,
                              folds: np.ndarray, n_folds: int, *, row_width: int = 1,
                              smoothing: float = 0.0, out: np.ndarray,
                              counted: Callable[[int], object] | None = None) -> np.ndarray:
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

    >>> out = np.empty(6)
    >>> grouped_isotonic_crossfit(np.zeros(6, int), np.array([1., 2., 3., 4., 5., 6.]),
    ...                           np.array([0, 0, 1, 0, 1, 1]),
    ...                           np.array([0, 1, 0, 1, 0, 1]), 2, out=out).tolist()
    [0.0, 0.5, 0.0, 1.0, 0.5, 1.0]
    """
    groups = np.asarray(groups)
    scores, targets, folds = np.asarray(scores), np.asarray(targets), np.asarray(folds)
    for low, high in _group_ranges(groups):
        idx = np.flatnonzero((groups >= low) & (groups < high))
        g, s, t = groups[idx] - low, scores[idx], targets[idx]
        f = folds[idx // row_width] if row_width != 1 else folds[idx]
        n_range = int(high - low)
        for fold in range(n_folds):
            held = f == fold
            fit = ~held
            if not held.any():
                continue
            if not fit.any():
                out[idx[held]] = np.nan
                if counted is not None:
                    counted(int(held.sum()))
                continue
            _, _, point_group, point_score, fitted = _fit_points(g[fit], s[fit], t[fit],
                                                                 smoothing, keep_order=False)
            group_starts = np.searchsorted(point_group, np.arange(n_range + 1)).astype(np.int64)
            part = np.empty(int(held.sum()))
            # linear between fitted points, the end value beyond them, NaN for a group
            # the other folds do not have (the calibration package's reader of its knots)
            _interp(group_starts, point_score.astype(np.float64), fitted,
                    g[held].astype(np.int64), s[held].astype(np.float64), part)
            # straight into ``out``: a float64 array of the range's size was the peak
            # memory of a yso-finna-en audit (one band group of 8M top-k entries)
            out[idx[held]] = part
            if counted is not None:
                counted(len(part))
    return out
