"""--text-column / ``text_columns``: a CSV or JSONL corpus naming the columns (keys) that
hold its documents' text, as a helpdesk export (``id,subject,body,created_at``) does."""

import json
import re
import shlex
import threading

import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.audit.review import apply_review, doc_key, write_review
from tagsmith.data.corpus import Corpus, derive_label_space, open_corpus
from tagsmith.data.labelspace import LabelSpace
from tagsmith.data.readers import (
    corpus_layout,
    current_text_columns,
    read_csv,
    read_jsonl,
    read_records,
    reading_text_columns,
    text_column_names,
)
from tagsmith.exceptions import BundleError, CorpusFormatError, InvalidParameterError
from tagsmith.labeling.prompts import read_data_section
from tagsmith.pipeline.io import read_labelled
from tagsmith.testing.llm_server import LocalChatServer, Reply, user_prompt

tagsmith_cli._register_commands()

EXPORT = ("id,subject,body,created_at,labels\n"
          'T1,Refund please,"I was charged twice.\nPlease help.",2024-03-01,billing\n'
          "T2,Login broken,,2024-03-02,access\n"
          "T3,,Cannot reset my password,2024-03-03,access\n"
          "T4,Invoice copy,Where is my invoice,2024-03-04,billing\n")
TEXTS = ["Refund please\n\nI was charged twice.\nPlease help.", "Login broken",
         "Cannot reset my password", "Invoice copy\n\nWhere is my invoice"]
TICKETS = [{"id": "T1", "subject": "Refund please", "body": "I was charged twice.\nPlease help.",
            "labels": ["billing"]},
           {"id": "T2", "subject": "Login broken", "body": None, "labels": ["access"]},
           {"id": "T3", "subject": "", "body": "Cannot reset my password", "labels": ["access"]},
           {"id": "T4", "subject": "Invoice copy", "body": "Where is my invoice",
            "labels": ["billing"]}]


@pytest.fixture()
def export(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(EXPORT, encoding="utf-8")
    return path


@pytest.fixture()
def export_jsonl(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TICKETS), encoding="utf-8")
    return path


def run(*args):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])


# -- the readers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("columns", ["subject,body", ["subject", "body"], ("subject", " body")])
def test_csv_text_is_joined_from_the_columns_in_order_an_empty_cell_left_out(export, columns):
    records = list(read_csv(export, text_columns=columns))
    assert [r.text for r in records] == TEXTS
    # the columns stay the record's own, as read (apply-review writes them back)
    assert records[0].metadata == {"subject": "Refund please",
                                   "body": "I was charged twice.\nPlease help.",
                                   "created_at": "2024-03-01"}
    assert [r.labels for r in records] == [("billing",), ("access",), ("access",), ("billing",)]
    assert [r.text for r in read_csv(export, text_columns="body, subject")][0] == \
        "I was charged twice.\nPlease help.\n\nRefund please"


def test_jsonl_text_is_joined_from_the_keys_null_read_as_empty(export_jsonl):
    records = list(read_jsonl(export_jsonl, text_columns=["subject", "body"]))
    assert [r.text for r in records] == TEXTS
    assert records[1].metadata == {"subject": "Login broken", "body": None}
    assert [r.doc_id for r in read_records(export_jsonl, text_columns="subject,body")] == \
        ["T1", "T2", "T3", "T4"]


def test_one_column_that_is_not_named_text(export):
    assert [r.text for r in read_records(export, text_columns="subject")] == \
        ["Refund please", "Login broken", "", "Invoice copy"]


def test_a_column_named_twice_in_two_cases_is_read_once(export):
    # 'Subject' matched the column 'subject' in any case after 'subject' had: the
    # subject was joined into each text twice
    assert [r.text for r in read_records(export, text_columns="subject,Subject,body")] == \
        TEXTS


def test_a_name_holding_a_comma_is_quoted_as_in_a_csv_cell(tmp_path):
    # every name was split at its commas: a column 'Subject, short' could not be named
    path = tmp_path / "export.csv"
    path.write_text('id,"Subject, short",body,labels\nT1,Refund,Charged twice,billing\n'
                    "T2,Login,Cannot sign in,access\nT3,Invoice,Where is it,billing\n"
                    "T4,Password,Reset fails,access\n", encoding="utf-8")
    for columns in ('"Subject, short",body', ["Subject, short", "body"]):
        assert [r.text for r in read_records(path, text_columns=columns)][0] == \
            "Refund\n\nCharged twice"
    with pytest.raises(CorpusFormatError) as caught:  # the error names it quoted so
        list(read_records(path, text_columns='"Subject, short",bdy'))
    assert 'text_columns \'"Subject, short",bdy\' names' in str(caught.value)
    with pytest.raises(InvalidParameterError, match="its quotes closed"):
        read_records(path, text_columns='"Subject, short,body')
    result = run("train", path, "-o", tmp_path / "m", "--text-column", '"Subject, short"',
                 "--text-column", "body", *FAST)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["training"]["text_columns"] == ["Subject, short", "body"]
    result = run("suggest", tmp_path / "m", path)  # the bundle's columns: one, not two
    assert result.exit_code == 0, result.output
    result = run("train", path, "-o", tmp_path / "m", "--text-column", '"Subject, short')
    assert result.exit_code == 2 and "its quotes closed" in result.output


def test_text_named_explicitly_holds_within_the_ambient_columns(tmp_path):
    # label's output under --text-column subject,body keeps those keys beside 'text':
    # read_records(text_columns="text") fell back to the command's columns and refused it
    path = tmp_path / "labelled.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "S\n\nB", "subject": "S", "body": "B",
                                "labels": ["a"]}) + "\n", encoding="utf-8")
    with reading_text_columns("subject,body"):
        assert [r.text for r in read_records(path, text_columns="text")] == ["S\n\nB"]


