"""apply-review --decide-from: an LLM (tagsmith label, over real HTTP on 127.0.0.1)
decides the review rows the audit flagged, where a person would have."""

import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.audit.review import apply_review, doc_key, write_review
from tagsmith.data.labelspace import LabelSpace
from tagsmith.data.readers import read_records
from tagsmith.labeling.prompts import read_data_section
from tagsmith.testing.llm_server import LocalChatServer, user_prompt

tagsmith_cli._register_commands()

SPACE = LabelSpace.from_uris(["http://x/rain", "http://x/sun", "http://x/snow"],
                             names={"http://x/rain": "rain", "http://x/sun": "sun",
                                    "http://x/snow": "snow"})
DOCS = [("a", "Heavy rain all day", ["rain"]),
        ("b", "Bright sun and heat", ["rain", "sun"]),   # rain planted wrong
        ("c", "Snowfall in the hills", []),              # snow planted missing
        ("d", "Cold sun on fresh snow", ["snow"]),       # sun missing, the LLM fails
        ("e", "Sun after the snow", ["sun", "snow"]),    # snow flagged wrong, truly right
        ("f", "Snow and sun at noon", ["snow", "sun"])]  # the LLM misspells snow
TRUTH = {"Heavy rain all day": ["rain"], "Bright sun and heat": ["sun"],
         "Snowfall in the hills": ["snow"], "Sun after the snow": ["sun", "snow"]}


def _row(doc, kind, name, decision=""):
    doc_id, text, given = DOCS[doc]
    uri = f"http://x/{name}"
    return {"rank": 1, "decision": decision, "kind": kind,
            "action": "add" if kind == "missing" else "remove", "label_uri": uri,
            "label_name": name, "probability": 0.9, "model_score": 0.1, "doc": doc,
            "line": doc + 1, "doc_id": doc_id, "doc_key": doc_key(text),
            "given_labels": [f"http://x/{g}" for g in given], "given_names": given,
            "text": text}


def _teacher(body):
    text = read_data_section(user_prompt(body), "DOCUMENT")
    if text == "Snow and sun at noon":  # "snwo": rejected as unknown, snow reads absent
        return json.dumps({"labels": [{"label": "snwo", "confidence": 0.9},
                                      {"label": "sun", "confidence": 0.8}]})
    if text not in TRUTH:
        return "{not json"  # a broken answer: the document is left unanswered
    return json.dumps({"labels": [{"label": name, "confidence": 0.9}
                                  for name in TRUTH[text]]})


def _setup(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t, "labels": labels}) + "\n"
                              for i, t, labels in DOCS), encoding="utf-8")
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("<http://x/rain>\train\n<http://x/sun>\tsun\n<http://x/snow>\tsnow\n",
                     encoding="utf-8")
    review = tmp_path / "review.csv"
    write_review([_row(1, "wrong", "rain"), _row(2, "missing", "snow"),
                  _row(3, "missing", "sun"), _row(4, "wrong", "snow"),
                  _row(5, "wrong", "snow"), _row(5, "wrong", "sun"),
                  # a person rejected this one: it stands, whatever the LLM says
                  _row(1, "missing", "snow", decision="reject")], review)
    flagged = tmp_path / "flagged.jsonl"  # the flagged documents, each once
    flagged.write_text("".join(json.dumps({"id": DOCS[d][0], "text": DOCS[d][1]}) + "\n"
                               for d in (1, 2, 3, 4, 5)), encoding="utf-8")
    return corpus, vocab, review, flagged


def _uri_labels(tmp_path, scores=False):
    """DOCS as a label output naming URIs (labels.jsonl), each label scored 0.9 where
    ``scores``, as label -o writes it."""
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(
        {"id": i, "text": t, "labels": [f"http://x/{n}" for n in names],
         **({"scores": [0.9] * len(names)} if scores else {})}) + "\n"
        for i, t, names in DOCS), encoding="utf-8")
    return path


def _apply_review_cli(tmp_path, corpus, review, caplog):
    """``apply-review corpus review -o cli.jsonl`` with rain, sun and snow as a
    vocabulary file (returned), its warnings in ``caplog``, the run having succeeded."""
    import logging

    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("<http://x/rain>\train\n<http://x/sun>\tsun\n<http://x/snow>\tsnow\n",
                     encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "apply-review", str(corpus), str(review), "-o", str(tmp_path / "cli.jsonl"),
            "--vocab", str(vocab)])
    assert result.exit_code == 0, result.output
    return vocab


def _label_run(tmp_path, corpus, vocab, teacher, *extra):
    labels = tmp_path / "llm.jsonl"
    with LocalChatServer(teacher) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(corpus), "--vocab", str(vocab), "-o", str(labels),
            "--base-url", server.base_url, "--llm", "t", "--max-retries", "0",
            "--cache", str(tmp_path / "c.sqlite"), *extra])
    assert result.exit_code == 0, result.output
    return labels


def test_the_llm_decides_the_flagged_rows_a_person_left_undecided(tmp_path):
    corpus, vocab, review, flagged = _setup(tmp_path)
    labels = tmp_path / "llm.jsonl"
    runner = CliRunner()
    with LocalChatServer(_teacher) as server:
        result = runner.invoke(tagsmith_cli.cli, [
            "-q", "label", str(flagged), "--vocab", str(vocab), "-o", str(labels),
            "--base-url", server.base_url, "--llm", "t", "--max-retries", "0",
            "--cache", str(tmp_path / "c.sqlite")])
        n_requests = len(server.requests)
    assert result.exit_code == 0, result.output
    assert n_requests == 5
    # the line of the answer naming "snwo" says so
    assert [json.loads(line).get("unknown_labels") for line in
            labels.read_text(encoding="utf-8").splitlines()] == [None, None, None, ["snwo"]]
    out = tmp_path / "fixed.jsonl"
    result = runner.invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(review), "-o", str(out), "--vocab", str(vocab),
        "--decide-from", str(labels)])
    assert result.exit_code == 0, result.output
    assert "4 rows of" in result.output and "1 whose document it does not hold" in result.output
    assert "1 whose label it lacks where the answer named labels" in result.output
    written = {r.doc_id: sorted(r.labels) for r in read_records(out)}
    # rain taken off b, snow added to c; d (no answer) untouched; e's snow kept (the
    # LLM gives it); b not given snow (the person's reject); f keeps snow, which the
    # answer may have meant by "snwo" (it was taken off), and sun (given)
    assert written == {"a": ["rain"], "b": ["sun"], "c": ["snow"],
                       "d": ["snow"], "e": ["snow", "sun"], "f": ["snow", "sun"]}


def test_decide_from_leaves_a_document_the_file_gives_two_answers_undecided(tmp_path, caplog):
    corpus, _, review, _ = _setup(tmp_path)
    labels = tmp_path / "two.jsonl"
    labels.write_text(
        json.dumps({"id": "1", "text": "Bright sun and heat", "labels": ["sun"]}) + "\n"
        + json.dumps({"id": "2", "text": "Bright sun and heat", "labels": ["rain", "sun"]})
        + "\n" + json.dumps({"id": "3", "text": "Snowfall in the hills", "labels": ["snow"],
                             "scores": [0.4]}) + "\n", encoding="utf-8")
    stats = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE, decide_from=labels)
    # b's two answers disagree: undecided; c's snow scored under 0.5: rejected
    assert stats["review_decided_by_labels"] == 1 and stats["n_docs_changed"] == 0
    assert stats["review_undecided"] == 5  # b's, d's, e's and f's two
    assert "gives 1 text different labels in two lines" in caplog.text
    low = apply_review(corpus, review, tmp_path / "o2.jsonl", SPACE, decide_from=labels,
                       decide_min_score=0.3)
    assert low["n_added"] == 1


def test_a_label_output_naming_unknown_labels_is_still_known_as_one(tmp_path):
    # label -o replaces an earlier output of its own without --force: one whose first
    # line lists unknown_labels must still read as such
    import scipy.sparse as sp

    from tagsmith.pipeline.llm import is_soft_labels_file, write_soft_labels

    out = tmp_path / "o.jsonl"
    write_soft_labels(out, ['Sun "at" noon'], sp.csr_matrix([[0.0, 0.8, 0.0]]), SPACE,
                      unknown=[['snwo', 'ra"in']])
    assert json.loads(out.read_text(encoding="utf-8"))["unknown_labels"] == ["snwo", 'ra"in']
    assert is_soft_labels_file(out)


def test_label_run_on_review_csv_itself_decides_a_row_whose_text_the_csv_protected(tmp_path):
    # README's recipe: label reads review.csv as its corpus. A text a spreadsheet would
    # read as a formula ("-5 degrees ...") is written "'-5 degrees ..." there, so the
    # LLM's line carried that text and its fingerprint named no document: the row was
    # left undecided, counted as a document the file does not hold
    text = "-5 degrees and fresh snow"
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "g", "text": text, "labels": []}) + "\n"
                      + json.dumps({"id": "h", "text": "Heavy rain", "labels": []}) + "\n",
                      encoding="utf-8")
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("<http://x/rain>\train\n<http://x/sun>\tsun\n<http://x/snow>\tsnow\n",
                     encoding="utf-8")
    review = tmp_path / "review.csv"
    rows = []
    for doc, (doc_id, body, name) in enumerate([("g", text, "snow"), ("h", "Heavy rain", "rain")]):
        rows.append({**_row(0, "missing", name), "doc": doc, "line": doc + 1, "doc_id": doc_id,
                     "doc_key": doc_key(body), "given_labels": [], "given_names": [],
                     "text": body})
    write_review(rows, review)
    assert "'-5 degrees" in review.read_text(encoding="utf-8")

    def teacher(body):
        seen = read_data_section(user_prompt(body), "DOCUMENT")
        name = "snow" if "snow" in seen else "rain"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    labels = _label_run(tmp_path, review, vocab, teacher)
    out = tmp_path / "fixed.jsonl"
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(review), "-o", str(out), "--vocab", str(vocab),
        "--decide-from", str(labels)])
    assert result.exit_code == 0, result.output
    assert "2 rows of" in result.output, result.output
    assert {r.doc_id: list(r.labels) for r in read_records(out)} == {
        "g": ["<http://x/snow>"], "h": ["<http://x/rain>"]}


def test_decide_min_score_without_decide_from_is_refused(tmp_path):
    corpus, vocab, review, _ = _setup(tmp_path)
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(review), "-o", str(tmp_path / "o.jsonl"),
        "--vocab", str(vocab), "--decide-min-score", "0.3"])
    assert result.exit_code == 2 and "--decide-min-score" in result.output
    assert "--decide-from" in result.output and not (tmp_path / "o.jsonl").exists()


def test_decide_from_is_read_after_the_output_and_the_corpus_are_checked(tmp_path):
    # LABELS was read (the whole of it) before apply-review checked its output and its
    # corpus: a malformed one was told about before an output that exists, and before a
    # vocabulary given as the corpus, where every command checks its corpus first
    import pytest

    from tagsmith.exceptions import InvalidParameterError

    corpus, vocab, review, _ = _setup(tmp_path)
    labels = tmp_path / "bad.jsonl"
    labels.write_text('{"id": "1", "text": "x", "labels": ["http://x/hail"]}\n',
                      encoding="utf-8")
    out = tmp_path / "o.jsonl"
    out.write_text("kept\n", encoding="utf-8")
    with pytest.raises(InvalidParameterError, match="does not exist yet"):
        apply_review(corpus, review, out, SPACE, decide_from=labels)
    with pytest.raises(Exception, match="vocabulary") as raised:
        apply_review(vocab, review, tmp_path / "o2.jsonl", SPACE, decide_from=labels)
    assert "bad.jsonl" not in str(raised.value)
    with pytest.raises(InvalidParameterError, match="decide_min_score"):
        apply_review(corpus, review, tmp_path / "o3.jsonl", SPACE, decide_from=labels,
                     decide_min_score=0)


