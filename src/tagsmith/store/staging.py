"""Staging folders that name their owner, and the clean-up of those a killed process left.

A bundle is staged as ``.NAME.tmp-OWNER-XXXXXXXX`` beside its target (the bundle it
replaces moved aside as ``.NAME.old-OWNER-XXXXXXXX``), an audit as
``.audit-OWNER-XXXXXXXX`` inside its output folder, OWNER being ``HOST~NS-PID`` (below).
A process killed outright (SIGKILL, the OOM killer) cannot remove them; they stayed
forever. With the owner in the name, the next writer removes the ones whose process no
longer runs on this host, and only those: another host's folder, a live process's, or a
name that does not parse (one written before, ``.NAME.tmp-XXXXXXXX``) is never touched,
as the save that owns it may still be running.

Single files written atomically (:func:`tagsmith.data.textio.atomic_binary_writer`, the
LLM pipeline's outputs) are written as ``.NAME.HOST~NS-PID-XXXXXXXX.SUFFIX`` beside their
target by the same rules (:func:`make_staging_file`, :func:`remove_stale_files`): a
killed write left its temporary file forever, as big as the output.

Where the process's PID namespace can be told (Linux: the inode number of
``/proc/self/ns/pid``), the owner is ``HOST~NS-PID``: two containers of one host name
(a shared volume, the same image's host name) number their processes separately, and a
PID in another namespace says nothing of a process here, so a folder of another
namespace is kept too. A folder named ``HOST-PID`` (before, or where no namespace can be
told) is judged by its PID as before; one with a namespace part, where this process
cannot tell its own, is kept.

>>> tag = owner_tag()
>>> tag.endswith(f"-{os.getpid()}") and "." not in tag and "/" not in tag
True
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

#: the most characters of the host name a staging folder's name holds
HOST_CHARS = 32


def _host() -> str:
    """This host's name as a name part: letters, digits, ``_`` and ``-`` only (a ``.``
    could make a folder of another target name parse as one of this one's), at most
    :data:`HOST_CHARS` characters (a longer one is cut and ends with a hash of it)."""
    host = socket.gethostname() or "localhost"
    token = re.sub(r"[^A-Za-z0-9_-]", "_", host)
    if len(token) > HOST_CHARS:
        digest = hashlib.sha256(host.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        token = f"{token[:HOST_CHARS - 9]}_{digest}"
    return token


def _pid_namespace() -> int | None:
    """The identity of this process's PID namespace (the inode number of
    ``/proc/self/ns/pid``), or None where there is none to read (not Linux, no /proc)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def owner_tag() -> str:
    """``HOST~NS-PID`` of this process, as staging folders' names hold it: ``NS`` its
    PID namespace (``HOST-PID`` where that cannot be told; a host token holds no ``~``,
    so neither form reads as the other of another host)."""
    namespace = _pid_namespace()
    host = _host() if namespace is None else f"{_host()}~{namespace}"
    return f"{host}-{os.getpid()}"


def short_name(name: str) -> str:
    """``name`` cut for the prefix of a staging folder or file: with the bytes
    ``.NAME.tmp-HOST-PID-XXXXXXXX`` adds, a target name of up to 255 bytes (one the file
    system takes) made the staging folder's name too long, after the training. A name
    of more than 64 bytes keeps its first 55 at most and a hash of the whole name, so
    the clean-up of a killed save's folders never takes another target's for its own
    (and a cut counted in bytes: 64 characters of a script other than Latin are up to
    256 bytes).

    >>> short_name("model")
    'model'
    >>> long = short_name("é" * 100)
    >>> len(os.fsencode(long)) <= 64, long.startswith("é" * 27 + "~"), long == short_name("é" * 101)
    (True, True, False)
    """
    if len(os.fsencode(name)) <= 64:
        return name
    cut = name
    while len(os.fsencode(cut)) > 55:
        cut = cut[:-1]
    return f"{cut}~{hashlib.sha256(os.fsencode(name)).hexdigest()[:8]}"


