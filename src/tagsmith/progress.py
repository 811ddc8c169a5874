"""Progress reporting: a tqdm bar on a terminal or in a Jupyter notebook, structured log
lines otherwise."""

from __future__ import annotations

import logging
import os
import sys
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

_T = TypeVar("_T")

logger = logging.getLogger("tagsmith")


class _LogProgress:
    """Logs ``desc: done/total (pct%)`` at most every ``every`` seconds and at the end,
    the counts with thousands separators as every other message writes them (it read
    "LLM labeling: 1200/5000 calls").

    A line of a count not yet complete also says about how long is left, at the rate
    since the line before (the first: since the start) (``(3%, about 1.1 h left)``): off
    a terminal, a linear model at 17k labels logged "576/17,217 labels (3%)" 2.5 minutes
    in, and nothing said it had an hour to go, as the terminal's bar does. The rate since
    the start told a resumed LLM run, its first 4,000 of 5,000 calls cached in a second,
    "about 3 s left" for minutes on end. Steps (``unit="step"``) are not alike in size,
    so their lines give no estimate."""

    def __init__(self, total: int | None, desc: str, unit: str, every: float = 10.0):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.done = 0
        self.postfix = ""
        self._last = time.monotonic()
        self._since = (self._last, 0)  # the time and count of the line before (the start)
        self._logged: tuple[int, str] | None = None  # the count and postfix last logged

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        self.postfix = text

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._log(now)

    def _log(self, now: float | None = None) -> None:
        self._logged = (self.done, self.postfix)
        if self.total:
            left = ""
            then, before = self._since
            if (now is not None and self.unit != "step" and 0 < self.done < self.total
                    and self.done > before):
                seconds = (now - then) * (self.total - self.done) / (self.done - before)
                left = f", about {_duration(seconds)} left"
            if now is not None:
                self._since = (now, self.done)
            logger.info("%s: %s/%s %s (%d%%%s)%s", self.desc, f"{self.done:,}",
                        f"{self.total:,}", _units(self.unit, self.total),
                        _percent(self.done, self.total), left, self._suffix())
        else:
            logger.info("%s: %s %s%s", self.desc, f"{self.done:,}",
                        _units(self.unit, self.done), self._suffix())

    def _suffix(self) -> str:
        return f" {self.postfix}" if self.postfix else ""

    def close(self) -> None:
        # the closing count, unless the last update just logged it: a last update
        # coming 10 s after the previous line logged "100%", and closing logged it
        # again 1 ms later (an audit's "features (character n-grams): 20000/20000 docs
        # (100%)" twice)
        if self._logged != (self.done, self.postfix):
            self._log()


def _percent(done: int, total: int) -> int:
    """``done`` of ``total`` in whole percent, rounded to nearest but 100 only when it is
    all done (and 0 only when nothing is).

    Rounded to nearest alone, a calibration read "predicting: 32768/32803 docs (100%)"
    and, 22 ms later, "predicting: 32803/32803 docs (100%)"; rounded down, 2 of 7 steps
    read 28%.

    >>> _percent(32768, 32803), _percent(32803, 32803), _percent(2, 7), _percent(0, 7)
    (99, 100, 29, 0)
    >>> _percent(1, 1000)
    1
    """
    if done >= total:
        return 100
    if done <= 0:
        return 0
    return min(99, max(1, round(100 * done / total)))


def _duration(seconds: float) -> str:
    """``seconds`` as a progress line's time left: whole seconds under a minute, whole
    minutes under an hour, hours to one decimal under 48 h, else days to one decimal,
    with thousands separators (a long LLM run's "about 2777.8 h left" read as no
    duration at all).

    >>> _duration(0.2), _duration(42.4), _duration(190), _duration(4300)
    ('1 s', '42 s', '3 min', '1.2 h')
    >>> _duration(47.9 * 3600), _duration(48 * 3600), _duration(10**7), _duration(10**9)
    ('47.9 h', '2.0 days', '115.7 days', '11,574.1 days')
    """
    if seconds < 59.5:
        return f"{max(1, round(seconds))} s"
    if seconds < 3570:
        return f"{round(seconds / 60)} min"
    if seconds < 47.95 * 3600:  # what would print as "48.0 h" is 2.0 days
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.1f} days"


