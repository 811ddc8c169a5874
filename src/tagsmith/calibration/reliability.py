"""Reliability report: how well scores match observed frequencies.

Every valid (document, label) entry of a :class:`~tagsmith.topk.TopK` is one binary
prediction: probability ``p`` that the label is true. Over those entries:

* **ECE** (expected calibration error): entries fall in ``n_bins`` equal-width bins
  of ``p`` over [0, 1]; ECE is the entry-weighted mean over bins of
  ``|observed rate - mean p|``. Top-1 ECE does the same over each document's best
  entry only.
* **Brier score**: mean of ``(p - y)^2``.
* **Per band**: the same per frequency band of the labels.
* **Tail**: for labels outside the top-k, the expected number of true labels (sum of
  their tail probabilities) against the observed number.

When the top-k lists every label (small label spaces), the entries are all
(document, label) pairs. For large label spaces they are the listed candidates;
choose ``k`` to say which (e.g. the 10 shown to users).

>>> y = np.array([1, 0, 1, 0]); p = np.array([0.9, 0.1, 0.6, 0.4])
>>> round(expected_calibration_error(y, p, n_bins=2), 3), round(brier_score(y, p), 3)
(0.25, 0.085)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tagsmith import _plotting
from tagsmith._params import check_int
from tagsmith._plural import plural_s
from tagsmith._typing import LabelMatrix
from tagsmith.calibration._entries import collect_entries
from tagsmith.calibration.bands import FrequencyBands
from tagsmith.exceptions import InvalidParameterError, MissingDependencyError
from tagsmith.topk import TopK

DEFAULT_BINS = 15


def _check_outcomes(y, p) -> tuple[np.ndarray, np.ndarray]:
    """``y`` and ``p`` as flat float64 arrays of one length, ``p`` probabilities in
    [0, 1] and ``y`` outcomes in [0, 1]; otherwise :class:`InvalidParameterError`."""
    arrays = []
    for name, values in (("y", y), ("p", p)):
        try:
            arrays.append(np.asarray(values, dtype=np.float64).ravel())
        except (TypeError, ValueError):
            raise InvalidParameterError(name, "an array of numbers",
                                        type(values).__name__) from None
    y, p = arrays
    if y.shape != p.shape:
        raise InvalidParameterError("p", f"{y.size} probabilities (one per label)", p.size)
    for name, values, expected in (("p", p, "probabilities in [0, 1]"),
                                   ("y", y, "outcomes in [0, 1]")):
        if values.size and (np.nanmin(values) < 0 or np.nanmax(values) > 1
                            or np.isnan(values).any()):
            n_nan = int(np.isnan(values).sum())
            raise InvalidParameterError(
                name, expected, f"{n_nan} NaN value{plural_s(n_nan)}" if n_nan
                else f"range [{np.nanmin(values)}, {np.nanmax(values)}]")
    return y, p


def _bin_stats(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int):
    check_int("n_bins", n_bins, 1, numpy=True)
    y, p = _check_outcomes(y, p)
    # by the edges the report shows (b / n_bins): floor(p * n_bins) put a probability on an
    # edge in the bin below for some edges (0.29 * 100 = 28.999...)
    edges = np.arange(n_bins + 1) / n_bins
    bins = np.minimum(np.searchsorted(edges, p, side="right") - 1, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.int64)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    return count, sum_p, sum_y


def expected_calibration_error(y: npt.ArrayLike, p: npt.ArrayLike, *,
                               n_bins: int = DEFAULT_BINS) -> float:
    """ECE of probabilities ``p`` for binary outcomes ``y`` (1-D, same length).

    Equal-width bins; 0.0 for no entries.
    """
    count, sum_p, sum_y = _bin_stats(y, p, n_bins)
    total = count.sum()
    return float(np.abs(sum_y - sum_p).sum() / total) if total else 0.0


def brier_score(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean squared difference between ``p`` and the outcomes ``y`` (0.0 if empty).

    Checked as :func:`expected_calibration_error` checks them: one probability in
    [0, 1] per outcome in [0, 1] (numpy would broadcast a length-1 ``p`` and a NaN
    would give a NaN score)."""
    y, p = _check_outcomes(y, p)
    return float(np.mean((p - y) ** 2)) if y.size else 0.0


def _rounded(value: float) -> float:
    return round(float(value), 6)


@dataclass
class ReliabilityReport:
    """ECE, Brier, bins, per-band rows and tail check of one set of probabilities."""

    n_entries: int
    n_positive: int
    ece: float
    brier: float
    top1_ece: float
    bins: list[dict]
    bands: list[dict] = field(default_factory=list)
    tail: dict | None = None

    def __repr__(self) -> str:
        """One line at a prompt: the dataclass repr printed every bin and band row.

        >>> ReliabilityReport(1000, 120, 0.01234, 0.05, 0.02, bins=[{}] * 15)
        ReliabilityReport(n_entries=1000, n_positive=120, ece=0.01234, brier=0.05, top1_ece=0.02)
        """
        return (f"ReliabilityReport(n_entries={self.n_entries}, n_positive={self.n_positive}, "
                f"ece={self.ece:.4g}, brier={self.brier:.4g}, top1_ece={self.top1_ece:.4g})")

    def to_dict(self) -> dict:
        out = {"n_entries": self.n_entries, "n_positive": self.n_positive,
               "ece": _rounded(self.ece), "brier": _rounded(self.brier),
               "top1_ece": _rounded(self.top1_ece), "bins": self.bins, "bands": self.bands}
        if self.tail is not None:
            out["tail"] = self.tail
        return out


