"""Extreme-classification benchmark: tagsmith's engines against XMC peers, same features.

    python benchmarks/xmc.py --dataset goemotions [--runs 3] [--results-md]
    python benchmarks/xmc.py --dataset yso-finna-en --max-train-docs 20000 --slice random \\
        --systems tagsmith-tree --peers omikuji-parabel,pecos,annif-tfidf --runs 1

Steps:

1. Read the split (tagsmith's own readers), fit ``TfidfFeaturizer`` on the training
   texts once (``FEATURES`` below, or ``--features word|word+char``) and cache X (CSR
   float32), Y, the featurizer state and the label space in the work directory
   (default ``benchmarks/work/xmc/<dataset>/``), keyed by dataset + feature
   parameters + ``--max-train-docs``.
2. Run every system as its own subprocess under ``/usr/bin/time -v`` (peak RSS, wall
   time), ``--runs`` times: tagsmith systems through ``xmc_tagsmith_runner.py`` (the
   repo's python); Omikuji, PECOS and LibMultiLabel through ``xmc_peer_runner.py``,
   each with the python of its own virtual environment under
   ``<work>/venvs/<family>`` (created and installed on first use); Annif through its
   own CLI. All but Annif get exactly the same TF-IDF matrices; Annif does its own
   preprocessing. Each run writes its top-10 predictions for every test document.
3. Compute every metric here, identically for all systems, with ``tagsmith.metrics``
   (P@k, nDCG@k, PSP@k with Jain et al. propensities A=0.55, B=1.5 from the training
   label counts), and print one JSON line per system (medians over runs), each with
   the ``command`` line as run, the ``commit`` of this checkout (``+dirty`` with
   uncommitted changes), the folder tagsmith was imported from (``tagsmith_from``) and
   the ``versions`` of Python, numpy, scipy and scikit-learn (``--results-md`` writes the
   last two into its section).

A system that fails (install, crash, ``--peer-timeout``) gets an ``"error"`` and the
harness goes on. ``--max-train-docs N`` trains on the first N training documents, or
with ``--slice random`` on a random sample of N drawn with seed 0 (``SLICE_SEED``: the
same documents every run; ``audit.py --max-train-docs`` draws its own with its
``--seed``) (a slice: never written to RESULTS.md; yso-finna-en's training file is
sorted by label, so take a random slice there).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATASETS = ("reuters21578", "goemotions", "yso-finna-en")
#: the files each dataset is read from, under ``<--data-dir>/<dataset>/``
DATASET_FILES: dict[str, tuple[str, ...]] = {
    "reuters21578": ("labels.txt", "modapte-train.jsonl.gz", "modapte-test.jsonl.gz"),
    "goemotions": ("labels.txt", "train.tsv.gz", "dev.tsv.gz", "test.tsv.gz"),
    "yso-finna-en": ("yso-en-labels.tsv.gz", "clean-train.tsv.gz", "clean-dev.tsv.gz",
                     "clean-test.tsv.gz"),
}
K = 10

# -- systems -----------------------------------------------------------------------------------
#: tagsmith systems: name -> (model family in tagsmith.models, parameters)
TAGSMITH_SYSTEMS: dict[str, tuple[str, dict]] = {
    "tagsmith-linear": ("linear", {}),
    # a forest of label trees; a label space that fits one leaf (Reuters, GoEmotions)
    # gives a single flat one-vs-rest node
    "tagsmith-tree": ("tree", {"n_trees": 4}),
    "tagsmith-knn": ("knn", {}),
    # the tree forest on TF-IDF plus nearest neighbours on sentence embeddings of the
    # raw texts (see SYSTEM_VIEWS); weights and score powers tuned inside fit on a
    # held-out 5% of the training documents
    "tagsmith-ensemble": ("ensemble", {"members": [["tree", {"n_trees": 4}, "tfidf"],
                                                    ["dense_knn", {"n_neighbors": 50},
                                                     "embedding"]],
                                        "weights": "auto"}),
}

#: extra feature views of multi-view systems, next to the shared TF-IDF matrix (view
#: "tfidf"): name -> {view name: {"kind": ..., **featurizer params}}
SYSTEM_VIEWS: dict[str, dict[str, dict]] = {
    "tagsmith-ensemble": {"embedding": {"kind": "embedding", "max_seq_length": 128}},
}

#: parameters tuned per dataset on its dev split (``--eval-split dev``), merged over the
#: system's own; the figures behind each choice are in benchmarks/RESULTS.md
TUNED: dict[str, dict[str, dict]] = {
    # squared hinge C: {0.5, 1, 2, 4, 8} on the 777-document dev sample (P@1 .946 .947
    # .950 .951 .952, nDCG@5 .971 .972 .973 .973 .973); 2 is as good and 4x cheaper than 8
    "reuters21578": {"tagsmith-linear": {"C": 2.0}, "tagsmith-tree": {"C": 2.0}},
    # C in {0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 1, 2}: P@1 peaks at 0.2 (.614; C=1 .592)
    "goemotions": {"tagsmith-linear": {"C": 0.2}, "tagsmith-tree": {"C": 0.2}},
    # yso-finna-en dev P@1 / nDCG@5 (every figure and what else was tried: RESULTS.md,
    # "yso-finna-en dev, single-model ideas not adopted" and the sections before it):
    # - tree C {0.25, 0.5, 1, 2, 4}: P@1 .370 .382 .373 .362 .349; max_iter 5 as good as 10
    # - four trees of mixed shapes (16/16/32-way, one with 200-label leaves) .3895 / .4078;
    #   more trees add nothing and five came too close to Parabel's peak memory
    # - matcher-aware negatives at the label classifiers (negative_beam 2, negative_levels
    #   "leaves") in two / three of the four trees .3916 / .4074 and .3928 / .4070 (all
    #   four, scratch: .3926 / .4054), from xmc_tune.py --family tree --params '<these,
    #   without negative_beam>' --grid '{"negative_beam": [0, [2, 2, 0, 0], [2, 2, 2, 0]]}'
    "yso-finna-en": {"tagsmith-tree": {"max_iter": 5, "branching": [16, 16, 32, 16],
                                       "leaf_size": [100, 100, 100, 200],
                                       "negative_beam": [2, 2, 2, 0]},
                     "tagsmith-ensemble": {"members": [
                         ["tree", {"n_trees": 4, "max_iter": 5}, "tfidf"],
                         ["dense_knn", {"n_neighbors": 50}, "embedding"]]}},
}

#: peers: name -> (family, settings); the family names the virtual environment and runner
PEERS: dict[str, tuple[str, dict]] = {
    # Parabel: omikuji.Model.default_hyper_param() (balanced 2-means, max_depth 20, 3 trees)
    "omikuji-parabel": ("omikuji", {}),
    # Bonsai as in Omikuji's README: regular (unbalanced) k-means, k=100, max_depth=3
    "omikuji-bonsai": ("omikuji", {"cluster_balanced": False, "cluster_k": 100, "max_depth": 3}),
    "pecos": ("pecos", {"nr_splits": 16}),
    "libmultilabel-tree": ("libmultilabel", {"method": "tree"}),
    "libmultilabel-ovr": ("libmultilabel", {"method": "1vsrest"}),
    "annif-omikuji": ("annif", {"backend": "omikuji"}),
    "annif-tfidf": ("annif", {"backend": "tfidf"}),
}

#: systems left out of the default lists per dataset (one-vs-rest is too slow there);
#: naming them explicitly still runs them
DEFAULT_SKIP: dict[str, set[str]] = {
    "yso-finna-en": {"tagsmith-linear", "libmultilabel-ovr"},
    # on dev, embedding neighbours add nothing to the linear model here (GoEmotions P@1
    # .614 alone, .604 at the best mix; Reuters .950 alone, .946): not worth the encoder
    "reuters21578": {"tagsmith-ensemble"},
    "goemotions": {"tagsmith-ensemble"},
}

#: per peer family: pip requirements (PEERS.md) and the import that proves it works;
#: numpy/scipy are only for the runner to read the shared .npz matrices
PEER_ENVS: dict[str, dict] = {
    "omikuji": {"packages": ["omikuji==0.5.2", "numpy", "scipy"],
                "check": "import omikuji, numpy, scipy.sparse", "dist": "omikuji"},
    "pecos": {"packages": ["torch==2.13.0", "libpecos", "transformers<4.50"],
              "check": "import pecos.xmc.xlinear.model, scipy.sparse", "dist": "libpecos"},
    "libmultilabel": {"packages": ["libmultilabel[nn]", "torch==2.13.0", "setuptools<81"],
                      "check": "import libmultilabel.linear, scipy.sparse",
                      "dist": "libmultilabel"},
    "annif": {"packages": ["annif[omikuji,fasttext]==1.4.3"], "check": "import annif",
              "dist": "annif"},
}

# -- features ----------------------------------------------------------------------------------
#: TfidfFeaturizer parameters of the two feature sets
FEATURE_SETS: dict[str, dict] = {
    "word": {"word_ngrams": [1, 2], "char_ngrams": None},
    "word+char": {"word_ngrams": [1, 2], "char_ngrams": [2, 5]},  # the class default
}
#: the feature set and any other TfidfFeaturizer parameters per dataset
FEATURES: dict[str, dict] = {
    "reuters21578": {"set": "word+char", "params": {"min_df": 2}},
    "goemotions": {"set": "word+char", "params": {"min_df": 2}},
    # word n-grams only: character n-grams multiply the non-zeros per title by 12 (21 ->
    # 244) and with them every system's training time, beyond a 2-core benchmark run
    "yso-finna-en": {"set": "word", "params": {"min_df": 2}},
}
FEATURE_CACHE_VERSION = 3


# -- logging -----------------------------------------------------------------------------------
_STARTED = time.perf_counter()


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp} +{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr,
          flush=True)


# -- data --------------------------------------------------------------------------------------
#: where the datasets, their files and their origin are described (the default --data-dir)
DATASETS_README = "../shared/datasets/README.md"


def dataset_dir(dataset: str, data_dir: Path) -> Path:
    """``data_dir / dataset`` once every file the benchmarks read from it is there; else
    exit with a message naming the missing files and ``--data-dir`` (not a traceback
    from the first open, after whatever ran before it)."""
    base = data_dir / dataset
    missing = [str(base / name) for name in DATASET_FILES[dataset]
               if not (base / name).is_file()]
    if missing:
        raise SystemExit(f"{dataset}: missing {', '.join(missing)} (see --data-dir; "
                         f"{DATASETS_README} lists the datasets and their files)")
    return base


def positive(value: str) -> int:
    """An argparse type: a whole number from 1 (argparse names the option refused): a
    sample of 0 or -5 documents ran to a ZeroDivisionError or an empty estimate. Shared
    by audit_review_sample.py and knn_group_timing.py.

    >>> positive("3")
    3
    """
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def positive_ints(parser, option: str, value: str) -> list[int]:
    """``value`` ("500,1000,2000") as positive ints; else ``parser.error`` naming ``option``
    (checked before the work: read after it, a bad list ended the run in a traceback).

    >>> import argparse
    >>> positive_ints(argparse.ArgumentParser(), "--budgets", "500,1000")
    [500, 1000]
    """
    try:
        numbers = [int(x) for x in value.split(",")]
    except ValueError:
        numbers = []
    if not numbers or min(numbers) < 1:
        parser.error(f"{option}: {value!r} is not a comma-separated list of positive numbers")
    return numbers


def skip_steps(parser, value: str, steps: tuple[str, ...]) -> set[str]:
    """``--skip``'s ``value``, comma-separated step names (spaces around one ignored), as
    every benchmark reads it, before any work: a name not in ``steps`` (a typo ran that
    step, for hours) is ``parser.error`` naming the steps. llm.py and audit.py each read
    it their own way: "zeroshot, taxonomy" was refused by one and read by the other.

    >>> import argparse
    >>> sorted(skip_steps(argparse.ArgumentParser(), "train, cleanlab", ("train", "cleanlab")))
    ['cleanlab', 'train']
    """
    skip = {step.strip() for step in value.split(",") if step.strip()}
    if unknown := sorted(skip - set(steps)):
        parser.error(f"--skip: unknown step {', '.join(unknown)}; choose from "
                     f"{', '.join(steps)}")
    return skip


def provenance_lines(ran: dict) -> list[str]:
    """RESULTS.md's **Commit** and **Versions** lines of a :func:`provenance` record
    (each left out where it has none), as every ``--results-md`` writes them.

    >>> provenance_lines({"commit": "abc", "versions": {"python": "3.11", "hnswlib": None}})
    ['- **Commit**: abc', '- **Versions**: python 3.11']
    """
    return ([f"- **Commit**: {ran['commit']}"] if ran.get("commit") else []) + (
        ["- **Versions**: " + ", ".join(f"{name} {version}" for name, version
                                        in ran["versions"].items() if version)]
        if ran.get("versions") else [])


def provenance(packages: list[str]) -> dict:
    """What a reader needs to rerun a figure: the command line as run (``sys.orig_argv``,
    shell-quoted: confidence.py's and foundation.py's JSON gave no command), the commit of
    this checkout (``+dirty`` where tracked files differ from it; None outside git, also in a
    copy of the folder inside another repository), the
    folder tagsmith is imported from (an editable install can point at another
    checkout than the benchmark's) and the versions of Python and ``packages`` (None
    where one is not installed). A benchmark's JSON gave neither commit nor versions,
    which RESULTS.md then had to add by hand, or did not."""
    import importlib.metadata
    import importlib.util

    commit = None
    try:
        # HEAD of the checkout whose top is ROOT: git looks up from ROOT, so a copy
        # without .git (an sdist unpacked, a folder copied) inside another repository
        # recorded that repository's commit, as if it had made the figure
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--show-toplevel",
                               "HEAD"], capture_output=True, text=True, timeout=60)
        top, _, sha = head.stdout.strip().partition("\n")
        if head.returncode == 0 and Path(top).resolve() == ROOT.resolve():
            changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                      "--untracked-files=no"],
                                     capture_output=True, text=True, timeout=60)
            commit = sha.strip() + ("+dirty" if changed.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):  # no git on the machine
        pass
    spec = importlib.util.find_spec("tagsmith")
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"command": shlex.join(sys.orig_argv), "commit": commit,
            "tagsmith_from": str(Path(spec.origin).parent) if spec and spec.origin else None,
            "versions": versions}


def make_work_dir(work: Path) -> Path:
    """``work`` created (parents too) and writable; else exit naming ``--work-dir`` and why
    (a NotADirectoryError or PermissionError traceback before, and in some scripts only
    after the data had been read)."""
    import tempfile

    try:
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=work):
            pass
    except OSError as error:
        raise SystemExit(f"--work-dir: cannot write {work}: {error.strerror or error}") from None
    return work


def make_data_work_dir(dataset: str, data_dir: Path, work: Path,
                       data_needed: bool = False) -> Path:
    """``make_work_dir(work)`` once the dataset's files are there (``dataset_dir``): a bad
    ``--data-dir`` left an empty work folder behind. A ``work`` that is already there is
    not checked, as it may hold prepared data that needs no dataset, unless
    ``data_needed`` (a script that reads the dataset on every run)."""
    if data_needed or not work.exists():
        dataset_dir(dataset, data_dir)
    return make_work_dir(work)


#: the seed of ``--slice random``'s sample (``audit.py`` passes its ``--seed`` instead)
SLICE_SEED = 0


def slice_description(max_train_docs: int, slice_mode: str, n_train: int | None = None,
                      drawn: bool | None = None) -> str:
    """The ``slice`` of each JSON line: which training documents the run took, the
    random sample's seed named (a reader could not tell which sample it was). Where the
    training file held no more than ``max_train_docs`` (``n_train``, the documents
    taken, fewer; or, random, ``drawn`` False: :func:`read_splits` drew nothing), every
    one was taken: "a random sample of 20000 (seed 0)" named a sample never drawn.

    >>> slice_description(2000, "first"), slice_description(2000, "random")
    ('first 2000 training documents', 'a random sample of 2000 training documents (seed 0)')
    >>> slice_description(20000, "random", 7770), slice_description(500, "random", 500, False)
    ('all 7770 training documents', 'all 500 training documents')
    """
    if (n_train is not None and n_train < max_train_docs) or (
            slice_mode == "random" and drawn is False):
        return f"all {max_train_docs if n_train is None else n_train} training documents"
    if slice_mode == "first":
        return f"first {max_train_docs} training documents"
    return f"a random sample of {max_train_docs} training documents (seed {SLICE_SEED})"


def read_splits(dataset: str, data_dir: Path, work: Path, max_train_docs: int | None,
                slice_mode: str = "first", slice_seed: int = SLICE_SEED) -> dict:
    """Label space and ``{split: (texts, Y)}`` for train, dev and test.

    With ``max_train_docs``, train is its first N documents (``slice_mode="first"``) or
    a random sample of N drawn with ``slice_seed``, kept in file order (``"random"``;
    ``audit.py`` passes its ``--seed``, so its seeds audit different documents).
    """
    from tagsmith.data.corpus import Corpus, collect
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.data.vocab import load_vocabulary

    notes: list[str] = []
    first_n = max_train_docs if slice_mode == "first" else None

    def read(path: Path, space, limit: int | None = None, unknown: str = "fail"):
        corpus = Corpus(path, space, unknown_labels=unknown)
        docs = iter(corpus) if limit is None else islice(iter(corpus), limit)
        texts, Y = collect(docs, len(space))
        if corpus.report is not None and corpus.report.has_skips:
            notes.append(corpus.report.summary())
        return texts, Y

    if dataset == "reuters21578":
        base = dataset_dir(dataset, data_dir)
        names = (base / "labels.txt").read_text(encoding="utf-8").split()
        uris = [f"urn:reuters21578:{name}" for name in names]
        space = LabelSpace.from_uris(uris, names=dict(zip(uris, names, strict=True)))
        train = read(base / "modapte-train.jsonl.gz", space, first_n)
        test = read(base / "modapte-test.jsonl.gz", space)
        # dev: a seeded 10% of train, for tuning only (training uses all of train)
        rng = np.random.default_rng(0)
        rows = np.sort(rng.choice(len(train[0]), size=max(1, len(train[0]) // 10),
                                  replace=False))
        dev = ([train[0][i] for i in rows], train[1][rows])
        notes.append("dev = a seeded 10% sample of train (tuning only); training uses all "
                     "of ModApte train")
    elif dataset == "goemotions":
        sys.path.insert(0, str(ROOT / "examples"))
        from make_goemotions import convert

        source = work / "source"
        if not (source / "vocab.tsv").exists():
            dataset_dir(dataset, data_dir)
            convert(data_dir, source)
        space = load_vocabulary(source / "vocab.tsv")
        train = read(source / "train.tsv.gz", space, first_n)
        dev = read(source / "dev.tsv.gz", space)
        test = read(source / "test.tsv.gz", space)
    elif dataset == "yso-finna-en":
        base = dataset_dir(dataset, data_dir)
        space = load_vocabulary(base / "yso-en-labels.tsv.gz")
        train = read(base / "clean-train.tsv.gz", space, first_n, "skip")
        dev = read(base / "clean-dev.tsv.gz", space, unknown="skip")
        test = read(base / "clean-test.tsv.gz", space, unknown="skip")
    else:
        raise SystemExit(f"unknown --dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    if max_train_docs is not None and slice_mode == "random" and max_train_docs < len(train[0]):
        rows = np.sort(np.random.default_rng(slice_seed).choice(
            len(train[0]), size=max_train_docs, replace=False))
        train = ([train[0][i] for i in rows], train[1][rows])
        # the seed named: seeds draw different slices, and a results file (audit.py's
        # meta.json, xmc.py's JSON lines) did not say which one it audited
        notes.append(f"train = a random sample of {max_train_docs:,} documents drawn with "
                     f"seed {slice_seed}")
    return {"label_space": space, "train": train, "dev": dev, "test": test, "notes": notes}


def feature_params(dataset: str, override: str | None) -> tuple[str, dict]:
    spec = FEATURES[dataset]
    name = override or spec["set"]
    return name, {**FEATURE_SETS[name], **spec["params"]}


def prepare_features(args, work: Path) -> Path:
    """Featurize once and cache; returns the cache directory (``meta.json`` inside)."""
    set_name, params = feature_params(args.dataset, args.features)
    key_data = {"dataset": args.dataset, "features": params, "max_train_docs": args.max_train_docs,
                "version": FEATURE_CACHE_VERSION}
    if args.max_train_docs is not None and args.slice == "random":
        key_data["slice"] = "random"
    key = hashlib.sha1(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:10]
    size = "full" if args.max_train_docs is None else f"{args.slice}{args.max_train_docs}"
    cache = work / f"features-{set_name}-{size}-{key}"
    if (cache / "meta.json").exists():
        log(f"features: cached in {cache}")
        return cache
    from tagsmith.data.corpus import Document, write_tsv
    from tagsmith.features.tfidf import TfidfFeaturizer

    log(f"reading {args.dataset} from {args.data_dir}")
    data = read_splits(args.dataset, args.data_dir, work, args.max_train_docs, args.slice)
    space = data["label_space"]
    sizes = {split: len(data[split][0]) for split in ("train", "dev", "test")}
    log(f"read: {sizes}, {len(space):,} labels")
    tmp = cache.with_name(cache.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"fitting TfidfFeaturizer({params}) on {sizes['train']:,} training texts")
    started = time.perf_counter()
    featurizer = TfidfFeaturizer.from_params(**params)
    matrices = {"train": featurizer.fit_transform(data["train"][0])}
    fit_s = time.perf_counter() - started
    for split in ("dev", "test"):
        matrices[split] = featurizer.transform(data[split][0])
    transform_s = time.perf_counter() - started - fit_s
    log(f"features: {featurizer.n_features:,} columns, fit {fit_s:.1f}s, "
        f"dev+test transform {transform_s:.1f}s")
    for split, X in matrices.items():
        X = sp.csr_matrix(X, dtype=np.float32)
        X.sort_indices()
        sp.save_npz(tmp / f"X_{split}.npz", X, compressed=False)
        Y = sp.csr_matrix(data[split][1], dtype=np.float32)
        Y.sort_indices()
        sp.save_npz(tmp / f"Y_{split}.npz", Y, compressed=False)
    feat_meta, feat_arrays = featurizer.to_state()
    (tmp / "featurizer.json").write_text(json.dumps(feat_meta), encoding="utf-8")
    np.savez(tmp / "featurizer.npz", **feat_arrays)
    (tmp / "label_space.json").write_text(json.dumps(space.to_dict()), encoding="utf-8")
    for split in ("dev", "test"):
        (tmp / f"{split}_texts.json").write_text(json.dumps(data[split][0]), encoding="utf-8")
    # Annif's inputs: its own TSV training corpus, a JSONL test file, a vocabulary
    train_docs = [Document(text, tuple(data["train"][1].indices[a:b].tolist()))
                  for text, a, b in zip(data["train"][0], data["train"][1].indptr[:-1],
                                        data["train"][1].indptr[1:], strict=True)]
    kept = [doc for doc in train_docs if doc.text.strip() and doc.label_ids]
    write_tsv(kept, tmp / "annif-train.tsv", space)
    # one line per test document, no TAB: Annif reads each line as one document without
    # subjects (its JSONL reader validates every line with jsonschema, which is slower)
    for split in ("dev", "test"):
        with open(tmp / f"annif-{split}.tsv", "w", encoding="utf-8") as out:
            for text in data[split][0]:
                out.write(" ".join(text.split()) + "\n")
    with open(tmp / "annif-vocab.tsv", "w", encoding="utf-8") as out:
        for label in space:
            name = label.pref_labels.get("en") or label.uri.rsplit(":", 1)[-1]
            out.write(f"<{label.uri}>\t{' '.join(name.split())}\n")
    Y_train = sp.csr_matrix(data["train"][1])
    meta = {
        "dataset": args.dataset, "feature_set": set_name, "feature_params": params,
        "max_train_docs": args.max_train_docs, "sizes": sizes, "n_labels": len(space),
        "n_labels_in_train": int(np.count_nonzero(np.bincount(
            Y_train.indices, minlength=len(space)))),
        "n_features": int(featurizer.n_features),
        "nnz_per_doc": {split: round(X.nnz / max(1, X.shape[0]), 1)
                        for split, X in matrices.items()},
        "labels_per_doc": {split: round(data[split][1].nnz / max(1, len(data[split][0])), 2)
                           for split in sizes},
        "featurize_fit_seconds": round(fit_s, 1),
        "annif_train_docs": len(kept), "notes": data["notes"],
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)
    log(f"features cached in {cache}")
    return cache


def ensure_train_texts(cache: Path, args, work: Path) -> None:
    """The training texts next to the cached features (multi-view systems embed them)."""
    path = cache / "train_texts.json"
    if path.exists():
        return
    log("writing the training texts for multi-view systems")
    data = read_splits(args.dataset, args.data_dir, work, args.max_train_docs, args.slice)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data["train"][0]), encoding="utf-8")
    tmp.rename(path)


def write_xc_train(cache: Path) -> dict:
    """Omikuji's input: the Extreme-Classification text format of the training split.

    Rows without features or without labels are dropped (Omikuji rejects them).
    """
    path = cache / "omikuji-train.txt"
    info_path = cache / "omikuji-train.json"
    if info_path.exists():
        return json.loads(info_path.read_text())
    log("writing the Extreme-Classification training file for Omikuji")
    X = sp.load_npz(cache / "X_train.npz").tocsr()
    Y = sp.load_npz(cache / "Y_train.npz").tocsr()
    keep = (np.diff(X.indptr) > 0) & (np.diff(Y.indptr) > 0)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="ascii") as out:
        out.write(f"{int(keep.sum())} {X.shape[1]} {Y.shape[1]}\n")
        for row in np.flatnonzero(keep):
            labels = ",".join(map(str, Y.indices[Y.indptr[row]:Y.indptr[row + 1]].tolist()))
            a, b = X.indptr[row], X.indptr[row + 1]
            feats = " ".join(f"{f}:{v:.6g}" for f, v in zip(X.indices[a:b].tolist(),
                                                              X.data[a:b].tolist(), strict=True))
            out.write(f"{labels} {feats}\n")
    tmp.rename(path)
    info = {"rows": int(keep.sum()), "dropped_no_features": int((np.diff(X.indptr) == 0).sum()),
            "dropped_no_labels": int((np.diff(Y.indptr) == 0).sum()),
            "dropped_rows": int((~keep).sum())}
    info_path.write_text(json.dumps(info))
    log(f"omikuji training file: {info}")
    return info


# -- processes ---------------------------------------------------------------------------------
def timed(cmd: list[str], log_path: Path, timeout: float | None, env: dict | None = None,
          cwd: Path | None = None) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``: wall seconds and peak RSS (MB).

    Returns ``{"rc", "wall_s", "peak_rss_mb", "timed_out"}``; the command's stdout and
    stderr (and time's report) go to ``log_path``.
    """
    full = ["/usr/bin/time", "-v", *cmd] if Path("/usr/bin/time").exists() else cmd
    started = time.perf_counter()
    timed_out = False
    with open(log_path, "w") as handle:
        proc = subprocess.Popen(full, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
    wall = time.perf_counter() - started
    text = log_path.read_text(errors="replace")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    elapsed = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    if elapsed:
        parts = [float(p) for p in elapsed.group(1).split(":")]
        wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return {"rc": rc, "wall_s": wall, "peak_rss_mb": int(rss.group(1)) / 1024 if rss else None,
            "timed_out": timed_out}


def tail(path: Path, lines: int = 6) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    text = [line for line in text if not line.startswith("\t")]  # drop time -v's report
    return " | ".join(line.strip() for line in text[-lines:])[-800:]


# -- peer environments ---------------------------------------------------------------------------
def base_python() -> str:
    return shutil.which("python3.11") or getattr(sys, "_base_executable", sys.executable)


def ensure_env(family: str, venvs: Path, spec: dict | None = None) -> dict:
    """The peer family's virtual environment, created and installed when missing (or
    when its ``check`` fails: an interrupted install). ``spec`` (``packages``, ``check``,
    ``dist``) defaults to ``PEER_ENVS[family]``; the other benchmarks pass their peers'
    (cleanlab, MAPIE). A failed step is a ``RuntimeError`` naming it and its log."""
    spec = PEER_ENVS[family] if spec is None else spec
    env_dir = venvs / family
    python = env_dir / "bin" / "python"
    record_path = venvs / f"{family}.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}

    def works() -> bool:
        return python.exists() and subprocess.run(
            [str(python), "-c", spec["check"]], capture_output=True).returncode == 0

    if works():
        return {"python": str(python), **record}
    log(f"installing {family} into {env_dir}: pip install {' '.join(spec['packages'])}")
    shutil.rmtree(env_dir, ignore_errors=True)
    venvs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    install_log = venvs / f"{family}.install.log"
    with open(install_log, "w") as handle:
        steps = [[base_python(), "-m", "venv", str(env_dir)],
                 [str(python), "-m", "pip", "install", *spec["packages"]]]
        for step in steps:
            handle.write("$ " + " ".join(step) + "\n")
            handle.flush()
            rc = subprocess.run(step, stdout=handle, stderr=subprocess.STDOUT).returncode
            if rc != 0:
                raise RuntimeError(f"install of {family} failed ({rc}) at `{' '.join(step)}`; "
                                   f"see {install_log}: {tail(install_log, 3)}")
    seconds = time.perf_counter() - started
    if not works():
        raise RuntimeError(f"{family} installed but `{spec['check']}` fails in {python}")
    version = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({spec['dist']!r}))"],
        capture_output=True, text=True).stdout.strip()
    record = {"install_seconds": round(seconds, 1), "version": version,
              "packages": spec["packages"]}
    record_path.write_text(json.dumps(record))
    log(f"installed {family} {version} in {seconds:.0f}s")
    return {"python": str(python), **record}


