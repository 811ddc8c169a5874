"""File-level helpers shared by the CLI and scripts: read corpora into arrays."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import scipy.sparse as sp

from tagsmith._plural import plural, plural_s
from tagsmith._shell import shell_path
from tagsmith._surface import on_command_line, said
from tagsmith.data.corpus import DerivingLabels, StreamedTexts
from tagsmith.data.document import Document
from tagsmith.data.labelspace import LabelSpace
from tagsmith.data.readers import Record, check_not_a_vocabulary, no_documents, refuse_all_blank
from tagsmith.data.textio import reachable_kind
from tagsmith.exceptions import AmbiguousLabelError, CorpusFormatError, DataError, UnknownLabelError

logger = logging.getLogger("tagsmith")


class _ReadCorpus(Protocol):
    """A dataclass read from a corpus, its label matrix in the field ``Y``."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    Y: sp.csr_matrix


Read = TypeVar("Read", bound=_ReadCorpus)


@dataclass
class LabelledData:
    """Texts with their labels as a sparse (n_docs x n_labels) matrix."""

    texts: list[str]
    Y: sp.csr_matrix
    report: object  # the reader's ReadReport

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        # the dataclass repr printed every text (megabytes for a real corpus)
        return (f"LabelledData(n_docs={len(self.texts)}, n_labels={self.Y.shape[1]}, "
                f"n_assignments={self.Y.nnz}, "
                f"source={getattr(self.report, 'source', None)!r})")

    def require_labels(self, path: str | Path,
                       vocabulary: str | None = "the vocabulary") -> LabelledData:
        """Refuse, naming ``path``, a corpus in which no document keeps a known label
        (e.g. every label dropped by ``unknown_labels="skip"``): a model trained or
        tuned on it would predict nothing. ``vocabulary`` names the label space
        (``"the vocabulary V.tsv"``); ``None`` when it is derived from the corpora,
        where no vocabulary can be the wrong one: the corpus names no label at all."""
        if self.Y.count_nonzero() == 0:
            skipped = getattr(self.report, "n_unknown_labels", 0)
            docs = f"{len(self):,} document{plural_s(len(self))}"
            counts = (f"{docs}, {skipped:,} unknown label occurrence{plural_s(skipped)} "
                      "skipped")
            # a CSV column named 'tags', or labels after a space instead of a TAB, read
            # as no labels at all: the format is at fault, not the vocabulary
            layout = label_layout(path)
            if vocabulary is None:  # "is it the right vocabulary?" where none was given
                # '0 unknown label occurrences skipped' when none was: counted only if any
                raise DataError(f"no document names a label ({counts if skipped else docs}; "
                                "no vocabulary given, "
                                f"the labels are the corpus's own): {layout}", path=path)
            if not skipped:  # nothing was dropped: no vocabulary would have helped
                raise DataError(f"no document carries a label of {vocabulary} ({docs}, "
                                f"{plural(len(self), 'naming no label', 'none naming a label')}"
                                f"): {layout}", path=path)
            raise DataError(f"no document carries a label of {vocabulary} ({counts}); is it "
                            "the right vocabulary?", path=path)
        return self

    def require_text(self, path: str | Path, nothing_to: str,
                     option: str | None = None) -> LabelledData:
        """Refuse, naming ``path`` (and ``option``, the command's option giving it), a
        corpus whose every text is blank (empty or whitespace only; a CSV or JSONL corpus,
        a TSV line refuses an empty text): a blank text carries no evidence, so a model
        trained, tuned, evaluated or calibrated on it learns or measures nothing.
        ``nothing_to`` says what: "train on", "tune thresholds on"."""
        refuse_all_blank(self.texts, path, nothing_to, option=option)
        return self


@dataclass(repr=False)
class StreamedLabelledData(LabelledData):
    """:class:`LabelledData` that holds no text: ``texts`` is empty and ``streamed``
    holds each text's hash and reads the texts again a chunk at a time
    (:class:`~tagsmith.data.corpus.StreamedTexts`); ``has_text``: whether any text is
    not blank (:meth:`require_text`'s test)."""

    streamed: StreamedTexts
    has_text: bool

    def __len__(self) -> int:
        return len(self.streamed)

    def __repr__(self) -> str:
        return (f"StreamedLabelledData(n_docs={len(self)}, n_labels={self.Y.shape[1]}, "
                f"n_assignments={self.Y.nnz}, "
                f"source={getattr(self.report, 'source', None)!r})")

    def require_text(self, path: str | Path, nothing_to: str,
                     option: str | None = None) -> LabelledData:
        if not self.has_text:  # every text blank: the refusal counts them
            refuse_all_blank([""] * len(self), path, nothing_to, option=option)
        return self


