"""Vocabulary loaders: TSV, CSV and SKOS (a real STW slice) into a LabelSpace."""

import gzip
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.data.vocab import (
    load_or_update,
    load_vocabulary,
    save_vocabulary_csv,
    save_vocabulary_skos,
    save_vocabulary_tsv,
)
from tagsmith.exceptions import (
    InvalidParameterError,
    MissingDependencyError,
    UnsupportedFormatError,
    VocabularyError,
)

DATA = Path(__file__).parent / "data"
SLICE = DATA / "stw-slice.ttl"
SLICE_TSV = DATA / "stw-slice-en.tsv"
CSV = DATA / "vocab.csv"
STW = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "stw"
S = "http://zbw.eu/stw/"
#: what make_stw_slice.py wrote: 173 skos:Concept + 12 deprecated zbwext:Descriptor-only
SLICE_CONCEPTS = 185

needs_rdflib = pytest.mark.skipif(importlib.util.find_spec("rdflib") is None,
                                  reason="rdflib not installed")


def _gzip_copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(gzip.compress(src.read_bytes()))
    return dst


@pytest.fixture(scope="module")
def slice_graph():
    rdflib = pytest.importorskip("rdflib")
    graph = rdflib.Graph()
    graph.parse(SLICE, format="turtle")
    return graph


@pytest.fixture(scope="module")
def stw_slice():
    pytest.importorskip("rdflib")
    return load_vocabulary(SLICE)


# -- SKOS -----------------------------------------------------------------------------------
def _sparql_set(graph, query: str) -> set:
    prefixes = ("PREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n"
                "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
                "PREFIX owl: <http://www.w3.org/2002/07/owl#>\n")
    return {tuple(str(v) for v in row) for row in graph.query(prefixes + query)}


def test_skos_slice_concepts_counted_independently(stw_slice, slice_graph):
    concepts = _sparql_set(slice_graph, "SELECT DISTINCT ?c WHERE "
                           "{ ?c a/rdfs:subClassOf* skos:Concept FILTER(isIRI(?c)) }")
    assert len(stw_slice) == len(concepts) == SLICE_CONCEPTS
    assert set(stw_slice.uris) == {c for (c,) in concepts}
    assert stw_slice.uris == sorted(stw_slice.uris)  # ids are reproducible: sorted by URI
    assert stw_slice.name == "stw-slice" and stw_slice.languages == ["de", "en"]


def test_skos_known_concept_has_real_labels(stw_slice):
    label = stw_slice[stw_slice.id_of(S + "descriptor/10176-6")]
    assert label.pref_labels == {"en": "Household production", "de": "Haushaltsproduktion"}
    assert label.alt_labels == {"en": ["Home production"]}
    assert label.description["en"] == "Goods and services produced by households for their own use."
    assert label.broader == [S + "descriptor/10177-4", S + "thsys/70814"]
    family = stw_slice[stw_slice.id_of(S + "descriptor/10173-5")]
    assert family.alt_labels["de"] == ["Familienökonomie", "Ökonomische Theorie der Familie"]
    assert len(family.alt_labels["en"]) == 5
    households = stw_slice[stw_slice.id_of(S + "thsys/70814")]
    assert households.notation == "W.33" and households.pref_labels["en"] == "W.33  Households"
    assert stw_slice.lookup("Household production") == stw_slice.id_of(S + "descriptor/10176-6")


def test_skos_hierarchy_matches_the_file(stw_slice, slice_graph):
    pairs = _sparql_set(slice_graph, "SELECT ?c ?p WHERE { { ?c skos:broader ?p } UNION "
                        "{ ?p skos:narrower ?c } }")
    loaded = {(label.uri, parent) for label in stw_slice for parent in label.broader}
    assert loaded == pairs and len(pairs) > 200
    for child in range(len(stw_slice)):
        for parent in stw_slice.broader_ids(child):
            assert child in stw_slice.narrower_ids(parent)
    n_narrower = sum(len(stw_slice.narrower_ids(i)) for i in range(len(stw_slice)))
    assert n_narrower == len(pairs)
    top = stw_slice.id_of(S + "thsys/w")
    assert stw_slice.broader_ids(top) == [] and top in stw_slice.roots()
    assert {stw_slice.uri_of(i) for i in stw_slice.narrower_ids(top)} == {
        S + "thsys/70814", S + "thsys/70818", S + "thsys/70819", S + "thsys/70823"}


def test_skos_deprecated_concepts(stw_slice, slice_graph):
    deprecated = _sparql_set(slice_graph, "SELECT ?c WHERE { ?c owl:deprecated true }")
    assert {stw_slice.uri_of(i) for i in range(len(stw_slice)) if stw_slice.deprecated_mask[i]} \
        == {c for (c,) in deprecated}
    assert stw_slice.deprecated_mask.sum() == 13
    waste = stw_slice[stw_slice.id_of(S + "thsys/70818")]  # W.32, deprecated in STW 9.06
    assert waste.deprecated and waste.notation == "W.32"
    # typed zbwext:Descriptor only, no prefLabel: named from rdfs:label
    old = stw_slice[stw_slice.id_of(S + "descriptor/10613-3")]
    assert old.deprecated
    assert old.pref_labels == {"en": "Labour migration", "de": "Arbeitsmigration"}


def test_skos_fingerprint_deterministic(stw_slice):
    again = load_vocabulary(SLICE)
    assert again == stw_slice and again.fingerprint == stw_slice.fingerprint


def test_skos_slice_agrees_with_its_tsv(stw_slice):
    tsv = load_vocabulary(SLICE_TSV)
    current = [label.uri for label in stw_slice if not label.deprecated]
    assert tsv.uris == current and len(tsv) == 172
    assert tsv.names("en") == [stw_slice.name_of(stw_slice.id_of(u), "en") for u in current]


@needs_rdflib
def test_skos_details_on_inline_turtle(tmp_path):
    path = tmp_path / "tiny.ttl"
    path.write_text("""
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix ex: <http://example.org/> .
ex:Sub rdfs:subClassOf ex:Mid . ex:Mid rdfs:subClassOf skos:Concept .
ex:b a skos:Concept ; skos:prefLabel "bee" ; skos:notation "2", "10" ;
    skos:scopeNote "a note"@en ; skos:definition "a definition"@en ; skos:scopeNote "Notiz"@de ;
    skos:narrower ex:a .
ex:a a ex:Sub ; skos:prefLabel "ay"@en ; skos:broader ex:outside ;
    skos:altLabel "z"@en, "y"@en .
ex:notaconcept skos:prefLabel "nope"@en .
_:blank a skos:Concept ; skos:prefLabel "anonymous"@en .
""", encoding="utf-8")
    space = load_vocabulary(path, language="fi")
    assert space.uris == ["http://example.org/a", "http://example.org/b"]
    a, b = space
    assert a.broader == ["http://example.org/b"]  # inverse narrower; outside URI dropped
    assert a.alt_labels == {"en": ["y", "z"]}
    assert b.pref_labels == {"fi": "bee"}  # untagged literal: the given language
    assert b.notation == "10"  # the first in sorted order
    assert b.description == {"en": "a definition", "de": "Notiz"}


@needs_rdflib
@pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib")  # rdflib's own JSON-LD parser
@pytest.mark.parametrize("suffix, rdf_format", [(".rdf", "xml"), (".nt", "nt"),
                                                (".jsonld", "json-ld"), (".owl", "xml")])
def test_skos_other_rdf_syntaxes(stw_slice, slice_graph, tmp_path, suffix, rdf_format):
    path = tmp_path / f"stw{suffix}"
    slice_graph.serialize(path, format=rdf_format, encoding="utf-8")
    assert load_vocabulary(path) == stw_slice


def test_skos_gz_and_explicit_format(stw_slice, tmp_path):
    assert load_vocabulary(_gzip_copy(SLICE, tmp_path / "stw.ttl.gz")) == stw_slice
    shutil.copy(SLICE, tmp_path / "stw.data")
    assert load_vocabulary(tmp_path / "stw.data", format="skos") == stw_slice


def test_skos_through_csv_keeps_every_field(stw_slice, tmp_path):
    path = save_vocabulary_csv(stw_slice, tmp_path / "stw.csv")
    back = load_vocabulary(path)
    assert back == stw_slice and back.fingerprint == stw_slice.fingerprint


# -- TSV and CSV --------------------------------------------------------------------------------
def test_tsv_loads_names_and_notation(tmp_path):
    space = load_vocabulary(SLICE_TSV)
    assert space.name_of(space.id_of(S + "descriptor/10176-6")) == "Household production"
    assert space[space.id_of(S + "thsys/70814")].pref_labels == {"en": "W.33  Households"}
    path = tmp_path / "v.tsv"
    path.write_text("# comment\n\n<http://x/a>\tapple\tA1\textra\nhttp://x/b\n"
                    "<http://x/c>\t\tC\n", encoding="utf-8")
    space = load_vocabulary(path, language="fi")
    assert [lab.pref_labels for lab in space] == [{"fi": "apple"}, {}, {}]
    assert [lab.notation for lab in space] == ["A1", None, "C"]
    assert space.name_of(1) == "http://x/b"


def test_tsv_round_trip(tmp_path):
    space = load_vocabulary(SLICE_TSV)
    out = save_vocabulary_tsv(space, tmp_path / "out.tsv")
    assert out.read_text(encoding="utf-8") == SLICE_TSV.read_text(encoding="utf-8")
    back = load_vocabulary(out)
    assert back == space and back.fingerprint == space.fingerprint
    notated = LabelSpace([Label("u:a", {"de": "Ä\tb"}, notation="N1"), Label("u:b")])
    back = load_vocabulary(save_vocabulary_tsv(notated, tmp_path / "n.tsv", "de"), language="de")
    assert [lab.notation for lab in back] == ["N1", None]
    assert back.names("de") == ["Ä b", "u:b"]



def test_tsv_round_trip_keeps_breaks_the_reader_does_not_split_at(tmp_path):
    """Names with a form feed, U+0085, U+2028 or U+2029 came back with spaces there:
    the writer split them as str.splitlines does, the reader splits at CR and LF only."""
    names = ["x\u2028y", "p\x0cq", "n\x85m", "s\u2029t\x1cu", "cr\r\nlf\rx"]
    space = LabelSpace([Label(f"u:{i}", {"en": name}) for i, name in enumerate(names)])
    back = load_vocabulary(save_vocabulary_tsv(space, tmp_path / "v.tsv"))
    assert back.names("en") == names[:4] + ["cr lf x"]

def test_tsv_writer_takes_a_variant_of_the_language(tmp_path):
    # en-GB (or EN) on an English vocabulary wrote every name empty
    space = LabelSpace([Label("u:a", {"en": "apple", "de": "Apfel"}), Label("u:b", {"de": "B"})])
    for language in ("en-GB", "EN"):
        out = save_vocabulary_tsv(space, tmp_path / f"{language}.tsv", language)
        assert out.read_text(encoding="utf-8") == "<u:a>\tapple\n<u:b>\t\n"


def test_csv_loads_every_column():
    space = load_vocabulary(CSV)
    assert len(space) == 6 and space.languages == ["de", "en"]
    econ = space[space.id_of(S + "descriptor/10177-4")]  # <bracketed> URI in the file
    assert econ.pref_labels == {"en": "Household economics", "de": "Haushaltsökonomik"}
    assert econ.alt_labels == {"en": ["Household decision making",
                                      "Household economic behaviour"],
                               "de": ["Haushaltsökonomie"]}
    assert space[space.id_of(S + "thsys/70814")].notation == "W.33"
    production = space[space.id_of(S + "descriptor/10176-6")]
    assert production.broader == [S + "descriptor/10177-4", S + "thsys/70814"]
    assert production.description == {
        "en": "Goods and services produced by households for their own use."}
    old = space[space.id_of(S + "descriptor/11032-4")]
    assert old.deprecated and old.description["en"] == \
        'Deprecated, replaced by "Household survey"'
    assert space.deprecated_mask.tolist() == [False] * 5 + [True]
    assert space.narrower_ids(space.id_of(S + "thsys/70814")) == [2, 3, 4]


def test_csv_round_trip(tmp_path):
    space = load_vocabulary(CSV)
    first = save_vocabulary_csv(space, tmp_path / "a.csv")
    back = load_vocabulary(first)
    assert back == space and back.fingerprint == space.fingerprint
    second = save_vocabulary_csv(back, tmp_path / "b.csv")
    assert second.read_bytes() == first.read_bytes()
    assert first.read_text(encoding="utf-8").splitlines()[0] == (
        "uri,label_de,label_en,altlabel_de,altlabel_en,description_en,notation,broader,deprecated")


def test_csv_round_trip_of_a_space_without_names_is_quiet(tmp_path, caplog):
    """A label space with no names was written with a header of 'uri' alone, which
    reading back warned of ('no label column'): an empty label column is written."""
    space = LabelSpace([Label("http://x/a", {}, notation="A1"), Label("http://x/b", {})])
    path = save_vocabulary_csv(space, tmp_path / "v.csv")
    assert path.read_text(encoding="utf-8").splitlines() == [
        "uri,label,notation", "http://x/a,,A1", "http://x/b,,"]
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        back = load_vocabulary(path)
    assert back == space and caplog.text == ""


def test_csv_lenient_header(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("\ufeffURI,Label,Label_fi,comment\nhttp://x/a,apple,omena,ignored\n"
                    "\nhttp://x/b,,,\n", encoding="utf-8")
    space = load_vocabulary(path, language="en")
    assert [lab.pref_labels for lab in space] == [{"en": "apple", "fi": "omena"}, {}]


def test_csv_saved_by_a_spreadsheet_with_semicolons_or_tabs(tmp_path):
    # refused as "no 'uri' column in the CSV header; columns found: ['uri;label_en']"
    for content in ("sep=;\r\nuri;label_en;label_de\r\nhttp://x/a;apple, red;Apfel\r\n",
                    "uri;label_en;label_de\nhttp://x/a;apple, red;Apfel\n",
                    "uri\tlabel_en\tlabel_de\nhttp://x/a\tapple, red\tApfel\n"):
        path = tmp_path / "v.csv"
        path.write_text(content, encoding="utf-8")
        space = load_vocabulary(path, language="en")
        assert [(lab.uri, lab.pref_labels) for lab in space] == [
            ("http://x/a", {"en": "apple, red", "de": "Apfel"})], content


def test_a_csv_corpus_given_as_a_vocabulary_is_named_a_corpus(tmp_path):
    # train --vocab corpus.csv said only "no 'uri' column ... columns found: ['text',
    # 'labels']", though the corpus readers name a vocabulary's header in the reverse case
    path = tmp_path / "corpus.csv"
    path.write_text("\ufeffText,labels\nhello,<http://x/a>\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=re.escape(
            f"{path}:1: no 'uri' column in the CSV header; columns found: ['Text', "
            "'labels']; a 'text' column is a corpus's header, not a vocabulary's")):
        load_vocabulary(path)
    path.write_text("id,label_en\nx,y\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"columns found: \['id', 'label_en'\]; "
                       r"rename 'id' to 'uri' \(a code is its label's URI\)$"):
        load_vocabulary(path)


