"""`tagsmith audit` and `tagsmith apply-review` end to end, the report, duplicates, leakage."""

import csv
import html
import json
import logging
import os
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import click
import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.audit import CALIBRATION_FOLDS
from tagsmith.audit.duplicates import find_duplicates, leakage, text_hashes
from tagsmith.audit.health import cooccurrence_section, corpus_section, labels_section
from tagsmith.audit.report import check_plotting
from tagsmith.cli import main
from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import DataError, InvalidParameterError, MissingDependencyError
from tagsmith.models.knn import KNNModel
from tagsmith.pipeline.audit import AuditOptions, audit_corpus, read_audit_corpus
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import TrainOptions, train_classifier

from conftest import FAST_FEATURES


def run_cli(argv):
    try:
        main(argv)
    except SystemExit as exit_:
        return exit_.code or 0
    return 0


tagsmith_cli._register_commands()


def invoke(*args):
    """``tagsmith -q ARGS`` in a CliRunner: exit code and output (stdout and stderr)."""
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])


def invoke_hinted(*args):
    """``tagsmith ARGS`` (no ``-q``, which hides the ``next:`` hints on stderr)."""
    return CliRunner().invoke(tagsmith_cli.cli, [*map(str, args)])


@pytest.fixture(scope="module")
def small_corpus(goemotions_small, tmp_path_factory):
    """300 GoEmotions documents: audits of it take a second or two."""
    path = tmp_path_factory.mktemp("audit-small") / "small.tsv"
    lines = goemotions_small["train"].read_text(encoding="utf-8").splitlines()[:300]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def small_audited(small_corpus, goemotions_small, tmp_path_factory):
    """The plain audit of :func:`small_corpus` (``--scores knn --no-html``): the result
    of the command, which the tests of what it prints when something is amiss compare
    against."""
    return invoke("audit", small_corpus, "--vocab", goemotions_small["vocab"], "-o",
                  tmp_path_factory.mktemp("audit-small-out") / "out", "--scores", "knn",
                  "--no-html")


@pytest.fixture(scope="module")
def corpus_with_problems(goemotions_small, tmp_path_factory):
    """The GoEmotions slice plus an exact duplicate with other labels, a near duplicate,
    a label missing from the vocabulary, and a dev split that leaks a training text."""
    base = tmp_path_factory.mktemp("audit-cli")
    lines = goemotions_small["train"].read_text(encoding="utf-8").splitlines()[:1500]
    text0 = lines[0].split("\t")[0]
    lines.append(f"{text0.upper()}\t<urn:goemotions:anger>")  # exact duplicate, new labels
    lines.append("Thank you so much for this, it really made my day today\t"
                 "<urn:goemotions:gratitude> <urn:goemotions:not-a-label>")
    lines.append("Thank you so much for this, it really made my day today!!\t"
                 "<urn:goemotions:gratitude>")
    corpus = base / "train.tsv"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dev = base / "dev.tsv"
    dev_lines = goemotions_small["dev"].read_text(encoding="utf-8").splitlines()[:200]
    dev.write_text("\n".join(dev_lines + [lines[5]]) + "\n", encoding="utf-8")
    return {"corpus": corpus, "dev": dev, "vocab": goemotions_small["vocab"], "base": base}


@pytest.fixture(scope="module")
def audited(corpus_with_problems):
    paths = corpus_with_problems
    out = paths["base"] / "audit"
    code = run_cli(["-q", "audit", str(paths["corpus"]), "--vocab", str(paths["vocab"]),
                    "-o", str(out), "--split", f"dev={paths['dev']}", "--scores", "crossfit",
                    "--folds", "3", "-p", "n_jobs=1"])
    assert code == 0
    return out


def test_audit_writes_report_review_and_label_table(audited):
    report = json.loads((audited / "report.json").read_text(encoding="utf-8"))
    assert report["corpus"]["n_docs"] == 1503
    assert report["labels"]["not_in_vocabulary"]["examples"][0]["key"] == \
        "<urn:goemotions:not-a-label>"
    assert report["duplicates"]["n_conflicting_exact_pairs"] >= 1
    assert report["duplicates"]["n_near_pairs"] >= 1
    leak = report["leakage"]["dev"]
    assert leak["n_exact"] >= 1 and 200 in [e["doc"] for e in leak["examples"]]  # planted
    assert report["scores"]["source"] == "crossfit" and report["scores"]["k"] == 28
    assert 0 < report["noise"]["wrong_rate"] < 0.5
    bounds = report["noise"]["bounds"]
    assert 0 < bounds["wrong_rate"] <= 1 and 0 < bounds["missing_rate"] <= 1
    # the stacking the bounds read, beside the ranking's, with what it was fitted on
    method = report["noise"]["method"]
    fit = method["bounds_stacking"]["regimes"]["ranked"]
    assert fit["n_fit_pairs"] == method["regimes"]["ranked"]["n_fit_pairs"] > 0
    assert set(fit["coefficients"]) == {"model_score_logit", "centroid_cosine",
                                        "log_cooccurrence_lift", "log_label_count", "intercept"}
    html = (audited / "report.html").read_text(encoding="utf-8")
    assert "Upper bounds by mixture proportion" in html and "wrong labels, at most" in html
    with open(audited / "review.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == report["noise"]["n_flagged_missing"] + report["noise"]["n_flagged_wrong"]
    assert {row["kind"] for row in rows} <= {"missing", "wrong"}
    probabilities = [float(row["probability"]) for row in rows]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(row["text"] and row["label_uri"].startswith("urn:goemotions:") for row in rows)
    with open(audited / "labels.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 28


def test_labels_csv_says_how_much_of_a_rare_labels_rates_are_its_bands(audited):
    """A moderation team read a rate beside a label of 3 posts as that label's own: the
    rates back off to the label's band with prior_strength (20) pseudo-documents, and no
    column said how far. own_share is the weight of the label's own pairs."""
    report = json.loads((audited / "report.json").read_text(encoding="utf-8"))
    prior = report["meta"]["options"]["prior_strength"]
    assert prior == 20.0
    with open(audited / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    shares = {row["uri"]: float(row["own_share"]) for row in rows}
    for row in rows:
        n = int(row["n_given"])
        assert shares[row["uri"]] == pytest.approx(n / (n + prior), abs=5e-4)
    # the slice's long tail: some label takes most of its rates from its band, the most
    # frequent mostly its own
    assert min(shares.values()) < 0.5 < max(shares.values())


@pytest.mark.parametrize(("option", "default", "value", "expected", "bad_values", "refused"), [
    # every document of the GoEmotions slice carries a label: auto reads "yes"
    ("every_doc_labelled", True, "no", False, ("maybe",), "no"),
    ("calibration_folds", CALIBRATION_FOLDS, "3", 3, ("0", "101", "two"), 0),
    ("band_budget_below", 0, "20", 20, ("-1", "two"), -1),
])
def test_noise_method_options_can_be_set_from_the_cli(audited, corpus_with_problems, option,
                                                      default, value, expected, bad_values,
                                                      refused):
    report = json.loads((audited / "report.json").read_text(encoding="utf-8"))
    got = report["noise"]["method"][option]
    assert got == default and type(got) is type(default)  # True, not 1
    paths = corpus_with_problems
    flag = "--" + option.replace("_", "-")
    out = paths["base"] / f"audit-{option}"
    assert run_cli(["-q", "audit", str(paths["corpus"]), "--vocab", str(paths["vocab"]),
                    "-o", str(out), "--scores", "knn", "--no-html", flag, value]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    got = report["noise"]["method"][option]
    assert got == expected and type(got) is type(expected)
    for bad in bad_values:
        assert run_cli(["-q", "audit", str(paths["corpus"]), "--vocab", str(paths["vocab"]),
                        "-o", str(out), flag, bad]) == 2
    with pytest.raises(InvalidParameterError, match=option):
        AuditOptions(**{option: refused}).validate()


def test_html_report_is_self_contained(audited):
    page = (audited / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 4
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from elsewhere
    for section in ("Labels", "Co-occurrence", "Label noise", "Duplicates",
                    "Leakage between splits"):
        assert f"<h2>{section}</h2>" in page


def test_duplicate_pairs_give_the_lines_of_their_documents(audited):
    # the page gave only document numbers, which count from 0: a reader looking up
    # "0 / 1500" in the file found the line before each
    from tagsmith.audit.report import render_html

    report = json.loads((audited / "report.json").read_text(encoding="utf-8"))
    exact = [c for c in report["duplicates"]["conflict_examples"] if c["exact"]]
    assert [(c["doc_a"], c["doc_b"], c["line_a"], c["line_b"]) for c in exact] == \
        [(0, 1500, 1, 1501)]
    page = (audited / "report.html").read_text(encoding="utf-8")
    assert "<td>0 / 1500<br><small>lines 1 / 1501</small></td>" in page
    # a report written before it recorded lines still renders, with the numbers alone
    # (nor the pairs carrying the same labels, listed later)
    old = {**report, "duplicates": {**{k: v for k, v in report["duplicates"].items()
                                       if k != "same_label_examples"}, "conflict_examples": [
        {k: v for k, v in c.items() if k not in ("line_a", "line_b")}
        for c in report["duplicates"]["conflict_examples"]]}}
    page = render_html(old, plots=False)
    assert "<td>0 / 1500</td>" in page and "<small>lines" not in page


def test_leaking_documents_give_their_lines_and_their_training_documents_lines(audited):
    # the leakage table gave only the split's document number (from 0), no line, and
    # not where the training document it copies is
    from tagsmith.audit.report import render_html

    report = json.loads((audited / "report.json").read_text(encoding="utf-8"))
    planted = [e for e in report["leakage"]["dev"]["examples"] if e["doc"] == 200]
    assert [(e["line"], e["train_doc"], e["train_line"]) for e in planted] == [(201, 5, 6)]
    page = (audited / "report.html").read_text(encoding="utf-8")
    assert "<td>200<br><small>line 201</small></td>" in page
    assert "<br><small>document 5, line 6</small></td>" in page
    # a report written before it recorded lines still renders, with the numbers alone
    dev = report["leakage"]["dev"]
    old = {**report, "leakage": {"dev": {**dev, "examples": [
        {k: v for k, v in e.items() if k not in ("line", "train_line")}
        for e in dev["examples"]]}}}
    page = render_html(old, plots=False)
    assert "<td>200</td>" in page and "<small>line " not in page
    assert "<small>document" not in page


def test_audit_takes_a_plain_list_of_labels_as_its_vocabulary(small_corpus, goemotions_small,
                                                               tmp_path):
    """audit --vocab labels.txt (Reuters-21578 ships its labels so, one a line) was
    refused for its suffix; each line is a label's key, as the corpus names it."""
    uris = load_vocabulary(goemotions_small["vocab"]).uris
    listed = tmp_path / "labels.txt"
    listed.write_text("".join(f"<{uri}>\n" for uri in uris), encoding="utf-8")
    result = invoke("audit", small_corpus, "--vocab", listed, "-o", tmp_path / "out",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["corpus"]["n_labels_in_space"] == len(uris)
    assert report["labels"]["not_in_vocabulary"]["n_occurrences"] == 0
    assert report["labels"]["not_in_vocabulary"]["vocabulary"] is not False


def test_split_lines_must_match_the_splits(small_corpus, goemotions_small):
    data = read_audit_corpus(small_corpus, load_vocabulary(goemotions_small["vocab"]))
    options = AuditOptions(scores="knn", show_progress=False)
    for split_lines, needle in (({"test": [1, 2, 3]}, "'split_lines'"),
                                ({"dev": [1]}, "split_lines['dev']"),
                                ({"dev": "12"}, "split_lines['dev']")):
        with pytest.raises(InvalidParameterError, match=re.escape(needle)):
            audit_corpus(data.texts, data.Y, load_vocabulary(goemotions_small["vocab"]),
                         options=options, splits={"dev": ["a text", "another"]},
                         split_lines=split_lines)


def test_document_texts_are_marked_as_in_no_known_language(audited):
    """Document texts were unmarked, so they took the page's lang="en", though tagsmith
    does not know the corpus language; they are lang="" (unknown), as label names with
    no known language are: the review candidates, duplicates and leaking documents, and
    the label keys not in the vocabulary."""
    report = json.loads((audited / "report.json").read_text(encoding="utf-8"))
    page = (audited / "report.html").read_text(encoding="utf-8")
    unknown = {text for lang, text in _lang_spans(page) if lang == ""}
    texts = [c["text"] for c in report["top_candidates"]]
    for pair in report["duplicates"]["conflict_examples"]:
        texts += [pair["text_a"]] + ([] if pair["exact"] else [pair["text_b"]])
    texts += [r[key] for r in report["leakage"]["dev"]["examples"]
              for key in ("text", "train_text")]
    assert report["top_candidates"] and report["duplicates"]["conflict_examples"]
    assert report["leakage"]["dev"]["examples"]
    assert set(texts) <= unknown
    # so are the corpus's label keys the vocabulary lacks (they took lang="en" too)
    keys = {r["key"] for r in report["labels"]["not_in_vocabulary"]["examples"]}
    assert keys and keys <= unknown


def test_accepting_the_review_writes_a_corrected_copy(audited, corpus_with_problems, tmp_path):
    corpus = corpus_with_problems["corpus"]
    before = corpus.read_bytes()
    with open(audited / "review.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[:10]:
        row["decision"] = "accept"
    review = tmp_path / "decided.csv"
    with open(review, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "fixed.tsv.gz"
    vocab = str(corpus_with_problems["vocab"])
    assert run_cli(["apply-review", str(corpus), str(review), "-o", str(out),
                    "--vocab", vocab]) == 0
    assert corpus.read_bytes() == before
    space = load_vocabulary(vocab)
    old = read_audit_corpus(corpus, space).Y
    new = read_audit_corpus(out, space).Y
    assert (old != new).nnz == 10
    for row in rows[:10]:
        doc, label = int(row["doc"]), space.id_of(f"<{row['label_uri']}>")
        assert new[doc, label] == (1 if row["kind"] == "missing" else 0)
    rows[0]["decision"] = "perhaps"
    with open(review, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert run_cli(["apply-review", str(corpus), str(review), "-o", str(tmp_path / "x.tsv"),
                    "--vocab", vocab]) == 3  # bad input data


def test_apply_review_with_no_decision_filled_in_warns(audited, corpus_with_problems,
                                                         tmp_path, caplog):
    # the review as the audit wrote it: only "0 accepted" hinted that the new corpus is
    # the old one; the file is still written (a script may expect it), with a warning
    import logging

    corpus, vocab = corpus_with_problems["corpus"], corpus_with_problems["vocab"]
    review = audited / "review.csv"
    with open(review, newline="", encoding="utf-8") as handle:
        n_rows = len(list(csv.DictReader(handle)))
    assert n_rows > 1
    out = tmp_path / "same.tsv"
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert run_cli(["apply-review", str(corpus), str(review), "-o", str(out),
                        "--vocab", str(vocab)]) == 0
    space = load_vocabulary(vocab)
    assert (read_audit_corpus(out, space).Y != read_audit_corpus(corpus, space).Y).nnz == 0
    warnings = [r.getMessage() for r in caplog.records if "decision" in r.getMessage()]
    assert warnings == [f"none of the {n_rows:,} rows of {review} has a decision filled in: "
                        f"{out} holds the documents of {corpus} unchanged; fill in the "
                        "decision column with accept or reject (also accepted/rejected, "
                        "yes/no, y/n, true/false, 1/0, 1.0/0.0, or x, \u2713 or \u2714 to "
                        "accept) and run apply-review again"]
    # one row rejected is a review: no warning
    with open(review, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows[0]["decision"] = "reject"
    decided = tmp_path / "decided.csv"
    with open(decided, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert run_cli(["apply-review", str(corpus), str(decided), "-o",
                        str(tmp_path / "other.tsv"), "--vocab", str(vocab)]) == 0
    assert "filled in" not in caplog.text


def test_bundle_scores_are_reused_only_for_their_own_corpus(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    texts, Y = data.texts[:800], data.Y[:800]
    classifier = train_classifier(texts, Y, space, options=TrainOptions(
        dev_fraction=0.0, crossfit_folds=2, featurizer_params=FAST_FEATURES,
        model_params={"n_jobs": 1}))
    fast = AuditOptions(near_duplicates=False)
    result = audit_corpus(texts, Y, space, classifier=classifier, options=fast)
    assert result.scores.source == "bundle"
    np.testing.assert_array_equal(result.scores.topk.indices, classifier.crossfit.topk.indices)
    other = audit_corpus(texts[:400], Y[:400], space, classifier=classifier, options=fast)
    assert other.scores.source == "crossfit"  # another corpus: the stored scores do not fit
    with pytest.raises(InvalidParameterError, match="trained on"):
        audit_corpus(texts[:400], Y[:400], space, classifier=classifier,
                     options=AuditOptions(scores="bundle"))


def test_bundle_scores_of_a_calibration_split_bundle_are_not_used_for_the_whole_corpus(
        goemotions_small):
    # the manifest's fingerprint is the whole corpus's, but the stored cross-fitted scores
    # cover only the documents left after the calibration split: they do not line up
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    texts, Y = data.texts[:800], data.Y[:800]
    classifier = train_classifier(texts, Y, space, options=TrainOptions(
        dev_fraction=0.0, crossfit_folds=2, calibration_fraction=0.25,
        featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1}))
    assert len(classifier.crossfit.topk) == 600
    fast = AuditOptions(near_duplicates=False, evidence=False)
    result = audit_corpus(texts, Y, space, classifier=classifier, options=fast)
    assert result.scores.source == "crossfit" and len(result.scores.topk) == 800
    with pytest.raises(InvalidParameterError, match="600 of the 800 documents"):
        audit_corpus(texts, Y, space, classifier=classifier,
                     options=AuditOptions(scores="bundle", near_duplicates=False))


def test_scores_bundle_without_stored_scores_names_the_value_refused_and_what_to_use(
        goemotions_small):
    # "must be 'bundle' only with a bundle trained with --crossfit-folds, got 'a bundle
    # without stored scores'" read as if 'bundle' were what --scores had to be
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    texts, Y = data.texts[:300], data.Y[:300]
    plain = train_classifier(texts, Y, space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1}))
    options = AuditOptions(scores="bundle", near_duplicates=False)
    from tagsmith._surface import command_line

    with pytest.raises(InvalidParameterError) as error:
        audit_corpus(texts, Y, space, classifier=plain, options=options)
    # a Python caller is told its parameters (it was told train's and audit's options)
    assert str(error.value) == (
        "parameter 'scores' must be 'auto', 'crossfit' or 'knn' with a bundle that stores no "
        "out-of-fold scores (for 'bundle', train it on this corpus with "
        "TrainOptions(crossfit_folds=...)), got 'bundle'")
    with command_line(), pytest.raises(InvalidParameterError) as error:
        audit_corpus(texts, Y, space, classifier=plain, options=options)
    assert str(error.value) == (
        "parameter 'scores' must be 'auto', 'crossfit' or 'knn' with a bundle that stores no "
        "out-of-fold scores (for 'bundle', train it on this corpus with --crossfit-folds), "
        "got 'bundle'")
    with pytest.raises(InvalidParameterError) as error:
        audit_corpus(texts, Y, space, options=options)
    assert str(error.value) == ("parameter 'scores' must be 'auto', 'crossfit' or 'knn' "
                                "without a bundle (classifier=), got 'bundle'")
    with command_line(), pytest.raises(InvalidParameterError) as error:
        audit_corpus(texts, Y, space, options=options)
    assert str(error.value) == ("parameter 'scores' must be 'auto', 'crossfit' or 'knn' "
                                "without a bundle (--bundle), got 'bundle'")


def test_featurizer_params_given_with_a_bundle_are_refused_not_ignored(goemotions_small):
    # the bundle's own featurizer made the features: the parameters were dropped silently
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    texts, Y = data.texts[:200], data.Y[:200]
    classifier = train_classifier(texts, Y, space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1}))
    options = AuditOptions(scores="knn", near_duplicates=False, evidence=False,
                           featurizer_params={"min_df": 2})
    with pytest.raises(InvalidParameterError) as error:
        audit_corpus(texts, Y, space, classifier=classifier, options=options)
    assert error.value.name == "featurizer_params"
    assert "with a bundle" in str(error.value) and "{'min_df': 2}" in str(error.value)
    # without them, or without the bundle, the audit runs
    options.featurizer_params = None
    assert audit_corpus(texts, Y, space, classifier=classifier, options=options).scores
    options.featurizer_params = FAST_FEATURES
    assert audit_corpus(texts, Y, space, options=options).scores.source == "knn"


def test_model_params_given_with_a_bundle_are_used_by_the_cross_fit(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    texts, Y = data.texts[:400], data.Y[:400]
    classifier = train_classifier(texts, Y, space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1}))
    fast = AuditOptions(scores="crossfit", n_folds=2, near_duplicates=False, evidence=False,
                        model_params={"C": 0.25})
    result = audit_corpus(texts, Y, space, classifier=classifier, options=fast)
    params = result.report["scores"]["params"]
    assert params["C"] == 0.25 and params["n_jobs"] == 1  # the bundle's, with the override


def test_auto_scores_refuse_a_model_or_parameters_they_would_ignore(tmp_path):
    # 120 labels: auto picks leave-one-out kNN, which --model and its --param do not
    # reach; kNN parameters on a small label space (auto: cross-fitting) neither
    space = LabelSpace.from_uris([f"u:{i}" for i in range(120)])
    texts = [f"word{i % 120} other{i % 7} text" for i in range(240)]
    Y = sp.csr_matrix((np.ones(240, bool), (np.arange(240), np.arange(240) % 120)),
                      shape=(240, 120))
    for options in (AuditOptions(model="linear"), AuditOptions(model_params={"C": 2.0})):
        with pytest.raises(InvalidParameterError, match="chose knn scores"):
            audit_corpus(texts, Y, space, options=options)
    small = LabelSpace.from_uris(["u:a", "u:b"])
    Y2 = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 10, bool))
    with pytest.raises(InvalidParameterError, match="knn_params is given"):
        audit_corpus(texts[:20], Y2, small, options=AuditOptions(knn_params={"n_neighbors": 3}))
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"{t}\t<u:{i % 120}>\n" for i, t in enumerate(texts)),
                      encoding="utf-8")
    result = invoke("audit", corpus, "-o", tmp_path / "out", "--model", "linear", "--no-html")
    assert result.exit_code == 2 and "--model" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, value", [("k", -1), ("k", 0), ("rates", "labels"),
                                           ("max_missing_per_doc", -1),
                                           ("prior_strength", -1.0),
                                           ("min_probability", 0.0),
                                           ("near_duplicate_threshold", 0.0),
                                           ("near_duplicate_threshold", "0.9")])
def test_audit_options_are_checked_before_the_scores(option, value, monkeypatch):
    import tagsmith.pipeline.audit as audit_module

    def no_scores(*args, **kwargs):
        raise AssertionError("scored before refusing the options")

    monkeypatch.setattr(audit_module, "_scores", no_scores)
    space = LabelSpace.from_uris(["u:a", "u:b"])
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 5, bool))
    with pytest.raises(InvalidParameterError, match=f"'{option}'"):
        audit_corpus(["rain", "sun"] * 5, Y, space, options=AuditOptions(**{option: value}))


def test_a_multi_view_bundle_can_be_audited(goemotions_small):
    # its features are Views: cross-fitting uses them, the neighbour search (kNN scores,
    # duplicates, leakage) and the label evidence need one matrix of their own
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    texts, Y = data.texts[:400], data.Y[:400]
    views = {"words": {"kind": "tfidf", **FAST_FEATURES},
             "more": {"kind": "tfidf", **FAST_FEATURES}}
    members = [["linear", {"n_jobs": 1}, "words"], ["knn", {"n_neighbors": 10}, "more"]]
    classifier = train_classifier(texts, Y, space, options=TrainOptions(
        model="ensemble", featurizer="views", featurizer_params=views,
        model_params={"members": members, "n_jobs": 1}, dev_fraction=0.0))
    for source in ("crossfit", "knn"):
        result = audit_corpus(texts, Y, space, classifier=classifier,
                              splits={"dev": texts[:5] + ["something else entirely"]},
                              options=AuditOptions(scores=source, n_folds=2,
                                                   featurizer_params=FAST_FEATURES))
        assert result.scores.source == source and len(result.scores.topk) == 400
        assert result.report["leakage"]["dev"]["n_exact"] == 5


def test_missing_matplotlib_is_a_friendly_error(monkeypatch, corpus_with_problems, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"tagsmith\[report\]"):
        check_plotting()
    paths = corpus_with_problems
    result = invoke("audit", paths["corpus"], "--vocab", paths["vocab"], "-o", tmp_path / "out",
                    "--scores", "knn")
    assert result.exit_code == 5 and not (tmp_path / "out").exists()  # before the work
    # on a core install the audit as the README gives it failed, and the line did not say
    # that --no-plots needs no extra ("plots in the HTML audit report needs ...")
    assert result.output == ("error: drawing the HTML report's plots (--no-plots leaves "
                             "them out) needs the package 'matplotlib': pip install "
                             "'tagsmith[report]'\n")


