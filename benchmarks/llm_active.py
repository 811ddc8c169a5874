"""Active distillation part of benchmarks/llm.py (see its docstring)."""

from __future__ import annotations

import statistics
import time

#: name -> (selection strategy, where the adversary's mistakes fall)
STRATEGIES = {"robust": ("robust", "batch"), "uncertainty": ("uncertainty", "batch"),
              "random": ("random", "batch"), "robust_pool_k": ("robust", "pool")}
FEATURES = {"word_ngrams": [1, 2], "char_ngrams": None, "min_df": 2}


def run_active(space, train, dev, test, budgets, args, work, log) -> dict:
    from llm_sim import SimulatedTeacher

    from tagsmith.features.tfidf import TfidfFeaturizer
    from tagsmith.labeling.labeler import LabelingOptions, label_documents
    from tagsmith.labeling.reliability import estimate_reliability
    from tagsmith.metrics import evaluate
    from tagsmith.pipeline.crossfit import cross_fit_topk
    from tagsmith.pipeline.distill import ActiveOptions, active_distill, llm_teacher
    from tagsmith.pipeline.llm import make_client
    from tagsmith.testing.llm_server import LocalChatServer

    pool_texts, pool_Y = train
    test_texts, test_Y = test
    started = time.perf_counter()
    featurizer = TfidfFeaturizer.from_params(**FEATURES)
    X_pool = featurizer.fit_transform(pool_texts)
    X_test = featurizer.transform(test_texts)
    log(f"features: pool {X_pool.shape}, {time.perf_counter() - started:.1f} s")
    oof = cross_fit_topk(X_pool, pool_Y, "linear", {"n_jobs": 2}, n_folds=5, k=5, seed=0)
    log(f"cross-fitted hardness scores: {oof.seconds:.1f} s")
    names = space.names()
    dev_texts, dev_Y = dev
    teacher_sim = SimulatedTeacher(pool_texts + dev_texts,
                                   _stack(pool_Y, dev_Y),
                                   names, _stack_topk(oof.topk, dev_texts, featurizer,
                                                      pool_Y, X_pool),
                                   easy_error=args.easy_error, hard_error=args.hard_error,
                                   hardness=args.hardness)
    n_pool = len(pool_texts)
    hard, wrong = teacher_sim.hard[:n_pool], teacher_sim.wrong[:n_pool]
    log(f"teacher: {hard.mean():.1%} hard documents, {wrong.mean():.1%} answers wrong "
        f"({wrong[~hard].mean():.1%} easy, {wrong[hard].mean():.1%} hard)")
    out: dict = {"teacher": {"hardness": args.hardness, "easy_error": args.easy_error,
                             "hard_error": args.hard_error,
                             "hard_share": float(hard.mean()),
                             "wrong_share": float(wrong.mean())}}
    options = LabelingOptions(n_workers=4)
    with LocalChatServer(teacher_sim) as server:
        client = make_client(server.base_url, f"simulated-teacher-{args.hardness}",
                             cache=work / "teacher-cache.sqlite", backoff_base=0.01)
        reliability_docs = dev_texts[:300]
        sample = label_documents(reliability_docs, space, client, options)
        reliability = estimate_reliability(sample.Y, dev_Y[:300])
        log(f"teacher reliability on {len(reliability_docs)} dev docs: "
            f"{reliability.to_dict()}")
        out["teacher"]["reliability"] = reliability.to_dict()
        teach = llm_teacher(pool_texts, space, client, options, reliability=reliability)
        runs = []
        for budget in budgets:
            for strategy in args.strategies:
                rule, scope = STRATEGIES[strategy]
                for seed in range(args.seeds):
                    t0 = time.perf_counter()
                    result = active_distill(pool_texts, space, teach, ActiveOptions(
                        budget=budget, strategy=rule, mistakes_scope=scope, rounds=4, seed=seed,
                        teacher_error_rate=reliability.doc_error_rate,
                        teacher_precision=reliability.precision,
                        featurizer_params=FEATURES), X_pool=X_pool, featurizer=featurizer)
                    clf = result.classifier
                    topk = clf.model.predict_topk(X_test, min(len(space), 100))
                    metrics = evaluate(test_Y, topk, clf.label_sets(topk), ks=(1,))
                    runs.append({"budget": budget, "strategy": strategy, "seed": seed,
                                 "micro_f1": metrics["micro_f1"],
                                 "macro_f1": metrics["macro_f1"], "p@1": metrics["p@1"],
                                 "teacher_wrong": float(wrong[result.selected].mean()),
                                 "hard": float(hard[result.selected].mean()),
                                 "seconds": time.perf_counter() - t0})
                    log(f"budget {budget} {strategy:<11} seed {seed}: micro-F1 "
                        f"{metrics['micro_f1']:.4f}, teacher wrong on "
                        f"{runs[-1]['teacher_wrong']:.1%} of chosen "
                        f"({runs[-1]['seconds']:.1f} s)")
        out["teacher"]["usage"] = client.usage.to_dict()
    for budget in budgets:
        entry = {}
        for strategy in args.strategies:
            mine = [r for r in runs if r["budget"] == budget and r["strategy"] == strategy]
            entry[strategy] = statistics.median(r["micro_f1"] for r in mine)
            entry[f"{strategy}_macro_f1"] = statistics.median(r["macro_f1"] for r in mine)
            entry[f"{strategy}_teacher_wrong"] = statistics.median(r["teacher_wrong"]
                                                                   for r in mine)
            entry[f"{strategy}_all"] = [round(r["micro_f1"], 4) for r in mine]
        out[f"budget={budget}"] = entry
    out["active_runs"] = runs
    return out


def _stack(a, b):
    import scipy.sparse as sp

    return sp.vstack([a, b]).tocsr()


def _stack_topk(pool_topk, dev_texts, featurizer, pool_Y, X_pool):
    """Out-of-fold scores for the pool, and scores of a pool-trained model for dev."""
    from tagsmith.models import make_model
    from tagsmith.topk import TopK

    model = make_model("linear", n_jobs=2).fit(X_pool, pool_Y)
    dev_topk = model.predict_topk(featurizer.transform(dev_texts), pool_topk.k)
    return TopK.concatenate([pool_topk, dev_topk])


if __name__ == "__main__":  # ran silently and printed nothing
    raise SystemExit("llm_active.py is a part of benchmarks/llm.py, not a script: run "
                     "python benchmarks/llm.py --help")
