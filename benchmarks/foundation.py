"""Foundation figures: train and evaluate the baseline through the CLI, as a user would.

    python benchmarks/foundation.py --dataset reuters21578 [--data-dir DIR] [--runs 3]
    python benchmarks/foundation.py --dataset goemotions

For each run it calls ``tagsmith train`` and ``tagsmith eval --json`` under
``/usr/bin/time -v`` (wall time, peak RSS), then checks the CLI's figures against
scikit-learn's metrics on the same predictions, and runs a scikit-learn peer
(TF-IDF + one-vs-rest LinearSVC, decision threshold 0) on the same split. Reuters
uses a dev split carved out of train (``--dev-fraction 0.1``); GoEmotions its
official dev split. Ends by printing one JSON line per system (medians over runs),
each with the ``command`` line as run, the ``commit`` of this checkout (``+dirty`` with
uncommitted changes), the folder tagsmith was imported from (``tagsmith_from``) and the
``versions`` of Python, numpy, scipy and scikit-learn.
Each run's bundle and its train/eval logs go under ``benchmarks/work/foundation/<dataset>/``
(``--work-dir``; git-ignored).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TAGSMITH = [sys.executable, "-m", "tagsmith"]


def timed(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` under /usr/bin/time -v; return wall seconds and peak RSS (MB)."""
    full = ["/usr/bin/time", "-v", *cmd] if Path("/usr/bin/time").exists() else cmd
    started = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.run(full, stdout=subprocess.PIPE, stderr=handle, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}; see {log}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text())
    return {"wall_s": wall, "peak_rss_mb": int(rss.group(1)) / 1024 if rss else None,
            "stdout": proc.stdout}


def prepare(dataset: str, data_dir: Path, work: Path) -> dict:
    """Paths of train/test (and dev) corpora in formats the CLI reads directly."""
    sys.path.insert(0, str(HERE))
    from xmc import dataset_dir

    if dataset == "reuters21578":
        base = dataset_dir(dataset, data_dir)
        return {"train": base / "modapte-train.jsonl.gz", "test": base / "modapte-test.jsonl.gz",
                "train_args": ["--dev-fraction", "0.1"]}
    if dataset == "goemotions":
        sys.path.insert(0, str(ROOT / "examples"))
        from make_goemotions import convert

        out = work / "goemotions-tsv"
        dataset_dir(dataset, data_dir)
        convert(data_dir, out)
        return {"train": out / "train.tsv.gz", "test": out / "test.tsv.gz",
                "train_args": ["--vocab", str(out / "vocab.tsv"), "--dev",
                               str(out / "dev.tsv.gz")]}
    raise SystemExit(f"unknown --dataset {dataset!r}: use reuters21578 or goemotions")


def sklearn_check(bundle: Path, test: Path, cli_metrics: dict) -> dict:
    """Recompute the CLI's figures with scikit-learn on the same predictions."""
    from sklearn.metrics import f1_score, ndcg_score

    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.io import read_labelled

    clf = TextClassifier.load(bundle)
    data = read_labelled(test, clf.label_space)
    topk = clf.predict_topk(data.texts, clf.n_labels)
    y_true = data.Y.toarray() > 0
    y_pred = clf.label_sets(topk).toarray()
    scores = topk.to_csr().toarray()
    present = np.flatnonzero(y_true.any(0) | y_pred.any(0))
    ours = {"micro_f1": f1_score(y_true, y_pred, average="micro"),
            "macro_f1": f1_score(y_true, y_pred, average="macro", labels=present,
                                 zero_division=0),
            "ndcg@5": ndcg_score(y_true, scores, k=5),
            "p@1": float(y_true[np.arange(len(y_true)), topk.indices[:, 0]].mean())}
    return {key: {"cli": cli_metrics[key], "sklearn": value,
                  "equal": bool(abs(cli_metrics[key] - value) < 1e-9)}
            for key, value in ours.items()}