def test_a_name_two_labels_share_is_listed_as_unknown_and_decides_nothing(tmp_path):
    # "frost" names both hoar and rime: rejected as ambiguous, the answer read as not
    # giving hoar, and --decide-from took a right hoar off (accepted its 'wrong' row)
    space_file = tmp_path / "vocab.tsv"
    space_file.write_text("<http://x/hoar>\tfrost\n<http://x/rime>\tfrost\n"
                          "<http://x/sun>\tsun\n", encoding="utf-8")
    corpus = tmp_path / "flagged.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "White frost at dawn"}) + "\n",
                      encoding="utf-8")
    answer = json.dumps({"labels": [{"label": "frost", "confidence": 0.9},
                                    {"label": "sun", "confidence": 0.8}]})
    labels = _label_run(tmp_path, corpus, space_file, lambda body: answer)
    assert json.loads(labels.read_text(encoding="utf-8"))["unknown_labels"] == ["frost"]


def test_label_reads_a_review_as_its_documents_under_their_ids_and_texts(tmp_path):
    # label on review.csv wrote ids review.csv:2, review.csv:3, ... (one line per row,
    # joining no corpus), and sent "'-5 degrees ...", the ' the CSV put before a text a
    # spreadsheet would run as a formula. Now: each document once, under its doc_id
    # (an id the CSV protected, '-4, read back as -4), with the corpus's text; a text
    # that itself began with ' (left bare by the writer) keeps it, and a plain corpus
    # with a leading ' is read as it is
    docs = [("-4", "-5 degrees and fresh snow", "snow"), ("h", "Heavy rain", "rain"),
            ("i", "'=not a formula, but rain", "rain")]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t, "labels": []}) + "\n"
                              for i, t, _ in docs), encoding="utf-8")
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("<http://x/rain>\train\n<http://x/sun>\tsun\n<http://x/snow>\tsnow\n",
                     encoding="utf-8")
    rows = []
    for doc, (doc_id, body, name) in enumerate(docs):
        for label in (name, "sun"):  # two rows of each document
            rows.append({**_row(0, "missing", label), "doc": doc, "line": doc + 1,
                         "doc_id": doc_id, "doc_key": doc_key(body), "given_labels": [],
                         "given_names": [], "text": body})
    review = tmp_path / "review.csv"
    write_review(rows, review)
    assert "'-5 degrees" in review.read_text(encoding="utf-8")
    plain = tmp_path / "plain.csv"  # a corpus, not a review: its ' is the text's own
    plain.write_text("id,text\np,'-3 and sunny\n", encoding="utf-8")
    seen = []

    def teacher(body):
        text = read_data_section(user_prompt(body), "DOCUMENT")
        seen.append(text)
        name = "snow" if "snow" in text else "sun" if "sunny" in text else "rain"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    labels = tmp_path / "llm.jsonl"
    runner = CliRunner()
    with LocalChatServer(teacher) as server:
        common = ["--vocab", str(vocab), "--base-url", server.base_url, "--llm", "t",
                  "--max-retries", "0", "--cache", str(tmp_path / "c.sqlite")]
        result = runner.invoke(tagsmith_cli.cli, [
            "-q", "label", str(review), "-o", str(labels), *common])
        assert result.exit_code == 0, result.output
        assert sorted(seen) == sorted(text for _, text, _ in docs)
        result = runner.invoke(tagsmith_cli.cli, [
            "-q", "label", str(plain), "-o", str(tmp_path / "plain.jsonl"), *common])
        assert result.exit_code == 0, result.output
    assert seen[-1] == "'-3 and sunny"
    written = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    assert [(w["id"], w["text"]) for w in written] == [(i, t) for i, t, _ in docs]
    out = tmp_path / "fixed.jsonl"
    result = runner.invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(review), "-o", str(out), "--vocab", str(vocab),
        "--decide-from", str(labels)])
    assert result.exit_code == 0, result.output
    # every row decided ("0 whose" alone matched "0 whose label it lacks", and "6 rows
    # of" "16 rows of": neither could fail on a row left undecided); no clause of 0 rows
    # (it printed "left undecided: 0 whose document it does not hold, 0 whose ...")
    decided = next(line for line in result.output.splitlines() if " decided by " in line)
    assert decided.startswith("6 rows of ") and decided.endswith("; none left undecided"), \
        result.output
    # the LLM's output joins the corpus by id
    assert {r.doc_id: list(r.labels) for r in read_records(out)} == {
        i: [f"<http://x/{name}>"] for i, _, name in docs}


def test_decide_from_decides_the_rows_of_a_copy_label_budget_never_sent(tmp_path):
    # label --budget sends one of two texts equal but for case and spacing and writes
    # the other with its answer, marked "copy_of": read_soft_labels leaves such lines
    # out, so the copy's rows stayed undecided ("whose document it does not hold")
    import scipy.sparse as sp

    from tagsmith.pipeline.llm import write_soft_labels

    docs = [("m", "Snow again today", ["sun"]), ("n", "snow  again TODAY", ["sun"])]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t, "labels": labels}) + "\n"
                              for i, t, labels in docs), encoding="utf-8")
    rows = []
    for doc, (doc_id, body, _) in enumerate(docs):
        for kind, name in (("missing", "snow"), ("wrong", "sun")):
            rows.append({**_row(0, kind, name), "doc": doc, "line": doc + 1,
                         "doc_id": doc_id, "doc_key": doc_key(body),
                         "given_labels": ["http://x/sun"], "given_names": ["sun"],
                         "text": body})
    review = tmp_path / "review.csv"
    write_review(rows, review)
    labels = tmp_path / "budget.jsonl"  # as label --budget writes it
    write_soft_labels(labels, [body for _, body, _ in docs],
                      sp.csr_matrix([[0.0, 0.0, 0.9], [0.0, 0.0, 0.9]]), SPACE,
                      doc_ids=["m", "n"], copy_of=[None, "m"])
    assert '"copy_of": "m"' in labels.read_text(encoding="utf-8")
    out = tmp_path / "fixed.jsonl"
    stats = apply_review(corpus, review, out, SPACE, decide_from=labels)
    assert stats["review_decided_by_labels"] == 4 and stats["review_undecided"] == 0
    assert {r.doc_id: list(r.labels) for r in read_records(out)} == {
        "m": ["snow"], "n": ["snow"]}


def test_label_on_a_review_writes_each_of_two_documents_of_one_text_under_its_id(tmp_path):
    # two documents of one text (a corpus's own copies, j and k) were one line, under the
    # first one's id: k's id was nowhere in the output. Both are written, asked once
    docs = [("j", "Sun at noon"), ("k", "Sun at noon"), ("l", "Rain at dusk")]
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("<http://x/rain>\train\n<http://x/sun>\tsun\n<http://x/snow>\tsnow\n",
                     encoding="utf-8")
    review = tmp_path / "review.csv"
    write_review([{**_row(0, "missing", "snow"), "doc": doc, "line": doc + 1, "doc_id": i,
                   "doc_key": doc_key(text), "given_labels": [], "given_names": [],
                   "text": text} for doc, (i, text) in enumerate(docs)], review)
    seen = []

    def teacher(body):
        seen.append(read_data_section(user_prompt(body), "DOCUMENT"))
        return json.dumps({"labels": [{"label": "sun", "confidence": 0.9}]})

    labels = _label_run(tmp_path, review, vocab, teacher)
    assert sorted(seen) == ["Rain at dusk", "Sun at noon"]
    assert [json.loads(line)["id"] for line in
            labels.read_text(encoding="utf-8").splitlines()] == ["j", "k", "l"]


def test_a_label_given_with_an_invalid_confidence_is_listed_and_decides_nothing(tmp_path):
    # {"label": "snow", "confidence": "high"} was dropped as an invalid item and marked
    # nothing on the line: snow read as not given, and e's wrong-snow row was accepted,
    # taking a right label off
    corpus, vocab, review, _ = _setup(tmp_path)
    flagged = tmp_path / "e.jsonl"
    flagged.write_text(json.dumps({"id": "e", "text": DOCS[4][1]}) + "\n", encoding="utf-8")
    answer = json.dumps({"labels": [{"label": "snow", "confidence": "high"},
                                    {"label": "sun", "confidence": 0.9}]})
    labels = _label_run(tmp_path, flagged, vocab, lambda body: answer)
    assert json.loads(labels.read_text(encoding="utf-8"))["unknown_labels"] == ["snow"]
    stats = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE, decide_from=labels)
    assert stats["review_undecided_unknown_labels"] == 1 and stats["n_removed"] == 0


def test_a_vote_whose_every_item_was_rejected_still_lists_its_names(tmp_path):
    # with --votes 2, a vote naming only "snwo" was rejected whole and skipped before
    # its names were kept: the line, written from the other vote (sun), listed none,
    # and e's wrong-snow row was accepted
    corpus, vocab, review, _ = _setup(tmp_path)
    flagged = tmp_path / "e.jsonl"
    flagged.write_text(json.dumps({"id": "e", "text": DOCS[4][1]}) + "\n", encoding="utf-8")
    seen = []
    lock = threading.Lock()

    def teacher(body):
        with lock:  # the votes may be asked at once: the first to come names "snwo"
            seen.append(body)
            first = len(seen) == 1
        if first:
            return json.dumps({"labels": [{"label": "snwo", "confidence": 0.9}]})
        return json.dumps({"labels": [{"label": "sun", "confidence": 0.9}]})

    labels = _label_run(tmp_path, flagged, vocab, teacher, "--votes", "2")
    assert len(seen) == 2
    line = json.loads(labels.read_text(encoding="utf-8"))
    assert line["labels"] == ["http://x/sun"] and line["unknown_labels"] == ["snwo"]
    stats = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE, decide_from=labels)
    assert stats["review_undecided_unknown_labels"] == 1 and stats["n_removed"] == 0


def test_decide_from_decides_rows_beside_unknown_names_unlike_the_label_and_names_them(
        tmp_path):
    """A teacher naming a label outside the taxonomy in every answer ("Something else
    entirely") left every row whose label its answer lacked undecided (43 of 100 on the
    stop-56 walk), as if the name might be that label misspelt. A name like no name of
    the row's label decides the row as the answer's labels do, and the closing line
    names it; one like the label ("snwo" beside snow) still leaves the row undecided."""
    corpus, vocab, review, _ = _setup(tmp_path)
    flagged = tmp_path / "be.jsonl"
    flagged.write_text("".join(json.dumps({"id": DOCS[d][0], "text": DOCS[d][1]}) + "\n"
                               for d in (1, 4)), encoding="utf-8")

    def teacher(body):
        text = read_data_section(user_prompt(body), "DOCUMENT")
        other = "snwo" if text == DOCS[4][1] else "Something else entirely"
        return json.dumps({"labels": [{"label": "sun", "confidence": 0.9},
                                      {"label": other, "confidence": 0.8}]})

    labels = _label_run(tmp_path, flagged, vocab, teacher)
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(review), "-o", str(tmp_path / "o.jsonl"),
        "--vocab", str(vocab), "--decide-from", str(labels)])
    assert result.exit_code == 0, result.output
    # b's wrong rain (its answer: sun and "Something else entirely") is accepted, rain
    # taken off; e's wrong snow (sun and "snwo") stays undecided
    assert (f"1 row of {review} decided by {labels} (1 of them whose answer also named "
            "labels the vocabulary lacks, none like the row's label: 'Something else "
            "entirely' (1); tagsmith taxonomy CORPUS --extend VOCAB adds labels for what "
            "they name); left undecided: ") in result.output, result.output
    assert ("1 whose label it lacks where the answer named labels the vocabulary lacks (one "
            "like the label's name: a misspelt name?)") in result.output
    fixed = {json.loads(line)["id"]: json.loads(line)["labels"] for line in
             (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()}
    assert fixed["b"] == ["sun"] and sorted(fixed["e"]) == ["snow", "sun"]
    stats = apply_review(corpus, review, tmp_path / "o2.jsonl", SPACE, decide_from=labels)
    assert stats["review_decided_beside_unknown_labels"] == 1
    assert stats["review_undecided_unknown_labels"] == 1


def test_an_answer_of_unreadable_unknown_names_merged_with_one_of_readable_ones_may_name_any(
        tmp_path):
    # one text answered alike in two lines (two outputs concatenated): one line's
    # unknown_labels not strings (any label may be among them), the other's
    # "Something else entirely". The merged answer kept the readable names alone, and
    # a row of any label it lacks was decided as if no name could be that label
    from tagsmith.audit.review import _may_name, label_answers

    labels = tmp_path / "llm.jsonl"
    for unknown in ([[1], ["Something else entirely"]], [["Something else entirely"], [1]]):
        labels.write_text("".join(json.dumps({
            "id": str(i), "text": "Snow and sun", "labels": ["http://x/sun"],
            "scores": [0.9], "unknown_labels": names}) + "\n"
            for i, names in enumerate(unknown)), encoding="utf-8")
        (answer,) = label_answers(labels, SPACE).values()
        assert answer.partial and answer.unknown == ()
        assert all(_may_name(answer, j, SPACE) for j in range(len(SPACE)))


def test_an_unknown_name_listed_twice_is_still_read_as_that_name(tmp_path):
    # ["Something else", "Something else"]: deduplicated to one name, then told apart
    # from the list's length and read as no readable name, any label among them: every
    # row its answer lacked stayed undecided
    from tagsmith.audit.review import _may_name, label_answers

    labels = tmp_path / "llm.jsonl"
    labels.write_text(json.dumps({"id": "1", "text": "Snow and sun", "labels": ["http://x/sun"],
                                  "scores": [0.9], "unknown_labels": ["Something else"] * 2})
                      + "\n", encoding="utf-8")
    (answer,) = label_answers(labels, SPACE).values()
    assert answer.unknown == ("Something else",)
    assert not any(_may_name(answer, j, SPACE) for j in range(len(SPACE)))


def _old_bundle(tmp_path):
    """A bundle trained before snow was in the vocabulary (rain and sun only)."""
    old_vocab = tmp_path / "old.tsv"
    old_vocab.write_text("<http://x/rain>\train\n<http://x/sun>\tsun\n", encoding="utf-8")
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps({"text": f"{word} day {i}", "labels": [label]}) + "\n"
                           for i in range(6) for word, label in (("wet rain", "http://x/rain"),
                                                                 ("hot sun", "http://x/sun"))),
                   encoding="utf-8")
    bundle = tmp_path / "bundle"
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "train", str(old), "-o", str(bundle),
                                                   "--vocab", str(old_vocab)])
    assert result.exit_code == 0, result.output
    return bundle


