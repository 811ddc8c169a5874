"""LabelSpace: integer label ids inside the engine, URIs at the edges.

A label space maps ids ``0 .. n_labels-1`` to URIs and carries what a vocabulary
knows about each label: preferred and alternative names per language, a notation,
a description, broader (parent) labels, a deprecated flag and the labels that replace
a deprecated one (``dct:isReplacedBy``).

Ids are positions and never move: when a vocabulary is reloaded with additions and
removals, :meth:`LabelSpace.updated` keeps every known URI on its old id, appends
new URIs, and keeps removed ones as deprecated slots, so a model trained on the old
space stays valid.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import numbers
import re
import zlib
from collections.abc import Iterable, Iterator, KeysView, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import TypeVar, cast

import numpy as np

from tagsmith._plural import NAME_LIMIT, and_more, clip, plural_s
from tagsmith.exceptions import (
    AmbiguousLabelError,
    InvalidParameterError,
    LabelIdError,
    LabelNotFoundError,
    VocabularyError,
)

T = TypeVar("T")


#: how :meth:`LabelSpace.line_number_hint` begins (a report drops it unless every
#: unknown key is such a number)
LINE_NUMBER_HINT = "a whole number below the vocabulary's"
#: the awk program of the line-number hint's conversion: a plain list (``.txt``) to a
#: TSV naming each label ``<urn:x:KEY><TAB>KEY<TAB>N``, N its number from 0 as the list
#: reader counts labels: a UTF-8 byte-order mark dropped, a line split at each CR as
#: well as at LF (a Windows file's CR LF, an old Mac file's CR alone), blank lines and
#: comments (``#`` then nothing, a sign or a space, or a ``#`` line of several words;
#: ``#fashion`` and ``#été`` are keys, as vocab._list_comment tells them) skipped, a
#: key's angle brackets dropped. ``NR-1`` numbered every line: a ``# comment`` first
#: shifted every label by one, and a CRLF list gave a TSV refused for its CRs; a list
#: whose lines end in CR alone, one line to awk, became one label of every key. Only
#: POSIX awk (a regular-expression ``RS`` is no POSIX awk's): ``split`` at CR, then at blanks.
LIST_TO_TSV_AWK = (
    r'NR == 1 {sub(/^\357\273\277/, "")} '
    r'{k = split($0, lines, "\r"); for (i = 1; i <= k; i++) {m = split(lines[i], f); '
    r'if (m && (f[1] !~ /^#/ || m == 1 && f[1] ~ /^#([A-Za-z0-9_]|[^\001-\177])/)) '
    r'{sub(/^</, "", f[1]); sub(/>$/, "", f[1]); print "<urn:x:" f[1] ">\t" f[1] "\t" n++}}}')


def list_to_tsv_awk(scheme: str) -> str:
    """:data:`LIST_TO_TSV_AWK` naming each label ``<SCHEME KEY>`` (GoEmotions' advice:
    ``urn:goemotions:``).

    >>> print(list_to_tsv_awk("urn:g:").partition("print ")[2])
    "<urn:g:" f[1] ">\\t" f[1] "\\t" n++}}}
    """
    return LIST_TO_TSV_AWK.replace('"<urn:x:"', f'"<{scheme}"')


def _lines_shown(lines: list[tuple[int, bytes]]) -> str:
    """``lines`` (numbered) in a message: ``line 3 ('#═══')``, the first three shown.

    >>> _lines_shown([(1, b"#x"), (3, b"#y\\r")]), _lines_shown([(n, b"#") for n in range(5)])
    ("lines 1 ('#x'), 3 ('#y')", "lines 0 ('#'), 1 ('#'), 2 ('#') and 2 more")
    """
    def say(numbered: tuple[int, bytes]) -> str:
        text = clip(numbered[1].decode("utf-8", "replace").strip("\r"), 40, collapse=False)
        return f"{numbered[0]} ({text!r})"

    return f"line{'s' if len(lines) > 1 else ''} {and_more(lines, 3, say, serial=False)}"


def awk_list_labels(data: bytes) -> Iterator[tuple[int, bytes, str]]:
    """What :data:`LIST_TO_TSV_AWK` prints of a plain list's bytes ``data``, each label
    as ``(line, text, key)``: the number of its line as the list reader counts lines
    (at LF where the file has one, else at CR), that line's bytes and the key printed.
    awk reads bytes, its blanks a space or TAB and its letters ASCII alone (mawk has no
    Unicode classes), where the reader strips Unicode spaces and tells Unicode letters:
    ``#═══`` or ``#`` and a no-break space is a comment to the reader, a key to awk.

    >>> [key for _, _, key in awk_list_labels("# a\\r\\njoy\\r\\n#═══\\n#été\\n".encode())]
    ['joy', '#═══', '#été']
    """
    data = data.removeprefix(b"\xef\xbb\xbf")
    for number, line in enumerate(data.split(b"\n") if b"\n" in data
                                  else data.split(b"\r"), 1):
        for part in line.split(b"\r"):
            fields = re.split(rb"[ \t]+", part.strip(b" \t"))
            first = fields[0]
            if not first or first.startswith(b"#") and (
                    len(fields) > 1 or not re.match(rb"#(?:[A-Za-z0-9_]|[^\x01-\x7f])", first)):
                continue
            first = re.sub(rb">$", b"", re.sub(rb"^<", b"", first))
            yield number, line, first.decode("utf-8", "replace")


@dataclass
class Label:
    """Everything known about one label; only ``uri`` is required."""

    uri: str
    pref_labels: dict[str, str] = field(default_factory=dict)
    alt_labels: dict[str, list[str]] = field(default_factory=dict)
    notation: str | None = None
    description: dict[str, str] = field(default_factory=dict)
    broader: list[str] = field(default_factory=list)
    deprecated: bool = False
    #: URIs of the labels that replace this one once deprecated (``dct:isReplacedBy``)
    replaced_by: list[str] = field(default_factory=list)
    #: ``skos:hiddenLabel`` per language: misspellings and variants a corpus key or
    #: ``--only`` value may name the concept by (read as an ``altLabel`` is by
    #: :meth:`LabelSpace.lookup`), never shown as its name. Empty: no key in
    #: :meth:`to_dict`, so no saved space, bundle or digest moves
    hidden_labels: dict[str, list[str]] = field(default_factory=dict)
    #: a SKOS concept's classes (``rdf:type``, with the classes they are
    #: ``rdfs:subClassOf*`` below ``skos:Concept``: STW's ``zbwext:Descriptor``) and
    #: concept schemes (``skos:inScheme``...), as read, for
    #: :func:`~tagsmith.data.vocab.save_vocabulary_skos` to write back: a SKOS export
    #: kept neither, and ``--vocab-type`` selected nothing in it. No part of a label's
    #: equality nor of :meth:`to_dict` (a bundle keeps the labels it was trained on)
    types: list[str] = field(default_factory=list, compare=False)
    schemes: list[str] = field(default_factory=list, compare=False)

    def to_dict(self) -> dict:
        out: dict = {"uri": self.uri}
        if self.pref_labels:
            out["pref_labels"] = dict(self.pref_labels)
        if self.alt_labels:
            out["alt_labels"] = {k: list(v) for k, v in self.alt_labels.items()}
        if self.notation is not None:
            out["notation"] = self.notation
        if self.description:
            out["description"] = dict(self.description)
        if self.broader:
            out["broader"] = list(self.broader)
        if self.deprecated:
            out["deprecated"] = True
        if self.replaced_by:  # none: no key, as a space saved before replacements were read
            out["replaced_by"] = list(self.replaced_by)
        if self.hidden_labels:  # none: no key, as a space saved before they were read
            out["hidden_labels"] = {k: list(v) for k, v in self.hidden_labels.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> Label:
        return cls(
            uri=str(data["uri"]),
            pref_labels=dict(data.get("pref_labels", {})),
            alt_labels={k: list(v) for k, v in data.get("alt_labels", {}).items()},
            notation=data.get("notation"),
            description=dict(data.get("description", {})),
            broader=_uris(data, "broader"),
            deprecated=bool(data.get("deprecated", False)),
            replaced_by=_uris(data, "replaced_by"),
            hidden_labels={k: list(v) for k, v in data.get("hidden_labels", {}).items()},
        )


def _uris(data: Mapping, key: str) -> list[str]:
    """``data[key]``, a list of URIs (``[]`` where absent); :class:`TypeError` naming
    ``key`` for anything else: ``list()`` read a string as a list of its characters and
    a mapping as its keys, each a URI naming no label.

    >>> _uris({"broader": "u:b"}, "broader")
    Traceback (most recent call last):
    TypeError: 'broader' is not a list of URIs but 'u:b'
    """
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(uri, str) for uri in value):
        raise TypeError(f"{key!r} is not a list of URIs but {_shown(value)}")
    return list(value)


def _shown(value: object) -> str:
    """``repr(value)``, cut short: a damaged file may hold anything, of any size."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."

def _refuse_unordered(values, parameter: str, expected: str, mapping_hint: str) -> None:
    """Refuse, as ``parameter``, what gives no label-id order: a bare str, a mapping (one
    of whose parts ``mapping_hint`` says to give) or a set (a dict's keys view is
    ordered, so taken)."""
    if isinstance(values, str | bytes | Mapping | Set) and not isinstance(values, KeysView):
        what = ("a bare str" if isinstance(values, str | bytes) else
                f"a {type(values).__name__} ({mapping_hint})"
                if isinstance(values, Mapping) else
                f"a {type(values).__name__} (no order for the label ids)")
        raise InvalidParameterError(parameter, expected, what)


def code_key(code: str) -> str:
    """A code compared ignoring case and punctuation: ``E11.9``, ``e11.9`` and ``E119``
    give ``e119``, ``H04L 9/32`` gives ``h04l932``."""
    if code.isascii():  # one substitution (a resolver keys every URI of a vocabulary)
        return _ASCII_NOT_ALNUM.sub("", code).lower()
    return "".join(char for char in code.casefold() if char.isalnum())


#: what is no letter or digit in ASCII text (where :meth:`str.isalnum` is this)
_ASCII_NOT_ALNUM = re.compile("[^0-9A-Za-z]+")
#: a digit and what separates it from the next digit, in ASCII text
_ASCII_BROKEN_DIGITS = re.compile("[0-9][^0-9A-Za-z]+(?=[0-9])")


