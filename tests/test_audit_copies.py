"""Copies of one text that disagree on a label are evidence for the review queue
(issue 5): a label most copies carry but one lacks is a *missing* candidate on that
copy, one a minority carries a *wrong* candidate on each copy carrying it."""
import csv

import numpy as np
import scipy.sparse as sp

import tagsmith.cli as tagsmith_cli
from tagsmith.audit.detect import MISSING, WRONG, LabelIssues, flag_copies
from tagsmith.audit.duplicates import text_hashes
from tagsmith.data.labelspace import LabelSpace
from tagsmith.pipeline.audit import AuditOptions, audit_corpus

from conftest import FAST_FEATURES

tagsmith_cli._register_commands()


def _issues(n_docs, n_labels, rows=()):
    """LabelIssues holding ``rows`` of (doc, label, kind, probability, flagged)."""
    doc, label, kind, probability, flagged = (np.array(c) for c in zip(*rows, strict=True)) \
        if rows else (np.zeros(0),) * 5
    return LabelIssues(doc.astype(np.int32), label.astype(np.int32), kind.astype(np.int8),
                       probability.astype(np.float32), np.full(len(doc), 0.5, np.float32),
                       flagged.astype(bool), np.ones(n_labels, np.int64),
                       np.zeros(n_labels, int), np.zeros(n_labels), np.zeros(n_labels),
                       np.zeros(n_labels), np.zeros(n_labels), np.zeros(n_labels),
                       np.ones(n_docs, np.float32), n_docs, n_labels)


def _found(issues):
    return {(d, c, k): round(float(p), 4) for d, c, k, p, f in zip(
        issues.doc.tolist(), issues.label.tolist(), issues.kind.tolist(),
        issues.probability.tolist(), issues.flagged.tolist(), strict=True) if f}


def test_the_copies_majority_flags_the_copy_that_disagrees():
    """Three copies given label 0, one of them also label 1 (added to one of three),
    one of them without label 2 (removed from one of three): the odd copy's label 1 is
    *wrong*, the lacking copy's label 2 *missing*, each at 1 - (1 - 2/3)(1 - posterior);
    a text whose copies agree, and a lone text, are left as they are."""
    Y = sp.csr_matrix(np.array([[1, 1, 1], [1, 0, 1], [1, 0, 0],    # three copies
                                [0, 1, 0], [0, 1, 0],               # two that agree
                                [1, 0, 0]]))                        # alone
    groups = np.array([0, 0, 0, 1, 1, 2])
    # the scores found label 1 on document 0 a little doubtful (0.1), as stop 51's were
    issues = flag_copies(_issues(6, 3, [(0, 1, WRONG, 0.1, False)]), Y, groups)
    assert _found(issues) == {(0, 1, WRONG): round(1 - (1 / 3) * 0.9, 4),
                              (2, 2, MISSING): round(2 / 3, 4)}
    # best first: the raised candidate before the added one
    assert issues.doc.tolist() == [0, 2]
    assert np.isnan(issues.score[1]) and issues.score[0] == np.float32(0.5)
    assert issues.details["copies"] == {"n_texts": 2, "n_missing": 1, "n_wrong": 1,
                                        "n_ties": 0, "n_added": 1, "n_flagged_before": 0}


def test_a_tie_between_two_copies_is_shown_not_raised():
    """A label given to one of two copies: the copies say one of them is wrong but not
    which (GoEmotions' raters, labelling one comment apart), so the side the scores find
    the more likely error keeps the scores' own probability and is flagged only where
    they flag it; raised to 1/2, such ties took the benchmark's repair slots. A 2-of-3
    majority beside them is still raised."""
    Y = sp.csr_matrix(np.array([[1, 1], [1, 0], [1, 0], [1, 1], [1, 1], [1, 0],
                                [0, 1], [0, 1], [0, 0]]))
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3])
    issues = flag_copies(_issues(9, 2, [(0, 1, WRONG, 0.3, False),    # text 0: wrong likelier
                                        (1, 1, MISSING, 0.1, False),
                                        (2, 1, MISSING, 0.4, True),   # text 1: missing likelier,
                                        (3, 1, WRONG, 0.2, False)]),  # flagged by the scores
                         Y, groups)
    # text 1's flagged side stays flagged at its own 0.4; text 2 (no candidate) is counted
    # a tie and not added; text 3's two copies of three outvote the third at 2/3
    assert _found(issues) == {(2, 1, MISSING): 0.4, (8, 1, MISSING): round(2 / 3, 4)}
    rows = {(d, c, k): (round(float(p), 4), bool(f)) for d, c, k, p, f in zip(
        issues.doc.tolist(), issues.label.tolist(), issues.kind.tolist(),
        issues.probability.tolist(), issues.flagged.tolist(), strict=True)}
    assert rows[(0, 1, WRONG)] == (0.3, False)
    # text 2's tie was added at probability 0, never flagged: a candidate no review queue
    # could show (issues.npz's alone); it is counted, not added
    assert not any(d in (4, 5) for d, _, _ in rows)
    assert issues.details["copies"] == {"n_texts": 4, "n_missing": 1, "n_wrong": 0,
                                        "n_ties": 3, "n_added": 1, "n_flagged_before": 0}


