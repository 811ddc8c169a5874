"""The one helper that cuts a long text after whitespace into pieces of about a given
size, so that no whitespace-separated word spans two of them (TF-IDF counts a long
text a chunk at a time, the training-text hash digests one a piece at a time)."""

from __future__ import annotations

import re
from collections.abc import Iterator

#: a whitespace character (Python's ``str.split`` rule, the ``\s`` of ``re``)
WHITESPACE = re.compile(r"\s")


def whitespace_chunks(text: str, size: int, cut: re.Pattern[str] = WHITESPACE
                      ) -> Iterator[str]:
    """``text`` in consecutive pieces of at least ``size`` characters (the last may be
    shorter), each but the last ending just after a whitespace character; a stretch
    without whitespace stays whole. ``cut`` may also end a piece elsewhere, at a match's
    end (an empty match: just before a character, as TF-IDF's cut before characters of
    unspaced scripts).

    >>> list(whitespace_chunks("ab cd  efgh ij", 3))
    ['ab ', 'cd ', ' efgh ', 'ij']
    """
    start = 0
    while start < len(text):
        found = cut.search(text, start + max(size, 1) - 1)
        if found is not None and found.end() <= start:  # an empty match at the start
            found = cut.search(text, start + 1)
        end = len(text) if found is None else found.end()
        yield text[start:end]
        start = end
