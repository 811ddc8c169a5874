"""Auditing a held-out split (a test set) with the bundle trained on the train split:
scores ``heldout``, the bundle's own predictions, instead of cross-fitting the small
held-out set on itself."""

import json
import logging

import numpy as np
import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import InvalidParameterError
from tagsmith.pipeline.audit import AuditOptions, audit_corpus
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.train import TrainOptions, train_classifier

from conftest import FAST_FEATURES

tagsmith_cli._register_commands()

FAST = {"near_duplicates": False, "evidence": False}


@pytest.fixture(scope="module")
def trained(goemotions_small, tmp_path_factory):
    """A bundle trained on the slice's train split, saved, and its test split read."""
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    test = read_labelled(goemotions_small["test"], space)
    classifier = train_classifier(train.texts[:1500], train.Y[:1500], space,
                                  options=TrainOptions(dev_fraction=0.0,
                                                       featurizer_params=FAST_FEATURES,
                                                       model_params={"n_jobs": 1}))
    bundle = tmp_path_factory.mktemp("heldout") / "bundle"
    classifier.save(bundle)
    return {"space": space, "train": train, "test": test, "classifier": classifier,
            "bundle": bundle}


def test_heldout_scores_are_the_bundles_own_predictions_of_the_test_split(trained):
    # there was no way to score a test split with the model trained on train: auto
    # cross-fitted the bundle's model family on the test split itself, and 'bundle'
    # refused a corpus the bundle was not trained on
    classifier, test, space = trained["classifier"], trained["test"], trained["space"]
    result = audit_corpus(test.texts, test.Y, space, classifier=classifier,
                          options=AuditOptions(scores="heldout", **FAST))
    assert result.scores.source == "heldout"
    expected = classifier.predict_topk(test.texts, len(space), calibrated=False,
                                       adjust_shift=False)
    np.testing.assert_array_equal(result.scores.topk.indices, expected.indices)
    np.testing.assert_allclose(result.scores.topk.scores, expected.scores, rtol=1e-6)
    scores = result.report["scores"]
    assert scores["source"] == "heldout"
    assert scores["model"] == classifier.model.name
    assert scores["n_train_docs"] == 1500


def _with_training_documents(trained):
    """The first 200 documents of the test split, then 20 of the bundle's training
    documents: texts and labels."""
    test, train = trained["test"], trained["train"]
    return (list(test.texts[:200]) + list(train.texts[:20]),
            np.vstack([test.Y[:200].toarray(), train.Y[:20].toarray()]))


def test_heldout_warns_of_the_training_documents_among_the_corpus(trained):
    classifier, space = trained["classifier"], trained["space"]
    texts, Y = _with_training_documents(trained)
    result = audit_corpus(texts, Y, space, classifier=classifier,
                          options=AuditOptions(scores="heldout", **FAST))
    from tagsmith.data.texthash import in_training

    n_in = int(in_training(classifier.train_hashes, texts).sum())
    assert n_in >= 20
    assert any(f"{n_in} of the corpus's 220 documents are training documents" in warning
               for warning in result.report["warnings"])


def test_heldout_is_refused_without_a_bundle_for_its_own_corpus_or_another_label_space(
        trained):
    classifier, space, train = trained["classifier"], trained["space"], trained["train"]
    test = trained["test"]
    options = AuditOptions(scores="heldout", **FAST)
    # named as a Python caller passes one (it said audit's --bundle)
    with pytest.raises(InvalidParameterError, match=r"without a bundle \(classifier=\)"):
        audit_corpus(test.texts, test.Y, space, options=options)
    # the corpus it was trained on (a relabelled copy, say): its predictions are in sample
    with pytest.raises(InvalidParameterError, match=r"1,500 of its 1,500 documents are "
                                                    "training documents of the bundle"):
        audit_corpus(train.texts[:1500], train.Y[:1500], space, classifier=classifier,
                     options=options)
    # labels none of which are the bundle's: nothing of its predictions to audit with
    from tagsmith.data.labelspace import LabelSpace

    others = LabelSpace.from_uris([f"urn:x:other{i}" for i in range(len(space))])
    # audited with the bundle's vocabulary as a Python caller gives it (it said "leave out
    # --vocab", audit's option)
    with pytest.raises(InvalidParameterError, match=r"share no URI with its 28.*\(label_space="
                                                    r"classifier\.label_space\)"):
        audit_corpus(test.texts, test.Y, others, classifier=classifier, options=options)


