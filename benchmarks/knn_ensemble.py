"""Figures for the nearest-neighbour model and the ensemble (models, not the CLI).

    python benchmarks/knn_ensemble.py goemotions
    python benchmarks/knn_ensemble.py yso [--train-docs 200000] [--test-docs 5000]

``goemotions`` (the copy bundled in ``examples/goemotions``; ``--data-dir``,
``--train-docs`` and ``--test-docs`` are ``yso``'s alone, refused with ``goemotions``):
P@1 on the official test split of ``linear``, ``knn`` (defaults and exact search) and
their ensembles, on the default TF-IDF features (word 1-2-grams + char_wb 2-5-grams).
``yso``: the first ``--train-docs`` lines of yso-finna-en's clean-train against the
first ``--test-docs`` of clean-test, word-only and word+char features: knn fit time,
P@1, P@5 and prediction throughput (features precomputed, best of 3 runs, after a
warm-up call that loads the compiled kernels). Prints one JSON line per system.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from tagsmith.data.vocab import load_vocabulary
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.models.ensemble import EnsembleModel
from tagsmith.models.knn import KNNModel
from tagsmith.models.linear import LinearOVR
from tagsmith.pipeline.io import read_labelled

ROOT = Path(__file__).resolve().parents[1]


def precision_at(topk, Y, k: int) -> float:
    rows = np.repeat(np.arange(len(topk)), k)
    labels = topk.indices[:, :k].ravel()
    hits = np.asarray(Y[rows, np.maximum(labels, 0)]).ravel() * (labels >= 0)
    return float(hits.sum() / (len(topk) * k))


def timed_predict(model, X, k: int, runs: int = 3):
    model.predict_topk(X[:10], k)  # warm-up: loads the cached compiled kernels
    best, topk = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        topk = model.predict_topk(X, k)
        best = min(best, time.perf_counter() - started)
    return topk, best


def goemotions() -> None:
    base = ROOT / "examples" / "goemotions"
    space = load_vocabulary(base / "vocab.tsv")
    train = read_labelled(base / "train.tsv.gz", space)
    test = read_labelled(base / "test.tsv.gz", space)
    featurizer = TfidfFeaturizer()
    X, X_test = featurizer.fit_transform(train.texts), featurizer.transform(test.texts)
    started = time.perf_counter()
    linear = LinearOVR().fit(X, train.Y)
    fit_linear = time.perf_counter() - started
    models = {"linear": (linear, fit_linear)}
    for name, params in [("knn", {}), ("knn-exact", {"max_posting": None})]:
        started = time.perf_counter()
        models[name] = (KNNModel(**params).fit(X, train.Y), time.perf_counter() - started)
    for weights in ([1, 1], [3, 1]):
        ensemble = EnsembleModel.from_fitted([linear, models["knn"][0]], weights=weights)
        models[f"ensemble linear+knn {weights}"] = (ensemble, None)
    for name, (model, fit_s) in models.items():
        topk, seconds = timed_predict(model, X_test, 5, runs=1)
        print(json.dumps({"dataset": "goemotions", "system": name, "fit_s": fit_s,
                          "p@1": round(precision_at(topk, test.Y, 1), 4),
                          "docs_per_s": round(X_test.shape[0] / seconds)}))


def _head(src: Path, dst: Path, n: int) -> Path:
    with gzip.open(src, "rt", encoding="utf-8") as handle:
        dst.write_text("".join(itertools.islice(handle, n)), encoding="utf-8")
    return dst


def yso(data_dir: Path, train_docs: int, test_docs: int) -> None:
    from xmc import dataset_dir

    base = dataset_dir("yso-finna-en", data_dir)
    space = load_vocabulary(base / "yso-en-labels.tsv.gz")
    with tempfile.TemporaryDirectory() as tmp:
        train = read_labelled(_head(base / "clean-train.tsv.gz", Path(tmp) / "train.tsv",
                                    train_docs), space)
        test = read_labelled(_head(base / "clean-test.tsv.gz", Path(tmp) / "test.tsv",
                                   test_docs), space)
    for features, params in [("word", {"char_ngrams": None}), ("word+char", {})]:
        featurizer = TfidfFeaturizer(**params)
        X, X_test = featurizer.fit_transform(train.texts), featurizer.transform(test.texts)
        for name, knn_params in [("knn", {}), ("knn-exact", {"max_posting": None})]:
            started = time.perf_counter()
            model = KNNModel(**knn_params).fit(X, train.Y)
            fit_s = time.perf_counter() - started
            topk, seconds = timed_predict(model, X_test, 10, runs=3 if name == "knn" else 1)
            print(json.dumps({"dataset": f"yso-finna-en first {train_docs}", "features": features,
                              "system": name, "n_features": X.shape[1], "fit_s": round(fit_s, 1),
                              "p@1": round(precision_at(topk, test.Y, 1), 4),
                              "p@5": round(precision_at(topk, test.Y, 5), 4),
                              "queries_per_s": round(X_test.shape[0] / seconds)}), flush=True)


#: the options of ``yso`` alone, and their defaults
YSO_DEFAULTS = {"--data-dir": ROOT.parent / "shared" / "datasets", "--train-docs": 200_000,
                "--test-docs": 5_000}


def only_applies(given: list[str]) -> str:
    """``--a only applies``, ``--a and --b only apply``."""
    names = given[0] if len(given) == 1 else f"{', '.join(given[:-1])} and {given[-1]}"
    return f"{names} only appl{'ies' if len(given) == 1 else 'y'}"


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=["goemotions", "yso"],
                        help="goemotions (the bundled copy) or yso (yso-finna-en)")
    # None: not given (goemotions refuses them); yso's defaults are set below
    parser.add_argument("--data-dir", type=Path, help="yso only: folder holding yso-finna-en's "
                        f"folder (default: {YSO_DEFAULTS['--data-dir']})")
    parser.add_argument("--train-docs", type=int,
                        help="yso only: first training documents read (default: "
                        f"{YSO_DEFAULTS['--train-docs']})")
    parser.add_argument("--test-docs", type=int,
                        help="yso only: first test documents read (default: "
                        f"{YSO_DEFAULTS['--test-docs']})")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    given = [option for option in YSO_DEFAULTS
             if getattr(args, option[2:].replace("-", "_")) is not None]
    if args.dataset == "goemotions" and given:  # it ran the whole benchmark ignoring them
        parser.error(f"{only_applies(given)} with yso (goemotions reads the copy bundled "
                     "in examples/goemotions)")
    for option, default in YSO_DEFAULTS.items():
        if getattr(args, option[2:].replace("-", "_")) is None:
            setattr(args, option[2:].replace("-", "_"), default)
    for option in ("--train-docs", "--test-docs"):  # 0: a traceback, some after the work
        if (value := getattr(args, option[2:].replace("-", "_"))) < 1:
            parser.error(f"{option} must be 1 or more, not {value}")
    if args.dataset == "goemotions":
        goemotions()
    else:
        yso(args.data_dir, args.train_docs, args.test_docs)


if __name__ == "__main__":
    main()
