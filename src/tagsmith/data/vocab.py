"""Vocabulary files -> :class:`~tagsmith.data.labelspace.LabelSpace`.

Four formats, detected from the file name, and a fifth by its first line (each may be
gzipped, ``.gz``). Language tags are read in lower case (``label_EN`` and ``"..."@en-GB``
give ``en`` and ``en-gb``), as tags compare ignoring case.

``.tsv`` -- Annif's TSV vocabulary: one ``<uri><TAB>label`` per line, in the language
    given by ``language``. Angle brackets and the label are optional; a third column, if
    present, is the notation; further columns are ignored. A first row that is a
    spreadsheet's header (``uri<TAB>label``, ``id<TAB>name``: :func:`_tsv_header`) is
    skipped with a warning naming ``file:1``. Blank lines and lines starting
    with ``#`` are skipped (those that look like label rows, ``#fashion<TAB>Fashion``,
    warned about once: :func:`_warn_hash_rows`; ``<#fashion>`` keeps one). A carriage
    return inside a line (not ending it) is an error: lines end at LF or CR LF (at CR
    only in a file with no LF, an old Mac one).
``.csv`` -- Annif's CSV vocabulary: a header row naming a ``uri`` column and
    ``label_xx`` columns (one per language), optionally ``notation``, ``broader``
    (space-separated URIs), ``altlabel_xx`` and ``hiddenlabel_xx`` (several
    separated by ``|``; hidden labels, as ``skos:hiddenLabel``, name a concept in a
    corpus but are never shown),
    ``description_xx``, ``deprecated`` (true/false/1/0/yes/no) and ``replaced_by``
    (space-separated URIs of the labels replacing a deprecated one). Column names are
    case-insensitive, a locale-style language is a language tag (``label_en_US`` gives
    ``en-us``), cells are stripped, unknown columns are ignored, and a bare
    ``label`` column is read as ``label_<language>``; a header naming one column twice
    is an error, and one with no label column (``name``, ``prefLabel``) is warned about:
    its labels have no names.
``.ttl .rdf .xml .owl .nt .jsonld`` -- SKOS, read with rdflib (``pip install
    'tagsmith[skos]'``). Concepts are the URI subjects typed ``skos:Concept`` or a class
    the file declares ``rdfs:subClassOf*`` it (STW's ``zbwext:Descriptor``; blank-node
    concepts, with no URI to be a label by, are left out with one warning, as are
    subjects with a ``skos:prefLabel`` and no ``rdf:type`` at all), in the order
    of their :data:`LABEL_ID` (written by :func:`save_vocabulary_skos`, so a label keeps
    its id through a round trip), the concepts without one after them sorted by URI, so
    ids are reproducible. Each gets its ``skos:prefLabel`` per language (else
    ``rdfs:label``; of several in one language, which SKOS forbids, the first in
    code-point order, with one warning naming the file, the concepts and their labels),
    sorted ``skos:altLabel`` and ``skos:hiddenLabel``, first ``skos:notation``, description
    (``skos:definition``, else ``skos:scopeNote``), broader concepts (``skos:broader``
    and inverse ``skos:narrower``, within the vocabulary: links to other nodes are
    dropped with one warning), ``owl:deprecated`` and ``dct:isReplacedBy``
    (``http://purl.org/dc/terms/isReplacedBy``, under any prefix).
    Untagged literals count as ``language``; literals are stripped, blank ones ignored.
    Files are UTF-8, except RDF/XML, which may be in the encoding its XML declaration
    names or UTF-16 with a byte-order mark. An escaped surrogate pair
    (``"\\uD83D\\uDE00"``) reads as the character it encodes; a surrogate escaped
    without its pair (half of a character cut in two) is refused naming the concept, and
    so is a concept URI the TSV and CSV readers refuse (whitespace, ``<``, ``>``, ``"``,
    a control character). rdflib parses a file in one call, with nothing to count: one
    of more than :data:`SKOS_ANNOUNCE_BYTES` (5 MB, inflated) is announced with an INFO
    log line before, and its triples and parse time logged after.
``.txt`` -- a plain list of labels (Reuters-21578's ``labels.txt``): each line a label's
    key (its URI, as a corpus names it; angle brackets optional), with no name, as a TSV
    line with no label column; blank lines and ``# `` comments skipped (``#`` then a
    space, nothing or a sign, or a ``#`` line holding a space: ``#fashion``, a hashtag,
    is a key). A line holding a TAB or a
    space is malformed (a TSV named ``.txt``, a list of names, a document): see
    :func:`_list_rows`. A line is a key, never its line number (GoEmotions' ``labels.txt``
    names the ids its corpus uses by line number: a ``number<TAB>name`` TSV reads it).

Google's product taxonomy (``taxonomy-with-ids.en-US.txt``), whatever its suffix, is
    told by its first line (:data:`GOOGLE_HEADER`): ``ID - Path > To > Category`` lines,
    each the label of URI ``ID`` named by its whole path (its steps joined by ``" > "``),
    its broader label the path less its last step; a path of two ids is refused (see
    :func:`_google_rows`).
A ``broader`` URI that is not in the vocabulary is dropped with one warning naming
``file:line`` in CSV, and the concept in SKOS (which has no lines), with the count of
links dropped; a ``broader`` cycle (a label its own ancestor, a self-loop included)
raises :class:`~tagsmith.exceptions.VocabularyError` naming the file (``file:line`` for
CSV) and the concepts on the cycle, in CSV and SKOS alike. So are the replacements
(``replaced_by``, ``dct:isReplacedBy``): one outside the vocabulary is dropped with one
warning naming the concept (and ``file:line`` in CSV), and a cycle of deprecated labels
replacing each other is refused naming it; a chain (``a`` replaced by ``b``, itself
deprecated and replaced by ``c``) resolves to ``c`` (:meth:`LabelSpace.replacement_ids`).

A ``.gz`` suffix is recognised in any case (``vocab.TSV.GZ``). A CSV cell and a
description (any format) may hold :data:`MAX_CELL_CHARS` characters (1 MiB), a line of
a TSV, CSV or list vocabulary :data:`MAX_VOCAB_LINE_BYTES` bytes (16 MiB; a longer one
is refused having read about that much, naming ``file:line``), and a URI, name,
alternative label or notation longer than :data:`MAX_NAME_CHARS` characters is
malformed.

Malformed TSV/CSV lines (no usable URI, a bad ``deprecated`` cell, an over-long name,
a CSV row with more non-blank cells than the header) and repeated URIs raise
:class:`~tagsmith.exceptions.VocabularyError` naming ``file:line``; with
``on_error="skip"`` they are skipped (the first of repeated URIs is kept) and counted in
one warning on the ``tagsmith`` logger.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import logging
import re
import time
import zlib
from collections import Counter
from collections.abc import Container, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

from tagsmith._params import check_choice
from tagsmith._plural import NAME_LIMIT, clip, plural, plural_s
from tagsmith.data import readers
from tagsmith.data.csvlimits import (
    blank_header_error,
    csv_delimiter,
    csv_writer,
    next_csv_row,
)
from tagsmith.data.labelspace import (
    Label,
    LabelSpace,
    broader_cycle,
    control_char,
    cycle_message,
    find_cycle,
    in_language,
    replacement_cycle,
    replacement_cycle_message,
    strip_brackets,
)
from tagsmith.data.readers import (
    LineTooLong,
    compression_mismatch,
    numbered_lines,
    open_binary,
    split_lines,
)
from tagsmith.data.textio import LONE_SURROGATE, atomic_text_writer, not_a_file, reachable_kind
from tagsmith.exceptions import (
    AmbiguousLabelError,
    DataError,
    InvalidParameterError,
    MissingDependencyError,
    UnsupportedFormatError,
    VocabularyError,
)

logger = logging.getLogger("tagsmith")

#: file suffix (before any ``.gz``) -> vocabulary format
SUFFIXES = {".tsv": "tsv", ".csv": "csv", ".txt": "list", ".ttl": "skos", ".rdf": "skos",
            ".xml": "skos", ".owl": "skos", ".nt": "skos", ".jsonld": "skos"}
#: file suffix -> rdflib parser name
RDF_FORMATS = {".ttl": "turtle", ".rdf": "xml", ".xml": "xml", ".owl": "xml", ".nt": "nt",
               ".jsonld": "json-ld"}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_LANG_COLUMNS = ("label", "altlabel", "description", "hiddenlabel")
#: the annotation property :func:`save_vocabulary_skos` gives each concept, its label id
#: (an integer), so that reading the file back keeps every label on its id: RDF has no
#: order, and sorting by URI would renumber a space whose ids are not in URI order
LABEL_ID = "urn:tagsmith:vocab:labelId"
#: the CSV column :func:`save_vocabulary_csv` writes ``close_matches`` in (the reader
#: ignores it, as any column it does not know)
CLOSE_MATCH_COLUMN = "closematch"
#: the longest URI, preferred or alternative label or notation accepted, in characters
MAX_NAME_CHARS = 10_000
#: the longest cell of a CSV vocabulary and description of any vocabulary, in characters
#: (1 MiB): a 200 MB cell cost about 0.8 GB of memory before its name was refused
MAX_CELL_CHARS = 1 << 20
#: the most bytes a line of a TSV, CSV or list vocabulary may hold (16 MiB: room for
#: several cells of :data:`MAX_CELL_CHARS` characters of up to 4 bytes each), so that a
#: line of hundreds of MB is refused having read about that much of it
MAX_VOCAB_LINE_BYTES = 16 << 20

Row = tuple[int, "Label | str"]  # (line number, the label or why the line is malformed)


# -- public API -------------------------------------------------------------------------------
def load_vocabulary(path: str | Path, *, format: str | None = None, language: str = "en",
                    on_error: str = "fail", types: Iterable[str] = (),
                    schemes: Iterable[str] = (), prefixes: Iterable[str] = ()) -> LabelSpace:
    """Read a TSV, CSV or SKOS vocabulary file into a label space (see the module doc).

    ``format`` (``"tsv"``, ``"csv"``, ``"skos"``, ``"google"`` or ``"list"``) overrides
    detection from the suffix (and from a Google product taxonomy's first line);
    ``language`` is the language of TSV labels and of untagged literals; ``on_error`` is
    ``"fail"`` or ``"skip"`` for malformed TSV/CSV lines. ``types`` and ``schemes``
    (SKOS files only) keep the concepts of one of those classes (``rdf:type``, or a
    subclass of it) and in one of those concept schemes (``skos:inScheme``,
    ``skos:topConceptOf``, inverse ``skos:hasTopConcept``): each a ``<URI>``, a URI, a
    CURIE of the file's prefixes (``zbwext:Descriptor``) or a local name naming one
    class or scheme of the file's concepts (``Descriptor``). One naming none is refused
    listing those present with their concept counts (:func:`_select_concepts`).
    ``prefixes`` (any format) keeps the labels whose URI starts with one of them
    (``http://zbw.eu/stw/descriptor/``; ``<...>`` optional); one starting none is refused
    listing the URIs' namespaces with counts. Links (``broader``, ``replaced_by``) to the
    labels left out are dropped with one INFO line.

    >>> import os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "vocab.tsv")
    >>> _ = open(name, "w").write("<http://x/a>\\tapple\\nhttp://x/b\\tpear\\tP1\\n")
    >>> space = load_vocabulary(name)
    >>> space.uris, space.names(), space[1].notation
    (['http://x/a', 'http://x/b'], ['apple', 'pear'], 'P1')
    """
    on_error = check_choice("on_error", on_error, ("fail", "skip"))
    format = check_choice("format", format, (*FORMATS, None))
    language = language.lower()  # language tags compare ignoring case: one spelling
    path = Path(path)
    try:  # not exists(): a PermissionError of its own (3.11)
        kind = reachable_kind(path)
    except DataError as exc:
        raise VocabularyError(exc.reason, path=path) from None
    if kind == "missing":
        raise VocabularyError("vocabulary file not found", path=path)
    if kind != "a file":
        raise VocabularyError(not_a_file(path, "a vocabulary"), path=path)
    problem = compression_mismatch(path)  # said "not UTF-8" or "Not a gzipped file"
    if problem is not None:
        raise VocabularyError(problem, path=path)
    kind = format or ("google" if _google_taxonomy(path) else detect_format(path))
    types, schemes = _selection("types", types), _selection("schemes", schemes)
    prefixes = tuple(strip_brackets(p) for p in _selection("prefixes", prefixes))
    if (types or schemes) and kind != "skos":
        raise VocabularyError(
            f"a selection by concept {'type' if types else 'scheme'} needs a SKOS "
            f"vocabulary (this one is read as {kind.upper() if kind in ('tsv', 'csv') else kind}, "
            "whose labels have no class or scheme): give the SKOS file, or list the "
            "labels to leave out and --exclude them", path=path)
    said: list[str] = []  # why a TSV's '#' lines were skipped, for an error of no labels
    resolved: dict[str, tuple[str, ...]] = {}  # the URIs types and schemes name
    namespaces: dict[str, str] = {}  # a SKOS file's prefixes, for an export to keep
    titles: dict[str, str] = {}  # a SKOS file's schemes' titles, likewise
    if kind == "skos":
        labels = _read_skos(path, language, types, schemes, prefixes, resolved, namespaces,
                            titles)
        _refuse_label_problems(labels, path)
    else:
        rows = (_tsv_rows(path, language, said) if kind == "tsv"
                else _google_rows(path, language)
                if kind == "google" else _list_rows(path) if kind == "list"
                else _csv_rows(path, language))
        labels = _collect(rows, path, on_error)
        if prefixes and labels:
            labels = _keep_prefixed(labels, prefixes, path)
    if not labels:  # a 0-label space only fails later, with no file name
        raise VocabularyError("no labels in the vocabulary" + (
            " (no skos:Concept found)" if kind == "skos" else "") + "".join(
            f"; {text}" for text in said), path=path)
    _warn_character_references(labels, path)
    space = LabelSpace(labels, name=_stem(path), source=str(path))
    space.selection = {"types": resolved.get("types", ()),
                       "schemes": resolved.get("schemes", ()), "prefixes": prefixes}
    space.namespaces = namespaces
    space.scheme_titles = titles
    return space


#: an HTML character reference: a named one (``&amp;``) or a numeric one (``&#38;``,
#: ``&#x26;``), ended by its ``;``
_CHARACTER_REFERENCE = re.compile(
    r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")


def _warn_character_references(labels: list[Label], path: Path) -> None:
    """One warning for the names and alternative labels holding HTML character
    references (STW's ``'W.20  R&amp;D sector'``: text escaped twice over at export):
    counted, the first named with its concept. They are read as written (a vocabulary
    says what its names are), but were shown so with nothing said, and a corpus label
    or an LLM answer naming the characters they stand for (``R&D``) names no label."""
    import html

    found: list[tuple[str, str]] = []  # (concept URI, name)
    for label in labels:
        for name in itertools.chain(label.pref_labels.values(),
                                    itertools.chain.from_iterable(label.alt_labels.values()),
                                    itertools.chain.from_iterable(label.hidden_labels.values())):
            if "&" in name and any(html.unescape(ref) != ref
                                   for ref in _CHARACTER_REFERENCE.findall(name)):
                found.append((label.uri, name))
    if not found:
        return
    uri, name = found[0]
    logger.warning("%s: %s hold%s HTML character references (%r of <%s>%s), as text escaped "
                   "twice over writes them: read as written, so %r in a corpus or an LLM "
                   "answer names no label; write the characters themselves in the file",
                   path, plural(len(found), "1 name", f"{len(found):,} names"),
                   plural(len(found), "s", ""), name, uri, ", ..." if len(found) > 1 else "",
                   html.unescape(name))


def load_or_update(path: str | Path, previous: LabelSpace | None = None, *,
                   format: str | None = None, language: str = "en",
                   on_error: str = "fail") -> LabelSpace:
    """Load a vocabulary; with ``previous``, merge it in keeping ``previous``'s ids stable.

    ``format``, ``language`` and ``on_error`` go to :func:`load_vocabulary`; see
    :meth:`LabelSpace.updated`.
    """
    loaded = load_vocabulary(path, format=format, language=language, on_error=on_error)
    return loaded if previous is None else previous.updated(loaded)


def detect_format(path: str | Path) -> str:
    """``"tsv"``, ``"csv"``, ``"list"`` or ``"skos"`` from the file name (a ``.gz`` is
    looked through).

    >>> detect_format("stw.ttl.gz"), detect_format("vocab.TSV")
    ('skos', 'tsv')
    """
    suffix = format_suffix(Path(path))
    if suffix not in SUFFIXES:
        accepted = " ".join(SUFFIXES)
        raise UnsupportedFormatError(
            f"unknown vocabulary format {suffix or '(no suffix)'!r}; accepted suffixes: "
            f"{accepted} (each optionally .gz), or Google's product taxonomy, told by its "
            f"first line {GOOGLE_HEADER!r}: rename the file (from Python, load_vocabulary "
            f"also takes format={'|'.join(map(repr, FORMATS))})", path=path)
    return SUFFIXES[suffix]


def save_vocabulary_tsv(space: LabelSpace, path: str | Path, language: str = "en", *,
                        fallback: bool = False) -> Path:
    """Write ``<uri><TAB>label[<TAB>notation]`` lines (atomically; ``.gz`` compresses).

    The label is the preferred name in ``language`` or a variant of it (``en-GB`` falls
    back to ``en``, tags compare ignoring case; empty if it has none, or, with
    ``fallback``, the name :meth:`LabelSpace.name_of` shows: the English one, else the
    first language's; empty only for a label with no name at all); tabs and line
    breaks inside names become spaces. Other fields are not part of the TSV format. A
    label :func:`load_vocabulary` would refuse (see :func:`_check_loadable`) raises
    :class:`~tagsmith.exceptions.VocabularyError` naming it, before anything is written.

    >>> import os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "v.tsv")
    >>> space = LabelSpace([Label("u:a", {"de": "Apfel"}), Label("u:b", {"en": "pear"})])
    >>> _ = save_vocabulary_tsv(space, name, language="de", fallback=True)
    >>> open(name, encoding="utf-8").read().splitlines()
    ['<u:a>\\tApfel', '<u:b>\\tpear']
    """
    _check_loadable(space, path, hierarchy=False)  # no broader in TSV
    with atomic_text_writer(path) as out:
        for label_id, label in enumerate(space):
            name = in_language(label.pref_labels, language)
            if name is None and fallback and any(label.pref_labels.values()):
                # save_vocabulary_tsv(language="de") wrote an empty name for a concept
                # lacking a German one, a label no text could name
                name = space.name_of(label_id, language)
            cols = [f"<{label.uri}>", _one_line(name or "")]
            if label.notation:
                cols.append(_one_line(label.notation))
            out.write("\t".join(cols) + "\n")
    return Path(path)


def save_vocabulary_csv(space: LabelSpace, path: str | Path, *,
                        close_matches: Mapping[str, str] | None = None) -> Path:
    """Write the CSV vocabulary format with every field a label carries (atomically).

    Columns: ``uri``, ``label_xx`` per language (one empty ``label`` where no label has
    a name, so the file reads back without a warning of no label column), then
    ``altlabel_xx``, ``description_xx``, ``hiddenlabel_xx``, ``notation``, ``broader``,
    ``deprecated`` and ``replaced_by`` where any label has them. With
    ``close_matches`` (label URI -> the URI of a concept of another vocabulary, as
    ``taxonomy --map-to`` finds), a last ``closematch`` column holds each label's match
    (empty for a label with none; an empty mapping, where no label matched, writes the
    column all empty, so every file of a mapped run has it): a column
    :func:`load_vocabulary` ignores, as any unknown one, so the file reads back as the
    same vocabulary. An alternative label containing ``|`` (the format's separator,
    which has no escape) raises :class:`~tagsmith.exceptions.VocabularyError` naming it,
    before anything is written, as does a label :func:`load_vocabulary` would refuse
    (see :func:`_check_loadable`).
    Cells are written as they are, with no spreadsheet formula escaping (unlike review
    files): the file is read back, by :func:`load_vocabulary` and by Annif, and an escape
    would stay in the value; text from an untrusted source is cleaned where it is made
    (a generated taxonomy's names and descriptions never start with a formula character).

    >>> import os, tempfile
    >>> name = os.path.join(tempfile.mkdtemp(), "v.csv")
    >>> space = LabelSpace([Label("u:a", {"en": "a, b", "fi": "ä"}, {"en": ["x", "y"]})])
    >>> _ = save_vocabulary_csv(space, name)
    >>> print(open(name, encoding="utf-8").read(), end="")
    uri,label_en,label_fi,altlabel_en
    u:a,"a, b",ä,x|y
    >>> load_vocabulary(name) == space
    True
    """
    _check_loadable(space, path)
    matched = close_matches is not None
    close_matches = _checked_close_matches(space, close_matches, path)
    for label in space:
        # a hidden label named as an "alternative label" sent the user looking for an
        # altLabel the concept does not have
        for kind, labels in (("alternative", label.alt_labels),
                             ("hidden", label.hidden_labels)):
            for lang, names in labels.items():
                for name in names:
                    if "|" in name:
                        raise VocabularyError(
                            f"concept <{label.uri[:200]}>: {kind} label {name[:80]!r} "
                            f"({lang}) contains '|', the CSV format's separator of "
                            f"{kind} labels; it would be read back as several labels: "
                            "save as SKOS or rename the label", path=path)
    columns = ["uri"]
    for kind, attr in zip(_LANG_COLUMNS, ("pref_labels", "alt_labels", "description",
                                          "hidden_labels"), strict=True):
        langs = sorted({lang for label in space for lang in getattr(label, attr)})
        # a space with no names wrote a header of 'uri' alone, which reading back warned
        # of ('no label column'): an empty 'label' column says the labels have none
        columns += [f"{kind}_{lang}" for lang in langs] or (["label"] if kind == "label"
                                                             else [])
    columns += [name for name in ("notation", "broader", "deprecated", "replaced_by")
                if any(getattr(label, name) for label in space)]
    with atomic_text_writer(path) as out:
        writer = csv_writer(out)  # quotes a lone \r, which a csv reader splits on
        writer.writerow(columns + [CLOSE_MATCH_COLUMN] * matched)
        writer.writerows([_csv_cell(label, column) for column in columns]
                         + [close_matches.get(label.uri, "")] * matched for label in space)
    return Path(path)


def _checked_close_matches(space: LabelSpace, close_matches: Mapping[str, str] | None,
                           path: str | Path) -> dict[str, str]:
    """``close_matches`` as a dict, refusing a key that is no label of ``space`` or a
    match no vocabulary file could hold as a URI (raising
    :class:`~tagsmith.exceptions.VocabularyError` naming the concept, before anything
    is written)."""
    if close_matches is None:
        return {}
    uris = {label.uri for label in space}
    for uri, match in close_matches.items():
        shown = str(uri)[:200].encode("utf-8", "backslashreplace").decode("utf-8")
        if uri not in uris:
            raise VocabularyError(f"close match given for <{shown}>, which is no label "
                                  "of the vocabulary; nothing was written", path=path)
        problem = (label_problem(Label(match)) if isinstance(match, str)
                   else f"expected a URI, found {match!r}")
        if problem:  # as a concept's own URI is checked
            raise VocabularyError(f"concept <{shown}>: close match: {problem}; nothing was "
                                  "written", path=path)
    return dict(close_matches)


# -- TSV and CSV ------------------------------------------------------------------------------
def _tsv_rows(path: Path, language: str, said: list[str] | None = None) -> Iterator[Row]:
    """The rows of a TSV vocabulary; blank lines and ``#`` lines skipped, those that
    look like label rows warned about once (:func:`_warn_hash_rows`; the warning is
    appended to ``said``, for an error of no labels: ``-q`` hides a warning)."""
    label_fields: set[int] = set()  # the numbers of fields of the label rows
    # a skipped '#' line that looks like a label row, by its number of fields: (count,
    # first line number, first line)
    hashed: dict[int, list] = {}
    content = False  # whether a line before this one held anything (a header's place)
    header = None  # a first line '#id<TAB>name': a header, unless no line is a label's
    with _reading(path) as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if line.lstrip().startswith("#"):
                if _hash_row(line):
                    if content:
                        seen = hashed.setdefault(line.count("\t") + 1, [0, number, line])
                        seen[0] += 1
                    else:
                        header = (line.count("\t") + 1, number, line)
                content = True
                continue
            content_before, content = content, True
            if "\r" in line:  # a TSV cell has no quoting to hold one, as a CSV cell has
                yield number, ("a carriage return (CR) inside the line, not at its end; "
                               "remove it (a TSV name cannot hold a line break)")
                continue
            cols = line.split("\t")
            if not content_before and _tsv_header(cols):
                # a spreadsheet's 'uri<TAB>label' row read as a label 'uri' named 'label'
                # (an unused label, the label space one larger), with no word
                skipped = (f"skipped the header row {line[:80]!r}: a TSV vocabulary has "
                           "no header (Annif's is <uri><TAB>label lines alone); its column "
                           "names are not a label")
                logger.warning("%s:%d: %s", path, number, skipped)
                if said is not None:  # for an error of no labels: -q hides a warning
                    said.append(f"line {number}: {skipped}")
                continue
            uri = strip_brackets(cols[0])
            if not _valid_uri(uri):
                yield number, (f"expected <uri><TAB>label, found {line[:80]!r}"
                               + _spaced_code_hint(uri))
                continue
            name = cols[1].strip() if len(cols) > 1 else ""
            notation = cols[2].strip() if len(cols) > 2 else ""
            label_fields.add(len(cols))
            yield number, Label(uri, pref_labels={language: name} if name else {},
                                notation=notation or None)
    if header is not None and not label_fields:  # '#a<TAB>A' lines alone: no header
        fields, number, line = header
        seen = hashed.setdefault(fields, [0, number, line])
        seen[0], seen[1], seen[2] = seen[0] + 1, number, line
    warned = _warn_hash_rows(path, hashed, label_fields)
    if warned and said is not None:
        said.append(warned)


def _tsv_header(cols: list[str]) -> bool:
    """Whether the first row of a TSV vocabulary is a header, as a spreadsheet saved as
    TSV has: its first cell a URI column's name (``uri``, ``id``, ``code``: the CSV
    reader's, :func:`_csv_column` and :data:`_COLUMN_NAMES`, in any case) with no
    angle brackets, and its second a label column's (``label``, ``label_en``, ``name``,
    ``prefLabel``), or no second cell where the first is ``uri`` itself. A key written
    ``<uri>`` is a label's.

    >>> [_tsv_header(s.split("\\t")) for s in ("URI\\tLabel_en", "id\\tname", "uri",
    ...                                           "<uri>\\tlabel", "id\\tIdentifier", "code")]
    [True, True, True, False, False, False]
    """
    first = cols[0].strip()  # a byte-order mark is gone already (_decoded)
    if first.startswith("<") or ":" in first:
        return False

    def kind(cell: str) -> str | None:
        return _csv_column(cell, "en")[0] or _column_meant(cell)

    if kind(first) != "uri":
        return False
    if len(cols) == 1 or not "".join(cols[1:]).strip():
        return first.lower() == "uri"
    return kind(cols[1]) == "label"


def _hash_row(line: str) -> bool:
    """Whether a TSV vocabulary's ``#`` line looks like a label row: its first field a
    key (``#fashion``: ``#`` then a letter, a digit or ``_``, as a plain list's hashtag,
    no space in it) followed by a TAB.

    >>> [_hash_row(s) for s in ("#fashion\\tFashion", "# id\\tname", "##\\tx", "#a b\\tc")]
    [True, False, False, False]
    """
    key, tab, _ = line.strip().partition("\t")
    after = key[1:2]
    return bool(tab) and (after.isalnum() or after == "_") and _valid_uri(key)


def _warn_hash_rows(path: Path, hashed: dict[int, list], label_fields: set[int]) -> str:
    """One warning for the skipped ``#`` lines of a TSV vocabulary that look like label
    rows (:func:`_hash_row`, as many fields as a label row, or any where there is none),
    counted, the first named: ``#fashion<TAB>Fashion`` was dropped with no word (a file
    of such lines failed with "no labels in the vocabulary"), while a plain list keeps
    ``#fashion``. A ``#`` line is still skipped, as a header (``#id<TAB>name``) is one:
    the first line holding anything is never counted, a header's place."""
    found = [seen for fields, seen in hashed.items()
             if fields in label_fields or not label_fields]
    if not found:
        return ""
    count = sum(seen[0] for seen in found)
    _, line, text = min(found, key=lambda seen: seen[1])
    said = (f"skipped {plural(count, '1 line', f'{count:,} lines')} starting with '#' that "
            f"{plural(count, 'looks like a label row', 'look like label rows')} (line "
            f"{line}: {text[:80]!r}): a TSV vocabulary's '#' line is a comment; to keep a "
            "label whose key begins with '#', write the key in angle brackets, "
            "<#fashion><TAB>Fashion")
    logger.warning("%s:%d: %s", path, line, said)
    return said


#: the header of a CSV vocabulary (a ``uri`` column first, comma or semicolon separated),
#: which a plain list (``.txt``) refuses rather than read its lines as keys
_CSV_VOCAB_HEADER = re.compile(r'\s*"?uri"?\s*[,;]', re.IGNORECASE)


def _list_comment(line: str) -> bool:
    """Whether a plain list's line is a comment: ``#`` followed by a space, by nothing
    or by another sign (``# topics``, ``#``, ``##``, ``#---``); ``#`` followed by a
    letter, a digit or ``_`` is a hashtag, a label's key (a list of hashtags lost every
    label, read as comments).

    >>> [_list_comment(s) for s in ("# topics", "  #", "##", "#fashion", "#2024", "#_x")]
    [True, True, True, False, False, False]

    A ``#`` line holding a space or TAB inside it is a comment too, ``#Labels from
    2024``: no key holds one (such a list, read whole before hashtags were keys, was
    refused at that line as a label with a name):

    >>> _list_comment("#Labels from 2024"), _list_comment("#fashion  ")
    (True, False)
    """
    text = line.strip()
    if not text.startswith("#"):
        return False
    after = text[1:2]
    return not (after.isalnum() or after == "_") or len(text.split()) > 1


def _list_rows(path: Path) -> Iterator[Row]:
    """A plain list of labels (``.txt``, Reuters-21578's ``labels.txt``): each line a
    label's key, its URI, as a corpus names it, with no name (shown by its key, as a TSV
    line with no label column is); blank lines and ``#`` comments skipped (see
    :func:`_list_comment`: ``#fashion``, a hashtag, is a label's key). A
    line is a key only where a TSV's first column could be one: a line holding a TAB (a
    TSV vocabulary named ``.txt``) or a space (a name, a sentence of a document, an
    ``ID - Category`` line) is malformed, naming the line, not read as a label no corpus
    names. A line is its label's key, never its line number: a file mapping line numbers
    to names (GoEmotions' ``labels.txt``) is a TSV of ``number<TAB>name`` lines."""
    first = True
    with _reading(path) as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.rstrip("\r\n")
            if not line.strip() or _list_comment(line):
                continue
            if first and _CSV_VOCAB_HEADER.match(line):
                # a CSV vocabulary named .txt: its header and '<uri>,name' lines hold no
                # space where the names are one word, and each was read as a label's key
                raise VocabularyError(
                    f"a .txt vocabulary is one label per line, found {line[:80]!r}, the "
                    "header of a CSV vocabulary: name it .csv", path=path, line=number)
            first = first and line.strip().lower().startswith("sep=")  # Excel's line
            if "\t" in line:
                yield number, (f"a .txt vocabulary is one label per line, found a TAB in "
                               f"{line[:80]!r}: a <uri><TAB>label vocabulary is read as "
                               "TSV, name it .tsv")
                continue
            key = strip_brackets(line.strip())
            if not _valid_uri(key):
                yield number, (f"a .txt vocabulary is one label per line, its key (no "
                               f"spaces), found {line[:80]!r}: a label with a name of its "
                               "own is a <uri><TAB>name line of a .tsv vocabulary"
                               + (_GOOGLE_NO_HEADER if _GOOGLE_ID.match(line)
                                  else _spaced_code_hint(key)))
                continue
            yield number, Label(key)


#: the first line of Google's product taxonomy files (``taxonomy-with-ids.en-US.txt``)
GOOGLE_HEADER = "# Google_Product_Taxonomy_Version:"
#: every ``format`` :func:`load_vocabulary` takes (the unknown-format message lists them:
#: it left out ``'google'``)
FORMATS = ("tsv", "csv", "skos", "google", "list")
_GOOGLE_LINE = re.compile(r"\s*(\d+)\s+-\s+(\S.*?)\s*")
#: the start of an ``ID - Category`` line, which tells a renamed taxonomy from a TSV
_GOOGLE_ID = re.compile(r"\s*\d+\s+-\s")
#: what a plain list's ``ID - Category`` line is told: Google's taxonomy lacking its header
_GOOGLE_NO_HEADER = (f"; an 'ID - Category' line is Google's product taxonomy's, told by its "
                     f"first line {GOOGLE_HEADER!r}, missing here: put that line back (from "
                     "Python, load_vocabulary also takes format='google')")


#: how much of a vocabulary's start is read to tell Google's taxonomy from the rest
_GOOGLE_SNIFF_BYTES = 4096


def _google_taxonomy(path: Path) -> bool:
    """Whether ``path`` starts with :data:`GOOGLE_HEADER` (whatever its suffix: the file
    is published as ``.txt``); a file that cannot be read is left to the reader. A file
    of a suffix of its own (:data:`SUFFIXES`) is Google's only where its first line that
    is no ``#`` comment is an ``ID - ...`` line too: a TSV or Turtle conversion keeping
    the header as a comment was read as Google's, every line of it malformed."""
    # its start first, a bounded read: a file with no line break (a 10 GB Turtle file on
    # one line, or none at all) was read whole as its "first line" before any size check
    try:
        with open_binary(path, VocabularyError) as raw:
            start = raw.read(_GOOGLE_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error, VocabularyError):
        return False
    # decoded, as the line below is read: bytes.lstrip() strips ASCII spaces alone, and a
    # header after a no-break space, which str.lstrip() strips, was missed
    if not start.decode("utf-8", "ignore").removeprefix("\ufeff").lstrip() \
            .startswith(GOOGLE_HEADER):
        return False
    # the header's line ends within it, as Google's does: a header-like first line of
    # 4 KB or more (a file of one line) was read whole below, as its "first line"
    if len(start) == _GOOGLE_SNIFF_BYTES and b"\n" not in start and b"\r" not in start:
        return False
    try:
        with _reading(path) as handle:
            if not next(handle, "").lstrip().startswith(GOOGLE_HEADER):
                return False
            if SUFFIXES.get(format_suffix(path)) in (None, "list"):  # published as .txt
                return True
            first = next((line for line in handle
                          if line.strip() and not line.lstrip().startswith("#")), "")
    except VocabularyError:
        return False
    return _GOOGLE_ID.match(first) is not None


def _google_rows(path: Path, language: str) -> Iterator[Row]:
    """Google's product taxonomy with ids: ``ID - Path > To > Category`` lines (``#``
    lines and blank ones skipped). A label's URI is its id, its name (in ``language``)
    the whole path, which a product feed's ``google_product_category`` also takes, its
    steps stripped and joined by ``" > "`` (``2 - A>B`` is named ``A > B``), and its
    broader label the category whose path, in that form, is its own less the last
    ``" > "`` step (one warning, naming the first ``file:line``, counts the categories
    whose parent is not in the file: they have no broader label). A path without an id
    (``taxonomy.en-US.txt``) is malformed: its categories have no URI; so is a path
    given a second id (naming the line of the first), as a repeated URI is: its
    children's broader label would be either."""
    rows: list[tuple[int, Label | str]] = []
    ids: dict[str, str] = {}
    lines: dict[str, int] = {}
    with _reading(path) as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            match = _GOOGLE_LINE.fullmatch(line)
            if match is None:
                rows.append((number, (
                    f"expected 'ID - Category > Path' (Google's taxonomy-with-ids file), "
                    f"found {line[:80]!r}" + (
                        "; a path without an id has no URI to be a label by: use "
                        "taxonomy-with-ids.<LANG>.txt, which gives each its id"
                        if " - " not in line and not line.lstrip()[:1].isdigit() else ""))))
                continue
            uri, name = match.groups()
            name = " > ".join(step.strip() for step in name.split(">"))
            if name in ids and ids[name] != uri:
                rows.append((number, f"duplicate path {name!r} of id {uri} (first on line "
                                     f"{lines[name]}, id {ids[name]}): each category has "
                                     "one id"))
                continue
            ids.setdefault(name, uri)
            lines.setdefault(name, number)
            rows.append((number, Label(uri, pref_labels={language: name})))
    orphans: list[tuple[int, str]] = []
    for number, label in rows:
        if isinstance(label, Label):
            name = label.pref_labels[language]
            parent, sep, _ = name.rpartition(" > ")
            if sep and parent in ids:
                label.broader = [ids[parent]]
            elif sep:
                orphans.append((number, parent))
        yield number, label
    if orphans:
        # the first one's missing parent named: a '>' inside a category's name ('Toys >
        # Cars > 1:18 > Scale') splits it into two steps, the step before it taken for a
        # parent the file never has, and the warning said only "1 category"
        number, parent = orphans[0]
        logger.warning("%s:%d: %s categor%s whose parent path is not in the file ha%s no "
                       "broader label (the first's parent %r: a copy trimmed of it, or a "
                       "'>' inside a category's name, which splits the name into steps)",
                       path, number, f"{len(orphans):,}",
                       plural(len(orphans), "y", "ies"), plural(len(orphans), "s", "ve"),
                       clip(parent, NAME_LIMIT, collapse=False))


def _csv_rows(path: Path, language: str) -> Iterator[Row]:
    with _reading(path) as handle:
        # strict: a quote left open would otherwise swallow every later row into one
        # cell, silently, up to the next quote or the end of the file
        first = next(handle, None)
        # ';' or a tab (with Excel's "sep=;" line before the header) as a spreadsheet
        # saves "CSV" where the decimal mark is a comma, as the corpus reader reads it
        delimiter, sep_line = csv_delimiter(first, "uri")
        # a row's lines bounded together: the cell limit is checked on the row read
        # (the process-wide csv limit is not lowered), and a quoted cell of short lines
        # must not grow to hundreds of MB first
        lines = _BoundedRows(itertools.chain(() if first is None else (first,), handle),
                             path)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        if sep_line:  # read, not dropped, so that reader.line_num counts it
            next_csv_row(reader, path, 1, VocabularyError, limit=MAX_CELL_CHARS)
        header = next_csv_row(reader, path, reader.line_num + 1, VocabularyError,
                              limit=MAX_CELL_CHARS)
        if header is None:
            raise VocabularyError("empty file, expected a CSV header with a 'uri' column",
                                  path=path)
        if not any(cell.strip() for cell in header):
            raise blank_header_error(reader, path, VocabularyError, "uri",
                                     first=2 if sep_line else 1)
        columns = [_csv_column(name, language) for name in header]
        if ("uri", None) not in columns:
            # a corpus given where a vocabulary goes (train --vocab corpus.csv): say so,
            # as the corpus readers say it of a vocabulary's header
            corpus = ("text" in {name.strip().lstrip("\ufeff").lower() for name in header})
            renames = _renames(header, columns)
            raise VocabularyError(f"no 'uri' column in the CSV header; columns found: {header}"
                                  + ("; a 'text' column is a corpus's header, not a "
                                     "vocabulary's" if corpus else "")
                                  + (f"; {renames} (a code is its label's URI)"
                                     if renames and not corpus else ""), path=path,
                                  line=reader.line_num)
        # the header's own line: below a "sep=;" line it is line 2, not 1
        _check_csv_columns(columns, header, path, reader.line_num)
        renames = _renames(header, columns)
        if not any(kind == "label" for kind, _ in columns):
            # a misspelt header (name, prefLabel, lable_en) read as a vocabulary of
            # nameless labels, silently: every label was shown, and named, by its URI
            logger.warning("%s:%d: no label column (label or label_xx) in the CSV header, "
                           "so no label has a name (each is shown by its URI); columns "
                           "found: %s%s", path, reader.line_num, header,
                           f"; {renames}" if renames else "")
        elif renames:
            # a parent code column ('parent', 'parent_code') was ignored as any unknown
            # column: the hierarchy was lost without a word (has_hierarchy no)
            logger.warning("%s:%d: the CSV header's %s not read (unknown columns are "
                           "ignored); %s", path, reader.line_num, _unread(header, columns),
                           renames)
        # a row is named by the line it starts on: a quoted cell (a description, say,
        # which save_vocabulary_csv writes over several lines) may span lines, and
        # reader.line_num is then the row's last line
        while (lines.restart(start := reader.line_num + 1)
               and (row := next_csv_row(reader, path, start, VocabularyError,
                                        limit=MAX_CELL_CHARS)) is not None):
            if not any(cell.strip() for cell in row):
                continue
            if any(cell.strip() for cell in row[len(header):]):
                # a comma in a cell that is not quoted ("Smith, John"): every later cell
                # would sit under the wrong column and the last ones be lost
                yield start, (f"{len(row)} cells, more than the header's {len(header)} (a "
                              "comma in a cell that is not quoted?)")
                continue
            yield start, _csv_label(columns, row)


class _BoundedRows:
    """The lines of a CSV vocabulary, refusing a row (from :meth:`restart`) whose lines
    together exceed :data:`MAX_VOCAB_LINE_BYTES` bytes (UTF-8, as the line bound counts
    them): a quoted cell of many short lines, which the line bound does not stop, is
    refused having read about that much. Counted in characters, a row of 4-byte
    characters held four times the bytes a line may."""

    def __init__(self, lines: Iterator[str], path: Path) -> None:
        self._lines = lines
        self._path = path
        self._start = 1
        self._bytes = 0

    def restart(self, start: int) -> bool:
        """A row starts on line ``start``; True (for a ``while`` condition)."""
        self._start, self._bytes = start, 0
        return True

    def __iter__(self) -> _BoundedRows:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        # ASCII (most lines) counted without encoding; the others as the file holds them
        self._bytes += len(line) if line.isascii() else len(line.encode("utf-8",
                                                                        "surrogatepass"))
        if self._bytes > MAX_VOCAB_LINE_BYTES:
            raise VocabularyError(
                f"the row that starts on line {self._start} is longer than "
                f"{MAX_VOCAB_LINE_BYTES:,} bytes (a cell holds at most "
                f"{MAX_CELL_CHARS:,}); refused without reading the rest of it (a quote "
                "left open?)", path=self._path, line=self._start)
        return line


def _csv_column(name: str, language: str) -> tuple[str, str | None]:
    """``label_en`` -> ``("label", "en")``; ``URI`` -> ``("uri", None)``; unknown -> ``""``."""
    name = name.strip().lstrip("\ufeff")
    if name.lower() == "replaced_by":  # not the column 'replaced' in language 'by'
        return "replaced_by", None
    kind, _, lang = name.partition("_")
    kind = kind.lower()
    if kind in _LANG_COLUMNS:
        # a locale-style column (label_en_US, label_pt_BR) is the language tag en-us: with
        # the underscore, --lang en (or en-US) found none of its names, and the tag was
        # no language tag RDF can hold (save_vocabulary_skos failed with a ValueError)
        return kind, (lang or language).lower().replace("_", "-")
    if not lang and kind in ("uri", "notation", "broader", "deprecated"):
        return kind, None
    return "", None


#: a CSV vocabulary column under another name a code list's header gives it (ICD-10,
#: NAICS and the like are kept as code, title, parent code) -> the column it would be
_COLUMN_NAMES = {name: kind for kind, names in (
    ("uri", ("code", "id", "identifier", "concept", "concept_id", "code_id")),
    ("label", ("title", "name", "preflabel", "term", "heading", "code_title")),
    ("broader", ("parent", "parents", "parent_code", "parent_id", "parent_uri",
                 "parentcode", "parentid", "broader_code", "broader_uri", "up")),
) for name in names}


def _column_meant(name: str) -> str | None:
    """The column a header's ``name`` is under another name (:data:`_COLUMN_NAMES`),
    spaces and hyphens read as ``_``: ``Parent Code``, as code lists write it, is
    ``parent_code``; ``None`` for none."""
    return _COLUMN_NAMES.get(re.sub(r"[\s-]+", "_", name.strip().lstrip("\ufeff").lower()))


def _renames(header: list[str], columns: list[tuple[str, str | None]]) -> str:
    """``rename 'code' to 'uri', 'parent' to 'broader'`` for the header's columns the
    reader ignores that name a column it reads, one the header lacks; ``""`` for none."""
    have = {kind for kind, _ in columns}
    pairs = []
    for name, (kind, _) in zip(header, columns, strict=True):
        meant = _column_meant(name)
        if not kind and meant is not None and meant not in have:
            pairs.append(f"{name.strip()!r} to {meant!r}")
            have.add(meant)
    return "rename " + ", ".join(pairs) if pairs else ""


def _unread(header: list[str], columns: list[tuple[str, str | None]]) -> str:
    """``column 'parent' is`` (``columns 'a', 'b' are``): the header's columns
    :func:`_renames` renames."""
    names = [name.strip() for name, (kind, _) in zip(header, columns, strict=True)
             if not kind and _column_meant(name)]
    return (plural(len(names), "column", "columns") + " " + ", ".join(map(repr, names))
            + plural(len(names), " is", " are"))


def _check_csv_columns(columns: list[tuple[str, str | None]], header: list[str],
                       path: Path, line: int = 1) -> None:
    """Refuse a header naming one column twice (``label_en`` twice, or ``label`` beside
    ``label_en`` in English): each row's cell under the later one would replace the
    earlier's, silently."""
    first: dict[tuple[str, str | None], int] = {}
    for i, column in enumerate(columns):
        if not column[0]:
            continue  # an unknown column, ignored however often it appears
        if column in first:
            j = first[column]
            raise VocabularyError(
                f"columns {j + 1} ({header[j].strip()!r}) and {i + 1} ({header[i].strip()!r}) "
                "of the header are the same column; keep one", path=path, line=line)
        first[column] = i


def _csv_label(columns: list[tuple[str, str | None]], row: list[str]) -> Label | str:
    label = Label(uri="")
    for (kind, lang), cell in zip(columns, row, strict=False):
        cell = cell.strip()
        if not cell or not kind:
            continue
        lang = lang or ""
        if kind == "uri":
            label.uri = strip_brackets(cell)
        elif kind == "label":
            label.pref_labels[lang] = cell
        elif kind == "altlabel":
            label.alt_labels[lang] = [alt.strip() for alt in cell.split("|") if alt.strip()]
        elif kind == "hiddenlabel":
            label.hidden_labels[lang] = [alt.strip() for alt in cell.split("|") if alt.strip()]
        elif kind == "description":
            label.description[lang] = cell
        elif kind == "notation":
            label.notation = cell
        elif kind == "broader":
            label.broader = [strip_brackets(uri) for uri in cell.split()]
        elif kind == "replaced_by":
            label.replaced_by = list(dict.fromkeys(strip_brackets(uri) for uri in cell.split()))
        elif cell.lower() in _BOOLEANS:
            label.deprecated = _BOOLEANS[cell.lower()]
        else:
            return f"'deprecated' must be true/false/1/0/yes/no, found {cell!r}"
    if not _valid_uri(label.uri):
        return f"missing or malformed URI {label.uri!r}{_spaced_code_hint(label.uri)}"
    return label


def _csv_cell(label: Label, column: str) -> str:
    if column == "replaced_by":
        return " ".join(label.replaced_by)
    kind, _, lang = column.partition("_")
    if kind == "label":
        return label.pref_labels.get(lang, "")
    if kind == "altlabel":
        return "|".join(label.alt_labels.get(lang, []))
    if kind == "hiddenlabel":
        return "|".join(label.hidden_labels.get(lang, []))
    if kind == "description":
        return label.description.get(lang, "")
    if kind == "broader":
        return " ".join(label.broader)
    if kind == "deprecated":
        return "true" if label.deprecated else "false"
    return getattr(label, kind) or ""


def _collect(rows: Iterable[Row], path: Path, on_error: str) -> list[Label]:
    """Labels from parsed rows; malformed and repeated ones raise or are skipped and counted."""
    labels: list[Label] = []
    first_line: dict[str, int] = {}
    skipped: list[int] = []
    for line, item in rows:
        if isinstance(item, Label):
            item = label_problem(item) or item
        if isinstance(item, Label) and item.uri in first_line:
            item = f"duplicate URI <{item.uri}> (first on line {first_line[item.uri]})"
        if isinstance(item, str):
            if on_error == "fail":
                raise VocabularyError(item, path=path, line=line)
            skipped.append(line)
            continue
        first_line[item.uri] = line
        labels.append(item)
    if skipped:
        shown = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
        logger.warning("%s: skipped %s malformed or duplicate line%s (%s %s)",
                       path, f"{len(skipped):,}", plural_s(len(skipped)),
                       plural(len(skipped), "line", "lines"), shown)
    _check_hierarchy(labels, first_line, path)
    return labels


def _check_hierarchy(labels: list[Label], line_of: dict[str, int], path: Path) -> None:
    """Drop ``broader`` URIs outside the vocabulary (one warning naming the first
    file:line); refuse a cycle, naming the line of its first label in the file. The
    same for ``replaced_by``."""
    _check_replacements(labels, path, line_of)
    dangling: list[tuple[int, str]] = []
    cells: dict[int, list[str]] = {}  # a line's broader URIs as read, where one dangles
    for label in labels:
        kept = []
        for parent in label.broader:
            if parent in line_of:
                kept.append(parent)
            else:
                dangling.append((line_of[label.uri], parent))
                cells.setdefault(line_of[label.uri], label.broader)
        label.broader = kept
    if dangling:
        line, uri = min(dangling)
        logger.warning("%s:%d: broader <%s> is not in the vocabulary; dropped %s broader "
                       "link%s to labels outside it%s", path, line, uri, f"{len(dangling):,}",
                       plural_s(len(dangling)),
                       _separator_hint(uri) or _broader_hint(labels, cells[line], uri))
    cycle = find_cycle({label.uri: label.broader for label in labels}, line_of)
    if cycle:
        raise VocabularyError(cycle_message(cycle), path=path, line=line_of[cycle[0]])


# -- SKOS ---------------------------------------------------------------------------------------
def _selection(name: str, values: Iterable[str]) -> tuple[str, ...]:
    """``values`` (a type or scheme selection) as a tuple of stripped, non-blank strings;
    a lone string is one value, not its characters."""
    if isinstance(values, str):
        values = (values,)
    out = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise InvalidParameterError(name, "a class or scheme URI or CURIE", value)
        out.append(value.strip())
    return tuple(dict.fromkeys(out))


def _shown_term(uri: str, namespaces: list[tuple[str, str]]) -> str:
    """``uri`` as a CURIE of the longest namespace it is in (``zbwext:Descriptor``), else
    ``<uri>``."""
    best = max(((prefix, ns) for prefix, ns in namespaces
                if uri.startswith(ns) and len(uri) > len(ns)
                and not any(c in uri[len(ns):] for c in "/#?")),
               key=lambda item: len(item[1]), default=None)
    return f"{best[0]}:{uri[len(best[1]):]}" if best else f"<{uri}>"


def _local_name(uri: str) -> str:
    return re.split(r"[/#]", uri.rstrip("/#"))[-1]


def _resolve_term(given: str, present: Mapping[str, int],
                  namespaces: list[tuple[str, str]]) -> str | None:
    """The URI ``given`` names: ``<URI>``; a CURIE of one of ``namespaces``; a URI of
    ``present``; the one URI of ``present`` whose local name it is. None where it names
    none of ``present`` (a URI or CURIE naming an absent class is returned as such)."""
    if given.startswith("<") and given.endswith(">"):
        return given[1:-1]
    if given in present:
        return given
    prefix, colon, rest = given.partition(":")
    by_prefix = dict(namespaces)
    if colon and prefix in by_prefix and not rest.startswith("//"):
        return by_prefix[prefix] + rest
    local = [uri for uri in present if _local_name(uri) == given]
    if len(local) == 1:
        return local[0]
    return given if colon else None


def _select_concepts(graph, found: set[str], types: tuple[str, ...], schemes: tuple[str, ...],
                    path: Path, resolved: dict[str, tuple[str, ...]] | None = None
                    ) -> set[str]:
    """The concepts of ``found`` (URIs) of one of ``types`` (``rdf:type`` that class or a
    class ``rdfs:subClassOf*`` it) and in one of ``schemes`` (``skos:inScheme``,
    ``skos:topConceptOf``, inverse ``skos:hasTopConcept``); an empty selection keeps all.
    A type or scheme naming no concept of ``found``, or a selection keeping none, is
    refused naming the file, with each class and scheme of its concepts counted.
    ``resolved``, where given, gets the URIs named (``"types"``, ``"schemes"``: sorted,
    each once), however each was written (``Descriptor``, ``zbwext:Descriptor``)."""
    import rdflib
    from rdflib.namespace import RDF, RDFS

    namespaces = [(prefix, str(ns)) for prefix, ns in graph.namespace_manager.namespaces()]
    concept_types: dict[str, set[str]] = {uri: set() for uri in found}
    for s, o in graph.subject_objects(RDF.type):
        if str(s) in concept_types and isinstance(o, rdflib.URIRef):
            concept_types[str(s)].add(str(o))
    in_schemes = _concept_schemes(graph, found, rdflib)
    concept_schemes = {uri: in_schemes.get(uri, set()) for uri in found}

    def counted(of: dict[str, set[str]]) -> dict[str, int]:
        return Counter(value for values in of.values() for value in values)

    def listing(what: str, counts: dict[str, int]) -> str:
        if not counts:
            return f"its concepts name no {what}"
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return f"the {what}s of its {len(found):,} concepts: " + ", ".join(
            f"{_shown_term(uri, namespaces)} ({n:,})" for uri, n in ranked[:12]) + (
            f", ... ({len(ranked) - 12:,} more)" if len(ranked) > 12 else "")

    selected = set(found)
    for what, option, given, of in (("type", "types=, --vocab-type", types, concept_types),
                                    ("scheme", "schemes=, --vocab-scheme", schemes,
                                     concept_schemes)):
        if not given:
            continue
        counts = counted(of)
        wanted: set[str] = set()
        for value in given:
            uri = _resolve_term(value, counts, namespaces)
            same = sorted(u for u in counts if _local_name(u) == value)
            if uri is None and len(same) > 1:
                # "no concept of the vocabulary has it", where several have one
                raise VocabularyError(
                    f"selected {what} {value} ({option}) is the local name of "
                    f"{len(same)} {what}s of the vocabulary's concepts: " + ", ".join(
                        f"{_shown_term(u, namespaces)} ({counts[u]:,})" for u in same[:12])
                    + "; give the one to keep as a CURIE or <URI>", path=path)
            names = {uri} if uri is not None else set()
            if what == "type" and uri is not None:  # a class's subclasses are of it too
                names |= {str(c) for c in graph.transitive_subjects(
                    RDFS.subClassOf, rdflib.URIRef(uri))}
            if not names & set(counts):
                # a class given as a scheme (or a scheme as a class): said so
                other, other_of = (("scheme", concept_schemes) if what == "type"
                                   else ("type", concept_types))
                other_counts = counted(other_of)
                as_other = _resolve_term(value, other_counts, namespaces)
                n_other = other_counts.get(as_other or "", 0)
                hint = (f"; it is the {other} of {n_other:,} concept{plural_s(n_other)}: "
                        f"give it as --vocab-{other} ({other}s=)" if n_other else "")
                raise VocabularyError(
                    f"selected {what} {value} ({option}): no concept of the vocabulary has it"
                    f"{f' (read as <{uri}>)' if uri not in (None, value) else ''}; "
                    f"{listing(what, counts)}{hint}", path=path)
            wanted |= names
            if resolved is not None and uri is not None:
                key = f"{what}s"
                resolved[key] = tuple(sorted({*resolved.get(key, ()), uri}))
        selected = {uri for uri in selected if of[uri] & wanted}
    if not selected:
        raise VocabularyError(
            "no concept of the vocabulary is of the types and in the schemes selected "
            f"({', '.join((*types, *schemes))}); {listing('type', counted(concept_types))}; "
            f"{listing('scheme', counted(concept_schemes))}", path=path)
    logger.info("%s: kept %s of its %s concepts (%s)", path, f"{len(selected):,}",
                f"{len(found):,}", ", ".join((*types, *schemes)))
    return selected


def _say_concept_classes(graph, found: set[str], path: Path) -> None:
    """One INFO line where the concepts are of several classes besides ``skos:Concept``
    (STW's descriptors and thesaurus categories): each class counted, and the option
    keeping one. Every concept is a label whatever its class, and nothing said so."""
    import rdflib
    from rdflib.namespace import RDF, SKOS

    counts = Counter(str(o) for s, o in graph.subject_objects(RDF.type)
                     if isinstance(o, rdflib.URIRef) and o != SKOS.Concept and str(s) in found)
    if len(counts) < 2:
        return
    namespaces = [(prefix, str(ns)) for prefix, ns in graph.namespace_manager.namespaces()]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    logger.info("%s: its concepts are of %d classes, each concept a label: %s%s; "
                "--vocab-type CLASS keeps those of one", path, len(ranked),
                ", ".join(f"{_shown_term(uri, namespaces)} ({n:,})" for uri, n in ranked[:6]),
                ", ..." if len(ranked) > 6 else "")


def _namespace(uri: str) -> str:
    """``uri`` up to its last ``/`` or ``#`` (``http://zbw.eu/stw/thsys/``), as a URI
    prefix names a part of a vocabulary."""
    cut = max(uri.rfind("/"), uri.rfind("#"))
    return uri[:cut + 1] if cut >= 0 else uri


def _check_prefixes(uris: Iterable[str], prefixes: tuple[str, ...], path: Path) -> None:
    """Refuse a URI prefix that starts none of ``uris``, listing their namespaces
    (:func:`_namespace`) with counts."""
    uris = list(uris)
    for prefix in prefixes:
        if not any(uri.startswith(prefix) for uri in uris):
            counts = Counter(_namespace(uri) for uri in uris)
            ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            shown = ", ".join(f"{ns} ({n:,})" for ns, n in ranked[:12]) + (
                f", ... ({len(ranked) - 12:,} more)" if len(ranked) > 12 else "")
            raise VocabularyError(f"selected URI prefix {prefix} (prefixes=, --vocab-prefix): "
                                  f"no label's URI starts with it; the namespaces of its "
                                  f"{len(uris):,} labels: {shown}", path=path)


def _keep_prefixed(labels: list[Label], prefixes: tuple[str, ...], path: Path) -> list[Label]:
    """The labels of ``labels`` whose URI starts with one of ``prefixes``, their links
    (``broader``, ``replaced_by``) to the others dropped and counted on one INFO line."""
    _check_prefixes((label.uri for label in labels), prefixes, path)
    kept = [label for label in labels if label.uri.startswith(prefixes)]
    uris = {label.uri for label in kept}
    dropped = 0
    for label in kept:
        broader = [uri for uri in label.broader if uri in uris]
        replaced = [uri for uri in label.replaced_by if uri in uris]
        dropped += len(label.broader) - len(broader) + len(label.replaced_by) - len(replaced)
        label.broader, label.replaced_by = broader, replaced
    logger.info("%s: kept %s of its %s labels (%s)%s", path, f"{len(kept):,}",
                f"{len(labels):,}", ", ".join(prefixes),
                f"; dropped {dropped:,} link{plural_s(dropped)} to the labels left out"
                if dropped else "")
    return kept


def _read_skos(path: Path, language: str, types: tuple[str, ...] = (),
               schemes: tuple[str, ...] = (), prefixes: tuple[str, ...] = (),
               resolved: dict[str, tuple[str, ...]] | None = None,
               namespaces: dict[str, str] | None = None,
               titles: dict[str, str] | None = None) -> list[Label]:
    """The labels of a SKOS file (see the module doc); ``resolved``, where given, gets
    the URIs ``types`` and ``schemes`` name (:func:`_select_concepts`), ``namespaces``
    the file's prefixes (prefix -> namespace URI), ``titles`` its concept schemes'
    titles (scheme URI -> ``dct:title``, the first read)."""
    try:
        import rdflib
        from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS
    except ImportError as exc:
        raise MissingDependencyError("rdflib", extra="skos",
                                     feature="reading SKOS vocabularies") from exc
    graph = _parse_rdf(rdflib, path)
    if namespaces is not None:  # those the file declares, not rdflib's defaults
        namespaces.update((prefix, str(ns)) for prefix, ns in graph.namespaces()
                          if prefix)
    if titles is not None:
        for scheme in graph.subjects(RDF.type, SKOS.ConceptScheme):
            title = graph.value(scheme, DCTERMS.title)
            if isinstance(scheme, rdflib.URIRef) and title is not None:
                titles.setdefault(str(scheme), str(title))
    classes = set(graph.transitive_subjects(RDFS.subClassOf, SKOS.Concept))
    typed = {s for cls in classes for s in graph.subjects(RDF.type, cls)}
    found = {str(s) for s in typed if isinstance(s, rdflib.URIRef)}
    _refuse_relative_concepts(found, path)
    _warn_blank_concepts([s for s in typed if not isinstance(s, rdflib.URIRef)], graph,
                         SKOS.prefLabel, path)
    untyped = _untyped_concepts(graph, found, rdflib)
    if not found and untyped:  # the error itself says why: -q hid the warning
        raise VocabularyError("no labels in the vocabulary (no skos:Concept found: "
                              f"{_untyped_message(untyped)})", path=path)
    _warn_untyped_concepts(untyped, path)
    left_out: set[str] = set()  # concepts the selection left out: links to them said apart
    if types or schemes:
        selected = _select_concepts(graph, found, types, schemes, path, resolved)
        left_out, found = found - selected, selected
    else:
        _say_concept_classes(graph, found, path)
    if prefixes:
        _check_prefixes(found, prefixes, path)
        selected = {uri for uri in found if uri.startswith(prefixes)}
        left_out, found = left_out | (found - selected), selected
    ids: dict[str, int] = {}
    for s, o in graph.subject_objects(rdflib.URIRef(LABEL_ID)):
        value = o.toPython() if isinstance(o, rdflib.Literal) else None
        if str(s) in found and isinstance(value, int) and not isinstance(value, bool):
            ids[str(s)] = min(value, ids.get(str(s), value))
    uris = sorted(found, key=lambda uri: (uri not in ids, ids.get(uri, 0), uri))
    labels = {uri: Label(uri) for uri in uris}

    def texts(pred) -> dict[str, dict[str, list[str]]]:
        """concept -> language -> sorted literal values of ``pred``, stripped; blank ones
        are left out (as blank TSV and CSV cells are: an empty name would be shown)."""
        out: dict[str, dict[str, list[str]]] = {}
        for s, o in graph.subject_objects(pred):
            if str(s) in labels and isinstance(o, rdflib.Literal) and str(o).strip():
                out.setdefault(str(s), {}).setdefault((o.language or language).lower(), []).append(
                    str(o).strip())
        return {s: {lang: sorted(set(v)) for lang, v in d.items()} for s, d in out.items()}

    pref, fallback = texts(SKOS.prefLabel), texts(RDFS.label)
    _warn_several_pref_labels(pref, labels, path)
    alt, notes = texts(SKOS.altLabel), texts(SKOS.scopeNote)
    hidden = texts(SKOS.hiddenLabel)
    definitions = texts(SKOS.definition)
    for uri, label in labels.items():
        label.pref_labels = {lang: v[0] for lang, v in pref.get(uri, fallback.get(uri, {})).items()}
        label.alt_labels = alt.get(uri, {})
        label.hidden_labels = hidden.get(uri, {})
        described = {**notes.get(uri, {}), **definitions.get(uri, {})}
        label.description = {lang: "\n".join(v) for lang, v in described.items()}
    for uri, values in texts(SKOS.notation).items():
        labels[uri].notation = min(v for vs in values.values() for v in vs)
    parents: dict[str, set] = {uri: set() for uri in labels}  # concept -> rdflib terms
    for s, o in graph.subject_objects(SKOS.broader):
        parents.get(str(s), set()).add(o)
    for s, o in graph.subject_objects(SKOS.narrower):
        if isinstance(o, rdflib.URIRef):  # a literal "narrower" names no concept
            parents.get(str(o), set()).add(s)
    for s, o in graph.subject_objects(OWL.deprecated):
        if str(s) in labels and str(o).strip().lower() in ("true", "1"):
            labels[str(s)].deprecated = True
    outside: list[tuple[str, str]] = []  # (concept, a replacement that names none)
    for s, o in sorted(graph.subject_objects(DCTERMS.isReplacedBy)):
        if str(s) not in labels:
            continue
        if isinstance(o, rdflib.URIRef):
            labels[str(s)].replaced_by.append(str(o))
        else:  # a literal spelling a URI, or a blank node, names no concept
            outside.append((str(s), "a blank node" if isinstance(o, rdflib.BNode)
                            else f"{str(o)!r} (a literal, not a <URI>)"))
    for label in labels.values():
        label.replaced_by = list(dict.fromkeys(label.replaced_by))
    _read_classes_and_schemes(graph, labels, rdflib)
    for uri, label in labels.items():
        # a parent is a concept's URI: a literal spelling one ("http://x/b") is no link
        label.broader = sorted({str(p) for p in parents[uri]
                                if isinstance(p, rdflib.URIRef) and str(p) in labels})
    _warn_outside_broader(parents, labels, rdflib, path, left_out)
    # a cycle (a self-loop included) would leave hierarchy-aware code with no roots on
    # it and every label on it its own ancestor: refused, as in a CSV vocabulary
    cycle = find_cycle({uri: label.broader for uri, label in labels.items()},
                        {uri: i for i, uri in enumerate(labels)})
    if cycle:
        raise VocabularyError(cycle_message(cycle), path=path)
    _check_replacements(list(labels.values()), path, outside=outside)
    return [_whole_characters(label) for label in labels.values()]


def _read_classes_and_schemes(graph, labels: Mapping[str, Label], rdflib) -> None:
    """Set each label's ``types`` (its classes other than ``skos:Concept``, each with
    the classes it is ``rdfs:subClassOf*``, so that a class's subclasses keep being of
    it in a file that does not declare them) and ``schemes`` (``skos:inScheme``,
    ``skos:topConceptOf``, inverse ``skos:hasTopConcept``), sorted."""
    from rdflib.namespace import RDF, RDFS, SKOS

    above: dict[object, set[str]] = {}  # class -> it and its superclasses

    def closure(cls) -> set[str]:
        if cls not in above:
            above[cls] = {str(c) for c in graph.transitive_objects(cls, RDFS.subClassOf)
                          if isinstance(c, rdflib.URIRef)} - {str(SKOS.Concept)}
        return above[cls]

    types: dict[str, set[str]] = {}
    for s, o in graph.subject_objects(RDF.type):
        if str(s) in labels and isinstance(o, rdflib.URIRef) and o != SKOS.Concept:
            types.setdefault(str(s), set()).update(closure(o))
    for uri, found in types.items():
        labels[uri].types = sorted(found)
    for uri, found in _concept_schemes(graph, labels, rdflib).items():
        labels[uri].schemes = sorted(found)


def _concept_schemes(graph, concepts: Container[str], rdflib) -> dict[str, set[str]]:
    """The schemes (``skos:inScheme``, ``skos:topConceptOf``, inverse
    ``skos:hasTopConcept``) of each of ``concepts`` (URIs) in one: the selection
    (:func:`_select_concepts`) and the labels' ``schemes``
    (:func:`_read_classes_and_schemes`) read them alike."""
    from rdflib.namespace import SKOS

    schemes: dict[str, set[str]] = {}
    for pred, inverse in ((SKOS.inScheme, False), (SKOS.topConceptOf, False),
                          (SKOS.hasTopConcept, True)):
        for s, o in graph.subject_objects(pred):
            concept, scheme = (o, s) if inverse else (s, o)
            if str(concept) in concepts and isinstance(scheme, rdflib.URIRef):
                schemes.setdefault(str(concept), set()).add(str(scheme))
    return schemes


def _check_replacements(labels: list[Label], path: Path, line_of: dict[str, int] | None = None,
                        outside: list[tuple[str, str]] | None = None) -> None:
    """Drop the ``replaced_by`` URIs of ``labels`` that name no label of the vocabulary
    (a replacement in another scheme, or one the file lacks), with one warning naming
    the first concept (and its ``file:line``, given ``line_of``) and the count, as a
    ``broader`` URI outside it is; ``outside`` adds (concept, what) pairs already
    dropped (a SKOS literal or blank node). A cycle of deprecated labels replacing each
    other is refused, naming it."""
    dropped = list(outside or [])
    # most vocabularies name no replacement: the set of every URI and the walk for a
    # cycle cost them 5% of their load time (YSO's 27,754 labels) for nothing
    named = [label for label in labels if label.replaced_by]
    if named:
        known = {label.uri for label in labels}
        for label in named:
            dropped += [(label.uri, f"<{uri}>") for uri in label.replaced_by
                        if uri not in known]
            label.replaced_by = [uri for uri in label.replaced_by if uri in known]
    if dropped:
        order = {label.uri: i for i, label in enumerate(labels)}
        dropped.sort(key=lambda pair: order.get(pair[0], 0))
        uri, what = dropped[0]
        where = f"{path}:{line_of[uri]}" if line_of else str(path)
        logger.warning("%s: replaced_by (dct:isReplacedBy) %s of <%s> is no concept of the "
                       "vocabulary; dropped %s replacement%s naming none%s", where, what, uri,
                       f"{len(dropped):,}", plural_s(len(dropped)),
                       _separator_hint(what) if line_of else "")
    # a replacement of a label in use: nothing follows it (LabelSpace.replacement_ids),
    # and it was kept with no word
    live = [label.uri for label in named if label.replaced_by and not label.deprecated]
    if live:
        where = f"{path}:{line_of[live[0]]}" if line_of else str(path)
        logger.warning("%s: <%s> names a replacement (replaced_by, dct:isReplacedBy) but is "
                       "not deprecated; the replacements of %s label%s not deprecated are "
                       "ignored", where, live[0], f"{len(live):,}", plural_s(len(live)))
    cycle = replacement_cycle(labels) if named else None
    if cycle:
        raise VocabularyError(replacement_cycle_message(cycle), path=path,
                              line=line_of[cycle[0]] if line_of else None)


def _broader_hint(labels: list[Label], cell: list[str], uri: str) -> str:
    """What a ``broader`` URI outside the vocabulary is instead, where it names a label
    another way: the parent's name (``Type 2 diabetes mellitus``, read as four URIs), a
    code in another case (``e11``), a code then its name; ``""`` for none."""
    space = LabelSpace([Label(label.uri, dict(label.pref_labels), notation=label.notation)
                        for label in labels])
    if len(cell) > 1:
        try:
            found = space.lookup(" ".join(cell))
        except AmbiguousLabelError:
            found = None
        if found is not None:
            return (f" ({' '.join(cell)!r}, read as {len(cell)} URIs, is the name of "
                    f"<{space.uri_of(found)}>: broader takes URIs; write "
                    f"{space.uri_of(found)})")
    hint = space.unknown_hint(uri) or space.split_hint(cell, uri)
    return f" (it is {hint})" if hint else ""


def _separator_hint(uri: str) -> str:
    """For a CSV ``broader`` or ``replaced_by`` URI naming no label: where it holds a
    ``;`` or ``|`` (URIs joined as ``altlabel`` cells are), that the column separates
    them by spaces; else ``""``.

    >>> _separator_hint("http://x/b;http://x/c")
    " (the column's URIs are separated by spaces, not ';')"
    """
    found = next((sep for sep in ";|" if sep in uri), None)
    return "" if found is None else \
        f" (the column's URIs are separated by spaces, not {found!r})"


def _joined_pairs(text: str) -> str:
    r"""``text`` with each surrogate pair joined into the character it encodes.

    rdflib decodes a Turtle or N-Triples escape one UTF-16 unit at a time, so
    ``"\uD83D\uDE00"`` (as tools that escape per UTF-16 unit write an emoji) gives two
    lone surrogates, not the emoji; a surrogate without its pair stays as it is, for
    :func:`label_problem` to refuse.

    >>> _joined_pairs("x \ud83d\ude00"), _joined_pairs("cut \ud83d")
    ('x \U0001f600', 'cut \ud83d')
    """
    if text.isascii() or LONE_SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _whole_characters(label: Label) -> Label:
    """``label`` with :func:`_joined_pairs` applied to every text it holds."""
    label.uri = _joined_pairs(label.uri)
    label.pref_labels = {lang: _joined_pairs(v) for lang, v in label.pref_labels.items()}
    label.alt_labels = {lang: sorted(_joined_pairs(v) for v in vs)
                        for lang, vs in label.alt_labels.items()}
    label.hidden_labels = {lang: sorted(_joined_pairs(v) for v in vs)
                           for lang, vs in label.hidden_labels.items()}
    label.description = {lang: _joined_pairs(v) for lang, v in label.description.items()}
    label.notation = None if label.notation is None else _joined_pairs(label.notation)
    label.broader = [_joined_pairs(uri) for uri in label.broader]
    label.replaced_by = [_joined_pairs(uri) for uri in label.replaced_by]
    return label


def _warn_outside_broader(parents: dict[str, set], concepts: Mapping[str, Label], rdflib,
                          path: Path, left_out: set[str] | None = None) -> None:
    """One warning for the broader links (``skos:broader``, inverse ``skos:narrower``)
    to a node that is no concept of the vocabulary, as a CSV ``broader`` URI outside it
    is warned about: the first named with its concept (SKOS has no lines to name), the
    count, and two more. Dropped silently before, a link to another scheme's concept
    (``skos:broadMatch`` is SKOS's property for that) or to a concept the file forgot to
    type gave a label no parent with nothing said."""
    def shown(term) -> str:
        if isinstance(term, rdflib.URIRef):
            return f"<{term}>"
        # a literal spelling a concept's URI is no link to it: said so, as the concept
        # it spells may well be in the vocabulary
        return ("a blank node" if isinstance(term, rdflib.BNode)
                else f"{str(term)!r} (a literal, not a <URI>)")

    # links to concepts a selection (types=, schemes=) left out are no fault of the
    # file: counted on one INFO line, as the selection asked for them to go
    left_out = left_out or set()
    unselected = sum(str(term) in left_out for uri in concepts for term in parents[uri]
                     if isinstance(term, rdflib.URIRef))
    if unselected:
        logger.info("%s: dropped %s broader link%s to concepts the selection left out",
                    path, f"{unselected:,}", plural_s(unselected))
    # sorted as shown: a blank node's id differs from run to run
    outside = [(uri, parent) for uri in concepts
               for parent in sorted(shown(term) for term in parents[uri]
                                    if not isinstance(term, rdflib.URIRef)
                                    or (str(term) not in concepts
                                        and str(term) not in left_out))]
    if not outside:
        return
    (uri, parent), more = outside[0], outside[1:3]
    also = ", ".join(f"<{child}> broader {other}" for child, other in more)
    logger.warning("%s: broader %s of <%s> is no concept of the vocabulary; dropped %s "
                   "broader %s%s", path, parent, uri, f"{len(outside):,}",
                   plural(len(outside), "link that names none", "links that name none"),
                   f" (also {also}{', ...' if len(outside) > 3 else ''})" if also else "")


def _warn_blank_concepts(blank: list, graph, pref_label, path: Path) -> None:
    """One warning for the concepts that are blank nodes (``[ a skos:Concept ]``,
    ``_:c1``), left out as they have no URI for a label to be known by: counted, with
    up to three of their preferred labels so they can be found in the file."""
    if not blank:
        return
    names = sorted({str(o) for s in blank for o in graph.objects(s, pref_label)
                    if str(o).strip()})
    shown = (f" (preferred labels {', '.join(map(repr, names[:3]))}"
             f"{', ...' if len(names) > 3 else ''})" if names else "")
    logger.warning("%s: %s concept%s without a URI (blank nodes) left out%s: a label "
                   "needs a URI; give each concept one", path, f"{len(blank):,}",
                   plural_s(len(blank)), shown)


def _untyped_concepts(graph, found: set[str], rdflib) -> list[str]:
    """The URI subjects with a ``skos:prefLabel`` and no ``rdf:type`` at all, sorted:
    left out as they are not typed ``skos:Concept``. A subject typed otherwise (the
    ``skos:ConceptScheme``, a ``skos:Collection``) is something else, and not counted."""
    from rdflib.namespace import RDF, SKOS

    return sorted({str(s) for s in graph.subjects(SKOS.prefLabel)
                   if isinstance(s, rdflib.URIRef) and str(s) not in found
                   and (s, RDF.type, None) not in graph})


def _untyped_message(untyped: list[str]) -> str:
    """The count of :func:`_untyped_concepts`, up to three named, and what to do.

    >>> _untyped_message(["http://x/a"])[:70]
    '1 subject with a skos:prefLabel but no rdf:type left out (<http://x/a>'
    """
    shown = ", ".join(f"<{uri}>" for uri in untyped[:3]) + (", ..." if len(untyped) > 3 else "")
    return (f"{len(untyped)} subject{plural_s(len(untyped))} with a skos:prefLabel but no "
            f"rdf:type left out ({shown}): only a skos:Concept is a label; type "
            f"{plural(len(untyped), 'it', 'each')} 'a skos:Concept'")


def _warn_untyped_concepts(untyped: list[str], path: Path) -> None:
    """One warning for the :func:`_untyped_concepts` left out: a file that forgot the
    type on some concepts lost them without a word (one that forgot it on all is refused,
    the error saying so). Counted, with up to three named."""
    if untyped:
        logger.warning("%s: %s", path, _untyped_message(untyped))


def _warn_several_pref_labels(pref: dict[str, dict[str, list[str]]], order: Iterable[str],
                              path: Path) -> None:
    """One warning naming the concepts with several ``skos:prefLabel`` in one language
    (SKOS integrity condition S14 allows one; tags compare ignoring case, and untagged
    literals count as the loading language), up to three with their labels (in ``order``,
    the concepts' id order): the first in code-point order is kept, whatever the order
    in the file."""
    several = [(uri, lang, values) for uri in order
               for lang, values in sorted(pref.get(uri, {}).items()) if len(values) > 1]
    if not several:
        return
    shown = "; ".join(f"<{uri}> ({lang}) keeps {values[0]!r}, not "
                      f"{', '.join(map(repr, values[1:]))}"
                      for uri, lang, values in several[:3])
    n_concepts = len({uri for uri, _, _ in several})
    logger.warning("%s: %s concept%s with several skos:prefLabel in one language (SKOS "
                   "allows one, integrity condition S14); the first in code-point order is "
                   "kept: %s%s", path, f"{n_concepts:,}", plural_s(n_concepts), shown,
                   "; ..." if len(several) > 3 else "")


#: the most bytes an RDF vocabulary may decompress to (a gzip bomb stops here)
MAX_RDF_BYTES = 4 << 30
#: an RDF vocabulary of more bytes than this (inflated) is announced with an INFO log
#: line before rdflib parses it, and its parse time after: seconds with nothing shown
SKOS_ANNOUNCE_BYTES = 5_000_000
#: RDF/XML internal entities may add at most this many bytes when expanded
#: (billion laughs and quadratic blow-up documents are refused before parsing)
MAX_ENTITY_EXPANSION = 16 << 20
_ENTITY = re.compile(rb"<!ENTITY\s+(%\s+)?([^\s%;\"'<>]+)\s+"
                     rb"(?:(SYSTEM|PUBLIC)\b[^>]*|\"([^\"]*)\"|'([^']*)')\s*>")


def _check_entities(data: bytes, path: Path) -> None:
    """Refuse RDF/XML whose DOCTYPE declares entities that nest, are external or expand
    to more than :data:`MAX_ENTITY_EXPANSION` bytes. Plain namespace shortcuts
    (``<!ENTITY owl "http://...#">``, common in Protege exports) pass.

    >>> _check_entities(b'<!DOCTYPE r [<!ENTITY owl "http://www.w3.org/2002/07/owl#">]>'
    ...                 b'<r a="&owl;x"/>', Path("v.rdf"))
    >>> _check_entities(b'<!DOCTYPE r [<!ENTITY a "lol"><!ENTITY b "&a;&a;">]>',
    ...                 Path("v.rdf"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tagsmith.exceptions.VocabularyError: v.rdf: entity 'b' refers to other entities; ...
    """
    if b"<!ENTITY" not in data:
        return
    expansion = n_checked = 0
    for match in _ENTITY.finditer(data):
        n_checked += 1
        name = match.group(2).decode("utf-8", "replace")
        if match.group(3):
            raise VocabularyError(f"entity {name!r} is external; external entities are "
                                  "refused", path=path)
        value = match.group(4) if match.group(4) is not None else match.group(5)
        if b"&" in value or b"%" in value:
            raise VocabularyError(f"entity {name!r} refers to other entities; nested "
                                  "entities are refused (entity expansion attack)", path=path)
        expansion += len(value) * data.count(b"&" + match.group(2) + b";")
    if data.count(b"<!ENTITY") != n_checked:
        raise VocabularyError("an entity declaration it cannot check safely; remove the "
                              "DOCTYPE's entities", path=path)
    if expansion > MAX_ENTITY_EXPANSION:
        raise VocabularyError(f"its entities expand to {expansion:,} bytes, more than "
                              f"{MAX_ENTITY_EXPANSION:,}; refused (entity expansion attack)",
                              path=path)


def _check_json_ld(data: bytes, path: Path) -> None:
    """Refuse JSON-LD that would make the parser fetch a document: a ``@context`` given
    by URL (or a list holding one) or an ``@import``; inline contexts are fine."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise VocabularyError(f"not valid JSON-LD: {exc}", path=path,
                              line=getattr(exc, "lineno", None)) from None
    todo = [document]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                contexts = value if key == "@context" and isinstance(value, list) else [value]
                if key == "@import" or (key == "@context"
                                        and any(isinstance(c, str) for c in contexts)):
                    raise VocabularyError(f"{key} refers to a remote document "
                                          f"({str(value)[:80]!r}); tagsmith reads no URL at "
                                          "run time: inline the context", path=path)
                todo.append(value)


#: the base a SKOS file is parsed against: a concept URI under it was written relative
#: (``<a>``, ``rdf:about="#a"``) in a file declaring no base of its own, and is refused
NO_BASE = "http://no-base.tagsmith.invalid/"


def _refuse_relative_concepts(uris: Iterable[str], path: Path) -> None:
    """Refuse a concept URI written as a relative IRI in a file with no base, naming the
    file, the line where the IRI first appears (when it can be found) and the IRI."""
    relative = sorted(uri for uri in uris if uri.startswith(NO_BASE))
    if not relative:
        return
    iri = relative[0][len(NO_BASE):]
    line = None
    with suppress(OSError, EOFError):
        opened = gzip.open(path, "rb") if _gzipped(path) else open(path, "rb")
        with opened as handle:
            data = _read_at_most(handle, MAX_RDF_BYTES)
        for quoted in (f"<{iri}>", f'"{iri}"', f"'{iri}'"):
            offset = data.find(quoted.encode("utf-8"))
            if offset >= 0:
                line = _line_at(data, offset)
                break
    count = len(relative)
    others = f" (and {count - 1} more concept{plural_s(count - 1)})" if count > 1 else ""
    raise VocabularyError(f"concept IRI <{iri}> is relative and the file declares no base"
                          f"{others}; write absolute IRIs, or declare one (Turtle "
                          f"'@base <http://...>', RDF/XML 'xml:base')",
                          path=path, line=line)


def _parse_rdf(rdflib, path: Path):
    """The file's RDF graph; syntax errors become a :class:`VocabularyError`.

    Nothing is fetched: JSON-LD with a remote ``@context`` and RDF/XML with nested or
    external entities are refused, and a file may not hold (a ``.gz`` file inflate to)
    more than :data:`MAX_RDF_BYTES`; a larger plain file is refused before it is read."""
    suffix = format_suffix(path)
    fmt = RDF_FORMATS.get(suffix) or rdflib.util.guess_format(f"x{suffix}") or "turtle"
    compressed = _gzipped(path)
    try:
        if not compressed and path.stat().st_size > MAX_RDF_BYTES:
            # refused before reading: the whole file was read into memory first (a
            # 10 GB file took 10 GB, and then the process's memory, to be refused)
            raise VocabularyError(f"holds {path.stat().st_size:,} bytes, more than "
                                  f"{MAX_RDF_BYTES:,}; refused unread", path=path)
        opened = gzip.open(path, "rb") if compressed else open(path, "rb")
        with opened as handle:
            data = _read_at_most(handle, MAX_RDF_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise VocabularyError(f"cannot read: {exc}", path=path) from exc
    if len(data) > MAX_RDF_BYTES:  # a gzip bomb, or a file that grew since its stat
        raise VocabularyError(f"{'inflates' if compressed else 'grew'} to more than "
                              f"{MAX_RDF_BYTES:,} bytes; refused", path=path)
    # a UTF-8 byte order mark (Windows editors write one) is no Turtle, N-Triples or
    # JSON: the TSV and CSV readers skip it, and so does this one
    data = data.removeprefix(b"\xef\xbb\xbf")
    # RDF/XML may declare another encoding (or be UTF-16 with a BOM); the others are UTF-8
    encoding = _xml_encoding(data) if fmt == "xml" else "utf-8"
    try:
        text = data.decode(encoding)
    except LookupError:
        raise VocabularyError(f"declares the encoding {encoding!r}, which Python cannot "
                              "decode; save the file as UTF-8", path=path, line=1) from None
    except UnicodeDecodeError as exc:
        what = "UTF-8" if encoding == "utf-8" else f"{encoding} (as its XML declaration says)"
        raise VocabularyError(f"not {what} text (byte 0x{data[exc.start]:02x}; save the "
                              "file as UTF-8)", path=path,
                              line=_line_at(data, exc.start)) from None
    if fmt == "xml":
        # checked as decoded: in UTF-16 the bytes of "<!ENTITY" are not these bytes;
        # rdflib gets the text, so its parser cannot read the bytes another way
        _check_entities(text.encode("utf-8"), path)
    elif fmt == "json-ld":
        _check_json_ld(data, path)
    graph = rdflib.Graph()
    # rdflib parses in one call, with no progress to show (YSO's 28k concepts in Turtle
    # took 5 s with nothing printed): a large file is announced, and timed when read
    large = len(data) > SKOS_ANNOUNCE_BYTES
    if large:
        logger.info("reading SKOS vocabulary %s (%.0f MB%s) ...", path, len(data) / 1e6,
                    " inflated" if compressed else "")
    start = time.monotonic()
    try:
        # a relative IRI and no base in the file resolves against NO_BASE, for
        # _read_skos to refuse: against the file's own path it made concept URIs
        # file:///home/... that named another concept on every machine
        with _without_rdflib_internal_deprecation():
            graph.parse(data=text if fmt == "xml" else data, format=fmt, publicID=NO_BASE)
    except Exception as exc:  # rdflib's parsers raise many unrelated types
        line, message = _syntax_error_at(exc)
        raise VocabularyError(f"not valid RDF ({fmt}): {message}", path=path,
                              line=line) from exc
    if large:
        logger.info("read SKOS vocabulary %s: %s triple%s (%.1f s)", path, f"{len(graph):,}",
                    plural_s(len(graph)), time.monotonic() - start)
    return graph


#: bytes read at a time by :func:`_read_at_most`
_READ_CHUNK = 1 << 20


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _read_at_most(handle: _Readable, limit: int) -> bytes:
    """At most ``limit`` bytes of ``handle``, read a chunk at a time: ``read(limit)``
    reserves ``limit`` bytes before reading any (4 GiB for :data:`MAX_RDF_BYTES`), so a
    100-byte Turtle file ran out of memory under an address-space limit (``ulimit -v``).

    >>> import io
    >>> _read_at_most(io.BytesIO(b"abcdef"), 4), _read_at_most(io.BytesIO(b"ab"), 4)
    (b'abcd', b'ab')
    """
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = handle.read(min(_READ_CHUNK, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _line_at(data: bytes, offset: int) -> int:
    r"""Number (from 1) of the line holding byte ``offset``, lines ending at CR LF, CR
    or LF (each a line end in Turtle and XML): counting LF alone put every byte of a
    CR-only file (an old Mac editor's; Turtle allows it) on line 1.

    >>> _line_at(b"a\rb\r\nc\nd", 7), _line_at(b"a\rb", 0)
    (4, 1)
    """
    return (data.count(b"\n", 0, offset) + data.count(b"\r", 0, offset)
            - data.count(b"\r\n", 0, offset) + 1)


_XML_DECLARED_ENCODING = re.compile(
    rb"<\?xml\s[^>]*?\bencoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._-]*)[\"']")


def _xml_encoding(data: bytes) -> str:
    r"""The encoding of an XML document (its UTF-8 BOM already dropped): a UTF-16 or
    UTF-32 BOM, else the XML declaration's ``encoding``, else UTF-8 (as XML says).

    >>> _xml_encoding(b'<?xml version="1.0" encoding="ISO-8859-1"?><r/>')
    'ISO-8859-1'
    >>> _xml_encoding(b"\xff\xfe<\x00r\x00/\x00>\x00"), _xml_encoding(b"<r/>")
    ('utf-16', 'utf-8')
    """
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    declared = _XML_DECLARED_ENCODING.match(data[:1024])
    return declared.group(1).decode("ascii") if declared else "utf-8"


@contextmanager
def _without_rdflib_internal_deprecation() -> Iterator[None]:
    """rdflib's JSON-LD parser (7.x, up to at least 7.6) wraps every plain ``Graph``
    it parses into in a ``ConjunctiveGraph`` of its own, whose constructor warns that
    it is deprecated (rdflib issue #3064, fixed upstream by an internal adapter): a
    warning about rdflib's code, not tagsmith's or its user's, and there is no public
    way to parse JSON-LD without it. Only that message is silenced, and only here."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ConjunctiveGraph is deprecated",
                                category=DeprecationWarning)
        yield


def _syntax_error_at(exc: Exception) -> tuple[int | None, str]:
    """(line, message) of an rdflib parse error: Turtle's ``BadSyntax`` and RDF/XML's
    ``SAXParseException`` know the line (rdflib's own "at line N of <>:" prefix is
    dropped for ``file:N:``); others (N-Triples) give none but quote the bad text."""
    lines = getattr(exc, "lines", None)  # BadSyntax: counted from 0
    if isinstance(lines, int):
        return lines + 1, re.sub(r"^at line \d+ of <[^>]*>:\s*", "", str(exc))
    line_number = getattr(exc, "getLineNumber", None)  # SAXParseException
    if callable(line_number):
        line = line_number()
        if isinstance(line, int) and line > 0:
            return line, getattr(exc, "getMessage", lambda: str(exc))()
    return None, str(exc)


def _check_loadable(space: LabelSpace, path: str | Path, *, hierarchy: bool = True) -> None:
    """Refuse, before a writer writes anything, a label :func:`load_vocabulary` would
    refuse reading the file back (:func:`label_problem`: a URI with whitespace or a
    control character, as a label space derived from a corpus's bare names has, a
    lone surrogate, an over-long name). Written, such a file did not load again, and a
    lone surrogate failed the write with a bare UnicodeEncodeError. With ``hierarchy``
    (the formats that write ``broader``), a ``broader`` cycle too: a space refuses one
    when built, but a label's ``broader`` list can be changed after."""
    after = "; it would not load back, so nothing was written"
    _refuse_label_problems(space, path, after)
    # the space's own, searched again only where a broader list changed since built
    cycle = (space.broader_cycle() if isinstance(space, LabelSpace) else broader_cycle(space)
             ) if hierarchy else None
    if cycle:
        raise VocabularyError(cycle_message(cycle) + after, path=path)


def _refuse_label_problems(labels: Iterable[Label], path: str | Path, after: str = "") -> None:
    """Raise :class:`VocabularyError` naming the first of ``labels`` with a
    :func:`label_problem` (reading SKOS, and before writing any format)."""
    for label in labels:
        problem = label_problem(label)
        if problem:
            # a URI with a lone surrogate is no text an error message can print
            uri = label.uri[:200].encode("utf-8", "backslashreplace").decode("utf-8")
            raise VocabularyError(f"concept <{uri}>: {problem}{after}", path=path)


def label_problem(label: Label) -> str | None:
    """Why ``label`` is refused (a URI holding a control character, whitespace or one
    of ``<>"``, a field holding a lone surrogate, or an over-long URI or name), or None."""
    char = control_char(label.uri)
    if char is not None:  # NUL, ESC, DEL...: not whitespace, so _valid_uri lets them by
        return (f"URI {label.uri[:80]!r} holds the control character {char!r} (U+"
                f"{ord(char):04X}), which no URI may")
    if not _valid_uri(label.uri):
        # the TSV and CSV readers' check; RDF/XML's rdf:about (and rdflib's Turtle parser,
        # with a log warning only) let <http://x/a b> by, a label no TSV corpus can name
        # and that the TSV and CSV writers wrote into files that did not load back
        return (f"URI {label.uri[:80]!r} holds whitespace or one of <>\", which no URI "
                "may")
    fields = [("URI", label.uri), ("notation", label.notation or "")]
    # each list built only where the label has such fields: a plain list's label has
    # none, and building empty ones was a third of the time of reading such a list
    if label.pref_labels:
        fields += [(f"label_{lang}", name) for lang, name in label.pref_labels.items()]
    if label.alt_labels:
        fields += [(f"altlabel_{lang}", name) for lang, names in label.alt_labels.items()
                   for name in names]
    if label.hidden_labels:
        fields += [(f"hiddenlabel_{lang}", name)
                   for lang, names in label.hidden_labels.items() for name in names]
    texts = fields if not label.description else fields + [
        (f"description_{lang}", text) for lang, text in label.description.items()]
    for field, value in texts:
        # Turtle, N-Triples and JSON-LD may escape half of a surrogate pair ("\uD83D");
        # such a string is no Unicode text: `tagsmith vocab` failed printing it and
        # `train` saving the bundle, after the whole training, with a bare traceback
        found = (None if not isinstance(value, str) or value.isascii()  # a Label made in Python
                 else LONE_SURROGATE.search(value))
        if found is not None:
            return (f"{field} {value[:80]!r} holds a lone surrogate {found.group()!r} (half "
                    "of a character cut in two, as an escape such as \\uD83D writes it): "
                    "not valid Unicode")
    for field, value in fields:
        if isinstance(value, str) and len(value) > MAX_NAME_CHARS:
            return (f"{field} of {len(value):,} characters (at most {MAX_NAME_CHARS:,}): "
                    f"{value[:40]!r}...")
    for lang, text in label.description.items():  # a SKOS literal, a Label made in Python
        if isinstance(text, str) and len(text) > MAX_CELL_CHARS:
            return (f"description_{lang} of {len(text):,} characters (at most "
                    f"{MAX_CELL_CHARS:,}): {text[:40]!r}...")
    return None


# -- files ------------------------------------------------------------------------------------
def _gzipped(path: Path) -> bool:
    """Whether ``path`` names a gzip file (``.gz`` in any case, as :func:`format_suffix`)."""
    return path.name.lower().endswith(".gz")


def format_suffix(path: Path) -> str:
    """The suffix telling a vocabulary file's format (:data:`SUFFIXES`), lower-case,
    looking through a trailing ``.gz``; ``""`` for none.

    >>> format_suffix(Path("stw.TTL.gz")), format_suffix(Path("out.gz"))
    ('.ttl', '')
    """
    name = path.name.lower()
    name = name[:-3] if _gzipped(path) else name
    return Path(name).suffix


def _stem(path: Path) -> str:
    name = path.name[:-3] if _gzipped(path) else path.name
    return Path(name).stem


#: what no URI holds: whitespace (``\s`` is exactly what ``str.isspace`` says is, every
#: Unicode space) and ``<>"``
_NOT_IN_URI = re.compile(r'[\s<>"]')


def _valid_uri(uri: str) -> bool:
    # one regex search: a test of each character in Python was half the time of
    # reading a plain list (200,000 labels)
    return bool(uri) and _NOT_IN_URI.search(uri) is None


def _spaced_code_hint(uri: str) -> str:
    """Why a code holding spaces (an IPC class ``H04L 9/32``) is no URI, and what to
    write instead; ``""`` for any other URI.

    >>> _spaced_code_hint("H04L 9/32")[:56], _spaced_code_hint("E11.9 Type 2")
    ("; a URI holds no space: give the code as 'H04L9/32' and ", '')
    """
    code = " ".join(uri.split())
    # each part a digit's: 'E11.9 Type 2' is a code and its title, a TAB missing
    if " " not in code or any(c in '<>"' for c in code) \
            or not all(any(c.isdigit() for c in part) for part in code.split()):
        return ""
    return (f"; a URI holds no space: give the code as {code.replace(' ', '')!r} and as "
            f"written, {code!r}, in a notation column (TSV: the third), by which a "
            "corpus may name it")


#: what a TSV cell cannot hold: tabs, and the line ends the reader splits at (CR LF,
#: CR, LF; not the other breaks of ``str.splitlines``, which names keep)
_TSV_BREAKS = re.compile("\r\n|[\t\r\n]")


def _one_line(text: str) -> str:
    r"""``text`` as one TSV cell: tabs and CR/LF line ends become spaces.

    >>> _one_line("a\tb\r\nc\u2028d\x0ce")
    'a b c\u2028d\x0ce'
    """
    return _TSV_BREAKS.sub(" ", text)


@contextmanager
def _reading(path: Path) -> Iterator[Iterator[str]]:
    """The lines of a text file, each with its line end (``.gz`` aware, BOM tolerant);
    read errors and a byte that is not UTF-8 raise naming the file (and line).

    Lines are split as the corpus readers split them (:func:`split_lines`): at LF (so
    at CR LF too) in a file that has LFs, a lone CR staying inside its line; at CR only
    in a file with no LF (an old Mac file). Text mode split at every lone CR, so a CR
    inside a name cut its line in two, and the tail (``bar`` of ``foo\\rbar``) was read
    as a label's URI, silently."""
    try:
        with open_binary(path, VocabularyError) as handle:
            # the corpus bound unless lower (a test lowers it), looked up at each read
            limit = min(readers.MAX_LINE_BYTES, MAX_VOCAB_LINE_BYTES)
            yield _decoded(_vocabulary_lines(split_lines(handle, limit=limit)), path)
    except (OSError, EOFError, zlib.error, csv.Error) as exc:
        raise VocabularyError(f"cannot read: {exc}", path=path) from exc


class _VocabularyLineTooLong(LineTooLong):
    """A vocabulary's line over its bound, saying the vocabulary's own limits."""

    @property
    def reason(self) -> str:
        return (f"a line longer than {self.limit:,} bytes, the most a vocabulary line may "
                f"hold (a cell holds at most {MAX_CELL_CHARS:,} characters, a name "
                f"{MAX_NAME_CHARS:,}); refused without reading the rest of it (a file with "
                "no line breaks, or no vocabulary?)")


def _vocabulary_lines(lines: Iterable[bytes]) -> Iterator[bytes]:
    """``lines``, a line over the bound refused with the vocabulary's limits named."""
    try:
        yield from lines
    except LineTooLong as exc:
        raise _VocabularyLineTooLong(exc.limit) from None


def _decoded(lines: Iterable[bytes], path: Path) -> Iterator[str]:
    """``lines`` as UTF-8 text, the byte-order mark of line 1 dropped; a line too long
    (:class:`~tagsmith.data.readers.LineTooLong`) raises naming its line, a file cut
    short (gzip) how many lines were read (:func:`~tagsmith.data.readers.numbered_lines`)."""
    for number, raw in numbered_lines(lines, path, error=VocabularyError):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VocabularyError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x}; save the "
                                  "file as UTF-8)", path=path, line=number) from None
        yield text.removeprefix("\ufeff") if number == 1 else text