def test_corpus_open_corpus_derive_and_read_labelled_take_the_columns(export, export_jsonl):
    for path in (export, export_jsonl):
        space = derive_label_space(path, text_columns="subject,body")
        assert space.uris == ["access", "billing"]
        corpus, _ = open_corpus(path, text_columns=["subject", "body"])
        assert [doc.text for doc in corpus] == TEXTS
        assert list(Corpus(path, space, text_columns="subject,body").texts()) == TEXTS
        data = read_labelled(path, space, text_columns="subject,body")
        assert data.texts == TEXTS and data.Y.toarray().tolist() == [[0, 1], [1, 0], [1, 0],
                                                                      [0, 1]]


def test_the_default_reads_text_and_text_alone_is_the_default(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("text,labels\nRain,a\n", encoding="utf-8")
    assert [r.text for r in read_records(path, text_columns="TEXT")] == ["Rain"]
    assert [r.text for r in read_records(path)] == ["Rain"]


def test_text_in_another_case_is_matched_as_the_file_matches_names(tmp_path):
    """'Text' counted as the default, 'text': a JSONL corpus of a key 'Text' given
    --text-column Text was refused, "missing 'text'". A name is matched as the file
    matches its own: a CSV header in any case, a JSONL object's keys as written."""
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("".join(json.dumps({"id": str(i), "Text": text, "labels": [label]}) + "\n"
                             for i, (text, label) in enumerate([
                                 ("Rain", "a"), ("Snow", "b"), ("Rain again", "a"),
                                 ("Snow again", "b")])), encoding="utf-8")
    assert [r.text for r in read_records(jsonl, text_columns="Text")][0] == "Rain"
    with pytest.raises(CorpusFormatError, match="missing 'text'"):
        list(read_records(jsonl))
    csv_path = tmp_path / "c.csv"  # a CSV's 'Text' column is its text column, read so
    csv_path.write_text("id,Text,labels\n1,Rain,a\n", encoding="utf-8")
    for columns in ("Text", "text", "TEXT", None):
        assert [r.text for r in read_records(csv_path, text_columns=columns)] == ["Rain"]
    # a JSONL 'text' key is no 'TEXT': read by its text, as a file of none of the keys is
    lower = tmp_path / "lower.jsonl"
    lower.write_text(json.dumps({"id": "1", "text": "Rain"}) + "\n", encoding="utf-8")
    assert [r.text for r in read_records(lower, text_columns="TEXT")] == ["Rain"]
    # nor is 'Text' refused by a TSV corpus, whose text is no column, as 'text' is not
    tsv = tmp_path / "c.tsv"
    tsv.write_text("Rain\ta\n", encoding="utf-8")
    assert [r.text for r in read_records(tsv, text_columns="Text")] == ["Rain"]
    result = run("train", jsonl, "-o", tmp_path / "m", "--text-column", "Text", *FAST)
    assert result.exit_code == 0, result.output


def test_the_ambient_columns_hold_within_the_block_alone(export):
    with reading_text_columns(["subject", "body"]):
        assert current_text_columns() == ("subject", "body")
        assert [r.text for r in read_records(export)] == TEXTS
    assert current_text_columns() is None
    with pytest.raises(CorpusFormatError, match="no 'text' column"):
        list(read_records(export))


def test_threads_each_read_with_their_own_columns(tmp_path, export):
    """The columns reading_text_columns names were a module global: a library user
    reading two corpora in two threads, each in its own block, read with the other's."""
    other = tmp_path / "other.csv"
    other.write_text("nr,title,labels\n1,Hello there,a\n", encoding="utf-8")
    inside, read = threading.Barrier(2), threading.Barrier(2)
    seen: dict[str, object] = {}

    def reader(name, path, columns):
        try:
            with reading_text_columns(columns):
                inside.wait(timeout=60)  # both blocks entered before either reads
                seen[name] = (current_text_columns(), [r.text for r in read_records(path)])
                read.wait(timeout=60)  # neither block left before both have read
        except Exception as exc:  # noqa: BLE001 (told below, in the test's thread)
            seen[name] = exc
            inside.abort()
            read.abort()

    threads = [threading.Thread(target=reader, args=("export", export, "subject,body")),
               threading.Thread(target=reader, args=("other", other, "title"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"export": (("subject", "body"), TEXTS),
                    "other": (("title",), ["Hello there"])}
    assert current_text_columns() is None


# -- errors -----------------------------------------------------------------------------------
def test_a_missing_column_names_the_file_the_parameter_and_the_columns(export):
    with pytest.raises(CorpusFormatError) as caught:
        list(read_records(export, text_columns="subject,bdy"))
    assert str(caught.value) == (
        f"{export}:1: no column 'bdy' in the header, which text_columns subject,bdy names; "
        "found columns: 'id', 'subject', 'body', 'created_at', 'labels'")
    assert caught.value.parameters == ("text_columns",)


def test_a_missing_key_is_a_malformed_line_naming_the_keys_there(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"subject": "a", "body": "b"}\n{"subject": "c"}\n'
                    '{"subject": "d", "body": 3}\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_records(path, text_columns="subject,body"))
    assert str(caught.value) == (f"{path}:2: no key 'body' in the object, which text_columns "
                                 "subject,body names; found keys: 'subject'")
    assert caught.value.parameters == ("text_columns",)
    skipped = []
    records = list(read_records(path, text_columns="subject,body", on_error=skipped.append))
    assert [r.text for r in records] == ["a\n\nb"]
    assert [(e.line, e.reason) for e in skipped][1] == (
        3, "'body' (text_columns) must be a string, found int")


@pytest.mark.parametrize("name, content", [
    ("c.csv", "id,text,subject\n1,Body,Subj\n"),
    ("c.jsonl", '{"text": "Body", "subject": "Subj"}\n')])
def test_a_text_column_of_its_own_left_out_is_refused(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="has a 'text' column of its own, which "
                       "text_columns subject leaves out"):
        list(read_records(path, text_columns="subject"))
    # named with the others, it is read as one of them
    assert [r.text for r in read_records(path, text_columns="subject,text")] == ["Subj\n\nBody"]
    # some of the columns named and a 'text' of its own: still refused (the fallback to
    # 'text' is for a file with none of them)
    with pytest.raises(CorpusFormatError, match="body"):
        list(read_records(path, text_columns="subject,body"))


def test_tsv_and_folders_refuse_the_columns(tmp_path):
    tsv = tmp_path / "c.tsv"
    tsv.write_text("Rain\t<u:1>\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="a TSV line's text is its first field"):
        read_records(tsv, text_columns="subject")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Rain", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="a folder's texts are its .txt files"):
        read_records(folder, text_columns="subject")
    assert [r.text for r in read_records(tsv, text_columns="text")] == ["Rain"]


def test_a_list_item_is_one_column_a_comma_in_it_too(tmp_path):
    """A Python list of names was read as comma lists: ["Subject, short", "body"] read
    three columns, 'Subject', 'short' and 'body', and refused the file. Each item of a
    list is one name; a string alone is a comma list, as --text-column's value is."""
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps({"id": "1", "Subject, short": "Refund", "body": "Card",
                                "labels": ["billing"]}) + "\n", encoding="utf-8")
    assert [r.text for r in read_records(path, text_columns=["Subject, short", "body"])] == \
        ["Refund\n\nCard"]
    assert text_column_names(["a,b", "c", " a,b "]) == ("a,b", "c")
    assert text_column_names('"a,b",c') == ("a,b", "c")
    with reading_text_columns(["Subject, short", "body"]):
        assert current_text_columns() == ("Subject, short", "body")


def test_twin_keys_of_a_jsonl_object_in_nfc_are_refused_naming_the_line(tmp_path):
    """An object with 'Ämne' written both composed and decomposed, text_columns naming
    it: one of the two was read and the other left out silently."""
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps({"id": "1", "\u00c4mne": "ok", "body": "x"}) + "\n" +
                    json.dumps({"id": "2", "\u00c4mne": "Faktura", "A\u0308mne": "Rechnung",
                                "body": "y"}) + "\n", encoding="utf-8")
    for name in ("\u00c4mne", "A\u0308mne"):
        with pytest.raises(CorpusFormatError) as caught:
            list(read_records(path, text_columns=[name, "body"]))
        assert caught.value.line == 2 and str(path) in str(caught.value)
        assert "'A\\u0308mne') are one name in Unicode NFC" in str(caught.value)
    assert [r.text for r in read_records(path, text_columns="body")] == ["x", "y"]


def test_twin_columns_of_a_csv_header_in_nfc_are_refused_naming_the_line(tmp_path):
    """A header with 'Ämne' written both composed and decomposed, text_columns naming
    it (either way): the first was read and the other left out silently, as a JSONL
    object's twin keys were."""
    path = tmp_path / "export.csv"
    path.write_text("sep=;\nid;\u00c4mne;A\u0308mne;body\n1;Faktura;Rechnung;x\n",
                    encoding="utf-8")
    for name in ("\u00c4mne", "A\u0308mne"):
        with pytest.raises(CorpusFormatError) as caught:
            list(read_records(path, text_columns=[name, "body"]))
        assert caught.value.line == 2 and str(path) in str(caught.value)
        assert "'A\\u0308mne') of the header are one name in Unicode NFC" in str(caught.value)
    assert [r.text for r in read_records(path, text_columns="body")] == ["x"]


def test_columns_of_a_csv_header_differing_only_in_case_are_refused(tmp_path):
    """'Subject' and 'subject' in one header, text_columns naming 'SUBJECT' (neither as
    written): the first was read and the other left out silently. Refused naming the
    line; a name given as written still picks its own column."""
    path = tmp_path / "export.csv"
    path.write_text("Nr,Subject,subject,body\n1,Invoice,reminder,x\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_records(path, text_columns="SUBJECT"))
    assert caught.value.line == 1 and str(path) in str(caught.value)
    assert "'Subject', 'subject' of the header differ only in case" in str(caught.value)
    assert [r.text for r in read_records(path, text_columns="subject")] == ["reminder"]
    assert [r.text for r in read_records(path, text_columns="Subject")] == ["Invoice"]


def test_jsonl_keys_in_nfc_are_not_normalised_on_every_line(tmp_path, monkeypatch):
    """The twin check normalised every key of every object where any key was not ASCII:
    an export keyed 'ämne', 'brödtext' (NFC, as almost every file writes them) read 20%
    slower. Keys all in NFC have no twins: the real normalize is called no more often
    for 60 lines than for 2 (a spy calling through it); a decomposed key still is."""
    import unicodedata

    import tagsmith.data.readers as readers

    calls = []

    class Spy:  # the real unicodedata, its normalize counted
        def __getattr__(self, name):
            return getattr(unicodedata, name)

        @staticmethod
        def normalize(form, text):
            calls.append(text)
            return unicodedata.normalize(form, text)

    monkeypatch.setattr(readers, "unicodedata", Spy())

    def normalised(lines, key="\u00e4mne"):
        path = tmp_path / f"export{lines}.jsonl"
        path.write_text("".join(json.dumps({"id": str(i), key: "Faktura", "br\u00f6dtext": "x"},
                                           ensure_ascii=False) + "\n" for i in range(lines)),
                        encoding="utf-8")
        calls.clear()
        texts = [r.text for r in read_records(path, text_columns="\u00e4mne,br\u00f6dtext")]
        assert texts == ["Faktura\n\nx"] * lines
        return len(calls)

    assert normalised(60) == normalised(2)
    assert normalised(60, "a\u0308mne") > normalised(2, "a\u0308mne")  # matched in NFC


def test_messages_quote_a_name_only_where_a_shell_needs_it(tmp_path):
    # shlex.quote quoted every non-ASCII name: 'ämne,bdy', where ämne,bdy is one word
    path = tmp_path / "export.csv"
    path.write_text("id,\u00e4mne,body\n1,Faktura,Var\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_records(path, text_columns="\u00e4mne,bdy"))
    assert "which text_columns \u00e4mne,bdy names" in str(caught.value)
    with pytest.raises(CorpusFormatError) as caught:
        list(read_records(path, text_columns="\u00e4mne,Ticket Body"))
    assert "which text_columns '\u00e4mne,Ticket Body' names" in str(caught.value)


def test_a_value_refused_is_shown_as_typed(tmp_path, export):
    # the error showed the values joined, as a Python repr: 'a\\\\b,,body'
    result = run("train", export, "-o", tmp_path / "m", "--text-column", "a\\b,",
                 "--text-column", "body")
    assert result.exit_code == 2
    assert "non-empty column names, not --text-column 'a\\b,'" in result.output
    result = run("train", export, "-o", tmp_path / "m", "--text-column", "\u00e4mne,")
    assert "not --text-column \u00e4mne," in result.output


def test_the_say_of_a_bundles_columns_is_no_public_parameter():
    # reading_text_columns(said=) was public and documented nowhere: the CLI's INFO line
    with pytest.raises(TypeError), reading_text_columns("a", said=print):  # type: ignore
        pass


@pytest.mark.parametrize("columns", ["subject,,body", ["subject", ""], [3]])
def test_an_empty_or_odd_column_name_is_refused(export, columns):
    with pytest.raises(InvalidParameterError, match="text_columns"):
        read_records(export, text_columns=columns)


def test_no_text_column_error_names_the_parameter(tmp_path, export):
    with pytest.raises(CorpusFormatError, match=r"read them joined with text_columns "
                       r"subject,body \(README"):
        list(read_records(export))
    one = tmp_path / "one.csv"
    one.write_text("id,description\n1,Printer jammed\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="read it with text_columns description, or "
                       "rename that column 'text'"):
        list(read_records(one))
    other = tmp_path / "other.csv"
    other.write_text("id,blurb\n1,Printer jammed\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="or others, the text's named with "
                       "text_columns"):
        list(read_records(other))


@pytest.mark.parametrize("value, names", [('"a,b" , c', ("a,b", "c")), (' "x" ', ("x",)),
                                          ('" a ""b"" "  ,d', ('a "b"', "d"))])
def test_spaces_around_a_quoted_name_are_left_out(value, names):
    # a space after a closing quote was refused with "its quotes closed", which they were
    assert text_column_names(value) == names


@pytest.mark.parametrize("value, said", [
    ('"a"b', "'b' follows the quoted '\"a\"'"),
    ('"a,b" c', "'c' follows the quoted '\"a,b\"'"),
    ('x,"a,b', "the quote opening '\"a,b' is left open")])
def test_a_name_after_a_closing_quote_or_a_quote_left_open_is_told_exactly(value, said):
    with pytest.raises(InvalidParameterError) as caught:
        text_column_names(value)
    assert said in str(caught.value)


# -- the command line ---------------------------------------------------------------------------
def test_every_command_reading_a_corpus_has_the_option():
    for name in tagsmith_cli.TEXT_COLUMN_COMMANDS:
        result = CliRunner().invoke(tagsmith_cli.cli, [name, "--help"], terminal_width=200)
        assert "--text-column NAME" in result.output, name
    for name in ("vocab", "info"):
        result = CliRunner().invoke(tagsmith_cli.cli, [name, "--help"], terminal_width=200)
        assert "--text-column" not in result.output


def test_cli_errors_name_the_option(tmp_path, export):
    result = run("train", export, "-o", tmp_path / "m")
    assert result.exit_code == 3
    assert "read them joined with --text-column subject,body" in result.output
    result = run("train", export, "-o", tmp_path / "m", "--text-column", "subject",
                 "--text-column", "bdy")
    assert result.exit_code == 3
    assert ("no column 'bdy' in the header, which --text-column subject,bdy names; found "
            "columns: 'id', 'subject', 'body', 'created_at', 'labels'") in result.output
    tsv = tmp_path / "c.tsv"
    tsv.write_text("Rain\t<u:1>\n", encoding="utf-8")
    result = run("audit", tsv, "-o", tmp_path / "audit", "--text-column", "subject")
    assert result.exit_code == 3 and "leave --text-column out" in result.output
    result = run("train", export, "-o", tmp_path / "m", "--text-column", "subject,,body")
    assert result.exit_code == 2 and "--text-column" in result.output
    assert current_text_columns() is None  # the command's alone


FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]


def test_cli_train_eval_suggest_on_the_export(tmp_path, export, export_jsonl):
    out = tmp_path / "model"
    result = run("train", export, "-o", out, "--text-column", "subject",
                 "--text-column", "body", *FAST)
    assert result.exit_code == 0, result.output
    result = run("eval", out, export_jsonl, "--text-column", "subject,body")
    assert result.exit_code == 0, result.output
    result = run("suggest", out, export, "--text-column", "subject,body")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["doc"] for line in result.output.splitlines()] == \
        ["T1", "T2", "T3", "T4"]
    # a plain text file is read whole as text: the option is refused for it
    plain = tmp_path / "docs.txt"
    plain.write_text("Refund please\n", encoding="utf-8")
    result = run("suggest", out, plain, "--text-column", "subject")
    assert result.exit_code == 3
    assert "this is a plain text file, read as a document a line: leave --text-column " \
        "out" in result.output


def test_a_bundle_reads_documents_from_the_columns_it_was_trained_on(tmp_path, export,
                                                                     export_jsonl, caplog):
    """A bundle trained with --text-column subject,body did not keep it: suggest, eval
    and calibrate on the same export refused it ("no 'text' column") unless given the
    option again. The manifest records the columns, the default of every command reading
    documents with the bundle; the option given wins."""
    out = tmp_path / "model"
    result = run("train", export, "-o", out, "--text-column", "subject,body", *FAST)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["training"]["text_columns"] == ["subject", "body"]
    assert '"text_columns": [' in run("info", out).output
    with caplog.at_level("INFO", logger="tagsmith"):  # said at INFO: not under -q
        result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(out), str(export)])
    assert result.exit_code == 0, result.output
    said = [r.getMessage() for r in caplog.records if "as the bundle" in r.getMessage()]
    assert len(said) == 1 and "from 'subject', 'body', as the bundle" in said[0]
    assert [json.loads(line)["doc"] for line in result.output.splitlines()] == \
        ["T1", "T2", "T3", "T4"]
    checked = tmp_path / "checked.csv"  # other tickets of the export's columns
    checked.write_text("id,subject,body,labels\n" + "".join(
        f"C{i},{subject} {i},{body},{label}\n" for i in range(6) for subject, body, label in
        (("Refund", "charged twice", "billing"), ("Login", "cannot sign in", "access"))),
        encoding="utf-8")
    for args in (("eval", out, export_jsonl), ("calibrate", out, "--data", checked),
                 ("shift", out, export)):
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
    assert current_text_columns() is None
    # a default: a plain text file is read as it is, not refused as for the option
    plain = tmp_path / "docs.txt"
    plain.write_text("Refund please\n", encoding="utf-8")
    assert run("suggest", out, plain).exit_code == 0
    # a file of 'text' beside some of the columns: refused, naming where they came from;
    # the option given reads it
    both = tmp_path / "both.csv"
    both.write_text("id,text,subject,body\nB1,Refund my card,Refund,Card\n", encoding="utf-8")
    result = run("suggest", out, both)
    assert result.exit_code == 3
    assert "the columns the bundle" in result.output and "--text-column text" in result.output
    result = run("suggest", out, both, "--text-column", "text")
    assert result.exit_code == 0, result.output


