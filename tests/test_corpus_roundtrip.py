"""Writing a corpus and reading it back keeps every text and label set (property tests)."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagsmith.data.corpus import read_records, write_tsv
from tagsmith.data.document import Document
from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.data.readers import Record, corpus_layout, one_line
from tagsmith.data.writers import write_records
from tagsmith.exceptions import CorpusFormatError

U = "http://example.org/c/"
SPACE = LabelSpace([Label(U + "a", {"en": "apple pie"}), Label(U + "b", {"en": "banana"}),
                    Label(U + "c", {"en": "cherry"})])
#: label keys as corpora write them: <uri>, a bare URI, preferred names with and without
#: whitespace
KEYS = st.sampled_from([f"<{U}a>", f"<{U}b>", f"{U}c", "banana", "cherry", "apple pie"])
#: texts that have broken writers or readers before, and arbitrary ones (surrogates,
#: which UTF-8 cannot encode, are no text a corpus can hold)
SPECIAL = ["=1+1", "+x", "-y", "@z", '"quoted" text', "back\\slash", "nul\x00byte",
           "tab\there", "line\nbreak", "crlf\r\nbreak", "lone\rcr", "\r", "emoji 😀",
           "\u2028line separator", "nel\x85", "\x1cfile separator", "\ufeffbom first",
           "x" * 100_000]
TEXTS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40) | \
    st.sampled_from(SPECIAL)
DOCS = st.lists(st.tuples(TEXTS, st.lists(KEYS, max_size=4)), min_size=1, max_size=6)


def _expected_text(text: str, fmt: str) -> str:
    # readers strip surrounding whitespace; a TSV line holds no tab or line break
    return (one_line(text) if fmt == "tsv" else text).strip()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(docs=DOCS, fmt=st.sampled_from(["tsv", "csv", "jsonl"]), gz=st.booleans())
def test_written_corpus_reads_back_the_same_texts_and_label_sets(docs, fmt, gz):
    records = [Record(text, tuple(keys), f"d{i}", i + 1, "in.jsonl")
               for i, (text, keys) in enumerate(docs)]
    if fmt == "tsv":  # a TSV line cannot hold an empty text: the writer refuses it
        records = [r for r in records if _expected_text(r.text, "tsv")]
        if not records:
            return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"c.{fmt}{'.gz' if gz else ''}"
        assert write_records(records, path, label_space=SPACE) == len(records)
        back = list(read_records(path))
    assert [r.text for r in back] == [_expected_text(r.text, fmt) for r in records]
    assert [{SPACE.lookup(k) for k in r.labels} for r in back] == \
        [{SPACE.lookup(k) for k in r.labels} for r in records]
    if fmt != "tsv":
        assert [r.doc_id for r in back] == [r.doc_id for r in records]


@pytest.mark.parametrize("gz", [False, True])
def test_csv_text_with_a_lone_carriage_return_reads_back(tmp_path, gz):
    # csv.writer(lineterminator="\n") left "a\rb" unquoted: the file could not be read
    path = tmp_path / f"c.csv{'.gz' if gz else ''}"
    write_records([Record("first\rsecond", ("banana",), "d1", 1, "in.jsonl"),
                   Record("\r", (), "d2", 2, "in.jsonl")], path)
    back = list(read_records(path))
    assert [(r.text, r.labels, r.doc_id) for r in back] == \
        [("first\rsecond", ("banana",), "d1"), ("", (), "d2")]


@pytest.mark.parametrize("text", ["", "  "])
def test_csv_document_with_no_text_labels_or_id_reads_back(tmp_path, text):
    # written as ",,", a row of empty cells, which the reader took for a spreadsheet's
    # padding below the data: the document was lost (2 records of 3 read back)
    path = tmp_path / "c.csv"
    write_records([Record("Rain", ("banana",), None, 1, "in.jsonl"),
                   Record(text, (), None, 2, "in.jsonl"),
                   Record("Snow", (), None, 3, "in.jsonl")], path)
    assert [(r.text, r.labels, r.line) for r in read_records(path)] == \
        [("Rain", ("banana",), 2), ("", (), 3), ("Snow", (), 4)]


@pytest.mark.parametrize("text", ["\ufeffHello", "\ufeff"])
def test_a_first_tsv_text_starting_with_a_byte_order_mark_keeps_it(tmp_path, text):
    # the reader drops a BOM at the start of the file: the text lost its first
    # character, and a text of only U+FEFF read back as an "empty text" error
    path = tmp_path / "c.tsv"
    write_records([Record(text, ("banana",), None, 1, "in.jsonl"),
                   Record("\ufeffsecond", (), None, 2, "in.jsonl")], path)
    assert [(r.text, r.labels) for r in read_records(path)] == \
        [(text, ("banana",)), ("\ufeffsecond", ())]


@pytest.mark.parametrize("name", ["c.tsv", "c.csv", "c.jsonl", "c.jsonl.gz"])
def test_a_lone_surrogate_is_a_format_error_naming_the_record_and_nothing_is_written(
        tmp_path, name):
    # it was a bare UnicodeEncodeError (exit code 1, no file or line named)
    path = tmp_path / name
    records = [Record("fine", (), None, 1, "in.jsonl"),
               Record("cut \ud83d", ("banana",), None, 7, "in.jsonl")]
    with pytest.raises(CorpusFormatError, match=r"in\.jsonl:7: .*lone surrogate"):
        write_records(records, path)
    assert list(tmp_path.iterdir()) == []


def test_a_document_with_a_lone_surrogate_names_its_output_line(tmp_path):
    path = tmp_path / "c.tsv"
    docs = [Document("fine", (0,)), Document("cut \udc80", (1,))]
    with pytest.raises(CorpusFormatError, match=r"c\.tsv:2: .*lone surrogate"):
        write_tsv(docs, path, SPACE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("metadata, message", [
    ({"Text": "a note"}, "would be read back as the 'text' column"),
    ({" ID ": "x"}, "would be read back as the 'id' column"),
    ({" year": "1999", "year": "2000"}, "are one CSV column once their spaces are stripped"),
])
def test_csv_refuses_metadata_keys_its_reader_would_not_give_back(tmp_path, metadata, message):
    """The CSV reader takes text/labels/id (any case) as its own columns and keeps the
    first of two header names equal once stripped: such metadata was written, then
    silently lost on reading. JSONL keeps it."""
    from types import MappingProxyType

    record = Record("Rain", ("<http://x/1>",), "d1", 1, "in.jsonl", MappingProxyType(metadata))
    with pytest.raises(CorpusFormatError, match=message):
        write_records([record], tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    write_records([record], tmp_path / "out.jsonl")
    assert dict(next(iter(read_records(tmp_path / "out.jsonl"))).metadata) == metadata


@pytest.mark.parametrize("name", ["c.jsonl", "c.jsonl.gz"])
def test_jsonl_escapes_unicode_line_separators_and_reads_both_forms(tmp_path, name):
    """U+2028, U+2029 and U+0085 were written as they are: valid JSON, but a tool that
    splits lines as str.splitlines does cut each such record in two."""
    import gzip

    texts = ["one\u2028two", "three\u2029four", "five\x85six"]
    records = [Record(text, ("a",), f"d{i}", i, "in.jsonl", {"note": text})
               for i, text in enumerate(texts, 1)]
    path = tmp_path / name
    write_records(records, path)
    raw = (gzip.decompress(path.read_bytes()) if name.endswith(".gz")
           else path.read_bytes()).decode("utf-8")
    assert len(raw.splitlines()) == len(records)
    assert "\\u2028" in raw and "\u2028" not in raw
    back = list(read_records(path))
    assert [r.text for r in back] == texts and [r.metadata["note"] for r in back] == texts
    # a file with the characters as they are (other writers) still reads the same
    unescaped = tmp_path / "raw.jsonl"
    unescaped.write_text(raw.replace("\\u2028", "\u2028").replace("\\u2029", "\u2029")
                         .replace("\\u0085", "\x85"), encoding="utf-8")
    assert "\u2028" in unescaped.read_text(encoding="utf-8")
    assert [r.text for r in read_records(unescaped)] == texts


@pytest.mark.parametrize("cut", [0, 1, 2])
def test_corpus_layout_reads_a_crlf_and_a_quoted_cell_cut_by_the_head(tmp_path, cut):
    """A CRLF, or a quoted cell holding an LF, where the head read ends: one line end,
    and no line end of the file's, wherever the cut falls; a longer first row is read
    whole (the head grows), never the file."""
    chunk = 1 << 16
    head = b"text\r\n" + b"x" * (chunk - 6 - 3 - cut) + b'\r\n"'
    path = tmp_path / "c.csv"
    path.write_bytes(head + b"a\nb\n\"\r\nlast\r\n")
    assert corpus_layout(path, "csv").newline == "\r\n"
    assert corpus_layout(path, "tsv").newline == "\n"  # no quotes: the cell's LF ends a line
    path.write_bytes(b"text\r\n" + b"x" * (chunk - 7 - cut) + b"\r\nlast\r\n")
    assert corpus_layout(path, "csv").newline == "\r\n" == corpus_layout(path, "tsv").newline
    path.write_bytes(b"text\r\n" + b"x" * (chunk - 7 - cut) + b"\nlast\r\n")
    assert corpus_layout(path, "csv").newline == "\n" == corpus_layout(path, "tsv").newline
    path.write_bytes(b"id,text\r\n" + b"x" * (3 * chunk) + b",y\r\n")
    assert corpus_layout(path, "csv") == (",", None, ["id", "text"], False, "\r\n")


@pytest.mark.parametrize("name", ["c.csv", "c.tsv", "c.jsonl.gz"])
def test_records_written_with_crlf_read_back_as_with_lf(tmp_path, name):
    records = [Record("a\nb" if name == "c.csv" else "ab", ("banana",), None, 1, "in"),
               Record("Rain", ("cherry",), None, 2, "in")]
    write_records(records, tmp_path / ("lf-" + name))
    write_records(records, tmp_path / name, newline="\r\n")
    assert corpus_layout(tmp_path / name, name.split(".")[1]).newline == "\r\n"
    assert [(r.text, r.labels) for r in read_records(tmp_path / name)] == \
        [(r.text, r.labels) for r in read_records(tmp_path / ("lf-" + name))]


@pytest.mark.parametrize("bom", [False, True])
def test_a_tsv_of_a_first_text_starting_with_a_bom_reads_back_with_or_without_one(tmp_path,
                                                                                 bom):
    path = tmp_path / "c.tsv"
    write_records([Record("\ufeffRain", ("banana",), None, 1, "in")], path, bom=bom)
    assert [r.text for r in read_records(path)] == ["\ufeffRain"]
