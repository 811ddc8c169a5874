"""One run of a peer (Omikuji, PECOS, LibMultiLabel) for ``benchmarks/xmc.py``.

    <venv>/bin/python benchmarks/xmc_peer_runner.py --features CACHE --out DIR \\
        --family omikuji|pecos|libmultilabel --params '{...}'

Runs with the python of the peer's own virtual environment, so it imports neither
tagsmith nor anything but numpy, scipy and the peer. It reads the shared TF-IDF
matrices (``X_*.npz``, ``Y_*.npz``) from the feature cache, trains (timed without data
loading), predicts the top 10 labels of every test document (timed) and writes
``predictions.npz`` (indices int32 n x 10, -1 padded; scores float32) and
``result.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

K = 10
THREADS = 2


def log(message: str) -> None:
    print(f"[peer] {message}", file=sys.stderr, flush=True)


def load(cache: Path, name: str) -> sp.csr_matrix:
    matrix = sp.load_npz(cache / f"{name}.npz").tocsr().astype(np.float32)
    matrix.sort_indices()
    return matrix


def top_k_of_rows(scores, offset: int, indices: np.ndarray, values: np.ndarray,
                  label_map: np.ndarray | None = None) -> None:
    """Top K of each row of a score block (dense array or CSR) into the output arrays."""
    if sp.issparse(scores):
        scores = sp.csr_matrix(scores)
        for row in range(scores.shape[0]):
            a, b = scores.indptr[row], scores.indptr[row + 1]
            cols, vals = scores.indices[a:b], scores.data[a:b]
            order = np.lexsort((cols, -vals))[:K]
            n = len(order)
            labels = cols[order] if label_map is None else label_map[cols[order]]
            indices[offset + row, :n] = labels
            values[offset + row, :n] = vals[order]
        return
    scores = np.asarray(scores, dtype=np.float64)
    k = min(K, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else \
        np.broadcast_to(np.arange(scores.shape[1]), (scores.shape[0], scores.shape[1]))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    labels = top if label_map is None else label_map[top]
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    labels = np.where(np.isfinite(top_scores), labels, -1)  # -inf: not a candidate
    indices[offset:offset + len(top), :k] = labels
    values[offset:offset + len(top), :k] = np.where(labels >= 0, top_scores, -np.inf)


# -- Omikuji -----------------------------------------------------------------------------------
def run_omikuji(cache: Path, params: dict, split: str = "test") -> dict:
    import omikuji

    hyper = omikuji.Model.default_hyper_param()
    for key, value in params.items():
        if key != "train_file":
            setattr(hyper, key, value)
    train_file = params["train_file"]
    info = {"hyper_param": {k: getattr(hyper, k) for k in dir(hyper) if not k.startswith("_")}}
    # Model.train_on_data, split in two so that loading the file is timed apart from training
    lib, ffi = omikuji.lib, omikuji.ffi
    pool = omikuji._ThreadPoolHandle(THREADS)
    started = time.perf_counter()
    dataset = lib.load_omikuji_data_set(ffi.new("char[]", train_file.encode()), pool.ptr)
    if dataset == ffi.NULL:
        raise RuntimeError(f"Omikuji failed to load {train_file}")
    dataset = ffi.gc(dataset, lib.free_omikuji_data_set)
    info["train_file_load_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    model_ptr = lib.train_omikuji_model(dataset, hyper, pool.ptr)
    if model_ptr == ffi.NULL:
        raise RuntimeError("Omikuji failed to train")
    model = omikuji.Model(model_ptr, pool)
    info["train_seconds"] = time.perf_counter() - started
    del dataset
    log(f"omikuji trained in {info['train_seconds']:.1f}s")

    X_test = load(cache, f"X_{split}")
    n_features = model.n_features
    indices = np.full((X_test.shape[0], K), -1, np.int32)
    scores = np.full((X_test.shape[0], K), -np.inf, np.float32)
    started = time.perf_counter()
    for row in range(X_test.shape[0]):
        a, b = X_test.indptr[row], X_test.indptr[row + 1]
        pairs = [(f, v) for f, v in zip(X_test.indices[a:b].tolist(), X_test.data[a:b].tolist(),
                                        strict=True) if f < n_features]
        if not pairs:  # Omikuji cannot rank a document without features
            continue
        for j, (label, score) in enumerate(model.predict(pairs, top_k=K)):
            indices[row, j], scores[row, j] = label, score
    info["predict_seconds"] = time.perf_counter() - started
    info["test_docs_without_features"] = int((np.diff(X_test.indptr) == 0).sum())
    return {**info, "indices": indices, "scores": scores}


# -- PECOS -------------------------------------------------------------------------------------
def run_pecos(cache: Path, params: dict, split: str = "test") -> dict:
    from pecos.xmc import Indexer, LabelEmbeddingFactory
    from pecos.xmc.xlinear.model import XLinearModel

    X, Y = load(cache, "X_train"), load(cache, "Y_train")
    used = np.flatnonzero(np.bincount(Y.indices, minlength=Y.shape[1]) > 0)
    Y = Y[:, used].tocsr()  # labels without training documents cannot be learned
    Y.sort_indices()
    started = time.perf_counter()
    embedding = LabelEmbeddingFactory.create(Y, X, method="pifa")
    cluster_chain = Indexer.gen(embedding, nr_splits=params.get("nr_splits", 16),
                                threads=THREADS)
    model = XLinearModel.train(X, Y, C=cluster_chain, threads=THREADS)
    train_s = time.perf_counter() - started
    log(f"pecos trained in {train_s:.1f}s")
    del X, Y
    X_test = load(cache, f"X_{split}")
    started = time.perf_counter()
    pred = model.predict(X_test, only_topk=K, threads=THREADS)
    predict_s = time.perf_counter() - started
    indices = np.full((X_test.shape[0], K), -1, np.int32)
    scores = np.full((X_test.shape[0], K), -np.inf, np.float32)
    top_k_of_rows(pred, 0, indices, scores, used)
    return {"train_seconds": train_s, "predict_seconds": predict_s, "indices": indices,
            "scores": scores, "labels_trained": int(len(used))}


# -- LibMultiLabel -----------------------------------------------------------------------------
def run_libmultilabel(cache: Path, params: dict, split: str = "test") -> dict:
    import libmultilabel.linear as linear

    X, Y = load(cache, "X_train"), load(cache, "Y_train")
    used = np.flatnonzero(np.bincount(Y.indices, minlength=Y.shape[1]) > 0)
    Y = Y[:, used].tocsr()
    Y.sort_indices()
    method = params.get("method", "tree")
    options = params.get("options", "")
    started = time.perf_counter()
    if method == "1vsrest":
        model = linear.train_1vsrest(Y, X, multiclass=False, options=options, verbose=False)
    elif method == "tree":
        model = linear.train_tree(Y, X, options=options, verbose=False)
    else:
        raise ValueError(f"unknown LibMultiLabel method {method!r}")
    train_s = time.perf_counter() - started
    log(f"libmultilabel {method} trained in {train_s:.1f}s")
    del X, Y
    X_test = load(cache, f"X_{split}")
    indices = np.full((X_test.shape[0], K), -1, np.int32)
    scores = np.full((X_test.shape[0], K), -np.inf, np.float32)
    # predict_values gives a dense docs x labels block: predict in chunks
    chunk = max(1, min(X_test.shape[0], 20_000_000 // max(1, len(used))))
    started = time.perf_counter()
    for offset in range(0, X_test.shape[0], chunk):
        block = linear.predict_values(model, X_test[offset:offset + chunk])
        if method == "tree":  # labels outside the beam score exactly 0: not candidates
            block = np.where(block > 0, block, -np.inf)
        top_k_of_rows(block, offset, indices, scores, used)
    predict_s = time.perf_counter() - started
    return {"train_seconds": train_s, "predict_seconds": predict_s, "indices": indices,
            "scores": scores, "labels_trained": int(len(used)), "options": options}


RUNNERS = {"omikuji": (run_omikuji, "omikuji"), "pecos": (run_pecos, "libpecos"),
           "libmultilabel": (run_libmultilabel, "libmultilabel")}


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, required=True,
                        help="the feature cache benchmarks/xmc.py wrote (X_*.npz, Y_*.npz)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder predictions.npz and result.json are written to")
    parser.add_argument("--family", required=True, choices=sorted(RUNNERS),
                        help="the peer run")
    parser.add_argument("--params", default="{}",
                        help="JSON parameters of the model (default: %(default)s, its own)")
    parser.add_argument("--split", default="test", choices=["test", "dev"],
                        help="the split predicted (default: %(default)s)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    run, dist = RUNNERS[args.family]
    result = run(args.features, json.loads(args.params), args.split)
    n_test = result["indices"].shape[0]
    np.savez(args.out / "predictions.npz", indices=result.pop("indices"),
             scores=result.pop("scores"))
    result.update({"n_test": n_test, "version": importlib.metadata.version(dist)})
    (args.out / "result.json").write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
