"""Review queue export and applying accepted corrections to a new corpus file."""

import csv
import dataclasses
import json
import re
from pathlib import Path

import pytest

import tagsmith.cli as tagsmith_cli
from tagsmith.audit.review import (
    apply_review,
    doc_key,
    list_cell_entries,
    read_decisions,
    write_review,
)
from tagsmith.data.corpus import Corpus, collect
from tagsmith.data.labelspace import LabelSpace
from tagsmith.data.readers import Record, read_records
from tagsmith.data.writers import write_records
from tagsmith.exceptions import (
    CorpusFormatError,
    DataError,
    InvalidParameterError,
    ReviewFormatError,
    UnsupportedFormatError,
)

SPACE = LabelSpace.from_uris(["http://x/rain", "http://x/sun", "http://x/snow"],
                             names={"http://x/rain": "rain", "http://x/sun": "sun",
                                    "http://x/snow": "snow"})
CORPUS = ("Heavy rain all day\t<http://x/rain>\n"
          "Bright sun and heat\t<http://x/rain> <http://x/sun>\n"
          "Snowfall in the hills\n"
          "Cold sun on fresh snow\t<http://x/snow> unknown-key\n")


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.tsv"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def _row(doc, kind, uri, text, decision="accept"):
    return {"rank": 1, "decision": decision, "kind": kind,
            "action": "add" if kind == "missing" else "remove", "label_uri": uri,
            # the name write_review gives the label (blank for one SPACE lacks:
            # apply-review refuses a name that is not its label's)
            "label_name": SPACE.name_of(SPACE.id_of(uri)) if uri in SPACE else "",
            "probability": 0.9, "model_score": 0.1,
            "doc": doc, "line": doc + 1, "doc_id": None, "doc_key": doc_key(text),
            "given_labels": [], "given_names": [], "text": text}


def _review(tmp_path, rows, fmt="csv"):
    path = tmp_path / f"review.{fmt}"
    write_review(rows, path)
    return path


def _jsonl_corpus(tmp_path, *records):
    """``c.jsonl`` holding ``records`` (dicts), one per line."""
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def _literature_space(greek_name):
    """Two concepts with URIs; the first is named ``greek_name`` (it may hold spaces)."""
    return LabelSpace.from_uris(["http://x/gl", "http://x/po"],
                                names={"http://x/gl": greek_name, "http://x/po": "poetry"})


def test_accepted_corrections_go_to_a_new_file_and_the_original_is_untouched(tmp_path, corpus):
    before = corpus.read_bytes()
    rows = [_row(1, "wrong", "http://x/rain", "Bright sun and heat"),
            _row(2, "missing", "http://x/snow", "Snowfall in the hills"),
            _row(0, "missing", "http://x/sun", "Heavy rain all day", decision="reject"),
            _row(3, "wrong", "http://x/snow", "Cold sun on fresh snow", decision="")]
    review = _review(tmp_path, rows)
    out = tmp_path / "fixed.tsv"
    stats = apply_review(corpus, review, out, SPACE)
    assert corpus.read_bytes() == before
    assert stats["n_added"] == 1 and stats["n_removed"] == 1 and stats["n_docs_changed"] == 2
    assert stats["review_rejected"] == 1 and stats["review_undecided"] == 1
    records = list(read_records(out))
    assert [r.labels for r in records] == [("<http://x/rain>",), ("<http://x/sun>",),
                                           ("<http://x/snow>",),
                                           ("<http://x/snow>", "unknown-key")]
    # applying the same review again changes nothing more
    again = apply_review(out, review, tmp_path / "again.tsv", SPACE)
    assert again["n_already_applied"] == 2 and again["n_docs_changed"] == 0


def test_jsonl_review_and_other_output_formats_keep_metadata(tmp_path):
    source = tmp_path / "c.jsonl"
    source.write_text('{"id": "a", "text": "Heavy rain", "labels": ["rain"], "year": 2020}\n'
                      '{"id": "b", "text": "Sun", "labels": []}\n', encoding="utf-8")
    review = _review(tmp_path, [_row(1, "missing", "http://x/sun", "Sun")], fmt="jsonl")
    assert json.loads(review.read_text().splitlines()[0])["decision"] is None
    text = review.read_text().replace('"decision": null', '"decision": "yes"')
    review.write_text(text, encoding="utf-8")
    apply_review(source, review, tmp_path / "out.jsonl.gz", SPACE)
    records = list(read_records(tmp_path / "out.jsonl.gz"))
    assert records[0].metadata == {"year": 2020} and records[0].doc_id == "a"
    # the corpus names its labels, so the added label is written by name too
    assert records[1].labels == ("sun",)
    apply_review(source, review, tmp_path / "out.csv", SPACE)
    texts, Y = collect(Corpus(tmp_path / "out.csv", SPACE))
    assert texts == ["Heavy rain", "Sun"] and Y.toarray().tolist() == [[1, 0, 0], [0, 1, 0]]


def test_the_original_path_is_refused(tmp_path, corpus):
    review = _review(tmp_path, [_row(2, "missing", "http://x/snow", "Snowfall in the hills")])
    with pytest.raises(InvalidParameterError, match="never edited in place"):
        apply_review(corpus, review, corpus, SPACE)
    with pytest.raises(InvalidParameterError, match="never edited in place"):
        apply_review(corpus, review, tmp_path / "." / "corpus.tsv", SPACE)
    with pytest.raises(UnsupportedFormatError):
        apply_review(corpus, review, tmp_path / "fixed.txt", SPACE)


@pytest.mark.parametrize("column, value, message", [
    ("decision", "maybe", "decision must be accept or reject"),
    ("kind", "odd", "kind must be one of"),
    ("doc", "first", "doc must be a document number"),
    ("label_uri", "http://x/hail", "unknown label"),
])
def test_malformed_review_rows_name_file_and_line(tmp_path, corpus, column, value, message):
    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills"),
            _row(1, "wrong", "http://x/rain", "Bright sun and heat")]
    rows[1][column] = value
    review = _review(tmp_path, rows)
    out = tmp_path / "fixed.tsv"
    with pytest.raises(ReviewFormatError, match=message) as error:
        apply_review(corpus, review, out, SPACE)
    assert str(error.value).startswith(f"{review}:3: ")  # header is line 1
    assert not out.exists()


def test_review_that_does_not_fit_the_corpus_writes_nothing(tmp_path, corpus):
    out = tmp_path / "fixed.tsv"
    changed = _review(tmp_path, [_row(1, "wrong", "http://x/rain", "Another text")])
    with pytest.raises(ReviewFormatError, match="different text") as error:
        apply_review(corpus, changed, out, SPACE)
    assert ":2: " in str(error.value) and not out.exists()
    beyond = _review(tmp_path, [_row(9, "missing", "http://x/rain", "Whatever")])
    with pytest.raises(ReviewFormatError, match="document 9 does not exist: the corpus has "
                       "4 documents, numbered 0 to 3$"):
        apply_review(corpus, beyond, out, SPACE)
    assert not out.exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("rank,kind\n1,missing\n", encoding="utf-8")
    with pytest.raises(ReviewFormatError, match="missing column"):
        read_decisions(bad, SPACE)
    broken = tmp_path / "bad.jsonl"
    broken.write_text('{"decision": "accept"}\n{not json\n', encoding="utf-8")
    with pytest.raises(ReviewFormatError, match=r"bad.jsonl:1: missing field"):
        read_decisions(broken, SPACE)


def test_every_row_of_a_document_is_checked_against_its_text(tmp_path, corpus, caplog):
    # the first row of document 1 fits; the second was audited on another text (say, a
    # row whose doc number was edited) and must not be applied to document 1: it goes
    # to the document of its text (2), as audit --reviewed matches it, and is said so
    rows = [_row(1, "wrong", "http://x/rain", "Bright sun and heat"),
            _row(1, "missing", "http://x/snow", "Snowfall in the hills")]
    review = _review(tmp_path, rows)
    out = tmp_path / "fixed.tsv"
    with caplog.at_level("WARNING", logger="tagsmith"):
        stats = apply_review(corpus, review, out, SPACE)
    assert out.read_text(encoding="utf-8").splitlines()[1:3] == [
        "Bright sun and heat\t<http://x/sun>", "Snowfall in the hills\t<http://x/snow>"]
    assert stats["n_matched_elsewhere"] == 1 and stats["n_added"] == 1
    assert "1 accepted row applied to a document at another number" in caplog.text
    # a row whose text no document has (nor any other row's) is refused as before
    out.unlink()
    stray = _review(tmp_path, [_row(1, "missing", "http://x/snow", "Whatever")])
    with pytest.raises(ReviewFormatError, match="document 1 .*different text") as error:
        apply_review(corpus, stray, out, SPACE)
    assert str(error.value).startswith(f"{stray}:2: ") and not out.exists()