def test_duplicates_conflicts_and_leakage():
    texts = ["Rain in Paris today", "rain in  paris TODAY", "Sunny skies over Rome",
             "Sunny skies over Rome again", "Snow"]
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 1], [0, 1], [1, 0]], bool))
    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0.1], [0, 0, 1, 0.12],
                                [0, 0, 0, 1]], np.float32))
    model = KNNModel(n_neighbors=2, max_posting=None).fit(X, Y)
    _, rows, sims = model.leave_one_out_topk(X, 1, return_neighbors=True)
    dups = find_duplicates(texts, Y, (rows, sims))
    assert dups.pairs.tolist() == [[0, 1], [2, 3]]
    assert dups.exact.tolist() == [True, False] and dups.conflicting.tolist() == [True, False]
    assert dups.summary()["n_duplicate_groups"] == 2
    result = leakage(text_hashes(texts), ["SNOW", "Fog"], train_X=X,
                     other_X=sp.csr_matrix(np.array([[0, 0, 0, 1], [0, 0, 1, 0.11]],
                                                    np.float32)))
    assert (result["n_exact"], result["n_near"]) == (1, 1)


def test_three_copies_of_a_text_are_exact_pairs_only():
    """The second and third copy are each other's nearest neighbours (cosine 1); both
    are already linked to the first copy, so that pair is no near duplicate (it made
    '2 exact and 1 near' pairs of three equal texts, and a conflict among exact copies
    count as a near one)."""
    texts = ["Rain in Paris", "rain in  paris", "RAIN IN PARIS", "Sun over Rome"]
    Y = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]], bool))
    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [0, 0, 1]], np.float32))
    model = KNNModel(n_neighbors=3, max_posting=None).fit(X, Y)
    _, rows, sims = model.leave_one_out_topk(X, 2, return_neighbors=True)
    dups = find_duplicates(texts, Y, (rows, sims))
    assert dups.pairs.tolist() == [[0, 1], [0, 2]] and dups.exact.all()
    assert dups.summary() == find_duplicates(texts, Y, None).summary()
    assert dups.summary()["n_conflicting_exact_pairs"] == dups.summary()["n_conflicting_pairs"]


def test_a_text_in_another_unicode_form_is_an_exact_duplicate_and_leak():
    """A copy with a decomposed "é" (as files made on macOS have it) or a soft hyphen is
    the same text, with the same TF-IDF features; compared code point by code point it
    was no exact duplicate, so --no-near-duplicates found neither it nor its leak into
    a test split (with near duplicates, a 'near' pair of cosine 1)."""
    texts = ["Café in Paris", "CAFE\u0301 in  paris", "Sun over Ro\u00adme", "Rain"]
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 1], [1, 0]], bool))
    dups = find_duplicates(texts, Y, None)
    assert dups.pairs.tolist() == [[0, 1]] and dups.exact.tolist() == [True]
    assert dups.summary()["n_conflicting_exact_pairs"] == 1
    result = leakage(text_hashes(texts), ["Sun over Rome", "rain\ufeff", "cafe\u0301"])
    assert result["exact_mask"].tolist() == [True, True, False]
    assert result["nearest_train"].tolist() == [2, 3, -1]


def test_conflicting_exact_pairs_do_not_depend_on_document_order():
    """Each copy was paired with its group's first copy only: label sets {x, y, y} gave 2
    conflicting pairs, {y, y, x} gave 1. Every pair of copies counts now: 3 pairs, 2 of
    them conflicting, whatever the order."""
    texts = ["Rain in Paris"] * 3 + ["Sun"]
    x, y, z = [1, 0], [0, 1], [1, 1]
    counts = set()
    for sets in ([x, y, y, z], [y, y, x, z], [y, x, y, z]):
        summary = find_duplicates(texts, sp.csr_matrix(np.array(sets, bool)), None).summary()
        counts.add((summary["n_exact_pairs"], summary["n_conflicting_exact_pairs"],
                    summary["n_conflicting_pairs"]))
    assert counts == {(3, 2, 2)}
    # four copies, label sets {x, x, y, z}: 6 pairs, only x-x agrees
    Y = sp.csr_matrix(np.array([x, y, x, z], bool))
    summary = find_duplicates(["a b"] * 4, Y, None).summary()
    assert (summary["n_exact_pairs"], summary["n_conflicting_exact_pairs"]) == (6, 5)


def test_duplicate_counts_do_not_depend_on_document_order():
    """Exact groups, near pairs between them and their conflicts, over permutations of
    the documents (the neighbours found again for each order)."""
    texts = ["Rain in Paris", "rain in paris", "RAIN IN PARIS", "Rain in Paris today",
             "Sun over Rome", "Snow", "snow"]
    Y = np.array([[1, 0], [0, 1], [0, 1], [1, 0], [0, 1], [1, 0], [1, 1]], bool)
    X = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1.05, 0, 0], [0, 0, 1, 0],
                  [0, 0, 0, 1], [0, 0, 0, 1]], np.float32)
    summaries = []
    for seed in range(6):
        order = np.random.default_rng(seed).permutation(len(texts))
        Yo, Xo = sp.csr_matrix(Y[order]), sp.csr_matrix(X[order])
        model = KNNModel(n_neighbors=6, max_posting=None).fit(Xo, Yo)
        _, rows, sims = model.leave_one_out_topk(Xo, 1, return_neighbors=True)
        summaries.append(find_duplicates([texts[i] for i in order], Yo, (rows, sims),
                                         threshold=0.99).summary())
    assert all(summary == summaries[0] for summary in summaries), summaries
    # 3 + 1 exact pairs (2 + 1 conflicting), the fourth text near each of the 3 copies
    assert summaries[0]["n_exact_pairs"] == 4 and summaries[0]["n_near_pairs"] == 3
    assert summaries[0]["n_conflicting_exact_pairs"] == 3
    assert summaries[0]["n_conflicting_pairs"] == 3 + 2


def test_identical_vectors_are_near_duplicates_at_threshold_one():
    # two different texts with the same TF-IDF row: their float32 cosine is 0.9999993
    v = np.random.default_rng(0).random(2000).astype(np.float32)
    X = sp.csr_matrix(np.vstack([v, v, np.r_[v[:1000], np.zeros(1000, np.float32)]]))
    Y = sp.csr_matrix(np.eye(3, 2, dtype=bool))
    model = KNNModel(n_neighbors=2, max_posting=None).fit(X, Y)
    _, rows, sims = model.leave_one_out_topk(X, 1, return_neighbors=True)
    assert sims[0, 0] < 1  # what the tolerance is for
    texts = ["rain, in paris", "paris: in rain", "rain"]
    dups = find_duplicates(texts, Y, (rows, sims), threshold=1.0)
    assert dups.pairs.tolist() == [[0, 1]] and dups.exact.tolist() == [False]
    result = leakage(text_hashes(texts), ["in paris rain"], train_X=X, other_X=X[:1],
                     threshold=1.0)
    assert (result["n_exact"], result["n_near"]) == (0, 1)


def test_distinct_label_sets_are_counted_exactly():
    # {55, 166} and {106, 115} had the same row hash; all pairs of 300 labels are distinct
    Y = sp.lil_matrix((4, 200), dtype=bool)
    for row, labels in enumerate([[55, 166], [106, 115], [], [55, 166]]):
        Y[row, labels] = True
    assert corpus_section(["a"] * 4, sp.csr_matrix(Y))["n_distinct_label_sets"] == 3
    a, b = np.triu_indices(300, 1)
    pairs = sp.csr_matrix((np.ones(2 * len(a), bool),
                           (np.repeat(np.arange(len(a)), 2), np.column_stack([a, b]).ravel())),
                          shape=(len(a), 300))
    assert corpus_section([""] * len(a), pairs)["n_distinct_label_sets"] == len(a)


def test_label_statistics():
    space = LabelSpace.from_uris(["u:a", "u:b", "u:c", "u:d"])
    Y = sp.csr_matrix(np.array([[1, 1, 0, 0]] * 6 + [[1, 0, 1, 0]] * 2, bool))
    labels = labels_section(Y, space)
    assert (labels["n_used"], labels["n_unused"], labels["n_rare"]) == (3, 1, 1)
    assert labels["unused_examples"][0]["uri"] == "u:d"
    pairs = cooccurrence_section(Y, space, min_count=2)
    top = pairs["top_by_count"][0]
    assert (top["a"]["uri"], top["b"]["uri"], top["count"]) == ("u:a", "u:b", 6)
    assert pairs["top_by_npmi"][0]["count"] >= 2


def test_deprecated_labels_in_use_name_their_replacements():
    """The audit listed deprecated labels in use with no word of what to use instead:
    the vocabulary's dct:isReplacedBy was never read."""
    from tagsmith.audit.report import render_html

    space = LabelSpace([Label("u:a", {"en": "apple"}), Label("u:b", {"en": "old apple"},
                                                            deprecated=True,
                                                            replaced_by=["u:a"]),
                        Label("u:c", {"en": "gone"}, deprecated=True)])
    Y = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0]], bool))
    labels = labels_section(Y, space)
    used = {r["uri"]: [x["uri"] for x in r["replaced_by"]] for r in labels["deprecated_in_use"]}
    assert used == {"u:b": ["u:a"], "u:c": []}
    page = render_html({"corpus": corpus_section([""] * 3, Y), "labels": labels,
                        "cooccurrence": cooccurrence_section(Y, space)}, plots=False)
    table = page.split("Deprecated labels in use")[1].split("</table>")[0]
    assert "replaced by" in table and "apple" in table.split("old apple")[1]


def test_top_label_shares_round_the_label_count_up_and_say_so():
    """1% of 250 labels is 2.5: round() made it 2 (half to even), a rule stated nowhere;
    the count is rounded up (3), recorded and stated on the page."""
    from tagsmith.audit.report import render_html

    n = 250
    space = LabelSpace.from_uris([f"u:{i}" for i in range(n)])
    counts = [1000, 500, 300] + [1] * (n - 3)
    cols = np.repeat(np.arange(n), counts)
    Y = sp.csr_matrix((np.ones(len(cols), bool), (np.arange(len(cols)), cols)),
                      shape=(len(cols), n))
    labels = labels_section(Y, space)
    assert labels["share_of_assignments_top_1pct_labels"] == round(1800 / sum(counts), 4)
    assert labels["share_of_assignments_top_10pct_labels"] == round(1822 / sum(counts), 4)
    assert labels["n_top_1pct_labels"] == 3 and labels["n_top_10pct_labels"] == 25
    page = render_html({"corpus": corpus_section([""] * len(cols), Y), "labels": labels,
                        "cooccurrence": cooccurrence_section(Y, space)}, plots=False)
    assert "The top 1% of labels (the 3 most used) carry 87.9%" in page
    assert "rounded up to whole labels, at least one" in page
    # a tenth of 30 labels is 3 (0.1 * 30 is a float just over 3: not 4), of 1 label 1
    for n_used, n_top in ((30, 3), (1, 1)):
        Y = sp.csr_matrix(np.eye(n_used, dtype=bool))
        assert labels_section(Y, LabelSpace.from_uris(
            [f"u:{i}" for i in range(n_used)]))["n_top_10pct_labels"] == n_top


def test_audit_with_a_bundle_reuses_its_stored_scores(goemotions_small, tmp_path):
    corpus = tmp_path / "small.tsv"
    lines = goemotions_small["train"].read_text(encoding="utf-8").splitlines()[:600]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    vocab = str(goemotions_small["vocab"])
    bundle = tmp_path / "bundle"
    assert run_cli(["-q", "train", str(corpus), "--vocab", vocab, "-o", str(bundle),
                    "--dev-fraction", "0", "--crossfit-folds", "2", "-p", "n_jobs=1",
                    "--feature-param", "char_ngrams=null"]) == 0
    out = tmp_path / "audit"
    assert run_cli(["-q", "audit", str(corpus), "--bundle", str(bundle), "-o", str(out),
                    "--no-html", "--review-format", "jsonl"]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["scores"]["source"] == "bundle" and report["scores"]["n_folds"] == 2
    assert (out / "review.jsonl").exists() and not (out / "report.html").exists()
    other_vocab = tmp_path / "vocab.tsv"
    other_vocab.write_text("<urn:x:a>\ta\n", encoding="utf-8")
    assert run_cli(["-q", "audit", str(corpus), "--bundle", str(bundle), "--vocab",
                    str(other_vocab), "-o", str(out)]) == 2


def test_audit_without_a_vocabulary_reads_the_corpus_once_and_matches_a_derived_one(
        small_corpus, tmp_path, monkeypatch):
    import tagsmith.data.corpus as corpus_module
    import tagsmith.data.readers as readers
    from tagsmith.data.corpus import derive_label_space
    from tagsmith.data.vocab import save_vocabulary_tsv

    vocab = save_vocabulary_tsv(derive_label_space(small_corpus), tmp_path / "derived.tsv")
    fast = ["--scores", "knn", "--no-html"]
    assert invoke("audit", small_corpus, "-o", tmp_path / "given", "--vocab", vocab,
                  *fast).exit_code == 0
    opened = []
    real = readers.read_records
    for module in (readers, corpus_module):
        monkeypatch.setattr(module, "read_records", lambda path, *a, **kw:
                            opened.append(str(path)) or real(path, *a, **kw))
    result = invoke("audit", small_corpus, "-o", tmp_path / "derived", *fast)
    assert result.exit_code == 0, result.output
    assert opened == [str(small_corpus)]

    def figures(folder):
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        return report["noise"], report["corpus"]["n_labels_in_space"]

    assert figures(tmp_path / "derived") == figures(tmp_path / "given")
    assert (tmp_path / "derived" / "review.csv").read_bytes() == \
        (tmp_path / "given" / "review.csv").read_bytes()


def test_a_filled_in_review_is_not_overwritten_without_force(small_corpus, goemotions_small,
                                                             tmp_path):
    vocab, out = goemotions_small["vocab"], tmp_path / "audit"
    fast = ["--vocab", vocab, "--scores", "knn", "--no-html"]
    assert invoke("audit", small_corpus, "-o", out, *fast).exit_code == 0
    review = out / "review.csv"
    with open(review, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    rows[0]["decision"] = "accept"
    with open(review, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    reviewed = review.read_bytes()
    result = invoke("audit", small_corpus, "-o", out, *fast)
    assert result.exit_code == 3 and str(review) in result.output
    assert "--force" in result.output and review.read_bytes() == reviewed
    # a header a spreadsheet capitalised is read as apply-review reads it
    header, rest = reviewed.decode("utf-8").split("\n", 1)
    review.write_text(header.title() + "\n" + rest, encoding="utf-8")
    result = invoke("audit", small_corpus, "-o", out, *fast)
    assert result.exit_code == 3 and "1 review decision already filled in" in result.output
    review.write_bytes(reviewed)
    # checked before the work: the corpus is not even read
    result = invoke("audit", tmp_path / "missing.tsv", "-o", out, *fast)
    assert result.exit_code == 3 and str(review) in result.output
    # a review in the other format is not what this run writes
    assert invoke("audit", small_corpus, "-o", out, *fast,
                  "--review-format", "jsonl").exit_code == 0
    (out / "review.jsonl").write_text('{"decision": null, "kind": "missing"}\n'
                                      '{"decision": "reject", "kind": "wrong"}\n',
                                      encoding="utf-8")
    result = invoke("audit", small_corpus, "-o", out, *fast, "--review-format", "jsonl")
    assert result.exit_code == 3 and str(out / "review.jsonl") in result.output
    assert invoke("audit", small_corpus, "-o", out, *fast, "--force").exit_code == 0
    with open(review, newline="", encoding="utf-8") as handle:
        assert not any(row["decision"] for row in csv.DictReader(handle))
    # an undecided review is the audit's own output: rewritten without --force
    assert invoke("audit", small_corpus, "-o", out, *fast).exit_code == 0


def test_audit_force_help_names_where_each_review_format_keeps_its_decisions():
    """audit --help said --force overwrites a review 'whose decision column has been
    filled in', but a JSONL review (also protected) has a decision key on each line,
    not a column."""
    result = CliRunner().invoke(tagsmith_cli.cli, ["audit", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert ("--force Overwrite a review file in OUTPUT whose decisions have been filled in "
            "(a CSV's decision column, a JSONL review's decision key on each line; the "
            "reviewer's work is lost), and a report.json, report.html, labels.csv or "
            "duplicates.csv there that no audit wrote." in text), text


def test_python_callers_of_check_output_are_told_their_keyword(tmp_path):
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import check_output

    (tmp_path / "review.csv").write_text("decision,kind\naccept,missing\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"force=True to overwrite it; CLI: --force"):
        check_output(tmp_path)
    (tmp_path / "review.csv").write_bytes(b"\xff\xfe\x00broken")
    with pytest.raises(DataError, match=r"force=True to overwrite it; CLI: --force"):
        check_output(tmp_path)
    check_output(tmp_path, force=True)


def test_decisions_in_a_reviewers_own_column_are_not_overwritten_without_force(tmp_path):
    """A review whose decisions a reviewer filled into an "Accept" column of their own
    (the decision column left empty) counted as undecided, and a re-run audit replaced
    it, decisions and all, without --force."""
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import check_output

    review = tmp_path / "review.csv"
    review.write_text("\ufeffdecision;kind;label_uri;doc;doc_key;Accept\r\n"
                      ";missing;http://x/a;0;0123456789abcdef;x\r\n"
                      ";wrong;http://x/b;1;0123456789abcdee;\r\n", encoding="utf-8")
    with pytest.raises(DataError, match="1 review decision already filled in"):
        check_output(tmp_path)
    # a column of notes holds no decisions: the review is the audit's own, undecided
    review.write_text("decision,kind,label_uri,doc,doc_key,note\n"
                      ",missing,http://x/a,0,0123456789abcdef,yes\n"
                      ",wrong,http://x/b,1,0123456789abcdee,ask Kim\n", encoding="utf-8")
    check_output(tmp_path)


def test_output_that_is_a_file_fails_before_the_audit(small_corpus, goemotions_small,
                                                      tmp_path):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_bytes(small_corpus.read_bytes())
    result = invoke("audit", corpus, "-o", corpus, "--vocab", goemotions_small["vocab"],
                    "--scores", "knn", "--no-html")
    # exit code 3, as train's or zeroshot's output that is a file (the README: an output
    # path that cannot be written, every command alike); it was 2
    assert result.exit_code == 3 and "-o/--output: is a file" in result.output
    assert str(corpus) in result.output and "audited" not in result.output
    assert corpus.read_bytes() == small_corpus.read_bytes()
    # a folder below a file could only fail after the whole audit: refused first
    result = invoke("audit", tmp_path / "missing.tsv", "-o", corpus / "audit")
    assert result.exit_code == 3 and "is a file, not a folder" in result.output
    assert "Traceback" not in result.output


def test_the_audit_never_writes_over_its_own_inputs(small_corpus, goemotions_small,
                                                    tmp_path):
    """A vocabulary named labels.csv beside the corpus, audited with -o into their folder,
    was replaced by the per-label noise table (and a split named review.csv, with
    --force, by the review queue); they are refused before the work, --force or not."""
    data = tmp_path / "data"
    data.mkdir()
    corpus = data / "corpus.tsv"
    corpus.write_bytes(small_corpus.read_bytes())
    vocab = data / "labels.csv"
    with vocab.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["uri", "label_en"])
        for line in goemotions_small["vocab"].read_text(encoding="utf-8").splitlines():
            uri, name = line.split("\t")
            writer.writerow([uri.strip("<>"), name])
    vocab_bytes = vocab.read_bytes()
    result = invoke("audit", corpus, "--vocab", vocab, "-o", data, "--scores", "knn",
                    "--no-html", "--force")
    assert result.exit_code == 3, result.output
    assert f"{vocab}: is an input of this audit" in result.output
    assert "audited" not in result.output and vocab.read_bytes() == vocab_bytes
    assert sorted(p.name for p in data.iterdir()) == ["corpus.tsv", "labels.csv"]
    split = data / "review.csv"
    split.write_text("text,labels\nA dev text,<urn:goemotions:joy>\n", encoding="utf-8")
    before = split.read_bytes()
    result = invoke("audit", corpus, "--vocab", goemotions_small["vocab"], "-o", data,
                    "--split", f"dev={split}", "--scores", "knn", "--no-html", "--force")
    assert result.exit_code == 3 and f"{split}: is an input" in result.output
    assert split.read_bytes() == before
    # Python callers say which files to keep
    audit = audit_corpus(["rain", "rain today", "sun"],
                         sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1]], bool)),
                         LabelSpace.from_uris(["u:rain", "u:sun"]),
                         options=AuditOptions(scores="knn", show_progress=False))
    with pytest.raises(DataError, match="is an input of this audit"):
        audit.write(data, html=False, keep=[vocab])
    assert vocab.read_bytes() == vocab_bytes and split.read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["corpus.tsv", "labels.csv", "review.csv"]


def test_a_vocabulary_matching_no_label_or_a_corpus_without_labels_is_a_clear_error(
        small_corpus, tmp_path):
    vocab = tmp_path / "other_vocab.tsv"
    vocab.write_text("<urn:x:a>\ta\n<urn:x:b>\tb\n", encoding="utf-8")
    out = tmp_path / "out"
    result = invoke("audit", small_corpus, "--vocab", vocab, "-o", out, "--scores", "knn")
    assert result.exit_code == 3, result.output
    assert "none of its" in result.output and "label occurrences are in" in result.output
    assert str(small_corpus) in result.output and str(vocab) in result.output
    assert not out.exists()
    unlabelled = tmp_path / "unlabelled.tsv"
    unlabelled.write_text("".join(line.split("\t")[0] + "\n" for line in
                                  small_corpus.read_text(encoding="utf-8").splitlines()),
                          encoding="utf-8")
    result = invoke("audit", unlabelled, "--vocab", vocab, "-o", out, "--scores", "knn")
    assert result.exit_code == 3 and "no document has a label" in result.output
    assert str(unlabelled) in result.output and not out.exists()


def test_a_corpus_of_numbered_labels_with_a_list_of_words_is_told_the_mismatch(tmp_path):
    """A list vocabulary of words given for a corpus whose labels are numbers was told
    only "none of its 4 label occurrences are in words.txt (most often '5' x2)"; the
    error names the mismatch with an example of each side (and the line-number hint
    where the numbers are below the list's length), as audit_corpus's does."""
    vocab = tmp_path / "words.txt"
    vocab.write_text("joy\nanger\nfear\n", encoding="utf-8")
    corpus = tmp_path / "nums.tsv"
    corpus.write_text("I am happy\t5\nso angry\t12 5\nscared\t17\n", encoding="utf-8")
    out = tmp_path / "out"
    result = invoke("audit", corpus, "--vocab", vocab, "-o", out, "--scores", "knn")
    assert result.exit_code == 3, result.output
    assert (f"{corpus}: none of its 4 label occurrences are in {vocab}: the corpus's "
            "labels look like numbers ('5', '12'), the vocabulary's keys are words ('joy', "
            "'anger'): a corpus naming its labels by number needs a vocabulary holding "
            "those numbers") in " ".join(result.output.split())
    corpus.write_text("I am happy\t0\nso angry\t1 2\nscared\t2\n", encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", vocab, "-o", out, "--scores", "knn")
    assert result.exit_code == 3 and not out.exists()
    assert re.search(r"look like numbers \('2', '0'\).*line 1's '0': a whole number below "
                     r"the vocabulary's 3 labels", " ".join(result.output.split()))
    # the other way round: a corpus of words, a list of numbers
    corpus.write_text("I am happy\tjoy\n", encoding="utf-8")
    vocab.write_text("0\n1\n", encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", vocab, "-o", out, "--scores", "knn")
    assert result.exit_code == 3
    assert ("the corpus's labels are words ('joy'), the vocabulary's keys look like "
            "numbers ('0', '1')") in " ".join(result.output.split())
    with pytest.raises(DataError, match=r"Y has no label; the corpus's labels look like "
                                        r"numbers \('7'\), the vocabulary's keys are words"):
        audit_corpus(["a text"], sp.csr_matrix((1, 2), dtype=bool),
                     LabelSpace.from_uris(["joy", "anger"]), unknown_labels=Counter(["7"]),
                     options=AuditOptions(scores="knn", show_progress=False))


@pytest.fixture(scope="module")
def small_result(small_corpus, goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_audit_corpus(small_corpus, space)
    return audit_corpus(data.texts, data.Y, space, options=AuditOptions(scores="knn"))


def test_numpy_options_are_written_to_the_json_report(small_corpus, goemotions_small,
                                                     tmp_path):
    """The option checks accept numpy numbers (k, prior_strength); the report records
    the options, and writing it failed with 'int64 is not JSON serializable' after
    the whole audit had run."""
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_audit_corpus(small_corpus, space)
    options = AuditOptions(scores="knn", k=np.int64(5), prior_strength=np.float32(20))
    result = audit_corpus(data.texts, data.Y, space, options=options)
    result.write(tmp_path / "out", plots=False)
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["meta"]["options"]["k"] == 5
    assert report["meta"]["options"]["prior_strength"] == 20


def test_numpy_values_recorded_as_given_are_written_to_the_json_report(
        small_corpus, goemotions_small, tmp_path):
    """validate() keeps k or prior_strength plain now, but model parameters and
    every_doc_labelled are recorded as given, and the checks accept numpy values
    there: write_json (tagsmith._json.strict) makes them plain."""
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_audit_corpus(small_corpus, space)
    options = AuditOptions(scores="knn", knn_params={"n_neighbors": np.int64(10),
                                                     "power": np.float32(2.0)},
                           every_doc_labelled=np.bool_(True))
    result = audit_corpus(data.texts, data.Y, space, options=options)
    recorded = result.report["meta"]["options"]
    assert isinstance(recorded["knn_params"]["n_neighbors"], np.integer)
    assert isinstance(recorded["every_doc_labelled"], np.bool_)
    result.write(tmp_path / "out", html=False)
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["meta"]["options"]["knn_params"] == {"n_neighbors": 10, "power": 2.0}
    assert report["meta"]["options"]["every_doc_labelled"] is True


def test_report_of_no_used_label_renders(small_result):
    from tagsmith.audit.report import render_html

    space = small_result.label_space
    labels = labels_section(sp.csr_matrix((3, len(space)), dtype=bool), space)
    assert labels["rank_frequency"] == {"rank": [], "count": []}
    report = {**small_result.report, "labels": labels}
    page = render_html(report, plots=True)
    assert page.count("data:image/png;base64,") == 3  # no long-tail curve


@pytest.mark.parametrize("wrong, missing, says", [
    (0.5, 0.5, "are tighter than the counts above, but"),
    (2.0, 0.5, "are tighter than the count above for missing labels (for wrong ones, the "
               "count is), but"),
    (2.0, 2.0, "are not tighter than the counts above here, but"),
])
def test_the_page_compares_the_bounds_with_the_counts_as_they_are(small_result, wrong, missing,
                                                                  says):
    # the page called the bounds "much tighter than the counts above" even where a bound
    # was above its count (40% wrong at most beside a count of 17%, on 200 documents)
    from tagsmith.audit.report import render_html

    noise = small_result.report["noise"]
    bounds = {**noise["bounds"], "est_wrong": wrong * noise["est_wrong"],
              "est_missing": missing * noise["est_missing"]}
    report = {**small_result.report, "noise": {**noise, "bounds": bounds}}
    page = render_html(report, plots=False)
    assert f"every label) and {says} they too include" in page
    assert "much tighter" not in page


def test_each_plot_says_what_it_shows_in_its_alt_text(small_result):
    # every image's alternative text was "plot": a screen reader (or a page whose
    # images do not load) could not tell the four apart
    import re

    from tagsmith.audit.report import render_html

    page = render_html(small_result.report, plots=True)
    alts = re.findall(r'<img alt="([^"]*)"', page)
    assert alts == ["Long tail of label frequencies: documents by label rank",
                    "Label cardinality: documents by labels per document (20 = 20+)",
                    "Estimated noise rates by label frequency: estimated rate by documents "
                    "per label (band)",
                    "Document quality: documents by P(all labels right)"]


def test_a_failed_write_leaves_no_half_written_folder(small_result, monkeypatch, tmp_path):
    import tagsmith.audit.report as report_module

    def broken(*args, **kwargs):
        raise RuntimeError("plotting failed")

    out = tmp_path / "new"
    monkeypatch.setattr(report_module, "render_html", broken)
    with pytest.raises(RuntimeError, match="plotting failed"):
        small_result.write(out)
    assert not out.exists()
    monkeypatch.undo()
    old = tmp_path / "old"
    small_result.write(old, html=False)
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    monkeypatch.setattr(type(small_result), "_write_labels", broken)  # the third file
    with pytest.raises(RuntimeError, match="plotting failed"):
        small_result.write(old)
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before  # nothing replaced


def test_a_json_only_rewrite_removes_the_earlier_audits_page_only(small_result, tmp_path):
    out = tmp_path / "out"
    small_result.write(out, plots=False)
    assert (out / "report.html").is_file()
    paths = small_result.write(out, html=False)  # the old page would disagree with the json
    assert "report_html" not in paths and not (out / "report.html").exists()
    assert sorted(p.name for p in out.iterdir()) == ["duplicates.csv", "labels.csv",
                                                     "report.json", "review.csv"]
    mine = "<html><body>my own notes</body></html>\n"
    (out / "report.html").write_text(mine, encoding="utf-8")  # not the audit's: kept
    small_result.write(out, html=False)
    assert (out / "report.html").read_text(encoding="utf-8") == mine


def test_an_empty_or_repeated_split_is_a_clear_error(small_corpus, goemotions_small, tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    out = tmp_path / "out"
    fast = ["--vocab", goemotions_small["vocab"], "--scores", "knn", "--no-html"]
    result = invoke("audit", small_corpus, "-o", out, *fast, "--split", f"test={empty}")
    assert result.exit_code == 3 and str(empty) in result.output
    assert "'test'" in result.output and not out.exists()
    result = invoke("audit", small_corpus, "-o", out, *fast, "--split",
                    f"test={goemotions_small['test']}", "--split", f"test={empty}")
    assert result.exit_code == 2 and "--split" in result.output and "'test'" in result.output
    assert not out.exists()


def test_a_split_whose_every_line_was_skipped_says_why(small_corpus, goemotions_small,
                                                      tmp_path):
    """A --split file every line of which was skipped (--on-error skip) was refused as
    "no documents in the split 'test'" alone, the reason in a warning -q hides, where
    the corpus itself names the first skipped line and why."""
    split = tmp_path / "test.jsonl"
    split.write_text('{"text": "rain"\n[1, 2]\n', encoding="utf-8")
    out = tmp_path / "out"
    fast = ["--vocab", goemotions_small["vocab"], "--scores", "knn", "--no-html"]
    result = invoke("audit", small_corpus, "-o", out, *fast, "--split",
                    f"test={split}", "--on-error", "skip")
    assert result.exit_code == 3 and not out.exists(), result.output
    assert ("no documents in the split 'test' (--split test=...) to check for leakage (2 "
            "malformed lines skipped; first at line 1: invalid JSON" in result.output), \
        result.output


def test_the_corpus_itself_as_a_split_is_refused(small_corpus, tmp_path):
    """``audit CORPUS --split test=CORPUS`` was reported as every document an exact leak
    into test (a duplicate of itself); by another spelling or a link too. A copy of the
    corpus is another file and is audited."""
    out = tmp_path / "out"
    link = tmp_path / "link.tsv"
    link.symlink_to(small_corpus)
    spelled = small_corpus.parent / ".." / small_corpus.parent.name / small_corpus.name
    for split in (small_corpus, link, spelled):
        result = invoke("audit", small_corpus, "-o", out, "--scores", "knn", "--no-html",
                        "--split", f"dev={tmp_path / 'missing.tsv'}", "--split",
                        f"test={split}")
        assert result.exit_code == 2, result.output
        assert "option '--split' must be a corpus other than CORPUS" in result.output
        assert f"test={split}" in result.output and not out.exists()


def test_an_empty_split_given_to_audit_corpus_names_the_splits_parameter():
    """audit_corpus(splits={"dev": []}) said "the split 'dev' has no documents", naming
    no parameter (the CLI names --split and the file itself)."""
    space = LabelSpace.from_uris(["http://x/a", "http://x/b"])
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]], bool))
    with pytest.raises(DataError, match=r"the split 'dev' has no documents to check for "
                                        r"leakage: splits\['dev'\] is empty"):
        audit_corpus(["rain", "sun"], Y, space, splits={"dev": []})


def test_exact_leakage_names_its_training_document_and_empty_texts_are_no_duplicates():
    from tagsmith.audit.health import leakage_section

    train = ["Rain in Paris", "", "Sun over Rome", "  ", "sun over rome", "Snow"]
    Y = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [1, 0]], bool))
    dups = find_duplicates(train, Y, None)
    assert dups.pairs.tolist() == [[2, 4]]  # the two empty texts are not duplicates
    X = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0], [0, 1, 0],
                                [0, 0, 1]], np.float32))
    model = KNNModel(n_neighbors=2, max_posting=None).fit(X, Y)
    near = find_duplicates(train, Y, model.leave_one_out_topk(X, 1, return_neighbors=True)[1:])
    assert not (near.pairs == 1).any() and not (near.pairs == 3).any()
    other = ["SUN OVER ROME", "", "Snow!", "Fog"]
    # the exact duplicate's features meet no training document: its match is the hash one
    other_X = sp.csr_matrix(np.array([[0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]],
                                     np.float32))
    result = leakage(text_hashes(train), other, train_X=X, other_X=other_X)
    assert (result["n_exact"], result["n_near"]) == (1, 1)
    examples = leakage_section({"test": result}, train, {"test": other})["test"]["examples"]
    exact = [e for e in examples if e["exact"]]
    assert [(e["doc"], e["train_doc"], e["cosine"], e["train_text"]) for e in exact] == \
        [(0, 2, 1.0, "Sun over Rome")]
    assert [e["doc"] for e in examples] == [0, 2]  # the empty text leaks nothing