def code_breaks(code: str) -> frozenset[int]:
    """Where ``code`` separates two digits by punctuation or spaces, as positions in its
    :func:`code_key`: ``{1}`` for ``1,2``, ``{3}`` for ``E11.9``, none for ``E119`` or
    ``H04L 9/32``'s space (after a letter). A code written another way may drop or
    change these, never add one: ``1,2`` is no ``12``.

    >>> sorted(code_breaks("1, 2")), sorted(code_breaks("E11.9")), code_breaks("H04L 9")
    ([1], [3], frozenset())
    """
    if code.isascii():  # searched, not walked (a resolver keys every URI with a digit)
        return frozenset(len(_ASCII_NOT_ALNUM.sub("", code[:match.end()]))
                         for match in _ASCII_BROKEN_DIGITS.finditer(code))
    breaks = set()
    kept = 0
    previous = ""  # the last letter or digit kept, and whether something came between
    between = False
    for char in code.casefold():
        if not char.isalnum():
            between = True
            continue
        if between and previous.isdigit() and char.isdigit():
            breaks.add(kept)
        kept += 1
        previous, between = char, False
    return frozenset(breaks)


#: a separator of digit groups as numbers are read out ("541 511", "541-511")
GROUP_SEPARATOR = "[ \u00a0\u2009\u202f\\-\u2010\u2011\u2012\u2013]"
#: digits in groups so separated
_GROUPS = re.compile(rf"\d+(?:{GROUP_SEPARATOR}\d+)+")
#: the separators of digits grouped as thousands ("1 234 567"): spaces alone
_THOUSANDS_SEPARATORS = frozenset(" \u00a0\u2009\u202f")


def grouping_breaks(name: str) -> frozenset[int]:
    """The breaks of :func:`code_breaks` that group digits as
    numbers are read out: one separator, a space or dash, between groups all of one
    length (2 or more: "541 511", "54-15-11"), or spaces between thousands (1 to 3
    digits, then groups of 3: "1 234"); not "12 3", "5415 11", "1-13150", "3 1-33",
    nor "1,2" (a comma lists).

    >>> sorted(grouping_breaks("541 511")), sorted(grouping_breaks("54-15-11"))
    ([3], [2, 4])
    >>> sorted(grouping_breaks("1 234")), grouping_breaks("1-234")
    ([1], frozenset())
    >>> grouping_breaks("12 3"), grouping_breaks("1,2"), grouping_breaks("E11 9")
    (frozenset(), frozenset(), frozenset())
    """
    text = name.casefold()  # as code_breaks counts
    breaks = set()
    for match in _GROUPS.finditer(text):
        groups = re.split(GROUP_SEPARATOR, match.group())
        separators = set(re.findall(GROUP_SEPARATOR, match.group()))
        size = len(groups[0])
        even = size >= 2 and len(separators) == 1 and all(len(g) == size for g in groups)
        thousands = (size <= 3 and separators <= _THOUSANDS_SEPARATORS
                     and all(len(g) == 3 for g in groups[1:]))
        if not (even or thousands):
            continue
        kept = sum(char.isalnum() for char in text[:match.start()])
        for group in groups[:-1]:
            kept += len(group)
            breaks.add(kept)
    return frozenset(breaks)


def strip_brackets(key: str) -> str:
    """``<http://x/1>`` -> ``http://x/1``; anything else is returned stripped.

    >>> strip_brackets(" <http://x/1> ")
    'http://x/1'
    """
    key = key.strip()
    if len(key) >= 2 and key[0] == "<" and key[-1] == ">":
        return key[1:-1].strip()
    return key


#: C0 controls, DEL and C1 controls: no URI may hold one (RFC 3987), whitespace or not
_CONTROL_CHAR = re.compile("[\x00-\x1f\x7f-\x9f]")


def control_char(uri: str) -> str | None:
    """The first C0 or C1 control character or DEL in ``uri``, else None: a vocabulary
    refuses such a URI, and a corpus's label key holding one is no label.

    >>> control_char("http://x/a\\x00b"), control_char("http://x/caf\u00e9")
    ('\\x00', None)
    """
    found = _CONTROL_CHAR.search(uri)
    return None if found is None else found.group()


def in_language(values: Mapping[str, T], lang: str) -> T | None:
    """The value for language ``lang`` in ``values`` (language tag -> value), else for
    a variant of it, else None. Tags compare ignoring case; ``en-GB`` falls back to
    ``en``, then to another ``en-*`` tag, and ``en`` to ``en-GB``.

    >>> in_language({"de": "Apfel", "en-gb": "apple"}, "EN"), in_language({"en": 1}, "en-GB")
    ('apple', 1)
    >>> in_language({"de": "Apfel"}, "fi") is None
    True
    """
    if lang in values:
        return values[lang]
    wanted = lang.lower()
    base = wanted.split("-")[0]
    for match in (lambda tag: tag == wanted, lambda tag: tag == base,
                  lambda tag: tag.split("-")[0] == base):
        for tag, value in values.items():
            if match(tag.lower()):
                return value
    return None


def unnamed_in(labels: Iterable[Label], lang: str) -> list[str]:
    """The languages of the labels' names (sorted) when some labels have names but none
    in ``lang`` or a variant of it, so every name shown falls back to another language
    (a mistyped ``--lang``); ``[]`` when a label is named in ``lang`` or none is named.

    >>> unnamed_in([Label("u:a", {"de": "Apfel"}), Label("u:b", {"fi": "omena"})], "en")
    ['de', 'fi']
    >>> unnamed_in([Label("u:a", {"de": "Apfel"}), Label("u:b", {"en-GB": "apple"})], "en")
    []
    """
    named = [label.pref_labels for label in labels if any(label.pref_labels.values())]
    if any(in_language(names, lang) for names in named):
        return []
    return sorted({code for names in named for code in names})


def names_instead(languages: list[str], done: str = "shown") -> str:
    """How the names of labels named in ``languages`` (:func:`unnamed_in`'s, none in the
    language asked) stand in for it, ``done`` (shown, used) instead: a label's English
    name, else its first (as :meth:`LabelSpace.name_of` and the zero-shot label texts
    pick it). One wording for the CLI's and the zero-shot scorer's warnings: the
    scorer's said "names in 'de', 'en', 'pl' are used instead", as if in that order.

    >>> names_instead(["en"])
    "names in 'en' are shown instead"
    >>> names_instead(["de", "en-GB", "pl"], "used")
    "each label's English name, else its first, is used instead (languages 'de', 'en-GB', 'pl')"
    """
    if len(languages) == 1:
        return f"names in {languages[0]!r} are {done} instead"
    shown = ", ".join(map(repr, languages[:10])) + (", ..." if len(languages) > 10 else "")
    which = ("English name, else its first," if "en" in {
        tag.lower().split("-")[0] for tag in languages} else "first name")
    return f"each label's {which} is {done} instead (languages {shown})"


def language_in(values: Mapping[str, object], lang: str) -> str | None:
    """The language tag of the value :func:`in_language` picks, as ``values`` spells it.

    >>> language_in({"de": "Apfel", "en-GB": "apple"}, "en"), language_in({"de": 1}, "fi")
    ('en-GB', None)
    """
    return in_language({tag: tag for tag in values}, lang)


def find_cycle(parents: dict[str, list[str]], rank: dict[str, int]) -> list[str] | None:
    """A ``broader`` cycle (its URIs, starting at the one of least ``rank``), or None.

    Depth first without recursion, linear in the links: a deep hierarchy cannot
    overflow the stack and a large one is not walked twice."""
    if not any(parents.values()):  # no link (a plain list, a flat vocabulary): no walk
        return None
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in parents:
        if state.get(start):
            continue
        path_uris = [start]
        todo = [iter(parents[start])]
        state[start] = 1
        while todo:
            step = next(todo[-1], None)
            if step is None:
                state[path_uris.pop()] = 2
                todo.pop()
            elif state.get(step) == 1:
                cycle = path_uris[path_uris.index(step):]
                first = min(range(len(cycle)), key=lambda i: rank[cycle[i]])
                return cycle[first:] + cycle[:first]
            elif not state.get(step):
                state[step] = 1
                path_uris.append(step)
                todo.append(iter(parents[step]))
    return None


def cycle_message(cycle: list[str]) -> str:
    """The error message for a :func:`find_cycle` cycle, naming its labels in order."""
    shown = " -> ".join(f"<{uri}>" for uri in [*cycle, cycle[0]])
    return f"broader cycle: {shown} (a label cannot be its own ancestor)"


def replacement_cycle(labels: Sequence[Label]) -> list[str] | None:
    """A ``replaced_by`` cycle among deprecated ``labels`` (a retired label replaced,
    through retired ones alone, by itself; its URIs from the earliest label), or None:
    such a label has no replacement to follow. A link to a label that is not deprecated
    ends a chain and is no part of any cycle, nor is one to a URI outside ``labels``.

    >>> replacement_cycle([Label("u:a", deprecated=True, replaced_by=["u:b"]),
    ...                    Label("u:b", deprecated=True, replaced_by=["u:a"])])
    ['u:a', 'u:b']
    """
    rank = {label.uri: i for i, label in enumerate(labels)}
    retired = {label.uri for label in labels if label.deprecated}
    return find_cycle({label.uri: [r for r in label.replaced_by if r in retired]
                       for label in labels if label.deprecated}, rank)


def replacement_cycle_message(cycle: list[str]) -> str:
    """The error message for a :func:`replacement_cycle`, naming its labels in order."""
    shown = " -> ".join(f"<{uri}>" for uri in [*cycle, cycle[0]])
    return (f"replaced_by (dct:isReplacedBy) cycle of deprecated labels: {shown} (a "
            "deprecated label cannot be replaced, through deprecated ones, by itself)")


def broader_cycle(labels: Sequence[Label]) -> list[str] | None:
    """A ``broader`` cycle among ``labels`` (its URIs, starting at the earliest label),
    or None; links to URIs outside ``labels`` are no part of any cycle."""
    if not any(label.broader for label in labels):  # a flat vocabulary, a plain list
        return None
    rank = {label.uri: i for i, label in enumerate(labels)}
    return find_cycle({label.uri: [p for p in label.broader if p in rank] for label in labels},
                      rank)


