"""Streaming readers for corpus files: TSV (Annif), CSV, JSONL and document directories.

Every reader yields :class:`Record` objects one at a time and never loads a whole
file; ``.gz`` files are decompressed on the fly. Files are read as UTF-8 (a leading
byte-order mark is ignored). Lines end in LF or CR LF, or, when the file's first chunk
holds CRs but no LF (old Mac files), in CR (in a CSV, the header's line end decides, as
its quoted cells may hold LFs; see :func:`split_lines`); line numbers count those line
ends. Labels are kept as written: ``<uri>`` keys keep their
angle brackets so :meth:`LabelSpace.lookup` treats them as URIs, bare keys are
resolved as a URI, then a preferred name, then a notation.

Formats:

* **TSV** (Annif): ``text<TAB>labels``; labels are whitespace-separated tokens,
  ``<uri>`` or bare. A line without a TAB is a document without labels. Blank lines
  are skipped (line numbers stay true file line numbers). Lines without a TAB whose
  text ends in ``<scheme:...>`` tokens (labels typed after a space instead of a TAB)
  are still read as unlabelled, but counted: once the file has been read, one warning
  on the ``tagsmith`` logger gives their number and the first ``file:line`` (not
  repeated when the same unchanged file is read again).
* **CSV**: a header row with a ``text`` column (required), ``labels`` and ``id``
  (optional); other columns go to the record's metadata. A header naming a column twice
  is an error; of unnamed columns the first is metadata ``""`` and a value under a later
  one makes its row malformed. Labels are separated by
  ``|`` when the cell contains one (so names with spaces work), else by ``;``, else by
  ``,`` (neither inside a ``<uri>``), else by whitespace. The separator of the columns
  is ``,``, ``;`` or a tab, the one the header names ``text`` under; a spreadsheet's
  ``sep=X`` first line is read and skipped.
  A record's ``line`` is the line where it starts (quoted fields may span lines).
* **JSONL**: one object per line with ``text`` (string, required), ``labels`` (list
  of strings or integers, optional) and ``id`` (string or integer, optional); other
  keys go to the metadata. An object naming a key twice (at any depth) is malformed:
  JSON parsers keep one of the values and drop the other silently.
* **Directory** (Annif document directory): ``*.txt`` files in name order, labels
  from a sidecar ``<stem>.tsv`` or ``<stem>.key`` (first tab-separated column of each
  line); no sidecar means no labels. ``doc_id`` is the file stem, ``line`` the
  1-based position of the document in the directory.

Texts are stripped of surrounding whitespace. An empty text is a malformed line in
TSV (the text column is missing); in JSONL, CSV and directories, where the text field
is explicitly present, it is accepted as an empty document (real corpora such as
Reuters-21578 contain some).

Malformed lines are handled by ``on_error``: ``"fail"`` raises
:class:`~tagsmith.exceptions.CorpusFormatError` naming the file and line, ``"skip"``
drops the line silently, a callable receives the error and reading goes on.
Problems that make the rest of a file unreadable (a damaged gzip stream, one cut short,
its error saying how many lines were read before the cut, a UTF-16 or
UTF-32 file, invalid UTF-8 or a broken quote in CSV, a missing ``text`` column) always
raise.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import errno
import gzip
import io
import itertools
import json
import logging
import math
import os
import re
import stat
import unicodedata
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, NamedTuple

from tagsmith._params import check_choice
from tagsmith._plural import plural, plural_s
from tagsmith._shell import shell_path
from tagsmith._surface import said
from tagsmith.data.csvlimits import (
    CSV_FIELD_LIMIT,
    blank_header_error,
    csv_delimiter,
    header_delimiter,
    header_names,
    next_csv_row,
)
from tagsmith.data.labelspace import list_to_tsv_awk
from tagsmith.data.textio import LONE_SURROGATE, check_may_look_into, reachable_kind
from tagsmith.exceptions import (
    CorpusFormatError,
    DataError,
    InvalidParameterError,
    UnsupportedFormatError,
    VocabularyAsCorpusError,
)

logger = logging.getLogger("tagsmith")

FORMATS = ("tsv", "csv", "jsonl", "dir")
_SUFFIXES = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_EMPTY: Mapping[str, object] = MappingProxyType({})

ErrorPolicy = str | Callable[[CorpusFormatError], None]

#: a text that is one bracketed URI and nothing else (a vocabulary line's first column)
_LONE_URI = re.compile(r"\s*<[^<>\s]+>\s*")


@dataclass(frozen=True, slots=True)
class Record:
    """One document as read from a corpus file, labels not yet resolved.

    >>> Record("Rain", ("<http://x/1>", "weather"), None, 3, "a.tsv").labels
    ('<http://x/1>', 'weather')
    """

    text: str
    labels: tuple[str, ...]
    doc_id: str | None
    line: int
    source: str
    metadata: Mapping[str, object] = field(default_factory=lambda: _EMPTY)
    #: a JSONL ``id`` given as an integer, so a rewritten corpus keeps it one
    int_id: int | None = field(default=None, compare=False)
    #: what a CSV ``labels`` cell put between its labels (``"|"``, ``"; "``, ``" "``;
    #: ``"|"`` of one label ending in ``|``), so a rewritten CSV keeps it
    #: (:func:`~tagsmith.data.writers.label_cell`); None where the cell tells none, or
    #: where it was read without ``layout`` (:func:`read_records`)
    label_joiner: str | None = field(default=None, compare=False)
    #: a JSONL object's keys in their order, where it is not the one a written record's
    #: (``id``, ``text``, ``labels``, the rest) or it had no ``labels``, so a rewritten
    #: corpus keeps it; None where it is that order, or where it was read without
    #: ``layout`` (:func:`read_records`)
    key_order: tuple[str, ...] | None = field(default=None, compare=False)

    # a reader builds one per document: the __init__ dataclass writes for a frozen class
    # looks object.__setattr__ up for each field, and the two layout fields above cost
    # reading a CSV or JSONL corpus 4% more CPU; this one looks it up once (the fields
    # and their defaults as above: test_corpus checks that it sets each)
    def __init__(self, text: str, labels: tuple[str, ...], doc_id: str | None, line: int,
                 source: str, metadata: Mapping[str, object] = _EMPTY,
                 int_id: int | None = None, label_joiner: str | None = None,
                 key_order: tuple[str, ...] | None = None) -> None:
        _set = object.__setattr__  # once a record, not once a field
        _set(self, "text", text)
        _set(self, "labels", labels)
        _set(self, "doc_id", doc_id)
        _set(self, "line", line)
        _set(self, "source", source)
        _set(self, "metadata", metadata)
        _set(self, "int_id", int_id)
        _set(self, "label_joiner", label_joiner)
        _set(self, "key_order", key_order)


class _Malformed(Exception):
    """A line cannot be read; ``args[0]`` is the reason, ``parameters`` the library
    parameters it names (:class:`~tagsmith.exceptions.DataError`'s)."""

    parameters: tuple[str, ...] = ()


class _Gone(_Malformed):
    """A folder's file deleted after the folder was listed; ``args[0]`` says which."""


class FileGoneError(CorpusFormatError):
    """A folder corpus's document or label file deleted after the folder was listed
    (another process tidying up): skipped under ``on_error="skip"`` as a malformed line
    is, but counted apart from them (:class:`~tagsmith.data.corpus.ReadReport`)."""


def detect_format(path: str | Path) -> str:
    """The corpus format of ``path``: ``"tsv"``, ``"csv"``, ``"jsonl"`` or ``"dir"``.

    Decided from the suffix (optionally followed by ``.gz``); an existing directory
    is ``"dir"``.

    >>> detect_format("a.tsv.gz"), detect_format("b.CSV"), detect_format("c.ndjson")
    ('tsv', 'csv', 'jsonl')
    """
    path = Path(path)
    # not is_dir(): a path that cannot be looked at raised a PermissionError (3.11)
    if reachable_kind(path) == "a folder":
        return "dir"
    fmt = suffix_format(path)
    if fmt is not None:
        return fmt
    if not path.exists():
        raise CorpusFormatError("file not found", path=path)
    accepted = ", ".join(sorted(_SUFFIXES)) + " (each optionally .gz) or a directory"
    raise UnsupportedFormatError(f"cannot tell the corpus format; expected {accepted}"
                                 f"{_peer_format_hint(path)}", path=path)


def suffix_format(path: str | Path) -> str | None:
    """The corpus format ``path``'s suffix names (optionally followed by ``.gz``), as
    :func:`detect_format` tells a file by it: ``"tsv"``, ``"csv"`` or ``"jsonl"``; None
    for another suffix, with the file left unread (detect_format's refusal reads its
    head, to say which peer tool's format it is in).

    >>> suffix_format("a.CSV.gz"), suffix_format("docs.txt"), suffix_format("notes")
    ('csv', None, None)
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return _SUFFIXES.get(suffixes[-1]) if suffixes else None


def _peer_format_hint(path: Path) -> str:
    """A peer tool's format that a file of no corpus suffix is in (an svmlight or XMC
    feature file, LibMultiLabel's TAB-separated text), said with what to do; ``""``."""
    if _is_matrix_file(path):
        return ("; this is a NumPy/SciPy matrix file (as PECOS's X.npz and Y.npz), not "
                f"text: {FEATURE_FILE_ADVICE}")
    if Path(path).suffix.lower() in _WORKBOOK_SUFFIXES or _starts_with(path, _WORKBOOK_MAGIC):
        return f"; this is {binary_advice(path)}"
    lines = first_lines(path)
    kind = feature_file(lines)
    if kind is not None:
        return f"; this looks like {kind}: {FEATURE_FILE_ADVICE}"
    if lines and 1 <= lines[0].count("\t") <= 2:
        return "; " + _command_of(LIBMULTILABEL_ADVICE, LIBMULTILABEL_EXAMPLE, path)
    return ""


#: the suffixes of spreadsheet workbooks
_WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")


def _starts_with(path: Path, magic: tuple[bytes, ...]) -> bool:
    """Whether the regular file ``path`` starts with one of ``magic``."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as handle:
            return handle.read(8).startswith(magic)
    except OSError:
        return False


#: LibMultiLabel's text format, and the commands converting it to a tagsmith TSV (its
#: ``LIBMULTILABEL_EXAMPLE`` the file's own names in a message, :func:`_command_of`)
LIBMULTILABEL_EXAMPLE = "train.txt > train.tsv"
LIBMULTILABEL_CONVERT = ("tagsmith's TSV puts the text first: awk -F'\\t' -v OFS='\\t' "
                         "'{print $NF, $(NF-1)}' train.txt > train.tsv")
LIBMULTILABEL_ADVICE = ("if this is LibMultiLabel's text format (LABELS<TAB>TEXT, or "
                        f"ID<TAB>LABELS<TAB>TEXT), {LIBMULTILABEL_CONVERT}")
#: Annif's vocabulary with notations (``<uri><TAB>label<TAB>notation``) read as a corpus
_VOCABULARY_SEEN = ("this looks like a vocabulary (Annif's <URI><TAB>LABEL<TAB>NOTATION), "
                    "not a corpus: ")
_CORPUS_LINE = " (a corpus line is TEXT, a tab, then its labels)"
VOCABULARY_ADVICE = _VOCABULARY_SEEN + "pass it as --vocab" + _CORPUS_LINE
#: :data:`VOCABULARY_ADVICE` to a Python caller (its own constant, not a replace of the
#: command's: a reworded command's text fell back to it silently)
VOCABULARY_ADVICE_PYTHON = _VOCABULARY_SEEN + "load it with load_vocabulary" + _CORPUS_LINE
#: GoEmotions' raw TSV as published (``TEXT<TAB>4,27<TAB>eebbqej``), and the commands
#: converting it (its ids a vocabulary's notations: the ids read as the emotions' names;
#: emotions.txt numbered as the list reader numbers it, :data:`LIST_TO_TSV_AWK`, where
#: ``NR-1`` counted a comment or blank line and kept a CRLF copy's CRs)
_GOEMOTIONS_CONVERT = (
    "this looks like GoEmotions' raw TSV: TEXT<TAB>LABEL IDS<TAB>COMMENT ID, numeric label "
    "ids in column 2 (comma-separated; the lines of its emotions.txt, from 0) and a "
    "comment id in column 3, where tagsmith's TSV is TEXT<TAB>LABELS: convert it with "
    "awk -F'\\t' -v OFS='\\t' '{gsub(/,/, \" \", $2); print $1, $2}' train.tsv > "
    "train-tagsmith.tsv, and ")
_GOEMOTIONS_VOCABULARY = ("vocab.tsv naming the ids (notation column 3): "
                          f"awk '{list_to_tsv_awk('urn:goemotions:')}' emotions.txt > vocab.tsv")
GOEMOTIONS_ADVICE = _GOEMOTIONS_CONVERT + "give --vocab " + _GOEMOTIONS_VOCABULARY
#: :data:`GOEMOTIONS_ADVICE` to a Python caller: the parameter, not a function (it is
#: raised by :func:`read_tsv`, which other readers than read_labelled call)
GOEMOTIONS_ADVICE_PYTHON = (_GOEMOTIONS_CONVERT + "give label_space=load_vocabulary("
                            "'vocab.tsv'), " + _GOEMOTIONS_VOCABULARY)
#: column 2 of GoEmotions' raw TSV: numeric label ids, comma-separated (``4,27``), each
#: one of its 28 emotions' (0-27: ``2020`` is no such id, a year)
_NUMERIC_IDS = re.compile(r"(?:[0-9]|1[0-9]|2[0-7])(?:,(?:[0-9]|1[0-9]|2[0-7]))*")
#: column 3 of GoEmotions' raw TSV: a Reddit comment id (base 36, lowercase: ``eebbqej``)
_REDDIT_ID = re.compile(r"[0-9a-z]{6,8}")


def read_records(path: str | Path, format: str | None = None, *,
                 on_error: ErrorPolicy = "fail", layout: bool = False,
                 text_columns: str | Sequence[str] | None = None) -> Iterator[Record]:
    """Stream the records of a corpus in any supported format (detected when ``None``).

    ``layout`` works out how each record was written, for a corpus rewritten as it
    was (apply-review): a CSV labels cell's joiner (:attr:`Record.label_joiner`), a
    JSONL object's key order (:attr:`Record.key_order`); without it both are None,
    which reads a CSV or JSONL corpus with 6 to 8% less CPU. ``text_columns``: the CSV
    columns or JSONL keys holding the text, in order (:func:`text_column_names`;
    default: ``text``, or those :func:`reading_text_columns` names); a TSV corpus or a
    folder refuses them."""
    fmt = detect_format(path) if format is None else _check_format(format)
    columns = _text_columns_given(text_columns)
    if columns is not None and fmt in ("tsv", "dir") and (_text_alone(columns) or (
            text_columns is None and _ambient_columns_default.get())):
        columns = None  # a bundle's columns: the default of a CSV or JSONL corpus alone
    if columns is not None and fmt in ("tsv", "dir"):
        what = "a TSV line's text is its first field" if fmt == "tsv" else \
            "a folder's texts are its .txt files"
        raise CorpusFormatError(f"text_columns {pasted_text_columns(columns)} names columns "
                                f"of a CSV or JSONL corpus; {what}: leave text_columns out",
                                path=path, parameters=("text_columns",))
    if text_columns is None and fmt in ("csv", "jsonl"):
        _say_ambient_columns()
    # None would read the columns reading_text_columns names: ("text",) reads 'text'
    named = columns or ("text",)
    if fmt == "csv":
        return read_csv(path, on_error=on_error, layout=layout, text_columns=named)
    if fmt == "jsonl":
        return read_jsonl(path, on_error=on_error, layout=layout, text_columns=named)
    return _READERS[fmt](path, on_error=on_error)


def read_tsv(path: str | Path, *, on_error: ErrorPolicy = "fail") -> Iterator[Record]:
    """Stream an Annif TSV corpus (``text<TAB><uri> <uri> ...``).

    >>> import os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "c.tsv")
    >>> _ = open(name, "w").write("Rain today\\t<http://x/1> snow\\n\\nno labels\\n")
    >>> [(r.line, r.text, r.labels) for r in read_tsv(name)]
    [(1, 'Rain today', ('<http://x/1>', 'snow')), (3, 'no labels', ())]
    """
    path = _check_file(path)
    return _tsv_records(path, _error_handler(on_error))


def read_jsonl(path: str | Path, *, on_error: ErrorPolicy = "fail",
               layout: bool = False,
               text_columns: str | Sequence[str] | None = None) -> Iterator[Record]:
    """Stream a JSONL corpus (``{"id": ..., "text": ..., "labels": [...]}`` per line);
    ``layout`` and ``text_columns`` (keys) as :func:`read_records`'s
    (:attr:`Record.key_order`)."""
    path = _check_file(path)
    if text_columns is None:
        _say_ambient_columns()
    return _jsonl_records(path, _error_handler(on_error), layout,
                          _text_columns_given(text_columns))


def read_csv(path: str | Path, *, on_error: ErrorPolicy = "fail",
             layout: bool = False,
             text_columns: str | Sequence[str] | None = None) -> Iterator[Record]:
    """Stream a CSV corpus with a header row (``text`` required, ``labels``, ``id``);
    ``layout`` and ``text_columns`` as :func:`read_records`'s
    (:attr:`Record.label_joiner`)."""
    path = _check_file(path)
    if text_columns is None:
        _say_ambient_columns()
    return _csv_records(path, _error_handler(on_error), layout,
                        _text_columns_given(text_columns))


# -- the columns holding the text (--text-column) -------------------------------------------
#: what a document's text columns are joined with, in their order (an empty one left out)
TEXT_COLUMNS_JOINER = "\n\n"
#: the text columns :func:`reading_text_columns` names, for the readers called without any:
#: a context variable, each thread (and asyncio task) its own, where a module global had
#: two threads reading with different columns each read the other's
_ambient_text_columns: contextvars.ContextVar[tuple[str, ...] | None] = \
    contextvars.ContextVar("tagsmith_text_columns", default=None)
#: whether those columns are a default (a bundle's, :func:`reading_text_columns`'s
#: ``default``), which a TSV corpus, a folder or a plain text file reads without
_ambient_columns_default: contextvars.ContextVar[bool] = \
    contextvars.ContextVar("tagsmith_text_columns_default", default=False)


#: what to say once a CSV or JSONL corpus is read with the columns of a
#: :func:`reading_text_columns` block (:func:`_saying_columns_read`), shared by the
#: block's readers: emptied when said
_ambient_columns_said: contextvars.ContextVar[list[Callable[[], None]] | None] = \
    contextvars.ContextVar("tagsmith_text_columns_said", default=None)


def _say_ambient_columns() -> None:
    """Say, the first time in a :func:`reading_text_columns` block, that a CSV or JSONL
    corpus is read with its columns (:func:`_saying_columns_read`): a bundle's INFO line was logged
    where only a TSV corpus, a folder or stdin was read, which its columns leave alone."""
    pending = _ambient_columns_said.get()
    if pending:
        pending.pop()()


class _ColumnNames(tuple):
    """Text columns already read from a comma list (:func:`text_column_names`): read
    again as they are, not split anew ('Subject, short' would split at its comma)."""


def text_column_names(columns: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """The text columns ``columns`` names: a string is a comma-separated list of names as
    typed (a name holding a comma quoted as a CSV cell is, ``"Subject, short",body``, a
    ``"`` in it doubled), a sequence holds the names, each one column whatever it holds
    (a comma too: ``["Subject, short", "body"]``); None for none. An empty name or a
    quote left open is an :class:`InvalidParameterError`.

    >>> text_column_names("subject, body"), text_column_names(["subject", " body", "subject"])
    (('subject', 'body'), ('subject', 'body'))
    >>> text_column_names('"Subject, short", body'), text_column_names(["a,b", '"c"'])
    (('Subject, short', 'body'), ('a,b', '"c"'))
    >>> text_column_names("text"), text_column_names(()) is None
    (('text',), True)
    """
    if columns is None or isinstance(columns, _ColumnNames):
        return columns
    given = _column_cells(columns) if isinstance(columns, str) else list(columns)
    names: list[str] = []
    for name in given:
        if not isinstance(name, str):
            raise InvalidParameterError("text_columns", "column names (strings)", name)
        if not name.strip():
            raise InvalidParameterError("text_columns", "non-empty column names", columns)
        if name.strip() not in names:
            names.append(name.strip())
    return _ColumnNames(names) or None


def typed_text_columns(values: Sequence[str]) -> tuple[str, ...] | None:
    """The text columns named by ``values`` as typed, each a comma list
    (:func:`text_column_names` of a string): the values of --text-column given once or
    more (``--text-column subject --text-column '"Body, long",notes'``)."""
    return text_column_names([name for value in values
                              for name in text_column_names(value) or ()])


def _column_cells(item: str) -> list[str]:
    """The names of one ``text_columns`` value, read as a CSV row: a name holding a comma
    quoted (``"a,b"``, a ``"`` in it doubled), spaces around a name left out, quoted or
    not (``"a,b" , c``), as every name is stripped; a quote left open, or text after a
    closing quote other than spaces and a comma, is an :class:`InvalidParameterError`
    saying which.

    >>> _column_cells('"a,b" , c'), _column_cells(' "a""b" '), _column_cells('x,')
    (['a,b', 'c'], ['a"b'], ['x', ''])
    """
    cells: list[str] = []
    at = 0
    while True:
        while at < len(item) and item[at].isspace():
            at += 1
        if not item.startswith('"', at):  # a name as it is, up to a comma (a " in it kept)
            end = item.find(",", at)
            cells.append(item[at:] if end < 0 else item[at:end])
            if end < 0:
                return cells
            at = end + 1
            continue
        start, close = at, at + 1
        while (close := item.find('"', close)) >= 0 and item.startswith('""', close):
            close += 2
        if close < 0:
            raise InvalidParameterError(
                "text_columns", 'column names, a name holding a comma quoted ("a,b"), '
                f"its quotes closed: the quote opening {item[at:at + 20]!r} is left open",
                item)
        cells.append(item[at + 1:close].replace('""', '"'))
        at = close + 1
        while at < len(item) and item[at].isspace():
            at += 1
        if at == len(item):
            return cells
        if item[at] != ",":
            raise InvalidParameterError(
                "text_columns", 'column names, a name holding a comma quoted ("a,b"), '
                f"a comma after its closing quote: {item[at]!r} follows the quoted "
                f"{item[start:close + 1]!r}", item)
        at += 1


def shown_text_columns(columns: Sequence[str]) -> str:
    """``columns`` as ``text_columns`` (``--text-column``) takes them: a comma list, a
    name holding a comma or a quote quoted as a CSV cell is.

    >>> shown_text_columns(["subject", "body"]), shown_text_columns(["Subject, short", "x"])
    ('subject,body', '"Subject, short",x')
    """
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(columns)
    return out.getvalue()


def pasted_text_columns(columns: Sequence[str]) -> str:
    """:func:`shown_text_columns` quoted for a shell, as a message shows the value of
    ``--text-column`` to be pasted: ``"Subject, short",body`` pasted bare lost its
    quotes to the shell and split into three names.

    >>> pasted_text_columns(["subject", "body"]), pasted_text_columns(["Subject, short", "x"])
    ('subject,body', '\\'"Subject, short",x\\'')
    >>> pasted_text_columns(["\u00e4mne", "Meddelande"])  # quoted only where a shell needs it
    'ämne,Meddelande'
    """
    from tagsmith._shell import shell_word  # messages alone

    return shell_word(shown_text_columns(columns))


def _text_columns_given(columns: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """The text columns a reader reads: ``columns`` (:func:`text_column_names`), or where
    None those :func:`reading_text_columns` names; None for ``text`` (the default).
    ``Text`` is no default: a CSV header matches it in any case (its ``text`` column
    however written, as the default reads it), a JSONL object as written (its key
    ``Text``, which the default, ``text``, left unread: "missing 'text'")."""
    names = _ambient_text_columns.get() if columns is None else text_column_names(columns)
    if names is None or tuple(names) == ("text",):
        return None
    return names


def _text_alone(names: Sequence[str]) -> bool:
    """Whether ``names`` is ``text`` in any case: no columns to a TSV corpus, a folder
    or a plain text file, whose text is no column (not refused)."""
    return [name.lower() for name in names] == ["text"]


def current_text_columns() -> tuple[str, ...] | None:
    """The text columns :func:`reading_text_columns` names now (None: ``text``)."""
    return _text_columns_given(None)


def refuse_text_columns(path: str | Path, what: str) -> None:
    """Refuse, naming ``path``, text columns named by :func:`reading_text_columns` for
    an input read whole as text, not as a CSV or JSONL corpus (``what`` says how: "a
    plain text file, a document a line")."""
    columns = _text_columns_given(None)
    if columns is not None and not _text_alone(columns) and not _ambient_columns_default.get():
        raise CorpusFormatError(f"text_columns names columns of a CSV or JSONL corpus, and "
                                f"this is {what}: leave text_columns out, or give the "
                                "documents as a .csv or .jsonl corpus", path=path,
                                parameters=("text_columns",))


@contextlib.contextmanager
def reading_text_columns(columns: str | Sequence[str] | None, *,
                         default: bool = False) -> Iterator[None]:
    """Within it, every corpus read without ``text_columns`` reads its text from
    ``columns`` (:func:`text_column_names`): the command line's ``--text-column``, given
    once to a command and so to every reader it calls. It holds in the thread (or
    asyncio task) that enters it, while the block runs: another thread reads with its
    own columns, and a thread started within the block does not see these (run it in
    ``contextvars.copy_context()`` for that). ``default``: the columns are a default
    (those a bundle was trained on), read where a corpus is CSV or JSONL; a TSV corpus,
    a folder or a plain text file is read as without them, not refused."""
    token = _ambient_text_columns.set(text_column_names(columns))
    default_token = _ambient_columns_default.set(default)
    said_token = _ambient_columns_said.set(None)  # not the say of a block around it
    try:
        yield
    finally:
        _ambient_columns_said.reset(said_token)
        _ambient_columns_default.reset(default_token)
        _ambient_text_columns.reset(token)


@contextlib.contextmanager
def _saying_columns_read(said: Callable[[], None]) -> Iterator[None]:
    """Within a :func:`reading_text_columns` block, ``said`` called once, when the block
    first reads a CSV or JSONL corpus with its columns (the command line's INFO line
    naming a bundle's), never where it reads none: a TSV corpus, a folder or stdin."""
    token = _ambient_columns_said.set([said])
    try:
        yield
    finally:
        _ambient_columns_said.reset(token)


def _joined_text(values: Iterable[str]) -> str:
    r"""The text of a document's text columns' ``values``, in order, each stripped and an
    empty one left out (:data:`TEXT_COLUMNS_JOINER` between them).

    >>> _joined_text([" Refund ", "", "Card charged twice "])
    'Refund\n\nCard charged twice'
    """
    return TEXT_COLUMNS_JOINER.join(value for value in map(str.strip, values) if value)


def _missing_text_columns(missing: Sequence[str], found: Sequence[str], columns: Sequence[str],
                          path: Path, what: str, line: int | None = 1) -> CorpusFormatError:
    """The error of a corpus lacking text columns named (``what``: "column", "key")."""
    shown = ", ".join(repr(name) for name in found) or "none"
    return CorpusFormatError(
        f"no {what} {', '.join(repr(name) for name in missing)} in the "
        f"{'header' if what == 'column' else 'object'}, which text_columns "
        f"{pasted_text_columns(columns)} names; found {what}s: {shown}", path=path, line=line,
        parameters=("text_columns",))


def read_directory(path: str | Path, *, on_error: ErrorPolicy = "fail") -> Iterator[Record]:
    """Stream an Annif document directory (``*.txt`` plus ``.tsv``/``.key`` sidecars)."""
    path = Path(path)
    kind = reachable_kind(path)
    if kind == "missing":
        raise CorpusFormatError("file not found", path=path)
    if kind != "a folder":
        raise CorpusFormatError("expected a directory of .txt files", path=path)
    from tagsmith.store.bundle import is_bundle  # numpy and scipy: only for a folder

    if is_bundle(path):  # read as a document folder, it held "no documents"
        raise CorpusFormatError("this is a tagsmith model bundle, not a corpus (a TSV, CSV "
                                "or JSONL file, or a directory of .txt documents)", path=path)
    return _directory_records(path, _error_handler(on_error))


# -- peer tools' formats ------------------------------------------------------------------------
#: a value of an svmlight ``feature:value`` pair
#: an integer as a program writes one, no 0 before a digit (a time's ``09:05`` is none)
_INTEGER = r"(?:0|[1-9]\d*)"
_NUMBER = rf"[-+]?(?:{_INTEGER}(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
#: a line of an svmlight / Extreme Classification feature file: comma-separated integer
#: labels (none on an unlabelled line), then ``feature:value`` pairs (two at least
#: without labels: a lone ``12:30`` is a text)
_FEATURE_LINE = re.compile(rf"\s*(?:{_INTEGER}(?:,{_INTEGER})*(?:\s+{_INTEGER}:{_NUMBER})+"
                           rf"|{_INTEGER}:{_NUMBER}(?:\s+{_INTEGER}:{_NUMBER})+)\s*")
#: the bytes of a file's head that :func:`first_lines` reads, its first line's 10,000
#: characters and more: a file is never read whole to tell its format
_HEAD_BYTES = 1 << 20
#: an Extreme Classification file's header: its numbers of documents, features, labels
_XMC_HEADER = re.compile(r"\s*\d+\s+\d+\s+\d+\s*")
#: what to do with a peer tool's feature file
FEATURE_FILE_ADVICE = ("tagsmith learns from texts, not from feature vectors: give it "
                       "the documents' own texts (a TSV line is TEXT, a TAB, then its "
                       "labels; README: 'Coming from Annif, Omikuji, PECOS or "
                       "LibMultiLabel')")


def feature_file(lines: Sequence[str]) -> str | None:
    """What ``lines``, a file's first non-blank lines (two at least where it has them),
    say the file is when they are an svmlight or Extreme Classification (XMC) feature
    file's, the formats Omikuji, PECOS and LibMultiLabel train from; None otherwise.

    >>> feature_file(["3 5 2", "0,1 0:1 3:0.5"])[:41]
    'an Extreme Classification (XMC) data file'
    >>> feature_file(["1 0:1 2:2", "0 1:1"])[:24], feature_file(["Meeting at 12:30"])
    ('an svmlight feature file', None)
    """
    lines = [line for line in lines if line.strip()][:3]
    if len(lines) > 1 and _XMC_HEADER.fullmatch(lines[0]):
        if all(_feature_line(line) for line in lines[1:]):
            return ("an Extreme Classification (XMC) data file (an 'N_DOCS N_FEATURES "
                    "N_LABELS' header, then 'LABEL,LABEL FEATURE:VALUE ...' lines, as "
                    "Omikuji and PECOS read)")
        return None
    # two lines at least: a one-line document such as '12:30 14:45' or '3:1 2:1' is a text
    if len(lines) > 1 and all(_feature_line(line) for line in lines[:2]):
        return ("an svmlight feature file ('LABEL,LABEL FEATURE:VALUE ...' lines, as "
                "LibMultiLabel's libsvm format, Omikuji and PECOS read)")
    return None


def may_begin_feature_file(line: str) -> bool:
    """Whether the non-blank ``line`` may be the first of a feature file
    (:func:`feature_file`): an XMC header or an svmlight feature line. A stream's first
    line that may not is a document whatever the next says, answered without waiting
    for it (a document typed at a terminal).

    >>> may_begin_feature_file("3 5 2"), may_begin_feature_file("rain at 12:30")
    (True, False)
    """
    return bool(_XMC_HEADER.fullmatch(line)) or _feature_line(line)


def feature_head_told(lines: Sequence[str]) -> bool:
    """Whether a stream's first non-blank ``lines`` so far tell what :func:`feature_file`
    says of a regular file, whose first three it reads: a first line that may not begin
    a feature file tells at once; an XMC header followed by a feature line waits for a
    third (text there makes it no XMC file), anything else for a second.

    >>> [feature_head_told(h) for h in (["rain"], ["3 5 2"], ["3 5 2", "0 1:1"],
    ...                                  ["1 0:1", "0 1:1"])]
    [True, False, False, True]
    """
    if not lines or len(lines) >= 3:
        return bool(lines)
    if len(lines) == 1:
        return not may_begin_feature_file(lines[0])
    return not (_XMC_HEADER.fullmatch(lines[0]) and _feature_line(lines[1]))


def _feature_line(line: str) -> bool:
    """Whether ``line`` is an svmlight feature line: ``LABEL,LABEL FEATURE:VALUE ...``
    (:data:`_FEATURE_LINE`) whose features ascend, as svmlight and libsvm require and
    their writers write them (times and ratios, '16:9 4:3', need not)."""
    if not _FEATURE_LINE.fullmatch(line):
        return False
    features = [int(token.split(":", 1)[0]) for token in line.split() if ":" in token]
    return features == sorted(set(features))


def first_lines(path: str | Path, n: int = 3) -> list[str]:
    """Up to ``n`` first non-blank lines of the regular file ``path`` (``.gz``
    inflated), to tell a peer tool's format by; none where it cannot be read (or is a
    pipe, which can be read once: its reader's own check comes first)."""
    lines: list[str] = []
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return lines
        with open_binary(path) as handle:  # its head alone (_HEAD_BYTES), not the file
            head = handle.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error, DataError):
        return []
    for raw in head.split(b"\n"):
        line = raw[:10_000].decode("utf-8", "replace").strip("\ufeff\r\n")
        if line.strip():
            lines.append(line)
            if len(lines) == n:
                break
    return lines


def _is_matrix_file(path: str | Path) -> bool:
    """Whether ``path`` is named ``.npz`` or ``.npy`` and starts as one does (a zip
    archive, NumPy's magic string)."""
    if Path(path).suffix.lower() not in (".npz", ".npy"):
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(6)
    except OSError:
        return False
    return head.startswith(b"PK\x03\x04") or head == b"\x93NUMPY"


def feature_file_error(path: str | Path, lines: Sequence[str] | None = None
                       ) -> CorpusFormatError | None:
    """The refusal of ``path`` when its first lines (``lines``, else read from it) are
    an svmlight or XMC feature file's (:func:`feature_file`), naming its line 1, or when
    it is a NumPy or SciPy matrix (PECOS's ``X.npz``, ``Y.npz``: its bytes were read as
    text, "not valid UTF-8")."""
    if _is_matrix_file(path):
        return CorpusFormatError("this is a NumPy/SciPy matrix file (as PECOS's X.npz and "
                                 f"Y.npz), not text: {FEATURE_FILE_ADVICE}", path=path)
    return feature_lines_error(path, first_lines(path) if lines is None else lines)


def feature_lines_error(name: str | Path, lines: Sequence[str]) -> CorpusFormatError | None:
    """The refusal of ``name`` (a file, ``stdin``) whose first non-blank ``lines`` are
    an svmlight or XMC feature file's (:func:`feature_file`), naming its line 1; None
    otherwise. For a stream, read once: its lines as they arrive, nothing read ahead.

    >>> str(feature_lines_error("stdin", ["1 0:1 2:2", "0 1:1"])).split(" (")[0]
    'stdin:1: this looks like an svmlight feature file'
    """
    kind = feature_file(lines)
    if kind is None:
        return None
    return CorpusFormatError(f"this looks like {kind}: {FEATURE_FILE_ADVICE}",
                             path=name, line=1)


# -- shared plumbing -------------------------------------------------------------------------
def _check_format(format: str) -> str:
    return check_choice("format", format, FORMATS)


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    kind = reachable_kind(path)
    if kind == "missing":
        raise CorpusFormatError("file not found", path=path)
    if kind == "a folder":
        raise CorpusFormatError("is a directory, expected a file", path=path)
    return path


def _error_handler(on_error: ErrorPolicy) -> Callable[[CorpusFormatError], None]:
    if callable(on_error):
        return on_error
    if on_error == "fail":
        def fail(error: CorpusFormatError) -> None:
            raise error
        return fail
    if on_error == "skip":
        return lambda error: None
    raise InvalidParameterError("on_error", "'fail', 'skip' or a callable", on_error)


#: the first two bytes of every gzip file
_GZIP_MAGIC = b"\x1f\x8b"


def compression_mismatch(path: str | Path) -> str | None:
    """What is wrong when ``path``'s name and its bytes disagree about gzip, else ``None``.

    The format comes from the name, so a compressed file saved without ``.gz`` was read
    as text and refused as "not valid UTF-8 ... save it as UTF-8", and a plain file
    named ``.gz`` as "Not a gzipped file (b'Th')": neither said what to do. A ``.gz``
    file compressed twice (gzip run on a ``.gz``) was refused as "not valid UTF-8" too.

    >>> import gzip, os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "corpus.tsv")
    >>> with gzip.open(name, "wb") as f:
    ...     _ = f.write(b"a text")
    >>> print(compression_mismatch(name).split(":")[0])
    is gzip-compressed, but its name does not end in .gz
    >>> os.rename(name, name + ".gz")
    >>> compression_mismatch(name + ".gz") is None
    True
    """
    path = Path(path)
    try:
        # only a regular file is peeked at: reading a named pipe (``<(zcat ...)``) or a
        # device would consume what the reader that opens it next must get
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None  # missing, a folder, unreadable: the opener's own error says so
    named = path.suffix.lower() == ".gz"
    if named and head and head[:2] != _GZIP_MAGIC:
        return ("is not gzip-compressed, but its name ends in .gz: remove .gz from its "
                "name (or compress it with gzip)")
    if named and _inflated_start(head) == _GZIP_MAGIC:  # read as "not valid UTF-8"
        return ("is gzip-compressed twice (it decompresses to another gzip file): "
                "decompress it once, e.g. zcat FILE > NEW.gz")
    if not named and head[:2] == _GZIP_MAGIC:
        return ("is gzip-compressed, but its name does not end in .gz: add .gz to its name "
                "(or decompress it with gunzip)")
    if (not named and head.startswith(_WORKBOOK_MAGIC)  # was "not valid UTF-8" at line 1
            and path.suffix.lower() not in (".npz", ".npy")):  # NumPy's, said apart
        return f"is {binary_advice(path)}"
    return None


#: how an Excel or LibreOffice workbook starts: a zip file (.xlsx, .ods), or an OLE2
#: compound file (.xls of Excel 97-2003)
_WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
#: what such a file is, and the export tagsmith reads
WORKBOOK_ADVICE = ("a zip or OLE2 file, as a spreadsheet workbook (.xlsx, .ods, .xls) "
                   "is, not text: save the sheet as \"CSV UTF-8\" (Excel) or Text CSV with "
                   "character set UTF-8 (LibreOffice), or download it as .csv (Google "
                   "Sheets), and give that file")


#: what a zip archive that is no workbook is, and what to give instead
ZIP_ADVICE = ("a zip archive, not text: extract the file inside (tagsmith reads files "
              "compressed with gzip, .gz, not zip) and give that file")


def binary_advice(path: Path) -> str:
    """:data:`WORKBOOK_ADVICE`, or :data:`ZIP_ADVICE` for a zip archive (a zipped
    corpus, a .docx) whose members are no spreadsheet's and whose name no workbook's;
    one that cannot be listed is taken for a workbook where it is an OLE2 file or named
    ``.csv``, else for a zip archive."""
    if Path(path).suffix.lower() in _WORKBOOK_SUFFIXES:
        return WORKBOOK_ADVICE
    ole2 = _ole2_advice(Path(path))
    if ole2 is not None:
        return ole2
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            mimetype = (archive.read("mimetype")[:100] if "mimetype" in names else b"")
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, ValueError):
        # an OLE2 file (.xls) or a damaged zip named .csv (a workbook renamed) is taken
        # for a workbook; another damaged zip (the head of a .npz named .dat) is a zip
        try:
            with open(path, "rb") as stream:
                head = stream.read(4)
        except OSError:
            return WORKBOOK_ADVICE
        if head == b"PK\x03\x04" and Path(path).suffix.lower() != ".csv":
            return ZIP_ADVICE
        return WORKBOOK_ADVICE
    # .xlsx keeps its sheets under xl/, .ods names its kind in "mimetype", .numbers
    # keeps Index/
    if (any(name.startswith(("xl/", "Index/")) for name in names)
            or b"spreadsheet" in mimetype):
        return WORKBOOK_ADVICE
    return ZIP_ADVICE


#: what an OLE2 compound file that is no workbook is, told by its name's suffix, else by
#: the names of the streams it holds (written in UTF-16 in its directory), and what to do
_OLE2_KINDS = (
    ((".doc", ".dot"), ("WordDocument",), "a Word document (.doc)"),
    ((".msg",), ("__substg1.0_",), "an Outlook message (.msg)"),
    ((".ppt", ".pps", ".pot"), ("PowerPoint Document",), "a PowerPoint presentation (.ppt)"),
    ((".xlt",), ("Workbook", "Book"), ""),  # a workbook: WORKBOOK_ADVICE
)
#: the bytes of an OLE2 file looked through for its streams' names
_OLE2_HEAD = 4 << 20


def _ole2_advice(path: Path) -> str | None:
    """What the OLE2 compound file ``path`` is and what to give instead, where it is no
    spreadsheet workbook (a Word ``.doc``, an Outlook ``.msg``: all were given the
    advice to save "the sheet" as CSV); None where it is a workbook, no OLE2 file, or
    one named ``.csv`` (a workbook renamed, as before) whose kind its head does not tell."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(_OLE2_HEAD)
    except OSError:
        return None
    if not head.startswith(_WORKBOOK_MAGIC[1]):
        return None
    suffix = path.suffix.lower()
    what = next((kind for suffixes, _, kind in _OLE2_KINDS if suffix in suffixes), None)
    if what is None:
        what = next((kind for _, streams, kind in _OLE2_KINDS
                     if any(name.encode("utf-16-le") in head for name in streams)), None)
    if what == "" or (what is None and suffix == ".csv"):
        return None
    if what is None:
        what = ("an OLE2 compound file (as a Word .doc, an Outlook .msg or an Excel .xls "
                "is)")
    return (f"{what}, not text: save or export its text as UTF-8 text (.txt, one document "
            "a file in a folder, or one a line) or as \"CSV UTF-8\" with a 'text' column, "
            "and give that")


def _inflated_start(head: bytes) -> bytes:
    """The first two bytes the start of a gzip file decompresses to (fewer if it
    cannot say: damaged, or its first bytes are not in ``head``).

    >>> import gzip
    >>> _inflated_start(gzip.compress(b"text")), _inflated_start(b"\\x1f\\x8bdamaged")
    (b'te', b'')
    """
    try:
        return zlib.decompressobj(wbits=31).decompress(head, 2)
    except zlib.error:
        return b""  # a damaged file: the reader's own error names the line


def open_binary(path: str | Path, error: type[DataError] = CorpusFormatError) -> IO[bytes]:
    """``path`` opened for reading bytes, ``.gz`` decompressed transparently; a file
    whose name and content disagree about gzip raises ``error`` naming it."""
    path = Path(path)
    problem = compression_mismatch(path)
    if problem is not None:
        raise error(problem, path=path)
    if path.suffix.lower() == ".gz":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]  # GzipFile is IO[bytes]
    return open(path, "rb")


def numbered_lines(handle: Iterable[bytes], path: str | Path, *,
                   skipping_reader: bool = False,
                   error: type[DataError] = CorpusFormatError) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` pairs of an open binary file; a line too long
    (:class:`LineTooLong`) raises ``error`` naming ``path`` and its line, a damaged
    (gzip) file ``error`` naming ``path`` and the last line read, and one cut short how
    many lines were read before the cut. ``skipping_reader``: a corpus reader, whose
    ``on_error`` (``--on-error``) skip refuses it too, which it says. ``error``: the
    exception raised (a vocabulary's :class:`VocabularyError`), as :func:`open_binary`'s."""
    lines = iter(handle)
    number = 0
    while True:
        try:
            raw = next(lines)
        except StopIteration:
            return
        except LineTooLong as exc:
            raise error(exc.reason, path=path, line=number + 1) from None
        except (OSError, EOFError, zlib.error) as exc:
            # no line number: the file is read (and decompressed) ahead of its lines, 64
            # KiB at a time, so a gzip file cut short (still being copied or written)
            # failed "at line 1" whatever line it was cut in; the lines read are known
            # (a line number plainly, as every message writes one: 'line 2,257' was alone)
            after = f" after line {number}" if number else ""
            # gzip's own words ("ended before the end-of-stream marker") said it, not
            # plainly, as the line readers say a last line with no line end was cut; and
            # it says what was read: a corpus cut short is refused even where malformed
            # lines are skipped (its rest is no malformed line, how much is lost unknown)
            read = (f"the {number:,} line{plural_s(number)} before the cut "
                    f"{'were' if number != 1 else 'was'} read" if number
                    else "no line before the cut could be read")
            refused = (", so the file is refused even where malformed lines are skipped "
                       "(--on-error skip)" if skipping_reader else "")
            cut = (": the file was cut short (written or copied in part?); "
                   f"{read}, nothing after it can be{refused}: write or copy it whole again"
                   if isinstance(exc, EOFError) else "")
            raise error(f"cannot read the file{after} ({exc}){cut}", path=path) from exc
        number += 1
        yield number, raw


#: bytes read at a time while looking for a file's first line break, and in CR-only files
_CHUNK = 1 << 16
#: the most bytes a line of a corpus, vocabulary or review file (or of stdin) may hold,
#: its line break not counted: :data:`~tagsmith.data.csvlimits.CSV_FIELD_LIMIT`, the
#: longest document (a CSV cell) in characters, as bytes. A longer line is refused once
#: that much is read, naming its line: a 3 GB file with no line break was read whole as
#: one line (6.3 GB of memory as CSV, then out of memory) before any limit applied.
#: Looked up at each read, so a test may lower it.
MAX_LINE_BYTES = CSV_FIELD_LIMIT


class LineTooLong(Exception):
    """A line over :data:`MAX_LINE_BYTES` (``limit``) bytes; :func:`numbered_lines` (and
    every reader of :func:`split_lines`) raises it as a refusal naming the file and line."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit

    @property
    def reason(self) -> str:
        # the line bound counts bytes as read; the CSV cell limit (the csv module's)
        # counts characters: "a document holds at most N characters" was untrue of a
        # line-per-document file, bounded in bytes
        return (f"a line longer than {self.limit:,} bytes, the most a line may hold "
                f"(counted in bytes as read, before decoding; a CSV cell's own limit is "
                f"{CSV_FIELD_LIMIT:,} characters); refused without reading the rest of it "
                "(a file with no line breaks, or no text file?)")


def _checked(line: bytes, limit: int) -> bytes:
    """``line``, or :class:`LineTooLong` where it holds more than ``limit`` bytes
    before its line break (one: CR LF, LF or CR). A lone CR before it is the line's own
    byte: stripping every CR and LF at its end let a bounded read stop after a line of
    ``limit`` bytes and CR CR, its LF then yielded as a line of its own."""
    if len(line) > limit:
        end = 2 if line.endswith(b"\r\n") else 1 if line.endswith((b"\n", b"\r")) else 0
        if len(line) - end > limit:
            raise LineTooLong(limit)
    return line


def _bounded_lines(handle: IO[bytes], limit: int) -> Iterator[bytes]:
    """The rest of ``handle``'s lines (LF-ended), each read with a bound: a line over
    ``limit`` bytes raises :class:`LineTooLong` once ``limit`` + 2 bytes of it are read,
    where iterating over ``handle`` read the whole line first."""
    readline = handle.readline
    size = limit + 2  # room for a CR LF after a line of ``limit`` bytes
    while line := readline(size):
        if len(line) > limit:
            _checked(line, limit)
        yield line
#: a line break in a CR-only file: CR, or CR LF and LF where such a file mixes them in
_ANY_BREAK = re.compile(rb"\r\n|\r|\n")


def split_lines(handle: IO[bytes], *, header: bool = False,
                limit: int | None = None) -> Iterator[bytes]:
    """The lines of a binary file, each with its line break, whatever ends them.
    A line of more than ``limit`` bytes (:data:`MAX_LINE_BYTES` unless given) raises
    :class:`LineTooLong` with at most about that much of it read.

    The file's first chunk decides: if it holds an LF, the file is read a line per LF,
    as iterating over it does (a lone CR stays inside its line, wherever it is); if it
    holds CRs but no LF (an old Mac file), a line per CR, CR LF or LF, as :func:`open`
    with ``newline=""`` would, a chunk at a time (never the whole file as one line).

    With ``header`` (a CSV file, whose first line is a header holding no line break of
    its own) the first line break decides instead: a header ended by a lone CR is an
    old Mac file's, though the quoted cells below it hold LFs (a spreadsheet's line
    breaks inside a cell), which made the whole file one line with CRs in it.

    >>> import io
    >>> list(split_lines(io.BytesIO(b"a\\rb\\r\\rc")))
    [b'a\\r', b'b\\r', b'\\r', b'c']
    >>> list(split_lines(io.BytesIO(b"a\\r\\nb\\rc\\n")))
    [b'a\\r\\n', b'b\\rc\\n']
    >>> list(split_lines(io.BytesIO(b"a\\rb\\nc\\n")))  # an LF in the chunk: LF lines
    [b'a\\rb\\n', b'c\\n']
    >>> list(split_lines(io.BytesIO(b'h\\r"b\\nc"\\r'), header=True))
    [b'h\\r', b'"b\\n', b'c"\\r']
    """
    if limit is None:
        limit = MAX_LINE_BYTES
    head = _head(handle, limit)
    if header and b"\n" in head:
        cr = head.find(b"\r", 0, head.find(b"\n"))
        if cr != -1 and cr + 1 < head.find(b"\n"):  # a lone CR ends the header
            yield from _lines_by_any_break(handle, head, limit)
            return
    if b"\n" in head or b"\r" not in head:
        start = 0
        while (end := head.find(b"\n", start)) != -1:
            yield _checked(head[start:end + 1], limit)
            start = end + 1
        if start < len(head):
            rest = head[start:]
            room = limit + 2 - len(rest)  # readline(0 or less) would read the whole line
            # the rest of the line the chunk cut
            yield _checked(rest + handle.readline(room) if room > 0 else rest, limit)
        yield from _bounded_lines(handle, limit)
        return
    yield from _lines_by_any_break(handle, head, limit)


def _head(handle: IO[bytes], limit: int) -> bytes:
    """The first chunks of ``handle``, up to one holding an LF (or, once a chunk's worth
    is read, a CR): each chunk searched once, and joined once. Searching and extending
    all that was read with every chunk took time quadratic in the first line's length:
    a first line of 1 GiB (1 MB gzip-compressed) held ``eval`` for hours.

    Read with ``read1`` where the handle has it: what a pipe holds already, not a whole
    chunk, which waited for 64 KiB or the end of the input (``suggest`` given three
    lines on stdin answered none until the writer wrote more or closed it). A read never
    crosses a chunk's end, and a CR decides only there, so the same bytes decide as
    when whole chunks were read. Reading stops past ``limit`` + 2 bytes with no line
    break: the first line is too long (:class:`LineTooLong`, raised by the caller); the
    whole of a file with none was read."""
    read = getattr(handle, "read1", handle.read)
    pieces: list[bytes] = []
    size, cr = 0, False
    while True:
        piece = read(_CHUNK - size % _CHUNK)
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
        cr = cr or b"\r" in piece
        if b"\n" in piece or (cr and size % _CHUNK == 0) or size > limit + 2:
            break
    return b"".join(pieces)


def _lines_by_any_break(handle: IO[bytes], data: bytes, limit: int) -> Iterator[bytes]:
    """The lines of ``data`` and the rest of ``handle``, split at CR LF, CR or LF; a
    line over ``limit`` bytes raises :class:`LineTooLong` (see :func:`split_lines`)."""
    # the line read so far, in pieces: a line longer than a chunk is joined once, not
    # copied again with every chunk
    parts: list[bytes] = []
    held = 0  # bytes in parts
    while data:
        if parts and parts[-1].endswith(b"\r") and not data.startswith(b"\n"):
            yield _checked(b"".join(parts), limit)  # the CR held back was a line break
            parts, held = [], 0
        start = 0
        for match in _ANY_BREAK.finditer(data):
            if match.end() == len(data) and match.group() == b"\r":
                break  # a CR at the end of a chunk: the next may start with its LF
            parts.append(data[start:match.end()])
            yield _checked(b"".join(parts), limit)
            parts, held = [], 0
            start = match.end()
        parts.append(data[start:])
        held += len(data) - start
        if held > limit + 2:
            raise LineTooLong(limit)
        data = handle.read(_CHUNK)
    rest = b"".join(parts)
    if rest:
        yield _checked(rest, limit)


#: byte-order marks of UTF-32 and UTF-16 (Windows PowerShell 5's ``>`` writes UTF-16 LE)
_WIDE_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
              b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


def wide_encoding(first_line: bytes) -> str | None:
    """``"UTF-16"`` or ``"UTF-32"`` when a file's first line starts with that encoding's
    byte-order mark (a file a UTF-8 reader cannot read), else ``None``: the corpus
    readers and the audit's review reader refuse such a file naming it.

    >>> [wide_encoding("a".encode(name)) for name in ("utf-16", "utf-32", "utf-8")]
    ['UTF-16', 'UTF-32', None]
    """
    return next((name for bom, name in _WIDE_BOMS.items() if first_line.startswith(bom)), None)


def _raw_lines(path: Path, header: bool = False
               ) -> Generator[tuple[int, bytes], None, None]:
    """``(line number, bytes)`` pairs; a damaged file raises naming the line, a UTF-16
    or UTF-32 file (by its byte-order mark) raises whatever ``on_error`` says: every
    line is unreadable, though split at its LF bytes most are ASCII with NULs between,
    valid UTF-8, and a skipping TSV reader took them as documents and labels.
    ``header``: a CSV's, see :func:`split_lines`."""
    with open_binary(path) as handle:
        opened = _file_state(path)
        lines = numbered_lines(split_lines(handle, header=header), path,
                               skipping_reader=True)
        first = next(lines, None)  # only line 1 can start with the mark
        if first is None:
            return
        wide = wide_encoding(first[1])
        if wide is not None:
            raise CorpusFormatError(f"the file is {wide} text (it starts with a {wide} "
                                    "byte-order mark); save it as UTF-8", path=path, line=1)
        yield first
        yield from lines
    read = _file_state(path)
    if opened is not None and read != opened:
        # a corpus still being written (or replaced) while a command read it: a model
        # trained on part of it, or an audit of lines since cut, said nothing of it
        logger.warning("%s changed while it was read (%s bytes when opened, %s now): the "
                       "lines read are used as they were; run again once it is written",
                       path, f"{opened[0]:,}", "none" if read is None else f"{read[0]:,}")


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """Size, modification time and inode of a regular file (None for a pipe, a file
    gone, or one that cannot be looked at): what changes when a file is written or
    replaced while it is read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ino) if stat.S_ISREG(info.st_mode) \
        else None


class NotUTF8(ValueError):
    """A line is not UTF-8; ``args[0]`` says where in the line."""


def decode_line(raw: bytes, number: int) -> str:
    """Line ``number`` (1-based) of a file as text: UTF-8, a BOM on line 1 dropped.

    Raises :class:`NotUTF8` with the reason and byte offset, for the caller to name
    the file and line in its own error.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUTF8(not_utf8_reason(raw, exc)) from None
    return text.removeprefix("\ufeff") if number == 1 else text


