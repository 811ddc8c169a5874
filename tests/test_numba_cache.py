"""tagsmith's kernels cache their compiled code where numba can, and still load where
it cannot (tagsmith._numba.njit)."""

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import pytest

import tagsmith
from tagsmith import _numba


def _function_without_a_file():
    """A function whose source is no file: numba has no place for its cache."""
    namespace: dict = {}
    exec(compile("def add_one(x):\n    return x + 1\n", "<no file>", "exec"), namespace)
    return namespace["add_one"]


def test_a_kernel_numba_cannot_cache_is_compiled_without_the_cache(caplog, monkeypatch):
    # numba refuses cache=True where it finds no writable place: the decorator raised
    # at import ("no locator available"), and tagsmith's models could not be loaded
    with pytest.raises(RuntimeError, match="no locator available"):
        numba.njit(cache=True)(_function_without_a_file())
    monkeypatch.setitem(_numba._WARNED, "no_cache", False)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        first = _numba.njit(nogil=True, cache=True)(_function_without_a_file())
        second = _numba.njit(cache=True)(_function_without_a_file())
    assert first(1) == 2 and second(41) == 42
    warnings = [r.getMessage() for r in caplog.records if r.name == "tagsmith._numba"]
    assert len(warnings) == 1  # once per process
    assert "NUMBA_CACHE_DIR" in warnings[0] and "no locator available" in warnings[0]


def test_a_read_only_installation_without_a_writable_cache_still_imports(tmp_path):
    # the package and the user's cache directory both read-only (a system-wide install
    # run by a user without a writable home): importing the tree's kernels failed
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None \
            or os.geteuid() != 0:
        pytest.skip("needs Linux, unshare and root for read-only bind mounts")
    package = tmp_path / "site"
    shutil.copytree(Path(tagsmith.__file__).parent, package / "tagsmith",
                    ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    script = "; ".join([
        *(f"mount --bind {path} {path} && mount -o remount,bind,ro {path}"
          for path in (package, home)),
        f"{sys.executable} -c 'import tagsmith.models._tree_kernels; print(\"loaded\")'"])
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "PYTHONPATH": str(package)}
    env.pop("NUMBA_CACHE_DIR", None)
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                            text=True, env=env, cwd=tmp_path)
    if "mount:" in result.stderr:
        pytest.skip(f"no read-only bind mount here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded"
    assert "numba cannot cache tagsmith's compiled kernels" in result.stderr


def _function_of(module: str):
    """A new function of ``module``: numba compiles it on its first call."""
    namespace: dict = {"__name__": module}
    exec(compile("def add_one(x):\n    return x + 1\n", "<no file>", "exec"), namespace)
    return namespace["add_one"]


def test_compiling_the_kernels_is_said_once(caplog, monkeypatch):
    # a support team's first `label --budget` paused 36 s between two rounds, with
    # nothing said: numba compiling the kernels on their first use
    from tagsmith.progress import compiles_said

    monkeypatch.setitem(_numba._WARNED, "compiling", False)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        # a library caller, not the command line: nothing said
        assert _numba.njit()(_function_of("tagsmith.library"))(1) == 2
        with compiles_said():
            assert _numba.njit()(_function_of("elsewhere"))(1) == 2  # not tagsmith's
            assert not caplog.records
            assert _numba.njit()(_function_of("tagsmith.kernels"))(1) == 2
            assert _numba.njit()(_function_of("tagsmith.others"))(1.5) == 2.5
    said = [r.getMessage() for r in caplog.records if r.name == "tagsmith._numba"]
    # "the first run only": eval, right after a train that compiled its kernels,
    # compiled others for about 23 s
    assert said == ["compiling tagsmith's fast kernels (numba; it can take half a minute): "
                    "once per kernel, in the first run that needs it (another command may "
                    "compile others); later runs load them from the cache"]


def test_kernels_loaded_from_the_cache_are_not_said_to_be_compiled(tmp_path):
    script = "\n".join([
        "import logging, numpy as np",
        "logging.basicConfig(level=logging.INFO)",
        "from tagsmith.calibration._isotonic import _interp",
        "from tagsmith.progress import compiles_said",
        "out = np.zeros(1)",
        "with compiles_said():",
        "    _interp(np.array([0, 2]), np.array([0.0, 1.0]), np.array([0.0, 1.0]),",
        "            np.zeros(1, np.int64), np.array([0.5]), out)",
        "print(out[0])"])
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, cwd=tmp_path) for _ in range(2)]
    assert [run.stdout.strip() for run in runs] == ["0.5", "0.5"], runs[0].stderr
    assert runs[0].stderr.count("compiling tagsmith's fast kernels") == 1
    assert "compiling" not in runs[1].stderr
