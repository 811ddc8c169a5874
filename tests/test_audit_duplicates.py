"""Near duplicates within one corpus are found completely (as comparing every pair),
with exact copies collapsed so that big groups of copies cost one search."""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from tagsmith.audit import duplicates as dup
from tagsmith.audit.duplicates import (
    COSINE_TOLERANCE,
    EMPTY_HASH,
    find_duplicates,
    label_set_hashes,
    near_pairs,
    normalized_text,
    text_hashes,
)
from tagsmith.data.labelspace import LabelSpace
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.models.knn import l2_normalize
from tagsmith.pipeline.audit import AuditOptions, audit_corpus

from conftest import COMMON_WORDS as COMMON
from conftest import FAST_FEATURES, short_texts


def _corpus(rng, n_short=1500, n_copies=300):
    """Short texts of common words, "Thank you!!!!" variants, empty texts, a big group
    of exact copies (some in another case), 80 near-identical texts (one of them
    copied), and random labels from a few label sets (so that some pairs agree)."""
    p = 1 / np.arange(1, len(COMMON) + 1)
    texts = [" ".join(rng.choice(COMMON, rng.integers(1, 5), p=p / p.sum()))
             + "!" * int(rng.integers(0, 4)) for _ in range(n_short)]
    texts += ["Thank you" + "!" * k for k in range(8)] + ["thank you"] * 5 + ["", "  "] * 3
    texts += ["No abstract available"] * n_copies + ["NO ABSTRACT available"] * 5
    words = [f"word{j}" for j in range(60)]
    texts += [" ".join(w for j, w in enumerate(words) if j not in (i % 60, 59 - i // 60))
              for i in range(80)]
    texts += [texts[-1]] * 40
    order = rng.permutation(len(texts))
    texts = [texts[i] for i in order]
    sets = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]], bool)
    Y = sp.csr_matrix(sets[rng.integers(0, len(sets), len(texts))])
    return texts, Y


def _brute_force(texts, Y, X, threshold):
    """Near pairs and conflicts over every pair of documents, and the groups over exact
    and near pairs."""
    rows = l2_normalize(sp.csr_matrix(X)).toarray().astype(np.float64)
    sims = rows @ rows.T
    hashes, label_sets = text_hashes(texts), label_set_hashes(Y)
    real = hashes != EMPTY_HASH
    pair_ok = np.triu(real[:, None] & real[None, :], 1)
    equal = hashes[:, None] == hashes[None, :]
    near = pair_ok & ~equal & (sims >= threshold - COSINE_TOLERANCE) & (sims > 0)
    differ = label_sets[:, None] != label_sets[None, :]
    linked = near | (pair_ok & equal)
    _, component = connected_components(sp.csr_matrix(linked), directed=False)
    involved = linked.any(axis=0) | linked.any(axis=1)
    return (int(near.sum()), int((near & differ).sum()),
            np.where(involved, component, -1))


def _same_partition(a, b):
    """Do two labellings (-1: in none) group the documents alike?"""
    if not ((a >= 0) == (b >= 0)).all():
        return False
    pairs = {(int(x), int(y)) for x, y in zip(a[a >= 0], b[b >= 0], strict=True)}
    return len(pairs) == len({x for x, _ in pairs}) == len({y for _, y in pairs})


def test_near_pairs_within_a_corpus_are_those_of_every_pair(monkeypatch):
    """The kNN index stopped reading features many documents share, so short texts of
    common words missed their near duplicates; the exact self-join, over one
    representative per text, counts every pair, and the groups are those of every
    pair, also past the pair list's cap and across many blocks."""
    rng = np.random.default_rng(5)
    texts, Y = _corpus(rng)
    X = TfidfFeaturizer(min_df=1).fit_transform(texts)
    for threshold, block, listed in ((0.9, 2_000_000, 1_000_000), (0.7, 3000, 50),
                                     (1.0, 500, 10)):
        monkeypatch.setattr(dup, "LEAK_BLOCK_PAIRS", block)
        monkeypatch.setattr(dup, "MAX_LISTED_NEAR_PAIRS", listed)
        n_near, n_conflicting, groups = _brute_force(texts, Y, X, threshold)
        assert n_near > (1000 if threshold < 1 else -1), (threshold, n_near)
        dups = find_duplicates(texts, Y, None, features=X, threshold=threshold)
        summary = dups.summary()
        exact = dups.exact_counts
        assert (summary["n_near_pairs"], summary["n_conflicting_pairs"] - exact[1]) == (
            n_near, n_conflicting), threshold
        assert not summary["near_counts_lower_bound"]
        assert (~dups.exact).sum() <= listed
        assert _same_partition(dups.groups(), groups), threshold
        assert summary["n_duplicate_groups"] == len(np.unique(groups[groups >= 0]))
        assert summary["n_docs_in_duplicate_groups"] == (groups >= 0).sum()
        # one line: the dataclass repr printed every pair, cosine and flag
        assert repr(dups) == (
            f"Duplicates(n_docs={len(texts)}, n_exact_pairs={exact[0]}, "
            f"n_near_pairs={n_near}, n_conflicting_pairs={summary['n_conflicting_pairs']}, "
            f"n_listed_pairs={len(dups.pairs)})")
        # each listed near pair is one, and its conflict flag is its documents'
        i, j = dups.pairs[~dups.exact].T
        rows = l2_normalize(sp.csr_matrix(X)).toarray().astype(np.float64)
        assert ((rows[i] * rows[j]).sum(axis=1) >= threshold - COSINE_TOLERANCE).all()