def test_heldout_matches_the_bundles_labels_to_an_updated_vocabulary_by_uri(trained,
                                                                            caplog):
    """An updated vocabulary (a label removed, one added since the bundle was trained)
    was refused: 'audit with the bundle's vocabulary'. The bundle's predictions are
    now matched to the audit's labels by URI: a label the bundle lacks gets no scores,
    said once; a label the vocabulary dropped is left out of the predictions."""
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace

    classifier, space, test = trained["classifier"], trained["space"], trained["test"]
    texts, Y = test.texts[:300], test.Y[:300].tocsc()
    plain = audit_corpus(texts, Y.tocsr(), space, classifier=classifier,
                         options=AuditOptions(scores="heldout", **FAST))
    # the labels in reverse order: the same predictions, in the other ids
    n = len(space)
    reordered = LabelSpace([space[i] for i in reversed(range(n))])
    back = audit_corpus(texts, Y.tocsr()[:, ::-1], reordered, classifier=classifier,
                        options=AuditOptions(scores="heldout", **FAST))
    assert (back.scores.topk.indices == n - 1 - plain.scores.topk.indices).all()
    assert np.array_equal(back.scores.topk.scores, plain.scores.topk.scores)
    assert not any("matched" in w for w in back.report["warnings"])
    # grief dropped, a new label first (every id moves up by one)
    grief = space.lookup("<urn:goemotions:grief>")
    kept = [i for i in range(n) if i != grief]
    new = LabelSpace.from_uris(["urn:x:new"])
    updated = LabelSpace([new[0], *(space[i] for i in kept)])
    given_new = sp.csr_matrix((np.arange(300) % 10 == 0).astype(float)[:, None])
    Y_updated = sp.hstack([given_new, Y[:, kept]]).tocsr()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = audit_corpus(texts, Y_updated, updated, classifier=classifier,
                              options=AuditOptions(scores="heldout", **FAST))
    expected = ("scores heldout: the bundle's predictions are matched to the audit's "
                "labels by URI: 1 label of the audit not the bundle's ('urn:x:new') gets "
                "no scores (the model never predicts it) and is not audited: its 30 given "
                "occurrences are left out of the issues (no wrong or missing candidates, "
                "not counted in the noise estimates); 1 label of the bundle not the "
                "audit's ('grief') is left out of its predictions")
    assert result.report["warnings"].count(expected) == 1
    assert sum(r.getMessage() == expected for r in caplog.records) == 1
    topk = result.scores.topk
    assert topk.n_labels == n  # 28 - 1 + 1
    assert not (topk.indices == 0).any()  # the new label is never predicted
    # each kept label's score as the bundle gave it, in the updated ids
    ours = {int(i): float(v) for i, v in zip(plain.scores.topk.indices[0],
                                             plain.scores.topk.scores[0], strict=True)
            if i != grief}
    theirs = {kept[int(i) - 1]: float(v) for i, v in zip(topk.indices[0], topk.scores[0],
                                                          strict=True) if i >= 0}
    assert theirs == ours


