"""A large audit compiles its kernels in a short-lived child process (tagsmith.audit.warmup),
so that the compiler's memory is not the audit's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tagsmith
from tagsmith import _numba
from tagsmith.audit import warmup
from tagsmith.pipeline.audit import AuditOptions

# the warm-up child's synthetic audit run here, then an audit unlike it (other texts,
# sizes, labels per document, exact duplicates, a leakage split): the kernel signatures
# the second one reached beyond the child's listed, and how many the child's reached
_SCRIPT = """
import json, sys
import numpy as np, scipy.sparse as sp
from numba.core.dispatcher import Dispatcher

def reached():
    out = set()
    for name, module in list(sys.modules.items()):
        if name.startswith("tagsmith."):
            for value in list(vars(module).values()):
                if isinstance(value, Dispatcher):
                    out |= {f"{value.py_func.__module__}.{value.__name__}{sig}"
                            for sig in value.signatures}
    return out

import tagsmith.audit.warmup as warmup
from tagsmith.data.labelspace import LabelSpace
from tagsmith.pipeline.audit import AuditOptions, audit_corpus

source = sys.argv[1]
options = AuditOptions(scores=source, seed=1)
options.validate()
warmup._warm_up(warmup._request(options, source, True, False))
child = reached()
rng = np.random.default_rng(3)
n, n_labels = 700, 40
Y = rng.random((n, n_labels)) < 0.06
Y[np.arange(n), rng.integers(0, n_labels, n)] = True
texts = [" ".join(f"x{j} x{j}b" for j in np.flatnonzero(Y[d]))
         + " " + " ".join(rng.choice([f"v{i}" for i in range(500)], 8)) for d in range(n)]
for d in range(100, 130, 3):
    texts[d + 1] = texts[d]
audit_corpus(texts, sp.csr_matrix(Y), LabelSpace.from_uris([f"u:{j}" for j in range(n_labels)]),
             options=AuditOptions(scores=source, seed=1), splits={"test": texts[:30]})
