"""The benchmark scripts' handling of a missing dataset (run as a user runs them)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPTS = [
    ("xmc.py", ["--dataset", "goemotions"]),
    ("audit.py", ["--dataset", "reuters21578"]),
    ("confidence.py", ["--dataset", "yso-finna-en", "--no-mapie"]),
    ("foundation.py", ["--dataset", "goemotions"]),
    ("llm.py", ["--dataset", "reuters21578"]),
    ("knn_ensemble.py", ["yso"]),
    ("read_timing.py", ["--dataset", "reuters21578"]),
    ("votes.py", ["--dataset", "goemotions"]),
    ("test_split_audit.py", ["--dataset", "reuters21578"]),
    ("llm_audit.py", ["--dataset", "reuters21578"]),
    ("copies_walk.py", ["--dataset", "goemotions"]),
]


def _run(script: str, args: list[str], tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    work = (["--work-dir", str(tmp_path / "work")]
            if script not in ("knn_ensemble.py", "read_timing.py") else [])
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args,
                           "--data-dir", str(tmp_path / "data"), *work],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(("script", "args"), SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_a_missing_dataset_is_named_not_a_traceback(script, args, tmp_path):
    """Every script died with a FileNotFoundError traceback from the first file it
    opened (a VocabularyError for yso-finna-en), some after creating their work folder."""
    dataset = "yso-finna-en" if args[0] == "yso" else args[1]
    done = _run(script, args, tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert str(tmp_path / "data" / dataset) in done.stderr
    assert "--data-dir" in done.stderr
    # where a user finds which files a dataset has and where they come from
    assert "../shared/datasets/README.md" in done.stderr


def test_every_missing_file_is_listed_and_no_partial_goemotions_cache(tmp_path):
    """With only labels.txt there, the GoEmotions conversion wrote vocab.tsv and died on
    train.tsv.gz; the next run took that vocab.tsv for a finished conversion."""
    base = tmp_path / "data" / "goemotions"
    base.mkdir(parents=True)
    (base / "labels.txt").write_text("joy\nanger\n", encoding="utf-8")
    done = _run("llm.py", ["--dataset", "goemotions"], tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    for name in ("train.tsv.gz", "dev.tsv.gz", "test.tsv.gz"):
        assert str(base / name) in done.stderr
    assert "labels.txt" not in done.stderr
    assert not (tmp_path / "work" / "goemotions" / "source" / "vocab.tsv").exists()


def _benchmark(name: str):
    """A benchmark script imported as a module (they import each other from their folder)."""
    import importlib

    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module(name)


@pytest.fixture
def offline_pip(monkeypatch, tmp_path):
    """pip with no index, no wheel folder and no configuration: every install fails."""
    links = tmp_path / "no-wheels"
    links.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))


def test_cleanlab_that_cannot_be_installed_is_reported_not_fatal(offline_pip, tmp_path):
    """pip's failure raised CalledProcessError at the end of the audit benchmark, before
    result.json was written: the audit's figures of a whole run were lost."""
    import numpy as np
    import scipy.sparse as sp

    audit = _benchmark("audit")
    work, runs = tmp_path / "audit" / "goemotions", tmp_path / "runs"
    work.mkdir(parents=True)
    runs.mkdir()
    n, k = 4, 3
    issues = {"topk_indices": np.tile(np.arange(k, dtype=np.int32), (n, 1)),
              "topk_scores": np.full((n, k), 0.5, np.float32)}
    none = sp.csr_matrix((n, k), dtype=bool)
    out = audit.run_cleanlab(issues, sp.csr_matrix(np.eye(n, k)), none, none, work, runs)
    assert set(out) == {"cleanlab_error"}
    assert str(tmp_path / "audit" / "venvs" / "cleanlab") in out["cleanlab_error"]
    assert "pip install" in out["cleanlab_error"]


def test_mapie_venv_without_mapie_is_reinstalled_and_a_failure_reported(offline_pip,
                                                                        tmp_path):
    """A venv left by an interrupted install (a python without mapie) was taken as
    installed: the runner died of ModuleNotFoundError and CalledProcessError ended the
    confidence benchmark after its conformal splits, every figure lost."""
    import numpy as np

    confidence = _benchmark("confidence")
    work, venv = tmp_path / "confidence" / "goemotions", tmp_path / "confidence" / "venvs"
    work.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv / "mapie")],
                   check=True)
    probs = np.full((4, 3), 0.5)
    out = confidence.run_mapie(work, probs, probs > 0, np.array([[True, True, False, False]]),
                               np.arange(0, 1, 0.1))
    assert set(out) == {"error"}
    assert str(venv / "mapie") in out["error"] and "--no-mapie" in out["error"]


def test_cli_timing_shows_why_a_command_failed(tmp_path):
    """The command's stderr went to a file that the exit trap deleted: a failing command
    (a mistyped bundle path) ended the script with no word of why."""
    missing = tmp_path / "no-bundle"
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "cli_timing.sh"), str(ROOT / "src"),
                           str(ROOT / "src"), "1", "--", "info", str(missing)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode != 0
    assert f"{missing}: no such model bundle" in done.stderr
    assert "Maximum resident set size" not in done.stderr