def test_blank_copies_are_nobodys_copies():
    Y = sp.csr_matrix(np.array([[1, 1], [1, 0], [1, 0]]))
    issues = flag_copies(_issues(3, 2), Y, np.array([0, 0, 0]), np.array([True] * 3))
    assert len(issues) == 0 and issues.details["copies"]["n_texts"] == 0


def test_the_audit_flags_labels_planted_on_copies_and_says_why(tmp_path):
    """The walk of issue 5 in small: labels planted on copies of texts (one removed from
    one of three copies, one added to one of two) whose scores alone flagged none; the
    majority's comes in the review queue, its ``copies`` cell saying how many copies
    carry it; the tie (one of two) is left at the scores' own probability, not
    raised into the queue."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    texts, rows = [], []
    for i in range(600):
        c = i % 3
        texts.append(" ".join([f"topic{c}", *rng.choice(words, 6)]))
        rows.append([c])
    # copies: text 0 three times (label 0), text 1 twice (label 1)
    texts += [texts[0], texts[0], texts[1]]
    rows += [[], [0], [1, 0]]   # label 0 removed from one copy; label 0 added to one of two
    Y = sp.lil_matrix((len(texts), 3), dtype=np.int8)
    for d, labels in enumerate(rows):
        for c in labels:
            Y[d, c] = 1
    space = LabelSpace.from_uris(["u:0", "u:1", "u:2"])
    # off by default (the audit benchmarks count their corpora's own disagreeing copies as
    # right labels): the copies column only, nothing raised, no copies counts
    plain = audit_corpus(texts, sp.csr_matrix(Y), space,
                         options=AuditOptions(scores="knn", featurizer_params=FAST_FEATURES))
    assert "copies" not in plain.report["noise"]["method"]
    tie = np.flatnonzero((plain.issues.doc == 602) & (plain.issues.label == 0)
                         & (plain.issues.kind == WRONG))
    assert not len(tie) or not plain.issues.flagged[tie[0]]
    assert "copies_majority" not in plain.report["meta"]["options"]
    result = audit_corpus(texts, sp.csr_matrix(Y), space,
                          options=AuditOptions(scores="knn", featurizer_params=FAST_FEATURES,
                                               copies_majority=True))
    assert result.report["meta"]["options"]["copies_majority"] is True

    def probability(audit, doc, kind):  # the pair's probability, 0 where no candidate
        at = np.flatnonzero((audit.issues.doc == doc) & (audit.issues.label == 0)
                            & (audit.issues.kind == kind))
        return float(audit.issues.probability[at[0]]) if len(at) else 0.0

    # the rule raises the copies' majority: 2 of 3 copies carry label 0, so the third's
    # missing row is at 1 - (1 - 2/3)(1 - its scores' probability), above that alone
    off, on = probability(plain, 600, MISSING), probability(result, 600, MISSING)
    assert on >= 1 - (1 - 2 / 3) * (1 - off) - 1e-6 and on > off
    by_pair = {(r["doc"], r["label_uri"], r["kind"]): r for r in result.review}
    assert by_pair[(600, "u:0", "missing")]["copies"] == "2 of 3 copies carry it"
    assert (602, "u:0", "wrong") not in by_pair
    issues = result.issues
    # the tie is left as the scores left it: the same candidate (or none) as with the rule off
    tie = np.flatnonzero((issues.doc == 602) & (issues.label == 0) & (issues.kind == WRONG))
    assert not len(tie) or not issues.flagged[tie[0]]
    assert probability(result, 602, WRONG) == probability(plain, 602, WRONG)
    assert {k: v for k, v in result.report["noise"]["method"]["copies"].items()
            if k in ("n_texts", "n_missing", "n_wrong", "n_ties")} == {
        "n_texts": 2, "n_missing": 1, "n_wrong": 0, "n_ties": 1}
    # and the CSV says so, in its own column
    from tagsmith.audit.review import write_review

    path = write_review(result.review, tmp_path / "review.csv")
    written = {(r["doc"], r["kind"]): r for r in csv.DictReader(path.open(encoding="utf-8"))}
    assert written[("600", "missing")]["copies"] == "2 of 3 copies carry it"
    assert text_hashes([texts[600]])[0] == text_hashes([texts[0]])[0]
    # the page says it too (it said nothing of noise.method.copies: rows on copies at the
    # top of its queue, and no word of why), and nothing where the rule is off
    from tagsmith.audit.report import render_html

    page = render_html(result.report, plots=False)
    assert ("Copies of one text disagree on 2 labels: 1 missing and 0 wrong rows flagged by "
            "the copies' majority (--copies-majority") in page
    assert "1 tie (as many copies each side: one is wrong, not which)" in page
    assert "Copies of one text disagree" not in render_html(plain.report, plots=False)


def test_the_command_says_what_the_copies_flagged(tmp_path):
    """``tagsmith audit`` said "N with conflicting labels" of the duplicates and nothing
    of which copy the review queue should change: it now counts the rows the copies
    flagged and says by what rule, the ties (one of two copies) apart, as not raised."""
    from conftest import run_quiet

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    lines = [" ".join([f"topic{i % 3}", *rng.choice(words, 6)]) + f"\t<u:{i % 3}>"
             for i in range(300)]
    text0 = lines[0].split("\t")[0]
    lines += [f"{text0}\t", f"{text0}\t<u:0>"]   # label 0 removed from one of three copies
    # and label 0 added to one of two copies: a tie, said apart and not raised
    lines.append(lines[1].split("\t")[0] + "\t<u:1> <u:0>")
    corpus = tmp_path / "train.tsv"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("".join(f"<u:{c}>\tl{c}\n" for c in range(3)), encoding="utf-8")
    out = run_quiet("audit", corpus, "--vocab", vocab, "-o", tmp_path / "plain", "--scores",
                    "knn", "--no-plots")
    assert not any(x.startswith("copies:") for x in out.splitlines())  # off by default
    out = run_quiet("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit", "--scores",
                    "knn", "--no-plots", "--copies-majority")
    line = next(x for x in out.splitlines() if x.startswith("copies:"))
    assert line.startswith("copies: 1 missing and 0 wrong flagged where copies of a text "
                           "disagree (2 labels of a text)")
    assert "1 tie (as many copies each side) left to the scores" in line
    rows = list(csv.DictReader((tmp_path / "audit" / "review.csv").open(encoding="utf-8")))
    assert [r["copies"] for r in rows if r["doc"] == "300"] == ["2 of 3 copies carry it"]


def test_the_command_says_ties_alone_as_the_page_does(tmp_path):
    """The copies rule found only a tie (one of two copies given a label): the page said
    it, the command printed no copies line at all (it did only when a majority row was
    raised)."""
    import json

    from conftest import run_quiet

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    lines = [" ".join([f"topic{i % 3}", *rng.choice(words, 6)]) + f"\t<u:{i % 3}>"
             for i in range(300)]
    lines.append(lines[1].split("\t")[0] + "\t<u:1> <u:0>")  # label 0 on 1 of 2 copies
    corpus = tmp_path / "train.tsv"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("".join(f"<u:{c}>\tl{c}\n" for c in range(3)), encoding="utf-8")
    out = run_quiet("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit", "--scores",
                    "knn", "--no-plots", "--copies-majority")
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    copies = report["noise"]["method"]["copies"]
    assert (copies["n_missing"], copies["n_wrong"], copies["n_ties"]) == (0, 0, 1)
    line = next(x for x in out.splitlines() if x.startswith("copies:"))
    assert line.startswith("copies: 0 missing and 0 wrong flagged")
    assert "1 tie (as many copies each side) left to the scores" in line
    page = (tmp_path / "audit" / "report.html").read_text(encoding="utf-8")
    assert "1 tie (as many copies each side: one is wrong, not which)" in page


def test_many_texts_of_copies_and_a_text_of_many_copies_take_linear_time():
    """copies_disagreeing masked every copy for each text (time in the square of the
    copies: 100,000 texts of two), and the queue's copies cell counted a text's copies
    again for each of its rows (a text of 20,000 copies, as many rows)."""
    import time

    from tagsmith.audit.detect import copies_disagreeing
    from tagsmith.audit.review import _copies_cells

    n = 200_000
    Y = sp.csr_matrix((np.ones(n // 2), (np.arange(0, n, 2), np.zeros(n // 2, int))),
                      shape=(n, 2))
    started = time.perf_counter()
    found = copies_disagreeing(Y, np.arange(n) // 2)
    assert len(found) == n and found[(0, 0)] == (1, 2)
    many = 20_000
    hashes = np.zeros(many, np.uint64) + np.uint64(7)
    Y = sp.csr_matrix(np.tile([[1, 0]], (many, 1)))
    Y[0, 0] = 0
    cells = _copies_cells(list(range(many)), [0] * many, [""] * many, sp.csr_matrix(Y), hashes)
    assert cells[0] == "19,999 of 20,000 copies carry it"
    assert time.perf_counter() - started < 60  # over 300 s before


def test_the_review_sample_says_how_many_copies_carry_each_label():
    """sample.csv's rows (``--review-sample``) left the copies cell empty where the
    queue's said "2 of 3 copies carry it": the sample's reviewer, deciding every pair of
    a drawn document, did not see that its text's other copies carry the label."""
    from tagsmith.audit.sample import draw_review_sample

    texts = ["same text", "same text", "same text", "other text"]
    Y = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [1, 0]]))
    space = LabelSpace.from_uris(["u:0", "u:1"])
    rows, _ = draw_review_sample(_issues(4, 2), texts, Y, space, 4, seed=0)
    cells = {(r["doc"], r["label_uri"]): r["copies"] for r in rows}
    assert cells[(0, "u:0")] == "2 of 3 copies carry it"
    assert cells[(2, "u:1")] == "1 of 3 copies carry it"
    assert cells[(3, "u:0")] == ""
