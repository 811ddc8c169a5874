import gzip
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.exceptions import DataError

from conftest import (
    ROOT,
    exit_code_or_drain,
    fill_pipe,
    refuse_stat_below,
    stats_below,
    unread_pipe,
)

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]


def run(*args, input=None):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)], input=input)


@pytest.fixture(scope="module")
def bundle(goemotions_small, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    result = run("train", goemotions_small["train"], "--output", out, "--vocab",
                 goemotions_small["vocab"], "--dev", goemotions_small["dev"], *FAST)
    assert result.exit_code == 0, result.output
    assert f"held-out ({goemotions_small['dev']}, " in result.output
    return out


def test_eval_json_has_the_contract_keys(bundle, goemotions_small):
    result = run("eval", bundle, goemotions_small["test"], "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    for key in ("p@1", "p@3", "p@5", "ndcg@5", "micro_f1", "macro_f1", "n_docs"):
        assert key in metrics
    assert metrics["n_docs"] == 600


def test_eval_writes_per_label_results_as_annifs_results_file(bundle, goemotions_small,
                                                               tmp_path):
    # Annif's eval --results-file (a librarian's daily look at which subjects fail) had
    # no counterpart: the per-label counts behind micro and macro F1 were not to be had
    out = tmp_path / "labels.tsv"
    for threshold in ((), ("--threshold", "0.3")):
        result = run("eval", bundle, goemotions_small["test"], "--json", "--results-file",
                     out, *threshold)
        assert result.exit_code == 0, result.output
        metrics = json.loads(result.output)
        lines = out.read_text().splitlines()
        assert lines[0].split("\t") == ["uri", "label", "support", "true_positives",
                                        "false_positives", "false_negatives", "precision",
                                        "recall", "f1"]
        rows = [line.split("\t") for line in lines[1:]]
        assert len(rows) == metrics["n_labels_evaluated"]
        assert rows[0][0].startswith("<urn:goemotions:") and rows[0][1].isalpha()
        tp, fp, fn = (sum(int(row[i]) for row in rows) for i in (3, 4, 5))
        assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(metrics["micro_f1"])
        f1 = [2 * int(r[3]) / (2 * int(r[3]) + int(r[4]) + int(r[5])) for r in rows]
        assert sum(f1) / len(f1) == pytest.approx(metrics["macro_f1"])
    result = run("eval", bundle, goemotions_small["test"], "--results-file",
                 goemotions_small["test"])
    assert result.exit_code == 2 and "must be a new file, not the corpus" in result.output


def test_eval_results_file_is_never_the_vocabulary_nor_needs_matplotlib(
        bundle, goemotions_small, tmp_path, monkeypatch):
    # --vocab was no input to it: the vocabulary was overwritten by the results; and a
    # core install (no matplotlib) was refused as if a diagram were drawn
    import shutil
    import sys

    vocab = tmp_path / "vocab.tsv"
    shutil.copy(goemotions_small["vocab"], vocab)
    before = vocab.read_bytes()
    result = run("eval", bundle, goemotions_small["test"], "--vocab", vocab,
                 "--results-file", vocab)
    assert result.exit_code == 2 and "must be a new file, not --vocab" in result.output
    assert vocab.read_bytes() == before
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "results.tsv"
    result = run("eval", bundle, goemotions_small["test"], "--results-file", out)
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("uri\tlabel\t")


def test_eval_table(bundle, goemotions_small):
    result = run("eval", bundle, goemotions_small["test"])
    assert result.exit_code == 0 and "micro_f1" in result.output


def test_eval_per_label_gives_each_labels_precision_and_recall_with_intervals(
        bundle, goemotions_small):
    """A moderation team acts per label: eval gave micro and macro figures alone, so a
    rare label's precision and recall at the tuned thresholds (and how little a handful
    of its documents says of them) could not be read from it."""
    from tagsmith.metrics import per_label_counts, wilson_interval
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.io import read_labelled

    result = run("eval", bundle, goemotions_small["test"], "--json", "--per-label")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["per_label"]
    clf = TextClassifier.load(bundle)
    test = read_labelled(goemotions_small["test"], clf.label_space)
    predicted_sets = clf.label_sets(clf.predict_topk(test.texts, clf.n_labels))
    tp, predicted, support = per_label_counts(test.Y, predicted_sets)
    present = np.flatnonzero((predicted + support) > 0)
    assert [row["uri"] for row in rows] == [clf.label_space.uri_of(int(i)) for i in present]
    for row, i in zip(rows, present, strict=True):
        assert row["label"] == clf.label_space.name_of(int(i))
        assert (row["support"], row["predicted"], row["true_positives"]) == (
            support[i], predicted[i], tp[i])
        assert row["threshold"] == pytest.approx(float(clf.thresholds.per_label[i]))
        for key, of in (("precision", predicted[i]), ("recall", support[i])):
            if of == 0:  # no ratio to speak of: null, not a 0 read as measured
                assert row[key] is None and row[f"{key}_interval"] is None
                continue
            assert row[key] == pytest.approx(tp[i] / of)
            low, high = wilson_interval(tp[i:i + 1], np.array([of]))
            assert row[f"{key}_interval"] == pytest.approx([low[0], high[0]])
            assert row[f"{key}_interval"][0] <= row[key] <= row[f"{key}_interval"][1]
    rare = min(rows, key=lambda row: row["support"] or 10**9)
    assert rare["recall_interval"][1] - rare["recall_interval"][0] > 0.2  # few documents
    table = run("eval", bundle, goemotions_small["test"], "--per-label")
    assert table.exit_code == 0, table.output
    assert "per label (95% Wilson intervals)" in table.output
    assert re.search(rf"\n  {re.escape(rare['label'])}\s+{rare['support']}\s", table.output)
    assert "per_label" not in json.loads(run("eval", bundle, goemotions_small["test"],
                                             "--json").output)


def test_suggest_from_stdin_json_and_file_tsv(bundle, tmp_path):
    result = run("suggest", bundle, "--k", "3", "--threshold", "0",
                 input="Thanks a lot, you are great!\n\nThis is so sad.\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["doc"] for line in lines] == ["stdin:1", "stdin:3"]
    assert all(len(line["suggestions"]) == 3 for line in lines)
    assert "gratitude" in [s["label"] for s in lines[0]["suggestions"]]
    docs = tmp_path / "docs.txt"
    docs.write_text("I am so angry right now\n")
    result = run("suggest", bundle, docs, "--format", "tsv", "--k", "2", "--threshold", "0")
    rows = [row.split("\t") for row in result.output.splitlines()]
    assert len(rows) == 2 and rows[0][0] == f"{docs}:1" and rows[0][1].startswith("<urn:")


def test_suggest_format_jsonl_is_its_json_lines(bundle):
    """suggest --format jsonl was refused (json or tsv only), where audit's
    --review-format says jsonl for the same kind of output: one JSON object a line.
    It is json's other name; zeroshot's --format takes it too."""
    text = "Thanks a lot, you are great!\nThis is so sad.\n"
    jsonl = run("suggest", bundle, "--k", "3", "--format", "jsonl", input=text)
    assert jsonl.exit_code == 0, jsonl.output
    assert jsonl.output == run("suggest", bundle, "--k", "3", "--format", "json",
                               input=text).output
    assert len([json.loads(line) for line in jsonl.output.splitlines()]) == 2
    for command in ("suggest", "zeroshot"):
        result = CliRunner().invoke(tagsmith_cli.cli, [command, "--help"], terminal_width=200)
        assert "jsonl: json's other name (one object a line)" in " ".join(result.output.split())


def test_suggest_sets_of_an_uncalibrated_bundle_names_the_option_and_the_bundle(bundle):
    """The refusal named the library's parameter ('classifier'), which the command line
    has not, and came only once a first document had been read (none: exit 0)."""
    for stdin in ("I am so happy\n", ""):
        result = run("suggest", bundle, "--sets", input=stdin)
        assert result.exit_code == 2, result.output
        assert "'--sets'" in result.output and f"{bundle}, which is not calibrated" \
            in result.output and "'classifier'" not in result.output


def test_train_derives_vocabulary_when_none_given(goemotions_small, tmp_path):
    out = tmp_path / "derived"
    result = run("train", goemotions_small["dev"], "--output", out, *FAST)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["label_space"]["n_labels"] == 28


def test_failed_training_keeps_the_good_bundle(bundle, goemotions_small, tmp_path):
    before = (bundle / "manifest.json").read_text()
    bad = tmp_path / "bad.tsv"
    bad.write_text("fine text\t<urn:goemotions:joy>\ntoo\tmany\tcolumns\n")
    result = run("train", bad, "--output", bundle, "--vocab", goemotions_small["vocab"])
    assert result.exit_code == 3
    assert f"{bad}:2" in result.output
    assert (bundle / "manifest.json").read_text() == before


def test_unknown_label_is_reported_with_line(goemotions_small, tmp_path):
    bad = tmp_path / "unknown.tsv"
    bad.write_text("a\t<urn:goemotions:joy>\nb\t<urn:goemotions:nope>\n")
    result = run("train", bad, "--output", tmp_path / "m", "--vocab", goemotions_small["vocab"])
    assert result.exit_code == 3 and f"{bad}:2" in result.output and "nope" in result.output


def test_a_text_given_in_place_of_a_file_is_told_to_be_piped_in(bundle, tmp_path,
                                                                 monkeypatch):
    # a newcomer's `tagsmith suggest B "I love it"` said only "I love it: file not found"
    monkeypatch.chdir(tmp_path)
    for command in ("suggest", "shift"):
        result = run(command, bundle, "I love it")
        assert result.exit_code == 3, result.output
        said = " ".join(result.output.split())
        assert (f"I love it: file not found; FILES are files of documents (or - for stdin): "
                f"to give the text itself, pipe it in: echo 'I love it' | tagsmith {command} "
                f"{bundle}") in said, said
    # a file's name stays a missing file, told no more
    for name in ("my notes.txt", "docs"):
        result = run("suggest", bundle, name)
        assert result.exit_code == 3 and "pipe it in" not in result.output, result.output
    # the advice, followed, answers the text
    result = run("suggest", bundle, input="I love it\n")
    assert result.exit_code == 0 and '"doc": "stdin:1"' in result.output, result.output


def test_documented_exit_codes(tmp_path, goemotions_small):
    assert run("eval", tmp_path / "no-bundle", goemotions_small["test"]).exit_code == 4
    missing = run("train", tmp_path / "missing.tsv", "--output", tmp_path / "m")
    assert missing.exit_code == 3 and "missing.tsv" in missing.output
    bad_model = run("train", goemotions_small["dev"], "--output", tmp_path / "m",
                    "--model", "nope", *FAST)
    assert bad_model.exit_code == 2 and "nope" in bad_model.output
    assert run("suggest").exit_code == 2  # click usage error


def test_vocab_command(goemotions_small):
    result = run("vocab", goemotions_small["vocab"], "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["n_labels"] == 28 and summary["labels"][0]["label"] == "admiration"


def test_a_vocabulary_of_unknown_suffix_is_told_what_a_cli_user_can_do(tmp_path):
    odd = tmp_path / "vocab.lst"
    odd.write_text("<http://x/a>\ta\n", encoding="utf-8")
    result = run("vocab", odd)
    assert result.exit_code == 3 and str(odd) in result.output and "rename" in result.output
    assert "or pass format=" not in result.output  # the CLI has no such option


def test_vocab_command_on_skos():
    result = run("vocab", ROOT / "tests" / "data" / "stw-slice.ttl")
    assert result.exit_code == 0, result.output
    assert "has_hierarchy  yes" in result.output


def test_vocab_text_output_prints_words_not_python_values():
    """'languages ['de', 'en']' and 'has_hierarchy True' were Python's reprs; --json keeps
    the list and the boolean."""
    result = run("vocab", ROOT / "tests" / "data" / "vocab.csv")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines()[:7])
    assert lines["languages"] == "de, en" and lines["has_hierarchy"] == "yes"
    summary = json.loads(run("vocab", ROOT / "tests" / "data" / "vocab.csv", "--json").output)
    assert summary["languages"] == ["de", "en"] and summary["has_hierarchy"] is True


def test_vocab_text_output_says_no_for_a_flat_vocabulary(tmp_path):
    flat = tmp_path / "flat.tsv"
    flat.write_text("<http://x/a>\ta\n", encoding="utf-8")
    result = run("vocab", flat)
    assert result.exit_code == 0, result.output
    assert "has_hierarchy  no\n" in result.output


@pytest.mark.parametrize("name, roots", [("stw-slice.ttl", 1), ("vocab.csv", 1)])
def test_vocab_counts_no_deprecated_concept_as_a_root(name, roots):
    """A deprecated concept has no broader one (STW unlinks them): each was counted as a
    root, 'n_roots 1157' for STW's 7 top concepts and 1150 deprecated ones (13 for the
    slice's one root, counted independently with rdflib)."""
    result = run("vocab", ROOT / "tests" / "data" / name, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["n_roots"] == roots and summary["n_deprecated"] >= 1


def test_vocab_says_which_labels_are_deprecated(tmp_path):
    """vocab counted the deprecated labels (n_deprecated 2) but listed them as any other:
    which of a thesaurus update's labels were deprecated could not be seen."""
    vocab = tmp_path / "v2.csv"
    vocab.write_text("uri,label_en,deprecated\nu:a,anger,false\nu:b,annoyance,true\n")
    result = run("vocab", vocab)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].endswith("<u:b>  annoyance  (deprecated)")
    assert result.output.splitlines()[-2].endswith("<u:a>  anger")
    labels = json.loads(run("vocab", vocab, "--json").output)["labels"]
    assert [label["deprecated"] for label in labels] == [False, True]


def test_vocab_names_what_replaces_a_deprecated_label(tmp_path):
    """A thesaurus's dct:isReplacedBy (CSV replaced_by) was not read: vocab said
    '(deprecated)' and could not say what to use instead."""
    vocab = tmp_path / "v2.csv"
    vocab.write_text("uri,label_en,deprecated,replaced_by\nu:a,anger,false,\n"
                     "u:b,annoyance,true,u:c\nu:c,irritation,true,u:a u:d\nu:d,rage,,\n"
                     "u:e,fury,true,\n")
    result = run("vocab", vocab)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-4].endswith("<u:b>  annoyance  (deprecated -> anger, rage)")
    assert lines[-1].endswith("<u:e>  fury  (deprecated)")
    labels = json.loads(run("vocab", vocab, "--json").output)["labels"]
    assert [label["replaced_by"] for label in labels] == [[], ["u:a", "u:d"], ["u:a", "u:d"],
                                                          [], []]


def test_vocab_counts_the_labels_without_a_name_in_lang(tmp_path):
    """vocab --lang de on STW with 3 concepts lacking a German name listed them in
    English among the German ones without a word (only a --lang no label is named in
    was warned about): it now counts them, naming the first three with the language of
    the name shown; deprecated labels are left out."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_de,label_en,deprecated\nu:a,Apfel,apple,\n"
                     "u:b,,pear,\nu:c,Kirsche,cherry,\nu:d,Pflaume,,\nu:e,,plum,true\n",
                     encoding="utf-8")
    result = run("vocab", vocab, "--lang", "de")
    assert result.exit_code == 0, result.output
    assert "n_unnamed      1 label has no name in 'de', shown by another language's: " \
           "<u:b> 'pear' (en)\n" in result.output
    assert json.loads(run("vocab", vocab, "--lang", "de", "--json").output)["n_unnamed"] == 1
    result = run("vocab", vocab, "--lang", "en")
    assert "1 label has no name in 'en', shown by another language's: <u:d> 'Pflaume' " \
           "(de)" in result.output
    assert "n_unnamed" not in run("vocab", vocab, "--lang", "fr").output
    summary = json.loads(run("vocab", vocab, "--lang", "fr", "--json").output)
    assert summary["n_unnamed"] == 4


def test_console_script_runs(bundle):
    out = subprocess.run([sys.executable, "-m", "tagsmith", "info", str(bundle)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["format"] == "tagsmith-bundle"


def test_train_and_info_print_one_json_object_with_json(goemotions_small, tmp_path):
    """train and info had no --json while eval and vocab did: a script got "No such
    option" (info's indented manifest, and train's summary only as prose)."""
    out = tmp_path / "model"
    # in this process: what is checked is stdout, which CliRunner keeps apart
    result = run("train", goemotions_small["train"], "--vocab", goemotions_small["vocab"],
                 "-o", out, *FAST, "--calibration-fraction", "0.2", "--json")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    summary = json.loads(result.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    assert summary["model"] == "linear" and summary["output"] == str(out)
    assert summary["n_docs"] == manifest["training"]["n_docs"]
    assert summary["n_docs"] + summary["n_calibration_docs"] == 3000
    assert summary["n_labels"] == 28 and summary["seconds"] > 0
    heldout = manifest["metrics"]["heldout"]
    assert summary["heldout"]["metrics"] == heldout["metrics"]
    assert summary["heldout"]["n_docs"] == heldout["n_docs"] > 0
    assert summary["calibration"]["method"] == "isotonic"
    assert summary["calibration"]["ece_calibrated"] == manifest["calibration"]["calibrated"][
        "ece"]
    plain = run("train", goemotions_small["train"], "--vocab", goemotions_small["vocab"],
                "-o", tmp_path / "plain", *FAST, "--dev", goemotions_small["dev"], "--json")
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.output)["calibration"] is None
    result = CliRunner().invoke(tagsmith_cli.cli, ["info", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    assert json.loads(result.stdout) == manifest


def test_mistyped_parameters_are_clear_errors(goemotions_small, tmp_path):
    model_typo = run("train", goemotions_small["dev"], "--output", tmp_path / "m", "-p", "CC=2")
    assert model_typo.exit_code == 2
    # named as typed (--model linear, the default), not by its class (LinearOVR)
    assert "'CC'" in model_typo.output and "model 'linear'" in model_typo.output
    assert "LinearOVR" not in model_typo.output
    assert "Traceback" not in model_typo.output
    feature_typo = run("train", goemotions_small["dev"], "--output", tmp_path / "m",
                       "--feature-param", "min_dff=3")
    assert feature_typo.exit_code == 2 and "'min_dff'" in feature_typo.output
    assert not (tmp_path / "m").exists()
    # a bad value is refused before the corpus is read (it does not even exist here)
    for model, option, param in (("linear", "-p", "C=-1"), ("tree", "-p", "beam_width=0"),
                                 ("knn", "-p", "power=-1"),
                                 ("linear", "--feature-param", "lowercase=False"),
                                 ("linear", "--feature-param", "max_word_features=0")):
        bad_value = run("train", tmp_path / "no-such-corpus.tsv", "--output", tmp_path / "m",
                        "--model", model, option, param)
        assert bad_value.exit_code == 2, bad_value.output
        assert f"'{param.split('=')[0]}'" in bad_value.output


def test_suggest_ignores_labels_after_a_tab(bundle):
    plain = run("suggest", bundle, "--threshold", "0", "--k", "2", input="so sad today\n")
    labelled = run("suggest", bundle, "--threshold", "0", "--k", "2",
                   input="so sad today\t<urn:goemotions:sadness>\n")
    assert plain.exit_code == labelled.exit_code == 0
    assert plain.output == labelled.output


def test_suggest_refuses_a_line_with_no_text_before_its_tab(bundle, tmp_path):
    """A tab-indented line lost its words: the text before the TAB (none) was answered
    as an empty document, exit 0 and no word; now an error naming file:line, as the TSV
    corpus reader refuses an empty text. A blank line is still skipped."""
    docs = tmp_path / "indented.txt"
    docs.write_text("so sad today\n\t\n\tI am so angry right now\n")
    for args, where in (((docs,), f"{docs}:3"), ((), "stdin:3")):
        result = run("suggest", bundle, *args, "--threshold", "0",
                     input=docs.read_text())
        assert result.exit_code == 3, result.output
        assert f"{where}: no text before the TAB" in result.output
    whole = run("suggest", bundle, "--whole-file", docs, "--k", "1", "--threshold", "0")
    assert whole.exit_code == 0, whole.output


def _suggested(result):
    """(doc, labels) of each JSON line of a suggest run."""
    assert result.exit_code == 0, result.output
    return [(line["doc"], [s["label"] for s in line["suggestions"]])
            for line in map(json.loads, result.stdout.splitlines())]


def test_suggest_reads_a_csv_corpus_record_by_record(bundle, tmp_path):
    """A .csv corpus was read as raw lines: the header was a document, a row's quotes
    and label column were part of its text, and a quoted text holding a newline was two
    documents. Now the corpus reader gives each record's text, named file:line of the
    line it starts on (the id column when there is one); an empty text is left out, as
    a blank line is."""
    corpus = tmp_path / "test.csv"
    corpus.write_text('text,labels\n"I am so angry\nright now",<urn:goemotions:anger>\n'
                      ',<urn:goemotions:joy>\n"Thanks a lot, you are great!",gratitude\n')
    plain = tmp_path / "plain.txt"
    plain.write_text("I am so angry\nright now\nThanks a lot, you are great!\n")
    args = ("--k", "2", "--threshold", "0")
    read = _suggested(run("suggest", bundle, corpus, *args))
    assert [doc for doc, _ in read] == [f"{corpus}:2", f"{corpus}:5"]
    whole = _suggested(run("suggest", bundle, "--whole-file", *args,
                           input="I am so angry\nright now"))
    assert read[0][1] == whole[0][1]  # the whole quoted text, one document
    assert read[1][1] == _suggested(run("suggest", bundle, plain, *args))[2][1]
    gz = tmp_path / "test.csv.gz"
    gz.write_bytes(gzip.compress(corpus.read_bytes()))
    assert [labels for _, labels in _suggested(run("suggest", bundle, gz, *args))] == \
        [labels for _, labels in read]


def test_suggest_and_shift_read_a_jsonl_corpus_naming_records_by_id(bundle, tmp_path):
    corpus = tmp_path / "test.jsonl"
    corpus.write_text(json.dumps({"id": "a7", "text": "This is so sad.", "labels": ["sadness"]})
                      + "\n\n" + json.dumps({"text": "Thanks a lot!", "labels": []}) + "\n"
                      + json.dumps({"id": 12, "text": "  "}) + "\n"
                      + json.dumps({"id": 3, "text": "I am so angry right now"}) + "\n")
    read = _suggested(run("suggest", bundle, corpus, "--k", "1", "--threshold", "0"))
    assert [doc for doc, _ in read] == ["a7", f"{corpus}:3", "3"]
    plain = _suggested(run("suggest", bundle, "--k", "1", "--threshold", "0",
                           input="This is so sad.\nThanks a lot!\nI am so angry right now\n"))
    assert [labels for _, labels in read] == [labels for _, labels in plain]
    tsv = run("suggest", bundle, corpus, "--format", "tsv", "--k", "1", "--threshold", "0")
    assert [row.split("\t")[0] for row in tsv.stdout.splitlines()] == \
        ["a7", f"{corpus}:3", "3"]


def test_suggest_names_the_documents_of_annifs_corpora_by_their_document_id(bundle, tmp_path):
    # Annif's CSV and JSON Lines corpora name a document by 'document_id' (what annif
    # index names its results by): suggest named them FILE:LINE
    jsonl = tmp_path / "annif.jsonl"
    jsonl.write_text(json.dumps({"document_id": "d1", "text": "This is so sad."}) + "\n"
                     + json.dumps({"text": "Thanks a lot!"}) + "\n"
                     + json.dumps({"id": "own", "document_id": "d3", "text": "Wow"}) + "\n")
    csv_path = tmp_path / "annif.csv"
    # a CSV's document_id is its cell stripped, as its id is (it kept the blanks)
    csv_path.write_text("document_id,text,subject_uris\n 7 ,I am so angry right now,\n")
    tsv = run("suggest", bundle, jsonl, csv_path, "--format", "tsv", "--k", "1",
              "--threshold", "0")
    assert tsv.exit_code == 0, tsv.output
    assert [row.split("\t")[0] for row in tsv.stdout.splitlines()] == \
        ["d1", f"{jsonl}:2", "own", "7"]
    csv_path.write_text("document_id,text\nd1,Again\n")  # one id, two documents
    result = run("suggest", bundle, jsonl, csv_path)  # named: the corpus has no 'id'
    assert result.exit_code == 3 and "the id 'd1' (its document_id) repeats" in result.output


def test_a_record_id_given_twice_is_refused_naming_both_places(bundle, tmp_path):
    """Two records with one id, in one file or two (3 and "3" alike), gave two outputs
    under that id; refused naming file:line of both (the file given twice, too)."""
    first = tmp_path / "a.jsonl"
    first.write_text(json.dumps({"id": "a7", "text": "This is so sad."}) + "\n"
                     + json.dumps({"id": 3, "text": "Thanks a lot!"}) + "\n"
                     + json.dumps({"id": "a7", "text": "  "}) + "\n"  # no text: left out
                     + json.dumps({"text": "no id"}) + "\n")
    assert run("suggest", bundle, first, "--k", "1").exit_code == 0
    second = tmp_path / "b.csv"
    second.write_text("id,text\nb1,So angry\n3,I am so angry right now\n")
    result = run("suggest", bundle, first, second, "--k", "1")
    assert result.exit_code == 3, result.output
    assert (f"{second}:3: the id '3' repeats: it is the id of the document at {first}:2 too; "
            "each document needs an id of its own") in result.output
    within = tmp_path / "c.jsonl"
    within.write_text(json.dumps({"id": "x", "text": "so sad"}) + "\n"
                      + json.dumps({"id": "x", "text": "so happy"}) + "\n")
    result = run("suggest", bundle, within)
    assert result.exit_code == 3 and f"{within}:2: the id 'x' repeats: it is the id of " \
        f"the document at {within}:1 too" in result.output
    result = run("suggest", bundle, first, first)
    assert result.exit_code == 3 and f"{first}: is given more than once ({first} and " \
        f"{first})" in result.output
    # shift reads the texts alone (before it finds this bundle uncalibrated): ids unused
    result = run("shift", bundle, within)
    assert "not calibrated" in result.output and "repeats" not in result.output


def test_suggest_and_shift_read_a_folder_one_document_per_txt_file(bundle, tmp_path):
    """A folder of documents, which train and audit read (one document per .txt file),
    was refused as 'is a directory, expected a file'. Now each .txt file of it is one
    document, in the corpus reader's selection and order, named by its stem as the
    corpus reader names it (it was named by its path, so suggest's output never joined
    an audit or eval of the same folder)."""
    from tagsmith.data.readers import read_records

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "b.txt").write_text("I am so angry right now\nreally\n")
    (docs / "a.txt").write_text("Thanks a lot, you are great!")
    (docs / "a.tsv").write_text("<urn:goemotions:joy>\tjoy\n")  # a sidecar: no document
    (docs / ".hidden.txt").write_text("so sad")
    (docs / "c.md").write_text("so sad")
    (docs / "sub.txt").mkdir()
    read = _suggested(run("suggest", bundle, docs, "--k", "2", "--threshold", "0"))
    assert [doc for doc, _ in read] == [r.doc_id for r in read_records(docs)] == ["a", "b"]
    whole = _suggested(run("suggest", bundle, "--whole-file", docs / "a.txt", docs / "b.txt",
                           "--k", "2", "--threshold", "0"))
    # each file given --whole-file: the same answers, under its path (no corpus rule)
    assert [doc for doc, _ in whole] == [f"{docs}/a.txt", f"{docs}/b.txt"]
    assert [labels for _, labels in read] == [labels for _, labels in whole]
    assert _suggested(run("suggest", bundle, "--whole-file", docs, "--k", "2",
                          "--threshold", "0")) == read
    # shift reads the folder's texts (before it finds this bundle uncalibrated)
    result = run("shift", bundle, docs)
    assert result.exit_code != 0 and "not calibrated" in result.output, result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.TXT").write_text("so sad")
    for command in ("suggest", "shift"):
        result = run(command, bundle, empty)
        assert result.exit_code == 3, (command, result.output)
        assert f"{empty}: is a folder without .txt files" in result.output
    (empty / "d1.json").write_text('{"text": "so sad"}')  # Annif's JSON documents
    result = run("suggest", bundle, empty)
    assert result.exit_code == 3 and "per .txt file (a name ending in exactly .txt, not " \
        "hidden); it holds 1 .json file, Annif's JSON document corpus" \
        in " ".join(result.output.split()), result.output
    result = run("suggest", bundle, bundle)
    assert result.exit_code == 3 and "this is a tagsmith model bundle, not documents" \
        in result.output
    (docs / "b.txt").write_bytes(b"caf\xe9")
    result = run("suggest", bundle, docs)
    assert result.exit_code == 3 and f"{docs}/b.txt:1: not valid UTF-8" in result.output
    for command in ("suggest", "zeroshot", "shift"):
        assert "per .txt file" in " ".join(run(command, "--help").output.split()), command


def test_a_folder_document_reads_to_the_corpus_readers_text(tmp_path):
    """suggest and zeroshot made a folder document's CR LF line ends LF, where the corpus
    reader (train, eval, audit, label) keeps them: one file had two texts. Now both
    read it to the same text, line ends as written."""
    from tagsmith.cli.commands import _read_documents
    from tagsmith.data.readers import read_records

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_bytes(b"\xef\xbb\xbffirst line\r\nsecond\rthird\nfourth\r\n")
    (docs / "b.txt").write_bytes(b"  one\r\n\r\ntwo  \r\n")
    read = list(_read_documents((str(docs),), whole_file=False))
    assert read == [(r.doc_id, r.text) for r in read_records(docs)]
    assert read == [("a", "first line\r\nsecond\rthird\nfourth"), ("b", "one\r\n\r\ntwo")]


def test_whole_file_reads_a_file_to_its_folder_documents_text(bundle, tmp_path,
                                                              monkeypatch):
    """--whole-file (a file, or stdin) made CR LF line ends LF, where the same file read
    as a document of its folder keeps them, as the corpus reader does: one file had
    two texts by how it was named. suggest now scores the same text for all three."""
    from tagsmith.pipeline.classifier import TextClassifier

    texts: list[str] = []
    scored = TextClassifier.suggest

    def suggest(self, batch, **kwargs):
        texts.extend(batch)
        return scored(self, batch, **kwargs)

    monkeypatch.setattr(TextClassifier, "suggest", suggest)
    docs = tmp_path / "docs"
    docs.mkdir()
    raw = b"\xef\xbb\xbf  Thanks a lot,\r\nyou are\rgreat!\nreally\r\n\r\n"
    (docs / "a.txt").write_bytes(raw)
    for args, given in (((docs,), None), (("--whole-file", docs / "a.txt"), None),
                        (("--whole-file", "-"), raw)):
        result = run("suggest", bundle, *args, "--k", "1", input=given)
        assert result.exit_code == 0, result.output
    assert texts == ["Thanks a lot,\r\nyou are\rgreat!\nreally"] * 3
    # a line's own CR LF ends it, and is no part of its text
    texts.clear()
    assert run("suggest", bundle, docs / "a.txt", "--k", "1").exit_code == 0
    assert texts == ["  Thanks a lot,", "you are\rgreat!", "really"]


def test_suggest_on_a_folder_names_documents_as_the_corpus_reader_does(bundle, tmp_path,
                                                                        monkeypatch):
    """suggest named a folder's documents by path (docs/a.txt) where the corpus reader
    (train, eval, audit, label) names them by stem (a): the two never joined. Now the
    ids, the selection and the order are the corpus reader's; two folders whose files
    share a stem are refused naming both files, as the ids would repeat."""
    from tagsmith.data.readers import read_records

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in (("b.txt", "so angry"), ("a b.txt", "thanks a lot"),
                       ("x:3.txt", "so sad"), ("a.TXT", "not read"), (".h.txt", "hidden")):
        (docs / name).write_text(text)
    read = _suggested(run("suggest", bundle, docs, "--k", "1", "--threshold", "0"))
    assert [doc for doc, _ in read] == [r.doc_id for r in read_records(docs)] \
        == ["a b", "b", "x:3"]
    tsv = run("suggest", bundle, docs, "--k", "1", "--format", "tsv", "--threshold", "0")
    assert tsv.exit_code == 0, tsv.output
    assert [row.split("\t")[0] for row in tsv.stdout.splitlines()] == ["a b", "b", "x:3"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.txt").write_text("so happy")
    result = run("suggest", bundle, docs, other)
    assert result.exit_code == 3, result.output
    assert (f"{other}/b.txt: the id 'b' repeats: it is the id of the document at "
            f"{docs}/b.txt too") in result.output
    # a stem equal to a line's file:line id (x:3.txt against line 3 of the file x)
    monkeypatch.chdir(tmp_path)
    Path("x").write_text("one\ntwo\nthree\n")
    result = run("suggest", bundle, "x", "docs")
    assert result.exit_code == 3, result.output
    assert ("docs/x:3.txt: the id 'x:3' repeats: it is the id of the document at x:3 "
            "too") in result.output


def test_a_file_given_twice_or_an_id_made_twice_is_refused(bundle, tmp_path, monkeypatch):
    """A plain text file given twice (suggest B a.txt a.txt) answered each line twice
    under one file:line id, and a record id such as 'a.txt:2' could equal a line's id.
    Now a file given twice (by any spelling, or as a document of a folder given too) is
    refused naming both, before any output, and an id met twice names both places."""
    monkeypatch.chdir(tmp_path)
    Path("a.txt").write_text("so sad\nso happy\n")
    for files in (("a.txt", "a.txt"), ("a.txt", "./a.txt")):
        result = run("suggest", bundle, *files)
        assert result.exit_code == 3, (files, result.output)
        assert f"a.txt: is given more than once ({files[0]} and {files[1]}); each document " \
            "is read once" in result.output, result.output
        assert '"doc"' not in result.output  # refused before anything is answered
    Path("docs").mkdir()
    Path("docs/b.txt").write_text("so angry")
    result = run("suggest", bundle, "docs", "docs/b.txt")
    assert result.exit_code == 3 and "docs/b.txt: is given more than once (a document of " \
        "the folder docs and docs/b.txt)" in result.output, result.output
    result = run("shift", bundle, "a.txt", "a.txt")  # shift would count them twice
    assert result.exit_code == 3 and "is given more than once" in result.output
    # a record id equal to the id of a line, in either order
    Path("c.csv").write_text("id,text\na.txt:2,I am so angry right now\n")
    result = run("suggest", bundle, "a.txt", "c.csv")
    assert result.exit_code == 3, result.output
    assert "c.csv:2: the id 'a.txt:2' repeats: it is the id of the document at a.txt:2 " \
        "too" in result.output
    result = run("suggest", bundle, "c.csv", "a.txt")
    assert result.exit_code == 3 and "a.txt:2: the id 'a.txt:2' repeats: it is the id of " \
        "the document at c.csv:2 too" in result.output
    # a record without an id is named file:line, which another record's id may be
    Path("d.csv").write_text("text\nso sad\n")
    Path("e.jsonl").write_text(json.dumps({"id": "d.csv:2", "text": "so happy"}) + "\n")
    result = run("suggest", bundle, "d.csv", "e.jsonl")
    assert result.exit_code == 3 and "e.jsonl:1: the id 'd.csv:2' repeats" in result.output
    # a folder document's id, the file's stem (the corpus reader's), as a record's id:
    # the place named is the file
    Path("f.jsonl").write_text(json.dumps({"id": "b", "text": "so happy"}) + "\n")
    result = run("suggest", bundle, "docs", "f.jsonl")
    assert result.exit_code == 3 and "f.jsonl:1: the id 'b' repeats: it is the " \
        "id of the document at docs/b.txt too" in result.output
    # a file named stdin read by line, and stdin itself
    Path("stdin").write_text("so sad\n")
    result = run("suggest", bundle, "stdin", "-", input="so happy\n")
    assert result.exit_code == 3 and "stdin:1: the id 'stdin:1' repeats" in result.output
    # distinct inputs still read as before
    read = _suggested(run("suggest", bundle, "a.txt", "docs", "d.csv", "--k", "1"))
    assert [doc for doc, _ in read] == ["a.txt:1", "a.txt:2", "b", "d.csv:2"]


def test_a_malformed_corpus_record_is_refused_naming_file_and_line(bundle, tmp_path):
    """The reader's own errors, naming file:line; shift reads its FILES alike (its
    FILES are read before it finds this bundle uncalibrated)."""
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"text": "so sad today"}\n{"text": "so angry", \n')
    for command in ("suggest", "shift"):
        result = run(command, bundle, corpus)
        assert result.exit_code == 3, (command, result.output)
        assert f"{corpus}:2: invalid JSON" in result.output
    no_text = tmp_path / "bad.csv"
    no_text.write_text("body,labels\nso sad today,sadness\n")
    result = run("suggest", bundle, no_text)
    assert result.exit_code == 3 and f"{no_text}:1: no 'text' column" in result.output


def test_whole_file_is_refused_for_a_csv_or_jsonl_corpus(bundle, tmp_path):
    """--whole-file made a JSON Lines file one document of JSON; it is refused, naming
    the file, before the bundle loads; a .txt file is still read whole."""
    corpus = tmp_path / "test.jsonl"
    corpus.write_text(json.dumps({"text": "This is so sad."}) + "\n")
    result = run("suggest", tmp_path / "no-bundle", "--whole-file", corpus)
    assert result.exit_code == 2, result.output
    assert f"{corpus} is a JSONL corpus" in result.output and "drop --whole-file" in \
        result.output
    text = tmp_path / "test.txt"
    text.write_text(corpus.read_text())
    assert _suggested(run("suggest", bundle, "--whole-file", text, "--k", "1",
                          "--threshold", "0"))[0][0] == str(text)


def test_txt_and_tsv_files_are_still_read_one_document_per_line(bundle, tmp_path):
    """Only .csv and .jsonl (and .gz) are read as corpora: a .tsv is read line by line,
    its labels after the TAB ignored, and a .txt holding JSON is text."""
    line = json.dumps({"text": "This is so sad."})
    for name, content in (("a.tsv", "This is so sad.\t<urn:goemotions:sadness>\n\nok\n"),
                          ("b.txt", line + "\n")):
        path = tmp_path / name
        path.write_text(content)
        read = _suggested(run("suggest", bundle, path, "--k", "1", "--threshold", "0"))
        lines = [text.partition("\t")[0] for text in content.splitlines()]
        expected = _suggested(run("suggest", bundle, "--k", "1", "--threshold", "0",
                                  input="\n".join(lines) + "\n"))
        assert read == [(doc.replace("stdin", str(path)), labels) for doc, labels in expected]


def test_tree_and_ensemble_train_save_and_serve_through_the_cli(tmp_path):
    """An extreme-style label space (584 labels, 200 titles) through train/eval/suggest."""
    corpus = ROOT / "tests" / "data" / "yso-sample.tsv.gz"
    for name, params in [("tree", ["-p", "leaf_size=20", "-p", "branching=4",
                                   "-p", "n_trees=2"]),
                         ("ensemble", ["-p", 'members=[["tree", {"leaf_size": 20}], '
                                             '["knn", {"n_neighbors": 5}]]',
                                       "-p", "weights=[2, 1]"])]:
        out = tmp_path / name
        result = run("train", corpus, "--output", out, "--model", name, "--dev-fraction", "0.2",
                     *params, *FAST)
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["model"]["name"] == name
        result = run("eval", out, corpus, "--json")
        assert result.exit_code == 0, result.output
        metrics = json.loads(result.output)
        assert metrics["p@1"] > 0.5  # it has seen these documents
        result = run("suggest", out, "--k", "3", "--threshold", "0",
                     input="Zero waste home : the ultimate guide\n")
        assert result.exit_code == 0, result.output
        suggestions = json.loads(result.output.splitlines()[0])["suggestions"]
        assert len(suggestions) == 3
        assert all(s["uri"].startswith("http://www.yso.fi/onto/yso/") for s in suggestions)


def test_thresholds_must_be_finite_numbers_in_the_unit_interval(bundle, goemotions_small):
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.classifier import TextClassifier

    commands = {"--threshold": [("suggest", bundle), ("eval", bundle, goemotions_small["test"])],
                "--min-confidence": [("suggest", bundle, "--sets")]}
    for option, invocations in commands.items():
        for args in invocations:
            for bad in ("nan", "inf", "-inf", "1.5", "-1"):
                result = run(*args, f"{option}={bad}", input="so happy\n")
                assert result.exit_code == 2, (args, option, bad, result.output)
                assert option in result.output and "[0, 1]" in result.output
    for good in ("0", "1"):
        result = run("suggest", bundle, "--threshold", good, "--k", "2", input="so happy\n")
        assert result.exit_code == 0, result.output
    classifier = TextClassifier.load(bundle)
    for bad in (float("nan"), float("inf"), 1.5, -0.1):
        with pytest.raises(InvalidParameterError, match="threshold"):
            classifier.suggest(["so happy"], threshold=bad)
    assert len(classifier.suggest(["so happy"], k=3, threshold=0.0)[0]) == 3


def test_suggest_and_shift_report_undecodable_inputs_and_missing_ones_before_any_output(
        bundle, tmp_path):
    binary = tmp_path / "bin.dat"
    binary.write_bytes(bytes(range(128, 256)) * 20)
    zipped = tmp_path / "npz.dat"  # a .npz's head, a damaged zip: said to be a zip
    zipped.write_bytes((bundle / "model.npz").read_bytes()[:3000])
    for args in (("suggest", bundle, binary), ("suggest", bundle, "--whole-file", binary),
                 ("shift", bundle, binary)):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert f"{binary}:1: not valid UTF-8" in result.output
        assert "Traceback" not in result.output
        result = run(*args[:-1], zipped)
        assert result.exit_code == 3, (args, result.output)
        assert f"{zipped}: is a zip archive, not text" in result.output, result.output
        assert "Traceback" not in result.output
    piped = run("suggest", bundle, input=b"fine line\n\xff\xfe broken\n")
    assert piped.exit_code == 3 and "stdin:2: not valid UTF-8" in piped.output
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(f"document number {i}, so happy\n" for i in range(600)))
    for missing in (tmp_path / "nofile.txt", tmp_path):
        result = run("suggest", bundle, docs, missing, "--threshold", "0")
        assert result.exit_code == 3 and str(missing) in result.output
        assert result.stdout == ""  # nothing printed for the first file
    # bytes that are not UTF-8 are found as they are read (the README says so): output
    # streams, so the first file's first batch of documents has been answered by then
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"fine\n\xff\xfe broken\n")
    result = run("suggest", bundle, docs, latin, "--threshold", "0", "--format", "tsv")
    assert result.exit_code == 3 and f"{latin}:2: not valid UTF-8" in result.output
    assert "docs.txt:1\t" in result.stdout and "latin.txt" not in result.stdout
    damaged = tmp_path / "damaged.txt.gz"
    damaged.write_bytes(gzip.compress(docs.read_bytes())[:300])
    result = run("suggest", bundle, damaged)
    assert result.exit_code == 3 and f"{damaged}:" in result.output
    assert "cannot read the file" in result.output


def test_large_sets_are_cut_alike_in_json_and_tsv_and_say_so(tmp_path):
    corpus = ROOT / "tests" / "data" / "yso-sample.tsv.gz"
    out = tmp_path / "yso"
    result = run("train", corpus, "--output", out, "--dev-fraction", "0",
                 "--calibration-fraction", "0.4", *FAST)
    assert result.exit_code == 0, result.output
    args = ("suggest", out, "--sets", "--alpha", "0.01")
    line = json.loads(run(*args, input="Zero waste home\n").stdout)
    size = line["set"]["size"]
    assert size > 100 and len(line["set"]["labels"]) == 100 and line["set"]["truncated"]
    rows = [r.split("\t") for r in run(*args, "--format", "tsv",
                                        input="Zero waste home\n").stdout.splitlines()]
    assert len(rows) == 101 and all(len(r) == 6 and r[4] == str(size) for r in rows)
    assert [r[1] for r in rows[:100]] == [f"<{s['uri']}>" for s in line["set"]["labels"]]
    assert rows[100][1:4] == ["", f"... {size - 100} more not listed", ""]


def test_suggest_reads_a_file_whose_lines_end_in_cr_one_document_per_line(bundle, tmp_path):
    # an old Mac file (CR line ends, no LF): every line was one document, scored as
    # one, where the corpus readers read its lines
    docs = tmp_path / "mac.txt"
    docs.write_bytes(b"I am so angry right now\rThanks a lot!\r\rThis is so sad.\r")
    for args, kw in (((docs,), {}), ((docs.with_suffix(".txt.gz"),), {}),
                     ((), {"input": docs.read_bytes()})):
        if args and args[0].suffix == ".gz":
            args[0].write_bytes(gzip.compress(docs.read_bytes()))
        result = run("suggest", bundle, *args, "--k", "1", "--threshold", "0", **kw)
        assert result.exit_code == 0, result.output
        name = str(args[0]) if args else "stdin"
        assert [json.loads(line)["doc"] for line in result.stdout.splitlines()] == \
            [f"{name}:1", f"{name}:2", f"{name}:4"]


def test_a_dash_among_files_reads_stdin_in_its_place(bundle, tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("I am so angry right now\n")
    result = run("suggest", bundle, docs, "-", "--k", "1", "--threshold", "0",
                 input="This is so sad.\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["doc"] for line in result.stdout.splitlines()] == \
        [f"{docs}:1", "stdin:1"]


def test_dash_reads_stdin_once_though_a_folder_is_named_dash(bundle, tmp_path, monkeypatch):
    """With a folder named '-' in the working directory, the vocabulary check of the
    documents read stdin up as that folder's documents, and suggest answered none."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").mkdir()
    result = run("suggest", bundle, "-", "-k", "1", input="so happy\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["doc"] for line in result.output.splitlines()] == ["stdin:1"]


def test_whole_file_applies_to_stdin(bundle):
    result = run("suggest", bundle, "--whole-file", "--k", "2", "--threshold", "0",
                 input="Thanks a lot, you are great!\nThis is so sad.\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["doc"] for line in lines] == ["stdin"]


def test_whole_file_empty_stdin_is_one_document_as_an_empty_file_is(bundle, tmp_path):
    """--whole-file makes each file (or stdin) one document: an empty or blank file got
    its record, empty or blank stdin none at all."""
    for text in ("", " \n\n"):
        path = tmp_path / "empty.txt"
        path.write_text(text)
        from_file = run("suggest", bundle, "--whole-file", "--k", "2", "--threshold", "0",
                        path)
        from_stdin = run("suggest", bundle, "--whole-file", "--k", "2", "--threshold", "0",
                         input=text)
        assert from_file.exit_code == from_stdin.exit_code == 0, from_stdin.output
        records = [json.loads(line) for line in from_file.stdout.splitlines()]
        assert [record["doc"] for record in records] == [str(path)]
        assert from_stdin.stdout == from_file.stdout.replace(json.dumps(str(path)),
                                                             '"stdin"')

def test_eval_refuses_a_corpus_without_labels(bundle, goemotions_small, tmp_path):
    """Texts alone (say, the unlabelled file given by mistake) measured nothing: eval
    printed every metric as 0 with exit 0, and --calibration crashed formatting the
    undefined set recall (a TypeError traceback)."""
    texts = tmp_path / "texts.tsv"
    texts.write_text("".join(line.split("\t")[0] + "\n" for line in
                             goemotions_small["test"].read_text().splitlines()[:50]))
    result = run("eval", bundle, texts)
    assert result.exit_code == 3, result.output
    assert f"{texts}: no document carries a label" in result.output
    assert "Traceback" not in result.output


def test_empty_inputs_are_clear_errors_naming_the_file(bundle, goemotions_small, tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    for args in (["eval", bundle, empty], ["calibrate", bundle, "--data", empty],
                 ["train", empty, "--output", tmp_path / "m", "--vocab",
                  goemotions_small["vocab"]],
                 ["train", goemotions_small["dev"], "--output", tmp_path / "m", "--vocab",
                  empty]):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert f"{empty}: no " in result.output and "Traceback" not in result.output
    no_concepts = tmp_path / "none.ttl"
    no_concepts.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
                           "<http://x/a> a skos:Collection .\n")
    result = run("vocab", no_concepts)
    assert result.exit_code == 3 and f"{no_concepts}: no labels" in result.output
    assert not (tmp_path / "m").exists()


def test_suggest_of_no_documents_says_so_naming_the_files(bundle, tmp_path, caplog):
    """An empty month's export gave a moderation job an empty result, exit 0, and only
    the INFO line 'suggest: 0 docs' (shift refuses such files, exit code 3): a warning
    names them now. Not refused: stdin may be empty by design in a pipeline."""
    empty, blank = tmp_path / "empty.txt", tmp_path / "blank.txt"
    empty.write_text("")
    blank.write_text("\n \n")
    for args, named in (([empty], f"{empty} (empty or blank)"),
                        ([empty, blank], f"{empty}, {blank} (each empty or blank)"),
                        ([], "stdin (empty or blank)")):
        caplog.clear()
        result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(bundle),
                                                       *map(str, args)], input="")
        assert result.exit_code == 0 and result.stdout == "", result.output
        assert f"no documents in {named}: nothing suggested" in caplog.text
    # a glob of thousands of empty files named each of them on one line: five are named
    many = [tmp_path / f"e{i:02d}.txt" for i in range(12)]
    for path in many:
        path.write_text("")
    caplog.clear()
    result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(bundle),
                                                   *map(str, many)])
    assert result.exit_code == 0 and result.stdout == "", result.output
    named = ", ".join(map(str, many[:5]))
    assert f"no documents in {named}, and 7 more (each empty or blank)" in caplog.text
    assert str(many[5]) not in caplog.text
    caplog.clear()
    one = tmp_path / "one.txt"
    one.write_text("thanks so much\n")
    result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(bundle), str(empty),
                                                   str(one)])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 1, result.output
    assert "no documents" not in caplog.text


def test_train_and_calibrate_check_the_output_before_reading_any_data(bundle, tmp_path):
    existing = tmp_path / "corpus.tsv"
    existing.write_text("keep me\t<urn:goemotions:joy>\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("keep me")
    missing = tmp_path / "missing.tsv"  # reading it would fail with exit 3
    for output, reason in ((existing, "is a file, not a directory"),
                           (existing / "model", f"{existing} is a file, not a folder"),
                           (tmp_path / "docs", "is not a model bundle")):
        for args in (["train", missing, "--output", output],
                     ["calibrate", bundle, "--data", missing, "-o", output]):
            result = run(*args)
            assert result.exit_code == 3, (args, result.output)
            assert f"{output}: " in result.output and reason in result.output
            assert "Traceback" not in result.output
    assert existing.read_text() == "keep me\t<urn:goemotions:joy>\n"
    assert (tmp_path / "docs" / "notes.txt").read_text() == "keep me"


def test_every_output_that_cannot_be_written_is_exit_code_3(bundle, goemotions_small,
                                                            tmp_path):
    """An output path below a file was exit code 4 for the commands writing a bundle
    (train, calibrate, distill, label --student) and 3 for every other output (an audit
    folder, a corpus, a vocabulary, a diagram, a cache): one kind of mistake, one code."""
    blocker = tmp_path / "afile"
    blocker.write_text("a file, not a folder")
    corpus, vocab = goemotions_small["train"], goemotions_small["vocab"]
    missing = tmp_path / "missing.tsv"  # reading it would fail with exit 3 too: the
    # message says which check refused
    llm = ["--base-url", "http://127.0.0.1:9", "--llm", "m"]  # never called
    for option, args in [
        ("afile/m", ["train", missing, "-o", blocker / "m"]),
        ("afile/m", ["calibrate", bundle, "--data", missing, "-o", blocker / "m"]),
        ("afile/r.png", ["calibrate", bundle, "--data", missing, "-o", tmp_path / "c",
                         "--reliability-png", blocker / "r.png"]),
        ("afile/r.png", ["eval", bundle, missing, "--calibration", "--reliability-png",
                         blocker / "r.png"]),
        ("afile/m", ["distill", tmp_path / "missing.jsonl", "--vocab", vocab, "-o",
                     blocker / "m"]),
        ("afile/a", ["audit", missing, "-o", blocker / "a"]),
        ("afile/c.tsv", ["apply-review", corpus, tmp_path / "missing.csv", "-o",
                         blocker / "c.tsv"]),
        ("afile/t.csv", ["taxonomy", corpus, "--use-case", "x", "-o", blocker / "t.csv",
                         *llm]),
        ("afile/l.jsonl", ["label", corpus, "--vocab", vocab, "-o", blocker / "l.jsonl",
                           *llm]),
        ("afile/s", ["label", corpus, "--vocab", vocab, "-o", tmp_path / "l.jsonl",
                     "--budget", "1", "--student", blocker / "s", *llm]),
        ("afile/i", ["zeroshot", vocab, missing, "--cache-dir", blocker / "i"]),
    ]:
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert option in result.output and "afile is a file, not a folder" in result.output, (
            args, result.output)
        assert "Traceback" not in result.output


def test_no_known_label_in_eval_says_why_in_words(bundle, tmp_path):
    """A corpus of texts alone was asked 'is it the right vocabulary?' with '0 unknown
    label occurrences skipped', where the corpus names no label at all (a space for the
    TAB, say): it now gets the corpus layout; and one dropped label read '1 unknown
    label occurrences'."""
    texts = tmp_path / "texts.tsv"
    texts.write_text("so happy today\nwhat a sad story\n", encoding="utf-8")
    result = run("eval", bundle, texts)
    assert result.exit_code == 3, result.output
    assert f"{texts}: no document carries a label" in result.output
    assert "(2 documents, none naming a label): a TSV line is TEXT, a TAB" in result.output
    assert "right vocabulary" not in result.output
    foreign = tmp_path / "foreign.tsv"
    foreign.write_text("so happy today\t<http://other/1>\n", encoding="utf-8")
    result = run("eval", bundle, foreign, "--unknown-labels", "skip")
    assert result.exit_code == 3, result.output
    assert "(1 document, 1 unknown label occurrence skipped); is it the right vocabulary?" \
        in result.output


def test_no_known_label_fails_before_replacing_a_good_bundle(bundle, goemotions_small,
                                                              tmp_path):
    before = (bundle / "manifest.json").read_text()
    foreign = tmp_path / "foreign.tsv"
    foreign.write_text("".join(f"text number {i}\t<http://other/{i % 3}>\n" for i in range(40)))
    result = run("train", foreign, "--output", bundle, "--vocab", goemotions_small["vocab"],
                 "--unknown-labels", "skip", *FAST)
    assert result.exit_code == 3, result.output
    assert f"{foreign}: no document carries a label" in result.output
    assert "40 unknown label occurrences skipped" in result.output
    assert (bundle / "manifest.json").read_text() == before


def test_an_unknown_label_in_eval_or_calibrate_names_the_bundles_vocabulary(
        bundle, goemotions_small, tmp_path):
    """eval and calibrate read the corpus over the bundle's label space: an unknown label
    said "(not in the vocabulary)", with no vocabulary file given, as if the user's own
    were meant; audit's message names the bundle, and so do theirs now."""
    lines = goemotions_small["test"].read_text().splitlines(keepends=True)
    corpus = tmp_path / "cocoa.tsv"
    corpus.write_text("".join(lines[:3]) + "I love hot chocolate\tcocoa\n")
    expected = (f"{corpus}:4: unknown label 'cocoa' (not in the vocabulary of the bundle "
                f"{bundle})")
    for args in (("eval", bundle, corpus), ("calibrate", bundle, "--data", corpus)):
        result = run(*args)
        assert result.exit_code == 3, result.output
        assert expected in result.output, result.output


def test_calibrate_with_a_label_added_since_training_says_the_way_out(
        bundle, goemotions_small, tmp_path):
    """calibrate --data with a label added since the bundle was trained (calibrate has no
    --vocab) said only "unknown label 'cocoa' (not in the vocabulary of the bundle)": it
    now says the bundle must be retrained to know it, or --unknown-labels skip, which
    then calibrates on the labels the bundle knows."""
    lines = goemotions_small["test"].read_text().splitlines(keepends=True)
    corpus = tmp_path / "cocoa.tsv"
    corpus.write_text("".join(lines[:60]) + "I love hot chocolate\tcocoa\n")
    out = tmp_path / "calibrated"
    result = run("calibrate", bundle, "--data", corpus, "-o", out)
    assert result.exit_code == 3, result.output
    assert (f"{corpus}:61: unknown label 'cocoa' (not in the vocabulary of the bundle "
            f"{bundle}); a label added since the bundle was trained? the bundle knows only "
            "the labels it was trained with: retrain it (tagsmith train --vocab VOCAB) to "
            "calibrate that label too, or give --unknown-labels skip") \
        in " ".join(result.output.split()), result.output
    assert not out.exists()
    result = run("calibrate", bundle, "--data", corpus, "-o", out, "--unknown-labels", "skip")
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").exists()
    # the document whose one label was unknown stays in, with no label (a negative of
    # each), as eval --unknown-labels skip keeps it (README)
    calibration = json.loads(run("info", out, "--json").output)["calibration"]
    assert calibration["n_calibrator_docs"] + calibration["n_conformal_docs"] == 61
    result = run("eval", bundle, corpus, "--unknown-labels", "skip", "--json")
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.stdout)
    assert (evaluated["n_docs"], evaluated["n_docs_without_labels"]) == (61, 1)


def test_an_unknown_label_in_train_names_the_vocab_file(goemotions_small, tmp_path):
    """train --vocab V.tsv: an unknown label in CORPUS or --dev said "(not in the
    vocabulary)", not which file; eval and calibrate name the bundle's."""
    lines = goemotions_small["test"].read_text().splitlines(keepends=True)
    corpus = tmp_path / "cocoa.tsv"
    corpus.write_text("".join(lines[:3]) + "I love hot chocolate\tcocoa\n")
    vocab = goemotions_small["vocab"]
    for args in ((corpus,), (goemotions_small["train"], "--dev", corpus)):
        result = run("train", *args, "--output", tmp_path / "model", "--vocab", vocab,
                     *FAST)
        assert result.exit_code == 3, result.output
        said = " ".join(result.output.split())
        assert (f"{corpus}:4: unknown label 'cocoa' (not in the vocabulary {vocab}); "
                "correct it, add it to the vocabulary, or give --unknown-labels skip to "
                "leave out such labels (counted)" in said), said
    assert not (tmp_path / "model").exists()
    # the way out the error names works
    result = run("train", goemotions_small["train"], "--dev", corpus, "--output",
                 tmp_path / "model", "--vocab", vocab, "--unknown-labels", "skip", *FAST)
    assert result.exit_code == 0, result.output


def test_calibrate_refuses_held_out_data_without_positives_or_too_few(bundle, goemotions_small,
                                                                       tmp_path, caplog):
    before = (bundle / "manifest.json").read_text()
    unlabelled = tmp_path / "unlabelled.tsv"
    unlabelled.write_text("".join(f"some text {i}\n" for i in range(50)))
    result = run("calibrate", bundle, "--data", unlabelled)
    assert result.exit_code == 3, result.output
    assert "carry no label" in result.output and str(unlabelled) in result.output
    lines = goemotions_small["test"].read_text().splitlines(keepends=True)
    tiny = tmp_path / "tiny.tsv"
    tiny.write_text("".join(lines[:5]))
    result = run("calibrate", bundle, "--data", tiny)
    assert result.exit_code == 3 and "only 5 held-out documents" in result.output
    assert (bundle / "manifest.json").read_text() == before
    few = tmp_path / "few.tsv"
    few.write_text("".join(lines[:40]))
    result = CliRunner().invoke(tagsmith_cli.cli, ["calibrate", str(bundle), "--data", str(few),
                                                   "-o", str(tmp_path / "calibrated")])
    assert result.exit_code == 0, result.output
    assert "calibrating on only 40 held-out documents" in caplog.text


def test_train_refuses_a_calibration_split_too_small_before_fitting(goemotions_small,
                                                                     tmp_path, caplog):
    """Its size is known from the corpus and --calibration-fraction: the refusal came only
    once the model had been fitted (twice, with the refit), which on a large corpus is
    the whole training wasted."""

    caplog.set_level(logging.INFO, logger="tagsmith")
    lines = goemotions_small["train"].read_text().splitlines(keepends=True)
    corpus = tmp_path / "small.tsv"
    corpus.write_text("".join(lines[:60]))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "train", str(corpus), "--output", str(tmp_path / "m"), "--vocab",
        str(goemotions_small["vocab"]), "--calibration-fraction", "0.1", *FAST])
    assert result.exit_code == 3, result.output
    assert "only 6 held-out documents" in result.output
    assert "fitting" not in caplog.text and "features for" not in caplog.text
    assert not (tmp_path / "m").exists()


