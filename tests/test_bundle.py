import json
import os
import re
from pathlib import Path

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


def test_a_resaved_manifest_names_the_writer_not_the_bundle_it_was_loaded_from(tmp_path):
    # TextClassifier.save passes the loaded manifest back in: its tagsmith_version and
    # format fields overrode the writer's, so a bundle calibrated by a newer tagsmith
    # claimed the version (and format) of the one that trained it
    from tagsmith import __version__
    from tagsmith.store.bundle import FORMAT_NAME, FORMAT_VERSION

    writer = BundleWriter(tmp_path / "b")
    writer.manifest = {"format": "old", "format_version": 0, "tagsmith_version": "0.0.1",
                       "training": {"n_docs": 3}}
    writer.add_json("meta.json", {"a": 1})
    manifest = Bundle(writer.commit()).manifest
    assert (manifest["format"], manifest["format_version"], manifest["tagsmith_version"]) \
        == (FORMAT_NAME, FORMAT_VERSION, __version__)
    assert manifest["training"] == {"n_docs": 3}


def test_overwrite_is_atomic_and_leaves_no_temporaries(tmp_path):
    write(tmp_path / "b", 1.0)
    write(tmp_path / "b", 2.0)
    assert Bundle(tmp_path / "b").read_json("meta.json") == {"a": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


@pytest.mark.parametrize("spelling", [".", "", "../b", "ABSOLUTE"])
@pytest.mark.parametrize("existing", [True, False])
def test_after_saving_over_the_current_folder_dot_names_the_new_bundle(
        tmp_path, monkeypatch, caplog, existing, spelling):
    # the save replaces the folder the process runs in; '.' still named the old one,
    # deleted, so clf.save('.') then TextClassifier.load('.') (or 'tagsmith info .'
    # in the shell that ran 'train -o .') failed with 'manifest.json is missing'
    (tmp_path / "b").mkdir()
    if existing:
        write(tmp_path / "b", 1.0)
    monkeypatch.chdir(tmp_path / "b")
    with caplog.at_level("WARNING", logger="tagsmith"):
        write(Path(str(tmp_path / "b") if spelling == "ABSOLUTE" else spelling), 2.0)
    assert Bundle(".").read_json("meta.json") == {"a": 2.0}
    assert Path.cwd() == (tmp_path / "b").resolve()
    assert f"cd {(tmp_path / 'b').resolve()}" in caplog.text  # what a shell there needs


def test_loading_from_a_deleted_working_folder_says_so(tmp_path, monkeypatch):
    # a shell still in the folder another process saved a bundle over: '.' is the old
    # folder, deleted, and the error said the bundle had no manifest.json
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "b")
    (tmp_path / "b").rmdir()
    with pytest.raises(BundleError, match="current folder has been deleted or replaced"):
        Bundle(".")


def test_saving_elsewhere_leaves_the_current_folder_alone(tmp_path, monkeypatch, caplog):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    (tmp_path / "link").symlink_to(tmp_path / "here")  # a link to it is replaced, not it
    with caplog.at_level("WARNING", logger="tagsmith"):
        write(tmp_path / "other", 1.0)
        write(tmp_path / "link", 1.0)
    assert Path.cwd() == (tmp_path / "here").resolve() and not caplog.text
    assert Bundle(tmp_path / "link").read_json("meta.json") == {"a": 1.0}


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


def test_replacing_a_bundle_needs_a_writable_parent_folder(tmp_path, monkeypatch):
    # the new bundle is staged beside the old one and renamed into place: a writable
    # bundle in a read-only folder must be refused before the long work, not after it
    import tagsmith.data.textio as textio
    from tagsmith.store.bundle import check_bundle_target

    folder = tmp_path / "models"
    write(folder / "bundle")
    real_access = textio.os.access
    monkeypatch.setattr(textio.os, "access", lambda path, mode: Path(path) != folder
                        and real_access(path, mode))  # tests run as root: chmod is ignored
    with pytest.raises(BundleError, match="models is not writable"):
        check_bundle_target(folder / "bundle")
    check_bundle_target(tmp_path / "elsewhere" / "bundle")


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
    _refused_after_rehash(path, "arrays.npz is damaged")


def _refused_after_rehash(path, message):
    """Re-sign a tampered arrays.npz: reading it must be a BundleError naming the bundle."""
    _rehash(path, "arrays.npz")
    with pytest.raises(BundleError, match=message) as info:
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


@pytest.mark.parametrize("name", ["meta\x00.json", "", "\ud800.json", "tab\t.json"])
def test_a_file_name_that_is_no_file_name_is_refused_naming_the_bundle(tmp_path, name):
    """A manifest listing a name with a NUL escaped as ValueError "embedded null byte"
    (exit code 1, a traceback; a lone surrogate the same as UnicodeEncodeError), and an
    empty name was read as the bundle's own folder ("file  is not a regular file")."""
    path = write(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"][name] = "0" * 64
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
    with pytest.raises(BundleError, match=r"per_label.*shape \(2,\).*shape \(5,\)") as info:
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


# -- crafted bundles: index arrays out of range -----------------------------------------------
# scipy builds sparse matrices and the compiled kernels index arrays without checking
# ranges, so a crafted (re-signed) bundle used to crash the process. Each case edits one
# array of a real bundle, re-signs the manifest and expects exit code 4 (BundleError)
# from the CLI, run in a subprocess: without the checks the process dies of a segfault.

# six copies of six texts, each copy marked: equal texts stay on one side of the
# calibration split, which then held out two of the six, neither with two labels
_CORPUS = [f"{text} copy{copy}" for copy in range(6)
           for text in ("good fine great", "bad awful poor", "good great fine fine",
                        "poor bad bad awful", "fine good", "awful poor")]


def _train_bundle(path, model="linear", params=None, **options):
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    space = LabelSpace.from_uris(["u:pos", "u:neg", "u:odd"])
    rows = [[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1], [1, 0, 0], [0, 1, 0]] * 6
    clf = train_classifier(_CORPUS, sp.csr_matrix(np.array(rows)), space, options=TrainOptions(
        model=model, model_params=params or {}, dev_fraction=0.0, min_support=1,
        featurizer_params={"char_ngrams": None, "min_df": 1}, **options))
    return clf.save(path)


def _tamper(src, dst, name, edit):
    """Copy bundle ``src`` to ``dst``, apply ``edit`` to the arrays of ``name``, re-sign."""
    import shutil

    shutil.copytree(src, dst)
    arrays = dict(np.load(dst / name))
    edit(arrays)
    with open(dst / name, "wb") as handle:
        np.savez(handle, **arrays)
    _rehash(dst, name)
    return dst


def _cli_exit(path, tmp_path):
    import os
    import subprocess
    import sys

    doc = tmp_path / "doc.txt"
    doc.write_text("good fine\nbad poor\n")
    env = {**os.environ, "PYTHONFAULTHANDLER": ""}
    done = subprocess.run([sys.executable, "-m", "tagsmith", "suggest", str(path), str(doc)],
                          capture_output=True, text=True, timeout=300, env=env)
    return done.returncode, done.stderr


def _cli_here(capsys, *args):
    """``tagsmith ARGS`` in this process, for a refusal that was a Python exception
    (a traceback, exit code 1) rather than a crash: (exit code, stdout, stderr). An
    exception that escapes the command fails the test as the traceback would have."""
    import tagsmith.cli as tagsmith_cli

    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        tagsmith_cli.main(list(map(str, args)))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def _suggest_here(capsys, path, tmp_path):
    """:func:`_cli_exit` in this process: (exit code, stderr)."""
    doc = tmp_path / "doc.txt"
    doc.write_text("good fine\nbad poor\n")
    code, _, err = _cli_here(capsys, "suggest", path, doc)
    return code, err


def _set(key, index, value):
    def edit(arrays):
        array = arrays[key].copy()
        array[index] = value
        arrays[key] = array
    return edit


def _replace(key, value):
    def edit(arrays):
        arrays[key] = value
    return edit


@pytest.fixture(scope="module")
def small_bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    members = [["linear", {}], ["knn", {"n_neighbors": 3}]]
    return {
        "linear": _train_bundle(root / "linear", crossfit_folds=2,
                                calibration_fraction=0.3),
        "knn": _train_bundle(root / "knn", "knn", {"n_neighbors": 3}),
        "tree": _train_bundle(root / "tree", "tree", {"leaf_size": 2, "branching": 2}),
        "ensemble": _train_bundle(root / "ensemble", "ensemble",
                                  {"members": members, "weights": [1, 1]}),
    }


TAMPERED = {
    "linear-index": ("linear", "model.npz", _set("coef_indices", 0, 2_000_000_000)),
    "linear-negative-index": ("linear", "model.npz", _set("coef_indices", 0, -7)),
    "linear-indptr": ("linear", "model.npz", _set("coef_indptr", -1, 10**9)),
    "linear-indptr-decreasing": ("linear", "model.npz", _set("coef_indptr", 1, 10**6)),
    "knn-index": ("knn", "model.npz", _set("index_indices", 0, 2_000_000_000)),
    "knn-targets": ("knn", "model.npz", _set("targets_indices", 0, 2_000_000_000)),
    "knn-targets-indptr": ("knn", "model.npz", _set("targets_indptr", -1, 10**8)),
    "knn-feature-rank": ("knn", "model.npz", _set("feature_rank", 0, 10**8)),
    "knn-feature-rank-repeat": ("knn", "model.npz", _set("feature_rank", 0, 1)),
    "knn-row-ids": ("knn", "model.npz", _set("row_ids", 0, -3)),
    "knn-doc-weight": ("knn", "model.npz", _set("doc_weight", 0, np.nan)),
    "tree-label-flag": ("tree", "model.npz", _replace("slot_is_label", None)),
    "tree-2d": ("tree", "model.npz", None),
    "ensemble-member": ("ensemble", "model.npz", _set("m1.index_indices", 0, 2_000_000_000)),
    "crossfit-fold": ("linear", "crossfit.npz", _set("fold", 0, 99)),
    "heldout-labels": ("linear", "calibration_split.npz",
                       _set("y_indices", 0, 2_000_000_000)),
    "conformal-bands": ("linear", "conformal.npz", _set("mondrian__band_of", 0, 40)),
    "conformal-indptr": ("linear", "conformal.npz", _set("lpicp__indptr", 0, -5)),
    "calibrator-knots": ("linear", "calibrator.npz", _set("knots_indptr", 1, 10**9)),
}


def _tree_edits(case):
    def flag(arrays):  # flag 2: neither label nor inner node, read as a label by the kernel
        flags = arrays["slot_is_label"].copy()
        targets = arrays["slot_target"].copy()
        inner = np.flatnonzero(flags == 0)
        assert inner.size, "the test tree has no inner nodes"
        flags[inner[0]] = 2
        targets[inner[0]] = 1_000_000
        arrays["slot_is_label"], arrays["slot_target"] = flags, targets

    def two_d(arrays):
        arrays["node_slot_ptr"] = arrays["node_slot_ptr"][None, :]

    return {"tree-label-flag": flag, "tree-2d": two_d}[case]


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_crafted_index_arrays_are_a_bundle_error_not_a_crash(small_bundles, tmp_path, case):
    family, name, edit = TAMPERED[case]
    if family == "tree":
        edit = _tree_edits(case)
    assert (small_bundles[family] / name).exists(), f"{family} bundle has no {name}"
    path = _tamper(small_bundles[family], tmp_path / "b", name, edit)
    code, stderr = _cli_exit(path, tmp_path)
    assert code == 4, stderr
    assert str(path) in stderr


def test_untampered_small_bundles_predict(small_bundles, tmp_path):
    for path in small_bundles.values():
        code, stderr = _cli_exit(path, tmp_path)
        assert code == 0, stderr


def test_sparse_state_checks():
    from tagsmith.store.bundle import check_ids, check_pointers, sparse_from_state

    ok = sparse_from_state("m", "csc", np.ones(2), np.array([0, 2]), np.array([0, 1, 2]), (3, 2))
    assert ok.format == "csc" and ok.shape == (3, 2)
    for data, indices, indptr, shape, match in [
            (np.ones(2), np.array([0, 3]), np.array([0, 1, 2]), (3, 2), "ids in"),
            (np.ones(2), np.array([0, 1]), np.array([1, 1, 2]), (3, 2), "from 0"),
            (np.ones(2), np.array([0, 1]), np.array([0, 1]), (3, 2), "offsets, expected 3"),
            (np.ones(3), np.array([0, 1]), np.array([0, 1, 2]), (3, 2), "2 indices for 3"),
            (np.ones(2), np.array([0.0, 1.0]), np.array([0, 1, 2]), (3, 2), "not an integer"),
            (np.ones(2), np.array([0, 1]), np.array([0.0, 1, 2]), (3, 2), "integer array"),
            (np.ones(2), np.array([0, 1]), np.array([0, 1, 2]), (-3, 2), "non-negative"),
            (np.ones((2, 1)), np.array([0, 1]), np.array([0, 1, 2]), (3, 2), "1-D numeric")]:
        with pytest.raises(ValueError, match=match):
            sparse_from_state("m", "csc", data, indices, indptr, shape)
    with pytest.raises(ValueError, match="ids in"):
        check_ids("x", np.array([2**63], np.uint64), 10)
    with pytest.raises(ValueError, match="out of range"):
        check_pointers("p", np.array([0, 2**64 - 1], np.uint64))


def test_dense_knn_state_with_bad_targets_is_refused():
    from tagsmith.models.dense_knn import DenseKNNModel

    rng = np.random.default_rng(0)
    model = DenseKNNModel(n_neighbors=2).fit(rng.normal(size=(6, 4)),
                                             np.eye(3)[[0, 1, 2, 0, 1, 2]])
    meta, arrays = model.to_state()
    DenseKNNModel.from_state(meta, arrays)
    bad = dict(arrays, targets_indices=np.array([0, 1, 2, 0, 1, 2_000_000_000]))
    with pytest.raises(ValueError, match="targets: indices"):
        DenseKNNModel.from_state(meta, bad)
    bad = dict(arrays, doc_weight=-np.ones(6))
    with pytest.raises(ValueError, match="doc_weight"):
        DenseKNNModel.from_state(meta, bad)
    # complex vectors: the cast to float dropped their imaginary part without a word
    bad = dict(arrays, index=arrays["index"] + 1j)
    with pytest.raises(ValueError, match="index has dtype complex"):
        DenseKNNModel.from_state(meta, bad)


# -- .npz members that would unpack to far more than they hold --------------------------------
def _write_npz(path, members: dict[str, bytes], compression=None):
    import zipfile

    with zipfile.ZipFile(path, "w", compression or zipfile.ZIP_STORED) as archive:
        for member, payload in members.items():
            archive.writestr(member, payload)


def _npy(array, shape=None) -> bytes:
    """``array`` as .npy bytes, its header optionally claiming another ``shape``."""
    import io

    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False,
              "shape": array.shape if shape is None else shape}
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + array.tobytes()


