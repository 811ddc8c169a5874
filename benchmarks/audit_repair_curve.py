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
spelt as ``audit.py``'s ``--top-n`` (one parser): numbers, ``injected``, ``<k>xinjected``
(k times the number of injected errors) or ``flagged``. Trainings go under
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


def parse_budgets(spec: str, n_injected: int, n_flagged: int) -> list[tuple[str, int]]:
    """``"6xinjected,1000"`` -> ``[("6xinjected", 6 * n_injected), ("1000", 1000)]``:
    ``audit.py``'s own ``--top-n`` parser (:func:`audit.parse_top_n`), and a ValueError
    for a budget of 0 candidates (no injected error, or no flagged candidate), which
    trained the unrepaired corpus as a repair."""
    from audit import parse_top_n, top_n_size

    out: list[tuple[str, int]] = []
    for name in parse_top_n(spec):
        size = top_n_size(name, n_injected, n_flagged)
        if size == 0:
            why = "the audit flagged no candidate" if name == "flagged" else \
                "the run injected no errors"
            raise ValueError(f"--top-n: {name!r} is a budget of 0 candidates, as {why}; give "
                             "a number of candidates")
        out.append((name, size))
    return out


def recovered(repaired: float, noisy: float, clean: float) -> float | None:
    lost = clean - noisy
    return round((repaired - noisy) / lost, 3) if lost > 0 else None


def read_result(path: Path, datasets) -> tuple[dict, list[float], list[float]]:
    """A finished run's ``result.json`` and its clean and noisy P@1 per training seed; a
    ValueError naming the file and what it lacks (a KeyError or JSONDecodeError traceback
    before, some only after the audit's ranking had been read)."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    if not isinstance(result, dict):
        raise ValueError(f"{path}: not a JSON object")
    if result.get("dataset") not in datasets:
        raise ValueError(f"{path}: the dataset {result.get('dataset')!r} is none of "
                         f"{', '.join(datasets)}")
    if result.get("review_kind", "all") != "all":  # this script reviews every candidate
        raise ValueError(f"{path}: a run with --review-kind {result['review_kind']}; only "
                         "runs that review all candidates can be extended")
    seeds = result.get("train_seeds", 1)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"{path}: train_seeds is {seeds!r}, not a count of 1 or more")
    runs = []
    for kind in ("clean", "noisy"):
        if f"p1_{kind}_runs" not in result and f"p1_{kind}" not in result:
            raise ValueError(f"{path}: no p1_{kind} (nor p1_{kind}_runs)")
        values = result.get(f"p1_{kind}_runs", [result.get(f"p1_{kind}")])
        if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ValueError(f"{path}: the {kind} P@1 is {values!r}, not numbers")
        runs.append(values)
    clean_runs, noisy_runs = runs
    if len(clean_runs) != seeds or len(noisy_runs) != seeds:
        from tagsmith._plural import plural_s

        raise ValueError(f"{path}: {seeds} training seed{plural_s(seeds)} but "
                         f"{len(clean_runs)} clean and {len(noisy_runs)} noisy P@1 values")
    return result, clean_runs, noisy_runs


def first_training_seed(command: str) -> int:
    """The finished run's ``--seed`` (audit.py's default 0 where its command has none).

    >>> first_training_seed("python benchmarks/audit.py --dataset goemotions --seed -2")
    -2
    """
    found = re.search(r"--seed[= ](-?[0-9]+)\b", command)  # a negative seed read as 0 before
    return int(found.group(1)) if found else 0


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True,
                        help="A data folder of a finished benchmarks/audit.py run (data-<key>).")
    parser.add_argument("--top-n", required=True,
                        help="Review budgets, comma-separated, as audit.py's --top-n: "
                        "injected, <k>xinjected, flagged or numbers.")
    return parser


def main() -> None:
    from audit import (
        TRAIN,
        _write_corpus,
        load_truth,
        parse_top_n,
        repaired_labels,
        run_train,
        score_audit,
    )

    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.io import read_labelled

    parser = build_parser()
    args = parser.parse_args()
    try:  # audit.py's --top-n spellings, checked before any file is read
        names = parse_top_n(args.top_n)
    except ValueError as exc:
        parser.error(str(exc))
    runs = args.data / "runs"
    needed = [args.data / "vocab.tsv", args.data / "train-noisy.tsv.gz",
              args.data / "Y_noisy.npz", args.data / "truth.npz", runs / "result.json",
              runs / "audit" / "issues.npz"]
    missing = [str(p.relative_to(args.data)) for p in needed if not p.is_file()]
    if missing:
        parser.error(f"--data {args.data}: no {', '.join(missing)} (give the data-<key> "
                     "folder of a finished benchmarks/audit.py run)")
    try:
        result, clean_runs, noisy_runs = read_result(runs / "result.json", sorted(TRAIN))
    except ValueError as exc:
        parser.error(str(exc))
    removed, added = load_truth(args.data)
    n_injected = removed.nnz + added.nnz
    issues_file = runs / "audit" / "issues.npz"
    n_flagged = int(np.load(issues_file)["flagged"].sum()) if "flagged" in names else 0
    try:
        budgets = parse_budgets(",".join(names), n_injected, n_flagged)
    except ValueError as exc:
        parser.error(str(exc))
    seeds = result.get("train_seeds", 1)
    clean, noisy = float(np.mean(clean_runs)), float(np.mean(noisy_runs))

    issues = dict(np.load(issues_file))
    _, hits = score_audit(issues, removed, added)
    Y_noisy = sp.load_npz(args.data / "Y_noisy.npz").tocsr()
    space = load_vocabulary(args.data / "vocab.tsv")
    texts = read_labelled(args.data / "train-noisy.tsv.gz", space).texts
    # run_train reads the model, seeds and first seed from these, as audit.py's arguments
    train_args = argparse.Namespace(dataset=result["dataset"], train_seeds=seeds,
                                    seed=first_training_seed(
                                        str((result.get("run") or {}).get("command", ""))))
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