def env_version(env: dict, family: str) -> str | None:
    if env.get("version"):
        return env["version"]
    dist = PEER_ENVS[family]["dist"]
    out = subprocess.run(
        [env["python"], "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True, text=True)
    return out.stdout.strip() or None


# -- running systems ---------------------------------------------------------------------------
def run_runner(python: str, script: str, cache: Path, out: Path, name: str, family: str,
               params: dict, timeout: float | None, split: str = "test",
               views: dict | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("predictions.npz", "result.json"):
        (out / stale).unlink(missing_ok=True)
    cmd = [python, str(HERE / script), "--features", str(cache), "--out", str(out),
           "--family", family, "--params", json.dumps(params), "--split", split]
    if views:
        cmd += ["--views", json.dumps(views)]
    proc = timed(cmd, out / "run.log", timeout)
    if proc["timed_out"]:
        raise RuntimeError(f"timed out after {timeout:.0f}s; see {out / 'run.log'}")
    if proc["rc"] != 0 or not (out / "result.json").exists():
        raise RuntimeError(f"exit {proc['rc']}: {tail(out / 'run.log')}")
    result = json.loads((out / "result.json").read_text())
    preds = np.load(out / "predictions.npz")
    return {**result, "indices": preds["indices"], "scores": preds["scores"],
            "peak_rss_mb": proc["peak_rss_mb"], "wall_seconds": proc["wall_s"]}


def nltk_stub(work: Path) -> Path:
    """An NLTK_DATA folder with an empty (untrained) punkt_tab model for English.

    Annif's analyzers look for ``punkt_tab`` and try to download it when missing (no
    network here); empty parameter files give Punkt's untrained sentence splitter.
    """
    folder = work / "nltk_data"
    english = folder / "tokenizers" / "punkt_tab" / "english"
    english.mkdir(parents=True, exist_ok=True)
    for name in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt",
                 "ortho_context.tab"):
        (english / name).touch()
    return folder


ANNIF_CONFIG = """[{project}]
name={project}
language=en
backend={backend}
analyzer=snowball(english)
vocab=xmcvocab(en)
limit=100
"""


def run_annif(env: dict, cache: Path, out: Path, backend: str, timeout: float | None,
              work: Path, split: str = "test") -> dict:
    """Annif's CLI: load-vocab, train (timed), index the test TSV (timed), parse."""
    out.mkdir(parents=True, exist_ok=True)
    annif = str(Path(env["python"]).parent / "annif")
    project = f"xmc-{backend}"
    (out / "projects.cfg").write_text(ANNIF_CONFIG.format(project=project, backend=backend))
    shutil.rmtree(out / "data", ignore_errors=True)
    environ = {**os.environ, "NLTK_DATA": str(nltk_stub(work)), "ANNIF_PROJECTS":
               str(out / "projects.cfg"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    steps = {}
    for step, cmd in (
            ("load_vocab", [annif, "load-vocab", "xmcvocab", str(cache / "annif-vocab.tsv"),
                            "--language", "en", "--force"]),
            ("train", [annif, "train", project, str(cache / "annif-train.tsv")]),
            ("predict", [annif, "index", project, str(cache / f"annif-{split}.tsv"),
                         "--limit", str(K), "--threshold", "0", "--no-include-doc",
                         "--force", "--output", str(out / "suggestions.jsonl")])):
        proc = timed(cmd, out / f"{step}.log", timeout, env=environ, cwd=out)
        if proc["timed_out"]:
            raise RuntimeError(f"annif {step} timed out after {timeout:.0f}s")
        if proc["rc"] != 0:
            raise RuntimeError(f"annif {step} exit {proc['rc']}: {tail(out / f'{step}.log')}")
        steps[step] = proc
    space = json.loads((cache / "label_space.json").read_text())
    labels = space["labels"] if isinstance(space, dict) else space
    id_of = {label["uri"]: i for i, label in enumerate(labels)}
    n_test = json.loads((cache / "meta.json").read_text())["sizes"][split]
    indices = np.full((n_test, K), -1, np.int32)
    scores = np.full((n_test, K), -np.inf, np.float32)
    with open(out / "suggestions.jsonl", encoding="utf-8") as handle:
        lines = handle.readlines()
    if len(lines) != n_test:  # one output line per input line, in order
        raise RuntimeError(f"annif index wrote {len(lines)} results for {n_test} documents")
    for row, line in enumerate(lines):
        hits = [(id_of[h["uri"]], h["score"]) for h in json.loads(line)["results"]
                if h["uri"] in id_of]
        for j, (label, score) in enumerate(hits[:K]):
            indices[row, j], scores[row, j] = label, score
    return {"indices": indices, "scores": scores,
            "train_seconds": steps["train"]["wall_s"],
            "predict_seconds": steps["predict"]["wall_s"], "n_test": n_test,
            "peak_rss_mb": max(steps[s]["peak_rss_mb"] or 0 for s in ("train", "predict")),
            "wall_seconds": sum(s["wall_s"] for s in steps.values()),
            "load_vocab_seconds": steps["load_vocab"]["wall_s"],
            "train_peak_rss_mb": steps["train"]["peak_rss_mb"],
            "predict_peak_rss_mb": steps["predict"]["peak_rss_mb"]}


# -- metrics -----------------------------------------------------------------------------------
def score_run(run: dict, Y_test: sp.csr_matrix, inv_prop: np.ndarray) -> dict:
    from tagsmith.metrics import ndcg_at_k, precision_at_k, psp_at_k
    from tagsmith.topk import TopK

    indices = np.asarray(run["indices"], np.int32)
    scores = np.where(indices >= 0, np.asarray(run["scores"], np.float32), -np.inf)
    topk = TopK(indices, scores, Y_test.shape[1])
    return {"p@1": precision_at_k(Y_test, topk, 1), "p@3": precision_at_k(Y_test, topk, 3),
            "p@5": precision_at_k(Y_test, topk, 5), "ndcg@5": ndcg_at_k(Y_test, topk, 5),
            "psp@5": psp_at_k(Y_test, topk, 5, inv_prop)}


METRICS = ("p@1", "p@3", "p@5", "ndcg@5", "psp@5")


def summarise(name: str, dataset: str, runs: list[dict], extra: dict) -> dict:
    med = statistics.median
    line = {"system": name, "dataset": dataset}
    line.update({m: round(med(r[m] for r in runs), 4) for m in METRICS})
    line["train_seconds"] = round(med(r["train_seconds"] for r in runs), 2)
    line["predict_docs_per_second"] = round(med(r["predict_docs_per_second"] for r in runs), 1)
    rss = [r["peak_rss_mb"] for r in runs if r.get("peak_rss_mb") is not None]
    line["peak_rss_mb"] = round(med(rss)) if rss else None
    line["wall_seconds"] = round(med(r["wall_seconds"] for r in runs), 1)
    line["runs"] = len(runs)
    line.update(extra)
    line["run_values"] = [{k: (round(v, 4) if isinstance(v, float) else v)
                           for k, v in r.items()} for r in runs]
    return line


def run_system(name: str, args, cache: Path, work: Path, Y_test, propensity) -> dict:
    """All runs of one system; the JSON line (with ``"error"`` on failure)."""
    meta = json.loads((cache / "meta.json").read_text())
    extra: dict = {}
    runs: list[dict] = []
    try:
        if name in TAGSMITH_SYSTEMS:
            family, params = TAGSMITH_SYSTEMS[name]
            params = {**params, **TUNED.get(args.dataset, {}).get(name, {})}
            from tagsmith.models import available_models

            if family not in available_models():
                raise RuntimeError(f"model {family!r} is not registered in tagsmith.models "
                                   f"(available: {', '.join(available_models())}); skipped")
            python, script = sys.executable, "xmc_tagsmith_runner.py"
            extra["note"] = ("predict_docs_per_second: loaded bundle, raw test texts "
                             "(featurization included); model_predict_docs_per_second: "
                             "model only, on the shared test matrix")
            extra["params"] = params
            if name in SYSTEM_VIEWS:
                extra["views"] = SYSTEM_VIEWS[name]
                ensure_train_texts(cache, args, work)
        else:
            family, params = PEERS[name]
            env = ensure_env(family, args.work_dir / "venvs")
            extra["version"] = env_version(env, family)
            extra["install_seconds"] = env.get("install_seconds")
            python, script = env["python"], "xmc_peer_runner.py"
            extra["params"] = params
            if family == "omikuji":
                extra["omikuji_train_file"] = write_xc_train(cache)
                params = {**params, "train_file": str(cache / "omikuji-train.txt")}
            if family == "annif":
                extra["note"] = ("Annif's own preprocessing (snowball(english) analyzer, its "
                                 "own vectorizer), not the shared TF-IDF matrices; train and "
                                 "predict times are whole CLI commands (startup included); "
                                 f"trained on {meta['annif_train_docs']:,} docs with text "
                                 "and labels")
            else:
                extra["note"] = "predict_docs_per_second excludes featurization (shared matrix)"
        for run in range(args.runs):
            out = work / "runs" / cache.name / args.eval_split / name / f"run{run}"
            log(f"{name}: run {run + 1}/{args.runs}")
            timeout = args.peer_timeout if name in PEERS else None
            if name in PEERS and PEERS[name][0] == "annif":
                result = run_annif(env, cache, out, params["backend"], timeout, work,
                                   args.eval_split)
            else:
                result = run_runner(python, script, cache, out, name, family, params, timeout,
                                    args.eval_split, SYSTEM_VIEWS.get(name))
            n_test = result["n_test"]
            values = {"train_seconds": result["train_seconds"],
                      "predict_docs_per_second": n_test / max(result["predict_seconds"], 1e-9),
                      "peak_rss_mb": result["peak_rss_mb"],
                      "wall_seconds": result["wall_seconds"]}
            values.update({k: v for k, v in result.items()
                           if k not in ("indices", "scores", "n_test", "predict_seconds")
                           and k not in values})
            values.update(score_run(result, Y_test, propensity))
            log(f"{name}: run {run + 1}: P@1 {values['p@1']:.4f} nDCG@5 {values['ndcg@5']:.4f} "
                f"train {values['train_seconds']:.1f}s, "
                f"{values['predict_docs_per_second']:.0f} docs/s, "
                f"peak RSS {values['peak_rss_mb'] or 0:.0f} MB")
            runs.append(values)
    except Exception as exc:  # any failure of one system is reported, the others go on
        log(f"{name}: FAILED: {exc}")
        line = {"system": name, "dataset": args.dataset, "error": str(exc), **extra}
        if runs:
            line["completed_runs"] = len(runs)
        return line
    return summarise(name, args.dataset, runs, extra)


# -- RESULTS.md --------------------------------------------------------------------------------
def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", {kb / 1024 ** 2:.0f} GiB"
    except (OSError, AttributeError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}"


def write_results_md(lines: list[dict], args, meta: dict, command: str,
                     path: Path = HERE / "RESULTS.md") -> None:
    title = f"## Extreme-scale engine (issue 3): {args.dataset}"
    if args.results_tag:
        title += f" ({args.results_tag})"
    rows = ["| system | P@1 | P@3 | P@5 | nDCG@5 | PSP@5 | train s | predict docs/s "
            "| peak RSS MB | runs |", "|---|---|---|---|---|---|---|---|---|---|"]
    for line in lines:
        if "error" in line:
            rows.append(f"| {line['system']} | failed: {line['error'][:120]} "
                        "| | | | | | | | |")
            continue
        rows.append(
            f"| {line['system']} | {line['p@1']:.4f} | {line['p@3']:.4f} | {line['p@5']:.4f} "
            f"| {line['ndcg@5']:.4f} | {line['psp@5']:.4f} | {line['train_seconds']:.1f} "
            f"| {line['predict_docs_per_second']:,.0f} | {line['peak_rss_mb'] or '–'} "
            f"| {line['runs']} |")
    versions = ", ".join(f"{line['system']} {line['version']}" for line in lines
                         if line.get("version"))
    ran = next((line for line in lines if line.get("versions")), {})
    sizes = meta["sizes"]
    section = "\n".join([
        title, "",
        f"- **Command**: `{command}`",
        f"- **Machine**: {machine()}",
        f"- **Date**: {datetime.date.today().isoformat()}",
        *provenance_lines(ran),
        f"- **Split**: {sizes['train']:,} train / {sizes['dev']:,} dev / {sizes['test']:,} "
        f"test documents, {meta['n_labels']:,} labels ({meta['n_labels_in_train']:,} seen in "
        f"train)",
        f"- **Features** (shared by every system but Annif): `TfidfFeaturizer"
        f"({json.dumps(meta['feature_params'])})`, {meta['n_features']:,} columns, "
        f"{meta['nnz_per_doc']['train']} nonzeros per training document",
        f"- **Peer versions**: {versions or '–'}",
        "- Metrics computed by the harness with `tagsmith.metrics` from each system's top-10 "
        "predictions; PSP@5 with propensities A=0.55, B=1.5 from the training label counts. "
        "Train time is measured inside each process (data loading excluded; Annif: the "
        "`annif train` command). Predict docs/s: tagsmith from a loaded bundle on raw texts "
        "(featurization included), Omikuji/PECOS/LibMultiLabel on the shared test matrix, "
        "Annif the `annif index` command. Peak RSS from `/usr/bin/time -v`; medians over runs.",
        "", *rows, ""])
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    log(f"wrote section {title!r} to {path}")


# -- main --------------------------------------------------------------------------------------
def choose(requested: str | None, known: dict, dataset: str, what: str) -> list[str]:
    if requested is None:
        return [name for name in known if name not in DEFAULT_SKIP.get(dataset, set())]
    names = [n.strip() for n in requested.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def dataset_arguments(parser, choices, work: str, work_help: str) -> None:
    """``--dataset``, ``--data-dir`` and ``--work-dir`` as every benchmark takes them
    (``work``: the work folder's name under benchmarks/work; ``work_help``: what goes
    there)."""
    parser.add_argument("--dataset", required=True, choices=choices,
                        help="the dataset, a folder of that name under --data-dir")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "datasets",
                        help="folder holding the datasets' folders (default: "
                        "%(default)s)")
    parser.add_argument("--work-dir", type=Path, default=HERE / "work" / work,
                        help=f"{work_help} (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dataset_arguments(parser, DATASETS, "xmc",
                      "where the cached features, peers' virtual environments and "
                      "predictions go, under <dataset>/")
    parser.add_argument("--systems", help="comma-separated tagsmith systems "
                        f"({', '.join(TAGSMITH_SYSTEMS)}); default: all registered; "
                        "'' for none")
    parser.add_argument("--peers", help=f"comma-separated peers ({', '.join(PEERS)}); "
                        "default: all; '' for none")
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each system, figures their median (default: "
                        "%(default)s)")
    parser.add_argument("--max-train-docs", type=int, default=None,
                        help="train on the first N training documents (a slice; default: all)")
    parser.add_argument("--slice", choices=["first", "random"], default="first",
                        help="with --max-train-docs: the first N documents or a random "
                        f"sample of N drawn with seed {SLICE_SEED}, the same every run "
                        "(yso-finna-en's file is sorted by label; default: %(default)s)")
    parser.add_argument("--features", choices=sorted(FEATURE_SETS),
                        help="override the dataset's feature set (default: the one set "
                        "for the dataset)")
    parser.add_argument("--peer-timeout", type=float, default=3600.0,
                        help="seconds per peer subprocess (default: %(default)s)")
    parser.add_argument("--eval-split", choices=["test", "dev"], default="test",
                        help="split to evaluate on: dev for tuning, test for figures "
                        "(default: %(default)s)")
    parser.add_argument("--results-tag", default="",
                        help="suffix of the RESULTS.md section title, so that runs of other "
                        "systems or run counts get their own section (default: none)")
    parser.add_argument("--results-md", action="store_true",
                        help="write the section of benchmarks/RESULTS.md (never for a slice; "
                        "default: off)")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.runs < 1:  # 0 failed after the work (a median or a minimum of nothing)
        parser.error(f"--runs must be 1 or more, not {args.runs}")
    if args.max_train_docs is not None and args.max_train_docs < 1:  # failed after the reading
        parser.error(f"--max-train-docs must be 1 or more, not {args.max_train_docs}")
    if not args.peer_timeout > 0:  # 0 killed every peer at once, after its install
        parser.error(f"--peer-timeout must be a positive number of seconds, not "
                     f"{args.peer_timeout:g}")
    command = "python benchmarks/xmc.py " + shlex.join(sys.argv[1:])
    systems = choose(args.systems, TAGSMITH_SYSTEMS, args.dataset, "systems")
    if args.systems is None:  # the default: the registered ones only
        from tagsmith.models import available_models

        missing = [s for s in systems if TAGSMITH_SYSTEMS[s][0] not in available_models()]
        if missing:
            log(f"skipped (model not registered in tagsmith.models): {', '.join(missing)}")
        systems = [s for s in systems if s not in missing]
    peers = choose(args.peers, PEERS, args.dataset, "peers")
    args.work_dir = args.work_dir.resolve()
    # features cached in the work folder need no data
    work = make_data_work_dir(args.dataset, args.data_dir, args.work_dir / args.dataset)
    log(f"{args.dataset}: systems {systems}, peers {peers}, runs {args.runs}, work {work}")

    cache = prepare_features(args, work)
    meta = json.loads((cache / "meta.json").read_text())
    from tagsmith.metrics import propensities

    Y_train = sp.load_npz(cache / "Y_train.npz").tocsr()
    Y_test = sp.load_npz(cache / f"Y_{args.eval_split}.npz").tocsr()
    propensity = propensities(Y_train, A=0.55, B=1.5)
    del Y_train
    common = {"n_train": meta["sizes"]["train"], "eval_split": args.eval_split,
              "n_test": meta["sizes"][args.eval_split],
              "n_labels": meta["n_labels"], "features": meta["feature_set"],
              **provenance(["numpy", "scipy", "scikit-learn"])}
    if args.max_train_docs is not None:
        # every document, where the file held no more: read_splits then draws nothing
        # (its note of the draw says when it drew)
        common["slice"] = slice_description(
            args.max_train_docs, args.slice, meta["sizes"]["train"],
            drawn=any(note.startswith("train = a random sample")
                      for note in meta.get("notes") or []))
        if args.dataset == "yso-finna-en" and args.slice == "first":
            log("warning: yso-finna-en's training file is sorted by label URI, so its first "
                "documents cover only part of the label space; --slice random gives a "
                "representative slice")
    lines = []
    for name in [*systems, *peers]:
        line = run_system(name, args, cache, work, Y_test, propensity)
        line.update({k: v for k, v in common.items() if k not in line})
        lines.append(line)
    if args.results_md:
        if args.max_train_docs is not None:
            log("--max-train-docs given: a slice, RESULTS.md left as it is")
        elif args.eval_split != "test":
            log("--eval-split dev: tuning figures, RESULTS.md left as it is")
        else:
            write_results_md(lines, args, meta, command)
    log("done")
    for line in lines:
        line["process_wall_seconds"] = round(time.perf_counter() - _STARTED, 1)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