def test_heldout_leaves_the_labels_the_bundle_lacks_out_of_the_issues(trained):
    """A label of an updated label space that the bundle lacks has no scores: its given
    occurrences were audited as if the model said no (15 of 30 flagged wrong in a
    probe), where the command line skips such a label as unknown. It is left out of the
    issues: no candidates, the noise estimates as without it, the warning says so."""
    import scipy.sparse as sp

    from tagsmith.audit.detect import WRONG
    from tagsmith.data.labelspace import LabelSpace

    classifier, space, test = trained["classifier"], trained["space"], trained["test"]
    texts, Y = test.texts[:300], test.Y[:300].tocsr()
    options = AuditOptions(scores="heldout", near_duplicates=False)
    plain = audit_corpus(texts, Y, space, classifier=classifier, options=options)
    # a new label first, given to 30 documents (every id moves up by one)
    updated = LabelSpace([LabelSpace.from_uris(["urn:x:new"])[0],
                          *(space[i] for i in range(len(space)))])
    given_new = sp.csr_matrix((np.arange(300) % 10 == 0).astype(float)[:, None])
    result = audit_corpus(texts, sp.hstack([given_new, Y]).tocsr(), updated,
                          classifier=classifier, options=options)
    issues = result.issues
    assert not (issues.label == 0).any()  # neither wrong (was: 15 flagged) nor missing
    assert not any(row["label_uri"] == "urn:x:new" for row in result.review)
    assert issues.n_given[0] == 0 and issues.est_wrong[0] == 0
    # every other output of the issues is the audit's without the new label
    theirs = plain.issues
    np.testing.assert_array_equal(issues.label - 1, theirs.label)
    np.testing.assert_array_equal(issues.doc, theirs.doc)
    np.testing.assert_array_equal(issues.flagged, theirs.flagged)
    np.testing.assert_allclose(issues.probability, theirs.probability)
    np.testing.assert_allclose(issues.est_wrong[1:], theirs.est_wrong)
    np.testing.assert_allclose(issues.doc_quality, theirs.doc_quality)
    for key in ("est_wrong", "est_missing", "wrong_rate", "missing_rate", "bounds",
                "n_flagged_wrong", "n_flagged_missing"):
        assert result.report["noise"][key] == plain.report["noise"][key], key
    assert int((issues.flagged & (issues.kind == WRONG)).sum()) == \
        result.report["noise"]["n_flagged_wrong"]
    assert any("is not audited: its 30 given occurrences are left out of the issues"
               in warning for warning in result.report["warnings"])


def test_auto_with_a_bundle_on_a_held_out_split_says_its_model_scores_none(trained, caplog):
    classifier, space, test = trained["classifier"], trained["space"], trained["test"]
    train = trained["train"]
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = audit_corpus(test.texts[:300], test.Y[:300], space, classifier=classifier,
                              options=AuditOptions(**FAST))
    assert result.scores.source == "crossfit"
    assert "scores heldout takes its predictions" in caplog.text
    assert any("the bundle's trained model predicts none of them" in warning
               for warning in result.report["warnings"])
    # its own training documents (relabelled): cross-fitting them is right, no warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        audit_corpus(train.texts[:300], train.Y[:300], space, classifier=classifier,
                     options=AuditOptions(**FAST))
    assert "heldout" not in caplog.text


def test_cli_audits_a_test_split_with_the_bundle_of_train(trained, goemotions_small,
                                                          tmp_path):
    out = tmp_path / "audit"
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "audit", str(goemotions_small["test"]), "--bundle", str(trained["bundle"]),
        "--scores", "heldout", "--no-html", "--no-near-duplicates", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "(heldout scores)" in result.output
    # the step after the review: how the figures on the test split move (a hint, on
    # stderr with the audit's other next: lines, none under -q)
    assert (f"then see how the bundle's figures on it move: tagsmith eval {trained['bundle']} "
            f"NEW_CORPUS --labels-before {goemotions_small['test']}" in result.stderr)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["scores"]["source"] == "heldout"


def test_cli_refuses_a_model_parameter_heldout_scores_would_ignore(trained, goemotions_small,
                                                                  tmp_path):
    # --scores heldout -p C=3 audited with the bundle's predictions, the parameter
    # ignored without a word (--model, --folds and --cooccurrence were refused)
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "audit", str(goemotions_small["test"]), "--bundle", str(trained["bundle"]),
        "--scores", "heldout", "-p", "C=3", "--no-html", "-o", str(tmp_path / "audit")])
    assert result.exit_code == 2, result.output
    assert "only applies with --scores crossfit or knn (or auto)" in result.output
    assert not (tmp_path / "audit").exists()