def test_train_names_calibration_fraction_where_the_conformal_split_falls_short(tmp_path,
                                                                             caplog):
    """500 copies of one text among the 700 documents --calibration-fraction 0.7 set
    aside leave 200 for the 350 conformal documents asked: train warned naming
    'conformal_fraction', which it has no option for; the share it splits at is fixed,
    the option the user set is --calibration-fraction."""

    corpus = tmp_path / "thanks.tsv"
    corpus.write_text("".join("thank you\tjoy\n" if i % 2 == 0 else f"text {i}\tanger\n"
                              for i in range(1000)))
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "train", str(corpus), "--output", str(tmp_path / "m"), "--dev-fraction", "0",
            "--calibration-fraction", "0.7", *FAST])
    assert result.exit_code == 0, result.output
    assert ("the conformal share 0.5 (train's fixed split of what --calibration-fraction "
            "set aside; tagsmith calibrate --conformal-fraction splits it otherwise) of the "
            "700 held-out documents asks 350 for the conformal sets, but 500 would go to the "
            "calibrator, 200 to the conformal sets") in caplog.text
    assert "conformal_fraction" not in caplog.text
    # the CLI names its option itself: from Python the parameter keeps its name
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    caplog.clear()
    texts = corpus.read_text().splitlines()
    Y = sp.csr_matrix([[1, 0] if "joy" in line else [0, 1] for line in texts])
    options = TrainOptions(dev_fraction=0.0, calibration_fraction=0.7,
                           featurizer_params={"char_ngrams": None, "min_df": 1})
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        train_classifier([line.split("\t")[0] for line in texts], Y,
                         LabelSpace.from_uris(["joy", "anger"]), options=options)
    assert ("conformal_fraction 0.5 of the 700 held-out documents asks 350 for the "
            "conformal sets, but 500 would go to the calibrator, 200 to the conformal sets"
            ) in caplog.text
    assert "--calibration-fraction" not in caplog.text


