"""Calibration: isotonic kernel, Platt/isotonic/temperature calibrators, reliability metrics."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss

from tagsmith.calibration._isotonic import IsotonicKnots, evaluate_isotonic, fit_isotonic_groups
from tagsmith.calibration.bands import FrequencyBands
from tagsmith.calibration.reliability import (
    brier_score,
    expected_calibration_error,
    reliability_diagram,
    reliability_report,
)
from tagsmith.calibration.scaling import Calibrator, fit_calibrator
from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import TopK

from conftest import simulate_scores


# -- reference implementations -------------------------------------------------------------
def ece_reference(y, p, n_bins):
    """Obviously-correct ECE: loop over bins, [low, high) with the last bin closed."""
    total, n = 0.0, len(p)
    for b in range(n_bins):
        low, high = b / n_bins, (b + 1) / n_bins
        members = [i for i in range(n) if low <= p[i] < high or (b == n_bins - 1 and p[i] == 1)]
        if members:
            conf = sum(p[i] for i in members) / len(members)
            acc = sum(y[i] for i in members) / len(members)
            total += len(members) / n * abs(acc - conf)
    return total


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 20))
def test_ece_and_brier_match_references(seed, n_bins):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    p = rng.random(n)
    p[rng.random(n) < 0.1] = 1.0  # the closed right edge
    p = np.round(p, 2)  # values on bin edges
    y = (rng.random(n) < p).astype(int)
    assert expected_calibration_error(y, p, n_bins=n_bins) == pytest.approx(
        ece_reference(y, p, n_bins), abs=1e-12)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)


@pytest.mark.parametrize("metric", [brier_score, expected_calibration_error])
@pytest.mark.parametrize(("y", "p", "name"), [
    ([1, 0], [0.9], "p"),               # numpy broadcast one probability over both
    ([1, 0], [1.9, 0.1], "p"),          # not a probability
    ([1, 0], [np.nan, 0.1], "p"),       # a NaN score
    ([2, 0], [0.9, 0.1], "y"),          # not an outcome
    ([1, np.nan], [0.9, 0.1], "y"),
    (["a", "b"], [0.9, 0.1], "y"),      # numpy's "could not convert string to float"
])
def test_brier_and_ece_refuse_what_is_no_probability_or_outcome(metric, y, p, name):
    with pytest.raises(InvalidParameterError, match=f"parameter '{name}'"):
        metric(y, p)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_grouped_isotonic_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n_groups = 4
    group = rng.integers(0, n_groups, 120)
    x = np.round(rng.random(120) * 5, 1)  # ties
    y = (rng.random(120) < x / 5).astype(float)
    knots = fit_isotonic_groups(group, x, y, n_groups + 1)  # the last group is empty
    queries = np.linspace(-1, 6, 57)
    for g in range(n_groups):
        mask = group == g
        if not mask.any():
            continue
        reference = IsotonicRegression(out_of_bounds="clip").fit(x[mask], y[mask])
        got = evaluate_isotonic(knots, np.full(queries.size, g), queries)
        np.testing.assert_allclose(got, reference.predict(queries), atol=1e-12)
    assert np.isnan(evaluate_isotonic(knots, np.array([n_groups]), np.array([1.0]))).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_the_curves_are_evaluated_as_the_compiled_loop_evaluates_them(seed):
    """evaluate_isotonic (numpy, for prediction without numba) gives the values of the
    numba loop the audit evaluates curves with, to the bit: at knots, between them,
    outside them, on ties and on groups without knots."""
    from tagsmith.calibration._isotonic import _interp

    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(1, 30))
    n = int(rng.integers(1, 2000))
    group = rng.integers(0, n_groups, n)
    x = rng.random(n) if seed % 2 else np.round(rng.random(n) * 5, 1)  # ties
    y = (rng.random(n) < x / max(x.max(), 1e-9)).astype(float)
    knots = fit_isotonic_groups(group, x, y, n_groups + 1)  # the last group is empty
    queries = rng.integers(0, n_groups + 1, 3000)
    at = np.concatenate([rng.random(2000) * 1.4 - 0.2, x[rng.integers(0, n, 1000)]])
    expected = np.empty(at.size)
    _interp(knots.indptr, knots.x, knots.y, queries, at, expected)
    assert evaluate_isotonic(knots, queries, at).tobytes() == expected.tobytes()
    assert evaluate_isotonic(knots, queries[:0], at[:0]).size == 0


@pytest.mark.parametrize("indptr, x, y", [
    ([0, 2, 3], [0.1, 0.9, 0.5], [0.0, 1.0, 0.3]),  # a single-knot curve after another
    ([0, 1], [0.5], [0.3]),  # a single-knot curve alone
    ([0, 3], [0.1, 0.1, 0.9], [0.0, 0.2, 1.0]),  # first knots sharing their x
    ([0, 3], [0.1, 0.9, 0.9], [0.0, 0.2, 1.0]),  # last knots sharing their x
    ([0, 3], [0.1, 0.5, 0.9], [0.0, 0.2, 1.0]),
])
def test_a_nan_score_is_evaluated_as_the_compiled_loop_evaluates_it(indptr, x, y):
    """A NaN score on every curve: the numpy evaluation read the last knots of the
    curve (1.0 of the curve before a single-knot one, 0.2 where the curve's first knots
    share their x and the compiled loop gives 0.0)."""
    from tagsmith.calibration._isotonic import _interp

    knots = IsotonicKnots(np.array(indptr), np.array(x), np.array(y))
    queries = np.arange(len(indptr) - 1).repeat(2)
    at = np.tile([np.nan, 0.7], len(indptr) - 1)
    expected = np.empty(at.size)
    _interp(knots.indptr, knots.x, knots.y, queries, at, expected)
    assert evaluate_isotonic(knots, queries, at).tobytes() == expected.tobytes()


def test_bands_hold_about_equal_occurrences():
    counts = np.random.default_rng(0).zipf(1.6, 2000).clip(max=5000)
    bands = FrequencyBands.from_counts(counts, n_bands=4)
    mass = np.bincount(bands.band_of, weights=counts, minlength=bands.n_bands)
    assert bands.n_bands >= 3
    assert mass.max() < 0.6 * counts.sum()
    # a band's labels are all rarer than the next band's
    for b in range(bands.n_bands - 1):
        assert counts[bands.band_of == b].max() < counts[bands.band_of == b + 1].min()
    assert FrequencyBands.from_counts(np.full(10, 7), n_bands=4).n_bands == 1
    with pytest.raises(InvalidParameterError, match="n_bands"):
        FrequencyBands.from_counts(counts, n_bands=0)


@pytest.mark.parametrize("n_bands", [10 ** 12, 2 ** 64])
def test_more_bands_than_occurrences_split_no_finer(n_bands):
    """Past one band per occurrence no target falls between two labels that the
    finer split would not already part: ``calibrate --bands 18446744073709551616``
    asked np.arange for as many targets (a traceback, "Maximum allowed size
    exceeded"), and 1e12 bands for terabytes; both give the bands of 32."""
    counts = np.array([3, 1, 4, 1, 5, 9, 2, 6, 0])  # 31 occurrences
    finest = FrequencyBands.from_counts(counts, n_bands=32)
    bands = FrequencyBands.from_counts(counts, n_bands=n_bands)
    assert bands.edges.tolist() == finest.edges.tolist()
    assert bands.band_of.tolist() == finest.band_of.tolist()
    assert finest.names() == ["0", "1", "2", "3", "4", "5", "6-8", "9+"]


@pytest.fixture(scope="module")
def simulated():
    y, true_p, raw = simulate_scores(6000, 12, seed=3)
    n_labels = y.shape[1]
    return {"cal": (y[:3000], TopK.from_scores(raw[:3000], n_labels)),
            "test": (y[3000:], TopK.from_scores(raw[3000:], n_labels), true_p[3000:])}


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrated_probabilities_approach_the_truth(simulated, method):
    y_cal, topk_cal = simulated["cal"]
    y_test, topk_test, true_p = simulated["test"]
    calibrator = fit_calibrator(y_cal, topk_cal, method=method)
    probs = calibrator.apply(topk_test)
    dense = probs.to_csr().toarray()
    raw_report = reliability_report(y_test, topk_test)
    report = reliability_report(y_test, probs)
    assert raw_report.ece > 0.02  # the distortion is real
    assert report.ece < min(0.008, raw_report.ece / 4)
    # an oracle knowing the true probabilities scores about the same
    oracle = reliability_report(y_test, TopK.from_scores(true_p, true_p.shape[1]))
    assert report.brier < oracle.brier * 1.03
    assert np.mean(np.abs(dense - true_p)) < 0.015


def test_temperature_is_one_map_for_all_labels(simulated):
    y_cal, topk_cal = simulated["cal"]
    calibrator = fit_calibrator(y_cal, topk_cal, method="temperature")
    assert calibrator.label_params is not None
    assert np.ptp(calibrator.label_params, axis=0).max() == 0
    # one map cannot undo per-label distortions as well as per-label ones do
    y_test, topk_test, _ = simulated["test"]
    platt = fit_calibrator(y_cal, topk_cal, method="platt")
    assert reliability_report(y_test, platt.apply(topk_test)).brier < \
        reliability_report(y_test, calibrator.apply(topk_test)).brier


def test_band_of_a_single_count_is_named_by_that_count():
    # a flat long tail (yso-finna-en) gives bands of one training count each
    bands = FrequencyBands(np.array([0, 1, 2, 3]), np.array([0, 3, 4, 6, 10**9]))
    assert bands.names() == ["0-2", "3", "4-5", "6+"]


def test_rare_labels_shrink_toward_their_band():
    """A label with two held-out positives gets (nearly) its band's curve, not its own."""
    y, _, raw = simulate_scores(3000, 6, seed=5, priors=[0.3, 0.3, 0.3, 0.3, 0.3, 0.3])
    y = y.tolil()
    y[:, 5] = 0
    y[:2, 5] = 1  # label 5: two positives only
    y = y.tocsr()
    raw[:, 5] = raw[:, 0]  # its scores look like label 0's
    topk = TopK.from_scores(raw, 6)
    bands = FrequencyBands.single(6)
    shrunk = fit_calibrator(y, topk, method="platt", bands=bands, shrinkage=30)
    alone = fit_calibrator(y, topk, method="platt", bands=bands, shrinkage=0)
    grid = np.linspace(0.05, 0.95, 10)
    band_like = shrunk.probabilities(np.zeros(10, int), grid)
    assert np.abs(shrunk.probabilities(np.full(10, 5), grid) - band_like).max() < \
        np.abs(alone.probabilities(np.full(10, 5), grid) - band_like).max()
    assert alone.probabilities(np.array([5]), np.array([0.9]))[0] < 0.05  # overfit


def test_tail_probability_counts_labels_outside_the_topk():
    y, _, raw = simulate_scores(8000, 40, seed=7, priors=np.geomspace(0.2, 0.02, 40))
    full = TopK.from_scores(raw, 40)
    head = full.head(5)
    calibrator = fit_calibrator(y[:4000], head[:4000])
    report = reliability_report(y[4000:], calibrator.apply(head[4000:]), tail=calibrator.tail)
    tail = report.tail
    assert tail["observed_positives_outside_topk"] > 100
    assert tail["expected_positives_outside_topk"] == pytest.approx(
        tail["observed_positives_outside_topk"], rel=0.15)
    # the listed entries stay calibrated
    assert report.ece < 0.02
    # no tail when every label is listed
    assert fit_calibrator(y[:4000], full[:4000]).tail.max() == 0


def test_apply_resorts_and_keeps_padding():
    scores = np.array([[0.9, 0.5, -np.inf], [0.4, 0.3, 0.2]], dtype=np.float32)
    topk = TopK(np.array([[0, 1, -1], [1, 0, 2]]), scores, 3)
    y = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 0]]))
    calibrator = fit_calibrator(y, topk, method="platt", shrinkage=1.0)
    out = calibrator.apply(topk)
    assert out.indices[0, 2] == -1 and out.scores[0, 2] == -np.inf
    assert np.all(np.diff(out.scores[1]) <= 0)


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_state_round_trip(simulated, method):
    y_cal, topk_cal = simulated["cal"]
    calibrator = fit_calibrator(y_cal, topk_cal, method=method)
    meta, arrays = calibrator.to_state()
    again = Calibrator.from_state(meta, arrays)
    _, topk_test, _ = simulated["test"]
    np.testing.assert_array_equal(again.apply(topk_test).scores,
                                  calibrator.apply(topk_test).scores)