def test_audit_refuses_a_bad_top_n_before_any_work(tmp_path):
    """``--top-n 2xinjectd`` was read after the noisy training and the audit had run:
    a ValueError traceback at the end of the run."""
    done = _run("audit.py", ["--dataset", "goemotions", "--top-n", "injected,2xinjectd"],
                tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "--top-n: '2xinjectd'" in done.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(("script", "args"), [
    ("xmc.py", ["--dataset", "goemotions", "--runs", "0"]),
    ("foundation.py", ["--dataset", "reuters21578", "--runs", "0"]),
    ("confidence.py", ["--dataset", "goemotions", "--splits", "0"]),
    ("llm.py", ["--dataset", "goemotions", "--seeds", "0"]),
], ids=["xmc", "foundation", "confidence", "llm"])
def test_a_count_of_zero_is_refused_before_any_work(script, args, tmp_path):
    """``--runs 0`` (and ``--splits 0``, ``--seeds 0``) failed after the work, taking the
    median or the minimum of nothing."""
    done = _run(script, args, tmp_path)
    option = args[-2]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"{option} must be 1 or more, not 0" in done.stderr
    assert not (tmp_path / "work").exists()


def test_results_md_from_a_saved_result_gives_the_run_s_command_and_date(tmp_path,
                                                                         monkeypatch):
    """``--from-json`` wrote its own command line (and today's date) as the run's."""
    import argparse

    audit = _benchmark("audit")
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n", encoding="utf-8")
    result = {"run": {"command": "python benchmarks/audit.py --dataset goemotions --seed 3",
                      "date": "2026-01-02", "machine": "a machine of the run"},
              "cleanlab_error": "not installed", "n_injected_missing": 10,
              "n_injected_wrong": 5, "audit_scores": {"source": "crossfit", "model": "linear"},
              "audit_options": {}, "train_model": ["linear", {}], "pr_auc": 0.5,
              "p1_repaired_by_budget": {}}
    args = argparse.Namespace(dataset="goemotions", train_seeds=1, missing_rate=0.1,
                              wrong_rate=0.05, seed=3)
    monkeypatch.setattr(sys, "argv", ["audit.py", "--from-json", "r.json", "--seed", "9"])
    audit.write_results_md(result, args, results)
    text = results.read_text(encoding="utf-8")
    assert "- **Command**: `python benchmarks/audit.py --dataset goemotions --seed 3`" in text
    assert "- **Date**: 2026-01-02" in text and "- **Machine**: a machine of the run" in text
    assert "| pr_auc | 0.5 |" in text


def test_audit_records_the_command_line_the_user_ran(tmp_path, monkeypatch):
    """``run.command`` (and RESULTS.md's **Command**) was always ``flock
    /tmp/tagsmith-heavy.lock python benchmarks/audit.py ... --results-md``, a wrapper and
    an option the user may never have given: it is now the process's own command line
    (``sys.orig_argv``), less ``--from-json``."""
    import argparse

    audit = _benchmark("audit")
    ran = [".venv/bin/python", "benchmarks/audit.py", "--dataset", "reuters21578",
           "--top-n", "injected,flagged", "--audit-options", '{"k": 5}']
    assert audit.results_command(ran) == (
        ".venv/bin/python benchmarks/audit.py --dataset reuters21578 --top-n "
        "injected,flagged --audit-options '{\"k\": 5}'")
    # a result saved without its run's command gets this call's, as the user typed it
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n", encoding="utf-8")
    result = {"cleanlab_error": "not installed", "n_injected_missing": 10,
              "n_injected_wrong": 5, "audit_scores": {"source": "knn", "model": None},
              "audit_options": {}, "train_model": ["linear", {}], "pr_auc": 0.5,
              "p1_repaired_by_budget": {}}
    args = argparse.Namespace(dataset="goemotions", train_seeds=1, missing_rate=0.1,
                              wrong_rate=0.05, seed=0)
    monkeypatch.setattr(sys, "orig_argv", ["python3", "benchmarks/audit.py", "--dataset",
                                           "goemotions", "--from-json", "r.json"])
    audit.write_results_md(result, args, results)
    assert "- **Command**: `python3 benchmarks/audit.py --dataset goemotions`\n" in \
        results.read_text(encoding="utf-8")


@pytest.mark.parametrize("script", ["xmc.py", "audit.py", "confidence.py", "foundation.py",
                                    "llm.py", "xmc_tune.py"])
def test_a_work_dir_that_cannot_be_created_is_named_not_a_traceback(script, tmp_path):
    """A --work-dir under a file (or anywhere not writable) ended in a NotADirectoryError
    traceback from mkdir."""
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    # the dataset's files, for a script that checks them before its work folder (xmc_tune)
    data = tmp_path / "data"
    for name in _benchmark("xmc").DATASET_FILES["reuters21578"]:
        (data / "reuters21578" / name).parent.mkdir(parents=True, exist_ok=True)
        (data / "reuters21578" / name).write_bytes(b"")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    extra = ["--family", "tree"] if script == "xmc_tune.py" else []
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--dataset",
                           "reuters21578", *extra, "--data-dir", str(data), "--work-dir",
                           str(blocker / "work")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"--work-dir: cannot write {blocker / 'work' / 'reuters21578'}" in done.stderr


@pytest.mark.parametrize("script", ["xmc.py", "audit.py", "confidence.py", "foundation.py",
                                    "llm.py", "test_split_audit.py", "llm_audit.py",
                                    "copies_walk.py"])
def test_an_unknown_dataset_is_refused_with_the_choices_before_any_work(script, tmp_path):
    """llm.py took any --dataset (its --help named none), created the work folder and
    only then exited, after importing the whole pipeline."""
    done = _run(script, ["--dataset", "nosuch"], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "invalid choice: 'nosuch'" in done.stderr and "goemotions" in done.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--skip", "taxonmy"], "--skip: unknown step taxonmy; choose from zeroshot, taxonomy, "
     "active"),
    # read as audit.py reads it (one parser, benchmarks/xmc.py): a space after the comma
    # made "zeroshot, taxonomy" an unknown " taxonomy" here, and not there
    (["--skip", "zeroshot, taxonmy"], "--skip: unknown step taxonmy; choose from zeroshot, "
     "taxonomy, active"),
    (["--budgets", "500,lots"], "--budgets: '500,lots' is not a comma-separated list"),
    (["--budgets", "0"], "--budgets: '0' is not a comma-separated list"),
], ids=["skip", "skip-spaced", "budgets", "zero-budget"])
def test_llm_checks_skip_and_budgets_before_any_work(args, message, tmp_path):
    """A mistyped --skip name was ignored (that part ran, for hours); --budgets was read
    only after the zero-shot and taxonomy parts, ending them in a ValueError traceback."""
    done = _run("llm.py", ["--dataset", "goemotions", *args], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr
    assert not (tmp_path / "work").exists()


def test_solver_timing_names_the_missing_feature_files(tmp_path):
    """A --features-dir without the cached matrices ended in a FileNotFoundError traceback
    from numpy, after importing tagsmith."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "solver_timing.py"),
                           "--features-dir", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"--features-dir: missing {tmp_path / 'X_train.npz'}" in done.stderr
    assert str(tmp_path / "Y_test.npz") in done.stderr


@pytest.mark.parametrize("script", ["confidence_mapie_runner.py", "audit_cleanlab_runner.py"])
def test_the_venv_runners_answer_help_with_their_usage(script):
    """``confidence_mapie_runner.py --help`` (or no arguments) ended in an IndexError
    traceback; the runners import only numpy, so the repo's python runs them too."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "IN" in done.stderr and ".npz" in done.stderr


def test_results_md_commands_run_as_written():
    """A RESULTS.md command, copied, must name options its script has and quote its
    values: ``--results-tag leaf-level negatives, 3 runs, quiet machine`` (written before
    xmc.py quoted its command line) makes argparse refuse ``negatives,``. Spans with
    placeholders (``|``, ``[...]``, ``<...>``, ``DIR``, ``W``, ``...``) are not commands."""
    import re
    import shlex

    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    checked, wrong = 0, []
    for span in re.findall(r"`([^`]+)`", text):
        span = " ".join(span.split())
        found = re.search(r"(?:^|\s)python (benchmarks/(\w+)\.py)((?:\s.*)?)$", span)
        if (not found or found.group(2) == "knn_ensemble"  # the one positional argument
                or re.search(r"[|\[<]|\.\.\.|\bDIR\b|\bW\b", found.group(3))):
            continue
        source = (ROOT / found.group(1)).read_text(encoding="utf-8")
        if "dataset_arguments(" in source:  # --dataset, --data-dir, --work-dir: xmc.py's
            source += (ROOT / "benchmarks" / "xmc.py").read_text(encoding="utf-8")
        flags = set(re.findall(r'"(--[\w-]+)",\s*action="store_true"', source))
        checked, expects_value = checked + 1, None
        for token in shlex.split(found.group(3)):
            if token.startswith("--"):
                if f'"{token.split("=")[0]}"' not in source:
                    wrong.append(f"{span}: no {token}")
                expects_value = None if token in flags or "=" in token else token
            elif expects_value is None:
                wrong.append(f"{span}: stray {token!r}")
                break
            else:
                expects_value = None
    assert checked >= 50 and not wrong, wrong


def test_the_readme_benchmarks_section_names_every_script():
    """README's Benchmarks section was one sentence: a user reproducing a figure could
    not tell which script makes it, nor which scripts are helpers the others run;
    benchmarks/README.md left five scripts out."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Benchmarks\n", 1)[1].split("\n## ", 1)[0]
    folder = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    scripts = sorted(p.name for p in (ROOT / "benchmarks").iterdir()
                     if p.suffix in (".py", ".sh"))
    assert len(scripts) >= 20
    for text in (section, folder):
        assert [s for s in scripts if f"`{s}`" not in text
                and f"`benchmarks/{s}`" not in text] == []


ARGPARSE_SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")
                          if "argparse.ArgumentParser(" in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("script", ARGPARSE_SCRIPTS)
def test_help_says_what_the_script_does_in_a_whole_sentence(script):
    """calibrated_predict_timing.py's and read_timing.py's --help took the docstring's
    first line, cut mid-sentence ("... costs against its", "... derived while reading)")."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    description = done.stdout.split("\n\n")[1]
    assert description.rstrip().endswith("."), description


@pytest.mark.parametrize("script", ARGPARSE_SCRIPTS)
def test_help_shows_the_docstring_with_what_the_script_prints_or_writes(script):
    """--help showed the docstring's first line alone: not what a script measures, how
    it is run, what it prints nor where it writes (the work folder, result.json)."""
    import ast
    import re

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    path = ROOT / "benchmarks" / script
    done = subprocess.run([sys.executable, str(path), "--help"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring in done.stdout
    assert re.search(r"\b(print(s|ing)?|writes?|written|go(es)? (to|under))\b", done.stdout,
                     re.IGNORECASE)


@pytest.mark.parametrize(("args", "message"), [
    (["--audit-options", "{bad"], "--audit-options is not JSON"),
    (["--audit-options", '{"nosuch": 1}'], "--audit-options: AuditOptions.__init__() got an "
                                           "unexpected keyword argument 'nosuch'"),
    (["--audit-options", '{"n_folds": 0}'], "--audit-options: parameter 'n_folds' must be"),
    (["--missing-rate", "2"], "--missing-rate must be a number in [0, 1), not 2"),
    (["--top-n", "injected,\u00b2"], "--top-n: '\u00b2' is none of"),
    # the same trainings twice into the same files, one entry kept
    (["--top-n", "injected,1000,injected"], "--top-n: 'injected' is given twice"),
    # no noise: a review budget of 0 candidates and nothing for the audit to find
    (["--missing-rate", "0", "--wrong-rate", "0"], "--missing-rate and --wrong-rate are both "
     "0: no label noise would be injected, so the audit has no injected error to find and "
     "--top-n injected would review 0 candidates; give either rate above 0"),
], ids=["not-json", "unknown-field", "bad-value", "missing-rate", "top-n-superscript",
        "top-n-twice", "no-noise"])
def test_audit_refuses_bad_options_and_rates_before_any_work(args, message, tmp_path):
    """--audit-options was read by the audit step, after the noisy training (a traceback
    at its end); a noise rate out of [0, 1) ended in a traceback once the corpus was read."""
    done = _run("audit.py", ["--dataset", "goemotions", *args], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(("param", "message"), [
    ("beam_width", "--model-param: 'beam_width' is not KEY=VALUE with a JSON value"),
    ("beam_width={", "--model-param: 'beam_width={' is not KEY=VALUE with a JSON value"),
    ("beam_widht=30", "--model-param: parameter 'beam_widht' must be a parameter of model 'tree'"),
], ids=["no-value", "not-json", "unknown-name"])
def test_confidence_refuses_a_bad_model_param_before_any_work(param, message, tmp_path):
    """A --model-param without a JSON value ended in a JSONDecodeError traceback; an
    unknown name was refused only when the model was made, after reading the data."""
    done = _run("confidence.py", ["--dataset", "yso-finna-en", "--model-param", param],
                tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--family", "nosuch"], "--family nosuch with {}: parameter 'model' must be one of"),
    (["--family", "tree", "--grid", "{bad"], "--grid is not JSON"),
    (["--family", "tree", "--grid", '{"beam_width": 3}'],
     "--grid: the values of beam_width must be a non-empty JSON list"),
    (["--family", "tree", "--params", '{"beam_widht": 3}'],
     "parameter 'beam_widht' must be a parameter of model 'tree'"),
], ids=["family", "grid-json", "grid-values", "params-name"])
def test_xmc_tune_checks_family_params_and_grid_before_any_work(args, message, tmp_path):
    """Bad JSON in --params or --grid was a JSONDecodeError traceback, and an unknown
    family or parameter name was refused only after the features were computed."""
    done = _run("xmc_tune.py", ["--dataset", "goemotions", *args], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--skip", "train,retrain"], "--skip: unknown step retrain; choose from train, cleanlab"),
    (["--skip", "cleanlab", "--cleanlab"], "--cleanlab and --skip cleanlab: choose one"),
    (["--skip", "train", "--results-md"], "--results-md with --skip train: RESULTS.md "
     "records whole runs"),
    (["--skip", "train", "--train-seeds", "3", "--top-n", "2xinjected"],
     "--train-seeds 3, --top-n 2xinjected and --skip train: they set the trainings"),
    (["--skip", "train", "--from-json", "runs/result.json"],
     "--from-json with --skip train: --from-json runs no step, it writes RESULTS.md from a "
     "saved whole run; drop --skip"),
], ids=["unknown", "cleanlab-both", "results-md", "train-options", "from-json"])
def test_audit_skip_refuses_a_step_it_does_not_know_or_cannot_honour(args, message, tmp_path):
    """A mistyped step would have run it; --results-md would have written a RESULTS.md
    section without the figures of the skipped step; --train-seeds or --top-n with
    --skip train were accepted and changed nothing; --from-json wrote the saved run,
    --skip unread."""
    done = _run("audit.py", ["--dataset", "goemotions", *args], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr
    assert not (tmp_path / "work").exists()


def test_audit_skip_train_runs_the_audit_step_alone(tmp_path):
    """audit.py could not run the audit step alone: checking the audit on prepared
    yso-finna-en data meant a driver of its own, or the noisy, repaired and clean
    trainings too. ``--skip train`` audits and scores the candidates, trains nothing and
    keeps a whole run's runs/result.json (its figures in result-skip-train.json); a saved
    result of it is refused by --from-json, which writes whole runs to RESULTS.md."""
    _tiny_reuters(tmp_path / "data" / "reuters21578", 200, 40)
    done = _run("audit.py", ["--dataset", "reuters21578", "--skip", "train"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["skipped_steps"] == ["train"]
    assert {"pr_auc", "missing_recall", "audit_seconds", "n_injected_missing",
            "audit_options"} <= set(result)
    assert not {"p1_noisy", "p1_clean", "p1_repaired", "train_seconds"} & set(result)
    assert "train linear" not in done.stderr
    [runs] = (tmp_path / "work" / "reuters21578").glob("data-*/runs")
    assert not list(runs.glob("train-*")) and not (runs / "result.json").exists()
    saved = runs / "result-skip-train.json"
    assert json.loads(saved.read_text(encoding="utf-8")) == result
    refused = _run("audit.py", ["--dataset", "reuters21578", "--from-json", str(saved)],
                   tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"--from-json {saved}: a run with --skip train, not a whole one" in refused.stderr


def test_audit_from_json_takes_the_saved_run_s_options_and_refuses_others(tmp_path):
    """``--from-json`` runs no step, yet took the run options silently: ``--top-n`` was
    read by nothing, and ``--seed`` and ``--missing-rate`` went into RESULTS.md's noise
    line as the saved run's (``--seed 9`` beside a seed-3 run's figures). They are read
    from the saved run's command now, and one given that differs from it is refused."""
    saved = tmp_path / "r.json"
    result = {"run": {"command": "python benchmarks/audit.py --dataset goemotions --seed 3 "
                      "--missing-rate 0.2", "date": "2026-01-02", "machine": "m"}}
    saved.write_text(json.dumps(result), encoding="utf-8")
    for given, named in ((["--seed", "9"], "--seed 3"),
                         (["--top-n", "flagged", "--missing-rate", "0.3"],
                          "--missing-rate 0.2, --top-n injected")):
        done = _run("audit.py", ["--dataset", "goemotions", "--from-json", str(saved), *given],
                    tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert f"a saved run, which ran with {named}" in done.stderr
    audit = _benchmark("audit")
    parser = audit.build_parser()
    args = parser.parse_args(["--dataset", "goemotions", "--from-json", str(saved),
                              "--seed", "3"])
    audit.check_from_json_options(parser, args, result)
    assert (args.seed, args.missing_rate, args.wrong_rate) == (3, 0.2, 0.05)
    # a result saved without its command: the options RESULTS.md does not name refused
    saved.write_text("{}", encoding="utf-8")
    done = _run("audit.py", ["--dataset", "goemotions", "--from-json", str(saved),
                             "--top-n", "flagged"], tmp_path)
    assert done.returncode == 2
    assert "--from-json with --top-n: --from-json runs no step" in done.stderr


def test_audit_from_json_takes_the_run_s_audit_options_in_any_json_spacing(tmp_path):
    """``--audit-options`` was compared with the saved run's as text: ``{"k": 50}`` given
    for a run of ``{"k":50}`` was refused, "which ran with --audit-options {"k":50}"; the
    JSON objects are compared now, and another object is still refused."""
    saved = tmp_path / "r.json"
    result = {"run": {"command": "python benchmarks/audit.py --dataset goemotions "
                      "--audit-options '{\"k\":50}'"}}
    saved.write_text(json.dumps(result), encoding="utf-8")
    audit = _benchmark("audit")
    parser = audit.build_parser()
    args = parser.parse_args(["--dataset", "goemotions", "--from-json", str(saved),
                              "--audit-options", '{"k": 50}'])
    audit.check_from_json_options(parser, args, result)  # no SystemExit: the same run
    args = parser.parse_args(["--dataset", "goemotions", "--from-json", str(saved),
                              "--audit-options", '{"k": 51}'])
    with pytest.raises(SystemExit):
        audit.check_from_json_options(parser, args, result)


@pytest.mark.parametrize("command", [
    "python benchmarks/audit.py --dataset goemotions --seed three",
    "python benchmarks/audit.py --dataset goemotions --audit-options '{\"k\": 5}",
], ids=["bad-value", "unbalanced-quote"])
def test_audit_from_json_says_a_saved_command_it_cannot_read(tmp_path, capsys, command):
    """A saved ``run.command`` that would not parse printed argparse's usage and
    "error: argument --seed" (of a command line nobody gave; or, for unbalanced quotes,
    ended in a traceback), then the run went on as one saved without its command. It is
    said now: the command could not be read, and what is taken instead."""
    saved = tmp_path / "r.json"
    result = {"run": {"command": command}}
    audit = _benchmark("audit")
    parser = audit.build_parser()
    args = parser.parse_args(["--dataset", "goemotions", "--from-json", str(saved),
                              "--seed", "4"])
    audit.check_from_json_options(parser, args, result)
    err = capsys.readouterr().err
    assert "usage:" not in err and "error:" not in err, err
    assert f"--from-json {saved}: its run.command could not be read (" in err, err
    assert ("taken as a run saved without its command: --seed, --missing-rate, "
            "--wrong-rate, --train-seeds as given here (or their defaults)") in err, err
    assert args.seed == 4  # as given here


@pytest.mark.parametrize(("args", "message"), [
    (["--sample", "0"], "argument --sample: must be at least 1, got 0"),
    (["--docs", "-5"], "argument --docs: must be at least 1, got -5"),
    (["--seeds", "0"], "argument --seeds: must be at least 1, got 0"),
    (["--share", "1.5"], "argument --share: must be a number in [0, 1], got 1.5"),
    (["--min-probability", "0"], "argument --min-probability: must be a number in (0, 1], "
     "got 0"),
    (["--flagged", "1"], "argument --flagged: must be at least 2"),
    (["--flagged", "4", "--sample", "1"], "--sample must be at least 2 with --flagged"),
], ids=["sample", "docs", "seeds", "share", "min-probability", "flagged", "flagged-sample"])
def test_audit_review_sample_refuses_a_size_or_rate_out_of_range(args, message):
    """audit_review_sample.py took a sample of 0, a share of 1.5 or a probability of 0
    and died after the audit with a traceback (or ran on nonsense): refused at once,
    naming the option."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "audit_review_sample.py"),
                           *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr


def test_audit_from_json_names_a_missing_or_broken_result(tmp_path):
    """``--from-json`` with a mistyped path or a file that is not JSON ended in a
    FileNotFoundError or JSONDecodeError traceback."""
    broken = tmp_path / "broken.json"
    broken.write_text("{bad", encoding="utf-8")
    for path, reason in ((tmp_path / "no-result.json", "No such file or directory"),
                         (broken, "Expecting property name")):
        done = _run("audit.py", ["--dataset", "goemotions", "--from-json", str(path)], tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert f"--from-json {path}: {reason}" in done.stderr


@pytest.mark.parametrize(("script", "args"), [
    ("xmc.py", ["--dataset", "goemotions", "--max-train-docs", "0"]),
    ("audit.py", ["--dataset", "goemotions", "--max-train-docs", "-5"]),
    ("confidence.py", ["--dataset", "goemotions", "--max-train-docs", "0"]),
], ids=["xmc", "audit", "confidence"])
def test_a_max_train_docs_below_one_is_refused_before_any_work(script, args, tmp_path):
    """``--max-train-docs 0`` was an empty training slice (or, in confidence.py, the full
    hour-long run); a negative one a traceback once the data had been read."""
    done = _run(script, args, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"--max-train-docs must be 1 or more, not {args[-1]}" in done.stderr
    assert not (tmp_path / "work").exists()


def test_prompt_tokens_refuses_docs_below_one_before_any_work(tmp_path):
    """``--docs 0`` (or -5) started the server and a ``tagsmith label`` over an empty
    temporary corpus, which failed saying "no documents in the file" of a temporary
    path the user never named."""
    for docs in ("0", "-5"):
        done = _run("prompt_tokens.py", ["--docs", docs], tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert f"--docs: must be at least 1, got {docs}" in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--k", "0"], "--k must be 1 or more, not 0"),
    (["--mapie-grid-step", "0"], "--mapie-grid-step must be a number in (0, 1), not 0"),
    (["--shrinkage", "-1"], "--shrinkage must be a finite number, 0 or more, not -1"),
    (["--shrinkage", "nan"], "--shrinkage must be a finite number, 0 or more, not nan"),
], ids=["k", "mapie-grid-step", "shrinkage", "shrinkage-nan"])
def test_confidence_checks_k_and_the_mapie_grid_before_any_work(args, message, tmp_path):
    """``--mapie-grid-step 0`` ended in a ZeroDivisionError from numpy after the training
    and the conformal splits; ``--k 0`` failed after the training; ``--shrinkage -1``
    (or nan) in the calibrator's InvalidParameterError traceback, after the training."""
    done = _run("confidence.py", ["--dataset", "goemotions", *args], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--zeroshot-max-docs", "0"], "--zeroshot-max-docs must be 1 or more, not 0"),
    (["--zeroshot-max-docs", "-5"], "--zeroshot-max-docs must be 1 or more, not -5"),
    (["--hard-error", "1.5"], "--hard-error must be a number in [0, 1], not 1.5"),
], ids=["zeroshot-0", "zeroshot-negative", "hard-error"])
def test_llm_checks_doc_counts_and_error_rates_before_any_work(args, message, tmp_path):
    """``--zeroshot-max-docs 0`` meant every test document and -5 all but five; a teacher
    error rate above 1 was taken as it was (every answer wrong), with no word."""
    done = _run("llm.py", ["--dataset", "goemotions", *args], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(("absent", "args", "message"), [
    ("hnswlib", ["--compare-hnsw"], "needs hnswlib: pip install 'tagsmith[embed]'"),
    ("hnswlib", ["--index", "hnsw"], "needs hnswlib: pip install 'tagsmith[embed]'"),
    ("sentence_transformers", [], "needs sentence_transformers: pip install 'tagsmith[embed]'"),
], ids=["compare-hnsw", "index-hnsw", "encoder"])
def test_llm_names_a_missing_embed_package_before_any_work(absent, args, message, tmp_path):
    """Without the ``embed`` extra the zero-shot part ended in a MissingDependencyError
    traceback, after the data reading (``--compare-hnsw`` without hnswlib: after
    embedding the whole test split)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    script = str(ROOT / "benchmarks" / "llm.py")
    argv = [script, "--dataset", "goemotions", *args, "--data-dir", str(tmp_path / "data"),
            "--work-dir", str(tmp_path / "work")]
    # a module set to None in sys.modules is one that is not installed
    code = (f"import runpy, sys; sys.modules[{absent!r}] = None; sys.argv = {argv!r}; "
            f"runpy.run_path({script!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr and "--skip zeroshot" in done.stderr
    assert not (tmp_path / "work").exists()
    done = subprocess.run([sys.executable, "-c", code.replace("'goemotions'",
                           "'goemotions', '--skip', 'zeroshot'")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert message not in done.stderr  # then it goes on (to the missing data here)


def test_llm_names_hnswlib_when_index_auto_chooses_hnsw_for_the_labels(monkeypatch, capsys,
                                                                      tmp_path):
    """``--index auto`` (the default) builds HNSW above ``HNSW_FROM_ROWS`` label rows:
    without hnswlib the zero-shot part died in a MissingDependencyError traceback after
    embedding every label text, as only --compare-hnsw / --index hnsw were checked.
    (The data reading and the zero-shot part are replaced: no run here; the limit is
    lowered to 2 rows so that 3 labels make auto choose hnsw.)"""
    import tagsmith.zeroshot.index
    from tagsmith.data.labelspace import Label, LabelSpace

    llm, xmc = _benchmark("llm"), _benchmark("xmc")
    space = LabelSpace([Label(f"u:{name}", {"en": name}) for name in ("cats", "dogs", "owls")])
    monkeypatch.setattr(llm, "load", lambda *args, **kwargs: (space, (["a"], None), None,
                                                             (["b"], None)))
    monkeypatch.setattr(xmc, "make_data_work_dir", lambda *args, **kwargs: tmp_path)
    ran = []
    monkeypatch.setattr(llm, "zeroshot", lambda *args: ran.append(args) or {})
    monkeypatch.setattr(tagsmith.zeroshot.index, "HNSW_FROM_ROWS", 2)
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # None: not installed
    argv = ["llm.py", "--dataset", "goemotions", "--skip", "taxonomy,active"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        llm.main()
    assert exited.value.code == 2 and not ran
    err = capsys.readouterr().err
    assert ("llm.py: error: the zero-shot part needs hnswlib: --index auto searches the 3 "
            "label texts (above 2) with HNSW: pip install 'tagsmith[embed]' (or --index "
            "exact, or --skip zeroshot)\n" in err), err
    monkeypatch.setattr(sys, "argv", [*argv, "--index", "exact"])
    llm.main()  # exact search needs no hnswlib: it goes on
    assert len(ran) == 1
    monkeypatch.setattr(tagsmith.zeroshot.index, "HNSW_FROM_ROWS", 3)  # auto: exact
    monkeypatch.setattr(sys, "argv", argv)
    llm.main()
    assert len(ran) == 2


@pytest.mark.parametrize(("script", "args"), [
    ("read_timing.py", ["--runs", "0"]),
    ("calibrated_predict_timing.py", ["--test-docs", "0"]),
    ("knn_ensemble.py", ["yso", "--train-docs", "0"]),
    ("solver_timing.py", ["--threads", "0"]),
], ids=["read_timing", "calibrated_predict_timing", "knn_ensemble", "solver_timing"])
def test_the_timing_scripts_refuse_a_count_below_one(script, args, tmp_path):
    """``read_timing.py --runs 0`` died in statistics.median of nothing; the others'
    zero counts failed in a traceback, some after reading the data or training."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"{args[-2]} must be 1 or more, not 0" in done.stderr


@pytest.mark.parametrize(("args", "named"), [
    (["--data-dir", "/nonexistent"], "--data-dir"),
    (["--train-docs", "5", "--test-docs", "5"], "--train-docs and --test-docs"),
], ids=["data-dir", "counts"])
def test_knn_ensemble_goemotions_refuses_the_options_of_yso(args, named, monkeypatch, capsys):
    """``knn_ensemble.py goemotions --data-dir /nonexistent`` ran the whole benchmark and
    exited 0: that mode reads the bundled examples/goemotions and ignored --data-dir,
    --train-docs and --test-docs. (The benchmark itself is replaced: never run here.)"""
    module = _benchmark("knn_ensemble")
    ran = []
    monkeypatch.setattr(module, "goemotions", lambda: ran.append("goemotions"))
    monkeypatch.setattr(sys, "argv", ["knn_ensemble.py", "goemotions", *args])
    with pytest.raises(SystemExit) as exited:
        module.main()
    assert exited.value.code == 2 and not ran
    err = capsys.readouterr().err
    said = f"{named} only appl{'y' if ' and ' in named else 'ies'} with yso (goemotions " \
           "reads the copy bundled in examples/goemotions)"
    assert f"knn_ensemble.py: error: {said}\n" in err, err  # on one line, after the usage
    monkeypatch.setattr(sys, "argv", ["knn_ensemble.py", "goemotions"])
    module.main()  # none of them given: the benchmark runs
    assert ran == ["goemotions"]


@pytest.mark.parametrize(("args", "message"), [
    (["--batches", "125,many"], "--batches: '125,many' is not a comma-separated list"),
    (["--error-rate", "2"], "--error-rate must be a number in [0, 1], not 2"),
    (["--seed", "-1"], "--seed must be 0 or more, not -1"),
], ids=["batches", "error-rate", "seed"])
def test_rad_spread_checks_batches_and_error_rate_first(args, message, tmp_path):
    """``--batches`` was read after the corpus was loaded and featurized (a ValueError
    traceback); an error rate above 1 went through; ``--seed -1`` ended in numpy's
    ValueError traceback after the featurizing."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rad_spread.py"), *args,
                           "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr


@pytest.mark.parametrize(("step", "args", "message"), [
    ("audit", ["--options", "{bad"], "argument --options: not JSON ("),
    ("audit", ["--options", "[1]"], "argument --options: not a JSON object: [1]"),
    ("audit", ["--options", '{"nosuch": 1}'],
     "--options: AuditOptions.__init__() got an unexpected keyword argument 'nosuch'"),
    ("audit", [], "audit_runner.py audit: {vocab}: vocabulary file not found"),
    ("audit", ["--seed", "1", "--options", '{"seed": 0}'],
     "audit_runner.py audit: --seed 1 and --options' \"seed\" 0 contradict each other"),
    ("train", ["--params", '{"n_trees": 3'], "argument --params: not JSON ("),
    ("train", [], "audit_runner.py train: {vocab}: vocabulary file not found"),
], ids=["options-json", "options-list", "options-field", "audit-vocab", "audit-seeds",
        "params-json", "train-vocab"])
def test_audit_runner_names_a_bad_option_or_file_not_a_traceback(step, args, message,
                                                                 tmp_path):
    """RESULTS.md gives ``audit_runner.py audit ... --options '{"seed": 0}'`` to run by
    hand: a mistyped path ended in a VocabularyError traceback, bad JSON in a
    JSONDecodeError one and an unknown option in a TypeError one, after the reading."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    vocab = tmp_path / "vocab.tsv"
    paths = (["--split", f"test={tmp_path / 'test.tsv'}", "--out-dir", str(tmp_path / "out")]
             if step == "audit" else
             ["--dev", str(tmp_path / "dev.tsv"), "--test", str(tmp_path / "test.tsv"),
              "--model", "tree", "--out", str(tmp_path / "result.json")])
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "audit_runner.py"), step,
                           "--corpus", str(tmp_path / "train.tsv"), "--vocab", str(vocab),
                           *paths, *args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message.format(vocab=vocab) in done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "result.json").exists()


def test_audit_runner_audits_with_its_seed_and_logs_the_step_times_under_v(tmp_path):
    """``audit_runner.py audit --seed 3`` was accepted and ignored (the audit ran on
    seed 0), and the audit's step times were logged at DEBUG with no way to see them
    short of a wrapper: the seed is the audit's, and -v shows them."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    _toy_corpus(tmp_path)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "audit_runner.py"),
                           "audit", "--corpus", str(tmp_path / "train.tsv"), "--vocab",
                           str(tmp_path / "vocab.tsv"), "--seed", "3", "--options",
                           '{"evidence": false, "near_duplicates": false}', "--out-dir",
                           str(out), "-v"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["meta"]["options"]["seed"] == 3
    assert "DEBUG tagsmith: issues: collect done (" in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("case", ["train-docs", "bundle"])
def test_calibrated_predict_timing_names_too_few_documents_or_a_non_bundle(case, tmp_path):
    """``--train-docs 50`` (too few to set 10 aside for calibration) ended in a DataError
    traceback after reading the corpus; a ``--bundle`` folder with no bundle in it in a
    BundleError traceback."""
    import gzip

    base = tmp_path / "data" / "yso-finna-en"
    base.mkdir(parents=True)
    labels = [f"<http://www.yso.fi/onto/yso/p{i}>" for i in range(3)]
    with gzip.open(base / "yso-en-labels.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(f"{uri}\tlabel {i}\n" for i, uri in enumerate(labels))
    for name in ("clean-train", "clean-dev", "clean-test"):
        with gzip.open(base / f"{name}.tsv.gz", "wt", encoding="utf-8") as handle:
            handle.writelines(f"title number {i} word{i % 3}\t{labels[i % 3]}\n"
                              for i in range(60))
    bundle = tmp_path / "bundle"
    if case == "bundle":
        bundle.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" /
                                               "calibrated_predict_timing.py"),
                           "--data-dir", str(tmp_path / "data"), "--bundle", str(bundle),
                           "--train-docs", "50", "--test-docs", "5", "--runs", "1"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    if case == "bundle":
        assert f"--bundle: {bundle}: manifest.json is missing" in done.stderr
    else:
        assert "--train-docs 50: only 5 held-out documents" in done.stderr
        assert not bundle.exists()


def test_rad_spread_refuses_a_batch_larger_than_the_pool(tmp_path):
    """``--batches 100000`` on Reuters ended in numpy's "Cannot take a larger sample than
    population" traceback, after the corpus was read and featurized."""
    import gzip

    base = tmp_path / "data" / "reuters21578"
    base.mkdir(parents=True)
    (base / "labels.txt").write_text("acq\ngrain\n", encoding="utf-8")
    for name, n in (("modapte-train", 320), ("modapte-test", 10)):  # 300 go to dev
        with gzip.open(base / f"{name}.jsonl.gz", "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"id": i, "text": f"story {i} about {label}",
                                          "labels": [label]}) + "\n"
                              for i in range(n) for label in [("acq", "grain")[i % 2]])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rad_spread.py"),
                           "--batches", "5,50", "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "--batches: 50 is not below the pool's 20 documents" in done.stderr


@pytest.mark.parametrize("part", ["llm_active.py", "llm_sim.py"])
def test_the_parts_of_llm_py_point_to_it_when_run(part):
    """``python benchmarks/llm_sim.py --help`` printed nothing and exited 0."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / part), "--help"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"{part} is a part of benchmarks/llm.py" in done.stderr


def test_xmc_refuses_a_peer_timeout_that_is_not_positive(tmp_path):
    """``--peer-timeout 0`` let every peer be installed, then killed at once and
    reported as failed, after the features had been computed."""
    done = _run("xmc.py", ["--dataset", "goemotions", "--peer-timeout", "0"], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "--peer-timeout must be a positive number of seconds, not 0" in done.stderr
    assert not (tmp_path / "work").exists()


def test_repair_curve_budgets_are_numbers_or_multiples_of_the_injected_errors():
    curve = _benchmark("audit_repair_curve")
    assert curve.parse_budgets("6xinjected, 1000", 7, 3) == [("6xinjected", 42),
                                                            ("1000", 1000)]
    # audit.py's spellings too (the curve had a parser of its own, without them)
    assert curve.parse_budgets("injected,flagged", 7, 3) == [("injected", 7), ("flagged", 3)]
    # no injected errors: a budget of 0 trained the unrepaired corpus as a "repair"
    assert curve.parse_budgets("1000", 0, 0) == [("1000", 1000)]
    with pytest.raises(ValueError, match="--top-n: '1xinjected' is a budget of 0 candidates, "
                       "as the run injected no errors"):
        curve.parse_budgets("1000,1xinjected", 0, 3)
    with pytest.raises(ValueError, match="--top-n: 'flagged' is a budget of 0 candidates, "
                       "as the audit flagged no candidate"):
        curve.parse_budgets("flagged", 7, 0)


NONE_OF = ("is none of injected, flagged, <k>xinjected (k times the injected errors) or a "
           "positive number of candidates")


def test_top_n_has_one_parser_with_the_union_of_the_spellings():
    """audit.py took injected, flagged, 2xinjected and numbers (no spaces after commas);
    audit_repair_curve.py numbers and <k>xinjected (not injected), each with its own
    error for the same mistake. One parser now, audit.py's, that the curve imports."""
    audit = _benchmark("audit")
    assert audit.parse_top_n("injected, 2xinjected,3xinjected , flagged,007") == [
        "injected", "2xinjected", "3xinjected", "flagged", "007"]
    assert [audit.top_n_size(name, 7, 3) for name in ("injected", "2xinjected", "flagged",
                                                      "007")] == [7, 14, 3, 7]
    for spec, bad in (("0", "0"), ("0xinjected", "0xinjected"), ("xinjected", "xinjected"),
                      ("junk", "junk"), ("", ""), ("6xinjected,", ""), ("-3", "-3"),
                      ("1.5", "1.5"), ("2x", "2x"), ("2xinjectd", "2xinjectd"),
                      ("Injected", "Injected"), ("\u00b2", "\u00b2"), ("2\u00b2", "2\u00b2")):
        with pytest.raises(ValueError) as error:
            audit.parse_top_n(spec)
        assert str(error.value) == f"--top-n: {bad!r} {NONE_OF}"
    # the same budget twice trained twice into the same files, and one entry was kept
    for spec, message in (("1000,2xinjected,1000", "'1000' is given twice"),
                          ("injected,1xinjected", "'1xinjected' is given twice (as "
                                                  "'injected')"),
                          ("7, 007", "'007' is given twice (as '7')")):
        with pytest.raises(ValueError) as error:
            audit.parse_top_n(spec)
        assert str(error.value) == f"--top-n: {message}"


@pytest.mark.parametrize(("top_n", "message"), [
    ("injected,2xinjectd", f"--top-n: '2xinjectd' {NONE_OF}"),
    ("2xinjected,2xinjected", "--top-n: '2xinjected' is given twice")])
def test_both_scripts_refuse_a_bad_top_n_alike_before_any_work(top_n, message, tmp_path):
    done = _run("audit.py", ["--dataset", "goemotions", "--top-n", top_n], tmp_path)
    curved = _curve(tmp_path / "nothing", top_n)
    for run in (done, curved):
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
        assert message in run.stderr, run.stderr[-2000:]
    assert "no vocab.tsv" not in curved.stderr  # refused before the data folder was read
    assert not (tmp_path / "work").exists()


def test_audit_stops_before_training_when_the_rates_round_to_no_injected_error():
    """A small slice whose rates round to no removed and no added label ran on with
    review budgets of 0 candidates (the unrepaired corpus trained as the "repair")."""
    import argparse

    audit = _benchmark("audit")
    args = argparse.Namespace(missing_rate=0.1, wrong_rate=0.0)
    with pytest.raises(SystemExit, match="no label noise was injected: --missing-rate 0.1 "
                       "and --wrong-rate 0 of the 1 given training label round to 0 removed "
                       "and 0 added; give higher rates or more documents"):
        audit.check_noise_injected(0, 0, 1, args)
    audit.check_noise_injected(1, 0, 10, args)  # one injected error: the run goes on
    audit.check_noise_injected(0, 1, 10, args)


def test_audit_prepare_counts_the_documents_it_leaves_out_in_the_singular(tmp_path, capsys,
                                                                         monkeypatch):
    """The log said "1 documents with an empty text left out" and "1 documents also in
    dev left out"."""
    import argparse

    import numpy as np
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace

    audit = _benchmark("audit")
    xmc = _benchmark("xmc")
    space = LabelSpace.from_uris(["u:a", "u:b"])
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 1], [1, 0]]))
    splits = {"train": (["cats purr", "dogs bark", "cats and dogs", "cats sleep"], Y),
              "dev": (["cats purr"], Y[:1]), "test": (["dogs run", " "], Y[:2]),
              "label_space": space, "notes": []}
    monkeypatch.setattr(xmc, "read_splits", lambda *args, **kwargs: splits)
    args = argparse.Namespace(dataset="goemotions", seed=0, missing_rate=0.25, wrong_rate=0.0,
                              max_train_docs=None, data_dir=tmp_path / "data")
    data_dir = audit.prepare(args, tmp_path / "work")
    err = capsys.readouterr().err
    assert "test: 1 document with an empty text left out" in err
    assert "train: 1 document also in dev left out" in err
    assert (data_dir / "truth.npz").exists()


