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


@dataclass(frozen=True)
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
        out: list[list[list[Evidence]]] = []
        for row, labels in enumerate(label_ids):
            start, end = X.indptr[row], X.indptr[row + 1]
            features, values = X.indices[start:end], X.data[start:end]
            ids = np.asarray(labels, dtype=np.int64)
            if not len(ids) or not len(features):
                out.append([[] for _ in ids])
                continue
            part = self.weights[features][:, ids]
            part = part.toarray() if sp.issparse(part) else np.asarray(part)
            contributions = part * values[:, None].astype(np.float64)
            per_label = []
            for column in contributions.T:
                best = np.argsort(-column, kind="stable")[:n_terms]
                per_label.append([Evidence(self.terms[int(features[j])],
                                           self.kinds[int(features[j])], float(column[j]))
                                  for j in best if column[j] > 0])
            out.append(per_label)
        return out