def test_a_label_the_shortlist_never_offered_decides_nothing(tmp_path):
    # label --shortlist with a month-old bundle (trained before snow was in the
    # vocabulary) never offers snow: the LLM gave sun alone, and e's wrong-snow row was
    # accepted, taking a right snow off only because the LLM could not name it
    corpus, vocab, review, _ = _setup(tmp_path)
    bundle = _old_bundle(tmp_path)
    flagged = tmp_path / "e.jsonl"
    flagged.write_text(json.dumps({"id": "e", "text": DOCS[4][1]}) + "\n", encoding="utf-8")
    answer = json.dumps({"labels": [{"label": "sun", "confidence": 0.9}]})
    labels = _label_run(tmp_path, flagged, vocab, lambda body: answer,
                        "--shortlist", str(bundle), "--shortlist-k", "2")
    line = json.loads(labels.read_text(encoding="utf-8"))
    assert sorted(line["offered"]) == ["http://x/rain", "http://x/sun"]
    stats = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE, decide_from=labels)
    assert stats["review_undecided_not_offered"] == 1 and stats["n_removed"] == 0
    # the command says so apart
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(review), "-o", str(tmp_path / "o2.jsonl"),
        "--vocab", str(vocab), "--decide-from", str(labels)])
    assert result.exit_code == 0, result.output
    assert "1 whose label its document's shortlist never offered the LLM" in result.output
    # every reader of label's output still reads the line as one
    from tagsmith.pipeline.llm import is_soft_labels_file, read_soft_labels

    assert is_soft_labels_file(labels)
    texts, Y = read_soft_labels(labels, SPACE)
    assert texts == [DOCS[4][1]] and Y.toarray()[0].tolist() == pytest.approx([0, 0.9, 0])


def test_label_budget_writes_the_labels_each_document_was_offered_too(tmp_path):
    # with --budget the lines had no "offered": e's wrong-snow row was accepted
    corpus, vocab, review, _ = _setup(tmp_path)
    bundle = _old_bundle(tmp_path)
    flagged = tmp_path / "eb.jsonl"
    flagged.write_text("".join(json.dumps({"id": DOCS[d][0], "text": DOCS[d][1]}) + "\n"
                               for d in (4, 1)), encoding="utf-8")
    answer = json.dumps({"labels": [{"label": "sun", "confidence": 0.9}]})
    labels = _label_run(tmp_path, flagged, vocab, lambda body: answer,
                        "--shortlist", str(bundle), "--shortlist-k", "2", "--budget", "2")
    lines = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2
    assert all(sorted(line["offered"]) == ["http://x/rain", "http://x/sun"] for line in lines)
    stats = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE, decide_from=labels)
    assert stats["review_undecided_not_offered"] == 1
    assert stats["n_removed"] == 1  # b's wrong rain (offered, not given) only


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_label_answers_reads_labels_once(tmp_path):
    # LABELS was read twice (the second time for unknown_labels alone): 2x the reading
    # of 10^5 lines, and a pipe (--decide-from <(zcat llm.jsonl.gz)) hung on the second
    # open. One pass now reads the labels, unknown_labels and offered together
    from tagsmith.audit.review import label_answers

    fifo = tmp_path / "llm.jsonl"
    os.mkfifo(fifo)
    line = json.dumps({"id": "1", "text": "Snow and sun", "labels": ["http://x/sun"],
                       "scores": [0.9], "unknown_labels": ["snwo"],
                       "offered": ["http://x/sun", "http://x/snow"]}) + "\n"

    def write():
        with open(fifo, "w", encoding="utf-8") as out:
            out.write(line)

    got = []
    writer = threading.Thread(target=write, daemon=True)
    reader = threading.Thread(target=lambda: got.append(label_answers(fifo, SPACE)),
                              daemon=True)
    writer.start()
    reader.start()
    reader.join(30)
    if reader.is_alive():  # waiting on a second open: give it an end, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(30)
        pytest.fail("label_answers opened LABELS more than once")
    (answer,) = got[0].values()
    assert answer.labels == {1} and answer.partial
    assert answer.offered.tolist() == [1, 2]  # sun and snow, as label ids


def test_label_on_a_corpus_named_as_a_review_says_it_was_read_as_one(tmp_path):
    # a corpus whose header names a review's columns is read as a review: a cell that
    # breaks the review's rules failed as "doc_key must be the 16 hexadecimal digits
    # the audit wrote", not saying why the audit's rules applied to it
    corpus = tmp_path / "plain.csv"
    corpus.write_text("text,doc,kind,decision,label_uri,doc_key\nhello,1,x,y,z,w\n",
                      encoding="utf-8")
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("<http://x/rain>\train\n", encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(corpus), "--vocab", str(vocab), "-o", str(tmp_path / "llm.jsonl"),
        "--base-url", "http://127.0.0.1:9", "--llm", "t", "--max-retries", "0"])
    assert result.exit_code == 3, result.output
    assert f"{corpus}:2: doc_key must be" in result.output
    assert "(read as an audit's review: its header names" in result.output, result.output


def test_label_on_a_corpus_nested_too_deeply_is_refused_as_the_corpus_reader_refuses_it(
        tmp_path):
    # telling a review from a corpus parsed a JSONL corpus's first line, and one nested
    # too deeply crashed label with a RecursionError traceback before the corpus reader
    # could say "invalid JSON: nested too deeply"
    corpus = tmp_path / "deep.jsonl"
    corpus.write_text("[" * 200_000 + "\n", encoding="utf-8")
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("<http://x/rain>\train\n", encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(corpus), "--vocab", str(vocab), "-o", str(tmp_path / "llm.jsonl"),
        "--base-url", "http://127.0.0.1:9", "--llm", "t", "--max-retries", "0"])
    assert result.exit_code == 3, (result.output, result.exception)
    assert f"{corpus}:1: invalid JSON: nested too deeply" in result.output


def test_a_copy_of_the_second_text_under_one_id_gets_that_texts_answer(tmp_path):
    # two label --budget outputs of corpora with the same file names concatenated: id
    # doc1 names two texts, and a copy of the second (marked copy_of doc1) was given the
    # first's answer (rain), so a row of the sun text was decided by the rain text
    from tagsmith.audit.review import label_answers

    labels = tmp_path / "llm.jsonl"
    lines = [("doc1", "Rain all day", "rain", None), ("doc1", "Sun at noon", "sun", None),
             ("c", "SUN  at noon", "sun", "doc1")]
    labels.write_text("".join(json.dumps(
        {"id": i, "text": t, "labels": [f"http://x/{name}"], "scores": [0.9],
         **({"copy_of": source} if source else {})}) + "\n"
        for i, t, name, source in lines), encoding="utf-8")
    answers = label_answers(labels, SPACE)
    assert answers[doc_key("SUN  at noon")].labels == {1}
    assert answers[doc_key("Rain all day")].labels == {0}


def test_label_answers_keeps_each_lines_offered_as_label_ids(tmp_path):
    # each line's "offered" held its own copy of every URI: at k=100 the answers of 2x10^4
    # lines kept about 390 MB after the read (1 GB of it strings at 10^5 lines); shared
    # strings in a frozenset a line still held 1.1 GB at 10^5 lines: now an int32 array
    from tagsmith.audit.review import label_answers

    labels = tmp_path / "llm.jsonl"
    labels.write_text("".join(json.dumps(
        {"id": str(i), "text": text, "labels": ["http://x/sun"], "scores": [0.9],
         "offered": ["http://x/sun", "http://x/snow"]}) + "\n"
        for i, text in enumerate(["Sun at noon", "Sun at dusk"])), encoding="utf-8")
    answers = label_answers(labels, SPACE)
    first, second = (answers[doc_key(text)].offered for text in ("Sun at noon", "Sun at dusk"))
    assert first.tolist() == second.tolist() == [1, 2]
    assert first.dtype == second.dtype == "int32"


def test_a_line_offered_every_label_lists_no_offered(tmp_path):
    # --shortlist-k above the vocabulary's size offered every label, and each line still
    # listed all their URIs (k URIs a line, which said nothing no list says)
    import scipy.sparse as sp

    from tagsmith.pipeline.llm import write_soft_labels

    labels = tmp_path / "llm.jsonl"
    write_soft_labels(labels, ["Sun at noon", "Sun at dusk"],
                      sp.csr_matrix([[0.0, 0.9, 0.0], [0.0, 0.9, 0.0]]), SPACE,
                      doc_ids=["1", "2"], offered=[[0, 1, 2], [1, 2]])
    lines = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    assert "offered" not in lines[0]
    assert lines[1]["offered"] == ["http://x/sun", "http://x/snow"]


def test_label_budget_gives_a_copy_its_documents_offered_and_decide_from_reads_it(tmp_path):
    # the merged path: a copy label --budget never sent carries its document's
    # shortlist, and --decide-from gives the copy's rows that document's answer, its
    # offered included (a wrong snow, never offered, stays undecided on the copy too)
    corpus, vocab, review, _ = _setup(tmp_path)
    bundle = _old_bundle(tmp_path)
    twin = "SUN after  the snow"
    docs = [(DOCS[4][0], DOCS[4][1]), (DOCS[1][0], DOCS[1][1]), ("e2", twin)]
    flagged = tmp_path / "eb.jsonl"
    flagged.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs),
                       encoding="utf-8")
    answer = json.dumps({"labels": [{"label": "sun", "confidence": 0.9}]})
    labels = _label_run(tmp_path, flagged, vocab, lambda body: answer,
                        "--shortlist", str(bundle), "--shortlist-k", "2", "--budget", "2")
    lines = {line["id"]: line for line in
             map(json.loads, labels.read_text(encoding="utf-8").splitlines())}
    assert lines["e2"]["copy_of"] == "e"
    assert lines["e2"]["offered"] == lines["e"]["offered"]
    from tagsmith.audit.review import label_answers

    answers = label_answers(labels, SPACE)
    assert answers[doc_key(twin)] is answers[doc_key(DOCS[4][1])]
    assert answers[doc_key(twin)].offered.tolist() == [0, 1]  # rain and sun


