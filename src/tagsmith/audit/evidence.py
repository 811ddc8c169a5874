"""Evidence about (document, label) pairs beyond a model's top-k scores, and its stacking.

At 10^4+ labels a model's top-k misses most of a document's given labels (on
yso-finna-en, leave-one-out nearest neighbours rank 45% of the given labels in their
top 50), so "the model does not rank it" says little about a given label by itself.
Two cheap, leave-one-out signals score *any* pair:

* **centroid cosine**: similarity of the document to the centroid of the label's
  other documents (the sum of their L2-normalised feature rows, pruned to its largest
  weights as the label tree's label representations are): a label tree's view of the
  label, available for every label with at least one other document;
* **co-occurrence**: ``max P(label | other)`` over the document's other given labels,
  from the label co-occurrence counts without the document itself; a random wrong
  label rarely co-occurs with a document's real subjects.

:mod:`tagsmith.audit.stacking` combines these with the calibrated model score and
the label's frequency (:func:`design_matrix`) into one estimate of
``P(given | evidence)``.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.audit._kernels import centroid_cosine_kernel, cooccurrence_kernel, run_in_threads
from tagsmith.progress import progress_bar

#: features kept per label centroid (as the label tree's label representations)
CENTROID_FEATURES = 500
#: labels whose centroids are summed and pruned at a time (a block's sums, before
#: pruning, are the largest array: 47M entries for all 21k labels of 85k yso-finna-en
#: documents with character n-grams)
CENTROID_BLOCK = 2048


def label_cooccurrence(Y: LabelMatrix) -> tuple[sp.csr_matrix, np.ndarray, tuple]:
    """``Y`` as a float32 CSR with sorted ids, the label counts (float64) and the
    co-occurrence counts ``Y.T @ Y`` as the kernels read them: ``(indptr (int64),
    indices (int32), data (float32))``, sorted ids, the diagonal (the counts) included.

    >>> Yf, counts, (indptr, indices, data) = label_cooccurrence(
    ...     sp.csr_matrix(np.array([[1, 1], [1, 0]], bool)))
    >>> counts.tolist(), indices.tolist(), data.tolist()
    ([2.0, 1.0], [0, 1, 0, 1], [2.0, 1.0, 1.0, 1.0])
    """
    Y = sp.csr_matrix(Y, dtype=np.float32)
    Y.sort_indices()
    counts = np.bincount(Y.indices, minlength=Y.shape[1]).astype(np.float64)
    cooc = (Y.T @ Y).tocsr()
    cooc.sort_indices()
    # kernels read the arrays as they are (int32 ids, float32 values): no 64-bit copies
    return Y, counts, (cooc.indptr.astype(np.int64), cooc.indices, cooc.data)


class PairEvidence:
    """Label centroids and co-occurrence counts of a corpus, to score arbitrary pairs.

    ``Y``: given labels (``n_docs x n_labels``, boolean CSR); ``X``: features
    (``n_docs x n_features`` CSR) or ``None`` for label-set evidence only;
    ``cooccurrence_counts``: :func:`label_cooccurrence` of ``Y`` when the caller has
    built it already (the audit's kNN scores blend the same counts), else built here.
    ``multi_label``: whether some document carries two labels (else the co-occurrence
    evidence is left out: in a single-label corpus it only tells a given pair, which
    sees no other label, from one not given, which sees the document's label).
    ``show_progress``: a bar (``issues (evidence)``) counts the labels whose centroids
    are built, a block of :data:`CENTROID_BLOCK` at a time (the audit's "evidence"
    step, 12 s at 85k yso-finna-en documents, said nothing while it ran).

    >>> X = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32))
    >>> Y = sp.csr_matrix(np.array([[1, 1], [1, 0], [0, 1], [0, 1]], bool))
    >>> ev = PairEvidence(Y, X)
    >>> f = ev.features(np.array([0, 0, 2]), np.array([0, 1, 0]), np.array([True, True, False]))
    >>> f["centroid"].round(2).tolist(), f["cooccurrence"].round(2).tolist()
    ([1.0, 0.0, 0.0], [0.0, 0.0, 0.5])
    """

    def __init__(self, Y: sp.csr_matrix, X: FeatureMatrix | None = None, *,
                 centroid_features: int = CENTROID_FEATURES,
                 cooccurrence_counts: tuple | None = None,
                 n_threads: int | None = None, show_progress: bool = False) -> None:
        from tagsmith.exceptions import InvalidParameterError
        from tagsmith.models.knn import l2_normalize, prune_rows

        self.n_threads = n_threads or os.cpu_count() or 1
        if cooccurrence_counts is None:
            cooccurrence_counts = label_cooccurrence(Y)
        elif cooccurrence_counts[0].shape != Y.shape:
            raise InvalidParameterError("cooccurrence_counts", f"the counts of labels of shape "
                                        f"{Y.shape} (label_cooccurrence(Y))",
                                        cooccurrence_counts[0].shape)
        self.Y, self.counts, self.cooc = cooccurrence_counts
        # whether any document carries two labels: if none does, no label co-occurs with
        # another, and the co-occurrence only says whether the document has another label
        # (a pair not given always has one, a given pair never), which separated given
        # from not-given pairs perfectly whatever the labels (random ones included)
        self.multi_label = bool(np.any(np.diff(self.Y.indptr) > 1))
        self.X = None
        if X is not None:
            with progress_bar(total=Y.shape[1], desc="issues (evidence)", unit="label",
                              enabled=show_progress) as bar:
                rows = l2_normalize(sp.csr_matrix(X, dtype=np.float32))
                rows.sort_indices()
                # each label's centroid is its own row of Y.T @ rows: summed and pruned
                # a block of labels at a time, the same rows as one product
                by_label = sp.csr_matrix(Y.T)
                blocks = []
                for start in range(0, max(Y.shape[1], 1), CENTROID_BLOCK):
                    part = by_label[start:start + CENTROID_BLOCK]
                    blocks.append(prune_rows((part @ rows).tocsr(), centroid_features))
                    bar.update(part.shape[0])
            centroids = sp.csr_matrix(sp.vstack(blocks, format="csr"))
            centroids.sort_indices()
            norm2 = np.asarray(centroids.multiply(centroids).sum(axis=1),
                               dtype=np.float64).ravel()
            self.X = (rows.indptr.astype(np.int64), rows.indices, rows.data)
            self.centroids = (centroids.indptr.astype(np.int64), centroids.indices,
                              centroids.data, norm2)

    @property
    def has_text(self) -> bool:
        return self.X is not None

    def centroid_cosines(self, rows: np.ndarray, labels: np.ndarray,
                         given: np.ndarray) -> np.ndarray:
        """Per pair, the cosine between the document and its label's centroid (without
        the document itself for a given pair): :meth:`features`' ``centroid``. Needs
        features (:attr:`has_text`)."""
        if self.X is None:
            raise ValueError("centroid cosines need the documents' features (X)")
        out = np.zeros(len(rows))
        run_in_threads(centroid_cosine_kernel, (*self.X, *self.centroids),
                       (np.ascontiguousarray(rows, dtype=np.int64),
                        np.ascontiguousarray(labels, dtype=np.int64),
                        np.ascontiguousarray(given, dtype=np.bool_), out), self.n_threads)
        return out

    def features(self, rows: np.ndarray, labels: np.ndarray, given: np.ndarray, *,
                 symmetric_seed: int | None = None,
                 centroid: np.ndarray | None = None) -> dict:
        """Per pair: ``centroid`` cosine (when features were given), ``cooccurrence``
        (``max P(label | other given label)``), ``log_lift`` (its log ratio to the
        label's base rate; 0 when the document has no other label, and for every pair
        when no document has two labels: see :attr:`multi_label`), ``others`` (number
        of other given labels) and ``count`` (the label's given count without this
        document).

        ``symmetric_seed``: a pair not given compares one given label fewer too (left
        out by a hash of the seed, its document and label), so that a given pair and
        one not given see the same number of other labels. By default a given pair sees
        the document's other labels and one not given all of them, which tells the
        stacking which pairs are given: good for ranking, but a label given wrongly
        then no longer looks like a pair not given, which the noise-rate bounds assume
        (:func:`tagsmith.audit.detect.mixture_bounds`).

        ``centroid``: these pairs' :meth:`centroid_cosines` when the caller has them
        (the same for both of the audit's stackings), else computed here."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        given = np.ascontiguousarray(given, dtype=np.bool_)
        out: dict[str, np.ndarray] = {}
        if self.X is not None:
            out["centroid"] = self.centroid_cosines(rows, labels, given) if centroid is None \
                else centroid
        best = np.zeros(len(rows))
        others = np.zeros(len(rows), np.int64)
        run_in_threads(cooccurrence_kernel,
                       (self.Y.indptr.astype(np.int64), self.Y.indices, *self.cooc,
                        self.counts,
                        -1 if symmetric_seed is None else int(symmetric_seed) % 2**63),
                       (rows, labels, given, best, others), self.n_threads)
        out["cooccurrence"] = best
        out["others"] = others
        out["count"] = self.counts[labels] - given
        # lift over the label's base rate among the other documents; 1 without evidence
        base_rate = np.maximum(out["count"], 0.5) / max(self.Y.shape[0] - 1, 1)
        has_evidence = others > 0 if self.multi_label else np.zeros(len(rows), bool)
        out["log_lift"] = np.where(has_evidence, np.log((best + 1e-4) / base_rate), 0.0)
        return out


#: names of the stacking features, in :func:`design_matrix` order
FEATURE_NAMES = ("model_score_logit", "centroid_cosine", "log_cooccurrence_lift",
                 "log_label_count")


def design_matrix(calibrated: np.ndarray, evidence: dict | None) -> np.ndarray:
    """Stacking features of pairs: logit of the calibrated model score, and with
    ``evidence`` (from :meth:`PairEvidence.features`) the centroid cosine (when
    computed), log co-occurrence lift and log label count.

    The number of other labels a document has is deliberately not a feature: a given
    pair sees one label fewer than a pair that is not given, so in a corpus of
    single-label documents "has other labels" would separate given from not given
    perfectly while saying nothing about which labels are wrong."""
    p = np.clip(calibrated, 1e-6, 1 - 1e-6)
    columns = [np.log(p / (1 - p))]
    if evidence is not None:
        if "centroid" in evidence:
            columns.append(evidence["centroid"])
        columns.append(evidence["log_lift"])
        columns.append(np.log1p(evidence["count"]))
    return np.column_stack(columns)
