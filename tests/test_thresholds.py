from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tagsmith.calibration.thresholds import (
    Thresholds,
    _best_min_labels,
    best_global_threshold,
    tune_thresholds,
)
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics import as_label_matrix, f1_micro
from tagsmith.topk import TopK


def f1(y, pred):
    tp = np.sum(y & pred)
    denom = y.sum() + pred.sum()
    return 0.0 if denom == 0 else 2 * tp / denom


def brute_best_f1(y, scores):
    candidates = np.unique(scores)
    return max(f1(y, scores >= t) for t in candidates)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_per_label_thresholds_reach_the_best_f1(seed):
    rng = np.random.default_rng(seed)
    n, n_labels = 40, 5
    scores = rng.random((n, n_labels)).astype(np.float32)
    y = rng.random((n, n_labels)) < 0.3
    topk = TopK.from_scores(scores, n_labels)
    result = tune_thresholds(sp.csr_matrix(y), topk, min_support=1, tune_min_labels=False)
    for label in range(n_labels):
        if y[:, label].sum() == 0:
            continue
        got = f1(y[:, label], scores[:, label] >= result.per_label[label])
        assert np.isclose(got, brute_best_f1(y[:, label], scores[:, label])), label


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_global_threshold_reaches_best_micro_f1(seed):
    rng = np.random.default_rng(seed)
    scores = rng.random((30, 4)).astype(np.float32)
    y = rng.random((30, 4)) < 0.4
    threshold = best_global_threshold(sp.csr_matrix(y), TopK.from_scores(scores, 4))
    assert np.isclose(f1(y, scores >= threshold), brute_best_f1(y.ravel(), scores.ravel()))


def test_rare_labels_back_off_to_global():
    rng = np.random.default_rng(0)
    scores = rng.random((50, 3)).astype(np.float32)
    y = np.zeros((50, 3), dtype=bool)
    y[:20, 0] = True
    y[:2, 2] = True  # only two positives: backs off
    result = tune_thresholds(sp.csr_matrix(y), TopK.from_scores(scores, 3), min_support=5)
    assert result.tuned_mask.tolist() == [True, False, False]
    assert result.per_label[2] == np.float32(result.global_threshold)


def test_positives_outside_topk_count_as_misses():
    scores = np.array([[0.9, 0.8, 0.1]] * 4, dtype=np.float32)
    y = sp.csr_matrix(np.array([[0, 0, 1]] * 4))
    topk = TopK.from_scores(scores, 2)  # label 2 never in the top 2
    result = tune_thresholds(y, topk, min_support=1, tune_min_labels=False)
    assert not result.tuned_mask[2]


def test_state_round_trip():
    rng = np.random.default_rng(1)
    scores = rng.random((20, 3)).astype(np.float32)
    y = sp.csr_matrix(rng.random((20, 3)) < 0.5)
    result = tune_thresholds(y, TopK.from_scores(scores, 3), min_support=1)
    meta, arrays = result.to_state()
    again = type(result).from_state(meta, arrays)
    np.testing.assert_array_equal(again.per_label, result.per_label)
    assert again.min_labels == result.min_labels


def test_explicit_zeros_in_y_true_are_not_labels():
    rng = np.random.default_rng(2)
    scores = rng.random((30, 3)).astype(np.float32)
    y = (rng.random((30, 3)) < 0.4).astype(np.float32)
    # every cell stored, the empty ones as explicit zeros
    n, n_labels = y.shape
    with_zeros = sp.csr_matrix((y.ravel(), np.tile(np.arange(n_labels), n),
                                np.arange(0, n * n_labels + 1, n_labels)), shape=y.shape)
    assert with_zeros.nnz > sp.csr_matrix(y).nnz  # the zeros really are stored
    topk = TopK.from_scores(scores, 3)
    a = tune_thresholds(sp.csr_matrix(y), topk, min_support=1)
    b = tune_thresholds(with_zeros, topk, min_support=1)
    np.testing.assert_array_equal(a.per_label, b.per_label)


def test_rare_labels_back_off_to_their_band_first():
    from tagsmith.calibration.bands import FrequencyBands
    from tagsmith.calibration.thresholds import FROM_BAND, FROM_GLOBAL, FROM_LABEL

    rng = np.random.default_rng(3)
    n = 400
    y = np.zeros((n, 4), dtype=bool)
    y[:, 0] = rng.random(n) < 0.5           # frequent, own threshold
    y[:, 1] = rng.random(n) < 0.5           # frequent, own threshold
    y[:3, 2] = True                         # rare, shares a band with label 3
    y[:3, 3] = True
    scores = rng.random((n, 4)).astype(np.float32)
    scores[:, 0] = np.where(y[:, 0], 0.2 + 0.1 * scores[:, 0], 0.1 * scores[:, 0])
    scores[:, 1] = np.where(y[:, 1], 0.9 + 0.1 * scores[:, 1], 0.6 * scores[:, 1])
    scores[:, 2:] = np.where(y[:, 2:], 0.7 + 0.3 * scores[:, 2:], 0.5 * scores[:, 2:])
    bands = FrequencyBands(np.array([1, 1, 0, 0]), np.array([0, 50, 10**9]))
    result = tune_thresholds(sp.csr_matrix(y), TopK.from_scores(scores, 4), min_support=5,
                             bands=bands, tune_min_labels=False)
    assert result.source.tolist() == [FROM_LABEL, FROM_LABEL, FROM_BAND, FROM_BAND]
    assert 0.5 <= result.per_label[2] <= 0.7  # the band's cut separates its six positives
    assert result.summary()["n_band_labels"] == 2
    # without enough positives in the band either: the global threshold
    lone = FrequencyBands(np.array([1, 1, 0, 2]), np.array([0, 2, 50, 10**9]))
    y[:, 2] = False
    y[:3, 2] = True
    y[3:, 3] = False
    result = tune_thresholds(sp.csr_matrix(y), TopK.from_scores(scores, 4), min_support=5,
                             bands=lone, tune_min_labels=False)
    assert result.source[2] == FROM_GLOBAL