def run_tagsmith(paths: dict, work: Path, run: int) -> dict:
    bundle = work / f"bundle-{run}"
    train = timed([*TAGSMITH, "-q", "train", str(paths["train"]), "--output", str(bundle),
                   *paths["train_args"]], work / f"train-{run}.log")
    evaluation = timed([*TAGSMITH, "-q", "eval", str(bundle), str(paths["test"]), "--json"],
                       work / f"eval-{run}.log")
    metrics = json.loads(evaluation["stdout"])
    return {"train_s": train["wall_s"], "train_peak_rss_mb": train["peak_rss_mb"],
            "eval_s": evaluation["wall_s"], "metrics": metrics, "bundle": bundle}


def run_sklearn_peer(paths: dict) -> dict:
    """TF-IDF (word 1-2 grams) + OneVsRest(LinearSVC), labels where the margin > 0."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    def read(path):
        texts, labels = [], []
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                if path.name.endswith(".jsonl.gz"):
                    item = json.loads(line)
                    texts.append(item["text"])
                    labels.append(sorted(set(item["labels"])))
                else:
                    text, _, uris = line.rstrip("\n").partition("\t")
                    texts.append(text)
                    labels.append(sorted(set(uris.split())))
        return texts, labels

    started = time.perf_counter()
    train_texts, train_labels = read(paths["train"])
    test_texts, test_labels = read(paths["test"])
    binarizer = MultiLabelBinarizer().fit(train_labels)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    X = vectorizer.fit_transform(train_texts)
    model = OneVsRestClassifier(LinearSVC(), n_jobs=os.cpu_count()).fit(
        X, binarizer.transform(train_labels))
    train_s = time.perf_counter() - started
    margins = model.decision_function(vectorizer.transform(test_texts))
    y_true = binarizer.transform([[lab for lab in labels if lab in binarizer.classes_]
                                  for labels in test_labels])
    y_pred = margins > 0
    present = np.flatnonzero(y_true.any(0) | y_pred.any(0))
    return {"train_s": train_s, "metrics": {
        "p@1": float(y_true[np.arange(len(y_true)), margins.argmax(1)].mean()),
        "micro_f1": f1_score(y_true, y_pred, average="micro"),
        "macro_f1": f1_score(y_true, y_pred, average="macro", labels=present, zero_division=0)}}


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import dataset_arguments

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dataset_arguments(parser, ["reuters21578", "goemotions"], "foundation",
                      "where each run's bundle and train/eval logs go, under <dataset>/")
    parser.add_argument("--runs", type=int, default=3,
                        help="trainings and evaluations through the CLI, figures their "
                        "median (default: %(default)s)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.runs < 1:  # 0 failed after the work (a median or a minimum of nothing)
        parser.error(f"--runs must be 1 or more, not {args.runs}")
    from xmc import make_data_work_dir, provenance

    # every run reads the dataset (goemotions is converted again)
    work = make_data_work_dir(args.dataset, args.data_dir, args.work_dir / args.dataset,
                              data_needed=True)
    paths = prepare(args.dataset, args.data_dir, work)
    runs = [run_tagsmith(paths, work, run) for run in range(args.runs)]
    check = sklearn_check(runs[0]["bundle"], paths["test"], runs[0]["metrics"])
    keys = ["p@1", "p@3", "p@5", "ndcg@5", "psp@5", "micro_f1", "macro_f1", "samples_f1"]
    tagsmith = {"system": "tagsmith linear (CLI)", "dataset": args.dataset, "runs": args.runs,
                **{k: round(statistics.median(r["metrics"][k] for r in runs), 4) for k in keys},
                "n_docs": runs[0]["metrics"]["n_docs"],
                "train_wall_s": round(median_of(runs, "train_s"), 1),
                "train_peak_rss_mb": round(median_of(runs, "train_peak_rss_mb")),
                "eval_wall_s": round(median_of(runs, "eval_s"), 1),
                "sklearn_agrees": all(v["equal"] for v in check.values()),
                "sklearn_check": check}
    peer_run = run_sklearn_peer(paths)
    peer = {"system": "scikit-learn OvR LinearSVC (margin > 0)", "dataset": args.dataset,
            **{k: round(v, 4) for k, v in peer_run["metrics"].items()},
            "train_wall_s": round(peer_run["train_s"], 1)}
    ran = provenance(["numpy", "scipy", "scikit-learn"])
    for line in (tagsmith, peer):
        print(json.dumps({**line, **ran}))


if __name__ == "__main__":
    main()
