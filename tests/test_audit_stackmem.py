"""The stacking's regression held its fitting sample's design matrix three times at
once (the chunks as computed, their stack, and fit_logistic's standardised copy
beside it: 1.5 million pairs, 48 MB each, in the audit's peak on yso-finna-en). The
chunks now go into one matrix with a column for the intercept, standardised in
place: the same coefficients and probabilities."""

import tracemalloc

import numpy as np
import scipy.sparse as sp

from tagsmith.audit import stacking
from tagsmith.audit.evidence import PairEvidence
from tagsmith.audit.stacking import PairSet, fit_logistic, stack_probabilities


def _standardised_fit(Z, y, w):
    # the regression on a standardised copy of Z beside it, as it was computed: the
    # coefficients the in-place fit must give, bit for bit
    Z = np.asarray(Z, dtype=np.float64)
    total = w.sum()
    mean = (w[:, None] * Z).sum(axis=0) / total
    std = np.sqrt((w[:, None] * (Z - mean) ** 2).sum(axis=0) / total)
    std[std < 1e-12] = 1.0
    A = np.column_stack([(Z - mean) / std, np.ones(len(y))])
    return A, mean, std


def test_the_in_place_fit_standardises_as_a_copy_did():
    rng = np.random.default_rng(0)
    for n, d in ((50, 1), (1000, 4), (3000, 3)):
        Z = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, d) + rng.normal(size=d)
        if d > 2:
            Z[:, 1] = 3.0  # a constant column: its std is taken as 1
        y = (rng.random(n) < 0.3).astype(np.float64)
        w = rng.uniform(0.5, 4, n)
        A = np.empty((n, d + 1))
        A[:, :-1] = Z
        coef = stacking._fit_logistic_in_place(A, y, w)
        want, _, _ = _standardised_fit(Z, y, w)
        np.testing.assert_array_equal(A, want)  # overwritten with the standardised copy
        np.testing.assert_array_equal(coef, fit_logistic(Z, y, w))


def _groups(n_docs=3000, n_labels=30, seed=0):
    rng = np.random.default_rng(seed)
    Y = sp.csr_matrix(rng.random((n_docs, n_labels)) < 0.1)
    X = sp.csr_matrix(rng.random((n_docs, 200)) * (rng.random((n_docs, 200)) < 0.05))

    def pairs(rows, labels, given):
        n = len(rows)
        raw = np.where(rng.random(n) < 0.6, rng.random(n), -np.inf).astype(np.float32)
        return PairSet(rows.astype(np.int32), labels.astype(np.int32), given,
                       rng.random(n).astype(np.float32), raw, np.ones(n, np.float32))

    pos_rows = np.repeat(np.arange(n_docs), np.diff(Y.indptr))
    neg_rows, neg_labels = rng.integers(0, n_docs, 40_000), rng.integers(0, n_labels, 40_000)
    neg = ~np.asarray(Y[neg_rows, neg_labels]).ravel()
    groups = [pairs(pos_rows, Y.indices, np.ones(Y.nnz, bool)),
              pairs(neg_rows[neg], neg_labels[neg], np.zeros(neg.sum(), bool))]
    return PairEvidence(Y, X, n_threads=1), groups


def test_the_stacking_holds_its_fitting_sample_once(monkeypatch):
    # small chunks: the fit's own memory, not one chunk's features, is what is measured
    monkeypatch.setattr(stacking, "CHUNK", 2000)
    monkeypatch.setattr(stacking, "FIT_CHUNK", 2000)
    evidence, groups = _groups()
    n_pairs = sum(len(g) for g in groups)
    stack_probabilities(evidence, groups, fit_sample=n_pairs)  # caches, compiled kernels
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        out, _ = stack_probabilities(evidence, groups, fit_sample=n_pairs)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert sum(len(o) for o in out) == n_pairs
    # every pair in a fitting sample; the ranked regime's pairs (60% of them) at once
    per_fit_pair = peak / (0.6 * n_pairs)
    assert per_fit_pair < 160, per_fit_pair  # 173 with the copies, 151 without