def test_distill_records_the_columns_its_human_sample_was_read_from(tmp_path, export):
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:billing>\tbilling\n<u:access>\taccess\n", encoding="utf-8")
    labels = tmp_path / "labels.jsonl"  # label's output: read by its 'text'
    labels.write_text("".join(json.dumps(
        {"id": f"L{i}", "text": text, "labels": [label], "scores": [0.9]}) + "\n"
        for i, (text, label) in enumerate([("Refund my card", "u:billing"),
                                           ("Cannot log in", "u:access")] * 3)),
        encoding="utf-8")
    out = tmp_path / "student"
    result = run("distill", labels, "--vocab", vocab, "-o", out, "--dev-fraction", "0",
                 "--human", export, "--text-column", "subject,body")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["training"]["text_columns"] == ["subject", "body"]


@pytest.mark.parametrize("command", ["suggest", "eval", "calibrate", "shift", "audit",
                                     "apply-review", "zeroshot"])
def test_help_of_a_command_reading_with_a_bundle_names_its_columns_the_default(command):
    # --help said "default: 'text'" where the bundle's recorded columns are the default
    text = " ".join(run(command, "--help").output.split())
    assert "default: the columns the bundle was trained on" in text
    assert "default: 'text'." not in text


def test_help_of_a_command_with_no_bundle_names_text_the_default():
    for command in ("train", "taxonomy", "distill"):
        text = " ".join(run(command, "--help").output.split())
        assert "default: 'text'." in text and "the bundle was trained on" not in text
    text = " ".join(run("label", "--help").output.split())
    assert "default: the columns the bundle given to --shortlist was trained on" in text


