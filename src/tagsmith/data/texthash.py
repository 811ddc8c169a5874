"""One 8-byte hash per text, by training's rule for equal texts: whitespace collapsed,
case folded.

The shared helper behind :func:`~tagsmith.pipeline.train.text_hashes` (the record of
the training documents a bundle keeps), :func:`~tagsmith.pipeline.train.duplicate_groups`
(equal texts kept on one side of a split) and the overlap checks of held-out data
(:func:`in_training`, here so that ``eval`` checks its corpus without importing the
training pipeline and numba with it), for callers that need the per-text hashes
themselves (to hash a corpus once for several of these). The audit's duplicate finder
has its own, broader rule (:func:`tagsmith.audit.duplicates.text_hashes`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from tagsmith._chunks import whitespace_chunks


def hash_texts(texts: Sequence[str]) -> np.ndarray:
    """The hash of each text, in order (little-endian uint64): blake2b of the text with
    its whitespace collapsed and its case folded, so ``"A  b"`` and ``"a b"`` hash alike.

    >>> h = hash_texts(["A  b", "a b", "c"])
    >>> h.dtype.str, h.shape, bool(h[0] == h[1]), bool(h[0] == h[2])
    ('<u8', (3,), True, False)
    >>> bool(hash_texts([" \\n"])[0] == BLANK_HASH)
    True
    """
    # each digest written in place: joining them built a list of every digest first
    # (a bytes object each: 138 MB at a million texts, against the 8 MB of the result)
    if not hasattr(texts, "__len__"):  # an iterator, as a join took
        texts = list(texts)
    digests = bytearray(8 * len(texts))
    for at, text in enumerate(texts):
        if len(text) > LONG_TEXT:
            digests[8 * at:8 * at + 8] = _long_text_digest(text)
            continue
        digests[8 * at:8 * at + 8] = hashlib.blake2b(
            " ".join(text.split()).casefold().encode("utf-8"), digest_size=8).digest()
    return np.frombuffer(digests, dtype="<u8")


#: texts longer than this (in characters) are hashed a piece at a time
#: (:func:`_long_text_digest`)
LONG_TEXT = 1 << 16


def _long_text_digest(text: str, size: int = LONG_TEXT) -> bytes:
    """The digest :func:`hash_texts` gives ``text``, hashed in pieces of about ``size``
    characters, each cut just after a whitespace character: the list of every word of
    the whole text, then its joined, case-folded and encoded copies took 112 MB and
    more beside a 10 MB text (``eval`` and ``train`` hash every document). Case folding
    looks at no neighbour, so the pieces' words joined by a space, folded and encoded,
    are the bytes the whole text gives.
    """
    digest = hashlib.blake2b(digest_size=8)
    first = True
    for piece in whitespace_chunks(text, size):
        words = piece.split()
        if words:
            joined = " ".join(words).casefold()
            digest.update((joined if first else " " + joined).encode("utf-8"))
            first = False
    return digest.digest()


#: the hash of a blank text (empty, or whitespace alone)
BLANK_HASH = hash_texts([""])[0]


def in_training(train_hashes: np.ndarray, texts: Sequence[str], *,
                hashes: np.ndarray | None = None) -> np.ndarray:
    """Which of ``texts`` are among the documents ``train_hashes`` records (a bool per
    text; :func:`~tagsmith.pipeline.train.text_hashes`' rule: whitespace collapsed, case
    folded). ``hashes``: the texts' own, one per text (:func:`hash_texts`), where the
    caller has them already.

    >>> in_training(np.unique(hash_texts(["A  b"])), ["a b", "c"]).tolist()
    [True, False]
    """
    if not len(texts):
        return np.zeros(0, bool)
    return np.isin(hash_texts(texts) if hashes is None else hashes, train_hashes)


def training_documents(train_hashes: np.ndarray, texts: Sequence[str] | None = None, *,
                       hashes: np.ndarray | None = None) -> np.ndarray:
    """Which of ``texts`` are training documents of a bundle that recorded
    ``train_hashes``, blank texts left out (a bool per text): :func:`in_training` but
    for an empty or whitespace-only text, which holds nothing a bundle learnt however
    many blank texts its training corpus had (Reuters-21578's test split read 20
    training documents where 6 are copies, 14 empty stories). The one count of
    ``eval``'s overlap warning and of ``audit --scores heldout``'s check, each of which
    had its own copy. ``hashes``: the texts' own (:func:`hash_texts`), where the caller
    has them (``texts`` may then be left out: a streamed corpus's hashes alone).

    >>> training_documents(np.unique(hash_texts(["A  b", ""])), ["a b", " ", "c"]).tolist()
    [True, False, False]
    """
    if hashes is None:
        if texts is None:
            raise TypeError("training_documents() needs texts or hashes")
        hashes = hash_texts(texts) if len(texts) else np.zeros(0, "<u8")
    hashes = np.asarray(hashes)
    return np.isin(hashes, train_hashes) & (hashes != BLANK_HASH)