class LabelSpace(Sequence[Label]):
    """An ordered, immutable set of labels; a label's id is its position.

    A ``broader`` cycle among the labels (a label its own ancestor, a self-loop included)
    raises :class:`~tagsmith.exceptions.VocabularyError` naming the labels on it, as
    loading a vocabulary file does; ``broader`` links to URIs outside the space are kept
    and ignored by the hierarchy.

    >>> space = LabelSpace.from_uris(["http://x/a", "http://x/b"])
    >>> len(space), space.id_of("<http://x/b>"), space.uri_of(0)
    (2, 1, 'http://x/a')
    """

    def __init__(self, labels: Iterable[Label], *, name: str | None = None,
                 source: str | None = None):
        self._labels: list[Label] = list(labels)
        self.name = name
        #: the file the labels were read from (load_vocabulary's), for the commands a
        #: message advises running on it; no part of the space (equality, to_dict)
        self.source = source
        #: the selection :func:`~tagsmith.data.vocab.load_vocabulary` kept the labels by
        #: (``types``, ``schemes``: the classes' and schemes' URIs, however given;
        #: ``prefixes``), where it read the space; empty otherwise. No part of the space
        self.selection: dict[str, tuple[str, ...]] = {}
        #: a SKOS file's namespace prefixes (prefix -> URI), where load_vocabulary read
        #: one: a SKOS export binds those of the classes and schemes it writes
        self.namespaces: dict[str, str] = {}
        #: a SKOS file's concept schemes' titles (scheme URI -> ``dct:title``), where
        #: load_vocabulary read one: ``taxonomy --extend`` keeps the scheme and its title
        self.scheme_titles: dict[str, str] = {}
        self._by_uri: dict[str, int] = {}
        for i, label in enumerate(self._labels):
            if not label.uri:
                raise VocabularyError(f"label number {i} has an empty URI")
            if label.uri in self._by_uri:
                raise VocabularyError(f"duplicate label URI {label.uri!r}")
            self._by_uri[label.uri] = i
        # as a vocabulary file does: a label its own ancestor leaves hierarchy-aware code
        # no roots, and written as CSV or SKOS it would not load back
        # the hierarchy found acyclic, as the broader lists were then: a writer checking
        # the space again searched it once more; now only where a list changed since
        self._acyclic: tuple[tuple[str, ...], ...] | None = None
        cycle = self.broader_cycle()
        if cycle:
            raise VocabularyError(cycle_message(cycle))
        # (name, notation or altLabel -> id, ambiguous key -> ids, name or notation ->
        # the other live concepts holding it as an altLabel), built on first lookup and
        # published as one tuple: stored one after the other, a lookup racing the first
        # saw the names but not yet the ambiguous ones, and returned None where it
        # should have raised AmbiguousLabelError
        self._name_index: tuple[dict[str, int], dict[str, list[int]],
                                dict[str, list[int]]] | None = None
        # the keys whose shadowed altLabels a warning has named (warned once a space)
        self._shadow_warned: set[str] = set()
        self._fingerprint: str | None = None
        # whether labels are named by category paths (:meth:`_named_by_paths`), once found
        self._paths: bool | None = None
        # what the line-number hint's command reads otherwise than the list reader did
        # (:meth:`_awk_misreading`), once found
        self._awk_note: str | None = None
        # notation -> the ids of the labels of that notation (:meth:`_name_index_of_notation`)
        self._notations: dict[str, list[int]] | None = None
        # a URI's last segment -> the ids of the labels whose URIs end so (:meth:`_uri_end_hint`)
        self._uri_ends: dict[str, list[int]] | None = None

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_uris(cls, uris: Iterable[str], *, names: Mapping[str, str] | None = None,
                  lang: str = "en") -> LabelSpace:
        """Build a space from URIs (brackets optional) with optional ``names`` (``uri ->
        name``, a dict or a pandas Series indexed by URI), preferred names in language
        ``lang``.

        ``uris`` is a sequence of str in label-id order: a bare str (one label per
        character), a mapping (its keys, its names dropped) or a set (no order) is
        refused, and so is a URI or a name that is no str (a NaN of pandas), naming it
        (an ``AttributeError`` on ``strip``, or a float NaN kept as the label's name).

        >>> LabelSpace.from_uris(["<u:a>", "u:b"], names={"u:a": "apple"}).names()
        ['apple', 'u:b']
        """
        # a dict's keys (from_uris(names.keys(), names=names)) are in its order
        _refuse_unordered(uris, "uris", "a list of URIs (one str per label, in label-id "
                          "order)", "give its URIs, and names=")
        if names is not None:
            try:  # a pandas Series was "ambiguous" in `if names`
                names = dict(names.items() if hasattr(names, "items") else names)
            except (TypeError, ValueError):
                raise InvalidParameterError("names", "a mapping of URI -> name",
                                            type(names).__name__) from None
        labels = []
        for i, uri in enumerate(uris):
            if not isinstance(uri, str):
                raise InvalidParameterError(f"uris[{i}]", "a str (a label's URI)",
                                            type(uri).__name__)
            uri = strip_brackets(uri)
            pref = {}
            if names and uri in names:
                name = names[uri]
                if not isinstance(name, str):
                    raise InvalidParameterError(f"names[{uri!r}]", "a str (leave the label "
                                                "out of names for none)", _shown(name))
                pref = {lang: name}
            labels.append(Label(uri=uri, pref_labels=pref))
        return cls(labels)

    @classmethod
    def from_names(cls, names: Iterable[str], *, lang: str = "en") -> LabelSpace:
        """Build a space from label names alone (a notebook's list, a pandas Series of
        them), in label-id order: each label's URI is its name, and so is its preferred
        name in language ``lang``, which zero-shot embeds and LLM prompts show.

        ``LabelSpace.from_uris(names)`` gives labels with URIs and no names, which
        zero-shot refuses (it embeds names, not URIs). ``names`` is refused as
        :meth:`from_uris` refuses ``uris`` (a bare str, a mapping, a set), and so is a
        name that is no str or is blank, naming its position.

        >>> space = LabelSpace.from_names(["joy", "anger"])
        >>> space.uris, space.names(), space[0].pref_labels
        (['joy', 'anger'], ['joy', 'anger'], {'en': 'joy'})

        A name in angle brackets is read as its URI is, without them (``<joy>`` gave
        URI ``joy`` but kept the name ``<joy>``, which zero-shot embedded brackets and
        all); one that is nothing but brackets is refused:

        >>> LabelSpace.from_names(["<joy>"]).names()
        ['joy']
        """
        _refuse_unordered(names, "names", "a list of label names (one str per label, in "
                          "label-id order)", "give a list of its names")
        given = list(names)
        first: dict[str, int] = {}  # each URI and the position first giving it
        for i, name in enumerate(given):
            if not isinstance(name, str) or not strip_brackets(name):
                raise InvalidParameterError(f"names[{i}]", "a label's name (a non-blank "
                                            "str, not only angle brackets)", _shown(name))
            # a name given twice (a list with a repeated line) was refused as "duplicate
            # label URI", of URIs the caller never gave, and no position
            j = first.setdefault(strip_brackets(name), i)
            if j != i:
                raise InvalidParameterError(f"names[{i}]", f"a name other than names[{j}]'s "
                                            "(each name is its label's URI)", name)
        return cls.from_uris(given, names={strip_brackets(name): strip_brackets(name)
                                           for name in given}, lang=lang)

    # -- sequence protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index):
        return self._labels[index]

    def __iter__(self) -> Iterator[Label]:
        return iter(self._labels)

    def __contains__(self, uri: object) -> bool:
        return isinstance(uri, str) and strip_brackets(uri) in self._by_uri

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSpace):
            return NotImplemented
        return self.to_dict()["labels"] == other.to_dict()["labels"]

    def __repr__(self) -> str:
        return f"LabelSpace(n_labels={len(self)}, fingerprint={self.fingerprint[:12]!r})"

    @property
    def n_labels(self) -> int:
        """Number of labels (``len(space)``)."""
        return len(self._labels)

    @property
    def uris(self) -> list[str]:
        """Every label's URI, in id order."""
        return [label.uri for label in self._labels]

    # -- lookups ---------------------------------------------------------------------------
    def id_of(self, uri: str) -> int:
        """The id of a URI (angle brackets allowed); :class:`LabelNotFoundError` (a
        ``KeyError``) naming it if it is not in the space."""
        found = self._by_uri.get(strip_brackets(uri)) if isinstance(uri, str) else None
        if found is None:
            raise LabelNotFoundError("uri", f"a URI in the label space ({len(self)} "
                                            f"label{plural_s(len(self))})", uri)
        return found

    def uri_of(self, label_id: int) -> str:
        """The URI of the label with id ``label_id``; :class:`LabelIdError` (an
        ``IndexError``) for an id outside ``[0, n_labels)``."""
        return self._label(label_id).uri

    def _label(self, label_id: int) -> Label:
        # a negative id was taken from the end (name_of(-1) named the last label) and a
        # too large one failed with a bare "list index out of range"
        try:
            if label_id >= 0:
                return self._labels[label_id]
        except (IndexError, TypeError):
            pass
        raise LabelIdError("label_id", f"an integer in [0, {len(self)})", label_id)

    def lookup(self, key: str, *, by_name: bool = True) -> int | None:
        """Resolve a corpus label key to an id, or ``None`` when unknown.

        ``<uri>`` is looked up as a URI only. A bare key is tried as a URI, then
        (when ``by_name``) as a preferred name in any language, then as a notation. A
        name or notation several concepts share resolves to the one that is not
        deprecated; when several live ones share it, :class:`AmbiguousLabelError` is
        raised rather than one picked silently.

        >>> space = LabelSpace.from_uris(["http://x/a"], names={"http://x/a": "apple"})
        >>> space.lookup("<http://x/a>"), space.lookup("apple"), space.lookup("pear")
        (0, 0, None)

        Last (``by_name``), an alternative label (``altLabel``, ``hiddenLabel``) in any
        language: an accepted rename's old name (``taxonomy --accept-edits``) or a
        thesaurus's synonym finds its concept. One several live concepts share is
        ambiguous as a shared name is; one that is also another concept's preferred name
        or notation is read as that (names first, as before) with a warning, once,
        naming the concepts that hold it as an alternative label:

        >>> space = LabelSpace([Label("u:a", {"en": "Apple"}, {"en": ["Malus"]}),
        ...                     Label("u:b", {"en": "Pear"}, {"en": ["Pyrus", "Apple"]})])
        >>> space.lookup("Malus"), space.lookup("Pyrus"), space.lookup("Apple")
        (0, 1, 0)
        """
        key = key.strip()
        if key.startswith("<") and key.endswith(">"):
            return self._by_uri.get(key[1:-1].strip())
        found = self._by_uri.get(key)
        if found is not None or not by_name:
            return found
        name_index = self._name_index
        if name_index is None:
            name_index = self._name_index = self._build_name_index()
        name_ids, ambiguous, shadowed = name_index
        found = name_ids.get(key)
        if found is None and key in ambiguous:
            raise AmbiguousLabelError(key, [self.uri_of(i) for i in ambiguous[key]])
        if shadowed and found is not None and key in shadowed:
            self._warn_shadowed(key, found, shadowed[key])
        return found

    def _warn_shadowed(self, key: str, found: int, others: list[int]) -> None:
        """Warn, once a key, that ``key`` was read as ``found``'s name or notation though
        ``others`` hold it as an alternative label."""
        if key in self._shadow_warned:
            return
        self._shadow_warned.add(key)
        shown = and_more(others, 3, lambda i: f"<{self.uri_of(i)}> ({self.name_of(i)!r})",
                         serial=False)
        logging.getLogger("tagsmith").warning(
            "%s", f"label name {key!r} is read as <{self.uri_of(found)}> "
            f"({self.name_of(found)!r}), whose name or notation it is, though it is an "
            f"alternative label of {shown} too (a URI names each of them apart)")

    def unknown_hint(self, key: str) -> str:
        """For a corpus key :meth:`lookup` found no label for: what it is instead, if it
        is a preferred name written in another case or spacing (``""`` when not), so
        the error says how to name the label rather than that the vocabulary lacks it.
        Scans every label: for errors only. (An alternative label is no such key:
        :meth:`lookup` reads it, or says which concepts share it.)

        >>> space = LabelSpace([Label("http://x/a", pref_labels={"en": "Apple"},
        ...                           alt_labels={"en": ["Malus"]})])
        >>> space.unknown_hint("apple ")[:45], space.unknown_hint("pear")
        ("the preferred name 'Apple' of <http://x/a> in", '')

        A key several concepts match names each of them (the first alone had the user
        write its URI for any of them):

        >>> two = LabelSpace([Label("http://x/a", pref_labels={"en": "Apple"}),
        ...                   Label("http://x/b", pref_labels={"en": "APPLE"})])
        >>> two.unknown_hint("apple").partition("exactly), ")[2][:46]
        "<http://x/a> ('Apple'), <http://x/b> ('APPLE')"

        A category path's last step (a product taxonomy's labels are named by their
        paths, ``Pets > Accessories``) names the path, or every path ending so, where
        the labels are named by paths (at least half of them hold `` > ``: in another
        vocabulary ``Output`` is not a step of ``Input > Output``):

        >>> paths = LabelSpace([Label("1", pref_labels={"en": "Pets > Dog Beds"})])
        >>> paths.unknown_hint("Dog Beds")
        "the last step of the category path 'Pets > Dog Beds' of <1>; write the path or <1>"
        """
        key = key.strip()
        if key.startswith("<") and key.endswith(">"):
            # one URI, or URIs joined ('<http://x/1>;<http://x/2>', an Annif TSV line's
            # labels written as a CSV cell's): those are named
            return self._joined_hint(key)
        joined = self._joined_hint(key)
        if joined:
            return joined
        code = self.code_hint(key)
        if code:
            return code
        folded = " ".join(key.split()).casefold()
        cased: dict[int, str] = {}  # concept -> its first preferred name that matches
        for i, label in enumerate(self._labels):
            for name in label.pref_labels.values():
                if " ".join(name.split()).casefold() == folded:
                    cased.setdefault(i, name)
        if len(cased) == 1:
            (i, name), = cased.items()
            return (f"the preferred name {name!r} of <{self.uri_of(i)}> in "
                    "another case or spacing (names match exactly); write "
                    f"{name!r} or <{self.uri_of(i)}>")
        if cased:
            return (f"in another case or spacing, the preferred name of {len(cased):,} "
                    "concepts (names match exactly), " + self._candidates(cased.items())
                    + "; write the name or URI of the one meant")
        return self._leaf_hint(key) or self._uri_end_hint(key) or self.line_number_hint(key)

    def line_number_hint(self, key: str) -> str:
        """For an unknown whole number ``key`` below the number of labels, of a
        vocabulary without notations (a plain list): that it may be a line number, as
        GoEmotions' corpus names the lines of its ``labels.txt`` from 0, and the
        conversion to a vocabulary naming them by notation; ``""`` otherwise.

        >>> space = LabelSpace.from_uris(["admiration", "amusement"])
        >>> space.line_number_hint("1")[:60], space.line_number_hint("2")
        ("a whole number below the vocabulary's 2 labels: a line numbe", '')

        The conversion names the file the list was read from (:attr:`source`), quoted
        for the shell, read through ``zcat`` where gzipped (``labels.txt`` where the
        space was read from none):

        >>> for source in ("my labels.txt", "l.txt.gz"):
        ...     hint = LabelSpace(space, source=source).line_number_hint("1")
        ...     command = hint.partition("not counted), ")[2].partition(" (README")[0]
        ...     print(command[:18], "...", command.partition("n++}}}' ")[2] or "|")
        awk 'NR == 1 {sub( ... 'my labels.txt' > vocab.tsv
        zcat l.txt.gz | aw ... > vocab.tsv
        >>> program = hint.partition("| awk '")[2].partition("' > ")[0]
        >>> print(program.replace("; ", ";\\n").replace(")) {", "))\\n{"))
        NR == 1 {sub(/^\\357\\273\\277/, "")} {k = split($0, lines, "\\r");
        for (i = 1;
        i <= k;
        i++) {m = split(lines[i], f);
        if (m && (f[1] !~ /^#/ || m == 1 && f[1] ~ /^#([A-Za-z0-9_]|[^\\001-\\177])/))
        {sub(/^</, "", f[1]);
        sub(/>$/, "", f[1]);
        print "<urn:x:" f[1] ">\\t" f[1] "\\t" n++}}}

        The command numbers the labels as the list reader reads them, from 0: it drops a
        UTF-8 byte-order mark, splits lines at CR as well as LF (a Windows file's CR LF: the
        TSV reader refuses a CR inside a line; an old Mac file's lone CR, one line to awk),
        skips the lines the reader skips (blank, and comments as
        :func:`~tagsmith.data.vocab._list_comment` tells them) and drops a key's angle
        brackets (:data:`LIST_TO_TSV_AWK`). It numbered the file's lines (``NR-1``), a list with
        a ``# comment`` first shifting every label by one.

        A space read from another kind of file (a TSV, ``vocab.tsv``) is no list the
        line converts (nor a file to write over): the hint names ``labels.txt``.

        awk knows no Unicode letters nor spaces: where the list holds a line the reader
        skips and awk reads as a key (``#═══``, ``#`` and a no-break space), the hint
        names it, to delete first (:meth:`_awk_misreading`).
        """
        key = key.strip()
        n = len(self._labels)
        if not (key.isascii() and key.isdigit()) or len(key) > len(str(n)) \
                or int(key) >= n or any(label.notation for label in self._labels):
            return ""
        from tagsmith._shell import shell_path

        awk = f"awk '{LIST_TO_TSV_AWK}'"
        # the file read where it is a plain list (.txt): the awk line reads each line
        # whole as a key, so a TSV's line became '<urn:x:joy<TAB>Joy>', and one named
        # vocab.tsv was emptied by its own '> vocab.tsv' before awk read it
        source = self.source if self.source and self.source.lower().endswith(
            (".txt", ".txt.gz")) else "labels.txt"
        command = (f"zcat {shell_path(source)} | {awk}" if source.lower().endswith(".gz")
                   else f"{awk} {shell_path(source)}")
        return (f"{LINE_NUMBER_HINT} {n:,} label{'' if n == 1 else 's'}: a line number "
                "from 0, as GoEmotions' corpus names the lines of its labels.txt? A plain "
                "list's line is a key, never its number: convert the list to a TSV "
                "naming each label by its number as notation (blank and comment lines "
                f"not counted), {command} > vocab.tsv "
                "(README: GoEmotions)"
                + (self._awk_misreading(source) if source == self.source else ""))

    def _awk_misreading(self, source: str) -> str:
        """For :meth:`line_number_hint`, where its command, run on the list ``source``
        (read again), numbers its labels otherwise than the list reader numbered this
        space's: which line awk misreads and what to do; ``""`` where it reads them all
        as the reader did, or ``source`` cannot be read (now). awk knows no Unicode
        letters nor spaces (:func:`awk_list_labels`): the command cannot tell ``#═══``
        (a comment) from ``#été`` (a key), and numbered every label after it one off,
        with no word of it."""
        note = self._awk_note
        if note is not None:
            return note
        from tagsmith.data.readers import open_binary  # readers imports this module
        from tagsmith.exceptions import DataError

        note = ""
        try:
            with open_binary(source, VocabularyError) as handle:
                data = handle.read()
        except (OSError, EOFError, zlib.error, DataError):
            data = None
        keys = [label.uri for label in self._labels]
        extra: list[tuple[int, bytes]] = []  # lines the reader skipped, awk printed
        spaced: list[tuple[int, bytes]] = []  # keys awk printed with Unicode spaces
        read = 0  # the reader's labels matched
        for number, line, key in awk_list_labels(data) if data is not None else ():
            if read < len(keys) and key == keys[read]:
                read += 1
            elif read < len(keys) and key.strip() == keys[read]:
                spaced.append((number, line))
                read += 1
            else:
                extra.append((number, line))
        from tagsmith.data.vocab import _list_comment

        # a line blank or a comment to the reader (awk knows no Unicode letters nor
        # spaces but space and TAB), or one it read and skipped under on_error="skip"
        # (malformed, or a key repeated): each said for what it is
        blank: list[tuple[int, bytes]] = []
        skipped: list[tuple[int, bytes]] = []
        for number, line in extra:  # one pass: a membership test a line was quadratic
            text = line.decode("utf-8", "replace").strip("\r")
            (blank if not text.strip() or _list_comment(text) else skipped).append(
                (number, line))
        said = []
        if blank:
            said.append(f"reads {_lines_shown(blank)} as "
                        + ("labels, which the list reader skips (comments or blank lines "
                           "to it; awk knows no Unicode letters nor spaces): delete them "
                           "first, or every label after each"
                           if len(blank) > 1 else
                           "a label, which the list reader skips (a comment or a blank "
                           "line to it; awk knows no Unicode letters nor spaces): delete "
                           "it first, or every label after it")
                        + " is numbered one off")
        if skipped:
            said.append(f"reads {_lines_shown(skipped)} as "
                        + ("labels, which the list reader skipped as malformed or "
                           "duplicate (--on-error skip): mend or delete them first, or "
                           "every label after each"
                           if len(skipped) > 1 else
                           "a label, which the list reader skipped as malformed or "
                           "duplicate (--on-error skip): mend or delete it first, or "
                           "every label after it")
                        + " is numbered one off")
        if spaced:
            said.append(f"keeps the spaces awk does not split at (any but space and TAB) "
                        f"around the keys of {_lines_shown(spaced)}"
                        ", which the list reader drops: delete them first")
        if data is not None and read < len(keys):
            said.append(f"reads {read:,} of the {len(keys):,} labels the list reader "
                        "read: check the numbers it writes")
        note = ("; but this command numbers the labels otherwise than the list reader: it "
                + "; and it ".join(said)) if said else ""
        self._awk_note = note
        return note

    def _leaf_hint(self, key: str) -> str:
        """:meth:`unknown_hint` for a category path's last step ``key``; ``""`` where it
        is none (or the labels are not named by paths)."""
        # a product taxonomy's leaf ('Accessories'), its labels named by their paths
        step = " > " + " ".join(key.split())
        leaves = {i: name for i, label in enumerate(self._labels)
                  for name in label.pref_labels.values() if name.endswith(step)}
        if leaves and not self._named_by_paths():
            # a vocabulary of plain names, one of them 'Input > Output': 'Output' was
            # called "the last step of the category path 'Input > Output'"
            return ""
        if len(leaves) == 1:
            (i, name), = leaves.items()
            return (f"the last step of the category path {name!r} of <{self.uri_of(i)}>; "
                    f"write the path or <{self.uri_of(i)}>")
        if leaves:
            return (f"the last step of {len(leaves):,} category paths, "
                    + self._candidates(leaves.items())
                    + "; write the path or URI of the one meant")
        return ""

    def _uri_end_hint(self, key: str) -> str:
        """:meth:`unknown_hint` for the last segment of concepts' URIs, after their last
        ``/`` or ``#``: a EUROVOC id, ``1622`` of ``http://eurovoc.europa.eu/1622``, as
        EU-law corpora give concepts (MultiEURLEX), was an unknown label said with no
        hint; ``""`` for none.

        >>> space = LabelSpace([Label("http://eurovoc.europa.eu/1622",
        ...                           pref_labels={"en": "data protection"})])
        >>> space.unknown_hint("1622")
        "the end of the URI <http://eurovoc.europa.eu/1622> ('data protection'); write <http://eurovoc.europa.eu/1622>"
        >>> space.unknown_hint("eurovoc.europa.eu/1622"), space.unknown_hint("162")
        ('', '')
        """
        if not key or any(char in key for char in "/#") or any(
                char.isspace() for char in key):
            return ""
        by_end = self._uri_ends
        if by_end is None:
            # indexed once, as names and notations are: a corpus read skipping unknown
            # labels asks for up to 20 keys' hints, each splitting every URI again
            by_end = {}
            for i, label in enumerate(self._labels):
                end = re.split("[/#]", label.uri)[-1]
                if end != label.uri:
                    by_end.setdefault(end, []).append(i)
            self._uri_ends = by_end
        ends = {i: self.name_of(i) for i in by_end.get(key, ())}
        if len(ends) == 1:
            (i, name), = ends.items()
            return (f"the end of the URI <{self.uri_of(i)}> ({name!r}); write "
                    f"<{self.uri_of(i)}>")
        if ends:
            return (f"the end of {len(ends):,} concepts' URIs, " + self._candidates(ends.items())
                    + "; write the URI of the one meant")
        return ""

    def _named_by_paths(self) -> bool:
        """Whether half the labels or more are named by category paths ('A > B'), found
        once, as the name index is (:meth:`lookup`): a corpus read skipping unknown
        labels asks it for each of up to 20 keys' hints, each time scanning every name
        (YSO's 13,877 labels: 12% more CPU reading 100,000 lines)."""
        named = self._paths
        if named is None:
            named = self._paths = 2 * sum(
                any(" > " in name for name in label.pref_labels.values())
                for label in self._labels) >= len(self._labels)
        return named

    def _joined_hint(self, key: str) -> str:
        """:meth:`unknown_hint` for labels joined by ``;``, ``|`` or ``,`` into one key
        (a TSV line's ``E11.9;I10``, whose labels are separated by spaces; a JSONL
        list's item): each part a label; ``""`` otherwise.

        >>> space = LabelSpace.from_uris(["E11.9", "I10"])
        >>> space.unknown_hint("E11.9;I10")[:56]
        "the labels <E11.9>, <I10> joined by ';'; write each as a"
        """
        for separator in ";|,":
            parts = [part.strip() for part in key.split(separator) if part.strip()]
            if len(parts) < 2:
                continue
            found = []
            for part in parts:
                try:
                    label_id = self.lookup(part)
                except AmbiguousLabelError:
                    label_id = None
                if label_id is None:
                    break
                found.append(label_id)
            else:
                return (f"the labels {', '.join(f'<{self.uri_of(i)}>' for i in found)} "
                        f"joined by {separator!r}; write each as a label of its own (a "
                        "TSV line's separated by spaces)")
        return ""

    def code_hint(self, key: str) -> str:
        """:meth:`unknown_hint` for a code (ICD-10 ``E11.9``, NAICS ``0111``, IPC
        ``H04L 9/32``: a URI or notation holding a digit) written another way: in
        another case or without its punctuation (``e11.9``, ``E119``), without its
        leading zeros (``111``: a spreadsheet's number cell drops them), or followed by
        text (``E11.9 Type 2 diabetes``, a coder's code and title); ``""`` for none.

        >>> space = LabelSpace([Label("E11.9", {"en": "Type 2 diabetes"}),
        ...                     Label("0111", {"en": "Wheat"})])
        >>> space.unknown_hint("e119")[:60], space.unknown_hint("e119")[-13:]
        ('the code <E11.9> written in another case or without its punc', '; write E11.9')
        >>> space.unknown_hint("111")[:47]
        'the code <0111> without its leading zero (a spr'
        >>> space.unknown_hint("E11.9 Type 2 diabetes")
        "the code <E11.9> followed by its name ('Type 2 diabetes'); write E11.9 alone"
        """
        if not any(char.isdigit() for char in key):
            return ""
        head, _, rest = key.partition(" ")
        rest = rest.strip().lstrip("-:\u2013\u2014").strip()
        if rest and head:
            try:
                found = self.lookup(head, by_name=False)
                if found is None:
                    found = self._name_index_of_notation(head)
            except AmbiguousLabelError:
                found = None
            if found is not None:
                label = self._labels[found]
                code = label.notation if head == label.notation else label.uri
                named = any(" ".join(name.split()).casefold()
                            == " ".join(rest.split()).casefold()
                            for name in label.pref_labels.values())
                return (f"the code <{label.uri}> followed by "
                        + (f"its name ({rest!r})" if named else f"text ({rest!r})")
                        + f"; write {code} alone")
        folded = code_key(key)
        if not folded:
            return ""
        breaks = code_breaks(key)
        found_ids: dict[int, str] = {}
        zeros: dict[int, str] = {}
        extra: dict[int, str] = {}  # the key has the zeros, the vocabulary lost them
        for i, label in enumerate(self._labels):
            for written in (label.uri, label.notation):
                if not written or written == key or not any(c.isdigit() for c in written):
                    continue
                their = code_key(written)
                # punctuation between two digits the code does not separate: '1,2' is
                # the labels 1 and 2 joined, '11-21' two NAICS codes, no 12 or 1121
                if their == folded and breaks <= code_breaks(written):
                    found_ids.setdefault(i, written)
                elif (their.isdigit() and folded.isdigit() and their != folded
                      and not breaks and their.lstrip("0") == folded.lstrip("0")):
                    # zeros alone differ ('1.2' of a vocabulary's 12 was "with a
                    # leading zero the vocabulary's code lacks")
                    (zeros if len(their) > len(folded) else extra).setdefault(i, written)
        for matches, how in ((found_ids, "written in another case or without its "
                                         "punctuation (codes match exactly)"),
                             (zeros, "without its leading zero (a spreadsheet saving the "
                                     "codes as numbers drops it: format the column as "
                                     "text)"),
                             (extra, "with a leading zero the vocabulary's code lacks (a "
                                     "spreadsheet saving the vocabulary's codes as numbers "
                                     "drops it: format its column as text)")):
            if len(matches) == 1:
                (i, written), = matches.items()
                uri = self.uri_of(i)
                if written == uri:
                    return f"the code <{uri}> {how}; write {uri}"
                return f"the code {written!r} of <{uri}> {how}; write <{uri}>"
            if matches:
                return (f"{how.partition(' (')[0]}, the code of {len(matches):,} concepts, "
                        + self._candidates((i, self.name_of(i)) for i in matches)
                        + "; write the URI of the one meant")
        return ""

    #: the most words :meth:`split_hint` joins (a code's title runs to a dozen)
    SPLIT_HINT_WORDS = 16

    def split_hint(self, keys: Sequence[str], key: str, *, csv_cell: bool = False) -> str:
        """For an unknown ``key`` among the ``keys`` of a labels cell read split at its
        spaces (a CSV cell of no ``|``, ``;`` or ``,``, a TSV line's labels): what the
        words around it are together, where they are a label (an IPC code ``H04L 9/32``
        read as ``H04L`` and ``9/32``) or a code followed by the start of its name
        (``E11.9 Type 2 diabetes``, each word of the title read as a label); ``""``
        for neither. With ``csv_cell`` (a CSV's labels cell) a label that is the whole
        cell is also told to end the cell with ``|``, which a CSV reads as one label.

        >>> space = LabelSpace([Label("E11.9", {"en": "Type 2 diabetes"}),
        ...                     Label("H04L9/32", {"en": "Authentication"},
        ...                           notation="H04L 9/32")])
        >>> space.split_hint(["H04L", "9/32"], "9/32")[:64]
        "part of 'H04L 9/32', the label <H04L9/32> ('Authentication'), re"
        >>> space.split_hint(["E11.9", "Type", "2"], "Type")[:56]
        "a word of the name of <E11.9> ('Type 2 diabetes') after "
        """
        keys = list(keys)
        if key not in keys or len(keys) < 2:
            return ""
        k = keys.index(key)
        most = self.SPLIT_HINT_WORDS
        for start in range(max(0, k - most + 1), k):
            try:
                found = self.lookup(keys[start], by_name=False)
            except AmbiguousLabelError:
                found = None
            if found is None:
                found = self._name_index_of_notation(keys[start])
            if found is None:
                continue
            words = [word.casefold() for word in keys[start + 1:k + 1]]
            for name in self._labels[found].pref_labels.values():
                if name.casefold().split()[:len(words)] == words:
                    return (f"a word of the name of <{self.uri_of(found)}> ({name!r}) "
                            "after its code, read as a label of its own as the cell is "
                            "split at its spaces; write the codes alone")
        # a leaf is looked for only where labels are named by paths: each look scans
        # the vocabulary, and split_hint joins up to 136 runs of words (a YSO corpus of
        # URIs read 4 times as slowly for its 20 unknown keys' hints)
        paths = self._named_by_paths()
        for start in range(max(0, k - most + 1), k + 1):
            for end in range(min(len(keys), start + most), max(k + 1, start + 2) - 1, -1):
                # a separator ending the cell ('H04L 9/32|', as one label is written
                # where a cell of labels joined by '|' is read) is no part of the label
                joined = " ".join(keys[start:end]).strip("|;,").strip()
                try:
                    found = self.lookup(joined)
                except AmbiguousLabelError:
                    found = None
                if found is None and paths and " " in joined:
                    # a category path's last step of several words ('Dog Beds')
                    leaf = self._leaf_hint(joined)
                    if leaf:
                        return (f"part of {joined!r}, read as {end - start} labels as the "
                                f"cell is split at its spaces, {leaf}")
                if found is not None:
                    # a support team's CSV of one intent a cell, 'Returns and
                    # exchanges', was told to write a URI; a '|' ending it is enough
                    whole = (f", or end the cell with '|' ({joined + '|'!r}, one label)"
                             if csv_cell and start == 0 and end == len(keys) else "")
                    return (f"part of {joined!r}, the label <{self.uri_of(found)}> "
                            f"({self.name_of(found)!r}), read as {end - start} labels as "
                            "the cell is split at its spaces; write "
                            f"<{self.uri_of(found)}> in its place{whole}")
        return ""

    def _name_index_of_notation(self, key: str) -> int | None:
        """The label whose notation is ``key`` exactly (one alone), else ``None``; the
        notations indexed once, as names are (:meth:`lookup`): :meth:`split_hint` asks
        for each of up to 15 keys before an unknown one, and scanned every label each
        time (reading a YSO corpus skipping unknown URIs, for 20 keys' hints)."""
        by_notation = self._notations
        if by_notation is None:
            by_notation = {}
            for i, label in enumerate(self._labels):
                if label.notation is not None:
                    by_notation.setdefault(label.notation, []).append(i)
            self._notations = by_notation
        found = by_notation.get(key, ())
        return found[0] if len(found) == 1 else None

    #: the candidates an :meth:`unknown_hint` names, at most (then "and N more")
    HINT_CANDIDATES = 5

    def _candidates(self, found) -> str:
        """``<uri> ('name')`` of each (id, name) of ``found``, the first
        :attr:`HINT_CANDIDATES` of them."""
        # "and 1,000 more" as every other list of names, not "and 1000 more"
        return and_more(list(found), self.HINT_CANDIDATES,
                        lambda item: f"<{self.uri_of(item[0])}> ({item[1]!r})", serial=False)

    def _build_name_index(self) -> tuple[dict[str, int], dict[str, list[int]],
                                         dict[str, list[int]]]:
        """(name, notation or alternative label -> id, ambiguous key -> the ids that
        share it, name or notation -> the other live ids holding it as an alternative
        label)."""
        index: dict[str, int] = {}
        by_name: dict[str, list[int]] = {}
        by_notation: dict[str, list[int]] = {}
        by_alt: dict[str, list[int]] = {}
        for i, label in enumerate(self._labels):
            for name in dict.fromkeys(label.pref_labels.values()):
                by_name.setdefault(name, []).append(i)
            if label.notation:
                by_notation.setdefault(label.notation, []).append(i)
            if label.alt_labels or label.hidden_labels:
                # a hiddenLabel (a misspelling, a variant) is read as an altLabel is
                for alt in dict.fromkeys(name for names in itertools.chain(
                        label.alt_labels.values(), label.hidden_labels.values())
                                         for name in names):
                    by_alt.setdefault(alt, []).append(i)
        ambiguous: dict[str, list[int]] = {}
        shadowed: dict[str, list[int]] = {}
        # preferred names win over notations when both collide, and both over
        # alternative labels; a notation or alternative label several concepts share is
        # resolved as a shared name is, never by file order
        for keys, rank in ((by_name, 0), (by_notation, 1), (by_alt, 2)):
            for key, ids in keys.items():
                if rank and (key in index or key in ambiguous):
                    if rank == 2:  # another concept's name or notation: read as that, warned
                        held = index.get(key)
                        # but for a retired concept's name its replacement keeps as an
                        # altLabel (a thesaurus's way: 865 of STW's 900 such keys), which
                        # names the retired concept as the deprecation warnings say
                        replacing = set(self.replacement_ids(held)) if held is not None \
                            else set()
                        others = [i for i in ids if i != held and i not in replacing
                                  and not self._labels[i].deprecated]
                        if held is not None and others:
                            shadowed[key] = others
                    continue
                live = [i for i in ids if not self._labels[i].deprecated]
                if len(ids) == 1 or len(live) == 1:
                    index[key] = ids[0] if len(ids) == 1 else live[0]
                else:
                    ambiguous[key] = live or ids
        return index, ambiguous, shadowed

    def name_of(self, label_id: int, lang: str = "en") -> str:
        """Preferred name in ``lang``, else in a variant of it (:func:`in_language`: tags
        compare ignoring case; ``en-GB`` falls back to ``en``, ``en`` to ``en-GB``), else
        in English (the default ``--lang``), else in the first language it has, else the
        URI.

        >>> space = LabelSpace([Label("u:a", {"de": "Apfel", "en-GB": "apple"})])
        >>> space.name_of(0, "en"), space.name_of(0, "DE"), space.name_of(0, "fi")
        ('apple', 'Apfel', 'apple')

        A EUROVOC-style concept named in Polish first, then English and French, is shown
        under ``--lang de`` by its English name, not by whichever the file gave first:

        >>> space = LabelSpace([Label("u:b", {"pl": "dumping cenowy", "en": "price dumping",
        ...                                   "fr": "dumping des prix"}),
        ...                     Label("u:c", {"pl": "so\u0142ectwo"})])
        >>> space.name_of(0, "de"), space.name_of(1, "de")
        ('price dumping', 'sołectwo')
        """
        return self.name_and_language(label_id, lang)[0]

    def name_and_language(self, label_id: int, lang: str = "en") -> tuple[str, str | None]:
        """:meth:`name_of`'s name and the language tag it is in, as the vocabulary spells
        it (say for an HTML ``lang`` attribute): the tag of a fallback name, not ``lang``;
        ``None`` when the name is the URI.

        >>> space = LabelSpace([Label("u:a", {"de": "Apfel", "en-GB": "apple"}), Label("u:b")])
        >>> space.name_and_language(0, "en"), space.name_and_language(0, "fi")
        (('apple', 'en-GB'), ('apple', 'en-GB'))
        >>> space.name_and_language(1, "en")
        ('u:b', None)
        """
        label = self._label(label_id)
        names = label.pref_labels
        tag = language_in(names, lang)
        if tag is None:  # English before another: a concept named in pl, en and fr was
            # shown under --lang de in Polish, the file's first, to a German team
            tag = language_in(names, "en")
        if tag is None:
            tag = next(iter(names), None)  # any language: the first name
        return (label.uri, None) if tag is None else (names[tag], tag)

    def names(self, lang: str = "en") -> list[str]:
        """Every label's :meth:`name_of` in ``lang``, in id order."""
        return [self.name_of(i, lang) for i in range(len(self))]

    @property
    def languages(self) -> list[str]:
        """The language tags of the labels' preferred names, sorted."""
        langs: set[str] = set()
        for label in self._labels:
            langs.update(label.pref_labels)
        return sorted(langs)

    @property
    def deprecated_mask(self) -> np.ndarray:
        """Boolean array, ``True`` for deprecated labels (shape ``(n_labels,)``)."""
        return np.fromiter((lab.deprecated for lab in self._labels), dtype=bool, count=len(self))

    def replacement_ids(self, label_id: int) -> list[int]:
        """Ids of the labels that replace a deprecated label (its ``replaced_by`` URIs in
        this space), a deprecated replacement followed on to its own where it is named
        (a -> b -> c with ``b`` deprecated gives ``c``; a -> b, e with ``b`` replaced by
        ``c`` gives ``c, e``), in ``replaced_by`` order without repeats; ``[]`` for a
        label that is not deprecated or names no replacement in the space. A replacement
        cycle (which the vocabulary readers refuse) ends where it closes.

        >>> space = LabelSpace([Label("u:a", deprecated=True, replaced_by=["u:b"]),
        ...                     Label("u:b", deprecated=True, replaced_by=["u:c", "u:x"]),
        ...                     Label("u:c")])
        >>> space.replacement_ids(0), space.replacement_ids(2)
        ([2], [])
        """
        if not self._label(label_id).deprecated:
            return []
        found: list[int] = []
        seen = {label_id}
        # depth first without recursion: a chain of 10,000 retired labels is no deeper
        todo = [iter(self._labels[label_id].replaced_by)]
        while todo:
            uri = next(todo[-1], None)
            if uri is None:
                todo.pop()
                continue
            target = self._by_uri.get(uri)
            if target is None or target in seen:
                continue
            seen.add(target)
            if self._labels[target].deprecated:
                todo.append(iter(self._labels[target].replaced_by))
            else:
                found.append(target)
        return found

    def replaced_as(self, label_ids: Iterable[int], *, most: int = 3, lang: str = "en") -> str:
        """For warnings of deprecated labels in use: ``<old> -> <new> ('name')`` for the
        first ``most`` of ``label_ids`` that have replacements (:meth:`replacement_ids`),
        ``; `` between them and how many more; ``""`` when none has one. Each name in the
        language ``lang`` (as :meth:`name_of` picks it).

        >>> space = LabelSpace([Label("u:a", deprecated=True, replaced_by=["u:b"]),
        ...                     Label("u:b", {"en": "bee"})])
        >>> space.replaced_as([0, 1])
        "<u:a> -> <u:b> ('bee')"
        """
        table = self.replacements()  # once: a walk per label was quadratic in a chain
        found = [(int(i), table[int(i)]) for i in label_ids if int(i) in table]

        def said(old_new: tuple[int, list[int]]) -> str:
            old, new = old_new
            return f"<{clip(self.uri_of(old), collapse=False)}> -> " + ", ".join(
                f"<{clip(self.uri_of(j), collapse=False)}> "
                f"({clip(self.name_of(j, lang), NAME_LIMIT, collapse=False)!r})" for j in new)

        return and_more(found, most, said, sep="; ")

    def replacements(self) -> dict[int, list[int]]:
        """:meth:`replacement_ids` of every deprecated label that has some.

        Linear in the links where the deprecated labels' replacements hold no cycle (a
        walk from every label of a chain of 10,000 took 22 s): each label's replacements
        are its named ones, a deprecated one's own in its place, found once."""
        if replacement_cycle(self._labels) is not None:  # a walk from each, as it closes
            out = {}
            for i, label in enumerate(self._labels):
                if label.deprecated and label.replaced_by:
                    ids = self.replacement_ids(i)
                    if ids:
                        out[i] = ids
            return out
        named: dict[int, list[int]] = {}  # deprecated label -> the ids it names, once each
        for i, label in enumerate(self._labels):
            if label.deprecated and label.replaced_by:
                named[i] = list(dict.fromkeys(
                    t for uri in label.replaced_by if (t := self._by_uri.get(uri)) is not None))
        resolved: dict[int, list[int]] = {}
        for start in named:
            todo = [start]  # without recursion: the deprecated ones named, first resolved
            while todo:
                node = todo[-1]
                if node in resolved:
                    todo.pop()
                    continue
                ids = named.get(node, [])
                pending = [t for t in ids if self._labels[t].deprecated and t not in resolved]
                if pending:
                    todo.extend(reversed(pending))
                    continue
                todo.pop()
                resolved[node] = list(dict.fromkeys(
                    j for t in ids for j in (resolved[t] if self._labels[t].deprecated
                                             else (t,))))
        return {i: resolved[i] for i in named if resolved[i]}

    # -- hierarchy ------------------------------------------------------------------------
    def broader_ids(self, label_id: int) -> list[int]:
        """Ids of the label's broader labels that are in this space."""
        return [self._by_uri[u] for u in self._labels[label_id].broader if u in self._by_uri]

    def narrower_ids(self, label_id: int) -> list[int]:
        """Ids of the labels in this space whose ``broader`` names ``label_id``'s label."""
        return self._narrower_index().get(label_id, [])

    def _narrower_index(self) -> dict[int, list[int]]:
        cached = getattr(self, "_narrower", None)
        if cached is None:
            cached = {}
            for child in range(len(self)):
                for parent in self.broader_ids(child):
                    cached.setdefault(parent, []).append(child)
            self._narrower = cached
        return cached

    def broader_of(self, ids: Iterable[int]) -> np.ndarray:
        """Boolean mask over the labels: those broader, at any depth, than some label
        of ``ids`` (the broader categories of a corpus coded at those labels); all False
        without a hierarchy."""
        mask = np.zeros(len(self), dtype=bool)
        todo = [int(i) for i in ids]
        while todo:
            for parent in self.broader_ids(todo.pop()):
                if not mask[parent]:
                    mask[parent] = True
                    todo.append(parent)
        return mask

    def broader_cycle(self) -> list[str] | None:
        """:func:`broader_cycle` of the labels, searched once: while no label's
        ``broader`` list has changed since it was found acyclic (labels are mutable),
        None without a search; a change is noticed and searched again."""
        snapshot = tuple(tuple(label.broader) for label in self._labels)
        if snapshot == self._acyclic:
            return None
        cycle = broader_cycle(self._labels)
        self._acyclic = None if cycle else snapshot
        return cycle

    @property
    def has_hierarchy(self) -> bool:
        """Whether some label has a broader label inside this space (links to URIs
        outside it do not count)."""
        return bool(self._narrower_index())

    def roots(self) -> list[int]:
        """Ids of labels with no broader label inside this space."""
        return [i for i in range(len(self)) if not self.broader_ids(i)]

    # -- identity ---------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """SHA-256 over the id -> URI mapping: equal fingerprints mean equal ids.

        Names, descriptions, deprecation and replacements are not part of it, since a
        model stays valid when they change; ids are.
        """
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for label in self._labels:
                digest.update(label.uri.encode("utf-8"))
                digest.update(b"\n")
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def is_compatible_prefix_of(self, other: LabelSpace) -> bool:
        """True when ``other`` keeps every id of this space on the same URI."""
        return len(other) >= len(self) and all(
            a.uri == b.uri for a, b in zip(self._labels, other._labels, strict=False)
        )

    # -- updates ----------------------------------------------------------------------------
    def updated(self, new: LabelSpace) -> LabelSpace:
        """Merge a reloaded vocabulary into this space keeping ids stable.

        URIs in both keep their id (and take the new names and relations); URIs only
        in ``new`` are appended in ``new``'s order; URIs only in ``self`` stay as
        deprecated slots.

        >>> old = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
        >>> merged = old.updated(LabelSpace.from_uris(["u:d", "u:c", "u:a"]))
        >>> merged.uris, [lab.deprecated for lab in merged]
        (['u:a', 'u:b', 'u:c', 'u:d'], [False, True, False, False])
        """
        new_by_uri = {label.uri: label for label in new}
        merged: list[Label] = []
        for label in self._labels:
            if label.uri in new_by_uri:
                merged.append(new_by_uri[label.uri])
            else:
                kept = Label.from_dict(label.to_dict())
                kept.deprecated = True
                merged.append(kept)
        merged.extend(label for label in new if label.uri not in self._by_uri)
        # the file read last, for the line-number hint's command (it named labels.txt)
        return LabelSpace(merged, name=new.name or self.name,
                          source=new.source or self.source)

    def subset_mask(self, uris: Iterable[str]) -> np.ndarray:
        """Boolean mask over ids for the given URIs; unknown URIs raise a clear error."""
        mask = np.zeros(len(self), dtype=bool)
        for uri in uris:
            label_id = self.lookup(uri)
            if label_id is None:
                raise InvalidParameterError("uris", "labels of this label space", uri)
            mask[label_id] = True
        return mask

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The space as plain data (``name``, ``labels``), as :meth:`from_dict` reads it."""
        return {"name": self.name, "labels": [label.to_dict() for label in self._labels]}

    @classmethod
    def from_dict(cls, data: Mapping) -> LabelSpace:
        """The space :meth:`to_dict` described; :class:`VocabularyError` if ``data`` is
        not one."""
        try:
            labels = [Label.from_dict(item) for item in data["labels"]]
        except (KeyError, TypeError) as exc:
            raise VocabularyError(f"not a serialised label space ({exc})") from exc
        return cls(labels, name=data.get("name"))

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LabelSpace:
        """The space :meth:`to_json` wrote."""
        return cls.from_dict(json.loads(text))


