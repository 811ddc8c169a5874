"""Auditing an LLM's labels before distilling: the figures of README's section of that name.

    python benchmarks/llm_audit.py --dataset reuters21578 [--data-dir DIR] [--quick]

Serves benchmarks/llm_sim.py's ``SimulatedTeacher`` (a noisy teacher that knows each
document's true labels) over HTTP on 127.0.0.1 (tagsmith.testing.llm_server's
LocalChatServer) and runs the ``tagsmith`` command line against it as a user would.
Steps (``--skip`` leaves some out):

1. ``label``: draws ``--pool`` + ``--human`` training documents (seed 0, kept in file
   order); the teacher's hardness comes from a 5-fold cross-fitted linear model on them
   (a document is hard where its best label is not a true one); on hard documents
   ``--hard-error`` of the answers are wrong, on the others ``--easy-error``, each wrong
   answer swapping one true label for the likeliest confusion, its confidences drawn in
   0.5-0.95 (0.6-1.0 on right answers). ``label pool.jsonl --vocab vocab.txt -o
   labels.jsonl --human human.jsonl --cache cache.sqlite`` (a rerun answers from the
   cache). The planted errors are the answered documents' labels against the truth:
   *wrong* (a label the LLM gave that is not true) and *missing* (a true one it left out).
2. ``audit``: ``audit labels.jsonl --vocab vocab.txt -o audit-default --no-plots`` (the
   defaults), and the review budget ``--min-probability 0.05 --max-review N``
   (``--review-rows``, ``audit-budget``), and the same budget with
   ``--label-confidence`` (``audit-confidence``: the LLM's confidences blended into the
   wrong-label ranking). Each queue's rows are scored against the planted errors:
   planted errors and wrong labels among its first 50/100/300 rows, and the average
   precision of the queue against every planted error (and of its wrong rows against
   every wrong label, ranked among themselves and, ``wrong_average_precision_all_rows``,
   among all its rows; an error the queue leaves out counts as never found).
3. The baseline the audit is measured against: the LLM's own labels ranked by ascending
   confidence (it can find wrong labels only), wrong labels among its first 28/100/300,
   and its average precision against every wrong label, over the whole ranking and over
   its first ``--review-rows`` alone (the queues' length: the figure to compare theirs
   with).
4. ``distill``: a reviewer who knows the truth decides the budget audit's rows
   (``apply-review labels.jsonl decided.csv -o fixed.jsonl``), and students are
   ``distill``-ed (linear) from the LLM's labels, from the reviewed ones and from the
   true labels of the whole pool, each scored with ``--human`` on the test split
   (``--test-docs`` of its documents).

Ends by printing one JSON object (also ``result.json`` under the work directory,
``benchmarks/work/llm_audit/<dataset>/``) with the figures and how it ran: ``command``,
``date``, ``machine``, ``commit`` (of this checkout), ``tagsmith_from`` and ``versions``;
a markdown summary goes to stderr. Every figure is one run (the teacher and the draws are
seeded); timings on a shared machine move by tens of percent. ``--quick`` is a smoke run
of a couple of minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

DATASETS = ["reuters21578", "goemotions"]
#: --quick's sizes, a smoke run (each option given explicitly still wins)
QUICK = {"pool": 300, "human": 30, "test_docs": 300, "review_rows": 100}
FULL = {"pool": 4000, "human": 300, "test_docs": None, "review_rows": 300}
STEPS = ("audit", "baseline", "distill")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_jsonl(path: Path, records) -> Path:
    from audit_runner import write_atomically

    write_atomically(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def prepare(args, work: Path) -> dict:
    """pool.jsonl, human.jsonl, truth.jsonl, test.jsonl, vocab.txt and the teacher."""
    from llm_sim import SimulatedTeacher
    from xmc import read_splits

    from tagsmith.features.tfidf import TfidfFeaturizer
    from tagsmith.pipeline.crossfit import cross_fit_topk

    log(f"reading {args.dataset} from {args.data_dir}")
    splits = read_splits(args.dataset, args.data_dir, work, None)
    space = splits["label_space"]
    names = [space.name_of(i) for i in range(len(space))]
    if len(set(names)) != len(names):
        raise SystemExit(f"{args.dataset}: label names are not unique")
    texts, Y = splits["train"]
    n_all = args.pool + args.human
    if n_all > len(texts):
        raise SystemExit(f"--pool + --human ({n_all:,}) is more than the "
                         f"{len(texts):,} training documents")
    rows = np.sort(np.random.default_rng(0).permutation(len(texts))[:n_all])
    texts = [texts[i] for i in rows]
    Y = Y[rows].tocsr()
    (work / "vocab.txt").write_text("\n".join(names) + "\n", encoding="utf-8")

    def labels_of(i):
        return [names[j] for j in Y.indices[Y.indptr[i]:Y.indptr[i + 1]]]

    write_jsonl(work / "pool.jsonl", ({"id": f"d{i}", "text": texts[i]}
                                      for i in range(args.pool)))
    write_jsonl(work / "truth.jsonl", ({"id": f"d{i}", "text": texts[i], "labels": labels_of(i)}
                                       for i in range(args.pool)))
    write_jsonl(work / "human.jsonl", ({"id": f"h{i}", "text": texts[i], "labels": labels_of(i)}
                                       for i in range(args.pool, n_all)))
    test_texts, test_Y = splits["test"]
    test_Y = test_Y.tocsr()
    n_test = len(test_texts) if args.test_docs is None else min(args.test_docs, len(test_texts))
    write_jsonl(work / "test.jsonl", (
        {"id": f"t{i}", "text": test_texts[i],
         "labels": [names[j] for j in test_Y.indices[test_Y.indptr[i]:test_Y.indptr[i + 1]]]}
        for i in range(n_test)))
    log(f"cross-fitting the teacher's hardness on {n_all:,} documents")
    feat = TfidfFeaturizer.from_params(word_ngrams=[1, 2], char_ngrams=None, min_df=2)
    oof = cross_fit_topk(feat.fit_transform(texts), Y, "linear", {"n_jobs": 1}, n_folds=5,
                         k=5, seed=0)
    teacher = SimulatedTeacher(texts, Y, names, oof.topk, easy_error=args.easy_error,
                               hard_error=args.hard_error)
    return {"teacher": teacher, "n_test": n_test,
            "hard_share": round(float(teacher.hard[:args.pool].mean()), 4),
            "wrong_answer_share": round(float(teacher.wrong[:args.pool].mean()), 4)}


def planted_errors(work: Path) -> tuple[dict[str, set], set]:
    """The truth by document id, and the planted errors ``(kind, doc_id, label)`` of the
    documents the LLM answered."""
    truth = {r["id"]: set(r["labels"]) for r in read_jsonl(work / "truth.jsonl")}
    errors = set()
    for r in read_jsonl(work / "labels.jsonl"):
        given, true = set(r["labels"]), truth[r["id"]]
        errors |= {("wrong", r["id"], x) for x in given - true}
        errors |= {("missing", r["id"], x) for x in true - given}
    return truth, errors


def average_precision(hits: list[bool], n_relevant: int) -> float:
    """Average precision of a ranking (``hits``: whether each row is relevant) against
    ``n_relevant`` relevant items, those it leaves out counted as never found.

    >>> average_precision([True, False, True], 4)
    0.4167
    """
    from tagsmith.audit.simulate import average_precision as ranked_average_precision

    # one score for every row: the ties are broken by position, the ranking as given
    return round(ranked_average_precision(np.zeros(len(hits)), np.asarray(hits, dtype=bool),
                                          n_relevant), 4)


def score_queue(review: Path, errors: set) -> dict:
    """A review queue's rows against the planted errors."""
    with open(review, encoding="utf-8", newline="") as handle:
        rows = [(r["kind"], r["doc_id"], r["label_uri"].lstrip("'"))
                for r in csv.DictReader(handle)]
    hits = [row in errors for row in rows]
    n_wrong = sum(e[0] == "wrong" for e in errors)
    wrong_hits = [hit for row, hit in zip(rows, hits, strict=True) if row[0] == "wrong"]
    out: dict = {"n_rows": len(rows), "n_planted": sum(hits),
                 "n_wrong_rows": len(wrong_hits), "n_wrong_planted": sum(wrong_hits),
                 "average_precision": average_precision(hits, len(errors)),
                 "wrong_average_precision": average_precision(wrong_hits, n_wrong),
                 # the wrong labels found, ranked among all the queue's rows (a missing
                 # row a miss): the like-for-like figure beside the baseline's
                 # wrong_average_precision_at_rows
                 "wrong_average_precision_all_rows": average_precision(
                     [hit and row[0] == "wrong" for row, hit in zip(rows, hits, strict=True)],
                     n_wrong)}
    for n in (50, 100, 300):
        if n <= len(rows):
            out[f"top{n}_planted"] = sum(hits[:n])
            out[f"top{n}_wrong_planted"] = sum(hit for row, hit in zip(rows[:n], hits[:n],
                                                                        strict=True)
                                               if row[0] == "wrong")
    return out


