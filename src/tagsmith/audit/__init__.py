"""Label audits: find missing and wrong labels, and report on a collection's health.

* :mod:`tagsmith.audit.scores`: out-of-sample scores (leave-one-out nearest neighbours,
  nearly free at any scale; K-fold cross-fitting; a bundle's stored scores);
* :mod:`tagsmith.audit.detect`: issue detection from those sparse
  :class:`~tagsmith.topk.TopK` scores and the given labels (confident learning per
  label, noise rates with back-off to frequency bands, pruning, posterior error
  probabilities, a per-document quality score), with
  :mod:`tagsmith.audit.calibrate` (scores to probabilities per label or band),
  :mod:`tagsmith.audit.evidence` (label-centroid and co-occurrence evidence for any
  pair) and :mod:`tagsmith.audit.stacking` (their combination);
* :mod:`tagsmith.audit.health`, :mod:`tagsmith.audit.duplicates`: the data health
  report (label statistics, duplicates and conflicts, leakage between splits);
* :mod:`tagsmith.audit.report`: the report as JSON and as a self-contained HTML page;
* :mod:`tagsmith.audit.review`: the review queue (CSV/JSONL) and applying accepted
  corrections to a new corpus file;
* :mod:`tagsmith.audit.sample`: a random sample of documents for exhaustive review, and
  the noise estimates with intervals its decisions give;
* :mod:`tagsmith.audit.simulate`: seeded label noise, to measure an audit.

The whole audit as one call is :func:`tagsmith.pipeline.audit.audit_corpus`.
"""

#: folds of documents the audit's calibration is cross-fitted over (1: in-sample; see
#: :func:`tagsmith.audit.calibrate.calibrate_scores`), and the most it takes; here, free
#: of imports, so that the CLI can show them without loading numpy
CALIBRATION_FOLDS = 2
MAX_CALIBRATION_FOLDS = 100
#: weight of the label co-occurrence blended into the leave-one-out kNN scores (see
#: :func:`tagsmith.audit.scores.blend_cooccurrence`; yso-finna-en: given-label recall@50
#: 0.445 -> 0.525, audit PR-AUC against injected noise 0.1985 -> 0.2052)
COOCCURRENCE_WEIGHT = 0.3
#: the weights ``cooccurrence="auto"`` (``--cooccurrence auto``) tries: the kNN top-k is
#: taken once, blended with each, and the weight whose blend has the highest P@1 against
#: the corpus's given labels (the report's ``p@1_vs_given``) is kept, ties the smaller
#: (:func:`tagsmith.audit.scores.choose_cooccurrence`); the grid of the hand-picked
#: default (yso-finna-en, benchmarks/RESULTS.md stop 30: P@1 vs given 0.2935 / 0.2948 /
#: 0.3028 / 0.2978 / 0.2418)
COOCCURRENCE_GRID = (0.0, 0.1, 0.3, 1.0, 3.0)
#: every spelling of a review's decision that :mod:`tagsmith.audit.review` honours
#: (its ``ACCEPT`` and ``REJECT``; case is ignored), for messages and help, here so that
#: the CLI can show it without loading numpy: ``TRUE``/``FALSE`` (a spreadsheet's
#: boolean cell) and ``accepted``/``rejected`` were honoured but named nowhere
DECISION_VALUES = ("accept or reject (also accepted/rejected, yes/no, y/n, true/false, 1/0, "
                   "1.0/0.0, or x, \u2713 or \u2714 to accept)")
#: the key of a label output's line (``scores`` beside ``labels``) listing the labels a
#: person added in :func:`tagsmith.audit.review.apply_review` (or an LLM with
#: ``decide_from`` whose file has no ``scores``: a corpus of the user's own), each scoring
#: 1.0, a decision, not an LLM's stated certainty: ``audit --label-confidence`` reads their
#: confidence as unknown (a label a ``decide_from`` label output added keeps that
#: answer's score, unmarked: an LLM's stated confidence)
#: (:func:`tagsmith.pipeline.audit.read_audit_corpus`); a file written before it has
#: none, its added labels read as a stated 1.0
#: (here, free of imports: that reader, run on every corpus line, imported it from
#: :mod:`tagsmith.audit.review` there each time)
REVIEW_MARK = "added_by_review"
#: the key listing the labels of such a line a person kept in
#: :func:`tagsmith.audit.review.apply_review` (a *wrong* row rejected): their scores stay
#: the LLM's, but ``audit --label-confidence`` reads their confidence as unknown, a
#: person's decision: read as the LLM's low score, a label a reviewer had just confirmed
#: was among the next audit's least confident again. A file written before it has none
KEPT_MARK = "kept_by_review"
