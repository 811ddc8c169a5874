"""Writing corpora: TSV (Annif), CSV and JSONL, streamed and atomic.

:func:`write_records` writes raw :class:`~tagsmith.data.readers.Record` objects
(labels as their keys were written, metadata kept) in the format given by the path's
suffix, so a corpus read, changed and written again keeps everything it had. The file
is written under a temporary name and renamed into place, so the target is never
left half written; ``.gz`` paths are compressed.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from tagsmith._json import dumps as strict_dumps
from tagsmith._json import strict
from tagsmith._plural import plural_s
from tagsmith.data.corpus import _record_key, write_tsv
from tagsmith.data.csvlimits import csv_field_limit, csv_writer
from tagsmith.data.labelspace import LabelSpace
from tagsmith.data.readers import (
    CorpusLayout,
    Record,
    _check_format,
    _raw_lines,
    split_label_cell,
    suffix_format,
    unencodable,
)
from tagsmith.data.textio import atomic_binary_writer, atomic_text_writer, json_line
from tagsmith.exceptions import CorpusFormatError, UnsupportedFormatError

logger = logging.getLogger("tagsmith")


def output_format(path: str | Path, format: str | None = None) -> str:
    """The format to write ``path`` in: ``format`` if given, else from the suffix.

    >>> output_format("fixed.jsonl.gz"), output_format("x.txt", "tsv")
    ('jsonl', 'tsv')
    """
    fmt = _check_format(format) if format is not None else _format_from_suffix(path)
    if fmt == "dir":
        raise UnsupportedFormatError("cannot write a document directory; write a .tsv, "
                                     ".csv or .jsonl file", path=path)
    return fmt


def _format_from_suffix(path: str | Path) -> str:
    # the readers' suffix_format, the file unread: detect_format of a made-up 'x.csv'
    # looked in the working folder, and a folder there named so refused every .csv output
    fmt = suffix_format(path)
    if fmt is not None:
        return fmt
    raise UnsupportedFormatError("cannot tell the output format; expected a name ending in "
                                 ".tsv, .csv or .jsonl (each optionally .gz)", path=path)


def write_records(records: Iterable[Record], path: str | Path, format: str | None = None,
                  label_space: LabelSpace | None = None, delimiter: str = ",",
                  sep_line: str | None = None, newline: str = "\n",
                  header: Sequence[str] | None = None, bom: bool = False) -> int:
    """Write records to ``path`` atomically; returns the number written.

    A TSV line cannot hold a label key with whitespace (a preferred name such as
    "climate change"): given ``label_space``, such keys are written as ``<uri>``
    (see :func:`~tagsmith.data.corpus.write_tsv`). CSV and JSONL keep keys as they are;
    a key containing ``|``, which a CSV ``labels`` cell splits on, raises
    :class:`~tagsmith.exceptions.CorpusFormatError` naming the record's file and line
    (nothing is written). A CSV's cells are separated by ``delimiter``, below the line
    ``sep_line`` (Excel's ``sep=;``) where one is given: a corpus rewritten as its input
    was written (:func:`~tagsmith.data.readers.csv_dialect`). Lines end in ``newline``
    (``"\\r\\n"``: a Windows-written corpus, :func:`~tagsmith.data.readers.line_ending`),
    after a UTF-8 byte-order mark with ``bom`` (:func:`~tagsmith.data.readers.utf8_bom`).
    A JSONL object's keys are written in the order they were read
    (:attr:`~tagsmith.data.readers.Record.key_order`), a ``labels`` key the object had
    not left out where it has no labels, and an ``id`` it had as ``null`` kept so.
    A CSV's columns are ``id``, ``text``, ``labels`` and the metadata keys, or given as
    ``header`` (:func:`~tagsmith.data.readers.csv_header`), the row written as it is and
    each record's fields under the columns the reader reads them from (a column no field
    fills left empty); a record with a field ``header`` has no column for raises
    :class:`~tagsmith.exceptions.CorpusFormatError` (nothing is written).

    >>> import os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "c.jsonl")
    >>> write_records([Record("Rain", ("<http://x/1>",), "d1", 1, "in.tsv")], name)
    1
    >>> open(name).read()
    '{"id": "d1", "text": "Rain", "labels": ["<http://x/1>"]}\\n'
    """
    fmt = output_format(path, format)
    if fmt == "tsv":
        lost = _TsvLosses()
        written = write_tsv(lost.count(records), path, label_space, resolve_all=False,
                            newline=newline, bom=bom)
        lost.warn(path)
        return written
    path = Path(path)
    written = 0
    with atomic_text_writer(path) as out:
        if bom:  # the readers drop it
            out.write("\ufeff")
        if fmt == "jsonl":
            for record in records:
                try:
                    line = json_line(jsonl_object(record))  # escaping its line breaks
                    out.write(line if newline == "\n" else line[:-1] + newline)
                except UnicodeEncodeError as exc:  # nothing is written: name the record
                    raise unencodable(exc, record.source, record.line) from None
                written += 1
            return written
        # quotes a text's lone \r, which csv readers split on
        writer = csv_writer(out, delimiter=delimiter, lineterminator=newline)
        quoted = csv_writer(out, delimiter=delimiter, quoting=csv.QUOTE_ALL,
                            lineterminator=newline)
        columns: list[str] | None = None
        # each column's field: "id", "text", "labels", a metadata key, or None (empty)
        fields: list[str | None] = []
        for number, record in enumerate(records, 1):
            if columns is None:
                if header is None:
                    columns = list(record.metadata)
                    _check_csv_metadata(columns, path)
                    fields = ["id", "text", "labels", *columns]
                else:
                    fields = header_fields(header)
                    columns = [f for f in fields if f not in (None, "id", "text", "labels")]
                if sep_line is not None:
                    out.write(sep_line + newline)
                writer.writerow(["id", "text", "labels", *columns] if header is None
                                else header)
            extra = set(record.metadata) - set(columns)
            if extra:  # a streamed CSV cannot grow columns; missing ones stay empty
                raise CorpusFormatError(f"a CSV has the columns of its first record; this one "
                                        f"also has {sorted(extra)}", path=path, line=number + 1)
            lacking = [name for name, given in (("id", record.doc_id), ("labels", record.labels))
                       if given and name not in fields]
            if lacking:  # the header given has no column for it: it would be lost
                raise CorpusFormatError(f"the header has no {lacking[0]!r} column for this "
                                        f"record's {lacking[0]}", path=path, line=number + 1)
            piped = [key for key in record.labels if "|" in key]
            if piped:  # split_label_cell would read it back as several keys
                raise CorpusFormatError(
                    f"label key {piped[0][:80]!r} contains '|', which a CSV labels cell "
                    "splits on; write this corpus as .jsonl or .tsv instead",
                    path=record.source, line=record.line)
            row = csv_row(record, fields)
            try:
                # a row of bare empty cells (",,") is a spreadsheet's padding to the
                # reader, no document: quoted, it is this one, of no text and no labels
                (writer if any(cell.strip() for cell in row) else quoted).writerow(row)
            except UnicodeEncodeError as exc:  # nothing is written: name the record
                raise unencodable(exc, record.source, record.line) from None
            written += 1
    return written


def jsonl_object(record: Record) -> dict[str, object]:
    """The JSON object a JSONL corpus holds ``record`` as: ``id`` (an integer where it
    was read as one), ``text``, ``labels`` and the metadata, in the order the keys were
    read (:attr:`~tagsmith.data.readers.Record.key_order`), no ``labels`` where the
    object had none and gained none, an ``id`` read as ``null`` kept so, no ``text``
    where the object had none (its text read from other keys, ``text_columns``)."""
    doc_id = record.int_id if record.int_id is not None else record.doc_id
    obj: dict[str, object] = {"id": doc_id} if doc_id is not None else {}
    obj.update({"text": record.text, "labels": list(record.labels), **dict(record.metadata)})
    if record.key_order is not None:  # the keys in the order they were read
        if not record.labels and "labels" not in record.key_order:
            del obj["labels"]  # none given, none written
        if doc_id is None and "id" in record.key_order:
            obj["id"] = None  # read as null (a key the reader lists): kept
        if "text" not in record.key_order:  # its text read from other keys (text_columns):
            del obj["text"]  # they are written back as they were, and no 'text' is added
        obj = {**{k: obj.pop(k) for k in record.key_order if k in obj}, **obj}
    return obj


def csv_row(record: Record, fields: Sequence[str | None]) -> list[str]:
    """The cells of ``record`` under columns reading ``fields`` (:func:`header_fields`),
    a column no field fills left empty."""
    return [record.doc_id or "" if f == "id" else record.text if f == "text"
            else label_cell(record.labels, record.label_joiner) if f == "labels"
            else "" if f is None else _cell(record.metadata.get(f, ""))
            for f in fields]


class _TsvLosses:
    """What an Annif TSV line cannot hold of the records written to it: document ids,
    metadata, tabs and line breaks in texts (written as spaces). Counted as the records
    pass, and said in one warning once the file is written, rather than lost silently."""

    def __init__(self) -> None:
        self.ids = 0
        self.metadata: dict[str, int] = {}
        self.reflowed = 0

    def count(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if record.doc_id is not None or record.int_id is not None:
                self.ids += 1
            for key in record.metadata:
                self.metadata[key] = self.metadata.get(key, 0) + 1
            if any(c in record.text for c in "\t\r\n"):
                self.reflowed += 1
            yield record

    def warn(self, path: str | Path) -> None:
        parts = []
        if self.ids:
            parts.append(f"the ids of {self.ids:,} document{plural_s(self.ids)}")
        if self.metadata:
            keys = sorted(self.metadata)
            shown = ", ".join(repr(k) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")
            parts.append(f"metadata ({len(keys)} key{plural_s(len(keys))}: {shown}) of "
                         f"{max(self.metadata.values()):,} "
                         f"document{plural_s(max(self.metadata.values()))}")
        if parts:
            logger.warning("%s: a TSV corpus holds only texts and labels: %s not written "
                           "(write .csv or .jsonl to keep them)", path, " and ".join(parts))
        if self.reflowed:
            logger.warning("%s: %s text%s held tabs or line breaks, written as spaces (a TSV "
                           "line cannot hold them)", path, f"{self.reflowed:,}",
                           plural_s(self.reflowed))


def header_fields(header: Sequence[str]) -> list[str | None]:
    """The field each column of a CSV ``header`` is read into, as the reader reads it:
    ``id``, ``text`` and ``labels`` in any case and spacing, a metadata key (the name
    stripped), or None for an unnamed column after the first (the reader reads none).

    >>> header_fields([" Labels", "Text", "year", "", ""])
    ['labels', 'text', 'year', '', None]
    """
    fields: list[str | None] = []
    for cell in header:
        name = cell.strip()
        field = name.lower() if name.lower() in ("text", "labels", "id") else name
        fields.append(None if field in fields else field)
    return fields


def label_cell(keys: Iterable[str], joiner: str | None = None) -> str:
    """A CSV ``labels`` cell that :func:`~tagsmith.data.readers.split_label_cell` reads
    back to ``keys``: joined with ``joiner`` (what the cell read had between its labels,
    :attr:`~tagsmith.data.readers.Record.label_joiner`: a rewritten corpus differs from
    its input only where its labels do) where that reads back to ``keys``, else
    space-separated, or ``|``-separated when a key has whitespace, a ``;`` or a ``,``, or
    is ``>`` between two others (a single such key gets a trailing ``|``, or it would
    read back as several; ``B > a`` reads back as a category path).

    >>> label_cell(["<http://x/1>", "rain"]), label_cell(["climate change", "rain"])
    ('<http://x/1> rain', 'climate change|rain')
    >>> label_cell(["climate change"]), label_cell(["a,b"])
    ('climate change|', 'a,b|')
    >>> label_cell(["rain", "sun"], "|"), label_cell(["a b", "c"], "; ")
    ('rain|sun', 'a b; c')
    >>> label_cell(["rain"], "|"), label_cell(["a b", "c"], " ")
    ('rain|', 'a b|c')
    """
    keys = list(keys)
    if joiner and keys:
        # one label of a cell that had a "|" keeps it ("rain|"): it reads back as one
        cell = joiner.join(keys) if len(keys) > 1 or "|" not in joiner else keys[0] + "|"
        if split_label_cell(cell) == tuple(keys):
            return cell
    if not any(any(c.isspace() or c in ";," for c in key) for key in keys):
        cell = " ".join(keys)
        # a label '>' between two others ('B > a') reads back as a category path
        if " > " not in cell:
            return cell
    return "|".join(keys) + ("|" if len(keys) == 1 else "")


def _cell(value) -> str:
    """A CSV metadata cell: a string as it is, any other value as strict JSON (a float
    JSON cannot hold as ``NaN``/``Infinity``/``-Infinity``, inside a list or object as
    that string quoted, never as the bare token strict JSON parsers refuse).

    >>> _cell("x"), _cell(2), _cell(float("nan")), _cell([1.5, float("inf")])
    ('x', '2', 'NaN', '[1.5, "Infinity"]')
    """
    value = strict(value)
    return value if isinstance(value, str) else strict_dumps(value, ensure_ascii=False)


def _check_csv_metadata(columns: list[str], path: Path) -> None:
    """Refuse metadata keys the CSV reader would not give back: it reads ``text``,
    ``labels`` and ``id`` in any case as its own columns and strips header names,
    keeping the first of two that are then equal (the other column was dropped)."""
    seen: dict[str, str] = {}
    for key in columns:
        name = str(key).strip()
        if name.lower() in ("text", "labels", "id"):
            raise CorpusFormatError(f"metadata key {key!r} would be read back as the "
                                    f"{name.lower()!r} column; write this corpus as .jsonl "
                                    "or rename the key", path=path, line=1)
        if name in seen:
            raise CorpusFormatError(f"metadata keys {seen[name]!r} and {key!r} are one CSV "
                                    "column once their spaces are stripped; write this "
                                    "corpus as .jsonl or rename one", path=path, line=1)
        seen[name] = key


def rewrite_changed(records: Iterable[tuple[Record, bool]], source: str | Path,
                    path: str | Path, fmt: str, layout: CorpusLayout,
                    skipped: Sequence[int] = (), label_space: LabelSpace | None = None,
                    add_labels: bool = False) -> int:
    """Write the corpus file ``source`` (in the format ``fmt``, laid out as ``layout``
    says, :func:`~tagsmith.data.readers.corpus_layout`) to ``path`` atomically, in its
    own format, each of its ``records`` (read from it in order, with layout, each with
    whether it was changed) as it was: its lines copied byte for byte, a changed
    record's written in their place in the style of its own (its line end; a TSV's
    text as it was and the spaces between its labels; a JSONL object's separators, and
    ``\\u`` escapes where it wrote every non-ASCII character so; a CSV row's quotes
    around each cell it quoted). Blank lines, a CSV's ``sep=`` line, header
    and padding rows are copied; the lines of ``skipped`` (the first lines of the
    malformed records the reader skipped, ascending, added to as it reads) are not.
    Returns the number of records written. Keys a TSV line cannot hold are written as
    ``<uri>`` through ``label_space``, as :func:`write_records` writes them.
    ``add_labels`` (a CSV whose header has no ``labels`` column) adds one last: the
    header gains it, every other row (padding rows too: the reader refuses a row of
    another length than the header) is copied as it was with an empty cell added before
    its line end, a changed row's labels written in it; a blank line stays blank."""
    source, path = Path(source), Path(path)
    lines = _raw_lines(source, header=fmt == "csv")
    header = layout.header
    if header is not None and add_labels:
        header = [*header, "labels"]
    fields = header_fields(header) if header is not None else []
    # the cell each row copied gains: the header's name (quoted where its names all
    # were), empty below it; None until the header is passed (a sep= line before it)
    added: list[bytes | None] = [None]
    cursor: list[tuple[int, bytes] | None] = [next(lines, None)]
    written = 0
    passed = 0  # the skipped lines before the cursor (``skipped`` grows as it is read)

    def take() -> tuple[int, bytes] | None:
        item = cursor[0]
        if item is not None:
            cursor[0] = next(lines, None)
        return item

    def record_lines() -> list[bytes]:
        """The lines of the record starting at the cursor: one, or a CSV row's."""
        if fmt != "csv":
            item = take()
            return [] if item is None else [item[1]]
        taken: list[bytes] = []

        def decoded() -> Iterator[str]:
            while (item := take()) is not None:
                taken.append(item[1])
                yield item[1].decode("utf-8", "surrogateescape")

        try:
            with csv_field_limit():
                next(csv.reader(decoded(), delimiter=layout.delimiter, strict=True), None)
        except csv.Error:
            pass  # the reader read it, or said why
        return taken

    with contextlib.closing(lines), _binary_output(path) as out:  # closed if refused
        def copy_up_to(line: int | None) -> None:
            nonlocal passed
            while cursor[0] is not None and (line is None or cursor[0][0] < line):
                number = cursor[0][0]
                while passed < len(skipped) and skipped[passed] < number:
                    passed += 1
                if passed < len(skipped) and skipped[passed] == number:
                    record_lines()  # a malformed record: not written
                    continue
                raw = cursor[0][1]
                if not add_labels or not raw.rstrip(b"\r\n") or \
                        number == 1 and layout.sep_line is not None:
                    out.write(raw)  # as it was: a blank line, Excel's sep= line
                    take()
                    continue
                row = record_lines()
                if added[0] is None:  # the header
                    name = "labels"
                    if all(_quoted_cells(b"".join(row).decode("utf-8", "surrogateescape")
                                         .lstrip("\ufeff").rstrip("\r\n"),
                                         layout.delimiter)):
                        name = '"labels"'
                    out.write(_cell_added(row, (layout.delimiter + name).encode()))
                    added[0] = layout.delimiter.encode()
                else:
                    out.write(_cell_added(row, added[0]))

        for record, changed in records:
            copy_up_to(record.line)
            written += 1
            if not changed:
                continue
            old = record_lines()
            raw = b"".join(old)
            body = raw.rstrip(b"\r\n")
            end = raw[len(body):]
            text = body.decode("utf-8", "surrogateescape")
            try:
                line = _restyled(record, text, fmt, layout.delimiter, fields, label_space)
                out.write(line.encode("utf-8", "surrogateescape") + end)
            except UnicodeEncodeError as exc:  # nothing is written: name the record
                raise unencodable(exc, record.source, record.line) from None
        copy_up_to(None)
    return written