def test_decide_from_reads_no_label_of_an_undecided_row_whose_document_it_lacks(tmp_path):
    """An undecided row is no decision, so apply-review reads none of its cells: a row
    a person added by hand and left blank (its label_uri empty) is passed over. With
    --decide-from it failed the whole run over that row though LABELS did not hold its
    document, so nothing would have decided it."""
    corpus, _, review, _ = _setup(tmp_path)
    text = review.read_text(encoding="utf-8")
    review.write_text(text + ",,missing,add,,snow,,,,4,5,e,"
                      f"{doc_key(DOCS[4][1])},,,,,,{DOCS[4][1]}\n", encoding="utf-8")
    plain = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE)
    assert plain["review_undecided"] == 7
    labels = tmp_path / "some.jsonl"  # holds b's text alone
    labels.write_text(json.dumps({"id": "1", "text": "Bright sun and heat",
                                  "labels": ["sun"]}) + "\n", encoding="utf-8")
    stats = apply_review(corpus, review, tmp_path / "o2.jsonl", SPACE, decide_from=labels)
    assert stats["review_decided_by_labels"] == 1 and stats["review_undecided"] == 6


def test_label_budget_lists_unknown_labels_and_decide_from_leaves_the_row_undecided(tmp_path):
    # label --budget kept only the rounds' scores: f's line (the answer "snwo", sun)
    # listed no unknown_labels, and apply-review --decide-from read snow as not given,
    # accepting f's wrong-snow row (a right snow taken off). A copy gets its document's
    corpus, vocab, review, flagged = _setup(tmp_path)
    with flagged.open("a", encoding="utf-8") as out:  # f's text in other case: a copy
        out.write(json.dumps({"id": "f2", "text": "snow and SUN at noon"}) + "\n")
    labels = _label_run(tmp_path, flagged, vocab, _teacher, "--budget", "5", "--rounds", "2")
    lines = {line["id"]: line for line in map(json.loads,
                                              labels.read_text(encoding="utf-8").splitlines())}
    assert lines["f"]["unknown_labels"] == ["snwo"]
    assert lines["f2"]["unknown_labels"] == ["snwo"] and lines["f2"]["copy_of"] == "f"
    assert not any("unknown_labels" in lines[doc] for doc in ("b", "c", "e"))
    stats = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE, decide_from=labels)
    assert stats["review_undecided_unknown_labels"] == 1
    written = {r.doc_id: sorted(r.labels) for r in read_records(tmp_path / "o.jsonl")}
    assert written["f"] == ["snow", "sun"]


def test_a_malformed_offered_is_warned_of_with_its_count_file_and_lines(tmp_path, caplog):
    # "offered": "rain, sun" (a string, not a list) read as offering no label: b's
    # wrong-rain row stayed undecided with no word of why
    corpus, _, review, _ = _setup(tmp_path)
    labels = tmp_path / "llm.jsonl"
    labels.write_text(
        json.dumps({"id": "b", "text": DOCS[1][1], "labels": ["http://x/sun"],
                    "scores": [0.9], "offered": "http://x/rain, http://x/sun"}) + "\n"
        + json.dumps({"id": "c", "text": DOCS[2][1], "labels": ["http://x/snow"],
                      "scores": [0.9], "offered": ["http://x/snow", 3]}) + "\n"
        + json.dumps({"id": "e", "text": DOCS[4][1], "labels": ["http://x/sun"],
                      "scores": [0.9], "offered": ["http://x/sun", "http://x/snow"]}) + "\n",
        encoding="utf-8")
    stats = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE, decide_from=labels)
    assert stats["review_undecided_not_offered"] == 1  # b's rain
    assert stats["n_added"] == 1 and stats["n_removed"] == 1  # c's snow (offered), e's snow
    assert f"{labels}: 2 lines whose 'offered' is not a list of label names (lines 1, 2)" \
        in caplog.text


def test_two_lines_of_one_text_with_equal_labels_but_other_shortlists_agree(tmp_path, caplog):
    # two label runs with other bundles, concatenated: b answered sun both times, once
    # offered rain and sun, once sun and snow. Read as different labels, b's rows were
    # left undecided; its wrong rain is taken off (the first line offered rain)
    corpus, _, review, _ = _setup(tmp_path)
    labels = tmp_path / "llm.jsonl"
    labels.write_text("".join(json.dumps(
        {"id": doc_id, "text": DOCS[1][1], "labels": ["http://x/sun"], "scores": [0.9],
         "offered": offered}) + "\n" for doc_id, offered in (
            ("b", ["http://x/rain", "http://x/sun"]), ("b2", ["http://x/sun", "http://x/snow"]))),
        encoding="utf-8")
    stats = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE, decide_from=labels)
    assert "different labels" not in caplog.text
    assert stats["review_decided_by_labels"] == 1 and stats["n_removed"] == 1
    # with an unknown name on the line offered rain, the other line never offered it:
    # rain is undecided, counted as never offered
    lines = labels.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["unknown_labels"] = ["rian"]
    labels.write_text(json.dumps(first) + "\n" + lines[1] + "\n", encoding="utf-8")
    stats = apply_review(corpus, review, tmp_path / "o2.jsonl", SPACE, decide_from=labels)
    assert stats["review_undecided_not_offered"] == 1 and stats["n_removed"] == 0


def test_apply_review_on_a_label_output_keeps_each_confidence_beside_its_label(tmp_path):
    """The LLM's label output audited and reviewed, then distilled: a removed label's
    confidence went with it, an added label scores 1 (a person said so). The scores were
    left as they were: the next label took a removed one's, an added one had none, and
    distill refused the file ("'scores' must be ... one per label")."""
    import scipy.sparse as sp

    from tagsmith.pipeline.llm import read_soft_labels, write_soft_labels

    texts = [DOCS[1][1], DOCS[2][1], DOCS[4][1]]
    # b: rain 0.55 (planted wrong), sun 0.8; c: nothing; e: sun 0.9, snow 0.7
    Y = sp.csr_matrix([[0.55, 0.8, 0.0], [0.0, 0.0, 0.0], [0.0, 0.9, 0.7]])
    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, texts, Y, SPACE, doc_ids=["b", "c", "e"])
    lines = labels.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["labels"] == ["http://x/sun", "http://x/rain"]

    def row(doc, line, kind, name, decision):
        r = _row(doc, kind, name, decision)
        return {**r, "doc": line - 1, "line": line,
                "given_labels": json.loads(lines[line - 1])["labels"]}
    review = tmp_path / "review.csv"
    write_review([row(1, 1, "wrong", "rain", "accept"),
                  row(4, 3, "missing", "rain", "accept"),
                  row(4, 3, "wrong", "snow", "reject")], review)
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("<http://x/rain>\train\n<http://x/sun>\tsun\n<http://x/snow>\tsnow\n",
                     encoding="utf-8")
    out = tmp_path / "fixed.jsonl"
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(labels), str(review), "-o", str(out), "--vocab", str(vocab)])
    assert result.exit_code == 0, result.output
    written = {r["id"]: (r["labels"], r["scores"]) for r in
               map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert written == {"b": (["http://x/sun"], [0.8]), "c": ([], []),
                       "e": (["http://x/sun", "http://x/snow", "http://x/rain"],
                             [0.9, 0.7, 1.0])}
    # distill's reader takes it, each label with its own confidence
    read_texts, targets = read_soft_labels(out, SPACE)
    assert read_texts == texts
    assert targets.toarray().ravel().tolist() == pytest.approx(
        [0.0, 0.8, 0.0, 0.0, 0.0, 0.0, 1.0, 0.9, 0.7])


def test_apply_review_marks_the_labels_a_person_added_so_the_next_audit_reads_no_llm_certainty(
        tmp_path):
    """A label apply-review added scores 1.0 in a label output, a person's decision; in
    the file it could not be told from an LLM's stated 1.0, and the next audit's
    --label-confidence read it as the LLM certain of it (a wrong candidate pushed down,
    the mean raised). The line names it in ``added_by_review`` now, and the audit's
    reader reads its confidence as unknown (exactly 1: out of the mean, the audit's own
    probability); an LLM's stated 1.0 stays one, and a file written before still reads."""
    import scipy.sparse as sp

    from tagsmith.pipeline.audit import read_audit_corpus
    from tagsmith.pipeline.llm import read_soft_labels, write_soft_labels

    texts = [DOCS[1][1], DOCS[4][1]]
    # b: sun 1.0 (the LLM certain); e: sun 0.9, snow 0.7
    Y = sp.csr_matrix([[0.0, 1.0, 0.0], [0.0, 0.9, 0.7]])
    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, texts, Y, SPACE, doc_ids=["b", "e"])
    lines = labels.read_text(encoding="utf-8").splitlines()

    def row(line, kind, name):  # the rows are e's (DOCS[4]), the file's second line
        r = _row(4, kind, name, "accept")
        return {**r, "doc": line - 1, "line": line,
                "given_labels": json.loads(lines[line - 1])["labels"]}
    review = tmp_path / "review.csv"
    write_review([row(2, "missing", "rain")], review)
    out = tmp_path / "fixed.jsonl"
    apply_review(labels, review, out, SPACE)
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written[1]["labels"][-1] == "http://x/rain" and written[1]["scores"][-1] == 1.0
    assert written[1]["added_by_review"] == ["http://x/rain"]
    assert "added_by_review" not in written[0]  # no label added there
    conf = read_audit_corpus(out, SPACE, confidences=True).confidences.toarray()
    assert conf[1, 0] == 1.0  # rain: a person's, no stated confidence (unknown)
    assert conf[1, 1] == pytest.approx(0.9) and conf[1, 2] == pytest.approx(0.7)
    assert 0.9999 < conf[0, 1] < 1  # b's sun: the LLM's stated 1.0, just below 1
    # distill reads the file as before, the person's label at 1.0
    assert read_soft_labels(out, SPACE)[1].toarray()[1].tolist() == pytest.approx(
        [1.0, 0.9, 0.7])
    # a later review removing the added label takes it off the mark too
    lines = out.read_text(encoding="utf-8").splitlines()
    write_review([row(2, "wrong", "rain")], review)
    again = tmp_path / "again.jsonl"
    apply_review(out, review, again, SPACE)
    second = json.loads(again.read_text(encoding="utf-8").splitlines()[1])
    assert "http://x/rain" not in second["labels"] and "added_by_review" not in second
    # a file apply-review wrote before the mark: its added label reads as stated, as it did
    old = tmp_path / "old.jsonl"
    old.write_text(json.dumps({k: v for k, v in written[1].items()
                               if k != "added_by_review"}) + "\n", encoding="utf-8")
    assert 0.9999 < read_audit_corpus(old, SPACE, confidences=True).confidences[0, 0] < 1


def test_a_key_given_twice_on_a_line_is_marked_kept_once(tmp_path):
    """A line whose labels repeat a key (snow twice) got it twice in kept_by_review,
    and n_kept_marked counted 2 for the one label a person kept."""
    from tagsmith.audit import KEPT_MARK

    labels = tmp_path / "labels.jsonl"
    line = {"id": "e", "text": DOCS[4][1], "labels": ["http://x/sun", "http://x/snow",
                                                      "http://x/snow"],
            "scores": [0.9, 0.4, 0.4]}
    labels.write_text(json.dumps(line) + "\n", encoding="utf-8")
    review = tmp_path / "review.csv"
    write_review([{**_row(4, "wrong", "snow", "reject"), "doc": 0, "line": 1,
                   "given_labels": line["labels"]}], review)
    out = tmp_path / "fixed.jsonl"
    stats = apply_review(labels, review, out, SPACE)
    assert stats["n_kept_marked"] == 1
    assert json.loads(out.read_text(encoding="utf-8"))[KEPT_MARK] == ["http://x/snow"]