def test_decompression_bomb_member_is_refused_before_it_is_unpacked(tmp_path, monkeypatch):
    import zipfile

    path = write(tmp_path / "b")
    # 200 MB of zeros deflate to about 200 kB: refused from the sizes in the zip directory
    zeros = np.zeros(25_000_000, np.float64)
    _write_npz(path / "arrays.npz", {"x.npy": _npy(zeros)}, zipfile.ZIP_DEFLATED)
    _rehash(path, "arrays.npz")
    del zeros
    loaded = []
    monkeypatch.setattr(np, "load", lambda *a, **k: loaded.append(a))
    with pytest.raises(BundleError, match="decompression bomb") as info:
        Bundle(path).read_arrays("arrays.npz")
    assert str(path) in str(info.value) and not loaded


def test_array_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    path = write(tmp_path / "b")
    monkeypatch.setenv("TAGSMITH_MAX_ARRAY_BYTES", "100")
    with pytest.raises(BundleError, match="more than the limit of 100"):
        Bundle(path).read_arrays("arrays.npz")
    monkeypatch.setenv("TAGSMITH_MAX_ARRAY_BYTES", "1000")
    assert Bundle(path).read_arrays("arrays.npz")["x"].shape == (5,)


@pytest.mark.parametrize("shape", [(10**13,), (10**10, 10**10), (3,), (6,)])
def test_npy_header_must_match_the_bytes_held(tmp_path, shape):
    path = write(tmp_path / "b")
    _write_npz(path / "arrays.npz", {"x.npy": _npy(np.arange(5, dtype=np.float32), shape)})
    _refused_after_rehash(path, "declares shape")


def test_unexpected_npz_members_are_refused(tmp_path):
    path = write(tmp_path / "b")
    x = _npy(np.arange(5, dtype=np.float32))
    _write_npz(path / "arrays.npz", {"x.npy": x, "notes.txt": b"hello"})
    _rehash(path, "arrays.npz")
    with pytest.raises(BundleError, match="unexpected member 'notes.txt'"):
        Bundle(path).read_arrays("arrays.npz")
    _write_npz(path / "arrays.npz", {"x.npy": x, "y.npy": x})
    _rehash(path, "arrays.npz")
    assert set(Bundle(path).read_arrays("arrays.npz")) == {"x", "y"}
    with pytest.raises(BundleError, match="unexpected array 'y'"):
        Bundle(path).read_arrays("arrays.npz", keys=["x"])
    with pytest.raises(BundleError, match="lacks the arrays z"):
        Bundle(path).read_arrays("arrays.npz", keys=["x", "y", "z"])


def test_memory_error_while_loading_is_a_bundle_error(tmp_path, monkeypatch):
    path = write(tmp_path / "b")

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(np, "load", exhausted)
    with pytest.raises(BundleError, match="too large for this machine's memory"):
        Bundle(path).read_arrays("arrays.npz")


# -- malformed JSON -----------------------------------------------------------------------------
_DEEP = "[" * 100_000 + "]" * 100_000
_BIG = "9" * 5000


@pytest.mark.parametrize("payload", [_DEEP, '{"format": ' + _BIG + "}", b"\xff\xfe"])
def test_malformed_manifest_is_a_bundle_error(tmp_path, payload):
    path = write(tmp_path / "b")
    target = path / "manifest.json"
    target.write_bytes(payload if isinstance(payload, bytes) else payload.encode())
    with pytest.raises(BundleError, match="manifest.json is damaged") as info:
        Bundle(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("payload", [_DEEP, '{"a": ' + _BIG + "}"])
def test_malformed_json_file_is_a_bundle_error(tmp_path, payload):
    path = write(tmp_path / "b")
    (path / "meta.json").write_text(payload)
    _rehash(path, "meta.json")
    with pytest.raises(BundleError, match="meta.json is damaged") as info:
        Bundle(path).read_json("meta.json")
    assert str(path) in str(info.value)


def test_deeply_nested_model_json_fails_load_with_a_bundle_error(small_bundles, tmp_path):
    import shutil

    from tagsmith.pipeline.classifier import TextClassifier

    path = tmp_path / "b"
    shutil.copytree(small_bundles["knn"], path)
    (path / "model.json").write_text('{"name": "knn", "params": ' + _DEEP + "}")
    _rehash(path, "model.json")
    with pytest.raises(BundleError, match="model.json is damaged"):
        TextClassifier.load(path)
    code, stderr = _cli_exit(path, tmp_path)
    assert code == 4 and "nested too deeply" in stderr


def _json_edit(name, edit):
    def apply(path):
        obj = json.loads((path / name).read_text())
        (path / name).write_text(json.dumps(edit(obj)))
        _rehash(path, name)
    return apply


def _alt_labels_as_list(space):
    space["labels"][0]["alt_labels"] = []
    return space


def _duplicate_label(space):
    space["labels"][1] = space["labels"][0]
    return space


def _relation_as(key, value):
    def edit(space):
        space["labels"][0][key] = value
        return space
    return edit


@pytest.mark.parametrize("name, edit, message", [
    ("featurizer.json", lambda meta: [], "AttributeError"),
    ("featurizer.json", lambda meta: {"kind": "views", "views": []}, "AttributeError"),
    ("thresholds.json", lambda meta: [], "AttributeError"),
    ("label_space.json", _alt_labels_as_list, "AttributeError"),
    ("label_space.json", _duplicate_label, "label_space.json: duplicate label URI"),
    ("label_space.json", lambda space: [], "label_space.json: not a serialised label space"),
    # a string was read as a list of its characters, a mapping as its keys
    ("label_space.json", _relation_as("replaced_by", "u:b"), "label_space.json: not a "
     "serialised label space.*replaced_by"),
    ("label_space.json", _relation_as("broader", "u:b"), "label_space.json: not a "
     "serialised label space.*broader"),
    ("label_space.json", _relation_as("replaced_by", {"u:b": 1}), "replaced_by"),
    ("label_space.json", _relation_as("replaced_by", 7), "replaced_by"),
    ("label_space.json", _relation_as("replaced_by", [["u:b"]]), "replaced_by"),
    ("label_space.json", _relation_as("broader", [7]), "broader"),
])
def test_json_parts_of_another_shape_are_a_bundle_error(small_bundles, tmp_path, name, edit,
                                                        message):
    """A JSON part with a list where an object belongs escaped load as an AttributeError
    (exit code 1, a traceback), and a damaged label space as a vocabulary error without
    the bundle's name (exit code 3)."""
    import shutil

    from tagsmith.pipeline.classifier import TextClassifier

    path = tmp_path / "b"
    shutil.copytree(small_bundles["linear"], path)
    _json_edit(name, edit)(path)
    with pytest.raises(BundleError, match=message) as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)


def _min_labels(value):
    def edit(meta):
        meta["min_labels"] = value
        return meta
    return edit


@pytest.mark.parametrize("name, edit, message", [
    ("thresholds.json", _min_labels(-1), "thresholds.min_labels"),
    ("thresholds.json", _min_labels(2.7), "'thresholds.min_labels' must be an integer"),
    # 3 labels: no set holds 4 (it loaded, and every set was all of its candidates)
    ("thresholds.json", _min_labels(4), r"'thresholds.min_labels' must be an integer in "
                                        r"\[0, 3\]"),
    ("thresholds.npz", _set("per_label", 0, np.nan), "thresholds.per_label"),
    ("label_stats.npz", _set("label_counts", 0, -5), "label_counts"),
    ("label_stats.npz", _replace("label_counts", np.full(3, 2.5)), "label_counts"),
    ("label_stats.npz", _replace("n_train_docs", np.array(-3)), "n_train_docs"),
    ("label_stats.npz", _replace("n_train_docs", np.array(2.5)), "n_train_docs"),
])
def test_crafted_thresholds_and_label_stats_are_refused_on_load(small_bundles, tmp_path, name,
                                                                edit, message):
    """These loaded, then every suggest failed naming a parameter nobody passed (exit code
    2), the metrics gave NaN propensities, or a fraction was truncated silently."""
    import shutil

    from tagsmith.pipeline.classifier import TextClassifier

    if name.endswith(".json"):
        path = tmp_path / "b"
        shutil.copytree(small_bundles["linear"], path)
        _json_edit(name, edit)(path)
    else:
        path = _tamper(small_bundles["linear"], tmp_path / "b", name, edit)
    with pytest.raises(BundleError, match=message):
        TextClassifier.load(path)


