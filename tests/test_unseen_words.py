"""Words the featurizer has no feature for: recorded for the calibration documents when a
bundle is calibrated, and compared with new documents' by ``shift``.

A trust-and-safety walk's month 3 brought a scam wave in new slang (2.7% of its tokens,
unseen in training) and nothing in tagsmith said so: ``shift`` estimates label shift
from the model's probabilities, which cannot see words the model has no feature for."""

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.features.embedding import EmbeddingFeaturizer
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.features.unseen import unseen_words
from tagsmith.features.views import MultiViewFeaturizer
from tagsmith.pipeline.classifier import TextClassifier

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]
LABELS = ["sport", "music", "food"]
#: each label's words, and words of no label
WORDS = {name: [f"{name}{i}" for i in range(8)] for name in LABELS}
FILLER = [f"common{i}" for i in range(20)]


def run(*args, quiet=True):
    return CliRunner().invoke(tagsmith_cli.cli, [*(["-q"] if quiet else []), *map(str, args)])


def posts(rng: random.Random, n: int, new_words: list[str] = (), new_share: float = 0.0):
    """``n`` (text, labels) posts: two words of each label, three filler words and, with
    ``new_share``, that share of the posts carrying two of ``new_words`` besides."""
    rows = []
    for _ in range(n):
        labels = rng.sample(LABELS, rng.choice([1, 2]))
        words = [rng.choice(WORDS[name]) for name in labels for _ in range(2)]
        words += rng.sample(FILLER, 3)
        if new_words and rng.random() < new_share:
            words += rng.sample(list(new_words), 2)
        rows.append((" ".join(words), labels))
    return rows


def write_tsv(path: Path, rows) -> Path:
    path.write_text("".join(f"{text}\t{' '.join(f'<u:{n}>' for n in labels)}\n"
                            for text, labels in rows))
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    base = tmp_path_factory.mktemp("unseen")
    rng = random.Random(49)
    write_tsv(base / "train.tsv", posts(rng, 400))
    (base / "v.csv").write_text("uri,label_en\n" + "".join(f"u:{n},{n}\n" for n in LABELS))
    result = run("train", base / "train.tsv", "--output", base / "model", "--vocab",
                 base / "v.csv", "--dev-fraction", "0", "--calibration-fraction", "0.3", *FAST)
    assert result.exit_code == 0, result.output
    return base


def test_unseen_words_follow_the_featurizer_s_own_tokens():
    feats = TfidfFeaturizer(char_ngrams=None, min_df=1).fit(["a Cat sat", "a dog"])
    found = unseen_words(feats, ["The CAT and the rat, the end", "dog"])
    # lowercased as the featurizer counts: CAT is cat, a known word
    assert (found.n_docs, found.n_tokens, found.n_unseen) == (2, 8, 6)
    assert found.share == pytest.approx(6 / 8)
    assert found.top(3) == [("the", 3), ("and", 1), ("end", 1)]  # ties in code point order
    assert found.summary() == {"measured": True, "view": "word unigrams", "n_docs": 2,
                               "n_tokens": 8, "n_unseen": 6, "share": 0.75}


def test_featurizers_without_a_word_vocabulary_are_not_measured():
    chars = TfidfFeaturizer(word_ngrams=None, char_ngrams=(2, 3), min_df=1).fit(["a cat"])
    assert "character n-grams" in unseen_words(chars, ["a rat"])
    bigrams = TfidfFeaturizer(word_ngrams=(2, 2), char_ngrams=None, min_df=1).fit(["a cat"])
    assert "no word unigrams" in unseen_words(bigrams, ["a rat"])
    assert "embedding model has no vocabulary" in unseen_words(EmbeddingFeaturizer(), ["a"])
    words = TfidfFeaturizer(char_ngrams=None, min_df=1).fit(["a cat"])
    views = MultiViewFeaturizer({"dense": EmbeddingFeaturizer(), "sparse": words})
    found = unseen_words(views, ["a rat"])
    assert found.n_unseen == 1 and found.view == "word unigrams of view 'sparse'"


def test_training_records_the_calibration_documents_share(bundle):
    clf = TextClassifier.load(bundle / "model")
    entry = clf.manifest["calibration"]["unseen_words"]
    # the 120 documents set aside, against the vocabulary of the other 280
    texts = [line.split("\t")[0] for line in
             (bundle / "train.tsv").read_text().splitlines()]
    cal_texts = [texts[i] for i in clf.heldout.rows]
    direct = unseen_words(clf.featurizer, cal_texts)
    assert entry == direct.summary() and entry["n_docs"] == 120 and entry["measured"]


