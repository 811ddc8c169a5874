"""The benchmark scripts' handling of a missing dataset (run as a user runs them)."""

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
]


def _run(script: str, args: list[str], tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    work = ["--work-dir", str(tmp_path / "work")] if script != "knn_ensemble.py" else []
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
