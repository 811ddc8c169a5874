"""Distillation from LLM labels, and budgeted active distillation."""

import json
import re
import sqlite3

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import CorpusFormatError, DataError, InvalidParameterError
from tagsmith.labeling.cache import ResponseCache
from tagsmith.labeling.prompts import read_data_section
from tagsmith.pipeline.classifier import TextClassifier
from tagsmith.pipeline.distill import ActiveOptions, active_distill, distill_classifier
from tagsmith.pipeline.evaluate import evaluate_classifier
from tagsmith.pipeline.io import read_labelled
from tagsmith.pipeline.llm import read_soft_labels, write_soft_labels
from tagsmith.pipeline.train import TrainOptions
from tagsmith.testing.llm_server import LocalChatServer, user_prompt
from tagsmith.topk import TopK

from conftest import FAST_FEATURES, GOEMOTIONS, answer_sport, down_after, sport_corpus, sport_vocab

GOEMOTIONS_VOCAB = GOEMOTIONS / "vocab.tsv"

tagsmith_cli._register_commands()


@pytest.fixture(scope="module")
def data(goemotions_small):
    space = load_vocabulary(goemotions_small["vocab"])
    return space, read_labelled(goemotions_small["train"], space), \
        read_labelled(goemotions_small["test"], space)


def noisy_teacher(Y, error_rate, seed=0):
    """True labels, wrong (a random other label) on a seeded share of documents."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(Y.shape[0]) < error_rate
    noise = rng.integers(0, Y.shape[1], Y.shape[0])

    def teach(indices):
        rows = []
        for i in indices:
            row = Y[i].toarray().ravel() * 0.9
            if wrong[i]:
                row[:] = 0
                row[noise[i]] = 0.9
            rows.append(row)
        return sp.csr_matrix(np.array(rows, np.float32)), np.ones(len(indices), bool)
    return teach


@pytest.mark.parametrize("strategy", ["robust", "uncertainty", "random"])
def test_active_distill_spends_exactly_the_budget(data, strategy):
    space, train, test = data
    precision = np.linspace(0.5, 1.0, len(space)) if strategy == "robust" else None
    options = ActiveOptions(budget=300, strategy=strategy, rounds=3, seed=1,
                            featurizer_params=FAST_FEATURES, teacher_error_rate=0.2,
                            teacher_precision=precision)
    result = active_distill(train.texts, space, noisy_teacher(train.Y, 0.2), options)
    assert len(result.selected) == 300 == len(np.unique(result.selected))
    assert result.Y_teacher.shape == (300, len(space))
    assert [r["asked"] for r in result.rounds] == [75, 113, 112]
    # one line: the dataclass repr printed the 300 selected ids and every round
    assert repr(result) == (f"ActiveResult(classifier={result.classifier!r}, "
                            f"n_selected=300, n_rounds=3)")
    assert result.classifier.thresholds.global_threshold != 0.5  # tuned out of fold
    topk = result.classifier.predict_topk(test.texts[:50], 3)
    assert topk.indices.shape == (50, 3)


def test_active_distill_validates(data):
    space, train, _ = data
    with pytest.raises(InvalidParameterError, match="budget"):
        active_distill(train.texts[:10], space, noisy_teacher(train.Y, 0), ActiveOptions(
            budget=20))
    with pytest.raises(InvalidParameterError, match="mistakes_scope"):
        active_distill(train.texts[:10], space, noisy_teacher(train.Y, 0), ActiveOptions(
            budget=5, mistakes_scope="everywhere"))


@pytest.mark.parametrize("strategy", ["robust", "uncertainty", "random"])
def test_a_budget_smaller_than_the_rounds_fills_fewer_rounds(data, strategy):
    # budget 3 in 4 rounds used to plan an empty last round, which selection refused
    # (InvalidParameterError "budget ... got 0") after the teacher had been paid
    space, train, _ = data
    result = active_distill(train.texts, space, noisy_teacher(train.Y, 0.2), ActiveOptions(
        budget=3, rounds=4, strategy=strategy, featurizer_params=FAST_FEATURES))
    assert [r["asked"] for r in result.rounds] == [1, 1, 1]
    assert len(np.unique(result.selected)) == 3


def test_active_distill_names_the_labels_the_teacher_never_gave(data, caplog):
    # a support team's budgeted student of 30 tickets had 'Gift card' and other intents
    # the teacher gave no ticket: never predicted, and nothing said so, where distill
    # and train on the same file warn of them
    space, train, _ = data
    only = [1, 3]

    def teach(indices):
        rows = np.zeros((len(indices), len(space)), np.float32)
        rows[:, only[0]] = 0.9
        rows[::2, only[1]] = 0.8
        return sp.csr_matrix(rows), np.ones(len(indices), bool)

    with caplog.at_level("WARNING", logger="tagsmith"):
        active_distill(train.texts, space, teach, ActiveOptions(
            budget=12, rounds=2, featurizer_params=FAST_FEATURES))
    n = len(space) - 2
    assert (f"active distillation: {n} of {len(space)} labels have no positive training "
            "document (the teacher gave them to none of the 12 documents it labelled: "
            f"{space.name_of(0)!r}, {space.name_of(2)!r}, {space.name_of(4)!r}, "
            f"{space.name_of(5)!r}, {space.name_of(6)!r}, and {n - 5} more) and the "
            "student will never predict them") in caplog.text


@pytest.mark.parametrize("model, warned", [("linear", 1), ("tree", 0)])
def test_active_distill_warns_once_of_linear_at_scale(data, caplog, monkeypatch, model,
                                                       warned):
    # train_classifier warns that linear grows long at thousands of used labels; the
    # active students (linear by default) were fitted round after round without a word.
    # The thresholds lowered here stand for 5,000 labels of 8,000 documents
    from tagsmith.pipeline import train as train_module

    monkeypatch.setattr(train_module, "LINEAR_MANY_LABELS", 2)
    monkeypatch.setattr(train_module, "LINEAR_MANY_CELLS", 2)
    space, train, _ = data
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = active_distill(train.texts, space, noisy_teacher(train.Y, 0.0), ActiveOptions(
            budget=60, rounds=3, model=model, featurizer_params=FAST_FEATURES))
    assert len(result.rounds) == 3
    told = [r.getMessage() for r in caplog.records if "fraction of the time" in r.getMessage()]
    assert len(told) == warned, told  # once a run, not once a round
    if warned:
        assert 'ActiveOptions(model="tree") trains large label spaces' in told[0]


@pytest.mark.parametrize("student", [True, False])
def test_label_with_a_budget_warns_of_labels_never_given_as_it_keeps_a_student(
        tmp_path, student):
    # without --student no student is written, but the warning said the labels "will
    # never be predicted"; and it listed the names unquoted, so 'Arts, crafts' read as
    # two labels
    docs, _ = sport_corpus(tmp_path, 20)
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:sport>\tsport\n<u:art>\tArts, crafts\n")
    args = ["label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
            "--budget", "6", "--rounds", "2", "--llm", "t",
            "--cache", str(tmp_path / "c.sqlite"),
            *(["--student", str(tmp_path / "s")] if student else [])]
    with LocalChatServer(answer_sport) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    # the closing words follow the parenthesis as a sentence's do ("') ; a model": a space
    # before the semicolon)
    assert ("1 of 2 labels has no positive training document (the teacher gave it to "
            "none of the 6 documents it labelled: 'Arts, crafts')" + (
                " and the student will never predict it" if student else
                "; a model trained on these labels will never predict it")) in said, said


def test_label_with_a_budget_names_labels_never_given_in_lang(tmp_path):
    """label --budget --lang de offered the LLM the German names, but its warning of
    labels the teacher never gave named them in English ('art' for 'Kunst')."""
    docs, _ = sport_corpus(tmp_path, 20)
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en,label_de\nu:sport,sport,Sport\nu:art,art,Kunst\n")
    args = ["label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
            "--budget", "6", "--rounds", "2", "--llm", "t", "--lang", "de",
            "--cache", str(tmp_path / "c.sqlite")]
    with LocalChatServer(lambda body: json.dumps(
            {"labels": [{"label": "Sport", "confidence": 0.9}]})) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--base-url", server.base_url])
        assert "Kunst" in user_prompt(server.requests[0])  # the names the LLM was offered
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "none of the 6 documents it labelled: 'Kunst')" in said, said


def test_batch_scope_adversary_runs(data):
    space, train, _ = data
    result = active_distill(train.texts, space, noisy_teacher(train.Y, 0.2), ActiveOptions(
        budget=120, rounds=2, mistakes_scope="batch", featurizer_params=FAST_FEATURES))
    assert result.rounds[1]["n_mistakes_assumed"] == pytest.approx(0.2 * 90, abs=0.1)


def test_distill_reports_teacher_agreement_and_human_accuracy(data):
    space, train, test = data
    Y_soft = train.Y.multiply(0.8).tocsr()
    clf, report = distill_classifier(
        train.texts, Y_soft, space, human_texts=test.texts, human_Y=test.Y,
        options=TrainOptions(featurizer_params=FAST_FEATURES))
    assert report["teacher_agreement"]["p@1"] > 0.3
    assert report["human_accuracy"]["p@1"] > 0.3
    assert clf.manifest["distillation"]["n_docs"] == len(train.texts)


def test_distill_tunes_and_calibrates_on_the_named_labels_of_soft_targets(data):
    # held-out labels must be 0 or 1: training on soft targets tunes its thresholds and
    # calibrates against their named labels (nonzero), as it always counted them
    space, train, _ = data
    Y_soft = train.Y.multiply(0.8).tocsr()
    clf, report = distill_classifier(
        train.texts, Y_soft, space, options=TrainOptions(
            featurizer_params=FAST_FEATURES, calibration_fraction=0.3, crossfit_folds=2))
    assert report["teacher_agreement"]["p@1"] > 0.3
    assert clf.calibrator is not None


def test_soft_label_files_round_trip_and_errors(data, tmp_path):
    space, train, _ = data
    Y = train.Y[:20].multiply(0.7).tocsr()
    path = tmp_path / "soft.jsonl"
    assert write_soft_labels(path, train.texts[:20], Y, space) == 20
    texts, again = read_soft_labels(path, space)
    assert texts == [t.strip() for t in train.texts[:20]]
    np.testing.assert_allclose(again.toarray(), Y.toarray(), atol=1e-4)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "labels": [space.uri_of(0)], "scores": [2]}) + "\n")
    with pytest.raises(CorpusFormatError, match="bad.jsonl:1"):
        read_soft_labels(bad, space)


def test_soft_labels_marked_copy_of_are_learnt_once(data, tmp_path, caplog):
    """Copies written by label --budget ('copy_of' naming their document's id) were read
    as documents of their own, so distill learnt each copied text twice or more. They
    are left out; one naming an id no unmarked line has is kept, with a warning."""
    space = data[0]
    path = tmp_path / "soft.jsonl"
    Y = sp.csr_matrix(np.array([[0.9, 0.0], [0.2, 0.7], [0.9, 0.0]]))
    Y.resize(3, len(space))
    assert write_soft_labels(path, ["joy", "so sad", "JOY"], Y, space,
                             doc_ids=["a", "7", "c"], copy_of=[None, None, "a"]) == 3
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[2])["copy_of"] == "a"
    # the documents answered: their lines as without the argument
    assert write_soft_labels(tmp_path / "plain.jsonl", ["joy", "so sad"], Y[:2], space,
                             doc_ids=["a", "7"]) == 2
    assert (tmp_path / "plain.jsonl").read_text(encoding="utf-8").splitlines() == lines[:2]
    with caplog.at_level("INFO", logger="tagsmith"):
        texts, again = read_soft_labels(path, space)
    assert texts == ["joy", "so sad"] and again.shape == (2, len(space))
    np.testing.assert_allclose(again.toarray(), Y[:2].toarray(), atol=1e-4)
    assert f"{path}: 1 copy line (marked 'copy_of'" in caplog.text
    # an integer id, as JSON may give it; copies of an id not in the file: the first kept
    caplog.clear()
    records = [{"id": 7, "text": "so sad", "labels": [space.uri_of(1)]},
               {"id": "x", "text": "SO SAD", "labels": [space.uri_of(1)], "copy_of": 7},
               {"id": "y", "text": "joy", "labels": [space.uri_of(0)], "copy_of": "gone"},
               {"id": "z", "text": "Joy", "labels": [space.uri_of(0)], "copy_of": "gone"}]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    with caplog.at_level("INFO", logger="tagsmith"):
        texts, _ = read_soft_labels(path, space)
    assert texts == ["so sad", "joy"]
    assert f"{path}: 1 line marked 'copy_of' an id that no unmarked line has, kept (at " \
        "line 3)" in caplog.text
    assert f"{path}: 2 copy lines" in caplog.text
    path.write_text(json.dumps({"text": "joy", "labels": [], "copy_of": ["a"]}) + "\n")
    with pytest.raises(CorpusFormatError, match=r"soft\.jsonl:1: 'copy_of' must be the id"):
        read_soft_labels(path, space)


def test_soft_labels_a_document_given_twice_is_learnt_once(data, tmp_path, caplog):
    """Two label outputs concatenated (a rerun's appended to the first) hold each
    document twice, the same id and text: distill read them as two teacher votes and
    learnt every text twice, without a word. The repeats are left out with a warning
    naming the file and their lines; one document per id and text is learnt, from its
    first line. Equal texts under other ids (a corpus's own copies) stay documents."""
    space = data[0]
    path = tmp_path / "soft.jsonl"
    joy, sad = space.uri_of(0), space.uri_of(1)
    records = [{"id": "c:1", "text": "joy", "labels": [joy], "scores": [0.9]},
               {"id": "c:2", "text": "so sad", "labels": [sad], "scores": [0.8]},
               {"id": "c:3", "text": "joy", "labels": [joy], "scores": [0.9]},
               {"id": "c:1", "text": "joy", "labels": [joy], "scores": [0.9]},
               {"id": "c:2", "text": "So  sad", "labels": [joy], "scores": [0.6]},
               # the same id, another text: another document (ids of two corpora)
               {"id": "c:1", "text": "anger", "labels": [sad], "scores": [0.7]}]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, Y = read_soft_labels(path, space)
    assert texts == ["joy", "so sad", "joy", "anger"]
    np.testing.assert_allclose(Y[:, :2].toarray(), [[0.9, 0], [0, 0.8], [0.9, 0], [0, 0.7]],
                               atol=1e-6)
    assert f"{path}: 2 lines repeat the id and text (case and spacing aside) of an " \
        "earlier line, left out (at lines 4, 5)" in caplog.text
    assert "1 of them with other labels or scores" in caplog.text
    # without repeats, nothing is said
    caplog.clear()
    path.write_text("".join(json.dumps(record) + "\n" for record in records[:3]))
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, _ = read_soft_labels(path, space)
    assert texts == ["joy", "so sad", "joy"] and "repeat" not in caplog.text


def test_soft_labels_a_repeated_copy_line_is_not_counted_as_a_repeat(data, tmp_path,
                                                                     caplog):
    """Two label --budget outputs concatenated repeat their copy lines ('copy_of'), whose
    labels are never learnt: the repeat warning counted them ('2 lines repeat ... 2 of
    them with other labels', of a file repeating one document and one copy). A copy
    of an id no unmarked line has (learnt, the first) is still counted."""
    space = data[0]
    path = tmp_path / "soft.jsonl"
    joy, sad = space.uri_of(0), space.uri_of(1)
    records = [{"id": "a", "text": "joy", "labels": [joy], "scores": [0.9]},
               {"id": "b", "text": "JOY", "labels": [joy], "scores": [0.9], "copy_of": "a"},
               {"id": "c", "text": "so sad", "labels": [sad], "scores": [0.8]},
               {"id": "o", "text": "anger", "labels": [sad], "scores": [0.5],
                "copy_of": "gone"}]
    again = [{**record, "scores": [0.6]} for record in records]
    again[2]["scores"] = [0.8]  # c: repeated as it was
    path.write_text("".join(json.dumps(record) + "\n" for record in records + again))
    with caplog.at_level("INFO", logger="tagsmith"):
        texts, Y = read_soft_labels(path, space)
    assert texts == ["joy", "so sad", "anger"]
    np.testing.assert_allclose(Y[:, :2].toarray(), [[0.9, 0], [0, 0.8], [0, 0.5]],
                               atol=1e-6)
    assert f"{path}: 3 lines repeat the id and text (case and spacing aside) of an " \
        "earlier line, left out (at lines 5, 7, 8)" in caplog.text
    assert "; 2 of them with other labels or scores" in caplog.text
    assert f"{path}: 2 copy lines (marked 'copy_of'" in caplog.text  # lines 2 and 6


def test_soft_label_warnings_write_their_counts_with_thousands_separators(data, tmp_path,
                                                                         caplog):
    """'1001 lines repeat ... and 991 more' was said beside counts written '1,001' (the
    rest of the messages): each count of these warnings is written as the others are."""
    space = data[0]
    path = tmp_path / "soft.jsonl"
    joy = space.uri_of(0)
    n = 1001
    records = [{"id": f"d{i}", "text": f"text {i}", "labels": [joy], "scores": [0.9]}
               for i in range(n)]
    records += [{**record, "scores": [0.5]} for record in records]  # repeated otherwise
    records += [{"id": f"d{i}", "text": f"other {i}", "labels": [joy]} for i in range(n)]
    records += [{"id": f"c{i}", "text": f"TEXT {i}", "labels": [joy], "copy_of": f"d{i}"}
                for i in range(n)]
    records += [{"id": f"o{i}", "text": f"orphan {i}", "labels": [joy], "copy_of": f"g{i}"}
                for i in range(n)]
    records += [{"id": f"b{i}", "text": " ", "labels": [joy]} for i in range(n)]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    with caplog.at_level("INFO", logger="tagsmith"):
        read_soft_labels(path, space)
    said = [record.getMessage() for record in caplog.records]
    for start in ("1,001 documents with a blank text", "1,001 ids are given to lines of "
                  "other texts", "1,001 lines repeat the id", "1,001 lines marked 'copy_of'",
                  "1,001 copy lines"):
        assert any(message.startswith(f"{path}: {start}") for message in said), (start, said)
    assert any("; 1,001 of them with other labels" in message for message in said), said


def test_soft_labels_an_id_given_to_other_texts_is_said(data, tmp_path, caplog):
    """Two label outputs of corpora with the same file names (doc1.txt in each) give
    one id to two texts: both are learnt (they are two documents), but it was without
    a word, where the same id and text is warned of; a warning names the ids and lines."""
    space = data[0]
    path = tmp_path / "soft.jsonl"
    joy, sad = space.uri_of(0), space.uri_of(1)
    records = [{"id": "doc1.txt", "text": "joy", "labels": [joy]},
               {"id": "doc2.txt", "text": "so sad", "labels": [sad]},
               {"id": "doc1.txt", "text": "anger", "labels": [sad]},
               {"id": "doc2.txt", "text": "so sad", "labels": [sad]}]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, _ = read_soft_labels(path, space)
    assert texts == ["joy", "so sad", "anger"]
    assert f"{path}: 1 id is given to lines of other texts ('doc1.txt' at lines 1, 3)" \
        in caplog.text
    assert "each learnt as its own document" in caplog.text
    caplog.clear()  # the same id and text only: not said to be other texts
    path.write_text("".join(json.dumps(record) + "\n" for record in records[1::2]))
    with caplog.at_level("WARNING", logger="tagsmith"):
        read_soft_labels(path, space)
    assert "other texts" not in caplog.text


@pytest.mark.parametrize("records, line, message", [
    # a text that is not its document's: left out, a distinct text never learnt
    ([{"id": "a", "text": "joy"}, {"id": "b", "text": "so sad", "copy_of": "a"}], 2,
     "marked 'copy_of' 'a', the document at line 1, but its text is not that document's"),
    # copies of one missing id with two texts: the second was left out
    ([{"id": "a", "text": "joy", "copy_of": "gone"},
      {"id": "b", "text": "so sad", "copy_of": "gone"}], 2,
     "marked 'copy_of' 'gone', as line 1 is, but its text is not that line's"),
    # a copy of a copy: kept as a text 'nowhere else' beside its twin, learnt twice
    ([{"id": "a", "text": "joy"}, {"id": "b", "text": "JOY", "copy_of": "a"},
      {"id": "c", "text": "Joy ", "copy_of": "b"}], 3,
     "marked 'copy_of' 'b', the id of line 2, itself a copy (marked 'copy_of' 'a'): "
     "'copy_of' names the unmarked document"),
    ([{"id": "a", "text": "joy", "copy_of": "a"}], 1, "marked 'copy_of' 'a', its own id"),
])
def test_soft_labels_refuse_a_copy_of_mark_the_file_contradicts(data, tmp_path, records, line,
                                                                message):
    """read_soft_labels trusted every 'copy_of' mark: a line whose text differs from
    the one it claims to copy (case and spacing aside) was left out, so its text was
    never learnt, and a copy of a copy was kept as a text found nowhere else."""
    space = data[0]
    path = tmp_path / "soft.jsonl"
    path.write_text("".join(json.dumps({**record, "labels": [space.uri_of(0)]}) + "\n"
                            for record in records))
    with pytest.raises(CorpusFormatError) as caught:
        read_soft_labels(path, space)
    assert str(caught.value).startswith(f"{path}:{line}: {message}"), str(caught.value)


def test_cli_distill_refuses_a_copy_of_another_text(tmp_path):
    vocab = sport_vocab(tmp_path)
    labels = tmp_path / "l.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": "1", "text": "a football match", "labels": ["u:sport"]},
        {"id": "2", "text": "a piano concert", "labels": ["u:sport"], "copy_of": "1"})))
    result = CliRunner().invoke(tagsmith_cli.cli, ["distill", str(labels), "--vocab",
                                                   str(vocab), "-o", str(tmp_path / "m")])
    assert result.exit_code == 3, result.output
    assert f"{labels}:2: marked 'copy_of' '1', the document at line 1" in result.output
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("in_human", [False, True])
def test_cli_distill_names_the_vocabulary_that_lacks_a_label(tmp_path, in_human):
    """A label the vocabulary no longer has (LABELS written by a label run over an older
    vocabulary) was refused as "not in the vocabulary", naming none, where train and
    eval name the vocabulary file the label is missing from."""
    vocab = sport_vocab(tmp_path)
    labels = tmp_path / "l.jsonl"
    human = tmp_path / "h.tsv"
    gone, kept = ("u:sport", "u:gone") if in_human else ("u:gone", "u:sport")
    labels.write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": "1", "text": "a football match", "labels": ["u:sport"], "scores": [0.9]},
        {"id": "2", "text": "a tennis final", "labels": [gone], "scores": [0.8]})))
    human.write_text(f"a rugby game\t<u:sport>\na piano concert\t<{kept}>\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "distill", str(labels), "--vocab", str(vocab), "-o", str(tmp_path / "m"),
        "--human", str(human)])
    assert result.exit_code == 3, result.output
    where = f"{human}:2" if in_human else f"{labels}:2"
    label = "<u:gone>" if in_human else "u:gone"
    assert f"{where}: unknown label {label!r} (not in the vocabulary {vocab})" \
        in result.output, result.output
    assert not (tmp_path / "m").exists()


def test_soft_labels_skip_unknown_labels_and_malformed_lines_when_asked(data, tmp_path, caplog):
    """distill had no --unknown-labels nor --on-error, as train has: a label its
    vocabulary no longer has, or a malformed line (a last line cut mid-write), could only
    fail the run, the file to be edited by hand. Skipped, each is counted in a warning;
    a label dropped takes its score with it."""
    space = data[0]
    joy, sad = space.uri_of(0), space.uri_of(1)
    path = tmp_path / "soft.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "joy", "labels": ["u:gone", joy],
                                "scores": [0.3, 0.9]}) + "\n"
                    + json.dumps({"id": "2", "text": "so sad", "labels": [sad],
                                  "scores": [0.8]}) + "\n"
                    + '{"id": "3", "text": "half a li', encoding="utf-8")
    with pytest.raises(DataError, match=r"soft\.jsonl:1: unknown label 'u:gone'"):
        read_soft_labels(path, space, on_error="skip")
    with pytest.raises(CorpusFormatError, match=r"soft\.jsonl:3: invalid JSON"):
        read_soft_labels(path, space, unknown_labels="skip")
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, Y = read_soft_labels(path, space, on_error="skip", unknown_labels="skip")
    assert texts == ["joy", "so sad"]
    np.testing.assert_allclose(Y[:, :2].toarray(), [[0.9, 0], [0, 0.8]], atol=1e-6)
    assert Y.nnz == 2
    assert f"{path}: 2 documents; 1 malformed line skipped (first at line 3: invalid JSON" \
        in caplog.text
    assert "1 unknown label occurrence skipped (1 distinct, most often 'u:gone' x1)" \
        in caplog.text


def test_soft_labels_skipping_a_document_s_only_label_counts_it_without_labels(data, tmp_path,
                                                                             caplog):
    """A document whose every label --unknown-labels skip dropped is learnt as one with
    no label (0 for each): train's summary counts it ('1 without labels'), distill's did
    not, so the skipped labels read as lost scores only."""
    space = data[0]
    joy = space.uri_of(0)
    path = tmp_path / "soft.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in (
        {"id": "1", "text": "joy", "labels": [joy], "scores": [0.9]},
        {"id": "2", "text": "gone", "labels": ["u:gone"], "scores": [0.8]})))
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, Y = read_soft_labels(path, space, unknown_labels="skip")
    assert texts == ["joy", "gone"] and Y[1].nnz == 0
    assert f"{path}: 2 documents; 1 unknown label occurrence skipped (1 distinct, most " \
        "often 'u:gone' x1); 1 without labels" in caplog.text


def test_cli_distill_counts_the_lines_without_scores_apart(tmp_path):
    """A desk retrains on last month's human corpus and this month's LLM labels
    concatenated (cat month1.jsonl m2.jsonl): distill said "from 7,536 LLM-labelled
    documents", 3,698 of them people's lines without scores. Counted apart now."""
    vocab = sport_vocab(tmp_path)
    people = [{"id": f"h{i}", "text": text, "labels": [uri]} for i, (text, uri) in
              enumerate((("a rugby game", "u:sport"), ("a violin solo", "u:music"),
                         ("a chess final", "u:sport")))]
    llm = [{"id": "1", "text": "a football match", "labels": ["u:sport"], "scores": [0.9]},
           {"id": "2", "text": "a piano concert", "labels": ["u:music"], "scores": [0.8]}]
    both = tmp_path / "both.jsonl"
    both.write_text("".join(json.dumps(r) + "\n" for r in people + llm))
    args = ["distill", str(both), "--vocab", str(vocab), "--dev-fraction", "0"]
    result = CliRunner().invoke(tagsmith_cli.cli, args + ["-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert ("distilled linear from 5 documents: 2 LLM-labelled, 3 without scores (labels "
            "counted 1, as people's) ->") in result.output
    result = CliRunner().invoke(tagsmith_cli.cli, args + ["-o", str(tmp_path / "j"),
                                                          "--json"])
    summary = json.loads(result.stdout)
    assert (summary["n_docs"], summary["n_llm_labelled"], summary["n_without_scores"]) \
        == (5, 2, 3)
    # a label file alone, as ever; a human corpus alone says it holds no LLM's labels
    only = tmp_path / "people.jsonl"
    only.write_text("".join(json.dumps(r) + "\n" for r in people))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "distill", str(only), "--vocab", str(vocab), "--dev-fraction", "0",
        "-o", str(tmp_path / "p")])
    assert "distilled linear from 3 documents without scores (no LLM's labels: each " \
        "label counted 1) ->" in result.output


