"""What an audit writes: strict JSON, and an output folder checked before the work."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.data.labelspace import LabelSpace
from tagsmith.pipeline.audit import AuditOptions, audit_corpus

WORDS = "rain sun cloud wind snow fog hail storm".split()


def strict_json(path):
    """``path`` parsed as strict JSON parsers do (no NaN or Infinity token)."""
    def refuse(token):
        raise ValueError(f"{path}: {token} is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture(scope="module")
def weather():
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, 6)) for _ in range(40)]
    Y = sp.csr_matrix(np.array([[i % 2 == 0, i % 2 == 1] for i in range(40)]))
    return texts, Y, LabelSpace.from_uris(["u:a", "u:b"])


def test_a_parameter_of_infinity_is_written_as_strict_json(weather, tmp_path):
    """``-p C=Infinity`` (no regularisation) is a parameter the linear model accepts;
    the report records it (options and scores), and report.json held the bare token
    ``Infinity``, which JavaScript's, jq's and Go's JSON parsers refuse."""
    texts, Y, space = weather
    options = AuditOptions(scores="crossfit", model="linear",
                           model_params={"C": float("inf"), "tol": np.float64("inf")})
    result = audit_corpus(texts, Y, space, options=options)
    result.write(tmp_path / "out", html=False)
    report = strict_json(tmp_path / "out" / "report.json")
    assert report["meta"]["options"]["model_params"] == {"C": "Infinity", "tol": "Infinity"}
    assert report["corpus"]["n_docs"] == 40  # the rest as before