def test_audit_max_train_docs_draws_its_slice_with_the_seed(tmp_path):
    """``--max-train-docs N`` drew the same documents for every ``--seed``: the small-corpus
    figures' spread over seeds said nothing of which documents a team happens to hold. The
    slice is now drawn with the seed (seed 0 keeps the slice it had); the whole split,
    which the runs of record audit, is the same for every seed."""
    import argparse
    import gzip

    import numpy as np

    audit = _benchmark("audit")
    source = tmp_path / "work" / "source"
    source.mkdir(parents=True)
    (source / "vocab.tsv").write_text("<urn:e:a>\ta\n<urn:e:b>\tb\n", encoding="utf-8")
    texts = [f"comment number {i}" for i in range(40)]
    for split in ("train", "dev", "test"):
        with gzip.open(source / f"{split}.tsv.gz", "wt", encoding="utf-8") as out:
            for i, text in enumerate(texts if split == "train" else [f"{split} {i}"
                                                                      for i in range(4)]):
                out.write(f"{text}\t<urn:e:{'ab'[i % 2]}>\n")

    def train_texts(seed, max_train_docs):
        args = argparse.Namespace(dataset="goemotions", seed=seed, missing_rate=0.1,
                                  wrong_rate=0.05, max_train_docs=max_train_docs,
                                  data_dir=tmp_path / "data")
        data_dir = audit.prepare(args, tmp_path / "work")
        with gzip.open(data_dir / "train-clean.tsv.gz", "rt", encoding="utf-8") as lines:
            return [line.split("\t")[0] for line in lines]

    first = np.sort(np.random.default_rng(0).choice(40, size=10, replace=False))
    assert train_texts(0, 10) == [texts[i] for i in first]  # seed 0: the slice of before
    assert train_texts(1, 10) != train_texts(0, 10)
    assert len(train_texts(1, 10)) == 10 and set(train_texts(1, 10)) <= set(texts)
    assert train_texts(0, None) == train_texts(1, None) == texts



