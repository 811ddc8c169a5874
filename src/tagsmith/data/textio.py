"""Opening text files: UTF-8, gzip-aware, with clear errors."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from tagsmith.exceptions import DataError


def open_text(path: str | Path, *, newline: str | None = None) -> io.TextIOBase:
    """Open ``path`` for reading text (``.gz`` transparently); a clear error if missing.

    ``newline`` is passed to :func:`open` (``""`` for the csv module).

    >>> import tempfile, os
    >>> name = os.path.join(tempfile.mkdtemp(), "a.txt.gz")
    >>> with gzip.open(name, "wt", encoding="utf-8") as f:
    ...     _ = f.write("hello\\n")
    >>> open_text(name).read()
    'hello\\n'
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=path)
    if path.is_dir():
        raise DataError("is a directory, expected a file", path=path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline=newline)
    return open(path, encoding="utf-8", newline=newline)