@pytest.mark.parametrize(("method", "name"), [("platt", "label_params"),
                                              ("isotonic", "label_weight"),
                                              ("isotonic", "band_weight"),
                                              ("platt", "margin")])
def test_a_state_with_a_short_array_is_a_load_error(simulated, method, name):
    # a crafted state loaded, then failed with an IndexError when applied
    y_cal, topk_cal = simulated["cal"]
    meta, arrays = fit_calibrator(y_cal, topk_cal, method=method).to_state()
    with pytest.raises(ValueError, match=f"calibrator {name} has shape"):
        Calibrator.from_state(meta, {**arrays, name: arrays[name][:-1]})


def test_bad_parameters_are_clear_errors(simulated):
    y_cal, topk_cal = simulated["cal"]
    with pytest.raises(InvalidParameterError, match="method"):
        fit_calibrator(y_cal, topk_cal, method="beta")
    with pytest.raises(InvalidParameterError, match="shrinkage"):
        fit_calibrator(y_cal, topk_cal, shrinkage=-1)
    with pytest.raises(InvalidParameterError, match="y_true"):
        fit_calibrator(y_cal[:10], topk_cal)
    with pytest.raises(InvalidParameterError, match="p"):
        expected_calibration_error([1, 0], [0.5, 1.5])


