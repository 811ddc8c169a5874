"""``tagsmith vocab VOCAB --output FILE``: the vocabulary read (and selected) written as
CSV, TSV or SKOS. No command exported a loaded vocabulary: converting STW's SKOS to a
CSV for a spreadsheet, or handing a subset to Annif as a TSV, took Python."""
import json
import os
import re

import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.data.vocab import load_vocabulary

from conftest import ROOT

tagsmith_cli._register_commands()
SLICE = ROOT / "tests" / "data" / "stw-slice.ttl"
DESCRIPTORS = "http://zbw.eu/stw/descriptor/"


def run(*args):
    return CliRunner().invoke(tagsmith_cli.cli, list(map(str, args)))


def fields(space):
    """Everything a label space holds of its labels, in id order."""
    return [(label.uri, label.pref_labels, label.alt_labels, label.description,
             label.notation, label.broader, label.deprecated, label.replaced_by)
            for label in space]


@pytest.mark.parametrize("name", ["out.csv", "out.ttl", "out.rdf.gz", "out.jsonld"])
def test_output_reads_back_as_the_vocabulary_read(tmp_path, name):
    """CSV and SKOS hold every field: the file reads back with the same labels, names,
    languages, hierarchy and deprecations, on the same ids."""
    out = tmp_path / name
    result = run("vocab", SLICE, "--output", out, "--show", "0")
    assert result.exit_code == 0, result.output
    source = load_vocabulary(SLICE)
    back = load_vocabulary(out)
    assert fields(back) == fields(source)
    assert back.languages == ["de", "en"] and back.has_hierarchy
    assert int(back.deprecated_mask.sum()) == int(source.deprecated_mask.sum()) > 0
    assert f"wrote {len(source)} labels to {out} (" in result.output


