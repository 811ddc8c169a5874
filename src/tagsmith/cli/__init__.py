"""The ``tagsmith`` command line.

Commands are thin: parse options, call one pipeline function, format the result.
Heavy modules are imported inside the commands so ``tagsmith --help`` stays fast.
Each command's help is a constant given as ``help=``, not its docstring, which
``python -OO`` drops (its ``--help`` said nothing of what the command does).

Exit codes: 0 success; 1 unexpected error; 2 bad usage or parameter; 3 bad input
data (corpus or vocabulary) or an output path that cannot be written; 4 model bundle
to read missing, damaged or incompatible;
5 an optional dependency is missing; 6 the LLM endpoint failed; 130 interrupted;
141 the reader of the output went away (``tagsmith suggest ... | head``), quietly;
143 terminated (SIGTERM), after the same clean-up as an interrupt; 129 hung up
(SIGHUP: the terminal closed, an ssh session dropped), taken as SIGTERM is.
"""

from __future__ import annotations

import errno
import functools
import logging
import re
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

from tagsmith import __version__
from tagsmith._json import dumps as json_dumps
from tagsmith.exceptions import (
    DataError,
    InvalidParameterError,
    MissingDependencyError,
    TagsmithError,
)

if TYPE_CHECKING:
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.confidence import ConformalModel

EXIT_INTERRUPTED = 130
#: 128 + SIGTERM, what a shell reports for a process that ``kill`` or ``timeout`` ended
EXIT_TERMINATED = 143
#: 128 + SIGHUP: a run whose terminal closed (or ssh session dropped), stopped as a kill
EXIT_HUNG_UP = 129
#: 128 + SIGPIPE: what a shell reports for a C tool killed writing to a closed pipe, and
#: what ``set -o pipefail`` scripts already expect from ``... | head``; 1 is "unexpected
#: error" here, which a closed pipe is not
EXIT_BROKEN_PIPE = 141


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a scheduler or ``docker stop`` ending the job),
    raised where the command stands, as Ctrl-C raises KeyboardInterrupt: its default
    action ended the process at once, skipping every clean-up, so a training stopped
    while saving left its half-written ``.NAME.tmp-*`` bundle behind (and, between the
    two renames, the good bundle moved aside as ``.NAME.old-*``, not at its path).
    SIGKILL cannot be caught: the next save to the path removes such folders of a
    process that no longer runs, and loading the missing path names a ``.NAME.old-*``
    (see :mod:`tagsmith.store.staging`).

    SIGHUP (a terminal closed, an ssh session dropped) is taken as SIGTERM is, its exit
    code 129 (``exit_code``): its default action ended a ``label`` run as SIGTERM's did,
    its output's temporary file left and no word of how to resume."""

    def __init__(self, signum: int | None = None) -> None:
        super().__init__()
        self.exit_code = _exit_code_of(signum)


def _kills() -> tuple[int, ...]:
    """The signals taken as a ``kill``: SIGTERM, and SIGHUP where there is one."""
    import signal

    hangup = getattr(signal, "SIGHUP", None)
    return (signal.SIGTERM,) if hangup is None else (signal.SIGTERM, hangup)


def _leave_hung_up_terminal(signum: int) -> None:
    """On SIGHUP, the null device in place of a stdout or stderr that is a terminal
    that hung up (closed: every write to it fails with EIO, a write of nothing too).
    The run stopped by it cleaned up, then its closing lines (label's "LLM usage:",
    "terminated") raised OSError out of the command: exit code 1, not 129. A ``kill
    -HUP`` with the terminal still open leaves it as it is."""
    import errno
    import os

    if signum not in _kills()[1:]:
        return
    for fd in (1, 2):
        try:
            os.write(fd, b"")  # 0 to a file, a pipe or a live terminal
        except OSError as exc:
            if exc.errno != errno.EIO:
                continue
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, fd)
            finally:
                os.close(null)


def _exit_code_of(signum: int | None) -> int:
    """The exit code of a run a kill ``signum`` ended (None: SIGTERM)."""
    import signal

    hangup = getattr(signal, "SIGHUP", None)
    return EXIT_HUNG_UP if hangup is not None and signum == hangup else EXIT_TERMINATED


def exit_terminated(signum: int | None = None) -> NoReturn:
    """End the process now with :data:`EXIT_TERMINATED` (:data:`EXIT_HUNG_UP` for
    SIGHUP), writing nothing: a ``kill``
    that came after the stop being handled, while the command says its closing lines
    (which may wait on a stderr nobody reads). Nothing is left half-done by then: the
    bundles and outputs being written were cleaned up as the stop unwound, and the
    response cache is an SQLite file that an ended process leaves consistent."""
    import os

    os._exit(_exit_code_of(signum))


class LaterStopsIgnored:
    """Within the block (main thread only), the first SIGINT raises KeyboardInterrupt,
    and SIGTERM, where its handler is Python's, :class:`Terminated`, unless
    :meth:`deafen` was called; every later SIGINT is ignored, and a later SIGTERM ends
    the process at once (:func:`exit_terminated`): ignored too, a ``kill`` could not
    end a run whose closing lines waited on a stderr nobody read (a pipe to a stalled
    log collector or pager), and it hung until ``kill -9``. Every command's closing
    line (its error, or "interrupted" after a stop) is said within one, deafened, as
    are label's and taxonomy's (``llm_commands._stopped``). The handlers are put back
    afterwards; one that ignores the signal (a job started in the background,
    ``nohup``) is left alone."""

    def __init__(self) -> None:
        self.deaf = False
        self._previous: dict[int, Any] = {}

    def deafen(self) -> None:
        """Ignore every stop from now on (the user's asking to leave was heard)."""
        self.deaf = True

    def _handle(self, signum: int, frame: Any) -> None:
        if _echo_of_the_stop(signum):
            return
        if self.deaf:
            if signum in _kills():
                exit_terminated(signum)
            return
        self.deaf = True  # before raising: a stop during the clean-up it starts is ignored
        if _stops is not None:  # and main's handler holds those that follow it
            _stops.stopped = True
            if signum in _kills():  # its echo from ``timeout`` is no further kill
                _stops.note_kill(signum)
        _leave_hung_up_terminal(signum)
        # raised here, not by the handler it replaced: main's ignores (holds) a stop
        # once the command is stopped, and this one is the stop that leaves the wait
        raise Terminated(signum) if signum in _kills() else KeyboardInterrupt()

    def __enter__(self) -> LaterStopsIgnored:
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGINT, *_kills()):
            previous = signal.getsignal(signum)
            if callable(previous):  # not SIG_IGN, SIG_DFL or one set outside Python
                self._previous[signum] = previous
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        import signal

        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()


class _CommandStops:
    """:func:`main`'s handler of SIGINT and SIGTERM (see :func:`_terminate_as_interrupt`):
    the first stop raises KeyboardInterrupt (:class:`Terminated` for ``kill``) where the
    command stands. While that stop unwinds (a bundle or output being written is cleaned
    up, a bundle moved aside put back), a later Ctrl-C is ignored and a later ``kill``
    is held until the clean-up is done: the command then ends at once with exit code
    143, without its closing line (:meth:`end_if_killed`). A ``kill`` after that one
    ends the process there and then (a clean-up that hangs). A second stop raised in
    the middle of the clean-up and cut it short: a train stopped by Ctrl-C while saving,
    then killed, left its half-written ``.NAME.tmp-*`` staging folder behind."""

    def __init__(self) -> None:
        self.stopped = False
        self.killed = False
        #: the kill held (:attr:`killed`): SIGTERM or SIGHUP
        self.killed_by: int | None = None
        #: when (``time.monotonic``) the last ``kill`` taken as one came (the one that
        #: stopped the command, or one held after a Ctrl-C or a kill); None for none
        self.killed_at: float | None = None
        #: when (``time.monotonic``) the kill that stopped the command came, and which
        #: signal it was (SIGTERM, SIGHUP); None where no kill stopped it: the run's
        #: deadline (:data:`KILL_DEADLINE`) is timed from it
        self.first_kill: tuple[float, int] | None = None

    def note_kill(self, signum: int) -> None:
        """A ``kill`` taken as one came now (see :attr:`killed_at`, :attr:`first_kill`)."""
        import time

        self.killed_at = time.monotonic()
        if self.first_kill is None:
            self.first_kill = (self.killed_at, signum)

    def __call__(self, signum: int, frame: Any) -> None:
        import time

        if not self.stopped:
            self.stopped = True
            if signum in _kills():
                self.note_kill(signum)
                _leave_hung_up_terminal(signum)
                raise Terminated(signum)
            raise KeyboardInterrupt()
        if _echo_of_the_stop(signum):
            return
        if signum in _kills():
            # timeout's second SIGTERM after this one is no third kill, whatever stopped
            # the command: after a Ctrl-C it ended the run before its clean-up was done
            self.killed_at = time.monotonic()
            if self.killed:
                exit_terminated(signum)
            self.killed, self.killed_by = True, signum
            _leave_hung_up_terminal(signum)  # held: the clean-up may still write

    def end_if_killed(self) -> None:
        """End the process now (exit code 143, 129 for SIGHUP) where a ``kill`` was
        held."""
        if self.killed:
            exit_terminated(self.killed_by)


#: the handler of the command :func:`main` runs (None outside one)
_stops: _CommandStops | None = None
#: (when, signal) of the ``kill`` that stopped the last command :func:`main` ran, kept
#: once its handler is gone, for :func:`_end_by_the_deadline`; None for none
_last_kill: tuple[float, int] | None = None

#: seconds from the ``kill`` (SIGTERM, SIGHUP) that stopped a command to the end of its
#: process: ``docker stop`` and schedulers send SIGKILL soon after (``docker stop``
#: after 10 s), and a ``label`` run's waits once killed (its calls in flight, then
#: its answers waiting for another process's lock on the cache, then those writes
#: giving up) added up to 8 s, with no bound at all on a call its abort cannot end
#: (6.0 s measured). Each wait now ends by its share of this one deadline
#: (``llm_commands._say_stopped``), and the process ends by it whatever still runs.
KILL_DEADLINE = 5.0


def kill_deadline() -> float:
    """When (``time.monotonic``) a command stopped by ``kill`` must have ended: the
    kill's time plus :data:`KILL_DEADLINE` (now plus it where no kill was noted: a
    :class:`Terminated` raised by a caller of its own)."""
    import time

    first = _stops.first_kill if _stops is not None else None
    return (first[0] if first is not None else time.monotonic()) + KILL_DEADLINE


#: seconds between two looks of :func:`_end_by_the_deadline`'s thread, past the
#: deadline, at whether the main thread is done
STOP_POLL_AT_EXIT = 0.05


