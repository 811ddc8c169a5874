"""`tagsmith audit --reviewed`: a team auditing its corpus again does not meet the pairs
it decided last time at the top of the new queue."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith._surface import command_line
from tagsmith.audit.detect import LabelIssues
from tagsmith.audit.review import doc_key, read_reviewed, reviewed_candidates
from tagsmith.data.labelspace import LabelSpace
from tagsmith.exceptions import ReviewFormatError

tagsmith_cli._register_commands()


def invoke(*args):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(path, rows, **options):
    with open(path, "w", newline="", encoding=options.pop("encoding", "utf-8")) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), **options)
        writer.writeheader()
        writer.writerows(rows)


def pairs(rows):
    return {(row["doc_key"].lstrip("'"), row["label_uri"]) for row in rows}


@pytest.fixture(scope="module")
def month1(goemotions_small, tmp_path_factory):
    """Month 1: 300 documents audited, the first 12 rows of the queue rejected (the
    reviewer says the labels are right) and written to a review of their own."""
    base = tmp_path_factory.mktemp("reviewed")
    corpus = base / "month1.tsv"
    lines = goemotions_small["train"].read_text(encoding="utf-8").splitlines()
    corpus.write_text("\n".join(lines[:300]) + "\n", encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", goemotions_small["vocab"], "-o", base / "a1",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    rows = read_rows(base / "a1" / "review.csv")
    assert len(rows) > 20
    for row in rows[:12]:
        row["decision"] = "reject"
    review = base / "a1-decided.csv"
    write_rows(review, rows)
    # month 2: 100 new documents before the old ones (every old doc number shifts)
    month2 = base / "month2.tsv"
    month2.write_text("\n".join(lines[300:400] + lines[:300]) + "\n", encoding="utf-8")
    return {"base": base, "corpus": corpus, "review": review, "rejected": rows[:12],
            "month2": month2, "vocab": goemotions_small["vocab"]}


def audit2(month1, out, *more):
    result = invoke("audit", month1["month2"], "--vocab", month1["vocab"], "-o",
                    month1["base"] / out, "--scores", "knn", "--no-html", *more)
    assert result.exit_code == 0, result.output
    return result, read_rows(month1["base"] / out / "review.csv")


def test_pairs_decided_in_an_earlier_review_are_left_out_of_the_new_queue(month1):
    _, plain = audit2(month1, "a2")
    again = pairs(plain) & pairs(month1["rejected"])
    assert again  # what a team met: last month's rejections back in this month's queue
    result, rows = audit2(month1, "a2-reviewed", "--reviewed", month1["review"])
    assert not pairs(rows) & pairs(month1["rejected"])
    # every other row is kept, in the same order
    assert [(r["doc_key"], r["label_uri"]) for r in rows] == [
        (r["doc_key"], r["label_uri"]) for r in plain
        if (r["doc_key"].lstrip("'"), r["label_uri"]) not in again]
    section = json.loads((month1["base"] / "a2-reviewed" / "report.json").read_text())[
        "noise"]["reviewed"]
    assert section == {"files": [str(month1["review"])], "n_decided_pairs": 12,
                       "n_left_out": len(again), "n_not_applied": 0,
                       "n_texts_changed": 0}
    assert (f"left out of the review queue: {len(again)} flagged candidate"
            in result.output)


def test_a_review_with_ids_given_for_the_corpus_without_ids_leaves_its_pairs_out(month1):
    """The review of a corpus with ids (doc_id filled in), given with --reviewed for the
    same documents in a TSV (no ids): every decided pair matched nothing, none was left
    out, and nothing said so. They are matched by their text, with a warning."""
    rows = [{**row, "doc_id": f"d{row['doc']}"} for row in month1["rejected"]]
    review = month1["base"] / "a1-ids.csv"
    write_rows(review, rows)
    _, plain = audit2(month1, "a2-plain-ids")
    again = pairs(plain) & pairs(rows)
    assert again
    result, kept = audit2(month1, "a2-ids", "--reviewed", review)
    assert not pairs(kept) & pairs(rows)
    report = json.loads((month1["base"] / "a2-ids" / "report.json").read_text())
    assert report["noise"]["reviewed"]["n_left_out"] == len(again)
    [warned] = [w for w in report["warnings"] if "by their text alone" in w]
    assert warned == ("the corpus has no document ids: the 12 pairs an earlier review "
                      "(--reviewed) decided by id are matched by their text alone (copies "
                      "of one text share a decision)")


def test_a_review_sample_says_how_many_of_its_rows_a_review_decided(month1):
    """--review-sample drew its documents whatever --reviewed had decided, and asked the
    reviewer about those pairs again without a word (beside a queue that left them out).
    The draw stays uniform (estimate-noise needs it); the rows decided before are
    counted and warned of."""
    audit2(month1, "a2-sample", "--reviewed", month1["review"], "--review-sample", "400")
    sample = read_rows(month1["base"] / "a2-sample" / "sample.csv")
    assert pairs(month1["rejected"]) <= pairs(sample)  # every document drawn
    report = json.loads((month1["base"] / "a2-sample" / "report.json").read_text())
    assert report["review_sample"]["n_rows_reviewed_before"] == 12
    [warned] = [w for w in report["warnings"] if "of the review sample" in w]
    assert warned.startswith("12 rows of the review sample (") and \
        "decide a pair an earlier review (--reviewed) decided" in warned



def test_the_warnings_of_an_earlier_review_name_audit_corpus_s_parameter_from_python(
        month1):
    """audit_corpus(..., reviewed=read_reviewed(...)) from Python warned of "an earlier
    review (--reviewed)", an option no function of theirs has; the command's warnings
    (the test above) keep it. (The by-text warning's two wordings: further down.)"""
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus, read_audit_corpus

    space = load_vocabulary(month1["vocab"])
    data = read_audit_corpus(month1["month2"], space)
    result = audit_corpus(data.texts, data.Y, space,
                          options=AuditOptions(scores="knn", review_sample=400),
                          lines=data.lines, doc_ids=data.doc_ids,
                          reviewed=read_reviewed(month1["review"], space))
    warned = " ".join(result.report["warnings"])
    assert "decide a pair an earlier review (reviewed=read_reviewed(...)) decided" in warned, \
        warned
    assert "--reviewed" not in warned

def test_max_review_is_filled_with_undecided_rows(month1):
    _, rows = audit2(month1, "a2-capped", "--reviewed", month1["review"], "--max-review",
                     "10")
    assert len(rows) == 10 and not pairs(rows) & pairs(month1["rejected"])


def test_a_review_saved_by_a_spreadsheet_is_read_as_the_audits(month1):
    """CRLF, a byte-order mark, `;` between cells and a column of the reviewer's own."""
    rows = read_rows(month1["review"])
    for row in rows:
        row["Notes"] = "seen"
    edited = month1["base"] / "a1-excel.csv"
    write_rows(edited, rows, encoding="utf-8-sig", delimiter=";", lineterminator="\r\n")
    _, plain = audit2(month1, "a2-excel-plain")
    _, kept = audit2(month1, "a2-excel", "--reviewed", edited)
    assert not pairs(kept) & pairs(month1["rejected"])
    assert len(kept) < len(plain)


def test_an_accepted_fix_the_corpus_lacks_stays_in_the_queue_with_a_warning(month1):
    rows = read_rows(month1["review"])
    _, plain = audit2(month1, "a2-plain")
    shared = pairs(plain) & pairs(month1["rejected"])
    for row in rows[:12]:  # accepted, and the review never applied
        row["decision"] = "accept"
    accepted = month1["base"] / "a1-accepted.csv"
    write_rows(accepted, rows)
    result, kept = audit2(month1, "a2-unapplied", "--reviewed", accepted)
    assert pairs(kept) & pairs(month1["rejected"]) == shared
    report = json.loads((month1["base"] / "a2-unapplied" / "report.json").read_text())
    assert report["noise"]["reviewed"]["n_not_applied"] == len(shared)
    assert any("apply that review to this corpus" in w for w in report["warnings"])
    assert f"{len(shared)} kept, decided there the other way from this corpus" in result.output


def test_a_file_that_is_no_review_is_refused_naming_it(month1):
    result = invoke("audit", month1["month2"], "--vocab", month1["vocab"], "-o",
                    month1["base"] / "a2-bad", "--scores", "knn", "--no-html",
                    "--reviewed", month1["corpus"])
    assert result.exit_code == 2
    assert f"{month1['corpus']} is no review file" in result.output, result.output
    assert "--reviewed" in result.output
    # a corpus saved as CSV: no review's columns, named at its header line
    corpus_csv = month1["base"] / "corpus.csv"
    corpus_csv.write_text("text,labels\nhello,urn:goemotions:joy\n", encoding="utf-8")
    result = invoke("audit", month1["month2"], "--vocab", month1["vocab"], "-o",
                    month1["base"] / "a2-bad", "--scores", "knn", "--no-html",
                    "--reviewed", corpus_csv)
    assert result.exit_code == 3
    assert f"{corpus_csv}:1" in result.output and "missing column" in result.output
    assert not (month1["base"] / "a2-bad" / "review.csv").exists()
    rows = read_rows(month1["review"])
    rows[3]["doc_key"] = "not a key"
    bad = month1["base"] / "a1-badkey.csv"
    write_rows(bad, rows)
    result = invoke("audit", month1["month2"], "--vocab", month1["vocab"], "-o",
                    month1["base"] / "a2-bad", "--scores", "knn", "--no-html",
                    "--reviewed", bad)
    assert result.exit_code == 3 and f"{bad}:5" in result.output, result.output
    result = invoke("audit", month1["month2"], "--vocab", month1["vocab"], "-o",
                    month1["base"] / "a2-bad", "--reviewed", "-")
    assert result.exit_code == 2 and "--reviewed" in result.output


def test_an_audit_into_the_folder_of_the_review_it_was_given_does_not_replace_it(month1):
    """Audited into last month's folder with --force, the decisions the audit had just
    read were overwritten by an undecided queue: month 3 had nothing to give."""
    folder = month1["base"] / "same"
    folder.mkdir()
    review = folder / "review.csv"
    review.write_bytes(month1["review"].read_bytes())
    result = invoke("audit", month1["month2"], "--vocab", month1["vocab"], "-o", folder,
                    "--scores", "knn", "--no-html", "--reviewed", review, "--force")
    assert result.exit_code == 3, result.output
    assert "is an input of this audit" in result.output
    assert review.read_bytes() == month1["review"].read_bytes()


def test_no_next_step_is_printed_when_every_flagged_candidate_was_decided(month1):
    """Every row decided: the audit of the same corpus has an empty queue, and told the
    reviewer to fill in its decision column and apply it anyway."""
    rows = read_rows(month1["review"])
    for row in rows:
        row["decision"] = "reject"
    every = month1["base"] / "a1-every.csv"
    write_rows(every, rows)
    # without -q, which hides the next: lines (on stderr) whatever the queue holds
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "audit", str(month1["corpus"]), "--vocab", str(month1["vocab"]), "-o",
        str(month1["base"] / "a1-again"), "--scores", "knn", "--no-html", "--reviewed",
        str(every)])
    assert result.exit_code == 0, result.output
    assert read_rows(month1["base"] / "a1-again" / "review.csv") == []
    assert f"left out of the review queue: {len(rows)} flagged" in result.output
    assert "next: fill in" not in result.output