def _cell_added(row: list[bytes], cell: bytes) -> bytes:
    """The CSV ``row`` (its lines) with ``cell`` (a delimiter and the cell) added last,
    before its line end."""
    raw = b"".join(row)
    body = raw.rstrip(b"\r\n")
    return body + cell + raw[len(body):]


def _restyled(record: Record, old: str, fmt: str, delimiter: str,
              fields: Sequence[str | None], label_space: LabelSpace | None) -> str:
    """``record`` as a line (a CSV row: its lines) of its format, in the style of
    ``old``, the line (lines) it was read from, line end aside."""
    bom = "\ufeff" if old.startswith("\ufeff") else ""  # the file's, before its line 1
    if fmt == "tsv":
        keys = [_record_key(key, record, label_space, resolve_all=False)
                for key in record.labels]
        # the text and the tabs after the labels as they were (a spreadsheet's trailing
        # tabs), the labels separated as they were (a run of spaces kept)
        text, tab, rest = old.partition("\t")
        column, *tabs = rest.split("\t", 1)
        inner = column.strip()
        lead = column[:len(column) - len(column.lstrip())]
        trail = column[len(column.rstrip()):] if inner else ""
        between = re.search(r"\s+", inner)
        joiner = between.group() if between else " "
        labels = lead + joiner.join(keys) + trail if keys else ""
        # a line left no label is its text alone (a tab ending it is invisible in a
        # diff), as write_records writes it, but for the trailing tabs it had
        return text + ("\t" + labels if keys or tabs else "") + "".join("\t" + t for t in tabs)
    if fmt == "jsonl":
        separators, ascii_only = _json_style(old.lstrip("\ufeff"))
        # the spaces and tabs around the object kept, as a copied line keeps them
        body = old.lstrip("\ufeff")
        lead = body[:len(body) - len(body.lstrip(" \t"))]
        trail = body[len(body.rstrip(" \t")):]
        return bom + lead + json_line(jsonl_object(record), separators=separators,
                                      ensure_ascii=ascii_only)[:-1] + trail
    cells = csv_row(record, fields)
    quoted = _quoted_cells(old.lstrip("\ufeff"), delimiter)
    if not any(cell.strip() for cell in cells):  # quoted: a document, no padding row
        quoted = [True] * len(cells)
    elif len(quoted) + 1 == len(cells):  # a labels column added: as its other cells
        quoted = [*quoted, all(quoted)]
    elif len(quoted) != len(cells):  # read otherwise: quoted as it was where every cell was
        quoted = [all(quoted)] * len(cells)
    # each cell quoted where it was (a spreadsheet quoting the text cell alone), else
    # where it must be: a delimiter or a line break (a lone CR too) in it, a quote at
    # its start (one inside it, '5" screen', opens none: the cell stays as it was)
    return bom + delimiter.join(
        '"' + cell.replace('"', '""') + '"'
        if was or cell.startswith('"') or any(c in cell for c in (delimiter, "\r", "\n"))
        else cell
        for cell, was in zip(cells, quoted, strict=True))