def test_degenerate_inputs_are_data_errors_naming_the_file(small_corpus, goemotions_small,
                                                           tmp_path):
    vocab, out = goemotions_small["vocab"], tmp_path / "out"
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    result = invoke("audit", empty, "--vocab", vocab, "-o", out)
    assert result.exit_code == 3 and f"{empty}: no documents" in result.output
    empty_vocab = tmp_path / "vocab.tsv"
    empty_vocab.write_text("", encoding="utf-8")
    result = invoke("audit", small_corpus, "--vocab", empty_vocab, "-o", out)
    assert result.exit_code == 3 and f"{empty_vocab}: no labels in the vocabulary" in \
        result.output
    lines = small_corpus.read_text(encoding="utf-8").splitlines()
    three = tmp_path / "three.tsv"
    three.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    # cross-fitting's refusals (--scores auto takes the kNN scores there instead)
    crossfit = ["--scores", "crossfit"]
    result = invoke("audit", three, "--vocab", vocab, "-o", out, *crossfit)
    assert result.exit_code == 3 and str(three) in result.output
    assert "too small for --folds 5" in result.output and "at least 5 documents" in \
        result.output and "n_folds' must" not in result.output
    one = tmp_path / "one.tsv"
    one.write_text(lines[0] + "\n", encoding="utf-8")
    result = invoke("audit", one, "--vocab", vocab, "-o", out, "--folds", "2", *crossfit)
    assert result.exit_code == 3 and "too small" in result.output
    assert "at least 2" in result.output
    assert not out.exists()
    # the errors offered only more documents or fewer folds; the kNN scores need no
    # folds, and audit corpora of one or two documents
    for corpus, folds in ((one, ["--folds", "2"]), (three, [])):
        result = invoke("audit", corpus, "--vocab", vocab, "-o", out, *folds, *crossfit)
        assert result.exit_code == 3 and "--scores knn" in result.output, result.output
        assert invoke("audit", corpus, "--vocab", vocab, "-o", out, "--scores", "knn",
                      "--no-html").exit_code == 0
        shutil.rmtree(out)
    # two documents sharing no term: no features, yet the audit runs
    two = tmp_path / "two.tsv"
    two.write_text("Rain today\t<urn:goemotions:anger>\nSunny\t<urn:goemotions:joy>\n",
                   encoding="utf-8")
    assert invoke("audit", two, "--vocab", vocab, "-o", out, "--folds", "2",
                  "--no-html").exit_code == 0


def test_a_corpus_too_small_for_the_folds_names_the_options_of_the_caller(tmp_path,
                                                                           caplog):
    """The too-small refusals named "--folds 2; n_folds in AuditOptions" and "--scores
    knn (scores in AuditOptions: ...)" whether the audit ran from the command line, which
    has no AuditOptions, or from Python, which has no --folds: each names its own. A
    path holding such a name (a folder 'scores') is the user's own and stays as it is.
    --scores auto, which picked cross-fitting and then refused the corpus telling the
    user to pass --scores knn, takes the kNN scores (they need one document), saying
    why; an explicit --scores crossfit, or a --model (cross-fitting's alone), is refused."""
    folder = tmp_path / "scores" / "n_folds"
    folder.mkdir(parents=True)
    three, one = folder / "three.tsv", folder / "one.tsv"
    three.write_text("alpha beta\t<a>\ngamma delta\t<b>\nalpha gamma\t<a> <b>\n",
                     encoding="utf-8")
    one.write_text("the cat sat on the mat\t<a>\n", encoding="utf-8")
    for corpus, says in (
            (three, "the corpus is too small for --folds 5: 5-fold cross-fitting needs at "
             "least 5 documents, it has 3; give more documents, --folds 3 or fewer, or "
             "--scores knn (leave-one-out kNN, no folds)"),
            (one, "the corpus is too small: 1 document, and cross-fitting needs at least 2 "
             "(with --folds 2); give more documents or --scores knn")):
        for given in (["--scores", "crossfit"], ["--model", "linear"]):
            result = invoke("audit", corpus, "-o", tmp_path / "out", *given)
            assert result.exit_code == 3, result.output
            assert f"{corpus}: {says}" in " ".join(result.output.split()), result.output
            assert "AuditOptions" not in result.output
        out = tmp_path / f"out-{corpus.stem}"
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tagsmith"):
            # not -q: its info lines are logged
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "audit", str(corpus), "-o", str(out), "--no-html", "--no-plots"])
        assert result.exit_code == 0, result.output
        has = "3 documents" if corpus == three else "1 document"
        assert f"--scores auto: the corpus has {has}, fewer than --folds 5, which " \
            "cross-fitting cannot score: auditing with --scores knn (leave-one-out kNN, " \
            "no folds) instead" in [record.getMessage() for record in caplog.records]
        written = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert written["scores"]["source"] == "knn"
    space = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
    with pytest.raises(DataError) as caught:
        audit_corpus(["a b", "c d", "e f"], sp.csr_matrix(np.eye(3, dtype=bool)), space,
                     options=AuditOptions(scores="crossfit"))
    assert str(caught.value) == (
        "the corpus is too small for n_folds 5: 5-fold cross-fitting needs at least 5 "
        "documents, it has 3; give more documents, n_folds 3 or fewer, or scores knn "
        "(leave-one-out kNN, no folds)")
    with pytest.raises(DataError, match=r"cross-fitting needs labelled documents of two "
                       r"texts at least.* or scores knn \(leave-one-out kNN, no folds\)$"):
        audit_corpus(["a b", "c d", "e f"], sp.csr_matrix(np.eye(3, 1, dtype=bool)),
                     LabelSpace.from_uris(["u:a"]), options=AuditOptions(scores="crossfit",
                                                                          n_folds=2))


@pytest.mark.parametrize("labels, says", [
    (["<u:a>"] + [""] * 29, "the corpus has 1 labelled document:"),
    (["<u:a>"] * 30, "the corpus has 30 labelled documents, copies of one text")])
def test_an_audit_of_one_labelled_text_is_refused_naming_the_corpus(tmp_path, labels, says,
                                                                    caplog):
    """One labelled document, or copies of one text alone labelled, cannot be
    cross-fitted at any --folds or --seed: the fold model's refusal named a parameter
    'Y' no command line has (exit code 2), and told the lone document to try fewer folds
    or another seed. The kNN scores need no folds: --scores auto, which picked
    cross-fitting and then refused the corpus telling the user to pass --scores knn,
    takes them, saying why; an explicit --scores crossfit is refused."""
    corpus, out = tmp_path / "c.tsv", tmp_path / "out"
    copies = len(set(labels)) == 1
    corpus.write_text("".join(f"{'same text' if copies else f'text number {i}'}\t{label}\n"
                              for i, label in enumerate(labels)), encoding="utf-8")
    result = invoke("audit", corpus, "-o", out, "--no-html", "--scores", "crossfit")
    assert result.exit_code == 3, result.output
    assert f"{corpus}: cross-fitting needs labelled documents of two texts at least" in \
        result.output and says in result.output and "--scores knn" in result.output
    assert "'Y'" not in result.output and "fewer folds" not in result.output
    assert invoke("audit", corpus, "-o", out, "--no-html", "--scores", "knn").exit_code == 0
    shutil.rmtree(out)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        # not -q: its info lines are logged
        result = CliRunner().invoke(tagsmith_cli.cli, ["audit", str(corpus), "-o", str(out),
                                                       "--no-html", "--no-plots"])
    assert result.exit_code == 0, result.output
    has = says.removeprefix("the corpus has ").rstrip(":")
    assert f"--scores auto: the corpus has {has}, which cross-fitting cannot score: " \
        "auditing with --scores knn (leave-one-out kNN, no folds) instead" in \
        [record.getMessage() for record in caplog.records]
    written = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert written["scores"]["source"] == "knn"


@pytest.mark.parametrize("n_skipped, n_missing, n_shown, says", [
    (1, 0, 1, "1 malformed line skipped (listed below)"),
    (3, 0, 3, "3 malformed lines skipped (listed below)"),
    (1234, 0, 20, "1,234 malformed lines skipped (the first 20 below)"),
    # a folder's files deleted after the listing are no malformed lines
    (1, 1, 1, "1 file skipped that went missing (listed below)"),
    (3, 2, 3, "1 malformed line skipped, 2 files skipped that went missing (listed below)"),
])
def test_the_page_says_which_skipped_lines_it_lists(small_result, n_skipped, n_missing,
                                                    n_shown, says):
    # "1 malformed line skipped (the first 1 below)": every one is listed up to a cap
    from tagsmith.audit.report import render_html

    read = {"on_error": "skip", "n_skipped_lines": n_skipped, "n_missing_files": n_missing,
            "skipped_lines": [{"file": "c.tsv", "line": i + 2, "reason": "no text"}
                              for i in range(n_shown)]}
    report = {**small_result.report, "meta": {**small_result.report["meta"], "read": read}}
    page = render_html(report, plots=False)
    assert f"Read with --on-error skip: {says}. Document numbers" in page
    assert page.count("c.tsv:") == n_shown


def test_the_summary_counts_one_skipped_line_in_the_singular(small_corpus, goemotions_small,
                                                             tmp_path):
    # "skipped 1 malformed lines (--on-error skip)"
    lines = small_corpus.read_text(encoding="utf-8").splitlines()
    lines[10] = "\t<urn:goemotions:joy>"  # no text: malformed
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", goemotions_small["vocab"], "-o",
                    tmp_path / "out", "--scores", "knn", "--no-html", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert "skipped 1 malformed line (--on-error skip): give apply-review" in result.output


def test_the_summary_says_what_a_split_leakage_count_is_out_of(small_corpus, goemotions_small,
                                                                tmp_path):
    # "leakage into dev: 1 exact, 0 near duplicates of training documents (of 1)": 1 what?
    first = small_corpus.read_text(encoding="utf-8").splitlines()[0]
    one, two = tmp_path / "one.tsv", tmp_path / "two.tsv"
    one.write_text(first + "\n", encoding="utf-8")
    two.write_text(first + "\nSomething else entirely\n", encoding="utf-8")
    result = invoke("audit", small_corpus, "--vocab", goemotions_small["vocab"], "-o",
                    tmp_path / "out", "--scores", "knn", "--no-html", "--split", f"one={one}",
                    "--split", f"two={two}")
    assert result.exit_code == 0, result.output
    assert ("leakage into one: 1 exact, 0 near duplicates of training documents (of its 1 "
            "document)\n") in result.output
    assert ("leakage into two: 1 exact, 0 near duplicates of training documents (of its 2 "
            "documents)\n") in result.output


def test_the_summary_says_when_the_review_queue_holds_fewer_rows_than_were_flagged(
        small_corpus, goemotions_small, tmp_path):
    # "flagged 27 wrong and 14 missing" beside a review.csv of 5 rows (--max-review 5)
    def flagged(*more):
        out = tmp_path / f"out{len(more)}{more[-1] if more else ''}"
        result = invoke("audit", small_corpus, "--vocab", goemotions_small["vocab"], "-o",
                        out, "--scores", "knn", "--no-html", *more)
        assert result.exit_code == 0, result.output
        line = next(x for x in result.output.splitlines() if x.startswith("flagged "))
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))["noise"]
        n = report["n_flagged_wrong"] + report["n_flagged_missing"]
        return line, n

    line, n = flagged()
    assert n > 2 and line.endswith(" missing")
    line, _ = flagged("--max-review", "2")
    assert line.endswith(" missing (the review queue holds the 2 most likely: --max-review)")
    line, _ = flagged("--max-review", "0")
    assert line.endswith(" missing (the review queue is empty: --max-review 0)")
    line, _ = flagged("--max-review", str(n))
    assert line.endswith(" missing")


def test_skipped_lines_and_the_read_policy_are_in_the_report(small_corpus, goemotions_small,
                                                             tmp_path, caplog):
    lines = small_corpus.read_text(encoding="utf-8").splitlines()
    lines[10] = "\t<urn:goemotions:joy>"  # no text: malformed
    lines[20] = lines[20].split("\t")[0] + "\t<urn:goemotions:joy> <urn:goemotions:nope>"
    lines[30] = "\t<urn:goemotions:anger>"
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dev = tmp_path / "dev.tsv"
    dev.write_text("Fine\t<urn:goemotions:joy>\n\t<urn:goemotions:joy>\n", encoding="utf-8")
    out = tmp_path / "out"
    result = invoke("audit", corpus, "--vocab", goemotions_small["vocab"], "-o", out,
                    "--scores", "knn", "--no-plots", "--on-error", "skip", "--split",
                    f"dev={dev}")
    assert result.exit_code == 0, result.output
    read = json.loads((out / "report.json").read_text(encoding="utf-8"))["meta"]["read"]
    assert read["on_error"] == "skip" and read["n_skipped_lines"] == 3
    assert [(r["file"], r["line"]) for r in read["skipped_lines"]] == \
        [(str(corpus), 11), (str(corpus), 31), (str(dev), 2)]
    assert all(r["reason"] for r in read["skipped_lines"])
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "--on-error skip" in page and f"{corpus}:31" in page and f"{dev}:2" in page
    assert "skipped 3 malformed lines (--on-error skip): give apply-review --on-error skip" \
        in result.output
    space = load_vocabulary(goemotions_small["vocab"])
    with caplog.at_level("WARNING", logger="tagsmith"):
        data = read_audit_corpus(corpus, space, on_error="skip")
    assert len(data.texts) == 298 and data.on_error == "skip"
    warning = [r.getMessage() for r in caplog.records if "unknown label" in r.getMessage()]
    assert warning and "298 documents" in warning[0]
    from tagsmith.data.corpus import derive_label_space

    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        derive_label_space(corpus, on_error="skip")
    assert any("298 documents" in r.getMessage() for r in caplog.records)


def _random_labels(corpus, vocab, tmp_path):
    """``corpus``'s texts, each with a random one of ``vocab``'s first 28 labels (a seeded
    draw): labels no scorer recovers."""
    space = load_vocabulary(vocab)
    rng = np.random.default_rng(0)
    noise = tmp_path / "random_labels.tsv"
    noise.write_text("".join(f"{line.split(chr(9))[0]}\t<{space.uri_of(int(rng.integers(28)))}>\n"
                             for line in corpus.read_text(encoding="utf-8").splitlines()),
                     encoding="utf-8")
    return noise


def test_scores_without_signal_are_flagged_as_unreliable(small_corpus, goemotions_small,
                                                         tmp_path, caplog):
    noise = _random_labels(small_corpus, goemotions_small["vocab"], tmp_path)
    out = tmp_path / "out"
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert run_cli(["audit", str(noise), "--vocab", str(goemotions_small["vocab"]), "-o",
                        str(out), "--scores", "knn", "--no-plots"]) == 0
    scores = json.loads((out / "report.json").read_text(encoding="utf-8"))["scores"]
    assert scores["p@1_vs_given"] < scores["min_p@1_vs_given"] == 0.1
    assert 0 <= scores["r@10_vs_given"] <= 1
    assert "candidates are unreliable" in scores["warning"]
    assert any("candidates are unreliable" in r.getMessage() for r in caplog.records)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<p class="warn"><b>Warning:</b> the scores recover few given labels' in page
    assert run_cli(["-q", "audit", str(small_corpus), "--vocab", str(goemotions_small["vocab"]),
                    "-o", str(tmp_path / "good"), "--no-html"]) == 0
    good = json.loads((tmp_path / "good" / "report.json").read_text(encoding="utf-8"))["scores"]
    assert good["p@1_vs_given"] >= 0.1 and "warning" not in good


def test_cooccurring_pairs_match_a_brute_force_count_ties_in_label_order():
    """Each figure against plain counting over the documents' label sets; tied pairs
    came in the order of scipy's Y^T Y entries ((0, 1), (1, 2), (0, 2) for one document
    with three labels), and a pair in every document warned of a division by zero."""
    import itertools
    import math
    import warnings
    from collections import Counter

    rng = np.random.default_rng(3)
    space = LabelSpace.from_uris([f"u:{i}" for i in range(7)])
    for n_docs in (1, 2, 9, 30):
        rows = [set(rng.choice(7, rng.integers(0, 5), replace=False).tolist())
                for _ in range(n_docs)]
        rows[0] = {0, 1, 2}
        Y = sp.csr_matrix(np.array([[c in r for c in range(7)] for r in rows], bool))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            section = cooccurrence_section(Y, space, min_count=1)
        pairs = Counter(p for r in rows for p in itertools.combinations(sorted(r), 2))
        counts = Counter(c for r in rows for c in r)
        expected = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
        assert section["n_pairs"] == len(pairs)
        assert [(r["a"]["id"], r["b"]["id"], r["count"]) for r in section["top_by_count"]] \
            == [(a, b, count) for (a, b), count in expected[:20]]

        def npmi(a, b, count, n_docs=n_docs, counts=counts):
            if count == n_docs:
                return 1.0
            return math.log(n_docs * count / (counts[a] * counts[b])) / -math.log(
                count / n_docs)

        by_npmi = sorted(pairs.items(), key=lambda item: (-npmi(*item[0], item[1]), item[0]))
        got = [(r["a"]["id"], r["b"]["id"], r["npmi"]) for r in section["top_by_npmi"]]
        assert [(a, b) for a, b, _ in got] == [pair for pair, _ in by_npmi[:20]]
        assert all(v == round(npmi(a, b, pairs[a, b]), 4) for a, b, v in got)


