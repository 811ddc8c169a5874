"""Extend the label audit's repair curve to larger review budgets, reusing a finished run.

    python benchmarks/audit_repair_curve.py --data W/yso-finna-en/data-daeff1a376 \\
        --top-n 6xinjected,8xinjected

``--data`` is the data folder ``benchmarks/audit.py`` writes under its work directory, after
a finished run: its ``runs/result.json`` (the clean and noisy trainings' P@1 per training
seed) and ``runs/audit/issues.npz`` (the audit's ranking) are read, not recomputed. For each
budget N the simulated reviewer reads the audit's top N candidates and accepts the injected
errors among them (``audit.repaired_labels``, as the benchmark does); the repaired corpus is
trained with the same model and the same training seeds as the finished run, and the
fraction of the lost P@1 recovered is reported per seed and on the seeds' means. Budgets are
numbers or ``<k>xinjected`` (k times the number of injected errors). Trainings go under
``runs/curve/``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def parse_budgets(spec: str, n_injected: int) -> list[tuple[str, int]]:
    """``"6xinjected,1000"`` -> ``[("6xinjected", 6 * n_injected), ("1000", 1000)]``."""
    out = []
    for part in spec.split(","):
        part = part.strip()
        multiple = re.fullmatch(r"(\d+)xinjected", part)
        if multiple and int(multiple.group(1)) > 0:
            out.append((part, int(multiple.group(1)) * n_injected))
        elif part.isdigit() and int(part) > 0:
            out.append((part, int(part)))
        else:
            raise ValueError(f"--top-n: {part!r} is neither a positive number nor "
                             "'<k>xinjected'")
    return out


def recovered(repaired: float, noisy: float, clean: float) -> float | None:
    lost = clean - noisy
    return round((repaired - noisy) / lost, 3) if lost > 0 else None


def main() -> None:
    from audit import _write_corpus, load_truth, repaired_labels, run_train, score_audit

    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.io import read_labelled

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="A data folder of a finished benchmarks/audit.py run (data-<key>).")
    parser.add_argument("--top-n", required=True,
                        help="Review budgets, comma-separated: numbers or <k>xinjected.")
    args = parser.parse_args()
    runs = args.data / "runs"
    needed = [args.data / "vocab.tsv", args.data / "train-noisy.tsv.gz",
              args.data / "Y_noisy.npz", args.data / "truth.npz", runs / "result.json",
              runs / "audit" / "issues.npz"]
    missing = [str(p.relative_to(args.data)) for p in needed if not p.is_file()]
    if missing:
        parser.error(f"--data {args.data}: no {', '.join(missing)} (give the data-<key> "
                     "folder of a finished benchmarks/audit.py run)")
    result = json.loads((runs / "result.json").read_text(encoding="utf-8"))
    removed, added = load_truth(args.data)
    n_injected = removed.nnz + added.nnz
    try:
        budgets = parse_budgets(args.top_n, n_injected)
    except ValueError as exc:
        parser.error(str(exc))
    seeds = int(result.get("train_seeds", 1))
    clean_runs = result.get("p1_clean_runs", [result["p1_clean"]])
    noisy_runs = result.get("p1_noisy_runs", [result["p1_noisy"]])
    if len(clean_runs) != seeds or len(noisy_runs) != seeds:
        parser.error(f"{runs / 'result.json'}: {seeds} training seeds but "
                     f"{len(clean_runs)} clean and {len(noisy_runs)} noisy P@1 values")
    clean, noisy = float(np.mean(clean_runs)), float(np.mean(noisy_runs))

    issues = dict(np.load(runs / "audit" / "issues.npz"))
    _, hits = score_audit(issues, removed, added)
    Y_noisy = sp.load_npz(args.data / "Y_noisy.npz").tocsr()
    space = load_vocabulary(args.data / "vocab.tsv")
    texts = read_labelled(args.data / "train-noisy.tsv.gz", space).texts
    # run_train reads the model, seeds and first seed from these, as audit.py's arguments
    first_seed = re.search(r"--seed[= ](\d+)", result.get("run", {}).get("command", ""))
    train_args = argparse.Namespace(dataset=result["dataset"], train_seeds=seeds,
                                    seed=int(first_seed.group(1)) if first_seed else 0)
    curve = runs / "curve"
    curve.mkdir(exist_ok=True)
    out: dict = {"dataset": result["dataset"], "data": str(args.data), "n_injected": n_injected,
                 "candidates": int(len(hits)), "train_seeds": seeds,
                 "p1_clean_runs": clean_runs, "p1_noisy_runs": noisy_runs, "budgets": {}}
    for name, top_n in budgets:
        Y_repaired, acceptance = repaired_labels(Y_noisy, issues, hits, top_n)
        corpus = curve / f"train-repaired-{name}.tsv.gz"
        _write_corpus(corpus, texts, Y_repaired, space)
        trained = run_train(f"repaired-{name}", corpus, args.data, curve, train_args)
        p1_runs = trained.get("p1_runs", [trained["p1"]])
        out["budgets"][name] = {
            **acceptance, "p1_runs": p1_runs, "p1": trained["p1"],
            "recovered_per_seed": [recovered(r, n, c) for r, n, c
                                   in zip(p1_runs, noisy_runs, clean_runs, strict=True)],
            "recovered_fraction": recovered(float(np.mean(p1_runs)), noisy, clean),
            "train_seconds": trained["train_seconds"]}
        print(json.dumps({name: out["budgets"][name]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