def test_a_library_user_reads_with_the_columns_a_bundle_recorded(tmp_path):
    """README: in Python a loaded bundle reads no columns itself; its text_columns,
    given to the reader, read a name holding a comma as one column (a Python caller had
    to find recorded_text_columns; the manifest's list given as it is split the name),
    and recorded_text_columns names them without loading it."""
    from tagsmith import TextClassifier, read_labelled
    from tagsmith.store.bundle import recorded_text_columns

    path = tmp_path / "export.csv"
    path.write_text('id,"Subject, short",body,labels\n' + "".join(
        f"T{i},Refund {i},Charged twice,billing\nL{i},Login {i},Cannot sign in,access\n"
        for i in range(4)), encoding="utf-8")
    out = tmp_path / "m"
    result = run("train", path, "-o", out, "--text-column", '"Subject, short",body', *FAST)
    assert result.exit_code == 0, result.output
    clf = TextClassifier.load(out)
    assert clf.text_columns == ("Subject, short", "body") == recorded_text_columns(out)
    for columns in (clf.text_columns, clf.manifest["training"]["text_columns"]):
        data = read_labelled(path, clf.label_space, text_columns=columns)
        assert list(data.texts)[:2] == ["Refund 0\n\nCharged twice",
                                        "Login 0\n\nCannot sign in"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["training"]["text_columns"] = "Subject, short"  # damaged: told on loading
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match="training.text_columns is not a list"):
        TextClassifier.load(out)


