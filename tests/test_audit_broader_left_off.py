"""A corpus that codes a broader label beside its narrower ones (Reuters' desk gives
grain beside wheat in 280 of 283 documents): the few documents given the narrower
label without the broader one are listed, with the pair's share, in report.json, on
the page, in docs_without_broader.csv and in the command's output."""

import csv
import json
import random

import numpy as np
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.audit.health import MIN_BROADER_CODED_SHARE, broader_left_off
from tagsmith.data.labelspace import Label, LabelSpace

tagsmith_cli._register_commands()


def invoke(*args):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])


def _desk(tmp_path, seed=3):
    """A CSV vocabulary (grain > wheat, corn, rye; oilseed > soybean; money-fx > dlr)
    and a JSONL corpus of 240 documents: 60 on wheat, all but 3 beside grain; 40 on
    corn, all but 1; rye twice, once without grain (too few to read a habit from);
    30 on soybean, half beside oilseed (no habit); 110 on other topics. Returns the
    paths and the ids of the documents left without grain."""
    rng = random.Random(seed)

    def word():
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))

    topics = ["grain", "wheat", "corn", "rye", "oilseed", "soybean", "money-fx", "dlr",
              "ship", "trade"]
    parent = {"wheat": "grain", "corn": "grain", "rye": "grain", "soybean": "oilseed",
              "dlr": "money-fx"}
    vocab = tmp_path / "topics.csv"
    with open(vocab, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["uri", "label_en", "broader"])
        out.writerows([t, t.title(), parent.get(t, "")] for t in topics)
    pools = {t: [word() for _ in range(8)] for t in topics}
    sets = ([["wheat"]] * 3 + [["wheat", "grain"]] * 57 + [["corn", "ship"]]
            + [["corn", "grain"]] * 39 + [["rye", "grain"], ["rye"]]
            + [["soybean", "oilseed"]] * 15 + [["soybean"]] * 15
            + [["ship"]] * 40 + [["trade"]] * 40 + [["dlr", "money-fx"]] * 30)
    left_off = []
    with open(tmp_path / "desk.jsonl", "w", encoding="utf-8") as f:
        for i, labels in enumerate(sets):
            words = [w for t in labels for w in rng.choices(pools[t], k=5)]
            f.write(json.dumps({"id": f"N{i}", "text": " ".join(words),
                                "labels": labels}) + "\n")
            if any(parent.get(t) == "grain" for t in labels) and "grain" not in labels \
                    and "rye" not in labels:
                left_off.append(f"N{i}")
    return tmp_path / "desk.jsonl", vocab, left_off


def test_the_audit_lists_documents_without_the_broader_label_the_corpus_codes(tmp_path):
    """The audit said nothing of wheat documents without grain (a desk's habit it
    could see in the corpus itself): the review queue named those the scores flagged,
    and the report nothing. Now report.json, the page, the command and a CSV list
    every one, with the pair's share; rye (2 documents) and soybean (half beside
    oilseed) are no such pairs."""
    corpus, vocab, left_off = _desk(tmp_path)
    assert len(left_off) == 4
    result = invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-plots")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    section = report["broader_left_off"]
    assert section["min_share"] == MIN_BROADER_CODED_SHARE
    pairs = {(p["narrower"]["uri"], p["broader"]["uri"]): p for p in section["pairs"]}
    assert set(pairs) == {("wheat", "grain"), ("corn", "grain"), ("dlr", "money-fx")}
    wheat = pairs["wheat", "grain"]
    assert (wheat["n_docs"], wheat["n_beside"], wheat["n_left_off"]) == (60, 57, 3)
    # the pair with the most documents left off first
    assert section["pairs"][0]["narrower"]["uri"] == "wheat"
    assert section["n_docs"] == 4 and section["n_rows"] == 4
    assert [d["doc_id"] for d in section["docs"]] == left_off
    with open(tmp_path / "audit" / "docs_without_broader.csv", newline="",
              encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["doc_id"], r["broader_uri"]) for r in rows] == [(d, "grain") for d in left_off]
    review = {(r["doc_id"], r["label_uri"]): r["rank"] for r in csv.DictReader(
        open(tmp_path / "audit" / "review.csv", newline="", encoding="utf-8"))
        if r["kind"] == "missing"}
    assert [r["missing_row"] for r in rows] == [review.get((d, "grain"), "") for d in left_off]
    assert section["n_in_review"] == sum(bool(r["missing_row"]) for r in rows)
    assert "broader label left off: 4 documents carry a narrower label" in result.output
    assert "'Grain' beside 'Wheat' in 57 of 60, 95.0%: 3 without it" in result.output
    assert "docs_without_broader.csv lists all 4" in result.output
    page = (tmp_path / "audit" / "report.html").read_text(encoding="utf-8")
    assert "Narrower labels given without their broader label" in page
    assert "N0" in page


