"""Label audit engine: noise injection, leave-one-out scores, calibration, detection."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.isotonic import IsotonicRegression

from tagsmith.audit._isotonic import grouped_isotonic, grouped_isotonic_crossfit
from tagsmith.audit.detect import (
    ISSUE_STEPS,
    MISSING,
    WRONG,
    _within_budget,
    find_label_issues,
    frequency_band,
    mixture_bounds,
)
from tagsmith.audit.simulate import average_precision, candidate_hits, inject_label_noise
from tagsmith.audit.stacking import PairSet
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.models.knn import KNNModel
from tagsmith.pipeline.crossfit import cross_fit_topk
from tagsmith.pipeline.io import read_labelled
from tagsmith.topk import TopK

from conftest import FAST_FEATURES


def _score_against_truth(issues, noise):
    """Average precision of the whole ranking, and precision of flagged pairs per kind."""
    missing = candidate_hits(issues.doc, issues.label, noise.removed) & (issues.kind == MISSING)
    wrong = candidate_hits(issues.doc, issues.label, noise.added) & (issues.kind == WRONG)
    hits = missing | wrong
    ap = average_precision(-np.arange(len(hits)), hits, noise.n_removed + noise.n_added)
    flagged = issues.flagged
    precision = {name: hits[flagged & (issues.kind == kind)].mean()
                 for name, kind in (("missing", MISSING), ("wrong", WRONG))
                 if (flagged & (issues.kind == kind)).any()}
    return ap, precision, hits


def test_grouped_isotonic_matches_sklearn_per_group():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 300))
        groups = rng.integers(0, 5, n)
        scores = rng.integers(0, 30, n).astype(float)  # many ties
        targets = (rng.random(n) < 0.3).astype(float)
        fitted = grouped_isotonic(groups, scores, targets)
        for g in np.unique(groups):
            m = groups == g
            expected = IsotonicRegression().fit(scores[m], targets[m]).predict(scores[m])
            np.testing.assert_allclose(fitted[m], expected, atol=1e-12)


def test_crossfit_isotonic_reads_each_fold_off_the_other_folds_fit():
    """Each entry's value is the isotonic fit of the other folds read at its score as
    scikit-learn predicts (linear between fitted points, clipped beyond them), so
    flipping an entry's own target never moves its value; a group with no entry in
    the other folds gets NaN."""
    rng = np.random.default_rng(4)
    for _ in range(20):
        n = int(rng.integers(2, 300))
        groups = rng.integers(-1, 4, n)  # -1: padding, skipped
        scores = rng.integers(0, 25, n).astype(np.float32) + rng.random(n).astype(np.float32)
        targets = rng.random(n) < 0.4
        folds = rng.integers(0, 3, n)
        got = grouped_isotonic_crossfit(groups, scores, targets, folds, 3,
                                        out=np.full(n, -7.0))
        assert np.all(got[groups < 0] == -7.0)
        for i in np.flatnonzero(groups >= 0)[:15]:
            other = (groups == groups[i]) & (folds != folds[i])
            if not other.any():
                assert np.isnan(got[i])
                continue
            fit = IsotonicRegression(out_of_bounds="clip").fit(scores[other], targets[other])
            assert got[i] == pytest.approx(fit.predict(scores[i:i + 1])[0], abs=1e-6)
            flipped = targets.copy()
            flipped[i] = ~flipped[i]
            again = grouped_isotonic_crossfit(groups, scores, flipped, folds, 3,
                                              out=np.empty(n))
            assert again[i] == got[i]


def test_crossfit_isotonic_of_a_big_group_holds_under_34_bytes_an_entry():
    """A band of rare labels is one calibration group of millions of top-k entries
    (yso-finna-en, 590k documents: this fit was the audit's peak memory, above its
    training's). The range is sorted once for all folds, a fold's points summed without
    int64 and float64 copies of its entries, and the fit made in place: here 74 bytes an
    entry beyond the inputs and output before (a sort, copies and 4 float64 arrays per
    fold), 36 now (94 and 46 for 3M distinct scores of one group); the values still those
    of the other folds' isotonic fit (ties, padding)."""
    import tracemalloc

    rng = np.random.default_rng(7)
    n, k = 400_000, 50
    groups = np.zeros(n, np.int32)
    groups[rng.random(n) < 0.1] = 1
    groups[::97] = -1  # padding
    scores = (rng.integers(0, n // 2, n) / (n // 2)).astype(np.float32)  # ties, most apart
    targets = rng.random(n) < 0.1
    folds = rng.integers(0, 5, n // k).astype(np.int8)
    out = np.full(n, -2.0, np.float32)
    head = slice(0, 100 * k)  # compiled before measuring: 100 documents, every fold
    grouped_isotonic_crossfit(groups[head], scores[head], targets[head], folds, 5,
                              row_width=k, out=out[head])
    tracemalloc.start()
    try:
        grouped_isotonic_crossfit(groups, scores, targets, folds, 5, row_width=k, out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / n < 34, f"{peak / n:.1f} bytes an entry"  # 74, then 36, 32 now
    assert np.all(out[groups < 0] == -2.0)
    fold_of = np.repeat(folds, k)
    for i in rng.choice(np.flatnonzero(groups >= 0), 6, replace=False):
        other = (groups == groups[i]) & (fold_of != fold_of[i])
        fit = IsotonicRegression(out_of_bounds="clip").fit(scores[other], targets[other])
        assert out[i] == pytest.approx(fit.predict(scores[i:i + 1])[0], abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_crossfit_isotonic_of_label_ids_equals_that_of_their_groups(seed, monkeypatch):
    """The calibration hands the cross-fit its top-k label ids and each label's group
    (``label_groups``), not an n x k array of groups: the values are the same bit for
    bit, whether the entries are read in one block or many and the groups fitted in one
    range or several (ties, padding, labels of no entry, labels sharing a band group)."""
    from tagsmith.audit import _isotonic

    rng = np.random.default_rng(seed)
    n, k, n_labels = 300, 7, 30
    labels = rng.integers(0, n_labels - 3, (n, k)).astype(np.int32)  # 3 labels of no entry
    labels[rng.random((n, k)) < 0.1] = -1  # padding
    label_groups = np.where(rng.random(n_labels) < 0.5, np.arange(n_labels),
                            n_labels + rng.integers(0, 3, n_labels))
    groups = np.where(labels >= 0, label_groups[labels], -1).ravel()
    scores = (rng.integers(0, 40, n * k) / 40).astype(np.float32)
    targets = rng.random(n * k) < 0.3
    folds = rng.integers(0, 3, n).astype(np.int8)

    def fit(entries, **kwargs):
        out = np.full(n * k, -2.0, np.float32)
        grouped_isotonic_crossfit(entries, scores, targets, folds, 3, row_width=k,
                                  smoothing=1.0, out=out, **kwargs)
        return out

    whole = fit(groups)
    assert np.all(whole[groups < 0] == -2.0) and not np.isnan(whole[groups >= 0]).all()
    for chunk, block in ((10**9, 1 << 20), (150, 64), (1, 7)):
        monkeypatch.setattr(_isotonic, "CHUNK", chunk)
        monkeypatch.setattr(_isotonic, "_MAP_BLOCK", block)
        np.testing.assert_array_equal(fit(labels.ravel(), label_groups=label_groups), whole)
        np.testing.assert_array_equal(fit(groups), whole)


def test_the_crossfit_calibration_holds_no_array_of_groups_of_the_topks_size(monkeypatch):
    """``calibrate_scores`` built an n x k array of each top-k entry's group (int32),
    through an n x k temporary of label ids and a mask of the padding, and held it with
    the padding mask beside ``calibrated`` through every fold's fit: 4 + 1 bytes a top-k
    entry, 236 MB at yso-finna-en's 590k documents x 50, where the calibration had
    become the audit's peak memory. Now the fit reads the groups off the top-k's label
    ids: measured here (a band group of 30 % of the entries, fitted as a range of its
    own), 25.0 bytes a top-k entry beyond the inputs before, 20.0 now."""
    import tracemalloc

    from tagsmith.audit import _isotonic
    from tagsmith.audit.calibrate import PairIndex, calibrate_scores

    # ranges of 100,000 entries, the band group one of its own, as the 2M of CHUNK are
    # at yso-finna-en's 29.5M top-k entries (one band group of ~8M)
    monkeypatch.setattr(_isotonic, "CHUNK", 100_000)
    rng = np.random.default_rng(11)
    n, k, n_labels = 20_000, 50, 400
    indices = np.argsort(rng.random((n, n_labels)), axis=1)[:, :k].astype(np.int32)
    indices[np.arange(k) >= k - rng.integers(0, 4, n)[:, None]] = -1  # padding at rows' ends
    scores = np.sort(rng.random((n, k)).astype(np.float32), axis=1)[:, ::-1].copy()
    scores[indices < 0] = -np.inf
    topk = TopK(indices, scores, n_labels)
    Y = sp.csr_matrix(rng.random((n, n_labels)) < 0.05)
    index = PairIndex(Y, topk)
    n_given = np.bincount(Y.indices, minlength=n_labels)
    # 30 % of the labels under min_positives: one band group of ~30 % of the entries
    min_positives = int(np.quantile(n_given, 0.3))
    band = np.zeros(n_labels, np.int64)
    folds = rng.integers(0, 5, n).astype(np.int8)
    head = slice(0, 200)  # compiled before measuring
    calibrate_scores(Y[head], TopK(indices[head], scores[head], n_labels),
                     PairIndex(Y[head], TopK(indices[head], scores[head], n_labels)),
                     n_given, band, min_positives, folds[head])
    tracemalloc.start()
    try:
        calibrated, _, _ = calibrate_scores(Y, topk, index, n_given, band, min_positives,
                                            folds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / (n * k) < 22.5, f"{peak / (n * k):.1f} bytes a top-k entry"  # 25.0, 20.0
    assert not np.isnan(calibrated[topk.valid]).any()


def test_crossfit_calibration_of_a_document_ignores_its_own_labels():
    """Cross-fitted, a document's calibrated top-k row and its outside rates come from
    the other fold only: giving it one more label (not moving any label between
    calibration groups) leaves them as they were. Every ranked entry gets a value,
    also in a group the other fold never ranks (its outside rate)."""
    from tagsmith.audit.calibrate import PairIndex, calibrate_scores
    from tagsmith.audit.detect import frequency_band

    rng = np.random.default_rng(5)
    n, n_labels = 300, 12
    dense = rng.random((n, n_labels)) < 0.15
    dense[:, 11] = False
    dense[[0, 2, 6], 11] = True  # a band group of its own
    Y = sp.csr_matrix(dense)
    scores = rng.random((n, n_labels)) + dense
    scores[:, 11] = -1e6  # label 11 ranked only in fold 0's documents
    folds = (np.arange(n) % 2).astype(np.int8)
    scores[folds == 0, 11] = rng.random(int((folds == 0).sum()))
    topk = TopK.from_scores(scores, k=6)

    def run(Y):
        n_given = np.bincount(Y.indices, minlength=n_labels)
        band = frequency_band(n_given)
        return calibrate_scores(Y, topk, PairIndex(Y, topk), n_given, band, 100, folds), band

    (calibrated, _, outside), band = run(Y)
    assert not np.isnan(calibrated[topk.valid]).any()
    ranked_11 = topk.indices == 11
    assert ranked_11.any() and not ranked_11[folds == 1].any()
    # fold 1 never ranks label 11's group: fold 0 reads its outside rate there
    np.testing.assert_allclose(calibrated[ranked_11], outside[0, 11])
    doc = 4
    label = next(c for c in topk.indices[doc] if not Y[doc, c])
    more = Y.tolil()
    more[doc, label] = True
    (again, _, outside_again), band_again = run(more.tocsr())
    assert np.array_equal(band, band_again)
    np.testing.assert_array_equal(again[doc], calibrated[doc])
    np.testing.assert_array_equal(outside_again[folds[doc]], outside[folds[doc]])


def test_crossfit_calibration_keeps_the_missing_label_bound_above_the_truth():
    """Labels removed at random score like given ones, so the mixture bound on the
    missing share must not fall below it. Calibrated in-sample, the isotonic steps at
    the top take their own pairs' labels (all given), and the bound read there came
    out under the truth (7.5% against 10% here; Reuters-21578 gave 6.0%). Cross-fitted,
    the bound holds."""
    rng = np.random.default_rng(0)
    n, n_labels = 20_000, 20
    truth = rng.random((n, n_labels)) < 0.08
    scores = truth + rng.normal(0, 0.45, (n, n_labels))
    X = sp.csr_matrix(np.c_[truth + rng.normal(0, 1, (n, n_labels)), rng.random((n, 30))])
    noise = inject_label_noise(sp.csr_matrix(truth), missing_rate=0.10, wrong_rate=0.05, seed=0)
    topk = TopK.from_scores(scores, k=n_labels)
    missing_share = noise.n_removed / truth.sum()
    wrong_share = noise.n_added / noise.Y.nnz
    in_sample = find_label_issues(noise.Y, topk, X=X, calibration_folds=1)
    assert in_sample.details["mixture_bounds"]["missing_rate"] < 0.8 * missing_share
    bounds = find_label_issues(noise.Y, topk, X=X, calibration_folds=2).details[
        "mixture_bounds"]
    assert missing_share < bounds["missing_rate"] < 1.6 * missing_share
    assert wrong_share < bounds["wrong_rate"] < 1.6 * wrong_share


def test_calibration_folds_are_checked_by_name():
    Y = sp.csr_matrix(np.eye(4, dtype=bool))
    topk = TopK.from_scores(np.eye(4), k=2)
    for bad in (0, 101, 2.0, True, "2"):
        with pytest.raises(InvalidParameterError, match="calibration_folds"):
            find_label_issues(Y, topk, calibration_folds=bad)


def test_calibration_folds_reported_are_the_ones_used():
    """details["calibration_folds"] was the number asked for: 100 on 5 documents, which
    the calibration can only split into 5 folds (and one document into none: an
    in-sample fit). It is now the number used; the one asked for is kept beside it."""
    Y = sp.csr_matrix(np.eye(5, 4, dtype=bool))
    scores = np.eye(5, 4) * 0.8 + 0.1
    for asked, used, docs in ((100, 5, 5), (3, 3, 5), (1, 1, 5), (2, 1, 1)):
        details = find_label_issues(Y[:docs], TopK.from_scores(scores[:docs], k=2),
                                    evidence=False, calibration_folds=asked).details
        assert details["calibration_folds"] == used
        assert details["calibration_folds_requested"] == asked


def test_injected_noise_is_seeded_and_disjoint():
    rng = np.random.default_rng(1)
    Y = sp.csr_matrix(rng.random((500, 40)) < 0.08)
    noise = inject_label_noise(Y, missing_rate=0.1, wrong_rate=0.05, seed=3)
    assert noise.n_removed == round(0.1 * Y.nnz) and noise.n_added == round(0.05 * Y.nnz)
    assert noise.removed.multiply(Y).nnz == noise.n_removed  # removed were given
    assert noise.added.multiply(Y).nnz == 0  # added were not
    assert noise.Y.nnz == Y.nnz - noise.n_removed + noise.n_added
    again = inject_label_noise(Y, missing_rate=0.1, wrong_rate=0.05, seed=3)
    assert (again.Y != noise.Y).nnz == 0
    with pytest.raises(InvalidParameterError, match="missing_rate"):
        inject_label_noise(Y, missing_rate=1.5)


def test_injected_noise_leaves_the_callers_matrix_alone():
    """A float32 CSR with an explicit zero and unsorted columns: its arrays were shared,
    then compacted and sorted in place (read-only ones failed: "WRITEBACKIFCOPY base is
    read-only"). The noise drawn is that of the same matrix written canonically."""
    data = np.array([1, 0, 1, 1, 0.5, 1], np.float32)
    indices, indptr = np.array([3, 1, 0, 2, 0, 1], np.int32), np.array([0, 3, 4, 6], np.int32)
    for array in (data, indices, indptr):
        array.setflags(write=False)
    Y = sp.csr_matrix((data, indices, indptr), shape=(3, 4))
    before = [a.copy() for a in (data, indices, indptr)]
    clean = sp.csr_matrix(Y.toarray())
    for seed in range(5):
        got = inject_label_noise(Y, missing_rate=0.4, wrong_rate=0.4, seed=seed)
        want = inject_label_noise(clean, missing_rate=0.4, wrong_rate=0.4, seed=seed)
        assert all((getattr(got, m) != getattr(want, m)).nnz == 0
                   for m in ("Y", "removed", "added"))
    assert all(np.array_equal(a, b) for a, b in
               zip(before, (Y.data, Y.indices, Y.indptr), strict=True))


def test_candidate_hits_leaves_the_callers_matrix_alone():
    """A truth matrix with a duplicate entry, unsorted columns and an explicit zero:
    csr_matrix() shared its arrays and sum_duplicates() rewrote them in place (the
    caller's data summed and compacted; read-only arrays failed), and the explicit
    zero counted as a label. The hits are those of the same matrix written densely."""
    data = np.array([1, 1, 0, 1, 1], np.float32)
    indices, indptr = np.array([2, 2, 0, 1, 0], np.int32), np.array([0, 3, 5], np.int32)
    truth = sp.csr_matrix((data, indices, indptr), shape=(2, 3))
    before = [a.copy() for a in (data, indices, indptr)]
    rows, labels = np.repeat([0, 1], 3), np.tile([0, 1, 2], 2)
    dense = truth.toarray()
    expected = dense[rows, labels] != 0
    assert candidate_hits(rows, labels, truth).tolist() == expected.tolist()
    assert all(np.array_equal(a, b) for a, b in
               zip(before, (truth.data, truth.indices, truth.indptr), strict=True))
    for array in (data, indices, indptr):
        array.setflags(write=False)
    readonly = sp.csr_matrix((data, indices, indptr), shape=(2, 3))
    assert candidate_hits(rows, labels, readonly).tolist() == expected.tolist()


def test_leave_one_out_knn_equals_refitting_without_the_document():
    rng = np.random.default_rng(2)
    X = sp.random(120, 30, density=0.2, random_state=2, format="csr", dtype=np.float32)
    Y = sp.csr_matrix(rng.random((120, 6)) < 0.3, dtype=np.float32)
    model = KNNModel(n_neighbors=7, max_posting=None).fit(X, Y)
    loo, rows, _ = model.leave_one_out_topk(X, 6, return_neighbors=True)
    assert not np.any(rows == np.arange(120)[:, None])  # nobody is its own neighbour
    for i in (0, 17, 64, 119):
        keep = np.flatnonzero(np.arange(120) != i)
        refit = KNNModel(n_neighbors=7, max_posting=None).fit(X[keep], Y[keep])
        expected = refit.predict_topk(X[i], 6)
        np.testing.assert_allclose(loo.scores[i], expected.scores[0], atol=1e-6)


@pytest.fixture(scope="module")
def noisy_goemotions(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    noise = inject_label_noise(train.Y, missing_rate=0.10, wrong_rate=0.05, seed=0)
    X = TfidfFeaturizer.from_params(**FAST_FEATURES).fit_transform(train.texts)
    crossfit = cross_fit_topk(X, noise.Y, "linear", {"n_jobs": 1}, n_folds=3, seed=0)
    return X, noise, crossfit.topk


def test_injected_errors_are_found_well_above_chance(noisy_goemotions):
    """On a real slice, the ranking finds injected errors far above chance, and flagged
    wrong labels are injected ones several times more often than a random given label."""
    X, noise, topk = noisy_goemotions
    issues = find_label_issues(noise.Y, topk, X=X)
    ap, precision, _ = _score_against_truth(issues, noise)
    n_pairs = noise.Y.shape[0] * noise.Y.shape[1]
    chance = (noise.n_removed + noise.n_added) / n_pairs
    assert ap > 15 * chance
    base_rate = noise.n_added / noise.Y.nnz  # about 1 in 20 given labels is wrong
    assert precision["wrong"] > 3 * base_rate
    # without the extra evidence (the same inputs as cleanlab) it still works
    plain = find_label_issues(noise.Y, topk, evidence=False)
    assert _score_against_truth(plain, noise)[0] > 10 * chance


def test_candidates_are_sorted_and_consistent(noisy_goemotions):
    X, noise, topk = noisy_goemotions
    issues = find_label_issues(noise.Y, topk, X=X)
    assert np.all(np.diff(issues.probability) <= 1e-7)
    given = noise.Y.tocsr()
    is_given = candidate_hits(issues.doc, issues.label, given != 0)
    assert np.array_equal(is_given, issues.kind == WRONG)  # wrong = given, missing = not
    assert issues.doc_quality.shape == (given.shape[0],)
    assert np.all((issues.doc_quality >= 0) & (issues.doc_quality <= 1))
    # documents with flagged candidates have lower quality than the rest
    flagged_docs = np.unique(issues.doc[issues.flagged])
    others = np.setdiff1d(np.arange(given.shape[0]), flagged_docs)
    assert issues.doc_quality[flagged_docs].mean() < issues.doc_quality[others].mean()


def _extreme_problem(n_docs=3000, n_labels=2000, seed=0):
    """Documents whose features are their labels' signature terms (plus noise): a
    synthetic extreme label space where the labels are learnable from the text."""
    rng = np.random.default_rng(seed)
    signature = rng.integers(0, 6000, size=(n_labels, 4))
    popularity = rng.pareto(1.2, n_labels) + 1
    labels = [rng.choice(n_labels, size=rng.integers(1, 4), replace=False,
                         p=popularity / popularity.sum()) for _ in range(n_docs)]
    rows, cols = [], []
    for i, ls in enumerate(labels):
        terms = np.concatenate([signature[ls].ravel(), rng.integers(0, 6000, 3)])
        rows += [i] * len(terms)
        cols += terms.tolist()
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_docs, 6000))
    Y = sp.csr_matrix((np.ones(sum(map(len, labels)), np.float32),
                       (np.repeat(np.arange(n_docs), [len(ls) for ls in labels]),
                        np.concatenate(labels))), shape=(n_docs, n_labels))
    return X, Y


def _pairs(labels, p, weight=1.0) -> tuple[PairSet, np.ndarray]:
    n = len(p)
    return (PairSet(np.zeros(n, np.int32), np.asarray(labels, np.int32), np.zeros(n, bool),
                    p, p, np.full(n, weight, np.float32)), np.asarray(p, np.float32))


def test_mixture_bounds_recover_known_rates_when_the_scorer_separates():
    """One label, 100,000 documents: 9,000 true given pairs and 1,000 true ones missing at
    random (the same probabilities), 500 wrong given pairs that look like the 89,500
    true negatives (a sample of 8,950 weighted 10). The bounds read the true rates: 500
    wrong of 9,500 given, 1,000 missing of 10,000 true (a bit above: each count's
    one-sided 95% limit; without them a chance dip in a thin tail set them 19% low)."""
    rng = np.random.default_rng(0)
    n_docs, n_given = 100_000, np.array([9_500])
    pos_p = np.r_[rng.uniform(0.6, 1.0, 9_000), rng.uniform(0.0, 0.4, 500)]
    missing = _pairs(np.zeros(1_000), rng.uniform(0.6, 1.0, 1_000))
    negatives = _pairs(np.zeros(8_950), rng.uniform(0.0, 0.4, 8_950), weight=10.0)
    bounds = mixture_bounds(n_docs, n_given, pos_p, [missing, negatives])
    # one-sided count limits keep them at or a little above the truth
    assert 0.98 * 500 / 9_500 <= bounds["wrong_rate"] <= 1.25 * 500 / 9_500
    assert 0.98 * 0.1 <= bounds["missing_rate"] <= 1.25 * 0.1
    assert bounds["est_wrong"] == pytest.approx(bounds["wrong_rate"] * 9_500, rel=1e-4)
    # a scorer that cannot tell true from negative pairs bounds (almost) nothing
    loose = mixture_bounds(n_docs, n_given, rng.uniform(0.0, 1.0, 9_500),
                           [_pairs(np.zeros(1_000), rng.uniform(0.0, 1.0, 1_000)),
                            _pairs(np.zeros(8_950), rng.uniform(0.0, 1.0, 8_950), 10.0)])
    assert loose["missing_rate"] > 0.8 and loose["wrong_rate"] > 0.8


def test_mixture_bounds_need_not_given_pairs_and_enough_given_ones():
    p = np.linspace(0.5, 1.0, 50)
    assert mixture_bounds(1_000, np.array([50]), p, [_pairs(np.zeros(10), np.full(10, .1))]) \
        is None  # fewer than twice the 30 pairs a tail needs
    many = np.linspace(0.5, 1.0, 500)
    assert mixture_bounds(1_000, np.array([500]), many, [_pairs([], [])]) is None


def test_audit_bounds_are_far_tighter_than_confident_counts(noisy_goemotions):
    """On the real slice with 5% wrong and 10% missing labels injected, the bounds sit
    above the injected rates (the corpus has errors of its own) and the missing one far
    below confident learning's count (34% against 63%). The wrong one, from the
    symmetric stacking, reads 34% against confident learning's 29% on these 3,000
    documents (the ranking's own stacking read 24%, but its bounds fail under random
    wrong labels: see test_bounds_hold_when_wrong_labels_are_random_and_ranking_is_unchanged);
    without background pairs there are none."""
    X, noise, topk = noisy_goemotions
    issues = find_label_issues(noise.Y, topk, X=X)
    bounds = issues.details["mixture_bounds"]
    given = float(issues.n_given.sum())
    cl_wrong = issues.est_wrong.sum() / given
    cl_missing = issues.est_missing.sum() / (given - issues.est_wrong.sum()
                                             + issues.est_missing.sum())
    assert noise.n_added / noise.Y.nnz < bounds["wrong_rate"] < 1.3 * cl_wrong
    assert noise.n_removed / (noise.Y.nnz - noise.n_added + noise.n_removed) \
        < bounds["missing_rate"] < 0.75 * cl_missing
    assert find_label_issues(noise.Y, topk, evidence=False).details["mixture_bounds"] is None


def _independent_wrong_labels(Y, share, seed):
    """``share`` of the documents get as many labels, each drawn independently by label
    frequency (the usual model of random wrong labels), in place of theirs; returns the
    labels given and which of them are wrong."""
    rng = np.random.default_rng(seed)
    Y = sp.csr_matrix(Y, dtype=bool)
    freq = np.bincount(Y.indices, minlength=Y.shape[1]) / Y.nnz
    rows = []
    for doc in range(Y.shape[0]):
        labels = Y.indices[Y.indptr[doc]:Y.indptr[doc + 1]]
        if len(labels) and rng.random() < share:
            new: set = set()
            while len(new) < len(labels):
                new.add(int(rng.choice(Y.shape[1], p=freq)))
            labels = np.array(sorted(new))
        rows.append(labels)
    given = sp.csr_matrix((np.ones(sum(map(len, rows)), bool), np.concatenate(rows),
                           np.cumsum([0] + [len(r) for r in rows])), shape=Y.shape)
    wrong = given.multiply(given > Y)
    return given, wrong.nnz / given.nnz


def test_bounds_hold_when_wrong_labels_are_random_and_ranking_is_unchanged(
        goemotions_small):
    """Half the documents given labels drawn independently by frequency: the ranking's
    stacking reads a document's *other* given labels for a given pair and all of them for
    a pair not given, so it learnt which pairs are given and a wrong label looked right
    (on 3,000 GoEmotions texts the bounds read 26% wrong against 43% true). The bounds now
    read a second stacking on symmetric evidence and sit above the truth, while the
    candidates, their probabilities and the flags are those of the ranking's fit alone."""
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    Y, true_wrong = _independent_wrong_labels(train.Y, 0.5, seed=34)
    X = TfidfFeaturizer.from_params(**FAST_FEATURES).fit_transform(train.texts)
    topk = cross_fit_topk(X, Y, "linear", {"n_jobs": 1}, n_folds=3, seed=0).topk
    issues = find_label_issues(Y, topk, X=X)
    assert 0.3 < true_wrong < 0.5
    assert issues.details["mixture_bounds"]["wrong_rate"] >= true_wrong   # 0.80 vs 0.43
    ranking_only = find_label_issues(Y, topk, X=X, _symmetric_bounds=False)  # as they were
    assert ranking_only.details["mixture_bounds"]["wrong_rate"] < 0.7 * true_wrong  # 0.25
    for field in ("doc", "label", "kind", "probability", "score", "flagged", "doc_quality",
                  "wrong_rate", "missing_rate", "threshold", "est_wrong", "est_missing"):
        np.testing.assert_array_equal(getattr(issues, field), getattr(ranking_only, field))
    assert issues.details["regimes"] == ranking_only.details["regimes"]
    # the bounds' own fit is recorded beside the ranking's: same pairs and features, its
    # own weights (the symmetric lift no longer tells given pairs from others)
    ranking, bounds_fit = issues.details["regimes"], issues.details["bounds_stacking"]["regimes"]
    assert ranking_only.details["bounds_stacking"] is None
    assert bounds_fit.keys() == ranking.keys() and "ranked" in ranking
    for regime, fit in bounds_fit.items():
        assert fit["n_fit_pairs"] == ranking[regime]["n_fit_pairs"]
        assert fit["coefficients"].keys() == ranking[regime]["coefficients"].keys()
    assert bounds_fit["ranked"]["coefficients"]["log_cooccurrence_lift"] \
        < ranking["ranked"]["coefficients"]["log_cooccurrence_lift"]


def test_single_label_bounds_stay_above_the_truth():
    """In a corpus of single-label documents no label co-occurs with another, so the
    co-occurrence evidence only told a given pair (no other label) from one not given
    (the document's label beside it): the stacking separated the two perfectly, and the
    bounds read 1.4% wrong against 19% replaced (4% on 1,000 GoEmotions texts given
    random labels, about 95% of them wrong). Left out there, the bounds hold."""
    rng = np.random.default_rng(0)
    n, n_labels = 3_000, 10
    true_label = rng.integers(0, n_labels, n)
    truth = np.zeros((n, n_labels), bool)
    truth[np.arange(n), true_label] = True
    scores = truth + rng.normal(0, 0.5, (n, n_labels))
    X = sp.csr_matrix(np.c_[truth + rng.normal(0, 1, (n, n_labels)), rng.random((n, 20))])
    given_label = true_label.copy()
    replaced = rng.random(n) < 0.2
    given_label[replaced] = (true_label[replaced] + rng.integers(1, n_labels, replaced.sum())) \
        % n_labels
    Y = sp.csr_matrix((np.ones(n, bool), (np.arange(n), given_label)), shape=(n, n_labels))
    issues = find_label_issues(Y, TopK.from_scores(scores, k=n_labels), X=X)
    bounds = issues.details["mixture_bounds"]
    assert bounds["wrong_rate"] > replaced.mean()
    assert bounds["missing_rate"] > replaced.mean()


def test_sparse_topk_at_a_large_label_space_finds_wrong_labels():
    """With k far below the label count (most given labels outside the top-k), the
    label-centroid and co-occurrence evidence still ranks injected wrong labels first."""
    X, Y = _extreme_problem()
    noise = inject_label_noise(Y, seed=1)
    topk = KNNModel(n_neighbors=20).fit(X, noise.Y).leave_one_out_topk(X, 10)
    assert topk.k == 10 and topk.n_labels == 2000
    issues = find_label_issues(noise.Y, topk, X=X)
    wrong = issues.kind == WRONG
    hits = candidate_hits(issues.doc[wrong], issues.label[wrong], noise.added)
    assert average_precision(-np.arange(wrong.sum()), hits, noise.n_added) > 0.4
    missing = issues.kind == MISSING
    hits = candidate_hits(issues.doc[missing], issues.label[missing], noise.removed)
    assert hits[:50].mean() > 0.3  # the best missing candidates are mostly real


def test_documents_given_no_label_rank_their_candidates_as_missing():
    """In a corpus where every document carries labels, a document left without any
    is missing one: its best candidates rank as missing well ahead of the rest."""
    X, Y = _extreme_problem(seed=2)
    noise = inject_label_noise(Y, missing_rate=0.2, wrong_rate=0.0, seed=3)
    per_doc = np.diff(noise.Y.indptr)
    unlabelled = per_doc == 0
    assert 100 < unlabelled.sum() < 0.2 * len(per_doc)
    topk = KNNModel(n_neighbors=20).fit(X, noise.Y).leave_one_out_topk(X, 10)
    found = {}
    for setting in (False, True, None):
        issues = find_label_issues(noise.Y, topk, X=X, every_doc_labelled=setting)
        missing = issues.kind == MISSING
        hits = candidate_hits(issues.doc, issues.label, noise.removed) & missing
        of_unlabelled = missing & unlabelled[issues.doc]
        top = noise.n_removed
        found[setting] = (hits[:top].sum(), (hits & of_unlabelled)[:top].sum(),
                          issues.probability[of_unlabelled].max())
        assert issues.details["every_doc_labelled"] is (setting is not False)
        assert issues.details["n_unlabelled_docs"] == unlabelled.sum()
    assert found[None] == found[True]  # auto: this corpus expects a label everywhere
    # the unlabelled documents' candidates move up (within a budget of as many
    # candidates as removed labels, more of theirs are found), and no others are lost
    assert found[True][1] >= found[False][1] + 10
    assert found[True][0] > found[False][0]
    assert found[True][2] <= 1.0 and found[True][2] > found[False][2]
    with pytest.raises(InvalidParameterError, match="every_doc_labelled"):
        find_label_issues(noise.Y, topk, X=X, every_doc_labelled="yes")
    # a document given no label is missing one for certain, even one without any score
    # (an empty text): its quality is the lowest, not 1.0
    blank = unlabelled.nonzero()[0][0]
    topk.indices[blank] = -1  # padding only: no candidate at all
    topk.scores[blank] = 0.0
    quality = find_label_issues(noise.Y, topk, X=X, every_doc_labelled=True).doc_quality
    assert quality[blank] == 0.0 and np.all(quality[unlabelled] == 0.0)
    assert find_label_issues(noise.Y, topk, X=X,
                             every_doc_labelled=False).doc_quality[blank] == 1.0


def test_unlabelled_documents_without_evidence_count_the_labels_beyond_their_candidates():
    """Without evidence no background sample is drawn; the labels beyond a document's
    candidates still count toward its chance of having any true label (from the
    calibration), so a document given no label does not make its one candidate
    certain: with ``k=1`` every such candidate came out at probability 1.0."""
    rng = np.random.default_rng(0)
    truth = rng.random((400, 30)) < 0.08
    truth[~truth.any(axis=1), 0] = True
    given = truth.copy()
    given[:40] = False  # a tenth of the documents lost all their labels
    topk = TopK.from_scores(truth * 0.3 + rng.random(truth.shape), k=1)
    issues = find_label_issues(sp.csr_matrix(given), topk, evidence=False,
                               every_doc_labelled=True, keep_probability=0.0)
    mine = (issues.kind == MISSING) & (issues.doc < 40)
    assert mine.sum() == 40
    probability, score = issues.probability[mine], issues.score[mine]
    # conditioning on "some label is true" lifts a candidate, but not to certainty
    assert np.all(probability >= score - 1e-6)
    assert probability.max() < 0.99 and probability.min() < 0.2
    assert np.corrcoef(probability, score)[0, 1] > 0.9


def test_unlabelled_pool_is_not_read_as_missing_labels():
    """A corpus where half the documents have no labels holds an unlabelled pool:
    ``every_doc_labelled=None`` leaves its documents alone."""
    X, Y = _extreme_problem(n_docs=1200, n_labels=300, seed=5)
    Y = sp.lil_matrix(Y)
    Y[::2] = 0
    Y = sp.csr_matrix(Y)
    Y.eliminate_zeros()
    topk = KNNModel(n_neighbors=20).fit(X, Y).leave_one_out_topk(X, 10)
    auto = find_label_issues(Y, topk, X=X)
    off = find_label_issues(Y, topk, X=X, every_doc_labelled=False)
    assert auto.details["every_doc_labelled"] is False
    np.testing.assert_array_equal(auto.probability, off.probability)


def _dense_confident_counts(Y, P, candidate):
    """Confident learning's counts as documented (module docstring, step 3), by loops
    over a dense matrix ``P`` of every pair's probability: ``t_c`` the mean over the
    given pairs, ``m_c`` over all the others; a given pair at most ``m_c`` is
    confidently wrong, a missing candidate (``candidate``) at least ``t_c`` (and above
    ``m_c``) confidently missing, any other pair not given confidently right."""
    n, n_labels = Y.shape
    wrong, missing = np.zeros(n_labels), np.zeros(n_labels)
    for c in range(n_labels):
        given = Y[:, c]
        if not given.any():
            continue
        t, m = P[given, c].mean(), P[~given, c].mean()
        c10 = sum(p <= m and p < t for p in P[given, c])
        c11 = sum(p >= t for p in P[given, c])
        wrong[c] = given.sum() * c10 / max(c10 + c11, 1)
        c01 = sum(p >= t and p > m for p in P[candidate[:, c], c])
        c00 = (~given).sum() - sum(p > m for p in P[candidate[:, c], c])
        missing[c] = (~given).sum() * c01 / max(c01 + c00, 1)
    return wrong, missing


def test_confident_counts_without_evidence_average_over_every_pair_not_given():
    """m_c is the mean over every pair where label c is not given: without evidence
    (no background sample) the pairs beyond the missing candidates were counted as
    probability 0, so m_c was a fraction of its value and few wrong labels counted."""
    from tagsmith.audit.calibrate import PairIndex, calibrate_scores

    rng = np.random.default_rng(3)
    n, n_labels, k = 300, 6, 4
    truth = rng.random((n, n_labels)) < 0.3
    scores = np.clip(truth * 0.35 + rng.random((n, n_labels)) * 0.65, 0, 1)
    given = truth ^ (rng.random((n, n_labels)) < 0.05)
    Y = sp.csr_matrix(given)
    topk = TopK.from_scores(scores, k=k)
    issues = find_label_issues(Y, topk, evidence=False, prior_strength=0.0,
                               calibration_folds=1, max_missing_per_doc=1)
    # every pair's calibrated probability: its top-k value, else its label's outside rate
    n_given = given.sum(axis=0)
    calibrated, _, outside = calibrate_scores(Y, topk, PairIndex(Y, topk), n_given,
                                              frequency_band(n_given), 100)
    P = np.tile(outside[0], (n, 1))
    for d in range(n):
        P[d, topk.indices[d]] = calibrated[d]
    # each document's missing candidate: its best top-k label it is not given
    candidate = np.zeros_like(given)
    for d in range(n):
        best = [c for c in topk.indices[d] if not given[d, c]]
        candidate[d, best[:1]] = True
    wrong, missing = _dense_confident_counts(given, P, candidate)
    assert np.allclose(issues.est_wrong, wrong)
    assert np.allclose(issues.est_missing, missing)


def test_within_budget_counts_each_label_and_kind_in_ranking_order():
    rng = np.random.default_rng(3)
    label = rng.integers(0, 7, 500)
    kind = rng.integers(0, 2, 500).astype(np.int8)
    budget = np.array([rng.uniform(-1, 40, 7), rng.uniform(0, 40, 7)])
    budget[0, 2] = np.nan
    seen: dict = {}
    expected = []
    for lab, k in zip(label.tolist(), kind.tolist(), strict=True):
        rank = seen.get((k, lab), 0)
        seen[(k, lab)] = rank + 1
        expected.append(bool(rank < np.floor(budget[k, lab] + 0.5)))
    assert _within_budget(label, kind, budget).tolist() == expected
    assert _within_budget(label[:0], kind[:0], budget).shape == (0,)


def test_within_budget_rounds_an_estimated_half_error_up():
    """np.rint rounded halves to even: an estimate of 2.5 errors allowed 2 candidates
    but 3.5 allowed 4, and 0.5 none."""
    label = np.repeat(np.arange(3), 5)
    kind = np.zeros(15, dtype=np.int8)
    budget = np.array([[0.5, 2.5, 3.5], [0.0, 0.0, 0.0]])
    within = _within_budget(label, kind, budget).reshape(3, 5).sum(axis=1)
    assert within.tolist() == [1, 3, 4]


def test_rare_labels_back_off_to_their_band():
    X, Y = _extreme_problem(n_docs=1500, n_labels=800, seed=4)
    topk = KNNModel(n_neighbors=20).fit(X, Y).leave_one_out_topk(X, 10)
    issues = find_label_issues(Y, topk, X=X, prior_strength=20.0)
    single = np.flatnonzero(issues.n_given == 1)
    assert len(single) > 5
    band_rate = issues.est_wrong[issues.band == 1].sum() / issues.n_given[issues.band == 1].sum()
    # one example cannot move a label's rate far from its band's
    assert np.all(np.abs(issues.wrong_rate[single] - band_rate) <= 1.0 / 21 + 1e-9)
    assert frequency_band(np.array([0, 1, 3, 4, 1000])).tolist() == [0, 1, 2, 3, 10]


def test_bad_inputs_are_clear_errors():
    topk = TopK.from_scores(np.random.default_rng(0).random((5, 3)), k=2)
    with pytest.raises(InvalidParameterError, match="Y"):
        find_label_issues(sp.csr_matrix((4, 3)), topk)
    # a bool read as 1.0, a string failed with a bare TypeError from the comparison
    for bad in (0, 1.5, True, "0.5", None):
        with pytest.raises(InvalidParameterError, match=r"min_probability.*\(0, 1\]"):
            find_label_issues(sp.csr_matrix((5, 3)), topk, min_probability=bad)
    with pytest.raises(InvalidParameterError, match="rates"):
        find_label_issues(sp.csr_matrix((5, 3)), topk, rates="per-doc")
    # no labels at all: nothing to find, no crash
    issues = find_label_issues(sp.csr_matrix((5, 3)), topk)
    assert issues.n_flagged == 0


@pytest.mark.parametrize("name, bad", [
    ("evidence", "no"), ("evidence", None),          # "no" was read as true
    ("keep_probability", float("nan")),              # kept no candidate at all, silently
    ("keep_probability", 1.5), ("keep_probability", -0.1),
    ("seed", -1), ("seed", 1.5), ("seed", None),     # numpy's words, naming nothing
    ("calibration_min_positives", None), ("calibration_min_positives", -3),
    ("n_background", 1.5), ("n_background", -5),
    ("n_threads", "2"), ("n_threads", -1),
    ("band_budget_below", -1), ("band_budget_below", 1.5),
])
def test_find_label_issues_names_every_bad_option(name, bad):
    rng = np.random.default_rng(0)
    Y = sp.csr_matrix(rng.random((20, 4)) < 0.4)
    topk = TopK.from_scores(rng.random((20, 4)), k=3)
    with pytest.raises(InvalidParameterError, match=f"parameter '{name}'"):
        find_label_issues(Y, topk, **{name: bad})
    # numpy numbers pass as their plain values
    find_label_issues(Y, topk, seed=np.int64(1), keep_probability=np.float32(0.0),
                      n_background=np.int32(10), n_threads=0, evidence=np.bool_(False))


def test_prior_strength_zero_keeps_every_rate_finite():
    """Without shrinkage a label (and a band) with no given documents has no rate of
    its own: it takes the rate it backs off to instead of 0/0 = NaN, which made the
    report's totals and band table NaN (invalid JSON); infinity is refused."""
    rng = np.random.default_rng(0)
    truth = rng.random((400, 4)) < 0.3
    truth[:, 3] = False  # an unused label
    scores = np.clip(truth * 0.7 + rng.random((400, 4)) * 0.3, 0, 1)
    given = truth.copy()
    given[:20, 0] = ~given[:20, 0]
    topk = TopK.from_scores(scores, k=4)
    issues = find_label_issues(sp.csr_matrix(given), topk, prior_strength=0, rates="label")
    for name in ("wrong_rate", "missing_rate", "est_wrong", "est_missing", "doc_quality"):
        assert np.isfinite(getattr(issues, name)).all(), name
    assert np.isfinite(issues.probability).all()
    assert issues.est_wrong[3] == 0 and issues.est_missing[3] == 0
    for row in issues.band_table():
        assert all(np.isfinite(v) for v in row.values())
    # no shrinkage: a used label keeps its own confident-learning rate
    shrunk = find_label_issues(sp.csr_matrix(given), topk, prior_strength=1e-9)
    np.testing.assert_allclose(issues.est_wrong, shrunk.est_wrong, atol=1e-6)
    with pytest.raises(InvalidParameterError, match="prior_strength"):
        find_label_issues(sp.csr_matrix(given), topk, prior_strength=float("inf"))


_T2 = TopK.from_scores(np.array([[0.9, 0.1], [0.2, 0.8]]), 2)
_Y2 = sp.csr_matrix(np.array([[1, 0], [0, 1]]))


@pytest.mark.parametrize("Y, X, name", [
    (np.array([[np.nan, 0], [0, 1]]), None, "Y"),   # was taken for a given label
    (np.array([[2, 0], [0, 1]]), None, "Y"),        # likewise
    (np.array([["1", "0"], ["0", "1"]]), None, "Y"),  # scipy's dtype error
    (np.zeros((2, 2, 2)), None, "Y"),               # scipy's "don't yet support 3D"
    (_Y2, np.zeros((3, 4)), "X"),                   # a matmul dimension mismatch
    (_Y2, [["a"], ["b"]], "X"),                     # could not convert string to float
    (_Y2, np.array([[np.nan], [1.0]]), "X"),        # went through
])
def test_find_label_issues_refuses_bad_labels_and_features(Y, X, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        find_label_issues(Y, _T2, X=X)


def test_find_label_issues_accepts_soft_and_boolean_labels():
    for Y in (np.array([[True, False], [False, True]]), np.array([[0.5, 0], [0, 1.0]])):
        assert find_label_issues(Y, _T2, X=np.eye(2)).n_docs == 2


def test_the_given_labels_p_at_1_takes_soft_labels_as_given():
    """The metrics refuse labels other than 0 or 1 (a 0.5 was counted a whole label);
    an audit's soft labels are given labels on purpose, their nonzero entries, for the
    P@1 that chooses the co-occurrence weight as before."""
    from tagsmith.audit.scores import choose_cooccurrence, given_p_at_1

    topk = TopK.from_scores([[0.9, 0.1, 0.0]] * 3, k=2)
    soft = np.array([[0.5, 0, 0], [0.8, 0.3, 0], [0, 1.0, 0]])
    assert given_p_at_1(soft, topk) == given_p_at_1(soft != 0, topk) == 0.6667
    weight, _, details = choose_cooccurrence(topk, sp.csr_matrix(soft), grid=[0, 1])
    assert details["p@1_vs_given"] == choose_cooccurrence(
        topk, sp.csr_matrix(soft != 0), grid=[0, 1])[2]["p@1_vs_given"]


@pytest.mark.parametrize("Y, seed, name", [
    (np.array([[np.nan, 0], [0, 1]]), 0, "Y"),      # went through as a label
    (np.array([[2.0, 0], [0, 1]]), 0, "Y"),
    (np.zeros((2, 2, 2)), 0, "Y"),                  # scipy's "don't yet support 3D"
    ([["a", "b"]], 0, "Y"),                         # could not convert string to float
    (_Y2, -1, "seed"),                              # numpy's "expected non-negative integer"
    (_Y2, 1.5, "seed"),
])
def test_inject_label_noise_refuses_bad_input(Y, seed, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        inject_label_noise(Y, seed=seed)


def _flipped_case(seed: int, n_docs: int, n_labels: int, n_flipped: int):
    """Given labels (label 0 flipped on the first ``n_flipped`` documents), scores near
    the truth and features from them."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n_docs, n_labels)) < 0.3
    scores = np.clip(truth * 0.7 + rng.random((n_docs, n_labels)) * 0.3, 0, 1)
    given = truth.copy()
    given[:n_flipped, 0] = ~given[:n_flipped, 0]
    return given, scores, sp.csr_matrix(scores + rng.random((n_docs, n_labels)))


def _assert_same_issues(shown, quiet):
    """The issues of a run with progress shown are those of a quiet one, field by field."""
    for field in ("doc", "label", "kind", "probability", "flagged", "doc_quality"):
        np.testing.assert_array_equal(getattr(shown, field), getattr(quiet, field))


def test_finding_label_issues_reports_progress_over_its_steps(caplog, log_every_progress_line):
    """The audit's "issues" step (96 s of a 185 s audit at 25k labels) said nothing
    while it ran; it now counts its parts, on the same results with the bar or without."""


    given, scores, X = _flipped_case(0, 400, 3, 20)
    quiet = find_label_issues(sp.csr_matrix(given), TopK.from_scores(scores, k=3), X=X)
    assert not caplog.records
    shown = find_label_issues(sp.csr_matrix(given), TopK.from_scores(scores, k=3), X=X,
                              show_progress=True)
    lines = [r.getMessage() for r in caplog.records]
    assert [line for line in lines if line.startswith("issues:")] == [
        f"issues: {i}/7 steps ({100 * i / 7:.0f}%) {name} done"
        for i, name in enumerate(ISSUE_STEPS, start=1)]
    # its longest parts (94 of 107 s at 20k documents x 2k labels, before the bounds'
    # stacking doubled them) count the pairs
    steps = [lines.index(f"issues: {i}/7 steps ({100 * i / 7:.0f}%) {name} done")
             for i, name in enumerate(ISSUE_STEPS, start=1)]
    for name, step in (("bounds' stacking", 3), ("stacking", 4)):
        at = [i for i, line in enumerate(lines) if line.startswith(f"issues ({name},")]
        assert at and lines[at[-1]].endswith(" pairs (100%)")
        assert steps[step - 1] < at[0] and at[-1] < steps[step]
    _assert_same_issues(shown, quiet)


def test_the_calibration_of_the_issues_step_counts_its_pairs(caplog, monkeypatch,
                                                             log_every_progress_line):
    """The start of the audit's issues step (its calibration, 11 s at 85k yso-finna-en
    documents) said nothing: the cross-fitted fits count the top-k pairs they have
    given their values, to all of them, before the step is said done; the same values
    with the bar or without."""
    import tagsmith.audit._isotonic as isotonic

    monkeypatch.setattr(isotonic, "CHUNK", 100)  # a range of groups a fit: many lines
    given, scores, X = _flipped_case(0, 400, 3, 20)
    topk = TopK.from_scores(scores, k=3)
    quiet = find_label_issues(sp.csr_matrix(given), topk, X=X, calibration_folds=2)
    assert not caplog.records
    shown = find_label_issues(sp.csr_matrix(given), topk, X=X, calibration_folds=2,
                              show_progress=True)
    lines = [r.getMessage() for r in caplog.records]
    counted = [line for line in lines if line.startswith("issues (calibration):")]
    assert len(counted) > 2, lines
    n_pairs = int(np.count_nonzero(topk.valid))
    assert counted[-1] == f"issues (calibration): {n_pairs:,}/{n_pairs:,} pairs (100%)"
    assert lines.index(counted[-1]) < lines.index(
        f"issues: 1/7 steps ({100 / 7:.0f}%) calibration done")
    _assert_same_issues(shown, quiet)


def test_the_evidence_of_the_issues_step_counts_its_labels(caplog, monkeypatch,
                                                          log_every_progress_line):
    """The issues step's "evidence" (the label centroids: 12 s at 85k yso-finna-en
    documents) said nothing: it counts the labels whose centroids are built, block by
    block, to all of them before the step is said done; centroids built a label at a
    time give the same issues as one product of every label, shown or not."""
    import tagsmith.audit.evidence as evidence

    given, scores, X = _flipped_case(0, 400, 3, 20)
    topk = TopK.from_scores(scores, k=3)
    quiet = find_label_issues(sp.csr_matrix(given), topk, X=X)  # one block of 2,048
    assert not caplog.records
    monkeypatch.setattr(evidence, "CENTROID_BLOCK", 1)
    shown = find_label_issues(sp.csr_matrix(given), topk, X=X, show_progress=True)
    lines = [r.getMessage() for r in caplog.records]
    counted = [line for line in lines if line.startswith("issues (evidence):")]
    assert [line.split(" labels")[0] for line in counted] == [
        f"issues (evidence): {i}/3" for i in (1, 2, 3)], lines
    assert counted[-1] == "issues (evidence): 3/3 labels (100%)"
    assert lines.index(counted[-1]) < lines.index(
        f"issues: 3/7 steps ({300 / 7:.0f}%) evidence done")
    _assert_same_issues(shown, quiet)


def test_stacking_counts_the_pairs_of_its_fitting_sample(monkeypatch, caplog,
                                                         log_every_progress_line):
    """The stacking's fitting sample (up to 500k pairs per group: its features, then the
    regression) was half of its time (32 of 66 s at 20k documents x 2k labels) with no
    progress: it now counts those pairs, in steps, on the same results as one step and
    without the bar."""

    import tagsmith.audit.stacking as stacking

    given, scores, X = _flipped_case(1, 600, 4, 30)

    def issues(**kw):
        return find_label_issues(sp.csr_matrix(given), TopK.from_scores(scores, k=2), X=X,
                                 **kw)

    whole = issues()
    assert not caplog.records
    monkeypatch.setattr(stacking, "FIT_CHUNK", 97)  # the sample's features in many steps
    shown = issues(show_progress=True)
    lines = [r.getMessage() for r in caplog.records]
    for regime in ("ranked", "unranked"):
        fitting = [line for line in lines
                   if line.startswith(f"issues (stacking, fitting on {regime} pairs)")]
        assert len(fitting) > 2 and " pairs (100%)" in fitting[-1], lines
        # before the pairs of the regime are predicted (where its regression was fitted:
        # too few pairs of a class keep the calibrated scores)
        predicted = [i for i, line in enumerate(lines)
                     if line.startswith(f"issues (stacking, {regime} pairs)")]
        assert bool(predicted) == ("coefficients" in shown.details["regimes"][regime])
        assert all(lines.index(fitting[-1]) < i for i in predicted)
    assert "coefficients" in shown.details["regimes"]["ranked"]
    assert shown.details["regimes"] == whole.details["regimes"]
    for field in ("doc", "label", "kind", "probability", "flagged", "doc_quality"):
        np.testing.assert_array_equal(getattr(shown, field), getattr(whole, field))


def test_the_few_texts_warning_of_an_in_sample_calibration_counts_no_folds_it_lacks():
    """calibration_folds=1 (in-sample) read '(30 per calibration fold, 2 folds)': two
    folds nobody asked for. It needs two folds' worth of texts all the same, and says so."""
    from tagsmith.audit.detect import few_texts

    per_doc = np.ones(10, np.int64)
    in_sample = few_texts(per_doc, None, 1)
    assert in_sample["min_distinct_labelled_texts"] == 60
    assert in_sample["warning"].endswith("below 60 distinct labelled texts (30 per "
                                         "calibration fold, two folds' worth, though "
                                         "calibrated in-sample)")
    assert few_texts(per_doc, None, 3)["warning"].endswith("(30 per calibration fold, "
                                                           "3 folds)")


def test_the_few_texts_warning_counts_no_blank_text_as_evidence():
    """Each blank text was its own group, so 3 texts copied 40 times and 60 blank
    labelled documents counted 63 distinct texts: no warning, with bounds as vacuous as
    without the blanks. A blank text carries no evidence; the count leaves them out and
    the warning says how many it left out. Without blanks nothing changes."""
    from tagsmith.audit.detect import few_texts

    groups = np.r_[np.tile(np.arange(3), 40), np.arange(3, 63)]
    per_doc = np.ones(len(groups), np.int64)
    blank = np.r_[np.zeros(120, bool), np.ones(60, bool)]
    texts = few_texts(per_doc, groups, 2, blank=blank)
    assert texts["n_distinct_labelled_texts"] == 3
    assert texts["n_blank_labelled_docs"] == 60
    assert texts["warning"] == (
        "3 distinct texts among the 180 labelled documents (60 of them blank, which "
        "carry no evidence): the noise-rate bounds and the calibration are not informative "
        "below 60 distinct labelled texts (30 per calibration fold, 2 folds)")
    # an unlabelled blank document is not counted among the labelled ones
    per_doc[-1] = 0
    assert few_texts(per_doc, groups, 2, blank=blank)["n_blank_labelled_docs"] == 59
    # no blanks: the same as before, with or without the mask
    plain = few_texts(per_doc[:120], groups[:120], 2)
    assert few_texts(per_doc[:120], groups[:120], 2, blank=blank[:120]) == plain
    assert "n_blank_labelled_docs" not in plain and "blank" not in plain["warning"]
    with pytest.raises(InvalidParameterError, match="blank"):
        few_texts(per_doc, groups, 2, blank=blank[:5])


def test_find_label_issues_checks_its_blank_mask():
    Y = sp.csr_matrix(np.eye(4, 3, dtype=bool))
    topk = TopK.from_scores(np.eye(4, 3) * 0.8 + 0.1, k=2)
    for bad in (np.ones(3, bool), np.ones(4, np.int64), [[True] * 4]):
        with pytest.raises(InvalidParameterError, match="blank"):
            find_label_issues(Y, topk, evidence=False, blank=bad)
    texts = find_label_issues(Y, topk, evidence=False,
                              blank=np.array([False, True, False, False])).details["texts"]
    assert (texts["n_distinct_labelled_texts"], texts["n_blank_labelled_docs"]) == (2, 1)


def test_both_stackings_share_each_pairs_centroid_cosine_with_the_same_probabilities():
    """The bounds' stacking and the ranking's read the same centroid cosines for their
    fitting samples (drawn alike): computed once into a shared cache of the samples alone,
    the probabilities and coefficients are exactly those of fits computing their own,
    and the second fit computes no cosine of its fitting sample again (equal values
    alone would not show that the cache is read)."""
    from tagsmith.audit.evidence import PairEvidence
    from tagsmith.audit.stacking import centroid_cache, stack_probabilities

    class CountingEvidence(PairEvidence):
        """Counts the pairs whose centroid cosine is computed."""

        n_cosines = 0

        def centroid_cosines(self, rows, labels, given):
            self.n_cosines += len(rows)
            return super().centroid_cosines(rows, labels, given)

    X, Y = _extreme_problem(n_docs=800, n_labels=40, seed=5)
    Y = sp.csr_matrix(Y != 0)
    rng = np.random.default_rng(0)
    pos_rows = np.repeat(np.arange(Y.shape[0]), np.diff(Y.indptr))
    neg_rows, neg_labels = rng.integers(0, Y.shape[0], 3000), rng.integers(0, 40, 3000)
    neg = ~np.asarray(Y[neg_rows, neg_labels]).ravel()

    def pairs(rows, labels, given):
        n = len(rows)
        raw = np.where(rng.random(n) < 0.6, rng.random(n), -np.inf).astype(np.float32)
        return PairSet(rows.astype(np.int32), labels.astype(np.int32), given,
                       rng.random(n).astype(np.float32), raw, np.ones(n, np.float32))

    groups = [pairs(pos_rows, Y.indices, np.ones(Y.nnz, bool)),
              pairs(neg_rows[neg], neg_labels[neg], np.zeros(neg.sum(), bool))]
    evidence = CountingEvidence(Y, X, n_threads=1)
    cache = centroid_cache(evidence, groups)
    assert cache is not None and centroid_cache(PairEvidence(Y), groups) is None
    n_pairs = sum(len(g) for g in groups)
    computed = {}
    for symmetric in (True, False):   # the audit's order: the bounds' fit first
        evidence.n_cosines = 0
        own = stack_probabilities(evidence, groups, symmetric=symmetric, fit_sample=300)
        computed["own", symmetric] = evidence.n_cosines
        evidence.n_cosines = 0
        shared = stack_probabilities(evidence, groups, symmetric=symmetric, fit_sample=300,
                                     centroid_cache=cache)
        computed["shared", symmetric] = evidence.n_cosines
        assert own[1] == shared[1] and own[1]["regimes"]["ranked"]["coefficients"]
        for a, b in zip(own[0], shared[0], strict=True):
            np.testing.assert_array_equal(a, b)
    n_held = sum(len(keys) for held in cache for keys, _ in held)
    assert n_held > 0
    # a fit of its own computes its fitting sample twice (to fit, then to predict); the
    # first shared one computes it once, into the cache; the second not at all
    assert computed["own", True] == computed["own", False] == n_pairs + n_held
    assert computed["shared", True] == n_pairs
    assert computed["shared", False] == n_pairs - n_held
    for g, held in zip(groups, cache, strict=True):
        # the fitting samples' cosines, one entry per regime (not one per fit), no more
        # than the sample's pairs (every pair would cost 8 bytes each at the audit's peak)
        assert 1 <= len(held) <= 2 and all(len(keys) <= 300 for keys, _ in held)
        for keys, cosines in held:
            np.testing.assert_array_equal(
                cosines, evidence.centroid_cosines(g.rows[keys], g.labels[keys],
                                                   g.given[keys]))


def _small_noisy_corpus():
    """1,000 documents, 3 labels whose scores separate them, 100 labels of label 0
    flipped (as in find_label_issues' example) and label 1 left off 150 of its
    documents, with features for the evidence."""
    rng = np.random.default_rng(0)
    truth = rng.random((1_000, 3)) < 0.3
    scores = np.clip(truth * 0.9 + rng.random((1_000, 3)) * 0.1, 0, 1)
    given = truth.copy()
    given[:100, 0] = ~given[:100, 0]
    given[np.flatnonzero(truth[:, 1])[:150], 1] = False
    X = sp.csr_matrix(np.hstack([scores, rng.random((1_000, 5))]))
    return sp.csr_matrix(given), TopK.from_scores(scores, k=3), X


def test_the_bounds_never_read_below_the_candidates_the_audit_flags(monkeypatch):
    """Reuters-21578's missing-label bound read "at most 23.6" under the 33 missing
    candidates the audit flagged, of which a reviewer confirmed 22 (and found 4 more):
    labels left off by habit escape the bound's assumption. Whatever mixture proportion
    reads, each bound is raised to the flagged candidates more likely errors than not,
    and what it read is kept in ``by_mixture``."""
    import tagsmith.audit.detect as detect

    real = detect.mixture_bounds

    def too_low(*args):
        return {**real(*args), "wrong_rate": 0.0, "missing_rate": 0.0, "est_wrong": 0.0,
                "est_missing": 0.0}

    monkeypatch.setattr(detect, "mixture_bounds", too_low)
    Y, topk, X = _small_noisy_corpus()
    issues = find_label_issues(Y, topk, X=X)
    bounds = issues.details["mixture_bounds"]
    likely = issues.flagged & (issues.probability >= 0.5)
    n_wrong = int((likely & (issues.kind == 1)).sum())
    n_missing = int((likely & (issues.kind == 0)).sum())
    assert n_wrong > 0 and n_missing > 0
    assert bounds["est_wrong"] == n_wrong and bounds["est_missing"] == n_missing
    given = float(Y.nnz)
    assert bounds["wrong_rate"] == round(n_wrong / given, 5)
    assert bounds["missing_rate"] == round(
        (n_missing / given) / (1 - n_wrong / given + n_missing / given), 5)
    assert bounds["raised_to_flagged"] == ["wrong", "missing"]
    assert bounds["by_mixture"] == {"wrong_rate": 0.0, "missing_rate": 0.0, "est_wrong": 0.0,
                                    "est_missing": 0.0}
    assert bounds["n_flagged_likely"] == {"wrong": n_wrong, "missing": n_missing}
    # bounds above the candidates stand as they were read
    monkeypatch.setattr(detect, "mixture_bounds", real)
    kept = find_label_issues(Y, topk, X=X).details["mixture_bounds"]
    assert kept["raised_to_flagged"] == [] and kept["est_missing"] >= n_missing
    assert {key: kept[key] for key in kept["by_mixture"]} == kept["by_mixture"]


def test_the_missing_bound_says_which_tail_it_rests_on():
    """The missing bound is read at one threshold, and a missing label scored below it
    is not counted: Reuters-21578's rested on the 22% of given labels scored 0.991 and
    above, with one pair not given among them, so no label left off by habit (scored
    lower) could raise it. The bounds record that tail."""
    rng = np.random.default_rng(0)
    n_docs, n_given = 100_000, np.array([9_500])
    pos_p = np.r_[rng.uniform(0.6, 1.0, 9_000), rng.uniform(0.0, 0.4, 500)]
    missing = _pairs(np.zeros(1_000), rng.uniform(0.6, 1.0, 1_000))
    negatives = _pairs(np.zeros(8_950), rng.uniform(0.0, 0.4, 8_950), weight=10.0)
    bounds = mixture_bounds(n_docs, n_given, pos_p, [missing, negatives])
    tail = bounds["missing_tail"]
    in_tail = pos_p >= tail["threshold"] - 5e-5   # the threshold is rounded to 4 places
    assert abs(tail["share_of_given"] - in_tail.mean()) < 0.01
    assert 0.01 <= tail["share_of_given"] <= 1.0
    above = (missing[1] >= tail["threshold"] - 5e-5).sum()
    assert abs(tail["n_not_given"] - above) <= 0.02 * above + 1
    # the bound is the tail's ratio, the count's upper limit over the given's lower one
    assert bounds["missing_rate"] > 0.98 * 0.1


def _long_tail(seed: int = 0, *, wrong_every: int = 2, misled: bool = False):
    """Documents of one or two labels over a long tail (6 labels of 150 to 40 documents,
    12 of 12 to 4), each label with 5 words of its own among 30 filler words; a third
    of the rare labels' given pairs are wrong (a rare label put on a document of
    another label), as a rushed moderator picks one off a long list (``wrong_every``
    1: a half). ``misled``: each wrong label's document holds one of its words, as a
    moderator misled by a keyword. Returns the features, the given labels and the
    (document, label) pairs given wrongly."""
    rng = np.random.default_rng(seed)
    counts = [150, 120, 90, 70, 50, 40] + [12, 11, 10, 9, 8, 8, 7, 6, 6, 5, 5, 4]
    n_labels, n_filler = len(counts), 30
    owner = np.concatenate([np.full(c, label) for label, c in enumerate(counts)])
    rng.shuffle(owner)
    n_docs = len(owner)
    true = np.zeros((n_docs, n_labels), bool)
    true[np.arange(n_docs), owner] = True
    second = rng.random(n_docs) < 0.3  # a second, frequent label on some documents
    true[np.flatnonzero(second), rng.integers(0, 6, int(second.sum()))] = True
    X = np.zeros((n_docs, n_labels * 5 + n_filler))
    for d in range(n_docs):
        for label in np.flatnonzero(true[d]):
            X[d, label * 5 + rng.choice(5, 3, replace=False)] += 1
        X[d, n_labels * 5 + rng.choice(n_filler, 6, replace=False)] += 1
    given = true.copy()
    rare = np.arange(6, n_labels)
    wrong = []
    for label in rare:  # about one wrong given pair for every two right ones
        others = np.flatnonzero(~true[:, label])
        for d in rng.choice(others, max(1, counts[label] // wrong_every), replace=False):
            given[d, label] = True
            wrong.append((int(d), int(label)))
            if misled:
                X[d, label * 5 + rng.integers(5)] += 1
    return sp.csr_matrix(X), sp.csr_matrix(given), set(wrong)


def test_rare_labels_wrong_pairs_are_flagged_by_their_band():
    """A label of a few given documents had its wrong pairs ranked well but never flagged
    (its estimated wrong count under a half, its posterior far below min_probability);
    with band_budget_below its band's estimated count is flagged by rank, mostly real
    errors, and labels of more documents keep their flags."""
    X, Y, wrong = _long_tail()
    n_given = np.asarray(Y.sum(axis=0)).ravel()
    topk = KNNModel(n_neighbors=15).fit(X, Y).leave_one_out_topk(X, 10)
    before = find_label_issues(Y, topk, X=X)
    after = find_label_issues(Y, topk, X=X, band_budget_below=20)
    rare = n_given[before.label] < 20

    def flagged_rare_wrong(issues):
        pick = issues.flagged & rare & (issues.kind == WRONG)
        return list(zip(issues.doc[pick].tolist(), issues.label[pick].tolist(), strict=True))

    assert len(flagged_rare_wrong(before)) <= 2  # 1 of the 43 wrong pairs
    found = flagged_rare_wrong(after)
    assert len(found) >= 20  # 36, 29 of them wrong
    assert np.mean([pair in wrong for pair in found]) >= 0.75
    # labels of 20 documents and more, and the missing kind, are as they were
    np.testing.assert_array_equal(after.flagged[~rare | (after.kind == MISSING)],
                                  before.flagged[~rare | (before.kind == MISSING)])
    assert after.details["band_budget"]["n_flagged_wrong"] == len(found)


def test_rare_bands_count_the_given_pairs_that_look_not_given():
    """A band's wrong count was confident learning's, a given pair at most its label's
    mean over the pairs not given, near 0 for a rare label: a wrong pair with a word of
    its label scores a little above it, and half the rare labels' pairs being wrong, 36
    were flagged (28 wrong). The count is now of the given pairs at most the band's 95%
    quantile of its pairs not given (its lower limit): 44 flagged, 36 wrong."""
    X, Y, wrong = _long_tail(wrong_every=1, misled=True)
    n_given = np.asarray(Y.sum(axis=0)).ravel()
    topk = KNNModel(n_neighbors=15).fit(X, Y).leave_one_out_topk(X, 10)
    issues = find_label_issues(Y, topk, X=X, band_budget_below=20)
    pick = issues.flagged & (n_given[issues.label] < 20) & (issues.kind == WRONG)
    found = set(zip(issues.doc[pick].tolist(), issues.label[pick].tolist(), strict=True))
    assert len(found & wrong) >= 33  # of 91 wrong pairs
    assert len(found & wrong) >= 0.75 * len(found)
    assert issues.details["band_budget"]["estimate"] == "not_given_quantile"
    # without the evidence no pairs not given are drawn: the band's labels' own step 4
    # counts (labels given once are left to the per-label rule on both paths)
    issues = find_label_issues(Y, topk, evidence=False, band_budget_below=20)
    assert issues.details["band_budget"]["estimate"] == "noise_rates"


def test_capped_labels_logs_what_it_checked_and_its_time(caplog):
    """The audit's max_posting check said nothing of its cost or of what it looked at:
    at yso-finna-en's scale no one could tell whether it ran. It logs, at debug level,
    the labels over the cap, the documents searched, the labels named and its seconds."""
    import logging

    from tagsmith.audit.scores import capped_labels

    rng = np.random.default_rng(0)
    X = sp.random(200, 30, density=0.2, random_state=0, format="csr", dtype=np.float32)
    Y = sp.csr_matrix(rng.random((200, 4)) < np.array([0.6, 0.3, 0.05, 0.05]),
                      dtype=np.float32)
    counts = np.diff(sp.csc_matrix(Y).indptr)
    model = KNNModel(n_neighbors=5, max_posting=50, n_jobs=1).fit(X, Y)
    assert counts.tolist() == [111, 60, 4, 6]
    with caplog.at_level(logging.DEBUG, logger="tagsmith"):
        capped_labels(model, X, Y)
        capped_labels(KNNModel(n_neighbors=5, max_posting=120, n_jobs=1).fit(X, Y), X, Y)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("max_posting")]
    assert len(said) == 2
    # every document of both (up to 200 a label when the 1,000 are shared by 2)
    assert said[0].startswith("max_posting check: 2 labels of more than 50 documents, 2 checked "
                              "on 171 of their documents, ")
    assert said[1].startswith("max_posting check: no label of more than 120 documents (the "
                              "largest has 111), in ")
    assert all(message.endswith(" s") for message in said)


def _many_pairs_for_stacking(n_pairs: int):
    """Evidence of a small corpus (800 documents, 40 labels) and two pair sets: its given
    pairs and ``n_pairs`` random pairs not given, half of each ranked."""
    from tagsmith.audit.evidence import PairEvidence

    X, Y = _extreme_problem(n_docs=800, n_labels=40, seed=5)
    Y = sp.csr_matrix(Y != 0)
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(Y.shape[0]), np.diff(Y.indptr)).astype(np.int32)
    ranked = np.where(rng.random(Y.nnz) < 0.5, rng.random(Y.nnz), -np.inf).astype(np.float32)
    pos = PairSet(rows, Y.indices.astype(np.int32), np.ones(Y.nnz, bool),
                  rng.random(Y.nnz).astype(np.float32), ranked, np.ones(Y.nnz, np.float32))
    raw = np.where(rng.random(n_pairs) < 0.5, rng.random(n_pairs), -np.inf).astype(np.float32)
    neg = PairSet(rng.integers(0, 800, n_pairs).astype(np.int32),
                  rng.integers(0, 40, n_pairs).astype(np.int32), np.zeros(n_pairs, bool),
                  (rng.random(n_pairs) * 0.5).astype(np.float32), raw,
                  np.ones(n_pairs, np.float32))
    return PairEvidence(Y, X, n_threads=1), [pos, neg]


def _stacking_peak(evidence, groups, **kwargs):
    """stack_probabilities' outputs and its peak traced memory beyond them (bytes)."""
    import tracemalloc

    from tagsmith.audit.stacking import centroid_cache, stack_probabilities

    tracemalloc.start()
    try:
        out, details = stack_probabilities(evidence, groups,
                                           centroid_cache=centroid_cache(evidence, groups),
                                           **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, details, peak - sum(o.nbytes for o in out)


def test_stackings_prediction_holds_a_small_chunk_of_pairs_with_the_same_probabilities(
        monkeypatch):
    """The audit's peak memory on yso-finna-en (11.8 million missing candidates) was in
    its stackings: each predicted a million pairs at a time (~200 bytes a pair of
    features, design matrix and temporaries) and held every candidate's position in
    64 bits through the fit and prediction of its regime. Beyond its outputs the
    stacking of 1.2 million pairs took 62 bytes a pair, now 26; a chunk of every pair
    at once gives the same probabilities, bit for bit."""
    from tagsmith.audit import stacking

    n_pairs = 1_200_000
    evidence, groups = _many_pairs_for_stacking(n_pairs)
    out, details, beyond = _stacking_peak(evidence, groups, fit_sample=20_000)
    assert beyond < 50 * n_pairs, beyond / n_pairs
    monkeypatch.setattr(stacking, "CHUNK", 10**9)
    whole, whole_details, _ = _stacking_peak(evidence, groups, fit_sample=20_000)
    assert details == whole_details and details["regimes"]["unranked"]["coefficients"]
    for a, b in zip(out, whole, strict=True):
        np.testing.assert_array_equal(a, b)


def test_stackings_fit_does_not_hold_its_design_chunks_beside_their_matrix():
    """The fitting sample's design matrix was stacked from its chunks, which stayed
    alive through the regression: a second copy of it (1.5 million pairs, 48 MB, at the
    audit's peak on yso-finna-en). Fitting on 600,000 pairs, the peak beyond the outputs
    was 6.8 times the design matrix (about: the larger regime's), now 5.8."""
    n_pairs = 600_000
    evidence, groups = _many_pairs_for_stacking(n_pairs)
    _, details, beyond = _stacking_peak(evidence, groups, fit_sample=n_pairs)
    n_fit = sum(regime["n_fit_pairs"] for regime in details["regimes"].values())
    design_bytes = max(n_fit // 2, 1) * 4 * 8  # the larger regime's, about
    assert beyond < 6.3 * design_bytes, beyond / design_bytes


def test_missing_candidates_are_gathered_without_every_flat_position():
    """The missing candidates' pairs were gathered through the 64-bit flat position of
    every candidate and a 64-bit copy of their rows (11.8 million candidates on
    yso-finna-en: 94 MB each, at the audit's peak in its issues step). Gathered a block
    of rows at a time: the same pairs, in the same order and types, the peak within a
    few percent of the pairs themselves (38% above them before)."""
    import tracemalloc

    from tagsmith.audit.detect import _pairs_from_topk

    rng = np.random.default_rng(0)
    n, k = 200_000, 50
    topk = TopK(np.argsort(rng.random((n, 60)), axis=1)[:, :k].astype(np.int32),
                -np.sort(-rng.random((n, k), dtype=np.float32), axis=1), n_labels=60)
    calibrated = rng.random((n, k), dtype=np.float32)
    mask = rng.random((n, k)) < 0.4
    tracemalloc.start()
    try:
        pairs = _pairs_from_topk(mask, topk, calibrated, given=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = sum(getattr(pairs, f).nbytes for f in ("rows", "labels", "given", "calibrated",
                                                     "raw", "weight"))
    assert peak < 1.2 * size, peak / size
    flat = np.flatnonzero(mask)
    expected = ((flat // k).astype(np.int32), topk.indices.ravel()[flat],
                np.zeros(len(flat), bool), calibrated.ravel()[flat],
                topk.scores.ravel()[flat], np.ones(len(flat), np.float32))
    for name, want in zip(("rows", "labels", "given", "calibrated", "raw", "weight"),
                          expected, strict=True):
        got = getattr(pairs, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want)
    empty = _pairs_from_topk(np.zeros((3, 0), bool), TopK.empty(3, 0, n_labels=4),
                             np.zeros((3, 0), np.float32), given=True)
    assert len(empty) == 0 and empty.rows.dtype == np.int32