def not_utf8_in_text(raw: bytes, exc: UnicodeDecodeError) -> tuple[int, str]:
    """(line number, reason) of the first byte of ``raw``, a whole text file (a
    folder's document, a ``--whole-file`` file), that is no UTF-8 (``exc``: its decoding
    error): :func:`not_utf8_reason` of its line, without the spreadsheet's advice. A
    Latin-1 byte in a 40,000-word report was "not valid UTF-8 (invalid continuation byte
    at byte 5019)": no line, no byte, no hint of the encoding.

    >>> raw = b"one\\ntwo caf\\xe9\\n"
    >>> try:
    ...     raw.decode("utf-8")
    ... except UnicodeDecodeError as exc:
    ...     number, reason = not_utf8_in_text(raw, exc)
    >>> print(number, reason)
    2 not valid UTF-8 (byte 0xe9: invalid continuation byte at byte 7); it reads as cp1252 \
text (Windows-1252): 'two café'; save the file as UTF-8
    """
    start = raw.rfind(b"\n", 0, exc.start) + 1
    end = raw.find(b"\n", exc.start)
    line = raw[start:len(raw) if end < 0 else end]
    number = raw.count(b"\n", 0, exc.start) + 1
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as inner:
        inner.reason = exc.reason  # "invalid continuation byte", not "unexpected end"
        return number, not_utf8_reason(line, inner, spreadsheet=False)
    return number, f"not valid UTF-8 ({exc.reason} at byte {exc.start - start})"


