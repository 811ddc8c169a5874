"""Robust active distillation's selection program (METHODS.md section 2 checks)."""

import numpy as np
import pytest

from tagsmith.exceptions import InvalidParameterError
from tagsmith.labeling.selection import (
    rad_closed_form,
    rad_lp,
    rad_probabilities,
    rad_value,
    select_batch,
    systematic_sample,
    teacher_error_risk,
    uncertainty_gains,
)
from tagsmith.pipeline.distill import round_sizes
from tagsmith.topk import TopK


@pytest.mark.parametrize("seed", range(8))
def test_closed_form_equals_the_lp(seed):
    rng = np.random.default_rng(seed)
    gains = rng.uniform(0.01, 1.0, 60)
    k = int(rng.integers(1, 25))
    closed = rad_closed_form(gains, 10, k)
    assert closed is not None
    assert rad_value(closed, gains, k) == pytest.approx(rad_value(rad_lp(gains, 10, k), gains, k),
                                                        abs=1e-6)


def test_closed_form_gives_documents_tied_at_the_cut_equal_probabilities():
    # where the value (m - k) c is flat along a run of equal gains, the cut m* fell
    # inside it and the stable sort gave the nonzero probabilities to the earliest
    # pool positions: [1, 1, 0.5, 0, 0.5] here, the third 0.4 never drawn
    gains = np.array([0.4, 0.4, 0.8, 0.4, 0.8])
    p = rad_closed_form(gains, 3, 1)
    np.testing.assert_allclose(p, [2 / 3, 2 / 3, 0.5, 2 / 3, 0.5], rtol=1e-12)
    assert rad_value(p, gains, 1) == pytest.approx(rad_value(rad_lp(gains, 3, 1), gains, 1))
    rng = np.random.default_rng(0)
    n_split = 0
    for _ in range(6000):  # a few distinct gains, so runs of equal ones
        gains = rng.choice(np.round(rng.uniform(1, 20, 4)) / 20, size=rng.integers(3, 12))
        budget, k = int(rng.integers(1, len(gains))), float(rng.choice([1, 1.5, 2, 3]))
        p = rad_closed_form(gains, budget, k)
        if p is None:
            continue
        taken = p > 0
        n_split += any(taken[gains == g].any() and not taken[gains == g].all()
                       for g in np.unique(gains))
        for g in np.unique(gains):
            assert np.ptp(p[gains == g]) < 1e-12, (gains, budget, k, p)
        assert p.sum() == pytest.approx(budget) and p.min() >= 0 and p.max() <= 1 + 1e-12
        assert rad_value(p, gains, k) == pytest.approx(
            rad_value(rad_lp(gains, budget, k), gains, k), abs=1e-9)
    assert n_split == 0
    # without ties, as before to the byte: c / g over the m* largest gains
    for seed in range(50):
        rng = np.random.default_rng(seed)
        gains = rng.uniform(0.01, 1.0, int(rng.integers(5, 200)))
        budget, k = int(rng.integers(1, len(gains) // 2 + 1)), int(rng.integers(1, 20))
        order = np.argsort(-gains, kind="stable")
        harmonic = np.cumsum(1.0 / gains[order])
        m = np.arange(1, len(gains) + 1)
        c = budget / harmonic
        best = int(np.argmax(np.where(m > k, (m - k) * c, -np.inf)))
        expected = np.zeros(len(gains))
        expected[order[:best + 1]] = c[best] / gains[order[:best + 1]]
        p = rad_closed_form(gains, budget, k)
        assert p is None or p.tobytes() == expected.tobytes()


def test_no_mistakes_means_top_b():
    gains = np.array([0.2, 0.9, 0.5, 0.7])
    assert rad_probabilities(gains, 2, 0).tolist() == [0, 1, 0, 1]


def test_binding_cap_falls_back_to_the_lp():
    rng = np.random.default_rng(3)
    gains = rng.uniform(0.01, 1.0, 30)
    assert rad_closed_form(gains, 25, 2) is None  # b close to n: the cap binds
    p = rad_probabilities(gains, 25, 2)
    assert p.sum() == pytest.approx(25) and p.max() <= 1 + 1e-9 and p.min() >= -1e-9
    assert rad_value(p, gains, 2) == pytest.approx(rad_value(rad_lp(gains, 25, 2), gains, 2))


@pytest.mark.parametrize("k", [0, 1, 5, 40, 100])
def test_probabilities_are_valid(k):
    gains = np.random.default_rng(k).uniform(0.01, 1.0, 80)
    p = rad_probabilities(gains, 12, k)
    assert p.sum() == pytest.approx(12) and np.all((p >= 0) & (p <= 1 + 1e-9))


def test_robust_beats_top_b_against_the_adversary():
    gains = np.random.default_rng(1).uniform(0.01, 1.0, 200)
    k = 15
    top = np.zeros(200)
    top[np.argsort(-gains)[:20]] = 1
    assert rad_value(rad_probabilities(gains, 20, k), gains, k) > rad_value(top, gains, k)


def test_systematic_sampling_matches_inclusion_probabilities():
    rng = np.random.default_rng(0)
    p = rad_probabilities(rng.uniform(0.05, 1.0, 12), 4, 2)
    counts = np.zeros(12)
    draws = 10_000
    for _ in range(draws):
        chosen = systematic_sample(p, rng)
        assert len(chosen) == 4 and len(set(chosen)) == 4
        counts[chosen] += 1
    expected = p * draws
    used = expected > 0
    chi2 = (((counts - expected)[used]) ** 2 / expected[used]).sum()
    assert chi2 < 35  # 11 degrees of freedom: p < 0.001 above ~31.3
    assert counts[~used].sum() == 0


@pytest.mark.parametrize("strategy", ["uncertainty", "robust"])
def test_top_b_draws_the_ties_at_the_cut_at_random(strategy):
    # the top gains were taken with a stable argsort: of the documents tied at the cut,
    # always the earliest in the pool were chosen, so the pool's order decided (robust
    # selection without mistakes is top-b too)
    gains = np.array([0.9, 0.95] + [0.5] * 20 + [0.1] * 10)
    counts = np.zeros(len(gains), int)
    for seed in range(400):
        chosen = select_batch(strategy, gains, 6, rng=np.random.default_rng(seed))
        assert len(chosen) == 6 and {0, 1} <= set(chosen.tolist())  # above the cut: always
        assert (np.diff(chosen) > 0).all()
        counts[chosen] += 1
    tied = counts[2:22]
    assert tied.sum() == 400 * 4 and counts[22:].sum() == 0
    # each tied document about 4/20 of the draws (80 of 400); the stable sort gave
    # 400 to the first four and 0 to the others
    assert tied.min() > 40 and tied.max() < 130
    # without a tie at the cut, as before: the top gains, the generator unused (ties
    # above the cut are all taken whatever their order)
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    gains = np.array([0.3, 0.9, 0.9, 0.2, 0.8, 0.1])
    assert select_batch(strategy, gains, 3, rng=rng).tolist() == [1, 2, 4]
    assert rng.bit_generator.state == state


def test_select_batch_strategies():
    rng = np.random.default_rng(0)
    gains = np.linspace(0.01, 1.0, 100)
    assert select_batch("uncertainty", gains, 5, rng=rng).tolist() == [95, 96, 97, 98, 99]
    robust = select_batch("robust", gains, 5, n_mistakes=20, rng=rng)
    assert len(robust) == 5 and len(set(robust)) == 5
    assert len(select_batch("random", gains, 5, rng=rng)) == 5
    assert len(select_batch("robust", gains[:3], 5, rng=rng)) == 3
    with pytest.raises(InvalidParameterError, match="strategy"):
        select_batch("greedy", gains, 5, rng=rng)
    with pytest.raises(InvalidParameterError, match="gains"):
        select_batch("robust", np.array([0.0, 0.5]), 1, rng=rng)


def test_gains():
    topk = TopK.from_scores(np.array([[0.9, 0.05, 0.05], [0.4, 0.4, 0.2], [0, 0, 0]]), k=3)
    margin = uncertainty_gains(topk)
    assert margin[1] == pytest.approx(1.0) and margin[0] < 0.3 and margin[2] == 1.0
    binary = uncertainty_gains(topk, "binary")
    assert np.all((binary > 0) & (binary <= 1))


def test_round_sizes_add_up():
    for budget in (1, 7, 500, 1999):
        for rounds in (1, 3, 5):
            assert sum(round_sizes(budget, rounds, 0.3)) == budget



def test_round_sizes_of_more_rounds_than_documents_to_choose():
    """A round beyond one per document left is empty, and dropped: its size was
    still computed, once per round asked (``label --budget 10 --rounds
    18446744073709551616`` never started). Here a million rounds list nothing for
    the rounds that cannot be filled."""
    import tracemalloc

    tracemalloc.start()
    try:
        sizes = round_sizes(10, 10 ** 6, 0.25)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sizes == round_sizes(10, 9, 0.25) == [2] + [1] * 8
    assert peak < 100_000  # a list of a million sizes takes 8 MB

_G = np.array([0.5, 0.2, 0.9, 0.1])
_T = TopK.from_scores(np.array([[0.9, 0.1], [0.2, 0.8]]), 2)


def _rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("call, name", [
    (lambda: select_batch("robust", ["a"], 2, rng=_rng()), "gains"),
    (lambda: rad_probabilities(["a", "b"], 1, 0.5), "gains"),
    (lambda: select_batch("robust", _G, 2, rng=None), "rng"),
    (lambda: select_batch("random", _G, 2, rng=3), "rng"),
    (lambda: systematic_sample(np.array([np.nan, 0.5]), _rng()), "p"),
    (lambda: systematic_sample(np.array([-1.0, 0.5, 0.5]), _rng()), "p"),
    (lambda: systematic_sample(np.full((2, 2), 0.5), _rng()), "p"),
    (lambda: systematic_sample(np.array([0.5, 0.5]), None), "rng"),
    (lambda: uncertainty_gains(np.zeros((2, 2))), "topk"),
    (lambda: teacher_error_risk(np.zeros((2, 2)), np.ones(2)), "topk"),
    (lambda: teacher_error_risk(_T, np.array([np.nan, 1.0])), "precision"),
    (lambda: teacher_error_risk(_T, np.array([2.0, 1.0])), "precision"),
    (lambda: teacher_error_risk(_T, ["a", "b"]), "precision"),
])
def test_bad_selection_inputs_are_refused_by_name(call, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        call()


def test_systematic_sample_tolerates_rounding_slips():
    # the LP's rescaling can leave a probability a hair above 1: still a valid input
    assert systematic_sample(np.array([1.0 + 1e-12, 1e-13, -1e-13]), _rng()).tolist() == [0]


@pytest.mark.parametrize("k", [3.0, 4, 7.5, 1e6])
def test_lp_with_more_mistakes_than_documents(k):
    """k above the pool made the program unbounded: rad_lp raised 'HiGHS failed on the
    selection program: The problem is unbounded' (k equal to the pool solved)."""
    gains = np.array([0.9, 0.5, 0.2])
    p = rad_lp(gains, 2, k)
    assert p.sum() == pytest.approx(2) and np.all((p >= 0) & (p <= 1 + 1e-9))
    assert rad_value(p, gains, k) == pytest.approx(0.0)
