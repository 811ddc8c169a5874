"""Selecting a SKOS vocabulary's concepts by class (``--vocab-type``) and concept scheme
(``--vocab-scheme``), as STW's descriptors apart from its thesaurus categories."""

import json
import logging

import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import VocabularyError

pytest.importorskip("rdflib")
tagsmith_cli._register_commands()

#: two categories (ex:Thsys) over three descriptors (ex:Descriptor, one of a subclass),
#: in two schemes; d3 also in the second scheme
SKOS = """\
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix ex: <http://example.org/ext/> .
@prefix v: <http://example.org/v/> .
ex:Descriptor rdfs:subClassOf skos:Concept .
ex:Thsys rdfs:subClassOf skos:Concept .
ex:Special rdfs:subClassOf ex:Descriptor .
v:main a skos:ConceptScheme .
v:other a skos:ConceptScheme .
v:t1 a skos:Concept, ex:Thsys ; skos:prefLabel "Economics"@en ; skos:inScheme v:main .
v:t2 a skos:Concept, ex:Thsys ; skos:prefLabel "Finance"@en ; skos:inScheme v:main ;
    skos:broader v:t1 .
v:d1 a skos:Concept, ex:Descriptor ; skos:prefLabel "inflation"@en ;
    skos:broader v:t1 ; skos:inScheme v:main .
v:d2 a ex:Descriptor ; skos:prefLabel "interest rate"@en ; skos:broader v:t2, v:d1 ;
    skos:inScheme v:main .
v:d3 a ex:Special ; skos:prefLabel "bond"@en ; skos:inScheme v:main, v:other ;
    skos:broader v:d2 .
"""
V = "http://example.org/v/"


@pytest.fixture
def skos(tmp_path):
    path = tmp_path / "vocab.ttl"
    path.write_text(SKOS)
    return path


def run(*args):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])


def test_everything_without_a_selection(skos):
    assert sorted(load_vocabulary(skos).uris) == [V + n for n in ("d1", "d2", "d3", "t1", "t2")]


@pytest.mark.parametrize("given", ["ex:Descriptor", "<http://example.org/ext/Descriptor>",
                                   "http://example.org/ext/Descriptor", "Descriptor"])
def test_types_by_curie_uri_or_local_name_with_subclasses(skos, given, caplog):
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        space = load_vocabulary(skos, types=[given])
    assert sorted(space.uris) == [V + "d1", V + "d2", V + "d3"]  # d3's ex:Special too
    # links to the left-out categories go quietly (INFO), the rest of the hierarchy stays
    d1, d2 = space[space.id_of(V + "d1")], space[space.id_of(V + "d2")]
    assert d2.broader == [V + "d1"] and d1.broader == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "dropped 2 broader links to concepts the selection left out" in caplog.text


def test_schemes_and_types_intersect(skos):
    assert load_vocabulary(skos, schemes=["v:other"]).uris == [V + "d3"]
    assert sorted(load_vocabulary(skos, types=["Thsys", "Special"]).uris) == [
        V + "d3", V + "t1", V + "t2"]
    assert load_vocabulary(skos, types=["Thsys"], schemes=[V + "main"]).uris == [
        V + "t1", V + "t2"]


def test_unknown_type_lists_the_types_present_with_counts(skos):
    with pytest.raises(VocabularyError) as info:
        load_vocabulary(skos, types=["ex:Descripter"])
    message = str(info.value)
    assert "vocab.ttl" in message and "ex:Descripter" in message
    assert "ex:Descriptor (2)" in message and "ex:Thsys (2)" in message
    assert "ex:Special (1)" in message and "skos:Concept (3)" in message


def test_unknown_scheme_lists_the_schemes_present(skos):
    with pytest.raises(VocabularyError, match=r"v:main \(5\), v:other \(1\)"):
        load_vocabulary(skos, schemes=["v:nope"])


def test_a_selection_keeping_nothing_is_refused(skos):
    with pytest.raises(VocabularyError, match="no concept of the vocabulary is of the types"):
        load_vocabulary(skos, types=["Thsys"], schemes=["v:other"])


def test_a_selection_of_a_tsv_is_refused(tmp_path):
    path = tmp_path / "vocab.tsv"
    path.write_text("<http://x/a>\tapple\n")
    with pytest.raises(VocabularyError, match="needs a SKOS vocabulary"):
        load_vocabulary(path, types=["Descriptor"])