def label_layout(path: str | Path) -> str:
    """Where the corpus at ``path`` gives a document's labels, for an error saying that
    no document names one: a folder's layout for a folder, the file formats' else.

    >>> label_layout("train.tsv")
    "a TSV line is TEXT, a TAB, then its labels; a CSV corpus has a 'labels' column, \
a JSONL object a 'labels' list"
    """
    if Path(path).is_dir():  # the file formats' layout says nothing of a folder's
        return ("a corpus folder's document NAME.txt has its labels in NAME.tsv or "
                "NAME.key beside it, one a line")
    queue = review_queue_hint(path)
    if queue:
        return queue
    return ("a TSV line is TEXT, a TAB, then its labels; a CSV corpus has a 'labels' "
            "column, a JSONL object a 'labels' list" + _annif_layout(path))


def review_queue_hint(path: str | Path) -> str | None:
    """What to do with an audit's review queue given where a labelled corpus is read
    (``distill audit/review.csv``, ``train``, ``eval``): it was refused as "none of the
    100 documents has a label", the TSV/CSV/JSONL layout named, as if its labels were
    misplaced. The apply-review named has the audit's --vocab: printed without it, it
    failed on the first accepted row after an audit given one (the labels read have no
    names). A Python caller (:func:`~tagsmith._surface.said`) is told
    :func:`~tagsmith.pipeline.audit.apply_decisions`, the README's way from Python, and
    how to read the queue back. None for any other file."""
    from tagsmith.audit.review import is_review_file

    if not is_review_file(path):
        return None
    head = ("this is an audit's review queue, not a corpus: fill in its decision column "
            "(accept or reject), then ")
    return head + said(
        "write the corrected corpus with tagsmith apply-review "
        f"CORPUS {shell_path(path)} -o NEW_CORPUS --vocab VOCAB (CORPUS: the file the "
        "audit read; VOCAB: the audit's --vocab, and its --bundle BUNDLE where it had one, "
        "--vocab left out where it had none) and give NEW_CORPUS instead",
        "apply it to the labels the audit read: tagsmith.apply_decisions(data.Y, rows, "
        "label_space, texts=data.texts), data = read_audit_corpus(CORPUS, label_space) of "
        f"the corpus the audit read and rows = pandas.read_csv({str(path)!r}, "
        "dtype={'decision': str}) (pandas.read_json(..., lines=True) of a .jsonl), and "
        "train on the matrix it returns")


def _annif_layout(path: str | Path) -> str:
    """What to convert in a corpus of Annif's CSV or JSON Lines format (a CSV header
    with a ``subject_uris`` column, a JSON object with a ``subjects`` list): its labels
    were read as metadata. ``""`` for any other file."""
    from tagsmith.data.readers import annif_jsonl_command, detect_format, first_lines

    try:
        fmt = detect_format(path)
    except DataError:
        return ""
    lines = first_lines(path, 2)
    if not lines:
        return ""
    # the command names the file itself, inflated first where it is a .gz (sed and jq
    # read no gzip): it named annif.csv whatever the file, sed of a .gz wrote bytes
    name = shell_path(path)
    gz = str(path).lower().endswith(".gz")
    if fmt == "csv" and "subject_uris" in lines[0].lower() and "labels" not in lines[0].lower():
        sed = "sed '1s/subject_uris/labels/; 1s/document_id/id/'"
        return ("; this is Annif's CSV corpus, whose 'subject_uris' column tagsmith reads "
                "as metadata: rename it 'labels' (and 'document_id' 'id'): "
                + (f"gzip -dc {name} | {sed}" if gz else f"{sed} {name}") + " > corpus.csv")
    if fmt == "tsv" and _csv_header(lines[0], lines[1] if len(lines) > 1 else None):
        # a spreadsheet's CSV export named .tsv: read as TSV, its lines were texts with no
        # labels, and the error said only how a TSV and a CSV corpus give labels
        cut = str(path).lower().rfind(".tsv")
        renamed = shell_path(str(path)[:cut] + ".csv" + str(path)[cut + 4:])
        return (f"; its first line, {lines[0][:80]!r}, is a CSV header (comma-separated, "
                f"no TAB): name the file .csv to read it as a CSV corpus: mv {name} {renamed}")
    if fmt == "jsonl" and _annif_subjects(path):
        return ("; this is Annif's JSON Lines corpus, whose 'subjects' list tagsmith reads "
                "as metadata: write each subject as a 'labels' key, its <uri> or label: "
                + annif_jsonl_command(path))
    return ""