def test_set_size_limit_is_kept_and_stored():
    rng = np.random.default_rng(4)
    scores = rng.random((60, 6)).astype(np.float32)
    y = sp.csr_matrix(rng.random((60, 6)) < 0.6)
    topk = TopK.from_scores(scores, 6)
    result = tune_thresholds(y, topk, min_support=1, max_labels=2)
    assert result.label_sets(topk).sum(axis=1).max() <= 2
    meta, arrays = result.to_state()
    again = type(result).from_state(meta, arrays)
    assert again.max_labels == 2 and np.array_equal(again.source, result.source)
    old_meta = {k: v for k, v in meta.items() if k != "max_labels"}
    old = type(result).from_state(old_meta, {k: v for k, v in arrays.items() if k != "source"})
    assert old.max_labels is None and old.source is not None  # bundles from before still load


def test_the_cut_between_adjacent_float32_scores_stays_above_the_lower():
    # the float32 midpoint of 1 and the next float32 rounds (half to even) onto 1, which
    # let the lower, wrong entries through the label, band and global thresholds alike
    from tagsmith.calibration.bands import FrequencyBands

    lower = np.float32(1.0)
    upper = np.nextafter(lower, np.float32(2))
    topk = TopK(np.array([[0], [0], [1], [1]]),
                np.array([[upper], [lower], [upper], [lower]], np.float32), 2)
    y = sp.csr_matrix(np.array([[1, 0], [0, 0], [0, 1], [0, 0]]))
    expected = y.toarray().astype(bool).tolist()
    assert topk.label_sets(best_global_threshold(y, topk)).toarray().tolist() == expected
    bands = FrequencyBands.from_counts(np.array([1, 1]), 1)
    for min_support, source in ((1, 2), (2, 1), (3, 0)):  # the label's own, its band's, global
        result = tune_thresholds(y, topk, min_support=min_support, tune_min_labels=False,
                                 bands=bands)
        assert result.source.tolist() == [source, source]
        assert topk.label_sets(result.per_label).toarray().tolist() == expected
    # the last entry of a label keeps its cut below it, even where 1e-6 is below an ulp
    big = TopK(np.zeros((1, 1), np.int64), np.array([[100.0]], np.float32), 1)
    result = tune_thresholds(sp.csr_matrix(np.array([[1]])), big, min_support=1,
                             tune_min_labels=False)
    assert big.label_sets(result.per_label).toarray().tolist() == [[True]]


@pytest.mark.parametrize("beta", [0, -1, float("nan")])
def test_best_global_threshold_refuses_a_beta_tune_thresholds_refuses(beta):
    # F-beta squares beta: -1 silently tuned F1, 0 tuned precision alone
    topk = TopK.from_scores(np.array([[0.9, 0.2], [0.4, 0.8]]), 2)
    with pytest.raises(InvalidParameterError, match="parameter 'beta'"):
        best_global_threshold(sp.csr_matrix(np.array([[1, 0], [0, 1]])), topk, beta=beta)


def test_constant_thresholds_refuse_a_negative_label_count_by_name():
    with pytest.raises(InvalidParameterError, match="parameter 'n_labels'"):
        Thresholds.constant(-1)  # numpy: "negative dimensions are not allowed"


def test_tune_thresholds_refuses_negative_support_and_labels_outside_0_1():
    topk = TopK.from_scores(np.array([[0.9, 0.2], [0.6, 0.7], [0.1, 0.8]]), k=2)
    y = np.array([[1, 0], [1, 1], [0, 1]])
    with pytest.raises(InvalidParameterError, match="min_support"):
        tune_thresholds(y, topk, min_support=-1)
    for bad in (np.nan, 2.0, -1.0, np.inf):
        wrong = y.astype(float)
        wrong[0, 1] = bad  # was counted as a true label
        with pytest.raises(InvalidParameterError, match="y_true"):
            best_global_threshold(wrong, topk)
        with pytest.raises(InvalidParameterError, match="y_true"):
            tune_thresholds(sp.csr_matrix(wrong), topk, min_support=1)
    with pytest.raises(InvalidParameterError, match="y_true"):
        best_global_threshold(np.array([["1", "0"]] * 3), topk)
    with pytest.raises(InvalidParameterError, match="topk"):
        tune_thresholds(y, "topk")
    assert best_global_threshold(y.astype(bool), topk) == best_global_threshold(y, topk)
    tune_thresholds(y, topk, min_support=0)