def test_blank_texts_are_not_counted_as_training_documents(goemotions_small):
    # a blank text matched the training corpus's blank text: Reuters-21578's test split
    # read 20 training documents, 14 of them empty texts, where 6 are copies
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    test = read_labelled(goemotions_small["test"], space)
    texts = list(train.texts[:300]) + [""]
    Y = np.vstack([train.Y[:300].toarray(), train.Y[:1].toarray()])
    classifier = train_classifier(texts, Y, space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES, model_params={"n_jobs": 1}))
    held = list(test.texts[:100]) + ["", "  "] + list(train.texts[:3])
    held_Y = np.vstack([test.Y[:100].toarray(), train.Y[:2].toarray(),
                        train.Y[:3].toarray()])
    result = audit_corpus(held, held_Y, space, classifier=classifier,
                          options=AuditOptions(scores="heldout", **FAST))
    from tagsmith.data.texthash import in_training

    n_copies = int(in_training(classifier.train_hashes, test.texts[:100]).sum()) + 3
    assert any(f"{n_copies} of the corpus's 105 documents" in warning
               for warning in result.report["warnings"]), result.report["warnings"]


def test_blank_texts_do_not_hide_a_corpus_of_training_documents(trained):
    # with blank texts counted in the share, 49 training documents beside 51 blank texts
    # were under half of the corpus: audited with in-sample scores, every text the
    # bundle's own
    classifier, space, train = trained["classifier"], trained["space"], trained["train"]
    texts = list(train.texts[:49]) + [""] * 51
    Y = np.vstack([train.Y[:49].toarray(), train.Y[:51].toarray()])
    with pytest.raises(InvalidParameterError, match=r"49 of its 100 documents \(49 not "
                                                    r"blank\) are training documents"):
        audit_corpus(texts, Y, space, classifier=classifier,
                     options=AuditOptions(scores="heldout", **FAST))


def test_one_training_document_is_named_in_the_singular(trained, caplog):
    # "1 of them are its training documents", "1 ... is a training document of the
    # bundle: its predictions of them are in sample" on a 40-comment test slice
    classifier, space, test = trained["classifier"], trained["space"], trained["test"]
    train = trained["train"]
    from tagsmith.data.texthash import in_training

    held = [text for text in test.texts
            if not in_training(classifier.train_hashes, [text])[0]][:60]
    rows = [list(test.texts).index(text) for text in held]
    texts = held + [train.texts[5]]
    Y = np.vstack([test.Y[rows].toarray(), train.Y[5:6].toarray()])
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        audit_corpus(texts, Y, space, classifier=classifier, options=AuditOptions(**FAST))
        audit_corpus(texts, Y, space, classifier=classifier,
                     options=AuditOptions(scores="heldout", **FAST))
    assert ("the corpus's 61 documents, only 1 of them a training document of the bundle:"
            in caplog.text)
    assert ("1 of the corpus's 61 documents is a training document of the bundle: its "
            "prediction of it is in sample" in caplog.text)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        audit_corpus(held, test.Y[rows], space, classifier=classifier,
                     options=AuditOptions(**FAST))
    assert "documents, none of them a training document of the bundle:" in caplog.text