def test_csv_header_without_a_label_column_is_warned_about(tmp_path, caplog):
    # a misspelt header ("name", "prefLabel_en") loaded a vocabulary of nameless labels
    # without a word: each label shown and named by its URI, --lang never warned
    path = tmp_path / "v.csv"
    path.write_text("uri,name,prefLabel_en\nhttp://x/a,apple,apple\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    assert space.names() == ["http://x/a"]  # still loaded: URIs alone are a vocabulary
    assert f"{path}:1: no label column (label or label_xx)" in caplog.text
    assert "['uri', 'name', 'prefLabel_en']" in caplog.text
    caplog.clear()
    path.write_text("uri,Label_fi\nhttp://x/a,omena\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        load_vocabulary(path)
    assert "label column" not in caplog.text


def test_csv_header_of_a_code_list_names_the_columns_to_rename(tmp_path, caplog):
    """A code list kept as code, title, parent code (ICD-10, NAICS): 'code,title,parent'
    was refused saying only that the header has no 'uri' column, and 'uri,label,parent'
    loaded with its hierarchy lost without a word (the 'parent' column ignored, as any
    unknown one: has_hierarchy no). Each says which column to rename to what."""
    path = tmp_path / "icd.csv"
    path.write_text("code,title,parent\nE11,Type 2 diabetes,\nE11.9,T2D,E11\n",
                    encoding="utf-8")
    with pytest.raises(VocabularyError, match=re.escape(
            f"{path}:1: no 'uri' column in the CSV header; columns found: ['code', 'title', "
            "'parent']; rename 'code' to 'uri', 'title' to 'label', 'parent' to 'broader' "
            "(a code is its label's URI)")):
        load_vocabulary(path)
    path.write_text("uri,label,Parent_Code\nE11,Type 2 diabetes,\nE11.9,T2D,E11\n",
                    encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    assert not space.has_hierarchy
    assert (f"{path}:1: the CSV header's column 'Parent_Code' is not read (unknown columns "
            "are ignored); rename 'Parent_Code' to 'broader'") in caplog.text
    caplog.clear()
    path.write_text("uri,title,broader,parent\nE11,Type 2 diabetes,,\nE11.9,T2D,E11,E11\n",
                    encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    assert space.has_hierarchy  # a 'broader' column read: 'parent' beside it is no hint
    assert caplog.text.count("WARNING") == 1
    assert "columns found: ['uri', 'title', 'broader', 'parent']; rename 'title' to " \
        "'label'\n" in caplog.text
    # as code lists write their headers: 'Code', 'Parent Code', 'Concept-ID'
    path.write_text("Concept-ID,Title,Parent Code\nE11,Type 2 diabetes,\nE11.9,T2D,E11\n",
                    encoding="utf-8")
    with pytest.raises(VocabularyError, match=re.escape(
            "rename 'Concept-ID' to 'uri', 'Title' to 'label', 'Parent Code' to 'broader'")):
        load_vocabulary(path)


def test_gz_files_load_identically(tmp_path):
    for src in (SLICE_TSV, CSV):
        gz = _gzip_copy(src, tmp_path / (src.name + ".gz"))
        assert load_vocabulary(gz) == load_vocabulary(src)
    space = load_vocabulary(CSV)
    out = save_vocabulary_csv(space, tmp_path / "out.csv.gz")
    assert out.read_bytes()[:2] == b"\x1f\x8b" and load_vocabulary(out) == space
    assert save_vocabulary_csv(space, tmp_path / "again.csv.gz").read_bytes() == out.read_bytes()


@pytest.mark.parametrize("gz", [False, True])
def test_cr_only_vocabularies_load_as_lf_ones(tmp_path, gz):
    """Old Mac line ends (a lone CR): in a file with no LF both readers split lines at
    CR, a quoted CR in a CSV cell kept."""
    for src in (SLICE_TSV, CSV):
        text = src.read_bytes().replace(b"\r\n", b"\n")
        assert b"\r" not in text
        dst = tmp_path / (src.name + (".gz" if gz else ""))
        cr = text.replace(b"\n", b"\r")
        dst.write_bytes(gzip.compress(cr) if gz else cr)
        assert load_vocabulary(dst) == load_vocabulary(src)
    quoted = tmp_path / "quoted.csv"
    quoted.write_bytes(b'uri,label_en\rhttp://x/a,apple\r"http://x/b","pe\rar"\r')
    assert load_vocabulary(quoted).names() == ["apple", "pe\rar"]



@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".tsv.gz"])
def test_lone_cr_inside_a_line_is_refused_not_split(tmp_path, suffix):
    """A CR inside a line of a file with LF line ends ("foo\\rbar", pasted from an old
    Mac text) is not a line end: text mode split the line there, and the tail "bar" was
    read as a third label's URI, silently. TSV has no quoting to hold a CR, so it is an
    error naming file:line, as an unquoted CR in a CSV cell is; a quoted one is kept."""
    sep = "\t" if ".tsv" in suffix else ","
    head = "" if ".tsv" in suffix else f"uri{sep}label_en\n"
    data = f"{head}u:a{sep}foo\rbar\nu:b{sep}baz\n".encode()
    path = tmp_path / f"v{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    line = 1 if ".tsv" in suffix else 2
    with pytest.raises(VocabularyError, match=f"^{re.escape(str(path))}:{line}: .*carriage "
                       r"return \(CR\) inside"):
        load_vocabulary(path)
    if ".tsv" in suffix:  # a malformed line, skipped on request (a CSV error is not)
        assert load_vocabulary(path, on_error="skip").uris == ["u:b"]
    quoted = tmp_path / "quoted.csv"
    quoted.write_bytes(b'uri,label_en\nu:a,"foo\rbar"\nu:b,baz\n')
    assert load_vocabulary(quoted).names() == ["foo\rbar", "baz"]


# -- stable ids -------------------------------------------------------------------------------
@needs_rdflib
def test_load_or_update_keeps_ids(stw_slice, slice_graph, tmp_path):
    import rdflib

    removed = [S + "descriptor/10176-6", S + "thsys/70819"]
    graph = rdflib.Graph()
    for triple in slice_graph:
        if str(triple[0]) not in removed and str(triple[2]) not in removed:
            graph.add(triple)
    skos = rdflib.namespace.SKOS
    for uri, name in [("http://example.org/new/2", "Zebra"), ("http://example.org/new/1", "Ant")]:
        graph.add((rdflib.URIRef(uri), rdflib.RDF.type, skos.Concept))
        graph.add((rdflib.URIRef(uri), skos.prefLabel, rdflib.Literal(name, lang="en")))
    path = tmp_path / "stw-next.ttl"
    graph.serialize(path, format="turtle")

    merged = load_or_update(path, stw_slice)
    assert merged.is_compatible_prefix_of(merged) and stw_slice.is_compatible_prefix_of(merged)
    assert len(merged) == len(stw_slice) + 2
    for uri in stw_slice.uris:
        assert merged.id_of(uri) == stw_slice.id_of(uri)
    for uri in removed:
        assert merged[merged.id_of(uri)].deprecated
    assert merged.uris[-2:] == ["http://example.org/new/1", "http://example.org/new/2"]
    assert merged.name_of(len(merged) - 1) == "Zebra"
    assert merged.deprecated_mask.sum() == stw_slice.deprecated_mask.sum() + 2
    assert load_or_update(path, None) == load_vocabulary(path)


# -- errors -----------------------------------------------------------------------------------
def test_duplicate_uri_reports_both_lines(tmp_path):
    path = tmp_path / "dup.tsv"
    path.write_text("<http://x/a>\ta\n<http://x/b>\tb\n\n<http://x/a>\tagain\n", encoding="utf-8")
    with pytest.raises(VocabularyError) as err:
        load_vocabulary(path)
    assert err.value.line == 4 and str(err.value).startswith(f"{path}:4: ")
    assert "http://x/a" in str(err.value) and "line 1" in str(err.value)


def test_malformed_line_fails_or_is_skipped(tmp_path, caplog):
    path = tmp_path / "bad.tsv"
    path.write_text("<http://x/a>\ta\n\tno uri\n<http://x/b c>\tspace\n<http://x/d>\td\n"
                    "<http://x/a>\tdup\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"bad\.tsv:2: ") as err:
        load_vocabulary(path)
    assert err.value.path == str(path) and err.value.line == 2
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path, on_error="skip")
    assert space.uris == ["http://x/a", "http://x/d"] and space.names() == ["a", "d"]
    assert "skipped 3" in caplog.text and "lines 2, 3, 5" in caplog.text


def test_csv_errors(tmp_path):
    path = tmp_path / "nouri.csv"
    path.write_text("id,label_en\nhttp://x/a,a\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"nouri\.csv:1: .*'id', 'label_en'"):
        load_vocabulary(path)
    bad = tmp_path / "bad.csv"
    bad.write_text('uri,label_en,deprecated\nhttp://x/a,"multi\nline",maybe\nhttp://x/b,b,0\n',
                   encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"bad\.csv:2: .*'maybe'"):
        load_vocabulary(bad)
    assert load_vocabulary(bad, on_error="skip").uris == ["http://x/b"]
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(VocabularyError, match="empty"):
        load_vocabulary(empty)


def test_csv_blank_lines_before_the_header_are_named_whatever_on_error_says(tmp_path):
    """A blank line 1 said "no 'uri' column in the CSV header; columns found: []",
    though the header was below it; the corpus reader names the blank lines. Refused
    with --on-error skip too: skipping the header would leave no columns to read by."""
    path = tmp_path / "blank.csv"
    for content, shown in (("\nuri,label_en\nhttp://x/a,a\n", "line 1 is blank: the "
                            "header row (with a 'uri' column) must be the first line, as "
                            "--on-error skip cannot skip it"),
                           (" , \n\t\nuri\nhttp://x/a\n", "lines 1-2 are blank"),
                           ("\n,\n", "every line is blank: no header row")):
        path.write_text(content, encoding="utf-8")
        for on_error in ("fail", "skip"):
            with pytest.raises(VocabularyError) as info:
                load_vocabulary(path, on_error=on_error)
            assert info.value.line == 1 and str(info.value).startswith(f"{path}:1: ")
            assert shown in str(info.value) and "columns found" not in str(info.value)


def test_csv_blank_lines_after_a_sep_line_are_counted_from_line_2(tmp_path):
    # "blank.csv:1: lines 1-2 are blank" where line 1 is Excel's sep=; line
    path = tmp_path / "blank.csv"
    path.write_text("sep=;\n\nuri;label_en\nhttp://x/a;a\n", encoding="utf-8")
    with pytest.raises(VocabularyError) as info:
        load_vocabulary(path)
    assert info.value.line == 2 and str(info.value).startswith(
        f"{path}:2: line 2 is blank: the header row (with a 'uri' column) must be the "
        "first line after the sep= line")
    assert str(info.value).endswith("remove the blank line before line 3")


def test_csv_quote_left_open_is_an_error_naming_the_line_not_lost_concepts(tmp_path):
    # line 3 opens a quote it never closes: the concepts after it used to become part
    # of its label, silently (with on_error="skip" too)
    path = tmp_path / "open.csv"
    path.write_text('uri,label_en\nhttp://x/a,apple\nhttp://x/b,"banana\n'
                    "http://x/c,cherry\nhttp://x/d,date\n", encoding="utf-8")
    for on_error in ("fail", "skip"):
        with pytest.raises(VocabularyError, match=r"open\.csv:5: invalid CSV \(unexpected "
                           r"end of data\) in the row that starts on line 3"):
            load_vocabulary(path, on_error=on_error)


def test_unknown_suffix_and_missing_file(tmp_path):
    odd = tmp_path / "vocab.lst"
    odd.write_text("<http://x/a>\ta\n", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError) as err:
        load_vocabulary(odd)
    assert str(odd) in str(err.value) and ".tsv" in str(err.value) and ".ttl" in str(err.value)
    # every format load_vocabulary takes ('google' was left out) and how Google's is told
    assert "format='tsv'|'csv'|'skos'|'google'|'list')" in str(err.value)
    assert "Google's product taxonomy, told by its first line '# Google_Product_Taxonomy_" \
        "Version:'" in str(err.value)
    assert load_vocabulary(odd, format="tsv").uris == ["http://x/a"]
    missing = tmp_path / "missing.tsv"
    with pytest.raises(VocabularyError, match="missing.tsv"):
        load_vocabulary(missing)
    with pytest.raises(VocabularyError, match="is a folder, not a file"):
        load_vocabulary(tmp_path, format="tsv")

    with pytest.raises(InvalidParameterError):
        load_vocabulary(odd, on_error="ignore")
    with pytest.raises(InvalidParameterError):
        load_vocabulary(odd, format="xlsx")


def test_a_pipe_given_as_the_vocabulary_is_named_as_one_with_what_to_do(tmp_path):
    # <(cat v.tsv) was refused as "/dev/fd/63: is not a file": not why, nor what works
    pipe = tmp_path / "v.tsv"
    os.mkfifo(pipe)  # stat alone tells: the pipe is never opened (which would wait)
    with pytest.raises(VocabularyError, match=r"v.tsv: is a pipe \(a process substitution "
                       r"such as <\(...\), or a named pipe\), not a file: .*save what the "
                       r"pipe gives to a file \(e.g. cat ... > labels.tsv\)"):
        load_vocabulary(pipe)


def test_unreadable_files(tmp_path):
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("<http://x/a>\tÖl\n".encode("latin-1"))
    with pytest.raises(VocabularyError, match=r"latin\.tsv:1: not UTF-8"):
        load_vocabulary(latin)
    fake_gz = tmp_path / "fake.tsv.gz"
    fake_gz.write_bytes(b"not gzip")
    with pytest.raises(VocabularyError, match=r"fake\.tsv\.gz"):
        load_vocabulary(fake_gz)


@needs_rdflib
def test_broken_turtle_names_the_file(tmp_path):
    path = tmp_path / "broken.ttl"
    path.write_text(SLICE.read_text(encoding="utf-8")[:5000] + "\n<http://x/a> skos:prefLabel .\n",
                    encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"broken\.ttl:\d+: not valid RDF \(turtle\)") as err:
        load_vocabulary(path)
    assert err.value.path == str(path)
    gz = _gzip_copy(path, tmp_path / "broken.ttl.gz")
    with pytest.raises(VocabularyError, match=r"broken\.ttl\.gz"):
        load_vocabulary(gz)


def test_missing_rdflib_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdflib", None)
    with pytest.raises(MissingDependencyError, match=r"tagsmith\[skos\]"):
        load_vocabulary(SLICE)


def test_import_does_not_load_rdflib():
    code = "import sys, tagsmith.data.vocab; print('rdflib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_failed_save_leaves_the_old_file(tmp_path):
    path = save_vocabulary_tsv(LabelSpace.from_uris(["u:a"]), tmp_path / "v.tsv")
    before = path.read_bytes()
    broken = LabelSpace([Label("u:b", notation=42)])  # not a str: writing fails midway
    with pytest.raises(TypeError):
        save_vocabulary_tsv(broken, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["v.tsv"]


# -- the full STW ---------------------------------------------------------------------------------
@needs_rdflib
def test_full_stw(stw_slice):
    if not (STW / "stw-skos.ttl.gz").exists():
        pytest.skip("the STW dataset is not available")
    space = load_vocabulary(STW / "stw-skos.ttl.gz")
    tsv = load_vocabulary(STW / "stw-en.tsv.gz")
    # all concepts incl. deprecated ones; the README's 6,243 are the current ones (= the TSV)
    assert len(space) == 7394 and (~space.deprecated_mask).sum() == 6243 == len(tsv)
    current = [label for label in space if not label.deprecated]
    assert [label.uri for label in current] == sorted(tsv.uris)
    assert all(label.pref_labels["en"] == tsv.name_of(tsv.id_of(label.uri)) for label in current)
    assert space.languages == ["de", "en"] and space.has_hierarchy
    for uri in stw_slice.uris:  # the slice is a faithful excerpt
        label = space[space.id_of(uri)]
        sliced = stw_slice[stw_slice.id_of(uri)]
        assert (label.pref_labels, label.alt_labels, label.deprecated) == \
            (sliced.pref_labels, sliced.alt_labels, sliced.deprecated)
        assert set(sliced.broader) <= set(label.broader)


def test_csv_broader_cycles_are_refused_and_outside_links_dropped(tmp_path, caplog):
    from tagsmith.exceptions import VocabularyError

    cases = {"uri,label_en,broader\nhttp://x/a,Apple,http://x/b\nhttp://x/b,Pear,http://x/a\n":
             (2, "<http://x/a> -> <http://x/b> -> <http://x/a>"),
             "uri,broader\nhttp://x/r,\nhttp://x/c,http://x/d\nhttp://x/d,http://x/r "
             "http://x/e\nhttp://x/e,http://x/c\n":
             (3, "<http://x/c> -> <http://x/d> -> <http://x/e> -> <http://x/c>"),
             "uri,broader\nhttp://x/a,\nhttp://x/s,http://x/s\n": (3, "<http://x/s> -> <http://x/s>")}
    for i, (text, (line, cycle)) in enumerate(cases.items()):
        path = tmp_path / f"cycle{i}.csv"
        path.write_text(text)
        with pytest.raises(VocabularyError) as info:
            load_vocabulary(path)
        assert str(info.value) == (f"{path}:{line}: broader cycle: {cycle} (a label cannot be "
                                   "its own ancestor)")
    dangling = tmp_path / "dangling.csv"
    dangling.write_text("uri,label_en,broader\nhttp://x/a,Apple,http://x/zzz\n"
                        "http://x/b,Pear,http://x/zzz http://x/yyy\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(dangling)
    assert [label.broader for label in space] == [[], []]
    assert not space.has_hierarchy and len(space.roots()) == 2
    assert any(f"{dangling}:2: broader <http://x/zzz> is not in the vocabulary" in r.getMessage()
               and "3 broader links" in r.getMessage() for r in caplog.records)
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("uri,broader\nhttp://x/a,http://x/b http://x/out\nhttp://x/b,\n")
    space = load_vocabulary(mixed)
    assert space.has_hierarchy and space.roots() == [1] and space[0].broader == ["http://x/b"]
    # has_hierarchy counts only links within the space, however the labels were made
    assert not LabelSpace([Label("http://x/a", broader=["http://x/gone"])]).has_hierarchy


RDF_HEAD = ('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns:skos="http://www.w3.org/2004/02/skos/core#">')


@pytest.mark.parametrize("doctype, uses, message", [
    ('<!ENTITY a0 "lol"><!ENTITY a1 "&a0;&a0;&a0;">', "&a1;", "nested entities are refused"),
    ('<!ENTITY ext SYSTEM "file:///etc/hostname">', "&ext;", "external entities are refused"),
    (f'<!ENTITY big "{"x" * 4096}">', "&big;" * 5000, "expand to"),
])
def test_rdf_xml_entity_attacks_are_refused_before_parsing(tmp_path, doctype, uses, message):
    path = tmp_path / "v.rdf"
    path.write_text(f'<?xml version="1.0"?><!DOCTYPE rdf:RDF [{doctype}]>{RDF_HEAD}'
                    f'<skos:Concept rdf:about="http://x/a"><skos:prefLabel>w{uses}'
                    '</skos:prefLabel></skos:Concept></rdf:RDF>')
    with pytest.raises(VocabularyError, match=message):  # refused before any parsing
        load_vocabulary(path)


def _refused_and_peak(path):
    """``load_vocabulary(path)``'s VocabularyError and the peak of memory traced while
    it was refused."""
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(VocabularyError) as info:
            load_vocabulary(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return info, peak


@needs_rdflib
def test_rdf_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    # a plain (not gzipped) SKOS file was read whole before the cap was checked: a
    # 10 GB file took 10 GB of memory to be refused. The cap is lowered here so that a
    # small sparse file shows it: 64 MiB read would show in the traced peak
    monkeypatch.setattr("tagsmith.data.vocab.MAX_RDF_BYTES", 1 << 20)
    path = tmp_path / "huge.ttl"
    with open(path, "wb") as handle:
        handle.truncate(64 << 20)  # sparse: no disk written
    info, peak = _refused_and_peak(path)
    assert str(info.value) == (f"{path}: holds 67,108,864 bytes, more than 1,048,576; "
                               "refused unread")
    assert peak < 8 << 20, f"{peak:,} bytes allocated to refuse it"
    gz = tmp_path / "bomb.ttl.gz"
    with gzip.open(gz, "wb") as handle:
        handle.write(b" " * (2 << 20))
    with pytest.raises(VocabularyError, match="inflates to more than 1,048,576 bytes"):
        load_vocabulary(gz)


@needs_rdflib
def test_a_one_line_file_starting_as_google_s_header_is_not_read_whole(tmp_path,
                                                                       monkeypatch):
    # Google's taxonomy is told by its first line, read whole: a file of one line that
    # begins as its header (and no more of it) took twice its size in memory, 128 MiB
    # for this 64 MiB one, before its size was checked; it is refused unread now
    monkeypatch.setattr("tagsmith.data.vocab.MAX_RDF_BYTES", 1 << 20)
    path = tmp_path / "huge.ttl"
    with open(path, "wb") as handle:
        handle.write(b"# Google_Product_Taxonomy_Version: 1 ")
        handle.truncate(64 << 20)  # sparse: no disk written
    info, peak = _refused_and_peak(path)
    assert str(info.value).endswith("holds 67,108,864 bytes, more than 1,048,576; "
                                    "refused unread")
    assert peak < 8 << 20, f"{peak:,} bytes allocated to refuse it"


@pytest.mark.parametrize("name", ["taxonomy-with-ids.en-US.txt", "google.tsv"])
def test_google_s_header_then_a_line_with_no_break_is_refused_at_the_line_limit(
        tmp_path, monkeypatch, name):
    # Google's header, then a line with no line break: the line was read whole, once to
    # tell the format and again to read it (64 MiB each time here; a 3 GB one ran out of
    # memory); now each read stops at the line limit and the file is refused naming line 2
    monkeypatch.setattr("tagsmith.data.readers.MAX_LINE_BYTES", 1 << 20)
    path = tmp_path / name
    with open(path, "wb") as handle:
        handle.write(b"# Google_Product_Taxonomy_Version: 2021-09-21\n1 - Animals ")
        handle.truncate(64 << 20)  # sparse: no disk written
    info, peak = _refused_and_peak(path)
    assert str(info.value).startswith(f"{path}:2: a line longer than 1,048,576 bytes")
    assert peak < 8 << 20, f"{peak:,} bytes allocated to refuse it"


@needs_rdflib
@pytest.mark.parametrize("name", ["v.ttl", "v.ttl.gz", "relative.ttl"])
def test_a_small_rdf_file_reserves_no_memory_for_the_size_cap(tmp_path, name):
    # the read capped at 4 GiB was handle.read(MAX_RDF_BYTES + 1), which reserves the
    # 4 GiB before reading a byte: a 100-byte Turtle file ran out of memory under an
    # address-space limit (ulimit -v 3000000); so did the line search of a relative IRI
    import tracemalloc

    import rdflib  # noqa: F401  (its import is no part of the read)

    body = ("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
            + ("<a> a skos:Concept ; skos:prefLabel \"apple\"@en .\n"
               if name == "relative.ttl" else
               "<http://x/a> a skos:Concept ; skos:prefLabel \"apple\"@en .\n"))
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(body)
    else:
        path.write_text(body, encoding="utf-8")
    if name != "relative.ttl":
        load_vocabulary(path)  # rdflib's plugins load on a first parse, not in the read
    tracemalloc.start()
    try:
        if name == "relative.ttl":
            with pytest.raises(VocabularyError, match=r"relative\.ttl:2: concept IRI <a>"):
                load_vocabulary(path)
        else:
            assert load_vocabulary(path).uris == ["http://x/a"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 << 20, f"{peak:,} bytes allocated to read {len(body)} bytes"


def test_rdf_xml_namespace_entities_still_load(tmp_path):
    pytest.importorskip("rdflib")
    path = tmp_path / "v.rdf"
    path.write_text('<?xml version="1.0"?><!DOCTYPE rdf:RDF ['
                    '<!ENTITY ex "http://x/">]>' + RDF_HEAD +
                    '<skos:Concept rdf:about="&ex;a"><skos:prefLabel xml:lang="en">apple'
                    '</skos:prefLabel></skos:Concept></rdf:RDF>')
    space = load_vocabulary(path)
    assert space.uris == ["http://x/a"] and space.name_of(0) == "apple"


@needs_rdflib
def test_rdf_xml_in_the_encoding_it_declares_loads(tmp_path):
    # XML may be in any encoding its declaration names (older thesaurus exports are
    # ISO-8859-1) or UTF-16 with a BOM; such files were refused as not UTF-8, with the
    # byte's offset but no line
    body = (f'{RDF_HEAD}<skos:Concept rdf:about="http://x/a"><skos:prefLabel xml:lang="de">'
            'Äpfel</skos:prefLabel></skos:Concept></rdf:RDF>\n')
    latin = tmp_path / "latin.rdf"
    latin.write_bytes(('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + body).encode("latin-1"))
    utf16 = tmp_path / "utf16.rdf"
    utf16.write_bytes(('<?xml version="1.0" encoding="UTF-16"?>\n' + body).encode("utf-16"))
    for path in (latin, utf16):
        assert load_vocabulary(path)[0].pref_labels == {"de": "Äpfel"}
    # undeclared, it is UTF-8: a Latin-1 byte is named with its line
    undeclared = tmp_path / "undeclared.rdf"
    undeclared.write_bytes(('<?xml version="1.0"?>\n' + body).encode("latin-1"))
    with pytest.raises(VocabularyError, match=r"undeclared\.rdf:2: not UTF-8 text "
                       r"\(byte 0xc4"):
        load_vocabulary(undeclared)
    wrong = tmp_path / "wrong.rdf"
    wrong.write_bytes(b'<?xml version="1.0" encoding="no-such-codec"?>\n' + body.encode())
    with pytest.raises(VocabularyError, match=r"wrong\.rdf:1: declares the encoding "
                       "'no-such-codec'"):
        load_vocabulary(wrong)
    # entity checks see the decoded text, whatever the encoding
    bomb = tmp_path / "bomb.rdf"
    bomb.write_bytes(('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE rdf:RDF [<!ENTITY a0 '
                      '"lol"><!ENTITY a1 "&a0;&a0;">]>' + body.replace("Äpfel", "&a1;"))
                     .encode("utf-16"))
    with pytest.raises(VocabularyError, match="nested entities are refused"):
        load_vocabulary(bomb)


def test_json_ld_with_a_remote_context_is_refused_and_inline_ones_load(tmp_path):
    pytest.importorskip("rdflib")
    remote = tmp_path / "r.jsonld"
    remote.write_text('{"@context": "http://127.0.0.1:9/ctx.json", "@id": "http://x/a"}')
    with pytest.raises(VocabularyError, match="remote document"):
        load_vocabulary(remote)
    listed = tmp_path / "l.jsonld"
    listed.write_text('{"@context": [{"skos": "http://www.w3.org/2004/02/skos/core#"}, '
                      '"file:///etc/hostname"], "@id": "http://x/a"}')
    with pytest.raises(VocabularyError, match="remote document"):
        load_vocabulary(listed)
    inline = tmp_path / "i.jsonld"
    inline.write_text('{"@context": {"skos": "http://www.w3.org/2004/02/skos/core#"}, '
                      '"@id": "http://x/a", "@type": "skos:Concept", '
                      '"skos:prefLabel": {"@value": "apple", "@language": "en"}}')
    assert load_vocabulary(inline).uris == ["http://x/a"]


def test_loading_json_ld_warns_about_nothing(tmp_path):
    """rdflib's JSON-LD parser built a deprecated ConjunctiveGraph around the graph
    tagsmith parsed into: every JSON-LD vocabulary loaded with a DeprecationWarning
    about rdflib's own code (the suite's 3 warnings)."""
    import warnings

    pytest.importorskip("rdflib")
    inline = tmp_path / "i.jsonld"
    inline.write_text('{"@context": {"skos": "http://www.w3.org/2004/02/skos/core#"}, '
                      '"@id": "http://x/a", "@type": "skos:Concept", '
                      '"skos:prefLabel": {"@value": "apple", "@language": "en"}}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_vocabulary(inline).uris == ["http://x/a"]


def test_gz_suffix_is_recognised_in_any_case(tmp_path):
    """detect_format looked through '.GZ' but the reader opened the file as plain text."""
    for src in (SLICE_TSV, CSV):
        gz = _gzip_copy(src, tmp_path / (src.stem + src.suffix.upper() + ".GZ"))
        assert load_vocabulary(gz) == load_vocabulary(src)
        assert load_vocabulary(gz).name == src.stem


def test_csv_field_limit_is_set_by_the_vocabulary_reader_itself(tmp_path):
    """csv.field_size_limit is process-wide: a long description must load whether or
    not a corpus was read before, and the process's limit is left as it was (it was
    left at 256 Mi, for the csv readers of a program importing tagsmith too)."""
    import csv

    from tagsmith.data.csvlimits import CSV_FIELD_LIMIT

    path = tmp_path / "long.csv"
    description = "word " * 40_000  # 200,000 characters, above csv's default 131,072
    path.write_text(f"uri,label_en,description_en\nu:a,apple,{description}\n",
                    encoding="utf-8")
    previous = csv.field_size_limit(131072)  # as in a fresh process
    try:
        space = load_vocabulary(path)
        assert space[0].description["en"] == description.strip()
        assert csv.field_size_limit() == 131072 < CSV_FIELD_LIMIT
    finally:
        csv.field_size_limit(previous)


def test_a_header_cell_over_csv_s_default_limit_loads(tmp_path):
    # the header's delimiter was told under the csv module's own limit (131,072), not
    # tagsmith's: the file failed as "cannot read: field larger than field limit
    # (131072)", naming no line and a limit tagsmith does not have
    import csv

    path = tmp_path / "wide.csv"
    path.write_text(f"uri,label_en,{'x' * 200_000}\nu:a,apple,1\n", encoding="utf-8")
    previous = csv.field_size_limit(131072)  # as in a fresh process
    try:
        space = load_vocabulary(path)
    finally:
        csv.field_size_limit(previous)
    assert space.uris == ["u:a"] and space.name_of(0) == "apple"


@pytest.mark.parametrize("suffix", [".tsv", ".csv"])
def test_overlong_label_names_are_refused_with_file_and_line(tmp_path, caplog, suffix):
    long_name = "x" * 10_001
    path = tmp_path / f"long{suffix}"
    if suffix == ".tsv":
        path.write_text(f"<u:a>\tapple\n<u:b>\t{long_name}\n<u:c>\tpear\n", encoding="utf-8")
    else:
        path.write_text(f"uri,label_en,altlabel_en\nu:a,apple,\nu:b,banana,{long_name}\n"
                        "u:c,pear,\n", encoding="utf-8")
    line = 2 if suffix == ".tsv" else 3
    with pytest.raises(VocabularyError, match=rf"long\{suffix}:{line}: .*10,001 characters "
                       r"\(at most 10,000\)") as err:
        load_vocabulary(path)
    assert err.value.line == line
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path, on_error="skip")
    assert space.uris == ["u:a", "u:c"] and "skipped 1" in caplog.text
    ok = tmp_path / f"ok{suffix}"
    ok.write_text(path.read_text(encoding="utf-8").replace(long_name, "x" * 10_000),
                  encoding="utf-8")
    assert len(load_vocabulary(ok)) == 3


def test_csv_save_refuses_an_alt_label_holding_the_separator(tmp_path):
    path = tmp_path / "v.csv"
    space = LabelSpace([Label("u:a", {"en": "a"}, {"en": ["C|C++", "cee"]})])
    with pytest.raises(VocabularyError, match=r"<u:a>: alternative label 'C\|C\+\+' \(en\)"):
        save_vocabulary_csv(space, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
    fine = LabelSpace([Label("u:a", {"en": "a|b"}, {"en": ["x", "y"]})])  # a name may
    assert load_vocabulary(save_vocabulary_csv(fine, path)) == fine


@needs_rdflib
@pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib")  # rdflib's own JSON-LD parser
@pytest.mark.parametrize("suffix", [".ttl", ".rdf", ".xml", ".owl", ".nt", ".jsonld",
                                    ".jsonld.gz", ".NT"])
def test_skos_save_writes_the_syntax_its_suffix_is_read_as(tmp_path, suffix):
    space = LabelSpace([Label("http://x/b", {"en": "B", "de": "Be"}, {"en": ["bee"]}, "N2",
                              {"en": "two\nlines"}, ["http://x/a"]),
                        Label("http://x/a", {"en": "A"}, deprecated=True)])
    back = load_vocabulary(save_vocabulary_skos(space, tmp_path / f"v{suffix}"))
    assert back == space  # ids kept, though not in URI order
    with pytest.raises(UnsupportedFormatError, match="cannot write SKOS as '.csv'"):
        save_vocabulary_skos(space, tmp_path / "v.csv")


def test_csv_rows_spanning_lines_are_named_by_the_line_they_start_on(tmp_path):
    path = tmp_path / "v.csv"
    head = "uri,label_en,description_en,broader,deprecated\n"
    cases = {'http://x/a,A,"one\ntwo\nthree",,maybe\n': (2, "'deprecated' must be"),
             'http://x/a,A,"one\ntwo",,\nhttp://x/a,B,x,,\n':
                 (4, "duplicate URI <http://x/a> (first on line 2)"),
             'http://x/a,A,"one\ntwo",http://x/b,\nhttp://x/b,B,"x\ny",http://x/a,\n':
                 (2, "broader cycle: <http://x/a> -> <http://x/b> -> <http://x/a>")}
    for text, (line, message) in cases.items():
        path.write_text(head + text, encoding="utf-8")
        with pytest.raises(VocabularyError) as info:
            load_vocabulary(path)
        assert str(info.value).startswith(f"{path}:{line}: {message}")


def test_csv_vocabulary_with_a_lone_carriage_return_reads_back(tmp_path):
    """A description holding a lone ``\\r`` (an old Mac line break) was written bare:
    the CSV reader split the row there and refused the file it had just written."""
    space = LabelSpace([Label("urn:x:a", {"en": "A"}, description={"en": "one\rtwo"}),
                        Label("urn:x:b", {"en": "B"})])
    path = save_vocabulary_csv(space, tmp_path / "v.csv")
    back = load_vocabulary(path)
    assert len(back) == 2 and back[0].description == {"en": "one\rtwo"}


SKOS_HEAD = "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"


@needs_rdflib
@pytest.mark.parametrize("body, cycle", [
    ("<http://x/a> a skos:Concept ; skos:broader <http://x/b> .\n"
     "<http://x/b> a skos:Concept ; skos:broader <http://x/a> .\n",
     "<http://x/a> -> <http://x/b> -> <http://x/a>"),
    # a longer one, closed by an inverse skos:narrower, beside a sound root
    ("<http://x/r> a skos:Concept .\n"
     "<http://x/e> a skos:Concept ; skos:broader <http://x/d> .\n"
     "<http://x/d> a skos:Concept ; skos:broader <http://x/c>, <http://x/r> .\n"
     "<http://x/c> a skos:Concept .\n<http://x/e> skos:narrower <http://x/c> .\n",
     "<http://x/c> -> <http://x/e> -> <http://x/d> -> <http://x/c>"),
    ("<http://x/a> a skos:Concept .\n<http://x/s> a skos:Concept ; skos:broader <http://x/s> .\n",
     "<http://x/s> -> <http://x/s>"),
])
def test_skos_broader_cycles_are_refused_naming_file_and_concepts(tmp_path, body, cycle):
    path = tmp_path / "cycle.ttl"
    path.write_text(SKOS_HEAD + body, encoding="utf-8")
    with pytest.raises(VocabularyError) as info:
        load_vocabulary(path)
    assert str(info.value) == (f"{path}: broader cycle: {cycle} (a label cannot be its own "
                               "ancestor)")


@needs_rdflib
def test_round_trips_keep_every_label_on_its_id(tmp_path):
    # ids not in URI order: a taxonomy numbered 1, 2, ..., 10 and a merged update
    old = LabelSpace([Label(f"urn:t:{i}", {"en": f"n{i}"}, broader=["urn:t:1"] if i > 1 else [])
                      for i in (1, 2, 10)])
    space = old.updated(LabelSpace([*old, Label("urn:t:0", {"en": "new"})]))
    assert space.uris == ["urn:t:1", "urn:t:2", "urn:t:10", "urn:t:0"]
    for suffix in (".ttl", ".rdf", ".nt", ".jsonld", ".ttl.gz"):
        back = load_vocabulary(save_vocabulary_skos(space, tmp_path / f"v{suffix}"))
        assert back == space and back.fingerprint == space.fingerprint, suffix
        again = load_vocabulary(save_vocabulary_csv(back, tmp_path / "v.csv"))
        assert load_vocabulary(save_vocabulary_skos(again, tmp_path / f"w{suffix}")) == space
    # a concept added by hand (no id) comes after the numbered ones, by URI
    path = tmp_path / "v.ttl"
    path.write_text(path.read_text(encoding="utf-8") + "\n<urn:t:00> a "
                    "<http://www.w3.org/2004/02/skos/core#Concept> .\n", encoding="utf-8")
    assert load_vocabulary(path).uris == [*space.uris, "urn:t:00"]


@needs_rdflib
def test_skos_blank_names_are_ignored_and_names_stripped_as_in_csv(tmp_path):
    path = tmp_path / "v.ttl"
    path.write_text(SKOS_HEAD + '<http://x/a> a skos:Concept ; skos:prefLabel ""@en, '
                    '"  Apfel\\n"@de ; skos:altLabel " "@en, " pome "@en ; skos:notation " " ;'
                    ' skos:definition "\\n"@en .\n<http://x/b> a skos:Concept ; skos:prefLabel '
                    '" "@en ; <http://www.w3.org/2000/01/rdf-schema#label> "Bee"@en .\n',
                    encoding="utf-8")
    space = load_vocabulary(path)
    assert [label.to_dict() for label in space] == [
        {"uri": "http://x/a", "pref_labels": {"de": "Apfel"}, "alt_labels": {"en": ["pome"]}},
        {"uri": "http://x/b", "pref_labels": {"en": "Bee"}}]
    assert space.names() == ["Apfel", "Bee"]  # never an empty name
    assert load_vocabulary(save_vocabulary_csv(space, tmp_path / "v.csv")) == space


@needs_rdflib
def test_language_tags_ignore_case_and_names_fall_back_to_a_variant(tmp_path):
    csv_path = tmp_path / "v.csv"
    csv_path.write_text("uri,label_de,Label_EN,ALTLABEL_En\nhttp://x/a,Apfel,Apple,pome\n")
    space = load_vocabulary(csv_path, language="EN")
    assert space.languages == ["de", "en"] and space.names("en") == ["Apple"]
    assert space[0].alt_labels == {"en": ["pome"]}
    ttl = tmp_path / "v.ttl"
    ttl.write_text(SKOS_HEAD + '<http://x/a> a skos:Concept ; skos:prefLabel "Apfel"@de, '
                   '"Apple"@EN-GB ; skos:altLabel "pome" .\n', encoding="utf-8")
    space = load_vocabulary(ttl, language="En")
    assert space.languages == ["de", "en-gb"]
    assert space[0].alt_labels == {"en": ["pome"]}  # untagged: the language asked for
    assert space.names("en") == ["Apple"] and space.names("en-US") == ["Apple"]
    # a language it lacks falls back to English (a variant of it), not the file's first
    assert space.names("DE") == ["Apfel"] and space.names("fi") == ["Apple"]


@needs_rdflib
def test_a_concept_lacking_the_language_falls_back_to_english_not_the_files_first(tmp_path):
    """A EUROVOC-style thesaurus named in en/de/fr/pl, a concept lacking German and
    named in Polish first: ``vocab``, ``suggest``, ``audit`` and ``eval`` with ``--lang
    de`` showed a German team its Polish name, whichever language the file gave first.
    English comes first (the default ``--lang``), then the file's first name; a concept
    named in Polish alone keeps its Polish name, tagged so."""
    ttl = tmp_path / "ev.ttl"
    ttl.write_text(SKOS_HEAD + (
        '<http://eurovoc.europa.eu/9001> a skos:Concept ; skos:prefLabel "dumping cenowy"@pl, '
        '"price dumping"@en, "dumping des prix"@fr .\n'
        '<http://eurovoc.europa.eu/9002> a skos:Concept ; skos:prefLabel "so\u0142ectwo"@pl .\n'
        '<http://eurovoc.europa.eu/9003> a skos:Concept ; skos:prefLabel "Preisdumping"@de .\n'),
        encoding="utf-8")
    space = load_vocabulary(ttl)
    assert space[0].pref_labels["pl"] == "dumping cenowy"
    assert space.names("de") == ["price dumping", "so\u0142ectwo", "Preisdumping"]
    assert [space.name_and_language(i, "de")[1] for i in range(3)] == ["en", "pl", "de"]
    assert space.names("fr") == ["dumping des prix", "so\u0142ectwo", "Preisdumping"]


@needs_rdflib
@pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib")  # rdflib's own JSON-LD parser
@pytest.mark.parametrize("suffix", [".ttl", ".nt", ".jsonld", ".rdf", ".ttl.gz"])
def test_skos_with_a_byte_order_mark_and_crlf_loads(tmp_path, suffix):
    space = LabelSpace([Label("http://x/a", {"en": "Äpfel"}), Label("http://x/b", {"en": "B"})])
    path = save_vocabulary_skos(space, tmp_path / f"v{suffix}")
    text = (gzip.decompress(path.read_bytes()) if suffix.endswith(".gz")
            else path.read_bytes()).decode("utf-8")
    data = "\ufeff".encode() + text.replace("\n", "\r\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    assert load_vocabulary(path) == space


@needs_rdflib
@pytest.mark.parametrize("suffix, text, line, message", [
    (".ttl", SKOS_HEAD + "<http://x/a> a skos:Concept .\n<http://x/b> a skos:Concept\n"
     "<http://x/c> a skos:Concept .\n", 4, r"not valid RDF \(turtle\): Bad syntax \(expected '\.'"),
    (".rdf", '<?xml version="1.0"?>\n' + RDF_HEAD + '\n<rdf:Description rdf:about="http://x/a">'
     "\n</rdf:RDF>\n", 4, r"not valid RDF \(xml\): mismatched tag"),
    (".jsonld", '{"@id": "http://x/a",\n "http://x/p": [1,\n}\n', 3, "not valid JSON-LD"),
])
def test_malformed_rdf_names_the_file_and_line(tmp_path, suffix, text, line, message):
    path = tmp_path / f"broken{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(VocabularyError, match=f"^{path}:{line}: {message}") as info:
        load_vocabulary(path)
    assert (info.value.path, info.value.line) == (str(path), line)


@pytest.mark.parametrize("name", ["v.tsv", "v.csv", "v.tsv.gz", "v.ttl", "v.nt"])
def test_non_utf8_vocabularies_name_the_line(tmp_path, name):
    if ".ttl" in name or ".nt" in name:
        pytest.importorskip("rdflib")
    first = {"v.tsv": "<http://x/{i}>\tname {i}\n", "v.csv": "http://x/{i},name {i}\n",
             "v.ttl": "<http://x/{i}> a <http://www.w3.org/2004/02/skos/core#Concept> .\n"}
    row = first.get(name.removesuffix(".gz"), "<http://x/{i}> <http://x/p> \"n\" .\n")
    head = "uri,label_en\n" if name == "v.csv" else ""
    text = head + "".join(row.format(i=i) for i in range(3000))  # past the first buffer
    data = text.encode("utf-8") + row.format(i="x").replace("x", "\u00c4").encode("latin-1")
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    line = text.count("\n") + 1
    with pytest.raises(VocabularyError, match=f"^{path}:{line}: not UTF-8 text \\(byte 0xc4"):
        load_vocabulary(path)


@needs_rdflib
def test_skos_two_pref_labels_in_one_language_warn_and_keep_the_first_sorted(tmp_path, caplog):
    """SKOS S14: one prefLabel per language. Of two, the first in code-point order is
    kept whatever their order in the file, with a warning naming the file, the concept
    and both labels; labels in other languages, alternative labels and rdfs:label are
    no such problem."""
    names = {}
    for order in (('"Banks"@en', '"Bank"@EN'), ('"Bank"@en', '"Banks"@en')):
        path = tmp_path / f"v{len(names)}.ttl"
        path.write_text(SKOS_HEAD + f'<http://x/a> a skos:Concept ; skos:prefLabel {order[0]}, '
                        f'{order[1]}, "Bank"@de ; skos:altLabel "x"@en, "y"@en .\n'
                        '<http://x/b> a skos:Concept ; skos:prefLabel "Pear"@en, "Pear"@EN ; '
                        '<http://www.w3.org/2000/01/rdf-schema#label> "P"@en, "Q"@en .\n',
                        encoding="utf-8")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            space = load_vocabulary(path)
        names[order] = space.names("en")
        [message] = [r.getMessage() for r in caplog.records]
        assert message.startswith(f"{path}: 1 concept with several skos:prefLabel")
        assert "<http://x/a> (en) keeps 'Bank', not 'Banks'" in message
        assert "http://x/b" not in message
    assert list(names.values()) == [["Bank", "Pear"]] * 2


def test_csv_row_with_more_cells_than_the_header_is_malformed_not_shifted(tmp_path):
    # an unquoted comma in a name: the label was cut at it, the rest read as the
    # notation and the real notation dropped, silently
    path = tmp_path / "comma.csv"
    path.write_text("uri,label_en,notation\nhttp://x/a,Smith, John,N1\nhttp://x/b,pear,N2\n"
                    "http://x/c,plum,N3,,\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"comma\.csv:2: 4 cells, more than the "
                       r"header's 3 \(a comma in a cell that is not quoted\?\)"):
        load_vocabulary(path)
    space = load_vocabulary(path, on_error="skip")  # blank padding cells are fine
    assert space.uris == ["http://x/b", "http://x/c"] and space[1].notation == "N3"


def test_csv_header_naming_a_column_twice_is_refused(tmp_path):
    # the later column's cells replaced the earlier's, silently
    for header, shown in (("uri,label_en,label_EN", "columns 2 ('label_en') and 3 "
                           "('label_EN')"),
                          ("uri,label,label_en", "columns 2 ('label') and 3 ('label_en')"),
                          ("URI,label_en,uri", "columns 1 ('URI') and 3 ('uri')")):
        path = tmp_path / "twice.csv"
        path.write_text(f"{header}\nhttp://x/a,apple,pear\n", encoding="utf-8")
        with pytest.raises(VocabularyError, match=r"twice\.csv:1: " + re.escape(shown)):
            load_vocabulary(path)
    path.write_text("uri,label_en,comment,comment\nhttp://x/a,apple,x,y\n", encoding="utf-8")
    assert load_vocabulary(path).names() == ["apple"]  # unknown columns stay ignored


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x9b"])
@pytest.mark.parametrize("suffix", [".tsv", ".csv"])
def test_a_uri_holding_a_control_character_is_refused_with_file_and_line(tmp_path, caplog,
                                                                         suffix, char):
    # not whitespace, so it passed the URI check: <http://x/\x00a> became a label whose
    # URI no other tool reads (and ESC or CSI could drive a terminal showing it)
    path = tmp_path / f"ctl{suffix}"
    if suffix == ".tsv":
        path.write_text(f"<u:a>\tapple\n<u:b{char}x>\tbanana\n<u:c>\tpear\n", encoding="utf-8")
    else:
        path.write_text(f"uri,label_en\nu:a,apple\nu:b{char}x,banana\nu:c,pear\n",
                        encoding="utf-8")
    line = 2 if suffix == ".tsv" else 3
    with pytest.raises(VocabularyError) as err:
        load_vocabulary(path)
    assert str(err.value) == (f"{path}:{line}: URI {'u:b' + char + 'x'!r} holds the control "
                              f"character {char!r} (U+{ord(char):04X}), which no URI may")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path, on_error="skip")
    assert space.uris == ["u:a", "u:c"] and "skipped 1" in caplog.text


@needs_rdflib
def test_a_skos_concept_uri_holding_a_control_character_is_refused(tmp_path):
    path = tmp_path / "ctl.ttl"
    path.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
                    '<u:a> a skos:Concept ; skos:prefLabel "apple"@en .\n'
                    '<u:b\\u0001x> a skos:Concept ; skos:prefLabel "banana"@en .\n',
                    encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"ctl.ttl: concept <u:b\x01x>: URI 'u:b\\x01x' "
                       r"holds the control character '\\x01' \(U\+0001\)"):
        load_vocabulary(path)


@pytest.mark.parametrize("name,data,line", [
    ("mac.tsv", b"<http://x/a>\tapple\r<http://x/b>\tp\xe4ar\r<http://x/c>\tc\r", 2),
    ("mac.csv", b"uri,label_en\r<http://x/a>,apple\r<http://x/b>,p\xe4ar\r", 3),
    ("crlf.tsv.gz", b"<http://x/a>\ta\r\n<http://x/b>\tb\r\n<http://x/c>\tc\xe4\r\n", 3),
    # a lone CR in a file with LFs is no line end: the byte is on the file's line 2
    ("mixed.tsv.gz", b"<http://x/a>\ta\r\n<http://x/b>\tb\r<http://x/c>\tc\xe4\n", 2),
])
def test_non_utf8_line_counts_cr_line_ends(tmp_path, name, data, line):
    """The line a non-UTF-8 byte is on counts the line ends the reader splits at: in an
    old Mac file (CRs only) every such byte was said to be on line 1."""
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(VocabularyError, match=f"^{path}:{line}: not UTF-8 text \\(byte 0xe4"):
        load_vocabulary(path)


_TTL_HEAD = b"@prefix skos: <http://www.w3.org/2004/02/skos/core#> ."


@needs_rdflib
@pytest.mark.parametrize("name,data,line", [
    ("mac.ttl", _TTL_HEAD + b'\r<http://x/a> a skos:Concept ;\r skos:prefLabel "p\xe4ar" .\r', 3),
    ("mixed.ttl.gz", _TTL_HEAD + b'\r\n<http://x/a> a skos:Concept ;\r\n\r'
     b' skos:prefLabel "a" .\n<http://x/b> skos:prefLabel "p\xe4ar" .\r', 5),
])
def test_non_utf8_line_in_rdf_counts_cr_line_ends(tmp_path, name, data, line):
    """As for TSV and CSV: the line of a non-UTF-8 byte in an RDF file counted LF
    alone, so in a CR-only Turtle file (Turtle allows it) every byte was on line 1."""
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(VocabularyError, match=f"^{path}:{line}: not UTF-8 text \\(byte 0xe4"):
        load_vocabulary(path)

@needs_rdflib
def test_blank_node_concepts_are_left_out_with_a_warning(tmp_path, caplog):
    """A concept without a URI (a blank node) cannot be a label and is left out; it was
    left out without a word, its names and the links to it lost silently."""
    path = tmp_path / "v.ttl"
    path.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
                    '<http://x/a> a skos:Concept ; skos:prefLabel "apple"@en ;\n'
                    '    skos:broader [ a skos:Concept ; skos:prefLabel "fruit"@en ] .\n'
                    '_:b a skos:Concept ; skos:prefLabel "pear"@en .\n', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    assert space.uris == ["http://x/a"] and space[0].broader == []
    assert (f"{path}: 2 concepts without a URI (blank nodes) left out (preferred labels "
            "'fruit', 'pear')") in caplog.text


@needs_rdflib
def test_untyped_subjects_with_a_pref_label_are_left_out_with_a_warning(tmp_path, caplog):
    """A subject with a skos:prefLabel but no rdf:type (a concept that forgot its
    'a skos:Concept') was left out without a word; a file where every concept forgot it
    said only 'no skos:Concept found'. The scheme and a collection, typed, say nothing."""
    path = tmp_path / "v.ttl"
    path.write_text(SKOS_HEAD + '<http://x/s> a skos:ConceptScheme ; skos:prefLabel "S"@en .\n'
                    '<http://x/k> a skos:Collection ; skos:prefLabel "K"@en .\n'
                    '<http://x/a> a skos:Concept ; skos:prefLabel "apple"@en .\n'
                    '<http://x/b> skos:prefLabel "pear"@en ; skos:broader <http://x/a> .\n',
                    encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert load_vocabulary(path).uris == ["http://x/a"]
    assert (f"{path}: 1 subject with a skos:prefLabel but no rdf:type left out "
            "(<http://x/b>): only a skos:Concept is a label; type it 'a skos:Concept'"
            in caplog.text)
    assert "<http://x/s>" not in caplog.text and "<http://x/k>" not in caplog.text
    caplog.clear()
    path.write_text(SKOS_HEAD + "".join(f'<http://x/{c}> skos:prefLabel "{c}"@en .\n'
                                        for c in "abcd"), encoding="utf-8")
    # every subject untyped: the error itself counts them and names some (a warning
    # before it did, which -q hid, leaving 'no skos:Concept found' alone), said once
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        with pytest.raises(VocabularyError, match="no skos:Concept found") as error:
            load_vocabulary(path)
    assert ("no skos:Concept found: 4 subjects with a skos:prefLabel but no rdf:type left "
            "out (<http://x/a>, <http://x/b>, <http://x/c>, ...): only a skos:Concept is a "
            "label; type each 'a skos:Concept')" in str(error.value)), str(error.value)
    assert str(path) in str(error.value)
    assert "no rdf:type" not in caplog.text


@needs_rdflib
def test_uri_concepts_give_no_blank_node_warning(tmp_path, caplog):
    path = tmp_path / "v.ttl"
    path.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
                    '<http://x/a> a skos:Concept ; skos:prefLabel "apple"@en .\n',
                    encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        load_vocabulary(path)
    assert "blank nodes" not in caplog.text


@needs_rdflib
@pytest.mark.parametrize("suffix,body,field", [
    (".ttl", '<u:a> a skos:Concept ; skos:prefLabel "cut \\uD83D"@en .', "label_en"),
    (".ttl", '<u:a> a skos:Concept ; skos:altLabel "cut \\uDE00 x"@en .', "altlabel_en"),
    (".ttl", '<u:a> a skos:Concept ; skos:definition "cut \\uD83D"@en .', "description_en"),
    (".ttl", '<u:a\\uD83D> a skos:Concept ; skos:prefLabel "a"@en .', "URI"),
    (".nt", '<u:a> <http://www.w3.org/2004/02/skos/core#prefLabel> "cut \\uD83D"@en .',
     "label_en"),
    (".jsonld", '{"@id": "u:a", "@type": "http://www.w3.org/2004/02/skos/core#Concept", '
     '"http://www.w3.org/2004/02/skos/core#prefLabel": "cut \\ud83d"}', "label_en"),
])
def test_a_skos_lone_surrogate_escape_is_refused_naming_the_concept(tmp_path, suffix, body,
                                                                   field):
    # half of a character cut in two loaded as a name: `tagsmith vocab` then failed
    # printing it and `train` saving the bundle after the whole training (tracebacks)
    path = tmp_path / f"cut{suffix}"
    if suffix == ".ttl":
        body = "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n" + body
    elif suffix == ".nt":
        body = ("<u:a> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
                "<http://www.w3.org/2004/02/skos/core#Concept> .\n" + body)
    path.write_text(body + "\n", encoding="utf-8")
    with pytest.raises(VocabularyError) as err:
        load_vocabulary(path)
    message = str(err.value)
    message.encode("utf-8")  # printable: the error names the surrogate as an escape
    assert message.startswith(f"{path}: concept <u:a") and f"{field} " in message
    assert "lone surrogate" in message


@needs_rdflib
def test_a_skos_surrogate_pair_escape_reads_as_the_character_it_encodes(tmp_path):
    # tools escaping per UTF-16 unit write an emoji as \uD83D\uDE00; rdflib gave two
    # lone surrogates, which no file can hold
    path = tmp_path / "pair.ttl"
    path.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
                    '<u:a\\uD83D\\uDE00> a skos:Concept ;'
                    ' skos:prefLabel "smile \\uD83D\\uDE00"@en ;'
                    ' skos:altLabel "\\uD83D\\uDE00"@en .\n'
                    "<u:b> a skos:Concept ; skos:broader <u:a\\uD83D\\uDE00> .\n",
                    encoding="utf-8")
    space = load_vocabulary(path)
    assert space.uris == ["u:a\U0001f600", "u:b"]
    assert space[0].pref_labels == {"en": "smile \U0001f600"}
    assert space[0].alt_labels == {"en": ["\U0001f600"]}
    assert space.broader_ids(1) == [0]
    save_vocabulary_tsv(space, tmp_path / "back.tsv")
    assert load_vocabulary(tmp_path / "back.tsv").names() == ["smile \U0001f600", "u:b"]


@needs_rdflib
@pytest.mark.parametrize("suffix,body,uri", [
    (".rdf", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
     'syntax-ns#" xmlns:skos="http://www.w3.org/2004/02/skos/core#">\n<skos:Concept '
     'rdf:about="http://x/c"/>\n<skos:Concept rdf:about="http://x/a b"><skos:prefLabel '
     'xml:lang="en">A</skos:prefLabel></skos:Concept>\n</rdf:RDF>\n', "http://x/a b"),
    (".rdf", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
     'syntax-ns#" xmlns:skos="http://www.w3.org/2004/02/skos/core#">\n<skos:Concept '
     'rdf:about="http://x/a&lt;b&gt;"/>\n</rdf:RDF>\n', "http://x/a<b>"),
    (".ttl", "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
     "<http://x/a b> a skos:Concept .\n", "http://x/a b"),
])
def test_a_skos_concept_uri_the_tsv_and_csv_readers_refuse_is_refused(tmp_path, suffix, body,
                                                                     uri):
    # RDF/XML (and rdflib's Turtle parser, with a log warning) read <http://x/a b> as a
    # concept: a label no TSV corpus can name, which save_vocabulary_tsv and _csv wrote
    # into files that load_vocabulary then refused
    path = tmp_path / f"space{suffix}"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(VocabularyError) as err:
        load_vocabulary(path)
    assert str(err.value) == (f"{path}: concept <{uri}>: URI {uri!r} holds whitespace or "
                              "one of <>\", which no URI may")


def test_a_csv_locale_style_language_column_is_a_language_tag(tmp_path):
    # label_en_US was the tag 'en_us': --lang en (or en-US) found none of its names
    path = tmp_path / "locale.csv"
    path.write_text("uri,label_en_US,label_pt_BR,altlabel_pt_BR\nhttp://x/a,color,cor,tom\n",
                    encoding="utf-8")
    space = load_vocabulary(path)
    assert space.languages == ["en-us", "pt-br"]
    assert space.name_of(0, "en") == "color" and space.name_of(0, "pt-BR") == "cor"
    assert space[0].alt_labels == {"pt-br": ["tom"]}
    twice = tmp_path / "twice.csv"
    twice.write_text("uri,label_en_US,label_en-us\nhttp://x/a,a,b\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match="twice.csv:1: columns 2 .* are the same column"):
        load_vocabulary(twice)


@needs_rdflib
def test_skos_save_refuses_a_language_rdf_cannot_hold_and_writes_nothing(tmp_path):
    # rdflib raised a bare ValueError ("'en_us' is not a valid language tag!")
    out = tmp_path / "out.ttl"
    out.write_text("old", encoding="utf-8")
    space = LabelSpace([Label("http://x/a", {"en": "a"}),
                        Label("http://x/b", {"en": "b"}, {"en us": ["bee"]})])
    with pytest.raises(VocabularyError, match=r"out.ttl: concept <http://x/b>: 'en us' is "
                       "not a language tag RDF can hold"):
        save_vocabulary_skos(space, out)
    assert out.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.ttl"]


@needs_rdflib
def test_a_csv_locale_style_vocabulary_round_trips_through_skos(tmp_path):
    path = tmp_path / "locale.csv"
    path.write_text("uri,label_en_US,description_pt_BR\nhttp://x/a,color,uma cor\n",
                    encoding="utf-8")
    space = load_vocabulary(path)
    save_vocabulary_skos(space, tmp_path / "locale.ttl")
    assert load_vocabulary(tmp_path / "locale.ttl") == space


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".ttl"])
@pytest.mark.parametrize("label,shown", [
    (Label("climate change", {"en": "climate change"}),
     "URI 'climate change' holds whitespace"),
    (Label("http://x/b\x00", {"en": "b"}), "holds the control character '\\x00'"),
    (Label("http://x/b", {"en": "cut \ud83d"}), "label_en 'cut \\ud83d' holds a lone surrogate"),
])
def test_vocabulary_writers_refuse_what_load_vocabulary_refuses(tmp_path, suffix, label, shown):
    # a space derived from a corpus's bare names has URIs such as 'climate change': the
    # writers wrote files load_vocabulary refused, and a lone surrogate failed them with
    # a bare UnicodeEncodeError
    if suffix == ".ttl" and importlib.util.find_spec("rdflib") is None:
        pytest.skip("needs rdflib")
    out = tmp_path / f"out{suffix}"
    out.write_text("old", encoding="utf-8")
    space = LabelSpace([Label("http://x/a", {"en": "a"}), label])
    save = {".tsv": save_vocabulary_tsv, ".csv": save_vocabulary_csv,
            ".ttl": save_vocabulary_skos}[suffix]
    with pytest.raises(VocabularyError) as err:
        save(space, out)
    assert str(err.value).startswith(f"{out}: concept <") and shown in str(err.value)
    assert str(err.value).endswith("it would not load back, so nothing was written")
    assert out.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_label_space_built_in_code_refuses_broader_cycles_and_writers_never_write_one(tmp_path):
    """A LabelSpace built in code took a broader cycle, and save_vocabulary_csv/_skos
    wrote files load_vocabulary then refused; the space now refuses it as a file does,
    and the writers check labels whose broader list changed after, writing nothing."""
    with pytest.raises(VocabularyError, match="^broader cycle: <http://x/b> -> <http://x/c> "
                       r"-> <http://x/b> \(a label cannot be its own ancestor\)$"):
        LabelSpace([Label("http://x/a"), Label("http://x/b", broader=["http://x/c"]),
                    Label("http://x/c", broader=["http://x/b", "http://x/a"])])
    with pytest.raises(VocabularyError, match="<http://x/a> -> <http://x/a>"):
        LabelSpace([Label("http://x/a", broader=["http://x/a"])])  # a self-loop
    # links outside the space are no cycle, as a file's dangling ones are dropped
    LabelSpace([Label("http://x/a", broader=["http://x/out"])])
    space = LabelSpace([Label("http://x/a"), Label("http://x/b", broader=["http://x/a"])])
    space[0].broader.append("http://x/b")  # changed after the space was built
    for name, save in (("v.csv", save_vocabulary_csv), ("v.ttl", save_vocabulary_skos)):
        with pytest.raises(VocabularyError, match=r"broader cycle: <http://x/a> -> "
                           r"<http://x/b> -> <http://x/a> .*nothing was written"):
            save(space, tmp_path / name)
        assert not (tmp_path / name).exists()
    save_vocabulary_tsv(space, tmp_path / "v.tsv")  # TSV holds no broader links
    assert len(load_vocabulary(tmp_path / "v.tsv")) == 2


def test_label_space_searches_its_hierarchy_for_cycles_once_until_a_broader_list_changes(
        tmp_path, monkeypatch):
    # each writer searched the whole hierarchy for a cycle again, though the space had
    # been found acyclic when built; a changed broader list is still searched
    import tagsmith.data.labelspace as labelspace
    import tagsmith.data.vocab as vocab

    searches = []
    real = labelspace.broader_cycle
    for module in (labelspace, vocab):  # the writers' name for it too
        monkeypatch.setattr(module, "broader_cycle",
                            lambda labels: searches.append(1) or real(labels))
    space = LabelSpace([Label("http://x/a"), Label("http://x/b", broader=["http://x/a"])])
    assert len(searches) == 1
    for name, save in (("v.csv", save_vocabulary_csv), ("v.ttl", save_vocabulary_skos)):
        save(space, tmp_path / name)
    assert space.broader_cycle() is None and len(searches) == 1
    space[0].broader.append("http://x/b")
    assert space.broader_cycle() == ["http://x/a", "http://x/b"] and len(searches) == 2
    assert space.broader_cycle() is not None and len(searches) == 3  # a cycle: no cache
    space[0].broader.clear()
    assert space.broader_cycle() is None and len(searches) == 4
    assert space.broader_cycle() is None and len(searches) == 4


def test_skos_relative_concept_iris_without_a_base_are_refused_naming_file_line_and_iri(
        tmp_path):
    # '<a>' in a file declaring no base resolved against the file's own path: the concept
    # became <file:///home/.../a>, another label on every machine, without a word
    pytest.importorskip("rdflib")
    prefix = "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
    ttl = tmp_path / "v.ttl"
    ttl.write_text(prefix + "\n<http://x/b> a skos:Concept .\n<a> a skos:Concept ;\n"
                   "  skos:broader <http://x/b> .\n<c> a skos:Concept .\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"v\.ttl:4: concept IRI <a> is relative and "
                       r"the file declares no base \(and 1 more concept\); write absolute"):
        load_vocabulary(ttl)
    xml = tmp_path / "v.rdf"
    xml.write_text('<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
                   '22-rdf-syntax-ns#"\n  xmlns:skos="http://www.w3.org/2004/02/skos/core#">'
                   '\n<skos:Concept rdf:about="#a"/>\n</rdf:RDF>\n', encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"v\.rdf:4: concept IRI <#a> is relative"):
        load_vocabulary(xml)
    based = tmp_path / "based.ttl"  # a base of the file's own resolves them, as before
    based.write_text("@base <http://x/> .\n" + prefix + "<a> a skos:Concept .\n",
                     encoding="utf-8")
    assert load_vocabulary(based).uris == ["http://x/a"]
    assert not any(uri.startswith("file:") for uri in load_vocabulary(based).uris)


def test_an_unknown_uri_or_a_label_id_outside_the_space_is_refused_naming_it():
    import numpy as np

    from tagsmith.exceptions import InvalidParameterError

    space = LabelSpace.from_uris(["u:a", "u:b"], names={"u:a": "apple", "u:b": "pear"})
    # a bare KeyError('u:x') named no parameter; a KeyError still, for callers catching one
    for uri in ("u:x", None):
        with pytest.raises(KeyError, match=r"^parameter 'uri' must be a URI in the label "
                                           rf"space \(2 labels\), got {uri!r}$"):
            space.id_of(uri)
    # name_of(-1) named the last label, uri_of(2) said "list index out of range"
    for label_id in (-1, 2, 1.5, "0"):
        for call in (space.uri_of, space.name_of, space.name_and_language):
            with pytest.raises(IndexError, match=r"'label_id' must be an integer in "
                                                 rf"\[0, 2\), got {label_id!r}") as caught:
                call(label_id)
            assert isinstance(caught.value, InvalidParameterError)
    assert space.uri_of(np.int32(1)) == "u:b" and space.name_of(np.int64(0)) == "apple"
    assert space.id_of("<u:b>") == 1


def _mapped_space() -> LabelSpace:
    return LabelSpace([Label("t:refunds", {"en": "Refunds"}, description={"en": "Money back."}),
                       Label("t:zebras", {"en": "Zebras"})])


def test_save_vocabulary_csv_writes_close_matches_in_a_column_the_reader_ignores(tmp_path):
    """taxonomy --map-to's matches were printed but in no file it wrote."""
    space, path = _mapped_space(), tmp_path / "v.csv"
    save_vocabulary_csv(space, path, close_matches={"t:refunds": "http://v.org/refund"})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",")[-1] == "closematch"
    assert lines[1].endswith(",http://v.org/refund") and lines[2].endswith(",")
    assert load_vocabulary(path) == space
    # without matches the file is as before: no column
    save_vocabulary_csv(space, path)
    assert "closematch" not in path.read_text(encoding="utf-8")


@needs_rdflib
def test_save_vocabulary_skos_writes_close_matches_and_reads_back(tmp_path):
    import rdflib
    from rdflib.namespace import SKOS

    space, path = _mapped_space(), tmp_path / "v.ttl"
    save_vocabulary_skos(space, path, close_matches={"t:refunds": "http://v.org/refund"})
    graph = rdflib.Graph().parse(path, format="turtle")
    assert set(graph.subject_objects(SKOS.closeMatch)) == {
        (rdflib.URIRef("t:refunds"), rdflib.URIRef("http://v.org/refund"))}
    assert not set(graph.subject_objects(SKOS.exactMatch))
    assert load_vocabulary(path) == space  # the match is no concept of the scheme


@pytest.mark.parametrize("suffix", [".csv", ".ttl"])
@pytest.mark.parametrize("matches, expected", [
    ({"t:other": "http://v.org/x"}, "close match given for <t:other>, which is no label"),
    ({"t:zebras": "http://v.org/a b"}, "concept <t:zebras>: close match: URI"),
])
def test_save_vocabulary_refuses_a_bad_close_match(tmp_path, suffix, matches, expected):
    if suffix == ".ttl":
        pytest.importorskip("rdflib")
    path = tmp_path / f"v{suffix}"
    save = save_vocabulary_csv if suffix == ".csv" else save_vocabulary_skos
    with pytest.raises(VocabularyError, match=re.escape(expected)):
        save(_mapped_space(), path, close_matches=matches)
    assert not path.exists()


@needs_rdflib
def test_skos_broader_outside_the_vocabulary_is_dropped_with_one_warning(tmp_path, caplog):
    # dropped silently before, while CSV warned: a link to another scheme's concept, or
    # to one the file forgot to type, left a label without its parent and nothing said
    path = tmp_path / "outside.ttl"
    path.write_text(SKOS_HEAD + """
<http://x/a> a skos:Concept ; skos:broader <http://x/out1>, <http://x/b> .
<http://x/b> a skos:Concept ; skos:broader <http://other/z>, [ skos:prefLabel "anon" ] .
<http://x/c> a skos:Concept .
<http://x/untyped> skos:narrower <http://x/c> .
<http://x/d> a skos:Concept ; skos:broader <http://x/out1> .
""", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    assert [label.broader for label in space] == [["http://x/b"], [], [], []]
    warnings = [r.getMessage() for r in caplog.records if "broader" in r.getMessage()]
    assert warnings == [
        f"{path}: broader <http://x/out1> of <http://x/a> is no concept of the vocabulary; "
        "dropped 5 broader links that name none (also <http://x/b> broader <http://other/z>, "
        "<http://x/b> broader a blank node, ...)"]
    caplog.clear()
    inside = tmp_path / "inside.ttl"
    inside.write_text(SKOS_HEAD + "<http://x/a> a skos:Concept ; skos:broader <http://x/b> .\n"
                      "<http://x/b> a skos:Concept ; skos:narrower <http://x/a> .\n",
                      encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert [label.broader for label in load_vocabulary(inside)] == [["http://x/b"], []]
    assert "broader" not in caplog.text


@needs_rdflib
def test_a_literal_spelling_a_concepts_uri_is_no_broader_link(tmp_path, caplog):
    # the parents were compared as strings: skos:broader "http://x/b" (a literal) made
    # <http://x/b> the parent, and a literal object of skos:narrower a child
    path = tmp_path / "literal.ttl"
    path.write_text(SKOS_HEAD + """
<http://x/a> a skos:Concept ; skos:broader "http://x/b" .
<http://x/b> a skos:Concept .
<http://x/c> a skos:Concept ; skos:narrower "http://x/a" .
""", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    assert [label.broader for label in space] == [[], [], []]
    # <http://x/b> is in the vocabulary: the warning says the link is a literal, not
    # that the vocabulary lacks http://x/b ("'http://x/b' ... is not in the vocabulary")
    assert (f"{path}: broader 'http://x/b' (a literal, not a <URI>) of <http://x/a> is no "
            "concept of the vocabulary; dropped 1 broader link that names none"
            ) in caplog.text


@needs_rdflib
def test_large_skos_file_is_announced_before_its_parse(tmp_path, caplog):
    # rdflib parses in one call: a 28k-concept Turtle file took seconds with nothing shown
    from tagsmith.data.vocab import SKOS_ANNOUNCE_BYTES

    body = SKOS_HEAD + '<http://x/a> a skos:Concept ; skos:prefLabel "A"@en .\n'
    padding = ("#" + "x" * 99 + "\n") * (SKOS_ANNOUNCE_BYTES // 100 + 1)  # cheap to parse
    large, packed, small = tmp_path / "large.ttl", tmp_path / "packed.ttl.gz", tmp_path / "s.ttl"
    large.write_text(body + padding, encoding="utf-8")
    packed.write_bytes(gzip.compress((body + padding).encode()))
    small.write_text(body, encoding="utf-8")
    for path, size in ((large, "(5 MB)"), (packed, "(5 MB inflated)")):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tagsmith"):
            assert load_vocabulary(path).uris == ["http://x/a"]
        messages = [r.getMessage() for r in caplog.records]
        assert f"reading SKOS vocabulary {path} {size} ..." in messages, messages
        assert any(m.startswith(f"read SKOS vocabulary {path}: 2 triples (") for m in messages)
        assert messages.index(f"reading SKOS vocabulary {path} {size} ...") == 0
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        load_vocabulary(small)
    assert "SKOS vocabulary" not in caplog.text


def test_csv_header_errors_below_a_sep_line_name_the_header_line(tmp_path, caplog):
    """A spreadsheet's "sep=;" line puts the header on line 2: its errors (no 'uri'
    column, a column twice) and its warning (no label column) said line 1, the sep= line."""
    path = tmp_path / "v.csv"
    path.write_text("sep=;\r\nuri;label;URI\r\nhttp://x/a;A;b\r\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=re.escape(f"{path}:2: columns 1 ('uri') and 3 "
                                                         "('URI') of the header")):
        load_vocabulary(path)
    path.write_text("sep=;\r\nid;label\r\nx;A\r\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=re.escape(f"{path}:2: no 'uri' column")):
        load_vocabulary(path)
    path.write_text("sep=;\r\nuri;name\r\nhttp://x/a;A\r\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        load_vocabulary(path)
    assert f"{path}:2: no label column" in caplog.text


# -- replacements of deprecated labels (dct:isReplacedBy, replaced_by) --------------------------
_REPLACED_TTL = """\
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix {prefix}: <http://purl.org/dc/terms/> .
<http://x/a> a skos:Concept ; skos:prefLabel "old"@en ; owl:deprecated true ;
    {prefix}:isReplacedBy <http://x/b>, <http://other/z> .
<http://x/b> a skos:Concept ; skos:prefLabel "mid"@en ; owl:deprecated true ;
    <http://purl.org/dc/terms/isReplacedBy> <http://x/c> .
<http://x/c> a skos:Concept ; skos:prefLabel "new"@en .
<http://x/d> a skos:Concept ; skos:prefLabel "split"@en ; owl:deprecated true ;
    {prefix}:isReplacedBy <http://x/e>, <http://x/c> .
<http://x/e> a skos:Concept ; skos:prefLabel "other"@en .
"""


def _check_replaced(space):
    ids = {uri: space.id_of(uri) for uri in space.uris}
    assert space[ids["http://x/a"]].replaced_by == ["http://x/b"]  # outside one dropped
    # a chain through a deprecated replacement resolves to the live one
    assert space.replacement_ids(ids["http://x/a"]) == [ids["http://x/c"]]
    assert sorted(space.replacement_ids(ids["http://x/d"])) == [ids["http://x/c"],
                                                                ids["http://x/e"]]
    assert space.replacement_ids(ids["http://x/c"]) == []


@needs_rdflib
@pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib")  # rdflib's own JSON-LD parser
@pytest.mark.parametrize("prefix", ["dct", "dcterms"])
def test_skos_replacements_are_read_in_every_syntax(tmp_path, caplog, prefix):
    import rdflib

    path = tmp_path / "v.ttl"
    path.write_text(_REPLACED_TTL.format(prefix=prefix), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    _check_replaced(space)
    assert "replaced_by (dct:isReplacedBy) <http://other/z> of <http://x/a> is no concept" \
        in caplog.text and str(path) in caplog.text
    graph = rdflib.Graph().parse(path, format="turtle")
    for suffix, rdf_format in ((".rdf", "xml"), (".jsonld", "json-ld"), (".nt", "nt")):
        other = tmp_path / f"v{suffix}"
        graph.serialize(other, format=rdf_format, encoding="utf-8")
        _check_replaced(load_vocabulary(other))
    # written and read back, as SKOS and CSV
    for name in ("back.ttl", "back.csv"):
        writer = save_vocabulary_skos if name.endswith(".ttl") else save_vocabulary_csv
        back = load_vocabulary(writer(space, tmp_path / name))
        assert back == space and back.fingerprint == space.fingerprint
        _check_replaced(back)


def test_csv_replaced_by_column(tmp_path, caplog):
    path = tmp_path / "v.csv"
    path.write_text("uri,label_en,deprecated,Replaced_By\n"
                    "http://x/a,old,true,<http://x/b> http://other/z\n"
                    "http://x/b,mid,true,http://x/c\nhttp://x/c,new,false,\n"
                    "http://x/d,split,yes,http://x/e http://x/c\nhttp://x/e,other,,\n",
                    encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    _check_replaced(space)
    assert f"{path}:2: replaced_by (dct:isReplacedBy) <http://other/z> of <http://x/a>" \
        in caplog.text
    assert "replaced_by" in save_vocabulary_csv(space, tmp_path / "back.csv").read_text()


def test_replacement_cycle_is_refused_naming_it(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("uri,label_en,deprecated,replaced_by\nhttp://x/z,live,,\n"
                    "http://x/a,a,true,http://x/b\nhttp://x/b,b,true,http://x/a\n",
                    encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"v.csv:3: replaced_by \(dct:isReplacedBy\) "
                                              r"cycle of deprecated labels: <http://x/a> -> "
                                              r"<http://x/b> -> <http://x/a>"):
        load_vocabulary(path)
    # a replacement that is not deprecated ends the chain: no cycle
    path.write_text("uri,label_en,deprecated,replaced_by\nhttp://x/a,a,true,http://x/b\n"
                    "http://x/b,b,false,http://x/a\n", encoding="utf-8")
    assert load_vocabulary(path).replacement_ids(0) == [1]


@needs_rdflib
def test_skos_replacement_cycle_is_refused(tmp_path):
    path = tmp_path / "v.ttl"
    path.write_text(_REPLACED_TTL.format(prefix="dct").replace(
        '"new"@en .', '"new"@en ; owl:deprecated true ; dct:isReplacedBy <http://x/a> .'),
        encoding="utf-8")
    with pytest.raises(VocabularyError, match="v.ttl: replaced_by .* cycle of deprecated "
                                              "labels: <http://x/a> -> <http://x/b> -> "
                                              "<http://x/c> -> <http://x/a>"):
        load_vocabulary(path)


def test_replacements_survive_a_vocabulary_update_and_old_spaces_load():
    old = LabelSpace.from_dict({"name": None, "labels": [{"uri": "u:a"}, {"uri": "u:b"}]})
    assert [label.replaced_by for label in old] == [[], []] and old.replacements() == {}
    new = LabelSpace([Label("u:b"), Label("u:a", deprecated=True, replaced_by=["u:b"])])
    merged = old.updated(new)
    assert merged.replacements() == {0: [1]}
    assert merged.fingerprint == old.fingerprint  # replacements are no part of the ids
    assert LabelSpace.from_json(merged.to_json()) == merged


# -- Google's product taxonomy (taxonomy-with-ids.en-US.txt) ----------------------------------
GOOGLE = ("# Google_Product_Taxonomy_Version: 2021-09-21\n"
          "1 - Animals & Pet Supplies\n"
          "2 - Animals & Pet Supplies > Pet Supplies\n"
          "5 - Animals & Pet Supplies > Pet Supplies > Accessories\n"
          "412 - Food, Beverages & Tobacco\n"
          "413 - Food, Beverages & Tobacco > Beverages\n"
          "7 - Food, Beverages & Tobacco > Beverages > Accessories\n"
          "8 - Media > Books > Body, Mind & Spirit Books\n")


@pytest.mark.parametrize("name", ["taxonomy-with-ids.en-US.txt", "google.tsv",
                                  "taxonomy-with-ids.en-US.txt.gz"])
def test_google_product_taxonomy_read_with_its_hierarchy(tmp_path, caplog, name):
    # the file as Google publishes it (a .txt, detected by its first line) was refused
    # as "unknown vocabulary format '.txt'", and renamed .tsv, as malformed line 2
    path = tmp_path / name
    data = GOOGLE.encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    assert space.uris == ["1", "2", "5", "412", "413", "7", "8"]
    assert space.name_of(2) == "Animals & Pet Supplies > Pet Supplies > Accessories"
    assert space[2].broader == ["2"] and space[5].broader == ["413"]
    assert space[0].broader == [] and space[3].broader == []
    # its parent 'Media > Books' is not in the file: no broader label, one warning
    assert space[6].broader == []
    assert "8: 1 category whose parent path is not in the file has no broader" in caplog.text


def test_google_product_taxonomy_after_a_no_break_space_is_told_by_its_header(tmp_path):
    # the bounded sniff stripped the start's ASCII spaces alone (bytes.lstrip): a header
    # after a no-break space, which the line read after it strips, read as a plain list
    path = tmp_path / "taxonomy-with-ids.en-US.txt"
    path.write_text("\u00a0" + GOOGLE, encoding="utf-8")
    space = load_vocabulary(path)
    assert space.uris == ["1", "2", "5", "412", "413", "7", "8"]
    assert space[2].broader == ["2"]


def test_google_product_taxonomy_orphan_warning_names_the_missing_parent(tmp_path, caplog):
    # a '>' inside a category's name ('1:18 > Scale', a scale model) split it into steps,
    # and the warning said "1 category whose parent path is not in the file has no
    # broader label", not which parent: the name that broke was left to be found
    path = tmp_path / "taxonomy-with-ids.en-US.txt"
    path.write_text("# Google_Product_Taxonomy_Version: 2021-09-21\n1 - Toys\n"
                    "2 - Toys > Cars\n3 - Toys > Cars > 1:18 > Scale\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    assert space[2].broader == []
    assert ("4: 1 category whose parent path is not in the file has no broader label (the "
            "first's parent 'Toys > Cars > 1:18': a copy trimmed of it, or a '>' inside a "
            "category's name, which splits the name into steps)") in caplog.text, caplog.text


def test_google_product_taxonomy_path_given_two_ids_refused_naming_both_lines(tmp_path,
                                                                            caplog):
    """Two ids of one path were both read without a word, the children given the first
    as their broader label; refused as a repeated URI is (skipped with
    on_error='skip'). A path is named in one form, its steps joined by ' > ', the
    parent looked up in it: '2 - A>B' is 'A > B', the broader label of 'A > B > C'."""
    path = tmp_path / "taxonomy-with-ids.en-US.txt"
    path.write_text("# Google_Product_Taxonomy_Version: 1\n1 - A\n2 - A>B\n3 - A > B\n"
                    "4 - A > B > C\n")
    with pytest.raises(VocabularyError, match=r"txt:4: duplicate path 'A > B' of id 3 "
                                              r"\(first on line 3, id 2\)"):
        load_vocabulary(path)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path, on_error="skip")
    assert space.uris == ["1", "2", "4"] and space.name_of(1) == "A > B"
    assert space[2].broader == ["2"]
    assert "skipped 1 malformed or duplicate line (line 4)" in caplog.text


@pytest.mark.parametrize("name", ["labels.txt", "labels.TXT.gz"])
def test_a_plain_list_of_labels_is_read_one_key_a_line(tmp_path, name):
    """Reuters-21578's labels.txt (one label a line) was refused as "unknown vocabulary
    format '.txt'"; each line is its label's key, with no name (as a TSV line with no
    label column), blank and '#' lines skipped."""
    path = tmp_path / name
    data = b"acq\r\n\n# topics\nmoney-fx\n<http://x/c>\n  grain  \n"
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    space = load_vocabulary(path)
    assert space.uris == ["acq", "money-fx", "http://x/c", "grain"]
    assert space.names() == space.uris and all(not label.pref_labels for label in space)
    assert load_vocabulary(path, format="list") == space


def test_a_plain_list_of_hashtags_keeps_them_as_labels(tmp_path):
    """A list of hashtags ('#fashion') lost every label: each line beginning with '#'
    was skipped as a comment. A comment is '#' then a space, nothing or another sign;
    '#' then a letter, a digit or '_' is a label's key."""
    path = tmp_path / "tags.txt"
    path.write_text("# hashtags we tag posts with\n#fashion\n#\n## food\n#2024\n"
                    "#---\n  #_x\ntravel\n", encoding="utf-8")
    assert load_vocabulary(path).uris == ["#fashion", "#2024", "#_x", "travel"]


@pytest.mark.parametrize("line, why", [
    ("<http://x/a>\tapple", r"found a TAB in '<http://x/a>\\tapple': a <uri><TAB>label "
                            r"vocabulary is read as TSV, name it \.tsv"),
    ("crude oil", r"its key \(no spaces\), found 'crude oil': a label with a name of its "
                  r"own is a <uri><TAB>name line of a \.tsv vocabulary"),
    ("1 - Animals & Pet Supplies", r"found '1 - Animals & Pet Supplies'"),
    # Google's taxonomy without its first line was told that header before .txt was read
    # as a list (the suffix refused), then only to write a .tsv
    ("3237 - Animals & Pet Supplies > Live Animals",
     r"an 'ID - Category' line is Google's product taxonomy's, told by its first line "
     r"'# Google_Product_Taxonomy_Version:', missing here: put that line back"),
])
def test_a_plain_list_refuses_a_line_that_is_no_key_naming_it(tmp_path, line, why):
    """What the list reader can tell: a key holds no TAB (a TSV named .txt) and no space
    (a name, a document's sentence, Google's taxonomy without its first line), so such a
    line is refused naming file:line, not read as a label no corpus names."""
    path = tmp_path / "labels.txt"
    path.write_text(f"acq\n{line}\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"labels\.txt:2: a \.txt vocabulary is one "
                                              r"label per line.*" + why):
        load_vocabulary(path)
    assert load_vocabulary(path, on_error="skip").uris == ["acq"]


def test_a_tsv_warns_of_skipped_hash_lines_that_look_like_label_rows(tmp_path, caplog):
    """A TSV vocabulary skips every '#' line, so '#fashion<TAB>Fashion' was dropped with
    no word (a file of only such lines failed "no labels in the vocabulary" and nothing
    else), while a .txt list keeps '#fashion'. Skipping stays (a header '#id<TAB>name' is
    one); such lines are warned about once, counted, the first named, with the way out:
    the key in angle brackets."""
    path = tmp_path / "tags.tsv"
    path.write_text("#id\tname\n<#fashion>\tFashion\n# a comment\tx\n#beauty\tBeauty\n"
                    "##\tx\n#a b\tc\n#travel\tTravel\n#only-a-key\n#x\ty\tz\textra\n",
                    encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(path)
    assert space.uris == ["#fashion"] and space.names() == ["Fashion"]
    warned = [r.getMessage() for r in caplog.records if "starting with '#'" in r.getMessage()]
    assert warned == [f"{path}:4: skipped 2 lines starting with '#' that look like label "
                      "rows (line 4: '#beauty\\tBeauty'): a TSV vocabulary's '#' line is a "
                      "comment; to keep a label whose key begins with '#', write the key in "
                      "angle brackets, <#fashion><TAB>Fashion"], warned
    # the way out reads them
    fixed = tmp_path / "fixed.tsv"
    fixed.write_text("<#beauty>\tBeauty\n<#travel>\tTravel\n", encoding="utf-8")
    assert load_vocabulary(fixed).uris == ["#beauty", "#travel"]
    # a header alone before label rows, and comments, are no label rows: no warning
    caplog.clear()
    headed = tmp_path / "headed.tsv"
    headed.write_text("#id\tname\n# uri\tlabel\nacq\tAcquisitions\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert load_vocabulary(headed).uris == ["acq"]
    assert not caplog.records, caplog.records
    # a file of such lines alone: the error says why, -q hiding the warning
    hashed = tmp_path / "hashed.tsv"
    hashed.write_text("#fashion\tFashion\n#beauty\tBeauty\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"hashed\.tsv: no labels in the vocabulary; "
                                              r"skipped 2 lines starting with '#' that look "
                                              r"like label rows \(line 1: "):
        load_vocabulary(hashed)


@pytest.mark.parametrize("space", ["\xa0", "\u2009", "\u3000", "\u2028", "\u1680"])
def test_a_key_holding_any_unicode_space_is_refused_by_every_reader(tmp_path, space):
    """The URI check tested each character with str.isspace; it is one regex search now
    (a plain list of 200,000 labels read in half the time): a no-break, thin or
    ideographic space, or a line separator split_lines keeps inside a line, is refused as
    before, by the list and TSV readers and in a label built in Python."""
    from tagsmith.data.vocab import label_problem

    key = f"http://x/a{space}b"
    listed = tmp_path / "labels.txt"
    listed.write_text(f"acq\n{key}\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"labels\.txt:2: a \.txt vocabulary is one "
                                              r"label per line, its key \(no spaces\)"):
        load_vocabulary(listed)
    tsv = tmp_path / "v.tsv"
    tsv.write_text(f"<http://x/c>\tc\n<{key}>\tapple\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"v\.tsv:2: expected <uri><TAB>label"):
        load_vocabulary(tsv)
    assert "holds whitespace or one of" in (label_problem(Label(key)) or "")
    assert label_problem(Label("http://x/a\u200bb")) is None  # a zero-width space is none


@pytest.mark.parametrize("data", [
    "uri,label\r\nhttp://x/a,Apple\r\nhttp://x/b,Pear\r\n",
    "\ufeffsep=;\n\"URI\";label_en\nhttp://x/a;Apple\n",
])
def test_a_plain_list_refuses_a_csv_vocabulary_named_txt(tmp_path, data):
    """A CSV vocabulary saved as .txt was read as a list of keys, its header 'uri,label'
    and each 'http://x/a,Apple' a label no corpus names (no space in them to refuse);
    its header is told and the file refused naming it and the suffix to give."""
    path = tmp_path / "vocab.txt"
    path.write_text(data, encoding="utf-8")
    for on_error in ("fail", "skip"):
        with pytest.raises(VocabularyError, match=r"vocab\.txt:\d: a \.txt vocabulary is one "
                           r"label per line, found .*(uri|URI).*, the header of a CSV vocabulary: "
                           r"name it \.csv"):
            load_vocabulary(path, on_error=on_error)
    csv_path = tmp_path / "vocab.csv"
    csv_path.write_text(data, encoding="utf-8")
    assert load_vocabulary(csv_path).uris[0] == "http://x/a"


def test_google_product_taxonomy_without_ids_refused_naming_the_other_file(tmp_path):
    path = tmp_path / "taxonomy.en-US.txt"
    path.write_text("# Google_Product_Taxonomy_Version: 2021-09-21\nAnimals & Pet Supplies\n")
    with pytest.raises(VocabularyError, match=r"txt:2: .*a path without an id has no URI"
                                              r".*taxonomy-with-ids"):
        load_vocabulary(path)


def test_a_vocabulary_naming_no_replacement_is_not_checked_for_them(tmp_path, monkeypatch):
    """The set of every URI and the walk for a replacement cycle cost a vocabulary that
    names no replacement (most of them) 5% of its load time; one that names some is
    still checked."""
    import tagsmith.data.vocab as vocab_module

    walked = []
    monkeypatch.setattr(vocab_module, "replacement_cycle",
                        lambda labels: walked.append(len(labels)))
    path = tmp_path / "v.csv"
    path.write_text("uri,label_en,deprecated\nhttp://x/a,a,true\nhttp://x/b,b,\n",
                    encoding="utf-8")
    assert len(load_vocabulary(path)) == 2 and walked == []
    path.write_text("uri,label_en,deprecated,replaced_by\nhttp://x/a,a,true,http://x/b\n"
                    "http://x/b,b,,\n", encoding="utf-8")
    assert load_vocabulary(path).replacement_ids(0) == [1] and walked == [2]


class _CountedList(list):
    """A list counting how often it is walked."""

    walks = 0

    def __iter__(self):
        _CountedList.walks += 1
        return super().__iter__()


def test_a_long_replacement_chain_is_followed_in_linear_time():
    """A chain of 2,000 deprecated labels each replaced by the next: every label's
    replacements were found by a walk of the chain from that label, n * n / 2 steps
    (a chain of 10,000 took 22 s in ``replacements()``, which zeroshot --bundle and the
    warnings of deprecated labels in use call)."""
    n = 2000
    labels = [Label(f"u:{i}", deprecated=True, replaced_by=_CountedList([f"u:{i + 1}"]))
              for i in range(n)] + [Label(f"u:{n}")]
    space = LabelSpace(labels)
    _CountedList.walks = 0
    assert space.replacements() == {i: [n] for i in range(n)}
    assert _CountedList.walks < 10 * n
    _CountedList.walks = 0
    assert space.replaced_as(range(n), most=1) == f"<u:0> -> <u:{n}> ('u:{n}'); and 1,999 more"
    assert _CountedList.walks < 10 * n


def test_replacements_agree_with_replacement_ids_in_replaced_by_order():
    """A deprecated replacement is followed where it is named (depth first): ``a``
    replaced by ``b`` (deprecated, replaced by ``d``) and ``c`` gives ``d, c``."""
    space = LabelSpace([Label("u:a", deprecated=True, replaced_by=["u:b", "u:c", "u:e"]),
                        Label("u:b", deprecated=True, replaced_by=["u:d", "u:c"]),
                        Label("u:c"), Label("u:d"),
                        Label("u:e", deprecated=True, replaced_by=["u:b"])])
    assert space.replacement_ids(0) == [3, 2]
    assert space.replacements() == {0: [3, 2], 1: [3, 2], 4: [3, 2]}
    # a cycle (which the readers refuse; a space built in code may hold one) ends where
    # it closes, from wherever it is entered
    cyclic = LabelSpace([Label("u:a", deprecated=True, replaced_by=["u:b"]),
                         Label("u:b", deprecated=True, replaced_by=["u:a", "u:c"]),
                         Label("u:c")])
    assert cyclic.replacements() == {0: [2], 1: [2]}


def test_csv_relations_joined_by_another_separator_are_named_so(tmp_path, caplog):
    """``broader`` and ``replaced_by`` URIs joined by ';' or '|' (as altlabel cells are)
    were one URI naming no label, dropped with a warning that did not say why."""
    path = tmp_path / "v.csv"
    path.write_text("uri,label_en,deprecated,replaced_by,broader\n"
                    "http://x/a,a,true,http://x/b;http://x/c,http://x/b|http://x/c\n"
                    "http://x/b,b,,,\nhttp://x/c,c,,,\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="tagsmith"):
        space = load_vocabulary(path)
    assert space.replacement_ids(0) == [] and space[0].broader == []
    assert "<http://x/b;http://x/c> of <http://x/a> is no concept of the vocabulary; " \
        "dropped 1 replacement naming none (the column's URIs are separated by spaces, " \
        "not ';')" in caplog.text, caplog.text
    assert "broader <http://x/b|http://x/c> is not in the vocabulary; dropped 1 broader " \
        "link to labels outside it (the column's URIs are separated by spaces, not '|')" \
        in caplog.text, caplog.text


def test_a_replacement_of_a_label_not_deprecated_is_warned_about_and_ignored(tmp_path,
                                                                            caplog):
    """replaced_by on a label in use was kept with no word, and nothing follows it."""
    path = tmp_path / "v.csv"
    path.write_text("uri,label_en,deprecated,replaced_by\nhttp://x/a,a,,http://x/b\n"
                    "http://x/b,b,,\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="tagsmith"):
        space = load_vocabulary(path)
    assert space.replacements() == {} and space.replacement_ids(0) == []
    assert f"{path}:2: <http://x/a> names a replacement (replaced_by, dct:isReplacedBy) " \
        "but is not deprecated; the replacements of 1 label not deprecated are ignored" \
        in caplog.text, caplog.text


@pytest.mark.parametrize("name, text", [
    ("google.tsv", "<http://x/1>\tAnimals & Pet Supplies\n"),
    ("google.ttl", "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
                   "<http://x/1> a skos:Concept ;\n"
                   "  skos:prefLabel \"Animals & Pet Supplies\"@en .\n"),
])
def test_a_known_format_that_merely_starts_with_googles_header_read_as_its_suffix(
        tmp_path, name, text):
    # a TSV or Turtle conversion of the taxonomy keeping its header as a '#' comment
    # was read as Google's format, every line of it "expected 'ID - Category > Path'"
    path = tmp_path / name
    path.write_text("# Google_Product_Taxonomy_Version: 2021-09-21\n" + text)
    space = load_vocabulary(path)
    assert space.uris == ["http://x/1"] and space.name_of(0) == "Animals & Pet Supplies"


class _NameColumn(dict):
    """What a pandas Series of names indexed by URI looks like to ``from_uris``: ``in``
    and ``[]`` by URI, and no truth value."""

    def __bool__(self):
        raise ValueError("The truth value of a Series is ambiguous.")


def test_from_uris_refuses_what_it_would_misread_naming_it():
    # a bare str was a label space of one label per character ('u', ':', 'a')
    with pytest.raises(InvalidParameterError, match=r"'uris' must be a list of URIs .*"
                       "got 'a bare str'"):
        LabelSpace.from_uris("u:abc")
    with pytest.raises(InvalidParameterError, match=r"got 'a dict \(give its URIs, and "
                       r"names=\)'"):
        LabelSpace.from_uris({"u:a": "apple"})  # its names were dropped
    with pytest.raises(InvalidParameterError, match="no order for the label ids"):
        LabelSpace.from_uris({"u:a", "u:b"})
    # a missing URI (None, pandas' NaN) was an AttributeError on 'strip'
    with pytest.raises(InvalidParameterError, match=r"'uris\[1\]' must be a str .*'float'"):
        LabelSpace.from_uris(["u:a", float("nan")])
    # a missing name was kept as the label's name, the float NaN
    with pytest.raises(InvalidParameterError, match=r"names\['u:b'\].* must be a str .*"
                       "got 'nan'"):
        LabelSpace.from_uris(["u:a", "u:b"], names={"u:a": "apple", "u:b": float("nan")})
    # names as a Series (no truth value) were "ambiguous"
    space = LabelSpace.from_uris(["u:a", "u:b"], names=_NameColumn({"u:a": "apple"}))
    assert space.names() == ["apple", "u:b"]


def test_a_code_holding_a_space_given_as_a_uri_says_what_to_write(tmp_path):
    """An IPC patent class ('H04L 9/32') given as a vocabulary's URI was refused as a
    "missing or malformed URI" (TSV: "expected <uri><TAB>label"), saying nothing of the
    space: the error says to write the code without it, and as written in a notation."""
    hint = ("; a URI holds no space: give the code as 'H04L9/32' and as written, "
            "'H04L 9/32', in a notation column (TSV: the third), by which a corpus may "
            "name it")
    for name, content, error in (
            ("v.csv", "uri,label\nH04L,Digital transmission\nH04L 9/32,Authentication\n",
             "3: missing or malformed URI 'H04L 9/32'"),
            ("v.tsv", "H04L 9/32\tAuthentication\n",
             "1: expected <uri><TAB>label, found 'H04L 9/32\\tAuthentication'")):
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(VocabularyError) as info:
            load_vocabulary(path)
        assert str(info.value) == f"{path}:{error}{hint}"
    path = tmp_path / "v.tsv"  # spaces for a TAB: a code and its title, no such hint
    path.write_text("E11.9 Type 2 diabetes\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"found 'E11.9 Type 2 diabetes'$"):
        load_vocabulary(path)
    path.write_text("H04L9/32\tAuthentication\tH04L 9/32\n", encoding="utf-8")
    assert load_vocabulary(path).lookup("H04L 9/32") == 0


def test_a_broader_cell_naming_its_parent_another_way_says_how(tmp_path, caplog):
    """A code list's parent column holding the parent's title ('Type 2 diabetes
    mellitus', read as four URIs) or its code in another case ('e11') was dropped with a
    warning naming '<2>' or '<e11>' "not in the vocabulary", not what it is: the warning
    names the parent meant and what broader takes."""
    path = tmp_path / "icd.csv"
    for cell, hint in (
            ("Type 2 diabetes mellitus", "dropped 4 broader links to labels outside it "
             "('Type 2 diabetes mellitus', read as 4 URIs, is the name of <E11>: broader "
             "takes URIs; write E11)"),
            ("e11", "dropped 1 broader link to labels outside it (it is the code <E11> "
             "written in another case or without its punctuation (codes match exactly); "
             "write E11)"),
            ("E11 Type 2", "(it is a word of the name of <E11> ('Type 2 diabetes mellitus') "
             "after its code, read as a label of its own as the cell is split at its "
             "spaces; write the codes alone)"),
            ("Z99", "dropped 1 broader link to labels outside it\n")):
        path.write_text(f"uri,label,broader\nE11,Type 2 diabetes mellitus,\n"
                        f"E11.9,T2D without complications,{cell}\n", encoding="utf-8")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            space = load_vocabulary(path)
        assert f"{path}:3: broader <" in caplog.text and hint in caplog.text + "\n", cell
        assert space[1].broader == (["E11"] if cell.startswith("E11 ") else [])


def test_from_uris_takes_the_keys_of_a_dict_in_their_order():
    # a dict's keys are in its order: from_uris(names.keys(), names=names) worked before
    # sets were refused, and was refused as "a dict_keys (no order for the label ids)"
    names = {"u:b": "pear", "u:a": "apple"}
    space = LabelSpace.from_uris(names.keys(), names=names)
    assert space.uris == ["u:b", "u:a"] and space.names() == ["pear", "apple"]
    with pytest.raises(InvalidParameterError, match="no order for the label ids"):
        LabelSpace.from_uris(frozenset(names))


def test_names_holding_html_character_references_are_warned_about(tmp_path, caplog):
    """STW's files hold 'W.20  R&amp;D sector' and 'R&amp;D' (text escaped twice over
    at export): read as written, they were shown so by vocab, zeroshot and suggest, and
    a corpus label or an LLM answer 'R&D sector' named no label, with nothing said.
    Warned once per file, counted, the first named with its concept; a bare '&' (AT&T)
    or one that starts no reference ('&T;') is no such name."""
    tsv = tmp_path / "stw.tsv"
    tsv.write_text("<http://zbw.eu/stw/thsys/70879>\tW.20  R&amp;D sector\n"
                   "<http://x/att>\tAT&T\n<http://x/t>\tQ&T; sector\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        space = load_vocabulary(tsv)
    assert space.name_of(0) == "W.20  R&amp;D sector"  # read as written
    assert (f"{tsv}: 1 name holds HTML character references ('W.20  R&amp;D sector' of "
            "<http://zbw.eu/stw/thsys/70879>), as text escaped twice over writes them: "
            "read as written, so 'W.20  R&D sector' in a corpus or an LLM answer names no "
            "label; write the characters themselves in the file") \
        in caplog.text
    csv_vocab = tmp_path / "v.csv"
    csv_vocab.write_text("uri,label_en,label_de,altlabel_en\nhttp://x/a,R&amp;D,F&amp;E,"
                         "Research &#38; development|R&D\nhttp://x/b,Limited company &amp; Co,"
                         "GmbH,\n", encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        load_vocabulary(csv_vocab)
    assert f"{csv_vocab}: 4 names hold HTML character references ('R&amp;D' of " \
        "<http://x/a>, ...)" in caplog.text
    plain = tmp_path / "plain.tsv"
    plain.write_text("<http://x/att>\tAT&T\n<http://x/rd>\tR&D; policy\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        load_vocabulary(plain)
    assert "character references" not in caplog.text


def test_a_plain_list_keeps_its_hash_comments_that_hold_a_space(tmp_path):
    """Since hashtags are keys ('#fashion'), a list whose comment had no space after the
    '#' ('#Labels from the 2024 taxonomy'), read whole before, was refused at that line
    as a label with a name; no key holds a space, so such a line is a comment."""
    path = tmp_path / "labels.txt"
    path.write_text("#Labels from the 2024 taxonomy\r\n#fashion\r\njoy\r\n#TODO\tcheck\r\n",
                    encoding="utf-8")
    assert load_vocabulary(path).uris == ["#fashion", "joy"]


def test_tsv_header_row_of_a_spreadsheet_is_skipped_with_a_warning(tmp_path, caplog):
    """A TSV vocabulary pasted from a spreadsheet, its first row 'uri<TAB>label', read
    that row as a label 'uri' named 'label' (an unused label, the label space one larger)
    without a word: Annif's TSV has no header. The row is skipped, with a warning naming
    file:1; a key that only looks like a column name, in angle brackets or beside a name
    that is no column's, is still a label."""
    for header in ("uri\tlabel", "URI\tLabel_en", "id\tname\tnotation", "\ufeffuri\tlabel",
                   "uri"):
        path = tmp_path / "vocab.tsv"
        path.write_text(f"{header}\n<http://x/a>\tapple\nhttp://x/b\tpear\n", encoding="utf-8")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            space = load_vocabulary(path)
        assert space.uris == ["http://x/a", "http://x/b"], header
        assert f"{path}:1: skipped the header row" in caplog.text
    for first, uri in (("<uri>\tlabel", "uri"), ("id\tIdentity", "id"), ("code", "code")):
        path.write_text(f"{first}\nhttp://x/b\tpear\n", encoding="utf-8")
        assert load_vocabulary(path).uris == [uri, "http://x/b"], first
    path.write_text("uri\tlabel\n", encoding="utf-8")  # the header alone: no labels, said why
    with pytest.raises(VocabularyError, match=r"no labels in the vocabulary; line 1: skipped "
                                              r"the header row 'uri\\tlabel'"):
        load_vocabulary(path)


def test_no_module_outside_the_data_package_imports_a_private_name_of_vocab():
    """``commands.py`` and ``pipeline/llm.py`` imported the private ``vocab._suffix``
    (which suffix tells a file's format): a rename inside ``vocab`` broke the
    command line. It is public now, as :func:`~tagsmith.data.vocab.format_suffix`."""
    import ast

    from conftest import ROOT

    private = []
    for path in sorted((ROOT / "src" / "tagsmith").rglob("*.py")):
        if path.parent.name == "data":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "tagsmith.data.vocab":
                private += [f"{path.name}: {alias.name}" for alias in node.names
                            if alias.name.startswith("_")]
    assert private == []


#: a small thesaurus with skos:hiddenLabel (misspellings a search matches, never shown),
#: as Annif users' vocabularies carry them
HIDDEN_TTL = """\
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
<http://x.org/petroleum> a skos:Concept ; skos:prefLabel "Petroleum"@en ;
    skos:altLabel "Crude"@en ; skos:hiddenLabel "Petrolium"@en, "Petroleum oil"@en ;
    skos:hiddenLabel "Erdoel"@de .
<http://x.org/coffee> a skos:Concept ; skos:prefLabel "Coffee"@en ;
    skos:hiddenLabel "Cofee"@en, "Brew"@en .
<http://x.org/tea> a skos:Concept ; skos:prefLabel "Tea"@en ; skos:hiddenLabel "Brew"@en .
<http://x.org/old> a skos:Concept ; skos:prefLabel "Old"@en ; owl:deprecated true ;
    skos:hiddenLabel "Cofee"@en .
"""


def test_skos_hidden_labels_are_read_kept_and_written_back(tmp_path):
    # skos:hiddenLabel was read by no reader: a corpus naming a concept by one failed
    # as an unknown label, and a vocabulary written back (taxonomy --extend -o) dropped them
    path = tmp_path / "thes.ttl"
    path.write_text(HIDDEN_TTL, encoding="utf-8")
    space = load_vocabulary(path)
    petroleum = space[space.lookup("<http://x.org/petroleum>")]
    assert petroleum.hidden_labels == {"en": ["Petroleum oil", "Petrolium"], "de": ["Erdoel"]}
    assert petroleum.alt_labels == {"en": ["Crude"]}
    assert petroleum.to_dict()["hidden_labels"] == petroleum.hidden_labels
    assert Label.from_dict(petroleum.to_dict()) == petroleum
    # none: no key, so no space, bundle or digest saved before moves
    assert "hidden_labels" not in Label("u:a", {"en": "A"}, {"en": ["B"]}).to_dict()
    for name in ("back.ttl", "back.rdf", "back.csv"):
        saved = (save_vocabulary_csv if name.endswith(".csv") else save_vocabulary_skos)(
            space, tmp_path / name)
        back = load_vocabulary(saved)
        assert [label.hidden_labels for label in back] == [
            label.hidden_labels for label in space], name
        assert back == space, name
    assert "hiddenlabel_de" in (tmp_path / "back.csv").read_text(encoding="utf-8")


def test_a_hidden_label_names_its_concept_as_an_alternative_label_does(tmp_path):
    from tagsmith.exceptions import AmbiguousLabelError

    path = tmp_path / "thes.ttl"
    path.write_text(HIDDEN_TTL, encoding="utf-8")
    space = load_vocabulary(path)
    petroleum, coffee = space.lookup("Petroleum"), space.lookup("Coffee")
    assert space.lookup("Petrolium") == space.lookup("Erdoel") == petroleum
    # one a deprecated concept shares yields to the live one's
    assert space.lookup("Cofee") == coffee
    # one two live concepts share is ambiguous, naming both
    with pytest.raises(AmbiguousLabelError, match="coffee.*tea|tea.*coffee"):
        space.lookup("Brew")
    # never shown as the concept's name
    assert space.name_of(petroleum) == "Petroleum"
    assert space.name_of(petroleum, "de") == "Petroleum"


@pytest.mark.parametrize(("field", "kind"), [("alt_labels", "alternative"),
                                             ("hidden_labels", "hidden")])
def test_save_csv_refuses_a_pipe_naming_the_kind_of_label(tmp_path, field, kind):
    # a hiddenLabel holding '|' was refused as an "alternative label", one the concept
    # does not have
    label = Label("http://x/a", {"en": "A"})
    setattr(label, field, {"en": ["B|C"]})
    with pytest.raises(VocabularyError) as err:
        save_vocabulary_csv(LabelSpace([label]), tmp_path / "out.csv")
    assert f"{kind} label 'B|C' (en) contains '|'" in str(err.value)
    assert f"separator of {kind} labels" in str(err.value)