def _units(unit: str, n: int) -> str:
    """``unit`` for a count of ``n`` in a log line ("1 doc", "5 docs", "2 batches"); a
    bar's singular unit names its rate (tqdm's "doc/s"). tqdm's default ``"it"`` stays.

    >>> _units("doc", 1), _units("call", 50), _units("batch", 10), _units("it", 3)
    ('doc', 'calls', 'batches', 'it')
    """
    if n == 1 or unit == "it":
        return unit
    return unit + ("es" if unit.endswith(("s", "x", "ch", "sh")) else "s")


def _zero_width_terminal() -> bool:
    """Whether the terminal stderr writes to reports a width of 0 columns.

    A terminal that reports no size (``script`` run without one, ``docker run -t``,
    some CI runners give 0 x 0) made tqdm draw nothing at all: a 4-minute train showed
    no progress, and no log lines either. Such a terminal gets the log lines.
    """
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns == 0
    except (AttributeError, OSError, ValueError):  # no descriptor to ask: tqdm decides
        return False


def _dumb_terminal() -> bool:
    """Whether ``TERM`` says the terminal is ``dumb``: one that cannot move the cursor
    back (an editor's shell buffer, some CI logs), where tqdm's redrawn bar piled up
    as one ever longer line of ``\r``-joined copies. It gets the log lines, as the
    red ``error:`` gets no colour there."""
    return os.environ.get("TERM") == "dumb"


#: the modules loaded (``sys.modules``): read, never added to, to tell a Jupyter kernel
_loaded = sys.modules


def _jupyter_kernel() -> bool:
    """Whether this process is a Jupyter kernel (ipykernel's ZMQ shell: a notebook,
    JupyterLab, VS Code's notebooks), read from the modules it has loaded: IPython is
    never imported here where it is not already.

    A kernel's stderr is no terminal, so its bars went to the INFO log lines, which a
    notebook shows only once logging is configured: README's ``train_classifier``
    example ran 2 minutes without a word."""
    ipython, zmqshell = _loaded.get("IPython"), _loaded.get("ipykernel.zmqshell")
    if ipython is None or zmqshell is None:
        return False
    try:
        return isinstance(ipython.get_ipython(), zmqshell.ZMQInteractiveShell)
    except Exception:  # an IPython or ipykernel of another make: no kernel to tell
        return False


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


#: set by the CLI's ``-q`` (for the length of the command): no bar at all, whatever a
#: caller (or a loaded bundle's stored ``show_progress``) asks for
_silenced = False


def silence(flag: bool = True) -> None:
    """Turn every progress bar off (``flag=True``) or let callers decide again."""
    global _silenced
    _silenced = bool(flag)


@contextmanager
def silenced(flag: bool = True) -> Iterator[None]:
    """Every progress bar off (``flag=True``) or left to callers (``False``) inside the
    ``with`` block, and as it was before afterwards, also when the block fails.

    The CLI's ``-q`` holds it for one command: set for good, a ``main(["-q", ...])``
    run in process silenced every bar of the calling program from then on.

    >>> with silenced():
    ...     with progress_bar(total=1, desc="demo") as bar:
    ...         type(bar).__name__
    '_NoProgress'
    """
    previous = _silenced
    silence(flag)
    try:
        yield
    finally:
        silence(previous)


#: set by the CLI for the length of a command: tagsmith._numba says once that the
#: kernels are being compiled (a first run's long silent pause); a library caller, who
#: asked for no such line, is told nothing
_compiles_said = False


@contextmanager
def compiles_said(flag: bool = True) -> Iterator[None]:
    """Inside the ``with`` block, the first compile of tagsmith's kernels in the process
    is said on the ``tagsmith._numba`` logger (INFO); as it was before afterwards."""
    global _compiles_said
    previous, _compiles_said = _compiles_said, bool(flag)
    try:
        yield
    finally:
        _compiles_said = previous


@contextmanager
def progress_set(settings: Sequence[tuple[Any, bool]]) -> Iterator[None]:
    """Each ``(part, flag)``'s ``part.show_progress`` set to ``flag`` inside the ``with``
    block, and as it was afterwards, also when the block fails (what training's scoring
    and a bundle's save each did by hand).

    >>> class Part:
    ...     show_progress = True
    >>> part = Part()
    >>> with progress_set([(part, False)]):
    ...     part.show_progress
    False
    >>> part.show_progress
    True
    """
    before = [(part, part.show_progress) for part, _ in settings]
    try:
        for part, flag in settings:
            part.show_progress = flag
        yield
    finally:
        for part, flag in before:
            part.show_progress = flag