def test_reliability_report_bands_and_diagram(simulated, tmp_path):
    pytest.importorskip("matplotlib")
    y_cal, topk_cal = simulated["cal"]
    y_test, topk_test, _ = simulated["test"]
    calibrator = fit_calibrator(y_cal, topk_cal, n_bands=3)
    report = reliability_report(y_test, calibrator.apply(topk_test), bands=calibrator.bands)
    assert sum(row["n_entries"] for row in report.bands) == report.n_entries
    assert sum(b["count"] for b in report.bins) == report.n_entries
    path = reliability_diagram({"raw": reliability_report(y_test, topk_test),
                                "calibrated": report}, tmp_path / "reliability.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reliability_diagram_refuses_bad_paths_and_leaves_no_temporary_file(simulated,
                                                                           tmp_path,
                                                                           monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from tagsmith.exceptions import DataError

    y_test, topk_test, _ = simulated["test"]
    reports = {"raw": reliability_report(y_test, topk_test)}
    folder = tmp_path / "taken.png"
    folder.mkdir()
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me\n")
    for bad in (folder, a_file / "below.png"):
        with pytest.raises(DataError, match="taken.png|a_file"):
            reliability_diagram(reports, bad)
    existing = tmp_path / "old.png"
    existing.write_bytes(b"old")

    def broken(self, *args, **kwargs):
        args[0].write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        reliability_diagram(reports, existing)
    assert existing.read_bytes() == b"old"
    assert a_file.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "old.png", "taken.png"]
    assert not any(folder.iterdir())


