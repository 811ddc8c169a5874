"""Per-label explanations: which terms of a text support a label suggested for it.

Exact for the one-vs-rest linear model over TF-IDF features: a label's margin is
``x @ w + b``, the sum of the per-feature contributions ``x_j * w_j`` and the bias, so
the features contributing most are the evidence, named by the featurizer's vocabulary
(a word n-gram, or a character n-gram of ``char_wb``, whose spaces mark a word's
start and end). The contributions are to the model's margin, before the sigmoid and
any calibration. Other models (the label tree, whose score multiplies the node scores
along a label's path; the kNN models, whose bundles keep no training documents;
ensembles) and other featurizers (embeddings, multi-view) are refused by name: no
explanation is offered that the model's score does not decompose into.

The audit's :mod:`tagsmith.audit.evidence` scores (document, label) pairs by centroid
cosine and co-occurrence, never naming terms: there is nothing there to reuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from tagsmith.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from tagsmith._typing import Featurizer
    from tagsmith.models.base import BaseModel

#: evidence terms per suggested label when ``--explain`` is given without a number
DEFAULT_TERMS = 5
#: (feature slot of a text, label) contributions :meth:`Explainer.explain` gathers and
#: sorts at once (8 bytes each, a few arrays of them)
EXPLAIN_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class Evidence:
    """One term supporting a suggested label: ``term`` as the featurizer counts it
    (lowercased; a ``"char"`` n-gram keeps the spaces that mark a word boundary),
    ``kind`` (``"word"`` or ``"char"``), and ``weight``, its contribution
    ``x_j * w_j`` to the label's margin."""

    term: str
    kind: str
    weight: float

    def to_dict(self) -> dict:
        from tagsmith._score import shown_score

        # as a score is shown: 6 significant digits below 0.001 (6 decimals printed a
        # positive contribution below 5e-7 as 0.0)
        return {"term": self.term, "kind": self.kind, "weight": shown_score(self.weight)}

    def shown(self) -> str:
        """The term for a reader: a character n-gram between ``‹`` and ``›``, ``␣`` for
        its spaces (the word n-gram "sorry" and the characters "sorry" of "sorrywe" read
        alike otherwise)."""
        term = f"\u2039{self.term.replace(' ', chr(0x2423))}\u203a" if self.kind == "char" \
            else self.term
        # 4 decimals, 2 significant digits below 0.0001 (a positive contribution read
        # "(0.0000)", as if it supported nothing)
        weight = f"{self.weight:.4f}" if abs(self.weight) >= 0.0001 else f"{self.weight:.2g}"
        return f"{term} ({weight})"


def check_terms(n_terms: object) -> int:
    """``n_terms`` (terms per label) as an int >= 1, else refused by name."""
    if isinstance(n_terms, bool) or not isinstance(n_terms, (int, np.integer)) \
            or n_terms < 1:
        raise InvalidParameterError("explain", "an integer >= 1 (terms per label)", n_terms)
    return int(n_terms)