def test_a_flat_vocabulary_lists_none_and_an_earlier_table_is_removed(tmp_path):
    corpus, vocab, _ = _desk(tmp_path)
    assert invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit",
                  "--scores", "knn", "--no-html").exit_code == 0
    assert (tmp_path / "audit" / "docs_without_broader.csv").is_file()
    flat = tmp_path / "flat.txt"
    flat.write_text("\n".join(r[0] for r in csv.reader(open(vocab, encoding="utf-8")))
                    .split("\n", 1)[1] + "\n", encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", flat, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    assert report["broader_left_off"] is None
    assert not (tmp_path / "audit" / "docs_without_broader.csv").exists()
    assert "broader label left off" not in result.output


def test_a_corpus_coded_at_the_most_specific_level_has_no_such_pair():
    """ICD-10 style: a code never beside its category; nothing is listed."""
    space = LabelSpace([Label("E11"), Label("E11.9", broader=["E11"]), Label("I10")])
    Y = sp.csr_matrix(np.array([[0, 1, 1]] * 12 + [[1, 0, 1]] * 3))
    section, rows = broader_left_off(Y, space)
    assert section["n_pairs"] == 0 and rows == []


def test_the_share_is_read_at_any_depth_and_at_its_threshold():
    """A grandchild's documents beside its grandparent count; a pair just under the
    threshold is none."""
    space = LabelSpace([Label("A"), Label("B", broader=["A"]), Label("C", broader=["B"])])
    under = int(np.ceil(MIN_BROADER_CODED_SHARE * 20)) - 1
    Y = sp.csr_matrix(np.array([[1, 1, 1]] * under + [[0, 1, 1]] * (20 - under)))
    section, rows = broader_left_off(Y, space)
    assert {(p["narrower"]["uri"], p["broader"]["uri"]) for p in section["pairs"]} == {
        ("C", "B")}
    assert rows == []
    Y = sp.csr_matrix(np.array([[1, 1, 1]] * (under + 1) + [[0, 1, 1]] * (19 - under)))
    section, rows = broader_left_off(Y, space)
    assert {(p["narrower"]["uri"], p["broader"]["uri"]) for p in section["pairs"]} == {
        ("C", "B"), ("B", "A"), ("C", "A")}
    # C and B both without A: one row (the document and A), naming both
    assert [(r["narrower"], r["broader"]) for r in rows] == [([1, 2], 0)] * (19 - under)
    assert section["n_docs"] == section["n_rows"] == 19 - under


def test_audit_help_names_the_table():
    """`audit --help` listed the files an audit writes, not this one."""
    result = CliRunner().invoke(tagsmith_cli.cli, ["audit", "--help"])
    assert result.exit_code == 0
    assert "docs_without_broader.csv" in " ".join(result.output.split())


def test_the_command_counts_rows_apart_from_documents():
    """A story without grain and without the commodities above it is two rows: the
    line said "16 documents ... asks to add 6 of these 20", two counts of two things."""
    from tagsmith.cli.commands import _broader_left_off_line

    pair = {"narrower": {"name": "wheat"}, "broader": {"name": "grain"}, "n_docs": 212,
            "n_beside": 209, "share": 0.9858, "n_left_off": 3}
    line = _broader_left_off_line({"n_docs": 16, "n_rows": 20, "n_in_review": 6,
                                   "n_pairs": 13, "min_share": 0.9, "pairs": [pair]})
    assert line.startswith("broader label left off: 16 documents (20 rows, a row per "
                           "document and broader label)")
    assert "add the broader label in 6 of these 20 rows" in line


def test_the_page_counts_rows_apart_from_documents():
    from tagsmith.audit.report import _broader_left_off_html

    def ref(name):
        return {"id": 0, "uri": name, "name": name, "name_lang": None}

    pair = {"narrower": ref("wheat"), "broader": ref("grain"), "n_docs": 212,
            "n_beside": 209, "share": 0.9858, "n_left_off": 3}
    page = _broader_left_off_html({"min_share": 0.9, "min_docs": 10, "n_pairs": 13,
                                   "n_docs": 16, "n_rows": 20, "n_in_review": 6,
                                   "pairs": [pair], "docs": []})
    assert ("add the broader label in 6 of these 20 rows (a row per document and broader "
            "label)") in page


def test_the_pairs_and_rows_match_a_reading_by_sets_across_blocks(monkeypatch):
    """A polyhierarchy three levels deep, documents read in blocks of 7: the pairs'
    counts and the rows left off are those a plain reading by sets gives (the check is
    counted by expanding each given label into its ancestors, not pair by pair)."""
    import tagsmith.audit.health as health

    monkeypatch.setattr(health, "_BROADER_BLOCK", 7)
    rng = np.random.default_rng(5)
    parents = {0: [], 1: [0], 2: [0], 3: [1], 4: [1, 2], 5: [3], 6: [4], 7: []}
    space = LabelSpace([Label(f"L{i}", broader=[f"L{p}" for p in parents[i]])
                        for i in range(8)])

    def up(c):
        seen, todo = set(), list(parents[c])
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo.extend(parents[p])
        return seen

    docs = []
    for _ in range(120):
        given = {int(c) for c in rng.choice(8, size=rng.integers(1, 3), replace=False)}
        for c in list(given):
            given |= {a for a in up(c) if rng.random() < 0.93}
        docs.append(given)
    Y = sp.csr_matrix([[int(c in d) for c in range(8)] for d in docs])
    section, rows = broader_left_off(Y, space)
    want_pairs: set = set()
    want_rows: dict = {}
    for c in range(8):
        with_c = [i for i, d in enumerate(docs) if c in d]
        for a in up(c):
            beside = sum(a in docs[i] for i in with_c)
            if len(with_c) >= 10 and beside >= MIN_BROADER_CODED_SHARE * len(with_c):
                want_pairs.add((f"L{c}", f"L{a}", len(with_c), beside))
                for i in with_c:
                    if a not in docs[i]:
                        want_rows.setdefault((i, a), []).append(c)
    assert want_rows and len(want_pairs) > 2
    assert {(p["narrower"]["uri"], p["broader"]["uri"], p["n_docs"], p["n_beside"])
            for p in section["pairs"]} == want_pairs
    # one row per document and broader label, naming its narrower labels
    assert [(r["doc"], r["narrower"], r["broader"]) for r in rows] == [
        (i, sorted(want_rows[i, a]), a) for i, a in sorted(want_rows)]
    assert any(len(r["narrower"]) > 1 for r in rows)


def test_the_command_line_agrees_with_one_document_on_two_rows():
    """One document on wheat without grain nor the commodities above it: "1 document
    (2 rows, ...) carries", its verb agreeing with the document, not the rows."""
    from tagsmith.cli.commands import _broader_left_off_line

    pair = {"narrower": {"name": "wheat"}, "broader": {"name": "grain"}, "n_docs": 20,
            "n_beside": 19, "share": 0.95, "n_left_off": 1}
    line = _broader_left_off_line({"n_docs": 1, "n_rows": 2, "n_in_review": 0,
                                   "n_pairs": 2, "min_share": 0.9, "pairs": [pair]})
    assert ("1 document (2 rows, a row per document and broader label) carries a "
            "narrower label") in line


def test_report_json_lists_the_pairs_with_most_left_off_up_to_a_cap():
    """report.json listed every pair: 38,354 of them (several MB) on a 25,000-label
    corpus, most with none left off. Now the first MAX_EXAMPLES, most left off first,
    with n_pairs counting all; the rows (docs_without_broader.csv) stay all."""
    from tagsmith.audit.health import MAX_EXAMPLES

    n_narrow = MAX_EXAMPLES + 15
    space = LabelSpace([Label("top")] + [Label(f"n{i}", broader=["top"])
                                          for i in range(n_narrow)])
    dense = np.zeros((20 * n_narrow, n_narrow + 1), dtype=np.int8)
    for i in range(n_narrow):
        block = dense[20 * i:20 * (i + 1)]
        block[:, i + 1] = 1
        block[:, 0] = 1
        if i % 5 == 0:  # every fifth narrower label: one document without "top"
            block[0, 0] = 0
    section, rows = broader_left_off(sp.csr_matrix(dense), space)
    assert section["n_pairs"] == n_narrow
    assert len(section["pairs"]) == MAX_EXAMPLES
    with_gaps = {f"n{i}" for i in range(0, n_narrow, 5)}
    assert {p["narrower"]["uri"] for p in section["pairs"][:len(with_gaps)]} == with_gaps
    assert all(p["n_left_off"] == 0 for p in section["pairs"][len(with_gaps):])
    assert len(rows) == section["n_rows"] == len(with_gaps)


def test_a_deprecated_broader_label_is_not_listed_as_one_to_add():
    """A deprecated broader label the corpus still gives beside its narrower one was a
    pair, and each document without it a row asking to add a retired label."""
    space = LabelSpace([Label("old", deprecated=True), Label("grain"),
                        Label("wheat", broader=["old", "grain"])])
    Y = sp.csr_matrix(np.array([[1, 1, 1]] * 18 + [[0, 0, 1]] * 2))
    section, rows = broader_left_off(Y, space)
    assert {(p["narrower"]["uri"], p["broader"]["uri"]) for p in section["pairs"]} == {
        ("wheat", "grain")}
    assert {(r["doc"], r["broader"]) for r in rows} == {(18, 1), (19, 1)}


def test_a_corpus_coded_at_the_most_specific_level_is_not_asked_to_add_broader_labels(
        tmp_path):
    """An ICD-like corpus may give up to 1% of its documents a code beside its
    category (broader moves stay on): 10 documents of a rare code beside its category,
    and one without it, made a pair at 90.9% and a row asking to add the category the
    same audit reports as an error beside its code. The check is not read there."""
    from test_audit_broader import _coded

    from tagsmith.pipeline.audit import BROADER_LEFT_OFF, BROADER_LEFT_OFF_SKIPPED

    corpus, vocab, _ = _coded(tmp_path, n_docs=1000)
    with open(vocab, "a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("C5", "Synthetic category 5", "CH"),
                                 ("C5.0", "Synthetic category 5 subtype 0", "C5")])
    with open(corpus, "a", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        for i in range(11):
            given = ["C5.0", "C1.0"] + (["C5"] if i < 10 else [])
            out.writerow([f"R{i}", f"rare code words {i} qqq zzz", "|".join(given)])
    result = invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    assert isinstance(report["noise"]["method"]["broader_moves"], dict)
    assert report["broader_left_off"]["skipped"] == BROADER_LEFT_OFF_SKIPPED
    # the section's counts, as none found: a reader of n_pairs failed on {"skipped": ...}
    assert (report["broader_left_off"]["n_pairs"], report["broader_left_off"]["n_rows"],
            report["broader_left_off"]["pairs"]) == (0, 0, [])
    assert not (tmp_path / "audit" / BROADER_LEFT_OFF).exists()
    assert "broader label left off" not in result.output


def _decide(table, decisions):
    """``table`` (docs_without_broader.csv) written back with each row's decision
    (``decisions``: its doc_id -> decision; others left empty), as a spreadsheet saves
    it."""
    with open(table, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(table, "w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        for row in rows:
            out.writerow({**row, "decision": decisions.get(row["doc_id"], "")})
    return rows


def test_apply_review_adds_the_broader_labels_accepted_in_the_table(tmp_path):
    """docs_without_broader.csv listed the wheat stories without grain, but apply-review
    could not read it: the desk added every accepted grain by hand. Now the table has a
    decision column and each text's fingerprint, apply-review adds the broader label of
    each accepted row (a rejected one is left), and the audit of the corrected corpus
    lists only the rejected one."""
    corpus, vocab, left_off = _desk(tmp_path)
    assert invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit",
                  "--scores", "knn", "--no-html").exit_code == 0
    table = tmp_path / "audit" / "docs_without_broader.csv"
    rows = _decide(table, {d: "accept" for d in left_off[1:]} | {left_off[0]: "reject"})
    assert [r["decision"] for r in rows] == [""] * len(left_off)  # written undecided
    result = invoke("apply-review", corpus, table, "-o", tmp_path / "fixed.jsonl",
                    "--vocab", vocab)
    assert result.exit_code == 0, result.output
    fixed = {}
    for line in open(tmp_path / "fixed.jsonl", encoding="utf-8"):
        record = json.loads(line)
        fixed[record["id"]] = record["labels"]
    assert all("grain" in fixed[d] for d in left_off[1:])
    assert "grain" not in fixed[left_off[0]]
    result = invoke("audit", tmp_path / "fixed.jsonl", "--vocab", vocab, "-o",
                    tmp_path / "again", "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    again = json.loads((tmp_path / "again" / "report.json").read_text(encoding="utf-8"))
    assert [d["doc_id"] for d in again["broader_left_off"]["docs"]] == left_off[:1]


def test_a_decided_table_is_not_overwritten_by_the_next_audit(tmp_path):
    """Decided, the table is a desk's review: the next audit into the folder replaced
    it, decisions and all. Now it is refused unless --force, as a decided review is."""
    corpus, vocab, left_off = _desk(tmp_path)
    args = ("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit", "--scores", "knn",
            "--no-html")
    assert invoke(*args).exit_code == 0
    table = tmp_path / "audit" / "docs_without_broader.csv"
    _decide(table, {left_off[0]: "accept"})
    decided = table.read_bytes()
    result = invoke(*args)
    assert result.exit_code != 0
    assert "1 review decision already filled in" in result.output
    assert table.read_bytes() == decided
    assert invoke(*args, "--force").exit_code == 0
    assert table.read_bytes() != decided


def test_an_earlier_audits_table_of_a_row_per_pair_is_replaced(tmp_path):
    """The table an audit wrote before it could be decided (its columns began
    doc,line,doc_id,narrower_uri) is an audit's, replaced without --force."""
    corpus, vocab, _ = _desk(tmp_path)
    (tmp_path / "audit").mkdir()
    table = tmp_path / "audit" / "docs_without_broader.csv"
    table.write_text("doc,line,doc_id,narrower_uri,narrower_name,broader_uri,broader_name,"
                     "share,missing_row,review_rows\n0,1,N0,wheat,Wheat,grain,Grain,0.95,,\n",
                     encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    assert table.read_text(encoding="utf-8").startswith("decision,doc,line,doc_id,doc_key,")


def test_a_document_missing_a_broader_label_under_two_narrower_ones_is_one_row(tmp_path):
    """A story on wheat and corn without grain was two rows (one per pair), decided
    twice. Now one row per document and broader label names both narrower labels (in
    the table, report.json and the page), and apply-review adds grain once."""
    corpus, vocab, _ = _desk(tmp_path)
    with open(corpus, "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "WC", "text": "wheat and corn harvest",
                            "labels": ["wheat", "corn"]}) + "\n")
    assert invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit",
                  "--scores", "knn").exit_code == 0
    table = tmp_path / "audit" / "docs_without_broader.csv"
    rows = _decide(table, {"WC": "yes"})
    both = [r for r in rows if r["doc_id"] == "WC"]
    assert [(r["narrower_uris"], r["narrower_names"], r["broader_uri"]) for r in both] == [
        ("wheat; corn", "Wheat | Corn", "grain")]
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    section = report["broader_left_off"]
    assert section["n_rows"] == section["n_docs"] == 5
    wc = [d for d in section["docs"] if d["doc_id"] == "WC"]
    assert [[n["uri"] for n in d["narrower"]] for d in wc] == [["wheat", "corn"]]
    # each pair still counts the document among those without grain
    pairs = {p["narrower"]["uri"]: p["n_left_off"] for p in section["pairs"]}
    assert (pairs["wheat"], pairs["corn"]) == (4, 2)
    page = (tmp_path / "audit" / "report.html").read_text(encoding="utf-8")
    row = page[page.index(">WC<"):]
    row = row[:row.index("</tr>")]
    assert "Wheat" in row and "Corn" in row and row.index("Wheat") < row.index("Corn")
    result = invoke("apply-review", corpus, table, "-o", tmp_path / "fixed.jsonl",
                    "--vocab", vocab)
    assert result.exit_code == 0, result.output
    fixed = [json.loads(line) for line in open(tmp_path / "fixed.jsonl", encoding="utf-8")]
    assert [r["labels"] for r in fixed if r["id"] == "WC"] == [["wheat", "corn", "grain"]]


def test_the_skipped_check_keeps_the_sections_counts_and_the_page_says_so():
    """A corpus coded at the most specific level: report.json's section was
    {"skipped": ...} alone (a reader of n_pairs failed with a KeyError) and the page
    said nothing, as for a corpus with none left off. Now the counts are there, 0,
    beside the reason, and the page gives it."""
    from tagsmith.audit.report import _broader_left_off_html
    from tagsmith.pipeline.audit import BROADER_LEFT_OFF_SKIPPED

    # a report of the skipped form's lone key is read alike
    page = _broader_left_off_html({"skipped": BROADER_LEFT_OFF_SKIPPED})
    assert "Not read: the corpus is coded at the most specific level" in page
    from tagsmith.audit.health import broader_left_off_skipped

    section = broader_left_off_skipped(BROADER_LEFT_OFF_SKIPPED)
    assert (section["n_pairs"], section["n_rows"], section["pairs"], section["docs"]) == (
        0, 0, [], [])
    page = _broader_left_off_html(section)
    assert "Not read: the corpus is coded at the most specific level" in page


def test_the_thresholds_are_options(tmp_path):
    """The 10 documents and 90% were constants: a desk that codes grain beside wheat in
    95% of its stories could not ask for 96%. Now broader_left_off, AuditOptions and
    the command take them; the review queue is the same."""
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.audit import AuditOptions

    space = LabelSpace([Label("grain"), Label("wheat", broader=["grain"])])
    Y = sp.csr_matrix(np.array([[1, 1]] * 19 + [[0, 1]]))
    assert broader_left_off(Y, space)[0]["n_pairs"] == 1
    section, rows = broader_left_off(Y, space, min_share=0.96)
    assert (section["n_pairs"], section["min_share"], rows) == (0, 0.96, [])
    section, _ = broader_left_off(Y, space, min_docs=21)
    assert (section["n_pairs"], section["min_docs"]) == (0, 21)
    for bad in ({"min_share": 0}, {"min_share": 1.5}, {"min_docs": 0}):
        try:
            broader_left_off(Y, space, **bad)
        except InvalidParameterError as exc:
            assert next(iter(bad)) in str(exc)
        else:
            raise AssertionError(bad)
    try:
        AuditOptions(broader_min_share=float("nan")).validate()
    except InvalidParameterError as exc:
        assert "broader_min_share" in str(exc)
    else:
        raise AssertionError("NaN accepted")
    corpus, vocab, _ = _desk(tmp_path)
    out = {}
    for name, extra in (("plain", ()), ("strict", ("--broader-min-share", "0.99"))):
        result = invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / name,
                        "--scores", "knn", "--no-html", *extra)
        assert result.exit_code == 0, result.output
        out[name] = json.loads((tmp_path / name / "report.json").read_text(encoding="utf-8"))
    assert out["plain"]["broader_left_off"]["n_pairs"] == 3
    # dlr beside money-fx in all 30: the one pair at 99%
    assert out["strict"]["broader_left_off"]["n_pairs"] == 1
    assert out["strict"]["broader_left_off"]["min_share"] == 0.99
    assert out["plain"]["top_candidates"] == out["strict"]["top_candidates"]
    assert out["strict"]["noise"]["n_review_rows"] == out["plain"]["noise"]["n_review_rows"]