def reliability_report(y_true: LabelMatrix, topk: TopK, *, bands: FrequencyBands | None = None,
                       tail: np.ndarray | None = None, tail_floor: float = 0.0,
                       n_bins: int = DEFAULT_BINS) -> ReliabilityReport:
    """Reliability of the probabilities in ``topk`` against ``y_true`` (n_docs x n_labels).

    ``bands`` adds per-band rows; ``tail`` (per-label probabilities of labels outside
    the top-k, e.g. :attr:`Calibrator.tail`) adds the tail check; ``tail_floor``
    (:attr:`Calibrator.tail_floor`) the part of its expected count that is at least the
    tails' floor, not evidence: ``expected_from_floor_at_least``.
    """
    entries = collect_entries(y_true, topk)
    y = entries.hit.astype(np.float64)
    p = entries.score
    count, sum_p, sum_y = _bin_stats(y, p, n_bins)
    bins = [{"low": _rounded(b / n_bins), "high": _rounded((b + 1) / n_bins),
             "count": int(count[b]),
             "mean_probability": _rounded(sum_p[b] / count[b]) if count[b] else None,
             "observed_rate": _rounded(sum_y[b] / count[b]) if count[b] else None}
            for b in range(n_bins)]
    # entries run row by row, best first: a row's first entry is its top-1
    is_first = np.r_[True, entries.row[1:] != entries.row[:-1]] if entries.row.size \
        else np.zeros(0, dtype=bool)
    top1_ece = expected_calibration_error(y[is_first], p[is_first], n_bins=n_bins)
    report = ReliabilityReport(int(y.size), int(y.sum()),
                               expected_calibration_error(y, p, n_bins=n_bins),
                               brier_score(y, p), top1_ece, bins)
    if bands is not None:
        report.bands = _band_rows(bands, entries.label, y, p, n_bins)
    if tail is not None:
        report.tail = _tail_check(entries, np.asarray(tail, dtype=np.float64), tail_floor)
    return report


def _band_rows(bands: FrequencyBands, label, y, p, n_bins: int) -> list[dict]:
    band = bands.band_of[label]
    rows = []
    for b, name in enumerate(bands.names()):
        mask = band == b
        n = int(mask.sum())
        rows.append({"band": name, "n_labels": int(bands.sizes()[b]), "n_entries": n,
                     "n_positive": int(y[mask].sum()),
                     "mean_probability": _rounded(p[mask].mean()) if n else None,
                     "observed_rate": _rounded(y[mask].mean()) if n else None,
                     "ece": _rounded(expected_calibration_error(y[mask], p[mask],
                                                                n_bins=n_bins)),
                     "brier": _rounded(brier_score(y[mask], p[mask]))})
    return rows


def _tail_check(entries, tail: np.ndarray, floor: float) -> dict:
    """Observed and expected true labels outside the top-k; of the expected, the part
    that is the tails' floor (at least): each tail holds at least ``floor`` however rare
    its label, and on few calibration documents and many labels that floor, not the
    evidence, made the count (yso-finna-en, 300 calibration documents: 41,849 of the
    43,340 expected where 3,729 were found)."""
    unlisted = entries.n_docs - np.bincount(entries.label, minlength=entries.n_labels)
    expected = float((unlisted * tail).sum())
    observed = int(entries.y.nnz - entries.hit.sum())
    return {"expected_positives_outside_topk": _rounded(expected),
            "expected_from_floor_at_least": _rounded(float(
                (unlisted * np.minimum(tail, floor)).sum())),
            "observed_positives_outside_topk": observed,
            "positives": int(entries.y.nnz)}


#: what needs matplotlib here, as its error names it
_FEATURE = "writing reliability diagrams"


def check_plotting() -> None:
    """Raise :class:`MissingDependencyError` unless matplotlib can be imported, as
    :func:`reliability_diagram` does: the commands call it before the work whose diagram
    they draw (a core install failed only once the work was done, and calibrate had
    saved the bundle)."""
    _plotting.check_plotting("plot", _FEATURE)


def reliability_diagram(reports: dict[str, ReliabilityReport], path: str | Path, *,
                        title: str = "Reliability") -> Path:
    """Write a reliability diagram (PNG) of one or more reports, e.g. raw and calibrated.

    Needs matplotlib (``pip install 'tagsmith[plot]'``); written atomically: a
    directory or a path below a file is refused before drawing, and on any failure
    the temporary file is removed and ``path`` is left as it was.
    """
    from tagsmith.data.textio import atomic_binary_writer, check_writable

    path = check_writable(path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", extra="plot", feature=_FEATURE) from exc
    fig, (curve, hist) = plt.subplots(2, 1, figsize=(5.5, 7), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    curve.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, report in reports.items():
        xs = [b["mean_probability"] for b in report.bins if b["count"]]
        ys = [b["observed_rate"] for b in report.bins if b["count"]]
        curve.plot(xs, ys, marker="o", label=f"{name} (ECE {report.ece:.3f})")
        centers = [(b["low"] + b["high"]) / 2 for b in report.bins]
        hist.bar(centers, [b["count"] for b in report.bins], width=1 / len(report.bins),
                 alpha=0.5, label=name)
    curve.set_ylabel("observed frequency")
    curve.set_title(title)
    curve.legend(loc="upper left")
    hist.set_yscale("log")
    hist.set_xlabel("predicted probability")
    hist.set_ylabel("entries")
    fig.tight_layout()
    try:
        with atomic_binary_writer(path) as out:
            fig.savefig(out, format="png", dpi=110)
    finally:
        plt.close(fig)
    return path