def test_cli_distill_skips_unknown_labels_and_malformed_lines_when_asked(tmp_path):
    vocab = sport_vocab(tmp_path)
    labels = tmp_path / "l.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": "1", "text": "a football match", "labels": ["u:sport"], "scores": [0.9]},
        {"id": "2", "text": "a piano concert", "labels": ["u:music"], "scores": [0.8]},
        {"id": "3", "text": "a tennis final", "labels": ["u:gone"], "scores": [0.8]}))
        + '{"id": "4", "text": "a rug')
    human = tmp_path / "h.tsv"
    human.write_text("a rugby game\t<u:sport> <u:gone>\na violin solo\t<u:music>\n")
    args = ["distill", str(labels), "--vocab", str(vocab), "-o", str(tmp_path / "m"),
            "--human", str(human), "--dev-fraction", "0"]
    result = CliRunner().invoke(tagsmith_cli.cli, args)
    assert result.exit_code == 3 and f"{labels}:3: unknown label" in result.output
    result = CliRunner().invoke(tagsmith_cli.cli, args + ["--unknown-labels", "skip"])
    assert result.exit_code == 3 and f"{labels}:4: invalid JSON" in result.output
    result = CliRunner().invoke(tagsmith_cli.cli, args + ["--unknown-labels", "skip",
                                                          "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert "distilled linear from 3 LLM-labelled documents" in result.output
    assert "accuracy against human labels (2 documents)" in result.output


def test_cli_distill_keeps_what_the_student_was_distilled_from(tmp_path):
    """info showed a distilled bundle's counts and human accuracy but not what it was
    distilled from, where a calibrated one names its --data (its base name). The
    manifest's distillation names LABELS and --human so."""
    vocab = sport_vocab(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    labels = folder / "soft.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": "1", "text": "a football match", "labels": ["u:sport"], "scores": [0.9]},
        {"id": "2", "text": "a piano concert", "labels": ["u:music"], "scores": [0.8]})))
    human = folder / "sample.tsv"
    human.write_text("a rugby game\t<u:sport>\na violin solo\t<u:music>\n")
    for extra, expected in (([], {"labels_file": "soft.jsonl"}),
                            (["--human", str(human)],
                             {"labels_file": "soft.jsonl", "human_file": "sample.tsv"})):
        out = tmp_path / f"m{len(extra)}"
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "distill", str(labels), "--vocab", str(vocab), "-o", str(out), "--dev-fraction",
            "0", *extra])
        assert result.exit_code == 0, result.output
        distillation = TextClassifier.load(out).manifest["distillation"]
        assert {key: distillation.get(key) for key in ("labels_file", "human_file")} == \
            {"labels_file": None, "human_file": None, **expected}
        # training names its files as train's bundle does (a distilled one named none)
        training = TextClassifier.load(out).manifest["training"]
        assert (training.get("data"), training.get("vocab")) == ("soft.jsonl", vocab.name)
        assert "dev" not in training and "data_fingerprint" in training


def _sport_music_labels(tmp_path, extra=""):
    """soft.jsonl: label's output of 40 documents, odd ones u:sport, even ones u:music
    (each at 0.9), then ``extra``."""
    labels = tmp_path / "soft.jsonl"
    labels.write_text("".join(json.dumps(
        {"id": str(i), "text": f"{'football match' if i % 2 else 'piano concert'} {i}",
         "labels": ["u:sport" if i % 2 else "u:music"], "scores": [0.9]}) + "\n"
        for i in range(40)) + extra)
    return labels


def test_cli_distill_json_is_one_object_on_stdout_as_train_json(tmp_path):
    """distill, the one command saving a bundle with no --json (train has one), printed
    its agreement with the teacher as text alone: a nightly label-then-distill job
    could not read it with jq. --json prints train --json's keys and the two checks,
    every eval --json metric, or null where there was none."""
    vocab = sport_vocab(tmp_path)
    labels = _sport_music_labels(tmp_path)
    human = tmp_path / "sample.tsv"
    human.write_text("a rugby game\t<u:sport>\na violin solo\t<u:music>\n")
    out = tmp_path / "student"
    for extra in ([], ["--human", str(human)]):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "distill", str(labels), "--vocab", str(vocab), "-o", str(out), "--json",
            *extra])
        assert result.exit_code == 0, result.output
        assert len(result.stdout.splitlines()) == 1, result.stdout
        summary = json.loads(result.stdout)
        assert {key: summary[key] for key in ("model", "output", "n_docs", "n_labels")} == \
            {"model": "linear", "output": str(out), "n_docs": 40, "n_labels": 2}
        assert summary["teacher_agreement"]["n_docs"] == 4  # --dev-fraction 0.1 of 40
        assert "micro_f1" in summary["teacher_agreement"]["metrics"]
        if extra:
            assert summary["human_accuracy"]["n_docs"] == 2
            assert "p@1" in summary["human_accuracy"]["metrics"]
        else:
            assert summary["human_accuracy"] is None


def test_cli_distill_ends_naming_suggest_and_eval_that_run_as_printed(tmp_path):
    """distill printed its figures and stopped: the commands that use the student were
    named nowhere (label names distill, distill named nothing). It ends, on stderr and
    not under -q, with suggest and eval; with --human (measured above) suggest and
    calibrate, but eval where --human is label's output (calibrating on it would fit
    the teacher's labels). The suggest command runs as printed, DOCS given."""
    import shlex

    vocab = sport_vocab(tmp_path)
    labels = _sport_music_labels(tmp_path)
    human = tmp_path / "my sample.tsv"  # a space: quoted for a shell
    human.write_text("".join(f"a rugby game {i}\t<u:sport>\na violin solo {i}\t<u:music>\n"
                             for i in range(6)))  # 12 documents: calibrate takes 10
    out = tmp_path / "the student"
    args = ["distill", str(labels), "--vocab", str(vocab), "-o", str(out)]
    for extra in ([], ["--json"]):
        quiet = CliRunner().invoke(tagsmith_cli.cli, ["-q", *args, *extra])
        assert quiet.exit_code == 0 and "next:" not in quiet.output, quiet.output
    result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--json"])
    assert result.exit_code == 0 and "next:" not in result.stdout, result.output
    json.loads(result.stdout)  # stdout still holds the one object
    assert "next: suggest" in result.stderr
    result = CliRunner().invoke(tagsmith_cli.cli, args)
    assert result.exit_code == 0 and "next:" not in result.stdout, result.output
    line = [x for x in result.stderr.splitlines() if x.startswith("next: ")]
    assert len(line) == 1, result.stderr
    suggest, measure = line[0].removeprefix("next: suggest labels with the student: ").split(
        "; measure it on a labelled corpus it was not taught: ")
    assert shlex.split(measure) == ["tagsmith", "eval", str(out), "TEST"]
    words = shlex.split(suggest)
    assert words == ["tagsmith", "suggest", str(out), "DOCS"]
    docs = tmp_path / "docs.txt"
    docs.write_text("a football match\n")
    ran = CliRunner().invoke(tagsmith_cli.cli, [*words[1:-1], str(docs)])
    assert ran.exit_code == 0 and "sport" in ran.stdout, ran.output
    result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--human", str(human)])
    assert result.exit_code == 0, result.output
    line = [x for x in result.stderr.splitlines() if x.startswith("next: ")]
    assert len(line) == 1 and "tagsmith eval" not in line[0], result.stderr
    calibrate = line[0].split("; or calibrate it on --human first: ")[1]
    assert shlex.split(calibrate) == ["tagsmith", "calibrate", str(out), "--data", str(human)]
    ran = CliRunner().invoke(tagsmith_cli.cli, shlex.split(calibrate)[1:])
    assert ran.exit_code == 0, ran.output  # runs as printed
    # --human as label's output (an LLM's labels of 12 held-out texts): calibrating on
    # it fits the thresholds to the teacher's labels, so the line names eval instead
    by_llm = tmp_path / "held out.jsonl"
    by_llm.write_text("".join(json.dumps(
        {"id": f"h{i}", "text": f"{'a rugby game' if i % 2 else 'a violin solo'} {i}",
         "labels": ["u:sport" if i % 2 else "u:music"], "scores": [0.9]}) + "\n"
        for i in range(12)))
    result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--human", str(by_llm)])
    assert result.exit_code == 0, result.output
    line = [x for x in result.stderr.splitlines() if x.startswith("next: ")]
    assert len(line) == 1 and "calibrate" not in line[0], result.stderr
    assert line[0].endswith("; measure it on a labelled corpus it was not taught: "
                            f"{shlex.join(['tagsmith', 'eval', str(out), 'TEST'])}"), line


def test_cli_distill_names_no_calibrate_that_refuses_its_few_human_documents(tmp_path):
    """With --human of 2 documents distill ended "or calibrate it on --human first:
    tagsmith calibrate STUDENT --data HUMAN", which refused them as printed ("only 2
    held-out documents: calibration needs at least 10"): it names eval instead."""
    vocab = sport_vocab(tmp_path)
    labels = _sport_music_labels(tmp_path)
    human = tmp_path / "h.tsv"
    human.write_text("a rugby game\t<u:sport>\na violin solo\t<u:music>\n")
    out = tmp_path / "student"
    result = CliRunner().invoke(tagsmith_cli.cli, ["distill", str(labels), "--vocab", str(vocab),
                                                   "-o", str(out), "--human", str(human)])
    assert result.exit_code == 0, result.output
    line = [x for x in result.stderr.splitlines() if x.startswith("next: ")]
    assert len(line) == 1 and "calibrate" not in line[0], result.stderr
    assert f"tagsmith eval {out} TEST" in line[0], line


def test_cli_distill_says_a_human_file_of_label_s_output_holds_an_llm_s_labels(tmp_path):
    """A team with no labels of its own gave --human the teacher's labels of held-out
    texts (label's output), and distill printed "accuracy against human labels": an
    agreement with the LLM read as people's verdict. It says whose labels they are now,
    and --json marks them (human_llm_labelled); a people's file reads as before."""
    vocab = sport_vocab(tmp_path)
    labels = _sport_music_labels(tmp_path)
    by_llm = tmp_path / "heldout_teacher.jsonl"  # as label -o writes it
    by_llm.write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": "h1", "text": "a rugby game", "labels": ["u:sport"], "scores": [0.8]},
        {"id": "h2", "text": "a violin solo", "labels": ["u:music"], "scores": [0.7]})))
    by_people = tmp_path / "sample.tsv"
    by_people.write_text("a rugby game\t<u:sport>\na violin solo\t<u:music>\n")
    out = tmp_path / "student"
    args = ["-q", "distill", str(labels), "--vocab", str(vocab), "-o", str(out), "--human"]
    result = CliRunner().invoke(tagsmith_cli.cli, args + [str(by_llm)])
    assert result.exit_code == 0, result.output
    assert "accuracy against human labels" not in result.output
    assert (f"agreement with the LLM's labels of {by_llm}, label's output, not people's "
            "(2 documents it was not taught): P@1") in result.output
    result = CliRunner().invoke(tagsmith_cli.cli, args + [str(by_people)])
    assert "accuracy against human labels (2 documents): P@1" in result.output
    for human, llm in ((by_llm, True), (by_people, False)):
        result = CliRunner().invoke(tagsmith_cli.cli, args + [str(human), "--json"])
        summary = json.loads(result.stdout)
        assert summary["human_llm_labelled"] is llm and summary["human_accuracy"]["n_docs"] == 2


def test_cli_distill_json_has_train_jsons_warnings_and_thresholds(tmp_path):
    """distill --json lacked train --json's "warnings" (the run's warnings, which -q
    hides from a cron job: a label the teacher never gave, never predicted) and
    "thresholds": a job reading both commands' summaries found neither key."""
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:sport>\tsport\n<u:music>\tmusic\n<u:art>\tart\n")
    labels = _sport_music_labels(tmp_path, json.dumps(
        {"id": "x", "text": "paint", "labels": ["u:nope"], "scores": [0.9]}) + "\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "distill", str(labels), "--vocab", str(vocab), "-o", str(tmp_path / "s"),
        "--unknown-labels", "skip", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert any("1 of 3 labels has no positive training document" in warning
               for warning in summary["warnings"]), summary
    assert summary["thresholds"] == json.loads(
        (tmp_path / "s" / "manifest.json").read_text())["thresholds"]


def test_soft_labels_an_empty_copy_of_cell_marks_no_copy(data, tmp_path, caplog):
    """A CSV with a 'copy_of' column has an empty cell on the lines that are no copies:
    each read as a copy of the id '' no line has, so only the first of them was kept and
    distill left out every other document."""
    space = data[0]
    path = tmp_path / "soft.csv"
    joy, sad = space.uri_of(0), space.uri_of(1)
    path.write_text(f"id,text,labels,copy_of\na,joy,<{joy}>,\nb,so sad,<{sad}>,\n"
                    f"c,JOY,<{joy}>,a\nd,anger,<{sad}>, \n", encoding="utf-8")
    with caplog.at_level("INFO", logger="tagsmith"):
        texts, Y = read_soft_labels(path, space)
    assert texts == ["joy", "so sad", "anger"] and Y.shape == (3, len(space))
    assert f"{path}: 1 copy line (marked 'copy_of'" in caplog.text
    assert "no unmarked line has" not in caplog.text


def _old_soft_label_lines(texts, Y, space):
    """write_soft_labels' lines as its per-entry loop wrote them (the reference)."""
    from tagsmith.data.textio import json_line

    lines = []
    for row, text in enumerate(texts):
        start, end = Y.indptr[row], Y.indptr[row + 1]
        order = np.argsort(-Y.data[start:end], kind="stable")
        lines.append(json_line({
            "id": str(row + 1), "text": text,
            "labels": [space.uri_of(int(i)) for i in Y.indices[start:end][order]],
            "scores": [max(round(float(s), 4), 1e-4) if s > 0 else 0.0
                       for s in Y.data[start:end][order]]}))
    return "".join(lines)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_soft_label_scores_are_written_as_the_per_entry_rounding_wrote_them(tmp_path, dtype):
    """The vectorised rounding writes the same bytes, ties included: np.round of s * 1e4
    alone wrote 0.12345 as 0.1234, 0.00025 as 0.0002 and 5e-05 as 0.0 (round: 0.1235,
    0.0003, 0.0001 - half to even on the exact binary value)."""
    from tagsmith.data.labelspace import LabelSpace

    rng = np.random.default_rng(3)
    n_docs, n_labels = 400, 60
    space = LabelSpace.from_uris([f"http://x/{i}" for i in range(n_labels)])
    Y = sp.random(n_docs, n_labels, density=0.3, random_state=4, format="csr",
                  dtype=np.float64)
    kinds = rng.integers(0, 5, Y.nnz)
    Y.data = np.select(
        [kinds == 0, kinds == 1, kinds == 2, kinds == 3],
        [rng.integers(0, 20001, Y.nnz) / 20000,  # every tie of the 4th decimal
         rng.random(Y.nnz) * 1e-4,  # tiny: written as 1e-4
         np.choose(rng.integers(0, 6, Y.nnz),
                   [0.12345, 0.00025, 5e-05, 0.03125, 0.99995, 0.00015]),
         -rng.random(Y.nnz)],  # not positive: 0.0
        rng.random(Y.nnz)).astype(dtype)
    Y.data[:7] = 0.0  # explicit zeros stay in data
    assert Y.nnz > 5000
    texts = [f"document {i}" for i in range(n_docs)]
    path = tmp_path / "soft.jsonl"
    assert write_soft_labels(path, texts, Y, space) == n_docs
    assert path.read_text(encoding="utf-8") == _old_soft_label_lines(texts, Y, space)
    ties = sp.csr_matrix(np.array([[0.12345, 0.00025, 5e-05, 0.03125]], dtype))
    write_soft_labels(path, ["x"], ties, LabelSpace.from_uris(["a:1", "a:2", "a:3", "a:4"]))
    assert json.loads(path.read_text(encoding="utf-8"))["scores"] == [0.1235, 0.0312, 0.0003,
                                                                       0.0001]


def test_soft_label_files_escape_unicode_line_separators(tmp_path):
    """A text with U+2028 was written as it is: valid JSON, but split in two by tools
    that break lines as str.splitlines does."""
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["http://x/a", "http://x/b"])
    texts = ["one\u2028two", "three\u2029four"]
    Y = sp.csr_matrix(np.array([[0.9, 0.0], [0.2, 0.7]]))
    path = tmp_path / "soft.jsonl"
    assert write_soft_labels(path, texts, Y, space) == 2
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    again_texts, again = read_soft_labels(path, space)
    assert again_texts == texts
    np.testing.assert_allclose(again.toarray(), Y.toarray(), atol=1e-4)


def test_cli_label_ends_naming_the_audit_and_distill_that_read_its_output(tmp_path):
    """label wrote its output and a count, and the walk from raw texts stopped there:
    README's audit before distilling, and distill, were named nowhere. It ends with both,
    as they run (the distill line, its student named, trains on the output); a run over
    an audit's review (its rows' documents, for apply-review --decide-from, which the
    audit named) prints none."""
    import shlex

    from tagsmith.audit.review import doc_key

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        name = "sport" if "football" in doc else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    docs = tmp_path / "my docs.txt"  # a space: the paths are quoted for a shell
    docs.write_text("".join(("a football sport story" if i % 2 else "a piano music piece")
                            + f" {i}\n" for i in range(24)))
    vocab = sport_vocab(tmp_path)
    out = tmp_path / "labels out.jsonl"
    with LocalChatServer(teacher) as server:
        args = ["label", str(docs), "--vocab", str(vocab), "-o", str(out), "--base-url",
                server.base_url, "--llm", "t", "--cache", str(tmp_path / "c.db")]
        quiet = CliRunner().invoke(tagsmith_cli.cli, ["-q", *args])
        result = CliRunner().invoke(tagsmith_cli.cli, args)
    assert quiet.exit_code == 0 and "next:" not in quiet.output, quiet.output
    assert result.exit_code == 0, result.output
    assert "next:" not in result.stdout  # on stderr: stdout holds the results alone
    line = [x for x in result.stderr.splitlines() if x.startswith("next: ")]
    assert len(line) == 1, result.stdout
    audit, distill = line[0].split(": ", 1)[1].split("before distilling: ", 1)[1].split(
        ", then distill what apply-review writes; or distill them as they are: ")
    assert shlex.split(audit) == ["tagsmith", "audit", str(out), "--vocab", str(vocab), "-o",
                                  "AUDIT_DIR", "--min-probability", "0.05",
                                  "--max-review", "300"]
    words = shlex.split(distill)
    assert words[:3] == ["tagsmith", "distill", str(out)] and words[-1] == "STUDENT"
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", *words[1:-1], str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert "distilled linear from 24 LLM-labelled documents" in result.output
    review = tmp_path / "review.csv"  # an audit's review: label asks about its documents
    review.write_text("rank,decision,kind,action,label_uri,label_name,doc,doc_key,"
                      "given_labels,text\n1,,wrong,remove,u:music,music,0,"
                      f"{doc_key('a football sport story')},u:music,a football sport story\n")
    with LocalChatServer(teacher) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(review), "--vocab", str(vocab), "-o", str(tmp_path / "r.jsonl"),
            "--base-url", server.base_url, "--llm", "t", "--cache", str(tmp_path / "c.db")])
    assert result.exit_code == 0 and "labelled 1 of 1 document" in result.output, \
        result.output
    assert "next:" not in result.output


def test_cli_label_counts_the_answers_that_no_label_applies_and_distill_learns_them(tmp_path):
    """An answer that no label applies ({"labels": []}, as the prompt says to give it)
    was written as an empty label set but counted with the labelled documents
    ("labelled 16 of 24"), said nowhere, and the summary had no count of it. The line
    and the summary's n_no_label count those documents, apart from the malformed
    answers (only a label the vocabulary lacks: not written), and distill reads each as
    a document of no label, a negative of every label."""
    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        if "weather" in doc:
            return json.dumps({"labels": []})
        name = "sport" if "football" in doc else "Something else entirely"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    kinds = ("a football sport story", "the weather is rainy", "a cooking recipe")
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(f"{kinds[i % 3]} {i}\n" for i in range(24)))
    out = tmp_path / "labels.jsonl"
    with LocalChatServer(teacher) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(docs), "--vocab", str(sport_vocab(tmp_path)), "-o", str(out),
            "--base-url", server.base_url, "--llm", "t", "--cache", str(tmp_path / "c.db")])
    assert result.exit_code == 0, result.output
    assert ("labelled 16 of 24 documents (8 of the 16 written with an empty label set: the "
            "LLM answered that none of the labels applies, which distill learns as a "
            "negative of every label) -> ") in result.stdout, result.stdout
    summary = json.loads([x for x in result.stderr.splitlines() if x.startswith("{")][-1])
    assert summary["n_no_label"] == 8
    assert summary["labeling"]["n_malformed_answers"] == 8  # the cooking ones: not written
    texts, Y = read_soft_labels(out, load_vocabulary(sport_vocab(tmp_path)))
    empty = [text for text, n in zip(texts, np.diff(Y.indptr), strict=True) if not n]
    assert len(texts) == 16 and sorted(empty) == sorted(
        f"the weather is rainy {i}" for i in range(1, 24, 3))


def _sport_weather_labels(tmp_path):
    """A label output of 8 sport stories (sport 0.9) and 8 weather lines no label applies."""
    texts = [f"a football sport story {i}" for i in range(8)] + [
        f"the weather is rainy {i}" for i in range(8)]
    space = load_vocabulary(sport_vocab(tmp_path))
    Y = sp.csr_matrix(np.array([[0.9, 0.0]] * 8 + [[0.0, 0.0]] * 8), dtype=np.float32)
    labels = tmp_path / "labels.jsonl"
    write_soft_labels(labels, texts, Y, space)
    return labels


def test_cli_distill_counts_the_documents_of_no_label_it_learns_as_negatives(tmp_path):
    """distill learnt label's answers that no label applies as negatives of every label
    and said "distilled linear from 16 LLM-labelled documents": nothing of them. The line
    and the --json summary count them."""
    labels = _sport_weather_labels(tmp_path)
    args = ["distill", str(labels), "--vocab", str(sport_vocab(tmp_path)), "--model", "knn"]
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", *args, "-o", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert ("distilled knn from 16 LLM-labelled documents (8 of them with no label: learnt "
            "as negatives of every label) -> ") in result.stdout, result.stdout
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", *args, "-o", str(tmp_path / "j"),
                                                   "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_no_label"] == 8


def test_cli_distill_counts_apart_the_lines_whose_labels_were_all_skipped(tmp_path):
    """With --unknown-labels skip, a line whose every label the vocabulary lacks was
    counted in n_no_label, which the README gives as label's answers that no label
    applies: such lines are counted apart."""
    labels = _sport_weather_labels(tmp_path)
    with labels.open("a", encoding="utf-8") as out:
        for i in range(3):
            out.write(json.dumps({"id": f"x{i}", "text": f"a gardening story {i}",
                                  "labels": ["http://x/gardening"], "scores": [0.9]}) + "\n")
    args = ["distill", str(labels), "--vocab", str(sport_vocab(tmp_path)), "--model", "knn",
            "--unknown-labels", "skip"]
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", *args, "-o", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert ("distilled knn from 19 LLM-labelled documents (8 of them with no label, 3 more "
            "whose every label --unknown-labels skip skipped: learnt as negatives of every "
            "label) -> ") in result.stdout, result.stdout
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", *args, "-o", str(tmp_path / "j"),
                                                   "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["n_no_label"], summary["n_all_labels_skipped"]) == (8, 3)


def test_read_soft_labels_counts_the_empty_answers_apart_from_the_all_skipped(tmp_path):
    """distill's n_no_label was the rows of no label less n_all_labels_skipped, two counts
    taken apart: were an all-skipped line ever left out and counted, it went wrong (or
    negative) without a word. The reader counts the LLM's empty answers itself, on the
    rows it keeps: copies of an empty answer and of an all-skipped line, left out, count
    in neither."""
    space = load_vocabulary(sport_vocab(tmp_path))
    lines = [
        {"id": "a", "text": "a football story", "labels": ["<u:sport>"], "scores": [0.9]},
        {"id": "b", "text": "the weather is rainy", "labels": [], "scores": []},
        {"id": "c", "text": "a gardening story", "labels": ["http://x/gardening"],
         "scores": [0.9]},
        {"id": "d", "text": "a gardening story", "labels": ["http://x/gardening"],
         "scores": [0.9], "copy_of": "c"},
        {"id": "e", "text": "the weather is rainy", "labels": [], "scores": [],
         "copy_of": "b"},
        {"id": "f", "text": "a second gardening story", "labels": ["http://x/gardening",
                                                                   "http://x/plants"],
         "scores": [0.9, 0.5]},
    ]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    kinds: dict[str, int] = {}
    texts, Y = read_soft_labels(path, space, unknown_labels="skip", counts=kinds)
    assert texts == ["a football story", "the weather is rainy", "a gardening story",
                     "a second gardening story"]
    assert (kinds["n_no_label"], kinds["n_all_labels_skipped"]) == (1, 2)
    assert kinds["n_no_label"] + kinds["n_all_labels_skipped"] == int(
        np.count_nonzero(np.diff(Y.indptr) == 0))


def test_cli_label_then_distill_count_the_same_documents_of_no_label(tmp_path):
    """No simulated teacher answered that no label applies, so no chain checked that the
    documents label writes with an empty label set (its n_no_label) are those distill
    learns as negatives of every label (its n_no_label). Through the client and a local
    server answering [] ("rain"), "none" ("garden"), a label ("football") or a refusal
    ("threat"), with texts repeated: plainly, then with --budget in rounds (copies of a
    document answered written as copy_of lines, which distill learns once)."""
    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        if "threat" in doc:
            return "I'm sorry, but I can't help with that."
        names = (["sport"] if "football" in doc else ["none"] if "garden" in doc else [])
        return json.dumps({"labels": [{"label": n, "confidence": 0.9} for n in names]})

    kinds = ("a football match", "rain all day", "a garden party", "a threat made")
    # 24 distinct texts, and each of the first 8 again, as the same text
    texts = [f"{kinds[i % 4]} {i}" for i in range(24)] + [f"{kinds[i % 4]} {i}"
                                                          for i in range(8)]
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": text}) + "\n"
                            for i, text in enumerate(texts)))
    vocab = sport_vocab(tmp_path)
    no_label = {f"d{i}" for i, text in enumerate(texts) if text.startswith(("rain", "a garden"))}
    threats = [f"d{i}" for i, text in enumerate(texts) if text.startswith("a threat")]
    for run, more in (("plain", ()), ("budget", ("--budget", "32", "--rounds", "3"))):
        out = tmp_path / f"{run}.jsonl"
        with LocalChatServer(teacher) as server:
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "-q", "label", str(docs), "--vocab", str(vocab), "-o", str(out),
                "--base-url", server.base_url, "--llm", "t",
                "--cache", str(tmp_path / f"{run}.db"), *more])
        assert result.exit_code == 0, result.output
        summary = json.loads([x for x in result.stderr.splitlines() if x.startswith("{")][-1])
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        written = {line["id"] for line in lines if not line["labels"]}
        assert written == no_label, run  # every rain and garden line, copies included
        assert summary["n_no_label"] == len(no_label) == 16
        assert summary["labeling"]["refused_docs"] == threats, run  # pool ids, by round
        copies = {line["id"] for line in lines if line.get("copy_of")}
        distilled = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "distill", str(out), "--vocab", str(vocab), "--model", "knn", "--json",
            "-o", str(tmp_path / f"{run}-student")])
        assert distilled.exit_code == 0, distilled.output
        learnt = json.loads(distilled.stdout)
        # each text learnt once: a budget run's copies of it are left out
        assert learnt["n_no_label"] == len(no_label - copies), run
        assert learnt["n_all_labels_skipped"] == 0
    assert copies and copies < {f"d{i}" for i in range(24, 32)}