def test_held_out_data_overlapping_the_training_data_is_refused(bundle, goemotions_small,
                                                                tmp_path, caplog):
    train_lines = goemotions_small["train"].read_text().splitlines(keepends=True)
    dev_lines = goemotions_small["dev"].read_text().splitlines(keepends=True)
    shuffled = tmp_path / "shuffled.tsv"  # a reordered subset of the training corpus
    shuffled.write_text("".join(reversed(train_lines[:300])))
    result = run("calibrate", bundle, "--data", shuffled, "-o", tmp_path / "cal")
    assert result.exit_code == 2, result.output
    assert f"{shuffled} (300 of its 300 documents are training documents)" in result.output
    assert "not trained on" in result.output and not (tmp_path / "cal").exists()
    result = run("train", goemotions_small["train"], "--output", tmp_path / "m", "--vocab",
                 goemotions_small["vocab"], "--dev", shuffled, *FAST)
    assert result.exit_code == 2 and "'--dev'" in result.output, result.output
    assert f"{shuffled} (300 of its 300" in result.output
    assert not (tmp_path / "m").exists()
    partly = tmp_path / "partly.tsv"
    partly.write_text("".join(train_lines[:20] + dev_lines[:180]))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "calibrate", str(bundle), "--data", str(partly), "-o", str(tmp_path / "cal")])
    assert result.exit_code == 0, result.output
    assert f"{partly}: 20 of its 200 documents are also training documents" in caplog.text


def _as_jsonl(lines, blank: int) -> str:
    """TSV lines (text TAB labels) as JSONL records, ``blank`` records of an empty text
    after them (a CSV or JSONL record can hold one, a TSV line cannot)."""
    import json

    records = [{"text": line.split("\t")[0],
                "labels": line.rstrip("\n").split("\t")[1].split()} for line in lines]
    records += [{"text": "" if i % 2 else "   ", "labels": ["<urn:goemotions:neutral>"]}
                for i in range(blank)]
    return "".join(json.dumps(record) + "\n" for record in records)


def test_train_dev_and_calibrate_data_do_not_count_blank_texts_as_training_documents(
        goemotions_small, tmp_path, caplog):
    """A training corpus and a dev corpus each with empty records (CSV or JSONL) had
    every blank dev text counted a training document: 10 copies and 30 new documents
    beside 60 blank texts read '70 of its 100 documents are training documents' and
    were refused, where eval and audit --scores heldout count 10 (an empty text holds
    nothing a model learnt). Now the count and the share leave them out, and the
    warning says how many."""
    train_lines = goemotions_small["train"].read_text().splitlines(keepends=True)
    dev_lines = goemotions_small["dev"].read_text().splitlines(keepends=True)
    train = tmp_path / "train.jsonl"
    train.write_text(_as_jsonl(train_lines, 20))
    dev = tmp_path / "dev.jsonl"
    dev.write_text(_as_jsonl(train_lines[:10] + dev_lines[:30], 60))
    def loud(*args):  # no -q: the warnings reach caplog
        return CliRunner().invoke(tagsmith_cli.cli, [*map(str, args)])

    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("train", train, "--output", tmp_path / "m", "--vocab",
                      goemotions_small["vocab"], "--dev", dev, *FAST)
    assert result.exit_code == 0, result.output
    assert (f"{dev}: 10 of its 100 documents are also training documents "
            "(--dev; 60 blank texts not counted)") in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("calibrate", tmp_path / "m", "--data", dev, "-o", tmp_path / "cal")
    assert result.exit_code == 0, result.output
    assert (f"{dev}: 10 of its 100 documents are also training documents "
            "(--data; 60 blank texts not counted)") in caplog.text
    # half of the texts that are not blank is refused, as before
    many = tmp_path / "many.jsonl"
    many.write_text(_as_jsonl(train_lines[:20] + dev_lines[:20], 60))
    result = run("calibrate", tmp_path / "m", "--data", many, "-o", tmp_path / "cal2")
    assert result.exit_code == 2, result.output
    assert (f"{many} (20 of its 100 documents are training documents; 60 blank texts "
            "not counted)") in " ".join(result.output.split())
    assert not (tmp_path / "cal2").exists()


def _without_training_hashes(bundle, tmp_path):
    """A copy of ``bundle`` as tagsmith saved it before it recorded its training texts
    (no train_texts.npz, none in the manifest)."""
    import shutil

    from tagsmith.pipeline.classifier import TRAIN_HASHES

    old = tmp_path / "old"
    shutil.copytree(bundle, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["files"][TRAIN_HASHES]
    (old / TRAIN_HASHES).unlink()
    (old / "manifest.json").write_text(json.dumps(manifest))
    return old


def test_bundles_without_training_hashes_still_load(bundle, tmp_path):
    from tagsmith.pipeline.classifier import TextClassifier

    assert TextClassifier.load(bundle).train_hashes.size > 2000
    old = _without_training_hashes(bundle, tmp_path)
    assert TextClassifier.load(old).train_hashes is None


def test_calibrating_a_bundle_without_training_hashes_warns_that_data_is_unchecked(
        bundle, goemotions_small, tmp_path, caplog):
    # bundles saved before train_texts.npz: a subset of their own training corpus
    # calibrated them without a word (optimistic probabilities, void conformal sets)
    old = _without_training_hashes(bundle, tmp_path)
    train_lines = goemotions_small["train"].read_text().splitlines(keepends=True)
    subset = tmp_path / "subset.tsv"
    subset.write_text("".join(train_lines[:300]))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "calibrate", str(old), "--data", str(subset), "-o", str(tmp_path / "cal")])
    assert result.exit_code == 0, result.output
    assert (f"{subset}: the bundle records no training texts (it was saved by an older "
            "tagsmith), so --data cannot be checked") in caplog.text
    assert "train it again with this version" in caplog.text
    caplog.clear()  # a bundle that records them says nothing of the kind
    dev = tmp_path / "dev.tsv"
    dev.write_text(goemotions_small["dev"].read_text())
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "calibrate", str(bundle), "--data", str(dev), "-o", str(tmp_path / "cal2")])
    assert result.exit_code == 0, result.output
    assert "records no training texts" not in caplog.text


def test_library_evaluation_refuses_a_threshold_outside_the_unit_interval(bundle):
    import scipy.sparse as sp

    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import evaluate_classifier

    classifier = TextClassifier.load(bundle)
    Y = sp.csr_matrix((1, classifier.n_labels))
    for bad in (float("nan"), 1.5, -0.5):
        with pytest.raises(InvalidParameterError, match="threshold"):
            evaluate_classifier(classifier, ["so happy"], Y, threshold=bad)
    assert "micro_f1" in evaluate_classifier(classifier, ["so happy"], Y, threshold=0.5)


LLM = ["--base-url", "http://127.0.0.1:9/v1", "--llm", "m"]


@pytest.mark.parametrize("args, message", [
    (["shift", "m", "d.txt", "--save", "--clear"], "--save and --clear cannot be combined"),
    (["shift", "m", "d.txt", "--clear"], "FILES only applies with an estimate (not with --clear)"),
    (["shift", "m", "--clear", "--method", "bbse"],
     "--method only applies with an estimate (not with --clear)"),
    (["calibrate", "m", "--calibrator-source", "same", "--conformal-fraction", "0.3"],
     "--conformal-fraction only applies with --calibrator-source split"),
    (["label", "d.txt", "--vocab", "v.tsv", "-o", "o.jsonl", "--strategy", "random", *LLM],
     "--strategy only applies with --budget"),
    (["label", "d.txt", "--vocab", "v.tsv", "-o", "o.jsonl", "--student", "s", *LLM],
     "--student only applies with --budget"),
    (["zeroshot", "v.tsv", "d.txt", "--weight", "0.2"], "--weight only applies with --bundle"),
    (["zeroshot", "v.tsv", "d.txt", "--hubness-neighbors", "5"],
     "--hubness-neighbors only applies with --background"),
    (["audit", "c.tsv", "-o", "a", "--scores", "knn", "--model", "tree"],
     "--model only applies with --scores crossfit (or auto)"),
    (["audit", "c.tsv", "-o", "a", "--scores", "knn", "--folds", "3"],
     "--folds only applies with --scores crossfit (or auto)"),
    (["audit", "c.tsv", "-o", "a", "--scores", "bundle", "--bundle", "b", "-p", "C=2"],
     "--param only applies with --scores crossfit or knn (or auto)"),
    (["audit", "c.tsv", "-o", "a", "--no-near-duplicates", "--near-duplicate-threshold",
      "0.8"], "--near-duplicate-threshold only applies with near-duplicate search"),
    (["suggest", "m", "d.txt", "--set-method", "lpicp"], "--set-method only applies with --sets"),
    (["suggest", "m", "d.txt", "--alpha", "0.2", "--min-confidence", "0.5"],
     "--alpha and --min-confidence only apply with --sets"),
    (["train", "c.tsv", "-o", "m", "--calibration-method", "platt"],
     "--calibration-method only applies with --calibration-fraction"),
    (["train", "c.tsv", "-o", "m", "--calibrator-source", "crossfit", "--crossfit-folds", "2"],
     "--calibrator-source only applies with --calibration-fraction"),
    (["train", "c.tsv", "-o", "m", "--min-precision", "0.9"],
     "--min-precision only applies with --calibration-fraction"),
    (["calibrate", "m", "--min-precision", "0.9", "--beta", "2"],
     "--min-precision and --beta are two objectives for the thresholds"),
    (["train", "c.tsv", "-o", "m", "--calibration-fraction", "0.2", "--calibrator-source",
      "crossfit"], "--calibrator-source crossfit needs --crossfit-folds N (N >= 2)"),
    (["train", "c.tsv", "-o", "m", "--dev", "d.tsv", "--dev-fraction", "0.2"],
     "--dev-fraction only applies with a share of CORPUS held out (no --dev)"),
    (["train", "c.tsv", "-o", "m", "--dev", "d.tsv", "--no-refit"],
     "--no-refit only applies with a share of CORPUS held out (no --dev)"),
])
def test_options_that_would_be_ignored_are_refused(args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.output, result.output


def _train_and_suggest_tsv(tmp_path, corpus, vocab, docs, *, k: int):
    """Train a model on ``corpus`` and suggest ``k`` labels for ``docs`` as TSV (every
    score shown); the suggest run's result."""
    model = tmp_path / "model"
    result = run("train", corpus, "--output", model, "--vocab", vocab, "--dev-fraction", "0",
                 *FAST)
    assert result.exit_code == 0, result.output
    result = run("suggest", model, docs, "--format", "tsv", "--k", str(k), "--threshold", "0")
    assert result.exit_code == 0, result.output
    return result


def test_text_output_escapes_terminal_control_characters(tmp_path):
    """Label names, document ids and error messages from files reach the terminal with
    their control characters escaped (OSC/CSI sequences, 8-bit C1 controls, DEL)."""
    evil = "\x1b]0;pwned\x07\x1b[31mRED\x9b2J\x7f"
    shown = "\\x1b]0;pwned\\x07\\x1b[31mRED\\x9b2J\\x7f"
    vocab = tmp_path / "ansi.tsv"
    vocab.write_text(f"<u:evil>\t{evil}\n<u:calm>\tcalm\n", encoding="utf-8")
    result = run("vocab", vocab)
    assert result.exit_code == 0, result.output
    assert shown in result.output
    assert not any(ch in result.output for ch in "\x1b\x07\x9b\x7f")
    result = run("vocab", vocab, "--json")  # JSON escapes them too, DEL and C1 included
    assert not any(ch in result.output for ch in "\x1b\x07\x9b\x7f")
    assert json.loads(result.output)["labels"][0]["label"] == evil
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{text} {i}\t<u:evil>\n" for i, text in enumerate(
        ["angry words", "shouting loud", "very angry"] * 4)) + "".join(
        f"{text} {i}\t<u:calm>\n" for i, text in enumerate(
            ["quiet lake", "calm morning", "soft rain"] * 4)), encoding="utf-8")
    docs = tmp_path / "docs\x1b[2J.txt"
    docs.write_text("very angry words\n")
    result = _train_and_suggest_tsv(tmp_path, corpus, vocab, docs, k=2)
    assert shown in result.output and "docs\\x1b[2J.txt:1\t" in result.output
    assert not any(ch in result.output for ch in "\x1b\x07\x9b\x7f")
    result = run("vocab", tmp_path / "missing\x1b]0;x\x07.tsv")
    assert result.exit_code != 0 and "missing\\x1b]0;x\\x07.tsv" in result.output
    assert "\x1b]" not in result.output


def test_log_lines_escape_terminal_control_characters(tmp_path):
    import subprocess
    import sys

    corpus = tmp_path / "c\x1b]0;pwned\x07.tsv"  # the warning names the file
    corpus.write_text("a text\t<urn:x:known>\nanother\t<urn:x:other>\n" * 3,
                      encoding="utf-8")
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<urn:x:known>\tknown\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "tagsmith", "train", str(corpus), "--vocab", str(vocab),
         "-o", str(tmp_path / "m"), "--unknown-labels", "skip", "--dev-fraction", "0"],
        capture_output=True, text=True, timeout=300)
    assert "unknown label" in result.stderr, result.stderr
    assert "\x1b" not in result.stderr and "\\x1b]0;pwned\\x07" in result.stderr


def test_suggest_tsv_escapes_read_back_a_backslash_apart_from_a_tab(tmp_path):
    """A label named with a backslash and a 't' was written as a label holding a tab is
    (both read a\tb): the TSV escapes could not be told apart nor read back."""
    import csv
    import re

    names = {"u:tab": "a\tb", "u:slash": "a\\tb", "u:path": "C:\\new\\x1b"}
    vocab = tmp_path / "vocab.csv"
    with open(vocab, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["uri", "label_en"])
        writer.writerows([uri, name] for uri, name in names.items())
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{word} {i}\t<{uri}>\n" for i in range(6)
                              for word, uri in (("tabs", "u:tab"), ("slashes", "u:slash"),
                                                ("paths", "u:path"))), encoding="utf-8")
    docs = tmp_path / "back\\slash.txt"
    docs.write_text("tabs and slashes and paths\n")
    result = _train_and_suggest_tsv(tmp_path, corpus, vocab, docs, k=3)
    escapes = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}

    def read_back(field):  # linear TSV, and \xHH for the other controls
        return re.sub(r"\\(x[0-9a-f]{2}|.)", lambda m: escapes.get(m.group(1)) or chr(
            int(m.group(1)[1:], 16)), field)

    rows = [line.split("\t") for line in result.output.splitlines()]
    assert len(rows) == 3 and all(len(row) == 4 for row in rows)
    assert {read_back(row[1]): read_back(row[2]) for row in rows} == {
        f"<{uri}>": name for uri, name in names.items()}
    assert {read_back(row[0]) for row in rows} == {f"{docs}:1"}


def test_a_single_v_gives_more_log_output_than_none(goemotions_small, monkeypatch):
    """-v, none and -q set tagsmith's log level while their command runs (read there),
    and the caller's level is back afterwards."""

    from tagsmith.cli import commands

    logger = logging.getLogger("tagsmith")
    during = []
    real = commands.warn_unnamed_language

    def observed(*args, **kwargs):  # the real check, seen from inside the command
        during.append(logger.getEffectiveLevel())
        return real(*args, **kwargs)

    monkeypatch.setattr(commands, "warn_unnamed_language", observed)
    before = logger.level
    try:
        logger.setLevel(logging.WARNING)  # the caller's own
        for flags in ((), ("-v",), ("-q",)):
            result = CliRunner().invoke(tagsmith_cli.cli,
                                        [*flags, "vocab", str(goemotions_small["vocab"])])
            assert result.exit_code == 0, result.output
            assert logger.level == logging.WARNING, flags
        assert during[1] < during[0] < during[2]  # -v, none (INFO), -q
    finally:
        logger.setLevel(before)


def test_quiet_in_process_leaves_the_callers_logging_as_it_was(goemotions_small, tmp_path):
    """-q set the tagsmith logger to ERROR for good (and -v to DEBUG), and basicConfig's
    root handler stayed: after an in-process main(["-q", ...]) the caller's own tagsmith
    warnings were hidden, also after a command that failed."""
    script = tmp_path / "caller.py"
    script.write_text(
        "import logging, sys\n"
        "from tagsmith.cli import main\n"
        "for argv in (['-q', 'vocab', sys.argv[1]], ['-v', 'vocab', sys.argv[1]],\n"
        "             ['-q', 'vocab', sys.argv[1] + '.missing']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        print('exit', exc.code)\n"
        "    print('levels', logging.getLogger('tagsmith').level, logging.getLogger().level,\n"
        "          len(logging.getLogger().handlers))\n"
        "    logging.getLogger('tagsmith').warning('caller warning after %s', argv[0])\n",
        encoding="utf-8")
    result = subprocess.run([sys.executable, str(script), str(goemotions_small["vocab"])],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("exit 0") == 2 and "exit 3" in result.stdout
    # NOTSET, WARNING (the defaults), no handler: as before the first command
    assert result.stdout.count("levels 0 30 0") == 3, result.stdout
    assert result.stderr.count("caller warning after -q") == 2, result.stderr
    assert "caller warning after -v" in result.stderr


def test_the_most_folds_are_said_in_help_and_refused_by_the_command_line(tmp_path):
    # --help said x>=2; 40000 folds went on to the library's refusal
    assert "2<=x<=32767" in run("audit", "--help").output.replace("\n", " ").replace(" ", "")
    assert "2<=N<=32767" in run("train", "--help").output.replace("\n", " ").replace(" ", "")
    result = run("audit", tmp_path / "missing.tsv", "-o", tmp_path / "a", "--folds", "40000")
    assert result.exit_code == 2 and "'--folds': 40000 is not in the range 2<=x<=32767" in \
        result.output, result.output


@pytest.mark.parametrize("command", [["calibrate", "m"],
                                     ["train", "c.tsv", "-o", "m", "--calibration-fraction",
                                      "0.2"]])
@pytest.mark.parametrize("value", ["0", "1", "nan"])
def test_min_precision_is_refused_outside_the_open_range_in_one_message(command, value):
    # 0 was refused as "expected a number in (0, 1]", and 1 then in other words (the
    # library's "error: option '--min-precision' must be a precision in (0, 1) ...")
    result = run(*command, "--min-precision", value)
    assert result.exit_code == 2 and (f"'--min-precision': expected a number in (0, 1), "
                                      f"got {value}") in result.output, result.output


@pytest.mark.parametrize("option", ["--min-probability", "--near-duplicate-threshold"])
def test_audit_min_probability_nan_is_refused_before_any_work(tmp_path, option):
    result = run("audit", tmp_path / "missing.tsv", "-o", tmp_path / "a", option, "nan")
    # the range is open at 0, as click's own refusal of 0 says: NaN's said "[0, 1]"
    # (--min-probability) or went on to a refusal in other words (--near-duplicate-...)
    assert result.exit_code == 2 and f"'{option}': expected a number in (0, 1], got nan" \
        in result.output, result.output


def test_quiet_turns_off_every_progress_bar_even_ones_a_bundle_asks_for(bundle, goemotions_small,
                                                                       monkeypatch):
    """eval asks its bundle for a bar (show_progress=True); -q at predict time used to
    draw it on a terminal anyway."""
    import io
    import types
    from contextlib import contextmanager

    import tagsmith.pipeline.classifier as classifier_module
    from tagsmith import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    # the bar is chosen by progress's own view of stderr (the runner swaps sys.stderr)
    monkeypatch.setattr(progress, "sys", types.SimpleNamespace(stderr=Terminal()))
    monkeypatch.setattr(classifier_module, "PREDICT_CHUNK", 100)  # a bar for 600 documents
    bars = []
    real = classifier_module.progress_bar

    @contextmanager
    def spy(**kw):
        with real(**kw) as bar:
            bars.append(type(bar).__name__)
            yield bar

    monkeypatch.setattr(classifier_module, "progress_bar", spy)
    assert run("eval", bundle, goemotions_small["test"]).exit_code == 0  # run() gives -q
    assert CliRunner().invoke(tagsmith_cli.cli, ["eval", str(bundle),
                                                 str(goemotions_small["test"])]).exit_code == 0
    assert bars[0] == "_NoProgress" and len(bars) == 2
    assert bars[1] not in ("_NoProgress", "_LogProgress")  # a tqdm bar on the terminal


def test_quiet_silences_the_progress_bars_of_its_command_alone(goemotions_small, tmp_path):
    """main(["-q", ...]) run in process (a script, a notebook) silenced every progress bar
    of the calling program for good; it is now as before once the command ends, failed
    or not, and a caller's own progress.silence() outlives a run without -q."""
    from tagsmith import progress

    def bar_kind():
        with progress.progress_bar(total=1, desc="x") as bar:
            return type(bar).__name__

    vocab = str(goemotions_small["vocab"])
    assert bar_kind() == "_LogProgress"  # stderr is no terminal under pytest
    for args, code in ((["-q", "vocab", vocab], 0),
                       (["-q", "vocab", str(tmp_path / "missing.tsv")], 3)):
        with pytest.raises(SystemExit) as stopped:
            tagsmith_cli.main(args)
        assert stopped.value.code == code
        assert bar_kind() == "_LogProgress", args
    progress.silence(True)
    with pytest.raises(SystemExit):
        tagsmith_cli.main(["vocab", vocab])
    assert bar_kind() == "_NoProgress"


def test_a_miss_rate_outside_zero_one_is_refused_naming_the_option(bundle, goemotions_small):
    for args in (("suggest", bundle, "--sets", "--alpha", "2"),  # even with no document
                 ("suggest", bundle, "--sets", "--alpha", "nan"),
                 ("eval", bundle, goemotions_small["test"], "--calibration", "--alpha", "0"),
                 ("calibrate", bundle, "--alpha", "1")):
        result = run(*args, input="")
        assert result.exit_code == 2, (args, result.output)
        assert "--alpha" in result.output and "(0, 1)" in result.output


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_to_a_full_disk_is_one_line_not_a_traceback(tmp_path):
    # stdout redirected to a full disk (here /dev/full): an OSError traceback before
    vocab = tmp_path / "v.tsv"
    vocab.write_text("".join(f"<urn:x:{i}>\tlabel {i}\n" for i in range(50)), encoding="utf-8")
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "tagsmith", "vocab", str(vocab),
                                 "--show", "50"], stdout=full, stderr=subprocess.PIPE,
                                text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert result.stderr.strip() == "error: writing the output: No space left on device"


@pytest.mark.parametrize("quiet", [True, False], ids=["-q", "progress-log"])
@pytest.mark.parametrize("merged", [False, True], ids=["stdout", "stdout-and-stderr"])
def test_a_reader_that_goes_away_stops_tagsmith_quietly(bundle, tmp_path, merged, quiet):
    # `tagsmith suggest ... | head -1`: exit 1 and nothing said before (click's own
    # handling), or a BrokenPipeError traceback; now the documented 141, and no noise.
    # Without -q, stderr no terminal, the progress log's closing line said
    # 'suggest: 0 docs' (the batch being written was never counted) after answers
    docs = tmp_path / "docs.txt"
    docs.write_text("I am so happy for you, thank you!\n" * 2000, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "tagsmith", *(["-q"] if quiet else []), "suggest",
         str(bundle), str(docs)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merged else subprocess.PIPE)
    assert process.stdout is not None
    first = process.stdout.readline()
    process.stdout.close()  # far more output than a pipe buffer holds is still to come
    stderr = b"" if merged else process.stderr.read()
    assert process.wait(timeout=300) == 141, stderr
    assert json.loads(first)["doc"] == f"{docs}:1"
    assert stderr == b""


