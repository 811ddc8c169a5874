"""Missing and wrong labels from out-of-sample sparse scores and the given labels.

Confident learning (Northcutt et al.; cleanlab's multi-label ``find_label_issues``)
treats every label as its own binary problem, sets a per-label self-confidence
threshold (the mean predicted probability of the label's given positives), counts
the examples that confidently belong to the other side, calibrates those counts to
the given-label totals into noise rates and prunes that many examples per label.
cleanlab does this on a dense documents x labels probability matrix; here every step
works on sparse pairs (a :class:`~tagsmith.topk.TopK` plus the given labels), so it
runs at any label-space size:

1. **Calibration** (:mod:`tagsmith.audit.calibrate`): raw scores become
   ``P(given | score)`` by isotonic regression per label (labels with enough
   positives) or per frequency band; a pair outside a document's top-k gets its
   group's rate of given labels among such pairs. Cross-fitted over
   ``calibration_folds`` folds of documents (two by default): a document's values come
   from the other folds' fits, so no pair's probability depends on its own label (nor,
   given the documents' ``groups`` of equal texts, on its twin's).
2. **Evidence** (:mod:`tagsmith.audit.evidence`, optional): at large label spaces
   the top-k misses most given labels, so the calibrated score is stacked with
   leave-one-out label-centroid similarity, label co-occurrence and label frequency
   into one ``P(given | evidence)`` by logistic regression, fitted on the given pairs,
   the missing candidates and a weighted random sample of all other pairs.
3. **Confident counts per label** ``c``: threshold ``t_c`` = mean probability of its
   given pairs, ``m_c`` = mean over the pairs where it is not given; a given label at
   most ``m_c`` is confidently wrong, a missing candidate at least ``t_c`` confidently
   missing; counts are scaled to the given totals (confident learning's calibration).
4. **Noise rates with back-off**: pooled over all labels; per frequency band (labels
   with ``2^(b-1)`` to ``2^b - 1`` given documents), shrunk toward the pooled rate;
   per label, shrunk toward its band with ``prior_strength`` pseudo-documents, so a
   label with two examples borrows its band's rates instead of trusting two numbers.
5. **Posterior error probabilities**, one scale for both kinds and every label, with
   ``p`` the probability from step 2 taken as the label's probability for the
   document (as cleanlab uses its ``pred_probs``), ``rho_plus`` = P(missing | true) and
   ``rho_minus`` = P(given | not true) of the label (pooled rates by default,
   ``rates="global"``; ``"band"`` and ``"label"`` use the finer ones):
   ``P(wrong) = (1-p) rho_minus / ((1-p) rho_minus + p (1-rho_plus))``,
   ``P(missing) = p rho_plus / (p rho_plus + (1-p)(1-rho_minus))``. Pooled rates rank
   best on our benchmarks: finer confident-learning estimates mostly say how hard a
   label is for the model (a rare label the model cannot learn looks "noisy").
5b. **Documents given no label**: in a corpus where (nearly) every document carries
   labels, a document given none is missing at least one. Its candidates' posterior
   is at least ``P(true | the document has some true label)``: each probability
   divided by the document's chance of having any true label at all.
5c. **Bounds on the noise rates** (:func:`mixture_bounds`): confident learning counts
   every pair the scores confidently disagree with, so a weak scorer (most at 10^4+
   labels) inflates its rates several-fold. The report adds tighter upper bounds by
   mixture proportion estimation on the same probabilities: missing labels, taken as
   missing at random, look like given ones, so at every threshold the share of not
   given pairs above it bounds their number; wrong labels, at one rate for every
   label, look like not-given pairs of their label, so the given pairs below any
   threshold bound theirs. Reported, not used for ranking or pruning. They read a
   stacking of their own, on symmetric evidence: the ranking's co-occurrence evidence
   compares a given pair with the document's *other* labels and a pair not given with
   all of them, so its stacking tells given pairs from others by that alone, and a
   label given wrongly no longer looks like a pair not given (random wrong labels, 43%
   of them, were bounded at 26%). In the bounds' fit a pair not given also leaves one
   of the document's labels out (:meth:`PairEvidence.features`, ``symmetric_seed``).
   Wrong labels that are whole label sets of other documents still co-occur as true
   ones do, and can defeat the bounds; so do labels left off some labels more often
   than others (the calibration scores such a label lower), which Reuters-21578's
   habits of indexing are. Neither bound reads below the flagged candidates more
   likely errors than not (:func:`floor_bounds`).
6. **Pruning by the noise rates**: per label and kind at most the estimated number
   of errors is flagged (most probable first), and only pairs whose posterior reaches
   ``min_probability``.
6b. **Rare labels pruned by band** (``band_budget_below``, off by default): a label of a
   few given documents has an estimated wrong count under one half (nothing flagged) and
   a posterior far below ``min_probability`` (its ``rho_minus`` scales with its given
   count), though its given pairs rank well (on a synthetic long tail, 59 wrong of 204
   given pairs on labels of at most 15 documents: AUC 0.98). For the labels with 2 to
   ``band_budget_below - 1`` given documents (a label given once has no other document
   to be scored from), the *wrong* flags come from their frequency band instead: the
   band's estimated wrong count over those labels (rounded half up) is flagged, most
   probable first across them, without ``min_probability``, as confident learning's own
   pruning flags a class's estimated count by rank. That count is not step 3's (a given
   pair at most its label's *mean* over its pairs not given, near 0 for a rare label: 10
   of the 59 there): a wrong pair looks like a pair not given of its label, so the
   band's given pairs at most the 95% quantile of its pairs not given are counted, the
   count's one-sided 95% lower limit over 0.95 (:func:`_band_wrong_budget`; it flags 20
   there, 17 of them wrong; without the evidence, which draws the pairs not given, the labels'
   step 4 counts). Missing candidates keep step 6 (a model that saw a label a few times
   proposes it poorly).
7. **Document quality**: the probability that all of a document's labels are right,
   ``prod (1 - P(error))`` over its given labels and missing candidates.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_bool, check_choice, check_int, check_number
from tagsmith._plural import and_more, plural_s
from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.audit import CALIBRATION_FOLDS, MAX_CALIBRATION_FOLDS
from tagsmith.audit.calibrate import PairIndex, calibrate_scores
from tagsmith.audit.evidence import PairEvidence
from tagsmith.audit.stacking import PairSet, centroid_cache, stack_probabilities
from tagsmith.exceptions import InvalidParameterError
from tagsmith.models.base import check_groups
from tagsmith.models.splits import folds_in_order
from tagsmith.progress import progress_bar
from tagsmith.topk import TopK

if TYPE_CHECKING:
    from tagsmith.data.labelspace import LabelSpace

MISSING, WRONG = 0, 1
KINDS = ("missing", "wrong")
RATE_LEVELS = ("band", "label", "global")
#: with ``every_doc_labelled=None``, documents are expected to carry a label when at
#: least this share of them does (a corpus with many unlabelled documents holds an
#: unlabelled pool, not indexing gaps)
LABELLED_SHARE = 0.8
#: the parts of :func:`find_label_issues` its progress bar counts, in order
ISSUE_STEPS = ("calibration", "pairs", "evidence", "bounds", "stacking", "noise rates",
               "collect")

logger = logging.getLogger("tagsmith")
_EPS = 1e-12
#: :func:`mixture_bounds`: the share of the given pairs (at least ``BOUND_MIN_PAIRS``)
#: a tail must hold for its ratio to count, and the number of thresholds tried
BOUND_TAIL = 0.01
BOUND_MIN_PAIRS = 30
BOUND_POINTS = 400
#: the posterior probability at which a flagged candidate is more likely an error than
#: not: the noise-rate bounds never read below the number of such candidates
#: (:func:`floor_bounds`)
LIKELY_ERROR = 0.5
#: distinct labelled texts per calibration fold (at least two folds' worth: the bounds
#: compare two tails) below which the audit warns that its noise-rate bounds and
#: calibration rest on too few texts to inform (:func:`few_texts`): each fold is
#: calibrated on the other folds' texts, and a tail of the bounds needs
#: ``BOUND_MIN_PAIRS`` given pairs; copies of one text are one piece of evidence there
MIN_TEXTS_PER_FOLD = BOUND_MIN_PAIRS
#: step 6b: a rare label's given pair counts toward its band's wrong count when its
#: probability is at most this quantile of the band's pairs not given (the one-sided 95%
#: of :func:`_count_limit`, whose lower limit the count then takes)
BAND_NOT_GIVEN_QUANTILE = 0.95
#: pairs binned at a time by :func:`mixture_bounds` (tens of millions at 10^4+ labels)
_BOUND_CHUNK = 1 << 20
#: pairs whose posterior is computed at a time
_POSTERIOR_CHUNK = 1 << 20


@dataclass
class LabelIssues:
    """Candidate pairs with their error probabilities, and per-label noise estimates.

    Pair arrays (one entry per candidate, best first): ``doc`` and ``label`` (int32),
    ``kind`` (int8: 0 missing, 1 wrong), ``probability`` (float32, posterior
    probability that the pair is an error), ``score`` (float32, the estimated
    ``P(given | evidence)``), ``flagged`` (bool: passed pruning). Per label (shape
    ``(n_labels,)``): ``n_given``, ``band``, ``threshold`` (self-confidence threshold,
    NaN for unused labels), ``wrong_rate`` (estimated fraction of its given labels that
    are wrong), ``missing_rate`` (estimated fraction of its true labels that are
    missing), ``est_wrong`` and ``est_missing`` (counts). ``doc_quality`` (shape
    ``(n_docs,)``): probability that all of a document's labels are right (in a
    single-label corpus :func:`pair_single_label` pairs, that its one label is right:
    a move counted once; so is a broader label's move :func:`pair_broader` pairs).
    ``details``
    records how the probabilities were estimated (JSON-able).
    """

    doc: np.ndarray
    label: np.ndarray
    kind: np.ndarray
    probability: np.ndarray
    score: np.ndarray
    flagged: np.ndarray
    n_given: np.ndarray
    band: np.ndarray
    threshold: np.ndarray
    wrong_rate: np.ndarray
    missing_rate: np.ndarray
    est_wrong: np.ndarray
    est_missing: np.ndarray
    doc_quality: np.ndarray
    n_docs: int
    n_labels: int
    details: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.doc)

    def __repr__(self) -> str:
        # one line at a prompt: the dataclass repr printed fourteen arrays (pairs, labels
        # and documents) and the estimation details
        return (f"LabelIssues(n_candidates={len(self)}, "
                f"n_flagged={self.n_flagged}, n_docs={self.n_docs}, "
                f"n_labels={self.n_labels})")

    @property
    def n_flagged(self) -> int:
        return int(self.flagged.sum())

    def select(self, mask: np.ndarray) -> LabelIssues:
        """The candidates where ``mask`` is true (per-label and per-document arrays kept)."""
        return LabelIssues(self.doc[mask], self.label[mask], self.kind[mask],
                           self.probability[mask], self.score[mask], self.flagged[mask],
                           self.n_given, self.band, self.threshold, self.wrong_rate,
                           self.missing_rate, self.est_wrong, self.est_missing,
                           self.doc_quality, self.n_docs, self.n_labels, self.details)

    def flagged_pairs(self) -> LabelIssues:
        """Only the flagged candidates."""
        return self.select(self.flagged)

    def band_table(self) -> list[dict]:
        """Noise estimates per frequency band (given counts ``min_count..max_count``)."""
        rows = []
        for b in np.unique(self.band):
            in_band = self.band == b
            n_given = float(self.n_given[in_band].sum())
            wrong, missing = self.est_wrong[in_band].sum(), self.est_missing[in_band].sum()
            low = int(2 ** (b - 1)) if b > 0 else 0
            flagged_band = self.flagged & in_band[self.label]
            rows.append({
                "band": int(b), "min_count": low, "max_count": max(low, int(2 ** b) - 1),
                "n_labels": int(in_band.sum()), "n_given": int(n_given),
                "est_wrong": round(float(wrong), 1), "est_missing": round(float(missing), 1),
                "wrong_rate": round(float(wrong / max(n_given, 1.0)), 5),
                "missing_rate": round(float(missing / max(n_given - wrong + missing, 1.0)), 5),
                "n_flagged_wrong": int(np.count_nonzero(flagged_band & (self.kind == WRONG))),
                "n_flagged_missing": int(np.count_nonzero(flagged_band
                                                          & (self.kind == MISSING))),
            })
        return rows


def frequency_band(counts: np.ndarray) -> np.ndarray:
    """Band of each label by its number of given documents: 0 for none, else
    ``1 + floor(log2(count))`` (1: one document, 2: 2-3, 3: 4-7, ...).

    >>> frequency_band(np.array([0, 1, 2, 3, 4, 100])).tolist()
    [0, 1, 2, 2, 3, 7]
    """
    counts = np.asarray(counts, dtype=np.int64)
    band = np.zeros(len(counts), np.int64)
    positive = counts > 0
    band[positive] = np.floor(np.log2(counts[positive])).astype(np.int64) + 1
    return band


def _check_inputs(Y, topk: TopK, X=None) -> sp.csr_matrix:
    from tagsmith.metrics.sets import check_label_values
    from tagsmith.models.base import check_features

    if not isinstance(topk, TopK):
        raise InvalidParameterError("topk", "a TopK of out-of-sample scores", type(topk).__name__)
    # a NaN or a 2 was taken for a given label, strings and 3-D arrays failed in scipy
    Y = check_label_values(Y, "Y", soft_ok=True)
    if Y.shape != (len(topk), topk.n_labels):
        raise InvalidParameterError("Y", f"shape {(len(topk), topk.n_labels)} (as the scores)",
                                    Y.shape)
    Y = sp.csr_matrix(Y != 0, dtype=bool)
    Y.sum_duplicates()
    Y.sort_indices()
    if np.isnan(topk.scores[topk.valid]).any():
        raise InvalidParameterError("topk", "scores without NaN", "NaN scores")
    if X is not None:
        # checked only: the evidence reads ``X`` as given, so results do not move (strings
        # failed in scipy, a wrong number of rows in a matmul, NaN went through)
        n_rows = check_features(X).shape[0]
        if n_rows != Y.shape[0]:
            raise InvalidParameterError("X", f"{Y.shape[0]} row{plural_s(Y.shape[0])} "
                                        "(one per document of Y)",
                                        n_rows)
    return Y


#: top-k entries whose flat positions :func:`_pairs_from_topk` finds at a time
PAIR_BLOCK = 1 << 20


def _pairs_from_topk(mask: np.ndarray, topk: TopK, calibrated: np.ndarray,
                     given: bool) -> PairSet:
    """The pairs of the top-k entries where ``mask`` (``n_docs x k``) holds, in row-major
    order. Gathered a block of rows (:data:`PAIR_BLOCK` entries) at a time into arrays of
    their final size: the 64-bit flat positions of every candidate (11.8 million on
    yso-finna-en: 94 MB, and as much again for their rows) were held beside the pairs
    being built, the audit's peak memory in its issues step; the same pairs."""
    n, k = mask.shape
    counts = np.count_nonzero(mask, axis=1)
    total = int(counts.sum())
    rows = np.repeat(np.arange(n, dtype=np.int32), counts)
    labels = np.empty(total, topk.indices.dtype)
    cal = np.empty(total, calibrated.dtype)
    raw = np.empty(total, topk.scores.dtype)
    step, at = max(PAIR_BLOCK // max(k, 1), 1), 0
    for start in range(0, n, step):
        part = slice(start, start + step)
        # one list of flat positions (a 2-D boolean index builds two 64-bit index arrays,
        # once per array it is applied to)
        flat = np.flatnonzero(mask[part])
        end = at + len(flat)
        labels[at:end] = topk.indices[part].ravel()[flat]
        cal[at:end] = calibrated[part].ravel()[flat]
        raw[at:end] = topk.scores[part].ravel()[flat]
        at = end
    return PairSet(rows, labels, _constant(given, total), cal, raw,
                   _constant(np.float32(1), total))


def _constant(value: object, n: int) -> np.ndarray:
    """``n`` copies of ``value`` in no memory (a read-only broadcast of one element): a
    PairSet's ``given`` and ``weight`` of the given pairs and of the missing candidates,
    every one of them alike, took 5 bytes a pair (74 MB on yso-finna-en, 11.8 million
    candidates, held from the pairs to the end of the issues step).

    >>> c = _constant(np.float32(1), 3)
    >>> c.tolist(), c.dtype.name, c.strides, c[np.array([0, 2])].flags.writeable
    ([1.0, 1.0, 1.0], 'float32', (0,), True)
    """
    return np.broadcast_to(np.asarray(value), (n,))


def _background(Y: sp.csr_matrix, index: PairIndex, candidate_mask: np.ndarray,
                topk: TopK, calibrated: np.ndarray, outside_p: np.ndarray, folds: np.ndarray,
                n_sample: int, rng: np.random.Generator) -> PairSet:
    """A uniform sample of the pairs neither given nor missing candidates, weighted to
    stand for all of them (so the stacked estimate is calibrated on every pair)."""
    n, n_labels = Y.shape
    population = n * n_labels - Y.nnz - int(candidate_mask.sum())
    if population <= 0 or n_sample <= 0:
        return PairSet.empty()
    draws = int(min(n_sample, population) * 1.2) + 16
    rows = rng.integers(0, n, size=draws)
    labels = rng.integers(0, n_labels, size=draws)
    _, first = np.unique(rows * n_labels + labels, return_index=True)
    first = np.sort(first)  # distinct pairs in the order drawn, so truncating stays uniform
    rows, labels = rows[first], labels[first]
    is_given = index.contains(rows, labels)
    position = index.lookup(rows, labels)
    inside = position >= 0
    is_candidate = np.zeros(len(rows), bool)
    is_candidate[inside] = candidate_mask.ravel()[position[inside]]
    keep = ~is_given & ~is_candidate
    rows, labels, position = rows[keep][:n_sample].astype(np.int32), \
        labels[keep][:n_sample].astype(np.int32), position[keep][:n_sample]
    inside = position >= 0
    cal = outside_p[folds[rows], labels].astype(np.float32)
    cal[inside] = calibrated.ravel()[position[inside]]
    raw = np.full(len(rows), -np.inf, np.float32)
    raw[inside] = topk.scores.ravel()[position[inside]]
    weight = np.full(len(rows), population / max(len(rows), 1), np.float32)
    return PairSet(rows, labels, np.zeros(len(rows), bool), cal, raw, weight)


def _confident_counts(n: int, n_given: np.ndarray, pos: PairSet, pos_p: np.ndarray,
                      cand: PairSet, cand_p: np.ndarray, back: PairSet, back_p: np.ndarray,
                      rest: np.ndarray | None = None):
    """Confident learning's counts per label: (threshold, est. wrong, est. missing).

    ``m_c``, the mean probability of label ``c`` over the pairs where it is not given,
    sums the candidates, the weighted background sample and ``rest`` (per label, the
    summed probabilities of the not-given pairs neither stands for: every pair beyond
    the candidates when no background was drawn, see :func:`_rest_sums`)."""
    n_labels = len(n_given)
    has_pos = n_given > 0
    threshold = np.full(n_labels, np.inf)
    threshold[has_pos] = (np.bincount(pos.labels, weights=pos_p, minlength=n_labels)[has_pos]
                          / n_given[has_pos])
    n_neg = np.maximum(n - n_given, 1)
    neg_mean = (np.bincount(cand.labels, weights=cand_p, minlength=n_labels)
                + np.bincount(back.labels, weights=back_p * back.weight, minlength=n_labels)
                + (0.0 if rest is None else rest)) / n_neg
    c10 = np.bincount(pos.labels[(pos_p <= neg_mean[pos.labels])
                                 & (pos_p < threshold[pos.labels])], minlength=n_labels)
    c11 = np.bincount(pos.labels[pos_p >= threshold[pos.labels]], minlength=n_labels)
    c01 = np.bincount(cand.labels[(cand_p >= threshold[cand.labels])
                                  & (cand_p > neg_mean[cand.labels])], minlength=n_labels)
    c00 = np.maximum((n - n_given)
                     - np.bincount(cand.labels[cand_p > neg_mean[cand.labels]],
                                   minlength=n_labels), 0)
    est_wrong = n_given * c10 / np.maximum(c10 + c11, 1)
    est_missing = (n - n_given) * c01 / np.maximum(c01 + c00, 1)
    return threshold, est_wrong, est_missing


def _rest_sums(Y: sp.csr_matrix, topk: TopK, index: PairIndex, calibrated: np.ndarray,
               candidate_mask: np.ndarray, outside_p: np.ndarray,
               folds: np.ndarray) -> np.ndarray:
    """Per label, the summed calibrated probabilities of its pairs that are neither
    given nor missing candidates: its other top-k entries' values, and every pair
    outside a document's top-k at its fold's outside rate (what the background sample
    stands for when one is drawn)."""
    n_labels = Y.shape[1]
    n_folds = outside_p.shape[0]
    rest = np.zeros(n_labels)
    # per fold, the pairs outside the top-k that are not given, by label
    outside = np.zeros((n_folds, n_labels))
    outside += np.bincount(folds, minlength=n_folds)[:, None]
    doc_of_given = np.repeat(np.arange(Y.shape[0]), np.diff(Y.indptr))
    given_outside = index.given_position < 0
    size = n_folds * n_labels
    outside -= np.bincount(folds[doc_of_given[given_outside]].astype(np.int64) * n_labels
                           + Y.indices[given_outside], minlength=size).reshape(outside.shape)
    for start in range(0, Y.shape[0], 65_536):
        rows = slice(start, start + 65_536)
        valid, indices = topk.valid[rows], topk.indices[rows]
        beyond = valid & ~index.is_given[rows] & ~candidate_mask[rows]
        rest += np.bincount(indices[beyond], weights=calibrated[rows][beyond],
                            minlength=n_labels)
        fold = np.broadcast_to(folds[rows][:, None].astype(np.int64), indices.shape)
        outside -= np.bincount(fold[valid] * n_labels + indices[valid],
                               minlength=size).reshape(outside.shape)
    return rest + (outside * outside_p).sum(axis=0)


def _sums(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=int(group.max(initial=0)) + 1)


def _noise_rates(n_given, band, est_wrong, est_missing, prior_strength: float):
    """Rates per given label (wrong, missing) at three levels: ``global`` (pooled over
    every label), ``band`` (pooled per frequency band, shrunk toward the global rate
    with ``10 * prior_strength`` pseudo-documents) and ``label`` (shrunk toward its
    band with ``prior_strength``)."""
    base = n_given.astype(np.float64)
    total = max(float(base.sum()), _EPS)
    out: dict = {"global": [], "band": [], "label": []}
    for counts in (est_wrong, est_missing):
        global_rate = float(counts.sum()) / total
        band_strength = 10 * prior_strength
        # with prior_strength 0 a group without given labels (the unused labels' band,
        # an unused label) has no evidence and no prior: it takes the rate it backs off to
        band_base = _sums(base, band) + band_strength
        band_rate = np.divide(_sums(counts, band) + band_strength * global_rate, band_base,
                              out=np.full(len(band_base), global_rate),
                              where=band_base > 0)[band]
        label_base = base + prior_strength
        label_rate = np.divide(counts + prior_strength * band_rate, label_base,
                               out=band_rate.copy(), where=label_base > 0)
        out["global"].append(np.full(len(base), global_rate))
        out["band"].append(band_rate)
        out["label"].append(label_rate)
    return {level: tuple(rates) for level, rates in out.items()}


def _flip_rates(n: int, n_given, wrong_per_given, missing_per_given):
    """(rho_plus, rho_minus): P(not given | true) and P(given | not true) per label."""
    wrong = wrong_per_given * n_given
    missing = missing_per_given * n_given
    true_pos = np.maximum(n_given - wrong + missing, _EPS)
    rho_plus = np.clip(missing / true_pos, 1e-9, 0.99)
    rho_minus = np.clip(wrong / np.maximum(n - true_pos, 1.0), 1e-12, 0.99)
    return rho_plus, np.minimum(rho_minus, 0.999 - rho_plus)


def _posterior(p, labels, rho_plus, rho_minus, *, given: bool) -> np.ndarray:
    """Posterior error probability of pairs with probabilities ``p`` of labels
    ``labels`` (per-label rates ``rho_plus``, ``rho_minus``), a chunk at a time (tens
    of millions of candidates at 10^4+ labels: whole-array temporaries were the
    audit's peak memory)."""
    out = np.empty(len(p), np.float64)
    for start in range(0, len(p), _POSTERIOR_CHUNK):
        part = slice(start, start + _POSTERIOR_CHUNK)
        q = np.clip(p[part], 0.0, 1.0)
        rp, rm = rho_plus[labels[part]], rho_minus[labels[part]]
        if given:
            err = (1.0 - q) * rm
            out[part] = err / np.maximum(err + q * (1.0 - rp), 1e-300)
        else:
            err = q * rp
            out[part] = err / np.maximum(err + (1.0 - q) * (1.0 - rm), 1e-300)
    return out


def check_every_doc_labelled(value: object) -> None:
    """``every_doc_labelled`` must be True, False or None (a string such as "no" would
    otherwise read as true)."""
    if value is not None and not isinstance(value, bool | np.bool_):
        raise InvalidParameterError("every_doc_labelled", "True, False or None (decide from "
                                    "the corpus)", value)


def check_single_label(value: object) -> None:
    """``single_label`` must be True, False or None (a string such as "no" would
    otherwise read as true)."""
    if value is not None and not isinstance(value, bool | np.bool_):
        raise InvalidParameterError("single_label", "True, False or None (decide from the "
                                    "corpus)", value)


def few_texts(per_doc: np.ndarray, groups: np.ndarray | None,
              calibration_folds: int, *, blank: npt.ArrayLike | None = None,
              bounds: bool = True) -> dict:
    """How many distinct texts the labelled documents have (``groups``: equal texts; None:
    each its own), the fewest at which the noise-rate bounds and the calibration inform
    (``MIN_TEXTS_PER_FOLD`` per calibration fold, two folds at least) and, below it, a
    warning naming both. ``blank`` (one bool per document: its text is empty or
    whitespace) leaves blank texts out of the count: each is a group of its own, yet
    carries no evidence; the labelled blank documents are counted apart
    (``n_blank_labelled_docs``, present when there are some) and the warning names them.
    ``bounds``: whether there are noise-rate bounds (too few given pairs, or no
    background pairs without evidence, leave none): without, the warning names the
    calibration alone.

    >>> texts = few_texts(np.array([1, 2, 1, 0]), np.array([0, 1, 0, 2]), 2)
    >>> texts["warning"].split(": ")[0], texts["min_distinct_labelled_texts"]
    ('2 distinct texts among the 3 labelled documents', 60)
    """
    labelled = per_doc > 0
    n_labelled = int(np.count_nonzero(labelled))
    n_blank = 0
    counted = labelled
    if blank is not None:
        blank = check_blank(blank, len(per_doc))
        n_blank = int(np.count_nonzero(labelled & blank))
        counted = labelled & ~blank
    n_texts = int(np.count_nonzero(counted)) if groups is None \
        else len(np.unique(groups[counted]))
    n_folds = max(int(calibration_folds), 2)
    needed = n_folds * MIN_TEXTS_PER_FOLD
    out: dict = {"n_distinct_labelled_texts": n_texts, "n_labelled_docs": n_labelled,
                 "min_distinct_labelled_texts": needed}
    if n_blank:
        out["n_blank_labelled_docs"] = n_blank
    if n_texts < needed:
        # in-sample (one fold) needs two folds' worth too: "2 folds" named folds not asked
        folds = (f"{n_folds} folds" if calibration_folds >= 2
                 else "two folds' worth, though calibrated in-sample")
        blanks = (f" ({n_blank:,}{' of them' if n_labelled > 1 else ''} blank, which "
                  f"carr{'ies' if n_blank == 1 else 'y'} no evidence)" if n_blank else "")
        out["warning"] = (
            f"{n_texts:,} distinct text{plural_s(n_texts)} among the {n_labelled:,} labelled "
            f"document{plural_s(n_labelled)}{blanks}: "
            f"{'the noise-rate bounds and the calibration are' if bounds else 'the calibration is'}"
            f" not informative below {needed:,} distinct labelled texts "
            f"({MIN_TEXTS_PER_FOLD} per calibration fold, {folds})")
    return out


def check_blank(value: npt.ArrayLike, n_docs: int) -> np.ndarray:
    """``blank`` as a 1-D bool array of one flag per document (whether its text is
    blank), else :class:`InvalidParameterError` naming it."""
    array = np.asarray(value)
    if array.shape != (n_docs,) or (array.size and array.dtype.kind != "b"):
        raise InvalidParameterError("blank", f"one bool per document ({n_docs}): whether "
                                    "its text is blank",
                                    f"an array of shape {array.shape}, dtype {array.dtype}")
    return array.astype(bool, copy=False)


def check_calibration_folds(value: object) -> int:
    """``calibration_folds`` as an int from 1 (in-sample) to ``MAX_CALIBRATION_FOLDS``."""
    folds = check_int("calibration_folds", value, 1, numpy=True)
    if folds > MAX_CALIBRATION_FOLDS:
        raise InvalidParameterError("calibration_folds",
                                    f"an integer from 1 to {MAX_CALIBRATION_FOLDS}", value)
    return folds


def check_label_issue_options(prior_strength: object, min_probability: object,
                              max_missing_per_doc: object, rates: object,
                              every_doc_labelled: object = None) -> None:
    """Refuse options :func:`find_label_issues` cannot use (before any scoring is done)."""
    check_every_doc_labelled(every_doc_labelled)
    check_number("prior_strength", prior_strength, 0, finite=True, numpy=True)
    check_number("min_probability", min_probability, 0, strict=True, maximum=1, numpy=True)
    check_int("max_missing_per_doc", max_missing_per_doc, 0, numpy=True)
    check_choice("rates", rates, RATE_LEVELS)


def _calibration_folds(n: int, n_folds: int, seed: int,
                       groups: np.ndarray | None) -> np.ndarray:
    """Document ``i`` in fold ``permutation[i] % n_folds`` of a permutation from a stream
    of its own, ``groups`` kept whole as cross-fitting keeps them
    (:func:`tagsmith.models.splits.folds_in_order` along the inverse permutation)."""
    position = np.random.default_rng((seed, 1)).permutation(n)
    if groups is None:
        return (position % n_folds).astype(np.int8)
    # the documents in the order of their positions: round-robin there is position % n_folds
    return folds_in_order(np.argsort(position), n_folds, groups).astype(np.int8)


def find_label_issues(Y: LabelMatrix, topk: TopK, *, X: FeatureMatrix | None = None,
                      evidence: bool = True,
                      max_missing_per_doc: int = 20, prior_strength: float = 20.0,
                      min_probability: float = 0.5, rates: str = "global",
                      every_doc_labelled: bool | None = None,
                      calibration_min_positives: int = 100,
                      calibration_folds: int = CALIBRATION_FOLDS,
                      keep_probability: float = 1e-3,
                      n_background: int = 1_000_000, seed: int = 0,
                      cooccurrence_counts: tuple | None = None,
                      n_threads: int | None = None,
                      groups: np.ndarray | None = None,
                      blank: npt.ArrayLike | None = None,
                      show_progress: bool = False,
                      band_budget_below: int = 0,
                      _symmetric_bounds: bool = True) -> LabelIssues:
    """Missing and wrong label candidates from out-of-sample scores.

    ``Y``: the given labels (``n_docs x n_labels``, sparse or dense, nonzero =
    given); ``topk``: out-of-sample scores of the same documents (cross-fitted or
    leave-one-out: a model's scores on its own training documents find nothing).
    ``X`` (``n_docs x n_features``, optional): the documents' features, for the
    label-centroid evidence; ``evidence=False`` uses the calibrated scores alone.
    The best ``max_missing_per_doc`` top-k labels a document is not given are its
    missing candidates. Candidates whose posterior error probability reaches
    ``keep_probability`` are returned, flagged when they pass pruning; ``rates`` is the
    level of the noise rates used for ranking (see the module docstring).
    ``every_doc_labelled``: whether every document should carry at least one label, so
    that a document given none is missing at least one (step 5b of the module
    docstring); ``None`` decides from the corpus: yes when at least
    ``LABELLED_SHARE`` of the documents have a label. ``calibration_folds``: folds of
    documents the calibration of step 1 is cross-fitted over (1: in-sample), so that no
    pair's probability depends on its own given status (an in-sample fit lets the
    noise-rate bounds of step 5c fall below the truth). ``groups`` (one integer id per
    document, e.g. :func:`tagsmith.pipeline.train.duplicate_groups` of the texts) keeps
    equal texts in one calibration fold: a twin's given label in the other fold's fit
    made a shared wrong label look given (without repeated ids the folds are the same).
    ``blank`` (one bool per document: whether its text is empty or whitespace) leaves
    blank texts out of the distinct texts counted in ``details["texts"]``
    (:func:`few_texts`) and their pairs out of the candidates (never returned nor
    flagged; the noise rates count them as any other pair): a blank text carries no
    evidence.
    ``cooccurrence_counts``:
    :func:`tagsmith.audit.evidence.label_cooccurrence` of ``Y != 0`` when the caller
    has built it (the audit, for its kNN scores' blend), for the evidence to reuse.
    ``band_budget_below``: labels with fewer given documents than this have their
    *wrong* flags pruned by frequency band (step 6b of the module docstring; 0: off).
    ``show_progress``: a progress bar over the parts of the work (:data:`ISSUE_STEPS`),
    each part's time logged at DEBUG. ``_symmetric_bounds`` (private, for the tests
    that compare both): ``False`` lets the noise-rate bounds (step 5c) read the
    ranking's stacking, as before they had their own on symmetric evidence (the
    ranking's tells given pairs from others by the number of labels they see, and its
    bounds read 26% wrong where 43% of the labels were random replacements).

    >>> rng = np.random.default_rng(0)
    >>> truth = (rng.random((400, 3)) < 0.3)
    >>> scores = np.clip(truth * 0.7 + rng.random((400, 3)) * 0.3, 0, 1)
    >>> given = truth.copy(); given[:20, 0] = ~given[:20, 0]   # 20 errors on label 0
    >>> issues = find_label_issues(sp.csr_matrix(given), TopK.from_scores(scores, k=3))
    >>> sorted(issues.doc[:20].tolist()) == list(range(20)), set(issues.label[:20].tolist())
    (True, {0})
    """
    check_label_issue_options(prior_strength, min_probability, max_missing_per_doc, rates,
                              every_doc_labelled)
    calibration_folds = check_calibration_folds(calibration_folds)
    # the rest too: evidence="no" read as true, a NaN keep_probability kept no candidate,
    # and the others failed inside numpy with words that named no parameter
    evidence = check_bool("evidence", evidence)
    seed = check_int("seed", seed, 0, numpy=True)
    keep_probability = check_number("keep_probability", keep_probability, 0, maximum=1,
                                    numpy=True)
    calibration_min_positives = check_int("calibration_min_positives",
                                          calibration_min_positives, 0, numpy=True)
    n_background = check_int("n_background", n_background, 0, numpy=True)
    n_threads = check_int("n_threads", n_threads, 0, allow_none=True, numpy=True)
    band_budget_below = check_int("band_budget_below", band_budget_below, 0, numpy=True)
    with progress_bar(total=len(ISSUE_STEPS), desc="issues", unit="step",
                      enabled=show_progress) as bar:
        started = [time.perf_counter()]

        def step(name: str) -> None:
            now = time.perf_counter()
            logger.debug("issues: %s done (%.1f s)", name, now - started[0])
            started[0] = now
            bar.set_postfix_str(f"{name} done")
            bar.update(1)

        Y = _check_inputs(Y, topk, X if evidence else None)
        n, n_labels = Y.shape
        if groups is not None:  # read by the folds and by the count of distinct texts
            groups = check_groups(groups, n)
        if blank is not None:
            blank = check_blank(blank, n)
        n_given = np.bincount(Y.indices, minlength=n_labels).astype(np.int64)
        band = frequency_band(n_given)
        index = PairIndex(Y, topk)
        # the folds from a stream of their own: the background sample is the same either way
        folds = np.zeros(n, np.int8) if calibration_folds == 1 else _calibration_folds(
            n, calibration_folds, seed, groups)
        rng = np.random.default_rng(seed)
        calibrated, given_cal, outside_p = calibrate_scores(Y, topk, index, n_given, band,
                                                            calibration_min_positives, folds,
                                                            show_progress=show_progress)
        step("calibration")
        # -- the pairs: given, missing candidates, and a weighted background sample ------------
        given_raw = np.full(Y.nnz, -np.inf, np.float32)
        inside = index.given_position >= 0
        given_raw[inside] = topk.scores.ravel()[index.given_position[inside]]
        pos = PairSet(np.repeat(np.arange(n, dtype=np.int32), np.diff(Y.indptr)),
                      Y.indices.astype(np.int32), _constant(True, Y.nnz),
                      given_cal.astype(np.float32), given_raw,
                      _constant(np.float32(1), Y.nnz))
        not_given = topk.valid & ~index.is_given
        # the running count in 16 or 32 bits (numpy's default int64 was 8 bytes per top-k entry)
        count_type = np.int16 if not_given.shape[1] < 2**15 else np.int32
        candidate_mask = not_given & np.less_equal(
            np.cumsum(not_given, axis=1, dtype=count_type), max_missing_per_doc)
        cand = _pairs_from_topk(candidate_mask, topk, calibrated, given=False)
        back = _background(Y, index, candidate_mask, topk, calibrated, outside_p, folds,
                           n_background if evidence else 0, rng)
        per_doc = np.diff(Y.indptr)
        # without a background sample (no evidence), what a document given no label may hold
        # beyond its candidates comes from the calibration itself (step 5b)
        outside_true = _expected_outside(per_doc == 0, topk, calibrated, candidate_mask,
                                         outside_p, folds) if len(back) == 0 else None
        # and what the pairs beyond the candidates hold of each label's mean over the pairs it
        # is not given (step 3): counted as none, m_c was a fraction of its value
        rest = _rest_sums(Y, topk, index, calibrated, candidate_mask, outside_p, folds) \
            if len(back) == 0 else None
        # n x k arrays not needed any more: the audit's peak memory is in what follows
        del calibrated, given_cal, candidate_mask, not_given, index
        step("pairs")
        pair_evidence = None
        if evidence:
            pair_evidence = PairEvidence(Y, X, cooccurrence_counts=cooccurrence_counts,
                                         n_threads=n_threads or os.cpu_count(),
                                         show_progress=show_progress)
        step("evidence")
        # two stackings of the same pairs. The bounds (step 5c) assume a label given wrongly
        # looks like a pair not given of its label, which the ranking's evidence denies: a
        # given pair's co-occurrence sees the document's other labels, one not given all of
        # them, so the stacking learns which pairs are given, and a wrong label (given) looked
        # right (the bounds read 26% wrong where 43% of the labels were replaced by random
        # ones). The bounds read a fit on symmetric evidence (a pair not given also leaves one
        # given label out); ranking, posteriors and flags keep the first, which ranks errors
        # better. The symmetric one runs first and goes before the other is fitted, so the
        # two never hold their probabilities at once. The centroid cosines do not depend on
        # the symmetry: the fitting samples' (drawn alike by both fits) are computed once
        # and read by both fits and their predictions (computed by each, and again for each
        # fitting sample, the two fits took four times as long on examples/goemotions); the
        # other pairs' are computed by each fit as it predicts them (kept, they cost 8
        # bytes a pair: 180 MB more at the peak on yso-finna-en)
        cosines = centroid_cache(pair_evidence, [pos, cand, back])
        bounds = bounds_stacking = None
        if evidence and _symmetric_bounds:
            sym_p, bounds_stacking = stack_probabilities(pair_evidence, [pos, cand, back],
                                                         seed=seed, show_progress=show_progress,
                                                         symmetric=True, centroid_cache=cosines)
            # the candidates and the background stand for every pair not given only when
            # the background was drawn (it is not without evidence)
            bounds = mixture_bounds(n, n_given, sym_p[0], [(cand, sym_p[1]), (back, sym_p[2])])
            del sym_p
        step("bounds")
        (pos_p, cand_p, back_p), details = stack_probabilities(pair_evidence, [pos, cand, back],
                                                               seed=seed,
                                                               show_progress=show_progress,
                                                               centroid_cache=cosines)
        # a normalised copy of X, label centroids, co-occurrence counts; the cosines
        del pair_evidence, cosines
        if evidence and not _symmetric_bounds:
            bounds = mixture_bounds(n, n_given, pos_p, [(cand, cand_p), (back, back_p)])
        step("stacking")
        # -- confident counts, noise rates, posteriors ------------------------------------------
        threshold, est_wrong_raw, est_missing_raw = _confident_counts(
            n, n_given, pos, pos_p, cand, cand_p, back, back_p, rest)
        levels = _noise_rates(n_given, band, est_wrong_raw, est_missing_raw, prior_strength)
        # step 6b's counts read the pairs not given, which the candidates and the
        # background stand for only where a background was drawn (with the evidence)
        band_budget = _band_wrong_budget(n_given, band, band_budget_below, pos.labels, pos_p,
                                         [(cand, cand_p), (back, back_p)]) \
            if band_budget_below and len(back) else None
        wrong_rate, missing_per_given = levels["label"]
        rho_plus, rho_minus = _flip_rates(n, n_given, *levels[rates])
        wrong_prob = _posterior(pos_p, pos.labels, rho_plus, rho_minus, given=True)
        missing_prob = _posterior(cand_p, cand.labels, rho_plus, rho_minus,
                                  given=False)
        label_rho_plus, _ = _flip_rates(n, n_given, wrong_rate, missing_per_given)
        if every_doc_labelled is None:
            every_doc_labelled = bool(n > 0 and np.mean(per_doc > 0) >= LABELLED_SHARE)
        n_unlabelled = int(np.count_nonzero(per_doc == 0))
        if every_doc_labelled and n_unlabelled:
            mine, conditioned = _unlabelled_posterior(per_doc, cand, cand_p, back, back_p,
                                                      n_labels, outside_true)
            missing_prob[mine] = np.maximum(missing_prob[mine], conditioned)
        step("noise rates")
        # the folds used, as calibrate_scores counts them: never more than the documents
        # (5 documents, 100 folds asked for: 5; one document: an in-sample fit)
        details.update({"rates": rates, "calibration_folds": int(folds.max(initial=0)) + 1,
                        "calibration_folds_requested": calibration_folds,
                        "band_budget_below": band_budget_below,
                        "n_missing_candidates": len(cand),
                        "mixture_bounds": bounds,
                        # the fit the bounds read (its coefficients, per regime, beside the
                        # ranking's in "regimes"); None where they read the ranking's own
                        "bounds_stacking": bounds_stacking,
                        "n_background_pairs": len(back),
                        "every_doc_labelled": bool(every_doc_labelled),
                        "n_unlabelled_docs": n_unlabelled,
                        "texts": few_texts(per_doc, groups, calibration_folds,
                                           blank=blank, bounds=bounds is not None)})
        # what follows reads the pairs' documents, labels and raw scores, and the stacked
        # probabilities only as float32 scores: the rest goes before the candidates are
        # sorted, the audit's peak memory at 10^4+ labels (tens of millions of candidates)
        del back, back_p
        pos_keys, cand_keys = (pos.rows, pos.labels, pos.raw), (cand.rows, cand.labels, cand.raw)
        del pos, cand, given_raw  # given_raw is pos.raw (pos_keys[2])
        pos_p, cand_p = pos_p.astype(np.float32), cand_p.astype(np.float32)
        quality = _doc_quality(n, pos_keys[0], wrong_prob, cand_keys[0], missing_prob)
        if every_doc_labelled:
            # a document given no label misses one for certain, with or without candidates
            # (one with no scores at all, an empty text say, came out as flawless: 1.0)
            quality[per_doc == 0] = 0.0
        if blank is not None and blank.any():
            # a blank text carries no evidence for or against a label: its given labels
            # were flagged "wrong" at 0.9 and more, first in the queue, on nothing but the
            # scores' silence. They are no candidates (their quality stands; the rates
            # count them as any other pair); -1 is below any keep_probability
            # (in place: both are this function's own, and only _collect reads them now)
            wrong_prob[blank[pos_keys[0]]] = -1.0
            missing_prob[blank[cand_keys[0]]] = -1.0
        # handed over, not held here: _collect frees each input as it copies its kept
        # entries (held beside what it builds they were the audit's peak memory)
        pos_parts, cand_parts = [*pos_keys, pos_p, wrong_prob], [*cand_keys, cand_p,
                                                                 missing_prob]
        del pos_keys, pos_p, wrong_prob, cand_keys, cand_p, missing_prob
        issues = _collect(pos_parts, cand_parts, keep_probability)
        est_wrong, est_missing = wrong_rate * n_given, missing_per_given * n_given
        flagged = (issues["probability"] >= min_probability) & _within_budget(
            issues["label"], issues["kind"], np.stack([est_missing, est_wrong]))
        if band_budget_below:
            by_band = _band_flags(issues["label"], issues["kind"], n_given, band, est_wrong,
                                  band_budget_below, band_budget)
            rare = _band_rare(n_given, band_budget_below)[issues["label"]] \
                & (issues["kind"] == WRONG)
            flagged = np.where(rare, by_band, flagged)
            details["band_budget"] = {
                "n_labels": int(np.count_nonzero(_band_rare(n_given, band_budget_below))),
                "n_flagged_wrong": int(np.count_nonzero(by_band)),
                # what the bands' wrong counts came from (step 6b): the pairs not given,
                # or, without the evidence's background sample, the labels' noise rates
                "estimate": "not_given_quantile" if band_budget is not None
                else "noise_rates"}
        if bounds is not None:
            likely = flagged & (issues["probability"] >= LIKELY_ERROR)
            details["mixture_bounds"] = floor_bounds(
                bounds, float(n_given.sum()),
                int(np.count_nonzero(likely & (issues["kind"] == WRONG))),
                int(np.count_nonzero(likely & (issues["kind"] == MISSING))))
        step("collect")
        return LabelIssues(issues["doc"], issues["label"], issues["kind"],
                           issues["probability"], issues["score"], flagged, n_given, band,
                           np.where(n_given > 0, threshold, np.nan), wrong_rate, label_rho_plus,
                           est_wrong, est_missing, quality, n, n_labels, details)


def mixture_bounds(n_docs: int, n_given: np.ndarray, pos_p: np.ndarray,
                   not_given: list[tuple[PairSet, np.ndarray]]) -> dict | None:
    """Upper bounds on the shares of wrong and missing labels (step 5c of the module
    docstring), from the probabilities ``P(given | evidence)`` of the given pairs
    (``pos_p``) and of pair sets that together stand for every pair not given, each
    with its probabilities and weights (the missing candidates and the weighted
    background sample). ``None`` without not-given pairs (``evidence=False`` draws no
    background) or with too few given pairs.

    * Missing: if labels go missing at random (at rate ``r`` per given label), the
      missing pairs' probabilities are distributed as the given pairs', so for any
      threshold ``t``, ``r * G(p >= t) <= N(p >= t)`` (``G`` given, ``N`` not given
      pairs): ``r <= min_t N(p >= t) / G(p >= t)``. The minimum is typically at a high
      threshold (``missing_tail`` records it); labels left off some labels more often
      than others are calibrated lower with their label and fall below it uncounted
      (Reuters-21578: 23.6 where a reviewer found at least 26; see :func:`floor_bounds`).
    * Wrong: if every label is given wrongly at one rate ``a`` and a wrong pair looks
      like a not-given pair of its label (to the evidence: hence the audit's bounds
      read the stacking on symmetric evidence, see step 5c), the wrong pairs below
      ``t`` number ``a * W(p <= t)``, with ``W`` the not-given pairs weighted by ``n_c / (n - n_c)``
      (label ``c``'s share of wrong pairs), and they are given pairs:
      ``a <= min_t G(p <= t) / W(p <= t)``.

    Thresholds are ``BOUND_POINTS`` quantiles of ``pos_p``; a tail counts when it holds
    at least ``BOUND_TAIL`` of the given pairs (``BOUND_MIN_PAIRS`` at least), and each
    ratio is taken between one-sided 95% limits of its counts (numerator high,
    denominator low; effective sample sizes for weighted pairs), so that the minimum
    over thresholds is not set by a chance dip in a thin tail. Both
    are bounds, not estimates: a not-given pair the scorer cannot tell from a given
    one (a true label never given, or a confusable one) raises them; they are tight
    only as far as the scorer separates labels. Returns the rates (``wrong_rate`` per
    given label, ``missing_rate`` per true label as the report states both), the
    counts (``est_wrong``, ``est_missing``) and the settings.
    """
    n_pos = len(pos_p)
    m_min = max(BOUND_MIN_PAIRS, int(np.ceil(BOUND_TAIL * n_pos)))
    if n_pos < 2 * m_min or not any(len(p) for _, p in not_given):
        return None
    given = np.sort(np.asarray(pos_p, dtype=np.float64))
    ts = np.unique(np.quantile(given, np.linspace(0.0, 1.0, BOUND_POINTS + 1)))
    n_t = len(ts)
    share = n_given / np.maximum(n_docs - n_given, 1).astype(np.float64)
    # weighted counts and sums of squared weights (for the effective sample sizes), by
    # the number of thresholds <= p (above) and < p (below, weighted by the share)
    above, above_sq = np.zeros(n_t + 1), np.zeros(n_t + 1)
    below, below_sq = np.zeros(n_t + 1), np.zeros(n_t + 1)
    for pairs, p in not_given:
        for start in range(0, len(p), _BOUND_CHUNK):
            part = slice(start, start + _BOUND_CHUNK)
            chunk, weight = p[part], pairs.weight[part].astype(np.float64)
            at = np.searchsorted(ts, chunk, side="right")
            above += np.bincount(at, weights=weight, minlength=n_t + 1)
            above_sq += np.bincount(at, weights=weight * weight, minlength=n_t + 1)
            weight *= share[pairs.labels[part]]
            at = np.searchsorted(ts, chunk, side="left")
            below += np.bincount(at, weights=weight, minlength=n_t + 1)
            below_sq += np.bincount(at, weights=weight * weight, minlength=n_t + 1)

    def suffix(x):
        return np.cumsum(x[::-1])[::-1][1:]

    g_up = n_pos - np.searchsorted(given, ts, side="left")   # given pairs p >= ts[i]
    # an empty tail's upper limit is that of no pair at the typical weight
    typical = float(above_sq.sum() / max(above.sum(), _EPS))
    n_up_count = suffix(above)                               # not given p >= ts[i]
    n_up = _count_limit(n_up_count, suffix(above_sq), +1, typical)
    g_low = np.searchsorted(given, ts, side="right")         # given pairs p <= ts[i]
    w_low = _count_limit(np.cumsum(below)[:-1], np.cumsum(below_sq)[:-1], -1)
    upper, lower = g_up >= m_min, (g_low >= m_min) & (w_low > 0)
    if not upper.any() or not lower.any():
        return None
    # one-sided limits of each count (so a chance dip in a thin tail does not set the
    # bound): the numerator's upper limit over the denominator's lower one
    g_up, g_low = g_up.astype(np.float64), g_low.astype(np.float64)
    n_up_ratio = n_up[upper] / _count_limit(g_up[upper], g_up[upper], -1)
    w_low_ratio = _count_limit(g_low[lower], g_low[lower], +1) / w_low[lower]
    at_min = int(np.argmin(n_up_ratio))
    missing_per_given = float(n_up_ratio[at_min])
    wrong_per_given = min(float(np.min(w_low_ratio)), 1.0)
    total = float(n_given.sum())
    true_per_given = 1.0 - wrong_per_given + missing_per_given
    return {"wrong_rate": round(wrong_per_given, 5),
            "missing_rate": round(missing_per_given / max(true_per_given, _EPS), 5),
            "est_wrong": round(wrong_per_given * total, 1),
            "est_missing": round(missing_per_given * total, 1),
            "tail": BOUND_TAIL, "thresholds": n_t,
            # the tail the missing bound rests on: a missing label scored below it is not
            # counted (Reuters-21578's: the 22% of given labels at 0.991 and above, with
            # one pair not given among them; labels left off by habit score lower)
            "missing_tail": {"threshold": round(float(ts[upper][at_min]), 4),
                             "share_of_given": round(float(g_up[upper][at_min]) / n_pos, 4),
                             "n_not_given": round(float(n_up_count[upper][at_min]), 1)}}


def floor_bounds(bounds: dict, n_given: float, n_likely_wrong: int,
                 n_likely_missing: int) -> dict:
    """``bounds`` (of :func:`mixture_bounds`) raised, kind by kind, to the audit's own
    count of flagged candidates more likely errors than not (posterior at least
    ``LIKELY_ERROR``), ``n_given`` given labels in all. The bounds assume errors fall at
    random; labels left off by a habit of the indexers (Reuters-21578 gives ``dlr``
    without ``money-fx``, ``wheat`` without ``grain``) teach the scorer the habit and look
    like pairs rightly not given, so the missing bound read 23.6 labels there, under the
    33 the audit itself flagged, of which a reviewer confirmed 22, and 4 more unflagged.
    An "at most" below the candidates the audit asks a person to confirm contradicts
    itself; where it was, ``raised_to_flagged`` names the kinds raised. ``by_mixture``
    keeps the figures as mixture proportion gave them, ``n_flagged_likely`` the counts.

    >>> b = {"wrong_rate": 0.01689, "missing_rate": 0.0025, "est_wrong": 161.9,
    ...      "est_missing": 23.6, "tail": 0.01, "thresholds": 401}
    >>> raised = floor_bounds(b, 9_584.0, 8, 33)
    >>> raised["est_missing"], raised["missing_rate"], raised["raised_to_flagged"]
    (33.0, 0.00349, ['missing'])
    >>> raised["est_wrong"], raised["wrong_rate"], raised["by_mixture"]["est_missing"]
    (161.9, 0.01689, 23.6)
    >>> floor_bounds(b, 9_584.0, 8, 20)["missing_rate"]
    0.0025
    """
    figures = ("wrong_rate", "missing_rate", "est_wrong", "est_missing")
    out = {**bounds, "by_mixture": {key: bounds[key] for key in figures},
           "n_flagged_likely": {"wrong": n_likely_wrong, "missing": n_likely_missing},
           "raised_to_flagged": []}
    total = max(n_given, _EPS)
    wrong_per_given = bounds["wrong_rate"]
    if n_likely_wrong > bounds["est_wrong"]:
        wrong_per_given = min(n_likely_wrong / total, 1.0)
        out.update(est_wrong=round(wrong_per_given * total, 1),
                   wrong_rate=round(wrong_per_given, 5))
        out["raised_to_flagged"].append("wrong")
    # the missing share of true labels from its count per given label
    missing_per_given = bounds["est_missing"] / total
    if n_likely_missing > bounds["est_missing"]:
        missing_per_given = n_likely_missing / total
        out["est_missing"] = round(missing_per_given * total, 1)
        out["raised_to_flagged"].append("missing")
    if out["raised_to_flagged"]:
        out["missing_rate"] = round(
            missing_per_given / max(1.0 - wrong_per_given + missing_per_given, _EPS), 5)
    return out


def _count_limit(total: np.ndarray, sum_sq: np.ndarray, side: int,
                 empty_scale: float = 1.0) -> np.ndarray:
    """One-sided 95% limit (``side`` +1 upper, -1 lower) of weighted counts with these
    totals and sums of squared weights: a Poisson limit on the effective number of
    pairs (``total^2 / sum_sq``), scaled back (unit weights: the count itself; an
    empty count's weight is ``empty_scale``)."""
    z = 1.645
    n_eff = np.divide(total * total, sum_sq, out=np.zeros_like(total), where=sum_sq > 0)
    scale = np.divide(sum_sq, total, out=np.full_like(total, empty_scale), where=total > 0)
    if side > 0:
        return scale * (np.sqrt(n_eff + 1.0) + z / 2) ** 2
    return scale * np.maximum(np.sqrt(n_eff) - z / 2, 0.0) ** 2


def _expected_outside(docs: np.ndarray, topk: TopK, calibrated: np.ndarray,
                      candidate_mask: np.ndarray, outside_p: np.ndarray,
                      folds: np.ndarray) -> np.ndarray:
    """Per document (shape ``(n_docs,)``, 0 where ``docs`` is false), the expected
    number of true labels among its pairs other than the missing candidates, by the
    calibrated probabilities: its other top-k entries' values and, for every label
    outside its top-k, the label's outside rate (for documents given no label, so every
    pair is one not given)."""
    out = np.zeros(len(docs))
    rows = np.flatnonzero(docs)
    if len(rows) == 0:
        return out
    fold = folds[rows]
    indices = topk.indices[rows]
    valid = indices >= 0
    ranked_rate = np.where(valid, outside_p[fold[:, None], np.where(valid, indices, 0)], 0.0)
    beyond = np.where(valid & ~candidate_mask[rows], calibrated[rows], 0.0)
    out[rows] = (np.maximum(outside_p.sum(axis=1)[fold] - ranked_rate.sum(axis=1), 0.0)
                 + beyond.sum(axis=1))
    return out


def _unlabelled_posterior(per_doc: np.ndarray, cand: PairSet, cand_p: np.ndarray,
                          back: PairSet, back_p: np.ndarray, n_labels: int,
                          outside_true: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``P(label true | the document has at least one true label)`` for the missing
    candidates of documents given no label: (their positions, the probabilities).

    With ``p_j`` the probability of each pair, taken as independent, the document's
    chance of having any true label is ``1 - prod_j (1 - p_j)``: its candidates
    count one by one, the labels outside them by their expected number (Poisson), the
    mean probability of the background pairs of unlabelled documents times their
    count, or ``outside_true`` per document when given (:func:`_expected_outside`,
    without a background sample: counted as none, a document's only candidate came out
    certain, whatever its score). Conditioning on at least one true label divides each
    ``p_j`` by it: a document's best candidate stays as uncertain as the model is, but
    no longer has to compete with "the document has no label at all"."""
    unlabelled = per_doc == 0
    mine = np.flatnonzero(unlabelled[cand.rows])
    if len(mine) == 0:
        return mine, np.zeros(0)
    if outside_true is None:
        back_mine = unlabelled[back.rows] if len(back) else np.zeros(0, bool)
        if back_mine.sum() >= 100:
            outside_mean = float(np.average(back_p[back_mine],
                                            weights=back.weight[back_mine]))
        elif len(back):
            outside_mean = float(np.average(back_p, weights=back.weight))
        else:
            outside_mean = 0.0
        n_cands = np.bincount(cand.rows[mine], minlength=len(per_doc))
        outside_true = outside_mean * np.maximum(n_labels - n_cands, 0).astype(np.float64)
    p = np.clip(cand_p[mine], 0.0, 1.0 - 1e-9)
    log_none = np.bincount(cand.rows[mine], weights=np.log1p(-p),
                           minlength=len(per_doc)) - outside_true
    any_true = -np.expm1(log_none)
    return mine, np.minimum(p / np.maximum(any_true[cand.rows[mine]], 1e-12), 1.0)


def _collect(pos: list, cand: list, keep_probability: float) -> dict:
    """Candidates above ``keep_probability``, most probable first; ties go to the more
    extreme raw model score (higher for missing, lower for wrong). ``pos`` and ``cand``
    are lists ``[rows, labels, raw scores, stacked probabilities (float32), posterior
    error probabilities]`` of the given pairs and the missing candidates, **emptied** as
    they are read: each input goes as soon as its kept entries are copied (the caller
    must hold no other reference for that to free anything). Held to the end beside the
    arrays built here, the inputs (24 bytes a candidate: 280 MB at 11.8 million on
    yso-finna-en) were the audit's peak memory, in its issues step's "collect".

    >>> prob = np.array([0.2, 0.9, 0.5])
    >>> got = _collect([np.array([0, 1], np.int32), np.array([3, 4], np.int32),
    ...                 np.array([0.1, 0.2], np.float32), np.array([0.5, 0.6], np.float32),
    ...                 np.array([0.0001, 0.9])],
    ...                [np.array([2, 2, 0], np.int32), np.array([1, 2, 5], np.int32),
    ...                 np.array([0.7, 0.8, 0.9], np.float32),
    ...                 np.array([0.3, 0.4, 0.5], np.float32), prob], 1e-3)
    >>> got["doc"].tolist(), got["label"].tolist(), got["kind"].tolist()
    ([2, 1, 0, 2], [2, 4, 5, 1], [0, 1, 0, 0])
    """
    keep_cand = cand[4] >= keep_probability
    keep_pos = pos[4] >= keep_probability
    n_cand, n_pos = int(np.count_nonzero(keep_cand)), int(np.count_nonzero(keep_pos))

    def gather(which: int, dtype: type, keep: tuple) -> np.ndarray:
        # the kept entries of the candidates then of the given pairs, into one array of
        # the final size; each input dropped (from the caller's list) once copied
        out: np.ndarray = np.empty(n_cand + n_pos, dtype)
        out[:n_cand] = cand[which][keep[0]]
        cand[which] = None
        out[n_cand:] = pos[which][keep[1]]
        pos[which] = None
        return out

    keep = (keep_cand, keep_pos)
    neg_prob = gather(4, np.float64, keep)
    np.negative(neg_prob, out=neg_prob)
    tie = gather(2, np.float32, keep)
    np.negative(tie[:n_cand], out=tie[:n_cand])  # the candidates' higher raw scores first
    doc = gather(0, np.int32, keep)
    label = gather(1, np.int32, keep)
    score = gather(3, np.float32, keep)
    del keep, keep_cand, keep_pos
    pos.clear()
    cand.clear()
    order = np.lexsort((label, doc, tie, neg_prob))
    del tie
    # the probabilities cast to float32 before they are put in order (the same values:
    # a cast commutes with the negation and the gather), the float64 keys freed first
    prob = np.negative(neg_prob, out=neg_prob).astype(np.float32)
    del neg_prob
    out = {"probability": prob[order]}
    del prob
    out["doc"] = doc[order]
    del doc
    out["label"] = label[order]
    del label
    out["score"] = score[order]
    del score
    # missing candidates come first before sorting: kind is 1 (WRONG) from n_cand on
    out["kind"] = np.where(order >= n_cand, np.int8(WRONG), np.int8(MISSING))
    return out


def _doc_quality(n: int, pos_rows, wrong_prob, cand_rows, missing_prob) -> np.ndarray:
    log_ok = np.zeros(n)
    for rows, prob in ((pos_rows, wrong_prob), (cand_rows, missing_prob)):
        ok = np.minimum(prob, 1 - 1e-7)  # log(1 - P(error)), computed in place
        np.negative(ok, out=ok)
        np.log1p(ok, out=ok)
        log_ok += np.bincount(rows, weights=ok, minlength=n)
        del ok
    return np.exp(log_ok).astype(np.float32)


def _round_half_up(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to whole numbers, halves up (NaN stays NaN): a count of candidates.
    ``np.rint`` rounds halves to even, so an estimated 2.5 errors allowed 2 candidates
    and 3.5 allowed 4. ``floor(x + 0.5)`` would round 0.49999999999999994 up to 1.

    >>> _round_half_up(np.array([0.5, 1.5, 2.5, 2.49, 0.49999999999999994, -0.5, np.nan]))
    array([ 1.,  2.,  3.,  2.,  0.,  0., nan])
    """
    whole = np.floor(x)
    return whole + (x - whole >= 0.5)


def _within_budget(label: np.ndarray, kind: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Whether each candidate (in ranking order) is within its label's and kind's
    estimated error count (``budget``: 2 x n_labels, rounded half up).

    A candidate at position ``i`` of its group's run in key order (stable, so in
    ranking order within the group) is within budget when ``i`` is below the group's
    start plus its budget; 32-bit positions when they fit (tens of millions of
    candidates at 10^4+ labels)."""
    n = len(label)
    if n == 0:
        return np.zeros(0, dtype=bool)
    small = max(n, budget.size) < 2**31 - 1
    dtype: type = np.int32 if small else np.int64
    key = kind.astype(dtype) * budget.shape[1]
    key += label.astype(dtype, copy=False)
    order = np.argsort(key, kind="stable")  # keeps the ranking order within each key
    sorted_key = key[order]
    del key
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    allowed = np.nan_to_num(_round_half_up(budget.ravel()[sorted_key[starts]]), nan=0.0)
    del sorted_key
    limit = np.minimum(starts + np.clip(allowed, 0, n), n).astype(dtype)
    within = np.arange(n, dtype=dtype) < np.repeat(limit, np.diff(np.r_[starts, n]))
    out = np.empty(n, dtype=bool)
    out[order] = within
    return out


def _band_rare(n_given: np.ndarray, below: int) -> np.ndarray:
    """The labels step 6b prunes by band: 2 to ``below - 1`` given documents (a label
    given once has no other document to be scored from, so its score carries no
    evidence for or against its pair; it keeps step 6)."""
    return (n_given >= 2) & (n_given < below)


def _band_wrong_budget(n_given: np.ndarray, band: np.ndarray, below: int,
                       pos_labels: np.ndarray, pos_p: np.ndarray,
                       not_given: list[tuple[PairSet, np.ndarray]]) -> np.ndarray:
    """Step 6b's estimated wrong count per frequency band (shape ``(max band + 1,)``)
    over the labels of :func:`_band_rare`, from the probabilities of their given pairs
    (``pos_labels``, ``pos_p``) and of pair sets that together stand for their pairs not
    given (the candidates and the weighted background, as for :func:`mixture_bounds`).

    A wrong pair looks like a pair not given of its label, so a band's given pairs at
    or below the ``BAND_NOT_GIVEN_QUANTILE`` quantile ``q`` of its pairs not given
    count about that share of its wrong ones: the count's one-sided 95% lower limit
    (a right pair scored as low, as a label the scorer cannot learn has, counts too:
    the limit keeps one or two such from being read as errors) over that share. Per
    label the counts were too few to estimate anything; confident learning's (a given
    pair at most the label's *mean* over its pairs not given, near 0 for a rare label)
    counted 10 of 59 wrong pairs on a synthetic long tail.

    >>> labels = np.zeros(1000, np.int32)
    >>> back = PairSet(labels, labels, np.zeros(1000, bool), np.zeros(1000, np.float32),
    ...                np.zeros(1000, np.float32), np.ones(1000, np.float32))
    >>> pos_p = np.r_[np.full(12, 0.01), np.full(30, 0.9)]   # 12 of 42 look not given
    >>> _band_wrong_budget(np.array([42]), np.array([1]), 50, np.zeros(42, int), pos_p,
    ...                    [(back, np.linspace(0.0, 0.05, 1000))]).round(1).tolist()
    [0.0, 7.3]
    """
    rare = _band_rare(n_given, below)
    budget = np.zeros(int(band.max(initial=0)) + 1)
    for b in np.unique(band[rare]):
        mine = rare & (band == b)
        p_parts, w_parts = [], []
        for pairs, p in not_given:
            pick = mine[pairs.labels]
            p_parts.append(np.asarray(p)[pick])
            w_parts.append(pairs.weight[pick].astype(np.float64))
        neg_p, neg_w = np.concatenate(p_parts), np.concatenate(w_parts)
        if len(neg_p) == 0:
            continue
        order = np.argsort(neg_p, kind="stable")
        cum = np.cumsum(neg_w[order])
        at = min(int(np.searchsorted(cum, BAND_NOT_GIVEN_QUANTILE * cum[-1])), len(order) - 1)
        count = float(np.count_nonzero(pos_p[mine[pos_labels]] <= neg_p[order[at]]))
        low = _count_limit(np.array([count]), np.array([count]), -1)[0]
        budget[b] = low / BAND_NOT_GIVEN_QUANTILE
    return budget


def _band_flags(label: np.ndarray, kind: np.ndarray, n_given: np.ndarray, band: np.ndarray,
                est_wrong: np.ndarray, below: int,
                budget: np.ndarray | None = None) -> np.ndarray:
    """Step 6b: for the labels of :func:`_band_rare`, each frequency band's estimated
    wrong count over them (``budget`` per band, from :func:`_band_wrong_budget`; without
    it, the sum of their ``est_wrong``), rounded half up, flags its *wrong* candidates
    most probable first (``label``, ``kind``: the candidates in ranking order), whatever
    their posterior.

    >>> _band_flags(np.array([0, 1, 0, 2, 1]), np.array([WRONG] * 4 + [MISSING], np.int8),
    ...             np.array([3, 2, 50]), np.array([2, 2, 6]), np.array([0.3, 0.4, 5.0]), 20
    ...             ).tolist()
    [True, False, False, False, False]
    >>> _band_flags(np.array([0, 1, 0, 2, 1]), np.array([WRONG] * 4 + [MISSING], np.int8),
    ...             np.array([3, 2, 50]), np.array([2, 2, 6]), np.array([0.3, 0.4, 5.0]), 20,
    ...             np.r_[0.0, 0.0, 2.6, np.zeros(4)]).tolist()
    [True, True, True, False, False]
    """
    rare = _band_rare(n_given, below)
    group = np.where(rare, band, -1)
    table = np.zeros((2, int(band.max(initial=0)) + 1))
    table[WRONG] = np.bincount(band[rare], weights=est_wrong[rare],
                               minlength=table.shape[1]) if budget is None else budget
    mine = rare[label] & (kind == WRONG)
    out = np.zeros(len(label), dtype=bool)
    out[mine] = _within_budget(group[label[mine]], kind[mine], table)
    return out


def pair_single_label(issues: LabelIssues, Y: LabelMatrix, *,
                      single_label: bool | None = None) -> LabelIssues:
    """In a single-label corpus, each flagged candidate completed to a move, its two
    rows next to each other.

    A corpus is single-label when every document given a label has exactly one (a
    product catalogue, one category each), and at most :data:`MAX_UNLABELLED_SHARE` of
    its documents (at least one) are given none: uncategorised products, whose flagged
    missing rows stand alone (:func:`is_single_label`). One with a document given two
    is not, nor one where more documents have no label (a corpus whose labels are
    optional, most documents given one, is no catalogue, and there a missing label
    implies nothing about the given one). There a
    document's true label that is missing means its one given label is wrong, and a
    wrong given label means some other is missing: a product put on category A that
    belongs on B is one error, where the pairs below flagged at most one of its two
    halves, or both far apart in the queue. Here, for each such document with a flagged
    candidate:

    * a flagged *missing* B also flags the given label A as *wrong*, at a probability
      at least B's (B true implies A wrong), where A is among the candidates (its
      posterior at least the ``keep_probability`` of :func:`find_label_issues`);
    * a flagged *wrong* A also flags the document's most probable *missing* candidate,
      if it has one, at its own probability (the best other label, not implied);

    and the flagged candidates of one document are ranked together, at the place of
    its best one, the *wrong* row first (remove A, then add B). The order of the
    candidates that are not flagged is kept. A labelled document's ``doc_quality`` is
    the probability that its one label is right, its move counted once (the smaller of
    the wrong and missing sides' estimates, where :func:`find_label_issues` multiplied
    them). Another corpus is returned as it is. ``single_label``: None decides from
    ``Y`` (:func:`is_single_label`); True pairs whatever the number of documents given
    no label, and refuses a ``Y`` with a document given two labels or more; False
    leaves ``issues`` unpaired.
    ``details["single_label"]`` records what was done: ``False``, or the counts
    ``n_wrong_added``, ``n_missing_added`` (candidates flagged as companions),
    ``n_unpaired`` (flagged candidates of a labelled document left without one) and
    ``n_docs_without_labels`` (the documents given no label the corpus was taken to
    hold all the same).

    >>> Y = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]]))
    >>> base = dict(n_given=np.array([1, 1, 0]), band=np.zeros(3, int),
    ...             threshold=np.zeros(3), wrong_rate=np.zeros(3), missing_rate=np.zeros(3),
    ...             est_wrong=np.zeros(3), est_missing=np.zeros(3),
    ...             doc_quality=np.ones(2, np.float32), n_docs=2, n_labels=3)
    >>> issues = LabelIssues(doc=np.array([0, 1, 0]), label=np.array([2, 2, 0]),
    ...                      kind=np.array([MISSING, MISSING, WRONG], np.int8),
    ...                      probability=np.array([0.9, 0.1, 0.3], np.float32),
    ...                      score=np.array([0.8, 0.1, 0.2], np.float32),
    ...                      flagged=np.array([True, False, False]), **base)
    >>> paired = pair_single_label(issues, Y)
    >>> paired.doc.tolist(), paired.label.tolist(), paired.flagged.tolist()
    ([0, 0, 1], [0, 2, 2], [True, True, False])
    >>> [round(p, 2) for p in paired.probability.tolist()]
    [0.9, 0.9, 0.1]
    >>> paired.details["single_label"]
    {'n_wrong_added': 1, 'n_missing_added': 0, 'n_unpaired': 0, 'n_docs_without_labels': 0}
    """
    check_single_label(single_label)
    Y = sp.csr_matrix(Y)
    if single_label:
        over = np.flatnonzero(np.diff(Y.indptr) > 1)
        if len(over):
            raise InvalidParameterError(
                "single_label", "False or None where a document is given two labels or "
                f"more ({len(over):,} are: Y's rows {and_more(over.tolist(), 5)})",
                single_label)
    if not (is_single_label(Y) if single_label is None else single_label):
        details = dict(issues.details, single_label=False)
        return LabelIssues(**{**_issue_fields(issues), "details": details})
    unlabelled = np.diff(Y.indptr) == 0
    doc = np.asarray(issues.doc)
    kind = np.asarray(issues.kind)
    flagged = np.asarray(issues.flagged).copy()
    probability = np.asarray(issues.probability).copy()
    # each document's first candidate of a kind (np.unique's first index): its one
    # wrong candidate (a single-label document has one), its best missing one
    # (candidates come best first); a Python loop over every candidate before
    wrong_at, best_missing_at = (_first_at(doc, kind == WRONG),
                                 _first_at(doc, kind != WRONG))
    n_wrong_added = n_missing_added = n_unpaired = 0
    for i in np.flatnonzero(issues.flagged).tolist():
        d = int(doc[i])
        partner = (wrong_at if kind[i] == MISSING else best_missing_at).get(d)
        if partner is None:
            # an uncategorised product's missing row has no wrong half to pair
            n_unpaired += not unlabelled[d]
            continue
        if kind[i] == MISSING:
            probability[partner] = max(probability[partner], probability[i])
        if not flagged[partner]:
            flagged[partner] = True
            if kind[i] == MISSING:
                n_wrong_added += 1
            else:
                n_missing_added += 1
    # the flagged candidates of a document together, at its best one's place, wrong
    # first; every other candidate keeps its place among them
    position = np.arange(len(doc), dtype=np.int64)
    at = np.flatnonzero(flagged)
    first: dict[int, int] = {}
    for i, d in zip(at.tolist(), doc[at].tolist(), strict=True):
        first.setdefault(d, i)
    key = position.copy()
    key[at] = [first[d] for d in doc[at].tolist()]
    second = np.zeros(len(doc), dtype=np.int8)
    second[at] = kind[at] == MISSING
    order = np.lexsort((position, second, key))
    fields = _issue_fields(issues)
    for name in ("doc", "label", "kind", "score"):
        fields[name] = np.asarray(fields[name])[order]
    fields["probability"] = probability[order]
    fields["flagged"] = flagged[order]
    fields["doc_quality"] = _single_label_quality(issues, unlabelled)
    fields["details"] = dict(issues.details, single_label={
        "n_wrong_added": n_wrong_added, "n_missing_added": n_missing_added,
        "n_unpaired": n_unpaired, "n_docs_without_labels": int(unlabelled.sum())})
    return LabelIssues(**fields)


def _single_label_quality(issues: LabelIssues, unlabelled: np.ndarray) -> np.ndarray:
    """Each labelled document's quality read with one label a document: the
    probability that its one label A is right, ``min(1 - P(A wrong), prod(1 - P(B
    missing)))``, where :func:`find_label_issues` multiplies the two. Here A wrong and
    some B missing are one event, a move, estimated from either side: the product
    counted it twice (a move 0.3 likely from both sides read 0.49, below 0.5, where its
    label is right at 0.7 and neither row is flagged). The missing side's product is
    the quality over 1 - P(A wrong), every pair counted (candidates below
    ``keep_probability`` too); a document given no label keeps its quality.

    >>> Y = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    >>> issues = LabelIssues(doc=np.array([0, 0]), label=np.array([0, 1]),
    ...     kind=np.array([WRONG, MISSING], np.int8), probability=np.array([0.3, 0.3]),
    ...     score=np.zeros(2), flagged=np.zeros(2, bool), n_given=np.ones(2),
    ...     band=np.zeros(2, int), threshold=np.zeros(2), wrong_rate=np.zeros(2),
    ...     missing_rate=np.zeros(2), est_wrong=np.zeros(2), est_missing=np.zeros(2),
    ...     doc_quality=np.array([0.49, 1.0], np.float32), n_docs=2, n_labels=2)
    >>> [round(q, 2) for q in _single_label_quality(issues, np.zeros(2, bool)).tolist()]
    [0.7, 1.0]
    """
    quality = np.asarray(issues.doc_quality, dtype=np.float64).copy()
    kind = np.asarray(issues.kind)
    wrong = np.zeros(len(quality))  # a label not among the candidates: below 0.001
    at = kind == WRONG
    # as find_label_issues' product took it (1 - 1e-7 at most), before any pairing
    wrong[np.asarray(issues.doc)[at]] = np.minimum(np.asarray(issues.probability)[at],
                                                   1 - 1e-7)
    right = 1.0 - wrong
    labelled = ~unlabelled
    quality[labelled] = np.minimum(right[labelled],
                                   np.minimum(quality[labelled] / right[labelled], 1.0))
    return quality.astype(np.float32)


#: the share of a single-label collection's documents that may be given no label (a
#: catalogue's uncategorised products; at least one document whatever the size): a
#: corpus with more is one with optional labels (:func:`is_single_label`)
MAX_UNLABELLED_SHARE = 0.01


def order_one_label_wrong(issues: LabelIssues, Y: LabelMatrix, *,
                          single_label: bool | None,
                          confidence: sp.csr_matrix | None = None,
                          band_budget_below: int = 0,
                          outside: np.ndarray | None = None) -> LabelIssues:
    """A corpus where every labelled document of ``Y`` carries exactly one label (two
    labels or more in use), audited as one whose documents may carry several
    (``single_label`` False, said by the user: a multi-label corpus coded with each
    document's main label alone): its flagged wrong rows are put in order of the given
    label's own score (``score``, lowest first), in the places the wrong rows held, the
    missing rows and the candidates not flagged left where they are. Any other corpus,
    or ``single_label`` None or True, is returned as it is.

    Ordered by the error probability, which weighs each label's estimated wrong rate, a
    label often a document's main one of several (Reuters' ``acq``, ``earn``) reads as
    often wrong, its documents' second topic counted against it, and such true labels
    came first: Reuters-21578's training stories kept to their first topic, 2% of them
    (187) given another topic at random, were flagged 225 wrong rows under
    ``--single-label no``, 0.70 of the first 100 a replaced topic; in order of the given
    label's score, 0.97. A label given at random scores far lower (median 0.0007) than
    a main subject with a rival (0.011). ``details["one_label_wrong_order"]`` records
    how many rows were so ordered (absent where nothing was done).

    A wrong row without a score (flagged on copies' evidence alone, :func:`flag_copies`)
    keeps its place: sorted last it would fall under ``--max-review``; the scored rows
    are ordered among the places they held. With the LLM's stated confidences
    (``confidence``, ``details["label_confidence"]``), the ordered rows are interleaved
    again (:func:`interleave_label_confidence`): ordered after the interleave, the
    LLM's least confident rows went back to their scores' places while the report still
    counted them interleaved; ``one_label_wrong_order["interleaved"]`` says so.

    >>> Y = sp.csr_matrix(np.eye(3))
    >>> issues = LabelIssues(
    ...     doc=np.array([0, 1, 2, 0]), label=np.array([0, 1, 1, 2]),
    ...     kind=np.array([WRONG, MISSING, WRONG, WRONG], np.int8),
    ...     probability=np.array([.9, .8, .7, .6], np.float32),
    ...     score=np.array([.05, .9, .001, .0001], np.float32),
    ...     flagged=np.array([True, True, True, False]), n_given=np.ones(3),
    ...     band=np.zeros(3), threshold=np.ones(3), wrong_rate=np.zeros(3),
    ...     missing_rate=np.zeros(3), est_wrong=np.zeros(3), est_missing=np.zeros(3),
    ...     doc_quality=np.ones(3), n_docs=3, n_labels=3)
    >>> ordered = order_one_label_wrong(issues, Y, single_label=False)
    >>> ordered.doc.tolist(), ordered.kind.tolist(), ordered.details
    ([2, 1, 0, 0], [1, 0, 1, 1], {'one_label_wrong_order': {'n_rows': 2}})
    >>> [order_one_label_wrong(issues, Y, single_label=said) is issues
    ...  for said in (None, True)]
    [True, True]
    >>> order_one_label_wrong(issues, sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 1],
    ...     [0, 1, 0]])), single_label=False) is issues  # a document given two
    True
    """
    if single_label is not False or one_label_labels_in_use(Y) < 2:
        return issues
    score = np.asarray(issues.score)
    at = np.flatnonzero(issues.flagged & (issues.kind == WRONG) & ~np.isnan(score))
    order = at[np.argsort(score[at], kind="stable")]
    permutation = np.arange(len(issues))
    permutation[at] = order
    ordered = issues.select(permutation)
    record: dict[str, object] = {"n_rows": int(len(at))}
    ordered.details = dict(issues.details, one_label_wrong_order=record)
    if confidence is not None and "label_confidence" in issues.details:
        record["interleaved"] = True
        # outside: the copies' rows, kept out of the interleave (see there)
        ordered = interleave_label_confidence(ordered, confidence, band_budget_below,
                                              outside)
    return ordered


def one_label_labels_in_use(Y: LabelMatrix) -> int:
    """How many labels the documents of ``Y`` carry where every labelled one carries
    exactly one (counted off its CSR indices, not a CSC copy); 0 where a document
    carries two or more, or none is labelled. The one predicate of
    :func:`order_one_label_wrong` and the audit's one-label note (two labels or more in
    use), which must fire on the same corpora.

    >>> [one_label_labels_in_use(sp.csr_matrix(np.array(rows))) for rows in
    ...  ([[1, 0], [0, 1]], [[1, 0], [1, 0]], [[1, 1], [0, 1]], [[0, 0]])]
    [2, 1, 0, 0]
    """
    Y = sp.csr_matrix(Y)
    per_doc = np.diff(Y.indptr)
    # the per-document check first: a multi-label corpus skips the column count
    if not per_doc.any() or per_doc.max() != 1:
        return 0
    return int(np.count_nonzero(np.bincount(Y.indices, minlength=Y.shape[1])))


def is_single_label(Y: LabelMatrix) -> bool:
    """Whether every document of ``Y`` given a label has exactly one, and at most
    :data:`MAX_UNLABELLED_SHARE` of them (at least one document) none: the corpora
    :func:`pair_single_label` pairs. A catalogue with a product or two not yet
    categorised is one (its pairing was lost whole to one such product); more
    documents given no label make a corpus with optional labels, most documents given
    one, not a single-label one: there a flagged missing label was made to flag the
    given one wrong, a true label.

    >>> [is_single_label(sp.csr_matrix(np.array(rows))) for rows in
    ...  ([[1, 0], [0, 1]], [[1, 0], [0, 0]], [[1, 1], [0, 1]], np.zeros((0, 2)),
    ...   [[1, 0]] * 99 + [[0, 0]], [[1, 0]] * 98 + [[0, 0]] * 2, [[1, 0]] * 198 + [[0, 0]] * 2)]
    [True, True, False, False, True, False, True]
    """
    per_doc = np.diff(sp.csr_matrix(Y).indptr)
    n_unlabelled = int(np.count_nonzero(per_doc == 0))
    return (n_unlabelled < per_doc.size and bool((per_doc <= 1).all())
            and n_unlabelled <= max(1, int(MAX_UNLABELLED_SHARE * per_doc.size)))


#: the largest share of the labelled documents that may give a label beside one of its
#: broader labels for a corpus to be read as coded at the most specific level (ICD-10
#: coding, a catalogue's leaves): there a broader label given where a narrower one is
#: missing is the narrower one's misplaced half (:func:`pair_broader`)
MAX_BROADER_BESIDE_SHARE = 0.01

#: the least share of the labelled documents given two labels or more for a corpus's
#: never giving a label beside a broader one to say something of its coding (a corpus
#: of one label a document or none, optional categories, never does so trivially)
MIN_SEVERAL_LABELS_SHARE = 0.5


def ancestor_matrix(space: LabelSpace, n_labels: int) -> sp.csr_matrix | None:
    """An ``(n_labels, n_labels)`` 0/1 CSR whose row ``c`` marks ``c``'s ancestors in
    ``space`` (its broader labels, theirs, and so on); None where the space has no
    hierarchy or is not the label space of ``n_labels`` (one derived from a corpus).

    >>> from tagsmith.data.labelspace import Label, LabelSpace
    >>> space = LabelSpace([Label("E"), Label("E11", broader=["E"]),
    ...                     Label("E11.9", broader=["E11"])])
    >>> ancestor_matrix(space, 3).toarray().tolist()
    [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    """
    if len(space) != n_labels or not space.has_hierarchy:
        return None
    from tagsmith.metrics.hierarchy import ancestor_closure, parent_matrix

    # the reflexive closure by sparse products, less each label itself
    closure = ancestor_closure(parent_matrix(space))
    closure.setdiag(0)
    closure.eliminate_zeros()
    return sp.csr_matrix(closure, dtype=np.int8)


def docs_with_broader_beside(Y: LabelMatrix, ancestors: sp.csr_matrix) -> int:
    """How many documents of ``Y`` are given a label and one of its ancestors together
    (``ancestors``: :func:`ancestor_matrix`)."""
    Y = sp.csr_matrix(Y, dtype=np.int64)
    ancestors = ancestors.astype(np.int64)
    n = 0
    # by blocks of documents: the product holds every given label's ancestors (18
    # million entries for 590,000 documents of 5 STW descriptors, in 1.3 s)
    for start in range(0, Y.shape[0], 50_000):
        block = Y[start:start + 50_000]
        beside = sp.csr_matrix((block @ ancestors).multiply(block))
        beside.eliminate_zeros()
        n += int(np.count_nonzero(np.diff(beside.indptr)))
    return n


def pair_broader(issues: LabelIssues, Y: LabelMatrix, space: LabelSpace) -> LabelIssues:
    """In a multi-label corpus coded at the most specific level, a broader label given
    where a narrower one is missing made one move, its two rows next to each other.

    A corpus is so coded where its vocabulary has a hierarchy, at least
    :data:`MIN_SEVERAL_LABELS_SHARE` of its labelled documents are given two labels or
    more, and at most :data:`MAX_BROADER_BESIDE_SHARE` of them give a label beside one of
    its ancestors (ICD-10 coding: a coder gives ``E11.9``, never ``E11`` beside it).
    There a document given ``I48`` whose true code is ``I48.91`` is one error, where
    the audit flagged at most one of its halves (``add I48.91``, whose acceptance left
    the document on both codes, as the corpus never is). Here, for each such document:

    * a flagged *missing* B also flags each given ancestor A of B as *wrong*, at a
      probability at least B's (B given makes A redundant); where A is no candidate
      (its posterior below the ``keep_probability`` of :func:`find_label_issues`: the
      scores found it as right as B) it is added as one, its ``score`` NaN;
    * a flagged *wrong* A also flags the document's most probable *missing* candidate
      among A's descendants, if it has one, at its own probability (the narrower code
      A may have stood for, not implied);

    and the *wrong* row is put right before its *missing* one (remove A, then add B),
    at the place of the better of the two. The document's ``doc_quality`` counts each
    such move once (the smaller of its sides' ``1 - P(error)``, where
    :func:`find_label_issues` multiplied them: :func:`_broader_quality`). A
    single-label corpus (paired by :func:`pair_single_label` already) and any other
    corpus are returned as they are.
    ``details["broader_moves"]`` records what was done: ``False``, or the counts
    ``n_wrong_added``, ``n_missing_added``, ``n_moves`` (pairs placed together) and
    ``n_unpaired`` (flagged *wrong* labels with narrower labels, none of them a
    candidate), with ``n_docs_broader_beside`` (documents giving a label beside an
    ancestor of it).

    >>> from tagsmith.data.labelspace import Label, LabelSpace
    >>> space = LabelSpace([Label("I48"), Label("I48.0", broader=["I48"]),
    ...                     Label("I48.91", broader=["I48"]), Label("I10")])
    >>> Y = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 1, 0, 1]]))
    >>> base = dict(n_given=np.array([1, 1, 0, 2]), band=np.zeros(4, int),
    ...             threshold=np.zeros(4), wrong_rate=np.zeros(4), missing_rate=np.zeros(4),
    ...             est_wrong=np.zeros(4), est_missing=np.zeros(4),
    ...             doc_quality=np.ones(2, np.float32), n_docs=2, n_labels=4)
    >>> issues = LabelIssues(doc=np.array([0, 1, 0]), label=np.array([2, 3, 0]),
    ...                      kind=np.array([MISSING, WRONG, WRONG], np.int8),
    ...                      probability=np.array([0.8, 0.2, 0.3], np.float32),
    ...                      score=np.array([0.9, 0.1, 0.2], np.float32),
    ...                      flagged=np.array([True, False, False]), **base)
    >>> paired = pair_broader(issues, Y, space)
    >>> paired.doc.tolist(), paired.label.tolist(), paired.flagged.tolist()
    ([0, 0, 1], [0, 2, 3], [True, True, False])
    >>> [round(p, 2) for p in paired.probability.tolist()]
    [0.8, 0.8, 0.2]
    >>> paired.details["broader_moves"]["n_moves"]
    1
    """
    Y = sp.csr_matrix(Y)
    per_doc = np.diff(Y.indptr)
    n_labelled = int(np.count_nonzero(per_doc))
    n_several = int(np.count_nonzero(per_doc > 1))
    # the cheap tests first: the ancestor closure and the product over every document
    # (docs_with_broader_beside) ran for every corpus with a hierarchy, a mostly
    # single-labelled one (most thesaurus-indexed collections) included
    ancestors = None
    if (not isinstance(issues.details.get("single_label"), dict) and n_labelled
            and n_several >= MIN_SEVERAL_LABELS_SHARE * n_labelled):
        ancestors = ancestor_matrix(space, Y.shape[1])
    n_beside = 0 if ancestors is None else docs_with_broader_beside(Y, ancestors)
    if ancestors is None or n_beside > MAX_BROADER_BESIDE_SHARE * n_labelled:
        details = dict(issues.details, broader_moves=False)
        return LabelIssues(**{**_issue_fields(issues), "details": details})
    fields = _issue_fields(issues)
    doc, label, kind = (np.asarray(fields[name]) for name in ("doc", "label", "kind"))
    # the candidates of the documents with a flagged one, by (document, label, kind):
    # candidates come best first, so a document's first is its best of a kind
    docs = np.unique(doc[np.asarray(issues.flagged)])
    near = np.flatnonzero(np.isin(doc, docs))
    at = {(d, c, k): int(i) for i, d, c, k in zip(
        near.tolist(), doc[near].tolist(), label[near].tolist(), kind[near].tolist(),
        strict=True)}
    given = {d: set(Y.indices[Y.indptr[d]:Y.indptr[d + 1]].tolist()) for d in docs.tolist()}

    def up(c: int) -> list[int]:
        return ancestors.indices[ancestors.indptr[c]:ancestors.indptr[c + 1]].tolist()

    # a given ancestor of a flagged missing label that the scores found right (its error
    # posterior below keep_probability: as likely as its narrower label, given or not)
    # is redundant all the same: it becomes a candidate of no score
    added = [(d, a) for i in np.flatnonzero(issues.flagged).tolist() if kind[i] == MISSING
             for d in (int(doc[i]),) for a in up(int(label[i]))
             if a in given[d] and (d, a, WRONG) not in at]
    added = list(dict.fromkeys(added))
    for n, (d, a) in enumerate(added):
        at[(d, a, WRONG)] = len(doc) + n
    n_added = len(added)
    doc = np.concatenate((doc, np.asarray([d for d, _ in added], doc.dtype)))
    label = np.concatenate((label, np.asarray([a for _, a in added], label.dtype)))
    kind = np.concatenate((kind, np.full(n_added, WRONG, kind.dtype)))
    score = np.concatenate((np.asarray(fields["score"]),
                            np.full(n_added, np.nan, np.asarray(fields["score"]).dtype)))
    probability = np.concatenate((np.asarray(fields["probability"]),
                                  np.zeros(n_added, np.asarray(fields["probability"]).dtype)))
    flagged = np.concatenate((np.asarray(fields["flagged"]), np.zeros(n_added, bool)))
    descendants = sp.csr_matrix(ancestors.T)
    n_wrong_added = n_missing_added = n_unpaired = 0
    partner_of: dict[int, int] = {}  # a wrong row -> the missing row it goes before
    for i in np.flatnonzero(issues.flagged).tolist():
        d, c = int(doc[i]), int(label[i])
        partners: list[int | None]
        if kind[i] == MISSING:
            partners = [at[(d, a, WRONG)] for a in up(c) if a in given[d]]
        else:
            down = descendants.indices[descendants.indptr[c]:descendants.indptr[c + 1]]
            found = [j for b in down.tolist() if (j := at.get((d, b, MISSING))) is not None]
            partners = [min(found)] if found else ([None] if len(down) else [])
        for j in partners:
            if j is None:
                n_unpaired += 1
                continue
            if kind[i] == MISSING:
                probability[j] = max(probability[j], probability[i])
            if not flagged[j]:
                flagged[j] = True
                if kind[i] == MISSING:
                    n_wrong_added += 1
                else:
                    n_missing_added += 1
            wrong, missing = (j, i) if kind[i] == MISSING else (i, j)
            partner_of.setdefault(wrong, missing)
    # each pair at its better row's place, the wrong row first; a missing row taken by
    # two wrong ones (two ancestors given) keeps them both before it
    wrongs_of: dict[int, list[int]] = {}
    for wrong, missing in partner_of.items():
        wrongs_of.setdefault(missing, []).append(wrong)
    position = np.arange(len(doc), dtype=np.int64)
    key = position.copy()
    second = np.zeros(len(doc), dtype=np.int8)
    for missing, wrongs in wrongs_of.items():
        key[[missing, *wrongs]] = min(missing, *wrongs)
        second[missing] = 1
    order = np.lexsort((position, second, key))
    for name, values in (("doc", doc), ("label", label), ("kind", kind), ("score", score),
                         ("probability", probability), ("flagged", flagged)):
        fields[name] = values[order]
    fields["doc_quality"] = _broader_quality(issues, wrongs_of, doc)
    fields["details"] = dict(issues.details, broader_moves={
        "n_wrong_added": n_wrong_added, "n_missing_added": n_missing_added,
        "n_moves": len(wrongs_of), "n_unpaired": n_unpaired, "n_docs_broader_beside": n_beside})
    return LabelIssues(**fields)


def _broader_quality(issues: LabelIssues, wrongs_of: dict[int, list[int]],
                     doc: np.ndarray) -> np.ndarray:
    """Each document's quality with each move :func:`pair_broader` placed (a missing
    row and the wrong rows before it) counted once: the product of
    :func:`find_label_issues` multiplied ``1 - P(A wrong)`` by ``1 - P(B missing)``,
    one error seen from two sides, and now keeps the smaller of them, as
    :func:`_single_label_quality` does for a single-label corpus. A row
    :func:`pair_broader` added (a given ancestor the scores found right, its posterior
    below ``keep_probability``) counts as right. ``wrongs_of`` maps each missing row to
    its wrong rows, rows of ``doc`` (``issues``' rows, then the added ones).

    >>> base = dict(score=np.zeros(2), n_given=np.ones(3), band=np.zeros(3, int),
    ...     threshold=np.zeros(3), wrong_rate=np.zeros(3), missing_rate=np.zeros(3),
    ...     est_wrong=np.zeros(3), est_missing=np.zeros(3), n_docs=2, n_labels=3)
    >>> issues = LabelIssues(doc=np.array([0, 0]), label=np.array([0, 1]),
    ...     kind=np.array([WRONG, MISSING], np.int8), probability=np.array([0.3, 0.6]),
    ...     flagged=np.array([False, True]), doc_quality=np.array([0.28, 1.0], np.float32),
    ...     **base)
    >>> [round(q, 2) for q in _broader_quality(issues, {1: [0]}, issues.doc).tolist()]
    [0.4, 1.0]
    """
    quality = np.asarray(issues.doc_quality, dtype=np.float64).copy()
    # before pair_broader raised a wrong row to its partner's; 1 - 1e-7 at most, as the
    # product took them
    original = np.minimum(np.asarray(issues.probability, dtype=np.float64), 1 - 1e-7)
    for missing, wrongs in wrongs_of.items():
        right = [1.0 - original[i] if i < len(original) else 1.0 for i in (missing, *wrongs)]
        d = int(doc[missing])
        quality[d] = min(quality[d] / float(np.prod(right)) * min(right), 1.0)
    return quality.astype(np.float32)


def _first_at(doc: np.ndarray, where: np.ndarray) -> dict[int, int]:
    """Each document's first position among those ``where`` is true."""
    at = np.flatnonzero(where)
    docs, first = np.unique(doc[at], return_index=True)
    return dict(zip(docs.tolist(), at[first].tolist(), strict=True))


def _issue_fields(issues: LabelIssues) -> dict:
    return {name: getattr(issues, name) for name in LabelIssues.__dataclass_fields__}


#: the confidences :func:`blend_label_confidence` reads are clipped to this distance from
#: 0 and 1 (a label scored 1.0 is not certain; its odds stay finite)
CONFIDENCE_CLIP = 0.01
#: a given label's confidence of exactly this is none stated (a line without ``scores``,
#: a 0/1 row): :func:`blend_label_confidence` leaves it out of the mean and keeps its
#: label's probability; :func:`tagsmith.pipeline.audit.read_audit_corpus` reads an LLM's
#: stated 1.0 as the largest float32 below it (:data:`STATED_CERTAIN`)
UNKNOWN_CONFIDENCE = 1.0
#: an LLM's stated confidence of 1.0 as stored: the largest float32 below
#: :data:`UNKNOWN_CONFIDENCE`, so a stated certainty stays told apart from none stated
STATED_CERTAIN = np.nextafter(np.float32(1), np.float32(0))


def blend_label_confidence(issues: LabelIssues, confidence: sp.csr_matrix,
                           min_probability: float, band_budget_below: int = 0) -> LabelIssues:
    """``issues`` with the given labels' own confidences (an LLM's, ``label``'s
    ``scores``: ``confidence``, ``n_docs x n_labels``, nonzero at the given labels)
    blended into each *wrong* candidate's probability, the candidates re-ranked and the
    wrong ones re-flagged.

    The rule: the confidence ``c`` is a second, independent piece of evidence, read
    against the corpus's mean confidence ``m`` (over its given labels), so a label at
    the LLM's mean keeps its probability ``p`` and a less confident one rises:
    ``odds(p') = odds(p) * odds(1 - c) / odds(1 - m)``, with ``c`` and ``m`` clipped to
    [:data:`CONFIDENCE_CLIP`, 1 - :data:`CONFIDENCE_CLIP`]. Missing candidates (no
    confidence: the LLM did not give them) keep their probabilities, and so does a wrong
    candidate whose confidence is exactly :data:`UNKNOWN_CONFIDENCE` (none stated: a line
    without scores, a label a 0/1 row gives), which ``m`` leaves out too. Candidates are
    ordered by the new probabilities (ties in their order before); a wrong candidate
    is flagged where ``p' >= min_probability`` and within its label's wrong budget
    (step 6: the label's estimated wrong count, or the sum of ``p'`` over its wrong
    candidates, their expected number of errors, where that is more), a missing
    candidate as before, and so is a wrong candidate of a label step 6b flags by band
    (``band_budget_below``, the audit's option: its flags were replaced by step 6's).
    The LLM's own ranking is interleaved: its least confident wrong candidates (stated
    confidences, ascending), as many as it expects wrong (the sum of ``1 - c`` over its
    stated confidences), are flagged too where ``p' >= min_probability`` (step 6b's
    labels apart: their rows keep the audit's flag and their place in the blend, not
    interleaved nor counted in ``n_interleaved``), and the flagged rows alternate, the
    blend's first, the LLM's least confident, the blend's second, ..., each row at the
    better of its two places (the queue's probabilities are then not in order;
    :func:`interleave_label_confidence` does it again after :func:`flag_copies`). The
    audit's budget and the LLM's expected wrong count estimate the same errors: of the
    two lists' wrong rows, taken in turn, at most the larger of the blend's own wrong
    flags and the LLM's expected wrong count stay flagged (``n_wrong_cap``; the others
    are unflagged, the queue's first rows unchanged). The
    documents' quality and the noise
    rates are the audit's own, unchanged; the bounds' floor counts the blended flags.
    ``details["label_confidence"]`` records the rule, ``m`` (``mean_confidence``), the
    clip, the wrong candidates (``n_wrong_candidates``) and how many were flagged before
    and after (``n_wrong_flagged_before``, ``n_wrong_flagged``), the LLM's expected wrong
    count (``n_llm_expected_wrong``), how many of its picks were interleaved
    (``n_interleaved``), the two lists' wrong flags (``n_wrong_flagged_by_audit``,
    ``n_wrong_flagged_by_llm``) and the cap on them (``n_wrong_cap``), and the wrong
    candidates without a stated confidence (``n_wrong_unknown_confidence``).
    """
    confidence = sp.csr_matrix(confidence)
    if confidence.shape != (issues.n_docs, issues.n_labels):
        raise InvalidParameterError("confidence", f"shape ({issues.n_docs}, {issues.n_labels})",
                                    confidence.shape)
    # a confidence of exactly 1 is no stated one (a line without scores, a 0/1 row): it
    # was read as certain, pulling the mean up (a corpus mixing label's output with
    # hand-labelled lines) and pushing its labels' probabilities down; now unknown, left
    # out of the mean and its label's probability kept (read_audit_corpus writes an
    # LLM's stated 1.0 just below 1)
    given = confidence.data[(confidence.data > 0) & (confidence.data < UNKNOWN_CONFIDENCE)]
    mean = float(given.mean()) if given.size else 1.0
    lo, hi = CONFIDENCE_CLIP, 1 - CONFIDENCE_CLIP
    wrong = np.asarray(issues.kind) == WRONG
    probability = np.asarray(issues.probability, dtype=np.float64).copy()
    # each wrong candidate's stated confidence (NaN: none, or a missing candidate)
    stated_c = _stated_confidences(issues, confidence)
    at = np.flatnonzero(~np.isnan(stated_c))
    n_unknown = int(np.count_nonzero(wrong)) - len(at)
    if len(at):
        # in the confidences' own dtype (float32 as read_audit_corpus gives them)
        c = stated_c[at].astype(confidence.dtype, copy=False)
        m = min(max(mean, lo), hi)
        p = np.clip(probability[at], 1e-9, 1 - 1e-9)
        log_odds = np.log(p / (1 - p)) + np.log((1 - c) / c) - np.log((1 - m) / m)
        probability[at] = 1 / (1 + np.exp(-log_odds))
    order = np.argsort(-probability, kind="stable")
    blended = LabelIssues(issues.doc[order], issues.label[order], issues.kind[order],
                          probability[order].astype(np.float32), issues.score[order],
                          issues.flagged[order], issues.n_given, issues.band,
                          issues.threshold, issues.wrong_rate, issues.missing_rate,
                          issues.est_wrong, issues.est_missing, issues.doc_quality,
                          issues.n_docs, issues.n_labels, dict(issues.details))
    is_wrong = blended.kind == WRONG
    # a label's wrong budget: its estimated wrong count, or the blended probabilities'
    # sum over its wrong candidates (their expected number of errors) where that is more
    expected = np.bincount(blended.label[is_wrong], weights=blended.probability[is_wrong],
                           minlength=issues.n_labels)
    within = _within_budget(blended.label, blended.kind, np.stack(
        [issues.est_missing, np.maximum(np.nan_to_num(issues.est_wrong), expected)]))
    reflag = is_wrong
    if band_budget_below:  # step 6b's flags kept for the labels it prunes by band
        reflag = is_wrong & ~_band_rare(np.asarray(issues.n_given), band_budget_below)[
            blended.label]
    flagged = np.where(reflag, (blended.probability >= min_probability) & within,
                       blended.flagged)
    # the LLM's own ranking, interleaved: the odds rule reads the confidence as
    # calibrated and the audit's probability as well; where the audit's scores are weak
    # (GoEmotions) its 300 rows held 101 planted errors where the LLM's 300 least
    # confident labels held 219 wrong ones. Its least confident wrong candidates, as many
    # as it expects wrong (the sum of 1 - c over its stated confidences), are flagged too
    # (p' at least min_probability), and the flagged rows alternate: the blend's first,
    # the LLM's least confident, the blend's second... (each row at its better place)
    n_doubt = int(round(float(np.sum(1 - given))))
    doubt = _least_confident(stated_c[order], n_doubt)
    # the blend's own wrong flags (within the audit's budget), before the LLM's
    n_by_audit = int(np.count_nonzero(flagged & reflag))
    flagged[doubt] |= reflag[doubt] & (blended.probability[doubt] >= min_probability)
    # step 6b's labels apart: their rows keep the audit's flag and their blend place
    # (they were given an interleaved place and counted in n_interleaved)
    doubt = doubt[reflag[doubt] & flagged[doubt]]
    # the audit's budget and the LLM's expected wrong count are two estimates of one
    # number, the corpus's wrong labels: the two lists' flags were added up (GoEmotions:
    # 1,485 wrong rows flagged beside an estimate of 742.5, the LLM's 1,077). The
    # interleave takes from both in turn up to the larger of the two, no more: the
    # audit's flags within its budget, or the LLM's expected wrong count (its estimate,
    # not how many of its picks reach min_probability: on Reuters 100 of its 462 did,
    # and a cap at 105 dropped 16 planted errors from the 300 rows)
    n_wrong_cap = max(n_by_audit, n_doubt)
    n_llm = len(doubt)
    blended, n_interleaved = _interleave(replace(blended, flagged=flagged), doubt,
                                         cap=n_wrong_cap, capped=reflag)
    flagged = blended.flagged
    is_wrong = blended.kind == WRONG
    bounds = blended.details.get("mixture_bounds")
    if bounds is not None and "by_mixture" in bounds:
        # the bounds were floored at the audit's flagged likely errors (an "at most"
        # below the rows it asks a person to confirm contradicts itself): the blend
        # flags others, and the report's "wrong labels, at most" read below them
        likely = flagged & (blended.probability >= LIKELY_ERROR)
        raw = {key: value for key, value in bounds.items()
               if key not in ("by_mixture", "n_flagged_likely", "raised_to_flagged")}
        blended.details["mixture_bounds"] = floor_bounds(
            {**raw, **bounds["by_mixture"]}, float(np.sum(issues.n_given)),
            int(np.count_nonzero(likely & is_wrong)),
            int(np.count_nonzero(likely & (blended.kind == MISSING))))
    blended.details["label_confidence"] = {
        "rule": "odds(p') = odds(p) * odds(1 - c) / odds(1 - mean confidence), wrong "
                "candidates only; the flagged rows interleaved with the LLM's least "
                "confident wrong candidates",
        # the LLM's least confident wrong candidates taken (as many as it expects wrong,
        # the sum of 1 - c), and how many of them were flagged and interleaved
        "n_llm_expected_wrong": n_doubt, "n_interleaved": n_interleaved,
        # the two lists' wrong flags (the blend's within the audit's budget, the LLM's
        # least confident) and the cap on their union: the larger of the blend's and the
        # LLM's expected wrong count
        "n_wrong_flagged_by_audit": n_by_audit, "n_wrong_flagged_by_llm": n_llm,
        "n_wrong_cap": n_wrong_cap,
        "mean_confidence": round(mean, 6), "clip": CONFIDENCE_CLIP,
        "n_wrong_candidates": int(wrong.sum()),
        # wrong candidates without a stated confidence (kept as the audit scored them)
        "n_wrong_unknown_confidence": n_unknown,
        "n_wrong_flagged_before": int(np.count_nonzero(issues.flagged[wrong])),
        "n_wrong_flagged": int(np.count_nonzero(flagged[is_wrong]))}
    return blended


def _stated_confidences(issues: LabelIssues, confidence: sp.csr_matrix) -> np.ndarray:
    """Each candidate's stated confidence, clipped to [:data:`CONFIDENCE_CLIP`,
    1 - :data:`CONFIDENCE_CLIP`]; NaN for a missing candidate and a wrong one without a
    stated confidence (0 or :data:`UNKNOWN_CONFIDENCE`). One reading for
    :func:`blend_label_confidence` and :func:`interleave_label_confidence`."""
    wrong = np.flatnonzero(np.asarray(issues.kind) == WRONG)
    stated_c = np.full(len(issues.kind), np.nan)
    if len(wrong):
        c = np.asarray(confidence[issues.doc[wrong], issues.label[wrong]]).ravel()
        stated = (c > 0) & (c < UNKNOWN_CONFIDENCE)
        stated_c[wrong[stated]] = np.clip(c[stated], CONFIDENCE_CLIP, 1 - CONFIDENCE_CLIP)
    return stated_c


def _least_confident(stated_c: np.ndarray, n_doubt: int) -> np.ndarray:
    """The rows of the ``n_doubt`` least confident wrong candidates (``stated_c``: each
    row's clipped stated confidence, NaN where none), ascending, ties in row order."""
    doubt = np.flatnonzero(~np.isnan(stated_c))
    return doubt[np.argsort(stated_c[doubt], kind="stable")][:n_doubt]


def _interleave(issues: LabelIssues, doubt: np.ndarray, cap: int | None = None,
                capped: np.ndarray | None = None) -> tuple[LabelIssues, int]:
    """``issues`` with its flagged rows alternating: its own first flagged row, the first
    of ``doubt`` (flagged rows), its second, ..., each row at the better of its two
    places; the unflagged rows after them in their order. ``cap``: of the flagged rows
    ``capped`` marks (the wrong rows the blend re-flags), the first ``cap`` in that
    order stay flagged, the others are unflagged (and join the unflagged rows, in their
    order): the queue's first rows are the same with the cap or without. With how many
    of ``doubt`` stay flagged."""
    key = np.full(len(issues.flagged), np.inf)
    first = np.flatnonzero(issues.flagged)
    key[first] = 2.0 * np.arange(len(first))
    key[doubt] = np.minimum(key[doubt], 2.0 * np.arange(len(doubt)) + 1)
    flagged = issues.flagged
    if cap is not None and capped is not None:
        rows = np.flatnonzero(flagged & capped)
        over = rows[np.lexsort((rows, key[rows]))][cap:]
        if len(over):
            flagged = flagged.copy()
            flagged[over] = False
            key[over] = np.inf
    again = np.lexsort((np.arange(len(key)), key))
    return replace(issues, doc=issues.doc[again], label=issues.label[again],
                   kind=issues.kind[again], probability=issues.probability[again],
                   score=issues.score[again], flagged=flagged[again],
                   details=dict(issues.details)), int(np.count_nonzero(flagged[doubt]))


def interleave_label_confidence(issues: LabelIssues, confidence: sp.csr_matrix,
                                band_budget_below: int = 0,
                                outside: np.ndarray | None = None) -> LabelIssues:
    """The interleave of :func:`blend_label_confidence` done again on ``issues`` a later
    step re-sorted by probability (:func:`flag_copies`: it put the LLM's least confident
    rows back where their probabilities are, while the report still counted them
    interleaved). The same rows are taken (the LLM's least confident wrong candidates,
    ``details["label_confidence"]["n_llm_expected_wrong"]`` of them, step 6b's labels
    apart), none flagged anew: those flagged alternate with the others' flagged rows;
    ``n_interleaved`` and ``n_wrong_flagged`` are counted again. ``outside``: the
    ``(doc * n_labels + label)`` keys of the rows a later step flagged on other
    evidence (:func:`flag_copies`' majority rows the cap had unflagged, see
    :func:`copies_flagged_anew`), kept at their place and not counted interleaved: the
    copies' row was counted in ``n_interleaved``, and ``n_wrong_flagged`` still gave
    the cap's count without it; those flagged are counted in
    ``n_wrong_flagged_by_copies``."""
    rule = issues.details.get("label_confidence")
    if rule is None:
        return issues
    stated_c = _stated_confidences(issues, sp.csr_matrix(confidence))
    movable = np.asarray(issues.kind) == WRONG
    if band_budget_below:
        movable &= ~_band_rare(np.asarray(issues.n_given), band_budget_below)[issues.label]
    doubt = _least_confident(stated_c, int(rule["n_llm_expected_wrong"]))
    if outside is not None and len(outside):
        keys = np.asarray(issues.doc, np.int64) * issues.n_labels + issues.label
        movable &= ~np.isin(keys, outside)
    doubt = doubt[movable[doubt] & issues.flagged[doubt]]
    again, n_interleaved = _interleave(issues, doubt)
    flagged_wrong = again.flagged & (again.kind == WRONG)
    again.details["label_confidence"] = dict(
        rule, n_interleaved=n_interleaved, n_wrong_flagged=int(np.count_nonzero(flagged_wrong)))
    if outside is not None and len(outside):
        # the copies' rows flagged, beside the two lists' counts: the report's "the
        # audit's X and the LLM's Y in turn" no longer added up to n_wrong_flagged
        keys = np.asarray(again.doc, np.int64) * again.n_labels + again.label
        again.details["label_confidence"]["n_wrong_flagged_by_copies"] = int(
            np.count_nonzero(flagged_wrong & np.isin(keys, outside)))
    return again


def copies_flagged_anew(before: LabelIssues, after: LabelIssues) -> np.ndarray:
    """The ``(doc * n_labels + label)`` keys of the wrong rows flagged in ``after``
    (:func:`flag_copies`' output) and not in ``before``: flagged on the copies'
    evidence, outside :func:`blend_label_confidence`'s two lists
    (:func:`interleave_label_confidence`'s ``outside``).

    >>> n = 3
    >>> base = dict(n_given=np.array([n]), band=np.zeros(1, int), threshold=np.zeros(1),
    ...             wrong_rate=np.zeros(1), missing_rate=np.zeros(1), est_wrong=np.zeros(1),
    ...             est_missing=np.zeros(1), doc_quality=np.ones(n), n_docs=n, n_labels=1)
    >>> def issues(flagged):
    ...     return LabelIssues(np.arange(n), np.zeros(n, np.int64), np.ones(n, np.int8),
    ...                        np.zeros(n, np.float32), np.zeros(n, np.float32),
    ...                        np.array(flagged), **base)
    >>> copies_flagged_anew(issues([True, False, False]), issues([True, False, True])).tolist()
    [2]
    """
    def keys(issues: LabelIssues) -> np.ndarray:
        rows = np.asarray(issues.flagged, bool) & (np.asarray(issues.kind) == WRONG)
        return np.asarray(issues.doc, np.int64)[rows] * issues.n_labels \
            + np.asarray(issues.label, np.int64)[rows]

    now = keys(after)
    return now[~np.isin(now, keys(before))]


def copies_disagreeing(Y: LabelMatrix, groups: np.ndarray,
                       blank: np.ndarray | None = None) -> dict[tuple[int, int], tuple[int, int]]:
    """Each (document, label) where copies of one text disagree: the label given to some
    of the copies and not to the others, as ``(carried, n_copies)`` of its text.

    ``groups``: one id per document, equal for the audit's exact duplicates
    (:func:`tagsmith.audit.duplicates.exact_groups`); ``blank``: documents left out
    (a blank text is nobody's copy). Every copy of such a text is a key, with or without
    the label.

    >>> Y = sp.csr_matrix(np.array([[1, 1], [1, 0], [1, 1], [0, 1]]))
    >>> sorted(copies_disagreeing(Y, np.array([0, 0, 0, 1])).items())
    [((0, 1), (2, 3)), ((1, 1), (2, 3)), ((2, 1), (2, 3))]
    """
    Y = sp.csr_matrix(Y)
    groups = np.asarray(groups, dtype=np.int64)
    keep = np.ones(len(groups), bool) if blank is None else ~np.asarray(blank, bool)
    sizes = np.bincount(groups[keep], minlength=int(groups.max(initial=-1)) + 1)
    docs = np.flatnonzero(keep & (sizes[groups] > 1))
    if not len(docs):
        return {}
    # the copies' label counts per text: a text x label sparse sum of their rows
    _, group_of = np.unique(groups[docs], return_inverse=True)
    member = sp.csr_matrix((np.ones(len(docs)), (group_of, np.arange(len(docs)))))
    counts = sp.csr_matrix(member @ (Y[docs] != 0).astype(np.int64))
    # each text's copies as one slice of the documents sorted by text: a mask over every
    # copy for each text took time in the square of the copies (100,000 texts of two)
    by_text = docs[np.argsort(group_of, kind="stable")]
    edges = np.concatenate(([0], np.cumsum(np.bincount(group_of))))
    # every (copy, split label) of each text at once, in the order of a loop over the
    # texts, each one's copies and then its split labels (flag_copies reads the keys in
    # that order): a Python loop per text took 4 s for 100,000 texts of two
    n_copies = np.diff(edges)
    text = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    split = counts.data < n_copies[text]
    text, labels = text[split], counts.indices[split]
    carried = counts.data[split].astype(np.int64)  # the sum of float ones: whole
    per_text = np.bincount(text, minlength=counts.shape[0])  # split labels of each text
    first = np.concatenate(([0], np.cumsum(per_text)))  # each text's first split label
    per_copy = np.repeat(per_text, n_copies)  # in by_text's order
    entry = np.arange(int(per_copy.sum())) - np.repeat(np.cumsum(per_copy) - per_copy,
                                                       per_copy)
    copy_text = np.repeat(np.repeat(np.arange(counts.shape[0]), n_copies), per_copy)
    at = first[copy_text] + entry
    doc = np.repeat(by_text, per_copy)
    return dict(zip(zip(doc.tolist(), labels[at].tolist(), strict=True),
                    zip(carried[at].tolist(), n_copies[copy_text].tolist(), strict=True),
                    strict=True))


def flag_copies(issues: LabelIssues, Y: LabelMatrix, groups: np.ndarray,
                blank: np.ndarray | None = None) -> LabelIssues:
    """Copies of one text that disagree on a label, as evidence for the review queue.

    A text given a label on some of its copies and not on others is wrong on one side
    (copies of one comment, one story, one product). For each such label of a text of
    ``n`` copies, ``c`` of them carrying it (:func:`copies_disagreeing`):

    * ``c > n - c`` (most copies carry it): each copy lacking it is a *missing*
      candidate;
    * ``c < n - c`` (a minority carries it): each copy carrying it is a *wrong*
      candidate;
    * ``c == n - c`` (one of two copies, two of four): a tie says one side is wrong but
      not which, so it is counted, not raised: its pairs stay as the scores left them,
      flagged only where they flag them, and counted on the side whose candidates the
      scores find the more likely errors (the higher posterior; the *wrong* side where
      neither is a candidate): GoEmotions' copies are mostly one comment its raters
      labelled apart, and raised to 1/2 its ties took repair slots from the errors.

    A majority's candidate's probability becomes ``1 - (1 - share) * (1 - posterior)``,
    ``share`` being the copies that disagree with it (``c / n`` for a missing row,
    ``(n - c) / n`` for a wrong one) and ``posterior`` the scores' own, and it is
    flagged whatever its label's estimated number of errors: the copies are evidence the
    scores do not see (in cross-fitting, equal texts share a fold). A pair that was no
    candidate is added (its ``score`` NaN), a tie's not (it could reach no queue).
    The candidates are re-sorted by probability (stable). ``details["copies"]`` counts
    ``n_texts`` (texts whose copies disagree on a label), ``n_missing`` and ``n_wrong``
    (majority candidates so flagged), ``n_ties`` (tie copies, not raised),
    ``n_added`` (majority pairs that were no candidates before) and ``n_flagged_before``
    (majority candidates flagged already). Noise rates, bounds and ``doc_quality`` are
    left as they were.

    >>> Y = sp.csr_matrix(np.array([[1, 1], [1, 0], [1, 1], [0, 1]]))
    >>> base = dict(n_given=np.array([3, 3]), band=np.zeros(2, int),
    ...             threshold=np.zeros(2), wrong_rate=np.zeros(2), missing_rate=np.zeros(2),
    ...             est_wrong=np.zeros(2), est_missing=np.zeros(2),
    ...             doc_quality=np.ones(4, np.float32), n_docs=4, n_labels=2)
    >>> none = LabelIssues(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int8),
    ...                    np.zeros(0, np.float32), np.zeros(0, np.float32),
    ...                    np.zeros(0, bool), **base)
    >>> found = flag_copies(none, Y, np.array([0, 0, 0, 1]))
    >>> found.doc.tolist(), found.label.tolist(), found.kind.tolist(), found.flagged.tolist()
    ([1], [1], [0], [True])
    >>> round(float(found.probability[0]), 3), found.details["copies"]["n_added"]
    (0.667, 1)
    """
    disagree = copies_disagreeing(Y, groups, blank)
    fields = _issue_fields(issues)
    doc, label, kind = (np.asarray(fields[name]) for name in ("doc", "label", "kind"))
    score = np.asarray(fields["score"], dtype=np.float32)
    probability = np.asarray(fields["probability"], dtype=np.float32)
    flagged = np.asarray(fields["flagged"], dtype=bool)
    Y = sp.csr_matrix(Y)
    near = np.flatnonzero(np.isin(doc, np.fromiter((d for d, _ in disagree), np.int64,
                                                   len(disagree))))
    at = {(d, c, k): int(i) for i, d, c, k in zip(
        near.tolist(), doc[near].tolist(), label[near].tolist(), kind[near].tolist(),
        strict=True)}

    def given(d: int, c: int) -> bool:
        row = slice(Y.indptr[d], Y.indptr[d + 1])
        return bool(np.any((Y.indices[row] == c) & (Y.data[row] != 0)))

    def posterior(d: int, c: int, k: int) -> float:
        i = at.get((d, c, k))
        return 0.0 if i is None else max(float(probability[i]), 0.0)

    # each text's copies of a tie, per label, on either side
    sides: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
    for (d, c), (carried, n) in disagree.items():
        if 2 * carried == n:
            sides.setdefault((int(groups[d]), c), ([], []))[given(d, c)].append(d)
    # a tie's side: the higher posterior of either side's candidates, wrong where equal
    tie_kind = {key: MISSING if max(posterior(e, key[1], MISSING) for e in lack)
                > max(posterior(e, key[1], WRONG) for e in carry) else WRONG
                for key, (lack, carry) in sides.items()}
    # (doc, label, kind, share of the copies disagreeing with it; None: a tie)
    chosen: list[tuple[int, int, int, float | None]] = []
    for (d, c), (carried, n) in disagree.items():
        has = given(d, c)
        if 2 * carried == n:
            side = tie_kind[(int(groups[d]), c)]
            if (side == WRONG) == has:
                chosen.append((d, c, side, None))
        elif has and 2 * carried < n:
            chosen.append((d, c, WRONG, (n - carried) / n))
        elif not has and 2 * carried > n:
            chosen.append((d, c, MISSING, carried / n))
    # a tie's pair the scores made no candidate of is not added: at probability 0 and
    # never flagged it could reach no review queue, a row of issues.npz alone
    added = [(d, c, k) for d, c, k, share in chosen
             if share is not None and (d, c, k) not in at]
    for n_at, (d, c, k) in enumerate(added):
        at[(d, c, k)] = len(doc) + n_at
    doc = np.concatenate((doc, np.asarray([d for d, _, _ in added], doc.dtype)))
    label = np.concatenate((label, np.asarray([c for _, c, _ in added], label.dtype)))
    kind = np.concatenate((kind, np.asarray([k for _, _, k in added], kind.dtype)))
    score = np.concatenate((score, np.full(len(added), np.nan, score.dtype)))
    probability = np.concatenate((probability, np.zeros(len(added), probability.dtype)))
    flagged = np.concatenate((flagged, np.zeros(len(added), bool)))
    n_before = n_ties = 0
    counts = {MISSING: 0, WRONG: 0}
    n_texts: set[tuple[int, int]] = set()
    for d, c, k, share in chosen:
        n_texts.add((int(groups[d]), c))
        if share is None:
            # a tie says one copy is wrong, not which: left at the scores' own
            # probability, flagged only where they flag it (GoEmotions' 1-of-2 copies,
            # its raters disagreeing, took 109 repair slots raised to 0.5)
            n_ties += 1
            continue
        i = at[(d, c, k)]
        n_before += bool(flagged[i])
        probability[i] = 1.0 - (1.0 - share) * (1.0 - max(float(probability[i]), 0.0))
        flagged[i] = True
        counts[k] += 1
    order = np.argsort(-probability, kind="stable")
    for name, values in (("doc", doc), ("label", label), ("kind", kind), ("score", score),
                         ("probability", probability), ("flagged", flagged)):
        fields[name] = values[order]
    fields["details"] = dict(issues.details, copies={
        "n_texts": len(n_texts), "n_missing": counts[MISSING], "n_wrong": counts[WRONG],
        "n_ties": n_ties, "n_added": len(added), "n_flagged_before": n_before})
    return LabelIssues(**fields)
