"""Reading a corpus without a vocabulary: one pass (label space derived while reading)
against the two passes of deriving the label space first, then reading the data.

    python benchmarks/read_timing.py [--dataset yso-finna-en] [--data-dir DIR] [--runs 3]

Alternates the two ways ``--runs`` times on the training split, checks that they give
the same label space and label matrix, and prints one JSON line with the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN = {"yso-finna-en": "clean-train.tsv.gz", "reuters21578": "modapte-train.jsonl.gz"}


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="yso-finna-en", choices=sorted(TRAIN),
                        help="whose training split is read (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared"
                        / "datasets",
                        help="folder holding the datasets' folders (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed runs of each way, figures their median (default: "
                        "%(default)s)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    for option in ("--runs",):  # 0: a traceback, some after the work
        if (value := getattr(args, option[2:].replace("-", "_"))) < 1:
            parser.error(f"{option} must be 1 or more, not {value}")
    from tagsmith.pipeline.io import read_labelled, read_labelled_corpora, resolve_label_space

    path = args.data_dir / args.dataset / TRAIN[args.dataset]
    if not path.exists():
        parser.error(f"no training file {path} (see --data-dir; "
                     "../shared/datasets/README.md lists the datasets and their files)")
    one, two = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        space, (data,) = read_labelled_corpora([path], None)
        one.append(time.perf_counter() - started)
        started = time.perf_counter()
        derived = resolve_label_space([path], None)
        again = read_labelled(path, derived)
        two.append(time.perf_counter() - started)
        if derived != space or (again.Y != data.Y).nnz:
            raise SystemExit("the two ways disagree")
    print(json.dumps({
        "dataset": args.dataset, "n_docs": len(data.texts), "n_labels": len(space),
        "one_pass_seconds": [round(s, 2) for s in one],
        "two_pass_seconds": [round(s, 2) for s in two],
        "median_ratio": round(statistics.median(one) / statistics.median(two), 3),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python "
                   f"{platform.python_version()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d")}))


if __name__ == "__main__":
    main()