def test_fractional_true_labels_are_refused_where_labels_tune_or_fit():
    # 0.5 passed as a true label (only NaN and values outside [0, 1] were refused): a soft
    # target is no held-out truth; its named labels (y != 0) are
    from tagsmith.calibration.scaling import fit_calibrator
    from tagsmith.conformal.risk import fit_recall_control

    topk = TopK.from_scores(np.array([[0.9, 0.2], [0.6, 0.7], [0.1, 0.8]]), k=2)
    soft = np.array([[1, 0], [0.5, 1], [0, 1]])
    for fit in (best_global_threshold, tune_thresholds, fit_calibrator, fit_recall_control):
        with pytest.raises(InvalidParameterError, match="'y_true' must be labels 0 or 1 "
                           r"\(or true/false\), got '1 other value, e.g. 0.5 at "
                           r"document 1, label 0 \(counted from 0\)'"):
            fit(sp.csr_matrix(soft), topk)
    named = soft != 0
    assert best_global_threshold(named, topk) == best_global_threshold(named.astype(int), topk)


def test_min_labels_is_chosen_by_the_thresholds_f_beta():
    """Hand-checked: documents B (true {0}) and C1, C2 (true {1}) score below every
    threshold; forcing their best label (0) in gives TP 2, FP 2, FN 2 instead of TP 1,
    FP 0, FN 3. Micro F1: 0.5 > 0.4 (force); micro F0.5: 0.5 < 1.25 / 2 = 0.625 (don't).
    The choice was by micro F1 whatever beta the thresholds used."""
    topk = TopK.from_scores(np.array([[0.9, 0.1], [0.3, 0.2], [0.3, 0.2], [0.3, 0.2]]), k=2)
    y = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]]))
    per_label = np.full(2, 0.6, np.float32)
    labels = as_label_matrix(y)
    assert _best_min_labels(labels, topk, per_label, 1.0) == 1
    assert _best_min_labels(labels, topk, per_label, 0.5) == 0
    assert _best_min_labels(labels, topk, per_label, 2.0) == 1  # F2: 0.5 > 5 / 17


def test_tune_thresholds_chooses_min_labels_by_its_beta():
    topk = TopK.from_scores(np.array([[0.9, 0.1], [0.3, 0.2], [0.3, 0.2], [0.3, 0.2]]), k=2)
    y = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]]))
    # the case above through tune_thresholds: F0.5's global cut is 0.6 (after 0.9: F0.5 0.625, tied
    # with the cut after 0.2 and taken first), every label backs off to it
    tuned = tune_thresholds(y, topk, beta=0.5, min_support=100)
    assert tuned.per_label.tolist() == pytest.approx([0.6, 0.6])
    assert tuned.min_labels == 0


@pytest.mark.parametrize("seed", range(5))
def test_min_labels_with_beta_1_is_micro_f1(seed):
    rng = np.random.default_rng(seed)
    topk = TopK.from_scores(rng.random((60, 8)), k=3)
    y = sp.csr_matrix(rng.random((60, 8)) < 0.2)
    for per_label in (np.full(8, 0.9, np.float32), rng.random(8).astype(np.float32)):
        expected = int(np.argmax([f1_micro(y, topk.label_sets(per_label, min_labels=m))
                                  for m in (0, 1)]))
        assert _best_min_labels(as_label_matrix(y), topk, per_label, 1.0) == expected


@pytest.mark.filterwarnings("error::RuntimeWarning")
# 1.3e154: beta^2 (1.69e308) is still finite, (1 + beta^2) x tp overflows (1e60 squared
# to 1e120 and passed without the fix too)
@pytest.mark.parametrize("beta", [float("inf"), 1e200, 1.3e154])
def test_a_huge_beta_tunes_for_recall_not_for_nans(beta):
    """F-beta squares beta: from about 1e154 (and for infinity, which --beta took) the
    square overflowed, every F-beta was NaN (numpy's "invalid value" warnings on
    stderr), and calibrate --beta inf kept a global threshold of 0.91 where maximising
    recall, F-beta's limit, keeps the lowest scores (0.013 at --beta 1000)."""
    rng = np.random.default_rng(3)
    scores = rng.random((60, 4)).astype(np.float32)
    y = sp.csr_matrix(rng.random((60, 4)) < scores)
    topk = TopK.from_scores(scores, 4)
    reference = tune_thresholds(y, topk, beta=1e6, min_support=1, tune_min_labels=False)
    result = tune_thresholds(y, topk, beta=beta, min_support=1, tune_min_labels=False)
    assert result.global_threshold == reference.global_threshold
    np.testing.assert_array_equal(result.per_label, reference.per_label)
    assert best_global_threshold(y, topk, beta=beta) == best_global_threshold(y, topk, beta=1e6)
    assert result.global_threshold <= np.sort(scores[y.toarray()])[0]  # every positive in


