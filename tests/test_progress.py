"""The progress log (stderr no terminal): its closing count only when the work ended."""

import logging
import re

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
    assert log_lines() == ["step: 1/2 docs (50%, about 1 min left)", "step: 2/2 docs (100%)"]


def test_log_lines_say_about_how_long_is_left(log_lines, monkeypatch):
    # off a terminal, a linear model at 17k labels logged "576/17,217 labels (3%)" 2.5
    # minutes in and nothing said it had an hour to go; the time left is now read from
    # the rate so far (each clock reading 60 s after the last: 60 s for 1 of 201 labels),
    # never on the closing count, nor for steps, which are not alike in size
    monkeypatch.setattr(progress, "time", _SlowClock())
    with progress.progress_bar(total=201, desc="training labels", unit="label") as bar:
        bar.update(1)
        bar.set_postfix_str("3 of them with no positive document")
        bar.update(99)
        bar.update(101)
    with progress.progress_bar(total=7, desc="issues", unit="step") as bar:
        bar.update(1)
    assert log_lines() == [
        "training labels: 1/201 labels (1%, about 3.3 h left)",
        # 60 s for the 99 labels since the line before, 101 to go
        "training labels: 100/201 labels (50%, about 1 min left) 3 of them with no "
        "positive document",
        "training labels: 201/201 labels (100%) 3 of them with no positive document",
        "issues: 1/7 steps (14%)"]


def test_a_long_time_left_is_said_in_days(log_lines, monkeypatch):
    # 48 h or more read "about 2777.8 h left": no days, no thousands separator
    monkeypatch.setattr(progress, "time", _SlowClock())
    with progress.progress_bar(total=166_609, desc="LLM labeling", unit="call") as bar:
        bar.update(1)  # 60 s for 1 call, 166,608 to go: 9,996,480 s
    assert log_lines()[0] == "LLM labeling: 1/166,609 calls (1%, about 115.7 days left)"

