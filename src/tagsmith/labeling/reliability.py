"""How far to trust the LLM: per-label reliability from a human-labelled sample.

On documents labelled by both the LLM and people, each label's precision (how often
the LLM's label is right) and recall (how often a true label is named) are counted
and smoothed toward the overall figures with a Beta prior of ``prior_strength``
pseudo-documents, so rare labels borrow from the rest (whose overall figures are in
turn smoothed toward 1/2 with as many pseudo-documents, so a tiny sample is not taken at
face value, and so is the share of documents the LLM gets wrong). :meth:`Reliability.soft_targets`
turns LLM labels into soft targets: a named label gets the probability that it is right
(its precision), scaled by the answer's confidence relative to that label's usual
confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tagsmith._params import check_number
from tagsmith._typing import LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.labeling import MAJORITY_SHARE


@dataclass
class Reliability:
    """Per-label precision / recall of the teacher (shape ``(n_labels,)`` each)."""

    precision: np.ndarray
    recall: np.ndarray
    mean_confidence: np.ndarray
    support: np.ndarray
    micro_precision: float
    micro_recall: float
    micro_f1: float
    doc_error_rate: float
    n_docs: int
    #: with votes: the reliability of the labels at most half of a document's answered
    #: votes named (``None``: not estimated, as with one vote; :meth:`soft_targets` then
    #: weighs every label by the figures above). Estimated apart, on the same sample: the
    #: figures above are those of the labels the votes agree on, and applied to a label
    #: one vote of 3 named, they took it for as right as a label every vote named. Where
    #: the sample has no such label (its votes always agreed) it is still estimated, from
    #: no evidence: precision 1/2 and mean confidence 1, so such a label's soft target is
    #: half its confidence, not the agreed labels' figures. A
    #: :class:`MinorityReliability` (precision and confidence alone: a Reliability
    #: assigned here is taken as one, its recall and document error rate dropped)
    minority: MinorityReliability | None = None
    #: labels named in the sample (the minority's ``n_named``: 0 where it has no evidence)
    n_named: int = 0

    def __setattr__(self, name: str, value: object) -> None:
        # a Reliability given as the minority (``estimate_reliability`` of the labels few
        # votes named, as code before MinorityReliability built it) is kept as one: its
        # recall and doc_error_rate, minority labels alone against every human label,
        # were shown as figures of the teacher they are not
        if name == "minority" and isinstance(value, Reliability):
            value = MinorityReliability.from_reliability(value)
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        """One line at a prompt: the dataclass repr printed four per-label arrays.

        >>> rel = estimate_reliability(sp.csr_matrix([[1.0, 0], [1, 0], [0, 1]]),
        ...                            sp.csr_matrix([[1, 0], [0, 1], [0, 1]]))
        >>> rel
        Reliability(n_labels=2, n_docs=3, micro_precision=0.6667, micro_recall=0.6667)
        >>> rel.minority = estimate_reliability(sp.csr_matrix([[0, 1.0], [0, 0], [0, 0]]),
        ...                                     sp.csr_matrix([[1, 0], [0, 1], [0, 1]]))
        >>> rel  # with votes: the labels at most half the votes named, too
        ... # doctest: +NORMALIZE_WHITESPACE
        Reliability(n_labels=2, n_docs=3, micro_precision=0.6667, micro_recall=0.6667,
                    minority_named=1, minority_precision=0)
        """
        minority = ""
        if self.minority is not None:
            precision = self.minority._precision_named()
            minority = (f", minority_named={self.minority.n_named}, minority_precision="
                        f"{'None' if precision is None else format(precision, '.4g')}")
        return (f"Reliability(n_labels={int(self.precision.size)}, n_docs={self.n_docs}, "
                f"micro_precision={self.micro_precision:.4g}, "
                f"micro_recall={self.micro_recall:.4g}{minority})")

    def _precision_named(self) -> float | None:
        """The micro-precision, ``None`` where no label was named: its 0/0 read as 0.0,
        "such labels are always wrong", of labels the sample never had."""
        return self.micro_precision if self.n_named else None

    def soft_targets(self, Y_llm: LabelMatrix, *, use_confidence: bool = True,
                     vote_share: LabelMatrix | None = None) -> sp.csr_matrix:
        """Soft targets in (0, 1] for the LLM's labels ``Y_llm`` (docs x labels, CSR).

        ``vote_share`` (same shape; ``LLMLabels.vote_share``): with :attr:`minority`,
        a label at most half of its document's votes named is weighed by that
        reliability, the others by this one.

        >>> rel = estimate_reliability(sp.csr_matrix([[1.0, 0], [1, 0], [0, 1]]),
        ...                            sp.csr_matrix([[1, 0], [0, 1], [0, 1]]), prior_strength=0)
        >>> rel.soft_targets(sp.csr_matrix([[1.0, 1.0]])).toarray().tolist()
        [[0.5, 1.0]]
        """
        Y = _checked_copy(Y_llm, len(self.precision))
        if vote_share is not None and self.minority is not None:
            share = sp.csr_matrix(vote_share)
            if share.shape != Y.shape:
                raise InvalidParameterError("vote_share", f"shape {Y.shape}", share.shape)
            agreed = sp.csr_matrix(Y.multiply(share > MAJORITY_SHARE), dtype=np.float32)
            agreed.eliminate_zeros()
            fewer = sp.csr_matrix(Y - agreed, dtype=np.float32)
            fewer.eliminate_zeros()
            return sp.csr_matrix(
                self.soft_targets(agreed, use_confidence=use_confidence)
                + self.minority.soft_targets(fewer, use_confidence=use_confidence),
                dtype=np.float32)
        return _weighed(Y, self.precision, self.mean_confidence, use_confidence)

    def to_dict(self) -> dict:
        """The overall figures; with :attr:`minority`, its ``n_named`` and
        ``micro_precision`` (``None`` where it named none) under ``"minority"``: its
        recall and document error rate count the minority labels alone against every
        human label, no figure of the teacher."""
        out: dict = {"n_docs": self.n_docs, "micro_precision": round(self.micro_precision, 4),
                     "micro_recall": round(self.micro_recall, 4),
                     "micro_f1": round(self.micro_f1, 4),
                     "doc_error_rate": round(self.doc_error_rate, 4)}
        if self.minority is not None:
            out["minority"] = self.minority.to_dict()
        return out


@dataclass
class MinorityReliability:
    """With votes: the reliability of the labels at most half of a document's answered
    votes named (:attr:`Reliability.minority`), estimated on the ``--human`` sample.

    Precision and confidence alone: the recall and document error rate of these labels
    counted them alone against every human label (a recall of 0.05 and an error on
    nearly every document, whatever the teacher), no figure of the teacher, so they are
    not kept. ``micro_precision`` is ``None`` where the sample had no such label (its
    votes always agreed); ``precision`` then is the prior 1/2 and ``mean_confidence`` 1.

    >>> rel = estimate_minority_reliability(sp.csr_matrix([[0, 0.4], [0, 0]]),
    ...                                     sp.csr_matrix([[1, 0], [1, 0]]))
    >>> rel
    MinorityReliability(n_labels=2, n_docs=2, n_named=1, micro_precision=0)
    >>> rel.to_dict()
    {'n_named': 1, 'micro_precision': 0.0}
    """

    precision: np.ndarray
    mean_confidence: np.ndarray
    #: ``None`` where no label was named (its 0/0 read as 0.0, "such labels are
    #: always wrong", of labels the sample never had)
    micro_precision: float | None
    n_named: int
    n_docs: int

    @classmethod
    def from_reliability(cls, reliability: Reliability) -> MinorityReliability:
        """The precision and confidence of ``reliability`` (an
        :func:`estimate_reliability` of the minority labels alone)."""
        return cls(reliability.precision, reliability.mean_confidence,
                   reliability._precision_named(), reliability.n_named,
                   reliability.n_docs)

    def __repr__(self) -> str:
        precision = ("None" if self.micro_precision is None
                     else format(self.micro_precision, ".4g"))
        return (f"MinorityReliability(n_labels={int(self.precision.size)}, "
                f"n_docs={self.n_docs}, n_named={self.n_named}, "
                f"micro_precision={precision})")

    def _precision_named(self) -> float | None:
        return self.micro_precision

    def soft_targets(self, Y_llm: LabelMatrix, *,
                     use_confidence: bool = True) -> sp.csr_matrix:
        """Soft targets for minority labels ``Y_llm``, as
        :meth:`Reliability.soft_targets` gives them."""
        return _weighed(_checked_copy(Y_llm, len(self.precision)), self.precision,
                        self.mean_confidence, use_confidence)

    def to_dict(self) -> dict:
        """``n_named`` and ``micro_precision`` (``None`` where it named none): the
        ``reliability.minority`` of ``label``'s JSON summary."""
        return {"n_named": self.n_named,
                "micro_precision": None if self.micro_precision is None
                else round(self.micro_precision, 4)}


