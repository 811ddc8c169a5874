"""The audit's compiled kernels built in a short-lived child process, not in the audit's.

numba compiles a kernel on its first call (when its on-disk cache has none). The
compiler's memory (LLVM's, and what the allocator keeps of it) stays with the process:
a first yso-finna-en audit (590k documents) peaked at 2,691 MB with an empty cache
against 1,974-1,983 MB with the kernels cached. So a large audit first runs a tiny
synthetic audit of the same scores source in a child process: the child compiles every
kernel the audit reaches into the cache, and exits; the audit itself then loads them
from the cache. Where the kernels are cached already the child costs its start and a
tiny audit (seconds); where numba has no writable cache (a read-only installation, see
:mod:`tagsmith._numba`) no child can help and none is started; a child that fails or
is interrupted costs its time and the memory it was to save (the audit compiles what
it lacks itself), said once a process in a warning with the reason. A child ends
with the process that started it, killed outright included (Linux: the parent-death
signal; on other Unix systems it watches its parent's id), rather than compile on for its
:data:`TIMEOUT`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: audits of fewer documents compile in their own process (the compiler's memory is a
#: large share of a small audit's, but the child's start would be most of its time)
FROM_DOCS = 50_000
#: seconds a child may take (a cold compile of every kernel: ~1-2 min on 2 busy cores)
TIMEOUT = 900
#: set in the child: its own audit starts no child
_IN_CHILD = {"flag": False}
#: whether a failed warm-up was said at WARNING (once a process; later ones at DEBUG)
_WARNED = {"failed": False}
#: seconds between a child's looks at its parent's id (where no parent-death signal)
WATCH_SECONDS = 1.0
#: the child's program: ``argv[1]`` is the folder of the parent's tagsmith, ``argv[2]``
#: the parent's pid (0 off POSIX: see :func:`_parent_arg`). First of all, on Linux, the
#: child asks for SIGKILL when the parent dies (PR_SET_PDEATHSIG, 1), and ends if the
#: parent is gone already: a parent killed outright (SIGKILL, the out-of-memory killer)
#: left it compiling for minutes
_CHILD_CODE = (
    "import os, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    try:\n"
    "        import ctypes, signal\n"
    "        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)\n"
    "    except Exception:\n"
    "        pass\n"
    "if int(sys.argv[2]) and os.getppid() != int(sys.argv[2]):\n"
    "    print('its parent', sys.argv[2], 'is gone'); sys.exit(1)\n"
    "sys.path.insert(0, sys.argv[1]); import tagsmith\n"
    "if os.path.dirname(os.path.dirname(os.path.realpath(tagsmith.__file__))) != "
    "os.path.realpath(sys.argv[1]):\n"
    "    print('another tagsmith imported:', tagsmith.__file__); sys.exit(1)\n"
    "from tagsmith.audit.warmup import _child; _child(int(sys.argv[2]))")


def _failed(reason: str) -> None:
    """Say that the warm-up failed, at WARNING the first time in this process: the
    audit then compiles its kernels in its own process, back at the peak memory the
    child was to save, which a debug line left unexplained."""
    level = logging.DEBUG if _WARNED["failed"] else logging.WARNING
    _WARNED["failed"] = True
    logger.log(level, "audit: the process that compiles the audit's kernels ahead of it "
               "failed (%s): the audit compiles them itself, and its peak memory keeps "
               "the compiler's (hundreds of MB more on a large corpus with an empty numba "
               "cache)", reason)


def compile_in_child(options: Any, source: str, n_docs: int, with_splits: bool,
                     classifier: Any = None) -> bool:
    """Run a tiny audit of ``source`` scores with ``options`` in a child process, so that
    the kernels are compiled there (and cached) rather than in this one; whether a child
    ran and succeeded. Nothing is started for fewer than :data:`FROM_DOCS` documents, in
    a warm-up child itself, for scores a child cannot rebuild (a classifier's), or where
    numba cannot cache the kernels.

    ``classifier``: the audit's bundle, whose featurizer makes its features and whose
    model family cross-fitting fits (where ``options`` names none). The child fits that
    family on TF-IDF features: where the bundle's features are not TF-IDF (embeddings,
    views) no child is started (it would compile kernels of sparse features the audit
    never runs, and none of the audit's)."""
    if _IN_CHILD["flag"] or n_docs < FROM_DOCS or source not in ("knn", "crossfit") \
            or not sys.executable or getattr(sys, "frozen", False):
        # an embedded interpreter has no python to start; a frozen application's
        # executable is the application, which takes no ``-c``
        return False
    if classifier is not None:
        from tagsmith.features.tfidf import TfidfFeaturizer

        if not isinstance(classifier.featurizer, TfidfFeaturizer):
            logger.debug("audit: a bundle of %s features: no warm-up process (its kernels "
                         "are not those of the TF-IDF features it would audit)",
                         type(classifier.featurizer).__name__)
            return False
    # importing the kernels' modules tells whether numba found a place for the cache
    import tagsmith.audit._isotonic  # noqa: F401
    import tagsmith.audit._kernels  # noqa: F401
    import tagsmith.calibration._isotonic  # noqa: F401
    import tagsmith.models._knn_kernels  # noqa: F401
    from tagsmith import _numba, progress

    if _numba._WARNED["no_cache"]:
        return False
    try:
        asked = _request(options, source, with_splits, progress._compiles_said,
                         classifier)
        request = json.dumps(_encode(asked))
        if _decode(request) != asked:
            raise ValueError("they do not come back equal from JSON")
    except (TypeError, ValueError) as error:
        # parameters JSON cannot carry (a set of stop words, a callable, numpy's int64)
        # ended the audit with a TypeError before a child had started
        _failed(f"the options cannot be sent to it: {error}")
        return False
    # the child imports this tagsmith, wherever this process found it: first on its
    # path (``python -c`` puts the working directory first, where another tagsmith's
    # source may be; PYTHONPATH comes after it), and checked (a kernel of another
    # tagsmith is cached under its own file: the audit would compile all its own)
    here = str(Path(__file__).resolve().parents[2])
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD_CODE, here, _parent_arg()],
                              input=request, text=True, timeout=TIMEOUT,
                              stdout=subprocess.PIPE, stderr=None, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        _failed(str(error))
        return False
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        _failed(f"it exited with {done.returncode} after {seconds:.1f} s: "
                f"{done.stdout.strip()[-500:] or 'no word'}")
        return False
    logger.debug("audit: kernels compiled or found cached in a warm-up process (%.1f s)",
                 seconds)
    return True


