import json

import numpy as np
import pytest

from tagsmith.exceptions import BundleError
from tagsmith.store.bundle import Bundle, BundleWriter


def write(path, value=1.0):
    writer = BundleWriter(path)
    writer.manifest = {"note": "test"}
    writer.add_json("meta.json", {"a": value})
    writer.add_arrays("arrays.npz", {"x": np.arange(5, dtype=np.float32) * value})
    return writer.commit()


def test_round_trip_and_checksums(tmp_path):
    path = write(tmp_path / "b")
    bundle = Bundle(path)
    assert bundle.manifest["note"] == "test"
    assert bundle.manifest["format"] == "tagsmith-bundle"
    assert bundle.read_json("meta.json") == {"a": 1.0}
    np.testing.assert_array_equal(bundle.read_arrays("arrays.npz")["x"], np.arange(5))


def test_overwrite_is_atomic_and_leaves_no_temporaries(tmp_path):
    write(tmp_path / "b", 1.0)
    write(tmp_path / "b", 2.0)
    assert Bundle(tmp_path / "b").read_json("meta.json") == {"a": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_failed_write_keeps_the_old_bundle(tmp_path):
    write(tmp_path / "b", 1.0)
    writer = BundleWriter(tmp_path / "b")
    writer.add_json("meta.json", {"bad": object()})  # not JSON-serialisable
    with pytest.raises(TypeError):
        writer.commit()
    assert Bundle(tmp_path / "b").read_json("meta.json") == {"a": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_object_arrays_are_refused(tmp_path):
    writer = BundleWriter(tmp_path / "b")
    with pytest.raises(BundleError, match="pickle"):
        writer.add_arrays("x.npz", {"o": np.array([{"a": 1}], dtype=object)})


def test_damaged_and_incompatible_bundles_are_refused(tmp_path):
    path = write(tmp_path / "b")
    (path / "arrays.npz").write_bytes(b"garbage")
    with pytest.raises(BundleError, match="arrays.npz is damaged"):
        Bundle(path)
    path = write(tmp_path / "c")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="newer than this tagsmith"):
        Bundle(path)
    with pytest.raises(BundleError, match="no such model bundle"):
        Bundle(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        Bundle(tmp_path / "empty")


def test_refuses_to_overwrite_a_non_bundle_directory(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "precious.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not a model bundle"):
        write(tmp_path / "docs")
    assert (tmp_path / "docs" / "precious.txt").read_text() == "keep me"


def test_pickled_npz_is_not_loaded(tmp_path):
    path = write(tmp_path / "b")
    np.savez(path / "arrays.npz", x=np.array([{"evil": 1}], dtype=object))
    manifest = json.loads((path / "manifest.json").read_text())
    import hashlib

    manifest["files"]["arrays.npz"] = hashlib.sha256((path / "arrays.npz").read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="cannot be read safely"):
        Bundle(path).read_arrays("arrays.npz")


def _rehash(path, name):
    import hashlib

    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256((path / name).read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_truncated_npz_with_a_recomputed_checksum_is_a_bundle_error(tmp_path):
    path = write(tmp_path / "b")
    data = (path / "arrays.npz").read_bytes()
    (path / "arrays.npz").write_bytes(data[: len(data) // 2])
    _rehash(path, "arrays.npz")
    with pytest.raises(BundleError, match="arrays.npz is damaged") as info:
        Bundle(path).read_arrays("arrays.npz")
    assert str(path) in str(info.value)


def test_invalid_file_name_in_the_manifest_names_the_bundle(tmp_path):
    path = write(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="invalid bundle file name") as info:
        Bundle(path)
    assert str(info.value).startswith(f"{path}: ")


def test_thresholds_of_the_wrong_shape_are_refused_on_load(tmp_path):
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    space = LabelSpace.from_uris(["u:pos", "u:neg"])
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 10))
    clf = train_classifier(["good fine great", "bad awful poor"] * 10, Y, space,
                           options=TrainOptions(dev_fraction=0.0, featurizer_params={
                               "char_ngrams": None, "min_df": 1}))
    path = clf.save(tmp_path / "m")
    TextClassifier.load(path)
    arrays = dict(np.load(path / "thresholds.npz"))
    arrays["per_label"] = np.full(5, 0.5, np.float32)
    np.savez(path / "thresholds.npz", **arrays)
    _rehash(path, "thresholds.npz")
    with pytest.raises(BundleError, match=r"per_label has shape \(5,\), expected \(2,\)") as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_interrupt_between_the_renames_puts_the_old_bundle_back(tmp_path, monkeypatch, error):
    import tagsmith.store.bundle as bundle_module

    write(tmp_path / "b", 1.0)
    real_rename = bundle_module.os.rename
    calls = []

    def rename(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the new bundle into place
            raise error("interrupted")
        real_rename(src, dst)

    monkeypatch.setattr(bundle_module.os, "rename", rename)
    with pytest.raises(error):
        write(tmp_path / "b", 2.0)
    monkeypatch.setattr(bundle_module.os, "rename", real_rename)
    assert Bundle(tmp_path / "b").read_json("meta.json") == {"a": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_bundle_directory_mode_follows_the_umask_or_the_replaced_bundle(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = write(tmp_path / "b")
        assert stat.S_IMODE(path.stat().st_mode) == 0o755  # as mkdir would make it
        assert {stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()} == {0o644}
        os.umask(0o077)
        os.chmod(path, 0o750)
        write(tmp_path / "b", 2.0)  # in place, e.g. calibrate or shift --save
        assert stat.S_IMODE(path.stat().st_mode) == 0o750
        assert {stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()} == {0o640}
    finally:
        os.umask(old)


def test_unwritable_bundle_folder_is_a_bundle_error(tmp_path, monkeypatch):
    from pathlib import Path

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(BundleError, match="cannot create the folder") as info:
        write(tmp_path / "sub" / "b")
    assert str(tmp_path / "sub" / "b") in str(info.value)