def _end_by_the_deadline(kill: tuple[float, int]) -> None:
    """End the process (exit code 143, 129 for SIGHUP) at :data:`KILL_DEADLINE` after
    ``kill`` (when, signal) where it is still there then: its command is done (the
    outputs cleaned up, the closing lines said), but the interpreter waits at exit for
    every worker thread, and one stuck where the stop cannot reach it (a call its abort
    cannot end) held the process past ``docker stop``'s SIGKILL. A daemon thread: a
    process that ends before never sees it. What the workers left is consistent (the
    response cache is SQLite, each answer one transaction). Only once the main thread is
    done (the interpreter at exit, waiting for the workers): a host that called
    :func:`main` with no arguments (runpy, IPython's ``%run -m``, a wrapper catching
    SystemExit) and runs on after it is not cut off mid-work by ``os._exit``."""
    import threading
    import time

    when, signum = kill

    def end() -> None:
        time.sleep(max(0.0, when + KILL_DEADLINE - time.monotonic()))
        # the main thread is no longer alive once the interpreter, at exit, waits for
        # the other threads; one still alive is the host's code running on (or the
        # command's last steps): the process is ended once it is done, not before
        while threading.main_thread().is_alive():
            time.sleep(STOP_POLL_AT_EXIT)
        # flushed in a thread of its own, waited for briefly: a pipe nobody reads blocked
        # the flush, and the process it was to end stayed
        flushing = threading.Thread(target=_flush_quietly, name="tagsmith-kill-flush",
                                    daemon=True)
        flushing.start()
        flushing.join(FLUSH_AT_DEADLINE)
        exit_terminated(signum)

    threading.Thread(target=end, name="tagsmith-kill-deadline", daemon=True).start()

#: seconds the deadline's exit waits for stdout and stderr to be flushed
FLUSH_AT_DEADLINE = 0.5


def _flush_quietly() -> None:
    """Flush stdout and stderr, whatever they are (closed, replaced, a broken pipe)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


#: seconds after the ``kill`` that stopped a command within which another is the same
#: stop, not a further one (see :func:`_echo_of_the_stop`)
SAME_STOP_SECONDS = 1.0


def _echo_of_the_stop(signum: int) -> bool:
    """Whether ``signum`` is a kill (SIGTERM or SIGHUP) that came within
    :data:`SAME_STOP_SECONDS` of the last kill taken as one (the one that stopped the
    command, or a further one, after a Ctrl-C too; an echo ignored here is not one).
    The window is timed from when the handler ran, not from when the signal came: a
    main thread busy in C code for over a second takes the echo for a further kill.
    GNU ``timeout`` sends
    its signal to the command and then to its process group, which the command is in,
    so a run it ends gets two a moment apart. SIGINT is never an echo: a second Ctrl-C
    is one. The second, taken for a further ``kill``, ended the run
    without its closing lines (``terminated``; ``label``'s usage and how to resume),
    or left the answers waiting for the cache's lock, in most runs under ``timeout``."""
    import time

    return (signum in _kills() and _stops is not None and _stops.killed_at is not None
            and time.monotonic() - _stops.killed_at < SAME_STOP_SECONDS)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while the command runs, and SIGINT
    KeyboardInterrupt, the first of them only (see :class:`_CommandStops`; main thread
    only, and not where the caller ignores the signal); the caller's handlers are put
    back afterwards."""
    import signal
    import threading

    global _stops, _last_kill
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler, saved = _CommandStops(), {}
    for signum in (signal.SIGINT, *_kills()):
        previous = signal.getsignal(signum)
        # SIGINT: Python's own handler only (not SIG_IGN, as a job started in the
        # background has it, nor one set outside Python); SIGTERM and SIGHUP: any but
        # SIG_IGN (``nohup`` ignores SIGHUP)
        if previous == signal.SIG_IGN or (signum == signal.SIGINT
                                          and previous is not signal.default_int_handler):
            continue
        saved[signum] = previous
        signal.signal(signum, handler)
    outer, _stops = _stops, handler
    try:
        yield
    finally:
        _stops = outer
        _last_kill = handler.first_kill
        for signum, previous in saved.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)


class _PrintableFormatter(logging.Formatter):
    """Log lines with control characters escaped (see :func:`printable`): warnings quote
    file names, label keys and LLM errors, which must not drive the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), keep_layout=True)


class _TagsmithCommand(click.Command):
    """A command whose refusal of a vocabulary given as documents says so where the
    command's vocabulary option or argument names that same file (``label V --vocab V``
    was told "give it as --vocab"): one place for every command, the refusal being
    raised wherever the documents are read."""

    def invoke(self, ctx):
        from tagsmith.exceptions import VocabularyAsCorpusError

        try:
            return super().invoke(ctx)
        except VocabularyAsCorpusError as exc:
            if exc.path is None or not _given_as(ctx, exc.vocab_option, exc.path):
                raise
            from tagsmith.data.readers import vocabulary_refused

            raise vocabulary_refused(exc.why, exc.path, vocab_option=exc.vocab_option,
                                     line=exc.line, labelled=exc.labelled,
                                     given=True) from None


def _given_as(ctx: click.Context, spelled: str | None, path: str) -> bool:
    """Whether the option or argument of ``ctx``'s command that ``spelled`` names (as a
    refusal spells it: ``--vocab``, ``--map-to``, ``VOCAB, the first argument``) was
    given ``path``, by the same name or as the same file."""
    import os

    if not spelled:
        return False
    for param in ctx.command.params:
        named = (spelled in param.opts if isinstance(param, click.Option)
                 else spelled.split(",")[0] == param.human_readable_name)
        value = ctx.params.get(param.name) if named and param.name else None
        if isinstance(value, str) and value:
            try:
                return value == path or os.path.samefile(value, path)
            except OSError:  # gone, or not a file (stdin): not this one
                return False
    return False


class _TagsmithGroup(click.Group):
    """Maps tagsmith errors to a one-line message and a documented exit code."""

    command_class = _TagsmithCommand

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TagsmithError as exc:
            _hold_stops()  # before the line is built: as_typed, printable
            if _files_ran_out(exc) is not None:
                # a bundle or corpus that could not be opened for want of a descriptor
                # was called damaged (exit code 4) or unreadable: the machine's limit
                _say_closing(f"error: {_too_many_files(exc)}", fg="red")
                ctx.exit(EXIT_TOO_MANY_FILES)
            if isinstance(exc, MissingDependencyError) and _memory_ran_out(exc):
                # a library that is installed but could not be loaded
                _say_closing(f"error: {_out_of_memory(exc)}", fg="red")
                ctx.exit(EXIT_OUT_OF_MEMORY)
            message = str(exc)
            if isinstance(exc, InvalidParameterError) and ctx.invoked_subcommand:
                message = as_typed(self.get_command(ctx, ctx.invoked_subcommand), exc)
            elif isinstance(exc, DataError) and exc.parameters and ctx.invoked_subcommand:
                # the reason alone: the file named before it is the user's own
                where = message[:len(message) - len(exc.reason)]
                message = where + as_options(self.get_command(ctx, ctx.invoked_subcommand),
                                             exc.reason, exc.parameters)
            if isinstance(exc, DataError) and ctx.invoked_subcommand:
                message = _skip_hint_of(self.get_command(ctx, ctx.invoked_subcommand), message)
            _say_closing(f"error: {printable(message, keep_layout=True)}", fg="red")
            ctx.exit(exc.exit_code)
        except Terminated as stop:
            _say_closing("terminated")
            ctx.exit(stop.exit_code)
        except KeyboardInterrupt:
            _say_closing("interrupted")
            ctx.exit(EXIT_INTERRUPTED)
        except (MemoryError, ImportError, OSError) as exc:
            _hold_stops()
            if _memory_ran_out(exc):
                _say_closing(f"error: {_out_of_memory(exc)}", fg="red")
                ctx.exit(EXIT_OUT_OF_MEMORY)
            if not isinstance(exc, OSError):
                if _stops is not None:  # a kill held since _hold_stops ends it, as below
                    _stops.end_if_killed()
                raise
            if exc.errno == errno.EPIPE:
                # the reader went away (``| head``): stop at once, say nothing, as a Unix
                # tool does; the output nobody reads is pointed at the null device so that
                # the flush at exit does not fail again (an "Exception ignored" line)
                _drop_stdout()
                if _stops is not None:  # held since _hold_stops: no line ends it here
                    _stops.end_if_killed()
                ctx.exit(EXIT_BROKEN_PIPE)
            if _files_ran_out(exc) is not None:
                _say_closing(f"error: {_too_many_files(exc)}", fg="red")
                ctx.exit(EXIT_TOO_MANY_FILES)
            if exc.errno == errno.ENAMETOOLONG and exc.filename:
                # a path the user gave (an input, a cache, a diagram) that no file system
                # takes: bad input, exit code 3 as for a file not found, not a traceback
                name = printable(f"{exc.filename}: {exc.strerror}", keep_layout=True)
                _say_closing(f"error: {name}", fg="red")
                ctx.exit(DataError.exit_code)
            # the machine's fault, not the program's: a full disk or quota, a file size
            # limit, a read-only file system (stdout redirected to a full disk, say)
            # deserve a line, not a traceback; any other OSError is unexpected and keeps
            # its traceback
            if exc.errno not in _ENVIRONMENT_ERRNOS:
                if _stops is not None:  # a kill held since _hold_stops ends it, as above
                    _stops.end_if_killed()
                raise
            _say_closing(f"error: {_output_failed(exc)}", fg="red")
            ctx.exit(1)


#: the exit code of a command that ran out of memory (see :func:`_out_of_memory`)
EXIT_OUT_OF_MEMORY = 1
#: the exit code of a command that ran out of file descriptors (:func:`_too_many_files`)
EXIT_TOO_MANY_FILES = 1

#: what the dynamic loader says where mapping a library fails for want of memory (a
#: numpy, scipy, torch or llvmlite extension under ``ulimit -v``: an ImportError, or
#: ctypes' OSError), and strerror(ENOMEM)
_NO_MEMORY_SAID = ("failed to map segment from shared object", "Cannot allocate memory",
                   "cannot allocate memory")


