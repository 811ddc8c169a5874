"""Isotonic regression for many groups at once (compiled pool-adjacent-violators).

One call fits a non-decreasing step function per group (a label, a band) from
``(group, x, y)`` points and returns it as knots, the way scikit-learn's
``IsotonicRegression(out_of_bounds="clip")`` does: each pooled block contributes its
first and last ``x`` with the block's mean, and a curve is evaluated by linear
interpolation between knots, clipped to the end values (:mod:`._curves`, in numpy, so
that predicting imports no numba). A Python loop over 25k labels would dominate
calibration on extreme label spaces, hence numba.

>>> import numpy as np
>>> group = np.array([0, 0, 0, 1, 1]); x = np.array([1.0, 2.0, 3.0, 1.0, 2.0])
>>> y = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
>>> knots = fit_isotonic_groups(group, x, y, n_groups=2)
>>> evaluate_isotonic(knots, np.array([0, 0, 1]), np.array([1.5, 3.0, 1.5])).round(2).tolist()
[0.5, 1.0, 0.5]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tagsmith._numba import njit
from tagsmith.calibration._curves import IsotonicKnots, evaluate_isotonic

__all__ = ["IsotonicKnots", "evaluate_isotonic", "fit_isotonic_groups"]


@njit(cache=True)
def _pav(starts, x, y, w, out_indptr, out_x, out_y):  # pragma: no cover - compiled
    n_groups = starts.size - 1
    n_out = 0
    for g in range(n_groups):
        lo, hi = starts[g], starts[g + 1]
        out_indptr[g] = n_out
        if hi == lo:
            continue
        # blocks as a stack: mean value, weight, first and last x
        m = hi - lo
        val = np.empty(m)
        wt = np.empty(m)
        first = np.empty(m)
        last = np.empty(m)
        top = -1
        for i in range(lo, hi):
            top += 1
            val[top] = y[i] / w[i]
            wt[top] = w[i]
            first[top] = x[i]
            last[top] = x[i]
            while top > 0 and val[top - 1] >= val[top]:
                total = wt[top - 1] + wt[top]
                val[top - 1] = (val[top - 1] * wt[top - 1] + val[top] * wt[top]) / total
                wt[top - 1] = total
                last[top - 1] = last[top]
                top -= 1
        for b in range(top + 1):
            out_x[n_out] = first[b]
            out_y[n_out] = val[b]
            n_out += 1
            if last[b] > first[b]:
                out_x[n_out] = last[b]
                out_y[n_out] = val[b]
                n_out += 1
    out_indptr[n_groups] = n_out
    return n_out


def fit_isotonic_groups(group: npt.ArrayLike, x: npt.ArrayLike, y: npt.ArrayLike, n_groups: int,
                        weight: npt.ArrayLike | None = None) -> IsotonicKnots:
    """Non-decreasing fit of ``y`` on ``x`` within each group id in ``[0, n_groups)``.

    ``group`` (int), ``x`` and ``y`` (float) have one entry per point; ``weight``
    defaults to 1. Points with equal (group, x) are pooled first. A group without
    points gets no knots (see :func:`evaluate_isotonic`).
    """
    group = np.asarray(group, dtype=np.int64)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(x) if weight is None else np.asarray(weight, dtype=np.float64)
    order = np.lexsort((x, group))
    group, x, y, w = group[order], x[order], y[order], w[order]
    if x.size:
        new = np.r_[True, (group[1:] != group[:-1]) | (x[1:] != x[:-1])]
        heads = np.flatnonzero(new)
        group, x = group[heads], x[heads]
        y = np.add.reduceat(y * w, heads)  # weighted sums; _pav divides by the weight
        w = np.add.reduceat(w, heads)
    starts = np.searchsorted(group, np.arange(n_groups + 1), side="left").astype(np.int64)
    out_indptr = np.zeros(n_groups + 1, np.int64)
    out_x = np.empty(2 * x.size)
    out_y = np.empty(2 * x.size)
    n_out = _pav(starts, x, y, w, out_indptr, out_x, out_y)
    return IsotonicKnots(out_indptr, out_x[:n_out].copy(), out_y[:n_out].copy())


@njit(cache=True)
def _interp(indptr, kx, ky, group, xq, out):  # pragma: no cover - compiled
    # evaluate_isotonic's curve, inside the audit's compiled code
    for i in range(xq.size):
        g = group[i]
        lo, hi = indptr[g], indptr[g + 1]
        if hi == lo:
            out[i] = np.nan
            continue
        v = xq[i]
        if v <= kx[lo]:
            out[i] = ky[lo]
            continue
        if v >= kx[hi - 1]:
            out[i] = ky[hi - 1]
            continue
        a, b = lo, hi - 1  # kx[a] < v < kx[b]
        while b - a > 1:
            mid = (a + b) // 2
            if kx[mid] <= v:
                a = mid
            else:
                b = mid
        span = kx[b] - kx[a]
        t = (v - kx[a]) / span if span > 0 else 0.0
        out[i] = ky[a] + t * (ky[b] - ky[a])