def test_tuned_thresholds_keep_each_labels_positives_and_a_loaded_state_none():
    """What a warning on thresholds tuned on few positives reads; a bundle does not
    store it (None after loading, not a count of 0)."""
    rng = np.random.default_rng(0)
    scores = rng.random((50, 3)).astype(np.float32)
    y = np.zeros((50, 3), dtype=bool)
    y[:20, 0] = True
    y[:2, 2] = True
    result = tune_thresholds(sp.csr_matrix(y), TopK.from_scores(scores, 3), min_support=5)
    assert result.support.tolist() == [20, 0, 2]
    meta, arrays = result.to_state()
    assert Thresholds.from_state(meta, arrays).support is None


def _brute_precision_cut(y, scores, min_precision):
    """The lowest score cut (as a score: entries >= it pass) whose Wilson lower bound of
    precision reaches min_precision, or None."""
    from tagsmith.metrics import wilson_interval

    best = None
    for t in np.unique(scores):
        passed = scores >= t
        low, _ = wilson_interval([int(np.sum(y & passed))], [int(passed.sum())])
        if low[0] >= min_precision and (best is None or t < best):
            best = t
    return best


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.5, 0.7, 0.9]))
def test_min_precision_thresholds_are_each_labels_lowest_cut_reaching_it(seed, min_precision):
    """calibrate --min-precision: per label, the lowest threshold whose held-out precision
    reaches P by the lower end of its Wilson interval; a label without one never passes."""
    rng = np.random.default_rng(seed)
    n, n_labels = 60, 4
    scores = rng.random((n, n_labels)).astype(np.float32)
    y = rng.random((n, n_labels)) < scores ** rng.uniform(0.2, 3, n_labels)
    result = tune_thresholds(sp.csr_matrix(y), TopK.from_scores(scores, n_labels),
                             min_precision=min_precision)
    assert result.min_precision == min_precision and result.min_labels == 0
    sets = result.label_sets(TopK.from_scores(scores, n_labels)).toarray()
    for label in range(n_labels):
        cut = _brute_precision_cut(y[:, label], scores[:, label], min_precision)
        if cut is None:
            assert np.isposinf(result.per_label[label]) and not sets[:, label].any()
        else:
            np.testing.assert_array_equal(sets[:, label], scores[:, label] >= cut)


def test_min_precision_leaves_out_a_label_of_few_positives_and_names_its_best_bound():
    """3 of 3 right is a precision of 0.44 to 1 (95% Wilson): no threshold of a label
    of 3 held-out positives reaches 0.9, however they rank, and it is not backed off to
    its band's or the global threshold, whose precision is no label's own."""
    scores = np.linspace(0.99, 0.01, 100, dtype=np.float32)
    y = np.zeros((100, 2), dtype=bool)
    y[:3, 1] = True            # label 1: its 3 positives ranked first
    y[:80, 0] = True           # label 0: 80 positives ranked first
    topk = TopK.from_scores(np.stack([scores, scores], axis=1), 2)
    result = tune_thresholds(sp.csr_matrix(y), topk, min_precision=0.9)
    assert np.isfinite(result.per_label[0]) and np.isposinf(result.per_label[1])
    assert result.best_precision[1] == pytest.approx(3 / (3 + 1.959964 ** 2), abs=1e-4)
    assert result.summary() | {"global": 0} == {
        "global": 0, "min_labels": 0, "max_labels": None, "n_tuned_labels": 2,
        "n_band_labels": 0, "n_global_labels": 0, "objective": "precision",
        "min_precision": 0.9,
        "n_unreachable_labels": 1}
    meta, arrays = result.to_state()
    again = Thresholds.from_state(meta, arrays)
    assert again.min_precision == 0.9 and np.isposinf(again.per_label[1])
    assert tune_thresholds(sp.csr_matrix(y), topk).summary()["objective"] == "f_beta"


@pytest.mark.parametrize("kwargs", [{"min_precision": 1.0}, {"min_precision": 0},
                                    {"min_precision": float("nan")},
                                    {"min_precision": 0.9, "beta": 2.0}])
def test_min_precision_refuses_1_nan_and_a_second_objective(kwargs):
    y = sp.csr_matrix(np.eye(4, dtype=bool))
    with pytest.raises(InvalidParameterError, match="min_precision"):
        tune_thresholds(y, TopK.from_scores(np.eye(4, dtype=np.float32), 4), **kwargs)


def test_a_stored_min_precision_outside_0_1_is_a_damaged_state():
    meta, arrays = Thresholds.constant(3).to_state()
    with pytest.raises(ValueError, match="min_precision"):
        Thresholds.from_state({**meta, "min_precision": 1.5}, arrays)


@pytest.mark.parametrize("beta", [0.5, float("inf")])
def test_the_f_beta_objective_is_kept_by_a_state(beta):
    """info shows the thresholds' objective: a bundle's loaded thresholds summarise it
    as the manifest does (an infinite beta too, which JSON holds as a string)."""
    import json

    from tagsmith._json import dumps

    y = sp.csr_matrix(np.eye(4, dtype=bool))
    result = tune_thresholds(y, TopK.from_scores(np.eye(4, dtype=np.float32), 4), beta=beta)
    meta, arrays = result.to_state()
    again = Thresholds.from_state(json.loads(dumps(meta)), arrays)
    assert again.summary() == result.summary()
    assert again.summary()["objective"] == "f_beta" and again.beta == beta


