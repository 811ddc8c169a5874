"""A path as a word of the shell commands that messages advise running."""

from __future__ import annotations

import shlex
from pathlib import PurePath


def shell_path(path: str | PurePath) -> str:
    """``path`` as one word of a shell command a message advises: quoted where the shell
    would split or expand it, and ``./``-prefixed where it begins with ``-``, which the
    command would take for an option (``zcat -dev.tsv.gz`` reads no file named so).

    >>> [shell_path(p) for p in ("my docs.tsv", "-dev.tsv.gz", "/data/-x", "-a b")]
    ["'my docs.tsv'", './-dev.tsv.gz', '/data/-x', "'./-a b'"]
    """
    name = str(path)
    return shlex.quote("./" + name if name.startswith("-") else name)