def test_fit_calibrator_refuses_labels_outside_0_1():
    from tagsmith.calibration.scaling import fit_calibrator
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.topk import TopK

    topk = TopK.from_scores(np.array([[0.9, 0.1], [0.2, 0.8]]), 2)
    for bad in (np.nan, 2.0, -1.0):  # each was fitted on as a true label
        y = np.eye(2)
        y[0, 1] = bad
        with pytest.raises(InvalidParameterError, match="parameter 'y_true'"):
            fit_calibrator(y, topk)
    fit_calibrator(np.eye(2, dtype=bool), topk)


def test_fit_calibrator_refuses_no_document_naming_y_true():
    # it fitted a calibrator of defaults on nothing (n_docs=0), silently
    empty = TopK.from_scores(np.zeros((0, 3)), k=2)
    with pytest.raises(InvalidParameterError, match="'y_true' must be the labels of at least "
                       "one held-out document to fit a calibrator on, got '0 documents'"):
        fit_calibrator(sp.csr_matrix((0, 3)), empty)


def test_checked_labels_are_copied_once_and_come_out_as_before():
    """check_labels (every calibration, conformal and shift fit) made a copy of the
    checked copy of y_true; it now takes the checked copy over: same matrix (as
    as_label_matrix gives it), the caller's untouched, one copy less at the peak."""
    import tracemalloc

    from tagsmith.calibration._entries import check_labels
    from tagsmith.metrics import as_label_matrix

    topk = TopK(np.zeros((3, 1), np.int32), np.zeros((3, 1), np.float32), 4)
    # duplicates, an explicit zero, unsorted columns, a 0/1 pair summing to 1
    messy = sp.csr_matrix((np.array([1, 0, 1, 0, 1, 1], np.float64),
                           np.array([3, 1, 0, 2, 2, 3]), np.array([0, 3, 6, 6])), shape=(3, 4))
    before = (messy.data.copy(), messy.indices.copy(), messy.indptr.copy())
    for y in (messy, messy.toarray(), messy.toarray() != 0, messy.tocsc(),
              sp.csr_matrix((3, 4), dtype=np.int8)):
        got, want = check_labels(y, topk), as_label_matrix(y)
        assert got.dtype == want.dtype == bool and got.has_canonical_format
        assert (got.indptr.tolist(), got.indices.tolist(), got.data.tolist()) == \
            (want.indptr.tolist(), want.indices.tolist(), want.data.tolist())
    assert all(np.array_equal(a, b) for a, b in
               zip(before, (messy.data, messy.indices, messy.indptr), strict=True))
    rng = np.random.default_rng(0)
    n, n_labels = 100_000, 1000
    Y = sp.csr_matrix((np.ones(n * 10, np.float32),
                       (np.repeat(np.arange(n), 10), rng.integers(0, n_labels, n * 10))),
                      shape=(n, n_labels))
    Y.sum_duplicates()
    Y.data[:] = 1
    topk = TopK(np.zeros((n, 1), np.int32), np.zeros((n, 1), np.float32), n_labels)
    tracemalloc.start()
    try:
        check_labels(Y, topk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the checked copy (8 bytes an entry) and the boolean result: about 10.4 bytes an
    # entry; copying the checked copy again made it about 17.8
    assert peak < 13 * Y.nnz


# -- monotone, finite probabilities on degenerate calibration data ---------------------------
def test_platt_label_never_true_keeps_probability_rising_with_the_score():
    """A label listed only with high scores and never true used to get a negative Platt
    slope: its lowest scores then got the highest probabilities (0.98 at score 0)."""
    rng = np.random.default_rng(0)
    scores = rng.random((50, 3))
    y = rng.random((50, 3)) < scores
    y[:, 2] = False
    calibrator = fit_calibrator(sp.csr_matrix(y), TopK.from_scores(scores, 1), method="platt")
    assert calibrator.label_params is not None
    assert calibrator.label_params[:, 0].min() >= 0
    grid = np.linspace(0.0, 1.0, 101)
    probs = calibrator.probabilities(np.full(grid.size, 2), grid)
    assert np.all(np.diff(probs) >= 0)
    assert probs.max() < 0.5  # never true where listed: was 0.98 at score 0


_KINDS = ["continuous", "ties", "separable", "constant", "never_true", "always_true"]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 30), st.integers(1, 4), st.integers(1, 4), st.integers(0, 10**6),
       st.sampled_from(["platt", "isotonic", "temperature"]), st.sampled_from([0.0, 1.0, 30.0]),
       st.sampled_from(_KINDS))
