"""Several feature views of the same documents, and featurizers by kind.

A :class:`MultiViewFeaturizer` applies several named featurizers to the same texts
(say sparse TF-IDF and dense sentence embeddings) and returns :class:`Views`, one
matrix per name. An ensemble whose members name their view
(``members=[["tree", {}, "tfidf"], ["dense_knn", {}, "embedding"]]``) then fits
and scores each member on its own view, so models of different kinds of features
combine in one bundle.

>>> import numpy as np
>>> views = Views({"a": np.ones((3, 2)), "b": np.zeros((3, 5))})
>>> views.n_docs, sorted(views), views.take([0, 2])["b"].shape
(3, ['a', 'b'], (2, 5))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tagsmith._params import check_choice
from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import _as_list

if TYPE_CHECKING:
    from tagsmith._typing import FeatureMatrix, Featurizer
    from tagsmith.features.embedding import EmbeddingFeaturizer
    from tagsmith.features.tfidf import TfidfFeaturizer

#: featurizer kinds: name -> "module:Class" (imported when used)
FEATURIZERS = {
    "tfidf": "tagsmith.features.tfidf:TfidfFeaturizer",
    "embedding": "tagsmith.features.embedding:EmbeddingFeaturizer",
}


class Views(Mapping):
    """Named feature matrices over the same documents (rows align across views)."""

    def __init__(self, matrices: Mapping):
        if not matrices:
            raise InvalidParameterError("views", "at least one feature view", "none")
        self._matrices = dict(matrices)
        sizes = {name: m.shape[0] for name, m in self._matrices.items()}
        if len(set(sizes.values())) != 1:
            raise InvalidParameterError("views", "matrices with the same number of rows",
                                        sizes)
        self.n_docs = next(iter(sizes.values()))

    def __getitem__(self, name: str):
        if name not in self._matrices:
            raise InvalidParameterError("view", f"one of {sorted(self._matrices)}", name)
        return self._matrices[name]

    def __contains__(self, name: object) -> bool:
        # Mapping's own 'in' and get() catch only KeyError; a missing view raises the
        # clearer InvalidParameterError, so both answer from the dict instead
        return name in self._matrices

    def get(self, name: str, default: FeatureMatrix | None = None) -> FeatureMatrix | None:
        return self._matrices.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._matrices)

    def __len__(self) -> int:
        return len(self._matrices)

    def take(self, rows: npt.ArrayLike | slice) -> Views:
        """The same views for a subset of rows (an index array, mask or slice)."""
        return Views({name: m[rows] for name, m in self._matrices.items()})


def check_kind(kind: object) -> str:
    """``kind`` as a plain ``str`` when it names a featurizer kind or ``"views"``; a clear
    error listing them otherwise (a numpy array or a list included, where comparing it
    with each name failed inside numpy or Python)."""
    return check_choice("featurizer", kind, (*sorted(FEATURIZERS), "views"))


def check_view_name(name: object) -> str:
    """``name`` when it can name a view: a bundle keeps a view's arrays as
    ``name.key`` members of an ``.npz``, so it must be non-empty and hold no ``.``,
    no ``/`` (which the bundle loader refuses in a member's name) and only printable
    characters (a NUL cut the member's name short).

    A bundle of views named "words/chars" saved, then failed to load ("featurizer.npz
    holds an unexpected member"), after the whole training.
    """
    if not isinstance(name, str) or not name or "." in name or "/" in name \
            or not name.isprintable():
        raise InvalidParameterError("view name", "a non-empty name of printable characters "
                                    "without '.' or '/'", name)
    return name


def featurizer_class(kind: str) -> (type[TfidfFeaturizer] | type[EmbeddingFeaturizer]
                                    | type[MultiViewFeaturizer]):
    """The featurizer class of ``kind`` (checked)."""
    kind = check_kind(kind)
    if kind == "views":
        return MultiViewFeaturizer
    return view_featurizer_class(kind)


def view_featurizer_class(kind: str) -> type[TfidfFeaturizer] | type[EmbeddingFeaturizer]:
    """The class of a checked ``kind`` other than ``"views"``, one view's featurizer
    (imported when asked for)."""
    import importlib

    module, name = FEATURIZERS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def make_featurizer(kind: str = "tfidf", **params: Any) -> Featurizer:
    """A new featurizer of ``kind`` (``"tfidf"``, ``"embedding"`` or ``"views"``).

    For ``"views"``, ``params`` maps each view's name to ``{"kind": ..., **params}``.
    """
    kind = check_kind(kind)
    if kind == "views":
        return MultiViewFeaturizer({name: make_featurizer(**dict(spec))
                                    for name, spec in params.items()})
    return view_featurizer_class(kind).from_params(**params)


def featurizer_from_state(meta: dict, arrays: dict[str, np.ndarray]) -> Featurizer:
    """The saved featurizer of any kind (bundles before views have no kind: TF-IDF)."""
    kind = check_kind(meta.get("kind", "tfidf"))
    if kind == "views":
        return MultiViewFeaturizer.from_state(meta, arrays)
    return view_featurizer_class(kind).from_state(meta, arrays)


class MultiViewFeaturizer:
    """Named featurizers applied to the same texts; ``transform`` gives :class:`Views`."""

    kind = "views"

    def __init__(self, featurizers: Mapping):
        if not featurizers:
            raise InvalidParameterError("views", "at least one named featurizer", "none")
        for name in featurizers:
            check_view_name(name)
            if isinstance(featurizers[name], MultiViewFeaturizer):
                # every model failed on Views inside Views, after featurizing every text
                raise InvalidParameterError(f"view {name!r}", "one featurizer (views do "
                                            "not nest)", "views")
        self.featurizers = dict(featurizers)

    def get_params(self, deep: bool = True) -> dict:
        """Each view's featurizer's kind and parameters, by view name (``deep`` is
        scikit-learn's, and changes nothing)."""
        return {name: {"kind": f.kind, **f.get_params()} for name, f in self.featurizers.items()}

    def __sklearn_clone__(self) -> MultiViewFeaturizer:
        # scikit-learn's clone: each view's featurizer cloned (its own clone passed the
        # views' parameters to the constructor, which takes the featurizers)
        from sklearn.base import clone

        return type(self)({name: clone(f) for name, f in self.featurizers.items()})

    def __repr__(self) -> str:  # each view's featurizer, one line each way
        return f"{type(self).__name__}({self.featurizers!r})"

    def fit_transform(self, texts: Iterable[str]) -> Views:
        texts = _as_list(texts)  # a bare str is refused, every item must be a str
        return Views({name: f.fit_transform(texts) for name, f in self.featurizers.items()})

    def fit(self, texts: Iterable[str]) -> MultiViewFeaturizer:
        self.fit_transform(texts)
        return self

    def transform(self, texts: Iterable[str]) -> Views:
        texts = _as_list(texts)  # a bare str is refused, every item must be a str
        return Views({name: f.transform(texts) for name, f in self.featurizers.items()})

    @property
    def n_features(self) -> dict[str, int]:
        return {name: f.n_features for name, f in self.featurizers.items()}

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        metas, arrays = {}, {}
        for name, featurizer in self.featurizers.items():
            meta, view_arrays = featurizer.to_state()
            metas[name] = {"kind": featurizer.kind, **meta}
            arrays.update({f"{name}.{key}": value for key, value in view_arrays.items()})
        return {"kind": self.kind, "views": metas}, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> MultiViewFeaturizer:
        """The featurizer ``to_state`` saved; :class:`ValueError` for arrays of no view
        (``name.key`` with no view ``name``): they were ignored, where TF-IDF's own loader
        refuses any array it does not expect (a bundle loads either as a damaged one)."""
        featurizers = {}
        for name, view_meta in meta["views"].items():
            prefix = name + "."
            view_arrays = {key[len(prefix):]: value for key, value in arrays.items()
                           if key.startswith(prefix)}
            featurizers[name] = featurizer_from_state(view_meta, view_arrays)
        stray = sorted(key for key in arrays
                       if "." not in key or key.split(".", 1)[0] not in featurizers)
        if stray:
            raise ValueError(f"arrays {stray} belong to no view (views {sorted(featurizers)})")
        return cls(featurizers)