def estimate_minority_reliability(Y_llm: LabelMatrix, Y_human: LabelMatrix, *,
                                  prior_strength: float = 5.0) -> MinorityReliability:
    """The reliability of the labels at most half of a document's votes named
    (``Y_llm``: those labels alone, soft, > 0 = named) against ``Y_human``, as
    :func:`estimate_reliability` counts precision and confidence."""
    return MinorityReliability.from_reliability(
        estimate_reliability(Y_llm, Y_human, prior_strength=prior_strength))


def _checked_copy(Y_llm: LabelMatrix, n_labels: int) -> sp.csr_matrix:
    """``Y_llm`` as a CSR float32 copy without stored zeros, refused unless it has
    ``n_labels`` columns of confidences in [0, 1] (both soft_targets check it so)."""
    Y = sp.csr_matrix(Y_llm, dtype=np.float32, copy=True)
    if Y.shape[1] != n_labels:
        raise InvalidParameterError("Y_llm", f"{n_labels} label columns", Y.shape[1])
    _check_confidences("Y_llm", Y)
    Y.eliminate_zeros()
    return Y


def _weighed(Y: sp.csr_matrix, precision: np.ndarray, mean_confidence: np.ndarray,
             use_confidence: bool) -> sp.csr_matrix:
    """``Y`` (CSR float32, a copy, no stored zeros) with each label's value replaced by
    its soft target: its precision, scaled by its confidence relative to the label's
    usual one."""
    values = precision[Y.indices].astype(np.float64)
    if use_confidence:
        relative = Y.data / np.maximum(mean_confidence[Y.indices], 1e-6)
        values = values * np.minimum(relative, 1.0 / np.maximum(values, 1e-6))
    Y.data = np.clip(values, 1e-3, 1.0).astype(np.float32)
    return Y


