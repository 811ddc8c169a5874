"""Label shift: EM and BBSE recover resampled priors; adjusted decisions improve."""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tagsmith.calibration.shift import LabelShift, estimate_label_shift, prior_distance
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics import f1_micro
from tagsmith.topk import TopK

SOURCE = np.array([0.30, 0.20, 0.10, 0.05, 0.02])


def simulate(priors, n, seed, separation=2.0, source=SOURCE):
    """Labels at ``priors``; probabilities calibrated for the ``source`` priors."""
    rng = np.random.default_rng(seed)
    y = rng.random((n, priors.size)) < priors
    x = rng.normal(np.where(y, separation / 2, -separation / 2), 1.0)
    logit = np.log(source / (1 - source)) + separation * x
    return sp.csr_matrix(y), 1 / (1 + np.exp(-logit))


@pytest.mark.parametrize("method", ["em", "bbse"])
def test_estimates_recover_shifted_priors(method):
    target = np.array([0.10, 0.35, 0.25, 0.01, 0.08])
    y_t, p_t = simulate(target, 20000, seed=1)
    y_s, p_s = simulate(SOURCE, 20000, seed=2)
    shift = estimate_label_shift(TopK.from_scores(p_t, 5), source_prior=SOURCE, method=method,
                                 source_y=y_s, source_topk=TopK.from_scores(p_s, 5),
                                 min_positives=50)
    assert np.abs(shift.target_prior - target).max() < 0.015
    assert prior_distance(shift.target_prior, target) < 0.2 * prior_distance(SOURCE, target)
    assert shift.total_variation() == pytest.approx(prior_distance(SOURCE, shift.target_prior))


def test_no_shift_stays_at_the_source_and_em_is_a_fixed_point():
    y, p = simulate(SOURCE, 30000, seed=3)
    topk = TopK.from_scores(p, 5)
    # the source prior EM needs is the probabilities' own mean on source data
    shift = estimate_label_shift(topk, source_prior=p.mean(axis=0))
    assert shift.converged
    assert np.abs(shift.target_prior - p.mean(axis=0)).max() < 1e-6
    y_t, p_t = simulate(np.array([0.5, 0.1, 0.1, 0.1, 0.1]), 5000, seed=4)
    topk = TopK.from_scores(p_t, 5)
    shift = estimate_label_shift(topk, source_prior=SOURCE, tol=1e-10)
    adjusted = shift.adjust(topk).to_csr().toarray()
    np.testing.assert_allclose(adjusted.mean(axis=0), shift.target_prior, atol=1e-6)


def test_adjustment_raises_f1_under_shift_and_thresholds_agree():
    target = np.array([0.6, 0.02, 0.3, 0.15, 0.001])
    y, p = simulate(target, 8000, seed=5)
    topk = TopK.from_scores(p, 5)
    shift = estimate_label_shift(topk, source_prior=SOURCE)
    thresholds = np.full(5, 0.5, dtype=np.float32)  # Bayes-optimal for accuracy
    adjusted = shift.adjust(topk)
    assert f1_micro(y, adjusted.label_sets(thresholds)) > f1_micro(y, topk.label_sets(thresholds))
    # the equivalent thresholds on unadjusted probabilities make the same decisions
    same = topk.label_sets(shift.adjust_thresholds(thresholds))
    assert (same != adjusted.label_sets(thresholds)).nnz == 0  # exactly, at the edge too


def test_tail_labels_take_part():
    """Labels outside the top-k contribute their tail probability to the estimate."""
    n_labels = 30
    priors = np.full(n_labels, 0.05)
    rng = np.random.default_rng(6)
    y = rng.random((4000, n_labels)) < priors
    p = np.where(y, 0.8, 0.01)
    topk = TopK.from_scores(p, 3)  # most true labels listed, the rest tail
    tail = np.full(n_labels, 0.01)
    shift = estimate_label_shift(topk, source_prior=priors, tail=tail)
    assert shift.target_prior.sum() == pytest.approx(y.sum(axis=1).mean(), rel=0.15)