def test_a_review_applied_after_documents_were_added_in_front_is_matched_by_id_and_text(
        tmp_path, caplog):
    """A review was refused ("document 1 has a different text") once documents were
    added at the front of the corpus: apply-review named documents by number only. It
    now matches them as audit --reviewed does (by id and text where the row has an id,
    else by text); a document whose text was edited since is not fixed, and said so."""
    rows = [{**_row(0, "missing", "http://x/sun", "Heavy rain all day"), "doc_id": "a"},
            {**_row(1, "wrong", "http://x/rain", "Bright sun and heat"), "doc_id": "b"},
            _row(2, "missing", "http://x/snow", "Snowfall in the hills"),
            {**_row(3, "wrong", "http://x/snow", "Cold sun on fresh snow"), "doc_id": "d"}]
    review = _review(tmp_path, rows)
    before = _jsonl_corpus(
        tmp_path, {"id": "a", "text": "Heavy rain all day", "labels": ["<http://x/rain>"]},
        {"id": "b", "text": "Bright sun and heat",
         "labels": ["<http://x/rain>", "<http://x/sun>"]},
        {"text": "Snowfall in the hills", "labels": []},
        {"id": "d", "text": "Cold sun on fresh snow", "labels": ["<http://x/snow>"]})
    unchanged = apply_review(before, review, tmp_path / "unchanged.jsonl", SPACE)
    assert unchanged["n_matched_elsewhere"] == unchanged["n_text_changed"] == 0
    written = (tmp_path / "unchanged.jsonl").read_text(encoding="utf-8").splitlines()
    # two documents added in front, d edited: a, b and the id-less one moved by two
    lines = before.read_text(encoding="utf-8").splitlines()
    added = [json.dumps({"id": "n1", "text": "New one", "labels": []}),
             json.dumps({"id": "n2", "text": "Heavy rain all day", "labels": []})]
    edited = json.dumps({"id": "d", "text": "Cold sun on fresh snow, edited",
                         "labels": ["<http://x/snow>"]})
    grown = tmp_path / "grown.jsonl"
    grown.write_text("\n".join([*added, *lines[:3], edited]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with caplog.at_level("WARNING", logger="tagsmith"):
        stats = apply_review(grown, review, out, SPACE)
    got = out.read_text(encoding="utf-8").splitlines()
    # n2 has a's text under another id: not a's, left as it was
    assert got[:2] == added and got[2:5] == written[:3] and got[5] == edited
    assert (stats["n_matched_elsewhere"], stats["n_text_changed"], stats["n_not_found"],
            stats["n_added"], stats["n_removed"]) == (3, 1, 0, 2, 1)
    assert "3 accepted rows applied to a document at another number" in caplog.text
    assert (f"{review}: 1 accepted row not applied to {out}: its document (by id) has "
            "another text now" in caplog.text and "(first: line 5, id 'd')" in caplog.text)


def test_a_review_matched_to_moved_documents_is_read_once(tmp_path, monkeypatch):
    """Where a row's document had moved, apply-review read the review three times: to
    apply it by number, to match it by id and text, and to apply it so (1,000 rows over
    200,000 documents). It is read once; the corpus is read again to match the rows.
    (Counted at the reader: an audit hook, which cannot be removed, watched every file
    the rest of the test session opened.)"""
    import tagsmith.audit.review as review_module

    rows = [{**_row(0, "missing", "http://x/sun", "Heavy rain all day"), "doc_id": "a"},
            {**_row(1, "wrong", "http://x/rain", "Bright sun and heat"), "doc_id": "b"}]
    review = _review(tmp_path, rows)
    corpus = _jsonl_corpus(
        tmp_path, {"id": "n", "text": "New one", "labels": []},
        {"id": "a", "text": "Heavy rain all day", "labels": ["<http://x/rain>"]},
        {"id": "b", "text": "Bright sun and heat",
         "labels": ["<http://x/rain>", "<http://x/sun>"]})
    real_read = review_module._read_decisions
    read: list = []

    def counted(path, *args, **kwargs):  # the real reader, counted
        read.append(Path(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(review_module, "_read_decisions", counted)
    stats = apply_review(corpus, review, tmp_path / "out.jsonl", SPACE)
    assert (stats["n_added"], stats["n_removed"], stats["n_matched_elsewhere"]) == (1, 1, 2)
    assert read == [Path(review)]


def test_apply_review_says_how_far_its_passes_over_the_corpus_are(
        tmp_path, log_every_progress_line, caplog):
    """At a million documents apply-review read the corpus for minutes (three times,
    where rows had moved) with no word. Each pass logs its progress off a terminal (a
    bar on one): the pass matching moved rows, and the pass writing, with its total
    (``show_progress=True``, as the command line asks)."""
    rows = [{**_row(0, "missing", "http://x/sun", "Heavy rain all day"), "doc_id": "a"}]
    review = _review(tmp_path, rows)
    corpus = _jsonl_corpus(
        tmp_path, {"id": "n", "text": "New one", "labels": []},
        {"id": "a", "text": "Heavy rain all day", "labels": ["<http://x/rain>"]})
    stats = apply_review(corpus, review, tmp_path / "out.jsonl", SPACE, show_progress=True)
    assert (stats["n_added"], stats["n_matched_elsewhere"]) == (1, 1)
    assert ("apply-review: documents matched to the review's rows by id and text: 2 docs"
            in caplog.text)
    assert "apply-review: documents read and written: 2/2 docs (100%)" in caplog.text
    caplog.clear()
    moved = _review(tmp_path, [{**rows[0], "doc": 1}])
    # in place: one pass, its total not known ahead
    apply_review(corpus, moved, tmp_path / "o2.jsonl", SPACE, show_progress=True)
    assert "apply-review: documents read and written: 2 docs" in caplog.text
    assert "matched to the review's rows" not in caplog.text
    caplog.clear()  # off by default from Python, as every show_progress
    apply_review(corpus, review, tmp_path / "o3.jsonl", SPACE)
    assert "apply-review: documents" not in caplog.text


def test_labels_derived_from_a_corpus_say_how_far_they_are(tmp_path,
                                                           log_every_progress_line, caplog):
    """apply-review without --vocab reads the whole corpus for its labels first: a
    million documents took a minute with no word. derive_label_space shows progress
    where asked (apply-review asks), and is silent by default."""
    from tagsmith.data.corpus import derive_label_space

    corpus = _jsonl_corpus(tmp_path, *({"text": f"Doc {n}", "labels": ["<http://x/rain>"]}
                                       for n in range(1500)))
    space = derive_label_space(corpus, show_progress=True)
    assert list(space.uris) == ["http://x/rain"]
    assert "deriving labels from c.jsonl: 1,024 docs" in caplog.text
    assert "deriving labels from c.jsonl: 1,500 docs" in caplog.text
    caplog.clear()
    derive_label_space(corpus)
    assert "deriving labels" not in caplog.text


def test_the_apply_review_command_shows_the_progress_of_each_pass(
        tmp_path, log_every_progress_line, caplog):
    """The command asks for every pass's progress (Python's default is none): deriving
    the labels (no --vocab), matching moved rows, writing."""
    rows = [{**_row(0, "missing", "http://x/sun", "Heavy rain all day"), "doc_id": "a",
             "label_name": ""}]
    review = _review(tmp_path, rows)
    corpus = _jsonl_corpus(
        tmp_path, {"id": "n", "text": "New one", "labels": ["<http://x/sun>"]},
        {"id": "a", "text": "Heavy rain all day", "labels": ["<http://x/rain>"]})
    from click.testing import CliRunner

    tagsmith_cli._register_commands()
    result = CliRunner().invoke(tagsmith_cli.cli, ["apply-review", str(corpus), str(review),
                                                   "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    for line in ("deriving labels from c.jsonl: 2 docs",
                 "apply-review: documents matched to the review's rows by id and text: 2 docs",
                 "apply-review: documents read and written: 2/2 docs (100%)"):
        assert line in caplog.text


def test_rows_whose_ids_name_no_document_are_matched_by_their_text(tmp_path, caplog):
    """A review whose doc_id cells a spreadsheet rewrote past reading (``a`` as ``A-a``),
    or of the corpus under another id scheme, matched no document: refused at its first
    row, or with documents moved not applied at all. Such rows are matched by their
    text's fingerprint where one document has it, said so with a count; a text two
    documents share (their ids cannot say which one) is not applied, and warned of."""
    rows = [{**_row(0, "missing", "http://x/sun", "Heavy rain all day"), "doc_id": "A-a"},
            {**_row(1, "wrong", "http://x/rain", "Bright sun and heat"), "doc_id": "A-b"},
            {**_row(2, "missing", "http://x/snow", "Thanks"), "doc_id": "A-c"}]
    review = _review(tmp_path, rows)
    corpus = _jsonl_corpus(
        tmp_path, {"id": "a", "text": "Heavy rain all day", "labels": ["<http://x/rain>"]},
        {"id": "b", "text": "Bright sun and heat",
         "labels": ["<http://x/rain>", "<http://x/sun>"]},
        {"id": "c", "text": "Thanks", "labels": []},
        {"id": "e", "text": "Thanks", "labels": []})
    out = tmp_path / "out.jsonl"
    with caplog.at_level("WARNING", logger="tagsmith"):
        stats = apply_review(corpus, review, out, SPACE)
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [record["labels"] for record in got] == [
        ["<http://x/rain>", "<http://x/sun>"], ["<http://x/sun>"], [], []]
    assert (stats["n_added"], stats["n_removed"], stats["n_not_found"],
            stats["n_matched_elsewhere"]) == (1, 1, 1, 0)
    assert f"{review}: 2 accepted rows matched by text alone: their doc_id names no " \
        "document of the corpus" in caplog.text
    assert (f"{review}: 1 accepted row not applied to {out}: its doc_id names no document "
            "of the corpus, and its text does not name one: several documents have it"
            in caplog.text
            and "(first: line 4, id 'A-c')" in caplog.text)
    # the ambiguous row alone matches nothing: refused as before, no output
    alone = tmp_path / "alone"
    alone.mkdir()
    lone = _review(alone, rows[2:])
    with pytest.raises(ReviewFormatError, match="has id 'c', the review names id 'A-c'"):
        apply_review(corpus, lone, tmp_path / "none.jsonl", SPACE)
    assert not (tmp_path / "none.jsonl").exists()




def test_rows_of_lost_ids_a_document_has_the_text_of_are_not_said_to_be_not_found(
        tmp_path, caplog):
    """Rows whose ids name no document, of a text one document has, deciding its label
    both ways match nothing: the warning said no document had their text (removed or
    edited since the review), where one has it unchanged."""
    rows = [{**_row(0, "missing", "http://x/sun", "Heavy rain all day"), "doc_id": "A-x"},
            {**_row(1, "wrong", "http://x/sun", "Heavy rain all day"), "doc_id": "A-y"},
            {**_row(2, "missing", "http://x/snow", "Cold"), "doc_id": "c"}]
    review = _review(tmp_path, rows)
    corpus = _jsonl_corpus(
        tmp_path, {"id": "n", "text": "New one", "labels": []},
        {"id": "b", "text": "Heavy rain all day", "labels": ["<http://x/rain>"]},
        {"id": "c", "text": "Cold", "labels": []})
    out = tmp_path / "out.jsonl"
    with caplog.at_level("WARNING", logger="tagsmith"):
        stats = apply_review(corpus, review, out, SPACE)
    assert (stats["n_added"], stats["n_not_found"]) == (1, 2)
    assert "no document has its text" not in caplog.text
    assert (f"{review}: 2 accepted rows not applied to {out}: its doc_id names no document "
            "of the corpus, and its text does not name one" in caplog.text
            and "(first: line 2, id 'A-x')" in caplog.text)


def test_contradicting_decisions_are_an_error(tmp_path):
    rows = [_row(0, "missing", "http://x/sun", "Heavy rain all day"),
            _row(0, "wrong", "http://x/sun", "Heavy rain all day")]
    with pytest.raises(ReviewFormatError, match="contradicts line 2"):
        read_decisions(_review(tmp_path, rows), SPACE)


def test_review_csv_opens_as_a_spreadsheet_would_read_it(tmp_path):
    rows = [_row(0, "missing", "http://x/sun", 'Text with "quotes", commas\nand a newline',
                 decision="")]
    path = _review(tmp_path, rows)
    with open(path, newline="", encoding="utf-8") as handle:
        (read,) = list(csv.DictReader(handle))
    assert read["text"] == rows[0]["text"] and read["decision"] == ""


def test_a_long_text_is_cut_below_a_spreadsheet_cell_and_the_review_still_applies(
        tmp_path):
    # a report's 130,028 characters went into one review.csv cell: Excel holds 32,767,
    # so a reviewer's spreadsheet cut the text or broke the row; the cell is cut short
    # of that with a marker, the decision still applies (doc_key names the document),
    # and JSONL keeps the whole text
    report = ("Flood defence \U0001f30a minutes. " + "The embankment works go on. " * 4600).strip()
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"text": report, "labels": ["http://x/rain"]}) + "\n",
                      encoding="utf-8")
    rows = [_row(0, "missing", "http://x/snow", report)]
    path = _review(tmp_path, rows)
    with open(path, newline="", encoding="utf-8") as handle:
        (read,) = list(csv.DictReader(handle))
    cell = read["text"]
    assert len(cell.encode("utf-16-le")) // 2 < 32_767 and len(report) > 128_000
    kept = cell[:cell.index(" [... ")]
    assert report.startswith(kept)
    assert cell.endswith(f" [... {len(report) - len(kept):,} more characters cut: a "
                         "spreadsheet cell holds 32,767; review.jsonl (audit "
                         "--review-format jsonl) keeps the whole text]")
    fixed = tmp_path / "fixed.jsonl"
    apply_review(corpus, path, fixed, SPACE)
    assert [r.labels for r in read_records(fixed)] == [("http://x/rain", "http://x/snow")]
    assert json.loads(_review(tmp_path, rows, "jsonl").read_text("utf-8"))["text"] == report


def test_write_records_round_trips_each_format(tmp_path):
    records = [Record("One", ("<http://x/a>", "b c"), "d1", 1, "s", {"lang": "en"}),
               Record("Two", (), None, 2, "s", {"lang": "fi"})]
    for name in ("out.jsonl", "out.csv"):
        write_records(records, tmp_path / name)
        back = list(read_records(tmp_path / name))
        assert [(r.text, r.labels, r.metadata["lang"]) for r in back] == \
            [("One", ("<http://x/a>", "b c"), "en"), ("Two", (), "fi")]
    tsv = [Record("One", ("<http://x/a>",), None, 1, "s")]
    write_records(tsv, tmp_path / "out.tsv.gz")
    assert [r.labels for r in read_records(tmp_path / "out.tsv.gz")] == [("<http://x/a>",)]


def test_write_records_refuses_a_csv_label_key_holding_the_separator(tmp_path):
    records = [Record("One", ("<http://x/a>",), "d1", 1, "in.jsonl"),
               Record("Two", ("C|C++", "b"), "d2", 2, "in.jsonl")]
    with pytest.raises(CorpusFormatError, match=r"^in\.jsonl:2: label key 'C\|C\+\+'"):
        write_records(records, tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []
    write_records(records, tmp_path / "out.jsonl")  # JSONL holds any key
    assert [r.labels for r in read_records(tmp_path / "out.jsonl")][1] == ("C|C++", "b")


def test_output_may_not_replace_the_review_an_input_or_an_existing_file(tmp_path, corpus):
    review = _review(tmp_path, [_row(2, "missing", "http://x/snow", "Snowfall in the hills")])
    decided = review.read_bytes()
    with pytest.raises(InvalidParameterError, match="not the review file"):
        apply_review(corpus, review, review, SPACE)
    vocab = tmp_path / "vocab.csv"
    vocab.write_text("uri,label\nhttp://x/rain,rain\n", encoding="utf-8")
    with pytest.raises(InvalidParameterError, match="not an input of this run"):
        apply_review(corpus, review, vocab, SPACE, keep=[vocab])
    existing = tmp_path / "fixed.tsv"
    existing.write_text("an earlier result\n", encoding="utf-8")
    # the keyword a Python caller passes (it told them to "pass --force"), and the flag
    with pytest.raises(InvalidParameterError, match=r"overwrite=True .*CLI: --force"):
        apply_review(corpus, review, existing, SPACE)
    assert existing.read_text() == "an earlier result\n"
    assert review.read_bytes() == decided
    (tmp_path / "folder.tsv").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        apply_review(corpus, review, tmp_path / "folder.tsv", SPACE, overwrite=True)
    apply_review(corpus, review, tmp_path / "new" / "folder" / "fixed.tsv", SPACE)
    assert (tmp_path / "new" / "folder" / "fixed.tsv").exists()
    apply_review(corpus, review, existing, SPACE, overwrite=True)
    assert "Snowfall in the hills\t<http://x/snow>" in existing.read_text()


def test_a_single_label_name_with_spaces_survives_csv_and_tsv(tmp_path):
    space = _literature_space("Greek language literature")
    source = _jsonl_corpus(tmp_path,
                           {"text": "Archilochos", "labels": ["Greek language literature"]},
                           {"text": "Sappho", "labels": ["poetry"]})
    review = _review(tmp_path, [_row(1, "missing", "http://x/gl", "Sappho")])
    for name in ("out.csv", "out.tsv"):
        apply_review(source, review, tmp_path / name, space)
        texts, Y = collect(Corpus(tmp_path / name, space))
        assert Y.toarray().tolist() == [[1, 0], [1, 1]], name
    # the added label is written by name, in the corpus's own style
    assert [r.labels for r in read_records(tmp_path / "out.csv")] == \
        [("Greek language literature",), ("poetry", "Greek language literature")]


def test_added_labels_follow_a_bare_key_corpus(tmp_path):
    source = _jsonl_corpus(tmp_path, {"id": 1, "text": "Rates rise", "labels": ["money-fx"]})
    space = LabelSpace.from_uris(["money-fx", "interest"])  # derived from a corpus
    review = _review(tmp_path, [_row(0, "missing", "interest", "Rates rise")])
    apply_review(source, review, tmp_path / "out.jsonl", space)
    assert [r.labels for r in read_records(tmp_path / "out.jsonl")] == \
        [("money-fx", "interest")]
    # an integer id stays an integer
    assert json.loads((tmp_path / "out.jsonl").read_text())["id"] == 1


def test_an_action_that_contradicts_the_kind_is_an_error(tmp_path, corpus):
    row = _row(1, "wrong", "http://x/rain", "Bright sun and heat")
    row["action"] = "add"
    with pytest.raises(ReviewFormatError, match="contradicts kind 'wrong'") as error:
        read_decisions(_review(tmp_path, [row]), SPACE)
    assert ":2: " in str(error.value)


def test_a_spreadsheet_saved_review_is_read_or_refused_clearly(tmp_path, corpus):
    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills")]
    text = _review(tmp_path, rows).read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    capitalised = tmp_path / "capitalised.csv"
    capitalised.write_text(header.title().replace(",", ", ") + "\n" + rest, encoding="utf-8")
    decisions, counts = read_decisions(capitalised, SPACE)
    assert counts["accepted"] == 1 and decisions[0].label_id == 2
    latin = tmp_path / "latin.csv"
    latin.write_bytes((header + "\n" + rest.replace("Snowfall", "Schnéefall")).encode("cp1252"))
    with pytest.raises(ReviewFormatError, match="not valid UTF-8") as error:
        read_decisions(latin, SPACE)
    assert str(error.value).startswith(f"{latin}:2: ")


def test_a_quote_left_open_in_a_review_is_refused_not_swallowed(tmp_path):
    # without strict parsing the open quote ran to the end of the file, and the later
    # rows (with their decisions) vanished into one text cell
    rows = [_row(0, "missing", "http://x/sun", "Heavy rain all day"),
            _row(1, "wrong", "http://x/rain", "Bright sun and heat", decision="reject")]
    text = _review(tmp_path, rows).read_text(encoding="utf-8")
    opened = tmp_path / "opened.csv"
    opened.write_text(text.replace("Heavy rain all day", '"Heavy rain all day'),
                      encoding="utf-8")
    with pytest.raises(ReviewFormatError, match="invalid CSV.*starts on line 2") as error:
        read_decisions(opened, SPACE)
    assert str(error.value).startswith(f"{opened}:")


def test_review_csv_errors_name_the_row_as_the_corpus_readers_do(tmp_path):
    # the review reader shares next_csv_row with the corpus and vocabulary readers: an
    # error names the line the reader stopped on and the line its row starts on
    rows = [_row(0, "missing", "http://x/sun", "Heavy rain all day")]
    text = _review(tmp_path, rows).read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    opened = tmp_path / "header.csv"
    opened.write_text('"' + header + "\n" + rest, encoding="utf-8")  # never closed
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(opened, SPACE)
    last = len(text.splitlines())
    assert str(error.value) == (f"{opened}:{last}: invalid CSV (unexpected end of data) in "
                                "the row that starts on line 1")
    one_line = tmp_path / "one.csv"
    one_line.write_text(header + "\n" + rest.rstrip("\n") + ',"x\n', encoding="utf-8")
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(one_line, SPACE)
    assert str(error.value) == f"{one_line}:2: invalid CSV (unexpected end of data)"


def test_old_mac_line_ends_and_a_damaged_gz_review(tmp_path):
    import gzip

    rows = [_row(0, "missing", "http://x/sun", "Heavy rain all day"),
            _row(1, "wrong", "http://x/rain", "Bright sun and heat", decision="reject")]
    text = _review(tmp_path, rows).read_text(encoding="utf-8")
    mac = tmp_path / "mac.csv"
    mac.write_bytes(text.replace("\r\n", "\r").replace("\n", "\r").encode("utf-8"))
    decisions, counts = read_decisions(mac, SPACE)
    assert counts["accepted"] == 1 and counts["rejected"] == 1
    assert [d.label_id for d in decisions] == [1]
    damaged = tmp_path / "review.csv.gz"
    damaged.write_bytes(gzip.compress(text.encode("utf-8") * 50)[:-20])
    with pytest.raises(ReviewFormatError, match="review.csv.gz"):
        read_decisions(damaged, SPACE)


def test_formulas_in_free_text_cells_are_neutralised(tmp_path):
    rows = [_row(0, "missing", "http://x/sun", '=HYPERLINK("http://evil","click")',
                 decision="")]
    with open(_review(tmp_path, rows), newline="", encoding="utf-8") as handle:
        (read,) = list(csv.DictReader(handle))
    assert read["text"] == "'" + rows[0]["text"]
    jsonl = _review(tmp_path, rows, fmt="jsonl")
    assert json.loads(jsonl.read_text())["text"] == rows[0]["text"]


def test_an_empty_text_in_a_tsv_output_names_its_source(tmp_path):
    source = tmp_path / "c.jsonl"
    source.write_text('{"text": "Rain", "labels": ["rain"]}\n{"text": "", "labels": ["sun"]}\n',
                      encoding="utf-8")
    review = _review(tmp_path, [_row(0, "missing", "http://x/sun", "Rain")])
    with pytest.raises(Exception, match=r"c.jsonl:2: document has an empty text"):
        apply_review(source, review, tmp_path / "out.tsv", SPACE)
    assert not (tmp_path / "out.tsv").exists()
    apply_review(source, review, tmp_path / "out.jsonl", SPACE)


def test_a_label_uri_that_looks_like_a_formula_is_escaped_and_read_back(tmp_path):
    space = LabelSpace.from_uris(["=cmd|'/c calc'!A0", "http://x/ok"])
    row = _row(0, "missing", "=cmd|'/c calc'!A0", "Some text")
    row["given_labels"] = ["=cmd|'/c calc'!A0"]
    path = _review(tmp_path, [row])
    with open(path, newline="", encoding="utf-8") as handle:
        (read,) = list(csv.DictReader(handle))
    # the URI holds a space: in double quotes (a cell starting with '"', no formula)
    assert read["label_uri"].startswith("'=") and read["given_labels"].startswith('"=')
    assert list_cell_entries(read["given_labels"], "given_labels") == row["given_labels"]
    decisions, _ = read_decisions(path, space)
    assert [d.label_id for d in decisions] == [0]


def test_given_labels_holding_a_space_split_back_out_of_their_cell(tmp_path):
    """given_labels joined a document's URIs with spaces: a catalogue labelled by
    category paths without ids (URIs 'Toys > Dolls', 'Toys > Puzzles') had the cell
    'Toys > Dolls Toys > Puzzles', which names no label. A URI holding a space is
    written in double quotes, so list_cell_entries splits the cell back into the URIs;
    URIs without one are their plain join, as before, and a code of one is protected
    as label_uri is ('051020); apply-review reads such a review."""
    paths = ["Toys > Dolls", 'Toys > "Big" Puzzles', "Toys"]
    space = LabelSpace.from_uris([*paths, "051020", "E11", "E10"])
    rows = [_row(0, "missing", "Toys", "Some text"),
            _row(1, "missing", "E11", "Other", decision=""),
            _row(2, "missing", "E10", "Third", decision="")]
    rows[0]["given_labels"] = paths[:2]
    rows[1]["given_labels"] = ["051020"]
    rows[2]["given_labels"] = ["E11", "051020"]
    path = _review(tmp_path, rows)
    with open(path, newline="", encoding="utf-8") as handle:
        cells = [cell["given_labels"] for cell in csv.DictReader(handle)]
    assert cells == ['"Toys > Dolls" "Toys > ""Big"" Puzzles"', "'051020", "E11 051020"]
    assert [list_cell_entries(cell, "given_labels") for cell in cells] == [
        row["given_labels"] for row in rows]
    corpus = _jsonl_corpus(tmp_path, *({"text": row["text"], "labels": row["given_labels"]}
                                       for row in rows))
    stats = apply_review(corpus, path, tmp_path / "out.jsonl", space)
    assert stats["n_added"] == 1
    first = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert sorted(first["labels"]) == sorted([*paths[:2], "Toys"])


def test_a_tsv_output_keeps_the_corpus_keys_and_resolves_only_what_tsv_cannot_hold(tmp_path):
    space = _literature_space("Greek literature")
    source = _jsonl_corpus(tmp_path, {"text": "Sappho", "labels": ["poetry"]},
                           {"text": "Homer", "labels": ["poetry"]})
    review = _review(tmp_path, [_row(0, "missing", "http://x/gl", "Sappho")])
    apply_review(source, review, tmp_path / "out.tsv", space)
    # the untouched document keeps its bare key; the added name with a space becomes <uri>
    assert (tmp_path / "out.tsv").read_text().splitlines() == [
        "Sappho\tpoetry <http://x/gl>", "Homer\tpoetry"]


def test_a_review_of_a_long_document_reads_back(tmp_path, monkeypatch):
    """The text column holds the whole document: a review of one longer than the csv
    module's default field limit (128 Ki characters) must read back, as a corpus CSV
    does, even in a process where nothing else raised the limit."""
    text = "word " * 40_000
    review = _review(tmp_path, [_row(0, "missing", "http://x/sun", text)])
    default = csv.field_size_limit()
    try:
        csv.field_size_limit(131_072)
        decisions, counts = read_decisions(review, SPACE)
    finally:
        csv.field_size_limit(default)
    assert counts["accepted"] == 1 and decisions[0].doc_key == doc_key(text)


def test_a_row_with_a_multi_line_text_is_named_by_its_first_line(tmp_path):
    """Texts span lines in a review CSV; an error names the line the row starts on (its
    decision is there), not the line its text ends on, as the corpus readers do."""
    rows = [_row(0, "missing", "http://x/sun", "Heavy rain\nall\nday"),
            _row(1, "wrong", "http://x/rain", "Bright sun\nand heat", decision="maybe")]
    review = _review(tmp_path, rows)
    assert review.read_text(encoding="utf-8").splitlines()[4].startswith("1,maybe,")
    with pytest.raises(ReviewFormatError, match="decision must be") as error:
        read_decisions(review, SPACE)
    assert f"{review}:5: " in str(error.value)
    rows[1] = _row(0, "wrong", "http://x/sun", "Heavy rain\nall\nday")
    rows.insert(1, _row(2, "missing", "http://x/snow", "Snow\n\nfall", decision=""))
    with pytest.raises(ReviewFormatError, match="contradicts line 2") as error:
        read_decisions(_review(tmp_path, rows), SPACE)
    assert f"{review}:8: " in str(error.value)


def test_an_output_folder_that_is_not_writable_is_refused_before_the_work(tmp_path, corpus,
                                                                          monkeypatch):
    # an unwritable folder (chmod, a read-only mount) was found only when the new file
    # was created: a PermissionError traceback instead of a message naming the output
    import tagsmith.data.textio as textio

    review = _review(tmp_path, [_row(2, "missing", "http://x/snow", "Snowfall in the hills")])
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = textio.os.access
    monkeypatch.setattr(textio.os, "access", lambda path, mode: Path(path) != locked
                        and real_access(path, mode))  # tests run as root: chmod is ignored
    with pytest.raises(DataError, match="locked is not writable") as error:
        apply_review(corpus, review, locked / "fixed.tsv", SPACE)
    assert str(locked / "fixed.tsv") in str(error.value)
    assert list(locked.iterdir()) == []


def test_a_file_that_cannot_be_created_is_a_data_error_naming_it(tmp_path, monkeypatch):
    # what no check beforehand can see (a read-only file system, a quota) fails with the
    # path, not with an OSError traceback
    import tempfile

    import tagsmith.data.textio as textio

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    target = tmp_path / "out.tsv"
    with pytest.raises(DataError, match="cannot write the file \\(Read-only file system\\)"
                       ) as error:
        with textio.atomic_text_writer(target) as out:
            out.write("never\n")
    assert str(target) in str(error.value)
    assert not target.exists()


def test_a_review_row_of_another_length_than_the_header_is_refused_naming_it(tmp_path,
                                                                              corpus):
    # a short row was read with None in its missing cells and failed as "doc must be a
    # document number, found None"; a row with an extra cell (a comma in a cell that
    # was not quoted) had its cells past that point under the wrong columns
    rows = [_row(0, "missing", "http://x/sun", "Heavy rain all day"),
            _row(2, "missing", "http://x/snow", "Snowfall in the hills")]
    header, first, second = _review(tmp_path, rows).read_text(encoding="utf-8").splitlines()
    n = len(header.split(","))
    short = tmp_path / "short.csv"
    short.write_text("\n".join([header, first, ",".join(second.split(",")[:5])]) + "\n",
                     encoding="utf-8")
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(short, SPACE)
    assert str(error.value).startswith(f"{short}:3: 5 cells, the header has {n}: the row "
                                       "is cut short")
    # the same when the row is not decided: its cells cannot be trusted to say so
    undecided = tmp_path / "undecided.csv"
    undecided.write_text("\n".join([header, first, "1,"]) + "\n", encoding="utf-8")
    with pytest.raises(ReviewFormatError, match=f"^{undecided}:3: 2 cells, the header has"):
        read_decisions(undecided, SPACE)
    # an unquoted comma in the label name: doc would be read from model_score's cell
    shifted = tmp_path / "shifted.csv"
    cells = second.split(",")
    cells[5] = "snow, wet"
    shifted.write_text("\n".join([header, first, ",".join(cells)]) + "\n", encoding="utf-8")
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(shifted, SPACE)
    assert str(error.value).startswith(f"{shifted}:3: {n + 1} cells, the header has {n}: "
                                       "a comma in a cell that is not quoted")
    assert not (tmp_path / "out.tsv").exists()
    with pytest.raises(ReviewFormatError, match="cells, the header has"):
        apply_review(corpus, shifted, tmp_path / "out.tsv", SPACE)
    assert not (tmp_path / "out.tsv").exists()


def test_a_spreadsheet_s_blank_padding_columns_are_no_misalignment(tmp_path):
    rows = [_row(0, "missing", "http://x/sun", "Heavy rain all day")]
    header, row = _review(tmp_path, rows).read_text(encoding="utf-8").splitlines()
    for name, text in (("padded-rows.csv", f"{header}\n{row},, \n"),
                       ("padded-header.csv", f"{header},,\n{row}\n"),
                       ("both.csv", f"{header},\n{row},\n")):
        padded = tmp_path / name
        padded.write_text(text, encoding="utf-8")
        decisions, counts = read_decisions(padded, SPACE)
        assert counts["accepted"] == 1 and decisions[0].label_id == 1, name


def test_a_review_of_a_text_with_a_lone_carriage_return_is_applied(tmp_path):
    """A text holding a lone \\r (a Windows or old Mac line break in a JSONL corpus) was
    written bare into review.csv, and reading it back split the row there."""
    source = _jsonl_corpus(tmp_path, {"text": "Heavy\rrain", "labels": []},
                           {"text": "Sun", "labels": ["sun"]})
    review = _review(tmp_path, [_row(0, "missing", "http://x/rain", "Heavy\rrain")])
    stats = apply_review(source, review, tmp_path / "out.csv", SPACE)
    assert stats["n_added"] == 1
    assert [(r.text, r.labels) for r in read_records(tmp_path / "out.csv")] == \
        [("Heavy\rrain", ("<http://x/rain>",)), ("Sun", ("sun",))]


def test_a_review_saved_with_old_mac_line_ends_reads_as_the_original(tmp_path):
    """A spreadsheet may save CSV with lone CRs between rows: its rows (and a quoted
    text's own line break) read as those of the LF file, split as corpora are."""
    source = _jsonl_corpus(tmp_path, {"text": "Heavy\nrain", "labels": []},
                           {"text": "Sun", "labels": []})
    review = _review(tmp_path, [_row(0, "missing", "http://x/rain", "Heavy\nrain"),
                                _row(1, "missing", "http://x/sun", "Sun")])
    mac = tmp_path / "mac.csv"
    mac.write_bytes(review.read_bytes().replace(b"\n", b"\r"))
    assert b"\n" not in mac.read_bytes()
    stats = apply_review(source, mac, tmp_path / "out.jsonl", SPACE)
    assert stats["n_added"] == 2
    assert [(r.text, r.labels) for r in read_records(tmp_path / "out.jsonl")] == \
        [("Heavy\nrain", ("<http://x/rain>",)), ("Sun", ("<http://x/sun>",))]


def test_a_review_with_old_mac_row_ends_and_line_breaks_inside_a_cell_is_applied(tmp_path):
    """A spreadsheet saving "CSV (Macintosh)" ends rows with lone CRs but keeps a cell's
    own line break an LF: the LF in the first chunk made the whole file one line, and
    reading it crashed (csv.Error: new-line character seen in unquoted field)."""
    source = _jsonl_corpus(tmp_path, {"text": "Heavy\nrain", "labels": []},
                           {"text": "Sun", "labels": []})
    review = _review(tmp_path, [_row(0, "missing", "http://x/rain", "Heavy\nrain"),
                                _row(1, "missing", "http://x/sun", "Sun", decision="")])
    rows = list(csv.reader(review.open(encoding="utf-8", newline="")))
    rows[2][1] = "Accept"
    mac = tmp_path / "mac.csv"
    with mac.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\r", quoting=csv.QUOTE_ALL).writerows(rows)
    assert mac.read_bytes().count(b"\n") == 1
    stats = apply_review(source, mac, tmp_path / "out.jsonl", SPACE)
    assert stats["n_added"] == 2
    assert [(r.text, r.labels) for r in read_records(tmp_path / "out.jsonl")] == \
        [("Heavy\nrain", ("<http://x/rain>",)), ("Sun", ("<http://x/sun>",))]
    # errors name the line a row starts on, counting the cell's LF as a line
    rows[2][1] = "maybe"
    with mac.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\r", quoting=csv.QUOTE_ALL).writerows(rows)
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(mac, SPACE)
    assert str(error.value).startswith(f"{mac}:4: decision must be accept or reject")


def test_malformed_lines_skipped_by_apply_review_are_counted_and_reported(tmp_path, caplog):
    """With --on-error skip a malformed line is no record and is left out of the new
    corpus; that used to happen silently."""


    source = tmp_path / "c.tsv"
    source.write_text("Heavy rain\t<http://x/rain>\nbroken\tline\twith three columns\n"
                      "Sun\n", encoding="utf-8")
    review = _review(tmp_path, [_row(1, "missing", "http://x/sun", "Sun")])
    with caplog.at_level("WARNING", logger="tagsmith"):
        stats = apply_review(source, review, tmp_path / "out.tsv", SPACE, on_error="skip")
    assert stats["n_docs"] == 2 and stats["n_skipped_lines"] == 1
    assert f"{source}: 1 malformed line skipped" in caplog.text and "line 2" in caplog.text
    assert [r.text for r in read_records(tmp_path / "out.tsv")] == ["Heavy rain", "Sun"]
    result = _apply_review_cli(tmp_path, source, review, tmp_path / "out2.tsv")
    assert result.exit_code == 0, result.output
    assert "1 malformed line of" in result.output and "was skipped" in result.output
    assert "is not in the new corpus" in result.output


def test_review_rows_name_labels_in_a_variant_of_the_language():
    """lang="en-GB" over a vocabulary in en and de: the English names (LabelSpace.name_of's
    fallback), not the first language a label happens to list."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.audit.detect import find_label_issues
    from tagsmith.audit.review import review_rows
    from tagsmith.data.labelspace import Label
    from tagsmith.topk import TopK

    space = LabelSpace([Label(f"u:{i}", {"de": f"Etikett {i}", "en": f"label {i}"})
                        for i in range(3)])
    rng = np.random.default_rng(0)
    truth = rng.random((400, 3)) < 0.3
    scores = np.clip(truth * 0.7 + rng.random((400, 3)) * 0.3, 0, 1)
    given = truth.copy()
    given[:20, 0] = ~given[:20, 0]
    Y = sp.csr_matrix(given)
    issues = find_label_issues(Y, TopK.from_scores(scores, k=3))
    texts = [f"doc {i}" for i in range(400)]
    for lang in ("en-GB", "EN", "en"):
        rows = review_rows(issues, texts, Y, space, lang=lang, limit=5, flagged_only=False)
        assert rows and all(row["label_name"] == f"label {space.id_of(row['label_uri'])}"
                            for row in rows)
        assert all(name.startswith("label ") for row in rows for name in row["given_names"])


def test_a_tsv_output_says_what_it_cannot_hold(tmp_path, caplog):
    """A TSV line holds a text and its labels: the ids and metadata of a JSONL or CSV
    corpus (and tabs or line breaks in texts) were dropped without a word when the new
    corpus was written as .tsv."""
    source = _jsonl_corpus(
        tmp_path, {"id": "a", "text": "Heavy rain", "labels": ["rain"], "year": 2020},
        {"id": 7, "text": "Sun\nand heat", "labels": [], "year": 2021, "lang": "en"},
        {"text": "Snow", "labels": ["snow"]})
    review = _review(tmp_path, [_row(1, "missing", "http://x/sun", "Sun\nand heat")])
    with caplog.at_level("WARNING", logger="tagsmith"):
        apply_review(source, review, tmp_path / "out.tsv", SPACE)
    out = tmp_path / "out.tsv"
    assert f"{out}: a TSV corpus holds only texts and labels: the ids of 2 documents and " \
        "metadata (2 keys: 'lang', 'year') of 2 documents not written" in caplog.text
    assert f"{out}: 1 text held tabs or line breaks, written as spaces" in caplog.text
    assert [r.text for r in read_records(out)] == ["Heavy rain", "Sun and heat", "Snow"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):  # TSV to TSV loses nothing
        write_records(read_records(out), tmp_path / "again.tsv")
        apply_review(source, review, tmp_path / "out.jsonl", SPACE)
    assert "TSV" not in caplog.text and "written as spaces" not in caplog.text


@pytest.mark.parametrize("first, second", [("accept", "reject"), ("no", "yes")])
def test_a_candidate_both_accepted_and_rejected_is_an_error(tmp_path, corpus, first, second):
    # a reviewer who copied a row (or two reviewers sharing a file) and decided it both
    # ways: the acceptance won silently, whichever row came first
    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills", decision=first),
            _row(1, "wrong", "http://x/rain", "Bright sun and heat", decision="reject"),
            _row(2, "missing", "http://x/snow", "Snowfall in the hills", decision=second)]
    review = _review(tmp_path, rows)
    out = tmp_path / "fixed.tsv"
    with pytest.raises(ReviewFormatError, match="contradicts line 2, which") as error:
        apply_review(corpus, review, out, SPACE)
    assert str(error.value).startswith(f"{review}:4: ") and not out.exists()


def test_a_candidate_decided_the_same_way_twice_is_applied_once(tmp_path, corpus):
    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills"),
            _row(2, "missing", "http://x/snow", "Snowfall in the hills", decision="yes"),
            _row(1, "wrong", "http://x/rain", "Bright sun and heat", decision="reject"),
            _row(1, "wrong", "http://x/rain", "Bright sun and heat", decision="no")]
    stats = apply_review(corpus, _review(tmp_path, rows), tmp_path / "fixed.tsv", SPACE)
    assert (stats["n_added"], stats["n_removed"], stats["n_already_applied"]) == (1, 0, 0)


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_review_saved_with_a_locale_s_list_separator_is_read(tmp_path, corpus, delimiter):
    # a spreadsheet where the decimal mark is a comma saves "CSV" with semicolons; such
    # a review was refused for missing every required column
    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills", decision=""),
            _row(1, "wrong", "http://x/rain", "Bright sun and heat", decision="")]
    # a free-text cell holding the separators (the label_name cell held them, but a
    # name that is not its label's is now refused)
    rows[0]["text"] = 'Snowfall; "fresh", deep'
    with open(_review(tmp_path, rows), newline="", encoding="utf-8") as handle:
        cells = list(csv.reader(handle))
    cells[1][1], cells[2][1] = "WAHR", "nein"  # not our words: refused, naming the row
    saved = tmp_path / "saved.csv"
    with open(saved, "w", newline="", encoding="utf-8-sig") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\r\n").writerows(cells)
    with pytest.raises(ReviewFormatError, match="found 'WAHR'") as error:
        read_decisions(saved, SPACE)
    assert str(error.value).startswith(f"{saved}:2: ")
    cells[1][1], cells[2][1] = "1", "0"
    with open(saved, "w", newline="", encoding="utf-8-sig") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\r\n").writerows(cells)
    stats = apply_review(corpus, saved, tmp_path / "fixed.tsv", SPACE)
    assert (stats["n_added"], stats["review_accepted"], stats["review_rejected"]) == (1, 1, 1)
    assert "Snowfall in the hills\t<http://x/snow>" in \
        (tmp_path / "fixed.tsv").read_text(encoding="utf-8")


def test_kind_ignores_case_as_decision_and_action_do(tmp_path, corpus):
    row = _row(2, "missing", "http://x/snow", "Snowfall in the hills", decision="Accept")
    row["kind"], row["action"] = " Missing ", "ADD"
    decisions, counts = read_decisions(_review(tmp_path, [row]), SPACE)
    assert counts["accepted"] == 1 and decisions[0].kind == "missing"
    stats = apply_review(corpus, _review(tmp_path, [row]), tmp_path / "fixed.tsv", SPACE)
    assert stats["n_added"] == 1


@pytest.mark.parametrize("doc", [2.5, True, False, float("inf"), float("nan"), [2], {"n": 2}])
def test_a_jsonl_doc_that_is_no_whole_number_is_refused_with_file_and_line(tmp_path, corpus,
                                                                          doc):
    rows = [_row(0, "missing", "http://x/sun", "Heavy rain all day"),
            _row(2, "missing", "http://x/snow", "Snowfall in the hills")]
    rows[1]["doc"] = doc
    review = _review(tmp_path, rows, fmt="jsonl")
    review.write_text(review.read_text().replace('"decision": null', '"decision": "yes"'),
                      encoding="utf-8")
    out = tmp_path / "fixed.tsv"
    with pytest.raises(ReviewFormatError, match="doc must be a document number") as error:
        apply_review(corpus, review, out, SPACE)
    assert str(error.value).startswith(f"{review}:2: ") and not out.exists()


def test_a_jsonl_doc_that_is_a_whole_float_names_its_document(tmp_path, corpus):
    row = _row(2, "missing", "http://x/snow", "Snowfall in the hills", decision="yes")
    row["doc"] = 2.0
    review = _review(tmp_path, [row], fmt="jsonl")
    review.write_text(review.read_text().replace('"decision": null', '"decision": "yes"'),
                      encoding="utf-8")
    decisions, _ = read_decisions(review, SPACE)
    assert [(d.doc, d.label_id) for d in decisions] == [(2, 2)]


def test_jsonl_review_escapes_unicode_line_separators_and_reads_both_forms(tmp_path):
    """A document text holding U+2028 or U+2029 was written as it is: valid JSON, but a
    tool that splits lines as str.splitlines (an editor, a script) cut the row in two."""
    texts = ["Rain\u2028all day", "Sun\u2029and heat"]
    rows = [_row(1, "missing", "http://x/sun", texts[0], decision=None),
            _row(2, "missing", "http://x/snow", texts[1], decision=None)]
    review = _review(tmp_path, rows, fmt="jsonl")
    written = review.read_text(encoding="utf-8")
    assert len(written.splitlines()) == 2 and "\u2028" not in written
    assert [json.loads(line)["text"] for line in written.splitlines()] == texts
    for name, text in (("escaped.jsonl", written),
                       ("raw.jsonl", written.replace("\\u2028", "\u2028")
                        .replace("\\u2029", "\u2029"))):
        path = tmp_path / name
        path.write_text(text.replace('"decision": null', '"decision": "accept"'),
                        encoding="utf-8")
        decisions, counts = read_decisions(path, SPACE)
        assert counts["accepted"] == 2 and len(decisions) == 2


def _resave(path, saved, convert=lambda cell: cell, extra_rows=()):
    """``path`` as a spreadsheet saves it: BOM, CR LF, each cell through ``convert``,
    then ``extra_rows``."""
    with open(path, newline="", encoding="utf-8") as handle:
        cells = [[convert(cell) for cell in row] for row in csv.reader(handle)]
    with open(saved, "w", newline="", encoding="utf-8-sig") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows([*cells, *extra_rows])
    return saved


def test_empty_rows_a_spreadsheet_saves_below_the_data_are_no_candidates(tmp_path, corpus):
    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills"),
            _row(1, "wrong", "http://x/rain", "Bright sun and heat", decision="")]
    width = len(rows[0])
    saved = _resave(_review(tmp_path, rows), tmp_path / "saved.csv",
                    extra_rows=[[""] * width, [" "] * width, ["", "", ""]])
    stats = apply_review(corpus, saved, tmp_path / "fixed.tsv", SPACE)
    # the narrow empty row was refused as "cut short", the others counted as undecided
    assert (stats["review_accepted"], stats["review_undecided"], stats["n_added"]) == (1, 1, 1)


def _as_a_spreadsheet_shows_it(cell):
    """A cell that reads as a number with more digits than a spreadsheet's general
    format shows (11) is saved in scientific notation, as Excel saves it."""
    try:
        number = float(cell)
    except ValueError:
        return cell
    return f"{number:.5E}".replace("E+0", "E+") if len(cell) > 11 else cell


def test_a_fingerprint_of_digits_alone_survives_a_spreadsheet(tmp_path):
    text = "doc 1637"  # its fingerprint is digits alone (about one text in 1800)
    assert doc_key(text).isdigit()
    corpus = tmp_path / "c.tsv"
    corpus.write_text(f"{text}\t<http://x/rain>\n", encoding="utf-8")
    review = _review(tmp_path, [_row(0, "missing", "http://x/snow", text)])
    saved = _resave(review, tmp_path / "saved.csv", _as_a_spreadsheet_shows_it)
    stats = apply_review(corpus, saved, tmp_path / "fixed.tsv", SPACE)
    assert stats["n_added"] == 1
    assert (tmp_path / "fixed.tsv").read_text(encoding="utf-8") == \
        f"{text}\t<http://x/rain> <http://x/snow>\n"
    # a review whose fingerprint did become a number says so, not "was the corpus changed?"
    with open(saved, newline="", encoding="utf-8-sig") as handle:
        cells = list(csv.reader(handle))
    cells[1][cells[0].index("doc_key")] = "6.31124E+15"
    with open(saved, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(cells)
    with pytest.raises(ReviewFormatError, match="turned it into a number") as error:
        apply_review(corpus, saved, tmp_path / "fixed2.tsv", SPACE)
    assert str(error.value).startswith(f"{saved}:2: doc_key must be")


def _as_a_spreadsheet_reads_a_number(cell):
    """A cell of digits alone read as a number, as a spreadsheet opening a CSV reads
    it: its leading zeros dropped (a cell starting with ``'`` is text, kept)."""
    return str(int(cell)) if cell.isdigit() else cell


def test_a_digit_code_and_id_keep_their_leading_zeros_through_a_spreadsheet(tmp_path):
    """A code of digits alone (NAICS '0111') was written as it is in the label_uri
    cell, and a document id '0042' in doc_id: a spreadsheet saved them as 111 and 42,
    the row no longer naming its label. They start with ' as a formula does, and read
    back as written."""
    space = LabelSpace.from_uris(["0111", "0112", "111"])
    corpus = tmp_path / "c.csv"
    corpus.write_text("id,text,labels\n0042,Wheat farm,0112\n", encoding="utf-8")
    row = {**_row(0, "missing", "0111", "Wheat farm"), "label_name": "", "doc_id": "0042"}
    review = _review(tmp_path, [row])
    with open(review, newline="", encoding="utf-8") as handle:
        cells = dict(zip(*csv.reader(handle), strict=True))
    assert (cells["label_uri"], cells["doc_id"]) == ("'0111", "'0042")
    saved = _resave(review, tmp_path / "saved.csv", _as_a_spreadsheet_reads_a_number)
    decisions, _ = read_decisions(saved, space)
    assert [(d.label_id, d.doc_id) for d in decisions] == [(0, "0042")]
    apply_review(corpus, saved, tmp_path / "fixed.csv", space)
    assert [r.labels for r in read_records(tmp_path / "fixed.csv")] == [("0112", "0111")]
    # a label or id that starts with ' and digits is written with one more, read back so
    row = {**row, "label_uri": "'0111", "doc_id": "'7"}
    quoted = _review(tmp_path, [row])
    with open(quoted, newline="", encoding="utf-8") as handle:
        assert dict(zip(*csv.reader(handle), strict=True))["label_uri"] == "''0111"


def _as_a_spreadsheet_reads_a_decimal(cell):
    """A cell of a decimal number read as a number and saved as a spreadsheet shows it
    (15 significant digits, no leading nor trailing zeros); other cells kept."""
    import re

    if re.fullmatch(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", cell):
        return f"{float(cell):.15g}"
    return cell


@pytest.mark.parametrize("code", ["004.6", "330.10", "1.0", "00.1", ".5", "7.", "1e-5",
                                  "1.5e3", "1.2345678901234567"])
def test_a_decimal_code_a_spreadsheet_would_save_changed_starts_with_a_quote(tmp_path, code):
    """A code of a decimal number a spreadsheet saves as another (Dewey's 004.6 as 4.6,
    330.10 as 330.1) was written as it is in label_uri, and the saved review named
    'unknown label 4.6': such a code starts with ' as 0111 does, and reads back."""
    space = LabelSpace.from_uris([code, "1.5", "4.6"])
    row = {**_row(0, "missing", code, "Wheat farm"), "label_name": "", "doc_id": "d1"}
    review = _review(tmp_path, [row])
    with open(review, newline="", encoding="utf-8") as handle:
        assert dict(zip(*csv.reader(handle), strict=True))["label_uri"] == "'" + code
    saved = _resave(review, tmp_path / "saved.csv", _as_a_spreadsheet_reads_a_decimal)
    decisions, _ = read_decisions(saved, space)
    assert [d.label_id for d in decisions] == [0]
    # a decimal a spreadsheet saves as written is written as it is
    review = _review(tmp_path, [{**row, "label_uri": "1.5"}])
    with open(review, newline="", encoding="utf-8") as handle:
        assert dict(zip(*csv.reader(handle), strict=True))["label_uri"] == "1.5"


def _as_a_spreadsheet_reads_a_date(cell):
    """A cell a spreadsheet takes for a date (Excel's 3/4 as 4-Mar, Jan-5 and MARCH1 as
    a day of the month; LibreOffice's D.M.Y and ISO Y-M-D) saved as a date; a cell
    starting with ``'`` is text, kept."""
    return "2024-01-05" if not cell.startswith("'") and re.fullmatch(
        r"[0-9]+[-/.][0-9]+(?:[-/.][0-9]*)?|(?i:[a-z]+[-/ ]?[0-9]+|[0-9]+[-/ ]?[a-z]+)",
        cell) else cell


@pytest.mark.parametrize("code", ["1-2", "3/4", "1/2/3", "12-2024", "2024-01-05", "1.2.3",
                                  "1.2.", "Jan-5", "5-Jan", "MARCH1", "Sept2", "jan 5",
                                  "5 Dec 2024", "September 30, 2024", "1:2", "10:30:00"])
def test_a_date_like_code_or_id_starts_with_a_quote_and_reads_back(tmp_path, code):
    """A label_uri or doc_id a spreadsheet reads as a date or time (1-2, 3/4, 12-2024,
    1.2.3, Jan-5, MARCH1: Excel's and LibreOffice's date input) was written bare, and
    saved as the date ('unknown label 2024-01-05'): it starts with ' as 0111 does, and
    reads back as written."""
    space = LabelSpace.from_uris([code, "E11.9"])
    row = {**_row(0, "missing", code, "Wheat farm"), "label_name": "", "doc_id": code}
    review = _review(tmp_path, [row])
    with open(review, newline="", encoding="utf-8") as handle:
        cells = dict(zip(*csv.reader(handle), strict=True))
    assert (cells["label_uri"], cells["doc_id"]) == ("'" + code, "'" + code)
    saved = _resave(review, tmp_path / "saved.csv", _as_a_spreadsheet_reads_a_date)
    decisions, _ = read_decisions(saved, space)
    assert [(d.label_id, d.doc_id) for d in decisions] == [(0, code)]
    # one that starts with ' is written with one more, and read back so
    review = _review(tmp_path, [{**row, "doc_id": "'" + code}])
    decisions, _ = read_decisions(review, space)
    assert [d.doc_id for d in decisions] == ["'" + code]


@pytest.mark.parametrize("code", [
    # German, French, Spanish, Italian, Dutch, Finnish, Swedish dates (Excel in those
    # locales reads a month's name there), in either case, accents and all or bare
    "Mär 3", "3. März 2024", "MRZ-3", "Jänner 5", "3-Okt", "Dez 24", "janv. 2", "3 mai",
    "5 déc. 2024", "févr-5", "aout 5", "5 ene", "ago-3", "3 mag", "giu 5",
    "5 lug", "ott-1", "5 mrt", "mei-3", "3 maj", "tammi 5", "5. joulukuuta 2024",
    "marraskuu 30", "5 set", "out-5", "MÄR 3",
    # a mixed fraction: a number to Excel (1 2/4 saved as 1 1/2)
    "1 1/2", "12 3/4", "0 1/2", "1 2/4"])
def test_a_european_date_or_mixed_fraction_starts_with_a_quote_and_reads_back(tmp_path,
                                                                               code):
    """Only English month names were protected: a label_uri or doc_id Excel reads as a
    date in a German or French locale (Mär 3, janv. 2, 3 mai), and a mixed fraction (a
    number to Excel), were written bare, saved as the date or number, and the row named
    an unknown label or document. They start with ' and read back as written."""
    space = LabelSpace.from_uris([code, "E11.9"])
    row = {**_row(0, "missing", code, "Wheat farm"), "label_name": "", "doc_id": code}
    review = _review(tmp_path, [row])
    with open(review, newline="", encoding="utf-8") as handle:
        cells = dict(zip(*csv.reader(handle), strict=True))
    assert (cells["label_uri"], cells["doc_id"]) == ("'" + code, "'" + code)
    decisions, _ = read_decisions(review, space)
    assert [(d.label_id, d.doc_id) for d in decisions] == [(0, code)]
    review = _review(tmp_path, [{**row, "doc_id": "'" + code}])
    decisions, _ = read_decisions(review, space)
    assert [d.doc_id for d in decisions] == ["'" + code]


@pytest.mark.parametrize("code", ["E11.9", "1.5", "H04L 9/32", "541511", "u:1-2", "Janet5x",
                                  "1-2-3-4", "12345-1", "May the 4th", "Marseille 13",
                                  "1 1", "Dezimal 5", "1 1/2x"])
def test_a_code_a_spreadsheet_keeps_is_written_as_it_is(tmp_path, code):
    row = {**_row(0, "missing", code, "Wheat farm"), "label_name": ""}
    review = _review(tmp_path, [row])
    with open(review, newline="", encoding="utf-8") as handle:
        assert dict(zip(*csv.reader(handle), strict=True))["label_uri"] == code


@pytest.mark.parametrize("key", [None, "", "abc"])
def test_an_accepted_row_without_a_fingerprint_names_the_field(tmp_path, corpus, key):
    row = _row(2, "missing", "http://x/snow", "Snowfall in the hills")
    review = tmp_path / "review.jsonl"
    review.write_text(json.dumps({**row, "doc_key": key}) + "\n", encoding="utf-8")
    with pytest.raises(ReviewFormatError, match="doc_key must be the 16 hexadecimal") as error:
        apply_review(corpus, review, tmp_path / "fixed.tsv", SPACE)
    assert str(error.value).startswith(f"{review}:1: ")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_row_added_by_hand_without_a_fingerprint_says_where_to_copy_it_from(
        tmp_path, corpus, fmt):
    # a reviewer adding a label the audit never proposed copies a row and leaves doc_key
    # blank: "must be the 16 hexadecimal digits the audit wrote" did not say where to
    # find them, where another row of the same document holds them
    text = "Snowfall in the hills"
    audited = _row(2, "wrong", "http://x/rain", text, decision="")
    added = {**_row(2, "missing", "http://x/snow", text), "doc_key": ""}
    def _review_of(*rows):
        if fmt == "csv":
            return _review(tmp_path, list(rows))
        path = tmp_path / "review.jsonl"  # write_review writes JSONL undecided
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path

    review = _review_of(audited, added)
    first = 2 if fmt == "csv" else 1
    with pytest.raises(ReviewFormatError, match=rf":{first + 1}: doc_key must be the 16 "
                       rf"hexadecimal digits the audit wrote, found ''; line {first} names "
                       rf"the same document \(doc 2\): copy its doc_key, "
                       rf"'{doc_key(text)}'$"):
        apply_review(corpus, review, tmp_path / "fixed.tsv", SPACE)
    review = _review_of(added)  # no other row of that document
    with pytest.raises(ReviewFormatError, match=r"found ''; no other row names document 2: "
                       r"its doc_key is the first 16 hexadecimal digits of the SHA-256 of "
                       r"its text \(UTF-8\), tagsmith.audit.review.doc_key\(text\)$"):
        apply_review(corpus, review, tmp_path / "fixed.tsv", SPACE)
    assert not (tmp_path / "fixed.tsv").exists()


@pytest.mark.parametrize("ids", [("a", "b", "c"),
                                 # numbered documents: 100001 is within a relative 1e-5
                                 # of 100000, which the first check took for the same id
                                 ("100000", "100001", "100002")])
def test_a_document_of_the_same_text_does_not_take_another_s_correction(tmp_path, ids):
    # empty texts (or boilerplate) share a fingerprint: with a document deleted above a
    # run of them, the review's document number named the next one, which silently lost
    # the label instead
    docs = [{"id": doc_id, "text": "", "labels": ["http://x/rain"]} for doc_id in ids]
    row = {**_row(1, "wrong", "http://x/rain", ""), "doc_id": ids[1]}
    review = _review(tmp_path, [row])
    corpus = _jsonl_corpus(tmp_path, *docs)
    apply_review(corpus, review, tmp_path / "fixed.jsonl", SPACE)
    assert [r.labels for r in read_records(tmp_path / "fixed.jsonl")] == \
        [("http://x/rain",), (), ("http://x/rain",)]
    # the first deleted since the audit: document 1 is the next one now; the row is
    # matched by its id (as audit --reviewed matches it), not given to the next one
    corpus = _jsonl_corpus(tmp_path, *docs[1:])
    stats = apply_review(corpus, review, tmp_path / "moved.jsonl", SPACE)
    assert [r.labels for r in read_records(tmp_path / "moved.jsonl")] == \
        [(), ("http://x/rain",)]
    assert stats["n_matched_elsewhere"] == 1
    # where no document has its id, nothing is matched: refused as before
    corpus = _jsonl_corpus(tmp_path, docs[0], docs[2])
    with pytest.raises(ReviewFormatError, match=f"has id '{ids[2]}', the review names id "
                                                f"'{ids[1]}'") as error:
        apply_review(corpus, review, tmp_path / "wrong.jsonl", SPACE)
    assert str(error.value).startswith(f"{review}:2: ")
    assert not (tmp_path / "wrong.jsonl").exists()


@pytest.mark.parametrize(("doc_id", "as_saved"), [("0042", "42"),
                                                  ("1234567890123456", "1.23457E+15"),
                                                  ("-7", "-7"), ("b", "")])
def test_a_doc_id_a_spreadsheet_rewrote_still_names_its_document(tmp_path, doc_id, as_saved):
    corpus = _jsonl_corpus(tmp_path, {"id": doc_id, "text": "Rain", "labels": []})
    review = _review(tmp_path, [{**_row(0, "missing", "http://x/rain", "Rain"),
                                 "doc_id": doc_id}])
    with open(review, newline="", encoding="utf-8") as handle:
        cells = list(csv.reader(handle))
    column = cells[0].index("doc_id")
    assert _unquote_formula(cells[1][column]) == doc_id
    cells[1][column] = as_saved
    with open(review, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(cells)
    assert apply_review(corpus, review, tmp_path / "fixed.jsonl", SPACE)["n_added"] == 1


@pytest.mark.parametrize(("doc_id", "as_saved"), [("0042", "42"),
                                                  ("1234567890123456", "1.23457E+15")])
def test_a_doc_id_a_spreadsheet_rewrote_names_its_document_after_documents_moved(
        tmp_path, caplog, doc_id, as_saved):
    """Where the row's number no longer fits (a document added in front), its rows were
    matched by the exact id: a doc_id cell a spreadsheet rewrote (42 for 0042), which
    names its document at its number, named none, and the correction was dropped."""
    review = _review(tmp_path, [{**_row(0, "missing", "http://x/rain", "Rain"),
                                 "doc_id": doc_id},
                                {**_row(1, "missing", "http://x/sun", "Sun"), "doc_id": "s"}])
    with open(review, newline="", encoding="utf-8") as handle:
        cells = list(csv.reader(handle))
    cells[1][cells[0].index("doc_id")] = as_saved
    with open(review, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(cells)
    new = {"id": "new", "text": "Hail", "labels": []}
    corpus = _jsonl_corpus(tmp_path, new, {"id": doc_id, "text": "Rain", "labels": []},
                           {"id": "s", "text": "Sun", "labels": []})
    out = tmp_path / "fixed.jsonl"
    with caplog.at_level("WARNING", logger="tagsmith"):
        stats = apply_review(corpus, review, out, SPACE)
    assert [r.labels for r in read_records(out)] == [(), ("<http://x/rain>",),
                                                     ("<http://x/sun>",)]
    assert (stats["n_added"], stats["n_matched_elsewhere"], stats["n_not_found"]) == (2, 2, 0)
    # its document's text edited since: counted as such, not as a row matched nowhere
    corpus = _jsonl_corpus(tmp_path, new, {"id": doc_id, "text": "Rain, edited", "labels": []},
                           {"id": "s", "text": "Sun", "labels": []})
    stats = apply_review(corpus, review, tmp_path / "edited.jsonl", SPACE)
    assert (stats["n_added"], stats["n_text_changed"], stats["n_not_found"]) == (1, 1, 0)


def _unquote_formula(cell):
    """A doc_id cell as read back: a ' before a formula or a number a spreadsheet
    would change (0042) stripped."""
    return cell[1:] if cell.startswith("'") else cell


def test_a_jsonl_review_row_naming_a_key_twice_is_refused_with_file_line_and_key(tmp_path,
                                                                                corpus):
    """json.loads kept the last of two "decision" fields silently: a row the reviewer
    rejected in one field and accepted in the other was applied."""
    rows = [_row(0, "missing", "http://x/sun", "Heavy rain all day"),
            _row(2, "missing", "http://x/snow", "Snowfall in the hills")]
    review = _review(tmp_path, rows, fmt="jsonl")
    lines = review.read_text(encoding="utf-8").splitlines(True)
    lines[1] = lines[1].replace('"decision": null', '"decision": "reject", "decision": "accept"')
    review.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ReviewFormatError, match="key 'decision' given twice") as error:
        read_decisions(review, SPACE)
    assert str(error.value).startswith(f"{review}:2: ")
    out = tmp_path / "fixed.tsv"
    with pytest.raises(ReviewFormatError, match="'decision' given twice"):
        apply_review(corpus, review, out, SPACE)
    assert not out.exists()


@pytest.mark.parametrize("second", ["Decision", "decision ", "doc_key"])
def test_a_review_csv_header_naming_a_read_column_twice_is_refused(tmp_path, corpus, second):
    """A second "Decision" column (added for another reviewer, left empty) hid the first:
    the row dict kept the last cell, so every acceptance read as undecided, apply-review
    wrote the corpus unchanged, and a re-run audit overwrote the reviewed file."""
    from tagsmith.pipeline.audit import check_output

    rows = [_row(0, "missing", "http://x/sun", "Heavy rain all day"),
            _row(2, "missing", "http://x/snow", "Snowfall in the hills")]
    review = _review(tmp_path, rows)
    lines = review.read_text(encoding="utf-8").splitlines(True)
    lines[0] = lines[0].rstrip("\r\n") + f",{second}\r\n"
    lines[1:] = [line.rstrip("\r\n") + ",\r\n" for line in lines[1:]]
    review.write_text("".join(lines), encoding="utf-8")
    name = second.strip().lower()
    with pytest.raises(ReviewFormatError, match=f"'{name}' given twice") as error:
        read_decisions(review, SPACE)
    assert str(error.value).startswith(f"{review}:1: ")
    out = tmp_path / "fixed.tsv"
    with pytest.raises(ReviewFormatError, match="given twice"):
        apply_review(corpus, review, out, SPACE)
    assert not out.exists()
    with pytest.raises(DataError, match="refusing to overwrite"):
        check_output(tmp_path)


def test_a_review_csv_may_pad_its_header_with_several_unnamed_columns(tmp_path, corpus):
    rows = [_row(0, "missing", "http://x/sun", "Heavy rain all day")]
    review = _review(tmp_path, rows)
    lines = review.read_text(encoding="utf-8").splitlines(True)
    lines = [line.rstrip("\r\n") + ",,\r\n" for line in lines]
    review.write_text("".join(lines), encoding="utf-8")
    assert read_decisions(review, SPACE)[1]["accepted"] == 1


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("doc_id", ["'-4", "''=x", "-4", "'quoted'"])
def test_a_document_id_starting_with_a_quote_reads_back_as_written(tmp_path, fmt, doc_id):
    """A CSV cell's leading ' was stripped when a formula character followed it, from an
    id that began with one too ('-4 read back as -4), and from a JSONL review's, which
    the writer never quotes: the accepted row failed as "the corpus was changed"."""
    corpus = _jsonl_corpus(tmp_path, {"id": doc_id, "text": "Heavy rain all day",
                                      "labels": ["<http://x/rain>"]})
    row = {**_row(0, "missing", "http://x/sun", "Heavy rain all day"), "doc_id": doc_id}
    review = _review(tmp_path, [row], fmt=fmt)
    if fmt == "jsonl":  # written undecided
        review.write_text(review.read_text(encoding="utf-8").replace(
            '"decision": null', '"decision": "accept"'), encoding="utf-8")
    out = tmp_path / "fixed.jsonl"
    stats = apply_review(corpus, review, out, SPACE)
    assert stats["n_added"] == 1
    assert [r.labels for r in read_records(out)] == [("<http://x/rain>", "<http://x/sun>")]


def _as_written_before(review, column, cell):
    """``review`` with its one row's ``column`` cell ``cell``: the cell an earlier
    tagsmith wrote, whose rule protected fewer values (the id or code as it is)."""
    with open(review, newline="", encoding="utf-8") as handle:
        cells = list(csv.reader(handle))
    cells[1][cells[0].index(column)] = cell
    with open(review, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(cells)
    return review


@pytest.mark.parametrize("value", ["'1-2", "'0111", "'Jan-5", "''x",
                                   # bare before their protection in this rule
                                   "'Mär 3", "'janv. 2", "'1 1/2"])
def test_an_old_review_s_id_or_code_starting_with_a_quote_reads_back_as_written(tmp_path,
                                                                                 value):
    """An id '1-2 (a literal ' in it) was written bare before 1-2 was protected, and
    read back now as 1-2 (the ' taken for the protection): the accepted row failed as
    "the corpus was changed", and a code '1-2 as an unknown label. A cell is read with
    its ' stripped where that names the document (the label), and as it is otherwise."""
    space = LabelSpace.from_uris(["http://x/rain", value])
    corpus = _jsonl_corpus(tmp_path, {"id": value, "text": "Heavy rain all day",
                                      "labels": ["<http://x/rain>"]})
    row = {**_row(0, "missing", value, "Heavy rain all day"), "label_name": "",
           "doc_id": value}
    review = _review(tmp_path, [row])
    # as this writer writes it (one more '), and as an earlier one wrote it (bare)
    for column in ("", "doc_id", "label_uri"):
        if column:
            _as_written_before(review, column, value)
        decisions, _ = read_decisions(review, space)
        assert [d.label_id for d in decisions] == [1]
        out = tmp_path / "fixed.jsonl"
        assert apply_review(corpus, review, out, space, overwrite=True)["n_added"] == 1
        assert [r.labels for r in read_records(out)] == [("<http://x/rain>", f"<{value}>")]
    # where the id is the one without the ' (the cell this writer writes for it), so
    # is the reading; a document of another id is matched by its text where it alone
    # has it (the row's id names no document), refused where two documents have it
    for doc_id, named in ((value[1:], True), ("other", True), ("other", False)):
        corpus = _jsonl_corpus(tmp_path, *[{"id": f"{doc_id}{n}", "text": "Heavy rain all day",
                                            "labels": []} for n in ("", "2")[:2 - named]])
        if named:
            assert apply_review(corpus, review, out, space, overwrite=True)["n_added"] == 1
        else:
            with pytest.raises(ReviewFormatError, match="the review names id"):
                apply_review(corpus, review, out, space, overwrite=True)


def test_an_acceptance_repeated_is_counted_and_applied_once(tmp_path, corpus):
    """Two rows accepting the same candidate counted as 2 accepted against 1 label
    added: the summary did not add up."""
    row = _row(2, "missing", "http://x/snow", "Snowfall in the hills")
    rows = [row, _row(1, "wrong", "http://x/rain", "Bright sun and heat"), dict(row)]
    decisions, counts = read_decisions(_review(tmp_path, rows), SPACE)
    assert len(decisions) == 2 and (counts["accepted"], counts["repeated"]) == (2, 1)
    stats = apply_review(corpus, _review(tmp_path, rows), tmp_path / "fixed.tsv", SPACE)
    assert (stats["review_accepted"], stats["review_repeated"]) == (2, 1)
    assert stats["review_accepted"] == \
        stats["n_added"] + stats["n_removed"] + stats["n_already_applied"]
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("".join(f"<{uri}>\t{uri.rsplit('/', 1)[1]}\n" for uri in SPACE.uris),
                     encoding="utf-8")
    tagsmith_cli._register_commands()
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(tmp_path / "review.csv"), "-o",
        str(tmp_path / "fixed2.tsv"), "--vocab", str(vocab)])
    assert result.exit_code == 0, result.output
    assert "(2 accepted, 0 rejected" in result.output
    assert "1 row of" in result.output and "repeats an earlier" in result.output
    assert "applied once" in result.output


def test_the_skipped_lines_warning_names_on_error_as_the_caller_typed_it(tmp_path, caplog):
    """The warning said "(--on-error skip)" to Python callers too, who passed on_error."""


    source = tmp_path / "c.tsv"
    source.write_text("Heavy rain\t<http://x/rain>\nbroken\tline\twith three columns\n"
                      "Sun\n", encoding="utf-8")
    review = _review(tmp_path, [_row(1, "missing", "http://x/sun", "Sun")])
    caplog.set_level("WARNING", logger="tagsmith")
    apply_review(source, review, tmp_path / "out.tsv", SPACE, on_error="skip")
    assert "skipped (on_error skip)" in caplog.text and "--on-error" not in caplog.text
    caplog.clear()
    result = _apply_review_cli(tmp_path, source, review, tmp_path / "out2.tsv")
    assert result.exit_code == 0, result.output
    assert "skipped (--on-error skip)" in caplog.text and "on_error" not in caplog.text


def test_the_cli_renames_parameters_in_a_warning_but_not_in_the_paths_it_quotes(tmp_path,
                                                                               caplog):
    """The CLI's option names replaced every ``on_error`` of the whole message, so a
    corpus under a folder named ``on_error`` was quoted as ``.../--on-error/c.tsv``."""


    folder = tmp_path / "on_error"
    folder.mkdir()
    source = folder / "c.tsv"
    source.write_text("Heavy rain\t<http://x/rain>\nbroken\tline\twith three columns\n"
                      "Sun\n", encoding="utf-8")
    review = _review(tmp_path, [_row(1, "missing", "http://x/sun", "Sun")])
    caplog.set_level("WARNING", logger="tagsmith")
    result = _apply_review_cli(tmp_path, source, review, tmp_path / "out.tsv")
    assert result.exit_code == 0, result.output
    assert "skipped (--on-error skip)" in caplog.text
    assert f"{source}: 1 malformed line " in caplog.text


def _apply_review_cli(tmp_path, source, review, output):
    """``tagsmith apply-review SOURCE REVIEW -o OUTPUT --on-error skip`` in process, with
    a vocabulary of :data:`SPACE` written under ``tmp_path``."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("".join(f"<{uri}>\t{uri.rsplit('/', 1)[1]}\n" for uri in SPACE.uris),
                     encoding="utf-8")
    tagsmith_cli._register_commands()
    return CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(source), str(review), "-o", str(output), "--vocab", str(vocab),
        "--on-error", "skip"])


def test_the_cli_refuses_an_existing_output_naming_its_own_flag(tmp_path, corpus):
    review = _review(tmp_path, [_row(2, "missing", "http://x/snow", "Snowfall in the hills")])
    existing = tmp_path / "fixed.tsv"
    existing.write_text("an earlier result\n", encoding="utf-8")
    result = _apply_review_cli(tmp_path, corpus, review, existing)
    assert result.exit_code == 2
    assert "option '-o/--output' must be a file that does not exist yet" in result.output
    assert "--force" in result.output and existing.read_text() == "an earlier result\n"


def test_the_cli_calls_a_folder_given_as_the_output_a_folder(tmp_path, corpus):
    # it was refused as "must be a file that does not exist yet (pass --force)", and
    # --force then said it is a directory: the flag suggested was no use
    review = _review(tmp_path, [_row(2, "missing", "http://x/snow", "Snowfall in the hills")])
    folder = tmp_path / "fixed.tsv"
    folder.mkdir()
    result = _apply_review_cli(tmp_path, corpus, review, folder)
    assert result.exit_code == 3, result.output
    assert f"{folder}: is a directory, expected a file to write" in result.output
    assert "--force" not in result.output


def _with_doc_cell(review, cell):
    """``review`` (CSV) with the ``doc`` cell of its first row replaced by ``cell``, as a
    spreadsheet saving a number column might write it."""
    with open(review, newline="", encoding="utf-8") as handle:
        cells = list(csv.reader(handle))
    cells[1][cells[0].index("doc")] = cell
    with open(review, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(cells)
    return review


@pytest.mark.parametrize("cell", ["2.0", "2.00", " 2.0 ", "+2.0"])
def test_a_csv_doc_a_spreadsheet_wrote_as_a_whole_decimal_names_its_document(tmp_path, corpus,
                                                                             cell):
    """A JSONL doc of 2.0 named document 2; the same number in a CSV cell ("2.0", what a
    spreadsheet writes for a number column) was refused."""
    row = _row(2, "missing", "http://x/snow", "Snowfall in the hills")
    review = _with_doc_cell(_review(tmp_path, [row]), cell)
    decisions, _ = read_decisions(review, SPACE)
    assert [(d.doc, d.label_id) for d in decisions] == [(2, 2)]
    stats = apply_review(corpus, review, tmp_path / "fixed.tsv", SPACE)
    assert stats["n_added"] == 1


@pytest.mark.parametrize("cell, message", [
    ("2.5", "doc must be a document number"), ("2.0e0", "doc must be a document number"),
    ("2,0", "doc must be a document number"), ("2.", "doc must be a document number"),
    ("1.99999999999999999999", "doc must be a document number"),
    ("-2.0", "doc must be >= 0")])
def test_a_csv_doc_that_is_no_exact_whole_number_is_refused_naming_file_and_line(
        tmp_path, corpus, cell, message):
    row = _row(2, "missing", "http://x/snow", "Snowfall in the hills")
    review = _with_doc_cell(_review(tmp_path, [row]), cell)
    out = tmp_path / "fixed.tsv"
    with pytest.raises(ReviewFormatError, match=message) as error:
        apply_review(corpus, review, out, SPACE)
    assert str(error.value).startswith(f"{review}:2: ") and not out.exists()


def test_a_repeated_acceptance_is_checked_against_its_document_as_the_first_is(tmp_path,
                                                                               corpus):
    """Of rows accepting one candidate only the first was checked: a copy audited on
    another text (a row whose doc number was edited to the first's) went through."""
    first = _row(2, "missing", "http://x/snow", "Snowfall in the hills")
    stray = _row(2, "missing", "http://x/snow", "Bright sun and heat", decision="yes")
    review = _review(tmp_path, [first, _row(1, "wrong", "http://x/rain",
                                            "Bright sun and heat"), stray])
    # not applied to document 2: the copy's text is document 1's, which takes it (rows
    # are matched by text, as audit --reviewed matches them), said so
    out = tmp_path / "fixed.tsv"
    stats = apply_review(corpus, review, out, SPACE)
    assert out.read_text(encoding="utf-8").splitlines()[1:3] == [
        "Bright sun and heat\t<http://x/sun> <http://x/snow>",
        "Snowfall in the hills\t<http://x/snow>"]
    assert stats["n_matched_elsewhere"] == 1
    # the id too, where the corpus has ids: the copy names another document's (c), which
    # takes it, not b
    docs = [{"id": doc_id, "text": "", "labels": ["http://x/rain"]} for doc_id in "abc"]
    ids = _jsonl_corpus(tmp_path, *docs)
    rows = [{**_row(1, "wrong", "http://x/rain", ""), "doc_id": "b"},
            {**_row(1, "wrong", "http://x/rain", ""), "doc_id": "c"}]
    review = _review(tmp_path, rows)
    apply_review(ids, review, tmp_path / "fixed.jsonl", SPACE)
    assert [r.labels for r in read_records(tmp_path / "fixed.jsonl")] == \
        [("http://x/rain",), (), ()]
    # of a corpus whose c is gone, it is matched nowhere: not applied, said so
    stats = apply_review(_jsonl_corpus(tmp_path, *docs[:2]), review,
                         tmp_path / "gone.jsonl", SPACE)
    assert (stats["n_removed"], stats["n_not_found"]) == (1, 1)
    rows[1]["doc_id"] = "b"  # a true copy: applied once, as before
    stats = apply_review(ids, _review(tmp_path, rows), tmp_path / "copy.jsonl", SPACE)
    assert (stats["n_removed"], stats["review_repeated"]) == (1, 1)


@pytest.mark.parametrize("cell", ["snow", "<snow>"])
def test_a_label_name_in_the_label_uri_column_says_which_uri_to_write(tmp_path, corpus, cell):
    # "snow" is in the vocabulary, as a name: "not in the vocabulary" alone sent the
    # reviewer looking for a label that is there
    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills")]
    rows[0]["label_uri"] = cell
    review = _review(tmp_path, rows)
    with pytest.raises(ReviewFormatError, match=r":2: unknown label .* is a name or "
                       r"alternative label of a label: the label_uri column takes its URI, 'http://x/snow'"):
        apply_review(corpus, review, tmp_path / "fixed.tsv", SPACE)
    rows[0]["label_uri"] = "hail"  # no label's name either: no hint
    review = _review(tmp_path, rows)
    with pytest.raises(ReviewFormatError, match=r"\(not in the vocabulary\)$"):
        apply_review(corpus, review, tmp_path / "fixed.tsv", SPACE)


@pytest.mark.parametrize("cell", ["Snow", " SNOW ", "<Snow>", "snowfall"])
def test_a_label_name_in_another_case_in_the_label_uri_column_says_which_uri_to_write(
        tmp_path, cell):
    # a reviewer typing the label by name types it as the page shows it ("Snow"), or an
    # alternative label: "unknown label 'Snow' (not in the vocabulary)" said the label
    # was not there, where "snow" alone was told to write its URI
    from tagsmith.data.labelspace import Label

    space = LabelSpace([Label("http://x/rain", {"en": "rain"}),
                        Label("http://x/snow", {"en": "snow"}, {"en": ["Snowfall"]})])
    corpus = tmp_path / "c.tsv"
    corpus.write_text("Heavy rain\t<http://x/rain>\nSnowfall in the hills\n", encoding="utf-8")
    rows = [{**_row(1, "missing", "http://x/snow", "Snowfall in the hills"),
             "label_uri": cell, "label_name": ""}]
    review = _review(tmp_path, rows)
    with pytest.raises(ReviewFormatError, match=r":2: unknown label .* is a name of a label "
                       r"\(another case or spacing aside\): the label_uri column takes its "
                       r"URI, 'http://x/snow'$"):
        apply_review(corpus, review, tmp_path / "fixed.tsv", space)
    assert not (tmp_path / "fixed.tsv").exists()
    # the alternative label as written is read by lookup (since it takes them): said so
    review = _review(tmp_path, [{**rows[0], "label_uri": "Snowfall"}])
    with pytest.raises(ReviewFormatError, match=r":2: unknown label .* is a name or "
                       r"alternative label of a label: the label_uri column takes its "
                       r"URI, 'http://x/snow'$"):
        apply_review(corpus, review, tmp_path / "fixed.tsv", space)


@pytest.mark.parametrize("cell, says", [
    ("111", r"it is the code <0111> without its leading zero \(a spreadsheet saving the "
            r"codes as numbers drops it: format the column as text\); write 0111$"),
    ("e11.9", r"it is the code <E11.9> written in another case or without its "
              r"punctuation \(codes match exactly\); write E11.9$")])
def test_a_code_label_uri_a_spreadsheet_made_a_number_of_names_the_code(tmp_path, cell,
                                                                        says):
    # a review of a code list's labels (SIC 0111) saved by a spreadsheet holds 111 in
    # label_uri, its leading zero dropped as a number cell's: "unknown label '111' (not
    # in the vocabulary)" named no code
    from tagsmith.data.labelspace import Label

    space = LabelSpace([Label("0111", {"en": "Wheat"}), Label("E11.9", {"en": "T2D"})])
    corpus = tmp_path / "c.tsv"
    corpus.write_text("Wheat farm\t<E11.9>\nDiabetes\n", encoding="utf-8")
    rows = [{**_row(1, "missing", "0111", "Diabetes"), "label_uri": cell, "label_name": ""}]
    review = _review(tmp_path, rows)
    with pytest.raises(ReviewFormatError, match=r":2: unknown label .* \(not in the "
                       r"vocabulary\); " + says):
        apply_review(corpus, review, tmp_path / "fixed.tsv", space)
    assert not (tmp_path / "fixed.tsv").exists()


@pytest.mark.parametrize("name, says", [
    ("Snow", r"label_uri is empty; label_name 'Snow' is a name of the label of URI "
             r"'http://x/snow': write that URI in label_uri$"),
    ("", r"label_uri is empty: write the URI of the label to add or remove \(the "
         r"label_uri column\), or reject the row$")])
def test_an_accepted_row_with_an_empty_label_uri_says_it_is_empty(tmp_path, corpus, name,
                                                                   says):
    # a row added by hand, the label typed in label_name alone: "unknown label '' (not
    # in the vocabulary)" named no label and no column to fill in
    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills")]
    rows[0].update(label_uri="", label_name=name)
    review = _review(tmp_path, rows)
    with pytest.raises(ReviewFormatError, match=":2: " + says):
        apply_review(corpus, review, tmp_path / "fixed.tsv", SPACE)
    assert not (tmp_path / "fixed.tsv").exists()
    rows[0]["decision"] = "reject"  # a rejection changes nothing: no error
    stats = apply_review(corpus, _review(tmp_path, rows), tmp_path / "fixed.tsv", SPACE)
    assert (stats["n_added"], stats["review_rejected"]) == (0, 1)


def test_a_label_name_several_labels_share_in_the_label_uri_column_lists_them(tmp_path):
    space = LabelSpace.from_uris(["http://x/a", "http://x/b"],
                                 names={"http://x/a": "bank", "http://x/b": "bank"})
    corpus = tmp_path / "c.tsv"
    corpus.write_text("River bank\t<http://x/a>\nBank loan\n", encoding="utf-8")
    rows = [_row(1, "missing", "bank", "Bank loan")]
    review = _review(tmp_path, rows)
    with pytest.raises(ReviewFormatError, match=r"label name 'bank' is ambiguous: 2 concepts "
                       r"have it \(<http://x/a>, <http://x/b>\)"):
        apply_review(corpus, review, tmp_path / "fixed.tsv", space)


def test_a_document_beyond_a_large_corpus_is_counted_as_the_rest_of_the_output_counts(
        tmp_path):
    # "the corpus has 4000 documents" beside "wrote 4,000 documents": thousands separated
    # like every other count, and the numbering from 0 said (document 4000 is past the end)
    source = tmp_path / "c.tsv"
    source.write_text("".join(f"text {i}\t<http://x/rain>\n" for i in range(4000)),
                      encoding="utf-8")
    review = _review(tmp_path, [_row(4000, "missing", "http://x/sun", "text 4000")])
    with pytest.raises(ReviewFormatError, match=r":2: document 4,000 does not exist: the "
                       r"corpus has 4,000 documents, numbered 0 to 3,999$"):
        apply_review(source, review, tmp_path / "fixed.tsv", SPACE)
    source.write_text("only\n", encoding="utf-8")
    with pytest.raises(ReviewFormatError, match=r"document 4,000 does not exist: the corpus "
                       r"has 1 document \(document 0\)$"):
        apply_review(source, review, tmp_path / "fixed.tsv", SPACE)


def test_a_label_the_corpus_never_uses_without_a_vocabulary_says_to_give_the_audits(tmp_path):
    # without --vocab the label space is the corpus's own labels; "not in the
    # vocabulary" sent the reviewer looking in a vocabulary that was never given
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    source = tmp_path / "c.tsv"
    source.write_text("Heavy rain\t<http://x/rain>\nSnowfall in the hills\n", encoding="utf-8")
    review = _review(tmp_path, [_row(1, "missing", "http://x/snow", "Snowfall in the hills")])
    tagsmith_cli._register_commands()
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(source), str(review), "-o", str(tmp_path / "out.tsv")])
    assert result.exit_code == 3
    assert (f"{review}:2: unknown label 'http://x/snow' (not in the labels {source} uses; "
            "no --vocab or --bundle was given: give the audit's)") in result.output
    result = _apply_review_cli(tmp_path, source, review, tmp_path / "out.tsv")
    assert result.exit_code == 0, result.output
    assert [r.labels for r in read_records(tmp_path / "out.tsv")] == [
        ("<http://x/rain>",), ("<http://x/snow>",)]


@pytest.mark.parametrize("content, says", [
    ("", "no header: the file is empty"),
    ("\n" + "rank,decision,kind,label_uri,doc,doc_key\n", "no header: line 1 holds no column "
     "names"),
    (",,,\n", "no header: line 1 holds no column names"),
])
def test_a_review_without_a_header_says_so(tmp_path, corpus, content, says):
    # these failed as "missing columns decision, kind, ...; the header has []"
    review = tmp_path / "review.csv"
    review.write_text(content, encoding="utf-8")
    with pytest.raises(ReviewFormatError) as error:
        apply_review(corpus, review, tmp_path / "fixed.tsv", SPACE)
    assert str(error.value).startswith(f"{review}:1: {says} (the audit's review.csv starts "
                                       "with rank,decision,kind,...)")


def test_a_repeated_document_id_is_refused_by_the_audit_and_apply_review(tmp_path):
    """Two records of one id were read by the audit and by apply-review: the review's
    doc_id, which apply-review checks against the document, could not tell them apart.
    With the first of a run of empty texts deleted, the correction of the second went
    to the third, of the same id, without a word. Now both refuse the corpus, naming
    the id and both lines; training only warns (ids are not used there)."""
    from tagsmith.pipeline.audit import read_audit_corpus

    docs = [{"id": doc_id, "text": "", "labels": ["http://x/rain"]}
            for doc_id in ("a", "b", "b")]
    corpus = _jsonl_corpus(tmp_path, *docs)
    message = "c.jsonl:3: the id 'b' is the id of the document at line 2 too"
    with pytest.raises(DataError, match=message):
        read_audit_corpus(corpus, SPACE)
    row = {**_row(1, "wrong", "http://x/rain", ""), "doc_id": "b"}
    review = _review(tmp_path, [row])
    with pytest.raises(DataError, match=message):
        apply_review(corpus, review, tmp_path / "fixed.jsonl", SPACE)
    assert not (tmp_path / "fixed.jsonl").exists()
    _jsonl_corpus(tmp_path, *docs[1:])  # the first deleted since the audit
    with pytest.raises(DataError, match="c.jsonl:2: the id 'b' is the id of the document "
                                        "at line 1 too"):
        apply_review(corpus, review, tmp_path / "wrong.jsonl", SPACE)
    assert not (tmp_path / "wrong.jsonl").exists()
    # records without an id (a TSV corpus) are not checked
    assert len(read_audit_corpus(_jsonl_corpus(tmp_path, *[
        {"text": "", "labels": []}] * 2), SPACE).texts) == 2


def test_apply_review_writes_a_repeated_id_no_decision_names_and_warns(tmp_path, caplog):
    """A corpus with a repeated id was refused even when no decision named either
    document of it: every decision was still checked by number, text and id. Now it is
    applied, the documents of the repeated id written as they were, with a warning
    naming the id and both lines; a decision naming either of them is refused, naming
    the id, both lines and the review's line."""
    docs = [{"id": "a", "text": "rain all day", "labels": ["http://x/rain"]},
            {"id": "b", "text": "sun at last", "labels": []},
            {"id": "c", "text": "grey skies", "labels": []},
            {"id": "a", "text": "storm and rain", "labels": ["http://x/rain"]}]
    corpus = _jsonl_corpus(tmp_path, *docs)
    row = {**_row(1, "missing", "http://x/sun", "sun at last"), "doc_id": "b"}
    output = tmp_path / "fixed.jsonl"
    with caplog.at_level("WARNING", logger="tagsmith"):
        stats = apply_review(corpus, _review(tmp_path, [row]), output, SPACE)
    assert (stats["n_docs"], stats["n_added"], stats["n_docs_changed"]) == (4, 1, 1)
    written = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [(d["id"], d["text"], d["labels"]) for d in written] == [
        ("a", "rain all day", ["http://x/rain"]), ("b", "sun at last", ["http://x/sun"]),
        ("c", "grey skies", []), ("a", "storm and rain", ["http://x/rain"])]
    assert (f"{corpus}: 1 document repeats the id of an earlier document (first 'a', on "
            "lines 1 and 4); no accepted decision names it, so it is written as it was")\
        in caplog.text
    # a decision on either document of the id: refused, no output
    for doc, text, decided in ((0, "rain all day", 1), (3, "storm and rain", 4)):
        row = {**_row(doc, "missing", "http://x/sun", text), "doc_id": "a"}
        review = _review(tmp_path, [row])
        with pytest.raises(DataError, match=(
                rf"c\.jsonl:4: the id 'a' is the id of the document at line 1 too; the "
                rf"review's line 2 decides about the one at line {decided}, ")):
            apply_review(corpus, review, tmp_path / "refused.jsonl", SPACE)
        assert not (tmp_path / "refused.jsonl").exists()


@pytest.mark.parametrize(("ids", "warning"), [
    (("a", "b", "a"), "1 document repeats the id of an earlier document (first 'a', on "
                      "lines 1 and 3)"),
    (("a", "b", "b", "a", "c"), "2 documents repeat the id of an earlier document "
                                "(first 'b', on lines 2 and 3)")])
def test_training_reads_a_repeated_id_with_one_warning(tmp_path, caplog, ids, warning):
    """One warning per corpus, naming the first repeated id and both its lines (it
    named the id alone; the audit's error names the file and both lines)."""
    from tagsmith.pipeline.io import read_labelled

    corpus = _jsonl_corpus(tmp_path, *[{"id": doc_id, "text": f"rain {n}",
                                        "labels": ["http://x/rain"]}
                                       for n, doc_id in enumerate(ids)])
    data = read_labelled(corpus, SPACE)
    assert len(data) == len(ids)
    warnings = [r.getMessage() for r in caplog.records if "repeat" in r.getMessage()]
    # apply-review refuses a repeated id only where a decision names one of its
    # documents (it writes the others with a warning): the warning said it refused them
    assert warnings == [f"{corpus}: {warning}; ids are not used here, but an audit of "
                        "this corpus refuses them, and so does apply-review where a "
                        "decision names one of their documents: give each document an "
                        "id of its own"]
    caplog.clear()
    read_labelled(_jsonl_corpus(tmp_path, {"id": "a", "text": "rain", "labels": []},
                                {"text": "sun", "labels": []}, {"text": "snow"}), SPACE)
    assert "repeat" not in caplog.text


def test_every_decision_spelling_is_honoured_and_named_where_the_reviewer_looks(tmp_path,
                                                                                 corpus):
    """``true``/``false`` (a spreadsheet's TRUE in a boolean cell) and
    ``accepted``/``rejected`` were honoured but named neither in the README, the help,
    the warning for an undecided review nor the error for a decision not understood."""
    import re

    from tagsmith.audit.review import ACCEPT, REJECT

    spellings = ACCEPT | REJECT
    for value in sorted(spellings):
        review = _review(tmp_path, [_row(2, "missing", "http://x/snow",
                                         "Snowfall in the hills", decision=value.upper())])
        _, counts = read_decisions(review, SPACE)
        assert counts["accepted" if value in ACCEPT else "rejected"] == 1, value
    review = _review(tmp_path, [_row(2, "missing", "http://x/snow", "Snowfall in the hills",
                                     decision="WAHR")])
    with pytest.raises(ReviewFormatError, match="decision must be") as error:
        read_decisions(review, SPACE)
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    documented = readme[readme.index("**The review queue**"):][:400]
    for where in (str(error.value), documented):
        words = re.findall(r"[a-z0-9]+(?:\.[0-9]+)?|[\u2713\u2714]", where.lower())
        assert spellings <= set(words), where


def test_a_decision_of_1_0_or_0_0_is_honoured_as_1_or_0(tmp_path, corpus):
    """A spreadsheet that turned the decision 1 into the number 1.0 (and JSON's 1.0)
    was refused, "decision must be ...", where 1 is accepted; other numbers still are."""
    from tagsmith.audit import DECISION_VALUES

    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills", decision="1.0"),
            _row(0, "missing", "http://x/sun", "Heavy rain all day", decision="0.0")]
    jsonl = tmp_path / "review.jsonl"
    jsonl.write_text("".join(json.dumps({**row, "decision": float(row["decision"])}) + "\n"
                             for row in rows), encoding="utf-8")
    for review in (_review(tmp_path, rows), jsonl):
        decisions, counts = read_decisions(review, SPACE)
        assert (counts["accepted"], counts["rejected"]) == (1, 1), review
        assert [(d.doc, d.label_id) for d in decisions] == [(2, 2)]
    assert "1/0, 1.0/0.0," in DECISION_VALUES  # named where the spellings are listed
    for value in ("1.00", "2.0", "0.5"):
        review = _review(tmp_path, [_row(2, "missing", "http://x/snow",
                                         "Snowfall in the hills", decision=value)])
        with pytest.raises(ReviewFormatError, match="decision must be .*1.0/0.0"):
            read_decisions(review, SPACE)


def _with_column(tmp_path, rows, column, values, *, rename_decision=False, delimiter=";"):
    """``rows`` as a review CSV, saved as a spreadsheet does (BOM, CRLF, ``delimiter``),
    with ``column`` added in front holding ``values``; with ``rename_decision`` the
    decision column is that column (renamed) instead."""
    path = _review(tmp_path, rows)
    with open(path, newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    names = list(table[0])
    if rename_decision:
        names[names.index("decision")] = column
        for row, value in zip(table, values, strict=True):
            row[column] = value
            del row["decision"]
    else:
        names.insert(0, column)
        for row, value in zip(table, values, strict=True):
            row[column] = value
    edited = tmp_path / "edited.csv"
    with open(edited, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, delimiter=delimiter,
                                lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(table)
    return edited


def test_decisions_in_a_column_of_the_reviewers_own_are_named_not_ignored(tmp_path, corpus):
    """A reviewer who filled an "Accept" column of their own (or renamed decision) saw
    an unchanged copy written with "none of the rows has a decision", or "missing
    column decision": neither said that their decisions were in another column."""
    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills", decision=""),
            _row(1, "wrong", "http://x/rain", "Bright sun and heat", decision="")]
    out = tmp_path / "fixed.tsv"
    added = _with_column(tmp_path, rows, "Accept", ["yes", "X"])
    with pytest.raises(ReviewFormatError) as error:
        apply_review(corpus, added, out, SPACE)
    assert str(error.value) == (
        f"{added}:1: the decision column is empty, but column 'accept' holds 2 decisions "
        "(X, yes); only the decision column is read: copy them into it, or rename that "
        "column to decision")
    assert not out.exists()
    renamed = _with_column(tmp_path, rows, "OK?", ["TRUE", ""], rename_decision=True,
                           delimiter=",")
    with pytest.raises(ReviewFormatError, match=r"missing column decision; the header has "
                       r"\[.*\]; column 'ok\?' holds 1 decision \(TRUE\); only the "):
        apply_review(corpus, renamed, out, SPACE)
    # a column of notes is no decision column; nor is one beside a filled-in decision
    notes = _with_column(tmp_path, rows, "note", ["yes", "check the date"])
    assert read_decisions(notes, SPACE)[1]["undecided"] == 2
    rows[0]["decision"] = "reject"
    beside = _with_column(tmp_path, rows, "accept", ["", "y"])
    assert read_decisions(beside, SPACE)[1] == {"accepted": 0, "rejected": 1,
                                                "undecided": 1, "repeated": 0}


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_semicolon_review_missing_a_column_names_that_column(tmp_path, corpus, delimiter):
    """A review saved with ``;`` (or tabs) whose decision column was renamed was read as
    comma-separated: "missing columns decision, kind, label_uri, doc, doc_key; the
    header has ['rank;OK?;kind;...']" blamed every column for one."""
    rows = [_row(2, "missing", "http://x/snow", "Snowfall in the hills", decision="")]
    renamed = _with_column(tmp_path, rows, "OK?", ["y"], rename_decision=True,
                           delimiter=delimiter)
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(renamed, SPACE)
    assert str(error.value).startswith(f"{renamed}:1: missing column decision; the header "
                                       "has ['rank', 'OK?', 'kind', ")
    assert "column 'ok?' holds 1 decision (y)" in str(error.value)


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("utf-32", "UTF-32")])
def test_a_utf16_review_says_what_it_is(tmp_path, corpus, encoding, name):
    """A review saved as a spreadsheet's "Unicode text" (UTF-16 with a byte-order mark)
    failed as "not valid UTF-8 (invalid start byte at byte 0)", where the corpus
    readers say the file is UTF-16."""
    review = _review(tmp_path, [_row(2, "missing", "http://x/snow", "Snowfall in the hills")])
    review.write_text(review.read_text(encoding="utf-8"), encoding=encoding)
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(review, SPACE)
    assert str(error.value) == (f"{review}:1: the file is {name} text (it starts with a "
                                f"{name} byte-order mark; a spreadsheet's \"Unicode text\"); "
                                "save the review as UTF-8 CSV")


def test_an_undecodable_jsonl_review_is_not_told_to_be_saved_as_csv(tmp_path, corpus):
    """The not-UTF-8 and UTF-16 messages said "save the review as UTF-8 CSV" whatever
    the review's format, and a JSONL review saved as CSV is not read as one."""
    review = _review(tmp_path, [_row(2, "missing", "http://x/snow", "Snowfall in the hills")],
                     fmt="jsonl")
    text = review.read_text(encoding="utf-8")
    review.write_bytes(text.replace("Snowfall", "Schnéefall").encode("cp1252"))
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(review, SPACE)
    assert str(error.value).startswith(f"{review}:1: not valid UTF-8 (")
    assert str(error.value).endswith("; save the review as UTF-8 JSON Lines")
    review.write_text(text, encoding="utf-16")
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(review, SPACE)
    assert str(error.value).endswith("\"Unicode text\"); save the review as UTF-8 JSON Lines")


@pytest.mark.parametrize("edited,cells", [("label_name", ("http://x/snow", "sun")),
                                          ("label_uri", ("http://x/sun", "snow"))])
def test_an_accepted_row_whose_label_name_and_uri_disagree_is_an_error(tmp_path, corpus,
                                                                       edited, cells):
    """A reviewer who edited the label cell of an accepted row (Reuters-21578's review:
    label_name 'sun' typed over 'snow', or label_uri over it) had the URI's label
    written, one the name cell never showed: the row is refused naming its line, and
    with both cells edited (or label_name emptied) it is applied as written."""
    row = _row(2, "missing", "http://x/snow", "Snowfall in the hills")
    row["label_uri"], row["label_name"] = cells
    with pytest.raises(ReviewFormatError, match="one of the two cells was edited") as error:
        read_decisions(_review(tmp_path, [row]), SPACE)
    assert str(error.value).startswith(f"{tmp_path / 'review.csv'}:2: ")
    assert "label_name" in str(error.value) and edited in str(error.value)
    for name in ("Sun", ""):  # both edited (case aside), or the name emptied
        row["label_uri"], row["label_name"] = "http://x/sun", name
        decisions, counts = read_decisions(_review(tmp_path, [row]), SPACE)
        assert counts["accepted"] == 1 and decisions[0].label_id == 1
    row["decision"], row["label_name"] = "reject", "snow"  # a rejection changes nothing
    assert read_decisions(_review(tmp_path, [row]), SPACE)[1]["rejected"] == 1


def test_apply_review_says_it_writes_labels_the_vocabulary_lacks(tmp_path, corpus, caplog):
    """A corpus key the vocabulary lacks (a concept removed by a thesaurus update, which
    the audit left out, saying so) was written to the new corpus as it was, without a
    word, where training with that vocabulary then refuses it."""
    review = _review(tmp_path, [_row(2, "missing", "http://x/snow", "Snowfall in the hills")])
    with caplog.at_level("WARNING", logger="tagsmith"):
        apply_review(corpus, review, tmp_path / "out.tsv", SPACE, space_name="v2.ttl")
    assert "unknown-key" in (tmp_path / "out.tsv").read_text()  # kept: never dropped
    assert f"{corpus}: 1 label occurrence not in v2.ttl (1 distinct, most often " \
        "'unknown-key' x1) written as it was: read_labelled with that vocabulary refuses " \
        'it (read_labelled(..., unknown_labels="skip") leaves it out)' in caplog.text
    # the command line's words, which apply-review's filter swaps in
    tagsmith_cli._register_commands()
    [record] = [r for r in caplog.records if "label occurrence" in r.getMessage()]
    assert tagsmith_cli._OptionNames(tagsmith_cli.cli.commands["apply-review"]).filter(record)
    assert record.getMessage().endswith(": train --vocab with that vocabulary refuses it "
                                        "(--unknown-labels skip leaves it out)")
    caplog.clear()
    clean = tmp_path / "clean.tsv"
    clean.write_text(CORPUS.replace(" unknown-key", ""))
    with caplog.at_level("WARNING", logger="tagsmith"):
        apply_review(clean, review, tmp_path / "out2.tsv", SPACE)
    assert "not in" not in caplog.text


def test_apply_review_does_not_say_a_name_of_several_labels_is_not_in_the_vocabulary(
        tmp_path, caplog):
    """A corpus key naming two labels of the vocabulary (a name a thesaurus update gave
    a second concept) was counted in 'label occurrences not in V', which it is not: it is
    ambiguous, and train refuses it asking for its <uri>."""
    space = LabelSpace.from_uris(["http://x/rain", "http://x/sun", "http://x/snow",
                                  "http://x/sun2"],
                                 names={"http://x/rain": "rain", "http://x/sun": "sun",
                                        "http://x/snow": "snow", "http://x/sun2": "sun"})
    corpus = tmp_path / "named.tsv"
    corpus.write_text("Heavy rain all day\train\nBright sun and heat\train sun\n"
                      "Snowfall in the hills\n")
    review = _review(tmp_path, [_row(2, "missing", "http://x/snow", "Snowfall in the hills")])
    with caplog.at_level("WARNING", logger="tagsmith"):
        apply_review(corpus, review, tmp_path / "out.tsv", space, space_name="v2.ttl")
    assert "not in v2.ttl" not in caplog.text
    assert f"{corpus}: 1 label occurrence naming several labels of v2.ttl (1 distinct, " \
        "most often 'sun' x1) written as it was" in caplog.text


def test_a_label_renamed_since_the_audit_is_named_as_a_possible_cause(tmp_path, corpus):
    """A review written with a vocabulary whose label was renamed since (a thesaurus's
    monthly update: same URI, new preferred name), applied with the new one, was
    refused as "one of the two cells was edited", which no one had: where label_name
    names no label of the vocabulary, the rename is named as a cause and the way out
    (empty label_name, or the audit's vocabulary); a name of another label is an edit."""
    renamed = LabelSpace.from_uris(["http://x/rain", "http://x/sun", "http://x/snow"],
                                   names={"http://x/rain": "rain", "http://x/sun": "sun",
                                          "http://x/snow": "snowfall"})
    row = _row(2, "missing", "http://x/snow", "Snowfall in the hills")
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(_review(tmp_path, [row]), renamed)
    assert "'snow' is not a name of the label" in str(error.value)
    assert "names no label of the vocabulary: renamed since the audit?" in str(error.value)
    assert "empty label_name" in str(error.value)
    row["label_name"] = "sun"  # another label's name: an edit, not a rename
    with pytest.raises(ReviewFormatError) as error:
        read_decisions(_review(tmp_path, [row]), renamed)
    assert "one of the two cells was edited" in str(error.value)
    assert "renamed since" not in str(error.value)


def test_a_row_whose_doc_cell_was_edited_is_named_as_a_possible_cause(tmp_path, corpus):
    """Reuters-21578's review with a doc cell edited (696 to 7) failed "document 7 has a
    different text than when it was audited; was the corpus changed?", blaming the
    corpus alone for what the reviewer typed: the edited cell is named too. (A row
    whose text a document has is applied to that document since rows are matched by
    text where their number does not fit: the one refused names no document's text.)"""
    row = _row(2, "missing", "http://x/snow", "Snowfall in the hills")
    row["doc"], row["line"] = 0, 1
    stats = apply_review(corpus, _review(tmp_path, [row]), tmp_path / "moved.tsv", SPACE)
    assert (stats["n_added"], stats["n_matched_elsewhere"]) == (1, 1)
    row["doc_key"] = doc_key("a text no document has")
    with pytest.raises(ReviewFormatError, match="different text") as error:
        apply_review(corpus, _review(tmp_path, [row]), tmp_path / "out.tsv", SPACE)
    assert str(error.value).startswith(f"{tmp_path / 'review.csv'}:2: document 0 ")
    assert "or the row's doc cell edited" in str(error.value)
    assert not (tmp_path / "out.tsv").exists()


def _folder_losing_a_file(tmp_path, monkeypatch, texts):
    """A folder corpus holding ``texts`` (labelled rain) whose every listing names one
    more document, ``zgone.txt``, deleted before it is read (another process tidying up)."""
    from tagsmith.data import readers

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(texts):
        (docs / f"d{i}.txt").write_text(text, encoding="utf-8")
        (docs / f"d{i}.tsv").write_text("<http://x/rain>\n", encoding="utf-8")
    real = readers._list_documents

    def listing_a_file_then_gone(path):
        listed, *rest = real(path)  # the documents, then the sidecars and more
        return ([*listed, Path(path) / "zgone.txt"], *rest)

    monkeypatch.setattr(readers, "_list_documents", listing_a_file_then_gone)
    return docs


def test_a_folder_file_gone_missing_is_not_called_a_malformed_line(tmp_path, monkeypatch,
                                                                   caplog):
    """apply-review's warning and summary said "1 malformed line ... skipped" of a folder's
    document deleted after the listing, no line of which was read; its example was
    "first at line 3: zgone.txt ..." where the reader's summary says "document 3"."""
    docs = _folder_losing_a_file(tmp_path, monkeypatch, ["Heavy rain", "More rain"])
    review = _review(tmp_path, [_row(1, "missing", "http://x/sun", "More rain")])
    caplog.set_level("WARNING", logger="tagsmith")
    stats = apply_review(docs, review, tmp_path / "out.tsv", SPACE, on_error="skip")
    assert (stats["n_docs"], stats["n_skipped_lines"], stats["n_missing_files"]) == (2, 1, 1)
    assert "1 file skipped that went missing (on_error skip) and not written" in caplog.text
    assert "malformed" not in caplog.text
    # its example worded as the reader's summary words it: a document, not "line 3"
    assert caplog.text.count("(first: document 3, zgone.txt: deleted after the folder was "
                             "listed)") == 1 and "first at line" not in caplog.text
    result = _apply_review_cli(tmp_path, docs, review, tmp_path / "out2.tsv")
    assert result.exit_code == 0, result.output
    assert (f"1 file of {docs} was skipped as it went missing (--on-error skip) and is not "
            "in the new corpus") in result.output
    assert "malformed" not in result.output


def test_a_folder_whose_only_file_went_missing_has_no_malformed_line(tmp_path, monkeypatch):
    # "no documents in the corpus (1 malformed line skipped)"
    docs = _folder_losing_a_file(tmp_path, monkeypatch, [])
    review = _review(tmp_path, [_row(0, "missing", "http://x/sun", "Sun")])
    with pytest.raises(DataError, match=r"no documents in the corpus \(1 file skipped that "
                                        r"went missing\)$"):
        apply_review(docs, review, tmp_path / "out.tsv", SPACE, on_error="skip")


def test_a_csv_corpus_keeps_its_labels_cell_separators(tmp_path):
    """apply-review rewrote every CSV labels cell: 'rain|sun' became 'rain sun' in rows
    no decision named, so a diff of input and output showed every row, not the accepted
    changes. Each cell keeps what it put between its labels, a label added to a cell of
    one is separated as the cells before it, and a cell whose separator would not read
    back to its labels (a name with a space joined by spaces) is written as before."""
    source = tmp_path / "c.csv"
    rows = ["id,text,labels",
            "d1,Heavy rain all day,rain|sun",
            "d2,Bright sun,sun",
            'd3,Cold snow,"snow; rain"',
            "d4,Grey day,<http://x/rain> <http://x/sun>",
            "d5,Snow at last,snow|",
            "d6,Fog,"]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    review = _review(tmp_path, [_row(1, "missing", "http://x/snow", "Bright sun"),
                                _row(2, "wrong", "http://x/rain", "Cold snow"),
                                _row(3, "missing", "http://x/snow", "Grey day")])
    stats = apply_review(source, review, tmp_path / "out.csv", SPACE)
    assert (stats["n_added"], stats["n_removed"]) == (2, 1)
    written = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    # a cell quoted stays quoted
    assert written == [*rows[:2], "d2,Bright sun,sun|snow", 'd3,Cold snow,"snow"',
                       "d4,Grey day,<http://x/rain> <http://x/sun> <http://x/snow>", *rows[5:]]
    assert [r.labels for r in read_records(tmp_path / "out.csv")] == [
        ("rain", "sun"), ("sun", "snow"), ("snow",),
        ("<http://x/rain>", "<http://x/sun>", "<http://x/snow>"), ("snow",), ()]
    # a separator that would split a name: written as a cell holding it always was
    space = _literature_space("Greek language literature")
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("text,labels\nHomer,<http://x/po> <http://x/gl>\nSappho,poetry\n",
                      encoding="utf-8")
    apply_review(spaced, _review(tmp_path, [_row(1, "missing", "http://x/gl", "Sappho")]),
                 tmp_path / "spaced-out.csv", space)
    assert (tmp_path / "spaced-out.csv").read_text(encoding="utf-8").splitlines()[2] == \
        "Sappho,poetry|Greek language literature"


@pytest.mark.parametrize("action, kind, labels", [
    ("add", "missing", [["rain"], ["rain", "sun", "snow"]]),
    ("remove", "wrong", [["rain"], ["sun"]]),
])
def test_an_accepted_row_with_no_kind_takes_it_from_its_action(tmp_path, corpus, action,
                                                               kind, labels):
    """A row added by hand with kind left empty was refused as "kind must be one of
    missing, wrong, found ''" though its action said what to do."""
    uri = "http://x/snow" if action == "add" else "http://x/rain"
    row = {**_row(1, kind, uri, "Bright sun and heat"), "kind": "", "action": action}
    decisions, _ = read_decisions(_review(tmp_path, [row]), SPACE)
    assert [d.kind for d in decisions] == [kind]
    apply_review(corpus, _review(tmp_path, [row]), tmp_path / "out.jsonl", SPACE)
    written = [json.loads(line)["labels"] for line in
               (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()[:2]]
    assert [[key.rsplit("/", 1)[1].strip(">") for key in keys] for keys in written] == labels


def test_a_row_with_neither_kind_nor_action_is_refused_naming_both(tmp_path, corpus):
    row = {**_row(1, "missing", "http://x/snow", "Bright sun and heat"), "kind": "",
           "action": ""}
    with pytest.raises(ReviewFormatError, match=r"review.csv:2: kind must be one of missing, "
                                                r"wrong \(or leave it empty and give action "
                                                r"add or remove\), found ''$"):
        read_decisions(_review(tmp_path, [row]), SPACE)


@pytest.mark.parametrize("tick", ["\u2713", "\u2714"])
def test_a_tick_accepts_a_row(tmp_path, tick):
    """A check mark, as many reviewers mark a row taken, was refused as no decision."""
    row = _row(1, "missing", "http://x/snow", "Bright sun and heat", decision=tick)
    decisions, counts = read_decisions(_review(tmp_path, [row]), SPACE)
    assert counts["accepted"] == 1 and [d.kind for d in decisions] == ["missing"]


@pytest.mark.parametrize("sep_line", [None, "sep=;"])
def test_a_csv_corpus_keeps_its_delimiter_and_sep_line(tmp_path, sep_line):
    """apply-review wrote every CSV with ',': a ';'-separated corpus (a spreadsheet's
    where the decimal mark is a comma, with or without Excel's "sep=;" line) came back
    with every line changed. The output keeps the input's delimiter and its sep= line,
    so a diff shows only the accepted change; a cell holding ';' is quoted."""
    rows = ["id;text;labels", "d1;Heavy rain all day;rain, sun", "d2;Bright sun;sun",
            'd3;"Snow; cold";snow']
    lines = ([sep_line] if sep_line else []) + rows
    source = tmp_path / "s.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", "Bright sun")])
    apply_review(source, review, tmp_path / "out.csv", SPACE)
    written = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    assert len(written) == len(lines)
    changed = [i for i, (a, b) in enumerate(zip(lines, written, strict=True)) if a != b]
    assert changed == [len(lines) - 2]
    assert written[-2] == "d2;Bright sun;sun, rain"
    assert [r.labels for r in read_records(tmp_path / "out.csv")] == [
        ("rain", "sun"), ("sun", "rain"), ("snow",)]
    # written as another format than its input: a comma, as ever
    tsv = tmp_path / "c.tsv"
    tsv.write_text("Bright sun\tsun\n", encoding="utf-8")
    apply_review(tsv, _review(tmp_path, [_row(0, "missing", "http://x/rain", "Bright sun")]),
                 tmp_path / "from-tsv.csv", SPACE)
    assert (tmp_path / "from-tsv.csv").read_text(encoding="utf-8").splitlines() == [
        "id,text,labels", ",Bright sun,sun rain"]


