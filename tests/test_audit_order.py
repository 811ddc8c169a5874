"""The audit's queue follows the documents, not their order in the file: the same corpus
sorted or shuffled gave another queue (other calibration and cross-fitting folds, other
samples, another visiting order of the solver), a quarter of the flags changed."""

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.audit.duplicates import text_hashes
from tagsmith.audit.simulate import inject_label_noise
from tagsmith.data.vocab import load_vocabulary
from tagsmith.pipeline.audit import AuditOptions, audit_corpus, content_order
from tagsmith.pipeline.io import read_labelled

from conftest import FAST_FEATURES


@pytest.fixture(scope="module")
def noisy_corpus(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    n = 900
    texts = list(train.texts[:n])
    Y = inject_label_noise(train.Y[:n], missing_rate=0.10, wrong_rate=0.05, seed=0).Y
    # exact copies, some with other labels: their groups must stay whole in any order
    copies = [3, 10, 10, 57, 200]
    texts += [texts[i] for i in copies]
    extra = Y[copies].tolil()
    extra[1, 0] = True  # one copy disagrees with its twin
    Y = sp.vstack([Y, extra.tocsr()]).tocsr()
    ids = [f"d{i}" for i in range(len(texts))]
    return texts, Y, ids, space


def _queue(texts, Y, ids, space, order, scores):
    result = audit_corpus([texts[i] for i in order], Y[order], space,
                          doc_ids=[ids[i] for i in order],
                          options=AuditOptions(scores=scores, n_folds=3,
                                               featurizer_params=FAST_FEATURES))
    issues = result.issues
    pairs = {(ids[order[d]], int(label), int(kind)): (float(p), bool(f))
             for d, label, kind, p, f in zip(issues.doc, issues.label, issues.kind,
                                             issues.probability, issues.flagged,
                                             strict=True)}
    rows = [(r["doc_id"], r["label_uri"], r["kind"], r["probability"]) for r in result.review]
    quality = {ids[order[d]]: q for d, q in enumerate(issues.doc_quality)}
    # each row's doc and line still name its place in the file as given
    assert all(ids[order[r["doc"]]] == r["doc_id"] for r in result.review)
    return pairs, rows, quality, result.scores.topk[np.argsort(order)]


@pytest.mark.parametrize("scores", ["crossfit", "knn"])
def test_the_queue_does_not_depend_on_the_order_of_the_documents(noisy_corpus, scores):
    texts, Y, ids, space = noisy_corpus
    n = len(texts)
    as_given = _queue(texts, Y, ids, space, np.arange(n), scores)
    shuffled = _queue(texts, Y, ids, space, np.random.default_rng(5).permutation(n), scores)
    by_text = _queue(texts, Y, ids, space, np.argsort(texts, kind="stable"), scores)
    pairs, rows, quality, topk = as_given
    assert sum(f for _, f in pairs.values()) > 5  # a queue to compare
    for other in (shuffled, by_text):
        assert other[0].keys() == pairs.keys()
        for key, (p, flagged) in pairs.items():
            assert other[0][key][1] == flagged
            assert other[0][key][0] == pytest.approx(p, abs=1e-6)
        assert other[1] == rows
        assert all(other[2][d] == pytest.approx(q, abs=1e-6) for d, q in quality.items())
        # the scores, returned in the file's order, are each document's own
        np.testing.assert_array_equal(other[3].indices, topk.indices)
        np.testing.assert_allclose(other[3].scores, topk.scores, atol=1e-6)


def test_content_order_is_the_same_for_any_order_and_tells_copies_apart():
    texts = ["b", "a", "a", "c", "a"]
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 0], [1, 1], [0, 1]], bool))
    ids = ["x", "y", "z", "w", None]
    order = content_order(text_hashes(texts), texts, Y, ids)
    for seed in range(5):
        perm = np.random.default_rng(seed).permutation(len(texts))
        other = content_order(text_hashes([texts[i] for i in perm]), [texts[i] for i in perm],
                              Y[perm], [ids[i] for i in perm])
        assert perm[other].tolist() == order.tolist()
    # copies of one text are next to each other (one group, one fold)
    where = [i for i, d in enumerate(order) if texts[d] == "a"]
    assert where == list(range(where[0], where[0] + 3))