def test_near_duplicate_pairs_match_brute_force_whatever_the_score_source():
    """Nine near-identical texts make 36 pairs at cosine >= 0.9 (brute force over the
    audit's own TF-IDF rows). Cross-fitted scores searched each document's 5 nearest
    neighbours for them and reported 30, kNN scores (50 neighbours) 36."""
    import itertools

    from tagsmith.pipeline.audit import _features

    base = ("the quick brown fox jumps over the lazy dog near the river bank on a sunny "
            "afternoon in june ")
    rng = np.random.default_rng(0)
    words = [f"filler{i}" for i in range(40)]
    texts = [2 * base + f"x{i}" for i in range(9)]
    texts += [" ".join(rng.choice(words, 8)) for _ in range(30)]
    Y = sp.csr_matrix(np.eye(3, dtype=bool)[np.arange(len(texts)) % 3])
    space = LabelSpace.from_uris(["u:0", "u:1", "u:2"])
    options = AuditOptions(scores="crossfit", featurizer_params=FAST_FEATURES, n_folds=2)
    X = _features(texts, None, options)[1].toarray()
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    cosine = X @ X.T
    expected = sum(cosine[i, j] >= 0.9 for i, j in itertools.combinations(range(len(texts)), 2))
    assert expected == 36
    for scores in ("crossfit", "knn"):
        options = AuditOptions(scores=scores, featurizer_params=FAST_FEATURES, n_folds=2)
        dups = audit_corpus(texts, Y, space, options=options).report["duplicates"]
        assert (dups["n_near_pairs"], dups["n_exact_pairs"]) == (36, 0), scores
        assert (dups["n_duplicate_groups"], dups["n_docs_in_duplicate_groups"]) == (1, 9)


@pytest.mark.parametrize(("n_near", "n_copies"), [(80, 0), (10, 60)])
def test_near_pairs_of_groups_larger_than_the_neighbours_searched_are_all_counted(
        monkeypatch, n_near, n_copies):
    """80 near-identical texts make 3,160 pairs, but each document's 50 nearest
    neighbours held at most 50 of its 79: pairs between two documents that both had 50
    nearer ones were lost (2,532 counted). 60 exact copies of a text crowded the near
    texts beside them out of each other's neighbours too (443 pairs of 585)."""
    from tagsmith.audit import duplicates as dup
    from tagsmith.pipeline.audit import _features

    monkeypatch.setattr(dup, "LEAK_BLOCK_PAIRS", 1000)  # several blocks
    words = [f"word{j}" for j in range(60)]
    texts = [" ".join(w for j, w in enumerate(words) if j not in (i % 60, 59 - i // 60))
             for i in range(n_near)]
    texts += [texts[0].upper()] * n_copies  # exact copies of the first text
    rng = np.random.default_rng(0)
    texts += [" ".join(rng.choice([f"other{i}" for i in range(500)], 8)) for _ in range(300)]
    Y = sp.csr_matrix(rng.random((len(texts), 3)) < 0.3)
    space = LabelSpace.from_uris(["u:0", "u:1", "u:2"])
    options = AuditOptions(scores="knn", featurizer_params=FAST_FEATURES)
    X = _features(texts, None, options)[1].toarray()
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    hashes, label_sets = text_hashes(texts), dup.label_set_hashes(Y)
    near = np.triu(X @ X.T >= 0.9 - 1e-4, 1) & (hashes[:, None] != hashes[None, :])
    conflicting = near & (label_sets[:, None] != label_sets[None, :])
    assert near.sum() > {80: 3000, 10: 500}[n_near], near.sum()
    dups = audit_corpus(texts, Y, space, options=options).report["duplicates"]
    assert dups["n_near_pairs"] == near.sum()
    assert (dups["n_conflicting_pairs"] - dups["n_conflicting_exact_pairs"]
            == conflicting.sum())
    assert dups["n_exact_pairs"] == n_copies * (n_copies + 1) // 2
    assert (dups["n_duplicate_groups"], dups["n_docs_in_duplicate_groups"]) == (
        1, n_near + n_copies)


class _LangSpans(__import__("html.parser").parser.HTMLParser):
    """The text of every element with a ``lang`` attribute, and whether tags balance."""

    VOID = {"meta", "img", "br"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.spans, self.unbalanced = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        lang = dict(attrs).get("lang")
        self.stack.append((tag, lang, []))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1][0] != tag:
            self.unbalanced.append(tag)
            return
        _, lang, text = self.stack.pop()
        if lang is not None and tag != "html":
            self.spans.append((lang, "".join(text)))
        if self.stack:
            self.stack[-1][2].extend(text)

    def handle_data(self, data):
        if self.stack:
            self.stack[-1][2].append(data)


def _lang_spans(page):
    parser = _LangSpans()
    parser.feed(page)
    parser.close()
    assert not parser.unbalanced and not parser.stack, (parser.unbalanced, parser.stack)
    return parser.spans


def _bilingual_vocab(goemotions_small, path, fi_tag="fi", english_only="joy",
                    english=True):
    """The GoEmotions labels with a Finnish name each (``<name>-fi``), but ``english_only``;
    without ``english``, only ``english_only`` has its English name."""
    rows = [line.split("\t") for line in
            goemotions_small["vocab"].read_text(encoding="utf-8").splitlines()]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uri", f"label_{fi_tag}", "label_en"])
        for uri, name in rows:
            writer.writerow([uri.strip("<>"), "" if name == english_only else f"{name}-fi",
                             name if english or name == english_only else ""])
    return path


def test_the_page_marks_each_label_name_with_its_language(small_corpus, goemotions_small,
                                                          tmp_path):
    """``--lang fi``: the names in Finnish are marked lang="fi", the one that fell back to
    English lang="en", in every table and the review candidates; the page stays English."""
    vocab = _bilingual_vocab(goemotions_small, tmp_path / "vocab.csv")
    out = tmp_path / "out"
    result = invoke("audit", small_corpus, "--vocab", vocab, "-o", out, "--scores", "knn",
                    "--no-plots", "--lang", "fi")
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith('<!DOCTYPE html><html lang="en">')
    spans = [span for span in _lang_spans(page) if span[0]]  # "": document texts
    assert ("en", "joy") in spans and ("fi", "anger-fi") in spans
    assert {lang for lang, _ in spans} == {"fi", "en"}
    assert all(name.endswith("-fi") == (lang == "fi") for lang, name in spans), spans
    # every name the page shows is marked: none of them is left as bare text
    unmarked = re.sub(r'<span lang="[^"]*">[^<]*</span>', "", page)
    assert "-fi" not in unmarked and not re.search(r">\s*joy\s*<", unmarked)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    refs = report["labels"]["most_frequent"] + [
        r[side] for r in report["cooccurrence"]["top_by_count"] for side in "ab"]
    assert {(r["name"] == "joy", r["name_lang"]) for r in refs} == {(False, "fi"), (True, "en")}
    candidates = report["top_candidates"]
    assert candidates and all(
        c["label_name_lang"] == ("en" if c["label_name"] == "joy" else "fi")
        and len(c["given_names_langs"]) == len(c["given_names"]) for c in candidates)
    shown = {name for _, name in spans}
    assert {c["label_name"] for c in candidates} <= shown
    assert {name for c in candidates for name in c["given_names"]} <= shown


def test_a_hostile_language_tag_is_escaped_in_the_page(small_corpus, goemotions_small, tmp_path):
    # --lang refuses such a tag (every --lang's one check); a vocabulary's names in it
    # are shown where no label has an English name, marked with the tag
    hostile = 'fi"><script>alert(1)</script>'
    vocab = _bilingual_vocab(goemotions_small, tmp_path / "vocab.csv", fi_tag=hostile,
                             english=False)
    out = tmp_path / "out"
    result = invoke("audit", small_corpus, "--vocab", vocab, "-o", out, "--scores", "knn",
                    "--no-plots")
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert 'lang="fi&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert {lang for lang, _ in _lang_spans(page)} == {hostile, "en", ""}  # "": texts


def test_labels_section_without_unknown_keys_says_no_vocabulary_was_given():
    """labels_section called without ``unknown`` left out ``vocabulary``, so the page
    took a vocabulary as given and said "Labels missing from the vocabulary: 0
    occurrences" of one nobody checked the labels against."""
    from tagsmith.audit.report import render_html

    space = LabelSpace.from_uris(["u:a", "u:b"])
    Y = sp.csr_matrix(np.array([[1, 1], [1, 0]], bool))
    labels = labels_section(Y, space)
    assert labels["not_in_vocabulary"]["vocabulary"] is False
    page = render_html({"corpus": corpus_section(["a", "b"], Y), "labels": labels,
                        "cooccurrence": cooccurrence_section(Y, space)}, plots=False)
    assert "missing from the vocabulary" not in page
    assert "No vocabulary was given" in page


def test_a_name_that_is_the_uri_is_marked_as_in_no_known_language():
    from tagsmith.audit.report import render_html
    from tagsmith.data.labelspace import Label

    space = LabelSpace([Label("u:a", {"fi": "omena", "en-GB": "apple"}), Label("u:b")])
    assert [space.name_and_language(i, "en") for i in range(2)] == \
        [("apple", "en-GB"), ("u:b", None)]
    # English (a variant of it) before another language, then the first
    assert space.name_and_language(0, "sv") == ("apple", "en-GB")
    assert LabelSpace([Label("u:c", {"fi": "omena", "de": "Apfel"})]).name_and_language(
        0, "sv") == ("omena", "fi")
    Y = sp.csr_matrix(np.array([[1, 1], [1, 0], [0, 1]], bool))
    report = {"corpus": corpus_section(["a", "b", "c"], Y),
              "labels": labels_section(Y, space, lang="en"),
              "cooccurrence": cooccurrence_section(Y, space, lang="en")}
    spans = _lang_spans(render_html(report, plots=False))
    assert ("en-GB", "apple") in spans and ("", "u:b") in spans
    old = {**report, "labels": {**report["labels"], "most_frequent": [
        {k: v for k, v in ref.items() if k != "name_lang"}
        for ref in report["labels"]["most_frequent"]]}}
    page = render_html(old, plots=False)  # a report from before name_lang: names unmarked
    assert "<td>apple <small>" in page


def test_audit_ends_with_the_apply_review_command_that_applies_its_review(
        small_corpus, goemotions_small, tmp_path):
    """The audit listed its files and stopped: the step after it (fill in the decisions,
    run apply-review with the same corpus, vocabulary and --on-error) was in the README
    alone. The command it prints now runs as printed."""
    import shlex

    out = tmp_path / "the audit"  # a space: the printed command quotes it
    result = invoke_hinted("audit", small_corpus, "--vocab", goemotions_small["vocab"], "-o", out,
                    "--scores", "knn", "--no-html", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    review = out / "review.csv"
    # on stderr, as the other commands' next: lines are (stdout holds the results
    # alone: a script's audit output had the hints in it, and -q kept them)
    assert "next: " not in result.stdout and "or let an LLM" not in result.stdout
    line = next(line for line in result.stderr.splitlines() if line.startswith("next: "))
    assert line.startswith(f"next: fill in the decision column of {review} (accept or "
                           "reject), then run: tagsmith apply-review ")
    argv = shlex.split(line.split("then run: ", 1)[1])
    assert argv == ["tagsmith", "apply-review", str(small_corpus), str(review), "-o",
                    "NEW_CORPUS", "--vocab", str(goemotions_small["vocab"]),
                    "--on-error", "skip"]
    hushed = invoke("audit", small_corpus, "--vocab", goemotions_small["vocab"], "-o",
                    tmp_path / "hushed", "--scores", "knn", "--no-html")
    assert hushed.exit_code == 0, hushed.output
    assert "next: " not in hushed.output and "or let an LLM" not in hushed.output
    assert f"review: {tmp_path / 'hushed' / 'review.csv'}" in hushed.stdout  # results stay
    argv[argv.index("NEW_CORPUS")] = str(tmp_path / "new.tsv")
    applied = invoke(*argv[1:])
    assert applied.exit_code == 0, applied.output
    assert "0 accepted" in applied.output  # nothing decided yet: a copy
    # no review rows: no next: line (without -q, which hides it whatever the rows)
    quiet = invoke_hinted("audit", small_corpus, "--vocab", goemotions_small["vocab"], "-o",
                          tmp_path / "none", "--scores", "knn", "--no-html", "--max-review",
                          "0")
    assert quiet.exit_code == 0 and "next: " not in quiet.output


def test_audit_ends_with_the_llm_path_to_decide_its_review_and_it_runs_as_printed(
        small_corpus, goemotions_small, tmp_path):
    """The closing lines named only a person filling in the decisions: the path where an
    LLM decides them (label the review, apply-review --decide-from) was in the README
    alone. The label command it prints runs (against an LLM on 127.0.0.1), and its
    output decides the review's rows."""
    import shlex

    from tagsmith.labeling.prompts import read_data_section
    from tagsmith.testing.llm_server import LocalChatServer, user_prompt

    out = tmp_path / "the audit"
    result = invoke_hinted("audit", small_corpus, "--vocab", goemotions_small["vocab"],
                           "-o", out, "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("next: "))
    assert lines[at + 1].startswith("  or let an LLM decide the rows ("), lines[at:]
    label, answers = lines[at + 1].split("): ", 1)[1].split(
        ", then the command above with --decide-from ")
    label_argv = shlex.split(label)
    assert label_argv == ["tagsmith", "label", str(out / "review.csv"), "--vocab",
                          str(goemotions_small["vocab"]), "-o", str(out / "llm.jsonl")]
    assert shlex.split(answers) == [str(out / "llm.jsonl")]
    asked = []

    def teacher(body):
        asked.append(read_data_section(user_prompt(body), "DOCUMENT"))
        return json.dumps({"labels": [{"label": "neutral", "confidence": 0.9}]})

    with LocalChatServer(teacher) as server:
        labelled = invoke(*label_argv[1:], "--base-url", server.base_url, "--llm", "t",
                          "--max-retries", "0", "--cache", tmp_path / "c.sqlite")
    assert labelled.exit_code == 0, labelled.output
    apply = shlex.split(lines[at].split("then run: ", 1)[1])
    apply[apply.index("NEW_CORPUS")] = str(tmp_path / "new.tsv")
    applied = invoke(*apply[1:], "--decide-from", *shlex.split(answers))
    assert applied.exit_code == 0, applied.output
    with open(out / "review.csv", encoding="utf-8", newline="") as review:
        keys = [row["doc_key"] for row in csv.DictReader(review)]
    # every row decided ("0 whose" alone matched "0 whose label it lacks", whatever
    # the count of rows whose document the file does not hold); no clause of 0 rows
    decided = next(line for line in applied.output.splitlines() if " decided by " in line)
    assert decided.startswith(f"{len(keys):,} rows of ") and decided.endswith(
        "; none left undecided"), applied.output
    assert sorted(asked) == sorted(set(asked)) and len(asked) == len(set(keys))


def test_the_printed_commands_keep_the_audits_selection_of_vocab(small_corpus,
                                                                  goemotions_small, tmp_path):
    """An audit given --vocab-type, --vocab-scheme or --vocab-prefix printed apply-review
    and label commands without them: copied, they read the whole vocabulary (a SKOS
    file's every concept), and label offered the LLM labels the audit never had. They
    carry the selection now, and run as printed."""
    import shlex

    out = tmp_path / "audit"
    result = invoke_hinted("audit", small_corpus, "--vocab", goemotions_small["vocab"],
                           "-o", out, "--scores", "knn", "--no-html", "--vocab-prefix",
                           "urn:goemotions:")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("next: "))
    apply = shlex.split(lines[at].split("then run: ", 1)[1])
    assert apply[-2:] == ["--vocab-prefix", "urn:goemotions:"], apply
    label = shlex.split(lines[at + 1].split("): ", 1)[1].split(", then the command")[0])
    assert label[3:7] == ["--vocab", str(goemotions_small["vocab"]), "--vocab-prefix",
                          "urn:goemotions:"], label
    apply[apply.index("NEW_CORPUS")] = str(tmp_path / "new.tsv")
    applied = invoke(*apply[1:])
    assert applied.exit_code == 0, applied.output


def test_the_printed_apply_review_command_runs_for_a_corpus_named_with_a_dash(
        small_corpus, goemotions_small, tmp_path, monkeypatch):
    """An audit of a corpus -c.tsv (given after --) printed 'tagsmith apply-review
    -c.tsv ...', which the command line reads as its option -c: it names ./-c.tsv."""
    import shlex

    monkeypatch.chdir(tmp_path)
    shutil.copy(small_corpus, "-c.tsv")
    result = invoke_hinted("audit", "--vocab", goemotions_small["vocab"], "-o", "-audit",
                           "--scores", "knn", "--no-html", "--", "-c.tsv")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("next: "))
    argv = shlex.split(line.split("then run: ", 1)[1])
    assert argv[2:4] == ["./-c.tsv", "./-audit/review.csv"], argv
    argv[argv.index("NEW_CORPUS")] = "new.tsv"
    applied = invoke(*argv[1:])
    assert applied.exit_code == 0, applied.output
    assert Path("new.tsv").read_bytes() == small_corpus.read_bytes()  # nothing decided


def test_a_jsonl_review_is_told_of_its_decision_key_not_a_column(small_corpus, goemotions_small,
                                                                  tmp_path, caplog):
    """The audit's closing line and apply-review's warning for an undecided review said
    "fill in the decision column" of a review.jsonl, which has keys, not columns."""
    import logging
    import shlex

    out = tmp_path / "audit"
    result = invoke_hinted("audit", small_corpus, "--vocab", goemotions_small["vocab"],
                           "-o", out, "--scores", "knn", "--no-html", "--review-format",
                           "jsonl", "--lang", "fi")
    assert result.exit_code == 0, result.output
    review = out / "review.jsonl"
    line = next(line for line in result.output.splitlines() if line.startswith("next: "))
    assert line.startswith(f"next: fill in the decision key of each line of {review} "
                           "(accept or reject), then run: tagsmith apply-review ")
    argv = shlex.split(line.split("then run: ", 1)[1])
    assert argv[-2:] == ["--lang", "fi"]  # its warnings name labels as the review does
    # the LLM's path shows the LLM the label names in that language too (label's --lang
    # was left out: the names it was shown were the default language's)
    llm = result.output.splitlines()[result.output.splitlines().index(line) + 1]
    label = shlex.split(llm.split("): ", 1)[1].split(", then the command above")[0])
    assert label[:2] == ["tagsmith", "label"] and label[-2:] == ["--lang", "fi"], llm
    argv[argv.index("NEW_CORPUS")] = str(tmp_path / "new.tsv")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert run_cli(argv[1:]) == 0
    warnings = [r.getMessage() for r in caplog.records if "decision" in r.getMessage()]
    assert len(warnings) == 1 and "column" not in warnings[0], warnings
    assert "; fill in the decision key of each line with accept or reject (also" \
        in warnings[0]


def test_the_next_audit_removes_the_staging_folders_of_killed_audits(small_result, tmp_path,
                                                                     caplog):
    """An audit killed outright (SIGKILL, the OOM killer) while writing left its
    '.audit-*' staging folder in the output folder forever. It is named after its host
    and process now, and the next audit writing there removes it once that process no
    longer runs; another host's, a live process's and one named without host and pid
    (by an audit before) are kept."""
    import logging
    import os
    import subprocess

    from tagsmith.store.staging import _host

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = _host()
    out = tmp_path / "out"
    out.mkdir()
    removed = [f".audit-{host}-{dead.pid}-abcd1234"]
    kept = [f".audit-{host}-{os.getpid()}-abcd1234", f".audit-{host}x-{dead.pid}-abcd1234",
            ".audit-abcd1234", f".audit-{host}-{dead.pid}-abc.1234"]
    for name in removed + kept:
        (out / name).mkdir()
        (out / name / "report.json").write_text("{}")
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        small_result.write(out, html=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        kept + ["duplicates.csv", "labels.csv", "report.json", "review.csv"])
    assert f"removed {out / removed[0]}" in caplog.text


@pytest.mark.parametrize("command", ["audit", "apply-review"])
def test_every_option_of_the_audit_commands_says_what_it_does(command):
    # audit --help listed --review-format and --seed with their defaults alone
    tagsmith_cli._register_commands()
    options = [p for p in tagsmith_cli.cli.commands[command].params
               if isinstance(p, click.Option)]
    assert options and [p.name for p in options if not p.help] == []
    assert invoke(command, "--help").exit_code == 0


def test_an_audit_result_prints_one_line_of_counts(small_corpus, goemotions_small):
    """The dataclass repr printed every review row, the whole report and the fourteen
    arrays of the issues: pages at a prompt for a small corpus."""
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_audit_corpus(small_corpus, space)
    result = audit_corpus(data.texts, data.Y, space,
                          options=AuditOptions(scores="knn", show_progress=False))
    issues = result.issues
    assert repr(issues) == (f"LabelIssues(n_candidates={len(issues)}, "
                            f"n_flagged={int(issues.flagged.sum())}, "
                            f"n_docs={len(data.texts)}, n_labels={len(space)})")
    text = repr(result)
    assert text == (f"AuditResult(issues={issues!r}, n_review_rows={len(result.review)}, "
                    f"scores='knn')")
    assert len(result.review) > 1 and "\n" not in text and "array" not in text


def test_cli_audit_refuses_a_repeated_id_with_one_message(tmp_path):
    """The CLI audit ran two checks of a corpus's ids in turn (the reader's, then
    audit_corpus's); the reader's names the file and both lines, and is the only one."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": doc_id, "text": text, "labels": ["x"]}) + "\n"
                              for doc_id, text in (("a", "cats"), ("b", "dogs"),
                                                   ("a", "birds"))))
    result = invoke("audit", corpus, "-o", tmp_path / "out", "--scores", "knn")
    assert result.exit_code == 3, result.output
    assert result.output.count("repeat") + result.output.count("is the id of") == 1
    assert f"{corpus}:3: the id 'a' is the id of the document at line 1 too" in result.output
    assert "doc_ids" not in result.output


def test_the_summary_counts_one_duplicate_pair_and_one_leak_in_the_singular(tmp_path):
    # "duplicates: 1 exact and 1 near pairs", "leakage into test: 1 exact, 1 near
    # duplicates of training documents"
    docs = ["the cat sat on the mat today\t<a> <b>", "The  cat sat on the MAT today\t<a>",
            "dogs run fast in the green park near the old river bank under the tall oak "
            "trees every sunny morning\t<b> <c>",
            "dogs run fast in the green park near the old river shore under the tall oak "
            "trees every sunny morning\t<b> <c> <a>",
            "stock markets fell sharply on monday\t<a> <b> <c>",
            "weather forecast predicts heavy rain\t<a>",
            "football team wins championship final\t<b>",
            "new recipe for chocolate cake baking\t<c>"]
    test = ["astronomy telescope reveals distant galaxy\t<c>",
            "Football team wins championship final\t<b>",
            "dogs run fast in the green park near the old river bank under the tall oak "
            "trees every rainy morning\t<b>"]
    corpus, split = tmp_path / "train.tsv", tmp_path / "test.tsv"
    corpus.write_text("\n".join(docs) + "\n", encoding="utf-8")
    split.write_text("\n".join(test) + "\n", encoding="utf-8")
    result = invoke("audit", corpus, "-o", tmp_path / "out", "--scores", "knn", "--no-html",
                    "--split", f"test={split}")
    assert result.exit_code == 0, result.output
    assert "duplicates: 1 exact and 1 near pair, 2 with conflicting labels\n" in result.output
    assert ("leakage into test: 1 exact, 1 near duplicate of training documents (of its 3 "
            "documents)\n") in result.output
    result = invoke("audit", corpus, "-o", tmp_path / "out2", "--scores", "knn", "--no-html",
                    "--split", f"test={split}", "--no-near-duplicates")
    assert result.exit_code == 0, result.output
    assert ("duplicates: 1 exact pair (near duplicates not looked for), 1 with conflicting "
            "labels\n") in result.output
    # one bracket: "(of its 3 documents) (near duplicates not looked for)" read as two
    assert ("leakage into test: 1 exact duplicate of training documents (of its 3 "
            "documents; near duplicates not looked for)\n") in result.output


def test_a_corpus_whose_every_label_key_names_a_label_says_so_in_words(tmp_path):
    """Reuters-21578 without a vocabulary: the page said "0 occurrences of 0 distinct
    keys named none (such as <>)" (with one, "0 occurrences of 0 distinct keys."): a
    count of nothing, in riddles; it says every key names a label."""
    docs = [f"{word} weather report number {i}\t<u:a>{' <u:b>' if i % 2 else ''}"
            for i, word in enumerate("rain sun cloud wind snow fog hail storm".split())]
    corpus, vocab = tmp_path / "train.tsv", tmp_path / "vocab.tsv"
    corpus.write_text("\n".join(docs) + "\n", encoding="utf-8")
    vocab.write_text("<u:a>\tA\n<u:b>\tB\n", encoding="utf-8")
    for name, extra, said in (
            ("derived", [], "No vocabulary was given: the labels are the corpus's own, and "
                            "every key names one (none is such as <code>&lt;&gt;</code>)."),
            ("given", ["--vocab", vocab], "None: every label key of the corpus names a "
                                          "label of the vocabulary.")):
        result = invoke("audit", corpus, *extra, "-o", tmp_path / name, "--scores", "knn",
                        "--no-plots")
        assert result.exit_code == 0, result.output
        page = (tmp_path / name / "report.html").read_text(encoding="utf-8")
        assert said in page and "0 occurrences" not in page, page


def test_without_a_vocabulary_the_page_does_not_speak_of_labels_missing_from_one(tmp_path):
    # "Labels missing from the vocabulary: 0 occurrences of 0 distinct keys." with the
    # label space derived from the corpus: as if every label had been checked against one
    docs = [f"{word} weather report number {i}\t<u:a>{' <u:b>' if i % 2 else ''}"
            for i, word in enumerate("rain sun cloud wind snow fog hail storm".split())]
    docs[3] += " <>"
    corpus, vocab = tmp_path / "train.tsv", tmp_path / "vocab.tsv"
    corpus.write_text("\n".join(docs) + "\n", encoding="utf-8")
    vocab.write_text("<u:a>\tA\n", encoding="utf-8")
    derived = invoke("audit", corpus, "-o", tmp_path / "derived", "--scores", "knn",
                     "--no-plots")
    assert derived.exit_code == 0, derived.output
    report = json.loads((tmp_path / "derived" / "report.json").read_text(encoding="utf-8"))
    unknown = report["labels"]["not_in_vocabulary"]
    assert (unknown["vocabulary"], unknown["n_occurrences"]) == (False, 1)
    page = (tmp_path / "derived" / "report.html").read_text(encoding="utf-8")
    assert "missing from the vocabulary" not in page
    assert ("<h3>Label keys that name no label</h3><p>No vocabulary was given: the labels "
            "are the corpus's own, and 1 occurrence of 1 distinct key named none") in page
    given = invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "given", "--scores",
                   "knn", "--no-plots")
    assert given.exit_code == 0, given.output
    report = json.loads((tmp_path / "given" / "report.json").read_text(encoding="utf-8"))
    unknown = report["labels"]["not_in_vocabulary"]
    assert (unknown["vocabulary"], unknown["n_occurrences"]) == (True, 5)  # 4 <u:b>, 1 <>
    page = (tmp_path / "given" / "report.html").read_text(encoding="utf-8")
    assert ("<h3>Labels missing from the vocabulary</h3><p>5 occurrences of 2 distinct "
            "keys.</p>") in page


def test_apply_review_help_names_every_decision_spelling():
    """``--help`` named accept/reject, yes/no, y/n, 1/0 and x, not ``true``/``false`` nor
    ``accepted``/``rejected``, which are honoured as well."""
    import re

    from tagsmith.audit.review import ACCEPT, REJECT

    shown = invoke("apply-review", "--help").output
    # a tick (\u2713, \u2714) accepts as well
    words = re.findall(r"[a-z0-9]+(?:\.[0-9]+)?|[\u2713\u2714]", shown.lower())
    assert (ACCEPT | REJECT) <= set(words)


def test_an_audit_of_few_distinct_texts_warns_its_bounds_say_nothing(tmp_path, caplog):
    """Three texts, each copied 40 times: the noise-rate bounds came out 1.0 (vacuous)
    and the calibration rested on two or three texts per fold, with no word of it. The
    audit names the distinct texts and labelled documents it had and the fewest at
    which its bounds inform (30 per calibration fold), in the log, report.json and the
    page; 60 distinct texts or more: no warning."""
    rng = np.random.default_rng(0)
    texts = ["apples and pears", "rain in spain", "cats on mats"] * 40
    Y = sp.csr_matrix(rng.random((len(texts), 3)) < 0.4)
    n_labelled = int(np.count_nonzero(np.diff(Y.indptr)))
    space = LabelSpace.from_uris(["u:0", "u:1", "u:2"])
    with caplog.at_level("WARNING", logger="tagsmith"):
        report = audit_corpus(texts, Y, space, options=AuditOptions(scores="knn")).report
    expected = (f"3 distinct texts among the {n_labelled} labelled documents: the noise-rate "
                "bounds and the calibration are not informative below 60 distinct labelled "
                "texts (30 per calibration fold, 2 folds)")
    assert report["noise"]["warning"] == expected
    assert report["noise"]["method"]["texts"] == {
        "n_distinct_labelled_texts": 3, "n_labelled_docs": n_labelled,
        "min_distinct_labelled_texts": 60, "warning": expected}
    assert [r.getMessage() for r in caplog.records if "distinct" in r.getMessage()] \
        == [f"audit: {expected}"]
    # 4 calibration folds need 120
    more = audit_corpus(texts, Y, space, options=AuditOptions(scores="knn",
                                                               calibration_folds=4)).report
    assert "below 120 distinct labelled texts (30 per calibration fold, 4 folds)" \
        in more["noise"]["warning"]

    corpus = tmp_path / "copies.tsv"
    corpus.write_text("".join(f"{t}\t<u:{j}>\n" for t, row in zip(texts, Y.toarray(), strict=True)
                              for j in np.flatnonzero(row)[:1]) , encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, ["audit", str(corpus), "-o",
                                                   str(tmp_path / "out"), "--scores", "knn",
                                                   "--no-plots"])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    warning = written["noise"]["warning"]
    assert warning.startswith("3 distinct texts among the ") and "below 60" in warning
    assert warning in " ".join(result.output.split())
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert f'<p class="warn"><b>Warning:</b> {warning}.</p>' in page

    distinct = [f"word{i} other{i % 7} text" for i in range(60)]
    Y60 = sp.csr_matrix((np.ones(60, bool), (np.arange(60), np.arange(60) % 3)), shape=(60, 3))
    report = audit_corpus(distinct, Y60, space, options=AuditOptions(scores="knn")).report
    assert report["noise"]["warning"] is None
    assert report["noise"]["method"]["texts"]["n_distinct_labelled_texts"] == 60


def test_an_audit_counts_no_blank_text_among_its_distinct_texts():
    """Three texts copied 40 times plus 60 blank labelled documents: each blank text was
    a group of its own, 63 distinct texts, and no warning though the bounds were as
    vacuous as without them. The blanks are left out of the count and named."""
    rng = np.random.default_rng(0)
    texts = ["apples and pears", "rain in spain", "cats on mats"] * 40 + ["", "  \t"] * 30
    dense = rng.random((len(texts), 3)) < 0.4
    dense[120:, 0] = True  # every blank document labelled
    Y = sp.csr_matrix(dense)
    n_labelled = int(np.count_nonzero(np.diff(Y.indptr)))
    space = LabelSpace.from_uris(["u:0", "u:1", "u:2"])
    report = audit_corpus(texts, Y, space, options=AuditOptions(scores="knn")).report
    assert report["noise"]["warning"] == (
        f"3 distinct texts among the {n_labelled} labelled documents (60 of them blank, "
        "which carry no evidence): the noise-rate bounds and the calibration are not "
        "informative below 60 distinct labelled texts (30 per calibration fold, 2 folds)")
    assert report["noise"]["method"]["texts"]["n_blank_labelled_docs"] == 60


@pytest.mark.parametrize("scores", ["crossfit", "knn"])
def test_an_audit_of_blank_texts_only_is_refused(scores, tmp_path):
    """A corpus whose every text is blank (empty or whitespace only) reported "estimated
    0.00% wrong" (a figure that measured nothing: a blank text carries no evidence) after
    warning of 0 distinct texts; it is refused naming the corpus, as train and label
    refuse one (exit code 3), and audit_corpus refuses such texts too."""
    corpus = tmp_path / "blank.jsonl"
    corpus.write_text("".join(json.dumps({"text": " " * (i % 2), "labels": ["ab"[i % 2]]})
                              + "\n" for i in range(30)), encoding="utf-8")
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in "ab":
        (folder / f"{name}.txt").write_text("\n", encoding="utf-8")
        (folder / f"{name}.key").write_text(f"<u:{name}>\n", encoding="utf-8")
    for given, n in ((corpus, "all 30 documents"), (folder, "all 2 documents")):
        out = tmp_path / "out"
        result = invoke("audit", given, "-o", out, "--scores", scores)
        assert result.exit_code == 3, result.output
        assert f"{given}: every document has a blank text (empty or whitespace only; {n}): " \
            "nothing to audit" in " ".join(result.output.split()), result.output
        assert "estimated" not in result.output
        assert not out.exists()
    space = LabelSpace.from_uris(["u:a", "u:b"])
    Y = sp.csr_matrix(np.eye(2, dtype=bool))
    with pytest.raises(DataError, match=r"^every document has a blank text .*all 2 documents"):
        audit_corpus(["", " \t"], Y, space, options=AuditOptions(scores=scores))


@pytest.mark.parametrize("where", ["corpus", "split", "derived"])
def test_a_vocabulary_given_as_the_audited_corpus_or_a_split_is_refused(
        where, small_corpus, goemotions_small, tmp_path):
    """A vocabulary TSV (<uri> TAB name) read as a corpus is 28 documents whose texts are
    URIs, each labelled by its own name: train, eval and calibrate refuse it, the audit
    audited it (a report on 28 "documents", a few-texts warning) and took it as a split."""
    vocab = goemotions_small["vocab"]
    out = tmp_path / "audit"
    args = {"corpus": (vocab, "--vocab", vocab),
            "split": (small_corpus, "--vocab", vocab, "--split", f"dev={vocab}"),
            "derived": (vocab,)}[where]
    result = invoke("audit", *args, "--scores", "knn", "-o", out)
    assert result.exit_code == 3, result.output
    assert f"{vocab}: every document's text is a lone <URI>: this is a vocabulary" \
        in result.output
    assert not out.exists()


@pytest.mark.parametrize("given", ["--vocab", "derived"])
def test_apply_review_refuses_a_vocabulary_given_as_the_corpus(given, goemotions_small,
                                                               tmp_path):
    """apply-review read a vocabulary TSV given as CORPUS as documents whose texts are
    URIs and wrote it out as a "reviewed" corpus, though the audit refuses to audit it
    (so no review can be of it)."""
    vocab = goemotions_small["vocab"]
    review = tmp_path / "review.csv"
    review.write_text("decision,kind,label_uri,doc,doc_key\n", encoding="utf-8")
    out = tmp_path / "fixed.tsv"
    result = invoke("apply-review", vocab, review, "-o", out,
                    *(("--vocab", vocab) if given == "--vocab" else ()))
    assert result.exit_code == 3, result.output
    assert f"{vocab}: every document's text is a lone <URI>: this is a vocabulary" \
        in result.output
    assert not out.exists()


def test_the_command_prints_the_low_signal_warning_as_it_prints_the_few_texts_one(
        small_corpus, small_audited, goemotions_small, tmp_path):
    """Scores that recover few given labels make the candidates unreliable: the log and
    the page said so, the command's own output did not (it printed the few-texts warning
    only), so under -q, which silences the log, nothing on the terminal did."""
    noise = _random_labels(small_corpus, goemotions_small["vocab"], tmp_path)
    result = invoke("audit", noise, "--vocab", goemotions_small["vocab"], "-o",
                    tmp_path / "out", "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))["scores"]
    assert f"warning: {scores['warning']}\n" in result.output
    # (300 GoEmotions texts, most given labels of labels under 20 documents: warned of
    # that alone)
    assert small_audited.exit_code == 0 and "unreliable" not in small_audited.output
    assert small_audited.output.count("warning: ") == 1
    assert "given labels (" in small_audited.output


def test_the_command_says_how_many_labels_the_vocabulary_lacks(small_corpus, small_audited,
                                                               goemotions_small, tmp_path):
    """Labels of the corpus missing from --vocab are not audited (a document whose every
    label is missing is audited as unlabelled): the page and report.json counted them,
    the command said so only in its log, so under -q nothing on the terminal did, though
    it prints the malformed lines it skipped."""
    vocab = tmp_path / "vocab.tsv"
    kept = [line for line in goemotions_small["vocab"].read_text(encoding="utf-8").splitlines()
            if ":neutral>" not in line and ":joy>" not in line]
    vocab.write_text("\n".join(kept) + "\n", encoding="utf-8")
    result = invoke("audit", small_corpus, "--vocab", vocab, "-o", tmp_path / "out",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    unknown = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8")
                         )["labels"]["not_in_vocabulary"]
    top = unknown["examples"][0]
    assert top["key"] == "<urn:goemotions:neutral>"
    assert (f"not in the vocabulary: {unknown['n_occurrences']} label occurrences of 2 "
            f"distinct keys (most often {top['key']} x{top['count']}), left out of the "
            "audit\n") in result.output
    assert small_audited.exit_code == 0, small_audited.output
    assert "not in the vocabulary" not in small_audited.output


def test_the_command_says_what_a_label_of_the_vocabulary_it_lacks_is_instead(
        small_corpus, goemotions_small, tmp_path):
    """Hand-tagged support tickets in a CSV, one intent a cell ("Billing issue"), were
    read as the labels 'Billing' and 'issue': the audit's last lines counted them "not in
    the vocabulary" and it audited a corpus stripped of its labels (83% missing), with
    nothing saying why; `train` refuses the first naming the label to write."""
    import csv

    vocab = tmp_path / "vocab.tsv"
    vocab.write_text(goemotions_small["vocab"].read_text(encoding="utf-8").replace(
        "\tjoy\n", "\tgreat joy\n"), encoding="utf-8")
    corpus = tmp_path / "small.csv"
    with corpus.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "labels"])
        for line in small_corpus.read_text(encoding="utf-8").splitlines():
            text, _, labels = line.partition("\t")
            writer.writerow([text, "|".join(labels.split()).replace(
                "<urn:goemotions:joy>", "great joy")])
    result = invoke("audit", corpus, "--vocab", vocab, "-o", tmp_path / "out",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    said = re.search(r"not in the vocabulary: .*left out of the audit(.*)\n",
                     result.output).group(1)
    assert re.fullmatch(r"; line \d+'s '(great|joy)': part of 'great joy', the label "
                        r"<urn:goemotions:joy> \('great joy'\), read as 2 labels as the cell "
                        r"is split at its spaces; write <urn:goemotions:joy> in its place, or end "
                        r"the cell with '\|' \('great joy\|', one label\)",
                        said), said


def test_an_audit_of_random_labels_withholds_its_bounds(tmp_path, caplog):
    """400 texts each given one of 20 labels at random (nearly every label wrong): the
    page and the command said "at most 4% wrong" (GoEmotions texts, 28 labels) with the
    counts at 0, an "at most" false by 20x. From scores that carry no signal the bounds
    are withheld, and report.json, the log, the command and the page say why."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(words, 8)) for _ in range(400)]
    labels = rng.integers(0, 20, len(texts))
    Y = sp.csr_matrix((np.ones(len(texts), bool), (np.arange(len(texts)), labels)),
                      shape=(len(texts), 20))
    space = LabelSpace.from_uris([f"u:{i}" for i in range(20)])
    with caplog.at_level("WARNING", logger="tagsmith"):
        noise = audit_corpus(texts, Y, space, options=AuditOptions(scores="knn")).report["noise"]
    assert noise["bounds"] is None
    assert noise["withheld_bounds"]["wrong_rate"] < 0.9  # under the truth: not a bound
    note = noise["bounds_note"]
    assert note.startswith("the noise-rate bounds (at most ") and "little signal" in note
    assert any(note in r.getMessage() for r in caplog.records)

    corpus = tmp_path / "random.tsv"
    corpus.write_text("".join(f"{t}\t<u:{j}>\n" for t, j in zip(texts, labels, strict=True)),
                      encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, ["audit", str(corpus), "-o",
                                                   str(tmp_path / "out"), "--scores", "knn",
                                                   "--no-plots"])
    assert result.exit_code == 0, result.output
    assert "at most" not in result.output.replace(note, "")
    assert note in " ".join(result.output.split())
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    shown = note.replace("<", "&lt;")
    assert f'<p class="warn"><b>No bounds:</b> {shown}.</p>' in page
    assert "wrong labels, at most" not in page and "Upper bounds" not in page


def test_few_texts_without_bounds_name_the_calibration_and_the_folds_used():
    """Five texts copied four times, cross-fitted over 10 folds asked for: the twins kept
    whole fill 5 folds, and report.json recorded 10; with 20 given labels (under the 60
    a bound needs) there were no bounds, yet the few-texts warning spoke of them."""
    texts = ["apples and pears", "rain in spain", "cats on mats", "dogs in fog",
             "sun and sand"] * 4
    Y = sp.csr_matrix(np.array([[i % 5 < 2, i % 5 >= 2] for i in range(20)]))
    report = audit_corpus(texts, Y, LabelSpace.from_uris(["u:a", "u:b"]),
                          options=AuditOptions(scores="crossfit", n_folds=10)).report
    assert report["scores"]["n_folds"] == 5 and report["scores"]["n_folds_requested"] == 10
    assert report["noise"]["bounds"] is None
    assert report["noise"]["warning"] == (
        "5 distinct texts among the 20 labelled documents: the calibration is not "
        "informative below 60 distinct labelled texts (30 per calibration fold, 2 folds)")
    # folds that all hold documents: no n_folds_requested
    whole = audit_corpus(texts, Y, LabelSpace.from_uris(["u:a", "u:b"]),
                         options=AuditOptions(scores="crossfit", n_folds=5)).report
    assert whole["scores"]["n_folds"] == 5 and "n_folds_requested" not in whole["scores"]


def test_blank_documents_labels_are_no_candidates():
    """A blank text carries no evidence for or against a label: its given labels were
    flagged "wrong" at 0.9 and more, first in the review queue (GoEmotions with blank
    texts), on nothing but the scores' silence. They are left out of the candidates."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 320)
    texts = [f"topic{j} " + " ".join(rng.choice([f"w{i}" for i in range(50)], 5))
             for j in labels]
    for i in range(300, 320):
        texts[i] = "" if i % 2 else "   "
    Y = sp.csr_matrix((np.ones(len(texts), bool), (np.arange(len(texts)), labels)),
                      shape=(len(texts), 5))
    result = audit_corpus(texts, Y, LabelSpace.from_uris([f"u:{i}" for i in range(5)]),
                          options=AuditOptions(scores="knn", min_probability=0.01))
    assert result.issues.n_flagged > 0
    assert not np.isin(result.issues.doc, np.arange(300, 320)).any()
    assert all(row["text"].strip() for row in result.review)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize("folder, refusal", [
    ("/proc/tagsmith-no-audit", "cannot create the folder"),
    ("/proc", "cannot create a folder in it to write the audit in")])
def test_an_output_folder_that_refuses_the_mkdir_is_an_output_error(small_result, folder,
                                                                     refusal):
    """/proc passes the writability check for root, then refuses the mkdir: writing the
    audit there ended in a FileNotFoundError traceback (exit code 1), after the audit.
    It is now bad output naming the folder (exit code 3), whoever runs it; so is a folder
    that exists (/proc itself) and refuses the staging folder made in it."""
    from tagsmith.exceptions import DataError

    with pytest.raises(DataError, match=f"^{re.escape(folder)}: {refusal}") as info:
        small_result.write(folder, html=False)
    assert info.value.exit_code == 3


@pytest.mark.parametrize("existed", [False, True], ids=["new", "existing"])
def test_a_refused_staging_folder_leaves_no_output_folder_the_run_created(
        small_result, tmp_path, monkeypatch, existed):
    """The output folder's mkdir succeeded, the staging folder in it then failed: the
    new, empty output folder (and the parents made for it) was left behind. The
    folders the run created are removed; one that existed is kept. Fault injection:
    as root, no permission makes the staging folder fail."""
    import errno

    from tagsmith.exceptions import DataError
    from tagsmith.pipeline import audit

    def refuse(folder, prefix):
        raise OSError(errno.EACCES, "Permission denied", str(folder))

    monkeypatch.setattr(audit, "make_staging", refuse)
    folder = tmp_path / "existing" if existed else tmp_path / "new" / "audit"
    if existed:
        folder.mkdir()
    with pytest.raises(DataError, match="cannot create a folder in it to write the audit"):
        small_result.write(folder, html=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == (["existing"] if existed
                                                                 else [])


def _limit_file_size(n_bytes):
    """A ``preexec_fn`` that makes the child's writes past ``n_bytes`` fail with EFBIG
    (``ulimit -f``; Python ignores SIGXFSZ), as a full disk fails them with ENOSPC."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                      (n_bytes, resource.RLIM_INFINITY))


def test_an_output_that_cannot_be_written_is_named_and_the_old_outputs_stay(
        small_corpus, goemotions_small, tmp_path):
    # a full disk (here a file size limit) while writing the audit or the reviewed
    # corpus said "error: writing the output: No space left on device", as for stdout,
    # not which file; the audit's named its staging folder's file, a name never given
    import subprocess

    vocab = str(goemotions_small["vocab"])
    out = tmp_path / "audit"
    audit = ["audit", small_corpus, "--vocab", vocab, "-o", out, "--scores", "knn",
             "--no-html"]
    assert invoke(*audit).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    command = [sys.executable, "-m", "tagsmith", "-q"]
    result = subprocess.run([*command, *map(str, audit)], capture_output=True, text=True,
                            preexec_fn=_limit_file_size(1000))
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"error: {out / 'report.json'}: File too large"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no staging left
    reviewed = tmp_path / "reviewed.tsv"
    reviewed.write_text("the old reviewed corpus\t<urn:goemotions:joy>\n", encoding="utf-8")
    result = subprocess.run([*command, "apply-review", str(small_corpus),
                             str(out / "review.csv"), "-o", str(reviewed), "--force",
                             "--vocab", vocab], capture_output=True, text=True,
                            preexec_fn=_limit_file_size(1000))
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"error: {reviewed}: File too large"
    assert reviewed.read_text(encoding="utf-8") == \
        "the old reviewed corpus\t<urn:goemotions:joy>\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit", "reviewed.tsv"]