@pytest.mark.parametrize("name, lines", [
    ("s.csv", ["id;text;labels", "d1;Heavy rain all day;rain, sun", "d2;Bright sun;sun"]),
    ("s.tsv", ["Heavy rain all day\train sun", "Bright sun\tsun"]),
    ("s.jsonl", ['{"id": "d1", "text": "Heavy rain all day", "labels": ["rain", "sun"]}',
                 '{"id": "d2", "text": "Bright sun", "labels": ["sun"]}']),
])
def test_a_windows_corpus_keeps_its_crlf_line_ends(tmp_path, name, lines):
    """apply-review wrote every line with LF: a corpus a Windows tool wrote (CRLF)
    came back with every line changed, a diff of the two showing them all. A corpus
    whose every line ends in CRLF is written so; one of mixed ends with LF, as ever."""
    source = tmp_path / name
    source.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", "Bright sun")])
    out = tmp_path / ("out" + source.suffix)
    apply_review(source, review, out, SPACE)
    written = out.read_bytes().split(b"\r\n")
    before = source.read_bytes().split(b"\r\n")
    assert written[-1] == b""
    assert [i for i, (a, b) in enumerate(zip(before, written, strict=True))
            if a != b] == [len(lines) - 1]
    assert b"\n" not in b"".join(written)
    # the same records as an LF output holds; a file of mixed line ends keeps each
    # line's (they were all written LF, a diff showing every CRLF line changed)
    lf = tmp_path / ("lf" + source.suffix)
    source.write_bytes(("\n".join(lines) + "\r\n").encode())
    apply_review(source, review, lf, SPACE)
    assert lf.read_bytes() == out.read_bytes().replace(b"\r\n", b"\n")[:-1] + b"\r\n"
    assert list(read_records(lf)) == [dataclasses.replace(r, source=str(lf))
                                      for r in read_records(out)]


