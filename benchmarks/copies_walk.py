"""Labels planted on copies of one text: what the audit flags with and without the copies rule.

    python benchmarks/copies_walk.py --dataset goemotions

The figures of README's "Copies that disagree" (work directory
``benchmarks/work/copies_walk/<dataset>/``):

1. Read the dataset's training split (``xmc.read_splits``) and find its texts of
   copies (exact duplicates, :func:`tagsmith.audit.duplicates.exact_groups`; blank texts
   are nobody's copies). Take a slice of ``--n-docs`` documents holding every copy and
   a ``--seed``-ed draw of the others, in the file's order.
2. Plant one label on the copies of each text whose copies agree (every copy given the
   same labels), alternating over those texts in order: a label of the text removed
   from one copy, or a label it lacks (drawn by frequency) added to one copy. Planted
   on one of three or more copies, the copies' majority says which side is wrong (a
   *missing* or a *wrong* row); on one of two copies it is a tie (one copy is wrong,
   not which). Texts whose copies already disagree (the corpus's own raters) are left
   as they are.
3. Audit the slice once per ``--audit-options`` override (in-process, with
   :func:`tagsmith.pipeline.audit.audit_corpus`, over the options ``tagsmith audit``
   runs with by default): by default the rule off and ``copies_majority`` on.
4. For each audit count the flagged rows (the review queue), the planted labels flagged
   (those planted on a majority and on a tie apart), the flagged rows on copies that
   disagree (ties among them) and ``noise.method.copies``.

Ends by printing one JSON object, also written to ``runs/result.json`` under the work
directory; its ``run`` says how it ran: the command line, date, machine, commit of this
checkout and the versions of Python, numpy and scipy. The audits' seconds are of one
run each; on a shared machine they move by tens of percent.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

DATASETS = ["goemotions", "reuters21578"]
#: the audits compared by default: the rule off (the default audit) and on
DEFAULT_AUDITS = '[{}, {"copies_majority": true}]'


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import dataset_arguments

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dataset_arguments(parser, DATASETS, "copies_walk",
                      "where the results go, under <dataset>/")
    parser.add_argument("--n-docs", type=int, default=8000,
                        help="documents in the slice audited, every copy among them "
                        "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the slice's draw, the planted labels and the audits "
                        "(default: %(default)s)")
    parser.add_argument("--audit-options", default=DEFAULT_AUDITS,
                        help="a JSON list of AuditOptions overrides, one audit each, over "
                        "tagsmith audit's default options, without 'seed' (--seed's) "
                        "(default: %(default)s)")
    return parser


def check_audits(parser: argparse.ArgumentParser, args) -> list[dict]:
    """``--audit-options`` read and each audit's options built before any work."""
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.audit import AuditOptions

    if args.n_docs < 2:
        parser.error(f"--n-docs must be 2 or more, not {args.n_docs}")
    if args.seed < 0:  # named --audit-options {} (the seed is set on each audit's options)
        parser.error(f"--seed must be 0 or more, not {args.seed}")
    try:
        audits = json.loads(args.audit_options)
    except ValueError as error:
        parser.error(f"--audit-options is not JSON ({error}): {args.audit_options}")
    if not isinstance(audits, list) or not audits or not all(isinstance(a, dict)
                                                             for a in audits):
        parser.error("--audit-options must be a non-empty JSON list of objects of "
                     f"AuditOptions fields, not {args.audit_options}")
    for overrides in audits:
        if "seed" in overrides:  # each audit's seed is --seed's: this one was overwritten
            parser.error(f"--audit-options {json.dumps(overrides)}: 'seed' is set by "
                         "--seed for every audit, not here")
        try:
            AuditOptions(**{**overrides, "seed": args.seed}).validate()
        except (TypeError, InvalidParameterError) as error:
            parser.error(f"--audit-options {json.dumps(overrides)}: {error}")
    return audits


def plant(texts: list[str], Y: sp.csr_matrix, n_docs: int, seed: int):
    """The slice (its documents' indices), its labels with the planted ones, and the
    planted ``(doc, label, kind, tie)`` in the slice's numbering."""
    from tagsmith.audit import duplicates as dup
    from tagsmith.audit.detect import MISSING, WRONG

    rng = np.random.default_rng(seed)
    hashes = dup.text_hashes(texts)
    groups = dup.exact_groups(hashes)
    blank = hashes == dup.EMPTY_HASH
    sizes = np.bincount(groups[~blank], minlength=int(groups.max()) + 1)
    is_copy = ~blank & (sizes[groups] > 1)
    copies = np.flatnonzero(is_copy)
    others = np.flatnonzero(~is_copy)
    n_more = max(0, min(n_docs - len(copies), len(others)))
    if n_docs < len(copies):  # the slice grew past --n-docs without a word
        log(f"--n-docs {n_docs:,} is below the {len(copies):,} copies: the slice holds "
            f"every copy, {len(copies):,} documents")
    chosen = np.sort(np.concatenate((copies, rng.choice(others, n_more, replace=False))))
    Y = sp.csr_matrix(Y[chosen], dtype=np.float32)
    Y.eliminate_zeros()
    groups = groups[chosen]
    frequency = np.asarray((Y != 0).sum(axis=0)).ravel().astype(float)
    members: dict[int, list[int]] = {}
    for d in np.flatnonzero(is_copy[chosen]).tolist():
        members.setdefault(int(groups[d]), []).append(d)
    dense = Y.tolil()
    planted, n_disagree, n_full = [], 0, 0
    for n_text, (_, docs) in enumerate(sorted(members.items(), key=lambda kv: kv[1][0])):
        sets = {tuple(sorted(Y[d].indices.tolist())) for d in docs}
        if len(sets) > 1:
            n_disagree += 1
            continue
        given = sorted(sets.pop())
        d = docs[int(rng.integers(len(docs)))]
        if n_text % 2 == 0 and given:  # a label of the text removed from one copy
            c = int(rng.choice(given))
            dense[d, c] = 0
            planted.append((d, c, MISSING, len(docs) == 2))
        else:  # a label it lacks, drawn by frequency, added to one copy
            weights = frequency.copy()
            weights[given] = 0
            if not weights.sum():  # every label in use is the text's: none to add
                n_full += 1        # (rng.choice with p nan raised ValueError)
                continue
            c = int(rng.choice(len(weights), p=weights / weights.sum()))
            dense[d, c] = 1
            planted.append((d, c, WRONG, len(docs) == 2))
    Y = sp.csr_matrix(dense, dtype=np.float32)
    Y.eliminate_zeros()
    return chosen, Y, planted, {"n_texts_of_copies": len(members),
                                "n_texts_disagreeing_already": n_disagree,
                                "n_texts_nothing_to_plant": n_full}