def test_a_kept_row_left_unmarked_is_counted_and_warned(tmp_path, caplog):
    """A kept row (a wrong row a person rejected) whose text is not in the corpus, or
    whose line in a label output has no scores, was left out of kept_by_review with no
    count or word (n_kept_marked counts only the marks written). Counted now, and the
    command warns; a corpus without scores (a user's own) is not told."""
    import scipy.sparse as sp

    from tagsmith.pipeline.llm import write_soft_labels

    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, [DOCS[1][1], DOCS[4][1]],
                      sp.csr_matrix([[0.0, 0.9, 0.0], [0.0, 0.9, 0.4]]), SPACE,
                      doc_ids=["b", "e"])
    lines = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    review = tmp_path / "review.csv"
    write_review([{**_row(4, "wrong", "snow", "reject"), "doc": 1, "line": 2,
                   "given_labels": lines[1]["labels"]}], review)

    def applied(first, second):
        corpus = tmp_path / "corpus.jsonl"
        corpus.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n",
                          encoding="utf-8")
        return apply_review(corpus, review, tmp_path / "out.jsonl", SPACE, overwrite=True)
    stats = applied(*lines)
    assert stats["n_kept_marked"] == 1
    assert stats["n_kept_not_found"] == stats["n_kept_unscored"] == 0
    # its text edited: the row names no document
    stats = applied(lines[0], {**lines[1], "text": lines[1]["text"] + " (edited)"})
    assert stats["n_kept_marked"] == 0 and stats["n_kept_not_found"] == 1
    # its line's scores gone, the other line's kept: a label output's line without them
    unscored = {k: v for k, v in lines[1].items() if k != "scores"}
    stats = applied(lines[0], unscored)
    assert stats["n_kept_marked"] == 0 and stats["n_kept_unscored"] == 1
    # no line scored: a corpus of the user's own, where no mark is written
    stats = applied({k: v for k, v in lines[0].items() if k != "scores"}, unscored)
    assert stats["n_kept_not_found"] == stats["n_kept_unscored"] == 0
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps(lines[0]) + "\n" + json.dumps(unscored) + "\n",
                      encoding="utf-8")
    _apply_review_cli(tmp_path, corpus, review, caplog)
    assert "1 kept row (a wrong row rejected) not named in any line's kept_by_review (1 " \
        "whose line has no scores)" in caplog.text


def test_apply_review_marks_the_labels_a_person_kept_so_the_next_audit_reads_no_llm_doubt(
        tmp_path):
    """A *wrong* row a person rejected keeps its label, and the label kept the LLM's low
    score with nothing beside it: the next audit's --label-confidence (without
    --reviewed) read it as the LLM's doubt and put it among the least confident again.
    The line names it in ``kept_by_review`` now (its score as it was: distill reads the
    file as before), and the audit's reader reads its confidence as unknown, a person's
    decision, as it reads ``added_by_review``; a rejection decided by --decide-from's
    LLM marks nothing (that LLM's word), and a file written before still reads."""
    import scipy.sparse as sp

    from tagsmith.audit import KEPT_MARK
    from tagsmith.pipeline.audit import read_audit_corpus
    from tagsmith.pipeline.llm import is_soft_labels_file, read_soft_labels, write_soft_labels

    texts = [DOCS[1][1], DOCS[4][1]]
    # b: sun 0.9; e: sun 0.9, snow 0.4 (the LLM doubting it)
    Y = sp.csr_matrix([[0.0, 0.9, 0.0], [0.0, 0.9, 0.4]])
    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, texts, Y, SPACE, doc_ids=["b", "e"])
    lines = labels.read_text(encoding="utf-8").splitlines()

    def row(line, kind, name, decision):  # the rows are e's (DOCS[4]), the second line
        r = _row(4, kind, name, decision)
        return {**r, "doc": line - 1, "line": line,
                "given_labels": json.loads(lines[line - 1])["labels"]}
    review = tmp_path / "review.csv"
    write_review([row(2, "wrong", "snow", "reject")], review)
    out = tmp_path / "fixed.jsonl"
    stats = apply_review(labels, review, out, SPACE)
    assert stats["n_kept_marked"] == 1 and stats["n_removed"] == 0
    assert stats["review_rejected"] == 1
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written[1][KEPT_MARK] == ["http://x/snow"]
    assert written[1]["scores"] == [0.9, 0.4] and KEPT_MARK not in written[0]
    assert out.read_text(encoding="utf-8").splitlines()[0] == lines[0]  # b as it was
    assert is_soft_labels_file(out)
    conf = read_audit_corpus(out, SPACE, confidences=True).confidences.toarray()
    assert conf[1, 2] == 1.0  # snow: a person kept it, no stated confidence (unknown)
    assert conf[1, 1] == pytest.approx(0.9)
    # it read as the LLM's 0.4, the least confident label again
    assert read_audit_corpus(labels, SPACE, confidences=True).confidences[1, 2] == \
        pytest.approx(0.4)
    assert read_soft_labels(out, SPACE)[1].toarray()[1].tolist() == pytest.approx(
        [0.0, 0.9, 0.4])
    # the command says so (the file's only change)
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("<http://x/rain>\train\n<http://x/sun>\tsun\n<http://x/snow>\tsnow\n",
                     encoding="utf-8")
    said = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(labels), str(review), "-o", str(tmp_path / "cli.jsonl"),
        "--vocab", str(vocab)])
    assert said.exit_code == 0, said.output
    assert "1 label a person kept (wrong rows rejected) named in its line's " \
        "kept_by_review" in said.output, said.output
    # a later review removing the kept label takes it off the mark too
    write_review([row(2, "wrong", "snow", "accept")], review)
    again = tmp_path / "again.jsonl"
    apply_review(out, review, again, SPACE)
    second = json.loads(again.read_text(encoding="utf-8").splitlines()[1])
    assert "http://x/snow" not in second["labels"] and KEPT_MARK not in second
    # a rejection --decide-from's LLM decided: its word, not a person's; nothing marked
    decide = tmp_path / "decide.jsonl"
    write_soft_labels(decide, [DOCS[4][1]], sp.csr_matrix([[0.0, 0.9, 0.8]]), SPACE,
                      doc_ids=["e"])
    write_review([row(2, "wrong", "snow", "")], review)
    by_llm = tmp_path / "by_llm.jsonl"
    stats = apply_review(labels, review, by_llm, SPACE, decide_from=decide)
    assert stats["review_decided_by_labels"] == 1 and stats["n_kept_marked"] == 0
    assert by_llm.read_bytes() == labels.read_bytes()
    # a malformed mark is refused, naming its line, as added_by_review's is
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**written[1], KEPT_MARK: "http://x/snow"}) + "\n",
                   encoding="utf-8")
    from tagsmith.exceptions import DataError

    with pytest.raises(DataError, match=r"bad\.jsonl:1: 'kept_by_review' must be a list"):
        read_audit_corpus(bad, SPACE, confidences=True)


def test_label_on_a_review_asks_no_document_a_person_decided_in_full(tmp_path):
    # label on a review sent every flagged document, those whose every row a person had
    # decided too: apply-review --decide-from decides only the rows left undecided, so
    # each such answer was a call paid for nothing. Now they are left out, and counted
    _, vocab, _, _ = _setup(tmp_path)
    review = tmp_path / "review.csv"
    write_review([_row(1, "wrong", "rain", decision="accept"),
                  _row(2, "missing", "snow"),
                  _row(1, "missing", "snow", decision="reject"),   # b decided in full
                  _row(4, "wrong", "snow", decision="reject"),
                  _row(4, "missing", "rain")], review)             # e: one row open
    seen = []

    def teacher(body):
        seen.append(read_data_section(user_prompt(body), "DOCUMENT"))
        return json.dumps({"labels": [{"label": "snow", "confidence": 0.9}]})

    labels = tmp_path / "llm.jsonl"
    runner = CliRunner()
    with LocalChatServer(teacher) as server:
        common = ["--vocab", str(vocab), "--base-url", server.base_url, "--llm", "t",
                  "--max-retries", "0", "--cache", str(tmp_path / "c.sqlite")]
        result = runner.invoke(tagsmith_cli.cli, [
            "label", str(review), "-o", str(labels), *common])
        assert result.exit_code == 0, result.output
        assert sorted(seen) == ["Snowfall in the hills", "Sun after the snow"]
        assert "1 document whose every row has a decision (a person's) not asked " \
            "about" in result.output
        assert [json.loads(line)["id"] for line in
                labels.read_text(encoding="utf-8").splitlines()] == ["c", "e"]
    assert len(seen) == 2


def test_label_on_a_review_decided_in_full_writes_an_empty_output_that_decides_nothing(
        tmp_path, caplog):
    # a review decided in full leaves nothing to ask. It was refused (exit code 3), so a
    # scripted monthly cycle (audit, label, apply-review --decide-from) stopped on a
    # month a person decided in full. Now label writes an empty output (exit code 0),
    # sending nothing, and apply-review --decide-from reads it as deciding no row (it
    # refused it: "no documents in the file")
    corpus, vocab, _, _ = _setup(tmp_path)
    seen = []

    def teacher(body):
        seen.append(body)
        return json.dumps({"labels": [{"label": "snow", "confidence": 0.9}]})

    runner = CliRunner()
    done = tmp_path / "done.csv"
    write_review([_row(1, "wrong", "rain", decision="accept"),
                  _row(2, "missing", "snow", decision="reject")], done)
    labels = tmp_path / "none.jsonl"
    with LocalChatServer(teacher) as server:
        result = runner.invoke(tagsmith_cli.cli, [
            "label", str(done), "-o", str(labels), "--vocab", str(vocab),
            "--base-url", server.base_url, "--llm", "t", "--max-retries", "0",
            "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 0, result.output
    assert f"{done}: every row has a decision: no document left for the LLM to " \
        "decide" in result.output
    assert f"labelled 0 of 0 documents -> {labels}" in result.output
    assert not seen and labels.read_text(encoding="utf-8") == ""
    summary = json.loads(result.output[result.output.index('{"labeling"'):].splitlines()[0])
    assert summary["labeling"]["n_calls"] == 0 and summary["usage"]["requests"] == 0
    out = tmp_path / "fixed.jsonl"
    result = runner.invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(done), "-o", str(out), "--vocab", str(vocab),
        "--decide-from", str(labels)])
    assert result.exit_code == 0, result.output
    assert f"{labels} holds no answer" in caplog.text
    assert "0 rows of" in result.output and "none left undecided" in result.output
    # the person's decisions applied: b's wrong rain taken off
    assert {r.doc_id: sorted(r.labels) for r in read_records(out)}["b"] == ["sun"]


def test_two_copies_of_one_text_naming_other_ids_each_decide_by_their_own_line(tmp_path,
                                                                               caplog):
    # two label --budget outputs concatenated: the copies c1 and c9 have one text and
    # name doc1 (rain) and doc9 (sun). Keyed by text, the later copy's answer (sun)
    # decided both, so c1 was given sun. Now a row is decided by its doc_id's line
    # first; and two documents of one text answered apart (j, k) each decide their own
    # rows, where by text they were left undecided
    lines = [("doc1", "Rain all day", "rain", None), ("c1", "rain all day", "rain", "doc1"),
             ("doc9", "RAIN all day", "sun", None), ("c9", "rain all day", "sun", "doc9"),
             ("j", "Snow at noon", "snow", None), ("k", "Snow at noon", "sun", None)]
    labels = tmp_path / "llm.jsonl"
    labels.write_text("".join(json.dumps(
        {"id": i, "text": t, "labels": [f"http://x/{name}"], "scores": [0.9],
         **({"copy_of": source} if source else {})}) + "\n"
        for i, t, name, source in lines), encoding="utf-8")
    docs = [("c1", "rain all day"), ("c9", "rain all day"), ("j", "Snow at noon"),
            ("k", "Snow at noon"), ("x", "rain all day")]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t, "labels": []}) + "\n"
                              for i, t in docs), encoding="utf-8")
    rows = [{**_row(0, "missing", "sun"), "doc": doc, "line": doc + 1, "doc_id": doc_id,
             "doc_key": doc_key(text), "given_labels": [], "given_names": [], "text": text}
            for doc, (doc_id, text) in enumerate(docs)]
    review = tmp_path / "review.csv"
    write_review(rows, review)
    out = tmp_path / "fixed.jsonl"
    stats = apply_review(corpus, review, out, SPACE, decide_from=labels)
    # x: an id no line has, its text answered two ways by the copies: left undecided
    assert stats["review_decided_by_labels"] == 4 and stats["review_undecided"] == 1
    assert {r.doc_id: list(r.labels) for r in read_records(out)} == {
        "c1": [], "c9": ["<http://x/sun>"], "j": [], "k": ["<http://x/sun>"], "x": []}
    assert "gives 2 texts different labels in two lines (every line has an id and text " \
        "of its own)" in caplog.text
    assert stats["review_undecided_two_ways"] == 1  # x, counted as a row