@pytest.mark.parametrize("lines", [
    ["text;labels", "Heavy rain all day;rain, sun", "Bright sun;sun"],
    ["Text;year; labels ;;ID", "Heavy rain all day;2020;rain, sun;x;d1",
     "Bright sun;2021;sun;;d2"],
    ["sep=,", "note,TEXT,Labels", "a,Heavy rain all day,rain|sun", ",Bright sun,sun"],
])
def test_a_csv_corpus_keeps_its_columns(tmp_path, lines):
    """apply-review wrote every CSV as id,text,labels then the rest: a corpus of no id
    column gained an empty one on every line, and one of other columns, another order
    or a header spelled "Text" or " labels " came back with every line changed. The
    output keeps the input's header row and its columns where they were, and reads
    back to the records the old layout did."""
    source = tmp_path / "s.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", "Bright sun")])
    apply_review(source, review, tmp_path / "out.csv", SPACE)
    written = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    changed = [i for i, (a, b) in enumerate(zip(lines, written, strict=True)) if a != b]
    assert changed == [len(lines) - 1]
    # the records the id,text,labels layout wrote, read back alike
    old = tmp_path / "old.csv"
    write_records(read_records(tmp_path / "out.csv"), old)
    assert [dataclasses.replace(r, source="", line=0) for r in read_records(old)] == [
        dataclasses.replace(r, source="", line=0) for r in read_records(tmp_path / "out.csv")]


