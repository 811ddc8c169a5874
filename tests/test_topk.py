import re

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import RowFill, TopK


def reference_topk(scores, k):
    out_idx, out_sc = [], []
    for row in scores:
        order = sorted(range(len(row)), key=lambda j: (-row[j], j))[:k]
        out_idx.append(order)
        out_sc.append([row[j] for j in order])
    return np.array(out_idx), np.array(out_sc, dtype=np.float32)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(0, 6), st.integers(1, 9)),
              elements=st.floats(-5, 5, width=32)), st.integers(1, 12))
def test_from_scores_matches_reference(scores, k):
    topk = TopK.from_scores(scores, k)
    idx, sc = reference_topk(scores, min(k, scores.shape[1]))
    assert topk.indices.shape == (scores.shape[0], min(k, scores.shape[1]))
    if scores.shape[0]:
        np.testing.assert_array_equal(topk.indices, idx)
        np.testing.assert_array_equal(topk.scores, sc)


def test_from_csr_pads_rows_with_few_candidates():
    matrix = sp.csr_matrix(np.array([[0, 0.5, 0.9, 0], [0, 0, 0, 0], [0.3, 0, 0, 0]]))
    topk = TopK.from_csr(matrix, 3)
    assert topk.indices.tolist() == [[2, 1, -1], [-1, -1, -1], [0, -1, -1]]
    assert np.isneginf(topk.scores[1]).all()
    assert (topk.to_csr() != sp.csr_matrix(matrix, dtype=np.float32)).nnz == 0


def test_label_sets_threshold_min_and_max():
    topk = TopK.from_scores(np.array([[0.9, 0.8, 0.1], [0.2, 0.1, 0.3]]), 3)
    assert topk.label_sets(0.5).toarray().tolist() == [[True, True, False], [False] * 3]
    forced = topk.label_sets(0.5, min_labels=1).toarray()
    assert forced[1].tolist() == [False, False, True]
    assert topk.label_sets(0.0, max_labels=1).sum() == 2
    per_label = np.array([0.95, 0.5, 0.25], dtype=np.float32)
    assert topk.label_sets(per_label).toarray().tolist() == [[False, True, False],
                                                             [False, False, True]]


def test_min_labels_forces_in_no_label_at_an_infinite_threshold():
    # an infinite threshold is a label never predicted (one the model never learnt, one
    # no cut brings to min_precision): a document whose best candidate it was got it
    # forced in, and not its best label that can be predicted
    topk = TopK.from_scores(np.array([[0.9, 0.3, 0.2], [0.1, 0.6, 0.4]]), k=3)
    sets = topk.label_sets(np.array([np.inf, 0.7, 0.7]), min_labels=1).toarray()
    assert sets.tolist() == [[False, True, False], [False, True, False]]
    # and none where every candidate is never predicted
    assert topk.label_sets(np.full(3, np.inf), min_labels=2).nnz == 0


def test_invalid_inputs_are_reported():
    with pytest.raises(InvalidParameterError, match="NaN"):
        TopK.from_scores(np.array([[0.1, np.nan, 0.3]]), 2)
    with pytest.raises(InvalidParameterError, match="'k'"):
        TopK.from_scores(np.zeros((2, 3)), 0)
    with pytest.raises(InvalidParameterError, match="indices"):
        TopK(np.array([[5]]), np.array([[1.0]]), n_labels=3)
    topk = TopK.from_scores(np.zeros((2, 3)), 2)
    with pytest.raises(InvalidParameterError, match="threshold"):
        topk.label_sets(np.zeros(2))


def test_concatenate_and_select():
    a = TopK.from_scores(np.array([[0.1, 0.9]]), 2)
    b = TopK.from_csr(sp.csr_matrix(np.array([[0.0, 0.4]])), 2)
    both = TopK.concatenate([a, b])
    assert both.indices.tolist() == [[1, 0], [1, -1]]
    assert both[1:].indices.tolist() == [[1, -1]]
    assert [ids.tolist() for ids, _ in both.rows()] == [[1, 0], [1]]