def test_a_random_train_slice_names_its_seed_in_the_notes(tmp_path):
    """``read_splits``' note said "train = a seeded random sample of N documents" with
    no seed: now that seeds draw different slices, a results file (audit.py's meta.json,
    xmc.py's JSON lines) could not tell which slice it audited. It names the seed."""
    import gzip

    xmc = _benchmark("xmc")
    source = tmp_path / "work" / "source"
    source.mkdir(parents=True)
    (source / "vocab.tsv").write_text("<urn:e:a>\ta\n<urn:e:b>\tb\n", encoding="utf-8")
    for split, n in (("train", 40), ("dev", 4), ("test", 4)):
        with gzip.open(source / f"{split}.tsv.gz", "wt", encoding="utf-8") as out:
            out.writelines(f"{split} comment {i}\t<urn:e:{'ab'[i % 2]}>\n" for i in range(n))

    def notes(**kwargs):
        return xmc.read_splits("goemotions", tmp_path / "data", tmp_path / "work", 10,
                               "random", **kwargs)["notes"]

    assert "train = a random sample of 10 documents drawn with seed 3" in notes(slice_seed=3)
    assert "train = a random sample of 10 documents drawn with seed 0" in notes()
    assert not [n for n in xmc.read_splits("goemotions", tmp_path / "data",
                                           tmp_path / "work", None)["notes"]
                if n.startswith("train =")]  # the whole split: no slice to name


def test_audit_reprune_flags_each_label_within_each_budget(tmp_path, monkeypatch, capsys):
    """``audit_reprune.py`` (the README's "flagging by the bounds' count" figures) had no
    test: on a finished run's files it re-flags the wrong candidates of probability 0.5
    or more within confident learning's count, the bounds' count (wrong-rate bound times
    the label's given documents), the smaller of the two, or none, and scores each
    against the planted truth; the missing side and the ranking are left as they are."""
    import json

    import numpy as np
    import scipy.sparse as sp

    from tagsmith.audit.detect import MISSING, WRONG

    reprune = _benchmark("audit_reprune")
    data_dir = tmp_path / "data-0123456789"
    audit_dir = data_dir / "runs" / "audit"
    audit_dir.mkdir(parents=True)
    # candidates in ranking order: (doc, label, kind, probability)
    rows = [(0, 0, WRONG, 0.9), (1, 1, MISSING, 0.9), (1, 0, WRONG, 0.8), (3, 1, WRONG, 0.7),
            (2, 0, WRONG, 0.6), (3, 0, WRONG, 0.3)]
    doc, label, kind, probability = (np.array(column) for column in zip(*rows, strict=True))
    as_audited = np.array([True, True, False, True, False, False])  # 1 wrong a label
    np.savez(audit_dir / "issues.npz", doc=doc, label=label, kind=kind.astype(np.int8),
             probability=probability, score=probability, flagged=as_audited)
    (audit_dir / "labels.csv").write_text(
        "id,n_given,est_wrong,est_missing\n0,4,1.0,1.0\n1,2,1.0,1.0\n", encoding="utf-8")
    report = {"corpus": {"n_labels_in_space": 2},
              "noise": {"bounds": {"wrong_rate": 0.6, "by_mixture": {"wrong_rate": 0.5}}}}
    (audit_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    # planted: (1, 0) and (3, 1) wrong, (1, 1) missing
    removed = sp.csr_matrix(([True], ([1], [1])), shape=(4, 2))
    added = sp.csr_matrix(([True, True], ([1, 3], [0, 1])), shape=(4, 2))
    np.savez(data_dir / "truth.npz", shape=np.array([4, 2]),
             removed_indices=removed.indices, removed_indptr=removed.indptr,
             added_indices=added.indices, added_indptr=added.indptr)

    monkeypatch.setattr(sys, "argv", ["audit_reprune.py", str(data_dir)])
    reprune.main()
    out = json.loads(capsys.readouterr().out)
    assert out["wrong_rate_bound"] == 0.5  # the mixture's bound, not the one raised
    assert out["cl_as_audited"] is True
    # confident learning's count: 1 a label (docs 0 and 3); the bounds' 0.5 x 4 = 2 and
    # 0.5 x 2 = 1 (docs 0, 1 and 3); the smaller, as confident learning's; no count:
    # every candidate of 0.5 or more (not doc 3's label 0, at 0.3)
    assert out["cl"] == out["min"] == {"n_flagged_wrong": 2, "wrong_precision": 0.5,
                                       "wrong_recall": 0.5}
    assert out["bounds"] == {"n_flagged_wrong": 3, "wrong_precision": 0.6667,
                             "wrong_recall": 1.0}
    assert out["prob_only"] == {"n_flagged_wrong": 4, "wrong_precision": 0.5,
                                "wrong_recall": 1.0}
    assert 0 < out["wrong_pr_auc"] <= 1
    # bounds withheld: no bounds' budgets, and a run flagged otherwise than step 6 says so
    report["noise"]["bounds"] = None
    (audit_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    np.savez(audit_dir / "issues.npz", doc=doc, label=label, kind=kind.astype(np.int8),
             probability=probability, score=probability, flagged=~as_audited)
    out = reprune.reprune(data_dir)
    assert "bounds" not in out and "min" not in out and out["wrong_rate_bound"] is None
    assert out["cl_as_audited"] is False


def test_audit_max_train_docs_does_not_reuse_a_slice_prepared_before_it_took_the_seed(
        tmp_path, monkeypatch):
    """The data folder's key did not change when ``--max-train-docs`` began drawing its
    slice with ``--seed``: a work folder prepared before held seed 0's slice under seed
    1's key, and ``prepare`` reused it as seed 1's. Seeded slices now get their own
    key; seed 0 and the whole split keep theirs (their folders are the figures')."""
    import argparse
    import hashlib
    import json

    audit = _benchmark("audit")
    xmc = _benchmark("xmc")
    work = tmp_path / "work"

    def old_key(seed, max_train_docs):
        key = hashlib.sha1(json.dumps(["goemotions", seed, 0.1, 0.05, max_train_docs])
                           .encode()).hexdigest()
        return work / f"data-{key[:10]}"

    for seed, docs in ((1, 10), (0, 10), (1, None)):
        old_key(seed, docs).mkdir(parents=True)
        (old_key(seed, docs) / "truth.npz").write_bytes(b"prepared before")
    monkeypatch.setattr(xmc, "read_splits", lambda *args, **kwargs: 1 / 0)  # not read

    def prepare(seed, max_train_docs):
        return audit.prepare(argparse.Namespace(
            dataset="goemotions", seed=seed, missing_rate=0.1, wrong_rate=0.05,
            max_train_docs=max_train_docs, data_dir=tmp_path / "data"), work)

    assert prepare(0, 10) == old_key(0, 10) and prepare(1, None) == old_key(1, None)
    with pytest.raises(ZeroDivisionError):  # seed 1's slice is drawn afresh
        prepare(1, 10)


def test_repair_curve_recovered_fraction_of_the_lost_p1():
    curve = _benchmark("audit_repair_curve")
    assert curve.recovered(0.6, 0.5, 0.7) == 0.5
    assert curve.recovered(0.7, 0.5, 0.7) == 1.0
    assert curve.recovered(0.4, 0.5, 0.7) == -0.5  # a repair that made it worse
    assert curve.recovered(0.123456, 0.1, 0.2) == 0.235  # rounded to 3 places
    assert curve.recovered(0.6, 0.5, 0.5) is None  # nothing was lost
    assert curve.recovered(0.6, 0.5, 0.4) is None  # the noise helped


def test_repair_curve_reads_the_first_training_seed_of_the_run():
    """``--seed -2`` was read as 0: the curve trained with other seeds than the run."""
    curve = _benchmark("audit_repair_curve")
    command = "flock /tmp/x.lock python benchmarks/audit.py --dataset goemotions"
    assert curve.first_training_seed(command) == 0
    assert curve.first_training_seed(command + " --seed 3 --train-seeds 2") == 3
    assert curve.first_training_seed(command + " --seed=12") == 12
    assert curve.first_training_seed(command + " --seed -2 --results-md") == -2


_CURVE_FILES = ["vocab.tsv", "train-noisy.tsv.gz", "Y_noisy.npz", "truth.npz",
                "runs/result.json", "runs/audit/issues.npz"]


def _curve(data, top_n: str = "2xinjected"):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "audit_repair_curve.py"),
                           "--data", str(data), "--top-n", top_n],
                          capture_output=True, text=True, env=env, timeout=120)


def _curve_data(tmp_path, result, skip=()):
    """The files the curve checks before any work, empty but for result.json."""
    data = tmp_path / "data-key"
    for name in _CURVE_FILES:
        if name not in skip:
            (data / name).parent.mkdir(parents=True, exist_ok=True)
            (data / name).write_bytes(b"")
    if "runs/result.json" not in skip:
        text = result if isinstance(result, str) else json.dumps(result)
        (data / "runs" / "result.json").write_text(text, encoding="utf-8")
    return data


def test_repair_curve_names_every_missing_file_of_the_data_folder(tmp_path):
    done = _curve(tmp_path / "nothing")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"--data {tmp_path / 'nothing'}: no {', '.join(_CURVE_FILES)}" in done.stderr
    assert "benchmarks/audit.py" in done.stderr
    data = _curve_data(tmp_path, {}, skip=("truth.npz", "runs/audit/issues.npz"))
    done = _curve(data)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f": no truth.npz, runs{os.sep}audit{os.sep}issues.npz (give" in done.stderr
    assert not (data / "runs" / "curve").exists()


GOOD = {"dataset": "goemotions", "train_seeds": 2, "p1_clean_runs": [0.6, 0.62],
        "p1_noisy_runs": [0.5, 0.52]}