def test_a_csv_corpus_of_no_labels_column_gains_one_last(tmp_path):
    """A label accepted for a corpus of no labels column is written in one added after
    its columns (kept as they were), not lost."""
    source = tmp_path / "s.csv"
    source.write_text("Text\nHeavy rain all day\nBright sun\n", encoding="utf-8")
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", "Bright sun")])
    apply_review(source, review, tmp_path / "out.csv", SPACE)
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines() == [
        "Text,labels", "Heavy rain all day,", "Bright sun,<http://x/rain>"]


@pytest.mark.parametrize("before, after", [
    # every row was rewritten (its quotes, spaces and line end lost) for the column
    # added: each row is kept byte for byte, an empty labels cell added before its end
    (b'sep=;\r\n"id";"Text"\r\nd1 ;"Heavy rain"\r\n\r\nd2;Bright sun\r\n;\r\nd3;"Fog\non hills"',
     b'sep=;\r\n"id";"Text";"labels"\r\nd1 ;"Heavy rain";\r\n\r\n'
     b'd2;Bright sun;<http://x/rain>\r\n;;\r\nd3;"Fog\non hills";'),
    (b"text,id\nBright sun,2\nHeavy rain,1   \n", b"text,id,labels\nBright sun,2,<http://x/rain>\n"
     b"Heavy rain,1   ,\n"),
])
def test_a_csv_corpus_gaining_a_labels_column_keeps_its_other_rows_as_they_were(
        tmp_path, before, after):
    source = tmp_path / "s.csv"
    source.write_bytes(before)
    review = _review(tmp_path, [_row(int(before.startswith(b"sep")), "missing",
                                     "http://x/rain", "Bright sun")])
    apply_review(source, review, tmp_path / "out.csv", SPACE)
    assert (tmp_path / "out.csv").read_bytes() == after
    assert [(r.doc_id, r.text, r.labels) for r in read_records(tmp_path / "out.csv")] == [
        (r.doc_id, r.text, ("<http://x/rain>",) if r.text == "Bright sun" else ())
        for r in read_records(source)]


