"""Corpora coded at the most specific level (ICD-10 style: a document given E11.9,
never E11 beside it): a broader code given where a narrower one belongs is one move,
its wrong and missing rows side by side, applied by accepting both."""

import csv
import json
import random

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.audit.detect import MISSING, WRONG, LabelIssues, pair_broader
from tagsmith.data.labelspace import Label, LabelSpace

from conftest import accept_every_row, apply_review

tagsmith_cli._register_commands()


def invoke(*args):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])


def _coded(tmp_path, n_docs=480, n_on_parent=40, beside=0, seed=5):
    """A CSV vocabulary of 4 categories x 3 subcodes (``C1`` > ``C1.0`` ...) under one
    chapter, and a CSV corpus whose documents each carry 2 or 3 subcodes of different
    categories, their texts drawn from per-subcode word pools beside generic words.
    The first ``n_on_parent`` documents are given their first code's category in its
    place; the next ``beside`` are given it beside the code (a thesaurus's habit).
    Returns the paths and ``{id: (category, subcode)}`` of the documents on a parent."""
    rng = random.Random(seed)

    def word():
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7))

    rows, leaves, parent_of = [("CH", "Synthetic chapter", "")], [], {}
    for c in range(1, 5):
        rows.append((f"C{c}", f"Synthetic category {c}", "CH"))
        for s in range(3):
            code = f"C{c}.{s}"
            rows.append((code, f"Synthetic category {c} subtype {s}", f"C{c}"))
            leaves.append(code)
            parent_of[code] = f"C{c}"
    vocab = tmp_path / "codes.csv"
    with open(vocab, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["uri", "label_en", "broader"])
        out.writerows(rows)
    pools = {leaf: [word() for _ in range(6)] for leaf in leaves}
    generic = [word() for _ in range(40)]
    on_parent = {}
    with open(tmp_path / "coded.csv", "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "text", "labels"])
        for i in range(n_docs):
            categories = rng.sample(range(1, 5), rng.choice([2, 3]))
            codes = [f"C{c}.{rng.randrange(3)}" for c in categories]
            words = [w for code in codes for w in rng.choices(pools[code], k=4)]
            words += rng.choices(generic, k=5)
            rng.shuffle(words)
            given = list(codes)
            if i < n_on_parent:
                given[0] = parent_of[codes[0]]
                on_parent[f"D{i}"] = (given[0], codes[0])
            elif i < n_on_parent + beside:
                given.append(parent_of[codes[0]])
            out.writerow([f"D{i}", " ".join(words), "|".join(given)])
    return tmp_path / "coded.csv", vocab, on_parent


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    base = tmp_path_factory.mktemp("coded")
    corpus, vocab, on_parent = _coded(base)
    result = invoke("audit", corpus, "--vocab", vocab, "-o", base / "audit", "--no-html")
    assert result.exit_code == 0, result.output
    with open(base / "audit" / "review.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return base, corpus, vocab, on_parent, rows, result.output


def test_a_parent_code_for_a_subcode_is_one_move_whose_rows_sit_together(audited):
    """A document coded E11 whose text says E11.9 showed as a lone row adding E11.9
    (accepted, the document held both codes, as no document of the corpus does); the
    E11 it stood in for was in no row. Now the queue removes the parent code and adds
    the subcode in two adjacent rows naming each other."""
    _, _, _, on_parent, rows, output = audited
    by_doc: dict[str, list[dict]] = {}
    for row in rows:
        by_doc.setdefault(row["doc_id"], []).append(row)
    found = [doc for doc in on_parent if doc in by_doc]
    assert len(found) >= len(on_parent) // 4, (len(found), output)
    for doc in found:
        parent, code = on_parent[doc]
        kinds = [(r["kind"], r["label_uri"]) for r in by_doc[doc]]
        at = kinds.index(("missing", code))
        assert at > 0 and kinds[at - 1] == ("wrong", parent), (doc, kinds)
        wrong, missing = by_doc[doc][at - 1], by_doc[doc][at]
        assert int(missing["rank"]) == int(wrong["rank"]) + 1
        assert float(wrong["probability"]) >= float(missing["probability"])
        assert f"#{missing['rank']} missing" in wrong["related_rows"]
        assert f"#{wrong['rank']} wrong" in missing["related_rows"]
    assert "a broader label given for a narrower one missing" in output
    assert f"on a label that has narrower labels (not a leaf): {len(on_parent)} documents" \
        in output


def test_accepting_both_rows_replaces_the_parent_code(audited, tmp_path):
    """Every row accepted: each document of a flagged move holds the subcode alone,
    never it beside its parent."""
    base, corpus, vocab, on_parent, rows, _ = audited
    review = accept_every_row(rows, tmp_path / "review.csv")
    labels = {doc: cell.split("|") for doc, cell in
              apply_review(corpus, review, vocab, tmp_path / "fixed.csv").items()}
    moved = [doc for doc in on_parent if doc in {r["doc_id"] for r in rows}]
    assert moved
    for doc in moved:
        parent, code = on_parent[doc]
        assert code in labels[doc] and parent not in labels[doc], (doc, labels[doc])


def test_the_report_counts_the_moves(audited, tmp_path):
    base, corpus, vocab, *_ = audited
    report = json.loads((base / "audit" / "report.json").read_text(encoding="utf-8"))
    moves = report["noise"]["method"]["broader_moves"]
    assert moves["n_moves"] > 0 and moves["n_wrong_added"] > 0
    assert moves["n_docs_broader_beside"] == 0
    # "flagged 30 wrong and 30 missing (30 of them a broader label ...)" called 30 moves,
    # 60 rows, "30 of them": the moves are counted as moves
    output = audited[-1]
    n = moves["n_moves"]
    words = ("1 move among them, a broader" if n == 1
             else f"{n:,} moves among them, each a broader")
    assert (f"missing ({words} label given for a narrower one missing") in output, output
    assert "of them a broader label" not in output
    result = invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit", "--no-plots")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "audit" / "report.html").read_text(encoding="utf-8")
    assert "a broader label given where a narrower one is flagged missing is one move" in page


def test_the_documents_on_a_parent_code_are_listed_beside_the_count(audited):
    """The audit counted the documents given a code that has subcodes (41 on a clinical
    corpus) and named only the codes: 36 of the 41 had no review row, and a coder could
    not find them. report.json now lists the first of them as the review queue names
    documents, the page shows them, and the command says where they are."""
    from tagsmith.audit.report import render_html

    base, _, _, on_parent, rows, output = audited
    report = json.loads((base / "audit" / "report.json").read_text(encoding="utf-8"))
    labels = report["labels"]
    # the keys of earlier reports are kept
    assert labels["n_docs_on_labels_with_narrower"] == len(on_parent) == 40
    assert labels["n_with_narrower_in_use"] == len(labels["with_narrower_in_use"]) > 0
    docs = labels["docs_on_labels_with_narrower"]
    assert len(docs) == 20  # capped as the other example lists, the count the total
    assert [d["doc_id"] for d in docs] == [f"D{i}" for i in range(20)]
    for d in docs:
        assert d["doc"] == int(d["doc_id"][1:])
        assert d["line"] == d["doc"] + 2  # the CSV's header is line 1
        assert [x["uri"] for x in d["labels"]] == [on_parent[d["doc_id"]][0]]
    # named as the review queue names a document
    listed = {d["doc_id"]: d for d in docs}
    row = next(r for r in rows if r["doc_id"] in listed)
    assert str(listed[row["doc_id"]]["line"]) == row["line"]
    assert str(listed[row["doc_id"]]["doc"]) == row["doc"]
    assert ("report.json's labels section lists the labels, with_narrower_in_use, and the "
            "first 20 documents, docs_on_labels_with_narrower;") in output
    assert "report.html" not in output.split("not a leaf")[1].splitlines()[0]  # --no-html
    page = render_html(report, plots=False)
    section = page.split("Labels in use that have narrower labels")[1].split("<h2>")[0]
    assert "Documents on them (first)" in section
    assert "<td>D0</td>" in section and "<td>D19</td>" in section
    assert "<td>D20</td>" not in section
    assert "… and 20 more documents." in section


def test_every_document_on_a_parent_code_is_in_a_table_with_its_review_rows(audited):
    """report.json listed only the first 20 of the 40 documents given a code that has
    subcodes, and none of them said whether the review queue had a row of it (most have
    none: the scores flag few). docs_on_parent_labels.csv now lists every one, a row
    per such code with its subcodes and the document's review rows, and report.json's
    and the page's lists say the review rows too."""
    from tagsmith.audit.report import render_html

    base, _, _, on_parent, rows, output = audited
    with open(base / "audit" / "docs_on_parent_labels.csv", newline="",
              encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["doc", "line", "doc_id", "label_uri", "label_name",
                              "narrower_uris", "review_rows"]
    assert [r["doc_id"] for r in table] == [f"D{i}" for i in range(40)]  # all, in order
    ranks = {}
    for row in rows:
        ranks.setdefault(row["doc_id"], []).append(row["rank"])
    for r in table:
        code, subcode = on_parent[r["doc_id"]]
        assert r["label_uri"] == code and r["label_name"] == f"Synthetic category {code[1:]}"
        assert r["narrower_uris"].split("; ") == [f"{code}.{s}" for s in range(3)]
        assert subcode in r["narrower_uris"].split("; ")
        assert r["line"] == str(int(r["doc"]) + 2) and r["doc"] == r["doc_id"][1:]
        assert r["review_rows"] == "; ".join(ranks.get(r["doc_id"], []))
    # some are in the queue and some are not: the column tells them apart
    assert any(r["review_rows"] for r in table) and not all(r["review_rows"] for r in table)
    report = json.loads((base / "audit" / "report.json").read_text(encoding="utf-8"))
    docs = report["labels"]["docs_on_labels_with_narrower"]
    assert [[str(rank) for rank in d["review_rows"]] for d in docs] == [
        ranks.get(f"D{i}", []) for i in range(20)]
    assert ("the review queue names only those the scores flagged; "
            f"{base / 'audit' / 'docs_on_parent_labels.csv'} lists all 40, each with its "
            "review rows)") in " ".join(output.split())
    page = render_html(report, plots=False)
    section = page.split("Documents on them (first)")[1].split("</table>")[0]
    assert "<th>review rows</th>" in section and "<td>none</td>" in section


@pytest.mark.parametrize("n_moves, words", [
    (1, " (1 move among them, a broader label given for a narrower one missing: "),
    (2, " (2 moves among them, each a broader label given for a narrower one missing: "),
    (1200, " (1,200 moves among them, each a broader label given for a narrower one ")])
def test_the_moves_line_agrees_with_one_move(n_moves, words):
    """audit's line read "1 move among them, each a broader label ..." of one move."""
    from tagsmith.cli.commands import _broader_moves_words

    said = _broader_moves_words(n_moves)
    assert said.startswith(words), said
    assert said.endswith("; accept both to replace it)")


def test_max_review_does_not_cut_a_move_in_two(audited, tmp_path):
    """A --max-review ending between a move's wrong row and its missing one leaves
    both out, as a single-label collection's move is: a reviewer given the "remove
    E11" half alone took the code off and never saw the subcode to add."""
    base, corpus, vocab, _, rows, _ = audited
    cut = next(int(row["rank"]) for row in rows if row["kind"] == "wrong"
               and int(row["rank"]) > 1 and any(f"#{int(row['rank']) + 1} missing" in entry
                       for entry in row["related_rows"].split("; ")))
    result = invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit", "--no-html",
                    "--max-review", cut)
    assert result.exit_code == 0, result.output
    with open(tmp_path / "audit" / "review.csv", newline="", encoding="utf-8") as f:
        kept = list(csv.DictReader(f))
    assert [r["rank"] for r in kept] == [str(rank) for rank in range(1, cut)]


def test_a_corpus_giving_broad_labels_beside_narrow_ones_is_not_paired(tmp_path):
    """A thesaurus's documents may carry a broad concept beside a narrow one: where
    over 1% of the documents do, a missing narrower label says nothing of its given
    broader one, and nothing is paired nor said of labels that are not leaves."""
    corpus, vocab, _ = _coded(tmp_path, n_docs=240, n_on_parent=20, beside=12)
    result = invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit", "--no-html")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    assert report["noise"]["method"]["broader_moves"] is False
    assert "one move" not in result.output
    assert "not a leaf" not in result.output
    # the documents on a broad concept are no error here: counted, not listed
    assert report["labels"]["n_docs_on_labels_with_narrower"] > 0
    assert report["labels"]["docs_on_labels_with_narrower"] == []


def _issues(doc, label, kind, probability, flagged, n_docs, n_labels):
    return LabelIssues(
        doc=np.array(doc), label=np.array(label), kind=np.array(kind, np.int8),
        probability=np.array(probability, np.float32),
        score=np.zeros(len(doc), np.float32), flagged=np.array(flagged),
        n_given=np.ones(n_labels, int), band=np.zeros(n_labels, int),
        threshold=np.zeros(n_labels), wrong_rate=np.zeros(n_labels),
        missing_rate=np.zeros(n_labels), est_wrong=np.zeros(n_labels),
        est_missing=np.zeros(n_labels), doc_quality=np.ones(n_docs, np.float32),
        n_docs=n_docs, n_labels=n_labels)


def test_pairing_follows_the_hierarchy_both_ways():
    """Labels: E (chapter) > E11 > E11.9, E11.65; I10. A flagged missing E11.9 pairs
    with the given ancestor E11 (not with I10), which is added as a candidate of no
    score where the scores found it right; a flagged wrong E11 pairs with its best
    missing descendant, or with none where none is a candidate (unpaired); a wrong
    leaf pairs with nothing."""
    space = LabelSpace([Label("E"), Label("E11", broader=["E"]),
                        Label("E11.9", broader=["E11"]), Label("E11.65", broader=["E11"]),
                        Label("I10")])
    Y = sp.csr_matrix(np.array([[0, 1, 0, 0, 1],    # E11 for E11.9: missing flagged
                                [0, 1, 0, 0, 1],    # E11 flagged wrong
                                [0, 0, 0, 1, 1],    # I10 flagged wrong (a leaf)
                                [0, 1, 0, 0, 0],    # E11, not a candidate
                                [0, 1, 0, 0, 0]]))  # E11 flagged wrong, nothing missing
    issues = _issues(
        doc=[0, 1, 2, 3, 4, 0, 1, 1, 0],
        label=[2, 1, 4, 2, 1, 4, 3, 2, 1],
        kind=[MISSING, WRONG, WRONG, MISSING, WRONG, WRONG, MISSING, MISSING, WRONG],
        probability=[0.9, 0.8, 0.7, 0.6, 0.5, 0.05, 0.04, 0.03, 0.02],
        flagged=[True, True, True, True, True, False, False, False, False],
        n_docs=5, n_labels=5)
    paired = pair_broader(issues, Y, space)
    rows = list(zip(paired.doc.tolist(), paired.label.tolist(), paired.kind.tolist(),
                    paired.flagged.tolist(), strict=True))
    flagged = [row[:3] for row in rows if row[3]]
    assert flagged == [(0, 1, WRONG), (0, 2, MISSING), (1, 1, WRONG), (1, 3, MISSING),
                       (2, 4, WRONG), (3, 1, WRONG), (3, 2, MISSING), (4, 1, WRONG)]
    assert len(paired) == len(issues) + 1
    assert paired.probability[0] == pytest.approx(0.9)
    assert paired.probability[3] == pytest.approx(0.04)  # its own probability
    assert paired.probability[5] == pytest.approx(0.6)   # the added one: its partner's
    assert np.isnan(paired.score[5]) and not np.isnan(paired.score[[0, 1, 2, 3, 4, 6]]).any()
    assert paired.details["broader_moves"] == {
        "n_wrong_added": 2, "n_missing_added": 1, "n_moves": 3, "n_unpaired": 1,
        "n_docs_broader_beside": 0}


def test_a_move_counts_once_in_the_documents_quality():
    """doc_quality, the probability that all of a document's labels are right,
    multiplied 1 - P(E11 wrong) by 1 - P(E11.9 missing): one move seen from two sides
    counted twice (0.7 x 0.4 = 0.28 where the code is right at 0.4 at worst). It keeps
    the smaller side, times the document's other labels'; a given E11 the scores found
    right (added to the move) changes nothing; a document with no move keeps its own."""
    import dataclasses

    space = LabelSpace([Label("E"), Label("E11", broader=["E"]),
                        Label("E11.9", broader=["E11"]), Label("I10")])
    Y = sp.csr_matrix(np.array([[0, 1, 0, 1],     # E11 for E11.9, I10
                                [0, 0, 1, 1],     # no move
                                [0, 1, 0, 1]]))   # E11 for E11.9, E11 no candidate
    issues = _issues(
        doc=[0, 0, 0, 1, 2], label=[2, 1, 3, 3, 2],
        kind=[MISSING, WRONG, WRONG, WRONG, MISSING],
        probability=[0.6, 0.3, 0.1, 0.2, 0.6],
        flagged=[True, False, False, False, True], n_docs=3, n_labels=4)
    issues = dataclasses.replace(issues, doc_quality=np.array(
        [0.4 * 0.7 * 0.9, 0.8, 0.4], np.float32))
    paired = pair_broader(issues, Y, space)
    assert paired.details["broader_moves"]["n_moves"] == 2
    np.testing.assert_allclose(paired.doc_quality, [0.4 * 0.9, 0.8, 0.4], rtol=1e-6)


def test_no_hierarchy_or_a_single_label_corpus_is_left_as_it_was():
    flat = LabelSpace.from_uris(["a", "b"])
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    issues = _issues([0], [1], [MISSING], [0.9], [True], 2, 2)
    assert pair_broader(issues, Y, flat).details["broader_moves"] is False
    tree = LabelSpace([Label("a"), Label("b", broader=["a"])])
    single = _issues([0], [1], [MISSING], [0.9], [True], 2, 2)
    single.details["single_label"] = {"n_wrong_added": 0}
    paired = pair_broader(single, Y, tree)
    assert paired.details["broader_moves"] is False
    assert paired.flagged.tolist() == [True]
    # one label a document or none (optional categories): never giving a label beside
    # a broader one says nothing of how the corpus is coded
    optional = sp.csr_matrix(np.array([[1, 0], [0, 0]]))
    assert pair_broader(issues, optional, tree).details["broader_moves"] is False


def test_max_review_cuts_a_coded_corpus_only_inside_a_move():
    """In a corpus coded at the most specific level a document has rows that are no
    move: two codes flagged missing, neither under a code it is given. --max-review 1
    there kept both rows, "raised to keep its first move whole", and a limit ending
    between them dropped the first, "less the half of a move": any two rows of one
    document were taken for a move. Now only a broader label and the narrower one
    after it are kept or left out together."""
    from tagsmith.audit.review import review_rows

    space = LabelSpace([Label("I48"), Label("I48.0", broader=["I48"]),
                        Label("I48.91", broader=["I48"]), Label("I10"), Label("J45")])
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0, 1],    # I48 given where I48.91 belongs
                                [0, 0, 0, 1, 1],    # two codes missing, no move
                                [0, 1, 0, 1, 0]]))
    issues = _issues(doc=[1, 1, 0, 2], label=[1, 2, 2, 3],
                     kind=[MISSING, MISSING, MISSING, WRONG],
                     probability=[0.95, 0.9, 0.8, 0.7], flagged=[True] * 4,
                     n_docs=3, n_labels=5)
    paired = pair_broader(issues, Y, space)
    assert paired.details["broader_moves"]["n_moves"] == 1
    texts = ["af", "hypertension asthma", "af hypertension"]

    def queue(limit):
        rows = review_rows(paired, texts, Y, space, limit=limit)
        return [(row["doc"], row["kind"], row["label_uri"]) for row in rows]

    assert queue(1) == [(1, "missing", "I48.0")]
    assert queue(2) == [(1, "missing", "I48.0"), (1, "missing", "I48.91")]
    # a limit between a move's rows still leaves both out
    assert queue(3) == queue(2)
    assert queue(4) == queue(2) + [(0, "wrong", "I48"), (0, "missing", "I48.91")]