def test_suggest_answers_a_pipes_documents_before_the_pipe_is_closed(bundle):
    # `tail -f log | tagsmith suggest B -`: a batch waited for 512 documents, and the
    # first line break for 64 KiB of input, so three lines written to a pipe kept open
    # got no answer until the writer wrote more or closed it
    import os
    import select

    process = subprocess.Popen([sys.executable, "-m", "tagsmith", "-q", "suggest",
                                str(bundle), "-"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(b"I am so happy for you\nthis is awful\nthank you!\n")
        process.stdin.flush()
        out = b""
        while out.count(b"\n") < 3:  # stdin stays open: the answers come while it waits
            readable, _, _ = select.select([process.stdout], [], [], 300)
            assert readable, f"no answer to the third document while stdin is open: {out!r}"
            piece = os.read(process.stdout.fileno(), 1 << 16)
            assert piece, f"stdout closed: {out!r}"
            out += piece
        assert [json.loads(line)["doc"] for line in out.splitlines()] == [
            "stdin:1", "stdin:2", "stdin:3"]
        assert process.poll() is None  # still reading
    finally:
        process.stdin.close()
        rest = process.stdout.read()
        stderr = process.stderr.read() if process.stderr else b""
        code = process.wait(timeout=300)
    assert code == 0 and rest == b"", stderr


def test_a_pipes_lines_already_read_keep_a_batch_going(monkeypatch):
    # select looks at the descriptor, not at what stdin's buffer already holds: lines
    # written in one burst were read into the buffer at once, and each of them after the
    # first ended a batch of its own (100-line bursts: 692 batches for 3,000 documents,
    # twice the CPU time of the same documents from a file)
    import io
    import os

    from tagsmith.cli import commands

    read_end, write_end = os.pipe()
    stdin = io.BufferedReader(io.FileIO(read_end, closefd=True))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin))
    try:
        os.write(write_end, b"one\ntwo\n\nthree\n")  # the writer pauses after this
        documents = commands._stdin_documents(False)
        assert next(documents)[0] == "stdin:1"
        assert commands.input_ready()  # two and three are read already
        assert next(documents)[0] == "stdin:2"
        assert commands.input_ready()
        assert next(documents)[0] == "stdin:4"
        assert not commands.input_ready()  # nothing more written yet: answer these
        os.write(write_end, b"four\n")
        assert commands.input_ready()
        assert next(documents)[0] == "stdin:5"
        assert not commands.input_ready()
        os.close(write_end)
        write_end = None
        assert list(documents) == []
        assert commands.input_ready()  # nothing watched
    finally:
        if write_end is not None:
            os.close(write_end)
        stdin.close()


class _WrittenLate(io.FileIO):
    """The read end of a non-blocking pipe whose writer writes the next of ``chunks``
    each time a read finds nothing there, and closes the pipe once they are all written:
    as a writer does whose lines come a moment after the command has started reading
    them, with no timing to depend on."""

    def __init__(self, read_end: int, write_end: int, *chunks: bytes) -> None:
        os.set_blocking(read_end, False)
        super().__init__(read_end, closefd=True)
        self.write_end: int | None = write_end
        self.chunks = list(chunks)

    def readinto(self, buffer):  # a buffered reader's read of it
        return self._written_if_none(super().readinto(buffer))

    def read(self, size=-1):
        return self._written_if_none(super().read(size))

    def _written_if_none(self, got):
        if got is None and self.write_end is not None:  # nothing yet: "try again"
            if self.chunks:
                os.write(self.write_end, self.chunks.pop(0))
            else:
                self.close_writer()
        return got

    def close_writer(self) -> None:
        if self.write_end is not None:
            os.close(self.write_end)
            self.write_end = None


def test_the_counting_reader_waits_for_a_non_blocking_pipes_input():
    # readinto over a non-blocking raw stream with nothing to read: the stream's read
    # gives None (io's "no data yet"), and len(None) was a TypeError; the None then
    # returned read as the end of the input to the buffered reader over it
    from tagsmith.cli.commands import _CountingReader

    stream = _WrittenLate(*os.pipe(), b"a\nb\n")
    reader = _CountingReader(stream)
    try:
        buffer = bytearray(16)
        assert reader.readinto(buffer) == 4 and bytes(buffer[:4]) == b"a\nb\n"
        assert stream.chunks == []  # it read nothing first, and waited
        assert reader.line_feeds == 2
        assert reader.readinto(buffer) == 0  # the writer closed: the end
    finally:
        stream.close_writer()
        stream.close()


@pytest.mark.parametrize("read", ["lines", "whole", "bytes"])
def test_stdin_given_as_a_non_blocking_pipe_is_read_as_its_input_comes(monkeypatch, read):
    # a pipe whose read end its maker set O_NONBLOCK (os.set_blocking(r, False) before
    # the command started): stdin's buffered reader gave b"" while nothing was written
    # yet, which read as the end of the input: 'suggest B -' answered no document, and
    # the documents written a moment later were never read
    from types import SimpleNamespace

    from tagsmith.cli import commands

    stream = _WrittenLate(*os.pipe(), b"one\n", b"two\n")
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BufferedReader(stream)))
    try:
        if read == "bytes":
            assert commands.read_stdin_bytes() == b"one\ntwo\n"
        elif read == "whole":
            assert list(commands._stdin_documents(True)) == [("stdin", "one\ntwo")]
        else:
            assert list(commands._stdin_documents(False)) == [("stdin:1", "one"),
                                                              ("stdin:2", "two")]
        assert stream.chunks == [] and stream.write_end is None  # all read, to the end
    finally:
        stream.close_writer()
        stream.close()


def test_a_closed_stdin_is_refused_naming_it(monkeypatch):
    # `tagsmith suggest B - <&-` (stdin closed, sys.stdin None) ended in a traceback,
    # "TypeError: 'NoneType' object is not iterable", exit 1
    from tagsmith.cli import commands

    monkeypatch.setattr(sys, "stdin", None)
    for read in (lambda: list(commands._stdin_documents(False)),
                 lambda: list(commands._stdin_documents(True)), commands.read_stdin_bytes):
        with pytest.raises(DataError, match=r"^stdin: cannot be read \(it is closed\)"):
            read()


def test_a_data_error_in_suggest_input_is_the_last_thing_said(bundle, tmp_path):
    # the progress log's closing line 'suggest: 0 docs' came before the error of a
    # malformed record, as if suggest had succeeded on no document
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"text": "so happy"}\n{"text": \n', encoding="utf-8")
    process = subprocess.run([sys.executable, "-m", "tagsmith", "suggest", str(bundle),
                              str(docs)], capture_output=True, text=True, timeout=300)
    assert process.returncode == 3, process.stderr
    lines = process.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: {docs}:2: "), lines
    assert not any("suggest: " in line for line in lines[:-1]), lines


def test_a_closed_pipe_stops_suggest_before_it_scores_the_rest(bundle, tmp_path, monkeypatch):
    """The output streams batch by batch: a closed pipe ends the run at the next write,
    not after every document has been scored."""
    import errno

    from tagsmith.pipeline.classifier import TextClassifier

    scored = []
    original = TextClassifier.suggest

    def counting(self, texts, **options):
        scored.append(len(texts))
        return original(self, texts, **options)

    def closed_pipe(*args, **kwargs):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(TextClassifier, "suggest", counting)
    monkeypatch.setattr(tagsmith_cli.click, "echo", closed_pipe)
    docs = tmp_path / "docs.txt"
    docs.write_text("so sad today\n" * 2000, encoding="utf-8")
    result = run("suggest", bundle, docs)
    assert result.exit_code == 141, result.output
    assert scored == [512]  # the first batch; the other three were never scored


def test_eval_calibration_of_an_uncalibrated_bundle_names_the_option(bundle, goemotions_small,
                                                                     tmp_path):
    """The refusal said parameter 'bundle' must be a calibrated model, once the whole
    corpus had been read (a corpus without labels was refused first: exit 3); suggest
    --sets names its option for the same mistake."""
    unlabelled = tmp_path / "texts.tsv"
    unlabelled.write_text("no labels column here\n")
    for corpus in (goemotions_small["test"], unlabelled):
        result = run("eval", bundle, corpus, "--calibration")
        assert result.exit_code == 2, result.output
        assert "option '--calibration' must be used with a calibrated bundle" in result.output
        assert f"{bundle}, which is not calibrated" in result.output
        assert "'bundle'" not in result.output



def test_vv_and_q_set_the_root_level_of_a_program_with_its_own_logging(goemotions_small,
                                                                       monkeypatch):
    """A program with its own root handler runs main() in process: -vv (the libraries'
    debug messages) and -q (errors alone) left its root logger's level as it was, since
    logging.basicConfig does nothing once the root has a handler. The level is the
    program's again once the command ends; without -vv/-q it is not touched."""

    import tagsmith.data.vocab as vocab_module

    root = logging.getLogger()
    levels: list[int] = []
    original = vocab_module.load_vocabulary

    def spy(*args, **kwargs):
        levels.append(root.level)
        return original(*args, **kwargs)

    monkeypatch.setattr(vocab_module, "load_vocabulary", spy)
    handler = logging.NullHandler()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        for flag, expected in (("-vv", logging.DEBUG), ("-q", logging.ERROR),
                               ("-v", logging.WARNING)):
            with pytest.raises(SystemExit) as stopped:
                tagsmith_cli.main([flag, "vocab", str(goemotions_small["vocab"])])
            assert stopped.value.code == 0
            assert levels[-1] == expected, flag
            assert root.level == logging.WARNING and handler in root.handlers
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def test_stdin_named_twice_is_refused(bundle):
    """`suggest B - -` read stdin for the first '-' and nothing for the second, without
    a word; shift's files the same."""
    for command in ("suggest", "shift"):
        result = run(command, bundle, "-", "-", input="I am so happy for you\n")
        assert result.exit_code == 2, (command, result.output)
        assert "'-' (stdin) is given more than once" in result.output
        assert "happy" not in result.output


def test_calibrate_without_data_or_stored_split_says_what_to_give(bundle, tmp_path):
    """It said "parameter '--data' must be a labelled corpus ..., got None", as if a
    value had been given."""
    result = run("calibrate", bundle, "-o", tmp_path / "cal")
    assert result.exit_code == 2, result.output
    assert "stores no calibration split: give --data" in result.output
    assert "got None" not in result.output and not (tmp_path / "cal").exists()


#: run in a child process: tagsmith's CLI with a pause (``slow``) at one point of a
#: bundle save, announced by touching the marker file argv[1]
_PAUSED_SAVE = r'''
import os, sys, time
from pathlib import Path
import tagsmith.store.bundle as bundle
marker, where = Path(sys.argv[1]), sys.argv[2]
real_write, real_rename = bundle._write_bytes, os.rename
def pause():
    marker.touch()
    time.sleep(60)
def write(path, payload):
    if where == "staging":
        pause()
    return real_write(path, payload)
def rename(src, dst):
    if where == "renames" and Path(src).name.startswith(".model.tmp-"):
        pause()  # the good bundle is moved aside, the new one not yet in its place
    return real_rename(src, dst)
bundle._write_bytes, bundle.os.rename = write, rename
from tagsmith.cli import main
main(sys.argv[3:])
'''


def _bundle_to_save_again(goemotions_small, tmp_path):
    """A bundle trained into ``tmp_path/out/model``: its folder, the ``train`` arguments
    that save it there (again, for :data:`_PAUSED_SAVE`) and its files' bytes by name."""
    out = tmp_path / "out" / "model"
    train = ["train", goemotions_small["dev"], "--output", out, "--vocab",
             goemotions_small["vocab"], "--dev-fraction", "0", *FAST]
    assert run(*train).exit_code == 0
    return out, train, {p.name: p.read_bytes() for p in out.iterdir()}


@pytest.mark.parametrize("where", ["staging", "renames"])
def test_sigterm_while_saving_keeps_the_good_bundle_and_leaves_no_temporaries(
        goemotions_small, tmp_path, where):
    # `timeout`, `kill`, a scheduler: SIGTERM's default action ended the process at
    # once, leaving the half-written '.model.tmp-*' bundle behind, and between the
    # renames the good bundle away from its path, as '.model.old-*'
    import signal
    import time

    out, train, before = _bundle_to_save_again(goemotions_small, tmp_path)
    marker = tmp_path / "paused"
    process = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_SAVE, str(marker), where, "-q", *map(str, train),
         "--seed", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), process.communicate()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert stderr.decode().strip() == "terminated"
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(),
                    reason="fills the pipe through /proc/self/fd (Linux)")
@pytest.mark.parametrize("where", ["staging", "renames"])
def test_kill_ends_a_save_stopped_by_ctrl_c_whose_closing_line_waits_on_its_stderr(
        goemotions_small, tmp_path, where):
    """Ctrl-C while saving, then ``kill``, while nobody read the run's stderr (a pipe to
    a stalled log collector): "interrupted" waited for room in the pipe, a ``kill``
    raised there, then click's blank line after it waited too, and only a second
    ``kill`` ended the run, with exit code 1 (unexpected error). A ``kill`` after the
    stop being handled ends the run at once (143); the good bundle stays, and no
    temporary folder is left."""
    import os
    import signal
    import time

    out, train, before = _bundle_to_save_again(goemotions_small, tmp_path)
    marker = tmp_path / "paused"
    with unread_pipe() as (read_end, write_end):
        process = subprocess.Popen(
            [sys.executable, "-c", _PAUSED_SAVE, str(marker), where, "-q",
             *map(str, train), "--seed", "1"],
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            stdout=subprocess.DEVNULL, stderr=write_end,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 240
        while not marker.exists() and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), process.poll()
        fill_pipe(write_end)  # the child's next write to stderr waits
        process.send_signal(signal.SIGINT)
        # one kill once the stop is handled must end the run; one that comes while the
        # save still cleans up is handled as the stop (it raises there): send more
        kills, deadline = 0, time.monotonic() + 180
        while process.poll() is None and time.monotonic() < deadline:
            process.send_signal(signal.SIGTERM)
            kills += 1
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        ended = exit_code_or_drain(process, read_end)
    assert ended == 143, (ended, kills)
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_full_disk_while_saving_a_bundle_names_it_and_keeps_the_good_one(
        goemotions_small, tmp_path):
    # a real full file system (a small tmpfs; needs the right to mount one): the error
    # said "writing the output", as for stdout, not which output could not be written
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        out = disk / "model"
        train = ["train", goemotions_small["dev"], "--output", out, "--vocab",
                 goemotions_small["vocab"], "--dev-fraction", "0", *FAST]
        assert run(*train).exit_code == 0
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        import os

        stats = os.statvfs(disk)  # fill all but a few KiB
        (disk / "filler").write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - 8192))
        result = subprocess.run([sys.executable, "-m", "tagsmith", "-q", *map(str, train)],
                                capture_output=True, text=True)
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip() == f"error: {out}: No space left on device"
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "model"]
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_every_input_named_unlike_its_gzip_bytes_is_told_to_rename(bundle, goemotions_small,
                                                                   tmp_path):
    """A corpus, vocabulary, review or document file compressed but not named ``.gz`` (or
    named ``.gz`` but plain) said "not valid UTF-8" / "not UTF-8 text ... save the file
    as UTF-8" or "Not a gzipped file (b'<u')": now each says what to rename (exit 3)."""
    test = Path(goemotions_small["test"])
    vocab = Path(goemotions_small["vocab"])
    packed = tmp_path / "test.tsv"
    packed.write_bytes(gzip.compress(test.read_bytes()))
    packed_vocab = tmp_path / "vocab.tsv"
    packed_vocab.write_bytes(gzip.compress(vocab.read_bytes()))
    plain_docs = tmp_path / "docs.txt.gz"
    plain_docs.write_text("so happy\n")
    review = tmp_path / "review.csv"
    review.write_bytes(gzip.compress(b"rank,decision\n"))
    for args, path, named in (
            (("eval", bundle, packed), packed, False),
            (("train", packed, "-o", tmp_path / "m", "--vocab", vocab), packed, False),
            (("train", test, "-o", tmp_path / "m", "--vocab", packed_vocab), packed_vocab,
             False),
            (("vocab", packed_vocab), packed_vocab, False),
            (("suggest", bundle, plain_docs), plain_docs, True),
            (("apply-review", test, review, "-o", tmp_path / "new.tsv", "--vocab", vocab),
             review, False)):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        if named:
            assert f"{path}: is not gzip-compressed, but its name ends in .gz: remove .gz" \
                in result.output, result.output
        else:
            assert f"{path}: is gzip-compressed, but its name does not end in .gz: add .gz" \
                in result.output, result.output
        assert "UTF-8" not in result.output and "Not a gzipped" not in result.output


def test_document_files_are_checked_before_the_bundle_or_encoder_loads(bundle, tmp_path):
    """A typo in a FILES name of suggest or zeroshot failed only after the bundle
    (zeroshot: the sentence encoder, seconds) was loaded; a damaged bundle's error hid
    the missing file. (shift checks that it can save its bundle in place first.)"""
    vocab = ROOT / "examples" / "goemotions" / "vocab.tsv"
    not_a_bundle = tmp_path / "not-a-bundle"
    not_a_bundle.mkdir()
    missing = tmp_path / "missing.txt"
    for args in (("suggest", not_a_bundle, missing),
                 ("zeroshot", vocab, missing, "--bundle", not_a_bundle),
                 ("zeroshot", vocab, "-", "--background", missing, "--bundle", not_a_bundle)):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert f"{missing}: file not found" in result.output


def _run_from_pipe(pipe: Path, content: str, *args):
    """``run(*args)`` (which reads the named pipe ``pipe``, made here) on a thread while
    ``content`` is written into the pipe; fails the test where the command opens the
    pipe again after reading it (it would wait for ever for a writer)."""
    import os
    import threading

    os.mkfifo(pipe)
    answer: dict = {}
    reader = threading.Thread(target=lambda: answer.update(result=run(*args)), daemon=True)
    reader.start()
    with open(pipe, "w", encoding="utf-8") as handle:  # waits for the first reader
        handle.write(content)
    reader.join(timeout=60)  # a reader that opened it again waits for ever
    if reader.is_alive():  # opened the pipe a second time: give it an end and fail
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=5)
        pytest.fail(f"{args[0]} opened the pipe again after its documents were read")
    return answer["result"]


def test_a_folder_of_documents_is_looked_up_once_a_document(bundle, tmp_path, monkeypatch):
    """suggest B docs/ asked the file system about each document 9 times (os.stat: the
    folder listed 7 times, by its checks before the bundle loaded, again as it was read,
    each file's is_file() a stat; every file's identity taken twice), slow on a network
    file system. The listing tells a file's type; what is read, and in which order,
    stays the same."""
    docs = tmp_path / "docs"
    docs.mkdir()
    n = 40
    for i in range(n):
        (docs / f"d{i:02d}.txt").write_text(f"document {i} is happy news\n", encoding="utf-8")
    (docs / "sub.txt").mkdir()  # a folder named .txt is no document, as before
    (docs / ".hidden.txt").write_text("not read\n", encoding="utf-8")
    with stats_below(monkeypatch, docs) as calls:
        result = run("suggest", bundle, docs, "--format", "json")
    assert result.exit_code == 0, result.output
    assert len(calls) <= 2 * n, (len(calls), sorted(set(calls))[:5])
    answered = [json.loads(line)["doc"] for line in result.output.splitlines()
                if line.startswith("{")]
    assert answered == [f"d{i:02d}" for i in range(n)]


def test_a_folder_with_a_loop_of_links_is_read_as_before(bundle, tmp_path):
    """A link in a folder of documents that loops (loop.txt -> loop.txt, or two links to
    each other) is no document, as Path.is_file() said: the listing's DirEntry.is_file()
    raises OSError ELOOP for it, and suggest docs/ ended in a traceback (exit code 1)
    where it read the folder's other documents."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("happy news\n", encoding="utf-8")
    (docs / "loop.txt").symlink_to("loop.txt")
    (docs / "c1.txt").symlink_to("c2.txt")
    (docs / "c2.txt").symlink_to("c1.txt")
    (docs / "dangling.txt").symlink_to("nowhere.txt")
    result = run("suggest", bundle, docs, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["doc"] for line in result.output.splitlines()
            if line.startswith("{")] == ["a"]
    result = run("suggest", bundle, docs / "a.txt", docs, "--format", "json")
    assert result.exit_code == 3 and "is given more than once" in result.output, \
        result.output


def test_a_folder_of_documents_warns_of_names_in_another_case_once(bundle, tmp_path,
                                                                    caplog):
    """suggest docs/ warned twice (three times before b653346) that 'B.TXT' is not read:
    the check that the folder is no vocabulary read its documents, warning, before the
    reading did. The warning is one for the folder, as reading it makes one."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("happy news\n", encoding="utf-8")
    (docs / "B.TXT").write_text("not read\n", encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(bundle), str(docs)])
    assert result.exit_code == 0, result.output
    assert caplog.text.count("in another case not read ('B.TXT')") == 1, caplog.text


def test_a_named_pipe_of_documents_is_read_whole(bundle, tmp_path):
    """The gzip check peeked at the first two bytes of every input: a named pipe
    (``suggest BUNDLE <(zcat docs.gz)``) lost what that first open read, and the reader
    that opened it next waited for a writer that had gone. Only regular files are
    peeked at."""
    pipe = tmp_path / "docs"
    result = _run_from_pipe(pipe, "I am so happy for you\nThis is terrible news\n",
                            "suggest", bundle, pipe, "--k", "1")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [line["doc"] for line in lines] == [f"{pipe}:1", f"{pipe}:2"]


def test_a_vocabulary_given_as_a_corpus_is_refused(bundle, goemotions_small, tmp_path):
    """A vocabulary TSV (<uri> TAB name) read as a corpus of 28 documents whose texts are
    URIs, each labelled by its own name: eval reported metrics on it, and calibrate
    --data replaced the bundle's stored calibration split with it."""
    import shutil

    vocab = goemotions_small["vocab"]
    copy = tmp_path / "model"
    shutil.copytree(bundle, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    # eval and calibrate have no --vocab, which their refusal named: the bundle holds it
    bundled = "not a corpus (BUNDLE holds its vocabulary; a corpus line is TEXT, a tab, " \
        "then its labels)"
    for args, hint in ((("eval", copy, vocab), bundled),
                       (("calibrate", copy, "--data", vocab), bundled),
                       # given as --vocab already: "give it as --vocab" asked for that
                       (("train", vocab, "--vocab", vocab, "-o", tmp_path / "new", *FAST),
                        "the one given as --vocab, not a corpus (give a corpus of documents "
                        "in its place; a corpus line is TEXT, a tab, then its labels)")):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert f"{vocab}: every document's text is a lone <URI>: this is a vocabulary, " \
            f"{hint}" in " ".join(result.output.split()), (args, result.output)
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before
    assert not (tmp_path / "new").exists()


def test_apply_review_refuses_a_vocabulary_as_corpus_before_reading_the_review(
        goemotions_small, tmp_path):
    """apply-review read REVIEW before CORPUS: a vocabulary given as CORPUS with a
    malformed review was refused for the review's header, not as a vocabulary."""
    vocab = goemotions_small["vocab"]
    review = tmp_path / "r.csv"
    review.write_text("x,y\n1,2\n")
    for extra in ((), ("--vocab", vocab)):
        result = run("apply-review", vocab, review, "-o", tmp_path / "new.tsv", *extra)
        assert result.exit_code == 3, (extra, result.output)
        assert f"{vocab}: every document's text is a lone <URI>: this is a vocabulary" \
            in result.output, (extra, result.output)
        assert str(review) not in result.output, (extra, result.output)
        assert not (tmp_path / "new.tsv").exists()


def test_apply_review_refuses_a_vocabulary_piped_as_the_corpus(goemotions_small, tmp_path):
    """A file or folder CORPUS is checked for a vocabulary before the review is read; a
    named pipe can be read once, so it is checked as the corpus is written out, and no
    output file appears either way."""
    vocab = goemotions_small["vocab"]
    review = tmp_path / "r.csv"
    review.write_text("decision,kind,label_uri,doc,doc_key\n", encoding="utf-8")
    pipe = tmp_path / "v.tsv"
    result = _run_from_pipe(pipe, Path(vocab).read_text(encoding="utf-8"), "apply-review",
                            pipe, review, "-o", tmp_path / "new.tsv", "--vocab", vocab)
    assert result.exit_code == 3, result.output
    assert f"{pipe}: every document's text is a lone <URI>: this is a vocabulary" \
        in result.output, result.output
    assert not (tmp_path / "new.tsv").exists()


@pytest.mark.parametrize("content", ["", "\n\n", "\t<urn:x:a>\n"])
def test_apply_review_refuses_a_corpus_with_no_documents(content, goemotions_small, tmp_path):
    """An empty corpus (or one whose every line is blank, or malformed and skipped) with
    a header-only review wrote an empty corpus with exit code 0, where train, eval and
    the audit refuse a corpus with no documents (exit code 3, naming it); it is refused
    before the review is read (a malformed review is not what is reported), from a
    named pipe as it is read, and no output file appears."""
    corpus = tmp_path / "empty.tsv"
    corpus.write_text(content, encoding="utf-8")
    review = tmp_path / "r.csv"
    review.write_text("decision,kind,label_uri,doc,doc_key\n", encoding="utf-8")
    bad_review = tmp_path / "bad.csv"
    bad_review.write_text("x,y\n1,2\n", encoding="utf-8")
    skip = ("--on-error", "skip") if content.strip() else ()
    # the skipped line's reason is said (-q hid the warning that said it)
    skipped = (" (1 malformed line skipped; first at line 1: empty text (nothing before "
               "the tab" if content.strip() else "")
    for given in (review, bad_review):
        result = run("apply-review", corpus, given, "-o", tmp_path / "new.tsv",
                     "--vocab", goemotions_small["vocab"], *skip)
        assert result.exit_code == 3, (given, result.output)
        assert f"{corpus}: no documents in the corpus{skipped}" in result.output, result.output
        assert str(given) not in result.output, result.output
        assert not (tmp_path / "new.tsv").exists()
    pipe = tmp_path / "p.tsv"
    result = _run_from_pipe(pipe, content, "apply-review", pipe, review, "-o",
                            tmp_path / "new.tsv", "--vocab", goemotions_small["vocab"], *skip)
    assert result.exit_code == 3, result.output
    assert f"{pipe}: no documents in the corpus{skipped}" in result.output, result.output
    assert not (tmp_path / "new.tsv").exists()


@pytest.mark.parametrize("command", ["suggest", "shift", "zeroshot"])
def test_a_vocabulary_given_as_documents_is_refused(command, bundle, goemotions_small,
                                                    tmp_path):
    """suggest, shift and zeroshot read a vocabulary TSV (<uri> TAB name) given as their
    documents as one document per URI, and answered each (suggest: a ranking per URI,
    shift --save stored a shift estimated on them) without a word, where train, eval,
    audit and label refuse it."""
    import shutil

    vocab = goemotions_small["vocab"]
    copy = tmp_path / "model"
    shutil.copytree(bundle, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    docs = tmp_path / "d.txt"
    docs.write_text("I love this so much\n")
    own = tmp_path / "own.tsv"
    own.write_bytes(Path(vocab).read_bytes())
    cases = {"suggest": [("suggest", copy, vocab), ("suggest", copy, docs, vocab)],
             "shift": [("shift", copy, vocab, "--save", "--save-unsupported", "--min-count",
                        "0"),
                       ("shift", copy, docs, vocab, "--min-count", "0")],
             # VOCAB another file: the same one is said to be it (test below)
             "zeroshot": [("zeroshot", own, vocab),
                          ("zeroshot", own, docs, "--background", vocab)]}[command]
    hint = ("give it as VOCAB, the first argument" if command == "zeroshot" else
            "BUNDLE holds its vocabulary")
    for args in cases:
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert f"{vocab}: every document's text is a lone <URI>: this is a vocabulary" \
            in result.output, (args, result.output)
        assert hint in result.output, (args, result.output)
        # documents, not a labelled corpus: zeroshot's hint asked for TEXT, a tab, labels
        assert "give documents: a line is a document's TEXT, optionally a tab and labels, " \
            "which are ignored)" in " ".join(result.output.split()), (args, result.output)
        assert "{" not in result.output and "\t" not in result.output, args  # no answer
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before


def test_a_vocabulary_given_as_corpus_and_as_vocabulary_is_said_to_be_that_one(
        goemotions_small, tmp_path):
    """`label V --vocab V` was told "give it as --vocab", which it had: where the
    command's vocabulary option or argument names the same file (by any spelling), the
    refusal says the corpus is that vocabulary and asks for documents in its place."""
    vocab = goemotions_small["vocab"]
    link = tmp_path / "link.tsv"  # the same file by another name
    link.symlink_to(vocab)
    own = tmp_path / "own.tsv"  # another file with the same lines: not given as --vocab
    own.write_bytes(Path(vocab).read_bytes())
    review = tmp_path / "r.csv"
    review.write_text("x,y\n1,2\n")
    llm = [part.format(out=tmp_path / "c") for part in LLM]
    documents = "give documents in its place: a line is a document's TEXT, optionally a tab " \
        "and labels, which are ignored)"
    labelled = "give a corpus of documents in its place; a corpus line is TEXT, a tab, then " \
        "its labels)"
    for args, option, hint in (
            (("label", vocab, "--vocab", vocab, "-o", tmp_path / "o.jsonl", *llm), "--vocab",
             documents),
            (("taxonomy", vocab, "--use-case", "x", "-o", tmp_path / "t.csv", "--map-to", link,
              *llm), "--map-to", documents),
            (("zeroshot", link, vocab), "VOCAB, the first argument", documents),
            (("train", vocab, "--vocab", link, "-o", tmp_path / "m", *FAST), "--vocab",
             labelled),
            (("audit", vocab, "--vocab", vocab, "-o", tmp_path / "a"), "--vocab", labelled),
            (("apply-review", vocab, review, "-o", tmp_path / "n.tsv", "--vocab", link),
             "--vocab", labelled),
            (("distill", vocab, "--vocab", vocab, "-o", tmp_path / "d"), "--vocab", labelled)):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert f"{vocab}: every document's text is a lone <URI>: this is a vocabulary, the " \
            f"one given as {option}, not a corpus ({hint}" in " ".join(result.output.split()), \
            (args, result.output)
    result = run("label", vocab, "--vocab", own, "-o", tmp_path / "o.jsonl", *llm)
    assert result.exit_code == 3, result.output
    assert "this is a vocabulary, not a corpus (give it as --vocab;" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.tsv", "own.tsv", "r.csv"]


def test_a_vocabulary_on_stdin_or_a_pipe_is_refused_as_it_is_read(bundle, goemotions_small,
                                                                  tmp_path):
    """Stdin and a named pipe can be read once: the documents are held while each is a
    lone URI, and a vocabulary is refused with nothing answered; a file whose documents
    are not all lone URIs is read whole, its URI lines too."""
    vocab = goemotions_small["vocab"]
    result = run("suggest", bundle, input=Path(vocab).read_text())
    assert result.exit_code == 3, result.output
    assert "stdin: every document's text is a lone <URI>" in result.output
    assert "{" not in result.output
    pipe = tmp_path / "pipe"
    piped = _run_from_pipe(pipe, Path(vocab).read_text(), "suggest", bundle, pipe)
    assert piped.exit_code == 3, piped.output
    assert f"{pipe}: every document's text is a lone <URI>" in piped.output
    assert "{" not in piped.output
    mixed = tmp_path / "m.txt"
    mixed.write_text("<u:x>\nI love this so much\n")
    for result in (run("suggest", bundle, mixed, "-k", "1"),
                   run("suggest", bundle, "-k", "1", input=mixed.read_text())):
        assert result.exit_code == 0, result.output
        assert len([json.loads(line)["doc"] for line in result.output.splitlines()]) == 2

def test_a_skos_vocabulary_given_as_documents_is_refused(bundle, goemotions_small, tmp_path):
    """A SKOS vocabulary (.ttl...) given as the documents was read one document per line,
    each line answered without a word (or its first TAB-indented line refused as a
    document without text, not as a vocabulary); a file so named whose first lines do
    not name the SKOS namespace is still read as documents."""
    ttl = tmp_path / "v.ttl"
    ttl.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n\n"
                   "<u:a> a skos:Concept ;\n\tskos:prefLabel \"joy\"@en .\n")
    xml = tmp_path / "v.rdf"
    xml.write_text('<?xml version="1.0"?>\n<rdf:RDF\n\txmlns:skos="http://www.w3.org/'
                   '2004/02/skos/core#"\n\txmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
                   'syntax-ns#">\n</rdf:RDF>\n')
    for args, where, hint in (
            (("suggest", bundle, ttl), f"{ttl}:1", "BUNDLE holds its vocabulary"),
            (("suggest", bundle, xml), f"{xml}:3", "BUNDLE holds its vocabulary"),
            (("zeroshot", goemotions_small["vocab"], ttl), f"{ttl}:1",
             "give it as VOCAB, the first argument")):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert f"{where}: names the SKOS namespace" in result.output, (args, result.output)
        assert "this is a vocabulary, not a corpus" in result.output
        assert hint in result.output, (args, result.output)
        assert "which are ignored)" in " ".join(result.output.split()), (args, result.output)
        assert "{" not in result.output, args  # nothing answered
    notes = tmp_path / "notes.ttl"
    notes.write_text("I love this so much\n")
    result = run("suggest", bundle, notes, "-k", "1")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["doc"] for line in result.output.splitlines()] == [f"{notes}:1"]


