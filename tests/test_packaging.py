"""The project's own files install what the code needs: re-running scripts/setup.sh must
repair a .venv it can no longer use.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def _probe_project(tmp_path: Path) -> Path:
    """A copy of scripts/setup.sh beside a package with nothing to fetch."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    (repo / "pyproject.toml").write_text('[project]\nname = "probe"\nversion = "0"\n')
    return repo


def _run_setup(repo: Path) -> subprocess.CompletedProcess:
    # no index: only the venv repair is under test, the install of the probe may fail
    env = dict(os.environ, PYTHON=os.path.realpath(sys.executable), PIP_NO_INDEX="1",
               PIP_CONFIG_FILE=os.devnull, PIP_FIND_LINKS="")
    return subprocess.run(["bash", str(repo / "scripts" / "setup.sh")], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_setup_recreates_a_venv_whose_python_is_gone(tmp_path):
    repo = _probe_project(tmp_path)
    # a .venv made by a Python that was removed since (pyenv uninstall, an upgrade)
    gone = tmp_path / "gone"
    gone.mkdir()
    (gone / "python3").symlink_to(os.path.realpath(sys.executable))
    subprocess.run([str(gone / "python3"), "-m", "venv", "--without-pip", str(repo / ".venv")],
                   check=True)
    shutil.rmtree(gone)
    venv_python = repo / ".venv" / "bin" / "python"
    assert not venv_python.exists()  # a dangling link, as left behind
    out = _run_setup(repo)
    assert "recreating it" in out.stderr, out.stderr
    alive = subprocess.run([str(venv_python), "-c", "import sys; print(sys.prefix)"],
                           capture_output=True, text=True)
    assert alive.returncode == 0, out.stderr
    assert Path(alive.stdout.strip()) == repo / ".venv"
