"""zeroshot --eval: eval's figures of zero-shot, and of its blend with a bundle at each
--weight, on a labelled corpus (the packaged encoder; a tiny corpus and bundle)."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.data.labelspace import Label, LabelSpace

from conftest import FAST_FEATURES

tagsmith_cli._register_commands()
pytest.importorskip("sentence_transformers")

VOCAB = "uri,label_en\nu:sport,sport\nu:food,food\nu:music,music\n"
#: each text's obvious label is sport, food, music, music; the last is labelled sport
#: on purpose, so that the figures are no row of ones
CORPUS = ("The team won the final\t<u:sport>\n"
          "I baked bread and a cake\t<u:food>\n"
          "The band played a song\t<u:music>\n"
          "The orchestra played a symphony\t<u:sport>\n")


def _files(tmp_path, corpus=CORPUS, vocab=VOCAB):
    (tmp_path / "v.csv").write_text(vocab)
    (tmp_path / "c.tsv").write_text(corpus)
    return str(tmp_path / "v.csv"), str(tmp_path / "c.tsv")


def _run(tmp_path, *args):
    return CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", *args, "--cache-dir", str(tmp_path / "cache")])


def _bundle(path, names=("sport", "food"), **options):
    """A small TF-IDF bundle of labels u:NAME (no music: a label new to it), trained
    with the TrainOptions ``options``."""
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    examples = [("the team won the match", 0), ("a marathon race and a runner", 0),
                ("bread and soup for dinner", 1), ("cooking pasta with tomato", 1)]
    examples = [(text, label) for text, label in examples if label < len(names)]
    space = LabelSpace([Label(f"u:{name}", {"en": name}) for name in names])
    Y = np.zeros((len(examples), len(names)), np.float32)
    Y[np.arange(len(examples)), [label for _, label in examples]] = 1
    classifier = train_classifier([text for text, _ in examples] * 5,
                                  sp.csr_matrix(np.tile(Y, (5, 1))), space,
                                  options=TrainOptions(dev_fraction=0.0,
                                                       featurizer_params=FAST_FEATURES,
                                                       **options))
    classifier.save(path)
    return classifier


def test_zeroshot_eval_gives_evals_figures_of_each_documents_best_label(tmp_path):
    """A user could suggest with zeroshot but not measure it on a labelled corpus. By
    hand: the best labels are sport, food, music, music against sport, food, music,
    sport: 3 of 4 right at P@1; micro-F1 3/4; F1 of sport 2/3 (1 of 2 found), food 1,
    music 2/3 (1 of 2 predicted right), macro 7/9."""
    vocab, corpus = _files(tmp_path)
    result = _run(tmp_path, vocab, corpus, "--eval", "--json", "--per-label")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["p@1"] == pytest.approx(0.75)
    assert report["micro_f1"] == pytest.approx(0.75)
    assert report["macro_f1"] == pytest.approx(7 / 9)
    assert report["n_docs"] == 4
    rows = {row["label"]: row for row in report["per_label"]}
    assert {name: (row["support"], row["predicted"], row["true_positives"])
            for name, row in rows.items()} == {
        "sport": (2, 1, 1), "food": (1, 1, 1), "music": (1, 2, 1)}
    assert rows["sport"]["threshold"] is None and rows["sport"]["reachable"]
    assert report["provenance"]["vocab"] == vocab and report["provenance"]["bundle"] is None
    # the text: eval's lines, and the per-label table says the sets are no threshold's
    result = _run(tmp_path, vocab, corpus, "--eval", "--per-label")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "micro_f1               0.7500" in lines
    assert any(line.split()[:4] == ["music", "1", "2", "best"] for line in lines)
    # a cosine no document reaches: no label predicted, nothing right
    result = _run(tmp_path, vocab, corpus, "--eval", "--json", "--threshold", "1")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["micro_f1"] == 0.0 and report["p@1"] == pytest.approx(0.75)


def test_zeroshot_eval_blend_gives_a_row_per_weight(tmp_path):
    """--weight 0,1 with a bundle: weight 0 is the model alone (music, which it never
    trained on, never predicted), weight 1 zero-shot alone (its figures without the
    bundle); the documents are embedded once for both."""
    vocab, corpus = _files(tmp_path)
    classifier = _bundle(tmp_path / "b")
    result = _run(tmp_path, vocab, corpus, "--eval", "--json", "--per-label",
                  "--bundle", str(tmp_path / "b"), "--weight", "0,1")
    assert result.exit_code == 0, result.output
    model, zeroshot = (json.loads(line) for line in result.stdout.splitlines())
    assert (model["provenance"]["weight"], zeroshot["provenance"]["weight"]) == (0, 1)
    # the bundle named as eval --json names it: a path alone matched no saved bundle
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.compare import bundle_fingerprint

    manifest = TextClassifier.load(tmp_path / "b")._loaded_manifest
    assert model["provenance"]["bundle_fingerprint"] == bundle_fingerprint(manifest)
    assert model["provenance"]["training_data_fingerprint"] == (
        manifest["training"]["data_fingerprint"])
    assert model["provenance"]["label_space_fingerprint"] == (
        manifest["label_space"]["fingerprint"])
    assert "u:music" not in {row["uri"] for row in model["per_label"] if row["predicted"]}
    # the model's best label of each document, scored by hand
    texts = [line.split("\t")[0] for line in CORPUS.splitlines()]
    best = [classifier.label_space.name_of(int(ids[0]))
            for ids, _ in classifier.predict_topk(texts, 2).rows()]
    right = sum(label == gold for label, gold in zip(best, ["sport", "food", "music",
                                                            "sport"], strict=True))
    assert model["p@1"] == pytest.approx(right / 4)
    assert model["micro_f1"] == pytest.approx(right / 4)  # one label each, both sides
    alone = json.loads(_run(tmp_path, vocab, corpus, "--eval", "--json").stdout)
    for key in ("p@1", "p@3", "micro_f1", "macro_f1", "n_docs"):
        assert zeroshot[key] == pytest.approx(alone[key]), key
    # the text: a table, a row a weight
    result = _run(tmp_path, vocab, corpus, "--eval", "--bundle", str(tmp_path / "b"),
                  "--weight", "0,0.5,1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["weight", "p@1"]
    assert [line.split()[0] for line in lines[1:4]] == ["0", "0.5", "1"]
    assert float(lines[3].split()[1]) == pytest.approx(alone["p@1"])


def test_zeroshot_eval_streams_its_corpus_in_chunks_with_the_same_figures(tmp_path,
                                                                          monkeypatch,
                                                                          caplog):
    """zeroshot --eval held every text of CORPUS and every embedding at once, where
    eval reads its corpus again a chunk at a time. Scored EVAL_CHUNK documents at a
    time (here 2, so 5 documents take 3 chunks), every figure is the one of a single
    chunk, with a bundle's blend too, and the blank document is counted in one warning
    over the whole corpus (a warning a chunk would say '1 of 1 document')."""
    import logging

    import tagsmith.cli.llm_commands as llm_commands

    vocab, corpus = _files(tmp_path, CORPUS + "?!\t<u:food>\n")
    _bundle(tmp_path / "b")
    args = (vocab, corpus, "--eval", "--json", "--per-label", "--bundle",
            str(tmp_path / "b"), "--weight", "0,0.5,1")

    def figures():
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "zeroshot", *args, "--cache-dir", str(tmp_path / "cache")])
        assert result.exit_code == 0, result.output
        runs = [json.loads(line) for line in result.stdout.splitlines()]
        for run in runs:
            del run["provenance"]["evaluated"]  # the time of the run
        blank = [record.getMessage() for record in caplog.records
                 if "without a letter or digit" in record.getMessage()]
        return runs, blank

    whole, blank = figures()
    assert [run["n_docs"] for run in whole] == [5, 5, 5]
    assert blank == ["1 of 5 documents is empty or without a letter or digit: no "
                     "zero-shot suggestion for it"]
    monkeypatch.setattr(llm_commands, "EVAL_CHUNK", 2)
    assert figures() == (whole, blank)


def test_zeroshot_eval_weight_table_keeps_its_columns_for_a_long_weight(tmp_path):
    """The weight column was 6 characters wide: --weight 0.33333 pushed its row's
    figures a place right of their headers."""
    vocab, corpus = _files(tmp_path)
    _bundle(tmp_path / "b")
    result = _run(tmp_path, vocab, corpus, "--eval", "--bundle", str(tmp_path / "b"),
                  "--weight", "0,0.33333,1")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()[:4]
    assert [row.split()[0] for row in rows] == ["0", "0.33333", "1"]
    end = header.index("p@1") + len("p@1")  # each figure ends under its header
    for row in rows:
        assert row[end - 6:end] == row.split()[1], row
        assert len(row) == len(header), row


#: a dev corpus for --tune-on: other texts than CORPUS's, each labelled as it reads
DEV = ("The players scored a goal\t<u:sport>\n"
       "A runner won the race\t<u:sport>\n"
       "Soup and bread for dinner\t<u:food>\n"
       "She cooked pasta with tomato\t<u:food>\n"
       "The choir sang a hymn\t<u:music>\n"
       "A guitar solo in the song\t<u:music>\n")


def test_zeroshot_eval_tune_on_tunes_each_blends_thresholds_as_train_does(tmp_path):
    """The blend's rows took each document's best label while eval uses the bundle's
    tuned thresholds, so a blend could not be compared with the model alone. --tune-on
    DEV tunes per-label thresholds on DEV's blended scores at each weight with train's
    code and the bundle's objective (here its beta 0.5, min_support 1), and CORPUS's
    sets are the labels passing them. At weight 0 the blend is the model's scores, so
    the thresholds are tune_thresholds' of the bundle's scores of DEV."""
    from tagsmith.calibration.thresholds import tune_thresholds
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.io import read_labelled
    from tagsmith.topk import TopK
    from tagsmith.zeroshot.scorer import blend_topk

    vocab, corpus = _files(tmp_path)
    (tmp_path / "dev.tsv").write_text(DEV)
    classifier = _bundle(tmp_path / "b", beta=0.5, min_support=1)
    result = _run(tmp_path, vocab, corpus, "--eval", "--json", "--per-label",
                  "--bundle", str(tmp_path / "b"), "--weight", "0,0.5",
                  "--tune-on", str(tmp_path / "dev.tsv"))
    assert result.exit_code == 0, result.output
    model, blend = (json.loads(line) for line in result.stdout.splitlines())
    assert model["provenance"]["tune_on"] == str(tmp_path / "dev.tsv")
    assert model["provenance"]["n_tune_docs"] == 6
    # the expected thresholds: the bundle's scores of DEV (music, new to it, at 0)
    space = classifier.label_space.updated(load_vocabulary(vocab))
    dev = read_labelled(str(tmp_path / "dev.tsv"), space)
    known = np.array([True, True, False])

    def at_weight_0(texts):
        return blend_topk(classifier.predict_topk(texts, 2),
                          TopK.from_scores(np.zeros((len(texts), 3)), k=3), weight=0.0,
                          k=3, known_labels=known)

    tuned = tune_thresholds(dev.Y, at_weight_0(dev.texts), beta=0.5, min_support=1)
    rows = {row["uri"]: row for row in model["per_label"]}
    for uri in ("u:sport", "u:food"):
        assert rows[uri]["threshold"] == pytest.approx(
            float(tuned.per_label[space.lookup(uri)]), abs=1e-6), uri
    texts = [line.split("\t")[0] for line in CORPUS.splitlines()]
    expected = tuned.label_sets(at_weight_0(texts))
    predicted = np.asarray(expected.sum(axis=0)).ravel()
    assert {uri: row["predicted"] for uri, row in rows.items()} == {
        uri: int(predicted[space.lookup(uri)]) for uri in rows}
    # the blend's thresholds are tuned on its own scores: numbers, not 'best'
    assert all(row["threshold"] is not None for row in blend["per_label"])


def test_zeroshot_eval_tune_on_warns_of_devs_documents_of_corpus_or_training(tmp_path,
                                                                           caplog):
    """Nothing warned when DEV held CORPUS's documents or the bundle's training ones:
    thresholds tuned on them made the figures optimistic without a word, where eval
    warns of CORPUS's. Both are counted by eval's rule (case and spaces aside); a DEV
    sharing neither draws no warning."""
    vocab, corpus = _files(tmp_path)
    _bundle(tmp_path / "b")
    dev = tmp_path / "dev.tsv"
    dev.write_text("THE TEAM WON THE FINAL\t<u:sport>\n"  # CORPUS's first, upper case
                   "the  team won the match\t<u:sport>\n"  # a training text
                   "bread and soup for dinner\t<u:food>\n" + DEV)

    def warned():
        import logging

        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):  # no -q: it hides them
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "zeroshot", vocab, corpus, "--eval", "--bundle", str(tmp_path / "b"),
                "--weight", "0,1", "--tune-on", str(dev), "--cache-dir",
                str(tmp_path / "cache")])
        assert result.exit_code == 0, result.output
        return [record.getMessage() for record in caplog.records
                if "--tune-on" in record.getMessage()]

    assert warned() == [  # the bundle's training documents in train --dev's words
        f"{dev}: 2 of its 9 documents are also training documents (--tune-on); held-out "
        "results are optimistic",
        f"{dev} (--tune-on): 1 of its 9 documents is a document of CORPUS {corpus}: "
        "thresholds tuned on them make the figures optimistic (tune on documents neither "
        "the bundle nor CORPUS holds for a fair estimate)"]
    dev.write_text(DEV)
    assert warned() == []


def test_zeroshot_eval_tune_on_refuses_a_dev_mostly_of_training_documents(tmp_path):
    """train --dev refuses a DEV of half or more training documents (it tunes nothing);
    zeroshot --eval --tune-on only warned of one, and reported the figures of thresholds
    tuned on the bundle's own training texts. Now refused alike, before the encoder
    loads: no figure, the file and the count named."""
    vocab, corpus = _files(tmp_path)
    _bundle(tmp_path / "b")
    dev = tmp_path / "dev.tsv"
    dev.write_text("the team won the match\t<u:sport>\n"  # training texts, 2 of 4
                   "Cooking pasta with  tomato\t<u:food>\n"
                   "The choir sang a hymn\t<u:music>\n"
                   "A guitar solo in the song\t<u:music>\n")
    result = _run(tmp_path, vocab, corpus, "--eval", "--bundle", str(tmp_path / "b"),
                  "--tune-on", str(dev))
    assert result.exit_code == 2, result.output
    assert "'--tune-on'" in result.output and "not trained on" in result.output
    assert f"{dev} (2 of its 4 documents are training documents)" in result.output
    assert "micro_f1" not in result.output
    assert not (tmp_path / "cache").exists()  # refused before any embedding


def test_zeroshot_eval_tune_on_names_labels_the_bundle_never_learnt_at_weight_0(tmp_path):
    """At weight 0 (the model alone) music, which the bundle never trained on, has no
    score; DEV's music documents tuned it onto the global threshold, never reached,
    shown as a number and said nowhere. As train tunes them, it is left out of the
    tuning and never predicted (an infinite threshold: JSON null, unreachable), and the
    text names the count in train's words; at weight 0.5 zero-shot scores it, tuned."""
    vocab, corpus = _files(tmp_path)
    (tmp_path / "dev.tsv").write_text(DEV)
    _bundle(tmp_path / "b")
    args = [vocab, corpus, "--eval", "--per-label", "--bundle", str(tmp_path / "b"),
            "--tune-on", str(tmp_path / "dev.tsv")]
    result = _run(tmp_path, *args, "--json", "--weight", "0,0.5")
    assert result.exit_code == 0, result.output
    model, blend = (json.loads(line) for line in result.stdout.splitlines())
    music = {row["uri"]: row for row in model["per_label"]}["u:music"]
    assert (music["threshold"], music["reachable"], music["predicted"]) == (None, False, 0)
    music = {row["uri"]: row for row in blend["per_label"]}["u:music"]
    assert music["reachable"] and music["threshold"] is not None
    result = _run(tmp_path, *args, "--weight", "0")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith(
        "at each weight, as train tunes them; at weight 0, 1 label never predicted (no "
        "training document)")
    assert [line.split()[3] for line in result.stdout.splitlines()
            if line.split()[:1] == ["music"]] == ["inf"]