class Explainer:
    """The explanations a classifier's model and featurizer allow; built once (the
    vocabulary and the weights in the layout read here), then :meth:`explain` per
    batch. Refuses, naming the model or featurizer, what it cannot explain exactly."""

    def __init__(self, featurizer: Featurizer, model: BaseModel) -> None:
        from tagsmith.features.tfidf import TfidfFeaturizer
        from tagsmith.models.linear import LinearOVR

        if not isinstance(model, LinearOVR):
            name = getattr(model, "name", type(model).__name__)
            raise InvalidParameterError(
                "explain", "used with a bundle of the linear model (a label's margin is "
                "the sum of its terms' weights; no such exact decomposition is kept for "
                "the other models)", f"a bundle of the {name!r} model")
        if not isinstance(featurizer, TfidfFeaturizer):
            kind = getattr(featurizer, "kind", type(featurizer).__name__)
            raise InvalidParameterError(
                "explain", "used with a bundle of TF-IDF features (terms to name)",
                f"a bundle of {kind!r} features")
        self.featurizer = featurizer
        terms: list[str] = []
        kinds: list[str] = []
        for block in featurizer.blocks_:
            terms.extend(block.terms)
            kinds.extend(["word" if block.analyzer == "word" else "char"] * len(block.terms))
        self.terms, self.kinds = terms, kinds
        weights = model._prediction_weights()
        # rows of features: a document's few features are picked out of it
        self.weights = weights.tocsr() if sp.issparse(weights) else weights

    def explain(self, texts: Sequence[str], label_ids: Sequence[Sequence[int]],
                n_terms: int = DEFAULT_TERMS, *, features: sp.spmatrix | None = None
                ) -> list[list[list[Evidence]]]:
        """Per text, per label id of ``label_ids`` (its suggested labels), the
        ``n_terms`` features of the text contributing most to the label's margin,
        largest first; only those contributing a positive amount (support).
        ``features``: the texts' matrix from the featurizer, if scoring made it already
        (else the texts are featurized here)."""
        n_terms = check_terms(n_terms)
        if features is None:
            X = self.featurizer.transform(texts)
        else:
            X = sp.csr_matrix(features)
            expected = (len(texts), len(self.terms))
            if X.shape != expected:
                raise InvalidParameterError(
                    "features", f"the texts' feature matrix, {expected[0]} x {expected[1]}",
                    f"{X.shape[0]} x {X.shape[1]}")
        if X.shape[0] != len(label_ids):
            raise InvalidParameterError("label_ids", f"one list per text ({X.shape[0]})",
                                        f"{len(label_ids)} lists")
        # the contributions of every text's features to each of its labels gathered at
        # once per block of texts of about as many features (a Python loop per text
        # took a quarter of suggest --explain's time)
        n_labels = np.fromiter((len(ids) for ids in label_ids), np.int64, len(label_ids))
        flat = np.fromiter((int(i) for ids in label_ids for i in ids), np.int64,
                           int(n_labels.sum()))
        # a negative id explained the last labels (numpy's wrap), one too large failed
        # deep in the gathering with an IndexError
        n_model = self.weights.shape[1]
        if flat.size and (flat.min() < 0 or flat.max() >= n_model):
            raise InvalidParameterError(
                "label_ids", f"label ids of the model, 0 to {n_model - 1}",
                int(flat.min() if flat.min() < 0 else flat.max()))
        label_start = np.concatenate([[0], np.cumsum(n_labels)])
        lengths = np.diff(X.indptr).astype(np.int64)
        out: list[list[list[Evidence]]] = [[[] for _ in range(int(n))] for n in n_labels]
        # rows padded to one of four widths per power of two of features (at most a
        # quarter more), as many at once as EXPLAIN_BLOCK entries hold
        shown = np.flatnonzero((lengths > 0) & (n_labels > 0))
        quarter = np.maximum(1, np.left_shift(
            1, np.floor(np.log2(lengths[shown])).astype(np.int64)) // 4)
        width = -(-lengths[shown] // quarter) * quarter
        for w in np.unique(width).tolist():
            rows = shown[width == w]
            most = int(n_labels[rows].max())
            step = max(1, EXPLAIN_BLOCK // (w * most))
            for first in range(0, rows.size, step):
                self._explain_rows(X, rows[first:first + step], w, flat, label_start,
                                   n_terms, out)
        return out

    def _explain_rows(self, X: sp.csr_matrix, rows: np.ndarray, width: int,
                      flat: np.ndarray, label_start: np.ndarray, n_terms: int,
                      out: list[list[list[Evidence]]]) -> None:
        """The evidence of the texts ``rows`` of ``X`` (of at most ``width`` features
        each) into ``out``: per (text, label), its features' contributions padded with
        zeros to ``width``, sorted as one stable sort per (text, label) does, so that
        between equal contributions the feature earlier in the text's row comes first;
        of the ``n_terms`` largest, the positive ones."""
        n_labels = label_start[rows + 1] - label_start[rows]
        most = int(n_labels.max())
        lengths = X.indptr[rows + 1] - X.indptr[rows]
        slot = np.arange(width)
        real = slot[None, :] < lengths[:, None]  # (rows, width)
        at = np.where(real, X.indptr[rows][:, None] + slot[None, :], 0)
        features = X.indices[at].astype(np.int64)  # (rows, width)
        values = np.where(real, X.data[at], 0).astype(np.float64)
        column = np.arange(most)
        has = column[None, :] < n_labels[:, None]  # (rows, most)
        labels = flat[np.where(has, label_start[rows][:, None] + column[None, :], 0)]
        if sp.issparse(self.weights):
            weights = self._sparse_weights(features, real, labels, has)
        else:
            weights = self.weights[features[:, None, :], labels[:, :, None]]
        # (rows, labels, width): 0 past a text's features (and they sort after its own)
        contributions = weights.astype(np.float64) * values[:, None, :]
        best = np.argsort(-contributions, axis=2, kind="stable")[:, :, :n_terms]
        picked = np.take_along_axis(contributions, best, axis=2)
        r, c, j = np.nonzero((picked > 0) & has[:, :, None])
        if not r.size:
            return
        terms, kinds = self.terms, self.kinds
        chosen = features[r, best[r, c, j]].tolist()
        # built in one map, not one loop step each (building them was as long as the
        # ranking: 271,000 took 0.45 s), then handed out a (text, label) at a time: the
        # nonzero entries come text by text, label by label, each pair's in a run
        evidence = list(map(Evidence, [terms[f] for f in chosen], [kinds[f] for f in chosen],
                            picked[r, c, j].tolist()))
        pair = r * most + c
        bounds = np.flatnonzero(np.diff(pair)) + 1
        starts = np.concatenate([[0], bounds]).tolist()
        ends = np.concatenate([bounds, [pair.size]]).tolist()
        for row, label, lo, hi in zip(rows[r[starts]].tolist(), c[starts].tolist(), starts,
                                      ends, strict=True):
            out[row][label] = evidence[lo:hi]

    def _sparse_weights(self, features: np.ndarray, real: np.ndarray, labels: np.ndarray,
                        has: np.ndarray) -> np.ndarray:
        """``self.weights[features, labels]`` of sparse weights as a (texts, labels,
        features) array, 0 where a text has no such feature or label: the weights stored
        in the texts' features' rows scattered to the (text, label) pairs asking for them,
        where those rows hold no more entries than the pairs (looking up each pair in its
        row, as ``W[rows, cols]`` does, cost a quarter more than the old per-text loop
        with 2,000 labels, k 50 and 400 features a text); else each pair looked up."""
        W = self.weights
        n_rows, width = features.shape
        most = labels.shape[1]
        starts = W.indptr[features].astype(np.int64)
        counts = np.where(real, W.indptr[features + 1] - starts, 0).ravel()
        total = int(counts.sum())
        keys = (np.arange(n_rows, dtype=np.int64)[:, None] * W.shape[1] + labels)[has]
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        if total > n_rows * most * width or not W.has_canonical_format \
                or bool(np.any(sorted_keys[1:] == sorted_keys[:-1])):
            # a label twice for a text, or rows fuller than the pairs: each pair looked up
            looked = np.broadcast_arrays(features[:, None, :], labels[:, :, None])
            return np.asarray(W[looked[0].ravel(), looked[1].ravel()]
                              ).reshape(n_rows, most, width)
        slot = np.repeat(np.arange(n_rows * width, dtype=np.int64), counts)
        first = np.cumsum(counts) - counts
        at = np.repeat(starts.ravel() - first, counts) + np.arange(total, dtype=np.int64)
        wanted = slot // width * W.shape[1] + W.indices[at]
        pairs = np.flatnonzero(has.ravel())
        if n_rows * W.shape[1] <= EXPLAIN_BLOCK:  # (text, label) -> pair, at once
            pair_of = np.full(n_rows * W.shape[1], -1, np.int64)
            pair_of[keys] = pairs
            pair = pair_of[wanted]
            hit = pair >= 0
            pair = pair[hit]
        else:
            found = np.minimum(np.searchsorted(sorted_keys, wanted), max(0, keys.size - 1))
            hit = sorted_keys[found] == wanted if keys.size else np.zeros(total, bool)
            pair = pairs[order[found[hit]]]
        weights = np.zeros((n_rows * most, width), W.dtype)
        weights[pair, slot[hit] % width] = W.data[at[hit]]
        return weights.reshape(n_rows, most, width)
