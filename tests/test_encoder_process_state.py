"""What loading a sentence encoder does to the process: log levels (and more), during
the load and after it. These need transformers but not sentence-transformers."""

import logging

import pytest

pytest.importorskip("transformers")

from transformers.utils import logging as hf_logging  # noqa: E402

from tagsmith.zeroshot.encoder import transformers_quiet  # noqa: E402


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
            probe.debug("probe debug message")
            probe.warning("probe warning message")
        said = [record.getMessage() for record in caplog.records
                if record.name == "transformers.tagsmith_probe"]
        assert said == (["probe debug message", "probe warning message"] if shown else [])
        assert hf_logging.get_verbosity() == logging.WARNING  # as it was, once done
    finally:
        hf_logging.set_verbosity(before)
