"""Label audit benchmark: find injected label noise, against cleanlab, and repair it.

    flock /tmp/tagsmith-heavy.lock python benchmarks/audit.py --dataset goemotions
    flock /tmp/tagsmith-heavy.lock python benchmarks/audit.py --dataset yso-finna-en

Steps (work directory ``benchmarks/work/audit/<dataset>/``):

1. Read the dataset's train/dev/test split (``xmc.read_splits``) and inject seeded
   noise into train: remove 10% of the given labels (they become *missing*) and add
   5% wrong ones (random documents, labels drawn by frequency), with
   :func:`tagsmith.audit.simulate.inject_label_noise`. The clean, noisy, dev and test
   corpora are written as TSV.
2. Each measured step runs as its own process under ``/usr/bin/time -v`` (wall time,
   peak RSS), through ``audit_runner.py``: train the model on the noisy corpus (the
   training an audit is compared with), audit the noisy corpus (as ``tagsmith audit``:
   out-of-sample scores, issues, duplicates, leakage into dev and test, the HTML/JSON
   report and review queue), train on the clean corpus.
3. Score the audit's candidates against the injected truth: precision and recall of
   the flagged *missing* and *wrong* candidates, average precision (area under the
   precision-recall curve) of the whole ranking over all injected errors.
4. Accept the top-N candidates that are injected errors, i.e. a reviewer who fixes
   real errors and rejects the rest, and train on the repaired corpus: P@1 on the clean
   test split for clean, noisy and repaired. N (``--top-n``) defaults to the number of
   injected errors (a review budget as large as the number of errors); ``flagged`` (the
   audit's flagged candidates, of the ``--review-kind`` only), ``<k>xinjected``
   (``2xinjected``: k times as many) or a number also work, comma-separated for several
   (the first is the headline ``p1_repaired``). A budget that reviews no candidate
   (``flagged`` when the audit flags nothing, or a ``--review-kind`` that leaves none of
   its candidates) is skipped, its P@1 null and the reason in ``skipped``
   (``p1_repaired_skipped`` for the headline).
5. GoEmotions (or ``--cleanlab``): cleanlab's multi-label ``find_label_issues`` on the
   same out-of-sample scores (dense, every label), in its own virtual environment under
   ``benchmarks/work/audit/venvs/cleanlab`` (``audit_cleanlab_runner.py``, .npz files).
   When cleanlab cannot be installed or fails, ``cleanlab_error`` says why and the
   audit's own figures are still printed and saved.

Ends by printing one JSON object, also saved as ``runs/result.json``; its ``run`` says how
it ran: the command line, date, machine, commit of this checkout, the folder tagsmith
was imported from and the versions of Python, numpy, scipy and scikit-learn
(``--results-md`` also writes the section ``## Label audit (issue 5): <dataset>`` of
RESULTS.md, with them).

``--skip train`` leaves out every training (steps 2 and 4: no P@1 figures, nor the
audit's time and memory against a training), ``--skip cleanlab`` step 5; on data a run
prepared (``data-<key>``, reused with the same ``--seed``, noise rates and
``--max-train-docs``) ``--skip train`` runs the audit step alone. Such a run lists the
steps in ``skipped_steps`` and saves its JSON as ``runs/result-skip-<steps>.json``,
keeping a whole run's ``result.json``; RESULTS.md (``--results-md``, ``--from-json``)
takes whole runs only, and ``--skip`` is refused with either (``--from-json`` runs no
step). ``--from-json`` takes the seed, noise rates and training seeds its section names
from the saved run's command, and refuses a run option given that differs from it; a
saved command it cannot read is said to be one, and the run taken as saved without it.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

#: the model trained for P@1 and for the cost comparison, per dataset (as benchmarks/xmc.py)
TRAIN = {
    "goemotions": ("linear", {}, {}),
    "reuters21578": ("linear", {}, {}),
    "yso-finna-en": ("tree", {"n_trees": 3, "prune_threshold": 0.1},
                     {"word_ngrams": [1, 2], "char_ngrams": None, "min_df": 2}),
}
#: audit options per dataset: cross-fitted logistic scores (probabilities, as cleanlab
#: expects) for the small label spaces; the default (leave-one-out kNN) for yso
AUDIT = {
    "goemotions": {"scores": "crossfit", "model": "linear",
                   "model_params": {"loss": "logistic"}, "n_folds": 5},
    "reuters21578": {"scores": "crossfit", "model": "linear",
                     "model_params": {"loss": "logistic"}, "n_folds": 5},
    "yso-finna-en": {},
}
#: the spellings of a ``--top-n`` review budget, as its error lists them
TOP_N_SPELLINGS = ("injected", "flagged", "<k>xinjected (k times the injected errors)",
                   "a positive number of candidates")


def parse_top_n(spec: str) -> list[str]:
    """The review budgets of a ``--top-n`` value (comma-separated, spaces around each
    ignored), as written: ``injected``, ``flagged``, ``<k>xinjected`` or a positive
    number; a ValueError naming ``--top-n`` and the budget otherwise, or for one given
    twice (in any spelling: ``injected`` is ``1xinjected``, ``07`` is ``7``). The one
    parser of ``audit.py`` and ``audit_repair_curve.py`` (they took different spellings).

    >>> parse_top_n("injected, 3xinjected,flagged,1000")
    ['injected', '3xinjected', 'flagged', '1000']
    >>> parse_top_n("2xinjectd")
    Traceback (most recent call last):
    ...
    ValueError: --top-n: '2xinjectd' is none of injected, flagged, <k>xinjected (k times \
the injected errors) or a positive number of candidates
    >>> parse_top_n("injected,1xinjected")
    Traceback (most recent call last):
    ...
    ValueError: --top-n: '1xinjected' is given twice (as 'injected')
    """
    names: list[str] = []
    seen: dict[tuple[str, int], str] = {}  # each budget, as (kind, count), and its spelling
    for part in spec.split(","):
        part = part.strip()
        budget = _top_n_budget(part)
        if budget is None:
            raise ValueError(f"--top-n: {part!r} is none of {', '.join(TOP_N_SPELLINGS[:-1])} "
                             f"or {TOP_N_SPELLINGS[-1]}")
        if budget in seen:  # the same trainings twice into the same files, one kept
            earlier = seen[budget]
            again = "" if earlier == part else f" (as {earlier!r})"
            raise ValueError(f"--top-n: {part!r} is given twice{again}")
        seen[budget] = part
        names.append(part)
    return names


def _top_n_budget(name: str) -> tuple[str, int] | None:
    """``(kind, count)`` of one budget of :func:`parse_top_n` (``("injected", 2)`` for
    ``2xinjected``), None for no budget. ASCII digits only: ``str.isdigit()`` let ``²``
    through to ``int()``, whose own ValueError named no option, after hours of training."""
    if name in ("injected", "flagged"):
        return name, 1
    found = re.fullmatch(r"([0-9]+)(xinjected)?", name)
    if found is None or int(found.group(1)) == 0:
        return None
    return ("injected" if found.group(2) else "candidates"), int(found.group(1))


def top_n_size(name: str, n_injected: int, n_flagged: int) -> int:
    """The number of candidates a budget of :func:`parse_top_n` reviews.

    >>> [top_n_size(name, 7, 3) for name in ("injected", "6xinjected", "flagged", "05")]
    [7, 42, 3, 5]
    """
    budget = _top_n_budget(name)
    if budget is None:
        raise ValueError(f"--top-n: {name!r} is no budget (see parse_top_n)")
    kind, count = budget
    return count * n_injected if kind == "injected" else n_flagged if kind == "flagged" \
        else count


CLEANLAB_PACKAGES = ["cleanlab==2.9.0", "numpy", "scipy"]
#: cleanlab's own virtual environment, as benchmarks/xmc.py makes the peers'
CLEANLAB_ENV = {"packages": CLEANLAB_PACKAGES, "check": "import cleanlab", "dist": "cleanlab"}
_STARTED = time.perf_counter()


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp} +{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr,
          flush=True)


# -- data ------------------------------------------------------------------------------------
def _write_corpus(path: Path, texts, Y, space) -> None:
    from tagsmith.data.corpus import write_tsv
    from tagsmith.data.document import Document

    Y = sp.csr_matrix(Y)
    docs = (Document(t, tuple(Y.indices[Y.indptr[i]:Y.indptr[i + 1]].tolist()))
            for i, t in enumerate(texts))
    write_tsv(docs, path, space)


def prepare(args, work: Path) -> Path:
    """Write the clean/noisy/dev/test corpora, the vocabulary and the injected truth."""
    from xmc import read_splits

    from tagsmith._plural import plural_s
    from tagsmith.audit.simulate import inject_label_noise

    parts = [args.dataset, args.seed, args.missing_rate, args.wrong_rate, args.max_train_docs]
    if args.max_train_docs and args.seed:
        # the slice is drawn with --seed since stop 57: a folder prepared before under
        # the same key holds seed 0's slice and was reused as this seed's (seed 0, and
        # runs of the whole split, keep their keys and folders)
        parts.append("slice drawn with the seed")
    key = hashlib.sha1(json.dumps(parts).encode()).hexdigest()
    data_dir = work / f"data-{key[:10]}"
    if (data_dir / "truth.npz").exists():
        log(f"data: cached in {data_dir}")
        return data_dir
    log(f"reading {args.dataset} from {args.data_dir}")
    # the slice drawn with --seed: every seed audited the same documents, so the spread
    # over seeds said nothing of which documents a small team happens to hold (the runs
    # of record take the whole training split, with no slice)
    splits = read_splits(args.dataset, args.data_dir, work,
                         args.max_train_docs, "random" if args.max_train_docs else "first",
                         slice_seed=args.seed)
    space = splits["label_space"]
    for split in ("train", "dev", "test"):
        # a TSV line cannot hold an empty text (Reuters-21578 has a few): leave those
        # documents out, and say so (GoEmotions and yso-finna-en have none)
        split_texts, split_Y = splits[split]
        keep = np.array([bool(t.strip()) for t in split_texts], bool)
        if not keep.all():
            n_empty = int((~keep).sum())
            log(f"{split}: {n_empty} document{plural_s(n_empty)} with an empty text left out")
            splits[split] = ([t for t, k in zip(split_texts, keep, strict=True) if k],
                             sp.csr_matrix(split_Y)[keep])
    from tagsmith.pipeline.train import MAX_OVERLAP

    train_texts = set(splits["train"][0])
    dev_in_train = sum(t in train_texts for t in splits["dev"][0])
    if dev_in_train >= MAX_OVERLAP * len(splits["dev"][0]):
        # Reuters-21578's dev is a sample of train (xmc.py tunes on it); training refuses a
        # dev that is mostly training documents, so those documents leave train. A few
        # shared texts (GoEmotions has 84 short ones, "Thank you!") only warn in
        # training and stay, so the corpus is the one of the runs of record
        dev_texts = set(splits["dev"][0])
        in_dev = np.array([t in dev_texts for t in splits["train"][0]], bool)
        n_in_dev = int(in_dev.sum())
        log(f"train: {n_in_dev} document{plural_s(n_in_dev)} also in dev left out")
        splits["train"] = ([t for t, d in zip(splits["train"][0], in_dev, strict=True) if not d],
                           sp.csr_matrix(splits["train"][1])[~in_dev])
    texts, Y = splits["train"]
    noise = inject_label_noise(Y, missing_rate=args.missing_rate, wrong_rate=args.wrong_rate,
                               seed=args.seed)
    log(f"noise: removed {noise.n_removed:,} of {Y.nnz:,} given labels, added "
        f"{noise.n_added:,} wrong ones")
    tmp = data_dir.with_name(data_dir.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    with open(tmp / "vocab.tsv", "w", encoding="utf-8") as out:
        for i in range(len(space)):
            name = " ".join(space.name_of(i).split()) or space.uri_of(i)
            out.write(f"<{space.uri_of(i)}>\t{name}\n")
    _write_corpus(tmp / "train-clean.tsv.gz", texts, Y, space)
    _write_corpus(tmp / "train-noisy.tsv.gz", texts, noise.Y, space)
    for split in ("dev", "test"):
        _write_corpus(tmp / f"{split}.tsv.gz", *splits[split], space)
    sp.save_npz(tmp / "Y_clean.npz", sp.csr_matrix(Y, dtype=np.float32))
    sp.save_npz(tmp / "Y_noisy.npz", sp.csr_matrix(noise.Y, dtype=np.float32))
    np.savez(tmp / "truth.npz", removed_indptr=noise.removed.indptr,
             removed_indices=noise.removed.indices, added_indptr=noise.added.indptr,
             added_indices=noise.added.indices, shape=np.array(Y.shape))
    (tmp / "meta.json").write_text(json.dumps({
        "dataset": args.dataset, "n_train": len(texts), "n_labels": len(space),
        "n_given": int(Y.nnz), "n_removed": noise.n_removed, "n_added": noise.n_added,
        "notes": splits["notes"]}, indent=1), encoding="utf-8")
    tmp.rename(data_dir)
    return data_dir


def load_truth(data_dir: Path):
    t = np.load(data_dir / "truth.npz")
    shape = tuple(t["shape"])
    removed = sp.csr_matrix((np.ones(len(t["removed_indices"]), bool), t["removed_indices"],
                             t["removed_indptr"]), shape=shape)
    added = sp.csr_matrix((np.ones(len(t["added_indices"]), bool), t["added_indices"],
                           t["added_indptr"]), shape=shape)
    return removed, added


# -- processes -------------------------------------------------------------------------------
def timed(cmd: list[str], log_path: Path, stdout_path: Path | None = None) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``; wall seconds and peak RSS (MB). Its stdout
    goes to ``stdout_path`` where given (a JSON result to read back), else to the log with
    its stderr."""
    full = ["/usr/bin/time", "-v", *cmd]
    started = time.perf_counter()
    with open(log_path, "w") as handle, \
            (open(stdout_path, "w") if stdout_path else handle) as out:
        rc = subprocess.call(full, stdout=out, stderr=handle, cwd=ROOT)
    wall = time.perf_counter() - started
    text = log_path.read_text(errors="replace")
    if rc != 0:
        raise SystemExit(f"step failed (exit {rc}): {' '.join(cmd)}\n{text[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return {"wall_s": round(wall, 1), "peak_rss_mb": round(int(rss.group(1)) / 1024) if rss
            else None}


