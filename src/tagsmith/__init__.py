"""tagsmith: multi-label text classification at any scale.

The entry points, all importable from ``tagsmith`` itself (``from tagsmith import
train_classifier``) as from the modules that define them (named below), which keep
working:

Data
    :func:`load_vocabulary` (``tagsmith.data.vocab``), :func:`read_labelled`
    (``tagsmith.pipeline.io``), :class:`LabelSpace`, :class:`Document`
    (``tagsmith.data``) and :class:`TopK` (``tagsmith.topk``), a ranking of labels.
Training and prediction
    :func:`train_classifier` and :class:`TrainOptions` (``tagsmith.pipeline.train``);
    :class:`TextClassifier` (``tagsmith.pipeline.classifier``): ``load``, ``save``,
    ``suggest``, ``predict_topk``, ``predict_sets``.
Evaluation
    :func:`evaluate_classifier` (``tagsmith.pipeline.evaluate``);
    :func:`compare_predictions` (``tagsmith.pipeline.compare``), a model against a
    baseline with paired intervals. The metrics themselves: ``tagsmith.metrics``.
Confidence
    :func:`calibrate_classifier`, :class:`ConfidenceOptions`,
    :func:`heldout_from_corpus`, :func:`evaluate_confidence`, :func:`estimate_shift`
    (``tagsmith.pipeline.confidence``).
Label audit
    :func:`audit_corpus`, :class:`AuditOptions`, :func:`read_audit_corpus`,
    :func:`apply_decisions` (``tagsmith.pipeline.audit``).
LLM-assisted labeling and zero-shot
    :func:`distill_classifier`, :func:`active_distill`, :class:`ActiveOptions`
    (``tagsmith.pipeline.distill``); :class:`ZeroShotClassifier`
    (``tagsmith.zeroshot.scorer``). The clients, prompts and file-level jobs:
    ``tagsmith.labeling``, ``tagsmith.pipeline.llm``.
Errors
    :class:`TagsmithError`, the base of every error tagsmith raises;
    :class:`InvalidParameterError` (a wrong argument, naming the parameter) and
    :class:`DataError` (a bad file or corpus, naming it) (``tagsmith.exceptions``).

Importing the package is cheap: each of these names imports its module on first use
(PEP 562), so heavy dependencies load only when a name that needs them is used (a test
keeps it so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports them
    from tagsmith.data.document import Document
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.exceptions import DataError, InvalidParameterError, TagsmithError
    from tagsmith.pipeline.audit import (
        AuditOptions,
        apply_decisions,
        audit_corpus,
        read_audit_corpus,
    )
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.compare import compare_predictions
    from tagsmith.pipeline.confidence import (
        ConfidenceOptions,
        calibrate_classifier,
        estimate_shift,
        evaluate_confidence,
        heldout_from_corpus,
    )
    from tagsmith.pipeline.distill import ActiveOptions, active_distill, distill_classifier
    from tagsmith.pipeline.evaluate import evaluate_classifier
    from tagsmith.pipeline.io import read_labelled
    from tagsmith.pipeline.train import TrainOptions, train_classifier
    from tagsmith.topk import TopK
    from tagsmith.zeroshot.scorer import ZeroShotClassifier

#: the one place the version is written: pyproject.toml reads it from here (a literal, so
#: that setuptools finds it without importing the package)
__version__ = "0.1.0"

#: each lazily exported name and the module that defines it
_EXPORTS = {
    "load_vocabulary": "tagsmith.data.vocab",
    "read_labelled": "tagsmith.pipeline.io",
    "LabelSpace": "tagsmith.data.labelspace",
    "Document": "tagsmith.data.document",
    "TopK": "tagsmith.topk",
    "TrainOptions": "tagsmith.pipeline.train",
    "train_classifier": "tagsmith.pipeline.train",
    "TextClassifier": "tagsmith.pipeline.classifier",
    "evaluate_classifier": "tagsmith.pipeline.evaluate",
    "compare_predictions": "tagsmith.pipeline.compare",
    "ConfidenceOptions": "tagsmith.pipeline.confidence",
    "calibrate_classifier": "tagsmith.pipeline.confidence",
    "heldout_from_corpus": "tagsmith.pipeline.confidence",
    "evaluate_confidence": "tagsmith.pipeline.confidence",
    "estimate_shift": "tagsmith.pipeline.confidence",
    "AuditOptions": "tagsmith.pipeline.audit",
    "audit_corpus": "tagsmith.pipeline.audit",
    "read_audit_corpus": "tagsmith.pipeline.audit",
    "apply_decisions": "tagsmith.pipeline.audit",
    "distill_classifier": "tagsmith.pipeline.distill",
    "active_distill": "tagsmith.pipeline.distill",
    "ActiveOptions": "tagsmith.pipeline.distill",
    "ZeroShotClassifier": "tagsmith.zeroshot.scorer",
    "TagsmithError": "tagsmith.exceptions",
    "InvalidParameterError": "tagsmith.exceptions",
    "DataError": "tagsmith.exceptions",
}

__all__ = [
    "__version__",
    # data
    "load_vocabulary", "read_labelled", "LabelSpace", "Document", "TopK",
    # training, prediction, evaluation
    "TrainOptions", "train_classifier", "TextClassifier", "evaluate_classifier",
    "compare_predictions",
    # confidence
    "ConfidenceOptions", "calibrate_classifier", "heldout_from_corpus",
    "evaluate_confidence", "estimate_shift",
    # label audit
    "AuditOptions", "audit_corpus", "read_audit_corpus", "apply_decisions",
    # LLM-assisted labeling and zero-shot
    "distill_classifier", "active_distill", "ActiveOptions", "ZeroShotClassifier",
    # errors
    "TagsmithError", "InvalidParameterError", "DataError",
]


def __getattr__(name: str) -> object:
    # lazy exports keep `import tagsmith` fast: the module is imported on first use
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'tagsmith' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    # the lazy exports too, so dir() and tab completion show what can be imported
    return sorted(set(globals()) | set(__all__))
