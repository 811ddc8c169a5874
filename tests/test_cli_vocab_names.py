"""suggest --vocab and eval --vocab: a bundle's labels read against a vocabulary updated
since training (renamed, deprecated with replacements, removed and new labels)."""

import json
import logging

import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]
TEXTS = {"sport": "the team won the match", "food": "bread and soup for dinner",
         "old": "old times long ago", "gone": "grief and loss"}
#: v2 of the vocabulary: sport renamed, food deprecated for meal (new), old deprecated
#: with no replacement, gone removed, weather new
V2 = ("uri,label_en,deprecated,replaced_by\n"
      "u:sport,athletics,,\nu:food,food,true,u:meal\nu:old,old,true,\n"
      "u:meal,meal,,\nu:weather,weather,,\n")


def run(*args, input=None):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)], input=input)


def loud(*args):
    """``run`` without ``-q``: its warnings logged (caplog); its product is ``stdout``."""
    return CliRunner().invoke(tagsmith_cli.cli, list(map(str, args)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A bundle of sport, food, old and gone, its v1 and v2 vocabularies (CSV), and a
    documents file of one text per label."""
    base = tmp_path_factory.mktemp("vocabnames")
    v1 = base / "v1.csv"
    v1.write_text("uri,label_en\n" + "".join(f"u:{name},{name}\n" for name in TEXTS))
    corpus = base / "train.tsv"
    corpus.write_text("".join(f"{text}\t<u:{name}>\n" for name, text in TEXTS.items()) * 4)
    out = base / "model"
    result = run("train", corpus, "-o", out, "--vocab", v1, "--dev-fraction", "0", *FAST)
    assert result.exit_code == 0, result.output
    v2 = base / "v2.csv"
    v2.write_text(V2)
    docs = base / "docs.txt"
    docs.write_text("".join(text + "\n" for text in TEXTS.values()))
    return {"bundle": out, "v1": v1, "v2": v2, "docs": docs, "base": base}


def _first(result):
    """Each document's first suggestion as (uri, label, score)."""
    assert result.exit_code == 0, result.output
    return [(s["uri"], s["label"], s["score"]) for s in
            (json.loads(line)["suggestions"][0] for line in result.stdout.splitlines())]


def test_suggest_vocab_shows_the_vocabularys_names_and_warns_of_what_differs(trained,
                                                                           caplog):
    """suggest had no --vocab: a label renamed since training was shown by its old name
    until a retrain (zeroshot and label read VOCAB's names). VOCAB's names now, in JSON
    and TSV, and one warning counts and names what differs."""
    bundle, v2, docs = trained["bundle"], trained["v2"], trained["docs"]
    before = _first(run("suggest", bundle, docs, "--k", "1", "--threshold", "0"))
    assert [label for _, label, _ in before] == ["sport", "food", "old", "gone"]
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("suggest", bundle, docs, "--k", "1", "--threshold", "0", "--vocab", v2)
    after = _first(result)
    # the same labels and scores (the model's), VOCAB's names; deprecated and removed
    # labels still suggested, as the model learnt them
    assert [(uri, score) for uri, _, score in after] == \
        [(uri, score) for uri, _, score in before]
    assert [label for _, label, _ in after] == ["athletics", "food", "old", "gone"]
    rows = run("suggest", bundle, docs, "--k", "1", "--threshold", "0", "--vocab", v2,
               "--format", "tsv").output.splitlines()
    assert rows[0].split("\t")[1:3] == ["<u:sport>", "athletics"]
    assert caplog.text.count("differs from the vocabulary") == 1, caplog.text
    assert (f"{v2} differs from the vocabulary {bundle} was trained on (matched by URI): "
            "1 renamed label is shown with its new name ('sport' -> 'athletics'); 1 of the "
            "bundle's labels it deprecates with a replacement (dct:isReplacedBy: 'food' -> "
            "'meal') is still suggested, as the model learnt them (--replace-deprecated "
            "suggests the replacements instead); 1 of the bundle's labels not in it "
            "('gone') and 1 it deprecates with no replacement ('old') are still suggested "
            "(the bundle's name shown); 2 new labels ('meal', 'weather') are unknown to the "
            "model and never suggested; to learn its changes, retrain (tagsmith train CORPUS "
            f"--vocab {v2} --output BUNDLE)") in caplog.text
    # the vocabulary the bundle was trained on: nothing differs, nothing said
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert _first(loud("suggest", bundle, docs, "--k", "1", "--threshold", "0",
                           "--vocab", trained["v1"])) == before
    assert "differs" not in caplog.text


def test_suggest_replace_deprecated_gives_a_deprecated_labels_score_to_its_replacement(
        trained, caplog):
    """--replace-deprecated: a label VOCAB deprecates is suggested as its replacement
    (dct:isReplacedBy) on its score; one with no replacement, or removed, is left out
    and the next label takes its place (still --k of them)."""
    bundle, v2, docs = trained["bundle"], trained["v2"], trained["docs"]
    before = _first(run("suggest", bundle, docs, "--k", "1", "--threshold", "0"))
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("suggest", bundle, docs, "--k", "2", "--threshold", "0", "--vocab", v2,
                      "--replace-deprecated")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line)["suggestions"] for line in result.stdout.splitlines()]
    assert all(len(line) == 2 for line in lines), lines
    assert (lines[1][0]["uri"], lines[1][0]["label"], lines[1][0]["score"]) == \
        ("u:meal", "meal", before[1][2])
    for line in lines:
        assert not {s["uri"] for s in line} & {"u:food", "u:old", "u:gone"}, line
        assert [s["score"] for s in line] == sorted((s["score"] for s in line), reverse=True)
    assert "'food' -> 'meal') is never suggested, its score going to its replacement" \
        in caplog.text
    assert "1 new label ('weather') is unknown to the model" in caplog.text, caplog.text


