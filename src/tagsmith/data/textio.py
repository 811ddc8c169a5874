"""Opening text files: UTF-8, gzip-aware, with clear errors."""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import os
import re
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from tagsmith._json import dumps as strict_dumps
from tagsmith.exceptions import DataError, InvalidParameterError
from tagsmith.store.staging import make_staging_file, remove_stale_files

#: code points UTF-8 cannot encode: halves of a surrogate pair (a Python str never holds
#: a whole pair, so any of these is alone; JSON can escape one, ``"\\ud83d"``)
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: line ends for ``str.splitlines`` (and some JSONL readers) that
#: ``json.dumps(ensure_ascii=False)`` leaves as they are (it escapes C0 controls only)
_JSON_LINE_BREAKS = re.compile("[\u0085\u2028\u2029]")


def check_no_lone_surrogate(texts: list[str], name: str = "texts") -> None:
    r"""Refuse a text holding a lone surrogate (half of a character cut in two, from a
    str made in Python), naming its index. UTF-8 cannot encode one: training failed
    with a bare UnicodeEncodeError naming no document, a tokenizer with a TypeError, and
    a featurizer learned terms that failed the bundle save after the whole fit. The
    corpus readers refuse such text too.

    >>> check_no_lone_surrogate(["fine", "caf\u00e9"])
    >>> try:
    ...     check_no_lone_surrogate(["fine", "half \ud83d"])
    ... except InvalidParameterError as error:
    ...     print(error.name)
    texts[1]
    """
    for i, text in enumerate(texts):
        found = None if text.isascii() else LONE_SURROGATE.search(text)
        if found is not None:
            raise InvalidParameterError(
                f"{name}[{i}]", "valid Unicode text, without a lone surrogate (half of a "
                "character cut in two)", found.group())