def test_a_bundle_trained_on_text_names_no_columns(tmp_path):
    corpus = tmp_path / "c.csv"
    corpus.write_text("id,text,labels\n1,Refund please,billing\n2,Login broken,access\n"
                      "3,Where is my invoice,billing\n4,Reset password,access\n",
                      encoding="utf-8")
    out = tmp_path / "model"
    assert run("train", corpus, "-o", out, *FAST).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "text_columns" not in manifest["training"]
    assert run("suggest", out, corpus).exit_code == 0
    # a manifest's field that names no columns is refused, naming the bundle
    manifest["training"]["text_columns"] = "subject"
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = run("suggest", out, corpus)
    assert result.exit_code != 0
    assert "training.text_columns is not a list of column names" in result.output


def _teacher(seen):
    def answer(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        seen.append(doc)
        name = "billing" if ("Refund" in doc or "invoice" in doc) else "access"
        return Reply(json.dumps({"labels": [{"label": name, "confidence": 0.9}]}))
    return answer


def test_cli_label_sends_the_joined_text(tmp_path, export):
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:billing>\tbilling\n<u:access>\taccess\n", encoding="utf-8")
    seen: list[str] = []
    out = tmp_path / "labels.jsonl"
    with LocalChatServer(_teacher(seen)) as server:
        result = run("label", export, "--vocab", vocab, "-o", out, "--base-url",
                     server.base_url, "--llm", "t", "--text-column", "subject,body",
                     "--cache", tmp_path / "cache.sqlite")
    assert result.exit_code == 0, result.output
    assert sorted(seen) == sorted(TEXTS)
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == TEXTS


SPACE = LabelSpace.from_uris(["access", "billing"])


def _review(tmp_path, doc, text, uri="billing"):
    path = tmp_path / "review.csv"
    write_review([{"rank": 1, "decision": "accept", "kind": "missing", "action": "add",
                   "label_uri": uri, "label_name": "", "probability": 0.9,
                   "model_score": 0.1, "doc": doc, "line": doc + 2, "doc_id": None,
                   "doc_key": doc_key(text), "given_labels": [], "given_names": [],
                   "text": text}], path)
    return path


def test_apply_review_writes_the_columns_back_untouched(tmp_path, export, export_jsonl):
    review = _review(tmp_path, 1, TEXTS[1])
    out = tmp_path / "fixed.csv"
    result = run("apply-review", export, review, "-o", out, "--text-column", "subject,body")
    assert result.exit_code == 0, result.output
    lines = EXPORT.splitlines(keepends=True)
    assert out.read_text(encoding="utf-8") == "".join(
        [*lines[:3], "T2,Login broken,,2024-03-02,access billing\n", *lines[4:]])
    # the API, a JSONL corpus: no 'text' key is added, the keys are as they were
    stats = apply_review(export_jsonl, review, tmp_path / "fixed.jsonl", SPACE,
                         text_columns=["subject", "body"])
    assert stats["n_added"] == 1
    written = [json.loads(line) for line in (tmp_path / "fixed.jsonl").read_text().splitlines()]
    assert written[1] == {**TICKETS[1], "labels": ["access", "billing"]}
    assert written[0] == TICKETS[0] and "text" not in written[2]
    # read without the columns, the review's text is not the document's
    with pytest.raises(CorpusFormatError):
        apply_review(export, review, tmp_path / "again.csv", SPACE)


def test_apply_review_refuses_text_joined_with_other_columns(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,subject,text,labels\n1,Subj,Body,access\n", encoding="utf-8")
    review = _review(tmp_path, 0, "Subj\n\nBody")
    with pytest.raises(InvalidParameterError, match="'text' would hold them joined"):
        apply_review(path, review, tmp_path / "out.csv", SPACE, text_columns="subject,text")
    result = run("apply-review", path, review, "-o", tmp_path / "out.csv", "--text-column",
                 "subject,text")
    assert result.exit_code == 2
    assert "option '--text-column' must be columns other than 'text'" in result.output
    assert not (tmp_path / "out.csv").exists()


def test_apply_review_refusing_a_bundles_columns_names_the_bundle(tmp_path):
    """A bundle trained with --text-column text,subject gave apply-review --bundle
    columns it refuses; the refusal read as if the user had given the option, with no
    word of the bundle, as the other commands' errors about its columns have."""
    path = tmp_path / "c.csv"
    path.write_text("id,subject,text,labels\n" + "".join(
        f"{i},Subj {i},{body},{label}\n" for i in range(4) for body, label in
        (("Refund my card", "billing"), ("Cannot log in", "access"))), encoding="utf-8")
    result = run("train", path, "-o", tmp_path / "m", "--text-column", "text,subject", *FAST)
    assert result.exit_code == 0, result.output
    review = _review(tmp_path, 0, "Refund my card\n\nSubj 0")
    result = run("apply-review", path, review, "-o", tmp_path / "out.csv", "--bundle",
                 tmp_path / "m")
    assert result.exit_code == 2
    assert "'text' would hold them joined" in result.output
    assert f"the columns the bundle {tmp_path / 'm'} was trained on" in \
        " ".join(result.output.split())
    assert not (tmp_path / "out.csv").exists()


def test_apply_review_text_columns_keeps_lang(tmp_path, caplog):
    """apply_review(text_columns=, lang=) dropped lang when it read the columns: a German
    team's export applied with --text-column and --lang de was warned of its labels by
    their English names ('law' where the review read 'Recht')."""
    from tagsmith.data.vocab import load_vocabulary

    vocab = tmp_path / "vocab.csv"
    vocab.write_text("uri,label_en,label_de,broader\n"
                     "http://x/law,law,Recht,\n"
                     "http://x/rent,rent law,Mietrecht,http://x/law\n", encoding="utf-8")
    space = load_vocabulary(vocab, language="de")
    corpus = tmp_path / "c.csv"
    corpus.write_text("id,subject,body,labels\nT1,Miete,Ein Urteil,<http://x/law>\n",
                      encoding="utf-8")
    review = _review(tmp_path, 0, "Miete\n\nEin Urteil", uri="http://x/rent")
    with caplog.at_level("WARNING", logger="tagsmith"):
        apply_review(corpus, review, tmp_path / "new.csv", space, lang="de",
                     text_columns="subject,body")
    assert "http://x/rent ('Mietrecht') added under http://x/law ('Recht')" in caplog.text, \
        caplog.text


def test_a_run_refused_while_parsing_leaves_no_columns_behind(tmp_path, export):
    """--text-column's callback set the readers' columns when parsed, to be set back when
    the command's context closed; a run refused after it (a missing argument, a bad
    --model) never closed it, so every later run and read in the process (CliRunner,
    tagsmith.cli.main in process, the library) read subject,body."""
    plain = tmp_path / "plain.csv"
    plain.write_text("id,text,labels\n1,hello world,a\n", encoding="utf-8")
    assert run("train", "--text-column", "subject,body").exit_code == 2
    result = run("train", "--text-column", "subject,body", export, "-o", tmp_path / "m",
                 "--model", "nonsense")
    assert result.exit_code == 2 and "--model" in result.output
    assert current_text_columns() is None
    assert [r.text for r in read_csv(plain)] == ["hello world"]
    # a run that parses reads the columns and sets them back
    result = run("train", "--text-column", "subject,body", export, "-o", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert current_text_columns() is None


# -- a file of the other kind: read by its 'text' ------------------------------------------------
@pytest.mark.parametrize("name, content", [
    ("c.csv", "id,text,labels\n1,Hello there,billing\n2,Bye,access\n"),
    ("c.csv", "id;text;labels\r\n1;Hello there;billing\r\n2;Bye;access\r\n"),
    ("c.jsonl", '{"id": "1", "text": "Hello there", "labels": ["billing"]}\n'
                '{"id": "2", "text": "Bye", "labels": ["access"]}\n')])
def test_a_file_with_none_of_the_columns_is_read_by_its_text(tmp_path, caplog, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode())
    with caplog.at_level("INFO", logger="tagsmith"):
        records = list(read_records(path, text_columns="subject,body"))
    assert [(r.doc_id, r.text, r.labels) for r in records] == \
        [("1", "Hello there", ("billing",)), ("2", "Bye", ("access",))]
    said = [r.getMessage() for r in caplog.records if "is read from its 'text'" in r.getMessage()]
    assert len(said) == 1 and str(path) in said[0] and "'subject', 'body'" in said[0]


def test_label_shortlist_reads_the_export_by_the_columns_the_bundle_was_trained_on(
        tmp_path, export, caplog):
    """label --shortlist BUNDLE read the export by 'text' ("no 'text' column") where the
    bundle had been trained on its subject and body: it reads them, as suggest does,
    said at INFO; the option given wins."""
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:billing>\tbilling\n<u:access>\taccess\n", encoding="utf-8")
    model = tmp_path / "model"
    result = run("train", export, "--vocab", vocab, "-o", model, "--text-column",
                 "subject,body", "--dev-fraction", "0", *FAST)
    assert result.exit_code == 0, result.output
    seen: list[str] = []
    with LocalChatServer(_teacher(seen)) as server, caplog.at_level("INFO", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(export), "--vocab", str(vocab), "-o", str(tmp_path / "l.jsonl"),
            "--shortlist", str(model), "--base-url", server.base_url, "--llm", "t",
            "--cache", str(tmp_path / "cache.sqlite")])
        assert result.exit_code == 0, result.output
        assert sorted(seen) == sorted(TEXTS)
        assert any("as the bundle" in r.getMessage() for r in caplog.records)
        result = run("label", export, "--vocab", vocab, "-o", tmp_path / "l2.jsonl",
                     "--shortlist", model, "--base-url", server.base_url, "--llm", "t",
                     "--cache", tmp_path / "cache.sqlite", "--text-column", "subject")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in (tmp_path / "l2.jsonl").open()] == \
        ["Refund please", "Login broken", "Invoice copy"]  # T3 blank: not asked


def test_cli_label_reads_the_export_by_its_columns_and_human_by_its_text(tmp_path, export):
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:billing>\tbilling\n<u:access>\taccess\n", encoding="utf-8")
    human = tmp_path / "human.jsonl"  # the intents recipe's: {"id", "text", "labels"}
    human.write_text(json.dumps({"id": "H1", "text": "Refund my card",
                                 "labels": ["billing"]}) + "\n", encoding="utf-8")
    seen: list[str] = []
    with LocalChatServer(_teacher(seen)) as server:
        result = run("label", export, "--vocab", vocab, "-o", tmp_path / "labels.jsonl",
                     "--human", human, "--base-url", server.base_url, "--llm", "t",
                     "--text-column", "subject,body", "--cache", tmp_path / "cache.sqlite")
    assert result.exit_code == 0, result.output
    assert sorted(seen) == sorted([*TEXTS, "Refund my card"])


def test_the_layout_of_a_semicolon_export_is_told_by_the_columns(tmp_path):
    # a German Excel export: ';'-separated, CRLF rows, a body's lines LF inside quotes
    path = tmp_path / "export.csv"
    path.write_bytes(b'id;subject;body\r\nT1;Refund;"Charged twice.\nPlease help."\r\n'
                     b"T2;Login;Broken\r\n")
    with reading_text_columns("subject,body"):
        layout = corpus_layout(path, "csv")
    assert (layout.delimiter, layout.header, layout.newline) == \
        (";", ["id", "subject", "body"], "\r\n")


@pytest.mark.parametrize("header, hint", [
    ("Nr,Ticket-Body,Created\n", "'Ticket-Body': read it with text_columns Ticket-Body"),
    ("Nr;E-Mail-Text;Erstellt\n", "'E-Mail-Text': read it with text_columns E-Mail-Text"),
    ("Nr,A\u0308mne,Meddelande\n", "'A\u0308mne', 'Meddelande': read them joined")])
def test_the_hint_finds_names_with_dashes_and_decomposed_letters(tmp_path, header, hint):
    path = tmp_path / "export.csv"
    path.write_text(header + header.replace("Nr", "1").replace("Created", "x"), encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_records(path))
    assert hint in str(caught.value)


def test_a_decomposed_header_matches_the_composed_name_given(tmp_path):
    path = tmp_path / "export.csv"  # macOS: 'Ämne' as 'A' and a combining diaeresis
    path.write_text("Nr;A\u0308mne;Meddelande\r\n1;Faktura;Var \u00e4r den\r\n", encoding="utf-8")
    assert [r.text for r in read_records(path, text_columns="\u00c4mne,Meddelande")] == \
        ["Faktura\n\nVar \u00e4r den"]


def test_the_help_says_which_files_the_option_reads():
    def help_of(name):
        result = CliRunner().invoke(tagsmith_cli.cli, [name, "--help"], terminal_width=2000)
        return " ".join(result.output.split())
    # distill's LABELS file (label's output) is read by its 'text' whatever the option says
    assert "reads (not LABELS, label's output, read by its 'text'): one with none" in \
        help_of("distill")
    assert "the command reads: one with none of these columns and a 'text' of its own is " \
        "read by its 'text'" in help_of("eval")


def test_messages_show_the_columns_quoted_for_a_shell(tmp_path, caplog):
    """The INFO line and the errors showed --text-column "Subject, short",body: pasted
    into a shell, its quotes vanished and the name split into three. They show the value
    shell-quoted, which the shell hands back as it was."""
    path = tmp_path / "export.csv"
    path.write_text('id,"Subject, short",body,labels\nT1,Refund,Charged twice,billing\n'
                    "T2,Login,Cannot sign in,access\n", encoding="utf-8")
    result = run("train", path, "-o", tmp_path / "m", "--text-column", '"Subject, short",bdy')
    assert result.exit_code == 3
    shown = re.search(r"which --text-column (.+?) names", result.output)
    assert shown is not None, result.output
    assert shlex.split(shown.group(1)) == ['"Subject, short",bdy']
    result = run("train", path, "-o", tmp_path / "m", "--text-column", '"Subject, short",body',
                 *FAST)
    assert result.exit_code == 0, result.output
    with caplog.at_level("INFO", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(tmp_path / "m"), str(path)])
    assert result.exit_code == 0, result.output
    said = [r.getMessage() for r in caplog.records if "as the bundle" in r.getMessage()]
    shown = re.search(r"\(--text-column (.+?)\);", said[0])
    assert shown is not None and shlex.split(shown.group(1)) == ['"Subject, short",body']
    hinted = tmp_path / "hinted.csv"  # the hint names a column holding a space
    hinted.write_text("Nr,Ticket Body\n1,Printer jammed\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_records(hinted))
    assert "read it with text_columns 'Ticket Body', or" in str(caught.value)


def test_a_decomposed_jsonl_key_matches_the_composed_name_given(tmp_path):
    """A CSV header 'Ämne' in NFD (macOS) matched --text-column Ämne; a JSONL key did
    not ("missing"). Keys are matched as headers are: NFC, the case as written."""
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps({"id": "1", "A\u0308mne": "Faktura", "Meddelande": "Var",
                                "labels": ["billing"]}) + "\n", encoding="utf-8")
    records = list(read_records(path, text_columns="\u00c4mne,Meddelande"))
    assert [r.text for r in records] == ["Faktura\n\nVar"]
    with pytest.raises(CorpusFormatError, match="no key 'meddelande'"):
        list(read_records(path, text_columns="\u00c4mne,meddelande"))  # case as written