def run_train(name: str, corpus: Path, data_dir: Path, runs: Path, args) -> dict:
    """Train on ``corpus`` with ``--train-seeds`` training seeds (from ``--seed``); ``p1``
    is their mean, ``p1_runs`` each; times and memory are the first training's."""
    model, params, features = TRAIN[args.dataset]
    results = []
    for offset in range(args.train_seeds):
        tag = name if offset == 0 else f"{name}-s{args.seed + offset}"
        out = runs / f"train-{tag}.json"
        log(f"train {model} on the {name} corpus (training seed {args.seed + offset})")
        proc = timed([sys.executable, str(HERE / "audit_runner.py"), "train", "--corpus",
                      str(corpus), "--vocab", str(data_dir / "vocab.tsv"), "--dev",
                      str(data_dir / "dev.tsv.gz"), "--test", str(data_dir / "test.tsv.gz"),
                      "--model", model, "--params", json.dumps(params), "--features",
                      json.dumps(features), "--seed", str(args.seed + offset), "--out",
                      str(out)], runs / f"train-{tag}.log")
        results.append({**json.loads(out.read_text()), **proc})
        log(f"train {tag}: {results[-1]}")
    result = dict(results[0])
    if len(results) > 1:
        result["p1_runs"] = [run["p1"] for run in results]
        result["p1"] = round(float(np.mean(result["p1_runs"])), 5)
    return result


