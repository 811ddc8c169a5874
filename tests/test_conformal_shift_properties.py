"""Properties of conformal sets and label-shift estimation on small random inputs.

Fixed seeds, small sizes (the whole file runs in a few seconds). The statistical checks
estimate an expectation over many random calibration/test splits of one exchangeable
pool and allow 3 standard errors of that estimate (the standard error is measured from
the trials themselves), so they can fail only when the guarantee does not hold.
"""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.calibration.bands import FrequencyBands
from tagsmith.calibration.shift import LabelShift, estimate_label_shift
from tagsmith.conformal.lpicp import PowersetICP, fit_powerset_icp
from tagsmith.conformal.risk import RecallControl, fit_recall_control
from tagsmith.exceptions import DataError, InvalidParameterError
from tagsmith.pipeline.confidence import ConfidenceOptions, ConformalModel, fit_confidence
from tagsmith.pipeline.crossfit import HeldoutScores
from tagsmith.store.bundle import Bundle, BundleWriter
from tagsmith.topk import TopK

ALPHAS = (0.05, 0.1, 0.2, 0.3)


def pool(n_docs, n_labels, seed, separation=2.0, priors=None):
    """Exchangeable multi-label documents: labels at random priors, probabilities that
    are the exact posteriors of ``x ~ N(+-separation/2, 1)`` evidence."""
    rng = np.random.default_rng(seed)
    if priors is None:
        priors = rng.uniform(0.05, 0.4, n_labels)
    y = rng.random((n_docs, n_labels)) < priors
    x = rng.normal(np.where(y, separation / 2, -separation / 2), 1.0)
    p = 1 / (1 + np.exp(-(np.log(priors / (1 - priors)) + separation * x)))
    return sp.csr_matrix(y), p, priors


def within_guarantee(values, bound, label):
    """Mean of per-trial values >= bound, minus 3 standard errors of that mean."""
    values = np.asarray(values, dtype=np.float64)
    se = values.std(ddof=1) / np.sqrt(values.size)
    assert values.mean() >= bound - 3 * se, (label, values.mean(), bound, se)
    return values.mean(), se


# -- conformal: the guarantee, empirically -------------------------------------------------
@pytest.mark.parametrize("k, with_tail", [(6, False), (2, True)])
def test_recall_guarantee_over_random_splits(k, with_tail):
    """E[recall of a labelled test document] >= 1 - alpha, for the plain and the Mondrian
    recall control, with every label listed or only the top 2 and tail scores."""
    y, p, priors = pool(240, 6, seed=1)
    topk = TopK.from_scores(p, k)
    tail = priors * 0.5 if with_tail else None  # any score fixed before calibration works
    bands = FrequencyBands(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 5, 10**9]))
    rng = np.random.default_rng(2)
    plain = {alpha: [] for alpha in ALPHAS}
    per_band = {(alpha, b): [] for alpha in ALPHAS for b in (0, 1)}
    dense_y = y.toarray()
    for _ in range(100):
        order = rng.permutation(len(topk))
        cal, test = order[:120], order[120:]
        crc = fit_recall_control(y[cal], topk[cal], tail=tail)
        mondrian = fit_recall_control(y[cal], topk[cal], tail=tail, bands=bands)
        for alpha in ALPHAS:
            plain[alpha].append(np.nanmean(crc.predict(topk[test], alpha).recall(y[test])))
            sets = mondrian.predict(topk[test], alpha)
            for b in (0, 1):  # recall over each band's labels, documents with one there
                in_band = sp.csr_matrix(dense_y[test] & (bands.band_of == b))
                per_band[alpha, b].append(np.nanmean(sets.recall(in_band)))
    for alpha, values in plain.items():
        mean, _ = within_guarantee(values, 1 - alpha, ("recall", alpha))
        assert mean < 1 - alpha + 0.06, (alpha, mean)  # and not vacuously every label
    for (alpha, b), values in per_band.items():
        within_guarantee(values, 1 - alpha, ("mondrian", alpha, b))


