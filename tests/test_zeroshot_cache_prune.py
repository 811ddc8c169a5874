"""The zero-shot label-embedding cache's upkeep: which files a run removes (pruning, and
damage) and which it leaves -- a file is removed only when the cache no longer needs it
or it is damaged, never for what a run itself ran into (no memory, another run's
removal)."""

import hashlib
import logging
from pathlib import Path

import numpy as np

from tagsmith.zeroshot.scorer import _text_hashes, embed_cached, encoder_identity

from conftest import ENCODER_WORDS as WORDS
from conftest import WordEncoder

TEXTS = [f"{word} {i}" for i in range(3) for word in WORDS]


def _parts(folder):
    return sorted(folder.glob("labels-*.part.npz"))


def test_a_part_sharing_only_a_digest_prefix_with_the_whole_file_is_kept(tmp_path):
    """Pruning took a part file as covered by a whole vocabulary's file when each of its
    texts' digests shared its first 8 bytes with one of the whole file's: a text of the
    part that the whole file lacks lost its only vectors."""
    encoder = WordEncoder()
    # a part file of one text whose digest differs from a vocabulary text's in its last
    # byte alone (as a text colliding in 64 bits would)
    near = _text_hashes([TEXTS[0]]).copy()
    near[0, 31] ^= 1
    vectors = encoder.encode(["a text the vocabulary lacks"])
    name = f"labels-{hashlib.sha256(b'near').hexdigest()[:32]}.part.npz"
    np.savez(tmp_path / name, vectors=vectors, encoder=np.str_(encoder_identity(encoder)),
             hashes=near)
    # and a part file the whole vocabulary does hold, removed as before
    embed_cached(WordEncoder(), TEXTS[:2], tmp_path, part=True)
    assert len(_parts(tmp_path)) == 2
    embed_cached(WordEncoder(), TEXTS, tmp_path)
    assert [path.name for path in _parts(tmp_path)] == [name]


#: a run short of memory (its address space bounded): reads a whole vocabulary's cache
#: file of 80 MB of vectors with ~40 MB to spare, by cached_vectors and by a miss taking
#: 8,000 of its rows (33 MB); the encoder, called after, has its memory back
_SHORT_OF_MEMORY = """
import logging, resource, sys
from pathlib import Path

import numpy as np

from tagsmith.zeroshot.scorer import cached_vectors, embed_cached

logging.basicConfig(level=logging.WARNING, format="%(message)s")


class Wide:
    name, dim, identity = "wide", 1024, "test:wide-1024"

    def encode(self, texts, *, show_progress=False):
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)
        print("embedded:", len(texts), flush=True)
        rows = np.zeros((len(texts), self.dim), np.float32)
        rows[np.arange(len(texts)), np.arange(len(texts)) % self.dim] = 1.0
        return rows


folder = Path(sys.argv[1])
texts = [f"label {i}" for i in range(20_000)]
if sys.argv[2] == "write":
    embed_cached(Wide(), texts, folder)
    sys.exit(0)
pages = int(open("/proc/self/statm").read().split()[0])
room = pages * resource.getpagesize() + 40_000_000
resource.setrlimit(resource.RLIMIT_AS, (room, resource.RLIM_INFINITY))
print("cached:", cached_vectors(Wide(), texts, folder) is not None, flush=True)
vectors = embed_cached(Wide(), texts[:8_000] + ["a new label"], folder, part=True)
print("part:", vectors.shape, flush=True)
"""


def test_a_cache_file_too_large_for_the_memory_left_is_kept(tmp_path):
    """A MemoryError reading a large cache file (YSO's is 43 MB) was taken as damage:
    the file was removed, and the next run embedded the whole vocabulary again. It is
    passed over with a warning now, and kept."""
    import os
    import subprocess
    import sys

    import pytest

    if not Path("/proc/self/statm").exists():
        pytest.skip("needs /proc to bound the address space")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for step in ("write", "read"):
        done = subprocess.run([sys.executable, "-c", _SHORT_OF_MEMORY, str(tmp_path), step],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        if step == "write":
            (whole,) = tmp_path.glob("labels-*.npz")
            assert whole.stat().st_size > 80_000_000
    assert whole.exists(), done.stderr
    assert "cached: False" in done.stdout and "part: (8001, 1024)" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if whole.name in line]
    assert len(warnings) == 2, done.stderr
    assert all("not enough memory to read it" in line and "removing" not in line
               for line in warnings), warnings


