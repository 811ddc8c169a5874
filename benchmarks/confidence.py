"""Confidence figures (issue 4): calibration, conformal label sets, label shift.

    python benchmarks/confidence.py --dataset goemotions [--data-dir DIR] [--splits 20]
    python benchmarks/confidence.py --dataset reuters21578
    python benchmarks/confidence.py --dataset yso-finna-en

What it does, with tagsmith's Python API on the shared datasets:

1. Sets a seeded share of the training split aside (the *calibration split*, never
   trained on), featurizes, trains the model on the rest (``linear`` on Reuters and
   GoEmotions, a one-tree ``tree`` on yso-finna-en) and times that fit
   (``train_seconds``).
2. Scores the calibration split and fits the calibrator (isotonic by default) and
   the F1 thresholds on it; ECE/Brier of raw vs calibrated scores on the test split.
3. Pools the evaluation documents (GoEmotions and yso-finna-en: dev + test; Reuters:
   test), draws ``--splits`` random halves (calibration / test) and for each fits
   recall control (CRC), its Mondrian variant and, for small label spaces, LP-ICP on
   one half and measures the other: mean recall and set size (CRC), coverage and
   label-set counts (LP-ICP), for alpha in {0.05, 0.1, 0.2}. On small label spaces
   MAPIE's multi-label CRC (own venv under the work directory, a subprocess
   exchanging .npz files) runs on the same probabilities and splits (``mapie_error``
   when it cannot be installed or fails; the other figures are kept).
4. Label shift: the test split is resampled to a shifted label distribution; EM
   (and BBSE on small label spaces) estimate the new priors from the unlabelled
   resample; total variation to the true priors and micro-F1 with and without the
   adjustment.
5. ``fit_seconds``: calibrator + thresholds + conformal fitting (one split), given the
   scores; scoring the calibration split is reported apart (``scoring_seconds``).

Ends by printing one JSON object with every figure and how it ran: ``machine``,
``date``, ``command`` (the command line as run), ``commit`` (of this checkout,
``+dirty`` with uncommitted changes), ``tagsmith_from`` (the folder tagsmith was
imported from) and ``versions`` (Python, numpy, scipy, scikit-learn). Work files go
under ``benchmarks/work/confidence/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ALPHAS = (0.05, 0.1, 0.2)
MAPIE_PACKAGE = "mapie==1.6.0"
_STARTED = time.perf_counter()

#: per dataset: model, its parameters, features, calibration split, top-k width
SETTINGS = {
    "reuters21578": {"model": "linear", "params": {"n_jobs": 2},
                     "features": {"min_df": 2}, "calibration_fraction": 0.15, "k": None,
                     "ece_k": None, "pool": ("test",)},
    "goemotions": {"model": "linear", "params": {"n_jobs": 2},
                   "features": {"min_df": 2}, "calibration_fraction": 0.1, "k": None,
                   "ece_k": None, "pool": ("dev", "test")},
    "yso-finna-en": {"model": "tree", "params": {"n_trees": 1, "n_jobs": 2},
                     "features": {"word_ngrams": [1, 2], "char_ngrams": None, "min_df": 2},
                     "calibration_fraction": 0.05, "k": 100, "ece_k": 10,
                     "pool": ("dev", "test")},
}


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp} +{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr,
          flush=True)


# -- data --------------------------------------------------------------------------------------
def read_dataset(name: str, data_dir: Path, work: Path) -> dict:
    from tagsmith.data.corpus import Corpus, collect
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.data.vocab import load_vocabulary

    def read(path: Path, space, unknown: str = "fail"):
        corpus = Corpus(path, space, unknown_labels=unknown)
        return collect(corpus)

    from xmc import dataset_dir

    if name == "reuters21578":
        base = dataset_dir(name, data_dir)
        names = (base / "labels.txt").read_text(encoding="utf-8").split()
        uris = [f"urn:reuters21578:{n}" for n in names]
        space = LabelSpace.from_uris(uris, names=dict(zip(uris, names, strict=True)))
        return {"space": space, "train": read(base / "modapte-train.jsonl.gz", space),
                "test": read(base / "modapte-test.jsonl.gz", space)}
    if name == "goemotions":
        sys.path.insert(0, str(ROOT / "examples"))
        from make_goemotions import convert

        source = work / "source"
        if not (source / "vocab.tsv").exists():
            dataset_dir(name, data_dir)
            convert(data_dir, source)
        space = load_vocabulary(source / "vocab.tsv")
        return {"space": space, **{split: read(source / f"{split}.tsv.gz", space)
                                   for split in ("train", "dev", "test")}}
    if name == "yso-finna-en":
        base = dataset_dir(name, data_dir)
        space = load_vocabulary(base / "yso-en-labels.tsv.gz")
        return {"space": space, **{split: read(base / f"clean-{split}.tsv.gz", space, "skip")
                                   for split in ("train", "dev", "test")}}
    raise SystemExit(f"unknown --dataset {name!r}: use one of {', '.join(SETTINGS)}")


# -- MAPIE -------------------------------------------------------------------------------------
def mapie_python(work: Path) -> Path:
    """The python of MAPIE's venv (``xmc.ensure_env``: installed when it does not import
    mapie, as after an interrupted install); a ``RuntimeError`` naming the failed step."""
    from xmc import ensure_env

    spec = {"packages": [MAPIE_PACKAGE], "check": "import mapie", "dist": "mapie"}
    try:
        return Path(ensure_env("mapie", work.parent / "venvs", spec)["python"])
    except RuntimeError as exc:
        raise RuntimeError(f"{exc} (--no-mapie skips MAPIE)") from exc


def run_mapie(work: Path, probs: np.ndarray, y: np.ndarray, splits: np.ndarray,
              grid: np.ndarray) -> dict:
    """MAPIE's set sizes and recalls per split and alpha; ``{"error": ...}`` when MAPIE
    cannot be installed or its runner fails (the other figures are kept)."""
    try:
        return _run_mapie(work, probs, y, splits, grid)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        log(f"MAPIE: FAILED: {exc}")
        return {"error": str(exc)}


def _run_mapie(work: Path, probs: np.ndarray, y: np.ndarray, splits: np.ndarray,
               grid: np.ndarray) -> dict:
    python = mapie_python(work)
    source, target = work / "mapie-in.npz", work / "mapie-out.npz"
    np.savez(source, probs=probs.astype(np.float32), y=y.astype(bool), splits=splits,
             alphas=np.array(ALPHAS), grid=grid)
    subprocess.run([str(python), str(HERE / "confidence_mapie_runner.py"), str(source),
                    str(target)], check=True)
    out = np.load(target)
    version = subprocess.run([str(python), "-c", "import mapie; print(mapie.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return {"size": out["size"], "recall": out["recall"], "threshold": out["threshold"],
            "seconds": out["seconds"], "version": version}


# -- label shift -------------------------------------------------------------------------------
def shifted_resample(Y: sp.csr_matrix, seed: int, strength: float = 1.0) -> np.ndarray:
    """Rows of a resample of ``Y`` (same size) whose label frequencies are shifted.

    Each label gets a random log-odds multiplier ``exp(strength * z)``, ``z ~ N(0, 1)``;
    a document is drawn with probability proportional to the product over its labels.
    """
    rng = np.random.default_rng(seed)
    multiplier = np.exp(strength * rng.normal(size=Y.shape[1]))
    logw = np.asarray(sp.csr_matrix(Y, dtype=np.float64) @ np.log(multiplier)).ravel()
    weights = np.exp(logw - logw.max())
    return rng.choice(Y.shape[0], size=Y.shape[0], replace=True, p=weights / weights.sum())


# -- main --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The command line, built without running anything (a test reads every
    option's help)."""
    from xmc import dataset_arguments

    parser = argparse.ArgumentParser(  # --help: the whole docstring, outputs included
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dataset_arguments(parser, list(SETTINGS), "confidence",
                      "where converted data and MAPIE's virtual environment go")
    parser.add_argument("--splits", type=int, default=20,
                        help="random calibration / test halves of the pooled evaluation "
                        "documents; the conformal figures are means and minimums over "
                        "them (default: %(default)s)")
    parser.add_argument("--method", default="isotonic",
                        choices=["isotonic", "platt", "temperature"],
                        help="the calibrator fitted on the calibration split (default: "
                        "%(default)s)")
    parser.add_argument("--shrinkage", type=float, default=30.0,
                        help="the calibrator's prior strength: larger, and rare labels "
                        "lean more on their frequency band (default: %(default)s)")
    parser.add_argument("--no-mapie", action="store_true",
                        help="skip MAPIE, the peer run on small label spaces in its own "
                        "virtual environment (default: run it)")
    parser.add_argument("--mapie-grid-step", type=float, default=0.01,
                        help="Spacing of MAPIE's thresholds (default: %(default)s, MAPIE's "
                        "own grid).")
    parser.add_argument("--k", type=int, default=None,
                        help="Candidates per document (default: every label up to 100, "
                        "else 100).")
    parser.add_argument("--model-param", action="append", default=[],
                        help="KEY=VALUE (JSON) for the model, e.g. beam_width=30; repeatable "
                        "(default: the dataset's own parameters).")
    parser.add_argument("--max-train-docs", type=int, default=None,
                        help="Development only: train on a seeded sample of N documents "
                        "(default: all).")
    return parser


def main() -> None:  # noqa: C901 - one linear script
    parser = build_parser()
    args = parser.parse_args()
    if args.splits < 1:  # 0 failed after the work (a median or a minimum of nothing)
        parser.error(f"--splits must be 1 or more, not {args.splits}")
    if args.max_train_docs is not None and args.max_train_docs < 1:  # 0 was the full run
        parser.error(f"--max-train-docs must be 1 or more, not {args.max_train_docs}")
    if args.k is not None and args.k < 1:  # failed after the training
        parser.error(f"--k must be 1 or more, not {args.k}")
    if not 0 <= args.shrinkage < float("inf"):  # refused by the calibrator, after the training
        parser.error(f"--shrinkage must be a finite number, 0 or more, not {args.shrinkage:g}")
    if not 0 < args.mapie_grid_step < 1:  # 0: a ZeroDivisionError after the conformal splits
        parser.error(f"--mapie-grid-step must be a number in (0, 1), not {args.mapie_grid_step:g}")

    from tagsmith.calibration.reliability import reliability_report
    from tagsmith.calibration.scaling import fit_calibrator
    from tagsmith.calibration.shift import estimate_label_shift, prior_distance
    from tagsmith.calibration.thresholds import tune_thresholds
    from tagsmith.conformal.lpicp import fit_powerset_icp
    from tagsmith.conformal.risk import fit_recall_control
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.features.tfidf import TfidfFeaturizer
    from tagsmith.metrics import evaluate, f1_macro, f1_micro
    from tagsmith.models import make_model
    from tagsmith.pipeline.crossfit import heldout_split
    from tagsmith.topk import TopK

    settings = dict(SETTINGS[args.dataset])
    overrides = {}
    for spec in args.model_param:  # a JSONDecodeError traceback before
        key, equals, value = spec.partition("=")
        try:
            if not (key and equals):
                raise ValueError(spec)
            overrides[key] = json.loads(value)
        except ValueError:
            parser.error(f"--model-param: {spec!r} is not KEY=VALUE with a JSON value "
                         "(e.g. beam_width=30)")
    settings["params"] = {**settings["params"], **overrides}
    try:  # an unknown name was refused only when the model was made, after the data
        make_model(settings["model"], **settings["params"])
    except InvalidParameterError as error:
        parser.error(f"--model-param: {error}")
    if args.k is not None:
        settings["k"] = args.k
    from xmc import make_data_work_dir, provenance

    # only goemotions' conversion is kept in the work folder; the others read the data
    work = make_data_work_dir(args.dataset, args.data_dir, args.work_dir / args.dataset,
                              data_needed=args.dataset != "goemotions")
    log(f"reading {args.dataset} from {args.data_dir}")
    data = read_dataset(args.dataset, args.data_dir, work)
    space = data["space"]
    n_labels = len(space)
    train_texts, train_Y = data["train"]
    if args.max_train_docs and args.max_train_docs < len(train_texts):
        rows = np.sort(np.random.default_rng(0).choice(len(train_texts), args.max_train_docs,
                                                       replace=False))
        train_texts, train_Y = [train_texts[i] for i in rows], train_Y[rows]
    fit_rows, cal_rows = heldout_split(len(train_texts), settings["calibration_fraction"], 0)
    log(f"{len(train_texts):,} training documents: {len(fit_rows):,} to train, "
        f"{len(cal_rows):,} set aside for calibration; {n_labels:,} labels")

    featurizer = TfidfFeaturizer.from_params(**settings["features"])
    X_fit = featurizer.fit_transform([train_texts[i] for i in fit_rows])
    Y_fit = train_Y[fit_rows]
    X_cal = featurizer.transform([train_texts[i] for i in cal_rows])
    Y_cal = train_Y[cal_rows]
    pool_parts = [data[name] for name in settings["pool"]]
    X_pool = sp.vstack([featurizer.transform(texts) for texts, _ in pool_parts]).tocsr()
    Y_pool = sp.vstack([Y for _, Y in pool_parts]).tocsr()
    test_texts, test_Y = data["test"]
    test_rows = np.arange(Y_pool.shape[0] - len(test_texts), Y_pool.shape[0])
    log(f"features: {X_fit.shape[1]:,} columns; evaluation pool {Y_pool.shape[0]:,} "
        f"documents ({' + '.join(settings['pool'])})")

    model = make_model(settings["model"], **settings["params"])
    started = time.perf_counter()
    model.fit(X_fit, Y_fit)
    train_seconds = time.perf_counter() - started
    log(f"trained {settings['model']} in {train_seconds:.1f}s")

    k = n_labels if settings["k"] is None else settings["k"]
    started = time.perf_counter()
    cal_raw = model.predict_topk(X_cal, k)
    scoring_seconds = time.perf_counter() - started
    pool_raw = model.predict_topk(X_pool, k)
    log(f"scored: calibration split in {scoring_seconds:.1f}s, pool (k={k})")

    label_counts = np.bincount(Y_fit.indices, minlength=n_labels)
    started = time.perf_counter()
    calibrator = fit_calibrator(Y_cal, cal_raw, method=args.method, label_counts=label_counts,
                                shrinkage=args.shrinkage)
    cal_probs = calibrator.apply(cal_raw)
    thresholds = tune_thresholds(Y_cal, cal_probs, bands=calibrator.bands)
    calibrator_seconds = time.perf_counter() - started
    pool_probs = calibrator.apply(pool_raw)
    log(f"calibrator ({args.method}) and thresholds fitted in {calibrator_seconds:.2f}s")

    # -- reliability on the test split ---------------------------------------------------------
    ece_k = settings["ece_k"] or k
    test_raw, test_probs = pool_raw[test_rows], pool_probs[test_rows]

    def clip01(topk):
        return TopK(topk.indices, np.where(topk.valid, np.clip(topk.scores, 0, 1), -np.inf),
                    topk.n_labels)

    raw_head = test_raw.head(ece_k)
    raw_report = reliability_report(test_Y, clip01(raw_head))
    cal_report = reliability_report(test_Y, calibrator.apply(raw_head), bands=calibrator.bands)
    full_raw = reliability_report(test_Y, clip01(test_raw))
    # tail probabilities are for labels outside the calibration width k
    full_cal = reliability_report(test_Y, test_probs, tail=calibrator.tail)
    ranking = evaluate(test_Y, test_raw, thresholds.label_sets(test_probs))
    log(f"test ECE over the top {ece_k}: raw {raw_report.ece:.4f} -> calibrated "
        f"{cal_report.ece:.4f}; micro-F1 {ranking['micro_f1']:.4f}")

    # -- conformal sets over random re-splits --------------------------------------------------
    rng = np.random.default_rng(0)
    n_pool = Y_pool.shape[0]
    splits = np.zeros((args.splits, n_pool), dtype=bool)
    small = k >= n_labels and n_labels <= 100
    per = {a: {"recall": [], "size": [], "mondrian_recall": [], "mondrian_size": [],
               "mondrian_band_recall_min": [], "coverage": [], "n_sets": [],
               "lpicp_possible": [], "abstain": []} for a in ALPHAS}
    conformal_seconds = []
    for s in range(args.splits):
        order = rng.permutation(n_pool)
        cal, test = np.sort(order[: n_pool // 2]), np.sort(order[n_pool // 2:])
        splits[s, cal] = True
        started = time.perf_counter()
        crc = fit_recall_control(Y_pool[cal], pool_probs[cal], tail=calibrator.tail)
        mondrian = fit_recall_control(Y_pool[cal], pool_probs[cal], tail=calibrator.tail,
                                      bands=calibrator.bands)
        icp = fit_powerset_icp(Y_pool[cal], pool_probs[cal]) if small else None
        conformal_seconds.append(time.perf_counter() - started)
        y_test, probs_test = Y_pool[test], pool_probs[test]
        labelled = np.diff(y_test.indptr) > 0
        for alpha in ALPHAS:
            sets = crc.predict(probs_test, alpha)
            per[alpha]["recall"].append(float(np.nanmean(sets.recall(y_test))))
            per[alpha]["size"].append(float(sets.size[labelled].mean()))
            per[alpha]["abstain"].append(float(sets.abstain.mean()))
            msets = mondrian.predict(probs_test, alpha)
            per[alpha]["mondrian_recall"].append(float(np.nanmean(msets.recall(y_test))))
            per[alpha]["mondrian_size"].append(float(msets.size[labelled].mean()))
            band_recalls = []
            for b in range(calibrator.bands.n_bands):
                in_band = calibrator.bands.band_of == b
                y_band = sp.csr_matrix(y_test.multiply(in_band[None, :]))
                band_recalls.append(float(np.nanmean(msets.recall(y_band))))
            per[alpha]["mondrian_band_recall_min"].append(min(band_recalls))
            if icp is not None:
                psets = icp.predict(probs_test, alpha)
                per[alpha]["coverage"].append(float(psets.covers(y_test).mean()))
                per[alpha]["n_sets"].append(float(psets.n_sets.mean()))
                per[alpha]["lpicp_possible"].append(float(psets.possible.sum(axis=1).mean()))
        log(f"split {s + 1}/{args.splits}: recall at alpha=0.1 {per[0.1]['recall'][-1]:.4f}, "
            f"set size {per[0.1]['size'][-1]:.2f}")

    mapie, mapie_error = None, None
    if small and not args.no_mapie:
        dense = pool_probs.to_csr().toarray()
        labelled = np.diff(Y_pool.indptr) > 0  # MAPIE requires a label on every document
        grid = np.arange(0, 1, args.mapie_grid_step)  # 0.01: MAPIE's default thresholds
        log(f"MAPIE {MAPIE_PACKAGE} on the same probabilities and splits")
        mapie = run_mapie(work, dense[labelled], Y_pool.toarray()[labelled] > 0,
                          splits[:, labelled], grid)
        if "error" in mapie:
            mapie_error, mapie = mapie["error"], None

    # -- label shift ---------------------------------------------------------------------------
    resample = shifted_resample(test_Y, seed=1)
    shifted_Y = test_Y[resample]
    shifted_probs = test_probs[resample]
    true_prior = np.asarray(shifted_Y.astype(bool).sum(axis=0)).ravel() / len(resample)
    train_prior = label_counts / len(fit_rows)
    started = time.perf_counter()
    shift = estimate_label_shift(shifted_probs, source_prior=calibrator.source_prior,
                                 tail=calibrator.tail)
    shift_seconds = time.perf_counter() - started
    adjusted = shift.adjust(shifted_probs)
    unadjusted_sets = thresholds.label_sets(shifted_probs)
    adjusted_sets = thresholds.label_sets(adjusted)
    shift_out = {
        "shift_tv_true": round(prior_distance(train_prior, true_prior), 4),
        "shift_tv_estimated": round(prior_distance(shift.target_prior, true_prior), 4),
        "shift_tv_train": round(prior_distance(train_prior, true_prior), 4),
        "shift_tv_calibration_prior": round(prior_distance(calibrator.source_prior,
                                                           true_prior), 4),
        "f1_shift_adjusted": round(f1_micro(shifted_Y, adjusted_sets), 4),
        "f1_shift_unadjusted": round(f1_micro(shifted_Y, unadjusted_sets), 4),
        "macro_f1_shift_adjusted": round(f1_macro(shifted_Y, adjusted_sets), 4),
        "macro_f1_shift_unadjusted": round(f1_macro(shifted_Y, unadjusted_sets), 4),
        "shift_em_iterations": shift.iterations, "shift_seconds": round(shift_seconds, 2),
    }
    if small:
        bbse = estimate_label_shift(shifted_probs, source_prior=calibrator.source_prior,
                                    tail=calibrator.tail, method="bbse", source_y=Y_cal,
                                    source_topk=cal_probs)
        shift_out["shift_tv_bbse"] = round(prior_distance(bbse.target_prior, true_prior), 4)
        shift_out["f1_shift_adjusted_bbse"] = round(
            f1_micro(shifted_Y, thresholds.label_sets(bbse.adjust(shifted_probs))), 4)
    log(f"label shift: TV estimated {shift_out['shift_tv_estimated']} vs train "
        f"{shift_out['shift_tv_train']}; micro-F1 {shift_out['f1_shift_unadjusted']} -> "
        f"{shift_out['f1_shift_adjusted']}")

    # -- report --------------------------------------------------------------------------------
    out: dict = {
        "dataset": args.dataset, "model": settings["model"], "model_params": settings["params"],
        "method": args.method, "shrinkage": args.shrinkage, "n_labels": n_labels,
        "n_train_docs": len(fit_rows), "n_calibration_docs": len(cal_rows),
        "n_pool_docs": n_pool, "n_test_docs": len(test_texts), "k": k, "splits": args.splits,
        "ece_k": ece_k, "ece_raw": round(raw_report.ece, 4),
        "ece_calibrated": round(cal_report.ece, 4),
        "brier_raw": round(raw_report.brier, 5), "brier_calibrated": round(cal_report.brier, 5),
        "top1_ece_raw": round(raw_report.top1_ece, 4),
        "top1_ece_calibrated": round(cal_report.top1_ece, 4),
        "ece_raw_all_k": round(full_raw.ece, 4), "ece_calibrated_all_k": round(full_cal.ece, 4),
        "ece_bands": {row["band"]: row["ece"] for row in cal_report.bands},
        "tail_check": full_cal.tail,
        "p@1": round(ranking["p@1"], 4), "micro_f1_calibrated_thresholds":
            round(ranking["micro_f1"], 4),
    }
    for a_index, alpha in enumerate(ALPHAS):
        stats = per[alpha]
        entry = {"recall_mean": round(float(np.mean(stats["recall"])), 4),
                 "recall_min": round(float(np.min(stats["recall"])), 4),
                 "set_size_mean": round(float(np.mean(stats["size"])), 3),
                 "abstain_rate": round(float(np.mean(stats["abstain"])), 4),
                 "mondrian_recall_mean": round(float(np.mean(stats["mondrian_recall"])), 4),
                 "mondrian_band_recall_min": round(float(np.min(
                     stats["mondrian_band_recall_min"])), 4),
                 "mondrian_set_size_mean": round(float(np.mean(stats["mondrian_size"])), 3)}
        if stats["coverage"]:
            entry.update({"coverage_mean": round(float(np.mean(stats["coverage"])), 4),
                          "coverage_min": round(float(np.min(stats["coverage"])), 4),
                          "lpicp_label_sets_mean": round(float(np.mean(stats["n_sets"])), 2),
                          "lpicp_possible_labels_mean": round(float(np.mean(
                              stats["lpicp_possible"])), 3)})
        if mapie is not None:
            entry.update({"mapie_set_size_mean": round(float(mapie["size"][:, a_index].mean()),
                                                       3),
                          "mapie_recall_mean": round(float(mapie["recall"][:, a_index].mean()),
                                                     4)})
        out[f"alpha={alpha}"] = entry
    out.update(shift_out)
    out.update({"fit_seconds": round(calibrator_seconds + float(np.median(conformal_seconds)), 2),
                "calibrator_seconds": round(calibrator_seconds, 2),
                "conformal_seconds": round(float(np.median(conformal_seconds)), 2),
                "scoring_seconds": round(scoring_seconds, 2),
                "train_seconds": round(train_seconds, 2)})
    if mapie_error is not None:
        out["mapie_error"] = mapie_error
    if mapie is not None:
        out["mapie_version"] = mapie["version"]
        out["mapie_grid_step"] = args.mapie_grid_step
        out["mapie_seconds_per_split"] = round(float(np.median(mapie["seconds"])), 2)
    out["machine"] = f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, " \
                     f"Python {platform.python_version()}"
    out["date"] = datetime.date.today().isoformat()
    out.update(provenance(["numpy", "scipy", "scikit-learn"]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
