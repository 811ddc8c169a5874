"""The most specific labels alone (`tagsmith.metrics.most_specific`): finance
(GICS-like) and clinical-coding (ICD-10) walks got a code with one of its ancestors
(`202010` beside `20201030`), where such teams code at the most specific level."""

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics import ancestor_closure, most_specific, parent_matrix


def rows(matrix):
    """Each row's label ids, as a list of lists."""
    m = sp.csr_matrix(matrix)
    return [m.indices[m.indptr[i]:m.indptr[i + 1]].tolist() for i in range(m.shape[0])]


def icd_chain():
    """E > E11 > E11.9, E > E10; I alone."""
    return LabelSpace([Label("E"), Label("E11", broader=["E"]),
                       Label("E11.9", broader=["E11"]), Label("E10", broader=["E"]),
                       Label("I")])


def diamond():
    """R; A and B under R; C under both A and B (a polyhierarchy); D alone."""
    return LabelSpace([Label("u:R"), Label("u:A", broader=["u:R"]),
                       Label("u:B", broader=["u:R"]),
                       Label("u:C", broader=["u:A", "u:B"]), Label("u:D")])


def test_a_small_dag_keeps_the_deepest_of_each_line_by_hand():
    y = [[1, 1, 1, 0, 0],   # E, E11, E11.9: the leaf alone
         [1, 1, 0, 1, 1],   # E, E11, E10, I: E goes (E11 and E10 under it), I stays
         [1, 0, 1, 0, 0],   # E and E11.9 (its grandparent, the parent absent): E goes
         [0, 1, 0, 1, 0],   # siblings E11 and E10: neither is the other's ancestor
         [0, 0, 0, 0, 0],   # nothing predicted: nothing
         [0, 0, 0, 0, 1]]   # a label without hierarchy stays
    out = most_specific(y, icd_chain())
    assert out.dtype == bool and out.shape == (6, 5)
    assert rows(out) == [[2], [1, 3, 4], [2], [1, 3], [], [4]]
    # a parent matrix gives the same as the label space
    assert rows(most_specific(y, parent_matrix(icd_chain()))) == rows(out)


def test_a_polyhierarchy_drops_every_parent_of_a_label_of_two_parents():
    y = [[1, 1, 0, 1, 0],   # R, A, C: C alone (A its parent, R its grandparent)
         [0, 1, 1, 0, 0],   # A and B: siblings, both stay
         [0, 0, 1, 1, 1],   # B, C, D: B is C's other parent, it goes
         [1, 1, 1, 1, 1]]   # everything: the leaves C and D
    assert rows(most_specific(y, diamond())) == [[3], [1, 2], [3, 4], [3, 4]]


def test_a_flat_label_space_is_refused_naming_the_hierarchy():
    flat = LabelSpace([Label("a"), Label("b")])
    with pytest.raises(InvalidParameterError, match=r"parameter 'hierarchy' must be a label "
                       r"space with a hierarchy.*flat label space of 2 labels"):
        most_specific([[1, 1]], flat)
    with pytest.raises(InvalidParameterError, match="parameter 'hierarchy'"):
        most_specific([[1, 1, 0]], icd_chain())  # 3 columns, 5 labels


def _naive(y, parents):
    """Per document, per label: dropped where some other predicted label has it among
    its ancestors (walked up one parent at a time)."""
    n = parents.shape[0]
    up = [set(np.flatnonzero(parents[c]).tolist()) for c in range(n)]

    def ancestors(c):
        seen, todo = set(), list(up[c])
        while todo:
            a = todo.pop()
            if a not in seen:
                seen.add(a)
                todo.extend(up[a])
        return seen

    out = []
    for row in y:
        chosen = set(np.flatnonzero(row).tolist())
        covered = set().union(*(ancestors(c) for c in chosen)) if chosen else set()
        out.append(sorted(chosen - covered))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_equals_a_naive_per_document_reference_on_random_dags(seed):
    rng = np.random.default_rng(seed)
    n = 30
    parents = np.zeros((n, n), int)
    for c in range(1, n):  # parents among earlier labels: acyclic, some of two parents
        for p in rng.choice(c, size=min(c, int(rng.integers(0, 3))), replace=False):
            parents[c, p] = 1
    y = (rng.random((40, n)) < 0.2).astype(int)
    got = most_specific(y, sp.csr_matrix(parents))
    assert rows(got) == _naive(y, parents)
    assert ancestor_closure(sp.csr_matrix(parents)).shape == (n, n)