def test_calibrated_probabilities_are_monotone_finite_and_inside_0_1(
        n_docs, n_labels, k, seed, method, shrinkage, kind):
    import warnings

    rng = np.random.default_rng(seed)
    k = min(k, n_labels)
    scores = rng.random((n_docs, n_labels))
    if kind == "ties":
        scores = np.round(scores * 3) / 3
    elif kind == "constant":
        scores = np.full((n_docs, n_labels), 0.3)
    y = rng.random((n_docs, n_labels)) < scores
    if kind == "separable":
        y = scores > 0.5
    elif kind in ("never_true", "always_true"):
        y[:, 0] = kind == "always_true"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # shrinkage=0 overflowed on separable scores
        calibrator = fit_calibrator(sp.csr_matrix(y), TopK.from_scores(scores, k),
                                    method=method, shrinkage=shrinkage)
    grid = np.linspace(0.0, 1.0, 41)
    for label in range(n_labels):
        probs = calibrator.probabilities(np.full(grid.size, label), grid)
        assert np.all(np.isfinite(probs))
        assert probs.min() > 0 and probs.max() < 1
        assert np.all(np.diff(probs) >= -1e-12), (label, probs)
    assert np.all((calibrator.tail >= 0) & (calibrator.tail <= 1))
    assert np.all(np.isfinite(calibrator.source_prior))


@pytest.mark.parametrize("n_bins", [15, 29, 100])
def test_a_probability_on_a_bin_edge_falls_in_the_bin_it_starts(n_bins):
    """The bins are [b / n_bins, (b + 1) / n_bins), as the report shows them;
    floor(0.29 * 100) = 28 put 0.29 in the bin [0.28, 0.29)."""
    p = np.repeat(np.arange(n_bins + 1) / n_bins, 2)
    y = np.tile([0.0, 1.0], n_bins + 1)
    y[::4] = 1.0  # bins of one or of two positives: each misplaced edge changes the ECE
    assert expected_calibration_error(y, p, n_bins=n_bins) == pytest.approx(
        ece_reference(y, p, n_bins), abs=1e-12)


def test_tail_probability_of_a_label_far_above_its_band_mean_stays_below_1():
    """The tail's prior scales the band's rate by the label's training frequency over the
    band mean; for a label 1000x its band's others that exceeded 1 and the tail
    (true at a rate of 0.14 here) came out as exactly 1."""
    rng = np.random.default_rng(0)
    scores = rng.random((200, 20))
    y = rng.random((200, 20)) < 0.15
    counts = np.full(20, 5)
    counts[0] = 5000
    topk = TopK.from_scores(scores, 2)
    calibrator = fit_calibrator(sp.csr_matrix(y), topk, label_counts=counts, n_bands=1)
    listed = np.zeros(y.shape, bool)
    np.put_along_axis(listed, topk.indices.astype(np.int64), True, axis=1)
    missed, absent = np.sum(y[:, 0] & ~listed[:, 0]), np.sum(~listed[:, 0])
    # the prior is at most the label's own held-out rate, with the weight of 30
    # (shrinkage) unlisted documents
    own_rate = (y[:, 0].sum() + 0.5) / 201
    assert calibrator.tail[0] == pytest.approx((missed + 30 * own_rate) / (absent + 30))
    assert calibrator.tail[0] < 0.2  # true at 0.15 when unlisted; was (missed + 200) / 379
    assert calibrator.tail.max() < 1


def test_tail_of_a_label_far_above_its_band_mean_follows_its_own_misses():
    """One label true in 40% of documents in a band of labels true in 1%, training
    counts in proportion: its prior, 13x the band's missed rate, weighed as much as
    every held-out document, and its tail stayed about 0.035 above the rate at which
    it was true when unlisted in 30000 new documents (0.098 against 0.064 on average).
    Weighing as much as ``shrinkage`` unlisted documents, its own misses lead."""
    errors = []
    for seed in range(6):
        priors = np.r_[0.4, np.full(19, 0.01)]
        y, _, raw = simulate_scores(30600, 20, seed=seed, priors=priors, separation=1.5)
        topk = TopK.from_scores(raw, 3)
        calibrator = fit_calibrator(y[:600], topk[:600], n_bands=1,
                                    label_counts=np.round(priors * 20000).astype(int))
        unlisted = ~(topk.indices[600:] == 0).any(axis=1)
        if unlisted.sum() > 1000:  # seed 2 lists it everywhere: no rate to compare with
            true = np.asarray(y[600:, 0].toarray()).ravel().astype(bool)
            errors.append(calibrator.tail[0] - true[unlisted].mean())
    assert len(errors) == 5
    assert abs(np.mean(errors)) < 0.015  # was +0.034
    assert np.mean(np.abs(errors)) < 0.025  # was 0.034


