"""Run cleanlab's multi-label label-issue finder on scores exchanged as .npz files.

    <cleanlab venv>/bin/python benchmarks/audit_cleanlab_runner.py IN.npz OUT.npz

Runs in cleanlab's own virtual environment (created by ``benchmarks/audit.py`` under
``benchmarks/work/audit/venvs/cleanlab``); imports only numpy and cleanlab, never
tagsmith. Input: ``pred_probs`` (N x K float, out-of-sample probabilities) and the
given labels as CSR ``labels_indptr`` / ``labels_indices``. Output:

* ``issue_mask`` (N x K bool): ``find_multilabel_issues_per_class`` (the per-class
  result that ``find_label_issues`` ORs into its per-document mask), default
  ``filter_by="prune_by_noise_rate"``;
* ``pair_quality`` (N x K float): ``get_label_quality_scores_per_class``
  (self-confidence: low = the annotation of class k for example i looks wrong);
* ``doc_mask`` (N bool): ``find_label_issues``; ``doc_quality`` (N float):
  ``get_label_quality_scores`` (self-confidence, exponential moving average);
* ``seconds`` and ``version``.
"""

import sys
import time

import numpy as np


def main(in_path: str, out_path: str) -> None:
    import cleanlab
    from cleanlab.multilabel_classification import filter as ml_filter
    from cleanlab.multilabel_classification import rank as ml_rank

    data = np.load(in_path, allow_pickle=False)
    pred_probs = np.asarray(data["pred_probs"], dtype=np.float64)
    indptr, indices = data["labels_indptr"], data["labels_indices"]
    labels = [indices[indptr[i]:indptr[i + 1]].tolist() for i in range(len(indptr) - 1)]
    started = time.perf_counter()
    issue_mask = ml_filter.find_multilabel_issues_per_class(labels, pred_probs)
    pair_quality = np.asarray(ml_rank.get_label_quality_scores_per_class(labels, pred_probs))
    if pair_quality.shape != pred_probs.shape:  # a list of K per-class arrays
        pair_quality = pair_quality.T
    doc_mask = ml_filter.find_label_issues(labels, pred_probs)
    doc_quality = ml_rank.get_label_quality_scores(labels, pred_probs)
    seconds = time.perf_counter() - started
    np.savez(out_path, issue_mask=np.asarray(issue_mask, dtype=bool),
             pair_quality=pair_quality.astype(np.float64), doc_mask=np.asarray(doc_mask, bool),
             doc_quality=np.asarray(doc_quality, np.float64), seconds=np.array(seconds),
             version=np.array(cleanlab.__version__))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