def test_cli_label_then_distill_through_a_local_server(goemotions_small, tmp_path):
    space = load_vocabulary(goemotions_small["vocab"])
    truth = {}
    for path in (goemotions_small["train"], goemotions_small["dev"]):
        data = read_labelled(path, space)
        for text, row in zip(data.texts, data.Y, strict=True):
            truth[text.strip()] = [space.name_of(int(i)) for i in row.indices]

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT").strip()
        names = truth.get(doc, ["neutral"])
        return json.dumps({"labels": [{"label": n, "confidence": 0.9} for n in names]})

    labels, bundle = tmp_path / "labels.jsonl", tmp_path / "student"
    runner = CliRunner()
    with LocalChatServer(teacher) as server:
        common = ["--base-url", server.base_url, "--llm", "sim", "--cache",
                  str(tmp_path / "c.sqlite")]
        result = runner.invoke(tagsmith_cli.cli, [
            "-q", "label", str(goemotions_small["train"]), "--vocab",
            str(goemotions_small["vocab"]), "-o", str(labels), "--limit", "600",
            "--human", str(goemotions_small["dev"]), *common])
        assert result.exit_code == 0, result.output
    assert "labelled 600 of 600" in result.stdout
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["reliability"]["micro_f1"] == 1.0
    result = runner.invoke(tagsmith_cli.cli, [
        "-q", "distill", str(labels), "--vocab", str(goemotions_small["vocab"]),
        "-o", str(bundle), "--human", str(goemotions_small["test"]),
        "--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"])
    assert result.exit_code == 0, result.output
    # the figures say how many documents they are on (60 = the 10% held out of 600)
    n_test = len(read_labelled(goemotions_small["test"], space).texts)
    assert "agreement with the teacher (60 held-out documents): P@1" in result.output
    assert f"accuracy against human labels ({n_test} documents): P@1" in result.output
    student = TextClassifier.load(bundle)
    assert student.suggest(["thank you so much"], k=1)[0][0].label == "gratitude"


def _true_labels_teacher(goemotions_small):
    """A teacher answering each training document's true labels by name (neutral for a
    text it does not know), at confidence 0.8."""
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    truth = {text.strip(): [space.name_of(int(i)) for i in row.indices]
             for text, row in zip(data.texts, data.Y, strict=True)}

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT").strip()
        return json.dumps({"labels": [{"label": n, "confidence": 0.8}
                                      for n in truth.get(doc, ["neutral"])]})

    return teacher


def test_cli_label_with_a_budget_saves_labels_and_student(goemotions_small, tmp_path):
    space = load_vocabulary(goemotions_small["vocab"])
    data = read_labelled(goemotions_small["train"], space)
    teacher = _true_labels_teacher(goemotions_small)

    labels, student = tmp_path / "labels.jsonl", tmp_path / "student"
    with LocalChatServer(teacher) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(goemotions_small["train"]), "--vocab",
            str(goemotions_small["vocab"]), "-o", str(labels), "--budget", "200",
            "--rounds", "2", "--student", str(student), "--base-url", server.base_url,
            "--llm", "sim", "--cache", str(tmp_path / "c.sqlite")])
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 200  # exactly the budget was spent
    assert len(labels.read_text().splitlines()) == 200
    assert TextClassifier.load(student).n_labels == len(space)
    # the student names the files it learnt from, as train's bundle does (it named none)
    training = TextClassifier.load(student).manifest["training"]
    assert (training.get("data"), training.get("vocab")) == (
        goemotions_small["train"].name, goemotions_small["vocab"].name)
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["active"]["budget"] == 200 and summary["usage"]["requests"] == 200
    # it read "labelled 200 of 600 documents", as if 400 had been asked and failed
    n_docs = len(data.texts)
    assert f"labelled 200 of the 200 documents sent (--budget 200 of {n_docs:,} documents)" \
        in result.stdout, result.stdout


def test_cli_label_with_a_budget_scores_the_student_on_the_human_sample(goemotions_small,
                                                                       tmp_path):
    # the issue asks distillation to report accuracy against human labels where they
    # exist: label --budget --human distilled a student and never said how good it was
    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    dev = read_labelled(goemotions_small["dev"], space)
    truth = {}
    for data in (train, dev):
        for text, row in zip(data.texts, data.Y, strict=True):
            truth[text.strip()] = [space.name_of(int(i)) for i in row.indices]

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT").strip()
        return json.dumps({"labels": [{"label": n, "confidence": 0.9}
                                      for n in truth.get(doc, ["neutral"])]})

    pool_lines = goemotions_small["train"].read_text(encoding="utf-8").splitlines()[:120]
    pool, human = tmp_path / "pool.tsv", tmp_path / "human.tsv"
    pool.write_text("\n".join(pool_lines) + "\n", encoding="utf-8")
    # 7 of the sample's documents are pool documents the student is taught (the whole
    # pool is the budget): they are left out of its accuracy
    dev_lines = goemotions_small["dev"].read_text(encoding="utf-8").splitlines()[:200]
    human.write_text("\n".join(dev_lines + pool_lines[:7]) + "\n", encoding="utf-8")
    labels, student = tmp_path / "labels.jsonl", tmp_path / "student"
    with LocalChatServer(teacher) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(pool), "--vocab", str(goemotions_small["vocab"]),
            "-o", str(labels), "--budget", "120", "--rounds", "2", "--human", str(human),
            "--student", str(student), "--base-url", server.base_url, "--llm", "sim",
            "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    record = summary["student"]
    assert (record["n_docs"], record["n_taught_left_out"]) == (200, 7)
    saved = TextClassifier.load(student)
    expected = evaluate_classifier(saved, dev.texts[:200], dev.Y[:200])
    assert record["human_accuracy"] == json.loads(json.dumps(expected))
    # the manifest's human_accuracy is the metrics, as `distill --human` records it (it
    # was the whole record here: {"n_docs", ..., "human_accuracy": metrics}, so a reader
    # of distillation.human_accuracy["p@1"] failed on a student `label --budget` made)
    distillation = saved.manifest["distillation"]
    assert distillation["human_accuracy"] == record["human_accuracy"]
    assert (distillation["human_n_docs"], distillation["human_n_taught_left_out"]) == (200, 7)
    assert (f"student's accuracy against human labels (200 documents of {human} it was "
            f"not taught): P@1 {expected['p@1']:.4f}") in result.stdout


def test_cli_label_with_a_budget_says_why_the_student_is_not_scored(goemotions_small,
                                                                    tmp_path, caplog):
    # a --human sample made only of documents the student was taught printed no figure
    # and no word of why
    lines = goemotions_small["train"].read_text(encoding="utf-8").splitlines()[:40]
    pool = tmp_path / "pool.tsv"
    pool.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def teacher(body):
        return json.dumps({"labels": [{"label": "neutral", "confidence": 0.9}]})

    with LocalChatServer(teacher) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [  # not -q: that is a warning
            "label", str(pool), "--vocab", str(goemotions_small["vocab"]),
            "-o", str(tmp_path / "labels.jsonl"), "--budget", "40", "--rounds", "1",
            "--human", str(pool), "--base-url", server.base_url, "--llm", "sim",
            "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 0, result.output
    assert "student's accuracy" not in result.stdout
    # logged, as every warning (pytest's handler on the root has it, not stderr)
    assert f"the student is not scored against {pool}: all 40 of its documents are " \
        "documents it was taught" in caplog.text, caplog.text


@pytest.mark.parametrize("command", ["label", "taxonomy", "distill"])
def test_cli_empty_input_is_a_data_error_naming_the_file(tmp_path, command, goemotions_small):
    empty = tmp_path / ("empty.jsonl" if command == "distill" else "empty.txt")
    empty.write_text("" if command == "distill" else "\n\n")
    vocab = str(goemotions_small["vocab"])
    llm = ["--base-url", "http://127.0.0.1:9/v1", "--llm", "m", "--cache",
           str(tmp_path / "c.sqlite")]
    args = {"label": ["label", str(empty), "--vocab", vocab, "-o", str(tmp_path / "o.jsonl"),
                      *llm],
            "taxonomy": ["taxonomy", str(empty), "--use-case", "x", "-o",
                         str(tmp_path / "t.csv"), *llm],
            "distill": ["distill", str(empty), "--vocab", vocab, "-o",
                        str(tmp_path / "student")]}[command]
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", *args])
    assert result.exit_code == 3, result.output
    assert f"{empty}: no documents" in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_soft_labels_refuse_booleans_and_distill_refuses_a_file_without_labels(data, tmp_path):
    space = data[0]
    bad = tmp_path / "bool.jsonl"
    bad.write_text(json.dumps({"text": "x", "labels": [space.uri_of(0)], "scores": [0.5]})
                   + "\n" + json.dumps({"text": "y", "labels": [space.uri_of(0)],
                                        "scores": [True]}) + "\n")
    with pytest.raises(CorpusFormatError, match="bool.jsonl:2"):
        read_soft_labels(bad, space)
    unlabelled = tmp_path / "nolab.jsonl"
    unlabelled.write_text("".join(json.dumps({"text": f"doc {i}", "labels": [], "scores": []})
                                  + "\n" for i in range(5)))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "distill", str(unlabelled), "--vocab", str(GOEMOTIONS_VOCAB), "-o",
        str(tmp_path / "student")])
    assert result.exit_code == 3 and "nolab.jsonl" in result.output
    assert "none of the 5 documents has a label" in result.output
    assert not (tmp_path / "student").exists()


def test_distill_checks_its_bundle_output_before_any_work(tmp_path):
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    tagsmith_cli._register_commands()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "distill", str(tmp_path / "no-such-labels.jsonl"), "--vocab", str(tmp_path / "v.tsv"),
        "-o", str(taken)])
    assert result.exit_code == 3, result.output  # before the missing inputs are read
    assert "is not a model bundle" in result.output
    assert (taken / "notes.txt").read_text() == "keep me"


def test_soft_labels_naming_a_label_twice_keep_its_highest_score(data, tmp_path):
    space = data[0]
    path = tmp_path / "twice.jsonl"
    path.write_text(
        json.dumps({"text": "x", "labels": [space.uri_of(0), space.uri_of(0)],
                    "scores": [0.8, 0.7]}) + "\n"
        + json.dumps({"text": "y", "labels": [space.uri_of(1), space.name_of(1)]}) + "\n"
        + json.dumps({"text": "z", "labels": [space.uri_of(0), space.uri_of(0)],
                      "scores": [0.3, 0.6]}) + "\n")  # the highest, not the first
    _, Y = read_soft_labels(path, space)
    assert Y[0, 0] == pytest.approx(0.8) and Y[1, 1] == pytest.approx(1.0)
    assert Y[2, 0] == pytest.approx(0.6)
    assert Y.max() <= 1.0 and Y.nnz == 3


def test_soft_labels_with_a_blank_label_name_it_not_the_scores(data, tmp_path):
    # the blank label was dropped first, so two scores for one label were refused with
    # "'scores' must be ..., one per label", which the line seemed to have
    space = data[0]
    path = tmp_path / "blank.jsonl"
    path.write_text(json.dumps({"text": "x", "labels": [space.uri_of(0)], "scores": [0.5]})
                    + "\n" + json.dumps({"text": "y", "labels": [space.uri_of(1), " "],
                                         "scores": [0.9, 0.2]}) + "\n")
    with pytest.raises(CorpusFormatError, match=r"blank\.jsonl:2: blank label ' ' in "
                       r"'labels' \('' or whitespace only\)"):
        read_soft_labels(path, space)
    # without scores too (the reader dropped it silently): test_corpus has the details
    path.write_text(json.dumps({"text": "y", "labels": [space.uri_of(1), ""]}) + "\n")
    with pytest.raises(CorpusFormatError, match=r"blank\.jsonl:1: blank label ''"):
        read_soft_labels(path, space)


def test_soft_labels_skip_blank_texts_naming_the_file_and_lines(data, tmp_path, caplog):
    """A line with a blank text was trained on as a document of no words, with the
    labels of a teacher that saw nothing (label_documents no longer asks about one)."""
    space = data[0]
    path = tmp_path / "soft.jsonl"
    lines = [{"text": "joy and thanks", "labels": [space.uri_of(0)], "scores": [0.9]},
             {"text": "", "labels": [space.uri_of(1)], "scores": [0.8]},
             {"text": "so sad today", "labels": [space.uri_of(1)], "scores": [0.7]},
             {"text": " \t ", "labels": [space.uri_of(2)], "scores": [0.6]}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, Y = read_soft_labels(path, space)
    assert texts == ["joy and thanks", "so sad today"]
    assert Y.shape == (2, len(space)) and Y.nnz == 2
    assert Y[0, 0] == pytest.approx(0.9) and Y[1, 1] == pytest.approx(0.7)
    assert f"{path}: 2 documents with a blank text (empty or whitespace only) skipped, " \
        "at lines 2, 4" in caplog.text
    caplog.clear()
    path.write_text(json.dumps(lines[1]) + "\n")
    with caplog.at_level("WARNING", logger="tagsmith"), \
            pytest.raises(CorpusFormatError, match=r"soft\.jsonl: every document has a blank "
                          r"text \(empty or whitespace only; line 1\): nothing to train on"):
        read_soft_labels(path, space)
    # a document folder's blank file is named by its file ("at line None" before)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("joy and thanks")
    (folder / "a.tsv").write_text(f"<{space.uri_of(0)}>\n")
    (folder / "b.txt").write_text("   \n")
    (folder / "b.tsv").write_text(f"<{space.uri_of(1)}>\n")
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, _ = read_soft_labels(folder, space)
    assert texts == ["joy and thanks"]
    assert "1 document with a blank text (empty or whitespace only) skipped, in file " \
        f"{folder / 'b.txt'}:" in caplog.text, caplog.text


def test_label_corpus_with_a_budget_reports_what_went_wrong_with_the_calls(tmp_path):
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    space = LabelSpace.from_uris(["u:sport", "u:music"],
                                 names={"u:sport": "sport", "u:music": "music"})
    texts = [f"{'sport' if i % 2 else 'music'} story {i}" for i in range(30)]

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        if doc.endswith("3"):
            return '{"labels": ['  # cut JSON: malformed
        name = "sport" if "sport" in doc else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9},
                                      {"label": "weather", "confidence": 0.5}]})

    with LocalChatServer(teacher) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        result = label_corpus(texts, space, client, LabelingOptions(n_workers=2),
                              budget=30, rounds=2)
    labeling = result["summary"]["labeling"]  # as without a budget
    assert labeling["n_docs"] == labeling["n_calls"] == 30
    assert labeling["n_malformed_answers"] == 3  # docs 3, 13 and 23
    assert labeling["n_unknown_labels"] == 27 and labeling["first_error"]
    assert len(result["rows"]) == 27


def test_label_corpus_votes_reliability_is_that_of_the_labels_the_votes_agree_on():
    # each vote names the true label and one wrong label, another each vote: the
    # majority of 3 votes is right on every document, but the reliability counted every
    # label any vote named (precision 0.25, every document wrong), and the more votes,
    # the worse the teacher looked (0.68, 0.52, 0.40 at 1, 3, 5 votes of a simulated one)
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    names = ["sport", "music", "weather", "politics", "travel"]
    space = LabelSpace.from_uris([f"u:{n}" for n in names],
                                 names={f"u:{n}": n for n in names})
    human = [f"{'sport' if i % 2 else 'music'} story {i}" for i in range(20)]
    Y_human = sp.csr_matrix([[1, 0, 0, 0, 0] if i % 2 else [0, 1, 0, 0, 0]
                             for i in range(20)])

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        right = "sport" if doc.startswith("sport") else "music"
        wrong = names[2 + body["seed"]]  # weather, politics, travel: one vote each
        return json.dumps({"labels": [{"label": right, "confidence": 0.9},
                                      {"label": wrong, "confidence": 0.6}]})

    with LocalChatServer(teacher) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        result = label_corpus(["sport day", "music day"], space, client,
                              LabelingOptions(votes=3, n_workers=2),
                              human=(human, Y_human))
    reliability = result["summary"]["reliability"]
    assert reliability["micro_precision"] == 1.0 and reliability["micro_recall"] == 1.0
    assert reliability["doc_error_rate"] < 0.2  # 0 of 20, shrunk toward 1/2
    # a label one vote named stays a soft target, scaled down: a third of its confidence
    # relative to the labels the votes agree on
    Y = result["Y"].toarray()
    assert Y[0, 0] > 0.9 and 0 < Y[0, 2] < 0.3


@pytest.mark.parametrize("minority_right", [False, True])
def test_label_corpus_votes_weigh_a_label_few_votes_named_by_its_own_reliability(
        minority_right):
    # the reliability of the labels the votes agree on was applied to every label, one a
    # single vote of 3 named too: a label one vote named, wrong on every document of the
    # sample, got a third of the right labels' soft target. Now the labels at most half
    # the votes named are weighed by their own precision on the sample
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    names = ["sport", "music", "weather"]
    space = LabelSpace.from_uris([f"u:{n}" for n in names],
                                 names={f"u:{n}": n for n in names})
    human = [f"{'sport' if i % 2 else 'music'} story {i}" for i in range(30)]
    # where the minority is right, people gave weather to every document too
    Y_human = sp.csr_matrix([[1, 0, int(minority_right)] if i % 2
                             else [0, 1, int(minority_right)] for i in range(30)])

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        labels = [{"label": "sport" if doc.startswith("sport") else "music",
                   "confidence": 0.9}]
        if body["seed"] == 0:  # one vote of 3 names weather
            labels.append({"label": "weather", "confidence": 0.9})
        return json.dumps({"labels": labels})

    with LocalChatServer(teacher) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        result = label_corpus(["sport day", "music day"], space, client,
                              LabelingOptions(votes=3, n_workers=2),
                              human=(human, Y_human))
    Y = result["Y"].toarray()
    assert Y[0, 0] > 0.9
    if minority_right:  # right on every document of the sample: near 1, not a third
        assert Y[0, 2] > 0.8
    else:  # wrong on every one: near 0 (0.33 before)
        assert 0 < Y[0, 2] < 0.05
    minority = result["summary"]["reliability"]["minority"]
    assert minority == {"n_named": 30, "micro_precision": float(minority_right)}


def test_label_corpus_votes_that_always_agree_give_no_minority_precision():
    # a deterministic teacher's 3 votes name the same labels on every sample document:
    # the minority's precision was its 0/0, reported 0.0 ("such labels are always
    # wrong") of labels the sample never had
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    space = LabelSpace.from_names(["sport", "music"])
    human = [f"{'sport' if i % 2 else 'music'} story {i}" for i in range(10)]
    Y_human = sp.csr_matrix([[1, 0] if i % 2 else [0, 1] for i in range(10)])

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        return json.dumps({"labels": [{"label": "sport" if doc.startswith("sport")
                                       else "music", "confidence": 0.9}]})

    with LocalChatServer(teacher) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        result = label_corpus(["sport day"], space, client,
                              LabelingOptions(votes=3, n_workers=2), human=(human, Y_human))
    assert result["summary"]["reliability"]["minority"] == {"n_named": 0,
                                                            "micro_precision": None}


def test_llm_teacher_weighs_a_label_few_votes_named_by_the_minority_reliability():
    # label --budget --votes --human: the budget's teacher applied the agreed labels'
    # reliability to a label one vote of 3 named, as the run without a budget did
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.labeling.reliability import estimate_reliability
    from tagsmith.pipeline.distill import llm_teacher

    space = LabelSpace.from_names(["sport", "weather"])
    agreed = estimate_reliability(sp.csr_matrix([[0.9, 0]] * 10), sp.csr_matrix([[1, 0]] * 10))
    # the labels one vote named: wrong on every sample document
    agreed.minority = estimate_reliability(sp.csr_matrix([[0, 0.3]] * 10),
                                           sp.csr_matrix([[1, 0]] * 10))

    def teacher(body):
        labels = [{"label": "sport", "confidence": 0.9}]
        if body["seed"] == 0:
            labels.append({"label": "weather", "confidence": 0.9})
        return json.dumps({"labels": labels})

    with LocalChatServer(teacher) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        teach = llm_teacher(["a match", "the cup"], space, client,
                            LabelingOptions(votes=3, n_workers=2), reliability=agreed)
        Y, answered = teach(np.array([0, 1]))
    Y = Y.toarray()
    assert answered.all() and Y[0, 0] > 0.9
    assert 0 < Y[0, 1] < 0.1  # 0.3 with the agreed labels' precision


@pytest.mark.parametrize("strategy", ["robust", "uncertainty", "random"])
def test_active_distill_spends_none_of_the_budget_on_copies(data, strategy):
    # copies (equal texts, case and spacing aside) were chosen like any others, twice in
    # one batch or a copy of a document answered in an earlier round: each took one of
    # the budget's teacher calls for a text already asked, and taught the student nothing
    from tagsmith.features.tfidf import TfidfFeaturizer
    from tagsmith.pipeline.train import duplicate_groups

    space, train, _ = data
    texts = list(train.texts[:150])
    featurizer = TfidfFeaturizer.from_params(**FAST_FEATURES)
    X = featurizer.fit_transform(texts)
    twins = np.arange(0, 150, 2)
    pool = texts + [f"  {texts[i].upper()}\n" for i in twins]  # after the documents
    source = np.concatenate([np.arange(150), twins])
    X_pool = sp.vstack([X, X[twins]]).tocsr()  # a copy's features are its twin's
    assert len(np.unique(duplicate_groups(pool))) == 150
    asked = []

    def teach(idx):
        asked.extend(idx.tolist())
        return sp.csr_matrix(train.Y[source[idx]], dtype=np.float32), np.ones(len(idx), bool)
    for seed in range(3):
        options = ActiveOptions(budget=60, rounds=3, seed=seed, strategy=strategy,
                                featurizer_params=FAST_FEATURES)
        asked.clear()
        result = active_distill(pool, space, teach, options, X_pool=X_pool,
                                featurizer=featurizer)
        assert len(asked) == 60 == len(np.unique(source[asked]))  # the budget exact
        # the copies change nothing: the choices are those of the pool without them
        alone = active_distill(texts, space, teach, options, X_pool=X, featurizer=featurizer)
        np.testing.assert_array_equal(result.selected, alone.selected)
    # a budget over the distinct documents is cut to them, with a warning
    asked.clear()
    options = ActiveOptions(budget=200, rounds=2, strategy=strategy,
                            featurizer_params=FAST_FEATURES)
    result = active_distill(pool, space, teach, options, X_pool=X_pool, featurizer=featurizer)
    assert sorted(asked) == list(range(150))
    record = result.classifier.manifest["distillation"]
    assert (record["budget"], record["budget_requested"]) == (150, 200)


def test_active_distill_scores_the_pool_by_blocks_not_a_copy_of_it(data, monkeypatch):
    # each round's student scored X_pool[candidates], a copy of nearly the whole pool's
    # features: over 20,000 texts about 300 MB on top, the peak of a label --budget run
    import tracemalloc

    import tagsmith.pipeline.distill as distill
    from tagsmith.features.tfidf import TfidfFeaturizer

    space, train, _ = data
    texts = list(train.texts[:300])
    featurizer = TfidfFeaturizer.from_params(**FAST_FEATURES)
    X = featurizer.fit_transform(texts)
    source = np.arange(12000) % len(texts)
    pool = [f"{texts[j]} #{i}" for i, j in enumerate(source)]  # distinct texts
    # features as dense as a long text's character n-grams: 300 a row
    rng = np.random.default_rng(0)
    X_pool = (X[source] + sp.random(len(pool), X.shape[1], density=300 / X.shape[1],
                                    format="csr", dtype=np.float32, random_state=rng)).tocsr()
    pool_bytes = X_pool.data.nbytes + X_pool.indices.nbytes + X_pool.indptr.nbytes

    def teach(idx):
        return sp.csr_matrix(train.Y[source[idx]], dtype=np.float32), np.ones(len(idx), bool)

    def run(block):
        monkeypatch.setattr(distill, "CANDIDATE_BLOCK", block, raising=False)
        options = ActiveOptions(budget=120, rounds=3, featurizer_params=FAST_FEATURES)
        tracemalloc.start()
        try:
            result = active_distill(pool, space, teach, options, X_pool=X_pool,
                                    featurizer=featurizer)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return result, peak

    blocks, peak = run(256)
    whole, peak_whole = run(10 ** 9)
    # a copy of the candidates' features (98% of the pool's) is no longer made
    assert peak < peak_whole - 0.5 * pool_bytes, (peak, peak_whole, pool_bytes)
    # the same choices, to the document, as scoring the candidates at once
    np.testing.assert_array_equal(blocks.selected, whole.selected)
    assert (blocks.Y_teacher != whole.Y_teacher).nnz == 0


def test_active_distill_names_a_pool_text_that_is_no_str(data):
    # finding the copies read every text: a None failed as a bare AttributeError
    from tagsmith.features.tfidf import TfidfFeaturizer

    space, train, _ = data
    texts = list(train.texts[:30]) + [None]
    featurizer = TfidfFeaturizer.from_params(**FAST_FEATURES)
    X_pool = featurizer.fit_transform(texts[:30] + [""])
    for given in ({}, {"X_pool": X_pool, "featurizer": featurizer}):
        with pytest.raises(InvalidParameterError, match=r"'pool_texts\[30\]' must be a str"):
            active_distill(texts, space, noisy_teacher(train.Y, 0), ActiveOptions(
                budget=10, rounds=2, featurizer_params=FAST_FEATURES), **given)


def test_label_corpus_sends_no_copy_to_the_teacher():
    """``label --budget`` (label_corpus) sent a copy of a document already asked."""
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    space = LabelSpace.from_uris(["u:sport", "u:music"],
                                 names={"u:sport": "sport", "u:music": "music"})
    texts = [f"{'sport' if i % 2 else 'music'} story {i % 8}" for i in range(12)]
    texts[8] = "SPORT  story 1"  # a copy, case and spacing aside

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        name = "sport" if "sport" in doc.lower() else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    for budget, sent in ((6, 6), (500, 8)):
        with LocalChatServer(teacher) as server:
            client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
            result = label_corpus(texts, space, client, LabelingOptions(n_workers=2),
                                  budget=budget, rounds=2, strategy="random")
            docs = [" ".join(read_data_section(user_prompt(body), "DOCUMENT").lower().split())
                    for body in server.requests]
        copies = result["summary"]["active"]["n_copies_labelled"]
        assert len(docs) == sent == len(set(docs)) == len(result["rows"]) - copies
        assert result["summary"]["active"]["budget"] == sent


