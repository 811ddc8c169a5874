"""Writing a corpus and reading it back keeps every text and label set (property tests)."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagsmith.data.corpus import read_records
from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.data.readers import Record, one_line
from tagsmith.data.writers import write_records

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


@pytest.mark.parametrize("gz", [False, True])
def test_csv_text_with_a_lone_carriage_return_reads_back(tmp_path, gz):
    # csv.writer(lineterminator="\n") left "a\rb" unquoted: the file could not be read
    path = tmp_path / f"c.csv{'.gz' if gz else ''}"
    write_records([Record("first\rsecond", ("banana",), "d1", 1, "in.jsonl"),
                   Record("\r", (), "d2", 2, "in.jsonl")], path)
    back = list(read_records(path))
    assert [(r.text, r.labels, r.doc_id) for r in back] == \
        [("first\rsecond", ("banana",), "d1"), ("", (), "d2")]
