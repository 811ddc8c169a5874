"""What a data scientist in a notebook meets: in-memory names, tables and rankings."""

import json
import re

import numpy as np
import pytest
from test_zeroshot import _CountingEncoder

from tagsmith import LabelSpace, ZeroShotClassifier
from tagsmith.exceptions import InvalidParameterError
from tagsmith.zeroshot.scorer import label_texts

#: GoEmotions' labels.txt, as a notebook reads it: one name per line
EMOTIONS = ["admiration", "amusement", "anger", "gratitude", "joy", "neutral"]


def test_a_space_from_names_alone_is_scored_zero_shot():
    """``LabelSpace.from_uris(names)``, the one constructor from a list, gave labels
    with no names, which zero-shot refused ("at least one label with a name, got 0")
    with nothing saying how to name them."""
    space = LabelSpace.from_names(EMOTIONS)
    assert space.uris == EMOTIONS and space.names() == EMOTIONS
    assert label_texts(space)[0] == EMOTIONS  # each label embedded by its name
    topk = ZeroShotClassifier(space, _CountingEncoder()).predict_topk(["thanks a lot"], k=3)
    assert topk.indices.shape == (1, 3) and (topk.indices >= 0).all()


def test_zero_shot_of_a_space_without_names_says_how_to_name_it():
    with pytest.raises(InvalidParameterError, match=r"with a name.*LabelSpace\.from_names"):
        ZeroShotClassifier(LabelSpace.from_uris(EMOTIONS), _CountingEncoder())


@pytest.mark.parametrize(("names", "message"), [
    ("joy", r"'names'.*a bare str"),
    ({"joy", "anger"}, r"'names'.*no order"),
    (["joy", None], r"'names\[1\]'"),
    (["joy", "  "], r"'names\[1\]'"),
    # a name given twice: it was "duplicate label URI 'joy'", naming no position
    (["joy", "anger", " joy"], r"'names\[2\]'.*other than names\[0\]'s"),
    # nothing but brackets: it reached from_uris as URI '' ("names[1]" never said)
    (["joy", "<>"], r"'names\[1\]'.*not only angle brackets"),
])
def test_from_names_refuses_what_is_no_list_of_names(names, message):
    with pytest.raises(InvalidParameterError, match=message):
        LabelSpace.from_names(names)


def test_from_names_reads_a_bracketed_name_as_its_uri_without_brackets():
    # "<joy>" gave URI joy but kept the name "<joy>": zero-shot embedded the brackets,
    # prompts showed them, and the space's uri and name of one label differed
    space = LabelSpace.from_names(["<joy>", " anger "])
    assert space.uris == space.names() == ["joy", "anger"]
    assert space[0].pref_labels == {"en": "joy"}


def test_from_names_takes_a_series():
    pd = pytest.importorskip("pandas")
    names = pd.Series(EMOTIONS, index=np.arange(10, 10 + len(EMOTIONS)))
    assert LabelSpace.from_names(names).names() == EMOTIONS


def test_llm_teacher_reads_a_series_by_position_as_active_distill_asks():
    """``llm_teacher(df["text"], ...)`` looked pool documents up by the Series' index
    labels, while active_distill names them by position: with a sampled or filtered
    DataFrame the LLM was sent other documents than those chosen, and their answers
    taught the student as the chosen ones' labels (silently), or a KeyError."""
    pd = pytest.importorskip("pandas")
    from tagsmith import ActiveOptions, active_distill
    from tagsmith.labeling.client import ScriptedLLM
    from tagsmith.pipeline.distill import llm_teacher

    space = LabelSpace.from_names(["sport", "music"])

    def answer(request):
        text = request.messages[-1]["content"]
        label = "music" if ("concert" in text or "jazz" in text) else "sport"
        return json.dumps({"labels": [{"label": label, "confidence": 0.9}]})

    texts = pd.Series(["football match", "a concert", "the cup final", "jazz night"] * 6)
    shuffled = texts.sample(frac=1, random_state=1)  # its index: 0..23 in another order
    assert list(shuffled.index) != list(range(len(shuffled)))
    teach = llm_teacher(shuffled, space, ScriptedLLM(answer))
    Y, answered = teach(np.arange(len(shuffled)))
    truth = [[0, 1] if ("concert" in t or "jazz" in t) else [1, 0] for t in shuffled]
    assert answered.all() and ((Y.toarray() > 0).astype(int).tolist() == truth)
    # a filtered table, its index without 0: a KeyError
    kept = texts[texts.index >= 4]
    Y, _ = llm_teacher(kept, space, ScriptedLLM(answer))(np.array([0, 1]))
    assert (Y.toarray() > 0).astype(int).tolist() == [[1, 0], [0, 1]]
    # and through active_distill, each taught document's labels are its own
    result = active_distill(shuffled, space, llm_teacher(shuffled, space, ScriptedLLM(answer)),
                            ActiveOptions(budget=8, rounds=2, featurizer_params={
                                "char_ngrams": None, "min_df": 1}))
    taught = (result.Y_teacher.toarray() > 0).astype(int).tolist()
    assert taught == [truth[int(i)] for i in result.selected]