def test_tail_probability_is_positive_in_a_band_that_missed_no_true_label():
    """The band's missed-positive rate is smoothed by half an observation (Jeffreys):
    a band whose held-out documents missed no true label gave every label in it a tail
    of exactly 0, though the README promises no probability is exactly 0 or 1."""
    # top-2 of 4 labels: {0, 1} in documents 0 and 1, {2, 3} in documents 2 and 3
    scores = np.array([[0.9, 0.8, 0.2, 0.1], [0.9, 0.8, 0.2, 0.1],
                       [0.1, 0.2, 0.9, 0.8], [0.1, 0.2, 0.9, 0.8]])
    # band 0 (labels 0, 1) misses nothing; band 1 misses label 2 in document 1
    y = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
    bands = FrequencyBands(np.array([0, 0, 1, 1]), np.array([0, 10, 100]))
    calibrator = fit_calibrator(y, TopK.from_scores(scores, 2), bands=bands,
                                label_counts=np.array([5, 5, 50, 50]))
    # band 0: rate (0 + 1/2) / (4 absent + 1) = 0.1 (below the labels' own rates of
    # 1.5 / 5); each label unlisted in 2 of the 4 documents, its prior weighing as much
    # as 30 (shrinkage) of them: (0 + 30 * 0.1) / (2 + 30)
    assert calibrator.tail[:2] == pytest.approx([3 / 32, 3 / 32])
    # band 1: rate (1 + 1/2) / (4 + 1) = 0.3; label 2 missed once, label 3 never
    assert calibrator.tail[2:] == pytest.approx([(1 + 30 * 0.3) / 32, (0 + 30 * 0.3) / 32])
    assert calibrator.tail.min() > 0
    assert fit_calibrator(y, TopK.from_scores(scores, 4)).tail.max() == 0  # no tail


@pytest.mark.parametrize("seed", range(3))
def test_tail_smoothing_moves_positive_tails_no_more_than_half_an_observation(seed):
    """Against the unsmoothed band rate ``missed / absent``: a tail that was positive
    moves by at most ``1 / (2 (band absent + 1))`` x the label's frequency scaling x
    its prior weight; and every tail is now positive."""
    rng = np.random.default_rng(seed)
    n_docs, n_labels, k = 300, 30, 4
    y, _, raw = simulate_scores(n_docs, n_labels, seed=seed,
                                priors=np.geomspace(0.3, 0.01, n_labels))
    topk = TopK.from_scores(raw, k)
    counts = rng.integers(1, 200, n_labels)
    calibrator = fit_calibrator(y, topk, label_counts=counts, n_bands=3)
    band = calibrator.bands.band_of.astype(np.int64)
    dense = np.asarray(y.toarray(), bool)
    listed = np.zeros(dense.shape, bool)
    np.put_along_axis(listed, topk.indices.astype(np.int64), True, axis=1)
    missed = (dense & ~listed).sum(axis=0).astype(float)
    absent = (~listed).sum(axis=0).astype(float)
    n_bands = calibrator.bands.n_bands
    band_missed = np.bincount(band, weights=missed, minlength=n_bands)
    band_absent = np.bincount(band, weights=absent, minlength=n_bands)
    mean_count = np.bincount(band, weights=counts, minlength=n_bands) \
        / np.bincount(band, minlength=n_bands)
    scale = (counts + 1.0) / (mean_count[band] + 1.0)
    own_rate = (dense.sum(axis=0) + 0.5) / (n_docs + 1)
    old_prior = np.minimum(band_missed[band] / band_absent[band] * scale, own_rate)
    old = np.where(absent > 0, (missed + 30 * old_prior) / (absent + 30), 0.0)
    margin = 0.5 / (absent + 30 + 1)  # both kept half an observation from 0 and 1
    old = np.where(old > 0, np.clip(old, margin, 1 - margin), 0.0)
    bound = 0.5 / (band_absent[band] + 1) * scale * 30 / (absent + 30)
    was_positive = old > 0
    assert was_positive.sum() > n_labels // 2
    assert np.all(np.abs(calibrator.tail - old)[was_positive] <= bound[was_positive] + 1e-12)
    assert calibrator.tail.min() > 0 and calibrator.tail.max() < 1


def test_tail_of_a_label_true_in_every_document_that_never_lists_it_stays_below_1():
    """A label true in every held-out document and never in its top-k, with a training
    count far above its band's mean (a prior capped at 1), got a tail of exactly 1:
    certainty no finite sample supports. It is kept half an observation below 1, as the
    listed probabilities are."""
    rng = np.random.default_rng(0)
    scores = rng.random((20, 5)) * 0.5 + 0.5
    scores[:, 0] = 0.01  # never in the top-2
    y = np.zeros((20, 5), bool)
    y[:, 0] = True
    y[:, 1] = False  # and one never true
    topk = TopK.from_scores(scores, 2)
    for shrinkage in (0.0, 30.0):
        calibrator = fit_calibrator(sp.csr_matrix(y), topk, shrinkage=shrinkage,
                                    label_counts=np.array([5000, 5, 5, 5, 5]), n_bands=1)
        assert 0 < calibrator.tail.min() and calibrator.tail.max() < 1
    # without a prior the tail is the label's own rate when unlisted: 20 of 20, and 0
    calibrator = fit_calibrator(sp.csr_matrix(y), topk, shrinkage=0.0,
                                label_counts=np.array([5000, 5, 5, 5, 5]), n_bands=1)
    assert calibrator.tail[0] == pytest.approx(1 - 0.5 / (20 + 0 + 1))
    absent = np.sum(~np.isin(np.arange(20), []) & ~(topk.indices == 1).any(axis=1))
    assert calibrator.tail[1] == pytest.approx(0.5 / (absent + 1))


