"""Files in a peer tool's format (Annif, Omikuji, PECOS, LibMultiLabel): read as they
are where tagsmith's formats are theirs, else refused naming the format and the
conversion, never misread (a feature file's lines taken as texts, LibMultiLabel's
LABELS<TAB>TEXT taken as TEXT<TAB>LABELS)."""

import json
import re
import shutil
import subprocess
from itertools import islice
from pathlib import Path

import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.data.corpus import read_csv, read_jsonl, read_tsv
from tagsmith.exceptions import CorpusFormatError

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]

WORDS = {"a": "rain snow storm cloud wind", "b": "bank money loan credit stock",
         "c": "goal match team score league"}
NAMES = {"a": "weather", "b": "finance", "c": "sports"}
XMC = "6 15 3\n0 0:1 3:2\n1 5:1 7:3\n0,2 1:1 11:2\n2 12:1 13:1\n1 6:2\n0,1 2:1 8:1\n"
SVMLIGHT = XMC.split("\n", 1)[1]


def run(*args):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])


def docs():
    """(id, text, label keys): each label's words, twice over, one or two labels."""
    keys = ["a", "b", "c", "ab", "bc", "ca"] * 5
    return [(f"d{i}", " ".join(WORDS[k] + " " + WORDS[k] for k in ks), list(ks))
            for i, ks in enumerate(keys)]


@pytest.fixture
def vocab(tmp_path):
    path = tmp_path / "vocab.tsv"
    path.write_text("".join(f"<http://ex.org/{k}>\t{NAMES[k]}\n" for k in WORDS))
    return path


def write_lml(path, with_id=False):
    path.write_text("".join((f"{d}\t" if with_id else "")
                            + " ".join(NAMES[k] for k in ks) + f"\t{text}\n"
                            for d, text, ks in docs()))
    return path


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl"])
@pytest.mark.parametrize("content, kind", [(XMC, "Extreme Classification (XMC)"),
                                           (SVMLIGHT, "svmlight")],
                         ids=["xmc", "svmlight"])
def test_a_feature_file_is_refused_at_line_1_naming_its_format(tmp_path, suffix, content,
                                                               kind):
    # a TSV reader took the header '6 15 3' and each 'l1,l2 f:v' line as unlabelled
    # texts; CSV said "no 'text' column; found '6 15 3'", JSONL "invalid JSON"
    path = tmp_path / f"train{suffix}"
    path.write_text(content)
    reader = {".tsv": read_tsv, ".csv": read_csv, ".jsonl": read_jsonl}[suffix]
    for on_error in ("fail", "skip"):
        with pytest.raises(CorpusFormatError) as info:
            list(reader(path, on_error=on_error))
        message = str(info.value)
        assert message.startswith(f"{path}:1: this looks like an {kind}"), message
        assert "not from feature vectors" in message


def test_a_text_with_times_is_no_feature_file(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("Meeting at 12:30\tmeetings\n1 12:30 13:00 train\tschedule\n")
    assert [r.text for r in read_tsv(path)] == ["Meeting at 12:30", "1 12:30 13:00 train"]


def test_a_feature_file_of_no_corpus_suffix_is_named_in_the_refusal(tmp_path, vocab):
    path = tmp_path / "train.txt"  # Omikuji's and the XMC repository's names
    path.write_text(XMC)
    result = run("train", path, "-o", tmp_path / "m", "--vocab", vocab)
    assert result.exit_code == 3
    assert "cannot tell the corpus format" in result.output
    assert "Extreme Classification (XMC) data file" in result.output


def test_suggest_refuses_a_feature_file_given_as_documents(tmp_path, vocab):
    # each line was answered as a document, the XMC header the first: exit code 0
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"{t}\t" + " ".join(f"<http://ex.org/{k}>" for k in ks) + "\n"
                              for _, t, ks in docs()))
    model = tmp_path / "m"
    trained = run("train", corpus, "-o", model, "--vocab", vocab, *FAST)
    assert trained.exit_code == 0, trained.output
    for content in (XMC, SVMLIGHT):
        features = tmp_path / "test.txt"
        features.write_text(content)
        result = run("suggest", model, features)
        assert result.exit_code == 3, result.output
        assert f"{features}:1: this looks like an" in result.output
        assert '"suggestions"' not in result.output
    matrix = tmp_path / "X.npz"  # PECOS's features: "not valid UTF-8" at line 1
    matrix.write_bytes(b"PK\x03\x04" + bytes(range(128, 256)))
    result = run("suggest", model, matrix)
    assert result.exit_code == 3 and "NumPy/SciPy matrix file" in result.output
    plain = tmp_path / "plain.txt"
    plain.write_text("rain at 12:30\n")
    assert run("suggest", model, plain).exit_code == 0


