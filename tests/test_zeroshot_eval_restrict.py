"""zeroshot --eval with --only, --exclude and --under: a user measuring zero-shot on a
part of the vocabulary (a thesaurus's branch, ten of YSO's labels) was refused ("cannot
be combined with --eval"). The figures are over the allowed labels: a document's other
labels are dropped from its truth, a document left with none is left out (counted)."""

import json

import numpy as np
import pytest
from test_zeroshot_eval import CORPUS, DEV, VOCAB, _bundle, _files, _run

import tagsmith.cli as tagsmith_cli

tagsmith_cli._register_commands()
pytest.importorskip("sentence_transformers")


def _keep(text: str, labels: set[str]) -> str:
    """``text`` (a TSV corpus) with each line's labels outside ``labels`` dropped, and
    the lines left with none: the corpus a restriction evaluates, filtered by hand."""
    lines = []
    for line in text.splitlines():
        doc, *given = line.split("\t")
        kept = [label for label in given if label.strip("<>") in labels]
        if kept:
            lines.append("\t".join([doc, *kept]))
    return "".join(line + "\n" for line in lines)


def _figures(stdout: str) -> list[dict]:
    runs = [json.loads(line) for line in stdout.splitlines()]
    for run in runs:
        del run["provenance"]
    return runs


def test_zeroshot_eval_only_gives_the_figures_of_the_allowed_labels_by_hand(tmp_path):
    """--only food,music: the sport documents (the first, and the fourth, labelled sport
    on purpose) carry no allowed label and are left out; the bread and band documents'
    best allowed labels are food and music, right: P@1 1 over 2 documents."""
    vocab, corpus = _files(tmp_path)
    result = _run(tmp_path, vocab, corpus, "--eval", "--json", "--per-label",
                  "--only", "food,music")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_docs"] == 2 and report["n_labels_evaluated"] == 2
    assert report["p@1"] == 1.0 and report["micro_f1"] == 1.0 and report["macro_f1"] == 1.0
    assert {row["label"] for row in report["per_label"]} == {"food", "music"}
    assert report["provenance"]["restriction"] == {
        "only": ["food", "music"], "exclude": [], "under": [], "n_labels_allowed": 2,
        "n_docs_read": 4, "n_docs_left_out": 2, "n_labels_dropped": 2,
        "n_tune_docs_left_out": None}
    # the text says what was evaluated above the figures
    result = _run(tmp_path, vocab, corpus, "--eval", "--only", "food,music")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "restricted to 2 of 3 labels (--only): 2 of CORPUS's 4 documents carry one and "
        "are evaluated, 2 without one left out; 2 labels given outside them dropped from "
        "the truth")
    assert "n_docs                 2" in result.stdout.splitlines()
    # without a restriction: no such line, and restriction null
    result = _run(tmp_path, vocab, corpus, "--eval", "--json")
    assert json.loads(result.stdout)["provenance"]["restriction"] is None


@pytest.mark.parametrize("chunk", [None, 2])
def test_zeroshot_eval_restricted_equals_an_explicitly_filtered_corpus(tmp_path,
                                                                      monkeypatch, chunk):
    """--exclude sport over CORPUS, with a bundle at three weights and thresholds tuned
    on DEV, gives every figure of the unrestricted run on CORPUS and DEV filtered by
    hand (sport dropped from each document, the documents left with none removed) with
    a VOCAB of the allowed labels alone; read 2 documents at a time too (the documents
    left out skipped within and across chunks)."""
    import tagsmith.cli.llm_commands as llm_commands

    if chunk:
        monkeypatch.setattr(llm_commands, "EVAL_CHUNK", chunk)
    corpus_text = CORPUS + "A bowl of rice and beans\t<u:food>\t<u:sport>\n"
    vocab, corpus = _files(tmp_path, corpus_text)
    (tmp_path / "dev.tsv").write_text(DEV)
    _bundle(tmp_path / "b", min_support=1)
    allowed = {"u:food", "u:music"}
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "v.csv").write_text(
        "".join(line + "\n" for line in VOCAB.splitlines() if "sport" not in line))
    (tmp_path / "f" / "c.tsv").write_text(_keep(corpus_text, allowed))
    (tmp_path / "f" / "dev.tsv").write_text(_keep(DEV, allowed))
    common = ("--eval", "--json", "--per-label", "--bundle", str(tmp_path / "b"),
              "--weight", "0,0.5,1")
    restricted = _run(tmp_path, vocab, corpus, *common, "--exclude", "sport",
                      "--tune-on", str(tmp_path / "dev.tsv"))
    assert restricted.exit_code == 0, restricted.output
    filtered = _run(tmp_path, str(tmp_path / "f" / "v.csv"), str(tmp_path / "f" / "c.tsv"),
                    *common, "--tune-on", str(tmp_path / "f" / "dev.tsv"))
    assert filtered.exit_code == 0, filtered.output
    assert _figures(restricted.stdout) == _figures(filtered.stdout)
    runs = [json.loads(line) for line in restricted.stdout.splitlines()]
    assert [run["n_docs"] for run in runs] == [3, 3, 3]
    record = runs[0]["provenance"]["restriction"]
    assert (record["n_docs_left_out"], record["n_labels_dropped"],
            record["n_tune_docs_left_out"]) == (2, 3, 2)
    assert runs[0]["provenance"]["n_tune_docs"] == 4
    # and without a bundle, each document's best allowed label
    restricted = _run(tmp_path, vocab, corpus, "--eval", "--json", "--exclude", "sport")
    filtered = _run(tmp_path, str(tmp_path / "f" / "v.csv"), str(tmp_path / "f" / "c.tsv"),
                    "--eval", "--json")
    assert restricted.exit_code == 0 and filtered.exit_code == 0, restricted.output
    assert _figures(restricted.stdout) == _figures(filtered.stdout)