def estimate_reliability(Y_llm: LabelMatrix, Y_human: LabelMatrix, *,
                         prior_strength: float = 5.0,
                         offered: LabelMatrix | None = None) -> Reliability:
    """Reliability of LLM labels ``Y_llm`` (soft, > 0 = named) against ``Y_human``.

    Both are ``n_docs x n_labels``; a document counts as an error (``doc_error_rate``)
    when the LLM's label set differs from the human one in any label, and the share of
    errors is shrunk toward 1/2 with ``prior_strength`` pseudo-documents.

    ``offered`` (same shape, > 0 = offered; ``None``: every label offered every
    document): the labels each prompt offered the LLM, where shortlists narrowed them.
    Each label's ``recall`` (and the overall figure it is drawn toward) then counts
    only the documents it was offered to: a label no shortlist offered was counted
    missed on every document people gave it (``gold`` recall 0.35 on a month's news
    never offered it), a shortlist's miss read as the LLM's. ``micro_recall`` still
    counts every human label of the documents, offered or not.

    >>> rel = estimate_reliability(sp.csr_matrix([[1.0, 0], [0, 0]]),
    ...                            sp.csr_matrix([[1.0, 1], [0, 1]]), prior_strength=0,
    ...                            offered=sp.csr_matrix([[1, 1], [1, 0]]))
    >>> rel.recall.tolist()  # label 1: offered once, with the LLM missing it
    [1.0, 0.0]

    >>> rel = estimate_reliability(sp.csr_matrix([[1.0, 0], [0, 1]]),
    ...                            sp.csr_matrix([[1.0, 0], [0, 1]]), prior_strength=2)
    >>> rel.doc_error_rate  # no error in 2 documents: (0 + 1) / (2 + 2)
    0.25
    """
    llm = sp.csr_matrix(Y_llm, dtype=np.float32, copy=True)
    human = sp.csr_matrix(Y_human, dtype=np.float32)
    if llm.shape != human.shape:
        raise InvalidParameterError("Y_human", f"shape {llm.shape}", human.shape)
    _check_confidences("Y_llm", llm)
    # a stored zero is no label: it pulled the overall mean confidence down (a 0 averaged
    # into llm.data), and with it every soft target of the labels without evidence
    llm.eliminate_zeros()
    if human.nnz and not np.all(human.data >= 0):  # NaN fails: it counted as "not true"
        raise InvalidParameterError("Y_human", "labels >= 0 (> 0 is true; no NaN)",
                                    f"range [{human.data.min()}, {human.data.max()}]")
    # infinite: every figure came out NaN (inf / inf), and so did every soft target
    prior_strength = check_number("prior_strength", prior_strength, 0, finite=True,
                                  numpy=True)
    named = (llm > 0).astype(np.float32)
    truth = (human > 0).astype(np.float32)
    hits = named.multiply(truth)
    tp = np.asarray(hits.sum(axis=0)).ravel()
    n_named = np.asarray(named.sum(axis=0)).ravel()
    n_true = np.asarray(truth.sum(axis=0)).ravel()
    tp_offered, n_true_offered = tp, n_true
    if offered is not None:
        shown = sp.csr_matrix(offered)
        if shown.shape != llm.shape:
            raise InvalidParameterError("offered", f"shape {llm.shape}", shown.shape)
        shown = (shown > 0).astype(np.float32)
        tp_offered = np.asarray(sp.csr_matrix(hits.multiply(shown)).sum(axis=0)).ravel()
        n_true_offered = np.asarray(
            sp.csr_matrix(truth.multiply(shown)).sum(axis=0)).ravel()
    micro_p = float(tp.sum() / max(n_named.sum(), 1))
    micro_r = float(tp.sum() / max(n_true.sum(), 1))
    micro_f1 = 2 * micro_p * micro_r / max(micro_p + micro_r, 1e-12)
    # the overall rates the labels borrow from are themselves shrunk toward 1/2 (no
    # evidence either way): a sample where the LLM named nothing would otherwise give
    # every label precision 0, and one lucky document precision 1
    base_p = _shrunk(tp.sum(), n_named.sum(), prior_strength, 0.5)
    base_r = _shrunk(tp_offered.sum(), n_true_offered.sum(), prior_strength, 0.5)
    # a label the sample has no evidence on (never named, or never true) takes the
    # overall figure: with prior_strength=0 it got 0/0 = 0, and every label the LLM
    # gives it was cut to a soft target of 0.001
    precision = _shrunk(tp, n_named, prior_strength, base_p)
    recall = _shrunk(tp_offered, n_true_offered, prior_strength, base_r)
    confidence_sum = np.asarray(llm.sum(axis=0)).ravel()
    overall_confidence = float(llm.data.mean()) if llm.nnz else 1.0
    mean_confidence = _shrunk(confidence_sum, n_named, prior_strength, overall_confidence)
    differs = np.asarray(abs(named - truth).sum(axis=1)).ravel() > 0
    # shrunk toward 1/2 like the overall rates: two right documents are no proof that
    # the teacher never errs (robust selection would then expect no mistakes at all)
    doc_error_rate = _shrunk(differs.sum(), len(differs), prior_strength, 0.5)
    return Reliability(precision.astype(np.float32), recall.astype(np.float32),
                       mean_confidence.astype(np.float32), n_true.astype(np.int64),
                       micro_p, micro_r, micro_f1, float(doc_error_rate), int(llm.shape[0]),
                       n_named=int(n_named.sum()))


def _check_confidences(name: str, Y: sp.csr_matrix) -> None:
    """Refuse values outside [0, 1] or NaN in ``Y``: a NaN confidence made its label's
    mean confidence and every soft target of that label NaN, and a negative one a named
    label with a negative mean confidence, without a word."""
    if Y.nnz and not np.all((Y.data >= 0) & (Y.data <= 1)):  # NaN fails both
        raise InvalidParameterError(name, "values in [0, 1] (no NaN)",
                                    f"range [{Y.data.min()}, {Y.data.max()}]")


def _shrunk(hits, count, prior_strength: float, base):
    """``(hits + prior_strength * base) / (count + prior_strength)``, elementwise, and
    ``base`` where there is no evidence at all (``count + prior_strength == 0``)."""
    hits, count = np.asarray(hits, np.float64), np.asarray(count, np.float64)
    total = count + prior_strength
    ratio = (hits + prior_strength * np.asarray(base)) / np.maximum(total, 1e-12)
    out = np.where(total > 0, ratio, base)
    return out if out.ndim else float(out)
