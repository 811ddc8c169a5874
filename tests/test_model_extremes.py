"""Model inputs at the edges: feature values near float32's limits, iteration counts
beyond int64, CSR matrices with int64 index arrays, NaN targets. Each is trained on or
refused by name, never lost silently or left to crash inside numba."""

import numpy as np
import pytest

from tagsmith.exceptions import InvalidParameterError
from tagsmith.models import make_model
from tagsmith.testing.conformance import make_problem


def _problem():
    X, Y = make_problem(n_docs=120, n_features=40, n_labels=6, seed=2)
    X.data = np.random.default_rng(2).uniform(0.1, 3.0, X.nnz).astype(np.float32)
    return X, Y


def _scaled(X, scale: float):
    scaled = X.copy()
    scaled.data = (scaled.data.astype(np.float64) * scale).astype(np.float32)
    return scaled


# -- targets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["linear", "knn", "tree"])
def test_a_nan_target_is_called_nan(family):
    """A NaN target was reported as 'range [nan, nan]'."""
    X, Y = _problem()
    soft = Y.astype(np.float64).toarray()
    soft[4, 1] = np.nan
    with pytest.raises(InvalidParameterError, match="1 NaN values") as caught:
        make_model(family, n_jobs=1).fit(X, soft)
    assert caught.value.name == "Y"
