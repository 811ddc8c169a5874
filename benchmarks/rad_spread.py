"""How far the robust selection game spreads a batch (a diagnostic, not a benchmark).

Trains the active-distillation student (tagsmith ``linear`` on TF-IDF) on ``b`` random
pool documents, takes its margin uncertainties on the rest of the pool, and solves the
robust game (METHODS.md section 2) for the next batch of ``b`` with ``k`` = the
teacher's error rate x ``b``, as ``tagsmith.pipeline.distill.active_distill`` does.
Prints the gains' quantiles and how many documents the game gives a non-zero inclusion
probability: far more than ``b`` means the batch is close to random sampling of them.

    python benchmarks/rad_spread.py --dataset reuters21578 --error-rate 0.146
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="reuters21578",
                        choices=["goemotions", "reuters21578"],
                        help="whose training pool the student learns from (default: "
                        "%(default)s)")
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" /
                        "datasets",
                        help="folder holding the datasets' folders (default: %(default)s)")
    parser.add_argument("--error-rate", type=float, default=0.146,
                        help="The teacher's document error rate (default: %(default)s, "
                        "Reuters' with --hardness disagree).")
    parser.add_argument("--batches", default="125,250,500",
                        help="batch sizes b, comma-separated (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random first batch (default: %(default)s)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    from xmc import positive_ints

    # read after the corpus was featurized before: a ValueError traceback
    batches = positive_ints(parser, "--batches", args.batches)
    if not 0 <= args.error_rate <= 1:
        parser.error(f"--error-rate must be a number in [0, 1], not {args.error_rate:g}")
    if args.seed < 0:  # numpy refused it after the corpus was featurized (a traceback)
        parser.error(f"--seed must be 0 or more, not {args.seed}")

    import llm  # the benchmark's loaders

    from tagsmith.features.tfidf import TfidfFeaturizer
    from tagsmith.labeling.selection import rad_probabilities, uncertainty_gains
    from tagsmith.models import make_model

    _, (texts, Y), _, _ = llm.load(args.dataset, args.data_dir,
                                   HERE / "work" / "llm" / args.dataset, True)
    if too_many := [b for b in batches if b >= len(texts)]:  # numpy's ValueError traceback
        parser.error(f"--batches: {too_many[0]} is not below the pool's {len(texts):,} "
                     "documents")
    X = TfidfFeaturizer().fit_transform(texts)
    rng = np.random.default_rng(args.seed)
    for b in batches:
        chosen = rng.choice(len(texts), b, replace=False)
        model = make_model("linear").fit(X[chosen], Y[chosen])
        rest = np.setdiff1d(np.arange(len(texts)), chosen)
        gains = uncertainty_gains(model.predict_topk(X[rest], 10))
        p = rad_probabilities(gains, b, args.error_rate * b)
        print(f"batch {b}: gains at 10/50/90/99%: "
              f"{np.quantile(gains, [0.1, 0.5, 0.9, 0.99]).round(3).tolist()}; "
              f"{int((p > 1e-9).sum())} documents with p > 0, largest p {p.max():.3f}")


if __name__ == "__main__":
    main()