def test_cli_vocab_and_train_keep_the_selected_concepts(skos, tmp_path):
    result = run("vocab", skos, "--vocab-type", "ex:Thsys", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_labels"] == 2
    result = run("vocab", skos, "--vocab-type", "Nope")
    assert result.exit_code != 0 and "ex:Descriptor (2)" in result.output
    corpus = tmp_path / "train.tsv"
    corpus.write_text("prices rise\t<http://example.org/v/d1>\n"
                      "loans cost more\t<http://example.org/v/d2>\n" * 3)
    out = tmp_path / "bundle"
    result = run("train", corpus, "-o", out, "--vocab", skos, "--vocab-type", "Descriptor",
                 "--feature-param", "char_ngrams=null", "--feature-param", "min_df=1")
    assert result.exit_code == 0, result.output
    from tagsmith.pipeline.classifier import TextClassifier

    assert sorted(TextClassifier.load(out).label_space.uris) == [V + "d1", V + "d2", V + "d3"]
    training = json.loads((out / "manifest.json").read_text())["training"]
    assert training["vocab"] == "vocab.ttl" and training["vocab_types"] == ["Descriptor"]
    assert "vocab_schemes" not in training


def test_cli_selection_without_a_vocabulary_is_refused(tmp_path):
    corpus = tmp_path / "train.tsv"
    corpus.write_text("prices rise\t<http://x/a>\n" * 3)
    result = run("train", corpus, "-o", tmp_path / "b", "--vocab-type", "Descriptor")
    assert result.exit_code == 2 and "no --vocab was given" in result.output
    assert "--vocab-type selects the labels of --vocab VOCAB" in result.output


def test_a_class_given_as_a_scheme_is_said_to_be_a_class(skos):
    with pytest.raises(VocabularyError) as info:
        load_vocabulary(skos, schemes=["ex:Thsys"])
    assert "it is the type of 2 concepts: give it as --vocab-type (types=)" in str(info.value)
    with pytest.raises(VocabularyError) as info:
        load_vocabulary(skos, types=["v:other"])
    assert "it is the scheme of 1 concept: give it as --vocab-scheme" in str(info.value)


def test_a_uri_prefix_keeps_labels_of_any_format(tmp_path, skos, caplog):
    tsv = tmp_path / "vocab.tsv"
    tsv.write_text("<http://s/descriptor/1>\tinflation\n<http://s/thsys/1>\tEconomics\n"
                   "<http://s/descriptor/2>\tbond\n")
    assert load_vocabulary(tsv, prefixes=["<http://s/descriptor/>"]).uris == [
        "http://s/descriptor/1", "http://s/descriptor/2"]
    csv = tmp_path / "vocab.csv"
    csv.write_text("uri,label_en,broader\nhttp://s/thsys/1,Economics,\n"
                   "http://s/descriptor/1,inflation,http://s/thsys/1\n"
                   "http://s/descriptor/2,bond,http://s/descriptor/1 http://s/thsys/1\n")
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        space = load_vocabulary(csv, prefixes=["http://s/descriptor/"])
    assert space.uris == ["http://s/descriptor/1", "http://s/descriptor/2"]
    assert space[1].broader == ["http://s/descriptor/1"] and space[0].broader == []
    assert "dropped 2 links to the labels left out" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert load_vocabulary(skos, prefixes=[V + "t"]).uris == [V + "t1", V + "t2"]


def test_an_unknown_uri_prefix_lists_the_namespaces(tmp_path):
    tsv = tmp_path / "vocab.tsv"
    tsv.write_text("<http://s/descriptor/1>\ta\n<http://s/thsys/1>\tb\n<http://s/descriptor/2>\tc\n")
    with pytest.raises(VocabularyError, match=r"vocab.tsv: selected URI prefix http://s/desc/ "
                       r".*namespaces of its 3 labels: http://s/descriptor/ \(2\), "
                       r"http://s/thsys/ \(1\)"):
        load_vocabulary(tsv, prefixes=["http://s/desc/"])
    result = run("vocab", tsv, "--vocab-prefix", "http://s/thsys/", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_labels"] == 1


def test_a_file_of_several_concept_classes_says_so(skos, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        load_vocabulary(skos)
    assert ("vocab.ttl: its concepts are of 3 classes, each concept a label: "
            "ex:Descriptor (2), ex:Thsys (2), ex:Special (1); --vocab-type CLASS keeps "
            "those of one") in caplog.text
    caplog.clear()
    plain = tmp_path / "plain.ttl"
    plain.write_text("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
                     "<http://x/a> a skos:Concept ; skos:prefLabel \"a\" .\n")
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        load_vocabulary(plain)
    assert "classes" not in caplog.text


def _descriptor_bundle(skos, tmp_path):
    """A bundle trained on ``skos``'s concepts of --vocab-type Descriptor, and a file
    of one document to suggest for."""
    corpus = tmp_path / "train.tsv"
    corpus.write_text("prices rise\t<http://example.org/v/d1>\n"
                      "loans cost more\t<http://example.org/v/d2>\n" * 3)
    out = tmp_path / "bundle"
    result = run("train", corpus, "-o", out, "--vocab", skos, "--vocab-type", "Descriptor",
                 "--feature-param", "char_ngrams=null", "--feature-param", "min_df=1")
    assert result.exit_code == 0, result.output
    docs = tmp_path / "docs.txt"
    docs.write_text("prices rise again\n")
    return out, docs


def test_suggest_vocab_with_another_selection_than_the_bundles_is_warned_of(skos, tmp_path,
                                                                          caplog):
    out, docs = _descriptor_bundle(skos, tmp_path)
    warned = (f"the bundle {out} was trained on the labels of its vocabulary selected with "
              f"--vocab-type Descriptor; --vocab {skos} is read with no selection")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(out), str(docs),
                                                       "--vocab", str(skos)])
    assert result.exit_code == 0, result.output
    assert warned in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "suggest", str(out), str(docs), "--vocab", str(skos), "--vocab-type", "Descriptor"])
    assert result.exit_code == 0, result.output
    assert "selected with" not in caplog.text


