"""What scoring a calibrated classifier's top ``max(k, calibration k)`` costs against its
raw top ``k`` (what ``TextClassifier.predict_topk`` did before it re-ranked the wider
candidate list by probability).

    python benchmarks/calibrated_predict_timing.py [--data-dir DIR] [--train-docs 200000]
        [--test-docs 5000] [--k 10] [--runs 3] [--bundle DIR]

Trains (once, into ``--bundle``) a calibrated one-tree yso-finna-en model on the first
``--train-docs`` training documents, 10% of them set aside for calibration; then times
both ways on the first ``--test-docs`` test documents, alternating, and prints one JSON
line: medians, their ratio, and the share of documents whose best label is the same.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from itertools import islice
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared"
                        / "datasets",
                        help="folder holding yso-finna-en's folder (default: %(default)s)")
    parser.add_argument("--train-docs", type=int, default=200_000,
                        help="first training documents the model is trained on (default: "
                        "%(default)s)")
    parser.add_argument("--test-docs", type=int, default=5000,
                        help="first test documents both ways are timed on (default: "
                        "%(default)s)")
    parser.add_argument("--k", type=int, default=10,
                        help="labels per document asked for (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed runs of each way, figures their median (default: "
                        "%(default)s)")
    parser.add_argument("--bundle", type=Path,
                        default=HERE / "work" / "calibrated_predict" / "bundle",
                        help="the model bundle, trained into it when it does not exist "
                        "(default: %(default)s)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    # 0: a traceback, some after the work
    for option in ("--train-docs", "--test-docs", "--k", "--runs"):
        if (value := getattr(args, option[2:].replace("-", "_"))) < 1:
            parser.error(f"{option} must be 1 or more, not {value}")
    from xmc import dataset_dir

    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.exceptions import TagsmithError
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.confidence import ConfidenceOptions
    from tagsmith.pipeline.io import read_labelled
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    base = dataset_dir("yso-finna-en", args.data_dir)
    if not args.bundle.exists():
        space = load_vocabulary(base / "yso-en-labels.tsv.gz")
        data = read_labelled(base / "clean-train.tsv.gz", space, unknown_labels="skip")
        n = args.train_docs
        options = TrainOptions(model="tree", model_params={"n_trees": 1},
                               featurizer_params={"word_ngrams": [1, 2], "char_ngrams": None,
                                                  "min_df": 2},
                               calibration_fraction=0.1, confidence=ConfidenceOptions())
        try:  # too few documents to calibrate on was a DataError traceback
            classifier = train_classifier(data.texts[:n], data.Y[:n], space, options=options)
        except TagsmithError as error:
            parser.exit(1, f"--train-docs {n}: {error}\n")
        classifier.save(args.bundle)
    try:  # a folder that is no bundle was a BundleError traceback
        clf = TextClassifier.load(args.bundle)
    except TagsmithError as error:
        parser.exit(1, f"--bundle: {error}\n")
    with gzip.open(base / "clean-test.tsv.gz", "rt", encoding="utf-8") as handle:
        texts = [line.split("\t", 1)[0] for line in islice(handle, args.test_docs)]
    wide, raw = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        now = clf.predict_topk(texts, args.k)
        wide.append(time.perf_counter() - started)
        started = time.perf_counter()
        before = clf.to_probabilities(clf.model.predict_topk(clf.featurizer.transform(texts),
                                                             args.k))
        raw.append(time.perf_counter() - started)
    print(json.dumps({
        "calibration_k": int(clf.calibrator.k), "k": args.k, "n_docs": len(texts),
        "wide_seconds": [round(s, 2) for s in wide], "raw_seconds": [round(s, 2) for s in raw],
        "median_ratio": round(statistics.median(wide) / statistics.median(raw), 3),
        "same_best_label": round(float((now.indices[:, 0] == before.indices[:, 0]).mean()),
                                 4)}))


if __name__ == "__main__":
    main()