def make_staging(folder: Path, prefix: str) -> Path:
    """A new empty folder (mode 0700) in ``folder`` named ``PREFIX`` + ``HOST~NS-PID-XXXXXXXX``
    (see :func:`owner_tag`)."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{owner_tag()}-", dir=folder))


def make_staging_file(target: Path, suffix: str) -> tuple[int, Path]:
    """A new empty file (mode 0600) beside ``target``, named ``.NAME.HOST~NS-PID-XXXXXXXX``
    + ``suffix`` (NAME :func:`short_name` of the target's), and its open descriptor."""
    fd, name = tempfile.mkstemp(dir=target.parent, suffix=suffix,
                                prefix=f".{short_name(target.name)}.{owner_tag()}-")
    return fd, Path(name)


def staging_file_name_bytes(suffix: str) -> int:
    """The most bytes the name of a file :func:`make_staging_file` makes in this process
    with ``suffix`` may have (a cut target name, this process's tag, 8 random
    characters): the room a folder's path must leave under the file system's limit."""
    return len(os.fsencode(f".{'x' * 64}.{owner_tag()}-{'x' * 8}{suffix}"))


def remove_stale_files(target: Path, suffix: str, *, restore: bool = False) -> None:
    """Delete the files :func:`make_staging_file` made for ``target`` with ``suffix`` for
    processes of this host that no longer run (a write killed outright left them).

    With ``restore`` (for outputs kept aside while others are swapped in, as
    ``.NAME.HOST~NS-PID-XXXXXXXX.old``): where ``target`` itself is missing, the newest
    such file is the last good output and is renamed back to ``target`` (with a
    warning) instead of deleted; a run killed mid-swap lost it on the next run. Where
    ``target`` exists, they are deleted as without ``restore``."""
    stale = stale_staging(target.parent, f".{short_name(target.name)}.", suffix, files=True)
    if restore and stale and not os.path.lexists(target):
        def modified(item: tuple[Path, int]) -> float:
            try:
                return item[0].stat().st_mtime
            except OSError:
                return float("-inf")

        newest = max(stale, key=modified)
        try:
            os.replace(newest[0], target)
        except OSError as exc:
            logger.warning("could not restore %s from %s, the copy a write killed mid-swap "
                           "(process %d) kept of it: %s", target, newest[0], newest[1], exc)
        else:
            stale.remove(newest)
            logger.warning("restored %s from %s: a write killed mid-swap (process %d) "
                           "left it missing", target, newest[0], newest[1])
    for path, pid in stale:
        with contextlib.suppress(OSError):
            path.unlink()
            logger.info("removed %s, the temporary file of a write to %s that was killed "
                        "(process %d)", path, target, pid)


def stale_staging(folder: Path, prefix: str, suffix: str = "", *,
                  files: bool = False) -> list[tuple[Path, int]]:
    """The folders (or links, as a bundle that was a link is moved aside) in ``folder``
    that :func:`make_staging` named with ``prefix`` for a process of this host and PID
    namespace (or of this host, named without a namespace) that no longer runs, with its
    PID; with ``files``, the plain files :func:`make_staging_file` named with ``prefix``
    and ``suffix``. Nothing where processes cannot be probed (not POSIX: ``os.kill(pid,
    0)`` ends the process on Windows) or ``folder`` cannot be listed."""
    if os.name != "posix":
        return []
    namespace = _pid_namespace()
    ours = "" if namespace is None else f"(?:~{namespace})?"
    # the random part mkdtemp adds holds neither '-' nor '.': a folder of another
    # target whose name starts with this prefix never matches
    pattern = re.compile(re.escape(f"{prefix}{_host()}") + ours + r"-([0-9]{1,10})-[a-z0-9_]+"
                         + re.escape(suffix))
    found = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                match = pattern.fullmatch(entry.name)
                if match is None or not (
                        entry.is_file(follow_symlinks=False) if files else
                        entry.is_dir(follow_symlinks=False) or entry.is_symlink()):
                    continue
                pid = int(match.group(1))
                if not _running(pid):
                    found.append((Path(entry.path), pid))
    except OSError:
        return []
    return sorted(found)


def _running(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (one of another user's does: signalling
    it is refused, so it exists); any doubt counts as running."""
    if pid <= 0:  # 0 and negative numbers name process groups
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: alive, another user's
        return True
    return True


def remove_staging(path: Path) -> None:
    """Delete a staging or moved-aside folder. A bundle target that was a symbolic link
    is moved aside as the link: rmtree refuses links (silently, with ignore_errors), which
    left it behind as ``.NAME.old-*``; the link goes, the folder it points to stays."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