def check_label_table(Y: object, label_space: LabelSpace, name: str = "Y", *,
                        texts: object = None) -> None:
    """Refuse a table of labels (a pandas DataFrame of 0/1 columns) whose column names
    name labels of ``label_space`` at other positions, or, given the ``texts`` it labels,
    whose rows are indexed otherwise than they are, naming ``name``.

    A label matrix is read by position, column ``j`` as label ``j``: a one-hot
    DataFrame whose columns were in another order (sorted by name, or a subset put
    back in another order) trained, evaluated or audited each label on another label's
    documents without a word. A column named by a label's URI (``<uri>`` too), name or
    notation must be at that label's position; columns that are not all str (a plain
    DataFrame's 0, 1, ...) or that name no label are taken by position, as before, and
    a table of another width is left to the shape check. Rows too are read by position:
    where ``Y`` and ``texts`` both carry an index (a DataFrame and a Series) of the same
    length, it must be the same, in the same order (a table sorted or sampled apart from
    its texts gave each document another's labels), unless either is 0, 1, ... (a table
    made in the other's order, with no index of its own). Label names or URIs per
    document instead of a matrix (a list or Series of lists, of ``;``-joined strings) are
    refused, saying how to binarize them (scipy read them as no matrix, naming no label
    space), and so are label ids per document (a 1-D array of one id each, scikit-learn's
    ``y``, or lists of ids of unequal lengths) and a 1-D run of non-integers (one
    document's probabilities, which are no ids). Any other ``Y`` passes.

    >>> space = LabelSpace.from_uris(["u:a", "u:b"], names={"u:a": "apple", "u:b": "pear"})
    >>> class Table:
    ...     columns = ["pear", "apple"]
    >>> try:
    ...     check_label_table(Table(), space)
    ... except InvalidParameterError as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    parameter 'Y' must be a table whose columns are the labels in the label space's
    order (column j is label j, label_space.uris[j]; reorder the columns, or pass
    Y.to_numpy() to take them by position), got "column 0 'pear', which is label 1
    (u:b)"
    """
    if _holds_label_keys(Y):
        raise InvalidParameterError(
            name, "a documents x labels matrix of 0/1 (column j is label j of "
            "label_space.uris), not the labels of each document: binarize them, e.g. "
            "MultiLabelBinarizer(classes=label_space.uris).fit_transform(labels) "
            "(sklearn.preprocessing), each document's labels a list of URIs",
            f"a {type(Y).__name__} of {_shown(_first_keys(Y, 2))}, ...")
    if _is_one_row(Y, len(label_space)):
        raise InvalidParameterError(
            name, "a documents x labels matrix of 0/1, one document's row a matrix of one "
            "row ([row], or row.reshape(1, -1))", f"a 1-D {_described(Y)} of "
            f"{len(label_space):,} 0/1 values, one per label: "
            f"{_shown(_plain(_first_keys(Y, 8)))}")
    if _holds_scores(Y):
        raise InvalidParameterError(
            name, "a 2-D documents x labels matrix of 0/1 (column j is label j of "
            "label_space.uris); a 1-D run of non-integer numbers is no label ids: scores "
            "or probabilities are thresholded first, e.g. (P >= 0.5).astype(int), one row "
            "per document ([row] for one document)",
            f"a 1-D {_described(Y)} of {_shown_scores(Y)}")
    if _holds_label_ids(Y):
        raise InvalidParameterError(
            name, "a documents x labels matrix of 0/1 (column j is label j of "
            "label_space.uris), not label ids per document: binarize them, e.g. "
            "MultiLabelBinarizer(classes=range(len(label_space))).fit_transform(ids) "
            "(sklearn.preprocessing), each document's ids a list ([[i] for i in y] for "
            "one id each)", f"a {_described(Y)} of {_shown(_plain(_first_keys(Y, 2)))}, ...")
    columns = getattr(Y, "columns", None)
    if columns is None or isinstance(Y, np.ndarray):
        return
    if texts is not None:
        _check_label_rows(Y, texts, name)
    try:
        keys = list(columns)
    except TypeError:
        return
    if len(keys) != len(label_space) or not all(isinstance(key, str) for key in keys):
        return
    for position, key in enumerate(keys):
        try:
            found = label_space.lookup(key)
        except AmbiguousLabelError:  # a name several labels share says nothing of order
            continue
        if found is not None and found != position:
            uri = label_space.uri_of(found)
            shown = "" if key.strip().strip("<>").strip() == uri else f" ({uri})"
            raise InvalidParameterError(
                name, "a table whose columns are the labels in the label space's order "
                "(column j is label j, label_space.uris[j]; reorder the columns, or pass "
                f"{name}.to_numpy() to take them by position)",
                f"column {position} {key!r}, which is label {found}{shown}")