def test_write_records_refuses_a_field_the_header_has_no_column_for(tmp_path):
    record = Record("Rain", ("rain",), "d1", 1, "in.csv")
    with pytest.raises(CorpusFormatError, match="no 'id' column") as info:
        write_records([record], tmp_path / "out.csv", header=["text", "labels"])
    assert info.value.line == 2 and not (tmp_path / "out.csv").exists()
    with pytest.raises(CorpusFormatError, match="no 'labels' column"):
        write_records([dataclasses.replace(record, doc_id=None)], tmp_path / "out.csv",
                      header=["Text"])
    write_records([record], tmp_path / "out.csv", header=["Labels", "ID", "text", ""])
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "Labels,ID,text,\nrain,d1,Rain,\n"


def test_a_jsonl_corpus_keeps_its_keys_order(tmp_path):
    """apply-review wrote every JSONL object as id, text, labels then the rest: one
    whose keys came in another order, or with no labels key, came back with every line
    changed. Each object keeps its keys' order (a labels key added last where a label
    is), and the output reads back to the records the old order did."""
    lines = ['{"text": "Heavy rain all day", "labels": ["rain", "sun"], "id": "d1", "year": 2020}',
             '{"year": 2021, "text": "Bright sun", "id": 7}',
             '{"text": "Snow"}',
             '{"id": "d4", "text": "Fog", "labels": [], "note": "x"}']
    source = tmp_path / "c.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", "Bright sun")])
    apply_review(source, review, tmp_path / "out.jsonl", SPACE)
    written = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert written == [lines[0], '{"year": 2021, "text": "Bright sun", "id": 7, '
                       '"labels": ["rain"]}', *lines[2:]]
    old = tmp_path / "old.jsonl"
    write_records([dataclasses.replace(r, key_order=None)
                   for r in read_records(tmp_path / "out.jsonl")], old)
    assert old.read_text(encoding="utf-8").splitlines()[2] == \
        '{"text": "Snow", "labels": []}'
    assert [dataclasses.replace(r, source="") for r in read_records(old)] == [
        dataclasses.replace(r, source="") for r in read_records(tmp_path / "out.jsonl")]


def test_an_excel_csv_keeps_its_crlf_rows_around_a_cell_of_lf_lines(tmp_path):
    """Excel ends a CSV's rows with CRLF and a cell's lines with LF: the cell's LF read
    as a line end of another kind, so the corpus was written with LF rows, every line
    changed. A line break inside quotes is no line end."""
    source = tmp_path / "s.csv"
    source.write_bytes(b'id,text,labels\r\nd1,"Heavy\nrain",rain\r\nd2,Bright sun,sun\r\n')
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", "Bright sun")])
    apply_review(source, review, tmp_path / "out.csv", SPACE)
    assert (tmp_path / "out.csv").read_bytes() == \
        b'id,text,labels\r\nd1,"Heavy\nrain",rain\r\nd2,Bright sun,sun rain\r\n'


@pytest.mark.parametrize("name, lines", [
    ("s.csv", ["sep=;", "id;text;labels", "d1;Heavy rain all day;rain, sun", "d2;Bright sun;sun"]),
    ("s.tsv", ["Heavy rain all day\train sun", "Bright sun\tsun"]),
    ("s.jsonl", ['{"text": "Heavy rain all day", "labels": ["rain", "sun"]}',
                 '{"text": "Bright sun", "labels": ["sun"]}']),
])
def test_a_corpus_keeps_its_utf8_byte_order_mark(tmp_path, name, lines):
    """Excel's "CSV UTF-8" (and Notepad's UTF-8 with BOM) starts with a byte-order mark
    the readers drop: apply-review wrote the corpus without it, its first line changed.
    It is written again, and the output reads back as one without it."""
    source = tmp_path / name
    source.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode())
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", "Bright sun")])
    out = tmp_path / ("out" + source.suffix)
    apply_review(source, review, out, SPACE)
    before, written = source.read_bytes().split(b"\r\n"), out.read_bytes().split(b"\r\n")
    assert [i for i, (a, b) in enumerate(zip(before, written, strict=True))
            if a != b] == [len(lines) - 1]
    plain = tmp_path / ("plain" + source.suffix)
    source.write_bytes(source.read_bytes()[3:])
    apply_review(source, review, plain, SPACE)
    assert out.read_bytes() == b"\xef\xbb\xbf" + plain.read_bytes()
    assert [dataclasses.replace(r, source="") for r in read_records(out)] == [
        dataclasses.replace(r, source="") for r in read_records(plain)]


@pytest.mark.parametrize("name", ["c.jsonl", "c.tsv"])
def test_a_byte_order_mark_is_kept_only_in_a_corpus_of_the_input_s_format(tmp_path, name):
    """An Excel CSV's byte-order mark was written at the start of a JSONL output too,
    where a JSON reader refuses it (Python's json: "Unexpected UTF-8 BOM"): it is kept
    where the corpus is rewritten in its own format only."""
    source = tmp_path / "c.csv"
    source.write_bytes(b"\xef\xbb\xbftext,labels\r\nRain all day,<http://x/rain>\r\n")
    review = _review(tmp_path, [_row(0, "missing", "http://x/sun", "Rain all day")])
    out = tmp_path / name
    apply_review(source, review, out, SPACE)
    assert not out.read_bytes().startswith(b"\xef\xbb\xbf")
    if name.endswith(".jsonl"):
        assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["labels"] == [
            "<http://x/rain>", "<http://x/sun>"]
    assert [r.labels for r in read_records(out)] == [("<http://x/rain>", "<http://x/sun>")]
    again = tmp_path / "again.csv"
    apply_review(source, review, again, SPACE)
    assert again.read_bytes().startswith(b"\xef\xbb\xbftext,labels\r\n")


def test_deprecated_labels_written_are_warned_about_naming_the_replacement(tmp_path, caplog):
    from tagsmith.data.vocab import load_vocabulary

    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en,deprecated,replaced_by\n"
                     "http://x/old,old,true,http://x/new\nhttp://x/new,new,,\n"
                     "http://x/sun,sun,,\n", encoding="utf-8")
    space = load_vocabulary(vocab)
    source = tmp_path / "c.tsv"
    source.write_text("Old rain\t<http://x/old>\nBright sun\t<http://x/sun>\n", encoding="utf-8")
    # an accepted row adds the deprecated label to the second document
    row = {**_row(1, "missing", "http://x/old", "Bright sun"), "label_name": "old"}
    out = tmp_path / "out.tsv"
    with caplog.at_level("WARNING", logger="tagsmith"):
        apply_review(source, _review(tmp_path, [row]), out, space)
    assert (f"{out}: 1 label the vocabulary marks deprecated is written (<http://x/old>, in "
            "2 documents)") in caplog.text
    assert "(<http://x/old> -> <http://x/new> ('new'))" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):  # the corpus's own, as read
        apply_review(source, _review(tmp_path, [{**row, "decision": "reject"}]),
                     tmp_path / "out2.tsv", space)
    assert "deprecated is written (<http://x/old>, in 1 document)" in caplog.text
    caplog.clear()
    source.write_text("Bright sun\t<http://x/sun>\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="tagsmith"):  # none written: no warning
        apply_review(source, _review(tmp_path, [{**row, "doc": 0, "decision": "reject"}]),
                     tmp_path / "out3.tsv", space)
    assert "deprecated" not in caplog.text


def test_a_jsonl_null_id_is_kept_on_a_line_no_decision_touched(tmp_path):
    source = _jsonl_corpus(tmp_path, {"text": "Rain", "labels": ["rain"], "id": None},
                           {"text": "Sun", "labels": ["sun"]})
    review = _review(tmp_path, [_row(1, "wrong", "http://x/sun", "Sun")])
    out = tmp_path / "out.jsonl"
    apply_review(source, review, out, SPACE)
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == [
        {"text": "Rain", "labels": ["rain"], "id": None}, {"text": "Sun", "labels": []}]


def test_the_corpus_layout_is_read_from_one_opening_of_its_head(tmp_path, monkeypatch):
    """A CSV corpus was opened five times to tell its layout (delimiter, header,
    byte-order mark, line end), the line end reading an all-CRLF file whole: once, its
    head (and once more to copy its lines)."""
    import tagsmith.data.readers as readers

    source = tmp_path / "s.csv"
    source.write_bytes(b"sep=;\r\nid;text;labels\r\nd1;Heavy rain all day;rain, sun\r\n"
                       b"d2;Bright sun;sun\r\n")
    opened: list[str] = []
    real = readers.open_binary

    def counting(path, *args, **kwargs):
        opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(readers, "open_binary", counting)
    list(Corpus(source, SPACE).records())
    reading = opened.count(str(source))
    opened.clear()
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", "Bright sun")])
    apply_review(source, review, tmp_path / ("out" + source.suffix), SPACE)
    assert opened.count(str(source)) <= 2 * reading + 2


@pytest.mark.parametrize("name, before, after", [
    # a '"' inside an unquoted cell is no quote: its LF line read as inside a cell, so
    # the file of mixed line ends was written all CRLF (and the cell quoted, '"5"" screen"')
    ("q.csv", b'text,labels\r\n5" screen,sun\nBright sun,sun\r\nFog,sun\r\n',
     b'text,labels\r\n5" screen,sun\nBright sun,sun rain\r\nFog,sun\r\n'),
    # an old Mac's lone CRs came back LF
    ("cr.tsv", b"Heavy rain\train\rBright sun\tsun\r", b"Heavy rain\train\rBright sun\tsun rain\r"),
    ("cr.csv", b"text,labels\rHeavy rain,rain\rBright sun,sun\r",
     b"text,labels\rHeavy rain,rain\rBright sun,sun rain\r"),
    ("cr.jsonl", b'{"text": "Heavy rain"}\r{"text": "Bright sun", "labels": []}\r',
     b'{"text": "Heavy rain"}\r{"text": "Bright sun", "labels": ["<http://x/rain>"]}\r'),
    # a compact JSONL came back with ", " and ": " on every line, a null labels as [],
    # a \u escape as the character: the changed line keeps its separators, the rest as read
    ("c.jsonl", b'{"text":"Heavy rain","labels":null}\n{"text":"Bright sun","labels":["sun"]}\n'
                b'{"text":"caf\\u00e9","labels":["sun"]}\n',
     b'{"text":"Heavy rain","labels":null}\n{"text":"Bright sun","labels":["sun","rain"]}\n'
     b'{"text":"caf\\u00e9","labels":["sun"]}\n'),
    ("a.jsonl", b'{"text": "caf\\u00e9"}\n{"text": "Bright sun \\u2600", "labels": ["sun"]}\n',
     b'{"text": "caf\\u00e9"}\n{"text": "Bright sun \\u2600", "labels": ["sun", "rain"]}\n'),
    # spaces and tabs around a changed object (a tool padding its lines) were lost:
    # kept, as the copied lines keep theirs
    ("p.jsonl", b'{"text": "Heavy rain"}  \n {"text": "Bright sun", "labels": []} \t\r\n',
     b'{"text": "Heavy rain"}  \n {"text": "Bright sun", "labels": ["<http://x/rain>"]} \t\r\n'),
    # a CSV quoting every cell came back quoted minimally on every line
    ("qa.csv", b'"text","labels"\n"Heavy rain","rain"\n"Bright sun","sun"\n',
     b'"text","labels"\n"Heavy rain","rain"\n"Bright sun","sun rain"\n'),
    # a row spanning lines (a quoted cell's line break) is replaced whole
    ("m.csv", b'id;text;labels\nd1;"Heavy\r\nrain";rain\nd2;"Bright\nsun";sun\nd3;Fog;\n',
     b'id;text;labels\nd1;"Heavy\r\nrain";rain\nd2;"Bright\nsun";sun rain\nd3;Fog;\n'),
    # a TSV's runs of spaces and repeated labels, blank lines, trailing tabs and spaces
    # around its text were normalised on every line: the changed line keeps what it put
    # between its labels, the others are copied
    ("s.tsv", b"Heavy rain\train  rain   sun\nBright sun\tsun   snow\n\n Fog \t sun\t\n",
     b"Heavy rain\train  rain   sun\nBright sun\tsun   snow   rain\n\n Fog \t sun\t\n"),
])
def test_only_the_lines_of_changed_documents_differ_and_keep_their_style(tmp_path, name,
                                                                          before, after):
    source = tmp_path / name
    source.write_bytes(before)
    text = "Bright\nsun" if name == "m.csv" else \
        "Bright sun \u2600" if name == "a.jsonl" else "Bright sun"
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", text)])
    out = tmp_path / ("out-" + name)
    apply_review(source, review, out, SPACE)
    assert out.read_bytes() == after
    gz = tmp_path / ("out-" + name + ".gz")  # compressed alike
    apply_review(source, review, gz, SPACE)
    import gzip

    assert gzip.decompress(gz.read_bytes()) == after


def test_a_removal_keeps_the_rest_of_a_tsv_line_and_a_skipped_line_is_left_out(tmp_path):
    source = tmp_path / "s.tsv"
    source.write_bytes(b"Heavy rain\train  rain\nBright sun\tsun  snow\t\n\nx\ty\tz\n"
                       b"Fog\tsun\r\n")
    review = _review(tmp_path, [_row(1, "wrong", "http://x/snow", "Bright sun"),
                                _row(2, "wrong", "http://x/sun", "Fog")])
    out = tmp_path / "out.tsv"
    apply_review(source, review, out, SPACE, on_error="skip")  # line 4: three columns
    assert out.read_bytes() == b"Heavy rain\train  rain\nBright sun\tsun\t\n\nFog\r\n"


@pytest.mark.parametrize("before, after", [
    # its last label removed, a line was left 'Fog<TAB>' (written 'Fog' before it was
    # copied line for line): a tab invisible in a diff, the line changed for it
    (b"Rain\train\nFog\tsun\n", b"Rain\train\nFog\n"),
    (b"Rain\train\nFog\t sun \n", b"Rain\train\nFog\n"),
    # a spreadsheet's trailing tabs are kept, and the empty labels column before them
    (b"Rain\train\nFog\tsun\t\t\n", b"Rain\train\nFog\t\t\t\n"),
])
def test_a_tsv_document_losing_its_last_label_is_its_text_alone(tmp_path, before, after):
    source = tmp_path / "s.tsv"
    source.write_bytes(before)
    review = _review(tmp_path, [_row(1, "wrong", "http://x/sun", "Fog")])
    apply_review(source, review, tmp_path / "out.tsv", SPACE)
    assert (tmp_path / "out.tsv").read_bytes() == after
    assert [r.labels for r in read_records(tmp_path / "out.tsv")] == [("rain",), ()]


@pytest.mark.parametrize("name", ["o.csv", "o.jsonl"])
def test_an_old_mac_corpus_written_in_another_format_keeps_its_lone_cr_rows(tmp_path, name):
    """A corpus whose every line ends in a lone CR was written with LF lines."""
    source = tmp_path / "s.tsv"
    source.write_bytes(b"Heavy rain\train\rBright sun\tsun\r")
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", "Bright sun")])
    apply_review(source, review, tmp_path / name, SPACE)
    written = (tmp_path / name).read_bytes()
    assert b"\n" not in written and written.count(b"\r") == 2 + name.endswith(".csv")
    assert [r.labels for r in read_records(tmp_path / name)] == [("rain",), ("sun", "rain")]


def test_a_malformed_csv_row_spanning_lines_is_left_out_and_padding_rows_kept(tmp_path):
    """A spreadsheet's padding row (",,") was dropped from the output; a malformed row
    skipped (its quoted cell over two lines) is left out whole, as it was."""
    source = tmp_path / "s.csv"
    source.write_bytes(b'text,labels\nHeavy rain,rain\n"bad\nrow",sun,extra\n,,\nBright sun,sun\n')
    review = _review(tmp_path, [_row(1, "missing", "http://x/rain", "Bright sun")])
    apply_review(source, review, tmp_path / "out.csv", SPACE, on_error="skip")
    assert (tmp_path / "out.csv").read_bytes() == \
        b"text,labels\nHeavy rain,rain\n,,\nBright sun,sun rain\n"


@pytest.mark.parametrize("before, after", [
    # a spreadsheet quoting the text cell alone: the changed row lost its quotes
    (b'id,text,labels\n1,"Heavy rain",rain\n2,"Bright sun",sun\n',
     b'id,text,labels\n1,"Heavy rain",rain\n2,"Bright sun",sun rain\n'),
    (b'id;text;labels\n1;Heavy rain;"rain"\n2;Bright sun;"sun"\n',
     b'id;text;labels\n1;Heavy rain;"rain"\n2;Bright sun;"sun rain"\n'),
    # a '"' inside an unquoted cell opens no quote; a quoted cell's '""' is its quote
    (b'id,text,labels\n"1",5" screen,sun\n',
     b'id,text,labels\n"1",5" screen,sun rain\n'),
    (b'id,text,labels\n1,"Bright ""sun""",sun\n',
     b'id,text,labels\n1,"Bright ""sun""",sun rain\n'),
])
def test_a_changed_csv_row_keeps_the_quotes_of_the_cells_it_quoted(tmp_path, before, after):
    source = tmp_path / "s.csv"
    source.write_bytes(before)
    text = [r.text for r in read_records(source)][-1]
    review = _review(tmp_path, [_row(len(before.splitlines()) - 2, "missing",
                                     "http://x/rain", text)])
    apply_review(source, review, tmp_path / "out.csv", SPACE)
    assert (tmp_path / "out.csv").read_bytes() == after
    assert [r.labels for r in read_records(tmp_path / "out.csv")][-1] == \
        (*[r.labels for r in read_records(source)][-1], "rain")


@pytest.mark.parametrize("name, end", [("s.tsv", b"\r\n"), ("s.csv", b"\r\n"), ("s.tsv", b"\r")])
def test_a_corpus_of_crlf_rows_up_front_and_lf_later_is_written_lf_in_another_format(
        tmp_path, name, end):
    """Its line end told from its first 64 KiB alone, a corpus whose rows end in CRLF
    (or an old Mac's CR) up front and LF further on was written in another format all
    CRLF (CR): a file of mixed line ends is written LF, as before."""
    source = tmp_path / name
    head = b"text,labels" + end if name.endswith(".csv") else b""
    sep = b"," if name.endswith(".csv") else b"\t"
    rows = b"".join(b"doc %d%ssun%s" % (i, sep, end) for i in range(8000))
    source.write_bytes(head + rows + b"Fog" + sep + b"sun\n")
    assert len(rows) > 1 << 16
    review = _review(tmp_path, [_row(8000, "missing", "http://x/rain", "Fog")])
    out = tmp_path / "out.jsonl"
    apply_review(source, review, out, SPACE)
    written = out.read_bytes()
    assert b"\r" not in written and written.count(b"\n") == 8001
    same = tmp_path / ("same-" + name)  # its own format: each line's own end
    apply_review(source, review, same, SPACE)
    assert same.read_bytes() == source.read_bytes()[:-len(b"sun\n")] + b"sun rain\n"


def _flagged_issues():
    """A small audit of three labels, 20 documents' label 0 flipped: its issues, the
    given labels, the texts and the space (for the review queue's rows)."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.audit.detect import find_label_issues
    from tagsmith.topk import TopK

    space = LabelSpace.from_uris(["u:0", "u:1", "u:2"])
    rng = np.random.default_rng(0)
    truth = rng.random((400, 3)) < 0.3
    scores = np.clip(truth * 0.7 + rng.random((400, 3)) * 0.3, 0, 1)
    given = truth.copy()
    given[:20, 0] = ~given[:20, 0]
    Y = sp.csr_matrix(given)
    texts = [f"doc {i}" for i in range(400)]
    return find_label_issues(Y, TopK.from_scores(scores, k=3)), Y, texts, space


def test_review_rows_give_the_threshold_the_score_is_judged_against(tmp_path):
    """Auditing Reuters-21578 as it is, a reviewer read ``model_score`` 0.95 with no
    way to tell whether that was high for its label: the label's self-confidence
    threshold was in labels.csv alone. Each row now carries it, in the CSV too."""
    from tagsmith.audit.review import COLUMNS, review_rows

    issues, Y, texts, space = _flagged_issues()
    rows = review_rows(issues, texts, Y, space, limit=60, flagged_only=False)
    assert {row["kind"] for row in rows} == {"missing", "wrong"}
    for row in rows:
        label = space.id_of(row["label_uri"])
        assert row["threshold"] == round(float(issues.threshold[label]), 6)
    assert any(row["kind"] == "missing" and row["model_score"] > row["threshold"]
               for row in rows)
    assert COLUMNS.index("threshold") == COLUMNS.index("model_score") + 1
    path = _review(tmp_path, rows)
    with open(path, newline="", encoding="utf-8") as file:
        cells = next(csv.DictReader(file))
    assert float(cells["threshold"]) == rows[0]["threshold"]


def test_review_rows_name_the_other_rows_of_their_document_and_text(tmp_path):
    """Auditing Reuters-21578 as it is, a stock-split story's ``acq`` was flagged wrong
    at rank 35 and ``earn`` missing at rank 24: one relabelling, shown as two unrelated
    rows eleven apart; GoEmotions' "Happy cake day!" came three times (two of them
    "happy cake day!" and "Happy Cake day!"), to be decided three times. Each row now
    names the others of its document and of copies of its text, at most
    ``MAX_RELATED`` of them and a count of the rest."""
    from collections import Counter

    from tagsmith.audit.review import MAX_RELATED, review_rows

    issues, Y, texts, space = _flagged_issues()
    rows = review_rows(issues, texts, Y, space, flagged_only=False)
    docs = Counter(row["doc"] for row in rows)
    twice = next(d for d, n in docs.items() if n > 1)
    first, second = (row for row in rows if row["doc"] == twice)
    assert f"#{second['rank']} {second['kind']} {second['label_name']}" in first["related_rows"]
    assert f"#{first['rank']} {first['kind']} {first['label_name']}" in second["related_rows"]
    # a copy of another row's text, in other case and spacing, is named with its document
    lone = next(row for row in rows if docs[row["doc"]] == 1 and row["doc"] != 0)
    copy = [f"  {texts[lone['doc']].upper()} " if i == 0 else t for i, t in enumerate(texts)]
    rows = review_rows(issues, copy, Y, space, flagged_only=False)
    zero = [row for row in rows if row["doc"] == 0]
    assert zero, "document 0 has candidates"
    lone = next(row for row in rows if row["doc"] == lone["doc"])
    assert all(f"#{row['rank']} {row['kind']} {row['label_name']} (doc 0, same text)"
               in lone["related_rows"] for row in zero)
    assert all(not row["related_rows"] for row in rows
               if row["doc"] not in (0, lone["doc"]) and docs[row["doc"]] == 1)
    path = _review(tmp_path, rows)
    with open(path, newline="", encoding="utf-8") as file:
        cells = {int(r["rank"]): r for r in csv.DictReader(file)}
    assert cells[lone["rank"]]["related_rows"] == "; ".join(lone["related_rows"])
    # a text copied many times names MAX_RELATED rows and counts the rest
    same = ["one text"] * len(texts)
    rows = review_rows(issues, same, Y, space, flagged_only=False)
    assert rows[0]["related_rows"][:-1] == [
        f"#{row['rank']} {row['kind']} {row['label_name']}"
        + ("" if row["doc"] == rows[0]["doc"] else f" (doc {row['doc']}, same text)")
        for row in rows[1:MAX_RELATED + 1]]
    assert rows[0]["related_rows"][-1] == f"and {len(rows) - 1 - MAX_RELATED} more"


def test_list_cells_split_back_exactly_where_a_name_holds_their_separator(tmp_path):
    """A label named 'Oil | gas' could not be split back out of ``given_names`` or
    ``model_top`` (joined by ' | '), nor 'Bonds; notes' out of ``related_rows`` (joined
    by '; '): such an entry is now written in double quotes, its own doubled, and
    :func:`list_cell_entries` reads each cell back as the rows had it; the cells of
    ordinary names are their plain joins, as before; apply-review reads such a review."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.audit.detect import find_label_issues
    from tagsmith.audit.review import LIST_SEPARATORS, list_cell_entries, review_rows
    from tagsmith.topk import TopK

    names = ["Oil | gas", "Bonds; notes", 'the "big" one', "a |", "=sum", "plain"]
    space = LabelSpace.from_uris([f"u:{i}" for i in range(6)],
                                 names={f"u:{i}": name for i, name in enumerate(names)})
    rng = np.random.default_rng(0)
    truth = rng.random((200, 6)) < 0.4
    scores = np.clip(truth * 0.7 + rng.random((200, 6)) * 0.3, 0, 1)
    given = truth.copy()
    given[:30, :2] = ~given[:30, :2]
    texts = [f"doc {i % 150}" for i in range(200)]  # copies: related_rows across documents
    topk = TopK.from_scores(scores, k=5)
    rows = review_rows(find_label_issues(sp.csr_matrix(given), topk), texts,
                       sp.csr_matrix(given), space, flagged_only=False, topk=topk)
    for column, separator in LIST_SEPARATORS.items():  # the rows put them to the test
        if column != "given_labels":  # URIs holding a space: the test below
            assert any(separator in entry for row in rows for entry in row[column]), column
    path = _review(tmp_path, rows)
    with open(path, newline="", encoding="utf-8") as file:
        cells = list(csv.DictReader(file))
    for row, cell in zip(rows, cells, strict=True):
        for column in LIST_SEPARATORS:
            assert list_cell_entries(cell[column], column) == row[column], (column, cell)
    assert any('"Oil | gas"' in cell["given_names"] for cell in cells)
    # ordinary names: the cells as they were written before, their plain joins
    ordinary = LabelSpace.from_uris(space.uris, names={f"u:{i}": f"label {i}"
                                                       for i in range(6)})
    plain = review_rows(find_label_issues(sp.csr_matrix(given), topk), texts,
                        sp.csr_matrix(given), ordinary, flagged_only=False, topk=topk)
    with open(_review(tmp_path, plain), newline="", encoding="utf-8") as file:
        for row, cell in zip(plain, csv.DictReader(file), strict=True):
            for column, separator in LIST_SEPARATORS.items():
                assert cell[column] == separator.join(row[column])
    # apply-review reads the review whose cells hold quoted names
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"{text}\t" + " ".join(f"<u:{j}>" for j in np.flatnonzero(g))
                              + "\n" for text, g in zip(texts, given, strict=True)),
                      encoding="utf-8")
    rows[0]["decision"] = "accept"
    stats = apply_review(corpus, _review(tmp_path, rows), tmp_path / "out.tsv", space)
    assert stats["n_added"] + stats["n_removed"] == 1


