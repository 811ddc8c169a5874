"""Conformal sets: the guarantees checked statistically, and exactness against brute force."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from tagsmith.calibration.bands import FrequencyBands
from tagsmith.conformal.lpicp import PowersetICP, fit_powerset_icp
from tagsmith.conformal.risk import RecallControl, fit_recall_control
from tagsmith.conformal.sets import LabelSets
from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import TopK

from conftest import simulate_scores

ALPHAS = (0.05, 0.1, 0.2)


# -- recall control -------------------------------------------------------------------------
def crc_reference(y, probs, alpha):
    """Brute force: the largest candidate t with (n R(t) + 1) / (n + 1) <= alpha."""
    y = np.asarray(y.toarray(), bool)
    labelled = y.any(axis=1)
    y, probs = y[labelled], probs[labelled]
    n = len(y)
    candidates = sorted(set(probs[y].tolist())) + [np.inf]
    best = -np.inf
    for t in candidates:
        risk = np.mean([np.sum(y[i] & (probs[i] < t)) / y[i].sum() for i in range(n)])
        if (n * risk + 1) / (n + 1) <= alpha:
            best = t
    return best


@pytest.mark.parametrize("seed", range(4))
def test_crc_threshold_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    probs = np.round(rng.random((60, 7)), 2).astype(np.float32)  # ties, as stored
    y = sp.csr_matrix(rng.random((60, 7)) < probs)
    crc = fit_recall_control(y, TopK.from_scores(probs, 7))
    for alpha in (0.02, 0.1, 0.3, 0.6):
        assert crc.thresholds(alpha)[0] == crc_reference(y, probs, alpha), alpha


@pytest.mark.parametrize("n", [9, 48, 97, 102])
def test_crc_alpha_of_one_over_n_plus_one_allows_no_miss_not_every_label(n):
    """alpha = 1/(n+1) with n labelled documents: (0 + 1) / (n + 1) <= alpha, so the
    threshold is the lowest true-label score (no miss allowed), not -inf (every label).
    1/49 * 49 is 0.9999999999999999 in floats; that alpha was read as too small."""
    rng = np.random.default_rng(n)
    probs = np.round(rng.random((n, 5)), 2).astype(np.float32)
    dense = rng.random((n, 5)) < probs
    dense[~dense.any(axis=1), 0] = True  # every document labelled
    y = sp.csr_matrix(dense)
    topk = TopK.from_scores(probs, 5)
    crc = fit_recall_control(y, topk)
    lowest = float(probs[dense].min())
    assert crc.thresholds(1 / (n + 1))[0] == lowest
    assert crc.predict(topk, 1 / (n + 1)).size.min() < 5  # not every label
    assert crc.thresholds(1 / (n + 1) * 0.999)[0] == -np.inf  # below it: every label


def split_halves(n, rng):
    order = rng.permutation(n)
    return order[: n // 2], order[n // 2:]


@pytest.fixture(scope="module")
def calibrated_data():
    y, true_p, _ = simulate_scores(8000, 40, seed=11, priors=np.geomspace(0.25, 0.01, 40),
                                   distort=False)
    return y, TopK.from_scores(true_p, 40)


def test_an_alpha_far_too_small_asks_for_a_readable_number_of_documents():
    """alpha 1e-300 asked to "calibrate on at least 99999999999899988493...", every
    one of the 300 digits of 1/alpha - 1 as an int, in a warning line of 541 characters."""
    from tagsmith.pipeline.confidence import ConformalModel

    scores = np.random.default_rng(0).random((6, 3))
    recall = fit_recall_control(sp.csr_matrix(scores > 0.5), TopK.from_scores(scores, 3))
    model = ConformalModel(recall, None, None, alpha=0.1, n_docs=6)
    assert "calibrate on at least 1e+300 such documents," in model.alpha_too_small(1e-300)
    assert "calibrate on at least 999 such documents," in model.alpha_too_small(0.001)


def test_recall_guarantee_holds_over_random_splits(calibrated_data):
    """Mean test recall over 30 re-splits is within a point of 1 - alpha, each split close."""
    y, probs = calibrated_data
    rng = np.random.default_rng(0)
    recalls = {alpha: [] for alpha in ALPHAS}
    for _ in range(30):
        cal, test = split_halves(len(probs), rng)
        crc = fit_recall_control(y[cal], probs[cal])
        for alpha in ALPHAS:
            recall = crc.predict(probs[test], alpha).recall(y[test])
            recalls[alpha].append(np.nanmean(recall))
    for alpha, values in recalls.items():
        assert abs(np.mean(values) - (1 - alpha)) < 0.01, (alpha, np.mean(values))
        assert min(values) > 1 - alpha - 0.03, (alpha, min(values))


def test_sets_reach_beyond_the_topk_through_the_tail(calibrated_data):
    """With only 3 of 40 labels listed, small alphas pull tail labels in and still hold."""
    y, probs = calibrated_data
    head = probs.head(3)
    # tail probability: the rate of true labels among unlisted ones, per label
    listed = head.to_csr().astype(bool)
    missed = np.asarray((y.astype(bool) > listed).sum(axis=0)).ravel()
    tail = missed / (len(head) - np.asarray(listed.sum(axis=0)).ravel())
    rng = np.random.default_rng(1)
    means = []
    for _ in range(10):
        cal, test = split_halves(len(head), rng)
        crc = fit_recall_control(y[cal], head[cal], tail=tail)
        sets = crc.predict(head[test], 0.05)
        means.append(np.nanmean(sets.recall(y[test])))
        assert sets.tail_in.any()
        dense = sets.to_csr().toarray()
        assert np.array_equal(dense.sum(axis=1), sets.size)
        assert all(set(np.flatnonzero(dense[i])) == set(sets.labels(i)) for i in range(20))
    assert abs(np.mean(means) - 0.95) < 0.012
    # without tail probabilities the only way to 95% is every label
    crc = fit_recall_control(y, head)
    assert crc.thresholds(0.05)[0] == -np.inf
    assert crc.predict(head[:5], 0.05).size.tolist() == [40] * 5


def band_recall(sets, y, labels):
    """Mean recall over documents with a true label among ``labels``."""
    restricted = sp.csr_matrix(y.toarray() * np.isin(np.arange(y.shape[1]), labels))
    return np.nanmean(sets.recall(restricted))


def test_mondrian_gives_each_band_its_guarantee():
    """Rare labels with weak evidence are under-covered by one threshold, not per band."""
    n_labels = 30
    priors = np.r_[np.full(20, 0.15), np.full(10, 0.01)]
    y, p_strong, _ = simulate_scores(12000, n_labels, seed=21, priors=priors, separation=3.0,
                                     distort=False)
    _, p_weak, _ = simulate_scores(12000, n_labels, seed=21, priors=priors, separation=1.0,
                                   distort=False)
    probs = np.c_[p_strong[:, :20], p_weak[:, 20:]]
    topk = TopK.from_scores(probs, n_labels)
    bands = FrequencyBands(np.r_[np.ones(20), np.zeros(10)].astype(int), np.array([0, 5, 10**9]))
    rare = np.arange(20, 30)
    rng = np.random.default_rng(2)
    plain, mondrian = [], []
    for _ in range(8):
        cal, test = split_halves(len(topk), rng)
        plain_sets = fit_recall_control(y[cal], topk[cal]).predict(topk[test], 0.1)
        band_sets = fit_recall_control(y[cal], topk[cal], bands=bands).predict(topk[test], 0.1)
        plain.append(band_recall(plain_sets, y[test], rare))
        mondrian.append([band_recall(band_sets, y[test], rare),
                         band_recall(band_sets, y[test], np.arange(20))])
    assert np.mean(plain) < 0.8  # one threshold sacrifices the rare band
    assert np.all(np.abs(np.mean(mondrian, axis=0) - 0.9) < 0.02)


def test_abstain_flags_large_or_unsure_sets(calibrated_data):
    y, probs = calibrated_data
    crc = fit_recall_control(y[:4000], probs[:4000])
    sets = crc.predict(probs[4000:], 0.05, max_set_size=4)
    assert np.array_equal(sets.abstain, sets.size > 4)
    unsure = crc.predict(probs[4000:], 0.2, max_set_size=100, min_confidence=0.9)
    assert np.array_equal(unsure.abstain, probs[4000:].scores[:, 0] < 0.9)
    summary = sets.summary(y[4000:])
    assert summary["n_docs"] == 4000 and 0 < summary["abstain_rate"] < 1


def test_label_sets_print_a_short_summary_not_their_arrays(calibrated_data):
    """The dataclass repr printed the top-k, the masks and every size: thousands of
    lines at a prompt for a batch of 4,000 documents."""
    y, probs = calibrated_data
    sets = fit_recall_control(y[:4000], probs[:4000]).predict(probs[4000:], 0.1,
                                                              max_set_size=4)
    text = repr(sets)
    assert text == (f"LabelSets(n_docs=4000, n_labels={probs.n_labels}, "
                    f"mean_set_size={sets.size.mean():.4g}, "
                    f"n_abstain={int(sets.abstain.sum())}, alpha=0.1, method='recall')")
    assert "array" not in text and "\n" not in text


@pytest.mark.parametrize("crafted", ["indptr", "weights"])
def test_recall_control_state_must_pair_its_offsets_scores_and_weights(calibrated_data,
                                                                       crafted):
    # a crafted state loaded, then failed with an IndexError when thresholds were computed
    y, probs = calibrated_data
    bands = FrequencyBands.from_counts(np.asarray(y.sum(axis=0)).ravel(), 3)
    meta, arrays = fit_recall_control(y[:2000], probs[:2000], bands=bands).to_state()
    if crafted == "indptr":
        indptr = arrays["indptr"].copy()
        indptr[-1] += 5
        bad = {**arrays, "indptr": indptr}
        message = "indptr ends at"
    else:
        bad = {**arrays, "weights": arrays["weights"][:-5]}
        message = "not one weight per score"
    with pytest.raises(ValueError, match=message):
        RecallControl.from_state(meta, bad)


def test_recall_control_round_trip_and_errors(calibrated_data):
    y, probs = calibrated_data
    bands = FrequencyBands.from_counts(np.asarray(y.sum(axis=0)).ravel(), 3)
    crc = fit_recall_control(y[:2000], probs[:2000], bands=bands)
    again = RecallControl.from_state(*crc.to_state())
    np.testing.assert_array_equal(again.thresholds(0.1), crc.thresholds(0.1))
    assert again.mondrian
    for bad in (0, 1, -0.1, "x"):
        with pytest.raises(InvalidParameterError, match="alpha"):
            crc.thresholds(bad)
    with pytest.raises(InvalidParameterError, match="tail"):
        fit_recall_control(y, probs, tail=np.zeros(3))


# -- LP-ICP ---------------------------------------------------------------------------------
def brute_force_sets(icp_scores, probs, epsilon):
    """Every label set with p-value > epsilon, by enumerating all 2^L of them."""
    q = icp_scores.size
    n_labels = probs.size
    out = []
    for bits in itertools.product([0, 1], repeat=n_labels):
        candidate = np.array(bits, dtype=float)
        score = np.abs(candidate - probs).sum()
        p_value = (np.sum(icp_scores >= score - 1e-9) + 1) / (q + 1)
        if p_value > epsilon:
            out.append((p_value, frozenset(np.flatnonzero(candidate).tolist())))
    return out


@pytest.mark.parametrize("epsilon", [0.05, 0.1, 0.2, 0.5])
def test_pruned_lpicp_equals_brute_force(epsilon):
    rng = np.random.default_rng(int(epsilon * 100))
    n_labels = 8
    probs = rng.beta(0.5, 0.5, (260, n_labels))  # many labels near 0 and 1, some uncertain
    y = sp.csr_matrix(rng.random(probs.shape) < probs)
    topk = TopK.from_scores(probs, n_labels)
    icp = fit_powerset_icp(y[:200], topk[:200])
    sets = icp.predict(topk[200:], epsilon)
    dense = sets.probabilities
    for i in range(60):
        brute = brute_force_sets(icp.scores, dense[i], epsilon)
        assert sets.n_sets[i] == len(brute)
        assert sets.empty[i] == (not brute)
        members = {s for _, s in brute}
        listed = {frozenset(labels.tolist()) for labels in sets.label_sets(i, limit=10_000)}
        assert listed == members
        if brute:
            union = set().union(*members)
            inter = set.intersection(*map(set, members))
            assert set(np.flatnonzero(sets.possible[i])) == union
            assert set(np.flatnonzero(sets.certain[i])) == inter
            p_sorted = sorted((p for p, _ in brute), reverse=True)
            assert sets.credibility[i] == pytest.approx(p_sorted[0])
            if len(p_sorted) > 1:
                assert sets.confidence[i] == pytest.approx(1 - p_sorted[1])


@pytest.mark.parametrize("epsilon", [0.29, 0.57, 0.58])
def test_lpicp_threshold_survives_rounding_of_epsilon_times_q_plus_one(epsilon):
    # 0.29 * 100 = 28.999999999999996 in floats: m was floored to 28, one short, and a
    # label set whose p-value is exactly epsilon (29 / 100) was in the set
    q = 99
    assert epsilon * (q + 1) < round(epsilon * (q + 1))  # the rounding this is about
    m = round(epsilon * (q + 1))
    icp = PowersetICP(np.array([0, q]), np.arange(q, dtype=np.float64), n_labels=2)
    threshold = icp.thresholds(epsilon)[0]
    assert threshold == q - m  # the m-th largest calibration score
    # consistent with the p-values: a score at the threshold is above epsilon, the next not
    p = icp.p_values(np.array([[threshold], [threshold + 0.5]]))[:, 0]
    assert p[0] > epsilon and not p[1] > epsilon
    rng = np.random.default_rng(3)
    probs = rng.beta(0.5, 0.5, (q + 40, 6))
    y = sp.csr_matrix(rng.random(probs.shape) < probs)
    fitted = fit_powerset_icp(y[:q], TopK.from_scores(probs, 6)[:q])
    sets = fitted.predict(TopK.from_scores(probs, 6)[q:], epsilon)
    for i in range(40):
        assert sets.n_sets[i] == len(brute_force_sets(fitted.scores, sets.probabilities[i],
                                                      epsilon))


@pytest.mark.parametrize("per_band", [False, True])
def test_lpicp_label_sets_with_a_limit_are_the_most_credible(per_band):
    # DFS order listed every single flip before any pair, and the product over bands
    # exhausted the last band first: a limit returned sets less credible than ones left out
    rng = np.random.default_rng(5)
    n_labels = 8
    probs = rng.beta(0.5, 0.5, (400, n_labels))
    y = sp.csr_matrix(rng.random(probs.shape) < probs)
    bands = FrequencyBands(np.repeat([0, 1], 4), np.array([0, 10, 10**9])) if per_band else None
    icp = fit_powerset_icp(y[:300], TopK.from_scores(probs[:300], n_labels), bands=bands)
    test = np.array([[0.45, 0.44, 0.43, 0.40, 0.62, 0.38, 0.58, 0.36]])
    sets = icp.predict(TopK.from_scores(test, n_labels), 0.01)
    every = sets.label_sets(0, limit=10_000)
    assert len(every) == sets.n_sets[0] > 12

    def cost(labels):
        chosen = np.zeros(n_labels)
        chosen[labels] = 1.0
        return float(np.abs(chosen - test[0]).sum())

    cheapest = sorted(cost(labels) for labels in every)
    for limit in (1, 5, 12):
        got = [cost(labels) for labels in sets.label_sets(0, limit=limit)]
        assert got == pytest.approx(cheapest[:limit])


def test_powerset_sets_print_a_short_summary_not_their_arrays():
    """The dataclass repr printed the fitted ICP and seven n x n_labels arrays."""
    y, true_p, _ = simulate_scores(4000, 10, seed=5, priors=np.geomspace(0.3, 0.03, 10),
                                   distort=False)
    topk = TopK.from_scores(true_p, 10)
    sets = fit_powerset_icp(y[:2000], topk[:2000]).predict(topk[2000:], 0.1, max_set_size=3)
    text = repr(sets)
    assert text == (f"PowersetSets(n_docs=2000, n_labels=10, "
                    f"mean_n_sets={sets.n_sets.mean():.4g}, n_empty={int(sets.empty.sum())}, "
                    f"n_abstain={int(sets.abstain.sum())}, epsilon=0.1)")
    assert "array" not in text and "\n" not in text


def test_lpicp_summary_names_its_significance_alpha_as_the_other_methods_do():
    """The LP-ICP summary (``eval --calibration --json``'s sets, ``evaluate_confidence``)
    said ``epsilon`` where recall and mondrian say ``alpha``: a reader of the report
    looked for ``alpha`` in vain. Both are there (``epsilon`` for older readers)."""
    y, true_p, _ = simulate_scores(600, 5, seed=3, priors=np.geomspace(0.3, 0.05, 5),
                                   distort=False)
    topk = TopK.from_scores(true_p, 5)
    sets = fit_powerset_icp(y[:300], topk[:300]).predict(topk[300:], 0.2)
    recall = fit_recall_control(y[:300], topk[:300]).predict(topk[300:], 0.2)
    summary = sets.summary(y[300:])
    assert summary["alpha"] == summary["epsilon"] == recall.summary(y[300:])["alpha"] == 0.2


def test_lpicp_coverage_and_uniform_p_values():
    y, true_p, _ = simulate_scores(6000, 10, seed=31, priors=np.geomspace(0.3, 0.03, 10),
                                   distort=False)
    topk = TopK.from_scores(true_p, 10)
    rng = np.random.default_rng(3)
    coverage = {eps: [] for eps in ALPHAS}
    for _ in range(20):
        cal, test = split_halves(len(topk), rng)
        icp = fit_powerset_icp(y[cal], topk[cal])
        for eps in ALPHAS:
            coverage[eps].append(icp.predict(topk[test], eps).covers(y[test]).mean())
    for eps, values in coverage.items():
        assert abs(np.mean(values) - (1 - eps)) < 0.01, (eps, np.mean(values))
        assert min(values) > 1 - eps - 0.03
    # p-values of the true label sets are uniform
    icp = fit_powerset_icp(y[:3000], topk[:3000])
    from tagsmith.conformal.lpicp import dense_probabilities

    scores = icp.nonconformity(dense_probabilities(topk[3000:]), y[3000:].toarray())
    assert stats.kstest(icp.p_values(scores)[:, 0], "uniform").pvalue > 0.01


def test_lpicp_per_band_covers_each_band():
    y, true_p, _ = simulate_scores(6000, 9, seed=41, priors=np.geomspace(0.3, 0.02, 9),
                                   distort=False)
    topk = TopK.from_scores(true_p, 9)
    bands = FrequencyBands(np.repeat([2, 1, 0], 3), np.array([0, 10, 100, 10**9]))
    icp = fit_powerset_icp(y[:3000], topk[:3000], bands=bands)
    sets = icp.predict(topk[3000:], 0.1)
    y_test = y[3000:].toarray()
    dense = sets.probabilities
    thresholds = icp.thresholds(0.1)
    for band in range(3):
        labels = np.flatnonzero(bands.band_of == band)
        score = np.abs(y_test[:, labels] - dense[:, labels]).sum(axis=1)
        assert abs(np.mean(score <= thresholds[band] + 1e-9) - 0.9) < 0.025
    assert sets.covers(y[3000:]).mean() > 1 - 3 * 0.1 - 0.02
    again = PowersetICP.from_state(*icp.to_state())
    assert np.array_equal(again.predict(topk[3000:], 0.1).n_sets, sets.n_sets)


def test_lpicp_per_band_confidence_is_that_of_the_second_most_credible_set():
    # a label set's p-value is its smallest over the bands (as credibility says); the
    # runner-up flips one band's cheapest label, so its p-value is also capped by the
    # other bands' p-values: taking the largest per-band runner-up overstated it
    rng = np.random.default_rng(7)
    n_labels = 6
    probs = rng.beta(0.5, 0.5, (300, n_labels))
    y = sp.csr_matrix(rng.random(probs.shape) < probs)
    bands = FrequencyBands(np.repeat([0, 1], 3), np.array([0, 10, 10**9]))
    icp = fit_powerset_icp(y[:200], TopK.from_scores(probs[:200], n_labels), bands=bands)
    sets = icp.predict(TopK.from_scores(probs[200:], n_labels), 0.1)
    candidates = np.array(list(itertools.product([0.0, 1.0], repeat=n_labels)))
    for i in range(len(sets)):
        scores = icp.nonconformity(np.repeat(sets.probabilities[i:i + 1], len(candidates), 0),
                                   candidates)
        p_sorted = np.sort(icp.p_values(scores).min(axis=1))[::-1]
        assert sets.credibility[i] == pytest.approx(p_sorted[0])
        assert sets.confidence[i] == pytest.approx(1 - p_sorted[1])


def test_lpicp_needs_every_label():
    y = sp.csr_matrix(np.eye(5, dtype=bool))
    with pytest.raises(InvalidParameterError, match="small label spaces"):
        fit_powerset_icp(y, TopK.from_scores(np.random.default_rng(0).random((5, 5)), 3))


def test_a_listed_label_is_judged_by_its_own_probability_not_its_tail():
    probs = TopK(np.array([[0, 2], [1, 0]]), np.array([[0.9, 0.1], [0.8, 0.6]], np.float32), 3)
    y = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 1]], dtype=bool))
    tail = np.array([0.0, 0.0, 0.5])  # label 2 is likely whenever it is not listed
    crc = fit_recall_control(y, probs, tail=tail)
    assert crc.thresholds(0.99)[0] == np.float32(0.9)  # only the surest label survives
    crc_sets = crc.predict(probs, 0.4)
    t = crc_sets.thresholds[0]
    assert t == 0.5  # the tail label enters where it is not listed, not where it is
    expected = [{lab for lab, p in zip(row, score, strict=True) if p >= t}
                | ({2} if tail[2] >= t and 2 not in row else set())
                for row, score in zip(probs.indices.tolist(), probs.scores.tolist(), strict=True)]
    dense = crc_sets.to_csr().toarray()
    assert [set(np.flatnonzero(r)) for r in dense] == expected
    assert [set(crc_sets.labels(i).tolist()) for i in range(2)] == expected
    assert crc_sets.size.tolist() == [len(e) for e in expected]
    assert expected == [{0}, {0, 1, 2}]


def test_recall_control_refuses_a_nan_tail():
    topk = TopK.from_scores(np.array([[0.9, 0.2, 0.1], [0.4, 0.8, 0.3]]), 2)
    y = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]]))
    with pytest.raises(InvalidParameterError, match="parameter 'tail'"):
        fit_recall_control(y, topk, tail=[0.01, np.nan, 0.01])


@pytest.mark.parametrize("fit, k, what", [(fit_recall_control, 2, "a recall control"),
                                           (fit_powerset_icp, 3, "a powerset ICP")])
def test_conformal_fits_refuse_no_document_naming_y_true(fit, k, what):
    # a recall control fitted on nothing put every label in every set, silently
    empty = TopK.from_scores(np.zeros((0, 3)), k=k)
    with pytest.raises(InvalidParameterError, match="'y_true' must be the labels of at least "
                       f"one held-out document to fit {what} on, got '0 documents'"):
        fit(sp.csr_matrix((0, 3)), empty)


def test_recall_control_refuses_another_topk_width_than_calibrated():
    # calibrated on top-3 probabilities: a top-2 sends true labels the calibration saw
    # at their own probability to the tail, a top-4 scores by its own probability a
    # label the calibration scored by its tail; the recall guarantee silently lapses
    scores = np.array([[0.9, 0.6, 0.3, 0.1], [0.8, 0.5, 0.4, 0.2], [0.7, 0.6, 0.5, 0.1]])
    y = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 0, 0]]))
    tail = np.full(4, 0.05)
    for bands in (None, FrequencyBands(np.array([0, 0, 1, 1]), np.array([0, 5, 10]))):
        crc = fit_recall_control(y, TopK.from_scores(scores, 3), tail=tail, bands=bands)
        assert crc.k == 3
        for k in (2, 4):
            with pytest.raises(InvalidParameterError, match=r"parameter 'topk' must be exactly "
                               rf"the calibration width of 3 candidates.*got 'a top-{k}'"):
                crc.predict(TopK.from_scores(scores, k), 0.5)
        assert len(crc.predict(TopK.from_scores(scores, 3), 0.5)) == 3


def test_recall_guarantee_needs_the_calibration_width_not_a_wider_one():
    """Sets of a wider top-k than calibrated miss far more than alpha, so they are refused.

    The calibrator and the recall control are fitted on the model's top-3 of 40 labels
    (a true label outside it scores its tail probability). At the calibration width the
    test documents miss about alpha of their true labels; at the full width, labels below
    the top 3 score their own (isotonic, extrapolated) probability, mostly below their
    tail, and the same threshold misses about 25% (accepted before, silently).
    """
    from tagsmith.calibration.scaling import fit_calibrator

    rng = np.random.default_rng(0)
    n_labels, k, alpha, n = 40, 3, 0.1, 1500
    y = rng.random((3 * n, n_labels)) < np.linspace(0.3, 0.01, n_labels)
    raw = 1 / (1 + np.exp(-(rng.normal(size=y.shape) + 1.2 * y - 1)))
    labels = sp.csr_matrix(y)
    fit, conf, test = np.arange(n), np.arange(n, 2 * n), np.arange(2 * n, 3 * n)
    calibrator = fit_calibrator(labels[fit], TopK.from_scores(raw[fit], k), method="isotonic")
    crc = fit_recall_control(labels[conf], calibrator.apply(TopK.from_scores(raw[conf], k)),
                             tail=calibrator.tail)
    narrow = crc.predict(calibrator.apply(TopK.from_scores(raw[test], k)), alpha)
    assert np.nanmean(1 - narrow.recall(labels[test])) < alpha + 0.02  # the guarantee
    wide = calibrator.apply(TopK.from_scores(raw[test], n_labels))
    dense = np.zeros(y[test].shape)
    np.put_along_axis(dense, wide.indices.astype(np.int64), wide.scores, 1)
    caught = y[test] & (dense >= crc.thresholds(alpha)[0])  # what the wide sets would be
    labelled = y[test].any(axis=1)
    missed = 1 - caught.sum(axis=1)[labelled] / y[test].sum(axis=1)[labelled]
    assert missed.mean() > alpha + 0.08  # far past the promise: no width but k is safe
    with pytest.raises(InvalidParameterError, match="exactly the calibration width of 3"):
        crc.predict(wide, alpha)


# -- listing a set's most probable members -----------------------------------------------------
def ranked_reference(sets, tail, max_members):
    """Brute force: every member of labels(), scored, stably sorted, then cut."""
    out = []
    for i in range(len(sets)):
        ids = sets.labels(i)
        own = dict(zip(sets.topk.indices[i].tolist(), sets.topk.scores[i].tolist(),
                       strict=True))
        probs = np.array([own.get(j, tail[j]) if n < sets.topk.k else tail[j]
                          for n, j in enumerate(ids.tolist())], dtype=np.float64)
        order = np.argsort(-probs, kind="stable")[:max_members]
        out.append([(int(ids[j]), float(probs[j])) for j in order])
    return out


@pytest.mark.parametrize("seed", range(3))
def test_ranked_members_match_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    probs = np.round(rng.random((80, 30)), 1).astype(np.float32)  # many ties
    topk = TopK.from_scores(probs, 6)
    tail = np.round(rng.random(30) * 0.5, 1)  # ties with each other and the listed ones
    y = sp.csr_matrix(rng.random((80, 30)) < probs)
    crc = fit_recall_control(y, topk, tail=tail)
    for alpha in (0.02, 0.1, 0.4):
        sets = crc.predict(topk, alpha)
        for max_members in (1, 4, 10, 100):
            got = [[(int(j), float(p)) for j, p in zip(*row, strict=True)]
                   for row in sets.ranked_members(tail, max_members)]
            assert got == ranked_reference(sets, tail, max_members), (alpha, max_members)


def test_listing_sets_does_not_rank_the_label_space_per_document(monkeypatch):
    """suggest_sets ranked every document's whole set (labels(): a pass over the label
    space and a sort of every tail member) to list its best few: 200 documents whose sets
    hold all 100,000 labels took seconds to list 3 members each. Listing now ranks the
    tail once per batch; the per-document pass (``LabelSets.labels``) is not used."""
    from tagsmith.calibration.scaling import Calibrator
    from tagsmith.conformal.sets import LabelSets
    from tagsmith.data.labelspace import Label, LabelSpace
    from tagsmith.pipeline.classifier import TextClassifier

    rng = np.random.default_rng(0)
    n_labels, n_docs, k = 4_000, 50, 10
    topk = TopK.from_scores(rng.random((n_docs, 40)), k)
    topk = TopK(topk.indices * 100 + np.arange(k), topk.scores, n_labels)
    tail = rng.random(n_labels) * 0.01
    tail_in = np.ones(n_labels, bool)  # a small alpha: every label joins from the tail
    in_set, size, abstain = topk.scores >= 0.5, np.full(n_docs, n_labels), np.ones(n_docs, bool)
    sets = LabelSets(topk, in_set, tail_in, size, abstain, alpha=0.01, method="recall")
    # listing reads the classifier's labels and tail probabilities, nothing else of it
    clf = object.__new__(TextClassifier)
    clf.label_space = LabelSpace([Label(f"u:{i}") for i in range(n_labels)])
    clf.calibrator = Calibrator("platt", "identity", FrequencyBands.single(n_labels), tail,
                                tail, 100, k, 30.0, np.tile([1.0, 0.0], (n_labels, 1)))
    clf.label_shift = None
    few = LabelSets(topk[:3], in_set[:3], tail_in, size[:3], abstain[:3], alpha=0.01,
                    method="recall")
    expected = ranked_reference(few, tail, 3)

    def scan(self, i):
        raise AssertionError("a pass over the whole label space per document")

    monkeypatch.setattr(LabelSets, "labels", scan)
    listed = clf._document_sets(sets, "recall", "en", 3)
    assert all(d.size == n_labels for d in listed)
    assert [[(s.label_id, s.score) for s in d.labels] for d in listed[:3]] == expected


@pytest.mark.parametrize("tail_label", [None, 3])
def test_materialised_sets_have_sorted_column_indices(tail_label):
    """Without a tail label the CSR held each row's members in top-k order (best first):
    scipy consumers expect sorted indices (has_canonical_format)."""
    from tagsmith.conformal.sets import LabelSets

    probs = TopK.from_scores(np.array([[0.1, 0.4, 0.9, 0.0], [0.8, 0.2, 0.7, 0.0]]), k=3)
    tail_in = np.zeros(4, bool)
    if tail_label is not None:
        tail_in[tail_label] = True
    in_set = probs.scores >= 0.15
    sets = LabelSets(probs, in_set, tail_in, in_set.sum(axis=1) + tail_in.sum(),
                     np.zeros(2, bool), alpha=0.1, method="recall")
    csr = sets.to_csr()
    assert csr.has_canonical_format and csr.dtype == bool
    csr.has_sorted_indices = False  # make scipy check the arrays themselves
    csr.sort_indices()
    expected = [[0, 1, 1, 0], [1, 1, 1, 0]]
    if tail_label is not None:
        expected = [row[:3] + [1] for row in expected]
    assert sets.to_csr().indices.tolist() == csr.indices.tolist()
    assert csr.toarray().astype(int).tolist() == expected


@pytest.mark.parametrize("mondrian", [False, True])
def test_an_excluded_label_is_in_no_set_and_out_of_the_calibration(mondrian):
    """A label the model never learnt scores every document the same (0.026 on a walk);
    its held-out positives pulled the threshold below that score, and it was in every
    set (70 of 70). Excluded, it is in none, listed or from the tail, and the
    thresholds are those fitted without its positives: the guarantee is of the others."""
    rng = np.random.default_rng(3)
    n = 300
    scores = rng.random((n, 4)).astype(np.float32)
    scores[:, 3] = 0.026  # never learnt: the same score for every document
    y = sp.lil_matrix((n, 4), dtype=bool)
    for i in range(n):
        y[i, int(np.argmax(scores[i, :3]))] = True
        if i % 4 == 0:
            y[i, 3] = True
    y = y.tocsr()
    probs = TopK.from_scores(scores, 3)
    tail = np.array([0.01, 0.01, 0.01, 0.026])  # unlisted u:3 scores its constant
    bands = FrequencyBands.from_counts(np.array([50, 40, 30, 0]), 2) if mondrian else None
    left_in = fit_recall_control(y, probs, tail=tail, bands=bands)
    assert left_in.predict(probs, 0.1).to_csr()[:, 3].nnz == n  # the defect: every set
    exclude = np.array([False, False, False, True])
    crc = fit_recall_control(y, probs, tail=tail, bands=bands, exclude=exclude)
    sets = crc.predict(probs, 0.1)
    assert sets.to_csr()[:, 3].nnz == 0 and not sets.tail_in[3]
    without = y.tolil()
    without[:, 3] = False
    reference = fit_recall_control(without.tocsr(), probs, tail=tail, bands=bands)
    np.testing.assert_array_equal(crc.thresholds(0.1), reference.thresholds(0.1))
    # recall of the labels not excluded meets the target on these documents
    assert np.nanmean(sets.recall(without.tocsr())) >= 0.9 - 1e-9
    again = RecallControl.from_state(*crc.to_state())
    np.testing.assert_array_equal(again.excluded, exclude)
    assert again.predict(probs, 0.1).to_csr()[:, 3].nnz == 0
    # saved without it (bundles calibrated before): none excluded
    meta, arrays = left_in.to_state()
    assert "excluded" not in arrays and RecallControl.from_state(meta, arrays).excluded is None
    meta, arrays = crc.to_state()
    with pytest.raises(ValueError, match="excluded is not one boolean per label"):
        RecallControl.from_state(meta, {**arrays, "excluded": np.zeros(3, bool)})
    with pytest.raises(InvalidParameterError, match="parameter 'exclude'"):
        fit_recall_control(y, probs, exclude=np.zeros(3, bool))
    with pytest.raises(InvalidParameterError, match="not excluded"):
        fit_recall_control(y.multiply(sp.csr_matrix(exclude)).tocsr(), probs,
                           exclude=exclude)  # only the excluded label's positives


@pytest.mark.parametrize("y_true, expected", [
    (np.zeros((6, 4, 1)), "2-D label matrix"),
    ([[0, 1], [1]], "sparse or dense 2-D label matrix"),
    (np.array([[0, 1, 0, 2]] * 6), "labels 0 or 1"),
    (np.array([[0, 1, 0, np.nan]] * 6), "labels 0 or 1"),
    (np.array([[0, 1, 0, -1]] * 6), "labels 0 or 1"),
])
def test_excluding_labels_checks_y_true_as_without(y_true, expected):
    """With exclude, y_true went through scipy alone before the package's check: a 3-D
    or ragged one raised scipy's ValueError naming nothing, and a 2, NaN or -1 of the
    excluded label was dropped unchecked (the same y_true was refused without exclude).
    Refused alike either way now, naming y_true."""
    probs = TopK.from_scores(np.random.default_rng(0).random((6, 4)), 3)
    exclude = np.array([False, False, False, True])
    for mask in (None, exclude):
        with pytest.raises(InvalidParameterError, match=f"parameter 'y_true'.*{expected}"):
            fit_recall_control(y_true, probs, exclude=mask)


def test_a_band_of_excluded_labels_alone_is_not_warned_of_as_without_documents():
    """A frequency band holding only labels never trained (excluded: in no set) has no
    calibration document once their positives are left out. Its labels are in no set,
    so it is not the band 'every mondrian set holds every label of' that the warning
    says; a band of labels the model learnt without documents still is."""
    from tagsmith.pipeline.confidence import ConformalModel

    rng = np.random.default_rng(1)
    scores = rng.random((200, 4))
    scores[:, 0] = 0.02  # never trained: one score for every document
    y = rng.random((200, 4)) < 0.4
    y[:, 1] |= ~y.any(axis=1)
    probs = TopK.from_scores(scores, 4)
    bands = FrequencyBands(np.array([0, 1, 1, 1]), np.array([0, 1, 10 ** 9]))
    exclude = np.array([True, False, False, False])
    recall = fit_recall_control(sp.csr_matrix(y), probs, exclude=exclude)
    mondrian = fit_recall_control(sp.csr_matrix(y), probs, bands=bands, exclude=exclude)
    assert mondrian.n_docs.tolist()[0] == 0  # the excluded band: no document
    assert mondrian.predict(probs, 0.1).to_csr()[:, 0].nnz == 0
    model = ConformalModel(recall, mondrian, None, alpha=0.1, n_docs=200)
    assert model.alpha_too_small(0.1, "mondrian") is None
    # a band of a learnt label with no document is still said
    y_no_band0 = y.copy()
    y_no_band0[:, 0] = False
    y_no_band0[:, 1] |= ~y_no_band0.any(axis=1)
    learnt = fit_recall_control(sp.csr_matrix(y_no_band0), probs, bands=bands,
                                exclude=np.array([False, False, False, True]))
    model = ConformalModel(recall, learnt, None, alpha=0.1, n_docs=200)
    assert "1 of the 2 frequency bands has no conformal document" in \
        model.alpha_too_small(0.1, "mondrian")


@pytest.mark.parametrize("per_band", [False, True])
def test_an_excluded_label_is_in_no_lpicp_set_and_counts_in_no_nonconformity(per_band):
    """LP-ICP counted a never-trained label (one probability for every document, 0.4
    here) in the whole label set: its held-out positives raised every calibration score
    by 0.6, and a flip of it fitted most budgets, so it was a possible label of nearly
    every document, saying nothing of it. Excluded, it is in no label set, and the sets are
    those of an LP-ICP fitted on the other labels alone (brute force on them): the
    guarantee is of the true label set less the excluded label, as for recall sets."""
    rng = np.random.default_rng(5)
    n, n_labels = 400, 5
    probs = rng.beta(0.5, 0.5, (n, n_labels))
    probs[:, 4] = 0.4  # never trained
    y = sp.csr_matrix(rng.random(probs.shape) < probs)
    topk = TopK.from_scores(probs, n_labels)
    bands = (FrequencyBands(np.array([0, 1, 0, 1, 1]), np.array([0, 1, 10 ** 9]))
             if per_band else None)
    left_in = fit_powerset_icp(y[:300], topk[:300], bands=bands).predict(topk[300:], 0.1)
    assert left_in.possible[:, 4].mean() > 0.9  # the defect: a possible label of nearly all
    exclude = np.array([False] * 4 + [True])
    icp = fit_powerset_icp(y[:300], topk[:300], bands=bands, exclude=exclude)
    sets = icp.predict(topk[300:], 0.1)
    assert not (sets.possible[:, 4].any() or sets.certain[:, 4].any()
                or sets.predicted[:, 4].any())
    assert all(4 not in labels for i in range(len(sets)) for labels in sets.label_sets(i))
    # the same as an LP-ICP of the four other labels (band of label 4 kept, if any)
    four = TopK.from_scores(probs[:, :4], 4)
    reference = fit_powerset_icp(y[:300, :4], four[:300], bands=None if bands is None else
                                 FrequencyBands(np.array([0, 1, 0, 1]), bands.edges))
    expected = reference.predict(four[300:], 0.1)
    np.testing.assert_allclose(icp.scores, reference.scores)
    for name in ("possible", "certain", "predicted"):
        np.testing.assert_array_equal(getattr(sets, name)[:, :4], getattr(expected, name))
    np.testing.assert_array_equal(sets.n_sets, expected.n_sets)
    np.testing.assert_allclose(sets.credibility, expected.credibility)
    np.testing.assert_allclose(sets.confidence, expected.confidence)
    # coverage reads the true label set less the excluded label
    np.testing.assert_array_equal(sets.covers(y[300:]), expected.covers(y[300:, :4]))
    if not per_band:  # and the sets are exact (brute force over the kept labels)
        for i in range(20):
            brute = brute_force_sets(icp.scores, sets.probabilities[i, :4], 0.1)
            assert sets.n_sets[i] == len(brute)
    again = PowersetICP.from_state(*icp.to_state())
    np.testing.assert_array_equal(again.excluded, exclude)
    assert not again.predict(topk[300:], 0.1).possible[:, 4].any()
    meta, arrays = fit_powerset_icp(y[:300], topk[:300]).to_state()
    assert "excluded" not in arrays and PowersetICP.from_state(meta, arrays).excluded is None
    meta, arrays = icp.to_state()
    with pytest.raises(ValueError, match="LP-ICP excluded is not one boolean per label"):
        PowersetICP.from_state(meta, {**arrays, "excluded": np.zeros(3, bool)})
    with pytest.raises(InvalidParameterError, match="parameter 'exclude'"):
        fit_powerset_icp(y[:300], topk[:300], exclude=np.zeros(3, bool))


def test_set_summaries_leave_the_excluded_labels_positives_out_and_count_them():
    """eval --calibration's recall_mean counted every true label of a never-trained
    label (in no set) as a miss, so it read below 1 - alpha where the guarantee, of the
    labels the model learnt, held: it is now the recall of those, as lpicp's coverage,
    and n_untrained_positives says how many true labels were left out."""
    rng = np.random.default_rng(3)
    n = 300
    scores = rng.random((n, 4))
    scores[:, 3] = 0.026
    y = rng.random((n, 4)) < 0.3
    y[:, 0] |= ~y[:, :3].any(axis=1)  # every document a learnt label
    exclude = np.array([False, False, False, True])
    without = y & ~exclude
    recall_sets = fit_recall_control(sp.csr_matrix(y), TopK.from_scores(scores, 3),
                                     exclude=exclude).predict(TopK.from_scores(scores, 3), 0.1)
    summary = recall_sets.summary(sp.csr_matrix(y))
    assert summary["n_untrained_positives"] == int(y[:, 3].sum()) > 0
    assert summary["recall_mean"] == pytest.approx(
        np.mean(recall_sets.recall(sp.csr_matrix(without))))
    assert summary["recall_mean"] >= 0.9 - 1e-9  # the guarantee, on its documents
    counted = np.mean([(recall_sets.to_csr()[i].toarray()[0] & y[i]).sum() / y[i].sum()
                       for i in range(n)])
    assert counted < summary["recall_mean"]  # every true u:3 counted a miss before
    assert fit_recall_control(sp.csr_matrix(without), TopK.from_scores(scores, 3)).predict(
        TopK.from_scores(scores, 3), 0.1).summary(sp.csr_matrix(y))["n_untrained_positives"] == 0
    full = TopK.from_scores(scores, 4)
    powerset = fit_powerset_icp(sp.csr_matrix(y), full, exclude=exclude).predict(full, 0.1)
    summary = powerset.summary(sp.csr_matrix(y))
    assert summary["n_untrained_positives"] == int(y[:, 3].sum())
    assert summary["coverage"] == pytest.approx(powerset.covers(sp.csr_matrix(without)).mean())


@pytest.mark.parametrize("per_band", [False, True])
@pytest.mark.parametrize("exclude", [False, True])
def test_lpicp_set_sizes_agree_with_predict_without_counting_the_label_sets(per_band, exclude):
    """Calibrate's check of the sets' width read LP-ICP's possible labels and too-large
    flags from predict, which also counted every document's label sets (up to a million
    each: 22 s on 2,000 documents of 28 labels with a weak model). ``set_sizes`` gives the
    two without the count, the same as predict's at every alpha and limit."""
    from tagsmith.conformal import lpicp

    rng = np.random.default_rng(11)
    n_labels = 9
    probs = rng.beta(0.6, 0.6, (700, n_labels))
    y = sp.csr_matrix(rng.random(probs.shape) < probs)
    topk = TopK.from_scores(probs, n_labels)
    bands = (FrequencyBands(np.repeat([2, 1, 0], 3), np.array([0, 10, 100, 10**9]))
             if per_band else None)
    mask = np.arange(n_labels) == 4 if exclude else None
    icp = fit_powerset_icp(y[:400], topk[:400], bands=bands, exclude=mask)
    seen = set()
    for alpha in (0.01, 0.05, 0.1, 0.2, 0.5):
        for limit in (None, 1, 3, 6):
            counted = lpicp._count_within.cache_info()
            sizes, too_large = icp.set_sizes(topk[400:], alpha, max_set_size=limit)
            assert lpicp._count_within.cache_info() == counted  # no label set counted
            sets = icp.predict(topk[400:], alpha, max_set_size=limit)
            np.testing.assert_array_equal(sizes, sets.possible.sum(axis=1))
            assert too_large.dtype == bool
            np.testing.assert_array_equal(too_large, sets.too_large)
            seen.add((bool(too_large.any()), bool((~too_large).any()), bool(sets.empty.any())))
    # the cases compared hold too-large sets, others and empty ones
    assert any(s[0] for s in seen) and any(s[1] for s in seen) and any(s[2] for s in seen)
    with pytest.raises(InvalidParameterError, match="epsilon"):
        icp.set_sizes(topk[400:], 1.5)
    with pytest.raises(InvalidParameterError, match="small label spaces"):
        icp.set_sizes(TopK.from_scores(probs, 3), 0.1)


