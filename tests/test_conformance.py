"""Every registered model family passes the shared conformance suite."""

import pytest

from tagsmith.models import available_models, make_model
from tagsmith.testing.conformance import CHECKS

# small, fast settings per family; a new family adds a line here
FAST_PARAMS = {"linear": {"C": 4.0, "n_jobs": 1}}


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("name", available_models())
def test_model_conformance(name, check):
    check(lambda: make_model(name, **FAST_PARAMS.get(name, {})))
