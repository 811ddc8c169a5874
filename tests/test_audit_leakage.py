"""Near-duplicate leakage between splits is found completely (as comparing every pair)."""

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.audit.duplicates import (
    COSINE_TOLERANCE,
    NearLeakIndex,
    leakage,
    near_leaks,
    text_hashes,
)
from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.pipeline.audit import AuditOptions, audit_corpus

from conftest import short_texts


def _brute_force(train_X, other_X, threshold):
    from tagsmith.models.knn import l2_normalize

    sims = (l2_normalize(sp.csr_matrix(other_X)) @ l2_normalize(sp.csr_matrix(train_X)).T
            ).toarray().astype(np.float64)
    best = sims.max(axis=1)
    found = (best >= threshold - COSINE_TOLERANCE) & (best > 0)
    return np.where(found, sims.argmax(axis=1), -1), np.where(found, best, 0.0)


def test_near_leaks_are_those_of_every_pair():
    rng = np.random.default_rng(3)
    train, other = short_texts(rng, 3000), short_texts(rng, 400)
    featurizer = TfidfFeaturizer(min_df=1)
    train_X = featurizer.fit_transform(train)
    other_X = featurizer.transform(other)
    for threshold in (0.9, 0.7, 1.0):
        nearest, cosine = near_leaks(train_X, other_X, threshold)
        expected_nearest, expected_cosine = _brute_force(train_X, other_X, threshold)
        assert (nearest >= 0).sum() > 50
        assert ((nearest >= 0) == (expected_nearest >= 0)).all()
        np.testing.assert_allclose(cosine, expected_cosine, atol=1e-5)
        # the same training document, or one exactly as similar
        same = nearest == expected_nearest
        assert np.allclose(cosine[~same], expected_cosine[~same], atol=1e-5)


def test_near_leaks_of_empty_rows_and_columns_that_differ():
    train = sp.csr_matrix(np.array([[1.0, 0, 0], [0, 0, 0]], np.float32))
    nearest, cosine = near_leaks(train, sp.csr_matrix((2, 3), dtype=np.float32))
    assert nearest.tolist() == [-1, -1] and cosine.tolist() == [0, 0]
    nearest, _ = near_leaks(train, sp.csr_matrix(np.array([[2.0, 0, 0]]))[[0, 0, 0]])
    assert nearest.tolist() == [0, 0, 0]
    with pytest.raises(InvalidParameterError, match="other_X"):
        near_leaks(train, sp.csr_matrix((1, 4)))


def test_one_index_searched_with_several_splits_finds_what_each_search_does():
    """The audit builds the training side once for dev and test; each search must give
    what a search of its own would, and a threshold other than the index's is refused."""
    rng = np.random.default_rng(5)
    train = short_texts(rng, 1500)
    splits = [short_texts(rng, 200), short_texts(rng, 150)]
    featurizer = TfidfFeaturizer(min_df=1)
    train_X = featurizer.fit_transform(train)
    index = NearLeakIndex(train_X, 0.8)
    for split in splits:
        other_X = featurizer.transform(split)
        nearest, cosine = index.search(other_X)
        expected_nearest, expected_cosine = _brute_force(train_X, other_X, 0.8)
        assert (nearest >= 0).sum() > 20
        assert ((nearest >= 0) == (expected_nearest >= 0)).all()
        np.testing.assert_allclose(cosine, expected_cosine, atol=1e-5)
        with_index = leakage(text_hashes(train), split, train_X=index, other_X=other_X,
                             threshold=0.8)
        with_matrix = leakage(text_hashes(train), split, train_X=train_X, other_X=other_X,
                              threshold=0.8)
        assert with_index["n_near"] == with_matrix["n_near"] > 0
    with pytest.raises(InvalidParameterError, match="threshold"):
        leakage(text_hashes(train), splits[0], train_X=index,
                other_X=featurizer.transform(splits[0]), threshold=0.9)


def test_audit_finds_every_near_leak_of_short_common_texts():
    """More than 500 training texts share the common words and their character
    n-grams, so the nearest-neighbour index stopped reading those features and,
    searching one neighbour, could take a training text similar on its rarer features
    for the nearest: 13 of the 17 near leaks here were found (on GoEmotions 25 of 29,
    "Thank you!!!!!" at cosine 0.985 to "Thank you!!!!" among those missed)."""
    rng = np.random.default_rng(0)
    train, dev = short_texts(rng, 2500), short_texts(rng, 300)
    Y = sp.csr_matrix(np.eye(2, dtype=bool)[np.arange(len(train)) % 2])
    space = LabelSpace([Label("u:a"), Label("u:b")])
    result = audit_corpus(train, Y, space, splits={"dev": dev},
                          options=AuditOptions(scores="knn", show_progress=False))
    leak = result.report["leakage"]["dev"]
    featurizer = TfidfFeaturizer.from_params()  # what the audit featurizes with
    train_X = featurizer.fit_transform(train)
    nearest, _ = _brute_force(train_X, featurizer.transform(dev), 0.9)
    exact = np.isin(text_hashes(dev), text_hashes(train))
    assert leak["n_exact"] == exact.sum()
    assert leak["n_near"] == ((nearest >= 0) & ~exact).sum() > 10