def depth_first_count(costs, budget, cap):
    """LP-ICP's count of label sets as it was written: one step per subset of the
    ascending flip costs whose sum fits the budget, stopping at the cap."""
    if budget < 0:
        return 0
    count, stack = 1, [(0, budget)]
    while stack and count < cap:
        start, left = stack.pop()
        for i in range(start, len(costs)):
            if costs[i] > left:
                break
            count += 1
            if count >= cap:
                break
            stack.append((i + 1, left - costs[i]))
    return min(count, cap)


def test_lpicp_counts_by_meet_in_the_middle_as_one_subset_at_a_time():
    """The count of label sets is made by meet in the middle over the 32 cheapest
    flips (a weak model's documents took a million steps each to reach the cap): the
    same counts, capped, as the depth-first count, with sums exactly at the budget
    (binary fractions), more flips than 32 (a lower bound short of the cap, counted on
    depth first), an empty budget and every cap from none reached to all."""
    from tagsmith.conformal._lpicp_kernels import count_within

    rng = np.random.default_rng(3)
    rows, budgets = [], []
    for n_flips, scale in ((28, 0.05), (28, 0.2), (40, 0.3), (40, 0.02), (12, 0.25),
                           (34, 0.125), (0, 1.0)):
        costs = np.full(44, 2.0)  # past any budget: never flipped
        costs[:n_flips] = np.round(rng.random(n_flips) * scale * 8) / 8 + scale / 8
        rows.append(np.sort(costs))
        budgets.append(np.round(scale * 8 * rng.integers(2, 6)) / 8)
    budgets += [-0.5]
    rows.append(rows[0])
    costs, budgets = np.array(rows), np.array(budgets)
    for cap in (1, 40, 5_000, 200_000):
        expected = [depth_first_count(list(c), b, cap) for c, b in
                    zip(costs, budgets, strict=True)]
        assert count_within(costs, budgets, cap).tolist() == expected
    assert len(set(expected)) > 4 and expected[-1] == 0