#: the JSON objects that stand for a tuple and for a dict of other keys than strings
_TUPLE, _ITEMS = "__tuple__", "__items__"


def _encode(value: Any) -> Any:
    """``value`` for :func:`json.dumps`, tuples and dicts of keys other than strings
    tagged, so that :func:`_decode` gives them back as they were: JSON made a tuple a
    list and an int key a string, and the child audited with other options than the
    audit's (a model's parameters a tuple of pairs, the ensemble's ``members``).

    >>> _decode(json.dumps(_encode({"m": (("a", {1: 2}), [3])})))
    {'m': (('a', {1: 2}), [3])}
    """
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(item) for item in value]}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value) and not (
                len(value) == 1 and next(iter(value)) in (_TUPLE, _ITEMS)):
            return {key: _encode(item) for key, item in value.items()}
        return {_ITEMS: [[_encode(key), _encode(item)] for key, item in value.items()]}
    return value


def _decoded(obj: dict) -> Any:
    """:func:`json.loads`' ``object_hook`` undoing :func:`_encode`'s tags."""
    if len(obj) == 1 and _TUPLE in obj:
        return tuple(obj[_TUPLE])
    if len(obj) == 1 and _ITEMS in obj:
        return {key: item for key, item in obj[_ITEMS]}
    return obj


def _decode(text: str) -> Any:
    """What :func:`_encode` was given, from its JSON ``text``."""
    return json.loads(text, object_hook=_decoded)


