"""Time the shared linear solver on cached yso-finna-en features, for comparing two commits.

One label tree on the first ``--docs`` training documents and ``linear`` on the 200 most
frequent labels of half of them, both on ``--threads`` threads; prints one JSON line
with the seconds and the tree's P@1 on the first 10,000 test documents. Run it with
each commit's own virtual environment, alternating, one at a time:

    python benchmarks/solver_timing.py [--features-dir DIR] [--docs 200000]

``--features-dir`` defaults to the feature cache that
``python benchmarks/xmc.py --dataset yso-finna-en`` writes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features-dir", type=Path, default=None,
                        help="a feature cache of yso-finna-en (X_train.npz ...; default: "
                        "the one benchmarks/xmc.py wrote under benchmarks/work/xmc)")
    parser.add_argument("--docs", type=int, default=200_000,
                        help="first training documents fitted on (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads of both fits (default: %(default)s)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    for option in ("--docs", "--threads"):  # 0: a traceback, some after the work
        if (value := getattr(args, option[2:].replace("-", "_"))) < 1:
            parser.error(f"{option} must be 1 or more, not {value}")
    import tagsmith
    from tagsmith.models.linear import LinearOVR
    from tagsmith.models.tree import LabelTree

    folder = args.features_dir
    if folder is None:
        cache = HERE / "work" / "xmc" / "yso-finna-en"
        found = sorted(cache.glob("features-word-*/X_train.npz"))
        if not found:
            raise SystemExit(f"no cached features under {cache}: run "
                             "`python benchmarks/xmc.py --dataset yso-finna-en` first")
        folder = found[0].parent
    names = ("X_train.npz", "Y_train.npz", "X_test.npz", "Y_test.npz")
    if missing := [str(folder / name) for name in names if not (folder / name).is_file()]:
        parser.error(f"--features-dir: missing {', '.join(missing)} (give a features-word-* "
                     "folder that `python benchmarks/xmc.py --dataset yso-finna-en` wrote)")
    X = sp.load_npz(folder / "X_train.npz").tocsr()[:args.docs]
    Y = sp.load_npz(folder / "Y_train.npz").tocsr()[:args.docs]
    X_test = sp.load_npz(folder / "X_test.npz").tocsr()[:10_000]
    Y_test = sp.load_npz(folder / "Y_test.npz").tocsr()[:10_000]
    out: dict[str, object] = {"tagsmith": tagsmith.__file__, "docs": X.shape[0]}
    LabelTree(n_jobs=args.threads, max_iter=5).fit(X[:2000], Y[:2000])  # compile the kernels
    started = time.perf_counter()
    tree = LabelTree(n_jobs=args.threads, max_iter=5).fit(X, Y)
    out["tree_seconds"] = round(time.perf_counter() - started, 2)
    top = tree.predict_topk(X_test, 1).indices[:, 0]
    out["tree_p@1"] = round(float(Y_test[np.arange(len(top)), top].mean()), 4)
    half = args.docs // 2
    frequent = np.argsort(-np.asarray((Y > 0).sum(axis=0)).ravel())[:200]
    started = time.perf_counter()
    LinearOVR(n_jobs=args.threads).fit(X[:half], Y[:half][:, frequent])
    out["linear_seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