def test_the_retrain_advice_keeps_the_selection(skos, tmp_path, caplog):
    """suggest --vocab V --vocab-type T advised 'tagsmith train CORPUS --vocab V', which
    trains on every concept of V, the ones T leaves out included."""
    corpus = tmp_path / "train.tsv"
    corpus.write_text("prices rise\t<http://example.org/v/d1>\n" * 3)
    out = tmp_path / "bundle"
    result = run("train", corpus, "-o", out, "--vocab", skos, "--vocab-type", "Descriptor",
                 "--vocab-prefix", V + "d1", "--feature-param", "char_ngrams=null",
                 "--feature-param", "min_df=1")
    assert result.exit_code == 0, result.output
    docs = tmp_path / "docs.txt"
    docs.write_text("prices rise again\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "suggest", str(out), str(docs), "--vocab", str(skos), "--vocab-type", "Descriptor"])
    assert result.exit_code == 0, result.output
    assert (f"retrain (tagsmith train CORPUS --vocab {skos} --vocab-type Descriptor "
            "--output BUNDLE)") in caplog.text


def test_an_empty_selection_is_refused_naming_the_option(skos):
    """--vocab-type "" (a shell variable left unset) was refused naming the library's
    parameter 'types', which the command line has not."""
    result = run("vocab", skos, "--vocab-type", " ")
    assert result.exit_code == 2 and "'--vocab-type'" in result.output, result.output
    assert "'types'" not in result.output


def test_zeroshot_bundle_with_another_selection_than_the_bundles_is_warned_of(
        skos, tmp_path, caplog, monkeypatch):
    """zeroshot VOCAB --bundle read VOCAB without the bundle's --vocab-type: the labels
    the selection had left out ranked on zero-shot alone as labels VOCAB added, and
    nothing named the selection, as suggest, eval and audit --vocab do."""
    import numpy as np

    import tagsmith.zeroshot.encoder as encoder_module

    class Encoder:
        dim, name = 4, "stub"

        def encode(self, texts, *, show_progress=False):
            rows = np.ones((len(texts), self.dim), np.float32)
            return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    monkeypatch.setattr(encoder_module, "SentenceEncoder", lambda **kw: Encoder())
    out, docs = _descriptor_bundle(skos, tmp_path)
    warned = (f"the bundle {out} was trained on the labels of its vocabulary selected with "
              f"--vocab-type Descriptor; VOCAB {skos} is read with no selection")
    args = ["zeroshot", str(skos), str(docs), "--bundle", str(out), "--cache-dir", ""]
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, args)
    assert result.exit_code == 0, result.output
    assert warned in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--vocab-type", "Descriptor"])
    assert result.exit_code == 0, result.output
    assert "selected with" not in caplog.text


