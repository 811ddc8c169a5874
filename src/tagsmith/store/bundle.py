"""Model bundles: a directory of JSON and ``.npz`` files described by ``manifest.json``.

Loading a bundle never executes code: JSON is parsed and arrays are read with
``allow_pickle=False``. Every file's SHA-256 is recorded in the manifest and checked
on load, so a damaged or half-copied bundle is refused with a clear message.

Saving is atomic: the bundle is written to a temporary sibling directory and then
renamed into place; an existing bundle is moved aside first and deleted only after
the new one is in place, so a crash never leaves a half-written bundle under the
target name; an error or interrupt between the two renames moves the old one back
(only a hard crash there can leave it as ``.NAME.old-*``). Saves to one folder take
turns (an ``flock`` on the folder): of two saves to one path, the last one wins.
A save to a symbolic link replaces the link with the new bundle, except a bundle
changed in place through the link (``calibrate L``, ``shift L --save``): that one is
saved where the link points, and the link stays.

The staging and moved-aside folders are named ``.NAME.tmp-HOST~NS-PID-XXXXXXXX`` and
``.NAME.old-HOST~NS-PID-XXXXXXXX`` (NAME cut, see
:func:`~tagsmith.store.staging.short_name`; NS the PID namespace). A save killed
outright (SIGKILL, the OOM killer) leaves them behind; the next save to the same path
removes those of processes of this host and PID namespace that no longer run
(:mod:`tagsmith.store.staging`),
except a ``.NAME.old-*`` while the target is missing: that is the last good bundle, and
loading the missing target names it and how to put it back.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import stat
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith import __version__
from tagsmith._plural import plural, plural_s
from tagsmith._shell import shell_path
from tagsmith._size import byte_size
from tagsmith.exceptions import BundleError, BundleTargetError, DataError
from tagsmith.store.staging import make_staging, remove_staging, short_name, stale_staging

logger = logging.getLogger("tagsmith")

FORMAT_NAME = "tagsmith-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

#: the most bytes one array of a bundle may hold once unpacked (64 GiB); the
#: environment variable ``TAGSMITH_MAX_ARRAY_BYTES`` sets another limit
MAX_ARRAY_BYTES = 64 * 2 ** 30
#: the most a compressed ``.npz`` member may inflate: tagsmith writes them uncompressed
#: (ratio 1), so a member that unpacks to more than 100 times its stored size is a
#: decompression bomb, not a model
MAX_COMPRESSION_RATIO = 100
#: the most bytes a :data:`MANIFEST` may hold: tagsmith writes a few kilobytes, so a
#: larger file is not a manifest, and is refused before it is read into memory
MAX_MANIFEST_BYTES = 16 * 2 ** 20


@dataclass
class BundleWriter:
    """Collects a bundle's files in memory-light form, then :meth:`commit` writes them."""

    path: Path
    manifest: dict = field(default_factory=dict)
    #: the manifest of the bundle at ``path`` this one is to replace (the one a command
    #: loaded and changes in place): :meth:`commit` refuses to replace another, which a
    #: command that saved there meanwhile wrote, and whose changes would be lost
    replaces: dict | None = None
    #: the manifest :meth:`commit` wrote, as a reader parses it (what a further in-place
    #: save of the same bundle passes as ``replaces``)
    written: dict | None = None
    _json: dict[str, object] = field(default_factory=dict)
    _arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def add_json(self, name: str, obj: object) -> None:
        _check_name(name, ".json")
        self._json[name] = obj

    def add_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        _check_name(name, ".npz")
        for key, value in arrays.items():
            if np.asarray(value).dtype == object:
                raise BundleError(f"array {key!r} in {name} has dtype object, which needs pickle")
        self._arrays[name] = arrays

    def commit(self) -> Path:
        """Write everything to a temporary directory, then atomically move it into place."""
        target = check_bundle_target(self.path, in_place=self.replaces is not None)
        if target.name in ("", ".."):
            # '.' or a path ending in '..' (``-o .``): its name is no name to stage beside
            # and rename, and its parent is lexically itself or inside it, so the new
            # bundle was staged inside the target, which was then refused for holding it
            target = Path(os.path.realpath(target))
        # saving over the folder this process runs in ('-o .', or any spelling of it)
        # deletes that folder: '.' and every relative path then named the deleted one,
        # so clf.save('.') and TextClassifier.load('.') found no manifest.json
        current = _is_current_folder(target)
        absolute = Path(os.path.realpath(target))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BundleTargetError(f"cannot create the folder {target.parent} "
                              f"({exc.strerror or exc})", path=target) from exc
        try:  # a folder that says it is writable and is not (/proc, a root-squashed
            # share) failed here with a traceback, exit code 1
            staging = make_staging(target.parent, f".{short_name(target.name)}.tmp-")
        except OSError as exc:
            raise BundleTargetError(f"cannot create a folder in {target.parent} to write the "
                                    f"bundle in ({exc.strerror or exc})", path=target) from exc
        try:
            # mkdtemp makes it 0700: give it a replaced bundle's mode, else what mkdir gives
            os.chmod(staging, _directory_mode(target))
            checksums = {}
            for name, obj in self._json.items():
                checksums[name] = _write_bytes(staging / name, _json_bytes(obj))
            for name, arrays in self._arrays.items():
                # straight to the file: an in-memory archive would hold the model twice
                with open(staging / name, "wb") as handle:
                    _write_npz(handle, arrays)
                    handle.flush()
                    os.fsync(handle.fileno())
                checksums[name] = _sha256(staging / name)
            manifest = {
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                **self.manifest,
                # the writer's facts: a manifest passed back from a loaded bundle must
                # not restate the format or version of the tagsmith that wrote that one
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "tagsmith_version": __version__,
                "files": checksums,
            }
            manifest_bytes = _json_bytes(manifest)
            _write_bytes(staging / MANIFEST, manifest_bytes)
            mode = staging.stat().st_mode & 0o777
            for name in (*checksums, MANIFEST):  # files readable by whoever reads the folder
                os.chmod(staging / name, mode & 0o666)
            written = _parse_json(io.BytesIO(manifest_bytes), MANIFEST, target)
            _replace_directory(staging, target, self.replaces)
            self.written = written
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError) and exc.filename is None:
                # a write that fails (a full disk) names no file: the error read
                # "writing the output", which a user takes for stdout, not the bundle
                exc.filename = str(self.path)
            raise
        if current:
            os.chdir(absolute)  # follow the folder to the new bundle
            logger.warning("the bundle replaced the folder this ran in (%s): a shell still "
                           "in it sees the old folder, now deleted; 'cd %s' shows the "
                           "bundle", absolute, absolute)
        return target


