"""``taxonomy --extend VOCAB``: last month's taxonomy kept, this month's new labels added.

Against a local chat-completions server on 127.0.0.1 (a test double of the LLM API):
it finds topics by keywords, keeps the table it is given and adds the topics of the new
data, and can be told to misbehave (rename, rewrite or drop a label in use), as a real
model may whatever the prompt says. The pipeline code is the real one.
"""

import csv
import gzip
import json

import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.data.vocab import load_vocabulary
from tagsmith.labeling.client import OpenAIChatClient
from tagsmith.labeling.prompts import read_data_section
from tagsmith.labeling.taxonomy import TaxonomyOptions, generate_taxonomy
from tagsmith.testing.llm_server import LocalChatServer, Reply, user_prompt

from conftest import ROOT

tagsmith_cli._register_commands()
SAMPLE = ROOT / "tests" / "data" / "reuters-sample.jsonl.gz"
TOPICS = {
    "cocoa": ("Cocoa market", "Cocoa crops, prices and trade."),
    "coffee": ("Coffee market", "Coffee harvests, exports and prices."),
    "grain": ("Grain trade", "Wheat, corn and other grain crops and sales."),
    "oil": ("Oil and energy", "Crude oil, refining, OPEC and energy prices."),
    "acquire": ("Mergers and acquisitions", "Companies buying, selling or merging."),
    "dividend": ("Dividends", "Dividend declarations and payouts."),
}
#: last month's taxonomy, with URIs of its own (not --base-uri's)
LAST_MONTH = [("http://example.org/desk/cocoa", "Cocoa market", "Cocoa crops, prices and trade."),
              ("http://example.org/desk/coffee", "Coffee market",
               "Coffee harvests, exports and prices."),
              ("http://example.org/desk/grain", "Grain trade",
               "Wheat, corn and other grain crops and sales.")]


def _shown(prompt):
    """The whole label set an update or review prompt shows: the labels in use (FIXED)
    and the others (LABELS)."""
    fixed = read_data_section(prompt, "FIXED") if "<<<FIXED" in prompt else []
    return fixed + read_data_section(prompt, "LABELS")


class Extender:
    """Plays the LLM's table steps: an update keeps the table given and adds the topics
    its data name; ``edit(labels)`` then changes the answer (a model misbehaving)."""

    def __init__(self, edit=None, fail_updates=False):
        self.edit = edit or (lambda labels: labels)
        self.fail_updates = fail_updates
        self.kinds = []
        self.fixed_seen = []
        self.repairs = []

    def answer(self, labels, rating=7):
        return json.dumps({"rating": rating, "labels": [
            {"name": n, "description": d} for n, d in self.edit(labels)]})

    def __call__(self, body):
        prompt = user_prompt(body)
        if prompt.startswith("Your answer broke"):
            self.kinds.append("repair")
            self.repairs.append(prompt)
            first = body["messages"][1]["content"]
            current = [(x["name"], x["description"]) for x in _shown(first)]
            return self.answer(current, rating=6)  # no new label: within any limit
        if prompt.startswith("# Context\nGoal: build"):
            self.kinds.append("generate")
            return self.answer(self.topics(read_data_section(prompt, "DATA")))
        if prompt.startswith("# Context\nGoal: improve"):
            self.kinds.append("update")
            if self.fail_updates:
                return Reply(status=500, content="the model crashed")
            self.fixed_seen.append([x["name"] for x in read_data_section(prompt, "FIXED")]
                                   if "<<<FIXED" in prompt else None)
            merged = [(x["name"], x["description"]) for x in _shown(prompt)]
            merged += [t for t in self.topics(read_data_section(prompt, "DATA"))
                       if t[0] not in [name for name, _ in merged]]
            return self.answer(merged)
        if prompt.startswith("# Context\nReview"):
            self.kinds.append("review")
            self.fixed_seen.append([x["name"] for x in read_data_section(prompt, "FIXED")]
                                   if "<<<FIXED" in prompt else None)
            return self.answer([(x["name"], x["description"]) for x in _shown(prompt)],
                               rating=8)
        return "I do not understand"

    @staticmethod
    def topics(texts):
        found = []
        for text in texts:
            for key, topic in TOPICS.items():
                if key in text.lower() and topic not in found:
                    found.append(topic)
        return found


def _texts():
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def _last_month(tmp_path, header=("uri", "label_en", "description_en"), rows=LAST_MONTH):
    """june.csv, the vocabulary _extend extends: ``header``, then ``rows``."""
    path = tmp_path / "june.csv"
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _extend(tmp_path, behaviour, *extra, output="july.csv"):
    june = tmp_path / "june.csv"
    if not june.exists():
        _last_month(tmp_path)
    args = ["taxonomy", str(SAMPLE), "--use-case", "route news to desks", "--extend", str(june),
            "-o", str(tmp_path / output), "--sample", "40", "--minibatch", "20",
            "--no-summaries", "--llm", "m", "--cache", str(tmp_path / "c.sqlite"),
            "--max-retries", "0", *extra]
    with LocalChatServer(behaviour) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--base-url", server.base_url])
    return result, server


def _extend_to_skos(tmp_path, june):
    """``taxonomy --extend june`` (no cache, at most 10 labels) written to july.csv and
    july.ttl, the run having succeeded."""
    args = ["taxonomy", str(SAMPLE), "--use-case", "route news to desks", "--extend", str(june),
            "-o", str(tmp_path / "july.csv"), "--skos", str(tmp_path / "july.ttl"),
            "--sample", "40", "--minibatch", "20", "--no-summaries", "--llm", "m",
            "--max-retries", "0", "--max-labels", "10"]
    with LocalChatServer(Extender()) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    return result


def test_extend_keeps_last_months_labels_and_adds_the_new_topics(tmp_path):
    # a team's taxonomy of last month, labels in use: this month's documents bring oil
    # and dividends; `taxonomy` started from nothing, so every label got a new
    # URI of --base-uri and last month's labels, caches and bundles no longer matched
    model = Extender()
    result, _ = _extend(tmp_path, model, "--skos", str(tmp_path / "july.ttl"),
                        "--max-labels", "10")
    assert result.exit_code == 0, result.output
    july = load_vocabulary(tmp_path / "july.csv")
    kept = [(july.uris[i], july.name_of(i), july[i].description["en"]) for i in range(3)]
    assert kept == LAST_MONTH  # the same URIs, names and descriptions, first
    new = {july.name_of(i): july.uris[i] for i in range(3, len(july))}
    assert {"Oil and energy", "Dividends"} <= set(new)
    assert all(uri.startswith("urn:tagsmith:taxonomy:") for uri in new.values())
    assert load_vocabulary(tmp_path / "july.ttl").uris == july.uris
    # no table from nothing: every minibatch updates the labels in use, named as such
    assert "generate" not in model.kinds and model.kinds.count("update") == 2
    assert all(seen == [name for _, name, _ in LAST_MONTH] for seen in model.fixed_seen)
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert summary["extend"]["n_kept"] == 3
    assert [x["name"] for x in summary["extend"]["new"]] == list(new)
    assert summary["extend"]["refused_edits"] == []
    assert "(3 kept from" in result.stdout and "+ Oil and energy:" in result.stdout
    assert "  Cocoa market: Cocoa crops" in result.stdout