def test_audit_reads_ids_and_lines_of_a_shuffled_dataframe_by_position():
    """``audit_corpus(df["text"], Y, space, doc_ids=df["id"])`` on a sampled DataFrame
    looked each document's id (and line) up by the Series' index labels, so every row of
    the review queue named another document's id and line."""
    pd = pytest.importorskip("pandas")
    import gzip
    from pathlib import Path

    from tagsmith import AuditOptions, audit_corpus, load_vocabulary

    goemotions = Path(__file__).resolve().parents[1] / "examples" / "goemotions"
    space = load_vocabulary(goemotions / "vocab.tsv")
    with gzip.open(goemotions / "train.tsv.gz", "rt", encoding="utf-8") as lines:
        rows = [line.rstrip("\n").split("\t")[:2] for line, _ in zip(lines, range(500),
                                                                    strict=False)]
    df = pd.DataFrame(rows, columns=["text", "labels"])
    df["id"] = [f"c{i}" for i in range(len(df))]
    df["line"] = np.arange(1, len(df) + 1)
    df = df.sample(frac=1, random_state=0)  # its index no longer 0, 1, ...
    Y = np.zeros((len(df), len(space)), dtype=np.int8)
    for doc, keys in enumerate(df["labels"]):
        Y[doc, [space.lookup(key) for key in keys.split()]] = 1
    result = audit_corpus(df["text"], Y, space, options=AuditOptions(scores="knn"),
                          doc_ids=df["id"], lines=df["line"])
    assert result.review
    ids, numbers = df["id"].tolist(), df["line"].tolist()
    assert [(row["doc_id"], row["line"]) for row in result.review] == [
        (ids[row["doc"]], numbers[row["doc"]]) for row in result.review]


def test_zero_shot_suggests_labels_by_name_as_a_classifier_does():
    """A ZeroShotClassifier gave label ids alone (``predict_topk``): README's snippet
    turned them into names with a comprehension over ``indices`` and ``scores``,
    skipping the padding (-1) of blank texts, where ``TextClassifier.suggest`` names
    them."""
    from tagsmith.pipeline.classifier import Suggestion

    space = LabelSpace.from_names(EMOTIONS)
    zeroshot = ZeroShotClassifier(space, _CountingEncoder())
    texts = ["thanks a lot", "", "what a game"]
    topk = zeroshot.predict_topk(texts, k=3)
    suggested = zeroshot.suggest(texts, k=3)
    assert [len(row) for row in suggested] == [3, 0, 3]  # the blank text: none
    for row, ids, scores in zip(suggested, topk.indices, topk.scores, strict=True):
        assert all(isinstance(s, Suggestion) for s in row)
        assert [s.label_id for s in row] == [int(i) for i in ids if i >= 0]
        assert [s.label for s in row] == [EMOTIONS[i] for i in ids if i >= 0]
        assert [s.score for s in row] == pytest.approx([float(v) for v in scores[:len(row)]])
    assert suggested[0][0].to_dict()["label"] == suggested[0][0].uri
    with pytest.raises(InvalidParameterError, match="'lang'"):
        zeroshot.suggest(texts, lang="")