def test_a_skos_vocabulary_given_whole_file_is_refused(bundle, goemotions_small, tmp_path):
    """``suggest B v.ttl --whole-file`` (and zeroshot's) answered the whole SKOS
    vocabulary as one document, without a word, where read by line it was refused; a
    file so named that does not name the SKOS namespace is still one document."""
    ttl = tmp_path / "v.ttl"
    ttl.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n\n"
                   "<u:a> a skos:Concept ;\n\tskos:prefLabel \"joy\"@en .\n")
    for args in (("suggest", bundle, ttl), ("zeroshot", goemotions_small["vocab"], ttl)):
        result = run(*args, "--whole-file")
        assert result.exit_code == 3, (args, result.output)
        assert f"{ttl}:1: names the SKOS namespace" in result.output, result.output
        assert "read as one document (--whole-file)" in " ".join(result.output.split())
        assert "{" not in result.output, args  # nothing answered
    notes = tmp_path / "notes.ttl"
    notes.write_text("I love this so much\nand that\n")
    result = run("suggest", bundle, notes, "-k", "1", "--whole-file")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["doc"] for line in result.output.splitlines()] == [str(notes)]


def test_a_skos_vocabulary_piped_whole_file_is_refused(bundle, goemotions_small, tmp_path):
    """``suggest B --whole-file < v.ttl`` (shift's and zeroshot's too) answered the SKOS
    vocabulary on stdin as one document, where the same file given by name was refused:
    stdin has no name to tell it by, so its first lines are sniffed for the namespace;
    a text that does not name it is still one document."""
    ttl = ("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n\n"
           "<u:a> a skos:Concept ;\n\tskos:prefLabel \"joy\"@en .\n")
    for args in (("suggest", bundle), ("suggest", bundle, "-"), ("shift", bundle),
                 ("zeroshot", goemotions_small["vocab"])):
        result = run(*args, "--whole-file", input=ttl)
        assert result.exit_code == 3, (args, result.output)
        assert "stdin:1: names the SKOS namespace" in result.output, result.output
        assert "read as one document (--whole-file)" in " ".join(result.output.split())
        assert "{" not in result.output, args  # nothing answered
    result = run("suggest", bundle, "-k", "1", "--whole-file",
                 input="I love this so much\nand that\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["doc"] for line in result.output.splitlines()] == ["stdin"]


def test_a_whole_file_is_sniffed_for_skos_without_splitting_all_of_it():
    """The SKOS sniff of a --whole-file document (stdin, or a file named .ttl) split the
    whole text into lines to look at its first 64: 380 MB beside a 95 MB text of short
    lines (and 7 s). It looks at as short a start as holds them; a namespace on line 64
    is still found, one on line 65 is not looked for."""
    import tracemalloc

    from tagsmith.cli.commands import SKOS_SNIFF_LINES, _refusing_skos_text
    from tagsmith.exceptions import TagsmithError

    text = "a short line of text\r\n" * 200_000  # 4.4 MB
    tracemalloc.start()
    try:
        assert [doc for doc, _ in _refusing_skos_text([("stdin", text)], "stdin", None)] \
            == ["stdin"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(text) / 4, peak  # splitting it all took about 4 times its size
    namespace = "<http://www.w3.org/2004/02/skos/core#>\n"
    for before, refused in ((SKOS_SNIFF_LINES - 1, True), (SKOS_SNIFF_LINES, False)):
        doc = "x\r\n" * before + namespace + "y\n" * 5_000
        try:
            list(_refusing_skos_text([("stdin", doc)], "stdin", None))
        except TagsmithError as exc:
            assert refused and f"stdin:{SKOS_SNIFF_LINES}:" in str(exc), str(exc)
        else:
            assert not refused, before


def test_a_csv_vocabulary_given_as_documents_is_refused_as_a_vocabulary(
        bundle, goemotions_small, tmp_path):
    """A CSV vocabulary given as the documents was refused only as a CSV corpus without a
    'text' column, not saying it is a vocabulary, nor which argument takes it."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:a,joy\n")
    for args, hint in ((("suggest", bundle, vocab), "BUNDLE holds its vocabulary"),
                       (("zeroshot", goemotions_small["vocab"], vocab),
                        "give it as VOCAB, the first argument")):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert (f"{vocab}:1: its header names a 'uri' column and no 'text' column, a CSV "
                "vocabulary's header: this is a vocabulary") in result.output, result.output
        assert hint in result.output, (args, result.output)
        assert "which are ignored)" in " ".join(result.output.split()), (args, result.output)
    other = tmp_path / "o.csv"  # no 'text' column, but no vocabulary's header either
    other.write_text("body\nI love this\n")
    result = run("suggest", bundle, other)
    assert result.exit_code == 3, result.output
    assert f"{other}:1: no 'text' column in the header" in result.output
    assert "this is a vocabulary" not in result.output


def test_a_csv_vocabulary_given_as_a_corpus_says_it_is_one(goemotions_small, tmp_path):
    """train (and every corpus reader) refused a CSV vocabulary as a corpus without a
    'text' column only; label, reading its texts before any LLM call, names --vocab."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:a,joy\n")
    result = run("train", vocab, "--vocab", goemotions_small["vocab"], "--output",
                 tmp_path / "m")
    assert result.exit_code == 3, result.output
    assert (f"{vocab}:1: no 'text' column in the header; found columns: 'uri', 'label_en' "
            "(a 'uri' column and no 'text': a CSV vocabulary's header, not a corpus's)"
            ) in result.output, result.output
    result = run("label", vocab, "--vocab", goemotions_small["vocab"], "-o",
                 tmp_path / "l.jsonl", "--base-url", "http://127.0.0.1:9", "--llm", "m")
    assert result.exit_code == 3, result.output
    assert (f"{vocab}:1: its header names a 'uri' column and no 'text' column, a CSV "
            "vocabulary's header: this is a vocabulary, not a corpus (give it as --vocab"
            ) in result.output, result.output
    assert not (tmp_path / "l.jsonl").exists()


@pytest.mark.parametrize("content, message", [
    ("uri,label_en\nu:a,joy\n", "its header names a 'uri' column"),
    ("text,labels\n<u:a>,joy\n<u:b>,anger\n", "every document's text is a lone <URI>")])
def test_a_vocabulary_in_a_csv_pipe_is_refused_as_it_is_read(content, message, bundle,
                                                             tmp_path):
    """A named pipe named .csv is read as a CSV corpus, once: a vocabulary in it is
    refused as it is read, as in a plain CSV file (its lone URIs were answered)."""
    pipe = tmp_path / "pipe.csv"
    result = _run_from_pipe(pipe, content, "suggest", bundle, pipe)
    assert result.exit_code == 3, result.output
    assert f"{pipe}" in result.output and message in result.output, result.output
    assert "BUNDLE holds its vocabulary" in result.output
    assert "{" not in result.output


def test_train_and_calibrate_summaries_group_thousands_as_the_other_counts(goemotions_small,
                                                                           tmp_path, caplog):
    """'trained linear on 39,069 documents (4,341 more set aside ...)' was followed by
    'held-out (dev corpus, 5426 docs)' and 'calibrated (isotonic) on 2171 set-aside
    documents': one summary, two ways of writing a count."""
    caplog.set_level(logging.INFO, logger="tagsmith")

    def run(*args):  # not -q: the INFO lines are shown
        return CliRunner().invoke(tagsmith_cli.cli, [*map(str, args)])

    out = tmp_path / "m"
    train = goemotions_small["train"]  # 3,000 documents: the --dev, so 3,000 held out
    result = run("train", train, "-o", out, "--vocab", goemotions_small["vocab"], "--dev", train,
                 "--calibration-fraction", "0.7", *FAST)
    assert result.exit_code == 0, result.output
    assert "trained linear on 900 documents (2,100 more set aside" in result.output
    assert f"held-out ({train}, 3,000 docs)" in result.output
    assert "on 1,050 set-aside documents, conformal sets on 1,050 documents:" in result.output
    # said once, on stdout: an INFO line on stderr said it again ('... in 0.6 s')
    assert result.output.count("calibrated (isotonic) on") == 1, result.output
    assert "calibrated (" not in caplog.text, caplog.text
    result = run("calibrate", out)
    assert result.exit_code == 0, result.output
    assert ("calibrated (isotonic) on 1,050 documents; conformal sets on 1,050 documents "
            in result.output)
    assert result.output.count("calibrated (isotonic) on") == 1, result.output
    assert "calibrated (" not in caplog.text, caplog.text
    assert re.search(r", \d+\.\ds -> ", result.output), result.output  # as train's '2.4s'
    # every label counted: "the rest global" was said when no label was left
    own, band, rest = (int(n) for n in re.search(
        r"thresholds: (\d+) labels? own, (\d+) from their band, (\d+) global \(0\.\d+\)",
        result.output).groups())
    assert own + band + rest == 28 and "the rest" not in result.output


def test_train_records_the_names_of_its_files_for_info(goemotions_small, tmp_path):
    """info gave the training corpus's and the vocabulary's fingerprints alone, naming
    neither file: train records their names (and --dev's) as provenance, shown by info
    beside the fingerprints; the model does not depend on them."""
    corpus, vocab = tmp_path / "tickets 2024.tsv", tmp_path / "intents.tsv"
    shutil.copyfile(goemotions_small["test"], corpus)
    shutil.copyfile(goemotions_small["vocab"], vocab)
    trained = tmp_path / "trained"
    result = run("train", corpus, "-o", trained, "--vocab", vocab, "--dev",
                 goemotions_small["dev"], *FAST)
    assert result.exit_code == 0, result.output
    result = run("info", trained)
    assert result.exit_code == 0, result.output
    assert '"data": "tickets 2024.tsv"' in result.output
    assert '"vocab": "intents.tsv"' in result.output and '"dev": "dev.tsv"' in result.output
    manifest = json.loads(run("info", trained, "--json").output)
    renamed, vocab_renamed = tmp_path / "other.tsv", tmp_path / "v2.tsv"
    corpus.rename(renamed)
    vocab.rename(vocab_renamed)
    again = tmp_path / "again"
    result = run("train", renamed, "-o", again, "--vocab", vocab_renamed, "--dev",
                 goemotions_small["dev"], *FAST)
    assert result.exit_code == 0, result.output
    other = json.loads(run("info", again, "--json").output)
    assert (other["training"]["data"], other["training"]["vocab"]) == ("other.tsv", "v2.tsv")
    assert other["training"]["data_fingerprint"] == manifest["training"]["data_fingerprint"]
    # the model's files are the same whatever the files were called
    assert other["files"]["model.npz"] == manifest["files"]["model.npz"]
    result = run("train", renamed, "-o", tmp_path / "derived", *FAST)
    assert result.exit_code == 0, result.output
    derived = json.loads(run("info", tmp_path / "derived", "--json").output)["training"]
    assert derived["data"] == "other.tsv" and "vocab" not in derived and "dev" not in derived


def test_calibrate_records_the_corpus_it_fitted_on_for_info(bundle, goemotions_small,
                                                             tmp_path):
    """The manifest's calibration entry gave only n_calibrator_docs / n_conformal_docs:
    info could not say which corpus the calibration came from. It now names the --data
    file and its fingerprint, the one training records of its corpus; a calibration on
    the documents the bundle stored keeps them, and a bundle without them still loads."""
    test = goemotions_small["test"]
    out = tmp_path / "cal"
    result = run("calibrate", bundle, "--data", test, "-o", out)
    assert result.exit_code == 0, result.output
    trained = tmp_path / "trained-on-test"  # the same documents as a training corpus
    result = run("train", test, "-o", trained, "--vocab", goemotions_small["vocab"], *FAST)
    assert result.exit_code == 0, result.output
    fingerprint = json.loads(run("info", trained, "--json").output)["training"][
        "data_fingerprint"]
    result = run("info", out)
    assert result.exit_code == 0, result.output
    assert '"data": "test.tsv"' in result.output and fingerprint in result.output
    calibration = json.loads(run("info", out, "--json").output)["calibration"]
    assert calibration["data"] == "test.tsv"
    assert calibration["data_fingerprint"] == fingerprint
    result = run("calibrate", out, "--method", "platt")  # the stored documents
    assert result.exit_code == 0, result.output
    calibration = json.loads(run("info", out, "--json").output)["calibration"]
    assert calibration["method"] == "platt" and calibration["data"] == "test.tsv"
    assert calibration["data_fingerprint"] == fingerprint
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for key in ("data", "data_fingerprint"):  # a bundle calibrated before they were kept
        del manifest["calibration"][key]
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = run("suggest", out, "--sets", input="I love this so much\n")
    assert result.exit_code == 0, result.output
    result = run("calibrate", out)
    assert result.exit_code == 0, result.output
    assert "data" not in json.loads(run("info", out, "--json").output)["calibration"]


def test_calibrate_on_a_document_folder_given_with_a_slash_names_the_folder(
        bundle, goemotions_small, tmp_path):
    """'calibrate --data docs/' recorded "data": "" (os.path.basename of a path ending
    in a slash), naming no corpus at all: the folder's name is recorded."""
    docs = tmp_path / "docs"
    docs.mkdir()
    lines = goemotions_small["test"].read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        text, keys = line.split("\t")
        (docs / f"d{i:04d}.txt").write_text(text, encoding="utf-8")
        (docs / f"d{i:04d}.key").write_text("\n".join(keys.split()), encoding="utf-8")
    out = tmp_path / "cal"
    result = run("calibrate", bundle, "--data", f"{docs}/", "-o", out)
    assert result.exit_code == 0, result.output
    calibration = json.loads(run("info", out, "--json").output)["calibration"]
    assert calibration["data"] == "docs"


def test_train_with_a_calibration_share_records_it_for_info(goemotions_small, tmp_path):
    """'train --calibration-fraction' calibrated on the share it set aside and recorded
    neither data nor data_fingerprint in the calibration entry ('calibrate --data' does):
    info could not say what the calibration was fitted on. It names the share of the
    training corpus, with that corpus's fingerprint, the fraction and the seed; a later
    calibrate on the stored documents keeps them, one with --data replaces them."""
    out = tmp_path / "model"
    result = run("train", goemotions_small["train"], "-o", out, "--vocab",
                 goemotions_small["vocab"], "--calibration-fraction", "0.5", "--seed", "3",
                 *FAST)
    assert result.exit_code == 0, result.output
    info = json.loads(run("info", out, "--json").output)
    calibration = info["calibration"]
    assert calibration["data"] == ("0.5 of the training corpus train.tsv set aside "
                                   "(seed 3)")
    assert calibration["data_fingerprint"] == info["training"]["data_fingerprint"]
    assert (calibration["data_fraction"], calibration["data_seed"]) == (0.5, 3)
    result = run("calibrate", out, "--method", "platt")  # the stored documents
    assert result.exit_code == 0, result.output
    again = json.loads(run("info", out, "--json").output)["calibration"]
    assert again["method"] == "platt"
    assert {key: again[key] for key in ("data", "data_fingerprint", "data_fraction",
                                        "data_seed")} == {
        key: calibration[key] for key in ("data", "data_fingerprint", "data_fraction",
                                          "data_seed")}
    result = run("calibrate", out, "--data", goemotions_small["test"])
    assert result.exit_code == 0, result.output
    other = json.loads(run("info", out, "--json").output)["calibration"]
    assert other["data"] == "test.tsv" and "data_fraction" not in other
    assert "data_seed" not in other


def test_suggest_and_zeroshot_help_say_what_each_format_writes():
    """suggest --help described --format only by how --sets truncates a set, and
    zeroshot's --format had no help; zeroshot's --whole-file left out stdin, which it
    also reads whole."""
    for command in ("suggest", "zeroshot"):
        result = CliRunner().invoke(tagsmith_cli.cli, [command, "--help"], terminal_width=200)
        assert result.exit_code == 0
        text = " ".join(result.output.split())
        assert "json: one object per document; tsv: one row per suggestion" in text, text
        assert "Each FILE (or stdin) is one document" in text, text


def test_help_lists_the_exit_codes_a_script_tells_failures_apart_by():
    """`tagsmith --help` said nothing of the exit codes: a cron job's author, who tells a
    missing bundle (4) from a bad corpus line (3) or an LLM endpoint down (6), had only
    the README. Each is listed once, with the code the command line really uses."""
    from tagsmith.exceptions import (
        BundleError,
        DataError,
        LLMError,
        MissingDependencyError,
        TagsmithError,
    )

    expected = {0: "success", TagsmithError.exit_code: "unexpected error", 2: "usage",
                DataError.exit_code: "bad input data", BundleError.exit_code: "bundle",
                MissingDependencyError.exit_code: "dependency",
                LLMError.exit_code: "LLM endpoint",
                tagsmith_cli.EXIT_INTERRUPTED: "interrupted",
                tagsmith_cli.EXIT_BROKEN_PIPE: "reader of the output went away",
                tagsmith_cli.EXIT_TERMINATED: "terminated",
                tagsmith_cli.EXIT_HUNG_UP: "hung up"}
    result = CliRunner().invoke(tagsmith_cli.cli, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Exit codes:" in result.output, result.output
    listed = {}
    for line in result.output.split("Exit codes:", 1)[1].strip().splitlines():
        code, meaning = line.split(None, 1)
        assert int(code) not in listed, line
        listed[int(code)] = meaning
    assert listed.keys() == expected.keys(), listed
    assert list(listed) == sorted(listed), listed  # 129 came after 141, a list to scan
    for code, meaning in expected.items():
        assert meaning in listed[code], (code, listed[code])


def test_whole_file_help_is_the_same_for_every_command_reading_documents():
    """shift --help said 'Each FILE is one document', though shift reads stdin too (no
    FILES) and refuses --whole-file for a .csv or .jsonl corpus, as suggest and
    zeroshot, whose help says so."""
    said = set()
    for command in ("suggest", "zeroshot", "shift"):
        result = CliRunner().invoke(tagsmith_cli.cli, [command, "--help"], terminal_width=200)
        assert result.exit_code == 0
        text = " ".join(result.output.split())
        found = re.search(r"--whole-file (Each .*?\)\.)", text)
        assert found, (command, text)
        said.add(found.group(1))
    assert said == {"Each FILE (or stdin) is one document, not one per line (refused for a "
                    ".csv or .jsonl corpus)."}, said


def test_suggest_threshold_compares_the_score_it_prints(bundle, goemotions_small, tmp_path):
    """--threshold compared the unrounded probability while the output showed it to 6
    decimals: a score printed as 0.123457 (0.1234566 unrounded) was dropped at
    --threshold 0.123457. It keeps what it prints at least the threshold, as zeroshot."""
    from tagsmith.pipeline.classifier import TextClassifier

    docs = tmp_path / "docs.txt"
    docs.write_text("".join(line.split("\t")[0] + "\n" for line in
                            goemotions_small["test"].read_text(encoding="utf-8")
                            .splitlines()[:200]), encoding="utf-8")
    texts = docs.read_text(encoding="utf-8").splitlines()
    unrounded = TextClassifier.load(bundle).suggest(texts, k=10, threshold=0.0)
    # a score printed above its own value: at a threshold of what is printed, kept
    doc, cut = next((d, round(s.score, 6)) for d, row in enumerate(unrounded) for s in row
                    if s.score < round(s.score, 6))

    def scores(*options, fmt="json"):
        result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "suggest", str(bundle), str(docs),
                                                       "--format", fmt, *options])
        assert result.exit_code == 0, result.output
        if fmt == "tsv":
            return [float(line.split("\t")[3]) for line in result.stdout.splitlines()]
        return [[s["score"] for s in json.loads(line)["suggestions"]]
                for line in result.stdout.splitlines()]

    everything = scores("--threshold", "0")
    kept = scores("--threshold", repr(cut))
    assert kept == [[s for s in row if s >= cut] for row in everything]
    assert cut in kept[doc]
    assert scores("--threshold", repr(cut), fmt="tsv") == [s for row in kept for s in row]


def test_suggest_prints_a_tree_bundles_small_scores_to_6_significant_digits(tmp_path):
    """A tree bundle's scores are mostly far below 0.001 (a YSO bundle's median top score
    was 0.00076); printed to 6 decimals they kept 2 or 3 significant digits, so labels
    the model ranks apart printed as ties and Annif's metrics recomputed from the output
    differed from eval's. Below 0.001 TSV and JSON now keep 6 significant digits; from
    0.001 up a score prints as it did (6 decimals), and --threshold compares what is
    printed."""
    import gzip
    from itertools import islice

    from tagsmith.pipeline.classifier import TextClassifier

    corpus = ROOT / "tests" / "data" / "yso-sample.tsv.gz"
    out = tmp_path / "tree"
    result = run("train", corpus, "--output", out, "--model", "tree", "--no-refit",
                 "-p", "leaf_size=20", "-p", "branching=4", "-p", "n_trees=1", *FAST)
    assert result.exit_code == 0, result.output
    docs = tmp_path / "docs.txt"
    with gzip.open(corpus, "rt", encoding="utf-8") as lines:
        heads = [line.split("\t")[0] for line in islice(lines, 20)]
    docs.write_text("".join(head + "\n" for head in heads), encoding="utf-8")
    texts = docs.read_text(encoding="utf-8").splitlines()
    unrounded = [[s.score for s in row] for row in
                 TextClassifier.load(out).suggest(texts, k=60, threshold=0.0)]

    def printed(*options, fmt="tsv"):
        result = run("suggest", out, docs, "--k", "60", "--format", fmt, *options)
        assert result.exit_code == 0, result.output
        if fmt == "tsv":
            rows: dict = {}
            for line in result.stdout.splitlines():
                rows.setdefault(line.split("\t")[0], []).append(line.split("\t")[3])
            return list(rows.values())
        return [[s["score"] for s in json.loads(line)["suggestions"]]
                for line in result.stdout.splitlines()]

    tsv, as_json = printed("--threshold", "0"), printed("--threshold", "0", fmt="json")
    assert len(tsv) == len(as_json) == len(unrounded) == 20
    small = 0
    for row, json_row, scores in zip(tsv, as_json, unrounded, strict=True):
        assert len(row) == len(json_row) == len(scores) == 60
        for text, value, score in zip(row, json_row, scores, strict=True):
            assert float(text) == value  # TSV and JSON agree
            if score >= 0.001:  # as ever, byte for byte
                assert text == f"{score:.6f}" and value == round(score, 6)
            else:
                small += 1
                assert value == pytest.approx(score, rel=5e-6, abs=0), (text, score)
        # no two labels the model scores apart print as a tie
        assert len(set(row)) == len(set(scores)), row
    assert small > 200  # most of a tree's 60 best are below 0.001
    cut = float(sorted(tsv[0])[len(tsv[0]) // 2])
    assert cut < 0.001
    kept = printed("--threshold", repr(cut), fmt="json")
    assert kept == [[s for s in row if s >= cut] for row in as_json]


def test_every_command_reading_a_corpus_says_what_its_error_policies_do():
    """train explained --on-error and --unknown-labels; eval and calibrate listed them
    with no help at all; distill had neither."""
    for command in ("train", "eval", "calibrate", "distill"):
        result = CliRunner().invoke(tagsmith_cli.cli, [command, "--help"], terminal_width=200)
        assert result.exit_code == 0
        text = " ".join(result.output.split())
        assert "--on-error [fail|skip] Malformed corpus lines: fail, or skip and count" \
            in text, (command, text)
        assert "--unknown-labels [fail|skip] Labels not in the vocabulary: fail, or drop " \
            "and count" in text, (command, text)


def test_suggest_reports_progress_over_its_documents_unless_quiet(bundle, goemotions_small,
                                                                  caplog):
    """suggest answered 20,000 lines (10 s with a kNN bundle; minutes on a large input)
    with no progress at all when its output went to a file. It now has one bar over the
    documents (a log line every 10 s and at the end when stderr is no terminal), and -q
    none; the answers are the same."""

    caplog.set_level(logging.INFO, logger="tagsmith")
    test = goemotions_small["test"]  # 600 lines: two batches of 512 and 88
    shown = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(bundle), str(test),
                                                  "--format", "tsv"])
    assert shown.exit_code == 0
    assert "suggest: 600 docs" in caplog.text
    caplog.clear()
    quiet = run("suggest", bundle, test, "--format", "tsv")
    assert quiet.exit_code == 0 and "suggest:" not in caplog.text
    assert quiet.stdout == shown.stdout


