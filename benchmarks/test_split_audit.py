"""Auditing a test split: heldout against cross-fitted scores, and P@1 before and after review.

    flock /tmp/tagsmith-heavy.lock python benchmarks/test_split_audit.py --dataset goemotions
    flock /tmp/tagsmith-heavy.lock python benchmarks/test_split_audit.py --dataset reuters21578

The figures of README's "Auditing your test set", from the tagsmith command line as a
user runs it (work directory ``benchmarks/work/test_split_audit/<dataset>/``):

1. Read the dataset's train and test splits (``xmc.read_splits``: GoEmotions' 43,410
   training and 5,427 test comments, Reuters-21578's ModApte 7,770 and 3,019 stories,
   blank texts included) and write them as JSONL with the vocabulary. Plant errors in a
   copy of the test split with :func:`tagsmith.audit.simulate.inject_label_noise`
   (``--missing-rate`` of the given labels removed, ``--wrong-rate`` wrong ones added,
   ``--seed``): ``test-noisy.jsonl``.
2. Each step runs ``python -m tagsmith ...`` as its own process under ``/usr/bin/time -v``
   (wall time, peak RSS): ``train`` on the train split; ``audit`` of the noisy test split
   with that bundle, once with ``--scores heldout`` (the bundle's predictions) and once
   with ``--scores auto`` (which cross-fits the bundle's model family on the test split
   itself), each ``--no-plots`` and, with ``--leakage``, ``--split train=``. An audit
   that compiled tagsmith's numba kernels (the first of a checkout) has
   ``compiled_kernels`` true: its seconds hold the compilation.
3. A simulated reviewer decides each audit's ``review.csv``: it accepts exactly the
   flagged rows that are planted errors (a *missing* row whose label was removed, a
   *wrong* row whose label was added) and rejects the rest; the precision and recall of
   the flagged rows against the planted errors are the audit's figures.
4. ``apply-review`` writes each corrected split, and ``eval BUNDLE FIXED --labels-before
   test-noisy.jsonl --json`` measures how P@1 and micro-F1 move; ``eval`` on the test
   split as distributed and on the noisy one gives the figures the review is measured
   against.

Ends by printing one JSON object, also written to ``runs/result.json`` under the work
directory; its ``run`` says how it ran: the command line, date, machine, commit of this
checkout and the versions of Python, numpy and scipy. Timings are of one run; on a
shared machine they move by tens of percent.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

DATASETS = ["goemotions", "reuters21578"]
#: the audits compared: --scores heldout (the bundle's predictions) and auto (with a
#: bundle not trained on the corpus: the bundle's model family cross-fitted on it)
AUDITS = ("heldout", "auto")


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import dataset_arguments

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dataset_arguments(parser, DATASETS, "test_split_audit",
                      "where the corpora, the bundle, the audits and result.json go, "
                      "under <dataset>/")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the planted errors (default: %(default)s)")
    parser.add_argument("--missing-rate", type=float, default=0.05,
                        help="share of the test split's given labels removed (default: "
                        "%(default)s)")
    parser.add_argument("--wrong-rate", type=float, default=0.03,
                        help="wrong labels added, as a share of the given ones (default: "
                        "%(default)s)")
    parser.add_argument("--leakage", action="store_true",
                        help="audit with --split train=TRAIN too (the leakage check: "
                        "slower, most of a Reuters audit; default: off)")
    return parser


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def timed(args: list[str], log_path: Path, stdout_path: Path | None = None) -> dict:
    """``python -m tagsmith ARGS`` under audit.py's :func:`timed`: wall seconds, peak RSS
    (MB); stdout to ``stdout_path`` where given, else to the log with stderr."""
    from audit import timed as timed_command

    return timed_command([sys.executable, "-m", "tagsmith", *args], log_path, stdout_path)


def compiled_kernels(log_path: Path) -> bool:
    """Whether the step compiled tagsmith's numba kernels (its log says so): the first
    audit of a checkout or of a new ``NUMBA_CACHE_DIR`` does, and its seconds then hold
    the compilation, which the other audit's do not."""
    return "compiling tagsmith's fast kernels" in log_path.read_text(errors="replace")


