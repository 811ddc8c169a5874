"""Corpus readers: formats, policies, line numbers, label spaces, matrices, writing."""

import csv
import gzip
import json
import logging
import os
import re
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest

import tagsmith.cli as tagsmith_cli
from tagsmith.data.corpus import (
    Corpus,
    ReadReport,
    Record,
    collect,
    derive_label_space,
    detect_format,
    labels_matrix,
    open_corpus,
    read_csv,
    read_directory,
    read_jsonl,
    read_records,
    read_tsv,
    write_tsv,
)
from tagsmith.data.document import Document
from tagsmith.data.labelspace import LabelSpace
from tagsmith.data.readers import directory_files
from tagsmith.exceptions import (
    CorpusFormatError,
    DataError,
    InvalidParameterError,
    UnknownLabelError,
    UnsupportedFormatError,
)

from conftest import refuse_stat_below, stats_below

DATA = Path(__file__).parent / "data"
REUTERS = DATA / "reuters-sample.jsonl.gz"
YSO = DATA / "yso-sample.tsv.gz"

U = "http://example.org/c/"
SPACE = LabelSpace.from_uris([U + "a", U + "b", U + "c"], names={U + "c": "cherry"})
#: (doc id, text, label keys) written in every format below
DOCS = [
    ("d1", "Apples and bananas", [f"<{U}a>", f"<{U}b>"]),
    ("d2", "Only cherries here", ["cherry"]),
    ("d3", "Nothing known about this one", []),
    ("d4", "Bananas, apples, cherries", [f"<{U}b>", f"<{U}c>", f"<{U}a>"]),
]
EXPECTED = [("Apples and bananas", (0, 1)), ("Only cherries here", (2,)),
            ("Nothing known about this one", ()), ("Bananas, apples, cherries", (1, 2, 0))]


def write(path: Path, content: str) -> Path:
    """Write text (gzip-compressed when the name ends in .gz)."""
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
            handle.write(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def make_corpus(tmp_path: Path, fmt: str, gz: bool = False) -> Path:
    suffix = ".gz" if gz else ""
    if fmt == "tsv":
        lines = [text + ("\t" + " ".join(keys) if keys else "") for _, text, keys in DOCS]
        return write(tmp_path / f"c.tsv{suffix}", "\n".join(lines) + "\n")
    if fmt == "jsonl":
        lines = [json.dumps({"id": i, "text": t, "labels": k, "src": "x"}) for i, t, k in DOCS]
        return write(tmp_path / f"c.jsonl{suffix}", "\n".join(lines) + "\n")
    if fmt == "csv":
        rows = [["id", "text", "labels", "year"]]
        rows += [[i, t, " ".join(k), "2024"] for i, t, k in DOCS]
        return write(tmp_path / f"c.csv{suffix}", _csv_text(rows))
    folder = tmp_path / "docs"
    folder.mkdir()
    for doc_id, text, keys in DOCS:
        (folder / f"{doc_id}.txt").write_text(text + "\n", encoding="utf-8")
        if keys:
            sidecar = ".tsv" if doc_id == "d1" else ".key"
            (folder / f"{doc_id}{sidecar}").write_text(
                "".join(f"{k}\tsome name\n" for k in keys), encoding="utf-8")
    return folder


def _csv_text(rows) -> str:
    import io

    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def pairs(corpus):
    return [(doc.text, doc.label_ids) for doc in corpus]


# -- formats --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,gz", [("tsv", False), ("tsv", True), ("csv", False),
                                    ("csv", True), ("jsonl", False), ("jsonl", True),
                                    ("dir", False)])
def test_every_format_gives_the_same_documents(tmp_path, fmt, gz):
    path = make_corpus(tmp_path, fmt, gz)
    assert detect_format(path) == fmt
    corpus = Corpus(path, SPACE)
    assert pairs(corpus) == EXPECTED
    assert corpus.report.n_docs == 4 and corpus.report.n_docs_without_labels == 1
    assert not corpus.report.has_skips


def test_ids_and_metadata_per_format(tmp_path):
    jsonl = list(Corpus(make_corpus(tmp_path, "jsonl"), SPACE))
    assert [d.doc_id for d in jsonl] == ["d1", "d2", "d3", "d4"]
    assert dict(jsonl[0].metadata) == {"src": "x"}
    csv_docs = list(Corpus(make_corpus(tmp_path, "csv"), SPACE))
    assert csv_docs[1].doc_id == "d2" and dict(csv_docs[1].metadata) == {"year": "2024"}
    dir_records = list(read_directory(make_corpus(tmp_path, "dir")))
    assert [(r.doc_id, r.line) for r in dir_records] == [("d1", 1), ("d2", 2), ("d3", 3),
                                                         ("d4", 4)]
    assert dir_records[0].labels == (f"<{U}a>", f"<{U}b>")
    assert [d.doc_id for d in Corpus(make_corpus(tmp_path, "tsv"), SPACE)] == [None] * 4


def test_records_keep_label_keys_as_written(tmp_path):
    path = write(tmp_path / "r.tsv", f"Some text\t<{U}a>  cherry\n")
    [record] = read_tsv(path)
    assert record == Record("Some text", (f"<{U}a>", "cherry"), None, 1, str(path))


def test_duplicate_labels_removed_in_order(tmp_path):
    path = write(tmp_path / "dup.tsv", f"text\t<{U}b> <{U}a> <{U}b> {U}a cherry <{U}c>\n")
    assert pairs(Corpus(path, SPACE)) == [("text", (1, 0, 2))]


def test_detect_format_errors(tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"\.jsonl"):
        detect_format(write(tmp_path / "corpus.txt", "x\n"))
    with pytest.raises(CorpusFormatError, match="missing.txt: file not found"):
        detect_format(tmp_path / "missing.txt")
    with pytest.raises(CorpusFormatError, match="file not found"):
        Corpus(tmp_path / "missing.tsv", SPACE)
    assert detect_format("x.NDJSON.gz") == "jsonl"


# -- re-iteration and streaming -----------------------------------------------------------------
def test_corpus_is_reiterable(tmp_path):
    corpus = Corpus(make_corpus(tmp_path, "jsonl", gz=True), SPACE)
    first, second = list(corpus), list(corpus)
    assert first == second and len(first) == 4
    assert corpus.count() == 4 and list(corpus.texts()) == [t for t, _ in EXPECTED]


@pytest.mark.parametrize("name", ["big.tsv", "big.tsv.gz", "big.jsonl", "big.csv"])
def test_reading_streams(tmp_path, name):
    """A malformed last line does not matter until the reader gets there."""
    fmt = detect_format(name)
    good = {"tsv": f"text {{}}\t<{U}a>", "jsonl": '{{"text": "text {}"}}',
            "csv": "text {}"}[fmt]
    bad = {"tsv": "a\tb\tc", "jsonl": "{not json", "csv": "x,y"}[fmt]
    header = ["text"] if fmt == "csv" else []
    path = write(tmp_path / name, "\n".join(header + [good.format(i) for i in range(20000)]
                                            + [bad]) + "\n")
    corpus = Corpus(path, SPACE)
    assert next(iter(corpus)).text == "text 0"
    with pytest.raises(CorpusFormatError) as info:
        list(corpus)
    assert info.value.line == 20001 + len(header)


def test_report_only_after_a_full_pass(tmp_path):
    corpus = Corpus(make_corpus(tmp_path, "tsv"), SPACE)
    assert corpus.report is None
    next(iter(corpus))
    assert corpus.report is None
    list(corpus)
    assert corpus.report.n_docs == 4


# -- malformed lines ----------------------------------------------------------------------------
def tsv_with_problems(tmp_path) -> Path:
    return write(tmp_path / "bad.tsv", "\n".join([
        f"good one\t<{U}a>",          # 1
        "",                           # 2 blank: skipped silently
        "three\tcolumns\there",      # 3
        f"\t<{U}b>",                  # 4 empty text
        "no labels at all",           # 5
    ]) + "\n")


def test_malformed_line_fails_with_file_and_line(tmp_path):
    path = tsv_with_problems(tmp_path)
    with pytest.raises(CorpusFormatError) as info:
        list(Corpus(path, SPACE))
    assert info.value.line == 3 and info.value.path == str(path)
    assert str(info.value) == f"{path}:3: expected 1 or 2 tab-separated columns, found 3"


def test_a_jsonl_string_with_half_a_character_is_a_malformed_line(tmp_path):
    """json.loads accepts a lone surrogate escape; the string then fails only when
    something writes it (the audit's review, a TSV), after all the work."""
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "an emoji \\ud83d\\ude00 whole", "labels": ["a"]}\n'
                    '{"text": "cut \\ud83d here", "labels": ["a"]}\n'
                    '{"text": "fine", "labels": ["a"], "note": "\\udc00"}\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="lone surrogate") as info:
        list(read_jsonl(path))
    assert info.value.line == 2
    kept = list(read_jsonl(path, on_error="skip"))
    assert [r.text for r in kept] == ["an emoji \U0001F600 whole"]


def test_a_blank_jsonl_label_is_a_malformed_line_with_or_without_scores(tmp_path):
    """A blank label ("" or whitespace) without a 'scores' list beside it was dropped
    silently (with one it was refused): a label lost without a word."""
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "fine", "labels": ["a"]}\n'
                    '{"text": "blank", "labels": ["a", ""]}\n'
                    '{"text": "spaces", "labels": [" \\t"], "scores": [0.5]}\n'
                    '{"text": "also fine", "labels": ["b", 7]}\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError) as info:
        list(read_jsonl(path))
    assert str(info.value) == (f"{path}:2: blank label '' in 'labels' ('' or whitespace "
                               "only): each label needs a name or URI; remove it (and its "
                               "score in 'scores', if any)")
    kept = list(read_jsonl(path, on_error="skip"))  # --on-error skip: skipped and counted
    assert [(r.line, r.labels) for r in kept] == [(1, ("a",)), (4, ("b", "7"))]
    corpus = Corpus(path, LabelSpace.from_uris(["a", "b", "7"]), on_error="skip")
    list(corpus)
    assert corpus.report.n_skipped_lines == 2


def test_jsonl_nan_and_infinity_are_malformed_lines_and_never_written(tmp_path):
    """json.loads reads the bare tokens NaN, Infinity and -Infinity (no JSON: jq and
    JavaScript refuse the file) and json.dumps wrote them back into corpora."""
    from tagsmith.data.writers import write_records

    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "first", "labels": ["a"]}\n'
                    '{"text": "nan", "labels": ["a"], "score": NaN}\n'
                    '{"text": "inf", "labels": ["a"], "m": {"w": [-Infinity]}}\n'
                    '{"text": "NaN and Infinity", "labels": ["a"], "x": "Infinity"}\n',
                    encoding="utf-8")
    with pytest.raises(CorpusFormatError) as info:
        list(read_jsonl(path))
    assert str(info.value) == (f'{path}:2: invalid JSON: NaN is no JSON number (write it '
                               'as the string "NaN")')
    errors = []
    kept = list(read_jsonl(path, on_error=errors.append))
    assert [r.text for r in kept] == ["first", "NaN and Infinity"]
    assert [(e.line, e.reason.split(" is ")[0]) for e in errors] == [
        (2, "invalid JSON: NaN"), (3, "invalid JSON: -Infinity")]
    # metadata holding such floats (a Document made in Python) is written as strings
    record = Record("t", ("a",), "d", 1, "mem", {"s": float("nan"),
                                                 "m": [float("inf"), -float("inf")]})
    out = tmp_path / "out.jsonl"
    write_records([record], out)
    line = out.read_text(encoding="utf-8")
    assert "NaN" in line and json.loads(line, parse_constant=pytest.fail) == {
        "id": "d", "text": "t", "labels": ["a"], "s": "NaN",
        "m": ["Infinity", "-Infinity"]}
    assert [r.metadata["m"] for r in read_jsonl(out)] == [["Infinity", "-Infinity"]]
    write_records([record], tmp_path / "out.csv")
    rows = list(csv.reader((tmp_path / "out.csv").open(encoding="utf-8", newline="")))
    assert rows[1][3:] == ["NaN", '["Infinity", "-Infinity"]']


def test_jsonl_number_overflowing_a_float_is_a_malformed_line(tmp_path):
    """1e999 is valid JSON syntax, but json.loads read it as an infinite float, which
    the corpus then carried (and wrote back as the string "Infinity") where the bare
    Infinity token is refused."""
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "first", "labels": ["a"], "w": 1.5e308}\n'
                    '{"text": "big", "labels": ["a"], "score": 1e999}\n'
                    '{"text": "deep", "labels": ["a"], "m": {"w": [-2E+400]}}\n'
                    '{"text": "last", "labels": ["a"], "tiny": 1e-999}\n',
                    encoding="utf-8")
    with pytest.raises(CorpusFormatError) as info:
        list(read_jsonl(path))
    assert str(info.value) == (f"{path}:2: invalid JSON: the number 1e999 is too large "
                               "for a float (at most about 1.8e308)")
    errors = []
    kept = list(read_jsonl(path, on_error=errors.append))
    assert [r.text for r in kept] == ["first", "last"]
    assert [r.metadata for r in kept] == [{"w": 1.5e308}, {"tiny": 0.0}]
    assert [(e.line, e.reason.split(" is ")[0]) for e in errors] == [
        (2, "invalid JSON: the number 1e999"), (3, "invalid JSON: the number -2E+400")]


def test_trailing_tabs_are_no_extra_column(tmp_path):
    path = write(tmp_path / "c.tsv", f"one\t<{U}a>\t\ntwo\t<{U}a> <{U}b>\t \t\r\n"
                 f"three\t\t<{U}b>\n")
    records = read_tsv(path)
    got = [(r.text, r.labels) for r in records]
    # the third line's <uri> in a third column is Annif's TAB-separated subjects
    assert got == [("one", (f"<{U}a>",)), ("two", (f"<{U}a>", f"<{U}b>")),
                   ("three", (f"<{U}b>",))]


def test_annif_subjects_separated_by_tabs_read_as_annif_reads_them(tmp_path):
    # Annif's short-text corpus may separate its subjects with TABs, a column each
    # (its documentation says so and its reader splits them at any blank): the line
    # was refused as "expected 1 or 2 tab-separated columns, found 3"
    path = write(tmp_path / "c.tsv", f"Rain\t<{U}a>\t<{U}b>\nSnow\t<{U}b>\t\t<{U}a> <{U}b>\n")
    assert pairs(Corpus(path, SPACE)) == [("Rain", (0, 1)), ("Snow", (1, 0))]
    # a third column that is no <uri>: still refused, naming the line
    bad = write(tmp_path / "bad.tsv", f"Rain\t<{U}a>\n\nSnow\t<{U}b>\tcold\n")
    with pytest.raises(CorpusFormatError, match=r"bad.tsv:3: expected 1 or 2 tab-sep"):
        list(read_tsv(bad))