def test_a_missing_corpus_is_not_said_to_be_derived_from(tmp_path, caplog):
    """``train nope.tsv`` without --vocab logged "deriving the label space from
    nope.tsv" before "file not found"; a missing --dev too."""
    caplog.set_level(logging.INFO, logger="tagsmith")
    corpus = tmp_path / "c.csv"
    corpus.write_text("text,labels\napple pie,fruit\ncar road,car\n")

    def train(*args):  # not quiet (-q), as run is: the INFO lines are the point
        return CliRunner().invoke(tagsmith_cli.cli, ["train", *map(str, args), "-o",
                                                     str(tmp_path / "m"), *FAST])
    for args in ((tmp_path / "nope.tsv",), (corpus, "--dev", tmp_path / "nope.tsv")):
        result = train(*args)
        assert result.exit_code == 3, result.output
        assert f"{tmp_path / 'nope.tsv'}: file not found" in result.output
        assert "no vocabulary given" not in caplog.text, caplog.text
    result = train(corpus)
    assert result.exit_code == 0, result.output
    assert "no vocabulary given: deriving the label space from" in caplog.text


def test_train_without_labels_names_the_cause_not_a_vocabulary_never_given(tmp_path):
    """A corpus naming no label (a CSV column 'tags', not 'labels') trained without
    --vocab asked 'is it the right vocabulary?' of a vocabulary nobody gave; with one,
    the error now names it."""
    corpus = tmp_path / "tags.csv"
    corpus.write_text("text,tags\napple pie,fruit\ncar road,car\n")
    result = run("train", corpus, "-o", tmp_path / "m", *FAST)
    assert result.exit_code == 3, result.output
    assert "right vocabulary" not in result.output
    assert "no vocabulary given" in result.output and "'labels' column" in result.output
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("<u:fruit>\tfruit\n")
    result = run("train", corpus, "-o", tmp_path / "m", "--vocab", vocab, *FAST)
    assert result.exit_code == 3, result.output
    assert f"label of the vocabulary {vocab} " in result.output


def test_train_counts_one_document_and_one_label_in_the_singular(tmp_path, caplog):
    """A one-document corpus was 'trained linear on 1 documents, 1 labels', after the log
    lines 'features for 1 documents' and 'fitting linear on 1 documents'."""

    caplog.set_level(logging.INFO, logger="tagsmith")
    corpus = tmp_path / "one.jsonl"
    corpus.write_text('{"text": "hello world", "labels": ["a"]}\n')
    result = CliRunner().invoke(tagsmith_cli.cli, ["train", str(corpus), "-o",
                                                   str(tmp_path / "m"), "--no-refit", *FAST])
    assert result.exit_code == 0, result.output
    assert "trained linear on 1 document, 1 label in " in result.output
    assert "train: features for 1 document\n" in caplog.text
    assert "train: fitting linear on 1 document (3 features), 1 label\n" in caplog.text
    assert "1 documents" not in caplog.text + result.output


def test_a_model_bundle_given_as_a_corpus_is_named_a_bundle(bundle, goemotions_small, tmp_path):
    """A bundle folder read as a corpus was a document folder without .txt files: 'no
    documents in the corpus', which sent the user looking for lost documents."""
    before = (bundle / "manifest.json").read_text()
    for args in (("train", bundle, "-o", tmp_path / "m"),
                 ("train", goemotions_small["dev"], "-o", tmp_path / "m", "--dev", bundle),
                 ("eval", bundle, bundle), ("calibrate", bundle, "--data", bundle),
                 ("audit", bundle, "-o", tmp_path / "audit")):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert f"{bundle}: this is a tagsmith model bundle, not a corpus" in result.output, \
            (args, result.output)
        assert "no documents" not in result.output
    assert (bundle / "manifest.json").read_text() == before
    # a document folder that merely holds a manifest.json of its own is still a corpus
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "manifest.json").write_text('{"format": "something-else"}')
    (docs / "a.txt").write_text("so happy today")
    (docs / "a.tsv").write_text("<urn:goemotions:joy>\tjoy\n")
    result = run("eval", bundle, docs, "--json")
    assert result.exit_code == 0 and json.loads(result.output)["n_docs"] == 1, result.output


#: an endpoint where nothing listens: a refusal comes before any request
LLM = ("--base-url", "http://127.0.0.1:9/v1", "--llm", "m", "--cache", "{out}.sqlite")


@pytest.mark.parametrize("command, name", [
    (("train", "{corpus}", "-o", ""), "'-o' / '--output'"),
    (("train", "{corpus}", "-o", "{out}", "--dev", ""), "'--dev'"),
    (("train", "{corpus}", "-o", "{out}", "--vocab", ""), "'--vocab'"),
    (("train", "", "-o", "{out}"), "'CORPUS'"),
    (("eval", "", "{corpus}"), "'BUNDLE'"),
    (("eval", "{bundle}", ""), "'CORPUS'"),
    (("suggest", "{bundle}", "{corpus}", ""), "'[FILES]...'"),
    (("suggest", ""), "'BUNDLE'"),
    (("info", ""), "'BUNDLE'"),
    (("vocab", ""), "'VOCAB'"),
    (("calibrate", "{bundle}", "-o", ""), "'-o' / '--output'"),
    (("calibrate", "{bundle}", "--data", ""), "'--data'"),
    (("calibrate", ""), "'BUNDLE'"),
    (("shift", "{bundle}", "{corpus}", ""), "'[FILES]...'"),
    (("shift", ""), "'BUNDLE'"),
    (("zeroshot", "{vocab}", "{corpus}", ""), "'[FILES]...'"),
    (("zeroshot", "{vocab}", "{corpus}", "--background", ""), "'--background'"),
    (("zeroshot", "{vocab}", "{corpus}", "--bundle", ""), "'--bundle'"),
    (("distill", "{corpus}", "--vocab", "{vocab}", "-o", ""), "'-o' / '--output'"),
    (("distill", "{corpus}", "--vocab", "{vocab}", "-o", "{out}", "--human", ""),
     "'--human'"),
    (("audit", "{corpus}", "-o", ""), "'-o' / '--output'"),
    (("apply-review", "{corpus}", "{corpus}", "-o", ""), "'-o' / '--output'"),
    # taken as not given: the audit derived the label space, no diagram was drawn
    (("audit", "{corpus}", "-o", "{out}", "--vocab", ""), "'--vocab'"),
    (("audit", "{corpus}", "-o", "{out}", "--bundle", ""), "'--bundle'"),
    (("apply-review", "{corpus}", "{corpus}", "-o", "{out}.tsv", "--vocab", ""), "'--vocab'"),
    (("apply-review", "{corpus}", "{corpus}", "-o", "{out}.tsv", "--bundle", ""),
     "'--bundle'"),
    (("calibrate", "{bundle}", "-o", "{out}", "--reliability-png", ""),
     "'--reliability-png'"),
    (("eval", "{bundle}", "{corpus}", "--calibration", "--reliability-png", ""),
     "'--reliability-png'"),
    # the LLM commands: label "" and taxonomy "" labelled the current folder's .txt files,
    # paying for each; --human, --shortlist, --student and --map-to "" were dropped
    (("label", "", "--vocab", "{vocab}", "-o", "{out}.jsonl", *LLM), "'CORPUS'"),
    (("label", "{corpus}", "--vocab", "", "-o", "{out}.jsonl", *LLM), "'--vocab'"),
    (("label", "{corpus}", "--vocab", "{vocab}", "-o", "", *LLM), "'-o' / '--output'"),
    (("label", "{corpus}", "--vocab", "{vocab}", "-o", "{out}.jsonl", "--human", "", *LLM),
     "'--human'"),
    (("label", "{corpus}", "--vocab", "{vocab}", "-o", "{out}.jsonl", "--shortlist", "",
      *LLM), "'--shortlist'"),
    (("label", "{corpus}", "--vocab", "{vocab}", "-o", "{out}.jsonl", "--budget", "2",
      "--student", "", *LLM), "'--student'"),
    (("taxonomy", "", "--use-case", "x", "-o", "{out}.csv", *LLM), "'CORPUS'"),
    (("taxonomy", "{corpus}", "--use-case", "x", "-o", "", *LLM), "'-o' / '--output'"),
    (("taxonomy", "{corpus}", "--use-case", "x", "-o", "{out}.csv", "--map-to", "", *LLM),
     "'--map-to'"),
    # --cache "" was refused as ': --cache: is a directory' (exit 3), --skos "" dropped
    (("label", "{corpus}", "--vocab", "{vocab}", "-o", "{out}.jsonl", *LLM, "--cache", ""),
     "'--cache'"),
    (("taxonomy", "{corpus}", "--use-case", "x", "-o", "{out}.csv", *LLM, "--cache", ""),
     "'--cache'"),
    (("taxonomy", "{corpus}", "--use-case", "x", "-o", "{out}.csv", "--skos", "", *LLM),
     "'--skos'"),
])
def test_an_empty_file_name_is_refused_naming_it(bundle, goemotions_small, tmp_path,
                                                  monkeypatch, command, name):
    """An empty name (a shell variable left unset): `train -o ""` wrote the bundle into
    the current folder and said '-> ' (nothing), `--dev ""` was taken as no --dev (the
    thresholds tuned on a split of CORPUS instead, without a word), an empty CORPUS,
    VOCAB or BUNDLE was refused as '.' or ': no documents in the corpus'. `calibrate -o ""`
    calibrated the bundle in place (the input `-o` is there to keep), `distill -o ""`
    wrote into the current folder, and an empty name among the FILES of shift and
    zeroshot was refused as ': cannot be read (permission denied)'."""
    monkeypatch.chdir(tmp_path)
    fill = {"corpus": goemotions_small["test"], "bundle": bundle, "out": tmp_path / "model",
            "vocab": goemotions_small["vocab"]}
    result = run(*(part.format(**fill) for part in command))
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {name}: expected a file or folder name, got an empty one" \
        in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written, here or at --output


@pytest.mark.parametrize("flags", [["-q", "-v"], ["-vv", "-q"]])
def test_quiet_and_verbose_together_are_refused(flags, goemotions_small):
    """-q won and -v was dropped without a word, whichever came first."""
    result = CliRunner().invoke(tagsmith_cli.cli, [*flags, "vocab",
                                                   str(goemotions_small["vocab"])])
    assert result.exit_code == 2, result.output
    assert "-q/--quiet and -v/--verbose contradict each other: give one" in result.output
    assert "n_labels" not in result.output


def test_an_alpha_too_small_for_the_conformal_documents_is_warned_about(bundle,
                                                                        goemotions_small,
                                                                        tmp_path, caplog):
    """20 conformal documents cannot meet alpha 0.01 (it needs 99): every set was every
    label, abstaining, and neither calibrate nor suggest --sets said why."""
    lines = goemotions_small["test"].read_text().splitlines(keepends=True)
    few = tmp_path / "few.tsv"
    few.write_text("".join(lines[:40]))
    out = tmp_path / "calibrated"
    cli = tagsmith_cli.cli
    result = CliRunner().invoke(cli, ["calibrate", str(bundle), "--data", str(few), "-o",
                                      str(out), "--alpha", "0.01", "--json"])
    assert result.exit_code == 0, result.output
    # these sets are too wide to use as well: that warning says the figures, and they
    # are said once (a support team's 40 tickets read the same 4 documents and the same
    # remedies in two warnings); the --json summary's warnings are those said
    warned = _warned(caplog).splitlines()
    assert json.loads(result.stdout)["warnings"] == warned
    wide = [line for line in warned if "too wide to use" in line]
    assert len(wide) == 1, warned
    assert ("with only 20 calibration documents with a true label (4 in the smallest "
            "frequency band) the threshold is more cautious still, and --alpha 0.01 is "
            "below 1/(n + 1) = 0.0476 for those 20 and 0.2000 for those 4: every recall set "
            "is every label, every mondrian set every label of its band. Use an --alpha of "
            "at least 0.2000 (calibrate --alpha") in wide[0], wide[0]
    assert ("at least 99 conformal documents with a true label in the smallest frequency "
            "band, or a better-trained model") in wide[0], wide[0]
    assert not [line for line in warned if "1/(n + 1)" in line and line is not wide[0]]
    docs = tmp_path / "docs.txt"
    docs.write_text("Thank you so much!\nWhat a mess.\n")
    caplog.clear()
    result = CliRunner().invoke(cli, ["suggest", str(out), str(docs), "--sets",
                                      "--format", "tsv"])
    assert result.exit_code == 0, result.output
    assert _warned(caplog).count("--alpha: alpha 0.01 is below") == 1, caplog.text
    assert "\t28\tabstain" in result.output  # the sets it warns of: every label
    caplog.clear()
    result = CliRunner().invoke(cli, ["suggest", str(out), str(docs), "--sets", "--alpha",
                                      "0.3", "--format", "tsv"])
    assert result.exit_code == 0 and not _warned(caplog), caplog.text
    # eval --calibration measured those sets and said nothing of why they were everything
    caplog.clear()
    result = CliRunner().invoke(cli, ["eval", str(out), str(few), "--calibration", "--alpha",
                                      "0.01", "--alpha", "0.3"])
    assert result.exit_code == 0, result.output
    warned = [line for line in _warned(caplog).splitlines()
              if line.startswith("--alpha: alpha 0.01 is below")]
    assert len(warned) == 2, result.output  # the recall sets and the mondrian ones
    assert "every recall set is every label;" in warned[0]
    assert "every mondrian set is every label of its band" in warned[1]
    assert "alpha 0.3 is below" not in caplog.text, caplog.text
    assert "alpha=0.01 recall   recall 1.0000  set size 28.00" in result.output, result.output


def test_the_alpha_check_leaves_out_only_what_the_wide_sets_warning_said(caplog):
    """calibrate and train leave their alpha's figures to the warning of sets too wide
    to use where it fired (it says them): at that alpha only, not at another (eval's),
    and not where it did not fire."""
    import scipy.sparse as sp

    from tagsmith.conformal.risk import fit_recall_control
    from tagsmith.pipeline.confidence import ConformalModel
    from tagsmith.topk import TopK

    scores = np.random.default_rng(0).random((6, 3))
    recall = fit_recall_control(sp.csr_matrix(scores > 0.5), TopK.from_scores(scores, 3))
    model = ConformalModel(recall, None, None, alpha=0.1, n_docs=6)
    for calibration, alphas, said in [(None, [0.1], 1), ({"too_wide_warned": False}, [0.1], 1),
                                      ({"too_wide_warned": True}, [0.1], 0),
                                      ({"too_wide_warned": True}, [0.1, 0.01], 1)]:
        caplog.clear()
        tagsmith_cli.warn_alpha_too_small(model, alphas, "--alpha", calibration)
        lines = _warned(caplog).splitlines()
        assert len(lines) == said, (calibration, alphas, lines)
        if said:
            assert lines[0].startswith(f"--alpha: alpha {alphas[-1]:g} is below 1/(n + 1) = "
                                       "0.1429 for the n = 6 conformal documents"), lines


def _warned(caplog) -> str:
    """The messages of the tagsmith warnings ``caplog`` holds, one a line (a command's
    warnings are logged: pytest's handler on the root logger has them, not stderr)."""
    return "\n".join(record.getMessage() for record in caplog.records
                     if record.name.startswith("tagsmith") and record.levelno == logging.WARNING)


def _train_with_share(goemotions_small, out, fraction: str, *extra: str):
    """``train`` of GoEmotions' small slice into ``out`` with ``--calibration-fraction
    fraction`` (and ``extra`` options), fast features: the calibration-share tests."""
    return CliRunner().invoke(tagsmith_cli.cli, [
        "train", str(goemotions_small["train"]), "-o", str(out), "--vocab",
        str(goemotions_small["vocab"]), "--calibration-fraction", fraction, *extra, *FAST])


def test_train_warns_when_its_conformal_documents_cannot_meet_the_default_alpha(
        goemotions_small, tmp_path, caplog):
    """train --calibration-fraction 0.004 of 3,000 documents keeps 6 conformal ones:
    every set at the bundle's alpha 0.1 (below 1/7) was every label, and train said
    nothing of it, where calibrate on the same documents warns."""
    out = tmp_path / "model"
    result = _train_with_share(goemotions_small, out, "0.004")
    assert result.exit_code == 0, result.output
    # said once, by the warning of sets too wide to use (these are), with its figures
    warned = _warned(caplog).splitlines()
    wide = [line for line in warned if "too wide to use" in line]
    assert len(wide) == 1, warned
    assert ("with only 6 calibration documents with a true label (3 in the smallest "
            "frequency band) the threshold is more cautious still, and alpha 0.1 is below "
            "1/(n + 1) = 0.1429 for those 6: every recall set is every label. Use an alpha "
            "of at least 0.1429 (calibrate --alpha") in wide[0], wide[0]
    assert "at least 9 conformal documents with a true label, or a better" in wide[0]
    assert "--calibration-fraction: alpha 0.1 is below" not in caplog.text, caplog.text
    # a band without documents, which no alpha helps, is still said on its own
    assert ("--calibration-fraction: 2 of the 4 frequency bands have no conformal "
            "document with a true label" in caplog.text), caplog.text
    caplog.clear()
    result = _train_with_share(goemotions_small, tmp_path / "enough", "0.1")
    assert result.exit_code == 0 and "is below" not in caplog.text, caplog.text


def test_train_warns_of_a_calibration_share_above_half_and_a_held_out_check_on_few(
        goemotions_small, tmp_path, caplog):
    """--calibration-fraction 0.99 of 3,000 documents trained on 30, set 2,970 aside and
    printed no warning; its held-out check on 3 documents printed every metric as 1.0000
    as if it had measured something."""
    out = tmp_path / "model"
    result = _train_with_share(goemotions_small, out, "0.99")
    assert result.exit_code == 0, result.output
    assert ("--calibration-fraction 0.99 sets 2,970 documents aside for calibration "
            "and trains the model on 30: it learns from fewer documents than calibration "
            "takes" in _warned(caplog)), caplog.text
    held_out = [line for line in result.output.splitlines() if line.startswith("held-out")]
    assert len(held_out) == 1 and held_out[0].endswith(
        "(3 documents: too few for these figures to measure the model)"), result.output
    caplog.clear()
    result = _train_with_share(goemotions_small, tmp_path / "json", "0.99", "--json")
    assert result.exit_code == 0, result.output
    assert ("the held-out check rests on 3 documents: too few for its figures to "
            "measure the model" in _warned(caplog)), caplog.text
    # half or less set aside, and a held-out check on enough documents: nothing said of
    # the share (the slice's rare labels still have thresholds on few positives)
    caplog.clear()
    result = _train_with_share(goemotions_small, tmp_path / "half", "0.5")
    assert result.exit_code == 0, result.output
    # (nor are this weak model's sets, too wide to use: that warning is of the sets)
    assert [line for line in _warned(caplog).splitlines()
            if not line.startswith(("thresholds on few held-out positives",
                                    "at alpha 0.1 the conformal sets are too wide"))] == [], \
        caplog.text
    assert "too few" not in result.output


def test_every_warning_on_stderr_has_the_log_lines_form(goemotions_small, tmp_path):
    """The warnings a command printed itself read ``warning: ...``, with no time, beside
    the logged ``2026-... WARNING ...`` ones of the same run: train
    --calibration-fraction 0.004 printed "WARNING calibrating on only 12 held-out
    documents" and then "warning: --calibration-fraction: alpha 0.1 is below ..." (now a
    band without a conformal document, the check's other warning)."""
    result = subprocess.run(
        [sys.executable, "-m", "tagsmith", "train", str(goemotions_small["train"]),
         "--vocab", str(goemotions_small["vocab"]), "-o", str(tmp_path / "model"), *FAST,
         "--calibration-fraction", "0.004"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    logged = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) ")
    warnings = [line for line in result.stderr.splitlines() if "warning" in line.lower()]
    assert any("calibrating on only" in line for line in warnings), result.stderr
    # the command's own alpha check: what the too-wide-sets warning has not said (its
    # alpha floor is said there, since stop 47), the bands without a conformal document
    assert any("--calibration-fraction: 2 of the 4 frequency bands have no conformal"
               in line for line in warnings), result.stderr
    assert all(logged.match(line) for line in result.stderr.splitlines()), result.stderr


def test_a_warning_said_again_in_one_command_is_shown_once(tmp_path, caplog):
    """train -p max_iter=1 warned "the solver stopped at max_iter=1 ..." twice, word for
    word (the fit and the refit on all data), and audit five times (one a fold): the
    second said nothing the first had not."""
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"text {i} word{i % 7} {'good' if i % 2 else 'bad'}\t"
                              f"{'<u:a>' if i % 2 else '<u:b>'}\n" for i in range(40)))
    result = CliRunner().invoke(tagsmith_cli.cli, ["train", str(corpus), "-o",
                                                   str(tmp_path / "m"), "-p", "max_iter=1",
                                                   *FAST])
    assert result.exit_code == 0, result.output
    assert "refit on all data" in caplog.text  # two fits
    assert _warned(caplog).count("the solver stopped at max_iter=1") == 1, caplog.text
    # once a command: the next command run in process says it again
    caplog.clear()
    result = CliRunner().invoke(tagsmith_cli.cli, ["train", str(corpus), "-o",
                                                   str(tmp_path / "m2"), "-p", "max_iter=1",
                                                   *FAST])
    assert result.exit_code == 0, result.output
    assert _warned(caplog).count("the solver stopped at max_iter=1") == 1, caplog.text


@pytest.mark.parametrize(("option", "family", "internal"), [
    ("-p", "--model linear", "LinearOVR"), ("-p", "--model tree", "LabelTree"),
    ("--feature-param", "--featurizer tfidf", "TfidfFeaturizer")])
def test_an_unknown_param_key_is_refused_naming_the_family_typed(tmp_path, option, family,
                                                                  internal):
    """train -p foo=1 said "must be a parameter of LinearOVR (...)", a class the user
    never typed (--model linear is the default); --feature-param foo=1 named
    TfidfFeaturizer."""
    corpus = tmp_path / "c.tsv"
    corpus.write_text("a text\t<u:a>\n")
    result = CliRunner().invoke(tagsmith_cli.cli, ["train", str(corpus), "-o",
                                                   str(tmp_path / "m"), *family.split(),
                                                   option, "foo=1"])
    assert result.exit_code == 2, result.output
    kind, name = family.removeprefix("--").split()
    assert f"parameter 'foo' must be a parameter of {kind} {name!r} (" in result.output, \
        result.output
    assert internal not in result.output, result.output


def test_a_mondrian_band_without_conformal_documents_is_warned_about(bundle, goemotions_small,
                                                                     tmp_path, caplog):
    """Calibrated on documents of the one frequent label alone (neutral), the other bands
    had no conformal document: every mondrian set held every label of those bands, at
    any alpha, and neither calibrate nor suggest --sets --set-method mondrian said so
    (alpha_too_small left bands without documents out)."""
    lines = goemotions_small["test"].read_text().splitlines(keepends=True)
    neutral = tmp_path / "neutral.tsv"
    neutral.write_text("".join(line for line in lines
                               if line.rstrip("\n").split("\t")[1] == "<urn:goemotions:neutral>"))
    out = tmp_path / "calibrated"
    cli = tagsmith_cli.cli
    result = CliRunner().invoke(cli, ["calibrate", str(bundle), "--data", str(neutral), "-o",
                                      str(out)])
    assert result.exit_code == 0, result.output
    said = ("frequency bands have no conformal document with a true label: every mondrian "
            "set holds every label of those bands, at any alpha")
    assert _warned(caplog).count(said) == 1, caplog.text
    docs = tmp_path / "docs.txt"
    docs.write_text("Thank you so much!\nWhat a mess.\n")
    caplog.clear()
    result = CliRunner().invoke(cli, ["suggest", str(out), str(docs), "--sets", "--set-method",
                                      "mondrian", "--alpha", "0.5", "--format", "tsv"])
    assert result.exit_code == 0, result.output
    assert _warned(caplog).count(said) == 1, caplog.text
    caplog.clear()
    result = CliRunner().invoke(cli, ["suggest", str(out), str(docs), "--sets", "--alpha",
                                      "0.5", "--format", "tsv"])
    assert result.exit_code == 0 and not _warned(caplog), caplog.text


@pytest.mark.parametrize("width", [80, 60])
def test_the_command_list_says_what_each_command_does_uncut(width):
    """``tagsmith --help`` cut most commands' first sentence at about 45 characters
    ("Calibrate BUNDLE: probabilities,..."): each command has a one-sentence
    ``short_help`` that the list shows whole, wrapped if the terminal is narrow."""
    for name, command in tagsmith_cli.cli.commands.items():
        assert command.short_help, f"{name} has no short_help"
        assert len(command.short_help) <= 50 and command.short_help.endswith("."), name
    result = CliRunner().invoke(tagsmith_cli.cli, ["--help"], terminal_width=width)
    assert result.exit_code == 0, result.output
    listing = result.output.split("Commands:", 1)[1]
    assert "..." not in listing, listing
    assert len(re.findall(r"^  [a-z][a-z-]*  ", listing, re.M)) == len(tagsmith_cli.cli.commands)