def test_a_table_saved_by_a_spreadsheet_is_still_the_audits(tmp_path):
    """Opened and saved by a spreadsheet (a byte-order mark, "Decision", ``;`` for the
    comma), the table was "a file this audit did not write" to the next audit: left
    undecided, it was not replaced without --force. A decided one is refused as a
    decided review, and apply-review reads such a file as the table."""
    corpus, vocab, left_off = _desk(tmp_path)
    args = ("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit", "--scores", "knn",
            "--no-html")
    assert invoke(*args).exit_code == 0
    table = tmp_path / "audit" / "docs_without_broader.csv"
    rows = _decide(table, {left_off[0]: "accept"})

    def save(decided):
        with open(table, "w", newline="", encoding="utf-8-sig") as f:
            out = csv.writer(f, delimiter=";")
            out.writerow(["Decision", *list(rows[0])[1:]])
            out.writerows([decided.get(r["doc_id"], ""), *list(r.values())[1:]] for r in rows)

    save({left_off[0]: "accept"})
    result = invoke("apply-review", corpus, table, "-o", tmp_path / "fixed.jsonl",
                    "--vocab", vocab)
    assert result.exit_code == 0, result.output
    assert "1 label added" in result.output
    decided = table.read_bytes()
    result = invoke(*args)
    assert result.exit_code != 0
    assert "1 review decision already filled in" in result.output, result.output
    assert table.read_bytes() == decided
    save({})
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert table.read_text(encoding="utf-8").startswith("decision,doc,line,doc_id,doc_key,")


