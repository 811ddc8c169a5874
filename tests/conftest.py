import gzip
import os
import time
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOEMOTIONS = ROOT / "examples" / "goemotions"
SHARED = ROOT.parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _progress_bars_as_each_test_finds_them():
    """Each test starts with bars allowed, whatever the test before it did with
    ``tagsmith.progress.silence`` (an in-process CLI run with ``-q`` used to leave every
    bar silenced, and ``test_training_shows_progress_while_featurizing`` failed after
    ``tests/test_confidence_pipeline.py``; ``-q`` now lasts for its command alone)."""
    from tagsmith import progress

    progress.silence(False)
    yield
    progress.silence(False)


def _slice(src: Path, dst: Path, n: int) -> Path:
    with gzip.open(src, "rt", encoding="utf-8") as handle:
        dst.write_text("".join(islice(handle, n)), encoding="utf-8")
    return dst


@pytest.fixture(scope="session")
def goemotions_small(tmp_path_factory):
    """Small real slices of the bundled GoEmotions data: train, dev, test TSV + vocab."""
    base = tmp_path_factory.mktemp("goemotions")
    return {
        "train": _slice(GOEMOTIONS / "train.tsv.gz", base / "train.tsv", 3000),
        "dev": _slice(GOEMOTIONS / "dev.tsv.gz", base / "dev.tsv", 600),
        "test": _slice(GOEMOTIONS / "test.tsv.gz", base / "test.tsv", 600),
        "vocab": GOEMOTIONS / "vocab.tsv",
    }


@contextmanager
def unread_pipe():
    """A pipe nobody reads (a stalled log collector or pager, for a child's stderr):
    ``(read_end, write_end)``, both closed when the block ends, however it ends."""
    read_end, write_end = os.pipe()
    try:
        yield read_end, write_end
    finally:
        os.close(read_end)
        os.close(write_end)


def fill_pipe(write_end: int) -> None:
    """Fill the pipe of ``write_end`` through a file description of its own,
    non-blocking: a child's (given ``write_end``) stays blocking, and its next write to
    the pipe waits for room. Linux: opened again through ``/proc/self/fd``."""
    filler = os.open(f"/proc/self/fd/{write_end}", os.O_WRONLY | os.O_NONBLOCK)
    try:
        while True:
            os.write(filler, b"x" * 4096)
    except BlockingIOError:
        pass
    finally:
        os.close(filler)


def exit_code_or_drain(process, read_end: int) -> int | None:
    """The run's exit code now, or None while it still runs: such a run (hung on its
    full pipe) is then let say its lines and end, what it writes to ``read_end`` read
    and dropped until it exits, so that a failing test does not leave it behind."""
    ended = process.poll()
    if ended is None:
        os.set_blocking(read_end, False)
        while process.poll() is None:
            try:
                os.read(read_end, 1 << 16)
            except BlockingIOError:
                time.sleep(0.05)
        process.wait(timeout=60)
    return ended


#: common words for short texts whose near duplicates an index that stops reading
#: frequent features misses ("Thank you!!!!" for "Thank you!!!!!")
COMMON_WORDS = "thank you so much love this lol yes no the a is it that what good great".split()


def short_texts(rng, n):
    """Short texts of a few common words (Zipf-like), some with one rare word."""
    import numpy as np

    p = 1 / np.arange(1, len(COMMON_WORDS) + 1)
    texts = []
    for _ in range(n):
        text = " ".join(rng.choice(COMMON_WORDS, rng.integers(1, 5), p=p / p.sum()))
        text += "!" * int(rng.integers(0, 4))
        texts.append(text + f" w{rng.integers(10**6)}" if rng.random() < 0.5 else text)
    return texts


def undocumented_fields(cls) -> list[str]:
    """The fields of the dataclass ``cls`` its docstring does not name (````name````):
    help() shows the docstring, not the ``#:`` comments beside the fields."""
    import dataclasses

    return [f.name for f in dataclasses.fields(cls) if f"``{f.name}``" not in cls.__doc__]