@pytest.mark.parametrize(("result", "message"), [
    ({**GOOD, "p1_noisy_runs": [0.5]}, "2 training seeds but 2 clean and 1 noisy P@1 values"),
    ({"dataset": "goemotions", "train_seeds": 1, "p1_clean": 0.6, "p1_noisy_runs": [1, 2]},
     "1 training seed but 1 clean and 2 noisy P@1 values"),
    ({"dataset": "goemotions", "p1_clean": 0.6}, "no p1_noisy (nor p1_noisy_runs)"),
    ({**GOOD, "p1_clean_runs": 0.6}, "the clean P@1 is 0.6, not numbers"),
    ({**GOOD, "train_seeds": 0}, "train_seeds is 0, not a count of 1 or more"),
    ({**GOOD, "dataset": "nosuch"}, "the dataset 'nosuch' is none of goemotions, "),
    ({**GOOD, "review_kind": "missing"}, "a run with --review-kind missing"),
    ("[1, 2]", "not a JSON object"),
    ('{"dataset": ', "not JSON ("),
])
def test_repair_curve_refuses_a_result_it_cannot_extend(result, message, tmp_path):
    """Only disagreeing seed counts were refused: a result.json without p1_noisy, a
    broken one or one of an unknown dataset gave a traceback (some after the audit's
    ranking was read); a --review-kind run was extended as if it had reviewed all."""
    data = _curve_data(tmp_path, result)
    done = _curve(data)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"{data / 'runs' / 'result.json'}: {message}" in done.stderr
    assert not (data / "runs" / "curve").exists()


def test_repair_curve_refuses_a_multiple_of_no_injected_errors(tmp_path):
    """A run with no injected errors made '2xinjected' a budget of 0: the noisy corpus
    was trained again and reported as a repair."""
    import numpy as np

    data = _curve_data(tmp_path, GOOD)
    empty = np.zeros(0, dtype=np.int32)
    with open(data / "truth.npz", "wb") as handle:
        np.savez(handle, shape=np.array([3, 4]), removed_indices=empty,
                 removed_indptr=np.zeros(4, dtype=np.int32), added_indices=empty,
                 added_indptr=np.zeros(4, dtype=np.int32))
    done = _curve(data, "2xinjected")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "--top-n: '2xinjected' is a budget of 0 candidates, as the run injected no " \
           "errors" in done.stderr
    assert not (data / "runs" / "curve").exists()


@pytest.mark.parametrize(("script", "args"), [
    ("xmc_tune.py", ["--dataset", "goemotions", "--family", "tree"]),
    ("xmc_tune.py", ["--dataset", "yso-finna-en", "--family", "tree"]),
    ("xmc.py", ["--dataset", "goemotions"]),
    ("xmc.py", ["--dataset", "reuters21578"]),
    ("audit.py", ["--dataset", "reuters21578"]),
    ("confidence.py", ["--dataset", "goemotions", "--no-mapie"]),
    ("confidence.py", ["--dataset", "yso-finna-en", "--no-mapie"]),
    ("foundation.py", ["--dataset", "goemotions"]),
    ("llm.py", ["--dataset", "goemotions"]),
    ("llm.py", ["--dataset", "reuters21578"]),
], ids=lambda value: value if isinstance(value, str) else value[1])
def test_a_bad_data_dir_leaves_no_work_folder(script, args, tmp_path):
    """A bad --data-dir was found only after the work folder had been made: an empty
    work/<dataset> folder was left behind (every script but xmc_tune.py)."""
    dataset = args[1]
    done = _run(script, args, tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"{dataset}: missing {tmp_path / 'data' / dataset}" in done.stderr
    assert "--data-dir" in done.stderr
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("data_needed", [False, True])
def test_an_existing_work_folder_skips_the_data_check_unless_the_data_is_needed(
        data_needed, tmp_path):
    """A work folder that is there may hold prepared data (xmc's cached features, audit's
    data-<key>): no dataset is needed for it, unless the script reads the data anyway."""
    xmc = _benchmark("xmc")
    work = tmp_path / "work" / "goemotions"
    work.mkdir(parents=True)
    if data_needed:
        with pytest.raises(SystemExit, match="goemotions: missing .*--data-dir"):
            xmc.make_data_work_dir("goemotions", tmp_path / "data", work, data_needed=True)
    else:
        assert xmc.make_data_work_dir("goemotions", tmp_path / "data", work) == work


def test_xmc_tune_with_a_work_folder_reads_its_cache_not_the_data_dir(tmp_path):
    """Features cached in the work folder need no data: the check before it is skipped."""
    (tmp_path / "work" / "goemotions").mkdir(parents=True)
    done = _run("xmc_tune.py", ["--dataset", "goemotions", "--family", "tree"], tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    # the check came from reading the data (no cache there), after the work folder
    assert "reading goemotions from" in done.stderr


def _recording_train():
    """A stand-in for benchmarks/audit.py's run_train: the (name, corpus file) of each
    training asked for, and a P@1 of 0.5."""
    trained = []

    def train(name, corpus, data_dir, runs, args):
        trained.append((name, corpus.name))
        return {"p1": 0.5, "train_seconds": 1.0}

    return trained, train


def test_audit_skips_a_repair_of_0_candidates_with_a_null_p1(tmp_path, capsys):
    """An audit that flags nothing made --top-n flagged review 0 candidates and train the
    noisy corpus again as its "repair", reported as a repaired P@1. Now that budget is
    skipped, its reason logged and kept, its P@1 null; another budget trains as before."""
    import argparse

    import numpy as np
    import scipy.sparse as sp

    from tagsmith.audit.detect import MISSING
    from tagsmith.data.labelspace import LabelSpace

    audit = _benchmark("audit")
    trained, train = _recording_train()

    Y_noisy = sp.csr_matrix(np.array([[1, 0], [0, 0]], np.float32))
    issues = {"doc": np.array([1]), "label": np.array([1]), "kind": np.array([MISSING])}
    args = argparse.Namespace(top_n="flagged,injected", review_kind="all")
    runs = audit.train_repairs({"flagged": 0, "injected": 1}, Y_noisy, issues,
                               np.array([True]), ["a", "b"], LabelSpace.from_uris(["u:a", "u:b"]),
                               tmp_path, tmp_path, args, train=train)
    assert trained == [("repaired-injected", "train-repaired-injected.tsv.gz")]
    assert runs["injected"] == {"top_n": 1, "accepted": 1, "accepted_missing": 1,
                                "accepted_wrong": 0, "accepted_missing_in_unlabelled_docs": 1,
                                "unlabelled_docs_relabelled": 1, "p1": 0.5,
                                "train_seconds": 1.0}
    flagged = runs["flagged"]
    assert (flagged["p1"], flagged["train_seconds"], flagged["top_n"]) == (None, None, 0)
    assert "the audit flagged none" in flagged["skipped"]
    assert "repair with --top-n flagged: skipped" in capsys.readouterr().err
    assert not (tmp_path / "train-repaired-flagged.tsv.gz").exists()


def test_audit_skips_a_repair_whose_review_kind_leaves_no_candidate(tmp_path, capsys):
    """An audit that flags candidates of one kind alone, reviewed with --review-kind of
    the other, reviewed 0 candidates whatever the budget: its "repair" trained the noisy
    corpus again and was reported as a repaired P@1. It is skipped as a budget of 0
    candidates is; a kind that leaves candidates trains as before."""
    import argparse

    import numpy as np
    import scipy.sparse as sp

    from tagsmith.audit.detect import MISSING
    from tagsmith.data.labelspace import LabelSpace

    audit = _benchmark("audit")
    trained, train = _recording_train()

    Y_noisy = sp.csr_matrix(np.array([[1, 0], [0, 0]], np.float32))
    space = LabelSpace.from_uris(["u:a", "u:b"])
    none = {"doc": np.array([], int), "label": np.array([], int), "kind": np.array([], int)}
    args = argparse.Namespace(top_n="flagged,1", review_kind="missing")
    runs = audit.train_repairs({"flagged": 2}, Y_noisy, none, np.array([], bool),
                               ["a", "b"], space, tmp_path, tmp_path, args, train=train)
    assert trained == []
    for spec, budget in (("flagged", "2 candidates"), ("1", "1 candidate")):
        run = runs[spec]
        assert (run["p1"], run["train_seconds"], run["top_n"]) == (None, None, 0)
        assert run["skipped"] == (f"--top-n {spec} is {budget}, but --review-kind missing "
                                  "leaves none of the audit's candidates: nothing "
                                  "reviewed, so the repaired corpus would be the noisy one")
    err = capsys.readouterr().err
    assert "repair with --top-n flagged: skipped" in err
    assert "repair with --top-n 1: skipped" in err
    assert not list(tmp_path.glob("train-repaired-*"))
    # one missing candidate left by the kind: the budget trains it, as it did
    issues = {"doc": np.array([1]), "label": np.array([1]), "kind": np.array([MISSING])}
    args = argparse.Namespace(top_n="flagged", review_kind="missing")
    runs = audit.train_repairs({"flagged": 2}, Y_noisy, issues, np.array([True]),
                               ["a", "b"], space, tmp_path, tmp_path, args, train=train)
    assert trained == [("repaired-flagged-missing", "train-repaired-flagged-missing.tsv.gz")]
    assert (runs["flagged"]["p1"], runs["flagged"]["top_n"]) == (0.5, 1)
    assert "skipped" not in runs["flagged"]


def test_cooc_sweep_at_the_audits_weight_finds_the_audits_issues():
    """The sweep scored each document with its exact copies as neighbours (the audit
    leaves them out since stop 33) and calibrated copies in different folds: its row at
    the audit's weight no longer reproduced the audit. With the audit's duplicate groups
    both ways, the issues are the audit's, pair by pair; and its count of distinct texts
    leaves the blank ones out as the audit's does. The detection's options are the
    audit's too, not only its features, kNN parameters and seed."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    from conftest import FAST_FEATURES, short_texts

    rng = np.random.default_rng(3)
    texts = short_texts(rng, 600)
    texts += [texts[i] for i in rng.integers(0, 600, 200)]  # copies, labelled anew
    texts += ["", "  "] * 5  # blank documents: no distinct texts
    Y = sp.csr_matrix(rng.random((len(texts), 4)) < 0.3)
    # options the issue detection reads, off their defaults: the sweep took the
    # features, kNN parameters and seed from them and left the rest (k, calibration
    # folds, min_probability...) at the defaults, so it did not reproduce such an audit
    options = AuditOptions(scores="knn", cooccurrence=0.3, featurizer_params=FAST_FEATURES,
                           k=3, calibration_folds=3, min_probability=0.3, prior_strength=5.0,
                           max_missing_per_doc=1, rates="label", every_doc_labelled=False)
    audited = audit_corpus(texts, Y, LabelSpace.from_uris([f"u:{j}" for j in range(4)]),
                           options=options).issues
    sweep = _benchmark("audit_cooc_sweep").sweep
    [(_, _, swept, _)] = list(sweep(texts, Y, [0.3], options))
    for name in ("doc", "label", "kind", "probability", "flagged"):
        np.testing.assert_array_equal(getattr(swept, name), getattr(audited, name), name)
    assert swept.details["texts"] == audited.details["texts"]


def test_flagged_budget_counts_the_flagged_candidates_of_the_review_kind():
    """``--top-n flagged --review-kind missing`` reviewed as many missing candidates as
    the audit flagged of both kinds: past the flagged missing ones, into candidates the
    audit did not flag. The budget counts the flagged candidates of the kind reviewed;
    without --review-kind it is every flagged candidate, as before."""
    import numpy as np

    from tagsmith.audit.detect import MISSING, WRONG

    audit = _benchmark("audit")
    kind = np.array([MISSING, WRONG, WRONG, MISSING, WRONG, MISSING, MISSING])
    flagged = np.array([True, True, True, True, False, False, False])
    issues = {"doc": np.arange(7), "label": np.arange(7) % 3, "kind": kind,
              "flagged": flagged}
    hits = np.array([True, True, False, False, True, True, False])
    budgets, reviewed, reviewed_hits = audit.review_budgets(issues, hits, "flagged,3,injected",
                                                            "all", 5)
    assert budgets == {"flagged": 4, "3": 3, "injected": 5}
    assert reviewed is issues and reviewed_hits is hits
    for review_kind, want, n_flagged in (("missing", MISSING, 2), ("wrong", WRONG, 2)):
        budgets, reviewed, reviewed_hits = audit.review_budgets(issues, hits, "flagged",
                                                                review_kind, 5)
        assert budgets == {"flagged": n_flagged}
        assert reviewed["doc"].tolist() == np.flatnonzero(kind == want).tolist()
        assert reviewed_hits.tolist() == hits[kind == want].tolist()
    # the missing reviewer's flagged budget: the two flagged missing candidates only
    _, acceptance = audit.repaired_labels(np.zeros((7, 3)), *audit.review_budgets(
        issues, hits, "flagged", "missing", 5)[1:], 2)
    assert acceptance["top_n"] == 2 and acceptance["accepted_missing"] == 1


def test_knn_group_timing_prints_both_paths_and_their_ratio():
    """benchmarks/knn_group_timing.py (where the kNN's leave-group-out cost is measured,
    not in a timed unit test) runs end to end on a small problem and prints its JSON."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "knn_group_timing.py"),
                           "--single", "50", "--copies", "60", "--labels", "40", "--runs", "1"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["copies"] == 60 and figures["plain_seconds"] > 0
    assert figures["grouped_vs_plain"] > 0
    # --runs 0 ended in statistics' "no median for empty data": refused, naming it
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "knn_group_timing.py"),
                           "--runs", "0"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and "argument --runs: must be at least 1, got 0" in done.stderr


def test_audit_review_sample_says_whether_the_bounds_it_compares_with_were_withheld():
    """audit_review_sample.py fell back to the audit's withheld bounds (not informative)
    without a word: its seeds_missing_interval_above_bound read as a normal bound's. It
    reads the bounds as estimate-noise does (audit_bounds: withheld ones marked) and
    prints bounds_withheld and the audit's bounds_note."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "audit_review_sample.py"),
                           "--docs", "300", "--sample", "30", "--seeds", "1"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout)
    assert printed["bounds_withheld"] is False and printed["bounds_note"] is None
    from tagsmith.audit.sample import audit_bounds

    bounds = {"est_wrong": 1.0, "est_missing": 2.0, "wrong_rate": 0.9, "missing_rate": 0.1}
    assert audit_bounds({"noise": {"bounds": bounds}}) == bounds
    assert audit_bounds({"noise": {"bounds": None, "withheld_bounds": bounds,
                                   "bounds_note": "not informative"}}) == \
        {**bounds, "withheld": True}
    assert audit_bounds({"noise": {"bounds": None}}) is None


def test_provenance_names_the_commit_tagsmith_s_folder_and_versions():
    """A benchmark's JSON gave no commit nor package versions: RESULTS.md added them by
    hand (torch, sentence-transformers) or not at all, and a reader could not tell which
    code a figure came from."""
    import importlib.metadata

    xmc = _benchmark("xmc")
    record = xmc.provenance(["numpy", "no-such-package-for-tagsmith"])
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert record["commit"] in (head, f"{head}+dirty")
    assert record["versions"] == {"python": sys.version.split()[0],
                                  "numpy": importlib.metadata.version("numpy"),
                                  "no-such-package-for-tagsmith": None}
    import tagsmith

    assert record["tagsmith_from"] == os.path.dirname(tagsmith.__file__)


def test_llm_json_and_audit_results_md_record_the_commit_and_versions(tmp_path):
    """llm.py's JSON said machine and date only, not the command, commit nor versions
    (torch, sentence-transformers); audit.py's RESULTS.md section had no commit."""
    import argparse
    import gzip
    import random

    base = tmp_path / "data" / "reuters21578"
    base.mkdir(parents=True)
    (base / "labels.txt").write_text("acq\ngrain\n", encoding="utf-8")
    words = ("shares bid merger stake company wheat corn harvest tonnes export price "
             "bank offer crop").split()
    rng = random.Random(0)
    for name, n in (("modapte-train", 700), ("modapte-test", 10)):  # 300 go to dev
        with gzip.open(base / f"{name}.jsonl.gz", "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"id": i, "text": " ".join(rng.choices(words, k=12)),
                                          "labels": [("acq", "grain")[i % 2]]}) + "\n"
                              for i in range(n))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "llm.py"), "--dataset",
                           "reuters21578", "--skip", "zeroshot,active", "--data-dir",
                           str(tmp_path / "data"), "--work-dir", str(tmp_path / "work")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "taxonomy_valid" in result
    assert result["command"].endswith("--dataset reuters21578 --skip zeroshot,active "
                                      f"--data-dir {tmp_path / 'data'} --work-dir "
                                      f"{tmp_path / 'work'}")
    assert result["commit"] and result["versions"]["python"] == sys.version.split()[0]
    assert set(result["versions"]) >= {"numpy", "torch", "sentence-transformers"}

    audit = _benchmark("audit")
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n", encoding="utf-8")
    saved = {"run": {"command": "python benchmarks/audit.py --dataset goemotions",
                     "date": "2026-01-02", "machine": "m", "commit": "abc123",
                     "versions": {"python": "3.11.7", "numpy": "2.4.0", "scikit-learn": None}},
             "cleanlab_error": "not installed", "n_injected_missing": 10,
             "n_injected_wrong": 5, "audit_scores": {"source": "crossfit", "model": "linear"},
             "audit_options": {}, "train_model": ["linear", {}], "pr_auc": 0.5,
             "p1_repaired_by_budget": {}}
    args = argparse.Namespace(dataset="goemotions", train_seeds=1, missing_rate=0.1,
                              wrong_rate=0.05, seed=0)
    audit.write_results_md(saved, args, results)
    text = results.read_text(encoding="utf-8")
    assert "- **Commit**: abc123\n" in text
    assert "- **Versions**: python 3.11.7, numpy 2.4.0\n" in text