def test_lpicp_coverage_over_random_splits():
    """P(true label set in the prediction set) is in [1 - eps, 1 - eps + 1/(q + 1)]
    (distinct nonconformity scores), whole and per band."""
    y, p, _ = pool(260, 5, seed=3)
    topk = TopK.from_scores(p, 5)
    bands = FrequencyBands(np.array([0, 0, 1, 1, 1]), np.array([0, 5, 10**9]))
    rng = np.random.default_rng(4)
    q = 130
    whole = {eps: [] for eps in ALPHAS}
    banded = {eps: [] for eps in ALPHAS}
    for _ in range(100):
        order = rng.permutation(len(topk))
        cal, test = order[:q], order[q:]
        icp = fit_powerset_icp(y[cal], topk[cal])
        per_band = fit_powerset_icp(y[cal], topk[cal], bands=bands)
        for eps in ALPHAS:
            whole[eps].append(icp.predict(topk[test], eps).covers(y[test]).mean())
            sets = per_band.predict(topk[test], eps)
            # each band's part covered with 1 - eps: both together with 1 - 2 eps
            banded[eps].append(sets.covers(y[test]).mean())
    for eps in ALPHAS:
        mean, se = within_guarantee(whole[eps], 1 - eps, ("lpicp", eps))
        assert mean <= 1 - eps + 1 / (q + 1) + 3 * se, (eps, mean)
        within_guarantee(banded[eps], 1 - 2 * eps, ("lpicp per band", eps))


# -- conformal: structure ------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_sets_are_nested_in_alpha(seed):
    """A smaller alpha never drops a member: recall, Mondrian and LP-ICP alike."""
    rng = np.random.default_rng(seed)
    n_labels = int(rng.integers(2, 7))
    y, p, _ = pool(int(rng.integers(15, 80)), n_labels, seed=100 + seed)
    p = np.round(p, int(rng.integers(1, 3)))  # ties too
    k = int(rng.integers(1, n_labels + 1))
    topk, full = TopK.from_scores(p, k), TopK.from_scores(p, n_labels)
    tail = rng.uniform(0, 0.3, n_labels)
    bands = FrequencyBands(rng.integers(0, 2, n_labels), np.array([0, 5, 10**9]))
    if not y.nnz:
        return
    alphas = np.sort(rng.uniform(0.001, 0.999, 12))
    for control in (fit_recall_control(y, topk, tail=tail),
                    fit_recall_control(y, topk, tail=tail, bands=bands)):
        thresholds = [control.thresholds(a) for a in alphas]
        assert all(np.all(a <= b) for a, b in zip(thresholds, thresholds[1:], strict=False))
        members = [control.predict(topk, a).to_csr().toarray() for a in alphas]
        for bigger, smaller in zip(members, members[1:], strict=False):
            assert np.all(bigger >= smaller)  # alpha rises: sets only shrink
    icp = fit_powerset_icp(y, full)
    sets = [icp.predict(full, a) for a in alphas]
    for bigger, smaller in zip(sets, sets[1:], strict=False):
        assert np.all(bigger.possible >= smaller.possible)
        assert np.all(bigger.n_sets >= smaller.n_sets)
        kept = ~smaller.empty  # (an empty prediction set has no certain label)
        assert np.all(bigger.certain[kept] <= smaller.certain[kept])


@pytest.mark.parametrize("seed", range(5))
def test_ties_are_all_in_or_all_out(seed):
    """Sets are {l : s(x, l) >= t}: labels tied in score share their fate, and a label
    scoring exactly the threshold is in."""
    rng = np.random.default_rng(seed)
    y, p, _ = pool(60, 5, seed=200 + seed)
    p = np.round(p, 1)  # heavy ties, within and across documents
    topk = TopK.from_scores(p, 5)
    crc = fit_recall_control(y, topk)
    for alpha in rng.uniform(0.05, 0.6, 5):
        t = crc.thresholds(alpha)[0]
        member = crc.predict(topk, alpha).to_csr().toarray()
        stored = p.astype(np.float32)  # as the TopK holds them
        np.testing.assert_array_equal(member, stored >= t)
        if np.isfinite(t):
            assert np.any(stored == t)  # the threshold is a calibration score
            assert np.all(member[stored == t])


