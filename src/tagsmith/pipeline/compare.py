"""What an evaluation measured (which bundle, which documents), so that two saved
``eval --json`` reports can be told apart or matched later."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.classifier import TextClassifier


def corpus_fingerprint(hashes: np.ndarray, Y: sp.spmatrix, space: LabelSpace) -> str:
    """SHA-256 over the documents in order: each text's hash (``hashes``, as
    :func:`~tagsmith.data.texthash.hash_texts` gives them: whitespace collapsed, case
    folded) and the URIs of its gold labels (``Y``'s columns in ``space``), sorted.

    The labels are hashed by URI, not by id, so one corpus read against two label
    spaces (a bundle trained before a label was added, and one after) has one
    fingerprint.

    >>> from tagsmith.data.labelspace import LabelSpace
    >>> from tagsmith.data.texthash import hash_texts
    >>> a = LabelSpace.from_uris(["x:a", "x:b"])
    >>> b = LabelSpace.from_uris(["x:b", "x:new", "x:a"])
    >>> h = hash_texts(["one", "two"])
    >>> corpus_fingerprint(h, sp.csr_matrix([[1, 1], [0, 1]]), a) == corpus_fingerprint(
    ...     h, sp.csr_matrix([[1, 0, 1], [1, 0, 0]]), b)
    True
    """
    labels = sp.csr_matrix(Y, copy=True)
    labels.eliminate_zeros()
    labels.sum_duplicates()
    uris = [space.uri_of(i) for i in range(labels.shape[1])]
    digest = hashlib.sha256(np.asarray(hashes, dtype="<u8").tobytes())
    indptr, indices = labels.indptr, labels.indices
    for row in range(labels.shape[0]):
        names = sorted(uris[j] for j in indices[indptr[row]:indptr[row + 1]])
        # a URI holds no control character (refused when read): TAB and LF separate
        digest.update(("\t".join(names) + "\n").encode("utf-8"))
    return digest.hexdigest()


def bundle_fingerprint(manifest: dict) -> str | None:
    """SHA-256 over the bundle's files as its manifest lists their checksums: any
    change to the model, thresholds or calibration changes it (a later ``calibrate``
    too); None for a manifest without them."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return None
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode("utf-8")).hexdigest()


def provenance(classifier: TextClassifier, bundle: str, corpus: str, corpus_print: str,
               *, vocab: str | None = None, threshold: float | None = None) -> dict:
    """``eval --json``'s ``provenance``: the bundle (path, creation time, fingerprint of
    its files, of its training data and of its label space), the corpus (path and
    :func:`corpus_fingerprint`), the options that change the figures, the time of the
    evaluation and the tagsmith that made it."""
    from tagsmith import __version__

    manifest = classifier._loaded_manifest or classifier.manifest
    training = manifest.get("training") or {}
    labels = manifest.get("label_space") or {}
    return {
        "bundle": bundle,
        "bundle_created": manifest.get("created"),
        "bundle_fingerprint": bundle_fingerprint(manifest),
        "training_data_fingerprint": training.get("data_fingerprint"),
        "label_space_fingerprint": labels.get("fingerprint"),
        "corpus": corpus,
        "corpus_fingerprint": corpus_print,
        "vocab": vocab,
        "threshold": threshold,
        "evaluated": datetime.now(UTC).isoformat(timespec="seconds"),
        "tagsmith_version": __version__,
    }
