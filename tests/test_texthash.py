"""The per-text hashes of training's rule live in a shared module (tagsmith.data.texthash):
pipeline/confidence.py and pipeline/llm.py imported the private ``_hashes`` and
``_BLANK_HASH`` of pipeline/train.py to hash a corpus once."""

import ast
from pathlib import Path

import numpy as np
import pytest

import tagsmith
from tagsmith.data.texthash import BLANK_HASH, hash_texts
from tagsmith.pipeline.train import duplicate_groups, in_training, text_hashes

PIPELINE = Path(tagsmith.__file__).parent / "pipeline"


def test_hash_texts_follows_the_training_rule():
    texts = ["A  b", "a b", "c", "", " \t"]
    hashes = hash_texts(texts)
    assert hashes.dtype == np.dtype("<u8") and hashes.shape == (5,)
    assert hashes[0] == hashes[1] != hashes[2]
    assert hashes[3] == hashes[4] == BLANK_HASH
    np.testing.assert_array_equal(text_hashes(texts), np.unique(hashes))
    assert in_training(text_hashes(["c"]), texts).tolist() == [False, False, True, False, False]
    assert duplicate_groups(texts).tolist() == [0, 0, 1, 2, 3]


def test_hash_texts_writes_each_digest_in_place_the_same_hashes():
    # the digests are written into one buffer, not joined from a list of one bytes
    # object each (138 MB at a million texts); the hashes are blake2b's, as before
    import hashlib
    import random

    rng = random.Random(0)
    texts = ["".join(rng.choice("aB \t\nçΣ東") for _ in range(rng.randrange(12)))
             for _ in range(500)]
    expected = np.frombuffer(b"".join(
        hashlib.blake2b(" ".join(t.split()).casefold().encode("utf-8"), digest_size=8).digest()
        for t in texts), dtype="<u8")
    np.testing.assert_array_equal(hash_texts(texts), expected)
    np.testing.assert_array_equal(hash_texts(iter(texts)), expected)  # an iterator too
    assert hash_texts([]).shape == (0,)


@pytest.mark.parametrize("module", ["confidence.py", "llm.py"])
def test_pipeline_modules_import_no_private_name_of_train(module):
    tree = ast.parse((PIPELINE / module).read_text(encoding="utf-8"))
    private = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "tagsmith.pipeline.train"
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []


def test_long_texts_hashed_in_pieces_hash_as_the_whole_text():
    """A text over LONG_TEXT characters is hashed a piece at a time: the same digest as
    its whole collapsed, case-folded text gives, whatever the pieces' size (unicode,
    Python's every kind of whitespace, a word longer than a piece, blank texts)."""
    import hashlib
    import random

    from tagsmith.data import texthash

    def whole(text):
        return hashlib.blake2b(" ".join(text.split()).casefold().encode("utf-8"),
                               digest_size=8).digest()

    rng = random.Random(4)
    parts = ["ΣΑΣ", "Straße", "İ", "ﬁ", "😀", "e\u0301", "x" * 40, "a", "\x1f", "\x85",
             "\u00a0", "\u3000", "\u2028", " ", "  ", "\t", "\r\n", "\u200b", "ǅ"]
    texts = ["", " ", " \n\t\u3000 ", "word", "y" * 500, "  lead and trail  "]
    texts += ["".join(rng.choices(parts, k=rng.randint(1, 400))) for _ in range(80)]
    for text in texts:
        for size in (1, 2, 5, 33, 10**6):
            assert texthash._long_text_digest(text, size) == whole(text), (text, size)
    long_text = "".join(rng.choices(parts, k=20_000))
    assert len(long_text) > texthash.LONG_TEXT
    assert hash_texts([long_text]).tobytes() == whole(long_text)
    assert hash_texts([" " * (texthash.LONG_TEXT + 1)])[0] == BLANK_HASH