def test_malformed_contents_are_refused():
    # each used to be accepted and give silently wrong answers downstream
    bad = {
        "repeated id": ([[0, 0, 1]], [[0.9, 0.8, 0.7]], 3, "distinct label ids"),
        "repeated id, wide row": ([list(range(9)) + [3]], [[0.5] * 10], 10, "label 3 repeated"),
        "float ids": ([[0.7, 1.2]], [[0.9, 0.1]], 2, "integer label ids"),
        "2**32 wraps to 0": ([[2**32]], [[0.9]], 3, r"label ids in \[0, 3\)"),
        "below -1": ([[-2]], [[0.9]], 3, "label ids"),
        "NaN score": ([[0]], [[np.nan]], 1, "finite"),
        "inf score for a label": ([[0, 1]], [[np.inf, 0.1]], 2, "finite"),
        "NaN in padding": ([[0, -1]], [[0.5, np.nan]], 2, "finite"),
        "n_labels float": ([[0]], [[0.5]], 3.5, "n_labels"),
        "n_labels negative": (np.zeros((1, 0), np.int32), np.zeros((1, 0)), -1, "n_labels"),
        "n_labels bool": ([[0]], [[0.5]], True, "n_labels"),
        "scores of text": ([[0]], [["a"]], 1, "scores"),
    }
    for name, (indices, scores, n_labels, message) in bad.items():
        with pytest.raises(InvalidParameterError, match=message):
            TopK(np.array(indices), np.array(scores), n_labels)
            pytest.fail(name)
    # padding (-1, -inf) may repeat; ids of any integer dtype in range are kept
    ok = TopK(np.array([[2, -1, -1]], np.int64), np.array([[0.5, -np.inf, -np.inf]]),
              np.int64(3))
    assert ok.indices.dtype == np.int32 and ok.n_labels == 3 and type(ok.n_labels) is int
    assert TopK(np.zeros((0, 2)), np.zeros((0, 2)), 0).indices.shape == (0, 2)
    # a repeated id within a row, not across rows
    assert len(TopK(np.array([[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]]),
                    np.ones((2, 6)), 6)) == 2
    assert len(TopK(np.array([[1, 0], [0, 1]]), np.ones((2, 2)), 2)) == 2


@pytest.mark.parametrize("block_entries", [1, 3, 4, 9, 1 << 19])
def test_label_sets_in_blocks_of_rows_equal_the_whole_matrix_ones(monkeypatch, block_entries):
    # eval's set metrics compared every entry's score with its label's threshold at once
    # (ten bytes an entry); in blocks of rows the sets must be the same, min_labels and
    # max_labels, padded rows and rows without a label kept included
    from tagsmith import topk as topk_module

    rng = np.random.default_rng(3)
    scores = rng.random((9, 5)).round(1)
    scores[[2, 6]] = 0.0
    per_label = rng.random(5).round(1)
    topks = (TopK.from_scores(scores, 3), TopK.from_csr(sp.csr_matrix(scores), 4),
             TopK.from_csr(sp.csr_matrix(scores[:0]), 2))
    options = ({"threshold": 0.5}, {"threshold": per_label},
               {"threshold": 0.95, "min_labels": 1}, {"threshold": 0.0, "max_labels": 2})
    expected = [[topk.label_sets(**kwargs) for kwargs in options] for topk in topks]
    monkeypatch.setattr(topk_module, "BLOCK_ENTRIES", block_entries)
    for topk, wanted in zip(topks, expected, strict=True):
        for kwargs, want in zip(options, wanted, strict=True):
            got = topk.label_sets(**kwargs)
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_array_equal(got.indptr, want.indptr)
            np.testing.assert_array_equal(got.indices, want.indices)
            assert got.indices.dtype == want.indices.dtype and got.has_sorted_indices
    # the whole-matrix sets are right, not merely the same
    assert expected[1][0].toarray().tolist() == (
        (scores >= 0.5) & (scores > 0) & (np.argsort(np.argsort(-scores, kind="stable",
                                                                axis=1), axis=1) < 4)
    ).tolist()


