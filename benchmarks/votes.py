"""Whether ``label --votes`` pays: README's "Whether votes pay" and ``--votes`` reliability figures.

    python benchmarks/votes.py --dataset goemotions [--data-dir DIR] [--quick]

Serves a simulated *sampled* teacher over GoEmotions on 127.0.0.1
(tagsmith.testing.llm_server.LocalChatServer) and runs the ``tagsmith`` command line
against it, as a user would (``label``, ``distill``, ``eval``). The teacher knows every
comment's true labels and, per answer: on ``--sys-error`` of the documents swaps one
true label for a fixed wrong one that every vote repeats (a bias votes cannot fix); with
probability ``--noise`` swaps one label for a random other one, drawn anew for each
(document, seed, temperature) at temperature > 0 and frozen per document at temperature 0
(greedy decoding); ``--malformed`` answers are cut JSON, drawn likewise; and the first
request of ``--http-errors`` of the (document, seed, temperature) keys gets an HTTP 500
(retried by the client). Every draw is seeded from the document's text, so reruns give
the same answers. Steps (``--skip`` leaves some out):

1. ``equal_calls``: per seed, ``--calls`` random training comments (after the first
   3,000) at ``--votes 1``, the first third of them at ``--votes 3`` (the same number of
   calls) and all of them at ``--votes 3`` (3 times the calls); each ``distill``-ed and
   scored by ``eval`` (tuned thresholds, and ``--threshold 0.3``) on the first
   ``--test-docs`` test comments.
2. ``budget``: per seed, ``label POOL --budget CALLS --human HUMAN --student ST`` against
   ``--votes 3 --budget CALLS/3`` (pool: ``--pool`` training comments after the first
   3,000; human sample: the first ``--human`` dev comments); the students scored by ``eval``.
3. ``reliability``: the teacher's reliability (``reliability`` of ``label --human``'s JSON
   summary) on the human sample at ``--votes`` 1, 3 and 5.

Figures are medians over seeds 0 .. ``--seeds``-1 (each run's figures are kept too).
Ends by printing one JSON object with the figures and how it ran: ``command``, ``date``,
``machine``, ``commit`` (of this checkout), ``tagsmith_from`` and ``versions``; a markdown
summary goes to stderr. Work files (corpora, caches, students, result.json) go to
benchmarks/work/votes/goemotions/. ``--quick`` is a smoke run of under a minute.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

#: --quick's sizes, a smoke run (each option given explicitly still wins)
QUICK = {"calls": 60, "pool": 300, "human": 30, "test_docs": 200, "seeds": 1}
FULL = {"calls": 1800, "pool": 8000, "human": 200, "test_docs": 2000, "seeds": 3}
STEPS = ("equal_calls", "budget", "reliability")
SKIP_TRAIN = 3000  # the pools are drawn after the first 3,000 training comments


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _seed_of(*parts) -> int:
    return int.from_bytes(hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()[:8],
                          "little")


class SampledTeacher:
    """A LocalChatServer behaviour: each answer drawn from the document, the request's
    ``seed`` and ``temperature`` (see the module docstring)."""

    def __init__(self, truth: dict[str, list[str]], names: list[str], *, sys_error: float,
                 noise: float, malformed: float, http_errors: float):
        self.truth, self.names = truth, sorted(names)
        self.sys_error, self.noise = sys_error, noise
        self.malformed, self.http_errors = malformed, http_errors
        self.calls = 0
        self.seen: set[tuple] = set()
        self.lock = threading.Lock()

    def __call__(self, body: dict):
        from tagsmith.labeling.prompts import read_data_section
        from tagsmith.testing.llm_server import Reply, user_prompt

        t = float(body.get("temperature") or 0.0)
        s = body.get("seed")
        prompt = user_prompt(body)
        doc = read_data_section(prompt, "DOCUMENT").strip()
        key = (doc, s, t)
        with self.lock:
            self.calls += 1
            first = key not in self.seen
            self.seen.add(key)
        if first and np.random.default_rng(_seed_of(doc, s, t, "http")).random() \
                < self.http_errors:
            return Reply(content="overloaded", status=500)
        labels = list(self.truth[doc[:4000].strip()])
        offered = [x["label"] for x in read_data_section(prompt, "LABELS")]
        rd = np.random.default_rng(_seed_of(doc, "doc"))
        rv = np.random.default_rng(_seed_of(doc, "frozen") if t == 0 else _seed_of(doc, s, t))
        wrong = set()
        if rd.random() < self.sys_error:
            confusion = str(rd.choice([n for n in self.names if n not in labels]))
            labels.pop(int(rd.integers(len(labels))))
            labels.append(confusion)
            wrong.add(confusion)
        if rv.random() < self.malformed:
            return '{"labels": [{"label": "' + labels[0]
        if rv.random() < self.noise:
            other = str(rv.choice([n for n in self.names if n not in labels]))
            if labels:
                labels.pop(int(rv.integers(len(labels))))
            labels.append(other)
            wrong.add(other)
        items = [{"label": n, "confidence": round(float(rv.uniform(0.4, 0.9) if n in wrong
                                                          else rv.uniform(0.6, 1.0)), 3)}
                 for n in labels if n in offered]
        return json.dumps({"labels": items})


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle if line.strip()]


def write_lines(path: Path, lines: list[str]) -> Path:
    # audit_runner's writer (the other benchmarks' one), not a copy of it
    from audit_runner import write_atomically

    write_atomically(path, "".join(line + "\n" for line in lines))
    return path


class Runner:
    """Runs ``python -m tagsmith`` against the teacher, each command's JSON read back."""

    def __init__(self, url: str, work: Path):
        self.work = work
        self.env = {**os.environ, "TAGSMITH_LLM_BASE_URL": url, "TAGSMITH_LLM_MODEL": "sim",
                    "PYTHONPATH": os.pathsep.join(
                        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}

    def __call__(self, *args: str, json_from: str = "stdout") -> tuple[dict, float, int]:
        """(the command's JSON, wall seconds, peak RSS in KB of the child)."""
        cmd = [sys.executable, "-m", "tagsmith", "-q", *args]
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=self.env,
                              cwd=self.work)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"failed (exit code {done.returncode}): tagsmith "
                             f"{' '.join(args)}\n{done.stderr[-3000:]}")
        import resource

        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        text = done.stdout if json_from == "stdout" else done.stderr
        return json.loads(text[text.index("{"):]), seconds, peak