CLI_SCRIPTS = sorted(path.name for path in (ROOT / "benchmarks").glob("*.py")
                     if "argparse" in path.read_text(encoding="utf-8"))


def _parsers(parser):
    """A parser and those of its subcommands (audit_runner.py's train and audit)."""
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


@pytest.mark.parametrize("script", CLI_SCRIPTS)
def test_every_option_of_every_benchmark_says_what_it_does_and_its_default(script):
    """``--help`` of audit_runner.py, xmc_tune.py, the peer runners and the timing scripts
    listed ``--docs DOCS``, ``--params PARAMS``, ``--runs RUNS`` ... bare, and audit.py's
    ``--top-n`` or llm.py's ``--strategies`` gave no default: a researcher had to read the
    source to rerun a figure. Every option of every script's parser (built without
    running it) has a help line; one that is not required names its default, through
    ``%(default)s`` where there is a value to show (so that it cannot go stale)."""
    import argparse

    module = _benchmark(script.removesuffix(".py"))
    assert hasattr(module, "build_parser"), f"{script}: parser not buildable without running"
    silent, no_default, stale = [], [], []
    parsers = list(_parsers(module.build_parser()))
    for parser in parsers:
        parser.format_help()  # every %(default)s expands
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = action.option_strings[-1] if action.option_strings else action.dest
            where = f"{parser.prog} {name}"
            if not action.help or action.help == argparse.SUPPRESS:
                silent.append(where)
            elif action.option_strings and not action.required:
                default = action.default
                shown = not (default is None or default is False or default == []
                             or default == "")
                if "default" not in action.help.lower():
                    no_default.append(where)
                elif shown and "%(default)" not in action.help:
                    stale.append(where)
    assert (silent, no_default, stale) == ([], [], []), "without help, without a default, " \
        "a default written out by hand"
    assert len(parsers) == (3 if script == "audit_runner.py" else 1)


def test_provenance_gives_no_commit_for_a_copy_inside_another_repository(tmp_path):
    """git looks for a repository upwards from the benchmarks' folder: a copy of the
    checkout without .git (an sdist unpacked, a folder copied) inside another repository
    recorded that repository's commit as the one that made its figures."""
    import importlib.util
    import shutil

    outer = tmp_path / "outer"
    (outer / "tagsmith-copy" / "benchmarks").mkdir(parents=True)
    git = ["git", "-C", str(outer), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "outer"], check=True)
    copied = outer / "tagsmith-copy" / "benchmarks" / "xmc.py"
    shutil.copyfile(ROOT / "benchmarks" / "xmc.py", copied)
    spec = importlib.util.spec_from_file_location("xmc_copied_for_provenance", copied)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.provenance([])["commit"] is None
    # the checkout itself still names its own commit
    assert _benchmark("xmc").provenance([])["commit"]


def _tiny_reuters(base, n_train: int, n_test: int) -> None:
    """A Reuters-format dataset folder of two labels and ``n_train`` / ``n_test`` texts."""
    import gzip
    import random

    base.mkdir(parents=True)
    (base / "labels.txt").write_text("acq\ngrain\n", encoding="utf-8")
    words = ("shares bid merger stake company wheat corn harvest tonnes export price "
             "bank offer crop").split()
    rng = random.Random(0)
    for name, n in (("modapte-train", n_train), ("modapte-test", n_test)):
        with gzip.open(base / f"{name}.jsonl.gz", "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"id": i, "text": " ".join(rng.choices(words, k=12)),
                                          "labels": [("acq", "grain")[i % 2]]}) + "\n"
                              for i in range(n))


@pytest.mark.parametrize(("script", "args"), [
    ("xmc.py", ["--runs", "1", "--systems", "tagsmith-linear", "--peers", ""]),
    ("confidence.py", ["--splits", "1", "--no-mapie"]),
    ("foundation.py", ["--runs", "1"]),
], ids=["xmc", "confidence", "foundation"])
def test_xmc_confidence_and_foundation_json_record_the_command_commit_and_versions(
        script, args, tmp_path):
    """Their JSON gave the machine and date at most, never the commit or the package
    versions: a reader reproducing RESULTS.md could not tell which code a figure came
    from (audit.py and llm.py record them). Nor the command: which options made a
    figure was in the shell's history alone."""
    import shlex

    _tiny_reuters(tmp_path / "data" / "reuters21578", 200, 40)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    command = [sys.executable, str(ROOT / "benchmarks" / script), "--dataset",
               "reuters21578", *args, "--data-dir", str(tmp_path / "data"),
               "--work-dir", str(tmp_path / "work")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines and all("p@1" in line for line in lines)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    import tagsmith

    for line in lines:
        assert line["commit"] in (head, f"{head}+dirty")
        assert line["tagsmith_from"] == os.path.dirname(tagsmith.__file__)
        assert line["versions"]["python"] == sys.version.split()[0]
        assert set(line["versions"]) == {"python", "numpy", "scipy", "scikit-learn"}
        assert line["command"] == shlex.join(command)  # "--peers ''" quoted as typed


def test_xmc_results_md_section_gives_the_commit_and_versions(tmp_path):
    """xmc.py's RESULTS.md section gave the command, machine and date, not the commit."""
    import argparse

    xmc = _benchmark("xmc")
    results = tmp_path / "RESULTS.md"
    line = {"system": "tagsmith-linear", "p@1": 0.5, "p@3": 0.3, "p@5": 0.2, "ndcg@5": 0.8,
            "psp@5": 1.0, "train_seconds": 1.0, "predict_docs_per_second": 100.0,
            "peak_rss_mb": 10, "runs": 1, "commit": "abc123",
            "versions": {"python": "3.11.7", "numpy": "2.4.0", "scipy": None}}
    meta = {"sizes": {"train": 10, "dev": 0, "test": 5}, "n_labels": 2,
            "n_labels_in_train": 2, "feature_params": {}, "n_features": 3,
            "nnz_per_doc": {"train": 1.0}}
    xmc.write_results_md([line], argparse.Namespace(dataset="reuters21578", results_tag=""),
                         meta, "python benchmarks/xmc.py --dataset reuters21578", results)
    text = results.read_text(encoding="utf-8")
    assert "- **Commit**: abc123\n" in text
    assert "- **Versions**: python 3.11.7, numpy 2.4.0\n" in text


def test_llm_says_how_many_background_texts_the_hubness_correction_read():
    """``zeroshot_background_docs`` counted the 5,000 texts drawn where the correction
    read 4,970 (blank ones left out since 63a6deda): it hid why a rerun's CSLS line
    differed from the one of record. The texts read are recorded and shown beside it;
    a result of before (no such key) reads as it did."""
    llm = _benchmark("llm")
    result = {"zeroshot_docs": 3019, "zeroshot_label_texts": 90, "zeroshot_index": "exact",
              "zeroshot_p@1": 0.2249, "zeroshot_p@5": 0.1077, "zeroshot_macro_f1": 0.2646,
              "zeroshot_micro_f1": 0.2008, "zeroshot_seconds_per_1000": 23.3,
              "zeroshot_search_seconds_per_1000": 0.1, "zeroshot_csls_p@1": 0.2329,
              "zeroshot_csls_p@5": 0.1043, "zeroshot_csls_macro_f1": 0.2733,
              "zeroshot_csls_micro_f1": 0.2079, "zeroshot_background_docs": 5000,
              "zeroshot_background_seconds": 150.8, "zeroshot_csls_seconds_per_1000": 23.4}
    before = llm.markdown(result)
    assert "with the hubness correction (5,000 background texts, 150.8 s)" in before
    shown = llm.markdown({**result, "zeroshot_background_docs_used": 4970})
    assert ("with the hubness correction (4,970 background texts of 5,000 drawn, 30 "
            "blank, 150.8 s)") in shown
    assert llm.markdown({**result, "zeroshot_background_docs_used": 5000}) == before


def _toy_corpus(tmp_path):
    """A vocabulary of 4 labels and train (80), dev and test (20 each) documents whose
    words tell them apart."""
    labels = [f"<http://ex.org/l{i}>" for i in range(4)]
    words = [("apple", "pear", "fruit"), ("car", "road", "wheel"), ("rain", "cloud", "storm"),
             ("song", "music", "band")]
    (tmp_path / "vocab.tsv").write_text("".join(f"{uri}\tlabel {i}\n"
                                                for i, uri in enumerate(labels)))
    for name, first, n in (("train", 0, 80), ("dev", 80, 20), ("test", 100, 20)):
        (tmp_path / f"{name}.tsv").write_text("".join(
            " ".join(words[i % 4][(i + j) % 3] for j in range(6))
            + f" doc{i}\t{labels[i % 4]}\n" for i in range(first, first + n)))


def _limit_written_files_to_20_bytes():
    """A child whose writes to a regular file fail past 20 bytes (EFBIG; Python ignores
    SIGXFSZ): a write failing midway, as on a full disk, with no timing."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (20, 20))


def test_audit_runner_failing_mid_write_leaves_the_last_result_whole(tmp_path):
    """``audit_runner.py train --out`` wrote its result with write_text: a step dying or
    failing mid-write left a cut-off result.json where the last one had been, which
    audit.py then read. The result is now written beside it and renamed once whole."""
    _toy_corpus(tmp_path)
    out = tmp_path / "result.json"
    last = json.dumps({"train_seconds": 1.0, "n_docs": 80, "p1": 0.5, "p5": 0.2,
                       "note": "x" * 200})
    out.write_text(last, encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "audit_runner.py"),
                           "train", "--corpus", str(tmp_path / "train.tsv"), "--vocab",
                           str(tmp_path / "vocab.tsv"), "--dev", str(tmp_path / "dev.tsv"),
                           "--test", str(tmp_path / "test.tsv"), "--model", "linear",
                           "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600,
                          preexec_fn=_limit_written_files_to_20_bytes)
    assert done.returncode != 0 and "File too large" in done.stderr, done.stderr[-2000:]
    assert out.read_text(encoding="utf-8") == last


def test_audit_results_md_failing_mid_write_leaves_the_file_whole(tmp_path):
    """audit.py wrote result.json and RESULTS.md with write_text: a run dying or failing
    mid-write left them cut off. Both are now written beside the file and renamed once
    whole (RESULTS.md's section, as --from-json writes it, here)."""
    results = tmp_path / "RESULTS.md"
    last = "# Results\n\n" + "A line of an earlier benchmark.\n" * 20
    results.write_text(last, encoding="utf-8")
    result = {"run": {"command": "python benchmarks/audit.py --dataset goemotions",
                      "date": "2026-01-02", "machine": "a machine of the run"},
              "cleanlab_error": "not installed", "n_injected_missing": 10,
              "n_injected_wrong": 5, "audit_scores": {"source": "crossfit", "model": "linear"},
              "audit_options": {}, "train_model": ["linear", {}], "pr_auc": 0.5,
              "p1_repaired_by_budget": {}}
    (tmp_path / "result.json").write_text(json.dumps(result), encoding="utf-8")
    code = ("import argparse, json, sys\n"
            f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
            "import audit\n"
            "args = argparse.Namespace(dataset='goemotions', train_seeds=1, missing_rate=0.1,"
            " wrong_rate=0.05, seed=3)\n"
            f"result = json.load(open({str(tmp_path / 'result.json')!r}))\n"
            "import resource\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (20, 20))\n"
            f"audit.write_results_md(result, args, audit.Path({str(results)!r}))\n")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode != 0 and "File too large" in done.stderr, done.stderr[-2000:]
    assert results.read_text(encoding="utf-8") == last


def test_crossfit_order_refuses_no_refit_without_a_dev_fraction(capsys):
    """``--no-refit`` with nothing held out ran training's refit-free path of a run
    that has nothing to refit and printed "no refit" of it; ``train`` refuses that."""
    spec = importlib.util.spec_from_file_location(
        "crossfit_order", ROOT / "benchmarks" / "crossfit_order.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--no-refit"])
    assert exit_info.value.code == 2
    assert "--no-refit needs --dev-fraction above 0" in capsys.readouterr().err


def _votes_run(tmp_path, name: str, *args: str):
    """benchmarks/votes.py with its work folder holding GoEmotions' conversion already
    (examples/goemotions: the same files), so no --data-dir is read."""
    import shutil

    source = tmp_path / name / "goemotions" / "source"
    source.mkdir(parents=True)
    for part in ("train.tsv.gz", "dev.tsv.gz", "test.tsv.gz", "vocab.tsv"):
        shutil.copy(ROOT / "examples" / "goemotions" / part, source / part)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "votes.py"),
                           "--dataset", "goemotions", "--data-dir", str(tmp_path / "no-data"),
                           "--work-dir", str(tmp_path / name), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_votes_reliability_figures_are_reproduced_by_a_rerun(tmp_path):
    """README's --votes reliability figures (and "Whether votes pay") came from a scratch
    teacher and shell scripts outside the repository: nobody could rerun them. votes.py
    serves the sampled teacher itself; two runs in fresh work folders (no shared cache)
    give the same figures, the teacher's majority of votes is more precise than one vote,
    and the JSON says how it ran."""
    args = ("--quick", "--human", "20", "--skip", "equal_calls,budget")
    first, second = _votes_run(tmp_path, "w1", *args), _votes_run(tmp_path, "w2", *args)
    for done in (first, second):
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert one["reliability"] == two["reliability"]
    rel = one["reliability"]
    assert set(rel) == {"votes=1", "votes=3", "votes=5"}
    assert rel["votes=3"]["micro_precision"] > rel["votes=1"]["micro_precision"]
    assert one["teacher"]["requests"] >= 20 * (1 + 3 + 5)  # the human sample, each vote
    assert {"command", "commit", "date", "machine", "versions"} <= set(one)
    assert "votes.py" in one["command"]
    assert (tmp_path / "w1" / "goemotions" / "result.json").is_file()
    assert "| votes | micro-precision |" in first.stderr