def run_audit(data_dir: Path, runs: Path, args) -> dict:
    out_dir = runs / "audit"
    options = {**AUDIT[args.dataset], **json.loads(args.audit_options), "seed": args.seed}
    log(f"audit the noisy corpus ({options})")
    proc = timed([sys.executable, str(HERE / "audit_runner.py"), "audit", "--corpus",
                  str(data_dir / "train-noisy.tsv.gz"), "--vocab", str(data_dir / "vocab.tsv"),
                  "--split", f"dev={data_dir / 'dev.tsv.gz'}", "--split",
                  f"test={data_dir / 'test.tsv.gz'}", "--options", json.dumps(options),
                  "--out-dir", str(out_dir)], runs / "audit.log")
    summary = {**json.loads((out_dir / "summary.json").read_text()), **proc,
               "options": options}
    log(f"audit: {summary['audit_seconds']} s, peak {proc['peak_rss_mb']} MB")
    return summary


# -- scoring ---------------------------------------------------------------------------------
def score_audit(issues, removed, added) -> dict:
    from tagsmith.audit.detect import MISSING, WRONG
    from tagsmith.audit.simulate import average_precision, candidate_hits

    doc, label, kind, flagged = issues["doc"], issues["label"], issues["kind"], \
        issues["flagged"]
    hit_missing = candidate_hits(doc, label, removed) & (kind == MISSING)
    hit_wrong = candidate_hits(doc, label, added) & (kind == WRONG)
    hits = hit_missing | hit_wrong
    rank = -np.arange(len(doc))  # the audit's order (probability, then ties)
    out = {"pr_auc": round(average_precision(rank, hits, removed.nnz + added.nnz), 4)}
    for name, k, h, total in (("missing", MISSING, hit_missing, removed.nnz),
                              ("wrong", WRONG, hit_wrong, added.nnz)):
        chosen = flagged & (kind == k)
        out[f"{name}_precision"] = round(float(h[chosen].sum() / max(chosen.sum(), 1)), 4)
        out[f"{name}_recall"] = round(float(h[chosen].sum() / max(total, 1)), 4)
        out[f"n_flagged_{name}"] = int(chosen.sum())
        of_kind = kind == k
        out[f"{name}_pr_auc"] = round(average_precision(rank[of_kind], h[of_kind], total), 4)
    return out, hits


def repaired_labels(Y_noisy, issues, hits, top_n: int) -> tuple[sp.csr_matrix, dict]:
    """Accept the injected errors among the top-N candidates: add the missing ones back,
    remove the wrong ones."""
    from tagsmith.audit.detect import MISSING

    chosen = np.arange(min(top_n, len(hits)))
    accept = chosen[hits[chosen]]
    Y = sp.lil_matrix(Y_noisy, dtype=np.float32)
    kinds = issues["kind"][accept]
    for d, lab, k in zip(issues["doc"][accept], issues["label"][accept], kinds, strict=True):
        Y[int(d), int(lab)] = 1.0 if k == MISSING else 0.0
    Y = sp.csr_matrix(Y)
    Y.eliminate_zeros()
    # missing labels restored to documents the noise left without any label (a model
    # trains those as negatives of every label: the noise turned them into "no subject")
    unlabelled = np.diff(sp.csr_matrix(Y_noisy).indptr) == 0
    restored = unlabelled[issues["doc"][accept]] & (kinds == MISSING)
    return Y, {"top_n": int(len(chosen)), "accepted": int(len(accept)),
               "accepted_missing": int((kinds == MISSING).sum()),
               "accepted_wrong": int((kinds != MISSING).sum()),
               "accepted_missing_in_unlabelled_docs": int(restored.sum()),
               "unlabelled_docs_relabelled": int(len(np.unique(issues["doc"][accept][restored])))}