def _index_of(table: object) -> np.ndarray | None:
    """The row index of a pandas object (``Series.index``, ``DataFrame.index``) as a 1-D
    object array, or ``None`` (a list's ``index`` is a method)."""
    index = getattr(table, "index", None)
    if index is None or callable(index) or isinstance(table, np.ndarray):
        return None
    try:
        keys = np.asarray(index, dtype=object)
    except (TypeError, ValueError):
        return None
    return keys if keys.ndim == 1 else None


def _check_label_rows(Y: object, texts: object, name: str) -> None:
    """Refuse labels ``Y`` whose row index differs from that of ``texts``, where both
    have one of the same length (see :func:`check_label_table`)."""
    label_keys, text_keys = _index_of(Y), _index_of(texts)
    if label_keys is None or text_keys is None or label_keys.shape != text_keys.shape:
        return
    if any(_counts_up(keys) for keys in (label_keys, text_keys)):
        # 0, 1, ...: a table made from the other's rows in order (a DataFrame of
        # MultiLabelBinarizer's output for a filtered Series) has no index of its own
        return
    try:
        unequal = np.flatnonzero(np.asarray(label_keys != text_keys, dtype=bool))
    except (TypeError, ValueError):  # pandas' NA, which has no truth value
        unequal = np.arange(len(label_keys))
    # a missing key (NaN, NaT, NA) is unequal to itself: the same on both sides is no
    # difference (df.set_index("id") with an id missing was refused, or a TypeError)
    differ = (int(row) for row in unequal
              if not _same_key(label_keys[row], text_keys[row]))
    row = next(differ, None)
    if row is not None:
        raise InvalidParameterError(
            name, "rows in the order of the texts (both are indexed, and rows are matched "
            f"by position, not by index: align them, e.g. {name}.loc[texts.index], or pass "
            f"{name}.to_numpy())",
            f"row {row} indexed {label_keys[row]!r} where row {row} of the texts is indexed "
            f"{text_keys[row]!r}")