def test_suggest_vocab_refusals_name_the_option_and_both_files(trained, tmp_path):
    bundle, v2, docs = trained["bundle"], trained["v2"], trained["docs"]
    other = tmp_path / "other.tsv"
    other.write_text("<u:x>\tx\n")
    for command in (("suggest", bundle, docs), ("eval", bundle, trained["base"] / "train.tsv")):
        result = run(*command, "--vocab", other)
        assert result.exit_code == 2, result.output
        assert (f"option '--vocab' must be a vocabulary sharing labels with the bundle "
                f"{bundle} (matched by URI; none is shared), got '{other}'") in result.output
        assert "Traceback" not in result.output
    result = run("suggest", bundle, docs, "--replace-deprecated")
    assert result.exit_code == 2 and "--replace-deprecated only applies with --vocab" \
        in result.output
    result = run("suggest", bundle, docs, "--vocab", v2, "--replace-deprecated", "--sets")
    assert result.exit_code == 2 and "--replace-deprecated only applies with ranked " \
        "suggestions alone (not with --sets)" in result.output


def test_eval_vocab_reads_gold_labels_by_either_name_and_leaves_out_new_ones(trained,
                                                                           tmp_path, caplog):
    """eval had no --vocab: a corpus labelled with the updated vocabulary's names
    ('athletics') or its new labels was refused as unknown labels. Gold labels are read
    against VOCAB (the bundle's names too: a corpus written before the update), and
    those the model does not know are left out with one warning counting them."""
    bundle, v2 = trained["bundle"], trained["v2"]
    old = tmp_path / "old.tsv"
    old.write_text("".join(f"{text}\t{name}\n" for name, text in TEXTS.items()))
    new = tmp_path / "new.tsv"
    new.write_text(f"{TEXTS['sport']}\tathletics\n{TEXTS['food']}\tfood meal\n"
                   f"{TEXTS['old']}\told\n{TEXTS['gone']}\t<u:gone>\nrain today\tweather\n")
    result = run("eval", bundle, new, "--json")
    assert result.exit_code == 3 and "unknown label 'athletics'" in result.output
    expected = json.loads(run("eval", bundle, old, "--json").output)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("eval", bundle, old, "--json", "--vocab", v2)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    # the old names read, alike: the same figures, of the same documents and labels
    assert got.pop("provenance")["corpus_fingerprint"] == expected.pop("provenance")[
        "corpus_fingerprint"]
    assert got == expected
    assert "1 renamed label is read in the corpus by either name" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("eval", bundle, new, "--json", "--vocab", v2)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n_docs"] == 5 and metrics["n_docs_without_labels"] == 1
    assert (f"{new}: 2 gold labels (2 distinct, most often 'meal' x1) are labels of {v2} "
            "the model does not know (new since training): left out of the metrics, as it "
            "cannot predict them; 1 document left without a label") in caplog.text
    result = run("eval", bundle, new, "--vocab", v2, "--unknown-labels", "fail")
    assert result.exit_code == 0, result.output
    unknown = tmp_path / "unknown.tsv"
    unknown.write_text(f"{TEXTS['sport']}\tathletics nonsense\n")
    result = run("eval", bundle, unknown, "--vocab", v2)
    assert result.exit_code == 3
    assert f"unknown label 'nonsense' (not in {v2} nor the vocabulary of the bundle " \
        f"{bundle})" in result.output, result.output