def _csv_header(line: str, following: str | None = None) -> bool:
    r"""Whether ``line``, a file's first, is a CSV corpus's header: no TAB, a
    comma-separated column named ``text`` (quoted or not, in any case), and either a
    ``labels`` or ``id`` column or a ``following`` line (the file's second) of as many
    columns. A TSV whose first document, with no labels, began "Text, ..." was taken
    for one and told to be renamed .csv.

    >>> _csv_header('id,"Text",labels'), _csv_header("text,labels	x"), _csv_header("A text")
    (True, False, False)
    >>> _csv_header("Text, then more words"), _csv_header("Text, then more words", "Next.")
    (False, False)
    >>> _csv_header("title,text", '"A title, long",its text')
    True

    Its cells are the csv module's, as the CSV reader reads them: split at every comma,
    ``"id, text",labels`` named a ``text`` column, and the file was told to be renamed
    .csv, where the CSV reader then refused it for having none.

    >>> _csv_header('"id, text",labels'), _csv_header('id,"text, body",labels')
    (False, False)
    """
    if "\t" in line or "," not in line:
        return False
    cells = _csv_cells(line)
    if cells is None:
        return False
    names = {cell.strip().strip('"').strip().lower() for cell in cells}
    if "text" not in names:
        return False
    if "labels" in names or "id" in names:
        return True
    if following is None or "\t" in following:
        return False
    return len(_csv_cells(following) or ()) == len(cells)


def _csv_cells(line: str) -> list[str] | None:
    """The cells of ``line`` read as one CSV row (under tagsmith's own field limit), or
    None where the csv module cannot read it."""
    import csv

    from tagsmith.data.csvlimits import csv_field_limit

    with csv_field_limit():
        try:
            return next(csv.reader([line.rstrip("\r\n")]), [])
        except csv.Error:
            return None


def _annif_subjects(path: str | Path, n: int = 20) -> bool:
    """Whether the JSON Lines corpus ``path``'s first ``n`` documents (malformed lines
    passed over) have Annif's ``subjects`` key, one at least, and none a ``labels``
    list. A first line alone was looked at, its first 10,000 characters: a first
    document without subjects (Annif's schema allows it) or a text of more (a full-text
    corpus, ``text`` first) got the generic layout alone."""
    from tagsmith.data.readers import read_jsonl

    try:
        records = list(islice(read_jsonl(path, on_error="skip"), n))
    except (DataError, OSError, EOFError, zlib.error):
        return False
    return (any("subjects" in record.metadata for record in records)
            and not any(record.labels for record in records))


