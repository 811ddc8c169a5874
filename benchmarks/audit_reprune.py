"""Re-prune the wrong flags of finished ``audit.py`` runs under other per-label budgets.

The audit flags, per label, at most confident learning's estimated count of wrong
labels (step 6 of :mod:`tagsmith.audit.detect`). On small corpora that count is
inflated; this script asks what the flags would have been with the noise-rate
bounds' count (``bounds``: the mixture bound's wrong rate times the label's given
documents), the smaller of the two (``min``), or no budget at all (``prob_only``:
every wrong candidate of probability 0.5 or more), scored against the planted truth.
The ranking (and so ``wrong_pr_auc``) is the same under every budget. It reads each
run's ``runs/audit/issues.npz``, ``labels.csv`` and ``report.json`` and the run's
``truth.npz``; nothing is recomputed but the flags. Prints one JSON object a run::

    python benchmarks/audit.py --dataset goemotions --data-dir D --work-dir W \\
        --max-train-docs 500 --seed 0 --skip train,cleanlab
    PYTHONPATH=src python benchmarks/audit_reprune.py W/goemotions/data-*/
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit import load_truth, score_audit  # noqa: E402

from tagsmith.audit.detect import _within_budget  # noqa: E402

#: the audit's default ``min_probability``
MIN_PROBABILITY = 0.5


def reprune(data_dir: Path) -> dict:
    """The wrong side's flagged count, precision and recall under each budget."""
    audit_dir = data_dir / "runs" / "audit"
    with np.load(audit_dir / "issues.npz") as z:
        issues = {key: z[key] for key in z.files}
    report = json.loads((audit_dir / "report.json").read_text(encoding="utf-8"))
    n_labels = report["corpus"]["n_labels_in_space"]
    n_given, cl_wrong, cl_missing = (np.zeros(n_labels) for _ in range(3))
    with open(audit_dir / "labels.csv", encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows):
            i = int(row["id"])
            n_given[i] = float(row["n_given"])
            cl_wrong[i], cl_missing[i] = float(row["est_wrong"]), float(row["est_missing"])
    bounds = report["noise"].get("bounds") or {}
    bound = (bounds.get("by_mixture") or bounds).get("wrong_rate")
    removed, added = load_truth(data_dir)
    likely = issues["probability"] >= MIN_PROBABILITY
    budgets = {"cl": cl_wrong, "prob_only": np.full(n_labels, float(len(likely)))}
    if bound is not None:
        budgets["bounds"] = bound * n_given
        budgets["min"] = np.minimum(cl_wrong, bound * n_given)
    out: dict = {"run": str(data_dir), "wrong_rate_bound": bound}
    for name, wrong_budget in budgets.items():
        flagged = likely & _within_budget(issues["label"], issues["kind"],
                                          np.stack([cl_missing, wrong_budget]))
        scored, _ = score_audit({**issues, "flagged": flagged}, removed, added)
        out[name] = {key: scored[key] for key in ("n_flagged_wrong", "wrong_precision",
                                                   "wrong_recall")}
        out["wrong_pr_auc"] = scored["wrong_pr_auc"]
    # labels.csv rounds the counts to 3 places: a count at .5 may round the other way
    out["cl_as_audited"] = bool(np.array_equal(
        likely & _within_budget(issues["label"], issues["kind"],
                                np.stack([cl_missing, cl_wrong])), issues["flagged"]))
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path,
                        help="audit.py's data-<key> folders (no default)")
    return parser


#: the files :func:`reprune` reads, relative to a run's data folder
RUN_FILES = ("truth.npz", "runs/audit/issues.npz", "runs/audit/labels.csv",
             "runs/audit/report.json")


def why_skipped(data_dir: Path) -> str | None:
    """Why ``data_dir`` is no finished audit run (None where it is one): the README's
    ``data-*/`` glob also matches an interrupted ``prepare``'s ``.tmp`` folder and a
    folder whose audit was not run (``--skip audit``), which ended the script in a
    FileNotFoundError partway through the list."""
    if data_dir.name.endswith(".tmp"):
        return "an interrupted prepare's folder (.tmp)"
    lacking = [name for name in RUN_FILES if not (data_dir / name).is_file()]
    return f"no {', '.join(lacking)} (audit not run?)" if lacking else None


def main() -> None:
    for data_dir in build_parser().parse_args().runs:
        why = why_skipped(data_dir)
        if why is not None:
            print(f"skipped {data_dir}: {why}", file=sys.stderr)
            continue
        print(json.dumps(reprune(data_dir)))


if __name__ == "__main__":
    main()