@pytest.mark.parametrize("flagged", [None, 10])
def test_the_review_sample_does_not_depend_on_the_order_of_the_documents(noisy_corpus,
                                                                         flagged):
    """The sample was drawn by position: shuffled, the corpus gave other documents."""
    texts, Y, ids, space = noisy_corpus
    drawn = []
    for order in (np.arange(len(texts)), np.random.default_rng(5).permutation(len(texts))):
        result = audit_corpus([texts[i] for i in order], Y[order], space,
                              doc_ids=[ids[i] for i in order],
                              options=AuditOptions(scores="knn", review_sample=40,
                                                   review_sample_flagged=flagged,
                                                   featurizer_params=FAST_FEATURES))
        drawn.append(sorted((r["doc_id"], r["label_uri"], r["kind"]) for r in result.sample))
        assert len({r["doc_id"] for r in result.sample}) == 40 + (flagged or 0)
    assert drawn[0] == drawn[1]


def test_the_cross_fitting_folds_follow_the_content_and_keep_copies_together():
    """The audit's cross-fitting folds: each document's fold is the same for the corpus in
    any order, and exact copies share one (a copy never scores its twin)."""
    from tagsmith.audit.duplicates import exact_groups
    from tagsmith.pipeline.audit import _fold_drawer

    texts = [f"copy {i % 7}" if i % 5 == 0 else f"text number {i}" for i in range(120)]
    Y = sp.csr_matrix(np.eye(4, dtype=bool)[np.arange(120) % 4])
    ids = [f"d{i}" for i in range(120)]
    options = AuditOptions(n_folds=4, seed=2)
    options.validate()
    folds = {}
    for seed in (None, 0, 1):
        perm = np.arange(120) if seed is None else np.random.default_rng(seed).permutation(120)
        t, y, d = [texts[i] for i in perm], Y[perm], [ids[i] for i in perm]
        hashes = text_hashes(t)
        groups = exact_groups(hashes)
        fold = _fold_drawer(120, options, groups, content_order(hashes, t, y, d))()
        assert np.bincount(groups).max() >= 3
        for g in np.unique(groups):  # copies in one fold
            assert np.unique(fold[groups == g]).size == 1
        sizes = np.bincount(fold, minlength=4)
        assert sizes.max() - sizes.min() <= 4
        folds[seed] = {d[i]: int(fold[i]) for i in range(120)}
    assert folds[0] == folds[None] and folds[1] == folds[None]


def test_content_order_hashes_only_the_ties_and_orders_as_hashing_every_document():
    """The second key (text as written, id, labels) is hashed only for documents whose
    text hash is shared: a loop over every document cost ~12 s at 590k documents. The
    order is the one a second key for every document gives."""
    import hashlib

    rng = np.random.default_rng(3)
    texts = [f"text {i % 40}" if i % 3 else f"Text {i % 40}" for i in range(300)]
    texts[::17] = [""] * len(texts[::17])
    texts[5::19] = [" "] * len(texts[5::19])
    Y = sp.csr_matrix(rng.random((300, 6)) < 0.3)
    for ids in (None, [None if i % 4 == 0 else f"d{i}" for i in range(300)]):
        hashes = text_hashes(texts)
        second = np.array([int.from_bytes(hashlib.blake2b(
            texts[i].encode("utf-8", "surrogatepass")
            + b"\x00" + ("" if ids is None or ids[i] is None else ids[i]).encode()
            + b"\x00" + Y.indices[Y.indptr[i]:Y.indptr[i + 1]].astype("<i8").tobytes(),
            digest_size=8).digest(), "little") for i in range(300)], np.uint64)
        expected = np.lexsort((second, hashes))
        assert content_order(hashes, texts, Y, ids).tolist() == expected.tolist()
