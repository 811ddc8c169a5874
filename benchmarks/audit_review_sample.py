"""Coverage of ``estimate-noise``'s intervals on a synthetic corpus with a habit.

One label is left off a share of another's documents (as Reuters-21578 leaves
``money-fx`` off ``dlr`` stories), and a few labels are added wrongly. The corpus is
audited once (kNN scores), then ``--seeds`` samples of ``--sample`` documents are drawn
(:func:`tagsmith.audit.sample.draw_review_sample`, seeds 0 to N-1), each reviewed by a
simulated reviewer who knows the injected truth (and adds the missing labels not shown,
or not with ``--shown-only``), and read back by
:func:`tagsmith.audit.sample.estimate_from_sample`. Prints, as JSON, the share of
samples whose 95% interval covers the true count of missing and of wrong labels, and the
true precision and recall of the audit's flagged candidates (of the samples that read
them), the mean estimate and interval, and the audit's bound beside them
(``bounds_withheld`` true where the audit withheld its bounds as not informative,
``bounds_note`` saying why). ``--flagged
M`` stratifies each sample as ``audit --review-sample-flagged M`` does (with
``--min-probability 0.2``: at 0.5 the audit of this corpus flags nothing). Needs no
dataset.

    PYTHONPATH=src python benchmarks/audit_review_sample.py --docs 2000 --sample 200 --seeds 50
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tagsmith.audit.review import write_review
from tagsmith.audit.sample import audit_bounds, draw_review_sample, estimate_from_sample
from tagsmith.pipeline.audit import AuditOptions, audit_corpus
from tagsmith.testing.habit import SPACE, habit_corpus


def review_as_truth(rows: list[dict], truth: np.ndarray, add_unshown: bool) -> list[dict]:
    """The sample's rows decided by the truth, and rows added for missing labels not
    shown (with ``add_unshown``)."""
    decided, shown = [], {}
    for row in rows:
        label, doc = SPACE.id_of(row["label_uri"]), row["doc"]
        true = bool(truth[doc, label])
        decided.append({**row, "decision": "accept" if (row["kind"] == "wrong") != true
                        else "reject"})
        shown.setdefault(doc, (row, set()))[1].add(label)
    if add_unshown:
        for doc, (first, labels) in shown.items():
            for label in np.flatnonzero(truth[doc]):
                if int(label) not in labels:
                    decided.append({**first, "decision": "accept", "kind": "missing",
                                    "action": "add", "label_uri": SPACE.uri_of(int(label)),
                                    "label_name": ""})
    return decided


def stratum(value: str) -> int:
    """An argparse type: a whole number from 2, as ``audit --review-sample-flagged`` (a
    stratum's variance needs two)."""
    number = int(value)
    if number < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (a stratum's variance needs "
                                         f"two), got {number}")
    return number


def share(value: str) -> float:
    """An argparse type: a number in [0, 1] (argparse names the option refused): a share
    of 1.5 or a probability of -1 ran as if it made sense."""
    number = float(value)
    if not 0 <= number <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {value}")
    return number


def probability(value: str) -> float:
    """An argparse type: a number in (0, 1], as the audit's ``min_probability``."""
    number = share(value)
    if number == 0:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import positive

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=positive, default=2000,
                        help="documents of the synthetic corpus (default: %(default)s)")
    parser.add_argument("--sample", type=positive, default=200,
                        help="documents per review sample (default: %(default)s)")
    parser.add_argument("--seeds", type=positive, default=50,
                        help="review samples drawn, seeds 0 to N-1 (default: %(default)s)")
    parser.add_argument("--share", type=share, default=0.5,
                        help="Share of label 0's documents left without label 1 "
                        "(default: %(default)s).")
    parser.add_argument("--shown-only", action="store_true",
                        help="The reviewer decides the rows shown and adds none "
                        "(default: off, adds the missing labels not shown too).")
    parser.add_argument("--min-probability", type=probability, default=0.5,
                        help="The audit's --min-probability (which candidates it flags; "
                        "default: %(default)s).")
    parser.add_argument("--flagged", type=stratum, default=None, metavar="M",
                        help="Stratify (audit --review-sample-flagged M): M documents among "
                        "those with a flagged candidate besides --sample among the others "
                        "(default: no stratification).")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.flagged is not None and args.sample < 2:  # refused by the draw, after the audit
        parser.error(f"--sample must be at least 2 with --flagged (a stratum's variance "
                     f"needs two), got {args.sample}")
    texts, truth, given = habit_corpus(args.docs, share=args.share)
    n_missing, n_wrong = int((truth & ~given).sum()), int((given & ~truth).sum())
    started = time.perf_counter()
    result = audit_corpus(texts, sp.csr_matrix(given), SPACE,
                          options=AuditOptions(scores="knn", near_duplicates=False,
                                               min_probability=args.min_probability))
    audited = time.perf_counter() - started
    # withheld bounds (not informative) marked so, as estimate-noise reads them: read as a
    # normal bound's, missing_above_bound said more than the audit claimed
    bounds = audit_bounds(result.report)
    if bounds is None:
        raise SystemExit("the audit reported no bounds")
    Y = sp.csr_matrix(given)
    covered = {"missing": 0, "wrong": 0}
    widths: dict[str, list] = {"missing": [], "wrong": []}
    counts: dict[str, list] = {"missing": [], "wrong": []}
    above_bound = 0
    truth_of = {"missing": n_missing, "wrong": n_wrong}
    # the flagged candidates' true precision and recall (all kinds together)
    where = np.flatnonzero(result.issues.flagged)
    flagged_true = int(sum(truth[d, label] != given[d, label] for d, label in zip(
        result.issues.doc[where].tolist(), result.issues.label[where].tolist(), strict=True)))
    truth_of["precision"] = flagged_true / len(where) if len(where) else None
    truth_of["recall"] = flagged_true / (n_missing + n_wrong)
    for kind in ("precision", "recall"):
        covered[kind], widths[kind], counts[kind] = 0, [], []
    read = {"precision": 0, "recall": 0}
    flagged_pairs = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sample.csv"
        for seed in range(args.seeds):
            rows, record = draw_review_sample(result.issues, texts, Y, SPACE, args.sample,
                                              seed=seed, topk=result.scores.topk,
                                              flagged_docs=args.flagged)
            write_review(review_as_truth(rows, truth, not args.shown_only), path)
            estimate = estimate_from_sample(path, record, bounds=bounds)
            above_bound += bool(estimate["bounds"]["missing_above_bound"])
            for kind in ("missing", "wrong"):
                low, high = estimate[kind]["corpus_interval"]
                covered[kind] += low <= truth_of[kind] <= high
                widths[kind].append(high - low)
                counts[kind].append(estimate[kind]["corpus_count"])
            flagged_pairs.append(estimate["audit"]["all"]["precision"]["n"])
            for kind in ("precision", "recall"):
                measured = estimate["audit"]["all"][kind]
                if measured["share"] is None or truth_of[kind] is None:
                    continue
                read[kind] += 1
                low, high = measured["interval"]
                covered[kind] += low <= truth_of[kind] <= high
                widths[kind].append(high - low)
                counts[kind].append(measured["share"])
    print(json.dumps({
        "n_docs": args.docs, "n_sample": args.sample, "n_seeds": args.seeds,
        "n_sample_flagged": args.flagged, "min_probability": args.min_probability,
        "n_docs_with_flagged": len(set(result.issues.doc[where].tolist())),
        "n_flagged_pairs": len(where), "mean_flagged_pairs_in_sample":
        round(float(np.mean(flagged_pairs)), 1),
        "seeds_without_flagged_pair": sum(1 for n in flagged_pairs if n == 0),
        "true_precision": None if truth_of["precision"] is None
        else round(truth_of["precision"], 4),
        "true_recall": round(truth_of["recall"], 4),
        "seeds_reading": read,
        "reviewer": "decides the rows shown" if args.shown_only else
        "decides the rows shown and adds the missing labels not shown",
        "true_missing": n_missing, "true_wrong": n_wrong, "n_given": int(given.sum()),
        "bound_est_missing": bounds["est_missing"], "bound_est_wrong": bounds["est_wrong"],
        # true: the audit withheld its bounds as not informative (bounds_note says why);
        # seeds_missing_interval_above_bound then compares with a bound it did not claim
        "bounds_withheld": bool(bounds.get("withheld")),
        "bounds_note": result.report["noise"].get("bounds_note"),
        "coverage": {kind: f"{covered[kind]}/{read.get(kind, args.seeds)}"
                     for kind in covered},
        "mean_estimate": {kind: round(float(np.mean(counts[kind])), 3) if counts[kind]
                          else None for kind in counts},
        "mean_interval_width": {kind: round(float(np.mean(widths[kind])), 3)
                                if widths[kind] else None for kind in widths},
        "seeds_missing_interval_above_bound": above_bound,
        "audit_seconds": round(audited, 1)}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