def _numbered_folds(n_folds: int, seed: int) -> np.ndarray:
    """The cross-fitting folds the audit draws for the corpus "text number 0" to "text
    number 9": over the documents in content order (the same for the file in any order;
    its labels only break ties of equal texts, none here)."""
    from tagsmith.audit.duplicates import exact_groups, text_hashes
    from tagsmith.pipeline.audit import _fold_drawer, content_order

    texts = [f"text number {i}" for i in range(10)]
    hashes = text_hashes(texts)
    options = AuditOptions(n_folds=n_folds, seed=seed)
    options.validate()
    order = content_order(hashes, texts, sp.csr_matrix((10, 2), dtype=bool))
    return _fold_drawer(10, options, exact_groups(hashes), order)()


def test_an_audit_whose_folds_put_every_labelled_document_in_one_is_refused_first(
        tmp_path, monkeypatch, caplog):
    """Two labelled texts that --seed's folds put in one fold: that fold's model had
    nothing to learn, refused naming a parameter 'Y' no command line has (exit code 2)
    and told to try fewer folds, where --folds 2 is the fewest. The folds are drawn
    before the features (a lone labelled text was refused after them too), and a seed
    that parts them audits."""
    from tagsmith.pipeline import audit

    together = [seed for seed in range(20) if len(set(_numbered_folds(2, seed)[:2])) == 1]
    apart = [seed for seed in range(20) if seed not in together]
    corpus, out = tmp_path / "c.tsv", tmp_path / "out"
    corpus.write_text("".join(f"text number {i}\t{label}\n" for i, label in enumerate(
        ["<u:a>", "<u:b>"] + [""] * 8)), encoding="utf-8")
    featurized = []
    real_features = audit._features
    monkeypatch.setattr(audit, "_features",
                        lambda *a, **k: featurized.append(1) or real_features(*a, **k))
    result = invoke("audit", corpus, "-o", out, "--no-html", "--scores", "crossfit",
                    "--folds", 2, "--seed", together[0])
    assert result.exit_code == 3, result.output
    fold = _numbered_folds(2, together[0])[0] + 1
    assert (f"{corpus}: cross-fitting with --seed {together[0]} puts both labelled "
            f"documents in fold {fold} of 2, which leaves its fold model none to learn "
            "from; give another --seed, more labelled documents or --scores knn") in \
        result.output
    assert "'Y'" not in result.output and "AuditOptions" not in result.output
    assert not featurized
    # audit_corpus names its own parameters: it said "--seed" and "--scores knn (seed and
    # scores in AuditOptions)", as the command line did
    with pytest.raises(DataError) as caught:
        audit_corpus([f"text number {i}" for i in range(10)],
                     sp.csr_matrix(np.eye(10, 2, dtype=bool)), LabelSpace.from_uris(
                         ["u:a", "u:b"]),
                     options=AuditOptions(scores="crossfit", n_folds=2, seed=together[0]))
    assert str(caught.value) == (
        f"cross-fitting with seed {together[0]} puts both labelled documents in fold {fold} "
        "of 2, which leaves its fold model none to learn from; give another seed, more "
        "labelled documents or scores knn (leave-one-out kNN, no folds)")
    # --scores auto picked cross-fitting, then refused the corpus telling the user to
    # pass --scores knn: it takes the kNN scores, saying why
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [  # not -q: its info lines logged
            "audit", str(corpus), "-o", str(out), "--no-html", "--no-plots", "--folds", "2",
            "--seed", str(together[0])])
    assert result.exit_code == 0, result.output
    assert f"--scores auto: the folds of --seed {together[0]} put both labelled documents " \
        f"in fold {fold} of --folds 2, which cross-fitting cannot score: auditing with " \
        "--scores knn (leave-one-out kNN, no folds) instead; the --folds 2 given is not " \
        "used" in [record.getMessage() for record in caplog.records
                   if record.levelno == logging.WARNING]
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["scores"][
        "source"] == "knn"
    shutil.rmtree(out)
    featurized.clear()
    corpus.write_text("".join(f"text number {i}\t{label}\n" for i, label in enumerate(
        ["<u:a>"] + [""] * 9)), encoding="utf-8")
    result = invoke("audit", corpus, "-o", out, "--no-html", "--scores", "crossfit")
    assert result.exit_code == 3 and "1 labelled document:" in result.output, result.output
    assert not featurized
    corpus.write_text("".join(f"text number {i}\t{label}\n" for i, label in enumerate(
        ["<u:a>", "<u:b>"] + [""] * 8)), encoding="utf-8")
    assert invoke("audit", corpus, "-o", out, "--no-html", "--scores", "crossfit",
                  "--folds", 2, "--seed", apart[0]).exit_code == 0


