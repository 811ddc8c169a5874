"""The zero-shot label-embedding cache's upkeep: which files a run removes (pruning, and
damage) and which it leaves -- a file is removed only when the cache no longer needs it
or it is damaged, never for what a run itself ran into (no memory, another run's
removal)."""

import hashlib
from pathlib import Path

import numpy as np

from tagsmith.zeroshot.scorer import _text_hashes, embed_cached, encoder_identity

WORDS = ("football", "concert", "weather", "election", "cooking", "travel", "markets",
         "science")


class WordEncoder:
    """A deterministic stand-in encoder (one dimension per word of :data:`WORDS`, a
    little of every one) that records every text it embeds."""

    name, dim = "words", len(WORDS)

    def __init__(self):
        self.embedded: list[str] = []

    def encode(self, texts, *, show_progress=False):
        self.embedded.extend(texts)
        rows = np.array([[word in text.lower() for word in WORDS] for text in texts],
                        np.float32).reshape(len(texts), self.dim) + 0.05
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


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
#: file of 80 MB of vectors with ~40 MB to spare, by a miss and by cached_vectors
_SHORT_OF_MEMORY = """
import logging, resource, sys
from pathlib import Path

import numpy as np

from tagsmith.zeroshot.scorer import cached_vectors, embed_cached

logging.basicConfig(level=logging.WARNING, format="%(message)s")


class Wide:
    name, dim, identity = "wide", 1024, "test:wide-1024"

    def encode(self, texts, *, show_progress=False):
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
resource.setrlimit(resource.RLIMIT_AS, (room, room))
print("cached:", cached_vectors(Wide(), texts, folder) is not None, flush=True)
vectors = embed_cached(Wide(), texts[:3] + ["a new label"], folder, part=True)
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
    assert "cached: False" in done.stdout and "part: (4, 1024)" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if whole.name in line]
    assert len(warnings) == 2, done.stderr
    assert all("not enough memory to read it" in line and "removing" not in line
               for line in warnings), warnings