def _merged_dots(A, B, rows_a, rows_b):
    """Each pair's dot product as a merge of the two rows' sorted columns sums it:
    the shared columns' products, in column order, in float64."""
    out = []
    for i, j in zip(rows_a, rows_b, strict=True):
        a = dict(zip(A.indices[A.indptr[i]:A.indptr[i + 1]].tolist(),
                     A.data[A.indptr[i]:A.indptr[i + 1]].tolist(), strict=True))
        total = 0.0
        for col, value in zip(B.indices[B.indptr[j]:B.indptr[j + 1]].tolist(),
                              B.data[B.indptr[j]:B.indptr[j + 1]].tolist(), strict=True):
            if col in a:
                total += float(np.float64(np.float32(a[col]))) * float(
                    np.float64(np.float32(value)))
        out.append(total)
    return np.array(out)


def test_pair_dots_are_those_of_a_merge_to_the_bit():
    """The near leaks' and near pairs' cosines (the threshold's test, the report's
    figures) are those a merge of the two rows gives, bit for bit: pairs grouped by
    their first row as the searches give them, or in any order, empty rows, signed
    values."""
    from tagsmith.models._knn_kernels import pair_dots_kernel

    rng = np.random.default_rng(7)

    def rows(n):
        lengths = rng.integers(0, 60, n)
        lengths[3] = 0
        indices = np.concatenate([np.sort(rng.choice(200, k, replace=False))
                                  for k in lengths]).astype(np.int32)
        data = (rng.standard_normal(len(indices)) * rng.choice([1e-4, 1.0, 50.0],
                                                               len(indices))).astype(np.float32)
        return sp.csr_matrix((data, indices, np.r_[0, np.cumsum(lengths)]), shape=(n, 200))

    A, B = rows(40), rows(30)
    a = np.repeat(np.arange(40), 12)
    b = rng.integers(0, 30, len(a))
    for rows_a, rows_b in ((a, b), (rng.permutation(a), b)):
        got = pair_dots_kernel(A.indptr.astype(np.int64), A.indices, A.data,
                               B.indptr.astype(np.int64), B.indices, B.data,
                               rows_a.astype(np.int64), rows_b.astype(np.int64), 200)
        np.testing.assert_array_equal(got, _merged_dots(A, B, rows_a, rows_b))


def test_leakage_finds_the_crafted_copies_every_pair_does():
    """Exact copies (by the normalised text: whitespace, case, Unicode forms), near
    copies (a word, the punctuation changed) and unrelated texts: the audit's features
    and search find the leaks comparing every pair finds, each to its training text."""
    train = ["Shares of the mining company rose sharply after the quarterly report on "
             "copper output beat estimates",
             "The central bank left interest rates unchanged and said inflation "
             "remained close to its target",
             "Café owners in Zürich protested the new tax on outdoor seating",
             "ＦＵＬＬＷＩＤＴＨ letters in a headline about Tokyo markets",
             "Oil prices fell as inventories grew for a third straight week",
             "Grain exports from the port resumed after the strike ended"]
    other = [train[0],  # an exact copy
             "  shares of the MINING company rose sharply after the quarterly report "
             "on copper output beat estimates ",  # whitespace and case: exact
             "Cafe\u0301 owners in Zürich protested the new tax on outdoor seating",  # NFD
             "Shares of the mining company rose sharply after the quarterly report on "
             "copper output beat forecasts",  # near: a word changed
             "The central bank left interest rates unchanged, and said inflation "
             "remained close to its target!",  # near: punctuation
             "FULLWIDTH letters in a headline about Tokyo markets",  # NFKC: exact
             "Football club signs a new goalkeeper for next season",  # unrelated
             "",
             "Grain exports from the port resumed after the dock strike ended"]  # near
    featurizer = TfidfFeaturizer.from_params()  # what the audit featurizes with
    train_X = featurizer.fit_transform(train)
    other_X = featurizer.transform(other)
    found = leakage(text_hashes(train), other, train_X=train_X, other_X=other_X)
    nearest, cosine = _brute_force(train_X, other_X, 0.9)
    exact = np.isin(text_hashes(other), text_hashes(train)) & (np.array(other) != "")
    assert found["exact_mask"].tolist() == exact.tolist()
    assert found["near_mask"].tolist() == ((nearest >= 0) & ~exact).tolist()
    near = found["near_mask"]
    assert found["nearest_train"][near].tolist() == nearest[near].tolist()
    np.testing.assert_allclose(found["cosine"][near], cosine[near], atol=1e-6)
    assert np.flatnonzero(found["exact_mask"]).tolist() == [0, 1, 2, 5]
    assert found["nearest_train"][[0, 1, 2, 5]].tolist() == [0, 0, 2, 3]
    assert found["nearest_train"][[3, 4, 8]].tolist() == [0, 1, 5] and near[[3, 4, 8]].all()
    assert found["nearest_train"][[6, 7]].tolist() == [-1, -1]