def test_audit_counts_every_near_pair_of_short_common_word_texts():
    """Among each document's 50 kNN neighbours (the index stops reading features
    thousands of texts share, like 'thank' and 'you') and the recount of saturated
    documents, the audit missed near pairs of short common-word texts (here 13 of
    22,822) and their conflicts."""
    from tagsmith.pipeline.audit import _features

    rng = np.random.default_rng(1)
    texts = short_texts(rng, 5000)
    Y = sp.csr_matrix(rng.random((len(texts), 3)) < 0.4)
    space = LabelSpace.from_uris(["u:0", "u:1", "u:2"])
    options = AuditOptions(scores="knn", featurizer_params=FAST_FEATURES)
    X = _features(texts, None, options)[1]
    n_near, n_conflicting, groups = _brute_force(texts, Y, X, 0.9)
    assert n_near > 20_000
    report = audit_corpus(texts, Y, space, options=options).report["duplicates"]
    assert report["n_near_pairs"] == n_near
    assert (report["n_conflicting_pairs"] - report["n_conflicting_exact_pairs"]
            == n_conflicting)
    assert report["n_duplicate_groups"] == len(np.unique(groups[groups >= 0]))
    assert report["near_counts_lower_bound"] is False


def _copies_and_near_texts(n_copies, n_near):
    """Texts (for their hashes) and features: ``n_copies`` copies of one text of 20
    common features and ``n_near`` texts that add one rare feature of small weight
    each (every pair of them near, cosine above 0.99)."""
    texts = ["base"] * n_copies + [f"base {i}" for i in range(n_near)]
    common = sp.csr_matrix(np.ones((len(texts), 20), np.float32))
    rare = sp.csr_matrix((np.full(n_near, 0.2, np.float32),
                          (np.arange(n_copies, len(texts)), np.arange(n_near))),
                         shape=(len(texts), n_near))
    return texts, sp.hstack([common, rare]).tocsr()