def test_decide_from_reads_each_rows_document_and_label_once(tmp_path, monkeypatch):
    # a row the label file decided had its document and label cells read twice (once
    # to decide it, once to apply it): at 10^5 rows about 1 s of 7.6. The real reader,
    # counted: once per row whose document the file holds, the decisions unchanged
    import tagsmith.audit.review as review_module

    corpus, _, review, _ = _setup(tmp_path)
    labels = tmp_path / "llm.jsonl"
    labels.write_text("".join(json.dumps({"id": DOCS[d][0], "text": DOCS[d][1],
                                          "labels": [f"http://x/{n}" for n in names]}) + "\n"
                              for d, names in ((1, ["sun"]), (2, ["snow"]),
                                               (4, ["sun", "snow"]))), encoding="utf-8")
    read = []
    real = review_module._doc_and_label

    def counted(row, *args):
        read.append(int(row["line"]))
        return real(row, *args)

    monkeypatch.setattr(review_module, "_doc_and_label", counted)
    stats = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE, decide_from=labels)
    # b's wrong rain and missing snow (decided by a person), c's snow, e's snow: each
    # read once
    assert stats["review_decided_by_labels"] == 3 and stats["n_docs_changed"] == 2
    assert sorted(read) == [2, 2, 3, 5], read


def test_a_text_answered_two_ways_is_decided_by_an_id_a_spreadsheet_rewrote(tmp_path):
    # a review saved by a spreadsheet shows the id 0042 as 42 and 1234567890123456 as
    # 1.23457E+15; every other review id check reads them as the same document, but the
    # lookup of a text answered two ways compared ids exactly, and left such rows
    # undecided, with no word
    lines = [("0042", "Snow at noon", "snow"), ("0043", "Snow at noon", "sun"),
             ("1234567890123456", "Rain by the sea", "rain"),
             ("9876543210987654", "Rain by the sea", "sun")]
    labels = tmp_path / "llm.jsonl"
    labels.write_text("".join(json.dumps(
        {"id": i, "text": t, "labels": [f"http://x/{name}"], "scores": [0.9]}) + "\n"
        for i, t, name in lines), encoding="utf-8")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t, "labels": []}) + "\n"
                              for i, t, _ in lines), encoding="utf-8")
    shown = ["42", "43", "1.23457E+15", "9.87654E+15"]
    rows = [{**_row(0, "missing", "sun"), "doc": doc, "line": doc + 1, "doc_id": written,
             "doc_key": doc_key(text), "given_labels": [], "given_names": [], "text": text}
            for doc, (written, (_, text, _)) in enumerate(zip(shown, lines, strict=True))]
    review = tmp_path / "review.csv"
    write_review(rows, review)
    out = tmp_path / "fixed.jsonl"
    stats = apply_review(corpus, review, out, SPACE, decide_from=labels)
    assert stats["review_decided_by_labels"] == 4 and stats["review_undecided"] == 0
    assert {r.doc_id: list(r.labels) for r in read_records(out)} == {
        "0042": [], "0043": ["<http://x/sun>"], "1234567890123456": [],
        "9876543210987654": ["<http://x/sun>"]}


def test_two_lines_an_id_a_spreadsheet_rewrote_names_alike_decide_only_if_they_agree():
    # 1.23457E+15 names both 1234567890123456 and 1234567890123466 (the digits shown):
    # lines of both that answer apart decide nothing; answering alike, they decide
    from tagsmith.audit.review import LabelAnswer, LabelAnswers

    answers = LabelAnswers()
    key = doc_key("Rain by the sea")
    answers.by_id = {("1234567890123456", key): LabelAnswer(frozenset({0})),
                     ("1234567890123466", key): LabelAnswer(frozenset({1})),
                     ("0042", key): LabelAnswer(frozenset({2}))}
    assert answers.of_document("1.23457E+15", key) is None
    assert answers.of_document("42", key).labels == {2}
    assert answers.of_document("42", doc_key("other")) is None
    assert answers.of_document("43", key) is None
    answers.by_id[("1234567890123466", key)] = LabelAnswer(frozenset({0}))
    answers._ids = None
    assert answers.of_document("1.23457E+15", key).labels == {0}


def test_the_rows_a_text_answered_two_ways_leaves_undecided_are_counted_as_rows(tmp_path,
                                                                               caplog):
    # the warning counted texts ("gives 1 text different labels in two lines: its rows
    # are left undecided") and the closing line counted their rows among the documents
    # the file does not hold: b's open row, whose text two lines answer apart, read as
    # a document the LLM never answered. Now they are counted apart, as rows
    corpus, vocab, review, _ = _setup(tmp_path)
    labels = tmp_path / "two.jsonl"
    labels.write_text("".join(json.dumps({"id": i, "text": t, "labels": names}) + "\n"
                              for i, t, names in (
                                  ("1", "Bright sun and heat", ["sun"]),
                                  ("2", "Bright sun and heat", ["rain", "sun"]),
                                  ("c", "Snowfall in the hills", ["snow"]))),
                      encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(review), "-o", str(tmp_path / "o.jsonl"),
        "--vocab", str(vocab), "--decide-from", str(labels)])
    assert result.exit_code == 0, result.output
    assert "gives 1 text different labels in two lines (every line has an id and text of " \
        "its own): a row of it is decided by the line of its doc_id" in caplog.text
    # b's open row (its doc_id b names neither line), apart from d's, e's and f's two
    assert "1 row of" in result.output and "left undecided: 4 whose document it does " \
        "not hold, 1 whose text it answers with other labels in two lines, no line of " \
        "their doc_id telling the answers apart" in result.output


def test_a_row_with_no_doc_id_of_a_text_answered_two_ways_stays_undecided(tmp_path):
    # a corpus without ids: label names a review's document review.csv:LINE, its first
    # row. A row has no doc_id to look that up by (the review may be sorted or moved
    # since), so two runs answering its text apart leave it undecided, counted as such;
    # a text answered once still decides its rows by text
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": t, "labels": []}) + "\n"
                              for t in ("Snow at noon", "Rain by the sea")), encoding="utf-8")
    labels = tmp_path / "llm.jsonl"
    labels.write_text("".join(json.dumps({"id": i, "text": t, "labels": [f"http://x/{n}"],
                                          "scores": [0.9]}) + "\n" for i, t, n in (
        ("review.csv:2", "Snow at noon", "snow"), ("old/review.csv:2", "Snow at noon", "sun"),
        ("review.csv:3", "Rain by the sea", "sun"))), encoding="utf-8")
    rows = [{**_row(0, "missing", "sun"), "doc": doc, "line": doc + 1, "doc_id": "",
             "doc_key": doc_key(text), "given_labels": [], "given_names": [], "text": text}
            for doc, text in enumerate(("Snow at noon", "Rain by the sea"))]
    review = tmp_path / "review.csv"
    write_review(rows, review)
    stats = apply_review(corpus, review, tmp_path / "o.jsonl", SPACE, decide_from=labels)
    assert stats["review_decided_by_labels"] == 1 and stats["review_undecided"] == 1
    assert stats["review_undecided_two_ways"] == 1
    assert [list(r.labels) for r in read_records(tmp_path / "o.jsonl")] == [
        [], ["<http://x/sun>"]]


def test_apply_review_ends_naming_the_step_that_learns_from_its_output(tmp_path):
    """The walk from raw texts (taxonomy, label, audit, apply-review, distill) stopped at
    apply-review with no word of the step after, where the audit's closing line named
    apply-review. It names distill for label's output (an LLM's labels with their
    scores, which train would read as people's), train for a people's corpus, with the
    audit's vocabulary; nothing where no row was decided (its warning says why)."""
    corpus, vocab, review, _ = _setup(tmp_path)
    by_llm = _uri_labels(tmp_path, scores=True)  # as label -o writes it
    runner = CliRunner()
    for source, out, expected in (
            (by_llm, "fixed.jsonl", f"next: distil a student from the reviewed LLM labels: "
             f"tagsmith distill {tmp_path / 'fixed.jsonl'} --vocab {vocab} -o STUDENT"),
            (corpus, "fixed.tsv", f"next: train on the corrected corpus: tagsmith train "
             f"{tmp_path / 'fixed.tsv'} --vocab {vocab} -o BUNDLE")):
        result = runner.invoke(tagsmith_cli.cli, [
            "apply-review", str(source), str(review), "-o", str(tmp_path / out),
            "--vocab", str(vocab)])
        assert result.exit_code == 0, result.output
        assert expected in result.output
    # no --vocab: distill needs one all the same
    result = runner.invoke(tagsmith_cli.cli, [
        "apply-review", str(by_llm), str(review), "-o", str(tmp_path / "bare.jsonl")])
    assert result.exit_code == 0, result.output
    assert f"tagsmith distill {tmp_path / 'bare.jsonl'} --vocab VOCAB -o STUDENT" in \
        result.output
    # on stderr (stdout holds the results alone), and not under -q
    assert "next:" not in result.stdout
    result = runner.invoke(tagsmith_cli.cli, [
        "-q", "apply-review", str(by_llm), str(review), "-o", str(tmp_path / "q.jsonl")])
    assert result.exit_code == 0 and "next:" not in result.output, result.output
    undecided = tmp_path / "undecided.csv"
    write_review([_row(1, "wrong", "rain")], undecided)
    result = runner.invoke(tagsmith_cli.cli, [
        "apply-review", str(by_llm), str(undecided), "-o", str(tmp_path / "none.jsonl"),
        "--vocab", str(vocab)])
    assert result.exit_code == 0, result.output
    assert "next:" not in result.output


def test_a_review_given_where_a_labelled_corpus_is_read_says_to_apply_it_first(tmp_path):
    """distill audit/review.csv (apply-review skipped) said "none of the 7 documents has a
    label", train and eval that none names a label and where a TSV, CSV or JSONL corpus
    keeps them: as if the labels were misplaced. Each says it is an audit's review queue
    and gives the apply-review that writes the corpus to use."""
    corpus, vocab, review, _ = _setup(tmp_path)
    said = (f"this is an audit's review queue, not a corpus: fill in its decision column "
            f"(accept or reject), then write the corrected corpus with tagsmith apply-review "
            f"CORPUS {review} -o NEW_CORPUS")
    runner = CliRunner()
    for args in (["distill", str(review), "--vocab", str(vocab), "-o", str(tmp_path / "s")],
                 ["train", str(review), "--vocab", str(vocab), "-o", str(tmp_path / "b")]):
        result = runner.invoke(tagsmith_cli.cli, args)
        assert result.exit_code == 3 and said in result.output, result.output
    # a corpus without labels is told the layouts, as before
    bare = tmp_path / "bare.csv"
    bare.write_text("id,text\na,Heavy rain\nb,Bright sun\n", encoding="utf-8")
    result = runner.invoke(tagsmith_cli.cli, ["train", str(bare), "--vocab", str(vocab),
                                              "-o", str(tmp_path / "b2")])
    assert result.exit_code == 3 and "a CSV corpus has a 'labels' column" in result.output
    assert "review queue" not in result.output


