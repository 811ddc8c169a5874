"""suggest --explain and TextClassifier.explain: the terms supporting a suggested label."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.cli.commands import _suggest_batch
from tagsmith.data.labelspace import LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.explain import Evidence
from tagsmith.pipeline.train import TrainOptions, train_classifier

tagsmith_cli._register_commands()
FILLER = "the a order item shipping today thanks hello customer please".split()
DOCS = "please refund my order\nI forgot my password again\n"


def run(*args, input=None):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)], input=input)


def corpus(n=120):
    """Billing documents all say "refund", login ones "password"; the rest is filler
    both share: those two words drive the labels."""
    rng = np.random.default_rng(0)
    texts, rows = [], []
    for i in range(n):
        words = " ".join(rng.choice(FILLER, 6))
        texts.append(f"{words} {'refund' if i % 2 == 0 else 'password'}")
        rows.append([1, 0] if i % 2 == 0 else [0, 1])
    return texts, sp.csr_matrix(np.array(rows))


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    texts, Y = corpus()
    space = LabelSpace.from_uris(["u:billing", "u:login"])
    out = {}
    for model, params in (("linear", {}), ("knn", {"n_neighbors": 5})):
        clf = train_classifier(texts, Y, space, options=TrainOptions(
            model=model, model_params=params, featurizer_params={"min_df": 1}))
        out[model] = clf.save(tmp_path_factory.mktemp(model) / "bundle")
    return out


def test_top_evidence_is_the_word_that_drives_the_label(bundles):
    clf = TextClassifier.load(bundles["linear"])
    results = clf.suggest(DOCS.splitlines(), k=1, threshold=0, explain=3)
    (billing,), (login,) = results
    assert billing.uri == "u:billing" and login.uri == "u:login"
    assert billing.evidence[0].term == "refund" and billing.evidence[0].kind == "word"
    assert login.evidence[0].term == "password"
    for s in (billing, login):
        assert 1 <= len(s.evidence) <= 3
        weights = [e.weight for e in s.evidence]
        assert weights == sorted(weights, reverse=True) and min(weights) > 0
    # the weights are the exact contributions x_j * w_j to the margin
    X = clf.featurizer.transform(["please refund my order"])
    column = clf.model.coef_[:, 0].toarray().ravel()
    contributions = X.toarray().ravel() * column
    assert billing.evidence[0].weight == pytest.approx(contributions.max(), rel=1e-5)
    # without explain: no evidence, and to_dict as before
    plain = clf.suggest(DOCS.splitlines(), k=1, threshold=0)
    assert plain[0][0].evidence is None and "evidence" not in plain[0][0].to_dict()
    assert plain[0][0].score == billing.score


def test_char_ngrams_are_named_readably(bundles):
    clf = TextClassifier.load(bundles["linear"])
    (login,), = clf.suggest(["passwor"], k=1, threshold=0, explain=20)  # no whole word
    chars = [e for e in login.evidence if e.kind == "char"]
    assert chars and all(e.term.strip() for e in chars)
    assert any(e.term.startswith(" ") for e in chars)  # a word's start kept as a space
    shown = [e.shown() for e in chars]
    assert all(t.startswith("\u2039") and " (" in t for t in shown)
    assert any(t.startswith("\u2039\u2423") for t in shown)
    # a word and the same letters as a character n-gram read apart
    assert Evidence("sorry", "word", 0.5).shown() == "sorry (0.5000)"
    assert Evidence("sorry", "char", 0.5).shown() == "\u2039sorry\u203a (0.5000)"


def test_explain_refuses_other_models_and_bad_counts(bundles):
    knn = TextClassifier.load(bundles["knn"])
    with pytest.raises(InvalidParameterError, match="'knn' model"):
        knn.suggest(["refund"], k=1, threshold=0, explain=3)
    linear = TextClassifier.load(bundles["linear"])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InvalidParameterError, match="explain"):
            linear.suggest(["refund"], k=1, threshold=0, explain=bad)


def test_cli_json_and_tsv_shapes(bundles, tmp_path):
    bundle = bundles["linear"]
    plain = run("suggest", bundle, "--k", "1", "--threshold", "0", input=DOCS)
    assert plain.exit_code == 0, plain.output
    explained = run("suggest", bundle, "--k", "1", "--threshold", "0", "--explain",
                    input=DOCS)
    assert explained.exit_code == 0, explained.output
    lines = [json.loads(line) for line in explained.output.splitlines()]
    first = lines[0]["suggestions"][0]
    assert first["evidence"][0]["term"] == "refund"
    assert set(first["evidence"][0]) == {"term", "kind", "weight"}
    assert 1 <= len(first["evidence"]) <= 5  # the default
    # the rest of each line is as without the option
    for line, before in zip(lines, plain.output.splitlines(), strict=True):
        for s in line["suggestions"]:
            del s["evidence"]
        assert line == json.loads(before)
    assert "evidence" not in plain.output
    two = run("suggest", bundle, "--k", "1", "--threshold", "0", "--explain=2", input=DOCS)
    assert all(len(json.loads(line)["suggestions"][0]["evidence"]) <= 2
               for line in two.output.splitlines())
    plain_tsv = run("suggest", bundle, "--k", "1", "--threshold", "0", "--format", "tsv",
                    input=DOCS)
    tsv = run("suggest", bundle, "--k", "1", "--threshold", "0", "--format", "tsv",
              "--explain", "2", input=DOCS)
    assert tsv.exit_code == 0, tsv.output
    rows = [row.split("\t") for row in tsv.output.splitlines()]
    assert all(len(row) == 5 for row in rows)
    assert [row[:4] for row in rows] == [row.split("\t")
                                         for row in plain_tsv.output.splitlines()]
    assert rows[0][4].startswith("refund (") and rows[1][4].startswith("password (")


def test_cli_refusals(bundles):
    knn = run("suggest", bundles["knn"], "--explain", input=DOCS)
    assert knn.exit_code == 2 and "--explain" in knn.output and "'knn' model" in knn.output
    assert "{" not in knn.output  # refused before any document was answered
    zero = run("suggest", bundles["linear"], "--explain", "0", input=DOCS)
    assert zero.exit_code == 2 and "--explain" in zero.output
    sets = run("suggest", bundles["linear"], "--sets", "--format", "tsv", "--explain",
               input=DOCS)
    assert sets.exit_code == 2 and "--sets --format tsv" in sets.output


def test_cli_file_right_after_the_option_is_said_to_be_read_as_n(bundles, tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text(DOCS)
    taken = run("suggest", bundles["linear"], "--explain", docs)
    assert taken.exit_code == 2 and "--explain=N" in taken.output
    after = run("suggest", bundles["linear"], docs, "--threshold", "0", "--explain")
    assert after.exit_code == 0 and '"evidence"' in after.output


def test_suggest_takes_texts_read_again_from_their_corpus(bundles):
    # the batch made suggest list its texts first (for explain), which refused the
    # texts eval reads again from their corpus a chunk at a time (StreamedTexts, no
    # __iter__) that predict_topk and suggest took before
    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.data.texthash import hash_texts

    texts = DOCS.splitlines()

    class Rereadable:
        source = "docs.tsv"

        def texts(self):
            yield from texts

    clf = TextClassifier.load(bundles["linear"])
    streamed = StreamedTexts(Rereadable(), hash_texts(texts))
    assert clf.suggest(streamed, k=1, threshold=0) == clf.suggest(texts, k=1, threshold=0)
    assert clf.suggest(streamed, k=1, threshold=0, explain=2) == \
        clf.suggest(texts, k=1, threshold=0, explain=2)


def test_a_small_positive_contribution_is_not_shown_as_zero():
    # the batch printed weights to 4 decimals in TSV and 6 in JSON: a term listed
    # as support (positive contributions only) read "(0.0000)" or weighed 0.0
    assert Evidence("so", "char", 3.2e-5).shown() == "\u2039so\u203a (3.2e-05)"
    assert Evidence("refund", "word", 0.28534).shown() == "refund (0.2853)"
    assert Evidence("so", "char", 3.21234567e-7).to_dict()["weight"] == 3.21235e-7
    assert Evidence("refund", "word", 0.2853456789).to_dict()["weight"] == 0.285346


class CountingTfidf(TfidfFeaturizer):
    """The bundle's own TF-IDF featurizer, counting the batches it featurizes."""

    calls = 0

    def transform(self, texts):
        self.calls += 1
        return super().transform(texts)


