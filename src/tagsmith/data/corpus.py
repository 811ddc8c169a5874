"""Corpora: re-iterable streams of :class:`Document` over a corpus file.

A :class:`Corpus` reads its file again on every iteration (nothing is kept in
memory) and resolves label keys to ids through a :class:`LabelSpace`. Two policies
decide what happens to bad input: ``on_error`` for malformed lines and
``unknown_labels`` for labels missing from the label space; each either fails with
an error naming the file and line, or skips and counts. After every complete pass,
``corpus.report`` holds a :class:`ReadReport` of what was skipped.

The file formats are described in :mod:`tagsmith.data.readers`; the readers are
re-exported here.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

from tagsmith._params import check_choice, check_int
from tagsmith._plural import plural, plural_s
from tagsmith.data.document import Document
from tagsmith.data.labelspace import (
    LINE_NUMBER_HINT,
    LabelSpace,
    code_key,
    control_char,
    grouping_breaks,
    strip_brackets,
)
from tagsmith.data.readers import (
    FORMATS,
    FileGoneError,
    Record,
    _check_format,
    detect_format,
    one_line,
    read_csv,
    read_directory,
    read_jsonl,
    read_records,
    read_tsv,
    split_label_cell,
    text_column_names,
    unencodable,
)
from tagsmith.data.textio import atomic_text_writer, reachable_kind
from tagsmith.exceptions import (
    AmbiguousLabelError,
    CorpusFormatError,
    DataError,
    InvalidParameterError,
    UnknownLabelError,
)

__all__ = [
    "FORMATS", "Corpus", "DerivingLabels", "ReadReport", "Record", "collect",
    "derive_label_space", "detect_format", "labels_matrix", "one_line", "open_corpus", "read_csv",
    "read_directory", "read_jsonl", "read_records", "read_tsv", "split_label_cell",
    "write_tsv",
]

logger = logging.getLogger("tagsmith")

_R = TypeVar("_R")  # what a document is read with: its record, or None

#: how many skipped lines a report keeps as examples
MAX_EXAMPLES = 20
#: how many distinct skipped unknown labels a report looks for a hint on first; after
#: them, on those whose number among the distinct ones is a power of 2 (:func:`hint_due`)
FIRST_HINT_TRIES = 20
#: the name :data:`FIRST_HINT_TRIES` had before hints were looked for past the first 20
#: distinct keys, kept for code that imports it (no longer a cap on the tries)
MAX_HINT_TRIES = FIRST_HINT_TRIES


def hint_due(n: int) -> bool:
    """Whether a report looks for a hint on the ``n``-th distinct skipped unknown label
    (from 1): the first :data:`FIRST_HINT_TRIES`, then the 32nd, 64th, 128th and so on,
    a sample spread over every distinct key read (the last within half of them), one
    more try each time they double: a corpus whose first 20 unknown keys were noise and
    whose later ones named labels another way got no hint, where trying every key
    would scan the vocabulary for each (29 tries for the 10,867 distinct keys 100,000
    YSO lines skip against half of YSO, the read's CPU the same).

    >>> [n for n in range(1, 200) if hint_due(n)][FIRST_HINT_TRIES - 2:]
    [19, 20, 32, 64, 128]
    """
    return n <= FIRST_HINT_TRIES or n & (n - 1) == 0
_POLICIES = ("fail", "skip")


@dataclass
class ReadReport:
    """What one pass over a corpus read and skipped.

    >>> report = ReadReport(source="train.tsv", n_docs=3)
    >>> report.skip_line(CorpusFormatError("empty text", path="train.tsv", line=2))
    >>> report.add_unknown("<http://x/9>")
    >>> report.summary()
    "train.tsv: 3 documents; 1 malformed line skipped (first at line 2: empty text); \
1 unknown label occurrence skipped (1 distinct, most often '<http://x/9>' x1)"
    """

    source: str | None = None
    n_docs: int = 0
    n_skipped_lines: int = 0
    #: the first :data:`MAX_EXAMPLES` skipped lines as ``(line, reason)``
    skipped_lines: list[tuple[int | None, str]] = field(default_factory=list)
    #: occurrences of unknown labels that were dropped
    n_unknown_labels: int = 0
    unknown_labels: Counter[str] = field(default_factory=Counter)
    #: how many of those were names several concepts share (see LabelSpace.lookup)
    n_ambiguous_labels: int = 0
    n_docs_without_labels: int = 0
    n_empty_texts: int = 0
    #: how many of the skipped lines were a folder's files deleted after it was listed
    #: (:class:`~tagsmith.data.readers.FileGoneError`), which are no malformed lines
    n_missing_files: int = 0
    #: the first skipped malformed line and the first file gone missing, as
    #: ``(line, reason)``, for the summary
    first_malformed: tuple[int | None, str] | None = None
    first_missing: tuple[int | None, str] | None = None
    #: what the first skipped unknown key found to be one is instead (a name in another
    #: case, part of a name split at its spaces), where it was, for the summary
    #: (:meth:`look_for_hint`)
    unknown_hint: str | None = None
    #: the distinct unknown keys a hint was looked for (:func:`hint_due`)
    n_hint_tries: int = 0
    #: the distinct unknown keys that are whole numbers, and the largest of them: a
    #: hint that the keys are line numbers is said only where every one is, below the
    #: vocabulary's number of labels (:attr:`line_number_limit`)
    n_whole_unknown: int = 0
    max_whole_unknown: int = -1
    #: the number of labels of the vocabulary whose hint said a key may be a line
    #: number (LabelSpace.line_number_hint), or None
    line_number_limit: int | None = None

    def __repr__(self) -> str:
        """One line at a prompt: the dataclass repr printed every distinct unknown label
        (thousands for a corpus of another vocabulary) and the skipped lines' reasons.

        >>> report = ReadReport(source="train.tsv", n_docs=3)
        >>> for i in range(5000):
        ...     report.add_unknown(f"<http://x/{i}>")
        >>> report  # doctest: +NORMALIZE_WHITESPACE
        ReadReport(source='train.tsv', n_docs=3, n_skipped_lines=0, n_unknown_labels=5000,
                   n_distinct_unknown_labels=5000, n_docs_without_labels=0)
        """
        return (f"ReadReport(source={self.source!r}, n_docs={self.n_docs}, "
                f"n_skipped_lines={self.n_skipped_lines}, "
                f"n_unknown_labels={self.n_unknown_labels}, "
                f"n_distinct_unknown_labels={len(self.unknown_labels)}, "
                f"n_docs_without_labels={self.n_docs_without_labels})")

    @property
    def has_skips(self) -> bool:
        """True when a line or a label was skipped."""
        return bool(self.n_skipped_lines or self.n_unknown_labels)

    def skip_line(self, error: CorpusFormatError) -> None:
        """Count a malformed line, or a folder's file gone missing (the ``on_error``
        callback of the readers)."""
        self.n_skipped_lines += 1
        if isinstance(error, FileGoneError):
            self.n_missing_files += 1
            self.first_missing = self.first_missing or (error.line, error.reason)
        else:
            self.first_malformed = self.first_malformed or (error.line, error.reason)
        if len(self.skipped_lines) < MAX_EXAMPLES:
            self.skipped_lines.append((error.line, error.reason))

    def add_unknown(self, key: str, *, ambiguous: bool = False) -> None:
        """Count one dropped occurrence of an unknown (or ambiguous) label."""
        self.n_unknown_labels += 1
        self.unknown_labels[key] += 1
        if self.unknown_labels[key] == 1:
            whole = key.strip()
            if whole.isascii() and whole.isdigit():
                self.n_whole_unknown += 1
                # a number too long to be a line number is no smaller than any limit
                self.max_whole_unknown = max(self.max_whole_unknown,
                                             int(whole) if len(whole) < 19 else 2 ** 63)
        self.n_ambiguous_labels += ambiguous

    def hint_wanted(self, key: str) -> bool:
        """After :meth:`add_unknown`: whether :meth:`look_for_hint` would look for a hint
        on ``key`` (none found yet, the key new, :func:`hint_due` its number), asked
        before a caller builds what that takes (the key's "line N"): a corpus of another
        vocabulary skips hundreds of thousands of keys (YSO: 199,136 in 100,000 lines)."""
        return self.unknown_hint is None and self.unknown_labels[key] == 1 \
            and hint_due(len(self.unknown_labels))

    def look_for_hint(self, key: str, record: Record, label_space: object, *,
                      split: bool, where: str | None, csv_cell: bool = False) -> None:
        """After :meth:`add_unknown`: the first hint a skipped key gets (what the error
        of ``unknown_labels="fail"`` says it is instead), for the summary, looked for
        on a bounded sample of the distinct keys, :func:`hint_due`'s (a hint scans the
        vocabulary). A support team's CSV of one intent a cell, "Billing issue", was
        read as 'Billing' and 'issue', and the skip said only how many such keys were
        dropped. ``split``: whether the labels cell was split at its spaces (no JSONL);
        ``where``: ``"line N"`` or the folder's file; ``csv_cell``: a CSV's labels cell
        (:meth:`LabelSpace.split_hint`)."""
        if not self.hint_wanted(key) or not isinstance(label_space, LabelSpace):
            return
        self.n_hint_tries += 1
        hint = label_space.unknown_hint(key)
        if not hint and split:
            hint = label_space.split_hint(record.labels, key, csv_cell=csv_cell)
        if hint:
            self.unknown_hint = f"{where}'s {key!r}: {hint}" if where else f"{key!r}: {hint}"
            if hint.startswith(LINE_NUMBER_HINT):
                self.line_number_limit = len(label_space)

    def shown_hint(self) -> str | None:
        """:attr:`unknown_hint`, but a hint that the keys are line numbers only where
        every distinct unknown key is a whole number below the vocabulary's size (a
        corpus of names with one stray '3' is no corpus of line numbers)."""
        if self.line_number_limit is not None and not (
                self.n_whole_unknown == len(self.unknown_labels)
                and self.max_whole_unknown < self.line_number_limit):
            return None
        return self.unknown_hint

    def add_doc(self, doc: Document) -> None:
        """Count a document that was yielded."""
        self.n_docs += 1
        self.n_docs_without_labels += not doc.label_ids
        self.n_empty_texts += not doc.text

    def summary(self) -> str:
        """A one-line account for logs and the CLI."""
        parts = [f"{self.n_docs:,} document{plural_s(self.n_docs)}"]
        parts += self._skipped_parts()
        if self.n_unknown_labels:
            key, count = self.unknown_labels.most_common(1)[0]
            parts.append(f"{self.n_unknown_labels:,} unknown label occurrence"
                         f"{plural_s(self.n_unknown_labels)} skipped ({len(self.unknown_labels):,} "
                         f"distinct, most often {key!r} x{count}"
                         + (f"; {self.shown_hint()})" if self.shown_hint() else ")"))
            if self.n_ambiguous_labels:
                parts[-1] += (f", {self.n_ambiguous_labels:,} of them ambiguous names (write "
                              "their <uri>)")
        if self.n_docs_without_labels:
            parts.append(f"{self.n_docs_without_labels:,} without labels")
        if self.n_empty_texts:
            parts.append(f"{self.n_empty_texts:,} with an empty text")
        prefix = f"{self.source}: " if self.source else ""
        return prefix + "; ".join(parts)

    def _skipped_parts(self) -> list[str]:
        """The summary's malformed lines and files gone missing, each counted and worded
        apart: a folder's document deleted after the listing was "1 malformed line
        skipped", though no line of it was read."""
        gone = self.n_missing_files
        malformed = self.n_skipped_lines - gone
        parts = []
        if malformed:
            # a report filled by hand (its examples, not skip_line) has no first_malformed
            first = self.first_malformed or (None if gone else next(iter(self.skipped_lines),
                                                                      None))
            told = f" (first at line {first[0]}: {first[1]})" if first else ""
            parts.append(f"{malformed:,} malformed line{plural_s(malformed)} skipped{told}")
        if gone:
            first = self.first_missing
            told = f" (first: document {first[0]}, {first[1]})" if first else ""
            parts.append(f"{gone:,} file{plural_s(gone)} skipped that went missing{told}")
        return parts