def not_utf8_reason(raw: bytes, exc: UnicodeDecodeError, *, spreadsheet: bool = True) -> str:
    """Why the line ``raw`` is no UTF-8 (``exc``: its decoding error): the byte, where,
    and what to do. A spreadsheet's plain "CSV" is cp1252 (an 'é' is the byte 0xe9),
    where its "CSV UTF-8" is read as it is: that is said only where the line reads as
    cp1252 text (no control character), shown so; any other bytes (a binary file) were
    called a spreadsheet's too. A byte cp1252 leaves undefined (0x81, 0x8d, 0x8f, 0x90,
    0x9d: a Latin-1 file's C1 control) or a DOS end-of-file Ctrl-Z (0x1a) in a line
    whose rest is text is Latin-1/cp1252 text still: it was called "a binary file?"; so
    is a line with a control character among its letters (a scan's form feed).

    >>> def reason(raw):
    ...     try:
    ...         raw.decode("utf-8")
    ...     except UnicodeDecodeError as exc:
    ...         return not_utf8_reason(raw, exc)
    >>> print(reason(b"caf\\xe9 au lait"))
    not valid UTF-8 (byte 0xe9: invalid continuation byte at byte 3); it reads as cp1252 \
text (Windows-1252, as a spreadsheet's plain "CSV" is): 'café au lait'; save the file as \
UTF-8 (a spreadsheet's "CSV UTF-8")
    >>> print(reason(b"Se\\xf1or \\x81 x\\ta"))
    not valid UTF-8 (byte 0xf1: invalid continuation byte at byte 2); it reads as \
Latin-1/cp1252 text (ISO-8859-1 or Windows-1252, as a spreadsheet's plain "CSV" is): \
'Señor \\x81 x\\ta'; save the file as UTF-8 (a spreadsheet's "CSV UTF-8")
    >>> print(reason(b"\\x00\\x01\\x81"))
    not valid UTF-8 (byte 0x81: invalid start byte at byte 2); the line is no text in \
UTF-8 or cp1252 (a binary file?): give a UTF-8 text file
    """
    where = f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}: {exc.reason} at byte {exc.start})"
    wide = _utf16_text(raw) if b"\x00" in raw else None
    if wide is not None:  # was "no text in UTF-8 or cp1252 (a binary file?)"
        return (f"{where}; it reads as UTF-16 text with no byte-order mark: "
                f"{wide[:60]!r}; save the file as UTF-8")
    # one character a byte: cp1252's, Latin-1's (a C1 control) where cp1252 has none
    text = raw.decode("latin-1").translate(_CP1252).rstrip("\r\n")
    # a control character (a scan's form feed, a BEL), a Latin-1 C1 control or a
    # Ctrl-Z: text where the line's letters outnumber them (an OCR line's form feed
    # beside an 'é' called the line "a binary file?"); a NUL is never text
    odd = sum(c in _LATIN1_ONLY or ord(c) < 32 and c not in "\t\r\n" or c == "\x7f"
              for c in text)
    if "\x00" in text or odd and odd >= sum(c.isalpha() for c in text):
        return (f"{where}; the line is no text in UTF-8 or cp1252 (a binary file?): give "
                "a UTF-8 text file")
    shown = text[max(0, exc.start - 30):exc.start + 30]  # one byte a character
    latin1 = any(c in _LATIN1_ONLY for c in text)
    encoding = ("Latin-1/cp1252 text (ISO-8859-1 or Windows-1252" if latin1
                else "cp1252 text (Windows-1252")
    if not spreadsheet:  # a text file of its own: no spreadsheet wrote it
        return f"{where}; it reads as {encoding}): {shown!r}; save the file as UTF-8"
    return (f"{where}; it reads as {encoding}, as a spreadsheet's plain \"CSV\" is): "
            f"{shown!r}; save the file as UTF-8 (a spreadsheet's \"CSV UTF-8\")")