class Bundle:
    """A verified, read-only view of a bundle directory.

    Every file the manifest lists is opened (and checksummed) here and read later from
    that open file: a save replacing the bundle meanwhile (a new directory renamed into
    place, the old one deleted) cannot hand a reader parts of the new bundle under the
    old manifest. :meth:`close` (or ``with``) closes the files; reads are not
    thread-safe.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._files: dict[str, BinaryIO] = {}
        try:
            # a save swaps the folders under an exclusive lock on their parent
            # (_replace_directory): opened without one, a bundle replaced meanwhile was
            # read as the old manifest and new files ("damaged (checksum mismatch)"),
            # or as "no such model bundle" between the renames
            with ExitStack() as locks:
                for parent in _parent_folders(self.path):
                    locks.enter_context(_folder_lock(parent, shared=True))
                kind = _reachable_kind(self.path)
                if kind == "missing":
                    left = _interrupted_saves(self.path)
                    if left:
                        # a save killed between its two renames (SIGKILL, a power cut)
                        # left the good bundle moved aside: 'no such model bundle' hid
                        # where it was
                        raise BundleError(
                            f"no such model bundle; a save to it was interrupted and left "
                            f"the bundle that was here at {left[0]}: rename it back to "
                            f"restore it (mv {shell_path(left[0])} "
                            f"{shell_path(self.path)})", path=self.path)
                    raise BundleError("no such model bundle", path=self.path)
                if kind != "a folder":  # a pipe or /dev/null was "a file" too
                    raise BundleError(f"a model bundle is a directory, this is {kind}",
                                      path=self.path)
                self.manifest = self._read_manifest()
                self._open_files()
            self._verify_files()  # the open files stay the bundle's, locked or not
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the bundle's files (reading them afterwards is an error)."""
        files, self._files = getattr(self, "_files", {}), {}
        for handle in files.values():
            handle.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def _read_manifest(self) -> dict:
        manifest_path = self.path / MANIFEST
        if _reachable_kind(manifest_path) == "missing":
            if not self.path.is_absolute() and _working_folder_deleted():
                # a shell left in a folder that 'train -o .' replaced: its '.' is the
                # old folder, deleted, and 'is missing' sent the user looking for a fault
                raise BundleError("the current folder has been deleted or replaced (by "
                                  "saving a bundle to it?): cd to its path again",
                                  path=self.path)
            raise BundleError(f"{MANIFEST} is missing: not a tagsmith model bundle", path=self.path)
        manifest = _load_manifest(self.path)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise BundleError(f"{MANIFEST} does not describe a {FORMAT_NAME}", path=self.path)
        version = manifest.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise BundleError(f"{MANIFEST} has an invalid format version {version!r} "
                              f"(an integer from 1 to {FORMAT_VERSION} expected)", path=self.path)
        if version > FORMAT_VERSION:
            raise BundleError(
                f"bundle format version {version!r} is newer than this tagsmith "
                f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade tagsmith",
                path=self.path)
        return manifest

    def _open_files(self) -> None:
        files = self.manifest.get("files")
        if not isinstance(files, dict):
            raise BundleError(f"{MANIFEST} lists no files", path=self.path)
        for name in files:
            _check_name(name, Path(name).suffix, bundle=self.path)
            self._files[name] = _open_regular(self.path / name, name, self.path)

    def _verify_files(self) -> None:
        for name, expected in self.manifest["files"].items():
            if _sha256(self._files[name]) != expected:
                raise BundleError(f"file {name} is damaged (checksum mismatch)", path=self.path)

    def has(self, name: str) -> bool:
        return name in self.manifest["files"]

    def read_json(self, name: str) -> Any:  # whatever JSON the file holds
        return _parse_json(self._open(name), name, self.path)

    def read_arrays(self, name: str, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """The arrays of the ``.npz`` file ``name``, checked before any is unpacked.

        Each member must be a ``KEY.npy`` (one of ``keys``, when given) whose ``.npy``
        header declares exactly the bytes the member holds, at most
        :data:`MAX_ARRAY_BYTES` (``TAGSMITH_MAX_ARRAY_BYTES``) and at most
        :data:`MAX_COMPRESSION_RATIO` times its compressed size: a decompression bomb or
        a header claiming a huge shape is a :class:`BundleError`, not gigabytes of
        memory or a MemoryError.
        """
        handle = self._open(name)
        try:
            with zipfile.ZipFile(handle) as archive:
                _check_members(archive, name, None if keys is None else set(keys))
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        except BundleError as exc:
            raise BundleError(str(exc), path=self.path) from exc
        except MemoryError as exc:
            raise BundleError(f"{name} holds arrays too large for this machine's memory",
                              path=self.path) from exc
        except ValueError as exc:  # e.g. an object array, which would need pickle
            raise BundleError(f"{name} cannot be read safely ({exc})", path=self.path) from exc
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError,
                NotImplementedError) as exc:  # truncated, not an archive, odd compression
            raise BundleError(f"file {name} is damaged ({type(exc).__name__}: {exc})",
                              path=self.path) from exc

    def _open(self, name: str) -> BinaryIO:
        """The verified file ``name``, from its start."""
        if name not in self.manifest["files"]:
            raise BundleError(f"the bundle has no {name}", path=self.path)
        if name not in self._files:
            raise BundleError(f"cannot read {name}: the bundle was closed", path=self.path)
        handle = self._files[name]
        handle.seek(0)
        return handle