def test_zeroshot_eval_tune_on_json_counts_labels_never_learnt_without_per_label(tmp_path):
    """Without --per-label, zeroshot --eval --tune-on --json said nowhere that music, which
    the bundle never trained on, is never predicted at weight 0 (only the per-label rows
    and the text did): each weight's object counts such labels in
    n_never_learnt_labels, beside n_labels_evaluated; 0 where zero-shot scores them."""
    vocab, corpus = _files(tmp_path)
    (tmp_path / "dev.tsv").write_text(DEV)
    _bundle(tmp_path / "b")
    result = _run(tmp_path, vocab, corpus, "--eval", "--bundle", str(tmp_path / "b"),
                  "--tune-on", str(tmp_path / "dev.tsv"), "--json", "--weight", "0,0.5")
    assert result.exit_code == 0, result.output
    model, blend = (json.loads(line) for line in result.stdout.splitlines())
    assert "per_label" not in model
    assert (model["n_never_learnt_labels"], blend["n_never_learnt_labels"]) == (1, 0)
    assert list(model)[list(model).index("n_labels_evaluated") + 1] == \
        "n_never_learnt_labels"


def test_zeroshot_eval_tune_on_takes_the_sets_devs_labels_call_for(tmp_path):
    """Zero-shot alone, tuned on a DEV of CORPUS's texts each carrying every label:
    the best F1 there is every label of every document, so every label of CORPUS is
    predicted (each document's best label alone gave 4 predictions); the per-label
    table shows the thresholds."""
    vocab, corpus = _files(tmp_path)
    (tmp_path / "dev.tsv").write_text("".join(
        line.split("\t")[0] + "\t<u:sport> <u:food> <u:music>\n"
        for line in (CORPUS + DEV).splitlines()))
    result = _run(tmp_path, vocab, corpus, "--eval", "--per-label",
                  "--tune-on", str(tmp_path / "dev.tsv"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("thresholds tuned per label on ")
    rows = {line.split()[0]: line.split() for line in lines
            if line.split()[:1] in (["sport"], ["food"], ["music"])}
    assert {name: row[2] for name, row in rows.items()} == {
        "sport": "4", "food": "4", "music": "4"}
    assert all(row[3] != "best" for row in rows.values())
    assert "micro_recall           1.0000" in lines


def test_zeroshot_eval_refuses_a_gold_label_vocab_lacks_as_eval_does(tmp_path):
    """A corpus label VOCAB lacks (here one the bundle knows, u:old) is refused naming
    the corpus line and the way out; --unknown-labels skip leaves it out, counted."""
    vocab, corpus = _files(tmp_path, CORPUS + "an old story\t<u:old>\n")
    _bundle(tmp_path / "b", ("sport", "food", "old"))
    for extra in ([], ["--bundle", str(tmp_path / "b"), "--weight", "0.5"]):
        result = _run(tmp_path, vocab, corpus, "--eval", "--json", *extra)
        assert result.exit_code == 3 and result.stdout == "", result.output
        assert f"{corpus}:5" in result.stderr and "u:old" in result.stderr
        assert "--unknown-labels skip" in result.stderr
        result = _run(tmp_path, vocab, corpus, "--eval", "--json", "--unknown-labels",
                      "skip", *extra)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["provenance"]["n_unknown_labels_skipped"] == 1
        assert report["n_docs"] == 5 and report["n_docs_without_labels"] == 1


def test_zeroshot_eval_reads_the_corpus_as_eval_does(tmp_path):
    vocab, corpus = _files(tmp_path, CORPUS + "a line without its tab\tu:sport\tmore\n")
    result = _run(tmp_path, vocab, corpus, "--eval")
    assert result.exit_code == 3 and f"{corpus}:5" in result.stderr, result.output
    result = _run(tmp_path, vocab, corpus, "--eval", "--json", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["provenance"]["n_lines_skipped"] == 1 and report["n_docs"] == 4


@pytest.mark.parametrize("args, message", [
    (["--eval"], "--eval takes one labelled CORPUS after VOCAB, got none"),
    (["c.tsv", "c.tsv", "--eval"], "--eval takes one labelled CORPUS after VOCAB, got 2"),
    (["c.tsv", "--eval", "--k", "3"], "--k cannot be combined with --eval"),
    (["c.tsv", "--eval", "--format", "tsv"], "--format cannot be combined with --eval"),
    (["c.tsv", "--json"], "--json only applies with --eval"),
    (["c.tsv", "--per-label"], "--per-label only applies with --eval"),
    (["c.tsv", "--unknown-labels", "skip"], "--unknown-labels only applies with --eval"),
    (["c.tsv", "--tune-on", "c.tsv"], "--tune-on only applies with --eval"),
    (["c.tsv", "--eval", "--tune-on", "c.tsv", "--threshold", "0.3"],
     "--tune-on and --threshold cannot be combined"),
    (["c.tsv", "--bundle", "b", "--weight", "0,0.5"],
     "several weights only apply with --eval"),
    (["c.tsv", "--eval", "--bundle", "b", "--weight", "0,1.5"],
     "expected a number in [0, 1], or several separated by commas, got '1.5' in '0,1.5'"),
    (["c.tsv", "--eval", "--bundle", "b", "--weight", "nan"], "got 'nan'"),
    (["c.tsv", "--eval", "--bundle", "b", "--weight", "0.5,.5"], "0.5 is given twice"),
])
def test_zeroshot_eval_options_are_refused_naming_them(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    _files(tmp_path)
    (tmp_path / "b").mkdir()
    result = CliRunner().invoke(tagsmith_cli.cli, ["zeroshot", "v.csv", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split()), result.stderr


def test_zeroshot_eval_reports_hierarchical_metrics_of_a_vocabulary_with_broader_links(
        tmp_path):
    """zeroshot --eval gives eval's figures, the hierarchical ones too where VOCAB has a
    hierarchy. By hand, music under sport (a link for the arithmetic): the best labels
    sport, food, music, music against sport, food, music, sport; augmented, the sets
    share 1 + 1 + 2 + 1 labels of 6 predicted and 5 true: hP 5/6, hR 1, hF1 10/11,
    where the flat micro-F1 is 3/4."""
    vocab, corpus = _files(tmp_path, vocab="uri,label_en,broader\nu:sport,sport,\n"
                                           "u:food,food,\nu:music,music,u:sport\n")
    result = _run(tmp_path, vocab, corpus, "--eval", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["p@1"] == pytest.approx(0.75) and report["micro_f1"] == pytest.approx(0.75)
    assert report["hierarchical_precision"] == pytest.approx(5 / 6)
    assert report["hierarchical_recall"] == 1.0
    assert report["hierarchical_f1"] == pytest.approx(10 / 11)
    flat = _run(tmp_path, *_files(tmp_path), "--eval", "--json")
    assert "hierarchical_f1" not in json.loads(flat.stdout)


def test_zeroshot_eval_counts_corpus_documents_longer_than_the_encoder_reads(tmp_path,
                                                                             caplog):
    """zeroshot warns that a document longer than the encoder's 256 word pieces is
    scored by its start alone; zeroshot --eval scores CORPUS the same way, and its
    figures are of those starts, but said nothing. It now counts them once, in
    zeroshot's words (DEV's, tuned on, not counted again)."""
    import logging

    def run(*args):  # no -q: it hides the warnings
        return CliRunner().invoke(tagsmith_cli.cli, [
            "zeroshot", *args, "--cache-dir", str(tmp_path / "cache")])

    long = "The river embankment and drainage works. " * 60  # over 256 word pieces
    vocab, corpus = _files(tmp_path, corpus=CORPUS + f"{long}\t<u:food>\n")
    (tmp_path / "dev.tsv").write_text(DEV + f"{long}\t<u:sport>\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = run(vocab, corpus, "--eval", "--json")
    assert result.exit_code == 0, result.output
    assert "1 of 5 documents is longer than the 256 word pieces (about 200 words) the " \
           "encoder reads: scored by its beginning alone" in caplog.text, caplog.text
    _bundle(tmp_path / "b")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = run(vocab, corpus, "--eval", "--json", "--bundle",
                      str(tmp_path / "b"), "--weight", "0,0.5", "--tune-on",
                      str(tmp_path / "dev.tsv"))
    assert result.exit_code == 0, result.output
    assert caplog.text.count("longer than the 256 word pieces") == 1, caplog.text
    assert "1 of 5 documents is longer than the 256 word pieces (about 200 words) the " \
           "encoder reads: the zero-shot part of the scores read its beginning alone, " \
           "the bundle's model the whole text" in caplog.text, caplog.text


def test_zeroshot_eval_per_label_rows_are_named_in_lang(tmp_path):
    """zeroshot --eval --per-label --lang de named its rows in English (eval's were in
    --lang): the label texts were German, the table's names 'sport', 'food', 'music'."""
    vocab, corpus = _files(tmp_path, vocab=(
        "uri,label_en,label_de\nu:sport,sport,Sport\nu:food,food,Essen\n"
        "u:music,music,Musik\n"))
    result = _run(tmp_path, vocab, corpus, "--eval", "--json", "--per-label",
                  "--lang", "de")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {row["label"] for row in report["per_label"]} == {"Sport", "Essen", "Musik"}
    result = _run(tmp_path, vocab, corpus, "--eval", "--per-label", "--lang", "de")
    assert result.exit_code == 0, result.output
    names = {line.split()[0] for line in result.stdout.splitlines() if line.split()}
    assert {"Essen", "Musik"} <= names and "food" not in names


def test_zeroshot_eval_counts_corpus_documents_not_in_english(tmp_path, caplog):
    """zeroshot --eval's figures of German documents are the English-trained encoder's
    guesses (P@1 0.37 on German STW titles with English names): it now says how many of
    CORPUS's documents look written in another language, as zeroshot does."""
    import logging

    vocab, corpus = _files(tmp_path, corpus=CORPUS + "Die Mannschaft hat das Finale "
                           "gewonnen und ist über den Sieg froh\t<u:sport>\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "zeroshot", vocab, corpus, "--eval", "--json", "--cache-dir",
            str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "1 of 5 documents looks written in another language than English (German 1, " \
           "by its commonest words or letters)" in caplog.text, caplog.text