def _brute_recall_cut(y, scores, min_recall):
    """The highest score cut (entries >= it pass) whose Wilson lower bound of recall
    reaches min_recall, else the lowest positive's score (capped), or None: no positive."""
    from tagsmith.metrics import wilson_interval

    if not y.any():
        return None, False
    for t in np.unique(scores)[::-1]:
        passed = scores >= t
        low, _ = wilson_interval([int(np.sum(y & passed))], [int(y.sum())])
        if low[0] >= min_recall:
            return t, False
    return scores[y].min(), True


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.5, 0.7, 0.9]))
def test_min_recall_thresholds_are_each_labels_highest_cut_reaching_it(seed, min_recall):
    """calibrate --min-recall: per label, the highest threshold whose held-out recall
    reaches R by the lower end of its Wilson interval; a label without one is capped at
    its lowest held-out positive (never 0, every document); one without a positive (or
    with fewer than min_support) takes the global threshold."""
    rng = np.random.default_rng(seed)
    n, n_labels = 60, 4
    scores = rng.random((n, n_labels)).astype(np.float32)
    y = rng.random((n, n_labels)) < scores ** rng.uniform(0.2, 3, n_labels)
    y[:, 3] &= rng.random(n) < 0.05  # a label of few positives (or none)
    result = tune_thresholds(sp.csr_matrix(y), TopK.from_scores(scores, n_labels),
                             min_recall=min_recall, min_support=1)
    assert result.min_recall == min_recall and result.min_labels == 0
    sets = result.label_sets(TopK.from_scores(scores, n_labels)).toarray()
    for label in range(n_labels):
        cut, capped = _brute_recall_cut(y[:, label], scores[:, label], min_recall)
        if cut is None:
            assert result.per_label[label] == np.float32(result.global_threshold)
        else:
            np.testing.assert_array_equal(sets[:, label], scores[:, label] >= cut)
        assert bool(result.capped[label]) == capped


def test_min_recall_caps_a_label_of_few_positives_and_round_trips():
    """20 of 20 found is a recall of 0.84 to 1: a label of 20 held-out positives never
    reaches 0.9 however they rank. Its threshold would be 0 (every document): it is
    capped at its lowest positive, counted in the summary; the objective is stored."""
    scores = np.linspace(0.99, 0.01, 200, dtype=np.float32)
    y = np.zeros((200, 2), dtype=bool)
    y[:150:2, 0] = True        # label 0: 75 positives among the top 150
    y[10:30, 1] = True         # label 1: 20 positives
    topk = TopK.from_scores(np.stack([scores, scores], axis=1), 2)
    result = tune_thresholds(sp.csr_matrix(y), topk, min_recall=0.9)
    assert not result.capped[0] and result.capped[1]
    assert scores[29] >= result.per_label[1] > scores[30]  # not 0: its lowest positive
    assert result.best_recall[1] == pytest.approx(20 / (20 + 1.959964 ** 2), abs=1e-4)
    assert result.summary() | {"global": 0} == {
        "global": 0, "min_labels": 0, "max_labels": None, "n_tuned_labels": 2,
        "n_band_labels": 0, "n_global_labels": 0, "objective": "recall", "min_recall": 0.9,
        "n_capped_labels": 1, "n_capped_shared_labels": 0}
    meta, arrays = result.to_state()
    again = Thresholds.from_state(meta, arrays)
    assert again.min_recall == 0.9 and again.min_precision is None
    assert again.summary()["objective"] == "recall"


def test_min_recall_backs_labels_of_few_held_out_positives_off_to_their_band():
    """A label the model learnt but with no (or too few) held-out positives had an
    infinite threshold (none ranked: never predicted) or one capped at its few
    positives, and bands were ignored: on a yso-finna slice 4,692 of 4,839 labels were
    never predicted, for a recall target. As F-beta's, such a label takes its band's
    threshold (the same Wilson rule on the band's pooled recall), counted in the
    summary; a band of too few positives backs off to the global one."""
    from tagsmith.calibration.bands import FrequencyBands
    from tagsmith.calibration.thresholds import FROM_BAND, FROM_GLOBAL, FROM_LABEL

    rng = np.random.default_rng(3)
    n = 400
    scores = rng.random((n, 5)).astype(np.float32)
    y = np.zeros((n, 5), dtype=bool)
    y[:, 0] = scores[:, 0] > 0.6  # plenty of positives: its own threshold
    y[:, 1] = scores[:, 1] > 0.7
    y[:3, 2] = True  # 3 positives: too few for its own
    y[:, 2] &= scores[:, 2] > 0.5
    # label 3: no held-out positive, but entries (learnt); label 4: another band, 2
    y[[0, 1], 4] = True
    bands = FrequencyBands(np.array([0, 0, 0, 0, 1]), np.array([0, 50, 10**9]))
    topk = TopK.from_scores(scores, 5)
    result = tune_thresholds(sp.csr_matrix(y), topk, min_recall=0.5, bands=bands,
                             min_support=5)
    assert result.source.tolist() == [FROM_LABEL, FROM_LABEL, FROM_BAND, FROM_BAND,
                                      FROM_GLOBAL]
    band = tune_thresholds(sp.csr_matrix(y[:, :4]), TopK.from_scores(scores[:, :4], 4),
                           min_recall=0.5).global_threshold
    assert result.per_label[2] == result.per_label[3] == np.float32(band)
    assert np.isfinite(result.per_label).all() and not result.capped[2:].any()
    assert result.per_label[4] == np.float32(result.global_threshold)
    assert not result.tuned_mask[2:].any()
    summary = result.summary()
    assert (summary["n_tuned_labels"], summary["n_band_labels"],
            summary.get("n_unreachable_labels", 0)) == (2, 2, 0)
    # without bands, the global one
    alone = tune_thresholds(sp.csr_matrix(y), topk, min_recall=0.5)
    assert alone.source.tolist() == [FROM_LABEL, FROM_LABEL] + [FROM_GLOBAL] * 3