@pytest.mark.parametrize("make, name", [
    (lambda: TopK.empty(2, 2**64, 4), "k"),
    (lambda: TopK.empty(2**64, 2, 4), "n_docs"),
    (lambda: TopK.empty(2**40, 2**40, 4), "k"),  # each fits, not their product
    (lambda: TopK.empty(0, 2**64, 4), "k"),
    (lambda: TopK.from_scores(np.array([[0.1, 0.9, 0.4]]), k=2).padded_to(2**64), "k"),
    (lambda: RowFill(2**64, 4), "n_docs"),
])
def test_a_shape_numpy_cannot_hold_is_refused_naming_the_parameter(make, name):
    """TopK.empty(2, 2**64, 4) and padded_to(2**64) raised numpy's "Maximum allowed
    dimension exceeded" (or "array is too big"), naming no parameter."""
    with pytest.raises(InvalidParameterError, match=f"parameter '{name}' must be an "
                                                    "integer in \\[0, "):
        make()
    assert TopK.empty(3, 2, 4).indices.shape == (3, 2)  # sizes that fit are as before


@pytest.mark.parametrize("make", [
    lambda: TopK.empty(2, 2, 2**64),
    lambda: TopK.empty(2, 2, 2**31 + 1),
    lambda: RowFill(2, 2**64),
    lambda: TopK(np.zeros((1, 1), np.int32), np.zeros((1, 1), np.float32), n_labels=2**40),
])
def test_more_labels_than_int32_ids_address_are_refused_naming_n_labels(make):
    """TopK.empty(2, 2, 2**64) and RowFill(2, 2**64) accepted a label space whose ids
    the int32 ``indices`` cannot hold; the largest id, 2**31 - 1, is the last they do."""
    with pytest.raises(InvalidParameterError, match=r"parameter 'n_labels' must be an "
                                                    r"integer in \[0, 2,147,483,648\]"):
        make()
    assert TopK.empty(1, 1, 2**31).n_labels == 2**31  # ids up to 2**31 - 1 fit
    assert RowFill(1, 2**31).n_labels == 2**31


def test_a_score_matrix_wider_than_int32_ids_is_refused_naming_it():
    """from_csr of a matrix of 2**31 + 5 label columns was refused naming 'n_labels', a
    parameter it has not (before 2d691e1 its column 2**31 + 2 came back as label id
    -2147483646); from_scores of such an empty array likewise. Each names its own."""
    wide = sp.csr_matrix((np.array([0.5, 0.7]), (np.array([0, 0]), np.array([3, 2**31 + 2]))),
                         shape=(1, 2**31 + 5))
    with pytest.raises(InvalidParameterError, match=r"parameter 'matrix' must be .*at most "
                                                    r"2,147,483,648 label columns"):
        TopK.from_csr(wide, 2)
    with pytest.raises(InvalidParameterError, match=r"parameter 'scores' must be .*at most "
                                                    r"2,147,483,648 label columns"):
        TopK.from_scores(np.empty((0, 2**31 + 5), np.float32), 2)
    widest = sp.csr_matrix((np.array([0.5, 0.7]), (np.array([0, 0]), np.array([3, 2**31 - 1]))),
                           shape=(1, 2**31))
    assert TopK.from_csr(widest, 2).indices.tolist() == [[2**31 - 1, 3]]
    assert TopK.from_scores(np.empty((0, 2**31), np.float32), 2).n_labels == 2**31


@pytest.mark.parametrize("threshold", ["0.5", b"0.5", True, np.bool_(False),
                                       ["0.1", "0.2", "0.3"], [True, False, True]])
def test_label_sets_refuses_a_threshold_that_is_no_number(threshold):
    """numpy read "0.5" as 0.5 and True as 1.0: TopK.label_sets kept the labels of
    threshold="0.5" (a value read from a text file, unconverted), where
    TextClassifier.label_sets refuses it, as every number parameter refuses bools
    and strings."""
    topk = TopK.from_scores(np.array([[0.1, 0.9, 0.4]]), k=3)
    with pytest.raises(InvalidParameterError,
                       match="'threshold' must be a number or an array of numbers"):
        topk.label_sets(threshold)