def read_labelled(path: str | Path, label_space: LabelSpace | DerivingLabels, *,
                  on_error: str = "fail", unknown_labels: str = "fail",
                  vocabulary: str | None = None,
                  vocab_option: str | None = "--vocab",
                  keep_texts: bool = True,
                  text_columns: str | Sequence[str] | None = None) -> LabelledData:
    """Stream a corpus file once into texts and a label matrix over ``label_space``.

    A file with no documents (empty, or every line skipped) is a :class:`DataError`
    naming it: nothing can be trained, evaluated or calibrated on it. ``vocabulary``
    names ``label_space`` in an unknown label's error (``"the vocabulary of the bundle
    model/"``; default "the vocabulary"). A vocabulary given as the corpus is refused
    (:func:`~tagsmith.data.readers.check_not_a_vocabulary`), naming ``vocab_option``,
    the command's option taking one (None: a bundle's command, eval or calibrate,
    whose bundle holds it). ``keep_texts=False`` keeps each text's hash instead of the
    text (a :class:`StreamedLabelledData`, whose texts are read again a chunk at a time
    for scoring): ``eval`` held every text until it returned. A corpus that cannot be
    read twice (a named pipe) keeps its texts all the same. ``text_columns``: the CSV
    columns or JSONL keys holding the text, joined in order
    (:func:`~tagsmith.data.readers.read_records`; default ``text``).

    From Python (no command running), an audit's review queue (``audit/review.csv``)
    given as the corpus is refused, saying how to apply it
    (:func:`review_queue_hint`): it holds no label, and was returned as a corpus of
    documents without one. The commands refuse it where they need labels, as before.
    """
    from tagsmith.data.corpus import Corpus, collect, collect_hashed, label_columns

    corpus = Corpus(path, label_space, on_error=on_error, unknown_labels=unknown_labels,
                    text_columns=text_columns)
    # a second read of a named pipe waits for a writer that never comes
    keep_texts = keep_texts or not (Path(path).is_file() or Path(path).is_dir())
    repeated = _RepeatedIds()
    seen = _SeenTexts()
    try:
        docs = repeated.watch(corpus.with_records())
        if keep_texts:
            texts, Y = collect(docs, label_columns(label_space))
        else:
            hashes, Y = collect_hashed(docs, label_columns(label_space), seen=seen.add)
    except UnknownLabelError as exc:
        if vocabulary is None or isinstance(exc, AmbiguousLabelError):
            raise
        raise exc.in_vocabulary(vocabulary) from None
    repeated.warn(path)
    if not (texts if keep_texts else seen.count):
        raise no_documents(path, getattr(corpus.report, "n_skipped_lines", 0),
                           getattr(corpus.report, "n_missing_files", 0),
                           getattr(corpus.report, "first_malformed", None))
    # a text that is no lone URI is all the check needs to pass (the first text, to fail)
    check_not_a_vocabulary(texts if keep_texts else seen.witness(), path,
                           vocab_option=vocab_option, labelled=True)
    if Y.count_nonzero() == 0 and not on_command_line():
        # an audit's review.csv read as a corpus: from Python it was returned with no
        # label, and train_classifier then said only that no document carried one (the
        # commands refuse it where they require labels, naming apply-review)
        queue = review_queue_hint(path)
        if queue:
            n = len(texts) if keep_texts else seen.count
            raise DataError(f"no document carries a label ({n:,} document{plural_s(n)}): "
                            f"{queue}", path=path)
    if keep_texts:
        return LabelledData(texts, Y, corpus.report)
    return StreamedLabelledData([], Y, corpus.report, StreamedTexts(corpus, hashes),
                                seen.has_text)


class _SeenTexts:
    """What :func:`read_labelled`'s checks need of texts it does not keep: how many,
    whether any is not blank, the first, and the first that is no lone ``<URI>``."""

    def __init__(self) -> None:
        self.count = 0
        self.has_text = False
        self.first: str | None = None
        self.not_uri: str | None = None

    def add(self, texts: list[str]) -> None:
        from tagsmith.data.readers import is_lone_uri

        if texts and self.first is None:
            self.first = texts[0]
        self.count += len(texts)
        self.has_text = self.has_text or any(text.strip() for text in texts)
        if self.not_uri is None:
            self.not_uri = next((text for text in texts if not is_lone_uri(text)), None)

    def witness(self) -> list[str]:
        """One text :func:`check_not_a_vocabulary` decides on as on all of them."""
        text = self.not_uri if self.not_uri is not None else self.first
        return [] if text is None else [text]


class _RepeatedIds:
    """Counts the documents whose id an earlier document of the corpus has. Training,
    evaluation and calibration never use an id, so a repeated one changes nothing
    there: one warning per corpus, as the audit refuses it (and apply-review where a
    decision names one of its documents), naming the
    first repeated id and both its lines, as the audit's error does. (A folder's ids,
    its files' stems, cannot repeat.)"""

    def __init__(self) -> None:
        from tagsmith.data.ids import FirstSeen

        self.seen = FirstSeen[int]()  # each id and the line first giving it
        self.count = 0
        self.first: tuple[str, int, int] | None = None  # the id, its first line, the repeat's

    def watch(self, pairs: Iterable[tuple[Document, Record]]) -> Iterator[Document]:
        for doc, record in pairs:
            if doc.doc_id and (first := self.seen.claim(doc.doc_id, record.line)) is not None:
                self.count += 1
                self.first = self.first or (doc.doc_id, first, record.line)
            yield doc

    def warn(self, path: str | Path) -> None:
        if self.first is not None:
            doc_id, first, line = self.first
            logger.warning("%s: %s %s the id of an earlier document (first %r, on "
                           "lines %d and %d); ids are not used here, but an audit of "
                           "this corpus refuses them, and so does apply-review where a "
                           "decision names one of their documents: give each document "
                           "an id of its own", path,
                           plural(self.count, "1 document", f"{self.count:,} documents"),
                           plural(self.count, "repeats", "repeat"), doc_id, first, line)