def _check_policy(name: str, value: str) -> str:
    return check_choice(name, value, _POLICIES)


class Corpus:
    """A re-iterable stream of :class:`Document` read from a corpus file.

    >>> space = LabelSpace.from_uris(["http://x/a", "http://x/b"])
    >>> corpus = Corpus.from_documents([Document("one", (1,)), Document("two")], space)
    >>> [doc.label_ids for doc in corpus], corpus.report.n_docs_without_labels
    ([(1,), ()], 1)
    """

    def __init__(self, path: str | Path, label_space: LabelSpace | DerivingLabels, *,
                 format: str | None = None, on_error: str = "fail",
                 unknown_labels: str = "fail",
                 text_columns: str | Sequence[str] | None = None):
        # the CSV columns or JSONL keys holding the text (read_records's), None: 'text'
        self.text_columns = text_column_names(text_columns)
        self.on_error = _check_policy("on_error", on_error)
        self.unknown_labels = _check_policy("unknown_labels", unknown_labels)
        self.path: Path | None = Path(path)
        self.format = detect_format(path) if format is None else _check_format(format)
        # not exists(): below a folder that may not be looked into, a PermissionError of
        # its own (Python 3.11) where format= spared detect_format's check
        if reachable_kind(self.path) == "missing":
            raise CorpusFormatError("file not found", path=path)
        self.label_space = label_space
        self.report: ReadReport | None = None
        self._documents: list[Document] | None = None

    @classmethod
    def from_documents(cls, docs: Iterable[Document], label_space: LabelSpace) -> Corpus:
        """An in-memory corpus over ``docs`` (for tests and the Python API)."""
        corpus = cls.__new__(cls)
        corpus.on_error = corpus.unknown_labels = "fail"
        corpus.path, corpus.format, corpus.label_space = None, "memory", label_space
        corpus.report = None
        corpus.text_columns = None
        corpus._documents = list(docs)
        n = len(label_space)
        for doc in corpus._documents:
            bad = [i for i in doc.label_ids if not 0 <= i < n]
            if bad:
                raise InvalidParameterError("docs", f"label ids between 0 and {n - 1}", bad[0])
        return corpus

    @property
    def source(self) -> str:
        """The corpus path, or ``"<memory>"``."""
        return "<memory>" if self.path is None else str(self.path)

    def __repr__(self) -> str:
        return f"Corpus({self.source!r}, format={self.format!r}, n_labels={len(self.label_space)})"

    def __iter__(self) -> Iterator[Document]:
        pairs: Iterator[tuple[Document, Record | None]]
        if self._documents is not None:  # at hand: no record (every label's URI) to build
            pairs = self._reported(((doc, None) for doc in self._documents),
                                   ReadReport(source=self.source))
        else:
            pairs = self.with_records()
        return (doc for doc, _ in pairs)

    def with_records(self) -> Iterator[tuple[Document, Record]]:
        """Each document with the record it was read from (its line or file, for a
        message naming where a document is), read as iterating the corpus reads it."""
        report = ReadReport(source=self.source)
        pairs: Iterator[tuple[Document, Record]]
        if self._documents is not None:
            pairs = zip(self._documents, self._records(report), strict=True)
        else:
            pairs = ((self._resolve(record, report), record)
                     for record in self._records(report))
        yield from self._reported(pairs, report)  # a generator: nothing is opened till read

    def _reported(self, pairs: Iterable[tuple[Document, _R]], report: ReadReport
                  ) -> Iterator[tuple[Document, _R]]:
        """``pairs`` with each document counted in ``report``, which becomes
        :attr:`report` (and is logged if anything was skipped) once the last is read."""
        for doc, record in pairs:
            report.add_doc(doc)
            yield doc, record
        self.report = report
        if report.has_skips:
            logger.warning("%s", report.summary())

    def records(self, report: ReadReport | None = None, *,
                layout: bool = False) -> Iterator[Record]:
        """The raw records (labels unresolved), malformed lines handled by ``on_error``
        (and counted in ``report`` when given); ``layout`` as
        :func:`~tagsmith.data.readers.read_records`'s (how each was written, for a
        corpus rewritten as it was)."""
        return self._records(ReadReport(source=self.source) if report is None else report,
                             layout)

    def texts(self) -> Iterator[str]:
        """The texts only; labels are not resolved (so unknown labels do not matter)."""
        return (record.text for record in self.records())

    def count(self) -> int:
        """The number of documents (reads the whole corpus, labels unresolved)."""
        return sum(1 for _ in self.records())

    def _records(self, report: ReadReport, layout: bool = False) -> Iterator[Record]:
        if self._documents is not None:
            assert isinstance(self.label_space, LabelSpace)  # from_documents takes one
            uri_of = self.label_space.uri_of
            return (Record(doc.text, tuple(f"<{uri_of(i)}>" for i in doc.label_ids),
                           doc.doc_id, number, self.source, doc.metadata)
                    for number, doc in enumerate(self._documents, 1))
        on_error = report.skip_line if self.on_error == "skip" else "fail"
        assert self.path is not None  # a corpus has either documents or a path
        return read_records(self.path, self.format, on_error=on_error, layout=layout,
                            text_columns=self.text_columns)

    def _resolve(self, record: Record, report: ReadReport) -> Document:
        ids = []
        for key in dict.fromkeys(record.labels):  # a repeated unknown key: one occurrence
            try:
                label_id = self.label_space.lookup(key)
            except AmbiguousLabelError as exc:  # a name several concepts share
                if self.unknown_labels != "skip":
                    line = None if self.format == "dir" else record.line
                    raise exc.located(record.source, line) from None
                report.add_unknown(key, ambiguous=True)
                continue
            if label_id is not None:
                ids.append(label_id)
            elif self.unknown_labels == "skip":
                report.add_unknown(key)
                if report.hint_wanted(key):
                    # not once more per skipped key (its line named) once a hint is
                    # found, nor for a key seen before or one hint_due passes over: a
                    # corpus of another vocabulary skips hundreds of thousands (YSO:
                    # 199,136 in 100,000 lines)
                    report.look_for_hint(key, record, self.label_space,
                                         split=self.format not in ("jsonl", "dir"),
                                         csv_cell=self.format == "csv",
                                         where=(record.source if self.format == "dir"
                                                else f"line {record.line}"))
            else:
                line = None if self.format == "dir" else record.line
                space = self.label_space  # one derived while reading has no names
                hint = space.unknown_hint(key) if isinstance(space, LabelSpace) else ""
                if not hint and isinstance(space, LabelSpace) \
                        and self.format not in ("jsonl", "dir"):
                    # a cell split at its spaces: an IPC code 'H04L 9/32', a code's title
                    # (a folder's label file has a label a line, split at no space)
                    hint = space.split_hint(record.labels, key,
                                            csv_cell=self.format == "csv")
                raise UnknownLabelError(key, path=record.source, line=line, hint=hint)
        return Document(record.text, tuple(dict.fromkeys(ids)), record.doc_id, record.metadata)


