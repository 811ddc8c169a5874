"""The one matplotlib check (tagsmith._plotting) behind the audit's and calibration's:
each names its own extra and what needs the package."""

import sys

import pytest

from tagsmith.exceptions import MissingDependencyError


@pytest.mark.parametrize("module, call, message", [
    ("tagsmith.audit.report", lambda m: m.check_plotting(),
     "drawing the plots of the HTML audit report needs the package 'matplotlib': "
     "pip install 'tagsmith[report]'"),
    ("tagsmith.audit.report", lambda m: m.check_plotting("drawing X"),
     "drawing X needs the package 'matplotlib': pip install 'tagsmith[report]'"),
    ("tagsmith.calibration.reliability", lambda m: m.check_plotting(),
     "writing reliability diagrams needs the package 'matplotlib': "
     "pip install 'tagsmith[plot]'"),
])
def test_check_plotting_names_its_extra_and_feature(monkeypatch, module, call, message):
    import importlib

    checked = importlib.import_module(module)
    call(checked)  # matplotlib installed: nothing raised
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError) as caught:
        call(checked)
    assert str(caught.value) == message and caught.value.extra in message