def test_label_help_says_what_shortlist_k_and_max_labels_do():
    """label --help listed --shortlist-k and --max-labels with a default and no help."""
    result = CliRunner().invoke(tagsmith_cli.cli, ["label", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--shortlist-k INTEGER RANGE Labels of the shortlist offered per document" in text
    assert "--max-labels INTEGER RANGE Most labels asked for and kept per answer" in text


def test_shift_of_no_document_names_the_input_read(bundle, tmp_path):
    """shift of an empty file said "parameter 'FILES' must be at least one document, got
    'none'", naming no file, then "got 'none in FILE'" (exit code 2, a usage error); it
    is bad input, refused as every command refuses a corpus with no documents (exit
    code 3), naming the file, each file, or stdin."""
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    other = tmp_path / "other.txt"
    other.write_text("")
    result = run("shift", bundle, empty)
    assert result.exit_code == 3, result.output
    assert f"{empty}: no documents in FILES: nothing to estimate a shift on" \
        in result.output, result.output
    result = run("shift", bundle, empty, other)
    assert result.exit_code == 3, result.output
    assert f"no documents in FILES ({empty}, {other}, each empty or blank)" \
        in " ".join(result.output.split()), result.output
    result = run("shift", bundle, input="")
    assert result.exit_code == 3, result.output
    assert "stdin: no documents in FILES" in result.output, result.output
    # --whole-file: an empty stdin or FILE is one empty document, estimated on (exit 0)
    for args, name in ((("--whole-file",), "stdin"), (("--whole-file", empty), str(empty))):
        result = run("shift", bundle, *args, input="")
        assert result.exit_code == 3, result.output
        assert f"{name}: no documents in FILES" in result.output, result.output
    many = [tmp_path / f"e{i:02d}.txt" for i in range(12)]
    for path in many:
        path.write_text("")
    result = run("shift", bundle, *many)
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    named = ", ".join(map(str, many[:5]))
    assert f"({named}, and 7 more, each empty or blank)" in text, result.output
    assert str(many[5]) not in text, result.output
    # a file name holding a newline is written escaped, one message on one line
    odd = tmp_path / "a\nb.txt"
    odd.write_text("")
    result = run("shift", bundle, empty, odd)
    assert result.exit_code == 3, result.output
    assert f"({empty}, {tmp_path}/a\\nb.txt, each empty or blank)" \
        in " ".join(result.output.split()), result.output


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(),
                    reason="fills the pipe through /proc/self/fd, waits on /proc/PID/wchan")
def test_kill_ends_a_run_whose_error_line_waits_on_its_stderr(bundle, tmp_path):
    """A run whose error line waited for room in a stderr nobody read (a pipe to a
    stalled log collector): a ``kill`` raised there, click's blank line after it waited
    again, and only a second ``kill`` ended the run, with exit code 1. One ``kill`` ends
    it at once (143)."""
    import os
    import signal
    import time

    documents = tmp_path / "bad.txt"
    documents.write_bytes(b"\xff\xfe not UTF-8\n")
    with unread_pipe() as (read_end, write_end):
        fill_pipe(write_end)  # the child's first write to stderr waits
        with open(documents, "rb") as stdin:
            process = subprocess.Popen(
                [sys.executable, "-m", "tagsmith", "-q", "suggest", str(bundle), "-"],
                env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdin=stdin,
                stdout=subprocess.DEVNULL, stderr=write_end)
        wchan = Path(f"/proc/{process.pid}/wchan")
        deadline = time.monotonic() + 240
        while process.poll() is None and time.monotonic() < deadline \
                and not wchan.read_text().endswith("pipe_write"):
            time.sleep(0.05)
        assert process.poll() is None  # waiting to say the error
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        ended = exit_code_or_drain(process, read_end)
    assert ended == 143


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_stop_as_the_closing_line_is_said_does_not_lose_it(
        monkeypatch, capsys, tmp_path, when, signame):
    """A signal just before the closing line's handler went in (after main's
    end_if_killed, with no stop before: an error) or just after it went in (before it
    was deafened) raised out of invoke's except block: click said "Aborted!" and the
    exit code was 1, the error line lost. Raised here in process at those very points:
    a Ctrl-C is ignored, a kill ends the run with 143 (os._exit, stood in for)."""
    import signal

    ignored = tagsmith_cli.LaterStopsIgnored
    original = ignored.__enter__

    def enter(self):
        if when == "before":
            signal.raise_signal(getattr(signal, signame))
        entered = original(self)
        if when == "after":
            signal.raise_signal(getattr(signal, signame))
        return entered

    def killed(signum=None):
        raise SystemExit(tagsmith_cli.EXIT_TERMINATED)

    monkeypatch.setattr(ignored, "__enter__", enter)
    monkeypatch.setattr(tagsmith_cli, "exit_terminated", killed)
    with pytest.raises(SystemExit) as stopped:
        tagsmith_cli.main(["vocab", str(tmp_path / "missing.tsv")])
    err = capsys.readouterr().err
    assert "Aborted" not in err
    if signame == "SIGINT":
        assert stopped.value.code == 3 and "error:" in err, err
    else:
        assert stopped.value.code == tagsmith_cli.EXIT_TERMINATED, err


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_stop_as_the_error_line_is_built_does_not_lose_it(monkeypatch, capsys, tmp_path,
                                                            signame):
    """A signal while the error line was built (as_typed naming the option, before
    _say_closing held stops) raised out of invoke's except block: click said "Aborted!"
    and the exit code was 1, the error line lost. Stops are held from the start of the
    closing: a Ctrl-C is ignored, a kill ends the run with 143 (os._exit, stood in for)."""
    import signal

    original = tagsmith_cli.as_typed

    def as_typed(*args, **kwargs):
        signal.raise_signal(getattr(signal, signame))
        return original(*args, **kwargs)

    def killed(signum=None):
        raise SystemExit(tagsmith_cli.EXIT_TERMINATED)

    monkeypatch.setattr(tagsmith_cli, "as_typed", as_typed)
    monkeypatch.setattr(tagsmith_cli, "exit_terminated", killed)
    with pytest.raises(SystemExit) as stopped:
        tagsmith_cli.main(["train", str(tmp_path / "c.tsv"), "-o", str(tmp_path / "m"),
                           "--param", "C=-1"])
    err = capsys.readouterr().err
    assert "Aborted" not in err
    if signame == "SIGINT":
        assert stopped.value.code == 2 and "error: option '--param': parameter 'C'" in err, err
    else:
        assert stopped.value.code == tagsmith_cli.EXIT_TERMINATED, err


def test_a_kill_held_as_a_closed_pipe_is_met_ends_the_run(monkeypatch, capsys):
    """invoke's OSError branch holds stops from its start (_hold_stops), but only the
    branches that say a line (_say_closing) ended the run on a held kill: a kill while a
    closed pipe's stdout was dropped was held and forgotten (exit code 141, not 143).
    The kill is raised in process where stdout is dropped (os._exit, stood in for)."""
    import errno
    import signal

    def closed_pipe(*args, **kwargs):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def killed(signum=None):
        raise SystemExit(tagsmith_cli.EXIT_TERMINATED)

    def drop_under_kill():
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(tagsmith_cli.click, "echo", closed_pipe)
    monkeypatch.setattr(tagsmith_cli, "exit_terminated", killed)
    monkeypatch.setattr(tagsmith_cli, "_drop_stdout", drop_under_kill)
    with pytest.raises(SystemExit) as stopped:
        tagsmith_cli.main(["vocab", str(ROOT / "tests" / "data" / "vocab.csv")])
    assert stopped.value.code == tagsmith_cli.EXIT_TERMINATED, capsys.readouterr().err


def test_only_the_commands_with_a_json_summary_keep_their_warnings(goemotions_small,
                                                                    monkeypatch):
    """Every command kept each warning tagsmith logged, in memory and with no end, for a
    JSON summary that only label and taxonomy print."""
    import tagsmith.data.vocab as vocab_module

    collecting: list[bool] = []
    original = vocab_module.load_vocabulary

    def spy(*args, **kwargs):
        collecting.append(any(isinstance(handler, tagsmith_cli._WarningCollector)
                              for handler in logging.getLogger("tagsmith").handlers))
        return original(*args, **kwargs)

    monkeypatch.setattr(vocab_module, "load_vocabulary", spy)
    with pytest.raises(SystemExit) as stopped:
        tagsmith_cli.main(["vocab", str(goemotions_small["vocab"])])
    assert stopped.value.code == 0
    assert collecting == [False]
    assert tagsmith_cli.SUMMARY_COMMANDS == {"label", "taxonomy", "calibrate", "train",
                                             "distill"}
    with tagsmith_cli._command_logging(0, False, []):  # what label and taxonomy get
        assert any(isinstance(handler, tagsmith_cli._WarningCollector)
                   for handler in logging.getLogger("tagsmith").handlers)


def _lang_data(command, tmp_path, rows):
    """``rows`` (text, label) as ``command``'s input: train's TSV corpus, distill's JSONL
    of LLM labels."""
    if command == "train":
        data = tmp_path / "data.tsv"
        data.write_text("".join(f"{text}\t{label}\n" for text, label in rows))
    else:
        data = tmp_path / "data.jsonl"
        data.write_text("".join(json.dumps({"id": str(i), "text": text, "labels": [label]})
                                + "\n" for i, (text, label) in enumerate(rows)))
    return data


@pytest.mark.parametrize("command", ["train", "distill"])
def test_train_and_distill_lang_store_a_vocabulary_s_names_in_that_language(tmp_path, command):
    # train and distill read a TSV vocabulary's names as English only (no --lang, which
    # vocab, audit and zeroshot take): a Finnish one's names were stored as English in the
    # bundle, and suggest --lang fi warned that none is Finnish; train's corpus names its
    # labels by their Finnish names here, distill's by URI
    from tagsmith.pipeline.classifier import TextClassifier

    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:sport>\turheilu\n<u:music>\tmusiikki\n")
    sport, music = ("urheilu", "musiikki") if command == "train" else ("u:sport", "u:music")
    data = _lang_data(command, tmp_path, [("jalkapallo ottelu", sport),
                                          ("piano konsertti", music)] * 4)
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", command, str(data), "--vocab", str(vocab), "-o", str(tmp_path / "m"),
        "--lang", "fi", "--dev-fraction", "0"])
    assert result.exit_code == 0, result.output
    space = TextClassifier.load(tmp_path / "m").label_space
    assert space.languages == ["fi"] and space.names("fi") == ["urheilu", "musiikki"]
    if command == "train":
        # a derived label space's names are the corpus's keys: --lang has nothing to read
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "train", str(data), "-o", str(tmp_path / "m2"), "--lang", "fi"])
        assert result.exit_code == 2 and "--lang only applies" in result.output, result.output


@pytest.mark.parametrize("command", ["train", "distill"])
def test_train_and_distill_warn_of_a_lang_no_label_is_named_in(tmp_path, command, caplog):
    # label, vocab, audit and zeroshot warn of it; train and distill took --lang sv over
    # a vocabulary named in English and Finnish without a word (a mistyped --lang)
    vocab = tmp_path / "v.ttl"
    vocab.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
                     "<u:sport> a skos:Concept ; skos:prefLabel \"sport\"@en, \"urheilu\"@fi .\n"
                     "<u:music> a skos:Concept ; skos:prefLabel \"music\"@en, \"musiikki\"@fi .\n")
    data = _lang_data(command, tmp_path, [("football match", "u:sport"),
                                          ("piano concert", "u:music")] * 4)
    for lang, warned in [("sv", True), ("fi", False)]:
        caplog.clear()
        result = CliRunner().invoke(tagsmith_cli.cli, [
            command, str(data), "--vocab", str(vocab), "-o", str(tmp_path / f"m-{lang}"),
            "--lang", lang, "--dev-fraction", "0"])
        assert result.exit_code == 0, result.output
        assert ("no label has a name in language 'sv'" in caplog.text) == warned, caplog.text


EN_DE_VOCAB = ("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
               "<u:sport> a skos:Concept ; skos:prefLabel \"sport\"@en, \"Sport\"@de .\n"
               "<u:music> a skos:Concept ; skos:prefLabel \"music\"@en, \"Musik\"@de .\n"
               "<u:law> a skos:Concept ; skos:prefLabel \"law\"@en, \"Recht\"@de .\n")


@pytest.mark.parametrize("command", ["train", "distill"])
def test_train_and_distill_warnings_name_labels_in_lang(tmp_path, command, caplog):
    # a legal publisher's German team ran train and distill --lang de over a vocabulary
    # named in English and German: the warning of a label no document carries named it
    # 'law', in English, whatever --lang said; without --lang it stays English
    vocab = tmp_path / "v.ttl"
    vocab.write_text(EN_DE_VOCAB)
    data = _lang_data(command, tmp_path, [("football match", "u:sport"),
                                          ("piano concert", "u:music")] * 4)
    for lang, name, other in [("de", "'Recht'", "'law'"), (None, "'law'", "'Recht'")]:
        caplog.clear()
        result = CliRunner().invoke(tagsmith_cli.cli, [
            command, str(data), "--vocab", str(vocab), "-o", str(tmp_path / f"m-{lang}"),
            "--dev-fraction", "0", *(["--lang", lang] if lang else [])])
        assert result.exit_code == 0, result.output
        assert ("1 of 3 labels has no positive training document and will never be "
                f"predicted: {name}") in caplog.text, caplog.text
        assert other not in caplog.text


@pytest.mark.parametrize("command", ["calibrate", "eval", "suggest"])
def test_a_bundle_named_in_no_english_is_warned_of_under_the_default_lang(tmp_path, command,
                                                                           caplog):
    # calibrate and eval warned of a --lang no label is named in only for a --lang other
    # than en, where suggest always did: a bundle named in German alone, run without
    # --lang, named its labels in German with a word from suggest alone
    vocab = tmp_path / "v.ttl"
    vocab.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
                     "<u:sport> a skos:Concept ; skos:prefLabel \"Sport\"@de .\n"
                     "<u:music> a skos:Concept ; skos:prefLabel \"Musik\"@de .\n")
    rows = [("football match goal", "u:sport"), ("piano concert violin", "u:music")]
    data = tmp_path / "data.tsv"
    data.write_text("".join(f"{text} {i}\t{label}\n" for i in range(20)
                            for text, label in rows))
    bundle = tmp_path / "m"
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "train", str(data), "--vocab", str(vocab), "-o", str(bundle), "--lang", "de",
        "--calibration-fraction", "0.5"])
    assert result.exit_code == 0, result.output
    held = tmp_path / "held.tsv"
    held.write_text("".join(f"{text} x{i}\t{label}\n" for i in range(10)
                            for text, label in rows))
    args = {"calibrate": ["--data", str(held)], "eval": [str(held), "--per-label"],
            "suggest": [str(held)]}[command]
    for lang, warned in [(None, True), ("de", False)]:
        caplog.clear()
        result = CliRunner().invoke(tagsmith_cli.cli, [
            command, str(bundle), *args, *(["--lang", lang] if lang else [])])
        assert result.exit_code == 0, result.output
        assert ("no label has a name in language 'en' (--lang): names in 'de' are shown "
                "instead" in caplog.text) == warned, caplog.text


def test_calibrate_and_train_calibration_warnings_name_labels_in_lang(tmp_path, caplog):
    # calibrate had no --lang: its warning of a label never trained, out of every
    # conformal set, named 'law' to a German team; train --calibration-fraction --lang de
    # said the same in English. With --lang de both say 'Recht'; without, 'law' as before
    vocab = tmp_path / "v.ttl"
    vocab.write_text(EN_DE_VOCAB)
    rows = [("football match goal", "u:sport"), ("piano concert violin", "u:music")]
    data = tmp_path / "data.tsv"
    data.write_text("".join(f"{text} {i}\t{label}\n" for i in range(20)
                            for text, label in rows))
    held = tmp_path / "held.tsv"
    held.write_text("".join(f"{text} x{i}\t{label}\n" for i in range(10)
                            for text, label in rows))
    never = "1 label never trained (no training document: {})"
    for lang, name, other in [("de", "'Recht'", "'law'"), (None, "'law'", "'Recht'")]:
        flag = ["--lang", lang] if lang else []
        caplog.clear()
        bundle = tmp_path / f"m-{lang}"
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "train", str(data), "--vocab", str(vocab), "-o", str(bundle),
            "--calibration-fraction", "0.5", *flag])
        assert result.exit_code == 0, result.output
        assert never.format(name) in caplog.text, caplog.text
        caplog.clear()
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "calibrate", str(bundle), "--data", str(held), *flag])
        assert result.exit_code == 0, result.output
        assert never.format(name) in caplog.text, caplog.text
        assert other not in caplog.text
        assert "no label has a name in language" not in caplog.text
    # a mistyped --lang is warned of, as suggest and shift warn of it
    caplog.clear()
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "calibrate", str(tmp_path / "m-de"), "--data", str(held), "--lang", "sv"])
    assert result.exit_code == 0, result.output
    assert "no label has a name in language 'sv'" in caplog.text, caplog.text
    # suggest --sets --lang de named it 'law' too, where train and calibrate said 'Recht'
    docs = tmp_path / "docs.txt"
    docs.write_text("football match\n")
    for lang, name, other in [("de", "'Recht'", "'law'"), (None, "'law'", "'Recht'")]:
        caplog.clear()
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "suggest", str(tmp_path / "m-de"), str(docs), "--sets",
            *(["--lang", lang] if lang else [])])
        assert result.exit_code == 0, result.output
        warned = caplog.text + result.stderr
        assert never.format(name) in warned, warned
        assert other not in warned


def test_a_file_size_limit_while_saving_a_bundle_is_one_line_and_keeps_the_good_one(
        goemotions_small, tmp_path):
    # 'ulimit -f' (or a file system's largest file) makes a write fail with EFBIG, as a
    # full disk does with ENOSPC (Python ignores SIGXFSZ): it ended in a traceback from
    # numpy's savez, exit code 1, where a full disk is one line naming the bundle
    import resource

    out = tmp_path / "model"
    train = ["train", goemotions_small["dev"], "--output", out, "--vocab",
             goemotions_small["vocab"], "--dev-fraction", "0", *FAST]
    assert run(*train).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    largest = max(len(data) for data in before.values())

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest // 2, resource.RLIM_INFINITY))

    result = subprocess.run([sys.executable, "-m", "tagsmith", "-q", *map(str, train)],
                            capture_output=True, text=True, preexec_fn=limit_file_size)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"error: {out}: File too large"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("output", [[], ["-o", "model"], ["-o", "model/"]])
def test_a_bundle_saved_by_another_command_meanwhile_is_not_overwritten_in_place(
        bundle, goemotions_small, tmp_path, monkeypatch, output):
    # 'calibrate B' while 'shift B --save' (or another calibrate) ran: each loaded B,
    # and the last to save replaced the other's save with the bundle it had loaded plus
    # its own change; the other had said "saved in B", and its change was gone
    # ('calibrate B -o B' too: that check was skipped where -o was given)
    import shutil

    from tagsmith.pipeline import confidence
    from tagsmith.pipeline.classifier import TextClassifier

    model = tmp_path / "model"
    shutil.copytree(bundle, model)
    real = confidence.calibrate_classifier

    def calibrate_while_another_saves(classifier, *args, **kwargs):
        other = TextClassifier.load(model)  # another command's in-place save, meanwhile
        other.manifest["training"]["note"] = "the other command's change"
        other.save(model)
        return real(classifier, *args, **kwargs)

    monkeypatch.setattr(confidence, "calibrate_classifier", calibrate_while_another_saves)
    output = [str(tmp_path / name) if name.startswith("model") else name for name in output]
    result = run("calibrate", model, "--data", goemotions_small["test"], *output)
    assert result.exit_code == 3, result.output
    assert result.output.strip() == (
        f"error: {model}: was replaced by another command while this one ran; not "
        "overwritten, which would drop that command's changes: run this one again on it")
    loaded = TextClassifier.load(model)
    assert loaded.manifest["training"]["note"] == "the other command's change"
    assert loaded.calibrator is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging left
    monkeypatch.setattr(confidence, "calibrate_classifier", real)
    assert run("calibrate", model, "--data", goemotions_small["test"], *output).exit_code == 0
    assert TextClassifier.load(model).calibrator is not None


def test_a_file_name_too_long_for_the_file_system_is_one_line_not_a_traceback(
        bundle, goemotions_small, tmp_path):
    # a name over NAME_MAX (255 bytes): Path.exists() raised 'OSError: [Errno 36] File
    # name too long' in the checks before the work, a traceback with exit code 1, for
    # every command but train's bundle output (an input, a cache, a diagram, an output)
    long = tmp_path / ("x" * 300)
    for name, args in ((f"{long}.tsv", ["eval", bundle, f"{long}.tsv"]),
                       (f"{long}.txt", ["suggest", bundle, f"{long}.txt"]),
                       (f"{long}.tsv", ["vocab", f"{long}.tsv"]),
                       (f"{long}.png", ["calibrate", bundle, "--data", goemotions_small["dev"],
                                        "--reliability-png", f"{long}.png", "-o",
                                        tmp_path / "calibrated"])):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output)
        assert result.output.strip() == f"error: {name}: File name too long", result.output
    # an output folder refused before the work, naming the option
    result = run("audit", goemotions_small["dev"], "--vocab", goemotions_small["vocab"],
                 "-o", long / "out", "--scores", "knn")
    assert result.exit_code == 3, result.output
    assert result.output.strip() == (
        f"error: {long / 'out'}: -o/--output: the name of its folder {long} is 300 bytes "
        "long, more than the 255 a file name may have here")
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize("output", [[], ["-o", "link"]])
def test_a_bundle_calibrated_in_place_through_a_link_is_saved_where_the_link_points(
        bundle, goemotions_small, tmp_path, output):
    # the save put a new folder in the link's place: the link was gone, and the bundle it
    # pointed to (which other links or scripts name) stayed uncalibrated
    import shutil

    from tagsmith.pipeline.classifier import TextClassifier

    shutil.copytree(bundle, tmp_path / "model")
    link = tmp_path / "link"
    link.symlink_to("model")
    output = [str(link) if name == "link" else name for name in output]
    result = run("calibrate", link, "--data", goemotions_small["test"], *output)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == "model"
    assert TextClassifier.load(tmp_path / "model").calibrator is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "model"]  # no staging
    result = run("shift", link, goemotions_small["test"], "--save", "--save-unsupported",
                 "--min-count", "0")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == "model"
    assert TextClassifier.load(tmp_path / "model").label_shift is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "model"]


@pytest.mark.parametrize("command", [["calibrate", "LINK"], ["calibrate", "MODEL", "-o", "LINK"],
                                     ["shift", "LINK", "--save", "--save-unsupported",
                                      "--min-count", "0"]])