def confidence_baseline(work: Path, errors: set, rows: int) -> dict:
    """The LLM's labels by ascending confidence: wrong ones among the first N (see
    ``score_baseline``; ``rows``: the review budget, the queues' length)."""
    pairs = []
    for r in read_jsonl(work / "labels.jsonl"):
        for label, score in zip(r["labels"], r["scores"], strict=True):
            pairs.append((score, r["id"], label))
    return score_baseline(pairs, errors, rows)


def score_baseline(pairs: list[tuple[float, str, str]], errors: set, rows: int) -> dict:
    """``pairs`` ``(confidence, doc_id, label)`` ranked by ascending confidence against
    the planted wrong labels: wrong ones among the first 28/100/300 and ``rows``, the
    average precision of the whole ranking, and that of its first ``rows`` alone
    (``wrong_average_precision_at_rows``, those after them counted as never found), the
    figure to compare with a ``rows``-row review queue's.

    >>> errors = {("wrong", "a", "x"), ("wrong", "b", "y"), ("missing", "a", "z")}
    >>> b = score_baseline([(0.9, "b", "y"), (0.5, "a", "x"), (0.7, "c", "x")], errors, 2)
    >>> b["lowest2_wrong"], b["wrong_average_precision"], b["wrong_average_precision_at_rows"]
    (1, 0.8333, 0.5)
    """
    pairs = sorted(pairs)
    hits = [("wrong", doc, label) in errors for _, doc, label in pairs]
    n_wrong = sum(e[0] == "wrong" for e in errors)
    return {"n_labels": len(pairs), "n_wrong": n_wrong,
            **{f"lowest{n}_wrong": sum(hits[:n]) for n in sorted({28, 100, 300, rows})
               if n <= len(hits)},
            "wrong_average_precision": average_precision(hits, n_wrong),
            "rows": rows,
            "wrong_average_precision_at_rows": average_precision(hits[:rows], n_wrong)}