@pytest.mark.parametrize(("args", "said"), [
    (["--calls", "60", "--pool", "30"], "--pool (30) must be at least --calls (60)"),
    (["--noise", "2"], "--noise must be a number in [0, 1], not 2"),
    (["--skip", "budgets"], "--skip: unknown step budgets"),
])
def test_votes_refuses_bad_sizes_before_any_work(args, said, tmp_path):
    """A pool smaller than the budget would have labelled the whole pool and called it
    the budget's; a rate of 2 made every answer noisy, silently."""
    done = _votes_run(tmp_path, "w", *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert said in done.stderr
    assert not (tmp_path / "w" / "goemotions" / "result.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--missing-rate", "2"], "--missing-rate must be a number in [0, 1), not 2"),
    (["--wrong-rate", "-0.1"], "--wrong-rate must be a number in [0, 1), not -0.1"),
])
def test_split_audit_refuses_a_rate_before_any_work(args, message, tmp_path):
    """README's "Auditing your test set" figures came from scripts outside the repository;
    test_split_audit.py makes them, and checks its planting rates before reading data."""
    done = _run("test_split_audit.py", ["--dataset", "goemotions", *args], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert message in done.stderr
    assert not (tmp_path / "work").exists()


def test_split_audit_reviewer_accepts_exactly_the_planted_errors(tmp_path):
    """The simulated reviewer of test_split_audit.py: a flagged *missing* row is accepted
    where its label was removed, a *wrong* row where its label was added (the CSV's ``'``
    before a cell taken off), the rest rejected; precision and recall against the planted
    errors, as README's figures state them."""
    import csv

    import scipy.sparse as sp

    from tagsmith.data.labelspace import Label, LabelSpace

    module = _benchmark("test_split_audit")
    space = LabelSpace([Label(f"urn:x:{name}") for name in "abc"])
    removed = sp.csr_matrix(([1, 1], ([0, 2], [1, 0])), shape=(3, 3))
    added = sp.csr_matrix(([1], ([1], [2])), shape=(3, 3))
    review = tmp_path / "review.csv"
    rows = [("missing", "urn:x:b", 0), ("missing", "urn:x:c", 0), ("wrong", "'urn:x:c", 1),
            ("wrong", "urn:x:a", 2)]
    with open(review, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "decision", "kind", "label_uri", "doc"])
        writer.writerows([i + 1, "", kind, uri, doc] for i, (kind, uri, doc) in enumerate(rows))
    decided = tmp_path / "decided.csv"
    figures = module.simulate_review(review, decided, {"space": space, "removed": removed,
                                                       "added": added})
    with open(decided, encoding="utf-8", newline="") as handle:
        decisions = [row["decision"] for row in csv.DictReader(handle)]
    assert decisions == ["accept", "reject", "accept", "reject"]
    assert figures == {"n_review_rows": 4, "accepted": 2, "n_flagged_missing": 2,
                       "n_planted_flagged_missing": 1, "missing_precision": 0.5,
                       "missing_recall": 0.5, "n_flagged_wrong": 2,
                       "n_planted_flagged_wrong": 1, "wrong_precision": 0.5,
                       "wrong_recall": 1.0}


def test_split_audit_says_which_audit_compiled_the_kernels(tmp_path):
    """The GoEmotions run's heldout audit took 104 s against 47 s by hand: it was the
    checkout's first audit and compiled the numba kernels, which its JSON did not say
    (the second audit found them cached). Each audit now records ``compiled_kernels``
    from its log."""
    module = _benchmark("test_split_audit")
    first, second = tmp_path / "audit-heldout.log", tmp_path / "audit-auto.log"
    first.write_text("2026-12-07 11:22:05,935 INFO compiling tagsmith's fast kernels (numba; "
                     "it can take half a minute): once per kernel\n", encoding="utf-8")
    second.write_text("2026-12-07 11:23:05,000 INFO audit: 5,427 documents\n",
                      encoding="utf-8")
    assert module.compiled_kernels(first) is True
    assert module.compiled_kernels(second) is False


@pytest.mark.parametrize(("script", "dataset"), [("audit", "goemotions"),
                                                  ("test_split_audit", "reuters21578"),
                                                  ("llm_audit", "reuters21578")])
def test_a_run_records_the_commit_it_started_from(script, dataset, tmp_path, monkeypatch):
    """audit.py, test_split_audit.py and llm_audit.py read the commit (and versions)
    when the run ended, hours after it began: a checkout moved meanwhile (another branch checked out
    to look at something) was recorded as the code that made the figures. Read as it
    starts, before the data is looked for: a run refused for a missing dataset has read
    it already (the real provenance, called through)."""
    xmc = _benchmark("xmc")
    module = _benchmark(script)
    real, read = xmc.provenance, []

    def provenance(packages):
        read.append(real(packages))
        return read[-1]

    monkeypatch.setattr(xmc, "provenance", provenance)
    monkeypatch.setattr(sys, "argv", [f"{script}.py", "--dataset", dataset, "--data-dir",
                                      str(tmp_path / "data"), "--work-dir",
                                      str(tmp_path / "work")])
    with pytest.raises(SystemExit):
        module.main()
    assert len(read) == 1 and read[0]["commit"]


def test_llm_audit_reads_the_students_figures_from_distills_json(goemotions_small, tmp_path):
    """llm_audit.py read the students' accuracy from a 'human' key distill's JSON does
    not have: every student's P@1, micro-F1 and macro-F1 were missing from
    result.json. They are read from a real ``distill --json --human`` now."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.io import read_labelled
    from tagsmith.pipeline.llm import write_soft_labels

    llm_audit = _benchmark("llm_audit")
    space = load_vocabulary(goemotions_small["vocab"])
    lines = goemotions_small["train"].read_text(encoding="utf-8").splitlines()
    corpus, human = tmp_path / "small.tsv", tmp_path / "human.tsv"
    corpus.write_text("\n".join(lines[:300]) + "\n", encoding="utf-8")
    human.write_text("\n".join(lines[300:400]) + "\n", encoding="utf-8")
    data = read_labelled(corpus, space)
    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, data.texts, sp.csr_matrix(data.Y, dtype=np.float32) * 0.9,
                      space)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = tmp_path / "distill.out"
    with open(out, "w", encoding="utf-8") as handle:
        done = subprocess.run([sys.executable, "-m", "tagsmith", "-q", "distill", str(labels),
                               "--vocab", str(goemotions_small["vocab"]), "-o",
                               str(tmp_path / "student"), "--human", str(human), "--json"],
                              stdout=handle, stderr=subprocess.PIPE, text=True, env=env,
                              timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = llm_audit.distill_figures(out)
    assert set(figures) == {"p@1", "micro_f1", "macro_f1"}
    assert all(0 < value <= 1 for value in figures.values()), figures


def test_llm_audit_scores_the_least_confident_baseline_over_the_queues_rows_too():
    """The baseline's average precision ranked every given label (about 4,800), the
    review queues' only their 300 rows: an unfair comparison. The baseline is also
    scored over its first ``rows`` labels, those after them counted as never found."""
    llm_audit = _benchmark("llm_audit")
    errors = {("wrong", "a", "x"), ("wrong", "b", "y"), ("missing", "a", "z")}
    pairs = [(0.9, "b", "y"), (0.5, "a", "x"), (0.7, "c", "x")]
    scored = llm_audit.score_baseline(pairs, errors, 2)
    assert scored["n_labels"] == 3 and scored["n_wrong"] == 2 and scored["rows"] == 2
    assert scored["lowest2_wrong"] == 1
    assert scored["wrong_average_precision"] == 0.8333  # (1/1 + 2/3) / 2, every label
    assert scored["wrong_average_precision_at_rows"] == 0.5  # (1/1) / 2, the first 2 only
    markdown = llm_audit.markdown({"planted": {"n_errors": 3, "n_wrong": 2, "n_missing": 1,
                                               "n_docs": 2}, "label": {"n_answered": 3},
                                   "baseline": scored})
    assert "AP (wrong), first 2" in markdown and "| 0.8333 | 0.5 |" in markdown


def test_llm_audit_scores_a_queues_wrong_rows_among_all_its_rows_too(tmp_path):
    """A queue's "AP, wrong labels" ranks its wrong-kind rows among themselves, its
    missing rows skipped: flattering beside the baseline's AP over its first rows.
    The like-for-like figure (wrong labels found, ranked among all the queue's rows)
    was computed by hand for RESULTS.md; score_queue records it."""
    llm_audit = _benchmark("llm_audit")
    errors = {("wrong", "a", "x"), ("wrong", "b", "y"), ("missing", "a", "z")}
    review = tmp_path / "review.csv"
    review.write_text("kind,doc_id,label_uri\nmissing,a,z\nwrong,a,x\nwrong,c,x\n"
                      "wrong,b,y\n", encoding="utf-8")
    scored = llm_audit.score_queue(review, errors)
    assert scored["wrong_average_precision"] == 0.8333  # (1/1 + 2/3) / 2, wrong rows only
    assert scored["wrong_average_precision_all_rows"] == 0.5  # (1/2 + 2/4) / 2
    assert scored["average_precision"] == 0.9167  # (1/1 + 2/2 + 3/4) / 3


def test_llm_audit_decide_leaves_an_earlier_decided_review_whole_when_a_row_fails(tmp_path):
    """decide() wrote decided.csv in place: a row it could not write (a cell past the
    header's, which DictWriter refuses) left the file cut off after the rows before it,
    where an earlier run's good one had been. It is now written whole or not at all."""
    llm_audit = _benchmark("llm_audit")
    review = tmp_path / "review.csv"
    review.write_text("decision,kind,doc_id,label_uri\n,missing,a,z\n,wrong,a,x\n",
                      encoding="utf-8")
    decided = tmp_path / "decided.csv"
    truth = {"a": {"z"}}
    assert llm_audit.decide(review, decided, truth) == 2
    good = decided.read_text(encoding="utf-8")
    assert good.splitlines() == ["decision,kind,doc_id,label_uri", "accept,missing,a,z",
                                 "accept,wrong,a,x"]
    review.write_text("decision,kind,doc_id,label_uri\n,missing,a,z\n,wrong,a,x,extra\n",
                      encoding="utf-8")
    with pytest.raises(ValueError, match="fields not in fieldnames"):
        llm_audit.decide(review, decided, truth)
    assert decided.read_text(encoding="utf-8") == good


@pytest.mark.parametrize(("args", "message"), [
    (["--audit-options", "{}"], "--audit-options must be a non-empty JSON list of objects"),
    (["--audit-options", '[{"nosuch": 1}]'], "--audit-options {\"nosuch\": 1}: "
                                            "AuditOptions.__init__() got an unexpected"),
    (["--n-docs", "1"], "--n-docs must be 2 or more, not 1"),
    (["--seed", "-1"], "--seed must be 0 or more, not -1"),
    # overwritten by --seed without a word
    (["--audit-options", '[{"seed": 5}]'], "'seed' is set by --seed for every audit"),
], ids=["not-a-list", "unknown-field", "n-docs", "seed", "seed-in-options"])
def test_copies_walk_refuses_bad_options_before_any_work(args, message, tmp_path):
    done = _run("copies_walk.py", ["--dataset", "goemotions", *args], tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "work").exists()


def test_copies_walk_plants_one_label_on_each_text_whose_copies_agree():
    """README's figures of the copies rule came from scripts outside the repository
    (lost): copies_walk.py plants them as it said, one label on the copies of each text
    whose copies agree, none on those that disagree already; a label planted on one of
    two copies is a tie, on one of three a majority's."""
    import numpy as np
    import scipy.sparse as sp

    walk = _benchmark("copies_walk")
    texts = ["a", "a", "a", "b", "b", "c", "c", "d", "e", "f", "g", "h"]
    Y = sp.csr_matrix(np.array([[1, 0, 0]] * 3 + [[0, 1, 0]] * 2 + [[1, 0, 0], [0, 1, 0]]
                               + [[0, 0, 1]] * 5))
    chosen, planted_Y, planted, counts = walk.plant(texts, Y, 9, 0)
    assert counts == {"n_texts_of_copies": 3, "n_texts_disagreeing_already": 1,
                      "n_texts_nothing_to_plant": 0}
    assert len(chosen) == 9 and set(range(7)) <= set(chosen.tolist())  # every copy
    assert len(planted) == 2
    by_text = {texts[chosen[d]]: (c, k, tie) for d, c, k, tie in planted}
    assert by_text["a"][1:] == (0, False) and by_text["a"][0] == 0   # removed from 1 of 3
    assert by_text["b"][1:] == (1, True) and by_text["b"][0] != 1    # added to 1 of 2
    assert abs(planted_Y - Y[chosen]).sum() == 2


def test_copies_walk_skips_a_text_with_no_label_left_to_plant(capsys):
    """A text whose copies carry every label in use has none to add: plant raised numpy's
    ValueError (probabilities nan); it is skipped and counted. --n-docs below the copies
    grew the slice past it without a word: it is said."""
    import numpy as np
    import scipy.sparse as sp

    walk = _benchmark("copies_walk")
    texts = ["a", "a", "b", "b", "c"]  # "b" (second, so an add) carries both labels
    Y = sp.csr_matrix(np.array([[1, 0], [1, 0], [1, 1], [1, 1], [0, 1]]))
    chosen, planted_Y, planted, counts = walk.plant(texts, Y, 2, 0)
    assert counts["n_texts_nothing_to_plant"] == 1 and len(planted) == 1
    assert len(chosen) == 4  # every copy, over --n-docs 2
    assert "--n-docs 2 is below the 4 copies: the slice holds every copy" in (
        capsys.readouterr().err)


@pytest.mark.parametrize(("sample", "message"), [
    ("0", "argument --sample: must be at least 1, got 0"),
    ("4", "--sample 4 is more than the 3 stories of"),
], ids=["zero", "over-the-corpus"])
def test_one_label_refuses_a_bad_sample_before_any_audit(sample, message, tmp_path):
    """one_label.py took --sample 0, -5 or more stories than the corpus holds, and
    failed in its second audit, after the first one's five minutes."""
    import gzip

    data = tmp_path / "data" / "reuters21578"
    data.mkdir(parents=True)
    with gzip.open(data / "modapte-train.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({"id": i, "text": f"story {i}", "labels": ["earn"]}) + "\n"
                     for i in range(3))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "one_label.py"),
                           "--out", str(tmp_path / "out"), "--data-dir",
                           str(tmp_path / "data"), "--sample", sample],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
    assert "$ tagsmith" not in done.stdout and not (tmp_path / "out").exists()


