"""Frequency bands: labels grouped by how often they occur in training.

Rare labels have too little held-out data for a calibrator, a threshold or a
conformal guarantee of their own. Bands pool them: per-label estimates shrink
toward their band's, thresholds back off to the band's, and Mondrian conformal
sets give each band its own guarantee. Band edges are chosen so that every band
holds about the same number of label *occurrences* (not labels), so each band has
about as much evidence as the others; the rare band then holds many labels.

>>> bands = FrequencyBands.from_counts(np.array([5, 5, 10, 10, 20, 50]), n_bands=3)
>>> bands.band_of.tolist(), bands.names()
([0, 0, 0, 0, 1, 2], ['0-19', '20-49', '50+'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tagsmith._params import check_int
from tagsmith.exceptions import InvalidParameterError


@dataclass(frozen=True)
class FrequencyBands:
    """``band_of`` (``(n_labels,)`` int16) and ``edges`` (``(n_bands + 1,)`` int64).

    Band ``b`` holds labels whose training count ``c`` satisfies
    ``edges[b] <= c < edges[b + 1]``; ``edges[-1]`` is a sentinel above every count.
    """

    band_of: np.ndarray
    edges: np.ndarray

    def __post_init__(self):
        band_of = np.ascontiguousarray(self.band_of, dtype=np.int16)
        edges = np.asarray(self.edges, dtype=np.int64)
        if band_of.ndim != 1:  # read by label id: a 2-D one was an IndexError there
            raise InvalidParameterError("band_of", "a 1-D array of band ids, one per label",
                                        f"shape {band_of.shape}")
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise InvalidParameterError("edges", "an increasing array of at least 2 counts",
                                        edges.tolist())
        if band_of.size and (band_of.min() < 0 or band_of.max() >= edges.size - 1):
            raise InvalidParameterError("band_of", f"band ids in [0, {edges.size - 1})",
                                        f"range [{band_of.min()}, {band_of.max()}]")
        object.__setattr__(self, "band_of", band_of)
        object.__setattr__(self, "edges", edges)

    @property
    def n_bands(self) -> int:
        return int(self.edges.size - 1)

    @property
    def n_labels(self) -> int:
        return int(self.band_of.size)

    def __repr__(self) -> str:
        """One line at a prompt: the dataclass repr printed every label's band.

        >>> FrequencyBands.from_counts(np.arange(2000) % 60, n_bands=3)
        FrequencyBands(n_labels=2000, bands=['0-33', '34-48', '49+'], sizes=[1142, 495, 363])
        """
        return (f"FrequencyBands(n_labels={self.n_labels}, bands={self.names()}, "
                f"sizes={self.sizes().tolist()})")

    @classmethod
    def single(cls, n_labels: int) -> FrequencyBands:
        """One band holding every label."""
        return cls(np.zeros(n_labels, np.int16), np.array([0, np.iinfo(np.int64).max]))

    @classmethod
    def from_counts(cls, counts: npt.ArrayLike, n_bands: int = 4) -> FrequencyBands:
        """Bands of about equal total occurrences from per-label ``counts``.

        Edges fall on count values, so labels with equal counts share a band and
        fewer than ``n_bands`` bands result when the counts allow no finer split.
        """
        check_int("n_bands", n_bands, 1, numpy=True)
        counts = np.asarray(counts, dtype=np.int64)
        if counts.ndim != 1 or (counts.size and counts.min() < 0):
            raise InvalidParameterError("counts", "a 1-D array of non-negative counts",
                                        f"shape {counts.shape}")
        top = np.iinfo(np.int64).max
        if counts.size == 0 or counts.sum() == 0 or n_bands == 1:
            return cls(np.zeros(counts.size, np.int16), np.array([0, top]))
        ordered = np.sort(counts)
        mass = np.cumsum(ordered)
        # past one band per occurrence the targets step by less than one, and every
        # label with a count already starts a band: more split no finer (2**64 bands
        # asked np.arange for as many targets, a traceback; 1e12 for terabytes)
        n_bands = min(n_bands, int(mass[-1]) + 1)
        targets = mass[-1] * np.arange(1, n_bands) / n_bands
        # the label whose occurrences cross a target starts the next band
        cuts = ordered[np.minimum(np.searchsorted(mass, targets, side="right"),
                                  ordered.size - 1)]
        edges = np.unique(np.concatenate([[0], cuts[cuts > 0], [top]]))
        band_of = np.searchsorted(edges, counts, side="right") - 1
        lower = edges[np.unique(band_of)]  # drop bands no label falls in
        lower[0] = 0
        edges = np.r_[lower, top]
        band_of = np.searchsorted(edges, counts, side="right") - 1
        return cls(band_of.astype(np.int16), edges)

    def names(self) -> list[str]:
        """Human-readable count ranges, e.g. ``['0-9', '10-99', '100+']``; a band
        of one count is named by it (``'3'``, not ``'3-3'``)."""
        out = []
        for b in range(self.n_bands):
            low, high = int(self.edges[b]), int(self.edges[b + 1])
            if b == self.n_bands - 1:
                out.append(f"{low}+")
            else:  # a band of one count is that count, not "3-3"
                out.append(f"{low}" if high - 1 == low else f"{low}-{high - 1}")
        return out

    def sizes(self) -> np.ndarray:
        """Labels per band, ``(n_bands,)``."""
        return np.bincount(self.band_of, minlength=self.n_bands)

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {"n_bands": self.n_bands}, {"band_of": self.band_of, "edges": self.edges}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> FrequencyBands:
        """The bands ``to_state`` saved, integer arrays as stored: converted to int16, a
        band id of 65537 wrapped round to band 1 and a float one was truncated."""
        for name in ("band_of", "edges"):
            array = np.asarray(arrays[name])
            if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"bands: {name} is not a 1-D integer array "
                                 f"(dtype {array.dtype}, shape {array.shape})")
        band_of = np.asarray(arrays["band_of"])
        if band_of.size and (int(band_of.min()) < 0
                             or int(band_of.max()) > np.iinfo(np.int16).max):
            raise ValueError(f"bands: band_of holds band ids in [{band_of.min()}, "
                             f"{band_of.max()}]")
        bands = cls(band_of, arrays["edges"])
        if bands.n_bands != int(meta["n_bands"]):
            raise ValueError(f"bands: {bands.n_bands} edges stored, {meta['n_bands']} recorded")
        return bands