def test_max_review_keeps_the_queue_at_most_one_row_over():
    """A code given with two of its ancestors (E and E11 given, E11.9 missing) is a
    move of three rows, which --max-review 1 kept whole as the first move: two rows
    over the limit. A first move that would put the queue more than one row over is
    now left out whole, as a move the limit cuts is, and the queue is the next move
    that fits; one row over, it is kept whole as before."""
    from tagsmith.audit.review import review_rows

    space = LabelSpace([Label("E"), Label("E11", broader=["E"]),
                        Label("E11.9", broader=["E11"]), Label("E11.65", broader=["E11"]),
                        Label("I10"), Label("J45"), Label("I48"),
                        Label("I48.91", broader=["I48"])])
    Y = sp.csr_matrix(np.array([[1, 1, 0, 0, 1, 0, 0, 0],     # E and E11 for E11.9
                                [0, 0, 0, 0, 0, 1, 1, 0]]     # I48 for I48.91
                               + [[0, 0, 0, 1, 1, 0, 0, 0]] * 118))
    issues = _issues(doc=[0, 1, 2], label=[2, 7, 5], kind=[MISSING] * 3,
                     probability=[0.95, 0.9, 0.8], flagged=[True] * 3,
                     n_docs=120, n_labels=8)
    paired = pair_broader(issues, Y, space)
    assert paired.details["broader_moves"]["n_moves"] == 2
    texts = ["diabetes"] * 120

    def queue(limit):
        rows = review_rows(paired, texts, Y, space, limit=limit)
        return [(row["doc"], row["kind"], row["label_uri"]) for row in rows]

    first = [(0, "wrong", "E"), (0, "wrong", "E11"), (0, "missing", "E11.9")]
    second = [(1, "wrong", "I48"), (1, "missing", "I48.91")]
    assert queue(None) == first + second + [(2, "missing", "J45")]
    assert queue(1) == second  # was the three rows of the first move
    assert queue(2) == first  # one row over: kept whole
    assert queue(3) == first
    assert queue(4) == first  # the second move left out whole