def test_a_classifier_keeps_min_labels_a_plain_int_and_refuses_more_than_its_labels(
        small_bundles, tmp_path):
    """min_labels=np.int64(1) was accepted, then failed the save (TypeError: not JSON
    serializable) after the work; min_labels above the label count was accepted."""
    import dataclasses

    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.classifier import TextClassifier

    clf = TextClassifier.load(small_bundles["linear"])
    parts = (clf.label_space, clf.featurizer, clf.model)
    numpy_min = dataclasses.replace(clf.thresholds, min_labels=np.int64(1),
                                    max_labels=np.int64(2))
    made = TextClassifier(*parts, numpy_min, label_counts=clf.label_counts,
                          n_train_docs=clf.n_train_docs)
    assert type(made.thresholds.min_labels) is int and type(made.thresholds.max_labels) is int
    again = TextClassifier.load(made.save(tmp_path / "b"))
    assert (again.thresholds.min_labels, again.thresholds.max_labels) == (1, 2)
    for bad in (4, np.int64(4)):
        with pytest.raises(InvalidParameterError, match=r"min_labels' must be an integer in "
                                                        r"\[0, 3\]"):
            TextClassifier(*parts, dataclasses.replace(clf.thresholds, min_labels=bad))
    full = TextClassifier(*parts, dataclasses.replace(clf.thresholds, min_labels=3))
    assert full.thresholds.min_labels == 3  # every label: a set may hold them all


def test_a_classifier_refuses_counts_that_are_not_counts(small_bundles):
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.classifier import TextClassifier

    clf = TextClassifier.load(small_bundles["linear"])
    parts = (clf.label_space, clf.featurizer, clf.model, clf.thresholds)
    for bad in (-1, 2.5, True):
        with pytest.raises(InvalidParameterError, match="n_train_docs"):
            TextClassifier(*parts, label_counts=clf.label_counts, n_train_docs=bad)
    with pytest.raises(InvalidParameterError, match="label_counts"):
        TextClassifier(*parts, label_counts=-clf.label_counts - 1, n_train_docs=10)
    # float counts that are whole numbers are counts
    same = TextClassifier(*parts, label_counts=clf.label_counts.astype(float),
                          n_train_docs=np.int64(clf.n_train_docs))
    np.testing.assert_array_equal(same.label_counts, clf.label_counts)


# -- format version, symbolic links, encoder names --------------------------------------------
@pytest.mark.parametrize("version", [-5, 0, True, 1.0, "1", None])
def test_invalid_format_version_is_refused(tmp_path, version):
    path = write(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = version
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="invalid format version"):
        Bundle(path)


def test_symlinked_bundle_files_are_refused(tmp_path):
    import os

    secret = tmp_path / "secret.json"
    secret.write_text('{"a": "secret"}')
    path = write(tmp_path / "b")
    (path / "meta.json").unlink()
    os.symlink(secret, path / "meta.json")
    _rehash(path, "meta.json")  # the checksum of what the link points to
    with pytest.raises(BundleError, match="meta.json is a symbolic link"):
        Bundle(path)
    path = write(tmp_path / "c")
    (path / "meta.json").unlink()
    os.mkfifo(path / "meta.json")
    with pytest.raises(BundleError, match="meta.json is not a regular file"):
        Bundle(path)
    path = write(tmp_path / "d")
    real = tmp_path / "manifest.json"
    (path / "manifest.json").rename(real)
    os.symlink(real, path / "manifest.json")
    with pytest.raises(BundleError, match="manifest.json is a symbolic link"):
        Bundle(path)


def test_bundle_featurizer_may_name_only_the_packaged_encoder(tmp_path):
    from tagsmith.features.embedding import DEFAULT_ENCODER, EmbeddingFeaturizer
    from tagsmith.features.views import featurizer_from_state

    meta = {"kind": "embedding", "params": EmbeddingFeaturizer().get_params(), "dim": 384}
    assert featurizer_from_state(meta, {}).encoder == DEFAULT_ENCODER
    evil = {**meta, "params": {**meta["params"], "encoder": str(tmp_path)}}
    with pytest.raises(ValueError, match="only the packaged"):
        featurizer_from_state(evil, {})
    with pytest.raises(ValueError, match="only the packaged"):  # inside a multi-view one
        featurizer_from_state({"kind": "views", "views": {"e": evil}}, {})


def _edit_json(path, name, edit):
    data = json.loads((path / name).read_text())
    edit(data)
    (path / name).write_text(json.dumps(data))
    _rehash(path, name)


@pytest.mark.parametrize("name, edit, message", [
    ("crossfit.json", lambda meta: meta.update(n_labels=meta["n_labels"] + 5), "crossfit"),
    ("model.json", None, "n_trees"),
])
def test_parts_that_disagree_with_the_label_space_are_bundle_errors(small_bundles, tmp_path,
                                                                    name, edit, message):
    import shutil

    from tagsmith.pipeline.classifier import TextClassifier

    family = "linear" if name == "crossfit.json" else "tree"
    path = tmp_path / family
    shutil.copytree(small_bundles[family], path)
    if edit is None:  # a forest of no trees
        edit = lambda meta: meta.update(n_trees=0)  # noqa: E731
    _edit_json(path, name, edit)
    with pytest.raises(BundleError, match=message) as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("field, value", [
    ("n_labels", "3"), ("n_labels", 3.0), ("n_folds", 2.5), ("n_folds", "2"), ("n_folds", 1),
    ("seed", "0"), ("seed", -1), ("model", 7), ("model", ""), ("params", [["C", 1.0]]),
    ("seconds", "nan"), ("seconds", True), ("seconds", -1)])
def test_crafted_crossfit_fields_are_refused_on_load(small_bundles, tmp_path, field, value):
    """int(), str(), dict() and float() converted them as they came: an n_labels of "3"
    loaded as 3, a list of pairs as parameters, "nan" as seconds."""
    import shutil

    from tagsmith.pipeline.classifier import TextClassifier

    path = tmp_path / "b"
    shutil.copytree(small_bundles["linear"], path)
    TextClassifier.load(path)  # as trained, it loads
    _edit_json(path, "crossfit.json", lambda meta: meta.update({field: value}))
    with pytest.raises(BundleError, match=rf"'crossfit\.{field}' must be") as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)


def test_replacing_never_deletes_files_that_are_not_part_of_the_bundle(tmp_path):
    # another program's manifest.json does not make a folder a bundle
    app = tmp_path / "app"
    app.mkdir()
    (app / "manifest.json").write_text('{"name": "my web app"}')
    (app / "index.html").write_text("keep me")
    with pytest.raises(BundleError, match="not a tagsmith bundle's"):
        write(app)
    assert (app / "index.html").read_text() == "keep me"
    # a bundle with a corpus put beside the model is not replaced (it would be deleted)
    bundle = write(tmp_path / "model", 1.0)
    (bundle / "train.tsv").write_text("text\t<u:1>\n")
    with pytest.raises(BundleError, match=r"also holds 1 file it does not list "
                                          r"\('train.tsv'\)"):
        write(bundle, 2.0)
    assert (bundle / "train.tsv").read_text() == "text\t<u:1>\n"
    assert Bundle(bundle).read_json("meta.json") == {"a": 1.0}
    (bundle / "train.tsv").unlink()
    write(bundle, 2.0)  # a bundle holding only its own files is replaced as before
    assert Bundle(bundle).read_json("meta.json") == {"a": 2.0}


# -- crafted featurizer states -----------------------------------------------------------
# A TF-IDF featurizer's state was taken as stored: a crafted (re-signed) bundle with a
# negative idf loaded and flipped every feature's sign, another analyzer ("char") or
# n-gram range ([0, 0]) silently changed the features the model was trained on, and a
# NaN idf, a repeated term or an unknown analyzer loaded and then failed on the first
# text with a ValueError naming no file.

def _tfidf_state():
    from tagsmith.features.tfidf import TfidfFeaturizer

    meta, arrays = TfidfFeaturizer(min_df=1).fit(["a cat sat", "a dog ran", "cats, dogs"]
                                                 ).to_state()
    return json.loads(json.dumps(meta)), dict(arrays)


def _negate_idf(meta, arrays):
    arrays["idf_0"] = -arrays["idf_0"]


def _nan_idf(meta, arrays):
    arrays["idf_0"] = np.full_like(arrays["idf_0"], np.nan)


TAMPERED_TFIDF = {
    "negative idf": _negate_idf,
    "nan idf": _nan_idf,
    "extra idf": lambda meta, arrays: arrays.update(idf_9=np.ones(2, np.float32)),
    "analyzer": lambda meta, arrays: meta["blocks"][0].update(analyzer="char"),
    "unknown analyzer": lambda meta, arrays: meta["blocks"][0].update(analyzer="bogus"),
    "ngrams": lambda meta, arrays: meta["blocks"][0].update(ngrams=[0, 0]),
    "three ngrams": lambda meta, arrays: meta["blocks"][0].update(ngrams=[1, 2, 3]),
    "repeated term": lambda meta, arrays: meta["blocks"][0]["terms"].__setitem__(
        1, meta["blocks"][0]["terms"][0]),
    "int term": lambda meta, arrays: meta["blocks"][0]["terms"].__setitem__(1, 5),
    "no blocks": lambda meta, arrays: meta.update(blocks=[]),
    "params": lambda meta, arrays: meta.update(params=[]),
    "min_df": lambda meta, arrays: meta["params"].update(min_df=-1),
    "lowercase": lambda meta, arrays: meta["params"].update(lowercase="yes"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED_TFIDF))
def test_crafted_tfidf_state_is_refused_on_load(case):
    from tagsmith.features.views import featurizer_from_state

    meta, arrays = _tfidf_state()
    featurizer_from_state(meta, arrays).transform(["a cat"])  # the untouched state loads
    TAMPERED_TFIDF[case](meta, arrays)
    with pytest.raises(ValueError):
        featurizer_from_state(meta, arrays)


def test_crafted_tfidf_state_is_a_bundle_error(small_bundles, tmp_path):
    import shutil

    from tagsmith.pipeline.classifier import TextClassifier

    path = tmp_path / "linear"
    shutil.copytree(small_bundles["linear"], path)
    _edit_json(path, "featurizer.json", lambda meta: meta["blocks"][0].update(analyzer="char"))
    with pytest.raises(BundleError, match="analyzer") as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("section, value", [("label_space", []), ("label_space", "x"),
                                            ("training", []), ("metrics", 3)])
def test_a_manifest_section_of_another_shape_is_a_bundle_error(small_bundles, tmp_path,
                                                               section, value):
    """The manifest has no checksum; its sections are read with .get(): a list or a
    string there escaped load (label_space) or calibrate and audit (training) as an
    AttributeError, exit code 1 with a traceback."""
    import shutil

    from tagsmith.pipeline.classifier import TextClassifier

    path = tmp_path / "b"
    shutil.copytree(small_bundles["linear"], path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest[section] = value
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=f"manifest.json: '{section}' is not an object") \
            as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)
    code, stderr = _cli_exit(path, tmp_path)
    assert code == 4 and "Traceback" not in stderr


@pytest.mark.parametrize("section, value", [("label_space", "x"), ("training", []),
                                            ("metrics", 3), ("calibration", [])])
