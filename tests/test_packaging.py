"""The project's own files install what the code imports: scripts/setup.sh and pyproject.

A fresh machine only gets what pyproject.toml declares, so every third-party package that
src/ imports must be declared there (core dependencies, or an extra for an import made
inside a function, where a missing package is a MissingDependencyError), and re-running
scripts/setup.sh must repair a .venv it can no longer use. The wheel and the sdist built
from a clean copy of the tree hold every module, the license text and the typing marker,
and nothing of the repository's tests, benchmarks or data.
"""

import ast
import functools
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
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


def _imports(node: ast.AST, top: bool):
    """(import statement, at module level?) below ``node``, in one pass over its
    statements (imports are statements: expressions hold none): a function's imports run
    when it is called, ``if TYPE_CHECKING:`` ones never run."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, top
        elif isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
            runs_on_import = top and not (
                isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) or (
                    isinstance(child, ast.If) and isinstance(child.test, ast.Name)
                    and child.test.id == "TYPE_CHECKING"))
            yield from _imports(child, runs_on_import)


def _third_party_imports() -> dict[str, list[tuple[str, bool]]]:
    """Top-level module -> [(file:line, imported at module level?)] for src/tagsmith."""
    found: dict[str, list[tuple[str, bool]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, top in _imports(tree, True):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                module = name.split(".")[0]
                if module in sys.stdlib_module_names or module == "tagsmith":
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.setdefault(module, []).append((where, top))
    return found


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    """importlib's map of modules to distributions: it reads every installed
    distribution's file list, a second or more each time it is asked."""
    return metadata.packages_distributions()


def _distributions(module: str) -> set[str]:
    dists = _packages_distributions().get(module)
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


def test_the_version_is_written_once():
    """pyproject.toml and tagsmith.__version__ each wrote 0.1.0: a release that bumped
    one of them built a wheel whose metadata and ``tagsmith --version`` (and the
    version bundles record) disagreed. pyproject reads the package's."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "tagsmith.__version__"}
    # a literal, which setuptools reads from the source without importing the package
    tree = ast.parse((SRC / "__init__.py").read_text(encoding="utf-8"))
    assigned = [node.value for node in tree.body if isinstance(node, ast.Assign)
                and [ast.unparse(target) for target in node.targets] == ["__version__"]]
    assert len(assigned) == 1 and isinstance(assigned[0], ast.Constant)


def test_the_changelog_names_the_version_its_unreleased_changes_follow():
    """Python API changes (stop 56 took recall and doc_error_rate off
    Reliability.minority) were said in commit subjects alone. CHANGELOG.md lists them
    under "Unreleased", saying which version they follow: the package's own, so a
    release bumping it must say so there too; and each commit it cites is one of the
    repository's history (a git checkout's; the hashes are those of main)."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert sections and sections[0] == "Unreleased", sections
    tree = ast.parse((SRC / "__init__.py").read_text(encoding="utf-8"))
    version = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                   and [ast.unparse(target) for target in node.targets] == ["__version__"])
    unreleased = text.split("## Unreleased", 1)[1].split("\n## ", 1)[0]
    assert f"`{version}`" in unreleased
    cited = set(re.findall(r"`([0-9a-f]{8})`", text))
    assert cited
    # a shallow clone (CI's checkout of one commit) has none of the commits cited
    shallow = shutil.which("git") and subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"],
        capture_output=True, text=True).stdout.strip() == "true"
    if shutil.which("git") and (ROOT / ".git").exists() and not shallow:
        for commit in sorted(cited):
            # an ancestor of HEAD: a commit rebased away (stop 58 cited two) is still
            # an object of the repository, but not in its history
            found = subprocess.run(["git", "-C", str(ROOT), "merge-base", "--is-ancestor",
                                    commit, "HEAD"], capture_output=True)
            assert found.returncode == 0, (
                f"CHANGELOG.md cites {commit}, no commit of this history")


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


def _build_hook(hook: str, tree: Path, out: Path) -> Path:
    """Run one of setuptools' build hooks in ``tree`` (a process of its own: two hooks in
    one process put the sdist into a folder named bdist_wheel), no network."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta as hooks; "
         f"print('built', hooks.{hook}(sys.argv[1]))", str(out)],
        cwd=tree, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # the hooks' own log goes to stdout too
    return out / done.stdout.splitlines()[-1].removeprefix("built ")


def _build(tmp_path: Path) -> tuple[Path, Path]:
    """(wheel, sdist): the sdist built from a copy of the tree without its build leftovers
    (a stale build/lib puts deleted modules into a wheel), the wheel from the unpacked
    sdist, as pip builds one."""
    pytest.importorskip("setuptools", minversion="77",
                        reason="the build needs setuptools>=77 (PEP 639 license fields)")
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
        ".hypothesis", "runs", "bundles", "work"))
    sdist = _build_hook("build_sdist", tree, tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        # extraction filters came with 3.11.4 (and 3.12); a 3.11.2 has none
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp_path / "unpacked", **safe)
    unpacked = tmp_path / "unpacked" / sdist.name.removesuffix(".tar.gz")
    return _build_hook("build_wheel", unpacked, tmp_path / "dist"), sdist


def test_wheel_and_sdist_hold_the_package_its_license_and_nothing_else(tmp_path):
    """There was no LICENSE: the wheel and the sdist of an Apache-2.0 project carried no
    license text, and the sdist held tests/test_*.py without tests/conftest.py or
    tests/data, a suite that could not run; nor was there a py.typed, so mypy ignored
    the annotations of an installed tagsmith."""
    import tagsmith

    wheel, sdist = _build(tmp_path)
    modules = {path.relative_to(ROOT / "src").as_posix() for path in SRC.rglob("*.py")}
    info = f"tagsmith-{tagsmith.__version__}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata_text = archive.read(f"{info}/METADATA").decode("utf-8")
    package = {name for name in names if not name.startswith(f"{info}/")}
    assert package == modules | {"tagsmith/py.typed"}
    assert f"{info}/licenses/LICENSE" in names
    assert f"\nVersion: {tagsmith.__version__}\n" in metadata_text  # what --version says
    assert "\nLicense-Expression: Apache-2.0\n" in metadata_text
    assert "\nLicense-File: LICENSE\n" in metadata_text

    top = f"tagsmith-{tagsmith.__version__}/"
    with tarfile.open(sdist) as archive:
        members = {member.name.removeprefix(top) for member in archive.getmembers()
                   if member.isfile()}
    # CHANGELOG.md: the README, the package's description, points to it (it was left out)
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml",
            "src/tagsmith/py.typed"} <= members
    assert {f"src/{module}" for module in modules} <= members
    assert not [name for name in members
                if name.split("/")[0] in {"tests", "benchmarks", "examples", "scripts"}]
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