def test_the_llm_and_zero_shot_calls_type_texts_as_any_iterable_of_str():
    """README says texts are any iterable of str ("mypy in your project accepts the
    array"), and the classifier's calls are typed so; but ``label_documents``,
    ``count_calls``, ``prompt_sizes`` and ``generate_taxonomy`` were typed
    ``list[str]``, and ``distill_classifier``, ``active_distill``, ``llm_teacher`` and
    the zero-shot scorer's calls ``Sequence[str]``: mypy in a notebook's project refused
    ``label_documents(df["text"], ...)`` and a NumPy array, which they take."""
    import inspect

    from tagsmith.labeling.labeler import count_calls, label_documents, prompt_sizes
    from tagsmith.labeling.taxonomy import generate_taxonomy
    from tagsmith.pipeline.distill import active_distill, distill_classifier, llm_teacher

    # distill_classifier's human_texts too: it was still Sequence[str]
    functions = [(label_documents, "texts"), (count_calls, "texts"), (prompt_sizes, "texts"),
                 (generate_taxonomy, "texts"), (distill_classifier, "texts"),
                 (distill_classifier, "human_texts"),
                 (active_distill, "pool_texts"), (llm_teacher, "texts"),
                 (ZeroShotClassifier.predict_topk, "texts"),
                 (ZeroShotClassifier.fit_background, "texts")]
    wrong = {f"{function.__qualname__}({name})": annotation for function, name in functions
             if not (annotation := inspect.signature(function).parameters[name].annotation)
             .startswith("Iterable[str]")}
    assert wrong == {}
    # and at run time they take a NumPy array of str
    from tagsmith.labeling.client import ScriptedLLM

    space = LabelSpace.from_names(["sport", "music"])
    llm = ScriptedLLM(lambda request: json.dumps({"labels": [{"label": "sport",
                                                              "confidence": 0.9}]}))
    assert label_documents(np.array(["a match", "the cup"]), space, llm).Y.shape == (2, 2)
    assert count_calls(np.array(["a match"]), space, llm)["n_calls"] == 1


def test_audit_ids_of_a_dataframe_with_missing_or_numeric_ids_say_what_to_give():
    """A DataFrame's id column with a missing id (NaN) was refused as "must be a str or
    None, got 'float'", and one of numbers as "got 'int'", neither saying what to give."""
    pd = pytest.importorskip("pandas")
    from tagsmith import audit_corpus

    space = LabelSpace.from_names(["joy", "anger"])
    texts, Y = ["a", "b", "c"], np.array([[1, 0], [0, 1], [1, 0]])
    missing = pd.Series(["c1", "c2", np.nan], index=[7, 8, 9])  # read by position
    with pytest.raises(InvalidParameterError, match=r"'doc_ids\[2\]'.*missing id, NaN: "
                       r"give doc_ids=df\['id'\]\.fillna\(''\)\), got NaN"):
        audit_corpus(texts, Y, space, doc_ids=missing)
    with pytest.raises(InvalidParameterError, match=r"'doc_ids\[0\]'.*as numbers: give "
                       r"doc_ids=df\['id'\]\.astype\(str\)\), got 'int'"):
        audit_corpus(texts, Y, space, doc_ids=pd.Series([10, 11, 12]))


