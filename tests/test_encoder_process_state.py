"""What loading a sentence encoder does to the process: environment variables, Hugging
Face switches, progress bars and log levels, during the load and after it.

These need transformers and huggingface_hub but not sentence-transformers nor the
packaged model: the load that fails for want of them must leave the process as it was
too. The real load is checked in tests/test_zeroshot.py."""

import importlib
import io
import logging
import os

import pytest

pytest.importorskip("transformers")
pytest.importorskip("huggingface_hub")

import huggingface_hub  # noqa: E402
from huggingface_hub import constants as hub_constants  # noqa: E402
from huggingface_hub.errors import OfflineModeIsEnabled  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from tagsmith.exceptions import MissingDependencyError  # noqa: E402
from tagsmith.zeroshot.encoder import (  # noqa: E402
    OFFLINE_ENVIRONMENT,
    SentenceEncoder,
    hub_offline,
    transformers_quiet,
)

# the module, where the bars' switches are (huggingface_hub.utils.tqdm is a class)
hub_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")


def _process_state():
    return ({name: os.environ.get(name) for name in
             (*OFFLINE_ENVIRONMENT, "HF_HUB_DISABLE_PROGRESS_BARS", "TOKENIZERS_PARALLELISM")},
            hub_constants.HF_HUB_OFFLINE, dict(hub_tqdm.progress_bar_states),
            hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity(),
            logging.getLogger("sentence_transformers").level)


@pytest.fixture
def online(monkeypatch):
    """A process that has not asked for offline mode (and gets its bars back)."""
    for name in OFFLINE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()
    yield
    if not bars:
        hf_logging.disable_progress_bar()


def test_an_encoder_load_leaves_the_process_as_it_was_also_when_it_fails(online, tmp_path):
    # HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and HF_HUB_DISABLE_PROGRESS_BARS were set for
    # good before sentence-transformers was imported: a program that used tagsmith's
    # zero-shot, then transformers itself, found them set (and failed for want of
    # sentence-transformers, the variables were set all the same)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    before = _process_state()
    # without sentence-transformers its name; with it, transformers' own refusal of an
    # empty config: either way after the switches were set
    with pytest.raises((MissingDependencyError, ValueError, OSError)):
        SentenceEncoder(model)
    assert _process_state() == before


def test_hub_offline_is_offline_within_the_block_alone(online, monkeypatch):
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")  # the caller's own value stays
    before = _process_state()
    with hub_offline():
        with hub_offline():  # a block within another changes nothing more
            assert hub_constants.HF_HUB_OFFLINE is True
        assert hub_constants.HF_HUB_OFFLINE is True  # the outer block still is
        # refused before any connection, also where huggingface_hub was imported before
        # (online, as the fixture left it): the variable alone did nothing there
        with pytest.raises(OfflineModeIsEnabled):
            huggingface_hub.model_info("tagsmith/no-such-model")
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        assert os.environ["TRANSFORMERS_OFFLINE"] == "0"
        assert not hf_logging.is_progress_bar_enabled()
        assert hub_tqdm.are_progress_bars_disabled()
    assert _process_state() == before
    assert "HF_HUB_OFFLINE" not in os.environ
    assert hf_logging.is_progress_bar_enabled()


def test_hub_offline_puts_everything_back_when_the_block_fails(online):
    before = _process_state()
    with pytest.raises(RuntimeError), hub_offline():
        raise RuntimeError("the load failed")
    assert _process_state() == before


@pytest.mark.parametrize("root_level, shown", [(logging.INFO, False), (logging.DEBUG, True)])
def test_transformers_debug_messages_show_at_debug_alone(caplog, root_level, shown):
    # -vv (root logger at DEBUG) is the libraries' debug messages too, but transformers
    # logs through a handler of its own, at WARNING unless told: its debug messages did
    # not show with -vv; without -vv errors alone, and the level as it was afterwards
    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    try:
        caplog.set_level(root_level)
        probe = hf_logging.get_logger("transformers.tagsmith_probe")
        with transformers_quiet():
            with transformers_quiet():  # a block within another changes nothing more
                assert (hf_logging.get_verbosity() == logging.DEBUG) == shown
            # what transformers' own handler is handed (it does not pass records on to
            # the root logger unless CI is set; the CLI's output is checked in
            # tests/test_zeroshot.py)
            assert probe.isEnabledFor(logging.DEBUG) == shown
            assert probe.isEnabledFor(logging.WARNING) == shown  # errors alone otherwise
            assert probe.isEnabledFor(logging.ERROR)
        assert hf_logging.get_verbosity() == logging.WARNING  # as it was, once done
    finally:
        hf_logging.set_verbosity(before)


@pytest.mark.parametrize("ci", [False, True])
@pytest.mark.parametrize("root_level, passed_on", [(logging.INFO, False),
                                                    (logging.DEBUG, True)])
def test_transformers_lines_go_through_the_root_handler_at_debug(caplog, root_level,
                                                                 passed_on, ci):
    # with -vv transformers' lines were written by its own handler ("[transformers]
    # message", no time nor level), unlike every other line on stderr: at DEBUG they pass
    # on to the root logger's handlers instead, and transformers' handler and its
    # propagation are as they were once the block ends. transformers sets its logger's
    # propagation from the CI environment variable when first used (on where CI=1 is
    # set, off elsewhere), so both configurations are set here rather than read from
    # the environment the tests run in
    library, root = logging.getLogger("transformers"), logging.getLogger()
    hf_logging.get_logger("transformers.tagsmith_probe")  # transformers' handler set up
    configured = library.propagate
    library.propagate = ci
    try:
        handlers = list(library.handlers)
        # (pytest adds its capturing handlers to a logger that does not pass records on)
        own = [handler for handler in handlers if handler not in root.handlers]
        assert own  # transformers' own handler, whatever the environment
        stream = io.StringIO()
        formatted = logging.StreamHandler(stream)
        formatted.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        root.addHandler(formatted)
        try:
            caplog.set_level(root_level)
            with transformers_quiet():
                with transformers_quiet():
                    logging.getLogger("transformers.tagsmith_probe").error("probe line")
                assert library.propagate == (passed_on or ci)
                assert any(handler in library.handlers for handler in own) == (not passed_on)
        finally:
            root.removeHandler(formatted)
        assert set(library.handlers) == set(handlers) and library.propagate == ci
        assert ("ERROR probe line" in stream.getvalue()) == (passed_on or ci)
    finally:
        library.propagate = configured