def review_budgets(issues, hits, top_n: str, review_kind: str,
                   n_injected: int) -> tuple[dict, dict, np.ndarray]:
    """The candidates a reviewer of ``--review-kind`` goes through (all, or those of one
    kind, in the audit's order) with their ``hits``, and the size of each ``--top-n``
    budget over them: ``flagged`` counts the flagged candidates of that kind only (it
    counted every kind, so ``flagged`` with ``--review-kind missing`` reviewed as many
    missing candidates as the audit flagged of both kinds, past the flagged ones).

    >>> issues = {"doc": np.arange(5), "label": np.zeros(5, int),
    ...           "kind": np.array([0, 1, 0, 1, 1]),
    ...           "flagged": np.array([True, True, True, False, False])}
    >>> hits = np.array([True, False, True, True, False])
    >>> budgets, reviewed, reviewed_hits = review_budgets(issues, hits, "flagged,injected",
    ...                                                   "wrong", 4)
    >>> budgets, reviewed["doc"].tolist(), reviewed_hits.tolist()
    ({'flagged': 1, 'injected': 4}, [1, 3, 4], [False, True, False])
    """
    from tagsmith.audit.detect import MISSING, WRONG

    reviewed, reviewed_hits, flagged = issues, hits, issues["flagged"]
    if review_kind != "all":
        keep = issues["kind"] == (MISSING if review_kind == "missing" else WRONG)
        reviewed = {k: issues[k][keep] for k in ("doc", "label", "kind")}
        reviewed_hits, flagged = hits[keep], flagged[keep]
    n_flagged = int(flagged.sum())
    budgets = {name: top_n_size(name, n_injected, n_flagged) for name in top_n.split(",")}
    return budgets, reviewed, reviewed_hits


def train_repairs(budgets: dict, Y_noisy, reviewed, reviewed_hits, texts, space,
                  data_dir: Path, runs: Path, args, train=None) -> dict:
    """Per ``--top-n`` budget, the corpus repaired by reviewing its top-N candidates, and
    a model trained on it: acceptance counts, ``p1``, ``train_seconds`` (and ``p1_runs``).

    A budget that reviews no candidate (0, as ``flagged`` is when the audit flagged
    nothing, or a ``--review-kind`` that leaves none of the candidates) reviews none:
    its "repair" was the noisy corpus trained again, reported as a repair's P@1. It is
    skipped, with the reason logged and kept (``skipped``), its ``p1`` and
    ``train_seconds`` null. ``train``: :func:`run_train` (another for a test)."""
    from tagsmith._plural import plural_s

    train = run_train if train is None else train
    repaired_runs: dict = {}
    for spec in args.top_n.split(","):
        top_n = budgets[spec] if spec in budgets else int(spec)
        if min(top_n, len(reviewed_hits)) == 0:
            budget = f"{top_n} candidate{plural_s(top_n)}"
            if top_n == 0:
                why = "0 candidates" + (" (the audit flagged none)" if spec == "flagged"
                                        else "")
            elif args.review_kind != "all":
                why = (f"{budget}, but --review-kind {args.review_kind} leaves none of the "
                       "audit's candidates")
            else:
                why = f"{budget}, but the audit listed no candidate"
            reason = (f"--top-n {spec} is {why}: nothing reviewed, so the repaired corpus "
                      "would be the noisy one")
            log(f"repair with --top-n {spec}: skipped: {reason}; its P@1 is null")
            _, acceptance = repaired_labels(Y_noisy, reviewed, reviewed_hits, 0)
            repaired_runs[spec] = {**acceptance, "p1": None, "train_seconds": None,
                                   "skipped": reason}
            continue
        Y_repaired, acceptance = repaired_labels(Y_noisy, reviewed, reviewed_hits, top_n)
        tag = spec if args.review_kind == "all" else f"{spec}-{args.review_kind}"
        corpus = runs / f"train-repaired-{tag}.tsv.gz"
        _write_corpus(corpus, texts, Y_repaired, space)
        trained = train(f"repaired-{tag}", corpus, data_dir, runs, args)
        repaired_runs[spec] = {**acceptance, "p1": trained["p1"],
                               "train_seconds": trained["train_seconds"]}
        if "p1_runs" in trained:
            repaired_runs[spec]["p1_runs"] = trained["p1_runs"]
    return repaired_runs


def repair_figures(issues: dict, hits, removed, added, Y_noisy, train_noisy: dict,
                   audit: dict, data_dir: Path, runs: Path, args) -> dict:
    """The figures of the trainings (``--skip train`` leaves them out): the repaired
    corpora of every ``--top-n`` budget trained, then the clean one; P@1 of each, the
    share of the lost P@1 a repair recovers and the audit's time and memory against
    the noisy training (``train_noisy``, trained before the audit)."""
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.io import read_labelled

    space = load_vocabulary(data_dir / "vocab.tsv")
    texts = read_labelled(data_dir / "train-noisy.tsv.gz", space).texts
    budgets, reviewed, reviewed_hits = review_budgets(issues, hits, args.top_n,
                                                      args.review_kind,
                                                      removed.nnz + added.nnz)
    repaired_runs = train_repairs(budgets, Y_noisy, reviewed, reviewed_hits, texts, space,
                                  data_dir, runs, args)
    train_repaired = repaired_runs[args.top_n.split(",")[0]]
    acceptance = {k: v for k, v in train_repaired.items()
                  if k not in ("p1", "p1_runs", "train_seconds", "skipped")}
    train_clean = run_train("clean", data_dir / "train-clean.tsv.gz", data_dir, runs, args)
    lost = train_clean["p1"] - train_noisy["p1"]

    def recovered(p1):
        return round((p1 - train_noisy["p1"]) / lost, 3) if lost > 0 and p1 is not None \
            else None

    # every training in this run fits the same model on about the same data: their spread
    # shows how much the shared machine moves a single timing
    train_times = [train_noisy["train_seconds"], train_clean["train_seconds"],
                   *[run["train_seconds"] for run in repaired_runs.values()
                     if run["train_seconds"] is not None]]
    return {
        "train_seconds": train_noisy["train_seconds"],
        "train_peak_rss_mb": train_noisy["peak_rss_mb"],
        "audit_over_train_time": round(audit["audit_seconds"] / train_noisy["train_seconds"], 3),
        "train_seconds_all_runs": train_times,
        "train_seconds_median": float(np.median(train_times)),
        "audit_over_train_memory": round(audit["peak_rss_mb"] / train_noisy["peak_rss_mb"], 3),
        "p1_clean": train_clean["p1"], "p1_noisy": train_noisy["p1"],
        "p1_repaired": train_repaired["p1"], "train_seeds": args.train_seeds,
        **({"p1_clean_runs": train_clean["p1_runs"], "p1_noisy_runs": train_noisy["p1_runs"],
            "p1_repaired_runs": train_repaired.get("p1_runs")} if args.train_seeds > 1
           else {}),
        "review_kind": args.review_kind,
        "p1_recovered_fraction": recovered(train_repaired["p1"]),
        **acceptance,
        **({"p1_repaired_skipped": train_repaired["skipped"]} if "skipped" in train_repaired
           else {}),
        "p1_repaired_by_budget": {spec: {**run, "recovered_fraction": recovered(run["p1"])}
                                  for spec, run in repaired_runs.items()},
        "train_model": TRAIN[args.dataset][:2],
    }