def read_labelled_corpora(paths: list[str | Path], vocab: str | Path | None, *,
                          on_error: str = "fail", unknown_labels: str = "fail",
                          language: str = "en", types: Sequence[str] = (),
                          schemes: Sequence[str] = (), prefixes: Sequence[str] = ()
                          ) -> tuple[LabelSpace, list[LabelledData]]:
    """The vocabulary's label space, or one derived from the corpora, and each corpus
    read over it (as :func:`read_labelled`).

    Without a vocabulary the label space is derived while the corpora are read, so each
    is read once (:func:`resolve_label_space` then :func:`read_labelled` read them twice);
    the result is the same. An unknown label's error names the vocabulary file ("not in
    the vocabulary V.tsv"), as eval's names the bundle's. ``language``: that of a TSV
    vocabulary's names and of its untagged literals (:func:`load_vocabulary`);
    ``types``, ``schemes`` and ``prefixes``: the vocabulary's labels kept (as there).
    """
    if vocab is not None:
        space = resolve_label_space(paths, vocab, language=language, types=types,
                                    schemes=schemes, prefixes=prefixes)
        # a label the selection left out is in the file: "not in the vocabulary V"
        # sent the user to add it there
        selected = ", ".join((*types, *schemes, *prefixes))
        named = f"the vocabulary {vocab}" + (f" as selected ({selected})" if selected else "")
        return space, [read_labelled(path, space, on_error=on_error,
                                     unknown_labels=unknown_labels,
                                     vocabulary=named) for path in paths]
    _say_deriving(paths)
    # unknown_labels too: an empty "<>" is unknown here, as to a derived space
    return read_deriving_labels(paths, lambda path, deriving: read_labelled(
        path, deriving, on_error=on_error, unknown_labels=unknown_labels))


def _say_deriving(paths: Sequence[str | Path]) -> None:
    """Log that the label space is derived from ``paths``, once each exists: a missing
    one was told "deriving the label space from nope.tsv" before "file not found"."""
    for path in paths:
        # not exists(): a path that cannot be looked at raised a PermissionError (3.11)
        if reachable_kind(path) == "missing":
            raise CorpusFormatError("file not found", path=path)
    logger.info("no vocabulary given: deriving the label space from %s",
                ", ".join(str(p) for p in paths))


def read_deriving_labels(paths: Sequence[str | Path],
                         read: Callable[[str | Path, DerivingLabels], Read]
                         ) -> tuple[LabelSpace, list[Read]]:
    """Read each corpus once with ``read(path, labels)`` over a label space derived from
    them all (:class:`DerivingLabels`), then move each result's ``Y`` onto that space.

    ``read`` returns a dataclass with the label matrix in its field ``Y`` (such as
    :class:`LabelledData` or :class:`tagsmith.pipeline.audit.AuditCorpus`); the results
    are copies of them with ``Y`` re-indexed, the other fields as read.
    """
    deriving = DerivingLabels()
    read_ = [read(path, deriving) for path in paths]
    space, reindex = deriving.finish(", ".join(map(str, paths)))
    return space, [replace(data, Y=reindex(data.Y)) for data in read_]


def resolve_label_space(corpus_paths: list[str | Path], vocab: str | Path | None, *,
                        on_error: str = "fail", language: str = "en",
                        types: Sequence[str] = (), schemes: Sequence[str] = (),
                        prefixes: Sequence[str] = (), show_progress: bool = False
                        ) -> LabelSpace:
    """The vocabulary file's label space (its TSV names, untagged literals, in
    ``language``; of a SKOS file, the concepts of ``types`` in ``schemes``; the labels
    whose URI starts with one of ``prefixes``), or one derived from the corpora
    (``show_progress``: :func:`~tagsmith.data.corpus.derive_label_space`'s)."""
    if vocab is not None:
        from tagsmith.data.vocab import load_vocabulary

        return load_vocabulary(vocab, language=language, types=types, schemes=schemes,
                               prefixes=prefixes)
    from tagsmith.data.corpus import derive_label_space

    _say_deriving(corpus_paths)
    return derive_label_space(corpus_paths, on_error=on_error, show_progress=show_progress)