def test_libmultilabel_labels_then_text_is_refused_not_read_swapped(tmp_path):
    # read as TEXT<TAB>LABELS: texts 'finance', labels the text's words, and trained
    # on without a vocabulary (15 "labels", every one a word)
    path = write_lml(tmp_path / "train.tsv")
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    message = str(info.value)
    assert message.startswith(f"{path}:1: the labels column repeats")
    assert "LibMultiLabel's LABELS<TAB>TEXT" in message and "awk" in message


def test_libmultilabel_three_columns_and_txt_suffix_say_how_to_convert(tmp_path, vocab):
    three = write_lml(tmp_path / "train.tsv", with_id=True)
    with pytest.raises(CorpusFormatError, match=r"found 3; if this is LibMultiLabel's"):
        list(read_tsv(three))
    txt = write_lml(tmp_path / "train.txt")
    result = run("train", txt, "-o", tmp_path / "m", "--vocab", vocab)
    assert result.exit_code == 3
    assert "LibMultiLabel's text format" in result.output and "awk" in result.output


def test_annif_csv_and_jsonl_corpora_name_the_column_to_rename(tmp_path, vocab):
    # refused saying only "a CSV corpus has a 'labels' column": Annif's 'subject_uris'
    # (a JSON object's 'subjects') held the labels, read as metadata
    csv_path = tmp_path / "annif.csv"
    csv_path.write_text("document_id,text,subject_uris\n" + "".join(
        f"{d},{t}," + " ".join(f"<http://ex.org/{k}>" for k in ks) + "\n"
        for d, t, ks in docs()))
    jsonl_path = tmp_path / "annif.jsonl"
    jsonl_path.write_text("".join(json.dumps({"document_id": d, "text": t, "subjects": [
        {"uri": f"http://ex.org/{k}"} for k in ks]}) + "\n" for d, t, ks in docs()))
    for path, told in ((csv_path, "Annif's CSV corpus"), (jsonl_path, "Annif's JSON Lines")):
        result = run("train", path, "-o", tmp_path / "m", "--vocab", vocab)
        assert result.exit_code == 3 and told in result.output, result.output


@pytest.mark.parametrize("name", ["export.tsv", "export.tsv.gz"])
def test_a_csv_file_named_tsv_is_told_to_be_renamed(tmp_path, vocab, name):
    # a spreadsheet's CSV export saved as .tsv was read as TSV, every line a text with no
    # label: refused saying only how a TSV line and a CSV corpus give labels
    import gzip

    content = ("id,text,labels\n" + "".join(
        f"{d},{t}," + " ".join(f"<http://ex.org/{k}>" for k in ks) + "\n"
        for d, t, ks in docs())).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    result = run("train", path, "-o", tmp_path / "m", "--vocab", vocab)
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert "its first line, 'id,text,labels', is a CSV header" in said, said
    command = said[said.index("mv "):]
    subprocess.run(command, shell=True, check=True)
    renamed = tmp_path / name.replace(".tsv", ".csv")
    result = run("train", renamed, "-o", tmp_path / "m", "--vocab", vocab, *FAST)
    assert result.exit_code == 0, result.output


def test_a_tsv_whose_first_document_begins_text_comma_is_not_told_to_be_renamed(tmp_path,
                                                                              vocab):
    # any first line with a comma, no TAB and a cell "text" was a CSV header: a TSV with
    # no labels whose first document began "Text, ..." was told to be renamed .csv
    path = tmp_path / "notes.tsv"
    path.write_text("Text, as the editor wrote it, comes first.\nA second note.\n",
                    encoding="utf-8")
    result = run("train", path, "-o", tmp_path / "m", "--vocab", vocab)
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert "a TSV line is TEXT, a TAB, then its labels" in said, said
    assert "CSV header" not in said and "mv " not in said, said


def test_a_tsv_whose_first_line_quotes_text_in_a_cell_is_not_told_to_be_renamed(tmp_path,
                                                                               vocab):
    # the header was split at every comma by hand: '"id, text",labels' named a 'text'
    # column, the file was told to be renamed .csv, and as CSV it was refused for naming
    # none (its columns are 'id, text' and 'labels', as the csv module reads them)
    path = tmp_path / "notes.tsv"
    path.write_text('"id, text",labels\nA second note.\n', encoding="utf-8")
    result = run("train", path, "-o", tmp_path / "m", "--vocab", vocab)
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert "a TSV line is TEXT, a TAB, then its labels" in said, said
    assert "CSV header" not in said and "mv " not in said, said