def figures(result, Y: sp.csr_matrix, groups: np.ndarray, blank: np.ndarray,
            planted: list) -> dict:
    """What one audit flagged of the planted labels and of the copies that disagree."""
    from tagsmith.audit.detect import copies_disagreeing

    issues = result.issues
    flagged = np.flatnonzero(issues.flagged)
    rows = set(zip(issues.doc[flagged].tolist(), issues.label[flagged].tolist(),
                   issues.kind[flagged].tolist(), strict=True))
    disagree = copies_disagreeing(Y, groups, blank)
    on_copies = [(d, c) for d, c, _ in rows if (d, c) in disagree]
    ties = sum(2 * disagree[key][0] == disagree[key][1] for key in on_copies)
    planted_at = {(d, c, k): tie for d, c, k, tie in planted}
    hit = [tie for key, tie in planted_at.items() if key in rows]
    # where each planted label ranks among the candidates (None: no candidate)
    ranks = {(d, c, k): i for i, (d, c, k) in enumerate(zip(
        issues.doc.tolist(), issues.label.tolist(), issues.kind.tolist(), strict=True))
        if (d, c, k) in planted_at}
    return {
        "n_flagged": len(flagged),
        "n_planted_flagged": len(hit),
        "n_planted_flagged_majority": sum(not tie for tie in hit),
        "n_planted_flagged_tie": sum(hit),
        "n_planted_candidates": len(ranks),
        "median_planted_rank": (float(np.median(list(ranks.values()))) + 1
                                if ranks else None),
        "n_flagged_on_copies_disagreeing": len(on_copies),
        "n_flagged_ties": int(ties),
        "n_flagged_on_copies_not_planted": sum(
            (d, c, k) not in planted_at for d, c, k in rows if (d, c) in disagree),
        "copies": result.report["noise"]["method"].get("copies"),
    }


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    audits = check_audits(parser, args)
    from audit import _machine, results_command
    from audit_runner import write_atomically
    from xmc import make_data_work_dir, provenance, read_splits

    from tagsmith.audit import duplicates as dup
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    # read as the run starts: read as it ended, a checkout moved meanwhile was recorded
    # as the code that made the figures
    ran = provenance(["numpy", "scipy"])
    work = make_data_work_dir(args.dataset, args.data_dir, args.work_dir / args.dataset,
                              data_needed=True)
    runs = work / "runs"
    runs.mkdir(exist_ok=True)
    log(f"reading {args.dataset} from {args.data_dir}")
    splits = read_splits(args.dataset, args.data_dir, work, None)
    texts, Y = splits["train"]
    space = splits["label_space"]
    chosen, Y, planted, counts = plant(list(texts), sp.csr_matrix(Y), args.n_docs, args.seed)
    texts = [texts[i] for i in chosen.tolist()]
    hashes = dup.text_hashes(texts)
    groups, blank = dup.exact_groups(hashes), hashes == dup.EMPTY_HASH
    n_tie = sum(tie for *_, tie in planted)
    log(f"slice of {len(texts):,} documents, {counts['n_texts_of_copies']:,} texts of copies "
        f"({counts['n_texts_disagreeing_already']:,} disagreeing already); planted "
        f"{len(planted):,} labels ({n_tie:,} on one of two copies, ties)")
    result: dict = {"dataset": args.dataset, "n_docs": len(texts), **counts,
                    "n_planted": len(planted), "n_planted_tie": n_tie,
                    "n_planted_majority": len(planted) - n_tie, "audits": []}
    for overrides in audits:
        options = AuditOptions(**{**overrides, "seed": args.seed})
        log(f"audit with {json.dumps(overrides)}")
        started = time.perf_counter()
        audited = audit_corpus(texts, Y, space, options=options)
        seconds = round(time.perf_counter() - started, 1)
        figures_of = {"audit_options": overrides, **figures(audited, Y, groups, blank, planted),
                      "audit_seconds": seconds}
        log(json.dumps(figures_of))
        result["audits"].append(figures_of)
    result["run"] = {**ran, "command": results_command(sys.orig_argv),
                     "date": datetime.date.today().isoformat(), "machine": _machine()}
    write_atomically(runs / "result.json", json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