def test_a_list_cell_that_is_no_list_is_refused_naming_its_column():
    from tagsmith.audit.review import list_cell_entries

    with pytest.raises(ReviewFormatError, match="model_top: a quote left open"):
        list_cell_entries('"Oil | gas (0.5)', "model_top")
    with pytest.raises(ReviewFormatError, match="related_rows: 'x' after a quoted entry"):
        list_cell_entries('"#1 missing a; b"x', "related_rows")
    with pytest.raises(InvalidParameterError, match="column"):
        list_cell_entries("a", "text")


def test_a_jsonl_review_holds_its_keys_in_the_csv_column_order(tmp_path):
    """``related_rows`` came after ``text`` in a JSONL review (added last), where the
    CSV has it before: every key now comes in :data:`COLUMNS`' order."""
    from tagsmith.audit.review import COLUMNS, review_rows

    issues, Y, texts, space = _flagged_issues()
    rows = review_rows(issues, texts, Y, space, limit=3, flagged_only=False)
    path = _review(tmp_path, rows, fmt="jsonl")
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert list(first) == list(COLUMNS)


def test_review_rows_name_the_labels_the_model_ranks_first_for_the_document(tmp_path):
    """Auditing Reuters-21578 as it is, "ROSPATCH TO RESPOND TO DIAGNOSTIC BID" had
    ``earn`` flagged *wrong*, and nothing in the row said what the model would give the
    story instead (``acq``): a reviewer could not tell a label swap from a model that
    knows nothing of the text. Each row names the document's ``MODEL_TOP`` best-scored
    labels by the out-of-sample scores, best first, each with its score."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.audit.detect import find_label_issues
    from tagsmith.audit.review import MODEL_TOP, review_rows
    from tagsmith.topk import TopK

    names = [f"label {i}" for i in range(6)]
    space = LabelSpace.from_uris([f"u:{i}" for i in range(6)],
                                 names={f"u:{i}": name for i, name in enumerate(names)})
    rng = np.random.default_rng(0)
    truth = rng.random((300, 6)) < 0.3
    scores = np.clip(truth * 0.7 + rng.random((300, 6)) * 0.3, 0, 1)
    given = truth.copy()
    given[:20, 0] = ~given[:20, 0]
    Y = sp.csr_matrix(given)
    topk = TopK.from_scores(scores, k=5)
    issues = find_label_issues(Y, topk)
    texts = [f"doc {i}" for i in range(300)]
    rows = review_rows(issues, texts, Y, space, limit=30, flagged_only=False, topk=topk)
    assert rows and MODEL_TOP == 3
    for row in rows:
        best = np.argsort(-scores[row["doc"]], kind="stable")[:MODEL_TOP]
        assert row["model_top"] == [
            f"{names[i]} ({round(float(np.float32(scores[row['doc'], i])), 6)})" for i in best]
    path = _review(tmp_path, rows)
    with open(path, newline="", encoding="utf-8") as file:
        cells = next(csv.DictReader(file))
    assert cells["model_top"] == " | ".join(rows[0]["model_top"])
    # without the scores (rows built from issues alone) the cell is empty
    assert review_rows(issues, texts, Y, space, limit=1, flagged_only=False)[0][
        "model_top"] == []


def test_an_audit_fills_model_top_from_the_scores_it_ranked_by():
    """``audit_corpus`` hands its out-of-sample scores to the review queue: its rows
    name the labels they rank first for each document."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    rng = np.random.default_rng(1)
    words = "rain sun cloud wind snow fog hail storm".split()
    texts = [" ".join(rng.choice(words, 6)) for _ in range(60)]
    rain = np.array(["rain" in text for text in texts])
    given = rain.copy()
    given[:6] = ~given[:6]
    Y = sp.csr_matrix(np.column_stack([given, ~given]))
    space = LabelSpace.from_uris(["u:rain", "u:dry"], names={"u:rain": "rain", "u:dry": "dry"})
    result = audit_corpus(texts, Y, space, options=AuditOptions(scores="knn"))
    assert result.review
    assert all(row["model_top"] and {top.split(" (")[0] for top in row["model_top"]}
               <= {"rain", "dry"} for row in result.review)
    wrong_rain = [row for row in result.review if row["kind"] == "wrong"
                  and row["label_name"] == "rain"]
    assert wrong_rain and all(row["model_top"][0].startswith("dry (") for row in wrong_rain)


def test_review_rows_look_each_name_and_text_up_once(monkeypatch):
    """A review of 300,000 rows (a yso-finna-en slice, ~5,000 labels) spent two thirds
    of its time in ``model_top``'s three name lookups a row and in ``related_rows``
    normalizing each row's text twice; the rows repeat their labels and documents, so
    each name and each document's text is now looked up once, the rows as they were."""
    from collections import Counter

    import tagsmith.audit.duplicates as duplicates
    from tagsmith.audit.review import review_rows
    from tagsmith.topk import TopK

    issues, Y, texts, space = _flagged_issues()
    topk = TopK.from_scores(Y.toarray() * 0.5 + 0.25, k=3)
    expected = review_rows(issues, texts, Y, space, flagged_only=False, topk=topk)
    names, normalized = Counter(), Counter()
    name_of, normalize = LabelSpace.name_of, duplicates.normalized_text

    def counted_name(self, label_id, lang="en"):
        names[label_id] += 1
        return name_of(self, label_id, lang)

    def counted_text(text):
        normalized[text] += 1
        return normalize(text)

    monkeypatch.setattr(LabelSpace, "name_of", counted_name)
    monkeypatch.setattr(duplicates, "normalized_text", counted_text)
    rows = review_rows(issues, texts, Y, space, flagged_only=False, topk=topk)
    assert rows == expected
    assert len({row["doc"] for row in rows}) < len(rows), "documents of several rows"
    assert names and max(names.values()) == 1
    assert normalized and max(normalized.values()) == 1


def test_review_rows_group_copies_by_the_audits_own_text_hashes(monkeypatch, tmp_path):
    """``related_rows`` normalized the rows' texts again though the audit had hashed
    every text by the same rule; given those ``hashes`` it reads them (no text is
    normalized), the rows and their CSV as they were."""
    import tagsmith.audit.duplicates as duplicates
    from tagsmith.audit.review import review_rows

    issues, Y, texts, space = _flagged_issues()
    texts = [text if i % 3 else "a text of its copies" for i, text in enumerate(texts)]
    expected = review_rows(issues, texts, Y, space, flagged_only=False)
    assert any(" same text)" in related for row in expected for related in row["related_rows"])
    hashes = duplicates.text_hashes(texts)

    def refused(text):
        raise AssertionError("a text normalized again")

    monkeypatch.setattr(duplicates, "normalized_text", refused)
    rows = review_rows(issues, texts, Y, space, flagged_only=False, hashes=hashes)
    assert rows == expected
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert (_review(tmp_path / "a", rows).read_bytes()
            == _review(tmp_path / "b", expected).read_bytes())


def test_write_review_refuses_a_column_it_does_not_write(tmp_path):
    """A row with a key of no column was refused (csv.DictWriter's check); it still is,
    rather than written without it."""
    row = {**_row(0, "missing", "http://x/rain", "Rain today"), "note": "mine"}
    with pytest.raises(ValueError, match="'note'"):
        _review(tmp_path, [row])


def test_model_top_rounds_its_scores_as_model_score_does():
    """``model_top`` wrote its scores with ``.3g`` (``1``, ``9.51e-05``) where
    ``model_score`` rounds to six places (``1.0``, ``1e-06``): one row showed one
    scale two ways."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.audit.detect import find_label_issues
    from tagsmith.audit.review import review_rows
    from tagsmith.topk import TopK

    space = LabelSpace.from_uris(["u:a", "u:b", "u:c"], names={"u:a": "a", "u:b": "b",
                                                               "u:c": "c"})
    rng = np.random.default_rng(0)
    scores = rng.random((200, 3)) * 0.5
    scores[:, 0] = 1.0
    scores[:, 2] = 9.51e-05
    Y = sp.csr_matrix(rng.random((200, 3)) < 0.4)
    topk = TopK.from_scores(scores, k=3)
    rows = review_rows(find_label_issues(Y, topk), [f"doc {i}" for i in range(200)], Y,
                       space, limit=1, flagged_only=False, topk=topk)
    top = rows[0]["model_top"]
    assert top[0] == "a (1.0)" and top[2] == "c (9.5e-05)"
    assert top[1] == f"b ({round(float(np.float32(scores[rows[0]['doc'], 1])), 6)})"


#: the review files of :func:`test_the_review_files_are_written_as_before_byte_for_byte`'s
#: rows, as written before review_rows and write_review were made cheaper (stop 44), but
#: for row 6's given_labels cell of one code with a leading zero, '0111, which a
#: spreadsheet showed as 111 (stop 46), and the copies column (stop 55: how many copies
#: of a row's text carry its label)
REVIEW_CSV = (
    'rank,decision,kind,action,label_uri,label_name,probability,model_score,thres'
    'hold,doc,line,doc_id,doc_key,given_labels,given_names,model_top,copies,relat'
    'ed_rows,text\n1,,missing,add,u:oil,Oil | gas,0.91,0.7,0.5,2,3,,12583e1b350d43'
    '6f,,,"""Oil | gas (0.7)"" | Bonds; notes (0.3) | u:none (0.25)",1 of 2 copie'
    's carry it,"""#2 missing Bonds; notes (doc 0, same text)""",crude  RISES\n2,,'
    "missing,add,u:bonds,Bonds; notes,0.8,0.31,0.25,0,1,'0111,adb8928990ee2a28,u:"
    'oil,"""Oil | gas""","""Oil | gas (0.9)"" | =sum (0.2)",0 of 2 copies carry i'
    't,"#1 missing Oil | gas (doc 2, same text)",Crude rises\n3,,missing,add,u:oil'
    ",Oil | gas,0.7,0.1,0.5,1,2,'=x,5625a7394f3cc8db,u:bonds 0111,Bonds; notes | "
    '=sum,"Bonds; notes (0.8) | =sum (0.55) | ""Oil | gas (0.1)""",,#5 wrong =sum'
    ",Bond yields fall\n4,,wrong,remove,'0111,'=sum,0.6,0.05,,4,8,d5,5f334e22a1fdc"
    'b56,u:oil u:bonds u:none,"""Oil | gas"" | Bonds; notes | u:none","u:none (0.'
    '6) | ""Oil | gas (0.5)"" | Bonds; notes (0.45)",,,Gas and bonds\n5,,wrong,rem'
    "ove,'0111,'=sum,0.55,0.45,,1,2,'=x,5625a7394f3cc8db,u:bonds 0111,Bonds; note"
    's | =sum,"Bonds; notes (0.8) | =sum (0.55) | ""Oil | gas (0.1)""",,#3 missin'
    "g Oil | gas,Bond yields fall\n6,,wrong,remove,'0111,'=sum,0.51,0.02,,3,5,''-4"
    ",e3b0c44298fc1c14,'0111,'=sum,'=sum (0.4),,,\n")
REVIEW_JSONL = (
    '{"rank": 1, "decision": null, "kind": "missing", "action": "add", "label_uri'
    '": "u:oil", "label_name": "Oil | gas", "probability": 0.91, "model_score": 0'
    '.7, "threshold": 0.5, "doc": 2, "line": 3, "doc_id": null, "doc_key": "12583'
    'e1b350d436f", "given_labels": [], "given_names": [], "model_top": ["Oil | ga'
    's (0.7)", "Bonds; notes (0.3)", "u:none (0.25)"], "copies": "1 of 2 copies c'
    'arry it", "related_rows": ["#2 missing Bonds; notes (doc 0, same text)"], "t'
    'ext": "crude  RISES"}\n{"rank": 2, "decision": null, "kind": "missing", "acti'
    'on": "add", "label_uri": "u:bonds", "label_name": "Bonds; notes", "probabili'
    'ty": 0.8, "model_score": 0.31, "threshold": 0.25, "doc": 0, "line": 1, "doc_'
    'id": "0111", "doc_key": "adb8928990ee2a28", "given_labels": ["u:oil"], "give'
    'n_names": ["Oil | gas"], "model_top": ["Oil | gas (0.9)", "=sum (0.2)"], "co'
    'pies": "0 of 2 copies carry it", "related_rows": ["#1 missing Oil | gas (doc'
    ' 2, same text)"], "text": "Crude rises"}\n{"rank": 3, "decision": null, "kind'
    '": "missing", "action": "add", "label_uri": "u:oil", "label_name": "Oil | ga'
    's", "probability": 0.7, "model_score": 0.1, "threshold": 0.5, "doc": 1, "lin'
    'e": 2, "doc_id": "=x", "doc_key": "5625a7394f3cc8db", "given_labels": ["u:bo'
    'nds", "0111"], "given_names": ["Bonds; notes", "=sum"], "model_top": ["Bonds'
    '; notes (0.8)", "=sum (0.55)", "Oil | gas (0.1)"], "copies": "", "related_ro'
    'ws": ["#5 wrong =sum"], "text": "Bond yields fall"}\n{"rank": 4, "decision": '
    'null, "kind": "wrong", "action": "remove", "label_uri": "0111", "label_name"'
    ': "=sum", "probability": 0.6, "model_score": 0.05, "threshold": null, "doc":'
    ' 4, "line": 8, "doc_id": "d5", "doc_key": "5f334e22a1fdcb56", "given_labels"'
    ': ["u:oil", "u:bonds", "u:none"], "given_names": ["Oil | gas", "Bonds; notes'
    '", "u:none"], "model_top": ["u:none (0.6)", "Oil | gas (0.5)", "Bonds; notes'
    ' (0.45)"], "copies": "", "related_rows": [], "text": "Gas and bonds"}\n{"rank'
    '": 5, "decision": null, "kind": "wrong", "action": "remove", "label_uri": "0'
    '111", "label_name": "=sum", "probability": 0.55, "model_score": 0.45, "thres'
    'hold": null, "doc": 1, "line": 2, "doc_id": "=x", "doc_key": "5625a7394f3cc8'
    'db", "given_labels": ["u:bonds", "0111"], "given_names": ["Bonds; notes", "='
    'sum"], "model_top": ["Bonds; notes (0.8)", "=sum (0.55)", "Oil | gas (0.1)"]'
    ', "copies": "", "related_rows": ["#3 missing Oil | gas"], "text": "Bond yiel'
    'ds fall"}\n{"rank": 6, "decision": null, "kind": "wrong", "action": "remove",'
    ' "label_uri": "0111", "label_name": "=sum", "probability": 0.51, "model_scor'
    'e": 0.02, "threshold": null, "doc": 3, "line": 5, "doc_id": "\'-4", "doc_key"'
    ': "e3b0c44298fc1c14", "given_labels": ["0111"], "given_names": ["=sum"], "mo'
    'del_top": ["=sum (0.4)"], "copies": "", "related_rows": [], "text": ""}\n')


@pytest.mark.parametrize("hashes", [True, False], ids=["audit-hashes", "hashed-here"])
def test_the_review_files_are_written_as_before_byte_for_byte(tmp_path, hashes):
    """review_rows and write_review on 300,000 rows cost 1.5x and 1.3x their CPU once the
    threshold, related_rows and model_top columns came; made cheaper (names looked up
    before the rows, given labels sliced from one list, rows grouped by a sort, a
    document's fingerprint and id cell worked out once), their files must stay as they
    were: given labels of several and none, model_top padded, copies of a text, a
    blank text, a label with no threshold, names and ids needing quotes."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.audit.detect import LabelIssues
    from tagsmith.audit.duplicates import text_hashes
    from tagsmith.audit.review import review_rows
    from tagsmith.topk import TopK

    space = LabelSpace.from_uris(["u:oil", "u:bonds", "0111", "u:none"],
                                 names={"u:oil": "Oil | gas", "u:bonds": "Bonds; notes",
                                        "0111": "=sum"})
    texts = ["Crude rises", "Bond yields fall", "crude  RISES", "", "Gas and bonds"]
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 1, 0],
                                [1, 1, 0, 1]], dtype=bool))
    topk = TopK(np.array([[0, 2, -1], [1, 2, 0], [0, 1, 3], [2, -1, -1], [3, 0, 1]]),
                np.array([[0.9, 0.2, 0.0], [0.8, 0.55, 0.1], [0.7, 0.3, 0.25], [0.4, 0, 0],
                          [0.6, 0.5, 0.45]], dtype=np.float32), 4)
    issues = LabelIssues(
        doc=np.array([2, 0, 1, 4, 1, 3], np.int32), label=np.array([0, 1, 0, 2, 2, 2], np.int32),
        kind=np.array([0, 0, 0, 1, 1, 1], np.int8),
        probability=np.array([0.91, 0.8, 0.7, 0.6, 0.55, 0.51], np.float32),
        score=np.array([0.7, 0.31, 0.1, 0.05, 0.45, 0.02], np.float32),
        flagged=np.array([True, True, True, True, True, False]),
        n_given=np.zeros(4), band=np.zeros(4),
        threshold=np.array([0.5, 0.25, np.nan, 0.125]), wrong_rate=np.zeros(4),
        missing_rate=np.zeros(4), est_wrong=np.zeros(4), est_missing=np.zeros(4),
        doc_quality=np.ones(5), n_docs=5, n_labels=4)
    rows = review_rows(issues, texts, Y, space, lines=[1, 2, 3, 5, 8],
                       doc_ids=["0111", "=x", None, "'-4", "d5"], topk=topk,
                       flagged_only=False,
                       hashes=text_hashes(texts) if hashes else None)
    assert (write_review(rows, tmp_path / "review.csv").read_bytes().decode("utf-8")
            == "".join(REVIEW_CSV))
    assert (write_review(rows, tmp_path / "review.jsonl").read_bytes().decode("utf-8")
            == "".join(REVIEW_JSONL))
    # no row (nothing flagged): no given label to gather, no group to form
    assert review_rows(issues, texts, Y, space, limit=0, topk=topk) == []
    assert review_rows(issues, texts, Y, space, limit=0) == []


def test_a_jsonl_null_reads_as_an_empty_cell(tmp_path, corpus):
    """A JSONL review row's "label_uri": null (a row added by hand, the label named in
    label_name alone) was refused as "unknown label 'None'", where an empty CSV cell is
    told as empty, with the URI its label_name names. A null reads as an empty cell:
    so does a null decision (undecided), kind (the action tells it) and doc_id (any)."""
    rows = [{**_row(2, "missing", "http://x/snow", "Snowfall in the hills"), "kind": None},
            {**_row(1, "wrong", "http://x/rain", "Bright sun and heat"), "decision": None}]
    review = tmp_path / "review.jsonl"
    review.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    stats = apply_review(corpus, review, tmp_path / "fixed.tsv", SPACE)
    assert stats["n_added"] == 1 and stats["review_undecided"] == 1
    rows[0]["label_uri"] = None
    review.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(ReviewFormatError, match=re.escape(
            f"{review}:1: label_uri is empty; label_name 'snow' is a name of the label of "
            "URI 'http://x/snow'")):
        apply_review(corpus, review, tmp_path / "again.tsv", SPACE)


def test_apply_review_lang_names_labels_in_that_language(tmp_path, caplog):
    """apply-review had no --lang: a German team's audit (audit --lang de) wrote its
    review in German, and apply-review's warnings and refusals named the labels in
    English ('law' where the review read 'Recht')."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    vocab = tmp_path / "vocab.csv"
    vocab.write_text("uri,label_en,label_de,broader\n"
                     "http://x/law,law,Recht,\n"
                     "http://x/rent,rent law,Mietrecht,http://x/law\n", encoding="utf-8")
    corpus = tmp_path / "c.tsv"
    corpus.write_text("Ein Urteil zur Miete\t<http://x/law>\n", encoding="utf-8")
    row = {**_row(0, "missing", "http://x/rent", "Ein Urteil zur Miete"),
           "label_name": "Mietrecht"}
    review = _review(tmp_path, [row])
    tagsmith_cli._register_commands()

    def apply(*lang):
        caplog.clear()
        with caplog.at_level("WARNING", logger="tagsmith"):
            return CliRunner().invoke(tagsmith_cli.cli, [
                "apply-review", str(corpus), str(review), "-o", str(tmp_path / "new.tsv"),
                "--vocab", str(vocab), "--force", *lang])

    result = apply("--lang", "de")
    assert result.exit_code == 0, result.output
    assert ("(first: line 1, http://x/rent ('Mietrecht') added under http://x/law "
            "('Recht'))") in caplog.text, caplog.text
    result = apply()  # without --lang: English, as before
    assert result.exit_code == 0, result.output
    assert "http://x/rent ('rent law') added under http://x/law ('law')" in caplog.text
    # a label_name that is no name of the row's label: refused, naming it in --lang
    write_review([{**row, "label_name": "Recht"}], review)
    result = apply("--lang", "de")
    assert result.exit_code != 0
    assert "'http://x/rent' ('Mietrecht')" in result.output, result.output