def test_zero_shot_from_python_warns_of_documents_in_another_language(caplog):
    """The zeroshot command warned that German texts scored by English names are
    matched little better than chance (P@1 0.37 against 1.00 on their translations);
    ZeroShotClassifier.predict_topk and suggest, a notebook's calls, said nothing. They
    share the command's check, in Python's terms (no --lang, no tagsmith label)."""
    space = LabelSpace.from_names(["tax relief", "renewable energy"])
    zeroshot = ZeroShotClassifier(space, _CountingEncoder())
    texts = ["Die Rolle der Steuervergünstigung für die Energiewende",
             "Ein Modell für erneuerbare Energien mit Anwendung auf Bayern",
             "The role of tax relief for the energy transition"]
    with caplog.at_level("WARNING", logger="tagsmith"):
        zeroshot.suggest(texts, k=1)
    assert caplog.text.count("written in another language than English") == 1, caplog.text
    assert "2 of 3 documents look written in another language than English (German 2" \
        in caplog.text, caplog.text
    assert "label_documents" in caplog.text and "--lang" not in caplog.text
    assert "tagsmith label" not in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        zeroshot.predict_topk(texts, k=1, warn_foreign=False)
        # suggest could not leave it out but by the logger's level
        zeroshot.suggest(texts, k=1, warn_foreign=False)
        zeroshot.predict_topk(texts[2:], k=1)  # English alone: nothing said
    assert "another language" not in caplog.text, caplog.text
    german = ZeroShotClassifier(space, _CountingEncoder(), lang="de")
    with caplog.at_level("WARNING", logger="tagsmith"):
        german.predict_topk(texts, k=1)  # German names: the English document counted
    assert "1 of 3 documents looks written in another language than the label names " \
           "(lang='de', German; English 1" in caplog.text, caplog.text
    assert "--lang" not in caplog.text


def test_audit_notes_name_the_python_parameters_to_a_python_caller(tmp_path):
    """audit_corpus of 1,500 GoEmotions comments in a notebook noted "measure the error
    rate on a random review sample (--review-sample N)", and a one-label corpus's note
    said "give the vocabulary (--vocab)" and "then tagsmith estimate-noise": options
    of a command the caller never ran. From Python the notes name the parameters; a
    command's are its options, as before (the CLI's tests pin their text)."""
    import scipy.sparse as sp

    from tagsmith._surface import command_line
    from tagsmith.audit.sample import read_sample_record
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import _one_label_note, _rare_labels_note, _small_corpus_note

    def notes() -> list[str]:
        one_label = sp.csr_matrix(np.eye(3))
        return [_rare_labels_note(np.array([3, 2, 3, 0, 10]), 20),
                _rare_labels_note(np.array([3, 2, 3, 0, 10]), 20, heldout=True),
                _small_corpus_note({"n_distinct_labelled_texts": 458},
                                   {"wrong_rate": 0.539, "missing_rate": 0.702}),
                _one_label_note(one_label, False, {}, None, vocabulary=False),
                _one_label_note(one_label, {"n_wrong_added": 2}, {"n_flagged_wrong": 3},
                                None)]

    for note in notes():
        assert "AuditOptions(review_sample=N)" in note, note
        assert "--" not in note and "tagsmith estimate-noise" not in note, note
    said = notes()
    assert "give the vocabulary (load_vocabulary)" in said[3]
    assert "then tagsmith.audit.sample.estimate_from_sample)" in said[3]
    assert said[3].endswith("audit it with AuditOptions(single_label=True), and this note "
                            "is not given")
    assert "audit again with AuditOptions(single_label=False), where" in said[4]
    with command_line():
        on_the_command_line = notes()
    for note in on_the_command_line:
        assert "(--review-sample N" in note and "AuditOptions" not in note, note
    assert "give the vocabulary (--vocab)" in on_the_command_line[3]
    assert "then tagsmith estimate-noise)" in on_the_command_line[3]
    assert on_the_command_line[3].endswith(
        "audit it with --single-label yes (single_label=True), and this note is not given")
    assert "audit again with --single-label no (single_label=False), where" \
        in on_the_command_line[4]
    report = tmp_path / "report.json"
    report.write_text("{}", encoding="utf-8")
    with pytest.raises(DataError, match=r"drew none \(AuditOptions\(review_sample=N\)\)"):
        read_sample_record(report)
    with command_line(), pytest.raises(DataError, match=r"drew none \(audit --review-sample N\)"):
        read_sample_record(report)


