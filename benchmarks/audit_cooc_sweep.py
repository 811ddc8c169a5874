"""Sweep the audit's co-occurrence weight on a corpus benchmarks/audit.py prepared.

    python benchmarks/audit_cooc_sweep.py --data W/yso-finna-en/data-daeff1a376 \\
        --weights 0,0.1,0.3,1,3

``--data`` is the data folder ``benchmarks/audit.py`` writes under its work directory
(noisy corpus, vocabulary, injected truth). The leave-one-out kNN scores are computed once,
leaving each document's exact copies out as the audit does;
each weight re-ranks them with the label co-occurrence blend
(:func:`tagsmith.audit.scores.blend_cooccurrence`) and runs the issue detection with the
audit's defaults. Per weight it prints one JSON line: the label-free criteria the weight
is chosen by (P@1 and recall@k of the scores against the *given* labels) and, for the
record, the detection figures against the injected truth (PR-AUC, precision / recall, the
removed labels within the top N / 2N / 4N of the ranking, N = injected errors). Stop 30
chose the default 0.3 by P@1 against the given labels (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def given_figures(topk, Y: sp.csr_matrix) -> dict:
    """P@1 and recall@k of ``topk`` against the given labels ``Y``."""
    n = Y.shape[0]
    valid = topk.indices >= 0
    rows = np.repeat(np.arange(n), topk.k).reshape(n, topk.k)
    found = sp.csr_matrix((np.ones(int(valid.sum()), bool), (rows[valid], topk.indices[valid])),
                          shape=Y.shape)
    hits = Y.multiply(found)
    top1 = topk.indices[:, 0]
    has = top1 >= 0
    p1 = np.asarray(Y[np.flatnonzero(has), top1[has]]).ravel().sum() / n
    return {"p@1_vs_given": round(float(p1), 4),
            f"recall@{topk.k}_vs_given": round(hits.nnz / max(Y.nnz, 1), 4)}


def sweep(texts, Y: sp.csr_matrix, weights: list[float], options=None, doc_ids=None):
    """``(weight, topk, issues, seconds)`` per weight: the audit's leave-one-out kNN scores of
    ``texts`` (the audit's features and exact-duplicate groups, so each document's copies
    neither vote for it nor share its calibration fold), blended with each co-occurrence
    weight and put through the issue detection with the audit's defaults. At the audit's
    weight its issues are those of ``tagsmith audit --scores knn`` (``options``, an
    ``AuditOptions``: its features, ``k``, kNN parameters, seed and the issue detection's
    options; the defaults when None; ``doc_ids``, the documents' ids, as the audit's
    order by content reads them). Computed in the audit's content order
    (:func:`tagsmith.pipeline.audit.content_order`), given back in the file's."""
    from tagsmith.audit import duplicates as dup
    from tagsmith.audit.detect import find_label_issues
    from tagsmith.audit.scores import blend_cooccurrence, knn_scores
    from tagsmith.pipeline.audit import (
        AuditOptions,
        _features,
        content_order,
        inverse_order,
        issue_options,
        issues_in_file_order,
    )
    from tagsmith.pipeline.crossfit import default_k

    options = AuditOptions() if options is None else options
    started = time.perf_counter()
    # in the audit's content order, as it scores and detects (put back in the file's after)
    hashes = dup.text_hashes(texts)
    order = content_order(hashes, texts, Y, doc_ids)
    inverse = inverse_order(order)
    # the hashes taken in that order, not computed again
    texts, Y, hashes = [texts[i] for i in order], sp.csr_matrix(Y)[order], hashes[order]
    _, X = _features(texts, None, options)
    groups = dup.exact_groups(hashes)  # the audit's own rule
    k = default_k(Y.shape[1]) if options.k is None else options.k  # as the audit's _scores
    knn = knn_scores(X, Y, k=k, params=options.knn_params, groups=groups).topk
    print(f"features and kNN scores: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    for weight in weights:
        started = time.perf_counter()
        topk = blend_cooccurrence(knn, Y, weight)
        # the audit's call (pipeline.audit.audit_corpus), not the defaults: a sweep of
        # options with other folds or thresholds reproduces the audit it stands for
        issues = find_label_issues(Y, topk, X=X, **issue_options(options), groups=groups,
                                   blank=hashes == dup.EMPTY_HASH)
        issues = issues_in_file_order(issues, order, inverse)
        yield weight, topk[inverse], issues, time.perf_counter() - started


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True,
                        help="A data folder benchmarks/audit.py prepared (data-<key>).")
    parser.add_argument("--weights", default="0,0.1,0.3,1,3",
                        help="co-occurrence weights to compare, comma-separated numbers >= 0 "
                        "(default: %(default)s)")
    return parser


def main() -> None:
    from audit import load_truth, score_audit

    from tagsmith.audit.detect import MISSING
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.audit import read_audit_corpus

    parser = build_parser()
    args = parser.parse_args()
    missing = [name for name in ("vocab.tsv", "train-noisy.tsv.gz", "truth.npz")
               if not (args.data / name).is_file()]
    if missing:
        parser.error(f"--data {args.data}: no {', '.join(missing)} (give a data-<key> folder "
                     "benchmarks/audit.py prepared)")
    try:
        weights = [float(w) for w in args.weights.split(",")]
    except ValueError:
        parser.error(f"--weights: comma-separated numbers, not {args.weights!r}")
    if any(not np.isfinite(w) or w < 0 for w in weights):
        parser.error(f"--weights: finite numbers >= 0, not {args.weights!r}")
    space = load_vocabulary(args.data / "vocab.tsv")
    data = read_audit_corpus(args.data / "train-noisy.tsv.gz", space)
    Y = sp.csr_matrix(data.Y != 0, dtype=bool)
    Y.sort_indices()
    removed, added = load_truth(args.data)
    n_injected = removed.nnz + added.nnz
    for weight, topk, issues, seconds in sweep(data.texts, Y, weights, doc_ids=data.doc_ids):
        arrays = {"doc": issues.doc, "label": issues.label, "kind": issues.kind,
                  "flagged": issues.flagged}
        figures, hits = score_audit(arrays, removed, added)
        missing_hits = hits & (issues.kind == MISSING)
        within = {f"removed_in_top_{m}n": int(missing_hits[:m * n_injected].sum())
                  for m in (1, 2, 4)}
        print(json.dumps({"weight": weight, **given_figures(topk, Y), **figures, **within,
                          "seconds": round(seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
