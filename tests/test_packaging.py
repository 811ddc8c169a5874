"""The project's own files install what the code imports: scripts/setup.sh and pyproject.

A fresh machine only gets what pyproject.toml declares, so every third-party package that
src/ imports must be declared there (core dependencies, or an extra for an import made
inside a function, where a missing package is a MissingDependencyError), and re-running
scripts/setup.sh must repair a .venv it can no longer use.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from conftest import ROOT

SRC = ROOT / "src" / "tagsmith"

#: packages src/ imports that come with a declared one rather than being declared
#: themselves: module -> the declared distribution that requires it (checked below)
TRANSITIVE = {"transformers": "sentence-transformers", "huggingface_hub": "sentence-transformers"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(specs: list[str]) -> set[str]:
    return {_norm(re.match(r"[A-Za-z0-9._-]+", spec).group(0)) for spec in specs}


def _declared() -> tuple[set[str], set[str]]:
    """(core, core plus every extra) distribution names of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = _requirement_names(project["dependencies"])
    extras = set().union(*(_requirement_names(specs)
                           for specs in project["optional-dependencies"].values()))
    return core, core | extras


def _third_party_imports() -> dict[str, list[tuple[str, bool]]]:
    """Top-level module -> [(file:line, imported at module level?)] for src/tagsmith."""
    found: dict[str, list[tuple[str, bool]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        top_level = {id(node) for node in ast.walk(tree)
                     if isinstance(node, ast.Import | ast.ImportFrom)}
        for block in ast.walk(tree):
            # a function's imports run when it is called; `if TYPE_CHECKING:` ones never run
            if isinstance(block, ast.FunctionDef | ast.AsyncFunctionDef) or (
                    isinstance(block, ast.If) and isinstance(block.test, ast.Name)
                    and block.test.id == "TYPE_CHECKING"):
                top_level -= {id(node) for node in ast.walk(block)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                module = name.split(".")[0]
                if module in sys.stdlib_module_names or module == "tagsmith":
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.setdefault(module, []).append((where, id(node) in top_level))
    return found


def _distributions(module: str) -> set[str]:
    dists = metadata.packages_distributions().get(module)
    if not dists:
        pytest.fail(f"{module} is imported by src/ but not installed with the test extras")
    return {_norm(dist) for dist in dists}


def test_every_third_party_import_in_src_is_declared():
    core, declared = _declared()
    undeclared, not_core = [], []
    for module, places in _third_party_imports().items():
        if module in TRANSITIVE:
            parent = TRANSITIVE[module]
            assert _norm(parent) in declared, f"{parent} (bringing {module}) is not declared"
            requires = _requirement_names(metadata.requires(parent) or [])
            assert _distributions(module) & requires, f"{parent} no longer requires {module}"
            dists = {_norm(parent)}
        else:
            dists = _distributions(module)
        if not dists & declared:
            undeclared.append(f"{module} ({places[0][0]})")
        at_module_level = [where for where, top in places if top]
        if at_module_level and not dists & core:
            not_core.append(f"{module} ({at_module_level[0]})")
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    # a package of an extra imported at module level breaks `import` on a core install
    assert not not_core, f"an extra's package imported at module level: {not_core}"


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