def test_zero_shot_from_python_checks_the_language_of_a_sample_and_warns_once(caplog):
    """predict_topk(warn=True) ran the language check on every text of every call: 7 s
    of a 9 s call at 100,000 GoEmotions comments, and a notebook scoring a stream in
    batches of 1,000 was warned on every batch holding one such text. It reads at most
    FOREIGN_SAMPLE of a call's texts, evenly spaced, and says it once a scorer."""
    from tagsmith.zeroshot.scorer import FOREIGN_SAMPLE, FOREIGN_SAMPLE_LATER

    space = LabelSpace.from_names(["tax relief", "renewable energy"])
    zeroshot = ZeroShotClassifier(space, _CountingEncoder())
    english = [f"The role of tax relief number {i} for the energy transition"
               for i in range(4 * FOREIGN_SAMPLE)]
    # one text in 10 German, spread through the stream
    texts = [f"Die Rolle der Steuervergünstigung {i} für die Energiewende" if i % 10 == 0
             else text for i, text in enumerate(english)]
    with caplog.at_level("WARNING", logger="tagsmith"):
        zeroshot.predict_topk(texts, k=1)
    said = caplog.text
    assert said.count("written in another language") == 1, said
    # the sample is said, and counted: about 1 in 10 of the 1,000 read
    found = re.search(rf"([0-9]+) of {FOREIGN_SAMPLE:,} documents \(a sample, evenly spaced, "
                      rf"of the {len(texts):,} given\) look written in another language "
                      r"than English \(German ([0-9]+),", said)
    assert found is not None and found[1] == found[2], said
    assert 80 <= int(found[1]) <= 120, said
    assert "said once for this ZeroShotClassifier" in said
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        for start in range(0, 2000, 500):  # batches, each holding German texts
            zeroshot.predict_topk(texts[start:start + 500], k=1)
        zeroshot.suggest(texts[:20], k=1)
    assert "another language" not in caplog.text, caplog.text
    # a clean stream in batches: after the first 1,000 texts, 100 of each batch are
    # read, and a batch 1 in 10 German among them is still said
    batches = ZeroShotClassifier(space, _CountingEncoder())
    with caplog.at_level("WARNING", logger="tagsmith"):
        for start in range(0, len(english), FOREIGN_SAMPLE):
            batches.predict_topk(english[start:start + FOREIGN_SAMPLE], k=1)
    assert "another language" not in caplog.text, caplog.text
    with caplog.at_level("WARNING", logger="tagsmith"):
        batches.predict_topk(texts[:FOREIGN_SAMPLE], k=1)
    assert re.search(rf"[1-9][0-9]* of {FOREIGN_SAMPLE_LATER} documents \(a sample, evenly "
                     rf"spaced, of the {FOREIGN_SAMPLE:,} given\) look", caplog.text), \
        caplog.text
    caplog.clear()
    # another scorer says it again, of a batch read whole
    other = ZeroShotClassifier(space, _CountingEncoder())
    with caplog.at_level("WARNING", logger="tagsmith"):
        other.predict_topk(texts[:500], k=1)
    assert "50 of 500 documents look written in another language than English (German " \
           "50" in caplog.text, caplog.text