def test_cli_label_with_a_budget_gives_the_copies_of_a_labelled_text_its_labels(tmp_path,
                                                                                caplog):
    """The copies of a document sent (equal texts, case and spacing aside) were never
    sent, and left unlabelled, though the teacher's answer for their text applies to
    them at no cost: they are written after the documents sent, with their labels and
    confidences, and the teacher gets no more calls."""
    vocab = sport_vocab(tmp_path)
    topics = ("sport", "music")
    texts = [f"a {topics[i % 2]} story number {i} of {i * 7}" for i in range(16)]
    # every document has a copy after it, the first three a second one too
    copies = [f"  {t.upper()}  " if i % 2 else t.replace(" ", "   ")
              for i, t in enumerate(texts)] + [t.title() for t in texts[:3]]

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT").lower()
        return json.dumps({"labels": [{"label": "sport", "confidence": 0.9},
                                      {"label": "music", "confidence": 0.35}]
                           if "sport" in doc else [{"label": "music", "confidence": 0.6}]})

    corpus = tmp_path / "docs.txt"

    def run(name, lines, *extra):
        out = tmp_path / f"{name}.jsonl"  # one corpus path: the ids name it
        corpus.write_text("".join(f"{line}\n" for line in lines))
        with LocalChatServer(teacher) as server:
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "-q", "label", str(corpus), "--vocab", str(vocab), "-o", str(out),
                "--budget", "6", "--rounds", "2", *extra, "--base-url", server.base_url,
                "--llm", "t", "--cache", str(tmp_path / f"{name}.sqlite")])
            assert result.exit_code == 0, result.output
            n_calls = len(server.requests)
        summary = json.loads(result.stderr.strip().splitlines()[-1])
        return out.read_bytes(), n_calls, summary, result.stdout

    alone, calls_alone, summary_alone, stdout_alone = run("alone", texts)
    both, calls, summary, stdout = run("both", texts + copies, "--student",
                                       str(tmp_path / "student"))
    assert calls == calls_alone == 6  # the copies cost no call
    assert summary_alone["active"]["n_copies_labelled"] == 0
    assert "labelled 6 of the 6 documents sent (--budget 6 of 16 documents)" in stdout_alone
    # the documents sent are written as without copies, byte for byte, the copies after
    sent = alone.decode().splitlines()
    lines = both.decode().splitlines()
    assert both.startswith(alone) and lines[:6] == sent
    folded = {" ".join(json.loads(line)["text"].split()).casefold(): json.loads(line)
              for line in sent}
    expected = [i for i, t in enumerate(copies) if " ".join(t.split()).casefold() in folded]
    assert len(expected) >= 6  # each document sent has a copy
    assert [json.loads(line)["id"] for line in lines[6:]] == \
        [f"{corpus}:{17 + i}" for i in expected]  # in corpus order, their own lines' ids
    for line in lines[6:]:
        record = json.loads(line)
        source = folded[" ".join(record["text"].split()).casefold()]
        assert (record["labels"], record["scores"]) == (source["labels"], source["scores"])
        assert record["text"] in copies
        # marked, naming its document, for distill to learn the text once
        assert record["copy_of"] == source["id"] and list(record)[-1] == "copy_of"
    assert not any("copy_of" in json.loads(line) for line in sent)
    assert summary["active"]["n_copies_labelled"] == len(expected)
    assert summary["labeling"]["n_docs"] == 6 and summary["active"]["budget"] == 6
    assert (f"labelled 6 of the 6 documents sent and {len(expected)} copies of them (equal "
            "text, case and spacing aside), not sent (--budget 6 of 35 documents)") in stdout
    # the student learnt from the documents sent only: a copy would count a text twice
    assert "student distilled from 6 documents" in stdout
    assert TextClassifier.load(tmp_path / "student").n_train_docs == 6
    # distill on the file learns each text once too (it learnt the copies again: "from
    # 6 + copies documents", each copied text weighing twice or more)
    labels = tmp_path / "both.jsonl"
    with caplog.at_level("INFO", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "distill", str(labels), "--vocab", str(vocab), "-o", str(tmp_path / "distilled"),
            "--dev-fraction", "0"])
    assert result.exit_code == 0, result.output
    assert "distilled linear from 6 LLM-labelled documents" in result.stdout
    assert (f"{labels}: {len(expected)} copy lines (marked 'copy_of': equal text, case and "
            "spacing aside, to a document in the file) left out of training") in caplog.text
    assert TextClassifier.load(tmp_path / "distilled").n_train_docs == 6


def test_cli_label_with_a_budget_of_one_says_copy_of_it(tmp_path):
    """One document answered and one copy of it read "1 copy of them"."""
    vocab = sport_vocab(tmp_path)
    corpus = tmp_path / "docs.txt"
    corpus.write_text("a sport story\nA  SPORT story\n")

    with LocalChatServer(answer_sport) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(corpus), "--vocab", str(vocab), "-o",
            str(tmp_path / "out.jsonl"), "--budget", "1", "--base-url", server.base_url,
            "--llm", "t", "--cache", str(tmp_path / "c.sqlite")])
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 1
    assert ("labelled 1 of the 1 document sent and 1 copy of it (equal text, case and "
            "spacing aside), not sent (--budget 1 of 2 documents)") in result.stdout, \
        result.stdout


def test_cli_label_with_a_budget_cut_says_what_it_could_spend(tmp_path, caplog):
    """A budget over the distinct non-blank texts was cut with a warning, yet the
    summary line showed the one asked for: "(--budget 8 of 6 documents)"."""
    vocab = sport_vocab(tmp_path)
    corpus = tmp_path / "docs.txt"
    corpus.write_text("".join(f"sport story {i}\n" for i in range(5)) + "SPORT  story 0\n")

    with LocalChatServer(answer_sport) as server, caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(corpus), "--vocab", str(vocab), "-o",
            str(tmp_path / "out.jsonl"), "--budget", "8", "--base-url", server.base_url,
            "--llm", "t", "--cache", str(tmp_path / "c.sqlite")])
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 5
    assert ("budget=8 is more than the 5 of the 6 documents to label that are neither "
            "blank nor a copy of another: at most 5 teacher calls spent") in caplog.text
    assert ("labelled 5 of the 5 documents sent and 1 copy of them (equal text, case and "
            "spacing aside), not sent (--budget 8 cut: at most 5 teacher calls spent, of 6 "
            "documents)") in result.stdout, result.stdout


def test_cli_label_with_a_budget_cut_and_votes_counts_each_vote_a_call(tmp_path, caplog):
    # --budget 50 --votes 3 on 30 documents: "at most 30 teacher calls spent", then 90
    vocab = sport_vocab(tmp_path)
    corpus = tmp_path / "docs.txt"
    corpus.write_text("".join(f"sport story {i}\n" for i in range(5)))

    with LocalChatServer(answer_sport) as server, caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(corpus), "--vocab", str(vocab), "-o",
            str(tmp_path / "out.jsonl"), "--budget", "8", "--votes", "3", "--rounds", "1",
            "--base-url", server.base_url, "--llm", "t", "--cache", str(tmp_path / "c.sqlite")])
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 15
    assert ("budget=8 is more than the 5 documents to label: at most 15 teacher calls spent "
            "(3 votes a document)") in caplog.text
    assert ("labelled 5 of the 5 documents sent (--budget 8 cut: at most 15 teacher calls "
            "spent (3 votes a document), of 5 documents)") in result.stdout, result.stdout


def test_label_corpus_with_a_budget_counts_the_blank_documents():
    """With a budget, the pool's blank documents (never sent) were in no count of the
    summary: labeling.n_blank_docs read 0, as if there were none, where the same pool
    without a budget counted them."""
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    space = LabelSpace.from_uris(["u:sport", "u:music"],
                                 names={"u:sport": "sport", "u:music": "music"})
    texts = [f"{'sport' if i % 2 else 'music'} story {i}" for i in range(8)]
    texts[2:2] = ["", "  \t "]
    texts.append("\n")

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        name = "sport" if "sport" in doc else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    with LocalChatServer(teacher) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        for budget in (None, 4, 50):
            result = label_corpus(texts, space, client, LabelingOptions(n_workers=2),
                                  budget=budget, rounds=2)
            assert result["summary"]["labeling"]["n_blank_docs"] == 3, budget
    assert result["summary"]["labeling"]["n_docs"] == 8  # the documents sent


def test_label_corpus_with_a_budget_and_no_texts_labels_none_as_without():
    """No texts with a budget was refused as "budget must be an integer in [1, 0], got 0",
    a budget the caller never gave (5 here); without a budget no row is labelled."""
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    space = LabelSpace.from_uris(["u:sport", "u:music"])
    with LocalChatServer(lambda body: json.dumps({"labels": []})) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        results = [label_corpus([], space, client, LabelingOptions(), budget=budget)
                   for budget in (None, 5)]
        with pytest.raises(InvalidParameterError, match="strategy"):  # still checked
            label_corpus([], space, client, LabelingOptions(), budget=5, strategy="best")
        assert not server.requests
    for result in results:
        assert not len(result["rows"]) and result["Y"].shape == (0, 2)
        assert result["student"] is None
        assert result["summary"]["labeling"]["n_docs"] == 0
        assert result["summary"]["labeling"]["n_blank_docs"] == 0


def test_cli_label_with_a_budget_on_blank_documents_only_fails_as_without(tmp_path):
    """A corpus of blank documents only, with --budget, warned of teacher calls to be
    spent, paid for the --human sample, then failed naming 'pool_texts', a parameter the
    user never gave (exit code 2); without a budget the failure said no request was
    sent, as each document was blank, as the LLM's error (exit code 6). The corpus is
    refused, naming it, before any call, with or without a budget (exit code 3)."""
    vocab, human = sport_vocab(tmp_path), tmp_path / "human.tsv"
    human.write_text("a sport story\t<u:sport>\na music story\t<u:music>\n")
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text('{"id": "a", "text": "  "}\n{"id": "b", "text": "\\t"}\n')
    out = tmp_path / "out.jsonl"

    for extra in ([], ["--budget", "5"], ["--budget", "1", "--human", str(human)]):
        with LocalChatServer(answer_sport) as server:
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "label", str(corpus), "--vocab", str(vocab), "-o", str(out), *extra,
                "--base-url", server.base_url, "--llm", "t",
                "--cache", str(tmp_path / "c.sqlite")])
            assert not server.requests, extra  # the human sample is not paid for either
        assert result.exit_code == 3, (extra, result.output)
        assert (f"{corpus}: every document has a blank text (empty or whitespace only; all 2 "
                "documents): nothing to ask the LLM about") in result.stderr
        assert "pool_texts" not in result.output and "teacher calls" not in result.output
        assert not out.exists()


def test_cli_label_and_taxonomy_refuse_a_vocabulary_given_as_the_corpus(tmp_path):
    """A vocabulary TSV (<uri> TAB name) given as CORPUS reads as documents whose texts
    are URIs: eval, calibrate and audit refuse it, label and taxonomy sent each URI to
    the LLM, paying for every call."""
    vocab = sport_vocab(tmp_path)
    # a plain text file of lone URIs: refused once, as _read_documents reads it
    uris = tmp_path / "uris.txt"
    uris.write_text("<u:sport>\n<u:music>\n")

    own = tmp_path / "own.tsv"  # --vocab another file: the same one is said to be it
    own.write_bytes(vocab.read_bytes())
    for corpus, args in ((path, args) for path in (vocab, uris) for args in (
            ["label", str(path), "--vocab", str(own), "-o", str(tmp_path / "o.jsonl")],
            ["taxonomy", str(path), "--use-case", "sorting", "-o",
             str(tmp_path / "t.tsv")])):
        with LocalChatServer(answer_sport) as server:
            result = CliRunner().invoke(tagsmith_cli.cli, [
                *args, "--base-url", server.base_url, "--llm", "t",
                "--cache", str(tmp_path / "c.sqlite")])
            assert not server.requests, args[0]
        assert result.exit_code == 3, (args[0], result.output)
        assert f"{corpus}: every document's text is a lone <URI>: this is a vocabulary" \
            in result.output
        # taxonomy has no --vocab: its vocabulary option is --map-to
        option = "--vocab" if args[0] == "label" else "--map-to"
        assert f"(give it as {option};" in result.output, (args[0], result.output)
        # CORPUS's labels are ignored: a plain text file of documents does, not only a
        # TSV corpus of TEXT, tab, labels, which the hint used to ask for
        assert "give documents: a line is a document's TEXT, optionally a tab and labels, " \
            "which are ignored)" in " ".join(result.output.split()), (args[0], result.output)
        assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "t.tsv").exists()


def test_distill_refuses_a_vocabulary_given_as_labels(data, tmp_path):
    """A vocabulary TSV given as LABELS read as documents whose texts are URIs, each
    labelled by its own name: distill trained and saved a model on them."""
    vocab = sport_vocab(tmp_path)
    result = CliRunner().invoke(tagsmith_cli.cli, ["distill", str(vocab), "--vocab", str(vocab),
                                                   "-o", str(tmp_path / "bundle")])
    assert result.exit_code == 3, result.output
    assert f"{vocab}: every document's text is a lone <URI>: this is a vocabulary" \
        in result.output
    assert not (tmp_path / "bundle").exists()
    with pytest.raises(DataError, match="lone <URI>"):
        read_soft_labels(vocab, load_vocabulary(vocab))


def test_label_corpus_gives_no_labels_to_the_copies_of_a_document_not_answered():
    # a copy gets the answer its document got: none where the call failed or the
    # answer was malformed
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    space = LabelSpace.from_uris(["u:sport", "u:music"],
                                 names={"u:sport": "sport", "u:music": "music"})
    texts = [f"{'sport' if i % 2 else 'music'} story {i}" for i in range(8)]
    texts += [t.upper() for t in texts]

    def teacher(body):  # malformed for music
        doc = read_data_section(user_prompt(body), "DOCUMENT").lower()
        return json.dumps({"labels": [{"label": "sport", "confidence": 0.9}]}) \
            if "sport" in doc else '{"labels": ['

    with LocalChatServer(teacher) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        result = label_corpus(texts, space, client, LabelingOptions(n_workers=2),
                              budget=8, rounds=2, strategy="random")
        assert len(server.requests) == 8
    rows = result["rows"].tolist()
    assert sorted(rows[:4]) == [1, 3, 5, 7] and rows[4:] == [9, 11, 13, 15]
    assert result["summary"]["active"]["n_copies_labelled"] == 4
    Y = result["Y"].toarray()
    np.testing.assert_array_equal(Y[4:], Y[[rows.index(i - 8) for i in rows[4:]]])



def _sport_music_teacher():
    """Two labels, twelve texts alternating between them, and a teacher that answers
    each document's own label: the set-up of the label_corpus tests below."""
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:sport", "u:music"],
                                 names={"u:sport": "sport", "u:music": "music"})
    texts = [f"{'sport' if i % 2 else 'music'} story {i}" for i in range(12)]

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        name = "sport" if "sport" in doc else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    return space, texts, teacher

def test_label_corpus_says_when_the_budget_is_more_than_the_documents(tmp_path, caplog):
    """--budget 500 on 12 documents spent 12 calls and said nothing: the summary's budget
    was 12, as if that had been asked for."""
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    space, texts, teacher = _sport_music_teacher()

    with LocalChatServer(teacher) as server, caplog.at_level("WARNING", logger="tagsmith"):
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        result = label_corpus(texts, space, client, LabelingOptions(n_workers=2),
                              budget=500, rounds=2)
        assert len(server.requests) == 12
    active = result["summary"]["active"]
    assert (active["budget"], active["budget_requested"]) == (12, 500)
    assert "budget=500 is more than the 12 documents to label" in caplog.text
    caplog.clear()
    with LocalChatServer(teacher) as server, caplog.at_level("WARNING", logger="tagsmith"):
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        result = label_corpus(texts, space, client, LabelingOptions(n_workers=2),
                              budget=12, rounds=2)
    assert "budget_requested" not in result["summary"]["active"]
    assert "budget=" not in caplog.text


def test_label_corpus_cuts_a_budget_over_the_documents_once_and_records_the_request():
    """--budget 500 on 12 documents, 4 of them copies: label_corpus cut the budget to 12
    with a warning, then active distillation cut it to 8 with a second one naming
    'budget=12', a budget nobody asked for, and the student's manifest recorded
    budget_requested 12 (the summary alone said 500)."""
    import logging

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    space = LabelSpace.from_uris(["u:sport", "u:music"],
                                 names={"u:sport": "sport", "u:music": "music"})
    texts = [f"{'sport' if i % 2 else 'music'} story {i}" for i in range(8)]
    texts += [f"  {texts[i].upper()}" for i in (0, 3, 5, 6)]

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        name = "sport" if "sport" in doc.lower() else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    for budget, cut in ((500, True), (10, True), (8, False)):
        records = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = records.append
        logging.getLogger("tagsmith").addHandler(handler)
        try:
            with LocalChatServer(teacher) as server:
                client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
                result = label_corpus(texts, space, client, LabelingOptions(n_workers=2),
                                      budget=budget, rounds=2)
                assert len(server.requests) == 8
        finally:
            logging.getLogger("tagsmith").removeHandler(handler)
        warned = [r.getMessage() for r in records if "budget=" in r.getMessage()]
        if cut:
            # a budget over the distinct texts but not over the documents was cut by
            # active distillation alone, in its own words ("the 8 non-blank documents
            # of the pool that are no copies of others: 8 teacher calls spent")
            assert warned == [f"budget={budget} is more than the 8 of the 12 documents to label "
                              "that are neither blank nor a copy of another: at most 8 "
                              "teacher calls spent"]
        else:
            assert warned == []
        active, record = (result["summary"]["active"],
                          result["student"].manifest["distillation"])
        assert active["budget"] == record["budget"] == 8
        assert active.get("budget_requested") == record.get("budget_requested") \
            == (budget if cut else None)
        assert active["n_copies_labelled"] == 4 and len(result["rows"]) == 12


def test_cli_distill_from_1_document_says_document(tmp_path, goemotions_small):
    labels = tmp_path / "one.jsonl"
    labels.write_text(json.dumps({"id": "a", "text": "thank you so much",
                                  "labels": ["urn:goemotions:gratitude"], "scores": [0.9]})
                      + "\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "distill", str(labels), "--vocab", str(goemotions_small["vocab"]),
        "-o", str(tmp_path / "student")])
    assert result.exit_code == 0, result.output
    assert "distilled linear from 1 LLM-labelled document ->" in result.output


def _unpaid_teacher(indices):
    raise AssertionError("the teacher was asked before the options were checked")


@pytest.mark.parametrize("field, value, name", [
    ("seed", -1, "seed"),                      # failed inside numpy's seeding
    ("seed", 1.5, "seed"),
    ("seed", "1", "seed"),
    ("threshold_folds", 1, "threshold_folds"),  # failed as 'n_folds' after every round
    ("threshold_folds", "3", "threshold_folds"),  # a TypeError in max(2, "3")
    ("threshold_folds", np.float64(3.0), "threshold_folds"),
    ("gain", "entropy", "gain"),               # first used after the first round
    ("model", "no-such-model", "model"),       # first built after the first round
    ("model_params", {"C": -1.0}, "C"),
    ("featurizer_params", {"min_dfx": 1}, "min_dfx"),
    ("budget", "3", "budget"),
    ("budget", np.int64(11), "budget"),        # more than the pool
    ("rounds", np.float64(2.0), "rounds"),
    ("initial_fraction", "0.5", "initial_fraction"),  # a TypeError in the comparison
    ("teacher_error_rate", "0.2", "teacher_error_rate"),
    ("teacher_error_rate", float("nan"), "teacher_error_rate"),
    ("teacher_precision", np.full(3, 0.9), "teacher_precision"),  # not one per label
    ("teacher_precision", "high", "teacher_precision"),
])
def test_active_options_are_checked_before_the_teacher_is_asked(data, field, value, name):
    space, train, _ = data
    options = ActiveOptions(budget=8, rounds=2, featurizer_params=FAST_FEATURES,
                            teacher_precision=np.full(len(space), 0.8))
    setattr(options, field, value)
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        active_distill(train.texts[:10], space, _unpaid_teacher, options)


def test_teacher_precision_outside_0_1_is_refused(data):
    space, train, _ = data
    for bad in (np.full(len(space), 1.5), np.full(len(space), np.nan)):
        with pytest.raises(InvalidParameterError, match="'teacher_precision'"):
            active_distill(train.texts[:10], space, _unpaid_teacher, ActiveOptions(
                budget=8, teacher_precision=bad, featurizer_params=FAST_FEATURES))


def test_numpy_numbers_in_active_options_pass_and_the_student_saves(data, tmp_path):
    """budget=np.int64(40) was refused; once accepted, a numpy budget is written to the
    student's manifest, which must stay JSON."""
    space, train, _ = data
    options = ActiveOptions(budget=np.int64(40), rounds=np.int64(2),
                            initial_fraction=np.float32(0.5),
                            teacher_error_rate=np.float32(0.2), threshold_folds=np.int64(2),
                            seed=np.int64(1), featurizer_params=FAST_FEATURES,
                            teacher_precision=[0.8] * len(space))
    result = active_distill(train.texts, space, noisy_teacher(train.Y, 0.2), options)
    assert len(result.selected) == 40
    for name in ("budget", "rounds", "threshold_folds", "seed"):
        assert type(getattr(options, name)) is int, name
    for name in ("initial_fraction", "teacher_error_rate"):
        assert type(getattr(options, name)) is float, name
    assert result.classifier.manifest["distillation"]["budget"] == 40
    json.dumps(result.classifier.manifest)
    loaded = TextClassifier.load(result.classifier.save(tmp_path / "student"))
    assert loaded.manifest["distillation"]["budget"] == 40


@pytest.mark.parametrize("bad", [{"seed": -1}, {"budget": "3"}, {"rounds": 0},
                                 {"strategy": "greedy"}])
def test_label_corpus_checks_the_budget_options_before_the_human_sample(bad):
    # the human sample was labelled (paid for) before the budget's options were checked
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import ScriptedLLM
    from tagsmith.pipeline.llm import label_corpus

    space = LabelSpace.from_uris(["u:sport", "u:music"],
                                 names={"u:sport": "sport", "u:music": "music"})
    asked = []

    def responder(request):
        asked.append(request)
        return json.dumps({"labels": [{"label": "sport", "confidence": 0.9}]})

    texts = [f"story {i}" for i in range(20)]
    human = (["a match", "a concert"], sp.csr_matrix(np.eye(2, dtype=np.float32)))
    kwargs = {"budget": 5, **bad}
    with pytest.raises(InvalidParameterError, match=f"'{next(iter(bad))}'"):
        label_corpus(texts, space, ScriptedLLM(responder), None, human=human, **kwargs)
    assert not asked


def test_cli_label_that_fails_part_way_shows_what_was_spent(tmp_path):
    # an endpoint that went down after some answers stopped `label` with an error and no
    # word of the calls already paid for (taxonomy printed its usage)
    docs, vocab = sport_corpus(tmp_path)
    with LocalChatServer(down_after(5)) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
            "--base-url", server.base_url, "--llm", "m", "--cache", str(tmp_path / "c.sqlite"),
            "--max-retries", "0", "--concurrency", "1", "--price-prompt", "1000"])
    assert result.exit_code == 6, result.output
    assert "10 requests in a row failed" in result.stderr
    assert "the 5 answers received are in the response cache" in result.stderr
    assert "LLM usage: 5 answered calls, 0 cached, 0 retries, 10 failed" in result.stderr
    assert "cost 0.0000" not in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("answers, stop", [
    # round 0 takes 30 of the budget's 120: the endpoint went down after it, or 5 answers
    # into round 1
    (30, "none of the 45 requests of this batch was answered; the 30 answers received "
         "before it are in the response cache"),
    (35, "the 5 answers received in this batch are in the response cache, as are the "
         "30 answers received before this batch: a rerun asks only for the others"),
])
def test_cli_label_with_a_budget_failing_in_a_later_round_says_what_the_run_kept(
        tmp_path, answers, stop):
    # "the teacher failed in round 1, after answering for 30 documents in 1 round: ...
    # stopping (no request was answered)": the bracket spoke of round 1's calls alone
    docs, vocab = sport_corpus(tmp_path, 300, "sport story {i} words")
    with LocalChatServer(down_after(answers)) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
            "--budget", "120", "--rounds", "3", "--base-url", server.base_url, "--llm", "m",
            "--cache", str(tmp_path / "c.sqlite"), "--max-retries", "0",
            "--concurrency", "1"])
    assert result.exit_code == 6, result.output
    message = " ".join(result.stderr.split())
    assert ("the teacher failed in round 2, after answering for 30 documents in the round "
            "before it") in message
    assert stop in message and "no request was answered" not in message


@pytest.mark.parametrize("answers, stop", [
    # label --budget keeps its malformed answers in the cache (a rerun replays them and
    # chooses the same documents), so the 2 of round 1 are among the answers kept
    (30, "none of the 45 requests of this batch was answered; the 30 answers received "
         "before it are in the response cache: a rerun asks only for the others"),
    (35, "the 5 answers received in this batch are in the response cache, as are the 30 "
         "answers received before this batch: a rerun asks only for the others"),
])
def test_cli_label_with_a_budget_counts_the_malformed_answers_of_earlier_rounds_exactly(
        tmp_path, answers, stop):
    # "after answering for 28 documents ... the 30 answers received before it are in the
    # response cache (malformed ones aside)": the cache held 28, and the count of the
    # answers before the batch was hedged, each round's dropped answers forgotten
    docs, vocab = sport_corpus(tmp_path, 300, "sport story {i} words")

    def reply(k):  # the 1st and 2nd answers of round 0 name no offered label: malformed
        label = "hacked" if k in (1, 2) else "sport"
        return json.dumps({"labels": [{"label": label, "confidence": 0.9}]})

    cache = tmp_path / "c.sqlite"
    with LocalChatServer(down_after(answers, reply)) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
            "--budget", "120", "--rounds", "3", "--base-url", server.base_url, "--llm", "m",
            "--cache", str(cache), "--max-retries", "0", "--concurrency", "1"])
    assert result.exit_code == 6, result.output
    message = " ".join(result.stderr.split())
    assert ("the teacher failed in round 2, after answering for 28 documents in the round "
            "before it") in message, message
    assert stop in message and "aside" not in message, message
    assert len(ResponseCache(cache)) == answers


def test_cli_label_with_a_budget_resumed_counts_an_older_runs_malformed_answers(tmp_path):
    # an older run's cache held 2 malformed answers: the rerun dropped them, asked again
    # (malformed again), then failed in round 1 and said "the 32 answers received before
    # it ... (malformed ones aside)": the replayed and the asked again counted twice,
    # the cache holding 28. label --budget now replays them, as malformed, without
    # asking again (a rerun chooses the documents the first run chose): the server's
    # 2 answers go to round 2
    docs, vocab = sport_corpus(tmp_path, 300, "sport story {i} words")
    cache = tmp_path / "c.sqlite"
    args = ["-q", "label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
            "--budget", "120", "--rounds", "3", "--llm", "m", "--cache", str(cache),
            "--max-retries", "0", "--concurrency", "1"]
    with LocalChatServer(down_after(30)) as server:
        first = CliRunner().invoke(tagsmith_cli.cli, [*args, "--base-url", server.base_url])
    assert first.exit_code == 6, first.output
    hacked = json.dumps({"labels": [{"label": "hacked", "confidence": 0.9}]})
    with sqlite3.connect(cache) as connection:  # as a tagsmith before the check kept them
        connection.execute("UPDATE responses SET text = ? WHERE key IN "
                           "(SELECT key FROM responses ORDER BY key LIMIT 2)", (hacked,))
    connection.close()
    with LocalChatServer(down_after(2, lambda k: hacked)) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--base-url", server.base_url])
    assert result.exit_code == 6, result.output
    message = " ".join(result.stderr.split())
    assert ("the teacher failed in round 2, after answering for 28 documents in the round "
            "before it") in message, message
    assert ("the 2 answers received in this batch are in the response cache, as are the "
            "30 answers received before this batch: a rerun asks only for the others"
            ) in message, message
    assert len(ResponseCache(cache)) == 32


def test_cli_label_with_a_budget_resumed_from_the_cache_says_what_the_run_kept(tmp_path):
    # a rerun replaying round 0 from the cache, then failing in round 1, said "stopping
    # (no request was answered)" again: the answers before the batch were counted from
    # the calls answered alone, never the cache's
    docs, vocab = sport_corpus(tmp_path, 300, "sport story {i} words")
    # round 0 of the first run, then down for good
    with LocalChatServer(down_after(30)) as server:
        args = ["-q", "label", str(docs), "--vocab", str(vocab), "-o",
                str(tmp_path / "o.jsonl"), "--budget", "120", "--rounds", "3",
                "--base-url", server.base_url, "--llm", "m", "--cache",
                str(tmp_path / "c.sqlite"), "--max-retries", "0", "--concurrency", "1"]
        first = CliRunner().invoke(tagsmith_cli.cli, args)
        assert first.exit_code == 6, first.output
        result = CliRunner().invoke(tagsmith_cli.cli, args)
    assert result.exit_code == 6, result.output
    message = " ".join(result.stderr.split())
    assert ("the teacher failed in round 2, after answering for 30 documents in the round "
            "before it") in message, message
    assert ("none of the 45 requests of this batch was answered; the 30 answers received "
            "before it are in the response cache") in message, message
    assert "no request was answered" not in message