def test_a_docs_on_parent_labels_table_is_replaced_or_removed_only_if_an_audit_wrote_it(
        audited, tmp_path):
    """docs_on_parent_labels.csv of an earlier audit (a coded corpus) is removed by an
    audit that lists no such documents (a thesaurus corpus), as it would disagree with
    the new report.json; a file of the user's own of that name is left alone there,
    and refused, not overwritten, by an audit that writes the table."""
    import shutil

    base = audited[0]
    corpus, vocab, _ = _coded(tmp_path, n_docs=240, n_on_parent=20, beside=12)
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    shutil.copy(base / "audit" / "docs_on_parent_labels.csv", earlier)
    result = invoke("audit", corpus, "--vocab", vocab, "-o", earlier, "--no-html")
    assert result.exit_code == 0, result.output
    assert not (earlier / "docs_on_parent_labels.csv").exists()
    own = tmp_path / "own"
    own.mkdir()
    (own / "docs_on_parent_labels.csv").write_text("my,notes\n", encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", vocab, "-o", own, "--no-html")
    assert result.exit_code == 0, result.output
    assert (own / "docs_on_parent_labels.csv").read_text(encoding="utf-8") == "my,notes\n"
    (tmp_path / "coded").mkdir()
    coded, coded_vocab, _ = _coded(tmp_path / "coded", n_docs=240, n_on_parent=20)
    result = invoke("audit", coded, "--vocab", coded_vocab, "-o", own, "--no-html")
    assert result.exit_code == 3, result.output
    assert "docs_on_parent_labels.csv: is a file this audit did not write" in " ".join(
        result.output.split())
    assert (own / "docs_on_parent_labels.csv").read_text(encoding="utf-8") == "my,notes\n"


def test_docs_on_parent_labels_splits_back_a_narrower_uri_holding_the_separator(tmp_path):
    """narrower_uris joined the URIs with '; ' bare: a category path's step holding it
    ('Toys; Games > Puzzles') made one URI read as two. It is quoted, as the review's
    list cells are, and the cell splits back into the URIs it lists."""
    from tagsmith.audit.health import docs_on_parent_labels
    from tagsmith.audit.review import list_cell_entries
    from tagsmith.pipeline.audit import AuditResult

    space = LabelSpace([Label("Toys"), Label("Toys > Puzzles; Games", broader=["Toys"]),
                        Label("Toys > Dolls", broader=["Toys"])])
    Y = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]]))
    docs = docs_on_parent_labels(Y, space, doc_ids=["A", "B"], review_rows={0: [3]})
    result = AuditResult(None, {"meta": {"lang": "en"}}, [], None, space,
                         docs_on_parents=docs)
    path = result._write_docs_on_parents(tmp_path / "docs_on_parent_labels.csv")
    with open(path, newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["doc_id"], row["label_uri"], row["review_rows"]) == ("A", "Toys", "3")
    assert list_cell_entries(row["narrower_uris"], "related_rows") == [
        "Toys > Puzzles; Games", "Toys > Dolls"]