def counting(clf):
    clf.featurizer = CountingTfidf.from_state(*clf.featurizer.to_state())
    return clf.featurizer


def test_explained_suggestions_featurize_each_batch_once(bundles, capsys):
    clf = TextClassifier.load(bundles["linear"])
    texts = DOCS.splitlines()
    reference = clf.suggest(texts, k=2, threshold=0, explain=3)
    featurizer = counting(clf)
    # scoring's features explained: the same evidence, one featurizing
    assert clf.suggest(texts, k=2, threshold=0, explain=3) == reference
    assert featurizer.calls == 1
    # explain() alone featurizes the texts itself, or reads the features given
    plain = clf.suggest(texts, k=2, threshold=0)
    assert clf.explain(texts, plain, 3) == reference and featurizer.calls == 3
    given = clf.explain(texts, plain, 3, features=clf.featurizer.transform(texts))
    assert given == reference and featurizer.calls == 4
    with pytest.raises(InvalidParameterError, match="features"):
        clf.explain(texts, plain, 3, features=clf.featurizer.transform(texts[:1]))
    # suggest's batches: one featurizing each, with and without --explain
    batch = list(enumerate(texts))
    for explain in (None, 2):
        before = featurizer.calls
        _suggest_batch(clf, batch, 2, 0.0, "en", False, "json", None, "recall", None, 0.0,
                       explain=explain)
        assert featurizer.calls == before + 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["evidence"][0]["term"] for s in lines[2]["suggestions"][:1]] == ["refund"]
    assert all("evidence" not in s for line in lines[:2] for s in line["suggestions"])