def _removed_on_read(monkeypatch, path, nth=1):
    """Remove ``path`` just before the ``nth`` read of it from now (as another run
    pruning it between this run's check that it exists and its read)."""
    load = np.load
    reads = [0]

    def removed_first(file, *args, **kwargs):
        if Path(file) == path:
            reads[0] += 1
            if reads[0] == nth and path.exists():
                path.unlink()
        return load(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", removed_first)


def test_a_cache_file_another_run_removes_before_the_read_is_no_warning(tmp_path,
                                                                       monkeypatch, caplog):
    """A part file another run pruned between this run's check that it exists and its
    read was warned of as if damaged ("ignoring the zero-shot embedding cache ...
    (FileNotFoundError ...)"); a whole file so too by cached_vectors. It is a miss."""
    from tagsmith.zeroshot.scorer import cached_vectors

    embed_cached(WordEncoder(), TEXTS[:3], tmp_path, part=True)
    (part,) = _parts(tmp_path)
    embed_cached(WordEncoder(), TEXTS, tmp_path)  # the whole file; the part removed
    assert not part.exists()
    embed_cached(WordEncoder(), TEXTS[:3], tmp_path, part=True)  # taken from the whole
    (whole,) = [path for path in tmp_path.glob("labels-*.npz") if path != part]
    _removed_on_read(monkeypatch, part)
    encoder = WordEncoder()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        vectors = embed_cached(encoder, TEXTS[:3], tmp_path, part=True)
        assert encoder.embedded == []  # from the whole file
        np.testing.assert_allclose(vectors, WordEncoder().encode(TEXTS[:3]), atol=1e-6)
        _removed_on_read(monkeypatch, whole)
        assert cached_vectors(WordEncoder(), TEXTS, tmp_path) is None
    assert not [r.getMessage() for r in caplog.records], caplog.records


def test_a_part_another_run_removes_while_pruning_is_not_counted_kept(tmp_path,
                                                                      monkeypatch):
    """Pruning counted a part file another run removed meanwhile as one of those kept,
    and removed one more of the others than it keeps."""
    import os

    import tagsmith.zeroshot.scorer as scorer_module

    monkeypatch.setattr(scorer_module, "PART_FILES_KEPT", 3)
    parts = []
    for at, text in enumerate(("elsewhere a", "elsewhere b", "elsewhere c")):
        embed_cached(WordEncoder(), [text], tmp_path, part=True)
        (new,) = set(_parts(tmp_path)) - set(parts)
        os.utime(new, ns=(10**18 + at, 10**18 + at))  # oldest first, newest c
        parts.append(new)
    # a whole file written, keeping 2: its miss reads each part's digests, then its
    # pruning does
    monkeypatch.setattr(scorer_module, "PART_FILES_KEPT", 2)
    _removed_on_read(monkeypatch, parts[2], nth=2)
    embed_cached(WordEncoder(), TEXTS, tmp_path)
    assert _parts(tmp_path) == sorted(parts[:2])


def test_a_graph_saved_after_its_file_was_removed_is_pruned(tmp_path):
    """An HNSW graph goes with its label-embedding file, but one a run was still building
    when another run removed that file (pruned, or found damaged) was saved after, and
    stayed for good."""
    import pytest

    from tagsmith.data.labelspace import Label, LabelSpace
    from tagsmith.zeroshot.index import build_index
    from tagsmith.zeroshot.scorer import ZeroShotClassifier, index_cache_prefix

    pytest.importorskip("hnswlib")

    def graphs():
        return sorted(path.name for path in tmp_path.glob("labels-*.hnsw-*"))

    space = LabelSpace([Label(f"u:{i}", {"en": text}) for i, text in enumerate(TEXTS)])
    whole = ZeroShotClassifier(space, WordEncoder(), cache_dir=tmp_path, index="hnsw")
    whole.index  # built and saved beside the whole file  # noqa: B018
    kept = graphs()
    assert len(kept) == 2  # the graph and its JSON record
    texts = ["elsewhere a", "elsewhere b"]
    vectors = embed_cached(WordEncoder(), texts, tmp_path, part=True)
    (part,) = _parts(tmp_path)
    part.unlink()  # removed by another run while this one builds its graph
    build_index(vectors, "hnsw",
                cache_prefix=index_cache_prefix(WordEncoder(), texts, tmp_path, part=True))
    assert len(graphs()) == 4
    mine = tmp_path / "labels-mine.hnsw-1.bin"  # a file of the user's: left
    mine.write_bytes(b"mine")
    embed_cached(WordEncoder(), ["elsewhere c"], tmp_path, part=True)  # pruned after
    assert graphs() == sorted([*kept, mine.name])
    again = ZeroShotClassifier(space, WordEncoder(), cache_dir=tmp_path, index="hnsw")
    assert again.index.loaded  # the graph of a file still there: read back


class OtherModel(WordEncoder):
    """Another model (another identity) of the same dimension."""

    identity = "test:other-model"


def test_the_part_files_kept_are_counted_per_model(tmp_path, monkeypatch):
    """The PART_FILES_KEPT most recently used part files were counted across every model
    in the folder (by default shared by all projects): restrictions with one model
    removed another's part files."""
    import tagsmith.zeroshot.scorer as scorer_module

    monkeypatch.setattr(scorer_module, "PART_FILES_KEPT", 2)
    embed_cached(OtherModel(), ["elsewhere"], tmp_path, part=True)
    (other,) = _parts(tmp_path)
    for text in TEXTS[:4]:
        embed_cached(WordEncoder(), [text], tmp_path, part=True)
    assert other in _parts(tmp_path)
    assert len(_parts(tmp_path)) == 3  # the other model's, and this one's 2
    encoder = OtherModel()
    embed_cached(encoder, ["elsewhere"], tmp_path, part=True)
    assert encoder.embedded == []


def test_a_whole_vocabularys_file_read_is_marked_used(tmp_path):
    """A whole vocabulary's file kept the time it was written however often it was read,
    so removing the files unused for 30 days (README) removed one in daily use."""
    import os

    from tagsmith.zeroshot.scorer import cached_vectors

    embed_cached(WordEncoder(), TEXTS, tmp_path)
    (whole,) = tmp_path.glob("labels-*.npz")
    for read in (lambda: embed_cached(WordEncoder(), TEXTS, tmp_path),
                 lambda: cached_vectors(WordEncoder(), TEXTS, tmp_path)):
        os.utime(whole, (10**9, 10**9))  # 2001
        assert read() is not None
        assert whole.stat().st_mtime > 10**9 + 86_400


def test_writing_a_whole_file_names_the_files_unused_for_30_days(tmp_path, caplog):
    """Files of earlier versions of a vocabulary are never removed (the folder is shared)
    and nothing said so: 43 MB each for YSO, piling up unseen. A run that writes a whole
    vocabulary's file now names those unused for 30 days and the command removing them."""
    import os
    import subprocess
    import time

    folder = tmp_path / "my cache"
    embed_cached(WordEncoder(), ["an earlier vocabulary"], folder)
    (old,) = folder.glob("labels-*.npz")
    (folder / "labels-mine.npz").write_bytes(b"mine")  # not the cache's: not counted
    # nor a name of 32 characters or more of the user's, nor a file in a subfolder
    # (another project's cache under --cache-dir .): the command removed them too
    mine = folder / f"labels-{'my-annotations-of-2023-round-two'}-final.npz"
    mine.write_bytes(b"mine")
    (folder / "project").mkdir()
    theirs = folder / "project" / old.name
    theirs.write_bytes(old.read_bytes())
    for path in [*folder.iterdir(), theirs]:
        os.utime(path, (10**9, 10**9))  # 2001
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        embed_cached(WordEncoder(), TEXTS, folder)
    (said,) = [r.getMessage() for r in caplog.records if "unused for" in r.getMessage()]
    assert said.startswith(f"embedding files in {folder} unused for more than 30 days: "
                           "1 label-embedding file (")
    command = "find " + said.split(": find ", 1)[1].removesuffix(" removes them")
    subprocess.run(command, shell=True, check=True)
    assert not old.exists() and (folder / "labels-mine.npz").exists()
    assert mine.exists() and theirs.exists()
    before = set(folder.glob("labels-*.npz")) - {mine}
    assert len(before) == 2  # the new file, and the user's
    # one unused for 30.5 days is not named (find's -mtime +30 would not remove it)
    embed_cached(OtherModel(), ["another model's label"], folder)
    (other,) = set(folder.glob("labels-*.npz")) - {folder / "labels-mine.npz", mine, *before}
    os.utime(other, (time.time() - 30.5 * 86_400,) * 2)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        embed_cached(WordEncoder(), TEXTS[:5], folder)
    assert not [r for r in caplog.records if "unused" in r.getMessage()]
    subprocess.run(command, shell=True, check=True)
    assert other.exists()


def test_a_corpus_s_embeddings_unused_for_30_days_are_removed(tmp_path, caplog):
    """label --shortlist-zeroshot's document embeddings (a corpus's, ~150 MB a version
    at 10^5 documents, of private texts) went to the shared default folder and were
    never removed: a pool growing daily added a file a day for good. A corpus's file
    (documents-*.npz) unused for 30 days is removed by the next file written, and the
    one log line says so; a vocabulary's is still only named, one in use kept."""
    import os
    import time

    embed_cached(WordEncoder(), ["an earlier pool", "of two"], tmp_path, kind="document")
    (old_docs,) = tmp_path.glob("documents-*.npz")
    embed_cached(WordEncoder(), ["a later pool"], tmp_path, kind="document")
    (recent,) = set(tmp_path.glob("documents-*.npz")) - {old_docs}
    embed_cached(WordEncoder(), ["an earlier vocabulary"], tmp_path)
    (old_labels,) = tmp_path.glob("labels-*.npz")
    for path in (old_docs, old_labels):
        os.utime(path, (10**9, 10**9))  # 2001
    os.utime(recent, (time.time() - 29 * 86_400,) * 2)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        embed_cached(WordEncoder(), TEXTS, tmp_path)
    (said,) = [r.getMessage() for r in caplog.records if "unused for" in r.getMessage()]
    assert said.startswith(f"embedding files in {tmp_path} unused for more than 30 days: "
                           "1 document-embedding file removed ("), said
    assert "; 1 label-embedding file (" in said and said.endswith("removes them"), said
    assert not old_docs.exists() and recent.exists() and old_labels.exists()
    # a corpus's vectors are searched in the corpora's files alone (an edited corpus)
    encoder = WordEncoder()
    seen = []
    encoder.encode = lambda texts, **_: (seen.extend(texts),  # type: ignore[method-assign]
                                         WordEncoder().encode(texts))[1]
    embed_cached(encoder, ["a later pool", "grown"], tmp_path, kind="document")
    assert seen == ["grown"]


def test_a_misspelt_kind_is_refused_not_cached_as_a_vocabulary_s(tmp_path):
    """kind="documents" (the files' word) was taken for a vocabulary's: the corpus's
    embeddings went to a labels-*.npz, never removed; refused, with a cache or without."""
    import pytest

    for folder in (tmp_path, None):
        with pytest.raises(ValueError, match="kind must be 'label' or 'document'"):
            embed_cached(WordEncoder(), ["a pool"], folder, kind="documents")
    assert not list(tmp_path.iterdir())


class Wide(WordEncoder):
    """:class:`WordEncoder` of 256 dimensions (the first 8 its words')."""

    name, dim, identity = "wide", 256, "test:wide-256"

    def encode(self, texts, *, show_progress=False):
        self.embedded.extend(texts)
        rows = np.zeros((len(texts), self.dim), np.float32)
        rows[:, :8] = [[word in text for word in WORDS] for text in texts]
        rows[:, :8] += 0.05
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_a_miss_reads_only_the_rows_it_takes_from_a_large_file(tmp_path, caplog):
    """A miss drawing a few texts from a file read its every vector: 43 MB of YSO's
    whole file for a restriction to 300 of its labels. The rows taken alone are read
    (and checked) now."""
    import tracemalloc

    texts = [f"{WORDS[i % 8]} {i}" for i in range(20_000)]
    embed_cached(Wide(), texts, tmp_path)  # 20 MB of vectors
    (whole,) = tmp_path.glob("labels-*.npz")
    wanted = [texts[7], texts[19_999], "a new label", texts[7]]
    encoder = Wide()
    tracemalloc.start()
    try:
        vectors = embed_cached(encoder, wanted, tmp_path, part=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert encoder.embedded == ["a new label"]
    np.testing.assert_allclose(vectors, Wide().encode(wanted), rtol=0, atol=1e-6)
    assert peak < 4_000_000, peak
    # a row taken is checked as before: one of another length is damage, the file
    # removed with a warning and the texts embedded
    with np.load(whole) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["vectors"][12_345] *= 2
    np.savez(whole, **arrays)
    encoder = Wide()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        embed_cached(encoder, [texts[12_345]], tmp_path, part=True)
    assert encoder.embedded == [texts[12_345]]
    assert not whole.exists()
    assert any("not unit length" in r.getMessage() for r in caplog.records)


def test_a_whole_file_written_keeps_as_many_part_files_as_a_part_written(tmp_path,
                                                                          monkeypatch):
    """A part file written counted itself among the PART_FILES_KEPT kept, and a whole
    vocabulary's file written (not a part) still kept one part file fewer."""
    import os

    import tagsmith.zeroshot.scorer as scorer_module

    monkeypatch.setattr(scorer_module, "PART_FILES_KEPT", 2)
    for text in ("elsewhere a", "elsewhere b"):
        embed_cached(WordEncoder(), [text], tmp_path, part=True)
        for path in _parts(tmp_path):
            os.utime(path, ns=(path.stat().st_mtime_ns - 10**9,) * 2)  # older ones first
    assert len(_parts(tmp_path)) == 2
    embed_cached(WordEncoder(), TEXTS, tmp_path)  # holds neither part's text
    assert len(_parts(tmp_path)) == 2
    embed_cached(WordEncoder(), ["elsewhere c"], tmp_path, part=True)
    assert len(_parts(tmp_path)) == 2


def test_the_part_files_kept_are_bounded_in_bytes(tmp_path, monkeypatch):
    """The part files kept were bounded in number alone: 16 restrictions to 10,000 of
    YSO's labels kept 250 MB. They are bounded in bytes too (the newest kept whatever
    its size)."""
    import tagsmith.zeroshot.scorer as scorer_module

    embed_cached(WordEncoder(), ["elsewhere 0"], tmp_path, part=True)
    (first,) = _parts(tmp_path)
    monkeypatch.setattr(scorer_module, "PART_BYTES_KEPT", int(2.5 * first.stat().st_size),
                        raising=False)
    for i in range(1, 5):
        embed_cached(WordEncoder(), [f"elsewhere {i}"], tmp_path, part=True)
    assert len(_parts(tmp_path)) == 2
    monkeypatch.setattr(scorer_module, "PART_BYTES_KEPT", 10, raising=False)
    embed_cached(WordEncoder(), TEXTS, tmp_path, part=True)  # larger than the bound
    assert len(_parts(tmp_path)) == 1


def test_a_file_system_that_cannot_map_files_still_gives_a_miss_its_rows(
        tmp_path, caplog, monkeypatch):
    """A miss maps the file it takes rows from; where the file system cannot map files
    (ENODEV: a FUSE mount, some network ones), every part file was passed over with a
    warning and its texts embedded again. The file is read whole there, as before."""
    import errno

    texts = [f"{WORDS[i % 8]} {i}" for i in range(50)]
    embed_cached(Wide(), texts, tmp_path)

    def no_map(*args, **kwargs):
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(np, "memmap", no_map)
    wanted = [texts[3], "a new label", texts[49]]
    encoder = Wide()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        vectors = embed_cached(encoder, wanted, tmp_path, part=True)
    assert encoder.embedded == ["a new label"]
    assert not caplog.records
    np.testing.assert_allclose(vectors, Wide().encode(wanted), rtol=0, atol=1e-6)


class LongNamedModel(WordEncoder):
    """Another model of the same dimension whose identity is much longer than
    :class:`WordEncoder`'s (a model path of a deep folder, options recorded in it)."""

    identity = "test:a-model-of-a-long-identity/" + "x" * 3000


def test_another_models_file_of_a_much_longer_identity_is_not_removed(tmp_path, caplog):
    """A part file checked its identity member's size against this encoder's identity
    before comparing the identity: another model's file whose identity was ~1,000
    characters longer failed the size check, was taken as damaged and removed."""
    other = LongNamedModel()
    embed_cached(other, ["elsewhere"], tmp_path, part=True)
    (theirs,) = _parts(tmp_path)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        embed_cached(WordEncoder(), ["weather 9"], tmp_path, part=True)  # a miss
        embed_cached(WordEncoder(), TEXTS, tmp_path)  # a whole file written: pruning
    assert theirs.exists()
    assert not caplog.records
    again = LongNamedModel()
    embed_cached(again, ["elsewhere"], tmp_path, part=True)
    assert again.embedded == []


def test_a_file_put_in_place_of_the_one_read_does_not_give_its_rows(tmp_path, caplog,
                                                                    monkeypatch):
    """A miss read a file's digests, then opened its name again to map the vectors: a
    file another run put in its place meanwhile (the same texts, in another order) gave
    its rows, read against the first file's index -- the wrong text's vectors, of unit
    length, that no check could tell. The rows come from the file the index was read
    from."""
    import os

    texts = [f"{WORDS[i % 8]} {i}" for i in range(50)]
    embed_cached(Wide(), texts, tmp_path)
    (whole,) = tmp_path.glob("labels-*.npz")
    # the same file's members, every row in reverse order: the same layout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with np.load(whole) as data:
        np.savez(elsewhere / "reversed.npz", vectors=data["vectors"][::-1],
                 encoder=data["encoder"], texts=data["texts"],
                 hashes=data["hashes"][::-1])
    memmap = np.memmap
    replaced = []

    def replaced_first(*args, **kwargs):
        if not replaced:  # another run's file put in place, as the map is made
            os.replace(elsewhere / "reversed.npz", whole)
            replaced.append(True)
        return memmap(*args, **kwargs)

    monkeypatch.setattr(np, "memmap", replaced_first)
    wanted = [texts[3], "a new label", texts[49]]
    encoder = Wide()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        vectors = embed_cached(encoder, wanted, tmp_path, part=True)
    assert replaced
    assert encoder.embedded == ["a new label"]
    assert not caplog.records
    np.testing.assert_allclose(vectors, Wide().encode(wanted), rtol=0, atol=1e-6)


def test_a_corpus_s_file_does_not_remove_a_vocabulary_s_part_file_it_holds(tmp_path):
    """A corpus's embeddings written whole (documents-*.npz) were taken as covering every
    vocabulary part file whose texts the corpus happened to hold, and removed them (each
    part file opened to see, on every write): a restricted run's labels then re-embedded.
    Only a vocabulary's whole file covers its parts."""
    embed_cached(WordEncoder(), TEXTS[:2], tmp_path, part=True)
    (part,) = _parts(tmp_path)
    embed_cached(WordEncoder(), TEXTS[:2] + ["more of the pool"], tmp_path, kind="document")
    assert part.exists()
    embed_cached(WordEncoder(), TEXTS, tmp_path)  # the vocabulary whole: covered
    assert not part.exists()
