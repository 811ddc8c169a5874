"""The audit's duplicates and leakage read its features in content order where each
document's row is: it gathered a copy of the whole matrix in the file's order while the
content-order one was alive (two copies of X at once), and searched the near pairs
after the issues, adding the search's memory to theirs."""

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.audit import duplicates as dup
from tagsmith.audit import health
from tagsmith.data.labelspace import LabelSpace
from tagsmith.pipeline.audit import AuditOptions, _features, audit_corpus, content_order

from conftest import FAST_FEATURES

BASE = ["the river floods the valley every spring after the snow melts",
        "a new bridge over the river opens to traffic next week",
        "the council votes on the budget for the city's schools",
        "rain and wind are expected across the north tonight",
        "the museum shows paintings of the coast from the last century",
        "farmers sell apples and pears at the market on saturday",
        "the library extends its opening hours during the exams",
        "a storm closes the harbour and the ferries stay in port"]


def _corpus():
    texts, labels = [], []
    for i in range(60):
        base = BASE[i % len(BASE)]
        # exact copies (every 8th text repeats) and near copies (one word more)
        texts.append(base if i % 3 == 0 else f"{base} {'today' if i % 3 == 1 else ''} n{i}")
        labels.append([i % 4, (i * 7) % 5])
    texts += [BASE[0], BASE[0], BASE[2] + " today", "   "]
    labels += [[0], [1], [2], [3]]
    rows = [j for ls in labels for j in ls]
    cols = np.repeat(np.arange(len(labels)), [len(ls) for ls in labels])
    Y = sp.csr_matrix((np.ones(len(rows), bool), (cols, rows)), shape=(len(labels), 5))
    return texts, Y


def _dev():
    return [BASE[0], BASE[1] + " today", BASE[4] + " n3", "nothing like any training text",
            BASE[2] + " today"]


def test_the_search_of_rows_in_another_order_finds_what_the_file_order_finds():
    texts, Y = _corpus()
    hashes = dup.text_hashes(texts)
    order = np.random.default_rng(3).permutation(len(texts))
    featurizer, X = _features(texts, None, AuditOptions(featurizer_params=FAST_FEATURES))
    X_c = X[order]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    expected = dup.near_pairs(X, hashes, Y)
    found = dup.near_pairs(X_c, hashes, Y, rows=inverse)
    assert expected.n_pairs > 5 and expected.n_conflicting > 0
    for field in ("pairs", "cosine", "links"):
        np.testing.assert_array_equal(getattr(found, field), getattr(expected, field))
    assert (found.n_pairs, found.n_conflicting, found.n_candidates, found.complete) == \
        (expected.n_pairs, expected.n_conflicting, expected.n_candidates, expected.complete)
    # the leakage search: the training document each row holds, and of equal cosines
    # (copies of one text) the first document, as in the file's order
    other = featurizer.transform(_dev())
    nearest, cosine = dup.NearLeakIndex(X).search(other)
    got = dup.NearLeakIndex(X_c, rows=order).search(other)
    assert (nearest >= 0).sum() >= 3
    np.testing.assert_array_equal(got[0], nearest)
    np.testing.assert_array_equal(got[1], cosine)
    with pytest.raises(ValueError, match="rows"):
        dup.NearLeakIndex(X_c, rows=order[:-1])


def _audit(texts, Y, order, dev):
    ids = [f"d{i}" for i in range(len(texts))]
    return audit_corpus([texts[i] for i in order], Y[order], _space(Y),
                        doc_ids=[ids[i] for i in order], splits={"dev": dev},
                        options=AuditOptions(scores="knn", n_folds=3,
                                             featurizer_params=FAST_FEATURES))


def _space(Y):
    return LabelSpace.from_uris([f"http://x/{j}" for j in range(Y.shape[1])])


@pytest.mark.parametrize("seed", [None, 1, 2])
def test_the_duplicates_and_the_leakage_are_those_of_the_features_in_file_order(seed):
    texts, Y = _corpus()
    n = len(texts)
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    texts, Y = [texts[i] for i in order], Y[order]
    dev = _dev()
    result = _audit(texts, Y, np.arange(n), dev)
    # what the audit found before: the features fitted in content order, put back in
    # the file's order, searched there
    hashes = dup.text_hashes(texts)
    by_content = content_order(hashes, texts, Y, [f"d{i}" for i in range(n)])
    featurizer, X_c = _features([texts[i] for i in by_content], None,
                                AuditOptions(featurizer_params=FAST_FEATURES))
    inverse = np.empty_like(by_content)
    inverse[by_content] = np.arange(n)
    X = X_c[inverse]
    # each text's first document in content order stands for it (as the audit's)
    expected = dup.find_duplicates(texts, Y, None, hashes=hashes, features=X,
                                   order=by_content)
    leak = dup.leakage(hashes, dev, train_X=dup.NearLeakIndex(X),
                       other_X=featurizer.transform(dev))
    pairs = result.duplicate_pairs
    assert pairs is not None and len(expected.pairs) > 10 and (~expected.exact).any()
    np.testing.assert_array_equal(pairs.pairs, expected.pairs)
    np.testing.assert_array_equal(pairs.cosine, expected.cosine)
    np.testing.assert_array_equal(pairs.exact, expected.exact)
    np.testing.assert_array_equal(pairs.conflicting, expected.conflicting)
    assert result.report["duplicates"]["n_near_pairs"] == expected.summary()["n_near_pairs"]
    assert leak["n_exact"] >= 1 and leak["n_near"] >= 2
    assert result.report["leakage"] == health.leakage_section({"dev": leak}, texts,
                                                              {"dev": dev})


def test_no_copy_of_the_features_in_file_order_is_made(monkeypatch):
    texts, Y = _corpus()
    n = len(texts)
    order = np.random.default_rng(4).permutation(n)
    gathered: list[tuple[int, int]] = []
    take = sp.csr_matrix.__getitem__

    def counting(self, key):
        rows = key[0] if isinstance(key, tuple) else key
        if isinstance(rows, np.ndarray) and rows.ndim == 1 and len(rows) == n == self.shape[0]:
            gathered.append(self.shape)
        return take(self, key)

    monkeypatch.setattr(sp.csr_matrix, "__getitem__", counting)
    result = _audit(texts, Y, order, _dev())
    assert result.report["duplicates"]["n_near_pairs"] > 0
    # every whole matrix put in another order is the label matrix (content order),
    # never the features (X_c[inverse] was, with X_c alive)
    assert gathered and all(shape[1] == Y.shape[1] for shape in gathered), gathered