@pytest.mark.parametrize("seed", range(8))
def test_finite_sample_correction_uses_n_plus_one(seed):
    """Single-label documents make CRC split conformal: the threshold is the
    floor(alpha (n + 1))-th smallest true-label score, -inf (every label) when
    alpha (n + 1) < 1; LP-ICP's is the floor(eps (q + 1))-th largest nonconformity."""
    rng = np.random.default_rng(seed)
    n, n_labels = int(rng.integers(3, 40)), 4
    p = rng.random((n, n_labels))  # distinct scores
    y = sp.csr_matrix((np.ones(n), (np.arange(n), rng.integers(0, n_labels, n))),
                      shape=(n, n_labels))
    topk = TopK.from_scores(p, n_labels)
    true_scores = np.sort(p[y.toarray().astype(bool)].astype(np.float32).astype(np.float64))
    crc = fit_recall_control(y, topk)
    icp = fit_powerset_icp(y, topk)
    nonconformity = np.sort(np.abs(y.toarray() - topk.to_csr().toarray()).sum(axis=1))
    for alpha in rng.uniform(0.01, 0.99, 20):
        m = alpha * (n + 1)
        if abs(m - round(m)) < 1e-6:
            continue  # on an integer: the rounding tolerance decides, tested elsewhere
        m = int(np.floor(m))
        expected = -np.inf if m < 1 else true_scores[m - 1]
        assert crc.thresholds(alpha)[0] == expected, (n, alpha)
        if m < 1:
            assert crc.predict(topk, alpha).size.tolist() == [n_labels] * n
        assert icp.thresholds(alpha)[0] == (np.inf if m < 1 else nonconformity[n - m])


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, -0.1, 1.5, np.nan, np.inf, True, "0.1"])
def test_alpha_outside_the_open_unit_interval_is_refused_by_name(bad):
    y, p, _ = pool(40, 4, seed=5)
    topk = TopK.from_scores(p, 4)
    crc = fit_recall_control(y, topk)
    icp = fit_powerset_icp(y, topk)
    model = ConformalModel(crc, None, icp, 0.1)
    for call, name in ((lambda: crc.thresholds(bad), "alpha"),
                       (lambda: crc.predict(topk, bad), "alpha"),
                       (lambda: icp.predict(topk, bad), "epsilon"),
                       (lambda: model.predict(topk, alpha=bad, method="lpicp"), "alpha")):
        with pytest.raises(InvalidParameterError, match=f"parameter '{name}' must be a number "
                           r"in \(0, 1\)"):
            call()


def test_calibration_documents_without_any_label_are_refused_naming_y_true():
    """Documents without a true label carry no loss and are left out, so a recall control
    fitted on such documents alone had calibrated nothing: every set was every label."""
    p = np.random.default_rng(6).random((30, 4))
    topk = TopK.from_scores(p, 4)
    no_labels = sp.csr_matrix((30, 4), dtype=bool)
    bands = FrequencyBands(np.array([0, 0, 1, 1]), np.array([0, 5, 10**9]))
    for kwargs in ({}, {"bands": bands}):
        with pytest.raises(InvalidParameterError, match="parameter 'y_true' must be the labels "
                           "of at least one held-out document with a true label.*30 documents, "
                           "none with a label"):
            fit_recall_control(no_labels, topk, **kwargs)
    with pytest.raises(InvalidParameterError, match="'y_true'.*'0 documents'"):
        fit_recall_control(sp.csr_matrix((0, 4)), TopK.from_scores(np.zeros((0, 4)), 4))
    # LP-ICP has no such gap: the empty label set is a label set to cover
    assert fit_powerset_icp(no_labels, topk).scores.size == 30


