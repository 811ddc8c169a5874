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
import threading
from collections.abc import Iterator

#: how many commands are running (:func:`command_line`): a count, not a flag restored to
#: what each found, where two commands run in threads of one process (CliRunner from a
#: notebook's or a server's threads) end in the order they began, the first's end
#: restored False under the second and the second's end True, which stayed set from then
#: on, every Python caller after it told the command line's options
_commands_running = 0
_lock = threading.Lock()


def on_command_line() -> bool:
    """Whether a command of the command line is running (:func:`command_line`)."""
    return _commands_running > 0


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """For the block: the advice names the command line's options (:func:`said`). The
    block's end undoes it, an error or Ctrl-C included, whatever other blocks (nested,
    or in other threads) began or ended meanwhile."""
    global _commands_running
    with _lock:
        _commands_running += 1
    try:
        yield
    finally:
        with _lock:
            _commands_running -= 1


def said(cli: str, python: str) -> str:
    """``cli`` (the command line's wording: ``--review-sample N``) while a command runs,
    else ``python`` (a Python caller's: ``AuditOptions(review_sample=N)``)."""
    return cli if _commands_running > 0 else python