def decide(review: Path, decided: Path, truth: dict[str, set]) -> int:
    """A reviewer who knows the truth: accepts exactly the rows that are errors. The
    decided review is written whole or not at all (write_atomically): a row it could
    not write left ``decided`` cut off after the rows before it, where a good one of
    an earlier run had been."""
    import io

    from audit_runner import write_atomically

    with open(review, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for r in rows:
        has = r["label_uri"].lstrip("'") in truth[r["doc_id"]]
        r["decision"] = "accept" if (has if r["kind"] == "missing" else not has) else "reject"
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["decision"])
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(decided, text.getvalue())
    return sum(r["decision"] == "accept" for r in rows)


def tagsmith(url: str, work: Path, name: str, *args: str,
             stdout: bool = False) -> dict:
    """``python -m tagsmith ARGS`` under audit.py's ``timed`` (wall seconds, peak RSS),
    its log ``NAME.log`` in ``work``; ``stdout``: its stdout to ``NAME.out`` there. An
    argument naming a file or folder (``@name``) is ``work / name``."""
    from audit import timed

    os.environ.update({"TAGSMITH_LLM_BASE_URL": url, "TAGSMITH_LLM_MODEL": "sim",
                       "PYTHONPATH": os.pathsep.join(
                           [str(ROOT / "src"),
                            *filter(None, [os.environ.get("PYTHONPATH")])])})
    paths = [str(work / a[1:]) if a.startswith("@") else a for a in args]
    return timed([sys.executable, "-m", "tagsmith", *paths], work / f"{name}.log",
                 work / f"{name}.out" if stdout else None)


