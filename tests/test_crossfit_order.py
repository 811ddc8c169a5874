"""Training's cross-fitting follows the documents' content, not their lines: its folds
were drawn over file positions and each fold model learnt its documents in file order,
so the same corpus shuffled gave other out-of-fold scores (1,500 GoEmotions documents:
the same top label for 92.7%), stored in the bundle and read by audit --scores bundle."""

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.audit.duplicates import text_hashes
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.pipeline.audit import AuditOptions, audit_corpus, content_order
from tagsmith.pipeline.crossfit import cross_fit_topk, fold_assignment
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import TrainOptions, duplicate_groups, train_classifier

from conftest import FAST_FEATURES


def _corpus(goemotions_small, n_docs=400):
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    # a few texts twice (in one fold, whatever the order)
    texts = list(data.texts[:n_docs]) + list(data.texts[:20])
    Y = sp.vstack([data.Y[:n_docs], data.Y[:20]]).tocsr()
    return texts, Y, space


def _dense(topk):
    """Each document's score of each label in its top-k (0 elsewhere)."""
    n_docs = topk.indices.shape[0]
    dense = np.zeros((n_docs, topk.n_labels))
    rows = np.repeat(np.arange(n_docs), topk.indices.shape[1])
    kept = topk.indices.reshape(-1) >= 0
    dense[rows[kept], topk.indices.reshape(-1)[kept]] = topk.scores.reshape(-1)[kept]
    return dense


def _assert_same_scores(a, b):
    """Each document's score of each label the same up to float rounding (the features'
    columns follow the order the vocabulary met its words in), and its top label, where
    the first two are not near-equal."""
    np.testing.assert_allclose(_dense(a), _dense(b), atol=1e-5)
    clear = a.scores[:, 0] - a.scores[:, 1] > 1e-4
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(a.indices[clear, 0], b.indices[clear, 0])


@pytest.mark.parametrize("model", ["linear", "tree"])
def test_training_cross_fits_the_same_scores_for_the_corpus_in_any_order(goemotions_small,
                                                                         model):
    texts, Y, space = _corpus(goemotions_small)
    options = TrainOptions(featurizer_params=FAST_FEATURES, model=model,
                           model_params={"n_jobs": 1}, dev_fraction=0.0, crossfit_folds=3)
    given = train_classifier(texts, Y, space, options=options).crossfit
    perm = np.random.default_rng(5).permutation(len(texts))
    shuffled = train_classifier([texts[i] for i in perm], Y[perm], space,
                                options=options).crossfit
    back = np.argsort(perm)  # row back[i] of the shuffled corpus is document i
    assert np.array_equal(shuffled.fold[back], given.fold)
    _assert_same_scores(shuffled.topk[back], given.topk)


def test_cross_fit_topk_along_an_order_follows_the_documents(goemotions_small):
    texts, Y, _ = _corpus(goemotions_small, 300)
    featurizer = TfidfFeaturizer.from_params(**FAST_FEATURES).fit(sorted(texts))
    perm = np.random.default_rng(2).permutation(len(texts))
    runs = []
    for rows in (np.arange(len(texts)), perm):
        t = [texts[i] for i in rows]
        order = content_order(text_hashes(t), t, Y[rows])
        # copies of a text are interchangeable: in one fold, as training keeps them
        found = cross_fit_topk(featurizer.transform(t), Y[rows], "linear", {"n_jobs": 1},
                               n_folds=3, seed=4, groups=duplicate_groups(t), order=order)
        runs.append(found)
    back = np.argsort(perm)
    assert np.array_equal(runs[1].fold[back], runs[0].fold)
    # the features in one column order: the same scores to the bit
    np.testing.assert_array_equal(runs[1].topk.scores[back], runs[0].topk.scores)
    np.testing.assert_array_equal(runs[1].topk.indices[back], runs[0].topk.indices)


def test_fold_assignment_along_an_order_is_the_draw_of_the_documents_in_that_order():
    groups = np.array([0, 1, 0, 2, 3, 1, 4, 5, 6, 0])
    order = np.random.default_rng(1).permutation(10)
    fold = fold_assignment(10, 3, seed=7, groups=groups, order=order)
    assert np.array_equal(fold[order], fold_assignment(10, 3, seed=7, groups=groups[order]))
    for bad, got in (([0, 1, 1], "repeated or missing"), (np.arange(4), "shape"),
                     (np.arange(3.0), "dtype float")):
        with pytest.raises(InvalidParameterError, match=f"order.*permutation.*{got}"):
            fold_assignment(3, 2, order=bad)


def test_audit_with_the_bundles_scores_is_the_same_for_the_corpus_in_any_order(
        goemotions_small):
    texts, Y, space = _corpus(goemotions_small, 300)
    options = TrainOptions(featurizer_params=FAST_FEATURES, model="linear",
                           model_params={"n_jobs": 1}, dev_fraction=0.0, crossfit_folds=3)
    audit = AuditOptions(scores="bundle", near_duplicates=False)
    ids = [f"d{i}" for i in range(len(texts))]
    found = []
    for rows in (np.arange(len(texts)), np.random.default_rng(9).permutation(len(texts))):
        t, y = [texts[i] for i in rows], Y[rows]
        clf = train_classifier(t, y, space, options=options)
        result = audit_corpus(t, y, space, classifier=clf, doc_ids=[ids[i] for i in rows],
                              options=audit)
        issues = result.issues
        found.append({(ids[rows[d]], int(label), int(kind)): (bool(flag), float(p))
                      for d, label, kind, flag, p in zip(
                          issues.doc, issues.label, issues.kind, issues.flagged,
                          issues.probability, strict=True)})
    assert found[0].keys() == found[1].keys()
    flags = [{key for key, (flag, _) in run.items() if flag} for run in found]
    assert flags[0] and flags[0] == flags[1]
    assert max(abs(found[0][key][1] - found[1][key][1]) for key in found[0]) < 1e-4