#: the bytes 0x80-0x9f read as cp1252 reads them (a str.translate table from their
#: Latin-1 characters), but for the five it leaves undefined
_CP1252 = {byte: bytes([byte]).decode("cp1252") for byte in range(0x80, 0xa0)
           if byte not in (0x81, 0x8d, 0x8f, 0x90, 0x9d)}
#: those five, as Latin-1 reads them (C1 controls)
_LATIN1_ONLY = frozenset(chr(byte) for byte in (0x81, 0x8d, 0x8f, 0x90, 0x9d))


def _utf16_text(raw: bytes) -> str | None:
    r"""The line ``raw`` read as UTF-16 with no byte-order mark, or None where it is no
    such text. Split at its LF bytes, a UTF-16 file's lines after the first start (LE)
    or end (BE) with a stray NUL of the LF's pair: each alignment is tried.

    >>> _utf16_text("café\tx".encode("utf-16-le")), _utf16_text(b"\x00\x01\x81")
    ('café\tx', None)
    """
    body = raw.rstrip(b"\r\n")
    if body.count(0) * 3 < len(body):  # UTF-16 text is mostly NULs between characters
        return None
    for encoding, chunk in (("utf-16-le", body), ("utf-16-le", body[1:]),
                            ("utf-16-be", body), ("utf-16-be", body[:-1])):
        if len(chunk) % 2:
            continue
        try:
            text = chunk.decode(encoding).rstrip("\r")
        except UnicodeDecodeError:
            continue
        # mostly Latin letters, as its NULs say: a binary line reads as CJK
        if (text and 2 * sum(ord(c) < 0x100 for c in text) >= len(text)
                and not any(ord(c) < 32 and c != "\t" or c == "\x7f" for c in text)):
            return text
    return None


def _decode(raw: bytes, number: int) -> str:
    try:
        return decode_line(raw, number)
    except NotUTF8 as exc:
        raise _Malformed(exc.args[0]) from None


def _complete_as_cp1252(raw: bytes, number: int,
                        parse: Callable[[str, int], Record | None]) -> bool:
    """Whether ``raw``, a last line whose UTF-8 ends mid-character, is rather a whole
    line of a Windows-1252 file (``b'un caf\\xe9'``: its 'é' reads as the first byte of a
    UTF-8 character): ASCII up to its last bytes, and ``parse`` takes it read as cp1252.
    A UTF-8 file cut short is said so; this one keeps the advice to save it as UTF-8."""
    if not raw.rstrip(bytes(range(0x80, 0x100))).isascii():
        return False
    try:
        parse(raw.decode("cp1252"), number)
    except (UnicodeDecodeError, _Malformed, CorpusFormatError):
        return False
    return True


def _line_records(path: Path, parse: Callable[[str, int], Record | None],
                  on_error: Callable[[CorpusFormatError], None]) -> Iterator[Record]:
    """Records of a one-record-per-line file; ``parse`` returns ``None`` for blank lines.
    An svmlight or XMC feature file is refused at its line 1 (:func:`feature_file`),
    whatever ``on_error`` says: its header was read as a document and its lines as texts
    (TSV), or every line was malformed JSON."""
    refusal = feature_file_error(path)
    if refusal is not None:
        raise refusal
    utf8_seen = False  # a line read with a character past ASCII: the file is UTF-8
    for number, raw in _raw_lines(path):
        try:
            text = _decode(raw, number)
            utf8_seen = utf8_seen or not raw.isascii()
            record = parse(text.rstrip("\r\n"), number)
        except _Malformed as exc:
            reason = exc.args[0]
            # only the last line lacks a line end: a file whose writing or copy stopped
            # mid-line (or mid-character, where "save the file as UTF-8" was the advice)
            # read as one written wrong
            cut_char = reason.startswith("not valid UTF-8") and "unexpected end" in reason \
                and not (not utf8_seen and _complete_as_cp1252(raw, number, parse))
            if (reason.startswith("invalid JSON") or cut_char) \
                    and not raw.endswith((b"\n", b"\r")):
                reason = (reason.split(";")[0] if cut_char else reason) + (
                    "; it is the file's last line and has no line end: the file was cut "
                    "short (written or copied in part?)")
            on_error(CorpusFormatError(reason, path=path, line=number,
                                       parameters=getattr(exc, "parameters", ())))
            continue
        if record is not None:
            yield record


# -- TSV ----------------------------------------------------------------------------------------
#: a text ending in ``<scheme:...>`` tokens: labels typed after a space instead of a TAB?
_TRAILING_URIS = re.compile(r"(?:^|\s)<[A-Za-z][A-Za-z0-9+.-]*:[^\s<>]*>$")


#: what a command with ``--on-error`` can do with a malformed line; the command line
#: says :data:`NO_SKIP_HINT` instead in a command that has no such option (label,
#: taxonomy), where it named an option the command refused
SKIP_HINT = "--on-error skip leaves such lines out"
NO_SKIP_HINT = "give such a line a text or delete it"
#: why a TSV line with nothing before its tab is malformed, and what to do
EMPTY_TSV_TEXT = ("empty text (nothing before the tab: a TSV line cannot hold an empty "
                  f"document, a CSV or JSONL record can; {SKIP_HINT})")


def _tsv_records(path: Path, on_error) -> Iterator[Record]:
    source = str(path)
    suspicious: list[int] = []  # line numbers of unlabelled lines that end in <uri> tokens
    labelled: list[int] = []  # the first labelled line's number, once read
    started: list[int] = []  # the first non-blank line's number, once read
    # line numbers of labels columns of several labels followed by <uri> columns: read
    # as Annif reads them, more labels, though no Annif corpus writes them so, and a
    # native line's stray third column (a source URL) is so read as a label
    stray: list[int] = []
    # each label token holding ',' or '|' with its first line: labels joined as a CSV
    # cell joins them ('desire,optimism'), each read as one label; and every label token
    # read, kept only where the file cannot be read again for them (a pipe): a set
    # update per line was ~15% more CPU reading a TSV, paid where no token joins labels
    joined: dict[str, int] = {}
    seen: set[str] | None = None if _file_state(path) is not None else set()

    def parse(line: str, number: int) -> Record | None:
        if not line.strip():
            return None
        columns = line.split("\t")
        first = not started
        if first:
            started.append(number)
        while len(columns) > 2 and not columns[-1].strip():
            columns.pop()  # trailing tabs (spreadsheet exports; Annif reads them too)
        if len(columns) > 2 and _uri_columns(columns[1:]):
            # Annif's subjects separated by TABs, a column each (its documented variant,
            # which it reads): were refused as a line of too many columns
            if len(columns[1].split()) > 1 or _another_site(columns[1], columns[2:]):
                stray.append(number)
            columns = [columns[0], " ".join(columns[1:])]
        if len(columns) > 2:
            # on the first line: a native corpus's stray TAB later is no peer's format
            # (and on a line of a vocabulary's three: its notations on some lines only)
            lml = ("; " + _three_columns_advice(columns, path)
                   if len(columns) == 3 and (first or is_lone_uri(columns[0])) else "")
            raise _Malformed(f"expected 1 or 2 tab-separated columns, found "
                             f"{len(columns)}{lml}")
        text = columns[0].strip()
        if not text:  # the message said neither why nor what to do (CSV, JSONL keep one)
            raise _Malformed(EMPTY_TSV_TEXT)
        labels = tuple(columns[1].split()) if len(columns) == 2 else ()
        if ">" in labels:  # a category path's step: its words were read as labels
            raise _Malformed(f"the labels column holds a category path "
                             f"({columns[1].strip()[:80]!r}), which a TSV corpus reads as "
                             "whitespace-separated labels ('>' one of them): give the "
                             "category by its id or <uri>, or write a CSV or JSONL corpus, "
                             "which read a path as one label")
        if labels:
            if seen is not None:
                seen.update(labels)
            if "," in columns[1] or "|" in columns[1]:
                for token in labels:
                    if ("," in token or "|" in token) and token not in joined:
                        joined[token] = number
        if labels and not labelled:
            labelled.append(number)
            if _swapped_columns(text, labels):
                raise CorpusFormatError(
                    f"the labels column repeats {_repeated(labels)!r} and holds "
                    f"{len(labels)} words to the text's {len(text.split())}: this looks "
                    f"like LibMultiLabel's "
                    f"LABELS<TAB>TEXT, which tagsmith read as text {text[:40]!r} with "
                    f"labels its words; "
                    f"{_command_of(LIBMULTILABEL_CONVERT, LIBMULTILABEL_EXAMPLE, path)}",
                    path=path, line=number)
        if len(columns) == 1 and _TRAILING_URIS.search(text):
            suspicious.append(number)
        return Record(text, labels, None, number, source)

    def records() -> Iterator[Record]:
        yield from _line_records(path, parse, on_error)
        _warn_stray_uri_columns(path, stray)
        _warn_joined_labels(path, joined, seen)
        if not suspicious:
            return
        key = (source, _modified(path), len(suspicious), suspicious[0])
        if key not in _WARNED:  # a file read twice (label space, then data): one warning
            _WARNED.add(key)
            logger.warning("%s: %s line%s without a TAB %s in <uri> tokens and %s read "
                           "as unlabelled text (first: %s:%d); if those are labels, separate "
                           "them from the text with a TAB", source, f"{len(suspicious):,}",
                           plural_s(len(suspicious)), plural(len(suspicious), "ends", "end"),
                           plural(len(suspicious), "was", "were"), source, suspicious[0])

    return records()


_WARNED: set[tuple] = set()


def _warn_stray_uri_columns(path: Path, stray: list[int]) -> None:
    """Warn once a TSV is read (once for the same unchanged file) of its ``stray`` lines,
    a labels column of several labels (or of one, :func:`_another_site`) then ``<uri>``
    columns, each read as one more label (Annif's reading of its TAB-separated
    subjects, which it writes one a column):
    a native corpus's third column (``TEXT<TAB>LABELS<TAB><source-url>``), refused
    before Annif's variant was read, made a label a document silently."""
    if not _first_warning("stray", path, [(line,) for line in stray]):
        return
    n = len(stray)
    logger.warning("%s: %s line%s %s <URI> columns after several labels (or after one of "
                   "another site), read as labels "
                   "too, as Annif reads subjects separated by TABs (first: line %d); if "
                   "such a column is no label (a source URL), keep the text and labels "
                   "alone (cut -f1,2)", path, f"{n:,}", plural_s(n), plural(n, "has", "have"),
                   stray[0])


#: what joins labels into one TSV token, as a CSV cell or a spreadsheet joins them
_LABEL_JOINERS = re.compile(r"[,|]")


def _warn_joined_labels(path: Path, joined: dict[str, int], seen: set[str] | None) -> None:
    """Warn once a TSV is read (once for the same unchanged file) of its label tokens
    ``joined`` (token -> first line) that join by ``,`` or ``|`` labels ``seen`` on
    their own in the file (``desire,optimism`` beside ``desire`` and ``optimism``):
    a TSV separates a line's labels by whitespace, so each was read as one label,
    silently (GoEmotions written so gave 221 such labels, and the audit took the corpus
    for a single-label catalogue). A token whose parts are not all labels of the file
    (a URI or a name holding a comma, ``<http://x/a,b>``, ``Washington, D.C.``) is no
    such join. ``seen`` None: the file's label tokens are read again for the parts
    (only where some token holds ',' or '|')."""
    if not joined:
        return
    if seen is None:
        seen = _label_tokens_among(path, {part for token in joined
                                          for part in _LABEL_JOINERS.split(token) if part})
    found = []
    for token, line in joined.items():
        parts = [part for part in _LABEL_JOINERS.split(token) if part]
        if len(parts) > 1 and all(part in seen for part in parts):
            found.append((line, token, parts))
    if not _first_warning("joined", path, sorted(found)):
        return
    line, token, parts = min(found)
    n = len(found)
    logger.warning(
        "%s: %s label token%s join%s labels of the file by ',' or '|', each read as one "
        "label (first: line %d, %r, where %s %s labels of the file on their own): a TSV "
        "corpus separates a line's labels by spaces; write %r (where no label holds ',' "
        "or '|' itself: awk -F'\\t' -v OFS='\\t' '{gsub(/[,|]/, \" \", $2); print}' %s > "
        "fixed.tsv)", path, f"{n:,}", plural_s(n), plural(n, "s", ""), line, token,
        " and ".join(repr(part) for part in parts), plural(len(parts), "is", "are"),
        " ".join(parts), shell_path(path))


def _label_tokens_among(path: Path, wanted: set[str]) -> set[str]:
    """The tokens of ``wanted`` that a TSV ``path``'s labels columns hold (what follows
    a line's first TAB, split at whitespace); those read before the file could not be
    read again (gone, or unreadable since) are none."""
    found: set[str] = set()
    try:
        with open_binary(path) as handle:
            for raw in split_lines(handle):
                columns = raw.decode("utf-8", "replace").split("\t", 1)
                if len(columns) == 2:
                    found.update(token for token in columns[1].split() if token in wanted)
    except (OSError, EOFError, zlib.error, DataError, LineTooLong):
        pass
    return found


#: jq's list of an Annif JSON document's ``subjects`` as tagsmith's ``labels``: a
#: ``<uri>``, else the label; ``[]?``: a document without subjects, which Annif's schema
#: allows, stopped jq with "Cannot iterate over null"
_ANNIF_LABELS = 'labels: [.subjects[]? | if .uri then "<" + .uri + ">" else .label end]'
#: jq's program writing an Annif JSON Lines line as a tagsmith JSONL record (a document
#: with no ``text``, its metadata alone, an empty text)
ANNIF_JQ = f"""jq -c '{{id: .document_id, text: (.text // ""), {_ANNIF_LABELS}}}'"""


def annif_jsonl_command(path: str | Path) -> str:
    """The command writing Annif's JSON Lines corpus ``path`` as tagsmith's (``corpus.jsonl``):
    :data:`ANNIF_JQ` of the file, inflated first where it is a ``.gz`` (jq reads no gzip).

    >>> annif_jsonl_command("my docs.jsonl.gz")[:35]
    "gzip -dc 'my docs.jsonl.gz' | jq -c"
    """
    name = shell_path(path)
    return (f"gzip -dc {name} | {ANNIF_JQ}" if str(path).lower().endswith(".gz")
            else f"{ANNIF_JQ} {name}") + " > corpus.jsonl"
#: the same of a folder's ``.json`` files, the id where a document has none its stem
ANNIF_FOLDER_JQ = ("""jq -c '{id: (.document_id // (input_filename | sub(".*/"; "") """
                   f"""| sub("[.]json$"; ""))), text: (.text // ""), {_ANNIF_LABELS}}}'""")