def test_explained_suggestions_under_a_progress_bar_read_every_chunk(bundles, monkeypatch):
    import tagsmith.pipeline.classifier as classifier_module

    clf = TextClassifier.load(bundles["linear"])
    texts = DOCS.splitlines() * 5
    reference = clf.suggest(texts, k=2, threshold=0, explain=3)
    featurizer = counting(clf)
    clf.show_progress = True
    monkeypatch.setattr(classifier_module, "PREDICT_CHUNK", 4)  # chunks of 4, 4 and 2
    assert clf.suggest(texts, k=2, threshold=0, explain=3) == reference
    assert featurizer.calls == 3


def text_by_text(explainer, X, label_ids, n_terms):
    """Explainer.explain as it was written, one text and one label at a time: a stable
    sort of the row's contributions, the first n_terms, the positive ones."""
    out = []
    for row, labels in enumerate(label_ids):
        features = X.indices[X.indptr[row]:X.indptr[row + 1]]
        values = X.data[X.indptr[row]:X.indptr[row + 1]]
        weights = explainer.weights
        per_label = []
        for label in labels:
            column = np.array([float(weights[f, label]) for f in features])
            column = column * values.astype(np.float64)
            best = np.argsort(-column, kind="stable")[:n_terms]
            per_label.append([Evidence(explainer.terms[int(features[j])],
                                       explainer.kinds[int(features[j])], float(column[j]))
                              for j in best if column[j] > 0])
        out.append(per_label)
    return out


@pytest.mark.parametrize("sparse_weights", [False, True])
def test_label_ids_outside_the_models_labels_are_refused(bundles, sparse_weights):
    """A negative label id explained the model's last label (numpy's wrap), one past
    the labels failed with an IndexError; both are refused naming ``label_ids``."""
    clf = TextClassifier.load(bundles["linear"])
    explainer = clf._explainer()
    if sparse_weights:
        explainer.weights = sp.csr_matrix(explainer.weights)
    texts = ["please refund my order", "reset my password"]
    assert [len(row) for row in explainer.explain(texts, [[0], [1]], 3)] == [1, 1]
    for bad in ([[-1], [1]], [[0], [2]], [[0, 1], [1, -2]]):
        with pytest.raises(InvalidParameterError, match="label_ids"):
            explainer.explain(texts, bad, 3)


@pytest.mark.parametrize("sparse_weights", [False, True])
def test_texts_explained_at_once_as_one_at_a_time(bundles, monkeypatch, sparse_weights):
    """Every text's evidence is gathered and sorted at once, in blocks of texts of about
    as many features: the same terms, weights and order as text by text, ties (equal
    contributions) in the row's order, for any number of terms, in small blocks too,
    with texts of no feature or no label."""
    import tagsmith.pipeline.explain as explain_module

    clf = TextClassifier.load(bundles["linear"])
    explainer = clf._explainer()
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(FILLER + ["refund", "password"], n))
             for n in rng.integers(0, 30, 40)] + ["", "zzzz qqqq"]
    X = clf.featurizer.transform(texts)
    label_ids = [rng.permutation(2)[:n].tolist() for n in rng.integers(0, 3, len(texts))]
    label_ids[0] = [1, 0]
    # weights of one decimal on features all of value 1: many contributions are equal
    weights = np.round(np.asarray(explainer.weights, np.float64), 1)
    explainer.weights = sp.csr_matrix(weights) if sparse_weights else weights
    X.data[:] = 1.0
    ties = 0
    for n_terms in (1, 3, 200):
        expected = text_by_text(explainer, X, label_ids, n_terms)
        ties += sum(len({e.weight for e in ev}) < len(ev) for row in expected for ev in row)
        assert explainer.explain(texts, label_ids, n_terms, features=X) == expected
        monkeypatch.setattr(explain_module, "EXPLAIN_BLOCK", 7)  # a few texts a block
        assert explainer.explain(texts, label_ids, n_terms, features=X) == expected
        monkeypatch.undo()
    assert ties  # equal contributions were there to order
    with pytest.raises(InvalidParameterError, match="label_ids"):
        explainer.explain(texts, label_ids[1:], 3, features=X)


