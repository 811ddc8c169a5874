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