def _counts_up(keys: np.ndarray) -> bool:
    """Whether an index is 0, 1, ... (one holding pandas' NA, which has no truth value,
    is not)."""
    try:
        return bool(np.array_equal(keys, np.arange(len(keys))))
    except (TypeError, ValueError):
        return False


def _same_key(a: object, b: object) -> bool:
    """Whether index keys ``a`` and ``b`` name the same row: equal, or both missing (a
    NaN or NaT, unequal to itself; pandas' NA, which has no truth value, is itself)."""
    if a is b:
        return True
    try:
        return bool(a == b) or (bool(a != a) and bool(b != b))
    except (TypeError, ValueError):
        return False


def _first_keys(Y: object, most: int = 100) -> list:
    """Up to ``most`` rows of a 1-D ``Y`` (a list, a tuple, a 1-D array or Series), or
    ``[]`` for anything else (a sparse or 2-D matrix, a table)."""
    if isinstance(Y, list | tuple):
        return list(Y[:most])
    if getattr(Y, "ndim", None) == 1 and not hasattr(Y, "columns"):
        rows: list = []
        for row in cast(Iterable, Y):
            rows.append(row)
            if len(rows) == most:
                break
        return rows
    return []


def _holds_label_keys(Y: object) -> bool:
    """Whether ``Y``'s first rows are label keys (a str such as ``"joy;love"``, or a
    list, tuple or set holding a str) rather than rows of numbers."""
    for row in _first_keys(Y):
        if isinstance(row, str):
            return True
        if isinstance(row, list | tuple | set | frozenset) and any(
                isinstance(key, str) for key in row):
            return True
    return False


