"""Conformal label sets of a batch: the set, its size and an abstain flag per document.

A set is the document's listed candidates that pass its threshold plus, possibly,
*tail* labels (not in the document's top-k, but whose tail probability passes).
Tail labels are the same for every document, so they are kept implicitly as one
boolean mask over the label space; nothing of size documents x labels is built
unless :meth:`LabelSets.to_csr` is asked for it.

>>> from tagsmith.topk import TopK
>>> probs = TopK.from_scores(np.array([[0.9, 0.4, 0.1]]), k=2)
>>> sets = LabelSets(probs, probs.scores >= 0.3, np.zeros(3, bool), np.array([2]),
...                  np.array([False]), alpha=0.1, method="recall")
>>> sets.labels(0).tolist(), sets.to_csr().toarray().astype(int).tolist()
([0, 1], [[1, 1, 0]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tagsmith._typing import LabelMatrix
from tagsmith.calibration._entries import Entries, check_labels, collect_entries
from tagsmith.calibration.bands import FrequencyBands
from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import TopK

#: materialising more set members than this in one call is refused
MAX_MATERIALISED = 50_000_000


@dataclass
class LabelSets:
    """Conformal sets of ``len(topk)`` documents.

    ``in_set`` (``n x k`` bool) marks listed candidates in the set; ``tail_in``
    (``(n_labels,)`` bool) the labels that join every set from the tail when not
    listed; ``size`` (``(n,)``) counts both; ``abstain`` (``(n,)`` bool) flags
    documents whose set is too large or too uncertain: ``too_large`` and ``unsure``
    (``(n,)`` bool, when known) say which of the two, for the count of abstentions
    and their reasons that ``suggest --sets`` prints. ``thresholds`` and
    ``group_of`` record the per-group thresholds used; ``excluded`` (``(n_labels,)``
    bool, or None) the labels the calibration left out (never trained: in no set), whose
    true labels :meth:`recall` and :meth:`summary` leave out as the guarantee does.
    """

    topk: TopK
    in_set: np.ndarray
    tail_in: np.ndarray
    size: np.ndarray
    abstain: np.ndarray
    alpha: float
    method: str
    thresholds: np.ndarray | None = None
    group_of: np.ndarray | None = None
    excluded: np.ndarray | None = None
    too_large: np.ndarray | None = None
    unsure: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.topk)

    def __repr__(self) -> str:
        """What a user checks at a prompt: the dataclass repr printed every array.

        >>> probs = TopK.from_scores(np.array([[0.9, 0.4, 0.1], [0.5, 0.3, 0.2]]), k=2)
        >>> LabelSets(probs, probs.scores >= 0.35, np.zeros(3, bool), np.array([2, 1]),
        ...           np.array([False, True]), alpha=0.1, method="recall")
        LabelSets(n_docs=2, n_labels=3, mean_set_size=1.5, n_abstain=1, alpha=0.1, method='recall')
        """
        mean = float(self.size.mean()) if len(self) else 0.0
        return (f"LabelSets(n_docs={len(self)}, n_labels={self.topk.n_labels}, "
                f"mean_set_size={mean:.4g}, n_abstain={int(np.count_nonzero(self.abstain))}, "
                f"alpha={float(self.alpha):g}, method={self.method!r})")

    @property
    def n_tail(self) -> np.ndarray:
        """Tail labels in each set, ``(n,)``."""
        listed = np.where(self.topk.valid, self.topk.indices, 0)
        listed_tail = (self.topk.valid & self.tail_in[listed]).sum(axis=1)
        return int(self.tail_in.sum()) - listed_tail

    def labels(self, i: int) -> np.ndarray:
        """Label ids in document ``i``'s set: listed members first (best first), then tail."""
        listed = self.topk.indices[i][self.in_set[i]]
        if not self.tail_in.any():
            return listed
        tail = np.flatnonzero(self.tail_in)
        return np.concatenate([listed, tail[~np.isin(tail, self.topk.indices[i])]])

    def ranked_members(self, tail: np.ndarray, max_members: int
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per document, the label ids and probabilities of its ``max_members`` most
        probable members, best first: a listed member scores its own probability, a tail
        one its ``tail`` probability (``(n_labels,)``); ties keep :meth:`labels`' order
        (listed members first, best first, then tail ones by label id).

        The tail members are ranked once for the batch, and each document reads only
        the first ``max_members + k`` of them: ranking :meth:`labels` per document cost
        every document a pass over the label space and a sort of every tail member.
        """
        tail = np.asarray(tail, dtype=np.float64)
        tail_ids = np.flatnonzero(self.tail_in)
        tail_ids = tail_ids[np.argsort(-tail[tail_ids], kind="stable")]  # ties by label id
        # a document lists at most k of them, so its best unlisted ones are among these
        head = tail_ids[:max_members + self.topk.k]
        head_probs = tail[head]
        place = np.full(self.topk.n_labels + 1, -1, dtype=np.int64)  # last: padding (-1)
        place[head] = np.arange(head.size)
        out = []
        for i in range(len(self)):
            member = self.in_set[i]
            unlisted = np.ones(head.size, dtype=bool)
            listed_at = place[self.topk.indices[i]]
            unlisted[listed_at[listed_at >= 0]] = False
            ids = np.concatenate([self.topk.indices[i][member].astype(np.int64),
                                  head[unlisted]])
            probs = np.concatenate([self.topk.scores[i][member].astype(np.float64),
                                    head_probs[unlisted]])
            order = np.argsort(-probs, kind="stable")[:max_members]
            out.append((ids[order], probs[order]))
        return out

    def to_csr(self, max_entries: int = MAX_MATERIALISED) -> sp.csr_matrix:
        """The sets as a boolean sparse ``n x n_labels`` matrix in canonical form
        (column indices sorted within a row, none twice).

        Refused (clear error) when that would hold more than ``max_entries`` members,
        which happens when many tail labels are in every set.
        """
        total = int(self.size.sum())
        if total > max_entries:
            raise InvalidParameterError(
                "max_entries", f"at least the {total:,} set members to materialise "
                "(sets include many tail labels; use a larger alpha or read sizes instead)",
                max_entries)
        n, n_labels = len(self.topk), self.topk.n_labels
        listed = sp.csr_matrix((np.ones(int(self.in_set.sum()), dtype=bool),
                                self.topk.indices[self.in_set],
                                np.r_[0, np.cumsum(self.in_set.sum(axis=1))]),
                               shape=(n, n_labels))
        tail = np.flatnonzero(self.tail_in)
        if not tail.size:
            # the members went in in top-k order (best first), not by label id: scipy
            # expects sorted column indices within a row (has_canonical_format)
            listed.sort_indices()
            return listed
        everyone = sp.csr_matrix((np.ones(n * tail.size, dtype=np.int8), np.tile(tail, n),
                                  np.arange(n + 1) * tail.size), shape=(n, n_labels))
        # a listed label is scored by its own probability, never by its tail one
        valid = self.topk.valid
        listed_tail = valid & self.tail_in[np.where(valid, self.topk.indices, 0)]
        shadowed = sp.csr_matrix((np.ones(int(listed_tail.sum()), dtype=np.int8),
                                  self.topk.indices[listed_tail],
                                  np.r_[0, np.cumsum(listed_tail.sum(axis=1))]),
                                 shape=(n, n_labels))
        out = sp.csr_matrix(listed.astype(np.int8) + everyone - shadowed)
        out.eliminate_zeros()
        return sp.csr_matrix(out.astype(bool))

    def recall(self, y_true: LabelMatrix) -> np.ndarray:
        """Per document, the share of its true labels in its set (NaN without labels),
        the true labels of :attr:`excluded` labels left out (the guarantee's recall: they
        are in no set, and counted they were misses of every document carrying them)."""
        return self._recall(self._learnt(y_true)[0])

    def _recall(self, y_true: LabelMatrix) -> np.ndarray:
        return self._recall_of(*self._caught(y_true))

    def _recall_of(self, entries: Entries, rows: np.ndarray, caught: np.ndarray
                   ) -> np.ndarray:
        """:meth:`_recall` of :meth:`_caught`'s tuple."""
        n_true = np.diff(entries.y.indptr)
        hits = np.bincount(rows, weights=caught, minlength=len(self.topk))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n_true > 0, hits / n_true, np.nan)

    def _caught(self, y_true: LabelMatrix) -> tuple[Entries, np.ndarray, np.ndarray]:
        """``y_true``'s :func:`collect_entries`, and per true label (in its CSR order)
        its document and whether the set holds it."""
        entries = collect_entries(y_true, self.topk)
        cols = entries.true_col
        rows = entries.true_row
        inside = cols >= 0
        caught = np.zeros(cols.size, dtype=bool)
        caught[inside] = self.in_set[rows[inside], cols[inside]]
        caught[~inside] = self.tail_in[entries.y.indices[~inside]]
        return entries, rows, caught

    def _learnt(self, y_true: LabelMatrix) -> tuple[LabelMatrix, int]:
        """``y_true`` less the true labels of :attr:`excluded` labels, and how many
        were left out."""
        if self.excluded is None or not self.excluded.any():
            return y_true, 0
        return counted_without_labels(y_true, self.excluded, self.topk)

    def summary(self, y_true: LabelMatrix | None = None, *,
                bands: FrequencyBands | None = None) -> dict:
        """Mean and distribution of set sizes, abstain rate and, with labels, recall
        (of the labels not :attr:`excluded`, over the ``n_labelled_docs`` documents with
        such a true label; ``n_untrained_positives`` counts the true labels left out).
        With ``bands`` too, ``recall_by_band``: :meth:`recall_by_band`'s rows (``bands``
        without labels are refused: there is no recall to split by band)."""
        if bands is not None:
            if y_true is None:
                # they were ignored without a word: a caller who forgot y_true got a
                # summary without recall_by_band and no hint why
                raise InvalidParameterError(
                    "bands", "given with y_true (recall_by_band is the recall of the true "
                    "labels)", "bands without y_true")
            # checked before the recall is computed (it was checked after, the work lost)
            self._check_bands(bands)
        out = {"alpha": self.alpha, "method": self.method, "n_docs": len(self),
               "set_size_mean": float(self.size.mean()) if len(self) else 0.0,
               "set_size_median": float(np.median(self.size)) if len(self) else 0.0,
               "set_size_max": int(self.size.max()) if len(self) else 0,
               "empty_sets": int(np.count_nonzero(self.size == 0)),
               "abstain_rate": float(self.abstain.mean()) if len(self) else 0.0,
               "tail_labels": int(self.tail_in.sum())}
        if y_true is not None:
            learnt, dropped = self._learnt(y_true)
            # the learnt labels checked, collected and looked up once for both recalls
            # (recall_by_band left the excluded labels out and collected them again)
            caught = self._caught(learnt)
            recall = self._recall_of(*caught)
            labelled = ~np.isnan(recall)
            out["recall_mean"] = float(recall[labelled].mean()) if labelled.any() else None
            out["n_labelled_docs"] = int(labelled.sum())
            out["n_untrained_positives"] = dropped
            if bands is not None:
                out["recall_by_band"] = self._recall_by_band(caught, bands)
        return out

    def recall_by_band(self, y_true: LabelMatrix, bands: FrequencyBands) -> list[dict]:
        """Per frequency band (``band``, its name, and ``n_labels``), the mean over the
        ``n_docs`` documents with a true label of that band of the share of those labels
        in the set (``recall_mean``, None without such documents), the true labels of
        :attr:`excluded` labels left out: what the ``mondrian`` sets promise per band,
        and what the marginal ``recall`` sets may trade away in the rare bands (on one
        moderation walk at ``alpha`` 0.2: 0.79 overall, 0.61 for the labels of 45 or
        fewer training documents).

        >>> probs = TopK.from_scores(np.array([[0.9, 0.4, 0.1], [0.8, 0.1, 0.6]]), k=3)
        >>> sets = LabelSets(probs, probs.scores >= 0.5, np.zeros(3, bool), np.array([1, 2]),
        ...                  np.array([False, False]), alpha=0.1, method="recall")
        >>> bands = FrequencyBands(np.array([1, 0, 0]), np.array([0, 10, 100]))
        >>> y = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1]]))
        >>> [(row["band"], row["n_docs"], row["recall_mean"])
        ...  for row in sets.recall_by_band(y, bands)]
        [('0-9', 2, 0.5), ('10+', 2, 1.0)]
        """
        self._check_bands(bands)
        return self._recall_by_band(self._caught(self._learnt(y_true)[0]), bands)

    def _check_bands(self, bands: FrequencyBands) -> None:
        if bands.n_labels != self.topk.n_labels:
            raise InvalidParameterError("bands", f"bands over the sets' {self.topk.n_labels} "
                                        "labels", f"bands over {bands.n_labels}")

    def _recall_by_band(self, caught_labels: tuple[Entries, np.ndarray, np.ndarray],
                        bands: FrequencyBands) -> list[dict]:
        """:meth:`recall_by_band` of :meth:`_caught`'s tuple of the learnt labels (and
        ``bands`` checked)."""
        # one pass over the true labels, counted per (document, band): each band's
        # labels were checked, collected and looked up again, once per band
        entries, docs, caught = caught_labels
        n_bands = bands.n_bands
        cell = docs * n_bands + np.asarray(bands.band_of)[entries.y.indices]
        n_true = np.bincount(cell, minlength=len(self) * n_bands).reshape(-1, n_bands)
        hits = np.bincount(cell, weights=caught,
                           minlength=len(self) * n_bands).reshape(-1, n_bands)
        rows = []
        for band, (name, size) in enumerate(zip(bands.names(), bands.sizes().tolist(),
                                                strict=True)):
            labelled = n_true[:, band] > 0
            rows.append({"band": name, "n_labels": int(size), "n_docs": int(labelled.sum()),
                         "recall_mean": float((hits[labelled, band]
                                               / n_true[labelled, band]).mean())
                         if labelled.any() else None})
        return rows


def without_labels(y_true: LabelMatrix, labels: np.ndarray, topk: TopK) -> sp.csr_matrix:
    """``y_true``, checked as :func:`~tagsmith.calibration._entries.collect_entries`
    checks it (a 2-D matrix of labels 0 or 1 of ``topk``'s shape: an error naming
    ``y_true``), as a sparse matrix with the true labels of ``labels`` (a boolean mask:
    the labels never trained, in no conformal set) removed. One for the recall sets,
    LP-ICP and :class:`LabelSets`' recall, each of which wrote it."""
    return counted_without_labels(y_true, labels, topk)[0]


def counted_without_labels(y_true: LabelMatrix, labels: np.ndarray, topk: TopK
                           ) -> tuple[sp.csr_matrix, int]:
    """:func:`without_labels`, and how many true labels it removed: :class:`LabelSets`'
    summary counts them, and checked ``y_true`` a second time to do so."""
    matrix = check_labels(y_true, topk).copy()  # the caller's matrix left as it was
    removed = labels[matrix.indices]  # the checked matrix stores no zero
    matrix.data[removed] = False
    matrix.eliminate_zeros()
    return matrix, int(np.count_nonzero(removed))