def test_the_same_selection_written_otherwise_is_not_warned_of(skos, tmp_path, caplog):
    """A bundle trained with --vocab-prefix <URI> and two --vocab-type, then given the
    prefix without its brackets and the types in the other order: the same labels, and
    the warning told the user to give the selection they had given."""
    corpus = tmp_path / "train.tsv"
    corpus.write_text("prices rise\t<http://example.org/v/d1>\n"
                      "loans cost more\t<http://example.org/v/d2>\n" * 3)
    out = tmp_path / "bundle"
    result = run("train", corpus, "-o", out, "--vocab", skos, "--vocab-type", "Descriptor",
                 "--vocab-type", "Thsys", "--vocab-prefix", f"<{V}d>",
                 "--feature-param", "char_ngrams=null", "--feature-param", "min_df=1")
    assert result.exit_code == 0, result.output
    docs = tmp_path / "docs.txt"
    docs.write_text("prices rise again\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "suggest", str(out), str(docs), "--vocab", str(skos), "--vocab-type", "Thsys",
            "--vocab-type", "Descriptor", "--vocab-prefix", f"{V}d"])
    assert result.exit_code == 0, result.output
    assert "selected with" not in caplog.text, caplog.text
    with caplog.at_level(logging.WARNING, logger="tagsmith"):  # another prefix: warned
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "suggest", str(out), str(docs), "--vocab", str(skos), "--vocab-type", "Thsys",
            "--vocab-type", "Descriptor", "--vocab-prefix", f"{V}"])
    assert result.exit_code == 0, result.output
    assert "selected with" in caplog.text, caplog.text


def test_a_local_name_of_several_classes_is_said_to_be_ambiguous(tmp_path):
    """--vocab-type Descriptor where two namespaces have a class of that local name was
    refused as "no concept of the vocabulary has it", though concepts of both do."""
    path = tmp_path / "two.ttl"
    path.write_text(SKOS.replace("@prefix v:", "@prefix ex2: <http://example.org/ext2/> .\n"
                                 "@prefix v:").replace(
        "v:d3 a ex:Special", "v:d3 a skos:Concept, ex2:Descriptor"))
    with pytest.raises(VocabularyError) as info:
        load_vocabulary(path, types=["Descriptor"])
    message = str(info.value)
    assert "selected type Descriptor (types=, --vocab-type) is the local name of 2 types" \
        in message, message
    assert "ex:Descriptor (2), ex2:Descriptor (1); give the one to keep as a CURIE" in message
    assert "no concept" not in message
    assert [label.uri for label in load_vocabulary(path, types=["ex2:Descriptor"])] == [V + "d3"]


def test_train_a_label_the_selection_left_out_is_not_said_missing_from_the_file(skos,
                                                                               tmp_path):
    """A corpus label of a concept --vocab-type left out was refused as "not in the
    vocabulary V", advising to add it there, where it is."""
    corpus = tmp_path / "train.tsv"
    corpus.write_text("prices rise\t<http://example.org/v/t1>\n")
    result = run("train", corpus, "-o", tmp_path / "b", "--vocab", skos,
                 "--vocab-type", "Descriptor")
    assert result.exit_code != 0
    assert (f"not in the vocabulary {skos} as selected (Descriptor)); correct it, add it "
            "to the vocabulary, keep it in the selection (--vocab-type, --vocab-scheme, "
            "--vocab-prefix), or give --unknown-labels skip") in result.output, result.output
    result = run("train", corpus, "-o", tmp_path / "b", "--vocab", skos,
                 "--vocab-prefix", V + "d")
    assert f"as selected ({V}d))" in result.output, result.output