def test_an_annif_jsonl_document_without_text_is_told_with_the_conversion(tmp_path, vocab):
    # Annif's schema lets a document go without text (its metadata alone): its corpus
    # was refused "FILE:LINE: missing 'text'", not told Annif's nor how to convert it
    path = tmp_path / "annif.jsonl.gz"
    import gzip

    path.write_bytes(gzip.compress(("".join(json.dumps({
        "document_id": d, "text": t, "subjects": [{"uri": f"http://ex.org/{k}"} for k in ks]})
        + "\n" for d, t, ks in docs()) + json.dumps({
            "document_id": "meta", "metadata": {"title": "rain"},
            "subjects": [{"uri": "http://ex.org/a"}]}) + "\n").encode()))
    result = run("train", path, "-o", tmp_path / "m", "--vocab", vocab)
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert f"{path}:{len(docs()) + 1}: missing 'text'" in said
    assert "Annif's JSON Lines" in said and f"gzip -dc {path} | jq -c" in said


def test_an_annif_jsonl_whose_first_document_has_no_subjects_is_told_too(tmp_path, vocab):
    # Annif's schema lets a document go without subjects: one such first document got
    # the generic "a JSONL object a 'labels' list", not the conversion (only the first
    # line was looked at)
    # (only the first line was looked at, its first 10,000 characters: a full-text
    # corpus's long text came before its subjects)
    subjects = ("".join(json.dumps({"document_id": d, "text": t, "subjects": [
        {"uri": f"http://ex.org/{k}"} for k in ks]}) + "\n" for d, t, ks in docs()))
    for first in ({"document_id": "new", "text": "rain"},
                  {"document_id": "long", "text": "rain " * 3000,
                   "subjects": [{"uri": "http://ex.org/a"}]}):
        path = tmp_path / "annif.jsonl"
        path.write_text(json.dumps(first) + "\n" + "".join(subjects))
        result = run("train", path, "-o", tmp_path / "m", "--vocab", vocab)
        assert result.exit_code == 3 and "Annif's JSON Lines corpus" in result.output, \
            result.output


@pytest.mark.skipif(not (shutil.which("sed") and shutil.which("jq") and shutil.which("gzip")),
                    reason="needs sed, jq and gzip")
@pytest.mark.parametrize("suffix", [".csv.gz", ".jsonl.gz", ".jsonl"])
def test_the_annif_refusals_command_converts_that_very_file(tmp_path, vocab, suffix):
    # the command named annif.csv (annif.jsonl) whatever the file: of a .gz, as Annif's
    # corpora often are, sed wrote its compressed bytes and jq refused them
    import gzip

    if suffix.startswith(".csv"):
        content = "document_id,text,subject_uris\n" + "".join(
            f"{d},{t}," + " ".join(f"<http://ex.org/{k}>" for k in ks) + "\n"
            for d, t, ks in docs())
    else:
        content = "".join(json.dumps({"document_id": d, "text": t, "subjects": [
            {"uri": f"http://ex.org/{k}"} for k in ks]}) + "\n" for d, t, ks in docs())
    path = tmp_path / f"my train{suffix}"
    path.write_bytes(gzip.compress(content.encode()) if suffix.endswith(".gz")
                     else content.encode())
    result = run("train", path, "-o", tmp_path / "m", "--vocab", vocab)
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    command = re.search(r"(?:gzip -dc|sed '|jq -c).*", said).group()
    subprocess.run(command, shell=True, cwd=tmp_path, check=True)
    out = tmp_path / ("corpus.csv" if ".csv" in suffix else "corpus.jsonl")
    reader = read_csv if ".csv" in suffix else read_jsonl
    assert [(r.doc_id, list(r.labels)) for r in reader(out)] \
        == [(d, [f"<http://ex.org/{k}>" for k in ks]) for d, _, ks in docs()]


@pytest.mark.skipif(not (shutil.which("sed") and shutil.which("awk") and shutil.which("jq")),
                    reason="needs sed, awk and jq")