def _three_columns_advice(columns: list[str], path: Path) -> str:
    """What a first line of three TAB-separated ``columns`` of ``path`` looks like, and
    how to convert it: GoEmotions' TEXT<TAB>4,27<TAB>ID (read as LibMultiLabel's, the
    advice's awk wrote the comment ids as texts), else LibMultiLabel's
    ID<TAB>LABELS<TAB>TEXT; a lone ``<uri>`` first is Annif's vocabulary with
    notations (:data:`VOCABULARY_ADVICE`). GoEmotions' advice converts ``path`` itself
    (:func:`_command_of`), a ``.gz`` read through ``zcat``: awk reads no gzip
    (GoEmotions' files are published as ``.tsv.gz``; the awk of the advice, run on one,
    wrote gzip bytes)."""
    if is_lone_uri(columns[0]):  # <uri>: no document's text, as every other peer's is
        # a Python caller was told to pass it as --vocab, an option no function has
        return said(VOCABULARY_ADVICE, VOCABULARY_ADVICE_PYTHON)
    ids, tail = columns[1].strip(), columns[2].strip()
    # ids of 28 emotions and a Reddit id: a native corpus's labels typed TAB-separated
    # ('TEXT<TAB>2020<TAB>2021') or a language beside them ('3<TAB>en') were told they
    # were GoEmotions', the advice dropping column 3
    if (_NUMERIC_IDS.fullmatch(ids) and _REDDIT_ID.fullmatch(tail)
            and len(columns[0].split()) > 1):
        return _command_of(said(GOEMOTIONS_ADVICE, GOEMOTIONS_ADVICE_PYTHON),
                           "train.tsv > train-tagsmith.tsv", path)
    return _command_of(LIBMULTILABEL_ADVICE, LIBMULTILABEL_EXAMPLE, path)


def _command_of(advice: str, example: str, path: Path) -> str:
    """``advice`` with its awk command (reading and writing ``example``, ``IN > OUT``)
    reading ``path`` itself into ``<path's stem>-tagsmith.tsv`` beside it, through
    ``zcat`` where it is a ``.gz`` (awk reads no gzip): every file was told to convert
    ``train.tsv``.

    >>> _command_of("x: awk '{p}' a.tsv > b.tsv, y", "a.tsv > b.tsv", Path("d/dev.tsv.gz"))
    "x: zcat d/dev.tsv.gz | awk '{p}' > d/dev-tagsmith.tsv, y"
    """
    name = str(path)
    stem = re.sub(r"(?i)(\.(?:tsv|txt))?(\.gz)?$", "", name)
    output = shell_path(stem + "-tagsmith.tsv")
    start = advice.index(" " + example)
    if name.lower().endswith(".gz"):
        awk = advice.rindex("awk ", 0, start)
        return (f"{advice[:awk]}zcat {shell_path(name)} | {advice[awk:start]} > {output}"
                f"{advice[start + 1 + len(example):]}")
    return (f"{advice[:start]} {shell_path(name)} > {output}"
            f"{advice[start + 1 + len(example):]}")