class _SetClock:
    """``time.monotonic`` for the progress log: what the test sets ``now`` to."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def test_the_time_left_is_read_from_the_rate_since_the_line_before(log_lines, monkeypatch):
    # a resumed LLM run replays its cached calls in a moment, then calls one every 10 s:
    # at the rate since the start, its lines said "about 2 s left" for 16 minutes of work
    clock = _SetClock()
    monkeypatch.setattr(progress, "time", clock)
    with progress.progress_bar(total=200, desc="LLM labeling", unit="call") as bar:
        clock.now = 0.5
        bar.update(100)  # the cached ones
        for step in range(1, 3):
            clock.now = 0.5 + 10 * step
            bar.update(1)
    # the first line cannot tell the cached ones apart; the next reads the 10 s per call
    assert log_lines() == ["LLM labeling: 101/200 calls (50%, about 10 s left)",
                           "LLM labeling: 102/200 calls (51%, about 16 min left)"]


def test_featurizing_logs_one_full_count_per_block(log_lines, monkeypatch):
    from tagsmith.features.tfidf import TfidfFeaturizer

    monkeypatch.setattr(progress, "time", _SlowClock())
    featurizer = TfidfFeaturizer(min_df=1, char_ngrams=(2, 3))
    featurizer.show_progress = True
    featurizer.fit_transform([f"text number {i}" for i in range(2500)])
    full = [line for line in log_lines() if "(100%)" in line]
    assert full == ["features (word n-grams): 2,500/2,500 docs (100%)",
                    "features (character n-grams): 2,500/2,500 docs (100%)"]


def test_the_percentage_says_100_only_when_all_is_done(log_lines, monkeypatch):
    # rounded to nearest, calibrate on yso-finna-en's dev logged "predicting:
    # 32768/32803 docs (100%)" and then, 22 ms later, "32803/32803 docs (100%)"
    monkeypatch.setattr(progress, "time", _SlowClock())
    with progress.progress_bar(total=32803, desc="predicting", unit="doc") as bar:
        bar.update(32768)
        bar.update(35)
    assert log_lines() == ["predicting: 32,768/32,803 docs (99%, about 1 s left)",
                           "predicting: 32,803/32,803 docs (100%)"]


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


@pytest.mark.parametrize("term", ["dumb", "xterm"])
def test_a_dumb_terminal_gets_the_log_lines(log_lines, monkeypatch, term):
    # TERM=dumb (an editor's shell buffer) cannot move the cursor back: tqdm's bar,
    # redrawn with a carriage return, was drawn there all the same
    import os

    monkeypatch.setenv("TERM", term)
    leader, stderr = _pty_stderr(monkeypatch, 120)
    try:
        assert stderr.isatty()
        with progress.progress_bar(total=2, desc="step", unit="doc") as bar:
            is_log = isinstance(bar, progress._LogProgress)
            bar.update(2)
        assert is_log == (term == "dumb")
        assert log_lines() == (["step: 2/2 docs (100%)"] if term == "dumb" else [])
    finally:
        stderr.close()
        os.close(leader)


@pytest.mark.parametrize("seconds_left, shown", [(10**7, "<115.7 days,"),
                                                   (48 * 3600, "<2.0 days,"),
                                                   (47 * 3600, "<47:00:00,"),
                                                   (90, "<01:30,")])
def test_a_bars_time_left_past_48_hours_reads_in_days(monkeypatch, seconds_left, shown):
    # tqdm's clock counted the hours on: a long LLM run's bar said "<2777:46:40", where
    # its log line said "about 115.7 days left"
    import os

    leader, stderr = _pty_stderr(monkeypatch, 120)
    try:
        with progress.progress_bar(total=10 + seconds_left, desc="LLM labeling",
                                   unit="call") as bar:
            assert not isinstance(bar, progress._LogProgress)
            line = bar.format_meter(**{**bar.format_dict, "n": 10, "elapsed": 10.0,
                                       "rate": 1.0})
        assert shown in line, line
        assert line.startswith("LLM labeling:") and "1.00call/s" in line, line
    finally:
        stderr.close()
        os.close(leader)


_BARS_AND_A_LOG_LINE = """
import logging, sys
from tagsmith.progress import progress_bar
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s",
                    stream=sys.stderr)
with progress_bar(total=5, desc="outer", unit="step") as outer:
    with progress_bar(total=10, desc="inner", unit="doc") as inner:
        inner.update(4)
        logging.getLogger("tagsmith").info("a log line while two bars are drawn")
        inner.update(6)
    outer.update(1)
    logging.getLogger("tagsmith").warning("a warning under the outer bar")
    outer.update(4)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pty")
def test_a_log_line_under_progress_bars_starts_a_line_of_its_own(tmp_path):
    """On a terminal, audit's log lines ('audit: features done (2.1 s)') were written
    where the bars had left the cursor, at the end of the outer bar's line: the line
    showed '... 1/5 [00:02<00:08, 2.09s/step]2' and the next '026-12-05 ... INFO ...',
    the bars' remains beside it."""
    shown = _on_a_terminal(_BARS_AND_A_LOG_LINE)
    for said in ("INFO a log line while two bars are drawn",
                 "WARNING a warning under the outer bar"):
        at = shown.index(said)
        # the bars cleared and the cursor at the start of a line: nothing but cursor
        # movements written since the last carriage return or line feed
        start = max(shown.rfind("\r", 0, at), shown.rfind("\n", 0, at)) + 1
        assert not re.sub(r"\x1b\[\d*[A-Za-z]", "", shown[start:at]), \
            repr(shown[max(0, at - 200):at + 40])
        assert said + "\r\n" in shown or said + "\n" in shown, repr(shown)


