"""tagsmith.metrics against slow dense reference loops and against scikit-learn."""

import math
import re
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import (
    f1_score,
    label_ranking_average_precision_score,
    ndcg_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)

from tagsmith.exceptions import InvalidParameterError
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
    propensities,
    psp_at_k,
    recall_at_k,
    recall_micro,
)
from tagsmith.topk import TopK

# -- slow references: plain loops over dense arrays, written from the definitions ----------


def ref_ranking(scores, candidate, k):
    """Per document, its candidate labels by decreasing score, the first k."""
    out = []
    for i in range(scores.shape[0]):
        labels = [lab for lab in range(scores.shape[1]) if candidate[i][lab]]
        labels.sort(key=lambda lab, i=i: -scores[i][lab])
        out.append(labels[:k])
    return out


def mean(values):
    return sum(values) / len(values) if values else 0.0


def ref_precision(Y, ranking, k):
    return mean([sum(1 for lab in ranking[i][:k] if Y[i][lab]) / k for i in range(len(Y))])


def ref_recall(Y, ranking, k):
    per_doc = []
    for i in range(len(Y)):
        n_true = sum(1 for v in Y[i] if v)
        if n_true:
            per_doc.append(sum(1 for lab in ranking[i][:k] if Y[i][lab]) / n_true)
    return mean(per_doc)


def ref_ndcg(Y, ranking, k):
    per_doc = []
    for i in range(len(Y)):
        dcg = sum(1 / math.log2(r + 2) for r, lab in enumerate(ranking[i][:k]) if Y[i][lab])
        n_true = sum(1 for v in Y[i] if v)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(k, n_true)))
        per_doc.append(dcg / idcg if idcg else 0.0)
    return mean(per_doc)


def ref_f1_at_k(Y, ranking, k):
    per_doc = []
    for i in range(len(Y)):
        predicted = ranking[i][:k]
        n_true = sum(1 for v in Y[i] if v)
        hits = sum(1 for lab in predicted if Y[i][lab])
        size = len(predicted) + n_true
        per_doc.append(2 * hits / size if size and n_true else 0.0)
    return mean(per_doc)


def ref_psp(Y, ranking, k, p):
    gained = best = 0.0
    for i in range(len(Y)):
        gained += sum(1 / p[lab] for lab in ranking[i][:k] if Y[i][lab]) / k
        weights = sorted((1 / p[lab] for lab in range(len(Y[i])) if Y[i][lab]), reverse=True)
        best += sum(weights[:k]) / k
    return gained / best if best else 0.0


def ref_lrap(Y, ranking):
    per_doc = []
    for i in range(len(Y)):
        true = [lab for lab in range(len(Y[i])) if Y[i][lab]]
        if not true or len(true) == len(Y[i]):
            per_doc.append(1.0)
            continue
        total = 0.0
        for lab in true:
            if lab in ranking[i]:
                r = ranking[i].index(lab) + 1
                total += sum(1 for other in ranking[i][:r] if Y[i][other]) / r
        per_doc.append(total / len(true))
    return mean(per_doc)


def ref_propensities(Y, A, B):
    n = len(Y)
    c = (math.log(n) - 1) * (B + 1) ** A
    out = []
    for lab in range(len(Y[0])):
        freq = sum(1 for i in range(n) if Y[i][lab])
        out.append(1 / (1 + c * math.exp(-A * math.log(freq + B))))
    return out


def ref_set_counts(Y, P, n_labels):
    """Per-label and per-document (tp, predicted, true) counts."""
    n = len(Y)
    label = [[0, 0, 0] for _ in range(n_labels)]
    doc = [[0, 0, 0] for _ in range(n)]
    for i in range(n):
        for lab in range(n_labels):
            for slot, flag in enumerate((Y[i][lab] and P[i][lab], P[i][lab], Y[i][lab])):
                if flag:
                    label[lab][slot] += 1
                    doc[i][slot] += 1
    return label, doc


def ratio(a, b):
    return a / b if b else 0.0


def ref_set_metrics(Y, P, n_labels, zero_division):
    label, doc = ref_set_counts(Y, P, n_labels)
    tp, pred, true = (sum(c[s] for c in label) for s in range(3))
    f1_labels = [ratio(2 * t, p + y) for t, p, y in label]
    present = [f for f, (_, p, y) in zip(f1_labels, label, strict=True) if p + y]
    samples = [ratio(2 * t, p + y) if p + y else zero_division for t, p, y in doc]
    return {"micro_p": ratio(tp, pred), "micro_r": ratio(tp, true),
            "micro_f1": ratio(2 * tp, pred + true), "macro_present": mean(present),
            "macro_all": mean(f1_labels), "samples": mean(samples),
            "per_label": [(ratio(t, p), ratio(t, y), ratio(2 * t, p + y), y)
                          for t, p, y in label]}


# -- generated inputs ---------------------------------------------------------------------


@st.composite
def ranking_cases(draw):
    """(Y, scores, candidate mask, TopK k) with distinct scores; some rows padded."""
    n = draw(st.integers(0, 7))
    n_labels = draw(st.integers(1, 9))
    Y = draw(arrays(bool, (n, n_labels)))
    order = draw(st.permutations(range(n * n_labels)))
    scores = np.array(order, dtype=np.float32).reshape(n, n_labels) + 1  # > 0, no ties
    padded = draw(st.booleans())
    candidate = draw(arrays(bool, (n, n_labels))) if padded else np.ones((n, n_labels), bool)
    k = draw(st.integers(1, n_labels + 3))
    return Y, scores, candidate, k


def build_topk(scores, candidate, k):
    if candidate.all():
        return TopK.from_scores(scores, k)
    return TopK.from_csr(sp.csr_matrix(np.where(candidate, scores, 0)), k)


