"""Bounded reads of lines: a line over the line limit (``MAX_LINE_BYTES``, lowered here
so that small files test it) is refused naming its file and line, with at most about the
limit read of it. A 3 GB file with no line break was read whole as one line first (6.9 GB
of memory as CSV)."""

import gzip
import io
import re

import pytest

from tagsmith.data import readers
from tagsmith.data.readers import read_csv, read_jsonl, read_tsv, split_lines
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import CorpusFormatError, DataError, VocabularyError

#: the limit the tests read under: over a chunk (64 KiB), so that a long line spans
#: several reads as a real one does
LIMIT = 3 * readers._CHUNK + 7


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", LIMIT)


class CountedReads(io.RawIOBase):
    """``data`` as a raw stream, counting the bytes it has given."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data, self.given = memoryview(data), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), len(self.data))
        buffer[:n], self.data = self.data[:n], self.data[n:]
        self.given += n
        return n


LONG = b"x" * (20 * LIMIT)


@pytest.mark.parametrize("data, line", [
    (LONG, 1),  # no line break at all: the first line, read as the file's head
    (b"a\tb\n" + LONG + b"\nc\n", 2),  # a later line, read line by line
    (b"a\r" + LONG + b"\rc\r", 2),  # an old Mac file's (CR) lines
    (b"a\n" + b"x" * (LIMIT + 1), 2),  # one byte over, at the end of the file
])
def test_a_line_over_the_limit_is_refused_having_read_about_the_limit(small_limit, data,
                                                                       line):
    stream = CountedReads(data)
    handle = io.BufferedReader(stream, readers._CHUNK)
    with pytest.raises(CorpusFormatError, match=re.escape(
            f"x.tsv:{line}: a line longer than {LIMIT:,} bytes")):
        list(readers.numbered_lines(split_lines(handle), "x.tsv"))
    # the line's start, not the whole of it (20 times the limit) nor the rest of the file
    assert stream.given <= LIMIT + 3 * readers._CHUNK


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_a_line_of_the_limit_is_read_whole(small_limit, end):
    line = b"y" * LIMIT + end  # the limit is the line's bytes before its line break
    assert list(split_lines(io.BytesIO(b"a\n" + line + b"b\n"))) == [b"a\n", line, b"b\n"]
    assert list(split_lines(io.BytesIO(line))) == [line]  # the first line (the head)
    assert list(split_lines(io.BytesIO(line[:-len(end)]))) == [line[:-len(end)]]
    mac = b"y" * LIMIT + b"\r"  # an old Mac file's line
    assert list(split_lines(io.BytesIO(b"a\r" + mac + b"b\r"))) == [b"a\r", mac, b"b\r"]


def test_each_corpus_format_names_the_line_too_long(small_limit, tmp_path):
    long = "x" * (LIMIT + 10)
    tsv = tmp_path / "c.tsv"
    tsv.write_text(f"rain\tweather\n{long}\tweather\n", encoding="utf-8")
    jsonl = tmp_path / "c.jsonl.gz"
    import gzip

    with gzip.open(jsonl, "wt", encoding="utf-8") as out:
        out.write(f'{{"text": "rain"}}\n{{"text": "sun"}}\n{{"text": "{long}"}}\n')
    csv = tmp_path / "c.csv"
    csv.write_text(f"text,labels\n{long}", encoding="utf-8")  # no line break after it
    for path, read, line in ((tsv, read_tsv, 2), (jsonl, read_jsonl, 3), (csv, read_csv, 2)):
        with pytest.raises(CorpusFormatError, match=re.escape(
                f"{path}:{line}: a line longer than {LIMIT:,} bytes, the most a line may "
                "hold")):
            list(read(path))
        # not a malformed line --on-error skip leaves out: what it holds is unknown
        with pytest.raises(CorpusFormatError, match="a line longer than"):
            list(read(path, on_error="skip"))


def test_a_csv_cell_spanning_lines_may_be_longer_than_a_line(small_limit, tmp_path):
    """The limit is a line's: a quoted cell of many lines is bounded by the cell limit."""
    text = "\n".join(["y" * (LIMIT // 2)] * 4)
    path = tmp_path / "c.csv"
    path.write_text(f'text,labels\n"{text}",rain\n', encoding="utf-8")
    assert [r.text for r in read_csv(path)] == [text]


def test_a_vocabulary_line_too_long_is_refused_naming_it(small_limit, tmp_path):
    path = tmp_path / "v.tsv"
    path.write_text(f"<urn:a>\ta\n<urn:b>\t{'b' * (LIMIT + 1)}\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=re.escape(
            f"{path}:2: a line longer than {LIMIT:,} bytes")):
        load_vocabulary(path)


def test_a_gzip_vocabulary_cut_short_says_how_much_was_read(tmp_path):
    # the vocabulary read its lines apart from the corpus readers' numbered_lines: a
    # .gz cut short (still being copied) said "cannot read: Compressed file ended before
    # the end-of-stream marker was reached", not where nor that it was cut
    path = tmp_path / "v.tsv.gz"
    data = gzip.compress("".join(f"<urn:l{i}>\tlabel {i} {i * i}\n"
                                 for i in range(20_000)).encode())
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(VocabularyError, match=re.escape(f"{path}: cannot read the file after "
                                                        "line ")) as caught:
        load_vocabulary(path)
    assert "the file was cut short" in str(caught.value)
    assert "--on-error" not in str(caught.value)  # a corpus reader's option, not its


def test_stdin_line_too_long_is_refused_naming_it(small_limit):
    from tagsmith.cli.commands import _stdin_documents

    data = b"rain today\n" + b"x" * (LIMIT + 1) + b"\n"
    with pytest.raises(DataError, match=re.escape(
            f"stdin:2: a line longer than {LIMIT:,} bytes")):
        list(_stdin_documents(False, data))


def test_a_lone_cr_before_the_line_break_counts_in_the_line(small_limit):
    """A line of the limit's bytes then CR CR LF holds one byte over it (an LF file keeps
    a lone CR in its line): a bounded read stopped after the two CRs and took them for
    the line's end, so the line was cut there and its LF yielded as a line of its own
    (every later line numbered one too many)."""
    line = b"y" * LIMIT + b"\r\r\n"
    for data in (b"a\n" + line + b"b\n", line + b"b\n"):  # read line by line; the head
        with pytest.raises(readers.LineTooLong):
            list(split_lines(io.BytesIO(data)))


def test_the_refusal_says_the_line_bound_is_bytes_and_the_cell_limit_characters(
        small_limit):
    # it said "a document holds at most 268,435,456 characters" of a bound that counts
    # bytes: a line of 100 million 3-byte characters was refused as over it
    from tagsmith.data.csvlimits import CSV_FIELD_LIMIT

    with pytest.raises(CorpusFormatError) as refused:
        list(readers.numbered_lines(split_lines(io.BytesIO(LONG)), "x.tsv"))
    said = str(refused.value)
    assert f"a line longer than {LIMIT:,} bytes" in said and "bytes as read" in said
    assert f"a CSV cell's own limit is {CSV_FIELD_LIMIT:,} characters" in said
    assert "document holds" not in said


def test_a_whole_file_line_too_long_is_refused_naming_it_as_on_stdin(small_limit,
                                                                      tmp_path):
    # suggest --whole-file FILE read the file whole and answered a line over the limit,
    # where the same bytes on stdin were refused at stdin:1
    from tagsmith.cli.commands import _file_documents, _stdin_documents

    path = tmp_path / "doc.txt"
    data = b"rain today\n" + b"x" * (LIMIT + 1) + b"\n"
    path.write_bytes(data)
    with pytest.raises(DataError, match=re.escape(
            f"{path}:2: a line longer than {LIMIT:,} bytes")):
        list(_file_documents(str(path), True))
    with pytest.raises(DataError, match=re.escape("stdin:2: a line longer than")):
        list(_stdin_documents(True, data))
    # a whole file of lines within the limit is read as it is, line breaks and all
    text = "a\r\nb\rc\n" + "y" * LIMIT
    path.write_bytes(text.encode())
    assert list(_file_documents(str(path), True)) == [(str(path), text)]


def test_a_whole_file_cut_short_is_refused_as_when_read_by_lines(tmp_path):
    # suggest --whole-file on a gzip file cut short said only "cannot read the file
    # (Compressed file ended ...)", where the same file read by lines said it was cut
    # short and how many lines were read before the cut
    import gzip

    from tagsmith.cli.commands import _file_documents

    path = tmp_path / "doc.txt.gz"
    whole = gzip.compress(b"".join(b"line %d of the text\n" % i for i in range(2000)))
    path.write_bytes(whole[:len(whole) // 2])
    for whole_file in (False, True):
        with pytest.raises(CorpusFormatError, match="the file was cut short"):
            list(_file_documents(str(path), whole_file))