def _silent_for(n_rounds, Y):
    """A teacher that answers none of the documents of its first ``n_rounds`` rounds
    (every call failed or was malformed), then the true labels."""
    calls = {"n": 0}

    def teach(indices):
        calls["n"] += 1
        if calls["n"] <= n_rounds:
            return sp.csr_matrix((len(indices), Y.shape[1]), dtype=np.float32), \
                np.zeros(len(indices), bool)
        return sp.csr_matrix(Y[indices], dtype=np.float32), np.ones(len(indices), bool)
    return teach


def test_a_round_the_teacher_answered_none_of_trains_nothing_and_the_run_goes_on(data):
    # the first round's calls all failed: fitting the student on no document failed
    # as "'Y' must be the targets of at least one document", the budget spent for nothing
    space, train, _ = data
    options = ActiveOptions(budget=40, rounds=3, seed=0, featurizer_params=FAST_FEATURES)
    result = active_distill(train.texts[:200], space, _silent_for(1, train.Y[:200]), options)
    assert [r["answered"] for r in result.rounds] == [0, 15, 15]
    assert len(result.selected) == 30 and result.Y_teacher.shape[0] == 30
    assert result.classifier.predict_topk(["a text"], 1).indices.shape == (1, 1)


def test_a_teacher_that_answered_nothing_at_all_says_so(data):
    from tagsmith.exceptions import NoTeacherAnswersError

    space, train, _ = data
    options = ActiveOptions(budget=20, rounds=2, seed=0, featurizer_params=FAST_FEATURES)
    with pytest.raises(NoTeacherAnswersError, match="answered none of the 20 documents"):
        active_distill(train.texts[:100], space, _silent_for(9, train.Y[:100]), options)


def test_a_teacher_that_answered_no_document_reads_naturally_at_one_and_many(data, caplog):
    # "the teacher answered none of the 1 document sent"
    from tagsmith.exceptions import NoTeacherAnswersError

    space, train, _ = data
    with caplog.at_level("WARNING", logger="tagsmith"):
        active_distill(train.texts[:100], space, _silent_for(1, train.Y[:100]),
                       ActiveOptions(budget=2, rounds=2, seed=0,
                                     featurizer_params=FAST_FEATURES))
    assert "round 1 of 2: the teacher answered no document of the 1 sent" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        active_distill(train.texts[:100], space, _silent_for(1, train.Y[:100]),
                       ActiveOptions(budget=20, rounds=2, seed=0,
                                     featurizer_params=FAST_FEATURES))
    assert "round 1 of 2: the teacher answered none of the 5 documents sent" in caplog.text
    with pytest.raises(NoTeacherAnswersError,
                       match="answered no document of the 1 it was sent"):
        active_distill(train.texts[:100], space, _silent_for(9, train.Y[:100]),
                       ActiveOptions(budget=1, rounds=1, seed=0,
                                     featurizer_params=FAST_FEATURES))


def test_cli_label_with_a_budget_that_got_no_answer_says_why_and_writes_nothing(tmp_path):
    corpus, out = tmp_path / "docs.txt", tmp_path / "o.jsonl"
    corpus.write_text("".join(f"sport story {i}\n" for i in range(12)))
    vocab = sport_vocab(tmp_path)
    with LocalChatServer(lambda body: '{"labels": [') as server:  # always malformed
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(corpus), "--vocab", str(vocab), "-o", str(out),
            "--budget", "6", "--rounds", "2", "--base-url", server.base_url, "--llm", "t",
            "--max-retries", "0", "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 6, result.output
    assert "none of the 6 documents" in result.output  # those sent, not the pool
    assert "6 malformed answers" in result.output and not out.exists()


def test_the_active_student_fits_with_label_name_features(data):
    """model_params={"label_feature_weight": 1} was accepted and ignored: the student
    was fitted without the label names' features, as a weight of 0 fits it."""
    space, train, test = data
    scores = {}
    for weight in (0, 1):
        options = ActiveOptions(budget=100, rounds=2, seed=1, threshold_folds=2,
                                featurizer_params=FAST_FEATURES, model="tree",
                                model_params={"leaf_size": 4, "branching": 2,
                                              "label_feature_weight": weight})
        result = active_distill(train.texts, space, noisy_teacher(train.Y, 0.0), options)
        scores[weight] = result.classifier.predict_topk(test.texts[:20], 5).scores
    assert not np.array_equal(scores[0], scores[1])


@pytest.mark.parametrize("answer, found", [
    (lambda Y, idx: (Y[idx][:, :-1], np.ones(len(idx), bool)), "targets of shape"),
    (lambda Y, idx: (Y[idx[:-1]], np.ones(len(idx), bool)), "targets of shape"),
    (lambda Y, idx: (Y[idx], np.ones(len(idx) - 1, bool)), "answered mask of shape"),
    (lambda Y, idx: (Y[idx], np.arange(len(idx))), "dtype int64"),  # indices, not a mask
    (lambda Y, idx: (Y[idx] * 5.0, np.ones(len(idx), bool)), "targets in range"),
    (lambda Y, idx: (Y[idx] * np.nan, np.ones(len(idx), bool)), "targets in range"),
])
def test_a_teacher_answer_of_the_wrong_shape_or_range_is_refused_naming_the_teacher(
        data, answer, found):
    # a custom teacher's answer with a row too few failed as a bare IndexError, a label
    # column too few as "'model' must be a model over 28 labels", and a list of the
    # answered documents' positions was read as a mask (position 0 dropped, silently)
    space, train, _ = data
    Y = sp.csr_matrix(train.Y[:60], dtype=np.float32)
    options = ActiveOptions(budget=20, rounds=2, seed=0, featurizer_params=FAST_FEATURES)
    with pytest.raises(InvalidParameterError, match=f"'teacher'.*{found}"):
        active_distill(train.texts[:60], space, lambda idx: answer(Y, idx), options)


def test_a_teacher_answering_with_a_0_1_integer_mask_is_read_as_a_mask(data):
    space, train, _ = data
    Y = sp.csr_matrix(train.Y[:60], dtype=np.float32)

    def teach(idx):
        return Y[idx].toarray(), (np.arange(len(idx)) % 2).astype(np.int64)
    options = ActiveOptions(budget=20, rounds=2, seed=0, featurizer_params=FAST_FEATURES)
    result = active_distill(train.texts[:60], space, teach, options)
    assert [(r["asked"], r["answered"]) for r in result.rounds] == [(5, 2), (15, 7)]


@pytest.mark.parametrize("human, name", [
    ({"human_texts": ["a text"]}, "human_Y"),       # ignored: no human accuracy, no word
    ({"human_Y": sp.csr_matrix((1, 28))}, "human_texts"),
    ({"human_texts": ["a", "b"], "human_Y": sp.csr_matrix((3, 28))}, "human_Y"),  # 'y_true'
    ({"human_texts": ["a"], "human_Y": sp.csr_matrix((1, 5))}, "human_Y"),
])
def test_distill_refuses_half_or_mismatched_human_sample_by_name(data, human, name):
    space, train, _ = data
    options = TrainOptions(featurizer_params=FAST_FEATURES, dev_fraction=0.2)
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        distill_classifier(train.texts[:100], train.Y[:100] * 0.8, space, options=options,
                           **human)


@pytest.mark.parametrize("n", [1, 3])
def test_distill_refuses_a_human_sample_naming_no_label_before_training(data, monkeypatch, n):
    """human_Y all zeros was accepted and reported P@1 0.0 and micro-F1 0.0, as if the
    student were wrong everywhere; the CLI refused it, the library did not."""
    import tagsmith.pipeline.distill as distill_module

    space, train, _ = data

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the human sample was checked")
    monkeypatch.setattr(distill_module, "train_classifier", no_training)
    options = TrainOptions(featurizer_params=FAST_FEATURES, dev_fraction=0.2)
    expected = f"{n} document, naming no label" if n == 1 else f"{n} documents, none naming"
    with pytest.raises(InvalidParameterError, match=f"'human_Y'.*{expected}") as caught:
        distill_classifier(train.texts[:100], train.Y[:100] * 0.8, space, options=options,
                           human_texts=[f"held-out text {i}" for i in range(n)],
                           human_Y=sp.csr_matrix((n, len(space))))
    assert caught.value.name == "human_Y"


@pytest.mark.parametrize("output, student", [
    ("out", "out"), ("out", "out/student"), ("student/labels.jsonl", "student")])
def test_cli_label_refuses_a_student_on_the_labels_path_before_any_call(tmp_path, output,
                                                                         student):
    # the labels were written first, then the student's save was refused ("exists and is
    # not a directory", or a folder that is not a bundle) after every call was paid for
    corpus = tmp_path / "docs.txt"
    corpus.write_text("".join(f"a happy text number {i}\n" for i in range(30)),
                      encoding="utf-8")
    with LocalChatServer(lambda body: '{"labels": [{"label": "joy", "confidence": 0.8}]}'
                         ) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(corpus), "--vocab", str(GOEMOTIONS_VOCAB), "-o",
            str(tmp_path / output), "--budget", "10", "--rounds", "2", "--student",
            str(tmp_path / student), "--base-url", server.base_url, "--llm", "sim",
            "--cache", str(tmp_path / "c.sqlite")])
        assert result.exit_code == 2, result.output
        assert "--student" in result.output and not server.requests
    assert not (tmp_path / output).exists()


def test_distill_human_accuracy_is_not_measured_on_the_training_documents(data, tmp_path,
                                                                          caplog):
    """A human sample taken from the LLM-labelled corpus (label --human sample.tsv, then
    distill --human sample.tsv) was scored as 'accuracy against human labels' on the
    student's own training documents, without a word: now refused when at least half
    of it was trained on, warned about when some of it was."""
    space, train, test = data
    texts, Y_soft = train.texts[:300], train.Y[:300].multiply(0.8).tocsr()
    options = TrainOptions(featurizer_params=FAST_FEATURES)
    with pytest.raises(InvalidParameterError, match="human_texts.*200 of its 200"):
        distill_classifier(texts, Y_soft, space, options=options,
                           human_texts=texts[:200], human_Y=train.Y[:200])
    mixed = [*texts[:10], *test.texts[:90]]
    with caplog.at_level("WARNING", logger="tagsmith"):
        _, report = distill_classifier(texts, Y_soft, space, options=options,
                                       human_texts=mixed,
                                       human_Y=sp.vstack([train.Y[:10], test.Y[:90]]))
    assert "10 of its 100 documents are also training documents" in caplog.text
    assert report["human_accuracy"]["p@1"] > 0
    labels, human = tmp_path / "labels.jsonl", tmp_path / "human.jsonl"
    write_soft_labels(labels, texts, Y_soft, space)
    write_soft_labels(human, texts[:50], train.Y[:50], space)
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "distill", str(labels), "--vocab", str(GOEMOTIONS_VOCAB), "-o",
        str(tmp_path / "student"), "--human", str(human), "--feature-param",
        "char_ngrams=null"])
    assert result.exit_code != 0 and "--human" in result.output, result.output
    assert "human.jsonl (50 of its 50 documents" in result.output
    assert not (tmp_path / "student").exists()


@pytest.mark.parametrize("Y_soft, got", [
    ("abc", "dtype <U3"),                          # numpy's bare ValueError
    # label keys per document, not a matrix: how to binarize them is said
    ([["a", "b"]] * 4, "MultiLabelBinarizer(classes=label_space.uris)"),
    (np.full((3, 2), 0.5), "shape (3, 2)"),        # refused as 'Y', after featurizing
    (np.array([[0.5, 1.5]] * 4), "range [0.5, 1.5]"),
    (np.array([[0.5, np.nan]] * 4), "4 NaN values"),
    (np.array([[0.5, -0.1]] * 4), "range [-0.1"),
])
def test_distill_classifier_names_bad_soft_targets(Y_soft, got):
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:a", "u:b"])
    with pytest.raises(InvalidParameterError, match="'Y_soft'") as caught:
        distill_classifier(["one", "two", "three", "four"], Y_soft, space,
                           options=TrainOptions(featurizer_params=FAST_FEATURES))
    assert got in str(caught.value)


def test_distill_classifier_leaves_the_callers_targets_alone(data):
    space, train, _ = data
    Y_soft = train.Y[:200].multiply(0.8).tocsr().astype(np.float32)
    Y_soft.data[:5] = 0  # explicit zeros: dropped from the copy trained on, kept here
    nnz = Y_soft.nnz
    distill_classifier(train.texts[:200], Y_soft, space,
                       options=TrainOptions(featurizer_params=FAST_FEATURES))
    assert Y_soft.nnz == nnz


def test_active_distill_checks_the_pool_features_before_the_teacher(data):
    """X_pool with fewer rows than the pool failed as a bare IndexError after the
    teacher had answered the first round; with more rows, or without its featurizer,
    it was used or dropped without a word."""
    from tagsmith.features.tfidf import TfidfFeaturizer

    space, train, _ = data
    texts = train.texts[:60]
    featurizer = TfidfFeaturizer.from_params(**FAST_FEATURES)
    X = featurizer.fit_transform(train.texts[:80])
    options = ActiveOptions(budget=30, rounds=3, featurizer_params=FAST_FEATURES)
    for X_pool, fitted, name, got in [(X[:40], featurizer, "X_pool", "shape (40,"),
                                      (X, featurizer, "X_pool", "shape (80,"),
                                      (X[:60], None, "featurizer", "None"),
                                      (None, featurizer, "X_pool", "None")]:
        with pytest.raises(InvalidParameterError, match=f"'{name}'.*{re.escape(got)}"):
            active_distill(texts, space, _unpaid_teacher, options, X_pool=X_pool,
                           featurizer=fitted)
    result = active_distill(texts, space, noisy_teacher(train.Y, 0.0), options,
                            X_pool=X[:60], featurizer=featurizer)
    assert len(result.selected) == 30


def test_a_teacher_that_fails_part_way_hands_back_the_answers_paid_for(data):
    # a custom teacher (no cache to replay from) that raised in its third round lost the
    # answers of the two before it with the run: the error now carries them
    from tagsmith.exceptions import TeacherFailedError

    space, train, _ = data
    Y = train.Y[:200]
    calls = {"n": 0}

    def teach(indices):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("the labelling service went away")
        return sp.csr_matrix(Y[indices], dtype=np.float32), np.ones(len(indices), bool)

    options = ActiveOptions(budget=40, rounds=4, seed=0, featurizer_params=FAST_FEATURES)
    with pytest.raises(TeacherFailedError, match="round 3, after answering for 20 documents"
                       ".*ConnectionError: the labelling service went away") as info:
        active_distill(train.texts[:200], space, teach, options)
    error = info.value
    assert isinstance(error.__cause__, ConnectionError) and error.exit_code == 1
    assert len(error.selected) == 20 and len(set(error.selected.tolist())) == 20
    assert (error.Y_teacher != sp.csr_matrix(Y[error.selected], dtype=np.float32)).nnz == 0
    assert [r["answered"] for r in error.rounds] == [10, 10]
    # numbered as the message numbers them: the round that failed is 3, after 1 and 2
    assert [r["round"] for r in error.rounds] == [1, 2]


def test_a_teacher_that_fails_before_any_answer_raises_its_own_error(data):
    space, train, _ = data

    def teach(indices):
        raise InvalidParameterError("key", "set", None)

    options = ActiveOptions(budget=20, rounds=2, seed=0, featurizer_params=FAST_FEATURES)
    with pytest.raises(InvalidParameterError, match="'key'"):
        active_distill(train.texts[:100], space, teach, options)


def test_stored_zeros_in_the_teachers_answer_are_no_labels(data):
    # a teacher's CSR answer storing its zeros: each was counted as a label of the
    # student's training data (label_counts) and as a named label when tuning thresholds
    space, train, _ = data
    Y = train.Y[:60].toarray().astype(np.float32)

    def teach(idx):
        rows, cols = np.indices(Y[idx].shape)
        answer = sp.csr_matrix((Y[idx].ravel(), (rows.ravel(), cols.ravel())),
                               shape=Y[idx].shape)
        assert answer.nnz == Y[idx].size  # every zero stored
        return answer, np.ones(len(idx), bool)
    options = ActiveOptions(budget=30, rounds=2, seed=0, featurizer_params=FAST_FEATURES)
    result = active_distill(train.texts[:60], space, teach, options)
    expected = Y[result.selected]
    assert result.Y_teacher.nnz == np.count_nonzero(expected)
    np.testing.assert_array_equal(result.classifier.label_counts,
                                  np.count_nonzero(expected, axis=0))


def test_blank_pool_documents_take_none_of_the_budget(data, caplog):
    # a blank document was chosen like any other: the LLM teacher does not send it
    # (nothing to label), so each one chosen was a teacher call of the budget lost
    space, train, _ = data
    texts = [" \n" if i % 3 == 0 else text for i, text in enumerate(train.texts[:60])]
    asked = []

    def teach(idx):
        asked.extend(idx.tolist())
        return sp.csr_matrix(train.Y[idx], dtype=np.float32), np.ones(len(idx), bool)
    for strategy in ("robust", "random"):
        asked.clear()
        options = ActiveOptions(budget=30, rounds=3, seed=0, strategy=strategy,
                                featurizer_params=FAST_FEATURES)
        result = active_distill(texts, space, teach, options)
        assert len(asked) == 30 == len(result.selected)
        assert result.classifier.manifest["distillation"]["budget"] == 30
        assert "budget_requested" not in result.classifier.manifest["distillation"]
        assert not any(texts[i].strip() == "" for i in asked)
    # more budget than non-blank documents: all of them, with a warning
    asked.clear()
    options = ActiveOptions(budget=50, rounds=2, seed=0, featurizer_params=FAST_FEATURES)
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = active_distill(texts, space, teach, options)
    assert sorted(asked) == [i for i in range(60) if i % 3]
    assert ("active distillation: budget=50 is more than the 40 of the 60 documents in "
            "the pool that are neither blank nor a copy of another: at most 40 teacher calls "
            "spent") in caplog.text
    # the manifest records the calls it could spend, and the request beside them
    record = result.classifier.manifest["distillation"]
    assert (record["budget"], record["budget_requested"]) == (40, 50)
    assert sum(r["asked"] for r in record["rounds"]) == 40
    with pytest.raises(InvalidParameterError, match="'pool_texts'.*3 blank documents"):
        active_distill(["", " ", "\t"], space, teach, ActiveOptions(budget=1))


def test_a_teacher_failing_after_one_round_says_1_round(data):
    # "after answering for 1 documents in 1 round(s)"
    from tagsmith.exceptions import TeacherFailedError

    space, train, _ = data
    calls = {"n": 0}

    def teach(indices):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("gone")
        return sp.csr_matrix(train.Y[indices], dtype=np.float32), np.ones(len(indices), bool)
    options = ActiveOptions(budget=3, rounds=2, initial_fraction=0.2, seed=0,
                            featurizer_params=FAST_FEATURES)
    with pytest.raises(TeacherFailedError,
                       match="after answering for 1 document in the round before it: "):
        active_distill(train.texts[:50], space, teach, options)


def test_soft_label_files_never_write_a_listed_label_with_score_zero(tmp_path):
    """A confidence under 0.00005 (a model answering 1e-05) was rounded to a score of 0.0
    beside its label: the file named the label, and read_soft_labels dropped it."""
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["http://x/a", "http://x/b"])
    Y = sp.csr_matrix(np.array([[0.9, 0.00001], [0.0, 0.7]]))
    path = tmp_path / "soft.jsonl"
    assert write_soft_labels(path, ["one", "two"], Y, space) == 2
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first["labels"] == ["http://x/a", "http://x/b"]
    assert first["scores"] == [0.9, 0.0001]
    _, again = read_soft_labels(path, space)
    assert again.nnz == 3 and again[0, 1] == pytest.approx(0.0001)


def _thanks_and_haha(tmp_path, n: int):
    """A soft-label file of ``2 n`` documents: "thanks i" labelled gratitude and "haha i"
    amusement, each at 0.8."""
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(
        json.dumps({"id": str(i), "text": f"{word} {i}", "labels": [uri], "scores": [0.8]})
        + "\n" for i in range(n) for word, uri in (("thanks", "urn:goemotions:gratitude"),
                                                     ("haha", "urn:goemotions:amusement"))))
    return labels


def test_cli_distill_trains_dense_knn_on_sentence_embeddings(tmp_path, goemotions_small,
                                                             monkeypatch):
    """--model offered dense_knn but distill had no --featurizer: every dense_knn run was
    refused, asking for '--featurizer embedding'."""
    import tagsmith.zeroshot.encoder as encoder_module

    class FakeEncoder:
        dim = 4

        def __init__(self, *args, **kwargs):
            pass

        def encode(self, texts, *, show_progress=False):
            return np.array([[len(t), t.count("a"), t.count("e"), 1.0] for t in texts],
                            np.float32)

    monkeypatch.setattr(encoder_module, "SentenceEncoder", FakeEncoder)
    labels = _thanks_and_haha(tmp_path, 20)
    bundle = tmp_path / "student"
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "distill", str(labels), "--vocab", str(goemotions_small["vocab"]),
        "-o", str(bundle), "--model", "dense_knn", "--featurizer", "embedding",
        "-p", "n_neighbors=3"])
    assert result.exit_code == 0, result.output
    assert "distilled dense_knn from 40 LLM-labelled documents" in result.output
    assert TextClassifier.load(bundle).manifest["featurizer"]["name"] == "embedding"


def test_cli_distill_refuses_a_human_sample_without_labels(tmp_path, goemotions_small):
    """A --human corpus whose documents name no label (texts alone) printed 'accuracy
    against human labels (2 documents): P@1 0.0000 ...', as if the student were wrong
    everywhere; eval refuses such a corpus."""
    labels = _thanks_and_haha(tmp_path, 10)
    human = tmp_path / "human.tsv"
    human.write_text("thank you so much\t\nthat is hilarious\t\n", encoding="utf-8")
    bundle = tmp_path / "student"
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "distill", str(labels), "--vocab", str(goemotions_small["vocab"]),
        "-o", str(bundle), "--human", str(human)])
    assert result.exit_code != 0
    assert str(human) in result.output
    assert "no document carries a label of the vocabulary" in result.output
    assert "2 documents, none naming a label" in result.output
    assert "accuracy against human labels" not in result.output
    assert not bundle.exists()  # refused before training


def test_a_pool_of_copies_of_one_text_spends_one_call_and_says_so_in_the_singular(data,
                                                                                caplog):
    """Every pool document a copy of one text (and a blank one): one teacher call, one
    student document, and the cut read '1 non-blank document of the pool that are no
    copies of others'."""
    space, _, _ = data
    pool = ["same text"] * 4 + ["Same  TEXT", ""]
    asked = []

    def teach(idx):
        asked.extend(idx.tolist())
        Y = np.zeros((len(idx), len(space)), np.float32)
        Y[:, 0] = 0.9
        return sp.csr_matrix(Y), np.ones(len(idx), bool)

    with caplog.at_level("WARNING", logger="tagsmith"):
        result = active_distill(pool, space, teach, ActiveOptions(
            budget=3, rounds=2, featurizer_params=FAST_FEATURES))
    assert asked == [0] and result.selected.tolist() == [0]
    assert ("budget=3 is more than the 1 of the 6 documents in the pool that is neither "
            "blank nor a copy of another: at most 1 teacher call spent") in caplog.text


def test_active_distill_given_the_text_groups_chooses_as_it_does_without(data):
    """label --budget hashed every text two or three times (the budget's cut, the
    selection's copies, the copies given their text's answer). The groups are computed
    once and passed down as ``text_groups``: given them (any numbering of the same
    groups), the choices, the teacher's answers and the student are those made without
    them, on a pool with copies and one without."""
    from tagsmith.features.tfidf import TfidfFeaturizer
    from tagsmith.pipeline.train import duplicate_groups

    space, train, _ = data
    texts = list(train.texts[:120])
    twins = np.arange(0, 120, 3)
    source = np.concatenate([np.arange(120), twins])
    featurizer = TfidfFeaturizer.from_params(**FAST_FEATURES)
    X = featurizer.fit_transform(texts)

    def teach(idx):
        return sp.csr_matrix(train.Y[source[idx]], dtype=np.float32), np.ones(len(idx), bool)
    for pool, X_pool in ((texts, X),
                         (texts + [f" {texts[i].upper()} " for i in twins],
                          sp.vstack([X, X[twins]]).tocsr())):
        groups = duplicate_groups(pool)
        options = ActiveOptions(budget=40, rounds=2, seed=2, featurizer_params=FAST_FEATURES)
        alone = active_distill(pool, space, teach, options, X_pool=X_pool,
                               featurizer=featurizer)
        for given in (groups, (groups.max() - groups) * 7 + 5):  # renumbered: the same
            result = active_distill(pool, space, teach, options, X_pool=X_pool,
                                    featurizer=featurizer, text_groups=given)
            np.testing.assert_array_equal(result.selected, alone.selected)
            assert (result.Y_teacher != alone.Y_teacher).nnz == 0
            for field in ("per_label", "tuned_mask"):
                np.testing.assert_array_equal(getattr(result.classifier.thresholds, field),
                                              getattr(alone.classifier.thresholds, field))
            np.testing.assert_array_equal(result.classifier.predict_topk(texts[:30], 3).scores,
                                          alone.classifier.predict_topk(texts[:30], 3).scores)


def test_active_distill_checks_the_text_groups_it_is_given(data):
    space, train, _ = data
    texts = list(train.texts[:40])
    options = ActiveOptions(budget=10, rounds=2, featurizer_params=FAST_FEATURES)
    asked = []

    def teach(idx):
        asked.append(idx)
        return noisy_teacher(train.Y, 0)(idx)
    for bad, shown in ((np.arange(39), r"shape \(39,\)"), (np.zeros((40, 1), int), r"\(40, 1\)"),
                       (np.arange(40.0), "float64"), (["a"] * 40, "<U1")):
        expected = rf"'text_groups' must be one integer group id per pool document \(40\).*{shown}"
        with pytest.raises(InvalidParameterError, match=expected):
            active_distill(texts, space, teach, options, text_groups=bad)
    assert asked == []  # refused before any teacher call


def _count_hashed_texts(monkeypatch) -> list[int]:
    """The number of texts of each call to ``texthash.hash_texts`` from now on (a list
    that grows as they come), each still hashed by the real one."""
    from tagsmith.data import texthash

    hashed: list[int] = []
    real = texthash.hash_texts

    def counting(values):
        hashed.append(len(values))
        return real(values)
    monkeypatch.setattr(texthash, "hash_texts", counting)
    return hashed


def test_label_corpus_with_a_budget_hashes_each_text_once(monkeypatch):
    """The budget's cut, active_distill and the copies given their text's answer each
    hashed the whole pool (and the documents sent once more): 44 texts hashed for 12."""
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus

    space = LabelSpace.from_uris(["u:sport", "u:music"],
                                 names={"u:sport": "sport", "u:music": "music"})
    texts = [f"{'sport' if i % 2 else 'music'} story {i}" for i in range(8)]
    texts += [f"  {texts[i].upper()}" for i in (0, 3, 5, 6)]
    hashed = _count_hashed_texts(monkeypatch)

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        name = "sport" if "sport" in doc.lower() else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})
    for budget in (500, 6):
        hashed.clear()
        with LocalChatServer(teacher) as server:
            client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
            result = label_corpus(texts, space, client, LabelingOptions(n_workers=2),
                                  budget=budget, rounds=2, strategy="random")
        assert hashed == [12]
        assert result["summary"]["active"]["n_copies_labelled"] == (4 if budget == 500 else
                                                                    len(result["rows"]) - 6)


def test_distill_with_a_human_sample_hashes_the_training_texts_once(data, monkeypatch):
    """The overlap check with the human sample hashed the training texts, then training
    hashed them all again: 2 passes over the corpus where one gives both."""
    space, train, test = data
    hashed = _count_hashed_texts(monkeypatch)
    texts, human = train.texts[:300], test.texts[:40]
    distill_classifier(texts, train.Y[:300] * 0.8, space, human_texts=human,
                       human_Y=test.Y[:40],
                       options=TrainOptions(featurizer_params=FAST_FEATURES))
    assert hashed.count(len(texts)) == 1, hashed


