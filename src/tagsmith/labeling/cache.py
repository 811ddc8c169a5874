"""A persistent SQLite cache of LLM responses, keyed by model + prompt + parameters.

Every response is committed as soon as it arrives, so an interrupted run resumes where
it stopped: the requests already answered are served from the cache and cost nothing.
The database is in WAL mode and each thread uses its own connection, so concurrent
workers can read and write it.

>>> import os, tempfile
>>> from tagsmith.labeling.client import ChatRequest, ChatResponse
>>> cache = ResponseCache(os.path.join(tempfile.mkdtemp(), "llm.sqlite"))
>>> request = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},))
>>> cache.get(request) is None
True
>>> cache.put(request, ChatResponse(text="hello", prompt_tokens=3, completion_tokens=1))
>>> cache.get(request).text, len(cache)
('hello', 1)

An answer that turns out unusable (it does not parse, or breaks the requested shape)
should not be replayed by the next run: :meth:`ResponseCache.discard` deletes it, and
:func:`discard_cached` does so through whatever client holds the cache.

>>> cache.discard(request), cache.get(request) is None
(True, True)
"""

from __future__ import annotations

import functools
import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tagsmith.exceptions import DataError

if TYPE_CHECKING:
    from tagsmith.labeling.client import ChatRequest, ChatResponse, LLMClient

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
)
"""
#: the columns of the ``responses`` table, in order (:data:`SCHEMA`)
COLUMNS = ("key", "model", "request", "text", "prompt_tokens", "completion_tokens", "created")
#: the requests the model or a content filter refused (the message saying so), apart
#: from the answers: a rerun is told the refusal without paying for it again, and never
#: takes it for an answer. A tagsmith from before this table ignores it
REFUSALS_SCHEMA = """
CREATE TABLE IF NOT EXISTS refusals (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    reason TEXT NOT NULL,
    created REAL NOT NULL
)
"""
#: the columns of the ``refusals`` table, in order (:data:`REFUSALS_SCHEMA`)
REFUSAL_COLUMNS = ("key", "model", "request", "reason", "created")
#: the malformed answers a ``label --budget`` run kept (:class:`DropMalformed`'s
#: ``keep``), apart from ``responses``: a plain ``label`` run on the same cache drops a
#: malformed answer from ``responses`` and asks again, which made the budget run's rerun
#: ask again too (paid twice) or replay another answer (other documents chosen, paid
#: for). Its columns are ``responses``'s; a tagsmith from before this table ignores it
KEPT_SCHEMA = SCHEMA.replace("EXISTS responses (", "EXISTS kept_malformed (", 1)


#: per model name asked, what the endpoint last said served it (its reply's ``model``
#: and ``system_fingerprint``): the answers are keyed by the name asked, and an alias
#: moved to a new snapshot (or a backend changed) went on replaying the old model's
#: answers unsaid. A tagsmith from before this table ignores it
SERVED_SCHEMA = """
CREATE TABLE IF NOT EXISTS served (
    model TEXT PRIMARY KEY,
    served_model TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    seen REAL NOT NULL
)
"""
#: the columns of the ``served`` table, in order (:data:`SERVED_SCHEMA`)
SERVED_COLUMNS = ("model", "served_model", "fingerprint", "seen")
#: per model name asked and kind, what tagsmith noted of the endpoint serving it apart
#: from ``served``, whose rows a tagsmith from before these notes reads as the model
#: that served the name (model names joined by a line break were read as a changed
#: model, warned of every run): ``several`` (the models that served it in turn, one a
#: line) and ``listed`` (what the endpoint's model list said of it). A tagsmith from
#: before this table ignores it
NOTES_SCHEMA = """
CREATE TABLE IF NOT EXISTS endpoint_notes (
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL,
    seen REAL NOT NULL,
    PRIMARY KEY (model, kind)
)
"""
#: the columns of the ``endpoint_notes`` table, in order (:data:`NOTES_SCHEMA`)
NOTES_COLUMNS = ("model", "kind", "note", "seen")
#: seconds a cache waits for another process's write to end before giving up
LOCK_TIMEOUT = 60.0
#: seconds one try of a write waits for another process's lock before it looks again
#: whether the run gave up waiting (:meth:`ResponseCache.abandon`)
WRITE_POLL = 0.1
#: why a write the run gave up waiting for (:meth:`ResponseCache.abandon`) failed
ABANDONED = "locked by another process; not written: the run stopped waiting for it"
#: seconds :meth:`ResponseCache.close` waits for a write waiting on another process's
#: lock before making it give up (it waited up to :data:`LOCK_TIMEOUT`, 60 s)
CLOSE_GRACE = 5.0
#: why a write that :meth:`ResponseCache.close` made give up failed
CLOSED = ("locked by another process; not written: the cache was closed while it "
          "waited")
#: bytes one write of SQLite's may add to a cache file (a page of up to 64 KiB and its
#: write-ahead log header, the shared memory's 32 KiB steps): an I/O error on a cache whose
#: files are this close to the file size limit is put down to the limit
FILE_SIZE_MARGIN = 65_536 + 64
#: what the message about a damaged cache ends with
DAMAGED_HINT = ("; it is damaged: move it away or delete it (it holds only answers "
                "already received) and run again")


def check_cache_path(path: str | Path) -> Path:
    """Refuse, naming ``path``, a place :class:`ResponseCache` could not use, without
    creating anything: a directory, an existing file that is not an SQLite database or
    cannot be written, a path below a file or in a read-only folder. Commands call it
    with their other checks, and open the cache only once every check has passed, so a
    run refused for a bad option leaves no empty cache behind."""
    import os

    from tagsmith.data.textio import check_writable, reachable_kind

    path = Path(path)
    # not is_dir(): below a folder that may not be looked into, a PermissionError of its
    # own (Python 3.11), a traceback; refused naming the path
    kind = reachable_kind(path)
    if kind == "a folder":
        raise DataError("is a directory, expected an SQLite cache file", path=path)
    if kind == "missing":
        check_writable(path)  # the folder is created when the cache is opened
        return path
    if not os.access(path, os.R_OK | os.W_OK):
        raise DataError("not readable and writable, expected an SQLite cache file",
                        path=path)
    if not os.access(path.resolve().parent, os.W_OK | os.X_OK):
        # SQLite keeps its write-ahead log and shared memory in files beside the cache:
        # refused as "not a usable SQLite cache (attempt to write a readonly database)",
        # which sent the user to the file, not to its folder
        raise DataError(f"its folder {path.resolve().parent} is not writable: SQLite "
                        f"writes {path.name}-wal and {path.name}-shm beside the cache",
                        path=path)
    try:  # read-only: a file that is no database is left as it is
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            error = _schema_error(connection, path)
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        _raise_if_no_descriptor(exc, path)
        # a damaged database says what to do, as a run that meets the damage later
        # does; a file that is no database at all (NOTADB) may be anything the option
        # was given by mistake, which nothing here suggests deleting
        hint = DAMAGED_HINT if getattr(exc, "sqlite_errorcode", None) is not None \
            and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_CORRUPT else ""
        raise DataError(f"not a usable SQLite cache ({exc}){hint}", path=path) from exc
    if error is not None:
        raise error
    return path


def check_schema(connection: sqlite3.Connection) -> str | None:
    """What makes the database open on ``connection`` no tagsmith response cache, else
    ``None`` (also for one without a ``responses`` table yet: it is created).

    A cache handed over from elsewhere is SQL its author wrote: a view named
    ``responses`` ran a query of theirs on every lookup (a recursive one never ended,
    and the run could not be stopped), and a trigger on every write. tagsmith writes
    one table and nothing else that runs.
    """
    # names are matched as SQLite matches them (RESPONSES is the table read), and a
    # virtual table or a generated column (hidden from table_info) is no plain table
    rows = connection.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN "
                              "('view', 'trigger') OR name = 'responses' COLLATE NOCASE "
                              "OR name = 'refusals' COLLATE NOCASE "
                              "OR name = 'kept_malformed' COLLATE NOCASE "
                              "OR name = 'served' COLLATE NOCASE "
                              "OR name = 'endpoint_notes' COLLATE NOCASE").fetchall()
    running = sorted(f"{kind} {name!r}" for kind, name, _ in rows if kind != "table")
    if running:
        return f"it holds {', '.join(running[:3])}{', ...' if len(running) > 3 else ''}"
    for _, name, sql in rows:
        if (sql or "").upper().startswith("CREATE VIRTUAL"):
            return f"its {name} table is a virtual table"
        table = name.lower() if name.lower() in ("refusals", "kept_malformed", "served",
                                                 "endpoint_notes") else "responses"
        expected = {"refusals": REFUSAL_COLUMNS, "served": SERVED_COLUMNS,
                    "endpoint_notes": NOTES_COLUMNS}.get(table, COLUMNS)
        columns = tuple(row[1] for row in connection.execute(f"PRAGMA table_xinfo({table})"))
        if columns != expected:
            return (f"its {table} table has the columns {', '.join(columns)}, expected "
                    f"{', '.join(expected)}")
    return None


def _schema_error(connection: sqlite3.Connection, path: Path) -> DataError | None:
    why = check_schema(connection)
    return None if why is None else DataError(f"not a tagsmith response cache ({why})",
                                              path=path)


class ResponseCache:
    """SQLite-backed ``request key -> response`` store (see the module doc); a run
    resumes from the answers a former one stored.

    >>> import os, tempfile
    >>> from tagsmith.labeling.client import ChatRequest, ChatResponse
    >>> path = os.path.join(tempfile.mkdtemp(), "llm.sqlite")
    >>> request = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},))
    >>> with ResponseCache(path) as cache:
    ...     cache.put(request, ChatResponse(text="hello"))
    >>> with ResponseCache(path) as cache:  # the next run
    ...     cache.get(request).text, cache.get(request).cached, len(cache)
    ('hello', True, 1)
    """

    def __init__(self, path: str | Path):
        import os

        from tagsmith.data.textio import reachable_kind
        from tagsmith.exceptions import InvalidParameterError

        if not isinstance(path, str | os.PathLike):  # None: a TypeError from pathlib
            raise InvalidParameterError("path", "the cache file's path (a str or Path)",
                                        type(path).__name__)
        self.path = Path(path)
        # every thread's connection, so that close() closes them all: a worker thread's
        # was left open (its file descriptors too) until the garbage collector found it;
        # by thread, for those of threads that ended to be closed as others are opened
        self._connections: dict[threading.Thread, _Handle] = {}
        self._connections_lock = threading.Lock()
        if reachable_kind(self.path) == "a folder":  # not is_dir(): see check_cache_path
            raise DataError("is a directory, expected an SQLite cache file", path=self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._abandoned = threading.Event()
        self._closing = threading.Event()  # close() waited CLOSE_GRACE: writes give up
        # switching a new database to WAL needs it to itself, and SQLite answers "database
        # is locked" at once (no busy wait) while another process is doing the same: two
        # runs started together on one new cache failed, one of them calling the cache
        # "not a usable SQLite cache". Wait for the other, as every later write does.
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                connection = self._connection()
                # checked before anything else runs on it (WAL mode writes to it)
                error = _schema_error(connection, self.path)
                if error is not None:
                    self.close()
                    raise error
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(SCHEMA)
                connection.execute(REFUSALS_SCHEMA)
                connection.execute(KEPT_SCHEMA)
                connection.execute(SERVED_SCHEMA)
                connection.execute(NOTES_SCHEMA)
                connection.commit()
                return
            except sqlite3.OperationalError as exc:
                # extended codes (SQLITE_BUSY_RECOVERY, _SNAPSHOT, ...): the low byte, as
                # every later write looks at it (they were called "not a usable cache")
                code = getattr(exc, "sqlite_errorcode", None)
                if code is None or code & 0xFF != sqlite3.SQLITE_BUSY:
                    _raise_if_no_descriptor(exc, self.path)
                    _raise_if_full(exc, self.path)
                    raise DataError(f"not a usable SQLite cache ({exc})",
                                    path=self.path) from exc
                if time.monotonic() >= deadline:
                    raise DataError(f"locked by another process for {LOCK_TIMEOUT:g} s "
                                    f"({exc}); try again when it is done",
                                    path=self.path) from exc
                self.close()  # a fresh connection, with nothing half begun
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                raise DataError(f"not a usable SQLite cache ({exc})", path=self.path) from exc


    def __repr__(self) -> str:  # it was <...ResponseCache object at 0x7f...>
        return f"{type(self).__name__}({str(self.path)!r})"

    def _handle(self) -> _Handle:
        handle = getattr(self._local, "handle", None)
        if handle is None:
            # used by its own thread only; check_same_thread=False lets close() close it
            connection = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT,
                                         check_same_thread=False)
            connection.execute("PRAGMA synchronous=NORMAL")
            handle = _Handle(connection)
            with self._connections_lock:
                # a thread pool's workers end with each complete_all: their connections,
                # kept here for close(), held two file descriptors each until it
                for thread in [thread for thread in self._connections
                               if not thread.is_alive()]:
                    self._connections.pop(thread).close()
                self._connections[threading.current_thread()] = handle
                self._local.handle = handle
        return handle

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, for a thread no other uses the cache beside."""
        return self._handle().connection

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, held for one operation: :meth:`close` waits for
        it. A run stopped by a failure closed the cache while a worker thread was still
        reading it, and SQLite's connection closed under the read killed Python
        ("Segmentation fault"). One that :meth:`close` closed meanwhile is replaced."""
        for attempt in itertools.count():
            connection = self._connection()  # through the method a subclass may extend
            handle = getattr(self._local, "handle", None)
            if handle is None or handle.connection is not connection:
                if attempt >= 100:  # not a close() racing: a _connection not this thread's
                    raise RuntimeError("ResponseCache._connection() must return the "
                                       "connection of this thread's handle")
                continue  # close() ran meanwhile: a fresh one
            handle.lock.acquire()
            if not handle.closed:
                break
            handle.lock.release()
        assert handle is not None  # the loop leaves only by its break
        try:
            yield connection
        finally:
            handle.lock.release()

    def get(self, request: ChatRequest) -> ChatResponse | None:
        """The cached response to ``request``, or ``None``."""
        from tagsmith.labeling.client import ChatResponse

        key = request.cache_key()
        with self._errors(), self._use() as connection:
            row = connection.execute(
                "SELECT text, prompt_tokens, completion_tokens FROM responses WHERE key = ?",
                (key,)).fetchone()
        if row is None:
            return None
        return ChatResponse(text=row[0], prompt_tokens=row[1], completion_tokens=row[2],
                            cached=True)

    def put(self, request: ChatRequest, response: ChatResponse) -> None:
        """Store (or replace) the response to ``request`` and commit at once."""
        self._write("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (request.cache_key(), request.model,
                     json.dumps(request.payload(), sort_keys=True), response.text,
                     response.prompt_tokens, response.completion_tokens, time.time()))

    def get_kept(self, request: ChatRequest) -> ChatResponse | None:
        """The malformed answer to ``request`` a budget run kept (:meth:`put_kept`), or
        ``None``."""
        from tagsmith.labeling.client import ChatResponse

        with self._errors(), self._use() as connection:
            row = connection.execute(
                "SELECT text, prompt_tokens, completion_tokens FROM kept_malformed "
                "WHERE key = ?", (request.cache_key(),)).fetchone()
        if row is None:
            return None
        return ChatResponse(text=row[0], prompt_tokens=row[1], completion_tokens=row[2],
                            cached=True)

    def put_kept(self, request: ChatRequest, response: ChatResponse) -> None:
        """Keep ``response``, a malformed answer to ``request``, for the budget run's
        rerun to replay (:data:`KEPT_SCHEMA`), unless ``responses`` holds a good one by
        then (:meth:`discard_kept`), and commit at once."""
        self._write("INSERT OR REPLACE INTO kept_malformed VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (request.cache_key(), request.model,
                     json.dumps(request.payload(), sort_keys=True), response.text,
                     response.prompt_tokens, response.completion_tokens, time.time()))


    def served_by(self, model: str) -> tuple[str, str] | None:
        """What the endpoint last said served ``model`` (:meth:`note_served`): its
        reply's ``model`` and ``system_fingerprint`` ("" where it said none), or None."""
        with self._errors(), self._use() as connection:
            row = connection.execute(
                "SELECT served_model, fingerprint FROM served WHERE model = ?",
                (model,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def note_served(self, model: str, served_model: str, fingerprint: str) -> None:
        """Store what the endpoint says serves ``model`` now, and commit at once."""
        self._write("INSERT OR REPLACE INTO served VALUES (?, ?, ?, ?)",
                    (model, served_model, fingerprint, time.time()))

    def endpoint_note(self, model: str, kind: str) -> str | None:
        """What was noted of the endpoint serving ``model`` of ``kind``
        (:meth:`note_endpoint`, :data:`NOTES_SCHEMA`), or None."""
        with self._errors(), self._use() as connection:
            row = connection.execute(
                "SELECT note FROM endpoint_notes WHERE model = ? AND kind = ?",
                (model, kind)).fetchone()
        return None if row is None else str(row[0])

    def note_endpoint(self, model: str, kind: str, note: str) -> None:
        """Store ``note`` of ``kind`` of the endpoint serving ``model``, and commit at
        once."""
        self._write("INSERT OR REPLACE INTO endpoint_notes VALUES (?, ?, ?, ?)",
                    (model, kind, note, time.time()))

    def get_refusal(self, request: ChatRequest) -> str | None:
        """The message of a refusal stored for ``request`` (:meth:`put_refusal`), or
        ``None``."""
        key = request.cache_key()
        with self._errors(), self._use() as connection:
            row = connection.execute("SELECT reason FROM refusals WHERE key = ?",
                                     (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_refusal(self, request: ChatRequest, reason: str) -> None:
        """Store (or replace) that the model or a content filter refused ``request``,
        saying ``reason``, and commit at once."""
        self._write("INSERT OR REPLACE INTO refusals VALUES (?, ?, ?, ?, ?)",
                    (request.cache_key(), request.model,
                     json.dumps(request.payload(), sort_keys=True), reason, time.time()))

    def discard_refusal(self, request: ChatRequest) -> bool:
        """Delete the refusal stored for ``request``; returns whether there was one."""
        return self._write("DELETE FROM refusals WHERE key = ?", (request.cache_key(),)) > 0

    def discard_kept(self, request: ChatRequest) -> bool:
        """Delete the malformed answer to ``request`` a budget run kept (:meth:`put_kept`),
        superseded by a good one in ``responses``; returns whether there was one."""
        return self._write("DELETE FROM kept_malformed WHERE key = ?",
                           (request.cache_key(),)) > 0

    def discard(self, request: ChatRequest) -> bool:
        """Delete the cached response to ``request`` (so the next run asks again);
        returns whether there was one."""
        return self._write("DELETE FROM responses WHERE key = ?", (request.cache_key(),)) > 0

    def abandon(self) -> None:
        """Make the writes waiting for another process's lock give up now (a
        :class:`DataError`) rather than after :data:`LOCK_TIMEOUT` seconds: a run stopped
        by Ctrl-C twice leaves its unsaved answers instead of waiting for them. Writes
        that find the cache free still go through."""
        self._abandoned.set()

    @property
    def abandoned(self) -> bool:
        """Whether :meth:`abandon` was called."""
        return self._abandoned.is_set()

    def _write(self, sql: str, params: tuple) -> int:
        """Run one change and commit it; its row count. Another process's lock is waited
        for up to :data:`LOCK_TIMEOUT` seconds, in tries of :data:`WRITE_POLL` seconds, so
        that :meth:`abandon` ends the wait (SQLite's own wait cannot be cut short)."""
        deadline = time.monotonic() + LOCK_TIMEOUT
        with self._errors(), self._use() as connection:
            connection.execute(f"PRAGMA busy_timeout = {max(1, int(WRITE_POLL * 1000))}")
            try:
                while True:
                    try:
                        cursor = connection.execute(sql, params)
                        connection.commit()
                        return cursor.rowcount
                    except sqlite3.OperationalError as exc:
                        code = getattr(exc, "sqlite_errorcode", None)
                        if code is None or code & 0xFF != sqlite3.SQLITE_BUSY \
                                or time.monotonic() >= deadline:
                            raise
                        connection.rollback()  # a fresh try, with nothing half begun
                        if self._abandoned.is_set():
                            raise DataError(ABANDONED, path=self.path) from exc
                        if self._closing.is_set():
                            raise DataError(CLOSED, path=self.path) from exc
            except BaseException:
                # a failure, or Ctrl-C on this thread between two tries or between the
                # change and its commit: no transaction is left open on the connection
                # (one holding the write lock kept every other writer waiting)
                if connection.in_transaction:
                    try:
                        connection.rollback()
                    except sqlite3.Error:  # the first error is the one to report
                        pass
                raise
            finally:
                connection.execute(f"PRAGMA busy_timeout = {int(LOCK_TIMEOUT * 1000)}")

    def __len__(self) -> int:
        with self._errors(), self._use() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's failures as :class:`DataError` naming the cache file: a write that
        waited :data:`LOCK_TIMEOUT` seconds for another process's lock, a damaged page
        or row. They escaped as bare ``sqlite3`` errors from a worker thread (a
        traceback, the cache file unnamed, and for a locked write an answer already
        paid for lost without a word on why)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:  # OperationalError included
            code = getattr(exc, "sqlite_errorcode", None)
            base = None if code is None else code & 0xFF  # extended codes: the low byte
            if base in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise DataError(f"locked by another process for {LOCK_TIMEOUT:g} s ({exc}); "
                                "try again when it is done", path=self.path) from exc
            _raise_if_no_descriptor(exc, self.path)  # a later connection of a thread
            _raise_if_full(exc, self.path)
            hint = ""
            if base in (None, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                # None: a row Python cannot read (text that is not UTF-8)
                hint = DAMAGED_HINT
            raise DataError(f"not a usable SQLite cache ({exc}){hint}",
                            path=self.path) from exc

    def close(self) -> None:
        """Close the connections of every thread that used the cache, each once the
        operation under way on it (if any) has ended; a later call opens a fresh one.
        A write waiting for another process's lock is given :data:`CLOSE_GRACE` seconds,
        then gives up (a :class:`DataError`, :data:`CLOSED`): close() waited for it up
        to :data:`LOCK_TIMEOUT` (60 s). ``with ResponseCache(path) as cache:`` closes
        them at the end of the block.

        >>> import os, tempfile
        >>> with ResponseCache(os.path.join(tempfile.mkdtemp(), "llm.sqlite")) as cache:
        ...     len(cache)
        0
        """
        with self._connections_lock:
            handles, self._connections = self._connections, {}
            self._local = threading.local()  # every thread's, not only this one's
        try:
            for handle in handles.values():
                # past the grace, a write waiting for a lock gives up at its next try
                handle.close(CLOSE_GRACE, self._closing.set)
        finally:
            self._closing.clear()  # a later write, on a fresh connection, waits again

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handle:
    """One thread's connection to the cache and the lock held while it is used."""

    __slots__ = ("connection", "lock", "closed")

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.lock = threading.Lock()
        self.closed = False

    def close(self, grace: float = -1, on_wait: Callable[[], object] | None = None) -> None:
        """Close the connection once the operation under way on it has ended; where it
        has not within ``grace`` seconds (-1: no grace), call ``on_wait`` (which makes it
        end) and wait on."""
        if not self.lock.acquire(timeout=grace):
            if on_wait is not None:
                on_wait()
            self.lock.acquire()
        try:
            self.closed = True
            self.connection.close()
        finally:
            self.lock.release()


def _raise_if_no_descriptor(exc: sqlite3.DatabaseError, path: Path) -> None:
    """Raise a :class:`DataError` naming ``path``, caused by the ``OSError`` (EMFILE or
    ENFILE) a probe meets, where ``exc`` is SQLite's SQLITE_CANTOPEN and the process
    can open no file at all: SQLite says "unable to open database file", no errno,
    where the process had no descriptor left (``ulimit -n``), and the cache was called
    "not a usable SQLite cache" (exit code 3). The command line reads the cause as the
    one line of the open-files limit."""
    import errno
    import os

    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF != sqlite3.SQLITE_CANTOPEN:
        return
    try:
        os.close(os.open(os.devnull, os.O_RDONLY))
    except OSError as probe:
        if probe.errno in (errno.EMFILE, errno.ENFILE):
            raise DataError(f"cannot be opened ({exc}): {probe.strerror}",
                            path=path) from probe


def _raise_if_full(exc: sqlite3.DatabaseError, path: Path) -> None:
    """Raise a :class:`DataError` naming ``path`` that says its disk is full where
    ``exc`` is SQLite's SQLITE_FULL (a full disk or quota), or that a write failed at
    the process's file size limit (``ulimit -f``) where ``exc`` is an I/O error and the
    cache's files reach that limit: both read "not a usable SQLite cache", which sends a
    user to delete a cache that is fine. SQLite's unix VFS reports a write refused for
    the file size limit (EFBIG) as SQLITE_IOERR_WRITE ("disk I/O error"), not as
    SQLITE_FULL, and does not say which error it met: the limit is compared with what
    the cache's files would grow to (a checkpoint copies the write-ahead log into the
    database; a page more, as a write does)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == sqlite3.SQLITE_FULL:
        raise DataError(f"its disk is full ({exc}); the answers it holds are kept: free "
                        "some space and run again", path=path) from exc
    if code is None or code & 0xFF != sqlite3.SQLITE_IOERR:
        return
    try:
        import resource
    except ImportError:  # no such limit (Windows)
        return
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit == resource.RLIM_INFINITY:
        return
    sizes = {}
    for suffix in ("", "-wal", "-shm"):
        try:
            sizes[suffix] = Path(f"{path}{suffix}").stat().st_size
        except OSError:
            sizes[suffix] = 0
    if max(sizes[""] + sizes["-wal"], sizes["-shm"]) + FILE_SIZE_MARGIN >= limit:
        raise DataError(f"a write failed ({exc}) with this process's file size limit "
                        f"('ulimit -f') at {limit:,} bytes, which the cache's files reach; "
                        "the answers it holds are kept: raise the limit and run again",
                        path=path) from exc


def discard_cached(client: LLMClient, request: ChatRequest,
                   response: ChatResponse | None = None) -> bool:
    """Delete the cached answer to ``request`` from the response cache that ``client``
    (a :class:`~tagsmith.labeling.client.CachedClient`, or a wrapper of one with an
    ``inner`` client) answers from; ``False`` when it has no cache or none was stored.
    ``response``: the answer dropped; one this run received (not ``response.cached``)
    is counted in the client's ``n_dropped`` (a rerun pays for it again).

    Callers use it when an answer fails parsing or validation, so a rerun asks the model
    again instead of replaying the failure from the cache.
    """
    current: LLMClient | None = client  # None once a wrapper has no inner client
    seen = 0
    while current is not None and seen < 8:  # wrappers of wrappers, but no endless loop
        cache = getattr(current, "cache", None)
        discard = getattr(cache, "discard", None)
        if callable(discard):
            if getattr(current, "write_failed", False):
                return False  # writing failed once this run: it would fail again
            store = getattr(current, "store", None)
            if callable(store):  # a CachedClient: a failed write warns, the run goes on
                done = bool(store(functools.partial(discard, request)))
                dropped = getattr(current, "dropped", None)
                if done and callable(dropped):  # received: an answer of this run, paid again
                    dropped(request, received=response is not None and not response.cached)
                return done
            return bool(discard(request))
        current, seen = getattr(current, "inner", None), seen + 1
    return False



def _through(client: LLMClient, name: str) -> Callable | None:
    """The method ``name`` of ``client`` or of the first client it wraps (``inner``)
    that has one, or ``None``."""
    current: object = client
    for _ in range(8):  # wrappers of wrappers, but no endless loop
        method = getattr(current, name, None)
        if callable(method):
            return method
        current = getattr(current, "inner", None)
        if current is None:
            break
    return None


def discard_refused(client: LLMClient, request: ChatRequest) -> bool:
    """Delete the refusal of ``request`` that the response cache of ``client`` (a
    :class:`~tagsmith.labeling.client.CachedClient` keeping refusals, or a wrapper of
    one) holds, so that the next call asks again; ``False`` where none was deleted (no
    cache, none stored, or the cache cannot be written: asked again, the refusal would
    only be told again)."""
    current: LLMClient | None = client
    seen = 0
    while current is not None and seen < 8:
        cache = getattr(current, "cache", None)
        discard = getattr(cache, "discard_refusal", None)
        store = getattr(current, "store", None)
        if callable(discard) and callable(store):
            if getattr(current, "write_failed", False):
                return False
            return bool(store(functools.partial(discard, request)))
        current, seen = getattr(current, "inner", None), seen + 1
    return False


class DropMalformed:
    """``inner`` (any :class:`~tagsmith.labeling.client.LLMClient`), deleting from the
    response cache each answer that fails its check as soon as it arrives.

    ``checks`` maps a request's cache key to whether an answer's text is usable (not
    malformed); requests without one pass as they are. Checking on arrival rather than
    once every call has ended means a run interrupted before (Ctrl-C, a stopping
    failure) leaves no malformed answer behind. One an older run left in the cache all
    the same (a tagsmith from before this check, or a check since made stricter) is
    dropped and asked once more, rather than replayed as malformed; a malformed new
    answer is dropped and returned, so this run counts it as malformed and the next
    run asks again (never a loop within one run). Where the cache cannot be written
    (:func:`discard_cached` fails) nothing is asked again: the fresh answer could not
    replace the old one. The second call is a real one: the client's usage counts it
    (calls, tokens, cost) beside the cache hit it replaces.

    ``dropped_keys`` holds the cache keys of the malformed answers returned that the
    cache no longer holds, so a run that stops does not count them among the answers
    kept (a rerun asks for them again).

    ``keep`` (``label --budget``'s teacher): a malformed answer is kept, not dropped,
    and replayed as malformed by a rerun: kept apart (``kept_malformed``), and looked
    up there first, so that the rerun is the run its rounds chose by, at no cost. A
    good answer ``responses`` holds for it (a plain ``label`` run on the same cache
    dropped the malformed one and asked again; no refusal in prose, ``is_refusal``)
    wins, and the kept one is deleted: it
    was replayed as malformed by every budget rerun, the document never labelled by one
    (and the table never pruned); the rerun's rounds may then choose other documents,
    each paid for. Without ``keep``, a good answer deletes the kept one it supersedes
    as it arrives (or is replayed), so the table holds only what no run answered since.

    ``retry_refused`` (None: not) asks again, once, each refusal the cache tells (an
    :class:`~tagsmith.exceptions.LLMRefusalError` it kept, ``cached``), and each cached
    answer for which it returns True (a refusal in prose, which the cache keeps as an
    answer); a refusal or answer received then is kept as any other, and counted in
    the usage in place of the cache hit it replaces.
    """

    def __init__(self, inner: LLMClient, checks: Mapping[str, Callable[[str], bool]],
                 retry_refused: Callable[[str], bool] | None = None, *,
                 keep: bool = False, is_refusal: Callable[[str], bool] | None = None
                 ) -> None:
        self.inner = inner  # abort() and the cache are found through it
        self._keep = keep
        self._is_refusal = is_refusal
        self.model = inner.model
        self.usage = inner.usage
        self._checks = checks
        self._retry = retry_refused
        self.dropped_keys: set[str] = set()
        #: the cache keys of the requests whose kept refusal was asked again
        #: (``retry_refused``), for a message saying what happened to each refusal
        self.retried_keys: set[str] = set()
        self._lock = threading.Lock()

    def _good(self, request: ChatRequest, text: str) -> bool:
        """Whether ``text`` is a good answer to ``request``: it passes its check and is
        no refusal in prose (``is_refusal``), which labels the document no better than
        the malformed answer a budget run kept."""
        check = self._checks.get(request.cache_key())
        return (check is None or check(text)) \
            and not (self._is_refusal is not None and self._is_refusal(text))

    def _prune_kept(self, request: ChatRequest, response: ChatResponse) -> None:
        """Delete the malformed answer a budget run kept for ``request``, which
        ``response``, a good answer (no refusal in prose), supersedes: the budget's
        rerun takes it, and the kept one was never pruned."""
        if self._is_refusal is not None and self._is_refusal(response.text):
            return
        prune = _through(self.inner, "prune_kept")
        if prune is not None:
            prune(request)

    def _uncount_cached(self) -> None:
        """Take back the cache hit of a refusal asked again (``retry_refused``): it was
        counted both cached and as the new call."""
        uncount = getattr(self.usage, "uncount_cached", None)
        if callable(uncount):
            uncount()

    def complete(self, request: ChatRequest) -> ChatResponse:
        from tagsmith.exceptions import LLMRefusalError

        if self._keep:  # the malformed answer a budget run kept, unless a good one came
            replay = _through(self.inner, "replay_kept")
            kept = replay(request, self._good) if replay is not None else None
            if kept is not None:
                return kept
        try:
            response = self.inner.complete(request)
        except LLMRefusalError as exc:
            if self._retry is None or not exc.cached or not discard_refused(self.inner,
                                                                            request):
                raise
            self._uncount_cached()  # the call asked again is counted, not the hit too
            with self._lock:
                self.retried_keys.add(request.cache_key())
            response = self.inner.complete(request)  # asked again, as the user asked
        if self._retry is not None and response.cached and self._retry(response.text) \
                and discard_cached(self.inner, request, response):
            self._uncount_cached()
            with self._lock:
                self.retried_keys.add(request.cache_key())
            response = self.inner.complete(request)
        key = request.cache_key()
        check = self._checks.get(key)
        if check is None or check(response.text):
            if check is not None and not self._keep:
                self._prune_kept(request, response)
            return response
        if self._keep:  # replayed as malformed by a rerun, until a good answer wins
            keep = _through(self.inner, "keep_malformed")
            if keep is not None:
                keep(request, response)
            return response
        # the next run asks again instead of replaying it
        dropped = discard_cached(self.inner, request, response)
        if dropped and response.cached:
            response = self.inner.complete(request)  # an older run's: ask once more
            good = check(response.text)
            if good:
                self._prune_kept(request, response)
            dropped = not good and discard_cached(self.inner, request, response)
        if dropped:
            with self._lock:
                self.dropped_keys.add(key)
        return response