def test_fit_confidence_says_when_the_conformal_part_has_no_label():
    rng = np.random.default_rng(7)
    n = 40
    conformal = np.random.default_rng(0).permutation(n)[:n // 2]  # the seeded split
    labels = rng.random((n, 3)) < 0.5
    labels[conformal] = False
    heldout = HeldoutScores(TopK.from_scores(rng.random((n, 3)), 3), sp.csr_matrix(labels),
                            np.arange(n), "a test corpus")
    with pytest.raises(DataError, match="none of the 20 held-out documents \\(a test corpus\\) "
                       "set aside for the conformal sets carries a label"):
        fit_confidence(heldout, options=ConfidenceOptions(method="platt"))
    # a Python caller's option (it was told calibrate's --conformal-fraction)
    with pytest.raises(DataError, match=r"\(or another ConfidenceOptions\(conformal_fraction"
                       r"=\.\.\.\)\)$"):
        fit_confidence(heldout, options=ConfidenceOptions(method="platt"))
    from tagsmith._surface import command_line

    with command_line(), pytest.raises(DataError,
                                       match=r"\(or another --conformal-fraction\)$"):
        fit_confidence(heldout, options=ConfidenceOptions(method="platt"))


def test_lpicp_refuses_scores_that_are_not_probabilities():
    """Its exact pruning prices a flip at |1 - 2 o|, the change of |Y - o| only for o in
    [0, 1]: with raw scores the sets disagreed with the p-values."""
    rng = np.random.default_rng(8)
    y = sp.csr_matrix(rng.random((50, 3)) < 0.4)
    probs = TopK.from_scores(rng.random((50, 3)), 3)
    raw = TopK.from_scores(rng.normal(0.5, 1.0, (50, 3)), 3)
    for call in (lambda: fit_powerset_icp(y, raw),
                 lambda: fit_powerset_icp(y, probs).predict(raw, 0.2)):
        with pytest.raises(InvalidParameterError, match="parameter 'topk' must be calibrated "
                           r"probabilities in \[0, 1\].*scores outside \[0, 1\]"):
            call()


def test_conformal_model_survives_a_bundle_round_trip(tmp_path):
    y, p, _ = pool(120, 4, seed=9)
    topk = TopK.from_scores(p, 4)
    bands = FrequencyBands(np.array([0, 1, 0, 1]), np.array([0, 5, 10**9]))
    model = ConformalModel(fit_recall_control(y, topk, tail=np.full(4, 0.05)),
                           fit_recall_control(y, topk, tail=np.full(4, 0.05), bands=bands),
                           fit_powerset_icp(y, topk, bands=bands), 0.15, 3, 120)
    again = ConformalModel.from_state(*_through_bundle(tmp_path, *model.to_state()))
    assert again.methods() == model.methods()
    for method in model.methods():
        for alpha in (0.05, 0.3):
            a = model.predict(topk, alpha=alpha, method=method)
            b = again.predict(topk, alpha=alpha, method=method)
            if method == "lpicp":
                np.testing.assert_array_equal(a.possible, b.possible)
                np.testing.assert_array_equal(a.n_sets, b.n_sets)
            else:
                assert (a.to_csr() != b.to_csr()).nnz == 0
                np.testing.assert_array_equal(a.abstain, b.abstain)
    assert isinstance(again.recall, RecallControl) and isinstance(again.lpicp, PowersetICP)


def _through_bundle(tmp_path: Path, meta: dict, arrays: dict) -> tuple[dict, dict]:
    """``(meta, arrays)`` written to a real bundle and read back."""
    target = tmp_path / f"bundle{len(list(tmp_path.iterdir()))}"
    writer = BundleWriter(target)
    writer.add_json("part.json", meta)
    writer.add_arrays("part.npz", arrays)
    writer.commit()
    with Bundle(target) as bundle:
        return bundle.read_json("part.json"), bundle.read_arrays("part.npz")


# -- label shift ---------------------------------------------------------------------------
def shifted(source, target, n, seed, separation=3.0, k=None):
    """Documents at ``target`` priors with probabilities calibrated for ``source``."""
    y, _, _ = pool(n, source.size, seed, priors=target)
    rng = np.random.default_rng(seed + 1)
    x = rng.normal(np.where(y.toarray(), separation / 2, -separation / 2), 1.0)
    p = 1 / (1 + np.exp(-(np.log(source / (1 - source)) + separation * x)))
    return y, TopK.from_scores(p, source.size if k is None else k)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("method", ["em", "bbse"])
def test_estimates_are_valid_per_label_rates(seed, method):
    rng = np.random.default_rng(seed)
    n_labels = int(rng.integers(2, 6))
    source = rng.uniform(0.02, 0.6, n_labels)
    target = rng.uniform(0.0, 0.9, n_labels)
    k = int(rng.integers(1, n_labels + 1))
    y_s, topk_s = shifted(source, source, 200, seed=300 + seed, k=k)
    _, topk_t = shifted(source, target, int(rng.integers(5, 150)), seed=400 + seed, k=k)
    tail = rng.uniform(0, 0.2, n_labels) if k < n_labels else None
    for min_count in (0, 5):
        shift = estimate_label_shift(topk_t, source_prior=source, tail=tail, method=method,
                                     source_y=y_s, source_topk=topk_s, min_count=min_count,
                                     min_positives=5)
        est = shift.target_prior
        assert est.shape == (n_labels,) and np.all(np.isfinite(est))
        # strictly inside [0, 1]: at least half a document from either edge
        edge = 0.5 / len(topk_t)
        assert np.all(est >= edge - 1e-12) and np.all(est <= 1 - edge + 1e-12), est
        np.testing.assert_array_equal(est[shift.frozen], source[shift.frozen])
        adjusted = shift.adjust(topk_t).scores[topk_t.valid]
        assert np.all((adjusted > 0) & (adjusted < 1))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("method", ["em", "bbse"])
def test_known_priors_are_recovered(seed, method):
    """Within 0.03 of the target documents' label frequencies: with separation 3 a
    label's evidence is strong and EM's standard error on 4000 documents is below
    sqrt(0.25 / 4000) / 0.8 ~ 0.01, so 0.03 is 3 of them."""
    rng = np.random.default_rng(seed)
    source = rng.uniform(0.05, 0.4, 4)
    target = rng.uniform(0.05, 0.7, 4)
    y_s, topk_s = shifted(source, source, 4000, seed=500 + seed)
    y_t, topk_t = shifted(source, target, 4000, seed=600 + seed)
    shift = estimate_label_shift(topk_t, source_prior=source, method=method, source_y=y_s,
                                 source_topk=topk_s)
    observed = np.asarray(y_t.mean(axis=0)).ravel()
    assert shift.converged and shift.n_estimated == 4
    np.testing.assert_allclose(shift.target_prior, observed, atol=0.03)


@pytest.mark.parametrize("seed", range(5))
def test_no_shift_is_the_identity(seed):
    """Target documents whose mean probabilities are the source prior: EM's first step
    already returns it (a fixed point), and equal priors adjust nothing, even at 0 or 1."""
    rng = np.random.default_rng(seed)
    n_labels = 5
    p = rng.beta(0.7, 1.5, (int(rng.integers(20, 200)), n_labels))
    topk = TopK.from_scores(p, n_labels)
    # the probabilities as stored (float32), averaged in float64
    source = topk.to_csr().toarray().astype(np.float64).mean(axis=0)
    shift = estimate_label_shift(topk, source_prior=source, min_count=0, tol=1e-12)
    assert shift.converged
    np.testing.assert_allclose(shift.target_prior, source, rtol=0, atol=1e-9)
    assert shift.total_variation() < 1e-8
    # equal priors: the adjusted probabilities are the probabilities, bit for bit
    priors = np.r_[0.0, 1.0, rng.uniform(0, 1, n_labels - 2)]
    same = LabelShift("em", priors, priors.copy(), 10)
    assert np.array_equal(same.adjust(topk).scores, topk.scores)
    assert np.array_equal(same.adjust(topk).indices, topk.indices)


def test_em_converges_without_nan_when_a_label_is_never_predicted():
    rng = np.random.default_rng(10)
    p = rng.beta(0.5, 2.0, (300, 5))
    p[:, 3] = 0.0          # never probable
    p[:, 4] = 1e-3         # listed rarely and always the same
    topk = TopK.from_scores(p, 3)  # labels 3 and 4 mostly (or always) outside the top 3
    source = np.array([0.2, 0.2, 0.2, 0.1, 0.05])
    for tail in (None, np.zeros(5), np.array([0.05, 0.05, 0.05, 0.0, 0.0])):
        for method in ("em", "bbse"):
            shift = estimate_label_shift(
                topk, source_prior=source, tail=tail, method=method, min_count=0,
                source_y=sp.csr_matrix(rng.random((300, 5)) < 0.2), source_topk=topk)
            assert shift.converged and np.all(np.isfinite(shift.target_prior))
            assert shift.frozen[3] and shift.flat[3] and shift.target_prior[3] == source[3]
            adjusted = shift.adjust(topk)
            assert np.all(np.isfinite(adjusted.scores[adjusted.valid]))


@pytest.mark.parametrize("seed", range(6))
def test_adjusted_probabilities_stay_strictly_inside_0_1(seed):
    """A probability strictly inside (0, 1) stays inside after any shift, also once
    stored as float32 (a large shift of a confident probability rounded to exactly 1)."""
    rng = np.random.default_rng(seed)
    n = 20
    source = np.r_[rng.uniform(1e-4, 0.02, 3), rng.uniform(0.98, 1 - 1e-4, 3)]
    target = np.r_[1 - rng.uniform(1e-4, 0.02, 3), rng.uniform(1e-4, 0.02, 3)]
    shift = LabelShift("em", source, target, n)
    p = np.clip(rng.choice([1e-6, 1e-4, 0.5, 1 - 1e-4, 1 - 1e-6], (n, 6)), 0, 1)
    p = np.where(p == 0.5, rng.random((n, 6)), p)
    topk = TopK.from_scores(p.astype(np.float32), 6)
    adjusted = shift.adjust(topk).scores
    assert np.all((adjusted > 0) & (adjusted < 1)), adjusted.max()
    tail = shift.adjust_tail(np.full(6, 1 - 1e-7))
    assert np.all(tail.astype(np.float32) < 1)
    # 0 and 1 themselves are fixed points of the adjustment
    np.testing.assert_array_equal(shift.adjust_probabilities([0, 3], [0.0, 1.0]), [0.0, 1.0])


def test_scores_that_are_not_probabilities_are_refused_by_name():
    """EM, BBSE and the adjustment read probabilities: raw scores (margins) gave
    estimates and adjusted "probabilities" outside [0, 1], silently."""
    rng = np.random.default_rng(11)
    raw = TopK.from_scores(rng.normal(0, 1.5, (100, 3)), 3)
    probs = TopK.from_scores(rng.random((100, 3)), 3)
    y = sp.csr_matrix(rng.random((100, 3)) < 0.3)
    source = np.full(3, 0.3)
    message = r"must be calibrated probabilities in \[0, 1\], got '\d+ scores? outside"
    with pytest.raises(InvalidParameterError, match="parameter 'topk' " + message):
        estimate_label_shift(raw, source_prior=source)
    with pytest.raises(InvalidParameterError, match="parameter 'source_topk' " + message):
        estimate_label_shift(probs, source_prior=source, method="bbse", source_y=y,
                             source_topk=raw)
    shift = LabelShift("em", source, np.full(3, 0.5), 100)
    with pytest.raises(InvalidParameterError, match="parameter 'topk' " + message):
        shift.adjust(raw)
    with pytest.raises(InvalidParameterError, match="parameter 'probabilities' " + message):
        shift.adjust_probabilities([0, 1], [0.5, 1.5])
    with pytest.raises(InvalidParameterError, match="'probabilities'.*1 NaN value'"):
        shift.adjust_probabilities([0, 1], [0.5, np.nan])
    with pytest.raises(InvalidParameterError, match="parameter 'topk' must be a tagsmith"):
        estimate_label_shift(rng.random((4, 3)), source_prior=source)


@pytest.mark.parametrize("method", ["em", "bbse"])
def test_label_shift_survives_a_bundle_round_trip(tmp_path, method):
    source = np.array([0.1, 0.3, 0.02, 0.2])
    y_s, topk_s = shifted(source, source, 300, seed=12, k=3)
    _, topk_t = shifted(source, np.array([0.3, 0.1, 0.05, 0.2]), 300, seed=13, k=3)
    shift = estimate_label_shift(topk_t, source_prior=source, tail=np.full(4, 0.01),
                                 method=method, source_y=y_s, source_topk=topk_s,
                                 min_count=np.float32(10.0), min_positives=5)
    again = LabelShift.from_state(*_through_bundle(tmp_path, *shift.to_state()))
    for name, value in vars(shift).items():
        other = getattr(again, name)
        if isinstance(value, np.ndarray):
            assert other.dtype == value.dtype and np.array_equal(other, value), name
        else:
            assert type(other) is type(value) and other == value, name
    assert np.array_equal(again.adjust(topk_t).scores, shift.adjust(topk_t).scores)
    np.testing.assert_array_equal(again.adjust_thresholds(0.4), shift.adjust_thresholds(0.4))
    assert again.report() == shift.report()