def test_eval_vocab_of_a_corpus_of_new_labels_alone_says_so(trained, tmp_path):
    """A corpus whose every gold label is new in VOCAB was told "none naming a label"
    and how to lay labels out: they name labels, which the model cannot predict."""
    corpus = tmp_path / "new.tsv"
    corpus.write_text("rain today\tweather\nbread\t<u:meal>\n")
    result = run("eval", trained["bundle"], corpus, "--vocab", trained["v2"])
    assert result.exit_code == 3, result.output
    assert (f"{corpus}: no document carries a label the model knows: its 2 gold labels (2 "
            f"distinct, most often 'meal') are labels of {trained['v2']} new since "
            "training") in result.output, result.output
    assert "Traceback" not in result.output


def test_suggest_replace_deprecated_ranks_no_deeper_than_it_needs(trained, monkeypatch):
    """--replace-deprecated asked every document for --k besides every retired label:
    601 s, not 15 s, for 10,000 documents of a YSO bundle with 3,300 retired labels and
    --threshold 0. A ranking is asked twice as deep, and again only where the retired
    labels left fewer than --k; the suggestions are those of the whole ranking."""
    from tagsmith.pipeline.classifier import TextClassifier

    bundle, v2, docs = trained["bundle"], trained["v2"], trained["docs"]
    ranked = [json.loads(line)["suggestions"] for line in run(
        "suggest", bundle, docs, "--k", "4", "--threshold", "0").stdout.splitlines()]
    depths = []
    predict_topk = TextClassifier.predict_topk

    def recording(self, texts, k=10, **kwargs):
        depths.append((len(texts), k))
        return predict_topk(self, texts, k, **kwargs)

    monkeypatch.setattr(TextClassifier, "predict_topk", recording)
    for k in (1, 2, 3):
        depths.clear()
        result = run("suggest", bundle, docs, "--k", k, "--threshold", "0", "--vocab", v2,
                     "--replace-deprecated")
        assert result.exit_code == 0, result.output
        got = [[(s["uri"], s["score"]) for s in json.loads(line)["suggestions"]]
               for line in result.stdout.splitlines()]
        expected = []  # by hand, from the whole ranking: food -> meal, old and gone out
        for line in ranked:
            kept = [("u:meal" if s["uri"] == "u:food" else s["uri"], s["score"])
                    for s in line if s["uri"] not in ("u:old", "u:gone")]
            expected.append(kept[:k])
        assert got == expected, (k, got, expected)
        assert depths[0] == (4, min(4, 2 * k)), depths  # not k + 3 retired labels
        assert all(n < 4 for n, _ in depths[1:]), depths  # again for some documents only


