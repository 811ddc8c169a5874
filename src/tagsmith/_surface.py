"""Whether tagsmith runs as a command of the command line or for a Python caller, for
the advice that names a setting: a report's notes and a reader's advice are text, not
log records the command line's filter renames, and they told a notebook's user to give
``--review-sample N`` and ``--vocab vocab.tsv``, options no function of theirs has.

The command line sets it for the length of one command (:func:`command_line`); a Python
caller never does, and reads the parameters' names (:func:`said`). It is a process-wide
flag, not a context variable: a command's worker threads read it as the command does.

>>> said("--review-sample N", "AuditOptions(review_sample=N)")
'AuditOptions(review_sample=N)'
>>> with command_line():
...     said("--review-sample N", "AuditOptions(review_sample=N)")
'--review-sample N'
>>> on_command_line()
False
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_on_command_line = False


def on_command_line() -> bool:
    """Whether a command of the command line is running (:func:`command_line`)."""
    return _on_command_line


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """For the block: the advice names the command line's options (:func:`said`). The
    flag it found is restored at the end, an error or Ctrl-C included."""
    global _on_command_line
    before = _on_command_line
    _on_command_line = True
    try:
        yield
    finally:
        _on_command_line = before


def said(cli: str, python: str) -> str:
    """``cli`` (the command line's wording: ``--review-sample N``) while a command runs,
    else ``python`` (a Python caller's: ``AuditOptions(review_sample=N)``)."""
    return cli if _on_command_line else python