def open_corpus(path: str | Path, label_space: LabelSpace | None = None, *,
                format: str | None = None, on_error: str = "fail",
                unknown_labels: str = "fail",
                text_columns: str | Sequence[str] | None = None) -> tuple[Corpus, LabelSpace]:
    """A :class:`Corpus` over ``path`` and its label space (derived from it when ``None``).

    ``format``, ``on_error``, ``unknown_labels`` and ``text_columns`` go to :class:`Corpus`.
    """
    if label_space is None:
        label_space = derive_label_space(path, format=format, on_error=on_error,
                                         text_columns=text_columns)
    return Corpus(path, label_space, format=format, on_error=on_error,
                  unknown_labels=unknown_labels, text_columns=text_columns), label_space


def derive_label_space(path_or_paths: str | Path | Iterable[str | Path], *,
                       format: str | None = None, on_error: str = "fail",
                       min_count: int = 1,
                       text_columns: str | Sequence[str] | None = None,
                       show_progress: bool = False) -> LabelSpace:
    """The label space of every label used in the corpora, URIs sorted.

    One streaming pass per corpus. ``<uri>`` keys give the URI, bare keys are used as
    URIs as they are. URIs are sorted so that the same corpus always gives the same
    ids whatever its line order; labels in fewer than ``min_count`` documents are
    left out. ``text_columns`` as :func:`~tagsmith.data.readers.read_records`'s (a
    column it names but the file lacks is an error here too). ``show_progress``: a
    progress bar (or log line every 10 s) over the documents read (apply-review's: a
    million documents read for their labels took a minute with no word).
    """
    from tagsmith.progress import counted, progress_bar

    if isinstance(path_or_paths, str | os.PathLike):
        paths = [path_or_paths]
    else:
        paths = list(path_or_paths)
    if not paths:
        raise InvalidParameterError("path_or_paths", "at least one corpus path", paths)
    check_int("min_count", min_count, 1)
    _check_policy("on_error", on_error)
    counts: Counter[str] = Counter()
    for path in paths:
        report = ReadReport(source=str(path))
        policy = report.skip_line if on_error == "skip" else "fail"
        with progress_bar(total=None, desc=f"deriving labels from {Path(path).name}",
                          unit="doc", enabled=show_progress) as bar:
            for record in counted(read_records(path, format, on_error=policy,
                                               text_columns=text_columns), bar):
                report.n_docs += 1
                counts.update({uri for uri in map(strip_brackets, record.labels)
                               if _derivable(uri)})
        if report.has_skips:
            logger.warning("deriving labels: %s", report.summary())
    uris = sorted(uri for uri, n in counts.items() if n >= min_count)
    if not uris:
        logger.warning("no labels found in %s", ", ".join(str(p) for p in paths))
    warn_float_twins(uris, ", ".join(str(p) for p in paths))
    return LabelSpace.from_uris(uris)