def test_summary_counts_the_labels_on_the_global_threshold():
    """The summary (calibrate --json's and the manifest's ``thresholds``) counted the
    labels on their own threshold and on their band's, and none counted those on the
    global one (calibrate's text said e.g. '19 from their band, 22 global'), leaving
    readers to derive it, wrongly where labels were never learnt (an infinite
    threshold, not the global one). ``n_global_labels`` counts them; a label never
    learnt is in no count."""
    from tagsmith.calibration.bands import FrequencyBands
    from tagsmith.calibration.thresholds import FROM_GLOBAL
    from tagsmith.pipeline.confidence import never_untrained

    rng = np.random.default_rng(3)
    n = 400
    scores = rng.random((n, 6)).astype(np.float32)
    y = np.zeros((n, 6), dtype=bool)
    y[:, 0] = scores[:, 0] > 0.6
    y[:, 1] = scores[:, 1] > 0.7
    y[:3, 2] = True  # too few positives: its band's
    y[[0, 1], 4] = True  # another band of 2 positives: the global one
    y[[2, 3], 5] = True  # the same band, never learnt
    bands = FrequencyBands(np.array([0, 0, 0, 0, 1, 1]), np.array([0, 50, 10**9]))
    topk = TopK.from_scores(scores, 6)
    for objective in ({"beta": 1.0}, {"min_recall": 0.5}):
        tuned = tune_thresholds(sp.csr_matrix(y), topk, bands=bands, min_support=5,
                                **objective)
        assert tuned.source[4] == tuned.source[5] == FROM_GLOBAL
        summary = never_untrained(tuned, np.arange(6) == 5).summary()
        assert (summary["n_tuned_labels"], summary["n_band_labels"],
                summary["n_global_labels"]) == (2, 2, 1), objective


def test_min_recall_global_threshold_counts_only_the_pooled_labels_positives():
    """The pooled recall's global threshold counted the held-out positives of labels
    with no entry in the pool (a label the model never learnt, whose entries
    calibration moves out): misses it could never catch, which pulled it down to the
    bottom of the pool. Only the positives of the labels pooled are counted: as if the
    other label had no held-out positive."""
    scores = np.linspace(0.99, 0.01, 100, dtype=np.float32)
    y = np.zeros((100, 3), dtype=bool)
    y[:60:2, 0] = True  # 30 positives each, among the top 60
    y[1:60:2, 1] = True
    y[:40, 2] = True  # 40 positives of a label with no entry
    topk = TopK(np.tile(np.array([[0, 1, -1]]), (100, 1)),
                np.stack([scores, scores, np.full(100, -np.inf, np.float32)], axis=1), 3)
    pooled = tune_thresholds(sp.csr_matrix(y), topk, min_recall=0.8)
    y[:, 2] = False
    alone = tune_thresholds(sp.csr_matrix(y), topk, min_recall=0.8)
    assert pooled.global_threshold == alone.global_threshold > scores[60]


@pytest.mark.parametrize("kwargs", [{"min_recall": 1.0}, {"min_recall": 0},
                                    {"min_recall": float("nan")},
                                    {"min_recall": 0.9, "beta": 2.0},
                                    {"min_recall": 0.9, "min_precision": 0.9}])
def test_min_recall_refuses_1_nan_and_a_second_objective(kwargs):
    y = sp.csr_matrix(np.eye(4, dtype=bool))
    with pytest.raises(InvalidParameterError, match="min_recall"):
        tune_thresholds(y, TopK.from_scores(np.eye(4, dtype=np.float32), 4), **kwargs)


def test_a_stored_min_recall_outside_0_1_is_a_damaged_state():
    meta, arrays = Thresholds.constant(3).to_state()
    with pytest.raises(ValueError, match="min_recall"):
        Thresholds.from_state({**meta, "min_recall": 1.5}, arrays)


def test_a_stored_state_of_two_objectives_is_a_damaged_state():
    """A state giving both min_precision and min_recall (crafted: to_state writes one)
    loaded as both: the summary said recall, suggest warned of a recall's thresholds, and
    saved again it said precision (to_state writes min_precision first)."""
    meta, arrays = Thresholds.constant(3).to_state()
    with pytest.raises(ValueError, match="min_precision 0.9 and min_recall 0.8"):
        Thresholds.from_state({**meta, "min_precision": 0.9, "min_recall": 0.8}, arrays)