def write_jsonl(path: Path, texts, Y, space) -> None:
    import scipy.sparse as sp
    from audit_runner import write_atomically

    Y = sp.csr_matrix(Y)
    write_atomically(path, "".join(
        json.dumps({"text": t, "labels": [space.uri_of(int(j))
                                          for j in Y.indices[Y.indptr[i]:Y.indptr[i + 1]]]},
                   ensure_ascii=False) + "\n" for i, t in enumerate(texts)))


def prepare(args, work: Path) -> dict:
    """Write train.jsonl, test.jsonl, test-noisy.jsonl and vocab.tsv; the planted truth."""
    import numpy as np
    import scipy.sparse as sp
    from audit_runner import write_atomically
    from xmc import read_splits

    from tagsmith.audit.simulate import inject_label_noise

    log(f"reading {args.dataset} from {args.data_dir}")
    splits = read_splits(args.dataset, args.data_dir, work, None)
    space = splits["label_space"]
    write_atomically(work / "vocab.tsv", "".join(
        f"<{space.uri_of(i)}>\t{' '.join(space.name_of(i).split()) or space.uri_of(i)}\n"
        for i in range(len(space))))
    write_jsonl(work / "train.jsonl", *splits["train"], space)
    texts, Y = splits["test"]
    Y = sp.csr_matrix(Y)
    write_jsonl(work / "test.jsonl", texts, Y, space)
    noise = inject_label_noise(Y, missing_rate=args.missing_rate, wrong_rate=args.wrong_rate,
                               seed=args.seed)
    log(f"planted: removed {noise.n_removed:,} of {Y.nnz:,} given labels, added "
        f"{noise.n_added:,} wrong ones")
    write_jsonl(work / "test-noisy.jsonl", texts, noise.Y, space)
    return {"space": space, "removed": sp.csr_matrix(noise.removed, dtype=np.int8),
            "added": sp.csr_matrix(noise.added, dtype=np.int8),
            "n_train": len(splits["train"][0]), "n_test": len(texts), "n_given": int(Y.nnz),
            "n_removed": int(noise.n_removed), "n_added": int(noise.n_added)}