def test_state_round_trip_report_and_errors():
    y, p = simulate(SOURCE, 500, seed=7)
    topk = TopK.from_scores(p, 5)
    shift = estimate_label_shift(topk, source_prior=SOURCE)
    again = LabelShift.from_state(*shift.to_state())
    np.testing.assert_array_equal(again.target_prior, shift.target_prior)
    report = shift.report(names=list("abcde"), top=2)
    assert len(report["largest_changes"]) == 2 and "label" in report["largest_changes"][0]
    # labels kept at their prior (too little evidence) are no change to list
    frozen = estimate_label_shift(topk, source_prior=SOURCE, min_count=10_000)
    assert frozen.n_estimated == 0 and frozen.report(top=5)["largest_changes"] == []
    with pytest.raises(InvalidParameterError, match="method"):
        estimate_label_shift(topk, source_prior=SOURCE, method="magic")
    with pytest.raises(InvalidParameterError, match="source_prior"):
        estimate_label_shift(topk, source_prior=SOURCE[:3])
    with pytest.raises(InvalidParameterError, match="source_y"):
        estimate_label_shift(topk, source_prior=SOURCE, method="bbse")


def plain_em(p, source, iterations):
    """Reference: textbook Saerens EM on a dense probability matrix."""
    target = source.copy()
    for _ in range(iterations):
        w1, w0 = target / source, (1 - target) / (1 - source)
        r = w1 * p / (w1 * p + w0 * (1 - p))
        target = r.mean(axis=0)
    return target