def distill_figures(out: Path) -> dict:
    text = out.read_text(encoding="utf-8")
    summary = json.loads(text[text.index("{"):])
    human = (summary.get("human_accuracy") or {}).get("metrics") or {}
    return {k: round(human[k], 4) for k in ("p@1", "micro_f1", "macro_f1")}


def markdown(result: dict) -> str:
    lines = [f"- **Planted errors**: {result['planted']['n_errors']:,} "
             f"({result['planted']['n_wrong']:,} wrong, {result['planted']['n_missing']:,} "
             f"missing) on {result['planted']['n_docs']:,} of "
             f"{result['label']['n_answered']:,} answered documents", ""]
    if "audits" in result:
        lines += ["| audit | rows | planted errors | top 50 | top 100 | top 300 | wrong in "
                  "top 100 | wrong in top 300 | AP (errors) | AP (wrong) | AP (wrong, all rows) "
                  "| wall | peak |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, a in result["audits"].items():
            lines.append(f"| {name} | {a['n_rows']} | {a['n_planted']} | "
                         f"{a.get('top50_planted', '-')} | {a.get('top100_planted', '-')} | "
                         f"{a.get('top300_planted', '-')} | "
                         f"{a.get('top100_wrong_planted', '-')} | "
                         f"{a.get('top300_wrong_planted', '-')} | {a['average_precision']} | "
                         f"{a['wrong_average_precision']} | "
                         f"{a.get('wrong_average_precision_all_rows', '-')} | {a['wall_s']} s | "
                         f"{a['peak_rss_mb']} MB |")
        lines.append("")
    if "baseline" in result:
        b = result["baseline"]
        lines += ["| LLM's least confident labels | 28 | 100 | 300 | AP (wrong), all "
                  f"{b['n_labels']:,} | AP (wrong), first {b['rows']} |",
                  "|---|---|---|---|---|---|",
                  f"| wrong among them | {b.get('lowest28_wrong', '-')} | "
                  f"{b.get('lowest100_wrong', '-')} | {b.get('lowest300_wrong', '-')} | "
                  f"{b['wrong_average_precision']} | {b['wrong_average_precision_at_rows']} |",
                  ""]
    if "students" in result:
        lines += ["| trained on | P@1 | micro-F1 | macro-F1 | wall | peak |",
                  "|---|---|---|---|---|---|"]
        for name, s in result["students"].items():
            lines.append(f"| {name} | {s.get('p@1')} | {s.get('micro_f1')} | "
                         f"{s.get('macro_f1')} | {s['wall_s']} s | {s['peak_rss_mb']} MB |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import dataset_arguments, positive

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dataset_arguments(parser, DATASETS, "llm_audit",
                      "where corpora, the label cache, audits, students and result.json "
                      "go, under <dataset>/")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of a couple of minutes: " + ", ".join(
                            f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items())
                        + " unless given (default: off, the README's sizes)")
    parser.add_argument("--pool", type=positive, default=None,
                        help=f"training documents the LLM labels (default: {FULL['pool']})")
    parser.add_argument("--human", type=positive, default=None,
                        help=f"training documents after them for label's --human sample "
                        f"(default: {FULL['human']})")
    parser.add_argument("--test-docs", type=positive, default=None,
                        help="the students are scored on the first N test documents "
                        "(default: all of them)")
    parser.add_argument("--review-rows", type=positive, default=None,
                        help=f"the review budget: audit's --max-review (default: "
                        f"{FULL['review_rows']})")
    parser.add_argument("--easy-error", type=float, default=0.05,
                        help="the teacher: share of wrong answers on easy documents "
                        "(default: %(default)s)")
    parser.add_argument("--hard-error", type=float, default=0.5,
                        help="the teacher: share of wrong answers on hard documents "
                        "(default: %(default)s)")
    parser.add_argument("--skip", default="", help="steps not run, comma-separated: "
                        f"{', '.join(STEPS)} (default: none, run them all)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    for key, full in FULL.items():
        if getattr(args, key) is None:
            setattr(args, key, QUICK[key] if args.quick else full)
    for option in ("easy_error", "hard_error"):
        if not 0 <= getattr(args, option) <= 1:
            parser.error(f"--{option.replace('_', '-')} must be a number in [0, 1], not "
                         f"{getattr(args, option):g}")
    from audit import _machine, results_command
    from audit_runner import write_atomically
    from xmc import make_data_work_dir, provenance, skip_steps

    skip = skip_steps(parser, args.skip, STEPS)
    # the commit and versions this run starts from, read now (as audit.py reads them):
    # read when it ends, a checkout moved meanwhile is recorded as the code that ran
    ran = provenance(["numpy", "scipy"])
    work = make_data_work_dir(args.dataset, args.data_dir, args.work_dir / args.dataset,
                              data_needed=True)
    started = time.perf_counter()
    prepared = prepare(args, work)
    result: dict = {"dataset": args.dataset,
                    "sizes": {k: getattr(args, k) for k in FULL} | {
                        "test_docs": prepared["n_test"]},
                    "teacher": {"easy_error": args.easy_error, "hard_error": args.hard_error,
                                "hard_share": prepared["hard_share"],
                                "wrong_answer_share": prepared["wrong_answer_share"]}}
    from tagsmith.testing.llm_server import LocalChatServer

    with LocalChatServer(prepared["teacher"]) as server:
        url = server.base_url
        log(f"label the pool ({args.pool:,} documents)")
        label = tagsmith(url, work, "label", "label", "@pool.jsonl", "--vocab", "@vocab.txt",
                         "-o", "@labels.jsonl", "--human", "@human.jsonl", "--cache",
                         "@cache.sqlite")
        truth, errors = planted_errors(work)
        result["label"] = {**label, "n_answered": len(read_jsonl(work / "labels.jsonl"))}
        result["planted"] = {"n_errors": len(errors),
                             "n_wrong": sum(e[0] == "wrong" for e in errors),
                             "n_missing": sum(e[0] == "missing" for e in errors),
                             "n_docs": len({e[1] for e in errors})}
        log(f"label: {result['label']}; planted {result['planted']}")
        budget = ["--min-probability", "0.05", "--max-review", str(args.review_rows)]
        audits = {"default": ["--no-plots"], "budget": [*budget, "--no-html"],
                  "confidence": [*budget, "--no-html", "--label-confidence"]}
        if "audit" not in skip:
            result["audits"] = {}
            for name, extra in audits.items():
                log(f"audit {name}: {' '.join(extra)}")
                proc = tagsmith(url, work, f"audit-{name}", "audit", "@labels.jsonl", "--vocab",
                                "@vocab.txt", "-o", f"@audit-{name}", "--force", *extra)
                result["audits"][name] = {**score_queue(work / f"audit-{name}" / "review.csv",
                                                        errors), **proc}
                log(f"audit {name}: {result['audits'][name]}")
        if "baseline" not in skip:
            result["baseline"] = confidence_baseline(work, errors, args.review_rows)
            log(f"baseline: {result['baseline']}")
        if "distill" not in skip:
            if not (work / "audit-budget" / "review.csv").is_file():
                raise SystemExit("distill: no audit-budget/review.csv (run the audit step)")
            accepted = decide(work / "audit-budget" / "review.csv", work / "decided.csv", truth)
            applied = tagsmith(url, work, "apply-review", "apply-review", "@labels.jsonl",
                               "@decided.csv", "-o", "@fixed.jsonl", "--vocab", "@vocab.txt",
                               "--force")
            result["review"] = {"accepted": accepted, **applied}
            result["students"] = {}
            for name, corpus in (("llm", "@labels.jsonl"), ("reviewed", "@fixed.jsonl"),
                                 ("truth", "@truth.jsonl")):
                log(f"distill from {corpus[1:]}")
                student = work / "students" / name
                if student.exists():
                    import shutil

                    shutil.rmtree(student)
                proc = tagsmith(url, work, f"distill-{name}", "distill", corpus, "--vocab",
                                "@vocab.txt", "-o", f"@students/{name}", "--human",
                                "@test.jsonl", "--json", stdout=True)
                result["students"][name] = {**distill_figures(work / f"distill-{name}.out"),
                                            **proc}
                log(f"student {name}: {result['students'][name]}")
    result["run"] = {**ran, "command": results_command(sys.orig_argv),
                     "date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": _machine(),
                     "python": platform.python_version(),
                     "wall_seconds": round(time.perf_counter() - started, 1)}
    write_atomically(work / "result.json", json.dumps(result, indent=1))
    print(markdown(result), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