def test_explained_texts_read_again_from_their_corpus_are_held_a_chunk_at_a_time(
        bundles, monkeypatch):
    """suggest(explain=...) of texts read again from their corpus (eval's StreamedTexts)
    read all of them into one list and featurized them at once (the corpus and all its
    features held); it now scores and explains them a chunk at a time, as suggest
    without explain does: the same suggestions and evidence."""
    import tagsmith.pipeline.classifier as classifier_module
    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.data.texthash import hash_texts

    texts = DOCS.splitlines() * 5

    class Rereadable:
        source = "docs.tsv"

        def texts(self):
            yield from texts

    clf = TextClassifier.load(bundles["linear"])
    reference = clf.suggest(texts, k=2, threshold=0, explain=3)
    featurizer = counting(clf)
    sizes = []
    transform = featurizer.transform

    def recording(batch):
        sizes.append(len(batch))
        return transform(batch)

    featurizer.transform = recording
    monkeypatch.setattr(classifier_module, "PREDICT_CHUNK", 4)
    streamed = StreamedTexts(Rereadable(), hash_texts(texts))
    for progress in (False, True):
        clf.show_progress = progress
        sizes.clear()
        assert clf.suggest(streamed, k=2, threshold=0, explain=3) == reference
        assert sizes == [4, 4, 2]  # one featurizing per chunk, none of all ten


@pytest.mark.parametrize("block", [1 << 20, 150, 7])
def test_sparse_weights_of_many_labels_explained_as_one_at_a_time(bundles, monkeypatch,
                                                                  block):
    """Sparse weights over many labels: the weights stored in the texts' features' rows
    are scattered to the (text, label) pairs asking for them, through a table of every
    label per text or, for a wider block, a sorted list of the pairs; a label asked
    twice, or rows holding more weights than the pairs ask for, are looked up pair by
    pair. All give what text by text gives."""
    import tagsmith.pipeline.explain as explain_module

    clf = TextClassifier.load(bundles["linear"])
    explainer = clf._explainer()
    rng = np.random.default_rng(7)
    n_features, n_labels = len(explainer.terms), 60
    weights = sp.random(n_features, n_labels, density=0.08, format="csr", random_state=3)
    weights.data = np.round(weights.data - 0.5, 1)  # explicit zeros and equal weights too
    explainer.weights = weights
    texts = [" ".join(rng.choice(FILLER + ["refund", "password"], n))
             for n in rng.integers(0, 40, 60)] + ["", "zzzz qqqq"]
    X = clf.featurizer.transform(texts)
    X.data[:] = 1.0
    label_ids = [rng.choice(n_labels, n, replace=False).tolist()
                 for n in rng.integers(0, 16, len(texts))]
    label_ids[3] = [5, 9, 5]  # a label twice
    label_ids[4] = [2]  # one label: rows fuller than the pairs
    monkeypatch.setattr(explain_module, "EXPLAIN_BLOCK", block)
    for n_terms in (1, 4, 200):
        expected = text_by_text(explainer, X, label_ids, n_terms)
        assert explainer.explain(texts, label_ids, n_terms, features=X) == expected


@pytest.mark.parametrize("sparse_weights", [False, True])
def test_evidence_of_many_labels_a_text_is_handed_out_as_one_at_a_time(bundles,
                                                                         monkeypatch,
                                                                         sparse_weights):
    """The evidence is built at once and handed out a (text, label) run at a time: with
    up to 6 labels a text, some with no positive contribution between others that
    have some, each (text, label) gets its own list, the same as text by text."""
    import tagsmith.pipeline.explain as explain_module

    clf = TextClassifier.load(bundles["linear"])
    explainer = clf._explainer()
    rng = np.random.default_rng(4)
    texts = [" ".join(rng.choice(FILLER + ["refund", "password"], n))
             for n in rng.integers(1, 25, 30)]
    X = clf.featurizer.transform(texts)
    weights = np.round(rng.normal(size=(len(explainer.terms), 8)), 1)
    weights[:, 3] = -np.abs(weights[:, 3])  # label 3: no positive contribution
    explainer.weights = sp.csr_matrix(weights) if sparse_weights else weights
    label_ids = [rng.permutation(8)[:n].tolist() for n in rng.integers(0, 7, len(texts))]
    label_ids[0] = [0, 3, 1, 3, 2]  # an empty one between others, a label twice
    for n_terms in (1, 4):
        expected = text_by_text(explainer, X, label_ids, n_terms)
        for block in (explain_module.EXPLAIN_BLOCK, 50):
            monkeypatch.setattr(explain_module, "EXPLAIN_BLOCK", block)
            got = explainer.explain(texts, label_ids, n_terms, features=X)
            assert got == expected
            assert got[0][1] == [] and got[0][0] and got[0][2]
            lists = [evidence for row in got for evidence in row]
            assert len({id(evidence) for evidence in lists}) == len(lists)
