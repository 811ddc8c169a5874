"""A vocabulary's cells and lines are bounded (1 MiB a cell, 16 MiB a line): a 200 MB
cell cost about 0.8 GB of memory before its name was refused as over 10,000 characters."""

import subprocess
import sys

import pytest

from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.data.vocab import (
    MAX_CELL_CHARS,
    MAX_VOCAB_LINE_BYTES,
    load_vocabulary,
    save_vocabulary_csv,
)
from tagsmith.exceptions import VocabularyError


def test_a_csv_cell_over_the_limit_is_refused_naming_file_and_line(tmp_path):
    path = tmp_path / "vocab.csv"
    # a quoted description spanning short lines: no line is long, the cell is
    cell = "\n".join(["word " * 20] * (MAX_CELL_CHARS // 100 + 10))
    path.write_text(f'uri,label_en,description_en\nhttp://x/a,apple,ok\nhttp://x/b,pear,"{cell}"\n')
    with pytest.raises(VocabularyError) as refused:
        load_vocabulary(path)
    said = str(refused.value)
    assert str(path) in said and f"a cell longer than {MAX_CELL_CHARS:,} characters" in said
    assert "starts on line 3" in said


def test_a_csv_cell_of_the_limit_is_read(tmp_path):
    path = tmp_path / "vocab.csv"
    path.write_text(f'uri,label_en,description_en\nhttp://x/b,pear,"{"d" * MAX_CELL_CHARS}"\n')
    assert len(load_vocabulary(path)[0].description["en"]) == MAX_CELL_CHARS


def test_a_tsv_line_over_the_limit_is_refused_naming_it(tmp_path):
    path = tmp_path / "vocab.tsv"
    with path.open("wb") as out:
        out.write(b"<http://x/a>\tapple\n<http://x/b>\t")
        out.write(b"n" * (MAX_VOCAB_LINE_BYTES + 10) + b"\n")
    with pytest.raises(VocabularyError) as refused:
        load_vocabulary(path)
    said = str(refused.value)
    assert f"{path}:2" in said and "the most a vocabulary line may hold" in said
    assert f"{MAX_VOCAB_LINE_BYTES:,} bytes" in said


def test_a_long_description_is_refused_in_skos_and_not_written(tmp_path):
    pytest.importorskip("rdflib")
    path = tmp_path / "vocab.ttl"
    path.write_text('@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n'
                    '<http://x/a> a skos:Concept ; skos:prefLabel "apple"@en ; '
                    f'skos:definition "{"d" * (MAX_CELL_CHARS + 1)}"@en .\n')
    with pytest.raises(VocabularyError, match=r"<http://x/a>: description_en of 1,048,577"):
        load_vocabulary(path)
    label = Label("http://x/a", pref_labels={"en": "apple"},
                  description={"en": "d" * (MAX_CELL_CHARS + 1)})
    with pytest.raises(VocabularyError, match="would not load back"):
        save_vocabulary_csv(LabelSpace([label]), tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_a_200_mb_cell_is_refused_in_little_memory(tmp_path):
    """Measured in a child process: its peak memory, not this test run's."""
    path = tmp_path / "vocab.tsv"
    with path.open("wb") as out:
        out.write(b"<http://x/a>\t")
        chunk = b"n" * (1 << 20)
        for _ in range(200):
            out.write(chunk)
        out.write(b"\n")
    code = ("import resource, sys\n"
            "from tagsmith.data.vocab import load_vocabulary\n"
            "from tagsmith.exceptions import VocabularyError\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n"
            f"    load_vocabulary({str(path)!r})\n"
            "except VocabularyError as exc:\n"
            "    print(str(exc).splitlines()[0])\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    said, grown = done.stdout.splitlines()
    assert said.startswith(f"{path}:1: a line longer than {MAX_VOCAB_LINE_BYTES:,} bytes")
    assert int(grown) * 1024 < 100 * 1024 * 1024, f"grew {int(grown) // 1024} MiB"


def test_reading_a_vocabulary_leaves_the_process_csv_limit_alone(tmp_path):
    """Each vocabulary row was read with Python's process-wide csv.field_size_limit
    lowered to 1 MiB: a corpus read on another thread meanwhile was refused a cell
    over 1 MiB that tagsmith's 256 Mi limit allows. The vocabulary's cell limit is now
    checked on the row read, the process-wide limit only ever raised."""
    import csv
    import io

    from tagsmith.data import csvlimits

    seen = []

    class Watched:
        """Lines that note the process's csv limit as the reader takes each."""

        def __init__(self, lines):
            self.lines = iter(lines)

        def __iter__(self):
            return self

        def __next__(self):
            seen.append(csv.field_size_limit())
            return next(self.lines)

    reader = csv.reader(Watched(io.StringIO("uri,label_en\nhttp://x/a,apple\n")),
                        strict=True)
    previous = csv.field_size_limit()
    rows = [csvlimits.next_csv_row(reader, "v.csv", 1, VocabularyError,
                                   limit=MAX_CELL_CHARS) for _ in range(3)]
    assert rows == [["uri", "label_en"], ["http://x/a", "apple"], None]
    assert seen and min(seen) >= csvlimits.CSV_FIELD_LIMIT, seen
    assert csv.field_size_limit() == previous
    long = csv.reader(io.StringIO(f'uri,label_en\nhttp://x/a,"{"n" * (MAX_CELL_CHARS + 1)}"\n'))
    assert csvlimits.next_csv_row(long, "v.csv", 1, VocabularyError,
                                  limit=MAX_CELL_CHARS) == ["uri", "label_en"]
    with pytest.raises(VocabularyError) as refused:
        csvlimits.next_csv_row(long, "v.csv", 2, VocabularyError, limit=MAX_CELL_CHARS)
    assert str(refused.value) == (f"v.csv:2: invalid CSV (a cell longer than "
                                  f"{MAX_CELL_CHARS:,} characters, the most a cell may hold)")


def test_a_csv_row_of_many_short_lines_is_refused_at_the_row_bound(tmp_path):
    """The cell limit is checked on the row read, so a quoted cell of short lines is
    bounded by its row's lines together (the line bound stops one long line alone)."""
    path = tmp_path / "vocab.csv"
    line = "word " * 200 + "\n"
    with path.open("w") as out:
        out.write('uri,label_en,description_en\nhttp://x/a,apple,ok\nhttp://x/b,pear,"')
        for _ in range(MAX_VOCAB_LINE_BYTES // len(line) + 10):
            out.write(line)
        out.write('"\n')
    with pytest.raises(VocabularyError) as refused:
        load_vocabulary(path)
    assert str(refused.value).startswith(
        f"{path}:3: the row that starts on line 3 is longer than "
        f"{MAX_VOCAB_LINE_BYTES:,} bytes"), str(refused.value)


def test_the_row_bound_counts_bytes_as_the_line_bound_does(tmp_path, monkeypatch):
    """The row bound is called bytes (MAX_VOCAB_LINE_BYTES) but counted characters: a
    row of 4-byte characters (emoji, CJK extensions) spanning short lines held four
    times the bytes one line may. It counts the UTF-8 bytes now."""
    import tagsmith.data.vocab as vocab

    monkeypatch.setattr(vocab, "MAX_VOCAB_LINE_BYTES", 4_000)
    path = tmp_path / "vocab.csv"
    line = "\U0001f600" * 50 + "\n"  # 51 characters, 201 bytes
    # 30 lines: 1,530 characters (under the bound as characters), 6,030 bytes (over)
    path.write_text('uri,label_en,description_en\nhttp://x/a,apple,ok\nhttp://x/b,pear,"'
                    + line * 30 + '"\n', encoding="utf-8")
    with pytest.raises(VocabularyError) as refused:
        load_vocabulary(path)
    assert str(refused.value).startswith(
        f"{path}:3: the row that starts on line 3 is longer than 4,000 bytes")
    path.write_text('uri,label_en,description_en\nhttp://x/b,pear,"' + line * 15 + '"\n',
                    encoding="utf-8")  # 3,015 bytes: read
    assert load_vocabulary(path).uris == ["http://x/b"]