def test_zeroshot_eval_under_restricts_to_a_branch(tmp_path):
    """--under a label of a hierarchy: the label and its narrower ones; the figures are
    those of --only of the same labels."""
    vocab = ("uri,label_en,broader\nu:leisure,leisure,\nu:sport,sport,u:leisure\n"
             "u:music,music,u:leisure\nu:food,food,\n")
    vocab, corpus = _files(tmp_path, vocab=vocab)
    under = _run(tmp_path, vocab, corpus, "--eval", "--json", "--under", "leisure")
    assert under.exit_code == 0, under.output
    only = _run(tmp_path, vocab, corpus, "--eval", "--json", "--only",
                "leisure,sport,music")
    assert only.exit_code == 0, only.output
    assert _figures(under.stdout) == _figures(only.stdout)
    report = json.loads(under.stdout)
    assert report["n_docs"] == 3 and report["provenance"]["restriction"]["n_labels_allowed"] == 3


def test_zeroshot_eval_refuses_a_restriction_allowing_no_label_or_leaving_no_document(
        tmp_path):
    """A restriction allowing no label, or allowing labels no document of CORPUS (or of
    DEV) carries, is refused naming the option and the file, before the encoder loads
    (nothing embedded): there would be no figure at all."""
    vocab, corpus = _files(tmp_path)
    result = _run(tmp_path, vocab, corpus, "--eval", "--exclude", "sport,food,music")
    assert result.exit_code == 2, result.output
    assert "--exclude" in result.output and "allowing some" in result.output
    one = tmp_path / "one.tsv"
    one.write_text("The team won the final\t<u:sport>\nA quiet evening\n")
    result = _run(tmp_path, vocab, str(one), "--eval", "--only", "food,music")
    assert result.exit_code == 3, result.output
    assert result.output.strip() == (
        f"error: {one}: no document of CORPUS carries a label --only allows (none of its "
        "2 documents carries one of the 2 allowed labels): nothing to evaluate; allow "
        "labels the corpus holds")
    (tmp_path / "dev.tsv").write_text("The players scored a goal\t<u:sport>\n")
    _bundle(tmp_path / "b")
    result = _run(tmp_path, vocab, corpus, "--eval", "--only", "food", "--tune-on",
                  str(tmp_path / "dev.tsv"), "--bundle", str(tmp_path / "b"))
    assert result.exit_code == 3, result.output
    assert "dev.tsv: no document of --tune-on carries a label --only allows (its one " \
           "document carries none of the 1 allowed label): nothing to tune thresholds " \
           "on" in result.output, result.output
    assert not list((tmp_path / "cache").glob("**/*.npy"))  # nothing was embedded


def test_streamed_texts_selected_reads_the_kept_texts_alone_checked(tmp_path):
    """StreamedTexts.selected: the kept documents' texts in order, in chunks of the
    size asked, every text of the file still checked against its hash."""
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.io import read_labelled

    vocab, corpus = _files(tmp_path, CORPUS + "A bowl of rice\t<u:food>\n")
    data = read_labelled(corpus, load_vocabulary(vocab), keep_texts=False)
    keep = np.array([False, True, True, False, True])
    texts = data.streamed.selected(keep)
    assert len(texts) == 3
    assert [len(chunk) for chunk in texts.chunks(2)] == [2, 1]
    assert [text for chunk in texts.chunks(2) for text in chunk] == [
        "I baked bread and a cake", "The band played a song", "A bowl of rice"]
    # a selection of a selection: of the kept ones
    assert list(texts.selected(np.array([True, False, True])).chunks(5)) == [
        ["I baked bread and a cake", "A bowl of rice"]]
    # a document left out but changed since is still seen changed
    (tmp_path / "c.tsv").write_text(CORPUS.replace("team", "side") + "A bowl of rice\t<u:food>\n")
    with pytest.raises(DataError, match="document 1 is not the one read first"):
        list(texts.chunks(2))


def test_the_restriction_line_agrees_with_one_document_evaluated_and_one_of_dev():
    """The line above the figures said "1 of CORPUS's 5 documents carry one and are
    evaluated" and "DEV alike: 1 of 1 documents kept"."""
    from tagsmith.cli.llm_commands import _Restriction

    restriction = _Restriction(np.array([True, False, False]), [("u:a", None)], [], [])
    restriction.counts = {"corpus": (5, 4, 6), "tune": (1, 0, 0)}
    assert restriction.summary(3) == (
        "restricted to 1 of 3 labels (--only): 1 of CORPUS's 5 documents carries one and "
        "is evaluated, 4 without one left out; 6 labels given outside them dropped from "
        "the truth; DEV alike: 1 of 1 document kept")
    restriction.counts = {"corpus": (5, 3, 1), "tune": (4, 1, 0)}
    assert restriction.summary(3).endswith(
        "2 of CORPUS's 5 documents carry one and are evaluated, 3 without one left out; "
        "1 label given outside them dropped from the truth; DEV alike: 3 of 4 documents "
        "kept")