def test_calibrating_again_keeps_or_measures_the_share(bundle, tmp_path):
    stored = run("calibrate", bundle / "model", "-o", tmp_path / "again")
    assert stored.exit_code == 0, stored.output
    before = TextClassifier.load(bundle / "model").manifest["calibration"]["unseen_words"]
    # the same stored documents: the same share (calibrate rewrote the entry without it)
    again = TextClassifier.load(tmp_path / "again")
    assert again.manifest["calibration"]["unseen_words"] == before
    held = write_tsv(tmp_path / "held.tsv", posts(random.Random(3), 100, ["zorp", "blat"],
                                                  1.0))
    data = run("calibrate", bundle / "model", "--data", held, "-o", tmp_path / "data")
    assert data.exit_code == 0, data.output
    entry = TextClassifier.load(tmp_path / "data").manifest["calibration"]["unseen_words"]
    assert entry["n_docs"] == 100 and entry["n_unseen"] == 200


def test_shift_reports_new_words_and_warns_of_a_wave_of_them(bundle, tmp_path, caplog):
    rng = random.Random(7)
    quiet_month = tmp_path / "quiet.txt"
    quiet_month.write_text("".join(text + "\n" for text, _ in posts(rng, 300)))
    slang = ["zorp", "blatx", "quimble", "fnord"]
    wave = tmp_path / "wave.txt"
    wave.write_text("".join(text + "\n" for text, _ in posts(rng, 300, slang, 0.5)))
    for month, warned in ((quiet_month, False), (wave, True)):
        caplog.clear()
        result = run("shift", bundle / "model", month, "--json", "--top", "3", quiet=False)
        assert result.exit_code == 0, result.output
        unseen = json.loads(result.stdout)["unseen_words"]
        assert unseen["calibration_share"] == 0.0  # every calibration word was trained on
        assert unseen["well_above_calibration"] is warned
        assert ("words the model has no feature for" in caplog.text) is warned
        if warned:
            assert unseen["share"] > 0.1 and len(unseen["top"]) == 3
            assert {row["word"] for row in unseen["top"]} <= set(slang)
            assert "zorp (" in caplog.text and "fnord (" in caplog.text
        else:
            assert unseen["share"] == 0 and unseen["top"] == []
    # a few documents with a new word or two are no wave: reported, not warned of
    few = tmp_path / "few.txt"
    few.write_text("sport1 zorp common1\nmusic2 fnord common3 zorp\n")
    caplog.clear()
    result = run("shift", bundle / "model", few, "--json", "--min-count", "0", quiet=False)
    assert result.exit_code == 0, result.output
    unseen = json.loads(result.stdout)["unseen_words"]
    assert unseen["share"] == pytest.approx(3 / 7) and unseen["well_above_calibration"] is False
    assert "no feature for" not in caplog.text
    text = run("shift", bundle / "model", wave, "--top", "2")
    assert text.exit_code == 0, text.output
    line = next(row for row in text.stdout.splitlines() if row.startswith("words outside"))
    assert "against 0.00% in the calibration documents; most frequent: " in line
    assert line.count("(") == 2  # --top 2 words, each with its count


def test_shift_on_a_bundle_that_recorded_no_share_says_so(bundle, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(bundle / "model", old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["calibration"]["unseen_words"]  # as a bundle saved before it was recorded
    (old / "manifest.json").write_text(json.dumps(manifest))
    docs = tmp_path / "docs.txt"
    docs.write_text("zorp sport1 common2\nmusic3 blat\n" * 30)
    result = run("shift", old, docs, "--json")
    assert result.exit_code == 0, result.output
    unseen = json.loads(result.stdout)["unseen_words"]
    assert unseen["calibration_share"] is None and unseen["well_above_calibration"] is None
    assert unseen["n_unseen"] == 60
    text = run("shift", old, docs)
    assert text.exit_code == 0 and "none recorded for the calibration documents" in text.stdout
    # the advice was 'calibrate it again', which records nothing on the stored split (the
    # bundle keeps no texts): the line names --data, which does
    assert "calibrate --data" in text.stdout and "calibrate it again" not in text.stdout
    stored = run("calibrate", old, "-o", tmp_path / "stored")
    assert stored.exit_code == 0, stored.output
    assert "unseen_words" not in TextClassifier.load(tmp_path / "stored").manifest["calibration"]
    held = write_tsv(tmp_path / "held.tsv", posts(random.Random(4), 60))
    data = run("calibrate", old, "--data", held, "-o", tmp_path / "data")
    assert data.exit_code == 0, data.output
    entry = TextClassifier.load(tmp_path / "data").manifest["calibration"]["unseen_words"]
    assert entry["measured"] and entry["n_docs"] == 60
    again = run("shift", tmp_path / "data", docs)
    assert again.exit_code == 0 and "in the calibration documents" in again.stdout
    assert "none recorded" not in again.stdout


def test_a_long_text_is_counted_a_chunk_at_a_time(monkeypatch):
    """A text over STREAM_MIN_CHARS was preprocessed whole and every token of it listed
    (a 20 MB text: 290 MB more, where the featurizer's transform took 9 MB): shift and
    calibration now count it a chunk at a time, as the featurizer does, to the same
    figures."""
    import tracemalloc

    from tagsmith.features import tfidf

    rng = random.Random(5)
    vocab = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(4, 8)))
             for _ in range(3000)]
    feats = TfidfFeaturizer(char_ngrams=None, min_df=1).fit(
        [" ".join(rng.choices(vocab[:2000], k=40)) for _ in range(100)])
    text = " ".join(rng.choices(vocab, k=400_000)) + " \u00c4PFEL"  # about 2.6 MB
    assert len(text) > 2_000_000

    def peak():
        tracemalloc.start()
        try:
            found = unseen_words(feats, [text, "a short one"])
            return found, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 10**9)
    whole, listed = peak()
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100_000)
    streamed, chunked = peak()
    assert (streamed.n_tokens, streamed.n_unseen, streamed.counts) == \
        (whole.n_tokens, whole.n_unseen, whole.counts)
    assert streamed.n_tokens == 400_004 and streamed.counts["\u00e4pfel"] == 1
    # the whole path holds the preprocessed copy and 400,000 token strings
    assert chunked * 3 < listed, (chunked, listed)
    assert chunked < 2 * len(text), (chunked, len(text))


