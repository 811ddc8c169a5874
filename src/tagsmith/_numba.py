"""numba's ``njit`` for tagsmith's kernels: compiled code cached on disk where it can be.

Compiling the kernels costs seconds in each new process (6-12 s of a first tree
``suggest`` on 2 cores, 1.5-4 s once cached), so every kernel asks for ``cache=True``:
numba keeps the machine code in ``NUMBA_CACHE_DIR`` when that is set, else in the
``__pycache__`` next to the module, else in the user's cache directory
(``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba``). Where none of them can be written (a read-only
installation run by a user without a writable home), numba refused the decorator
itself: importing tagsmith's model or calibration modules failed with "RuntimeError:
cannot cache function ...: no locator available". :func:`njit` then compiles without
the cache, as numba does without ``cache=True``, and says so once.

The first compile of the kernels is long (a support team's first ``label --budget``
paused 36 s between its labeling round and the first distillation round, with nothing
said): where a tagsmith kernel is compiled rather than loaded from the cache, one line
(INFO, on stderr) says so, once a process, in a command-line run
(:func:`tagsmith.progress.compiles_said`). numba fires its ``numba:compile`` event
only on a cache miss, so a run that finds its kernels cached says nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numba
import numba.core.event

_logger = logging.getLogger(__name__)
#: whether the warning about the missing cache was given in this process
_WARNED = {"no_cache": False, "compiling": False}


class _CompileNotice(numba.core.event.Listener):
    """Says once a process that tagsmith's kernels are being compiled (numba's
    ``numba:compile`` event: a kernel not found in the cache)."""

    def on_start(self, event: Any) -> None:
        from tagsmith import progress

        if _WARNED["compiling"] or not progress._compiles_said:
            return
        func = getattr((event.data or {}).get("dispatcher"), "py_func", None)
        if not str(getattr(func, "__module__", None)).startswith("tagsmith."):
            return
        _WARNED["compiling"] = True
        _logger.info("compiling tagsmith's fast kernels (numba; it can take half a minute): "
                     "%s", "again in each run, as they cannot be cached here"
                     if _WARNED["no_cache"] else
                     "once per kernel, in the first run that needs it (another command "
                     "may compile others); later runs load them from the cache")

    def on_end(self, event: Any) -> None:
        pass


numba.core.event.register("numba:compile", _CompileNotice())


def njit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(**options)``, falling back to ``cache=False`` (with one warning per
    process) where numba finds no writable place for the cache."""

    def decorate(func: Callable[..., Any]) -> Any:
        try:
            return numba.njit(**options)(func)
        except RuntimeError as exc:
            if not options.get("cache") or "no locator available" not in str(exc):
                raise
            if not _WARNED["no_cache"]:
                _WARNED["no_cache"] = True
                _logger.warning(
                    "numba cannot cache tagsmith's compiled kernels (%s): they are compiled "
                    "again in each process, seconds more on the first training or "
                    "prediction; set NUMBA_CACHE_DIR to a writable directory to keep them",
                    exc)
            return numba.njit(**{**options, "cache": False})(func)

    return decorate
