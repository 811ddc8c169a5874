"""Hierarchical precision, recall and F1 (Kiritchenko et al. 2005): hand-computed cases,
a naive per-document reference, and where evaluate() reports them."""

import random

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics import (
    ancestor_closure,
    evaluate,
    hierarchical_scores,
    most_specific,
    parent_matrix,
    precision_micro,
    recall_micro,
)
from tagsmith.topk import TopK

from conftest import ROOT

HIER_KEYS = ["hierarchical_precision", "hierarchical_recall", "hierarchical_f1"]


def diamond():
    """R; A and B under R; C under both A and B (a polyhierarchy); D alone."""
    return LabelSpace([Label("u:R"), Label("u:A", broader=["u:R"]),
                       Label("u:B", broader=["u:R"]),
                       Label("u:C", broader=["u:A", "u:B"]), Label("u:D")])


def test_a_label_of_two_parents_has_both_and_their_root_once():
    closure = ancestor_closure(parent_matrix(diamond())).toarray()
    assert closure[3].tolist() == [1, 1, 1, 1, 0]  # C: itself, A, B, R (R once)
    assert closure[4].tolist() == [0, 0, 0, 0, 1]  # D: itself alone
    # true C, predicted A: T' = {C, A, B, R}, P' = {A, R}, shared {A, R}
    scores = hierarchical_scores([[0, 0, 0, 1, 0]], [[0, 1, 0, 0, 0]], diamond())
    assert scores == {"hierarchical_precision": 1.0, "hierarchical_recall": 0.5,
                      "hierarchical_f1": pytest.approx(2 / 3, abs=1e-15)}
    # true C, predicted D: nothing shared
    assert hierarchical_scores([[0, 0, 0, 1, 0]], [[0, 0, 0, 0, 1]], diamond()) == dict.fromkeys(
        HIER_KEYS, 0.0)


def test_a_predicted_parent_of_a_true_leaf_earns_partial_credit():
    space = LabelSpace([Label("E"), Label("E11", broader=["E"]),
                        Label("E11.9", broader=["E11"])])
    y_true, y_pred = [[0, 0, 1], [0, 0, 1]], [[0, 1, 0], [0, 0, 1]]
    # doc 0: T' = {E11.9, E11, E}, P' = {E11, E}: 2 shared; doc 1: 3 of 3
    scores = hierarchical_scores(y_true, y_pred, space)
    assert scores["hierarchical_precision"] == 5 / 5
    assert scores["hierarchical_recall"] == 5 / 6
    assert scores["hierarchical_f1"] == 10 / 11
    assert precision_micro(y_true, y_pred) == 0.5  # flat: the parent counted wrong
    assert recall_micro(y_true, y_pred) == 0.5


def test_the_readme_s_partial_credit_example_holds_for_the_hierarchy_it_states():
    """README gave "E11 for a gold E11.9: precision 1, recall 2/3", which holds only
    where E11 has one ancestor: it now names the chapter E, and the figures are these."""
    prose = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert ("(`E11` for a gold `E11.9`, under a chapter `E` and nothing above it: "
            "precision 1, recall 2/3)") in prose
    space = LabelSpace([Label("E"), Label("E11", broader=["E"]),
                        Label("E11.9", broader=["E11"])])
    scores = hierarchical_scores([[0, 0, 1]], [[0, 1, 0]], space)
    assert scores["hierarchical_precision"] == 1.0
    assert scores["hierarchical_recall"] == pytest.approx(2 / 3, abs=1e-15)
    # with no chapter, E11 alone: recall 1/2, not the README's 2/3
    bare = LabelSpace([Label("E11"), Label("E11.9", broader=["E11"])])
    assert hierarchical_scores([[0, 1]], [[1, 0]], bare)["hierarchical_recall"] == 0.5


@pytest.mark.parametrize("edges", [[(0, 1), (1, 2), (2, 0)], [(1, 1)]],
                         ids=["three-cycle", "self-loop"])
def test_a_cycle_is_refused_naming_its_labels_not_looped_on(edges):
    rows, cols = zip(*edges, strict=True)
    parents = sp.csr_matrix((np.ones(len(edges)), (rows, cols)), shape=(4, 4))
    with pytest.raises(InvalidParameterError, match="parents") as info:
        ancestor_closure(parents)
    on_cycle = sorted({*rows, *cols})
    assert f"a cycle through labels {', '.join(map(str, on_cycle))} " in str(info.value)
    # named as the caller's parameter: 'parents' is no argument of these
    with pytest.raises(InvalidParameterError, match="'hierarchy'.*cycle"):
        hierarchical_scores(sp.csr_matrix((1, 4)), sp.csr_matrix((1, 4)), parents)
    with pytest.raises(InvalidParameterError, match="'hierarchy'.*cycle"):
        most_specific(sp.csr_matrix((1, 4)), parents)


def test_a_long_cycle_names_ten_labels_and_counts_the_rest_as_every_message_does():
    """ancestor_closure wrote its own "and N more" (1002, no thousands separator) where
    the package's _plural.and_more counts the rest of every list it names: 1,002."""
    n = 1012
    parents = sp.csr_matrix((np.ones(n), (np.arange(n), (np.arange(n) + 1) % n)),
                            shape=(n, n))
    with pytest.raises(InvalidParameterError) as info:
        ancestor_closure(parents)
    assert ("a cycle through labels 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 1,002 more (ids "
            "counted from 0)") in str(info.value)