def _eval_figures(ev: dict) -> dict:
    return {"micro_f1": round(ev["micro_f1"], 4), "p@1": round(ev["p@1"], 4),
            "macro_f1": round(ev["macro_f1"], 4)}


def run_equal_calls(run: Runner, train: list[str], test: Path, args) -> dict:
    pool_lines = train[SKIP_TRAIN:]
    runs = []
    for seed in range(args.seeds):
        rows = np.random.default_rng(seed).choice(len(pool_lines), args.calls, replace=False)
        docs = [pool_lines[i] for i in rows]
        corpora = {"v1": (docs, 1), "v3third": (docs[:args.calls // 3], 3), "v3": (docs, 3)}
        for name, (lines, votes) in corpora.items():
            corpus = write_lines(run.work / f"eq-{name}-{seed}.tsv", lines)
            out, st = f"eq-{name}-{seed}.jsonl", f"st-eq-{name}-{seed}"
            summary, seconds, _ = run("label", corpus.name, "--vocab", "vocab.tsv", "-o", out,
                                      "--votes", str(votes), "--cache", "eq-cache.sqlite",
                                      json_from="stderr")
            run("distill", out, "--vocab", "vocab.tsv", "-o", st, "--json")
            tuned, _, _ = run("eval", st, test.name, "--json")
            at03, _, _ = run("eval", st, test.name, "--json", "--threshold", "0.3")
            runs.append({"cond": name, "seed": seed, "docs": len(lines), "votes": votes,
                         "calls": summary["labeling"]["n_calls"],
                         **_eval_figures(tuned), "micro_f1_at_0.3": round(at03["micro_f1"], 4),
                         "label_seconds": round(seconds, 1)})
            log(f"equal calls: {json.dumps(runs[-1])}")
    return {"equal_calls": _medians(runs, ("calls", "micro_f1", "micro_f1_at_0.3", "p@1",
                                           "macro_f1")), "equal_calls_runs": runs}


def run_budget(run: Runner, train: list[str], test: Path, human: Path, args) -> dict:
    pool = write_lines(run.work / "pool.tsv", train[SKIP_TRAIN:SKIP_TRAIN + args.pool])
    runs = []
    for seed in range(args.seeds):
        for name, budget, votes in (("v1", args.calls, 1), ("v3", args.calls // 3, 3)):
            out, st = f"b-{name}-{seed}.jsonl", f"st-b-{name}-{seed}"
            summary, seconds, peak = run(
                "label", pool.name, "--vocab", "vocab.tsv", "-o", out, "--votes", str(votes),
                "--budget", str(budget), "--seed", str(seed), "--human", human.name,
                "--student", st, "--cache", "b-cache.sqlite", json_from="stderr")
            ev, _, _ = run("eval", st, test.name, "--json")
            runs.append({"cond": name, "seed": seed, "budget": budget, "votes": votes,
                         "requests": summary["usage"]["requests"], **_eval_figures(ev),
                         "label_seconds": round(seconds, 1), "peak_rss_kb_so_far": peak})
            log(f"budget: {json.dumps(runs[-1])}")
    return {"budget": _medians(runs, ("requests", "micro_f1", "p@1", "macro_f1")),
            "budget_runs": runs}


def run_reliability(run: Runner, train: list[str], human: Path) -> dict:
    corpus = write_lines(run.work / "rel-corpus.tsv", train[:20])
    out = {}
    for votes in (1, 3, 5):
        summary, _, _ = run("label", corpus.name, "--vocab", "vocab.tsv", "-o",
                            f"rel-{votes}.jsonl", "--votes", str(votes), "--human", human.name,
                            "--cache", "rel-cache.sqlite", json_from="stderr")
        rel = summary["reliability"]
        out[f"votes={votes}"] = {k: round(rel[k], 4) for k in
                                 ("micro_precision", "micro_recall", "doc_error_rate")}
        log(f"reliability, --votes {votes}: {json.dumps(out[f'votes={votes}'])}")
    return {"reliability": out}


def _medians(runs: list[dict], keys) -> dict:
    conds = list(dict.fromkeys(r["cond"] for r in runs))
    return {c: {k: statistics.median(r[k] for r in runs if r["cond"] == c) for k in keys}
            for c in conds}


def markdown(result: dict) -> str:
    lines = []
    if "equal_calls" in result:
        lines += ["| equal calls | calls | P@1 | micro-F1 tuned | micro-F1 @0.3 | macro-F1 |",
                  "|---|---|---|---|---|---|"]
        for cond, e in result["equal_calls"].items():
            lines.append(f"| {cond} | {e['calls']:,} | {e['p@1']:.4f} | {e['micro_f1']:.4f} | "
                         f"{e['micro_f1_at_0.3']:.4f} | {e['macro_f1']:.4f} |")
        lines.append("")
    if "budget" in result:
        lines += ["| budget | requests | micro-F1 | P@1 | macro-F1 |", "|---|---|---|---|---|"]
        for cond, e in result["budget"].items():
            lines.append(f"| {cond} | {e['requests']:,} | {e['micro_f1']:.4f} | "
                         f"{e['p@1']:.4f} | {e['macro_f1']:.4f} |")
        lines.append("")
    if "reliability" in result:
        lines += ["| votes | micro-precision | micro-recall | doc_error_rate |",
                  "|---|---|---|---|"]
        for votes, e in result["reliability"].items():
            lines.append(f"| {votes.split('=')[1]} | {e['micro_precision']:.4f} | "
                         f"{e['micro_recall']:.4f} | {e['doc_error_rate']:.4f} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import dataset_arguments, positive

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dataset_arguments(parser, ["goemotions"], "votes",
                      "where corpora, caches, students and result.json go, under <dataset>/")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of under a minute: " + ", ".join(
                            f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items())
                        + " unless given (default: off, the README's sizes)")
    parser.add_argument("--calls", type=positive, default=None,
                        help=f"teacher calls per condition (default: {FULL['calls']})")
    parser.add_argument("--pool", type=positive, default=None,
                        help=f"budget step: the pool's training comments (default: "
                        f"{FULL['pool']})")
    parser.add_argument("--human", type=positive, default=None,
                        help=f"the --human sample: the first N dev comments (default: "
                        f"{FULL['human']})")
    parser.add_argument("--test-docs", type=positive, default=None,
                        help=f"the students are scored on the first N test comments "
                        f"(default: {FULL['test_docs']})")
    parser.add_argument("--seeds", type=positive, default=None,
                        help=f"seeds 0 .. N-1, figures their median (default: {FULL['seeds']})")
    for option, default, what in (
            ("--sys-error", 0.10, "documents on which every vote repeats one wrong label"),
            ("--noise", 0.30, "answers with one label swapped for a random one, drawn per vote"),
            ("--malformed", 0.03, "answers that are cut JSON, drawn per vote"),
            ("--http-errors", 0.02, "requests answered first with an HTTP 500")):
        parser.add_argument(option, type=float, default=default,
                            help=f"the teacher: share of {what} (default: %(default)s)")
    parser.add_argument("--skip", default="", help="steps not run, comma-separated: "
                        f"{', '.join(STEPS)} (default: none, run them all)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    for key, full in FULL.items():
        if getattr(args, key) is None:
            setattr(args, key, QUICK[key] if args.quick else full)
    if args.calls < 3:
        parser.error(f"--calls must be 3 or more (a third of them at 3 votes), not {args.calls}")
    for option in ("sys_error", "noise", "malformed", "http_errors"):
        if not 0 <= getattr(args, option) <= 1:
            parser.error(f"--{option.replace('_', '-')} must be a number in [0, 1], not "
                         f"{getattr(args, option):g}")
    from xmc import make_data_work_dir, provenance, skip_steps

    skip = skip_steps(parser, args.skip, STEPS)
    if "budget" not in skip and args.pool < args.calls:
        parser.error(f"--pool ({args.pool}) must be at least --calls ({args.calls}): "
                     "the budget step spends --calls documents of it")
    work = make_data_work_dir(args.dataset, args.data_dir, args.work_dir / args.dataset)
    source = work / "source"
    if not (source / "vocab.tsv").exists():
        sys.path.insert(0, str(ROOT / "examples"))
        from make_goemotions import convert
        from xmc import dataset_dir

        dataset_dir(args.dataset, args.data_dir)
        convert(args.data_dir, source)
    started = time.perf_counter()
    names: dict[str, str] = {}
    for line in (source / "vocab.tsv").read_text(encoding="utf-8").splitlines():
        uri, name = line.split("\t")
        names[uri] = name
    splits = {part: read_lines(source / f"{part}.tsv.gz") for part in ("train", "dev", "test")}
    if len(splits["train"]) < SKIP_TRAIN + max(args.calls, args.pool):
        parser.error(f"--calls / --pool: {len(splits['train']) - SKIP_TRAIN:,} training "
                     "comments after the first 3,000")
    truth: dict[str, list[str]] = {}
    for lines in splits.values():
        for line in lines:
            text, labels = line.split("\t")
            truth.setdefault(text[:4000].strip(), [names[u] for u in labels.split()])
    (work / "vocab.tsv").write_bytes((source / "vocab.tsv").read_bytes())
    test = write_lines(work / "test.tsv", splits["test"][:args.test_docs])
    human = write_lines(work / "human.tsv", splits["dev"][:args.human])
    teacher = SampledTeacher(truth, list(names.values()), sys_error=args.sys_error,
                             noise=args.noise, malformed=args.malformed,
                             http_errors=args.http_errors)
    result: dict = {"dataset": args.dataset, "machine": f"{os.cpu_count()} cores, "
                    f"{platform.processor() or platform.machine()}, Python "
                    f"{platform.python_version()}",
                    "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                    **provenance(["numpy", "scipy", "scikit-learn"]),
                    "sizes": {k: getattr(args, k) for k in FULL},
                    "teacher": {k: getattr(args, k) for k in
                                ("sys_error", "noise", "malformed", "http_errors")}}
    from tagsmith.testing.llm_server import LocalChatServer

    with LocalChatServer(teacher) as server:
        run = Runner(server.base_url, work)
        if "equal_calls" not in skip:
            result.update(run_equal_calls(run, splits["train"], test, args))
        if "budget" not in skip:
            result.update(run_budget(run, splits["train"], test, human, args))
        if "reliability" not in skip:
            result.update(run_reliability(run, splits["train"], human))
    result["teacher"]["requests"] = teacher.calls
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    write_lines(work / "result.json", [json.dumps(result, indent=2)])
    print(markdown(result), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