def save_vocabulary_skos(space: LabelSpace, path: str | Path, *,
                         scheme_uri: str | None = None, title: str | None = None,
                         close_matches: Mapping[str, str] | None = None) -> Path:
    """Write the label space as a SKOS concept scheme (atomically; needs rdflib).

    The RDF syntax follows the suffix, as :func:`load_vocabulary` reads it: Turtle for
    ``.ttl``, RDF/XML for ``.rdf .xml .owl``, N-Triples for ``.nt``, JSON-LD for
    ``.jsonld`` (each optionally ``.gz``); another suffix raises
    :class:`~tagsmith.exceptions.UnsupportedFormatError`.

    Each label becomes a ``skos:Concept`` ``skos:inScheme`` the scheme, with its
    ``skos:prefLabel``, ``skos:altLabel`` and ``skos:hiddenLabel`` per language,
    ``skos:definition``,
    ``skos:notation``, ``skos:broader``, ``owl:deprecated`` and ``dct:isReplacedBy``,
    and its id as
    :data:`LABEL_ID`; labels without a broader label are the scheme's top concepts. A
    label read from SKOS keeps its classes and schemes (``Label.types``,
    ``Label.schemes``: ``rdf:type`` and ``skos:inScheme``), so that a selection by class
    or scheme keeps the same concepts in the file written.
    ``close_matches`` (label URI -> the URI of a concept of another vocabulary, as
    ``taxonomy --map-to`` finds) adds ``skos:closeMatch`` from each label to its match.
    :func:`load_vocabulary` reads it back with every label on its id (a match is no
    concept of the scheme, so it adds no label). A language that is
    no language tag (``"en us"``) raises :class:`~tagsmith.exceptions.VocabularyError`
    naming the concept, and nothing is written; so does a label :func:`load_vocabulary`
    would refuse (see :func:`_check_loadable`).
    """
    suffix = format_suffix(Path(path))
    if suffix not in RDF_FORMATS:
        raise UnsupportedFormatError(
            f"cannot write SKOS as {suffix or '(no suffix)'!r}; accepted suffixes: "
            f"{' '.join(RDF_FORMATS)} (each optionally .gz)", path=path)
    _check_loadable(space, path)
    close_matches = _checked_close_matches(space, close_matches, path)
    try:
        import rdflib
        from rdflib.namespace import DCTERMS, OWL, RDF, SKOS, XSD
    except ImportError as exc:
        raise MissingDependencyError("rdflib", extra="skos",
                                     feature="writing SKOS vocabularies") from exc
    graph = rdflib.Graph()
    graph.bind("skos", SKOS)
    graph.bind("dct", DCTERMS)
    graph.bind("owl", OWL)
    graph.bind("tagsmith", rdflib.Namespace(LABEL_ID.rsplit(":", 1)[0] + ":"))
    # the source's prefixes of the classes and schemes written, so that the CURIEs a
    # selection names them by (zbwext:Descriptor) read the export too
    used = {uri for label in space for uri in (*label.types, *label.schemes)}
    for prefix, namespace in getattr(space, "namespaces", {}).items():
        if any(uri.startswith(namespace) for uri in used):
            graph.bind(prefix, rdflib.Namespace(namespace), override=False)
    scheme = rdflib.URIRef(scheme_uri or _scheme_uri(space))
    graph.add((scheme, RDF.type, SKOS.ConceptScheme))
    if title or space.name:
        graph.add((scheme, DCTERMS.title, rdflib.Literal(title or space.name)))

    def literal(text: str, lang: str, uri: str):
        try:
            return rdflib.Literal(text, lang=lang)
        except ValueError:  # rdflib's bare "'x' is not a valid language tag!"
            raise VocabularyError(f"concept <{uri[:200]}>: {lang!r} is not a language tag "
                                  "RDF can hold (letters and digits in groups of 1 to 8, "
                                  "joined by '-'); nothing was written", path=path) from None

    for label_id, label in enumerate(space):
        concept = rdflib.URIRef(label.uri)
        graph.add((concept, RDF.type, SKOS.Concept))
        graph.add((concept, SKOS.inScheme, scheme))
        graph.add((concept, rdflib.URIRef(LABEL_ID), rdflib.Literal(label_id)))
        for lang, name in label.pref_labels.items():
            graph.add((concept, SKOS.prefLabel, literal(name, lang, label.uri)))
        for lang, names in label.alt_labels.items():
            for name in names:
                graph.add((concept, SKOS.altLabel, literal(name, lang, label.uri)))
        for lang, names in label.hidden_labels.items():
            for name in names:
                graph.add((concept, SKOS.hiddenLabel, literal(name, lang, label.uri)))
        for lang, text in label.description.items():
            graph.add((concept, SKOS.definition, literal(text, lang, label.uri)))
        if label.notation:
            graph.add((concept, SKOS.notation, rdflib.Literal(label.notation)))
        for parent in label.broader:
            graph.add((concept, SKOS.broader, rdflib.URIRef(parent)))
        if label.uri in close_matches:
            graph.add((concept, SKOS.closeMatch, rdflib.URIRef(close_matches[label.uri])))
        if not space.broader_ids(label_id):
            graph.add((scheme, SKOS.hasTopConcept, concept))
        if label.deprecated:
            graph.add((concept, OWL.deprecated, rdflib.Literal(True, datatype=XSD.boolean)))
        for replacement in label.replaced_by:
            graph.add((concept, DCTERMS.isReplacedBy, rdflib.URIRef(replacement)))
        # the source's classes and schemes, as read: --vocab-type and --vocab-scheme
        # select in the export as in the file it was read from
        for cls in label.types:
            graph.add((concept, RDF.type, rdflib.URIRef(cls)))
        for source_scheme in label.schemes:
            graph.add((concept, SKOS.inScheme, rdflib.URIRef(source_scheme)))
            graph.add((rdflib.URIRef(source_scheme), RDF.type, SKOS.ConceptScheme))
    with atomic_text_writer(path) as out:
        out.write(graph.serialize(format=RDF_FORMATS[suffix]))
    return Path(path)


def _scheme_uri(space: LabelSpace) -> str:
    first = space.uri_of(0) if len(space) else "urn:tagsmith:"
    for sep in ("#", "/", ":"):
        if sep in first.rstrip(sep):
            return first.rsplit(sep, 1)[0] + sep + "scheme"
    return "urn:tagsmith:scheme"
