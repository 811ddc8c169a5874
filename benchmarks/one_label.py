"""A multi-label corpus coded with one subject a document, audited as a user would.

Reuters-21578's ModApte training stories are kept to their first listed topic (as a
library codes a document's main subject alone), the true label sets set aside. The
script runs, through the command line, ``audit`` as it is (``--single-label auto``) and
``audit --single-label no --min-probability 0.05 --review-sample N``; it scores each
review queue against the true sets (its wrong rows on true labels, its missing rows'
precision and recall at N rows), decides the sample as a reviewer who knows the true
sets would (a given label's row accepted where the label is not true, another's where
it is, and a row added for each true label left off and not shown, of the labels in
the corpus's label space), and runs ``estimate-noise`` on it. Prints each command's
output and the figures as JSON. ``--replace-share 0.02`` gives 2% of the stories another
topic at random and runs the second audit alone (no sample), scoring its wrong rows
against the topics so given and its missing rows against the true sets.

    PYTHONPATH=src python benchmarks/one_label.py --out /tmp/one-label \\
        --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

#: the repository's folder; the datasets are in ../shared/datasets by default
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def tagsmith(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tagsmith", "-q", *args],
                          capture_output=True, text=True)
    print("$ tagsmith", " ".join(args), "\n" + done.stdout, flush=True)
    if done.returncode:
        # check=True's CalledProcessError named the exit status, not tagsmith's error
        # (captured, never printed)
        raise SystemExit(f"tagsmith {args[0]} failed (exit {done.returncode}):\n"
                         + done.stderr.rstrip()[-4000:])
    return done.stdout


def replace_topics(docs: list[dict], share: float, seed: int = 0) -> dict[str, str]:
    """Give about ``share`` of ``docs`` (each kept to its first topic already) another
    topic of theirs at random, in place (a cataloguer's slip, a wrong label to find):
    returns each changed story's id and the topic it was given. A share of 0 changes
    nothing."""
    import random

    rng = random.Random(seed)
    topics = sorted({doc["labels"][0] for doc in docs if doc["labels"]})
    replaced = {}
    for doc in docs:
        if share and doc["labels"] and rng.random() < share:
            doc["labels"] = [rng.choice([t for t in topics if t != doc["labels"][0]])]
            replaced[str(doc["id"])] = doc["labels"][0]
    return replaced


def wrong_figures(review: Path, replaced: dict[str, str]) -> dict:
    """The review queue's wrong rows scored against the topics ``replace_topics`` gave:
    how many of the first N rows name one (precision), and of all of them (recall)."""
    with open(review, newline="", encoding="utf-8") as f:
        hits = [replaced.get(r["doc_id"]) == r["label_uri"]
                for r in csv.DictReader(f) if r["kind"] == "wrong"]
    return {"n_replaced": len(replaced), "n_wrong_rows": len(hits),
            "at": {n: {"replaced": sum(hits[:n]), "precision": round(sum(hits[:n]) / n, 3),
                       "recall": round(sum(hits[:n]) / len(replaced), 3) if replaced else None}
                   for n in sorted({25, 50, 100, 200, len(hits)}) if 0 < n <= len(hits)}}


def replaced_figures(review: Path, replaced: dict[str, str], docs: list[dict],
                     kept: list[dict]) -> dict:
    """The --replace-share audit's queue scored: its wrong rows against the topics
    ``replace_topics`` gave (:func:`wrong_figures`), and its missing rows (``missing``,
    as :func:`queue_figures`) against the true sets of ``docs``, ``kept`` the stories as
    audited: a replaced story's first topic, taken from it, is a true label left off, as
    are every story's other true topics (the missing side went unmeasured)."""
    truth = {str(d["id"]): set(d["labels"]) for d in docs}
    left_off = sum(len(truth[str(d["id"])] - set(d["labels"])) for d in kept)
    return {**wrong_figures(review, replaced),
            "missing": queue_figures(review, truth, left_off)}


def queue_figures(review: Path, truth: dict[str, set[str]], n_left_off: int) -> dict:
    with open(review, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = [r for r in rows if r["kind"] == "missing"]
    wrong = [r for r in rows if r["kind"] == "wrong"]
    # a row of a document the corpus lacks (a review from another run in the same
    # --out) raised a bare KeyError naming its doc_id alone
    for r in rows:
        if r["kind"] in ("missing", "wrong") and r["doc_id"] not in truth:
            raise SystemExit(f"{review}: doc_id {r['doc_id']!r} is not in the corpus "
                             "(a review from another run?)")
    at = {}
    for n in sorted({25, 50, 100, 200, len(missing)}):
        if n > len(missing) or not n:
            continue
        hit = sum(r["label_uri"] in truth[r["doc_id"]] for r in missing[:n])
        at[n] = {"true": hit, "precision": round(hit / n, 3),
                 "recall": round(hit / n_left_off, 4)}
    return {"n_rows": len(rows), "n_missing_rows": len(missing), "n_wrong_rows": len(wrong),
            "n_wrong_rows_on_true_labels": sum(r["label_uri"] in truth[r["doc_id"]]
                                               for r in wrong),
            "missing_at": at}


def decide_sample(sample: Path, truth: dict[str, set[str]], given: dict[str, set[str]],
                  space: set[str]) -> int:
    """Decide every row of ``sample`` by the true sets, adding the left-off labels not
    shown; returns how many rows were added."""
    with open(sample, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:  # a header alone (an empty sample): nothing to decide; rows[0] failed
        return 0
    fields = list(rows[0])
    shown: dict[str, tuple[dict, set[str]]] = {}
    for row in rows:
        true = truth[row["doc_id"]]
        applies = row["label_uri"] in true
        row["decision"] = ("accept" if not applies else "reject") if row["kind"] == "wrong" \
            else ("accept" if applies else "reject")
        shown.setdefault(row["doc_id"], (row, set()))[1].add(row["label_uri"])
    added = []
    for doc, (first, seen) in shown.items():
        for label in sorted((truth[doc] - given[doc] - seen) & space):
            row = dict.fromkeys(fields, "")
            row.update(decision="accept", kind="missing", action="add", label_uri=label,
                       doc=first["doc"], doc_key=first["doc_key"], doc_id=doc,
                       line=first["line"])
            added.append(row)
    from tagsmith.data.textio import atomic_text_writer

    # in place of the audit's sample.csv: written whole or not at all (a Ctrl-C or a
    # bad row mid-write left the sample cut off)
    with atomic_text_writer(sample) as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows + added)
    return len(added)


def write_first_topic(corpus: Path, docs: list[dict]) -> None:
    """``docs`` each kept to its first listed topic, written to ``corpus`` whole or not
    at all: written in place, a story that failed (or a Ctrl-C) left a corpus cut off
    that the audits of a later run, started after a look at the folder, could read."""
    from tagsmith.data.textio import atomic_text_writer

    with atomic_text_writer(corpus) as f:
        for doc in docs:
            f.write(json.dumps({**doc, "labels": doc["labels"][:1]}) + "\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import positive

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True,
                        help="working folder: the one-label corpus and both audits' folders")
    # 0 or -5, or more than the corpus's stories, failed in the second audit only, after
    # the first one's five minutes
    parser.add_argument("--sample", type=positive, default=300,
                        help="the second audit's --review-sample N (default: %(default)s)")
    parser.add_argument("--replace-share", type=float, default=0.0,
                        help="give this share of the stories another topic at random "
                        "(seed 0) and score the --single-label no audit's wrong rows "
                        "against them; the first audit is skipped (default: %(default)s, "
                        "none: the figures of record)")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "datasets",
                        help="folder holding reuters21578/ (default: %(default)s)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.out.exists() and not args.out.is_dir():
        # failed with a FileExistsError traceback, after the whole dataset was read
        parser.error(f"--out {args.out} is a file, not a folder")
    source = args.data_dir / "reuters21578" / "modapte-train.jsonl.gz"
    if not source.is_file():
        raise SystemExit(f"reuters21578: missing {source} (see --data-dir; "
                         "../shared/datasets/README.md lists the datasets and their files)")
    with gzip.open(source, "rt", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    if args.sample > len(docs):
        parser.error(f"--sample {args.sample:,} is more than the {len(docs):,} stories of "
                     f"{source}: a sample draws each story once")
    if not 0 <= args.replace_share < 1:
        parser.error(f"--replace-share {args.replace_share:g} is not a share below 1")
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = args.out / "first-topic.jsonl"
    if args.replace_share:
        kept = [{**doc, "labels": doc["labels"][:1]} for doc in docs]
        replaced = replace_topics(kept, args.replace_share)
        corpus = args.out / "replaced.jsonl"
        write_first_topic(corpus, kept)
        tagsmith("audit", str(corpus), "-o", str(args.out / "replaced"), "--no-html",
                 "--single-label", "no", "--min-probability", "0.05")
        print(json.dumps(replaced_figures(args.out / "replaced" / "review.csv", replaced,
                                          docs, kept), indent=1))
        return
    write_first_topic(corpus, docs)
    truth = {str(d["id"]): set(d["labels"]) for d in docs}
    given = {str(d["id"]): set(d["labels"][:1]) for d in docs}
    space = set().union(*given.values())
    left_off = sum(len(truth[d] - given[d]) for d in truth)
    figures: dict = {"n_docs": len(docs), "n_true_labels": sum(map(len, truth.values())),
                     "n_left_off": left_off,
                     "n_left_off_in_space": sum(len((truth[d] - given[d]) & space)
                                                for d in truth),
                     "n_labels_in_space": len(space)}
    tagsmith("audit", str(corpus), "-o", str(args.out / "auto"), "--no-html")
    report = json.loads((args.out / "auto" / "report.json").read_text(encoding="utf-8"))
    figures["auto"] = {**queue_figures(args.out / "auto" / "review.csv", truth, left_off),
                       "bounds": report["noise"]["bounds"],
                       "missing_rate_cl": report["noise"]["missing_rate"]}
    tagsmith("audit", str(corpus), "-o", str(args.out / "no"), "--no-html",
             "--single-label", "no", "--min-probability", "0.05",
             "--review-sample", str(args.sample))
    figures["no"] = queue_figures(args.out / "no" / "review.csv", truth, left_off)
    figures["no"]["n_sample_rows_added"] = decide_sample(args.out / "no" / "sample.csv",
                                                         truth, given, space)
    estimate = json.loads(tagsmith("estimate-noise", str(args.out / "no" / "sample.csv"),
                                   "--json"))
    figures["no"]["estimate_noise_missing"] = estimate.get("missing")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