def _quoted_cells(row: str, delimiter: str) -> list[bool]:
    """Whether each cell of the CSV row ``row`` (its lines, line end aside) is quoted,
    as the CSV reader reads it: a ``"`` opens a cell only at its start (``5" screen``
    is unquoted), a ``""`` inside a quoted cell is a quote of its text.

    >>> _quoted_cells('1,"Rain, all day",rain', ","), _quoted_cells('5" screen;"";x', ";")
    ([False, True, False], [False, True, False])
    """
    flags: list[bool] = []
    at = 0
    while True:
        flags.append(row.startswith('"', at))
        if flags[-1]:  # to the quote closing it
            at += 1
            while (at := row.find('"', at)) != -1 and row.startswith('""', at):
                at += 2
            if at == -1:
                return flags
            at += 1
        at = row.find(delimiter, at)
        if at == -1:
            return flags
        at += 1


def _json_style(old: str) -> tuple[tuple[str, str], bool]:
    """The separators of the JSON line ``old`` (Python's ``", "`` and ``": "``, or
    the compact ``","`` and ``":"``) and whether it escapes every non-ASCII character,
    where writing what it holds so gives it back; else Python's, non-ASCII kept."""
    try:
        original = json.loads(old)
    except ValueError:
        return (", ", ": "), False
    for separators in ((", ", ": "), (",", ":")):
        for ascii_only in (False, True):
            if json.dumps(original, separators=separators,
                          ensure_ascii=ascii_only) == old.strip():
                return separators, ascii_only
    return (", ", ": "), False


@contextlib.contextmanager
def _binary_output(path: Path) -> Iterator[IO[bytes]]:
    """A binary stream replacing ``path`` once written, gzip-compressed for ``.gz``
    (as :func:`~tagsmith.data.textio.atomic_text_writer` writes)."""
    with atomic_binary_writer(path) as raw:
        if path.suffix.lower() != ".gz":
            yield raw
            return
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as stream:
            yield stream  # type: ignore[misc]  # GzipFile is IO[bytes]
