"""A second, independent check of tagsmith's metrics on many small seeded problems.

Every reference here is written from the textbook definition in plain Python loops
over lists (or is scikit-learn's own implementation), and the inputs stress the
edges: documents without true labels, labels never true or never predicted, empty
predictions, score ties, TopK rows with fewer than ``k`` real entries, and ``k``
beyond the ranking's width or the label count.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import (
    f1_score,
    label_ranking_average_precision_score,
    ndcg_score,
    precision_recall_fscore_support,
)

from tagsmith.calibration.reliability import brier_score, expected_calibration_error
from tagsmith.conformal.sets import LabelSets
from tagsmith.metrics import (
    evaluate,
    f1_at_k,
    f1_macro,
    f1_micro,
    f1_samples,
    lrap,
    ndcg_at_k,
    per_label_f1,
    precision_at_k,
    precision_micro,
    psp_at_k,
    recall_at_k,
    recall_micro,
)
from tagsmith.topk import TopK

# -- references from the definitions -------------------------------------------------------


def true_sets(Y):
    return [{lab for lab, v in enumerate(row) if v} for row in Y]


def listed(topk):
    """Each row's real candidates, best first, as the TopK holds them."""
    return [[int(lab) for lab in row if lab >= 0] for row in topk.indices]


def average(values):
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def precision_at(truth, ranks, k):
    # P@k = |top-k ∩ Y| / k; a document without labels scores 0 and counts
    return average(len(set(r[:k]) & y) / k for y, r in zip(truth, ranks, strict=True))


def recall_at(truth, ranks, k):
    # R@k = |top-k ∩ Y| / |Y| over the documents that have labels
    return average(len(set(r[:k]) & y) / len(y) for y, r in zip(truth, ranks, strict=True) if y)


def ndcg_at(truth, ranks, k):
    scores = []
    for y, r in zip(truth, ranks, strict=True):
        dcg = sum(1 / math.log2(pos + 1) for pos, lab in enumerate(r[:k], start=1) if lab in y)
        idcg = sum(1 / math.log2(pos + 1) for pos in range(1, min(k, len(y)) + 1))
        scores.append(dcg / idcg if y else 0.0)
    return average(scores)


def f1_at(truth, ranks, k):
    scores = []
    for y, r in zip(truth, ranks, strict=True):
        predicted = set(r[:k])
        scores.append(2 * len(predicted & y) / (len(predicted) + len(y)) if y else 0.0)
    return average(scores)


def psp_at(truth, ranks, k, p):
    # pyxclib: mean over documents of the propensity-weighted hits, divided by the mean
    # of the best achievable (the k rarest true labels)
    got = [sum(1 / p[lab] for lab in r[:k] if lab in y) / k for y, r in zip(truth, ranks,
                                                                             strict=True)]
    best = [sum(sorted((1 / p[lab] for lab in y), reverse=True)[:k]) / k for y in truth]
    return average(got) / average(best) if sum(best) else 0.0


def lrap_of(truth, ranks, n_labels):
    scores = []
    for y, r in zip(truth, ranks, strict=True):
        if not y or len(y) == n_labels:
            scores.append(1.0)
            continue
        per_label = []
        for lab in y:
            if lab not in r:
                per_label.append(0.0)  # never ranked: never recalled
                continue
            rank = r.index(lab) + 1
            per_label.append(len(set(r[:rank]) & y) / rank)
        scores.append(sum(per_label) / len(y))
    return average(scores)


def set_report(truth, predicted, n_labels, empty_score):
    def f1(tp, n_pred, n_true):
        return 2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0

    pairs = list(zip(truth, predicted, strict=True))
    tp = sum(len(y & p) for y, p in pairs)
    n_pred = sum(len(p) for _, p in pairs)
    n_true = sum(len(y) for y, _ in pairs)
    per_label = []
    for lab in range(n_labels):
        t = sum(1 for y, p in pairs if lab in y and lab in p)
        n_p = sum(1 for _, p in pairs if lab in p)
        n_y = sum(1 for y, _ in pairs if lab in y)
        per_label.append((t, n_p, n_y))
    present = [f1(*c) for c in per_label if c[1] + c[2]]
    samples = [f1(len(y & p), len(p), len(y)) if y or p else empty_score for y, p in pairs]
    return {"micro_p": tp / n_pred if n_pred else 0.0, "micro_r": tp / n_true if n_true else 0.0,
            "micro_f1": f1(tp, n_pred, n_true), "macro_present": average(present),
            "macro_all": average(f1(*c) for c in per_label), "samples": average(samples)}


# -- generated problems ---------------------------------------------------------------------


def label_matrix(rng, n, n_labels):
    """Random labels, with a document without labels and a label never true."""
    Y = rng.random((n, n_labels)) < rng.uniform(0.1, 0.6)
    Y[rng.integers(n)] = False
    Y[:, rng.integers(n_labels)] = False
    return Y