def simulate_review(review: Path, decided: Path, truth: dict) -> dict:
    """Accept exactly the flagged rows that are planted errors; precision and recall."""
    space, removed, added = truth["space"], truth["removed"], truth["added"]
    column = {space.uri_of(i): i for i in range(len(space))}
    with open(review, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    hits = {"missing": 0, "wrong": 0}
    flagged = {"missing": 0, "wrong": 0}
    for row in rows:
        kind = row["kind"]
        planted = removed if kind == "missing" else added
        hit = bool(planted[int(row["doc"]), column[row["label_uri"].lstrip("'")]])
        flagged[kind] += 1
        hits[kind] += hit
        row["decision"] = "accept" if hit else "reject"
    with open(decided, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["decision"])
        writer.writeheader()
        writer.writerows(rows)
    out: dict = {"n_review_rows": len(rows), "accepted": hits["missing"] + hits["wrong"]}
    for kind, total in (("missing", removed.nnz), ("wrong", added.nnz)):
        out[f"n_flagged_{kind}"] = flagged[kind]
        out[f"n_planted_flagged_{kind}"] = hits[kind]
        out[f"{kind}_precision"] = round(hits[kind] / max(flagged[kind], 1), 4)
        out[f"{kind}_recall"] = round(hits[kind] / max(total, 1), 4)
    return out


def eval_figures(path: Path) -> dict:
    result = json.loads(path.read_text(encoding="utf-8"))
    out = {"p1": result["p@1"], "micro_f1": result["micro_f1"]}
    moved = result.get("labels_before")
    if moved:
        for key, name in (("p@1", "p1"), ("micro_f1", "micro_f1")):
            m = moved["metrics"][key]
            out[f"{name}_before"] = m["before"]
            out[f"{name}_difference"] = m["difference"]
            out[f"{name}_interval"] = m["interval"]
        out["n_docs_relabelled"] = moved["n_docs_relabelled"]
        out["n_docs_right_now"] = moved["metrics"]["p@1"].get("n_docs_right_now")
        out["n_docs_wrong_now"] = moved["metrics"]["p@1"].get("n_docs_wrong_now")
    return out


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    for name in ("missing_rate", "wrong_rate"):
        value = getattr(args, name)
        if not 0 <= value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a number in [0, 1), not {value:g}")
    from audit import _machine, results_command
    from audit_runner import write_atomically
    from xmc import make_data_work_dir, provenance

    # read as the run starts: read as it ended, a checkout moved meanwhile was recorded
    # as the code that made the figures
    ran = provenance(["numpy", "scipy"])
    work = make_data_work_dir(args.dataset, args.data_dir, args.work_dir / args.dataset,
                              data_needed=True)
    runs = work / "runs"
    runs.mkdir(exist_ok=True)
    truth = prepare(args, work)
    result: dict = {"dataset": args.dataset, **{k: v for k, v in truth.items()
                                                if k.startswith("n_")}}
    bundle = work / "bundle"
    if bundle.exists():  # train writes a new bundle, not over one
        import shutil

        shutil.rmtree(bundle)
    log("train on the train split")
    result["train"] = timed(["train", str(work / "train.jsonl"), "--vocab",
                             str(work / "vocab.tsv"), "-o", str(bundle)],
                            runs / "train.log")
    for name, corpus in (("original", "test.jsonl"), ("noisy", "test-noisy.jsonl")):
        log(f"eval on the {name} test split")
        proc = timed(["eval", str(bundle), str(work / corpus), "--json"],
                     runs / f"eval-{name}.log", runs / f"eval-{name}.json")
        result[f"eval_{name}"] = {**eval_figures(runs / f"eval-{name}.json"), **proc}
    for scores in AUDITS:
        out = runs / f"audit-{scores}"
        log(f"audit the noisy test split, --scores {scores}")
        leakage = ["--split", f"train={work / 'train.jsonl'}"] if args.leakage else []
        proc = timed(["audit", str(work / "test-noisy.jsonl"), "--bundle", str(bundle),
                      "--scores", scores, *leakage, "-o", str(out), "--no-plots", "--force"],
                     runs / f"audit-{scores}.log")
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        figures = simulate_review(out / "review.csv", runs / f"review-{scores}.csv", truth)
        bounds = report["noise"].get("bounds") or {}
        fixed = runs / f"test-fixed-{scores}.jsonl"
        log(f"apply the simulated review of the {scores} audit; eval --labels-before")
        applied = timed(["apply-review", str(work / "test-noisy.jsonl"),
                         str(runs / f"review-{scores}.csv"), "-o", str(fixed), "--bundle",
                         str(bundle), "--force"], runs / f"apply-{scores}.log")
        moved = timed(["eval", str(bundle), str(fixed), "--labels-before",
                       str(work / "test-noisy.jsonl"), "--json"],
                      runs / f"eval-fixed-{scores}.log", runs / f"eval-fixed-{scores}.json")
        result[f"audit_{scores}"] = {
            **figures, "scores_source": report["scores"]["source"],
            "scores_seconds": report["timing"].get("scores"),
            "audit_seconds": report["timing"].get("total"),
            "wrong_rate_bound": bounds.get("wrong_rate"),
            "missing_rate_bound": bounds.get("missing_rate"),
            "leakage": report.get("leakage") if args.leakage else None,
            **proc, "compiled_kernels": compiled_kernels(runs / f"audit-{scores}.log"),
            "apply_review": applied,
            "eval_fixed": {**eval_figures(runs / f"eval-fixed-{scores}.json"), **moved}}
        log(f"audit {scores}: {result[f'audit_{scores}']}")
    result["run"] = {**ran,
                     "command": results_command(sys.orig_argv),
                     "date": datetime.date.today().isoformat(), "machine": _machine()}
    write_atomically(runs / "result.json", json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