# -- checks of arrays read from a bundle ------------------------------------------------------
# scipy's ``csr_matrix((data, indices, indptr))`` and the compiled kernels trust their
# index arrays: an index out of range reads or writes outside the arrays (a crash, or
# worse). Every ``from_state`` that builds a sparse matrix or hands index arrays to a
# kernel checks them here first; the errors are ValueErrors, which the bundle loader
# reports as a BundleError naming the bundle.


def is_bundle(path: str | Path) -> bool:
    """Whether ``path`` is a folder whose :data:`MANIFEST` says it is a tagsmith bundle
    (no manifest, an unreadable one or another format's: ``False``). Corpus readers ask
    it to refuse a bundle given as a corpus: read as a document folder it held none."""
    try:  # capped: a huge file named manifest.json was read whole and parsed
        manifest = _load_manifest(Path(path))
    except (BundleError, OSError):  # damaged, too large, not a regular file
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT_NAME


def recorded_text_columns(path: str | Path) -> tuple[str, ...] | None:
    """The text columns the bundle ``path`` was trained on (``training.text_columns``
    of its manifest: the command line's ``--text-column``), None where it names none (a
    bundle read from ``text``, or saved before the field) or where ``path`` is no
    readable bundle, which loading it then says. A field that is no list of column
    names is a BundleError naming the bundle. A
    bundle loaded names them as :attr:`TextClassifier.text_columns
    <tagsmith.pipeline.classifier.TextClassifier.text_columns>`."""
    try:
        manifest = _load_manifest(Path(path))
    except (BundleError, OSError):
        return None
    return manifest_text_columns(manifest, path)


def manifest_text_columns(manifest: object, path: str | Path) -> tuple[str, ...] | None:
    """The text columns a bundle ``manifest`` records (:func:`recorded_text_columns`),
    each one column (a name may hold a comma); a field that is no list of column names
    is a BundleError naming the bundle ``path``."""
    training = manifest.get("training") if isinstance(manifest, dict) else None
    if not isinstance(training, dict) or training.get("text_columns") is None:
        return None
    columns = training["text_columns"]
    if not isinstance(columns, list) or not columns or \
            not all(isinstance(name, str) and name.strip() for name in columns):
        raise BundleError(f"{MANIFEST}: training.text_columns is not a list of column "
                          f"names: {columns!r}", path=path)
    from tagsmith.data.readers import text_column_names

    # a list's names are each one column (a name may hold a comma), as text_column_names
    # reads a sequence; the list was checked non-empty above
    return text_column_names(columns)


