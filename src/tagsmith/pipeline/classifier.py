"""TextClassifier: featurizer + model + thresholds + label space, as one bundle.

This façade is what the CLI and the Python API use: give it texts, get ranked
suggestions with scores, or label sets from the tuned thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagsmith.calibration.thresholds import Thresholds
from tagsmith.data.labelspace import LabelSpace
from tagsmith.exceptions import BundleError, InvalidParameterError
from tagsmith.features.views import featurizer_from_state
from tagsmith.models import get_model_class
from tagsmith.pipeline.crossfit import CROSSFIT_ARRAYS, CROSSFIT_META, CrossFitScores
from tagsmith.store.bundle import Bundle, BundleWriter
from tagsmith.topk import TopK

LABEL_SPACE_FILE = "label_space.json"
FEATURIZER_META, FEATURIZER_ARRAYS = "featurizer.json", "featurizer.npz"
MODEL_META, MODEL_ARRAYS = "model.json", "model.npz"
THRESHOLDS_META, THRESHOLDS_ARRAYS = "thresholds.json", "thresholds.npz"
STATS_ARRAYS = "label_stats.npz"


@dataclass(frozen=True)
class Suggestion:
    """One suggested label for one document."""

    label_id: int
    uri: str
    label: str
    score: float

    def to_dict(self) -> dict:
        return {"uri": self.uri, "label": self.label, "score": round(self.score, 6)}


class TextClassifier:
    """A trained classifier over texts.

    ``label_counts`` (shape ``(n_labels,)``) and ``n_train_docs`` record the training
    label frequencies, used for propensity-scored metrics.
    """

    def __init__(self, label_space: LabelSpace, featurizer, model,
                 thresholds: Thresholds | None = None, *,
                 label_counts: np.ndarray | None = None, n_train_docs: int = 0,
                 manifest: dict | None = None, crossfit: CrossFitScores | None = None):
        if model.n_labels_ != len(label_space):
            raise InvalidParameterError("model", f"a model over {len(label_space)} labels",
                                        f"{model.n_labels_} labels")
        self.label_space = label_space
        self.featurizer = featurizer
        self.model = model
        self.thresholds = thresholds or Thresholds.constant(len(label_space))
        self.label_counts = (np.zeros(len(label_space), np.int64) if label_counts is None
                             else np.asarray(label_counts, dtype=np.int64))
        self.n_train_docs = n_train_docs
        self.manifest = manifest or {}
        # out-of-fold scores of the training documents, when training computed them
        self.crossfit = crossfit

    @property
    def n_labels(self) -> int:
        return len(self.label_space)

    # -- prediction ----------------------------------------------------------------------
    def predict_topk(self, texts: Iterable[str], k: int = 10) -> TopK:
        """Top ``k`` labels for each text (``TopK`` of shape n_docs x k)."""
        return self.model.predict_topk(self.featurizer.transform(texts), k)

    def label_sets(self, topk: TopK, threshold: float | None = None):
        """Boolean sparse label sets from the tuned thresholds, or one global ``threshold``."""
        if threshold is None:
            return topk.label_sets(self.thresholds.per_label,
                                   min_labels=self.thresholds.min_labels)
        return topk.label_sets(threshold)

    def suggest(self, texts: Sequence[str], *, k: int = 10, threshold: float | None = None,
                lang: str = "en") -> list[list[Suggestion]]:
        """Ranked suggestions per text.

        ``threshold=None`` keeps the labels that pass the tuned per-label thresholds
        (so a document may get none); a number keeps top-k labels scoring at least it
        (``0`` keeps all ``k``).
        """
        topk = self.predict_topk(texts, k)
        chosen = self.label_sets(topk, threshold)
        out = []
        for row, (ids, scores) in enumerate(topk.rows()):
            keep = set(chosen.indices[chosen.indptr[row]:chosen.indptr[row + 1]].tolist())
            out.append([Suggestion(int(i), self.label_space.uri_of(int(i)),
                                   self.label_space.name_of(int(i), lang), float(s))
                        for i, s in zip(ids, scores, strict=True) if int(i) in keep])
        return out

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the bundle atomically (see :mod:`tagsmith.store.bundle`)."""
        writer = BundleWriter(Path(path))
        writer.add_json(LABEL_SPACE_FILE, self.label_space.to_dict())
        feat_meta, feat_arrays = self.featurizer.to_state()
        writer.add_json(FEATURIZER_META, feat_meta)
        writer.add_arrays(FEATURIZER_ARRAYS, feat_arrays)
        model_meta, model_arrays = self.model.to_state()
        writer.add_json(MODEL_META, {"name": self.model.name, **model_meta})
        writer.add_arrays(MODEL_ARRAYS, model_arrays)
        thr_meta, thr_arrays = self.thresholds.to_state()
        writer.add_json(THRESHOLDS_META, thr_meta)
        writer.add_arrays(THRESHOLDS_ARRAYS, thr_arrays)
        writer.add_arrays(STATS_ARRAYS, {"label_counts": self.label_counts,
                                         "n_train_docs": np.array(self.n_train_docs)})
        if self.crossfit is not None:
            cf_meta, cf_arrays = self.crossfit.to_state()
            writer.add_json(CROSSFIT_META, cf_meta)
            writer.add_arrays(CROSSFIT_ARRAYS, cf_arrays)
        writer.manifest = {
            **self.manifest,
            "model": {"name": self.model.name, "params": self.model.get_params()},
            "featurizer": {"name": getattr(self.featurizer, "kind", "tfidf"),
                           "params": self.featurizer.get_params()},
            "label_space": {"fingerprint": self.label_space.fingerprint,
                            "n_labels": self.n_labels},
        }
        return writer.commit()

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        """Load and check a bundle; raises :class:`BundleError` naming what is wrong."""
        bundle = Bundle(path)
        try:
            label_space = LabelSpace.from_dict(bundle.read_json(LABEL_SPACE_FILE))
            featurizer = featurizer_from_state(bundle.read_json(FEATURIZER_META),
                                               bundle.read_arrays(FEATURIZER_ARRAYS))
            model_meta = bundle.read_json(MODEL_META)
            model_class = get_model_class(model_meta["name"])
            model = model_class.from_state(model_meta, bundle.read_arrays(MODEL_ARRAYS))
            thresholds = Thresholds.from_state(bundle.read_json(THRESHOLDS_META),
                                               bundle.read_arrays(THRESHOLDS_ARRAYS))
            stats = bundle.read_arrays(STATS_ARRAYS)
            crossfit = (CrossFitScores.from_state(bundle.read_json(CROSSFIT_META),
                                                  bundle.read_arrays(CROSSFIT_ARRAYS))
                        if bundle.has(CROSSFIT_META) else None)
        except BundleError:
            raise
        except (KeyError, ValueError, TypeError) as exc:
            raise BundleError(f"incompatible or damaged contents ({type(exc).__name__}: {exc})",
                              path=path) from exc
        recorded = bundle.manifest.get("label_space", {}).get("fingerprint")
        if recorded != label_space.fingerprint:
            raise BundleError("the label space does not match the fingerprint in the manifest",
                              path=path)
        return cls(label_space, featurizer, model, thresholds,
                   label_counts=stats["label_counts"], n_train_docs=int(stats["n_train_docs"]),
                   manifest=bundle.manifest, crossfit=crossfit)