@pytest.mark.parametrize("bad", [-1, -3, np.nan, np.inf, 1e30])
def test_label_counts_that_are_no_counts_are_refused_naming_label_counts(bad):
    """With ``bands`` given nothing checked ``label_counts``: a negative count gave the
    tail's prior a rate of 0 or below (a tail of exactly 0), NaN or 1e30 cast to a huge
    negative int64 that zeroed every tail of its band; without ``bands`` the error
    named a parameter ``counts`` nobody passed."""
    rng = np.random.default_rng(0)
    scores = rng.random((20, 5))
    y = sp.csr_matrix(rng.random((20, 5)) < 0.3)
    counts = np.array([bad, 5, 5, 5, 5])
    for bands in (FrequencyBands.single(5), None):
        with pytest.raises(InvalidParameterError, match="label_counts.*for label 0"):
            fit_calibrator(y, TopK.from_scores(scores, 2), label_counts=counts, bands=bands)
    with pytest.raises(InvalidParameterError, match="label_counts"):
        fit_calibrator(y, TopK.from_scores(scores, 2), label_counts=["a"] * 5)


def test_tail_check_says_how_much_of_its_expected_count_is_the_tails_floor():
    """eval printed 'expected 43340.5' against 3,729 found (yso-finna-en, 300 calibration
    documents, 27,754 labels): a reader took it for an estimate, when nearly all of it was
    the half observation every label's tail keeps from 0."""
    rng = np.random.default_rng(3)
    n_docs, n_labels = 200, 3000
    y = sp.random(n_docs, n_labels, density=0.0005, random_state=4, format="csr")
    y.data[:] = 1
    scores = rng.random((n_docs, n_labels))
    head = TopK.from_scores(scores, 5)
    calibrator = fit_calibrator(y[:100], head[:100])
    floor = calibrator.tail_floor
    assert floor == pytest.approx(0.5 / (100 + calibrator.shrinkage + 1))
    assert calibrator.tail.min() >= floor  # every tail holds at least the floor
    tail = reliability_report(y[100:], calibrator.apply(head[100:]), tail=calibrator.tail,
                              tail_floor=floor).tail
    expected, from_floor = (tail["expected_positives_outside_topk"],
                            tail["expected_from_floor_at_least"])
    # the floor, not the evidence, is most of the figure, far above what was found
    assert from_floor == pytest.approx(100 * n_labels * floor, rel=0.01)
    assert 0.8 * expected < from_floor <= expected
    assert expected > 5 * tail["observed_positives_outside_topk"]
    # without the floor the check says nothing of it; with no tail there is no floor
    assert reliability_report(y[100:], calibrator.apply(head[100:]),
                              tail=calibrator.tail).tail["expected_from_floor_at_least"] == 0
    assert fit_calibrator(y[:100], TopK.from_scores(scores[:100], n_labels)).tail_floor == 0