#: word features only, so tests train in about a second
FAST_FEATURES = {"char_ngrams": None, "min_df": 1}


def simulate_scores(n_docs: int, n_labels: int, *, seed: int, priors=None,
                    separation: float = 2.0, distort: bool = True):
    """Multi-label data whose true probabilities are known.

    Each label is true with its prior; a document's evidence for label ``l`` is
    ``x ~ N(+-separation/2, 1)``, so the exact posterior is ``sigmoid(logit(prior) +
    separation * x)``. Raw scores distort that posterior per label (a different slope
    and bias on the logit scale), as an uncalibrated model would.
    Returns ``(Y csr bool, true probabilities, raw scores)``, dense ``n x L`` floats.
    """
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    if priors is None:
        priors = np.geomspace(0.3, 0.01, n_labels)
    priors = np.asarray(priors, dtype=np.float64)
    y = rng.random((n_docs, n_labels)) < priors
    x = rng.normal(np.where(y, separation / 2, -separation / 2), 1.0)
    logit = np.log(priors / (1 - priors)) + separation * x
    true_p = 1 / (1 + np.exp(-logit))
    if not distort:
        return sp.csr_matrix(y), true_p, true_p.astype(np.float32)
    slope = np.random.default_rng(seed + 1).uniform(0.4, 2.0, n_labels)
    bias = np.random.default_rng(seed + 2).uniform(-2.0, 1.5, n_labels)
    raw = 1 / (1 + np.exp(-(slope * logit + bias)))
    return sp.csr_matrix(y), true_p, raw.astype(np.float32)


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt in this process for the test, whatever the test run
    inherited: a job a non-interactive shell starts in the background (``bash .ci/run &``)
    has SIGINT ignored, and then neither a real Ctrl-C nor ``_thread.interrupt_main``
    reaches Python (tests of Ctrl-C failed so in a fresh clone's suite)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def sport_corpus(tmp_path: Path, n_docs: int = 30, line: str = "sport story {i}"
                 ) -> tuple[Path, Path]:
    """``(docs.txt, v.tsv)`` in ``tmp_path``: ``n_docs`` lines ``line`` (``{i}`` the
    line's number) and a vocabulary of sport and music, for a ``label`` run."""
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(line.format(i=i) + "\n" for i in range(n_docs)))
    return docs, sport_vocab(tmp_path)


#: a line an earlier ``label`` run wrote (a file label did not write is not replaced)
EARLIER = '{"id": "old:1", "text": "earlier output", "labels": ["u:sport"], "scores": [0.9]}\n'


def sport_vocab(tmp_path: Path) -> Path:
    """``tmp_path / "v.tsv"``: a vocabulary of sport and music."""
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:sport>\tsport\n<u:music>\tmusic\n")
    return vocab


def answer_sport(body=None) -> str:
    """A :class:`~tagsmith.testing.llm_server.LocalChatServer` responder whose every
    answer is "sport" at 0.9."""
    import json

    return json.dumps({"labels": [{"label": "sport", "confidence": 0.9}]})


def down_after(n_answers: int, reply=None):
    """A :class:`~tagsmith.testing.llm_server.LocalChatServer` responder that answers
    the first ``n_answers`` requests, then is down (503) for good: ``reply(k)`` answers
    the k-th request (from 1); by default every one is "sport" at 0.9."""
    from tagsmith.testing.llm_server import Reply

    count = {"n": 0}

    def responder(body):
        count["n"] += 1
        if count["n"] > n_answers:
            return Reply("down", status=503)
        if reply is not None:
            return reply(count["n"])
        return answer_sport(body)
    return responder


def taxonomy_table(*labels: tuple[str, str], rating: int = 7) -> str:
    """A taxonomy step's answer: a table of ``(name, description)`` labels rated
    ``rating``."""
    import json

    return json.dumps({"rating": rating, "labels": [
        {"name": name, "description": description} for name, description in labels]})