def _on_a_terminal(script: str) -> str:
    """What Python running ``script`` writes on its stderr, a terminal of 100 columns."""
    import fcntl
    import os
    import struct
    import subprocess
    import sys
    import termios
    from pathlib import Path

    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    src = Path(progress.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(src), "TERM": "xterm"}  # bars drawn
    try:
        child = subprocess.Popen([sys.executable, "-c", script],
                                 stderr=follower, stdout=subprocess.DEVNULL, env=env)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert child.wait(timeout=60) == 0
    finally:
        os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


_A_BAR_LEFT_OPEN = """
from tagsmith.cli import _say_closing
from tagsmith.progress import progress_bar

def documents():
    with progress_bar(total=10, desc="features", unit="doc") as bar:
        for i in range(10):
            bar.update(1)
            yield i

left = documents()
next(left), next(left)  # stopped there: the generator, and its bar, stay open
_say_closing("terminated")
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pty")
def test_the_closing_line_starts_a_line_of_its_own_past_a_bar_left_open():
    """train stopped by kill while featurizing said 'terminated' at the end of the
    features bar's line ('... 10000/43410 [00:01<00:03, 8484.22doc/s]terminated'): the
    bar, inside a generator the stop left suspended, was cleared only after it."""
    shown = _on_a_terminal(_A_BAR_LEFT_OPEN)
    at = shown.index("terminated")
    start = max(shown.rfind("\r", 0, at), shown.rfind("\n", 0, at)) + 1
    assert not re.sub(r"\x1b\[\d*[A-Za-z]", "", shown[start:at]), \
        repr(shown[max(0, at - 200):at + 40])


@pytest.fixture
def stderr_handler(monkeypatch):
    """Bars drawn (stderr a terminal, pytest's capture behind it) and the root logger with
    one handler on stderr, as the CLI's."""
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(progress, "_zero_width_terminal", lambda: False)
    monkeypatch.setattr(progress, "_dumb_terminal", lambda: False)  # whatever TERM says
    handler = logging.StreamHandler(progress.sys.stderr)
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    return handler


def test_an_outer_bar_closed_first_leaves_the_log_lines_above_the_inner_one(stderr_handler):
    """The outermost bar put the handler's stream back when it closed, also while an
    inner bar (a generator's, closed later) was still drawn."""
    outer = progress.progress_bar(total=2, desc="outer")
    inner = progress.progress_bar(total=2, desc="inner")
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)
    assert isinstance(stderr_handler.stream, progress._AboveBars)
    inner.__exit__(None, None, None)
    assert stderr_handler.stream is progress.sys.stderr


def test_a_bar_left_open_in_a_generator_kept_alive_is_no_open_bar_after_the_command(
        stderr_handler):
    """A bar in a generator left suspended, and never collected (a host program holding
    the exception of an interrupt, whose traceback holds the generator), counted as open
    for good: the next command's bars did not put its log lines above them."""
    def documents():
        with progress.progress_bar(total=10, desc="features") as bar:
            bar.update(1)
            yield 1

    left = documents()
    next(left)  # stopped there, and kept
    progress.close_bars()  # the command's closing (its error, 'interrupted')
    assert stderr_handler.stream is progress.sys.stderr
    with progress.progress_bar(total=2, desc="next command"):
        assert isinstance(stderr_handler.stream, progress._AboveBars)
    assert stderr_handler.stream is progress.sys.stderr
    left.close()
    assert stderr_handler.stream is progress.sys.stderr


def test_main_closes_the_bars_its_command_left_open(stderr_handler):
    """main() ends with no bar of its command open (one whose command ended with no
    closing line too), and leaves a host's own bars open."""
    with progress.progress_bar(total=2, desc="the host's"):
        before = progress.open_bars()
        left = progress.progress_bar(total=2, desc="the command's")
        left.__enter__()
        progress.close_bars(keep=before)  # what main() does at its end
        assert progress.open_bars() == before
        assert isinstance(stderr_handler.stream, progress._AboveBars)
    assert stderr_handler.stream is progress.sys.stderr
    assert not progress.open_bars()


