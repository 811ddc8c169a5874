"""One CSV field limit for every tagsmith CSV reader, the one way its readers take a
row (:func:`next_csv_row`), the one way its writers write one (:func:`csv_writer`), and
the one rule for cells a spreadsheet would run as formulas.

:func:`csv.field_size_limit` is global to the process: a reader that raised it would
silently change what every later reader accepts, so a vocabulary with a long field
would load after a corpus had been read and fail on its own; and raised for good, it
changed what the csv readers of a program that imports tagsmith accept. Readers take
each row under :func:`csv_field_limit` instead, which sets the one documented limit
(:data:`CSV_FIELD_LIMIT`) for that row alone, never lowering a larger one set by the
application, and puts the process's limit back afterwards.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tagsmith._plural import plural_s
from tagsmith.exceptions import DataError

if TYPE_CHECKING:
    from _csv import Reader, Writer

class SupportsWrite(Protocol):
    """What the csv writers write to: anything with ``write(str)`` (typeshed's
    ``_typeshed.SupportsWrite``, which exists only for type checkers)."""

    def write(self, s: str, /) -> object: ...


#: the longest CSV field tagsmith reads, in characters (256 Mi): a whole document in a
#: corpus cell, a long description in a vocabulary
CSV_FIELD_LIMIT = 1 << 28


@contextmanager
def csv_field_limit() -> Iterator[int]:
    """Within the block, :data:`CSV_FIELD_LIMIT` (or the larger limit the process has)
    is the csv module's field limit; the process's own is put back afterwards (it is
    global: a program importing tagsmith keeps the limit it had). Yields the limit.

    >>> previous = csv.field_size_limit(131_072)
    >>> with csv_field_limit() as limit:
    ...     limit == csv.field_size_limit() >= CSV_FIELD_LIMIT
    True
    >>> csv.field_size_limit() == 131_072
    True
    >>> _ = csv.field_size_limit(previous)
    """
    previous = csv.field_size_limit()
    limit = max(previous, CSV_FIELD_LIMIT)
    csv.field_size_limit(limit)
    try:
        yield limit
    finally:
        csv.field_size_limit(previous)


def blank_header_error(reader: Reader, path: str | Path, error: type[DataError], column: str,
                       unit: str = "row", first: int = 1) -> DataError:
    r"""The error for a CSV file (a corpus, a vocabulary) whose header row, line
    ``first`` (2 below Excel's ``sep=;`` line), is blank (no cell but whitespace),
    naming the blank lines and the first line that is not. ``reader`` has just read
    line ``first``; ``column`` is the one the header must name.

    It is an error whatever ``--on-error`` says: the header says which cell of every
    row is which, so it cannot be skipped as a malformed row is, and a later line taken
    as the header instead would be a guess (a header-less file's first row, say).
    Without this, the corpus reader said "no 'text' column in the header; found
    columns: none" and the vocabulary reader "no 'uri' column ...; columns found: []".

    >>> import io
    >>> reader = csv.reader(io.StringIO('\n ,\nuri,label\n'))
    >>> _ = next(reader)
    >>> error = blank_header_error(reader, "v.csv", DataError, "uri")
    >>> error.line, str(error).split(": ", 1)[1].split(", as")[0]
    (1, "lines 1-2 are blank: the header row (with a 'uri' column) must be the first line")
    >>> str(error).endswith("remove the blank lines before line 3")
    True
    >>> one = blank_header_error(csv.reader(io.StringIO("\nuri\n")), "v.csv", DataError, "uri")
    >>> str(one).endswith("remove the blank line before line 2")
    True
    >>> reader = csv.reader(io.StringIO('sep=;\n\nuri\n'))
    >>> _, _ = next(reader), next(reader)
    >>> error = blank_header_error(reader, "v.csv", DataError, "uri", first=2)
    >>> error.line, str(error).split(": ", 1)[1].split(", as")[0].split(": ")[1]
    (2, "the header row (with a 'uri' column) must be the first line after the sep= line")
    >>> str(error).split(": ")[1], str(error).endswith("blank line before line 3")
    ('line 2 is blank', True)
    """
    while True:
        start = reader.line_num + 1
        row = next_csv_row(reader, path, start, error, unit)
        # below a sep= line, the blank lines counted from the line after it
        after = "" if first == 1 else " after the sep= line"
        if row is None:
            return error(f"every line{after} is blank: no header row (expected a header row "
                         f"with a {column!r} column on line {first})", path=path, line=first)
        if any(cell.strip() for cell in row):
            n = start - first
            lines = f"line {first} is" if n == 1 else f"lines {first}-{start - 1} are"
            return error(f"{lines} blank: the header row (with a {column!r} column) must be "
                         f"the first line{after}, as --on-error skip cannot skip it (it says "
                         "which cell of each row is which); remove the blank "
                         f"line{plural_s(n)} before line {start}", path=path, line=first)


def next_csv_row(reader: Reader, path: str | Path, start: int, error: type[DataError],
                 unit: str = "row", limit: int | None = None) -> list[str] | None:
    """The next row of ``reader`` (a :func:`csv.reader`), or None at the end.

    A CSV error (an unclosed quote under ``strict=True``, a field over the limit)
    raises ``error`` (a :class:`~tagsmith.exceptions.DataError` class) naming ``path``
    and the line the reader stopped on, and, when that is past ``start`` (a quoted cell
    may span lines), the line the ``unit`` ("row", "record") starts on. ``limit``: the
    most characters a cell may hold, lower than :data:`CSV_FIELD_LIMIT` (a vocabulary's),
    checked on the row read (the process-wide limit is never lowered: another thread
    reading a corpus meanwhile was refused its long cells); by default that limit, or
    the larger one the process has set.

    >>> import io
    >>> reader = csv.reader(io.StringIO('a,b\\n"open,c\\nd\\n'), strict=True)
    >>> next_csv_row(reader, "x.csv", 1, DataError)
    ['a', 'b']
    >>> try:
    ...     next_csv_row(reader, "x.csv", 2, DataError, "record")
    ... except DataError as exc:
    ...     print(exc)
    x.csv:3: invalid CSV (unexpected end of data) in the record that starts on line 2
    """
    # csv_field_limit() inlined: its generator context manager, entered for each row,
    # made reading a CSV of short rows about 5 times slower than the parsing itself.
    # The limit is process-wide and this swap is not locked: two threads reading CSV at
    # once may read a row under the other's restored limit (a cell over 131,072
    # characters refused) or leave the raised limit in place. A lock with a count of
    # readers fixed that at 10-20% of read_csv's time and a window where Ctrl-C leaves
    # the lock held; tagsmith reads its files on one thread, so it is not taken.
    previous = csv.field_size_limit()
    wanted = max(previous, CSV_FIELD_LIMIT)
    if previous != wanted:
        csv.field_size_limit(wanted)
    try:
        row = next(reader)
        if limit is not None and any(len(cell) > limit for cell in row):
            where = (f" in the {unit} that starts on line {start}"
                     if reader.line_num > start else "")
            raise error(f"invalid CSV (a cell longer than {limit:,} characters, the most a "
                        f"cell may hold){where}", path=path, line=reader.line_num)
        return row
    except StopIteration:
        return None
    except csv.Error as exc:
        where = f" in the {unit} that starts on line {start}" if reader.line_num > start else ""
        reason = str(exc)
        if reason.startswith("field larger than field limit"):
            # the csv module's words name neither the unit nor where the limit comes from
            reason = f"a cell longer than {wanted:,} characters, the most a cell may hold"
        if reason.startswith("new-line character seen in unquoted field"):
            # the csv module's advice ("open the file in universal-newline mode") is for
            # the programmer; the file's author has a line break in a cell to quote
            reason = ("a carriage return (CR) inside a cell that is not quoted; put the "
                      "cell in double quotes or remove the CR")
        raise error(f"invalid CSV ({reason}){where}", path=path, line=reader.line_num) from exc
    finally:
        if previous != wanted:
            csv.field_size_limit(previous)


#: Excel's first line naming the delimiter of the lines below it (``sep=;``)
_SEP_LINE = re.compile(r"sep=([^\r\n])\r?\n?\Z", re.IGNORECASE)


def csv_delimiter(first_line: str | None, column: str) -> tuple[str, bool]:
    r"""The delimiter of a CSV file whose header must name ``column``, told from its
    first line, and whether that line is Excel's ``sep=;`` line (a line before the
    header naming the delimiter, which the reader then skips).

    A comma, as tagsmith writes; or the ``;`` (or tab) a spreadsheet saves "CSV" with
    where the decimal mark is a comma (German, French, Dutch... locales), or a tab
    export, when the header names ``column`` under that delimiter and not under a
    comma: such a header cannot be a comma's, whose one column would be named
    ``text;labels``. The file was refused, its header read as that one column.

    >>> csv_delimiter("id;text;labels\r\n", "text"), csv_delimiter("text,labels", "text")
    ((';', False), (',', False))
    >>> csv_delimiter("sep=;\r\n", "text"), csv_delimiter("a;b", "text")
    ((';', True), (',', False))
    """
    if first_line is None:
        return ",", False
    sep = _SEP_LINE.match(first_line)
    if sep is not None:
        return sep.group(1), True
    return header_delimiter(first_line, frozenset({column})), False


def header_delimiter(header: str | None, columns: frozenset[str],
                     key: Callable[[str], str] | None = None) -> str:
    """Of ``,``, ``;`` and tab, the delimiter under which the header line ``header``
    names the most of ``columns`` (lower-case names; a header's name as ``key`` gives
    it, by default stripped and lower-case), a comma on a tie or where none
    names any: the corpus and vocabulary readers (one column each, through
    :func:`csv_delimiter`) and the review reader (its required columns) alike.

    >>> header_delimiter("rank;accept;kind", frozenset({"rank", "kind"}))
    ';'
    >>> header_delimiter("a;b", frozenset({"text"})), header_delimiter(None, frozenset())
    (',', ',')
    """
    if header is None:
        return ","

    def named(delimiter: str) -> int:
        return len(header_names(header, delimiter, key) & columns)

    return max((",", ";", "\t"), key=named)  # max keeps the first of equals: a comma


def header_names(header: str, delimiter: str, key: Callable[[str], str] | None = None
                 ) -> set[str]:
    """The names of the header line ``header`` read with ``delimiter``, each as ``key``
    gives it (by default stripped and lower-case): :func:`header_delimiter`'s, and the
    corpus reader's own look at a header.

    >>> sorted(header_names(" Text ;ID", ";")), sorted(header_names("a,B", ",", str))
    (['id', 'text'], ['B', 'a'])
    """
    # under the reader's own limit: a header cell over the csv module's default 131,072
    # characters failed the whole file as "cannot read: field larger than field limit
    # (131072)", naming no line and a limit tagsmith does not have; one over even
    # tagsmith's limit names nothing here, and the reader's own read of it says so
    with csv_field_limit():
        try:
            names = next(csv.reader([header.rstrip("\r\n")], delimiter=delimiter), [])
        except csv.Error:
            return set()
    return {name.strip().lower() if key is None else key(name) for name in names}


class _LineFeedRows:
    """A text stream for a :func:`csv.writer` with ``lineterminator="\\r\\n"`` that
    ends each row with ``end`` (``\\n``; an old Mac's ``\\r``) instead (the writer
    writes one whole row per call)."""

    def __init__(self, out: SupportsWrite, end: str = "\n") -> None:
        self._out = out
        self._end = end

    def write(self, row: str) -> object:  # what out.write returns
        return self._out.write(row[:-2] + self._end if row.endswith("\r\n") else row)


def csv_writer(out: SupportsWrite, *, lineterminator: str = "\n", **kw: Any) -> Writer:
    """A :func:`csv.writer` on ``out`` whose rows end in ``\\n`` (or ``\\r\\n`` or ``\\r``
    given as ``lineterminator``: a Windows or old Mac corpus rewritten) and whose cells
    holding a carriage return or a line feed are quoted.

    ``csv.writer(out, lineterminator="\\n")`` quotes only the characters of its line
    terminator, so a cell with a lone ``\\r`` ("a\\rb", a Windows or old Mac line break
    in a text) would be written bare, and every CSV reader (tagsmith's included) reads it
    as a row break or refuses the file. ``kw`` goes to :func:`csv.writer`.

    >>> import io
    >>> out = io.StringIO()
    >>> _ = csv_writer(out).writerow(["a\\rb", "c\\nd", "e"])
    >>> out.getvalue()
    '"a\\rb","c\\nd",e\\n'
    """
    if lineterminator == "\r\n":
        return csv.writer(out, lineterminator="\r\n", **kw)
    return csv.writer(_LineFeedRows(out, "\r" if lineterminator == "\r" else "\n"),
                      lineterminator="\r\n", **kw)


def csv_dict_writer(out: SupportsWrite, fieldnames: Sequence[str], **kw: Any
                    ) -> csv.DictWriter:
    """A :class:`csv.DictWriter` that writes as :func:`csv_writer` does."""
    return csv.DictWriter(_LineFeedRows(out), fieldnames, lineterminator="\r\n", **kw)


#: a spreadsheet reads a cell that starts with one of these as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


#: the most characters a spreadsheet cell holds (Excel's limit, counted in UTF-16 code
#: units: a character past U+FFFF is two); a longer cell is cut short or breaks its row
SPREADSHEET_CELL_LIMIT = 32_767


def spreadsheet_text(value: str, whole: str = "the JSONL output keeps the whole text",
                     limit: int = SPREADSHEET_CELL_LIMIT) -> str:
    """``value`` to be a text cell of a CSV for a spreadsheet: whole where it fits a
    cell (``limit`` UTF-16 code units, the leading ``'`` :func:`spreadsheet_safe` may
    add included), else its start, cut short of the limit, and a marker saying how many
    characters were cut and where the whole is (``whole``). A document's text of
    130,028 characters in one cell was cut (or broke the row) where Excel opened it.

    >>> spreadsheet_text("short")
    'short'
    >>> cell = spreadsheet_text("flood " * 20_000, "see x")
    >>> len(cell) < SPREADSHEET_CELL_LIMIT, cell[cell.index(" [..."):]
    (True, ' [... 87,308 more characters cut: a spreadsheet cell holds 32,767; see x]')
    >>> len(spreadsheet_text("\U0001f30a" * 20_000).encode("utf-16-le")) // 2 < 32_767
    True
    """
    if len(value) <= limit // 2:
        return value
    encoded = value.encode("utf-16-le")  # once: a document's text may be long
    units = len(encoded) // 2
    if units < limit:
        return value
    marker = (f" [... {{:,}} more characters cut: a spreadsheet cell holds {limit:,}; "
              f"{whole}]")
    # room for the marker, the count in it at its widest, and a leading "'"
    room = max(0, limit - len(marker.format(units)) - 1)
    # a character past U+FFFF takes two units: a half of one left over is dropped
    kept = encoded[:room * 2].decode("utf-16-le", "ignore").rstrip()
    return kept + marker.format(len(value) - len(kept))


def spreadsheet_safe(value: str) -> str:
    """A free-text cell a spreadsheet shows as text, never runs as a formula (OWASP's
    CSV injection advice: prefix such cells with ``'``).

    >>> print(spreadsheet_safe('=HYPERLINK("http://evil")'), spreadsheet_safe("fine"))
    '=HYPERLINK("http://evil") fine
    """
    return "'" + value if value.startswith(FORMULA_START) else value