def _memory_ran_out(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from or while handling, says
    the process ran out of memory: a MemoryError, an OSError of ENOMEM, or a library the
    loader could not map (zeroshot under ``ulimit -v 700000`` said "needs the package
    'sentence-transformers': pip install", exit code 5, of an installed package)."""
    chain: list[BaseException] = []
    one: BaseException | None = exc
    while one is not None and all(one is not other for other in chain) and len(chain) < 20:
        chain.append(one)
        if isinstance(one, MemoryError):
            return True
        if isinstance(one, OSError) and one.errno == errno.ENOMEM:
            return True
        one = one.__cause__ or one.__context__
    loading = [one for one in chain if isinstance(one, (ImportError, OSError))]
    # the loader's "failed to map segment" is memory only under a limit on the address
    # space: it says so too of a library SELinux or fapolicyd will not let be mapped
    # (read as out of memory), and of one on a noexec file system anywhere in the chain
    # (numpy's ImportError repeats the loader's words of the one it was raised from)
    said = any(any(words in str(one) for words in _NO_MEMORY_SAID[1:]) for one in loading) \
        or (any(_NO_MEMORY_SAID[0] in str(one) for one in loading)
            and _address_space_limited())
    return said and not any(_on_noexec(one) for one in loading)


def _address_space_limited() -> bool:
    """Whether a limit on the process's memory is set (``ulimit -v``, RLIMIT_AS, or
    ``ulimit -d``, RLIMIT_DATA), under which the loader cannot map a library."""
    try:
        import resource

        return any(resource.getrlimit(which)[0] != resource.RLIM_INFINITY
                   for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA))
    except (ImportError, OSError, ValueError, AttributeError):  # no resource module
        return False


def _on_noexec(exc: ImportError | OSError) -> bool:
    """Whether the library ``exc`` could not load lies on a file system mounted
    ``noexec``: the loader says "failed to map segment from shared object" of it just
    as under ``ulimit -v`` (hnswlib's .so on such a PYTHONPATH read as out of memory)."""
    import os

    paths = [getattr(exc, "path", None), getattr(exc, "filename", None)]
    named = str(exc).split(": failed to map segment", 1)[0]
    if os.path.isabs(named):
        paths.append(named)
    for path in paths:
        if not isinstance(path, str) or not path:
            continue
        try:
            if os.statvfs(path).f_flag & getattr(os, "ST_NOEXEC", 0):
                return True
        except (OSError, ValueError):
            continue
    return False


def _out_of_memory(exc: BaseException) -> str:
    """The error line's text for ``exc``, where :func:`_memory_ran_out`: what ran out
    (memory; the address-space limit, ``ulimit -v``, where one is set) and, of a library
    that could not be loaded, its loader's words. It was a MemoryError, ImportError or
    OSError traceback, exit code 1. The loader's words are its line, of the error
    deepest in the chain that says them: numpy's ImportError has them after 24 lines of
    its advice, which were the error line."""
    loading = ""
    one: BaseException | None = exc
    for _ in range(20):
        if one is None:
            break
        if isinstance(one, (ImportError, OSError)) and _NO_MEMORY_SAID[0] in str(one):
            said = next(line for line in str(one).splitlines()
                        if _NO_MEMORY_SAID[0] in line)
            said = said.strip().removeprefix("Original error was: ")
            loading = f" loading a library ({printable(said)})"
        one = one.__cause__ or one.__context__
    limit = ""
    try:
        import resource

        # the address-space limit, else the data-size one (under `ulimit -d` alone the
        # line named no limit)
        for which, name in ((resource.RLIMIT_AS, "address-space limit (ulimit -v)"),
                            (resource.RLIMIT_DATA, "data-size limit (ulimit -d, RLIMIT_DATA)")):
            soft, _ = resource.getrlimit(which)
            if soft != resource.RLIM_INFINITY:
                limit = (f": the {name} is {soft // 2 ** 20:,} MB; raise it or give the "
                         "command less to hold")
                break
    except (ImportError, OSError, ValueError, AttributeError):  # no resource module (Windows)
        pass
    return f"out of memory{loading}{limit}"


def _files_ran_out(exc: BaseException) -> OSError | None:
    """The OSError in ``exc``'s chain (``exc`` itself, its cause or context) that says
    the process (EMFILE, ``ulimit -n``) or the system (ENFILE) has no file descriptor
    left: the environment's doing, not the file's. None where there is none."""
    one: BaseException | None = exc
    for _ in range(20):
        if one is None:
            break
        if isinstance(one, OSError) and one.errno in (errno.EMFILE, errno.ENFILE):
            return one
        one = one.__cause__ or one.__context__
    return None


def _too_many_files(exc: BaseException) -> str:
    """The error line's text for ``exc``, where :func:`_files_ran_out`: what ran out and
    the limit to raise, worded as :func:`_out_of_memory` words the address-space
    limit. ``ulimit -n 12 tagsmith suggest B doc.txt`` called the bundle damaged
    ("file thresholds.npz cannot be read (Too many open files)", exit code 4)."""
    cause = _files_ran_out(exc)
    if cause is not None and cause.errno == errno.ENFILE:
        return ("too many open files: the system's table of open files is full; close "
                "files other programs hold, or raise the system's limit (fs.file-max)")
    limit = ""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:
            limit = f": the open-files limit (ulimit -n) is {soft:,}; raise it (ulimit -n 1024)"
    except (ImportError, OSError, ValueError):  # no resource module (Windows)
        pass
    return f"too many open files{limit}"


def _output_failed(exc: OSError) -> str:
    """The error line's text for ``exc``, an OSError of :data:`_ENVIRONMENT_ERRNOS`,
    stdout pointed at the null device: its unwritten buffer would fail again at exit."""
    _drop_stdout()
    where = f"{exc.filename}: " if exc.filename else "writing the output: "
    return printable(where + (exc.strerror or str(exc)), keep_layout=True)


def _hold_stops() -> None:
    """From here on the command is closing: main's handler ignores a Ctrl-C and holds a
    ``kill`` (:func:`_say_closing` ends the run on a held one). Called first in
    ``invoke``'s ``except`` branches: a stop while the error line was built (``as_typed``,
    ``printable``) raised out of the branch, and click said "Aborted!" with exit code 1,
    the error line lost."""
    if _stops is not None:
        _stops.stopped = True


def _say_closing(line: str, fg: str | None = None) -> None:
    """Say the closing ``line`` of a command (its error, or "interrupted" after a stop)
    on stderr, Ctrl-C ignored but a ``kill``, which ends the process there and then
    (exit code 143): with a stderr nobody read (a pipe to a stalled log collector), the
    line waited for room in the pipe, a ``kill`` only raised in its place, click's
    blank line after it waited again, and a second ``kill`` ended the run with exit
    code 1.

    No stop raises from here on: main's handler holds them (the command is closing,
    whether a stop came first or not) until the deafened handler is in place, which is
    deaf before it goes in; a signal between those lines raised out of ``invoke``'s
    ``except`` block, and click said "Aborted!" with exit code 1, the error line lost."""
    _hold_stops()  # a Ctrl-C from now on is ignored, a kill held
    stops = LaterStopsIgnored()
    stops.deafen()
    with stops:
        if _stops is not None:
            _stops.end_if_killed()  # a kill held while a stop unwound, or just now
        from tagsmith.progress import close_bars

        close_bars()  # the line on a line of its own, not after a bar left drawn
        click.secho(line, fg=fg, err=True)


#: library parameter names that a command's option spells differently (library name ->
#: the option's ``param.name``); used only where the command has no option of the
#: library's name itself
OPTION_ALIASES = {
    "n_folds": "folds",  # audit --folds (AuditOptions.n_folds)
    "n_workers": "concurrency",  # label, taxonomy (LabelingOptions, TaxonomyOptions)
    "max_concurrency": "concurrency",  # the LLM client of label and taxonomy
    "model": "llm_model",  # the LLM client's model: --llm (train's --model is "model")
    "sample_size": "sample",  # taxonomy --sample
    "minibatch_size": "minibatch",  # taxonomy --minibatch
    "alpha": "alphas",  # eval --alpha (several)
    "method": "set_method",  # suggest --set-method (ConformalModel.predict's method)
    "featurizer_params": "feature_param",  # train, distill --feature-param (TrainOptions)
    "model_params": "param",  # train, distill, audit -p/--param
}


def option_flags(command: click.Command | None, name: str) -> str | None:
    """How the user spells ``command``'s option ``name`` (a ``param.name``, or a library
    parameter name of :data:`OPTION_ALIASES`): its flags as ``-o/--output``; ``None``
    when the command has no such option (an argument, or a parameter of the library
    alone, keeps its own name)."""
    if command is None:
        return None
    options = {param.name: param for param in command.params
               if isinstance(param, click.Option)}
    option = options.get(name) or options.get(OPTION_ALIASES.get(name, ""))
    return None if option is None else "/".join(option.opts)


def as_typed(command: click.Command | None, exc: InvalidParameterError) -> str:
    """The message of ``exc`` naming the option the user typed, not the Python parameter
    the library checked: ``parameter 'dev_fraction' must be ...`` becomes ``option
    '--dev-fraction' must be ...``; a name the CLI gave already as a flag (``--sets``)
    reads ``option`` too, and a float it refused is written as the CLI's own refusals
    write it (:func:`_number`: ``--dev-fraction=-5`` said ``got -5.0``). Names that are
    no option of ``command`` stay as they are."""
    text = str(exc)
    prefix = f"parameter {exc.name!r}"
    if not text.startswith(prefix):  # a subclass with a message of its own
        return text
    flags = exc.name if exc.name.startswith("-") else option_flags(command, exc.name)
    if flags is None:
        return text
    got = f", got {exc.got!r}"
    if isinstance(exc.got, float) and text.endswith(got):
        text = text[:-len(got)] + f", got {_number(exc.got)}"
    return f"option {flags!r}{text[len(prefix):]}"


class _OptionNames(logging.Filter):
    """Log records that name library parameters name the options of ``command`` instead,
    as :func:`as_typed` does for errors: the library tags such a record with
    ``extra={"parameters": ("dev_fraction", ...)}``, and ``dev_fraction 0.01 of ...``
    reads ``--dev-fraction 0.01 of ...`` here. Installed on the handlers every tagsmith
    record passes (the ``tagsmith`` logger's, the warning collector, the root's) for the
    length of one command, so Python callers keep the parameters' names: on the
    ``tagsmith`` logger it missed the records of its children (``tagsmith.store...``),
    which a logger's filter never sees. Records of other loggers are left alone.

    A record whose advice names other commands (``calibrate --alpha`` from train, which
    has no ``--alpha``) carries the command line's wording as ``extra={"cli_message":
    ...}``, a template of the same arguments as its message, which names the Python
    parameters (``ConfidenceOptions(alpha=...)``): that wording is swapped in here, and
    its parameters then renamed as above."""

    def __init__(self, command: click.Command | None):
        super().__init__()
        self.command = command

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.name == "tagsmith" or record.name.startswith("tagsmith.")):
            return True
        cli_message = getattr(record, "cli_message", None)
        if cli_message is not None:
            record.msg = cli_message
        names = getattr(record, "parameters", None)
        if not names:
            return True
        # only the message's template: the values in its arguments (a corpus at
        # /data/on_error/c.tsv) are the user's own and are not renamed
        record.msg = as_options(self.command, str(record.msg), names)
        return True


def _skip_hint_of(command: click.Command | None, message: str) -> str:
    """``message`` with the readers' advice to skip malformed lines with ``--on-error
    skip`` where ``command`` has that option, else with advice it can follow: label
    (its corpus and ``--human``) and taxonomy were told of an option they refuse."""
    from tagsmith.data.readers import NO_SKIP_HINT, SKIP_HINT

    if SKIP_HINT not in message or any(
            param.name == "on_error" for param in getattr(command, "params", ())):
        return message
    return message.replace(SKIP_HINT, NO_SKIP_HINT)


