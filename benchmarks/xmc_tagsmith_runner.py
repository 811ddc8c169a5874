"""One run of a tagsmith system for ``benchmarks/xmc.py`` (run it with the repo's python).

    python benchmarks/xmc_tagsmith_runner.py --features CACHE --out DIR --family tree \\
        --params '{}'

Loads the shared training matrices, fits ``tagsmith.models.make_model(family, **params)``
(timed), builds and saves a real bundle (``TextClassifier`` with the cached featurizer
and label space), loads it back and times ``predict_topk(test_texts, 10)`` on the raw
test texts, featurization included. Also times the model alone on the shared test
matrix. Writes ``predictions.npz`` (indices int32 n x 10, -1 padded; scores float32)
and ``result.json`` (timings) to ``--out``.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

K = 10


def log(message: str) -> None:
    print(f"[runner] {message}", file=sys.stderr, flush=True)


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2 ** 20


def load_text_side(cache: Path):
    """The label space and fitted TF-IDF featurizer cached next to the feature matrices."""
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.features.tfidf import TfidfFeaturizer

    space = LabelSpace.from_dict(json.loads((cache / "label_space.json").read_text()))
    featurizer = TfidfFeaturizer.from_state(json.loads((cache / "featurizer.json").read_text()),
                                            dict(np.load(cache / "featurizer.npz")))
    return space, featurizer


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, required=True,
                        help="the feature cache benchmarks/xmc.py wrote (X_*.npz, Y_*.npz)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder predictions.npz and result.json are written to")
    parser.add_argument("--family", required=True,
                        help="the tagsmith model family (tagsmith.models.make_model)")
    parser.add_argument("--params", default="{}",
                        help="JSON parameters of the model (default: %(default)s, its own)")
    parser.add_argument("--split", default="test", choices=["test", "dev"],
                        help="the split predicted (default: %(default)s)")
    parser.add_argument("--views", default=None,
                        help="JSON {view: {kind, params}}: extra feature views computed from "
                        "the raw texts (timed as training) next to the cached TF-IDF 'tfidf' "
                        "(default: none)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()

    from tagsmith.models import make_model
    from tagsmith.pipeline.classifier import TextClassifier

    cache = args.features
    started = time.perf_counter()
    X = sp.load_npz(cache / "X_train.npz").tocsr()
    Y = sp.load_npz(cache / "Y_train.npz").tocsr()
    space, featurizer = load_text_side(cache)
    load_s = time.perf_counter() - started
    log(f"loaded {X.shape[0]:,} x {X.shape[1]:,} features, {Y.shape[1]:,} labels "
        f"in {load_s:.1f}s")

    model = make_model(args.family, **json.loads(args.params))
    started = time.perf_counter()
    train_input = X
    if args.views:  # multi-view: featurizing the training texts counts as training
        from tagsmith.features.views import MultiViewFeaturizer, Views, make_featurizer

        extra = {name: make_featurizer(**spec) for name, spec in json.loads(args.views).items()}
        train_texts = json.loads((cache / "train_texts.json").read_text())
        train_input = Views({"tfidf": X, **{name: f.fit_transform(train_texts)
                                            for name, f in extra.items()}})
        del train_texts
        featurizer = MultiViewFeaturizer({"tfidf": featurizer, **extra})
    model.fit(train_input, Y)
    del train_input
    train_s = time.perf_counter() - started
    log(f"trained {args.family} in {train_s:.1f}s")

    model_predict_s = None
    if not args.views:  # the model alone on the shared matrix (no other view is cached)
        X_test = sp.load_npz(cache / f"X_{args.split}.npz").tocsr()
        started = time.perf_counter()
        model.predict_topk(X_test, K)
        model_predict_s = time.perf_counter() - started
        del X_test

    bundle = args.out / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    label_counts = np.bincount(Y.indices, minlength=Y.shape[1]).astype(np.int64)
    clf = TextClassifier(space, featurizer, model, label_counts=label_counts,
                         n_train_docs=X.shape[0])
    started = time.perf_counter()
    clf.save(bundle)
    save_s = time.perf_counter() - started
    del clf, model, X, Y
    gc.collect()

    texts = json.loads((cache / f"{args.split}_texts.json").read_text())
    started = time.perf_counter()
    loaded = TextClassifier.load(bundle)
    bundle_load_s = time.perf_counter() - started
    started = time.perf_counter()
    topk = loaded.predict_topk(texts, K).padded_to(K)
    predict_s = time.perf_counter() - started
    log(f"predicted {len(texts):,} texts from the loaded bundle in {predict_s:.1f}s")

    np.savez(args.out / "predictions.npz", indices=topk.indices.astype(np.int32),
             scores=topk.scores.astype(np.float32))
    result = {"train_seconds": train_s, "predict_seconds": predict_s, "n_test": len(texts),
              "model_predict_docs_per_second": None if model_predict_s is None
              else len(texts) / max(model_predict_s, 1e-9),
              "data_load_seconds": load_s, "bundle_save_seconds": save_s,
              "bundle_load_seconds": bundle_load_s, "bundle_mb": dir_size_mb(bundle)}
    (args.out / "result.json").write_text(json.dumps(result))
    shutil.rmtree(bundle, ignore_errors=True)


if __name__ == "__main__":
    main()
