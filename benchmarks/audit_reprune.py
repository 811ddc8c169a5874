"""Re-prune the wrong flags of finished ``audit.py`` runs under other per-label budgets.

The audit flags, per label, at most confident learning's estimated count of wrong
labels (step 6 of :mod:`tagsmith.audit.detect`). On small corpora that count is
inflated; this script asks what the flags would have been with the noise-rate
bounds' count (``bounds``: the mixture bound's wrong rate times the label's given
documents), the smaller of the two (``min``), or no budget at all (``prob_only``:
every wrong candidate of probability 0.5 or more), scored against the planted truth.
The ranking (and so ``wrong_pr_auc``) is the same under every budget. It reads each
run's ``runs/audit/issues.npz``, ``labels.csv`` and ``report.json`` and the run's
``truth.npz``; nothing is recomputed but the flags. Prints one JSON object a run.

It reproduces step 6 only (``cl`` is the audit's own flags there). A run whose flags
were changed or reordered after step 6 is refused, with a line naming it on stderr
and exit status 1, not re-pruned into wrong figures: one audited with
``band_budget_below`` (step 6b), a single-label corpus's moves (``single_label``
pairing), broader-code moves, the given labels' confidences blended in
(``label_confidence``), ``copies_majority`` or the one-label order of the wrong rows
(its ``report.json``'s ``noise.method`` records each). ``audit.py``'s runs with
default ``--audit-options`` on GoEmotions and Reuters-21578 are none of these::

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


#: ``noise.method`` entries of a run flagged or ordered after step 6, and what did it
AFTER_STEP_6 = {
    "band_budget": "band_budget_below (step 6b: the wrong flags of rare labels by band)",
    "single_label": "single-label moves (each flagged row's companion added)",
    "broader_moves": "broader-code moves (each flagged row's companion added)",
    "label_confidence": "the given labels' confidences blended in",
    "copies": "copies_majority (copies' flags added)",
    "one_label_wrong_order": "the one-label order of the wrong rows",
}


def why_refused(report: dict) -> str | None:
    """Why a run's flags cannot be re-pruned here (None where they can): its
    ``noise.method`` records a step after step 6 that flagged or reordered rows, which
    this script does not redo (its ``cl`` would not be the audit's flags, and every
    budget's figures would be off by what that step did).

    >>> why_refused({"noise": {"method": {"band_budget_below": 0, "single_label": False,
    ...                                   "broader_moves": False}}}) is None
    True
    >>> print(why_refused({"noise": {"method": {"band_budget_below": 30,
    ...                                         "band_budget": {"n_labels": 4}}}}))
    ... # doctest: +NORMALIZE_WHITESPACE
    audited with band_budget_below (step 6b: the wrong flags of rare labels by band):
    this script redoes step 6 only
    """
    method = (report.get("noise") or {}).get("method") or {}
    done = [what for key, what in AFTER_STEP_6.items()
            if method.get(key) not in (None, False)]
    if method.get("band_budget_below") and AFTER_STEP_6["band_budget"] not in done:
        done.insert(0, AFTER_STEP_6["band_budget"])
    return f"audited with {'; '.join(done)}: this script redoes step 6 only" if done \
        else None


def reprune(data_dir: Path) -> dict:
    """The wrong side's flagged count, precision and recall under each budget; a
    ``ValueError`` for a run flagged after step 6 (:func:`why_refused`)."""
    audit_dir = data_dir / "runs" / "audit"
    report = json.loads((audit_dir / "report.json").read_text(encoding="utf-8"))
    why = why_refused(report)
    if why is not None:
        raise ValueError(why)
    with np.load(audit_dir / "issues.npz") as z:
        issues = {key: z[key] for key in z.files}
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
    refused = 0
    for data_dir in build_parser().parse_args().runs:
        why = why_skipped(data_dir)
        if why is not None:
            print(f"skipped {data_dir}: {why}", file=sys.stderr)
            continue
        try:
            out = reprune(data_dir)
        except ValueError as error:
            print(f"refused {data_dir}: {error}", file=sys.stderr)
            refused += 1
            continue
        print(json.dumps(out))
    if refused:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