def test_min_recall_counts_the_labels_of_a_band_capped_short_of_it():
    """A band whose pooled held-out positives reach the recall at no cut is capped at
    its lowest positive, as a label is: its labels were neither counted in
    ``n_capped_labels`` nor named anywhere (yso-finna at 0.5: bands 0-3, 4-9 and 10-38,
    13,xxx labels, at their lowest ranked positive, the positives outside the top-k
    counted as misses). They are marked (``capped_shared``), counted
    (``n_capped_shared_labels``) and their bands named (``capped_bands``)."""
    from tagsmith.calibration.bands import FrequencyBands
    from tagsmith.calibration.thresholds import FROM_BAND, FROM_LABEL

    rng = np.random.default_rng(5)
    n = 400
    scores = rng.random((n, 6)).astype(np.float32)
    y = np.zeros((n, 6), dtype=bool)
    y[:, 0] = scores[:, 0] > 0.6  # plenty: its own threshold, in band 1
    y[:, 1] = scores[:, 1] > 0.6
    for label in (2, 3, 4, 5):  # band 0: 2 positives each, 8 pooled: 8 of 8 found
        y[rng.choice(n, 2, replace=False), label] = True  # is 0.676 at best
    bands = FrequencyBands(np.array([1, 1, 0, 0, 0, 0]), np.array([0, 50, 10**9]))
    result = tune_thresholds(sp.csr_matrix(y), TopK.from_scores(scores, 6), min_recall=0.7,
                             bands=bands, min_support=5)
    assert result.source.tolist() == [FROM_LABEL] * 2 + [FROM_BAND] * 4
    assert not result.capped.any()  # none of its own capped
    assert result.capped_shared.tolist() == [False, False, True, True, True, True]
    assert result.capped_bands == ("0-49",)
    summary = result.summary()
    assert (summary["n_capped_labels"], summary["n_capped_shared_labels"]) == (0, 4)
    # the band's threshold: just below its lowest positive (not 0, every document)
    lowest = scores[:, 2:][y[:, 2:]].min()
    assert lowest >= result.per_label[2] > lowest - 1e-3
    # a band that reaches it is not marked
    fine = tune_thresholds(sp.csr_matrix(y), TopK.from_scores(scores, 6), min_recall=0.5,
                           bands=bands, min_support=5)
    assert not fine.capped_shared.any() and fine.capped_bands == ()
    assert fine.summary()["n_capped_shared_labels"] == 0


def test_a_label_moved_onto_a_capped_global_threshold_is_counted_capped():
    """``never_untrained`` moving labels onto the global threshold (train does so for a
    label the refitted model learnt from its held-out documents alone) cleared their
    ``capped_shared``: on a recall's global threshold capped short of the target they
    were counted as holding it. They are marked as the labels already on it are; moved
    to an infinite threshold (never predicted), or onto a global one that holds the
    target, they are not."""
    from tagsmith.calibration.thresholds import FROM_GLOBAL, FROM_LABEL
    from tagsmith.pipeline.confidence import never_untrained

    rng = np.random.default_rng(5)
    n = 400
    scores = rng.random((n, 5)).astype(np.float32)
    y = np.zeros((n, 5), dtype=bool)
    y[:, 0] = scores[:, 0] > 0.6  # plenty: its own threshold
    for label in (1, 2, 3, 4):  # 2 positives each: the global threshold, whose pool
        y[rng.choice(n, 2, replace=False), label] = True  # reaches 0.99 at no cut
    topk = TopK.from_scores(scores, 5)
    result = tune_thresholds(sp.csr_matrix(y), topk, min_recall=0.99, min_support=5)
    assert result.source.tolist() == [FROM_LABEL] + [FROM_GLOBAL] * 4
    assert result.capped_global and result.capped_shared.tolist() == [False] + [True] * 4
    first = np.arange(5) == 0
    moved = never_untrained(result, first, result.global_threshold)
    assert moved.source[0] == FROM_GLOBAL and moved.capped_shared.all()
    assert moved.summary()["n_capped_shared_labels"] == 5
    assert not never_untrained(result, first).capped_shared[0]  # never predicted
    fine = tune_thresholds(sp.csr_matrix(y), topk, min_recall=0.3, min_support=5)
    assert not fine.capped_global
    assert not never_untrained(fine, first, fine.global_threshold).capped_shared.any()