def test_a_small_test_split_is_not_told_to_audit_a_larger_corpus(trained):
    # 40 test comments audited with the bundle's predictions: the note said "the scores
    # learn too little of such a label ... audit a larger corpus with the same labels",
    # where the bundle learnt the labels from its 1,500 training documents
    classifier, space, test = trained["classifier"], trained["space"], trained["test"]
    result = audit_corpus(test.texts[:40], test.Y[:40], space, classifier=classifier,
                          options=AuditOptions(scores="heldout", **FAST))
    note = result.report["noise"]["rare_labels_note"]
    assert note is not None
    assert "the bundle's scores learnt such a label from its training documents" in note
    # named as a Python caller gives it: the command line's option was named here
    assert "larger corpus" not in note and "(AuditOptions(review_sample=N))" in note
    crossfit = audit_corpus(test.texts[:40], test.Y[:40], space,
                            options=AuditOptions(scores="knn", **FAST))
    assert "audit a larger corpus" in crossfit.report["noise"]["rare_labels_note"]


def test_the_page_says_whose_predictions_scored_the_corpus(trained, tmp_path):
    # its scores line read "heldout (linear)", not that a bundle trained elsewhere scored it
    from tagsmith.audit.report import render_html

    classifier, space, test = trained["classifier"], trained["space"], trained["test"]
    result = audit_corpus(test.texts[:200], test.Y[:200], space, classifier=classifier,
                          options=AuditOptions(scores="heldout", **FAST))
    page = render_html(result.report, plots=False)
    assert ("heldout (linear, the predictions of a bundle trained on 1,500 other "
            "documents)" in page)


def test_the_page_counts_the_training_documents_among_the_corpus(trained):
    # the page said "trained on 1,500 other documents" where the audit had just warned
    # that some of the corpus's documents were the bundle's training documents
    from tagsmith.audit.report import render_html
    from tagsmith.data.texthash import in_training

    classifier, space = trained["classifier"], trained["space"]
    texts, Y = _with_training_documents(trained)
    result = audit_corpus(texts, Y, space, classifier=classifier,
                          options=AuditOptions(scores="heldout", **FAST))
    n_in = int(in_training(classifier.train_hashes, texts).sum())
    assert result.report["scores"]["n_corpus_training_docs"] == n_in
    page = render_html(result.report, plots=False)
    assert "other documents" not in page
    assert (f"heldout (linear, the predictions of a bundle trained on 1,500 documents, "
            f"{n_in} of them among these)" in page)


def test_eval_and_audit_count_training_documents_by_one_rule(trained):
    # eval's overlap warning and heldout's check each had their own copy of the
    # blank-excluding count: now both are texthash.training_documents
    from tagsmith.data.texthash import training_documents
    from tagsmith.pipeline.audit import _n_training_documents
    from tagsmith.pipeline.evaluate import warn_training_overlap

    classifier, test, train = trained["classifier"], trained["test"], trained["train"]
    texts = list(test.texts[:50]) + [t.upper() for t in train.texts[:10]] + ["", " \n"]
    mask = training_documents(classifier.train_hashes, texts)
    assert mask[50:60].all() and not mask[60:].any()
    assert (warn_training_overlap(classifier, texts, "corpus")
            == _n_training_documents(classifier, texts)[0] == int(mask.sum()))
    assert _n_training_documents(classifier, texts)[1] == len(texts) - 2


def test_python_heldout_warns_of_the_parameters_it_ignores(trained, caplog):
    # the command line refuses --model, -p, --folds and --cooccurrence with heldout
    # scores; AuditOptions took them and the audit ran with each silently unused
    classifier, test, space = trained["classifier"], trained["test"], trained["space"]
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = audit_corpus(test.texts[:200], test.Y[:200], space, classifier=classifier,
                              options=AuditOptions(scores="heldout", model="linear",
                                                   model_params={"C": 3.0}, n_folds=10,
                                                   cooccurrence=0.5, **FAST))
    assert result.scores.source == "heldout"  # existing callers still run
    expected = ("scores heldout takes the bundle's predictions and fits nothing: the "
                "model and model_params and n_folds and cooccurrence given are ignored")
    assert expected in result.report["warnings"]
    record = next(r for r in caplog.records if r.getMessage() == expected)
    assert record.parameters == ("scores", "model", "model_params", "n_folds",
                                 "cooccurrence")
    plain = audit_corpus(test.texts[:200], test.Y[:200], space, classifier=classifier,
                         options=AuditOptions(scores="heldout", **FAST))
    assert not any("fits nothing" in w for w in plain.report["warnings"])