def float_twins(uris: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of labels that are one integer written twice, as an integer and as a float
    (``1`` and ``1.0``): a pandas or spreadsheet round trip writes a column of integer
    labels as floats, and a corpus joined from both kinds then holds two labels for one.

    >>> float_twins(["1", "1.0", "2", "2.50", "3.00", "x"])
    [('1', '1.0')]
    """
    uris = set(uris)
    return sorted((uri.split(".")[0], uri) for uri in uris
                  if _FLOAT_OF_INTEGER.fullmatch(uri) and uri.split(".")[0] in uris)


#: an integer written as a float, as pandas writes one (``1.0``, ``-3.00``)
_FLOAT_OF_INTEGER = re.compile(r"-?\d+\.0+")


def warn_float_twins(uris: Iterable[str], source: str) -> None:
    """Warn once, naming both forms, when labels of a space derived from ``source``
    (its corpora) are one integer written both as an integer and as a float: they were
    two labels without a word. They stay two (which is meant cannot be told)."""
    uris = list(uris)
    warn_code_twins(uris, source)
    twins = float_twins(uris)
    if twins:
        n = len(twins)
        shown = ", ".join(f"{a!r} and {b!r}" for a, b in twins[:3]) + (", ..." if n > 3 else "")
        logger.warning("%s: %s label%s written both as an integer and as a float (%s), "
                       "read as %s: a spreadsheet or pandas round trip writes integer labels "
                       "as floats; write each one way", source, f"{n:,}", plural_s(n), shown,
                       plural(n, "two labels", "two labels each"))


#: an ICD-10 code folded (:func:`~tagsmith.data.labelspace.code_key`): its dot, after the
#: third character, is one coders drop (``E11.9``, ``E119``)
_ICD10 = re.compile(r"[a-z][0-9][0-9a-z][0-9a-z]{1,4}")


def _digit_breaks(code: str) -> frozenset[tuple[int, str]]:
    """What punctuation ``code`` puts between two digits, and where, as positions in
    its :func:`~tagsmith.data.labelspace.code_key`; ICD-10's dot aside, and spaces
    grouping digits as numbers are read out (:func:`~tagsmith.data.labelspace.grouping_breaks`:
    ``541 511``, NAICS's ``541511`` read out) in a code of digits alone, as the LLM
    answer's resolver reads them: other spaces are ``" "`` (``12 3`` is no ``123``,
    ``1 2`` no ``12``, ``AB12 34`` no ``AB1234``).

    >>> sorted(_digit_breaks("H04L 9/32")), sorted(_digit_breaks("E11.9"))
    ([(5, '/')], [])
    >>> sorted(_digit_breaks("541 511")), sorted(_digit_breaks("1 - 5"))
    ([], [(1, '-')])
    >>> sorted(_digit_breaks("12 3"))
    [(2, ' ')]
    """
    breaks = set()
    grouped: frozenset[int] | None = None  # grouping_breaks(code), once needed
    kept, previous, between = 0, "", ""
    for char in code.casefold():
        if not char.isalnum():
            between += char
            continue
        if between and previous.isdigit() and char.isdigit():
            if between.strip():
                breaks.add((kept, between.strip()))
            else:
                if grouped is None:  # in a code of digits alone, as the resolver reads
                    # them: 'AB12 34' is no 'AB1234', '541 511' is 541511
                    grouped = (grouping_breaks(code) if code_key(code).isdigit()
                               else frozenset())
                if kept not in grouped:
                    breaks.add((kept, " "))
        kept, previous, between = kept + 1, char, ""
    if _ICD10.fullmatch(code_key(code)):
        breaks -= {(3, "."), (3, " ")}  # E11.9, E119, E11 9
    return frozenset(breaks)


def code_twins(uris: Iterable[str]) -> list[tuple[str, ...]]:
    """Groups of labels that are one code written several ways, as coders write it: a
    code (a label key holding a digit, no URI of a scheme) in another case or spacing
    (``H04L 9/32``, ``h04l 9/32``, ``H04L9/32``), ICD-10's without its dot (``E11.9``,
    ``E119``), or without its leading zeros (``0111``, ``111``: a spreadsheet's number
    cell drops them). What a code puts between two digits tells codes apart otherwise
    (``1.5`` is no ``15``, ``9/32`` no ``93/2``, ``E1.19`` no ``E11.9``). A key holding
    ``,``, ``;`` or ``|`` is labels joined, never a code (``1,2`` is no ``12``). A float
    written for an integer (``1.0``) is :func:`float_twins`'s, never one of these.

    >>> code_twins(["E11.9", "e11.9", "E119", "0111", "111", "1.0", "10", "x", "u:a1"])
    [('0111', '111'), ('E11.9', 'E119', 'e11.9')]
    >>> code_twins(["1.5", "15", "E1.19"])
    []
    """
    groups: dict[tuple[str, frozenset[tuple[int, str]]], set[str]] = {}
    for uri in uris:
        # labels joined as a CSV cell's ('1,2' in a TSV line) are several labels, not
        # the code their digits make together (12)
        if (not any(char.isdigit() for char in uri) or ":" in uri
                or _FLOAT_OF_INTEGER.fullmatch(uri) or any(c in uri for c in ",;|")):
            continue
        key = code_key(uri)
        # zeros a number cell dropped lead a code of digits alone: '0.5' is no '5'
        groups.setdefault((key.lstrip("0") if uri.isdigit() else key, _digit_breaks(uri)),
                          set()).add(uri)
    return sorted(tuple(sorted(group)) for group in groups.values() if len(group) > 1)


def warn_code_twins(uris: Iterable[str], source: str) -> None:
    """Warn once, naming them, when labels of a space derived from ``source`` are one
    code written several ways (:func:`code_twins`): they were separate labels without
    a word. They stay separate (which is meant cannot be told)."""
    twins = code_twins(uris)
    if twins:
        n = len(twins)
        shown = ", ".join(" and ".join(map(repr, group)) for group in twins[:3]) \
            + (", ..." if n > 3 else "")
        # the vocabulary as a Python caller gives it; the commands' --vocab on the
        # command line (cli_message)
        told = ("%s: %s code%s written several ways (%s), read as separate labels: codes "
                "match exactly (in case, punctuation and leading zeros, which a "
                "spreadsheet's number cell drops); write each one way, or give a "
                "vocabulary ({}), which names the code meant")
        logger.warning(told.format("load_vocabulary"), source, f"{n:,}", plural_s(n), shown,
                       extra={"cli_message": told.format("--vocab")})


def _derivable(uri: str) -> bool:
    """Whether a label key's URI may become a label of a derived space. An empty ``<>``
    is no URI, nor one holding a control character (``<http://x/\\x00a>``), which a
    vocabulary refuses: both are left out, and the corpus read reports them as unknown
    labels at their file:line (a label space would refuse an empty URI unnamed)."""
    return bool(uri) and control_char(uri) is None


class DerivingLabels:
    """Stands in for a label space while corpora are read without a vocabulary, so
    that they are read once instead of twice (once by :func:`derive_label_space`).

    Every label key gets an id in order of first appearance (``<uri>`` and bare keys
    alike are URIs, as in :func:`derive_label_space`). :meth:`finish` then gives the
    label space :func:`derive_label_space` would have derived from the same corpora
    (URIs sorted) and re-indexes label matrices read meanwhile onto it.

    >>> labels = DerivingLabels()
    >>> [labels.lookup(key) for key in ("<http://x/b>", "a", "http://x/b")]
    [0, 1, 0]
    >>> space, reindex = labels.finish()
    >>> space.uris, reindex(sp.csr_matrix([[1.0, 1.0], [1.0, 0.0]])).toarray().tolist()
    (['a', 'http://x/b'], [[1.0, 1.0], [0.0, 1.0]])
    """

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def lookup(self, key: str, *, by_name: bool = True) -> int | None:
        uri = strip_brackets(key)
        if not _derivable(uri):  # unknown, as derive_label_space leaves it out
            return None
        found = self._ids.get(uri)
        if found is None:
            found = self._ids[uri] = len(self._ids)
        return found

    def finish(self, source: str = "the corpus"
               ) -> tuple[LabelSpace, Callable[[sp.csr_matrix], sp.csr_matrix]]:
        """The derived space, and a function moving a matrix's columns onto it;
        ``source`` names the corpora read in a warning."""
        uris = sorted(self._ids)
        if not uris:
            logger.warning("no labels found in the corpus")
        warn_float_twins(uris, source)
        position = np.empty(len(uris), dtype=np.int32)
        position[[self._ids[uri] for uri in uris]] = np.arange(len(uris), dtype=np.int32)

        def reindex(Y: sp.csr_matrix) -> sp.csr_matrix:
            Y = sp.csr_matrix(Y)
            out = sp.csr_matrix((Y.data, position[Y.indices], Y.indptr),
                                shape=(Y.shape[0], len(uris)))
            out.sort_indices()
            return out

        return LabelSpace.from_uris(uris), reindex


class _RowBuilder:
    """Builds a binary CSR label matrix row by row, never dense."""

    def __init__(self, n_labels: int):
        self.n_labels = n_labels
        self.indptr = array("q", [0])
        self.indices = array("i")

    def add(self, label_ids: Iterable[int]) -> None:
        row = sorted(set(label_ids))
        if row and (row[0] < 0 or row[-1] >= self.n_labels):
            bad = row[0] if row[0] < 0 else row[-1]
            raise InvalidParameterError("label id", f"between 0 and {self.n_labels - 1}", bad)
        self.indices.extend(row)
        self.indptr.append(len(self.indices))

    def build(self) -> sp.csr_matrix:
        indices = np.frombuffer(self.indices, dtype=np.int32) if self.indices else \
            np.zeros(0, dtype=np.int32)
        indptr = np.frombuffer(self.indptr, dtype=np.int64)
        data = np.ones(len(indices), dtype=np.float32)
        shape = (len(indptr) - 1, self.n_labels)
        return sp.csr_matrix((data, indices.copy(), indptr.copy()), shape=shape)


def labels_matrix(corpus_or_docs: Iterable[Document], n_labels: int) -> sp.csr_matrix:
    """The ``(n_docs, n_labels)`` float32 CSR matrix of ones at each document's labels.

    >>> labels_matrix([Document("a", (2, 0)), Document("b")], 3).toarray()
    array([[1., 0., 1.],
           [0., 0., 0.]], dtype=float32)
    """
    rows = _RowBuilder(n_labels)
    for doc in corpus_or_docs:
        rows.add(doc.label_ids)
    return rows.build()


def label_columns(label_space: LabelSpace | DerivingLabels) -> int:
    """The columns :func:`collect` gives a corpus read against ``label_space``: its
    labels, or for a space derived while reading (it grows) the most an int32 holds."""
    if isinstance(label_space, DerivingLabels):
        return int(np.iinfo(np.int32).max)
    return len(label_space)


def collect(corpus: Corpus | Iterable[Document],
            n_labels: int | None = None) -> tuple[list[str], sp.csr_matrix]:
    """Texts and label matrix of a corpus in one pass.

    ``n_labels`` defaults to the size of the corpus's label space.
    """
    if n_labels is None:
        if not isinstance(corpus, Corpus):
            raise InvalidParameterError("n_labels", "given when collecting plain documents",
                                        None)
        n_labels = label_columns(corpus.label_space)
    texts: list[str] = []
    rows = _RowBuilder(n_labels)
    for doc in corpus:
        texts.append(doc.text)
        rows.add(doc.label_ids)
    return texts, rows.build()


#: texts hashed at a time by :func:`collect_hashed`, and read again at a time by
#: :meth:`StreamedTexts.chunks` where a caller asks no other size
HASH_CHUNK = 8192


def collect_hashed(docs: Iterable[Document], n_labels: int, *,
                   seen: Callable[[list[str]], None] | None = None
                   ) -> tuple[np.ndarray, sp.csr_matrix]:
    """:func:`collect` keeping each text's hash (:func:`~tagsmith.data.texthash.hash_texts`)
    instead of the text: the texts are hashed :data:`HASH_CHUNK` at a time and dropped
    with their chunk, after ``seen`` (when given) is shown each chunk.

    >>> hashes, Y = collect_hashed([Document("A  b", (1,)), Document("c")], 2)
    >>> from tagsmith.data.texthash import hash_texts
    >>> bool((hashes == hash_texts(["a b", "c"])).all()), Y.toarray().tolist()
    (True, [[0.0, 1.0], [0.0, 0.0]])
    """
    from tagsmith.data.texthash import hash_texts

    parts: list[np.ndarray] = []
    chunk: list[str] = []
    rows = _RowBuilder(n_labels)

    def flush() -> None:
        if seen is not None:
            seen(chunk)
        parts.append(hash_texts(chunk))
        chunk.clear()

    for doc in docs:
        chunk.append(doc.text)
        rows.add(doc.label_ids)
        if len(chunk) == HASH_CHUNK:
            flush()
    if chunk:
        flush()
    hashes = np.concatenate(parts) if parts else np.zeros(0, "<u8")
    return hashes, rows.build()


class StreamedTexts:
    """The texts of a corpus read once already, held as their hashes alone (one per
    document, :func:`collect_hashed`) and read again from the file a chunk at a time by
    :meth:`chunks`: ``eval`` held every text of its corpus until it returned (15 MB per
    100,000 documents) for the training-overlap check and the prediction. A text read
    again that is not the one read first (the file was changed in between) is a
    :class:`~tagsmith.exceptions.DataError` naming the file and the document.
    """

    def __init__(self, corpus: Corpus, hashes: np.ndarray, keep: np.ndarray | None = None):
        self.corpus = corpus
        #: every document's hash, as read (those checked as the texts are read again)
        self._all_hashes = hashes
        #: a boolean mask over them of the documents these texts are (None: all)
        self._keep = keep
        #: the hashes of these texts
        self.hashes = hashes if keep is None else hashes[keep]

    def __len__(self) -> int:
        return len(self.hashes)

    def __repr__(self) -> str:
        return f"StreamedTexts({self.corpus.source!r}, n_docs={len(self)})"

    def selected(self, keep: np.ndarray) -> StreamedTexts:
        """The texts of the documents of the boolean mask ``keep`` (one entry per text of
        these) alone, in order, read again as these are (every text of the corpus still
        read and checked against its hash; the others never yielded): ``zeroshot --eval
        --only`` scores the documents carrying an allowed label alone."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (len(self),):
            raise InvalidParameterError("keep", f"a boolean mask of {len(self):,} entries",
                                        f"shape {keep.shape}")
        if self._keep is None:
            return StreamedTexts(self.corpus, self._all_hashes, keep)
        both = self._keep.copy()
        both[both] = keep
        return StreamedTexts(self.corpus, self._all_hashes, both)

    def chunks(self, size: int = HASH_CHUNK) -> Iterator[list[str]]:
        """The texts in order, ``size`` at a time, each chunk checked against the hashes."""
        size = check_int("size", size, 1)
        texts = self.corpus.texts()
        done = 0
        held: list[str] = []  # of a selection, its texts read until a chunk is full
        while True:
            # what the first read said (a folder's unlabelled documents, ...) is not said
            # again; only this thread's reading is quiet, not what is done with a chunk,
            # nor what another thread logs meanwhile (another eval, a progress line)
            with _quiet_rereading():
                chunk = list(islice(texts, size))
            if not chunk:
                break
            self._check(chunk, done)
            done += len(chunk)
            if self._keep is None:
                yield chunk
                continue
            keep = self._keep[done - len(chunk):done]
            held += [text for text, kept in zip(chunk, keep, strict=True) if kept]
            while len(held) >= size:
                yield held[:size]
                held = held[size:]
        if done != len(self._all_hashes):
            raise self._changed(f"{done:,} document{plural_s(done)} where it had "
                                f"{len(self._all_hashes):,}")
        if held:
            yield held

    def _check(self, chunk: list[str], start: int) -> None:
        from tagsmith.data.texthash import hash_texts

        n = len(self._all_hashes)
        if start + len(chunk) > n:
            raise self._changed(f"more than the {n:,} document{plural_s(n)} it had")
        differ = np.flatnonzero(hash_texts(chunk) != self._all_hashes[start:start + len(chunk)])
        if len(differ):
            raise self._changed(f"document {start + int(differ[0]) + 1:,} is not the one "
                                "read first")

    def _changed(self, how: str) -> DataError:
        return DataError(f"the corpus changed after it was read for its labels ({how}); "
                         "run again once it is written", path=self.corpus.source)


class _Rereading(threading.local):
    """Whether this thread is reading a corpus again (:meth:`StreamedTexts.chunks`)."""

    quiet = False


_rereading = _Rereading()
_install_lock = threading.Lock()


def _unsaid(record: logging.LogRecord) -> bool:
    """The log filter of the ``tagsmith`` logger dropping the records logged while the
    thread logging them reads a corpus again (:func:`_quiet_rereading`), and no other:
    a filter dropping every record while one thread read again lost every other
    thread's lines meanwhile, and two such reads at once shared it, the first to end
    removing it from the other. It filters in the thread that logs (as logging does)."""
    return not _rereading.quiet


@contextmanager
def _quiet_rereading() -> Iterator[None]:
    """Within it, what this thread logs to the ``tagsmith`` logger is dropped. The
    filter stays installed once added (adding and removing one while other threads log
    could make them skip another filter of the logger)."""
    with _install_lock:
        logger.addFilter(_unsaid)  # once: a filter already there is not added again
    was, _rereading.quiet = _rereading.quiet, True
    try:
        yield
    finally:
        _rereading.quiet = was


def write_tsv(records_or_docs: Iterable[Document | Record], path: str | Path,
              label_space: LabelSpace | None = None, *, resolve_all: bool = True,
              newline: str = "\n", bom: bool = False) -> int:
    """Write an Annif TSV corpus atomically; returns the number of lines written.

    Documents' labels are written as ``<uri>`` (``label_space`` is required for
    them); record keys are resolved to ``<uri>`` through ``label_space`` when given
    (a single-word key the vocabulary does not know is kept as it is, as readers
    report and skip it), else written as they are. Tabs and line breaks inside texts
    become spaces, since a TSV line cannot hold them. The file is written to a
    temporary file in the same directory and then renamed over ``path``, so ``path``
    is never left half written; ``.gz`` paths are gzip-compressed. With
    ``resolve_all=False`` only keys a TSV line cannot hold (with whitespace) are
    resolved; the others are written as they are. Lines end in ``newline`` (``"\\r\\n"``:
    a Windows-written corpus rewritten as it was), after a UTF-8 byte-order mark with
    ``bom`` (one the corpus rewritten had).
    """
    path = Path(path)
    written = 0
    with atomic_text_writer(path) as out:
        if bom:
            out.write("\ufeff")
        for number, item in enumerate(records_or_docs, 1):
            line = _tsv_line(item, label_space, number, path, resolve_all)
            if newline != "\n":  # a TSV line holds no other line break
                line = line[:-1] + newline
            if number == 1 and line.startswith("\ufeff") and not bom:
                # readers drop a byte-order mark at the start of a file: a first text
                # that starts with U+FEFF would lose it (or, alone, read as empty)
                out.write("\ufeff")
            try:
                out.write(line)
            except UnicodeEncodeError as exc:  # nothing is written: name the document
                raise (unencodable(exc, item.source, item.line) if isinstance(item, Record)
                       else unencodable(exc, path, number)) from None
            written += 1
    return written


def _tsv_line(item: Document | Record, label_space: LabelSpace | None, n: int,
              path: Path, resolve_all: bool = True) -> str:
    if isinstance(item, Document):
        if label_space is None:
            raise InvalidParameterError("label_space", "given when writing Documents", None)
        keys = [_uri_key(label_space.uri_of(i), path, n) for i in item.label_ids]
    elif isinstance(item, Record):
        keys = [_record_key(key, item, label_space, resolve_all) for key in item.labels]
    else:
        raise InvalidParameterError("records_or_docs", "Document or Record items",
                                    type(item).__name__)
    text = one_line(item.text).strip()
    if not text:
        if isinstance(item, Record):  # name the document where it came from
            raise CorpusFormatError(f"document has an empty text, which a TSV line cannot "
                                    f"hold; leave it out or write {path.name} as .jsonl or "
                                    ".csv instead", path=item.source, line=item.line)
        raise CorpusFormatError("document has an empty text, which a TSV line cannot hold; "
                                "leave such documents out", path=path, line=n)
    return text + ("\t" + " ".join(dict.fromkeys(keys)) if keys else "") + "\n"


def _record_key(key: str, record: Record, label_space: LabelSpace | None,
                resolve_all: bool = True) -> str:
    if label_space is not None and (resolve_all or len(key.split()) != 1):
        try:
            label_id = label_space.lookup(key)
        except AmbiguousLabelError as exc:
            raise exc.located(record.source, record.line) from None
        if label_id is not None:
            return _uri_key(label_space.uri_of(label_id), record.source, record.line)
        if len(key.split()) != 1:
            raise UnknownLabelError(key, path=record.source, line=record.line,
                                    hint=label_space.unknown_hint(key))
        return key  # unknown to the vocabulary: kept as it was, as a reader would skip it
    if len(key.split()) != 1:
        raise CorpusFormatError(f"label {key!r} contains whitespace; pass a label_space to "
                                "write it as a URI", path=record.source, line=record.line)
    return key


def _uri_key(uri: str, source: str | Path, line: int | None) -> str:
    """``<uri>`` for a TSV line; a URI with whitespace (a bare label such as "climate
    change" that a CSV or JSONL corpus gave a derived label space) cannot be one token
    there, and would be read back as several unknown labels."""
    if len(uri.split()) != 1:
        raise CorpusFormatError(f"label {uri!r} contains whitespace, which a TSV line "
                                "cannot hold; write the corpus as .jsonl or .csv instead",
                                path=source, line=line)
    return f"<{uri}>"