def json_line(obj: object, *, separators: tuple[str, str] | None = None,
              ensure_ascii: bool = False) -> str:
    r"""``obj`` as one JSONL line (non-ASCII kept unless ``ensure_ascii``, Python's
    ``separators`` unless given, ``\n`` at the end) with U+0085,
    U+2028 and U+2029 written as ``\u`` escapes: valid JSON either way, but tools that
    split lines as :meth:`str.splitlines` does cut a record in two at them. JSON readers
    decode both forms alike.

    >>> line = json_line({"text": "a\u2028b\u2029c\x85d"})
    >>> line
    '{"text": "a\\u2028b\\u2029c\\u0085d"}\n'
    >>> import json
    >>> len(line.splitlines()), json.loads(line)["text"] == "a\u2028b\u2029c\x85d"
    (1, True)

    A float JSON cannot hold is written as a string (:func:`tagsmith._json.strict`), not
    as the bare ``NaN``/``Infinity`` Python's :mod:`json` writes, which strict parsers and
    tagsmith's own JSONL reader refuse:

    >>> json_line({"score": float("nan"), "m": [float("-inf")]})
    '{"score": "NaN", "m": ["-Infinity"]}\n'
    """
    text = strict_dumps(obj, ensure_ascii=ensure_ascii, separators=separators)
    return _JSON_LINE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


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
    kind = reachable_kind(path)  # not exists(): a PermissionError of its own (3.11)
    if kind == "missing":
        raise DataError("file not found", path=path)
    if kind == "a folder":
        raise DataError("is a directory, expected a file", path=path)
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline=newline)
    return open(path, encoding="utf-8", newline=newline)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same path once resolved (symbolic
    links, ``..``), or, both existing, the same file by another name (a hard link).
    How commands refuse an output that is one of their inputs.

    >>> same_file("x/../y.tsv", "y.tsv"), same_file("a.tsv", "b.tsv")
    (True, False)

    Not one file where either cannot be looked at (:data:`UNREACHABLE`): the check of
    that path, which follows, refuses it naming it (``exists()`` raised the
    PermissionError of a folder above it bare on Python 3.11, a traceback).
    """
    a, b = Path(a), Path(b)
    # realpath, not resolve(): a symbolic link to itself (a loop) raised RuntimeError
    # (Python 3.11), a traceback for calibrate -o LOOP or --reliability-png LOOP.png
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    return _is_there(a) and _is_there(b) and os.path.samefile(a, b)


def _is_there(path: Path) -> bool:
    """``path.exists()``, but False where ``path`` cannot be looked at (permission
    denied; see :func:`same_file`); any other error is raised as ``exists()`` raises it
    (a name too long: the CLI says so)."""
    try:
        return reachable_kind(path) != "missing"
    except DataError:  # UNREACHABLE
        return False


#: what :func:`kind_of` says of a path below a folder it may not look into
UNREACHABLE = "a path that cannot be looked at (permission denied)"


def kind_of(path: str | Path) -> str:
    """What ``path`` is, in words, for a refusal that expected another kind: ``"a
    file"``, ``"a folder"``, a pipe (a process substitution or a named pipe), a device,
    a socket; ``"missing"`` when nothing is there, and :data:`UNREACHABLE` where a folder
    above it may not be looked into (permission denied: it was "missing", of a path that
    may well be there). Refusals said "is a file" or "is not a file" of a pipe
    ``<(cat v.tsv)`` or of ``/dev/null``, naming neither what it was nor why it would
    not do.

    >>> import tempfile
    >>> kind_of(tempfile.gettempdir()), kind_of("/dev/null")
    ('a folder', 'a device')
    """
    try:
        return reachable_kind(path)
    except DataError:  # the PermissionError of a folder above
        return UNREACHABLE
    except OSError:  # any other error of os.stat: nothing to name there
        return "missing"


def check_may_look_into(folder: str | Path, prefix: str = "") -> None:
    """Refuse, naming ``folder`` (after ``prefix``, an option), a folder whose paths
    cannot be looked at (``os.stat``): one without search permission lets its own name
    be looked at, not those in it (each is :data:`UNREACHABLE`). The checks of an
    output folder, or of a folder of documents, passed one (root, whose ``os.access``
    says yes, an ACL), and then the first file asked of in it raised its PermissionError
    bare on Python 3.11, a traceback.

    >>> import tempfile
    >>> check_may_look_into(tempfile.gettempdir())
    """
    # any name: only whether it can be asked matters, not what is there
    if kind_of(Path(folder) / "tagsmith-probe") == UNREACHABLE:
        raise DataError(f"{prefix}is a folder whose files cannot be looked at (permission "
                        "denied): it may not be looked into", path=folder)


def _kind_of_mode(mode: int) -> str:
    """:func:`kind_of` a path whose ``st_mode`` is ``mode``."""
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (a process substitution such as <(...), or a named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "neither a file nor a folder"


def reachable_kind(path: str | Path, prefix: str = "") -> str:
    """:func:`kind_of` ``path``, refusing with a :class:`DataError` naming it (after
    ``prefix``, an option) a path that cannot be looked at (:data:`UNREACHABLE`): the
    checks of a path the user gave asked ``Path.exists()`` or ``is_dir()``, which on
    Python 3.11 raise that PermissionError bare (a traceback, exit code 1), or took it
    for a path with nothing there. ``kind != "missing"`` is whether something is there.

    Any other error but those ``Path.exists()`` takes for "missing" is raised as it
    was (a name too long for the file system: the CLI says so, exit code 3).

    >>> import tempfile
    >>> reachable_kind(tempfile.gettempdir()), reachable_kind("/no/such/file")
    ('a folder', 'missing')
    """
    try:
        mode = os.stat(path).st_mode
    except PermissionError:
        raise DataError(f"{prefix}is {UNREACHABLE}: a folder above it may not be looked "
                        "into", path=path) from None
    except OSError as exc:
        if exc.errno not in _MISSING_ERRNOS:
            raise
        return "missing"
    return _kind_of_mode(mode)


#: errno values of os.stat that ``Path.exists()`` answers False for
_MISSING_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def not_a_file(path: str | Path, what: str) -> str:
    """Why ``path``, which is not a regular file, is refused where ``what`` (``"a
    vocabulary"``) is read from a file, and what to do: "is not a file" said neither.
    A pipe is read once, where the reader opens the file again (its format, a
    compression check) and takes its format from the name's suffix.

    >>> not_a_file("/dev/null", "a vocabulary").split(":")[0]
    'is a device, not a file'
    """
    kind = kind_of(path)
    if kind.startswith("a pipe"):
        return (f"is {kind}, not a file: {what} is read from a file named by its format "
                "(.tsv, .csv, .ttl, ...): save what the pipe gives to a file (e.g. cat "
                "... > labels.tsv) and pass that file's path")
    return (f"is {kind}, not a file: {what} is read from a file named by its format "
            "(.tsv, .csv, .ttl, ...): pass the path of one")


def check_writable(path: str | Path) -> Path:
    """Refuse, naming ``path``, an output file that cannot be written: a directory, a
    pipe or a device (:func:`kind_of`; the file written beside it replaced it), one
    below a file, or one whose nearest existing folder is not writable (the file is
    written beside its target and renamed into place). A missing folder is fine:
    writers create it, as bundles and plots do. Commands call this before long work,
    so a typo costs nothing.

    >>> import tempfile
    >>> check_writable(tempfile.gettempdir())
    Traceback (most recent call last):
    ...
    tagsmith.exceptions.DataError: /tmp: is a directory, expected a file to write
    """
    path = Path(path)
    check_name_lengths(path)
    kind = kind_of(path)  # not path.is_dir(): a PermissionError of its own on Python 3.11
    if kind == "a folder":
        raise DataError("is a directory, expected a file to write", path=path)
    if kind not in ("a file", "missing"):
        # a named pipe (or /dev/null, as root) was replaced by the file written beside it
        # and renamed into place: the pipe was gone and its reader left waiting
        raise DataError(f"is {kind}, expected a file to write", path=path)
    for folder in path.parents:
        # kind_of, not exists(): a PermissionError of its own (3.11), and UNREACHABLE
        # is refused as a file there is, naming it
        found = kind_of(folder)
        if found != "missing":
            if found != "a folder":
                raise DataError(f"{folder} is {found}, not a folder", path=path)
            if not os.access(folder, os.W_OK | os.X_OK):
                # "." named no folder the user could find (a default output, as label's
                # --cache, in a read-only working folder): named by its absolute path
                shown = (f"the working folder {os.path.abspath(folder)}"
                         if folder == Path(".") else folder)
                raise DataError(f"{shown} is not writable", path=path)
            break
    return path


def check_name_lengths(path: Path, prefix: str = "") -> None:
    """Refuse, naming ``path`` (after ``prefix``), an output path with a name longer than
    its file system takes (``NAME_MAX``, most often 255 bytes), its own or a folder's it
    would create: the checks before the work met it as an OSError (File name too long)
    and ended in a traceback, exit code 1.

    >>> try:
    ...     check_name_lengths(Path("out/" + "x" * 300 + ".tsv"))
    ... except DataError as exc:
    ...     print(exc.reason)
    its name is 304 bytes long, more than the 255 a file name may have here
    """
    # kind_of: a name too long, or a folder that may not be looked into, is no folder
    # to ask (the checks after this one refuse the latter)
    folder = next((p for p in path.absolute().parents if kind_of(p) == "a folder"), None)
    try:
        limit = os.pathconf(folder if folder is not None else ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), no limit
        limit = 255
    if limit <= 0:
        return
    for part in (path, *path.parents):
        size = len(os.fsencode(part.name))
        if size > limit:
            what = "its name is" if part == path else f"the name of its folder {part} is"
            raise DataError(f"{prefix}{what} {size} bytes long, more than the {limit} a file "
                            "name may have here", path=path)


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask. Reading it means setting it, so it is set and put straight
    back under a lock (two threads reading at once would otherwise leave it at 0)."""
    with _UMASK_LOCK:
        umask = os.umask(0o077)
        os.umask(umask)
    return umask


def check_writable_dir(path: str | Path, option: str | None = None, *,
                       room: int = 0) -> Path:
    """Refuse, naming ``path`` (and ``option``), a folder that cannot be created or
    filled: an existing file, a path below a file, or one whose nearest existing folder
    is not writable, or (``room``: the most bytes the name of a file written in it may
    have) one whose path leaves no room for such a file under the file system's limit
    on a path (``PATH_MAX``, most often 4,096 bytes): the files the command made in it
    failed with "File name too long", naming files the user never named. Commands call
    it before long work.

    >>> import tempfile, os
    >>> afile = os.path.join(tempfile.mkdtemp(), "afile")
    >>> _ = open(afile, "w").write("x")
    >>> check_writable_dir(afile + "/out", "-o")
    Traceback (most recent call last):
    ...
    tagsmith.exceptions.DataError: ...afile/out: -o: ...afile is a file, not a folder
    """
    path = Path(path)
    prefix = f"{option}: " if option else ""
    check_name_lengths(path, prefix)
    # the nearest existing path, in one walk up: a file there is refused, a folder
    # must be writable, and one that cannot be looked at (UNREACHABLE) is refused as a
    # file is (it was taken for a missing one, and the folder above it for the nearest,
    # a path that passed); kind_of says "missing" of a name too long for the system
    existing, kind = None, "missing"
    for p in (path, *path.parents):
        kind = kind_of(p)
        if kind != "missing":
            existing = p
            break
    if existing is not None and kind != "a folder":
        raise DataError(f"{prefix}is {kind}, expected a folder" if existing == path
                        else f"{prefix}{existing} is {kind}, not a folder", path=path)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"{prefix}{existing} is not writable", path=path)
    if existing == path:  # the files asked of in it (an audit's report, a cache's) raised
        check_may_look_into(path, prefix)
    if room:
        check_path_room(path, room, prefix, existing=existing)
    return path


