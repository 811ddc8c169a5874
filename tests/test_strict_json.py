"""Bundles and JSON outputs are strict JSON: ``-p C=Infinity`` (no regularisation) was
written as the bare token ``Infinity``, which strict parsers (JavaScript's, jq, Go's)
refuse, and a model saved that way loads with the same parameters again."""

import hashlib
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.data.vocab import load_vocabulary
from tagsmith.models import make_model
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import TrainOptions, train_classifier

from conftest import FAST_FEATURES

tagsmith_cli._register_commands()
INF = float("inf")


def _refuse(token):
    raise ValueError(f"not strict JSON: bare {token}")


def strict_loads(text: str):
    """``json.loads`` as a strict parser reads: no NaN, Infinity or -Infinity tokens."""
    return json.loads(text, parse_constant=_refuse)


@pytest.fixture(scope="module")
def data(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    return space, read_labelled(goemotions_small["train"], space)


def _train(data, model: str, model_params: dict, **options) -> TextClassifier:
    space, train = data
    return train_classifier(train.texts[:1500], train.Y[:1500], space, options=TrainOptions(
        model=model, featurizer_params=FAST_FEATURES, model_params=model_params,
        dev_fraction=0.2, **options))


def _but_progress(params: dict) -> dict:
    return {key: value for key, value in params.items() if key != "show_progress"}


@pytest.mark.parametrize("model, params", [
    ("linear", {"C": INF, "tol": INF}),
    ("tree", {"C": INF}),
    ("ensemble", {"members": [["linear", {"C": INF}], ["knn", {"n_neighbors": 5}]]}),
])
def test_infinite_parameters_are_saved_as_strict_json_and_load_as_floats(
        data, tmp_path, model, params):
    clf = _train(data, model, params, crossfit_folds=2)
    path = clf.save(tmp_path / "bundle")
    for file in sorted(path.glob("*.json")):
        strict_loads(file.read_text(encoding="utf-8"))  # every file, not only model.json
    recorded = strict_loads((path / "manifest.json").read_text(encoding="utf-8"))
    assert "Infinity" in json.dumps(recorded["model"]["params"])

    loaded = TextClassifier.load(path)
    # show_progress, a display setting, is stored at the family's default (9ca4fa4):
    # the ensemble trained here says False, its default (and the loaded one) None
    assert _but_progress(loaded.model.get_params()) == _but_progress(clf.model.get_params())
    assert loaded.crossfit.params == clf.crossfit.params
    if model == "ensemble":
        assert loaded.model.get_params()["members"][0][1]["C"] == INF
    else:
        assert isinstance(loaded.model.C, float) and math.isinf(loaded.model.C)
    texts = data[1].texts[1500:1700]
    a, b = clf.predict_topk(texts, 5), loaded.predict_topk(texts, 5)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)
    # the parameters train again (as audit --scores crossfit does with a bundle's): a
    # string "Infinity" was refused there ("parameter 'C' must be a number > 0")
    X = loaded.featurizer.transform(texts)
    make_model(model, **{**loaded.model.get_params(), "show_progress": False}).fit(
        X, data[1].Y[1500:1700])
    # and a loaded bundle saves the same model file again
    again = loaded.save(tmp_path / "again")
    assert (again / "model.json").read_bytes() == (path / "model.json").read_bytes()


def _as_older_tagsmith_wrote_it(path):
    """The bundle at ``path`` with its infinite parameters as bare ``Infinity`` tokens,
    as tagsmith wrote them before bundles were strict JSON (checksums updated)."""
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    for name in ("model.json", "crossfit.json"):
        if (path / name).exists():
            text = (path / name).read_text(encoding="utf-8").replace('"Infinity"', "Infinity")
            (path / name).write_text(text, encoding="utf-8")
            manifest["files"][name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    manifest["model"]["params"]["C"] = INF
    (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return path


def test_a_bundle_an_older_tagsmith_wrote_with_infinity_still_loads_and_info_is_strict(
        data, tmp_path):
    clf = _train(data, "linear", {"C": INF})
    path = _as_older_tagsmith_wrote_it(clf.save(tmp_path / "bundle"))
    assert "Infinity" in (path / "model.json").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="bare Infinity"):
        strict_loads((path / "model.json").read_text(encoding="utf-8"))

    loaded = TextClassifier.load(path)
    # show_progress, a display setting, is stored at the family's default (9ca4fa4):
    # the ensemble trained here says False, its default (and the loaded one) None
    assert _but_progress(loaded.model.get_params()) == _but_progress(clf.model.get_params())
    # info shows the manifest, which holds the float: strict JSON on stdout too
    for flag in ([], ["--json"]):
        result = CliRunner().invoke(tagsmith_cli.cli, ["info", str(path), *flag])
        assert result.exit_code == 0, result.output
        assert strict_loads(result.output)["model"]["params"]["C"] == "Infinity"
    # saving it again writes strict JSON
    again = loaded.save(tmp_path / "again")
    strict_loads((again / "model.json").read_text(encoding="utf-8"))
    strict_loads((again / "manifest.json").read_text(encoding="utf-8"))