def _issues(docs, labels, kinds):
    n = len(docs)
    zeros = np.zeros(n)
    return LabelIssues(doc=np.array(docs), label=np.array(labels), kind=np.array(kinds),
                       probability=zeros, score=zeros, flagged=np.ones(n, bool),
                       n_given=np.zeros(2), band=np.zeros(2), threshold=np.zeros(2),
                       wrong_rate=np.zeros(2), missing_rate=np.zeros(2),
                       est_wrong=np.zeros(2), est_missing=np.zeros(2),
                       doc_quality=np.zeros(n), n_docs=3, n_labels=2)


def _read_rows(tmp_path, *rows):
    """The pairs a review.csv of ``rows`` (under its header) decides, over labels a, b."""
    review = tmp_path / "review.csv"
    review.write_text("rank,decision,kind,action,label_uri,doc,doc_id,doc_key\n" + "".join(rows),
                      encoding="utf-8")
    return read_reviewed([review], LabelSpace.from_uris(["urn:a", "urn:b"]))


def test_a_document_with_an_id_is_named_by_it_not_by_its_text(tmp_path):
    """Two documents of one text ("Thank you!") and ids of their own: a decision on one
    says nothing of the other; a text edited since the review is asked about again (it
    kept its id's decision, and dropped out of the queue unseen)."""
    pairs_ = _read_rows(tmp_path,
                        f"1,reject,wrong,remove,urn:a,0,d1,{doc_key('Thank you!')}\n"
                        f"2,reject,missing,add,urn:b,1,,{doc_key('no id here')}\n")
    texts = ["Thank you!", "Thank you!", "no id here", "Thank you, edited"]
    issues = _issues([0, 1, 2, 3, 2], [0, 0, 1, 0, 1], [1, 1, 0, 1, 1])
    decided, undone = reviewed_candidates(pairs_, issues, texts, ["d2", "d3", None, "d1"])
    # d2 and d3 share d1's old text, undecided; d1 (edited) undecided; the missing b
    # rejected on the id-less text is decided, a wrong b on it says the reviewer was
    # contradicted (the label was added anyway): kept
    assert decided.tolist() == [False, False, True, False, False]
    assert undone.tolist() == [False, False, False, False, True]