print(json.dumps([sorted(reached() - child), sorted(child)]))
"""


@pytest.mark.parametrize("source", ["knn", "crossfit"])
def test_the_childs_audit_reaches_every_kernel_an_audit_does(source):
    """A first yso-finna-en audit (590k documents, an empty numba cache) compiled ~24
    kernels in its own process, whose memory kept the compiler's (2,691 MB peak against
    1,974-1,983 MB with the kernels cached, stop 53). Now a child compiles them into
    the cache on a tiny audit of the same scores source and the audit loads them: that
    holds where the child's audit reaches every kernel signature an audit does. Run on
    numba's usual cache (the one the suite's audits fill), not a fresh one: a fresh
    one meant a cold compile of every audit kernel, 68 s of this test alone on 2 cores
    (b6d4f353's test_a_large_audit_compiles_no_kernel_in_its_own_process); that the
    audit asks for the child is test_the_child_is_asked_for_once_the_audit_is_checked."""
    here = str(Path(tagsmith.__file__).resolve().parents[1])  # this tagsmith, not another
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, source], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    beyond, child = json.loads(done.stdout.strip().splitlines()[-1])
    assert beyond == [], beyond
    reached = {s.split("(")[0] for s in child}
    assert {"tagsmith.audit._isotonic._pava_groups", "tagsmith.audit._isotonic._point_sums",
            "tagsmith.audit._kernels.topk_position_kernel"} <= reached, reached
    if source == "knn":
        assert "tagsmith.models._knn_kernels.vote_kernel" in reached, reached


def test_a_small_audit_and_a_cache_numba_cannot_write_start_no_child(monkeypatch):
    """Below FROM_DOCS documents the child's start would be most of the audit's time;
    where numba cannot cache, no child can compile for the audit: neither starts one."""
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a child started"))
    options = AuditOptions(scores="knn", seed=0)
    options.validate()
    assert not warmup.compile_in_child(options, "knn", warmup.FROM_DOCS - 1, False)
    monkeypatch.setitem(_numba._WARNED, "no_cache", True)
    assert not warmup.compile_in_child(options, "knn", warmup.FROM_DOCS, False)
    monkeypatch.setitem(_numba._WARNED, "no_cache", False)
    monkeypatch.setitem(warmup._IN_CHILD, "flag", True)
    assert not warmup.compile_in_child(options, "knn", warmup.FROM_DOCS, False)
    for source in ("bundle", "heldout"):  # a classifier's scores: no child rebuilds them
        assert not warmup.compile_in_child(options, source, warmup.FROM_DOCS, False)


def test_a_failing_child_says_nothing_on_the_audits_stderr(capfd, caplog):
    """A child whose synthetic audit is refused printed its traceback on the stderr it
    shares with the audit (a refusal naming the synthetic corpus's counts, read as the
    user's): now it ends quietly, and the parent's debug line names the error."""
    options = AuditOptions(scores="knn", seed=0)
    options.k = 0  # refused by the child's audit (set after: made so, refused)
    with caplog.at_level("DEBUG", logger="tagsmith.audit.warmup"):
        assert not warmup.compile_in_child(options, "knn", warmup.FROM_DOCS, False)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "InvalidParameterError" not in err, err
    assert "InvalidParameterError" in caplog.text and "'k'" in caplog.text, caplog.text


def test_a_single_label_audits_child_audits_one_label_a_document():
    """single_label True refuses a document given two labels: the child's corpus (a
    label here and there added to each document's one) was refused, and a catalogue's
    audit compiled every kernel in its own process."""
    _, Y = warmup._synthetic({"options": {"single_label": True}})
    assert (Y.sum(axis=1) == 1).all()
    _, Y = warmup._synthetic({"options": {"single_label": None}})
    assert (Y.sum(axis=1) > 1).any()


def test_the_child_is_asked_for_once_the_audit_is_checked(monkeypatch):
    """An audit refused for its corpus (too few documents for its folds) started the
    child first (a cold compile of every kernel: minutes) and was refused after it; an
    audit that goes on asks for one child, of its scores source and splits."""
    import pytest
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import audit_corpus

    asked = []

    class Asked(Exception):
        pass

    def child(options, source, n_docs, with_splits, classifier=None):
        asked.append((source, n_docs, with_splits))
        raise Asked  # the audit stopped there: nothing of it compiled or run

    monkeypatch.setattr(warmup, "compile_in_child", child)
    space = LabelSpace.from_uris(["u:a", "u:b"])
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 0]], bool))
    with pytest.raises(DataError, match="too small for n_folds 5"):
        audit_corpus(["a x", "b y", "a z"], Y, space,
                     options=AuditOptions(scores="crossfit", n_folds=5))
    assert asked == []
    with pytest.raises(Asked):
        audit_corpus(["a x", "b y", "a z", "b w"], sp.vstack([Y, Y[1]]), space,
                     options=AuditOptions(scores="knn"), splits={"test": ["a q"]})
    assert asked == [("knn", 4, True)]


def test_the_child_imports_this_tagsmith_not_one_in_the_working_directory(
        tmp_path, monkeypatch, caplog):
    """``python -c`` puts the working directory first on the child's path, ahead of the
    PYTHONPATH the parent set: another tagsmith's source there was imported (its
    kernels, cached under its own files, were no help to this audit). Now the child
    puts this tagsmith's folder first and checks it."""
    fake = tmp_path / "tagsmith"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise SystemExit('the working directory tagsmith')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    options = AuditOptions(scores="knn", seed=0)
    options.k = 0  # refused by this tagsmith's audit (set after: made so, refused)
    with caplog.at_level("DEBUG", logger="tagsmith.audit.warmup"):
        assert not warmup.compile_in_child(options, "knn", warmup.FROM_DOCS, False)
    assert "InvalidParameterError" in caplog.text, caplog.text


def test_a_frozen_application_starts_no_child(monkeypatch):
    """A frozen application's sys.executable is the application itself."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a child started"))
    options = AuditOptions(scores="knn", seed=0)
    assert not warmup.compile_in_child(options, "knn", warmup.FROM_DOCS, False)


def test_options_json_cannot_carry_start_no_child_and_end_no_audit(monkeypatch, caplog):
    """A parameter JSON cannot carry (numpy's int64, a set of stop words) ended a large
    audit with a TypeError in the warm-up's request, before a child had started: the
    warm-up is skipped (the audit compiles its kernels itself), with a debug line."""
    import numpy as np

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a child started"))
    monkeypatch.setitem(_numba._WARNED, "no_cache", False)
    options = AuditOptions(scores="knn", seed=0, knn_params={"n_neighbors": np.int64(5)},
                           featurizer_params={"stop_words": {"the", "a"}})
    options.validate()
    with caplog.at_level("DEBUG", logger="tagsmith.audit.warmup"):
        assert not warmup.compile_in_child(options, "knn", warmup.FROM_DOCS, False)
    assert "cannot be sent" in caplog.text, caplog.text


def test_a_failed_warm_up_is_said_once_in_a_warning_with_its_reason(monkeypatch, caplog):
    """A child that failed was a debug line: the audit compiled its kernels itself and
    was back at the peak memory the child was to save, without a word. Now the first
    failure in a process is a warning naming the reason; later ones are debug lines."""
    monkeypatch.setitem(warmup._WARNED, "failed", False)
    monkeypatch.setitem(_numba._WARNED, "no_cache", False)
    refused = AuditOptions(scores="knn", seed=0)
    refused.k = 0  # refused by the child's audit (set after: made so, refused)
    unsent = AuditOptions(scores="knn", seed=0, featurizer_params={"stop_words": {"a"}})
    with caplog.at_level("DEBUG", logger="tagsmith.audit.warmup"):
        assert not warmup.compile_in_child(refused, "knn", warmup.FROM_DOCS, False)
        assert not warmup.compile_in_child(unsent, "knn", warmup.FROM_DOCS, False)
    said = [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "tagsmith.audit.warmup"]
    assert [level for level, _ in said] == ["WARNING", "DEBUG"], said
    assert "InvalidParameterError" in said[0][1] and "'k'" in said[0][1], said
    assert "compiles them itself" in said[0][1] and "peak memory" in said[0][1], said
    assert "cannot be sent" in said[1][1], said


def _children(pid: int) -> list[int]:
    """The pids of ``pid``'s children (Linux: /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie awaiting its reaping)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


_PARENT = """
from tagsmith.audit import warmup
from tagsmith.pipeline.audit import AuditOptions
options = AuditOptions(scores="knn", seed=0)
options.validate()
print(warmup.compile_in_child(options, "knn", warmup.FROM_DOCS, False), flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_warm_up_child_ends_when_its_parent_is_killed(tmp_path):
    """An audit killed outright (SIGKILL, the out-of-memory killer) left its warm-up
    child compiling every kernel up to its 900 s time-out. Here a real audit process
    starts the child on an empty numba cache (a cold compile: a minute or more) and is
    killed; the child ends within seconds (the parent-death signal on Linux)."""
    import signal
    import time

    here = str(Path(tagsmith.__file__).resolve().parents[1])
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "PYTHONPATH": os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])}
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    child = None
    try:
        deadline = time.monotonic() + 120
        while child is None and time.monotonic() < deadline and parent.poll() is None:
            found = [pid for pid in _children(parent.pid)
                     if b"warmup" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            child = found[0] if found else None
            time.sleep(0.1)
        assert child is not None, "no warm-up child started"
        time.sleep(3)  # into its imports and compiling
        assert _running(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _running(child), "the warm-up child outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if child is not None and _running(child):
            os.kill(child, signal.SIGKILL)
        parent.stdout.close()


_ORPHAN = """
import os, subprocess, sys, time
code = ("import sys, time; from tagsmith.audit import warmup; "
        "warmup.WATCH_SECONDS = 0.1; warmup._watch_parent(int(sys.argv[1])); "
        "print('watching', flush=True); time.sleep(120)")
child = subprocess.Popen([sys.executable, "-c", code, str(os.getpid())],
                         stdout=subprocess.PIPE)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_warm_up_child_without_the_death_signal_watches_its_parent():
    """Where there is no parent-death signal (not Linux), the child watches its
    parent's id: here a child watching (and no signal asked for) ends within seconds
    of its parent's SIGKILL."""
    import signal
    import time

    here = str(Path(tagsmith.__file__).resolve().parents[1])
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])}
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN], env=env,
                              stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = int(parent.stdout.readline())
        assert _running(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(child), "the watching child outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if child is not None and _running(child):
            os.kill(child, signal.SIGKILL)
        parent.stdout.close()


def _same(a, b) -> bool:
    """Equal, and of the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) and type(k) is type(kb)
                                          for k, kb in zip(a, b, strict=True))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_the_child_reads_the_options_as_the_audit_holds_them():
    """The request went to the child as plain JSON: a tuple came back a list and a key
    other than a string a string (an ensemble's members given as (name, params)
    pairs, weights as a tuple), so the child audited with other options than the
    audit's. Now both come back as they were given, and a dict whose one key is one of
    the tags stays a dict."""
    options = AuditOptions(
        scores="crossfit", seed=0, model="ensemble",
        model_params={"members": (("linear", {"C": 2.0}), ("knn", {"n_neighbors": 5})),
                      "weights": (0.25, 0.75)},
        featurizer_params={"word_ngrams": (1, 2), "char_ngrams": None, "min_df": 1})
    options.validate()
    asked = warmup._request(options, "crossfit", True, False)
    asked["extra"] = {1: (2, 3), (4, "x"): [5, {"__tuple__": 6}], "__items__": {}}
    sent = json.dumps(warmup._encode(asked))
    read = warmup._decode(sent)
    assert _same(read, asked), (read, asked)
    assert not _same(json.loads(json.dumps(asked["options"])), asked["options"])  # JSON's


def test_a_bundles_audit_warms_up_its_model_family_and_only_on_tfidf_features(monkeypatch):
    """The child has no bundle: it cross-fitted ``linear`` on TF-IDF features whatever
    the bundle's model (compiling kernels the audit never runs, and not the bundle
    family's). Now it is asked for the family and parameters the audit cross-fits, and
    a bundle whose features are not TF-IDF (views, embeddings) starts no child."""
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.features.views import MultiViewFeaturizer
    from tagsmith.pipeline.audit import _crossfit_model
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    from conftest import FAST_FEATURES

    rng = np.random.default_rng(0)
    topic = rng.integers(0, 3, 90)
    texts = [f"t{topic[i]} t{topic[i]}b w{rng.integers(0, 30)} w{rng.integers(0, 30)}"
             for i in range(90)]
    Y = np.zeros((90, 3), bool)
    Y[np.arange(90), topic] = True
    import scipy.sparse as sp

    classifier = train_classifier(texts, sp.csr_matrix(Y), LabelSpace.from_uris(
        ["u:a", "u:b", "u:c"]), options=TrainOptions(
            model="knn", model_params={"n_neighbors": 7}, dev_fraction=0.0,
            featurizer_params=FAST_FEATURES))
    options = AuditOptions(scores="crossfit", seed=0)
    options.validate()
    asked = warmup._request(options, "crossfit", False, False, classifier)["options"]
    assert asked["model"] == "knn" and asked["model_params"]["n_neighbors"] == 7, asked
    assert (asked["model"], asked["model_params"]) == _crossfit_model(options, classifier)
    assert warmup._request(options, "crossfit", False, False)["options"]["model"] is None
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a child started"))
    monkeypatch.setitem(_numba._WARNED, "no_cache", False)
    classifier.featurizer = MultiViewFeaturizer({"words": classifier.featurizer})
    assert not warmup.compile_in_child(options, "crossfit", warmup.FROM_DOCS, False,
                                       classifier)


def _run_child_code(prelude: str, parent: str) -> subprocess.CompletedProcess:
    """The warm-up child's program after ``prelude``, with this process as its parent
    ``parent`` and an empty request: it fails reading that request, once past its start."""
    here = str(Path(tagsmith.__file__).resolve().parents[1])
    return subprocess.run([sys.executable, "-c", prelude + "\nexec(sys.argv.pop(1))",
                           warmup._CHILD_CODE, here, parent],
                          input="", text=True, capture_output=True, timeout=120, check=False)


def test_a_python_without_ctypes_still_warms_up():
    """A python built without ``_ctypes`` (no libffi: minimal images) raised an
    ImportError the death-signal request did not catch: the child died at its first
    line, a traceback on the audit's stderr. It goes on without the signal."""
    done = _run_child_code("import sys; sys.modules['ctypes'] = None", str(os.getpid()))
    assert "Traceback" not in done.stderr, done.stderr
    assert "JSONDecodeError" in done.stdout, (done.stdout, done.stderr)


def test_off_posix_the_child_watches_no_parent(monkeypatch):
    """On Windows a virtual environment's python.exe is a launcher whose own child is
    the interpreter: the warm-up child's parent id was never the audit's, so it ended
    at its first lines (and its watcher at once), every warm-up a warned failure. Off
    POSIX no parent is given (0), and a child given none goes on whatever its parent id."""
    assert warmup._parent_arg() == str(os.getpid())
    monkeypatch.setattr(os, "name", "nt")
    assert warmup._parent_arg() == "0"
    monkeypatch.undo()
    # a parent id that is not the one given (the launcher's), and no parent given
    done = _run_child_code("import os, sys; os.getppid = lambda: 1", "0")
    assert "JSONDecodeError" in done.stdout, (done.stdout, done.stderr)
