import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import TopK


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