def test_a_bundle_saved_in_place_through_a_link_is_checked_where_the_link_points(
        bundle, goemotions_small, tmp_path, monkeypatch, command):
    # the save goes where the link points, but the check before the work looked at the
    # link's folder: a link in a read-only folder to a bundle in a writable one was
    # refused, and one to a bundle in a read-only folder passed, to fail after the work
    import shutil

    import tagsmith.data.textio as textio
    import tagsmith.pipeline.confidence as confidence

    (tmp_path / "store").mkdir()
    (tmp_path / "links").mkdir()
    shutil.copytree(bundle, tmp_path / "store" / "model")
    link = tmp_path / "links" / "link"
    link.symlink_to(tmp_path / "store" / "model")
    args = [{"LINK": link, "MODEL": tmp_path / "store" / "model"}.get(arg, arg)
            for arg in command]
    if command[0] == "calibrate":
        args += ["--data", goemotions_small["test"]]
    else:  # shift needs a calibrated bundle
        assert run("calibrate", link, "--data", goemotions_small["test"]).exit_code == 0
        args.insert(2, goemotions_small["test"])
    real_access = textio.os.access
    read_only = []  # tests run as root: chmod is ignored
    monkeypatch.setattr(textio.os, "access", lambda path, mode: Path(path) not in read_only
                        and real_access(path, mode))
    read_only[:] = [tmp_path / "links"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and sorted(p.name for p in (tmp_path / "store").iterdir()) \
        == ["model"]

    def work(*args, **kwargs):
        raise AssertionError("the work was done before the refusal")

    monkeypatch.setattr(confidence, "calibrate_classifier", work)
    monkeypatch.setattr(confidence, "estimate_shift", work)
    read_only[:] = [tmp_path / "store"]
    result = run(*args)
    assert result.exit_code == 3, result.output
    assert f"{tmp_path / 'store'} is not writable" in result.output


def test_a_symbolic_link_loop_as_an_output_is_replaced_not_a_traceback(
        bundle, goemotions_small, tmp_path, monkeypatch):
    # Path.resolve() raised RuntimeError (Symlink loop) on Python 3.11 in the checks
    # that an output is not an input (same_file, calibrate -o inside the bundle): a
    # traceback, exit code 1, where train -o LOOP replaces the link
    from tagsmith.data.textio import same_file

    monkeypatch.chdir(tmp_path)
    Path("loop").symlink_to("loop")
    assert not same_file("loop", bundle) and same_file("loop", "./loop")
    result = run("calibrate", bundle, "--data", goemotions_small["test"], "-o", "loop")
    assert result.exit_code == 0, result.output
    assert not Path("loop").is_symlink() and (Path("loop") / "manifest.json").is_file()


def test_an_output_name_with_a_line_break_is_one_line_in_the_summary(goemotions_small,
                                                                      tmp_path):
    # train printed '-> out/two\nlines' raw, splitting its summary line in two (calibrate,
    # distill, label and taxonomy alike), where apply-review and the audit escape it
    out = tmp_path / "two\nlines"
    result = run("train", goemotions_small["dev"], "--output", out, "--vocab",
                 goemotions_small["vocab"], "--dev-fraction", "0", *FAST)
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("trained linear on 600 documents, 28 labels in ")
    assert first.endswith(f"s -> {tmp_path}/two\\nlines")
    result = run("calibrate", out, "--data", goemotions_small["test"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(f"s -> {tmp_path}/two\\nlines")
    # shift --save said 'saved in out/two' and 'lines: probabilities ...' on a line of its own
    result = run("shift", out, goemotions_small["test"], "--save", "--save-unsupported",
                 "--min-count", "0")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith(
        f"saved in {tmp_path}/two\\nlines: probabilities are now adjusted to the estimates of ")


def test_a_gzip_corpus_cut_short_names_the_last_line_read_not_line_1(bundle, goemotions_small,
                                                                      tmp_path):
    # a .gz corpus still being copied or written: the file is read ahead of its lines,
    # so the error said 'FILE:1: cannot read the file' wherever the file was cut; and it
    # says the file was cut short, plainly, as a last line with no line end does; and,
    # with --on-error skip too (which refuses it: its rest is no malformed line, and how
    # much is lost unknown), that the lines before the cut were read, nothing after it
    whole = gzip.compress(goemotions_small["train"].read_bytes())
    short, cut = tmp_path / "short.tsv.gz", tmp_path / "cut.tsv.gz"
    short.write_bytes(whole[:300])  # cut inside the first 64 KiB chunk
    cut.write_bytes(whole[:len(whole) * 3 // 4])
    ended = "(Compressed file ended before the end-of-stream marker was reached)"
    for path in (short, cut):
        # the lines whole in what can be decompressed (read as they come: read1)
        n_whole_lines = zlib.decompressobj(wbits=31).decompress(path.read_bytes()).count(b"\n")
        after = f" after line {n_whole_lines}" if n_whole_lines else ""
        read = (f"the {n_whole_lines:,} lines before the cut were read" if n_whole_lines
                else "no line before the cut could be read")
        refused = (", so the file is refused even where malformed lines are skipped "
                   "(--on-error skip)")
        for args in (["eval", bundle, path], ["eval", bundle, path, "--on-error", "skip"],
                     ["train", path, "-o", tmp_path / "out", "--on-error", "skip"],
                     ["audit", path, "-o", tmp_path / "out", "--on-error", "skip"],
                     ["suggest", bundle, path]):  # documents: no --on-error to speak of
            result = run(*args)
            assert result.exit_code == 3, (args, result.output)
            # suggest has answered the lines before the cut: the error is its last line
            said = result.output.strip().splitlines()
            assert (said[-1] if args[0] == "suggest" else result.output.strip()) == (
                f"error: {path}: cannot read the file{after} {ended}: the file was cut "
                f"short (written or copied in part?); {read}, nothing after it can be"
                f"{refused if args[0] != 'suggest' else ''}: write or copy it whole again"), \
                (args, result.output)
            assert not (tmp_path / "out").exists()
        assert path == short or n_whole_lines > 1


def test_a_classifier_saved_in_place_twice_is_not_taken_for_another_commands_save(
        bundle, tmp_path):
    # the second in-place save expected the bundle as loaded, found the first save's, and
    # was refused as though another command had replaced it meanwhile
    import shutil

    from tagsmith.exceptions import BundleTargetError
    from tagsmith.pipeline.classifier import TextClassifier

    model = tmp_path / "model"
    shutil.copytree(bundle, model)
    classifier = TextClassifier.load(model)
    classifier.manifest["training"]["note"] = "first"
    classifier.save(model, in_place=True)
    classifier.manifest["training"]["note"] = "second"
    classifier.save(model, in_place=True)
    assert TextClassifier.load(model).manifest["training"]["note"] == "second"
    other = TextClassifier.load(model)  # another command's save still refuses it
    other.manifest["training"]["note"] = "other"
    other.save(model)
    with pytest.raises(BundleTargetError, match="was replaced by another command"):
        classifier.save(model, in_place=True)
    assert TextClassifier.load(model).manifest["training"]["note"] == "other"


def test_a_pipe_where_a_file_or_folder_is_read_or_written_is_named_as_a_pipe(tmp_path):
    # a process substitution <(cat v.tsv) was "is not a file" (vocab, train --vocab,
    # zeroshot VOCAB) with no word of why, and a pipe or /dev/null where a folder is
    # written or read was "is a file" (audit -o, zeroshot --cache-dir, a bundle)
    corpus, vocab, pipe = tmp_path / "c.tsv", tmp_path / "v.tsv", tmp_path / "p"
    corpus.write_text("sport one\t<u:sport>\nmusic two\t<u:music>\n")
    vocab.write_text("<u:sport>\tsport\n<u:music>\tmusic\n")
    os.mkfifo(pipe)  # never opened: each refusal comes from what stat says it is
    a_pipe = "a pipe (a process substitution such as <(...), or a named pipe)"
    for args, reason in (
            (["vocab", pipe], f"is {a_pipe}, not a file: a vocabulary is read from a file"),
            (["train", corpus, "--vocab", pipe, "-o", tmp_path / "m"], "save what the pipe"),
            (["zeroshot", pipe, corpus], "save what the pipe gives to a file"),
            (["train", corpus, "-o", pipe], f"exists and is {a_pipe}, not a directory"),
            (["audit", corpus, "-o", pipe], f"-o/--output: is {a_pipe}, expected a folder"),
            (["suggest", pipe], f"a model bundle is a directory, this is {a_pipe}"),
            (["zeroshot", vocab, corpus, "--cache-dir", pipe],
             f"--cache-dir: is {a_pipe}, expected a folder")):
        result = run(*args)
        assert result.exit_code == (4 if args[0] == "suggest" else 3), (args, result.output)
        assert f"{pipe}: " in result.output and reason in result.output, (args, result.output)
    result = run("zeroshot", vocab, corpus, "--cache-dir", "/dev/null")
    assert result.exit_code == 3 and "--cache-dir: is a device, expected a folder" in \
        result.output, result.output


def test_a_pipe_or_a_device_where_a_file_is_written_is_refused_naming_it(bundle, tmp_path,
                                                                        goemotions_small):
    # a named pipe given as a file output (calibrate --reliability-png, label -o --force,
    # apply-review -o --force) was replaced by a file, the pipe gone and its reader left
    # waiting; as root, -o /dev/null replaced the device with a file
    import shutil
    import stat

    from tagsmith.data.textio import atomic_text_writer, check_writable

    model, pipe = tmp_path / "model", tmp_path / "diagram.png"
    shutil.copytree(bundle, model)
    before = {path.name: path.read_bytes() for path in model.iterdir()}
    os.mkfifo(pipe)  # never opened
    result = run("calibrate", model, "--data", goemotions_small["test"],
                 "--reliability-png", pipe)
    assert result.exit_code == 3, result.output
    assert f"{pipe}: --reliability-png: is a pipe (a process substitution such as <(...), " \
        "or a named pipe), expected a file to write" in result.output, result.output
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert {path.name: path.read_bytes() for path in model.iterdir()} == before
    with pytest.raises(DataError, match="is a device, expected a file to write"):
        check_writable("/dev/null")
    with pytest.raises(DataError, match="is a pipe"), atomic_text_writer(pipe) as out:
        out.write("never")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


def test_a_bundle_below_a_folder_that_cannot_be_looked_into_is_refused_naming_it(
        bundle, goemotions_small, tmp_path, monkeypatch):
    """Bundle() asked path.exists() and check_bundle_target target.exists(), which on
    Python 3.11 raise the PermissionError of a folder above that may not be looked into:
    a traceback, exit code 1, for suggest, info, calibrate and train -o alike."""
    import shutil

    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copytree(bundle, locked / "B")
    refuse_stat_below(monkeypatch, locked)
    said = "is a path that cannot be looked at (permission denied)"
    data = goemotions_small["dev"]
    for named, args, code in (
            (locked / "B", ["suggest", locked / "B"], 4), (locked / "B", ["info", locked / "B"], 4),
            (locked / "B", ["calibrate", locked / "B", "--data", data], 4),
            (locked / "B", ["train", data, "-o", locked / "B", *FAST], 3),
            (locked / "new" / "B", ["train", data, "-o", locked / "new" / "B", *FAST], 3)):
        result = run(*args, input="I am so happy\n")
        assert result.exit_code == code, (args, result.output, result.exception)
        assert f"{named}: {said}" in result.output, result.output


def test_inputs_below_a_folder_that_cannot_be_looked_into_are_refused_naming_them(
        bundle, goemotions_small, tmp_path, monkeypatch):
    """The checks of documents, a corpus and a vocabulary asked path.exists() or
    is_dir(), which on Python 3.11 raise the PermissionError of a folder above that may
    not be looked into: a traceback, exit code 1. Bad input now, exit code 3, named."""
    import shutil

    locked = tmp_path / "locked"
    locked.mkdir()
    for name in ("docs.txt", "c.tsv", "v.tsv"):
        shutil.copy(goemotions_small["vocab"] if name == "v.tsv" else goemotions_small["dev"],
                    locked / name)
    refuse_stat_below(monkeypatch, locked)
    said = "is a path that cannot be looked at (permission denied)"
    out = tmp_path / "m"
    for named, args in (
            (locked / "docs.txt", ["suggest", bundle, locked / "docs.txt"]),
            (locked / "c.tsv", ["eval", bundle, locked / "c.tsv"]),
            (locked / "c.tsv", ["train", locked / "c.tsv", "-o", out, *FAST]),
            (locked / "v.tsv", ["train", goemotions_small["dev"], "-o", out, "--vocab",
                                locked / "v.tsv", *FAST])):
        result = run(*args)
        assert result.exit_code == 3, (args, result.output, result.exception)
        assert f"{named}: {said}" in result.output, result.output


#: never called: each run below is refused before any request
_NO_LLM = ["--base-url", "http://127.0.0.1:9/v1", "--llm", "m", "--cache", "{out}/c.sqlite"]


@pytest.mark.parametrize("said, args", [
    ("{locked}/c.tsv: {said}", ["label", "{locked}/c.tsv", "--vocab", "{vocab}", "-o",
                                "{out}/l.jsonl", *_NO_LLM]),
    ("{locked}/c.tsv: {said}", ["label", "{data}", "--vocab", "{vocab}", "-o",
                                "{out}/l.jsonl", "--human", "{locked}/c.tsv", *_NO_LLM]),
    ("{locked}/new.tsv: {said}", ["apply-review", "{data}", "{out}/review.csv", "-o",
                                  "{locked}/new.tsv", "--vocab", "{vocab}"]),
    ("{locked}/r.png: --reliability-png: {said}", [
        "calibrate", "{bundle}", "--data", "{data}", "--reliability-png", "{locked}/r.png"]),
    ("{locked}/c.sqlite: --cache: {said}", ["label", "{data}", "--vocab", "{vocab}", "-o",
                                            "{out}/l.jsonl", *_NO_LLM, "--cache",
                                            "{locked}/c.sqlite"]),
    ("{locked}/c.sqlite: --cache: {said}", ["taxonomy", "{data}", "--use-case", "x", "-o",
                                            "{out}/t.csv", *_NO_LLM, "--cache",
                                            "{locked}/c.sqlite"]),
    # a folder that may not be looked into itself, given as an output folder
    ("{locked}: -o/--output: {inside}", ["audit", "{data}", "-o", "{locked}", "--vocab",
                                         "{vocab}"]),
    ("{locked}: --cache-dir: {inside}", ["zeroshot", "{vocab}", "{out}/docs.txt",
                                         "--cache-dir", "{locked}"]),
    ("{locked}: --cache-dir: {inside}", ["label", "{data}", "--vocab", "{vocab}", "-o",
                                         "{out}/l.jsonl", "--shortlist-zeroshot",
                                         "--cache-dir", "{locked}", *_NO_LLM]),
    ("{locked}: --cache-dir: {inside}", ["taxonomy", "{data}", "--use-case", "x", "-o",
                                         "{out}/t.csv", "--map-to", "{vocab}", "--map-by",
                                         "meaning", "--cache-dir", "{locked}", *_NO_LLM]),
    # ... and a folder of documents (its .txt files) or a corpus folder
    ("{locked}: {inside}", ["suggest", "{bundle}", "{locked}"]),
    ("{locked}: {inside}", ["shift", "{bundle}", "{locked}"]),
    ("{locked}: {inside}", ["zeroshot", "{vocab}", "{locked}"]),
    ("{locked}: {inside}", ["train", "{locked}", "-o", "{out}/m", "--vocab", "{vocab}"]),
    ("{locked}: {inside}", ["eval", "{bundle}", "{locked}"]),
    ("{locked}: {inside}", ["audit", "{locked}", "-o", "{out}/a", "--vocab", "{vocab}"]),
    ("{locked}: {inside}", ["label", "{locked}", "--vocab", "{vocab}", "-o", "{out}/l.jsonl",
                            *_NO_LLM]),
], ids=["label CORPUS", "label --human", "apply-review -o", "calibrate --reliability-png",
        "label --cache", "taxonomy --cache", "audit -o", "zeroshot --cache-dir",
        "label --cache-dir", "taxonomy --cache-dir", "suggest FOLDER", "shift FOLDER",
        "zeroshot FOLDER", "train FOLDER", "eval FOLDER", "audit FOLDER", "label FOLDER"])
def test_paths_below_a_folder_that_cannot_be_looked_into_are_refused_by_every_command(
        said, args, bundle, goemotions_small, tmp_path, monkeypatch):
    """Stop 38's refusal of a path below a folder that may not be looked into, where
    the commands still met its PermissionError bare (Python 3.11), a traceback, exit
    code 1: same_file (an output that is one of the inputs) asked exists() of both, the
    check of an LLM response cache (--cache) is_dir(); and an output folder that may not
    be looked into itself (-o of audit, --cache-dir) passed its check as root does, and
    the first file asked of in it raised (the audit's report, the zero-shot cache's), as
    did a folder of documents or a corpus folder (the is_file() of its .txt files)."""
    import shutil

    locked, out = tmp_path / "locked", tmp_path / "out"
    locked.mkdir()
    out.mkdir()
    (out / "l.jsonl").touch()  # an output there: same_file asked exists() of both
    (out / "docs.txt").write_text("so happy today\n", encoding="utf-8")
    shutil.copy(goemotions_small["dev"], locked / "c.tsv")
    (locked / "a.txt").write_text("so happy today\n", encoding="utf-8")
    refuse_stat_below(monkeypatch, locked)
    where = {"locked": locked, "out": out, "data": goemotions_small["dev"],
             "vocab": goemotions_small["vocab"], "bundle": bundle}
    result = run(*(arg.format(**where) for arg in args))
    assert result.exit_code == 3, (args, result.output, result.exception)
    assert said.format(**where, said="is a path that cannot be looked at (permission "
                       "denied)", inside="is a folder whose files cannot be looked at "
                       "(permission denied)") in result.output, result.output


def _logging_to(monkeypatch, stream):
    """The root logger with a single handler writing to ``stream`` (none of pytest's,
    whose handleError raises), for the length of a test."""
    handler = logging.StreamHandler(stream)
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    return handler


def test_a_child_logger_s_repeated_warning_is_shown_and_kept_once(monkeypatch):
    """The once-a-command filter of repeated warnings sat on the ``tagsmith`` logger, whose
    filters the records of its children (``tagsmith._numba``, ``tagsmith.store.staging``)
    do not pass: their repeats were shown and listed in the JSON summary each time."""
    import io

    stream = io.StringIO()
    _logging_to(monkeypatch, stream)
    warnings: list[str] = []
    with tagsmith_cli._command_logging(0, False, warnings):
        for name in ("tagsmith.store.staging", "tagsmith.store.staging", "tagsmith",
                     "tagsmith._numba"):
            logging.getLogger(name).warning("the same %s", "words")
        logging.getLogger("tagsmith.store.staging").warning("other words")
        logging.getLogger("elsewhere").warning("the same words")  # not tagsmith's
        logging.getLogger("elsewhere").warning("the same words")
    assert warnings == ["the same words", "other words"]
    assert stream.getvalue().count("the same words") == 3, stream.getvalue()
    assert stream.getvalue().count("other words") == 1



def test_a_warning_with_a_bad_format_argument_is_reported_by_logging(monkeypatch, capsys):
    """The filter of repeated warnings formatted the message itself: a bad format
    argument raised out of ``logger.warning`` (the command failed on a log line) instead
    of logging's '--- Logging error ---' report."""
    import io

    _logging_to(monkeypatch, io.StringIO())
    warnings: list[str] = []
    with tagsmith_cli._command_logging(0, False, warnings):
        logging.getLogger("tagsmith").warning("%d documents", "many")
        logging.getLogger("tagsmith.store.staging").warning("%d documents", "many")
    assert "--- Logging error ---" in capsys.readouterr().err
    assert warnings == []


def _folder_with_a_latin1_name(tmp_path, content: bytes):
    """A folder ``docs`` holding ``caf<0xe9>.txt`` (a latin-1 system's name) of
    ``content``; the test is skipped where the file system takes UTF-8 names only."""
    docs = tmp_path / "docs"
    docs.mkdir()
    try:
        with open(os.path.join(os.fsencode(docs), b"caf\xe9.txt"), "wb") as out:
            out.write(content)
    except (OSError, ValueError):  # a file system of UTF-8 names only (macOS)
        pytest.skip("this file system refuses file names that are not UTF-8")
    return docs


def test_a_folder_document_named_in_bytes_that_are_no_utf8_gets_a_text_id(bundle, tmp_path):
    """A file name of bytes that are not UTF-8 (caf\\xe9.txt, from a latin-1 system) went
    into suggest's JSON as the raw byte 0xe9: no UTF-8 reader could read the output. Its
    id is the name with such bytes written \\xNN, the corpus reader's id for it too."""
    import json

    from tagsmith.data.readers import read_directory

    docs = _folder_with_a_latin1_name(tmp_path, b"so happy today")
    (docs / "b.txt").write_text("so sad", encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "suggest", str(bundle), str(docs),
                                                   "--format", "json"])
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["doc"] for line in result.stdout_bytes.decode("utf-8").splitlines()]
    assert ids == ["b", "caf\\xe9"]
    assert [r.doc_id for r in read_directory(docs)] == ["b", "caf\\xe9"]


def test_a_message_naming_a_file_in_bytes_that_are_no_utf8_writes_them_as_ids_do(bundle,
                                                                                  tmp_path):
    """suggest and train on a folder whose caf\\xe9.txt holds bytes that are no UTF-8 said
    'caf\\udce9.txt: not valid UTF-8' (stderr's escape of Python's lone surrogate): the
    name is written \\xNN, as the document's id is, in errors and in warnings."""
    docs = _folder_with_a_latin1_name(tmp_path, b"bad \xff\xfe text")
    (docs / "a.txt").write_text("so sad", encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "suggest", str(bundle), str(docs)])
    assert result.exit_code == 3
    assert f"{docs}/caf\\xe9.txt:1: not valid UTF-8" in result.output, result.output
    assert "udce9" not in result.output
    result = CliRunner().invoke(tagsmith_cli.cli, ["train", str(docs), "-o",
                                                   str(tmp_path / "b")])
    assert result.exit_code == 3
    assert f"{docs}:2: caf\\xe9.txt: not valid UTF-8" in result.output, result.output


def test_a_folder_xnn_id_another_file_has_is_refused_by_suggest_naming_both(bundle, tmp_path):
    """suggest refused caf<0xe9>.txt beside a file named caf\\xe9.txt, both of the id
    caf\\xe9, naming 'caf\\udce9.txt' (Python's name for the byte) and no cause: it says
    what the corpus reader says."""
    docs = _folder_with_a_latin1_name(tmp_path, b"so happy today")
    (docs / "caf\\xe9.txt").write_text("so sad", encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "suggest", str(bundle), str(docs)])
    assert result.exit_code != 0
    assert (f"{docs}: 'caf\\xe9.txt': its id 'caf\\xe9' is that of 'caf\\\\xe9.txt' too (a "
            "name's bytes that are not UTF-8 are written \\xNN in its document's id): "
            "rename one of them") in result.output


@pytest.mark.parametrize("dev", [False, True])
def test_train_min_precision_tunes_the_calibrated_thresholds_for_it(goemotions_small, tmp_path,
                                                                    dev):
    """train --calibration-fraction F --min-precision P: the thresholds on the calibrated
    probabilities are tuned for the precision (on the conformal part, or on --dev's
    documents, which the calibrator did not fit either), as calibrate --min-precision."""
    from tagsmith.pipeline.classifier import TextClassifier

    out = tmp_path / "model"
    extra = ["--dev", str(goemotions_small["dev"])] if dev else []
    result = _train_with_share(goemotions_small, out, "0.3", "--min-precision", "0.5", *extra)
    assert result.exit_code == 0, result.output
    clf = TextClassifier.load(out)
    assert clf.thresholds.min_precision == 0.5 and clf.thresholds.min_labels == 0
    summary = clf.manifest["thresholds"]
    assert (summary["objective"], summary["min_precision"]) == ("precision", 0.5)
    assert summary["n_unreachable_labels"] == int(np.isposinf(clf.thresholds.per_label).sum())
    # said as calibrate says it (train said nothing of them but a warning of those left out)
    never = summary["n_unreachable_labels"]
    own = summary["n_tuned_labels"] - never
    assert (f"thresholds for precision 0.5: {own:,} label{'s' if own != 1 else ''} with one, "
            f"{never:,} never predicted (no threshold reaches it)") in result.output


@pytest.mark.parametrize("objective", [[], ["--min-precision", "0.5"]])
def test_train_json_reports_the_thresholds_and_the_manifest_their_objective(
        goemotions_small, tmp_path, objective):
    """train --json said nothing of the thresholds it shipped (their objective, how many
    are never predicted), and the manifest's training.options recorded beta but not
    min_precision: both are there now, and info shows them."""
    out = tmp_path / "model"
    result = _train_with_share(goemotions_small, out, "0.3", "--json", *objective)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    info = json.loads(run("info", out, "--json").output)
    assert summary["thresholds"] == info["thresholds"]
    assert info["training"]["options"]["min_precision"] == (0.5 if objective else None)
    if objective:
        assert summary["thresholds"]["objective"] == "precision"
        assert summary["thresholds"]["min_precision"] == 0.5
        assert summary["thresholds"]["n_unreachable_labels"] >= 0
    else:
        assert (summary["thresholds"]["objective"], summary["thresholds"]["beta"]) == (
            "f_beta", 1.0)


def test_calibrate_and_train_json_list_the_warnings_that_q_hides(bundle, goemotions_small,
                                                                 tmp_path):
    """-q hid the warnings of calibrate and train (labels never predicted at the
    --min-precision asked, thresholds tuned on few positives) and their JSON had nowhere
    to carry them: it lists them in `warnings`, as taxonomy's and label's summaries do."""
    calibrated = run("calibrate", bundle, "--data", goemotions_small["dev"], "-o",
                     tmp_path / "calibrated", "--min-precision", "0.6", "--json")
    assert calibrated.exit_code == 0, calibrated.output
    assert calibrated.stderr == ""
    [warning] = [message for message in json.loads(calibrated.stdout)["warnings"]
                 if "cannot reach precision 0.6" in message]
    assert "never predicted by the thresholds" in warning
    trained = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "train", str(goemotions_small["train"]), "-o", str(tmp_path / "trained"),
        "--vocab", str(goemotions_small["vocab"]), "--calibration-fraction", "0.3", "--json",
        *FAST])
    assert trained.exit_code == 0, trained.output
    assert trained.stderr == ""
    assert any("thresholds on few held-out positives" in message
               for message in json.loads(trained.stdout)["warnings"])


def test_eval_per_label_counts_the_best_labels_forced_in_below_their_threshold(
        bundle, goemotions_small, tmp_path):
    """With min_labels 1 (F1 tuning chose it for GoEmotions) each document's best label is
    predicted even below its threshold: a row read 'threshold 0.38, precision 0.81' while
    part of its predictions scored under 0.38, unsaid. 'forced' counts them (none with
    --threshold, which forces nothing) and the table says so."""
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.io import read_labelled

    clf = TextClassifier.load(bundle)
    clf.thresholds.min_labels = 1
    forced_bundle = clf.save(tmp_path / "forced")
    result = run("eval", forced_bundle, goemotions_small["test"], "--json", "--per-label")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["per_label"]
    test = read_labelled(goemotions_small["test"], clf.label_space)
    topk = clf.predict_topk(test.texts, clf.n_labels)
    plain = topk.label_sets(clf.thresholds.per_label).toarray()
    forced = clf.thresholds.label_sets(topk).toarray() & ~plain
    assert forced.any()
    by_uri = {row["uri"]: row for row in rows}
    for i in range(clf.n_labels):
        row = by_uri.get(clf.label_space.uri_of(i))
        if row is not None:
            assert row["forced"] == int(forced[:, i].sum())
    table = run("eval", forced_bundle, goemotions_small["test"], "--per-label")
    predicted = clf.thresholds.label_sets(topk).count_nonzero()
    assert (f"{int(forced.sum()):,} of the {predicted:,} predictions are documents' best "
            "labels below their threshold (min_labels 1)") in table.output, table.output
    rows = json.loads(run("eval", forced_bundle, goemotions_small["test"], "--json",
                          "--per-label", "--threshold", "0.5").output)["per_label"]
    assert all(row["forced"] == 0 for row in rows)


def test_eval_per_label_json_gives_a_never_predicted_labels_threshold_as_null(
        bundle, goemotions_small, tmp_path):
    """A label at an infinite threshold (one no --min-precision cut reaches, or one the
    model never learnt) had the string "Infinity" as its threshold in eval --per-label
    --json, a number in every other row: a column of two types. It is null, as a ratio
    with nothing to count is, and "reachable" (false) says why; the table says inf."""
    from tagsmith.pipeline.classifier import TextClassifier

    clf = TextClassifier.load(bundle)
    first = json.loads(run("eval", bundle, goemotions_small["test"], "--json",
                           "--per-label").output)["per_label"][0]["uri"]
    never = clf.label_space.id_of(first)
    clf.thresholds.per_label[never] = np.inf
    clf.thresholds.min_labels = 0
    out = clf.save(tmp_path / "never")
    result = run("eval", out, goemotions_small["test"], "--json", "--per-label")
    assert result.exit_code == 0, result.output
    rows = {row["uri"]: row for row in json.loads(result.output)["per_label"]}
    row = rows.pop(clf.label_space.uri_of(never))
    assert (row["threshold"], row["reachable"], row["predicted"]) == (None, False, 0)
    assert all(isinstance(other["threshold"], float) and other["reachable"]
               for other in rows.values())
    table = run("eval", out, goemotions_small["test"], "--per-label").output
    [line] = [line for line in table.splitlines()
              if line.split()[:1] == [clf.label_space.name_of(never)]]
    assert line.split()[3] == "inf"


@pytest.mark.parametrize("command", [["calibrate", "m"],
                                     ["train", "c.tsv", "-o", "m", "--calibration-fraction",
                                      "0.2"]])
@pytest.mark.parametrize("value", ["0", "1", "1.5", "nan"])
@pytest.mark.parametrize("option", ["--min-precision", "--min-recall"])
def test_min_precision_outside_0_1_is_one_usage_error(command, value, option):
    """--min-precision is a precision in (0, 1), open at both ends: 1 was refused by the
    library as 'error: option ... must be a precision in (0, 1)', after 0 was refused as
    'expected a number in (0, 1]', a range saying 1 was accepted (--min-recall alike)."""
    result = run(*command, option, value)
    assert result.exit_code == 2, result.output
    assert (f"Invalid value for '{option}': expected a number in (0, 1), got "
            in result.output), result.output


def test_suggest_counts_empty_documents_of_a_folder_and_empty_records_left_out(
        bundle, tmp_path, caplog):
    # a records office's export: an empty file of a folder got the model's labels for
    # no text (its priors) as if they were the document's, and a JSONL or CSV record
    # with an empty text got no output line; 30 documents in, 28 lines out, no word
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in (("a", "I love this so much"), ("b", ""), ("c", " \n\t "),
                       ("d", "thank you")):
        (folder / f"{name}.txt").write_text(text)
    records = tmp_path / "docs.jsonl"
    records.write_text('{"id": "a", "text": "I love this"}\n{"id": "b", "text": ""}\n'
                       '{"id": "c", "text": "  "}\n')
    table = tmp_path / "docs.csv"
    table.write_text('id,text\na,I love this\nb,""\n')
    for source, lines, said in (
            (folder, 4, "2 of 4 documents are empty: their suggestions are what the model "
                        "scores for a text without features"),
            (records, 1, f"{records}: 2 records with an empty text left out (no output "
                         "for them)"),
            (table, 1, f"{table}: 1 record with an empty text left out (no output for "
                       "it)")):
        caplog.clear()
        with caplog.at_level("WARNING", logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(bundle),
                                                           str(source), "--format", "jsonl"])
        assert result.exit_code == 0, result.output
        assert len(result.stdout.splitlines()) == lines
        assert said in caplog.text, caplog.text


def test_suggest_whole_file_not_utf8_names_the_byte_and_the_encoding(bundle, tmp_path):
    # a --whole-file report with a Latin-1 byte was "report.txt:4: not valid UTF-8
    # (invalid continuation byte at byte 7)", where a corpus line names the byte and
    # shows the line as cp1252
    report = tmp_path / "report.txt"
    report.write_bytes(b"Minutes\n\nThe flood works.\nthe caf\xe9 lease\n")
    result = run("suggest", bundle, "--whole-file", report)
    assert result.exit_code == 3
    assert f"{report}:4: not valid UTF-8 (byte 0xe9: invalid continuation byte at byte 7); " \
           "it reads as cp1252 text (Windows-1252): 'the café lease'; save the file as " \
           "UTF-8" in " ".join(result.output.split()), result.output


def test_eval_vocab_line_number_hint_converts_the_list_given(tmp_path):
    """The line-number hint's conversion named the list read (LabelSpace.source), but a
    space merged with --vocab (LabelSpace.updated, eval's gold space) lost it: the
    command fell back to 'labels.txt', a file the user did not have."""
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.data.vocab import load_vocabulary

    listed = tmp_path / "my emotions.txt"
    listed.write_text("joy\nanger\nfear\n", encoding="utf-8")
    corpus = tmp_path / "train.tsv"
    corpus.write_text("".join(f"{word} day {i}\t{label}\n" for i in range(8)
                              for word, label in (("happy", "joy"), ("mad", "anger"),
                                                  ("scared", "fear"))), encoding="utf-8")
    space = load_vocabulary(listed)
    assert LabelSpace.from_uris(["joy"]).updated(space).source == str(listed)
    trained = tmp_path / "model"
    result = run("train", corpus, "-o", trained, "--vocab", listed, *FAST)
    assert result.exit_code == 0, result.output
    numbered = tmp_path / "numbered.tsv"
    numbered.write_text("happy day\t0\n", encoding="utf-8")
    result = run("eval", trained, numbered, "--vocab", listed)
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert "a whole number below the vocabulary's 3 labels" in said, said
    assert f"n++}}}}}}' '{listed}' > vocab.tsv" in said, said


def test_suggest_help_says_a_never_trained_label_is_in_no_set():
    """--set-method's help said "lpicp: the whole label set, for 1-alpha of documents",
    where a label never trained is in no set of any method and outside the guarantee
    (README says so): the help now says it too."""
    help_text = " ".join(run("suggest", "--help").output.split())
    assert "lpicp: the whole label set, for 1-alpha of documents. A label never trained " \
           "(no training document) is in no set of any method, outside these guarantees " \
           "(lpicp: the label set less such labels)." in help_text, help_text


#: the paths opened while an audit hook below records them (None: not recording), each
#: with whether the opening was the reading of a plain text file (_file_documents)
_OPENED: list[tuple[str, bool]] | None = None


def _record_open(event, args):
    if event == "open" and _OPENED is not None and isinstance(args[0], str | bytes | Path):
        frame, reading = sys._getframe(1), False
        while frame is not None and not reading:
            reading, frame = frame.f_code.co_name == "_file_documents", frame.f_back
        _OPENED.append((os.fsdecode(args[0]), reading))


def test_a_text_file_among_corpora_is_opened_only_to_be_read(tmp_path):
    """Reading a .txt file beside a JSON Lines corpus (ids told apart: the duplicate-id
    check), each file's kind was told twice, and telling a .txt by its suffix asked the
    corpus readers, whose refusal of a file of no corpus suffix read its head twice, to
    say which peer tool's format it is in, a message thrown away: the .txt was opened
    eight times to be read (twice) once. It is opened where it is read alone; the
    documents and ids are as before."""
    global _OPENED
    from tagsmith.cli.commands import _read_documents

    sys.addaudithook(_record_open)  # a hook cannot be removed: it records while _OPENED
    text = tmp_path / "docs.txt"
    text.write_text("so sad\n\nso happy\n")
    records = tmp_path / "more.jsonl"
    records.write_text(json.dumps({"id": "r1", "text": "angry"}) + "\n")
    _OPENED = []
    try:
        documents = list(_read_documents((str(text), str(records)), False, checked=True))
        opened = [reading for path, reading in _OPENED if path == str(text)]
    finally:
        _OPENED = None
    assert documents == [(f"{text}:1", "so sad"), (f"{text}:3", "so happy"), ("r1", "angry")]
    assert opened and all(opened), opened  # one False an opening to tell it, not read it


def _run_python(code):
    # a fresh interpreter for a test of what happens at its exit, tagsmith from this tree
    src = Path(tagsmith_cli.__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(src)})
    assert done.returncode == 0, done.stderr
    return done


def test_main_without_arguments_freezes_the_heap_at_exit_not_in_its_host():
    # main() with no arguments froze the collector's objects as it returned, to spare a
    # label --budget process's last collections (2-15 s): a host calling it so (runpy,
    # IPython's %run -m, a wrapper catching SystemExit) had its whole heap frozen on
    # every call. It is now frozen at the interpreter's exit alone
    code = ("import atexit, gc, sys\n"
            # atexit runs its handlers last registered first: this one after main's
            "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
            "sys.argv = ['tagsmith', '--help']\n"
            "from tagsmith.cli import main\n"
            "for _ in range(2):\n"
            "    try:\n"
            "        main()\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print('frozen after main:', gc.get_freeze_count())\n")
    done = _run_python(code)
    assert "frozen after main: 0" in done.stdout, done.stdout
    assert "frozen at exit: True" in done.stdout, done.stdout


def test_main_with_arguments_freezes_nothing_even_at_exit():
    # a host passing its own arguments (a test, a service) keeps its collector: nothing
    # registered for the interpreter's exit either
    code = ("import atexit, gc\n"
            "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
            "from tagsmith.cli import main\n"
            "try:\n"
            "    main(['--help'])\n"
            "except SystemExit:\n"
            "    pass\n")
    done = _run_python(code)
    assert "frozen at exit: False" in done.stdout, done.stdout