def test_apply_review_and_read_decisions_refuse_a_bad_lang(tmp_path):
    """apply_review(lang=None) applied a clean review without a word, and failed with an
    AttributeError only where a refused row's message named its label: the parameter is
    checked first, naming it, and nothing is written."""
    vocab = LabelSpace.from_uris(["http://x/law", "http://x/rent"])
    corpus = tmp_path / "c.tsv"
    corpus.write_text("A ruling on rent\t<http://x/law>\n", encoding="utf-8")
    review = _review(tmp_path, [_row(0, "missing", "http://x/rent", "A ruling on rent")])
    output = tmp_path / "new.tsv"
    for lang in (None, "", "pt_BR"):
        with pytest.raises(InvalidParameterError, match="'lang'"):
            apply_review(corpus, review, output, vocab, lang=lang)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterError, match="'lang'"):
            read_decisions(review, vocab, lang=lang)  # type: ignore[arg-type]
    assert not output.exists()
    # a good one is taken in BCP 47's case
    assert apply_review(corpus, review, output, vocab, lang="EN")["n_added"] == 1


def test_a_folder_corpus_read_again_to_match_moved_rows_warns_once(tmp_path, caplog):
    """Matching rows whose number no longer fits read the corpus once more, and the
    reader's warnings (here: documents without a label file) were logged twice."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in (("a", "Hail"), ("b", "Rain"), ("c", "Snow")):
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    (folder / "b.tsv").write_text("<http://x/sun>\tsun\n", encoding="utf-8")
    review = _review(tmp_path, [_row(0, "missing", "http://x/rain", "Rain")])
    with caplog.at_level("WARNING", logger="tagsmith"):
        stats = apply_review(folder, review, tmp_path / "fixed.jsonl", SPACE)
    assert (stats["n_added"], stats["n_matched_elsewhere"]) == (1, 1)
    assert caplog.text.count("2 of 3 documents have no label file") == 1


def test_rows_of_removed_documents_are_not_compared_with_every_corpus_id(tmp_path,
                                                                         monkeypatch):
    """Where the documents moved, each row whose id (holding a digit) named no document
    of its text was compared with every corpus id: 1,000 rows of removed documents
    against a million ids took minutes. Counted by the comparisons made, not by time:
    a few per row and id, not one per row and id."""
    from tagsmith.audit import review as review_module

    n_ids, n_gone = 300, 40
    rows = [{**_row(0, "missing", "http://x/rain", "Rain"), "doc_id": "0042"}]
    rows += [{**_row(1 + n, "missing", "http://x/sun", f"Gone {n}"), "doc_id": str(90000 + n)}
             for n in range(n_gone)]
    review = _review(tmp_path, rows)
    with open(review, newline="", encoding="utf-8") as handle:
        cells = list(csv.reader(handle))
    cells[1][cells[0].index("doc_id")] = "42"  # as a spreadsheet saved it
    with open(review, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(cells)
    corpus = _jsonl_corpus(tmp_path, {"id": "new", "text": "Hail", "labels": []},
                           {"id": "0042", "text": "Rain", "labels": []},
                           *({"id": str(1000 + n), "text": f"Other {n}", "labels": []}
                             for n in range(n_ids)))
    calls = []
    same_id = review_module._same_id

    def counted(written, doc_id):
        calls.append((written, doc_id))
        return same_id(written, doc_id)

    monkeypatch.setattr(review_module, "_same_id", counted)
    stats = apply_review(corpus, review, tmp_path / "fixed.jsonl", SPACE)
    assert (stats["n_added"], stats["n_matched_elsewhere"], stats["n_not_found"]) == (
        1, 1, n_gone)
    assert [r.labels for r in read_records(tmp_path / "fixed.jsonl")][:2] == [
        (), ("<http://x/rain>",)]
    assert len(calls) <= 4 * (n_gone + n_ids), len(calls)


def test_a_corpus_changed_between_matching_and_writing_is_refused(tmp_path,
                                                                  log_every_progress_line):
    """The rows of a moved review are matched to the documents in one pass and written
    in another: a corpus written to in between (documents appended) was written with the
    rows placed by the old numbering, its progress past 100% ("3/2 docs (150%)"). Now
    refused, naming the corpus, and no output appears; an existing one is kept."""
    import logging

    rows = [{**_row(0, "missing", "http://x/sun", "Heavy rain all day"), "doc_id": "a"}]
    review = _review(tmp_path, rows)
    corpus = _jsonl_corpus(
        tmp_path, {"id": "n", "text": "New one", "labels": []},
        {"id": "a", "text": "Heavy rain all day", "labels": ["<http://x/rain>"]})
    added = json.dumps({"id": "z", "text": "Added meanwhile", "labels": []}) + "\n"

    class AppendAfterMatching(logging.Handler):
        """Appends a document to the corpus as the matching pass says it is done."""

        def emit(self, record):
            if "matched to the review's rows by id and text: 2 docs" in record.getMessage():
                with corpus.open("a", encoding="utf-8") as handle:
                    handle.write(added)

    handler = AppendAfterMatching()
    logging.getLogger("tagsmith").addHandler(handler)
    try:
        for output in (tmp_path / "out.jsonl", tmp_path / "kept.jsonl"):
            if output.name == "kept.jsonl":
                output.write_text("good\n", encoding="utf-8")
                corpus.write_text(corpus.read_text(encoding="utf-8").replace(added, ""),
                                  encoding="utf-8")
            with pytest.raises(DataError, match=r"c\.jsonl: changed while apply-review read "
                               r"it: 2 documents when the review's rows were matched to "
                               r"them, more now; no output written"):
                apply_review(corpus, review, output, SPACE, show_progress=True,
                             overwrite=True)
            if output.name == "kept.jsonl":
                assert output.read_text(encoding="utf-8") == "good\n"
            else:
                assert not output.exists()
    finally:
        logging.getLogger("tagsmith").removeHandler(handler)


def test_a_moved_review_of_a_folder_corpus_writes_its_output_into_the_folder(tmp_path):
    """The check that the corpus did not change between matching a moved review's rows
    and writing took a folder's modification time, which the output's temporary file
    changes where the output is written into the corpus's folder: every such run was
    refused ("changed while apply-review read it: 2 documents ..., 2 now (or
    edited)")."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a0.txt").write_text("New one\n", encoding="utf-8")
    (folder / "a0.tsv").write_text("", encoding="utf-8")
    (folder / "b1.txt").write_text("Heavy rain all day\n", encoding="utf-8")
    (folder / "b1.tsv").write_text("<http://x/rain>\train\n", encoding="utf-8")
    review = _review(tmp_path, [_row(0, "missing", "http://x/sun", "Heavy rain all day")])
    apply_review(folder, review, folder / "fixed.jsonl", SPACE)
    assert [sorted(r.labels) for r in read_records(folder / "fixed.jsonl")] == [
        [], ["<http://x/rain>", "<http://x/sun>"]]


@pytest.mark.parametrize("edit", ["size", "mtime"])
def test_a_folder_corpus_document_edited_between_matching_and_writing_is_refused(
        tmp_path, log_every_progress_line, edit):
    """A folder corpus's change check between matching a moved review's rows and
    writing compared its files' names alone: a document file edited in place (as many
    documents, the same names) was written with the rows matched to the old text. Now
    each file's size and modification time are compared too, and the run is refused."""
    import logging
    import os

    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a0.txt").write_text("New one\n", encoding="utf-8")
    (folder / "b1.txt").write_text("Heavy rain all day\n", encoding="utf-8")
    (folder / "b1.tsv").write_text("<http://x/rain>\train\n", encoding="utf-8")
    review = _review(tmp_path, [_row(0, "missing", "http://x/sun", "Heavy rain all day")])
    edited = folder / "a0.txt"

    class EditAfterMatching(logging.Handler):
        """Edits a document file in place as the matching pass says it is done."""

        def emit(self, record):
            if "matched to the review's rows by id and text: 2 docs" in record.getMessage():
                before = edited.stat()
                edited.write_text("New two\n" if edit == "mtime" else "Newer one\n",
                                  encoding="utf-8")
                if edit == "mtime":  # the same size, another modification time
                    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))

    handler = EditAfterMatching()
    logging.getLogger("tagsmith").addHandler(handler)
    output = tmp_path / "out.jsonl"
    try:
        with pytest.raises(DataError, match=r"corpus: changed while apply-review read it: "
                           r"2 documents when the review's rows were matched to them, 2 now "
                           r"\(or edited\); no output written"):
            apply_review(folder, review, output, SPACE, show_progress=True)
    finally:
        logging.getLogger("tagsmith").removeHandler(handler)
    assert not output.exists()


def _long_ids(text, cut_text=None):
    """Two documents: one of the 19-digit id ``1234567890123456789`` and ``text``, one of
    that id as a spreadsheet cuts it (``1234567890123450000``) and ``text`` too, or
    ``cut_text`` unlabelled; the first labelled rain, the second too where of ``text``."""
    return ({"id": "1234567890123456789", "text": text, "labels": ["<http://x/rain>"]},
            {"id": "1234567890123450000", "text": text if cut_text is None else cut_text,
             "labels": ["<http://x/rain>"] if cut_text is None else []})


@pytest.mark.parametrize("added_in_front", [False, True])
def test_a_19_digit_id_a_spreadsheet_cut_to_15_digits_is_refused_where_it_names_two(
        tmp_path, added_in_front):
    """Excel keeps 15 significant digits of a number: a 19-digit id pasted there comes
    back as ``1234567890123450000``. Where the corpus also has a document of that very id
    and the same text (boilerplate), the row was applied to that other document, in place
    or moved, without a word. Now refused, naming the row and both ids."""
    text = "Heavy rain all day"
    rows = [{**_row(0 + added_in_front, "missing", "http://x/sun", text),
             "doc_id": "1234567890123456789"}]
    review = _spreadsheet_cut(_review(tmp_path, rows))
    front = [{"id": "n", "text": "New one", "labels": []}] if added_in_front else []
    corpus = _jsonl_corpus(
        tmp_path, *front,
        *_long_ids(text))
    output = tmp_path / "out.jsonl"
    with pytest.raises(ReviewFormatError, match=r"review\.csv:2: doc_id "
                       r"'1234567890123450000' names 2 documents of its text "
                       r"\('1234567890123450000', '1234567890123456789'\)"):
        apply_review(corpus, review, output, SPACE)
    assert not output.exists()


def test_a_19_digit_id_a_spreadsheet_cut_names_the_one_document_of_its_text(tmp_path):
    """The id cut to 15 digits naming one document of the corpus whose text is another:
    the row's text names the document whose id it cut, and it is applied there (it was
    "its document (by id) has another text now", not applied)."""
    text = "Heavy rain all day"
    rows = [{**_row(1, "missing", "http://x/sun", text), "doc_id": "1234567890123456789"}]
    review = _spreadsheet_cut(_review(tmp_path, rows))
    corpus = _jsonl_corpus(
        tmp_path, {"id": "n", "text": "New one", "labels": []},
        *_long_ids(text, "Other text"))
    output = tmp_path / "out.jsonl"
    stats = apply_review(corpus, review, output, SPACE)
    assert stats["n_added"] == 1
    assert [sorted(r.labels) for r in read_records(output)] == [
        [], ["<http://x/rain>", "<http://x/sun>"], []]


def test_matching_moved_rows_keeps_no_index_of_every_document_s_text(tmp_path):
    """The pass matching a moved review's rows kept, beside each document's id and
    fingerprint, a list of ids for every text of the corpus (~150 MB of a million
    documents' 518 MB peak) where only the rows' texts are looked up: ~425 bytes a
    document traced here, now ~320 (the bound between them)."""
    import tracemalloc

    from tagsmith.audit.review import _match_moved, _read_decisions

    n = 20_000
    corpus = tmp_path / "c.jsonl"
    with corpus.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "new", "text": "New one", "labels": []}) + "\n")
        for i in range(n):
            handle.write(json.dumps({"id": f"d{i:07d}", "text": f"text number {i}",
                                     "labels": ["<http://x/rain>"]}) + "\n")
    review = _review(tmp_path, [{**_row(5, "missing", "http://x/sun", "text number 5"),
                                 "doc_id": "d0000005"}])
    read = _read_decisions(review, SPACE, "the vocabulary", "en", None)
    tracemalloc.start()
    try:
        matched = _match_moved(corpus, review, SPACE, "fail", read)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert matched is not None and matched.moved == 1 and list(matched.by_doc) == [6]
    assert peak / n < 370, f"{peak / n:.0f} bytes a document"


def test_a_row_s_document_edited_between_the_passes_keeping_size_and_time_is_refused(
        tmp_path, log_every_progress_line):
    """The change check compares the corpus's size and modification time, which an edit
    restoring both (``touch -r``) keeps: the document a row is written to is checked
    again by its text as it is written, so the row never lands on another text (README
    says only the documents no row names pass so)."""
    import logging
    import os

    rows = [{**_row(0, "missing", "http://x/sun", "Heavy rain all day"), "doc_id": "a"}]
    review = _review(tmp_path, rows)
    corpus = _jsonl_corpus(
        tmp_path, {"id": "n", "text": "New one", "labels": []},
        {"id": "a", "text": "Heavy rain all day", "labels": ["<http://x/rain>"]})

    class EditAfterMatching(logging.Handler):
        """Edits the row's document as the matching pass ends, restoring size and time."""

        def emit(self, record):
            if "matched to the review's rows by id and text: 2 docs" in record.getMessage():
                before = corpus.stat()
                corpus.write_text(corpus.read_text(encoding="utf-8").replace(
                    "Heavy rain all day", "Heavy snow all day"), encoding="utf-8")
                os.utime(corpus, ns=(before.st_atime_ns, before.st_mtime_ns))

    handler = EditAfterMatching()
    logging.getLogger("tagsmith").addHandler(handler)
    output = tmp_path / "out.jsonl"
    try:
        with pytest.raises(ReviewFormatError, match=r"review\.csv:2: document 1 "
                           r"\(.*c\.jsonl:2\) has a different text than when it was audited"):
            apply_review(corpus, review, output, SPACE, show_progress=True)
    finally:
        logging.getLogger("tagsmith").removeHandler(handler)
    assert not output.exists()


def test_a_19_digit_id_ending_in_zeros_at_its_own_number_is_not_refused(tmp_path):
    """An id that is itself a corpus id, ending in zeros past its 15th digit, names a
    document of the same text whose id it might have been cut from too: where the
    document at the row's number has that very id, the number and the id agree and the
    row is applied there (a moved row elsewhere in the review must not refuse it)."""
    text = "Heavy rain all day"
    rows = [{**_row(1, "missing", "http://x/sun", text), "doc_id": "1234567890123450000"},
            {**_row(5, "missing", "http://x/sun", "Other text"), "doc_id": "c"}]
    review = _review(tmp_path, rows)
    corpus = _jsonl_corpus(
        tmp_path,
        *_long_ids(text),
        {"id": "c", "text": "Other text", "labels": []})
    output = tmp_path / "out.jsonl"
    stats = apply_review(corpus, review, output, SPACE)
    assert stats["n_added"] == 2
    assert [sorted(r.labels) for r in read_records(output)] == [
        ["<http://x/rain>"], ["<http://x/rain>", "<http://x/sun>"], ["<http://x/sun>"]]


def _spreadsheet_cut(review):
    """``review`` (CSV) as a spreadsheet saves it that read its 19-digit id as a number:
    tagsmith writes ``'1234567890123456789`` (text, kept whole); Excel's cut number is
    a bare ``1234567890123450000``."""
    text = review.read_text(encoding="utf-8")
    assert ",'1234567890123456789," in text
    review.write_text(text.replace(",'1234567890123456789,", ",1234567890123450000,"),
                      encoding="utf-8")
    return review


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_19_digit_id_ending_in_zeros_tagsmith_wrote_is_no_spreadsheet_s_cut(
        tmp_path, fmt):
    """The cut rule read an id ending in zeros past its 15th digit as cut wherever the
    review held it, though tagsmith writes such an id ``'1234567890123450000`` in a CSV
    (text to a spreadsheet, never cut) and JSONL keeps it: a review no spreadsheet
    touched, naming its document by that exact id, was refused once moved (its document
    beside one of the same text whose id it "may be cut from"), or applied to that
    other document where its own had another text now. Now only a CSV's bare cell is
    read as cut: the row is applied to its id's document, or not applied where that
    document's text changed."""
    text = "Heavy rain all day"
    rows = [{**_row(0, "missing", "http://x/sun", text), "doc_id": "1234567890123450000"},
            {**_row(5, "missing", "http://x/sun", "Other text"), "doc_id": "b"}]
    review = _review(tmp_path, rows, fmt)
    review.write_text(review.read_text(encoding="utf-8").replace(
        '"decision": null', '"decision": "accept"'), encoding="utf-8")
    corpus = _jsonl_corpus(
        tmp_path, {"id": "n", "text": "New one", "labels": []},
        *_long_ids(text),
        {"id": "b", "text": "Other text", "labels": []})
    output = tmp_path / "out.jsonl"
    stats = apply_review(corpus, review, output, SPACE)
    assert stats["n_added"] == 2
    assert [sorted(r.labels) for r in read_records(output)] == [
        [], ["<http://x/rain>"], ["<http://x/rain>", "<http://x/sun>"], ["<http://x/sun>"]]
    # its own document's text edited since: not applied, not put on the other one
    corpus = _jsonl_corpus(
        tmp_path, {"id": "n", "text": "New one", "labels": []},
        *_long_ids(text, "Edited since"),
        {"id": "b", "text": "Other text", "labels": []})
    output.unlink()
    stats = apply_review(corpus, review, output, SPACE)
    assert stats["n_added"] == 1
    assert [sorted(r.labels) for r in read_records(output)] == [
        [], ["<http://x/rain>"], [], ["<http://x/sun>"]]


def test_a_cut_id_of_another_text_at_its_own_number_is_not_put_on_the_text_s_document(
        tmp_path):
    """A bare 19-digit id ending in zeros that is the id of the document at the row's
    own number, whose text is another now, was put on the document of the row's text
    whose id it "may be cut from" (a moved row elsewhere engaging the moved path), though
    the number and the id agree on the edited one: the label landed on another
    document. Now, as where two documents of its text are named, the agreeing number
    and id keep it: "its document has another text now", not applied."""
    text = "Heavy rain all day"
    rows = [{**_row(1, "missing", "http://x/sun", text), "doc_id": "1234567890123456789"},
            {**_row(5, "missing", "http://x/sun", "Other text"), "doc_id": "c"}]
    review = _spreadsheet_cut(_review(tmp_path, rows))
    corpus = _jsonl_corpus(
        tmp_path,
        *_long_ids(text, "Edited since"),
        {"id": "c", "text": "Other text", "labels": []})
    output = tmp_path / "out.jsonl"
    stats = apply_review(corpus, review, output, SPACE)
    assert stats["n_added"] == 1
    assert [sorted(r.labels) for r in read_records(output)] == [
        ["<http://x/rain>"], [], ["<http://x/sun>"]]


def _apply_review_space_cli(tmp_path, corpus, review):
    """``apply-review corpus review -o cli.tsv`` with :data:`SPACE` as a vocabulary
    file, the run having succeeded."""
    from click.testing import CliRunner

    tagsmith_cli._register_commands()
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("".join(f"<{uri}>\t{SPACE.name_of(SPACE.id_of(uri))}\n"
                             for uri in SPACE.uris), encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(review), "-o", str(tmp_path / "cli.tsv"),
        "--vocab", str(vocab)])
    assert result.exit_code == 0, result.output
    return result


def test_a_document_the_review_leaves_without_any_label_is_counted_and_named(tmp_path,
                                                                              caplog):
    """A 300-comment GoEmotions audit flagged "OP is going places!"'s one label, neutral,
    as wrong; accepted, apply-review wrote the line with no label and said only "2 labels
    added, 8 removed in 9 documents", while train reads such a line as a negative of
    every label, its right one too. The documents left without any label are counted
    (``n_docs_emptied``), the first named by file and line, and the command warns; a
    document that loses one of two labels, or gets one in place of its only one, is not
    counted."""
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("Heavy rain all day\t<http://x/rain>\n"
                      "Bright sun and heat\t<http://x/rain> <http://x/sun>\n"
                      "Snowfall in the hills\t<http://x/rain>\n", encoding="utf-8")
    rows = [_row(0, "wrong", "http://x/rain", "Heavy rain all day"),  # its only label
            _row(1, "wrong", "http://x/rain", "Bright sun and heat"),  # one of two left
            _row(2, "wrong", "http://x/rain", "Snowfall in the hills"),  # replaced
            _row(2, "missing", "http://x/snow", "Snowfall in the hills")]
    review = _review(tmp_path, rows)
    stats = apply_review(corpus, review, tmp_path / "fixed.tsv", SPACE)
    assert stats["n_removed"] == 3 and stats["n_docs_changed"] == 3
    assert stats["n_docs_emptied"] == 1
    assert stats["docs_emptied"] == [f"{corpus}:1"]
    assert [r.labels for r in read_records(tmp_path / "fixed.tsv")][0] == ()

    result = _apply_review_space_cli(tmp_path, corpus, review)
    text = " ".join((result.output + caplog.text).split())
    assert (f"1 document left without any label by the review, so written to "
            f"{tmp_path / 'cli.tsv'} ({corpus}:1): train reads such a line as a negative "
            "of every label, its right one too; give it its right label") in text


def test_a_folder_document_the_review_leaves_without_any_label_is_named_by_its_file(
        tmp_path):
    """A folder corpus's document left without any label was named ``b1.txt:2``: its
    place in the folder's listing read as line 2 of a file of one document. It is named
    by its file alone."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a0.txt").write_text("Bright sun and heat\n", encoding="utf-8")
    (folder / "a0.tsv").write_text("<http://x/sun>\tsun\n", encoding="utf-8")
    (folder / "b1.txt").write_text("Heavy rain all day\n", encoding="utf-8")
    (folder / "b1.tsv").write_text("<http://x/rain>\train\n", encoding="utf-8")
    review = _review(tmp_path, [_row(1, "wrong", "http://x/rain", "Heavy rain all day")])
    stats = apply_review(folder, review, tmp_path / "fixed.jsonl", SPACE)
    assert stats["n_docs_emptied"] == 1
    assert stats["docs_emptied"] == [str(folder / "b1.txt")]


def test_the_documents_left_without_any_label_are_named_printable(tmp_path, caplog):
    """The warning naming the documents a review left without any label printed the
    corpus's file name raw, a control character in it (an escape sequence) sent to the
    terminal as is; it is escaped as every other name the command prints."""
    corpus = tmp_path / "c\x1b[2Jx.tsv"
    corpus.write_text("Heavy rain all day\t<http://x/rain>\n", encoding="utf-8")
    review = _review(tmp_path, [_row(0, "wrong", "http://x/rain", "Heavy rain all day")])
    result = _apply_review_space_cli(tmp_path, corpus, review)
    said = [r.getMessage() for r in caplog.records if "left without any label" in
            r.getMessage()]
    assert len(said) == 1, result.output + caplog.text
    assert "\x1b" not in said[0] and "c\\x1b[2Jx.tsv:1" in said[0], said
