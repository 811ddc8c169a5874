"""Evaluating fitted isotonic curves (:mod:`tagsmith.calibration._isotonic` fits them),
in numpy: a calibrated bundle predicts without importing numba, which took 0.85 s of a
one-document ``suggest``.

>>> import numpy as np
>>> knots = IsotonicKnots(np.array([0, 2, 2]), np.array([1.0, 3.0]), np.array([0.0, 1.0]))
>>> evaluate_isotonic(knots, np.array([0, 0, 0, 0, 1]), np.array([0.5, 1.5, 3.0, 9.0, 1.0])
...                   ).tolist()
[0.0, 0.25, 1.0, 1.0, nan]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class IsotonicKnots:
    """Knots of one step function per group: ``indptr`` (``n_groups + 1``), ``x``, ``y``."""

    indptr: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.indptr.size - 1)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_indptr": self.indptr.astype(np.int64),
                f"{prefix}_x": self.x.astype(np.float64), f"{prefix}_y": self.y.astype(np.float64)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> IsotonicKnots:
        """Knots read from a bundle: ValueError unless every curve's ``x`` and ``y`` are
        finite and non-decreasing (the evaluation's binary search trusts the order of
        ``x``: unsorted, it interpolated between the wrong knots silently; a falling ``y``
        is no isotonic curve)."""
        from tagsmith.store.bundle import check_pointers, check_sorted_groups, check_values

        x = check_values(f"isotonic knots {prefix!r} x", arrays[f"{prefix}_x"], (None,))
        y = check_values(f"isotonic knots {prefix!r} y", arrays[f"{prefix}_y"], (None,))
        if x.shape != y.shape:
            raise ValueError(f"isotonic knots {prefix!r} are inconsistent")
        # the evaluation (and the audit's compiled _interp) index the knots by the offsets
        indptr = check_pointers(f"isotonic knots {prefix!r} indptr",
                                arrays[f"{prefix}_indptr"], end=x.size)
        check_sorted_groups(f"isotonic knots {prefix!r} x", x, indptr)
        check_sorted_groups(f"isotonic knots {prefix!r} y", y, indptr)
        return cls(indptr, x, y)


def evaluate_isotonic(knots: IsotonicKnots, group: npt.ArrayLike, x: npt.ArrayLike
                      ) -> np.ndarray:
    """The fitted curve of ``group[i]`` at ``x[i]`` (NaN for a group without knots):
    the end values outside a curve's knots, else linear interpolation between the last
    knot at or below ``x[i]`` and the next, in the arithmetic of the compiled loop this
    replaced (:func:`tagsmith.calibration._isotonic._interp`), so to the bit its values."""
    group = np.asarray(group, dtype=np.int64)
    x = np.asarray(x, dtype=np.float64)
    indptr, kx, ky = knots.indptr, knots.x, knots.y
    out = np.empty(x.size)
    lo, hi = indptr[group], indptr[group + 1]
    empty = hi == lo
    out[empty] = np.nan
    rest = np.flatnonzero(~empty)
    lo, hi, v = lo[rest], hi[rest], x[rest]
    below = v <= kx[lo]
    above = ~below & (v >= kx[hi - 1])
    out[rest[below]] = ky[lo[below]]
    out[rest[above]] = ky[hi[above] - 1]
    inside = ~(below | above)
    rows, lo, hi, v = rest[inside], lo[inside], hi[inside], v[inside]
    # the last knot of the curve at or below v: a search of (group, rank of x) keys, which
    # ascend over all the knots (groups in order, x non-decreasing within each)
    values, rank = np.unique(np.concatenate([kx, v]), return_inverse=True)
    knot_group = np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))
    scale = np.int64(values.size)
    keys = knot_group * scale + rank[:kx.size]
    a = np.searchsorted(keys, group[rows] * scale + rank[kx.size:], side="right") - 1
    # a NaN, ranked above every knot, is taken between the first two knots (the one knot
    # of a single-knot curve) as the compiled search takes it: NaN, or the first value
    # where those knots share their x; the search's last knot read another curve's
    a = np.where(np.isnan(v), lo, a)
    b = np.minimum(a + 1, hi - 1)
    span = kx[b] - kx[a]
    t = np.zeros(rows.size)
    positive = span > 0
    t[positive] = (v[positive] - kx[a[positive]]) / span[positive]
    out[rows] = ky[a] + t * (ky[b] - ky[a])
    return out