def test_the_review_queue_hint_names_the_audits_vocabulary_and_runs_so(tmp_path):
    """The review-queue hint gave 'apply-review CORPUS review.csv -o NEW_CORPUS' with no
    --vocab: after an audit given one (the corpus's labels URIs), that command failed as
    printed on the first accepted row ("the labels read have no names"). It names VOCAB,
    and with CORPUS and VOCAB filled in it runs."""
    import shlex

    _, vocab, _, _ = _setup(tmp_path)
    corpus = _uri_labels(tmp_path)
    review = tmp_path / "accepted.csv"
    write_review([_row(1, "wrong", "rain", decision="accept")], review)
    runner = CliRunner()
    result = runner.invoke(tagsmith_cli.cli, ["train", str(review), "--vocab", str(vocab),
                                              "-o", str(tmp_path / "b")])
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert (f"tagsmith apply-review CORPUS {review} -o NEW_CORPUS --vocab VOCAB (CORPUS: the "
            "file the audit read; VOCAB: the audit's --vocab") in said, said
    printed = said.split("write the corrected corpus with tagsmith ")[1].split(" (CORPUS:")[0]
    words = [{"CORPUS": str(corpus), "VOCAB": str(vocab),
              "NEW_CORPUS": str(tmp_path / "fixed.jsonl")}.get(w, w)
             for w in shlex.split(printed)]
    result = runner.invoke(tagsmith_cli.cli, words)
    assert result.exit_code == 0 and "1 accepted" in result.output, (words, result.output)


QUEUE_SAID = "this is an audit's review queue, not a corpus: fill in its decision column"


def test_read_labelled_of_a_review_queue_from_python_says_to_apply_it(tmp_path):
    """read_labelled("audit/review.csv", space) from Python returned the queue as a
    corpus of documents without a label, and train_classifier then said only that none
    of them carried one. It is refused, naming apply_decisions and how to read the queue
    back; the command line's hint names apply-review, as its tests pin, and a command's
    reading is left to the command's own refusal."""
    from tagsmith._surface import command_line
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.io import read_labelled, review_queue_hint

    _, vocab, review, _ = _setup(tmp_path)
    space = SPACE
    with pytest.raises(DataError) as caught:
        read_labelled(review, space)
    said = " ".join(str(caught.value).split())
    assert QUEUE_SAID in said and "no document carries a label (7 documents)" in said, said
    assert ("tagsmith.apply_decisions(data.Y, rows, label_space, texts=data.texts), "
            "data = read_audit_corpus(CORPUS, label_space)") in said, said
    assert f"pandas.read_csv({str(review)!r}, dtype={{'decision': str}})" in said, said
    assert "apply-review" not in said and "--vocab" not in said, said
    with command_line():
        assert read_labelled(review, space).Y.count_nonzero() == 0
        cli = review_queue_hint(review)
    assert cli == (f"{QUEUE_SAID} (accept or reject), then write the corrected corpus with "
                   f"tagsmith apply-review CORPUS {review} -o NEW_CORPUS --vocab VOCAB "
                   "(CORPUS: the file the audit read; VOCAB: the audit's --vocab, and its "
                   "--bundle BUNDLE where it had one, --vocab left out where it had none) "
                   "and give NEW_CORPUS instead")
    # a corpus without labels that is no review is returned as before
    bare = tmp_path / "bare.csv"
    bare.write_text("id,text\na,Heavy rain\nb,Bright sun\n", encoding="utf-8")
    assert read_labelled(bare, space).Y.count_nonzero() == 0


def test_eval_given_a_review_queue_says_to_apply_it_first(tmp_path):
    """eval BUNDLE audit/review.csv (apply-review skipped) reaches the review-queue hint
    through label_layout, as train and distill do (the chain's test covered those two)."""
    corpus, vocab, review, _ = _setup(tmp_path)
    runner = CliRunner()
    result = runner.invoke(tagsmith_cli.cli, [
        "-q", "train", str(corpus), "--vocab", str(vocab), "-o", str(tmp_path / "b"),
        "--dev-fraction", "0"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(tagsmith_cli.cli, ["eval", str(tmp_path / "b"), str(review)])
    said = " ".join(result.output.split())
    assert result.exit_code == 3 and QUEUE_SAID in said, said
    assert f"tagsmith apply-review CORPUS {review} -o NEW_CORPUS --vocab VOCAB" in said


def test_distill_human_given_a_review_queue_says_to_apply_it_first(tmp_path):
    """distill --human audit/review.csv reaches the review-queue hint too."""
    _, vocab, review, _ = _setup(tmp_path)
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(
        {"id": f"{k}{i}", "text": f"{t} {k}", "labels": [f"http://x/{n}" for n in names],
         "scores": [0.9] * len(names)}) + "\n" for k in range(8) for i, t, names in DOCS),
        encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "distill", str(labels), "--vocab", str(vocab), "-o", str(tmp_path / "s"),
        "--human", str(review)])
    said = " ".join(result.output.split())
    assert result.exit_code == 3 and QUEUE_SAID in said, said
    assert f"{review}: no document carries a label" in said


def test_apply_review_with_its_arguments_swapped_says_so(tmp_path):
    """apply-review review.csv labels.jsonl read the review as the corpus (a CSV with a
    text column) and failed on the corpus as a review: "labels.jsonl:1: missing field
    'decision'", naming neither the order nor the swap. It says so, before any file is
    written; in order, the same files apply."""
    corpus, vocab, review, _ = _setup(tmp_path)
    out = tmp_path / "fixed.jsonl"
    runner = CliRunner()
    result = runner.invoke(tagsmith_cli.cli, ["apply-review", str(review), str(corpus),
                                              "-o", str(out), "--vocab", str(vocab)])
    assert result.exit_code == 3, result.output
    assert (f"CORPUS {review} is an audit's review and REVIEW {corpus} is not: the "
            "arguments are CORPUS (the file the audit read) then REVIEW (its review.csv), "
            "swapped here?") in result.output
    assert "missing field" not in result.output and not out.exists()
    result = runner.invoke(tagsmith_cli.cli, ["apply-review", str(corpus), str(review),
                                              "-o", str(out), "--vocab", str(vocab)])
    assert result.exit_code == 0 and out.exists(), result.output


def test_apply_review_without_the_audits_vocabulary_says_to_give_it(tmp_path):
    """An audit run with --vocab, its review applied without: the corpus's labels (URIs)
    carry no names, and an accepted row's label_name was refused as "it names no label
    of the vocabulary: renamed since the audit?", sending the user after a rename that
    never happened. It says no vocabulary was given, and to give the audit's."""
    _, vocab, _, _ = _setup(tmp_path)
    corpus = _uri_labels(tmp_path, scores=True)
    review = tmp_path / "accepted.csv"
    write_review([_row(1, "wrong", "rain", decision="accept")], review)
    runner = CliRunner()
    result = runner.invoke(tagsmith_cli.cli, ["apply-review", str(corpus), str(review),
                                              "-o", str(tmp_path / "bare.jsonl")])
    assert result.exit_code == 3, result.output
    assert ("the labels read have no names (no vocabulary was given, the labels being the "
            "corpus's own URIs, or one that names no label): give the vocabulary the audit "
            "used (apply-review --vocab)") in result.output
    assert "renamed since the audit" not in result.output
    result = runner.invoke(tagsmith_cli.cli, ["apply-review", str(corpus), str(review),
                                              "-o", str(tmp_path / "v.jsonl"), "--vocab",
                                              str(vocab)])
    assert result.exit_code == 0 and "1 accepted" in result.output, result.output


def test_apply_review_next_line_names_the_text_column_its_output_keeps(tmp_path):
    """A CSV corpus read with --text-column body and written as CSV keeps 'body' and
    gets no 'text' column: the printed 'tagsmith train fixed.csv ...' had no
    --text-column and train refused it ("no 'text' column in the header"). Written as
    JSONL (a 'text' key added) or TSV it needs none."""
    _, vocab, _, _ = _setup(tmp_path)
    corpus = tmp_path / "corpus.csv"
    corpus.write_text("id,body,labels\n" + "".join(
        f"{i},{t},{';'.join(f'http://x/{n}' for n in names)}\n" for i, t, names in DOCS),
        encoding="utf-8")
    review = tmp_path / "accepted.csv"
    write_review([_row(1, "wrong", "rain", decision="accept")], review)
    runner = CliRunner()
    for out, column in (("fixed.csv", " --text-column body"), ("fixed.jsonl", ""),
                        ("fixed.tsv", "")):
        result = runner.invoke(tagsmith_cli.cli, [
            "apply-review", str(corpus), str(review), "-o", str(tmp_path / out),
            "--vocab", str(vocab), "--text-column", "body"])
        assert result.exit_code == 0, result.output
        assert (f"tagsmith train {tmp_path / out} --vocab {vocab}{column} -o BUNDLE"
                in result.output), result.output


def test_apply_review_with_a_vocabulary_of_uris_alone_does_not_say_none_was_given(tmp_path):
    """--vocab a list of URIs alone (no names): an accepted row's label_name was refused
    saying "no vocabulary was given", though one was."""
    _, _, _, _ = _setup(tmp_path)
    corpus = _uri_labels(tmp_path)
    uris = tmp_path / "uris.txt"
    uris.write_text("http://x/rain\nhttp://x/sun\nhttp://x/snow\n", encoding="utf-8")
    review = tmp_path / "accepted.csv"
    write_review([_row(1, "wrong", "rain", decision="accept")], review)
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "apply-review", str(corpus), str(review), "-o", str(tmp_path / "o.jsonl"),
        "--vocab", str(uris)])
    assert result.exit_code == 3, result.output
    assert "or one that names no label" in result.output
    assert "(no vocabulary was given:" not in result.output


def test_a_short_unspaced_name_held_in_the_label_may_name_it():
    # "天气" beside the label "天气预报" (a ratio of 0.67, containment from 3 characters
    # only) was read as unlike it, and a row of that label the answer lacked was
    # decided (the label rejected): a CJK word is often two characters
    from tagsmith.audit.review import LabelAnswer, _may_name
    from tagsmith.data.labelspace import Label

    space = LabelSpace([Label("u:w", {"zh": "天气预报"}), Label("u:t", {"en": "Trade"}),
                        Label("u:a", {"en": "Rain topics"})])
    answer = LabelAnswer(frozenset(), True, None, ("天气",))
    assert [_may_name(answer, j, space) for j in range(3)] == [True, False, False]
    # two Latin letters stay too short to be read as held in a name
    assert not _may_name(LabelAnswer(frozenset(), True, None, ("ai",)), 2, space)


def test_a_label_output_apply_review_marked_still_reads_as_a_label_output(tmp_path):
    """apply-review's output of a label output, its first line naming a label a review
    added (``added_by_review``), no longer matched is_soft_labels_file: the audit did not
    read it as label's output (nor eval its LLM), and ``label -o`` refused to replace it.
    It reads as the file without the mark did."""
    import scipy.sparse as sp

    from tagsmith.cli.commands import _is_label_output
    from tagsmith.pipeline.llm import is_soft_labels_file, write_soft_labels

    texts = [DOCS[4][1], DOCS[1][1]]  # e first: its line gets the mark
    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, texts, sp.csr_matrix([[0.0, 0.9, 0.7], [0.0, 1.0, 0.0]]),
                      SPACE, doc_ids=["e", "b"])
    first = json.loads(labels.read_text(encoding="utf-8").splitlines()[0])
    review = tmp_path / "review.csv"
    write_review([{**_row(4, "missing", "rain", "accept"), "doc": 0, "line": 1,
                   "given_labels": first["labels"]}], review)
    out = tmp_path / "fixed.jsonl"
    apply_review(labels, review, out, SPACE)
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])[
        "added_by_review"] == ["http://x/rain"]
    assert is_soft_labels_file(out) and _is_label_output(str(out))


def _rain_review(tmp_path):
    """A review of one row: rain accepted as missing from line 1's document."""
    review = tmp_path / "review.csv"
    write_review([{**_row(4, "missing", "rain", "accept"), "doc": 0, "line": 1}], review)
    return review