def test_a_review_with_ids_given_for_a_corpus_without_ids_matches_by_text(tmp_path):
    """A review of the corpus with ids (its rows' doc_id filled in), given for the
    corpus read without them (a text column alone): every row matched nothing, and the
    pairs decided were back in the queue. They are matched by their text's fingerprint;
    of a corpus with ids, by id and fingerprint as before."""
    pairs_ = _read_rows(tmp_path,
                        f"1,reject,wrong,remove,urn:a,0,d1,{doc_key('Thank you!')}\n"
                        f"2,accept,wrong,remove,urn:b,1,d2,{doc_key('so sad')}\n"
                        # one text, two ids, decided apart the two ways: nothing said of it
                        f"3,reject,wrong,remove,urn:a,2,d3,{doc_key('ok')}\n"
                        f"4,accept,wrong,remove,urn:a,3,d4,{doc_key('ok')}\n")
    texts = ["so sad", "Thank you!", "ok", "edited"]
    # a wrong a on "Thank you!" (rejected: decided), a wrong b on "so sad" (accepted: the
    # corpus still has it, not applied), a wrong a on "ok" (undecided), and on "edited"
    issues = _issues([1, 0, 2, 3], [0, 1, 0, 0], [1, 1, 1, 1])
    decided, undone = reviewed_candidates(pairs_, issues, texts)
    assert decided.tolist() == [True, False, False, False]
    assert undone.tolist() == [False, True, False, False]
    # with ids, the id decides: "Thank you!" under another id is undecided, "ok" under
    # d3 decided, d1 edited since undecided
    decided, undone = reviewed_candidates(pairs_, issues, texts, ["d2", "d9", "d3", "d1"])
    assert decided.tolist() == [False, False, True, False]
    assert undone.tolist() == [False, True, False, False]