class _AboveBars:
    """A log handler's stream while tqdm bars are drawn on it: each line is written
    with the bars cleared first and drawn again after it (``tqdm.write``'s way).

    Written as they came, audit's log lines ('audit: features done (2.1 s)') landed
    where the nested bars had left the cursor, at the end of the outer bar's line,
    beside what remained of the bars."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        from tqdm import tqdm

        with tqdm.external_write_mode(file=self.stream):
            written = self.stream.write(text)
            self.stream.flush()
        return written

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding: the stream's
        return getattr(self.stream, name)


#: the tqdm bars open now (held weakly: a bar collected is closed), for
#: :func:`close_bars`; while there is one, the log handlers write above the bars
_open_bars: weakref.WeakSet[Any] = weakref.WeakSet()

#: the root's handlers writing above the bars, with the stream each had before
_swapped: list[tuple[logging.StreamHandler, Any]] = []


def open_bars() -> set[Any]:
    """The tqdm bars open now."""
    return set(_open_bars)


def close_bars(keep: set[Any] | frozenset[Any] = frozenset()) -> None:
    """Close (and so clear) every progress bar still drawn but those in ``keep``, before
    a command's closing line: a bar in a generator that a stop or an error left suspended
    stayed drawn until the generator was collected, after the line, which was written at
    the end of the bar's (train stopped by ``kill`` while featurizing: '...
    8484.22doc/s]terminated'). With none left, the log handlers write as before: such a
    generator, kept by a host program holding the stop's exception, counted as an open
    bar for good, and the next command's log lines were not written above its bars."""
    for bar in list(_open_bars):
        if bar not in keep:
            bar.close()
            _open_bars.discard(bar)
    if not _open_bars:
        _restore_streams()


def _restore_streams() -> None:
    for handler, stream in _swapped:
        if isinstance(handler.stream, _AboveBars):
            handler.setStream(stream)
    _swapped.clear()


@contextmanager
def _logs_above_bars(bar: Any) -> Iterator[None]:
    """The root logger's handlers writing to stderr write above the bars (see
    :class:`_AboveBars`) while ``bar`` or any other is open, and as before once the last
    one closes (the first opened, closed before an inner one, put them back while the
    inner one was drawn)."""
    if not _swapped:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) \
                    and handler.stream is sys.stderr:
                _swapped.append((handler, handler.stream))
                handler.setStream(_AboveBars(handler.stream))
    _open_bars.add(bar)
    try:
        yield
    finally:
        _open_bars.discard(bar)
        if not _open_bars:
            _restore_streams()


#: a bar's time left or elapsed past this many seconds reads in days (:func:`_duration`)
_BAR_DAYS_FROM = 47.95 * 3600

_BAR_CLASS: Any = None

#: whether :func:`_bar_class` is the notebook's widget bar (tqdm.auto's choice)
_WIDGET_BARS = False


