"""Invariants of fitted calibrators on random small inputs (fixed seeds): probabilities
and tails inside [0, 1], never falling as the score rises, better calibrated than the
raw scores of a miscalibrated model, and a bundle round trip that changes nothing."""

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.calibration.reliability import expected_calibration_error
from tagsmith.calibration.scaling import Calibrator, fit_calibrator
from tagsmith.store.bundle import Bundle, BundleWriter
from tagsmith.topk import TopK

from conftest import simulate_scores

METHODS = ["platt", "isotonic", "temperature"]


def random_problem(seed: int):
    """Labels, scores and a width of a small random problem; some scores outside [0, 1]
    (identity transform), ties, labels never or always true, rows with padding."""
    rng = np.random.default_rng(seed)
    n_docs, n_labels = int(rng.integers(1, 40)), int(rng.integers(1, 8))
    k = int(rng.integers(1, n_labels + 1))
    scores = rng.random((n_docs, n_labels))
    if rng.random() < 0.3:
        scores = np.round(scores * 4) / 4  # ties
    y = rng.random((n_docs, n_labels)) < scores ** rng.uniform(0.3, 3)
    if rng.random() < 0.3:
        y[:, rng.integers(n_labels)] = rng.random() < 0.5  # never or always true
    if rng.random() < 0.3:
        scores = scores * 6 - 3  # raw margins: the identity transform
    topk = TopK.from_scores(scores, k)
    if rng.random() < 0.3 and k > 1:  # a model that had fewer candidates for some rows
        indices, values = topk.indices.copy(), topk.scores.copy()
        short = rng.random(n_docs) < 0.3
        indices[short, -1], values[short, -1] = -1, -np.inf
        topk = TopK(indices, values, n_labels)
    return sp.csr_matrix(y), topk, float(rng.choice([0.0, 1.0, 30.0]))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(40))
def test_probabilities_and_tails_lie_in_0_1_and_never_fall_as_the_score_rises(seed, method):
    y, topk, shrinkage = random_problem(seed)
    calibrator = fit_calibrator(y, topk, method=method, shrinkage=shrinkage)
    low, high = float(topk.scores[topk.valid].min()), float(topk.scores[topk.valid].max())
    grid = np.linspace(low - 1, high + 1, 61)
    for label in range(calibrator.n_labels):
        probs = calibrator.probabilities(np.full(grid.size, label), grid)
        assert np.all((probs > 0) & (probs < 1)), (label, probs)
        assert np.all(np.diff(probs) >= 0), (label, probs)
    applied = calibrator.apply(topk)
    valid = applied.valid
    assert np.all((applied.scores[valid] > 0) & (applied.scores[valid] < 1))
    # a tail strictly inside (0, 1), or none at all when nothing was ever unlisted
    tail = calibrator.tail
    assert np.all((tail > 0) & (tail < 1)) or not tail.any(), tail
    assert np.all((calibrator.source_prior >= 0) & (calibrator.source_prior <= 1))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(6))
def test_calibration_lowers_the_ece_of_a_miscalibrated_model(seed, method):
    """Scores distorted per label (slope and bias on the logit scale): on new documents
    the calibrated probabilities are better calibrated than the raw scores."""
    rng = np.random.default_rng(seed)
    n_labels = int(rng.integers(2, 10))
    y, _, raw = simulate_scores(4000, n_labels, seed=seed,
                                priors=rng.uniform(0.05, 0.4, n_labels))
    topk = TopK.from_scores(raw, n_labels)
    calibrator = fit_calibrator(y[:2000], topk[:2000], method=method)
    truth = np.asarray(y[2000:].toarray(), dtype=np.float64).ravel()
    raw_test = raw[2000:].astype(np.float64)
    labels = np.broadcast_to(np.arange(n_labels), raw_test.shape).ravel()
    calibrated = calibrator.probabilities(labels, raw_test.ravel())
    before = expected_calibration_error(truth, raw_test.ravel())
    after = expected_calibration_error(truth, calibrated)
    assert after <= before, (before, after)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(10))
def test_a_bundle_round_trip_gives_identical_probabilities(seed, method, tmp_path):
    y, topk, shrinkage = random_problem(seed)
    calibrator = fit_calibrator(y, topk, method=method, shrinkage=shrinkage)
    meta, arrays = calibrator.to_state()
    writer = BundleWriter(tmp_path / "bundle")
    writer.add_json("calibrator.json", meta)
    writer.add_arrays("calibrator.npz", arrays)
    writer.commit()
    with Bundle(tmp_path / "bundle") as bundle:
        again = Calibrator.from_state(bundle.read_json("calibrator.json"),
                                      bundle.read_arrays("calibrator.npz"))
    for name in ("tail", "source_prior", "margin"):
        np.testing.assert_array_equal(getattr(again, name), getattr(calibrator, name))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, calibrator.n_labels, 200)
    scores = rng.uniform(-4, 4, 200) if calibrator.transform == "identity" \
        else rng.random(200)
    np.testing.assert_array_equal(again.probabilities(labels, scores),
                                  calibrator.probabilities(labels, scores))
    applied, applied_again = calibrator.apply(topk), again.apply(topk)
    np.testing.assert_array_equal(applied_again.indices, applied.indices)
    np.testing.assert_array_equal(applied_again.scores, applied.scores)