@pytest.mark.parametrize("given, warned", [
    ([], False), (["--seed", "3"], False), (["--folds", "10"], True),
    (["--folds", "5"], True)])
def test_scores_auto_that_cannot_cross_fit_warns_of_the_folds_given(tmp_path, caplog, given,
                                                                    warned):
    """--scores auto on a corpus too small for the folds fell back to the kNN scores
    with an info line, as it does for the default folds, ignoring a --folds the user
    gave: a warning now says so, naming --folds (the default folds keep the info line;
    --seed, which seeds the calibration folds too, is used either way)."""
    corpus, out = tmp_path / "c.tsv", tmp_path / "out"
    corpus.write_text("".join(f"document number {i} about things\t<u:a>\n" for i in range(4)),
                      encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "audit", str(corpus), "-o", str(out), "--no-html", "--no-plots", *given])
    assert result.exit_code == 0, result.output
    folds = given[1] if given[:1] == ["--folds"] else "5"
    said = {record.getMessage(): record.levelno for record in caplog.records
            if record.getMessage().startswith("--scores auto:")}
    reason = (f"--scores auto: the corpus has 4 documents, fewer than --folds {folds}, which "
              "cross-fitting cannot score: auditing with --scores knn (leave-one-out kNN, no "
              "folds) instead")
    warnings = json.loads((out / "report.json").read_text(encoding="utf-8"))["warnings"]
    if warned:
        assert said == {f"{reason}; the --folds {folds} given is not used": logging.WARNING}
        # report.json names the Python API's fields, as its meta.options does
        assert warnings == [f"scores auto: the corpus has 4 documents, fewer than n_folds "
                            f"{folds}, which cross-fitting cannot score: auditing with scores "
                            f"knn (leave-one-out kNN, no folds) instead; the n_folds {folds} "
                            "given is not used"]
    else:
        assert said == {reason: logging.INFO}
        assert warnings == []


@pytest.mark.parametrize("n_folds, warned", [(None, False), (10, True), (5, True)])
def test_scores_auto_warns_python_callers_of_the_folds_given_too(caplog, n_folds, warned):
    """The command line passed audit_corpus a private ``_given`` (in its public
    signature) to have a --folds auto does not use warned of; AuditOptions(n_folds=10)
    from Python drew an info line only, and report.json had no word of it. The options
    record whether n_folds was given (None: the default); the warning is in the
    report's warnings."""
    import inspect

    assert "_given" not in inspect.signature(audit_corpus).parameters
    options = AuditOptions() if n_folds is None else AuditOptions(n_folds=n_folds)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        result = audit_corpus([f"document number {i} about things" for i in range(4)],
                              sp.csr_matrix(np.ones((4, 1), dtype=bool)),
                              LabelSpace.from_uris(["u:a"]), options=options)
    said = [(record.getMessage(), record.levelno) for record in caplog.records
            if record.getMessage().startswith("scores auto:")]
    folds = n_folds or 5
    reason = (f"scores auto: the corpus has 4 documents, fewer than n_folds {folds}, which "
              "cross-fitting cannot score: auditing with scores knn (leave-one-out kNN, no "
              "folds) instead")
    if warned:
        warning = f"{reason}; the n_folds {folds} given is not used"
        assert said == [(warning, logging.WARNING)]
        assert result.report["warnings"] == [warning]
    else:
        assert said == [(reason, logging.INFO)] and result.report["warnings"] == []
    assert result.report["meta"]["options"]["n_folds"] == folds
    assert result.report["meta"]["options"]["seed"] == 0
    options.validate()  # validated again: the default stays the default
    assert options.was_given("n_folds") == warned and not options.was_given("seed")


def test_options_validated_once_and_copied_with_replace_keep_their_defaults_unasked(caplog):
    """audit_corpus validates the caller's options in place (n_folds None reads 5); a
    copy of them with ``dataclasses.replace`` (the way to vary one option of a sweep)
    took that 5 for one the caller gave, and scores auto warned 'the n_folds 5 given is
    not used' of folds nobody asked for. Options never validated were 'given' too."""
    import dataclasses

    texts = [f"document number {i} about things" for i in range(4)]
    Y, space = sp.csr_matrix(np.ones((4, 1), dtype=bool)), LabelSpace.from_uris(["u:a"])
    options = AuditOptions()
    assert not options.was_given("n_folds") and not options.was_given("seed")
    audit_corpus(texts, Y, space, options=options)
    assert options.n_folds == 5 and not options.was_given("n_folds")
    copied = dataclasses.replace(options, k=1)
    assert copied == dataclasses.replace(options, k=1) and "_defaulted" not in repr(copied)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        result = audit_corpus(texts, Y, space, options=copied)
    assert result.report["warnings"] == [], result.report["warnings"]
    assert not copied.was_given("n_folds") and not copied.was_given("seed")
    assert "_defaulted" not in result.report["meta"]["options"]
    assert result.report["meta"]["options"]["n_folds"] == 5
    # a value given in the copy is given
    ten = dataclasses.replace(options, n_folds=10)
    ten.validate()
    assert ten.was_given("n_folds") and not ten.was_given("seed")


def test_scores_auto_choosing_knn_for_many_labels_warns_of_the_folds_given(tmp_path, caplog):
    """--scores auto takes the kNN scores for a label space above 100 labels: a --folds
    the user gave was ignored without a word (--model is refused there)."""
    corpus, out = tmp_path / "c.tsv", tmp_path / "out"
    corpus.write_text("".join(f"document number {i} about things\t<u:l{i}>\n"
                              for i in range(101)), encoding="utf-8")
    for given, level in (([], None), (["--folds", "3"], logging.WARNING)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "audit", str(corpus), "-o", str(out), "--no-html", "--no-plots", "--force",
                *given])
        assert result.exit_code == 0, result.output
        said = [(record.getMessage(), record.levelno) for record in caplog.records
                if "--folds" in record.getMessage()]
        assert said == ([] if level is None else [(
            "--scores auto chose knn (leave-one-out kNN, no folds) for 101 documents and 101 "
            "labels: the --folds 3 given is not used", level)])


def test_scores_auto_warns_where_the_seed_given_draws_folds_that_cannot_teach(tmp_path,
                                                                             caplog):
    """--seed's folds putting every labelled document in one fold: --scores auto took
    the kNN scores with an info line, which a user who chose that --seed did not see
    as a warning; the default seed keeps the info line."""
    together = [seed for seed in range(50) if len(set(_numbered_folds(5, seed)[:2])) == 1]
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"text number {i}\t{label}\n" for i, label in enumerate(
        ["<u:a>", "<u:b>"] + [""] * 8)), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "audit", str(corpus), "-o", str(tmp_path / "out"), "--no-html", "--no-plots",
            "--seed", str(together[0])])
    assert result.exit_code == 0, result.output
    fold = _numbered_folds(5, together[0])[0] + 1
    assert [(record.getMessage(), record.levelno) for record in caplog.records
            if record.getMessage().startswith("--scores auto")] == [(
                f"--scores auto: the folds of --seed {together[0]} put both labelled "
                f"documents in fold {fold} of --folds 5, which cross-fitting cannot score: "
                "auditing with --scores knn (leave-one-out kNN, no folds) instead",
                logging.WARNING)]


def test_a_folder_file_gone_missing_is_no_malformed_line_of_the_audit(small_corpus,
                                                                      goemotions_small,
                                                                      tmp_path, monkeypatch):
    """A folder's document deleted after the listing was "skipped 1 malformed line" in the
    audit's summary, in report.json's count and on the page, and so was the only one of
    an empty folder "no documents to audit (1 malformed line skipped)"."""
    from tagsmith.data import readers

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, line in enumerate(small_corpus.read_text(encoding="utf-8").splitlines()[:120]):
        text, labels = line.split("\t")
        (docs / f"d{i:03d}.txt").write_text(text, encoding="utf-8")
        (docs / f"d{i:03d}.tsv").write_text(labels.replace(" ", "\n") + "\n",
                                            encoding="utf-8")
    real = readers._list_documents

    def listing_a_file_then_gone(path):
        listed, *rest = real(path)  # the documents, then the sidecars and more
        return ([*listed, Path(path) / "zgone.txt"], *rest)

    monkeypatch.setattr(readers, "_list_documents", listing_a_file_then_gone)
    out = tmp_path / "out"
    result = invoke("audit", docs, "--vocab", goemotions_small["vocab"], "-o", out,
                    "--scores", "knn", "--no-plots", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert "skipped 1 file that went missing (--on-error skip): give apply-review " \
        "--on-error skip too" in result.output
    assert "malformed" not in result.output
    read = json.loads((out / "report.json").read_text(encoding="utf-8"))["meta"]["read"]
    assert (read["n_skipped_lines"], read["n_missing_files"]) == (1, 1)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "1 file skipped that went missing (listed below)" in page
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("audit", empty, "--vocab", goemotions_small["vocab"], "-o",
                    tmp_path / "out2", "--scores", "knn", "--on-error", "skip")
    assert result.exit_code == 3
    assert "no documents to audit (1 file skipped that went missing)" in result.output


@pytest.mark.parametrize("args, options, message", [
    (["-p", "C=abc"], {"scores": "crossfit", "model_params": {"C": "abc"}},
     "parameter 'C' must be a number > 0, got 'abc'"),
    (["-p", "foo=1"], {"scores": "crossfit", "model_params": {"foo": "1"}},
     "parameter 'foo' must be a parameter of model 'linear'"),
    (["--model", "knn", "-p", "n_neighbors=0"],
     {"scores": "crossfit", "model": "knn", "model_params": {"n_neighbors": 0}},
     "parameter 'n_neighbors' must be an integer >= 1, got 0"),
    (["--scores", "knn", "-p", "n_neighbors=0"],
     {"scores": "knn", "knn_params": {"n_neighbors": 0}},
     "parameter 'n_neighbors' must be an integer >= 1, got 0"),
])
def test_a_bad_model_parameter_is_refused_before_the_features_naming_its_option(
        monkeypatch, tmp_path, args, options, message):
    """``audit -p C=abc`` built the features, then said "parameter 'C' must be ...",
    naming no option (train and distill name it)."""
    import tagsmith.pipeline.audit as audit_module

    def no_features(*args, **kwargs):
        raise AssertionError("built the features before refusing the parameter")

    monkeypatch.setattr(audit_module, "_features", no_features)
    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"text {i} word{i % 3}\t<u:{i % 3}>\n" for i in range(30)),
                      encoding="utf-8")
    result = invoke("audit", corpus, "-o", tmp_path / "out", "--no-html", *args)
    assert result.exit_code == 2, result.output
    assert f"error: option '--param': {message}" in result.output, result.output
    assert not (tmp_path / "out").exists()
    # the Python API refuses them before the features too, naming the parameter alone
    space = LabelSpace.from_uris(["u:0", "u:1", "u:2"])
    Y = sp.csr_matrix((np.ones(30, bool), (np.arange(30), np.arange(30) % 3)), shape=(30, 3))
    with pytest.raises(InvalidParameterError, match=f"^{re.escape(message)}"):
        audit_corpus([f"text {i}" for i in range(30)], Y, space,
                     options=AuditOptions(**options))


def test_parameters_given_with_a_bundle_are_checked_against_the_bundle_s_model(tmp_path):
    # the bundle's model family, not linear, is the one cross-fitting fits: a kNN
    # bundle's n_neighbors passes, and a bad value of it is refused before the features
    space = LabelSpace.from_uris(["u:0", "u:1", "u:2"])
    texts = [f"text {i} word{i % 3}" for i in range(30)]
    Y = sp.csr_matrix((np.ones(30, bool), (np.arange(30), np.arange(30) % 3)), shape=(30, 3))
    classifier = train_classifier(texts, Y, space, options=TrainOptions(
        model="knn", dev_fraction=0.0, featurizer_params=FAST_FEATURES))
    from tagsmith.pipeline.audit import check_score_params

    check_score_params(AuditOptions(model_params={"n_neighbors": 3}), classifier)
    with pytest.raises(InvalidParameterError, match="'n_neighbors' must be an integer"):
        check_score_params(AuditOptions(model_params={"n_neighbors": 0}), classifier)
    with pytest.raises(InvalidParameterError, match="of model 'linear'"):
        check_score_params(AuditOptions(model_params={"n_neighbors": 3}))


def test_the_command_says_its_figures_say_little_where_most_labels_are_unknown(
        small_corpus, goemotions_small, tmp_path):
    """A corpus most of whose label occurrences the vocabulary lacks (a CSV of one intent
    a cell read as its words) was audited "83% missing" and its last lines said only how
    many were left out; -q silences the warning, so the last line says the share too."""
    corpus = tmp_path / "other.tsv"
    corpus.write_text(small_corpus.read_text(encoding="utf-8").replace(
        "<urn:goemotions:", "<urn:other:").replace("<urn:other:neutral>",
                                                   "<urn:goemotions:neutral>"),
        encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", goemotions_small["vocab"], "-o",
                    tmp_path / "out", "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    said = re.search(r"not in the vocabulary: .*\n", result.output).group(0)
    assert re.search(r", \d+% of the label occurrences: the figures above say little, left "
                     "out of the audit", said), said


def test_audit_says_a_bound_was_raised_to_the_candidates_it_flagged(
        small_corpus, goemotions_small, tmp_path, monkeypatch):
    """Reuters-21578's audit printed "at most ... 0.25% missing labels" (23.6) and flagged
    33 missing candidates, 22 of them confirmed by a reviewer: the command says what the
    bounds assume, and that a bound mixture proportion read under the likely flagged
    candidates was raised to them."""
    import tagsmith.audit.detect as detect

    real = detect.mixture_bounds

    def too_low(*args):
        bounds = real(*args)
        return bounds and {**bounds, "missing_rate": 0.0, "est_missing": 0.0}

    monkeypatch.setattr(detect, "mixture_bounds", too_low)
    out = tmp_path / "out"
    result = invoke("audit", small_corpus, "--vocab", goemotions_small["vocab"], "-o", out,
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    bounds = json.loads((out / "report.json").read_text(encoding="utf-8"))["noise"]["bounds"]
    n_missing = bounds["n_flagged_likely"]["missing"]
    assert n_missing > 0 and bounds["raised_to_flagged"] == ["missing"]
    assert "bounds, if errors fall at random: labels left off by habit go uncounted" \
        in result.output
    assert (f"the missing bound is raised to the {n_missing} flagged candidates more likely "
            "errors than not (mixture proportion read 0.0, under them)") in result.output


def test_the_share_of_unknown_labels_is_never_rounded_up_to_all(caplog):
    """999 of 1,000 label occurrences unknown was warned as "(100%)", as if the
    vocabulary knew none (which the audit refuses): the share is rounded to nearest
    but never up to 100% (nor down to 0%)."""
    import logging
    from collections import Counter
    from types import SimpleNamespace

    from tagsmith.pipeline.audit import _warn_mostly_unknown

    data = SimpleNamespace(Y=sp.csr_matrix(np.ones((1, 1), bool)),
                           unknown_labels=Counter({"k": 999}), unknown_hint="")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        _warn_mostly_unknown(data, 999, "c.tsv", "v.ttl")
    assert "999 of its 1,000 label occurrences (99%)" in caplog.text


def test_an_audit_hands_a_skipped_key_to_look_for_hint_only_when_one_is_wanted(
        tmp_path, monkeypatch):
    """An audit read built "line N" for every skipped unknown key and handed it to
    look_for_hint to be turned away (a key seen before, one hint_due passes over, any
    once a hint was found): an audit of another vocabulary's corpus skips hundreds of
    thousands. It now asks first, as Corpus does; the hint is the same."""
    from tagsmith.data.corpus import FIRST_HINT_TRIES, ReadReport

    calls = []
    look = ReadReport.look_for_hint
    monkeypatch.setattr(ReadReport, "look_for_hint",
                        lambda self, key, *a, **k: calls.append(key) or look(self, key, *a, **k))
    space = LabelSpace.from_uris([f"http://x/{i}" for i in range(5)])
    corpus = tmp_path / "uris.tsv"
    corpus.write_text("".join(f"t{i}\t<http://x/1> <http://y/{i}> <http://y/all>\n"
                              for i in range(40)), encoding="utf-8")
    data = read_audit_corpus(corpus, space)
    assert data.Y.toarray()[:, 1].tolist() == [1] * 40
    assert sum(data.unknown_labels.values()) == 80
    # 41 distinct keys (http://y/0 to 39 and all): the first 20 tried, and the 32nd
    assert len(calls) == FIRST_HINT_TRIES + 1
    # a hint found (a name in another case): no call after it
    calls.clear()
    named = LabelSpace.from_uris(["http://x/0", "http://x/1"], names={"http://x/1": "Rain"})
    corpus.write_text("".join(f"t{i}\train\n" for i in range(10)), encoding="utf-8")
    data = read_audit_corpus(corpus, named)
    assert calls == ["rain"]
    assert data.unknown_hint is not None and "line 1's 'rain'" in data.unknown_hint



def _corpus_of_labels(path, n_labels, rng):
    """300 documents of 2 labels each among ``n_labels``, whose words name them."""
    lines = []
    for _ in range(300):
        labels = rng.sample(range(n_labels), 2)
        words = [f"w{lab}{rng.choice('ab')}" for lab in labels for _ in range(2)]
        words += [f"noise{rng.randint(0, 30)}" for _ in range(3)]
        lines.append(" ".join(words) + "\t" + " ".join(f"<urn:x:L{lab}>" for lab in labels))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_audit_warns_when_most_given_labels_are_too_rare_for_its_scores_to_judge(tmp_path):
    """20,000 YSO-indexed titles whose median label has 3 documents were reported "at most
    17.09% wrong and 49.80% missing" with 8,397 labels flagged, and nothing said that
    scores learnt from 3 documents of a label cannot judge it. Where more than half the
    given labels are of labels under the noise section's label_min_support, the audit
    warns (the command's output, report.json's noise section, the page), naming what to
    do; a corpus of frequent labels gets no such warning."""
    import random

    rng = random.Random(4)
    # 150 labels: about 4 documents a label
    corpus = _corpus_of_labels(tmp_path / "rare.tsv", 150, rng)
    out = tmp_path / "out"
    result = invoke("audit", corpus, "-o", out, "--scores", "knn", "--no-plots")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert re.search(r"warning: 600 of the 600 given labels \(100.0%\) are of labels given "
                     r"to fewer than 20 documents \(the median label: \d+ documents\)",
                     said), said
    assert "--review-sample N" in said and "a larger corpus" in said
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    note = report["noise"]["rare_labels_note"]
    assert note.startswith("600 of the 600 given labels") and note in said
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "fewer than 20 documents (the median label:" in html
    # 10 labels: about 60 documents a label
    frequent = _corpus_of_labels(tmp_path / "frequent.tsv", 10, rng)
    result = invoke("audit", frequent, "-o", tmp_path / "out2", "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    assert "given labels" not in " ".join(result.output.split()), result.output
    report = json.loads((tmp_path / "out2" / "report.json").read_text(encoding="utf-8"))
    assert report["noise"]["rare_labels_note"] is None


def test_audit_warns_that_a_small_corpus_inflates_its_noise_figures(goemotions_small,
                                                                   tmp_path):
    """500 GoEmotions comments, 5% wrong and 10% missing labels planted, were reported "at
    most 53.90% wrong and 70.21% missing" with 155 wrong labels flagged (21 of them
    planted), and nothing said that on so few documents such bounds may say more of the
    scores than of the errors. Under SMALL_CORPUS_TEXTS distinct labelled texts, with a
    bound of at least SMALL_CORPUS_WIDE_BOUND, the audit says so (the command's output,
    report.json's noise section, the page), naming what to do; a small corpus whose
    labels the scores separate (bounds under it) gets no such warning, nor does one
    under the few-texts minimum, or one warned of its rare labels, which keep their own
    warnings alone."""
    import random

    from tagsmith.pipeline.audit import SMALL_CORPUS_TEXTS, SMALL_CORPUS_WIDE_BOUND

    lines = goemotions_small["train"].read_text(encoding="utf-8").splitlines()
    corpus = tmp_path / "comments.tsv"
    corpus.write_text("".join(line + "\n" for line in lines[:1000]), encoding="utf-8")
    out = tmp_path / "out"
    # 1,000 GoEmotions comments, cross-fitted (the default): a bound over 35%
    result = invoke("audit", corpus, "--vocab", goemotions_small["vocab"], "-o", out,
                    "--no-plots")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    n_texts = report["noise"]["method"]["texts"]["n_distinct_labelled_texts"]
    bounds = report["noise"]["bounds"]
    assert 60 <= n_texts < SMALL_CORPUS_TEXTS
    assert max(bounds["wrong_rate"], bounds["missing_rate"]) >= SMALL_CORPUS_WIDE_BOUND
    note = report["noise"]["small_corpus_note"]
    assert note.startswith(f"{n_texts:,} distinct labelled texts, fewer than "
                           f"{SMALL_CORPUS_TEXTS:,}, bounded at "
                           f"{100 * bounds['wrong_rate']:.2f}% wrong and "
                           f"{100 * bounds['missing_rate']:.2f}% missing labels: ")
    assert "may say more of how poorly the scores learnt" in note
    assert "--review-sample N" in note and f"warning: {note}" in said
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("may say more of how poorly the scores learnt") == 2  # overview, noise
    # the noise section led with confident learning's rates (71.97% missing at 500
    # comments) and a document quality of 0.24, the bounds and the warning below them:
    # now the bounds and the warning lead, and the rates follow, said to be inflated
    section = html[html.index(">Label noise<"):]
    bounds_at = section.index("Upper bounds by mixture proportion: at most")
    warned_at = section.index("may say more of how poorly the scores learnt")
    inflated_at = section.index("Confident learning's estimates, inflated at this size")
    assert bounds_at < warned_at < inflated_at
    assert "<p>Estimated " not in section
    # and the bounds compare themselves with the counts below them, not "above"
    assert "than the count below" in section or "than the counts below" in section
    assert "than the count above" not in section and "than the counts above" not in section
    assert "It reads confident learning's rates, inflated at this size" in section
    # 300 texts whose words name their labels: narrow bounds, nothing to warn of
    separated = _corpus_of_labels(tmp_path / "separated.tsv", 10, random.Random(5))
    result = invoke("audit", separated, "-o", tmp_path / "out2", "--no-html")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out2" / "report.json").read_text(encoding="utf-8"))
    assert report["noise"]["method"]["texts"]["n_distinct_labelled_texts"] == 300
    assert max(report["noise"]["bounds"]["wrong_rate"],
               report["noise"]["bounds"]["missing_rate"]) < SMALL_CORPUS_WIDE_BOUND
    assert report["noise"]["small_corpus_note"] is None
    assert "may say more of how poorly" not in result.output

    def audit_first(n, name):
        """The audit of the first ``n`` comments, and its report's noise section."""
        path = tmp_path / f"{name}.tsv"
        path.write_text("".join(line + "\n" for line in lines[:n]), encoding="utf-8")
        result = invoke("audit", path, "--vocab", goemotions_small["vocab"], "-o",
                        tmp_path / f"out_{name}", "--no-html")
        assert result.exit_code == 0, result.output
        report = tmp_path / f"out_{name}" / "report.json"
        return result, json.loads(report.read_text(encoding="utf-8"))["noise"]

    # 40 texts: the few-texts warning says the figures are not informative at all
    result, noise = audit_first(40, "few")
    assert noise["method"]["texts"]["warning"]
    assert noise["small_corpus_note"] is None
    assert "may say more of how poorly" not in result.output
    # 300 comments, most given labels of labels under 20 documents: warned of that alone
    result, noise = audit_first(300, "rare")
    assert noise["rare_labels_note"] and noise["bounds"]["wrong_rate"] >= SMALL_CORPUS_WIDE_BOUND
    assert noise["small_corpus_note"] is None and result.output.count("warning: ") == 1


def test_the_small_corpus_note_quotes_the_readmes_small_corpus_table():
    """The small-corpus warning quoted the GoEmotions slices as bounded at 24-63% wrong,
    11-33% of their flagged wrong labels planted, after the README's table was remeasured
    with each seed on its own slice (24-55%, and a 500-comment run at 10%): the figures it
    quotes are the ranges of the README's GoEmotions rows of 500 to 5,000 comments."""
    from tagsmith.pipeline.audit import _small_corpus_note

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Auditing a small corpus"):]
    section = section[:section.index("\n### ", 4)]
    rows = [line.split("|")[1:-1] for line in section.splitlines()
            if re.match(r"\| GoEmotions [\d,]+ \|", line)]
    assert len(rows) >= 4

    def spread(cell):
        """(low, high) of a cell's median and range, e.g. ``54% (46-55%)``."""
        figures = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", cell)]
        return min(figures), max(figures)

    wrong, missing, planted = [], [], []
    for cells in rows:
        bounds_wrong, bounds_missing = cells[6].split(" / ")
        wrong += spread(bounds_wrong)
        missing += spread(bounds_missing)
        planted += [100 * x for x in spread(cells[4].split(" / ")[0])]
    note = _small_corpus_note({"n_distinct_labelled_texts": 458},
                              {"wrong_rate": 0.539, "missing_rate": 0.702})
    note = " ".join(note.split())
    assert (f"bounded at {min(wrong):.0f}-{max(wrong):.0f}% wrong and "
            f"{min(missing):.0f}-{max(missing):.0f}% missing") in note
    assert f"{min(planted):.0f}-{max(planted):.0f}% of their flagged wrong labels" in note


def _head_label_corpus():
    """80 "parts" documents whose 4 own words are in all 80 (above a max_posting of
    40) and whose 3 rarer words each are shared with 7 documents of 28 other labels
    only: the capped search finds its candidates among those and stops, as the largest
    category of a 36,000-product catalogue did (its words in 850-900 documents)."""
    rare = [f"r{i}" for i in range(240)]
    others: list[list[str]] = [[] for _ in range(560)]
    for i, word in enumerate(rare):
        for j in range(7):
            others[(i * 7 + j) % 560].append(word)
    texts = ["gear bolt nut shaft " + " ".join(rare[3 * i:3 * i + 3]) for i in range(80)]
    labels = [0] * 80
    for d in range(560):
        label = 1 + d % 28
        texts.append(" ".join(f"w{label}x{j}" for j in range(10)) + " " + " ".join(others[d]))
        labels.append(label)
    Y = sp.csr_matrix((np.ones(len(labels)), (np.arange(len(labels)), labels)))
    space = LabelSpace([Label("u:parts", {"en": "Parts"})]
                       + [Label(f"u:{i}", {"en": f"other {i}"}) for i in range(1, 29)])
    return texts, Y, space


def test_audit_warns_of_a_label_its_knn_search_cap_leaves_without_neighbours(caplog):
    """The largest category of a catalogue walk had its documents flagged wrong at
    probability 1.0 with model score 0 and no hint why: its own words were held by
    more documents than max_posting, so the kNN search skipped them. The audit now
    names the label, its documents, its scores both ways and the parameter."""
    texts, Y, space = _head_label_corpus()
    options = AuditOptions(scores="knn", knn_params={"n_neighbors": 5, "max_posting": 40},
                           featurizer_params=FAST_FEATURES, seed=0)
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = audit_corpus(texts, Y, space, options=options)
    assert [c.label for c in result.scores.capped] == [0]
    assert result.scores.capped[0].capped < 0.2 < 0.9 < result.scores.capped[0].exact
    warned = [w for w in result.report["warnings"] if "max_posting" in w]
    assert len(warned) == 1
    assert "'Parts' (80 documents: mean own score 0.00, 1.00 with max_posting=80)" in warned[0]
    assert "max_posting=40 documents" in warned[0]
    # a Python caller is told the options' fields: it was "--scores knn -p max_posting=80"
    fix = "audit again with AuditOptions(scores=\"knn\", knn_params={\"max_posting\": 80})"
    assert fix in warned[0] and "--" not in warned[0]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
              and "'Parts' (80 documents" in r.getMessage()]
    assert len(logged) == 1 and fix in logged[0] and "--" not in logged[0]
    # searched exactly up to the label's size, the label keeps its neighbours: no warning
    options.knn_params = {"n_neighbors": 5, "max_posting": 80}
    result = audit_corpus(texts, Y, space, options=options)
    assert result.scores.capped == []
    assert not [w for w in result.report["warnings"] if "max_posting" in w]


def test_audit_tells_its_command_line_the_flags_that_lift_the_knn_search_cap(tmp_path, caplog):
    """The warning of a label the kNN search's cap left without neighbours names audit's
    own flags on the command line (a Python caller is told AuditOptions' fields)."""
    texts, Y, space = _head_label_corpus()
    corpus = tmp_path / "head.tsv"
    corpus.write_text("".join(f"{text}\t<{space.uri_of(int(Y[i].indices[0]))}>\n"
                              for i, text in enumerate(texts)), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        # not -q: its warnings are logged and shown
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "audit", str(corpus), "-o", str(tmp_path / "out"), "--scores", "knn",
            "-p", "n_neighbors=5", "-p", "max_posting=40", "--seed", "0", "--no-html",
            "--no-plots"])
    assert result.exit_code == 0, result.output
    logged = [r.getMessage() for r in caplog.records if "max_posting=40 documents" in
              r.getMessage()]
    assert len(logged) == 1, logged
    assert "'u:parts' (80 documents" in logged[0]
    assert "audit again with --scores knn -p max_posting=80 (or above" in logged[0]
    assert "AuditOptions" not in logged[0]


def test_rare_labels_are_listed_rarest_first():
    """The report listed the first 20 rare labels in the vocabulary's order: on a
    Reuters-21578 slice with 33 rare labels, a label given to one document, planted
    near the vocabulary's end, was one of "13 more rare labels", never named; the
    rarest come first now (ties in the vocabulary's order), in the page's table too."""
    from tagsmith.audit.report import render_html

    n = 30
    space = LabelSpace.from_uris([f"u:{i:02d}" for i in range(n)])
    counts = [4] * (n - 1) + [1]  # u:29, given once, last in the vocabulary
    cols = np.repeat(np.arange(n), counts)
    Y = sp.csr_matrix((np.ones(len(cols), bool), (np.arange(len(cols)), cols)),
                      shape=(len(cols), n))
    labels = labels_section(Y, space)
    assert labels["n_rare"] == n and len(labels["rare_examples"]) == 20
    assert [(r["uri"], r["count"]) for r in labels["rare_examples"][:3]] == [
        ("u:29", 1), ("u:00", 4), ("u:01", 4)]
    page = render_html({"corpus": corpus_section([""] * len(cols), Y), "labels": labels,
                        "cooccurrence": cooccurrence_section(Y, space)}, plots=False)
    table = page.split("Rare labels (rarest first)")[1].split("</table>")[0]
    assert table.index("u:29") < table.index("u:00")


def test_audit_of_an_llm_label_output_says_it_leaves_the_confidences_unused(
        small_corpus, goemotions_small, tmp_path, caplog):
    """audit on label's output (an LLM's labels with its confidences, read as a corpus
    as they are) ranked by its own scores alone and said nothing of the confidences; a
    user took the queue to weigh the LLM's doubt. The command and the Python API (given
    soft labels) say so; a corpus of plain labels gets no such word."""
    from tagsmith.pipeline.llm import write_soft_labels

    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(small_corpus, space)
    soft = sp.csr_matrix(data.Y, dtype=np.float32)
    soft.data[::2] = 0.6  # the LLM less sure of every other label
    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, data.texts, soft, space)
    said = "the audit reads every label scoring above 0 as given, its confidence unused"
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "audit", str(labels), "--vocab", str(goemotions_small["vocab"]),
        "-o", str(tmp_path / "out"), "--scores", "knn", "--no-html"])
    assert result.exit_code == 0, result.output
    assert "is label's output (an LLM's labels with its confidences)" in caplog.text
    assert said in caplog.text
    # the command names its option; Python, below, AuditOptions' field
    assert ("label_confidence (audit --label-confidence) blends them into the wrong-label "
            "ranking") in caplog.text
    caplog.clear()
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "audit", str(small_corpus), "--vocab", str(goemotions_small["vocab"]),
        "-o", str(tmp_path / "plain"), "--scores", "knn", "--no-html"])
    assert result.exit_code == 0, result.output
    assert said not in caplog.text
    audited = audit_corpus(data.texts, soft, space, options=AuditOptions(scores="knn"))
    n_soft = int(np.count_nonzero(soft.data < 1))
    [warned] = [w for w in audited.report["warnings"]
                if w.startswith(f"{n_soft:,} of the corpus's {soft.nnz:,} given labels "
                                "carry a confidence below 1")]
    assert said in warned and warned.endswith(
        "; AuditOptions(label_confidence=True) blends them into the wrong-label ranking")
    assert "--label-confidence" not in warned