def test_a_big_group_of_copies_is_searched_once():
    """20,000 copies of a text and 2,000 near-identical texts: the copies are one
    representative, so the candidate pairs are those of 2,001 texts (a self-join of
    every document compared 2.4e8), and the counts are still every document pair's."""
    n_copies, n_near = 20_000, 2_000
    texts, X = _copies_and_near_texts(n_copies, n_near)
    labels = np.zeros((len(texts), 2), bool)
    labels[: n_copies // 4, 0] = True  # the copies carry two label sets
    labels[n_copies:, 0] = np.arange(n_near) % 2 == 0  # the near texts alternate
    Y = sp.csr_matrix(labels)
    hashes = text_hashes(texts)
    found = near_pairs(X, hashes, Y)
    reps = [0, *range(n_copies, n_copies + n_near)]
    assert found.n_candidates <= len(reps) * (len(reps) - 1) // 2
    assert found.complete
    # every pair, from the 2,001 distinct texts brute-forced and their multiplicities
    rows = l2_normalize(sp.csr_matrix(X)[reps]).toarray().astype(np.float64)
    near = np.triu(rows @ rows.T >= 0.9 - COSINE_TOLERANCE, 1)
    assert near[0, 1:].all() and near.sum() > 1_000_000
    n_near_texts = int(near[1:, 1:].sum())
    with_copies = n_copies * n_near
    # copies holding label 0 (5,000) conflict with unlabelled near texts, and the
    # unlabelled copies with the labelled near texts
    copies_conflicting = n_copies // 4 * (n_near // 2) + (n_copies - n_copies // 4) * (
        n_near // 2)
    sub = near[1:, 1:]
    parity = np.arange(n_near) % 2
    texts_conflicting = int((sub & (parity[:, None] != parity[None, :])).sum())
    assert found.n_pairs == n_near_texts + with_copies
    assert found.n_conflicting == texts_conflicting + copies_conflicting
    dups = find_duplicates(texts, Y, None, features=X, hashes=hashes)
    summary = dups.summary()
    assert summary["n_duplicate_groups"] == 1
    assert summary["n_docs_in_duplicate_groups"] == len(texts)
    assert len(dups.pairs) <= n_copies + dup.MAX_LISTED_NEAR_PAIRS


def test_past_the_candidate_budget_counts_are_lower_bounds(monkeypatch):
    """Too many candidate pairs (tens of thousands of distinct near-identical texts):
    the search stops, and the summary and the page say its counts are lower bounds."""
    from tagsmith.audit.report import _duplicates_html

    texts, X = _copies_and_near_texts(3, 400)
    Y = sp.csr_matrix(np.ones((len(texts), 1), bool))
    full = find_duplicates(texts, Y, None, features=X).summary()
    monkeypatch.setattr(dup, "LEAK_BLOCK_PAIRS", 5_000)
    monkeypatch.setattr(dup, "MAX_CANDIDATE_PAIRS", 30_000)
    summary = find_duplicates(texts, Y, None, features=X).summary()
    assert not full["near_counts_lower_bound"] and summary["near_counts_lower_bound"]
    assert 0 < summary["n_near_pairs"] < full["n_near_pairs"]
    html = _duplicates_html({**summary, "near_duplicate_threshold": 0.9,
                             "conflict_examples": []})
    assert "at least" in html and "lower bound" in html


def test_near_pairs_print_one_line_of_counts():
    """The dataclass repr printed every listed pair, cosine and link."""
    texts, Y = _corpus(np.random.default_rng(5))
    X = TfidfFeaturizer(min_df=1).fit_transform(texts)
    found = near_pairs(X, text_hashes(texts), Y)
    assert found.n_pairs > 1000
    assert repr(found) == (f"NearPairs(n_pairs={found.n_pairs}, "
                           f"n_conflicting={found.n_conflicting}, n_listed={len(found.pairs)}, "
                           f"n_candidates={found.n_candidates}, complete={found.complete})")


def test_full_width_latin_is_an_exact_duplicate_of_ascii_but_nfkc_is_not_applied():
    # a Chinese or Japanese input method types Latin letters, digits and the space
    # full-width: the same text, counted as different before
    hashes = text_hashes(["Ｆｉｎａｌ\u3000２０２６！", "final 2026!", "Foo", "Ｆｏｏ",
                          "wait…", "wait...", "Brand™", "BrandTM"])
    assert hashes[0] == hashes[1] and hashes[2] == hashes[3]
    # only the width: NFKC's other folds would regroup English corpora
    assert hashes[4] != hashes[5] and hashes[6] != hashes[7]


def test_full_width_signs_are_folded_as_the_latin_block():
    """U+FFE0..FFE6 (full-width cent, pound, not, macron, broken bar, yen, won) are as
    full-width as U+FF01..FF5E, but were left apart: "￥５００" and "¥500" differed."""
    wide, narrow = "\uffe0\uffe1\uffe2\uffe3\uffe4\uffe5\uffe6", "¢£¬¯¦¥₩"
    for w, n in zip(wide, narrow, strict=True):
        hashes = text_hashes([f"price {w}５００", f"price {n}500"])
        assert hashes[0] == hashes[1], hex(ord(w))
    # the width alone: the full-width macron is the macron, not NFKC's space and combining macron
    assert normalized_text("\uffe3") == "\u00af"


def test_the_near_duplicate_search_counts_the_texts_it_has_searched(monkeypatch, caplog,
                                                                   log_every_progress_line):
    """The audit's duplicates step (14-31 s at 85k yso-finna-en documents) said nothing
    while it ran: the self-join counts the distinct texts searched, block by block, to
    all of them, on the same pairs with the bar or without."""
    import logging

    monkeypatch.setattr(dup, "LEAK_BLOCK_PAIRS", 3000)  # many blocks
    texts, Y = _corpus(np.random.default_rng(5))
    X = TfidfFeaturizer(min_df=1).fit_transform(texts)
    hashes = dup.text_hashes(texts)
    n_texts = len(np.unique(hashes[hashes != dup.EMPTY_HASH]))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        quiet = find_duplicates(texts, Y, None, features=X, threshold=0.7)
        assert not caplog.records
        shown = find_duplicates(texts, Y, None, features=X, threshold=0.7, show_progress=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("duplicates:")]
    assert len(lines) > 2, lines
    counts = [int(line.split()[1].split("/")[0].replace(",", "")) for line in lines]
    assert counts == sorted(counts) and counts[0] < n_texts
    assert lines[-1] == f"duplicates: {n_texts:,}/{n_texts:,} texts (100%)"
    np.testing.assert_array_equal(shown.pairs, quiet.pairs)
    assert shown.summary() == quiet.summary()