@pytest.mark.parametrize("where, name", [("texts", r"texts\[0\]"),
                                         ("human", r"human_texts\[1\]")])
def test_distill_with_a_human_sample_refuses_a_lone_surrogate_by_name(where, name):
    # the overlap check hashed them first: a bare UnicodeEncodeError naming no document
    from tagsmith.data.labelspace import LabelSpace

    space = LabelSpace.from_uris(["u:a", "u:b"])
    texts, human = ["a b", "c d"], ["a", "b"]
    if where == "texts":
        texts[0] = "a \ud800"
    else:
        human[1] = "b \ud800"
    with pytest.raises(InvalidParameterError, match=name):
        distill_classifier(texts, sp.csr_matrix(np.array([[0.8, 0], [0, 0.8]])), space,
                           human_texts=human, human_Y=sp.csr_matrix(np.array([[1, 0], [0, 1]])))


def test_is_soft_labels_file_knows_label_outputs_and_not_corpora(data, tmp_path):
    """label -o replaces, without --force, only an earlier label output: a JSONL corpus
    of the user's own starting {"id": "...", "text": "... (apply-review's, or json.dumps'
    of any script) was taken for one and replaced with no word."""
    import gzip
    import os

    from tagsmith.data.readers import Record
    from tagsmith.data.writers import write_records
    from tagsmith.pipeline.llm import is_soft_labels_file

    space = data[0]
    Y = sp.csr_matrix(np.array([[0.9, 0.0], [0.2, 0.7]]))
    Y.resize(2, len(space))
    long_text = "word " * 20000  # a first line over 64 KiB
    for name, ids, texts, copy_of in (
            ("plain.jsonl", ["a", "7"], ["joy", "so sad"], None),
            ("odd.jsonl.gz", ['q"uo\\te \u2028 \u00e9', "b"], ["joy", "sad"], None),
            ("long.jsonl", ["a", "b"], [long_text, "x"], None),
            ("copy.jsonl", ["a", "b"], ["x", "X"], ["b", None])):
        path = tmp_path / name
        write_soft_labels(path, texts, Y, space, doc_ids=ids, copy_of=copy_of)
        assert is_soft_labels_file(path), name
    older = tmp_path / "older.jsonl"  # as the first label wrote it (json.dumps, round)
    older.write_text(json.dumps({"id": "1", "text": "t", "labels": [space.uri_of(0)],
                                 "scores": [1e-05, 0.5]}, ensure_ascii=False) + "\n")
    assert is_soft_labels_file(older)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert is_soft_labels_file(empty) and is_soft_labels_file(tmp_path / "missing.jsonl")
    corpus = tmp_path / "corpus.jsonl"  # apply-review's, split's writer
    write_records([Record("Rain", (space.uri_of(0),), "d1", 1, "in.tsv")], corpus)
    assert not is_soft_labels_file(corpus)
    scripted = tmp_path / "mine.jsonl.gz"
    with gzip.open(scripted, "wt") as out:
        out.write(json.dumps({"id": "1", "text": long_text, "labels": ["x"]}) + "\n")
    assert not is_soft_labels_file(scripted)
    plain = tmp_path / "notes.jsonl"
    plain.write_text('{"id": "1", "text": "mine"}\n')
    assert not is_soft_labels_file(plain)
    pipe = tmp_path / "pipe.jsonl"
    os.mkfifo(pipe)
    assert not is_soft_labels_file(pipe)  # and not opened (it would block)


@pytest.mark.parametrize("labelled", [[4], "one fold"])
def test_the_student_s_thresholds_of_labels_no_fold_model_can_learn_are_untuned(labelled):
    """The teacher's labels (every call paid for) on one document of the 15 it answered,
    or on documents the folds put in one: tuning the student's threshold on out-of-fold
    scores failed naming a parameter 'Y' ("positive targets outside fold 2 of 3") after
    the whole run. The threshold stays untuned, as for too few documents."""
    from tagsmith.calibration.thresholds import Thresholds
    from tagsmith.pipeline.crossfit import fold_assignment
    from tagsmith.pipeline.distill import _student_thresholds

    options = ActiveOptions(budget=15, model="linear", threshold_folds=3)
    if labelled == "one fold":
        fold = fold_assignment(15, 3, options.seed)
        labelled = list(np.flatnonzero(fold == fold[0])[:3])
    rows = np.zeros((15, 2), np.float32)
    rows[labelled, 0] = 1
    X = sp.csr_matrix(np.random.default_rng(0).random((15, 6)).astype(np.float32))
    thresholds = _student_thresholds(X, sp.csr_matrix(rows), options, 2)
    untuned = Thresholds.constant(2)
    assert thresholds.global_threshold == untuned.global_threshold
    assert np.array_equal(thresholds.per_label, untuned.per_label)


def test_the_student_s_tuned_threshold_records_its_objective():
    """The student's threshold maximises F1 on out-of-fold scores: its bundle's manifest
    recorded no objective (``thresholds.objective``), which every other tuned bundle's
    does, as if none were known."""
    from tagsmith.pipeline.distill import _student_thresholds

    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((40, 6)).astype(np.float32))
    Y = sp.csr_matrix((rng.random((40, 2)) < 0.5).astype(np.float32))
    thresholds = _student_thresholds(X, Y, ActiveOptions(budget=40, model="linear",
                                                         threshold_folds=3), 2)
    assert thresholds.summary()["objective"] == "f_beta" and thresholds.beta == 1.0


def test_cli_label_with_a_budget_warns_of_each_rounds_rejections(goemotions_small, tmp_path):
    """Each round's labeling warned 'LLM labeling: 5 unknown labels rejected, ...' in the
    same words: a warning said again word for word is shown once, so 4 rounds of equal
    size and equal counts read as one round's rejections (5, where 20 were), on stderr
    and in the JSON summary's warnings."""
    lines = goemotions_small["train"].read_text(encoding="utf-8").splitlines()[:40]
    pool = tmp_path / "pool.tsv"
    pool.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def teacher(body):
        return json.dumps({"labels": [{"label": "neutral", "confidence": 0.9},
                                      {"label": "no such emotion", "confidence": 0.5}]})

    with LocalChatServer(teacher) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(pool), "--vocab", str(goemotions_small["vocab"]),
            "-o", str(tmp_path / "labels.jsonl"), "--budget", "20", "--rounds", "4",
            "--base-url", server.base_url, "--llm", "sim",
            "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stderr.strip().splitlines()[-1])["warnings"]
    rejected = [warning for warning in warnings if "unknown labels rejected" in warning]
    assert len(rejected) == 5, warnings  # 4 rounds of 5 documents, and their total
    assert sum(int(re.search(r"round \d: (\d+) unknown labels", warning)[1])
               for warning in rejected[:4]) == 20, rejected
    # the total over the rounds, once they have been said (the rounds named each their
    # own, and the run's totals were nowhere but in the summary's counts)
    assert rejected[4].startswith("LLM labeling, all 4 rounds: 20 unknown labels "
                                  "rejected, 0 malformed answers, 0 failed calls"), rejected


def test_cli_calibrate_a_distilled_bundle_without_data_gives_advice_that_fits(tmp_path):
    """calibrate on a distilled bundle without --data told to 'train with
    --calibration-fraction', which distill has no option for (nor label --budget)."""
    vocab = sport_vocab(tmp_path)
    labels = tmp_path / "soft.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": "1", "text": "a football match", "labels": ["u:sport"], "scores": [0.9]},
        {"id": "2", "text": "a piano concert", "labels": ["u:music"], "scores": [0.8]})))
    out = tmp_path / "student"
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "distill", str(labels), "--vocab", str(vocab), "-o", str(out), "--dev-fraction", "0"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(tagsmith_cli.cli, ["calibrate", str(out)])
    assert result.exit_code == 2, result.output
    assert "stores no calibration split: give --data" in result.output
    assert "--calibration-fraction" not in result.output
    assert "distilled" in result.output and "human-labelled" in result.output


def test_the_active_student_records_the_texts_it_was_taught(data, tmp_path):
    """`label --budget --student` saved a student with no record of its training texts:
    `calibrate --data` on the tickets it was taught calibrated it without a word, and on
    any other data warned that the bundle "was saved by an older tagsmith"."""
    from tagsmith.pipeline.confidence import heldout_from_corpus
    from tagsmith.pipeline.train import text_hashes

    space, train, _ = data
    options = ActiveOptions(budget=40, rounds=2, seed=1, featurizer_params=FAST_FEATURES)
    result = active_distill(train.texts, space, noisy_teacher(train.Y, 0.0), options)
    taught = [train.texts[i] for i in result.selected]
    loaded = TextClassifier.load(result.classifier.save(tmp_path / "student"))
    assert loaded.train_hashes is not None
    assert loaded.train_hashes.tolist() == text_hashes(taught).tolist()
    with pytest.raises(InvalidParameterError, match="trained on"):  # the ones it was taught
        heldout_from_corpus(loaded, taught, train.Y[result.selected], name="--data")


def test_label_corpus_with_a_budget_records_the_students_taught_texts(tmp_path):
    """The student of `label --budget --student` recorded no training texts: `calibrate
    --data` said it was "saved by an older tagsmith"; from the hashes label_corpus has."""
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus
    from tagsmith.pipeline.train import text_hashes

    space, texts, teacher = _sport_music_teacher()
    with LocalChatServer(teacher) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        result = label_corpus(texts, space, client, LabelingOptions(n_workers=2),
                              budget=8, rounds=2, strategy="random")
    taught = [texts[i] for i in result["rows"]]
    assert len(taught) == 8
    assert result["student"].train_hashes.tolist() == text_hashes(taught).tolist()


def test_label_budget_labelled_continues_an_earlier_day_without_asking_it_again(
        goemotions_small, tmp_path):
    # a team spending 500 calls a day: README's way to continue (a larger --budget on
    # day 2) chose anew and paid 970 calls for --budget 1000, and there was no way to
    # tell day 2 which tickets day 1 had labelled. --labelled DAY1 spends the new budget
    # on new documents only, and the student learns from both days
    teacher = _true_labels_teacher(goemotions_small)

    day1, day2, student = tmp_path / "day1.jsonl", tmp_path / "day2.jsonl", tmp_path / "s"
    common = ["-q", "label", str(goemotions_small["train"]), "--vocab",
              str(goemotions_small["vocab"]), "--rounds", "2", "--llm", "sim",
              "--cache", str(tmp_path / "c.sqlite")]
    with LocalChatServer(teacher) as server:
        first = CliRunner().invoke(tagsmith_cli.cli, [
            *common, "-o", str(day1), "--budget", "100", "--base-url", server.base_url])
        assert first.exit_code == 0, first.output
        asked_day1 = len(server.requests)
        second = CliRunner().invoke(tagsmith_cli.cli, [
            *common, "-o", str(day2), "--budget", "100", "--labelled", str(day1),
            "--student", str(student), "--base-url", server.base_url])
        assert second.exit_code == 0, second.output
        asked_day2 = len(server.requests) - asked_day1
    assert asked_day2 == 100  # the whole new budget paid, for new documents
    texts1 = {json.loads(line)["text"].strip().lower() for line in day1.open()}
    texts2 = [json.loads(line)["text"].strip().lower() for line in day2.open()
              if "copy_of" not in json.loads(line)]
    assert len(texts2) == 100 and not texts1 & set(texts2)
    assert TextClassifier.load(student).n_train_docs == 200
    summary = json.loads(second.stderr.strip().splitlines()[-1])
    assert summary["active"]["n_labelled_before"] == 100
    assert "student distilled from 200 documents (100 labelled before, by --labelled)" \
        in second.stdout, second.stdout


def test_label_labelled_refuses_to_write_over_the_labels_it_continues(goemotions_small,
                                                                     tmp_path):
    day1 = tmp_path / "day1.jsonl"
    day1.write_text('{"id": "a", "text": "thanks a lot", "labels": ["gratitude"]}\n')
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(goemotions_small["train"]), "--vocab", str(goemotions_small["vocab"]),
        "-o", str(day1), "--budget", "5", "--labelled", str(day1), "--llm", "sim",
        "--base-url", "http://127.0.0.1:9/v1", "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 2 and "must differ from --labelled" in result.output
    assert day1.read_text().count("\n") == 1


def test_label_labelled_covering_the_whole_corpus_is_refused_naming_the_option(tmp_path):
    # every document labelled on earlier days: the run warned of a budget cut to "at most
    # 0 teacher calls", then failed as "parameter 'labelled' must be earlier labels ..."
    corpus, vocab, day1 = tmp_path / "c.tsv", tmp_path / "v.tsv", tmp_path / "day1.jsonl"
    corpus.write_text("hello there\turn:a\nbye now\turn:b\n", encoding="utf-8")
    vocab.write_text("urn:a\talpha\nurn:b\tbeta\n", encoding="utf-8")
    day1.write_text('{"text": "hello there", "labels": ["urn:a"]}\n'
                    '{"text": "Bye  now", "labels": ["urn:b"]}\n', encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(corpus), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
        "--budget", "2", "--labelled", str(day1), "--llm", "sim",
        "--base-url", "http://127.0.0.1:9/v1", "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 2, result.output
    assert "Invalid value for --labelled: every document of" in result.output
    assert "nothing is left to spend --budget on" in result.output
    assert "teacher calls spent" not in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_label_budget_labelled_finds_the_documents_labelled_before_once(tmp_path):
    """label --budget --labelled found the corpus's documents labelled before twice (a
    Python loop over the corpus): for its early refusal, then in label_corpus. Once."""
    import sys

    corpus, vocab, day1 = tmp_path / "c.tsv", tmp_path / "v.tsv", tmp_path / "day1.jsonl"
    corpus.write_text("hello there\turn:a\nbye now\turn:b\nsee you\turn:a\n",
                      encoding="utf-8")
    vocab.write_text("urn:a\talpha\nurn:b\tbeta\n", encoding="utf-8")
    day1.write_text('{"text": "hello there", "labels": ["urn:a"]}\n', encoding="utf-8")
    calls = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "_labelled_in_pool":
            calls.append(frame.f_code.co_filename)

    sys.setprofile(profile)
    try:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(corpus), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
            "--budget", "1", "--labelled", str(day1), "--llm", "sim", "--dry-run",
            "--base-url", "http://127.0.0.1:9/v1", "--cache", str(tmp_path / "c.sqlite")])
    finally:
        sys.setprofile(None)
    assert result.exit_code == 0, result.output
    assert "dry run: no call sent" in result.output
    assert len(calls) == 1, calls


def test_label_labelled_covering_the_whole_corpus_is_refused_before_the_shortlist(tmp_path):
    """With --shortlist-zeroshot the encoder was loaded, the vocabulary and the corpus
    embedded (the label embeddings cached), and only then was the corpus labelled whole
    before refused: it is refused from the texts' fingerprints, before the shortlist."""
    corpus, vocab, day1 = tmp_path / "c.tsv", tmp_path / "v.tsv", tmp_path / "day1.jsonl"
    corpus.write_text("hello there\turn:a\nbye now\turn:b\n\n", encoding="utf-8")
    vocab.write_text("urn:a\talpha\nurn:b\tbeta\n", encoding="utf-8")
    day1.write_text('{"text": "Hello there", "labels": ["urn:a"]}\n'
                    '{"text": "bye now", "labels": ["urn:b"]}\n', encoding="utf-8")
    embeddings = tmp_path / "embeddings"
    embeddings.mkdir()
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "label", str(corpus), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
        "--budget", "2", "--labelled", str(day1), "--shortlist-zeroshot", "--shortlist-k",
        "1", "--cache-dir", str(embeddings), "--llm", "sim",
        "--base-url", "http://127.0.0.1:9/v1", "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 2, result.output
    assert "Invalid value for --labelled: every document of" in result.output
    assert "labels for every one of its 2 distinct documents" in result.output
    assert not list(embeddings.iterdir())  # nothing was embedded
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "c.sqlite").exists()


def test_a_blank_line_among_earlier_labels_is_not_a_labelled_document():
    # day 1's output held a blank ticket (never sent); day 2's --labelled counted it as one
    # of the corpus's documents already labelled, and refused a budget with one left to send
    from tagsmith.data.texthash import hash_texts
    from tagsmith.pipeline.llm import _labelled_in_pool, check_labelled_leaves_some

    texts = ["a gig", "", "a vote"]
    earlier = (["a gig", ""], sp.csr_matrix([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    check_labelled_leaves_some(texts, earlier, 3)  # "a vote" is left to send
    rows, Y, n_not_in_pool = _labelled_in_pool(earlier, hash_texts(texts), 3)
    assert rows.tolist() == [0] and Y.toarray().tolist() == [[1.0, 0.0, 0.0]]
    assert n_not_in_pool == 0


def test_active_distill_refuses_labelled_before_that_is_not_of_the_pool(data):
    # indices past the pool, or targets of another width, named as labelled_before
    space, train, _ = data
    asked = []

    def teach(indices):
        asked.append(list(indices))
        return noisy_teacher(train.Y, 0)(indices)

    texts = train.texts[:30]
    for before in ([(np.array([0, 30]), sp.csr_matrix((2, len(space)), dtype=np.float32)),
                    (np.array([0, 1]), sp.csr_matrix((2, len(space) + 1)))]):
        with pytest.raises(InvalidParameterError, match="labelled_before"):
            active_distill(texts, space, teach, ActiveOptions(
                budget=5, rounds=1, featurizer_params=FAST_FEATURES), labelled_before=before)
    assert asked == []


def test_earlier_labels_of_texts_not_in_the_corpus_are_counted_not_learnt():
    # a day-1 output from another corpus (or one edited since): its texts the pool lacks
    # are counted (the summary's active.n_labelled_not_in_pool), the others found
    from tagsmith.data.texthash import hash_texts
    from tagsmith.pipeline.llm import _labelled_in_pool

    texts = ["a gig", "a vote", "A  GIG"]
    earlier = (["a vote", "a match", "a gig", "A vote"],
               sp.csr_matrix(np.eye(4, 3, dtype=np.float32)))
    rows, Y, n_not_in_pool = _labelled_in_pool(earlier, hash_texts(texts), 3)
    assert rows.tolist() == [1, 0]  # each pool text once, learnt from its first line
    assert Y.toarray().tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert n_not_in_pool == 1
    # a text the pool lacks is one document however many lines hold it (label --budget
    # writes a copy's line with its document's text): its lines were counted
    earlier = (["a match", "A  match", "a match", "a gig"],
               sp.csr_matrix(np.ones((4, 3), np.float32)))
    assert _labelled_in_pool(earlier, hash_texts(texts), 3)[2] == 1
    with pytest.raises(InvalidParameterError, match="labelled"):
        _labelled_in_pool((["a gig"], sp.csr_matrix((1, 2))), hash_texts(texts), 3)


def test_cli_label_with_a_budget_says_it_builds_the_pools_features_first(goemotions_small,
                                                                         tmp_path, caplog):
    # a walk of 20,000 raw texts: label --budget sat 44 s with no line at all before its
    # first call, building the pool's TF-IDF features, and a user's Ctrl-C then showed
    # "0 answered calls". The features' progress is shown, as train shows it
    teacher = _true_labels_teacher(goemotions_small)
    labels = tmp_path / "labels.jsonl"
    with LocalChatServer(teacher) as server, caplog.at_level("INFO", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(goemotions_small["train"]), "--vocab",
            str(goemotions_small["vocab"]), "-o", str(labels), "--budget", "20",
            "--rounds", "1", "--base-url", server.base_url, "--llm", "sim",
            "--cache", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 0, result.output
    n_docs = len(read_labelled(goemotions_small["train"],
                               load_vocabulary(goemotions_small["vocab"])).texts)
    lines = [record.getMessage() for record in caplog.records]
    said = next(i for i, line in enumerate(lines) if "building the features of the "
                f"pool's {n_docs:,} documents before the first teacher call" in line)
    counted = next(i for i, line in enumerate(lines)
                   if f"features (word n-grams): {n_docs:,}/{n_docs:,} docs" in line)
    first_call = next(i for i, line in enumerate(lines) if "LLM labeling" in line)
    assert said < counted < first_call, lines


def test_active_distill_says_each_round_by_its_place_from_1(data, caplog):
    # label --budget's log read "LLM labeling, round 1: 500/500 calls" and then
    # "active distillation round 0: 500 asked" of that same round, and ended on
    # "round 3" of 4 rounds
    space, train, _ = data
    with caplog.at_level("INFO", logger="tagsmith"):
        active_distill(train.texts, space, noisy_teacher(train.Y, 0.2), ActiveOptions(
            budget=40, rounds=2, featurizer_params=FAST_FEATURES))
    said = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("active distillation round")]
    assert said == ["active distillation round 1 of 2: 10 asked, 10 labelled so far",
                    "active distillation round 2 of 2: 30 asked, 40 labelled so far"]


def test_active_distills_records_number_the_rounds_from_1_and_read_older_ones_so(
        data, tmp_path):
    # the lines said "active distillation round 1 of 2" where the summary, the student's
    # manifest and TeacherFailedError.rounds said "round": 0 of that round. A student
    # saved before (from 0) is read, and shown by info, numbered from 1 too
    space, train, _ = data
    result = active_distill(train.texts, space, noisy_teacher(train.Y, 0.2), ActiveOptions(
        budget=40, rounds=2, featurizer_params=FAST_FEATURES))
    assert [r["round"] for r in result.rounds] == [1, 2]
    assert [r["round"] for r in result.classifier.manifest["distillation"]["rounds"]] == [1, 2]
    student = tmp_path / "student"
    result.classifier.save(student)
    manifest = json.loads((student / "manifest.json").read_text())
    assert [r["round"] for r in manifest["distillation"]["rounds"]] == [1, 2]
    for r in manifest["distillation"]["rounds"]:  # as a tagsmith before this saved it
        r["round"] -= 1
    (student / "manifest.json").write_text(json.dumps(manifest))
    loaded = TextClassifier.load(student)
    assert [r["round"] for r in loaded.manifest["distillation"]["rounds"]] == [1, 2]
    shown = CliRunner().invoke(tagsmith_cli.cli, ["info", str(student), "--json"])
    assert shown.exit_code == 0, shown.output
    assert [r["round"] for r in json.loads(shown.stdout)["distillation"]["rounds"]] == [1, 2]


def _malformed_once(tmp_path):
    """120 sport and music texts, their vocabulary, and a teacher whose answer to every
    fourth text is broken JSON the first time it is asked."""
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(f"{'sport match' if i % 2 else 'music concert'} {i} words\n"
                            for i in range(120)))
    asked: set = set()

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        first = doc not in asked
        asked.add(doc)
        if first and int(doc.split()[2]) % 4 == 0:
            return '{"labels": [{"label": '  # broken JSON, the first time only
        name = "sport" if doc.startswith("sport") else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    return docs, sport_vocab(tmp_path), teacher


def test_cli_label_budget_closing_line_says_documents_and_calls_apart_with_votes(tmp_path):
    # with --votes 3 the line read "10 of the budget's documents unanswered, each
    # spending its call (0 failed calls, 30 malformed answers)": documents and calls
    # in one breath, each document three calls
    docs, vocab, _ = _malformed_once(tmp_path)

    def teacher(body):  # every fourth text broken, each time it is asked
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        if int(doc.split()[2]) % 4 == 0:
            return '{"labels": [{"label": '
        name = "sport" if doc.startswith("sport") else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    with LocalChatServer(teacher) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
            "--budget", "40", "--rounds", "2", "--votes", "3", "--llm", "m",
            "--cache", str(tmp_path / "c.sqlite"), "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    lost, malformed = (summary["active"]["n_spent_unanswered"],
                       summary["labeling"]["n_malformed_answers"])
    assert lost > 0 and malformed == 3 * lost
    assert (f"{lost} of the budget's documents unanswered, each spending its 3 calls (of "
            f"the teacher's 120 calls: 0 failed calls, {malformed} malformed answers)"
            ) in result.stdout, result.stdout


def test_cli_label_budget_with_votes_counts_each_unanswered_document_as_its_votes(tmp_path):
    # --votes 3 --budget 200: "6 of the budget's documents unanswered, each spending its
    # call (0 failed calls, 180 malformed answers)" counted documents against calls, each
    # document being 3 calls and most malformed answers votes of documents answered
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(f"{'sport match' if i % 2 else 'music concert'} {i} words\n"
                            for i in range(120)))

    def teacher(body):
        n = int(read_data_section(user_prompt(body), "DOCUMENT").split()[2])
        if n % 8 == 0 or (n % 8 == 3 and body["seed"] == 1):  # every vote, or one of 2
            return '{"labels": [{"label": '
        name = "sport" if n % 2 else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    with LocalChatServer(teacher) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(docs), "--vocab", str(sport_vocab(tmp_path)), "-o",
            str(tmp_path / "o.jsonl"), "--budget", "40", "--rounds", "2", "--votes", "2",
            "--cache", str(tmp_path / "c.sqlite"), "--llm", "m",
            "--base-url", server.base_url])
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 80
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    lost = summary["active"]["n_spent_unanswered"]
    malformed = summary["labeling"]["n_malformed_answers"]
    short = summary["labeling"]["n_docs_short_of_votes"]
    assert lost > 0 and short > 0 and malformed == 2 * lost + short
    assert (f"labelled {40 - lost} of the 40 documents sent (--budget 40 of 120 documents; "
            f"{lost} of the budget's documents unanswered, each spending its 2 calls (of "
            f"the teacher's 80 calls: 0 failed calls, {malformed} malformed answers))"
            ) in result.stdout, result.stdout


def test_cli_label_with_a_budget_rerun_replays_its_malformed_answers(tmp_path, caplog):
    # a rerun of label --budget 2000 from its response cache sent ~1,300 calls: each
    # malformed answer had left the cache, was asked again and answered this time, so
    # the rounds' students differed and chose other documents, every one paid for again.
    # A budget run keeps its malformed answers: the rerun is the same run, at no cost
    docs, vocab, teacher = _malformed_once(tmp_path)

    command = ["-q", "label", str(docs), "--vocab", str(vocab), "-o",
               str(tmp_path / "o.jsonl"), "--budget", "40", "--rounds", "2",
               "--cache", str(tmp_path / "c.sqlite"), "--llm", "m"]
    with LocalChatServer(teacher) as server:
        first = CliRunner().invoke(tagsmith_cli.cli, command + ["--base-url", server.base_url])
        assert first.exit_code == 0, first.output
        assert len(server.requests) == 40
        malformed = json.loads(first.stderr.strip().splitlines()[-1])["labeling"][
            "n_malformed_answers"]
        assert malformed > 0
        # the budget counts them, and says how many of it they took: the summary named
        # the budget and the malformed answers apart, never together
        assert json.loads(first.stderr.strip().splitlines()[-1])["active"][
            "n_spent_unanswered"] == malformed
        assert (f"labelled {40 - malformed} of the 40 documents sent (--budget 40 of 120 "
                f"documents; {malformed} of the budget's documents unanswered, each "
                f"spending its call (of the teacher's 40 calls: 0 failed calls, {malformed} "
                "malformed answers))"
                ) in first.stdout, first.stdout
        written = (tmp_path / "o.jsonl").read_text()
        with caplog.at_level("INFO", logger="tagsmith"):
            again = CliRunner().invoke(tagsmith_cli.cli, command[1:] + [
                "--base-url", server.base_url])
        assert again.exit_code == 0, again.output
        assert len(server.requests) == 40  # nothing sent again
    # and the line before each round's calls says so (it counted the malformed answers
    # replayed as calls to send)
    said = [r.getMessage() for r in caplog.records if " to send (" in r.getMessage()]
    assert len(said) == 2 and all(": 0 to send (0 prompt tokens)" in m for m in said), said
    summary = json.loads(again.stderr.strip().splitlines()[-1])
    assert summary["usage"]["requests"] == 0 and summary["usage"]["cached"] == 40
    assert summary["labeling"]["n_malformed_answers"] == malformed
    assert (tmp_path / "o.jsonl").read_text() == written