def test_one_label_refuses_an_out_that_is_a_file_before_reading_the_dataset(tmp_path):
    """--out naming an existing file failed with a FileExistsError traceback, after the
    whole dataset was read."""
    out = tmp_path / "out"
    out.write_text("mine", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "one_label.py"),
                           "--out", str(out), "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"--out {out} is a file, not a folder" in done.stderr
    assert out.read_text(encoding="utf-8") == "mine"


def test_one_label_decide_sample_of_a_header_alone_decides_nothing(tmp_path):
    """A sample.csv with a header and no rows raised IndexError (rows[0])."""
    one_label = _benchmark("one_label")
    sample = tmp_path / "sample.csv"
    header = "decision,kind,action,label_uri,doc,doc_key,doc_id,line\r\n"
    sample.write_text(header, encoding="utf-8", newline="")
    assert one_label.decide_sample(sample, {}, {}, {"a"}) == 0
    assert sample.read_bytes().decode("utf-8") == header


def test_one_label_decide_sample_leaves_the_sample_whole_when_a_row_fails(tmp_path):
    """decide_sample rewrote the audit's sample.csv in place: a row that failed mid-write
    (or a Ctrl-C) left it cut off, the undecided sample lost."""
    import csv

    one_label = _benchmark("one_label")
    sample = tmp_path / "sample.csv"
    good = ("decision,kind,action,label_uri,doc,doc_key,doc_id,line\r\n"
            ",missing,add,b,0,k0,d0,1\r\n,wrong,remove,a,0,k0,d0,1\r\n")
    sample.write_text(good, encoding="utf-8", newline="")
    truth, given = {"d0": {"a", "b", "c"}}, {"d0": {"a"}}
    assert one_label.decide_sample(sample, truth, given, {"a", "b", "c"}) == 1
    with sample.open(encoding="utf-8", newline="") as f:
        decided = [(r["label_uri"], r["decision"]) for r in csv.DictReader(f)]
    assert decided == [("b", "accept"), ("a", "reject"), ("c", "accept")]
    # a sample without an action column: the added row's "action" fails in writerows,
    # after the header and the sample's own rows were written
    bad = good.replace(",action", "").replace(",add", "").replace(",remove", "")
    sample.write_text(bad, encoding="utf-8", newline="")
    with pytest.raises(ValueError, match="fields not in fieldnames"):
        one_label.decide_sample(sample, truth, given, {"a", "b", "c"})
    assert sample.read_bytes().decode("utf-8") == bad


def test_one_label_queue_figures_names_the_review_and_a_doc_id_the_corpus_lacks(tmp_path):
    """queue_figures raised a bare KeyError for a review row whose doc_id the corpus
    lacks (a review from another run in the same --out): it names the file and id."""
    one_label = _benchmark("one_label")
    review = tmp_path / "review.csv"
    review.write_text("kind,label_uri,doc_id\r\nmissing,b,d0\r\nwrong,a,d9\r\n",
                      encoding="utf-8", newline="")
    with pytest.raises(SystemExit, match=r"review\.csv: doc_id 'd9' is not in the corpus"):
        one_label.queue_figures(review, {"d0": {"a", "b"}}, 1)
    figures = one_label.queue_figures(review, {"d0": {"a", "b"}, "d9": {"a"}}, 1)
    assert figures["missing_at"] == {1: {"true": 1, "precision": 1.0, "recall": 1.0}}
    assert figures["n_wrong_rows_on_true_labels"] == 1


def test_one_label_replaces_topics_and_scores_the_wrong_rows_against_them(tmp_path):
    """--replace-share gives stories another of the corpus's topics (a wrong label to
    find, which the first-topic corpus never had: every wrong row there was a true
    topic) and scores the wrong rows against them; a share of 0 changes nothing."""
    one_label = _benchmark("one_label")
    docs = [{"id": i, "text": "t", "labels": ["abc"[i % 3]]} for i in range(300)]
    assert one_label.replace_topics([dict(d) for d in docs], 0.0) == {}
    changed = [dict(d) for d in docs]
    replaced = one_label.replace_topics(changed, 0.1)
    assert 10 < len(replaced) < 60
    for doc, before in zip(changed, docs, strict=True):
        if str(doc["id"]) in replaced:
            assert doc["labels"] == [replaced[str(doc["id"])]] != before["labels"]
        else:
            assert doc["labels"] == before["labels"]
    assert replaced == one_label.replace_topics([dict(d) for d in docs], 0.1)  # seeded
    review = tmp_path / "review.csv"
    review.write_text("kind,label_uri,doc_id\r\nwrong,b,d0\r\nmissing,a,d0\r\n"
                      "wrong,c,d1\r\n", encoding="utf-8", newline="")
    figures = one_label.wrong_figures(review, {"d0": "b", "d5": "a"})
    assert figures == {"n_replaced": 2, "n_wrong_rows": 2, "at": {
        2: {"replaced": 1, "precision": 0.5, "recall": 0.5}}}
    # the missing side, against the true sets: d0's first topic a, taken from it, is a
    # true label left off (found), d1's c is no true label of it
    review.write_text("kind,label_uri,doc_id\r\nwrong,b,d0\r\nmissing,a,d0\r\n"
                      "missing,a,d1\r\n", encoding="utf-8", newline="")
    docs = [{"id": "d0", "labels": ["a", "c"]}, {"id": "d1", "labels": ["b"]}]
    kept = [{"id": "d0", "labels": ["b"]}, {"id": "d1", "labels": ["b"]}]
    figures = one_label.replaced_figures(review, {"d0": "b"}, docs, kept)
    assert figures["at"] == {1: {"replaced": 1, "precision": 1.0, "recall": 1.0}}
    assert figures["missing"]["missing_at"] == {
        2: {"true": 1, "precision": 0.5, "recall": 0.5}}
    assert figures["missing"]["n_wrong_rows_on_true_labels"] == 0


def test_one_label_writes_the_first_topic_corpus_whole_or_not_at_all(tmp_path):
    """first-topic.jsonl was written in place, a line at a time: a story that failed
    (or a Ctrl-C) left a corpus cut off where a whole one of an earlier run had been."""
    one_label = _benchmark("one_label")
    corpus = tmp_path / "first-topic.jsonl"
    docs = [{"id": 1, "text": "a", "labels": ["earn", "acq"]},
            {"id": 2, "text": "b", "labels": ["grain"]}]
    one_label.write_first_topic(corpus, docs)
    whole = corpus.read_text(encoding="utf-8")
    assert [json.loads(line)["labels"] for line in whole.splitlines()] == [["earn"],
                                                                           ["grain"]]
    with pytest.raises(TypeError):  # the second story's set is no JSON
        one_label.write_first_topic(corpus, [docs[0], {**docs[1], "text": {"b"}}])
    assert corpus.read_text(encoding="utf-8") == whole


def test_one_label_says_what_a_failed_command_said():
    """one_label.py ran tagsmith with check=True and its output captured: a failed audit
    ended in a CalledProcessError naming the exit status, tagsmith's error never shown."""
    one_label = _benchmark("one_label")
    with pytest.raises(SystemExit) as raised:
        one_label.tagsmith("audit", "/nonexistent/corpus.jsonl", "-o", "/nonexistent/out")
    assert "tagsmith audit failed (exit " in str(raised.value)
    assert "corpus.jsonl: file not found" in str(raised.value).split("\n", 1)[1]


def test_audit_reprune_skips_a_folder_that_is_no_finished_audit(tmp_path, monkeypatch,
                                                                capsys):
    """The README's ``data-*/`` glob also matches an interrupted prepare's ``.tmp``
    folder and a folder whose audit was not run (``--skip audit``): the script ended in
    a FileNotFoundError partway through the list; it skips each with a line naming it
    and goes on."""
    reprune = _benchmark("audit_reprune")
    interrupted = tmp_path / "data-0123456789.tmp"
    interrupted.mkdir()
    not_audited = tmp_path / "data-abc"
    (not_audited / "runs" / "audit").mkdir(parents=True)
    (not_audited / "truth.npz").write_bytes(b"")
    (not_audited / "runs" / "audit" / "labels.csv").write_text("id\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["audit_reprune.py", str(interrupted), str(not_audited)])
    reprune.main()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"skipped {interrupted}: an interrupted prepare's folder (.tmp)",
        f"skipped {not_audited}: no runs/audit/issues.npz, runs/audit/report.json "
        "(audit not run?)"]


def _finished_audit_run(data_dir, method: dict) -> None:
    """A finished ``audit.py`` run's four files as ``audit_reprune.py`` reads them: two
    labels, two wrong candidates flagged within confident learning's count of 1 a
    label, ``noise.method`` as given."""
    import json

    import numpy as np
    import scipy.sparse as sp

    from tagsmith.audit.detect import WRONG

    audit_dir = data_dir / "runs" / "audit"
    audit_dir.mkdir(parents=True)
    np.savez(audit_dir / "issues.npz", doc=np.array([0, 1]), label=np.array([0, 1]),
             kind=np.array([WRONG, WRONG], dtype=np.int8), probability=np.array([0.9, 0.8]),
             score=np.array([0.9, 0.8]), flagged=np.array([True, True]))
    (audit_dir / "labels.csv").write_text(
        "id,n_given,est_wrong,est_missing\n0,2,1.0,0.0\n1,2,1.0,0.0\n", encoding="utf-8")
    report = {"corpus": {"n_labels_in_space": 2},
              "noise": {"bounds": {"wrong_rate": 0.5}, "method": method}}
    (audit_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    added = sp.csr_matrix(([True], ([0], [0])), shape=(2, 2))
    empty = sp.csr_matrix((2, 2), dtype=bool)
    np.savez(data_dir / "truth.npz", shape=np.array([2, 2]),
             removed_indices=empty.indices, removed_indptr=empty.indptr,
             added_indices=added.indices, added_indptr=added.indptr)


def test_audit_reprune_refuses_a_run_flagged_after_step_6(tmp_path, monkeypatch, capsys):
    """``audit_reprune.py`` redoes step 6 only (confident learning's count a label), but
    re-pruned any finished run: one audited with ``band_budget_below`` (step 6b flags
    rare labels' wrong rows by band) or a single-label corpus's moves (a companion row
    flagged beside each flagged one) got figures for flags the audit never had, its
    ``cl`` column not the audit's. Such a run is refused, named with what was done after
    step 6 and exit status 1; a run of step 6 alone is re-pruned as before."""
    import json

    reprune = _benchmark("audit_reprune")
    plain, banded, paired = (tmp_path / f"data-{name}" for name in ("plain", "band", "pair"))
    _finished_audit_run(plain, {"band_budget_below": 0, "single_label": False,
                                "broader_moves": False})
    _finished_audit_run(banded, {"band_budget_below": 16, "single_label": False,
                                 "band_budget": {"n_labels": 3, "n_flagged_wrong": 2}})
    _finished_audit_run(paired, {"band_budget_below": 0, "single_label": {
        "n_wrong_added": 1, "n_missing_added": 0, "n_unpaired": 0,
        "n_docs_without_labels": 0}})
    monkeypatch.setattr(sys, "argv", ["audit_reprune.py", str(banded), str(plain),
                                      str(paired)])
    with pytest.raises(SystemExit) as exit_status:
        reprune.main()
    assert exit_status.value.code == 1
    captured = capsys.readouterr()
    [line] = captured.out.splitlines()  # the plain run alone
    assert json.loads(line)["run"] == str(plain)
    assert json.loads(line)["cl_as_audited"] is True
    refused = captured.err.splitlines()
    assert refused == [
        f"refused {banded}: audited with band_budget_below (step 6b: the wrong flags of "
        "rare labels by band): this script redoes step 6 only",
        f"refused {paired}: audited with single-label moves (each flagged row's companion "
        "added): this script redoes step 6 only"]
    with pytest.raises(ValueError, match="step 6 only"):
        reprune.reprune(banded)


def test_xmc_random_slice_names_its_seed_in_help_and_results():
    """``xmc.py --slice random`` said "a seeded random sample" in its help and docstring
    and "a random sample of N training documents" in each JSON line, naming no seed: a
    reader could not tell which sample (``audit.py``'s slices differ by seed). The help
    and the docstring name seed 0, and so does the lines' ``slice``."""
    xmc = _benchmark("xmc")
    help_text = " ".join(xmc.build_parser().format_help().split())
    assert f"random sample of N drawn with seed {xmc.SLICE_SEED}, the same every run" in (
        help_text)
    assert "drawn with seed 0" in " ".join(xmc.__doc__.split())
    assert xmc.slice_description(500, "random") == (
        "a random sample of 500 training documents (seed 0)")
    assert xmc.slice_description(500, "first") == "first 500 training documents"


def test_xmc_slice_of_no_fewer_than_the_training_file_says_all_of_it():
    """``--max-train-docs`` at least the training file's size takes every document and
    draws nothing, and ``slice`` said "a random sample of N ... (seed 0)" (or "first N"
    of a file of fewer): it says all of them."""
    xmc = _benchmark("xmc")
    assert xmc.slice_description(20000, "random", 7770, drawn=False) == (
        "all 7770 training documents")
    assert xmc.slice_description(20000, "first", 7770) == "all 7770 training documents"
    # a file of exactly N: nothing drawn, though N documents were taken
    assert xmc.slice_description(500, "random", 500, drawn=False) == (
        "all 500 training documents")
    assert xmc.slice_description(500, "random", 500, drawn=True) == (
        "a random sample of 500 training documents (seed 0)")