@pytest.mark.parametrize("obj, hint", [
    ({"id": "1", "Text": "Refund"}, "seems to be in 'Text': read it with --text-column Text, "
     "or rename that key 'text'"),
    ({"id": "1", "subject": "Refund", "Body": "Card"}, "seems to be in 'subject', 'Body': "
     "read them joined with --text-column subject,Body")])
def test_a_jsonl_object_missing_text_is_told_the_keys_that_seem_to_hold_it(tmp_path, obj, hint):
    # the CSV error named the columns that seem to hold the text; the JSONL one did not
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(obj) + "\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError) as caught:
        list(read_records(path))
    assert "missing 'text'; the documents' text seems to be in" in str(caught.value)
    result = run("train", path, "-o", tmp_path / "m")
    assert result.exit_code == 3 and hint in " ".join(result.output.split()), result.output


def test_the_bundles_columns_are_said_only_where_a_csv_or_jsonl_corpus_is_read(
        tmp_path, export, caplog):
    """The INFO line naming the bundle's columns was logged where only a TSV file, a
    folder or stdin was read, which the columns leave alone: now once a CSV or JSONL
    corpus is read, once however many are."""
    out = tmp_path / "model"
    result = run("train", export, "-o", out, "--text-column", "subject,body", *FAST)
    assert result.exit_code == 0, result.output
    tsv = tmp_path / "docs.tsv"
    tsv.write_text("Refund please\tbilling\n", encoding="utf-8")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Cannot log in\n", encoding="utf-8")

    def said(*args, stdin=None):
        caplog.clear()
        with caplog.at_level("INFO", logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(out), *map(str, args)],
                                        input=stdin)
        assert result.exit_code == 0, result.output
        return sum("as the bundle" in r.getMessage() for r in caplog.records)

    assert said(tsv) == 0
    assert said(folder) == 0
    assert said("-", stdin="Refund please\n") == 0
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "X1", "subject": "Login", "body": "Fails"}) + "\n",
                     encoding="utf-8")
    assert said(tsv, export, other) == 1