def _request(options: Any, source: str, with_splits: bool, say_compiles: bool,
             classifier: Any = None) -> dict:
    """What the child is asked: the audit's options (less the review queue's and the
    progress bars'), its scores source, whether it has splits (the leakage kernels).
    With a ``classifier`` whose model family cross-fitting fits, that family and its
    parameters by name: the child has no bundle, and fitted ``linear`` (kernels the
    audit of a tree bundle never runs, and none of the tree's)."""
    fields = {k: v for k, v in asdict(options).items()
              if k not in ("review_sample", "review_sample_flagged", "max_review",
                           "show_progress")}
    if classifier is not None and source == "crossfit":
        from tagsmith.pipeline.audit import _crossfit_model

        fields["model"], fields["model_params"] = _crossfit_model(options, classifier)
    return {"options": {**fields, "scores": source}, "splits": with_splits,
            "say_compiles": say_compiles}


def _parent_arg() -> str:
    """The parent pid the child is given to watch: this process's on POSIX, else 0 (none
    watched). On Windows a virtual environment's ``python.exe`` is a launcher that
    starts the interpreter as *its* child, so the child's parent id is never the
    audit's (every warm-up ended at once), and an orphan's parent id does not change."""
    return str(os.getpid()) if os.name == "posix" else "0"


def _watch_parent(parent: int) -> threading.Thread:
    """End this process once its parent ``parent`` is gone (its parent id changes: an
    orphan is adopted): where no parent-death signal is (not Linux), a parent killed
    outright left its child compiling up to :data:`TIMEOUT`."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    thread = threading.Thread(target=watch, name="tagsmith-warmup-parent", daemon=True)
    thread.start()
    return thread


def _child(parent: int | None = None) -> None:
    """The child's side: read the request on stdin, audit a tiny synthetic corpus;
    ``parent``: the pid of the process that started it, whose end ends it.

    A failure (or Ctrl-C, which reaches the child too) ends it with no traceback on the
    stderr it shares with the audit: a refusal of the synthetic corpus (its counts, not
    the user's) read as the audit's own; the error's line goes to stdout, which the
    parent logs."""
    if parent:  # 0: none to watch (not POSIX)
        _watch_parent(parent)
    try:
        _warm_up(_decode(sys.stdin.read()))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 -- any failure: the audit compiles itself
        print(f"{type(error).__name__}: {error}", flush=True)
        sys.exit(1)


def _synthetic(request: dict) -> tuple[list[str], Any]:
    """The warm-up's corpus: 400 texts of 24 labels, exact duplicates among them; one
    label a document where the audit asks for ``single_label`` (a catalogue's audit
    refuses a document given two)."""
    import numpy as np

    rng = np.random.default_rng(0)
    n_docs, n_labels = 400, 24
    words = [f"w{i}" for i in range(300)]
    topics = rng.integers(0, n_labels, n_docs)
    Y = np.zeros((n_docs, n_labels), bool)
    Y[np.arange(n_docs), topics] = True
    if not request["options"].get("single_label"):
        Y[rng.random((n_docs, n_labels)) < 0.05] = True
    texts = [" ".join([f"t{topics[d]}"] * 3 + list(rng.choice(words, 12)))
             for d in range(n_docs)]
    for d in range(0, 40, 4):  # exact duplicates: the scores leave their groups out
        texts[d + 1] = texts[d]
    return texts, Y


def _warm_up(request: dict) -> None:
    """A tiny synthetic audit with the request's options (its compile notice said)."""
    import warnings

    import scipy.sparse as sp

    from tagsmith import progress
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    _IN_CHILD["flag"] = True
    # nothing of the synthetic audit is said; the compile notice is, as in the audit
    logging.getLogger("tagsmith").setLevel(logging.CRITICAL)
    notice = logging.getLogger("tagsmith._numba")
    notice.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    notice.addHandler(handler)
    notice.propagate = False
    warnings.simplefilter("ignore")
    texts, Y = _synthetic(request)
    space = LabelSpace.from_uris([f"u:{j}" for j in range(Y.shape[1])])
    splits = {"dev": texts[:20] + ["an unseen text"]} if request["splits"] else None
    with progress.compiles_said(request["say_compiles"]):
        audit_corpus(texts, sp.csr_matrix(Y), space,
                     options=AuditOptions(**request["options"]), splits=splits)