def test_zero_shot_language_check_is_afresh_for_a_copy_and_when_asked(caplog):
    """A scorer that had warned checked no more: its restricted() copy and a pickled
    copy (a pool's) carried that state to a new corpus, and predict_topk(...,
    warn_foreign=True) checked nothing. A later call read a flat 100 texts: a share of
    1% in another language in a call of 100,000 went unsaid more than one time in three;
    it reads a tenth of them now, up to FOREIGN_SAMPLE."""
    import pickle

    from tagsmith.zeroshot.scorer import FOREIGN_SAMPLE

    space = LabelSpace.from_names(["tax relief", "renewable energy"])
    german = [f"Die Rolle der Steuervergünstigung {i} für die Energiewende" for i in range(50)]
    english = [f"The role of tax relief number {i} for the energy transition"
               for i in range(50)]
    zeroshot = ZeroShotClassifier(space, _CountingEncoder())
    with caplog.at_level("WARNING", logger="tagsmith"):
        zeroshot.predict_topk(german, k=1)
    assert caplog.text.count("another language") == 1, caplog.text
    assert "unless given warn_foreign=True" in caplog.text
    copies = {"restricted": zeroshot.restricted(np.ones(len(space), dtype=bool)),
              "pickled": pickle.loads(pickle.dumps(zeroshot))}
    for name, copy in copies.items():
        caplog.clear()
        with caplog.at_level("WARNING", logger="tagsmith"):
            copy.predict_topk(german, k=1)
        assert "50 of 50 documents look written in another language" in caplog.text, name
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        zeroshot.predict_topk(german, k=1)  # the default: said once
        assert "another language" not in caplog.text
        zeroshot.predict_topk(german, k=1, warn_foreign=True)
        assert "50 of 50 documents" in caplog.text, caplog.text
        caplog.clear()
        zeroshot.suggest(german, k=1, warn_foreign=True)
        assert "50 of 50 documents" in caplog.text, caplog.text
        caplog.clear()
        zeroshot.suggest(german, k=1)
    assert "another language" not in caplog.text, caplog.text
    # a later call reads a tenth of its texts, from FOREIGN_SAMPLE_LATER to FOREIGN_SAMPLE
    clean = ZeroShotClassifier(space, _CountingEncoder())
    with caplog.at_level("WARNING", logger="tagsmith"):
        clean.predict_topk(english * (FOREIGN_SAMPLE // len(english)), k=1)
        assert "another language" not in caplog.text
        mixed = [german[i % 50] if i % 10 == 0 else english[i % 50] for i in range(5_000)]
        clean.predict_topk(mixed, k=1)
    assert "of 500 documents (a sample, evenly spaced, of the 5,000 given)" in caplog.text, \
        caplog.text


@pytest.mark.parametrize(("fields", "python", "cli"), [
    ({"model": "dense_knn"}, "dense rows (featurizer='embedding')",
     "dense rows (--featurizer embedding)"),
    ({"featurizer": "views", "featurizer_params": {"words": {"kind": "tfidf"}}},
     "'ensemble' with featurizer='views' (each member", "'ensemble' with --featurizer views"),
])
def test_train_options_that_do_not_go_together_name_the_fields_to_a_python_caller(
        fields, python, cli):
    """TrainOptions(model='dense_knn').validate() (or train_classifier with it) said
    "which needs dense rows (--featurizer embedding)": train's option, to a notebook that
    sets TrainOptions(featurizer='embedding'). Construction checks each field alone (a
    notebook may set them one after another); validate() checks them together."""
    from tagsmith import TrainOptions
    from tagsmith._surface import command_line

    options = TrainOptions(**fields)  # each field alone is fine
    with pytest.raises(InvalidParameterError) as info:
        options.validate()
    assert python in str(info.value) and "--" not in str(info.value), str(info.value)
    with command_line(), pytest.raises(InvalidParameterError) as info:
        options.validate()
    assert cli in str(info.value), str(info.value)


def test_a_command_run_in_process_leaves_the_python_wording_after_it(tmp_path):
    """A notebook may run a command in process (tagsmith.cli.main, CliRunner): the
    command's advice names its options, and once it has ended, a failure included, the
    notebook's calls name the parameters again."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    from tagsmith._surface import on_command_line
    from tagsmith.data.readers import read_tsv
    from tagsmith.exceptions import CorpusFormatError

    corpus = tmp_path / "vocab.tsv"
    corpus.write_text("<http://x/1>\tRain\tA1\n<http://x/2>\tSun\tA2\n", encoding="utf-8")
    result = CliRunner().invoke(tagsmith_cli.cli, ["train", str(corpus), "-o",
                                                   str(tmp_path / "m")])
    assert result.exit_code == 3 and "pass it as --vocab" in result.output, result.output
    assert not on_command_line()
    with pytest.raises(CorpusFormatError, match="load it with load_vocabulary"):
        list(read_tsv(corpus))


def test_commands_that_end_in_the_order_they_began_leave_the_python_wording():
    """Two commands run in threads of one process (CliRunner from a notebook's threads)
    need not nest: the first may end while the second runs. Each restored the flag it
    found, so the second's end set it again, for good: every Python call after them was
    told the command line's options."""
    from tagsmith._surface import command_line, on_command_line, said

    first, second = command_line(), command_line()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert on_command_line() and said("--x", "x=") == "--x"  # the second still runs
    second.__exit__(None, None, None)
    assert not on_command_line() and said("--x", "x=") == "x="