def test_labels_moved_off_a_capped_band_leave_it_unnamed(caplog):
    """``never_untrained`` moved labels off their band (a calibration backs those the
    model never learnt off to an infinite threshold) and left ``capped_bands`` as it
    was: the capped warning named a band no label was on any more. The bands still
    holding a label are named; where a moved label was on a capped band, the bands are
    needed to tell."""
    import logging

    from tagsmith.calibration.bands import FrequencyBands
    from tagsmith.calibration.thresholds import FROM_BAND, FROM_LABEL
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.confidence import never_untrained, warn_thin_thresholds

    rng = np.random.default_rng(5)
    n = 400
    scores = rng.random((n, 6)).astype(np.float32)
    y = np.zeros((n, 6), dtype=bool)
    y[:, 0] = scores[:, 0] > 0.6  # plenty: its own threshold
    y[:, 1] = scores[:, 1] > 0.6
    for label in (2, 3, 4, 5):  # 2 positives each: bands 0-4 (2, 3) and 5-49 (4, 5),
        y[rng.choice(n, 2, replace=False), label] = True  # each capped short of 0.7
    bands = FrequencyBands(np.array([2, 2, 0, 0, 1, 1]), np.array([0, 5, 50, 10**9]))
    tuned = tune_thresholds(sp.csr_matrix(y), TopK.from_scores(scores, 6), min_recall=0.7,
                            bands=bands, min_support=3)
    assert tuned.source.tolist() == [FROM_LABEL] * 2 + [FROM_BAND] * 4
    assert tuned.capped_bands == ("0-4", "5-49")
    untrained = np.isin(np.arange(6), [2, 3])  # band 0-4's labels
    moved = never_untrained(tuned, untrained, bands=bands)
    assert moved.capped_bands == ("5-49",)
    assert moved.capped_shared.tolist() == [False] * 4 + [True] * 2
    assert never_untrained(tuned, np.isin(np.arange(6), [2]), bands=bands).capped_bands \
        == ("0-4", "5-49")  # label 3 is still on band 0-4
    assert never_untrained(tuned, np.arange(6) >= 2, bands=bands).capped_bands == ()
    # the thresholds record each label's band, saved in a bundle: no bands= needed
    # (it raised without them here)
    assert tuned.band_of.tolist() == bands.band_of.tolist()
    assert tuned.band_names == tuple(bands.names())
    assert never_untrained(tuned, untrained).capped_bands == ("5-49",)
    loaded = Thresholds.from_state(*tuned.to_state())
    assert loaded.band_of.tolist() == bands.band_of.tolist()
    assert loaded.band_names == tuned.band_names
    # saved before the bands were kept: loads without them, and then they are needed
    meta, arrays = tuned.to_state()
    older = Thresholds.from_state({k: v for k, v in meta.items() if k != "band_names"},
                                  {k: v for k, v in arrays.items() if k != "band_of"})
    assert older.band_of is None and older.band_names == ()
    older = replace(tuned, band_of=None, band_names=())
    with pytest.raises(ValueError, match="bands are needed"):
        never_untrained(older, untrained)
    for bad_meta, bad_band in (({**meta, "band_names": ["0-4"]}, arrays["band_of"]),
                               ({**meta, "band_names": "0-4"}, arrays["band_of"]),
                               (meta, arrays["band_of"][:3])):
        with pytest.raises(ValueError, match="band"):
            Thresholds.from_state(bad_meta, {**arrays, "band_of": bad_band})
    # a label of its own moved: no band to recount
    assert never_untrained(tuned, np.arange(6) == 0).capped_bands == ("0-4", "5-49")
    names = [f"l{i}" for i in range(6)]
    space = LabelSpace.from_uris([f"u:{n}" for n in names],
                                 names={f"u:{n}": n for n in names})
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        warn_thin_thresholds(moved, space, "dev")
    assert ("capped likewise at the pool's lowest held-out positive (band 5-49)"
            in caplog.text), caplog.text


def test_min_recall_summary_counts_unreachable_labels_only_where_there_are_any():
    """Freshly tuned recall thresholds never leave a label of its own never predicted
    (one of no held-out positive ranked backs off to its band's or the global
    threshold), so ``n_unreachable_labels`` was always 0 for them: it is left out. A
    bundle tuned before the back-off loads with such labels, and still counts them."""
    from tagsmith.calibration.thresholds import FROM_LABEL

    scores = np.linspace(0.99, 0.01, 100, dtype=np.float32)
    y = np.zeros((100, 2), dtype=bool)
    y[:60:2, 0] = True
    topk = TopK.from_scores(np.stack([scores, scores], axis=1), 2)
    result = tune_thresholds(sp.csr_matrix(y), topk, min_recall=0.5)
    assert "n_unreachable_labels" not in result.summary()
    meta, arrays = result.to_state()
    arrays = dict(arrays, per_label=np.array([0.5, np.inf], np.float32),
                  tuned_mask=np.ones(2, bool), source=np.full(2, FROM_LABEL, np.int8))
    old = Thresholds.from_state(meta, arrays)
    assert old.summary()["n_unreachable_labels"] == 1


@pytest.mark.parametrize("objective", [{}, {"min_precision": 0.5}, {"min_recall": 0.5}])
def test_bands_over_another_label_count_are_refused_for_every_objective(objective):
    """Bands over another number of labels than the scores' are refused by name: a
    precision's thresholds (which use no band) took them without a word, and a
    recall's refused them only after tuning every label's and the global cut."""
    from tagsmith.calibration.bands import FrequencyBands

    topk = TopK.from_scores(np.array([[0.9, 0.2], [0.6, 0.7], [0.1, 0.8]]), k=2)
    y = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 1]]))
    bands = FrequencyBands(np.array([0, 0, 1]), np.array([0, 50, 10**9]))
    with pytest.raises(InvalidParameterError, match="bands over 2 labels.*3 labels"):
        tune_thresholds(y, topk, min_support=1, bands=bands, **objective)