def test_the_readmes_conversions_give_the_native_corpus(tmp_path):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Coming from Annif", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in section.split("```bash", 2)[1].splitlines()
                if line.startswith(("sed ", "jq ", "awk "))]
    assert len(commands) == 3
    native = [(t, [f"<http://ex.org/{k}>" for k in ks]) for _, t, ks in docs()]
    (tmp_path / "annif.csv").write_text("document_id,text,subject_uris\n" + "".join(
        f"{d},{t}," + " ".join(f"<http://ex.org/{k}>" for k in ks) + "\n"
        for d, t, ks in docs()))
    # Annif's schema lets a document go without subjects (documents to index) or text
    # (its metadata alone): jq stopped at the first ("Cannot iterate over null")
    (tmp_path / "annif.jsonl").write_text("".join(json.dumps({"document_id": d, "text": t,
        "subjects": [{"uri": f"http://ex.org/{k}"} for k in ks]}) + "\n"
        for d, t, ks in docs()) + '{"document_id": "new", "text": "rain"}\n'
        '{"document_id": "meta", "metadata": {"title": "rain"}}\n')
    write_lml(tmp_path / "train.txt", with_id=True)
    for command in commands:
        subprocess.run(command, shell=True, cwd=tmp_path, check=True)
    assert [(r.text, list(r.labels)) for r in read_csv(tmp_path / "corpus.csv")] == native
    assert [(r.text, list(r.labels)) for r in read_jsonl(tmp_path / "corpus.jsonl")] \
        == native + [("rain", []), ("", [])]
    assert [(r.text, list(r.labels)) for r in read_tsv(tmp_path / "train.tsv")] \
        == [(t, [NAMES[k] for k in ks]) for _, t, ks in docs()]


def test_a_short_text_naming_a_label_twice_is_no_libmultilabel_line(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("cats purr\tu:a u:zz u:zz\nrain\ta b c d e f a\n")
    assert [r.text for r in read_tsv(path)] == ["cats purr", "rain"]


@pytest.mark.parametrize("content", [
    "12:30 14:45\n",                               # one line: a text, not a file's lines
    "3:1 2:1\n",
    "09:00 10:30\n11:00 12:30\n",                  # no writer puts a 0 before a digit
    "1 09:00 10:30\n2 11:00 12:30\n",
    "16:9 4:3\n21:9 3:2\n",                        # an svmlight line's features ascend
    "1 2 3\n12:05 14:45 16:30\n",
], ids=["time", "ratio", "times", "schedule", "aspect-ratios", "header-like"])
def test_times_and_ratios_are_texts_not_a_feature_file(tmp_path, content):
    # were refused as an svmlight (XMC) file: suggest B times.txt, exit code 3
    from tagsmith.data.readers import feature_file_error

    for suffix in (".txt", ".tsv"):
        path = tmp_path / f"d{suffix}"
        path.write_text(content)
        assert feature_file_error(path) is None
    assert [r.text for r in read_tsv(path)] == content.splitlines()


def test_the_first_lines_are_told_from_the_head_of_the_file_alone(tmp_path):
    # a first line of 20 MB was read whole (and 100 MB of blank lines one by one, 12 s)
    # to tell a feature file by its first 10,000 characters
    import tracemalloc

    from tagsmith.data.readers import first_lines

    path = tmp_path / "d.txt"
    path.write_text("rain " * 4_000_000 + "\nsnow\n")
    tracemalloc.start()
    try:
        lines = first_lines(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(lines) == 1 and lines[0] == ("rain " * 2_000)[:10_000]
    assert peak < 4_000_000, peak
    blank = tmp_path / "blank.txt"
    blank.write_text("\n" * 3_000_000 + SVMLIGHT)
    assert first_lines(blank) == []


def test_a_first_line_naming_one_label_twice_is_read_as_before(tmp_path):
    # 'Python tutorial<TAB>python programming tutorial beginner code python' (6 labels,
    # 'python' twice) was refused as LibMultiLabel's LABELS<TAB>TEXT, --on-error skip too
    path = tmp_path / "c.tsv"
    path.write_text("Python tutorial\tpython programming tutorial beginner code python\n"
                    "NYC\tnew_york new_york_city usa travel city new_york\n")
    for on_error in ("fail", "skip"):
        records = list(read_tsv(path, on_error=on_error))
        assert [len(r.labels) for r in records] == [6, 6]


@pytest.fixture
def model(tmp_path, vocab):
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"{t}\t" + " ".join(f"<http://ex.org/{k}>" for k in ks) + "\n"
                              for _, t, ks in docs()))
    trained = run("train", corpus, "-o", tmp_path / "m", "--vocab", vocab, *FAST)
    assert trained.exit_code == 0, trained.output
    return tmp_path / "m"


@pytest.mark.parametrize("content", [XMC, SVMLIGHT], ids=["xmc", "svmlight"])
def test_suggest_refuses_a_feature_file_on_stdin(model, content):
    """The check read the first MiB of a regular file only: a feature file on stdin
    (cat xmc.txt | tagsmith suggest B) was answered line by line, its header a
    document, exit code 0. Its first two lines tell it, with the file's message."""
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "suggest", str(model)],
                                input="\n" + content)
    assert result.exit_code == 3, result.output
    assert "stdin:1: this looks like an" in result.output
    assert '"suggestions"' not in result.output
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "suggest", str(model), "-"],
                                input="rain at 12:30\n12:30 14:45\n")
    assert result.exit_code == 0 and result.output.count('"suggestions"') == 2, result.output


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no named pipes")
def test_suggest_refuses_a_feature_file_through_a_named_pipe_as_its_lines_arrive(tmp_path,
                                                                                 model):
    """A named pipe given as FILE is read once, as it arrives: its first two lines are
    checked when they have come, not after the writer closes the pipe (which would
    hold the refusal of a stream that does not end)."""
    import os
    import threading

    fifo = tmp_path / "features.txt"
    os.mkfifo(fifo)
    done, closed = threading.Event(), threading.Event()

    def write():
        with open(fifo, "w") as handle:
            # its first three lines, as many as a regular file's check reads (an XMC
            # header and one feature line may be followed by a text)
            handle.write("".join(XMC.splitlines(keepends=True)[:3]))
            handle.flush()
            done.wait(60)  # held open until the command is done (at most a minute)
        closed.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        result = run("suggest", model, fifo)
        refused_while_open = not closed.is_set()
    finally:
        done.set()
        writer.join()
    assert result.exit_code == 3, result.output
    assert f"{fifo}:1: this looks like an Extreme Classification (XMC)" in result.output
    assert refused_while_open


def test_a_streams_first_document_is_answered_before_its_second_line_arrives():
    """A document typed at a terminal (or written to a pipe held open) was answered
    only once the next line came: the feature file check held every first line for
    the second. A first line no feature file begins with is let go at once; one that
    may begin one (an XMC header) is held for the second, and refused with it."""
    from tagsmith.cli.commands import _refusing_feature_lines

    def typed(*lines):
        yield from enumerate(lines, start=1)
        raise AssertionError("read past the lines written so far")

    lines = _refusing_feature_lines(typed("rain at 12:30\n"), "stdin")
    assert next(lines) == (1, "rain at 12:30\n")
    lines = _refusing_feature_lines(typed("\n", "3 5 2\n", "the weather today\n"), "stdin")
    assert list(islice(lines, 3)) == [(1, "\n"), (2, "3 5 2\n"), (3, "the weather today\n")]
    with pytest.raises(CorpusFormatError, match=r"stdin:1: this looks like an svmlight"):
        next(_refusing_feature_lines(typed("1 0:1\r\n", "0,1 0:1 3:0.5\r\n"), "stdin"))
    with pytest.raises(CorpusFormatError, match=r"stdin:1: this looks like an Extreme"):
        next(_refusing_feature_lines(typed("3 5 2\r\n", "0 0:1\r\n", "1 2:1\r\n"), "stdin"))


def test_a_tsv_on_stdin_is_told_by_its_whole_lines_as_the_same_file_is(tmp_path, model):
    """The stream's check read each line's text column, the regular file's check its
    whole line: a TSV whose first texts look like feature lines ('1 0:1 2:2<TAB>label')
    was read from a file and refused on stdin, exit code 3."""
    content = "1 0:1 2:2\tweather\n0 1:1 4:2\tfinance\n"
    (tmp_path / "d.tsv").write_text(content, encoding="utf-8")
    for args, given in ((["d.tsv"], None), (["-"], content)):
        result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "suggest", str(model),
                                                       *(str(tmp_path / a) if a != "-" else a
                                                         for a in args)], input=given)
        assert result.exit_code == 0 and result.output.count('"suggestions"') == 2, \
            (args, result.output)


def test_an_xmc_header_a_feature_line_then_text_on_stdin_is_read_as_the_file_is(tmp_path,
                                                                               model):
    """A regular file's check reads three lines: an XMC header, a feature line, then a
    text is no XMC file and is read; on stdin its first two alone were refused."""
    content = "3 5 2\n0 0:1 3:2\nrain snow storm\n"
    (tmp_path / "d.txt").write_text(content, encoding="utf-8")
    for args, given in (([str(tmp_path / "d.txt")], None), (["-"], content)):
        result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "suggest", str(model), *args],
                                    input=given)
        assert result.exit_code == 0 and result.output.count('"suggestions"') == 3, \
            (args, result.output)


GOEMOTIONS = ("My favourite food is anything I didn't have to cook myself.\t27\teebbqej\n"
              "You know the answer man, you are programmed to capture those codes\t4,27\ted7ypvh\n"
              "WHY THE FUCK IS BAYLESS ISOING\t2\teezlygj\n")


def test_goemotions_raw_tsv_says_what_it_is_and_how_to_convert(tmp_path):
    # GoEmotions' file as published (TEXT<TAB>4,27<TAB>COMMENT ID) was said to maybe be
    # LibMultiLabel's ID<TAB>LABELS<TAB>TEXT, its awk writing the comment ids as texts
    path = tmp_path / "train.tsv"
    path.write_text(GOEMOTIONS)
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    message = str(info.value)
    assert "found 3; this looks like GoEmotions' raw TSV" in message
    assert "numeric label ids in column 2" in message and "comment id in column 3" in message
    assert "LibMultiLabel" not in message and "print $1, $2" in message
    # read from Python: the parameter taking the vocabulary, not train's --vocab, nor
    # read_labelled (read_tsv raised it, which other readers call too)
    assert "give label_space=load_vocabulary('vocab.tsv'), vocab.tsv naming the ids" \
        in message and "--vocab" not in message and "read_labelled" not in message, message
    # train and audit, --on-error skip too, say the same (the warning naming the skips)
    for args in (["train", path, "-o", tmp_path / "m", *FAST],
                 ["audit", path, "-o", tmp_path / "a.json"]):
        for skip in ([], ["--on-error", "skip"]):
            result = CliRunner().invoke(tagsmith_cli.cli, [*map(str, args), *skip])
            assert result.exit_code == 3, result.output
            assert "GoEmotions' raw TSV" in result.output, result.output
            assert "give --vocab vocab.tsv naming the ids" in result.output, result.output


@pytest.mark.parametrize("lines", [
    "<http://x/1>\tRain\tA1\n<http://x/2>\tSun\tA2\n",
    # notations on some lines only: the first read as a document, the third refused
    "<http://x/1>\tRain\n<http://x/2>\tSun\n<http://x/3>\tSnow\tB1\n"])
def test_annif_s_vocabulary_with_notations_given_as_a_corpus_says_so(tmp_path, lines):
    # Annif's three-column vocabulary (<uri> TAB label TAB notation) given as the corpus
    # was told it might be LibMultiLabel's text format, its awk writing the notations
    # as texts
    path = tmp_path / "vocab.tsv"
    path.write_text(lines)
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    message = str(info.value)
    assert "found 3; this looks like a vocabulary" in message
    # read from Python: told to load it, not to pass it as train's --vocab
    assert "load it with load_vocabulary" in message and "--vocab" not in message, message
    assert "LibMultiLabel" not in message and "awk" not in message, message
    result = run("train", path, "-o", tmp_path / "m")
    assert result.exit_code == 3 and "this looks like a vocabulary" in result.output, \
        result.output
    assert "pass it as --vocab" in result.output, result.output


@pytest.mark.parametrize("name", ["dev.tsv", "dev.tsv.gz", "my test.tsv"])
def test_goemotions_raw_tsv_advice_converts_the_file_given(tmp_path, name):
    # the advice named train.tsv whatever the file (dev.tsv, test.tsv.gz): its command,
    # run as given, converted another file or none
    import gzip

    path = tmp_path / name
    path.write_bytes(gzip.compress(GOEMOTIONS.encode()) if name.endswith(".gz")
                     else GOEMOTIONS.encode())
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    command = str(info.value).split("convert it with ")[1].split(", and give")[0]
    assert "train" not in command, command
    output = tmp_path / (name.split(".")[0] + "-tagsmith.tsv")
    if shutil.which("awk") and (shutil.which("zcat") or not name.endswith(".gz")):
        subprocess.run(command, shell=True, cwd=tmp_path, check=True)
        assert [r.labels for r in read_tsv(output)] == [("27",), ("4", "27"), ("2",)]


def test_the_advice_names_a_file_of_non_ascii_letters_bare(tmp_path, monkeypatch):
    """A corpus named känslor.tsv was shown quoted in the advice ('känslor.tsv'), as
    shlex.quote quotes every non-ASCII name, though a shell needs no quotes there."""
    monkeypatch.chdir(tmp_path)
    Path("k\u00e4nslor.tsv").write_text(GOEMOTIONS, encoding="utf-8")
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(Path("k\u00e4nslor.tsv")))
    command = str(info.value).split("convert it with ")[1].split(", and give")[0]
    assert command.endswith(" k\u00e4nslor.tsv > k\u00e4nslor-tagsmith.tsv"), command
    if shutil.which("awk"):
        subprocess.run(command, shell=True, check=True)
        assert [r.labels for r in read_tsv(Path("k\u00e4nslor-tagsmith.tsv"))] == \
            [("27",), ("4", "27"), ("2",)]


def test_goemotions_converted_as_advised_reads_the_emotions(tmp_path):
    # the advice's awk commands, run: the ids read as the emotions named by vocab.tsv
    awk = shutil.which("awk")
    if awk is None:
        pytest.skip("no awk")
    raw = tmp_path / "train.tsv"
    raw.write_text(GOEMOTIONS)
    # a copy of emotions.txt with a comment first and Windows line ends: NR-1 numbered
    # the comment, every emotion one off, and kept each CR in the key
    (tmp_path / "emotions.txt").write_bytes(
        b"# GoEmotions' 28 emotions\r\n\r\n" + "".join(f"e{i}\r\n" for i in range(28)).encode())
    from tagsmith.data.readers import GOEMOTIONS_ADVICE
    commands = [part.split(" > ")[0] for part in
                GOEMOTIONS_ADVICE.split("convert it with ")[1].split(", and give")[0:1]]
    commands.append(GOEMOTIONS_ADVICE.split("(notation column 3): ")[1].split(" > ")[0])
    # README's commands are the advice's
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("## Coming from Annif", 1)[1].split("```bash", 2)[2].split("```")[0]
    assert [line.split(" > ")[0] for line in block.strip().splitlines()] == commands
    for command, out in zip(commands, ("train-tagsmith.tsv", "vocab.tsv"), strict=True):
        with open(tmp_path / out, "w") as handle:
            subprocess.run(command, shell=True, cwd=tmp_path, stdout=handle, check=True)
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.io import read_labelled
    space = load_vocabulary(tmp_path / "vocab.tsv")
    Y = read_labelled(tmp_path / "train-tagsmith.tsv", space).Y
    names = space.names()
    assert [[names[j] for j in row.nonzero()[1]] for row in Y] == [["e27"], ["e4", "e27"],
                                                                   ["e2"]]


def test_goemotions_raw_tsv_skipped_whole_says_why_with_q(tmp_path):
    # every line skipped: the error said only "no documents in the corpus (3 malformed
    # lines skipped)", the reason in a warning -q hides (train and audit alike)
    path = tmp_path / "train.tsv"
    path.write_text(GOEMOTIONS)
    for args, what in ((["train", path, "-o", tmp_path / "m", *FAST],
                        "no documents in the corpus"),
                       (["audit", path, "-o", tmp_path / "a.json"], "no documents to audit")):
        result = run(*args, "--on-error", "skip")
        assert result.exit_code == 3, result.output
        assert (f"{what} (3 malformed lines skipped; first at line 1: expected 1 or 2 "
                "tab-separated columns, found 3; this looks like GoEmotions' raw TSV"
                in result.output), result.output


@pytest.mark.parametrize("line", ["Elections in Finland\t2020\t2021\n",
                                  "Rainy day in town\t3\ten\n",
                                  "Rainy day in town\t3\tWeather\n"])
def test_a_three_column_tsv_of_no_goemotions_ids_is_not_told_goemotions(tmp_path, line):
    # a native corpus's labels typed TAB-separated ('2020<TAB>2021'), or a third column
    # of a language or a name, was told it was GoEmotions' raw TSV, whose advice drops
    # column 3 (a label) and names the ids by a vocabulary of 28 emotions: GoEmotions'
    # ids are 0-27 and its comment ids Reddit's (lowercase letters and digits,
    # 7 of them)
    path = tmp_path / "train.tsv"
    path.write_text(line)
    with pytest.raises(CorpusFormatError, match="found 3") as info:
        list(read_tsv(path))
    assert "GoEmotions" not in str(info.value), str(info.value)


def test_goemotions_raw_tsv_gz_advice_runs_as_given(tmp_path):
    # GoEmotions' files as downloaded are .tsv.gz: the advice's awk, run on one, wrote
    # gzip bytes (awk reads no gzip), which train refused as a gzip file misnamed
    if shutil.which("awk") is None or shutil.which("zcat") is None:
        pytest.skip("no awk or zcat")
    import gzip

    path = tmp_path / "train.tsv.gz"
    path.write_bytes(gzip.compress(GOEMOTIONS.encode()))
    with pytest.raises(CorpusFormatError) as info:
        list(read_tsv(path))
    command = str(info.value).split("convert it with ")[1].split(", and give")[0]
    assert command.startswith(f"zcat {path} | awk "), command
    subprocess.run(command, shell=True, cwd=tmp_path, check=True)
    assert [r.labels for r in read_tsv(tmp_path / "train-tagsmith.tsv")] == [
        ("27",), ("4", "27"), ("2",)]


@pytest.mark.parametrize("name, with_id", [("train.tsv", False), ("data.tsv", True),
                                           ("data.tsv.gz", True), ("lml.tsv.gz", False),
                                           ("train.txt", False), ("dev.txt.gz", False)])
def test_libmultilabel_advice_converts_the_file_given(tmp_path, vocab, name, with_id):
    # the advice said awk ... train.txt > train.tsv whatever the file: run on train.tsv
    # (the name put right) it emptied the corpus it read, and awk read a .gz as bytes
    if shutil.which("awk") is None or shutil.which("zcat") is None:
        pytest.skip("no awk or zcat")
    import gzip

    path = write_lml(tmp_path / name.removesuffix(".gz"), with_id=with_id)
    if name.endswith(".gz"):
        path = tmp_path / name
        path.write_bytes(gzip.compress((tmp_path / name.removesuffix(".gz")).read_bytes()))
        (tmp_path / name.removesuffix(".gz")).unlink()
    before = path.read_bytes()
    if ".tsv" in name:
        with pytest.raises(CorpusFormatError) as info:
            list(read_tsv(path))
        message = str(info.value)
    else:  # no corpus suffix: the CLI's refusal names the format
        message = run("train", path, "-o", tmp_path / "m", "--vocab", vocab).output
        message = " ".join(message.split())  # as wrapped
    assert "LibMultiLabel" in message and "awk" in message, message
    command = message.split("puts the text first: ")[1].split("-tagsmith.tsv")[0] \
        + "-tagsmith.tsv"
    assert ("zcat " in command) == name.endswith(".gz"), command
    subprocess.run(command, shell=True, cwd=tmp_path, check=True)
    assert path.read_bytes() == before
    stem = name.split(".")[0]
    records = list(read_tsv(tmp_path / f"{stem}-tagsmith.tsv"))
    assert [r.text for r in records] == [text for _, text, _ in docs()]


@pytest.mark.skipif(not all(shutil.which(tool) for tool in ("awk", "zcat", "sed", "jq",
                                                             "gzip")),
                    reason="needs awk, zcat, sed, jq and gzip")
@pytest.mark.parametrize("name", ["-dev.tsv.gz", "-dev.tsv", "-annif.csv.gz", "-annif.jsonl"])
def test_the_advice_for_a_file_named_with_a_leading_dash_runs_as_given(tmp_path, vocab,
                                                                       monkeypatch, name):
    """A corpus named -dev.tsv.gz (given after --) was written bare into the advice:
    pasted, 'zcat -dev.tsv.gz' took the name for options and converted nothing (so did
    awk, sed, gzip and jq). The advice names it ./-dev.tsv.gz."""
    import gzip

    monkeypatch.chdir(tmp_path)
    if "annif" in name:
        content = ("document_id,text,subject_uris\n" + "".join(
            f"{d},{t}," + " ".join(f"<http://ex.org/{k}>" for k in ks) + "\n"
            for d, t, ks in docs()) if ".csv" in name else "".join(json.dumps({
                "document_id": d, "text": t, "subjects": [
                    {"uri": f"http://ex.org/{k}"} for k in ks]}) + "\n"
                for d, t, ks in docs()))
    else:
        content = GOEMOTIONS
    Path(name).write_bytes(gzip.compress(content.encode()) if name.endswith(".gz")
                           else content.encode())
    result = run("train", "-o", tmp_path / "m", "--vocab", vocab, "--", name)
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    if "annif" in name:
        command = re.search(r"(?:gzip -dc|sed '|jq -c).*", said).group()
        out = Path("corpus.csv" if ".csv" in name else "corpus.jsonl")
    else:
        command = said.split("convert it with ")[1].split(", and give")[0]
        out = Path("-dev-tagsmith.tsv")
    assert f"./{name}" in command, command
    subprocess.run(command, shell=True, cwd=tmp_path, check=True)
    if "annif" in name:
        reader = read_csv if ".csv" in name else read_jsonl
        assert [(r.doc_id, list(r.labels)) for r in reader(out)] \
            == [(d, [f"<http://ex.org/{k}>" for k in ks]) for d, _, ks in docs()]
    else:
        assert [r.labels for r in read_tsv(out)] == [("27",), ("4", "27"), ("2",)]


def test_a_vocabulary_read_as_a_corpus_from_python_is_told_load_vocabulary(tmp_path):
    """read_labelled of a vocabulary TSV (<uri> TAB name) said "give it as --vocab",
    train's option, to a Python caller, where the same vocabulary with a notation column
    was told "load it with load_vocabulary"; a command still names its option."""
    from tagsmith import LabelSpace, read_labelled
    from tagsmith._surface import command_line
    from tagsmith.exceptions import DataError

    path = tmp_path / "v.tsv"
    path.write_text("<http://x/1>\tRain\n<http://x/2>\tSun\n", encoding="utf-8")
    space = LabelSpace.from_uris(["Rain", "Sun"])
    with pytest.raises(DataError) as info:
        read_labelled(path, space)
    assert "(load it with load_vocabulary;" in str(info.value), str(info.value)
    assert "--vocab" not in str(info.value), str(info.value)
    with command_line(), pytest.raises(DataError, match=r"\(give it as --vocab;"):
        read_labelled(path, space)
    # the option is said while a command runs, whatever its name: a Python caller
    # passing another (taxonomy's --map-to) was told it, the default alone reworded
    from tagsmith.data.readers import check_not_a_vocabulary

    with pytest.raises(DataError, match=r"\(load it with load_vocabulary;"):
        check_not_a_vocabulary(["<http://x/1>"], path, vocab_option="--map-to")
    with command_line(), pytest.raises(DataError, match=r"\(give it as --map-to;"):
        check_not_a_vocabulary(["<http://x/1>"], path, vocab_option="--map-to")