def test_a_row_rejected_in_an_earlier_table_is_left_out_of_the_next_one(tmp_path):
    """audit --reviewed with last month's decided table counted its decided pairs, yet
    the next table listed the rejected row again, undecided: the desk decided it again
    every month. Now a rejected row is left out and counted (n_left_out_reviewed), as
    the queue leaves out a rejected candidate; an accepted one never applied is listed
    again, as the queue keeps it."""
    corpus, vocab, left_off = _desk(tmp_path)
    assert invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit",
                  "--scores", "knn", "--no-html").exit_code == 0
    decided = tmp_path / "decided.csv"
    decided.write_bytes((tmp_path / "audit" / "docs_without_broader.csv").read_bytes())
    _decide(decided, {left_off[0]: "reject", left_off[1]: "accept"})
    result = invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "next",
                    "--scores", "knn", "--no-html", "--reviewed", decided)
    assert result.exit_code == 0, result.output
    with open(tmp_path / "next" / "docs_without_broader.csv", newline="",
              encoding="utf-8") as f:
        listed = [row["doc_id"] for row in csv.DictReader(f)]
    assert listed == left_off[1:]
    section = json.loads((tmp_path / "next" / "report.json").read_text(
        encoding="utf-8"))["broader_left_off"]
    assert (section["n_rows"], section["n_left_out_reviewed"]) == (len(left_off) - 1, 1)