def test_lpicp_counts_past_32_flips_as_one_subset_at_a_time():
    """Past 32 flips that fit alone, the count visits only the subsets some flip
    extends (where the 32 cheapest counted under the cap it went on depth first, a
    step per subset up to a million): the same counts, capped, as the depth-first
    count, for counts settled before the meet in the middle, by it at the cap, and
    past it, short of the cap or at it."""
    from tagsmith.conformal._lpicp_kernels import count_within

    rng = np.random.default_rng(7)
    cap = 300_000
    rows = []
    # (flips that fit alone, about how many fit together, how alike their costs are)
    for n_flips, per, spread in ((40, 3, 1.0), (40, 64, 1.0), (60, 5, 1.0), (33, 2, 1.0),
                                 (36, 12, 1.0), (100, 4, 0.1), (100, 3.6, 0.2)):
        costs = np.full(110, 4.0)  # past any budget: never flipped
        # binary fractions: sums exact, some exactly at the budget of 1
        costs[:n_flips] = np.round((1 - spread / 2 + spread * rng.random(n_flips))
                                   * 256 / per) / 256
        rows.append(np.sort(costs))
    costs, budgets = np.array(rows), np.ones(len(rows))
    expected = [depth_first_count(list(c), b, cap) for c, b in
                zip(costs, budgets, strict=True)]
    assert count_within(costs, budgets, cap).tolist() == expected
    # every way past 32 flips is taken: settled under 2^17, by the 32 cheapest at the
    # cap, and counted on past them short of the cap and up to it
    cheapest = count_within(np.ascontiguousarray(costs[:, :32]), budgets, cap)
    counted = np.array(expected)
    assert np.any(counted < 1 << 17)
    assert np.any(cheapest >= cap)
    assert np.any((cheapest < cap) & (counted >= cap))
    assert np.any((cheapest < cap) & (counted > 1 << 17) & (counted < cap))