def test_rows_whose_ids_name_no_document_are_matched_by_their_text(tmp_path):
    """A review whose doc_id cells a spreadsheet rewrote past reading (``d1`` as
    ``D-1``), or of the corpus under another id scheme: every row matched nothing, and
    the pairs were back in the queue. A row whose id names no document is matched by its
    text where one document has it (of an id no row names); a text two such documents
    share is ambiguous and decides nothing, nor does a document named by another row."""
    from tagsmith.audit.review import ReviewedPairs

    pairs_ = _read_rows(tmp_path,
                        f"1,reject,wrong,remove,urn:a,0,D-1,{doc_key('Thank you!')}\n"
                        f"2,reject,wrong,remove,urn:a,1,D-2,{doc_key('ok')}\n"
                        f"3,reject,wrong,remove,urn:b,2,d3,{doc_key('so sad')}\n"
                        f"4,reject,wrong,remove,urn:a,2,D-4,{doc_key('so sad')}\n")
    texts = ["Thank you!", "ok", "ok", "so sad"]
    ids = ["d1", "d2", "d9", "d3"]
    issues = _issues([0, 1, 2, 3], [0, 0, 0, 0], [1, 1, 1, 1])
    decided, undone = reviewed_candidates(pairs_, issues, texts, ids)
    # "ok" is the text of d2 and d9; d3 is named by row 3, so row 4 is not its
    assert decided.tolist() == [True, False, False, False]
    assert not undone.any()
    fallback = pairs_.text_fallback(ids, lambda doc: doc_key(texts[doc]))
    assert (sorted(fallback.lost), fallback.n_pairs, fallback.n_matched,
            fallback.n_ambiguous) == (["D-1", "D-2", "D-4"], 3, 1, 1)
    assert not ReviewedPairs().text_fallback(ids, lambda doc: doc_key(texts[doc])).lost


def test_rows_of_lost_ids_deciding_one_pair_both_ways_are_not_counted_as_matched(tmp_path):
    """Two rows whose ids name no document, of one text and label, decided both ways,
    decide nothing; the warning's count said both were matched by their text."""
    pairs_ = _read_rows(tmp_path,
                        f"1,reject,wrong,remove,urn:a,0,D-1,{doc_key('Thank you!')}\n"
                        f"2,accept,wrong,remove,urn:a,0,D-2,{doc_key('Thank you!')}\n"
                        f"3,reject,wrong,remove,urn:b,0,D-2,{doc_key('Thank you!')}\n")
    texts, ids = ["Thank you!", "ok"], ["d1", "d2"]
    issues = _issues([0, 0, 1], [0, 1, 0], [1, 1, 1])
    decided, _ = reviewed_candidates(pairs_, issues, texts, ids)
    assert decided.tolist() == [False, True, False]
    fallback = pairs_.text_fallback(ids, lambda doc: doc_key(texts[doc]))
    assert (fallback.n_pairs, fallback.n_matched, fallback.n_ambiguous) == (3, 1, 0)


def test_rows_of_lost_ids_a_row_without_an_id_decides_are_not_asked_again(tmp_path):
    """Rows whose ids name no document, of a text several documents share, match
    nothing by themselves; but a row of that text and label without an id decides the
    pair for every document of the text. The warning said such pairs were "asked about
    again" while the audit left them out of its queue as decided."""
    from tagsmith.pipeline.audit import _by_text_message

    key = doc_key("Thank you!")
    pairs_ = _read_rows(tmp_path, f"1,reject,wrong,remove,urn:a,0,D-1,{key}\n",
                        f"2,reject,wrong,remove,urn:a,1,,{key}\n",
                        f"3,reject,wrong,remove,urn:b,0,D-1,{key}\n")
    texts, ids = ["Thank you!", "Thank you!", "ok"], ["d1", "d2", "d3"]
    issues = _issues([0, 1, 0], [0, 0, 1], [1, 1, 1])
    decided, _ = reviewed_candidates(pairs_, issues, texts, ids)
    assert decided.tolist() == [True, True, False]  # urn:b of a shared text: undecided
    fallback = pairs_.text_fallback(ids, lambda doc: doc_key(texts[doc]))
    assert (fallback.n_pairs, fallback.n_matched, fallback.n_ambiguous) == (2, 1, 1)
    assert _by_text_message(pairs_, ids, fallback).endswith(
        "matched by their text alone, 1 of them; 1 not, their text being that of several "
        "documents whose ids do not say which one: asked about again")


def test_a_corpus_whose_ids_are_all_none_is_a_corpus_without_ids(tmp_path):
    """The command line passes a TSV corpus's ids as a None each: such a corpus was
    taken for one with ids, and a review's rows with ids matched nothing there."""
    pairs_ = _read_rows(tmp_path,
                        f"1,reject,wrong,remove,urn:a,0,d1,{doc_key('Thank you!')}\n")
    issues = _issues([0, 1], [0, 0], [1, 1])
    decided, _ = reviewed_candidates(pairs_, issues, ["so sad", "Thank you!"], (None, None))
    assert decided.tolist() == [False, True]


def test_a_document_with_an_id_and_its_text_unchanged_keeps_its_decision(tmp_path):
    """Matched on the id and the text's fingerprint since an edited text is asked about
    again: the case it is for, a document whose id and text are both as reviewed (moved
    in the corpus), was in no test; decisions on ids could match nothing and every test
    passed."""
    pairs_ = _read_rows(tmp_path,
                        f"1,reject,wrong,remove,urn:a,0,d1,{doc_key('Thank you!')}\n"
                        f"2,accept,missing,add,urn:b,0,d1,{doc_key('Thank you!')}\n")
    texts = ["a new one", "Thank you!"]
    # d1 is doc 1 now: its wrong a (rejected: the label applies) is decided, its missing
    # b (accepted, but the corpus still lacks it) was undone
    issues = _issues([1, 1, 0], [0, 1, 0], [1, 0, 1])
    decided, undone = reviewed_candidates(pairs_, issues, texts, ["d9", "d1"])
    assert decided.tolist() == [True, False, False]
    assert undone.tolist() == [False, True, False]