def _holds_scores(Y: object) -> bool:
    """Whether ``Y`` is a 1-D run of numbers not all whole (one document's probabilities,
    say): it was refused as "label ids per document", advising to binarize them as ids.

    >>> _holds_scores([0.1, 0.9]), _holds_scores([0, 3]), _holds_scores([[0.5]])
    (True, False, False)
    """
    rows = _first_keys(Y)
    return bool(rows) and all(isinstance(row, numbers.Real) for row in rows) and any(
        not float(row).is_integer() for row in rows)


def _shown_scores(Y: object) -> str:
    """The first 4 of 1-D ``Y``'s numbers, to 4 places (float32's 0.7 is
    0.699999988079071), and "..." where it holds more.

    >>> _shown_scores(np.array([0.1, 0.7], dtype=np.float32))
    '[0.1, 0.7]'
    >>> _shown_scores([0.1, 0.2, 0.3, 0.4, 0.5])
    '[0.1, 0.2, 0.3, 0.4, ...]'
    """
    rows = [round(float(row), 4) for row in _first_keys(Y, 5)]
    return "[" + ", ".join(map(str, rows[:4])) + (", ...]" if len(rows) > 4 else "]")


def _holds_label_ids(Y: object) -> bool:
    """Whether ``Y`` holds label ids per document rather than rows of a matrix: a 1-D
    run of numbers (scikit-learn's ``y`` of one class per document: read as one row, it
    was refused as a matrix of 1 row or as a "1-D array", saying nothing of label ids),
    or rows that are lists, tuples or sets of numbers of unequal lengths (a ragged list
    was refused as "got 'list'"), or any set. Equal-length rows of numbers are a matrix."""
    rows = _first_keys(Y)
    if not rows:
        return False
    if all(isinstance(row, numbers.Number) for row in rows):
        return True
    if not all(isinstance(row, list | tuple | set | frozenset | np.ndarray) for row in rows):
        return False
    if any(isinstance(row, set | frozenset) for row in rows):
        return True
    if not isinstance(Y, list | tuple):  # a Series or object array of lists: no matrix
        return True
    return len({len(row) for row in cast(Iterable, Y)}) > 1