def as_options(command: click.Command | None, text: str, names: Iterable[str]) -> str:
    """``text`` naming the options of ``command`` where it names the library parameters
    ``names`` (``n_folds 3`` reads ``--folds 3``); a name that is no option of
    ``command`` stays as it is."""
    for name in names:
        flags = option_flags(command, name)
        if flags is not None:
            # flags are dashes, letters and '/': nothing a replacement string escapes;
            # a '%' in them would be a format code, and there is none
            text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", flags, text)
    return text


#: errno values of an OSError that says the machine cannot take the output: EFBIG is a
#: file past ``ulimit -f`` (Python ignores SIGXFSZ) or the file system's largest file
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


def _drop_stdout() -> None:
    """Point stdout at the null device, so the interpreter's flush at exit does not
    print a second error about the output that could not be written.

    stderr too when it cannot be flushed either (``2>&1 | head``, or the JSON summary
    ``label`` writes there): its unwritten buffer would make the exit status 120.
    """
    _to_devnull(sys.stdout)
    try:
        sys.stderr.flush()
    except OSError:
        _to_devnull(sys.stderr)
    except (ValueError, AttributeError):  # closed or no stderr
        pass


def _to_devnull(stream) -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file (embedded, tests)
        pass


_LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"

#: the commands that end with a JSON summary listing the run's warnings (calibrate's,
#: train's and distill's with --json: -q hid their warnings of the thresholds, and
#: nothing carried them)
SUMMARY_COMMANDS = frozenset({"label", "taxonomy", "calibrate", "train", "distill"})


class _WarningCollector(logging.Handler):
    """Keeps the message of each warning that tagsmith logs (WARNING, not ERROR) in
    ``into``, for the JSON summary that ``label`` and ``taxonomy`` end with (and
    ``calibrate --json`` and ``train --json`` print)."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.ERROR:
            try:
                message = record.getMessage()
            except Exception:  # a bad format argument, reported as other handlers do
                self.handleError(record)
                return
            self.into.append(printable(message))


class _OnceWarnings(logging.Filter):
    """On every handler a tagsmith record passes, for one command: a warning said again,
    word for word, is dropped (shown and kept for the JSON summary once). train -p
    max_iter=1 warned "the solver stopped at max_iter=1 ..." for the fit and again for
    the refit, audit once a fold: the repeats said nothing the first had not.

    On handlers, not the ``tagsmith`` logger: a logger's filters do not see the records
    of its children (``tagsmith._numba``, ``tagsmith.store.staging``), whose repeats
    were shown and listed each time. A record is judged once, by the first handler it
    reaches, and each other handler takes that verdict, so stderr and the JSON summary
    show the same warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.verdicts: weakref.WeakKeyDictionary[logging.LogRecord, bool] = \
            weakref.WeakKeyDictionary()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or not _is_tagsmith(record):
            return True
        with self.lock:
            verdict = self.verdicts.get(record)
            if verdict is None:
                try:
                    message = record.getMessage()
                except Exception:
                    # a bad format argument: through, for logging's own report of it
                    # ('--- Logging error ---'), where it raised out of logger.warning
                    return True
                verdict = message not in self.seen
                self.seen.add(message)
                self.verdicts[record] = verdict
        return verdict


def _is_tagsmith(record: logging.LogRecord) -> bool:
    return record.name == "tagsmith" or record.name.startswith("tagsmith.")


def _not_quiet_warning(record: logging.LogRecord) -> bool:
    """A root-handler filter under ``-q``: tagsmith's warnings are logged (to be kept
    for the JSON summary), not shown."""
    return record.levelno >= logging.ERROR or not _is_tagsmith(record)


@contextmanager
def _command_logging(verbose: int, quiet: bool,
                     warnings: list[str] | None = None) -> Iterator[None]:
    """Log levels, handler and formatters for one command, and as they were before
    afterwards, also when the command fails.

    INFO is the default (it carries progress when stderr is no terminal), so ``-v`` is
    tagsmith's DEBUG, ``-vv`` everyone's and ``-q`` errors alone. Without a handler of
    its own, the root logger gets one on stderr for the command (``logging.basicConfig``);
    with one, its level is kept unless ``-vv`` or ``-q`` asks otherwise;
    every root handler formats with :class:`_PrintableFormatter` (log lines quote file
    names and texts). A program that runs :func:`main` in process keeps its own logging
    afterwards: the ``tagsmith`` logger's level, the root's, its handlers and their
    formatters.

    ``warnings`` collects the messages of tagsmith's warnings (for the JSON summary);
    under ``-q`` they are still logged, for it, but the root's handlers leave them out
    (-q hid the warning that the LLM's reliability rests on a few documents, and the
    summary did not carry it either). ``None`` (a command with no summary): none is
    kept.
    """
    tagsmith_logger, root = logging.getLogger("tagsmith"), logging.getLogger()
    saved_levels = tagsmith_logger.level, root.level
    saved_formatters = [(handler, handler.formatter) for handler in root.handlers]
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    root_level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    had_handlers = bool(root.handlers)
    logging.basicConfig(level=root_level, format=_LOG_FORMAT, stream=sys.stderr)
    if had_handlers and (quiet or verbose > 1):
        # basicConfig leaves a configured root alone: -vv and -q did nothing to the
        # libraries' messages of a program that had set up its own logging
        root.setLevel(root_level)
    added = [handler for handler in root.handlers
             if handler not in dict(saved_formatters)]
    filtered = list(root.handlers) if quiet else []
    collector = None if warnings is None else _WarningCollector(warnings)
    once = _OnceWarnings()
    if collector is not None:
        collector.addFilter(once)
    # each handler a tagsmith record passes: the collector, the tagsmith logger's own
    # (a host's) and the root's
    once_filtered = [*tagsmith_logger.handlers, *root.handlers]
    try:
        for handler in root.handlers:
            if not isinstance(handler.formatter, _PrintableFormatter):
                handler.setFormatter(_PrintableFormatter(_LOG_FORMAT))
        for handler in filtered:
            handler.addFilter(_not_quiet_warning)
        for handler in once_filtered:
            handler.addFilter(once)
        if collector is not None:
            tagsmith_logger.addHandler(collector)
        tagsmith_logger.setLevel(level)
        yield
    finally:
        for handler in once_filtered:
            handler.removeFilter(once)
        if collector is not None:
            tagsmith_logger.removeHandler(collector)
        for handler in filtered:
            handler.removeFilter(_not_quiet_warning)
        tagsmith_logger.setLevel(saved_levels[0])
        root.setLevel(saved_levels[1])
        for handler in added:
            root.removeHandler(handler)
            handler.close()  # a StreamHandler leaves its stream (stderr) open
        for handler, formatter in saved_formatters:
            handler.setFormatter(formatter)


#: the help of ``tagsmith --help``
CLI_HELP = """tagsmith: give each document a set of labels, and say how sure it is."""

#: what ``tagsmith --help`` ends with: the exit codes, which a script tells failures
#: apart by (the README alone said them)
CLI_EPILOG = """\b
Exit codes:
  0    success
  1    unexpected error (also out of memory, too many open files)
  2    bad usage or parameter
  3    bad input data (its file and line named) or an unwritable output
  4    model bundle to read missing, damaged or incompatible
  5    an optional dependency is missing
  6    the LLM endpoint failed
  129  hung up (the terminal closed), after the same clean-up as Ctrl-C
  130  interrupted (Ctrl-C)
  141  the reader of the output went away (| head)
  143  terminated (kill, timeout), after the same clean-up as Ctrl-C"""


@click.group(cls=_TagsmithGroup, context_settings={"help_option_names": ["-h", "--help"]},
             help=CLI_HELP, epilog=CLI_EPILOG)