@contextmanager
def stats_below(monkeypatch, folder: Path):
    """The paths below ``folder`` that os.stat is asked about while the block runs (a
    list, filled as they come), to bound the file system's questions a document."""
    calls: list[str] = []
    real_stat = os.stat

    def counting_stat(path, *args, **kwargs):
        if str(folder) in os.fsdecode(path):
            calls.append(os.fsdecode(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    try:
        yield calls
    finally:
        monkeypatch.setattr(os, "stat", real_stat)


def refuse_stat_below(monkeypatch, locked: Path) -> None:
    """os.stat and os.lstat refusing every path below ``locked`` as a folder without
    search permission does (root, which runs the tests in CI too, passes mode 000)."""
    import errno

    def refusing(real):
        def stat(path, *args, **kwargs):
            if not isinstance(path, int) \
                    and Path(os.path.abspath(path)).is_relative_to(locked) \
                    and Path(os.path.abspath(path)) != locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path, *args, **kwargs)
        return stat

    monkeypatch.setattr(os, "stat", refusing(os.stat))
    monkeypatch.setattr(os, "lstat", refusing(os.lstat))


def accept_every_row(rows: list[dict], review: Path) -> Path:
    """``review``: the audit's review ``rows`` written back as a review CSV, every row's
    decision ``accept`` (the review accepted as the audit wrote it)."""
    import csv

    with open(review, "w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        for row in rows:
            out.writerow({**row, "decision": "accept"})
    return review


def apply_review(corpus: Path, review: Path, vocab: Path, fixed: Path) -> dict[str, str]:
    """``apply-review corpus review -o fixed --vocab vocab`` run (asserted to succeed);
    the fixed CSV corpus's ``labels`` cell by document ``id``."""
    import csv

    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    tagsmith_cli._register_commands()
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "apply-review", str(corpus),
                                                   str(review), "-o", str(fixed),
                                                   "--vocab", str(vocab)])
    assert result.exit_code == 0, result.output
    with open(fixed, newline="", encoding="utf-8") as f:
        return {r["id"]: r["labels"] for r in csv.DictReader(f)}


def through_npz(cls, meta: dict, arrays: dict):
    """``cls.from_state`` of a model's ``to_state`` ``(meta, arrays)``, the arrays
    written to an ``.npz`` and read back without pickle, as a bundle stores them."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as archive:
        return cls.from_state(meta, {key: archive[key] for key in archive.files})


def run_quiet(*args, code: int = 0) -> str:
    """``tagsmith -q ARGS`` in process; its output, after checking its exit ``code``."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def log_every_progress_line(monkeypatch, caplog):
    """Progress bars logged as lines (no terminal), every update 60 s after the last, so
    each one logs; tagsmith's INFO records captured."""
    import logging

    import tagsmith.progress as progress

    class SlowClock:
        now = 0.0

        def monotonic(self):
            self.now += 60.0
            return self.now

    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.setattr(progress, "time", SlowClock())
    caplog.set_level(logging.INFO, logger="tagsmith")


# a stand-in sentence encoder for the zero-shot cache's tests
ENCODER_WORDS = ("football", "concert", "weather", "election", "cooking", "travel",
                 "markets", "science")


class WordEncoder:
    """A deterministic stand-in encoder (one dimension per word of :data:`ENCODER_WORDS`, a
    little of every one) that records every text it embeds."""

    name, dim = "words", len(ENCODER_WORDS)

    def __init__(self):
        self.embedded: list[str] = []

    def encode(self, texts, *, show_progress=False):
        import numpy as np

        self.embedded.extend(texts)
        rows = np.array([[word in text.lower() for word in ENCODER_WORDS] for text in texts],
                        np.float32).reshape(len(texts), self.dim) + 0.05
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)