def test_python_callers_get_the_report_shift_gives(bundle, tmp_path):
    """``shift --json``'s ``unseen_words`` was the only way to the report: a Python
    caller had ``estimate_shift`` (no word of it) or an undocumented function."""
    from tagsmith.exceptions import InvalidParameterError

    rows = posts(random.Random(11), 200, ["zorp", "blatx", "quimble"], 0.5)
    wave = tmp_path / "wave.txt"
    wave.write_text("".join(text + "\n" for text, _ in rows))
    result = run("shift", bundle / "model", wave, "--json", "--top", "2")
    assert result.exit_code == 0, result.output
    clf = TextClassifier.load(bundle / "model")
    report = clf.unseen_words([text for text, _ in rows], top=2)
    assert report == json.loads(result.stdout)["unseen_words"]
    assert report["well_above_calibration"] is True and len(report["top"]) == 2
    assert clf.unseen_words(["sport1 common2"])["n_unseen"] == 0
    with pytest.raises(InvalidParameterError, match="'texts'"):
        clf.unseen_words("zorp sport1")  # one str: a document per character
    with pytest.raises(InvalidParameterError, match="'top'"):
        clf.unseen_words(["zorp"], top=-1)


def test_knn_and_distilled_students_record_the_share():
    """Every bundle kind calibrated on texts records the share: a kNN model's own
    calibration split, and a student of ``label --student`` (``active_distill``, saved
    uncalibrated) calibrated on labelled documents as ``calibrate --data`` does."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.confidence import calibrate_classifier, heldout_from_corpus
    from tagsmith.pipeline.distill import ActiveOptions, active_distill
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    space = LabelSpace.from_uris([f"u:{n}" for n in LABELS])
    rows = posts(random.Random(5), 200)
    texts = [text for text, _ in rows]
    Y = sp.csr_matrix([[float(n in labels) for n in LABELS] for _, labels in rows])
    params = {"char_ngrams": None, "min_df": 1}
    knn = train_classifier(texts, Y, space, options=TrainOptions(
        model="knn", dev_fraction=0.0, calibration_fraction=0.3, featurizer_params=params))
    entry = knn.manifest["calibration"]["unseen_words"]
    assert entry == unseen_words(knn.featurizer, [texts[i] for i in knn.heldout.rows]).summary()
    student = active_distill(texts, space, lambda idx: (Y[idx], np.ones(len(idx), bool)),
                             options=ActiveOptions(budget=100, rounds=2,
                                                   featurizer_params=params)).classifier
    assert not student.is_calibrated and "calibration" not in student.manifest
    held = posts(random.Random(3), 60, ["zorp", "blat"], 1.0)
    held_Y = sp.csr_matrix([[float(n in labels) for n in LABELS] for _, labels in held])
    calibrate_classifier(student, heldout_from_corpus(student, [t for t, _ in held], held_Y))
    entry = student.manifest["calibration"]["unseen_words"]
    assert entry["n_docs"] == 60 and entry["n_unseen"] == 120
    assert student.unseen_words(["zorp sport1"])["calibration_share"] == entry["share"]