@pytest.mark.parametrize(("scores", "given", "what"), [
    ("knn", {"model": "linear", "model_params": {"C": 3.0}, "n_folds": 3},
     "takes leave-one-out kNN scores, with no model and no folds: the model and "
     "model_params and n_folds given are ignored"),
    ("crossfit", {"knn_params": {"n_neighbors": 5}, "cooccurrence": 0.5},
     "cross-fits a model, with no kNN scores: the knn_params and cooccurrence given are "
     "ignored"),
    ("bundle", {"model": "linear", "knn_params": {"n_neighbors": 5}},
     "takes the bundle's stored out-of-fold scores and fits nothing: the model and "
     "knn_params given are ignored")])
def test_python_scores_by_name_warn_of_the_parameters_they_ignore(trained,
                                                                  scores, given, what,
                                                                  caplog):
    # only heldout warned (stop 54): AuditOptions(scores="knn", model="linear", ...) ran
    # with the model silently unused, where the command line refuses --model with knn
    if scores == "bundle":  # a bundle that stores its out-of-fold scores of this corpus
        texts, Y = trained["train"].texts[:300], trained["train"].Y[:300]
        classifier = train_classifier(texts, Y, trained["space"], options=TrainOptions(
            featurizer_params=FAST_FEATURES, model="tree", model_params={"n_jobs": 1},
            dev_fraction=0.0, crossfit_folds=2))
    else:
        texts, Y, classifier = trained["test"].texts[:200], trained["test"].Y[:200], None
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = audit_corpus(texts, Y, trained["space"], classifier=classifier,
                              options=AuditOptions(scores=scores, **given, **FAST))
    assert result.scores.source == scores  # existing callers still run
    expected = f"scores {scores} {what}"
    assert expected in result.report["warnings"]
    record = next(r for r in caplog.records if r.getMessage() == expected)
    assert record.parameters == ("scores", *given)
    # the parameters a source uses are not warned of
    used = {"knn": {"knn_params": {"n_neighbors": 5}, "cooccurrence": 0.5},
            "crossfit": {"model": "linear", "n_folds": 3}, "bundle": {}}[scores]
    plain = audit_corpus(texts, Y, trained["space"], classifier=classifier,
                         options=AuditOptions(scores=scores, **used, **FAST))
    assert not any("ignored" in w for w in plain.report["warnings"])


def test_heldout_fills_k_after_the_labels_the_vocabulary_dropped(trained):
    """A label of the bundle the audit's vocabulary dropped was cut out of each row's
    top-k after the bundle was asked for k: a row with it among its best k had k - 1
    predictions, the bundle's next best label lost. The bundle is asked for k plus the
    labels dropped, so each row keeps k of the labels the audit knows."""
    from tagsmith.data.labelspace import LabelSpace

    classifier, space, test = trained["classifier"], trained["space"], trained["test"]
    texts, Y = test.texts[:200], test.Y[:200].tocsc()
    wide = audit_corpus(texts, Y.tocsr(), space, classifier=classifier,
                        options=AuditOptions(scores="heldout", k=4, **FAST))
    best = int(np.bincount(wide.scores.topk.indices[:, 0]).argmax())  # often first
    kept = [i for i in range(len(space)) if i != best]
    updated = LabelSpace([space[i] for i in kept])
    result = audit_corpus(texts, Y[:, kept].tocsr(), updated, classifier=classifier,
                          options=AuditOptions(scores="heldout", k=3, **FAST))
    topk = result.scores.topk
    assert topk.k == 3 and (topk.indices >= 0).all()  # no row short of a label
    for row in range(len(texts)):  # the bundle's best 3 of the labels kept, in order
        expected = [kept.index(int(i)) for i in wide.scores.topk.indices[row]
                    if i != best][:3]
        assert topk.indices[row].tolist() == expected