def check_pointers(name: str, indptr: npt.ArrayLike, *, length: int | None = None,
                   end: int | None = None) -> np.ndarray:
    """``indptr`` as int64 when it is a 1-D integer array of offsets: starting at 0,
    non-decreasing, ``length`` long and ending at ``end`` (when given); else ValueError.

    >>> check_pointers("p", np.array([0, 2, 2, 5]), end=5).tolist()
    [0, 2, 2, 5]
    >>> check_pointers("p", np.array([0, 3, 2]))
    Traceback (most recent call last):
    ...
    ValueError: p is not a run of non-decreasing offsets from 0
    """
    indptr = np.asarray(indptr)
    if indptr.ndim != 1 or not np.issubdtype(indptr.dtype, np.integer) or indptr.size < 1:
        raise ValueError(f"{name} is not a 1-D integer array of offsets "
                         f"(dtype {indptr.dtype}, shape {indptr.shape})")
    if np.issubdtype(indptr.dtype, np.unsignedinteger) and indptr.size \
            and int(indptr.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds offsets out of range")
    indptr = indptr.astype(np.int64, copy=False)
    if indptr[0] != 0 or np.any(indptr[1:] < indptr[:-1]):
        raise ValueError(f"{name} is not a run of non-decreasing offsets from 0")
    if length is not None and indptr.size != length:
        raise ValueError(f"{name} has {indptr.size} offset{plural_s(indptr.size)}, "
                         f"expected {length}")
    if end is not None and indptr[-1] != end:
        raise ValueError(f"{name} ends at {int(indptr[-1])}, expected {end}")
    return indptr


def check_ids(name: str, ids: npt.ArrayLike, upper: int, *, lower: int = 0,
              shape: tuple[int, ...] | None = None, dtype: npt.DTypeLike = np.int64) -> np.ndarray:
    """``ids`` as ``dtype`` when it is an integer array (of ``shape``, when given) with
    every value in ``[lower, upper)``; else ValueError. For index arrays a bundle hands
    to compiled code or to scipy, which do not check ranges.

    >>> check_ids("rows", np.array([0, 4]), 5).tolist()
    [0, 4]
    >>> check_ids("rows", np.array([0, 5]), 5)
    Traceback (most recent call last):
    ...
    ValueError: rows holds ids in [0, 5], expected them in [0, 5)
    """
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{name} is not an integer array (dtype {ids.dtype})")
    if shape is not None and ids.shape != shape:
        raise ValueError(f"{name} has shape {ids.shape}, expected {shape}")
    if ids.size:
        low, high = int(ids.min()), int(ids.max())  # Python ints: no unsigned wrap-around
        if low < lower or high >= upper:
            raise ValueError(f"{name} holds ids in [{low}, {high}], expected them in "
                             f"[{lower}, {upper})")
    return ids.astype(dtype, copy=False)


def check_values(name: str, values: npt.ArrayLike, shape: tuple[int | None, ...], *,
                 low: float = -np.inf,
                 high: float = np.inf, finite: bool = True) -> np.ndarray:
    """``values`` as float64 when it is a numeric array of ``shape`` (``None``: any length
    along that axis) whose every value is a number in ``[low, high]``, finite unless
    ``finite=False`` (NaN never passes); else ValueError. For the weights, probabilities
    and scores a bundle restores, which numpy would otherwise take as they come: a string
    array failed on the first text with a UFuncTypeError, a NaN with an error about a
    parameter nobody passed, a 2-D array with an IndexError.

    >>> check_values("tail", np.array([0.0, 0.5]), (2,), low=0, high=1).tolist()
    [0.0, 0.5]
    >>> check_values("tail", np.array([0.5, np.nan]), (None,), low=0, high=1)
    Traceback (most recent call last):
    ...
    ValueError: tail holds NaN, expected finite numbers in [0, 1]
    """
    values = np.asarray(values)
    if values.dtype.kind not in "iuf":
        raise ValueError(f"{name} is not an array of numbers (dtype {values.dtype})")
    if values.ndim != len(shape) or any(want is not None and got != want
                                        for got, want in zip(values.shape, shape, strict=True)):
        wanted = tuple("n" if want is None else want for want in shape)
        raise ValueError(f"{name} has shape {values.shape}, expected "
                         f"{wanted if len(wanted) != 1 else f'({wanted[0]},)'}")
    values = values.astype(np.float64, copy=False)
    expected = f"{'finite ' if finite else ''}numbers" + (
        "" if np.isinf(low) and np.isinf(high) else f" in [{low:g}, {high:g}]")
    if np.isnan(values).any():
        raise ValueError(f"{name} holds NaN, expected {expected}")
    if finite and not np.isfinite(values).all():
        raise ValueError(f"{name} holds infinite values, expected {expected}")
    if values.size and (values.min() < low or values.max() > high):
        raise ValueError(f"{name} holds values in [{values.min():g}, {values.max():g}], "
                         f"expected {expected}")
    return values


def check_sorted_groups(name: str, values: np.ndarray, indptr: np.ndarray) -> None:
    """ValueError unless ``values[indptr[g]:indptr[g + 1]]`` is non-decreasing for every
    group ``g`` (``indptr`` checked offsets ending at ``values.size``, ``values`` free of
    NaN): code that reads the groups (binary searches, quantiles by position) trusts the
    order and, without it, silently answers wrong.

    >>> check_sorted_groups("s", np.array([1.0, 2.0, 0.0, 3.0]), np.array([0, 2, 4]))
    >>> check_sorted_groups("s", np.array([2.0, 1.0]), np.array([0, 2]))
    Traceback (most recent call last):
    ...
    ValueError: s is not sorted ascending within group 0
    """
    rising = values[1:] >= values[:-1]  # -inf twice is in order (a difference is NaN)
    starts = indptr[1:-1]
    starts = starts[(starts > 0) & (starts < values.size)]
    rising[starts - 1] = True  # the first value of a group follows another group's last
    if not rising.all():
        position = int(np.flatnonzero(~rising)[0]) + 1
        group = int(np.searchsorted(indptr, position, side="right")) - 1
        raise ValueError(f"{name} is not sorted ascending within group {group}")


def sparse_from_state(name: str, fmt: str, data: npt.ArrayLike, indices: npt.ArrayLike,
                      indptr: npt.ArrayLike,
                      shape: tuple[int, int]) -> sp.csr_matrix | sp.csc_matrix:
    """A CSR (``fmt="csr"``) or CSC matrix of ``shape`` from a bundle's
    ``(data, indices, indptr)`` triple, float32, once the triple is known to be
    consistent: ``indptr`` offsets from 0 to ``len(indices) == len(data)``, one per
    row (CSR) or column (CSC) plus one, and every index inside the other dimension.
    Anything else is a ValueError naming ``name``.

    >>> m = sparse_from_state("w", "csr", np.ones(2), np.array([1, 0]), np.array([0, 1, 2]),
    ...                       (2, 2))
    >>> m.toarray().tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    >>> sparse_from_state("w", "csr", np.ones(1), np.array([2_000_000_000]),
    ...                   np.array([0, 1, 1]), (2, 2))
    Traceback (most recent call last):
    ...
    ValueError: w: indices holds ids in [2000000000, 2000000000], expected them in [0, 2)
    """
    if fmt not in ("csr", "csc"):
        raise ValueError(f"unknown sparse format {fmt!r}")
    if len(shape) != 2 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer))
                              or n < 0 for n in shape):
        raise ValueError(f"{name}: shape {shape!r} is not two non-negative integers")
    n_rows, n_cols = int(shape[0]), int(shape[1])
    major, minor = (n_rows, n_cols) if fmt == "csr" else (n_cols, n_rows)
    data = np.asarray(data)
    if data.ndim != 1 or data.dtype.kind not in "biuf":  # complex lost its imaginary part
        raise ValueError(f"{name}: data is not a 1-D numeric array "
                         f"(dtype {data.dtype}, shape {data.shape})")
    indices = np.asarray(indices)
    if indices.ndim != 1:
        raise ValueError(f"{name}: indices has shape {indices.shape}, expected 1-D")
    if indices.size != data.size:
        raise ValueError(f"{name}: {indices.size} {plural(indices.size, 'index', 'indices')} "
                         f"for {data.size} value{plural_s(data.size)}")
    indptr = check_pointers(f"{name}: indptr", indptr, length=major + 1, end=data.size)
    wide = max(n_rows, n_cols, data.size) > np.iinfo(np.int32).max
    index_dtype = np.int64 if wide else np.int32
    indices = check_ids(f"{name}: indices", indices, minor, dtype=index_dtype)
    build = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
    return build((data.astype(np.float32, copy=False), indices,
                  indptr.astype(index_dtype, copy=False)), shape=(n_rows, n_cols))