def _misbehave(labels):
    out = []
    for name, description in labels:
        if name == "Coffee market":
            continue  # dropped
        if name == "Cocoa market":
            name = "Cocoa markets"  # respelled
        if name == "Grain trade":
            description = "Anything about farming."  # rewritten
        out.append((name, description))
    return out


def test_extend_refuses_and_reports_edits_of_the_labels_in_use(tmp_path):
    # a model told to keep the labels in use may rename, merge or drop one anyway:
    # applied silently, last month's documents labelled "Coffee market" would point at
    # no label of this month's vocabulary
    result, _ = _extend(tmp_path, Extender(edit=_misbehave), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    july = load_vocabulary(tmp_path / "july.csv")
    assert [(july.uris[i], july.name_of(i), july[i].description["en"])
            for i in range(3)] == LAST_MONTH
    assert "Cocoa markets" not in [july.name_of(i) for i in range(len(july))]
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    edits = {(x["uri"], x["change"], x["to"]) for x in summary["extend"]["refused_edits"]}
    assert edits == {("http://example.org/desk/cocoa", "renamed", "Cocoa markets"),
                     ("http://example.org/desk/coffee", "left out", None),
                     ("http://example.org/desk/grain", "description",
                      "Anything about farming.")}
    assert all(x["step"] == "update with minibatch 1"
               for x in summary["extend"]["refused_edits"])
    assert "left out (dropped, merged or renamed) the label in use 'Coffee market'" \
        in result.stderr
    # the run's "changes:" line counted repairs and rejected steps, not these
    assert "3 edits of labels in use refused (kept as they were)" in result.stderr


def test_extend_max_labels_counts_the_labels_in_use(tmp_path):
    # refused before any call when the labels in use leave no room
    result, server = _extend(tmp_path, Extender(), "--max-labels", "3")
    assert result.exit_code == 2 and server.requests == []
    assert "--max-labels" in result.output and "3 labels in use" in result.output
    # with room for one: the update adding more is sent back, the limit given as the total
    model = Extender()
    result, _ = _extend(tmp_path, model, "--max-labels", "4")
    assert result.exit_code == 0, result.output
    assert len(load_vocabulary(tmp_path / "july.csv")) <= 4
    assert any("labels with the 3 in use, at most 4 allowed" in repair
               for repair in model.repairs)


def test_extend_new_uri_never_takes_one_in_use():
    # a label in use whose URI is the slug of a new label's name: the new label got
    # that URI, and two labels shared it
    options = TaxonomyOptions(use_case="news", summarise=False, sample_size=20,
                              minibatch_size=20, max_labels=10)
    with LocalChatServer(Extender()) as server:
        client = OpenAIChatClient(server.base_url, "m", max_retries=0)
        taxonomy = generate_taxonomy(_texts()[:20], client, options,
                                     existing=[("Petroleum", "Crude oil and OPEC.")])
    added = taxonomy.labels[taxonomy.n_existing:]
    assert taxonomy.labels[0] == ("Petroleum", "Crude oil and OPEC.")
    import dataclasses

    space = dataclasses.replace(taxonomy, labels=added).to_label_space(
        taken=["urn:tagsmith:taxonomy:oil-and-energy"])
    assert "urn:tagsmith:taxonomy:oil-and-energy-2" in space.uris
    assert "urn:tagsmith:taxonomy:oil-and-energy" not in space.uris


def test_extend_in_place_replaces_the_vocabulary_only_once_the_run_succeeded(tmp_path):
    # -o the --extend file itself: a failed run leaves last month's vocabulary as it was
    june = _last_month(tmp_path)
    before = june.read_bytes()
    result, _ = _extend(tmp_path, Extender(fail_updates=True), "--max-labels", "10",
                        output="june.csv")
    assert result.exit_code != 0 and june.read_bytes() == before
    result, _ = _extend(tmp_path, Extender(), "--max-labels", "10", output="june.csv")
    assert result.exit_code == 0, result.output
    june_now = load_vocabulary(june)
    assert june_now.uris[:3] == [uri for uri, _, _ in LAST_MONTH] and len(june_now) > 3


def test_extend_rerun_is_answered_from_the_cache(tmp_path):
    result, _ = _extend(tmp_path, Extender(), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    first = (tmp_path / "july.csv").read_bytes()
    result, server = _extend(tmp_path, Extender(), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    assert server.requests == [] and (tmp_path / "july.csv").read_bytes() == first


def test_extend_a_names_only_vocabulary_says_the_descriptions_ignored_once(tmp_path):
    # a TSV vocabulary holds names only: the model describing each label in use gave one
    # "rewrote the description" warning per label, a dozen alike for a dozen labels
    june = tmp_path / "june.tsv"
    june.write_text("".join(f"<{uri}>\t{name}\n" for uri, name, _ in LAST_MONTH),
                    encoding="utf-8")
    args = ["taxonomy", str(SAMPLE), "--use-case", "route news to desks", "--extend",
            str(june), "-o", str(tmp_path / "july.csv"), "--sample", "40", "--minibatch",
            "20", "--no-summaries", "--llm", "m", "--cache", str(tmp_path / "c.sqlite"),
            "--max-labels", "10"]

    def describing(labels):  # the model describes every label, those in use too
        return [(name, description or TOPICS.get(name.split()[0].lower(), (0, "Its news."))[1])
                for name, description in labels]

    with LocalChatServer(Extender(edit=describing)) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    warnings = [w for w in summary["warnings"] if "description" in w]
    assert len(warnings) == 1 and "for 3 of the labels in use that have none" in warnings[0]
    assert {x["change"] for x in summary["extend"]["refused_edits"]} == {"described"}
    july = load_vocabulary(tmp_path / "july.csv")
    assert [july[i].description for i in range(3)] == [{}, {}, {}]  # kept as they were


def test_extend_says_a_new_label_named_as_a_deprecated_one(tmp_path):
    # a deprecated label is shown to no update step; the model naming a new label as it
    # gave two "Oil and energy" lines, the old one not marked, and nothing said
    _last_month(tmp_path, ["uri", "label_en", "description_en", "deprecated"], [
        *[(*row, "false") for row in LAST_MONTH],
        ("http://example.org/desk/oil", "Oil and energy", "Old desk.", "true")])
    result, _ = _extend(tmp_path, Extender(), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    assert "  Oil and energy (deprecated): Old desk." in result.stdout
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    oil = [x for x in summary["extend"]["new"] if x["name"] == "Oil and energy"]
    assert oil == [{"uri": "urn:tagsmith:taxonomy:oil-and-energy", "name": "Oil and energy",
                    "deprecated_namesake": "http://example.org/desk/oil"}]
    assert any("deprecated label <http://example.org/desk/oil>" in w
               for w in summary["warnings"])
    july = load_vocabulary(tmp_path / "july.csv")
    assert july.deprecated_mask[3] and july.uris[3] == "http://example.org/desk/oil"


def test_extend_under_another_lang_says_the_labels_in_use_are_not_named_in_it(tmp_path):
    # --lang de over last month's English vocabulary: the LLM was shown the English
    # names with no description, and asked for German labels, without a word
    result, _ = _extend(tmp_path, Extender(), "--max-labels", "10", "--lang", "de")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    said = [w for w in summary["warnings"] if "no label in use has a name in language 'de'"
            in w]
    assert len(said) == 1 and "names in 'en' are shown to the LLM instead" in said[0]


def test_extend_shows_the_descriptions_of_a_language_variant(tmp_path):
    # a vocabulary in en-GB under --lang en: its names were shown (name_of takes the
    # variant) but its descriptions were not, and the model's were noted as new ones
    _last_month(tmp_path, ["uri", "label_en-GB", "description_en-GB"])
    model = Extender()
    result, server = _extend(tmp_path, model, "--max-labels", "10")
    assert result.exit_code == 0, result.output
    first_update = next(user_prompt(body) for body in server.requests
                        if user_prompt(body).startswith("# Context\nGoal: improve"))
    shown = read_data_section(first_update, "FIXED")
    assert [(x["name"], x["description"]) for x in shown] == [
        (name, description) for _, name, description in LAST_MONTH]
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert summary["extend"]["refused_edits"] == []


def test_extend_says_each_refused_edit_once_however_many_steps_make_it(tmp_path):
    # a model rewriting a description anew at every step (update 1, update 2, review)
    # gave a warning a step for the same label
    steps = []

    def rewriting(labels):
        steps.append(1)
        return [(name, f"Grain news, take {len(steps)}." if name == "Grain trade" else
                 description) for name, description in labels]

    result, _ = _extend(tmp_path, Extender(edit=rewriting), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    assert len(steps) == 3  # two updates and the review, each rewriting it
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert [(x["name"], x["change"], x["to"], x["step"])
            for x in summary["extend"]["refused_edits"]] == [
        ("Grain trade", "description", "Grain news, take 1.", "update with minibatch 1")]
    assert sum("'Grain trade'" in w for w in summary["warnings"]) == 1


def test_extend_two_labels_in_use_of_one_key_kept_as_given_are_no_edit():
    """'Export' and 'Exports' (or an 'Other' twice) both in VOCAB: an answer keeping
    both as they are was said to respell and rewrite the first; one left out is said."""
    from tagsmith.labeling.taxonomy import split_existing

    fixed = [("Export", "Goods sold abroad."), ("Exports", "Export statistics."),
             ("Other", "Anything else.")]
    new, edits = split_existing([("Exports", "Export statistics."),
                                 ("Export", "Goods sold abroad."), ("Other", "Anything else."),
                                 ("Imports", "Goods bought abroad.")], fixed)
    assert new == [("Imports", "Goods bought abroad.")]
    assert edits == []
    new, edits = split_existing([("Exports", "Export statistics."),
                                 ("Other", "Anything else.")], fixed)
    assert new == [] and edits == [{"name": "Export", "change": "left out", "to": None,
                                    "index": 0}]


def test_extend_prints_the_descriptions_of_a_language_variant(tmp_path):
    # an en-GB vocabulary under --lang en: the labels in use were printed undescribed
    # ("  Cocoa market: ") while the model was shown their descriptions
    _last_month(tmp_path, ["uri", "label_en-GB", "description_en-GB"])
    result, _ = _extend(tmp_path, Extender(), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    for _, name, description in LAST_MONTH:
        assert f"    {name}: {description}\n" in result.stdout


def test_extend_many_labels_in_use_left_out_said_in_one_warning(caplog):
    # a model answering the new labels alone leaves out every label in use: one
    # warning a label, 8 alike here, hundreds for a vocabulary of hundreds
    existing = [(f"Desk {letter}", f"News of desk {letter}.") for letter in "ABCDEFGH"]
    options = TaxonomyOptions(use_case="news", summarise=False, sample_size=20,
                              minibatch_size=20, max_labels=20)
    with LocalChatServer(Extender(edit=lambda labels: [
            label for label in labels if not label[0].startswith("Desk")])) as server:
        client = OpenAIChatClient(server.base_url, "m", max_retries=0)
        with caplog.at_level("WARNING"):
            taxonomy = generate_taxonomy(_texts()[:20], client, options, existing=existing)
    assert taxonomy.labels[:8] == existing
    assert [edit["change"] for edit in taxonomy.refused_edits] == ["left out"] * 8
    said = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(said) == 1 and "left out (dropped, merged or renamed) 8 of the labels in use" \
        in said[0] and "'Desk A'" in said[0], said


def test_extend_a_refused_edit_has_the_uri_of_its_own_label_of_a_shared_name(tmp_path):
    # two labels in use named "Other" (under two desks): the second one left out was
    # reported with the first's URI (looked up by name)
    _last_month(tmp_path, rows=[
        *LAST_MONTH, ("http://example.org/desk/other-a", "Other", "Anything else."),
        ("http://example.org/desk/other-b", "Other", "Anything left.")])
    result, _ = _extend(tmp_path, Extender(edit=lambda labels: [
        label for label in labels if label != ("Other", "Anything left.")]), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert [(x["uri"], x["name"], x["change"]) for x in summary["extend"]["refused_edits"]] \
        == [("http://example.org/desk/other-b", "Other", "left out")]
    assert "index" not in summary["extend"]["refused_edits"][0]


def test_extend_refuses_a_new_label_named_as_an_alternative_name_of_one_in_use(tmp_path):
    # VOCAB's "Petroleum" has the alternative name "Oil and energy"; the model adding
    # "Oil and energy" made it a new label silently, two labels of one name
    _last_month(tmp_path, ["uri", "label_en", "description_en", "altlabel_en"], [
        *[(*row, "") for row in LAST_MONTH],
        ("http://example.org/desk/petroleum", "Petroleum", "Crude oil.",
         "Crude|Oil and energy")])
    result, _ = _extend(tmp_path, Extender(), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    july = load_vocabulary(tmp_path / "july.csv")
    names = [july.name_of(i) for i in range(len(july))]
    assert "Oil and energy" not in names and names[:4] == [
        "Cocoa market", "Coffee market", "Grain trade", "Petroleum"]
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert "Oil and energy" not in [x["name"] for x in summary["extend"]["new"]]
    assert [(x["uri"], x["name"], x["change"], x["to"])
            for x in summary["extend"]["refused_edits"]] == [
        ("http://example.org/desk/petroleum", "Petroleum", "alt name", "Oil and energy")]
    assert any("an alternative name of the label in use 'Petroleum'" in w
               for w in summary["warnings"])


def test_extend_refuses_a_new_label_named_as_a_hidden_label_and_writes_them_back(tmp_path):
    # skos:hiddenLabel (a misspelling or variant search should match) was read by no
    # reader: the model adding VOCAB's hidden "Oil and energy" of "Petroleum" made a
    # second label of one concept, and the vocabularies written (-o, --skos) dropped them
    june = tmp_path / "june.ttl"
    rows = [*LAST_MONTH, ("http://example.org/desk/petroleum", "Petroleum", "Crude oil.")]
    june.write_text(
        "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
        + "".join(f"<{uri}> a skos:Concept ; skos:prefLabel \"{name}\"@en ; "
                  f"skos:definition \"{description}\"@en .\n"
                  for uri, name, description in rows)
        + "<http://example.org/desk/petroleum> skos:hiddenLabel \"Oil and energy\"@en, "
          "\"Petrolium\"@en .\n", encoding="utf-8")
    result = _extend_to_skos(tmp_path, june)
    july = load_vocabulary(tmp_path / "july.ttl")
    assert load_vocabulary(tmp_path / "july.csv") == july
    names = [july.name_of(i) for i in range(len(july))]
    assert "Oil and energy" not in names and "Dividends" in names
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert [(x["uri"], x["name"], x["change"], x["to"])
            for x in summary["extend"]["refused_edits"]] == [
        ("http://example.org/desk/petroleum", "Petroleum", "alt name", "Oil and energy")]
    assert july[july.lookup("Petroleum")].hidden_labels == {"en": ["Oil and energy",
                                                                   "Petrolium"]}


def test_extend_a_skos_vocabulary_keeps_its_concept_scheme_and_title(tmp_path):
    # a thesaurus from outside tagsmith: the SKOS written had a scheme of its own
    # (…/concept/scheme, "Taxonomy for: ..."), the new labels in it alone, so that
    # --vocab-scheme with the thesaurus's scheme dropped every new label
    import rdflib
    from rdflib.namespace import DCTERMS, SKOS

    june = tmp_path / "june.ttl"
    june.write_text(
        "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
        "@prefix dct: <http://purl.org/dc/terms/> .\n"
        "<http://x.org/thes> a skos:ConceptScheme ; dct:title \"Desk thesaurus\" .\n"
        + "".join(f"<http://x.org/concept/{uri.rsplit('/', 1)[1]}> a skos:Concept ; "
                  f"skos:inScheme <http://x.org/thes> ; skos:prefLabel \"{name}\"@en ; "
                  f"skos:definition \"{description}\"@en .\n"
                  for uri, name, description in LAST_MONTH), encoding="utf-8")
    _extend_to_skos(tmp_path, june)
    july = load_vocabulary(tmp_path / "july.ttl")
    in_scheme = load_vocabulary(tmp_path / "july.ttl", schemes=["http://x.org/thes"])
    assert len(july) > 3 and in_scheme.uris == july.uris
    graph = rdflib.Graph().parse(tmp_path / "july.ttl")
    assert set(graph.subjects(rdflib.RDF.type, SKOS.ConceptScheme)) == {
        rdflib.URIRef("http://x.org/thes")}
    assert [str(t) for t in graph.objects(rdflib.URIRef("http://x.org/thes"),
                                          DCTERMS.title)] == ["Desk thesaurus"]


def test_extend_a_skos_vocabulary_keeps_its_prefixes_for_a_scheme_named_by_curie(tmp_path):
    # the extended space was built anew, without VOCAB's prefixes: the export bound no
    # thes:, and --vocab-scheme thes:main, which read june.ttl, was refused on july.ttl
    june = tmp_path / "june.ttl"
    june.write_text(
        "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
        "@prefix dct: <http://purl.org/dc/terms/> .\n"
        "@prefix thes: <http://x.org/thes/> .\n"
        "thes:main a skos:ConceptScheme ; dct:title \"Desk thesaurus\" .\n"
        + "".join(f"<http://x.org/concept/{uri.rsplit('/', 1)[1]}> a skos:Concept ; "
                  f"skos:inScheme thes:main ; skos:prefLabel \"{name}\"@en ; "
                  f"skos:definition \"{description}\"@en .\n"
                  for uri, name, description in LAST_MONTH), encoding="utf-8")
    assert len(load_vocabulary(june, schemes=["thes:main"])) == len(LAST_MONTH)
    _extend_to_skos(tmp_path, june)
    july = load_vocabulary(tmp_path / "july.ttl")
    assert len(july) > len(LAST_MONTH)
    assert load_vocabulary(tmp_path / "july.ttl", schemes=["thes:main"]).uris == july.uris


def test_extend_lists_each_label_in_use_once_in_a_prompt(tmp_path):
    # the labels in use went in FIXED by name and again in LABELS with their
    # descriptions: 444,581 characters an update prompt for STW's 6,243 labels, half of
    # them the names a second time
    result, server = _extend(tmp_path, Extender(), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    steps = [user_prompt(body) for body in server.requests
             if user_prompt(body).startswith(("# Context\nGoal: improve", "# Context\nReview"))]
    assert len(steps) == 3  # two updates and the review
    for prompt in steps:
        assert read_data_section(prompt, "FIXED") == [
            {"name": name, "description": description} for _, name, description in LAST_MONTH]
        others = [x["name"] for x in read_data_section(prompt, "LABELS")]
        assert not set(others) & {name for _, name, _ in LAST_MONTH}
        for _, name, description in LAST_MONTH:
            assert prompt.count(name) == 1 and prompt.count(description) == 1, name
    # the second update shows the first's new labels as the others
    assert read_data_section(steps[1], "LABELS")


def _improving(labels):
    """A model that respells one label in use and writes a better description of
    another (and keeps the rest)."""
    return [("Cocoa markets" if name == "Cocoa market" else name,
             "Wheat, corn, barley and rice: crops, exports and sales."
             if name == "Grain trade" else description) for name, description in labels]


def test_extend_accept_edits_takes_the_respellings_and_descriptions(tmp_path):
    # every edit of a label in use was refused and reported: a user who liked the
    # LLM's "Cocoa markets" or its better description of Grain trade could only copy
    # it in by hand
    result, server = _extend(tmp_path, Extender(edit=_improving), "--max-labels", "10",
                             "--accept-edits")
    assert result.exit_code == 0, result.output
    july = load_vocabulary(tmp_path / "july.csv")
    assert july.uris[:3] == [uri for uri, _, _ in LAST_MONTH]  # URIs never change
    assert july.name_of(0) == "Cocoa markets"
    assert july[0].alt_labels == {"en": ["Cocoa market"]}  # the old name still finds it
    assert july[2].description["en"] == "Wheat, corn, barley and rice: crops, exports and sales."
    assert (july.name_of(1), july[1].description["en"]) == LAST_MONTH[1][1:]
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    accepted = [(x["uri"], x["name"], x["change"], x["to"])
                for x in summary["extend"]["accepted_edits"]]
    assert accepted == [
        ("http://example.org/desk/cocoa", "Cocoa market", "renamed", "Cocoa markets"),
        ("http://example.org/desk/grain", "Grain trade", "description",
         "Wheat, corn, barley and rice: crops, exports and sales.")]
    assert summary["extend"]["refused_edits"] == []
    assert "2 edits of labels in use accepted (--accept-edits)" in result.stderr
    # the later steps are shown the labels as edited: no edit made again and again
    later = [user_prompt(body) for body in server.requests
             if user_prompt(body).startswith("# Context\nReview")]
    assert [x["name"] for x in read_data_section(later[0], "FIXED")][0] == "Cocoa markets"
    # without it, the same answers are refused, as before
    result, _ = _extend(tmp_path, Extender(edit=_improving), "--max-labels", "10",
                        output="refused.csv")
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert {x["change"] for x in summary["extend"]["refused_edits"]} == {"renamed",
                                                                         "description"}
    assert "accepted_edits" not in summary["extend"]
    assert load_vocabulary(tmp_path / "refused.csv").name_of(0) == "Cocoa market"


def test_extend_accept_edits_needs_extend(tmp_path):
    args = ["taxonomy", str(SAMPLE), "--use-case", "news", "-o", str(tmp_path / "t.csv"),
            "--llm", "m", "--base-url", "http://127.0.0.1:9/v1", "--accept-edits"]
    result = CliRunner().invoke(tagsmith_cli.cli, args)
    assert result.exit_code == 2 and "--accept-edits only applies with --extend" \
        in result.output


def test_extend_refuses_a_new_label_named_as_another_language_name_of_one_in_use(tmp_path):
    # only --lang's alternative names were looked at: "Oil and energy" as the German
    # altLabel of "Petroleum" passed as a new label, two labels of one concept
    # (a name in another language of a label named in English is only warned of:
    # test_extend_a_new_label_named_as_a_word_of_another_language_is_kept_and_said)
    _last_month(tmp_path, ["uri", "label_en", "description_en", "label_de", "altlabel_de"], [
        *[(*row, "", "") for row in LAST_MONTH],
        ("http://example.org/desk/petroleum", "Petroleum", "Crude oil.", "Erdöl",
         "Oil and energy")])
    result, _ = _extend(tmp_path, Extender(), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    july = load_vocabulary(tmp_path / "july.csv")
    names = [july.name_of(i) for i in range(len(july))]
    assert "Oil and energy" not in names, names
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert sorted((x["uri"], x["change"], x["to"])
                  for x in summary["extend"]["refused_edits"]) == [
        ("http://example.org/desk/petroleum", "alt name", "Oil and energy")]


def test_extend_max_labels_does_not_count_deprecated_labels_and_says_so(tmp_path):
    # 3 labels in use and 2 deprecated under --max-labels 4: room for one new label
    # (the deprecated ones are shown to no step and offered by label to no document),
    # but "taxonomy of 6 labels" under --max-labels 4 read as the limit broken
    _last_month(tmp_path, ["uri", "label_en", "description_en", "deprecated"], [
        *[(*row, "false") for row in LAST_MONTH],
        ("http://example.org/desk/tin", "Tin market", "Old desk.", "true"),
        ("http://example.org/desk/jute", "Jute market", "Old desk.", "true")])
    result, _ = _extend(tmp_path, Extender(), "--max-labels", "4")
    assert result.exit_code == 0, result.output
    july = load_vocabulary(tmp_path / "july.csv")
    n_new = len(july) - 5
    assert int((~july.deprecated_mask).sum()) == 3 + n_new <= 4
    assert f"taxonomy of {len(july)} labels" in result.stdout
    assert ("(5 kept from " in result.stdout and ", 2 of them deprecated (not counted by "
            f"--max-labels), {n_new} new, marked +)" in result.stdout), result.stdout


def test_extend_map_to_prints_the_new_labels_matches_and_keeps_every_label_matched(tmp_path):
    # --map-to with --extend mapped the labels in use again and printed a "map" line for
    # each, last month's 3 (thousands for a thesaurus) among this month's new ones;
    # their matches still belong in the files, which do not carry last month's
    target = tmp_path / "desks.csv"
    target.write_text("uri,label_en\nhttp://t.org/cocoa,Cocoa market\n"
                      "http://t.org/oil,Oil and energy\n", encoding="utf-8")
    result, _ = _extend(tmp_path, Extender(), "--max-labels", "10", "--map-to", str(target))
    assert result.exit_code == 0, result.output
    mapped = [line for line in result.stdout.splitlines() if line.startswith("  map ")]
    assert any("'Oil and energy' -> 'Oil and energy'" in line for line in mapped)
    assert not any("'Cocoa market'" in line or "'Grain trade'" in line for line in mapped)
    assert "the 3 labels kept from" in result.stdout
    with open(tmp_path / "july.csv", encoding="utf-8") as handle:
        rows = {row["uri"]: row["closematch"] for row in csv.DictReader(handle)}
    assert rows["http://example.org/desk/cocoa"] == "http://t.org/cocoa"
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    kept = {x["uri"]: x["kept"] for x in summary["mapping"]}
    assert kept["http://example.org/desk/cocoa"] is True
    assert kept["urn:tagsmith:taxonomy:oil-and-energy"] is False


def test_extend_accept_edits_says_why_an_edit_over_the_limits_was_not_accepted(tmp_path):
    # a description over --description-words was refused under --accept-edits with the
    # warning of a refused edit alone: it read as if --accept-edits had not been given
    long = "Wheat, corn, barley, rice, oats and every other grain: crops, exports and sales."

    def lengthy(labels):
        return [(name, long if name == "Grain trade" else description)
                for name, description in labels]

    result, _ = _extend(tmp_path, Extender(edit=lengthy), "--max-labels", "10",
                        "--accept-edits", "--description-words", "8")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert summary["extend"]["accepted_edits"] == []
    assert [(x["name"], x["change"], x["not_accepted"])
            for x in summary["extend"]["refused_edits"]] == [
        ("Grain trade", "description", "over description_words")]
    assert any("'Grain trade'" in w and "not accepted: longer than the 8 words a "
               "description may have" in w for w in summary["warnings"]), summary["warnings"]


def test_extend_accept_edits_refuses_an_edit_no_new_label_could_make(tmp_path):
    # an accepted edit skipped the checks every new label passes: a label in use
    # respelled "=Cocoa market" (same key: punctuation aside) was written for a
    # spreadsheet to run as a formula, and an empty description wiped Grain trade's
    def unsafe(labels):
        return [("=Cocoa market" if name == "Cocoa market" else name,
                 "" if name == "Grain trade" else description)
                for name, description in labels]

    result, _ = _extend(tmp_path, Extender(edit=unsafe), "--max-labels", "10",
                        "--accept-edits")
    assert result.exit_code == 0, result.output
    july = load_vocabulary(tmp_path / "july.csv")
    kept = [(july.uris[i], july.name_of(i), july[i].description["en"]) for i in range(3)]
    assert kept == LAST_MONTH
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert summary["extend"]["accepted_edits"] == []
    refused = {(x["name"], x["change"]): x.get("not_accepted")
               for x in summary["extend"]["refused_edits"]}
    assert refused == {("Cocoa market", "renamed"): "formula",
                       ("Grain trade", "description"): "empty"}
    assert any("'Grain trade'" in w and "not accepted: an empty description" in w
               for w in summary["warnings"]), summary["warnings"]


def test_accept_edits_refuses_a_respelling_to_another_label_in_uses_name():
    # "Export" and "Exports", two labels in use of one key: an answer naming both
    # "Exports" respelled "Export" as the other, accepted, two labels named "Exports"
    _accept_both_exports([("Exports", "Export figures."), ("Exports", "Goods sold abroad.")])


def _respelled_to_cocoa_markets(tmp_path):
    """july.csv of ``--accept-edits`` respelling "Cocoa market" to "Cocoa markets"."""
    result, _ = _extend(tmp_path, Extender(edit=_improving), "--max-labels", "10",
                        "--accept-edits")
    assert result.exit_code == 0, result.output
    july = load_vocabulary(tmp_path / "july.csv")
    assert july.name_of(0) == "Cocoa markets"
    return july


def test_extend_accept_edits_a_respelling_to_an_alt_name_is_no_alt_name_of_its_own(tmp_path):
    # "Cocoa market" with the alternative name "Cocoa markets", respelled to it: the
    # label was written named "Cocoa markets" with the alternative name "Cocoa markets",
    # one name both preferred and alternative in one language (SKOS forbids it)
    _last_month(tmp_path, ["uri", "label_en", "description_en", "altlabel_en"],
                [(*LAST_MONTH[0], "Cocoa markets"), *[(*row, "") for row in LAST_MONTH[1:]]])
    july = _respelled_to_cocoa_markets(tmp_path)
    assert july[0].alt_labels == {"en": ["Cocoa market"]}


def test_extend_accept_edits_a_respelling_to_a_hidden_name_is_no_hidden_name_of_its_own(
        tmp_path):
    # "Cocoa market" with the hidden label "Cocoa markets", respelled to it: the label
    # was written named "Cocoa markets" with the hidden label "Cocoa markets", one name
    # both preferred and hidden in one language (SKOS forbids it)
    _last_month(tmp_path, ["uri", "label_en", "description_en", "hiddenlabel_en"],
                [(*LAST_MONTH[0], "Cocoa markets|Cocoa mkt"),
                 *[(*row, "") for row in LAST_MONTH[1:]]])
    july = _respelled_to_cocoa_markets(tmp_path)
    assert july[0].alt_labels == {"en": ["Cocoa market"]}
    assert july[0].hidden_labels == {"en": ["Cocoa mkt"]}


def test_extend_accept_edits_to_a_tsv_says_what_it_cannot_hold(tmp_path):
    # a TSV holds names alone: the summary listed Grain trade's new description and
    # the respelling as accepted, the file held neither the description nor the old
    # name that still finds "Cocoa markets", and nothing said so
    result, _ = _extend(tmp_path, Extender(edit=_improving), "--max-labels", "10",
                        "--accept-edits", output="july.tsv")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert len(summary["extend"]["accepted_edits"]) == 2
    assert any("2 edits of labels in use accepted (accept_edits), but a TSV holds names "
               "alone" in w for w in summary["warnings"]), summary["warnings"]


def test_extend_accept_edits_an_edit_refused_then_accepted_is_said_accepted_only(tmp_path):
    # a description over the limit refused at the first step, a shorter one accepted at
    # a later step: the warning said the label was "kept as it was" though it was
    # changed, and the changes: line counted the one edit twice
    long = "Wheat, corn, barley, rice, oats and every other grain: crops, exports and sales."
    shorter_later, _ = _grain_described(long, "Grain crops and sales.")
    result, _ = _extend(tmp_path, Extender(edit=shorter_later), "--max-labels", "10",
                        "--accept-edits", "--description-words", "8")
    assert result.exit_code == 0, result.output
    assert load_vocabulary(tmp_path / "july.csv")[2].description["en"] == \
        "Grain crops and sales."
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert [(x["name"], x["change"]) for x in summary["extend"]["accepted_edits"]] == [
        ("Grain trade", "description")]
    assert summary["extend"]["refused_edits"] == []
    assert not any("kept as it was" in w for w in summary["warnings"]), summary["warnings"]
    assert "1 edit of labels in use accepted (--accept-edits)" in result.stderr
    assert "of labels in use refused" not in result.stderr


def test_generate_taxonomy_accept_edits_without_existing_is_refused():
    # it did nothing, silently, where run_taxonomy raised for the same call
    from tagsmith.exceptions import InvalidParameterError

    options = TaxonomyOptions(use_case="news", summarise=False, sample_size=20,
                              minibatch_size=20, max_labels=10)
    client = OpenAIChatClient("http://127.0.0.1:9/v1", "m", max_retries=0)
    try:
        generate_taxonomy(_texts()[:20], client, options, accept_edits=True)
    except InvalidParameterError as error:
        assert "accept_edits" in str(error)
    else:
        raise AssertionError("accept_edits without existing was not refused")


def test_accept_edits_two_labels_in_use_of_one_key_keep_their_descriptions():
    # "Export" (d0) and "Exports" (d1): an answer [("Exports", d0), ("Exports", d1)]
    # matched its first label to "Exports" by name (its description rewritten to d0)
    # and its second to "Export" (d1): accepted, the two descriptions swapped
    _accept_both_exports([("Exports", "Goods sold abroad."), ("Exports", "Export figures.")])


def _accept_both_exports(answer):
    """Extend "Export" and "Exports" (two labels in use of one key) with accept_edits, the
    model naming both "Exports" (``answer``): both kept as given, nothing accepted, the
    respelling of "Export" to the other's name refused."""
    fixed = [("Export", "Goods sold abroad."), ("Exports", "Export figures.")]

    def both_exports(labels):
        return [*answer, *[label for label in labels if label not in fixed]]

    options = TaxonomyOptions(use_case="news", summarise=False, sample_size=20,
                              minibatch_size=20, max_labels=10)
    with LocalChatServer(Extender(edit=both_exports)) as server:
        client = OpenAIChatClient(server.base_url, "m", max_retries=0)
        taxonomy = generate_taxonomy(_texts()[:20], client, options, existing=fixed,
                                     accept_edits=True)
    assert taxonomy.labels[:2] == fixed
    assert taxonomy.accepted_edits == []
    assert {(x["name"], x["change"], x.get("not_accepted"))
            for x in taxonomy.refused_edits} == {("Export", "renamed", "name in use")}


@pytest.mark.parametrize("column", ["altlabel_de", "hiddenlabel_de"])
def test_extend_accept_edits_refuses_a_respelling_to_another_labels_alt_name(tmp_path, column):
    # "Cocoa market" respelled "Cocoa markets" while Coffee market has the alternative
    # (or hidden: a variant lookup reads as its concept) name "Cocoa markets": accepted,
    # the name pointed at two labels
    _last_month(tmp_path, ["uri", "label_en", "description_en", column],
                [(*LAST_MONTH[0], ""), (*LAST_MONTH[1], "Cocoa markets"),
                 (*LAST_MONTH[2], "")])
    result, _ = _extend(tmp_path, Extender(edit=_improving), "--max-labels", "10",
                        "--accept-edits")
    assert result.exit_code == 0, result.output
    july = load_vocabulary(tmp_path / "july.csv")
    assert july.name_of(0) == "Cocoa market" and not july[0].alt_labels
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert [(x["name"], x["change"]) for x in summary["extend"]["accepted_edits"]] == [
        ("Grain trade", "description")]
    assert [(x["name"], x["change"], x["not_accepted"])
            for x in summary["extend"]["refused_edits"]] == [
        ("Cocoa market", "renamed", "alt name in use")]
    assert any("'Cocoa market'" in w and "an alternative name of the label in use "
               "'Coffee market'" in w for w in summary["warnings"]), summary["warnings"]


def test_extend_a_new_label_named_as_a_word_of_another_language_is_kept_and_said(tmp_path):
    # every name in every language was compared: a new English label equal to the
    # German name of a label in use named in English ("Gift", German for poison) was
    # refused as a duplicate, though it is another concept; a label named in no
    # variant of --lang (shown by its German name) still refuses its other names
    _last_month(tmp_path, ["uri", "label_en", "description_en", "label_de", "label_fr"], [
        *[(*row, "", "") for row in LAST_MONTH],
        ("http://example.org/desk/payouts", "Payouts", "Money to shareholders.",
         "Dividends", ""),
        ("http://example.org/desk/oil", "", "", "Erdöl", "Oil and energy")])
    result, _ = _extend(tmp_path, Extender(), "--max-labels", "10")
    assert result.exit_code == 0, result.output
    july = load_vocabulary(tmp_path / "july.csv")
    names = [july.name_of(i) for i in range(5, len(july))]
    assert "Dividends" in names and "Oil and energy" not in names, names
    summary = json.loads(result.stderr[result.stderr.index("{"):])
    assert [(x["uri"], x["change"], x["to"]) for x in summary["extend"]["refused_edits"]] \
        == [("http://example.org/desk/oil", "name in another language", "Oil and energy")]
    [new] = [x for x in summary["extend"]["new"] if x["name"] == "Dividends"]
    assert new["other_language_namesake"] == {"uri": "http://example.org/desk/payouts",
                                              "lang": "de"}
    assert any("'Dividends' has the name in 'de' of the label in use 'Payouts'" in w
               for w in summary["warnings"]), summary["warnings"]


def test_accept_edits_a_label_described_then_redescribed_is_one_accepted_edit():
    # a label in use given without a description ("described" at the first step, the
    # label then holding one) and described anew at a later step ("description"): two
    # entries for one description, the first naming a text the label no longer holds
    describe, calls = _grain_described("Grain crops.", "Grain crops and sales.")
    taxonomy = _accepting(describe, grain="")
    assert len(calls) > 1
    assert taxonomy.labels[0] == ("Grain trade", "Grain crops and sales.")
    assert [(x["name"], x["change"], x["to"]) for x in taxonomy.accepted_edits] == [
        ("Grain trade", "described", "Grain crops and sales.")]


def _grain_described(first, later):
    """An Extender edit describing "Grain trade" as ``first`` at the first update step
    and ``later`` at each one after, other labels as given; and the list its calls add
    to (a test checks there was a later step)."""
    calls = []

    def edit(labels):
        calls.append(1)
        text = first if len(calls) == 1 else later
        return [(name, text if name == "Grain trade" else description)
                for name, description in labels]

    return edit, calls


def _accepting(edit, grain="Grain crops and sales.", **limits):
    options = TaxonomyOptions(use_case="news", summarise=False, sample_size=20,
                              minibatch_size=10, max_labels=10, **limits)
    with LocalChatServer(Extender(edit=edit)) as server:
        client = OpenAIChatClient(server.base_url, "m", max_retries=0)
        return generate_taxonomy(_texts()[:20], client, options,
                                 existing=[("Grain trade", grain),
                                           ("Cocoa market", "Cocoa.")], accept_edits=True)


def test_accept_edits_a_refusal_after_the_accepted_edit_stays_listed():
    # a description accepted at the first step and rewritten over the limit at the
    # next: the later refusal was dropped for the accepted edit of the same kind, so
    # "the model tried again and was refused" was lost
    long = "Wheat, corn, barley, rice, oats and every other grain: crops, exports and sales."
    short_then_long, calls = _grain_described("Grain crops, sold.", long)
    taxonomy = _accepting(short_then_long, description_words=8)
    assert len(calls) > 1
    assert taxonomy.labels[0] == ("Grain trade", "Grain crops, sold.")
    assert [(x["name"], x["change"], x["to"]) for x in taxonomy.accepted_edits] == [
        ("Grain trade", "description", "Grain crops, sold.")]
    assert [(x["name"], x["change"], x["step"]) for x in taxonomy.refused_edits] == [
        ("Grain trade", "description", "update with minibatch 2")]
    assert all("_at" not in x for x in taxonomy.refused_edits + taxonomy.accepted_edits)


def test_accept_edits_a_description_given_back_respaced_is_no_edit():
    # a vocabulary's description over two lines, rewritten at the first step, then
    # given back (an answer's text is read with single spaces): the "taken back" filter
    # compared exact strings, so the respaced text stayed accepted and was written
    given = "Grain crops\nand  sales."
    rewrite_then_give_back, calls = _grain_described("Grain crops, sold.",
                                                     "Grain crops and sales.")
    taxonomy = _accepting(rewrite_then_give_back, grain=given)
    assert len(calls) > 1
    assert taxonomy.labels[0] == ("Grain trade", given)
    assert taxonomy.accepted_edits == []
    assert taxonomy.refused_edits == []


def test_accept_edits_tells_the_model_the_edits_it_accepts_and_only_then():
    # under --accept-edits the prompt still told the model to keep every label in use
    # "exactly as [it is] (no rename ...)": a model that obeys made none of the edits the
    # option is there to take. Without it the prompts are byte-identical to before
    # (their digests pinned: the response cache keys of every --extend run)
    import hashlib

    from tagsmith.labeling import prompts

    table = [{"name": "Billing", "description": "Invoices and refunds."}]
    fixed = [{"name": "Cocoa market", "description": "Cocoa crops, prices and trade."}]

    def digest(messages):
        return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]

    assert (digest(prompts.update_prompt(table, ["s"], "tickets", 25, 5, 30, fixed=fixed)),
            digest(prompts.review_prompt(table, "tickets", 25, 5, 30, fixed=fixed))) == (
        "6a23db9d7e2a193c", "7c18fb628ad632b2")
    seen = {}
    for accept in (False, True):
        options = TaxonomyOptions(use_case="news", summarise=False, sample_size=20,
                                  minibatch_size=10, max_labels=10)
        with LocalChatServer(Extender()) as server:
            client = OpenAIChatClient(server.base_url, "m", max_retries=0)
            generate_taxonomy(_texts()[:20], client, options, accept_edits=accept,
                              existing=[("Grain trade", "Grain crops and sales.")])
        seen[accept] = [user_prompt(body) for body in server.requests
                        if user_prompt(body).startswith(("# Context\nGoal: improve",
                                                         "# Context\nReview"))]
    assert len(seen[True]) == len(seen[False]) == 3  # two updates and the review
    for plain, editable in zip(seen[False], seen[True], strict=True):
        assert "exactly as they are (no rename" in plain
        assert "no rename" not in editable and "exactly as they are" not in editable
        assert ("you may respell a name (its case, spacing, punctuation, or a plural) and "
                "write a better description") in editable
        assert "no merge, split or removal, and no other name" in editable
        # the rest of the prompt is the same
        assert plain.replace(prompts._FIXED, "") == editable.replace(
            prompts._FIXED_EDITABLE, "")


def test_extend_warns_of_an_update_prompt_too_large_for_many_models(caplog):
    # a vocabulary of thousands of labels in use made every update prompt hundreds of
    # thousands of characters (STW's 6,243 labels: 318,050), sent with no word of it:
    # a model of a smaller context window failed or dropped part of it, unexplained
    import logging

    from tagsmith._surface import command_line
    from tagsmith.labeling.taxonomy import _warn_prompt_size

    many = [(f"Topic {i}", f"Documents about subject number {i} and its trade.")
            for i in range(2_000)]
    for existing, warned in ((many, True), (many[:3], False)):
        caplog.clear()
        options = TaxonomyOptions(use_case="news", summarise=False, sample_size=20,
                                  minibatch_size=10, max_labels=2_100)
        with LocalChatServer(Extender()) as server, \
                caplog.at_level(logging.WARNING, logger="tagsmith"):
            client = OpenAIChatClient(server.base_url, "m", max_retries=0)
            generate_taxonomy(_texts()[:20], client, options, existing=existing)
        said = [r.getMessage() for r in caplog.records if "context window" in r.getMessage()]
        assert len(said) == (1 if warned else 0), said
        if warned:
            first = next(body for body in server.requests
                         if user_prompt(body).startswith("# Context\nGoal: improve"))
            chars = sum(len(message["content"]) for message in first["messages"])
            assert chars > 100_000  # LARGE_PROMPT_CHARS
            assert said[0].startswith(
                f"taxonomy: each update step's prompt holds the 2,000 labels in use: the "
                f"first step's whole prompt is {chars:,} characters (about "
                f"{chars // 4:,} tokens of English"), said
            assert "3 steps in all with the review" in said[0]
            # from Python, the options' field; a command's wording names its option
            assert said[0].endswith(
                "extend a smaller vocabulary (a part of existing), or raise "
                "TaxonomyOptions(minibatch_size=...) for fewer steps"), said[0]
            assert "--minibatch" not in said[0]
            caplog.clear()
            with command_line(), caplog.at_level(logging.WARNING, logger="tagsmith"):
                _warn_prompt_size(first["messages"], 2_000, 3)
            assert caplog.records[-1].getMessage().endswith(
                "extend a smaller vocabulary (a part of VOCAB), or raise --minibatch for "
                "fewer steps")


def test_accept_edits_of_every_label_in_use_fold_each_name_a_few_times_not_each_pair(
        monkeypatch):
    # each respelling accepted was checked against every label in use by folding all
    # their names again (and each accepted edit looked for among all those before it):
    # quadratic, an update step of STW's 6,243 labels all respelled took minutes
    import tagsmith.labeling.taxonomy as taxonomy_module

    calls = []
    real = taxonomy_module.fold_name

    def counted(name):
        calls.append(name)
        return real(name)

    monkeypatch.setattr(taxonomy_module, "fold_name", counted)
    n = 400
    existing = [(f"Topic number {i}", f"Documents about subject {i}.") for i in range(n)]
    options = TaxonomyOptions(use_case="news", summarise=False, sample_size=10,
                              minibatch_size=10, max_labels=n + 20, review=False)
    with LocalChatServer(Extender(edit=lambda labels: [(name.upper(), description)
                                                       for name, description in labels])
                         ) as server:
        client = OpenAIChatClient(server.base_url, "m", max_retries=0)
        taxonomy = generate_taxonomy(_texts()[:10], client, options, existing=existing,
                                     accept_edits=True)
    assert len(taxonomy.accepted_edits) == n
    assert taxonomy.labels[:2] == [("TOPIC NUMBER 0", "Documents about subject 0."),
                                   ("TOPIC NUMBER 1", "Documents about subject 1.")]
    assert len(calls) < 10 * n, len(calls)  # was 2 * n * n