def test_a_review_contradicting_itself_is_refused_naming_both_lines(tmp_path):
    space = LabelSpace.from_uris(["urn:a"])
    key = doc_key("x")
    review = tmp_path / "review.csv"
    review.write_text("rank,decision,kind,label_uri,doc,doc_key\n"
                      f"1,reject,wrong,urn:a,0,{key}\n"
                      f"2,accept,wrong,urn:a,0,{key}\n", encoding="utf-8")
    with pytest.raises(ReviewFormatError, match="contradicts line 2") as info:
        read_reviewed([review], space)
    assert f"{review}:3" in str(info.value)


def test_decided_rows_of_labels_the_vocabulary_lacks_are_warned_of(tmp_path, caplog):
    # a review of another vocabulary was read as no decision at all, and nothing said why
    space = LabelSpace.from_uris(["urn:a"])
    key = doc_key("x")
    review = tmp_path / "review.csv"
    review.write_text("rank,decision,kind,label_uri,doc,doc_key\n"
                      f"1,reject,wrong,urn:other,0,{key}\n"
                      f"2,,wrong,urn:else,0,{key}\n"
                      f"3,reject,missing,urn:more,0,{key}\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert not len(read_reviewed([review], space, space_name="v.tsv"))
    assert (f"{review}: 2 of its 2 decided rows name a label not in v.tsv, left out "
            "(first: line 2, 'urn:other'): is it a review of another vocabulary?"
            in caplog.text), caplog.text


def test_a_review_with_no_decided_row_is_warned_of(tmp_path, caplog):
    # last month's queue given before anyone filled it in said only "0 decided pairs"
    space = LabelSpace.from_uris(["urn:a"])
    review = tmp_path / "review.csv"
    review.write_text("rank,decision,kind,label_uri,doc,doc_key\n"
                      f"1,,wrong,urn:a,0,{doc_key('x')}\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert len(read_reviewed([review], space)) == 0
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert message.startswith(f"{review}: no row is decided")


def test_an_empty_queue_given_again_is_said_nothing_of(tmp_path, caplog):
    # a month whose every candidate was decided before wrote a review of no rows; given
    # next month, it was told its decision column is empty, as if one were to fill it
    space = LabelSpace.from_uris(["urn:a"])
    review = tmp_path / "review.csv"
    review.write_text("rank,decision,kind,label_uri,doc,doc_key\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert len(read_reviewed([review], space)) == 0
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []


def test_documents_decided_by_id_whose_text_changed_are_counted_and_warned_of(
        tmp_path, caplog):
    """Matched on id and text, a corpus read with other text columns (every text
    another) brought every decided pair back into the queue with no word."""
    from tagsmith.audit.review import texts_changed
    from tagsmith.pipeline.audit import _reviewed_section

    pairs_ = _read_rows(tmp_path,
                        f"1,reject,wrong,remove,urn:a,0,d1,{doc_key('Thank you!')}\n"
                        f"2,reject,wrong,remove,urn:a,1,d2,{doc_key('so sad')}\n")
    texts, ids = ["Thank you! (subject line too)", "so sad", "new"], ["d1", "d2", "d3"]
    assert texts_changed(pairs_, texts, ids) == ["d1"]
    issues = _issues([0, 1], [0, 0], [1, 1])
    decided, undone = reviewed_candidates(pairs_, issues, texts, ids)
    warnings: list[str] = []
    with caplog.at_level("WARNING", logger="tagsmith"):
        section = _reviewed_section(pairs_, issues, decided, undone,
                                    LabelSpace.from_uris(["urn:a", "urn:b"]), "en", texts,
                                    ids, None, warnings)
    assert section["n_texts_changed"] == 1 and section["n_left_out"] == 1
    [message] = warnings
    assert message.startswith("1 document an earlier review decided by id has another "
                              "text now") and "(first: id 'd1')" in message
    assert message in caplog.text


def test_texts_changed_reads_the_fingerprints_reviewed_candidates_took(tmp_path):
    """texts_changed hashed again every text reviewed_candidates had hashed (the flagged
    documents decided by id): they share one map of fingerprints now, filled by the
    first and read by the second, which hashes only the documents it lacks."""
    from tagsmith.audit.review import texts_changed

    pairs_ = _read_rows(tmp_path,
                        f"1,reject,wrong,remove,urn:a,0,d1,{doc_key('Thank you!')}\n"
                        f"2,reject,wrong,remove,urn:a,1,d2,{doc_key('so sad')}\n")
    texts, ids = ["Thank you!", "so sad", "new"], ["d1", "d2", "d3"]
    keys: dict[int, str] = {}
    reviewed_candidates(pairs_, _issues([0], [0], [1]), texts, ids, keys=keys)
    assert keys == {0: doc_key("Thank you!")}  # the flagged document's, hashed once
    # a fingerprint in the map is read, not computed: one planted for document 0 that
    # is not its text's says its text changed
    keys[0] = doc_key("Thank you, edited")
    assert texts_changed(pairs_, texts, ids, keys) == ["d1"]
    assert keys[1] == doc_key("so sad") and 2 not in keys  # d3: decided by no review
    assert texts_changed(pairs_, texts, ids) == []


def test_a_decided_row_whose_action_contradicts_its_kind_is_refused(tmp_path):
    # apply-review and estimate-noise refused it; --reviewed read 'wrong' with 'add' as a
    # rejected wrong label (one of three copies of the kind rule, now one: row_kind)
    space = LabelSpace.from_uris(["urn:a"])
    review = tmp_path / "review.csv"
    review.write_text("rank,decision,kind,action,label_uri,doc,doc_key\n"
                      f"1,reject,wrong,add,urn:a,0,{doc_key('x')}\n", encoding="utf-8")
    with pytest.raises(ReviewFormatError, match="action 'add' contradicts kind 'wrong'") \
            as info:
        read_reviewed([review], space)
    assert f"{review}:2" in str(info.value)


def test_read_reviewed_takes_one_path_as_one_file(tmp_path):
    """A Python caller giving one review file's path, not a list of them, had each of its
    characters opened as a file ('/': not a review); the path is now read as the file."""
    space = LabelSpace.from_uris(["urn:a"])
    review = tmp_path / "review.csv"
    review.write_text(
        "rank,decision,kind,action,label_uri,doc,doc_id,doc_key\n"
        f"1,reject,wrong,remove,urn:a,0,,{doc_key('Rain')}\n", encoding="utf-8")
    for given in (review, str(review)):
        read = read_reviewed(given, space)
        assert read.files == [str(review)]
        assert read.verdict(None, doc_key("Rain"), 0) is True


def test_audit_corpus_names_a_reviewed_that_is_not_read(tmp_path):
    """audit_corpus(..., reviewed="review.csv") went through the whole audit and failed
    deep in it ('str' object has no attribute 'verdict'); it now refuses the parameter
    first, saying what to give."""
    import scipy.sparse as sp

    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.audit import audit_corpus

    space = LabelSpace.from_uris(["urn:a", "urn:b"])
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 10))
    texts = [f"text {i}" for i in range(20)]
    with pytest.raises(InvalidParameterError, match="'reviewed' must be read_reviewed"):
        audit_corpus(texts, Y, space, reviewed=str(tmp_path / "review.csv"))


def test_ids_a_spreadsheet_rewrote_name_their_documents_as_apply_review_reads_them(
        tmp_path):
    """A review saved by a spreadsheet writes ``0042`` as ``42`` and a long id as
    ``1.23457E+15``: apply-review read such ids, but audit --reviewed compared them
    exactly, matched nothing and asked every pair again. The fingerprint still decides:
    an id of another text, or a neighbouring number, is not matched."""
    pairs_ = _read_rows(tmp_path,
                        f"1,reject,wrong,remove,urn:a,0,42,{doc_key('Thank you!')}\n"
                        f"2,reject,wrong,remove,urn:a,1,1.23457E+15,{doc_key('so sad')}\n"
                        f"3,reject,wrong,remove,urn:b,2,7,{doc_key('ok')}\n")
    texts = ["Thank you!", "so sad", "ok", "ok"]
    issues = _issues([0, 1, 2, 3], [0, 0, 1, 1], [1, 1, 1, 1])
    decided, undone = reviewed_candidates(
        pairs_, issues, texts, ["0042", "1234567890123456", "0008", "07"])
    assert decided.tolist() == [True, True, False, True]
    assert not undone.any()


def test_texts_changed_counts_a_document_named_by_an_id_a_spreadsheet_rewrote(tmp_path):
    """A document decided under ``42`` (a spreadsheet's ``0042``) whose text was edited
    since was not counted in ``n_texts_changed``: texts_changed matched ids exactly,
    though the decisions read them as ReviewedPairs.decision does. Its neighbours
    (``43``, another long number) are not named by them."""
    from tagsmith.audit.review import texts_changed

    pairs_ = _read_rows(tmp_path,
                        f"1,reject,wrong,remove,urn:a,0,42,{doc_key('Thank you!')}\n"
                        f"2,reject,wrong,remove,urn:a,1,1.23457E+15,{doc_key('so sad')}\n"
                        f"3,reject,wrong,remove,urn:a,2,1.23457E+15,{doc_key('so glad')}\n"
                        f"4,reject,wrong,remove,urn:b,3,7,{doc_key('ok')}\n")
    texts = ["Thank you so much!", "so sad!", "so glad", "ok", "fine", "so sad!"]
    ids = ["0042", "1234567890123456", "1234574000000000", "07", "0043", "1234667890123456"]
    # the second edited, the third as reviewed (one of the rows of its id names it)
    assert texts_changed(pairs_, texts, ids) == ["0042", "1234567890123456"]


def test_ids_named_in_one_pass_are_those_named_one_at_a_time():
    """texts_changed, text_fallback and apply-review's second look find the documents
    the review's ids name in one pass over the corpus's ids (_NumericIds.naming_each:
    5 s at 1,000,000 numeric ids one at a time); each document it finds, and no other,
    is one naming() finds, with the same ids: spreadsheet numbers (``42``, rounded
    ``1.23457E+15``), ids with spaces around them, text ids, ids float() reads (``1e3``,
    ``1_000``, Arabic-Indic digits) and ones it does not (``nan``, ``1e999``)."""
    from tagsmith.audit.review import _NumericIds

    rng = np.random.default_rng(53)
    written = ["42", "0042", "1.23457E+15", "1.2E+3", "a7", " 17 ", "5e0", "1e999", "nan",
               "-3", "12.50", "\u0664\u0662", "inf", "1_000", "x-1"]
    ids = [f"{i:04d}" for i in range(1300)]
    ids += ["1234567890123456", "1234667890123456", "1200", "1249", "1150", "a7", " a7",
            "17", " 17", "nan", "inf", "-0003", "12.5", "42", "", None, "x", "1e3",
            "1.5e15", "x-1", "\u0664\u0662", "1000.0", "1e999"]
    ids += [str(n) for n in rng.integers(10**15, 2 * 10**15, 2000)]
    # past the first slice of 65,536 ids: the ids named there are found too
    ids += [f"{n:06d}" for n in range(70_000)] + ["0042", "1234567890123456"]
    for index in (_NumericIds(written), _NumericIds(["a7", "x-1"]), _NumericIds(["42"])):
        one_at_a_time = {n: index.naming(i) for n, i in enumerate(ids) if i and index.naming(i)}
        assert index.naming_each(ids) == one_at_a_time
        assert len(one_at_a_time) > 1


def test_ids_near_a_floats_limit_are_named_in_one_pass_without_a_warning():
    """naming_each's window of a number near a float's limit (an id ``9e307`` beside a
    rounded ``1E+17``) overflowed numpy's multiply: a RuntimeWarning printed to the
    user, an error under ``-W error``. It is infinite, as naming()'s, and said nothing."""
    import warnings

    from tagsmith.audit.review import _NumericIds

    index = _NumericIds(["1E+17", "9e307"])
    ids = ["9e307", "1.7e308", "100000000000000000", "5"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        each = index.naming_each(ids)
    assert each == {n: index.naming(i) for n, i in enumerate(ids) if index.naming(i)}
    assert 0 in each and 2 in each and 3 not in each


@pytest.mark.parametrize(("written", "named", "not_named"), [
    # a one-digit 9e307 was taken for 1.7e308 (within half of the larger number)
    ("9e307", ["8.51e307", "9e307", "9.49e307"], ["8.4e307", "9.51e307", "1.7e308"]),
    # 1.23457E+15 stands for 1,234,565,000,000,000 to 1,234,575,000,000,000
    ("1.23457E+15", ["1234565000000000", "1234570000000000", "1234574999999999"],
     ["1234564999999999", "1234575500000000", "1234580000000000"]),
    ("1.20E+3", ["1195", "1204"], ["1194", "1206", "1249"]),
    ("0.0120e3", ["11.951", "12.04"], ["11.94", "12.06"]),
])
def test_a_rounded_id_names_the_numbers_within_half_a_unit_of_its_last_digit(
        written, named, not_named):
    """A spreadsheet's rounded id (``1.23457E+15``) names the ids it may have been
    rounded from: those within half a unit of its last digit shown, and no others. The
    tolerance was 0.5 * 10 ** (1 - digits) of the larger number, up to 20 times wider:
    a one-digit ``9e307`` named a document ``1.7e308``. One at a time and in one pass."""
    from tagsmith.audit.review import _NumericIds, _same_id

    assert [doc_id for doc_id in named + not_named if _same_id(written, doc_id)] == named
    index = _NumericIds([written])
    assert sorted(index.naming_each(named + not_named)) == list(range(len(named)))


@pytest.mark.parametrize(("written", "named", "not_named"), [
    # past a float's range: the numbers compared exactly (every such pair was "the same
    # number", two infinities, to _same_id, and none to the index)
    ("1E999", ["1e999", "1.0e999", "10E998"], ["2e999", "1e998", "inf", "Infinity"]),
    ("2E308", ["1.6e308", "2e308", "2.4e308"], ["1e308", "2.5e308", "1e999"]),
    # words, not numbers
    ("inf", [], ["Infinity", "1e999", "INF "]),
])
def test_ids_past_a_float_s_range_name_the_same_documents_by_index_and_one_by_one(
        written, named, not_named):
    """``_same_id`` took ``1E999`` for ``2e999`` (both infinite floats) and ``inf`` for
    ``Infinity``, while the index of review ids (:class:`_NumericIds`, of audit
    --reviewed and apply-review's moved rows) found none of them: one row's id named a
    document one way and not the other. Now both read such a number exactly."""
    from tagsmith.audit.review import _NumericIds, _same_id

    assert [doc_id for doc_id in named + not_named if _same_id(written, doc_id)] == named
    index = _NumericIds([written])
    assert [doc_id for doc_id in named + not_named if index.naming(doc_id)] == named
    assert sorted(index.naming_each(named + not_named)) == list(range(len(named)))


@pytest.mark.parametrize(("written", "named", "not_named"), [
    # 1550 shown with 2 digits is 1.6E+3 (half away from zero, as Excel and
    # LibreOffice round a number they show), not 1.5E+3
    ("1.5E+3", ["1450", "1500", "1549.999"], ["1449.999", "1550", "1551"]),
    ("1.6E+3", ["1550", "1649.999"], ["1549.999", "1650"]),
    ("-1.5E+3", ["-1450", "-1549.999"], ["-1449.999", "-1550"]),
    ("-1.6E+3", ["-1550", "-1649.999"], ["-1650"]),
    # exact, not as floats: 0.125 shown with 2 digits is 1.3E-1
    ("1.2E-1", ["0.115", "0.1249"], ["0.125", "0.1149"]),
    ("1.3E-1", ["0.125"], ["0.135"]),
    ("0E+0", ["0", "0.4", "-0.4"], ["0.5", "-0.5"]),
    # a zero's shown zeros say its last place: 0.00E+00 named 0.3
    ("0.00E+00", ["0", "0.004", "-0.004"], ["0.005", "0.3", "-0.005"]),
])
def test_a_rounded_id_names_each_number_on_one_side_of_a_boundary(written, named,
                                                                    not_named):
    """The numbers a rounded id names were those within half a unit of its last digit,
    both ends included: 1550 was named by 1.5E+3 and by 1.6E+3, two rows for one
    document. A spreadsheet rounds half away from zero: the interval is half-open, so
    each number is named by one rounding alone."""
    from tagsmith.audit.review import _NumericIds, _same_id

    assert [doc_id for doc_id in named + not_named if _same_id(written, doc_id)] == named
    index = _NumericIds([written])
    assert sorted(index.naming_each(named + not_named)) == list(range(len(named)))


def test_a_number_on_a_rounding_boundary_is_named_by_one_id_alone():
    from tagsmith.audit.review import _NumericIds

    index = _NumericIds(["1.5E+3", "1.6E+3", "-1.5E+3", "-1.6E+3"])
    assert index.naming("1550") == ["1.6E+3"]
    assert index.naming("-1550") == ["-1.6E+3"]
    assert index.naming_each(["1550", "1450", "-1550"]) == {
        0: ["1.6E+3"], 1: ["1.5E+3"], 2: ["-1.6E+3"]}


def test_pairs_of_a_corpus_without_ids_decided_both_ways_are_not_counted_as_matched(
        tmp_path):
    """Of a corpus without ids, a review's rows with ids are matched by their text; rows
    of one text and label under two ids decided both ways decide nothing (asked about
    again), and the warning counted them as matched all the same."""
    from tagsmith.pipeline.audit import _by_text_message

    key = doc_key("Thank you!")
    pairs_ = _read_rows(tmp_path, f"1,reject,wrong,remove,urn:a,0,d1,{key}\n",
                        f"2,accept,wrong,remove,urn:a,1,d9,{key}\n",
                        f"3,reject,wrong,remove,urn:b,0,d1,{key}\n")
    decided, undone = reviewed_candidates(pairs_, _issues([0, 0], [0, 1], [1, 1]),
                                          ["Thank you!", "ok"], None)
    assert decided.tolist() == [False, True] and not undone.any()
    # a command's wording names its option; a Python caller's audit_corpus's parameter
    with command_line():
        assert _by_text_message(pairs_, None, None) == (
            "the corpus has no document ids: of the 3 pairs an earlier review (--reviewed) "
            "decided by id, 1 is matched by its text alone (copies of one text share a "
            "decision); 2 not, rows of one text and label under other ids deciding it both "
            "ways: asked about again")
    assert _by_text_message(pairs_, None, None) == (
        "the corpus has no document ids: of the 3 pairs an earlier review "
        "(reviewed=read_reviewed(...)) decided by id, 1 is matched by its text alone "
        "(copies of one text share a decision); 2 not, rows of one text and label under "
        "other ids deciding it both ways: asked about again")
    agreeing = _read_rows(tmp_path, f"1,reject,wrong,remove,urn:a,0,d1,{key}\n",
                          f"2,reject,wrong,remove,urn:a,1,d9,{key}\n")
    with command_line():
        assert _by_text_message(agreeing, None, None) == (
            "the corpus has no document ids: the 2 pairs an earlier review (--reviewed) "
            "decided by id are matched by their text alone (copies of one text share a "
            "decision)")
    assert "(--reviewed)" not in _by_text_message(agreeing, None, None)


def test_pairs_decided_both_ways_that_a_row_without_an_id_decides_are_not_asked_again(
        tmp_path):
    """Of a corpus without ids, rows of one text and label under two ids decided both
    ways decide nothing, unless a row of that text and label without an id decides it:
    the warning counted such pairs as "asked about again" all the same, while the
    audit left them out of its queue as decided."""
    from tagsmith.pipeline.audit import _by_text_message

    key = doc_key("Thank you!")
    pairs_ = _read_rows(tmp_path, f"1,reject,wrong,remove,urn:a,0,d1,{key}\n",
                        f"2,accept,wrong,remove,urn:a,1,d9,{key}\n",
                        f"3,reject,wrong,remove,urn:a,2,,{key}\n",
                        f"4,reject,wrong,remove,urn:b,0,d1,{key}\n")
    decided, undone = reviewed_candidates(pairs_, _issues([0, 0], [0, 1], [1, 1]),
                                          ["Thank you!", "ok"], None)
    assert decided.tolist() == [True, True] and not undone.any()  # both decided
    assert _by_text_message(pairs_, None, None) == (
        "the corpus has no document ids: the 3 pairs an earlier review "
        "(reviewed=read_reviewed(...)) decided by id are matched by their text alone "
        "(copies of one text share a decision)")


@pytest.mark.parametrize(("written", "named", "not_named"), [
    ("1234567890123456789", ["1234567890123456789", "01234567890123456789"],
     ["1234567890123456788", "1234567890123456790", "1234567890123456700"]),
    # every digit shown in E-notation: half a unit of the last is less than 1
    ("1.234567890123456789E+18", ["1234567890123456789"], ["1234567890123456788"]),
])
def test_long_numeric_ids_one_apart_are_not_one_document(written, named, not_named):
    """A review's id of 19 digits (a snowflake id, 1234567890123456789) named the
    documents of the ids next to it as the same number: they are one float. The
    numbers are compared exactly, one at a time and in one pass."""
    from tagsmith.audit.review import _NumericIds, _same_id

    assert [doc_id for doc_id in named + not_named if _same_id(written, doc_id)] == named
    index = _NumericIds([written])
    assert sorted(index.naming_each(named + not_named)) == list(range(len(named)))