def test_a_marks_key_with_stray_spaces_is_read_alike_by_the_audit_and_apply_review(tmp_path):
    """The audit's reader matched a mark's keys to the line's labels with spaces around
    them stripped; apply-review compared them exactly, so a key with a stray space was
    a person's decision to the audit and dropped as stale (counted, warned) by the next
    apply-review. apply-review matches them as the audit does now, and writes the key
    as the line spells it."""
    from tagsmith.audit import KEPT_MARK, REVIEW_MARK
    from tagsmith.pipeline.audit import read_audit_corpus

    spaced = tmp_path / "spaced.jsonl"
    spaced.write_text(json.dumps({
        "id": "e", "text": DOCS[4][1], "labels": ["http://x/sun", "http://x/snow"],
        "scores": [0.4, 1.0], REVIEW_MARK: [" http://x/snow"],
        KEPT_MARK: ["http://x/sun "]}) + "\n", encoding="utf-8")
    # the audit reads both as a person's (exactly 1, no stated score): sun not the 0.4
    read = read_audit_corpus(spaced, SPACE, confidences=True).confidences
    assert read[0, 1] == 1 and read[0, 2] == 1
    review = _rain_review(tmp_path)
    out = tmp_path / "out.jsonl"
    stats = apply_review(spaced, review, out, SPACE)
    assert stats["n_stale_marks"] == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written[REVIEW_MARK] == ["http://x/snow", "http://x/rain"]
    assert written[KEPT_MARK] == ["http://x/sun"]


def test_apply_review_drops_a_stale_mark_with_a_count_and_refuses_a_malformed_one(
        tmp_path, caplog):
    """A key of ``added_by_review`` the line no longer has (a hand edit respelled it) was
    carried over, naming a later label of that key as a review's; one that is not a list
    was dropped on rewriting and ignored on reading, with no word. Now a stale key is
    dropped and counted (the command warns), a malformed mark is refused naming its file
    and line, by apply-review and by the audit's reader with --label-confidence."""
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import read_audit_corpus

    def line(mark):
        return json.dumps({"id": "e", "text": DOCS[4][1],
                           "labels": ["http://x/sun", "http://x/snow"],
                           "scores": [0.9, 1.0], "added_by_review": mark}) + "\n"
    review = _rain_review(tmp_path)
    stale = tmp_path / "stale.jsonl"
    stale.write_text(line(["http://x/snow", "http://x/snwo"]), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    stats = apply_review(stale, review, out, SPACE)
    assert stats["n_stale_marks"] == 1
    assert json.loads(out.read_text(encoding="utf-8"))["added_by_review"] == [
        "http://x/snow", "http://x/rain"]
    vocab = _apply_review_cli(tmp_path, stale, review, caplog)
    assert "1 key of added_by_review or kept_by_review named no label of its line" \
        in caplog.text
    # a stale key of kept_by_review is dropped and counted alike (it went with no word)
    kept = tmp_path / "kept.jsonl"
    kept.write_text(line(["http://x/snow"]).replace(
        "}\n", ', "kept_by_review": ["http://x/sun", "http://x/snwo"]}\n'),
        encoding="utf-8")
    stats = apply_review(kept, review, tmp_path / "kept_out.jsonl", SPACE)
    assert stats["n_stale_marks"] == 1
    assert json.loads((tmp_path / "kept_out.jsonl").read_text(encoding="utf-8"))[
        "kept_by_review"] == ["http://x/sun"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line(["http://x/snow"]).replace('["http://x/snow"]}', '"http://x/snow"}'),
                   encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: 'added_by_review' must be a list"):
        apply_review(bad, review, tmp_path / "bad_out.jsonl", SPACE)
    # the audit's reader refuses it too, naming the file and line: it warned, read the
    # line's labels as unscored and went on, the review that followed refusing the file
    with pytest.raises(DataError, match=r"bad\.jsonl:1: 'added_by_review' must be a list"):
        read_audit_corpus(bad, SPACE, confidences=True)
    # not read without --label-confidence (the audit's outputs as they were)
    assert read_audit_corpus(bad, SPACE).confidences is None
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "audit", str(bad), "--vocab", str(vocab), "-o", str(tmp_path / "audit"),
        "--label-confidence", "--no-plots"])
    assert result.exit_code != 0
    assert "bad.jsonl:1: 'added_by_review' must be a list" in result.output, result.output
    assert not (tmp_path / "audit").exists()


def test_apply_review_applies_an_unscored_line_whose_mark_is_malformed(tmp_path):
    """A malformed ``added_by_review`` is refused on a scored line, where the mark is
    read (test above). On a line without ``scores`` the mark is never used (it is written
    as it was), yet it refused the whole review there too; now the line is applied."""
    bad = tmp_path / "unscored.jsonl"
    bad.write_text(json.dumps({"id": "e", "text": DOCS[4][1],
                               "labels": ["http://x/sun", "http://x/snow"],
                               "added_by_review": "http://x/snow"}) + "\n",
                   encoding="utf-8")
    review = _rain_review(tmp_path)
    out = tmp_path / "out.jsonl"
    stats = apply_review(bad, review, out, SPACE)
    assert stats["n_added"] == 1
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["labels"] == ["http://x/sun", "http://x/snow", "http://x/rain"]
    assert written["added_by_review"] == "http://x/snow" and "scores" not in written


def _review_decided(tmp_path, labels, decide, kind, label):
    """``apply-review --decide-from decide`` of one review row (``kind``, ``label``) of
    the one line of ``labels`` (DOCS[4]'s, id e), decided by the labels: the stats, the
    output and the review file."""
    first = json.loads(labels.read_text(encoding="utf-8"))
    review = tmp_path / "review.csv"
    write_review([{**_row(4, kind, label), "doc": 0, "line": 1,
                   "given_labels": first["labels"]}], review)
    out = tmp_path / "fixed.jsonl"
    stats = apply_review(labels, review, out, SPACE, decide_from=decide)
    assert stats["review_decided_by_labels"] == 1
    return stats, out, review


def test_a_label_an_llm_decided_to_add_keeps_the_deciding_answers_score(tmp_path):
    """``apply-review --decide-from`` added a label an LLM decided scoring 1.0, marked as
    a review's: the next audit read its confidence as unknown, the deciding answer's
    stated confidence (0.8 here) thrown away. It is an LLM's label, stated so: the line
    gives it the deciding answer's score, unmarked, and the audit reads that confidence.
    A deciding file with no scores (a corpus of the user's own) states none: 1.0, marked,
    as a person's."""
    import scipy.sparse as sp

    from tagsmith.audit.review import REVIEW_MARK
    from tagsmith.pipeline.audit import read_audit_corpus
    from tagsmith.pipeline.llm import write_soft_labels

    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, [DOCS[4][1]], sp.csr_matrix([[0.0, 0.9, 0.7]]), SPACE,
                      doc_ids=["e"])
    decide = tmp_path / "decide.jsonl"  # the deciding LLM gives e rain at 0.8
    write_soft_labels(decide, [DOCS[4][1]], sp.csr_matrix([[0.8, 0.9, 0.7]]), SPACE,
                      doc_ids=["e"])
    stats, out, review = _review_decided(tmp_path, labels, decide, "missing", "rain")
    assert stats["n_added"] == 1
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["labels"][-1] == "http://x/rain" and line["scores"][-1] == 0.8
    assert REVIEW_MARK not in line
    assert read_audit_corpus(out, SPACE, confidences=True).confidences[0, 0] == \
        pytest.approx(0.8)
    # a deciding corpus of the user's own (no scores): its labels state no confidence
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"id": "e", "text": DOCS[4][1], "labels": [
        "http://x/rain", "http://x/sun", "http://x/snow"]}) + "\n", encoding="utf-8")
    by_plain = tmp_path / "by_plain.jsonl"
    apply_review(labels, review, by_plain, SPACE, decide_from=plain)
    line = json.loads(by_plain.read_text(encoding="utf-8"))
    assert line[REVIEW_MARK] == ["http://x/rain"] and line["scores"][-1] == 1.0
    assert read_audit_corpus(by_plain, SPACE, confidences=True).confidences[0, 0] == 1.0
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(
        encoding="utf-8").split())
    assert "names the labels a person added in `added_by_review`" in readme
    assert "keeps the deciding answer's score" in readme


def test_a_label_two_alike_answers_add_keeps_their_score(tmp_path):
    """Two lines of one text answering with the same labels (two ``label`` runs,
    concatenated) are merged into one answer; the merge dropped the answers' scores, so
    the label they decided to add scored 1.0, marked as a person's, its stated
    confidence lost. It keeps the lower of the two stated scores."""
    import scipy.sparse as sp

    from tagsmith.audit.review import REVIEW_MARK
    from tagsmith.pipeline.llm import write_soft_labels

    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, [DOCS[4][1]], sp.csr_matrix([[0.0, 0.9, 0.7]]), SPACE,
                      doc_ids=["e"])
    decide = tmp_path / "decide.jsonl"  # no ids: the answers are found by text
    decide.write_text("".join(json.dumps({
        "text": DOCS[4][1], "labels": ["http://x/rain", "http://x/sun", "http://x/snow"],
        "scores": [rain, 0.9, 0.7]}) + "\n" for rain in (0.8, 0.6)), encoding="utf-8")
    stats, out, review = _review_decided(tmp_path, labels, decide, "missing", "rain")
    assert stats["n_added"] == 1
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["labels"][-1] == "http://x/rain" and line["scores"][-1] == 0.6
    assert REVIEW_MARK not in line


def test_a_label_a_person_added_in_the_deciding_file_is_added_as_a_persons(tmp_path):
    """A deciding file that is apply-review's output names the labels a person added
    (``added_by_review``, scoring 1.0): their 1.0 is no LLM's stated confidence, but a
    label it decided to add took that 1.0, unmarked, and the next audit read it as the
    LLM certain. It is added as a person's: 1.0, marked."""
    import scipy.sparse as sp

    from tagsmith.audit.review import REVIEW_MARK
    from tagsmith.pipeline.audit import read_audit_corpus
    from tagsmith.pipeline.llm import write_soft_labels

    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, [DOCS[4][1]], sp.csr_matrix([[0.0, 0.9, 0.7]]), SPACE,
                      doc_ids=["e"])
    decide = tmp_path / "decide.jsonl"  # a reviewed copy: a person added rain there
    decide.write_text(json.dumps({
        "id": "e", "text": DOCS[4][1],
        "labels": ["http://x/sun", "http://x/snow", "http://x/rain"],
        "scores": [0.9, 0.7, 1.0], REVIEW_MARK: ["http://x/rain"]}) + "\n",
        encoding="utf-8")
    stats, out, review = _review_decided(tmp_path, labels, decide, "missing", "rain")
    assert stats["n_added"] == 1
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["labels"][-1] == "http://x/rain" and line[REVIEW_MARK] == ["http://x/rain"]
    assert read_audit_corpus(out, SPACE, confidences=True).confidences[0, 0] == 1.0


def test_a_label_a_person_kept_in_the_deciding_file_is_given_there(tmp_path):
    """A deciding file that is apply-review's output names the labels a person kept
    (``kept_by_review``: a *wrong* row rejected), their scores the LLM's doubt (0.4).
    Read by ``decide_min_score``, such a label was absent from the answer: a *wrong* row
    of it was accepted, the label a person had kept removed. It is given, a person's
    decision whatever its score."""
    import scipy.sparse as sp

    from tagsmith.audit import KEPT_MARK
    from tagsmith.pipeline.llm import write_soft_labels

    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, [DOCS[4][1]], sp.csr_matrix([[0.0, 0.9, 0.4]]), SPACE,
                      doc_ids=["e"])
    decide = tmp_path / "decide.jsonl"  # a reviewed copy: a person kept snow there
    first = json.loads(labels.read_text(encoding="utf-8"))
    decide.write_text(json.dumps({**first, KEPT_MARK: ["http://x/snow"]}) + "\n",
                      encoding="utf-8")
    stats, out, review = _review_decided(tmp_path, labels, decide, "wrong", "snow")
    assert stats["review_rejected"] == 1
    assert stats["n_removed"] == 0
    assert out.read_bytes() == labels.read_bytes()
    # without the mark, the LLM's 0.4 decides as before: the wrong row accepted
    decide.write_text(json.dumps(first) + "\n", encoding="utf-8")
    stats = apply_review(labels, review, out, SPACE, decide_from=decide, overwrite=True)
    assert stats["n_removed"] == 1