@pytest.mark.parametrize("k", [1.5, 5.0, True, -1, "5", float("nan"), None])
def test_padded_to_refuses_a_width_that_is_no_count(k):
    """padded_to compared k with its width and no more: 1.5, True or -1 gave the TopK
    back as if widened, "5", NaN and None raised TypeError naming no parameter."""
    topk = TopK.from_scores(np.array([[0.1, 0.9, 0.4]]), k=2)
    with pytest.raises(InvalidParameterError, match="'k' must be an integer >= 0"):
        topk.padded_to(k)
    assert topk.padded_to(np.int64(4)).indices.tolist() == [[1, 2, -1, -1]]
    assert topk.padded_to(0) is topk


def test_label_sets_and_from_csr_check_their_arguments():
    topk = TopK.from_scores(np.array([[0.1, 0.9, 0.4]]), k=3)
    # max_labels=-1 used to drop the last column, min_labels=-1 to force all but it in
    for kwargs, name in (({"max_labels": -1}, "max_labels"), ({"min_labels": -1}, "min_labels"),
                         ({"min_labels": 1.5}, "min_labels"), ({"max_labels": "2"}, "max_labels")):
        with pytest.raises(InvalidParameterError, match=name):
            topk.label_sets(0.0, **kwargs)
    for threshold in (float("nan"), np.array([0.1, np.nan, 0.2]), "high"):
        with pytest.raises(InvalidParameterError, match="threshold"):
            topk.label_sets(threshold)
    assert topk.label_sets(0.0, max_labels=0).nnz == 0
    assert topk.label_sets(0.99, min_labels=np.int64(1)).nnz == 1
    # from_scores refused NaN, from_csr took it
    with pytest.raises(InvalidParameterError, match="NaN"):
        TopK.from_csr(sp.csr_matrix(np.array([[np.nan, 0.5, 0]])), 2)
    with pytest.raises(InvalidParameterError, match="infinite"):
        TopK.from_scores(np.array([[np.inf, 0.5]]), 2)
    with pytest.raises(InvalidParameterError, match="'k'"):
        TopK.from_csr(sp.csr_matrix((2, 3)), 2.5)


def test_rescored_resorts_real_entries_and_keeps_padding_last():
    # calibration (Platt/isotonic apply, label-shift adjust) rescores through this: new
    # scores best first, ties by lower label id, padding untouched at the end
    topk = TopK(np.array([[2, 0, 1], [1, -1, -1]]),
                np.array([[0.9, 0.5, 0.4], [0.7, -np.inf, -np.inf]]), n_labels=3)
    seen = []

    def score(ids, scores):
        seen.append((ids.tolist(), scores.astype(float).round(2).tolist()))
        return np.array([0.3, 0.3, 0.8, 0.1], dtype=np.float32)

    out = topk.rescored(score)
    assert seen == [([2, 0, 1, 1], [0.9, 0.5, 0.4, 0.7])]  # the real entries only
    assert out.indices.tolist() == [[1, 0, 2], [1, -1, -1]]
    np.testing.assert_allclose(out.scores, [[0.8, 0.3, 0.3], [0.1, -np.inf, -np.inf]])
    assert out.scores.dtype == np.float32 and out.n_labels == 3
    np.testing.assert_array_equal(topk.scores[0], np.float32([0.9, 0.5, 0.4]))  # untouched


def _rescored_at_once(topk, score):
    """What rescored computed before it worked in blocks of rows: every entry at once."""
    valid = topk.valid
    scores = np.full(topk.scores.shape, -np.inf, dtype=np.float32)
    scores[valid] = score(topk.indices[valid], topk.scores[valid])
    order = np.lexsort((topk.indices, -scores), axis=1)
    return (np.take_along_axis(topk.indices, order, axis=1),
            np.take_along_axis(scores, order, axis=1))