def test_an_earlier_audits_table_with_a_decision_column_added_says_what_it_is(tmp_path):
    """A stop-55 table (a row per pair, no doc_key) with a decision column added by
    hand failed as "missing column doc_key": it did not say that it is an earlier
    audit's table, to be written again by running the audit again."""
    corpus, vocab, _ = _desk(tmp_path)
    table = tmp_path / "docs_without_broader.csv"
    table.write_text("decision,doc,line,doc_id,narrower_uri,narrower_name,broader_uri,"
                     "broader_name,share,missing_row,review_rows\n"
                     "accept,0,1,N0,wheat,Wheat,grain,Grain,0.95,,\n", encoding="utf-8")
    result = invoke("apply-review", corpus, table, "-o", tmp_path / "fixed.jsonl",
                    "--vocab", vocab)
    assert result.exit_code == 3, result.output
    assert "earlier audit's docs_without_broader.csv" in result.output
    assert "run the audit again" in result.output


def test_a_table_row_whose_narrower_label_the_review_removed_is_not_applied(tmp_path,
                                                                           caplog):
    """Applied after the review, the table added grain to a story whose wheat the
    review had just removed: the row asked for grain on wheat's account. Now such a
    row is skipped, and a warning counts it; the other rows are added."""
    corpus, vocab, left_off = _desk(tmp_path)
    assert invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit",
                  "--scores", "knn", "--no-html").exit_code == 0
    table = tmp_path / "audit" / "docs_without_broader.csv"
    _decide(table, {d: "accept" for d in left_off[:2]})
    # the review's output: the first story's wheat removed (a wrong row accepted)
    reviewed = tmp_path / "reviewed.jsonl"
    with open(corpus, encoding="utf-8") as f, open(reviewed, "w", encoding="utf-8") as out:
        for line in f:
            record = json.loads(line)
            if record["id"] == left_off[0]:
                record["labels"] = [t for t in record["labels"] if t != "wheat"] or ["ship"]
            out.write(json.dumps(record) + "\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(reviewed), str(table), "-o", str(tmp_path / "fixed.jsonl"),
        "--vocab", str(vocab)])
    assert result.exit_code == 0, result.output
    fixed = {}
    for line in open(tmp_path / "fixed.jsonl", encoding="utf-8"):
        record = json.loads(line)
        fixed[record["id"]] = record["labels"]
    assert "grain" not in fixed[left_off[0]]
    assert "grain" in fixed[left_off[1]]
    assert "1 label added" in result.output
    assert "1 accepted row of" in caplog.text
    assert "no longer carries any of the row's narrower labels" in caplog.text