def test_audit_flagging_few_of_the_errors_it_estimates_says_how_to_fill_a_review_budget(
        small_corpus, goemotions_small, tmp_path):
    """An LLM's labels audited: 28 rows flagged of some 465 errors the audit itself
    estimated, and no word of how to get the 300 rows a reviewer had time for. The
    audit now says so (not once --max-review gives the budget)."""
    result = invoke("audit", small_corpus, "--vocab", goemotions_small["vocab"],
                    "-o", tmp_path / "out", "--scores", "knn", "--no-html",
                    "--min-probability", "0.9")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    noise = report["noise"]
    n_flagged = noise["n_flagged_wrong"] + noise["n_flagged_missing"]
    # the smaller of confident learning's count and the bounds' (the test below)
    estimated = min(noise["est_wrong"] + noise["est_missing"],
                    noise["bounds"]["est_wrong"] + noise["bounds"]["est_missing"])
    assert estimated >= 4 * n_flagged
    assert re.search(rf"note: (at most )?about {estimated:,.0f} wrong or missing labels "
                     rf"[^\n]*, {n_flagged:,} flagged \(those at least 0\.9 likely",
                     result.output), result.output
    assert "audit again with a lower --min-probability (0.05) and --max-review N" \
        in result.output
    result = invoke("audit", small_corpus, "--vocab", goemotions_small["vocab"],
                    "-o", tmp_path / "capped", "--scores", "knn", "--no-html",
                    "--min-probability", "0.9", "--max-review", "20")
    assert result.exit_code == 0, result.output
    assert "note: about" not in result.output


def test_audit_estimate_to_fill_a_review_budget_is_not_above_its_own_bounds(
        small_corpus, goemotions_small, tmp_path):
    """500 GoEmotions comments (579 given labels) were reported "at most 53.90% wrong and
    70.21% missing labels", then "note: about 1,140 wrong or missing labels estimated":
    confident learning's count, over both bounds together (894), a figure the lines above
    it said was too high. Where the bounds read lower, the note gives theirs, and names
    confident learning's beside it."""
    result = invoke("audit", small_corpus, "--vocab", goemotions_small["vocab"],
                    "-o", tmp_path / "out", "--scores", "knn", "--no-html",
                    "--min-probability", "0.9")
    assert result.exit_code == 0, result.output
    noise = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))["noise"]
    n_flagged = noise["n_flagged_wrong"] + noise["n_flagged_missing"]
    counted = noise["est_wrong"] + noise["est_missing"]
    bounded = noise["bounds"]["est_wrong"] + noise["bounds"]["est_missing"]
    assert bounded < counted and bounded >= 4 * n_flagged
    said = " ".join(result.output.split())
    assert (f"note: at most about {bounded:,.0f} wrong or missing labels (the bounds above; "
            f"confident learning counts {counted:,.0f}), {n_flagged:,} flagged (those at "
            "least 0.9 likely") in said, said
    assert f"about {counted:,.0f} wrong or missing labels estimated" not in said


def test_audit_of_an_llm_label_output_does_not_send_its_review_to_the_same_llm(
        small_corpus, goemotions_small, tmp_path):
    """The audit's hint sent the review of an LLM's labels to an LLM: the one that
    labelled the corpus, asked again, answered each flagged document as its labels say,
    and apply-review --decide-from rejected every row (300 of 300, no change). On label's
    output it now says to ask another model; a corpus of people's labels keeps the hint."""
    from tagsmith.pipeline.llm import write_soft_labels

    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(small_corpus, space)
    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, data.texts, sp.csr_matrix(data.Y, dtype=np.float32) * 0.9,
                      space)
    result = invoke_hinted("audit", labels, "--vocab", goemotions_small["vocab"],
                           "-o", tmp_path / "out", "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    assert "or let another LLM decide the rows (not the one that labelled CORPUS: asked " \
           "again, it answers as its labels say and rejects every row; give label " \
           "another --llm and --cache)" in result.output
    result = invoke_hinted("audit", small_corpus, "--vocab", goemotions_small["vocab"],
                           "-o", tmp_path / "plain", "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    assert "or let an LLM decide the rows (label's endpoint options" in result.output


def _llm_labels_with_doubtful_wrong_ones(small_corpus, goemotions_small, path):
    """label's output over :func:`small_corpus`: its labels at confidence 0.9 (a tenth
    of them 0.5), and a wrong label added to 60 documents at 0.5 (the LLM's doubt);
    the planted wrong pairs ``(line, label uri)``."""
    from tagsmith.pipeline.llm import write_soft_labels

    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(small_corpus, space)
    Y = sp.lil_matrix(sp.csr_matrix(data.Y, dtype=np.float32) * 0.9)
    rng = np.random.default_rng(0)
    planted = set()
    for doc in rng.choice(len(data.texts), 60, replace=False):
        given = set(Y.rows[doc])
        label = int(rng.choice([j for j in range(len(space)) if j not in given]))
        Y[doc, label] = 0.5
        planted.add((int(doc) + 1, space.uri_of(label)))
    Y = sp.csr_matrix(Y)
    doubtful = rng.random(Y.nnz) < 0.1
    Y.data[doubtful] = 0.5
    write_soft_labels(path, data.texts, Y, space)
    return space, planted


def _wrong_rows(review: Path, planted: set) -> tuple[int, int]:
    """(planted wrong labels among the queue's wrong rows, wrong rows)."""
    with open(review, encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["kind"] == "wrong"]
    return sum((int(r["line"]), r["label_uri"]) in planted for r in rows), len(rows)


def test_audit_label_confidence_blends_the_llms_confidences_into_the_wrong_label_ranking(
        small_corpus, goemotions_small, tmp_path, caplog):
    """The audit of label's output read every label as given alike and warned that the
    LLM's confidences went unused, though on a simulated teacher its least confident
    labels held more of its wrong ones than the queue's first rows. ``--label-confidence``
    blends each given label's confidence into the wrong-label ranking: the LLM's
    doubtful wrong labels come into the queue. Without the option the audit and its
    report are as they were."""
    labels = tmp_path / "labels.jsonl"
    _, planted = _llm_labels_with_doubtful_wrong_ones(small_corpus, goemotions_small, labels)
    common = ["audit", labels, "--vocab", goemotions_small["vocab"], "--scores", "knn",
              "--no-html", "--min-probability", "0.05", "--max-review", "100"]
    plain = invoke(*common, "-o", tmp_path / "plain")
    assert plain.exit_code == 0, plain.output
    caplog.clear()
    blended = invoke(*common, "-o", tmp_path / "blended", "--label-confidence")
    assert blended.exit_code == 0, blended.output
    assert "confidence unused" not in caplog.text  # used now: no such warning
    before = _wrong_rows(tmp_path / "plain" / "review.csv", planted)
    after = _wrong_rows(tmp_path / "blended" / "review.csv", planted)
    assert after[0] >= before[0] + 5, (before, after)
    report = json.loads((tmp_path / "blended" / "report.json").read_text(encoding="utf-8"))
    assert report["meta"]["options"]["label_confidence"] is True
    rule = report["noise"]["method"]["label_confidence"]
    assert rule["mean_confidence"] == pytest.approx(0.81, abs=0.02)  # 0.9, 0.5 on 17%
    assert rule["n_wrong_flagged"] > rule["n_wrong_flagged_before"]
    # the command says where the wrong rows come from, and their cap
    assert (f"at most {rule['n_wrong_cap']:,} (the larger of the audit's count and the "
            "LLM's expected wrong count") in blended.output
    assert "label confidence:" not in plain.output
    # without the option: no trace of it in the report (its earlier outputs unchanged)
    report = json.loads((tmp_path / "plain" / "report.json").read_text(encoding="utf-8"))
    assert "label_confidence" not in report["meta"]["options"]
    assert "label_confidence" not in report["noise"]["method"]


def test_audit_label_confidence_says_its_queue_is_two_lists_in_turn_not_by_probability(
        small_corpus, goemotions_small, tmp_path):
    """Under --label-confidence the queue takes the audit's flagged rows and the LLM's
    least confident labels in turn, its probability column out of order, where the
    command said "the review queue holds the 20 most likely" and the page "ranked by the
    probability of each pair being an error": both say what the order is under the
    option, and keep their words without it."""
    labels = tmp_path / "labels.jsonl"
    _llm_labels_with_doubtful_wrong_ones(small_corpus, goemotions_small, labels)
    common = ["audit", labels, "--vocab", goemotions_small["vocab"], "--scores", "knn",
              "--no-plots", "--min-probability", "0.05", "--max-review", "20"]
    plain = invoke(*common, "-o", tmp_path / "plain")
    blended = invoke(*common, "-o", tmp_path / "blended", "--label-confidence")
    assert plain.exit_code == 0 and blended.exit_code == 0, (plain.output, blended.output)
    assert ("the review queue holds its first 20 rows, the audit's most likely and the "
            "LLM's least confident in turn: --max-review") in blended.output
    assert "20 most likely" not in blended.output
    assert "the review queue holds the 20 most likely: --max-review" in plain.output
    page = {name: html.unescape((tmp_path / name / "report.html").read_text(encoding="utf-8"))
            for name in ("plain", "blended")}
    assert "its probability column need not be in order" in page["blended"]
    assert "ranked by the probability of each pair" not in page["blended"]
    assert ("The review queue holds the first 20 of them, the audit's most likely and the "
            "LLM's least confident in turn (--max-review).") in page["blended"]
    assert "ranked by the probability of each pair being an error" in page["plain"]
    assert "The review queue holds the 20 most likely of them (--max-review)." in page["plain"]
    assert "need not be in order" not in page["plain"]
    # the option's help says so too (it spoke of the ranking alone), and so does the
    # note on a review budget where few are flagged ("most likely first")
    helped = " ".join(invoke("audit", "--help").output.split())
    assert "take the LLM's least confident labels in turn with the audit's most likely " \
        "in the review queue" in helped
    few = invoke("audit", labels, "--vocab", goemotions_small["vocab"], "--scores", "knn",
                 "--no-plots", "-o", tmp_path / "few", "--label-confidence",
                 "--min-probability", "0.99")
    assert few.exit_code == 0, few.output
    assert ("to fill a review budget of N rows, the audit's most likely and the LLM's "
            "least confident in turn, audit again") in few.output, few.output
    assert "most likely first" not in few.output


def _report_of_record(path, corpus):
    """report.json without what differs between two runs on the same labels: the
    timings, the creation date, the version, and the corpus' path and name."""
    text = path.read_text(encoding="utf-8")
    text = text.replace(str(corpus), "CORPUS").replace(corpus.name, "CORPUS")

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()
                    if k not in ("timing", "created", "seconds", "tagsmith_version")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return strip(json.loads(text))


def test_audit_without_label_confidence_reads_apply_reviews_mark_as_nothing(
        small_corpus, goemotions_small, tmp_path):
    """apply-review marks the labels a person added (``added_by_review``) for
    --label-confidence's reader; without the option the audit's outputs (its figures of
    record) are byte for byte those of the file without the mark."""
    labels = tmp_path / "labels.jsonl"
    _llm_labels_with_doubtful_wrong_ones(small_corpus, goemotions_small, labels)
    records = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    for record in records[::3]:
        record["added_by_review"] = record["labels"][:1]
    marked = tmp_path / "marked.jsonl"
    marked.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    outputs, reports = {}, {}
    for path in (labels, marked):
        out = tmp_path / f"audit-{path.stem}"
        result = invoke("audit", path, "--vocab", goemotions_small["vocab"], "--scores",
                        "knn", "--no-html", "--min-probability", "0.05", "-o", out)
        assert result.exit_code == 0, result.output
        outputs[path.stem] = {f.name: f.read_bytes() for f in sorted(out.iterdir())
                              if f.suffix == ".csv"}
        reports[path.stem] = _report_of_record(out / "report.json", path)
    assert "review.csv" in outputs["labels"]
    assert outputs["marked"] == outputs["labels"]
    # and report.json's figures, but for its timings, date and the input's name and hash
    assert reports["marked"] == reports["labels"]
    # with the option the mark is read: the marked labels' confidences are unknown
    space = load_vocabulary(goemotions_small["vocab"])
    conf = read_audit_corpus(marked, space, confidences=True).confidences
    assert conf[0].data.max() == 1.0 and conf[1].data.max() < 1


def test_read_audit_corpus_reads_label_outputs_scores_only_when_asked(
        small_corpus, goemotions_small, tmp_path):
    """Every audit of label's output read each line's scores into a dict and built a
    matrix of them, with --label-confidence or without (tens of MB at 10^5 lines, held
    through the audit for nothing): they are read only when asked for."""
    labels = tmp_path / "labels.jsonl"
    space, _ = _llm_labels_with_doubtful_wrong_ones(small_corpus, goemotions_small, labels)
    assert read_audit_corpus(labels, space).confidences is None
    data = read_audit_corpus(labels, space, confidences=True)
    assert data.confidences is not None
    assert data.confidences.nnz == data.Y.nnz
    assert set(np.round(data.confidences.data.astype(float), 4).tolist()) == {0.9, 0.5}


def test_read_audit_corpus_reads_a_score_of_0_beside_a_label_as_the_least_confidence(
        tmp_path):
    """A label given at confidence 0 (a file of the user's, or an LLM's) was read as
    confidence 1, certain, and --label-confidence pushed it down the wrong-label
    ranking: the reverse of what its score says."""
    space = LabelSpace.from_names(["alpha", "beta"])
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"text": "one", "labels": ["alpha", "beta"],
                                "scores": [0.0, 0.7]}) + "\n", encoding="utf-8")
    conf = read_audit_corpus(path, space, confidences=True).confidences.toarray()
    assert 0 < conf[0, 0] < 0.01  # a given label, at the least confidence
    assert conf[0, 1] == pytest.approx(0.7)


def test_label_confidence_reads_a_label_without_a_stated_confidence_as_unknown(
        small_corpus, goemotions_small, tmp_path):
    """A corpus mixing label's output with hand-labelled lines (no scores): their labels
    were read at confidence 1, certain, pulling the mean confidence up and pushing their
    wrong candidates down the queue as if the LLM were sure of them. A label with no
    stated confidence is unknown now: out of the mean, its probability the audit's own;
    an LLM's stated 1.0 stays a stated confidence."""
    labels = tmp_path / "labels.jsonl"
    space, _ = _llm_labels_with_doubtful_wrong_ones(small_corpus, goemotions_small, labels)
    records = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    unscored = set(range(0, len(records), 2))  # every other line hand-labelled
    for i in unscored:
        del records[i]["scores"]
    records[1]["scores"] = [1.0] * len(records[1]["labels"])  # the LLM certain
    labels.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    data = read_audit_corpus(labels, space, confidences=True)
    conf = data.confidences
    assert 0.9999 < conf[1].data.max() < 1  # stated: just below 1
    assert set(conf[0].data.tolist()) == {1.0}  # none stated
    stated = [s for i, r in enumerate(records) if i not in unscored for s in r["scores"]]

    def issues(**extra):
        return audit_corpus(data.texts, conf, space, options=AuditOptions(
            scores="knn", min_probability=0.05, **extra)).issues

    plain, blended = issues(), issues(label_confidence=True)
    rule = blended.details["label_confidence"]
    # the mean of the stated confidences alone (with the unscored labels at 1: 0.89)
    assert rule["mean_confidence"] == pytest.approx(np.mean(stated), abs=1e-4)
    assert rule["n_wrong_unknown_confidence"] > 0

    def wrong_probability(found):
        keep = (found.kind == 1) & np.isin(found.doc, sorted(unscored))
        return dict(zip(zip(found.doc[keep].tolist(), found.label[keep].tolist(),
                            strict=True), found.probability[keep].tolist(), strict=True))

    before, after = wrong_probability(plain), wrong_probability(blended)
    assert before and before == after


def test_label_confidence_in_the_python_api_keeps_a_confidence_float32_rounds_to_1(
        small_corpus, goemotions_small):
    """A float64 Y's confidence of 0.99999999 (an LLM's log-probability near 0) is a
    stated one, not exactly 1: the audit's float32 copy rounded it to 1, which the blend
    reads as no stated confidence, so those labels left the mean and kept the audit's
    probability as if unscored."""
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(small_corpus, space)
    soft = sp.csr_matrix(data.Y, dtype=np.float64)
    soft.data[:] = 0.99999999
    soft.data[::3] = 0.4  # the LLM less sure of every third label
    rule = audit_corpus(data.texts, soft, space, options=AuditOptions(
        scores="knn", min_probability=0.05, label_confidence=True)).issues.details[
        "label_confidence"]
    assert rule["n_wrong_unknown_confidence"] == 0
    assert rule["mean_confidence"] == pytest.approx(float(soft.data.mean()), abs=1e-4)


def test_label_confidence_floors_the_wrong_bound_at_the_blended_likely_errors():
    """The noise bounds are floored at the audit's flagged likely errors (an "at most"
    below the rows it asks a person to confirm contradicts itself), counted before the
    blend: with the LLM's doubt blended in, more wrong rows were flagged at 0.5 and
    above than the report's "wrong labels, at most" allowed. The floor counts the
    blended flags."""
    from tagsmith.audit.detect import LabelIssues, blend_label_confidence, floor_bounds

    # 20 documents, one label; every document given it, 10 of them at confidence 0.1 (the
    # LLM's doubt), the others at 0.9; the audit's wrong candidates at p 0.3, none flagged
    # likely, and a mixture bound of 2 wrong labels
    n = 20
    c = np.where(np.arange(n) < 10, 0.1, 0.9).astype(np.float32)
    confidence = sp.csr_matrix(c.reshape(-1, 1))
    raw = {"wrong_rate": 0.1, "missing_rate": 0.0, "est_wrong": 2.0, "est_missing": 0.0,
           "tail": 0.01, "thresholds": 11}
    bounds = floor_bounds(raw, float(n), 0, 0)
    ones = np.ones(1)
    issues = LabelIssues(np.arange(n), np.zeros(n, np.int64), np.ones(n, np.int8),
                         np.full(n, 0.3, np.float32), np.full(n, 0.2, np.float32),
                         np.zeros(n, bool), np.array([n]), np.zeros(1, np.int64), ones * 0.5,
                         ones * 0.1, ones * 0.0, ones * 2.0, ones * 0.0, np.ones(n), n, 1,
                         {"mixture_bounds": bounds})
    blended = blend_label_confidence(issues, confidence, 0.05)
    likely = int(np.count_nonzero(blended.flagged & (blended.probability >= 0.5)))
    # p 0.3 at confidence 0.1 against a mean of 0.5: 0.79, the 10 the LLM expects wrong
    # (the sum of 1 - c; the label's budget, the blended probabilities' sum, 8.4)
    assert likely == 10
    after = blended.details["mixture_bounds"]
    assert after["n_flagged_likely"]["wrong"] == likely
    assert after["est_wrong"] == likely and after["wrong_rate"] == pytest.approx(0.5)
    assert after["raised_to_flagged"] == ["wrong"]
    assert after["by_mixture"] == bounds["by_mixture"]  # the mixture's own, unchanged
    assert issues.details["mixture_bounds"] is bounds  # the audit's issues untouched