@settings(max_examples=150, deadline=None)
@given(ranking_cases(), st.integers(1, 12), st.data())
def test_ranking_metrics_equal_reference(case, k, data):
    Y, scores, candidate, topk_k = case
    topk = build_topk(scores, candidate, topk_k)
    ranking = ref_ranking(scores, candidate, topk_k)
    Yl = Y.tolist()
    p = data.draw(arrays(np.float64, Y.shape[1], elements=st.floats(0.01, 1.0)))
    close = dict(rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(precision_at_k(Y, topk, k), ref_precision(Yl, ranking, k), **close)
    np.testing.assert_allclose(recall_at_k(Y, topk, k), ref_recall(Yl, ranking, k), **close)
    np.testing.assert_allclose(ndcg_at_k(Y, topk, k), ref_ndcg(Yl, ranking, k), **close)
    np.testing.assert_allclose(f1_at_k(Y, topk, k), ref_f1_at_k(Yl, ranking, k), **close)
    np.testing.assert_allclose(psp_at_k(Y, topk, k, p), ref_psp(Yl, ranking, k, p), **close)
    np.testing.assert_allclose(lrap(Y, topk), ref_lrap(Yl, ranking), **close)


def test_ranking_metrics_on_seeded_cases_with_full_and_empty_rows():
    rng = np.random.default_rng(0)
    for n, n_labels, topk_k in [(30, 12, 5), (25, 6, 6), (20, 8, 20), (15, 40, 3)]:
        Y = rng.random((n, n_labels)) < rng.uniform(0.05, 0.6)
        Y[0], Y[1] = False, True
        scores = rng.permutation(n * n_labels).reshape(n, n_labels).astype(np.float32) + 1
        for candidate in (np.ones_like(Y), rng.random((n, n_labels)) < 0.6):
            topk = build_topk(scores, candidate, topk_k)
            ranking = ref_ranking(scores, candidate, topk_k)
            for k in (1, 3, 5, 10):
                assert precision_at_k(Y, topk, k) == pytest.approx(
                    ref_precision(Y.tolist(), ranking, k))
                assert ndcg_at_k(Y, topk, k) == pytest.approx(ref_ndcg(Y.tolist(), ranking, k))
                assert recall_at_k(Y, topk, k) == pytest.approx(
                    ref_recall(Y.tolist(), ranking, k))
            assert lrap(Y, topk) == pytest.approx(ref_lrap(Y.tolist(), ranking))


def test_hand_computed_values():
    topk = TopK(np.array([[2, 0, -1], [1, -1, -1]]), np.array([[0.9, 0.5, -np.inf],
                                                               [0.7, -np.inf, -np.inf]]), 4)
    Y = np.array([[1, 0, 1, 1], [0, 0, 0, 0]])
    assert precision_at_k(Y, topk, 3) == pytest.approx((2 / 3 + 0) / 2)
    assert recall_at_k(Y, topk, 3) == pytest.approx(2 / 3)  # empty row left out
    assert f1_at_k(Y, topk, 3) == pytest.approx((2 * 2 / (2 + 3) + 0) / 2)
    assert ndcg_at_k(Y, topk, 2) == pytest.approx(1 / 2)  # perfect first row, empty second
    assert lrap(Y, topk) == pytest.approx(((1 + 1 + 0) / 3 + 1) / 2)


def test_propensities_equal_reference_and_accept_counts():
    rng = np.random.default_rng(1)
    Y = rng.random((50, 7)) < 0.3
    Y[:, 3] = False
    for A, B in ((0.55, 1.5), (0.6, 2.6), (0.5, 0.4)):
        got = propensities(sp.csr_matrix(Y), A=A, B=B)
        assert got.dtype == np.float64 and got.shape == (7,)
        np.testing.assert_allclose(got, ref_propensities(Y.tolist(), A, B), rtol=1e-12)
    counts = sp.csr_matrix(Y.sum(axis=0, keepdims=True).astype(np.float32))
    np.testing.assert_allclose(propensities(counts, n_docs=50), propensities(Y), rtol=1e-12)
    assert (propensities(Y[:2]) == 1.0).all()  # N < e: C clipped to 0


# -- set metrics -------------------------------------------------------------------------


@st.composite
def set_cases(draw):
    n = draw(st.integers(0, 7))
    n_labels = draw(st.integers(1, 8))
    return draw(arrays(bool, (n, n_labels))), draw(arrays(bool, (n, n_labels)))


@settings(max_examples=150, deadline=None)
@given(set_cases(), st.sampled_from([0.0, 1.0]))
def test_set_metrics_equal_reference(case, zero_division):
    Y, P = case
    ref = ref_set_metrics(Y.tolist(), P.tolist(), Y.shape[1], zero_division)
    y_true, y_pred = sp.csr_matrix(Y.astype(np.int8)), sp.coo_matrix(P)
    assert precision_micro(y_true, y_pred) == pytest.approx(ref["micro_p"])
    assert recall_micro(y_true, y_pred) == pytest.approx(ref["micro_r"])
    assert f1_micro(y_true, y_pred) == pytest.approx(ref["micro_f1"])
    assert f1_macro(y_true, y_pred) == pytest.approx(ref["macro_present"])
    assert f1_macro(y_true, y_pred, labels="all") == pytest.approx(ref["macro_all"])
    assert f1_samples(y_true, y_pred, zero_division) == pytest.approx(ref["samples"])
    got = np.column_stack(per_label_f1(y_true, y_pred))
    np.testing.assert_allclose(got, np.array(ref["per_label"]).reshape(got.shape))


def random_sets(rng, n, n_labels):
    Y = rng.random((n, n_labels)) < 0.3
    P = Y ^ (rng.random((n, n_labels)) < 0.25)
    Y[0], P[0] = False, False  # both empty
    Y[1], P[2] = True, False
    P[:, 0] = False  # a true label never predicted
    Y[:, 1] = P[:, 1] = False  # an absent label
    return Y, P


@pytest.mark.parametrize("seed", range(5))
def test_set_metrics_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    Y, P = random_sets(rng, 40, 9)
    y_true, y_pred = sp.csr_matrix(Y), sp.csr_matrix(P)
    present = np.flatnonzero(Y.any(0) | P.any(0))
    assert f1_micro(y_true, y_pred) == pytest.approx(f1_score(Y, P, average="micro"))
    assert precision_micro(y_true, y_pred) == pytest.approx(
        precision_score(Y, P, average="micro"))
    assert recall_micro(y_true, y_pred) == pytest.approx(recall_score(Y, P, average="micro"))
    assert f1_macro(y_true, y_pred) == pytest.approx(
        f1_score(Y, P, average="macro", labels=present, zero_division=0))
    assert f1_macro(y_true, y_pred, labels="all") == pytest.approx(
        f1_score(Y, P, average="macro", zero_division=0))
    for zd in (0.0, 1.0):
        assert f1_samples(y_true, y_pred, zero_division=zd) == pytest.approx(
            f1_score(Y, P, average="samples", zero_division=zd))
    expected = precision_recall_fscore_support(Y, P, average=None, zero_division=0)
    for got, want in zip(per_label_f1(y_true, y_pred), expected, strict=True):
        np.testing.assert_allclose(got, want)


# -- ranking metrics against sklearn ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_ndcg_and_lrap_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, n_labels = 40, 11
    Y = (rng.random((n, n_labels)) < 0.25).astype(int)
    Y[0], Y[1] = 0, 1
    scores = rng.permutation(n * n_labels).reshape(n, n_labels).astype(np.float32) / 7 - 30
    for topk_k in (5, n_labels, n_labels + 4):
        topk = TopK.from_scores(scores, topk_k)
        for k in (1, 3, 5):
            assert ndcg_at_k(sp.csr_matrix(Y), topk, k) == pytest.approx(
                ndcg_score(Y, scores, k=k), rel=1e-6)
    full = TopK.from_scores(scores, n_labels)
    assert lrap(Y, full) == pytest.approx(
        label_ranking_average_precision_score(Y, scores), rel=1e-6)
    partial = TopK.from_scores(scores, 4)
    assert lrap(Y, partial) <= lrap(Y, full) + 1e-12


# -- input handling and evaluate ------------------------------------------------------------


def test_input_formats_agree():
    Y = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    topk = TopK.from_scores(np.arange(12, dtype=np.float32).reshape(3, 4), 3)
    # an explicit 0 stored is no label (values other than 0 or 1 are refused: see
    # test_evaluate_refuses_labels_other_than_0_or_1)
    with_explicit = sp.csr_matrix((np.array([1.0, 0.0, 1.0, 1, 1, 1, 1]),
                                   np.array([0, 1, 2, 0, 1, 2, 3]), [0, 3, 3, 7]), shape=(3, 4))
    duplicated = sp.coo_matrix((np.ones(8), ([0, 0, 0, 2, 2, 2, 2, 2],
                                             [0, 2, 2, 0, 1, 2, 3, 3])), shape=(3, 4))
    expected = evaluate(Y, topk, Y)
    for variant in (Y.tolist(), Y.astype(bool), with_explicit, duplicated, sp.csr_array(Y),
                    sp.csc_matrix(Y)):
        assert evaluate(variant, topk, variant) == expected
    assert with_explicit.nnz == 7 and duplicated.nnz == 8  # inputs not modified


def test_evaluate_keys_and_values():
    rng = np.random.default_rng(3)
    Y = sp.csr_matrix(rng.random((30, 10)) < 0.3)
    topk = TopK.from_scores(rng.random((30, 10)), 6)
    y_pred = topk.label_sets(0.6)
    p = propensities(Y)
    report = evaluate(Y, topk, y_pred, ks=(1, 3, 5), propensity=p)
    ranking_keys = [f"{m}@{k}" for m in ("p", "r", "ndcg", "f1", "psp") for k in (1, 3, 5)]
    set_keys = ["micro_f1", "macro_f1", "samples_f1", "micro_precision", "micro_recall"]
    assert list(report) == ranking_keys + ["lrap"] + set_keys + [
        "n_docs", "n_docs_without_labels", "n_labels_evaluated"]
    for k in (1, 3, 5):
        assert report[f"p@{k}"] == precision_at_k(Y, topk, k)
        assert report[f"r@{k}"] == recall_at_k(Y, topk, k)
        assert report[f"ndcg@{k}"] == ndcg_at_k(Y, topk, k)
        assert report[f"f1@{k}"] == f1_at_k(Y, topk, k)
        assert report[f"psp@{k}"] == psp_at_k(Y, topk, k, p)
    assert report["lrap"] == lrap(Y, topk)
    assert report["macro_f1"] == f1_macro(Y, y_pred)
    assert report["samples_f1"] == f1_samples(Y, y_pred)
    assert report["micro_f1"] == f1_micro(Y, y_pred)
    assert report["n_docs"] == 30 and isinstance(report["n_docs"], int)
    assert report["n_docs_without_labels"] == (np.diff(Y.indptr) == 0).sum() > 0
    present = np.asarray(Y.sum(0)).ravel() + np.asarray(y_pred.sum(0)).ravel() > 0
    assert report["n_labels_evaluated"] == present.sum()
    short = evaluate(Y, topk, ks=(2,))
    assert list(short) == ["p@2", "r@2", "ndcg@2", "f1@2", "lrap", "n_docs",
                           "n_docs_without_labels", "n_labels_evaluated"]
    assert short["n_labels_evaluated"] == (np.asarray(Y.sum(0)).ravel() > 0).sum()


def test_k_beyond_topk_and_no_documents():
    topk = TopK.from_scores([[0.3, 0.9]], 1)
    assert precision_at_k([[1, 1]], topk, 5) == pytest.approx(1 / 5)
    assert f1_at_k([[1, 1]], topk, 5) == pytest.approx(2 * 1 / (1 + 2))
    empty = TopK.empty(0, 3, 4)
    report = evaluate(np.zeros((0, 4)), empty, np.zeros((0, 4)))
    assert report["n_docs"] == 0 and report["p@1"] == 0.0 and report["samples_f1"] == 0.0


def test_a_k_far_beyond_the_ranking_costs_no_memory_of_size_k():
    # nDCG built k discounts whatever the ranking's width: k=10**8 took 2.4 GB and 12 s
    # for one document of three labels, and a larger k failed with a MemoryError
    topk = TopK.from_scores([[0.3, 0.9, 0.1], [0.5, 0.2, 0.4]], 3)
    Y = [[1, 1, 0], [0, 0, 0]]
    k = 2_000_000
    tracemalloc.start()
    try:
        report = evaluate(Y, topk, ks=(k,), propensity=[0.5, 0.5, 0.5])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1e6  # k float64 discounts alone are 16 MB
    ideal = 1 + 1 / math.log2(3)
    assert report[f"ndcg@{k}"] == pytest.approx((ideal / ideal + 0) / 2)
    assert report[f"p@{k}"] == pytest.approx(2 / k / 2)
    assert ndcg_at_k(Y, topk, 10**15) == report[f"ndcg@{k}"]


def test_a_k_past_int64_is_a_k_past_the_ranking():
    """nDCG compared the documents' label counts with k as an int64 array: k = 2**64
    raised OverflowError ("Python int too large to convert to C long"), and evaluate
    with it, where every other metric took it."""
    topk = TopK.from_scores([[0.3, 0.9, 0.1], [0.5, 0.2, 0.4]], 3)
    Y = [[1, 1, 0], [0, 1, 0]]
    assert ndcg_at_k(Y, topk, 2 ** 64) == ndcg_at_k(Y, topk, 10 ** 15)
    report = evaluate(Y, topk, ks=(2 ** 64,), propensity=[0.5, 0.5, 0.5])
    assert report[f"ndcg@{2 ** 64}"] == ndcg_at_k(Y, topk, 3)
    assert report[f"r@{2 ** 64}"] == 1.0


def test_large_label_ids_do_not_overflow():
    n_labels = 2**31 - 1
    Y = sp.csr_matrix((np.ones(3), [n_labels - 1, 5, n_labels - 2], [0, 1, 2, 3]),
                      shape=(3, n_labels))
    topk = TopK(np.array([[n_labels - 1, 5], [n_labels - 1, 5], [4, -1]]),
                np.array([[2.0, 1.0], [2.0, 1.0], [1.0, -np.inf]]), n_labels)
    assert precision_at_k(Y, topk, 1) == pytest.approx(1 / 3)
    assert recall_at_k(Y, topk, 2) == pytest.approx(2 / 3)


# -- validation -----------------------------------------------------------------------------


def test_parameter_validation():
    topk = TopK.from_scores(np.eye(3), 2)
    Y = np.eye(3)

    def raises(name, fn, *args, **kwargs):
        with pytest.raises(InvalidParameterError) as info:
            fn(*args, **kwargs)
        assert info.value.name == name

    raises("y_true", precision_at_k, np.eye(4, 3), topk, 1)
    raises("y_true", ndcg_at_k, np.eye(3, 4), topk, 1)
    raises("y_true", lrap, np.ones(3), topk)
    raises("topk", recall_at_k, Y, Y, 1)
    for bad_k in (0, -1, 1.5, True, "3"):
        raises("k", precision_at_k, Y, topk, bad_k)
        raises("k", psp_at_k, Y, topk, bad_k, np.ones(3))
    raises("ks", evaluate, Y, topk, ks=(1, 0))
    raises("propensities", psp_at_k, Y, topk, 1, np.ones(4))
    raises("propensities", psp_at_k, Y, topk, 1, np.array([1.0, 0.0, 0.5]))
    raises("propensity", evaluate, Y, topk, propensity=np.ones(2))  # evaluate's own name
    raises("y_pred", f1_micro, Y, np.eye(3, 4))
    raises("y_pred", evaluate, Y, topk, np.eye(2, 3))
    raises("labels", f1_macro, Y, Y, labels="some")
    raises("zero_division", f1_samples, Y, Y, zero_division="warn")
    raises("n_docs", propensities, Y, n_docs=0)
    raises("n_docs", propensities, Y, n_docs=2.5)
    raises("y_train", propensities, np.zeros((0, 3)))  # named n_docs, never passed


# -- scale ---------------------------------------------------------------------------------


def test_sparse_scale_smoke_without_densifying():
    rng = np.random.default_rng(7)
    n, n_labels, k = 1000, 200_000, 10
    per_doc = rng.integers(1, 20, n)
    rows = np.repeat(np.arange(n), per_doc)
    cols = rng.integers(0, n_labels, per_doc.sum())
    Y = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, n_labels))
    indices = rng.integers(0, n_labels, (n, k))
    indices[:, 0] = cols[np.concatenate([[0], np.cumsum(per_doc)[:-1]])]  # a sure hit
    scores = -np.sort(-rng.random((n, k)), axis=1)
    indices[::3, -2:], scores[::3, -2:] = -1, -np.inf
    topk = TopK(indices, scores, n_labels)
    y_pred = topk.label_sets(0.5)
    p = propensities(Y)
    tracemalloc.start()
    try:
        report = evaluate(Y, topk, y_pred, ks=(1, 3, 5, 10), propensity=p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 30e6  # a dense boolean n x n_labels alone would be 200 MB
    assert all(np.isfinite(v) for v in report.values())
    assert report["p@1"] == 1.0 and 0 < report["lrap"] < 1


def test_f1_samples_zero_division_is_a_score_in_0_1_or_nan():
    Y, P = np.array([[1, 0], [0, 0]]), np.array([[1, 1], [0, 0]])
    # zero_division=2 averaged to an F1 above 1
    for bad in (2, -0.5, np.inf, "1", None):
        with pytest.raises(InvalidParameterError, match="zero_division"):
            f1_samples(Y, P, zero_division=bad)
    assert f1_samples(Y, P, zero_division=0.5) == pytest.approx((2 / 3 + 0.5) / 2)
    # NaN as in sklearn: documents with both sets empty leave the average
    assert f1_samples(Y, P, zero_division=np.nan) == pytest.approx(
        f1_score(Y, P, average="samples", zero_division=np.nan))
    assert np.isnan(f1_samples(np.zeros((2, 2)), np.zeros((2, 2)), zero_division=np.nan))


def test_check_label_values_takes_fractions_only_where_soft_labels_are_meant():
    from tagsmith.metrics.sets import check_label_values

    soft = np.array([[0.5, 0], [0, 1.0]])
    with pytest.raises(InvalidParameterError, match="'y_true' must be labels 0 or 1"):
        check_label_values(soft)
    assert check_label_values(soft, "Y", soft_ok=True).nnz == 2  # label audits
    for bad in (np.nan, 2.0, -1.0):
        with pytest.raises(InvalidParameterError, match=r"'Y' must be labels in \[0, 1\]"):
            check_label_values(np.array([[bad, 0]]), "Y", soft_ok=True)
    assert check_label_values(np.array([[True, False]])).nnz == 1


def test_label_values_stored_twice_are_one_label_and_sums_never_overflow():
    # a 1 stored twice for a document and label summed to 2 and was refused ('1 other
    # values, e.g. 2', which no entry held); an int8 1 stored 256 times summed to 0 in
    # its own dtype and the label was lost
    from tagsmith.metrics.sets import as_label_matrix, check_label_values

    twice = sp.csr_matrix((np.array([1, 1, 0, 1], np.int8), np.array([2, 2, 0, 1]),
                           np.array([0, 3, 4])), shape=(2, 3))
    for soft_ok in (False, True):
        checked = check_label_values(twice, soft_ok=soft_ok)
        assert checked.has_canonical_format and checked.dtype == np.int8
        assert checked.toarray().tolist() == [[0, 0, 1], [0, 1, 0]]
    assert as_label_matrix(twice).toarray().tolist() == [[False, False, True],
                                                         [False, True, False]]
    many = sp.csr_matrix((np.ones(256, np.int8), np.zeros(256, np.int32),
                          np.array([0, 256, 256])), shape=(2, 2))
    assert as_label_matrix(many).toarray().tolist() == [[True, False], [False, False]]
    assert check_label_values(many).toarray().tolist() == [[1, 0], [0, 0]]
    # a bad value is named with its document and label, and whether it is stored twice
    bad = sp.csr_matrix((np.array([1.0, 3.0, 1.0]), np.array([0, 1, 1]),
                         np.array([0, 1, 3])), shape=(2, 2))
    with pytest.raises(InvalidParameterError, match=r"got '1 other value, e\.g\. 3 at "
                       r"document 1, label 1, stored 2 times \(counted from 0\)'"):
        check_label_values(bad)
    with pytest.raises(InvalidParameterError, match=r"got '2 other values, e\.g\. 2 at "
                       r"document 0, label 1 \(counted from 0\)'"):
        check_label_values(np.array([[0, 2], [-1, 1]]))


# -- properties on small random problems --------------------------------------------------


def test_psp_of_a_perfect_ranking_is_exactly_one():
    # summed in different orders, the gains and the best gains of this perfect ranking
    # gave 1.0000000000000002
    Y = np.array([[1, 1, 1, 0], [1, 0, 0, 1], [0, 1, 1, 1]])
    p = np.array([0.51, 0.98, 0.79, 0.34])
    topk = TopK.from_scores(Y * (1 + 1 / p), 4)  # true labels first, rarest first
    assert psp_at_k(Y, topk, 3, p) == 1.0
    assert evaluate(Y, topk, ks=(3,), propensity=p)["psp@3"] == 1.0


def test_ndcg_of_a_perfect_ranking_is_exactly_one_and_never_above():
    # DCG was a dot product and the ideal DCG a running sum: the same terms summed in
    # different orders gave 0.9999999999999999 or 1.0000000000000004 for a perfect ranking
    rng = np.random.default_rng(21)
    for _ in range(150):
        n_labels = int(rng.integers(2, 120))
        k = int(rng.integers(1, n_labels + 5))
        Y = np.zeros((1, n_labels), bool)
        Y[0, rng.choice(n_labels, int(rng.integers(1, n_labels + 1)), replace=False)] = True
        perfect = TopK.from_scores(Y + rng.random((1, n_labels)) * 0.5, n_labels)
        assert ndcg_at_k(Y, perfect, k) == 1.0, (n_labels, k, int(Y.sum()))
        shuffled = TopK.from_scores(rng.random((1, n_labels)), n_labels)
        assert 0.0 <= ndcg_at_k(Y, shuffled, k) <= 1.0
    Y = rng.random((40, 60)) < 0.4
    Y[:, 0] = True  # every document has a true label
    perfect = TopK.from_scores(Y + rng.random(Y.shape) * 0.5, 60)
    assert evaluate(Y, perfect, ks=(5, 30, 60))["ndcg@30"] == 1.0


@settings(max_examples=200, deadline=None)
@given(ranking_cases(), st.integers(1, 12), st.data())
def test_psp_is_at_most_one_and_one_for_rankings_by_weight(case, k, data):
    Y, scores, candidate, topk_k = case
    p = data.draw(arrays(np.float64, Y.shape[1], elements=st.floats(0.01, 1.0)))
    assert 0.0 <= psp_at_k(Y, build_topk(scores, candidate, topk_k), k, p) <= 1.0
    n, n_labels = Y.shape
    # true labels first, those with the largest 1/p first: a perfect ranking for PSP
    order = np.array([sorted(range(n_labels), key=lambda lab, i=i: (not Y[i, lab], p[lab]))
                      for i in range(n)], dtype=np.int64).reshape(n, n_labels)
    perfect = TopK(order, np.broadcast_to(-np.arange(n_labels, dtype=np.float32),
                                          (n, n_labels)), n_labels)
    assert psp_at_k(Y, perfect, k, p) == (1.0 if Y.any() else 0.0)


def test_propensity_constants_are_checked():
    Y = np.array([[1, 0], [1, 0], [1, 0], [1, 0]])  # label 1 never seen
    # B=0 gave label 1 propensity 0, B=-0.5 and NaN gave NaN (with a RuntimeWarning)
    for name, bad in (("B", 0.0), ("B", -0.5), ("B", np.nan), ("A", -1.0), ("A", 0),
                      ("A", np.inf), ("A", True), ("B", "1.5")):
        with pytest.raises(InvalidParameterError) as info:
            propensities(Y, **{name: bad})
        assert info.value.name == name
    assert propensities(Y, A=np.float32(0.5), B=0.4).shape == (2,)


@st.composite
def tied_cases(draw):
    """Like ranking_cases, but scores from a few values: many ties, also at the cut."""
    n = draw(st.integers(0, 6))
    n_labels = draw(st.integers(1, 8))
    Y = draw(arrays(bool, (n, n_labels)))
    scores = draw(arrays(np.float32, (n, n_labels), elements=st.sampled_from([1.0, 2.0, 3.0])))
    candidate = draw(st.one_of(st.just(np.ones((n, n_labels), bool)),
                               arrays(bool, (n, n_labels))))
    return Y, scores, candidate, draw(st.integers(1, n_labels + 3))


@settings(max_examples=150, deadline=None)
@given(tied_cases(), st.integers(1, 12), st.data())
def test_ties_rank_the_lower_label_id_first_in_every_metric(case, k, data):
    Y, scores, candidate, topk_k = case
    topk = build_topk(scores, candidate, topk_k)
    # ref_ranking sorts stably by score over ascending ids: ties go to the lower id
    ranking = ref_ranking(scores, candidate, topk_k)
    assert [[int(lab) for lab in row if lab >= 0] for row in topk.indices] == ranking
    Yl = Y.tolist()
    p = data.draw(arrays(np.float64, Y.shape[1], elements=st.floats(0.01, 1.0)))
    report = evaluate(Y, topk, ks=(k,), propensity=p)
    for key, want in ((f"p@{k}", ref_precision(Yl, ranking, k)),
                      (f"r@{k}", ref_recall(Yl, ranking, k)),
                      (f"ndcg@{k}", ref_ndcg(Yl, ranking, k)),
                      (f"f1@{k}", ref_f1_at_k(Yl, ranking, k)),
                      (f"psp@{k}", ref_psp(Yl, ranking, k, p)),
                      ("lrap", ref_lrap(Yl, ranking))):
        assert report[key] == pytest.approx(want, rel=1e-9, abs=1e-12), key
    assert 0.0 <= report[f"psp@{k}"] <= 1.0


def test_ndcg_with_ties_differs_from_sklearn_as_documented():
    # sklearn averages the gain over tied scores; tagsmith ranks the lower id first
    Y, scores = np.array([[0, 1]]), np.array([[0.5, 0.5]])
    topk = TopK.from_scores(scores, 2)
    assert ndcg_at_k(Y, topk, 1) == 0.0
    assert ndcg_score(Y, scores, k=1) == pytest.approx(0.5)
    # float32 scores: values closer than float32 resolution tie as well
    close = np.array([[0.5, 0.5 + 1e-9]])
    assert ndcg_at_k(Y, TopK.from_scores(close, 2), 1) == 0.0
    assert ndcg_score(Y, close, k=1) == 1.0


@settings(max_examples=100, deadline=None)
@given(ranking_cases(), st.lists(st.integers(1, 12), min_size=0, max_size=4, unique=True),
       st.data())
def test_evaluate_equals_the_individual_metrics(case, ks, data):
    Y, scores, candidate, topk_k = case
    topk = build_topk(scores, candidate, topk_k)
    P = data.draw(arrays(bool, Y.shape))
    p = data.draw(arrays(np.float64, Y.shape[1], elements=st.floats(0.01, 1.0)))
    report = evaluate(Y, topk, P, ks=ks, propensity=p)
    expected = {}
    for name, fn in (("p", precision_at_k), ("r", recall_at_k), ("ndcg", ndcg_at_k),
                     ("f1", f1_at_k)):
        expected.update({f"{name}@{k}": fn(Y, topk, k) for k in ks})
    expected.update({f"psp@{k}": psp_at_k(Y, topk, k, p) for k in ks})
    expected.update(lrap=lrap(Y, topk), micro_f1=f1_micro(Y, P), macro_f1=f1_macro(Y, P),
                    samples_f1=f1_samples(Y, P), micro_precision=precision_micro(Y, P),
                    micro_recall=recall_micro(Y, P), n_docs=Y.shape[0],
                    n_docs_without_labels=int((~Y.any(1)).sum()),
                    n_labels_evaluated=int((Y.any(0) | P.any(0)).sum()))
    assert report == expected and list(report) == list(expected)


@pytest.mark.parametrize("block_entries", [1, 4, 5, 11, 24, 1 << 19])
def test_evaluate_in_blocks_of_documents_equals_the_whole_matrix_metrics(monkeypatch,
                                                                         block_entries):
    # evaluate found the hits and the ranking metrics' n x k float64 intermediates for
    # every document at once (eval peaked ~70 MB per 100,000 documents x 28 labels above
    # its top-k); in blocks of documents every figure must be the whole-matrix one to the
    # bit: blocks of one row, blocks ending mid-corpus and at its end, documents without
    # labels, documents without candidates (padding only), k beyond the top-k and
    # beyond the label space
    from tagsmith import topk as topk_module

    monkeypatch.setattr(topk_module, "BLOCK_ENTRIES", block_entries)
    rng = np.random.default_rng(7)
    n, n_labels = 23, 6
    Y = rng.random((n, n_labels)) < 0.35
    Y[[0, 5, 6]] = False  # no labels
    Y[9] = True  # every label
    scores = rng.random((n, n_labels)).round(1)  # ties
    scores[[3, 5, 17]] = 0.0  # no candidate at all once zeros are dropped
    P = rng.random((n, n_labels)) < 0.3
    p = rng.uniform(0.05, 1.0, n_labels)
    for topk in (TopK.from_csr(sp.csr_matrix(scores), 4), TopK.from_scores(scores, n_labels),
                 TopK.from_scores(scores, 1), TopK.from_csr(sp.csr_matrix(scores[:0]), 3)):
        Yt, Pt = Y[:len(topk)], P[:len(topk)]
        for ks in ((1, 3, 5), (2, 12), (7,), ()):
            report = evaluate(Yt, topk, Pt, ks=ks, propensity=p)
            expected = {}
            for name, fn in (("p", precision_at_k), ("r", recall_at_k),
                             ("ndcg", ndcg_at_k), ("f1", f1_at_k)):
                expected.update({f"{name}@{k}": fn(Yt, topk, k) for k in ks})
            expected.update({f"psp@{k}": psp_at_k(Yt, topk, k, p) for k in ks})
            expected.update(lrap=lrap(Yt, topk), micro_f1=f1_micro(Yt, Pt),
                            macro_f1=f1_macro(Yt, Pt), samples_f1=f1_samples(Yt, Pt),
                            micro_precision=precision_micro(Yt, Pt),
                            micro_recall=recall_micro(Yt, Pt), n_docs=len(topk),
                            n_docs_without_labels=int((~Yt.any(1)).sum()),
                            n_labels_evaluated=int((Yt.any(0) | Pt.any(0)).sum()))
            assert report == expected and list(report) == list(expected), (topk, ks)


def test_evaluate_with_a_k_given_twice_reports_that_k_once_as_the_metrics_do():
    # the blocked evaluate appended each block's PSP gains once per occurrence of k in
    # ks, so ks=(2, 2) reported psp@2 twice its value (2.0 for a perfect ranking)
    Y = np.array([[1, 0, 1], [0, 1, 0]], bool)
    topk = TopK.from_scores(np.array([[0.9, 0.1, 0.8], [0.2, 0.7, 0.1]]), 3)
    p = np.array([0.5, 0.2, 0.9])
    report = evaluate(Y, topk, ks=(2, 2), propensity=p)
    assert report["psp@2"] == psp_at_k(Y, topk, 2, p) == 1.0
    assert report == evaluate(Y, topk, ks=(2,), propensity=p)


def test_evaluate_f1_of_a_document_with_over_16383_hits_does_not_overflow():
    # per-document hit counts are int16 where k fits: twice a count above 16,383
    # wrapped around, and f1@17000 of a perfect ranking was -0.93
    n_labels = 17_000
    topk = TopK.from_scores(np.linspace(1, 0, n_labels, dtype=np.float32)[None, :], n_labels)
    Y = np.ones((1, n_labels), bool)
    report = evaluate(Y, topk, ks=(n_labels,))
    assert report[f"f1@{n_labels}"] == f1_at_k(Y, topk, n_labels) == 1.0


def test_propensities_above_one_are_refused_naming_the_parameter():
    """A propensity is a probability: p > 1 (1 / p passed by mistake, say) was accepted,
    and PSP weighted the rare labels least instead of most."""
    Y = np.array([[1, 0, 1], [0, 1, 0]])
    topk = TopK.from_scores([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], k=2)
    inverse = 1.0 / np.array([0.5, 1.0, 0.25])  # [2, 1, 4]
    with pytest.raises(InvalidParameterError, match=r"'propensities' must be propensities "
                                                    r"in \(0, 1\], got 'range \[1.0, 4.0\]'"):
        psp_at_k(Y, topk, 1, inverse)
    with pytest.raises(InvalidParameterError, match=r"'propensity' must be propensities"):
        evaluate(Y, topk, ks=(1,), propensity=inverse)
    for bad in (np.array([1.0, 1.0 + 1e-12, 0.5]), np.array([0.5, np.inf, 0.5])):
        with pytest.raises(InvalidParameterError):
            psp_at_k(Y, topk, 1, bad)
    assert psp_at_k(Y, topk, 1, np.ones(3)) == 1.0  # 1 is a propensity (both hits)
    # what propensities() gives is in (0, 1]: all 1 here, where C is clipped to 0
    assert evaluate(Y, topk, ks=(1,), propensity=propensities(Y))["psp@1"] == 1.0


@pytest.mark.parametrize("successes,trials", [(0, 1), (0, 6), (3, 6), (9, 10), (10, 10),
                                              (1, 400), (250, 265)])
def test_wilson_interval_equals_scipys(successes, trials):
    from scipy.stats import binomtest

    from tagsmith.metrics import wilson_interval

    want = binomtest(successes, trials).proportion_ci(method="wilson")
    low, high = wilson_interval([successes], [trials])
    assert (low[0], high[0]) == pytest.approx((want.low, want.high), abs=1e-12)
    low90, high90 = wilson_interval([successes], [trials], confidence=0.9)
    want90 = binomtest(successes, trials).proportion_ci(confidence_level=0.9,
                                                        method="wilson")
    assert (low90[0], high90[0]) == pytest.approx((want90.low, want90.high), abs=1e-12)


def test_wilson_interval_of_no_trials_is_nan_and_bad_counts_are_refused():
    from tagsmith.metrics import wilson_interval

    low, high = wilson_interval([0, 2], [0, 4])
    assert np.isnan(low[0]) and np.isnan(high[0]) and 0 < low[1] < 0.5 < high[1] < 1
    for successes, trials, confidence in (([3], [2], 0.95), ([-1], [2], 0.95),
                                          ([1], [2], 1.0), ([1], [2], 0.0)):
        with pytest.raises(InvalidParameterError):
            wilson_interval(successes, trials, confidence=confidence)


def _ranking_metrics():
    from tagsmith.metrics import topk_hits

    return [("precision_at_k", lambda y, t: precision_at_k(y, t, 2)),
            ("recall_at_k", lambda y, t: recall_at_k(y, t, 2)),
            ("ndcg_at_k", lambda y, t: ndcg_at_k(y, t, 2)),
            ("f1_at_k", lambda y, t: f1_at_k(y, t, 2)),
            ("psp_at_k", lambda y, t: psp_at_k(y, t, 2, [0.5, 0.5, 0.5])),
            ("lrap", lrap), ("topk_hits", topk_hits)]


def _set_metrics():
    from tagsmith.metrics import hierarchical_scores, per_label_counts

    return [("precision_micro", precision_micro), ("recall_micro", recall_micro),
            ("f1_micro", f1_micro), ("f1_macro", f1_macro), ("f1_samples", f1_samples),
            ("per_label_f1", per_label_f1), ("per_label_counts", per_label_counts),
            ("hierarchical_scores",
             lambda y, p: hierarchical_scores(y, p, sp.csr_matrix(([1], ([1], [0])),
                                                                 shape=(3, 3))))]


@pytest.mark.parametrize("bad", [np.nan, 2.0, 0.5, -1.0])
def test_each_metric_refuses_labels_other_than_0_or_1_as_evaluate_does(bad):
    """evaluate refuses a NaN, a 2 or a 0.5 in y_true or y_pred; precision_at_k,
    per_label_f1 and the other metric functions counted any nonzero entry as a label
    (a table's NaN gap a true label the ranking missed, a 0.5 a whole label), so one
    call of each on the same matrices gave another figure than evaluate's or none.
    Each refuses it naming the parameter and its first such entry; 0/1 and booleans
    pass."""
    rng = np.random.default_rng(4)
    y_true = (rng.random((6, 3)) < 0.5).astype(float)
    topk = TopK.from_scores(rng.random((6, 3)), 3)
    y_pred = topk.label_sets(0.5).toarray().astype(float)
    wrong = y_true.copy()
    wrong[2, 1] = bad
    shown = re.escape(f"{bad:g} at document 2, label 1")
    for name, metric in _ranking_metrics():
        metric(y_true, topk)
        metric(sp.csr_matrix(y_true.astype(bool)), topk)
        for labels in (wrong, sp.csr_matrix(wrong)):
            with pytest.raises(InvalidParameterError,
                               match=rf"parameter 'y_true' must be labels 0 or 1 .*{shown}"):
                metric(labels, topk)
                pytest.fail(f"{name} took {bad}")
    for name, metric in _set_metrics():
        metric(y_true, y_pred)
        metric(y_true.astype(bool), y_pred.astype(bool))
        for first, second, refused in ((wrong, y_pred, "y_true"), (y_true, wrong, "y_pred")):
            with pytest.raises(InvalidParameterError,
                               match=rf"parameter '{refused}' must be labels 0 or 1 .*{shown}"):
                metric(first, second)
                pytest.fail(f"{name} took {bad} in {refused}")


@pytest.mark.parametrize(("name", "bad", "shown"), [
    ("y_true", np.nan, "nan at document 2, label 1"),
    ("y_true", 2, "2 at document 2, label 1"),
    ("y_pred", 0.5, "0.5 at document 2, label 1"),
])
def test_evaluate_refuses_labels_other_than_0_or_1(name, bad, shown):
    """tagsmith.metrics.evaluate counted any nonzero entry as a label, as the pipeline's
    evaluate_classifier no longer does: a gold matrix with NaN gaps (a pandas table's)
    scored each gap a true label the ranking missed, a 2 or a 0.5 a label too. Each is
    refused naming the parameter and its first such entry; 0/1 and booleans pass."""
    rng = np.random.default_rng(4)
    y_true = (rng.random((6, 3)) < 0.5).astype(float)
    topk = TopK.from_scores(rng.random((6, 3)), 3)
    y_pred = topk.label_sets(0.5).toarray().astype(float)
    evaluate(y_true, topk, y_pred)  # 0/1 floats
    evaluate(y_true.astype(bool), topk, y_pred.astype(bool))
    given = {"y_true": y_true, "y_pred": y_pred}
    given[name][2, 1] = bad
    with pytest.raises(InvalidParameterError,
                       match=rf"parameter '{name}' must be labels 0 or 1 .*{re.escape(shown)}"):
        evaluate(given["y_true"], topk, given["y_pred"])