def test_a_hierarchy_of_another_size_is_refused_naming_the_parameter():
    with pytest.raises(InvalidParameterError, match="'hierarchy'.*4 labels"):
        hierarchical_scores([[1, 0]], [[1, 0]], LabelSpace.from_uris(list("abcd")))
    with pytest.raises(InvalidParameterError, match="'hierarchy'.*2 x 2"):
        hierarchical_scores([[1, 0]], [[1, 0]], sp.csr_matrix((3, 3)))
    with pytest.raises(InvalidParameterError, match="'hierarchy'.*LabelSpace"):
        hierarchical_scores([[1, 0]], [[1, 0]], [[0, 0], [1, 0]])


def _naive(y_true, y_pred, parents):
    """Per document, per label: each label's ancestors walked up one parent at a time."""
    def up(label, seen):
        for p in parents[label]:
            if p not in seen:
                seen.add(p)
                up(p, seen)
        return seen

    both = pred = true = 0
    for t_row, p_row in zip(y_true, y_pred, strict=True):
        t = set()
        for lab in np.flatnonzero(t_row):
            t |= up(int(lab), {int(lab)})
        p = set()
        for lab in np.flatnonzero(p_row):
            p |= up(int(lab), {int(lab)})
        both, pred, true = both + len(t & p), pred + len(p), true + len(t)
    return {"hierarchical_precision": both / pred if pred else 0.0,
            "hierarchical_recall": both / true if true else 0.0,
            "hierarchical_f1": 2 * both / (pred + true) if pred + true else 0.0}


@pytest.mark.parametrize("seed", range(5))
def test_equals_a_naive_per_document_reference_on_random_dags(seed):
    rng = random.Random(seed)
    n_labels, n_docs = 40, 60
    # each label's parents among the labels before it: a DAG, some labels of two or
    # three parents, some roots, and links named in any order of ids (shuffled)
    order = list(range(n_labels))
    rng.shuffle(order)
    parents = {order[i]: [order[j] for j in rng.sample(range(i),
                                                       min(i, rng.choice([0, 1, 1, 2, 3])))]
               for i in range(n_labels)}
    uris = [f"u:{i}" for i in range(n_labels)]
    space = LabelSpace([Label(uris[i], broader=[uris[p] for p in parents[i]])
                        for i in range(n_labels)])
    y_true = np.array([[rng.random() < 0.06 for _ in range(n_labels)] for _ in range(n_docs)])
    y_pred = np.array([[rng.random() < 0.08 for _ in range(n_labels)] for _ in range(n_docs)])
    y_pred[:5] = False  # documents predicted nothing
    y_true[5:8] = False  # documents without a true label
    expected = _naive(y_true, y_pred, parents)
    assert expected["hierarchical_precision"] > 0
    assert hierarchical_scores(y_true, y_pred, space) == expected
    # a parent matrix gives the same as the space it was made of
    assert hierarchical_scores(sp.csr_matrix(y_true), y_pred, parent_matrix(space)) == expected


def test_blocks_of_documents_add_up_to_the_whole(monkeypatch):
    import tagsmith.metrics.hierarchy as hierarchy

    rng = np.random.default_rng(3)
    # labels 0 or 1, as the metrics take them (random values were counted as labels)
    y_true = sp.random(101, 5, density=0.3, random_state=rng, format="csr") != 0
    y_pred = sp.random(101, 5, density=0.3, random_state=rng, format="csr") != 0
    whole = hierarchical_scores(y_true, y_pred, diamond())
    monkeypatch.setattr(hierarchy, "BLOCK_DOCS", 7)
    assert hierarchical_scores(y_true, y_pred, diamond()) == whole


def _report(space, y_true, y_pred):
    topk = TopK.from_scores(np.asarray(y_pred, float) + 0.01, k=len(space))
    return evaluate(y_true, topk, y_pred, ks=(1,), hierarchy=space)


def test_evaluate_adds_them_after_the_flat_set_metrics_where_there_is_a_hierarchy():
    y_true, y_pred = [[0, 0, 0, 1, 0], [0, 0, 0, 0, 1]], [[0, 1, 0, 0, 0], [0, 0, 0, 0, 1]]
    report = _report(diamond(), y_true, y_pred)
    keys = list(report)
    at = keys.index("micro_recall") + 1
    assert keys[at:at + 3] == HIER_KEYS
    assert keys[at + 3:] == ["n_docs", "n_docs_without_labels", "n_labels_evaluated"]
    # T' sizes 4 + 1, P' sizes 2 + 1, shared 2 + 1
    assert report["hierarchical_precision"] == 1.0
    assert report["hierarchical_recall"] == 3 / 5
    assert report["micro_precision"] == 0.5  # the flat ones as they were


def test_a_label_space_without_hierarchy_reports_no_hierarchical_keys():
    flat = LabelSpace.from_uris([f"u:{i}" for i in range(5)])
    y_true, y_pred = [[0, 0, 0, 1, 0], [0, 0, 0, 0, 1]], [[0, 1, 0, 0, 0], [0, 0, 0, 0, 1]]
    report = _report(flat, y_true, y_pred)
    assert not set(HIER_KEYS) & set(report)
    assert report == evaluate(y_true, TopK.from_scores(np.asarray(y_pred, float) + 0.01, k=5),
                              y_pred, ks=(1,))
    # broader links to URIs outside the space are no hierarchy of it
    outside = LabelSpace([Label(f"u:{i}", broader=["u:elsewhere"]) for i in range(5)])
    assert not set(HIER_KEYS) & set(_report(outside, y_true, y_pred))
    # asked for directly, they equal the flat micro figures
    assert hierarchical_scores(y_true, y_pred, flat)["hierarchical_precision"] == (
        precision_micro(y_true, y_pred))