def _reachable_kind(path: Path) -> str:
    """:func:`~tagsmith.data.textio.reachable_kind` of a bundle to read (or a file of
    it), a path that cannot be looked at refused as a :class:`BundleError` (exit code
    4, as a bundle file that cannot be read), naming it: a bare PermissionError before."""
    from tagsmith.data.textio import reachable_kind

    try:
        return reachable_kind(path)
    except DataError as exc:
        raise BundleError(exc.reason, path=exc.path) from None


def _parent_folders(path: Path) -> list[Path]:
    """The folders whose locks a save of the bundle at ``path`` may hold: the one
    ``path`` is in (a save to ``path``), and where ``path`` is a symbolic link, the one
    each link it leads through is in (a save to that link replaces it there: a reader
    through ``L -> d2/L2 -> d3/B`` read d2's swap unlocked) and the one the bundle it
    points to is in (an in-place save through the link, or one to the bundle's own
    path, swaps the folders there); none when a relative ``path`` names nothing (the
    working folder was deleted)."""
    try:
        step = Path(os.path.abspath(path))
    except FileNotFoundError:
        return []
    folders = [step.parent]
    for _ in range(40):  # as many links as the system follows; more is a loop
        try:
            if not os.path.islink(step):
                break
            pointed = os.path.join(step.parent, os.readlink(step))
        except OSError:
            break
        step = Path(os.path.realpath(os.path.dirname(pointed))) / os.path.basename(pointed)
        if step.parent not in folders:
            folders.append(step.parent)
    if os.path.islink(path):
        bundle_folder = Path(os.path.realpath(path)).parent
        if bundle_folder not in folders:
            folders.append(bundle_folder)
    return folders