def test_info_refuses_a_manifest_section_of_another_shape_as_load_does(small_bundles,
                                                                     tmp_path, section,
                                                                     value, capsys):
    """'tagsmith info' printed such a manifest and exited 0, calling a bundle sound that
    every other command refuses (exit 4, "'metrics' is not an object")."""
    import shutil

    path = tmp_path / "b"
    shutil.copytree(small_bundles["linear"], path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest[section] = value
    (path / "manifest.json").write_text(json.dumps(manifest))
    for extra in ([], ["--json"]):
        code, stdout, stderr = _cli_here(capsys, "info", path, *extra)
        assert code == 4, stdout
        assert f"manifest.json: '{section}' is not an object" in stderr
        assert str(path) in stderr and "Traceback" not in stderr
        assert stdout == ""


def test_a_manifest_too_large_to_be_one_is_refused_unread(tmp_path, monkeypatch):
    """A manifest is a few kilobytes; a huge file in its place (300 MB) was read whole,
    parsed (1.2 GB of memory) and printed by 'tagsmith info'."""
    from tagsmith.store import bundle as bundle_module

    path = write(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    limit = len(json.dumps(manifest)) + 100
    monkeypatch.setattr(bundle_module, "MAX_MANIFEST_BYTES", limit)
    with Bundle(path) as opened:  # at the limit: read
        assert opened.manifest["note"] == "test"
    manifest["note"] = "x" * 200
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"manifest.json is too large for a bundle "
                                          r"manifest \(more than") as info:
        Bundle(path)
    assert str(path) in str(info.value)


def test_a_manifest_naming_a_key_twice_is_damaged(tmp_path):
    """JSON keeps the last of the values: a manifest (which has no checksum) saying
    '"format": "x", "format": "tagsmith-bundle"' loaded, and 'info' printed one of its
    two format entries as the bundle's, as a corpus line naming a key twice is refused."""
    path = write(tmp_path / "b")
    text = (path / "manifest.json").read_text()
    (path / "manifest.json").write_text(text.replace('"format":', '"format": "x", "format":', 1))
    with pytest.raises(BundleError, match=r"manifest.json is damaged \(the key 'format' "
                                          r"appears twice in one object\)") as info:
        Bundle(path)
    assert str(path) in str(info.value)


def test_is_bundle_and_check_bundle_target_read_a_manifest_capped(tmp_path, monkeypatch):
    """is_bundle() (a bundle given as a corpus) and check_bundle_target() (an output to
    replace) read manifest.json whole with no limit, after the loader got its cap: a
    manifest over MAX_MANIFEST_BYTES is no bundle's for them either."""
    from tagsmith.exceptions import BundleTargetError
    from tagsmith.store import bundle as bundle_module

    path = write(tmp_path / "b")
    manifest = json.loads((path / "manifest.json").read_text())
    monkeypatch.setattr(bundle_module, "MAX_MANIFEST_BYTES", len(json.dumps(manifest)) + 100)
    assert bundle_module.is_bundle(path)
    assert bundle_module.check_bundle_target(path) == path
    manifest["note"] = "x" * 200
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert not bundle_module.is_bundle(path)
    with pytest.raises(BundleTargetError, match="not a tagsmith bundle's"):
        bundle_module.check_bundle_target(path)


def test_a_bundle_replaced_while_it_is_open_is_read_as_it_was_verified(tmp_path):
    """A reader verified the files, then read them again by name: a save replacing the
    bundle in between handed it the new bundle's parts under the old manifest (a model
    of one training with the thresholds or label space of another)."""
    path = write(tmp_path / "b", 1.0)
    bundle = Bundle(path)
    write(tmp_path / "b", 2.0)  # renamed into place, the old one deleted
    assert bundle.read_json("meta.json") == {"a": 1.0}
    assert bundle.read_arrays("arrays.npz")["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert bundle.read_json("meta.json") == {"a": 1.0}  # read again: from the start
    bundle.close()
    with pytest.raises(BundleError, match="closed"):
        bundle.read_json("meta.json")
    with Bundle(path) as bundle:
        assert bundle.read_json("meta.json") == {"a": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_saving_over_a_link_to_a_bundle_leaves_no_backup_behind(tmp_path):
    """The link was moved aside and 'deleted' with rmtree, which refuses links (silently):
    a '.current.old-*' link stayed next to the new bundle."""
    write(tmp_path / "v1", 1.0)
    (tmp_path / "current").symlink_to("v1")
    write(tmp_path / "current", 2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "v1"]
    with Bundle(tmp_path / "current") as bundle:
        assert bundle.read_json("meta.json") == {"a": 2.0}
    with Bundle(tmp_path / "v1") as bundle:  # the bundle it pointed to is untouched
        assert bundle.read_json("meta.json") == {"a": 1.0}


# -- crafted calibration, conformal and label-shift states ------------------------------------
@pytest.fixture(scope="module")
def confidence_bundles(small_bundles, tmp_path_factory):
    """Calibrated bundles with every confidence part (recall, Mondrian and LP-ICP sets)
    and a stored label shift: the linear one (isotonic) and a Platt one."""
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.confidence import ConfidenceOptions, estimate_shift

    root = tmp_path_factory.mktemp("confidence")
    platt = _train_bundle(root / "platt", calibration_fraction=0.3,
                          confidence=ConfidenceOptions(method="platt"))
    out = {}
    for name, source in (("isotonic", small_bundles["linear"]), ("platt", platt)):
        clf = TextClassifier.load(source)
        clf.label_shift = estimate_shift(clf, _CORPUS, min_count=0)
        out[name] = clf.save(root / f"{name}-shifted")
    return out


def _map(key, change):
    def edit(arrays):
        arrays[key] = change(arrays[key])
    return edit


def _crafted(bundles, tmp_path, family, name, edit):
    """A copy of ``bundles[family]`` with ``edit`` applied to its part ``name``, re-signed."""
    import shutil

    assert (bundles[family] / name).exists(), f"{family} bundle has no {name}"
    if name.endswith(".npz"):
        return _tamper(bundles[family], tmp_path / "b", name, edit)
    path = tmp_path / "b"
    shutil.copytree(bundles[family], path)
    _edit_json(path, name, edit)
    return path


def _refused_on_load(bundles, tmp_path, case, cases):
    from tagsmith.pipeline.classifier import TextClassifier

    family, name, edit, message = cases[case]
    path = _crafted(bundles, tmp_path, family, name, edit)
    with pytest.raises(BundleError, match=message) as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)


def test_untampered_confidence_bundles_give_every_kind_of_set(confidence_bundles):
    from tagsmith.pipeline.classifier import TextClassifier

    for path in confidence_bundles.values():
        clf = TextClassifier.load(path)
        assert clf.label_shift is not None and clf.suggest(["good fine"])
        assert clf.conformal.methods() == ["recall", "mondrian", "lpicp"]
        for method in clf.conformal.methods():
            assert len(clf.suggest_sets(["good fine", "bad poor"], method=method)) == 2


#: a crafted calibrator state: (bundle, file, edit, message). These loaded, then every
#: text failed (a UFuncTypeError, an IndexError in the sets, an error about a parameter
#: 'score' nobody passed) or got wrong probabilities silently.
CRAFTED_CALIBRATOR = {
    "string-params": ("platt", "calibrator.npz", _map("label_params", lambda a: a.astype(str)),
                      "calibrator label_params is not an array of numbers"),
    "nan-params": ("platt", "calibrator.npz", _set("label_params", 0, np.nan),
                   "calibrator label_params holds NaN"),
    "string-margin": ("platt", "calibrator.npz", _map("margin", lambda a: a.astype(str)),
                      "calibrator margin is not an array of numbers"),
    "nan-margin": ("isotonic", "calibrator.npz", _set("margin", 0, np.nan),
                   "calibrator margin holds NaN"),
    "margin-above-half": ("platt", "calibrator.npz", _set("margin", 0, 0.9),
                          r"calibrator margin holds values in \[.*\], expected finite numbers "
                          r"in \[0, 0.5\]"),
    "2d-tail": ("platt", "calibrator.npz", _map("tail", lambda a: a[None, :]),
                r"calibrator tail has shape \(1, 3\), expected \(3,\)"),
    "tail-above-1": ("platt", "calibrator.npz", _set("tail", 0, 2.0), "calibrator tail"),
    "string-tail": ("platt", "calibrator.npz", _map("tail", lambda a: a.astype(str)),
                    "calibrator tail is not an array of numbers"),
    "nan-source-prior": ("isotonic", "calibrator.npz", _set("source_prior", 1, np.nan),
                         "calibrator source_prior holds NaN"),
    "2d-band-of": ("isotonic", "calibrator.npz", _map("bands_band_of", lambda a: a[None, :]),
                   "bands: band_of is not a 1-D integer array"),
    "wrapping-band-of": ("platt", "calibrator.npz",
                         _map("bands_band_of", lambda a: a.astype(np.int64) + 65536),
                         "bands: band_of holds band ids"),
    "nan-label-weight": ("isotonic", "calibrator.npz", _set("label_weight", 0, np.nan),
                         "calibrator label_weight holds NaN"),
    "string-label-weight": ("isotonic", "calibrator.npz",
                            _map("label_weight", lambda a: a.astype(str)),
                            "calibrator label_weight is not an array of numbers"),
    "band-weight-above-1": ("isotonic", "calibrator.npz", _set("band_weight", 0, 5.0),
                            "calibrator band_weight holds values"),
    "nan-knots": ("isotonic", "calibrator.npz", _set("knots_y", 0, np.nan),
                  "isotonic knots 'knots' y holds NaN"),
    "unsorted-knots": ("isotonic", "calibrator.npz", _map("knots_x", lambda a: a[::-1].copy()),
                       "isotonic knots 'knots' x is not sorted ascending"),
    "knots-above-1": ("isotonic", "calibrator.npz", _map("knots_y", lambda a: a * 3 + 1),
                      "calibrator isotonic knots y holds values"),
    "transform": ("platt", "calibrator.json", lambda meta: meta.update(transform="exp"),
                  "unknown calibration transform 'exp'"),
    "k": ("platt", "calibrator.json", lambda meta: meta.update(k=2.5), "calibrator k"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED_CALIBRATOR))
def test_crafted_calibrator_state_is_refused_on_load(confidence_bundles, tmp_path, case):
    _refused_on_load(confidence_bundles, tmp_path, case, CRAFTED_CALIBRATOR)


def _conformal_meta(part, **values):
    def edit(meta):
        (meta if part is None else meta[part]).update(values)
    return edit


#: a crafted conformal state: these loaded, then every set failed (a TypeError or an
#: IndexError, an error about a parameter 'alpha' or 'k' nobody passed) or had no
#: guarantee, silently (unsorted or NaN scores, inflated document counts).
CRAFTED_CONFORMAL = {
    "2d-n-docs": ("platt", "conformal.npz", _map("recall__n_docs", lambda a: a[None, :]),
                  r"recall-control n_docs is not 1 document count "),
    "scalar-n-docs": ("platt", "conformal.npz", _map("recall__n_docs", lambda a: a[0]),
                      r"recall-control n_docs is not 1 document count "),
    "inflated-n-docs": ("isotonic", "conformal.npz", _map("recall__n_docs", lambda a: a * 100),
                        "recall-control weights do not add up to the documents counted"),
    "2d-tail": ("platt", "conformal.npz", _map("recall__tail", lambda a: a[None, :]),
                r"recall-control tail has shape \(1, 3\), expected \(3,\)"),
    "nan-tail": ("platt", "conformal.npz", _set("recall__tail", 0, np.nan),
                 "recall-control tail holds NaN"),
    "unsorted-scores": ("platt", "conformal.npz", _set("recall__scores", 0, 2.0),
                        "recall-control scores is not sorted ascending within group 0"),
    "nan-score": ("isotonic", "conformal.npz", _set("recall__scores", -1, np.nan),
                  "recall-control scores holds NaN"),
    "negative-weights": ("platt", "conformal.npz", _map("recall__weights", lambda a: -a),
                         "recall-control weights holds values"),
    "mondrian-unsorted": ("platt", "conformal.npz", _set("mondrian__scores", 0, 2.0),
                          "Mondrian recall-control scores is not sorted ascending"),
    "lpicp-unsorted": ("platt", "conformal.npz", _set("lpicp__scores", 0, 5.0),
                       "LP-ICP scores is not sorted ascending"),
    "lpicp-nan": ("isotonic", "conformal.npz", _set("lpicp__scores", 0, np.nan),
                  "LP-ICP scores holds NaN"),
    "alpha-0": ("platt", "conformal.json", _conformal_meta(None, alpha=0),
                r"'conformal alpha' must be a number in \(0, 1\), got 0"),
    "alpha-above-1": ("isotonic", "conformal.json", _conformal_meta(None, alpha=1.5),
                      "'conformal alpha'"),
    "alpha-string": ("platt", "conformal.json", _conformal_meta(None, alpha="0.1"),
                     "'conformal alpha'"),
    "max-set-size": ("platt", "conformal.json", _conformal_meta(None, max_set_size="x"),
                     "'conformal max_set_size'"),
    "width-0": ("platt", "conformal.json", _conformal_meta("recall", k=0),
                "'recall-control k' must be an integer >= 1"),
    "lpicp-labels": ("platt", "conformal.json", _conformal_meta("lpicp", n_labels=5),
                     "LP-ICP covers 5 labels, the recall control 3"),
    "mondrian-width": ("isotonic", "conformal.json", _conformal_meta("mondrian", k=5),
                       "the Mondrian recall control covers 3 labels at top-5"),
    "lpicp-narrow": ("platt", "conformal.json", lambda meta: [
        meta[part].update(k=2) for part in ("recall", "mondrian")],
        "LP-ICP needs every label's probability"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED_CONFORMAL))
def test_crafted_conformal_state_is_refused_on_load(confidence_bundles, tmp_path, case):
    _refused_on_load(confidence_bundles, tmp_path, case, CRAFTED_CONFORMAL)


#: a crafted label-shift state: 2-D priors loaded, then every text failed with an
#: IndexError; NaN, string or out-of-range priors adjusted probabilities silently wrongly
CRAFTED_SHIFT = {
    "2d-priors": ("platt", "label_shift.npz",
                  lambda arrays: arrays.update({name: arrays[name][None, :] for name in
                                                ("source_prior", "target_prior")}),
                  r"label-shift source_prior has shape \(1, 3\), expected \(3,\)"),
    "nan-prior": ("platt", "label_shift.npz", _set("target_prior", 0, np.nan),
                  "label-shift target_prior holds NaN"),
    "prior-above-1": ("isotonic", "label_shift.npz", _set("target_prior", 1, 2.0),
                      r"label-shift target_prior holds values in \[.*\], expected finite "
                      r"numbers in \[0, 1\]"),
    "negative-source-prior": ("platt", "label_shift.npz",
                              _map("source_prior", lambda a: -a - 0.1),
                              "label-shift source_prior holds values"),
    "string-prior": ("platt", "label_shift.npz", _map("target_prior", lambda a: a.astype(str)),
                     "label-shift target_prior is not an array of numbers"),
    "short-mask": ("platt", "label_shift.npz", _map("frozen", lambda a: a[:1]),
                   "label-shift frozen is not 3 booleans"),
    "2d-mask": ("isotonic", "label_shift.npz", _map("flat", lambda a: a[None, :]),
                "label-shift flat is not 3 booleans"),
    "method": ("platt", "label_shift.json", lambda meta: meta.update(method="magic"),
               "unknown label-shift method 'magic'"),
    "n-docs": ("platt", "label_shift.json", lambda meta: meta.update(n_docs=0),
               "'label-shift n_docs' must be an integer >= 1"),
    "converged": ("platt", "label_shift.json", lambda meta: meta.update(converged="no"),
                  "label-shift converged is 'no'"),
    "estimated-at": ("platt", "label_shift.json",
                     lambda meta: meta.update(estimated_at="last month"),
                     "label-shift estimated_at is 'last month', not an ISO 8601 date"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED_SHIFT))
def test_crafted_label_shift_state_is_refused_on_load(confidence_bundles, tmp_path, case):
    _refused_on_load(confidence_bundles, tmp_path, case, CRAFTED_SHIFT)


def test_info_shows_the_stored_label_shift_with_its_date_and_size(confidence_bundles,
                                                                  small_bundles, tmp_path,
                                                                  capsys):
    """info printed the manifest alone, which says nothing of a shift saved by shift
    --save, and label_shift.json recorded neither when it was estimated nor how large it
    was: a team could not tell which month's shift a bundle applied. A bundle saved
    before both were recorded loads, and info works its total variation out."""
    from datetime import datetime, timedelta

    from tagsmith.pipeline.classifier import TextClassifier

    path = confidence_bundles["platt"]
    stored = TextClassifier.load(path).label_shift
    code, stdout, _ = _cli_here(capsys, "info", path, "--json")
    assert code == 0
    shown = json.loads(stdout)["label_shift"]
    assert shown["method"] == "em" and shown["n_docs"] == stored.n_docs
    assert shown["total_variation"] == round(stored.total_variation(), 6) > 0
    when = datetime.fromisoformat(shown["estimated_at"])
    assert when.utcoffset() == timedelta(0) and shown["estimated_at"] == stored.estimated_at

    def old(meta):
        del meta["estimated_at"], meta["total_variation"]

    older = _crafted(confidence_bundles, tmp_path, "platt", "label_shift.json", old)
    assert TextClassifier.load(older).label_shift.estimated_at is None
    code, stdout, _ = _cli_here(capsys, "info", older, "--json")
    assert code == 0
    shown = json.loads(stdout)["label_shift"]
    assert "estimated_at" not in shown
    assert shown["total_variation"] == round(stored.total_variation(), 6)
    code, stdout, _ = _cli_here(capsys, "info", small_bundles["linear"])  # none stored
    assert code == 0 and "label_shift" not in json.loads(stdout)


#: crafted thresholds: these loaded, converted as they came: strings of digits parsed, a
#: mask of strings read as all true ("False" too), a source of 7 (or 300, wrapped to
#: int8) counted as no source, a global threshold of "nan" or true taken as NaN or 1.0
CRAFTED_THRESHOLDS = {
    "string-thresholds": ("isotonic", "thresholds.npz",
                          _map("per_label", lambda a: a.astype(str)),
                          r"thresholds per_label is not an array of numbers \(dtype <U"),
    "complex-thresholds": ("platt", "thresholds.npz",
                           _map("per_label", lambda a: a.astype(complex)),
                           "thresholds per_label is not an array of numbers"),
    "bool-thresholds": ("platt", "thresholds.npz", _map("per_label", lambda a: a > 0),
                        "thresholds per_label is not an array of numbers"),
    "nan-threshold": ("isotonic", "thresholds.npz", _set("per_label", 1, np.nan),
                      "thresholds per_label holds NaN"),
    "2d-thresholds": ("platt", "thresholds.npz", _map("per_label", lambda a: a[None, :]),
                      r"thresholds per_label has shape \(1, 3\)"),
    "string-mask": ("platt", "thresholds.npz", _map("tuned_mask", lambda a: a.astype(str)),
                    r"thresholds tuned_mask is not an array of booleans.*dtype <U5"),
    "float-mask": ("isotonic", "thresholds.npz",
                   _map("tuned_mask", lambda a: a.astype(float) / 2),
                   "thresholds tuned_mask is not an array of booleans"),
    "2d-mask": ("isotonic", "thresholds.npz", _map("tuned_mask", lambda a: a[None, :]),
                r"thresholds tuned_mask is not an array of booleans.*shape \(1, 3\)"),
    "source-7": ("platt", "thresholds.npz", _set("source", 0, 7),
                 r"thresholds source holds ids in \[0, 7\], expected them in \[0, 3\)"),
    "wrapping-source": ("isotonic", "thresholds.npz",
                        _map("source", lambda a: a.astype(np.int64) + 256),
                        "thresholds source holds ids"),
    "string-source": ("platt", "thresholds.npz", _map("source", lambda a: a.astype(str)),
                      "thresholds source is not an integer array"),
    "source-disagrees": ("isotonic", "thresholds.npz", _map("source", np.zeros_like),
                         "thresholds source and tuned_mask disagree"),
    "global-nan": ("platt", "thresholds.json", lambda meta: meta.update(global_threshold="nan"),
                   "thresholds global_threshold is 'nan', not a finite number"),
    "global-true": ("isotonic", "thresholds.json",
                    lambda meta: meta.update(global_threshold=True),
                    "thresholds global_threshold is True"),
    "global-string": ("platt", "thresholds.json",
                      lambda meta: meta.update(global_threshold="0.5"),
                      "thresholds global_threshold is '0.5'"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED_THRESHOLDS))
def test_crafted_thresholds_are_refused_on_load(confidence_bundles, tmp_path, case):
    _refused_on_load(confidence_bundles, tmp_path, case, CRAFTED_THRESHOLDS)


def test_an_infinite_threshold_still_loads(confidence_bundles, tmp_path):
    """inf is what training gives a label the model never learnt (never suggested): it
    is a threshold, unlike NaN."""
    from tagsmith.pipeline.classifier import TextClassifier

    path = _crafted(confidence_bundles, tmp_path, "isotonic", "thresholds.npz",
                    _set("per_label", 0, np.inf))
    clf = TextClassifier.load(path)
    assert np.isposinf(clf.thresholds.per_label[0])
    assert all(s.label_id != 0 for row in clf.suggest(["good fine great"] * 3) for s in row)


def _label_twice(arrays):
    """The second label of the first document with two stored as its first again."""
    indptr, indices = arrays["y_indptr"], arrays["y_indices"].copy()
    row = int(np.flatnonzero(np.diff(indptr) >= 2)[0])
    indices[indptr[row] + 1] = indices[indptr[row]]
    arrays["y_indices"] = indices


#: a crafted calibration split (train --calibration-fraction, calibrate --data): bad
#: labels loaded, then tagsmith calibrate (without --data) and shift --method bbse failed
#: with an error about a parameter 'y_true' or 'source_y' nobody passed (exit code 2);
#: row ids and n_labels of another type were converted as they came
CRAFTED_SPLIT = {
    "label-2": ("platt", "calibration_split.npz", _set("y_data", 0, 2.0),
                "calibration split labels hold 2, expected labels 0 or 1"),
    "label-nan": ("isotonic", "calibration_split.npz", _set("y_data", 1, np.nan),
                  "calibration split labels hold nan"),
    "label-negative": ("platt", "calibration_split.npz", _set("y_data", 0, -1.0),
                       "calibration split labels hold -1"),
    "soft-labels": ("isotonic", "calibration_split.npz", _map("y_data", lambda a: a / 2),
                    "calibration split labels hold 0.5"),
    "label-twice": ("platt", "calibration_split.npz", _label_twice,
                    r"calibration split labels store label \d+ of document \d+ 2 times "
                    r"\(counted from 0\), expected each once"),
    "string-rows": ("platt", "calibration_split.npz", _map("rows", lambda a: a.astype(str)),
                    "calibration split rows is not an integer array"),
    "fractional-rows": ("isotonic", "calibration_split.npz", _map("rows", lambda a: a + 0.5),
                        "calibration split rows is not an integer array"),
    "negative-row": ("platt", "calibration_split.npz", _set("rows", 0, -3),
                     "calibration split rows hold -3, expected row ids >= 0"),
    "repeated-row": ("platt", "calibration_split.npz",
                     lambda arrays: _set("rows", 1, arrays["rows"][0])(arrays),
                     "calibration split rows name a document twice"),
    "2d-rows": ("isotonic", "calibration_split.npz", _map("rows", lambda a: a[None, :]),
                r"calibration split rows has shape \(1, \d+\), expected \(\d+,\)"),
    "fractional-n-labels": ("platt", "calibration_split.json",
                            lambda meta: meta.update(n_labels=3.5),
                            "'calibration split n_labels' must be an integer >= 0"),
    "string-n-labels": ("platt", "calibration_split.json",
                        lambda meta: meta.update(n_labels="3"),
                        "'calibration split n_labels' must be an integer >= 0, got '3'"),
    "source": ("isotonic", "calibration_split.json", lambda meta: meta.update(source=None),
               "calibration split source is None, not a description"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED_SPLIT))
def test_crafted_calibration_split_is_refused_on_load(confidence_bundles, tmp_path, case):
    _refused_on_load(confidence_bundles, tmp_path, case, CRAFTED_SPLIT)


def test_crafted_calibration_split_is_exit_code_4_in_calibrate(confidence_bundles, tmp_path):
    """calibrate without --data refits on the stored split: a label of 2 there was exit
    code 2 blaming a parameter 'y_true' the user never passed."""
    import subprocess
    import sys

    family, name, edit, message = CRAFTED_SPLIT["label-2"]
    path = _crafted(confidence_bundles, tmp_path, family, name, edit)
    done = subprocess.run([sys.executable, "-m", "tagsmith", "calibrate", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 4 and "Traceback" not in done.stderr, done.stderr
    assert str(path) in done.stderr and message in done.stderr, done.stderr
    assert "y_true" not in done.stderr


@pytest.mark.parametrize("cases, case", [(CRAFTED_CALIBRATOR, "string-params"),
                                         (CRAFTED_THRESHOLDS, "string-mask"),
                                         (CRAFTED_CONFORMAL, "2d-n-docs"),
                                         (CRAFTED_SHIFT, "2d-priors")])
def test_crafted_confidence_state_is_exit_code_4_in_the_cli(confidence_bundles, tmp_path,
                                                            cases, case, capsys):
    """It was exit code 1 with a traceback, on the first text of suggest (--sets)."""
    family, name, edit, message = cases[case]
    path = _crafted(confidence_bundles, tmp_path, family, name, edit)
    code, stderr = _suggest_here(capsys, path, tmp_path)
    assert code == 4 and "Traceback" not in stderr, stderr
    assert str(path) in stderr and re.search(message, stderr), stderr


# -- negative Platt slopes: clipped at load, with a warning -----------------------------------
def test_negative_platt_slopes_are_clipped_at_load_with_a_warning(confidence_bundles, tmp_path,
                                                                  caplog):
    """Bundles calibrated before slopes were kept >= 0 (or crafted ones) loaded their
    negative slopes as they were: that label's probability fell as its score rose, so
    its worst candidates came out as its most probable ones, without a word. Now the
    slope is set to 0 (a constant probability) and the load warns, naming the bundle;
    the bundle stays loadable, so tagsmith calibrate can refit it."""
    import logging

    from tagsmith.pipeline.classifier import TextClassifier

    def negate(arrays):
        params = arrays["label_params"].copy()
        assert params[1, 0] > 0
        params[1, 0] = -params[1, 0]
        arrays["label_params"] = params

    path = _crafted(confidence_bundles, tmp_path, "platt", "calibrator.npz", negate)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        clf = TextClassifier.load(path)
    warned = [r.getMessage() for r in caplog.records if "negative slopes" in r.getMessage()]
    assert len(warned) == 1 and str(path) in warned[0], warned
    assert "label_params" in warned[0] and "1 of 3 labels (label id 1)" in warned[0]
    assert clf.calibrator.label_params[:, 0].min() >= 0
    grid = np.linspace(0.0, 1.0, 41)
    probs = clf.calibrator.probabilities(np.full(grid.size, 1), grid)
    assert np.all(np.diff(probs) >= 0)  # inverted: fell from about 1 to about 0
    # the other labels are as fitted
    good = TextClassifier.load(confidence_bundles["platt"])
    for label in (0, 2):
        assert np.array_equal(clf.calibrator.probabilities(np.full(grid.size, label), grid),
                              good.calibrator.probabilities(np.full(grid.size, label), grid))
    code, stderr = _cli_exit(path, tmp_path)  # the command line shows the warning
    assert code == 0 and "negative slopes" in stderr and str(path) in stderr, stderr


def test_untampered_platt_bundle_loads_without_a_slope_warning(confidence_bundles, caplog):
    import logging

    from tagsmith.pipeline.classifier import TextClassifier

    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        TextClassifier.load(confidence_bundles["platt"])
    assert not [r for r in caplog.records if "negative slopes" in r.getMessage()]


@pytest.mark.parametrize("dtype", [str, np.int8, np.float64])
def test_training_text_hashes_of_another_type_are_refused_on_load(confidence_bundles, tmp_path,
                                                                  dtype):
    """The hashes guard calibrate --data against training documents:
    stored as strings or int8 they matched no text, and a bundle's own training corpus
    was taken as held-out data without a word (float64 rounds 8-byte hashes)."""
    from tagsmith.pipeline.classifier import TextClassifier

    path = _crafted(confidence_bundles, tmp_path, "platt", "train_texts.npz",
                    _map("hashes", lambda a: a.astype(dtype)))
    with pytest.raises(BundleError, match="train_texts.npz hashes are not a 1-D array of "
                                          "8-byte unsigned integers") as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("family, key", [("linear", "n_features"), ("knn", "n_labels"),
                                         ("knn", "n_docs")])
def test_a_count_beyond_int64_in_model_json_is_a_bundle_error(small_bundles, tmp_path, family,
                                                              key, capsys):
    """A count no matrix can have (``"n_features": 10**30``, which JSON holds) escaped load
    as scipy's or numpy's OverflowError: exit code 1 and a traceback, not 4."""
    import shutil

    path = tmp_path / "b"
    shutil.copytree(small_bundles[family], path)

    def huge(meta):
        meta[key] = 10 ** 30
        return meta

    _json_edit("model.json", huge)(path)
    from tagsmith.pipeline.classifier import TextClassifier

    with pytest.raises(BundleError, match="damaged") as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)
    code, stderr = _suggest_here(capsys, path, tmp_path)
    assert code == 4, stderr


def _cast(key, convert):
    def edit(arrays):
        arrays[key] = convert(arrays[key])
    return edit


WRONG_DTYPES = {
    "linear-intercept-strings": ("linear", _cast("intercept", lambda a: a.astype("U8"))),
    "linear-intercept-records": ("linear", _cast(
        "intercept", lambda a: np.zeros(a.shape, dtype=[("x", "<f4")]))),
    "linear-coef-complex": ("linear", _cast("coef_data", lambda a: a + 1j)),
    "knn-weights-complex": ("knn", _cast("doc_weight", lambda a: a + 1j)),
    "tree-bias-strings": ("tree", _cast("slot_bias", lambda a: a.astype("U8"))),
    "tree-ids-floats": ("tree", _cast("feat_ids", lambda a: a + 0.7)),
    "tree-targets-strings": ("tree", _cast("slot_target", lambda a: a.astype("U8"))),
    "tree-weights-complex": ("tree", _cast("entry_val", lambda a: a + 1j)),
}


@pytest.mark.parametrize("case", sorted(WRONG_DTYPES))
def test_model_arrays_of_a_dtype_tagsmith_never_writes_are_refused(small_bundles, tmp_path,
                                                                   case):
    """Arrays were cast to the dtype wanted whatever they held: strings parsed as numbers,
    float ids truncated, a record array read as zeros, complex weights stripped of their
    imaginary part; the tampered bundle loaded and predicted something else."""
    from tagsmith.pipeline.classifier import TextClassifier

    family, edit = WRONG_DTYPES[case]
    path = _tamper(small_bundles[family], tmp_path / "b", "model.npz", edit)
    with pytest.raises(BundleError, match="dtype") as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("spelling", [".", ""])
@pytest.mark.parametrize("existing", [True, False])
def test_a_bundle_saved_to_the_current_folder_replaces_it(tmp_path, monkeypatch, existing,
                                                          spelling):
    # '-o .': the target's name is '', so the writer staged the new bundle inside the
    # target itself ('..tmp-*') and then refused the target for holding that folder,
    # after the whole training, naming a temporary it had made itself
    (tmp_path / "b").mkdir()
    if existing:
        write(tmp_path / "b", 1.0)
    monkeypatch.chdir(tmp_path / "b")
    write(Path(spelling), 2.0)
    assert Bundle(tmp_path / "b").read_json("meta.json") == {"a": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


@pytest.mark.parametrize("family, param, value", [
    ("linear", "C", -1.0), ("linear", "loss", "hinge"), ("linear", "max_iter", 0),
    ("linear", "tol", "0.1"), ("tree", "leaf_size", 1), ("knn", "n_neighbors", 0)])
def test_bad_model_parameters_in_model_json_are_refused_on_load(small_bundles, tmp_path,
                                                                family, param, value):
    """A linear model's saved parameters were not checked on load: the bundle loaded, and
    audit --bundle, which refits with them, failed deep inside training naming a
    parameter the user never typed. Every family now refuses them as a damaged bundle."""
    import shutil

    from tagsmith.pipeline.classifier import TextClassifier

    path = tmp_path / "b"
    shutil.copytree(small_bundles[family], path)
    _edit_json(path, "model.json", lambda meta: meta["params"].update({param: value}))
    with pytest.raises(BundleError, match=rf"parameter '{param}' must be") as info:
        TextClassifier.load(path)
    assert str(path) in str(info.value)
    if param == "C":
        code, stderr = _cli_exit(path, tmp_path)
        assert code == 4 and "'C'" in stderr, stderr


def test_a_linear_bundle_with_a_negative_seed_still_loads(small_bundles, tmp_path):
    # written before seeds were checked (an integer >= 0): prediction never reads it
    import shutil

    from tagsmith.pipeline.classifier import TextClassifier

    path = tmp_path / "b"
    shutil.copytree(small_bundles["linear"], path)
    _edit_json(path, "model.json", lambda meta: meta["params"].update(random_state=-3))
    loaded = TextClassifier.load(path)
    assert loaded.model.random_state == -3
    expected = TextClassifier.load(small_bundles["linear"]).predict_topk(["a text"], 3)
    got = loaded.predict_topk(["a text"], 3)
    np.testing.assert_array_equal(got.indices, expected.indices)


def test_a_bundle_saved_in_place_through_a_link_is_saved_where_it_points(tmp_path,
                                                                          monkeypatch):
    """A bundle loaded through a link and saved back (calibrate L) replaced the link with
    a folder of its own, the bundle it pointed to left unchanged. A reader through the
    link takes turns with saves in the bundle's folder too, as one through its path does."""
    from contextlib import nullcontext

    import tagsmith.store.bundle as bundle_module

    (tmp_path / "store").mkdir()
    (tmp_path / "links").mkdir()
    write(tmp_path / "store" / "v1", 1.0)
    link = tmp_path / "links" / "current"
    link.symlink_to(tmp_path / "store" / "v1")
    with Bundle(link) as loaded:
        replaces = loaded.manifest
    writer = BundleWriter(link, replaces=replaces)
    writer.add_json("meta.json", {"a": 2.0})
    writer.commit()
    assert link.is_symlink() and link.resolve() == tmp_path / "store" / "v1"
    with Bundle(tmp_path / "store" / "v1") as bundle:
        assert bundle.read_json("meta.json") == {"a": 2.0}
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["v1"]
    assert sorted(p.name for p in (tmp_path / "links").iterdir()) == ["current"]
    locked = []
    monkeypatch.setattr(bundle_module, "_folder_lock",
                        lambda folder, shared=False: locked.append((folder, shared))
                        or nullcontext())
    Bundle(link).close()
    assert locked == [(tmp_path / "links", True), (tmp_path / "store", True)]


def test_a_reader_through_a_chain_of_links_takes_turns_with_saves_in_each_folder(
        tmp_path, monkeypatch):
    """A reader through links/L -> middle/L2 -> store/v1 locked links and store, not
    middle, where a save to middle/L2 (train -o middle/L2) swaps the folders: read
    meanwhile, the bundle was the old manifest and the new files."""
    from contextlib import nullcontext

    import tagsmith.store.bundle as bundle_module

    for name in ("links", "middle", "store"):
        (tmp_path / name).mkdir()
    write(tmp_path / "store" / "v1", 1.0)
    (tmp_path / "middle" / "L2").symlink_to("../store/v1")
    (tmp_path / "links" / "L").symlink_to(tmp_path / "middle" / "L2")
    locked = []
    monkeypatch.setattr(bundle_module, "_folder_lock",
                        lambda folder, shared=False: locked.append(folder) or nullcontext())
    Bundle(tmp_path / "links" / "L").close()
    assert locked == [tmp_path / "links", tmp_path / "middle", tmp_path / "store"]
    locked.clear()
    (tmp_path / "loop").symlink_to("loop")  # a loop of links: no bundle, no hang
    with pytest.raises(BundleError):
        Bundle(tmp_path / "loop")
    assert locked == [tmp_path]


def test_saving_over_a_link_to_nowhere_replaces_the_link(tmp_path):
    """A symbolic link to a missing path passed the target check (nothing exists there)
    and then rename(2) refused to put the new bundle in its place: NotADirectoryError
    naming the '.current.tmp-*' staging folder, after the whole training."""
    (tmp_path / "current").symlink_to("v9")
    write(tmp_path / "current", 2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current"]
    assert not (tmp_path / "current").is_symlink()
    with Bundle(tmp_path / "current") as bundle:
        assert bundle.read_json("meta.json") == {"a": 2.0}


def test_a_save_while_another_replaces_the_bundle_waits_for_it(tmp_path, monkeypatch):
    """Two saves to one path (two trainings at once): the second, run while the first
    had moved the old bundle aside, put its bundle in place, so the first failed with
    'Directory not empty' naming its staging folder, and the old bundle stayed behind
    as '.b.old-*'. Saves to one folder now take turns; the last one wins."""
    import threading

    import tagsmith.store.bundle as bundle_module

    write(tmp_path / "b", 1.0)
    real_rename = bundle_module.os.rename
    first = threading.current_thread()
    other = threading.Thread(target=write, args=(tmp_path / "b", 3.0))

    def rename(src, dst):
        real_rename(src, dst)
        if threading.current_thread() is first and not other.is_alive() \
                and other.ident is None:  # the old bundle is aside: a second save starts
            other.start()
            other.join(timeout=2)

    monkeypatch.setattr(bundle_module.os, "rename", rename)
    write(tmp_path / "b", 2.0)
    other.join(timeout=30)
    assert not other.is_alive()
    with Bundle(tmp_path / "b") as bundle:
        assert bundle.read_json("meta.json") == {"a": 3.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_a_save_waits_for_the_lock_on_its_folder(tmp_path):
    """Saves to one folder take turns under an flock on the folder itself, which
    leaves no lock file behind: a save started while another holds it waits."""
    import fcntl
    import threading
    import time

    write(tmp_path / "b", 1.0)
    handle = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH)  # a reader's: the save waits, readers do not
        saver = threading.Thread(target=write, args=(tmp_path / "b", 2.0))
        saver.start()
        time.sleep(0.5)
        with Bundle(tmp_path / "b") as bundle:  # not replaced while the lock is held
            assert bundle.read_json("meta.json") == {"a": 1.0}
        assert saver.is_alive()
    finally:
        os.close(handle)
    saver.join(timeout=30)
    with Bundle(tmp_path / "b") as bundle:
        assert bundle.read_json("meta.json") == {"a": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


# a save swapping the folders, as _replace_directory does, in another process: under
# the folder's exclusive lock it moves the old bundle aside, says so, waits, puts the new
# one in place (or, with HALF, leaves a half-deleted folder there a moment), deletes the
# old one and lets the lock go
_SWAP = """
import fcntl, os, shutil, sys, time
folder, ready, half = sys.argv[1], sys.argv[2], sys.argv[3] == "half"
handle = os.open(folder, os.O_RDONLY)
fcntl.flock(handle, fcntl.LOCK_EX)
os.rename(os.path.join(folder, "b"), os.path.join(folder, ".b.old"))
if half:
    os.mkdir(os.path.join(folder, "b"))
    shutil.copy(os.path.join(folder, ".b.old", "meta.json"), os.path.join(folder, "b"))
open(ready, "w").close()
time.sleep(1.0)
if half:
    shutil.rmtree(os.path.join(folder, "b"))
os.rename(os.path.join(folder, "new"), os.path.join(folder, "b"))
shutil.rmtree(os.path.join(folder, ".b.old"))
"""


def _swapping(tmp_path, half=False):
    """Start :data:`_SWAP` on ``tmp_path/b`` (bundle 1.0 -> 2.0) and return the process
    once the old bundle is aside."""
    import subprocess
    import sys
    import time

    write(tmp_path / "b", 1.0)
    write(tmp_path / "new", 2.0)
    ready = tmp_path.parent / f"{tmp_path.name}.ready"
    process = subprocess.Popen([sys.executable, "-c", _SWAP, str(tmp_path), str(ready),
                                "half" if half else "whole"])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    return process


def test_a_bundle_opened_while_another_process_replaces_it_is_the_new_one(tmp_path):
    """Opening a bundle while a save in another process swapped the folders (a service
    reloading the model a training is replacing) read 'no such model bundle' between
    the renames, or the old manifest with the new files as 'file ... is damaged
    (checksum mismatch)' (about 2% of loads against a save loop). A reader now holds
    the folder's lock shared, so it waits for the swap and opens the new bundle."""
    process = _swapping(tmp_path)
    try:
        with Bundle(tmp_path / "b") as bundle:
            assert bundle.read_json("meta.json") == {"a": 2.0}
            assert bundle.read_arrays("arrays.npz")["x"][1] == 2.0
    finally:
        assert process.wait(timeout=60) == 0


def test_a_save_started_while_another_process_replaces_the_target_is_not_refused(tmp_path):
    """The check that the target is a bundle it may replace looked at the folder while
    another save swapped it, and could list the replaced folder half deleted (its
    manifest gone, other files left): the second training was refused with 'exists, is
    not empty and is not a model bundle' after its whole run. The check now waits for
    the swap under the folder's lock."""
    from tagsmith.store.bundle import check_bundle_target

    process = _swapping(tmp_path, half=True)
    try:
        assert check_bundle_target(tmp_path / "b") == tmp_path / "b"
        write(tmp_path / "b", 3.0)
    finally:
        assert process.wait(timeout=60) == 0
    with Bundle(tmp_path / "b") as bundle:
        assert bundle.read_json("meta.json") == {"a": 3.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_a_long_bundle_name_the_file_system_takes_is_saved(tmp_path):
    """The staging folder is named '.NAME.tmp-XXXXXXXX', 14 bytes more than NAME: a
    bundle named with 242 to 255 characters failed with 'File name too long' once
    written, after the whole training; a longer name than the file system takes is
    refused by the check commands make before training, naming the limit."""
    from tagsmith.exceptions import BundleTargetError
    from tagsmith.store.bundle import check_bundle_target

    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    name = "m" * limit
    write(tmp_path / name, 1.0)
    write(tmp_path / name, 2.0)  # replaced: its old copy is moved aside under a prefix too
    with Bundle(tmp_path / name) as bundle:
        assert bundle.read_json("meta.json") == {"a": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    with pytest.raises(BundleTargetError, match=rf"{limit + 1} bytes long, more than the "
                                                rf"{limit}") as info:
        check_bundle_target(tmp_path / (name + "m"))
    assert name in str(info.value)


# a save killed outright (SIGKILL, the OOM killer) at one of its two renames: the
# process kills itself as os.rename is called on the bundle's path, so the moment is exact
_KILLED_SAVE = """
import os, signal, sys
import numpy as np
from tagsmith.store.bundle import BundleWriter
target, when = os.path.abspath(sys.argv[1]), sys.argv[2]
rename = os.rename
def killing_rename(src, dst):
    if os.path.abspath(src if when == "aside" else dst) == target:
        os.kill(os.getpid(), signal.SIGKILL)
    rename(src, dst)
os.rename = killing_rename
writer = BundleWriter(target)
writer.add_json("meta.json", {"a": 9.0})
writer.add_arrays("arrays.npz", {"x": np.arange(5, dtype=np.float32)})
writer.commit()
"""


def _killed_save(target, when):
    import signal
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(target), when],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done


def _left(folder):
    return sorted(p.name for p in folder.iterdir())


def test_the_next_save_removes_what_a_save_killed_before_its_renames_left(tmp_path, caplog):
    """A save killed outright (SIGKILL) cannot clean up: its '.NAME.tmp-*' staging folder
    stayed beside the bundle forever. It is named after its host and process now, and
    the next save to that path removes it once that process no longer runs."""
    import logging

    write(tmp_path / "b", 1.0)
    _killed_save(tmp_path / "b", "aside")
    staging = [name for name in _left(tmp_path) if name != "b"]
    assert len(staging) == 1 and staging[0].startswith(".b.tmp-")
    with Bundle(tmp_path / "b") as bundle:  # the kill left the bundle in place
        assert bundle.read_json("meta.json") == {"a": 1.0}
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        write(tmp_path / "b", 2.0)
    assert _left(tmp_path) == ["b"]
    assert f"removed {tmp_path / staging[0]}" in caplog.text


def test_a_save_killed_between_its_renames_leaves_the_good_bundle_named(tmp_path, caplog):
    """Killed between its two renames, a save left the bundle it replaced as
    '.NAME.old-*' and nothing at its path: loading it said 'no such model bundle' and
    nothing told where the bundle was. Loading names it and how to put it back; the
    next save removes the staging folder but keeps that bundle (the target is
    missing: it is the last good one), and a save after that removes it."""
    import logging
    import shlex

    target = tmp_path / "b"
    write(target, 1.0)
    _killed_save(target, "in")
    old = [tmp_path / name for name in _left(tmp_path) if name.startswith(".b.old-")]
    assert len(old) == 1 and not target.exists()
    with pytest.raises(BundleError) as info:
        Bundle(target)
    message = str(info.value)
    assert "a save to it was interrupted" in message
    assert f"mv {shlex.quote(str(old[0]))} {shlex.quote(str(target))}" in message

    with caplog.at_level(logging.INFO, logger="tagsmith"):
        write(target, 2.0)
    assert _left(tmp_path) == [old[0].name, "b"]  # the staging folder went, the bundle stays
    assert f"{old[0]} holds the bundle that was at {target}" in caplog.text
    with Bundle(old[0]) as bundle:
        assert bundle.read_json("meta.json") == {"a": 1.0}
    write(target, 3.0)  # the target exists now: the moved-aside bundle is removable
    assert _left(tmp_path) == ["b"]


def test_the_mv_advice_for_a_bundle_named_with_a_leading_dash_runs_as_given(tmp_path,
                                                                          monkeypatch):
    """A bundle -b left moved aside by a killed save was told 'mv .-b.old-... -b': pasted,
    mv took -b for its --backup option and restored nothing. The advice names ./-b."""
    import subprocess

    monkeypatch.chdir(tmp_path)
    target = Path("-b")
    write(target, 1.0)
    _killed_save(target, "in")
    with pytest.raises(BundleError) as info:
        Bundle(target)
    command = "mv " + str(info.value).split("(mv ", 1)[1].rsplit(")", 1)[0]
    assert command.endswith(" ./-b"), command
    subprocess.run(command, shell=True, check=True)
    with Bundle(target) as bundle:
        assert bundle.read_json("meta.json") == {"a": 1.0}


def test_the_clean_up_removes_only_dead_processes_folders_of_its_own_target(tmp_path):
    """Another process may be saving now: only folders of this target, of this host, of
    a process that no longer runs go; another host's, a live process's (this one; pid
    1, another user's unless run as root), another target's (a long name sharing the
    first 64 bytes too), and names without host and pid are kept."""
    import subprocess
    import sys

    from tagsmith.store.staging import _host
    from tagsmith.store.staging import short_name as _short

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = _host()
    long_a, long_b = "a" * 100 + "1", "a" * 100 + "2"
    removed = [f".m.tmp-{host}-{dead.pid}-abcd1234", f".m.old-{host}-{dead.pid}-x_y2z3w4",
               f".{_short(long_a)}.tmp-{host}-{dead.pid}-abcd1234"]
    kept = [f".m.tmp-{host}-{os.getpid()}-abcd1234", f".m.tmp-{host}-1-abcd1234",
            f".m.tmp-other{host}-{dead.pid}-abcd1234", f".m.tmp-{host}x-{dead.pid}-abcd1234",
            ".m.tmp-abcd1234", ".m.old-abcd1234", f".m.tmp-{host}-{dead.pid}-abc.1234",
            f".m.tmp-{host}-{dead.pid}", f".n.tmp-{host}-{dead.pid}-abcd1234",
            f".m.tmp-x.tmp-{host}-{dead.pid}-abcd1234", f".mm.old-{host}-{dead.pid}-abcd1234",
            f".{_short(long_b)}.old-{host}-{dead.pid}-abcd1234"]
    for name in removed + kept:
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
    write(tmp_path / "m", 1.0)
    write(tmp_path / "m", 2.0)
    write(tmp_path / long_a, 1.0)
    write(tmp_path / long_a, 2.0)  # it exists: a stale '.old' of its own would go
    assert _left(tmp_path) == sorted(kept + ["m", long_a])


def test_a_bundle_name_of_255_bytes_in_any_script_is_saved(tmp_path):
    """The staging folder's prefix was cut at 64 characters, up to 256 bytes: a name of
    63 emoji (252 bytes, which the file system takes) failed with 'File name too long'
    once the bundle was written."""
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    name = "\N{GRINNING FACE}" * (limit // 4)
    write(tmp_path / name, 1.0)
    write(tmp_path / name, 2.0)
    with Bundle(tmp_path / name) as bundle:
        assert bundle.read_json("meta.json") == {"a": 2.0}
    assert _left(tmp_path) == [name]


@pytest.mark.skipif(not os.path.exists("/proc/self/ns/pid"), reason="no PID namespaces")
def test_the_clean_up_keeps_folders_of_another_pid_namespace_of_the_same_host(tmp_path):
    """Staging folders were named HOST-PID: two containers with one host name (a shared
    volume) number their processes separately, so a save in one took the other's live
    save for dead when that PID did not run here. The owner holds the PID namespace now
    (HOST~NS-PID): another namespace's folder is kept; this namespace's and one named
    without a namespace (before) are judged by their PID."""
    import subprocess
    import sys

    from tagsmith.store.staging import _host, owner_tag

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host, ours = _host(), os.stat("/proc/self/ns/pid").st_ino
    assert owner_tag() == f"{host}~{ours}-{os.getpid()}"
    removed = [f".m.tmp-{host}~{ours}-{dead.pid}-abcd1234", f".m.old-{host}-{dead.pid}-abcd1234"]
    kept = [f".m.tmp-{host}~{ours + 1}-{dead.pid}-abcd1234",
            f".m.old-{host}~4026531836{ours}-{dead.pid}-abcd1234",
            f".m.tmp-{host}~-{dead.pid}-abcd1234", f".m.tmp-{host}~{ours}-{os.getpid()}-abcd1234"]
    for name in removed + kept:
        (tmp_path / name).mkdir()
    write(tmp_path / "m", 1.0)
    write(tmp_path / "m", 2.0)
    assert _left(tmp_path) == sorted(kept + ["m"])


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_that_refuses_the_staging_folder_is_an_output_error(tmp_path):
    """/proc passes the writability check for root, then refuses the mkdir: the save
    ended in a FileNotFoundError traceback (exit code 1), after the training. It is now
    the refusal of an output path, naming it (exit code 3), whoever runs it."""
    from tagsmith.exceptions import BundleTargetError

    with pytest.raises(BundleTargetError, match="/proc/tagsmith-no-bundle"):
        write(Path("/proc/tagsmith-no-bundle"))
    assert not os.path.exists("/proc/tagsmith-no-bundle")


def test_a_manifest_growing_as_it_is_read_is_read_no_further_than_the_cap(tmp_path,
                                                                          monkeypatch):
    """The cap was checked by one read, then the file read again from the start with
    no limit: a manifest.json growing meanwhile (being written) was read whole. It is
    read once, at most MAX_MANIFEST_BYTES + 1 bytes."""
    from tagsmith.store import bundle as bundle_module

    path = write(tmp_path / "b")
    monkeypatch.setattr(bundle_module, "MAX_MANIFEST_BYTES", 100_000)
    opened = bundle_module._open_regular
    sizes: list[int] = []

    class Growing:
        def __init__(self, handle):
            self.handle = handle

        def read(self, size=-1):
            data = self.handle.read(size)
            sizes.append(len(data))
            with open(path / "manifest.json", "ab") as grow:  # spaces: still JSON
                grow.write(b" " * 200_000)
            return data

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    def growing(file, name, bundle):
        handle = opened(file, name, bundle)
        return Growing(handle) if name == "manifest.json" else handle

    monkeypatch.setattr(bundle_module, "_open_regular", growing)
    assert bundle_module.is_bundle(path)
    assert sizes and max(sizes) <= 100_001


def test_replacements_are_saved_and_a_bundle_saved_before_them_loads(tmp_path):
    """A bundle keeps its vocabulary's replacements of deprecated labels; one written
    before they were saved (no ``replaced_by`` key) loads with none, and both have the
    fingerprint of the same ids."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import Label, LabelSpace
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    space = LabelSpace([Label("u:pos"), Label("u:neg"),
                        Label("u:odd", deprecated=True, replaced_by=["u:pos"])])
    rows = [[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1], [1, 0, 0], [0, 1, 0]] * 6
    path = train_classifier(_CORPUS, sp.csr_matrix(np.array(rows)), space, options=TrainOptions(
        model="linear", dev_fraction=0.0, min_support=1,
        featurizer_params={"char_ngrams": None, "min_df": 1})).save(tmp_path / "b")
    saved = json.loads((path / "label_space.json").read_text())
    assert saved["labels"][2]["replaced_by"] == ["u:pos"]
    loaded = TextClassifier.load(path).label_space
    assert loaded.replacements() == {2: [0]}

    for label in saved["labels"]:  # as the previous format wrote it
        label.pop("replaced_by", None)
    (path / "label_space.json").write_text(json.dumps(saved))
    _rehash(path, "label_space.json")
    older = TextClassifier.load(path).label_space
    assert older.replacements() == {} and older[2].deprecated
    assert older.fingerprint == loaded.fingerprint


def test_calibrated_thresholds_keep_each_labels_band_and_older_bundles_load_without(
        small_bundles, tmp_path):
    """A calibrated bundle's thresholds record each label's frequency band (band_of in
    thresholds.npz, their names in thresholds.json): never_untrained needed the bands
    passed to tell which capped bands keep labels, and raised without them. A bundle
    saved before they were kept (neither there) loads and predicts alike, without
    them; a crafted band_of is refused as a damaged bundle."""
    from tagsmith.pipeline.classifier import TextClassifier

    clf = TextClassifier.load(small_bundles["linear"])
    assert clf.calibrator is not None and clf.thresholds.band_of is not None
    np.testing.assert_array_equal(clf.thresholds.band_of, clf.calibrator.bands.band_of)
    assert clf.thresholds.band_names == tuple(clf.calibrator.bands.names())
    older = _tamper(small_bundles["linear"], tmp_path / "older", "thresholds.npz",
                    lambda arrays: arrays.pop("band_of"))
    _json_edit("thresholds.json", lambda meta: {k: v for k, v in meta.items()
                                                if k != "band_names"})(older)
    loaded = TextClassifier.load(older)
    assert loaded.thresholds.band_of is None and loaded.thresholds.band_names == ()
    np.testing.assert_array_equal(loaded.thresholds.per_label, clf.thresholds.per_label)
    assert (loaded.label_sets(loaded.predict_topk(_CORPUS, 3))
            != clf.label_sets(clf.predict_topk(_CORPUS, 3))).nnz == 0
    crafted = _tamper(small_bundles["linear"], tmp_path / "crafted", "thresholds.npz",
                      _replace("band_of", np.full(clf.n_labels, 99, np.int16)))
    with pytest.raises(BundleError, match="thresholds band_of"):
        TextClassifier.load(crafted)


def test_equal_arrays_make_the_same_npz_bytes_wherever_they_are_written(tmp_path, monkeypatch):
    """numpy.savez left each member's date and system to zipfile, and a Windows Python
    marks a member as written on Windows: the same arrays saved there made another
    file, and another checksum in the manifest, so a user could not tell two bundles of
    one model apart from two models by their files. Every member is now dated
    1980-01-01 and marked as written on Unix, in the order the arrays were given."""
    import sys
    import zipfile

    arrays = {"b": np.arange(5, dtype=np.int32), "a": np.linspace(0.0, 1.0, 4)}

    def save(name):
        writer = BundleWriter(tmp_path / name)
        writer.add_json("meta.json", {"k": 1})
        writer.add_arrays("part.npz", arrays)
        return writer.commit()

    here = save("here")
    with monkeypatch.context() as patched:
        patched.setattr(sys, "platform", "win32")  # zipfile's default system: Windows
        there = save("there")
    assert (here / "part.npz").read_bytes() == (there / "part.npz").read_bytes()
    recorded = [json.loads((b / "manifest.json").read_text())["files"] for b in (here, there)]
    assert recorded[0] == recorded[1]
    with zipfile.ZipFile(there / "part.npz") as archive:
        assert [(m.filename, m.date_time, m.create_system, m.compress_type)
                for m in archive.infolist()] == [
            (f"{key}.npy", (1980, 1, 1, 0, 0, 0), 3, zipfile.ZIP_STORED) for key in "ba"]
    with Bundle(there) as bundle:
        loaded = bundle.read_arrays("part.npz", keys=("a", "b"))
    assert list(loaded) == ["b", "a"]
    for key, array in arrays.items():
        assert loaded[key].dtype == array.dtype and np.array_equal(loaded[key], array)


def test_info_refuses_a_damaged_older_label_shift_as_loading_does(confidence_bundles,
                                                                  tmp_path, capsys):
    """info worked an older bundle's shift size out of its priors without the loader's
    checks: 2-D priors, which loading refuses as damaged, were shown with a total
    variation as if sound."""
    def old(meta):
        del meta["estimated_at"], meta["total_variation"]

    older = _crafted(confidence_bundles, tmp_path / "old", "platt", "label_shift.json", old)
    damaged = _crafted({"platt": older}, tmp_path / "damaged", "platt", "label_shift.npz",
                       lambda arrays: arrays.update({name: arrays[name][None, :] for name in
                                                     ("source_prior", "target_prior")}))
    code, stdout, stderr = _cli_here(capsys, "info", damaged, "--json")
    assert code != 0 and stdout == ""
    assert "label-shift source_prior has shape (1, 3), expected (3,)" in stderr
    assert "label_shift.json, label_shift.npz" in stderr