def test_cli_label_with_a_budget_rerun_takes_a_plain_runs_good_answers_and_prunes_the_kept(
        tmp_path):
    # a budget run keeps its malformed answers apart (kept_malformed) and its rerun
    # replays them, at no cost. But the kept answer won over the good one a plain label
    # run on the same cache got by asking again, for every budget rerun: the documents
    # were never labelled by one, and the table was never pruned. The good answer wins
    # now, and the kept one it supersedes is deleted
    import sqlite3

    docs, vocab, teacher = _malformed_once(tmp_path)

    cache = ["--cache", str(tmp_path / "c.sqlite"), "--llm", "m"]
    budget = ["-q", "label", str(docs), "--vocab", str(vocab), "-o",
              str(tmp_path / "o.jsonl"), "--budget", "40", "--rounds", "2", *cache]

    def n_kept():
        with sqlite3.connect(tmp_path / "c.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM kept_malformed").fetchone()[0]

    with LocalChatServer(teacher) as server:
        first = CliRunner().invoke(tagsmith_cli.cli, budget + ["--base-url", server.base_url])
        assert first.exit_code == 0, first.output
        malformed = json.loads(first.stderr.strip().splitlines()[-1])["labeling"][
            "n_malformed_answers"]
        assert malformed > 0 and n_kept() == malformed
        # a rerun alone replays them, as malformed, at no cost
        rerun = CliRunner().invoke(tagsmith_cli.cli, budget + ["--base-url", server.base_url])
        assert rerun.exit_code == 0, rerun.output
        assert len(server.requests) == 40 and n_kept() == malformed
        plain = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "label", str(docs), "--vocab", str(vocab), "-o",
            str(tmp_path / "plain.jsonl"), *cache, "--base-url", server.base_url])
        assert plain.exit_code == 0, plain.output
        # the plain run asked the 80 documents the budget left, and the malformed again
        assert len(server.requests) == 40 + 80 + malformed
        assert n_kept() == 0  # its good answers deleted the kept ones they supersede
        sent = len(server.requests)
        again = CliRunner().invoke(tagsmith_cli.cli, budget + ["--base-url", server.base_url])
        assert again.exit_code == 0, again.output
        # the rerun's rounds chose by the good answers, and may choose other documents:
        # those the plain run has no good answer for (its own first, malformed, answers,
        # dropped) are paid for (1 here, README's cost of a good answer winning)
        paid = len(server.requests) - sent
    summary = json.loads(again.stderr.strip().splitlines()[-1])
    assert summary["usage"]["requests"] == paid <= malformed
    assert summary["labeling"]["n_malformed_answers"] == 0
    assert summary["active"]["n_spent_unanswered"] == 0
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 40


def test_cli_label_with_a_budget_rerun_replays_its_human_samples_malformed_answers(
        tmp_path):
    # the human sample's answers give the teacher's reliability, which weighs the
    # students' targets and the selection's teacher error rate: its malformed answers,
    # dropped from the cache, were asked again on a rerun (the README says a budget run
    # keeps its malformed answers), answered otherwise, and the rounds could choose
    # other documents, paid for again
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(f"{'sport match' if i % 2 else 'music concert'} {i} words\n"
                            for i in range(60)))
    human = tmp_path / "h.tsv"
    human.write_text("".join(f"{'sport game' if i % 2 else 'music song'} {i} sample\t"
                             f"<u:{'sport' if i % 2 else 'music'}>\n" for i in range(8)))
    vocab = sport_vocab(tmp_path)
    asked: set = set()

    def teacher(body):
        doc = read_data_section(user_prompt(body), "DOCUMENT")
        first = doc not in asked
        asked.add(doc)
        if first and doc.endswith("sample") and int(doc.split()[2]) % 4 == 0:
            return '{"labels": [{"label": '  # broken JSON, the first time only
        name = "sport" if doc.startswith("sport") else "music"
        return json.dumps({"labels": [{"label": name, "confidence": 0.9}]})

    command = ["-q", "label", str(docs), "--vocab", str(vocab), "-o",
               str(tmp_path / "o.jsonl"), "--budget", "20", "--rounds", "2",
               "--human", str(human), "--cache", str(tmp_path / "c.sqlite"),
               "--llm", "m"]
    with LocalChatServer(teacher) as server:
        first = CliRunner().invoke(tagsmith_cli.cli, command + ["--base-url", server.base_url])
        assert first.exit_code == 0, first.output
        sent = len(server.requests)
        assert sent == 28
        summary = json.loads(first.stderr.strip().splitlines()[-1])
        assert summary["human_labeling"]["n_malformed_answers"] == 2
        again = CliRunner().invoke(tagsmith_cli.cli, command[1:] + [
            "--base-url", server.base_url])
        assert again.exit_code == 0, again.output
        assert len(server.requests) == sent  # nothing sent again
    summary = json.loads(again.stderr.strip().splitlines()[-1])
    assert summary["usage"]["requests"] == 0
    assert summary["human_labeling"]["n_malformed_answers"] == 2


def test_cli_label_with_a_budget_says_the_whole_spend_after_each_round(goemotions_small,
                                                                       tmp_path, caplog):
    # each round's progress counts that round's calls and cost alone, and a successful
    # label run prints no usage line: the last line of a 4-round 2,000-call budget said
    # "cost 1.0982" where 4.5168 had been spent (the JSON summary's usage alone said it)
    teacher = _true_labels_teacher(goemotions_small)
    with LocalChatServer(teacher) as server, caplog.at_level("INFO", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(goemotions_small["train"]), "--vocab",
            str(goemotions_small["vocab"]), "-o", str(tmp_path / "labels.jsonl"),
            "--budget", "30", "--rounds", "2", "--base-url", server.base_url, "--llm", "sim",
            "--cache", str(tmp_path / "c.sqlite"), "--price-prompt", "1",
            "--price-completion", "2"])
    assert result.exit_code == 0, result.output
    said = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("LLM usage after round")]
    assert [m.split(":")[0] for m in said] == ["LLM usage after round 1",
                                               "LLM usage after round 2"], said
    assert said[0].startswith("LLM usage after round 1: 8 answered calls, 0 cached"), said
    usage = json.loads(result.stderr.strip().splitlines()[-1])["usage"]
    assert said[1].startswith("LLM usage after round 2: 30 answered calls, 0 cached")
    assert said[1].endswith(f"cost {usage['cost']:.4f}"), (said, usage)


@pytest.mark.parametrize("n_labels, per_label, warned", [(30, 2, True), (20, 5, False),
                                                         (19, 1, False)])
def test_cli_distill_warns_of_too_few_documents_a_label(tmp_path, n_labels, per_label,
                                                         warned):
    """At YSO's 27,754 labels, 1,001 LLM-labelled documents over ~1,200 labels distilled
    a student of P@1 .018, and distill said nothing of why: it now warns where the
    documents average fewer than 5 a label named, over 20 labels or more."""
    vocab = tmp_path / "v.tsv"
    vocab.write_text("".join(f"<u:l{j}>\tlabel {j}\n" for j in range(n_labels)))
    labels = tmp_path / "soft.jsonl"
    labels.write_text("".join(json.dumps(
        {"id": f"{j}-{i}", "text": f"words of topic{j} number {i}", "labels": [f"u:l{j}"],
         "scores": [0.9]}) + "\n" for j in range(n_labels) for i in range(per_label)))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "distill", str(labels), "--vocab", str(vocab), "-o", str(tmp_path / "m"),
        "--json", "--dev-fraction", "0"])
    assert result.exit_code == 0, result.output
    said = [w for w in json.loads(result.stdout)["warnings"] if "documents a label" in w]
    if warned:
        assert said == [f"{labels}: the teacher's labels name {n_labels} labels over "
                        f"{n_labels * per_label} documents, {per_label:.1f} documents a "
                        "label on average (fewer than 5): a student learns a label from "
                        "its documents, and learns little from so few (1,001 documents "
                        "over about 1,200 of YSO's labels distilled a student of P@1 "
                        ".018); label more documents, label with a smaller vocabulary "
                        "(--vocab-type, or the labels that matter), or train on a "
                        "human-labelled corpus with the LLM-labelled documents added"]
    else:
        assert said == []


def test_active_options_refuse_a_show_progress_that_is_not_a_bool():
    # "no" is truthy: it turned the feature progress lines on, where LabelingOptions
    # refuses such a flag; a numpy bool is kept as a plain one
    with pytest.raises(InvalidParameterError, match="show_progress"):
        ActiveOptions(budget=2, show_progress="no").validate(10)
    options = ActiveOptions(budget=2, show_progress=np.bool_(True))
    options.validate(10)
    assert options.show_progress is True


def test_cli_label_with_a_budget_closes_its_response_cache_before_it_returns(tmp_path):
    # the response cache was left to the interpreter's teardown, which freed a budget
    # run's objects (in reference cycles) for 2-15 s after the summary; main now freezes
    # them at exit, so the cache must be closed by the command: an SQLite file in WAL
    # mode keeps its -wal file while a connection is open
    import gc

    docs = tmp_path / "docs.txt"
    docs.write_text("".join(f"{'sport match' if i % 2 else 'music concert'} {i} words\n"
                            for i in range(60)))
    vocab = sport_vocab(tmp_path)
    cache = tmp_path / "c.sqlite"
    with LocalChatServer(answer_sport) as server:
        gc.disable()  # what a frozen teardown leaves: no collection frees the connection
        try:
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "-q", "label", str(docs), "--vocab", str(vocab), "-o",
                str(tmp_path / "o.jsonl"), "--budget", "20", "--rounds", "2",
                "--cache", str(cache), "--llm", "m", "--base-url", server.base_url])
            assert result.exit_code == 0, result.output
            assert cache.exists() and not (tmp_path / "c.sqlite-wal").exists()
        finally:
            gc.enable()


def _answer_music_where_rare(body) -> str:
    """Every document sport; one holding 'rare' music too (a rare emotion, say)."""
    doc = read_data_section(user_prompt(body), "DOCUMENT")
    labels = [{"label": "sport", "confidence": 0.9}]
    if "rare" in doc:
        labels.append({"label": "music", "confidence": 0.8})
    return json.dumps({"labels": labels})


def _label_rare_pianos(tmp_path, *options, plain_pianos=False):
    """label --rare-share 0.5 on 40 sport stories, every tenth a 'rare piano' (music too,
    by _answer_music_where_rare); with plain_pianos the fifth of each ten a 'piano' (sport only)."""
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(("rare piano " if i % 10 == 0 else "piano " if plain_pianos
                             and i % 10 == 5 else "") + f"sport story {i}\n"
                            for i in range(40)))
    args = ["label", str(docs), "--vocab", str(sport_vocab(tmp_path)), "-o",
            str(tmp_path / "o.jsonl"), "--llm", "t", *options, "--rare-share", "0.5",
            "--cache", str(tmp_path / "c.sqlite")]
    with LocalChatServer(_answer_music_where_rare) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("student", [True, False])
def test_label_with_a_budget_names_labels_it_bought_too_few_positives_of(tmp_path, student):
    """A budget of 1,500 GoEmotions comments bought 1 to 12 documents of each of the
    five rarest emotions; the student scored test F1 0 on most of them, and neither the
    run nor its summary said a word: now a warning names the labels of 1 to 5 positives
    with their counts and what to do, and the summary's active.starved_labels counts them."""
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(("rare " if i in (3, 11) else "") + f"sport story {i}\n"
                            for i in range(20)))
    vocab = sport_vocab(tmp_path)
    args = ["label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
            "--budget", "20", "--rounds", "2", "--llm", "t",
            *(["--student", str(tmp_path / "s")] if student else []),
            "--cache", str(tmp_path / "c.sqlite")]
    with LocalChatServer(_answer_music_where_rare) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    # without --student no student is kept: the words are of a model trained on the labels
    learner = "the student" if student else "a model trained on these labels"
    assert ("1 label has only 1 to 5 positive training documents (a target of at least "
            "0.5) of the 20 learnt from, "
            f"too few for {learner} to learn it (it will rarely if ever predict it): "
            "'music' (2); a larger budget buys them only as often as the pool holds them"
            ) in said, said
    assert "found with zeroshot" in said, said  # the command line's words
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["active"]["starved_labels"] == [
        {"uri": "u:music", "label": "music", "positives": 2, "given": 2}]
    # counted at 0.5, as distill counts them: the record says so
    assert summary["active"]["starved_min_target"] == 0.5
    if not student:
        return
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["distillation"]["starved_labels"] == summary["active"]["starved_labels"]


def _answer_music_weakly_where_rare(body) -> str:
    """Every document sport; music too, at 0.3, where it holds 'rare'."""
    doc = read_data_section(user_prompt(body), "DOCUMENT")
    labels = [{"label": "sport", "confidence": 0.9}]
    if "rare" in doc:
        labels.append({"label": "music", "confidence": 0.3})
    return json.dumps({"labels": labels})


def test_label_with_a_budget_counts_starved_labels_as_distill_does(tmp_path):
    """label --budget counted any target as a positive, distill one of 0.5 or more: a
    label the teacher gave 10 documents at 0.3 was not starved by the run's warning,
    and distill of its output named it with 0 positives. Both count at 0.5 now."""
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(("rare " if i % 2 else "") + f"sport story {i}\n"
                            for i in range(20)))
    vocab = sport_vocab(tmp_path)
    out = tmp_path / "o.jsonl"
    with LocalChatServer(_answer_music_weakly_where_rare) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(docs), "--vocab", str(vocab), "-o", str(out), "--budget", "20",
            "--rounds", "2", "--llm", "t", "--cache", str(tmp_path / "c.sqlite"),
            "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    distilled = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "distill", str(out), "--vocab", str(vocab), "-o", str(tmp_path / "s"),
        "--json"])
    assert distilled.exit_code == 0, distilled.output
    report = json.loads(distilled.stdout)
    assert summary["active"]["starved_labels"] == report["starved_labels"] == [
        {"uri": "u:music", "label": "music", "positives": 0, "given": 10}]
    assert summary["active"]["starved_min_target"] == report["starved_min_target"] == 0.5
    said = " ".join(result.stderr.split())
    assert ("1 label the teacher gave only below a target of 0.5, so no positive "
            "training document of the 20 learnt from: 'music' (given on 10 documents)"
            ) in said, said


def test_cli_distill_names_labels_of_too_few_positives(tmp_path):
    """distill on a budget's labels said nothing of the labels 1 to 5 documents carry
    (a student learns next to nothing of them); a label of none is another warning's."""
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:sport>\tsport\n<u:music>\tmusic\n<u:art>\tart\n<u:film>\tfilm\n")
    labels = tmp_path / "soft.jsonl"
    labels.write_text("".join(json.dumps(
        {"id": str(i), "text": f"{'football match' if i % 2 else 'piano concert'} {i}",
         "labels": ["u:sport" if i % 2 else "u:music"] + (["u:art"] if i < 3 else []),
         "scores": [0.9] + ([0.7] if i < 3 else [])}) + "\n" for i in range(40)))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "distill", str(labels), "--vocab", str(vocab), "-o", str(tmp_path / "s"),
        "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["starved_labels"] == [
        {"uri": "u:art", "label": "art", "positives": 3, "given": 3}]
    assert any(warning.startswith(
        "1 label has only 1 to 5 positive training documents (a target of at least 0.5) "
        "of the 40 learnt from")
        and "'art' (3); to teach them, label more documents that carry them" in warning
        and "distill from LABELS" in warning
        for warning in summary["warnings"]), summary["warnings"]


def test_cli_distill_counts_the_positives_the_student_learns_from(tmp_path):
    """distill counted any nonzero target as a positive: a label the teacher gave 20
    documents at 0.05 (the student learns it is unlikely there) was not starved. A
    positive is a target of at least 0.5 now, on every document (the held-out ones
    too: the student is refitted on them)."""
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:sport>\tsport\n<u:music>\tmusic\n<u:art>\tart\n<u:film>\tfilm\n")
    labels = tmp_path / "soft.jsonl"
    labels.write_text("".join(json.dumps(
        {"id": str(i), "text": f"{'football match' if i % 2 else 'piano concert'} {i}",
         "labels": ["u:sport" if i % 2 else "u:music"] + (["u:film"] if i < 20 else [])
         + (["u:art"] if 30 <= i < 38 else []),
         "scores": [0.9] + ([0.05] if i < 20 else []) + ([0.6] if 30 <= i < 38 else [])})
        + "\n" for i in range(40)))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "distill", str(labels), "--vocab", str(vocab), "-o", str(tmp_path / "s"),
        "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # art: 8 documents at 0.6, counted whether held out for dev or not (refitted on)
    assert summary["starved_labels"] == [
        {"uri": "u:film", "label": "film", "positives": 0, "given": 20}]
    # the record says at what target a positive was counted (label --budget's: any, 0)
    assert summary["starved_min_target"] == 0.5
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["distillation"]["starved_min_target"] == 0.5
    # given on 20 documents, all below 0.5: not short of documents (it was told to
    # "label more documents that carry them"), the teacher is unsure of it
    said = [" ".join(warning.split()) for warning in summary["warnings"]]
    assert any(warning.startswith(
        "1 label the teacher gave only below a target of 0.5, so no positive training "
        "document of the 40 learnt from: 'film' (given on 20 documents); the teacher is "
        "unsure of it rather than short of documents of it") for warning in said), said
    assert not any("label more documents that carry them" in warning for warning in said)


def _rare_pool(n_docs=300, every=15):
    """Sport stories, and every ``every``-th document a piano concert (music): the
    space, the texts and a teacher answering their true labels."""
    space = load_vocabulary_from_names(["sport", "music"])
    texts = [(f"piano concert orchestra evening {i}" if i % every == 0 else
              f"football match goal team {i}") for i in range(n_docs)]
    truth = np.array([[0.0, 0.9] if i % every == 0 else [0.9, 0.0] for i in range(n_docs)],
                     np.float32)

    def teach(indices):
        return sp.csr_matrix(truth[indices]), np.ones(len(indices), bool)
    return space, texts, teach


def load_vocabulary_from_names(names):
    from tagsmith.data.labelspace import LabelSpace

    return LabelSpace.from_uris([f"u:{n}" for n in names], names={f"u:{n}": n for n in names})


@pytest.mark.parametrize("strategy", ["robust", "uncertainty", "random"])
def test_rare_share_spends_part_of_each_round_on_the_rarest_labels(strategy):
    """A budget bought 1 to 12 documents of each of GoEmotions' rarest emotions whatever
    the strategy; rare_share spends a share of each round after the first on the
    documents the student scores highest for the labels bought fewest times: here every
    music document left once the first round found one."""
    space, texts, teach = _rare_pool()
    music = 1
    bought = {}
    for share in (0.0, 0.5):
        result = active_distill(texts, space, teach, ActiveOptions(
            budget=60, rounds=2, initial_fraction=0.5, strategy=strategy, seed=3,
            rare_share=share, featurizer_params=FAST_FEATURES))
        found = sum(i % 15 == 0 for i in result.selected[:30])
        assert found >= 1  # the first round (random) found one to score music by
        bought[share] = int((result.Y_teacher[:, music].toarray() > 0).sum()) - found
    # the second round's 15 documents of the share are all music documents: those the
    # student scores highest for music, bought 1 to 19 times so far
    assert bought[0.5] >= 15, bought
    if strategy == "random":  # (the toy's uncertain documents are its music ones)
        assert bought[0.0] < 8, bought


def test_rare_share_is_checked_and_needs_a_budget(tmp_path):
    with pytest.raises(InvalidParameterError, match="rare_share"):
        ActiveOptions(budget=10, rare_share=1.5).validate(n_pool=100)
    docs, vocab = sport_corpus(tmp_path, 10)
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
        "--rare-share", "0.2", "--llm", "t", "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 2 and "--rare-share" in result.output
    assert "--budget" in result.output, result.output
    # a share of 1 is refused (ActiveOptions takes [0, 1)): the help said 0<=x<=1
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
        "--budget", "5", "--rare-share", "1", "--llm", "t",
        "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 2 and "--rare-share" in result.output, result.output
    shown = CliRunner().invoke(tagsmith_cli.cli, ["label", "--help"]).output
    assert "0<=x<1]" in " ".join(shown[shown.index("--rare-share"):].split()[:60])


def test_label_with_a_budget_spends_the_rare_share_it_is_given(tmp_path):
    """label --rare-share reaches the selection and the summary says it was spent so."""
    result = _label_rare_pianos(tmp_path, "--budget", "20", "--rounds", "2")
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["active"]["rare_share"] == 0.5
    assert summary["active"]["rare_share_ranked_by"] == "student"  # no --shortlist-zeroshot
    # each round says what the share spent and bought
    assert [row["rare_asked"] for row in summary["active"]["rounds"]] == [0, 8]
    # and the closing lines say it, run-wide
    bought = summary["active"]["rounds"][1]["rare_bought"]
    assert (f"--rare-share 0.5: 8 of the documents sent were for rare labels (ranked by the "
            f"student's scores), {bought} of them given the label sent for at 0.5 or more "
            "(distill's positive)") in result.stdout


def test_rare_share_scores_each_round_s_candidates_once(monkeypatch):
    """Each round after the first scored every candidate twice with a share (its top 10
    for the gains, its top 50 for the share's picks): once now, and the share picks from
    the same ranking as when it scored the candidates itself."""
    from tagsmith.models.linear import LinearOVR
    from tagsmith.pipeline.distill import RARE_TOPK, _rare_picks

    names = [f"topic{j}" for j in range(14)]
    space = load_vocabulary_from_names(names)
    texts = [f"{names[i % 14]} story word{i % 7} about {names[(i * 5) % 14]} {i}"
             for i in range(280)]
    truth = sp.csr_matrix(np.array([[0.9 if j in (i % 14, (i * 5) % 14) and (
        j or i % 70 == 0) else 0.0 for j in range(14)] for i in range(280)], np.float32))

    def teach(indices):
        return truth[indices], np.ones(len(indices), bool)

    calls: list[int] = []
    real = LinearOVR.predict_topk

    def counted(self, X, k):
        calls.append(X.shape[0])
        return real(self, X, k)

    monkeypatch.setattr(LinearOVR, "predict_topk", counted)
    # the round's own scoring of its candidates, found by the function that does it (it
    # was found by k == 14, this test's label count: a count of 10 picked another call)
    import tagsmith.pipeline.distill as distill_module

    real_candidates = distill_module._predict_candidates
    rounds_scored: list = []

    def round_scoring(model, X_pool, candidates, k):
        scored = real_candidates(model, X_pool, candidates, k)
        rounds_scored.append((model, X_pool[candidates], scored))
        return scored

    monkeypatch.setattr(distill_module, "_predict_candidates", round_scoring)
    n_calls = {}
    for share in (0.0, 0.3):
        calls.clear()
        rounds_scored.clear()
        active_distill(texts, space, teach, ActiveOptions(
            budget=120, rounds=4, initial_fraction=0.25, seed=1, rare_share=share,
            featurizer_params=FAST_FEATURES))
        n_calls[share] = len(calls)
    # the share costs no scoring of its own (it was one more of each of the 3 rounds)
    assert n_calls[0.3] == n_calls[0.0], n_calls
    # one scoring a round after the first (random) one, for the share's top labels
    assert len(rounds_scored) == 3
    assert all(row[2].k == min(14, RARE_TOPK) for row in rounds_scored)
    # the picks from the round's scores are the picks it made scoring them itself
    model, X, topk = rounds_scored[0]
    support = np.array([0, 3, 1, 25, 2] + [5] * 9)
    candidates = np.arange(X.shape[0])
    monkeypatch.setattr(LinearOVR, "predict_topk", real)
    own = _rare_picks(model, X, candidates, support, 12)
    assert len(own) == 12
    assert own.tolist() == _rare_picks(model, X, candidates, support, 12,
                                       scored=topk).tolist()
    # and the gains read the head of that ranking: the student's own top 10, ties
    # (a document of no known word: every label at its intercept) alike
    from tagsmith.pipeline.distill import GAIN_TOPK

    X_ties = sp.vstack([X, sp.csr_matrix((2, X.shape[1]), dtype=X.dtype)]).tocsr()
    wide, narrow = real(model, X_ties, topk.k).head(GAIN_TOPK), real(model, X_ties, GAIN_TOPK)
    assert wide.indices.tolist() == narrow.indices.tolist()
    assert np.array_equal(wide.scores, narrow.scores)


def test_label_with_one_round_says_the_rare_share_was_not_spent_in_it(tmp_path):
    """A --rare-share run of one round printed "0 of the documents sent were for rare
    labels" without saying why: its only round was at random."""
    result = _label_rare_pianos(tmp_path, "--budget", "10", "--rounds", "1")
    assert ("--rare-share 0.5: 0 of the documents sent were for rare labels (the run's only "
            "round was picked at random: the share is spent from the second round on)"
            ) in " ".join(result.stdout.split()), result.stdout


def test_rare_share_rounds_half_up_and_spends_one_of_a_small_round():
    """A round of 2 at rare_share 0.2 spent none of it on rare labels (Python's round:
    0.4 to 0): at least one document now, and the round's record says so."""
    space, texts, teach = _rare_pool()
    # one music document and one sport document the teacher labelled before: the
    # round (of 2) is chosen by the student, not at random
    before = np.array([0, 1])
    Y_before = teach(before)[0]
    result = active_distill(texts, space, teach, ActiveOptions(
        budget=2, rounds=1, strategy="random", seed=0, rare_share=0.2,
        featurizer_params=FAST_FEATURES), labelled_before=(before, Y_before))
    # the document the student scores highest for music (bought once) is bought
    assert any(i % 15 == 0 for i in result.selected), result.selected
    assert result.rounds[0]["rare_asked"] == 1 and result.rounds[0]["rare_bought"] == 1
    from tagsmith.pipeline.distill import rare_count

    assert rare_count(2, 0.2) == 1 and rare_count(5, 0.5) == 3


def test_rare_share_rounds_record_what_the_share_bought():
    """A run's rounds said how many documents were asked, not how many of them the
    share spent on rare labels nor what they bought: each round's record does now."""
    space, texts, teach = _rare_pool()
    result = active_distill(texts, space, teach, ActiveOptions(
        budget=60, rounds=2, initial_fraction=0.5, strategy="random", seed=3,
        rare_share=0.5, featurizer_params=FAST_FEATURES))
    first, second = result.rounds
    assert (first["rare_asked"], first["rare_bought"]) == (0, 0)  # random
    assert second["rare_asked"] == 15  # half of the round's 30
    music = np.flatnonzero(result.Y_teacher[:, 1].toarray().ravel() > 0)
    in_second = int(np.isin(result.selected[music], result.selected[30:]).sum())
    assert 1 <= second["rare_bought"] <= in_second, (second, in_second)
    assert second["rare_bought"] == 15  # every music document left is the student's best
    assert result.classifier.manifest["distillation"]["rounds"][1]["rare_asked"] == 15
    # no share: the records are as before
    plain = active_distill(texts, space, teach, ActiveOptions(
        budget=60, rounds=2, initial_fraction=0.5, strategy="random", seed=3,
        featurizer_params=FAST_FEATURES))
    assert all("rare_asked" not in row for row in plain.rounds)