def test_list_cell_entries_names_narrower_uris_among_the_columns_it_reads():
    """list_cell_entries reads narrower_uris (the broader table's), but its error for an
    unknown column listed only the review's list columns."""
    from tagsmith.audit.review import list_cell_entries
    from tagsmith.exceptions import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="narrower_uris"):
        list_cell_entries("a | b", "label_uri")
    assert list_cell_entries("a; b", "narrower_uris") == ["a", "b"]


@pytest.mark.parametrize("name", ["lines", "doc_ids"])
@pytest.mark.parametrize("length", [1, 3])
def test_docs_on_parent_labels_refuses_lines_or_ids_not_one_per_document(name, length):
    """lines and doc_ids of another length than Y's rows were taken: a longer list named
    each document by another's line or id, a shorter one failed with an IndexError (or
    not at all, where the documents on parent labels came first). Refused, naming it."""
    from tagsmith.audit.health import docs_on_parent_labels
    from tagsmith.exceptions import InvalidParameterError

    space = LabelSpace([Label("E"), Label("E11", broader=["E"])])
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    values = list(range(length)) if name == "lines" else [f"d{i}" for i in range(length)]
    with pytest.raises(InvalidParameterError,
                       match=rf"'{name}' must be one per row of Y \(2\) or None, "
                             rf"got '{length} of them'"):
        docs_on_parent_labels(Y, space, **{name: values})