def _copying_split():
    """Training stories and a split that copies some of them exactly (by the normalised
    text) and repeats some of its own texts, near copies and unrelated texts among them."""
    train = ["Shares of the mining company rose sharply after the quarterly report on "
             "copper output beat estimates",
             "The central bank left interest rates unchanged and said inflation "
             "remained close to its target",
             "Oil prices fell as inventories grew for a third straight week",
             "Grain exports from the port resumed after the strike ended",
             "Café owners in Zürich protested the new tax on outdoor seating"]
    near_copy = ("Oil prices fell as inventories grew for a third straight week, "
                 "analysts said")
    other = [train[0],  # exact
             "  the CENTRAL bank left interest rates unchanged and said inflation "
             "remained close to its target",  # exact by case and spacing
             near_copy,
             "Football club signs a new goalkeeper for next season",
             train[0],  # exact, repeated
             near_copy,  # repeated near copy
             "Grain exports from the port resumed after the dock strike ended",
             "",
             "Football club signs a new goalkeeper for next season",  # repeated unrelated
             "Cafe\u0301 owners in Zürich protested the new tax on outdoor seating",  # NFD
             ""]
    return train, other


def test_leakage_featurizes_only_the_texts_it_searches():
    """An exact leak's training document is its hash match and a repeated text's result
    that of its first copy, so neither is featurized nor searched (the Reuters slice's dev
    split: 112 of 771 stories exact copies): the result is, array for array, that of
    featurizing and searching every text."""
    train, other = _copying_split()
    featurizer = TfidfFeaturizer.from_params()  # what the audit featurizes with
    train_X = featurizer.fit_transform(train)
    featurized: list[str] = []

    def featurize(texts):
        featurized.extend(texts)
        return featurizer.transform(texts)

    index = NearLeakIndex(train_X)
    found = leakage(text_hashes(train), other, train_X=index, featurize=featurize)
    every = leakage(text_hashes(train), other, train_X=index,
                    other_X=featurizer.transform(other))
    # the near copy, the unrelated text, the other near copy and the blank text, once each
    assert featurized == [other[2], other[3], other[6], ""]
    assert found.keys() == every.keys()
    for key, value in every.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(found[key], value, err_msg=key)
        else:
            assert found[key] == value, key
    assert np.flatnonzero(found["exact_mask"]).tolist() == [0, 1, 4, 9]
    assert np.flatnonzero(found["near_mask"]).tolist() == [2, 5, 6]
    assert found["nearest_train"].tolist() == [0, 1, 2, -1, 0, 2, 3, -1, -1, 4, -1]
    assert found["cosine"][5] == found["cosine"][2] < 1


def test_leakage_takes_features_or_a_featurizer_and_rows_for_every_text():
    train, other = _copying_split()
    featurizer = TfidfFeaturizer.from_params()
    train_X = featurizer.fit_transform(train)
    with pytest.raises(InvalidParameterError, match="featurize"):
        leakage(text_hashes(train), other, train_X=train_X,
                other_X=featurizer.transform(other), featurize=featurizer.transform)
    with pytest.raises(InvalidParameterError, match=r"other_X.*11"):
        leakage(text_hashes(train), other, train_X=train_X,
                other_X=featurizer.transform(other[:3]))
    # rows given: each searched as it is, every non-exact one (no text compared)
    given = leakage(text_hashes(train), other, train_X=train_X,
                    other_X=featurizer.transform(other))
    assert given["near_mask"].tolist() == [i in (2, 5, 6) for i in range(len(other))]
    # a featurize that loses or adds rows is named, not a numpy index error
    # (or a silent misalignment) later
    with pytest.raises(InvalidParameterError, match=r"featurize.*one row per text.*4"):
        leakage(text_hashes(train), other, train_X=train_X,
                featurize=lambda texts: featurizer.transform(texts[:-1]))


def test_audit_featurizes_a_split_s_texts_that_copy_none(monkeypatch):
    """The audit's leakage check hands the featurizer a split's texts less its exact
    leaks and repeats, and reports what featurizing every text did."""
    train, other = _copying_split()
    rng = np.random.default_rng(3)
    train = train + short_texts(rng, 60)
    Y = sp.csr_matrix(np.eye(2, dtype=bool)[np.arange(len(train)) % 2])
    space = LabelSpace([Label("u:a"), Label("u:b")])
    seen: list[list[str]] = []
    transform = TfidfFeaturizer.transform

    def recorded(self, texts):
        texts = list(texts)
        seen.append(texts)
        return transform(self, texts)

    monkeypatch.setattr(TfidfFeaturizer, "transform", recorded)
    result = audit_corpus(train, Y, space, splits={"dev": other},
                          options=AuditOptions(scores="knn", show_progress=False))
    leak = result.report["leakage"]["dev"]
    assert [other[2], other[3], other[6], ""] in seen
    assert other not in seen
    assert (leak["n_exact"], leak["n_near"]) == (4, 3)
    assert [(e["doc"], e["train_doc"], e["exact"]) for e in leak["examples"]] == [
        (0, 0, True), (1, 1, True), (2, 2, False), (4, 0, True), (5, 2, False),
        (6, 3, False), (9, 4, True)]
