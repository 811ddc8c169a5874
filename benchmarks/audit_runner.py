"""One measured step of benchmarks/audit.py, run as its own process (peak RSS per step).

    python benchmarks/audit_runner.py train --corpus C --vocab V --dev D --test T \\
        --model tree --params '{"n_trees": 3}' --features '{}' --out result.json
    python benchmarks/audit_runner.py audit --corpus C --vocab V --split dev=D --split test=T \\
        --options '{"scores": "knn"}' --seed 0 --out-dir DIR [-v]

``train`` fits a classifier like ``tagsmith train --dev`` (featurizer + model, thresholds
tuned on dev), times it without the data reading, and writes the P@1/P@5 of its top-10
predictions on the (clean) test split. ``audit`` runs the label audit like ``tagsmith
audit`` (same function, same outputs: report.json, report.html with plots, review.csv,
labels.csv), times it without the data reading, and adds ``issues.npz`` (every candidate
with its kind, probability and flag, and the out-of-sample top-k) for the harness. Its
``--seed`` is the audit's (``"seed"`` of ``--options``, which it may not contradict).
``-v`` logs tagsmith's debug messages to stderr (the audit's step times among them).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np


def json_object(value: str) -> dict:
    """An option's JSON object (``--params``, ``--features``, ``--options``): a
    JSONDecodeError traceback before, after the imports and the data reading."""
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error}): {value}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f"not a JSON object: {value}")
    return parsed


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` only once it is fully written: a step dying
    mid-write left a cut-off result for benchmarks/audit.py to read."""
    from tagsmith.data.textio import atomic_text_writer

    with atomic_text_writer(path) as out:
        out.write(text)


def train(args) -> None:
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.metrics import precision_at_k
    from tagsmith.pipeline.io import read_labelled
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    space = load_vocabulary(args.vocab)
    data = read_labelled(args.corpus, space)
    dev = read_labelled(args.dev, space)
    test = read_labelled(args.test, space)
    options = TrainOptions(model=args.model, model_params=args.params,
                           featurizer_params=args.features, seed=args.seed)
    started = time.perf_counter()
    classifier = train_classifier(data.texts, data.Y, space, dev_texts=dev.texts, dev_Y=dev.Y,
                                  options=options)
    seconds = time.perf_counter() - started
    topk = classifier.predict_topk(test.texts, 10)
    result = {"train_seconds": round(seconds, 2), "n_docs": len(data.texts),
              "n_assignments": int(data.Y.nnz),
              "p1": round(precision_at_k(test.Y, topk, 1), 5),
              "p5": round(precision_at_k(test.Y, topk, 5), 5)}
    write_atomically(Path(args.out), json.dumps(result))
    print(json.dumps(result))


def audit(args) -> None:
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus, read_audit_corpus

    given = args.options.get("seed")
    if args.seed is not None and given is not None and given != args.seed:
        # --seed was accepted and ignored: the audit ran on the seed of --options (or 0)
        raise SystemExit(f"audit_runner.py audit: --seed {args.seed} and --options' "
                         f"\"seed\" {given!r} contradict each other: give the seed once")
    seeded = args.options if args.seed is None else {**args.options, "seed": args.seed}
    try:  # an unknown field was a TypeError traceback after the data reading
        options = AuditOptions(**seeded)
    except TypeError as error:
        raise SystemExit(f"--options: {error}") from None
    space = load_vocabulary(args.vocab)
    data = read_audit_corpus(args.corpus, space)
    splits = {}
    for pair in args.split:
        name, _, path = pair.partition("=")
        splits[name] = read_audit_corpus(path, space).texts
    started = time.perf_counter()
    result = audit_corpus(data.texts, data.Y, space, options=options, splits=splits,
                          unknown_labels=data.unknown_labels, lines=data.lines,
                          doc_ids=data.doc_ids, source=args.corpus)
    out = Path(args.out_dir)
    result.write(out)
    seconds = time.perf_counter() - started
    issues = result.issues
    np.savez(out / "issues.npz", doc=issues.doc, label=issues.label, kind=issues.kind,
             probability=issues.probability, flagged=issues.flagged,
             doc_quality=issues.doc_quality, topk_indices=result.scores.topk.indices,
             topk_scores=result.scores.topk.scores)
    summary = {"audit_seconds": round(seconds, 2), "timing": result.report["timing"],
               "scores": result.report["scores"], "noise": {
                   k: v for k, v in result.report["noise"].items()
                   if k in ("est_wrong", "est_missing", "wrong_rate", "missing_rate",
                            "n_flagged_wrong", "n_flagged_missing", "bounds",
                            "withheld_bounds", "bounds_note", "method")},
               "duplicates": {k: v for k, v in result.report["duplicates"].items()
                              if k.startswith("n_")},
               "leakage": {name: {k: v for k, v in leak.items() if k != "examples"}
                           for name, leak in result.report["leakage"].items()}}
    write_atomically(out / "summary.json", json.dumps(summary, indent=1))
    print(json.dumps(summary))


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    t = sub.add_parser("train", help="fit a classifier and score it on the test split")
    a = sub.add_parser("audit", help="run the label audit and write its outputs")
    for p, what in ((t, "train on"), (a, "audit")):
        p.add_argument("--corpus", required=True,
                       help=f"the labelled corpus (TSV) to {what}")
        p.add_argument("--vocab", required=True, help="the label vocabulary (vocab.tsv)")
    t.add_argument("--seed", type=int, default=0,
                   help="the training seed (default: %(default)s)")
    # accepted and ignored before: the audit's seed was "seed" in --options alone
    a.add_argument("--seed", type=int, default=None,
                   help="the audit's seed (its folds and sampling: AuditOptions' \"seed\", "
                   "which --options may also give, not a different one; default: --options' "
                   "\"seed\", else the audit's own, 0)")
    for p in (t, a):
        p.add_argument("-v", "--verbose", action="store_true",
                       help="log tagsmith's debug messages to stderr, the audit's step times "
                       "among them (default: warnings alone)")
    t.add_argument("--dev", required=True,
                   help="the dev corpus the thresholds are tuned on, as tagsmith train --dev")
    t.add_argument("--test", required=True,
                   help="the (clean) test corpus P@1 and P@5 are measured on")
    t.add_argument("--model", required=True, help="the model family (tree, linear, knn ...)")
    t.add_argument("--params", type=json_object, default={},
                   help="JSON model parameters (default: %(default)s, the family's own)")
    t.add_argument("--features", type=json_object, default={},
                   help="JSON featurizer parameters (default: %(default)s, the "
                   "featurizer's own)")
    t.add_argument("--out", required=True, help="the result JSON written (P@1, P@5, seconds)")
    a.add_argument("--split", action="append", default=[], metavar="NAME=PATH",
                   help="another split checked for leakage from the corpus, repeatable "
                   "(default: none)")
    a.add_argument("--options", type=json_object, default={},
                   help="JSON AuditOptions (default: %(default)s, the audit's defaults)")
    a.add_argument("--out-dir", required=True,
                   help="folder the report, review queue, labels.csv and issues.npz go to")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    from tagsmith.exceptions import TagsmithError

    if args.verbose:  # without it, tagsmith's warnings alone reach stderr (logging's own)
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stderr)
        logging.getLogger("tagsmith").setLevel(logging.DEBUG)
    try:
        {"train": train, "audit": audit}[args.step](args)
    except TagsmithError as error:  # a missing or bad file or parameter: a traceback before
        raise SystemExit(f"audit_runner.py {args.step}: {error}") from None


if __name__ == "__main__":
    main()
