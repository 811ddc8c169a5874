"""Whether training's out-of-fold scores depend on the order of the documents (a
diagnostic, not a benchmark).

Trains ``train_classifier`` with ``crossfit_folds`` on the first ``--docs`` documents of
the bundled GoEmotions training file, as given and shuffled (``--shuffle-seed``), and
compares the cross-fitted scores each document gets (the bundle's ``crossfit.npz``).
It prints one line: the share with the same top label and the largest difference of a
label's score; it writes no file. With
``--calibration-fraction`` the documents set aside differ where the share is drawn over
positions: the figures cover the documents cross-fitted in both runs.

    python benchmarks/crossfit_order.py --docs 1500 --model linear
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GOEMOTIONS = ROOT / "examples" / "goemotions"


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1500,
                        help="the first DOCS documents of the training file "
                             "(default %(default)s)")
    parser.add_argument("--model", default="linear",
                        help="the model family cross-fitted (default %(default)s)")
    parser.add_argument("--folds", type=int, default=5,
                        help="crossfit_folds (default %(default)s)")
    parser.add_argument("--calibration-fraction", type=float, default=0.0,
                        help="the share set aside for calibration before the "
                             "cross-fitting (default %(default)s: none)")
    parser.add_argument("--dev-fraction", type=float, default=0.0,
                        help="the share held out to tune the thresholds on (default "
                             "%(default)s: none); the fold models learn the features "
                             "of the model fitted on the rest without --no-refit's refit")
    parser.add_argument("--no-refit", action="store_true",
                        help="no refit on all the documents after the --dev-fraction "
                             "share's tuning (train --no-refit; default: refit)")
    parser.add_argument("--seed", type=int, default=0,
                        help="training's seed (default %(default)s)")
    parser.add_argument("--shuffle-seed", type=int, default=1,
                        help="seeds the shuffled order of the documents "
                             "(default %(default)s)")
    return parser


def _scores_by_document(clf, documents: np.ndarray, n_docs: int,
                        set_aside: bool) -> np.ndarray:
    """Each document's cross-fitted score of each label in its top-k (NaN for the
    documents not cross-fitted: the calibration share); ``documents``: the document in
    each row of the corpus the classifier was trained on; ``set_aside``: a calibration
    share was (its rows are ``clf.heldout.rows``)."""
    topk = clf.crossfit.topk
    fitted = np.arange(len(documents))
    if set_aside:
        fitted = np.setdiff1d(fitted, clf.heldout.rows)
    dense = np.full((n_docs, topk.n_labels), np.nan)
    dense[documents[fitted]] = 0.0
    for j in range(topk.indices.shape[1]):
        ok = topk.indices[:, j] >= 0
        dense[documents[fitted][ok], topk.indices[ok, j]] = topk.scores[ok, j]
    return dense


def main(argv: list[str] | None = None) -> None:
    """Train as given and shuffled; print the two figures."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.no_refit and args.dev_fraction <= 0:
        # as train refuses it: nothing held out, nothing refitted; the line would say
        # "no refit" of a run that is the refit's
        parser.error("--no-refit needs --dev-fraction above 0: with nothing held out "
                     "the model is fitted once on all the documents")
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.io import read_labelled
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    space = load_vocabulary(GOEMOTIONS / "vocab.tsv")
    data = read_labelled(GOEMOTIONS / "train.tsv.gz", space)
    n = min(args.docs, len(data.texts))
    texts, Y = list(data.texts[:n]), data.Y[:n]
    options = dict(featurizer_params={"char_ngrams": None, "min_df": 1}, model=args.model,
                   model_params={"n_jobs": 1}, dev_fraction=args.dev_fraction,
                   refit=not args.no_refit, crossfit_folds=args.folds,
                   calibration_fraction=args.calibration_fraction, seed=args.seed)
    perm = np.random.default_rng(args.shuffle_seed).permutation(n)
    started = time.perf_counter()
    runs = []
    for rows in (np.arange(n), perm):
        clf = train_classifier([texts[i] for i in rows], Y[rows], space,
                               options=TrainOptions(**options))
        runs.append(_scores_by_document(clf, rows, n, args.calibration_fraction > 0))
    given, shuffled = runs
    both = ~np.isnan(given[:, 0]) & ~np.isnan(shuffled[:, 0])
    same = (given[both].argmax(axis=1) == shuffled[both].argmax(axis=1)).mean()
    apart = np.abs(given[both] - shuffled[both]).max()
    print(f"{n:,} documents, {args.model}, {args.folds} folds, calibration fraction "
          f"{args.calibration_fraction:g}, dev fraction {args.dev_fraction:g}"
          f"{', no refit' if args.no_refit else ''}: {int(both.sum()):,} cross-fitted in "
          f"both orders; "
          f"same top label {same:.1%}; scores at most {apart:.2g} apart "
          f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