@pytest.mark.parametrize("name", ["sub.csv", "sub.ttl"])
def test_output_holds_the_selected_labels_only(tmp_path, name):
    """--vocab-prefix (as --vocab-type, --vocab-scheme) selects what is written: the
    descriptors of STW without its thesaurus categories."""
    out = tmp_path / name
    result = run("vocab", SLICE, "--vocab-prefix", DESCRIPTORS, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    selected = load_vocabulary(SLICE, prefixes=[DESCRIPTORS])
    back = load_vocabulary(out)
    assert fields(back) == fields(selected)
    assert 0 < len(back) < len(load_vocabulary(SLICE))
    assert all(label.uri.startswith(DESCRIPTORS) for label in back)
    summary = json.loads(result.stdout)
    assert summary["output"] == {"path": str(out), "format": out.suffix[1:].replace(
        "ttl", "skos"), "n_labels": len(selected), "n_other_language_names": 0}


def test_tsv_holds_the_lang_name_falling_back_and_says_what_it_lost(tmp_path, caplog):
    """A TSV holds a URI, one name (--lang's) and a notation: a label lacking a name in
    --lang is written by the name 'vocab --lang' shows (save_vocabulary_tsv(language=
    "de") wrote an empty one), and what the TSV cannot hold is said."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_de,label_en,altlabel_en,notation,broader,deprecated\n"
                     "u:a,Apfel,apple,pomme|malus,A1,,\nu:b,,pear,,,u:a,\n"
                     "u:c,Kirsche,cherry,,,u:a,true\nu:d,,,,,,\n", encoding="utf-8")
    out = tmp_path / "v-de.tsv"
    result = run("vocab", vocab, "--lang", "de", "-o", out, "--show", "0")
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == ("<u:a>\tApfel\tA1\n<u:b>\tpear\n"
                                               "<u:c>\tKirsche\n<u:d>\t\n")
    back = load_vocabulary(out)
    assert [label.uri for label in back] == ["u:a", "u:b", "u:c", "u:d"]
    assert back.names("de")[:3] == ["Apfel", "pear", "Kirsche"]
    assert not back.has_hierarchy and not back.deprecated_mask.any()
    assert ("1 label has no name in 'de' and was written by another language's: "
            "<u:b> 'pear' (en)") in caplog.text
    assert ("a TSV holds a URI, one name and a notation per label; not written: names in "
            "en (save the 1 written for a label with none in 'de'); 2 alternative labels; "
            "2 broader links; 1 deprecation") in caplog.text


def test_tsv_says_it_lost_the_hidden_labels(tmp_path, caplog):
    # the alternative labels a TSV cannot hold were said, its hidden labels
    # (hiddenlabel_xx, skos:hiddenLabel) dropped with no word
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en,hiddenlabel_en\nu:a,apple,aple|appel\nu:b,pear,\n",
                     encoding="utf-8")
    result = run("vocab", vocab, "-o", tmp_path / "v.tsv", "--show", "0")
    assert result.exit_code == 0, result.output
    assert ("a TSV holds a URI, one name and a notation per label; not written: 2 hidden "
            "labels (write .csv or SKOS to keep them)") in caplog.text


def test_output_refusals_leave_files_as_they_were(tmp_path):
    """An existing output is replaced only with --force; VOCAB itself never (by its
    name or another); a suffix naming no format written, or another than --format, is
    refused before the vocabulary is read; --format and --force need --output."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:a,apple\n", encoding="utf-8")
    out = tmp_path / "o.tsv"
    out.write_text("mine\n", encoding="utf-8")
    result = run("vocab", vocab, "-o", out)
    assert result.exit_code == 2 and "does not exist yet (pass --force" in result.output
    assert out.read_text(encoding="utf-8") == "mine\n"
    assert run("vocab", vocab, "-o", out, "--force").exit_code == 0
    assert out.read_text(encoding="utf-8") == "<u:a>\tapple\n"
    os.link(vocab, tmp_path / "hard.csv")
    for same in (vocab, tmp_path / "x" / ".." / "v.csv", tmp_path / "hard.csv"):
        result = run("vocab", vocab, "-o", same, "--force")
        assert result.exit_code == 2 and "not VOCAB" in result.output, result.output
    assert vocab.read_text(encoding="utf-8") == "uri,label_en\nu:a,apple\n"
    for args, said in ((["-o", tmp_path / "o.txt"], "or --format csv|tsv|skos"),
                       (["-o", tmp_path / "o.tsv", "--format", "csv", "--force"],
                        ".tsv is read back as tsv"),
                       (["-o", tmp_path / "o.voc", "--format", "skos"], "the suffix telling"),
                       (["--format", "csv"], "--format only applies with --output"),
                       (["--force"], "--force only applies with --output")):
        result = run("vocab", vocab, *args)
        assert result.exit_code == 2 and said in result.output, (args, result.output)
    assert out.read_text(encoding="utf-8") == "<u:a>\tapple\n"
    assert not (tmp_path / "o.txt").exists() and not (tmp_path / "o.voc").exists()
    # a gzipped name naming no format ("out.gz"): no command read it back
    for name in ("out.gz", "out.GZ"):
        result = run("vocab", vocab, "-o", tmp_path / name, "--format", "csv")
        assert result.exit_code == 2 and f"({tmp_path / 'out'}.csv.gz)" in result.output, \
            result.output
        assert not (tmp_path / name).exists()
    # another suffix is written with --format, and read back with that format
    result = run("vocab", vocab, "-o", tmp_path / "o.voc", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert fields(load_vocabulary(tmp_path / "o.voc", format="csv")) == \
        fields(load_vocabulary(vocab))


def test_force_over_a_symbolic_link_replaces_the_link_not_its_target(tmp_path):
    """--output LINK --force writes a new file in the link's place and leaves the file
    the link pointed to as it was: writing through links would let an output overwrite
    an input (VOCAB, a corpus) or a file another user's link in /tmp points to."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:a,apple\n", encoding="utf-8")
    (tmp_path / "current").mkdir()
    target = tmp_path / "current" / "labels.tsv"
    target.write_text("<u:z>\told\n", encoding="utf-8")
    link = tmp_path / "labels.tsv"
    link.symlink_to(target)
    result = run("vocab", vocab, "-o", link, "--force")
    assert result.exit_code == 0, result.output
    assert not link.is_symlink() and link.read_text(encoding="utf-8") == "<u:a>\tapple\n"
    assert target.read_text(encoding="utf-8") == "<u:z>\told\n"
    (tmp_path / "v-link.csv").symlink_to(vocab)
    result = run("vocab", vocab, "-o", tmp_path / "v-link.csv", "--force")
    assert result.exit_code == 2 and "not VOCAB" in result.output, result.output
    assert vocab.read_text(encoding="utf-8") == "uri,label_en\nu:a,apple\n"


def test_a_failed_write_leaves_the_old_output(tmp_path):
    """A label the format cannot hold (an alternative label holding the CSV's '|') is
    refused naming it, and the file --force would have replaced is left whole."""
    vocab = tmp_path / "v.ttl"
    vocab.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
                     "<u:a> a skos:Concept ; skos:prefLabel \"apple\"@en ; "
                     "skos:altLabel \"a|b\"@en .\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    out.write_text("uri,label_en\nu:z,old\n", encoding="utf-8")
    result = run("vocab", vocab, "-o", out, "--force")
    assert result.exit_code != 0 and "'a|b'" in result.output, result.output
    assert out.read_text(encoding="utf-8") == "uri,label_en\nu:z,old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv", "v.ttl"]


def test_the_command_list_says_vocab_exports():
    """``tagsmith --help`` listed vocab as "Inspect a vocabulary file.": nothing told a
    user looking for a converter that it writes one."""
    listing = run("--help").output.split("Commands:", 1)[1]
    assert re.search(r"\n  vocab\s+Inspect or export a vocabulary file\.", listing), listing
    assert "with --output, write the labels read as CSV, TSV or SKOS" in " ".join(
        run("vocab", "--help").output.split())
