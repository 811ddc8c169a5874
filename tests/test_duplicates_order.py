"""The duplicate pairs the audit lists (duplicates.csv, the report's n_conflict_rows and
n_same_label_rows) follow the documents' content, not their lines: each exact copy was
paired with its group's first document in the file and near pairs joined each text's
first, so the same corpus shuffled listed other pairs (8,080 GoEmotions documents: 57
or 78 conflicting rows)."""

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.audit import duplicates as dup
from tagsmith.data.labelspace import LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.pipeline.audit import AuditOptions, audit_corpus, content_order

from conftest import FAST_FEATURES

BASE = ["the river floods the valley every spring after the snow melts",
        "a new bridge over the river opens to traffic next week",
        "the council votes on the budget for the city's schools",
        "rain and wind are expected across the north tonight",
        "the museum shows paintings of the coast from the last century",
        "farmers sell apples and pears at the market on saturday"]


def _corpus():
    """Copies of each text labelled two ways, and near copies (one word more)."""
    texts, labels = [], []
    for i in range(48):
        base = BASE[i % len(BASE)]
        texts.append(base if i % 4 else f"{base} today")
        labels.append([(i // len(BASE)) % 3])
    for i in range(40):
        texts.append(f"unrelated document number {i} about topic {i * 7}")
        labels.append([i % 3])
    rows = np.repeat(np.arange(len(labels)), [len(ls) for ls in labels])
    cols = np.concatenate(labels)
    Y = sp.csr_matrix((np.ones(len(cols), bool), (rows, cols)), shape=(len(labels), 3))
    return texts, Y


def _listed(result, ids):
    """The listed pairs by document id, with whether they conflict."""
    pairs = result.duplicate_pairs
    return sorted((tuple(sorted((ids[a], ids[b]))), bool(c), bool(e))
                  for (a, b), c, e in zip(pairs.pairs.tolist(), pairs.conflicting,
                                          pairs.exact, strict=True))


def test_the_audit_lists_the_same_duplicate_pairs_for_the_corpus_in_any_order():
    texts, Y = _corpus()
    ids = [f"d{i}" for i in range(len(texts))]
    space = LabelSpace.from_uris([f"http://x/{j}" for j in range(3)])
    options = AuditOptions(scores="knn", n_folds=3, featurizer_params=FAST_FEATURES)
    runs = []
    for seed in (None, 1, 2):
        rows = (np.arange(len(texts)) if seed is None
                else np.random.default_rng(seed).permutation(len(texts)))
        result = audit_corpus([texts[i] for i in rows], Y[rows], space,
                              doc_ids=[ids[i] for i in rows], options=options)
        runs.append((result.report["duplicates"], _listed(result, [ids[i] for i in rows])))
    first, listed = runs[0]
    assert first["n_conflict_rows"] > 5 and first["n_same_label_rows"] > 5
    assert first["n_conflict_rows_near"] > 0
    for section, pairs in runs[1:]:
        for key in ("n_conflict_rows", "n_same_label_rows", "n_conflict_rows_near",
                    "n_same_label_rows_near", "n_exact_pairs", "n_near_pairs"):
            assert section[key] == first[key], key
        assert pairs == listed


def test_find_duplicates_pairs_each_copy_with_the_first_in_the_order_given():
    texts, Y = _corpus()
    hashes = dup.text_hashes(texts)
    order = content_order(hashes, texts, Y)
    found = dup.find_duplicates(texts, Y, None, hashes=hashes, order=order)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    exact = found.pairs[found.exact]
    # the document each copy is paired with comes first, in that order, of its text
    for a, b in exact.tolist():
        partner = a if rank[a] < rank[b] else b
        same = np.flatnonzero(hashes == hashes[partner])
        assert rank[partner] == rank[same].min()
    with pytest.raises(InvalidParameterError, match="order"):
        dup.find_duplicates(texts, Y, None, hashes=hashes, order=order[:-1])


@pytest.mark.parametrize("bad", [[0, 0, 1, 2], [0, 1, 2]])
def test_the_pair_finders_refuse_an_order_that_is_no_permutation(bad):
    """exact_duplicate_pairs(order=) and near_pairs(order=) took any array: a short or
    repeating order left some documents out of the pairs (or searched a text twice),
    silently; only find_duplicates checked it."""
    texts = ["a b c", "a b c", "a b d", "x y z"]
    hashes = dup.text_hashes(texts)
    Y = sp.csr_matrix(np.eye(4))
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.99, 0.1], [0.0, 1.0]])
    with pytest.raises(InvalidParameterError, match="order.*permutation"):
        dup.exact_duplicate_pairs(hashes, np.array(bad))
    with pytest.raises(InvalidParameterError, match="order.*permutation"):
        dup.near_pairs(X, hashes, Y, order=np.array(bad))