def _twenty_doubted():
    """``(n, issues, confidences)``: 20 documents given one label, each a wrong candidate
    flagged, the audit's probability falling from 0.6 to 0.06; the LLM 0.9 sure of each
    but the last (0.5)."""
    from tagsmith.audit.detect import LabelIssues

    n = 20
    c = np.full(n, 0.9, np.float32)
    c[-1] = 0.5
    ones = np.ones(1)
    issues = LabelIssues(np.arange(n), np.zeros(n, np.int64), np.ones(n, np.int8),
                         np.linspace(0.6, 0.06, n).astype(np.float32),
                         np.full(n, 0.2, np.float32), np.ones(n, bool), np.array([n]),
                         np.zeros(1, np.int64), ones * 0.5, ones * 0.5, ones * 0.0,
                         ones * n, ones * 0.0, np.ones(n), n, 1, {})
    return n, issues, c


def test_label_confidence_interleaves_the_llms_least_confident_wrong_candidates():
    """The odds rule read the LLM's confidence as calibrated: a wrong candidate the LLM
    doubted most, scored low by the audit, stayed down the queue (on GoEmotions the
    blended 300 rows held 101 planted errors, the LLM's 300 least confident labels 219
    wrong ones). Its least confident wrong candidates, as many as it expects wrong, are
    interleaved with the blend's rows now: the most doubted comes second."""
    from tagsmith.audit.detect import blend_label_confidence

    n, issues, c = _twenty_doubted()
    blended = blend_label_confidence(issues, sp.csr_matrix(c.reshape(-1, 1)), 0.05)
    queue = blended.doc[blended.flagged].tolist()
    assert queue[:2] == [0, n - 1], queue  # the blend's first, the LLM's least confident
    assert sorted(queue) == list(range(n))  # each row once
    assert blended.details["label_confidence"]["n_llm_expected_wrong"] == 2  # 19 x 0.1 + 0.5
    # by the odds rule alone the doubted row was the queue's tenth
    assert np.count_nonzero(blended.probability > blended.probability[1]) == 9


# the LLM's confidence of _twenty_issues' rows: sure of the first 10, doubting the last
_CONFIDENCE_20 = np.where(np.arange(20) < 10, 0.9, 0.3).astype(np.float32)


def _twenty_issues(n_docs):
    """LabelIssues of 20 documents given one label, an estimate of 5 wrong: the audit
    sure of the first 10 (p 0.9-0.8), the last 10 scored low (0.06-0.05); ``n_docs``
    documents in all (more than 20: copies the rows do not cover)."""
    from tagsmith.audit.detect import LabelIssues

    n = 20
    p = np.r_[np.linspace(0.9, 0.8, 10), np.linspace(0.06, 0.05, 10)].astype(np.float32)
    ones = np.ones(1)
    return LabelIssues(np.arange(n), np.zeros(n, np.int64), np.ones(n, np.int8), p,
                       np.full(n, 0.2, np.float32), np.ones(n, bool), np.array([n]),
                       np.zeros(1, np.int64), ones * 0.5, ones * 0.25, ones * 0.0,
                       ones * 5, ones * 0.0, np.ones(n_docs), n_docs, 1, {})


def test_label_confidence_flags_the_larger_of_its_two_lists_not_their_sum():
    """With the interleave the LLM's least confident wrong candidates (as many as it
    expects wrong) were flagged beside the blend's own (within the audit's budget): two
    estimates of the same errors added up (GoEmotions: 1,485 wrong rows flagged beside
    an estimate of 742.5; the LLM expected 1,077). The two lists are taken in turn up
    to the larger one's count: the queue's first rows are the same, its tail shorter."""
    from tagsmith.audit.detect import blend_label_confidence

    # _twenty_issues: the LLM too sure of the first 10 (0.9), doubting the last 10 (0.3),
    # expecting 8 wrong
    c = _CONFIDENCE_20
    issues = _twenty_issues(20)
    blended = blend_label_confidence(issues, sp.csr_matrix(c.reshape(-1, 1)), 0.05)
    rule = blended.details["label_confidence"]
    queue = blended.doc[blended.flagged].tolist()
    # in turn, the audit's then the LLM's: 8 rows, not the 15 of the two lists' union
    assert queue == [0, 10, 1, 11, 2, 12, 3, 13], queue
    assert rule["n_llm_expected_wrong"] == 8
    # the blend's 7 (its budget: the blended probabilities' sum, 6.6) and the LLM's 8
    assert (rule["n_wrong_flagged_by_audit"], rule["n_wrong_flagged_by_llm"]) == (7, 8)
    assert rule["n_wrong_cap"] == 8
    assert rule["n_wrong_flagged"] == 8 and rule["n_interleaved"] == 4
    # the rows unflagged follow the flagged ones, in the blend's order (by p')
    rest = blended.probability[~blended.flagged]
    assert np.all(np.diff(rest) <= 0) and not blended.flagged[8:].any()
    # the cap is the LLM's expected wrong count, not how many of its picks reach
    # min_probability (5 of 8 at 0.17: a cap of 7, the blend's, dropped one)
    blended = blend_label_confidence(issues, sp.csr_matrix(c.reshape(-1, 1)), 0.17)
    rule = blended.details["label_confidence"]
    assert (rule["n_wrong_flagged_by_audit"], rule["n_wrong_flagged_by_llm"]) == (7, 5)
    assert rule["n_wrong_cap"] == 8 and rule["n_wrong_flagged"] == 8
    assert blended.doc[blended.flagged].tolist() == [0, 10, 1, 11, 2, 12, 3, 13]


def test_label_confidence_cap_with_copies_majority_flags_the_copies_row_outside_it():
    """copies_majority comes after the blend: flag_copies may flag a wrong row the cap
    unflagged, and interleave_label_confidence then takes the lists in turn again. The
    copies' row is flagged (outside the cap, as step 6b's are), the other rows the cap
    unflagged stay so, and the capped rows keep their turn order; the cap is unchanged.
    The report counts the copies' row among the flagged, not among the interleaved."""
    from tagsmith.audit.detect import (
        blend_label_confidence,
        copies_flagged_anew,
        flag_copies,
        interleave_label_confidence,
    )

    # the 20 documents of the test above, and two copies of the last one's text without
    # its label: 1 of 3 copies carries it, a wrong candidate by the copies' majority
    n, c = 20, _CONFIDENCE_20
    issues = _twenty_issues(22)
    confidence = sp.csr_matrix(np.r_[c, [0, 0]].reshape(-1, 1))
    blended = blend_label_confidence(issues, confidence, 0.05)
    assert blended.doc[blended.flagged].tolist() == [0, 10, 1, 11, 2, 12, 3, 13]
    Y = sp.csr_matrix(np.r_[np.ones(n), [0, 0]].reshape(-1, 1))
    copies = flag_copies(blended, Y, np.r_[np.arange(n), [n - 1, n - 1]])
    assert copies.details["copies"]["n_wrong"] == 1
    # the copies' row (doc 19), flagged outside the two lists
    outside = copies_flagged_anew(blended, copies)
    assert outside.tolist() == [n - 1]
    both = interleave_label_confidence(copies, confidence, outside=outside)
    queue = both.doc[both.flagged].tolist()
    # the copies' row first by its probability, in the blend's turn (it took the LLM's
    # first turn: [19, 0, 10, ...]), the LLM's picks then alternating with the others
    assert queue == [19, 10, 0, 11, 1, 12, 2, 13, 3], queue
    assert not both.flagged[np.isin(both.doc, [14, 15, 16, 17, 18])].any()
    rule = both.details["label_confidence"]
    # the report is true of the queue: 9 wrong rows flagged (the cap's 8 and the
    # copies' row), 4 of the LLM's interleaved (it said 8 and 5: the copies' row was
    # counted as the LLM's, and left out of the flagged count)
    assert rule["n_wrong_cap"] == 8 and rule["n_wrong_flagged"] == 9
    assert rule["n_interleaved"] == 4
    # the page and the command's line say the copies' row beside the two lists' counts,
    # which alone did not add up to the 9
    from tagsmith.audit.report import _label_confidence_html
    from tagsmith.cli.commands import _label_confidence_words

    assert rule["n_wrong_flagged_by_copies"] == 1
    noise = {"n_flagged_wrong": 9, "method": {"label_confidence": rule}}
    # both say the copies' row once, after the cap (which does not cover it): the page
    # named it again among "the other wrong rows flagged (9 in all)"
    page = _label_confidence_html(noise)
    assert page.endswith("not their sum; --copies-majority&#x27;s 1 more are flagged by "
                         "its copies&#x27; majority, outside the two lists and their cap."), page
    words = _label_confidence_words(noise)
    assert words is not None
    assert "least confident labels in turn, at most 8 (" in words
    # the copies' row is the 9th: not said again among "the others outside the two lists"
    assert words.endswith("not their sum), and --copies-majority's 1 (flagged by its "
                          "copies' majority, outside the two lists and their cap)"), words
    # a 10th row from elsewhere is said among the others, after the copies' row
    noise["n_flagged_wrong"] = 10
    assert _label_confidence_html(noise).endswith(
        "their cap; the other wrong rows flagged (10 in all) are outside the two lists "
        "(--band-budget-below, --copies-majority, a single-label corpus&#x27;s pairs).")
    assert str(_label_confidence_words(noise)).endswith(
        "and their cap); 10 wrong flagged in all, the others outside the two lists "
        "(--band-budget-below, --copies-majority, a single-label corpus's pairs)")


def test_label_confidence_keeps_the_band_budgets_wrong_flags(small_corpus, goemotions_small,
                                                              tmp_path):
    """With band_budget_below, step 6b flags a rare label's wrong rows by band; the blend
    re-flagged every wrong row by step 6's budget, dropping the band's flags unsaid. The
    band's labels keep their flagged rows (the blend moves them in the queue only)."""
    labels = tmp_path / "labels.jsonl"
    space, _ = _llm_labels_with_doubtful_wrong_ones(small_corpus, goemotions_small, labels)
    data = read_audit_corpus(labels, space, confidences=True)

    def flagged_wrong(**extra):
        issues = audit_corpus(data.texts, data.confidences, space, options=AuditOptions(
            scores="knn", min_probability=0.05, band_budget_below=10**6, **extra)).issues
        # the labels step 6b prunes: given twice and more (once: step 6's)
        keep = issues.flagged & (issues.kind == 1) & (issues.n_given[issues.label] >= 2)
        return set(zip(issues.doc[keep].tolist(), issues.label[keep].tolist(), strict=True))

    assert flagged_wrong(label_confidence=True) == flagged_wrong()


def test_audit_label_confidence_on_a_corpus_without_scores_is_refused_before_the_work(
        small_corpus, goemotions_small, tmp_path):
    """A corpus of plain labels has no confidences to blend: the option is refused,
    naming it and the file, before the audit runs (not a ranking silently unchanged)."""
    result = invoke("audit", small_corpus, "--vocab", goemotions_small["vocab"], "-o",
                    tmp_path / "out", "--scores", "knn", "--label-confidence")
    assert result.exit_code == 2, result.output
    assert "--label-confidence" in result.output
    assert "has no 'scores' beside its labels" in result.output
    assert not (tmp_path / "out" / "report.json").exists()


def test_label_confidence_in_the_python_api_on_labels_of_0_and_1_warns_it_changes_nothing(
        small_corpus, goemotions_small):
    """AuditOptions(label_confidence=True) on a Y of 0 and 1 has nothing to blend: it
    says so (in the report's warnings too), and the queue is the audit's own."""
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(small_corpus, space)
    options = AuditOptions(scores="knn", label_confidence=True)
    result = audit_corpus(data.texts, data.Y, space, options=options)
    plain = audit_corpus(data.texts, data.Y, space, options=AuditOptions(scores="knn"))
    assert any(w.startswith("label_confidence: no given label carries a confidence below 1")
               for w in result.report["warnings"])
    assert [(r["doc"], r["label_uri"]) for r in result.review] == \
        [(r["doc"], r["label_uri"]) for r in plain.review]


def test_label_confidence_in_the_python_api_says_an_exact_1_is_no_stated_confidence(
        small_corpus, goemotions_small):
    """In Y an exact 1.0 is no stated confidence (unknown), an LLM's stated 1.0 being
    STATED_CERTAIN: a caller passing an LLM's 1.0s as they are had them left out of the
    blend with nothing said, and on an all-1.0 Y the warning spoke of a 0/1 Y only. Both
    say so now, naming how to pass a stated 1.0."""
    from tagsmith.audit.detect import STATED_CERTAIN

    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(small_corpus, space)
    soft = sp.csr_matrix(data.Y, dtype=np.float64)
    soft.data[::3] = 0.4  # the LLM less sure of every third label, 1.0 of the others
    n_one = int(np.count_nonzero(soft.data == 1))

    def warned(Y):
        result = audit_corpus(data.texts, Y, space, options=AuditOptions(
            scores="knn", min_probability=0.05, label_confidence=True))
        return [w for w in result.report["warnings"] if w.startswith("label_confidence")]

    mixed = warned(soft)
    assert len(mixed) == 1 and f"{n_one:,} of the {soft.nnz:,} given labels" in mixed[0]
    assert "no stated confidence" in mixed[0] and "STATED_CERTAIN" in mixed[0]
    stated = soft.copy()
    stated.data[stated.data == 1] = STATED_CERTAIN  # the LLM's 1.0 passed as stated
    assert warned(stated) == []
    (all_one,) = warned(sp.csr_matrix(data.Y, dtype=np.float64))
    assert "no given label carries a confidence below 1" in all_one
    assert "a value of exactly 1 is no stated confidence" in all_one
    assert "STATED_CERTAIN" in all_one
    # while a command runs, the report itself (not only its log) holds the command's
    # words, said where the warning is made: the command rewrote its report's warnings
    # after the audit, by string match, which a reworded warning fell through silently
    from tagsmith._surface import command_line

    with command_line():
        result = audit_corpus(data.texts, soft, space, options=AuditOptions(
            scores="knn", min_probability=0.05, label_confidence=True))
    told = [w for w in result.report["warnings"] if "confidence" in w and "label" in w]
    assert len(told) == 1 and told[0].startswith(
        f"--label-confidence: {n_one:,} of the {soft.nnz:,} given labels have no stated")


def test_label_confidence_on_the_command_line_words_its_exact_1_warnings_for_a_label_output(
        small_corpus, goemotions_small, tmp_path, caplog):
    """audit --label-confidence's warnings of labels without a stated confidence spoke
    Python on the command line ("exactly 1 in Y", tagsmith.audit.detect.STATED_CERTAIN,
    read_audit_corpus), which the command has no way to pass: they speak of a label
    output's lines there, and so does the command's report (the page read them in Python);
    audit_corpus's report keeps the Python wording (the test above)."""
    labels = tmp_path / "labels.jsonl"
    _llm_labels_with_doubtful_wrong_ones(small_corpus, goemotions_small, labels)
    records = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    mixed, certain = tmp_path / "mixed.jsonl", tmp_path / "certain.jsonl"
    mixed.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "scores" or i % 2})
                             + "\n" for i, r in enumerate(records)), encoding="utf-8")
    certain.write_text("".join(json.dumps(dict(r, scores=[1.0] * len(r["labels"]))) + "\n"
                               for r in records), encoding="utf-8")

    def logged(path):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "audit", str(path), "--vocab", str(goemotions_small["vocab"]), "-o",
                str(tmp_path / path.stem), "--scores", "knn", "--no-html", "--no-plots",
                "--min-probability", "0.05", "--label-confidence"])
        assert result.exit_code == 0, result.output
        return [r.getMessage() for r in caplog.records
                if "confidence" in r.getMessage() and "label" in r.getMessage()]

    (said,) = [m for m in logged(mixed) if "no stated confidence" in m]
    assert said.startswith("--label-confidence: ") and "on a line without scores" in said
    assert "Y" not in said.split() and "STATED_CERTAIN" not in said
    assert "read_audit_corpus" not in said
    (said,) = [m for m in logged(certain) if "no given label carries" in m]
    assert said.startswith("--label-confidence: ") and "line's scores are 1.0" in said
    assert "STATED_CERTAIN" not in said and "Y is 0/1" not in said
    # the command's report (report.json, and report.html from the same warnings) says
    # them in the command's words too: it kept the Python wording, which a user of the
    # command read on the page; audit_corpus's report keeps it (the Python API's test)
    for stem, words in (("certain", "--label-confidence: no given label carries"),
                        ("mixed", "--label-confidence: ")):
        report = json.loads((tmp_path / stem / "report.json").read_text(encoding="utf-8"))
        told = [w for w in report["warnings"] if "confidence" in w and "label" in w]
        assert told and all(w.startswith(words) for w in told), told
        assert not any("STATED_CERTAIN" in w or " Y" in w for w in report["warnings"])


def test_read_audit_corpus_warns_once_of_scores_it_cannot_read(tmp_path, caplog):
    """A line's scores holding NaN (the string: a bare NaN is no JSON, refused), a value
    outside [0, 1], or a list of another length than its labels were dropped silently,
    the line's labels then read as given without a confidence: they are counted in one
    warning naming the file and the first such line."""
    space = LabelSpace.from_names(["alpha", "beta"])
    path = tmp_path / "labels.jsonl"
    lines = [{"text": "one", "labels": ["alpha"], "scores": [0.6]},
             {"text": "two", "labels": ["alpha", "beta"], "scores": ["NaN", 0.5]},
             {"text": "three", "labels": ["beta"], "scores": [1.5]},
             {"text": "four", "labels": ["alpha", "beta"], "scores": [0.4]},
             {"text": "five", "labels": ["beta"]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        conf = read_audit_corpus(path, space, confidences=True).confidences.toarray()
    assert conf[0, 0] == pytest.approx(0.6)
    # read as given, as before, their confidences unknown (exactly 1: none stated)
    assert conf[1].tolist() == [1.0, 1.0] and conf[2, 1] == 1.0
    warned = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(warned) == 1, warned
    assert str(path) in warned[0] and "3 line(s)" in warned[0] and "line 2" in warned[0]
    caplog.clear()
    # without the option the scores are not read, nor warned of
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        read_audit_corpus(path, space)
    assert not [r for r in caplog.records if "cannot be read" in r.getMessage()]


def test_label_confidence_keeps_its_interleave_with_copies_majority(small_corpus,
                                                                    goemotions_small, tmp_path):
    """copies_majority re-sorted every candidate by probability after the blend: the
    LLM's least confident rows fell back to where their probabilities put them, the
    queue the odds rule's alone, while the report still counted them interleaved. The
    copies' rows come into the blended queue and the interleave is kept."""
    labels = tmp_path / "labels.jsonl"
    space, _ = _llm_labels_with_doubtful_wrong_ones(small_corpus, goemotions_small, labels)
    data = read_audit_corpus(labels, space, confidences=True)

    def issues(**extra):
        return audit_corpus(data.texts, data.confidences, space, options=AuditOptions(
            scores="knn", min_probability=0.05, label_confidence=True, **extra)).issues

    blended, both = issues(), issues(copies_majority=True)
    assert both.details["copies"]["n_texts"] == 0  # no copies disagree: nothing to move
    assert blended.details["label_confidence"]["n_interleaved"] > 0
    assert both.details["label_confidence"] == blended.details["label_confidence"]
    for found in (blended, both):  # the interleaved queue is not in probability order
        assert np.any(np.diff(found.probability[found.flagged]) > 0)
    assert both.doc[both.flagged].tolist() == blended.doc[blended.flagged].tolist()
    assert both.label[both.flagged].tolist() == blended.label[blended.flagged].tolist()


def test_label_confidence_leaves_step_6bs_rows_where_the_audit_put_them():
    """The LLM's least confident wrong candidates on a label step 6b flags by band were
    given an interleaved place and counted in n_interleaved, though the rule leaves
    those labels out: they keep the audit's flag and their place."""
    from tagsmith.audit.detect import blend_label_confidence

    # 20 documents given one label (step 6b's with band_budget_below 100), each a wrong
    # candidate flagged by the band, the audit's probability falling; the LLM 0.9 sure
    # of each but the last (0.5)
    n, issues, c = _twenty_doubted()
    blended = blend_label_confidence(issues, sp.csr_matrix(c.reshape(-1, 1)), 0.05,
                                     band_budget_below=100)
    assert blended.details["label_confidence"]["n_interleaved"] == 0
    assert blended.flagged.all()  # the band's flags kept
    # in the blend's order (by p'), the doubted row not moved up to second place
    assert np.all(np.diff(blended.probability) <= 0)
    assert blended.doc[1] != n - 1


def test_label_confidence_on_stated_confidences_all_1_warns_and_keeps_the_audits_queue(
        small_corpus, goemotions_small, tmp_path):
    """An LLM that stated 1.0 for every label said nothing of its doubt: such a corpus
    was warned of and audited as the audit's own. Since a stated 1.0 is stored just
    below 1 (an unstated one is exactly 1) it was blended silently, and the blend's
    re-flagging could change the queue."""
    from tagsmith.pipeline.llm import write_soft_labels

    space = load_vocabulary(goemotions_small["vocab"])
    plain_data = read_labelled(small_corpus, space)
    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, plain_data.texts, sp.csr_matrix(plain_data.Y, dtype=np.float32),
                      space)
    data = read_audit_corpus(labels, space, confidences=True)
    assert data.confidences is not None and data.confidences.data.max() < 1  # stated
    result = audit_corpus(data.texts, data.confidences, space, options=AuditOptions(
        scores="knn", label_confidence=True))
    plain = audit_corpus(data.texts, data.confidences, space,
                         options=AuditOptions(scores="knn"))
    assert any(w.startswith("label_confidence: no given label carries a confidence below 1")
               for w in result.report["warnings"])
    assert "label_confidence" not in result.issues.details
    assert [(r["doc"], r["label_uri"]) for r in result.review] == \
        [(r["doc"], r["label_uri"]) for r in plain.review]


def test_label_confidence_says_its_cap_binds_only_the_two_lists():
    """The cap on --label-confidence's wrong rows binds the blend's and the LLM's lists
    only: --band-budget-below's labels (their rows keep the audit's flag) and others
    flag wrong rows beside them, so the command's "at most 8" and the page's "at most 8
    wrong rows are flagged" stood beside "flagged 11 wrong". Both say so now."""
    from tagsmith.audit.detect import LabelIssues, blend_label_confidence
    from tagsmith.audit.report import _label_confidence_html
    from tagsmith.cli.commands import _label_confidence_words

    # label 0: 20 documents, the LLM doubting the last 10 (as in the test above); label
    # 1: 3 documents, rare, its wrong rows flagged by band (step 6b), not capped
    n0, n1 = 20, 3
    n = n0 + n1
    label = np.r_[np.zeros(n0, np.int64), np.ones(n1, np.int64)]
    c = np.r_[np.where(np.arange(n0) < 10, 0.9, 0.3), [0.9] * n1].astype(np.float32)
    p = np.r_[np.linspace(0.9, 0.8, 10), np.linspace(0.06, 0.05, 10),
              [0.7] * n1].astype(np.float32)
    ones = np.ones(2)
    issues = LabelIssues(np.arange(n), label, np.ones(n, np.int8), p,
                         np.full(n, 0.2, np.float32), np.ones(n, bool), np.array([n0, n1]),
                         np.zeros(2, np.int64), ones * 0.5, ones * 0.25, ones * 0.0,
                         np.array([5.0, 3.0]), ones * 0.0, np.ones(n), n, 2, {})
    confidence = sp.csr_matrix((c, (np.arange(n), label)), shape=(n, 2))
    blended = blend_label_confidence(issues, confidence, 0.05, band_budget_below=5)
    rule = blended.details["label_confidence"]
    assert rule["n_wrong_cap"] == 8 and rule["n_wrong_flagged"] == 11
    noise = {"n_flagged_wrong": rule["n_wrong_flagged"], "method": {"label_confidence": rule}}
    words = _label_confidence_words(noise)
    assert words is not None and "at most 8 (the larger of the audit's count" in words
    assert "11 wrong flagged in all, the others outside the two lists" in words
    page = _label_confidence_html(noise)
    assert "at most 8 of their wrong rows are flagged" in page
    assert "(11 in all) are outside the two lists" in page
    # where the two lists are all the wrong rows, nothing more is said
    noise["n_flagged_wrong"] = 8
    assert _label_confidence_words(noise).endswith("not their sum)")
    assert _label_confidence_html(noise).endswith("not their sum.")
    assert _label_confidence_words({"method": {}}) is None


def test_label_confidence_warning_of_exact_ones_names_apply_reviews_labels():
    """read_audit_corpus(confidences=True) reads the labels apply-review added
    (added_by_review) as exactly 1, no stated confidence; the audit's warning of exact
    1s named a line without scores and a 1.0 passed as it is only, so after a review
    every --label-confidence audit warned with a cause that was not theirs."""
    from tagsmith.pipeline.audit import _unstated_confidence_message

    message = _unstated_confidence_message(1234, 5678)
    assert message.startswith("label_confidence: 1,234 of the 5,678 given labels are "
                              "exactly 1 in Y, no stated confidence")
    assert "a label apply-review added (its line's added_by_review)" in message
    assert "STATED_CERTAIN" in message