def test_counts_are_written_with_thousands_separators(log_lines, monkeypatch):
    # "LLM labeling: 1200/5000 calls (24%)", where every other message writes 1,200
    monkeypatch.setattr(progress, "time", _SlowClock())
    with progress.progress_bar(total=5000, desc="LLM labeling", unit="call") as bar:
        bar.update(1200)
        bar.update(3800)
    with progress.progress_bar(total=None, desc="suggest", unit="doc") as bar:
        bar.update(12345)
    assert log_lines() == ["LLM labeling: 1,200/5,000 calls (24%, about 3 min left)",
                           "LLM labeling: 5,000/5,000 calls (100%)", "suggest: 12,345 docs"]


def test_the_llm_bars_count_their_calls_with_thousands_separators(log_lines):
    # the postfix of the LLM labeling line read "answered 1001 cached 0"
    from tagsmith.data.labelspace import Label, LabelSpace
    from tagsmith.labeling.client import ScriptedLLM
    from tagsmith.labeling.labeler import LabelingOptions, label_documents

    space = LabelSpace([Label("u:sport", {"en": "sport"})])
    label_documents([f"match {i}" for i in range(1001)], space,
                    ScriptedLLM(lambda r: '{"labels": []}'),
                    LabelingOptions(show_progress=True, n_workers=1))
    assert log_lines()[-1] == "LLM labeling: 1,001/1,001 calls (100%) answered 1,001 cached 0"


class _PostfixBar:
    """A bar that keeps the postfix it was given (what the taxonomy's steps show)."""

    def set_postfix_str(self, text, refresh=False):
        self.postfix = text

    def update(self, n=1):
        pass


def test_the_taxonomy_bar_counts_its_calls_with_thousands_separators():
    from tagsmith.labeling.client import ScriptedLLM, Usage
    from tagsmith.labeling.taxonomy import _step_done

    bar = _PostfixBar()
    _step_done(bar, ScriptedLLM(str, usage=Usage(n_requests=1200, n_cached=34000)))
    assert bar.postfix == "calls 1,200 cached 34,000"


def test_the_taxonomy_bar_says_which_tokens_one_price_alone_covers():
    # --price-completion alone: the table steps' "cost 1.0000" read as the whole cost
    from tagsmith.labeling.client import ScriptedLLM, Usage
    from tagsmith.labeling.taxonomy import _step_done

    bar = _PostfixBar()
    usage = Usage(n_requests=3, price_completion=2.0, prompt_tokens=900,
                  completion_tokens=500_000)
    _step_done(bar, ScriptedLLM(str, usage=usage))
    assert bar.postfix == "calls 3 cached 0 cost 1.0000 (completion only)"
    both = Usage(n_requests=3, price_prompt=0.0, price_completion=2.0, prompt_tokens=900,
                 completion_tokens=500_000)
    _step_done(bar, ScriptedLLM(str, usage=both))
    assert bar.postfix == "calls 3 cached 0 cost 1.0000"


@pytest.mark.parametrize("total, elapsed, shown", [(20, 50 * 3600, "10/20 [2.1 days<"),
                                                   (None, 50 * 3600, "10call [2.1 days, "),
                                                   (20, 47 * 3600, "10/20 [47:00:00<")])
def test_a_bars_elapsed_time_past_48_hours_reads_in_days(monkeypatch, total, elapsed, shown):
    # the time left read in days past 48 h, and the time spent still counted the hours
    # on ("[50:00:00<...", tqdm's clock), with or without a total
    import os

    leader, stderr = _pty_stderr(monkeypatch, 120)
    try:
        with progress.progress_bar(total=total, desc="LLM labeling", unit="call") as bar:
            assert not isinstance(bar, progress._LogProgress)
            line = bar.format_meter(**{**bar.format_dict, "n": 10,
                                       "elapsed": float(elapsed)})
        assert shown in line, line
        assert line.startswith("LLM labeling:"), line
    finally:
        stderr.close()
        os.close(leader)


