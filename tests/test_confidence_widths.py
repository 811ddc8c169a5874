"""Calibrator, conformal sets and label shift read the same candidates at fit and predict.

Training with ``crossfit_k`` wider than ``calibration_k`` (and the calibrator fitted on
the out-of-fold scores) gives a calibrator fitted at one top-k width and conformal
statistics, and BBSE's source statistics, at another.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.calibration.shift import estimate_label_shift
from tagsmith.data.labelspace import LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.pipeline.confidence import ConfidenceOptions, estimate_shift
from tagsmith.pipeline.train import TrainOptions, train_classifier
from tagsmith.topk import TopK

from conftest import FAST_FEATURES

N_LABELS = 12


def synthetic_corpus(n_docs: int, seed: int) -> tuple[list[str], sp.csr_matrix]:
    """Independent, identically distributed documents: each label true with its own
    prior (at least one per document), a true label's words drawn from its signature
    words, which other labels' documents also use now and then, plus filler words."""
    rng = np.random.default_rng(seed)
    priors = np.geomspace(0.35, 0.05, N_LABELS)
    texts, rows = [], []
    for _ in range(n_docs):
        labels = np.flatnonzero(rng.random(N_LABELS) < priors)
        if labels.size == 0:
            labels = rng.choice(N_LABELS, 1, p=priors / priors.sum())
        words = [f"w{label}x{rng.integers(4)}" for label in labels
                 for _ in range(1 + rng.poisson(1.0))]
        # confusable words: another label's signature without the label
        words += [f"w{rng.integers(N_LABELS)}x{rng.integers(4)}"
                  for _ in range(rng.poisson(1.5))]
        words += [f"filler{rng.integers(200)}" for _ in range(6)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        row = np.zeros(N_LABELS, np.int8)
        row[labels] = 1
        rows.append(row)
    return texts, sp.csr_matrix(np.array(rows))


@pytest.fixture(scope="module")
def wide_calibrator():
    """A classifier whose calibrator saw the model's top 8, its conformal sets top 3."""
    texts, Y = synthetic_corpus(2000, seed=0)
    space = LabelSpace.from_uris([f"u:{i}" for i in range(N_LABELS)])
    options = TrainOptions(featurizer_params=FAST_FEATURES, dev_fraction=0.0,
                           calibration_fraction=0.4, crossfit_folds=2, crossfit_k=8,
                           calibration_k=3,
                           confidence=ConfidenceOptions(calibrator_source="crossfit"))
    clf = train_classifier(texts, Y, space, options=options)
    return clf, [texts[i] for i in clf.heldout.rows]


def test_sets_score_the_candidates_the_conformal_statistics_were_fitted_on(wide_calibrator):
    # predict_sets re-ranked the calibrator's top 8 by probability and kept the best 3,
    # while the sets were calibrated on the model's top 3: another score, and the
    # guarantee no longer exact
    clf, calibration_texts = wide_calibrator
    assert (clf.calibrator.k, clf.conformal.k) == (8, 3)
    heldout = clf.heldout
    test_texts, test_Y = synthetic_corpus(1500, seed=1)
    for alpha in (0.1, 0.2, 0.3):
        fitted = clf.conformal.predict(clf.calibrator.apply(heldout.topk), alpha=alpha)
        predicted = clf.predict_sets(calibration_texts, alpha=alpha)
        assert np.array_equal(predicted.size, fitted.size)
        assert all(np.array_equal(predicted.labels(i), fitted.labels(i))
                   for i in range(len(fitted)))
        # CRC on the calibration documents themselves: (n R + 1) / (n + 1) <= alpha
        assert np.nanmean(predicted.recall(heldout.Y)) >= 1 - alpha
        # exchangeable new documents: the level, up to sampling noise
        assert np.nanmean(clf.predict_sets(test_texts, alpha=alpha).recall(test_Y)) \
            > 1 - alpha - 0.03
    # what suggest_with_sets gives is the same
    _, sets = clf.suggest_with_sets(calibration_texts[:50], alpha=0.2)
    alone = clf.suggest_sets(calibration_texts[:50], alpha=0.2)
    assert [s.to_dict() for s in sets] == [s.to_dict() for s in alone]


def same(a, b) -> bool:
    return np.array_equal(a.indices, b.indices) and np.array_equal(a.scores, b.scores)


def test_a_request_may_name_the_candidates_to_calibrate(wide_calibrator):
    clf, texts = wide_calibrator
    texts = texts[:40]
    exact, default = clf.predict_topks(texts, (3, True, False, 3), (3, True, False))
    raw = clf.predict_topk(texts, 3, calibrated=False)
    assert same(exact, clf.calibrator.apply(raw))
    assert same(default,
                clf.calibrator.apply(clf.predict_topk(texts, 8, calibrated=False)).head(3))
    assert same(clf.predict_topks(texts, (2, False, False, 5))[0], raw.head(2))
    with pytest.raises(InvalidParameterError, match="'width' must be an integer >= 3"):
        clf.predict_topks(texts, (3, True, False, 2))
    with pytest.raises(InvalidParameterError, match="'requests' must be"):
        clf.predict_topks(texts, (3, True))


def test_bbse_scores_the_texts_as_its_source_documents_were(wide_calibrator):
    # BBSE compared the texts' probabilities over the calibrator's top 8 (re-ranked)
    # with the stored held-out documents' over their top 3; on those documents
    # themselves it then saw a shift of up to 0.05 where there is none
    clf, calibration_texts = wide_calibrator
    shift = estimate_shift(clf, calibration_texts, method="bbse", min_count=0)
    by_bbse = ~shift.estimated_by_em
    assert by_bbse.sum() >= N_LABELS - 2
    frequency = np.asarray(clf.heldout.Y.mean(axis=0)).ravel()
    assert np.allclose(shift.target_prior[by_bbse], frequency[by_bbse], atol=1e-5)


def test_shift_estimation_refuses_another_width_by_name(wide_calibrator):
    clf, texts = wide_calibrator
    for method in ("em", "bbse"):
        for k in (3, 12):
            with pytest.raises(InvalidParameterError, match=rf"'k' must be None or the "
                               rf"calibration width 8 .*got {k}"):
                estimate_shift(clf, texts[:20], method=method, k=k)
        estimate_shift(clf, texts[:20], method=method, k=np.int64(8), min_count=0)


def test_bbse_target_probabilities_must_describe_the_target_documents():
    topk = TopK.from_scores(np.array([[0.9, 0.2], [0.3, 0.6]]), 2)
    y = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    for bad, found in ((topk[:1], "1 document over 2 labels"),
                       (TopK.from_scores(np.array([[0.9, 0.2, 0.1]] * 2), 3),
                        "2 documents over 3 labels"), (np.zeros((2, 2)), "ndarray")):
        with pytest.raises(InvalidParameterError, match=rf"'bbse_topk' must be .*{found}"):
            estimate_label_shift(topk, source_prior=[0.5, 0.5], method="bbse", source_y=y,
                                 source_topk=topk, bbse_topk=bad)


def test_bbse_target_probabilities_are_refused_with_em_which_would_ignore_them():
    """EM estimates from topk: a bbse_topk given with method="em" was ignored without a
    word, and a caller who meant those probabilities for the estimate got topk's."""
    topk = TopK.from_scores(np.array([[0.9, 0.2], [0.3, 0.6]]), 2)
    wide = TopK.from_scores(np.array([[0.8, 0.1], [0.2, 0.7]]), 2)
    with pytest.raises(InvalidParameterError, match=r"'bbse_topk' must be None with method "
                                                    r"'em' \(only BBSE reads it"):
        estimate_label_shift(topk, source_prior=[0.5, 0.5], bbse_topk=wide)
    shift = estimate_label_shift(topk, source_prior=[0.5, 0.5], min_count=0)
    assert shift.method == "em"
