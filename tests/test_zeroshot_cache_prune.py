"""The zero-shot label-embedding cache's upkeep: which files a run removes (pruning, and
damage) and which it leaves -- a file is removed only when the cache no longer needs it
or it is damaged, never for what a run itself ran into (no memory, another run's
removal)."""

import hashlib

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