def check_path_room(path: str | Path, room: int, prefix: str = "", *,
                    existing: Path | None = None) -> None:
    """Refuse, naming ``path`` (after ``prefix``), a folder whose path leaves no room
    for a file name of ``room`` bytes in it under the file system's limit on a path
    (``PATH_MAX``, most often 4,096 bytes), asked of ``existing`` (its nearest existing
    folder; found here when not given). Library callers meet it too: a ``cache_dir``
    that long was a bare OSError (File name too long) naming a file they never named.

    >>> try:
    ...     check_path_room("/" + "/".join(["x" * 200] * 21), 64, "cache_dir: ")
    ... except DataError as exc:
    ...     print(exc.reason.split(" (")[0])
    cache_dir: its path is 4,221 bytes long, too long for the files written in it
    """
    path = Path(path)
    size = len(os.fsencode(os.path.abspath(path)))
    if existing is None:
        existing = next((p for p in path.absolute().parents if kind_of(p) == "a folder"),
                        None)
    try:
        limit = os.pathconf(existing if existing is not None else ".", "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), no limit
        limit = -1
    # the limit counts the terminating NUL; a file in it adds a separator and its name
    if 0 < limit <= size + 1 + room:
        raise DataError(f"{prefix}its path is {size:,} bytes long, too long for the "
                        f"files written in it (names of up to {room} bytes): a path "
                        f"may have {limit - 1:,} bytes here", path=path)


@contextmanager
def atomic_binary_writer(path: str | Path) -> Iterator[BinaryIO]:
    """A binary stream that replaces ``path`` only once fully written.

    Writes go to a temporary file in the same directory, which is synced and renamed
    over ``path`` on success and removed on any error (Ctrl-C included), so ``path``
    is never left half written; one a killed process left (``.NAME.HOST~NS-PID-*.tmp``,
    see :mod:`tagsmith.store.staging`) is removed by the next write to ``path``. An
    existing file's permissions are kept, a new file gets what :func:`open` would give
    it (``0o666`` less the umask); missing folders are created.

    >>> import tempfile, os
    >>> name = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> with atomic_binary_writer(name) as out:
    ...     _ = out.write(b"done")
    >>> open(name, "rb").read()
    b'done'
    """
    path = Path(path)
    check_writable(path)
    try:  # a read-only file system, a folder made read-only since the check, quotas
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~current_umask()
        # named after this process: the next write to ``path`` removes it if a kill
        # (SIGKILL, the OOM killer) left it behind, which it did forever
        remove_stale_files(path, ".tmp")
        fd, tmp = make_staging_file(path, ".tmp")
    except OSError as exc:
        raise DataError(f"cannot write the file ({exc.strerror or exc})", path=path) from None
    try:
        with open(fd, "wb") as raw:
            yield raw
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None \
                and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            # a write that fails (a full disk) names no file: the CLI said "writing the
            # output", as for stdout, not which file could not be written
            exc.filename = str(path)
        raise


@contextmanager
def atomic_text_writer(path: str | Path) -> Iterator[io.TextIOBase]:
    """A UTF-8 text stream that replaces ``path`` only once fully written
    (:func:`atomic_binary_writer` underneath). ``.gz`` paths are gzip-compressed with a
    fixed timestamp (same content, same bytes).

    >>> import tempfile, os
    >>> name = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_text_writer(name) as out:
    ...     _ = out.write("done\\n")
    >>> open(name).read()
    'done\\n'
    """
    path = Path(path)
    with atomic_binary_writer(path) as raw:
        stream = (gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0)
                  if path.suffix.lower() == ".gz" else raw)
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        try:
            yield text
            text.flush()
        finally:
            text.detach()  # the binary writer closes the file, not the wrapper
            if stream is not raw:
                stream.close()  # writes the gzip trailer; leaves ``raw`` open