def cleanlab_venv(work: Path) -> Path:
    """The python of cleanlab's virtual environment (``xmc.ensure_env``: installed when
    it does not import cleanlab); a ``RuntimeError`` naming the failed step."""
    from xmc import ensure_env

    return Path(ensure_env("cleanlab", work.parent / "venvs", CLEANLAB_ENV)["python"])


def run_cleanlab(issues, Y_noisy, removed, added, work: Path, runs: Path) -> dict:
    """cleanlab's figures on the audit's scores; ``{"cleanlab_error": ...}`` when cleanlab
    cannot be installed or fails (the audit's own figures are kept)."""
    try:
        return _run_cleanlab(issues, Y_noisy, removed, added, work, runs)
    except (RuntimeError, SystemExit) as exc:  # timed() exits on a failed step
        log(f"cleanlab: FAILED: {exc}")
        return {"cleanlab_error": str(exc)}


def _run_cleanlab(issues, Y_noisy, removed, added, work: Path, runs: Path) -> dict:
    from tagsmith.audit.simulate import average_precision
    from tagsmith.topk import TopK

    python = cleanlab_venv(work)
    n_labels = Y_noisy.shape[1]
    topk = TopK(issues["topk_indices"], issues["topk_scores"], n_labels)
    if topk.k < n_labels:
        return {"cleanlab_error": "the audit's scores do not cover every label"}
    probs = topk.to_csr().toarray()
    Y = sp.csr_matrix(Y_noisy != 0)
    np.savez(runs / "cleanlab-in.npz", pred_probs=probs, labels_indptr=Y.indptr,
             labels_indices=Y.indices)
    log("cleanlab: find_label_issues on the same scores")
    proc = timed([str(python), str(HERE / "audit_cleanlab_runner.py"),
                  str(runs / "cleanlab-in.npz"), str(runs / "cleanlab-out.npz")],
                 runs / "cleanlab.log")
    out = np.load(runs / "cleanlab-out.npz")
    mask, quality = out["issue_mask"], out["pair_quality"]
    given = Y.toarray()
    truth = (removed.toarray() & ~given) | (added.toarray() & given)
    n_errors = removed.nnz + added.nnz
    # cleanlab's ranking of (document, label) pairs: flagged first, then by its per-class
    # label quality (self-confidence; low = likely wrong)
    flat_truth = truth.ravel()
    ranked = average_precision(-quality.ravel() + 2.0 * mask.ravel(), flat_truth, n_errors)
    quality_only = average_precision(-quality.ravel(), flat_truth, n_errors)
    result = {"cleanlab_pr_auc": round(ranked, 4),
              "cleanlab_pr_auc_quality_only": round(quality_only, 4),
              "cleanlab_version": str(out["version"]),
              "cleanlab_seconds": round(float(out["seconds"]), 2),
              "cleanlab_peak_rss_mb": proc["peak_rss_mb"]}
    for name, sel, t, total in (("missing", mask & ~given, removed.toarray(), removed.nnz),
                                ("wrong", mask & given, added.toarray(), added.nnz)):
        result[f"cleanlab_{name}_precision"] = round(float(t[sel].sum() / max(sel.sum(), 1)), 4)
        result[f"cleanlab_{name}_recall"] = round(float(t[sel].sum() / max(total, 1)), 4)
    # per document (cleanlab's native output): any injected error in the document
    doc_truth = truth.any(axis=1)
    result["cleanlab_doc_pr_auc"] = round(average_precision(
        -out["doc_quality"] + 2.0 * out["doc_mask"], doc_truth, int(doc_truth.sum())), 4)
    result["doc_pr_auc"] = round(average_precision(-issues["doc_quality"], doc_truth,
                                                   int(doc_truth.sum())), 4)
    return result


# -- main ------------------------------------------------------------------------------------
def check_noise_injected(n_removed: int, n_added: int, n_given: int, args) -> None:
    """Exit, before any training, when the noise rates of a small corpus round to no
    injected error at all (``--max-train-docs 5``, say): every figure scores the audit
    against the injected errors, and the review budgets count them.

    >>> import argparse
    >>> check_noise_injected(0, 0, 4, argparse.Namespace(missing_rate=0.1, wrong_rate=0.05))
    Traceback (most recent call last):
    ...
    SystemExit: no label noise was injected: --missing-rate 0.1 and --wrong-rate 0.05 of \
the 4 given training labels round to 0 removed and 0 added; give higher rates or more \
documents (--max-train-docs)
    """
    from tagsmith._plural import plural_s

    if n_removed + n_added:
        return
    raise SystemExit(f"no label noise was injected: --missing-rate {args.missing_rate:g} and "
                     f"--wrong-rate {args.wrong_rate:g} of the {n_given:,} given training "
                     f"label{plural_s(n_given)} round to 0 removed and 0 added; "
                     "give higher rates or more documents (--max-train-docs)")


SKIPPABLE = ("train", "cleanlab")