@click.version_option(__version__, prog_name="tagsmith")
@click.option("-v", "--verbose", count=True, help="More log output: -v tagsmith's debug "
              "messages, -vv those of the libraries it uses too.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr (and the JSON "
              "summary that taxonomy and label end with, its 'warnings' listing the "
              "warnings not shown, as calibrate's, train's and distill's --json do); no "
              "progress bars.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    if quiet and verbose:
        # -q won and -v was dropped without a word, whichever came first
        raise click.UsageError("-q/--quiet and -v/--verbose contradict each other: give one")
    # for this command alone: set for good, main(["-q", ...]) in process hid the caller's
    # tagsmith warnings from then on
    # the command's warnings, for its JSON summary; kept only where there is one (every
    # command kept each warning of its run, in memory, with no end)
    warnings: list[str] | None = [] if ctx.invoked_subcommand in SUMMARY_COMMANDS else None
    ctx.with_resource(_command_logging(verbose, quiet, warnings))
    from tagsmith._surface import command_line

    # a report's notes and the readers' advice name this command line's options, where
    # a Python caller's name its parameters (AuditOptions(review_sample=N))
    ctx.with_resource(command_line())
    if ctx.invoked_subcommand and isinstance(ctx.command, click.Group):
        # the command's warnings name its options, not the library's parameters
        # on the handlers (a logger's filter sees only its own records, not its children's)
        names = _OptionNames(ctx.command.get_command(ctx, ctx.invoked_subcommand))
        handlers = [*logging.getLogger("tagsmith").handlers, *logging.getLogger().handlers]
        for handler in handlers:
            handler.addFilter(names)

        def remove() -> None:
            for handler in handlers:
                handler.removeFilter(names)
        ctx.call_on_close(remove)
    from tagsmith import progress

    # also the bars a loaded bundle's models would draw; for this command alone (set for
    # good, main(["-q", ...]) in process silenced the caller's bars from then on)
    ctx.with_resource(progress.silenced(quiet))
    # numba compiling the kernels on a first run: 36 s of silence between two rounds
    ctx.with_resource(progress.compiles_said())
    ctx.obj = {"quiet": quiet, "warnings": warnings}


def _register_commands() -> None:
    from tagsmith.cli import (  # noqa: F401  (registers the subcommands)
        commands,
        confidence,
        llm_commands,
    )

    for name in TEXT_COLUMN_COMMANDS:
        command = cli.commands[name]
        if not any(param.name == "text_columns" for param in command.params):
            bundle = next((param.opts[0] if param.name == "shortlist_bundle" else "BUNDLE"
                           for param in command.params
                           if param.name in _BUNDLE_PARAMETERS), None)
            command.params.append(_text_column_option(name, bundle=bundle))
            command.callback = _within_text_columns(command.callback)


#: the commands reading a corpus or documents from CSV or JSONL, which --text-column
#: (one option, given to the readers once: :func:`_text_column_option`) tells where the
#: text is
TEXT_COLUMN_COMMANDS = ("train", "suggest", "eval", "audit", "apply-review", "calibrate",
                        "shift", "taxonomy", "label", "distill", "zeroshot")


#: a command's parameters naming a bundle whose recorded text columns are the default of
#: --text-column: BUNDLE (or --bundle), label's --shortlist (it read the export by 'text'
#: where the bundle had been trained on its columns)
_BUNDLE_PARAMETERS = ("bundle", "shortlist_bundle")
#: where --text-column's callback leaves its columns for the command's run (ctx.meta)
_TEXT_COLUMNS_META = "tagsmith.text_columns"


def _reading_text_columns(ctx: click.Context, param: click.Parameter,
                          value: tuple[str, ...]) -> None:
    """--text-column's callback: checks the names and leaves them for the command's run
    (:func:`_within_text_columns`). It sets no reader state itself: a later option or
    argument refused while parsing would leave it set for the rest of the process (a
    context that fails to parse is never closed)."""
    if value:
        from tagsmith.data.readers import typed_text_columns
        from tagsmith.exceptions import InvalidParameterError

        for typed in value:  # the value refused, as typed (its repr doubled a backslash)
            try:
                typed_text_columns((typed,))
            except InvalidParameterError as exc:
                from tagsmith._shell import shell_word

                raise click.BadParameter(f"{exc.expected}, not --text-column "
                                         f"{shell_word(typed)}", ctx, param) from exc
        ctx.meta[_TEXT_COLUMNS_META] = typed_text_columns(value)


def _within_text_columns(callback: Callable[..., Any] | None) -> Callable[..., Any] | None:
    """``callback`` run with every corpus it reads without naming its text columns read
    from --text-column's (``reading_text_columns``), set back however it ends; without
    the option, a command's BUNDLE (or --bundle, label's --shortlist) trained with it
    reads the documents from the columns its manifest records (``training.text_columns``),
    said at INFO."""
    if callback is None:
        return None

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        columns = click.get_current_context().meta.get(_TEXT_COLUMNS_META)
        bundle = next((kwargs[name] for name in _BUNDLE_PARAMETERS
                       if isinstance(kwargs.get(name), str)), None)
        if columns is None and bundle is not None:
            from tagsmith.store.bundle import recorded_text_columns

            recorded = recorded_text_columns(bundle)
            if recorded is not None:
                return _with_bundle_columns(callback, bundle, recorded, args, kwargs)
        if columns is None:
            return callback(*args, **kwargs)
        from tagsmith.data.readers import reading_text_columns

        with reading_text_columns(columns):
            return callback(*args, **kwargs)

    return run


def _with_bundle_columns(callback: Callable[..., Any], bundle: str, columns: tuple[str, ...],
                         args: tuple, kwargs: dict) -> Any:
    """``callback`` run reading each CSV or JSONL corpus from the text ``columns`` that
    ``bundle`` was trained on, a default (a TSV corpus, a folder or a plain text file is
    read as it is); an error about them names where they came from."""
    from tagsmith.data.readers import (
        _saying_columns_read,
        pasted_text_columns,
        reading_text_columns,
    )
    from tagsmith.exceptions import CorpusFormatError, InvalidParameterError

    def said() -> None:  # once a CSV or JSONL corpus is read: not for a TSV, folder, stdin
        logging.getLogger("tagsmith").info(
            "reading the documents' text of a CSV or JSONL corpus from %s, as the bundle "
            "%s was trained (--text-column %s); --text-column names others ('text' reads "
            "'text')", ", ".join(map(repr, columns)), bundle,
            pasted_text_columns(columns))  # as pasted into a shell

    # what an error about them adds: the user gave no --text-column
    note = (f"the columns the bundle {bundle} was trained on; give --text-column to read "
            "others, --text-column text to read 'text'")
    try:
        with reading_text_columns(columns, default=True), _saying_columns_read(said):
            return callback(*args, **kwargs)
    except CorpusFormatError as exc:
        if type(exc) is not CorpusFormatError or "text_columns" not in exc.parameters:
            raise
        raise CorpusFormatError(f"{exc.reason} ({note})", path=exc.path, line=exc.line,
                                parameters=exc.parameters) from None
    except InvalidParameterError as exc:  # apply-review refusing 'text' beside others
        if type(exc) is not InvalidParameterError or exc.name != "text_columns" or \
                exc.owner is not None:
            raise
        raise InvalidParameterError(exc.name, f"{exc.expected} ({note})", exc.got) from None


def _text_column_option(command: str, *, bundle: str | None = None) -> click.Option:
    # distill's LABELS file is label's output, which holds a 'text' key: read by it always
    labels = " (not LABELS, label's output, read by its 'text')" if command == "distill" else ""
    # a command reading with a bundle reads by default the columns it was trained on
    # (_within_text_columns): "default: 'text'" alone sent a user to give them again
    # (``bundle``: how the help names it, BUNDLE or --shortlist)
    default = (f"the columns the bundle{' given to ' + bundle if bundle != 'BUNDLE' else ''} "
               "was trained on (info's training.text_columns), else 'text'") if bundle \
        else "'text'"
    return click.Option(
        ["--text-column", "text_columns"], multiple=True, metavar="NAME",
        callback=_reading_text_columns, expose_value=False,
        help="The column of a CSV corpus (key of a JSONL one) holding the documents' "
        "text, instead of 'text'; repeat it or give a comma list (--text-column "
        "subject --text-column body) to join several in that order, a blank line "
        "between them and an empty cell left out; a name holding a comma is quoted as "
        "a CSV cell is ('\"Subject, short\",body'). The columns are kept as they are "
        "(apply-review writes them back untouched). Applies to every CSV or JSONL "
        f"corpus the command reads{labels}: one with none of these columns and a "
        "'text' of its own is read by its 'text' (a TSV corpus, a folder or a plain "
        f"text file refuses the option); default: {default}.")



_FREEZE_REGISTERED = False


def _freeze_at_exit() -> None:
    """:func:`gc.freeze` at the interpreter's exit, registered once a process: the
    objects left then are not traversed by its last collections."""
    global _FREEZE_REGISTERED
    if not _FREEZE_REGISTERED:
        import atexit
        import gc

        atexit.register(gc.freeze)
        _FREEZE_REGISTERED = True


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point. Called in process (``tagsmith.cli.main([...])``), it
    leaves ``sys.stdout`` and ``sys.stderr`` as they were when it returns: a host
    program kept a stdout made UTF-8 or writing escapes
    (:func:`_escape_what_stdout_cannot_encode`) after it."""
    stdout, stderr = sys.stdout, sys.stderr
    settings = (getattr(stdout, "encoding", None), getattr(stdout, "errors", None))
    _STDOUT_ESCAPES["warned"] = False  # its warning once a call, not once a process
    from tagsmith import progress

    global _last_kill
    hosts_bars = progress.open_bars()
    _last_kill = None
    try:
        _main(argv)
    finally:
        if argv is None and _last_kill is not None:
            # the process's own command, stopped by kill: it ends by the deadline, also
            # where a worker thread it left would keep the interpreter at exit
            _end_by_the_deadline(_last_kill)
        if argv is None:
            # the process's own command: what it leaves in reference cycles (a label
            # --budget run's pool features, students and vocabularies, hundreds of MB)
            # is not traversed and freed by the interpreter's last collections, which
            # took 2-15 s after the JSON summary. Frozen at the interpreter's exit
            # (atexit), not here: a host calling main() with no arguments (runpy,
            # IPython's %run -m, a wrapper catching SystemExit) keeps collecting until
            # it ends. Files and the response cache are closed by the commands
            # themselves; stdout and stderr are flushed by the interpreter as before
            _freeze_at_exit()
        # no bar of the command left open: one in a generator a stop left suspended, and
        # a host program kept (holding the stop's exception), counted as open for good
        progress.close_bars(keep=hosts_bars)
        # the null device in place of a closed stdout or stderr (_main and
        # _hold_closed_descriptors)
        for name, stream in (("stdout", stdout), ("stderr", stderr)):
            if getattr(sys, name) is not stream:
                try:
                    getattr(sys, name).close()
                except (AttributeError, OSError, ValueError):
                    pass
                setattr(sys, name, stream)
        if (getattr(stdout, "encoding", None), getattr(stdout, "errors", None)) != settings:
            try:
                stdout.reconfigure(encoding=settings[0],  # type: ignore[union-attr]
                                   errors=settings[1])
            except (AttributeError, OSError, ValueError):  # closed
                pass


def _main(argv: list[str] | None) -> None:
    color = _color()
    _hold_closed_descriptors()
    try:
        # numpy, imported here, is the first library an address-space limit stops:
        # `ulimit -v 60000 tagsmith vocab V` was an ImportError traceback. First: a
        # closed stdout is judged by the command the words parse to
        _register_commands()
    except (MemoryError, ImportError) as exc:
        _said_before_any_command(exc, color)
    if sys.stdout is None and _product_is_a_file(sys.argv[1:] if argv is None else argv):
        # its stdout lines are a summary of the file it writes: `train ... -o B >&-`
        # was refused with the rest, where it wrote its bundle before
        import os

        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    if sys.stdout is None:
        # ``>&-``: suggest died in an AttributeError traceback, and vocab or info said
        # nothing and exited 0, their output lost
        closed = DataError("cannot be written (it is closed; give >/dev/null to drop "
                           "the output)", path="stdout")
        click.secho(f"error: {closed}", fg="red", err=True, color=color)
        sys.exit(closed.exit_code)
    _escape_what_stdout_cannot_encode()
    with _terminate_as_interrupt():
        try:
            cli.main(args=argv, prog_name="tagsmith", color=color)
        except (MemoryError, ImportError, OSError) as exc:
            # out of click's parsing: ``tagsmith --help`` to a full disk was an
            # OSError traceback
            _said_before_any_command(exc, color)


#: the commands whose product is a file they write, their stdout a summary of it (run
#: with a closed stdout, ``>&-``, that summary goes to the null device); the others'
#: product is stdout, refused closed
FILE_COMMANDS = frozenset({"train", "calibrate", "audit", "apply-review", "label",
                           "taxonomy", "distill"})

#: the names of stdout as a path to write (``label -o /dev/stdout``)
_STDOUT_PATHS = frozenset({"/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"})

#: the options of :data:`FILE_COMMANDS` that name a file they write: only these make
#: stdout the product when they name it (``-p /dev/stdout`` or ``--vocab /dev/stdout``
#: is no output, and is refused for what it is)
_OUTPUT_OPTIONS = frozenset({"output", "skos", "reliability_png"})


def _product_is_a_file(args: Sequence[str]) -> bool:
    """Whether the command line ``args`` (after ``tagsmith``) runs one of
    :data:`FILE_COMMANDS` writing no file to stdout and asking for no help: the group's
    own options take no value, so its first word that is no option names the command;
    the rest is parsed as the command parses it (its options' values, its help
    option), with the commands registered; a value naming stdout counts in the options
    naming outputs only (:data:`_OUTPUT_OPTIONS`). Words were read alone: a corpus
    named ``-h`` (``train -- -h ...``) or ``/dev/fd/1``, or ``-p x=-h``, was taken for
    help or stdout and the run refused.

    >>> _register_commands()
    >>> _product_is_a_file(["-q", "train", "c.tsv", "-o", "m"])
    True
    >>> [_product_is_a_file(args) for args in (["vocab", "v.tsv"], ["train", "--help"],
    ...  ["label", "c.tsv", "-o/dev/stdout"], ["taxonomy", "c", "--skos=/dev/fd/1"])]
    [False, False, False, False]
    >>> [_product_is_a_file(args) for args in (["train", "--", "-h", "-o", "m"],
    ...  ["train", "/dev/fd/1", "-o", "m"], ["train", "c.tsv", "-o", "m", "-p", "x=-h"],
    ...  ["train", "c.tsv", "-o", "m", "-p", "/dev/stdout"])]
    [True, True, True, True]
    """
    import os

    words = [str(word) for word in args]
    command = next((i for i, word in enumerate(words) if not word.startswith("-")), None)
    if command is None or "--" in words[:command] or words[command] not in FILE_COMMANDS:
        return False
    group = click.Context(cli, info_name="tagsmith", resilient_parsing=True,
                          **cli.context_settings)
    sub = cli.get_command(group, words[command])
    if sub is None:  # not registered: the words alone cannot tell
        return False
    ctx = click.Context(sub, info_name=words[command], parent=group, resilient_parsing=True)
    try:
        given, _, _ = sub.make_parser(ctx).parse_args(words[command + 1:])
    except click.UsageError:  # the command says what is wrong, on stderr
        return True
    names = set(ctx.help_option_names)
    for param in sub.get_params(ctx):
        if not isinstance(param, click.Option) or param.name not in given:
            continue
        if param.is_eager and names & set(param.opts):
            return False  # its help: stdout's
        if param.name not in _OUTPUT_OPTIONS:
            continue
        values = given[param.name]
        for value in values if isinstance(values, (list, tuple)) else [values]:
            if isinstance(value, str) and value and os.path.normpath(value) in _STDOUT_PATHS:
                return False
    return True


def _said_before_any_command(exc: MemoryError | ImportError | OSError,
                             color: bool | None) -> NoReturn:
    """Say ``exc``, raised before any command ran, as one line and exit, where it is
    running out of memory or an output that cannot be written; else raise it again."""
    if _memory_ran_out(exc):
        click.secho(f"error: {_out_of_memory(exc)}", fg="red", err=True, color=color)
        sys.exit(EXIT_OUT_OF_MEMORY)
    if not isinstance(exc, OSError) or exc.errno not in _ENVIRONMENT_ERRNOS:
        raise exc
    click.secho(f"error: {_output_failed(exc)}", fg="red", err=True, color=color)
    sys.exit(1)


def _color() -> bool | None:
    """False where the environment asks for no colours: ``NO_COLOR`` set and not empty
    (https://no-color.org) or ``TERM=dumb``; None (click's choice: colours on a
    terminal) otherwise. The red ``error:`` and yellow ``warning:`` ignored both."""
    import os

    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return None


def _hold_closed_descriptors() -> None:
    """Open the null device on each of the descriptors 0, 1 and 2 that is closed
    (``<&-``, ``>&-``, ``2>&-``), and make a closed stderr write there.

    A closed descriptor is the lowest free one: the next file opened (a corpus being
    read, the bundle being written) took it, and whatever wrote to it as stdout or
    stderr, a library's C code included, wrote into that file. ``sys.stdin`` and
    ``sys.stdout`` stay None, refused where they are needed; a closed stderr (its
    messages unwanted) ended every command that shows progress in an AttributeError
    traceback nobody saw, exit code 1.
    """
    import os

    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest closed descriptor
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")


#: what :func:`_escape_what_stdout_cannot_encode` has done in this process
_STDOUT_ESCAPES = {"warned": False}


def _escape_what_stdout_cannot_encode() -> None:
    r"""Where stdout's encoding cannot write every character (``PYTHONIOENCODING=latin-1``,
    a latin-1 locale with ``PYTHONUTF8=0``), write those it cannot as Python's ``\u``
    escapes, with one warning, instead of ending in a UnicodeEncodeError traceback at
    the first Chinese label or emoji. JSON output is written with its own ``\u``
    escapes there (:func:`print_json`), which any JSON reader decodes.

    An ASCII stdout (the C or POSIX locale with ``PYTHONUTF8=0``) is made UTF-8, its
    surrogate escapes kept: click wrote UTF-8 to it anyway, but with "replace", so a file
    name's bytes that the locale could not decode (``kissa_鸟.txt``, a document's id)
    were written as '?', where the surrogate escapes now write them back as they were.
    """
    import codecs

    stream = sys.stdout
    encoding = getattr(stream, "encoding", None)
    try:
        ascii_only = isinstance(encoding, str) and codecs.lookup(encoding).name == "ascii"
    except LookupError:
        return
    if ascii_only:
        try:
            # errors given again: reconfigure(encoding=...) alone makes them "strict";
            # a strict ASCII stdout (PYTHONIOENCODING=ascii) gets click's "replace"
            errors = getattr(stream, "errors", None)
            stream.reconfigure(encoding="utf-8",  # type: ignore[union-attr]
                               errors="replace" if errors in (None, "strict") else errors)
        except (AttributeError, ValueError, OSError):  # not a TextIOWrapper, or closed
            pass
        return
    if _encodes(stream, "\U0010ffff", strict=True) or getattr(stream, "errors", None) != "strict":
        return

    def escape(exc: UnicodeError) -> tuple[str | bytes, int]:
        if isinstance(exc, UnicodeEncodeError) and not _STDOUT_ESCAPES["warned"]:
            _STDOUT_ESCAPES["warned"] = True
            first = exc.object[exc.start]
            escaped = first.encode("ascii", "backslashreplace").decode("ascii")
            warn(f"stdout's encoding, {exc.encoding}, cannot write U+{ord(first):04X}: it "
                 f"and every other such character are written as Python escapes "
                 f"({escaped}); set PYTHONIOENCODING=utf-8 to have them as they are")
        return codecs.backslashreplace_errors(exc)

    codecs.register_error("tagsmith-stdout", escape)
    try:
        stream.reconfigure(errors="tagsmith-stdout")  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):  # not a TextIOWrapper, or closed
        pass


def _encodes(stream: object, text: str, *, strict: bool = False) -> bool:
    r"""Whether ``stream``'s encoding can write ``text`` (True for a stream that names
    no encoding, or an encoding Python does not know): with the error handler the
    stream has where it writes a file name's bytes that the locale could not decode
    back as they were (surrogate escapes) or as JSON reads them (``backslashreplace``,
    stderr's: ``\udcff``; a UTF-8 stderr's JSON summary naming such a file was all
    ``\u`` escapes); ``strict`` (or any other handler): the encoding's own."""
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return True
    errors = getattr(stream, "errors", None)
    if strict or errors not in ("surrogateescape", "backslashreplace"):
        errors = "strict"
    try:
        text.encode(encoding, errors)
    except UnicodeEncodeError:
        return False
    except LookupError:
        return True
    return True


