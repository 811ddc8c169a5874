"""Tune a tagsmith model family on a dataset's dev split, on the harness's cached features.

    python benchmarks/xmc_tune.py --dataset yso-finna-en --family tree \\
        --grid '{"C": [0.25, 0.5, 1.0, 2.0]}' --params '{"n_trees": 1}'

Uses the same features, splits and cache as ``benchmarks/xmc.py`` (built on first
use), fits ``--family`` once per point of the ``--grid`` (every combination of the
listed values, merged over ``--params``) on the training split and prints one JSON
line per point with P@1/3/5, nDCG@5, PSP@5 on dev, the fit time and the process's
peak RSS so far. On Reuters, whose dev split is a sample of the training documents,
those documents are left out of training here. Nothing is written to RESULTS.md:
the chosen values go into ``TUNED`` in ``xmc.py``, with the figures in a comment.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import xmc  # noqa: E402  (the harness: features, splits, metrics)


def grid_points(grid: dict) -> list[dict]:
    """Every combination of the grid's values.

    >>> grid_points({"a": [1, 2], "b": [3]})
    [{'a': 1, 'b': 3}, {'a': 2, 'b': 3}]
    """
    names = list(grid)
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(grid[name] for name in names))]


def check_points(parser: argparse.ArgumentParser, args) -> list[dict]:
    """Every point's parameters, each checked by making its model, before any work: bad
    JSON in --params or --grid was a JSONDecodeError traceback, and an unknown family or
    parameter was refused only after the features were computed."""
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.models import make_model

    parsed = {}
    for option, text in (("--params", args.params), ("--grid", args.grid)):
        try:
            parsed[option] = json.loads(text)
        except ValueError as error:
            parser.error(f"{option} is not JSON ({error}): {text}")
        if not isinstance(parsed[option], dict):
            parser.error(f"{option} must be a JSON object, not {text}")
    if bad := [name for name, values in parsed["--grid"].items()
               if not isinstance(values, list) or not values]:
        parser.error(f"--grid: the values of {', '.join(bad)} must be a non-empty JSON list")
    points = [{**parsed["--params"], **point} for point in grid_points(parsed["--grid"])]
    for params in points:
        try:
            make_model(args.family, **params)
        except InvalidParameterError as error:
            parser.error(f"--family {args.family} with {json.dumps(params)}: {error}")
    return points


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    xmc.dataset_arguments(parser, xmc.DATASETS, "xmc",
                          "the feature cache shared with benchmarks/xmc.py, under <dataset>/")
    parser.add_argument("--family", required=True,
                        help="the tagsmith model family tuned (tagsmith.models.make_model)")
    parser.add_argument("--params", default="{}",
                        help="JSON parameters shared by all points (default: %(default)s)")
    parser.add_argument("--grid", default="{}",
                        help="JSON {parameter: [values]}, every combination a point "
                        "(default: %(default)s, one point)")
    parser.add_argument("--features", choices=sorted(xmc.FEATURE_SETS),
                        help="override the dataset's feature set (default: the one set "
                        "for the dataset)")
    parser.add_argument("--label-features", action="store_true",
                        help="pass the featurized label names to fit (for models with "
                        "label_feature_weight > 0; default: off)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    points = check_points(parser, args)
    args.max_train_docs, args.slice = None, "first"
    args.work_dir = args.work_dir.resolve()
    # features cached in the work folder need no data
    work = xmc.make_data_work_dir(args.dataset, args.data_dir, args.work_dir / args.dataset)
    cache = xmc.prepare_features(args, work)

    from tagsmith.metrics import propensities
    from tagsmith.models import make_model

    X = sp.load_npz(cache / "X_train.npz").tocsr()
    Y = sp.load_npz(cache / "Y_train.npz").tocsr()
    X_dev = sp.load_npz(cache / "X_dev.npz").tocsr()
    Y_dev = sp.load_npz(cache / "Y_dev.npz").tocsr()
    if args.dataset == "reuters21578":  # dev is a seeded 10% sample of train: hold it out
        rows = np.sort(np.random.default_rng(0).choice(X.shape[0], size=max(1, X.shape[0] // 10),
                                                       replace=False))
        keep = np.setdiff1d(np.arange(X.shape[0]), rows)
        X, Y = X[keep], Y[keep]
    propensity = propensities(Y, A=0.55, B=1.5)
    fit_kwargs = {}
    if args.label_features:
        from xmc_tagsmith_runner import load_text_side

        from tagsmith.pipeline.train import label_texts

        space, featurizer = load_text_side(cache)
        fit_kwargs["label_features"] = featurizer.transform(label_texts(space))
    for params in points:
        model = make_model(args.family, **params)
        started = time.perf_counter()
        model.fit(X, Y, **fit_kwargs)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        topk = model.predict_topk(X_dev, xmc.K)
        predict_s = time.perf_counter() - started
        run = {"indices": topk.indices, "scores": topk.scores}
        line = {"dataset": args.dataset, "family": args.family, "params": params,
                **{k: round(v, 4) for k, v in xmc.score_run(run, Y_dev, propensity).items()},
                "fit_seconds": round(fit_s, 1),
                "dev_docs_per_second": round(X_dev.shape[0] / max(predict_s, 1e-9)),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
        print(json.dumps(line), flush=True)
        del model


if __name__ == "__main__":
    main()