#: a Jupyter kernel as tagsmith (and tqdm.auto) tell one: ipykernel's ZMQ shell loaded
#: and IPython's get_ipython() returning it (no IPython, ipykernel or ipywidgets here)
_A_KERNEL = """
import sys, types

class ZMQInteractiveShell:
    pass

zmqshell = types.ModuleType("ipykernel.zmqshell")
zmqshell.ZMQInteractiveShell = ZMQInteractiveShell
ipython = types.ModuleType("IPython")
shell = ZMQInteractiveShell()
ipython.get_ipython = lambda: shell
sys.modules.update({"ipykernel": types.ModuleType("ipykernel"),
                    "ipykernel.zmqshell": zmqshell, "IPython": ipython})
"""

#: three bars one after the other, a fourth inside the third, then one silenced
_BARS_IN_A_NOTEBOOK = """
import tagsmith.progress as progress

for name in ("first", "second"):
    with progress.progress_bar(total=3, desc=name, unit="doc") as bar:
        bar.update(3)
with progress.progress_bar(total=2, desc="outer", unit="step") as outer:
    with progress.progress_bar(total=5, desc="inner", unit="doc") as inner:
        print(type(inner).__name__)
        for _ in range(5):
            inner.update(1)
    outer.update(2)
with progress.silenced():
    with progress.progress_bar(total=4, desc="silenced", unit="doc") as bar:
        bar.update(4)
"""


def _run_off_a_terminal(script: str) -> tuple[str, str]:
    """What Python running ``script`` writes on stdout and stderr, both pipes."""
    import subprocess
    import sys
    from pathlib import Path

    src = Path(progress.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(src)},
                          timeout=120)
    stdout, stderr = (out.decode("utf-8", "replace") for out in (done.stdout, done.stderr))
    assert done.returncode == 0, stderr
    return stdout, stderr


@pytest.mark.parametrize("kernel", [True, False])
def test_a_jupyter_kernel_gets_progress_bars(kernel):
    """A notebook's stderr is no terminal: its bars went to the INFO log lines, silent
    unless logging was configured (README's train_classifier example: 2 minutes without
    a word). A kernel gets tqdm.auto's bar, the text bar here (no ipywidgets), which
    warns once that ipywidgets is missing, not per bar; a bar inside a text bar gets the
    log lines (drawn below it, each redraw was one more line in a notebook's output); a
    script off a terminal keeps the log lines."""
    stdout, stderr = _run_off_a_terminal((_A_KERNEL if kernel else "")
                                         + _BARS_IN_A_NOTEBOOK)
    if kernel:
        for name in ("first", "second", "outer"):
            # drawn, and cleared when done (leave=False), as on a terminal
            assert re.search("\r" + name + r": +0%\| +\| 0/\d \[", stderr), repr(stderr)
        assert stderr.count("TqdmWarning") == 1, stderr
        assert stdout == "_LogProgress\n"
        assert "inner" not in stderr and "\x1b[A" not in stderr, repr(stderr)
    else:
        assert stdout == "_LogProgress\n" and stderr == ""
    assert "silenced" not in stderr


class _Updates:
    """A bar that records each update it is given."""

    def __init__(self):
        self.updates = []

    def update(self, n):
        self.updates.append(n)


def test_counted_counts_every_item_a_step_at_a_time():
    """progress.counted (apply-review's and derive_label_space's bars) counts each item
    once, ``step`` at a time and the rest where the items end; its doctest's bar is
    disabled and would pass if no item were counted."""
    bar = _Updates()
    assert list(progress.counted(range(2500), bar, step=1024)) == list(range(2500))
    assert bar.updates == [1024, 1024, 452] and sum(bar.updates) == 2500
    bar = _Updates()
    assert list(progress.counted([], bar)) == [] and sum(bar.updates) == 0