def test_a_table_rows_narrower_label_not_in_the_vocabulary_is_warned_of(tmp_path, caplog):
    """A narrower label of the table that the vocabulary does not hold was dropped
    without a word, and with none left the check that the document still carries one
    was skipped. Now apply-review warns, counting the rows and naming the first line."""
    corpus, vocab, left_off = _desk(tmp_path)
    assert invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit",
                  "--scores", "knn", "--no-html").exit_code == 0
    table = tmp_path / "audit" / "docs_without_broader.csv"
    rows = _decide(table, {d: "accept" for d in left_off[:2]})
    with open(table, "w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        for row in rows:
            accepted = row["doc_id"] in left_off[:2]
            out.writerow({**row, "decision": "accept" if accepted else "",
                          "narrower_uris": "barley" if row["doc_id"] == left_off[0]
                          else row["narrower_uris"]})
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(table), "-o", str(tmp_path / "fixed.jsonl"),
        "--vocab", str(vocab)])
    assert result.exit_code == 0, result.output
    assert "1 accepted row of" in caplog.text
    assert "names narrower labels not in" in caplog.text


def test_a_table_decided_while_the_audit_runs_is_kept(tmp_path, monkeypatch, caplog):
    """The folder's table was checked for decisions before the audit only: one decided
    while the audit ran was replaced under the folder's lock, decisions and all (the
    samples are looked at again there). Now it is looked at again under the lock too:
    kept, the new table not moved in, with a warning."""
    import contextlib

    import tagsmith.store.bundle as bundle

    corpus, vocab, left_off = _desk(tmp_path)
    args = ("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit", "--scores", "knn",
            "--no-plots")
    assert invoke(*args).exit_code == 0
    table = tmp_path / "audit" / "docs_without_broader.csv"
    locked = bundle._folder_lock

    @contextlib.contextmanager
    def deciding_lock(directory, *a, **k):
        # the desk saves its decision just as the audit takes the lock
        _decide(table, {left_off[0]: "reject"})
        with locked(directory, *a, **k):
            yield

    monkeypatch.setattr(bundle, "_folder_lock", deciding_lock)
    result = CliRunner().invoke(tagsmith_cli.cli, list(map(str, args)))
    assert result.exit_code == 0, result.output
    with open(table, newline="", encoding="utf-8") as f:
        decisions = {row["doc_id"]: row["decision"] for row in csv.DictReader(f)}
    assert decisions[left_off[0]] == "reject"
    assert "filled in while the audit ran) was kept" in caplog.text
    # report.json, the page and the command's line gave the counts of the table not
    # written, beside the kept one, without a word: they say it was kept
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    assert report["broader_left_off"]["table_kept_decided"] is True
    page = (tmp_path / "audit" / "report.html").read_text(encoding="utf-8")
    assert "docs_without_broader.csv is not this audit's" in page
    assert "decided while the audit ran, was kept" in " ".join(result.output.split())