def _ragged_topk(n_docs: int, n_labels: int, k: int, seed: int):
    """Scores with repeated values, some rows padded or empty, some documents without
    labels, and a label no document lists."""
    rng = np.random.default_rng(seed)
    scores = rng.choice(np.linspace(0.05, 0.95, 7), size=(n_docs, n_labels))
    scores[:, n_labels - 1] = -1.0  # never among the candidates
    topk = TopK.from_scores(scores, k)
    topk.scores[::5, k // 2:] = -np.inf  # padded rows (and every 7th empty)
    topk.indices[::5, k // 2:] = -1
    topk.scores[::7], topk.indices[::7] = -np.inf, -1
    topk = TopK(topk.indices, topk.scores, n_labels)
    y = rng.random((n_docs, n_labels)) < 0.3
    y[::3] = False  # documents without labels
    return sp.csr_matrix(y), topk


@pytest.mark.parametrize("method", ["isotonic", "platt", "temperature"])
@pytest.mark.parametrize("n_pairs", [0, 1, 6, 7, 8, 13, 14, 15, 50])
def test_probabilities_in_chunks_equal_the_whole(monkeypatch, method, n_pairs):
    # each (label, score) pair is mapped alone: chunk boundaries anywhere (one short of,
    # at and one past a multiple of the chunk) change no value, nor does no pair at all
    from tagsmith.calibration import scaling

    y, topk = _ragged_topk(40, 6, 4, seed=3)
    calibrator = fit_calibrator(y, topk, method=method, n_bands=2, shrinkage=2.0)
    rng = np.random.default_rng(n_pairs)
    labels = rng.integers(0, 6, n_pairs)
    scores = rng.choice(np.r_[np.linspace(-0.5, 1.5, 9), 0.05, 0.95], n_pairs)
    monkeypatch.setattr(scaling, "PROBABILITY_CHUNK", 10 ** 9)
    whole = calibrator.probabilities(labels, scores)
    monkeypatch.setattr(scaling, "PROBABILITY_CHUNK", 7)
    chunked = calibrator.probabilities(labels, scores)
    assert chunked.dtype == whole.dtype == np.float64
    np.testing.assert_array_equal(chunked, whole)


@pytest.mark.parametrize("seed", range(3))
def test_isotonic_curves_fitted_per_family_equal_one_fit_of_all(seed):
    # the labels' curves, the bands' and the overall one, each fitted alone: the knots
    # of one fit of the tripled points (groups label, n_labels + band, n_labels +
    # n_bands), with empty rows, unlabelled documents and a label never listed
    from tagsmith.calibration._entries import collect_entries
    from tagsmith.calibration.scaling import _features

    y, topk = _ragged_topk(60, 7, 5, seed)
    calibrator = fit_calibrator(y, topk, method="isotonic", n_bands=3)
    entries = collect_entries(y, topk)
    n_labels, n_bands = 7, calibrator.bands.n_bands
    z = _features(entries.score, calibrator.transform)
    hit = entries.hit.astype(np.float64)
    band = calibrator.bands.band_of.astype(np.int64)[entries.label]
    group = np.concatenate([entries.label, n_labels + band,
                            np.full(entries.label.size, n_labels + n_bands)])
    whole = fit_isotonic_groups(group, np.tile(z, 3), np.tile(hit, 3), n_labels + n_bands + 1)
    knots = calibrator.knots
    assert knots.indptr.dtype == whole.indptr.dtype
    np.testing.assert_array_equal(knots.indptr, whole.indptr)
    np.testing.assert_array_equal(knots.x, whole.x)
    np.testing.assert_array_equal(knots.y, whole.y)
    assert knots.indptr[n_labels] == knots.indptr[n_labels - 1]  # the unlisted label


def test_isotonic_calibrator_of_no_entries_has_every_curve_empty():
    topk = TopK(np.full((6, 2), -1), np.full((6, 2), -np.inf, np.float32), 3)
    y = sp.csr_matrix(np.eye(6, 3, dtype=bool))
    calibrator = fit_calibrator(y, topk, method="isotonic", n_bands=2)
    assert calibrator.knots.indptr.tolist() == [0] * (3 + calibrator.bands.n_bands + 2)


def _entries_by_sorting(y, topk):
    """collect_entries as it was: every entry's key sorted at once, true labels looked up."""
    n_docs, n_labels = y.shape
    valid = topk.valid
    row = np.broadcast_to(np.arange(n_docs)[:, None], topk.indices.shape)[valid]
    col = np.broadcast_to(np.arange(topk.k)[None, :], topk.indices.shape)[valid]
    keys = row * n_labels + topk.indices[valid].astype(np.int64)
    true_keys = np.repeat(np.arange(n_docs), np.diff(y.indptr)) * n_labels + y.indices
    order = np.argsort(keys, kind="stable")
    true_col = np.full(true_keys.size, -1, dtype=np.int64)
    hit = np.zeros(keys.size, dtype=bool)
    if keys.size and true_keys.size:
        pos = np.minimum(np.searchsorted(keys[order], true_keys), keys.size - 1)
        found = keys[order][pos] == true_keys
        true_col[found] = col[order[pos[found]]]
        hit[order[pos[found]]] = True
    return row, hit, true_col


@pytest.mark.parametrize("block", [1, 3, 4, 10, 1 << 19])
def test_collect_entries_in_blocks_of_rows_equals_sorting_every_entry(monkeypatch, block):
    # eval --calibration collected its entries (reliability, conformal recall) by sorting
    # every entry's key at once, five int64 arrays of them; looked up a block of rows at a
    # time the entries, their hits and each true label's column must be the same: rows
    # without candidates, documents without labels, true labels outside the top-k
    from tagsmith import topk as topk_module
    from tagsmith.calibration._entries import collect_entries

    monkeypatch.setattr(topk_module, "BLOCK_ENTRIES", block)
    rng = np.random.default_rng(5)
    scores = rng.random((11, 7)).round(2)
    scores[[1, 8]] = 0.0
    labels = rng.random((11, 7)) < 0.3
    labels[4] = False
    Y = sp.csr_matrix(labels)
    for topk in (TopK.from_csr(sp.csr_matrix(scores), 3), TopK.from_scores(scores, 7),
                 TopK.from_csr(sp.csr_matrix(scores[:0]), 2)):
        y = Y[:len(topk)]
        got = collect_entries(y, topk)
        row, hit, true_col = _entries_by_sorting(got.y, topk)
        np.testing.assert_array_equal(got.row, row)
        np.testing.assert_array_equal(got.hit, hit)
        np.testing.assert_array_equal(got.true_col, true_col)
        assert got.row.dtype == got.label.dtype == got.true_col.dtype == np.int64
        assert got.hit.sum() == (got.true_col >= 0).sum()
