"""Time the kNN's leave-group-out scores against plain leave-one-out, for comparing commits.

The audit's kNN scores leave a document's copies out of its neighbours and out of the
label counts its score-0 tail is ordered by (``KNNModel.leave_one_out_topk(groups=)``).
A group's left-out labels are every label its copies carry, so a large group over many
labels is the costly case. This builds ``--single`` random documents and ``--copies``
copies of one more, each with a random one of ``--labels`` labels, and prints one JSON
line with the median seconds of ``--runs`` runs of both paths (after one untimed call of each,
which compiles the numba kernels) and their ratio:

    python benchmarks/knn_group_timing.py [--single 2000] [--copies 8000] [--labels 8000]
        [--k 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import scipy.sparse as sp

from tagsmith.models.knn import KNNModel


def problem(n_single: int, n_copies: int, n_labels: int):
    rng = np.random.default_rng(0)
    X = sp.vstack([sp.random(n_single, 500, density=0.02, random_state=1, format="csr",
                             dtype=np.float32)]
                  + [sp.random(1, 500, density=0.05, random_state=2, format="csr",
                               dtype=np.float32)] * n_copies, format="csr")
    n = X.shape[0]
    Y = sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), rng.integers(0, n_labels, n))),
                      shape=(n, n_labels))
    groups = np.r_[np.arange(n_single), np.full(n_copies, n_single)]
    return KNNModel(n_neighbors=20, n_jobs=1).fit(X, Y), X, groups


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import positive

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # each at least 1: --runs 0 ended in statistics' "no median for empty data"
    parser.add_argument("--single", type=positive, default=2000,
                        help="random documents without copies (default: %(default)s)")
    parser.add_argument("--copies", type=positive, default=8000,
                        help="copies of one more document, one group (default: %(default)s)")
    parser.add_argument("--labels", type=positive, default=8000,
                        help="labels the documents draw theirs from (default: %(default)s)")
    parser.add_argument("--k", type=positive, default=10,
                        help="neighbours' top-k asked for (default: %(default)s)")
    parser.add_argument("--runs", type=positive, default=5,
                        help="timed runs of both paths, figures their median (default: "
                        "%(default)s)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    model, X, groups = problem(args.single, args.copies, args.labels)
    model.leave_one_out_topk(X, args.k, groups=groups)  # compile the kernels first
    timings: dict[str, list[float]] = {"plain": [], "grouped": []}
    # one untimed call of each path first: the first call compiles the numba kernels, which
    # the plain path (timed first) took alone, so at --runs 1 a loaded machine printed
    # grouped_vs_plain 0.0
    for kw in ({}, {"groups": groups}):
        model.leave_one_out_topk(X, args.k, **kw)
    for _ in range(args.runs):
        for name, kw in (("plain", {}), ("grouped", {"groups": groups})):
            started = time.perf_counter()
            model.leave_one_out_topk(X, args.k, **kw)
            timings[name].append(time.perf_counter() - started)
    plain, grouped = (statistics.median(timings[n]) for n in ("plain", "grouped"))
    print(json.dumps({"single": args.single, "copies": args.copies, "labels": args.labels,
                      "k": args.k, "runs": args.runs, "plain_seconds": round(plain, 3),
                      "grouped_seconds": round(grouped, 3),
                      "grouped_vs_plain": float(f"{grouped / plain:.3g}")}))


if __name__ == "__main__":
    main()