#: a URI's scheme and authority (``https://news.example.com``), a URN's scheme alone
_SITE = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:(?://[^/<>#?]*)?)")


def _another_site(label: str, columns: Sequence[str]) -> bool:
    """Whether the ``<uri>`` columns after a TSV line's one label (``label``, its
    second column) name another site than it: a native corpus's source URL
    (``TEXT<TAB><http://vocab/rain><TAB><https://news.example.com/a1>``), where Annif's
    subjects, a column each, come from one vocabulary. URNs tell no site but their
    scheme: URNs after a URN are one site, a URL after a URN another (a vocabulary of
    URNs, then a source URL). Nor does ``http`` or ``https`` tell sites apart, nor the
    host's case (one vocabulary's URIs written both ways, a corpus joined from two
    exports, are one site).

    >>> _another_site("<http://v.org/rain>", ["<https://news.example.com/a1>"])
    True
    >>> _another_site("<http://v.org/rain>", ["<http://v.org/sun>"]), _another_site(
    ...     "<urn:e:love>", ["<urn:x:joy>"])
    (False, False)
    >>> _another_site("<http://v.org/rain>", ["<https://V.ORG/sun>"]), _another_site(
    ...     "<urn:e:joy>", ["<https://reddit.com/r/1>"])
    (False, True)
    """
    sites = {_site_key(site) for site in _SITE.findall(label)}
    others = {_site_key(site) for site in _SITE.findall(" ".join(columns))}
    return bool(sites and others) and not others <= sites


def _site_key(site: str) -> str:
    """A site of :data:`_SITE` as :func:`_another_site` compares it: in lower case, a
    scheme of ``http`` or ``https`` as either (``//v.org``; a URN's ``urn:``)."""
    return re.sub(r"^https?:", "", site.lower())


def _uri_columns(columns: Sequence[str]) -> bool:
    """Whether a TSV line's columns after its text hold ``<uri>`` tokens alone, one at
    least: Annif's subjects separated by TABs (``text<TAB><uri><TAB><uri>``), not a
    text (LibMultiLabel's ``ID<TAB>LABELS<TAB>TEXT``) nor bare labels.

    >>> _uri_columns(["<http://x/1>", " <http://x/2> <http://x/3>"]), _uri_columns(["a", "b c"])
    (True, False)
    """
    tokens = " ".join(columns).split()
    return bool(tokens) and all(_LONE_URI.fullmatch(token) for token in tokens)


def _swapped_columns(text: str, labels: tuple[str, ...]) -> bool:
    """Whether a TSV line's columns are LibMultiLabel's LABELS<TAB>TEXT: its "labels"
    repeat words twice at least (a text's words repeat; a document naming one label
    twice is a slip, read as before), are 6 at least and twice the words of its "text",
    and none is a ``<uri>`` (Annif's, tagsmith's)."""
    return (len(labels) >= 6 and len(labels) > 2 * len(text.split())
            and len(labels) - len(set(labels)) >= 2
            and not any(label.startswith("<") for label in labels))


def _repeated(labels: tuple[str, ...]) -> str | None:
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            return label
        seen.add(label)
    return None


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


# -- JSONL --------------------------------------------------------------------------------------
def _jsonl_records(path: Path, on_error, layout: bool = False,
                   text_columns: tuple[str, ...] | None = None) -> Iterator[Record]:
    source = str(path)
    orders: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per order met
    told: list[bool] = []  # whether an object read by its 'text' was said (once a file)

    def parse(line: str, number: int) -> Record | None:
        if not line.strip():
            return None
        try:
            obj = _JSON_DECODER.decode(line)
        except RecursionError as exc:  # arrays nested thousands deep
            raise _Malformed("invalid JSON: nested too deeply") from exc
        except ValueError as exc:  # JSONDecodeError, or an integer of over 4,300 digits
            if line.startswith("\ufeff"):  # line 1's was dropped by decode_line
                raise _Malformed("the line starts with a byte-order mark (U+FEFF, invisible "
                                 "in editors), as where files saved with one were joined; "
                                 "remove it") from exc
            raise _Malformed(f"invalid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise _Malformed(f"expected a JSON object, found {type(obj).__name__}")
        if "\\ud" in line.lower() and _holds_lone_surrogate(obj):
            # JSON may escape half of a surrogate pair; such a string is no Unicode text
            # and fails only when written (the audit's review.csv, a TSV, a bundle)
            raise _Malformed("a string holds a lone surrogate escape (\\udXXX, half of a "
                             "character cut in two): not valid Unicode")
        text = obj.get("text") if text_columns is None else \
            _json_text(obj, text_columns, path, told)
        if (text is None and "labels" not in obj
                and ("subjects" in obj or "document_id" in obj)):
            # Annif's schema lets a document go without text (its metadata alone): its
            # corpus was refused as missing one, not told Annif's nor its conversion
            raise _Malformed("missing 'text', a document of Annif's JSON Lines corpus "
                             "(its 'subjects' or 'document_id', and no text, which Annif "
                             "allows; tagsmith reads 'subjects' as metadata): write the "
                             "corpus as tagsmith's, each subject a 'labels' key: "
                             f"{annif_jsonl_command(path)}")
        if text is None:  # its text under another key, as a CSV header's is told
            hint = text_columns_hint(list(obj), "key")
            missing = _Malformed(f"missing 'text'{hint}")
            missing.parameters = ("text_columns",) if hint else ()
            raise missing
        if not isinstance(text, str):
            raise _Malformed(f"'text' must be a string, found {type(text).__name__}")
        metadata = {k: v for k, v in obj.items() if k not in ("text", "labels", "id")}
        raw_id = obj.get("id")
        labels = _json_labels(obj.get("labels"))
        doc_id = _json_id(raw_id)
        key_order = None
        if layout:  # apply-review's alone: a tuple or two per line cost every reader 10%
            order = tuple(obj)
            written = (*(("id",) if doc_id is not None else ()), "text", "labels", *metadata)
            if order != written:
                key_order = orders.setdefault(order, order)
        return Record(text.strip(), labels, doc_id,
                      number, source, MappingProxyType(metadata) if metadata else _EMPTY,
                      raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool)
                      else None, key_order=key_order)

    return _line_records(path, parse, on_error)


def _json_text(obj: dict, columns: tuple[str, ...], path: Path,
               told: list[bool] | None = None) -> object:
    """The text of a JSONL object read with ``text_columns``: its keys ``columns`` joined
    (:func:`_joined_text`; null reads as empty). The keys stay in the metadata, so a
    corpus rewritten keeps them. An object with none of them and a ``text`` key is read
    by its ``text`` (said once a file: ``told``)."""
    error = None
    keys = _json_keys(obj, columns)
    if "text" in obj and not any(keys):
        if told is not None and not told:
            _read_by_its_text(path, columns, "key")
            told.append(True)
        return obj["text"]
    if "text" in obj and "text" not in keys:
        error = _missing_text_columns_text(columns, path, None).reason
    elif missing := [name for name, key in zip(columns, keys, strict=True) if key is None]:
        error = _missing_text_columns(missing, list(obj), columns, path, "key").reason
    elif wrong := [key for key in keys if not isinstance(obj[key], str | None)]:
        error = (f"{wrong[0]!r} (text_columns) must be a string, found "
                 f"{type(obj[wrong[0]]).__name__}")
    if error is not None:
        malformed = _Malformed(error)
        malformed.parameters = ("text_columns",)
        raise malformed
    values = []
    for key in keys:
        value = obj[key]
        values.append(value or "")
    return _joined_text(values)


def _json_keys(obj: dict, columns: tuple[str, ...]) -> list:
    """The key of ``obj`` each of the text ``columns`` names (None where it has none):
    as written, else the key equal to it in NFC, as a CSV header's names are matched
    (macOS writes ``Ämne`` as ``A`` and a combining diaeresis); the case as written.

    >>> keys = _json_keys({"A\u0308mne": "x", "body": "y"}, ("\u00c4mne", "body", "Body"))
    >>> keys == ["A\u0308mne", "body", None]
    True
    """
    keys = [name if name in obj else None for name in columns]
    # an object's keys normalised only where a name is not one of them, or where a key
    # may be another's twin in NFC (the twin was left unread silently). Two keys one name
    # in NFC are never both NFC, and a key not in NFC leaves its keys joined not in NFC
    # either: keys all ASCII, or joined in NFC, have no twins. Normalising every line's
    # keys where any was not ASCII read a JSONL with 'ämne' keys 20% slower
    if None in keys or (not (joined := "".join(obj)).isascii()
                        and not unicodedata.is_normalized("NFC", joined)):
        normal: dict[str, list[str]] = {}
        for key in obj:
            normal.setdefault(unicodedata.normalize("NFC", key), []).append(key)
        for name in columns:
            if len(twins := normal.get(unicodedata.normalize("NFC", name), ())) > 1:
                malformed = _Malformed(
                    f"the keys {', '.join(f'{key!r} (written {ascii(key)})' for key in twins)}"
                    f" are one name in Unicode NFC (composed and decomposed), the key "
                    f"{name!r} text_columns names: which holds the text cannot be told; "
                    "keep one of them")
                malformed.parameters = ("text_columns",)
                raise malformed
        keys = [normal[nfc][0] if key is None and (nfc := unicodedata.normalize("NFC", name))
                in normal else key for name, key in zip(columns, keys, strict=True)]
    return keys


def _read_by_its_text(path: Path, columns: Sequence[str], what: str) -> None:
    """Say (at INFO) that the corpus ``path``, having none of the text ``columns`` and a
    ``text`` column (``what``: "column", "key") of its own, is read by its ``text``: one
    command's ``--text-column`` names the columns of the export it reads, and the other
    files it reads (``label --human``, ``eval`` of a second corpus) are tagsmith's own."""
    # no parameter named: the command line's is --text-column, the API's text_columns
    logger.info("%s: none of the %ss %s named to hold the text: its text is read from "
                "its 'text' %s", path, what, ", ".join(repr(name) for name in columns), what)


def _missing_text_columns_text(columns: Sequence[str], path: Path,
                               line: int | None) -> CorpusFormatError:
    """A corpus with a ``text`` column (key) of its own that ``columns`` leaves out: which
    text is meant cannot be told, and a corpus rewritten would lose one."""
    return CorpusFormatError(f"the corpus has a 'text' column of its own, which "
                             f"text_columns {pasted_text_columns(columns)} leaves out: name "
                             "'text' among them too, or leave text_columns out",
                             path=path, line=line, parameters=("text_columns",))


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object's pairs as a dict; a key given twice makes the line malformed:
    :func:`json.loads` keeps the last value and drops the others silently
    (``{"text": "a", "text": "b"}`` read as ``"b"``). Nested objects are checked too.

    >>> try:
    ...     _JSON_DECODER.decode('{"text": "a", "meta": {"n": 1, "n": 2}}')
    ... except _Malformed as exc:
    ...     print(exc)
    key 'n' given twice in one JSON object (a JSON reader keeps only one of its values)
    """
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Malformed(f"key {key[:80]!r} given twice in one JSON object (a JSON "
                                 "reader keeps only one of its values)")
            seen.add(key)
    return obj


def _refuse_non_finite(token: str) -> float:
    """Refuse the bare tokens ``NaN``, ``Infinity`` and ``-Infinity``: no JSON (RFC 8259)
    but read by :func:`json.loads` as floats, which strict parsers (jq, JavaScript's,
    Go's) refuse; the line is malformed. A value meant as such is written as a string
    (``"Infinity"``), as tagsmith's writers do (:mod:`tagsmith._json`).

    >>> try:
    ...     _JSON_DECODER.decode('{"text": "a", "score": -Infinity}')
    ... except _Malformed as exc:
    ...     print(exc)
    invalid JSON: -Infinity is no JSON number (write it as the string "-Infinity")
    """
    raise _Malformed(f"invalid JSON: {token} is no JSON number (write it as the string "
                     f'"{token}")')


def _finite_float(token: str) -> float:
    """A JSON number with a fraction or exponent as a float, refusing one too large for a
    float (``1e999``): valid JSON syntax, but :func:`float` reads it as infinity, which
    the bare ``Infinity`` token is refused for; it would be written back as the string
    ``"Infinity"``, not the number the file held.

    >>> _finite_float("-2.5e3")
    -2500.0
    >>> try:
    ...     _JSON_DECODER.decode('{"text": "a", "score": -1e999}')
    ... except _Malformed as exc:
    ...     print(exc)
    invalid JSON: the number -1e999 is too large for a float (at most about 1.8e308)
    """
    value = float(token)
    if math.isinf(value):
        raise _Malformed(f"invalid JSON: the number {token[:80]} is too large for a float "
                         "(at most about 1.8e308)")
    return value


#: :func:`json.loads` refusing duplicate keys, NaN/Infinity and numbers overflowing to
#: infinity, as fast: the hook gets the pairs as a list and :class:`dict` builds the
#: object in C, as the default decoder does
_JSON_DECODER = json.JSONDecoder(object_pairs_hook=_refuse_duplicate_keys,
                                 parse_constant=_refuse_non_finite,
                                 parse_float=_finite_float)


def _holds_lone_surrogate(value: object) -> bool:
    """Whether a parsed JSON value holds a string with a lone surrogate (any depth).

    >>> _holds_lone_surrogate(json.loads(r'{"text": "an emoji \\ud83d\\ude00"}'))
    False
    >>> _holds_lone_surrogate(json.loads(r'{"text": "ok", "meta": ["cut \\ud83d"]}'))
    True
    """
    if isinstance(value, str):
        return LONE_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_lone_surrogate(k) or _holds_lone_surrogate(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_lone_surrogate(v) for v in value)
    return False


def _json_labels(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Malformed(f"'labels' must be a list, found {type(value).__name__}")
    labels = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise _Malformed(f"labels must be strings or integers, found {item!r}")
        key = str(item).strip()
        if not key:  # dropped, it hid a typo and shifted a 'scores' list beside it
            raise _Malformed(f"blank label {item!r} in 'labels' ('' or whitespace only): "
                             "each label needs a name or URI; remove it (and its score in "
                             "'scores', if any)")
        labels.append(key)
    return tuple(labels)


def _json_id(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Malformed(f"'id' must be a string or an integer, found {value!r}")
    return str(value)


# -- CSV ----------------------------------------------------------------------------------------
#: a ``<uri>`` in a labels cell: a ``<`` and the ``>`` that closes it, neither between
#: them; a ``,`` or ``;`` inside one is no separator (a ``>`` closing no ``<``, as in
#: ``a, b>c``, ends nothing: the lookahead ``,(?![^<>]*>)`` took it for a URI's end)
_CELL_URI = re.compile(r"<[^<>]*>")
#: a ``<uri>`` in a cell holding a category path: no whitespace inside (a URI holds
#: none), or a step's ``<`` closed at a later step's `` > ``, a ``;`` between them:
#: ``Toys > Under <10; Toys > Dolls`` was read as the URI ``<10; Toys >``
_PATH_CELL_URI = re.compile(r"<[^<>\s]*>")
#: a ``<uri>`` holding a ``,`` or ``;``
_SEPARATOR_IN_URI = re.compile(r"<[^<>;,]*[;,][^<>]*>")
#: a cell of one ``<uri>`` followed by a name holding a ``,`` or ``;``: a label and its
#: name (``<http://x/1> Art, Modern``), which a split cut into ``<http://x/1> Art``
#: and ``Modern``; the name begins with no separator (``<http://x/1> , foo`` is two
#: labels, where ``foo`` was dropped as the URI's name)
_URI_AND_NAME = re.compile(r"\s*(<[^<>\s]+>)\s+[^<>|;,\s][^<>|]*[;,][^<>|]*")
#: a number with thousands separators (``1,000``, ``12,345.5``), split at its commas
#: into labels; ``4,27`` or ``2, 5`` (numeric label ids, as GoEmotions' are) is none
_THOUSANDS = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w.])")
#: a step of a category path (``Electronics > Audio``, as product taxonomies write their
#: categories), a ``>`` between spaces (in a cell whose URIs are masked out)
_PATH_STEP = re.compile(r" > ")


def split_label_cell(cell: str) -> tuple[str, ...]:
    """Split a CSV ``labels`` cell: on ``|`` when present, else on ``;``, else on ``,``
    (as a spreadsheet's users list labels: neither inside a ``<uri>``), else on
    whitespace. ``billing,shipping`` was one label of that name, a label space of its
    own when none was given, and ``billing, shipping`` the label ``billing,``. A cell
    of one ``<uri>`` followed by a name holding a ``,`` or ``;`` is that one label. A
    cell holding a category path (`` > `` outside every ``<uri>``: ``Food, Beverages &
    Tobacco > Beverages``) is split on ``;`` alone, each part one path: at its ``,``
    and spaces it was read as the labels ``Food``, ``Beverages``, ``&``, ``>``, ...
    A part of it holding a ``<uri>`` is no path: its URIs are its labels, the text
    beside them dropped (``<http://x/1> > <http://x/2>``, ``Foo > Bar <http://x/1>``
    were one unknown label each, ``<http://x/1> <http://x/2>; A > B`` the first part;
    :func:`read_csv` warns of text dropped once a file); a ``;`` inside a ``<uri>`` is
    no separator.

    >>> split_label_cell("<http://x/1> <http://x/2>"), split_label_cell("climate change|rain")
    (('<http://x/1>', '<http://x/2>'), ('climate change', 'rain'))
    >>> split_label_cell("billing, shipping"), split_label_cell("climate change; rain, snow")
    (('billing', 'shipping'), ('climate change', 'rain, snow'))
    >>> split_label_cell("<http://x/a,b>,<http://x/c;d>"), split_label_cell("Art, Modern|")
    (('<http://x/a,b>', '<http://x/c;d>'), ('Art, Modern',))
    >>> split_label_cell("<http://x/1> Art, Modern"), split_label_cell("a, b>c")
    (('<http://x/1>',), ('a', 'b>c'))
    >>> split_label_cell("Food, Drinks > Tea"), split_label_cell("A > B; C > D, E")
    (('Food, Drinks > Tea',), ('A > B', 'C > D, E'))
    >>> split_label_cell("<http://x/1> > <http://x/2>"), split_label_cell("<u:1> A > B; C > D")
    (('<http://x/1>', '<http://x/2>'), ('<u:1>', 'C > D'))
    >>> split_label_cell("<http://x/1> <http://x/2>; A > B"), split_label_cell("<u:a;b>; A > B")
    (('<http://x/1>', '<http://x/2>', 'A > B'), ('<u:a;b>', 'A > B'))
    """
    return _split_label_cell(cell)[0]


def _split_label_cell(cell: str) -> tuple[tuple[str, ...], bool, bool]:
    """:func:`split_label_cell`'s labels, whether a split at a ``,`` cut what reads
    as one number with thousands separators (``1,000``: one number, or two labels?),
    and whether text beside ``<uri>``s and a `` > `` was dropped."""
    if "|" in cell:
        return tuple(part.strip() for part in cell.split("|") if part.strip()), False, False
    # the scans below ran on every row, a cell of space-separated <uri>s too, and read
    # a corpus in twice the time: a cell of no separator, or of no '<', needs none
    # ('<http://x/1> <http://x/2>' has no ' > ': such cells are never scanned for <uri>s)
    # (' > ' first, a plain scan: a regex search of every cell of <uri>s, each holding
    # '>', read yso-finna-en's train CSV 17% slower)
    if (" > " in cell and ("<" not in cell
                           or _PATH_STEP.search(_PATH_CELL_URI.sub("x", cell)) is not None)):
        if "<" not in cell:
            return tuple(part.strip() for part in cell.split(";") if part.strip()), False, False
        # a ';' inside a <uri> is no separator ('<http://x/a;b>; A > B' was cut into
        # '<http://x/a' and 'b>'): split where the cell with its URIs blanked out has one
        masked = _PATH_CELL_URI.sub(lambda uri: " " * len(uri.group()), cell)
        parts, start = [], 0
        for piece in masked.split(";"):
            parts.append(cell[start:start + len(piece)].strip())
            start += len(piece) + 1
        # a part holding <uri>s is no category path, a ' > ' between or beside them
        # ('<http://x/1> > <http://x/2>' was one unknown label) or none: its URIs are its
        # labels ('<http://x/1> <http://x/2>; A > B' kept '<http://x/1> <http://x/2>' one
        # unknown label), the text beside them dropped
        labels: list[str] = []
        dropped = False
        for part in parts:
            uris = _PATH_CELL_URI.findall(part)
            if uris:
                labels.extend(uris)
                dropped = dropped or bool(_PATH_CELL_URI.sub(" ", part).replace(",", " ")
                                          .strip())
            elif part:
                labels.append(part)
        return tuple(labels), False, dropped
    if ";" not in cell and "," not in cell:
        return tuple(cell.split()), False, False
    masked = cell
    if "<" in cell:
        named = _URI_AND_NAME.fullmatch(cell)
        if named is not None:
            return (named.group(1),), False, False
        # the separators outside every <uri>: the cell with its URIs blanked out, as long
        # (where one holds a separator)
        if _SEPARATOR_IN_URI.search(cell) is not None:
            masked = _CELL_URI.sub(lambda uri: " " * len(uri.group()), cell)
    for separator in ";,":
        if separator not in masked:
            continue
        if masked is cell:
            parts = [part.strip() for part in cell.split(separator)]
        else:
            parts, start = [], 0
            for piece in masked.split(separator):
                parts.append(cell[start:start + len(piece)].strip())
                start += len(piece) + 1
        numeric = separator == "," and _THOUSANDS.search(masked) is not None
        return tuple(part for part in parts if part), numeric, False
    return tuple(cell.split()), False, False


def _decoded_lines(path: Path) -> Generator[str, None, None]:
    for number, raw in _raw_lines(path, header=True):
        try:
            yield _decode(raw, number)
        except _Malformed as exc:
            raise CorpusFormatError(exc.args[0], path=path, line=number) from None


def _remembering(lines: Iterator[str], last: list[str], head: list[str] | None = None
                 ) -> Iterator[str]:
    """``lines``, each put in ``last[0]`` as it is read; the first two kept in ``head``
    (a header row's first line, below a ``sep=`` line or not)."""
    for line in lines:
        last[0] = line
        if head is not None and len(head) < 2:
            head.append(line)
        yield line


class CorpusLayout(NamedTuple):
    """How a corpus file was written, as :func:`corpus_layout` tells it: what a
    rewritten corpus is written with (:func:`~tagsmith.data.writers.write_records`), so
    that it differs from its input only where its records do."""

    #: a CSV's delimiter (a comma for the other formats)
    delimiter: str
    #: a CSV's Excel ``sep=;`` line as written, None where it has none
    sep_line: str | None
    #: a CSV's header row as written (its names' case and spaces, its columns in their
    #: order), None for the other formats or one that cannot be read
    header: list[str] | None
    #: whether the file starts with a UTF-8 byte-order mark (Excel's "CSV UTF-8"),
    #: which the readers drop
    bom: bool
    #: what the file's rows end with: ``"\r\n"`` (a file written on Windows) or
    #: ``"\r"`` (an old Mac's) where every row of its head ends so, else ``"\n"``
    newline: str


#: the bytes :func:`corpus_layout` reads at a time: a file's head, never the file whole
_LAYOUT_CHUNK = 1 << 16


def corpus_layout(path: str | Path, fmt: str) -> CorpusLayout:
    r"""The layout of the corpus file ``path`` in the format ``fmt`` (``"tsv"``,
    ``"csv"``, ``"jsonl"``), told from one read of its head (64 KiB, more only where its
    first rows are longer): its delimiter, ``sep=`` line and header as the CSV reader
    reads them, its byte-order mark, and its rows' line end. A line break inside a
    quoted CSV cell is no row's end (Excel ends its rows with CRLF and a cell's lines
    with LF), nor is a ``"`` inside an unquoted cell (``5" screen``) a quote. A file of
    mixed line ends is ``"\n"``. The defaults (a comma, no ``sep=`` line, no header, no
    mark, ``"\n"``) for a pipe (read once, by the reader) or a file whose head cannot be
    read (the reader says why).

    >>> import os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "c.csv")
    >>> _ = open(name, "wb").write(b'\xef\xbb\xbfText; labels\r\n"Rain\nall day";rain\r\n')
    >>> corpus_layout(name, "csv")  # doctest: +NORMALIZE_WHITESPACE
    CorpusLayout(delimiter=';', sep_line=None, header=['Text', ' labels'], bom=True,
                 newline='\r\n')
    """
    path = Path(path)
    default = CorpusLayout(",", None, None, False, "\n")
    if _file_state(path) is None:
        return default
    try:
        with open_binary(path) as handle:
            head = handle.read(_LAYOUT_CHUNK)
            whole = len(head) < _LAYOUT_CHUNK
            while True:
                rows = _head_rows(head, whole, fmt == "csv")
                # the sep= line and the header, and a row below them to tell a line end
                if whole or rows is None or len(rows) >= 3:
                    break
                more = handle.read(_LAYOUT_CHUNK)
                head, whole = head + more, len(more) < _LAYOUT_CHUNK
    except (OSError, EOFError, zlib.error, CorpusFormatError):
        return default
    if not rows:
        return default._replace(bom=head.startswith(b"\xef\xbb\xbf"))
    ends = {end for _, end in rows if end}
    newline = ends.pop() if len(ends) == 1 and ends != {"\n"} else "\n"
    if fmt != "csv":
        return CorpusLayout(",", None, None, head.startswith(b"\xef\xbb\xbf"), newline)
    first = rows[0][0]  # the sep= line or the header, of one line as the reader reads it
    delimiter, is_sep = _csv_delimiter(first, _text_columns_given(None))
    sep_line = first.rstrip("\r\n") if is_sep else None
    header: list[str] | None = None
    try:
        cells = list(csv.reader(io.StringIO(first if not is_sep else
                                            rows[1][0] if len(rows) > 1 else ""),
                                delimiter=delimiter, strict=True))
        header = cells[0] if cells else None
    except csv.Error:
        pass
    return CorpusLayout(delimiter, sep_line, header, head.startswith(b"\xef\xbb\xbf"),
                        newline)


def line_end_throughout(path: str | Path, fmt: str, newline: str) -> str:
    r"""``newline`` (:attr:`CorpusLayout.newline`, told from the head of the corpus file
    ``path`` in the format ``fmt``) where every row of the file ends so (its last may
    end in none), else ``"\n"``: what a corpus rewritten in another format ends its
    lines with. A file whose rows end in CRLF up front and LF further on was written
    all CRLF. Read through, row by row as the readers read it (a quoted CSV cell's line
    breaks are no row's end), only where the head's rows end in ``"\r\n"`` or ``"\r"``.

    >>> import os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "c.csv")
    >>> _ = open(name, "wb").write(b'text\r\n"Rain\nall day"\r\nFog\n')
    >>> line_end_throughout(name, "csv", "\r\n")
    '\n'
    """
    if newline == "\n":
        return newline
    end = newline.encode()
    last = [b""]  # the line read last: a row's last line once the row is read

    def remembered(lines: Iterator[tuple[int, bytes]]) -> Iterator[str]:
        for _, raw in lines:
            last[0] = raw
            yield raw.decode("utf-8", "surrogateescape")

    try:
        with contextlib.closing(_raw_lines(Path(path), header=fmt == "csv")) as lines:
            texts = remembered(lines)
            if fmt == "csv":
                first = next(texts, None)
                delimiter = "," if first is None else \
                    _csv_delimiter(first, _text_columns_given(None))[0]
                rows: Iterator[object] = csv.reader(
                    itertools.chain(() if first is None else (first,), texts),
                    delimiter=delimiter, strict=True)
            else:
                rows = texts
            for _ in rows:  # a row's end: none (the last), or the head's
                if last[0].endswith((b"\r", b"\n")) and not last[0].endswith(end):
                    return "\n"
    except (OSError, EOFError, zlib.error, CorpusFormatError, csv.Error):
        return "\n"
    return newline


def _head_rows(head: bytes, whole: bool, quoted: bool) -> list[tuple[str, str]] | None:
    """The whole rows of a file's ``head`` (``whole``: the file), each as its text and
    its line end (``""`` for a last line with none), split as the readers split them;
    ``quoted`` (a CSV): a row spans the lines a quoted cell holds, read as the CSV
    reader reads them. None where the head is no UTF-8 or no CSV."""
    lines = list(split_lines(io.BytesIO(head), header=quoted))
    if lines and not whole:
        lines.pop()  # cut by the head's end (or whole: read again with more)
    try:
        texts = [_decode(raw, number) for number, raw in enumerate(lines, 1)]
    except _Malformed:
        return None
    if not quoted:
        return [(text, text[len(text.rstrip("\r\n")):]) for text in texts]
    rows: list[tuple[str, str]] = []
    consumed = [0]

    def counted() -> Iterator[str]:
        for text in texts:
            consumed[0] += 1
            yield text

    # a quote opens a cell only at its start: the delimiter the reader reads with, told
    # by the text columns it reads (a ';' export of no 'text' was split at commas)
    delimiter = _csv_delimiter(texts[0], _text_columns_given(None))[0] if texts else ","
    reader = csv.reader(counted(), delimiter=delimiter, strict=True)
    done = 0
    try:
        for _ in reader:
            row = "".join(texts[done:consumed[0]])
            rows.append((row, row[len(row.rstrip("\r\n")):]))
            done = consumed[0]
    except csv.Error:
        pass  # a quote left open where the head ends (or malformed: the reader says so)
    return rows


def _csv_records(path: Path, on_error, layout: bool = False,
                 text_columns: tuple[str, ...] | None = None) -> Iterator[Record]:
    refusal = feature_file_error(path)  # its header said "no 'text' column: '3 5 2'"
    if refusal is not None:
        raise refusal
    lines = _decoded_lines(path)
    first = next(lines, None)
    # a spreadsheet's "CSV" where the decimal mark is a comma is ';'-separated, with
    # Excel's "sep=;" line before the header when the file was meant for Excel
    delimiter, sep_line = _csv_delimiter(first, text_columns)
    if text_columns is None and not sep_line and first is not None \
            and delimiter == "," and "text" not in header_names(first, ","):
        # no delimiter gives a 'text' column: refused below, its columns and the ones
        # that seem to hold the text told under the delimiter naming the most of those
        # (a German Excel export, ';'-separated, 'Nr;Betreff;Nachricht', was told its
        # first line must be a header, with no word of Betreff or Nachricht)
        delimiter = header_delimiter(first, TEXT_LIKE_COLUMNS, _text_like_key)
    # strict: a quote left open would otherwise swallow every later line into one
    # field, silently, up to the next quote or the end of the file
    last = [""]  # the line the reader read last: does a row of empty cells quote one?
    head: list[str] = []  # the first lines: the header row's first, shown if no header
    reader = csv.reader(_remembering(itertools.chain(() if first is None else (first,),
                                                     lines), last, head),
                        delimiter=delimiter, strict=True)
    if sep_line:  # read, not dropped, so that reader.line_num counts it
        next_csv_row(reader, path, 1, CorpusFormatError, "record")
    header_line = reader.line_num + 1
    header = next_csv_row(reader, path, header_line, CorpusFormatError, "record")
    if header is None:
        raise CorpusFormatError("empty file, expected a header row with a 'text' column",
                                path=path, line=1)
    if not any(cell.strip() for cell in header):
        raise blank_header_error(reader, path, CorpusFormatError, "text", "record",
                                 first=2 if sep_line else 1)
    # named by its first line, as a row is, and shown so: a header-less file's first
    # document quoted over two lines showed the half on the second ('world",a')
    columns = _csv_columns(header, path, header_line, head[header_line - 1], text_columns)
    # the text's columns, in order, where text_columns names them
    texts = None if text_columns is None else _csv_text_indexes(header, text_columns, path,
                                                                header_line)
    # columns read into no field: the unnamed ones after the first (metadata '')
    unread = tuple(sorted(set(range(len(header))) - set(columns.values())))
    source = str(path)
    numbers: list[tuple[int, str, tuple[str, ...]]] = []  # cells split between numbers
    named: list[tuple[int, str, str]] = []  # cells read as a <uri> and its name
    beside: list[tuple[int, str, tuple[str, ...]]] = []  # <uri>s beside a ' > ' (read so)
    while True:
        start = reader.line_num + 1
        row = next_csv_row(reader, path, start, CorpusFormatError, "record")
        if row is None:
            _warn_numbers_split(path, numbers)
            _warn_names_dropped(path, named)
            _warn_text_beside_uris(path, beside)
            return
        # nor is a row of bare empty cells a record: a spreadsheet saves such rows below
        # the data (",,,"), which were documents with no text and no labels, trained on;
        # a quoted one ('"",,', as tagsmith writes a document of no text, labels or id)
        # is a document (a row spanning lines quotes a cell on its last line)
        if not any(cell.strip() for cell in row) and '"' not in last[0]:
            continue
        try:
            yield _csv_record(row, columns, len(header), start, source, unread, numbers,
                              named, beside, layout, texts)
        except _Malformed as exc:
            on_error(CorpusFormatError(exc.args[0], path=path, line=start))


def _first_warning(kind: str, path: Path, cells: list[tuple]) -> bool:
    """Whether to warn of ``cells`` (``(line, ...)`` tuples) of the ``kind`` found in
    ``path``: some were found, and not already warned of for the same unchanged file
    (read for its labels, then for its data)."""
    if not cells:
        return False
    key = (kind, str(path), _modified(path), len(cells), cells[0][0])
    if key in _WARNED:
        return False
    _WARNED.add(key)
    return True


def _warn_names_dropped(path: Path, named: list[tuple[int, str, str]]) -> None:
    """Warn once a file is read (once for the same unchanged file) of its labels cells
    of a ``<uri>`` and a name holding a ``,`` or ``;`` (``_URI_AND_NAME``): read as that
    one label, the name dropped, where ``<http://x/1> climate, rain`` may mean ``rain``
    as a label of its own. Read so still: a cell's reading does not depend on the
    vocabulary (``Art, Modern`` would split where ``Modern`` is a label)."""
    if not _first_warning("names", path, named):
        return
    line, cell, uri = named[0]
    n = len(named)
    name = cell[cell.index(uri) + len(uri):]  # a ',' inside the <uri> separates nothing
    separator = min((c for c in ",;" if c in name), key=name.index)
    example = f"{uri}|{name.split(separator, 1)[1].strip()}"
    logger.warning("%s: %s labels cell%s of a <URI> and a name holding a ',' or ';' %s read "
                   "as that one label, the name dropped (first: line %d, %r read as the "
                   "label %r); if what follows the %r is a label of its own, separate the "
                   "labels with '|': %r", path, f"{n:,}", plural_s(n), plural(n, "was", "were"),
                   line, cell.strip(), uri, separator, example)


def _warn_text_beside_uris(path: Path, beside: list[tuple[int, str, tuple[str, ...]]]
                           ) -> None:
    """Warn once a file is read (once for the same unchanged file) of its labels cells
    holding ``<uri>``s and a `` > `` outside them (``<http://x/1> > <http://x/2>``,
    ``<http://x/1> Foo > Bar``): no category path, read as their URIs, the text beside
    them dropped."""
    if not _first_warning("beside", path, beside):
        return
    line, cell, labels = beside[0]
    n = len(beside)
    logger.warning("%s: %s labels cell%s of <URI>s and a ' > ' outside them %s read as "
                   "the URIs, the text beside them dropped (first: line %d, %r read as "
                   "%s): a category path holds no <URI>; separate labels with '|'", path,
                   f"{n:,}", plural_s(n), plural(n, "was", "were"), line, cell.strip(),
                   ", ".join(map(repr, labels)))


def _warn_numbers_split(path: Path, numbers: list[tuple[int, str, tuple[str, ...]]]
                        ) -> None:
    """Warn once a file is read (not again for the same unchanged file, read for its
    labels and then its data) of its labels cells split at the commas of what reads as
    one number with thousands separators: ``1,000`` is the labels ``1`` and ``000`` by
    the cell's rule (a comma separates labels), where a spreadsheet may have written
    one number so (``4,27`` or ``2, 5``, numeric label ids, is not warned about)."""
    if not _first_warning("numbers", path, numbers):
        return
    line, cell, labels = numbers[0]
    n = len(numbers)
    logger.warning("%s: %s labels cell%s split at a comma between numbers (first: line %d, "
                   "%r read as the labels %s): a comma separates labels; if it is one "
                   "number's thousands separator, write the number without it (or end the "
                   "cell with '|': '1,000|' is one label)", path, f"{n:,}", plural_s(n), line,
                   cell, ", ".join(map(repr, labels)))


#: column names (lower case, spaces as ``_``) that hold a document's text in exports
#: of helpdesks, CRMs and surveys: a header of no ``text`` column naming some of them
#: is told which, where it was told that a header must come first
TEXT_LIKE_COLUMNS = frozenset((
    "subject", "body", "description", "message", "content", "comment", "comments",
    "title", "summary", "question", "answer", "review", "note", "notes", "details",
    "ticket", "ticket_body", "ticket_subject", "issue", "feedback", "response",
    "html_body", "plain_body", "text_body", "email_body", "abstract", "email_text",
    "e_mail_text", "e_mail_body",
    # the same in the languages of the exports tagsmith's users send (a German
    # helpdesk's "Betreff,Nachricht" was told to put a header first)
    # German
    "betreff", "nachricht", "inhalt", "beschreibung", "kommentar", "titel",
    "zusammenfassung", "frage", "antwort", "notiz", "bemerkung",
    # French
    "texte", "sujet", "objet", "corps", "contenu", "commentaire", "titre", "résumé",
    "réponse", "remarque",
    # Spanish
    "texto", "asunto", "cuerpo", "mensaje", "contenido", "descripción", "descripcion",
    "comentario", "título", "titulo", "resumen", "pregunta", "respuesta", "nota",
    # Finnish
    "teksti", "otsikko", "viesti", "aihe", "sisältö", "kuvaus", "kommentti",
    "tiivistelmä", "kysymys", "vastaus", "palaute",
    # Swedish
    "ämne", "meddelande", "innehåll", "beskrivning", "kommentar", "rubrik",
    "sammanfattning", "fråga", "svar", "brödtext"))


def _header_name(name: str) -> str:
    """A header's column ``name`` as the text columns are matched by: NFC (macOS writes
    ``Ämne`` as ``A`` and a combining diaeresis), stripped and lower-case."""
    return unicodedata.normalize("NFC", name).strip().lower()


def _text_like_key(name: str) -> str:
    """A header's column ``name`` as :data:`TEXT_LIKE_COLUMNS` holds it: :func:`_header_name`,
    a space or ``-`` as ``_`` (``Ticket-Body``, ``Ticket Body``: ``ticket_body``)."""
    return _header_name(name).replace("-", "_").replace(" ", "_")


def text_columns_hint(names: Sequence[str], what: str) -> str:
    """The advice of a CSV header (``what``: "column") or a JSONL object ("key") with no
    ``text``, naming its ``names`` that seem to hold the text: ``text`` in another case
    (a JSONL key ``Text``), else those of :data:`TEXT_LIKE_COLUMNS`; "" for none.

    >>> text_columns_hint(["id", "Text", "body"], "key").split(": ")[1]
    "read it with text_columns Text, or rename that key 'text'"
    """
    texts = [name for name in names if _header_name(name) == "text"] or \
        [name for name in names if _text_like_key(name) in TEXT_LIKE_COLUMNS]
    if len(texts) == 1:
        return (f"; the documents' text seems to be in {texts[0]!r}: read it with "
                f"text_columns {pasted_text_columns(texts)}, or rename that {what} 'text'")
    if texts:
        return (f"; the documents' text seems to be in "
                f"{', '.join(repr(name) for name in texts)}: read them joined with "
                f"text_columns {pasted_text_columns(texts)} (README, \"Recipe: tickets "
                f"from a helpdesk export\", also cleans them), or rename the one {what} "
                "that holds it 'text'")
    return ""


class NoTextColumnError(CorpusFormatError):
    """A CSV corpus whose header names no ``text`` column; ``columns``: the header's
    names, stripped and lower-case (``uri`` among them: a CSV vocabulary's header, which
    the message says; ``tagsmith.cli.commands.refuse_csv_vocabulary`` names the command's
    argument taking it). ``first_line``: the header line as read, shown where the header
    is no vocabulary's: a file of no header row (its first document read as the header)
    was refused as "no 'text' column", with no word that a header must come first."""

    def __init__(self, columns: list[str], path: Path, line: int = 1,
                 first_line: str | None = None) -> None:
        found = ", ".join(repr(name) for name in columns) or "none"
        self.columns = [name.lower() for name in columns]
        # a helpdesk, CRM or survey export: its header is a header, which the message
        # below told to come first
        hint = text_columns_hint(columns, "column")
        if "uri" in self.columns:
            more = " (a 'uri' column and no 'text': a CSV vocabulary's header, not a corpus's)"
        elif hint:
            more = hint
        elif first_line is not None:
            shown = first_line.rstrip("\r\n")
            shown = shown if len(shown) <= 200 else shown[:200] + "..."
            # below Excel's sep= line the header is line 2, not the first
            where = "the first line" if line == 1 else "the line after the sep= line"
            more = (f"; {where} must be a header naming the columns ('text', "
                    "optionally 'labels' and 'id'; or others, the text's named with "
                    "text_columns), then a document a line; line "
                    f"{line} reads {shown!r}")
        else:
            more = ""
        super().__init__(f"no 'text' column in the header; found columns: {found}{more}",
                         path=path, line=line, parameters=("text_columns",))


def _csv_delimiter(first: str | None, text_columns: Sequence[str] | None) -> tuple[str, bool]:
    """:func:`csv_delimiter` of a CSV corpus whose first line is ``first``, read with
    ``text_columns``: told by its ``text`` column, or where the columns are named, by
    the delimiter naming the most of them and ``text`` (a file of none of them is read
    by its ``text``: :func:`_csv_text_indexes`)."""
    if not text_columns:
        return csv_delimiter(first, "text")
    delimiter, is_sep = csv_delimiter(first, text_columns[0].lower())
    if is_sep or first is None:
        return delimiter, is_sep
    return header_delimiter(first, frozenset({"text", *map(_header_name, text_columns)}),
                            _header_name), False


def _csv_text_indexes(header: list[str], text_columns: tuple[str, ...], path: Path,
                      line: int) -> tuple[int, ...] | None:
    """The positions of ``text_columns`` in a CSV ``header`` (a name as written, else in
    any case); a name it lacks is an error naming the columns it has, but for a header
    with none of them and a ``text`` column: None, its text read from ``text``."""
    names = [unicodedata.normalize("NFC", name.strip()) for name in header]
    lowered = [name.lower() for name in names]
    found: list[int] = []
    missing: list[str] = []
    for given in text_columns:
        name = unicodedata.normalize("NFC", given)
        if names.count(name) > 1:  # the first was read, the other left out silently
            twins = [header[i].strip() for i, other in enumerate(names) if other == name]
            raise CorpusFormatError(
                f"the columns {', '.join(f'{t!r} (written {ascii(t)})' for t in twins)} of "
                f"the header are one name in Unicode NFC (composed and decomposed), the "
                f"column {given!r} text_columns names: which holds the text cannot be "
                "told; rename one of them", path=path, line=line, parameters=("text_columns",))
        if name not in names and lowered.count(name.lower()) > 1:
            # 'Subject,subject' and SUBJECT: the first was read, the other left out silently
            cases = [header[i].strip() for i, other in enumerate(lowered)
                     if other == name.lower()]
            raise CorpusFormatError(
                f"the columns {', '.join(repr(c) for c in cases)} of the header differ only "
                f"in case, and the column {given!r} text_columns names is neither as "
                "written: which holds the text cannot be told; give one as written",
                path=path, line=line, parameters=("text_columns",))
        i = names.index(name) if name in names else \
            lowered.index(name.lower()) if name.lower() in lowered else None
        if i is None:
            missing.append(given)
        elif i not in found:  # 'subject,Subject': one column, its text read once
            found.append(i)
    if not found and "text" in lowered:  # a file of the other kind: read by its 'text'
        _read_by_its_text(path, text_columns, "column")
        return None
    if missing:
        raise _missing_text_columns(missing, [name for name in names if name], text_columns,
                                    path, "column", line)
    if "text" in lowered and not any(lowered[i] == "text" for i in found):
        raise _missing_text_columns_text(text_columns, path, line)
    return tuple(found)


def _csv_columns(header: list[str], path: Path, line: int = 1,
                 first_line: str | None = None,
                 text_columns: tuple[str, ...] | None = None) -> dict[str, int]:
    """The columns of a corpus's ``header`` (on ``line``: 2 below a ``sep=`` line;
    ``first_line``, the line as read, for the error of a file with no header row);
    ``text_columns``: the columns holding the text, where it is no ``text`` column."""
    names = [name.strip() for name in header]
    lowered = [name.lower() for name in names]
    if "text" not in lowered and text_columns is None:
        raise NoTextColumnError(names, path, line, first_line)
    columns: dict[str, int] = {}
    for i, name in enumerate(names):
        key = lowered[i] if lowered[i] in ("text", "labels", "id") else name
        if key in columns and key:
            # the cells under one of the two would be lost, silently
            j = columns[key]
            raise CorpusFormatError(f"columns {j + 1} ({header[j]!r}) and {i + 1} "
                                    f"({header[i]!r}) of the header are both {key!r}; "
                                    "rename or remove one", path=path, line=line)
        columns.setdefault(key, i)
    return columns


def _csv_record(row: list[str], columns: dict[str, int], width: int, line: int,
                source: str, unread: tuple[int, ...] = (),
                numbers: list[tuple[int, str, tuple[str, ...]]] | None = None,
                named: list[tuple[int, str, str]] | None = None,
                beside: list[tuple[int, str, tuple[str, ...]]] | None = None,
                layout: bool = False, texts: tuple[int, ...] | None = None) -> Record:
    """The record of a CSV ``row``; a labels cell split at a comma between numbers is
    added to ``numbers`` (its line, the cell and its labels), one read as a ``<uri>``
    and its name to ``named`` (its line, the cell and the URI), one of ``<uri>``s
    whose text beside a `` > `` was dropped to ``beside`` (its line, cell and labels).
    Its :attr:`Record.label_joiner` is worked out only with ``layout``; ``texts``: the
    columns its text is joined from (:func:`_joined_text`), where not ``text``'s."""
    if len(row) != width:
        raise _Malformed(f"expected {width} column{plural_s(width)} as in the header, "
                         f"found {len(row)}")
    for i in unread:
        if row[i].strip():
            raise _Malformed(f"a value in column {i + 1}, which the header leaves unnamed "
                             f"as it does column {columns[''] + 1}; name the columns")
    labels: tuple[str, ...] = ()
    joiner = None
    if "labels" in columns:
        labels, numeric, dropped = _split_label_cell(row[columns["labels"]])
        if numeric and numbers is not None:
            numbers.append((line, row[columns["labels"]], labels))
        if dropped and beside is not None:
            beside.append((line, row[columns["labels"]], labels))
        cell = row[columns["labels"]]
        # (a cell of no ',' or ';', one <uri>, is not searched: the search of every such
        # cell read yso-finna-en's train split as CSV 4% slower)
        if named is not None and len(labels) == 1 and "<" in cell and "|" not in cell \
                and ("," in cell or ";" in cell) and _URI_AND_NAME.fullmatch(cell):
            named.append((line, cell, labels[0]))
        if layout:  # apply-review's alone: worked out for every row, it cost readers 10%
            joiner = _label_joiner(cell, labels)
    doc_id = (row[columns["id"]].strip() or None) if "id" in columns else None
    metadata = {name: row[i] for name, i in columns.items() if name not in ("text", "labels", "id")}
    text = row[columns["text"]].strip() if texts is None else \
        _joined_text([row[i] for i in texts])
    return Record(text, labels, doc_id, line, source,
                  MappingProxyType(metadata) if metadata else _EMPTY, label_joiner=joiner)


def _label_joiner(cell: str, labels: tuple[str, ...]) -> str | None:
    """What ``cell`` puts between its first two ``labels`` (:attr:`Record.label_joiner`),
    ``"|"`` for one label written with a ``|``, else None.

    >>> _label_joiner("a | b|c", ("a", "b", "c")), _label_joiner("x|", ("x",))
    (' | ', '|')
    >>> _label_joiner("a", ("a",)) is None, _label_joiner("<u:1> Art, Modern", ("<u:1>",))
    (True, None)
    """
    if len(labels) < 2:
        return "|" if labels and "|" in cell else None
    end = cell.find(labels[0]) + len(labels[0])
    start = cell.find(labels[1], end)
    return cell[end:start] if start > end else None


# -- document directories -----------------------------------------------------------------------
#: the suffixes a document directory's files are found by, exactly as written
_DIRECTORY_SUFFIXES = (".txt", ".tsv", ".key")


def directory_files(path: str | Path, *, warn: bool = True) -> list[Path]:
    """The documents of a document folder, as :func:`read_directory` reads them: its
    ``*.txt`` files (exact suffix, not hidden), sorted by name. ``warn``: log one
    warning for files ending in ``.txt``, ``.tsv`` or ``.key`` in another case, which
    are not read (off for a caller that only checks the folder before reading it)."""
    path = Path(path)
    files, sidecars, jsons, others = _list_documents(path)
    if warn:
        stems = _document_stems(files, others)
        _warn_other_case(path, stems, others)
        _warn_unread_corpora(path, files, stems, sidecars, others)
        _warn_json_documents(path, files, _annif_json_count(path, jsons))
    return files


def annif_json_folder(path: str | Path, n_json: int, said: str = "holds") -> str:
    """What to say of the folder ``path`` holding ``n_json`` ``.json`` files (``said``
    of them): Annif's JSON document corpus (one ``.json`` file a document), which
    tagsmith reads no more than Annif's JSON Lines, and the command writing it as one
    JSONL corpus.

    >>> annif_json_folder("docs", 2)[:60]
    "holds 2 .json files, Annif's JSON document corpus (one .json"
    """
    files = f"{n_json:,} .json file{plural_s(n_json)}"
    return (f"{said} {files}".lstrip() + ", Annif's JSON document corpus (one .json file "
            "a document), which tagsmith does not read in a folder: write them as one JSON "
            f"Lines corpus: {ANNIF_FOLDER_JQ} {shell_path(path)}/*.json > corpus.jsonl")


def json_file_count(path: str | Path) -> int:
    """How many ``.json`` files (not hidden) the folder ``path`` holds beside its
    documents that are Annif's JSON documents, which are not read
    (:func:`annif_json_folder`; 0 where they are not: :func:`_annif_json_count`)."""
    path = Path(path)
    return _annif_json_count(path, _list_documents(path)[2])


#: how an Annif JSON document begins: an object whose first key is one of its schema's
#: (a JSON-LD's is "@context", "@graph" or "@id"; a vocabulary's its own)
_ANNIF_JSON_START = re.compile(rb'\s*\{\s*"(?:text|subjects|document_id|metadata)"\s*:')


def _annif_json_count(path: Path, jsons: list[str], sample: int = 20) -> int:
    """``len(jsons)``, the ``.json`` files of the folder ``path``, where one of the first
    ``sample`` (by name) begins as an Annif JSON document does (its head read); else 0.
    Any .json was called Annif's document corpus, its jq conversion given: a folder
    corpus's vocabulary or JSON-LD beside its documents drew that warning at every read."""
    for name in sorted(jsons)[:sample]:
        try:
            with open(path / name, "rb") as handle:
                head = handle.read(4096)
        except OSError:
            continue
        if _ANNIF_JSON_START.match(head.removeprefix(b"\xef\xbb\xbf")):
            return len(jsons)
    return 0


#: the names of files a document folder's reader leaves unread that are corpora or
#: documents a line themselves (and so is a ``.tsv`` beside no ``.txt``: no label sidecar),
#: in any case: a Windows export's train.CSV was left out without a word
_UNREAD_CORPUS = re.compile(r"\.(?:tsv|csv|jsonl|ndjson|txt)\.gz$|\.(?:csv|jsonl|ndjson)$",
                            re.IGNORECASE)


def _orphan_tsv(name: str, stems: set[str]) -> bool:
    """Whether ``name`` ends in ``.tsv`` (in any case) beside no document of its stem: a
    corpus, no label sidecar (renaming it would not have it read)."""
    return name[-4:].lower() == ".tsv" and name[:-4] not in stems


def _document_stems(files: list[Path], others: list[str]) -> set[str]:
    """The stems of the folder's documents (``a`` of ``a.txt``) and of its ``.txt`` files
    in another case (``b`` of ``b.TXT``, read once renamed), built once for both folder
    warnings, which built it each: a ``.tsv`` or ``.key`` of another stem, in any case, is
    beside no document (a ``.tsv`` is then a corpus, :func:`_orphan_tsv`).

    >>> sorted(_document_stems([Path("d/a.txt")], ["b.TXT", "c.KEY", "x.csv"]))
    ['a', 'b']
    """
    stems = {txt.name[:-4] for txt in files}
    stems.update(name[:-4] for name in others if name[-4:].lower() == ".txt")
    return stems


def _warn_unread_corpora(path: Path, files: list[Path], stems: set[str],
                         sidecars: dict[str, os.DirEntry], others: list[str]) -> None:
    """One warning naming the corpus files (TSV, CSV, JSONL, each perhaps ``.gz``) beside
    the folder's ``.txt`` documents, which are not read. ``suggest B data/goemotions``
    tagged its ``labels.txt`` as the one document ``labels`` and said nothing of the
    ``train.tsv.gz``, ``dev.tsv.gz`` and ``test.tsv.gz`` beside it."""
    if not files:
        return
    # told by their names alone, none stat'ed: a sidecar of no document may be a link
    # into a folder the user may not look into (its PermissionError ended the reading)
    unread = [name for name in sidecars if name.endswith(".tsv") and name[:-4] not in stems]
    # ``others`` from :func:`_list_documents`' one listing: a second listing of the folder
    # here made listing 30,000 files 40% slower
    unread += [name for name in others if _UNREAD_CORPUS.search(name)
               or _orphan_tsv(name, stems)]
    if not unread:
        return
    unread.sort()
    count, n_docs = len(unread), len(files)
    logger.warning("%s: %s .txt file%s read as %s, not the %s file%s beside %s (%s%s): a "
                   "folder's documents are its .txt files, each read whole; give a file "
                   "by its path to read a document a line (a CSV or JSONL corpus a record)",
                   path, f"{n_docs:,}", plural_s(n_docs),
                   plural(n_docs, "one document", f"{n_docs:,} documents"), f"{count:,}",
                   plural_s(count), plural(n_docs, "it", "them"), ", ".join(unread[:4]),
                   ", ..." if count > 4 else "")


def _warn_json_documents(path: Path, files: list[Path], n_json: int) -> None:
    # Annif reads a folder's .json documents after its .txt ones: they were left out
    # without a word (a folder of .json alone held "no documents")
    if files and n_json:
        logger.warning("%s: its .txt documents read, not its %s", path,
                       annif_json_folder(path, n_json, said=""))


def _list_documents(path: Path) -> tuple[list[Path], dict[str, os.DirEntry], list[str],
                                         list[str]]:
    """:func:`directory_files`' documents of the folder ``path``, the listed entries
    named as label sidecars (``.tsv``, ``.key``), the names of its ``.json`` files
    (perhaps Annif's JSON documents, which are not read), and the names of its other files
    its checks warn about (:data:`_UNREAD_CORPUS`, or ending in ``.txt``, ``.tsv`` or
    ``.key`` in another case), from one listing. Whether a sidecar
    is a file is asked when its document is read (:func:`_sidecar_labels`): one beside
    no document (``notes.tsv``, a link into a folder that may not be looked into) is
    never asked about, and the checks' listings stat no sidecar that is a link."""
    # listed, its files' is_file() raised a bare PermissionError (Python 3.11)
    check_may_look_into(path)
    # the listing's entries know their type: Path.is_file() asked the file system once
    # per file (os.stat), and a folder is listed several times before it is read (its
    # checks, then the reading), 7 stats a document (slow on a network file system); a
    # DirEntry stats only where the listing does not tell (a link, some file systems).
    # The sidecars too: a .tsv then a .key looked up beside each document was up to 2
    # stats a document more as the folder was read
    names: list[str] = []
    sidecars: dict[str, os.DirEntry] = {}
    jsons: list[str] = []  # perhaps Annif's JSON documents, which are not read
    others: list[str] = []  # for the checks' warnings, which listed the folder again each
    with os.scandir(path) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if name.endswith(".txt"):
                if _is_file(entry):
                    names.append(name)
            elif name.endswith((".tsv", ".key")):
                sidecars[name] = entry
            elif name.endswith(".json"):
                if _is_file(entry):
                    jsons.append(name)
            elif (_UNREAD_CORPUS.search(name)
                  or os.path.splitext(name)[1].lower() in _DIRECTORY_SUFFIXES):
                others.append(name)
    return [path / name for name in sorted(names)], sidecars, jsons, others


#: the errors of a listed entry's stat that say it is no file, as Path.is_file() takes
#: them (Python 3.11): DirEntry.is_file() raises all but ENOENT
_NO_FILE_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})


def _is_file(entry: os.DirEntry) -> bool:
    """Whether a listed entry is a file (through a link too): a link that loops (ELOOP)
    is none, as Path.is_file() said, where DirEntry.is_file() raised OSError, a
    traceback for the whole folder."""
    try:
        return entry.is_file()
    except OSError as exc:
        if exc.errno in _NO_FILE_ERRNOS:
            return False
        raise


def _warn_other_case(path: Path, stems: set[str], others: list[str]) -> None:
    # documents and their sidecars are found by exact suffix: 'a.TXT' (a Windows export)
    # or a sidecar 'a.Tsv' was left out without a word; one warning for the folder. A
    # '.TSV' or '.KEY' beside no document (of its stem in any case: ``stems``) would not
    # be read once renamed, as this warning said: a '.TSV' is a corpus
    # (:func:`_warn_unread_corpora`), a '.KEY' goes unsaid as a '.key' beside none does
    other_case = sorted(name for name in others
                        if os.path.splitext(name)[1].lower() in _DIRECTORY_SUFFIXES
                        and (name[-4:].lower() == ".txt" or name[:-4] in stems))
    if other_case:
        count = len(other_case)
        logger.warning("%s: %s file%s ending in .txt, .tsv or .key in another case not read "
                       "(%s%s); documents are the files ending in .txt, their labels in "
                       ".tsv or .key: rename %s", path, f"{count:,}", plural_s(count),
                       ", ".join(map(repr, other_case[:3])), ", ..." if count > 3 else "",
                       plural(count, "it", "them"))


def _directory_records(path: Path, on_error) -> Iterator[Record]:
    # documents with no sidecar were read as unlabelled without a word: one warning
    # once the folder is read, unless none has one (no document names a label then,
    # which training refuses, naming the folder's layout)
    n_read, no_sidecar = 0, []
    files, sidecars, jsons, others = _list_documents(path)
    n_json = _annif_json_count(path, jsons)
    stems = _document_stems(files, others)
    _warn_other_case(path, stems, others)
    if not files and n_json:  # was "no documents in the corpus"
        raise CorpusFormatError(annif_json_folder(path, n_json), path=path)
    _warn_json_documents(path, files, n_json)
    _warn_unread_corpora(path, files, stems, sidecars, others)
    escaped: dict[str, str] = {}  # the ids holding a '\\' and their files' names
    for index, txt in enumerate(files, 1):
        doc_id = document_id(txt)
        clash = id_clash(escaped, txt, doc_id)
        if clash is not None:
            on_error(CorpusFormatError(clash, path=path, line=index))
            continue
        try:
            text = _read_utf8(txt)
            labels = _sidecar_labels(txt, sidecars)
        except _Malformed as exc:
            error = FileGoneError if isinstance(exc, _Gone) else CorpusFormatError
            on_error(error(f"{txt.name}: {exc.args[0]}", path=path, line=index))
            continue
        n_read += 1
        if labels is None:
            no_sidecar.append(txt.name)
        yield Record(text.strip(), labels or (), doc_id, index, str(txt))
    if 0 < len(no_sidecar) < n_read:
        count = len(no_sidecar)
        logger.warning("%s: %s of %s documents %s no label file (first: %s) and %s read as "
                       "unlabelled; a document's labels go in a file beside it with its "
                       "name ending in .tsv or .key instead of .txt", path, f"{count:,}",
                       f"{n_read:,}", plural(count, "has", "have"), no_sidecar[0],
                       plural(count, "is", "are"))


def document_id(path: Path) -> str:
    r"""The id of the folder document ``path``: its file's stem, where a name's bytes
    that are not UTF-8 (Python reads them as lone surrogates) are written ``\xNN``, as
    Python's ``backslashreplace`` writes them. The raw byte went into JSON output (a
    file no UTF-8 reader could read) or failed the writer; written so, the id is text
    and still tells the file's name byte for byte.

    >>> import os
    >>> document_id(Path("a.txt")), document_id(Path(os.fsdecode(b"caf\xe9.txt")))
    ('a', 'caf\\xe9')
    """
    stem = path.stem
    if LONE_SURROGATE.search(stem) is None:
        return stem
    return stem.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def id_clash(escaped: dict[str, str], path: Path, doc_id: str) -> str | None:
    r"""Why the folder document ``path``, of the id ``doc_id``, cannot be read, where an
    earlier one of its folder has that id (``escaped``: the ids holding a ``\`` seen,
    and their files' names; ``path``'s added), else None. caf<0xe9>.txt's id is that of
    a file named caf\xe9.txt: two documents of one id, refused by the audit as if the
    folder had an id column, by suggest naming caf\udce9.txt."""
    if "\\" not in doc_id or escaped.setdefault(doc_id, path.name) == path.name:
        return None
    return (f"{_bytes_name(path.name)}: its id '{doc_id}' is that of "
            f"{_bytes_name(escaped[doc_id])} too (a name's bytes that are not UTF-8 are "
            "written \\xNN in its document's id): rename one of them")


def _bytes_name(name: str) -> str:
    r"""A file's ``name`` quoted, byte for byte: a byte that is not UTF-8 written
    ``\xNN``, a backslash ``\\`` (``'caf\xe9.txt'`` and ``'caf\\xe9.txt'`` told apart).

    >>> import os
    >>> print(_bytes_name(os.fsdecode(b"caf\xe9.txt")), _bytes_name("caf\\xe9.txt"))
    'caf\xe9.txt' 'caf\\xe9.txt'
    """
    return repr(os.fsencode(name))[1:]


def _read_utf8(path: Path, what: str | None = None) -> str:
    """The text of the folder's file ``path``; ``what`` names it in an error where it
    is not the document itself (``its label file a.tsv``). A file deleted after the
    folder was listed (another process tidying up) is malformed, as a document that is
    no UTF-8 is (refused, or skipped and counted), and one that cannot be read is
    refused naming it: both were tracebacks."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        gone = "deleted after the folder was listed"
        raise _Gone(f"{what} was {gone}" if what else gone) from None
    except OSError as exc:
        raise CorpusFormatError(f"cannot be read ({exc.strerror or exc})",
                                path=path) from None
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        # a label file's bad byte was reported as the document's ("a.txt: not valid
        # UTF-8"), whose own bytes were fine: the file to fix is named
        number, reason = not_utf8_in_text(raw, exc)
        bad = reason.replace("not valid UTF-8 (", f"not valid UTF-8 in line {number} (", 1)
        raise _Malformed(f"{what} is {bad}" if what else bad) from exc


_LINE_END = re.compile(r"\r\n|\r|\n")


def _sidecar_labels(txt: Path, sidecars: dict[str, os.DirEntry]) -> tuple[str, ...] | None:
    """The labels of ``txt``'s sidecar, the first of ``.tsv`` and ``.key`` among the
    files of ``sidecars``, its folder's entries so named; None without one (an empty
    one names none)."""
    for suffix in (".tsv", ".key"):
        sidecar = txt.with_suffix(suffix)
        entry = sidecars.get(sidecar.name)
        if entry is not None and _is_file(entry):
            # split at line ends only, as Annif reads it: splitlines also cuts at form
            # feeds, U+2028 and other separators inside a label's name, whose pieces
            # then read as label keys of their own
            return tuple(_first_columns(_LINE_END.split(
                _read_utf8(sidecar, f"its label file {sidecar.name}"))))
    return None


def _first_columns(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        key = line.split("\t", 1)[0].strip()
        if key:
            yield key


def unencodable(exc: UnicodeEncodeError, path: str | Path, line: int | None
                ) -> CorpusFormatError:
    """The error for a document a writer cannot encode as UTF-8 (a lone surrogate, half
    of a character cut in two, from a str made in Python), naming where it came from."""
    bad = exc.object[exc.start:exc.end]
    return CorpusFormatError(f"cannot be written as UTF-8: {bad!r} is half of a character "
                             "cut in two (a lone surrogate), not valid Unicode",
                             path=path, line=line)


_READERS = {"tsv": read_tsv, "csv": read_csv, "jsonl": read_jsonl, "dir": read_directory}
_BREAKS = re.compile(r"[\t\r\n]")


def one_line(text: str) -> str:
    """``text`` with tabs and line breaks replaced by spaces, for one TSV line.

    >>> one_line("a\\tb\\r\\nc")
    'a b  c'
    """
    return _BREAKS.sub(" ", text)


def is_lone_uri(text: str) -> bool:
    """Whether ``text`` is one bracketed ``<URI>`` and nothing else (blanks aside): a
    vocabulary line's first column, read as a document's text."""
    return _LONE_URI.fullmatch(text) is not None


def check_not_a_vocabulary(texts: Sequence[str], path: str | Path, *,
                           vocab_option: str | None = "--vocab",
                           labelled: bool | None = None) -> None:
    """Refuse, naming ``path``, a corpus of documents whose every text is a lone
    ``<URI>``: a vocabulary TSV (``<uri>`` TAB name) read as a corpus, each URI labelled
    by its own name. eval reported metrics on it, calibrate replaced a bundle's stored
    calibration split with it after a "few documents" warning, and the audit audited
    it. No documents is not this error (the callers name that one). ``vocab_option``:
    the command's option that takes a vocabulary (``taxonomy`` has ``--map-to``, no
    ``--vocab``); None for a command reading documents for a bundle, which holds its
    vocabulary (suggest, shift; eval and calibrate, with ``labelled``: see
    :func:`vocabulary_refused`). The option is named while a command runs
    (:func:`tagsmith._surface.said`); a Python caller is told ``load_vocabulary``.

    >>> from tagsmith._surface import command_line
    >>> try:
    ...     with command_line():
    ...         check_not_a_vocabulary(["<u:a>"], "v.tsv", vocab_option="--map-to")
    ... except DataError as exc:
    ...     print(str(exc).split("(")[1].split(";")[0])
    give it as --map-to
    """
    if texts and all(is_lone_uri(text) for text in texts):
        raise vocabulary_refused("every document's text is a lone <URI>", path,
                                 vocab_option=vocab_option, labelled=labelled)


def skipped_count(n_skipped: int, n_missing: int = 0) -> str:
    """How many entries ``on_error="skip"`` skipped, worded for a message: ``n_skipped``
    counts them all, ``n_missing`` those that were a folder's files deleted after it was
    listed (:class:`FileGoneError`), which are no malformed lines: no line of them was
    read. Empty when none was skipped.

    >>> skipped_count(3), skipped_count(1, 1), skipped_count(3, 1)
    ('3 malformed lines skipped', '1 file skipped that went missing', \
'2 malformed lines skipped, 1 file skipped that went missing')
    """
    malformed = n_skipped - n_missing
    parts = []
    if malformed:
        parts.append(f"{malformed:,} malformed line{plural_s(malformed)} skipped")
    if n_missing:
        parts.append(f"{n_missing:,} file{plural_s(n_missing)} skipped that went missing")
    return ", ".join(parts)


def no_documents(path: str | Path, n_skipped: int = 0, n_missing: int = 0,
                 first: tuple[int | None, str] | None = None, *,
                 what: str = "no documents in the corpus") -> DataError:
    """The error refusing the corpus at ``path`` that holds no document (empty, or every
    line malformed and ``n_skipped`` of them skipped, ``n_missing`` of those a folder's
    files gone missing: :func:`skipped_count`): nothing can be trained, evaluated,
    calibrated or reviewed on it (train, eval, calibrate, apply-review). ``first``, the
    first malformed line's ``(line, reason)``, says what the lines were (a file in
    another format: what it looks like, how to convert it), where only the warning did,
    which ``-q`` hides.

    >>> print(no_documents("c.tsv", 3))
    c.tsv: no documents in the corpus (3 malformed lines skipped)
    >>> print(no_documents("docs", 1, 1))
    docs: no documents in the corpus (1 file skipped that went missing)
    >>> print(no_documents("c.tsv", 2, first=(1, "empty text")))
    c.tsv: no documents in the corpus (2 malformed lines skipped; first at line 1: empty text)
    """
    skipped = skipped_count(n_skipped, n_missing)
    if skipped and first is not None and n_skipped > n_missing:
        skipped += (f"; first at line {first[0]}: {first[1]}" if first[0] is not None
                    else f"; first: {first[1]}")
    return DataError(what + (f" ({skipped})" if skipped else ""), path=path)


def refuse_all_blank(texts: Sequence[str], path: str | Path | None, nothing_to: str, *,
                     option: str | None = None, error: type[DataError] = DataError) -> None:
    """Refuse (``error``, naming ``path`` and ``option``) documents whose every text is
    blank (empty or whitespace only: a CSV or JSONL corpus; blank lines of a text file
    are no documents): a blank text carries no evidence, so what is trained, tuned,
    evaluated, calibrated, audited or asked of an LLM on them measures nothing.
    ``nothing_to`` says what: "train on", "audit".

    >>> refuse_all_blank(["", " "], "c.csv", "audit")
    Traceback (most recent call last):
    ...
    tagsmith.exceptions.DataError: c.csv: every document has a blank text (empty or \
whitespace only; all 2 documents): nothing to audit
    """
    if any(text.strip() for text in texts):
        return
    n = len(texts)
    which = plural(n, "the one document", f"all {n:,} documents")
    where = "" if option is None else f"{option}: "
    raise error(f"{where}every document has a blank text (empty or whitespace only; "
                f"{which}): nothing to {nothing_to}", path=path)


def vocabulary_refused(why: str, path: str | Path, *, vocab_option: str | None = "--vocab",
                       line: int | None = None, labelled: bool | None = None,
                       given: bool = False) -> VocabularyAsCorpusError:
    """The error refusing the vocabulary at ``path`` (``line``) given as documents, ``why``
    saying how it was told: :func:`check_not_a_vocabulary`'s lone URIs, a SKOS file or a
    CSV vocabulary's header (``tagsmith.cli.commands.check_document_files``); the hint
    names ``vocab_option``, the command's option or argument taking a vocabulary (None:
    the bundle holds it). ``labelled``: whether the command reads the documents' labels
    (default: where it takes a vocabulary); eval and calibrate take a bundle and read
    labels, and their refusal named a ``--vocab`` neither has; label, taxonomy and
    zeroshot take a vocabulary and ignore their documents' labels, and their refusal
    asked for a corpus line of TEXT, a tab and labels, which a plain text file is not.
    ``given``: ``vocab_option`` names this same file already (the command line tells,
    rewording the error it caught): "give it as --vocab" told the user to do what they
    had done, where a corpus of documents is what is missing.

    >>> from tagsmith._surface import command_line
    >>> with command_line():
    ...     print(vocabulary_refused("its header is a vocabulary's", "v.csv", line=1))
    v.csv:1: its header is a vocabulary's: this is a vocabulary, not a corpus (give it \
as --vocab; a corpus line is TEXT, a tab, then its labels)
    >>> str(vocabulary_refused("lone URIs", "v.tsv")).split("(")[1].split(";")[0]
    'load it with load_vocabulary'
    >>> str(vocabulary_refused("lone URIs", "v.tsv", vocab_option="--map-to")).split("(")[1][:28]
    'load it with load_vocabulary'
    >>> print(vocabulary_refused("its header is a vocabulary's", "v.csv", given=True))
    v.csv: its header is a vocabulary's: this is a vocabulary, the one given as --vocab, \
not a corpus (give a corpus of documents in its place; a corpus line is TEXT, a tab, then its \
labels)
    """
    if labelled is None:
        labelled = vocab_option is not None
    lines = ("a corpus line is TEXT, a tab, then its labels" if labelled else
             "a line is a document's TEXT, optionally a tab and labels, which are ignored")
    if given and vocab_option:
        what = f"a vocabulary, the one given as {vocab_option}"
        hint = (f"give a corpus of documents in its place; {lines}" if labelled else
                f"give documents in its place: {lines}")
    else:
        what = "a vocabulary"
        # read_labelled's default named train's --vocab to a Python caller, where the same
        # vocabulary with notations (3 columns) was told load_vocabulary: the option is
        # the command's, named while a command runs (said), whatever its name (a
        # default of '--vocab' checked beside said() was two ways of telling one thing)
        where = (said(f"give it as {vocab_option}", "load it with load_vocabulary")
                 if vocab_option else "BUNDLE holds its vocabulary")
        hint = f"{where}; {lines}" if labelled else f"{where}; give documents: {lines}"
    return VocabularyAsCorpusError(f"{why}: this is {what}, not a corpus ({hint})", why=why,
                                   vocab_option=vocab_option, labelled=labelled, path=path,
                                   line=line)