def padded_topk(rng, n_labels, n, width, ties):
    """A TopK built row by row: each row lists 0..width real candidates, padded with -1;
    with ``ties`` its scores come from a few values, and tied entries keep the random
    order they were listed in (the TopK contract allows ties in any order)."""
    indices = np.full((n, width), -1, np.int64)
    scores = np.full((n, width), -np.inf)
    for i in range(n):
        m = int(rng.integers(0, min(width, n_labels) + 1))
        labels = rng.permutation(n_labels)[:m]
        values = rng.choice([1.0, 2.0, 3.0], m) if ties else rng.random(m)
        order = np.argsort(-values, kind="stable")
        indices[i, :m], scores[i, :m] = labels[order], values[order]
    return TopK(indices, scores, n_labels)


SEEDS = range(40)


@pytest.mark.parametrize("ties", [False, True])
def test_ranking_metrics_equal_the_definitions_on_padded_rows_and_large_k(ties):
    rng = np.random.default_rng(2100 + ties)
    for _ in SEEDS:
        n, n_labels = int(rng.integers(1, 9)), int(rng.integers(1, 10))
        Y = label_matrix(rng, n, n_labels)
        topk = padded_topk(rng, n_labels, n, int(rng.integers(1, n_labels + 3)), ties)
        truth, ranks = true_sets(Y), listed(topk)
        p = rng.uniform(0.05, 1.0, n_labels)
        ks = sorted({1, 2, topk.k, n_labels, n_labels + 4})
        report = evaluate(sp.csr_matrix(Y), topk, ks=ks, propensity=p)
        for k in ks:
            want = {"p": precision_at(truth, ranks, k), "r": recall_at(truth, ranks, k),
                    "ndcg": ndcg_at(truth, ranks, k), "f1": f1_at(truth, ranks, k),
                    "psp": psp_at(truth, ranks, k, p)}
            got = {"p": precision_at_k(Y, topk, k), "r": recall_at_k(Y, topk, k),
                   "ndcg": ndcg_at_k(Y, topk, k), "f1": f1_at_k(Y, topk, k),
                   "psp": psp_at_k(Y, topk, k, p)}
            for name in want:
                assert got[name] == pytest.approx(want[name], rel=1e-9, abs=1e-12), (name, k)
                assert report[f"{name}@{k}"] == got[name], (name, k)
                assert 0.0 <= got[name] <= 1.0
        assert lrap(Y, topk) == pytest.approx(lrap_of(truth, ranks, n_labels), rel=1e-9)
        assert report["lrap"] == lrap(Y, topk)


@pytest.mark.parametrize("seed", SEEDS)
def test_ndcg_and_lrap_equal_sklearn_without_ties(seed):
    rng = np.random.default_rng(seed)
    n, n_labels = int(rng.integers(1, 12)), int(rng.integers(2, 12))
    Y = label_matrix(rng, n, n_labels).astype(int)
    scores = rng.permutation(n * n_labels).reshape(n, n_labels) / (n * n_labels) - 0.5
    full = TopK.from_scores(scores, n_labels)
    for k in (1, 2, 3, n_labels, n_labels + 3):
        want = ndcg_score(Y, scores, k=k)
        assert ndcg_at_k(Y, full, k) == pytest.approx(want, rel=1e-6, abs=1e-12)
        # a TopK as wide as k is all nDCG@k reads
        assert ndcg_at_k(Y, TopK.from_scores(scores, k), k) == pytest.approx(want, rel=1e-6,
                                                                               abs=1e-12)
    assert lrap(Y, full) == pytest.approx(label_ranking_average_precision_score(Y, scores),
                                          rel=1e-6)