@pytest.mark.parametrize("block_entries", [1, 2, 5, 6, 7, 1 << 19])
def test_rescored_in_blocks_of_rows_equals_rescoring_at_once(monkeypatch, block_entries):
    # eval --calibration applied the calibrator to every entry at once (a dozen float64
    # temporaries per entry: 450 MB for 100,000 documents x 28 labels); in blocks of rows
    # each entry's new score and each row's order must be the same: ties, padded rows,
    # rows of padding only, blocks ending inside and at the end of the rows
    from tagsmith import topk as topk_module

    monkeypatch.setattr(topk_module, "BLOCK_ENTRIES", block_entries)
    rng = np.random.default_rng(1)
    scores = rng.random((7, 6)).round(1)  # many ties
    scores[2, 2:] = 0.0
    scores[4] = 0.2  # padding only, once cut at 0.5
    dense = TopK.from_scores(scores, 3)
    padded = TopK.from_csr(sp.csr_matrix(scores * (scores > 0.5)), 4)
    assert (~padded.valid).any() and (~padded.valid).all(axis=1).any()
    weights = np.float32([0.5, 2.0, 1.0, 1.0, 0.25, 3.0])
    calls = []

    def score(ids, values):
        calls.append(ids.size)
        return (values * weights[ids]).round(1)

    for topk in (dense, padded, TopK.empty(0, 3, n_labels=6), dense.head(1)):
        calls.clear()
        got = topk.rescored(score)
        indices, expected = _rescored_at_once(topk, score)
        np.testing.assert_array_equal(got.indices, indices)
        np.testing.assert_array_equal(got.scores, expected)
        assert got.scores.dtype == np.float32 and got.indices.dtype == topk.indices.dtype
        # one call per block of max(1, block_entries // k) rows (once for no rows)
        rows = max(1, block_entries // topk.k)
        assert len(calls) == max(1, -(-len(topk) // rows)) + 1  # + the reference's call


@pytest.mark.parametrize("returned, problem", [
    (np.array([0.3, np.nan, 0.8, 0.1]), "NaN"),
    (np.array([0.3, np.inf, 0.8, 0.1]), "infinite"),
    (np.array([0.3, 0.8, 0.1]), "shape"),
    (np.float32(0.5), "shape"),
])
def test_rescored_refuses_scores_a_topk_cannot_hold(returned, problem):
    # rescored builds its result unchecked (trusted): a NaN from the scoring function
    # went into the TopK (ranked anywhere), a wrong count was broadcast or failed in numpy
    topk = TopK(np.array([[2, 0, 1], [1, -1, -1]]),
                np.array([[0.9, 0.5, 0.4], [0.7, -np.inf, -np.inf]]), n_labels=3)
    with pytest.raises(InvalidParameterError, match=f"'score'.*{problem}"):
        topk.rescored(lambda ids, scores: returned)


def test_rescored_wrong_count_names_the_whole_call_and_the_block(monkeypatch):
    # scored in blocks of rows, the error named one block's count ("returning 6 scores")
    # for a call over 84 real entries; it names the whole call's and the block's rows
    from tagsmith import topk as topk_module

    monkeypatch.setattr(topk_module, "BLOCK_ENTRIES", 12)  # 2 rows of 6 per block
    topk = TopK.from_scores(np.random.default_rng(0).random((14, 6)), 6)
    calls = []

    def score(ids, values):
        calls.append(ids.size)
        return values if len(calls) < 3 else values[:-1]

    with pytest.raises(InvalidParameterError, match=re.escape(
            "a function returning 84 scores (one per real entry; it is called once per "
            "block of rows), got 'shape (11,) for the 12 real entries of rows 4 to 5 "
            "(of 14)'")):
        topk.rescored(score)
    assert calls == [12, 12, 12]
    monkeypatch.setattr(topk_module, "BLOCK_ENTRIES", 6)  # one row per block
    with pytest.raises(InvalidParameterError, match=re.escape(
            "got 'shape (0,) for the 6 real entries of row 0 (of 14)'")):
        topk.rescored(lambda ids, values: values[:0])
    monkeypatch.setattr(topk_module, "BLOCK_ENTRIES", 60)  # the last block is cut short
    with pytest.raises(InvalidParameterError, match=re.escape(
            "got 'shape (0,) for the 24 real entries of rows 10 to 13 (of 14)'")):
        topk.rescored(lambda ids, values: values[:0] if ids.size == 24 else values)


def test_constructor_refuses_rows_not_sorted_best_first():
    from tagsmith.metrics.ranking import precision_at_k

    # metrics read column 0 as the best label: an unsorted row gave P@1 of the wrong label
    with pytest.raises(InvalidParameterError, match="scores.*best first"):
        TopK(np.array([[0, 1]]), np.array([[0.1, 0.9]]), 2)
    with pytest.raises(InvalidParameterError, match="indices.*padding"):
        TopK(np.array([[-1, 1]]), np.array([[-np.inf, 0.9]]), 2)
    with pytest.raises(InvalidParameterError, match="row 1"):
        TopK(np.array([[0, 1, -1], [2, -1, 0]]),
             np.array([[0.9, 0.1, -np.inf], [0.8, -np.inf, 0.5]]), 3)
    # ties in either order, trailing padding and a padding slot's finite score are fine
    tied = TopK(np.array([[1, 0, -1], [0, 1, -1]]),
                np.array([[0.5, 0.5, -np.inf], [0.7, 0.2, 0.0]]), 2)
    assert precision_at_k(sp.csr_matrix(np.array([[1, 0], [1, 0]])), tied, 1) == 0.5
    TopK(np.zeros((0, 3), np.int32), np.zeros((0, 3)), 2)
    TopK(np.array([[-1, -1]]), np.full((1, 2), -np.inf), 2)


def test_constructors_and_consumers_name_the_parameter_for_wrong_types():
    from tagsmith.calibration.scaling import fit_calibrator

    topk = TopK.from_scores(np.array([[0.9, 0.1], [0.2, 0.8]]), 2)
    # numpy/scipy's words: 'setting an array element with a sequence', 'could not convert
    # string to float', "CSR arrays don't yet support 3D"; AttributeErrors on .k/.n_labels
    cases = [
        ("scores", TopK.from_scores, (sp.csr_matrix(np.eye(2)), 1)),
        ("scores", TopK.from_scores, ([["a", "b"]], 1)),
        ("scores", TopK.from_scores, ([[1.0, 2.0], [3.0]], 1)),
        ("matrix", TopK.from_csr, (np.zeros((2, 2, 2)), 1)),
        ("matrix", TopK.from_csr, ([["a", "b"]], 1)),
        ("matrix", TopK.from_csr, (np.zeros(3), 1)),  # was read as one row
        ("parts", TopK.concatenate, ([topk, "x"],)),
        ("parts", TopK.concatenate, ([np.zeros((2, 2)), topk],)),
        ("topk", fit_calibrator, (np.eye(2), np.zeros((2, 2)))),
    ]
    for name, function, args in cases:
        with pytest.raises(InvalidParameterError, match=f"parameter '{name}'"):
            function(*args)
    calibrator = fit_calibrator(np.eye(2), topk)
    with pytest.raises(InvalidParameterError, match="parameter 'topk'"):
        calibrator.apply(np.zeros((2, 2)))
    assert len(TopK.concatenate((topk, topk))) == 4


def test_sparse_matrices_have_sorted_column_indices():
    """to_csr and label_sets filled each row in rank order (best first), so a row's
    column indices were unsorted: scipy consumers expect has_canonical_format."""
    topk = TopK.from_scores(np.array([[0.1, 0.4, 0.9, 0.0], [0.8, 0.2, 0.7, 0.6]]), k=3)
    for matrix, columns, dense in (
            (topk.to_csr(), [[0, 1, 2], [0, 2, 3]], [[0.1, 0.4, 0.9, 0], [0.8, 0, 0.7, 0.6]]),
            (topk.label_sets(0.3), [[1, 2], [0, 2, 3]], [[0, 1, 1, 0], [1, 0, 1, 1]])):
        assert matrix.has_canonical_format
        assert [row.tolist() for row in np.split(matrix.indices, matrix.indptr[1:-1])] \
            == columns
        np.testing.assert_allclose(matrix.toarray(), dense, rtol=1e-6)


def test_from_scores_refuses_values_beyond_float32_as_out_of_range_not_infinite():
    """float64 scores above float32's maximum became infinities in the cast (with numpy's
    'overflow encountered in cast' warning) and were refused as '1 infinite values', which
    the caller never had."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RuntimeWarning would fail the test
        with pytest.raises(InvalidParameterError, match=r"'scores'.*1 value beyond "
                           r"float32's range \(largest magnitude 1e\+39\)"):
            TopK.from_scores(np.array([[1e39, 0.5], [-2e38, 0.1]]), 2)
        with pytest.raises(InvalidParameterError, match="2 values beyond float32's range "
                           r"\(largest magnitude 3e\+39\)"):
            TopK.from_scores([[-3e39, 0.5], [1e39, 0.1]], 1)
    # one NaN or infinity of the caller's own is counted in the singular
    with pytest.raises(InvalidParameterError, match="got '1 NaN value'$"):
        TopK.from_scores(np.array([[np.nan, 0.5]]), 2)
    with pytest.raises(InvalidParameterError, match="got '1 infinite value'$"):
        TopK.from_scores(np.array([[np.inf, 0.5]]), 2)


def test_from_csr_refuses_values_beyond_float32_and_both_refuse_ints_beyond_float64():
    """from_csr cast through scipy with no range check: a finite 1e39 was refused as
    '1 infinite value' (after numpy's overflow warning), and a Python int beyond float64
    escaped both constructors as a raw OverflowError naming no parameter."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RuntimeWarning would fail the test
        for given in (np.array([[1e39, 0.5], [0, 0.1]]),
                      sp.csr_matrix(np.array([[1e39, 0.5], [0, 0.1]]))):
            with pytest.raises(InvalidParameterError, match=r"'matrix'.*1 value beyond "
                               r"float32's range \(largest magnitude 1e\+39\)"):
                TopK.from_csr(given, 2)
        for name, function in (("scores", TopK.from_scores), ("matrix", TopK.from_csr)):
            with pytest.raises(InvalidParameterError, match=f"'{name}'.*an integer beyond "
                               "float64's range"):
                function([[10**400, 1]], 1)
        # float32 parts of one entry whose sum overflows: not the caller's 'infinity'
        doubled = sp.csr_matrix((np.float32([3e38, 3e38]), [1, 1], [0, 2]), shape=(1, 2))
        with pytest.raises(InvalidParameterError, match="stored several times whose parts "
                           "sum beyond float32's range"):
            TopK.from_csr(doubled, 1)
    assert TopK.from_csr([[2**70, 1]], 1).indices.tolist() == [[0]]  # large but in range


def test_repr_is_one_line_of_counts_not_the_arrays():
    """The dataclass repr printed both arrays: a page of numbers at a prompt for a batch."""
    rng = np.random.default_rng(0)
    topk = TopK.from_csr(sp.random(5000, 300, density=0.01, random_state=rng, format="csr"),
                         k=10)
    n_padded = int((topk.indices < 0).sum())
    assert n_padded > 0
    text = repr(topk)
    assert text == f"TopK(n_docs=5000, k=10, n_labels=300, n_padded={n_padded})"
    assert "array" not in text and "\n" not in text


def test_row_fill_equals_concatenate():
    # predict_topks fills pre-sized arrays chunk by chunk instead of stacking the chunks'
    # results (held twice); the result must be concatenate's, padding and all
    rng = np.random.default_rng(0)
    wide = TopK.from_scores(rng.random((3, 5)), 4)
    narrow = TopK.from_scores(rng.random((2, 5)), 2)
    padded = TopK.from_csr(sp.csr_matrix(np.array([[0.0, 0.4, 0, 0, 0], [0, 0, 0, 0, 0]])), 3)
    empty_wide = TopK.empty(0, 5, n_labels=5)
    empty = TopK.empty(0, 1, n_labels=5)
    for parts in ([wide, narrow], [narrow, wide, padded], [padded, empty, narrow],
                  [empty, narrow], [narrow, empty_wide, padded], [padded]):
        fill = RowFill(sum(len(p) for p in parts), n_labels=5)
        for part in parts:
            fill.add(part)
        got, expected = fill.result(), TopK.concatenate(parts)
        assert got.indices.dtype == expected.indices.dtype
        assert got.scores.dtype == expected.scores.dtype
        np.testing.assert_array_equal(got.indices, expected.indices)
        np.testing.assert_array_equal(got.scores, expected.scores)
        assert got.n_labels == expected.n_labels


def test_row_fill_refuses_wrong_parts():
    part = TopK.from_scores(np.array([[0.1, 0.9]]), 2)
    with pytest.raises(InvalidParameterError, match="label space"):
        RowFill(1, n_labels=3).add(part)
    fill = RowFill(2, n_labels=2)
    fill.add(part)
    with pytest.raises(InvalidParameterError, match="2 rows in all"):
        fill.result()  # a row never filled
    fill.add(part)
    with pytest.raises(InvalidParameterError, match="2 rows in all"):
        fill.add(part)  # more rows than sized for
    with pytest.raises(InvalidParameterError, match="at least one TopK added, got 'none'"):
        RowFill(0, n_labels=2).result()  # nothing added: its 0 rows are not the fault


def test_asarray_of_a_topk_says_which_array_to_take():
    """np.asarray(topk), or a scikit-learn metric given a TopK, read its documents as
    nested sequences and failed with 'the requested array would exceed the maximum
    number of dimension of 64'; it is a TypeError naming .indices, .scores, .to_csr()."""
    from sklearn.metrics import f1_score

    topk = TopK.from_scores(np.array([[0.1, 0.9, 0.4], [0.7, 0.2, 0.3]]), k=2)
    with pytest.raises(TypeError, match=r"\.indices or \.scores .*\.to_csr\(\)"):
        np.asarray(topk)
    with pytest.raises(TypeError, match=r"\.to_csr\(\)"):
        f1_score(np.eye(3)[:2], topk, average="micro")
    assert np.asarray(topk.to_csr().toarray()).shape == (2, 3)


def test_to_columns_names_each_documents_labels_best_first_without_padding():
    # a TopK named its labels only by hand ([space.uris[i] for i in topk.indices[:, 0]],
    # README's pandas snippet), the padding -1 naming the last label
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:joy", "u:anger", "u:fear"],
                                 names={"u:joy": "joy", "u:anger": "anger"})
    topk = TopK.from_csr(sp.csr_matrix([[0.2, 0.7, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.4]]),
                         k=2)
    columns = topk.to_columns(space)
    assert {name: column.tolist() for name, column in columns.items()} == {
        "doc": [0, 0, 2], "rank": [1, 2, 1], "label_id": [1, 0, 2],
        # document 1 has no candidate; fear has no name: its URI, as name_of gives it
        "uri": ["u:anger", "u:joy", "u:fear"], "label": ["anger", "joy", "u:fear"],
        "score": np.float32([0.7, 0.2, 0.4]).tolist()}  # as stored, not rounded
    assert columns["score"].dtype == np.float32
    pd = pytest.importorskip("pandas")
    named = pd.DataFrame(topk.to_columns(space))
    assert list(named.columns) == ["doc", "rank", "label_id", "uri", "label", "score"]
    assert named["label"].tolist() == ["anger", "joy", "u:fear"]
    with pytest.raises(InvalidParameterError, match="'label_space'.*3 labels.*2 labels"):
        topk.to_columns(LabelSpace.from_names(["joy", "anger"]))
    with pytest.raises(InvalidParameterError, match="'label_space'"):
        topk.to_columns(["joy", "anger", "fear"])
    with pytest.raises(InvalidParameterError, match="'lang'"):
        topk.to_columns(space, lang="en us")


def test_to_columns_of_a_topk_with_no_label_still_has_its_columns():
    # a list of row dicts was [] there, and pandas.DataFrame([]) has no column: a
    # table's named["label"] failed with KeyError
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_names(["joy", "anger"])
    pd = pytest.importorskip("pandas")
    for topk in (TopK.empty(0, 2, 2), TopK.empty(3, 2, 2)):  # no document; all padding
        named = pd.DataFrame(topk.to_columns(space))
        assert list(named.columns) == ["doc", "rank", "label_id", "uri", "label", "score"]
        assert len(named) == 0 and named["label"].tolist() == []