def check_skip(parser: argparse.ArgumentParser, args) -> set[str]:
    """``--skip``'s steps, checked before any work: an unknown one (a typo would run the
    step), a skipped step asked for (``--cleanlab``) and ``--results-md``, whose section
    records a whole run, and ``--from-json``, which runs no step, are refused, and so are
    --train-seeds, --top-n and --review-kind with ``--skip train`` (they set only the
    trainings it leaves out)."""
    from xmc import skip_steps

    skip = skip_steps(parser, args.skip, SKIPPABLE)
    if skip and args.from_json is not None:  # it wrote the saved run, --skip unread
        parser.error(f"--from-json with --skip {','.join(sorted(skip))}: --from-json runs no "
                     "step, it writes RESULTS.md from a saved whole run; drop --skip")
    if "cleanlab" in skip and args.cleanlab:
        parser.error("--cleanlab and --skip cleanlab: choose one")
    if "train" in skip:  # options of the trainings alone were accepted and had no effect
        given = [f"{option} {value}" for option, value, default in (
            ("--train-seeds", args.train_seeds, 1), ("--top-n", args.top_n, "injected"),
            ("--review-kind", args.review_kind, "all")) if value != default]
        if given:
            parser.error(f"{', '.join(given)} and --skip train: they set the trainings "
                         "--skip train leaves out; drop one")
    if skip and args.results_md:
        parser.error(f"--results-md with --skip {','.join(sorted(skip))}: RESULTS.md records "
                     "whole runs; drop --skip (or --results-md)")
    return skip


def check_run_options(parser: argparse.ArgumentParser, args) -> None:
    """Refuse bad noise rates and ``--audit-options`` before any work: the rates were
    read after the corpus (an InvalidParameterError traceback), the options only by the
    audit step, after the noisy training (a JSONDecodeError or TypeError at its end)."""
    from tagsmith._params import check_fraction
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.audit import AuditOptions

    for option, value in (("--missing-rate", args.missing_rate),
                          ("--wrong-rate", args.wrong_rate)):
        try:
            check_fraction(option.lstrip("-").replace("-", "_"), value)
        except InvalidParameterError:
            parser.error(f"{option} must be a number in [0, 1), not {value:g}")
    if args.missing_rate == 0 and args.wrong_rate == 0:
        # no noise: the precision, recall and PR-AUC had no injected error to find, the
        # review budget "injected" was 0 candidates (the unrepaired corpus trained as the
        # "repair") and the recovered fraction of an unchanged P@1 was None
        parser.error("--missing-rate and --wrong-rate are both 0: no label noise would be "
                     "injected, so the audit has no injected error to find and --top-n "
                     "injected would review 0 candidates; give either rate above 0")
    try:
        overrides = json.loads(args.audit_options)
    except ValueError as error:
        parser.error(f"--audit-options is not JSON ({error}): {args.audit_options}")
    if not isinstance(overrides, dict):
        parser.error(f"--audit-options must be a JSON object of AuditOptions fields, not "
                     f"{args.audit_options}")
    try:
        AuditOptions(**{**AUDIT[args.dataset], **overrides, "seed": args.seed}).validate()
    except TypeError as error:  # an unknown field
        parser.error(f"--audit-options: {error}")
    except InvalidParameterError as error:
        parser.error(f"--audit-options: {error}")


#: the options of a run: ``--from-json`` runs nothing, so it takes none of them
RUN_OPTIONS = ("seed", "missing_rate", "wrong_rate", "top_n", "review_kind", "audit_options",
               "max_train_docs", "cleanlab", "train_seeds")