def _is_one_row(Y: object, n_labels: int) -> bool:
    """Whether ``Y`` is one document's row given 1-D: as many 0/1 numbers as there are
    labels (``Y[0]`` of a matrix). It was refused as label ids per document, advising
    ``[[i] for i in y]``, which read its 0/1 values as the ids of labels 0 and 1."""
    if getattr(Y, "ndim", 1) != 1 or hasattr(Y, "columns") or not n_labels:
        return False
    rows = _first_keys(Y, n_labels + 1)
    return len(rows) == n_labels and all(
        isinstance(value, numbers.Number | np.bool_) and value in (0, 1) for value in rows)


def _plain(rows: list) -> list:
    """``rows`` with NumPy scalars and arrays as Python numbers and lists, as shown."""
    return [row.tolist() if isinstance(row, np.generic | np.ndarray) else row for row in rows]


def _described(Y: object) -> str:
    """``Y``'s type, with ``dtype`` for an array (``ndarray``, ``Series``)."""
    dtype = getattr(Y, "dtype", None)
    return f"{type(Y).__name__} ({dtype})" if dtype is not None else type(Y).__name__


def check_label_space(name: str, label_space: object) -> LabelSpace:
    """``label_space`` once it is a :class:`LabelSpace`: a vocabulary's path, None or a
    list of URIs failed deep inside (``'str' object has no attribute 'deprecated_mask'``),
    or was taken by ``len()`` for a label space of as many labels as the path has
    characters.

    >>> check_label_space("label_space", "vocab.tsv")
    Traceback (most recent call last):
    ...
    tagsmith.exceptions.InvalidParameterError: parameter 'label_space' must be a LabelSpace \
(load_vocabulary(path), LabelSpace.from_uris), got 'str'
    """
    if not isinstance(label_space, LabelSpace):
        raise InvalidParameterError(name, "a LabelSpace (load_vocabulary(path), "
                                          "LabelSpace.from_uris)", type(label_space).__name__)
    return label_space