def test_summary_refuses_bands_over_other_labels_before_reading_the_labels():
    """``summary(y, bands=...)`` with bands over other labels than the sets' is refused
    naming ``bands``, and before the recall is computed from ``y`` (it was checked
    after: the work was lost, and a ``y`` that could not be read was named first)."""
    probs = TopK.from_scores(np.array([[0.9, 0.4, 0.1], [0.8, 0.1, 0.6]]), k=3)
    sets = LabelSets(probs, probs.scores >= 0.5, np.zeros(3, bool), np.array([1, 2]),
                     np.array([False, False]), alpha=0.1, method="recall")
    y = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1]]))
    good = FrequencyBands(np.array([1, 0, 0]), np.array([0, 10, 100]))
    rows = sets.summary(y, bands=good)["recall_by_band"]
    assert [(row["band"], row["recall_mean"]) for row in rows] == [("0-9", 0.5), ("10+", 1.0)]
    wrong = FrequencyBands(np.array([1, 0]), np.array([0, 10, 100]))
    with pytest.raises(InvalidParameterError, match="'bands'.*3 labels.*bands over 2"):
        sets.summary(y, bands=wrong)
    # labels of another shape are not read: the bands are refused first
    with pytest.raises(InvalidParameterError, match="'bands'"):
        sets.summary(sp.csr_matrix(np.ones((2, 5))), bands=wrong)
    assert "recall_by_band" not in sets.summary()


def test_summary_refuses_bands_without_labels():
    """``summary(bands=...)`` without ``y_true`` ignored the bands without a word: a
    caller who forgot the labels got no ``recall_by_band`` and no hint why. The docstring
    and the README give ``recall_by_band`` with labels only; bands alone are refused."""
    probs = TopK.from_scores(np.array([[0.9, 0.4, 0.1], [0.8, 0.1, 0.6]]), k=3)
    sets = LabelSets(probs, probs.scores >= 0.5, np.zeros(3, bool), np.array([1, 2]),
                     np.array([False, False]), alpha=0.1, method="recall")
    good = FrequencyBands(np.array([1, 0, 0]), np.array([0, 10, 100]))
    for bands in (good, FrequencyBands(np.array([1, 0]), np.array([0, 10, 100]))):
        with pytest.raises(InvalidParameterError, match="'bands' must be given with y_true"):
            sets.summary(bands=bands)
    assert sets.summary() == sets.summary(None)
    assert "recall_by_band" in sets.summary(sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1]])),
                                            bands=good)
