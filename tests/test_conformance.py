"""Every registered model family passes the shared conformance suite."""

import pytest

from tagsmith.models import available_models, make_model
from tagsmith.testing.conformance import CHECKS

# every registered family at its defaults (single-threaded), plus notable variants
CONFIGS = {name: (name, {"n_jobs": 1}) for name in available_models()}
CONFIGS["linear-logistic"] = ("linear", {"n_jobs": 1, "loss": "logistic", "C": 4.0})
CONFIGS["knn-exact"] = ("knn", {"n_jobs": 1, "max_posting": None, "n_neighbors": 10})
# most features are "frequent" here: exercises the skip-then-complete search
CONFIGS["knn-skip-pruned"] = ("knn", {"n_jobs": 1, "max_posting": 5, "max_features_per_doc": 4})
# a real hierarchy on the suite's small label spaces, with matcher-aware negatives
CONFIGS["tree-deep"] = ("tree", {"n_jobs": 1, "branching": 2, "leaf_size": 2,
                                 "negative_beam": 2, "n_trees": 2})
CONFIGS["ensemble-weighted"] = ("ensemble", {"n_jobs": 1, "weights": [1.0, 3.0], "k_member": 2,
                                             "members": [["linear", {}], ["knn", {}]]})
# tuned weights: documents of weight 0 are not there for the tuning either
CONFIGS["ensemble-auto"] = ("ensemble", {"n_jobs": 1, "weights": "auto", "tune_fraction": 0.3,
                                         "members": [["linear", {}], ["knn", {}]]})


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_model_conformance(config, check):
    name, params = CONFIGS[config]
    check(lambda: make_model(name, **params))


def test_the_state_round_trip_check_wants_the_same_bits():
    """A model that loads its state a last bit off (here the intercept, one float32 step)
    passed the round-trip check, which compared scores to 1e-5; a bundle must answer
    exactly as the model it was saved from."""
    import numpy as np

    from tagsmith.models.linear import LinearOVR
    from tagsmith.testing.conformance import check_state_roundtrip

    class Drifting(LinearOVR):
        @classmethod
        def from_state(cls, meta, arrays):
            model = super().from_state(meta, arrays)
            model.intercept_ = np.nextafter(model.intercept_, np.float32(np.inf))
            return model

    check_state_roundtrip(lambda: LinearOVR(n_jobs=1))
    with pytest.raises(AssertionError, match="after to_state/from_state"):
        check_state_roundtrip(lambda: Drifting(n_jobs=1))


def test_the_state_round_trip_check_stores_the_state_as_a_bundle_does():
    """The check serialised the state with plain json: an infinite number in it came
    back a float, where a bundle's strict JSON gives back the string "-Infinity" (a
    family reading it as a number passed, then failed to load from its bundles); and a
    numpy scalar, which a bundle stores, failed the check."""
    import math

    import numpy as np

    from tagsmith.models.linear import LinearOVR
    from tagsmith.testing.conformance import check_state_roundtrip

    class Floored(LinearOVR):  # reads its non-finite floor back without number_from_json
        def to_state(self):
            meta, arrays = super().to_state()
            return {**meta, "floor": -math.inf}, arrays

        @classmethod
        def from_state(cls, meta, arrays):
            if not math.isinf(meta["floor"]):
                raise AssertionError("floor not read back")
            return super().from_state(meta, arrays)

    class NumpyMeta(LinearOVR):  # a numpy scalar in the state: a bundle writes it
        def to_state(self):
            meta, arrays = super().to_state()
            return {**meta, "scale": np.float32(0.5)}, arrays

    with pytest.raises(TypeError, match="must be real number, not str"):
        check_state_roundtrip(lambda: Floored(n_jobs=1))
    check_state_roundtrip(lambda: NumpyMeta(n_jobs=1))