#: those RESULTS.md's section names (its title and noise line)
DESCRIBED = ("seed", "missing_rate", "wrong_rate", "train_seeds")


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _as_run(dest: str, value):
    """A run option's value as the run read it: ``--audit-options`` its JSON object
    (``{"k": 50}`` and ``{"k":50}`` are one run; a text that is no JSON as written)."""
    if dest == "audit_options":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def check_from_json_options(parser: argparse.ArgumentParser, args, saved: dict) -> None:
    """``--from-json`` runs no step: the run options given with it were read by nothing,
    except the seed, noise rates and training seeds, which RESULTS.md's section printed
    as the saved run's whatever it ran with (``--from-json r.json --seed 9`` wrote "seed
    9" beside figures of seed 0). They are now read from the saved run's command
    (``run.command``) into ``args``, and an option given that differs from the run's
    (or, of a result saved without its command, any but those four) is refused, naming
    it."""
    import shlex

    given = {dest for dest in RUN_OPTIONS
             if getattr(args, dest) != parser.get_default(dest)
             and not (dest == "top_n" and args.top_n == ",".join(parse_top_n(
                 parser.get_default(dest))))}
    command = (saved.get("run") or {}).get("command") if isinstance(saved, dict) else None
    ran = None
    if isinstance(command, str):
        # a command that does not parse describes nothing: argparse printed its usage and
        # "error:" (of a command line not given), and the run went on as one saved
        # without its command, saying nothing of it; now said as such
        saved_parser = build_parser()

        def unreadable(message: str):
            raise ValueError(message)

        saved_parser.error = unreadable
        try:
            words = shlex.split(command)  # unbalanced quotes: a ValueError
            at = next((i for i, word in enumerate(words) if word.endswith("audit.py")), None)
            if at is None:
                raise ValueError("it names no audit.py")
            ran, _ = saved_parser.parse_known_args(words[at + 1:])
            ran.top_n = ",".join(parse_top_n(ran.top_n))
        except (SystemExit, ValueError) as exc:
            ran = None
            print(f"{parser.prog}: warning: --from-json {args.from_json}: its run.command "
                  f"could not be read ({exc}); taken as a run saved without its command: "
                  f"{', '.join(map(_flag, DESCRIBED))} as given here (or their defaults), "
                  "any other run option refused", file=sys.stderr)
    if ran is None:
        refused = sorted(given - set(DESCRIBED))
        if refused:
            parser.error(f"--from-json with {', '.join(map(_flag, refused))}: --from-json "
                         "runs no step, it writes RESULTS.md from a saved run; drop "
                         f"{'it' if len(refused) == 1 else 'them'}")
        return
    differ = sorted(dest for dest in given
                    if _as_run(dest, getattr(args, dest)) != _as_run(dest, getattr(ran, dest)))
    if differ:
        parser.error(f"--from-json with {', '.join(map(_flag, differ))}: --from-json runs "
                     f"no step, it writes RESULTS.md from a saved run, which ran with "
                     f"{', '.join(f'{_flag(d)} {getattr(ran, d)}' for d in differ)} "
                     f"({args.from_json}'s run.command); drop "
                     f"{'it' if len(differ) == 1 else 'them'}")
    for dest in DESCRIBED:  # the section describes the run saved, not this command line
        setattr(args, dest, getattr(ran, dest))


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import dataset_arguments

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dataset_arguments(parser, sorted(TRAIN), "audit",
                      "where the corpora, trainings and results go, under <dataset>/")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the injected noise, the audit, the first training "
                        "and the --max-train-docs slice (default: %(default)s)")
    parser.add_argument("--missing-rate", type=float, default=0.10,
                        help="share of the given training labels removed (default: "
                        "%(default)s)")
    parser.add_argument("--wrong-rate", type=float, default=0.05,
                        help="wrong labels added, as a share of the given ones (default: "
                        "%(default)s)")
    parser.add_argument("--top-n", default="injected",
                        help="Candidates a simulated reviewer looks at: injected (as many as "
                        "injected errors), <k>xinjected (k times as many, 2xinjected say), "
                        "flagged or a number; comma-separated for several, the first the headline "
                        "(default: %(default)s).")
    parser.add_argument("--review-kind", choices=["all", "missing", "wrong"], default="all",
                        help="Candidates the simulated reviewer reads: the audit's whole "
                        "ranking (all) or only its missing or wrong candidates, in the "
                        "audit's order (--top-n flagged: the flagged candidates of that kind; "
                        "default: %(default)s).")
    parser.add_argument("--audit-options", default="{}", help="JSON AuditOptions overrides, e.g. "
                        "'{\"k\": 50}' (default: %(default)s, the dataset's own options).")
    parser.add_argument("--max-train-docs", type=int, default=None,
                        help="A random slice of N training documents, drawn with --seed "
                        "(development only; default: all).")
    parser.add_argument("--cleanlab", action="store_true", help="Also run cleanlab (default: "
                        "on GoEmotions only; needs scores for every label).")
    parser.add_argument("--train-seeds", type=int, default=1,
                        help="Train every corpus with this many training seeds (--seed, "
                        "--seed + 1, ...) and report mean P@1: one seed moves yso-finna-en's "
                        "P@1 by about 0.2 points, as much as the noise costs (default: "
                        "%(default)s).")
    parser.add_argument("--results-md", action="store_true",
                        help="also write this dataset's section of benchmarks/RESULTS.md "
                        "(default: off)")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="Only write RESULTS.md from a saved result (runs/result.json; "
                        "default: none, run the benchmark).")
    parser.add_argument("--skip", default="",
                        help="steps not run, comma-separated: train (the noisy, repaired and "
                        "clean trainings: no P@1 figures), cleanlab (the peer); on data a "
                        "run prepared, --skip train runs the audit step alone (default: "
                        "none, run them all)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.train_seeds < 1:
        parser.error(f"--train-seeds must be 1 or more, not {args.train_seeds}")
    if args.max_train_docs is not None and args.max_train_docs < 1:  # failed after the reading
        parser.error(f"--max-train-docs must be 1 or more, not {args.max_train_docs}")
    try:  # checked before hours of training, not after
        args.top_n = ",".join(parse_top_n(args.top_n))  # its budgets' names, stripped
    except ValueError as error:
        parser.error(str(error))
    check_run_options(parser, args)
    args.skip = check_skip(parser, args)
    if args.from_json is not None:
        try:  # a FileNotFoundError or JSONDecodeError traceback before
            saved = json.loads(args.from_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or error
            parser.error(f"--from-json {args.from_json}: {reason} (give the runs/result.json "
                         "of a finished run)")
        if isinstance(saved, dict) and saved.get("skipped_steps"):  # a KeyError before
            parser.error(f"--from-json {args.from_json}: a run with --skip "
                         f"{','.join(saved['skipped_steps'])}, not a whole one: RESULTS.md "
                         "holds whole runs")
        check_from_json_options(parser, args, saved)
        write_results_md(saved, args)
        return
    from xmc import make_data_work_dir, provenance

    # the commit, tagsmith's folder and versions this run starts from, read now: read
    # when the run ended (hours later), a checkout moved meanwhile was recorded as the
    # code that made the figures
    ran = provenance(["numpy", "scipy", "scikit-learn"])
    # data prepared in the work folder (data-<key>/truth.npz) needs no dataset
    work = make_data_work_dir(args.dataset, args.data_dir, args.work_dir / args.dataset)
    data_dir = prepare(args, work)
    runs = data_dir / "runs"
    runs.mkdir(exist_ok=True)
    removed, added = load_truth(data_dir)
    Y_noisy = sp.load_npz(data_dir / "Y_noisy.npz").tocsr()
    check_noise_injected(removed.nnz, added.nnz, Y_noisy.nnz - added.nnz + removed.nnz, args)
    train_noisy = None if "train" in args.skip else run_train(
        "noisy", data_dir / "train-noisy.tsv.gz", data_dir, runs, args)
    audit = run_audit(data_dir, runs, args)
    issues = dict(np.load(runs / "audit" / "issues.npz"))
    figures, hits = score_audit(issues, removed, added)
    result = {
        "dataset": args.dataset, **figures,
        "audit_seconds": audit["audit_seconds"], "audit_peak_rss_mb": audit["peak_rss_mb"],
        "n_injected_missing": int(removed.nnz), "n_injected_wrong": int(added.nnz),
        # the noise rates the audit reports against the injected ones (wrong per given
        # label of the noisy corpus, missing per label of the clean one); the corpus's
        # own errors come on top of the injected ones
        "injected_wrong_rate": round(added.nnz / max(Y_noisy.nnz, 1), 5),
        "injected_missing_rate": round(removed.nnz / max(Y_noisy.nnz - added.nnz
                                                         + removed.nnz, 1), 5),
        "cl_wrong_rate": audit["noise"]["wrong_rate"],
        "cl_missing_rate": audit["noise"]["missing_rate"],
        # the bounds as measured, withheld by the report as not informative or not
        "wrong_rate_bound": (audit["noise"].get("bounds")
                             or audit["noise"].get("withheld_bounds") or {}).get("wrong_rate"),
        "missing_rate_bound": (audit["noise"].get("bounds")
                               or audit["noise"].get("withheld_bounds") or {}).get(
                                   "missing_rate"),
        "bounds_note": audit["noise"].get("bounds_note"),
        "audit_scores": audit["scores"], "audit_timing": audit["timing"],
        "audit_noise_estimates": audit["noise"], "duplicates": audit["duplicates"],
        "leakage": audit["leakage"], "audit_options": audit["options"],
    }
    if train_noisy is not None:
        result.update(repair_figures(issues, hits, removed, added, Y_noisy, train_noisy, audit,
                                     data_dir, runs, args))
    if "cleanlab" not in args.skip and (args.cleanlab or args.dataset == "goemotions"):
        result.update(run_cleanlab(issues, Y_noisy, removed, added, work, runs))
    if args.skip:
        result["skipped_steps"] = sorted(args.skip)
    # how and where it ran, for RESULTS.md written later from this file (--from-json)
    result["run"] = {**ran,
                     "command": results_command(sys.orig_argv),
                     "date": datetime.date.today().isoformat(), "machine": _machine()}
    # a run with --skip keeps the whole run's result.json (audit_repair_curve.py and
    # --from-json read it) and writes its own beside it
    name = f"result-skip-{'-'.join(sorted(args.skip))}.json" if args.skip else "result.json"
    _write_atomically(runs / name, json.dumps(result, indent=1))
    if args.results_md:
        write_results_md(result, args)
    print(json.dumps(result))


def _cpu() -> str:
    import os

    try:
        text = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.+)", text).group(1).strip()  # type: ignore
    except (OSError, AttributeError):
        model = platform.machine()
    return f"{os.cpu_count()} cores ({model})"


def results_command(argv: list[str]) -> str:
    """The command line as the user ran it (``sys.orig_argv``: the interpreter as typed,
    its options, the script and every option, shell-quoted), without ``--from-json``.
    A wrapper around the process (``flock``, ``nice``, ``/usr/bin/time``) is not part
    of it: it recorded ``flock /tmp/tagsmith-heavy.lock python benchmarks/audit.py`` and
    ``--results-md`` whatever was run.

    >>> print(results_command(["python", "benchmarks/audit.py", "--dataset", "goemotions",
    ...                        "--audit-options", '{"k": 5}', "--from-json", "r.json"]))
    python benchmarks/audit.py --dataset goemotions --audit-options '{"k": 5}'
    """
    import shlex

    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--from-json":
            skip = True
        elif not arg.startswith("--from-json="):
            kept.append(arg)
    return shlex.join(kept)


def _machine() -> str:
    return (f"{_cpu()}, Python {platform.python_version()}; other engineers' jobs share "
            "the machine (heavy jobs serialised by the lock)")


def write_results_md(result: dict, args, path: Path = HERE / "RESULTS.md") -> None:
    """Write (or replace) this dataset's section of RESULTS.md (``path``).

    The command, date and machine are those of the run (``result["run"]``), also when
    written later with ``--from-json``; a result saved before they were recorded gets
    this call's.
    """
    from xmc import provenance_lines

    run = result.get("run", {})
    title = f"## Label audit (issue 5): {args.dataset}"
    if args.train_seeds > 1:  # its own section: the single-seed one keeps its notes
        title += f" ({args.train_seeds} training seeds, noise seed {args.seed})"
    lines = [title, "",
             f"- **Command**: `{run.get('command') or results_command(sys.orig_argv)}`",
             f"- **Peer**: cleanlab {result['cleanlab_version']} (its own venv)"
             if "cleanlab_version" in result
             else f"- **Peer**: cleanlab not run: {result['cleanlab_error']}"
             if "cleanlab_error" in result
             else "- **Peer**: none (cleanlab needs scores for every label)",
             f"- **Machine**: {run.get('machine') or _machine()}",
             f"- **Date**: {run.get('date') or datetime.date.today().isoformat()}",
             *provenance_lines(run),
             f"- **Noise**: {100 * args.missing_rate:g}% of the given training labels removed "
             f"({result['n_injected_missing']:,}), {100 * args.wrong_rate:g}% wrong ones added "
             f"({result['n_injected_wrong']:,}; labels drawn by frequency), seed {args.seed}",
             f"- **Audit scores**: {result['audit_scores']['source']} "
             f"({result['audit_scores'].get('model')}), options "
             f"`{json.dumps(result['audit_options'])}`",
             f"- **Model trained** (noisy, clean, repaired): `{result['train_model']}`",
             "", "| figure | value |", "|---|---|"]
    keys = ["missing_precision", "missing_recall", "wrong_precision", "wrong_recall", "pr_auc",
            "missing_pr_auc", "wrong_pr_auc", "n_flagged_missing", "n_flagged_wrong",
            "injected_wrong_rate", "wrong_rate_bound", "cl_wrong_rate",
            "injected_missing_rate", "missing_rate_bound", "cl_missing_rate",
            "cleanlab_pr_auc", "cleanlab_pr_auc_quality_only", "cleanlab_missing_precision",
            "cleanlab_missing_recall", "cleanlab_wrong_precision", "cleanlab_wrong_recall",
            "doc_pr_auc", "cleanlab_doc_pr_auc", "audit_seconds", "train_seconds",
            "train_seconds_median", "train_seconds_all_runs",
            "audit_over_train_time", "audit_peak_rss_mb", "train_peak_rss_mb",
            "audit_over_train_memory", "p1_clean", "p1_noisy", "p1_repaired",
            "p1_recovered_fraction", "train_seeds", "p1_clean_runs", "p1_noisy_runs",
            "p1_repaired_runs", "top_n", "accepted"]
    lines += [f"| {k} | {result[k]} |" for k in keys if k in result]
    for spec, run in result["p1_repaired_by_budget"].items():
        lines.append(f"| p1_repaired with N = {spec} ({run['top_n']:,} reviewed, "
                     f"{run['accepted']:,} accepted) | {run['p1']} "
                     f"(recovered {run['recovered_fraction']})"
                     + (f", runs {run['p1_runs']}" if "p1_runs" in run else "") + " |")
    lines.append("")
    text = path.read_text(encoding="utf-8")
    section = "\n".join(lines) + "\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    _write_atomically(path, text)


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` only once it is fully written: a run dying mid-write
    left a cut-off result.json (which --from-json and audit_repair_curve.py then read)
    or RESULTS.md. audit_runner.py's, which writes the steps' results alike."""
    from audit_runner import write_atomically

    write_atomically(path, text)


if __name__ == "__main__":
    main()
