"""The issues step's last part ("collect") sorts the kept candidates and given pairs
by probability: it held its inputs (rows, labels, raw scores, stacked probabilities,
posteriors: 24 bytes a candidate, 11.8 million candidates on yso-finna-en) to the end,
beside the arrays it built, the audit's peak memory. It now frees each input as it is
copied: the same entries in the same order."""

import tracemalloc

import numpy as np
import pytest

from tagsmith.audit import detect
from tagsmith.audit.detect import MISSING, WRONG


def _reference(pos, cand, keep_probability):
    # every kept entry, then one sort of the whole: the order _collect promises
    keep_p, keep_c = pos[4] >= keep_probability, cand[4] >= keep_probability
    prob = np.concatenate([cand[4][keep_c], pos[4][keep_p]])
    tie = np.concatenate([-cand[2][keep_c], pos[2][keep_p]])
    doc = np.concatenate([cand[0][keep_c], pos[0][keep_p]])
    label = np.concatenate([cand[1][keep_c], pos[1][keep_p]])
    score = np.concatenate([cand[3][keep_c], pos[3][keep_p]])
    kind = np.repeat([MISSING, WRONG], [keep_c.sum(), keep_p.sum()]).astype(np.int8)
    order = np.lexsort((label, doc, tie, -prob))
    return {"doc": doc[order], "label": label[order], "kind": kind[order],
            "probability": prob[order].astype(np.float32), "score": score[order]}


def _pairs(rng, n, n_docs=50, n_labels=20):
    raw = rng.integers(0, 5, n).astype(np.float32) / 4
    raw[rng.random(n) < 0.2] = -np.inf  # pairs outside the top-k
    # few distinct probabilities: ties on the probability, the raw score, the document
    prob = rng.integers(0, 8, n) / 7.0
    prob[rng.random(n) < 0.1] = -1.0  # a blank text's pairs
    return [rng.integers(0, n_docs, n).astype(np.int32),
            rng.integers(0, n_labels, n).astype(np.int32), raw,
            rng.random(n).astype(np.float32), prob]


@pytest.mark.parametrize("seed", range(6))
def test_collect_sorts_as_one_sort_of_every_kept_entry(seed):
    rng = np.random.default_rng(seed)
    n_pos, n_cand = [(0, 0), (0, 30), (40, 0), (300, 900), (1, 1), (500, 2000)][seed]
    pos, cand = _pairs(rng, n_pos), _pairs(rng, n_cand)
    for keep in (1e-3, 0.5, 2.0):
        want = _reference(pos, cand, keep)
        got_pos, got_cand = [a.copy() for a in pos], [a.copy() for a in cand]
        got = detect._collect(got_pos, got_cand, keep)
        assert got_pos == got_cand == []  # handed over: emptied
        assert set(got) == set(want)
        for key in want:
            assert got[key].dtype == want[key].dtype, key
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_collect_frees_its_inputs_as_it_copies_them():
    # beyond its inputs (24 bytes an entry, handed over) it held 34 bytes an entry more
    # (the inputs to the end, beside the sort's keys, its order and the outputs), 16 now
    rng = np.random.default_rng(0)
    n = 400_000
    tracemalloc.start()  # before the inputs are made: what they free counts
    try:
        pos, cand = _pairs(rng, n // 10), _pairs(rng, n)
        for part in (pos, cand):
            part[4] = np.abs(part[4]) + 0.5  # every entry kept, the collect's worst case
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        out = detect._collect(pos, cand, 1e-3)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert len(out["doc"]) == n + n // 10
    assert peak / (n + n // 10) < 25, peak / (n + n // 10)


def test_the_candidates_given_flags_and_weights_take_no_memory_a_pair():
    # a missing candidate's "given" (False) and weight (1) are the same for every one:
    # held as arrays they took 5 of its 21 bytes (74 MB at 11.8 million candidates)
    from tagsmith.topk import TopK
    rng = np.random.default_rng(0)
    n, k = 20_000, 20
    topk = TopK.from_scores(rng.random((n, k + 5)).astype(np.float32), k=k)
    mask = rng.random((n, k)) < 0.8
    calibrated = rng.random((n, k)).astype(np.float32)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        cand = detect._pairs_from_topk(mask, topk, calibrated, given=False)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cand) == mask.sum()
    # rows, labels, calibrated and raw scores: 4 bytes each
    assert held / len(cand) < 16.5, held / len(cand)
    # and what is read of them is what was there
    assert not cand.given[np.arange(len(cand))].any()
    np.testing.assert_array_equal(cand.weight[::7].astype(np.float64), 1.0)
    assert cand.given.shape == cand.weight.shape == (len(cand),)
