"""The one plural helper of messages and log lines ("1 document", "2 documents"), the
one clipping of long texts and names quoted in them, and the one list of names cut at a
few with "and N more"."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

_T_co = TypeVar("_T_co", covariant=True)


def plural_s(n: int) -> str:
    """The plural ending for a count of ``n`` ("1 label", "2 labels", "0 labels").

    >>> f"3 label{plural_s(3)}, 1 document{plural_s(1)}"
    '3 labels, 1 document'
    """
    return "" if n == 1 else "s"


def plural(n: int, one: str, many: str) -> str:
    """``one`` for a count of exactly 1, else ``many`` (irregular words and verbs).

    >>> f"1 {plural(1, 'entry', 'entries')} {plural(1, 'was', 'were')} read"
    '1 entry was read'
    >>> [f"{n} {plural(n, 'entry', 'entries')} {plural(n, 'is', 'are')}" for n in (0, 2)]
    ['0 entries are', '2 entries are']
    """
    return one if n == 1 else many


def none_of(n: int, noun: str = "document") -> str:
    """"no document of the 1" or "none of the 5 documents", for "answered ... sent"
    ("none of the 1 document" reads oddly).

    >>> none_of(1), none_of(5), none_of(0)
    ('no document of the 1', 'none of the 5 documents', 'none of the 0 documents')
    """
    return plural(n, f"no {noun} of the {n}", f"none of the {n} {noun}s")


#: the characters of a label name quoted in a warning at most (:func:`clip`)
NAME_LIMIT = 80


def clip(text: str, limit: int = 240, *, collapse: bool = True) -> str:
    """``text`` cut to at most ``limit`` characters with an ellipsis, its runs of
    whitespace made one space unless not ``collapse`` (a label name, quoted as it is
    spelt): a document or label name quoted in a message or report (warnings printed
    five 2,000-character label names whole).

    >>> clip("a  long\\nname", 12), clip("x" * 12, 10), clip("a  b", collapse=False)
    ('a long name', 'xxxxxxxxx…', 'a  b')
    """
    if collapse:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Cut(Protocol[_T_co]):
    """What :func:`and_more` lists: a list, a tuple or a NumPy array (its length and its
    first items by a slice)."""

    def __len__(self) -> int: ...

    def __getitem__(self, cut: slice, /) -> Iterable[_T_co]: ...


def and_more(items: _Cut[_T_co], most: int, say: Callable[[_T_co], str] = str, *,
           sep: str = ", ", serial: bool = True) -> str:
    """The first ``most`` of ``items``, each as ``say`` writes it, joined by ``sep``, and
    how many more there are: "and N more" after ``sep`` (", and 3 more", "; and 3 more")
    where ``serial``, else after a space (" and 3 more"). A message naming many labels
    names a few and counts the rest.

    >>> and_more(["a", "b", "c"], 2), and_more(["a", "b"], 2, repr), and_more([], 2)
    ('a, b, and 1 more', "'a', 'b'", '')
    >>> and_more(range(1, 1006), 2, sep="; "), and_more("abc", 1, serial=False)
    ('1; 2; and 1,003 more', 'a and 2 more')
    """
    shown = sep.join(say(item) for item in items[:most])
    if len(items) <= most:
        return shown
    return shown + (sep if serial else " ") + f"and {len(items) - most:,} more"