def miss_rate(ctx: click.Context, param: click.Parameter,
              value: float | tuple[float, ...] | None) -> float | tuple[float, ...] | None:
    """A click callback for ``--alpha`` (one value, several or None): each in (0, 1),
    refused naming the option before any work (the library's check named 'alpha' and
    ran only once there was a document to build a set for)."""
    values = value if isinstance(value, tuple) else (value,)
    for one in values:
        if one is not None and not 0.0 < one < 1.0:  # NaN fails the comparison
            raise click.BadParameter(f"expected a number in (0, 1), got {one!r}", ctx=ctx,
                                     param=param)
    return value


def ranking_ks(ctx: click.Context, param: click.Parameter,
               value: tuple[str, ...]) -> tuple[int, ...]:
    """A click callback for ``eval --k`` (repeatable, each a comma-separated list):
    the k of the ranking metrics, in the order given, each once; ``()`` where none is
    given (the caller's default). A value other than whole numbers >= 1 is refused
    naming the option before the bundle is loaded.

    >>> ranking_ks(None, None, ("1,3,5", "10", "5"))
    (1, 3, 5, 10)
    """
    ks: list[int] = []
    for given in value:
        for part in given.split(","):
            text = part.strip()
            try:
                k = int(text) if text.isascii() and text.isdigit() else 0
            except ValueError:  # more digits than int() reads (4,300): a traceback
                k = 0
            if k < 1:
                raise click.BadParameter(
                    f"expected whole numbers >= 1, comma-separated or the option repeated "
                    f"(--k 1,3,5,10), got {given!r}", ctx=ctx, param=param)
            if k not in ks:
                ks.append(k)
    return tuple(ks)


def _limit(value: float) -> str:
    """A bound as ``--help`` writes it: a whole number in digits (``1000000000``, where
    ``:g`` wrote ``1e+09`` of the one ``--help`` and README said in digits), else ``:g``.

    >>> _limit(10 ** 9), _limit(1.0), _limit(-1.5), _limit(0.05)
    ('1000000000', '1', '-1.5', '0.05')
    """
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _number(value: float) -> str:
    """A refused option value in the digits form of the bound beside it: a whole number
    in digits (``--price-prompt 1e10`` said ``got 10000000000.0`` of the cap
    ``1000000000``), else as Python writes it back (``1000000000.5``, ``nan``, ``1e+20``).

    >>> _number(1e10), _number(-5.0), _number(2.5), _number(float("nan")), _number(1e20)
    ('10000000000', '-5', '2.5', 'nan', '1e+20')
    >>> _number(1e15), _number(1e16)  # digits wherever Python writes no exponent
    ('1000000000000000', '1e+16')
    """
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else repr(value)