def test_audit_bundle_vocab_shows_the_vocabularys_names(trained, tmp_path, caplog):
    """audit --bundle refused an updated VOCAB ("must be the bundle's vocabulary"), so
    its review and labels.csv showed the names the bundle was trained with. VOCAB's
    names now, a corpus read by either name, with suggest's and eval's warning."""
    import csv

    bundle, v2 = trained["bundle"], trained["v2"]
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{text}\t{'athletics' if name == 'sport' else name}\n"
                              for name, text in TEXTS.items()) * 4)
    out = tmp_path / "audit"
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("audit", corpus, "-o", out, "--bundle", bundle, "--vocab", v2,
                      "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    with open(out / "labels.csv", newline="") as handle:
        names = {row["uri"]: (row["name"], row["n_given"]) for row in csv.DictReader(handle)}
    assert names["u:sport"] == ("athletics", "4") and names["u:food"] == ("food", "4")
    assert caplog.text.count("differs from the vocabulary") == 1, caplog.text
    assert ("1 renamed label is shown with the new name and read in the corpus by either "
            "name ('sport' -> 'athletics')") in caplog.text
    assert "('gone') and 1 it deprecates with no replacement ('old') are audited as " \
        "without --vocab" in caplog.text


def test_eval_vocab_names_a_deprecated_gold_label_whose_replacement_the_model_knows(
        trained, tmp_path, caplog):
    """A gold label the model lacks that VOCAB deprecates for one of the model's labels
    ('snack' -> 'food') was left out as "new since training"; it is named with its
    replacement, which is not read in its place."""
    vocab = tmp_path / "v3.csv"
    vocab.write_text("uri,label_en,deprecated,replaced_by\n"
                     + "".join(f"u:{name},{name},,\n" for name in TEXTS)
                     + "u:snack,snack,true,u:food\nu:rain,rain,,\n")
    corpus = tmp_path / "gold.tsv"
    corpus.write_text(f"{TEXTS['sport']}\tsport\n{TEXTS['food']}\tsnack\n"
                      f"{TEXTS['old']}\told rain\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("eval", trained["bundle"], corpus, "--vocab", vocab)
    assert result.exit_code == 0, result.output
    assert (f"{corpus}: 2 gold labels (2 distinct, most often 'snack' x1) are labels of "
            f"{vocab} the model does not know (new since training, but for 1 distinct it "
            "deprecates with a replacement the model knows, not read in its place: "
            "'snack' -> 'food'): left out of the metrics") in caplog.text, caplog.text


def test_a_name_vocab_gives_to_another_label_is_read_as_vocabs_with_a_warning(
        trained, tmp_path, caplog):
    """VOCAB renamed sport 'athletics' and gave 'sport' to a new label, and swapped the
    names of old and gone: a corpus's 'sport' was read as the new label (left out as
    unknown to the model) and 'old' as gone, with no word that the bundle named other
    labels so. eval and audit (whose labels are the bundle's alone) now say so."""
    import csv

    vocab = tmp_path / "v4.csv"
    vocab.write_text("uri,label_en\nu:sport,athletics\nu:food,food\nu:old,gone\n"
                     "u:gone,old\nu:sport2,sport\n")
    corpus = tmp_path / "gold.tsv"
    corpus.write_text(f"{TEXTS['sport']}\tsport\n{TEXTS['old']}\told\n" * 4)
    old = "'old' as <u:gone> ('old'), not <u:old> (now 'gone')"
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("eval", trained["bundle"], corpus, "--vocab", vocab)
    assert result.exit_code == 0, result.output
    assert (f"{corpus}: 2 label names that {vocab} gives to another label than "
            f"{trained['bundle']} did are read as {vocab}'s: 'sport' as <u:sport2> ('sport'), "
            f"not <u:sport> (now 'athletics'); {old}; a corpus written before the update "
            "meant the bundle's: write its URI") in caplog.text, caplog.text
    caplog.clear()
    out = tmp_path / "audit"
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("audit", corpus, "-o", out, "--bundle", trained["bundle"],
                      "--vocab", vocab, "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    assert (f"{corpus}: 1 label name that {vocab} gives to another label than "
            f"{trained['bundle']} did is read as {vocab}'s: {old}; a corpus") in caplog.text
    with open(out / "labels.csv", newline="") as handle:
        given = {row["uri"]: row["n_given"] for row in csv.DictReader(handle)}
    assert given["u:sport"] == "4" and given["u:gone"] == "4", given


def test_a_renamed_label_whose_old_name_vocab_gives_another_is_not_read_by_either_name(
        trained, tmp_path, caplog):
    """VOCAB renaming old 'gone' and gone 'grief': eval's warning said the 3 renamed
    labels were "read in the corpus by either name", and the next that 'gone' was read
    as <u:old>, as README says. The two agree: gone is read by its new name alone."""
    vocab = tmp_path / "v5.csv"
    vocab.write_text("uri,label_en\nu:sport,athletics\nu:food,food\nu:old,gone\n"
                     "u:gone,grief\n")
    corpus = tmp_path / "gold.tsv"
    corpus.write_text(f"{TEXTS['gone']}\tgone\n{TEXTS['old']}\told\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("eval", trained["bundle"], corpus, "--vocab", vocab, "--json")
    assert result.exit_code == 0, result.output
    assert ("2 renamed labels are read in the corpus by either name ('sport' -> "
            "'athletics', 'old' -> 'gone'); 1 renamed label is read in the corpus by its "
            f"new name alone: {vocab} gives its old one to another label, which it is read "
            "as ('gone' -> 'grief', 'gone' now <u:old>)") in caplog.text, caplog.text
    assert "'gone' as <u:old> ('gone'), not <u:gone> (now 'grief')" in caplog.text


def test_apply_review_bundle_vocab_warns_of_what_differs_and_a_removal_is_no_deprecation(
        trained, tmp_path, caplog):
    """apply-review --bundle B --vocab V2 read V2's names without a word of what differs
    (suggest, eval and audit warn of it), and counted a document of a label V2 removed
    ('gone') among those carrying a label V2 "marks deprecated". Its advice was
    eval's and suggest's, to retrain (on which corpus?): the corpus it writes is the one
    to train on with V2."""
    corpus, review = _food_corpus_and_athletics_review(tmp_path)
    corpus.write_text(f"{TEXTS['sport']}\t<u:food>\n{TEXTS['gone']}\t<u:gone>\n")
    v2 = trained["v2"]
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("apply-review", corpus, review, "-o", tmp_path / "new.tsv", "--bundle",
                      trained["bundle"], "--vocab", v2)
    assert result.exit_code == 0, result.output
    assert caplog.text.count(f"{v2} differs from the vocabulary") == 1, caplog.text
    assert ("; to learn its changes, train on the corrected corpus (tagsmith train "
            f"{tmp_path / 'new.tsv'} --vocab {v2})") in caplog.text, caplog.text
    assert "retrain" not in caplog.text
    assert ("1 of the bundle's labels not in it ('gone') and 1 it deprecates with no "
            "replacement ('old') are read and written as without --vocab") in caplog.text
    assert f"1 label {v2} marks deprecated is written (<u:food>, in 1 document)" in caplog.text


def test_suggest_vocab_in_another_language_renames_nothing_it_only_translates(
        trained, tmp_path, caplog):
    """A bundle trained with English names read against VOCAB with the same English
    names and Finnish ones (--lang fi) was warned of 4 renamed labels ('sport' ->
    'urheilu') and told to retrain: a name gained in --lang renames nothing. A name
    changed in a language both have still is a rename."""
    vocab = tmp_path / "fi.csv"
    vocab.write_text("uri,label_en,label_fi\nu:sport,sport,urheilu\nu:food,food,ruoka\n"
                     "u:old,old,vanha\nu:gone,gone,poissa\n")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("suggest", trained["bundle"], trained["docs"], "--k", "1",
                      "--threshold", "0", "--vocab", vocab, "--lang", "fi")
    assert [label for _, label, _ in _first(result)] == ["urheilu", "ruoka", "vanha", "poissa"]
    assert "differs" not in caplog.text, caplog.text
    vocab.write_text("uri,label_en,label_fi\nu:sport,athletics,urheilu\nu:food,food,ruoka\n"
                     "u:old,old,vanha\nu:gone,gone,poissa\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("suggest", trained["bundle"], trained["docs"], "--vocab", vocab,
                      "--lang", "fi")
    assert result.exit_code == 0, result.output
    assert "1 renamed label is shown with its new name ('sport' -> 'urheilu')" \
        in caplog.text, caplog.text


def test_suggest_replace_deprecated_keeps_the_top_k_where_none_is_retired(trained,
                                                                          monkeypatch):
    """With the tuned thresholds, --replace-deprecated thresholded the top --k besides
    every retired label: a label below the top --k that passed its threshold was
    suggested where the top --k held no retired label (41 more suggestions than without
    the option on 500 GoEmotions documents, none of them replacing a label). The head of
    the ranking that names --k labels once replaced is thresholded, as without it."""
    import numpy as np

    from tagsmith.pipeline.classifier import TextClassifier

    bundle, docs = trained["bundle"], trained["docs"]
    load = TextClassifier.load

    def loading(*args, **kwargs):  # sport, food, old, gone: old (2nd) fails its threshold
        classifier = load(*args, **kwargs)
        classifier.thresholds.per_label = np.array([0.5, 0.1, 0.9, 0.1], dtype=np.float32)
        return classifier

    monkeypatch.setattr(TextClassifier, "load", loading)
    vocab = trained["base"] / "no_gone.csv"  # gone removed: retired, ranked last
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\nu:old,old\n")
    ranked = [json.loads(line)["suggestions"] for line in run(
        "suggest", bundle, docs, "--k", "4", "--threshold", "0").stdout.splitlines()]
    assert [s["uri"] for s in ranked[0]] == ["u:sport", "u:old", "u:food", "u:gone"]
    plain = run("suggest", bundle, docs, "--k", "2")
    replaced = run("suggest", bundle, docs, "--k", "2", "--vocab", vocab,
                   "--replace-deprecated")
    assert replaced.exit_code == 0, replaced.output
    first = [json.loads(line)["suggestions"] for line in plain.stdout.splitlines()][0]
    assert [s["uri"] for s in first] == ["u:sport"]  # old failed, food is third
    assert json.loads(replaced.stdout.splitlines()[0])["suggestions"] == first


def _food_corpus_and_athletics_review(tmp_path, name="athletics"):
    """A corpus of the sport text labelled food, and the review audit --bundle --vocab v2
    writes of it: sport added, named by v2 ('athletics'; ``name``), accepted."""
    from tagsmith.audit.review import doc_key, write_review

    corpus = tmp_path / "corpus.tsv"
    corpus.write_text(f"{TEXTS['sport']}\t<u:food>\n")
    review = tmp_path / "review.csv"
    write_review([{"rank": 1, "decision": "accept", "kind": "missing", "action": "add",
                   "label_uri": "u:sport", "label_name": name, "probability": 0.9,
                   "model_score": 0.1, "doc": 0, "line": 1, "doc_id": None,
                   "doc_key": doc_key(TEXTS["sport"]), "given_labels": [],
                   "given_names": [], "text": TEXTS["sport"]}], review)
    return corpus, review


def test_apply_review_bundle_vocab_reads_the_review_audit_bundle_vocab_wrote(trained,
                                                                            tmp_path):
    """audit --bundle --vocab writes VOCAB's names in its review ('athletics'):
    apply-review --bundle refused such an accepted row (not a name of the bundle's
    label) and refused --vocab with --bundle; it reads the review as the audit did."""
    bundle, v2 = trained["bundle"], trained["v2"]
    corpus, review = _food_corpus_and_athletics_review(tmp_path)
    assert run("apply-review", corpus, review, "-o", tmp_path / "before.tsv", "--bundle",
               bundle).exit_code != 0
    out = tmp_path / "new.tsv"
    result = run("apply-review", corpus, review, "-o", out, "--bundle", bundle, "--vocab", v2)
    assert result.exit_code == 0, result.output
    assert "<u:sport>" in out.read_text() and "1 label added" in result.output


def test_apply_review_bundle_next_line_names_the_bundles_vocabulary(trained, tmp_path):
    """apply-review --bundle B (no --vocab) ended 'tagsmith train new.tsv -o BUNDLE', no
    vocabulary named: train then derived one from the corpus, not B's label space (a
    corpus of URIs losing the names). It names the vocabulary B was trained with."""
    corpus, review = _food_corpus_and_athletics_review(tmp_path, name="sport")
    out = tmp_path / "new.tsv"
    result = loud("apply-review", corpus, review, "-o", out, "--bundle", trained["bundle"])
    assert result.exit_code == 0, result.output
    assert (f"next: train on the corrected corpus: tagsmith train {out} --vocab VOCAB -o "
            f"BUNDLE (VOCAB: v1.csv, the vocabulary {trained['bundle']} was trained with, "
            "whose labels the audit used)") in result.output, result.output


def test_apply_review_bundle_vocab_names_vocab_as_the_one_deprecating(trained, tmp_path,
                                                                      caplog):
    """apply-review --bundle B --vocab V2 warned of labels "the bundle's vocabulary
    marks deprecated" where V2 deprecates them (the bundle's own vocabulary does not)."""
    corpus, review = _food_corpus_and_athletics_review(tmp_path)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("apply-review", corpus, review, "-o", tmp_path / "new.tsv", "--bundle",
                      trained["bundle"], "--vocab", trained["v2"])
    assert result.exit_code == 0, result.output
    assert f"1 label {trained['v2']} marks deprecated is written (<u:food>" in caplog.text, \
        caplog.text
    assert "the bundle's vocabulary marks" not in caplog.text


def test_eval_vocab_per_label_names_the_labels_by_the_vocabularys_names(trained, tmp_path):
    """eval --vocab --per-label: a corpus labelled 'athletics' (VOCAB's name) had its row
    shown as 'sport', the name VOCAB replaced, in the table and in JSON."""
    new = tmp_path / "new.tsv"
    new.write_text(f"{TEXTS['sport']}\tathletics\n{TEXTS['food']}\tfood\n")
    result = run("eval", trained["bundle"], new, "--vocab", trained["v2"], "--per-label",
                 "--json")
    assert result.exit_code == 0, result.output
    rows = {row["uri"]: row["label"] for row in json.loads(result.output)["per_label"]}
    assert rows["u:sport"] == "athletics" and rows["u:food"] == "food"
    table = run("eval", trained["bundle"], new, "--vocab", trained["v2"], "--per-label")
    assert table.exit_code == 0, table.output
    assert "\n  athletics " in table.output and "\n  sport " not in table.output


def test_the_advice_names_a_path_as_one_word_of_the_command(trained, tmp_path, caplog,
                                                           monkeypatch):
    """The commands the vocabulary warnings advise wrote VOCAB (and apply-review's
    OUTPUT) unquoted: pasted, '--vocab my v2.csv' gave train the vocabulary 'my' and a
    stray argument, and '-v2.csv' read as an option. Each is one word of the command."""
    import shlex

    monkeypatch.chdir(tmp_path)
    spaced = tmp_path / "my v2.csv"
    spaced.write_text(V2)
    (tmp_path / "-v2.csv").write_text(V2)
    for vocab, word, meant in ((spaced, f"'{spaced}'", str(spaced)),
                               ("-v2.csv", "./-v2.csv", "./-v2.csv")):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            result = loud("suggest", trained["bundle"], trained["docs"], "--vocab", vocab)
        assert result.exit_code == 0, result.output
        command = f"tagsmith train CORPUS --vocab {word} --output BUNDLE"
        assert f"retrain ({command})" in caplog.text, caplog.text
        assert shlex.split(command)[4] == meant  # pasted, the word meant
    corpus, review = _food_corpus_and_athletics_review(tmp_path)
    output = tmp_path / "new corpus.tsv"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = loud("apply-review", corpus, review, "-o", output, "--bundle",
                      trained["bundle"], "--vocab", spaced)
    assert result.exit_code == 0, result.output
    assert (f"train on the corrected corpus (tagsmith train '{output}' --vocab "
            f"'{spaced}')") in caplog.text, caplog.text


def test_a_distilled_bundle_is_told_to_label_and_distil_again_not_to_retrain(trained,
                                                                             tmp_path,
                                                                             caplog):
    """suggest, eval and audit --bundle --vocab told a distilled bundle (label --budget
    --student, distill) to "retrain (tagsmith train CORPUS ...)", where zeroshot --bundle
    tells it to label with VOCAB and distil again: it has no corpus of VOCAB's new
    labels, its labels came from an LLM. eval's refusal of a corpus of new labels alone
    says so too."""
    from tagsmith.pipeline.classifier import TextClassifier

    student = TextClassifier.load(trained["bundle"])
    student.manifest["distillation"] = {"strategy": "robust", "budget": 10, "rounds": []}
    student.save(tmp_path / "student")
    bundle, v2 = tmp_path / "student", trained["v2"]
    advice = (f"to learn its changes, label with it and distil again (tagsmith label CORPUS "
              f"--vocab {v2} --output LABELS, then tagsmith distill LABELS --vocab {v2} "
              "--output BUNDLE; "
              "every document is asked anew, the label set being part of each prompt)")
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{text}\t{name}\n" for name, text in TEXTS.items()) * 4)
    for command in (("suggest", bundle, trained["docs"], "--vocab", v2),
                    ("eval", bundle, corpus, "--vocab", v2),
                    ("audit", corpus, "-o", tmp_path / "audit", "--bundle", bundle,
                     "--vocab", v2, "--scores", "knn", "--no-html")):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            result = loud(*command)
        assert result.exit_code == 0, result.output
        assert advice in caplog.text, (command[0], caplog.text)
        assert "retrain" not in caplog.text, (command[0], caplog.text)
    new = tmp_path / "new.tsv"
    new.write_text("rain today\tweather\n")
    result = run("eval", bundle, new, "--vocab", v2)
    assert result.exit_code == 3, result.output
    assert ("which the model cannot predict; label with it and distil again (tagsmith "
            f"label CORPUS --vocab {v2}") in result.output, result.output


def test_zeros_warning_matches_every_code_that_loses_its_leading_zeros():
    """--vocab's leading-zeros warning matched codes by lstrip('0'): the bundle's 00,
    saved by a spreadsheet as 0, became an empty key and went unnamed, and 05 and 005
    (both saved as 5) took one key, the one read last alone named. Each is named."""
    from tagsmith.cli.vocab_names import BundleVocab, _zeros_dropped
    from tagsmith.data.labelspace import Label, LabelSpace

    bundle = ["00", "05", "005", "7"]
    vocab = ["0", "5", "7"]
    merged = LabelSpace([Label(code) for code in [*bundle, "0", "5"]])
    view = BundleVocab(merged, LabelSpace([Label(code) for code in bundle]), len(bundle),
                       set(vocab))
    assert _zeros_dropped(merged, view, len(bundle)) == [(["00"], "0"), (["05", "005"], "5")]