def _bar_class() -> Any:
    """tqdm's bar (``tqdm.auto``'s: a notebook's where there is one) with its time left
    and its time elapsed read as the log lines read them once 48 hours or more: tqdm's
    clock counted the hours on, and a long LLM run's bar said ``[00:03<2777:46:40,
    ...]``, where its log line said "about 115.7 days left" (and, days on, ``[50:00:00<
    ...``). Under 48 hours the bar's clock stays.

    In a Jupyter kernel without ipywidgets, tqdm.auto draws the text bar and warns once
    (a ``TqdmWarning``, "IProgress not found", when this is first called), not per bar.
    """
    global _BAR_CLASS, _WIDGET_BARS
    if _BAR_CLASS is None:
        from tqdm.auto import tqdm

        notebook = _loaded.get("tqdm.notebook")
        _WIDGET_BARS = notebook is not None and issubclass(tqdm, notebook.tqdm_notebook)

        class _Bar(tqdm):
            @staticmethod
            def format_meter(n: float, total: float | None, elapsed: float,
                             rate: float | None = None, bar_format: str | None = None,
                             initial: float = 0, **kwargs: Any) -> str:
                if rate is None and elapsed:
                    rate = (n - initial) / elapsed
                # tqdm's own test: a count past its total (by 0.5) has no bar, no time left
                counting = bool(total and n < total + 0.5)
                left_s = (total - n) / rate if rate and total and counting else 0.0
                long_left = left_s >= _BAR_DAYS_FROM
                long_spent = elapsed >= _BAR_DAYS_FROM
                if long_left or long_spent:
                    spent = _duration(elapsed) if long_spent else "{elapsed}"
                    if counting:
                        left = _duration(left_s) if long_left else "{remaining}"
                        right = ("| {n_fmt}/{total_fmt} [" + spent + "<" + left
                                 + ", {rate_fmt}{postfix}]")
                        bar_format = ("{l_bar}{bar}" + right if bar_format is None
                                      else bar_format.replace("{r_bar}", right))
                    elif bar_format is None:  # tqdm's line of a bar without a total
                        bar_format = (("{desc}: " if kwargs.get("prefix") else "")
                                      + "{n_fmt}{unit} [" + spent
                                      + ", {rate_fmt}{postfix}]")
                    else:
                        bar_format = bar_format.replace("{elapsed}", spent)
                return tqdm.format_meter(n, total, elapsed, rate=rate,
                                         bar_format=bar_format, initial=initial,
                                         **kwargs)

        _BAR_CLASS = _Bar
    return _BAR_CLASS


def _text_bar_in_a_notebook_open() -> bool:
    """Whether a bar is drawn now as text in a notebook (no ipywidgets): a bar inside it
    (audit's steps, a featurizer's documents) gets the log lines. Drawn below it, it
    moved the cursor back up with an escape that a notebook's output does not read, and
    each redraw of it was one more line of output."""
    if not _open_bars:
        return False
    _bar_class()
    return not _WIDGET_BARS


@contextmanager
def progress_bar(*, total: int | None, desc: str, unit: str = "it", enabled: bool = True
                 ) -> Iterator[_NoProgress | _LogProgress]:
    """A context manager yielding an object with ``update(n)`` and ``set_postfix_str(text)``.

    >>> with progress_bar(total=3, desc="demo", enabled=False) as bar:
    ...     bar.update(3)
    """
    bar: _NoProgress | _LogProgress
    if not enabled or _silenced:
        bar = _NoProgress()
    elif (sys.stderr.isatty() and not _zero_width_terminal() and not _dumb_terminal()) \
            or (_jupyter_kernel() and not _text_bar_in_a_notebook_open()):
        bar = _bar_class()(total=total, desc=desc, unit=unit, leave=False,
                           dynamic_ncols=True)
    else:
        bar = _LogProgress(total, desc, unit)
    above = _logs_above_bars(bar) if not isinstance(bar, (_NoProgress, _LogProgress)) \
        else nullcontext()
    try:
        with above:
            yield bar
    except BaseException:
        # no closing count when the work failed or stopped: logged before the error
        # ('suggest: 0 docs', then a malformed record's message) it read as a success,
        # and the error is to be the last thing said. When the reader of the output
        # went away (the CLI stops quietly, exit 141) the count was wrong too: the
        # batch being written was not counted ('suggest: 0 docs' after
        # `suggest ... | head` had shown answers)
        if isinstance(bar, _LogProgress):
            bar = _NoProgress()
        raise
    finally:
        bar.close()
        _open_bars.discard(bar)


#: the items :func:`counted` counts at a time
COUNT_STEP = 1024


def counted(items: Iterable[_T], bar: Any, step: int = COUNT_STEP) -> Iterator[_T]:
    """``items``, each counted on ``bar`` (a :func:`progress_bar`'s), ``step`` at a time:
    one update each cost a million items 0.3 s. The rest is counted where ``items``
    ends, not where the loop over them stops early or fails.

    >>> with progress_bar(total=3, desc="demo", enabled=False) as bar:
    ...     list(counted("abc", bar, step=2))
    ['a', 'b', 'c']
    """
    n = 0
    for item in items:
        n += 1
        if n == step:
            bar.update(n)
            n = 0
        yield item
    bar.update(n)