def test_accelerated_em_reaches_the_textbook_fixed_point_faster():
    target = np.array([0.05, 0.4, 0.002, 0.2, 0.01])
    _, p = simulate(target, 3000, seed=8, separation=1.0)  # weak evidence: slow EM
    # (the estimates stay half a document inside [0, 1], where plain EM creeps on to 0)
    reference = np.clip(plain_em(p, SOURCE, 3000), 0.5 / 3000, 1 - 0.5 / 3000)
    shift = estimate_label_shift(TopK.from_scores(p, 5), source_prior=SOURCE, tol=1e-10,
                                 max_iter=20000)
    assert shift.converged and shift.iterations < 2000
    np.testing.assert_allclose(shift.target_prior, reference, atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_accelerated_em_never_sticks_at_0_or_1_when_the_likelihood_peaks_inside(seed):
    """0 and 1 are fixed points of EM: an accelerated jump clipped onto one stayed there
    whenever the likelihood rose on the way, though it peaked inside (0, 1): 30
    documents gave 0.5 / 30 where textbook EM converges to 0.11 (seed 0), 1 - 0.5 / 30
    where it converges to 0.92 (seed 5)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.7, 0.7, (30, 8))
    source = rng.uniform(0.05, 0.9, 8)
    reference = np.clip(plain_em(p, source, 20000), 0.5 / 30, 1 - 0.5 / 30)
    shift = estimate_label_shift(TopK.from_scores(p, 8), source_prior=source, min_count=0)
    assert shift.converged
    np.testing.assert_allclose(shift.target_prior, reference, atol=1e-6)


def test_prior_strength_pulls_toward_no_shift():
    target = np.array([0.10, 0.35, 0.25, 0.01, 0.08])
    _, p = simulate(target, 400, seed=9)
    topk = TopK.from_scores(p, 5)
    free = estimate_label_shift(topk, source_prior=SOURCE)
    held = estimate_label_shift(topk, source_prior=SOURCE, prior_strength=400)
    assert held.total_variation() < free.total_variation()
    assert np.all(np.abs(held.target_prior - SOURCE) <= np.abs(free.target_prior - SOURCE) + 1e-9)


def test_rare_labels_without_evidence_keep_their_source_prior():
    """Unshifted data, 150 rare labels: per-label EM wanders, the frozen default does not."""
    priors = np.full(150, 0.003)
    y, p = simulate(priors, 2000, seed=10, separation=1.5, source=priors)
    topk = TopK.from_scores(p, 150)
    truth = np.asarray(y.sum(axis=0)).ravel() / 2000
    free = estimate_label_shift(topk, source_prior=priors, min_count=0)
    kept = estimate_label_shift(topk, source_prior=priors)
    assert kept.frozen.all() and np.array_equal(kept.target_prior, priors)
    assert prior_distance(free.target_prior, truth) > prior_distance(priors, truth)
    assert kept.report()["n_labels_frozen"] == 150


def test_report_says_how_many_labels_were_estimated_and_with_what_evidence():
    y, p = simulate(SOURCE, 300, seed=11)
    topk = TopK.from_scores(p, 5)
    shift = estimate_label_shift(topk, source_prior=SOURCE, min_count=20)
    # soft counts: about 90, 60, 30, 15 and 6 of 300 documents
    assert shift.frozen.tolist() == [False, False, False, True, True]
    assert (shift.n_estimated, shift.n_frozen, shift.min_count) == (3, 2, 20.0)
    report = shift.report()
    assert (report["n_labels"], report["n_labels_estimated"], report["n_labels_frozen"],
            report["min_count"]) == (5, 3, 2, 20.0)
    again = LabelShift.from_state(*shift.to_state())
    assert again.min_count == 20.0 and again.n_estimated == 3
    few = TopK.from_scores(simulate(SOURCE, 60, seed=12)[1], 5)
    nothing = estimate_label_shift(few, source_prior=SOURCE)  # default min_count 50
    assert (nothing.min_count, nothing.n_estimated, nothing.total_variation()) == (50.0, 0, 0.0)
    for bad in (float("nan"), float("inf"), -1):
        with pytest.raises(InvalidParameterError, match="min_count"):
            estimate_label_shift(topk, source_prior=SOURCE, min_count=bad)


def test_bbse_source_documents_of_another_shape_are_refused_by_name():
    # source scores over other labels failed as a bare numpy broadcasting ValueError
    # after the whole EM run; labels of another shape were blamed on 'y_true'
    y_t, p_t = simulate(SOURCE, 200, seed=3)
    y_s, p_s = simulate(SOURCE, 200, seed=4)
    target = TopK.from_scores(p_t, 5)
    cases = [(y_s[:, :4], TopK.from_scores(p_s[:, :4], 4), "source_topk"),
             (y_s[:150], TopK.from_scores(p_s, 5), "source_y"),
             (y_s[:, :4], TopK.from_scores(p_s, 5), "source_y")]
    for source_y, source_topk, name in cases:
        with pytest.raises(InvalidParameterError, match=f"'{name}' must be"):
            estimate_label_shift(target, source_prior=SOURCE, method="bbse", min_count=0,
                                 source_y=source_y, source_topk=source_topk)


@pytest.mark.parametrize("tail", [[np.nan] * 3, [2.0] * 3, [-0.5, 0.1, 0.1]])
def test_label_shift_refuses_a_tail_that_is_no_probability(tail):
    # a tail of 2 was silently used as the probability of labels outside the top-k
    topk = TopK.from_scores(np.array([[0.9, 0.2, 0.1], [0.4, 0.8, 0.3]]), 2)
    with pytest.raises(InvalidParameterError, match="parameter 'tail'"):
        estimate_label_shift(topk, source_prior=np.full(3, 0.3), tail=tail, min_count=0.1)


def test_label_shift_names_nan_in_a_tail_of_otherwise_valid_values():
    # was 'got range [0.1, 0.1]': the NaN's neighbours, inside [0, 1], hid what was wrong
    topk = TopK.from_scores(np.array([[0.9, 0.2, 0.1], [0.4, 0.8, 0.3]]), 2)
    with pytest.raises(InvalidParameterError, match="1 NaN value'"):
        estimate_label_shift(topk, source_prior=np.full(3, 0.3), tail=[0.1, np.nan, 0.1],
                             min_count=0.1)


@pytest.mark.parametrize(("name", "value"), [("min_gap", 0.0), ("min_gap", -1.0),
                                             ("min_gap", float("nan")), ("max_iter", "x"),
                                             ("max_iter", 0), ("tol", float("nan")),
                                             ("tol", 0.0), ("min_positives", 2.5),
                                             ("min_positives", -1)])
def test_estimator_settings_are_checked_by_name(name, value):
    # unchecked: a bare TypeError, a NaN tol that never converged, and min_gap=0 let a
    # label with gap 0 through BBSE (a division by zero, read as target prior 1)
    y_s, p_s = simulate(SOURCE, 400, seed=5)
    _, p_t = simulate(SOURCE, 300, seed=6)
    with pytest.raises(InvalidParameterError, match=name):
        estimate_label_shift(TopK.from_scores(p_t, 5), source_prior=SOURCE, method="bbse",
                             source_y=y_s, source_topk=TopK.from_scores(p_s, 5), min_count=0,
                             **{name: value})



def test_labels_whose_probabilities_do_not_vary_keep_their_source_prior():
    """A label with the same probability in every document says nothing of its share:
    every prior is a fixed point of EM, and rounding ran it to 1 (or 0)."""
    _, p = simulate(SOURCE, 2000, seed=12)
    p[:, 1] = np.float32(0.2) + 0.0  # its source prior, up to float32 rounding
    p[:, 3] = 0.4                    # above its prior 0.05: the likelihood rises to 1
    shift = estimate_label_shift(TopK.from_scores(p, 5), source_prior=SOURCE, min_count=0)
    assert shift.flat.tolist() == [False, True, False, True, False]
    assert shift.frozen[1] and shift.frozen[3] and shift.n_flat == 2
    assert shift.target_prior[1] == SOURCE[1] and shift.target_prior[3] == SOURCE[3]
    assert shift.report()["n_labels_flat"] == 2
    again = LabelShift.from_state(*shift.to_state())
    np.testing.assert_array_equal(again.flat, shift.flat)


def test_estimates_never_reach_0_or_1():
    """Per-label maximum likelihood can put a prior at 0 or 1 (a label absent from a
    small batch); the adjusted probabilities were then exactly 0 or 1."""
    rng = np.random.default_rng(13)
    n = 200
    p = np.column_stack([rng.uniform(1e-4, 1e-3, n),  # never there: MLE 0
                         rng.uniform(0.99, 0.999, n),  # always there: MLE 1
                         rng.uniform(0.2, 0.8, n)])
    source = np.array([0.3, 0.3, 1e-4])
    shift = estimate_label_shift(TopK.from_scores(p, 3), source_prior=source, min_count=0)
    edge = 0.5 / n
    assert shift.target_prior[0] == pytest.approx(edge)
    assert shift.target_prior[1] == pytest.approx(1 - edge)
    assert shift.target_prior[2] >= source[2]  # never pushed past a source prior nearer 0
    adjusted = shift.adjust(TopK.from_scores(p, 3)).scores
    assert np.all((adjusted > 0) & (adjusted < 1))


_UNIT32 = st.floats(0.0, 1.0, width=32)


@settings(max_examples=300, deadline=None)
@given(t=_UNIT32, source=st.floats(0.001, 0.999), target=st.floats(0.0, 1.0),
       p=st.lists(_UNIT32, min_size=1, max_size=20))
def test_adjusted_thresholds_decide_as_the_stored_adjusted_probabilities(t, source, target, p):
    """``r >= t`` iff ``p >= t'`` for float32 ``p`` and the float32 ``r`` that adjust()
    stores: the closed form rounded to float32 disagreed one step from the boundary."""
    shift = LabelShift("em", np.array([source]), np.array([target]), 100)
    t_prime = shift.adjust_thresholds(np.array([t], np.float32))
    assert t_prime.dtype == np.float32 and t_prime.shape == (1,)
    cut = t_prime[0]
    # random scores, and the float32 scores either side of the cut (the edge cases)
    edge = [np.nextafter(cut, np.float32(-1)), cut, np.nextafter(cut, np.float32(2))]
    scores = np.array([q for q in [*p, *edge] if 0 <= q <= 1], np.float32)
    stored = shift.adjust(TopK(np.zeros((scores.size, 1), np.int32), scores[:, None], 1))
    r = stored.scores[:, 0]
    assert np.array_equal(r >= np.float32(t), scores >= cut), (r, scores, cut)
    assert np.array_equal(r, shift.adjust_probabilities(np.zeros(scores.size, int),
                                                        scores).astype(np.float32))


def test_report_names_only_the_labels_it_lists_and_as_a_list_of_names_does():
    """``tagsmith shift`` named every label in a Python loop (25k for a thesaurus) to
    show --top of them: a function naming a label id is called for the listed only."""
    y, p = simulate(SOURCE, 500, seed=7)
    shift = estimate_label_shift(TopK.from_scores(p, 5), source_prior=SOURCE)
    named: list[int] = []

    def name_of(i: int) -> str:
        named.append(i)
        return "abcde"[i]

    for top in (0, 2, 10):
        named.clear()
        expected = shift.report(names=list("abcde"), top=top)
        assert shift.report(names=name_of, top=top) == expected
        listed = [row["label_id"] for row in expected["largest_changes"]]
        assert named == listed and len(listed) <= top and (top == 0 or listed)
        assert [row["label"] for row in expected["largest_changes"]] == \
            ["abcde"[i] for i in listed]
    # no names, or an empty list: the rows have no "label"
    for names in (None, []):
        assert "label" not in shift.report(names=names, top=2)["largest_changes"][0]


def test_the_shift_command_names_only_the_labels_it_shows(monkeypatch):
    import json

    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    from tagsmith.data.labelspace import Label, LabelSpace
    from tagsmith.pipeline.classifier import TextClassifier

    tagsmith_cli._register_commands()

    space = LabelSpace([Label(f"u:{c}", {"en": f"name {c}"}) for c in "abcde"])
    calls: list[int] = []
    original = LabelSpace.name_of

    def counting(self, label_id, lang="en"):
        calls.append(label_id)
        return original(self, label_id, lang)

    shift = estimate_label_shift(TopK.from_scores(simulate(SOURCE, 500, seed=7)[1], 5),
                                 source_prior=SOURCE)

    class _Classifier:  # what the command reads of a loaded bundle
        label_space, n_labels, calibrator, show_progress = space, 5, object(), False
        featurizer, manifest = None, {}  # no vocabulary: unseen words not measured
        unseen_words = TextClassifier.unseen_words  # shift's report of them, as loaded

    monkeypatch.setattr("tagsmith.pipeline.classifier.TextClassifier.load",
                        staticmethod(lambda bundle: _Classifier()))
    monkeypatch.setattr("tagsmith.pipeline.confidence.estimate_shift",
                        lambda classifier, texts, **kwargs: shift)
    monkeypatch.setattr(LabelSpace, "name_of", counting)
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "shift", "bundle", "--top", "2",
                                                   "--json"], input="one\ntwo\n")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["largest_changes"]
    assert [row["label"] for row in rows] == [f"name {'abcde'[row['label_id']]}"
                                              for row in rows]
    assert len(rows) == 2 and calls == [row["label_id"] for row in rows]


@pytest.mark.parametrize(("prior", "expected"), [
    ([0.2, np.nan], "must be 2 probabilities in [0, 1], got '1 NaN value'"),
    ([0.2, 1.5], "must be 2 probabilities in [0, 1], got 'range [0.2, 1.5]'"),
    ([0.2, 0.3, 0.4], "must be 2 probabilities in [0, 1], got 'shape (3,)'")])
def test_a_source_prior_out_of_range_says_what_is_wrong(prior, expected):
    """A NaN or a 1.5 in a source prior of the right shape was refused as got
    'shape (2,)', the very shape asked for."""
    topk = TopK.from_scores(np.array([[0.9, 0.1], [0.2, 0.7]]), 2)
    with pytest.raises(InvalidParameterError, match=re.escape(expected)):
        estimate_label_shift(topk, source_prior=prior)


def test_one_label_s_messages_are_in_the_singular():
    topk = TopK.from_scores(np.array([[0.9], [0.2]]), 1)
    with pytest.raises(InvalidParameterError, match=re.escape(
            "must be 1 probability in [0, 1], got 'shape (2,)'")):
        estimate_label_shift(topk, source_prior=[0.5, 0.5])
    with pytest.raises(InvalidParameterError, match=re.escape(
            "parameter 'tail' must be 1 probability in [0, 1]")):
        estimate_label_shift(topk, source_prior=[0.5], tail=[2.0])
    meta, arrays = estimate_label_shift(topk, source_prior=[0.5]).to_state()
    with pytest.raises(ValueError, match=re.escape("label-shift frozen is not 1 boolean, "
                                                   "one per label")):
        LabelShift.from_state(meta, {**arrays, "frozen": np.zeros(1, dtype=np.int8)})


@pytest.mark.parametrize("name", ["source_prior", "tail"])
def test_label_shift_refuses_per_label_values_of_the_wrong_shape_alike(name):
    # the tail's shape error said "expected shape (3,), got (2,)" and the prior's
    # "expected 3 probabilities in [0, 1], got shape (2,)": one check serves both now
    topk = TopK.from_scores(np.array([[0.9, 0.2, 0.1], [0.4, 0.8, 0.3]]), 2)
    given = {"source_prior": np.full(3, 0.3), "tail": None, name: [0.1, 0.1]}
    with pytest.raises(InvalidParameterError,
                       match=rf"parameter '{name}'.*3 probabilities in \[0, 1\].*shape \(2,\)"):
        estimate_label_shift(topk, source_prior=given["source_prior"], tail=given["tail"],
                             min_count=0.1)


def estimates_and_errors(priors, n, first_seed, separation, source=SOURCE):
    """The target priors estimated, and their standard errors, on 40 samples of ``n``
    documents (:func:`simulate`, seeds ``first_seed`` on), each estimate on its own."""
    estimates, errors = [], []
    for seed in range(40):
        _, p = simulate(priors, n, seed=first_seed + seed, separation=separation,
                        source=source)
        shift = estimate_label_shift(TopK.from_scores(p, source.size), source_prior=source,
                                     min_count=0)
        estimates.append(shift.target_prior)
        errors.append(shift.standard_error)
    return estimates, errors


def test_standard_error_matches_the_spread_of_estimates_on_unshifted_samples():
    """The first-order standard error is the spread EM's estimate really has: on 400
    unshifted documents with weakly separating probabilities the estimates of rare labels
    moved several times their prior, which the report gave as a shift like any other."""
    estimates, errors = estimates_and_errors(SOURCE, 400, first_seed=100, separation=1.5)
    spread = np.std(estimates, axis=0)
    typical = np.median(errors, axis=0)
    # the error at the (smoothed) estimate: above the spread for the rarest label (0.02
    # on 400 documents), whose estimates that rose have the larger error of their share
    assert np.all(typical > 0.65 * spread) and np.all(typical < 1.5 * spread)
    # most estimates of an unshifted sample are within 2 standard errors: not supported
    within = np.abs(np.array(estimates) - SOURCE) <= 2 * np.array(errors)
    assert within.mean() > 0.9


def test_standard_error_of_a_shifted_sample_is_its_spread_at_the_target_frequency():
    """The error was measured at the source prior alone: for labels whose share rose
    (0.2 -> 0.35, 0.1 -> 0.25, 0.02 -> 0.08 on 400 documents) it was as little as 0.4 of
    the spread the estimates really have, so noise read as a supported change."""
    target = np.array([0.10, 0.35, 0.25, 0.01, 0.08])
    estimates, errors = estimates_and_errors(target, 400, first_seed=200, separation=3.0)
    assert np.all(np.median(errors, axis=0) > 0.8 * np.std(estimates, axis=0))


def test_standard_error_of_a_falling_label_is_its_spread_not_that_at_the_source():
    """The target documents' error was the larger of its values at the source prior and
    at the estimate: a label that fell 0.2 -> 0.05 on 500 documents (clear separation),
    whose estimates spread 0.013, was given 0.029, so real drops read as unsupported."""
    source, target = np.array([0.2, 0.5]), np.array([0.05, 0.3])
    estimates, errors = estimates_and_errors(target, 500, first_seed=300, separation=3.0,
                                             source=source)
    ratio = np.median(errors, axis=0) / np.std(estimates, axis=0)
    assert np.all(ratio > 0.8) and np.all(ratio < 1.4)


def test_a_large_move_on_five_documents_is_not_supported():
    """tagsmith shift of 5 sentences marked surprise 0.025 -> 0.475 supported, with a
    standard error of 0.029 measured at 0.025; at the estimated share five documents
    tell it to no better than a proportion's sqrt(pi (1 - pi) / 5)."""
    p = np.array([[0.95], [0.9], [0.01], [0.01], [0.01]])
    shift = estimate_label_shift(TopK.from_scores(p, 1), source_prior=[0.025], min_count=0,
                                 source_docs=3000)
    estimate = shift.target_prior[0]
    assert estimate > 0.4 and not shift.weak[0]  # a big move, on enough calibration
    assert shift.standard_error[0] >= np.sqrt(estimate * (1 - estimate) / 5)
    assert shift.unsupported.tolist() == [True]


def test_unshifted_sample_on_a_small_calibration_reports_its_change_unsupported():
    _, p = simulate(SOURCE, 300, seed=11, separation=1.0)
    shift = estimate_label_shift(TopK.from_scores(p, 5), source_prior=SOURCE, min_count=0,
                                 source_docs=100)
    report = shift.report(names=list("abcde"), top=5)
    assert report["total_variation"] > 0.1  # a large shift where there is none...
    # ...that the report says the evidence does not support
    assert report["n_labels_unsupported"] == 5 and report["total_variation_supported"] == 0
    assert all(not row["supported"] for row in report["largest_changes"])
    # labels with fewer than 20 expected positives among the 100 calibration documents
    assert report["n_labels_few_calibration_positives"] == 3
    assert shift.weak.tolist() == [False, False, True, True, True]
    assert report["calibration_docs"] == 100
    assert [row["calibration_positives"] for row in report["largest_changes"]
            if row["label"] == "e"] == [2.0]
    # the calibration's share widens the error: the same documents, a larger calibration
    larger = estimate_label_shift(TopK.from_scores(p, 5), source_prior=SOURCE, min_count=0,
                                  source_docs=100_000)
    assert np.all(larger.standard_error < shift.standard_error)
    again = LabelShift.from_state(*shift.to_state())
    np.testing.assert_array_equal(again.standard_error, shift.standard_error)
    assert again.source_docs == 100 and again.report() == shift.report()


def test_a_real_shift_on_enough_documents_is_supported():
    target = np.array([0.10, 0.35, 0.25, 0.01, 0.08])
    _, p = simulate(target, 20000, seed=1)
    shift = estimate_label_shift(TopK.from_scores(p, 5), source_prior=SOURCE,
                                 source_docs=20000)
    report = shift.report()
    assert report["n_labels_unsupported"] == 0
    assert report["total_variation_supported"] == report["total_variation"]


@pytest.mark.parametrize("separation", [1.0, 6.0])
def test_calibration_share_of_the_error_is_how_far_the_source_prior_moves_the_estimate(
        separation):
    """The calibration's share of the standard error is the source prior's own error times
    the derivative of EM's estimate in it, measured here by re-running EM at a nudged
    source prior: for cleanly separating probabilities that derivative is near 0 (EM
    counts the positives whatever the source prior), and the error had the calibration's
    whole sqrt(pi (1 - pi) / source_docs) added (0.046 for 0.3 on 100 documents)."""
    _, p = simulate(SOURCE, 20000, seed=5, separation=separation)
    topk = TopK.from_scores(p, 5)
    alone = estimate_label_shift(topk, source_prior=SOURCE, min_count=0).standard_error
    both = estimate_label_shift(topk, source_prior=SOURCE, min_count=0,
                                source_docs=100).standard_error
    nudge = 1e-5
    up, down = (estimate_label_shift(topk, source_prior=SOURCE + d, min_count=0,
                                     tol=1e-12).target_prior for d in (nudge, -nudge))
    slope = (up - down) / (2 * nudge)
    share = np.abs(slope) * np.sqrt(SOURCE * (1 - SOURCE) / 100)
    np.testing.assert_allclose(np.sqrt(both ** 2 - alone ** 2), share, rtol=0.1, atol=1e-3)


def test_label_in_nearly_every_calibration_document_is_weakly_supported():
    """A label in 99% of 200 calibration documents has some 2 calibration negatives:
    as weakly supported as one with 2 positives (BBSE's min_positives checks both), yet
    only the positives were counted and it was never marked weak."""
    shift = LabelShift("em", np.array([0.99, 0.5, 0.01]), np.array([0.95, 0.6, 0.05]),
                       n_docs=300, source_docs=200)
    assert shift.weak.tolist() == [True, False, True]
    assert shift.unsupported.tolist() == [True, False, True]
    report = shift.report(names=list("abc"), top=3)
    assert report["n_labels_few_calibration_examples"] == 2
    assert report["n_labels_few_calibration_positives"] == 1  # the key keeps its meaning
    row = next(r for r in report["largest_changes"] if r["label"] == "a")
    assert row["calibration_positives"] == 198.0 and row["calibration_negatives"] == 2.0