def _open_regular(path: Path, name: str, bundle: Path) -> BinaryIO:
    """``path`` opened for reading; a bundle file that is missing, a symbolic link or
    not a regular file is refused: a link would make the bundle read (and checksum) a
    file anywhere on the machine."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            raise BundleError(f"file {name} is a symbolic link; a bundle holds only regular "
                              "files", path=bundle)
        if not stat.S_ISREG(mode):
            raise BundleError(f"file {name} is not a regular file", path=bundle)
        # O_NOFOLLOW: not a link put there since the lstat either
        handle = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")
    except FileNotFoundError:
        raise BundleError(f"file {name} is missing", path=bundle) from None
    except OSError as exc:
        raise BundleError(f"file {name} cannot be read ({exc.strerror or exc})",
                          path=bundle) from exc
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise BundleError(f"file {name} is not a regular file", path=bundle)
    return handle


def _load_manifest(bundle: Path) -> object:
    """The JSON of ``bundle``'s :data:`MANIFEST`, a regular file of at most
    :data:`MAX_MANIFEST_BYTES`; else a BundleError naming the bundle. Every reader of a
    manifest goes through it: a huge file there was read whole and parsed (300 MB: 1.2 GB
    of memory), by :func:`is_bundle` and :func:`check_bundle_target` too."""
    with _open_regular(bundle / MANIFEST, MANIFEST, bundle) as handle:
        # parsed as read, not read again: a second read() had no cap (a file growing
        # meanwhile) and read the manifest twice
        data = handle.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{MANIFEST} is too large for a bundle manifest (more "
                          f"than {byte_size(MAX_MANIFEST_BYTES)})", path=bundle)
    return _parse_json(io.BytesIO(data), MANIFEST, bundle)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """An object of a bundle's JSON, refusing a key it names twice: JSON keeps the last
    value, so the manifest (which has no checksum) could say one format and mean another.

    >>> _BUNDLE_JSON.decode('{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    ValueError: the key 'a' appears twice in one object
    """
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return value


#: :func:`json.loads` refusing duplicate keys (NaN and Infinity stay: bundles written
#: before strict JSON hold the bare token ``Infinity``)
_BUNDLE_JSON = json.JSONDecoder(object_pairs_hook=_unique_keys)


def _parse_json(handle: BinaryIO, name: str, bundle: Path):
    """The file ``handle`` parsed as JSON; malformed JSON is a BundleError naming the bundle.

    Besides syntax errors that covers what json.loads raises on crafted input:
    arrays nested 100,000 deep (RecursionError), integers of more than 4,300
    digits (ValueError), and an object naming a key twice.
    """
    try:
        return _BUNDLE_JSON.decode(handle.read().decode("utf-8"))
    except RecursionError as exc:
        raise BundleError(f"{name} is damaged (nested too deeply to read)",
                          path=bundle) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 5,000-digit int
        raise BundleError(f"{name} is damaged ({exc})", path=bundle) from exc


def max_array_bytes() -> int:
    """:data:`MAX_ARRAY_BYTES`, or the ``TAGSMITH_MAX_ARRAY_BYTES`` environment variable."""
    value = os.environ.get("TAGSMITH_MAX_ARRAY_BYTES", "").strip()
    if not value:
        return MAX_ARRAY_BYTES
    try:
        limit = int(value)
    except ValueError:
        limit = -1
    if limit < 1:
        raise BundleError(f"TAGSMITH_MAX_ARRAY_BYTES must be a number of bytes >= 1, got "
                          f"{value!r}")
    return limit


def _check_members(archive: zipfile.ZipFile, name: str, keys: set[str] | None) -> None:
    """Refuse an ``.npz`` whose members could not be unpacked safely (see read_arrays)."""
    limit = max_array_bytes()
    seen = set()
    for info in archive.infolist():
        member = info.filename
        key = member.removesuffix(".npy")
        if not member.endswith(".npy") or "/" in member or key in seen:
            raise BundleError(f"{name} holds an unexpected member {member!r}")
        if keys is not None and key not in keys:
            raise BundleError(f"{name} holds an unexpected array {key!r} (expected "
                              f"{', '.join(sorted(keys))})")
        seen.add(key)
        if info.file_size > limit:
            raise BundleError(f"{name}: array {key!r} unpacks to {info.file_size:,} bytes, "
                              f"more than the limit of {limit:,} (TAGSMITH_MAX_ARRAY_BYTES)")
        if info.compress_type != zipfile.ZIP_STORED and \
                info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1024):
            raise BundleError(f"{name}: array {key!r} unpacks to {info.file_size:,} bytes from "
                              f"{info.compress_size:,}: a decompression bomb, not a model")
        with archive.open(info) as member_file:
            try:
                version = np.lib.format.read_magic(member_file)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member_file)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member_file)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
            except ValueError as exc:
                raise BundleError(f"{name}: array {key!r} has a damaged header ({exc})") from exc
            header = member_file.tell()
        if dtype.hasobject:
            raise BundleError(f"{name} cannot be read safely: array {key!r} has dtype object, "
                              "which needs pickle")
        size = dtype.itemsize
        for n in shape:  # Python ints: a huge declared shape cannot overflow
            size *= int(n)
        if header + size != info.file_size:
            raise BundleError(f"{name}: array {key!r} declares shape {tuple(shape)} of "
                              f"{dtype} ({size:,} bytes) but holds {info.file_size - header:,}")
    if keys is not None and not keys <= seen:
        raise BundleError(f"{name} lacks the arrays {', '.join(sorted(keys - seen))}")


def _check_name(name: str, suffix: str, *, bundle: Path | None = None) -> None:
    # a NUL made the open fail with ValueError "embedded null byte" (exit code 1, a
    # traceback), and an empty name opened the bundle's own folder
    if not name or not name.endswith(suffix) or "/" in name or "\\" in name \
            or name.startswith(".") or not name.isprintable():
        where = f" listed in its {MANIFEST}" if bundle is not None else ""
        raise BundleError(f"invalid bundle file name {name!r}{where}", path=bundle)


def _directory_mode(target: Path) -> int:
    """The mode of the bundle ``target`` replaces, else ``0o777`` less the umask."""
    try:
        if target.is_dir():
            return target.stat().st_mode & 0o7777
    except OSError:
        pass
    from tagsmith.data.textio import current_umask

    return 0o777 & ~current_umask()


def _json_bytes(obj: object) -> bytes:
    """``obj`` as strict JSON (see :mod:`tagsmith._json`): ``-p C=Infinity`` was written
    as the bare token ``Infinity`` in manifest.json and model.json, which strict JSON
    parsers refuse; it is now the string ``"Infinity"``, and a model reads it back as
    the float (:meth:`~tagsmith.models.base.BaseModel.params_from_json`)."""
    from tagsmith._json import dumps

    return dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


#: the time every ``.npz`` member carries: the earliest a zip entry can hold, a constant,
#: so that equal arrays make an equal file (see :func:`_write_npz`)
NPZ_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def _write_npz(handle: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    """``arrays`` as an uncompressed ``.npz`` (what :func:`numpy.savez` writes, and
    :func:`numpy.load` reads) whose bytes depend on the arrays alone: members in the
    order given (each part's ``to_state`` fixes it), each dated :data:`NPZ_DATE_TIME`
    and marked as written on Unix, no pickle. :func:`numpy.savez` left the date and the
    system to :mod:`zipfile`: Python 3.11-3.13 date such members 1980, a Windows Python
    marks them as written there, and neither is promised, so equal models could give
    other files, and other checksums in the manifest. On Unix the bytes are those
    ``numpy.savez`` writes there (a bundle saved again keeps its checksums).

    >>> import io
    >>> first, second = io.BytesIO(), io.BytesIO()
    >>> for out in (first, second):
    ...     _write_npz(out, {"b": np.arange(3), "a": np.ones(2)})
    >>> first.getvalue() == second.getvalue()
    True
    >>> np.load(io.BytesIO(first.getvalue()), allow_pickle=False)["b"]
    array([0, 1, 2])
    """
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=NPZ_DATE_TIME)
            info.create_system = 3  # Unix, wherever it is written
            info.external_attr = 0o600 << 16  # read-write for the owner, as numpy's
            # force_zip64 as numpy.savez: a member's size is not known before
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def _write_bytes(path: Path, payload: bytes) -> str:
    with open(path, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    return hashlib.sha256(payload).hexdigest()


def _sha256(source: Path | BinaryIO) -> str:
    """SHA-256 of the file at ``source``, or of an open file from where it stands."""
    if isinstance(source, Path):
        with open(source, "rb") as handle:
            return _sha256(handle)
    digest = hashlib.sha256()
    for chunk in iter(lambda: source.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def in_place_target(path: str | Path) -> Path:
    """Where a bundle changed in place (``calibrate L``, ``shift L --save``) is saved:
    ``path``, or where ``path`` is a symbolic link, the bundle it points to, and the link
    stays (saved at the link, the link was replaced by a folder of its own and the
    bundle it pointed to left unchanged)."""
    path = Path(path)
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def check_bundle_target(path: str | Path, *, locked: bool = False,
                        in_place: bool = False) -> Path:
    """Refuse, naming ``path``, a place a bundle cannot be written to (or replace).

    An existing file, a folder that is not empty and not a bundle, a path below a
    file, or a read-only folder are refused; a missing folder is fine (it is
    created). The writer applies the same rule, so commands call this before long
    work and a typo costs nothing. Refusals are :class:`BundleTargetError`: an output
    path that cannot be written, exit code 3 as any other output's. ``locked``: the
    caller holds the exclusive lock of the target's folder (:func:`_folder_lock`).
    ``in_place``: the bundle at ``path`` is saved in place, where a link points
    (:func:`in_place_target`, the path returned): the folder checked is that one's,
    not the link's (a link in a read-only folder was refused, and a bundle in one
    passed, to fail once the work was done).
    """
    target = in_place_target(path) if in_place else Path(path)
    _check_name_length(target)
    from tagsmith.data.textio import check_writable_dir, reachable_kind

    try:  # below a folder that may not be looked into: a bare PermissionError before
        kind = reachable_kind(target)
    except DataError as exc:
        raise BundleTargetError(exc.reason, path=target) from None
    if kind not in ("missing", "a folder"):
        raise BundleTargetError(f"exists and is {kind}, not a directory; refusing "
                                "to overwrite it", path=target)
    if kind == "a folder":
        with nullcontext() if locked else _folder_lock(target.parent, shared=True):
            _check_replaceable(target)  # not while a save swaps it (see _folder_lock)
    try:  # below a file, or in a read-only folder: the bundle is staged next to the
        # target and renamed into place, so an existing bundle's folder must be writable
        check_writable_dir(target.parent if kind != "missing" else target)
    except DataError as exc:
        raise BundleTargetError(exc.reason, path=target) from None
    return target


def _check_name_length(target: Path) -> None:
    """Refuse a bundle name longer than the file system's limit (``NAME_MAX``, most
    often 255 bytes) before any work: it failed only once the bundle was written."""
    name = os.fsencode(target.name)
    from tagsmith.data.textio import kind_of

    # kind_of, not is_dir(): a folder that may not be looked into raised PermissionError
    # (Python 3.11); the refusal naming it comes after this check
    folder = next((p for p in target.absolute().parents if kind_of(p) == "a folder"), None)
    try:
        limit = os.pathconf(folder if folder is not None else ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), no limit
        limit = 255
    if limit > 0 and len(name) > limit:
        raise BundleTargetError(f"its name is {len(name)} bytes long, more than the {limit} "
                                "a file name may have here", path=target)


def _check_replaceable(target: Path) -> None:
    """Refuse an existing folder whose replacement would delete more than a bundle: one
    that is not empty and holds no tagsmith manifest (another program's
    ``manifest.json`` does not count), or a bundle that also holds files its manifest
    does not list (a corpus or notes put beside the model)."""
    entries = sorted(entry.name for entry in target.iterdir())
    if not entries:
        return
    if MANIFEST not in entries:
        raise BundleTargetError("exists, is not empty and is not a model bundle; refusing to "
                          "overwrite it", path=target)
    try:  # capped: a huge file named manifest.json was read whole and parsed
        manifest = _load_manifest(target)
    except (BundleError, OSError):  # damaged, too large, not a regular file
        manifest = None
    if not isinstance(manifest, dict):
        manifest = {}
    files = manifest.get("files")
    if manifest.get("format") != FORMAT_NAME or not isinstance(files, dict):
        raise BundleTargetError(f"holds a {MANIFEST} that is not a tagsmith bundle's; refusing to "
                          "overwrite it", path=target)
    foreign = [name for name in entries if name != MANIFEST and name not in files]
    if foreign:
        shown = ", ".join(repr(name) for name in foreign[:5]) + (", ..." if len(foreign) > 5
                                                                 else "")
        raise BundleTargetError(f"is a model bundle but also holds {len(foreign)} "
                          f"file{plural_s(len(foreign))} it does not list ({shown}), which "
                          f"replacing it would delete; move {plural(len(foreign), 'it', 'them')} "
                          "out or write the bundle elsewhere", path=target)


def _is_current_folder(target: Path) -> bool:
    """Whether ``target`` is the process's working folder (any spelling of it; a link
    to it is not: saving replaces the link, and the folder stays)."""
    try:
        return (not os.path.islink(target) and os.path.isdir(target)
                and os.path.samefile(target, os.curdir))
    except OSError:
        return False


def _working_folder_deleted() -> bool:
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _replace_directory(staging: Path, target: Path, replaces: dict | None = None) -> None:
    with _folder_lock(target.parent):
        check_bundle_target(target, locked=True)
        if replaces is not None:
            _check_still_there(target, replaces)
        _remove_stale(target)
        backup = None
        try:
            # lexists: a symbolic link to nowhere is moved aside as a link to a bundle
            # is; rename(2) refuses to put a folder in its place (ENOTDIR), after the
            # whole training, naming the staging folder
            if os.path.lexists(target):
                backup = make_staging(target.parent, f".{short_name(target.name)}.old-")
                backup.rmdir()
                os.rename(target, backup)
            os.rename(staging, target)
        except BaseException:  # an error or an interrupt between the renames: roll back
            if backup is not None and os.path.lexists(backup):
                if staging.exists() and not os.path.lexists(target):
                    os.rename(backup, target)  # the new bundle never got in place
                elif not staging.exists():
                    remove_staging(backup)  # it did: the old one can go
            raise
        if backup is not None:
            remove_staging(backup)


def _check_still_there(target: Path, replaces: dict) -> None:
    """Refuse to replace ``target`` unless it still holds the bundle of the manifest
    ``replaces`` (the same manifest: its ``files`` checksums, and sections such as
    ``calibration`` that no file holds): two commands changing one bundle in place
    at once (``calibrate B`` while ``shift B --save``) each saved the bundle it had
    loaded with its own change, and the last one's save dropped the other's without a
    word, though that one had said it saved it."""
    try:
        found = _load_manifest(target)
    except (BundleError, OSError):  # gone, or no manifest to read: not the one loaded
        found = None
    if found == replaces:
        return
    raise BundleTargetError("was replaced by another command while this one ran; not "
                            "overwritten, which would drop that command's changes: run this "
                            "one again on it", path=target)


def _remove_stale(target: Path) -> None:
    """Delete the staging folders of saves to ``target`` killed outright (SIGKILL, the
    OOM killer: no clean-up ran), which stayed forever: those a process of this host
    that no longer runs left (see :mod:`tagsmith.store.staging`; saves to one folder
    take turns, so a live one's folders are never among them). A moved-aside
    ``.NAME.old-*`` while ``target`` is missing is the last good bundle (the kill fell
    between the two renames): it is kept and named, a later save deletes it."""
    prefix = f".{short_name(target.name)}."
    for path, pid in stale_staging(target.parent, prefix + "tmp-"):
        remove_staging(path)
        logger.info("removed %s, the staging folder of a save to %s that was killed "
                    "(process %d)", path, target, pid)
    for path, pid in stale_staging(target.parent, prefix + "old-"):
        if os.path.lexists(target):
            remove_staging(path)
            logger.info("removed %s, the bundle a killed save (process %d) replaced at %s",
                        path, pid, target)
        else:
            logger.warning("%s holds the bundle that was at %s before a save to it was "
                           "killed (process %d); it is kept: move it elsewhere to keep it, "
                           "as a later save to %s deletes it", path, target, pid, target)


def _interrupted_saves(path: Path) -> list[Path]:
    """The bundles a save to ``path`` moved aside (``.NAME.old-*``) and never put back
    or deleted (it was killed between its two renames), newest first."""
    if path.name in ("", ".", ".."):
        return []
    prefix = f".{short_name(path.name)}.old-"
    try:
        found = [entry for entry in path.parent.iterdir()
                 if entry.name.startswith(prefix) and entry.is_dir()]
        return sorted(found, key=lambda entry: entry.stat().st_mtime, reverse=True)
    except OSError:
        return []


@contextmanager
def _folder_lock(folder: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (``shared``: a shared) ``flock`` on ``folder`` itself (no lock
    file to leave behind).

    Two saves to one path (two trainings run at once) swapped the folders in turns:
    one moved the target aside while the other did, or put its bundle where the other
    had just put its own, so a save failed naming a ``.NAME.old-*`` or ``.NAME.tmp-*``
    folder, or refused the target as no bundle, and the replaced bundle stayed behind
    as ``.NAME.old-*``. Under the lock the last save wins. Readers (:class:`Bundle`, and
    the check that a target is a bundle) hold it shared: a folder being replaced, or the
    replaced one half deleted, read as no bundle or a damaged one. Where the folder cannot be
    locked (no ``fcntl``, a folder that cannot be opened or locked) saves go unlocked.
    """
    try:
        import fcntl
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (ImportError, OSError):
        yield
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        os.close(handle)  # releases the lock