def test_tie_convention_differs_from_sklearn_only_where_documented():
    # ties rank the lower label id first; sklearn's LRAP ranks a tie pessimistically
    Y, scores = np.array([[1, 0, 1], [0, 1, 0]]), np.array([[0.5, 0.5, 0.5], [0.2, 0.2, 0.9]])
    topk = TopK.from_scores(scores, 3)
    assert listed(topk) == [[0, 1, 2], [2, 0, 1]]
    assert lrap(Y, topk) == pytest.approx(((1 + 2 / 3) / 2 + 1 / 3) / 2)
    assert label_ranking_average_precision_score(Y, scores) == pytest.approx((2 / 3 + 1 / 3) / 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_set_metrics_equal_sklearn_and_the_definitions(seed):
    rng = np.random.default_rng(100 + seed)
    n, n_labels = int(rng.integers(2, 12)), int(rng.integers(2, 10))
    Y = label_matrix(rng, n, n_labels)
    scores = np.clip(Y * 0.4 + rng.random((n, n_labels)) * 0.7, 0, 1)
    thresholds = rng.choice([0.5, 0.8, 2.0])  # 2.0: nothing is predicted at all
    P = TopK.from_scores(scores, n_labels).label_sets(thresholds)
    Pd = P.toarray()
    truth, predicted = true_sets(Y), true_sets(Pd)
    present = np.flatnonzero(Y.any(0) | Pd.any(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's 'ill-defined' warnings
        assert f1_micro(Y, P) == pytest.approx(f1_score(Y, Pd, average="micro", zero_division=0))
        assert f1_macro(Y, P, labels="all") == pytest.approx(
            f1_score(Y, Pd, average="macro", zero_division=0))
        if present.size:
            assert f1_macro(Y, P) == pytest.approx(
                f1_score(Y, Pd, average="macro", labels=present, zero_division=0))
        for zero_division in (0.0, 1.0, np.nan):
            want = f1_score(Y, Pd, average="samples", zero_division=zero_division)
            assert f1_samples(Y, P, zero_division) == pytest.approx(want, nan_ok=True)
        for got, want in zip(per_label_f1(Y, P), precision_recall_fscore_support(
                Y, Pd, average=None, zero_division=0), strict=True):
            np.testing.assert_allclose(got, want)
    for empty_score in (0.0, 1.0):
        ref = set_report(truth, predicted, n_labels, empty_score)
        assert f1_samples(Y, P, empty_score) == pytest.approx(ref["samples"])
    assert precision_micro(Y, P) == pytest.approx(ref["micro_p"])
    assert recall_micro(Y, P) == pytest.approx(ref["micro_r"])
    assert f1_macro(Y, P) == pytest.approx(ref["macro_present"])
    assert f1_macro(Y, P, labels="all") == pytest.approx(ref["macro_all"])
    report = evaluate(Y, TopK.from_scores(scores, n_labels), P, ks=(1,))
    assert report["macro_f1"] == f1_macro(Y, P) and report["micro_f1"] == f1_micro(Y, P)
    assert report["n_labels_evaluated"] == present.size


def test_macro_f1_leaves_out_labels_never_true_nor_predicted_as_documented():
    Y = np.array([[1, 0, 0], [1, 0, 0]])
    P = np.array([[1, 0, 0], [0, 0, 1]])  # label 1 absent everywhere, label 2 a false alarm
    assert f1_macro(Y, P) == pytest.approx((2 / 3 + 0) / 2)
    assert f1_macro(Y, P, labels="all") == pytest.approx((2 / 3 + 0 + 0) / 3)
    nothing = np.zeros((2, 3))
    assert f1_macro(nothing, nothing) == 0.0 and f1_micro(nothing, nothing) == 0.0
    assert f1_samples(nothing, nothing) == 0.0 and f1_samples(nothing, nothing, 1.0) == 1.0


def ece_of(y, p, n_bins):
    bins = [[] for _ in range(n_bins)]
    for outcome, prob in zip(y, p, strict=True):
        b = next(b for b in range(n_bins) if prob < (b + 1) / n_bins or b == n_bins - 1)
        bins[b].append((outcome, prob))
    return sum(len(members) / len(y) * abs(average(o for o, _ in members)
                                           - average(q for _, q in members))
               for members in bins if members) if len(y) else 0.0


@pytest.mark.parametrize("seed", SEEDS)
def test_calibration_error_and_brier_equal_the_definitions(seed):
    rng = np.random.default_rng(200 + seed)
    n, n_bins = int(rng.integers(0, 30)), int(rng.integers(1, 16))
    p = rng.random(n)
    p[: n // 3] = rng.integers(0, n_bins + 1, n // 3) / n_bins  # on the bin edges, 0 and 1
    y = (rng.random(n) < p).astype(float)
    assert expected_calibration_error(y, p, n_bins=n_bins) == pytest.approx(
        ece_of(y.tolist(), p.tolist(), n_bins), abs=1e-12)
    assert brier_score(y, p) == pytest.approx(average((a - b) ** 2 for a, b in zip(
        y.tolist(), p.tolist(), strict=True)), abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_conformal_set_recall_equals_the_definition(seed):
    rng = np.random.default_rng(300 + seed)
    n, n_labels = 6, 7
    Y = label_matrix(rng, n, n_labels)
    topk = padded_topk(rng, n_labels, n, 4, ties=False)
    in_set = topk.valid & (rng.random(topk.indices.shape) < 0.6)
    tail_in = rng.random(n_labels) < 0.3
    members: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        members[i] |= {int(lab) for lab in topk.indices[i][in_set[i]]}
        members[i] |= {lab for lab in np.flatnonzero(tail_in).tolist()
                       if lab not in topk.indices[i]}
    sets = LabelSets(topk, in_set, tail_in, np.array([len(m) for m in members]),
                     np.zeros(n, bool), alpha=0.1, method="recall")
    assert [set(map(int, sets.labels(i))) for i in range(n)] == members
    want = [len(y & m) / len(y) if y else math.nan
            for y, m in zip(true_sets(Y), members, strict=True)]
    np.testing.assert_allclose(sets.recall(Y), want)
    assert (sets.to_csr().toarray() == np.array(
        [[lab in m for lab in range(n_labels)] for m in members])).all()