def test_rare_give_up_stops_targeting_a_label_the_share_keeps_missing():
    """A rare label the teacher never gives the documents the share sends for it took
    its turn in every round (pride, 0 bought of every document sent for it): with
    rare_give_up=1 it is targeted no more after a round that bought none, the record
    naming it; a label bought is not given up."""
    space, texts, teach = _rare_pool()
    # music on two concerts only (learnt before); every other one answered as sport
    truth = np.array([[0.0, 0.9] if i in (0, 15) else [0.9, 0.0]
                      for i in range(len(texts))], np.float32)

    def stingy(indices):
        return sp.csr_matrix(truth[indices]), np.ones(len(indices), bool)

    before = np.array([0, 15, *(i for i in range(1, 26) if i != 15)])  # sport: 24, not rare
    kept = (before, sp.csr_matrix(truth[before]))
    runs = {}
    for give_up in (0, 1):
        runs[give_up] = active_distill(texts, space, stingy, ActiveOptions(
            budget=60, rounds=3, strategy="random", seed=3, rare_share=0.5,
            rare_give_up=give_up, featurizer_params=FAST_FEATURES), labelled_before=kept)
    never, gave = runs[0].rounds, runs[1].rounds
    assert all(row["rare_asked"] > 0 and row["rare_bought"] == 0 for row in never), never
    assert all("rare_given_up" not in row for row in never)
    assert gave[0]["rare_asked"] > 0 and gave[0]["rare_given_up"] == ["u:music"], gave
    assert [row["rare_asked"] for row in gave[1:]] == [0, 0], gave
    assert runs[1].classifier.manifest["distillation"]["rare_give_up"] == 1
    assert runs[1].classifier.manifest["distillation"]["rare_given_up"] == ["u:music"]
    # a label bought is kept a target
    bought = active_distill(texts, space, teach, ActiveOptions(
        budget=60, rounds=3, strategy="random", seed=3, rare_share=0.5, rare_give_up=1,
        featurizer_params=FAST_FEATURES), labelled_before=kept)
    assert all("rare_given_up" not in row for row in bought.rounds), bought.rounds
    assert bought.rounds[1]["rare_asked"] > 0


def test_rare_give_up_without_rare_share_is_refused_from_python_too():
    """label --rare-give-up without --rare-share is refused; ActiveOptions(rare_give_up=2)
    without rare_share was taken and did nothing (no label is targeted, none given up)."""
    with pytest.raises(InvalidParameterError, match="rare_give_up.*rare_share"):
        ActiveOptions(budget=10, rare_give_up=2)
    ActiveOptions(budget=10, rare_share=0.2, rare_give_up=2).validate(n_pool=100)
    ActiveOptions(budget=10, rare_give_up=0).validate(n_pool=100)


def test_label_summary_names_the_labels_rare_give_up_gave_up(tmp_path):
    """label --rare-give-up's summary said what the share spent and bought, not which
    labels it gave up (only INFO lines, which -q hides, and each round's record named
    them): the closing line names them and the JSON summary lists them, run-wide."""
    # music only on the 'rare' pianos: once they are bought, the share's next pianos miss
    result = _label_rare_pianos(tmp_path, "--budget", "30", "--rounds", "3", "--seed", "0",
                                "--rare-give-up", "1", plain_pianos=True)
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["active"]["rounds"][2]["rare_given_up"] == ["u:music"], summary["active"]
    assert summary["active"]["rare_given_up"] == ["u:music"]
    assert "(distill's positive); 1 label given up (--rare-give-up 1): 'music'" in result.stdout


def test_rare_give_up_counts_only_rounds_in_a_row():
    """rare_give_up counted a label's misses over the rounds the share skipped it: a
    label targeted (and missed) in rounds 2 and 4 was given up at rare_give_up=2 and
    logged "targeted 2 rounds in a row", though round 3 sent nothing for it. A round
    that sends nothing for a label ends its run; one whose calls all failed does not."""
    from tagsmith.pipeline.distill import _give_up_rare

    missed, given_up = np.zeros(3, np.int64), np.zeros(3, bool)
    assert _give_up_rare(missed, given_up, [0, 1], [0, 1], [], 2).tolist() == []
    # round 3: only label 0 sent (and missed again), label 1 skipped
    assert _give_up_rare(missed, given_up, [0], [0], [], 2).tolist() == [0]
    # round 4: label 1 missed again, but not two rounds in a row
    assert _give_up_rare(missed, given_up, [1], [1], [], 2).tolist() == []
    assert given_up.tolist() == [True, False, False]
    # its documents unanswered (the calls failed): no miss, and the run goes on
    assert _give_up_rare(missed, given_up, [1], [], [], 2).tolist() == []
    assert _give_up_rare(missed, given_up, [1], [1], [], 2).tolist() == [1]
    # a label bought ends its run
    missed, given_up = np.zeros(2, np.int64), np.zeros(2, bool)
    _give_up_rare(missed, given_up, [0], [0], [], 2)
    _give_up_rare(missed, given_up, [0, 0], [0, 0], [0], 2)
    assert _give_up_rare(missed, given_up, [0], [0], [], 2).tolist() == []


def test_rare_share_buys_a_label_at_distill_s_positive_only():
    """rare_bought counted any nonzero target: a music document the teacher gave music
    at 0.3 was "bought", then no positive of distill's (LEARNT_TARGET, 0.5) on the same
    labels. A round counts those at 0.5 or more now."""
    from tagsmith.pipeline.distill import LEARNT_TARGET

    space, texts, _ = _rare_pool()
    # every other music document given music at 0.3 only
    truth = np.array([([0.0, 0.9] if i % 30 == 0 else [0.0, 0.3]) if i % 15 == 0 else
                      [0.9, 0.0] for i in range(len(texts))], np.float32)

    def teach(indices):
        return sp.csr_matrix(truth[indices]), np.ones(len(indices), bool)

    result = active_distill(texts, space, teach, ActiveOptions(
        budget=60, rounds=2, initial_fraction=0.5, strategy="random", seed=3,
        rare_share=0.5, featurizer_params=FAST_FEATURES))
    second = result.rounds[1]
    assert second["rare_asked"] == 15
    # the music documents of the second round: given music at all, and at 0.5 or more
    music = result.Y_teacher[30:, 1].toarray().ravel()
    assert (music >= LEARNT_TARGET).sum() < (music > 0).sum()  # some at 0.3 were sent
    assert second["rare_bought"] == (music >= LEARNT_TARGET).sum() > 0, (second, music)


def _rare_picks_by_label(topk, support, n):
    """_rare_picks as first written (one comparison of the whole top-k a target): the
    reference its grouped sort must pick as."""
    from tagsmith.pipeline.distill import RARE_TARGET

    targets = np.flatnonzero((support > 0) & (support < RARE_TARGET))
    targets = targets[np.argsort(support[targets], kind="stable")]
    scores = np.where(topk.valid, topk.scores, -np.inf)
    order = []
    for label in targets:
        hit = topk.indices == label
        row = np.flatnonzero(hit.any(axis=1))
        if len(row):
            score = np.where(hit[row], scores[row], -np.inf).max(axis=1)
            order.append(list(row[np.argsort(-score, kind="stable")]))
    picked, taken = [], set()
    while len(picked) < n and any(order):
        for ranked in order:
            while ranked and ranked[0] in taken:
                ranked.pop(0)
            if ranked and len(picked) < n:
                taken.add(ranked[0])
                picked.append(int(ranked.pop(0)))
    return sorted(picked)


@pytest.mark.parametrize("n", [0, 1, 7, 40, 500])
def test_rare_picks_take_each_rare_labels_best_candidates_in_turn(n):
    """rare_share's picks (grouped by one sort, where a comparison of the whole top-k
    with each rare label took minutes a round at 10^5 candidates and thousands of rare
    labels) are the best scored candidates of each label of 1 to 19 positives in turn,
    the fewest first, ties by place; padded slots and labels of 0 or 20 name none."""
    from tagsmith.pipeline.distill import _rare_picks
    from tagsmith.topk import PAD, TopK

    rng = np.random.default_rng(5)
    n_cand, n_labels, k = 300, 40, 6
    indices = np.stack([rng.choice(n_labels, k, replace=False) for _ in range(n_cand)])
    scores = -np.sort(-rng.integers(0, 4, (n_cand, k)).astype(np.float32) / 4, axis=1)
    indices[::7, -2:] = PAD  # short rows: padded
    scores[::7, -2:] = 0
    topk = TopK(indices.astype(np.int32), scores, n_labels)

    class Scored:
        def predict_topk(self, X, k_asked):
            return TopK(topk.indices[:X.shape[0]], topk.scores[:X.shape[0]], n_labels)

    support = rng.integers(0, 25, n_labels)
    support[:3] = [0, 20, 1]
    picks = _rare_picks(Scored(), sp.csr_matrix((n_cand, 2)), np.arange(n_cand), support, n)
    assert picks.tolist() == _rare_picks_by_label(topk, support, n)
    assert len(set(picks.tolist())) == len(picks) <= n
    rare = np.flatnonzero((support > 0) & (support < 20))
    assert all(np.isin(topk.indices[row], rare).any() for row in picks)
    assert 0 not in rare and 1 not in rare and 2 in rare


@pytest.mark.parametrize("strategy", ["robust", "random"])
def test_rare_share_targets_a_label_no_document_carries_yet_by_its_name(strategy):
    """rare_share could not target a label of 0 positives so far (the student cannot
    score it): GoEmotions' pride kept 0 to 3 of them. With the pool's zero-shot top labels
    (label --shortlist-zeroshot's), the share goes first to the documents whose text is
    nearest that label's name: here every concert the first round missed."""
    from tagsmith.zeroshot.scorer import ZeroShotClassifier

    from conftest import WordEncoder

    space = load_vocabulary_from_names(["football", "concert"])
    texts = [(f"piano concert orchestra evening {i}" if i % 50 == 7 else
              f"football match goal team {i}") for i in range(300)]
    truth = np.array([[0.0, 0.9] if i % 50 == 7 else [0.9, 0.0] for i in range(300)],
                     np.float32)

    def teach(indices):
        return sp.csr_matrix(truth[indices]), np.ones(len(indices), bool)

    named = ZeroShotClassifier(space, WordEncoder()).predict_topk(texts, 2)
    bought = {}
    for zero_shot in (None, named):
        result = active_distill(texts, space, teach, ActiveOptions(
            budget=60, rounds=2, initial_fraction=0.5, strategy=strategy, seed=2,
            rare_share=0.5, featurizer_params=FAST_FEATURES), zero_shot=zero_shot)
        assert not any(i % 50 == 7 for i in result.selected[:30])  # round 1 found none
        bought[zero_shot is not None] = int((result.Y_teacher[:, 1].toarray() > 0).sum())
    assert bought == {False: bought[False], True: 6} and bought[False] < 3, bought
    # a label of 1 positive so far is targeted by its name too, not by the student (which
    # learnt it from one document): here the zero-shot scores favour six sport stories
    decoy = np.arange(300) % 50 == 20
    ranked = TopK(np.where(decoy[:, None], [[1, 0]], [[0, 1]]),
                  np.where(decoy[:, None], [[0.9, 0.5]], [[0.5, 0.1]]), 2)
    taken = {}
    for zero_shot in (None, ranked):
        result = active_distill(texts, space, teach, ActiveOptions(
            budget=60, rounds=2, initial_fraction=0.5, strategy=strategy, seed=0,
            rare_share=0.5, featurizer_params=FAST_FEATURES), zero_shot=zero_shot)
        assert sum(i % 50 == 7 for i in result.selected[:30]) == 1  # one concert in round 1
        taken[zero_shot is not None] = int(decoy[result.selected].sum())
    assert taken[True] == 6 and taken[False] < 3, taken
    with pytest.raises(InvalidParameterError, match="zero_shot.*299 rows"):
        active_distill(texts, space, teach, ActiveOptions(budget=10, rare_share=0.5),
                       zero_shot=named[np.arange(299)])


def test_label_with_a_budget_targets_unseen_labels_by_the_zero_shot_shortlist():
    """label --rare-share with --shortlist-zeroshot: the zero-shot shortlist (scores of
    every pool document for each label's name) reaches the selection, which buys the
    concerts the first round missed; a bundle's shortlist (ranks of what was learnt)
    does not target a label of no positive yet."""
    from tagsmith.labeling.client import ScriptedLLM
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.llm import label_corpus
    from tagsmith.zeroshot.scorer import ZeroShotClassifier

    from conftest import WordEncoder

    space = load_vocabulary_from_names(["football", "concert"])
    texts = [(f"piano concert orchestra evening {i}" if i % 50 == 7 else
              f"football match goal team {i}") for i in range(300)]

    def llm(request):
        doc = read_data_section(request.messages[-1]["content"], "DOCUMENT")
        return json.dumps({"labels": [{"label": "concert" if "concert" in doc else
                                       "football", "confidence": 0.9}]})

    shortlist = ZeroShotClassifier(space, WordEncoder()).predict_topk(texts, 2)
    concerts = {}
    for source in ("zeroshot", "bundle"):
        result = label_corpus(texts, space, ScriptedLLM(llm), LabelingOptions(),
                              shortlist=shortlist, shortlist_source=source, budget=60,
                              rounds=2, seed=0, rare_share=0.5)
        rows = result["rows"]
        assert not any(i % 50 == 7 for i in rows[:15])  # the first round found none
        concerts[source] = sum(i % 50 == 7 for i in rows)
        # the summary (and the student's manifest) say how the share ranked
        assert result["summary"]["active"]["rare_share_ranked_by"] == (
            "zeroshot" if source == "zeroshot" else "student")
        assert result["student"].manifest["distillation"]["rare_share_ranked_by"] == (
            result["summary"]["active"]["rare_share_ranked_by"])
    assert concerts["zeroshot"] == 6 and concerts["bundle"] < 3, concerts


def test_rare_picks_skip_a_label_not_offered_without_zero_shot_too():
    """A deprecated label (not offered) of 1 to 19 positives, as labelled_before may
    carry, took rare_share's picks when the student ranked them: only the zero-shot
    ranking read ``offered``."""
    from tagsmith.pipeline.distill import _rare_picks
    from tagsmith.topk import TopK

    topk = TopK(np.array([[0, 1], [1, 0]], np.int32),
                np.array([[0.9, 0.1], [0.8, 0.2]], np.float32), 2)

    class Scored:
        def predict_topk(self, X, k_asked):
            return topk

    support = np.array([1, 5])
    offered = np.array([False, True])
    picks = _rare_picks(Scored(), sp.csr_matrix((2, 2)), np.arange(2), support, 1,
                        offered=offered)
    assert picks.tolist() == [1]  # label 1's best candidate, not deprecated label 0's
    assert _rare_picks(Scored(), sp.csr_matrix((2, 2)), np.arange(2), support,
                       1).tolist() == [0]


def test_a_pool_smaller_than_the_default_budget_is_told_of_the_default():
    # active_distill(texts, space, teacher) on a notebook's 300 documents, no budget
    # given: "parameter 'budget' must be an integer in [1, 300], got 1000" named a
    # number the caller never wrote
    from tagsmith.data.labelspace import LabelSpace

    def teacher(docs):
        raise AssertionError("no teacher call before the options are checked")

    space = LabelSpace.from_names(["sport", "weather"])
    with pytest.raises(InvalidParameterError, match=r"default.*ActiveOptions\(budget=N\)"):
        active_distill([f"document {i}" for i in range(300)], space, teacher)
    # a budget given is named as given
    with pytest.raises(InvalidParameterError, match=r"got 400$"):
        ActiveOptions(budget=400).validate(n_pool=300)


def test_distill_classifier_from_llm_labels_leaves_the_unanswered_documents_out():
    # label_documents -> distill_classifier(texts, labelled.Y, space) in a notebook: the
    # documents the LLM refused were trained on as documents with none of the labels
    # (a third of them, with a teacher refusing a third); given the LLMLabels, they are
    # left out, as distill leaves out their lines
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.labeling.labeler import label_documents

    space = LabelSpace.from_names(["sport", "weather"])
    texts = [f"{'football match' if i % 2 else 'rain and wind'} number {i}" for i in range(30)]

    def teacher(body):
        document = read_data_section(user_prompt(body), "DOCUMENT")
        if int(document.split()[-1]) % 3 == 0:
            return "I'm sorry, but I can't help with that."
        label = "sport" if "football" in document else "weather"
        return json.dumps({"labels": [{"label": label, "confidence": 0.9}]})

    with LocalChatServer(teacher) as server:
        client = OpenAIChatClient(server.base_url, "t", max_retries=0, timeout=30.0)
        labelled = label_documents(texts, space, client)
    assert int((~labelled.answered).sum()) == 10
    options = TrainOptions(dev_fraction=0.0, featurizer_params={"char_ngrams": None,
                                                                "min_df": 1})
    student, report = distill_classifier(texts, labelled, space, options=options)
    assert report["n_docs"] == 20 and report["n_unanswered_left_out"] == 10
    assert student.manifest["distillation"]["n_unanswered_left_out"] == 10
    # the bare matrix still trains on all 30, as asked
    _, bare = distill_classifier(texts, labelled.Y, space, options=options)
    assert bare["n_docs"] == 30 and "n_unanswered_left_out" not in bare
    with pytest.raises(InvalidParameterError, match="Y_soft"):
        distill_classifier(texts[:5], labelled, space, options=options)


def test_distill_classifier_weighs_llm_labels_with_votes_by_the_teachers_reliability():
    # label_documents with votes -> distill_classifier(texts, labelled) trained on a label
    # one vote of 3 named as sure as one all 3 named; label --human weighs them (the
    # minority by its own precision) and distill reads that output. reliability= does
    # what label --human does, on the documents answered
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.labeler import LLMLabels
    from tagsmith.labeling.reliability import (
        estimate_minority_reliability,
        estimate_reliability,
    )

    space = LabelSpace.from_names(["sport", "weather"])
    texts = [f"{'football match' if i % 2 else 'rain and wind'} number {i}" for i in range(40)]
    right = np.array([[0.0, 1.0], [1.0, 0.0]] * 20)
    # every document: its right label by all 3 votes, the other by one vote of 3
    Y = sp.csr_matrix(np.full((40, 2), 0.9))
    vote_share = sp.csr_matrix(np.where(right == 1, 1.0, 1 / 3))
    answered = np.arange(40) % 5 != 0
    labelled = LLMLabels(Y=Y, answered=answered, report=None, vote_share=vote_share)
    rel = estimate_reliability(labelled.majority()[:10], right[:10])
    rel.minority = estimate_minority_reliability(
        sp.csr_matrix(Y - labelled.majority())[:10], right[:10])
    options = TrainOptions(dev_fraction=0.0, featurizer_params={"char_ngrams": None,
                                                                "min_df": 1})
    student, report = distill_classifier(texts, labelled, space, options=options,
                                         reliability=rel)
    assert report["n_docs"] == 32
    kept = [text for text, keep in zip(texts, answered, strict=True) if keep]
    weighed = rel.soft_targets(Y, vote_share=vote_share)[answered]
    assert weighed[0, 1] < 0.5 < weighed[0, 0]  # document 1: its minority label weighed down
    same, _ = distill_classifier(kept, weighed, space, options=options)
    bare, _ = distill_classifier(texts, labelled, space, options=options)
    probe = ["football match tonight", "rain and wind again"]
    scores = student.predict_topk(probe, k=2).scores
    np.testing.assert_allclose(scores, same.predict_topk(probe, k=2).scores, rtol=1e-6)
    # the bare LLMLabels took the one vote's label as sure as the three votes' one
    bare_scores = bare.predict_topk(probe, k=2).scores
    assert scores[:, 0].min() - scores[:, 1].max() > bare_scores[:, 0].min() \
        - bare_scores[:, 1].max() + 0.1, (scores, bare_scores)


def test_distill_classifier_from_llm_labels_none_answered_says_so():
    # every document refused: the LLMLabels' were all left out, and the caller was told
    # "no training documents: the corpus is empty" of the 20 texts it gave
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.labeler import LLMLabels

    space = LabelSpace.from_names(["sport", "weather"])
    texts = [f"football match {i}" for i in range(20)]
    labelled = LLMLabels(Y=sp.csr_matrix((20, 2), dtype=np.float32),
                         answered=np.zeros(20, bool), report=None)
    with pytest.raises(InvalidParameterError, match="none of the 20 answered"):
        distill_classifier(texts, labelled, space)


def test_python_callers_are_told_of_starved_labels_in_python_terms(caplog):
    # distill_classifier and active_distill from a notebook warned "distill from LABELS
    # with those lines added" and "found with zeroshot ... distill from the output":
    # the arguments and output of commands the caller never ran
    import logging

    space = load_vocabulary_from_names(["sport", "music"])
    texts = [f"{'piano concert' if i < 3 else 'football match'} {i}" for i in range(40)]
    Y = sp.csr_matrix(np.array([[0.0, 0.9] if i < 3 else [0.9, 0.0] for i in range(40)]))
    options = TrainOptions(dev_fraction=0.0, featurizer_params={"char_ngrams": None,
                                                                "min_df": 1})
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        distill_classifier(texts, Y, space, options=options)
    said = " ".join(caplog.messages)
    assert "'music' (3)" in said and "add them to texts and Y_soft" in said, said
    assert "LABELS" not in said and "--budget" not in said, said
    caplog.clear()

    def teacher(indices):
        return Y[indices], np.ones(len(indices), bool)

    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        active_distill(texts, space, teacher, ActiveOptions(budget=40, rounds=1))
    said = " ".join(caplog.messages)
    assert "'music' (3)" in said and "labelled_before=(indices, Y)" in said, said
    assert "zeroshot or" not in said and "the output" not in said, said


def test_cli_distill_of_labels_empty_output_says_why_it_is_empty(tmp_path):
    """label writes an empty file (exit code 0) for a review with nothing left to ask;
    distill of it said only "no documents in the file". Now it says label writes such
    a file when nothing was left to ask, so there is nothing to distil."""
    vocab = sport_vocab(tmp_path)
    labels = tmp_path / "labels.jsonl"
    labels.write_text("")
    result = CliRunner().invoke(tagsmith_cli.cli, ["distill", str(labels), "--vocab",
                                                   str(vocab), "-o", str(tmp_path / "m")])
    assert result.exit_code == 3, result.output
    assert "no documents in the file" in result.output
    assert "nothing left to ask" in result.output or "no row left to ask" in result.output
    assert "nothing to distil" in result.output


def test_distill_classifier_refuses_a_reliability_it_cannot_weigh_by_naming_it():
    # reliability='x' failed as an AttributeError, and a Reliability of another label set
    # (or a Y_soft of the wrong width with one) was refused as soft_targets' 'Y_llm',
    # a parameter distill_classifier does not have
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.reliability import estimate_reliability

    space = LabelSpace.from_names(["sport", "weather"])
    texts = [f"{'football match' if i % 2 else 'rain and wind'} number {i}" for i in range(20)]
    right = np.array([[0.0, 1.0], [1.0, 0.0]] * 10)
    rel = estimate_reliability(right[:10], right[:10])
    three = np.hstack([right, right[:, :1]])[:10]
    for Y, given, name in ((right, "x", "reliability"),
                           (right, estimate_reliability(three, three), "reliability"),
                           (right[:, :1], rel, "Y_soft")):
        with pytest.raises(InvalidParameterError) as info:
            distill_classifier(texts, Y, space, reliability=given)
        assert info.value.name == name, info.value
    # an LLMLabels of the wrong width was weighed before its checks, refused as 'Y_llm'
    from tagsmith.labeling.labeler import LLMLabels

    wide = LLMLabels(Y=sp.csr_matrix(three.repeat(2, axis=0)), answered=np.ones(20, bool),
                     report=None)
    with pytest.raises(InvalidParameterError) as info:
        distill_classifier(texts, wide, space, reliability=rel)
    assert info.value.name == "Y_soft", info.value


def _one_label_answer(body) -> str:
    """An LLM asked for one label a document: music where the text says so, else sport."""
    label = "music" if "concert" in user_prompt(body) else "sport"
    return json.dumps({"labels": [{"label": label, "confidence": 0.9}]})


def test_distill_and_label_student_warn_of_one_label_a_document_as_train_does(tmp_path,
                                                                             caplog):
    """train warned where every labelled document carries exactly one label and the
    model may give several; distill and label --student, learning from an LLM asked for
    one label a document (the same corpus), said nothing. They warn the same way, naming
    the audit to run on the LLM's labels; labels two to a document somewhere, none."""
    caplog.set_level("WARNING", logger="tagsmith")
    vocab = sport_vocab(tmp_path)
    texts = [f"a piano concert number {i}" if i % 2 else f"a football match number {i}"
             for i in range(40)]
    for both in (False, True):
        labels = tmp_path / f"l{int(both)}.jsonl"
        labels.write_text("".join(json.dumps(
            {"id": str(i), "text": t,
             "labels": ["u:music" if i % 2 else "u:sport"] + (["u:music"] if both and i == 4
                                                             else []),
             "scores": [0.9] * (2 if both and i == 4 else 1)}) + "\n"
            for i, t in enumerate(texts)))
        caplog.clear()
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "distill", str(labels), "--vocab", str(vocab), "--vocab-prefix", "u:",
            "-o", str(tmp_path / f"m{both}")])
        assert result.exit_code == 0, result.output
        said = " ".join(caplog.text.split())
        if both:
            assert "exactly one label" not in said, said
            continue
        assert ("every one of the 40 labelled documents carries exactly one label, and the "
                "student may give a document several") in said, said
        # the audit reads the labels as distill read them: its --vocab-prefix too
        assert (f"tagsmith audit {labels} --vocab {vocab} --vocab-prefix u: --single-label "
                "no --review-sample N") in said, said
        assert f"if the LLM was asked for one label a document, {labels} holds" in said
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(t + "\n" for t in texts))
    out = tmp_path / "o.jsonl"
    with LocalChatServer(_one_label_answer) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(docs), "--vocab", str(vocab), "-o", str(out), "--budget", "12",
            "--rounds", "2", "--llm", "t", "--cache", str(tmp_path / "c.sqlite"),
            "--student", str(tmp_path / "s"), "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    said = " ".join(caplog.text.split())
    assert ("labelled documents carries exactly one label, and the student may give a "
            "document several") in said, said
    assert f"tagsmith audit {out} --vocab {vocab} --single-label no" in said, said
    # label prints no agreement with the teacher: the warning speaks of none
    assert "agreement with the teacher" not in said, said


def test_one_label_warning_counts_the_labels_the_student_learns(tmp_path, caplog):
    """distill counted any nonzero score as a label: a document given music at 0.9 and
    sport at 0.2 (no positive the student learns) read as two, and the warning was not
    given. label --student counted this run's labels alone, where the student also
    learnt --labelled's documents, some given two: it warned of one label a document."""
    caplog.set_level("WARNING", logger="tagsmith")
    vocab = sport_vocab(tmp_path)
    texts = [f"a piano concert number {i}" if i % 2 else f"a football match number {i}"
             for i in range(40)]
    labels = tmp_path / "l.jsonl"
    labels.write_text("".join(json.dumps(
        {"id": str(i), "text": t,
         "labels": ["u:music" if i % 2 else "u:sport"] + (["u:music"] if i == 4 else []),
         "scores": [0.9] + ([0.2] if i == 4 else [])}) + "\n"
        for i, t in enumerate(texts)))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "distill", str(labels), "--vocab", str(vocab), "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "every one of the 40 labelled documents carries exactly one label" in " ".join(
        caplog.text.split()), caplog.text
    # --labelled: an earlier run's labels, ten documents given both labels at 0.9
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(t + "\n" for t in texts))
    earlier = tmp_path / "day1.jsonl"
    earlier.write_text("".join(json.dumps(
        {"id": str(i + 1), "text": texts[i], "labels": ["u:sport", "u:music"],
         "scores": [0.9, 0.9]}) + "\n" for i in range(10)))
    caplog.clear()
    with LocalChatServer(_one_label_answer) as server:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
            "--budget", "12", "--rounds", "2", "--llm", "t", "--labelled", str(earlier),
            "--cache", str(tmp_path / "c.sqlite"), "--student", str(tmp_path / "s"),
            "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    assert "labelled before" in result.output, result.output
    assert "exactly one label" not in caplog.text, caplog.text