def test_labels_joined_by_comma_or_bar_in_a_tsv_are_warned_about(tmp_path, caplog):
    # GoEmotions written with its labels joined as a CSV cell joins them was read as
    # 221 labels such as 'admiration|amusement', one a line, without a word, and the
    # audit took it for a single-label catalogue: a TSV separates labels by spaces
    path = write(tmp_path / "c.tsv", "I love it\tjoy\nSo sad\tsadness\nWow\tjoy|surprise\n"
                 "Oh\tsurprise\nHope so\tsadness,joy\nAgain\tjoy|surprise\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.labels for r in read_tsv(path)][2] == ("joy|surprise",)  # read as before
        list(read_tsv(path))  # the same file read again: no second warning
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1, warned
    assert warned[0].startswith(
        f"{path}: 2 label tokens join labels of the file by ',' or '|', each read as one "
        "label (first: line 3, 'joy|surprise', where 'joy' and 'surprise' are labels of "
        "the file on their own): a TSV corpus separates a line's labels by spaces; write "
        "'joy surprise'"), warned[0]
    if shutil.which("awk"):  # the advice's command, run, gives the labels apart
        command = warned[0].split("itself: ")[1].rsplit(")", 1)[0]
        import subprocess
        subprocess.run(command, shell=True, cwd=tmp_path, check=True)
        assert [r.labels for r in read_tsv(tmp_path / "fixed.tsv")][2:5] == [
            ("joy", "surprise"), ("surprise",), ("sadness", "joy")]
    caplog.clear()
    # a URI or a name that merely holds a comma or a bar, its parts no labels of the
    # file, is no join: not warned of
    plain = write(tmp_path / "p.tsv", "Rain\t<http://x/a,b> Washington, D.C.\n"
                  "Snow\tb a|c\nHail\ta\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        list(read_tsv(plain))
    assert not caplog.records, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("source", ["c.tsv.gz", "fifo"])
def test_joined_labels_are_told_of_a_gzip_corpus_and_of_a_pipe(tmp_path, caplog, source):
    # the labels read alone are looked up again in the file only where a token joins
    # labels (tracking every line's labels was ~15% more CPU reading a TSV without
    # any): a gzip corpus is so read again, a pipe, which cannot be, is tracked as read
    content = ("Oh\tsurprise\nI love it\tjoy\nWow\tjoy|surprise\nRain\t<http://x/a,b>\n"
               "Hope so\tsadness,joy\n")
    path = tmp_path / source
    if source == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no named pipes here")
        os.mkfifo(path)
        import threading
        writer = threading.Thread(target=lambda: path.write_text(content))
        writer.start()
    else:
        write(path, content)
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.labels for r in read_tsv(path)][2] == ("joy|surprise",)
    if source == "fifo":
        writer.join()
    warned = [r.getMessage() for r in caplog.records if "join" in r.getMessage()]
    assert len(warned) == 1, warned
    assert warned[0].startswith(f"{path}: 1 label token joins labels of the file"), warned
    assert "'joy|surprise'" in warned[0] and "'sadness,joy'" not in warned[0]


def test_uri_columns_after_several_labels_are_warned_about(tmp_path, caplog):
    # a native corpus's stray third column (a source URL), refused before Annif's
    # TAB-separated subjects were read, became each document's label without a word
    # (800 documents trained as 828 labels); Annif writes a subject a column
    path = write(tmp_path / "c.tsv", f"Rain\t<{U}a> <{U}b>\t<http://src/1>\n"
                 f"Snow\t<{U}b>\t<{U}a>\nHail\t<{U}a> <{U}b>\t<http://src/3>\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.labels for r in read_tsv(path)][0] == (f"<{U}a>", f"<{U}b>",
                                                         "<http://src/1>")
        list(read_tsv(path))  # the same file read again: no second warning
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and warned[0].startswith(
        f"{path}: 2 lines have <URI> columns after several labels (or after one of another "
        "site), read as labels too")
    assert "(first: line 1)" in warned[0] and "cut -f1,2" in warned[0]
    caplog.clear()
    # one label a line, then a source URL of another site: it was read as a label too,
    # not warned of (Annif's subjects, a column each, come from one vocabulary)
    one = write(tmp_path / "one.tsv", f"Rain\t<{U}a>\t<https://news.example.com/1>\n"
                f"Snow\t<{U}b>\t<https://news.example.com/2>\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.labels for r in read_tsv(one)][0] == (f"<{U}a>", "<https://news.example.com/1>")
    assert [r.getMessage() for r in caplog.records] == [
        warned[0].replace(str(path), str(one))]
    caplog.clear()
    annif = write(tmp_path / "a.tsv", f"Rain\t<{U}a>\t<{U}b>\n")  # Annif's: no warning
    with caplog.at_level("WARNING", logger="tagsmith"):
        list(read_tsv(annif))
    assert not caplog.records
    # one vocabulary's URIs written http and https, or its host in capitals (a corpus
    # joined from two exports): one site, Annif's, no source URL; it was warned of
    yso = "www.yso.fi/onto/yso/p"
    mixed = write(tmp_path / "m.tsv", f"Rain\t<http://{yso}1>\t<https://{yso}2>\n"
                  f"Snow\t<https://{yso}2>\t<http://WWW.YSO.FI/onto/yso/p1>\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        list(read_tsv(mixed))
    assert not caplog.records
    # a vocabulary of URNs (GoEmotions' converted) then a source URL: no site to
    # compare, it was read as a label silently; URNs then URNs stay Annif's
    urns = write(tmp_path / "u.tsv", "Yay\t<urn:goemotions:joy>\t<https://reddit.com/r/1>\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        list(read_tsv(urns))
        list(read_tsv(write(tmp_path / "uu.tsv", "Yay\t<urn:e:joy>\t<urn:e:love>\n")))
    assert [r.getMessage() for r in caplog.records] == [
        warned[0].replace(str(path), str(urns)).replace("2 lines have", "1 line has")]


#: a TSV line with nothing before its tab, as the reader refuses it
EMPTY_TSV = ("empty text (nothing before the tab: a TSV line cannot hold an empty document, "
             "a CSV or JSONL record can; --on-error skip leaves such lines out)")


def test_a_tsv_line_with_an_empty_text_says_why_and_what_to_do(tmp_path):
    # 'file:76: empty text', where a CSV or JSONL record with an empty text is read as
    # an empty document: the message said neither why nor how to go on
    path = write(tmp_path / "c.tsv", "good one\t<urn:e:joy>\n \t<urn:e:joy>\n")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_tsv(path))
    assert str(caught.value) == f"{path}:2: {EMPTY_TSV}"


def test_malformed_lines_skipped_and_counted(tmp_path, caplog):
    corpus = Corpus(tsv_with_problems(tmp_path), SPACE, on_error="skip")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert pairs(corpus) == [("good one", (0,)), ("no labels at all", ())]
    report = corpus.report
    assert report.n_skipped_lines == 2
    assert report.skipped_lines == [(3, "expected 1 or 2 tab-separated columns, found 3"),
                                    (4, EMPTY_TSV)]
    assert "2 malformed lines skipped (first at line 3" in report.summary()
    assert any("malformed" in r.getMessage() for r in caplog.records)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin.tsv"
    path.write_bytes(b"fine\n" + "caf\u00e9\n".encode("latin-1") + b"also fine\n")
    with pytest.raises(CorpusFormatError, match=r"latin.tsv:2: not valid UTF-8"):
        list(read_tsv(path))
    corpus = Corpus(path, SPACE, on_error="skip")
    assert [d.text for d in corpus] == ["fine", "also fine"]
    assert corpus.report.skipped_lines[0][0] == 2


def test_damaged_gzip_is_a_format_error(tmp_path):
    path = tmp_path / "broken.tsv.gz"
    path.write_bytes(gzip.compress(b"one\ntwo\n" * 1000)[:-40])
    with pytest.raises(CorpusFormatError, match="broken.tsv.gz"):
        list(read_tsv(path))
    # the last line read, written plainly as every line number is ('after line 2,257')
    whole = gzip.compress("".join(f"doc {i * 7919 % 10007}\n" for i in range(3000)).encode())
    path.write_bytes(whole[:len(whole) * 3 // 4])
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    n = zlib.decompressobj(wbits=31).decompress(path.read_bytes()).count(b"\n")
    assert n > 999 and f"cannot read the file after line {n} (" in str(info.value)


def test_jsonl_errors(tmp_path):
    path = write(tmp_path / "bad.jsonl", "\n".join([
        '{"id": 7, "text": "ok", "labels": ["cherry", 3]}',
        '{"text": "unterminated',
        '{"text": "x", "labels": "cherry"}',
        '["not", "an", "object"]',
        '{"labels": []}',
        '{"id": 8, "text": ""}',
    ]) + "\n")
    with pytest.raises(CorpusFormatError, match=r"bad.jsonl:2: invalid JSON: Unterminated"):
        list(read_jsonl(path))
    errors = []
    records = list(read_jsonl(path, on_error=errors.append))
    assert [(e.line, e.reason.split(",")[0]) for e in errors] == [
        (2, "invalid JSON: Unterminated string starting at: line 1 column 10 (char 9)"),
        (3, "'labels' must be a list"), (4, "expected a JSON object"), (5, "missing 'text'")]
    assert records[0] == Record("ok", ("cherry", "3"), "7", 1, str(path))
    assert records[1].text == "" and records[1].doc_id == "8"  # empty text is allowed


def test_jsonl_last_line_cut_short_says_so(tmp_path):
    """A JSONL file whose writing or copy stopped mid-line (label output copied while it
    was written, a disk that filled) failed as 'invalid JSON: Unterminated string' at a
    line number alone, which did not tell that the file is cut short, not written wrong.
    Its last line, with no line end, now says so; a bad line in the middle does not."""
    good = '{"id": 1, "text": "ok", "labels": ["cherry"]}\n'
    path = write(tmp_path / "cut.jsonl", good + '{"id": 2, "text": "half a docu')
    with pytest.raises(CorpusFormatError) as info:
        list(read_jsonl(path))
    assert str(info.value).startswith(f"{path}:2: invalid JSON: Unterminated string")
    assert str(info.value).endswith("; it is the file's last line and has no line end: the "
                                    "file was cut short (written or copied in part?)")
    path = write(tmp_path / "bad.jsonl", good + '{"id": 2, "text": "half\n' + good)
    with pytest.raises(CorpusFormatError) as info:
        list(read_jsonl(path))
    assert "cut short" not in str(info.value)
    # a whole last line without a line end is read as ever
    path = write(tmp_path / "whole.jsonl", good + good.rstrip("\n"))
    assert len(list(read_jsonl(path))) == 2
    # cut inside a character: "not valid UTF-8 ...; save the file as UTF-8" told to
    # save again as UTF-8 a file that is UTF-8, cut short
    path = tmp_path / "cut_char.jsonl"
    path.write_bytes(good.encode() + '{"id": 2, "text": "café'.encode()[:-1])
    with pytest.raises(CorpusFormatError) as info:
        list(read_jsonl(path))
    assert str(info.value) == (f"{path}:2: not valid UTF-8 (byte 0xc3: unexpected end of "
                               "data at byte 22); it is the file's last line and has no "
                               "line end: the file was cut short (written or copied in "
                               "part?)")

def test_a_cp1252_last_line_ending_in_an_accent_is_not_said_cut_short(tmp_path):
    """A Windows-1252 file whose last line ends in 'é' with no line end (b'caf\\xe9')
    ends as a UTF-8 file cut mid-character does: it was said cut short, with no word of
    cp1252, and no advice to save it as UTF-8. A line complete as cp1252, with nothing
    before it showing the file is UTF-8, keeps that advice; a UTF-8 file cut so (its
    other lines UTF-8) is still said cut short."""
    path = tmp_path / "win.tsv"
    path.write_bytes(b"a match\t<u:sport>\nun caf\xe9")
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    assert "reads as cp1252 text" in str(info.value) and "save the file as UTF-8" in \
        str(info.value) and "cut short" not in str(info.value)
    path = tmp_path / "utf8.tsv"
    path.write_bytes("un café\t<u:sport>\nun caf".encode() + "é".encode()[:1])
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    assert "cut short" in str(info.value) and "reads as cp1252" not in str(info.value)


def test_jsonl_deep_nesting_and_huge_integers_are_malformed_lines(tmp_path):
    # json.loads raises RecursionError and ValueError (int digit limit) on these: they
    # used to escape as tracebacks, even with on_error="skip"
    path = write(tmp_path / "evil.jsonl", "\n".join([
        '{"text": "first"}',
        '{"text": "deep", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"text": "big", "id": ' + "9" * 5000 + "}",
        '{"text": "last"}',
    ]) + "\n")
    errors = []
    records = list(read_jsonl(path, on_error=errors.append))
    assert [r.text for r in records] == ["first", "last"]
    assert [(e.line, e.reason[:13]) for e in errors] == [(2, "invalid JSON:"),
                                                         (3, "invalid JSON:")]
    assert "nested too deeply" in errors[0].reason
    with pytest.raises(CorpusFormatError, match=r"evil.jsonl:2: invalid JSON"):
        list(read_jsonl(path))
    assert [r.text for r in read_jsonl(path, on_error="skip")] == ["first", "last"]


def test_csv_requires_a_text_column(tmp_path):
    path = write(tmp_path / "notext.csv", "body,labels\nhello,x\n")
    with pytest.raises(CorpusFormatError) as info:
        list(read_csv(path))
    assert info.value.path == str(path) and info.value.line == 1
    assert "no 'text' column" in str(info.value) and "'body', 'labels'" in str(info.value)


def test_csv_saved_by_a_spreadsheet_with_semicolons_or_tabs_reads_as_with_commas(tmp_path):
    """A spreadsheet saves "CSV" with ';' where the decimal mark is a comma (Excel in
    most European locales; with its "sep=;" line when meant for Excel), and exports
    tab-separated text: each was refused, "no 'text' column in the header; found
    columns: 'id;text;labels'" (or 'sep=;')."""
    expected = [("d1", "a, b; c", ("x", "y"), 2), ("d2", "two\nlines", ("z",), 3)]
    for name, content, offset in (
            ("semi.csv", 'id;text;labels\r\nd1;"a, b; c";x y\r\nd2;"two\nlines";z\r\n', 0),
            ("sep.csv", 'sep=;\r\nid;Text ;labels\r\nd1;"a, b; c";x y\r\nd2;"two\nlines";z', 1),
            ("tab.csv", 'id\ttext\tlabels\nd1\ta, b; c\tx y\nd2\t"two\nlines"\tz\n', 0),
            ("sept.csv", 'SEP=\t\nid\ttext\tlabels\nd1\ta, b; c\tx y\nd2\t"two\nlines"\tz\n', 1)):
        path = write(tmp_path / name, content)
        got = [(r.doc_id, r.text, r.labels, r.line) for r in read_csv(path)]
        assert got == [(i, t, la, n + offset) for i, t, la, n in expected], name
    # a ';' header with no text column is still refused, on the line of the header
    path = write(tmp_path / "body.csv", "sep=;\nbody;labels\nhello;x\n")
    with pytest.raises(CorpusFormatError) as info:
        list(read_csv(path))
    assert info.value.line == 2 and "found columns: 'body', 'labels'" in str(info.value)
    # a comma's header naming text stays a comma's, ';' in its cells included
    path = write(tmp_path / "comma.csv", "text,labels\na;b,x\n")
    assert [(r.text, r.labels) for r in read_csv(path)] == [("a;b", ("x",))]


def test_csv_rows_of_empty_cells_a_spreadsheet_saves_below_the_data_are_no_records(tmp_path):
    # two documents with no text and no labels each, trained on as such
    path = write(tmp_path / "sheet.csv", "id,text,labels,,\r\nd1,hello,x,,\r\n,,,,\r\n"
                                         " , ,,,\r\n\"\",,,,\r\nd2,,y,,\r\n,,,,")
    # a quoted empty text ('"",,,,') is a document, as tagsmith writes one of no text,
    # labels or id (which ',,,,' lost)
    assert [(r.doc_id, r.text, r.labels, r.line) for r in read_csv(path)] == [
        ("d1", "hello", ("x",), 2), (None, "", (), 5), ("d2", "", ("y",), 6)]


def test_csv_labels_listed_as_a_spreadsheet_lists_them(tmp_path):
    # "billing,shipping" was one label of that name (a label space of its own without
    # --vocab) and "billing, shipping" the labels 'billing,' and 'shipping'
    path = write(tmp_path / "sheet.csv", 'text,labels\na,"billing,shipping"\n'
                 'b,"billing, shipping"\nc,billing;shipping\nd,"billing\nshipping"\n'
                 'e,"climate change; rain"\nf,"<http://x/a,b>,<http://x/c>"\ng,"Art, Modern|"\n')
    assert [r.labels for r in read_csv(path)] == [("billing", "shipping")] * 4 + [
        ("climate change", "rain"), ("<http://x/a,b>", "<http://x/c>"), ("Art, Modern",)]
    # and such keys are written so that they read back as one
    from tagsmith.data.writers import write_records

    records = [Record(t, la, None, n, "m") for n, (t, la) in enumerate(
        [("a", ("x,y",)), ("b", ("x;y", "z")), ("c", ("x", "y"))], 1)]
    out = tmp_path / "out.csv"
    write_records(records, out)
    assert [r.labels for r in read_csv(out)] == [("x,y",), ("x;y", "z"), ("x", "y")]


def test_the_layout_of_csv_and_jsonl_records_is_worked_out_only_when_asked(tmp_path):
    """A CSV labels cell's joiner and a JSONL object's key order, which apply-review
    alone uses (to write a corpus as it was), were worked out for every record any
    command read: 7 to 11% more CPU to read yso-finna-en. Only ``layout`` reads them."""
    sheet = write(tmp_path / "c.csv", 'text,labels\na,x|y\nb,"x; y"\nc,z|\nd,z\n')
    lines = write(tmp_path / "c.jsonl", '{"text": "a", "labels": ["x"], "id": "d1"}\n'
                  '{"id": "d2", "text": "b", "labels": ["y"]}\n{"year": 1, "text": "c"}\n')
    assert [r.label_joiner for r in read_records(sheet, layout=True)] == \
        [r.label_joiner for r in read_csv(sheet, layout=True)] == ["|", "; ", "|", None]
    assert [r.key_order for r in read_records(lines, layout=True)] == \
        [r.key_order for r in read_jsonl(lines, layout=True)] == [
            ("text", "labels", "id"), None, ("year", "text")]
    for path in (sheet, lines):
        plain = list(read_records(path))
        assert plain == list(read_records(path, layout=True))  # the same records
        assert {(r.label_joiner, r.key_order) for r in plain} == {(None, None)}
    corpus = Corpus(sheet, LabelSpace.from_uris(["x", "y", "z"]))
    assert [r.label_joiner for r in corpus.records(layout=True)] == ["|", "; ", "|", None]
    assert {r.label_joiner for r in corpus.records()} == {None}
    # a format of no layout takes the keyword and reads as ever
    tsv = write(tmp_path / "c.tsv", "a\t<http://x/1>\n")
    assert list(read_records(tsv, layout=True)) == list(read_records(tsv))


def test_a_record_s_own_init_sets_every_field_with_its_default():
    """Record's __init__ is written by hand (the one dataclass writes for a frozen class
    cost a reader 4% more CPU): a field added to the class and not to it is refused."""
    import dataclasses
    import inspect

    fields = dataclasses.fields(Record)
    params = [p for p in inspect.signature(Record).parameters.values()
              if not p.name.startswith("_")]
    assert [p.name for p in params] == [f.name for f in fields]
    for f, p in zip(fields, params, strict=True):
        default = f.default_factory() if callable(f.default_factory) else f.default
        assert p.default is (inspect.Parameter.empty if default is dataclasses.MISSING
                             else default), f.name
    values = {f.name: object() for f in fields}
    record = Record(**values)
    assert {name: getattr(record, name) for name in values} == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.text = "x"  # type: ignore[misc]


def test_csv_labels_cell_of_category_paths_is_no_list_of_words(tmp_path):
    # a product taxonomy's path was split at its spaces ('Electronics', '>', 'Audio')
    # or its commas ('Food', 'Beverages & Tobacco > Tea'): without --vocab, the labels
    # '>' and '&' were learnt and suggested
    path = write(tmp_path / "products.csv", 'text,labels\n'
                 'a,Electronics > Audio > Headphones\n'
                 'b,"Food, Beverages & Tobacco > Beverages > Tea & Infusions"\n'
                 'c,"Home & Garden > Decor; Furniture > Beds & Accessories > Accessories"\n'
                 'd,"Office Supplies > Calendars, Organizers & Planners|Media > Books"\n'
                 'e,"<http://x/1> <http://x/2>"\nf,"<http://x/a,b>,<http://x/c>"\n')
    assert [r.labels for r in read_csv(path)] == [
        ("Electronics > Audio > Headphones",),
        ("Food, Beverages & Tobacco > Beverages > Tea & Infusions",),
        ("Home & Garden > Decor", "Furniture > Beds & Accessories > Accessories"),
        ("Office Supplies > Calendars, Organizers & Planners", "Media > Books"),
        ("<http://x/1>", "<http://x/2>"), ("<http://x/a,b>", "<http://x/c>")]


def test_tsv_labels_of_a_category_path_refused_not_read_as_its_words(tmp_path):
    # 'Electronics > Audio' was read as the labels 'Electronics', '>' and 'Audio'
    path = write(tmp_path / "products.tsv", "charger 65W\t<1> <2>\n"
                 "headphones\tElectronics > Audio > Headphones\n")
    with pytest.raises(CorpusFormatError, match=r"products.tsv:2: the labels column holds "
                                                r"a category path .*by its id or <uri>"):
        list(read_tsv(path))
    assert [r.labels for r in read_tsv(path, on_error="skip")] == [("<1>", "<2>")]


def test_a_spreadsheet_workbook_or_plain_csv_export_is_refused_saying_what_to_save(tmp_path):
    # an .xlsx was "cannot tell the corpus format", one named .csv "not valid UTF-8 (invalid
    # start byte at byte 14)" at line 1, and Excel's plain "CSV" (cp1252) gave no advice
    workbook = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff\xfe"
    for name in ("book.xlsx", "book.ods", "book.csv"):
        path = tmp_path / name
        path.write_bytes(workbook)
        with pytest.raises((CorpusFormatError, UnsupportedFormatError)) as info:
            list(read_records(path))
        assert "a spreadsheet workbook" in str(info.value), str(info.value)
        assert 'save the sheet as "CSV UTF-8" (Excel)' in str(info.value)
    path = tmp_path / "plain.csv"
    path.write_bytes("text,labels\nCaf\u00e9,x\n".encode("cp1252"))
    with pytest.raises(CorpusFormatError) as info:
        list(read_records(path))
    assert str(info.value) == (f'{path}:2: not valid UTF-8 (byte 0xe9: invalid continuation '
                               'byte at byte 3); it reads as cp1252 text (Windows-1252, as a '
                               'spreadsheet\'s plain "CSV" is): \'Café,x\'; save the file as '
                               'UTF-8 (a spreadsheet\'s "CSV UTF-8")')


@pytest.mark.parametrize("name", ["corpus.zip", "corpus.tsv"])
def test_a_zip_archive_that_is_no_workbook_is_not_refused_as_a_spreadsheet(tmp_path, name):
    # a zipped corpus (or a .docx) was "a zip or OLE2 file, as a spreadsheet workbook
    # (.xlsx, .ods, .xls) is, not text: save the sheet as "CSV UTF-8" (Excel) ..."
    import zipfile

    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("corpus.tsv", "Rain\t<http://x/1>\n")
    with pytest.raises((CorpusFormatError, UnsupportedFormatError)) as info:
        list(read_records(path))
    assert "sheet" not in str(info.value), str(info.value)
    assert "a zip archive, not text: extract the file inside" in str(info.value)


def test_csv_blank_lines_before_the_header_are_named(tmp_path):
    """Blank lines before the header said "line 1: no 'text' column in the header;
    found columns: none", though the header was there, below them."""
    why = ", as --on-error skip cannot skip it (it says which cell of each row is which)"
    for content, shown in (("\ntext,labels\nhello,x\n", "line 1 is blank: the header "
                            f"row (with a 'text' column) must be the first line{why}; remove "
                            "the blank line before line 2"),
                           ("\n \n,,\ntext\nhello\n", "lines 1-3 are blank: the header "
                            f"row (with a 'text' column) must be the first line{why}; remove "
                            "the blank lines before line 4"),
                           ("\n\n", "every line is blank: no header row")):
        path = write(tmp_path / "blank.csv", content)
        for on_error in ("fail", "skip"):
            with pytest.raises(CorpusFormatError) as info:
                list(read_csv(path, on_error=on_error))
            assert info.value.path == str(path) and info.value.line == 1
            assert shown in str(info.value), str(info.value)


@pytest.mark.parametrize("content, shown", [
    ("sep=;\n\ntext;labels\nhello;x\n", "line 2 is blank: the header row (with a 'text' "
     "column) must be the first line after the sep= line"),
    ("sep=;\n\n\ntext;labels\nhello;x\n", "lines 2-3 are blank: the header row"),
    ("sep=;\n\n\n", "every line after the sep= line is blank: no header row (expected a "
     "header row with a 'text' column on line 2)"),
])
def test_csv_blank_lines_after_a_sep_line_are_counted_from_line_2(tmp_path, content, shown):
    """Blank lines below Excel's sep=; line were counted from line 1, the sep= line:
    "blank.csv:1: lines 1-3 are blank" of a file whose line 1 is not."""
    path = write(tmp_path / "blank.csv", content)
    with pytest.raises(CorpusFormatError) as info:
        list(read_csv(path))
    assert info.value.line == 2 and shown in str(info.value), str(info.value)


def test_csv_header_naming_a_column_twice_is_refused(tmp_path):
    # the cells under the later column were dropped, silently (a second text column's
    # words, a second labels column's labels, a metadata column's values)
    for header, shown in (("text,labels,TEXT", "columns 1 ('text') and 3 ('TEXT') of the "
                           "header are both 'text'"),
                          ("text,Labels,labels", "columns 2 ('Labels') and 3 ('labels') of "
                           "the header are both 'labels'"),
                          ("text,source, source", "columns 2 ('source') and 3 (' source') "
                           "of the header are both 'source'")):
        path = write(tmp_path / "twice.csv", f"{header}\nhello,a,b\n")
        for on_error in ("fail", "skip"):
            with pytest.raises(CorpusFormatError) as info:
                list(read_csv(path, on_error=on_error))
            assert info.value.line == 1 and shown in str(info.value)
    # case tells metadata columns apart, as the CSV writer keeps them apart
    path = write(tmp_path / "case.csv", "text,Source,source\nhello,a,b\n")
    assert dict(next(read_csv(path)).metadata) == {"Source": "a", "source": "b"}


def test_csv_value_under_a_second_unnamed_column_is_malformed_not_dropped(tmp_path):
    # spreadsheet exports pad rows with unnamed empty columns: fine while they are
    # empty, but a value in the second unnamed one had nowhere to go and was dropped
    path = write(tmp_path / "unnamed.csv", "text,,\npadded,,\nfirst,kept,\nsecond,,lost\n")
    errors: list[CorpusFormatError] = []
    records = list(read_csv(path, on_error=errors.append))
    assert [(r.line, dict(r.metadata)) for r in records] == [(2, {"": ""}), (3, {"": "kept"})]
    assert [(e.line, e.reason) for e in errors] == [
        (4, "a value in column 3, which the header leaves unnamed as it does column 2; "
            "name the columns")]



def test_directory_sidecars_are_found_in_the_folder_listing(tmp_path, monkeypatch):
    """train, eval and audit read a folder's labels asking the file system whether a .tsv,
    then a .key, is beside each document: up to 2 os.stat a document (72 for these 40),
    slow on a network file system. The one listing of the folder tells which exist;
    the documents, their labels and their order are the same."""
    docs = tmp_path / "docs"
    docs.mkdir()
    n = 40
    expected = []
    for i in range(n):
        (docs / f"d{i:02d}.txt").write_text(f"document {i}\n", encoding="utf-8")
        if i % 4 == 0:
            (docs / f"d{i:02d}.tsv").write_text(f"<{U}a>\tapple\n", encoding="utf-8")
            (docs / f"d{i:02d}.key").write_text(f"<{U}b>\n", encoding="utf-8")  # .tsv first
            expected.append((f"<{U}a>",))
        elif i % 4 == 1:
            (docs / f"d{i:02d}.key").write_text(f"<{U}b>\n", encoding="utf-8")
            expected.append((f"<{U}b>",))
        elif i % 4 == 2:
            (docs / f"d{i:02d}.tsv").mkdir()  # a folder is no sidecar, as before
            expected.append(())
        else:
            expected.append(())
    (docs / "d03.key").symlink_to(docs / "d01.key")  # a link to a sidecar is one
    expected[3] = (f"<{U}b>",)
    with stats_below(monkeypatch, docs) as calls:
        records = list(read_directory(docs))
    assert [r.doc_id for r in records] == [f"d{i:02d}" for i in range(n)]
    assert [r.labels for r in records] == expected
    assert len(calls) < n // 4, (len(calls), sorted(set(calls))[:5])


def test_directory_sidecar_of_no_document_is_never_asked_about(tmp_path, monkeypatch):
    """A .tsv or .key beside no document (notes.tsv, a link into a folder the user may not
    look into) was asked whether it is a file once the sidecars came from the folder's
    listing (9e4eb0b): its PermissionError ended the reading of the whole folder, and
    every listing of the folder (its checks too) stat'ed each sidecar that is a link.
    A document's own sidecar is looked at as before, when its document is read."""
    import errno

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("apple pie\n", encoding="utf-8")
    (docs / "a.tsv").write_text(f"<{U}a>\tapple\n", encoding="utf-8")
    (docs / "notes.tsv").symlink_to(tmp_path / "locked" / "x.tsv")
    asked: list[str] = []
    real_scandir = os.scandir

    class Entry:  # a listed entry whose stat, through the link, is refused (EACCES)
        def __init__(self, entry):
            self._entry, self.name, self.path = entry, entry.name, entry.path

        def is_file(self, *args, **kwargs):
            asked.append(self.name)
            if self.name == "notes.tsv":
                raise PermissionError(errno.EACCES, "Permission denied", self.path)
            return self._entry.is_file(*args, **kwargs)

    class Listing:
        def __init__(self, path):
            self._listing = real_scandir(path)

        def __enter__(self):
            self._listing.__enter__()
            return self

        def __exit__(self, *exc):
            return self._listing.__exit__(*exc)

        def __iter__(self):
            return (Entry(entry) for entry in self._listing)

    monkeypatch.setattr(os, "scandir", Listing)
    assert directory_files(docs) == [docs / "a.txt"]
    assert asked == ["a.txt"]  # the checks' listing asks about documents alone
    assert [(r.doc_id, r.labels) for r in read_directory(docs)] == [("a", (f"<{U}a>",))]


def test_directory_files_ending_txt_in_another_case_are_warned_about(tmp_path, caplog):
    # a.TXT (a Windows export) was left out of the corpus without a word
    (tmp_path / "a.txt").write_text("read\n", encoding="utf-8")
    (tmp_path / "b.TXT").write_text("not read\n", encoding="utf-8")
    (tmp_path / "c.Txt").write_text("not read\n", encoding="utf-8")
    (tmp_path / "d.tsv").write_text("", encoding="utf-8")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.text for r in read_directory(tmp_path)] == ["read"]
    warned = [r.getMessage() for r in caplog.records if "another case" in r.getMessage()]
    assert len(warned) == 1 and "2 files ending" in warned[0] and "rename them" in warned[0]
    assert "'b.TXT'" in warned[0] and "'c.Txt'" in warned[0]


def test_a_folder_of_annif_json_documents_is_refused_saying_how_to_convert_it(tmp_path, caplog):
    # Annif 1.4's full-text corpus in JSON (one .json file a document, read after the
    # .txt ones): a folder of them held "no documents in the corpus", and those beside
    # .txt documents were left out without a word
    import shutil
    import subprocess

    folder = tmp_path / "my docs"
    folder.mkdir()
    (folder / "d1.json").write_text(json.dumps({"document_id": "x1", "text": "Rain", "subjects": [
        {"uri": U + "a"}, {"label": "cherry"}]}))
    (folder / "d2.json").write_text(json.dumps({"text": "Snow"}))  # to index: no subjects
    (folder / ".hidden.json").write_text("{}")
    with pytest.raises(CorpusFormatError) as info:
        list(Corpus(folder, SPACE))
    message = str(info.value)
    assert message.startswith(f"{folder}: holds 2 .json files, Annif's JSON document corpus")
    if shutil.which("jq"):
        command = message[message.index("jq -c"):]
        subprocess.run(command, shell=True, cwd=tmp_path, check=True)
        assert pairs(Corpus(tmp_path / "corpus.jsonl", SPACE)) == [("Rain", (0, 2)),
                                                                   ("Snow", ())]
        assert [r.doc_id for r in read_jsonl(tmp_path / "corpus.jsonl")] == ["x1", "d2"]
    (folder / "d3.txt").write_text("Wind\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.text for r in read_directory(folder)] == ["Wind"]
    warned = [r.getMessage() for r in caplog.records if ".json" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith(
        f"{folder}: its .txt documents read, not its 2 .json files, Annif's JSON")


@pytest.mark.skipif(not shutil.which("jq"), reason="needs jq")
def test_the_jq_advice_for_a_folder_named_with_a_leading_dash_runs_as_given(tmp_path,
                                                                           monkeypatch):
    """A folder -docs of Annif's JSON documents was written bare into the jq command:
    pasted, jq took -docs/*.json for options. The advice names ./-docs/*.json."""
    import subprocess

    monkeypatch.chdir(tmp_path)
    folder = Path("-docs")
    folder.mkdir()
    (folder / "d1.json").write_text(json.dumps({"document_id": "x1", "text": "Rain",
                                                "subjects": [{"uri": U + "a"}]}))
    with pytest.raises(CorpusFormatError) as info:
        list(Corpus(folder, SPACE))
    command = str(info.value)[str(info.value).index("jq -c"):]
    assert "./-docs/*.json" in command, command
    subprocess.run(command, shell=True, check=True)
    assert [r.doc_id for r in read_jsonl("corpus.jsonl")] == ["x1"]


def test_a_folder_corpus_vocabulary_or_json_ld_is_no_annif_json_document(tmp_path, caplog):
    # any .json beside the documents was called Annif's JSON document corpus, its jq
    # conversion given, at every read; a folder of JSON-LD alone was told to convert it
    from tagsmith.cli.commands import _check_document_folder

    (tmp_path / "vocab.json").write_text(json.dumps({
        "@context": {"skos": "http://www.w3.org/2004/02/skos/core#"}, "@graph": []}))
    (tmp_path / "labels.json").write_text('{"apple": "http://x/a"}')
    assert list(read_directory(tmp_path)) == []  # no documents, as a folder of others
    with pytest.raises(DataError) as info:
        _check_document_folder(str(tmp_path))
    assert "Annif" not in str(info.value)
    (tmp_path / "a.txt").write_text("Rain\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.text for r in read_directory(tmp_path)] == ["Rain"]
    assert ".json" not in caplog.text
    (tmp_path / "doc.json").write_text(' {\n  "text": "Snow"}')  # Annif's, pretty-printed
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.text for r in read_directory(tmp_path)] == ["Rain"]
    assert ".json files, Annif's JSON document corpus" in caplog.text


def _warnings_of_one_document_folder(path, caplog):
    """The warnings (messages) of reading the folder ``path`` of one document, then of
    listing it (:func:`directory_files`), which warns alike, each in turn."""
    for read in (lambda: [r.text for r in read_directory(path)],
                 lambda: [p.name for p in directory_files(path)]):
        caplog.clear()
        with caplog.at_level("WARNING", logger="tagsmith"):
            assert len(read()) == 1
        yield [r.getMessage() for r in caplog.records]


def test_corpus_files_beside_a_folders_documents_are_warned_about(tmp_path, caplog):
    # suggest B data/goemotions tagged its labels.txt as the one document 'labels' and
    # said nothing of the train.tsv.gz, dev.tsv.gz and test.tsv.gz beside it
    (tmp_path / "a.txt").write_text("Rain\n", encoding="utf-8")
    (tmp_path / "a.tsv").write_text(f"<{U}a>\tapple\n", encoding="utf-8")  # a sidecar
    for name in ("train.tsv", "dev.tsv.gz", "notes.csv", "more.jsonl", "old.txt.gz"):
        (tmp_path / name).write_bytes(b"x\n")
    (tmp_path / ".hidden.csv").write_bytes(b"x\n")
    (tmp_path / "README.md").write_bytes(b"x\n")
    for warned in _warnings_of_one_document_folder(tmp_path, caplog):
        assert warned == [
            f"{tmp_path}: 1 .txt file read as one document, not the 5 files beside it "
            "(dev.tsv.gz, more.jsonl, notes.csv, old.txt.gz, ...): a folder's documents are "
            "its .txt files, each read whole; give a file by its path to read a document a "
            "line (a CSV or JSONL corpus a record)"], warned
    for name in ("train.tsv", "dev.tsv.gz", "notes.csv", "more.jsonl", "old.txt.gz"):
        (tmp_path / name).unlink()
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.labels for r in read_directory(tmp_path)] == [(f"<{U}a>",)]
    assert caplog.records == []


def test_corpus_files_named_in_another_case_are_warned_about_as_corpora(tmp_path, caplog):
    """A Windows export's train.CSV, X.TSV or DEV.TSV.GZ beside a folder's documents:
    the CSV and the .GZ were left out without a word, and X.TSV was told to be renamed
    as a sidecar in another case, which would not have it read (no X.txt). They are
    named as the corpora not read; a.TSV beside a.txt is still a sidecar to rename."""
    (tmp_path / "a.txt").write_text("Rain\n", encoding="utf-8")
    for name in ("a.TSV", "train.CSV", "X.TSV", "DEV.TSV.GZ", "more.JsonL"):
        (tmp_path / name).write_bytes(b"x\n")
    for warned in _warnings_of_one_document_folder(tmp_path, caplog):
        assert len(warned) == 2, warned
        assert warned[0].startswith(f"{tmp_path}: 1 file ending in .txt, .tsv or .key in "
                                    "another case not read ('a.TSV');"), warned
        assert warned[1].startswith(f"{tmp_path}: 1 .txt file read as one document, not the "
                                    "4 files beside it (DEV.TSV.GZ, X.TSV, more.JsonL, "
                                    "train.CSV):"), warned


def test_directory_sidecars_in_another_case_are_warned_about_once_per_read(tmp_path, caplog):
    # a sidecar 'a.Tsv' was left out without a word: its document read as unlabelled
    (tmp_path / "a.txt").write_text("read\n", encoding="utf-8")
    (tmp_path / "a.Tsv").write_text(f"<{U}a>\tapple\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("read too\n", encoding="utf-8")
    for name in ("b.KEY", "c.TXT", "d.Txt", "e.tSV"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.labels for r in read_directory(tmp_path)] == [(), ()]
    warned = [r.getMessage() for r in caplog.records]
    # e.tSV, beside no document, is named as a corpus not read, not told to be renamed
    assert len(warned) == 2, warned
    assert "4 files ending in .txt, .tsv or .key in another case not read " \
           "('a.Tsv', 'b.KEY', 'c.TXT', ...)" in warned[0]
    assert "not the 1 file beside them (e.tSV)" in warned[1]
    caplog.clear()
    (tmp_path / "c.TXT").unlink()
    (tmp_path / "d.Txt").unlink()
    (tmp_path / "e.tSV").unlink()
    (tmp_path / "b.KEY").unlink()
    with caplog.at_level("WARNING", logger="tagsmith"):
        list(read_directory(tmp_path))
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        f"{tmp_path}: 1 file ending in .txt, .tsv or .key in another case not read"]

def test_directory_sidecars_in_another_case_beside_no_document_are_not_told_to_be_renamed(
        tmp_path, caplog):
    """An orphan 'notes.KEY' (no document of its stem in any case) was told "rename it",
    which would not have it read: it goes unsaid, as an orphan 'notes.key' does. 'b.KEY'
    beside 'b.TXT' is still named with it (renaming both has them read), and so is an
    orphan 'c.TSV' as a corpus; 'b.tsv' beside 'b.TXT' is the document's sidecar, no
    corpus. Both warnings, and directory_files' alike."""
    (tmp_path / "a.txt").write_text("read\n", encoding="utf-8")
    for name in ("notes.KEY", "notes.key", "b.TXT", "b.KEY", "b.tsv", "c.TSV"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    for read in (lambda: list(read_directory(tmp_path)), lambda: directory_files(tmp_path)):
        caplog.clear()
        with caplog.at_level("WARNING", logger="tagsmith"):
            read()
        warned = [r.getMessage() for r in caplog.records]
        assert len(warned) == 2, warned
        assert "2 files ending in .txt, .tsv or .key in another case not read ('b.KEY', " \
               "'b.TXT'); documents are the files ending in .txt, their labels in .tsv or " \
               ".key: rename them" in warned[0]
        assert "not the 1 file beside it (c.TSV)" in warned[1]
        assert "notes" not in " ".join(warned)


@pytest.mark.parametrize("missing, expected", [
    (["b"], "1 of 3 documents has no label file (first: b.txt) and is read as unlabelled"),
    (["c", "b"], "2 of 3 documents have no label file (first: b.txt) and are read as "
                 "unlabelled")])
def test_directory_documents_without_a_label_file_are_warned_about_once(
        tmp_path, caplog, missing, expected):
    # a .txt with no .tsv/.key beside it was trained on as unlabelled without a word
    for stem in "abc":
        (tmp_path / f"{stem}.txt").write_text(f"text {stem}\n", encoding="utf-8")
        if stem not in missing:
            (tmp_path / f"{stem}.tsv").write_text(f"<{U}{stem}>\n", encoding="utf-8")
    (tmp_path / "a.key").write_text("", encoding="utf-8")  # the .tsv comes first
    with caplog.at_level("WARNING", logger="tagsmith"):
        records = list(read_directory(tmp_path))
    assert [bool(r.labels) for r in records] == [stem not in missing for stem in "abc"]
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [f"{tmp_path}: {expected}; a document's labels go in a file beside it "
                      "with its name ending in .tsv or .key instead of .txt"]


def test_directory_documents_with_an_empty_label_file_or_none_labelled_are_not_warned_about(
        tmp_path, caplog):
    # an empty sidecar says "no label" on purpose; a folder with no label file at all
    # is refused where labels are needed (no document names a label), not warned about
    (tmp_path / "a.txt").write_text("text a\n", encoding="utf-8")
    (tmp_path / "a.tsv").write_text(f"<{U}a>\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("text b\n", encoding="utf-8")
    (tmp_path / "b.key").write_text("", encoding="utf-8")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.labels for r in read_directory(tmp_path)] == [(f"<{U}a>",), ()]
    (tmp_path / "a.tsv").unlink()
    (tmp_path / "b.key").unlink()
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert [r.labels for r in read_directory(tmp_path)] == [(), ()]
    assert caplog.records == []


def test_a_folder_with_no_label_file_is_refused_naming_the_folder_layout(tmp_path):
    # the refusal gave the layout of a TSV, CSV and JSONL corpus, none of a folder's
    from tagsmith.data.corpus import DerivingLabels
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.io import read_labelled

    for stem in "ab":
        (tmp_path / f"{stem}.txt").write_text(f"text {stem}\n", encoding="utf-8")
    # and no '0 unknown label occurrences skipped' where none was
    with pytest.raises(DataError, match=r"no document names a label \(2 documents; no "
                       r"vocabulary given, the labels are the corpus's own\): a corpus folder's "
                       r"document NAME\.txt has its labels in NAME\.tsv or NAME\.key "
                       r"beside it, one a line$"):
        read_labelled(tmp_path, DerivingLabels()).require_labels(tmp_path, None)


def test_directory_sidecar_names_with_separators_give_no_phantom_labels(tmp_path):
    # a sidecar line is "<uri><TAB>name"; a name holding U+2028 or a form feed was cut
    # there, and its tail read as a label key of its own (a derived label space took it)
    (tmp_path / "a.txt").write_text("hello\n", encoding="utf-8")
    (tmp_path / "a.tsv").write_bytes(f"<{U}a>\tap\u2028ple\r\n<{U}b>\tb\x0cc\r<{U}c>\tc\n"
                                     .encode())
    assert [r.labels for r in read_directory(tmp_path)] == [(f"<{U}a>", f"<{U}b>", f"<{U}c>")]
    assert derive_label_space(tmp_path).uris == [f"{U}a", f"{U}b", f"{U}c"]


def test_a_long_header_cell_is_read_under_tagsmith_s_own_field_limit(tmp_path, monkeypatch):
    # the header's delimiter was told by a csv read under the process's limit (131,072
    # in a fresh one), not tagsmith's: a header cell over it ended in a raw _csv.Error
    # traceback, naming no file. Now it reads as any cell does, and one over tagsmith's
    # own limit is refused naming the file and line 1
    from tagsmith.data import csvlimits

    monkeypatch.setattr(csvlimits, "CSV_FIELD_LIMIT", 1000)  # a small file tests it
    previous = csv.field_size_limit(500)
    try:
        fine = write(tmp_path / "fine.csv", f"text,labels,{'x' * 800}\nrain today,rain,1\n")
        assert [(r.text, r.labels) for r in read_csv(fine)] == [("rain today", ("rain",))]
        path = write(tmp_path / "huge.csv", f"text,labels,{'x' * 1500}\nrain,rain,1\n")
        with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:1: invalid CSV")):
            list(read_csv(path))
        assert csv.field_size_limit() == 500
    finally:
        csv.field_size_limit(previous)


def test_csv_multiline_fields_keep_starting_lines(tmp_path):
    path = write(tmp_path / "multi.csv", _csv_text([
        ["text", "labels"],
        ["first line\nsecond line\nthird line", f"<{U}a>|cherry"],   # lines 2-4
        ["single", ""],                                             # line 5
        ["also\nsplit", f"<{U}b> <{U}c>"],                            # lines 6-7
        ["too", "many", "columns"],                                 # line 8
    ]))
    errors = []
    records = list(read_csv(path, on_error=errors.append))
    assert [(r.line, r.labels) for r in records] == [
        (2, (f"<{U}a>", "cherry")), (5, ()), (6, (f"<{U}b>", f"<{U}c>"))]
    assert records[0].text == "first line\nsecond line\nthird line"
    assert [(e.line, e.reason) for e in errors] == [
        (8, "expected 2 columns as in the header, found 3")]


def test_csv_reading_leaves_the_process_field_limit_as_it_was(tmp_path, monkeypatch):
    # csv.field_size_limit is global to the process: reading a corpus set it to 256 Mi
    # for good, so the csv readers of a program that imports tagsmith accepted what
    # they had refused. A cell over tagsmith's own limit is refused naming the file and
    # the line, in words of cells (the csv module said "field larger than field limit")
    from tagsmith.data import csvlimits

    monkeypatch.setattr(csvlimits, "CSV_FIELD_LIMIT", 1000)  # a small file tests it
    previous = csv.field_size_limit(500)
    try:
        fine = write(tmp_path / "fine.csv", f"text,labels\n{'y' * 800},rain\n")
        assert [len(r.text) for r in read_csv(fine)] == [800]
        assert csv.field_size_limit() == 500
        path = write(tmp_path / "huge.csv", f"text,labels\nshort,rain\n{'y' * 1500},sun\n")
        with pytest.raises(CorpusFormatError, match=re.escape(
                f"{path}:3: invalid CSV (a cell longer than 1,000 characters, the most a "
                "cell may hold)")):
            list(read_csv(path))
        assert csv.field_size_limit() == 500
    finally:
        csv.field_size_limit(previous)


def test_csv_quote_left_open_raises_instead_of_swallowing_the_rest_of_the_file(tmp_path):
    # the third line opens a quote it never closes: every later line used to become
    # part of its labels cell, silently (fields matched the header's width)
    path = write(tmp_path / "open.csv", 'text,labels\nfine,rain\nstray,"snow\n'
                 'lost one,wind\nlost two,sun\n')
    with pytest.raises(CorpusFormatError, match=r"invalid CSV \(unexpected end of data\) "
                       r"in the record that starts on line 3") as info:
        list(read_csv(path, on_error="skip"))
    assert info.value.path == str(path) and info.value.line == 5
    # ... or until a later quote, after which the merged field went on
    path = write(tmp_path / "stray.csv", 'text,labels\n"fine,rain\nnext,"wind"\n')
    with pytest.raises(CorpusFormatError, match="invalid CSV .* starts on line 2"):
        list(read_csv(path))


# -- unknown labels -----------------------------------------------------------------------------
def test_unknown_label_that_is_an_alternative_label_or_a_name_in_another_case_says_so(tmp_path):
    # 'Malus', an altLabel of the vocabulary, and 'APPLE ' were said to be "not in the
    # vocabulary", though the user had copied them from it: the error names the concept
    # ('Malus' is now read as its concept: test_a_corpus_naming_an_alternative_label_...)
    from tagsmith.data.labelspace import Label

    space = LabelSpace([Label(f"{U}a", pref_labels={"en": "Apple", "fi": "Omena"},
                              alt_labels={"en": ["Malus"]}), Label(f"{U}b")])
    for key, shown in (("OMENA", f"it is the preferred name 'Omena' of <{U}a> in another "
                                 f"case or spacing (names match exactly); write 'Omena' or "
                                 f"<{U}a>"),):
        path = write(tmp_path / "alt.tsv", f"one\t{key}\n")
        with pytest.raises(UnknownLabelError) as info:
            list(Corpus(path, space))
        assert str(info.value) == (f"{path}:1: unknown label {key!r} (no URI, preferred name, "
                                   f"notation or alternative label of the vocabulary): {shown}")
        assert info.value.in_vocabulary("V").hint == info.value.hint
    path = write(tmp_path / "none.tsv", f"one\tpear <{U}Malus>\n")
    with pytest.raises(UnknownLabelError, match=r"unknown label 'pear' \(not in the "
                       r"vocabulary\)$"):
        list(Corpus(path, space))


def test_a_corpus_naming_an_alternative_label_reads_its_concept_unless_it_is_shared(
        tmp_path, caplog):
    """A corpus naming a label by an alternative label ('Sugar topics', the old name an
    accepted ``taxonomy --accept-edits`` respelling keeps as one; a thesaurus's synonym)
    failed as an unknown label, the user told to write its URI. Now it reads the
    concept; one that two live concepts share is ambiguous (file:line), one that is
    another concept's preferred name is read as that concept, with one warning naming
    the other; a deprecated concept's alternative label yields to a live one's."""
    from tagsmith.data.labelspace import Label
    from tagsmith.exceptions import AmbiguousLabelError

    space = LabelSpace([
        Label(f"{U}sugar", {"en": "Sugar Topics"}, {"en": ["Sugar topics", "Cane"]}),
        Label(f"{U}cocoa", {"en": "Cocoa"}, {"en": ["Cacao", "Sugar"], "de": ["Kakao"]}),
        Label(f"{U}beet", {"en": "Beet"}, {"en": ["Sugar"]}),
        Label(f"{U}cane", {"en": "Cane"}),
        Label(f"{U}old", {"en": "Old cocoa"}, {"en": ["Cacao"]}, deprecated=True)])
    path = write(tmp_path / "alt.jsonl", "".join(
        json.dumps({"id": i, "text": "t", "labels": keys}) + "\n" for i, keys in
        enumerate([["Sugar topics"], ["Kakao", "Cacao"], ["Cane"], ["Cane"]])))
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        docs = list(Corpus(path, space))
    assert [sorted(space.uri_of(i) for i in doc.label_ids) for doc in docs] == [
        [f"{U}sugar"], [f"{U}cocoa"], [f"{U}cane"], [f"{U}cane"]]
    said = [r.getMessage() for r in caplog.records if "alternative label" in r.getMessage()]
    assert said == [f"label name 'Cane' is read as <{U}cane> ('Cane'), whose name or "
                    f"notation it is, though it is an alternative label of <{U}sugar> "
                    "('Sugar Topics') too (a URI names each of them apart)"], said
    path = write(tmp_path / "shared.jsonl", '{"id": 1, "text": "t", "labels": ["Cocoa"]}\n'
                 '{"id": 2, "text": "t", "labels": ["Sugar"]}\n')
    with pytest.raises(AmbiguousLabelError, match=f"^{path}:2: label name 'Sugar' is "
                       f"ambiguous: 2 concepts have it \\(<{U}cocoa>, <{U}beet>\\)"):
        list(Corpus(path, space))


def test_a_retired_concepts_name_its_replacement_keeps_as_an_alternative_label_is_no_clash(
        tmp_path, caplog):
    """A thesaurus retiring a concept keeps its name as an altLabel of the concept
    replacing it (865 of STW's 900 names that are also another concept's altLabel): a
    corpus naming it was warned, once a name, hundreds of warnings, that the name is
    "an alternative label of <replacement> too: write the URI of the one meant". It
    names the retired concept, as before; a live concept's altLabel still warns."""
    from tagsmith.data.labelspace import Label

    space = LabelSpace([
        Label(f"{U}old", {"en": "Stock market speculation"}, deprecated=True,
              replaced_by=[f"{U}new"]),
        Label(f"{U}new", {"en": "Speculation"}, {"en": ["Stock market speculation"]}),
        Label(f"{U}labor", {"en": "Labor"}),
        Label(f"{U}work", {"en": "Work"}, {"en": ["Labor"]})])
    path = write(tmp_path / "retired.jsonl", "".join(
        json.dumps({"id": i, "text": "t", "labels": [key]}) + "\n"
        for i, key in enumerate(["Stock market speculation", "Labor"])))
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        docs = list(Corpus(path, space))
    assert [space.uri_of(i) for doc in docs for i in doc.label_ids] == [f"{U}old", f"{U}labor"]
    said = [r.getMessage() for r in caplog.records if "alternative label of" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("label name 'Labor' is read as"), said


def test_unknown_label_that_is_a_code_written_another_way_names_the_code(tmp_path):
    """A coding team's corpus names labels by code (ICD-10 E11.9, NAICS 0111, IPC
    H04L 9/32) as coders write them: in lower case, without the dot, with the leading
    zero a spreadsheet's number cell dropped, with the code's title after it, or an IPC
    code holding a space read as two labels. Each was "not in the vocabulary", with no
    word of the code meant: the error names it."""
    from tagsmith.data.labelspace import Label

    space = LabelSpace([
        Label("E11", {"en": "Type 2 diabetes mellitus"}),
        Label("E11.9", {"en": "Type 2 diabetes mellitus without complications"},
              broader=["E11"]),
        Label("0111", {"en": "Wheat"}),
        Label("H04L9/32", {"en": "Authentication schemes"}, notation="H04L 9/32")])
    for cell, shown in (
            ("e11.9", "it is the code <E11.9> written in another case or without its "
                      "punctuation (codes match exactly); write E11.9"),
            ("E119", "it is the code <E11.9> written in another case or without its "
                     "punctuation (codes match exactly); write E11.9"),
            ("111", "it is the code <0111> without its leading zero (a spreadsheet saving "
                    "the codes as numbers drops it: format the column as text); write 0111"),
            ("h04l 9/32|", "it is the code <H04L9/32> written in another case or without "
                           "its punctuation (codes match exactly); write H04L9/32"),
            ("E11.9 - Type 2 diabetes mellitus without complications|",
             "it is the code <E11.9> followed by its name ('Type 2 diabetes mellitus "
             "without complications'); write E11.9 alone"),
            ("E11.9 Type 2 diabetes",
             "it is a word of the name of <E11.9> ('Type 2 diabetes mellitus without "
             "complications') after its code, read as a label of its own as the cell is "
             "split at its spaces; write the codes alone"),
            ("H04L 9/32", "it is part of 'H04L 9/32', the label <H04L9/32> ('Authentication "
                          "schemes'), read as 2 labels as the cell is split at its spaces; "
                          "write <H04L9/32> in its place, or end the cell with '|' "
                          "('H04L 9/32|', one label)")):
        path = write(tmp_path / "codes.csv", f"text,labels\nnote,{cell}\n")
        with pytest.raises(UnknownLabelError) as info:
            list(Corpus(path, space))
        key = info.value.label
        assert str(info.value) == (f"{path}:2: unknown label {key!r} (no URI, preferred "
                                   f"name, notation or alternative label of the vocabulary): "
                                   f"{shown}")
    # in a TSV, where a '|' ending the labels splits nothing, or where the label is part
    # of the cell, no '|' is offered
    for path in (write(tmp_path / "codes.tsv", "note\tH04L 9/32\n"),
                 write(tmp_path / "codes.csv", "text,labels\nnote,H04L 9/32 E11.9\n")):
        with pytest.raises(UnknownLabelError) as info:
            list(Corpus(path, space))
        assert str(info.value).endswith("write <H04L9/32> in its place"), str(info.value)
    path = write(tmp_path / "codes.tsv", "note\tE11.9 Type 2\n")
    with pytest.raises(UnknownLabelError, match="a word of the name of <E11.9>"):
        list(Corpus(path, space))
    # a trailing '|' (one label as a CSV cell writes it) left the TSV line's IPC code
    # unhinted: 'H04L 9/32|' is no label
    path = write(tmp_path / "codes.tsv", "note\tH04L 9/32|\n")
    with pytest.raises(UnknownLabelError, match=r"part of 'H04L 9/32', the label <H04L9/32>"):
        list(Corpus(path, space))
    path = write(tmp_path / "codes.jsonl", '{"text": "note", "labels": ["E11.9 Type 2"]}\n')
    with pytest.raises(UnknownLabelError, match=r"the code <E11.9> followed by text "
                                                r"\('Type 2'\); write E11.9 alone$"):
        list(Corpus(path, space))
    who = LabelSpace([Label("http://id.who.int/icd/E11.9", {"en": "T2D"}, notation="E11.9")])
    assert who.unknown_hint("e119") == (
        "the code 'E11.9' of <http://id.who.int/icd/E11.9> written in another case or "
        "without its punctuation (codes match exactly); write <http://id.who.int/icd/E11.9>")
    assert LabelSpace.from_uris(["111", "541511"]).unknown_hint("0111") == (
        "the code <111> with a leading zero the vocabulary's code lacks (a spreadsheet "
        "saving the vocabulary's codes as numbers drops it: format its column as text); "
        "write 111")
    # a name with a digit is no code, and a code as written still reads
    assert space.unknown_hint("type 2 diabetes mellitus").startswith("the preferred name")
    assert space.unknown_hint("Z99.9") == "" and space.unknown_hint("9") == ""
    ok = write(tmp_path / "ok.csv", "text,labels\na,E11.9;0111\nb,H04L 9/32|\n")
    assert [d.label_ids for d in Corpus(ok, space)] == [(1, 2), (3,)]


def test_unknown_label_of_labels_joined_by_a_separator_names_them(tmp_path):
    """A TSV line's labels written as a CSV cell's, 'E11.9;I10' (or a JSONL item
    'E11.9, I10'), were one unknown label 'not in the vocabulary', each part a label of
    it: the error names them and says to write each as a label of its own."""
    space = LabelSpace.from_uris(["E11.9", "I10"], names={"I10": "Hypertension"})
    path = write(tmp_path / "joined.tsv", "note\tE11.9;I10\n")
    with pytest.raises(UnknownLabelError) as info:
        list(Corpus(path, space))
    assert str(info.value) == (
        f"{path}:1: unknown label 'E11.9;I10' (no URI, preferred name, notation or "
        "alternative label of the vocabulary): it is the labels <E11.9>, <I10> joined by "
        "';'; write each as a label of its own (a TSV line's separated by spaces)")
    path = write(tmp_path / "joined.jsonl", '{"text": "n", "labels": ["E11.9, Hypertension"]}\n')
    with pytest.raises(UnknownLabelError, match=r"it is the labels <E11.9>, <I10> joined by "
                                                r"','; write each"):
        list(Corpus(path, space))
    assert space.unknown_hint("E11.9;Z99") == ""  # a part no label: no such hint
    assert [d.label_ids for d in Corpus(write(tmp_path / "ok.tsv", "note\tE11.9 I10\n"),
                                        space)] == [(0, 1)]


def test_unknown_label_of_uris_joined_by_a_separator_names_them(tmp_path):
    """An Annif TSV line's <uri> labels joined as a CSV cell's, '<http://x/1>;<http://x/2>',
    were 'not in the vocabulary' with no hint: a key in angle brackets was taken for one
    URI, though the labels joined were the commonest case of a TSV corpus."""
    space = LabelSpace.from_uris(["http://x/1", "http://x/2"])
    path = write(tmp_path / "joined.tsv", "note\t<http://x/1>;<http://x/2>\n")
    with pytest.raises(UnknownLabelError, match=r"it is the labels <http://x/1>, "
                                                r"<http://x/2> joined by ';'; write each"):
        list(Corpus(path, space))
    assert space.unknown_hint("<http://x/1>|<http://x/2>").startswith("the labels")
    assert space.unknown_hint("<http://x/3>") == ""
    assert space.unknown_hint("<http://x/1>;<http://x/3>") == ""


def test_unknown_label_that_is_a_category_paths_last_step_names_the_paths(tmp_path):
    # a product taxonomy's labels are named by their paths: a leaf alone ('Dog Beds',
    # 'Accessories', under many parents) was said to be "not in the vocabulary"
    from tagsmith.data.labelspace import Label

    space = LabelSpace([Label(uri, pref_labels={"en": name}) for uri, name in (
        ("1", "Pets"), ("2", "Pets > Dog Beds"), ("3", "Pets > Accessories"),
        ("4", "Furniture > Beds > Accessories"))])
    for key, shown in (("Dog Beds", "it is the last step of the category path 'Pets > Dog "
                                    "Beds' of <2>; write the path or <2>"),
                       ("Accessories", "it is the last step of 2 category paths, <3> ('Pets "
                                       "> Accessories'), <4> ('Furniture > Beds > "
                                       "Accessories'); write the path or URI of the one "
                                       "meant")):
        path = write(tmp_path / "leaf.csv", f"text,labels\none,{key}|\n")
        with pytest.raises(UnknownLabelError) as info:
            list(Corpus(path, space))
        assert str(info.value) == (f"{path}:2: unknown label {key!r} (no URI, preferred name, "
                                   f"notation or alternative label of the vocabulary): {shown}")
    # a leaf of several words with no '|' is split at its spaces ('Dog', 'Beds'): the
    # words were "not in the vocabulary", no path named
    path = write(tmp_path / "leaf.csv", "text,labels\none,Dog Beds\n")
    with pytest.raises(UnknownLabelError) as info:
        list(Corpus(path, space))
    assert str(info.value).endswith(
        "unknown label 'Dog' (no URI, preferred name, notation or alternative label of the "
        "vocabulary): it is "
        "part of 'Dog Beds', read as 2 labels as the cell is split at its spaces, the last "
        "step of the category path 'Pets > Dog Beds' of <2>; write the path or <2>")
    assert [d.label_ids for d in Corpus(write(tmp_path / "ok.csv", "text,labels\n"
                                              "one,Pets > Accessories\ntwo,4\n"), space)
            ] == [(2,), (3,)]


def test_split_hint_scans_for_path_leaves_only_where_labels_are_named_by_paths(
        tmp_path, monkeypatch):
    """A TSV of URIs with unknown ones (YSO, 10,812 distinct skipped) read 4 times as
    slowly once skipped keys looked for a hint: each of the 20 tried joined up to 136
    runs of the line's URIs and scanned the vocabulary for a category path ending in
    each, in a vocabulary named by no path. A vocabulary of paths still gets its leaf."""
    from tagsmith.data.labelspace import Label

    scans = []
    leaf_hint = LabelSpace._leaf_hint
    monkeypatch.setattr(LabelSpace, "_leaf_hint",
                        lambda self, key: scans.append(key) or leaf_hint(self, key))
    space = LabelSpace.from_uris([f"http://x/{i}" for i in range(40)])
    line = " ".join(f"<http://x/{i}>" for i in range(30)) + " <http://y/1>"
    path = write(tmp_path / "uris.tsv", f"note\t{line}\n")
    assert [d.label_ids for d in Corpus(path, space, unknown_labels="skip")] == [
        tuple(range(30))]
    assert scans == []
    paths = LabelSpace([Label(uri, pref_labels={"en": name}) for uri, name in (
        ("1", "Pets"), ("2", "Pets > Dog Beds"), ("3", "Pets > Accessories"))])
    assert paths.split_hint(["Dog", "Beds"], "Dog").endswith(
        "the last step of the category path 'Pets > Dog Beds' of <2>; write the path or <2>")
    assert scans


def test_skipped_unknown_labels_scan_the_names_for_paths_once(tmp_path):
    """Whether a vocabulary is named by category paths was worked out by scanning
    every label's names once for each of the 20 skipped keys a hint is looked for:
    reading 100,000 YSO lines against half of YSO (13,877 labels) cost 12% more CPU
    than before skipped keys looked for hints. Once a label space is enough."""
    from tagsmith.data.labelspace import Label

    class Names(dict):
        def values(self):
            scans.append(1)
            return super().values()

    scans: list[int] = []
    space = LabelSpace([Label(f"http://x/{i}", pref_labels=Names(en=f"n{i}"))
                        for i in range(50)])
    lines = "".join(f"t{i}\t<http://x/1> <http://y/{i}>\n" for i in range(30))
    corpus = Corpus(write(tmp_path / "uris.tsv", lines), space, unknown_labels="skip")
    assert [d.label_ids for d in corpus] == [(1,)] * 30
    assert corpus.report.n_unknown_labels == 30
    # each label's names once for the name index and once for the paths, and those of
    # <http://x/1> before each key a hint is looked for (a code then its title?): 120;
    # a scan for the paths per key made it 1,070
    assert len(scans) < 3 * len(space)
    paths = LabelSpace([Label(uri, pref_labels={"en": name}) for uri, name in (
        ("1", "Pets"), ("2", "Pets > Dog Beds"), ("3", "Pets > Accessories"))])
    assert paths.split_hint(["Dog", "Beds"], "Dog").endswith(
        "the last step of the category path 'Pets > Dog Beds' of <2>; write the path or <2>")


def _counting_label(field: str, reads: list[int]) -> type:
    """A :class:`Label` class whose ``field`` appends to ``reads`` each time it is read:
    how often the label space scans that field."""
    from tagsmith.data.labelspace import Label

    def read(self):
        reads.append(1)
        return self.__dict__["_" + field]

    def write(self, value):
        self.__dict__["_" + field] = value

    return type("Counted", (Label,), {field: property(read, write)})


def test_skipped_unknown_labels_scan_the_notations_once(tmp_path):
    """split_hint looks each key before an unknown one up as a notation (a code
    followed by its title?), and scanned every label's notation for each: reading
    YSO lines of unknown URIs against half of YSO, for 20 keys' hints. Once is enough."""
    from tagsmith.data.labelspace import Label

    reads: list[int] = []
    Counted = _counting_label("notation", reads)
    space = LabelSpace([Counted(f"http://x/{i}", notation=f"N{i}") for i in range(50)])
    lines = "".join(f"t{i}\t<http://z/{i}> <http://y/{i}> <http://x/1>\n"
                    for i in range(30))
    corpus = Corpus(write(tmp_path / "uris.tsv", lines), space, unknown_labels="skip")
    assert [d.label_ids for d in corpus] == [(1,)] * 30
    # each label's notation read once for the name index, once for split_hint's: 100
    # and a few; a scan for each key before an unknown one made it 500
    assert len(reads) < 3 * len(space)
    coded = LabelSpace([Label("E11.9", {"en": "Type 2 diabetes"}, notation="D1"),
                        Label("I10", {"en": "Hypertension"}, notation="D1"),
                        Label("J45", {"en": "Asthma"}, notation="A7")])
    assert coded._name_index_of_notation("A7") == 2
    assert coded._name_index_of_notation("D1") is None  # two labels'
    assert coded._name_index_of_notation("X") is None


def test_unknown_keys_split_the_uris_once_for_their_ends():
    """The hint for a URI's last segment ('1622' of a EUROVOC URI) split every label's
    URI for each key it was asked about: a corpus read skipping unknown labels asks for
    up to 20 keys' hints. The ends are indexed once per vocabulary."""
    reads: list[int] = []
    Counted = _counting_label("uri", reads)
    space = LabelSpace([Counted(f"http://x/{i}", pref_labels={"en": f"n{i}"})
                        for i in range(50)] + [Counted("http://y#7"), Counted("plain")])
    reads.clear()
    hints = [space._uri_end_hint(key) for key in [f"z{i}" for i in range(20)] + ["7"]]
    assert hints[:20] == [""] * 20
    assert hints[20] == ("the end of 2 concepts' URIs, <http://x/7> ('n7'), <http://y#7> "
                         "('http://y#7'); write the URI of the one meant")
    # each URI read twice for the index, and those the hint names: about 110;
    # splitting them all for each key made it about 1,100
    assert len(reads) < 3 * len(space)
    assert space._uri_end_hint("plain") == ""  # a whole URI is no end of one
    assert space._uri_end_hint("x") == ""


def test_the_old_name_of_the_first_hint_tries_still_imports():
    """MAX_HINT_TRIES was renamed FIRST_HINT_TRIES when hints were looked for past the
    first 20 distinct keys: code importing the old name failed with ImportError."""
    from tagsmith.data.corpus import FIRST_HINT_TRIES, MAX_HINT_TRIES, hint_due

    assert MAX_HINT_TRIES == FIRST_HINT_TRIES == 20
    assert all(hint_due(n) for n in range(1, MAX_HINT_TRIES + 1))


def test_skipped_unknown_labels_look_for_a_hint_no_more_once_done(tmp_path, monkeypatch):
    """Once a hint was found, and for a key hint_due passes over, a skipped key is not
    handed to look_for_hint (its line named) to be turned away: YSO lines against half
    of YSO skip 199,136 keys in 100,000 lines, and the calls cost 6% of the read's CPU."""
    from tagsmith.data.corpus import FIRST_HINT_TRIES, ReadReport

    calls = []
    look = ReadReport.look_for_hint
    monkeypatch.setattr(ReadReport, "look_for_hint",
                        lambda self, key, *a, **k: calls.append(key) or look(self, key, *a, **k))
    space = LabelSpace.from_uris([f"http://x/{i}" for i in range(5)])
    lines = "".join(f"t{i}\t<http://x/1> <http://y/{i}> <http://y/all>\n" for i in range(40))
    corpus = Corpus(write(tmp_path / "uris.tsv", lines), space, unknown_labels="skip")
    assert [d.label_ids for d in corpus] == [(1,)] * 40
    assert corpus.report.n_unknown_labels == 80
    # 41 distinct keys (http://y/0 to 39 and all): the first 20 tried, and the 32nd
    assert corpus.report.n_hint_tries == FIRST_HINT_TRIES + 1
    # (no key seen before is handed to it: 21 calls; it had all 80)
    assert len(calls) == FIRST_HINT_TRIES + 1
    # a hint found: no call after it
    calls.clear()
    named = LabelSpace.from_uris(["http://x/0", "http://x/1"], names={"http://x/1": "Rain"})
    lines = "t\train\n" + "".join(f"t{i}\t<http://y/{i}>\n" for i in range(9))
    corpus = Corpus(write(tmp_path / "hint.tsv", lines), named, unknown_labels="skip")
    assert [d.label_ids for d in corpus] == [()] * 10
    assert calls == ["rain"] and "'Rain'" in corpus.report.unknown_hint


@pytest.mark.parametrize("n_noise", [25, 100, 2000])
def test_a_hint_is_found_past_the_first_20_distinct_unknown_labels(tmp_path, n_noise):
    """Only the first 20 distinct skipped keys were tried for a hint: a corpus whose first
    ones are noise (URIs of another vocabulary) and whose later ones name its labels in
    another case got none, and the summary said only how many keys were dropped. A
    bounded sample spread over all of them is tried: the hint is found, in a few tries
    more each time the keys double."""
    from tagsmith.data.corpus import FIRST_HINT_TRIES
    from tagsmith.pipeline.audit import read_audit_corpus

    names = {f"http://x/{i}": f"Rain{i}" for i in range(200)}
    space = LabelSpace.from_uris(list(names), names=names)
    lines = "".join(f"t{i}\t<http://y/{i}>\n" for i in range(n_noise)) \
        + "".join(f"t\train{i}\n" for i in range(200))
    path = write(tmp_path / "late.tsv", lines)
    for read in (lambda: Corpus(path, space, unknown_labels="skip"),
                 lambda: read_audit_corpus(path, space)):
        corpus = read()
        if isinstance(corpus, Corpus):
            assert len(list(corpus)) == n_noise + 200
            report = corpus.report
            hint = report.unknown_hint
        else:
            report, hint = None, corpus.unknown_hint
        assert hint is not None and "'Rain" in hint and "rain" in hint, hint
        if report is not None:  # the first 20, then the 32nd, 64th, ... till one hits
            assert report.n_hint_tries == FIRST_HINT_TRIES + n_noise.bit_length() - 4


def test_unknown_label_ending_a_name_with_a_path_step_is_no_path_step_elsewhere(tmp_path):
    """In a vocabulary of plain names, one of them 'Input > Output', the unknown label
    'Output' was called "the last step of the category path 'Input > Output'": said
    only where the labels are named by paths (at least half hold ' > ')."""
    from tagsmith.data.labelspace import Label

    space = LabelSpace([Label(uri, pref_labels={"en": name}) for uri, name in (
        ("1", "Input > Output"), ("2", "Rain"), ("3", "Snow"))])
    path = write(tmp_path / "plain.csv", "text,labels\none,Output|\n")
    with pytest.raises(UnknownLabelError) as info:
        list(Corpus(path, space))
    assert str(info.value) == f"{path}:2: unknown label 'Output' (not in the vocabulary)"
    assert space.unknown_hint("Output") == ""
    paths = LabelSpace([Label("1", pref_labels={"en": "Input > Output"}),
                        Label("2", pref_labels={"en": "Input"})])
    assert paths.unknown_hint("Output").startswith("the last step of the category path")


def test_unknown_label_matching_several_concepts_names_every_candidate(tmp_path):
    """A key matching the names of several concepts in another case, or the alternative
    label of several, named the first concept alone ("write <.../a>"), and the user
    wrote the URI of a concept that may not be the one meant: each is named."""
    from tagsmith.data.labelspace import Label

    space = LabelSpace([Label(f"{U}a", pref_labels={"en": "Apple"}, alt_labels={"en": ["Malus"]}),
                        Label(f"{U}b", pref_labels={"en": "APPLE"}, alt_labels={"en": ["Malus"]}),
                        Label(f"{U}c", pref_labels={"en": "pear"})])
    from tagsmith.exceptions import AmbiguousLabelError

    for key in ("apple",):
        path = write(tmp_path / "cased.tsv", f"one\t{key}\n")
        with pytest.raises(UnknownLabelError) as info:
            list(Corpus(path, space))
        hint = info.value.hint
        assert f"<{U}a> ('Apple')" in hint and f"<{U}b> ('APPLE')" in hint, hint
        assert "of 2 concepts" in hint and "the one meant" in hint, hint
        assert f"write <{U}a>" not in hint and "more" not in hint, hint
    # an alternative label is now read as its concept: one of two is ambiguous, both named
    path = write(tmp_path / "alt.tsv", "one\tMalus\n")
    with pytest.raises(AmbiguousLabelError) as ambiguous:
        list(Corpus(path, space))
    assert ambiguous.value.candidates == [f"{U}a", f"{U}b"]


def test_unknown_labels_fail_or_skip(tmp_path, caplog):
    path = write(tmp_path / "unk.tsv",
                 f"one\t<{U}a> <{U}zzz>\ntwo\tpear <{U}zzz>\nthree\tpear\n")
    with pytest.raises(UnknownLabelError) as info:
        list(Corpus(path, SPACE))
    assert (info.value.label, info.value.line) == (f"<{U}zzz>", 1)
    assert str(info.value).startswith(f"{path}:1: unknown label")
    corpus = Corpus(path, SPACE, unknown_labels="skip")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert pairs(corpus) == [("one", (0,)), ("two", ()), ("three", ())]
    assert corpus.report.n_unknown_labels == 4
    assert corpus.report.unknown_labels == {"pear": 2, f"<{U}zzz>": 2}
    assert corpus.report.n_docs_without_labels == 2
    assert "4 unknown label occurrences" in caplog.text
    assert list(Corpus(path, SPACE).texts()) == ["one", "two", "three"]


def test_invalid_policies_are_rejected(tmp_path):
    path = make_corpus(tmp_path, "tsv")
    with pytest.raises(InvalidParameterError, match="on_error"):
        Corpus(path, SPACE, on_error="ignore")
    with pytest.raises(InvalidParameterError, match="unknown_labels"):
        Corpus(path, SPACE, unknown_labels="keep")
    with pytest.raises(InvalidParameterError, match="format"):
        Corpus(path, SPACE, format="xml")


# -- label spaces and matrices ------------------------------------------------------------------
def test_derive_label_space_sorted_deterministic_min_count(tmp_path):
    lines = [f"t1\t<{U}z> <{U}m>", f"t2\t<{U}m> bare-label", f"t3\t<{U}a> <{U}m>"]
    forward = write(tmp_path / "f.tsv", "\n".join(lines) + "\n")
    backward = write(tmp_path / "b.tsv", "\n".join(reversed(lines)) + "\n")
    space = derive_label_space(forward)
    assert space.uris == sorted([U + "a", U + "m", U + "z", "bare-label"])
    assert derive_label_space(backward) == space
    assert derive_label_space([forward], min_count=2).uris == [U + "m"]
    assert derive_label_space([forward, backward], min_count=2).uris == space.uris
    with pytest.raises(InvalidParameterError, match="min_count"):
        derive_label_space(forward, min_count=0)


def test_corpora_read_once_while_deriving_give_the_two_pass_result(tmp_path, monkeypatch):
    import tagsmith.data.corpus as corpus_module
    from tagsmith.pipeline.io import read_labelled, read_labelled_corpora, resolve_label_space

    train = write(tmp_path / "train.tsv", f"t1\t<{U}z> <{U}m> <{U}z>\nbroken\tline\textra\n"
                  f"t2\tbare-label {U}m\nt3\t\n")
    dev = write(tmp_path / "dev.tsv", f"d1\t<{U}a> <{U}m>\nd2\t<{U}b>\n")
    paths = [train, dev]
    space = resolve_label_space(paths, None, on_error="skip")
    expected = [read_labelled(p, space, on_error="skip") for p in paths]
    opened = []
    real = corpus_module.read_records
    monkeypatch.setattr(corpus_module, "read_records",
                        lambda path, *a, **kw: opened.append(path) or real(path, *a, **kw))
    derived, read = read_labelled_corpora(paths, None, on_error="skip")
    assert opened == paths  # each corpus read once
    assert derived == space and derived.uris == sorted([U + "a", U + "b", U + "m", U + "z",
                                                        "bare-label"])
    for got, want in zip(read, expected, strict=True):
        assert got.texts == want.texts
        assert got.Y.shape == want.Y.shape and got.Y.has_sorted_indices
        assert (got.Y != want.Y).nnz == 0
        assert got.report.n_skipped_lines == want.report.n_skipped_lines
    assert read[0].report.n_skipped_lines == 1
    assert read[0].Y.toarray().sum(axis=1).tolist() == [2, 2, 0]


def test_an_empty_uri_is_reported_at_its_line_not_by_the_derived_label_space(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text(f"fine\t<{U}a>\nbroken\t<> <{U}b>\n")
    space = derive_label_space(path)
    assert space.uris == [U + "a", U + "b"]
    with pytest.raises(UnknownLabelError, match="<>") as info:
        collect(Corpus(path, space))
    assert str(info.value).startswith(f"{path}:2: ")
    from tagsmith.pipeline.io import read_labelled_corpora

    with pytest.raises(UnknownLabelError, match="<>") as info:  # derived while reading
        read_labelled_corpora([path], None)
    assert str(info.value).startswith(f"{path}:2: ")


def test_reading_once_while_deriving_honours_unknown_labels_skip(tmp_path):
    from tagsmith.pipeline.io import read_labelled, read_labelled_corpora, resolve_label_space

    path = tmp_path / "c.tsv"
    path.write_text(f"fine\t<{U}a>\nbroken\t<> <{U}b>\n")
    want = read_labelled(path, resolve_label_space([path], None), unknown_labels="skip")
    space, (got,) = read_labelled_corpora([path], None, unknown_labels="skip")
    assert space.uris == [U + "a", U + "b"]
    assert got.Y.toarray().tolist() == want.Y.toarray().tolist() == [[1, 0], [0, 1]]
    assert got.report.unknown_labels == want.report.unknown_labels == {"<>": 1}


def test_open_corpus_derives_the_space(tmp_path):
    corpus, space = open_corpus(make_corpus(tmp_path, "jsonl"))
    assert space.uris == sorted([U + "a", U + "b", U + "c", "cherry"])
    assert [len(d.label_ids) for d in corpus] == [2, 1, 0, 3]


def test_real_reuters_sample():
    corpus, space = open_corpus(REUTERS)
    docs = list(corpus)
    assert len(docs) == 200 and corpus.report.n_docs == 200
    assert docs[0].doc_id == "1" and docs[0].text.startswith("BAHIA COCOA REVIEW")
    assert [space.uri_of(i) for i in docs[0].label_ids] == ["cocoa"]
    assert [space.uri_of(i) for i in docs[1].label_ids] == [
        "grain", "wheat", "corn", "barley", "oat", "sorghum"]
    assert corpus.report.n_empty_texts == 7  # real Reuters docs without a body
    texts, Y = collect(corpus)
    assert len(space) == 51 and len(texts) == 200 and Y.shape == (200, 51)
    assert Y.nnz == 294 and Y.dtype == np.float32


def test_real_yso_sample_labels_are_yso_uris():
    corpus, space = open_corpus(YSO)
    docs = list(corpus)
    assert len(docs) == 200 and len(space) == 584
    assert all(uri.startswith("http://www.yso.fi/onto/yso/p") for uri in space.uris)
    assert docs[1].text == "The age of ecology : a global history"
    assert space.uri_of(docs[1].label_ids[0]) == "http://www.yso.fi/onto/yso/p10"


def test_labels_matrix_shape_and_values(tmp_path):
    docs = list(Corpus(make_corpus(tmp_path, "tsv"), SPACE))
    Y = labels_matrix(docs, len(SPACE))
    assert Y.shape == (4, 3) and Y.nnz == 6 and Y.dtype == np.float32
    assert Y.toarray().tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 1, 1]]
    assert labels_matrix([], 5).shape == (0, 5)
    with pytest.raises(InvalidParameterError):
        labels_matrix(docs, 2)


def test_in_memory_corpus():
    docs = [Document("a", (2, 0), doc_id="x"), Document("b")]
    corpus = Corpus.from_documents(docs, SPACE)
    assert list(corpus) == docs and corpus.report.n_docs == 2
    assert [r.labels for r in corpus.records()] == [(f"<{U}c>", f"<{U}a>"), ()]
    with pytest.raises(InvalidParameterError):
        Corpus.from_documents([Document("a", (3,))], SPACE)


def test_iterating_an_in_memory_corpus_builds_no_records(monkeypatch):
    # reading the documents back is all iterating asks: a record per document (every
    # label's URI formatted) was built and thrown away; with_records still pairs them
    docs = [Document("a", (2, 0), doc_id="x"), Document("b")]
    corpus = Corpus.from_documents(docs, SPACE)
    named = []
    monkeypatch.setattr(SPACE, "uri_of", lambda i: named.append(i) or f"{U}{i}")
    assert list(corpus) == docs and corpus.report.n_docs == 2 and named == []
    pairs = list(corpus.with_records())
    assert [doc for doc, _ in pairs] == docs and [r.line for _, r in pairs] == [1, 2]
    assert named == [2, 0] and corpus.report.n_docs == 2


# -- writing --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["out.tsv", "out.tsv.gz"])
def test_write_tsv_round_trip(tmp_path, name):
    corpus, space = open_corpus(YSO)
    docs = list(corpus) + [Document("tab\there\nand newline", (0,))]
    assert write_tsv(docs, tmp_path / name, space) == 201
    back = list(Corpus(tmp_path / name, space))
    assert [d.label_ids for d in back] == [d.label_ids for d in docs]
    assert [d.text for d in back[:200]] == [d.text for d in docs[:200]]
    assert back[200].text == "tab here and newline"


def test_write_tsv_refuses_a_label_with_whitespace_instead_of_splitting_it(tmp_path):
    # a CSV corpus's bare labels become the URIs of a derived label space; written as
    # "<climate change>" they would read back as the unknown labels "<climate", "change>"
    source = tmp_path / "c.csv"
    source.write_text('text,labels\nRain again,climate change|rain\n')
    corpus, space = open_corpus(source)
    assert space.uris == ["climate change", "rain"]
    out = tmp_path / "out.tsv"
    with pytest.raises(CorpusFormatError, match="'climate change' contains whitespace") as info:
        write_tsv(list(corpus), out, space)
    assert str(info.value).startswith(f"{out}:1: ")
    with pytest.raises(CorpusFormatError, match="whitespace") as info:
        write_tsv(read_records(source), out, space, resolve_all=False)
    assert str(info.value).startswith(f"{source}:2: ")
    assert not out.exists()


def test_write_tsv_from_records_resolves_names(tmp_path):
    records = list(read_records(make_corpus(tmp_path, "jsonl")))
    out = tmp_path / "out.tsv"
    write_tsv(records, out, SPACE)
    assert out.read_text().splitlines()[1] == f"Only cherries here\t<{U}c>"
    assert pairs(Corpus(out, SPACE)) == EXPECTED


def test_write_tsv_is_atomic(tmp_path):
    target = write(tmp_path / "keep.tsv", "original content\n")

    def failing():
        yield Document("one", (0,))
        yield Document("two", (1,))
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_tsv(failing(), target, SPACE)
    assert target.read_text() == "original content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tsv"]
    with pytest.raises(CorpusFormatError, match="empty text"):
        write_tsv([Document("  ")], target, SPACE)
    assert target.read_text() == "original content\n"


_KILLED_WRITE = """
import os, signal, sys
from tagsmith.data.textio import atomic_text_writer
with atomic_text_writer(sys.argv[1]) as out:
    out.write("half")
    out.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_write_killed_outright_leaves_a_temporary_file_the_next_write_removes(tmp_path,
                                                                             caplog):
    """A write killed outright (SIGKILL, the OOM killer) cannot remove its temporary
    file: '.NAME.XXXXXXXX.tmp' stayed beside the output forever, as big as it. It is
    named after its host and process now (as bundles' staging folders are), and the
    next write to that path removes those of processes of this host that no longer run;
    a live one's (this process, PID 1), another host's, another target's, a folder, and
    a name without host and pid are kept."""
    import signal
    import subprocess
    import sys

    from tagsmith.data.textio import atomic_text_writer
    from tagsmith.store.staging import _host

    target = write(tmp_path / "out.tsv", "original\n")
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITE, str(target)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "out.tsv")
    assert len(left) == 1 and left[0].startswith(".out.tsv.") and left[0].endswith(".tmp")
    host, pid = _host(), int(left[0].split("-")[-2])
    kept = [f".out.tsv.{host}-{os.getpid()}-abcd1234.tmp", f".out.tsv.{host}-1-abcd1234.tmp",
            f".out.tsv.other{host}-{pid}-abcd1234.tmp", f".out.tsv.{host}-{pid}-ab.cd.tmp",
            f".out.tsv.{host}-{pid}-abcd1234.old", ".out.tsv.abcd1234.tmp",
            f".out.tsvx.{host}-{pid}-abcd1234.tmp", f".o.tsv.{host}-{pid}-abcd1234.tmp"]
    for name in kept:
        write(tmp_path / name, "x")
    (tmp_path / f".out.tsv.{host}-{pid}-folder12.tmp").mkdir()
    kept.append(f".out.tsv.{host}-{pid}-folder12.tmp")
    assert target.read_text() == "original\n"
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        with atomic_text_writer(target) as out:
            out.write("new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + ["out.tsv"])
    assert f"removed {tmp_path / left[0]}" in caplog.text


def test_unlabelled_tsv_lines_ending_in_uris_are_read_but_counted(tmp_path, caplog):
    path = tmp_path / "c.tsv"
    path.write_text("Fine\t<urn:goemotions:joy>\n"
                    "Great job mate <urn:goemotions:admiration>\n"
                    "no labels at all\n"
                    "So cool <urn:x:a> <urn:x:b>\n"
                    "ends in <br>\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        records = list(read_tsv(path))
    assert [r.labels for r in records] == [("<urn:goemotions:joy>",), (), (), (), ()]
    assert records[1].text == "Great job mate <urn:goemotions:admiration>"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "2 lines without a TAB" in warnings[0] and f"{path}:2" in warnings[0]
    caplog.clear()
    clean = tmp_path / "clean.tsv"
    clean.write_text("Fine\t<urn:goemotions:joy>\nno labels at all\nends in <br>\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert len(list(read_tsv(clean))) == 3
    assert not caplog.records
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):  # read again: no repeat
        assert len(list(read_tsv(path))) == 5
    assert not caplog.records


def _shared_names_space():
    from tagsmith.data.labelspace import Label

    return LabelSpace([
        Label(U + "old", {"en": "Bank"}, deprecated=True),  # first, but deprecated
        Label(U + "bank", {"en": "Bank"}),
        Label(U + "river", {"en": "Shore"}, notation="S1"),
        Label(U + "sea", {"en": "Shore"}),
        Label(U + "s1", {"en": "S1"}),  # a name equal to another label's notation
    ])


def test_a_shared_name_prefers_the_live_concept_and_never_picks_among_live_ones(tmp_path):
    from tagsmith.exceptions import AmbiguousLabelError

    space = _shared_names_space()
    assert space.lookup("Bank") == 1
    assert space.lookup(f"<{U}old>") == 0 and space.lookup(f"{U}sea") == 3  # URIs as before
    assert space.lookup("S1") == 4  # a preferred name wins over a notation, as before
    with pytest.raises(AmbiguousLabelError, match="'Shore' is ambiguous: 2 concepts") as info:
        space.lookup("Shore")
    assert f"<{U}river>" in str(info.value) and f"<{U}sea>" in str(info.value)
    path = tmp_path / "c.tsv"
    path.write_text(f"money\tBank\nwaves\tShore <{U}sea>\n")
    with pytest.raises(UnknownLabelError, match="ambiguous") as info:
        collect(Corpus(path, space))
    assert str(info.value).startswith(f"{path}:2: ") and "<uri>" in str(info.value)
    corpus = Corpus(path, space, unknown_labels="skip")
    texts, Y = collect(corpus)
    assert Y.toarray()[:, [1, 3]].tolist() == [[1, 0], [0, 1]]
    assert corpus.report.n_unknown_labels == 1 and corpus.report.n_ambiguous_labels == 1
    assert "1 of them ambiguous" in corpus.report.summary()


def test_a_shared_notation_is_resolved_as_a_shared_name_not_by_file_order():
    from tagsmith.data.labelspace import Label
    from tagsmith.exceptions import AmbiguousLabelError

    old, new = Label(U + "old", notation="X1", deprecated=True), Label(U + "new", notation="X1")
    for labels in ([old, new], [new, old]):  # the live concept, whatever the order
        space = LabelSpace([*labels, Label(U + "c", {"en": "Y1"}, notation="N3")])
        assert space.uri_of(space.lookup("X1")) == U + "new"
    space = LabelSpace([Label(U + "a", notation="X2"), Label(U + "b", notation="X2"),
                        Label(U + "c", {"en": "X3"}), Label(U + "d", notation="X3")])
    with pytest.raises(AmbiguousLabelError, match="'X2' is ambiguous: 2 concepts"):
        space.lookup("X2")
    assert space.lookup("X3") == 2  # a preferred name still wins over a notation


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002, 0o077])
def test_atomic_writer_gives_new_files_the_umask_mode_and_keeps_existing_modes(tmp_path, umask):
    import os

    from tagsmith.data.textio import atomic_binary_writer, atomic_text_writer

    old = os.umask(umask)
    try:
        with atomic_binary_writer(tmp_path / "new.bin") as out:
            out.write(b"x")
        with atomic_text_writer(tmp_path / "new.txt") as out:
            out.write("x")
        existing = tmp_path / "old.txt"
        existing.write_text("old")
        existing.chmod(0o640)
        with atomic_text_writer(existing) as out:
            out.write("new")
    finally:
        assert os.umask(old) == umask  # the writer left the umask as it was
    for name in ("new.bin", "new.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
    assert existing.stat().st_mode & 0o777 == 0o640 and existing.read_text() == "new"


# -- line ends ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl"])
@pytest.mark.parametrize("gz", [False, True])
def test_cr_only_line_ends_read_line_by_line(tmp_path, fmt, gz):
    """Old Mac files end lines in a lone CR: every format reads them as LF files, one
    record per line (not the whole file as one line, refused or merged into a record)."""
    lf = make_corpus(tmp_path, fmt, gz)
    opener = gzip.open if gz else open
    with opener(lf, "rb") as handle:
        content = handle.read().decode("utf-8").replace("\r\n", "\n")  # csv writes CR LF
    assert "\r" not in content
    cr = write(tmp_path / f"cr{''.join(lf.suffixes)}", content.replace("\n", "\r"))
    corpus = Corpus(cr, SPACE)
    assert pairs(corpus) == EXPECTED
    assert [r.line for r in read_records(cr)] == [r.line for r in read_records(lf)]


def test_cr_only_csv_keeps_quoted_line_breaks_and_names_true_lines(tmp_path):
    path = write(tmp_path / "mac.csv", 'text,labels\r"two\rlines",cherry\r"open,x\rmore\r')
    with pytest.raises(CorpusFormatError, match=r"mac\.csv:5: invalid CSV .* starts on line 4"):
        list(read_csv(path))
    path = write(tmp_path / "mac.csv", 'text,labels\r"two\rlines",cherry\rlast,\r')
    records = list(read_csv(path))
    assert [(r.text, r.labels, r.line) for r in records] == [
        ("two\rlines", ("cherry",), 2), ("last", (), 4)]


def test_cr_only_tsv_never_merges_lines_into_one_record(tmp_path):
    # unlabelled lines: read as one line, they were one document "a\rb\rc"
    path = write(tmp_path / "mac.tsv", "first doc\rsecond doc\rthird\r")
    assert [(r.text, r.line) for r in read_tsv(path)] == [
        ("first doc", 1), ("second doc", 2), ("third", 3)]
    # a non-UTF-8 byte is named on its own line, not on line 1 of a one-line file
    path.write_bytes(b"fine\rfine too\rbad \xff here\r")
    with pytest.raises(CorpusFormatError, match=r"mac\.tsv:3: not valid UTF-8"):
        list(read_tsv(path))


def test_csv_with_old_mac_row_ends_and_an_lf_inside_a_quoted_cell(tmp_path):
    """A spreadsheet's "CSV (Macintosh)" ends rows with CR and keeps a cell's line break
    an LF: the LF in the first chunk made the file LF-split, one line, and the CR ending
    the header was refused as 'a carriage return inside a cell that is not quoted'."""
    path = tmp_path / "mac.csv"
    path.write_bytes(f'text,labels\r"two\nlines",<{U}a>\r"one",<{U}b>\r'.encode())
    assert [(r.text, r.labels, r.line) for r in read_csv(path)] == [
        ("two\nlines", (f"<{U}a>",), 2), ("one", (f"<{U}b>",), 4)]
    # the header's own line end decides: CR LF rows keep a lone CR inside a quoted cell
    path.write_bytes(f'text,labels\r\n"a\rb",<{U}a>\r\n'.encode())
    assert [(r.text, r.line) for r in read_csv(path)] == [("a\rb", 2)]


def test_lone_cr_inside_lf_files_stays_in_its_line(tmp_path):
    """An LF anywhere in the first chunk decides: a stray CR in a text stays in it, even
    in the first line (which the first line break alone would take for an old Mac file,
    splitting the first document in two)."""
    path = write(tmp_path / "lf.tsv", f"one\ntwo\r more\t<{U}a>\n")
    assert [(r.text, r.labels, r.line) for r in read_tsv(path)] == [
        ("one", (), 1), ("two\r more", (f"<{U}a>",), 2)]
    path = write(tmp_path / "first.tsv", f"one\r more\t<{U}a>\ntwo\n")
    assert [(r.text, r.labels, r.line) for r in read_tsv(path)] == [
        ("one\r more", (f"<{U}a>",), 1), ("two", (), 2)]
    path = write(tmp_path / "crlf.jsonl", '{"text": "a"}\r\n{"text": "b"}\r\n')
    assert [(r.text, r.line) for r in read_jsonl(path)] == [("a", 1), ("b", 2)]


def test_split_lines_crlf_across_chunks():
    """A CR LF whose LF starts the next chunk read is one line break, not two."""
    import io

    from tagsmith.data.readers import _CHUNK, split_lines

    long = b"x" * (_CHUNK - 3)  # its CR is the last byte of the first chunk
    data = b"a\r" + long + b"\r\nb\r\r"
    assert list(split_lines(io.BytesIO(data))) == [b"a\r", long + b"\r\n", b"b\r", b"\r"]


def test_split_lines_first_line_over_many_short_reads():
    """The first line break is looked for in each piece read, once: a first line of
    1 GiB (a 1 MB .gz) was searched again with every 64 KiB read, for hours. A stream
    answering in short reads (a pipe) is split as a file is."""
    import io

    from tagsmith.data import readers

    class ShortReads(io.RawIOBase):
        def __init__(self, data, size):
            self.data, self.size = memoryview(data), size

        def readable(self):
            return True

        def readinto(self, buffer):
            n = min(len(buffer), self.size, len(self.data))
            buffer[:n], self.data = self.data[:n], self.data[n:]
            return n

    first = b"x" * (3 * readers._CHUNK + 5)
    for data, lines in [(first + b"\tl\nb\n", [first + b"\tl\n", b"b\n"]),
                        # a CR in an early piece, no LF in the first chunk's worth: CR lines
                        (b"a\r" + first + b"\rb", [b"a\r", first + b"\r", b"b"])]:
        for size in (7, 1000, readers._CHUNK):
            handle = ShortReads(data, size)
            assert list(readers.split_lines(handle)) == lines, size


def test_split_lines_searches_a_long_first_line_once():
    """The work of finding the first line break is linear in the line: each piece read
    is searched once and joined once. The old split_lines searched and re-copied all it
    had read with every 64 KiB chunk (about n^2 / 128 KiB bytes: a 128 MB first line
    took 180 s); the bytes searched and copied are counted here, not timed."""
    from tagsmith.data import readers

    work = {"bytes": 0, "reads": 0}

    class Counted(bytes):
        """A piece read: the bytes each search of it, or copy of it by ``+``, goes over
        are counted (what ``+`` returns is counted too)."""

        def _count(self, *others):
            work["bytes"] += len(self) + sum(len(other) for other in others)

        def __contains__(self, sub):
            self._count()
            return bytes.__contains__(self, sub)

        def __add__(self, other):
            self._count(other)
            return Counted(bytes(self) + bytes(other))

        def __radd__(self, other):
            self._count(other)
            return Counted(bytes(other) + bytes(self))

    for name in ("find", "index", "rfind", "rindex", "count", "split", "partition",
                 "splitlines"):
        def searched(self, *args, _name=name):
            self._count()
            return getattr(bytes, _name)(self, *args)
        setattr(Counted, name, searched)

    class Chunks:
        def __init__(self, data):
            self.data, self.at = data, 0

        def read(self, size=-1):
            work["reads"] += 1
            size = len(self.data) if size is None or size < 0 else size
            piece = self.data[self.at:self.at + size]
            self.at += len(piece)
            return Counted(piece)

        def readline(self, size=-1):  # split_lines reads lines with a bound
            end = self.data.find(b"\n", self.at)
            end = len(self.data) if end == -1 else end + 1
            if size >= 0:
                end = min(end, self.at + size)
            line, self.at = self.data[self.at:end], end
            return line

        def __iter__(self):
            return iter(self.readline, b"")

    first = b"x" * (4 << 20) + b"\n"  # 64 chunks of 64 KiB before its line break
    assert readers._CHUNK == 64 * 1024
    size = len(first)
    lines = list(readers.split_lines(Chunks(first + b"b\n")))
    assert lines == [first, b"b\n"]
    assert work["reads"] >= size // readers._CHUNK
    # each piece is searched for an LF and (until one holds a CR) for a CR: twice the
    # line; the old code went over 434 MB, about 100 times it
    assert work["bytes"] < 3 * size, work


def test_split_lines_gives_a_pipes_lines_before_it_has_written_a_chunk():
    """The first line break is looked for in what the pipe holds: a whole 64 KiB chunk
    was read first, which on stdin waited for the writer to write that much or close
    it (`(echo doc; sleep 60) | tagsmith suggest B -` answered after a minute)."""
    import io

    from tagsmith.data import readers

    class Pipe(io.RawIOBase):
        """What a writer has written so far; reading past it would wait for more."""

        def __init__(self, data):
            self.data = memoryview(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            if not self.data:
                raise AssertionError("read past what was written: a pipe would wait here")
            n = min(len(buffer), len(self.data))
            buffer[:n], self.data = self.data[:n], self.data[n:]
            return n

    for data in (b"one\ntwo\n", b"one\r\ntwo\r\n"):
        lines = readers.split_lines(io.BufferedReader(Pipe(data)))  # as sys.stdin.buffer
        assert next(lines) == data[:data.index(b"two")]
        assert next(lines) == data[data.index(b"two"):]


def test_a_jsonl_key_given_twice_is_a_malformed_line(tmp_path):
    """json.loads keeps the last of two values of one key and drops the other silently:
    a document's text or labels would be lost without a word."""
    path = write(tmp_path / "dup.jsonl", "\n".join([
        '{"text": "first", "labels": ["a"]}',
        '{"text": "a", "text": "b"}',
        '{"text": "nested", "meta": {"n": 1, "n": 2}}',
        '{"text": "escaped", "labels": ["a"], "lab\\u0065ls": ["b"]}',
        '{"text": "last", "labels": ["a"], "labels_2": ["b"]}',
    ]) + "\n")
    with pytest.raises(CorpusFormatError) as info:
        list(read_jsonl(path))
    assert str(info.value) == (f"{path}:2: key 'text' given twice in one JSON object (a JSON "
                               "reader keeps only one of its values)")
    errors = []
    records = list(read_jsonl(path, on_error=errors.append))
    assert [r.text for r in records] == ["first", "last"]
    assert [(e.line, e.reason.split(" given")[0]) for e in errors] == [
        (2, "key 'text'"), (3, "key 'n'"), (4, "key 'labels'")]
    assert [r.text for r in read_jsonl(path, on_error="skip")] == ["first", "last"]
    corpus = Corpus(path, LabelSpace.from_uris(["a", "b"]), on_error="skip")
    assert [d.text for d in corpus] == ["first", "last"]
    assert corpus.report.n_skipped_lines == 3


def test_a_label_key_holding_a_control_character_is_no_derived_label(tmp_path):
    # a vocabulary refuses such a URI; a derived label space took it as a label
    path = tmp_path / "c.tsv"
    path.write_text(f"fine\t<{U}a>\nbroken\t<{U}\x00b> <{U}b>\nbare\tc\x7fd\n",
                    encoding="utf-8")
    assert derive_label_space(path).uris == [U + "a", U + "b"]
    with pytest.raises(UnknownLabelError, match=r"'<http://example.org/c/\\x00b>'") as info:
        collect(Corpus(path, derive_label_space(path)))
    assert str(info.value).startswith(f"{path}:2: ")
    from tagsmith.pipeline.io import read_labelled_corpora

    with pytest.raises(UnknownLabelError) as info:  # derived while reading
        read_labelled_corpora([path], None)
    assert str(info.value).startswith(f"{path}:2: ")
    space, (got,) = read_labelled_corpora([path], None, unknown_labels="skip")
    assert space.uris == [U + "a", U + "b"]
    assert got.report.unknown_labels == {f"<{U}\x00b>": 1, "c\x7fd": 1}


@pytest.mark.parametrize("name,body", [
    ("c.tsv", "Rain today\t<http://x/1>\nSun\t<http://x/2>\n"),
    ("c.jsonl", '{"text": "Rain"}\n{"text": "Sun"}\n'),
    ("c.csv", "text\nRain\nSun\n"),
])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_utf16_corpus_is_refused_whatever_on_error(tmp_path, name, body, encoding, on_error):
    """A UTF-16 file (Windows PowerShell 5's ``>``) is refused as a whole. Split at its
    LF bytes, every line after the first is ASCII with NULs between, valid UTF-8: with
    ``on_error="skip"`` a TSV was read as documents and labels of NUL-riddled text."""
    path = tmp_path / name
    data = body.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    wide = "UTF-32" if encoding == "utf-32" else "UTF-16"
    with pytest.raises(CorpusFormatError, match=f"^{path}:1: the file is {wide} text"):
        list(read_records(path, on_error=on_error))


def test_jsonl_line_starting_with_a_byte_order_mark_says_so(tmp_path):
    """Files saved with a BOM and joined (``cat a.jsonl b.jsonl``) leave one at the start
    of a later line, invisible in an editor; the error said only "Expecting value: line
    1 column 1 (char 0)" about a line that looks right."""
    path = tmp_path / "joined.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a"}\n\xef\xbb\xbf{"text": "b"}\n')
    with pytest.raises(CorpusFormatError, match=f"^{path}:2: the line starts with a "
                       r"byte-order mark \(U\+FEFF"):
        list(read_records(path))


def test_csv_carriage_return_in_an_unquoted_cell_is_explained(tmp_path):
    """A bare CR in an unquoted cell of an LF file: the csv module's message advised
    opening the file "in universal-newline mode", advice for a programmer, not for the
    file's author."""
    path = tmp_path / "c.csv"
    path.write_bytes(b"text,labels\nfirst\rsecond,x\n")
    with pytest.raises(CorpusFormatError, match=f"^{path}:2: invalid CSV \\(a carriage "
                       r"return \(CR\) inside a cell that is not quoted") as info:
        list(read_records(path))
    assert "universal-newline" not in str(info.value)


def test_a_lookup_racing_the_first_sees_ambiguous_names_as_ambiguous():
    """The name index is built on the first lookup. Its two halves were stored one
    after the other: a lookup from another thread in between saw the names but no
    ambiguous ones, and returned None for a shared name instead of raising. Here a
    reader runs after every attribute store of the first lookup."""
    from tagsmith.data.labelspace import Label
    from tagsmith.exceptions import AmbiguousLabelError

    answers = []

    class Observed(LabelSpace):
        def __setattr__(self, name, value):
            super().__setattr__(name, value)
            if self.__dict__.get("observing"):
                self.__dict__["observing"] = False
                try:
                    answers.append((name, self.lookup("apple")))
                except AmbiguousLabelError:
                    answers.append((name, "ambiguous"))
                self.__dict__["observing"] = True

    space = Observed([Label("u:1", {"en": "apple"}), Label("u:2", {"en": "apple"})])
    space.__dict__["observing"] = True
    with pytest.raises(AmbiguousLabelError):
        space.lookup("apple")
    assert answers and all(answer == "ambiguous" for _, answer in answers), answers


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_a_corpus_whose_name_and_bytes_disagree_about_gzip_says_what_to_rename(tmp_path,
                                                                              on_error):
    """The format comes from the name: a gzip file saved as ``train.tsv`` was refused as
    "not valid UTF-8" (its first byte), a plain one named ``.gz`` as "Not a gzipped file
    (b'Ra')"; neither told the user to fix the name."""
    body = b"Rain today\t<http://x/1>\nSun\t<http://x/2>\n"
    packed = tmp_path / "c.tsv"
    packed.write_bytes(gzip.compress(body))
    with pytest.raises(CorpusFormatError, match=f"^{packed}: is gzip-compressed, but its "
                       "name does not end in .gz: add .gz"):
        list(read_records(packed, on_error=on_error))
    plain = tmp_path / "c.jsonl.GZ"
    plain.write_bytes(b'{"text": "Rain"}\n')
    with pytest.raises(CorpusFormatError, match=f"^{plain}: is not gzip-compressed, but its "
                       "name ends in .gz: remove .gz"):
        list(read_records(plain, on_error=on_error))
    (tmp_path / "ok.tsv.gz").write_bytes(gzip.compress(body))  # named as it is: read
    assert [r.text for r in read_records(tmp_path / "ok.tsv.gz")] == ["Rain today", "Sun"]


def test_a_file_gzipped_twice_is_named_as_such(tmp_path):
    """gzip run on a ``.gz`` (or a server that compressed a download again): one
    decompression gave gzip bytes, and the corpus and vocabulary readers said "not valid
    UTF-8" / "not UTF-8 text ... save the file as UTF-8" of the file's first line."""
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.exceptions import VocabularyError

    twice = "is gzip-compressed twice (it decompresses to another gzip file): decompress"
    for name, body in (("c.tsv.gz", b"Rain today\t<http://x/1>\n"),
                       ("c.jsonl.gz", b'{"text": "Rain"}\n')):
        path = tmp_path / name
        path.write_bytes(gzip.compress(gzip.compress(body)))
        with pytest.raises(CorpusFormatError, match=f"^{path}: {re.escape(twice)}"):
            list(read_records(path, on_error="skip"))
    for name, body in (("v.tsv.gz", b"<http://x/1>\train\n"),
                       ("v.csv.gz", b"uri,label_en\nhttp://x/1,rain\n")):
        path = tmp_path / name
        path.write_bytes(gzip.compress(gzip.compress(body)))
        with pytest.raises(VocabularyError, match=f"^{path}: {re.escape(twice)}"):
            load_vocabulary(path)
        path.write_bytes(gzip.compress(body))  # once: read
        assert load_vocabulary(path).names() == ["rain"]


@pytest.mark.parametrize("change", ["append", "truncate"])
def test_a_corpus_that_changes_while_it_is_read_is_warned_of(tmp_path, caplog, change):
    # a corpus still being written (appended to, or cut and rewritten) while train or
    # audit read it: the command used the lines it happened to read, without a word
    from tagsmith.data.readers import read_tsv

    path = tmp_path / "c.tsv"
    path.write_text("".join(f"text {i}\t<u:{i % 3}>\n" for i in range(100)), encoding="utf-8")
    size = path.stat().st_size
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        records = read_tsv(path)
        next(records)  # the file is open, its first lines read
        if change == "append":
            with open(path, "a", encoding="utf-8") as out:
                out.write("text 100\t<u:1>\n")
        else:
            os.truncate(path, 0)
        list(records)
    now = path.stat().st_size
    assert [r.getMessage() for r in caplog.records] == [
        f"{path} changed while it was read ({size:,} bytes when opened, {now:,} now): the "
        "lines read are used as they were; run again once it is written"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        list(read_tsv(path))  # read while it stays as it is: no warning
    assert not caplog.records


def _corpus_with_a_format(path):
    return Corpus(path, LabelSpace.from_uris(["u:a"]), format="tsv")


def _sentence_encoder(path):
    from tagsmith.zeroshot.encoder import SentenceEncoder

    return SentenceEncoder(path)


def _embedding_featurizer(path):
    from tagsmith.features.embedding import EmbeddingFeaturizer

    return EmbeddingFeaturizer(encoder=str(path)).validate()


_BELOW = "is a path that cannot be looked at (permission denied)"
_INSIDE = "is a folder whose files cannot be looked at (permission denied)"


@pytest.mark.parametrize(("make", "name", "said"), [
    (_corpus_with_a_format, "locked/c.tsv", _BELOW),
    (_sentence_encoder, "locked/model", _BELOW), (_sentence_encoder, "locked", _INSIDE),
    (_embedding_featurizer, "locked/model", _BELOW),
    (_embedding_featurizer, "locked", _INSIDE)])
def test_library_paths_that_cannot_be_looked_into_are_refused_naming_them(
        tmp_path, monkeypatch, make, name, said):
    """Corpus(format=...) (no detect_format to check the path) asked exists(), and a
    model folder's check (SentenceEncoder, an EmbeddingFeaturizer's encoder) is_dir()
    and is_file() of its files, which on Python 3.11 raise the PermissionError of a
    folder that may not be looked into bare. A DataError naming the path now."""
    from tagsmith.exceptions import DataError

    (tmp_path / "locked").mkdir()
    refuse_stat_below(monkeypatch, tmp_path / "locked")
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / name}: {said}")):
        make(tmp_path / name)


def test_a_path_below_a_folder_that_cannot_be_looked_into_is_not_called_missing(
        tmp_path, monkeypatch):
    """kind_of said "missing" of a path below a folder without search permission (whose
    file may well be there), and check_writable's own is_dir() raised a bare
    PermissionError on Python 3.11 (a traceback, exit code 1). os.stat is made to refuse
    as a folder of mode 000 would: root, which runs the tests in CI too, passes those."""
    import errno

    from tagsmith.data.textio import UNREACHABLE, check_writable, kind_of, not_a_file
    from tagsmith.exceptions import DataError

    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "v.tsv").write_text("u:a\ta\n")
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if Path(path).parent == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    assert kind_of(locked / "v.tsv") == UNREACHABLE
    assert kind_of(locked / "out.tsv") == UNREACHABLE
    assert kind_of(tmp_path / "none.tsv") == "missing" and kind_of(locked) == "a folder"
    assert "cannot be looked at (permission denied)" in UNREACHABLE
    assert not_a_file(locked / "v.tsv", "a vocabulary").startswith(
        "is a path that cannot be looked at (permission denied), not a file")
    with pytest.raises(DataError, match=re.escape(
            "out.tsv: is a path that cannot be looked at (permission denied), expected a "
            "file to write")):
        check_writable(locked / "out.tsv")
    with pytest.raises(DataError, match="is a directory, expected a file to write"):
        check_writable(locked)
    assert check_writable(tmp_path / "out.tsv") == tmp_path / "out.tsv"


def test_output_checks_say_permission_denied_of_a_folder_they_cannot_look_into(
        tmp_path, monkeypatch):
    """check_writable_dir's walk to the nearest existing folder took a path that cannot
    be looked at for one with nothing there (its _exists caught every OSError), so a
    folder below one that may not be looked into passed as creatable; check_writable's
    walk over the parent folders asked folder.exists(), a bare PermissionError on Python
    3.11. Both say permission denied now, naming the path (and the option)."""
    import errno

    from tagsmith.data.textio import UNREACHABLE, check_writable, check_writable_dir
    from tagsmith.exceptions import DataError

    locked = tmp_path / "locked"
    locked.mkdir()
    real_stat = os.stat
    refused = {locked / "out", locked / "sub"}

    def stat(path, *args, **kwargs):
        # locked/sub refuses as a folder without search permission would, while the
        # file below it is missing (ENOENT): the walk up meets the refusal itself
        if Path(path) in refused:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    with pytest.raises(DataError, match=re.escape(
            f"{locked / 'out'}: -o: is {UNREACHABLE}, expected a folder")):
        check_writable_dir(locked / "out", "-o")
    with pytest.raises(DataError, match=re.escape(
            f"{locked / 'sub' / 'out'}: -o: {locked / 'sub'} is {UNREACHABLE}, not a folder")):
        check_writable_dir(locked / "sub" / "out", "-o")
    with pytest.raises(DataError, match=re.escape(
            f"{locked / 'sub' / 'out.tsv'}: {locked / 'sub'} is {UNREACHABLE}, not a folder")):
        check_writable(locked / "sub" / "out.tsv")
    assert check_writable_dir(locked / "fine", "-o") == locked / "fine"
    assert check_writable(locked / "fine" / "out.tsv") == locked / "fine" / "out.tsv"


@pytest.mark.parametrize("deleted", ["b.txt", "b.tsv", "b.key"])
def test_a_folder_file_deleted_after_the_listing_is_named_not_a_traceback(tmp_path,
                                                                          monkeypatch, deleted):
    """A document, or its label file, deleted between the folder's listing and its
    reading (another process tidying up) was a FileNotFoundError traceback: it is a
    malformed entry of the folder, named, refused (exit code 3 on the command line) or,
    with on_error='skip', skipped and counted; the other documents are read."""
    from tagsmith.data import readers

    docs = tmp_path / "docs"
    docs.mkdir()
    sidecar = ".key" if deleted.endswith(".key") else ".tsv"
    for stem in "abc":
        (docs / f"{stem}.txt").write_text(f"text {stem}", encoding="utf-8")
        (docs / f"{stem}{sidecar}").write_text(f"<{U}a>\n", encoding="utf-8")
    real = readers._list_documents

    def listing_then_deleting(path):
        listed = real(path)
        if (docs / deleted).exists():
            (docs / deleted).unlink()
        return listed

    monkeypatch.setattr(readers, "_list_documents", listing_then_deleting)
    what = "document" if deleted.endswith(".txt") else "label file"
    says = "b.txt: " + ("" if what == "document" else f"its label file {deleted} was ") + \
        "deleted after the folder was listed"
    with pytest.raises(CorpusFormatError) as caught:
        list(read_directory(docs))
    assert str(caught.value) == f"{docs}:2: {says}"
    (docs / deleted).write_text("text b" if what == "document" else f"<{U}a>\n",
                                encoding="utf-8")
    corpus = Corpus(docs, SPACE, on_error="skip")
    assert [d.doc_id for d in corpus] == ["a", "c"]
    assert corpus.report.n_skipped_lines == 1 and corpus.report.skipped_lines == [(2, says)]
    # counted and worded as a file gone missing, not as "1 malformed line skipped"
    assert corpus.report.n_missing_files == 1
    assert corpus.report.summary() == (f"{docs}: 2 documents; 1 file skipped that went "
                                       f"missing (first: document 2, {says})")


def test_a_folder_reports_malformed_files_and_files_gone_missing_apart(tmp_path, monkeypatch):
    """A document that is no UTF-8 is malformed; one deleted after the listing is a file
    gone missing: the summary counts each under its own words, first example each."""
    from tagsmith.data import readers

    docs = tmp_path / "docs"
    docs.mkdir()
    for stem in "abcd":
        (docs / f"{stem}.txt").write_text(f"text {stem}", encoding="utf-8")
    (docs / "a.txt").write_bytes(b"caf\xe9")
    real = readers._list_documents

    def listing_then_deleting(path):
        listed = real(path)
        for stem in "cd":
            (docs / f"{stem}.txt").unlink(missing_ok=True)
        return listed

    monkeypatch.setattr(readers, "_list_documents", listing_then_deleting)
    report = ReadReport(source="docs")
    assert [r.doc_id for r in read_directory(docs, on_error=report.skip_line)] == ["b"]
    assert (report.n_skipped_lines, report.n_missing_files) == (3, 2)
    assert report.summary() == (
        "docs: 0 documents; 1 malformed line skipped (first at line 1: a.txt: not valid "
        "UTF-8 in line 1 (byte 0xe9: unexpected end of data at byte 3); it reads as cp1252 "
        "text (Windows-1252): 'café'; save the file as UTF-8); 2 files skipped that went "
        "missing "
        "(first: document 3, c.txt: deleted after the folder was listed)")


@pytest.mark.parametrize("replaced_by", ["nothing", "a folder"])
def test_train_on_a_folder_whose_document_goes_after_the_listing_exits_3(tmp_path,
                                                                         monkeypatch,
                                                                         replaced_by):
    """The command line's side: a traceback (exit code 1) for a document deleted, or
    replaced by a folder, after the listing; now the file named, exit code 3."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    from tagsmith.data import readers

    docs = tmp_path / "docs"
    docs.mkdir()
    for stem in "abcd":
        (docs / f"{stem}.txt").write_text(f"text {stem} about things", encoding="utf-8")
        (docs / f"{stem}.tsv").write_text(f"<{U}a>\n", encoding="utf-8")
    real = readers._list_documents

    def listing_then_replacing(path):
        listed = real(path)
        if (docs / "b.txt").is_file():
            (docs / "b.txt").unlink()
            if replaced_by == "a folder":
                (docs / "b.txt").mkdir()
        return listed

    monkeypatch.setattr(readers, "_list_documents", listing_then_replacing)
    tagsmith_cli._register_commands()
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "train", str(docs), "-o",
                                                   str(tmp_path / "b"), "--dev-fraction", "0"])
    assert result.exit_code == 3, result.output
    says = (f"{docs}:2: b.txt: deleted after the folder was listed"
            if replaced_by == "nothing" else f"{docs / 'b.txt'}: cannot be read (Is a directory)")
    assert f"error: {says}" in result.output


def test_train_on_a_folder_whose_every_document_went_missing_says_so(tmp_path, monkeypatch):
    """train --on-error skip on a folder whose documents were all deleted after the
    listing: refused as holding no documents, counting them as files gone missing, not
    as malformed lines (only a doctest of no_documents said so)."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    from tagsmith.data import readers

    docs = tmp_path / "docs"
    docs.mkdir()
    for stem in "ab":
        (docs / f"{stem}.txt").write_text(f"text {stem} about things", encoding="utf-8")
        (docs / f"{stem}.tsv").write_text(f"<{U}a>\n", encoding="utf-8")
    real = readers._list_documents

    def listing_then_deleting(path):
        listed = real(path)
        for stem in "ab":
            (docs / f"{stem}.txt").unlink(missing_ok=True)
        return listed

    monkeypatch.setattr(readers, "_list_documents", listing_then_deleting)
    tagsmith_cli._register_commands()
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "train", str(docs), "-o",
                                                   str(tmp_path / "b"), "--on-error", "skip"])
    assert result.exit_code == 3, result.output
    assert (f"error: {docs}: no documents in the corpus (2 files skipped that went "
            "missing)") in result.output, result.output
    assert "malformed" not in result.output


def test_a_corpus_read_again_is_quiet_in_its_own_thread_only(caplog):
    # StreamedTexts.chunks dropped every record of the "tagsmith" logger while it read
    # a chunk again: another thread's lines meanwhile were lost, and two reads at once
    # shared the one filter, the first to end removing it from the other
    import threading

    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.data.texthash import hash_texts

    reading, logged = threading.Event(), threading.Event()
    texts = ["one text", "another"]

    class Rereadable:
        source = "corpus.tsv"

        def texts(self):
            for text in texts:
                logging.getLogger("tagsmith").warning("said when read first")
                reading.set()
                assert logged.wait(10)
                yield text

    def other():
        assert reading.wait(10)
        logging.getLogger("tagsmith").warning("another thread's line")
        logged.set()

    thread = threading.Thread(target=other)
    thread.start()
    streamed = StreamedTexts(Rereadable(), hash_texts(texts))
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert list(streamed.chunks(1)) == [["one text"], ["another"]]
        thread.join()
        logging.getLogger("tagsmith").warning("after the reading")
    assert [r.getMessage() for r in caplog.records] == ["another thread's line",
                                                        "after the reading"]


@pytest.mark.parametrize("sidecar", [".tsv", ".key"])
def test_a_label_file_that_is_not_utf8_is_named_not_its_document(tmp_path, sidecar):
    """A document's label file of cp1252 bytes was reported as "a.txt: not valid UTF-8",
    the document, whose own bytes were fine: the label file is the one named."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("fine text", encoding="utf-8")
    (docs / f"a{sidecar}").write_bytes(b"caf\xe9\n")
    (docs / "b.txt").write_text("other text", encoding="utf-8")
    (docs / f"b{sidecar}").write_text(f"<{U}a>\n", encoding="utf-8")
    says = (f"a.txt: its label file a{sidecar} is not valid UTF-8 in line 1 (byte 0xe9: "
            "invalid continuation byte at byte 3); it reads as cp1252 text (Windows-1252): "
            "'café'; save the file as UTF-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_directory(docs))
    assert str(caught.value) == f"{docs}:1: {says}"
    corpus = Corpus(docs, SPACE, on_error="skip")
    assert [d.doc_id for d in corpus] == ["b"]
    assert corpus.report.skipped_lines == [(1, says)]


def test_a_helpdesk_export_is_told_which_columns_hold_the_text(tmp_path):
    """A helpdesk's export (id, subject, body, created_at) was refused as no header,
    "the first line must be a header naming the columns", its header shown: the
    message names the columns that hold the text and what to do with them."""
    path = tmp_path / "tickets.csv"
    path.write_text("id,subject,body,created_at\n1,Refund,\"Hi<br>charged twice\",2024\n",
                    encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_csv(path))
    assert str(caught.value) == (
        f"{path}:1: no 'text' column in the header; found columns: 'id', 'subject', "
        "'body', 'created_at'; the documents' text seems to be in 'subject', 'body': "
        "read them joined with text_columns subject,body (README, \"Recipe: tickets from "
        "a helpdesk export\", also cleans them), or rename the one column that holds it "
        "'text'")
    path.write_text("Ticket ID,Description,Status\n1,help,open\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_csv(path))
    assert str(caught.value).endswith(
        "found columns: 'Ticket ID', 'Description', 'Status'; the documents' text seems "
        "to be in 'Description': read it with text_columns Description, or rename that "
        "column 'text'")


@pytest.mark.parametrize("header, texts", [
    ("Ticket-Nr,Betreff,Nachricht,Erstellt", "'Betreff', 'Nachricht'"),
    ("id,Sujet,Corps,date", "'Sujet', 'Corps'"),
    ("id,Asunto,Cuerpo,Mensaje", "'Asunto', 'Cuerpo', 'Mensaje'"),
    ("id,Otsikko,Viesti", "'Otsikko', 'Viesti'"),
    ("id,Ämne,Meddelande", "'Ämne', 'Meddelande'"),
])
def test_an_export_in_another_language_is_told_which_columns_hold_the_text(
        tmp_path, header, texts):
    """The columns that seem to hold the text were English names only: a German
    helpdesk's "Betreff,Nachricht" export was told that its first line must be a
    header, as a file with no header is; French, Spanish, Finnish and Swedish names
    are known too, matched whatever their case."""
    path = tmp_path / "tickets.csv"
    path.write_text(f"{header}\n1,a,b,c\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_csv(path))
    assert f"the documents' text seems to be in {texts}: read them joined with " \
        "text_columns" in str(caught.value)
    path.write_text("Nr,Beschreibung,Status\n1,Hilfe,offen\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_csv(path))
    assert str(caught.value).endswith(
        "the documents' text seems to be in 'Beschreibung': read it with text_columns "
        "Beschreibung, or rename that column 'text'")


@pytest.mark.parametrize("header, row, texts", [
    ("Ticket-Nr;Betreff;Nachricht;Erstellt", "1;Drucker;rain;2024", "'Betreff', 'Nachricht'"),
    ("id\tSujet\tCorps", "1\tImprimante\train", "'Sujet', 'Corps'"),
    ("id;subject;body", "1;Printer;rain", "'subject', 'body'"),
])
def test_a_semicolon_separated_export_is_told_which_columns_hold_the_text(
        tmp_path, header, row, texts):
    """A German (French, Swedish...) Excel saves "CSV" ';'-separated: its helpdesk
    export 'Ticket-Nr;Betreff;Nachricht' was read as one column of that name and told
    that its first line must be a header, the advice on the text's columns reaching
    comma-separated exports only; and the columns it names read the file."""
    path = tmp_path / "tickets.csv"
    path.write_text(f"{header}\r\n{row}\r\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_csv(path))
    assert f"the documents' text seems to be in {texts}: read them joined" in str(caught.value)
    assert "must be a header" not in str(caught.value)
    named = [name.strip("'") for name in texts.split(", ")]
    assert [r.text.split()[-1] for r in read_csv(path, text_columns=named)] == ["rain"]


def test_a_csv_corpus_with_no_header_row_is_told_to_start_with_one(tmp_path):
    """A CSV of documents with no header row was refused as "no 'text' column in the
    header; found columns: 'a doc about rain', 'weather'": its first line is shown, and
    that the first line must be a header naming the columns."""
    path = tmp_path / "c.csv"
    path.write_text("a doc about rain,weather\nanother,snow\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_csv(path))
    assert str(caught.value) == (
        f"{path}:1: no 'text' column in the header; found columns: 'a doc about rain', "
        "'weather'; the first line must be a header naming the columns ('text', optionally "
        "'labels' and 'id'; or others, the text's named with text_columns), then a "
        "document a line; line 1 reads 'a doc about rain,weather'")
    path.write_text("sep=;\ntext;labels;TEXT\na;b;c\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:2: columns 1 ('text') "
                                                          "and 3 ('TEXT')")):
        list(read_csv(path))
    # below Excel's sep= line the header is the second line: "the first line must be a
    # header" pointed at the sep= line
    path.write_text("sep=;\na doc about rain;weather\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_csv(path))
    assert str(caught.value).endswith(
        "the line after the sep= line must be a header naming the columns ('text', "
        "optionally 'labels' and 'id'; or others, the text's named with text_columns), then "
        "a document a line; line 2 reads "
        "'a doc about rain;weather'")


def test_a_header_less_csv_whose_first_document_spans_lines_shows_its_start(tmp_path):
    """A header-less CSV whose first document is a quoted text over two lines showed
    the half of it on the header row's last line, "line 2 reads 'world",a'": the row's
    first line is shown, named by its number, as every row is named by its first line."""
    path = tmp_path / "c.csv"
    path.write_text('"hello\nworld",weather\nanother,snow\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_csv(path))
    assert str(caught.value).endswith(
        "then a document a line; line 1 reads '\"hello'")
    assert str(caught.value).startswith(f"{path}:1: ")
    path.write_text('sep=;\n"hello\nworld";weather\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_csv(path))
    assert str(caught.value).startswith(f"{path}:2: ")
    assert str(caught.value).endswith("line 2 reads '\"hello'")


def test_labels_of_one_integer_written_as_integer_and_float_are_warned_about(tmp_path,
                                                                                caplog):
    """A pandas or Excel round trip writes integer labels as floats: a corpus with "1"
    and "1.0" had two labels for one without a word. They stay two (which is meant
    cannot be told), with one warning naming both forms, whichever way it is derived."""
    from tagsmith.data.corpus import DerivingLabels

    path = tmp_path / "c.csv"
    path.write_text("text,labels\nfirst,1\nsecond,1.0\nthird,2\nfourth,2.5\n",
                    encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = derive_label_space(path)
    assert space.uris == ["1", "1.0", "2", "2.5"]
    warned = [r.getMessage() for r in caplog.records if "as a float" in r.getMessage()]
    assert warned == [f"{path}: 1 label written both as an integer and as a float ('1' and "
                      "'1.0'), read as two labels: a spreadsheet or pandas round trip "
                      "writes integer labels as floats; write each one way"]
    caplog.clear()
    deriving = DerivingLabels()
    for key in ("1.0", "3", "1", "3.00"):
        deriving.lookup(key)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        deriving.finish(str(path))
    assert "2 labels written both as an integer and as a float ('1' and '1.0', '3' and " \
        "'3.00'), read as two labels each" in caplog.text


def test_labels_of_one_code_written_several_ways_are_warned_about(tmp_path, caplog):
    """A coding team's corpus without a vocabulary holds a code as coders write it,
    'E11.9', 'e11.9' and 'E119', or '0111' and the '111' a spreadsheet's number cell
    left of it: each was a label of its own without a word. They stay separate (which
    is meant cannot be told), with one warning naming them, whichever way derived."""
    from tagsmith.data.corpus import DerivingLabels

    path = tmp_path / "c.csv"
    path.write_text("text,labels\na,E11.9\nb,e11.9\nc,E119\nd,0111\ne,111\nf,1.0\ng,10\n"
                    "h,u:A1;u:a1\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = derive_label_space(path)
    assert len(space) == 9
    warned = [r.getMessage() for r in caplog.records if "several ways" in r.getMessage()]
    assert warned == [f"{path}: 2 codes written several ways ('0111' and '111', 'E11.9' and "
                      "'E119' and 'e11.9'), read as separate labels: codes match exactly (in "
                      "case, punctuation and leading zeros, which a spreadsheet's number "
                      "cell drops); write each one way, or give a vocabulary "
                      "(load_vocabulary), which names the code meant"]
    # the command line's words, which a command's filter swaps in
    tagsmith_cli._register_commands()
    [record] = [r for r in caplog.records if "several ways" in r.getMessage()]
    assert tagsmith_cli._OptionNames(tagsmith_cli.cli.commands["train"]).filter(record)
    assert record.getMessage().endswith("or give a vocabulary (--vocab), which names the "
                                        "code meant")
    caplog.clear()
    deriving = DerivingLabels()
    for key in ("I10", "i10", "E11"):
        deriving.lookup(key)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        deriving.finish(str(path))
    assert "1 code written several ways ('I10' and 'i10')" in caplog.text


def test_labels_joined_in_one_key_are_no_code_written_another_way(tmp_path, caplog):
    """A TSV line's labels joined as a CSV cell's ('1,2', GoEmotions' ids; '11;21') are
    several labels in one key, not the code their digits make together: they were
    warned about as one code written several ways with '12' and '1121'."""
    from tagsmith.data.corpus import code_twins

    path = tmp_path / "c.tsv"
    path.write_text("a\t1,2\nb\t12\nc\t11;21\nd\t1121\ne\t4|7\nf\t47\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        derive_label_space(path)
    assert "several ways" not in caplog.text
    assert code_twins(["E11.9", "E119", "1,2", "12"]) == [("E11.9", "E119")]


def test_decimal_labels_are_no_code_without_its_leading_zero():
    """Ratings or scores as labels ('0.5' to '5', '0.25' beside '25') were warned about
    as one code written several ways ('0.5' and '5'): the '0' before a decimal point
    is no leading zero a number cell dropped, which leads a code of digits alone."""
    from tagsmith.data.corpus import code_twins

    assert code_twins(["0.5", "1", "1.5", "2", "4.5", "5", "0.25", "25"]) == []
    assert code_twins(["0111", "111", "00", "0"]) == [("0", "00"), ("0111", "111")]


def test_only_forms_of_one_code_as_coders_write_it_are_twins():
    """'1.5' and '15' (or IPC's '9/32' and '93/2') were warned about as one code written
    two ways: punctuation between two digits tells codes apart, but for ICD's dot after
    the third character (E11.9, E119), which coders drop; a code's case is its own."""
    from tagsmith.data.corpus import code_twins

    assert code_twins(["1.5", "15", "1-5", "H04L 9/32", "H04L 93/2", "E1.19", "E11.9"]) == []
    assert code_twins(["E11.9", "E119", "E1.19", "e1.19", "H04L 9/32", "h04l 9/32",
                       "H04L9/32", "S72.001A", "S72001A", "0111", "111"]) == [
        ("0111", "111"), ("E1.19", "e1.19"), ("E11.9", "E119"),
        ("H04L 9/32", "H04L9/32", "h04l 9/32"), ("S72.001A", "S72001A")]
    # spacing between digits is spacing where it groups them as a number is read out
    # (NAICS's 541511 read out '541 511', as the resolver reads it), or stands for
    # ICD-10's dot; '1 2-3' groups none so, and is no '12-3' (nor, to the resolver)
    assert code_twins(["541 511", "541511", "E11 9", "E11.9", "12-3", "1 2-3"]) == [
        ("541 511", "541511"), ("E11 9", "E11.9")]


def test_codes_joined_in_one_key_are_not_hinted_as_the_code_their_digits_make(tmp_path):
    """'1.2' or '11-21' (two NAICS codes) in a corpus whose vocabulary has 12 and 1121
    was refused as 'the code <1121> written ... without its punctuation; write 1121', a
    code it does not name: punctuation between digits the code does not separate is
    no writing of it. E119 for E11.9 is still named."""
    space = LabelSpace.from_uris(["12", "1121", "E11.9"])
    for key in ("1.2", "11-21", "11 21", "E1.19"):
        assert space.unknown_hint(key) == "", key
    assert space.unknown_hint("e11-9").startswith("the code <E11.9> written")
    path = tmp_path / "c.tsv"
    path.write_text("a\t11-21\n", encoding="utf-8")
    with pytest.raises(UnknownLabelError) as caught:
        list(open_corpus(path, space)[0])
    assert "1121" not in str(caught.value)


@pytest.mark.parametrize(("cell", "labels"), [
    # one <uri> and its name: the comma in the name cut it into '<http://x/1> Art', 'Modern'
    ("<http://x/1> Art, Modern", ("<http://x/1>",)),
    ("<http://x/1> Art; Modern", ("<http://x/1>",)),
    # a '>' closing no '<' ends no URI: 'a,' was kept, the comma taken as inside one
    ("a, b>c", ("a", "b>c")),
    ("<http://x/a,b>, c>d", ("<http://x/a,b>", "c>d")),
    # as before
    ("<http://x/1> Art", ("<http://x/1>", "Art")),
    ("<http://x/1>, <http://x/2>", ("<http://x/1>", "<http://x/2>")),
    ("<http://x/1> Art|<http://x/2>", ("<http://x/1> Art", "<http://x/2>")),
    ("1,000", ("1", "000")),
    # a <uri>, a separator, then a plain label: two labels, as before; the label after
    # the separator was read as the URI's name and dropped without a word
    ("<http://x/1> , foo", ("<http://x/1>", "foo")),
    ("<http://x/1> ; foo", ("<http://x/1>", "foo")),
    ("<http://x/1> ,foo", ("<http://x/1>", "foo")),
])
def test_labels_cell_uris_end_only_at_a_closing_bracket(cell, labels):
    from tagsmith.data.readers import split_label_cell

    assert split_label_cell(cell) == labels


def test_labels_cells_split_between_numbers_are_warned_about_once(tmp_path, caplog):
    """'1,000' is the labels '1' and '000' by the cell's rule (a comma separates
    labels), as README says; it was split without a word, where a spreadsheet may have
    written one number with a thousands separator. One warning per file, not repeated
    when the same file is read again (its labels, then its data)."""
    path = tmp_path / "c.csv"
    path.write_text('text,labels\na,"1,000"\nb,"x, y"\nc,"2, 5"\nd,"1,000|"\n'
                    'e,"12,345.5"\n', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        records = list(read_csv(path))
        list(read_csv(path))
    assert [r.labels for r in records] == [("1", "000"), ("x", "y"), ("2", "5"), ("1,000",),
                                           ("12", "345.5")]
    warned = [r.getMessage() for r in caplog.records if "between numbers" in r.getMessage()]
    assert warned == [f"{path}: 2 labels cells split at a comma between numbers (first: line "
                      "2, '1,000' read as the labels '1', '000'): a comma separates labels; "
                      "if it is one number's thousands separator, write the number without "
                      "it (or end the cell with '|': '1,000|' is one label)"]


def test_a_uri_and_a_name_holding_a_comma_is_warned_about_once(tmp_path, caplog):
    """'<http://x/1> climate, rain' is the one label <http://x/1>, its name dropped (a
    label and its name, as '<http://x/1> Art, Modern' is written), so 'rain', if meant
    as a label of its own, was lost without a word. Read so still (the reader knows no
    vocabulary), and warned about once per file: the cell, what it was read as, and
    how to write two labels."""
    path = tmp_path / "c.csv"
    path.write_text('text,labels\na,"<http://x/1> climate, rain"\nb,"<http://x/2> Art; '
                    'Modern"\nc,"<http://x/1>|rain"\nd,"<http://x/1>, rain"\n',
                    encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        records = list(read_csv(path))
        list(read_csv(path))
    assert [r.labels for r in records] == [("<http://x/1>",), ("<http://x/2>",),
                                           ("<http://x/1>", "rain"), ("<http://x/1>", "rain")]
    warned = [r.getMessage() for r in caplog.records if "name" in r.getMessage()]
    assert warned == [f"{path}: 2 labels cells of a <URI> and a name holding a ',' or ';' "
                      "were read as that one label, the name dropped (first: line 2, "
                      "'<http://x/1> climate, rain' read as the label '<http://x/1>'); if "
                      "what follows the ',' is a label of its own, separate the labels with "
                      "'|': '<http://x/1>|rain'"]


def test_uris_beside_a_path_step_are_kept_and_warned_about_once(tmp_path, caplog):
    """A ' > ' between or after <uri>s is no category path: '<http://x/1> > <http://x/2>'
    was the one unknown label of that name (the two URIs and '>' before paths were read)
    and '<http://x/1> Foo > Bar' one label where the URI was meant. The URIs are the
    labels, the text beside them dropped and warned about once per file; a path in
    another ';'-part is one label still."""
    path = tmp_path / "c.csv"
    path.write_text('text,labels\na,<http://x/1> > <http://x/2>\nb,<http://x/1> Foo > Bar\n'
                    'c,<http://x/3>; A > B\nd,A > B\n', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        records = list(read_csv(path))
        list(read_csv(path))
    assert [r.labels for r in records] == [("<http://x/1>", "<http://x/2>"), ("<http://x/1>",),
                                           ("<http://x/3>", "A > B"), ("A > B",)]
    warned = [r.getMessage() for r in caplog.records if "' > '" in r.getMessage()]
    assert warned == [f"{path}: 2 labels cells of <URI>s and a ' > ' outside them were read "
                      "as the URIs, the text beside them dropped (first: line 2, "
                      "'<http://x/1> > <http://x/2>' read as '<http://x/1>', '<http://x/2>'): "
                      "a category path holds no <URI>; separate labels with '|'"]


def test_uris_in_a_part_of_a_path_cell_are_its_labels(tmp_path, caplog):
    """README: a cell holding a category path is split at ';' alone (a ';' inside a
    <uri> no separator), and a ' > ' beside a <uri> is no path, its URIs the labels.
    A ';'-part of several URIs beside a path part was one unknown label
    ('<http://x/1> <http://x/2>'), a ';' inside a URI cut it in two ('<http://x/a' and
    'b>'); a path before a URI is read as one after it is (the URI, the path dropped and
    warned about), as is a URI's name in its part ('<http://x/1> Art; A > B')."""
    path = tmp_path / "c.csv"
    path.write_text('text,labels\na,<http://x/1> <http://x/2>; A > B\n'
                    'b,"<http://x/1>, <http://x/2>; A > B"\nc,<http://x/a;b>; A > B\n'
                    'd,Foo > Bar <http://x/1>\ne,<http://x/1> Art; A > B\n'
                    'f,"Food, Drinks; A > B"\n', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        records = list(read_csv(path))
    assert [r.labels for r in records] == [
        ("<http://x/1>", "<http://x/2>", "A > B"), ("<http://x/1>", "<http://x/2>", "A > B"),
        ("<http://x/a;b>", "A > B"), ("<http://x/1>",), ("<http://x/1>", "A > B"),
        ("Food, Drinks", "A > B")]
    warned = [r.getMessage() for r in caplog.records if "' > '" in r.getMessage()]
    assert len(warned) == 1 and "2 labels cells" in warned[0], warned
    assert "(first: line 5, 'Foo > Bar <http://x/1>' read as '<http://x/1>')" in warned[0]
    # the writer's cells read back exactly
    from tagsmith.data.readers import split_label_cell
    from tagsmith.data.writers import label_cell
    for record in records:
        assert split_label_cell(label_cell(record.labels)) == record.labels
        assert split_label_cell(label_cell(record.labels, record.label_joiner)) \
            == record.labels


def test_numeric_label_ids_listed_with_commas_are_not_warned_about(tmp_path, caplog):
    """Numeric label ids listed with commas (GoEmotions' '4,27', '2, 5', '3,10,27') are
    no thousands separator, which has three digits after each comma and no space
    beside it: every such row of a corpus of numeric ids was counted in the warning
    that the cells might be one number each."""
    path = tmp_path / "c.csv"
    path.write_text('text,labels\na,"4,27"\nb,"2, 5"\nc,"3,10,27"\nd,"1.5,2"\n'
                    'e,"<http://x/1,000>"\n', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        records = list(read_csv(path))
    assert [r.labels for r in records] == [("4", "27"), ("2", "5"), ("3", "10", "27"),
                                           ("1.5", "2"), ("<http://x/1,000>",)]
    assert "between numbers" not in caplog.text


def test_labels_cells_without_a_separator_skip_the_uri_scan(monkeypatch):
    """A cell of no '|', ';' or ',' (space-separated <uri>s, as a TSV corpus's labels
    saved as CSV are) is split on whitespace without scanning it for <uri>s: the scan
    ran on every row and read the 590,522 rows of yso-finna-en's train split as CSV in
    twice the time."""
    from tagsmith.data import readers

    class Unused:
        def __getattr__(self, name):
            raise AssertionError(f"the cell was scanned ({name})")

    monkeypatch.setattr(readers, "_CELL_URI", Unused())
    monkeypatch.setattr(readers, "_URI_AND_NAME", Unused())
    assert readers.split_label_cell("<http://x/1> <http://x/2>") == ("<http://x/1>",
                                                                     "<http://x/2>")
    assert readers.split_label_cell("a b") == ("a", "b")
    assert readers.split_label_cell("a,b") == ("a", "b")  # no '<': no URI to scan for


def test_labels_cells_of_uris_skip_the_category_path_scan(monkeypatch, tmp_path):
    """A cell of space-separated <uri>s holds '>' but no ' > ': it is not searched for a
    category path's step, nor a cell of one <uri> and no ',' or ';' for a <uri> and a
    name: regex searches of every row's cell that read yso-finna-en's train split as
    CSV 21% slower. A ' > ' beside a <uri> is no path: the URI is the label."""
    from tagsmith.data import readers

    class Unused:
        def __getattr__(self, name):
            raise AssertionError(f"the cell was scanned ({name})")

    monkeypatch.setattr(readers, "_PATH_STEP", Unused())
    monkeypatch.setattr(readers, "_URI_AND_NAME", Unused())
    path = tmp_path / "c.csv"
    path.write_text("text,labels\nRain,<http://x/1>\nSnow,<http://x/1> <http://x/2>\n")
    assert [r.labels for r in read_csv(path)] == [("<http://x/1>",),
                                                  ("<http://x/1>", "<http://x/2>")]
    assert readers.split_label_cell("<http://x/1> <http://x/2>") == ("<http://x/1>",
                                                                     "<http://x/2>")
    assert readers.split_label_cell("A > B, C") == ("A > B, C",)  # no '<': no scan
    monkeypatch.undo()
    assert readers.split_label_cell("<http://x/1> A > B") == ("<http://x/1>",)
    assert readers.split_label_cell("<http://x/1> <http://x/2>, x") == ("<http://x/1> "
                                                                        "<http://x/2>", "x")


def test_bytes_that_are_no_cp1252_text_are_not_called_a_spreadsheets(tmp_path):
    """Every line that is no UTF-8 was told to be saved as a spreadsheet's "CSV UTF-8":
    that is said where the line reads as cp1252 text (shown), else that it is no text."""
    path = tmp_path / "c.tsv"
    path.write_bytes(b"fine\n\x00\x01\x02\x81 junk\n")
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    assert str(info.value) == (f"{path}:2: not valid UTF-8 (byte 0x81: invalid start byte at "
                               "byte 3); the line is no text in UTF-8 or cp1252 (a binary "
                               "file?): give a UTF-8 text file")
    path.write_bytes(b"fine\nna\xefve\tx\n")
    with pytest.raises(CorpusFormatError, match=re.escape(
            "it reads as cp1252 text (Windows-1252, as a spreadsheet's plain \"CSV\" is): "
            "'na\u00efve\\tx'; save the file as UTF-8")):
        list(read_tsv(path))


@pytest.mark.parametrize("line, encoding, shown", [
    (b"Se\xf1or \x81 x\ta", "Latin-1/cp1252 text (ISO-8859-1 or Windows-1252",
     "'Se\u00f1or \\x81 x\\ta'"),
    (b"Se\xf1or\x9d\x8d x\ta", "Latin-1/cp1252 text (ISO-8859-1 or Windows-1252",
     "'Se\u00f1or\\x9d\\x8d x\\ta'"),
    (b"Se\xf1or x\ta\x1a", "cp1252 text (Windows-1252", "'Se\u00f1or x\\ta\\x1a'"),
])
def test_latin1_text_with_a_byte_cp1252_lacks_is_no_binary_file(tmp_path, line, encoding,
                                                                shown):
    """A Latin-1 line holding a byte cp1252 leaves undefined (0x81, 0x8d, 0x8f, 0x90,
    0x9d), or a DOS Ctrl-Z, was called "no text in UTF-8 or cp1252 (a binary file?)":
    the rest of the line is text, so it is said to read as Latin-1/cp1252 text, shown;
    bytes that are mostly such (no letters) are no text still."""
    path = tmp_path / "l.tsv"
    path.write_bytes(line + b"\n")
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    assert str(info.value) == (f"{path}:1: not valid UTF-8 (byte 0xf1: invalid continuation "
                               f"byte at byte 2); it reads as {encoding}, as a spreadsheet's "
                               f"plain \"CSV\" is): {shown}; save the file as UTF-8 (a "
                               "spreadsheet's \"CSV UTF-8\")")
    path.write_bytes(b"\xf1\x81\x1a\x8d\n")
    with pytest.raises(CorpusFormatError, match=r"\(a binary file\?\)"):
        list(read_tsv(path))


@pytest.mark.parametrize("line, shown", [
    (b"Page 3\x0cThe caf\xe9 lease", "'Page 3\\x0cThe café lease'"),  # a scan's form feed
    (b"the caf\xe9 bell\x07 rang", "'the café bell\\x07 rang'"),
])
def test_a_text_line_with_a_control_character_is_no_binary_file(tmp_path, line, shown):
    """An OCR line holding a form feed (or a BEL) beside a Latin-1 byte was called "no
    text in UTF-8 or cp1252 (a binary file?)": its letters outnumber its control
    characters, so it is said to read as cp1252 text, shown; control bytes alone, or a
    NUL, are no text still."""
    path = tmp_path / "l.tsv"
    path.write_bytes(line + b"\tx\n")
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    assert "it reads as cp1252 text (Windows-1252, as a spreadsheet's plain \"CSV\" is): " \
           f"{shown[:-1]}" in str(info.value), str(info.value)
    for binary in (b"\x01\x02\x03\x04\xe9a", b"MZ\x90\x00\x03\x00\xe9\xe9\xe9"):
        path.write_bytes(binary + b"\n")
        with pytest.raises(CorpusFormatError, match=r"\(a binary file\?\)"):
            list(read_tsv(path))


def test_a_utf16_file_with_no_byte_order_mark_is_told_so(tmp_path):
    """A UTF-16 file with no byte-order mark was called "no text in UTF-8 or cp1252 (a
    binary file?)": it is named UTF-16 text, its line shown, little- or big-endian,
    its first line or a later one (which starts, or ends, with the NUL of an LF)."""
    path = tmp_path / "c.tsv"
    for encoding in ("utf-16-le", "utf-16-be"):
        for text in ("caf\u00e9\tdrinks\n", "tea\tdrinks\nna\u00efve\tx\n"):
            path.write_bytes(text.encode(encoding))
            with pytest.raises(CorpusFormatError) as info:
                list(read_tsv(path, on_error="fail"))
            shown = text.splitlines()[-1]
            assert str(info.value).endswith(
                f"it reads as UTF-16 text with no byte-order mark: {shown!r}; save the file "
                "as UTF-8"), (encoding, text, str(info.value))


@pytest.mark.parametrize(("name", "stream", "what"), [
    ("report.doc", "", "a Word document (.doc)"),
    ("report.tsv", "WordDocument", "a Word document (.doc)"),
    ("mail.msg", "", "an Outlook message (.msg)"),
    ("mail.csv", "__substg1.0_0037001F", "an Outlook message (.msg)"),
    ("thing.jsonl", "Contents", "an OLE2 compound file (as a Word .doc"),
])
def test_an_ole2_file_that_is_no_workbook_gets_advice_that_fits(tmp_path, name, stream, what):
    """A Word .doc or Outlook .msg (an OLE2 file, as an .xls is) was told to save "the
    sheet" as "CSV UTF-8": it is named for what it is, and told to export its text."""
    path = tmp_path / name
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
                     + stream.encode("utf-16-le") + bytes(100))
    with pytest.raises((CorpusFormatError, UnsupportedFormatError)) as info:
        list(read_records(path))
    message = str(info.value)
    assert what in message and "sheet" not in message, message
    assert "save or export its text as UTF-8 text (.txt" in message
    for workbook, head in (("book.xls", ""), ("book.csv", ""), ("book.tsv", "Workbook")):
        path = tmp_path / workbook
        path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
                         + head.encode("utf-16-le") + bytes(100))
        with pytest.raises((CorpusFormatError, UnsupportedFormatError)) as info:
            list(read_records(path))
        assert 'save the sheet as "CSV UTF-8"' in str(info.value), workbook


def test_a_folder_id_written_with_xnn_that_another_file_has_is_refused(tmp_path):
    """A name's bytes that are not UTF-8 are written \\xNN in its document's id, so
    caf<0xe9>.txt and a file literally named caf\\xe9.txt had one id: read as two
    documents of one id, refused by the audit as 'the id ... of the document at line 1
    too ... (or drop the id column)', a folder having no id column, and trained on with
    a warning to give each document an id of its own. Refused naming both files."""
    from tagsmith.data.readers import read_directory

    docs = tmp_path / "docs"
    docs.mkdir()
    try:
        with open(os.path.join(os.fsencode(docs), b"caf\xe9.txt"), "wb") as out:
            out.write(b"one")
    except (OSError, ValueError):  # a file system of UTF-8 names only (macOS)
        pytest.skip("this file system refuses file names that are not UTF-8")
    (docs / "caf\\xe9.txt").write_text("two", encoding="utf-8")
    (docs / "b.txt").write_text("three", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as info:
        list(read_directory(docs))
    assert str(info.value) == (
        f"{docs}:3: 'caf\\xe9.txt': its id 'caf\\xe9' is that of 'caf\\\\xe9.txt' too (a "
        "name's bytes that are not UTF-8 are written \\xNN in its document's id): rename "
        "one of them")
    report = ReadReport()
    assert [r.text for r in read_directory(docs, on_error=report.skip_line)] == ["three", "two"]
    assert report.n_skipped_lines == 1


@pytest.mark.parametrize("labels", [("B", ">", "a"), ("<http://x/1>", ">", "a"),
                                    ("<>", ">", "a")])
def test_a_label_named_gt_is_written_to_a_cell_that_reads_back(tmp_path, labels):
    """A label '>' between two others (a JSONL corpus's, written as CSV) was written
    space-separated ('B > a'), which reads back as the category path 'B > a' (or as
    the URI alone, the rest dropped): the writer's cells read back exactly."""
    from tagsmith.data.readers import split_label_cell
    from tagsmith.data.writers import label_cell, write_records

    assert split_label_cell(label_cell(labels)) == labels
    path = tmp_path / "c.csv"
    write_records([Record("rain", labels, None, 1, "c.jsonl")], path)
    assert [r.labels for r in read_csv(path)] == [labels]


@pytest.mark.parametrize("cell, labels", [
    # a path step's '<' closed at a later step's ' > ', across the ';': one "URI"
    # '<10; Toys >', both paths dropped
    ("Toys > Under <10; Toys > Dolls", ("Toys > Under <10", "Toys > Dolls")),
    ("Toys > Kids <3; Books > Fiction", ("Toys > Kids <3", "Books > Fiction")),
    ("Toys > Kids <3 > Dolls", ("Toys > Kids <3 > Dolls",)),
    ("Price < 10; Toys > Dolls", ("Price < 10", "Toys > Dolls")),
    # URIs, which hold no space, as before
    ("<http://x/a;b>; A > B", ("<http://x/a;b>", "A > B")),
    ("<http://x/1> > <http://x/2>", ("<http://x/1>", "<http://x/2>")),
    ("Toys > Kids <3; <http://x/1>", ("Toys > Kids <3", "<http://x/1>")),
])
def test_a_category_path_holding_a_lone_lt_is_no_uri(cell, labels):
    from tagsmith.data.readers import split_label_cell

    assert split_label_cell(cell) == labels


def test_a_folders_label_file_is_not_said_to_be_split_at_its_spaces(tmp_path, caplog):
    """A folder's label file has one label a line: 'Refund' and 'request' on two lines
    were said to be "part of 'Refund request' ... read as 2 labels as the cell is split
    at its spaces" (skipped, and in the error), which no folder does; a CSV cell is."""
    from tagsmith.data.labelspace import Label

    space = LabelSpace([Label("u:bill", {"en": "Billing issue"}),
                        Label("u:ref", {"en": "Refund request"})])
    folder = tmp_path / "docs"
    folder.mkdir()
    write(folder / "a.txt", "my refund\n")
    write(folder / "a.tsv", "Refund\nrequest\n")
    write(folder / "b.txt", "charged\n")
    write(folder / "b.tsv", "u:bill\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert [d.label_ids for d in Corpus(folder, space, unknown_labels="skip")] == [
            (), (0,)]
    assert "2 unknown label occurrences skipped (2 distinct, most often 'Refund' x1)" \
        in caplog.text
    assert "split at its spaces" not in caplog.text, caplog.text
    with pytest.raises(UnknownLabelError) as info:
        list(Corpus(folder, space))
    assert "split at its spaces" not in str(info.value), str(info.value)
    csv_file = write(tmp_path / "a.csv", "text,labels\nmy refund,Refund request\n")
    with pytest.raises(UnknownLabelError, match="split at its spaces"):
        list(Corpus(csv_file, space))


def test_digits_spaced_as_no_number_is_read_out_are_no_code_twins():
    """'12 3' and '123', '1 2' and '12', were called one code written several ways,
    any space between two digits dropped, where the LLM answer's resolver reads a
    space between digits as a number's grouping only in groups of one length (2 or
    more) or thousands: it reads '12 3' as no '123', nor '1 2' as '12'."""
    from tagsmith.data.corpus import code_twins

    assert code_twins(["12 3", "123", "1 2", "12"]) == []
    assert code_twins(["541 511", "541511", "1 234", "1234"]) == [
        ("1 234", "1234"), ("541 511", "541511")]
    assert code_twins(["H04L 9/32", "H04L9/32"]) == [("H04L 9/32", "H04L9/32")]
    # digits after a letter are no number read out, and the resolver reads 'AB12 34' as
    # no 'AB1234' (it reads a grouping in a code of digits alone): they were twins
    assert code_twins(["AB12 34", "AB1234", "X5 123", "X5123"]) == []


def test_a_skip_looks_for_a_hint_on_a_bounded_sample_of_distinct_keys():
    # each look scans the vocabulary (and split_hint up to 136 runs of words): a corpus
    # of many distinct unknown keys looks on FIRST_HINT_TRIES of them, then on the
    # 32nd, 64th, ... (hint_due), each once
    from tagsmith.data.corpus import FIRST_HINT_TRIES

    space = LabelSpace.from_uris(["u:s"], names={"u:s": "Billing issue"})
    hinted = Record("t", ("Billing", "issue"), None, 3, "m")
    for before, tries, found in ((FIRST_HINT_TRIES - 1, FIRST_HINT_TRIES, True),
                                 (FIRST_HINT_TRIES, FIRST_HINT_TRIES, False),
                                 (30, FIRST_HINT_TRIES, False), (31, FIRST_HINT_TRIES + 1, True),
                                 (32, FIRST_HINT_TRIES + 1, False)):
        report = ReadReport()
        for key in [f"none{i}" for i in range(before)] + ["none0", "Billing"]:
            report.add_unknown(key)
            report.look_for_hint(key, hinted, space, split=True, where="line 3")
        assert report.n_hint_tries == tries
        hint = "line 3's 'Billing': part of 'Billing issue'"
        assert (hint in report.summary()) == found


def test_line_numbers_against_a_plain_list_get_a_hint_when_every_key_is_one(tmp_path):
    """GoEmotions' labels.txt given as a plain-list vocabulary, its corpus naming the
    emotions by line number (0..27), was refused with "unknown label '27'" and no word of
    why: a key that is a whole number below the list's length, where every unknown key
    is one, now says it may be a line number and how to convert the list."""
    from tagsmith.data.labelspace import Label
    from tagsmith.data.vocab import load_vocabulary

    listed = write(tmp_path / "labels.txt", "admiration\namusement\nanger\n")
    space = load_vocabulary(listed)
    path = write(tmp_path / "dev.tsv", "nice\t0 2\nhm\t1\n")
    with pytest.raises(UnknownLabelError, match=r"unknown label '0' \(.*: it is a whole "
                                                r"number below the vocabulary's 3 labels: "
                                                r"a line number from 0.*n\+\+}.*GoEmotions"):
        list(Corpus(path, space))
    skipped = Corpus(path, space, unknown_labels="skip")
    list(skipped)
    assert "line 1's '0': a whole number below the vocabulary's 3 labels" \
        in skipped.report.summary()
    # a key past the list's length, a name, or one of a vocabulary with notations is no
    # line number of it
    for text in ("nice\t3\n", "nice\t0 joy\n"):
        mixed = Corpus(write(tmp_path / "m.tsv", text), space, unknown_labels="skip")
        list(mixed)
        assert "whole number" not in mixed.report.summary(), mixed.report.summary()
    noted = LabelSpace([Label("urn:a", {"en": "a"}, notation="A"), Label("urn:b")])
    assert noted.unknown_hint("1") == "" and space.unknown_hint("3") == ""


def test_a_eurovoc_id_without_its_uri_names_the_uri_it_ends(tmp_path):
    """An EU-law corpus gives EUROVOC concepts by their ids (``1622``, as MultiEURLEX
    does) where the SKOS thesaurus names them by URI (``http://eurovoc.europa.eu/1622``):
    it was refused as "unknown label '1622'" with no word of what to write. The error,
    and the count of labels skipped, now name the URI it ends; an id several concepts'
    URIs end with names each of them."""
    pytest.importorskip("rdflib")
    from tagsmith.data.vocab import load_vocabulary

    skos = write(tmp_path / "ev.ttl", """@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
<http://eurovoc.europa.eu/1622> a skos:Concept ; skos:prefLabel "data protection"@en ,
    "protection des donn\u00e9es"@fr .
<http://eurovoc.europa.eu/3002> a skos:Concept ; skos:prefLabel "Fu\u00dfg\u00e4nger"@de .
<http://eurovoc.europa.eu/100141#7> a skos:Concept ; skos:prefLabel "LAW"@en .
<http://example.org/other/7> a skos:Concept ; skos:prefLabel "seven"@en .
""")
    space = load_vocabulary(skos)
    path = write(tmp_path / "eurlex.tsv", "Datenschutz und Fu\u00dfg\u00e4nger\t1622 3002\n"
                                          "Texte juridique\t<http://eurovoc.europa.eu/1622>\n")
    with pytest.raises(UnknownLabelError, match=re.escape(
            "unknown label '1622' (") + ".*" + re.escape(
            "it is the end of the URI <http://eurovoc.europa.eu/1622> ('data protection'); "
            "write <http://eurovoc.europa.eu/1622>")):
        list(Corpus(path, space))
    skipped = Corpus(path, space, unknown_labels="skip")
    list(skipped)
    assert ("line 1's '1622': the end of the URI <http://eurovoc.europa.eu/1622> "
            "('data protection')") in skipped.report.summary()
    assert space.unknown_hint("3002") == ("the end of the URI <http://eurovoc.europa.eu/3002>"
                                          " ('Fu\u00dfg\u00e4nger'); write "
                                          "<http://eurovoc.europa.eu/3002>")
    assert space.unknown_hint("7") == (
        "the end of 2 concepts' URIs, <http://eurovoc.europa.eu/100141#7> ('LAW'), "
        "<http://example.org/other/7> ('seven'); write the URI of the one meant")
    # a part of an id, or a URI's path, is no end of one
    assert space.unknown_hint("162") == "" and space.unknown_hint("eurovoc.europa.eu/1622") == ""


@pytest.mark.parametrize("name, command", [
    ("my emotions.txt", "n++}}}' 'PATH' > vocab.tsv"),
    ("my emotions.txt.gz", "not counted), zcat 'PATH' | awk 'NR == 1 {"),
])
def test_the_line_number_hint_converts_the_list_it_was_given(tmp_path, name, command):
    """The hint's awk line named 'labels.txt' whatever the list was called: it names the
    list read, quoted for the shell (and through zcat where gzipped)."""
    from tagsmith.data.vocab import load_vocabulary

    listed = tmp_path / name
    data = b"admiration\namusement\nanger\n"
    listed.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    path = write(tmp_path / "dev.tsv", "nice\t0 2\n")
    with pytest.raises(UnknownLabelError) as caught:
        list(Corpus(path, load_vocabulary(listed)))
    message = str(caught.value)
    assert command.replace("PATH", str(listed)) in message, message
    assert " labels.txt >" not in message


@pytest.mark.skipif(shutil.which("awk") is None, reason="the hint's command needs awk")
@pytest.mark.parametrize("data", [
    # a Windows list: awk kept each line's CR, and the TSV it wrote was refused ("a
    # carriage return (CR) inside the line")
    b"admiration\r\namusement\r\nanger\r\n",
    # comments and blank lines, which the reader skips: NR-1 counted them, so every
    # label after '# emotions' was numbered one off ('0' read as amusement)
    b"# emotions\n\nadmiration\n#Labels from 2024\n\n  \namusement\n##\n#---\n"
    b"#\nanger\n",
    # both, a byte-order mark first (Notepad), and a hashtag and a <uri>, which are keys
    b"\xef\xbb\xbf# emotions\r\n\r\nadmiration\r\n#fashion\r\n<amusement>\r\n"
    b"# x\r\n#\xc3\xa9t\xc3\xa9\r\nanger\r\n",
    # an old Mac list, each line ended by CR alone: one line to awk, every key one label
    b"# emotions\radmiration\ramusement\r\r#fashion\ranger\r",
], ids=["crlf", "comments", "bom-crlf-hashtags", "cr-only"])
def test_the_line_number_hint_command_numbers_labels_as_the_list_reader(tmp_path, data):
    """The hint's awk command, run for real on the list it names, writes a TSV that
    reads, each label's notation its number as the list reader numbers it: the corpus
    of those numbers reads as the labels meant."""
    import subprocess

    from tagsmith.data.vocab import load_vocabulary

    listed = tmp_path / "my emotions.txt"
    listed.write_bytes(data)
    space = load_vocabulary(listed)
    keys = space.uris
    corpus = write(tmp_path / "dev.tsv", "".join(f"doc {i}\t{i}\n" for i in range(len(keys))))
    with pytest.raises(UnknownLabelError) as caught:
        list(Corpus(corpus, space))
    message = str(caught.value)
    assert "but awk" not in message, message  # no line it misreads
    command = message[message.index("awk '"):message.index(" > vocab.tsv (README")]
    subprocess.run(command + " > vocab.tsv", shell=True, cwd=tmp_path, check=True)
    subprocess.run(command, shell=True, cwd=tmp_path, check=True)
    converted = load_vocabulary(tmp_path / "vocab.tsv")
    assert converted.names() == keys
    assert [label.notation for label in converted] == [str(i) for i in range(len(keys))]
    docs = list(Corpus(corpus, converted))
    assert [converted.names()[doc.label_ids[0]] for doc in docs] == keys
    assert [doc.label_ids for doc in docs] == [(i,) for i in range(len(keys))]


#: the awks a hint's command is run with: awk, and mawk and gawk where installed
AWKS = sorted({name for name in ("awk", "mawk", "gawk") if shutil.which(name)})


@pytest.mark.skipif(not AWKS, reason="the hint's command needs awk")
@pytest.mark.parametrize("data, said", [
    # a rule of box-drawing signs, '#' and a no-break space: comments to the reader, keys
    # to awk (mawk has no Unicode classes), every label after each numbered one off
    ("#════════\nadmiration\n#\u00a0emotions\namusement\nanger\n".encode(),
     "reads lines 1 ('#════════'), 3 ('#\\xa0emotions') as labels, which the list "
     "reader skips"),
    # lines blank to the reader, or a comment after an ideographic space
    ("admiration\n\u00a0\namusement\n\u3000# x\n\u2003\nanger\n".encode(),
     "reads lines 2 ('\\xa0'), 4 ('\\u3000# x'), 5 ('\\u2003') as labels"),
    # a key after a no-break space: the reader drops it, awk keeps it in the key
    ("admiration\n\u00a0amusement\nanger\n".encode(),
     "keeps the spaces awk does not split at (any but space and TAB) around the keys of "
     "line 2 ('\\xa0amusement')"),
    # an ASCII vertical tab before a key, no Unicode space: it was called one
    (b"admiration\n\x0bamusement\nanger\n",
     "keeps the spaces awk does not split at (any but space and TAB) around the keys of "
     "line 2 ('\\x0bamusement')"),
    # a CR-only list with such a comment: its lines numbered as the reader numbers them
    ("admiration\r#\u2014\u2014\ramusement\ranger\r".encode(),
     "reads line 2 ('#\u2014\u2014') as a label, which the list reader skips (a "
     "comment or a blank line to it"),
    # a repeated key and a line with a space, skipped under on_error="skip": they were
    # called comments or blank lines to the reader
    (b"admiration\namusement\namusement\nsome name\nanger\n",
     "reads lines 3 ('amusement'), 4 ('some name') as labels, which the list reader "
     "skipped as malformed or duplicate (--on-error skip): mend or delete them first"),
], ids=["rule-nbsp", "unicode-blank", "nbsp-key", "vt-key", "cr-only-dash", "skipped"])
def test_the_line_number_hint_says_which_lines_its_awk_misreads(tmp_path, data, said):
    """A list with a line such as '#═══' or '#' and a no-break space (comments to the
    list reader) was converted by the hint's command numbering every label after it one
    off, with no word of it: awk, which knows no Unicode letters or spaces, reads it as
    a key. The hint names each such line; run with each awk, the command does what it
    says."""
    import subprocess

    from tagsmith.data.vocab import load_vocabulary

    listed = tmp_path / "my emotions.txt"
    listed.write_bytes(data)
    space = load_vocabulary(listed, on_error="skip")
    assert space.uris == ["admiration", "amusement", "anger"]
    corpus = write(tmp_path / "dev.tsv", "doc\t0\n")
    with pytest.raises(UnknownLabelError) as caught:
        list(Corpus(corpus, space))
    message = str(caught.value)
    assert "; but this command numbers the labels otherwise than the list reader: it " \
        + said in message, message
    command = message[message.index("awk '"):message.index(" > vocab.tsv (README")]
    from tagsmith.data.labelspace import awk_list_labels

    printed = [key for _, _, key in awk_list_labels(data)]
    assert printed != space.uris
    for awk in AWKS:
        out = subprocess.run(awk + command.removeprefix("awk"), shell=True, cwd=tmp_path,
                             check=True, capture_output=True).stdout.decode()
        # split at LF alone: splitlines() splits at a vertical tab too
        rows = [row.split("\t") for row in out.removesuffix("\n").split("\n")]
        assert [key for _, key, _ in rows] == printed, awk
        assert [number for _, _, number in rows] == [str(i) for i in range(len(printed))]


def test_a_folder_document_that_is_not_utf8_is_named_with_its_line_and_byte(tmp_path):
    """A Latin-1 byte deep in a long report of a folder was "not valid UTF-8 (invalid
    continuation byte at byte 5019)": no line to look at, no byte, no word of the
    encoding, where a corpus file's line names all three."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "report.txt").write_bytes(b"Minutes\n\nThe flood works.\nthe caf\xe9 lease\n")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_directory(docs))
    assert str(caught.value) == (
        f"{docs}:1: report.txt: not valid UTF-8 in line 4 (byte 0xe9: invalid continuation "
        "byte at byte 7); it reads as cp1252 text (Windows-1252): 'the café lease'; save "
        "the file as UTF-8")


def test_the_line_number_hint_never_converts_a_tsv_over_itself(tmp_path):
    """A TSV vocabulary without notations named vocab.tsv had the hint advise
    "awk '...' vocab.tsv > vocab.tsv": the shell empties the vocabulary before awk reads
    it (and awk read its 'joy<TAB>Joy' lines whole as keys); the hint names the file
    read only where it is a plain list."""
    from tagsmith.data.vocab import load_vocabulary

    vocab = write(tmp_path / "vocab.tsv", "joy\tJoy\nanger\tAnger\nfear\tFear\n")
    path = write(tmp_path / "dev.tsv", "nice\t0 2\n")
    with pytest.raises(UnknownLabelError) as caught:
        list(Corpus(path, load_vocabulary(vocab)))
    message = str(caught.value)
    assert "n++}}}' labels.txt > vocab.tsv" in message, message
    assert str(vocab) not in message.partition("as notation,")[2], message


def test_output_format_never_looks_at_the_working_folder(tmp_path, monkeypatch):
    """The output format was told by detect_format of a made-up 'x.csv' in the working
    folder: a folder there named so made every .csv output "a document directory",
    refused; the suffix alone tells it now."""
    from tagsmith.data.writers import output_format

    for name in ("x.csv", "x.jsonl", "x.tsv"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    assert [output_format(tmp_path / "out" / name) for name in
            ("a.csv", "b.JSONL.gz", "c.ndjson", "d.tsv")] == ["csv", "jsonl", "jsonl", "tsv"]
    with pytest.raises(UnsupportedFormatError, match="cannot tell the output format"):
        output_format("notes.txt")


def test_an_alternative_label_gets_no_unknown_label_hint_as_lookup_reads_it():
    """unknown_hint said of an alternative label "an alternative label of <...>; write
    <...>": every caller asks it after lookup, which now reads an alternative label (or
    says which concepts share it), so the branch only misled a direct caller."""
    from tagsmith.data.labelspace import Label

    space = LabelSpace([Label("http://x/a", {"en": "Apple"}, {"en": ["Malus"]})])
    assert space.lookup("Malus") == 0
    assert space.unknown_hint("Malus") == ""
