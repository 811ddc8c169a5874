"""Nearest-neighbour search over unit vectors: exact (blocked matrix products) or HNSW.

Both return, per query, the ``k`` most similar rows by inner product (cosine on unit
vectors), best first. Exact search costs ``n_queries x n_rows x dim`` multiply-adds
(about 0.2 s per 1,000 queries against 25,000 label rows on two cores, far below the
cost of embedding the queries); :class:`HnswIndex` (hnswlib) answers in time
logarithmic in the rows, for label spaces in the hundreds of thousands.

An HNSW index given a ``cache_prefix`` is saved beside it (hnswlib's own binary format,
never pickle) with a small JSON record, and loaded instead of rebuilt on the next run
(:class:`HnswIndex`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from tagsmith._params import check_choice, check_int
from tagsmith.exceptions import MissingDependencyError

logger = logging.getLogger("tagsmith")

#: above this many label rows ``"auto"`` builds an HNSW index
HNSW_FROM_ROWS = 200_000
INDEX_KINDS = ("auto", "exact", "hnsw")
#: query rows per block of exact search (bounds the block's similarity matrix)
BLOCK_ENTRIES = 2 ** 24
#: format of a saved HNSW index's JSON record (a change rebuilds every saved index)
HNSW_CACHE_FORMAT = 1
#: the most bytes a saved index's JSON record may have
HNSW_RECORD_MAX_BYTES = 64 * 1024


class ExactIndex:
    """Exact inner-product search.

    >>> index = ExactIndex(np.eye(3, dtype=np.float32))
    >>> ids, sims = index.search(np.array([[0.1, 0.9, 0.0]], np.float32), 2)
    >>> ids.tolist(), sims.astype(float).round(2).tolist()
    ([[1, 0]], [[0.9, 0.1]])
    """

    kind = "exact"

    def __init__(self, vectors: np.ndarray):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per query row, the ids and similarities of its ``k`` most similar rows (at
        most all of them), best first; ``k`` must be an integer >= 1."""
        n_rows = self.vectors.shape[0]
        # k=0 gave empty answers, a negative k numpy's "negative dimensions", 2.5 a
        # TypeError: none naming k
        k = min(check_int("k", k, 1, numpy=True), n_rows)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        ids = np.zeros((len(queries), k), np.int64)
        sims = np.zeros((len(queries), k), np.float32)
        block = max(1, BLOCK_ENTRIES // max(n_rows, 1))
        for start in range(0, len(queries), block):
            scores = queries[start:start + block] @ self.vectors.T
            if k < n_rows:
                part = _best_rows(scores, k)
            else:
                part = np.broadcast_to(np.arange(n_rows), scores.shape).copy()
            part_scores = np.take_along_axis(scores, part, axis=1)
            # best first, tied rows by lower row id (the TopK rule)
            order = np.lexsort((part, -part_scores), axis=1)
            ids[start:start + block] = np.take_along_axis(part, order, axis=1)
            sims[start:start + block] = np.take_along_axis(part_scores, order, axis=1)
        return ids, sims


def _best_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row of ``scores`` (``n x n_rows``), the columns of its ``k`` best scores
    (``n x k``, in no particular order); of columns tied with the ``k``-th best, the
    lowest.

    ``np.argpartition`` alone chose among such ties by its own internals: with labels
    sharing a name (the same vector), which of them made the top ``k`` depended on ``k``
    and the row count, not on the label id as everywhere else in tagsmith.

    >>> _best_rows(np.array([[0.5, 0.9, 0.5, 0.5, 0.1]]), 2).tolist()
    [[0, 1]]
    """
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)
    # rows where more columns tie with the k-th best than the top k has room for
    # (rare: one pass to find them, the fix only on those)
    tied = scores == kth
    room = k - (scores > kth).sum(axis=1)
    ambiguous = np.flatnonzero(tied.sum(axis=1) > room)
    if len(ambiguous):
        sub_tied = tied[ambiguous]
        keep = (scores[ambiguous] > kth[ambiguous]) | (
            sub_tied & (np.cumsum(sub_tied, axis=1) <= room[ambiguous, None]))
        part[ambiguous] = np.nonzero(keep)[1].reshape(len(ambiguous), k)
    return part


class HnswIndex:
    """Approximate search with hnswlib (``M``, ``ef_construction``, query-time ``ef``).

    With ``n_threads`` > 1 the graph is built by threads inserting at once, so two
    builds of the same vectors can differ in a few links (and rank near-ties apart);
    ``n_threads=1`` builds the same graph every time, about a third slower.

    Threads may search one index at once: a search sets the index's query depth and
    queries it under a lock, so each answers as it would alone.

    With ``cache_prefix`` (the CLI's label-embedding cache file less ``.npz``) the built
    index is saved to :func:`hnsw_cache_file` (named after hnswlib's version and the
    parameters) with a JSON record of the vectors' SHA-256, the file's size and its
    SHA-256, and read back on the next run instead of rebuilt (48 s for YSO's 27,754
    labels on 2 busy cores, minutes for 200,000): only when the record matches and the
    file is the one it describes, so a damaged or truncated file is rebuilt with a
    warning, never read by hnswlib.

    Over no rows it answers no neighbours, as :class:`ExactIndex` does.
    """

    kind = "hnsw"

    def __init__(self, vectors: np.ndarray, *, M: int = 32, ef_construction: int = 200,
                 ef: int = 200, n_threads: int = 2, seed: int = 0,
                 cache_prefix: str | Path | None = None):
        hnswlib = require_hnswlib()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.n_rows, dim = vectors.shape
        self.ef = ef
        self.n_threads = n_threads
        # the query depth is the index's, not the query's: a search in another thread
        # set its own between this one's set_ef and knn_query (another k, another depth),
        # and the top k changed with what else was being asked
        self._lock = threading.Lock()
        #: where the index was saved or read from (None: not cached)
        self.cache_file: Path | None = None
        #: whether the index was read from the cache rather than built
        self.loaded = False
        record = {"format": HNSW_CACHE_FORMAT, "hnswlib": _hnswlib_version(), "space": "ip",
                  "dim": int(dim), "rows": int(self.n_rows), "M": int(M),
                  "ef_construction": int(ef_construction), "seed": int(seed)}
        # no rows (a library caller's empty matrix; ZeroShotClassifier refuses a label
        # space without a named label before): an empty index answering no neighbours,
        # as an exact one does. hnswlib's add_items failed with an IndexError; nothing
        # is saved (there is no graph to build again)
        if cache_prefix is not None and self.n_rows:
            self.cache_file = hnsw_cache_file(cache_prefix, record)
            record["vectors"] = hashlib.sha256(vectors.data).hexdigest()  # no copy
            index = _load_hnsw(self.cache_file, record, vectors)
            if index is not None:
                self.index, self.loaded = index, True
                return
        self.index = hnswlib.Index(space="ip", dim=dim)
        self.index.init_index(max_elements=max(self.n_rows, 1), M=M,
                              ef_construction=ef_construction, random_seed=seed)
        # said before and after: the build is silent and takes minutes for a large
        # vocabulary (48 s for YSO's 27,754 labels on 2 busy cores)
        logger.info("building the HNSW label index over %s rows", f"{self.n_rows:,}")
        started = time.perf_counter()
        if self.n_rows:
            self.index.add_items(vectors, np.arange(self.n_rows), num_threads=n_threads)
        logger.info("HNSW label index built in %.1f s", time.perf_counter() - started)
        if self.cache_file is not None:
            _save_hnsw(self.index, self.cache_file, record)

    def __getstate__(self) -> dict:
        # pickled (a multiprocessing pool's arguments) with the graph, hnswlib's own
        # pickling; the lock is not ("cannot pickle '_thread.lock' object")
        return {name: value for name, value in self.__dict__.items() if name != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`ExactIndex.search`; exact when every row is wanted or the search would
        keep them all (``ef`` at least the row count), or when the graph search reaches
        fewer than ``k`` rows.

        hnswlib refuses a query whose search found fewer than ``k`` rows ("Cannot return
        the results in a contiguous 2D array"), which happens when ``k`` nears the row
        count and many rows are the same vector (labels sharing a name): zero-shot
        scoring asks for every row when ``k`` reaches the label count, and crashed.

        Rows tied with the ``k``-th best go by lower row id, as in exact search, among
        the rows the graph search kept (its whole candidate list, ``ef`` of them, is
        ranked): hnswlib's own top ``k`` took whichever of them it met first, so of
        forty labels named "cats" the suggested ones changed with ``k`` and the build.
        Only when more rows tie than the search keeps (or when it reaches fewer rows than
        its depth and only its top ``k`` is asked for) is the choice still the graph's.
        """
        # hnswlib took k=0 and answered nothing, a negative k was its own error
        k = min(check_int("k", k, 1, numpy=True), self.n_rows)
        queries = np.ascontiguousarray(queries, np.float32)
        if not self.n_rows:  # no neighbours, as ExactIndex answers
            return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
        depth = hnsw_search_depth(self.ef, k, self.n_rows)
        if depth < self.n_rows:
            for fetch in dict.fromkeys((depth, k)):  # the search's candidates, else k
                try:
                    with self._lock:
                        self.index.set_ef(depth)
                        ids, distances = self.index.knn_query(queries, k=fetch,
                                                              num_threads=self.n_threads)
                except RuntimeError:
                    continue
                ids, sims = ids.astype(np.int64), (1.0 - distances).astype(np.float32)
                order = np.lexsort((ids, -sims), axis=1)[:, :k]  # best first, then id
                return (np.take_along_axis(ids, order, axis=1),
                        np.take_along_axis(sims, order, axis=1))
        vectors = self.index.get_items(np.arange(self.n_rows), return_type="numpy")
        return ExactIndex(vectors).search(queries, k)


def hnsw_search_depth(ef: int, k: int, n_rows: int) -> int:
    """hnswlib's query-time ``ef`` for a search of the ``k`` best of ``n_rows`` rows:
    ``ef``, or ``2 * k`` (at most ``n_rows``) when that is more.

    The search keeps ``ef`` candidates and returns its best ``k``; with ``ef`` near
    ``k`` the last of them are often missed (``max(ef, k)`` found 95.5% of the true 200
    nearest of 20,000 random vectors at ``ef=200``, 99.5% with ``ef=400``; hnswlib
    advises an ``ef`` well above ``k``). Up to ``k = ef / 2`` the depth is ``ef`` itself.

    >>> [hnsw_search_depth(200, k, 20_000) for k in (10, 100, 101, 200)]
    [200, 200, 202, 400]
    >>> hnsw_search_depth(200, 300, 500), hnsw_search_depth(200, 150, 250)
    (500, 250)
    """
    return max(ef, min(2 * k, n_rows))


def resolve_index_kind(kind: str, n_rows: int) -> str:
    """The index :func:`build_index` builds over ``n_rows`` rows for ``kind``: ``"auto"``
    is ``"hnsw"`` above :data:`HNSW_FROM_ROWS` rows, else ``"exact"`` (so that a caller
    can check for hnswlib before embedding the rows).

    >>> resolve_index_kind("auto", 1_000), resolve_index_kind("hnsw", 1_000)
    ('exact', 'hnsw')
    """
    kind = check_choice("index", kind, INDEX_KINDS)
    if kind == "auto":
        return "hnsw" if n_rows > HNSW_FROM_ROWS else "exact"
    return kind


def require_hnswlib() -> ModuleType:
    """The hnswlib module, or MissingDependencyError naming the ``embed`` extra (what an
    HNSW index needs; checked before the rows are embedded, see
    :func:`resolve_index_kind`)."""
    try:
        import hnswlib
    except ImportError as exc:
        raise MissingDependencyError("hnswlib", extra="embed",
                                     feature="approximate nearest-neighbour search") from exc
    return hnswlib


def build_index(vectors: np.ndarray, kind: str = "auto", *,
                cache_prefix: str | Path | None = None, **params: int
                ) -> ExactIndex | HnswIndex:
    """``"exact"``, ``"hnsw"``, or ``"auto"`` (HNSW above :data:`HNSW_FROM_ROWS` rows);
    an HNSW index is saved and reused under ``cache_prefix`` when given
    (:class:`HnswIndex`)."""
    kind = resolve_index_kind(kind, len(vectors))
    if kind == "hnsw":
        return HnswIndex(vectors, cache_prefix=cache_prefix, **params)
    return ExactIndex(vectors)


def _hnswlib_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hnswlib")
    except PackageNotFoundError:  # pragma: no cover - a build without its metadata
        return "unknown"


def hnsw_cache_file(prefix: str | Path, record: dict) -> Path:
    """The file a saved HNSW index goes to: ``PREFIX.hnsw-DIGEST.bin``, the digest of
    ``record`` (what determines the graph but the vectors: hnswlib's version, the space,
    the dimension and row count, ``M``, ``ef_construction``, the seed). Its JSON record is
    the same name plus ``.json``.

    >>> hnsw_cache_file("/c/labels-ab", {"M": 32}).name
    'labels-ab.hnsw-8b778b7d803847b6.bin'
    """
    key = json.dumps(record, sort_keys=True).encode("ascii")
    prefix = Path(prefix)
    return prefix.with_name(f"{prefix.name}.hnsw-{hashlib.sha256(key).hexdigest()[:16]}.bin")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _load_hnsw(path: Path, record: dict, vectors: np.ndarray):
    """The saved index at ``path`` when its JSON record matches ``record`` (the same
    vectors and parameters) and the file is the one the record describes (its size and
    SHA-256, checked before hnswlib reads a byte of it), else None: nothing saved, or
    saved for other vectors (a log message), or damaged (a warning); the caller builds
    it again."""
    import hnswlib

    from tagsmith.store.bundle import _folder_lock

    sidecar = path.with_name(path.name + ".json")
    if not path.exists() and not sidecar.exists():
        return None

    # shared: a run saving it swaps the file and its record in under an exclusive lock
    with _folder_lock(path.parent, shared=True):
        try:
            if sidecar.stat().st_size > HNSW_RECORD_MAX_BYTES:
                raise ValueError(f"its record {sidecar.name} is {sidecar.stat().st_size} bytes")
            with open(sidecar, encoding="utf-8") as handle:
                saved = json.load(handle)
            if not isinstance(saved, dict):
                raise ValueError(f"its record {sidecar.name} is not a JSON object")
            if {key: saved.get(key) for key in record} != record:
                logger.info("the saved HNSW label index %s is of other label vectors: "
                            "building it again", path)
                return None
            size = path.stat().st_size
            if size != saved.get("size"):
                raise ValueError(f"{size} bytes, its record says {saved.get('size')}")
            # read once: its SHA-256 is of the bytes checked (it was read whole for
            # each, 450 MB twice for 250,000 labels at dimension 384)
            with open(path, "rb") as handle:
                data = handle.read()
            if len(data) != size:
                raise ValueError(f"{len(data)} bytes read, its record says {size}")
            if hashlib.sha256(data).hexdigest() != saved.get("sha256"):
                raise ValueError("its SHA-256 is not the one its record says")
            check_hnsw_file(data, record)
            del data  # hnswlib reads the file itself
            index = hnswlib.Index(space="ip", dim=record["dim"])
            index.load_index(str(path), max_elements=max(record["rows"], 1))
            if index.get_current_count() != record["rows"]:
                raise ValueError(f"{index.get_current_count()} rows, not {record['rows']}")
            probe = np.unique([0, record["rows"] // 2, record["rows"] - 1])
            if not np.array_equal(index.get_items(probe, return_type="numpy"), vectors[probe]):
                raise ValueError("its vectors are not the label vectors")
        except Exception as exc:  # noqa: BLE001 - any unusable saved index is only a miss
            logger.warning("ignoring the saved HNSW label index %s (%s: %s); building it again",
                           path, type(exc).__name__, exc)
            return None
    logger.info("HNSW label index over %s rows read from %s", f"{record['rows']:,}", path)
    return index


#: the largest ``M`` hnswlib builds with (a larger one is capped, with a warning)
HNSW_MOST_M = 10_000

#: the header of an hnswlib index file (hnswlib's ``saveIndex``): offsetLevel0,
#: max_elements, cur_element_count, size_data_per_element, label_offset, offsetData
#: (size_t), maxlevel (int), enterpoint_node (uint32), maxM, maxM0, M (size_t), mult
#: (double), ef_construction (size_t)
_HNSW_HEADER = np.dtype([("offset_level0", "<u8"), ("max_elements", "<u8"), ("count", "<u8"),
                         ("element_size", "<u8"), ("label_offset", "<u8"),
                         ("data_offset", "<u8"), ("max_level", "<i4"), ("entry", "<u4"),
                         ("max_m", "<u8"), ("max_m0", "<u8"), ("m", "<u8"), ("mult", "<f8"),
                         ("ef_construction", "<u8")])


def check_hnsw_file(data: bytes, record: dict) -> None:
    """ValueError unless ``data`` is an hnswlib index of ``record``'s shape (``dim``,
    ``rows``, ``M``, ``ef_construction``) whose graph stays inside it.

    hnswlib trusts the file it loads: a neighbour id past the last row, or a link on a
    level its target does not reach, made the first search read outside the graph (a
    segmentation fault), and a cache folder is a file anyone may hand over, its JSON
    record's SHA-256 included. Checked here: the header against ``record``, every link
    (level 0 and above) naming a row that has that level, the labels a permutation of
    the rows, no row marked deleted, the entry point on the top level.
    """
    header_size = _HNSW_HEADER.itemsize
    if len(data) < header_size:
        raise ValueError(f"{len(data)} bytes, shorter than an hnswlib header")
    head = np.frombuffer(data, _HNSW_HEADER, count=1)[0]
    rows, dim = record["rows"], record["dim"]
    # the link lists' sizes are the file's own (hnswlib reads them so), checked to be
    # those of the record's M when it names one
    m, max_m0 = int(head["max_m"]), int(head["max_m0"])
    if not 0 < m <= 1 << 16 or not 0 < max_m0 <= 1 << 16:
        raise ValueError(f"its header says M {m}, {max_m0} on level 0")
    links0 = 4 + 4 * max_m0  # a count (uint32: uint16 count, a deleted flag) + ids
    expected = {"offset_level0": 0, "count": rows, "data_offset": links0,
                "label_offset": links0 + 4 * dim, "element_size": links0 + 4 * dim + 8}
    # hnswlib's own rules: M capped at HNSW_MOST_M, ef_construction at least M (an
    # index built with ef_construction 16 and M 32 says 32: each such good index was
    # ignored and built again on every run)
    saved_m = min(record["M"], HNSW_MOST_M) if "M" in record else m
    if "M" in record:
        expected.update(max_m=saved_m, max_m0=2 * saved_m, m=saved_m)
    if "ef_construction" in record:
        expected["ef_construction"] = max(record["ef_construction"], saved_m)
    wrong = [f"{key} {int(head[key])} (expected {value})" for key, value in expected.items()
             if int(head[key]) != value]
    if wrong:
        raise ValueError(f"its header does not match its record: {', '.join(wrong)}")
    element_size = expected["element_size"]
    end0 = header_size + rows * element_size
    if len(data) < end0:
        raise ValueError(f"{len(data)} bytes, too short for {rows} rows")
    level0 = np.frombuffer(data, np.uint8, rows * element_size, header_size) \
        .reshape(rows, element_size)
    counts = level0[:, 0].astype(np.int64) | (level0[:, 1].astype(np.int64) << 8)
    if np.any(level0[:, 2:4]):
        raise ValueError("it marks rows deleted")
    labels = np.ascontiguousarray(level0[:, links0 + 4 * dim:]).view("<u8").ravel()
    if not np.array_equal(np.sort(labels), np.arange(rows, dtype=np.uint64)):
        raise ValueError("its labels are not the row numbers")
    ids0 = np.ascontiguousarray(level0[:, 4:links0]).view("<u4")
    levels, blocks = _hnsw_upper_links(data, end0, rows, 4 + 4 * m)
    max_level = int(head["max_level"])
    if rows and (int(levels.max()) != max_level or int(head["entry"]) >= rows
                 or levels[int(head["entry"])] != max_level):
        raise ValueError(f"its entry point {int(head['entry'])} is not on its top level "
                         f"{max_level}")
    _check_hnsw_links("level 0", counts, ids0, max_m0, np.zeros(rows, np.int64), rows)
    if blocks.size:
        owners = np.repeat(np.arange(rows), levels)
        level = np.arange(owners.size) - np.repeat(np.cumsum(levels) - levels, levels) + 1
        counts = blocks[:, 0].astype(np.int64) | (blocks[:, 1].astype(np.int64) << 8)
        ids = np.ascontiguousarray(blocks[:, 4:]).view("<u4")
        _check_hnsw_links("an upper level", counts, ids, m, level, rows, levels)


def _hnsw_upper_links(data: bytes, start: int, rows: int, block: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's number of levels above 0, and their link blocks (one row each, in row
    order): the part of an hnswlib file after its level-0 data, which must end there.
    A walk over the rows (each names the size of its own lists), once per load."""
    levels = np.zeros(rows, np.int64)
    parts = []
    offset = start
    for row in range(rows):
        if offset + 4 > len(data):
            raise ValueError("it ends inside its link lists")
        size = int.from_bytes(data[offset:offset + 4], "little")
        offset += 4
        if size:
            if size % block or offset + size > len(data):
                raise ValueError(f"row {row} has link lists of {size} bytes")
            levels[row] = size // block
            parts.append(data[offset:offset + size])
            offset += size
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} bytes after its link lists")
    blocks = np.frombuffer(b"".join(parts), np.uint8).reshape(-1, block)
    return levels, blocks


def _check_hnsw_links(where: str, counts: np.ndarray, ids: np.ndarray, most: int,
                      level: np.ndarray, rows: int, levels: np.ndarray | None = None) -> None:
    """ValueError unless each link list (a count, then ``ids``) holds at most ``most``
    ids, each a row reaching the list's ``level`` (``levels``: rows' top levels)."""
    if np.any(counts > most):
        raise ValueError(f"a link list of {where} holds more than {most} links")
    used = np.arange(ids.shape[1]) < counts[:, None]
    targets = ids[used].astype(np.int64)
    if np.any(targets >= rows):
        raise ValueError(f"a link of {where} names row {int(targets.max())} of {rows}")
    if levels is not None and np.any(levels[targets] < np.broadcast_to(
            level[:, None], used.shape)[used]):
        raise ValueError(f"a link of {where} names a row that does not reach its level")


def _save_hnsw(index, path: Path, record: dict) -> None:
    """Save ``index`` to ``path`` (written beside it and renamed into place) and then its
    JSON record (``record``, the file's size and SHA-256); a failure costs the cache
    alone (a warning)."""
    from tagsmith.data.textio import atomic_binary_writer, check_writable, current_umask
    from tagsmith.exceptions import DataError
    from tagsmith.store.bundle import _folder_lock
    from tagsmith.store.staging import make_staging_file, remove_stale_files

    sidecar = path.with_name(path.name + ".json")
    tmp: Path | None = None
    try:
        check_writable(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_files(path, ".tmp")
        fd, tmp = make_staging_file(path, ".tmp")
        os.close(fd)
        index.save_index(str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        saved = dict(record, size=tmp.stat().st_size, sha256=_file_sha256(tmp))
        # the file and its record in place under a lock: two runs saving at once (their
        # graphs differ, build to build) could leave the second's file with the first's
        # record, a SHA-256 mismatch that the next run rebuilt with a warning
        with _folder_lock(path.parent):
            os.replace(tmp, path)
            tmp = None
            with atomic_binary_writer(sidecar) as out:
                out.write(json.dumps(saved, sort_keys=True).encode("ascii") + b"\n")
    except (OSError, RuntimeError, DataError) as exc:  # a full disk costs the cache
        logger.warning("cannot save the HNSW label index %s: %s", path, exc)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