def finite_number(minimum: float | None = None, maximum: float | None = None,
                  min_open: bool = False, max_open: bool = False
                  ) -> Callable[[click.Context, click.Parameter, float | None], float | None]:
    """A click callback accepting a finite number within [minimum, maximum] (or None;
    ``min_open``: above minimum, as the option's ``click.FloatRange(min_open=True)``;
    ``max_open``: below maximum).

    ``click.FloatRange`` lets NaN through (every comparison with it is false), and a
    NaN threshold silently keeps nothing; this refuses it, naming the option.
    """
    import math

    def check(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
        if value is None:
            return None
        low = -math.inf if minimum is None else minimum
        high = math.inf if maximum is None else maximum
        if (not math.isfinite(value) or not low <= value <= high
                or (min_open and value == low) or (max_open and value == high)):
            if minimum is not None and maximum is not None:
                # it said "[0, 1]" of NaN for a range open at 0
                expected = (f"a number in {'(' if min_open else '['}{_limit(minimum)}, "
                            f"{_limit(maximum)}{')' if max_open else ']'}")
            elif minimum is not None:
                expected = f"a finite number {'>' if min_open else '>='} {_limit(minimum)}"
            else:
                expected = "a finite number" if maximum is None \
                    else f"a finite number {'<' if max_open else '<='} {_limit(maximum)}"
            raise click.BadParameter(f"expected {expected}, got {_number(value)}", ctx=ctx,
                                     param=param)
        return value

    return check


def language_code(ctx: click.Context, param: click.Parameter, value: str | None
                  ) -> str | None:
    """A click callback for every ``--lang``: a language tag in BCP 47's case
    (:func:`~tagsmith._params.check_language`: ``EN`` is ``en``, ``pt-br`` ``pt-BR``),
    else refused before any work naming ``--lang`` (``suggest --lang ""`` was taken, and
    each name fell back to another language; ``en us`` and ``pt_BR`` were taken
    outside ``taxonomy``; ``--lang EN`` changed the taxonomy prompts and cache keys)."""
    if value is None:
        return value
    from tagsmith._params import check_language

    return check_language("lang", value)


def json_lines_as_json(ctx: click.Context, param: click.Parameter, value: str | None
                       ) -> str | None:
    """A click callback for ``suggest`` and ``zeroshot``'s ``--format``: ``jsonl`` is
    ``json``'s other name, both writing JSON Lines (one object a line); it was refused,
    where ``audit --review-format`` says ``jsonl`` for the same kind of output."""
    return "json" if value == "jsonl" else value


def a_path(ctx: click.Context, param: click.Parameter, value: str | tuple[str, ...] | None
           ) -> str | tuple[str, ...] | None:
    """A click callback for a file or folder argument or option: an empty name ("", a
    shell variable left unset) refused naming it. ``--dev ""`` was taken as no --dev
    (thresholds tuned on a split of CORPUS instead, without a word), ``-o ""`` wrote
    the bundle into the current folder and reported ``-> `` (nothing), and an empty
    CORPUS or VOCAB was refused as '.' or ': no documents'."""
    names = value if isinstance(value, tuple) else (value,)  # FILES: each of them
    if any(name is not None and not name for name in names):
        raise click.BadParameter("expected a file or folder name, got an empty one",
                                 ctx=ctx, param=param)
    if value == "-":  # FILES and --background (tuples) read stdin for '-'; nothing else
        what, stream = _PATH_ROLES.get(param.name or "", _ANY_PATH)
        if param.name == "corpus" and ctx.command.name not in _TEXT_CORPUS_COMMANDS:
            what = "a labelled corpus file"  # train, eval, audit, apply-review
        spelled = "/".join(param.opts) if isinstance(param, click.Option) \
            else param.human_readable_name
        raise click.BadParameter(f"'-' {stream} here: {spelled} is {what}",
                                 ctx=ctx, param=param)
    return value


def a_cache_dir(ctx: click.Context, param: click.Parameter, value: str | None
                ) -> str | None:
    """A click callback for ``--cache-dir`` (zeroshot, label, taxonomy): '-' refused as
    :func:`a_path` refuses it (it was taken as a folder named '-', and zeroshot cached
    its label embeddings there); an empty name stays, meaning no cache."""
    if value == "-":
        return a_path(ctx, param, value)  # type: ignore[return-value]
    return value


_READ = "(stdin) is not read"
_WRITTEN = "(stdout) is not written"
_ANY_PATH = ("a file or folder name", _READ)
#: what each single file or folder parameter (by its name) is, for :func:`a_path`'s
#: refusal of '-': only the document FILES (and zeroshot --background) read stdin, and
#: a '-' given elsewhere was looked for as a file ("-: file not found", "-: no such
#: model bundle", naming no argument or option) or written as one (``train -o -``
#: saved the bundle into a folder named '-')
#: the commands whose CORPUS may be a text file with one document per line (unlabelled):
#: ``train -`` was told so of its CORPUS, which takes labels
_TEXT_CORPUS_COMMANDS = frozenset({"taxonomy", "label"})
#: the vocabulary formats every --vocab (and ``vocab``, ``--map-to``) reads, as their
#: help names them: it named TSV, CSV and SKOS alone, not the .txt list nor Google's
VOCAB_FORMATS = "TSV, CSV, SKOS, a .txt list or Google's product taxonomy"

_PATH_ROLES: dict[str, tuple[str, str]] = {
    "corpus": ("a corpus file (or a text file with one document per line); save the "
               "documents to a file and give its name", _READ),
    "labels": ("a file (the JSONL `tagsmith label` wrote)", _READ),
    "dev": ("a labelled corpus file", _READ),
    "tune_on": ("a labelled corpus file", _READ),
    "labels_before": ("a labelled corpus file", _READ),
    "data": ("a labelled corpus file", _READ),
    "human": ("a human-labelled corpus file", _READ),
    "review": ("the review file (from audit)", _READ),
    "decide_from": ("a label file (the JSONL `tagsmith label` wrote)", _READ),
    "sample_file": ("the reviewed sample file (from audit --review-sample)", _READ),
    "report": ("the audit's report.json", _READ),
    "vocab": (f"a vocabulary file ({VOCAB_FORMATS})", _READ),
    "map_to": (f"a vocabulary file ({VOCAB_FORMATS})", _READ),
    "extend": (f"a vocabulary file ({VOCAB_FORMATS})", _READ),
    "bundle": ("a model bundle folder (from train)", _READ),
    "shortlist_bundle": ("a model bundle folder (from train)", _READ),
    "baseline": ("a model bundle folder (from train)", _READ),
    "output": ("the file or folder written", _WRITTEN),
    "student": ("a model bundle folder to save", _WRITTEN),
    "skos": ("a Turtle file to write", _WRITTEN),
    "reliability_png": ("a .png file to write", _WRITTEN),
    "results_file": ("a file to write", _WRITTEN),
    "cache": ("the SQLite response cache file, read and written",
              "(stdin or stdout) is not used"),
    "cache_dir": ("the folder of the label embeddings cache ('' for none)",
                  "(stdin or stdout) is not used"),
}


def refuse_unused(needs: str, present: bool, *options: str) -> None:
    """A :class:`click.UsageError` when any of ``options`` (parameter names: options, or
    an argument such as FILES) was given on the command line although ``needs`` (an
    option, or a description) is absent: an option that would be silently ignored is a
    mistake worth saying so. Every command words it alike: ``--alpha and
    --min-confidence only apply with --sets``."""
    if present:
        return
    ctx = click.get_current_context()
    params = {param.name: param for param in ctx.command.params}
    given = [name for name in options if given_on_command_line(name)]
    if given:
        raise click.UsageError(only_applies([_spelled(params[name]) for name in given], needs))


def given_on_command_line(name: str) -> bool:
    """Whether the current command's parameter ``name`` was given by the user (on the
    command line, or its environment variable), not left at its default."""
    return click.get_current_context().get_parameter_source(name) in (
        click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)


def _spelled(param: click.Parameter) -> str:
    """An option as its flags (``-p/--param``), an argument as its metavar (``FILES``)."""
    if isinstance(param, click.Option):
        return "/".join(param.opts)
    return param.human_readable_name


def only_applies(given: list[str], needs: str) -> str:
    """``--a only applies with NEEDS``, ``--a, --b and --c only apply with NEEDS``."""
    names = given[0] if len(given) == 1 else f"{', '.join(given[:-1])} and {given[-1]}"
    return f"{names} only appl{'ies' if len(given) == 1 else 'y'} with {needs}"


def warn(message: str) -> None:
    """Log ``MESSAGE`` as a warning of the ``tagsmith`` logger: on stderr as every other
    warning of the run (``2026-... WARNING MESSAGE``), unless ``-q`` asked for errors
    only; kept for the command's JSON summary (its ``warnings``) either way.

    Printed as ``warning: MESSAGE`` before, with no time, the two forms read side by
    side in one run (``WARNING calibrating on only 12 held-out documents`` then
    ``warning: --calibration-fraction: alpha 0.1 is below ...``)."""
    logging.getLogger("tagsmith").warning("%s", message)


def warn_alpha_too_small(conformal: ConformalModel, alphas: Sequence[float],
                         option: str, calibration: dict | None = None) -> None:
    """Warn, naming ``option``, of each alpha in ``alphas`` below what the conformal
    documents of ``conformal`` allow for the recall or mondrian sets (every such set is
    then every label, or its whole band): calibrate, train and eval alike (LP-ICP's
    sets are left out, as they are from every one of them).

    ``calibration``: the report of the calibration just fitted (its ``conformal``
    part), where its warning of sets too wide to use fired: that warning said the
    figures of the calibrated alpha (its smallest alpha, the documents it needs), and
    they are not said twice (a support team's 40 tickets read the same 4 documents
    and the same remedies in two warnings). A band without documents is still said."""
    said = calibration is not None and bool(calibration.get("too_wide_warned"))
    for alpha in alphas:
        for set_method in ("recall", "mondrian"):
            if (said and alpha == conformal.alpha
                    and conformal.alpha_floor(alpha, set_method) is not None):
                continue
            too_small = conformal.alpha_too_small(alpha, set_method)
            if too_small:
                warn(f"{option}: {too_small}")


def warn_unnamed_language(space: LabelSpace, lang: str, option: str = "--lang") -> None:
    """Log one warning when labels of ``space`` have names but none in ``lang`` (nor a
    variant of it): each name then falls back to another language, and a mistyped or
    absent ``--lang fr`` went unnoticed. Every command that names labels calls it for
    any ``--lang``, the default ``en`` too (``calibrate`` and ``eval`` skipped ``en``,
    so a bundle named in Finnish alone was shown in Finnish without a word where
    ``suggest`` said so)."""
    from tagsmith.data.labelspace import names_instead, unnamed_in

    languages = unnamed_in(space, lang)
    if not languages:
        return
    # LabelSpace.name_of: a label's English name, else its first
    logging.getLogger("tagsmith").warning("no label has a name in language %r (%s): %s",
                                          lang, option, names_instead(languages))


def warn_english_encoder(space: LabelSpace, lang: str) -> None:
    """Log one warning when ``lang`` is not English and labels of ``space`` (deprecated
    ones left out) are named in it: the packaged encoder that ``zeroshot`` and ``label
    --shortlist-zeroshot`` match them with was trained on English, and on other
    languages is little better than chance (README), where ``--lang de`` over STW's
    German names said nothing. The warning says how many of the labels have English
    names (``--lang en`` encodes those), else to label a sample with an LLM. A ``lang`` no
    label is named in falls back to other names, which :func:`warn_unnamed_language`
    says instead."""
    from tagsmith._plural import plural
    from tagsmith.data.labelspace import in_language

    if lang.lower().split("-")[0] == "en":
        return
    live = [label for label, dead in zip(space, space.deprecated_mask, strict=True) if not dead]
    if not any(in_language(label.pref_labels, lang) for label in live):
        return
    n_english = sum(1 for label in live if in_language(label.pref_labels, "en"))
    # of how many: "89 labels have English names" left a EUROVOC-style thesaurus's user
    # to guess whether that was most of them or a few
    n_other = len(live) - n_english
    # "all 2 labels of the vocabulary" of a vocabulary of 3, one deprecated, read as false
    deprecated = " (deprecated ones left out)" if len(live) < len(space) else ""
    if not n_english:
        instead = ("the vocabulary has no English names: label a sample with an LLM "
                   "(tagsmith label) and train on it")
    elif not n_other:
        instead = (f"all {n_english:,} labels of the vocabulary{deprecated} have English "
                   "names: --lang en encodes them" if n_english > 1 else
                   f"its 1 label{deprecated} has an English name: --lang en encodes it")
    else:
        instead = (f"{n_english:,} of the vocabulary's {len(live):,} labels{deprecated} "
                   + plural(n_english, "has an English name: --lang en encodes it",
                            "have English names: --lang en encodes them")
                   + f", and the other {n_other:,} by "
                   + plural(n_other, "its name in another language",
                            "their names in other languages"))
    logging.getLogger("tagsmith").warning(
        "--lang %s: the zero-shot encoder (all-MiniLM-L6-v2) was trained on English: it "
        "matches label names in %r to documents little better than chance (P@1 0.31 on a "
        "German test set with German names); %s", lang, lang.lower(), instead)


#: C0 controls, DEL and C1 controls: what a terminal may take for (part of) an escape
#: sequence (ESC starts CSI/OSC sequences, U+009B is an 8-bit CSI, U+009D an 8-bit OSC)
# and a lone surrogate left by printable()'s _name_bytes (one that is no byte)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_NO_LAYOUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED_CONTROLS = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: a file name's bytes that are not in the locale's encoding, as Python reads them
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: a run of them that stands for bytes (surrogateescape: U+DC80-U+DCFF, 0x80-0xff);
#: another surrogate is escaped \uXXXX
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")


def _escape_control(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if code >= 0xd800:  # a lone surrogate that stands for no byte of a name
        return f"\\u{code:04x}"
    return _NAMED_CONTROLS.get(char) or f"\\x{code:02x}"


def _name_bytes(text: str) -> str:
    r"""``text`` with the bytes of a file name that Python read as lone surrogates
    (surrogateescape) decoded as UTF-8 where they are (a UTF-8 name read in a POSIX
    locale: written back as it was) and written ``\xNN`` where they are not, as
    :func:`~tagsmith.data.readers.document_id` writes them (stderr wrote "\udce9")."""
    return _ESCAPED_BYTES.sub(lambda run: bytes(ord(c) - 0xdc00 for c in run.group())
                              .decode("utf-8", "backslashreplace"), text)


def printable(value: object, *, keep_layout: bool = False) -> str:
    r"""``str(value)`` safe to print on a terminal: every C0 control character, DEL and
    every C1 control character written as an escape (``\x1b``, ``\t``), so label names,
    document ids, texts and LLM answers from files or servers cannot move the cursor,
    retitle the window or hide output. Tab and newline are escaped too (one value stays
    one TSV field on one line) unless ``keep_layout`` (whole messages).

    >>> printable("a\x1b]0;pwned\x07\tb\x9b")
    'a\\x1b]0;pwned\\x07\\tb\\x9b'
    >>> printable("two\nlines\x1b", keep_layout=True)
    'two\nlines\\x1b'

    A file name's bytes that are not UTF-8 (lone surrogates, as Python reads them) are
    written ``\xNN``, as :func:`~tagsmith.data.readers.document_id` writes them:

    >>> import os
    >>> printable(os.fsdecode(b"docs/caf\xe9.txt: not valid UTF-8"))
    'docs/caf\\xe9.txt: not valid UTF-8'
    >>> printable("caf\udcc3\udca9 \ud800")  # UTF-8 bytes read as surrogates: as they were
    'café \\ud800'
    """
    pattern = _CONTROL_NO_LAYOUT if keep_layout else _CONTROL
    text = str(value)
    if _LONE_SURROGATE.search(text) is not None:
        text = _name_bytes(text)
    return pattern.sub(_escape_control, text)


_TSV_SPECIAL = re.compile(r"[\\\x00-\x1f\x7f-\x9f]")


def tsv_field(value: object) -> str:
    r"""``str(value)`` as one field of a TSV row (``suggest`` and ``zeroshot --format
    tsv``): :func:`printable`, and each backslash doubled too, so that the escapes read
    back: a label holding a backslash and a ``t`` is written ``\\t``, a tab ``\t`` (as
    linear TSV, PostgreSQL's ``COPY`` text format, has it).

    >>> print(tsv_field("a\tb"), tsv_field(r"a\tb"), tsv_field("C:\\x\x1b"))
    a\tb a\\tb C:\\x\x1b
    """
    return _TSV_SPECIAL.sub(
        lambda match: "\\\\" if match.group() == "\\" else _escape_control(match), str(value))


def json_text(obj: object, *, indent: int | None = None, ascii: bool = False) -> str:
    r"""``obj`` as strict JSON (non-ASCII kept, or with ``ascii`` written as ``\u``
    escapes, a pair for a character past U+FFFF) with DEL and C1 controls written as
    ``\u`` escapes as well: :func:`json.dumps` escapes C0 controls only. A float JSON
    cannot hold is written as a string (see :mod:`tagsmith._json`): the manifest of a
    bundle an older tagsmith saved with ``-p C=Infinity`` holds the float, and
    ``info --json`` wrote the bare token ``Infinity``, which jq refuses.

    >>> json_text({"name": "a\x1b\x9b"})
    '{"name": "a\\u001b\\u009b"}'
    >>> json_text({"C": float("inf")})
    '{"C": "Infinity"}'
    """
    text = json_dumps(obj, ensure_ascii=ascii, indent=indent)
    return re.sub("[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text)


def print_json(obj: object, *, indent: int | None = None, err: bool = False) -> None:
    """``obj`` as :func:`json_text` on stdout (``err``: stderr), non-ASCII characters
    as ``\\u`` escapes where the stream's encoding cannot write every character (a
    latin-1 stdout ended in a UnicodeEncodeError traceback at the first Chinese label):
    all of them, so that the JSON is ASCII, which a reader decoding UTF-8 reads (a
    latin-1 label alone was written as its latin-1 byte, which jq read as U+FFFD)."""
    stream = sys.stderr if err else sys.stdout
    text = json_text(obj, indent=indent)
    # every character strictly (a latin-1 stderr's backslashreplace would write an emoji
    # as \U0001f431, no JSON), and the text with the stream's own handler: a UTF-8
    # stream's writes a surrogate escape as JSON does, or back as the byte it was
    if not _encodes(stream, "\U0010ffff", strict=True) or not _encodes(stream, text):
        text = json_text(obj, indent=indent, ascii=True)
    click.echo(text, err=err)


#: where ``--vocab-type``, ``--vocab-scheme`` and ``--vocab-prefix`` are kept in the
#: command's context
_VOCAB_SELECTION = "tagsmith.vocab_selection"


def _keep_selection(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
                    ) -> tuple[str, ...]:
    if any(not item.strip() for item in value):  # a shell variable left unset
        raise click.BadParameter("expected a class, scheme or URI prefix, got an empty value",
                                 ctx=ctx, param=param)
    ctx.meta.setdefault(_VOCAB_SELECTION, {})[
        {"vocab_type": "types", "vocab_scheme": "schemes"}.get(param.name or "", "prefixes")
    ] = tuple(value)
    return value


def vocab_selection(command: Callable[..., Any] | None = None, *, param: str = "vocab",
                    option: str = "--vocab") -> Any:
    """Decorate a command whose vocabulary argument or option is ``param`` (``option``
    on the command line; ``taxonomy``'s ``--map-to``) with
    ``--vocab-type`` and ``--vocab-scheme`` (repeatable), which keep the concepts of a
    SKOS vocabulary of those classes and schemes, and ``--vocab-prefix``, which keeps
    the labels of any vocabulary whose URI starts so, wherever the command reads it
    (:func:`load_selected_vocabulary`). Given with no vocabulary, they are refused."""
    if command is None:
        return functools.partial(vocab_selection, param=param, option=option)

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        given = selection_given()
        if any(given.values()) and not kwargs.get(param):
            selecting = ("--vocab-type" if given["types"] else "--vocab-scheme"
                         if given["schemes"] else "--vocab-prefix")
            raise click.UsageError(f"{selecting} selects the labels of {option} VOCAB, "
                                   f"and no {option} was given")
        return command(*args, **kwargs)

    help_type = ("Keep only VOCAB's concepts of this class (rdf:type, or a subclass "
                 "of it), a SKOS file's: a <URI>, a URI, a CURIE of its prefixes "
                 "(zbwext:Descriptor) or a local name (Descriptor). Repeat for several.")
    help_scheme = ("Keep only VOCAB's concepts in this concept scheme (skos:inScheme), a "
                   "SKOS file's, named as --vocab-type's classes. Repeat for several.")
    help_prefix = ("Keep only VOCAB's labels whose URI starts with this (any format: "
                   "http://zbw.eu/stw/descriptor/). Repeat for several.")
    checked = click.option("--vocab-prefix", "vocab_prefix", multiple=True,
                           expose_value=False, callback=_keep_selection, metavar="URI",
                           help=help_prefix)(checked)
    checked = click.option("--vocab-scheme", "vocab_scheme", multiple=True, expose_value=False,
                           callback=_keep_selection, metavar="SCHEME",
                           help=help_scheme)(checked)
    return click.option("--vocab-type", "vocab_type", multiple=True, expose_value=False,
                        callback=_keep_selection, metavar="CLASS", help=help_type)(checked)


def selection_given() -> dict[str, tuple[str, ...]]:
    """The command's ``--vocab-type``, ``--vocab-scheme`` and ``--vocab-prefix`` values
    (none outside a command), as :func:`~tagsmith.data.vocab.load_vocabulary`'s
    ``types``, ``schemes`` and ``prefixes``."""
    ctx = click.get_current_context(silent=True)
    kept = ctx.meta.get(_VOCAB_SELECTION, {}) if ctx is not None else {}
    return {"types": kept.get("types", ()), "schemes": kept.get("schemes", ()),
            "prefixes": kept.get("prefixes", ())}


def load_selected_vocabulary(path: str, **kwargs: Any) -> Any:
    """:func:`~tagsmith.data.vocab.load_vocabulary` of ``path`` keeping the concepts
    the command's ``--vocab-type``, ``--vocab-scheme`` and ``--vocab-prefix`` select."""
    from tagsmith.data.vocab import load_vocabulary

    given = selection_given()
    space = load_vocabulary(path, **kwargs, types=given["types"], schemes=given["schemes"],
                            prefixes=given["prefixes"])
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # the classes and schemes named, for selection_resolved
        ctx.meta[_VOCAB_RESOLVED] = dict(space.selection)
    return space


#: ``ctx.meta`` key of the selection :func:`load_selected_vocabulary` resolved
_VOCAB_RESOLVED = "tagsmith.vocab_selection_resolved"


def selection_resolved() -> dict[str, tuple[str, ...]] | None:
    """The URIs of the classes and schemes (``types``, ``schemes``) the command's
    ``--vocab-type`` and ``--vocab-scheme`` named in the vocabulary it read
    (:func:`load_selected_vocabulary`), however written (``Descriptor``,
    ``zbwext:Descriptor``, ``<URI>``); None before one was read."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(_VOCAB_RESOLVED)