def test_a_class_written_otherwise_is_the_same_selection(skos, tmp_path, caplog):
    """A bundle trained with --vocab-type Descriptor (a local name), then given
    --vocab-type ex:Descriptor (a CURIE) or its <URI>: the same class, and the warning
    said "another selection", telling the user to give what they had given. The
    bundle records the URIs the selection named (training.vocab_type_uris), which are
    compared; a class that differs is still warned of."""
    out, docs = _descriptor_bundle(skos, tmp_path)
    training = json.loads((out / "manifest.json").read_text())["training"]
    assert training["vocab_types"] == ["Descriptor"]
    assert training["vocab_type_uris"] == ["http://example.org/ext/Descriptor"]
    for written in ("ex:Descriptor", "<http://example.org/ext/Descriptor>",
                    "http://example.org/ext/Descriptor"):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "suggest", str(out), str(docs), "--vocab", str(skos), "--vocab-type", written])
        assert result.exit_code == 0, result.output
        assert "selected with" not in caplog.text, (written, caplog.text)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):  # a subclass: another one
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "suggest", str(out), str(docs), "--vocab", str(skos), "--vocab-type", "ex:Special"])
    assert result.exit_code == 0, result.output
    assert ("selected with --vocab-type Descriptor; --vocab "
            f"{skos} is read with --vocab-type ex:Special") in caplog.text, caplog.text


def test_label_shortlist_bundle_with_another_selection_is_warned_of(skos, tmp_path, caplog):
    """label --vocab VOCAB --shortlist BUNDLE read VOCAB without the bundle's
    --vocab-type, and said nothing: the labels the selection had left out were offered
    as labels the bundle never ranks (warned of as "not in the --shortlist bundle"), with
    no word of the selection, as suggest, eval and audit --vocab say."""
    from tagsmith.testing.llm_server import LocalChatServer

    out, docs = _descriptor_bundle(skos, tmp_path)
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text('{"text": "prices rise again"}\n')

    def teacher(body):
        return json.dumps({"labels": [{"label": "inflation", "confidence": 0.9}]})

    warned = (f"the bundle {out} was trained on the labels of its vocabulary selected with "
              f"--vocab-type Descriptor; --vocab {skos} is read with no selection")
    for selection, said in (([], True), (["--vocab-type", "ex:Descriptor"], False)):
        caplog.clear()
        with LocalChatServer(teacher) as server, \
                caplog.at_level(logging.WARNING, logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "label", str(corpus), "--vocab", str(skos), *selection,
                "--shortlist", str(out), "-o", str(tmp_path / f"o{len(selection)}.jsonl"),
                "--base-url", server.base_url, "--llm", "t", "--max-retries", "0",
                "--cache", str(tmp_path / "c.sqlite")])
        assert result.exit_code == 0, result.output
        assert (warned in caplog.text) is said, (selection, caplog.text)


@pytest.mark.parametrize("name", ["out.ttl", "out.rdf", "out.jsonld.gz"])
def test_a_skos_export_keeps_the_classes_and_schemes_selected_by(skos, tmp_path, name):
    """vocab --output x.ttl wrote every concept as a plain skos:Concept of one new
    scheme: --vocab-type Descriptor and --vocab-scheme selected nothing in the export
    that they selected in its source. It writes each concept's classes (a subclass's
    concept typed with the class above it too) and schemes, as read."""
    out = tmp_path / name
    result = run("vocab", skos, "-o", out, "--show", "0")
    assert result.exit_code == 0, result.output
    # a CURIE of the source's prefixes too, where the syntax declares unused prefixes
    # (Turtle; RDF/XML and JSON-LD write a class's URI whole)
    special = "ex:Special" if name.endswith(".ttl") else "Special"
    for selection in ({"types": ["Descriptor"]}, {"types": [special]},
                      {"types": ["Thsys"]}, {"schemes": [f"<{V}other>"]},
                      {"types": ["Descriptor"], "schemes": [f"<{V}main>"]}):
        assert load_vocabulary(out, **selection).uris == \
            load_vocabulary(skos, **selection).uris, selection
    back = load_vocabulary(out)
    assert back[back.id_of(V + "d3")].types == ["http://example.org/ext/Descriptor",
                                                "http://example.org/ext/Special"]
    # and the scheme the export declares of every concept
    assert back[back.id_of(V + "d3")].schemes == [V + "main", V + "other", V + "scheme"]