def test_a_later_save_does_not_carry_an_earlier_saves_kept_table(tmp_path, monkeypatch):
    """write() marked the result's own report that the folder's table was kept: saved
    again into another folder, whose table it did write, report.json and the page still
    said it was kept. Each write now says so of its own folder only."""
    import contextlib

    import tagsmith.store.bundle as bundle
    from tagsmith.pipeline.audit import BROADER_LEFT_OFF, AuditResult

    corpus, vocab, left_off = _desk(tmp_path)
    args = ("audit", corpus, "--vocab", vocab, "-o", tmp_path / "audit", "--scores", "knn",
            "--no-plots")
    assert invoke(*args).exit_code == 0
    table = tmp_path / "audit" / BROADER_LEFT_OFF
    locked = bundle._folder_lock

    @contextlib.contextmanager
    def deciding_lock(directory, *a, **k):
        if directory == tmp_path / "audit":
            _decide(table, {left_off[0]: "reject"})
        with locked(directory, *a, **k):
            yield

    saved = AuditResult.write
    again = {}

    def save_twice(self, directory, *a, **k):
        paths = saved(self, directory, *a, **k)
        again["kept"] = self.report["broader_left_off"].get("table_kept_decided")
        again["paths"] = saved(self, tmp_path / "other", *a, **k)
        return paths

    monkeypatch.setattr(bundle, "_folder_lock", deciding_lock)
    monkeypatch.setattr(AuditResult, "write", save_twice)
    assert invoke(*args).exit_code == 0
    assert again["kept"] is True
    other = json.loads((tmp_path / "other" / "report.json").read_text(encoding="utf-8"))
    assert "table_kept_decided" not in other["broader_left_off"]
    assert (tmp_path / "other" / BROADER_LEFT_OFF).is_file()
    page = (tmp_path / "other" / "report.html").read_text(encoding="utf-8")
    assert "docs_without_broader.csv is not this audit's" not in page
