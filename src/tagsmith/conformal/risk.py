"""Recall control: conformal risk control (CRC) of the false-negative rate.

Guarantee (Angelopoulos, Bates, Fisch, Lei & Schuster, "Conformal Risk Control",
2022): for a calibration set of ``n`` documents with at least one true label and a
new document exchangeable with them,

    E[ 1 - |Y ∩ C(X)| / |Y| ]  <=  alpha,

i.e. *on average, at least 1 - alpha of each document's true labels are in its set*.
Sets are ``C_t(x) = {l : s(x, l) >= t}`` for a score ``s`` fixed before calibration;
the loss is non-increasing as ``t`` falls and bounded by 1, and ``t`` is the largest
value whose calibration loss satisfies ``(n R(t) + 1) / (n + 1) <= alpha``.

Scores: a label in a document's top-k scores its (calibrated) probability; a label
outside it scores its *tail probability* ``tail[l]`` (see
:mod:`tagsmith.calibration.scaling`), the same for every document. Sets can thus
reach beyond the top-k, and the guarantee holds at any ``alpha`` even when the top-k
alone cannot reach the recall asked for: the set then includes labels by tail
probability, which is honest but large (a flag says so). Without tail
probabilities (``tail=None``) an unlisted label scores ``-inf`` and enters only
when the set must be the whole label space.

Excluded labels (``exclude``, a boolean mask: labels the model was never trained on,
whose score is the same for every document): they are in no set, and their true labels
are left out of the calibration, so the guarantee is then of the labels not excluded,
``E[ 1 - |Y' ∩ C(X)| / |Y'| ] <= alpha`` with ``Y'`` a document's true labels less the
excluded ones, over documents with such a label; an excluded label's true labels are
all missed. Left in, such a label's constant score joined every set whenever the
threshold fell below it: noise in each set, saying nothing of the document.

Mondrian variant (``bands``): each frequency band gets its own threshold, fitted on
the documents with a true label in that band with the loss restricted to the
band's labels, so the recall guarantee holds *within every band*: rare labels are
not sacrificed to frequent ones.

Cost: fitting sorts the true labels' scores once (``O(nnz log nnz)``); any
``alpha`` is then a binary search, so one fitted object serves every alpha.

>>> import scipy.sparse as sp
>>> probs = TopK.from_scores(np.array([[0.9, 0.5, 0.1], [0.8, 0.3, 0.2]]), k=3)
>>> y = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1]]))
>>> crc = fit_recall_control(y, probs)
>>> crc.thresholds(0.5).tolist()  # misses allowed: (2 * R + 1) / 3 <= 0.5
[0.5]
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tagsmith._plural import plural_s
from tagsmith._typing import LabelMatrix
from tagsmith.calibration._entries import check_fit_documents, collect_entries
from tagsmith.calibration.bands import FrequencyBands
from tagsmith.conformal.sets import LabelSets, without_labels
from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import TopK


def check_alpha(alpha: object, name: str = "alpha") -> float:
    """``alpha`` as a float in (0, 1), else a clear error.

    Only numbers pass (numpy's too): a string such as ``"0.1"`` or ``True`` is refused,
    as every other numeric parameter refuses it.

    >>> check_alpha(0.1), check_alpha(np.float32(0.5))
    (0.1, 0.5)
    """
    if isinstance(alpha, bool | np.bool_) or not isinstance(alpha, numbers.Real) \
            or not 0.0 < float(alpha) < 1.0:  # NaN fails the comparison
        raise InvalidParameterError(name, "a number in (0, 1)", alpha)
    return float(alpha)


@dataclass
class RecallControl:
    """Fitted calibration statistics of CRC; see the module docstring.

    Per group ``g`` (one group, or one per band): the true labels' scores sorted
    ascending ``scores[indptr[g]:indptr[g+1]]`` with loss weights ``weights`` (``1 /
    |Y_i ∩ g|``), and ``n_docs[g]`` calibration documents with a true label in ``g``.
    ``tail`` (``(n_labels,)``) scores unlisted labels; ``band_of`` maps labels to
    groups (``None``: one group). ``k`` is the calibration top-k width: predict with
    exactly that many candidates (the model's top ``k``, calibrated). ``excluded``
    (bool, ``(n_labels,)``, or None: none) marks labels in no set, left out of the
    calibration (see the module docstring).
    """

    indptr: np.ndarray
    scores: np.ndarray
    weights: np.ndarray
    n_docs: np.ndarray
    tail: np.ndarray
    k: int
    band_of: np.ndarray | None = None
    mean_true_labels: float = 1.0
    excluded: np.ndarray | None = None

    @property
    def n_excluded(self) -> int:
        """How many labels are in no set (:attr:`excluded`)."""
        return 0 if self.excluded is None else int(np.count_nonzero(self.excluded))

    @property
    def n_labels(self) -> int:
        return int(self.tail.size)

    @property
    def n_groups(self) -> int:
        return int(self.n_docs.size)

    def __repr__(self) -> str:
        # one line at a prompt: the dataclass repr printed every calibration score
        return (f"RecallControl(n_labels={self.n_labels}, n_groups={self.n_groups}, "
                f"n_scores={int(self.scores.size)}, k={self.k})")

    @property
    def mondrian(self) -> bool:
        return self.band_of is not None

    def _group_of(self) -> np.ndarray:
        return (np.zeros(self.n_labels, np.int64) if self.band_of is None
                else self.band_of.astype(np.int64))

    def thresholds(self, alpha: float) -> np.ndarray:
        """Score threshold per group for miss rate ``alpha`` (``(n_groups,)``).

        ``-inf`` means the set is every label (too few calibration documents for this
        alpha: ``n < 1/alpha - 1``); ``+inf`` that an empty set already meets it.
        """
        alpha = check_alpha(alpha)
        out = np.empty(self.n_groups, dtype=np.float64)
        for g in range(self.n_groups):
            scores = self.scores[self.indptr[g]:self.indptr[g + 1]]
            weights = self.weights[self.indptr[g]:self.indptr[g + 1]]
            out[g] = _crc_threshold(scores, weights, int(self.n_docs[g]), alpha)
        return out

    def predict(self, topk: TopK, alpha: float, *, max_set_size: int | None = None,
                min_confidence: float = 0.0) -> LabelSets:
        """Label sets of the documents in ``topk`` (calibrated probabilities, best first).

        A document is flagged ``abstain`` when its set has more than ``max_set_size``
        labels (default: 3 x the calibration documents' mean number of true labels,
        at least 3) or its best probability is below ``min_confidence``.
        """
        if topk.n_labels != self.n_labels:
            raise InvalidParameterError("topk", f"probabilities over {self.n_labels} "
                                                f"label{plural_s(self.n_labels)}",
                                        f"{topk.n_labels} label{plural_s(topk.n_labels)}")
        self.check_width(topk)
        thresholds = self.thresholds(alpha)
        group = self._group_of()
        valid = topk.valid
        safe = np.where(valid, topk.indices, 0)
        entry_thr = thresholds[group[safe]]
        in_set = valid & (topk.scores >= entry_thr)
        # unlisted labels above their group's threshold join from the tail
        tail_in = self.tail >= thresholds[group]
        if self.excluded is not None:  # never trained: in no set, listed or not
            in_set &= ~self.excluded[safe]
            tail_in &= ~self.excluded
        listed_tail_in = (valid & tail_in[safe]).sum(axis=1)
        size = in_set.sum(axis=1) + int(tail_in.sum()) - listed_tail_in
        limit = self.default_max_set_size() if max_set_size is None else int(max_set_size)
        best = np.where(valid[:, 0], topk.scores[:, 0], 0.0) if topk.k else np.zeros(len(topk))
        too_large, unsure = size > limit, best < min_confidence
        return LabelSets(topk, in_set, tail_in, size.astype(np.int64), too_large | unsure,
                         alpha=check_alpha(alpha), method="mondrian" if self.mondrian
                         else "recall", thresholds=thresholds, group_of=group,
                         excluded=self.excluded, too_large=too_large, unsure=unsure)

    def check_width(self, topk: TopK, name: str = "topk") -> None:
        """Refuse a ``topk`` whose width is not the calibration width :attr:`k`.

        The thresholds were calibrated on scores where a label outside the top ``k``
        scores its tail probability. With fewer candidates, true labels that the
        calibration saw with their own (higher) probability fall to the tail and drop
        out of the sets; with more, labels the calibration scored by their tail score
        their own probability instead, which a calibrator fitted on top-``k`` entries
        often puts below the tail (measured: 25% of true labels missed at
        ``alpha = 0.1``, isotonic, top-3 of 40 labels). Either way the documents are no
        longer scored as the calibration ones were, and the recall guarantee silently
        no longer holds. The top ``k`` of a wider calibrated top-k is no cure: it is
        ranked by calibrated probability, not by the model's score.
        """
        if topk.k != self.k:
            raise InvalidParameterError(
                name, f"exactly the calibration width of {self.k} candidates per document "
                f"(the recall guarantee was calibrated on the model's top-{self.k}, "
                "calibrated)", f"a top-{topk.k}")

    def default_max_set_size(self) -> int:
        return max(3, int(np.ceil(3 * self.mean_true_labels)))

    # -- persistence -------------------------------------------------------------------
    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        meta = {"k": self.k, "n_labels": self.n_labels, "mondrian": self.mondrian,
                "mean_true_labels": self.mean_true_labels}
        arrays = {"indptr": self.indptr.astype(np.int64), "scores": self.scores,
                  "weights": self.weights, "n_docs": self.n_docs.astype(np.int64),
                  "tail": self.tail}
        if self.band_of is not None:
            arrays["band_of"] = self.band_of.astype(np.int16)
        if self.excluded is not None and self.excluded.any():
            arrays["excluded"] = self.excluded.astype(bool)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> RecallControl:
        """The recall control ``to_state`` saved; :class:`ValueError` saying what is wrong
        with any other state (a bundle loads it as a damaged bundle).

        Checked here, not when sets are asked for: a 2-D or scalar ``n_docs`` or a 2-D
        ``tail`` loaded, then failed on every text with a TypeError or an IndexError;
        unsorted or NaN scores, weights that do not add up to the documents counted, a
        NaN tail gave sets without their guarantee, silently.
        """
        from tagsmith._params import check_int, check_number
        from tagsmith.store.bundle import (
            check_ids,
            check_pointers,
            check_sorted_groups,
            check_values,
        )

        part = "Mondrian recall-control" if meta.get("mondrian") else "recall-control"
        n_labels = check_int(f"{part} n_labels", meta["n_labels"], 0)
        # scores: probabilities, or -inf for a label with no tail (fitted without one)
        scores = check_values(f"{part} scores", arrays["scores"], (None,), finite=False)
        # one weight per score, and the groups' offsets ending at the last score: each
        # group's slices of the two are paired by position when thresholds are computed
        if np.shape(arrays["weights"]) != scores.shape:
            raise ValueError(f"{part} scores (shape {scores.shape}) and weights "
                             f"(shape {np.shape(arrays['weights'])}) are not one weight "
                             "per score")
        weights = check_values(f"{part} weights", arrays["weights"], (None,), low=0, high=1)
        indptr = check_pointers(f"{part} indptr", arrays["indptr"], end=scores.size)
        n_groups = indptr.size - 1
        n_docs = np.asarray(arrays["n_docs"])
        if n_docs.shape != (n_groups,) or n_docs.dtype.kind not in "iu" \
                or (n_docs.size and n_docs.min() < 0):
            raise ValueError(f"{part} n_docs is not {n_groups} document count{plural_s(n_groups)} "
                             f"(dtype {n_docs.dtype}, shape {n_docs.shape})")
        n_docs = n_docs.astype(np.int64)
        check_sorted_groups(f"{part} scores", scores, indptr)  # searched by position
        # a document's weights add up to 1 in each group it has true labels in
        summed = np.r_[0.0, np.cumsum(weights)]
        if not np.allclose(summed[indptr[1:]] - summed[indptr[:-1]], n_docs,
                           rtol=1e-9, atol=1e-6):
            raise ValueError(f"{part} weights do not add up to the documents counted "
                             "(n_docs)")
        out = cls(indptr, scores, weights, n_docs,
                  check_values(f"{part} tail", arrays["tail"], (n_labels,), finite=False),
                  check_int(f"{part} k", meta["k"], 1),
                  arrays["band_of"] if meta.get("mondrian") else None,
                  check_number(f"{part} mean_true_labels", meta.get("mean_true_labels", 1.0),
                               0, finite=True))
        out.excluded = saved_excluded(arrays, out.n_labels, part)
        if out.band_of is not None:
            out.band_of = check_ids(f"{part} band_of", out.band_of, out.n_groups,
                                    shape=(out.n_labels,), dtype=np.int16)
        elif n_groups != 1:
            raise ValueError(f"recall control without bands has {n_groups} groups, expected 1")
        return out


def _crc_threshold(scores: np.ndarray, weights: np.ndarray, n: int, alpha: float) -> float:
    """Largest ``t`` with ``(sum of weights of scores < t) + 1 <= alpha (n + 1)``."""
    if n == 0:
        return -np.inf  # nothing to calibrate on: no guarantee short of every label
    # alpha (n + 1) with a 1e-12 relative tolerance, read before the 1 is taken off: an
    # alpha equal to m / (n + 1) up to float rounding is that value (1/49 * 49 is
    # 0.9999999999999999, and a tolerance on the budget alone, 0 there, gave -inf: every
    # label as the set, though n = 1/alpha - 1 documents allow a threshold)
    budget = alpha * (n + 1) * (1 + 1e-12) - 1.0
    if budget < 0:
        return -np.inf
    if scores.size == 0 or weights.sum() <= budget:
        return np.inf
    # unique ascending scores and the weight strictly below each
    heads = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
    below = np.r_[0.0, np.cumsum(weights)][heads]
    last = int(np.searchsorted(below, budget, side="right")) - 1
    return float(scores[heads[last]])


def fit_recall_control(y_true: LabelMatrix, topk: TopK, *,
                       tail: npt.ArrayLike | None = None,
                       bands: FrequencyBands | None = None,
                       exclude: npt.ArrayLike | None = None) -> RecallControl:
    """Fit CRC on calibration documents: ``topk`` holds their calibrated probabilities.

    ``y_true`` (n_docs x n_labels) are their labels; documents without a true label
    carry no loss and are left out (the guarantee is for documents with labels), so
    at least one document must have a label.
    ``tail`` (``(n_labels,)``) scores labels outside a document's top-k (default
    ``-inf``); ``bands`` gives the Mondrian variant; ``exclude`` (a boolean mask over
    the labels) the labels in no set, whose true labels are left out of the calibration
    (a document whose every true label is excluded carries no loss). The calibration documents must
    be unseen by the model *and* by whatever produced the probabilities (e.g. fit
    the calibrator on other held-out data).
    """
    excluded = check_exclude(exclude, topk)
    if excluded is not None:
        y_true = without_labels(y_true, excluded, topk)
    entries = collect_entries(y_true, topk)
    check_fit_documents(entries.n_docs, "a recall control")
    if entries.y.nnz == 0 and excluded is not None:
        raise InvalidParameterError(
            "y_true", "the labels of at least one held-out document with a true label not "
            "excluded (labels never trained are in no set and carry no loss)",
            f"{entries.n_docs} document{plural_s(entries.n_docs)}, none with such a label")
    if entries.y.nnz == 0:
        # every document is left out (no loss without a true label): the thresholds were
        # then -inf at every alpha and every set the whole label space, silently
        raise InvalidParameterError(
            "y_true", "the labels of at least one held-out document with a true label to "
            "fit a recall control on (documents without one carry no loss)",
            f"{entries.n_docs} document{plural_s(entries.n_docs)}, none with a label")
    n_labels = entries.n_labels
    tail_arr = np.full(n_labels, -np.inf) if tail is None else np.asarray(tail, np.float64)
    if tail_arr.shape != (n_labels,):
        raise InvalidParameterError("tail", f"shape ({n_labels},)", tail_arr.shape)
    if np.isnan(tail_arr).any():  # a NaN compares false with every threshold: silently out
        raise InvalidParameterError("tail", "numbers (no NaN)",
                                    f"{int(np.isnan(tail_arr).sum())} NaN "
                                    f"value{plural_s(int(np.isnan(tail_arr).sum()))}")
    band_of = None
    group = np.zeros(n_labels, np.int64)
    n_groups = 1
    if bands is not None:
        if bands.n_labels != n_labels:
            raise InvalidParameterError("bands", f"bands over {n_labels} label{plural_s(n_labels)}",
                                        f"{bands.n_labels} label{plural_s(bands.n_labels)}")
        band_of, group, n_groups = bands.band_of, bands.band_of.astype(np.int64), bands.n_bands
    true_scores = entries.true_scores(topk.scores, tail_arr)
    true_group = group[entries.y.indices]
    rows = entries.true_row
    # |Y_i ∩ g| for each true label's (document, group)
    pair = rows * n_groups + true_group
    per_pair = np.bincount(pair, minlength=entries.n_docs * n_groups)
    weights = 1.0 / per_pair[pair]
    n_docs = np.bincount(np.unique(pair) % n_groups, minlength=n_groups)
    order = np.lexsort((true_scores, true_group))
    indptr = np.searchsorted(true_group[order], np.arange(n_groups + 1)).astype(np.int64)
    labelled = np.diff(entries.y.indptr) > 0
    mean_true = float(np.diff(entries.y.indptr)[labelled].mean()) if labelled.any() else 1.0
    return RecallControl(indptr, true_scores[order], weights[order], n_docs.astype(np.int64),
                         tail_arr, topk.k, band_of, mean_true, excluded)


def check_exclude(exclude: npt.ArrayLike | None, topk: TopK) -> np.ndarray | None:
    """``exclude`` (the labels never trained) checked to be one boolean per label of
    ``topk``, an error naming ``exclude`` otherwise; None where it is None or excludes
    none. One check for the recall sets and LP-ICP, each of which wrote it."""
    if exclude is None:
        return None
    excluded = np.asarray(exclude)
    if excluded.shape != (topk.n_labels,) or excluded.dtype != np.bool_:
        raise InvalidParameterError("exclude", f"a boolean mask of shape ({topk.n_labels},)",
                                    f"dtype {excluded.dtype}, shape {excluded.shape}")
    return excluded if excluded.any() else None


def saved_excluded(arrays: dict[str, np.ndarray], n_labels: int, part: str
                   ) -> np.ndarray | None:
    """The never-trained labels a saved calibrator (``part``: its name in errors) left
    out of its sets, checked to be one boolean per label; None for one saved before
    they were kept."""
    if "excluded" not in arrays:  # absent in bundles calibrated before it was kept
        return None
    excluded = np.asarray(arrays["excluded"])
    if excluded.shape != (n_labels,) or excluded.dtype != np.bool_:
        raise ValueError(f"{part} excluded is not one boolean per label ({n_labels}): "
                         f"dtype {excluded.dtype}, shape {excluded.shape}")
    return excluded
