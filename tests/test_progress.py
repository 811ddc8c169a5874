"""The progress log (stderr no terminal): its closing count only when the work ended."""

import logging

import pytest

import tagsmith.progress as progress
from tagsmith.exceptions import CorpusFormatError


@pytest.fixture
def log_lines(caplog, monkeypatch):
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: False, raising=False)
    caplog.set_level(logging.INFO, logger="tagsmith")
    return lambda: [r.getMessage() for r in caplog.records]


def test_the_closing_count_is_logged_when_the_work_ends(log_lines):
    with progress.progress_bar(total=None, desc="suggest", unit="doc") as bar:
        bar.update(3)
    assert log_lines() == ["suggest: 3 docs"]


@pytest.mark.parametrize("error", [CorpusFormatError("not JSON", path="in.jsonl", line=2),
                                   KeyboardInterrupt(), BrokenPipeError()])
def test_no_closing_count_when_the_work_fails(log_lines, error):
    # 'suggest: 0 docs' came before the error of a malformed record: it read as if
    # suggest had succeeded on no document
    with pytest.raises(type(error)):
        with progress.progress_bar(total=None, desc="suggest", unit="doc") as bar:
            raise error
    assert log_lines() == []
    assert isinstance(bar, progress._LogProgress)  # the log, not the bar of a terminal


class _SlowClock:
    """``time.monotonic`` for the progress log: every reading 60 s after the last."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 60.0
        return self.now


def test_one_closing_count_when_the_last_update_already_logged_it(log_lines, monkeypatch):
    # an update more than 10 s after the last line logs the count; closing right after
    # logged the same "100%" line again (an audit's character n-grams, twice, 1 ms apart)
    monkeypatch.setattr(progress, "time", _SlowClock())
    with progress.progress_bar(total=2, desc="step", unit="doc") as bar:
        bar.update(1)
        bar.update(1)
    assert log_lines() == ["step: 1/2 docs (50%)", "step: 2/2 docs (100%)"]


def test_featurizing_logs_one_full_count_per_block(log_lines, monkeypatch):
    from tagsmith.features.tfidf import TfidfFeaturizer

    monkeypatch.setattr(progress, "time", _SlowClock())
    featurizer = TfidfFeaturizer(min_df=1, char_ngrams=(2, 3))
    featurizer.show_progress = True
    featurizer.fit_transform([f"text number {i}" for i in range(2500)])
    full = [line for line in log_lines() if "(100%)" in line]
    assert full == ["features (word n-grams): 2500/2500 docs (100%)",
                    "features (character n-grams): 2500/2500 docs (100%)"]


def test_the_percentage_says_100_only_when_all_is_done(log_lines, monkeypatch):
    # rounded to nearest, calibrate on yso-finna-en's dev logged "predicting:
    # 32768/32803 docs (100%)" and then, 22 ms later, "32803/32803 docs (100%)"
    monkeypatch.setattr(progress, "time", _SlowClock())
    with progress.progress_bar(total=32803, desc="predicting", unit="doc") as bar:
        bar.update(32768)
        bar.update(35)
    assert log_lines() == ["predicting: 32768/32803 docs (99%)",
                           "predicting: 32803/32803 docs (100%)"]


def _pty_stderr(monkeypatch, columns: int):
    """A real terminal as progress's stderr, reporting ``columns`` columns."""
    import os
    import struct
    import types

    pty = pytest.importorskip("pty")
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 0 if not columns else 24,
                                                          columns, 0, 0))
    stderr = os.fdopen(follower, "w")
    monkeypatch.setattr(progress, "sys", types.SimpleNamespace(stderr=stderr))
    return leader, stderr


@pytest.mark.parametrize("columns", [0, 120])
def test_a_terminal_of_no_width_gets_the_log_lines(log_lines, monkeypatch, columns):
    # tqdm draws nothing on a terminal that reports 0 x 0 (script run without a
    # terminal, docker run -t): a yso-finna-en train under `script -qc` showed not one
    # progress bar in 4 minutes, and no log line either
    import os

    leader, stderr = _pty_stderr(monkeypatch, columns)
    try:
        assert stderr.isatty()
        with progress.progress_bar(total=2, desc="step", unit="doc") as bar:
            is_log = isinstance(bar, progress._LogProgress)
            bar.update(2)
        assert is_log == (columns == 0)
        assert log_lines() == (["step: 2/2 docs (100%)"] if columns == 0 else [])
    finally:
        stderr.close()
        os.close(leader)
