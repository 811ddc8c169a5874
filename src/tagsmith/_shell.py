"""A path as a word of the shell commands that messages advise running."""

from __future__ import annotations

import shlex
import unicodedata
from pathlib import PurePath


def shell_word(text: str) -> str:
    """``text`` as one word of a shell command a message shows, quoted only where the
    shell needs it: a name of letters in any script (``ämne``, its ``ä`` composed or
    decomposed, ``件名``), digits and ``@%+=:,./-_`` is shown bare, where
    :func:`shlex.quote` quoted every non-ASCII name.

    >>> [shell_word(t) for t in ("ämne,body", "Ticket Body", "", "a*")]
    ['ämne,body', "'Ticket Body'", "''", "'a*'"]
    >>> shell_word("A\u0308mne") == "A\u0308mne"
    True
    """
    if text and all(ch.isalnum() or ch in _BARE or unicodedata.category(ch).startswith("M")
                    for ch in text):
        return text
    return shlex.quote(text)


#: the characters besides letters and digits a shell word holds unquoted (shlex's)
_BARE = frozenset("@%+=:,./-_")


def shell_path(path: str | PurePath) -> str:
    """``path`` as one word of a shell command a message advises: quoted where the shell
    would split or expand it, and ``./``-prefixed where it begins with ``-``, which the
    command would take for an option (``zcat -dev.tsv.gz`` reads no file named so). A
    name of letters in any script is shown bare (:func:`shell_word`), where
    :func:`shlex.quote` quoted ``'ämne.csv'``.

    >>> [shell_path(p) for p in ("my docs.tsv", "-dev.tsv.gz", "/data/-x", "-a b")]
    ["'my docs.tsv'", './-dev.tsv.gz', '/data/-x', "'./-a b'"]
    >>> [shell_path(p) for p in ("data/\u00e4mne.csv", "-\u00e4mne.csv", "\u00e4 b.csv")]
    ['data/ämne.csv', './-ämne.csv', "'ä b.csv'"]
    """
    name = str(path)
    return shell_word("./" + name if name.startswith("-") else name)
