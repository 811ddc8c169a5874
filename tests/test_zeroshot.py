"""Zero-shot labeling with the packaged sentence encoder (loaded once per session)."""

import json
import logging
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.data.vocab import load_vocabulary
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics import evaluate
from tagsmith.pipeline.io import read_labelled
from tagsmith.topk import TopK
from tagsmith.zeroshot.index import ExactIndex, HnswIndex, hnsw_search_depth
from tagsmith.zeroshot.scorer import (
    ZeroShotClassifier,
    blend_topk,
    label_sets_by_margin,
    softmax_scores,
)

from conftest import GOEMOTIONS, ROOT, answer_sport, taxonomy_table

tagsmith_cli._register_commands()
pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="session")
def encoder():
    from tagsmith.zeroshot.encoder import SentenceEncoder

    return SentenceEncoder(n_threads=2)


@pytest.fixture(scope="session")
def goemotions_dev():
    space = load_vocabulary(GOEMOTIONS / "vocab.tsv")
    data = read_labelled(GOEMOTIONS / "dev.tsv.gz", space)
    return space, data.texts[:300], data.Y[:300]


def test_encoder_gives_unit_vectors(encoder):
    vectors = encoder.encode(["a happy day", "", "tax law reform"])
    assert vectors.shape == (3, encoder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def _spy_on_encode(encoder, probe) -> list:
    """What ``probe()`` returned at each call of the encoder's model (while it encodes)."""
    seen: list = []
    encode = encoder.model.encode

    def spying(*args, **kwargs):
        seen.append(probe())
        return encode(*args, **kwargs)

    encoder.model.encode = spying
    return seen


def test_encoder_n_threads_holds_only_while_it_loads_and_encodes():
    # torch.set_num_threads at load changed the whole process's thread count for good,
    # for an application using tagsmith as a library; encoding still uses n_threads
    torch = pytest.importorskip("torch")
    from tagsmith.zeroshot.encoder import SentenceEncoder, torch_threads

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        encoder = SentenceEncoder(n_threads=3)
        assert torch.get_num_threads() == 1
        seen = _spy_on_encode(encoder, torch.get_num_threads)
        assert encoder.encode(["a parcel came late"]).shape == (1, encoder.dim)
        assert seen == [3] and torch.get_num_threads() == 1
        with torch_threads(2):  # blocks at once (threads): the last one out restores
            with torch_threads(3):
                assert torch.get_num_threads() == 3
            assert torch.get_num_threads() == 2  # the outer block's, still running
        assert torch.get_num_threads() == 1
        with torch_threads(None):  # None leaves the count as it is
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


TORCH_FORK_SCRIPT = """
import faulthandler
import multiprocessing

import torch

from tagsmith.zeroshot.encoder import torch_threads

torch.set_num_threads(2)
torch.manual_seed(0)
matrix = torch.randn(1000, 1000)
expected = matrix @ matrix  # the parent's OpenMP threads start


def child(queue):
    faulthandler.dump_traceback_later(60, exit=True)
    with torch_threads(None):  # as the encoder embeds
        queue.put(torch.allclose(matrix @ matrix, expected, rtol=1e-4, atol=1e-3))


context = multiprocessing.get_context("fork")
queue = context.Queue()
process = context.Process(target=child, args=(queue,))
process.start()
process.join(120)
if process.exitcode is None:
    process.kill()
print(process.exitcode, queue.get(timeout=5) if process.exitcode == 0 else None,
      torch.get_num_threads())
"""


def test_the_encoder_embeds_in_a_process_forked_after_the_parent_embedded(tmp_path):
    """A multiprocessing pool (fork, Linux's default) whose parent had embedded (an
    embedding model's classifier, zero-shot) never answered: torch's GNU OpenMP threads
    do not survive a fork, and the child's first parallel computation waited for ever.
    A forked child embeds on one thread."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    from conftest import ROOT

    script = tmp_path / "fork.py"
    script.write_text(TORCH_FORK_SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "True", "2"], done.stdout + done.stderr[-2000:]


def test_encoder_leaves_transformers_log_level_as_it_was():
    # set_verbosity_error at load silenced transformers' warnings for good in an
    # application using tagsmith as a library; they are silenced only while it works
    from transformers.utils import logging as hf_logging

    from tagsmith.zeroshot.encoder import SentenceEncoder

    before = hf_logging.get_verbosity()
    try:
        hf_logging.set_verbosity_info()
        encoder = SentenceEncoder()
        assert hf_logging.get_verbosity() == hf_logging.INFO
        seen = _spy_on_encode(encoder, hf_logging.get_verbosity)
        encoder.encode(["a parcel came late"])
        assert seen == [hf_logging.ERROR]
        assert hf_logging.get_verbosity() == hf_logging.INFO
    finally:
        hf_logging.set_verbosity(before)


def test_loading_the_packaged_encoder_leaves_the_process_as_it_was(monkeypatch):
    # the load set HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and HF_HUB_DISABLE_PROGRESS_BARS
    # and turned transformers' bars off for good; it is offline while it loads alone
    from huggingface_hub import constants as hub_constants
    from transformers.utils import logging as hf_logging

    from tagsmith.zeroshot.encoder import OFFLINE_ENVIRONMENT, SentenceEncoder

    for name in OFFLINE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    hf_logging.enable_progress_bar()

    def state():
        # the Hugging Face libraries' variables (the rest of the environment is no
        # business of a failed assertion's message)
        return ({name: value for name, value in os.environ.items()
                 if name.startswith(("HF_", "TRANSFORMERS_", "TOKENIZERS_"))},
                hub_constants.HF_HUB_OFFLINE,
                hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity(),
                logging.getLogger("sentence_transformers").level)

    before = state()
    encoder = SentenceEncoder()  # nothing to download: offline while it loads
    assert state() == before
    assert encoder.encode(["a parcel came late"]).shape == (1, encoder.dim)


def test_encoder_reads_a_text_up_to_256_word_pieces_as_the_readme_says(encoder):
    long = " ".join(["the cat sat on the mat"] * 60)  # about 360 word pieces
    start, longer = encoder.encode([long, long + " stock market crash, bank rates"])
    assert float(start @ longer) > 1 - 1e-5  # words after the first 256 pieces: ignored
    assert float(start @ encoder.encode(["the cat sat on the mat"])[0]) < 0.99


def test_zeroshot_beats_chance_on_goemotions(encoder, goemotions_dev, tmp_path):
    space, texts, Y = goemotions_dev
    scorer = ZeroShotClassifier(space, encoder, cache_dir=tmp_path)
    topk = scorer.predict_topk(texts, 5)
    report = evaluate(Y, topk, label_sets_by_margin(topk), ks=(1, 5))
    majority = np.bincount(Y.indices, minlength=len(space)).max() / len(texts)
    assert report["p@1"] > 0.12 and report["p@5"] > 1.5 / 28
    assert report["macro_f1"] > 1 / 28
    assert majority > 0  # sanity: labels read
    assert topk.scores.max() <= 1.0 + 1e-5 and topk.scores.min() >= -1.0 - 1e-5
    # label embeddings were cached, and the cache is used on the next build
    cached = list(tmp_path.glob("labels-*.npz"))
    assert len(cached) == 1
    # read, not written again: the same file (a write replaces it atomically, a new
    # inode) with the same bytes; its modification time is touched on a read, its last
    # use (README: the cache's clean-up command goes by it)
    first = cached[0].stat()
    content = cached[0].read_bytes()
    again = ZeroShotClassifier(space, encoder, cache_dir=tmp_path)
    assert cached[0].stat().st_ino == first.st_ino
    assert cached[0].read_bytes() == content
    np.testing.assert_array_equal(again.label_vectors, scorer.label_vectors)


def test_alt_labels_and_descriptions_count(encoder):
    space = LabelSpace([
        Label("u:a", {"en": "felines"}, {"en": ["cats", "kittens"]}),
        Label("u:b", {"en": "finance"}, description={"en": "banks, loans and interest rates"}),
        Label("u:c", {"en": "weather"}),
    ])
    scorer = ZeroShotClassifier(space, encoder)
    topk = scorer.predict_topk(["my kitten sleeps all day", "the bank raised loan rates"], 3)
    assert topk.indices[:, 0].tolist() == [0, 1]
    assert set(topk.indices[0].tolist()) == {0, 1, 2}  # one entry per label, no duplicates
    # k may be a numpy integer (e.g. from an array of settings); nonsense is refused
    assert scorer.predict_topk(["my kitten"], np.int64(2)).indices.shape == (1, 2)
    for bad in (0, True, 1.5):
        with pytest.raises(InvalidParameterError, match="k"):
            scorer.predict_topk(["my kitten"], bad)


def test_predict_topk_takes_the_texts_embeddings_given(encoder):
    """label --human's sample, its embeddings read from --cache-dir, copied
    predict_topk's handling of blank texts: predict_topk takes the embeddings now, and
    gives what it gives when it embeds them itself (a blank text no label)."""
    space = LabelSpace([Label("u:a", {"en": "felines"}), Label("u:b", {"en": "finance"})])
    scorer = ZeroShotClassifier(space, encoder)
    texts = ["my kitten sleeps all day", " ... ", "the bank raised loan rates"]
    own = scorer.predict_topk(texts, 2)
    given = scorer.predict_topk(texts, 2, vectors=scorer.embed(texts))
    assert np.array_equal(own.indices, given.indices)
    assert np.array_equal(own.valid, given.valid) and not given.valid[1].any()
    with pytest.raises(InvalidParameterError, match="vectors"):
        scorer.predict_topk(texts, 2, vectors=scorer.embed(texts[:2]))


def _csls_reference(scorer, docs, background, neighbors):
    """Brute force: each label's best row by cos - r/2, r = mean of the row's top
    ``neighbors`` cosines to the background."""
    rows = docs @ scorer.label_vectors.T
    r = np.sort(scorer.label_vectors @ background.T, axis=1)[:, -neighbors:].mean(axis=1)
    rows = rows - r / 2
    best = np.full((len(docs), scorer.n_labels), -np.inf)
    for row, owner in enumerate(scorer.owners):
        best[:, owner] = np.maximum(best[:, owner], rows[:, row])
    return best


@pytest.fixture(scope="module")
def csls_vectors(encoder, goemotions_dev):
    """The embeddings of the CSLS test's documents and background, made once for both
    indexes (read-only: no test may change what the other reads)."""
    _, texts, _ = goemotions_dev
    docs, background = encoder.encode(texts[:100]), encoder.encode(texts[100:300])
    docs.flags.writeable = background.flags.writeable = False
    return docs, background


@pytest.mark.parametrize("index", ["exact", "hnsw"])
def test_background_hubness_correction_ranks_by_csls(encoder, goemotions_dev, csls_vectors,
                                                     index):
    pytest.importorskip("hnswlib")
    space, texts, _ = goemotions_dev
    docs, background = csls_vectors
    scorer = ZeroShotClassifier(space, encoder, index=index)
    plain = scorer.topk_from_embeddings(docs, 5)
    assert scorer.fit_background(vectors=background, neighbors=10) is scorer
    corrected = scorer.topk_from_embeddings(docs, 5)
    reference = _csls_reference(scorer, docs, background, 10)
    expected = np.argsort(-reference, axis=1, kind="stable")[:, :5]
    assert np.mean(corrected.indices[:, 0] == expected[:, 0]) >= 0.98
    np.testing.assert_allclose(corrected.scores[:, 0],
                               np.take_along_axis(reference, expected[:, :1], 1)[:, 0],
                               atol=1e-4)
    # the correction changes the ranking, and the biggest hub wins fewer documents
    assert (corrected.indices[:, 0] != plain.indices[:, 0]).any()
    hub = int(scorer.owners[np.argmax(scorer.hubness)])
    assert (corrected.indices[:, 0] == hub).sum() < max(1, (plain.indices[:, 0] == hub).sum())
    # texts give the same correction as their vectors
    again = ZeroShotClassifier(space, encoder, index=index).fit_background(texts[100:300])
    np.testing.assert_allclose(again.hubness, scorer.hubness, atol=1e-5)


def test_background_validates(encoder):
    space = LabelSpace([Label("u:a", {"en": "cats"}), Label("u:b", {"en": "money"})])
    scorer = ZeroShotClassifier(space, encoder)
    with pytest.raises(InvalidParameterError, match="texts"):
        scorer.fit_background()
    with pytest.raises(InvalidParameterError, match="texts"):
        scorer.fit_background(["a"], vectors=np.zeros((1, encoder.dim), np.float32))
    with pytest.raises(InvalidParameterError, match="background"):
        scorer.fit_background(vectors=np.zeros((0, encoder.dim), np.float32))
    with pytest.raises(InvalidParameterError, match="background"):
        scorer.fit_background(vectors=np.zeros((3, 5), np.float32))
    with pytest.raises(InvalidParameterError, match="neighbors"):
        scorer.fit_background(["a"], neighbors=0)
    # more neighbours than background documents: all of them
    scorer.fit_background(["my cat", "my dog"], neighbors=50)
    assert scorer.hubness.shape == (2,)
    assert scorer.predict_topk(["a tabby cat"], 1).indices.tolist() == [[0]]


def test_hnsw_agrees_with_exact_search():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:200] + 0.1 * rng.normal(size=(200, 32)).astype(np.float32)
    exact_ids, exact_sims = ExactIndex(vectors).search(queries, 10)
    ann_ids, ann_sims = HnswIndex(vectors).search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact_ids, ann_ids,
                                                                strict=True)])
    assert recall > 0.95
    np.testing.assert_allclose(ann_sims[:, 0], exact_sims[:, 0], atol=1e-4)


def test_hnsw_search_of_every_row_among_identical_vectors():
    """Labels that share a name share a vector; hnswlib's graph search then reached
    fewer rows than asked for and refused the query ("Cannot return the results in a
    contiguous 2D array"), so zero-shot scoring with k at the label count crashed."""
    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(0)
    vector = rng.normal(size=8).astype(np.float32)
    vectors = np.tile(vector / np.linalg.norm(vector), (300, 1))
    vectors[:3] = np.eye(3, 8, dtype=np.float32)  # three other rows
    index = HnswIndex(vectors, n_threads=1)  # one thread: the same graph every time
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    exact_ids, exact_sims = ExactIndex(vectors).search(queries, 300)
    for k in (300, 500):
        ids, sims = index.search(queries, k)
        assert ids.shape == (5, 300) and all(sorted(row) == list(range(300)) for row in ids)
        np.testing.assert_allclose(sims, exact_sims, atol=1e-5)
        assert (ids[:, 0] == exact_ids[:, 0]).all()


def test_hnsw_searches_deeper_than_k_when_k_nears_ef():
    """The search depth was max(ef, k): at k = ef = 200 the search kept no more
    candidates than it returned, and recall fell to 0.955 on 20,000 random vectors.
    It is now max(ef, 2k) (at most the rows held); up to k = ef / 2 the search is
    exactly the one it was."""
    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20_000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.normal(size=(100, 64)).astype(np.float32)
    index = HnswIndex(vectors, n_threads=1)  # one thread: the same graph every time
    exact_ids, _ = ExactIndex(vectors).search(queries, 200)
    ann_ids, _ = index.search(queries, 200)
    recall = np.mean([len(set(a) & set(b)) / 200 for a, b in zip(exact_ids, ann_ids,
                                                                 strict=True)])
    assert recall > 0.98
    assert [hnsw_search_depth(index.ef, k, 20_000) for k in (1, 10, 100, 101, 200, 15_000)] \
        == [200, 200, 200, 202, 400, 20_000]
    index.index.set_ef(200)  # the search of k = 100 as it was
    before, _ = index.index.knn_query(queries, k=100, num_threads=1)
    np.testing.assert_array_equal(index.search(queries, 100)[0], before)


def test_blend_suggests_a_brand_new_label(encoder, goemotions_small, tmp_path):
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    from conftest import FAST_FEATURES

    space = load_vocabulary(goemotions_small["vocab"])
    train = read_labelled(goemotions_small["train"], space)
    clf = train_classifier(train.texts, train.Y, space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES))
    bigger = space.updated(LabelSpace(list(space) + [
        Label("urn:new:football", {"en": "football"},
              description={"en": "soccer matches, goals and football clubs"})]))
    texts = ["What a goal in the football match last night!", "Thank you so much!"]
    zs = ZeroShotClassifier(bigger, encoder).predict_topk(texts, 5)
    blended = blend_topk(clf.predict_topk(texts, 5), zs, weight=0.5, k=3,
                         model_space=clf.label_space, zeroshot_space=bigger)
    new_id = len(space)
    assert new_id in blended.indices[0].tolist()  # never trained on, still suggested
    assert blended.n_labels == len(bigger)
    assert clf.label_space.name_of(int(blended.indices[1, 0])) == "gratitude"


def test_blend_validates():
    zs = TopK(np.array([[0]]), np.array([[0.5]]), 2)
    with pytest.raises(Exception, match="weight"):
        blend_topk(None, zs, weight=2)
    assert blend_topk(None, zs, k=1).indices.tolist() == [[0]]


def test_cli_zeroshot_with_new_label(tmp_path):
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en,description_en\nu:sport,sport,games and athletes\n"
                     "u:food,food,cooking and eating\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("I baked bread and a cake\nThe team won the final\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", str(vocab), str(docs), "--k", "2", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["suggestions"][0]["label"] for line in lines] == ["food", "sport"]
    background = tmp_path / "background.tsv"
    background.write_text("Pasta with tomato sauce\t<u:food>\nA marathon runner\n\n"
                          "Soup for dinner\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", str(vocab), str(docs), "--k", "2", "--cache-dir", str(tmp_path),
        "--background", str(background), "--background-sample", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["suggestions"][0]["label"] for line in lines] == ["food", "sport"]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", str(vocab), str(docs), "--cache-dir", str(tmp_path),
        "--background", str(empty)])
    assert result.exit_code != 0 and "--background" in result.output


def test_cli_zeroshot_reads_csv_and_jsonl_corpora_record_by_record(tmp_path):
    """A .jsonl or .csv corpus was read as raw lines (the JSON object, or the CSV row
    with its quotes and labels, embedded as the text; the header a document). Now each
    record's text is a document, named by its id (else file:line); the documents and
    the background alike; --whole-file is refused for them."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    plain = tmp_path / "docs.txt"
    plain.write_text("I baked bread and a cake\nThe team won the final\n")
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text(json.dumps({"id": "d1", "text": "I baked bread and a cake",
                                 "labels": ["sport"]}) + "\n"
                     + json.dumps({"text": ""}) + "\n"
                     + json.dumps({"text": "The team won the final"}) + "\n")
    csv_file = tmp_path / "docs.csv"
    csv_file.write_text('text,labels\n"I baked bread\nand a cake",sport\n'
                        '"The team won the final",food\n')
    args = ["-q", "zeroshot", str(vocab), "--k", "2", "--cache-dir", str(tmp_path)]

    def records(*extra):
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, *extra])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines()]

    expected = [line["suggestions"] for line in records(str(plain))]
    from_jsonl = records(str(jsonl))
    assert [line["doc"] for line in from_jsonl] == ["d1", f"{jsonl}:3"]
    assert [line["suggestions"] for line in from_jsonl] == expected
    from_csv = records(str(csv_file))  # the quoted text with its newline: one document
    assert [line["doc"] for line in from_csv] == [f"{csv_file}:2", f"{csv_file}:4"]
    assert [line["suggestions"][0]["label"] for line in from_csv] == ["food", "sport"]
    with_background = records(str(plain), "--background", str(plain))
    assert records(str(plain), "--background", str(jsonl)) == with_background
    result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--whole-file", str(jsonl)])
    assert result.exit_code == 2 and f"{jsonl} is a JSONL corpus" in result.output


def test_cli_zeroshot_background_from_stdin_that_also_holds_the_documents(tmp_path):
    """--background - with the documents on stdin as well (README: the background may be
    FILES themselves): the background read stdin to its end, so no document was left
    and the command printed nothing, with exit 0."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("I baked bread and a cake\nThe team won the final\n")
    args = ["-q", "zeroshot", str(vocab), "--k", "1", "--cache-dir", str(tmp_path)]
    from_file = CliRunner().invoke(tagsmith_cli.cli, [*args, str(docs), "--background",
                                                      str(docs)])
    assert from_file.exit_code == 0, from_file.output
    for files in ([], ["-"]):
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, *files, "--background", "-"],
                                    input=docs.read_text())
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [line["doc"] for line in lines] == ["stdin:1", "stdin:2"]
        expected = [json.loads(line)["suggestions"] for line in from_file.stdout.splitlines()]
        assert [line["suggestions"] for line in lines] == expected


def test_margin_label_sets():
    topk = TopK(np.array([[1, 0, 2]]), np.array([[0.5, 0.49, 0.1]]), 3)
    assert sp.csr_matrix(label_sets_by_margin(topk, 0.0)).indices.tolist() == [1]


def test_margin_label_sets_keep_no_label_below_min_score():
    # the best label was kept even below min_score, against the docstring: a user asking
    # for a minimum score got labels under it; such a document gets an empty set now
    topk = TopK(np.array([[1, 0, 2], [2, 1, 0]]),
                np.array([[0.5, 0.49, 0.1], [0.3, 0.29, 0.1]]), 3)
    sets = sp.csr_matrix(label_sets_by_margin(topk, 0.05, min_score=0.4))
    assert sets.indptr.tolist() == [0, 2, 2]  # the second document: nothing >= 0.4
    assert sorted(sets.indices.tolist()) == [0, 1]
    # without min_score every document keeps its best label
    assert sp.csr_matrix(label_sets_by_margin(topk, 0.0)).indices.tolist() == [1, 2]


def test_zeroshot_shortlist_uses_its_documents_as_background(encoder, goemotions_dev):
    from tagsmith.cli.llm_commands import MIN_BACKGROUND, _shortlist

    space, texts, _ = goemotions_dev
    few, many = texts[:MIN_BACKGROUND - 1], texts[:MIN_BACKGROUND + 50]
    plain = ZeroShotClassifier(space, encoder)
    np.testing.assert_array_equal(_shortlist(few, space, None, True, 5, False).indices,
                                  plain.predict_topk(few, 5).indices)
    corrected = ZeroShotClassifier(space, encoder).fit_background(many)
    shortlist = _shortlist(many, space, None, True, 5, False)
    np.testing.assert_array_equal(shortlist.indices, corrected.predict_topk(many, 5).indices)
    assert (shortlist.indices != plain.predict_topk(many, 5).indices).any()


def test_clear_background_and_bad_index(encoder):
    space = LabelSpace([Label("u:a", {"en": "cats"}), Label("u:b", {"en": "money"})])
    with pytest.raises(InvalidParameterError, match="index"):
        ZeroShotClassifier(space, encoder, index="faiss")
    scorer = ZeroShotClassifier(space, encoder)
    texts = ["a tabby cat", "bank interest rates"]
    plain = scorer.predict_topk(texts, 2)
    scorer.fit_background(["my cat sleeps", "cats and kittens", "the stock market"])
    assert scorer.index.vectors.shape[1] == encoder.dim + 1
    assert not np.allclose(scorer.predict_topk(texts, 2).scores, plain.scores)
    assert scorer.clear_background() is scorer and scorer.hubness is None
    again = scorer.predict_topk(texts, 2)
    np.testing.assert_array_equal(again.indices, plain.indices)
    np.testing.assert_allclose(again.scores, plain.scores, atol=1e-6)


def test_blend_weight_applies_to_every_label_alike():
    model = TopK(np.array([[0, 1]]), np.array([[0.6, 0.3]]), 3)
    zs = TopK(np.array([[2, 1, 0]]), np.array([[0.9, 0.2, 0.1]]), 3)
    known = np.array([True, True, False])  # label 2: never trained on
    only_model = blend_topk(model, zs, weight=0.0, k=3, known_labels=known)
    assert only_model.indices.tolist() == [[0, 1, -1]]  # the new label gets no free share
    np.testing.assert_allclose(only_model.scores[0, :2], [0.6, 0.3], atol=1e-6)
    only_zs = blend_topk(model, zs, weight=1.0, k=3, known_labels=known)
    assert only_zs.indices[0, 0] == 2 and only_zs.indices.tolist() == \
        blend_topk(None, zs, k=3).indices.tolist()
    half = blend_topk(model, zs, weight=0.5, k=3, known_labels=known)
    scores = dict(zip(half.indices[0].tolist(), half.scores[0].tolist(), strict=True))
    assert scores[2] <= 0.5 + 1e-6  # its zero-shot share only
    excluded = blend_topk(model, zs, weight=0.5, k=3, known_labels=known,
                          exclude=np.array([True, False, False]))
    assert 0 not in excluded.indices.tolist()[0]
    with pytest.raises(InvalidParameterError, match="exclude"):
        blend_topk(model, zs, exclude=np.zeros(2, bool))


def test_blend_weight_0_or_1_is_exactly_that_sides_top_k():
    """Weight 0 went through the sparse blend: the model's labels of score 0 (a k-NN model
    fills its top k with them, most frequent first) were dropped, its ties re-ranked by
    id and its scores moved by a float32 rounding of score + 1e-6; weight 1 re-ranked
    zero-shot cosines whose probabilities rounded to one float32 by label id."""
    model = TopK(np.array([[3, 1, 2, 0]]), np.array([[0.7, 0.031249873, 0.0, 0.0]]), 5)
    zs = TopK(np.array([[4, 2]]), np.array([[0.5, 0.5 - 3e-8]]), 5)
    known = np.array([True, True, True, True, False])
    only_model = blend_topk(model, zs, weight=0.0, k=4, known_labels=known)
    np.testing.assert_array_equal(only_model.indices, model.indices)
    np.testing.assert_array_equal(only_model.scores, model.scores)
    tied = TopK(np.array([[3, 2, 1]]), np.array([[0.7, 0.4, 0.4]]), 5)
    assert blend_topk(tied, zs, weight=0.0, k=3).indices.tolist() == [[3, 2, 1]]
    # labels the model may not suggest here leave their places to its next ones
    excluded = blend_topk(model, zs, weight=0.0, k=3, known_labels=known,
                          exclude=np.array([False, True, False, False, False]))
    assert excluded.indices.tolist() == [[3, 2, 0]]
    np.testing.assert_array_equal(excluded.scores, model.scores[:, [0, 2, 3]])
    for blend in (blend_topk(model, zs, weight=1.0, k=2, temperature=1.0),
                  blend_topk(None, zs, k=2, temperature=1.0)):
        np.testing.assert_array_equal(blend.indices, zs.indices)
        np.testing.assert_array_equal(blend.scores,
                                      softmax_scores(zs, temperature=1.0).scores)


def test_cli_zeroshot_weight_0_gives_the_models_suggestions(tmp_path):
    """--weight 0 ("the model alone") with a k-NN bundle gave a document one
    suggestion where the model (tagsmith suggest) gives k: the model's places of score
    0 were no blend candidates."""
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    from conftest import FAST_FEATURES

    space = LabelSpace([Label("u:sport", {"en": "sport"}), Label("u:food", {"en": "food"}),
                        Label("u:news", {"en": "news"})])
    texts = ["the team won the final", "bread and soup", "the council voted today"] * 4
    Y = sp.csr_matrix(np.eye(3, dtype=np.float32)[[0, 1, 2] * 4])
    classifier = train_classifier(texts, Y, space, options=TrainOptions(
        dev_fraction=0.0, model="knn", model_params={"n_neighbors": 1},
        featurizer_params=FAST_FEATURES))
    classifier.save(tmp_path / "b")
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\nu:news,news\n")
    docs = ["the team won again", "soup for dinner"]
    (tmp_path / "docs.txt").write_text("\n".join(docs) + "\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", str(vocab), str(tmp_path / "docs.txt"), "--k", "3",
        "--cache-dir", str(tmp_path), "--bundle", str(tmp_path / "b"), "--weight", "0"])
    assert result.exit_code == 0, result.output
    model = classifier.predict_topk(docs, 3)
    assert (model.scores == 0).any()  # the k-NN model's places without a neighbour
    for line, (ids, scores) in zip(result.stdout.splitlines(), model.rows(), strict=True):
        suggestions = json.loads(line)["suggestions"]
        assert [s["uri"] for s in suggestions] == [space.uri_of(int(i)) for i in ids]
        assert [s["score"] for s in suggestions] == [round(float(s), 6) for s in scores]


def test_cli_zeroshot_blend_keeps_to_vocab_and_refuses_a_bundle_of_other_labels(tmp_path):
    _save_small_bundle(tmp_path / "b", ["sport", "old"], [
        ("the team won the final", 0), ("an old story", 1), ("a marathon race", 0),
        ("old times", 1)])
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("old times were good\nI baked bread\n")
    for weight in ("0", "0.5", "1"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "zeroshot", str(vocab), str(docs), "--k", "3", "--cache-dir", str(tmp_path),
            "--bundle", str(tmp_path / "b"), "--weight", weight])
        assert result.exit_code == 0, result.output
        uris = {s["uri"] for line in result.stdout.splitlines()
                for s in json.loads(line)["suggestions"]}
        assert "u:old" not in uris  # a bundle label not in VOCAB is never suggested
        if weight == "0":
            assert uris == {"u:sport"}  # the model alone: the new label gets no share
    other = tmp_path / "other.csv"
    other.write_text("uri,label_en\nu:x,cooking\nu:y,football\n")
    # a bundle of another vocabulary added nothing: at --weight 0 every document got
    # no suggestion, with exit 0 and a warning
    for weight in ("0", "0.5"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "zeroshot", str(other), str(docs), "--cache-dir", str(tmp_path),
            "--bundle", str(tmp_path / "b"), "--weight", weight])
        assert result.exit_code == 2 and result.stdout == "", result.output
        assert "'--bundle'" in result.stderr and str(tmp_path / "b") in result.stderr
        assert str(other) in result.stderr


def test_cli_zeroshot_cache_dir_that_is_a_file_fails_first(tmp_path):
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\n")
    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", str(vocab), str(vocab), "--cache-dir", str(tmp_path / "afile")])
    assert result.exit_code == 3 and "--cache-dir" in result.output


def test_cli_zeroshot_empty_cache_dir_caches_nothing(tmp_path, monkeypatch):
    """--cache-dir '' skipped the writable check but reached the scorer as the path '',
    the working directory, which got the cache file."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("The team won the final\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", str(vocab), str(docs), "--k", "1", "--cache-dir", ""])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["suggestions"][0]["label"] == "sport"
    assert list(work.iterdir()) == []


class _CountingEncoder:
    """A deterministic stand-in encoder (unit rows from a hash of each text) that counts
    the texts it embeds."""

    dim = 8

    def __init__(self, name="model", identity=None):
        self.name = name
        if identity is not None:
            self.identity = identity
        self.calls = 0

    def encode(self, texts, *, show_progress=False):
        self.calls += 1
        rows = [np.random.default_rng(abs(hash(text)) % 2 ** 32).normal(size=self.dim)
                for text in texts]
        out = np.asarray(rows, np.float32).reshape(len(texts), self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _rewrite(path, **arrays):
    with path.open("wb") as handle:
        np.savez(handle, **arrays)


def _tamper_scaled(path):
    with np.load(path) as data:
        arrays = dict(data)
    arrays["vectors"][1] = 10 * arrays["vectors"][0]
    _rewrite(path, **arrays)


def _tamper_nan(path):
    with np.load(path) as data:
        arrays = dict(data)
    arrays["vectors"][:] = np.nan
    _rewrite(path, **arrays)


def _tamper_truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _tamper_dtype(path):
    with np.load(path) as data:
        arrays = dict(data)
    arrays["vectors"] = arrays["vectors"].astype(str)
    _rewrite(path, **arrays)


def _tamper_float64(path):
    with np.load(path) as data:
        arrays = dict(data)
    arrays["vectors"] = arrays["vectors"].astype(np.float64)
    _rewrite(path, **arrays)


def _tamper_other_encoder(path):
    # a valid cache written by another model, copied over this one's file
    from tagsmith.zeroshot.scorer import embed_cached

    other = path.parent / "other"
    embed_cached(_CountingEncoder(identity="another model"), ["x", "y", "z"], other)
    (next(other.glob("labels-*.npz"))).replace(path)


def _tamper_old_format(path):
    # the format before the cache recorded its encoder: vectors alone
    with np.load(path) as data:
        vectors = data["vectors"]
    _rewrite(path, vectors=vectors)


@pytest.mark.parametrize("tamper", [_tamper_scaled, _tamper_nan, _tamper_truncated,
                                    _tamper_dtype, _tamper_float64, _tamper_other_encoder,
                                    _tamper_old_format])
def test_damaged_embedding_cache_is_a_miss_and_rewritten(tmp_path, tamper, caplog):
    space = LabelSpace([Label("u:a", {"en": "cats"}), Label("u:b", {"en": "dogs"}),
                        Label("u:c", {"en": "tax law"})])
    fresh = ZeroShotClassifier(space, _CountingEncoder(), index="exact")
    encoder = _CountingEncoder()
    ZeroShotClassifier(space, encoder, cache_dir=tmp_path)
    assert encoder.calls == 1
    (path,) = tmp_path.glob("labels-*.npz")
    tamper(path)
    with caplog.at_level("WARNING", logger="tagsmith"):
        again = ZeroShotClassifier(space, encoder, cache_dir=tmp_path, index="exact")
    assert encoder.calls == 2  # embedded again, not read from the damaged file
    assert sum("ignoring the zero-shot embedding cache" in r.message
               for r in caplog.records) == 1
    np.testing.assert_array_equal(again.label_vectors, fresh.label_vectors)
    docs = np.asarray(fresh.embed(["cats and dogs", "income tax"]))
    expected, got = fresh.topk_from_embeddings(docs, 3), again.topk_from_embeddings(docs, 3)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.scores, expected.scores)
    assert np.abs(got.scores).max() <= 1.0 + 1e-5
    # the file was rewritten: the next build reads it without embedding
    assert [p.name for p in tmp_path.glob("labels-*.npz")] == [path.name]
    ZeroShotClassifier(space, encoder, cache_dir=tmp_path)
    assert encoder.calls == 2


def test_embedding_cache_keyed_by_encoder_identity_not_name(tmp_path):
    from tagsmith.zeroshot.encoder import model_identity

    first, second = tmp_path / "a" / "model", tmp_path / "b" / "model"
    for folder, weights in ((first, b"1" * 10), (second, b"2" * 11)):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(weights)
    assert model_identity(first) != model_identity(second)
    assert model_identity(first) == model_identity(first)
    assert model_identity(first, 128) != model_identity(first, 256)
    space = LabelSpace([Label("u:a", {"en": "cats"})])
    one = _CountingEncoder(identity=model_identity(first))
    two = _CountingEncoder(identity=model_identity(second))
    ZeroShotClassifier(space, one, cache_dir=tmp_path / "cache")
    ZeroShotClassifier(space, two, cache_dir=tmp_path / "cache")
    assert one.calls == two.calls == 1  # same folder name, yet no shared entry
    assert len(list((tmp_path / "cache").glob("labels-*.npz"))) == 2


def test_sentence_encoder_identity_covers_the_model_directory(encoder):
    from tagsmith.zeroshot.encoder import model_identity, packaged_model_path

    assert encoder.identity == model_identity(packaged_model_path(),
                                              encoder.model.max_seq_length)


def test_cli_zeroshot_tsv_escapes_control_characters_and_backslashes(tmp_path):
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:a>\tsport\x1b]0;pwned\x07\n<u:b>\tfood\\tdrink\n", encoding="utf-8")
    docs = tmp_path / "docs.txt"
    docs.write_text("The team won the final\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", str(vocab), str(docs), "--k", "2", "--format", "tsv",
        "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "\tsport\\x1b]0;pwned\\x07\t" in result.stdout and "\x1b" not in result.stdout
    # the label food\tdrink holds a backslash, not a tab: doubled, it reads back as it is
    assert "\tfood\\\\tdrink\t" in result.stdout


def test_vectors_the_cache_would_refuse_are_not_written(tmp_path):
    from tagsmith.zeroshot.scorer import embed_cached

    class Unnormalised(_CountingEncoder):
        def encode(self, texts, *, show_progress=False):
            return np.asarray(super().encode(texts), np.float64) * 3.0

    encoder = Unnormalised()
    first = embed_cached(encoder, ["a", "b"], tmp_path)
    assert first.dtype == np.float32 and not list(tmp_path.iterdir())  # nothing cached
    embed_cached(encoder, ["a", "b"], tmp_path)
    assert encoder.calls == 2


@pytest.mark.parametrize("kwargs", [{"k": None}, {"k": "10"}, {"k": 0}, {"weight": None},
                                    {"weight": True}, {"weight": 1.5}])
def test_blend_parameters_are_named(kwargs):
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.topk import TopK
    from tagsmith.zeroshot.scorer import blend_topk

    zs = TopK(np.array([[1, 0]]), np.array([[0.7, 0.3]], np.float32), 2)
    name = next(iter(kwargs))
    with pytest.raises(InvalidParameterError, match=name):
        blend_topk(None, zs, **{"k": 2, **kwargs})


class _TableEncoder:
    """A stand-in encoder that looks each text's unit vector up in ``table``."""

    name = "table"
    dim = 4

    def __init__(self, table):
        self.table = {text: np.asarray(v, np.float32) / np.linalg.norm(v)
                      for text, v in table.items()}

    def encode(self, texts, *, show_progress=False):
        return np.asarray([self.table[text] for text in texts], np.float32).reshape(-1, 4)


@pytest.mark.parametrize("index", ["exact", "hnsw"])
def test_label_with_many_close_alt_labels_does_not_crowd_out_the_others(index):
    pytest.importorskip("hnswlib")
    alts = [f"cat {i}" for i in range(10)]
    table = {"cats": [1, 0, 0, 0], "dogs": [0.5, 1, 0, 0], "money": [0.2, 0, 1, 0],
             **{alt: [1, 0.01 * (i + 1), 0, 0] for i, alt in enumerate(alts)}}
    space = LabelSpace([Label("u:a", {"en": "cats"}, {"en": alts}),
                        Label("u:b", {"en": "dogs"}), Label("u:c", {"en": "money"})])
    scorer = ZeroShotClassifier(space, _TableEncoder(table), index=index)
    query = np.array([[1, 0, 0, 0], [0.1, 0, 1, 0]], np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    topk = scorer.topk_from_embeddings(query, 3)
    # the 3 x 3 label rows fetched were all the cat's: dogs and money went missing
    assert topk.indices.tolist() == [[0, 1, 2], [2, 0, 1]]
    expected = np.maximum.reduceat(query @ scorer.label_vectors.T, [0, 11, 12], axis=1)
    np.testing.assert_allclose(topk.scores, np.take_along_axis(expected, topk.indices, 1),
                               atol=1e-5)


def test_a_bare_string_is_refused_not_scored_per_character(encoder):
    space = LabelSpace([Label("u:a", {"en": "cats"}), Label("u:b", {"en": "money"})])
    scorer = ZeroShotClassifier(space, encoder)
    with pytest.raises(InvalidParameterError, match="texts"):
        scorer.predict_topk("my cat sleeps", 1)  # was 13 rows, one per character
    with pytest.raises(InvalidParameterError, match="texts"):
        scorer.fit_background("my cat sleeps")
    with pytest.raises(InvalidParameterError, match="texts"):
        encoder.encode("my cat sleeps")
    with pytest.raises(InvalidParameterError, match=r"texts\[1\]"):
        scorer.predict_topk(["my cat", None], 1)
    assert scorer.predict_topk(("my cat", "a loan"), 1).indices.tolist() == [[0], [1]]


def test_a_lone_surrogate_is_refused_naming_the_text(encoder):
    """Half of a surrogate pair reached the tokenizer, whose TypeError ("TextEncodeInput
    must be Union[...]") named no text; a whole pair (an emoji) is fine."""
    with pytest.raises(InvalidParameterError, match=r"'texts\[1\]'.*lone surrogate"):
        encoder.encode(["fine", "ab\ud800", "ok"])
    assert encoder.encode(["an emoji \U0001f600"]).shape == (1, encoder.dim)


@pytest.mark.parametrize("template", ["{{}}", "{} {x}", "{}{}", "{} }", "{0}", "{:>10}", 3])
def test_template_must_have_exactly_one_plain_field(template):
    from tagsmith.zeroshot.scorer import label_texts

    space = LabelSpace([Label("u:a", {"en": "cats"}), Label("u:b", {"en": "money"})])
    with pytest.raises(InvalidParameterError, match="template"):
        label_texts(space, template=template)  # '{{}}' gave both labels the text '{}'
    assert label_texts(space, template="a {} {{json}}")[0] == ["a cats {json}",
                                                              "a money {json}"]


def test_labels_without_any_text_are_left_out_not_embedded_by_uri(caplog):
    from tagsmith.zeroshot.scorer import label_texts

    space = LabelSpace([Label("u:a", {"en": "cats"}), Label("http://x.org/p123"),
                        Label("u:c", {"fi": "raha"}),
                        Label("u:d", alt_labels={"en": ["loans"]}),
                        Label("u:e", description={"en": "weather and rain"}),
                        Label("u:f", {"en": ""})])
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, owners = label_texts(space)
    # the URIs 'http://x.org/p123' and 'u:f' were embedded as if they were names
    assert texts == ["cats", "raha", "loans", "weather and rain"]
    assert owners.tolist() == [0, 2, 3, 4]
    assert "2 labels without a name" in caplog.text and "are never" in caplog.text
    assert "http://x.org/p123" in caplog.text
    scorer = ZeroShotClassifier(space, _CountingEncoder())
    topk = scorer.predict_topk(["http://x.org/p123"], 6)
    assert {1, 5}.isdisjoint(topk.indices.ravel().tolist())
    with pytest.raises(InvalidParameterError, match="label_space"):
        ZeroShotClassifier(LabelSpace([Label("u:x")]), _CountingEncoder())


def test_a_language_no_label_is_named_in_is_warned_about(caplog):
    from tagsmith.zeroshot.scorer import label_texts

    space = LabelSpace([Label("u:a", {"en": "cats"}, {"en": ["felines"]}),
                        Label("u:b", {"en": "dogs", "de": "Hunde"})])
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, _ = label_texts(space, lang="fr")  # a mistyped or absent language
    assert texts == ["cats", "dogs"]
    # English first, as the CLI's warning says: "names in 'de', 'en' are used" did not
    assert ("no label has a name in language 'fr': each label's English name, else its "
            "first, is used instead (languages 'de', 'en'), and alternative labels and "
            "descriptions (read in 'fr' or a variant of it only) are not") in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        label_texts(space, lang="de")  # one label named in it: a partial vocabulary
    assert "no label has a name" not in caplog.text


def test_labels_unnamed_in_the_language_among_named_ones_are_warned_about(caplog):
    """A thesaurus's new concepts named in Finnish and Swedish before they are
    translated (YSO), zero-shot in English: each was embedded by its Finnish name,
    which the English encoder matches poorly, and nothing said so: another language
    than --lang was warned about only where no label at all has a name in it."""
    from tagsmith.zeroshot.scorer import label_texts

    space = LabelSpace([
        Label("http://www.yso.fi/onto/yso/p10", {"fi": "ympäristötietoisuus",
                                                 "en": "environmental awareness"}),
        Label("http://www.yso.fi/onto/yso/p3000", {"fi": "saunominen", "sv": "bastubadande"},
              {"fi": ["saunassa käynti"]}),
        Label("http://www.yso.fi/onto/yso/p4000", {"fi": "vanha"}, deprecated=True),
        Label("http://www.yso.fi/onto/yso/p5000", {"sv": "återvinning", "en-GB": "recycling"}),
    ])
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, owners = label_texts(space, lang="en")
    assert texts == ["environmental awareness", "saunominen", "recycling"]
    assert owners.tolist() == [0, 1, 3]
    assert ("1 label has no name in language 'en' (e.g. <http://www.yso.fi/onto/yso/p3000> "
            "'saunominen' (fi)): it is embedded by its name in another language (English, "
            "else the first); alternative labels and descriptions are read in 'en' or a "
            "variant of it only") in caplog.text
    assert "no label has a name" not in caplog.text  # some are: not that warning
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, _ = label_texts(space, lang="fi")
    assert texts == ["ympäristötietoisuus", "saunominen", "saunassa käynti", "recycling"]
    # the deprecated concept, never embedded, is not counted
    assert ("1 label has no name in language 'fi' (e.g. <http://www.yso.fi/onto/yso/p5000> "
            "'recycling' (en-GB)): it is embedded by its name in another language") in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        label_texts(LabelSpace([Label("u:a", {"en": "cats"}), Label("u:b", {"en": "dogs"})]))
    assert "no name in language" not in caplog.text


def test_a_regional_language_tag_falls_back_to_the_vocabularys_language(caplog):
    """lang="en-GB" over an English vocabulary (or "en" over a British one): the English
    names, alternative labels and descriptions, as LabelSpace.name_of finds them, and
    no warning that no label is named in the language."""
    from tagsmith.zeroshot.scorer import label_texts

    space = LabelSpace([Label("u:a", {"de": "Katzen", "en": "cats"},
                              {"de": ["Stubentiger"], "en": ["felines"]},
                              description={"de": "Haustiere", "en": "small pets"}),
                        Label("u:b", {"de": "Hunde", "EN-gb": "dogs"}, {"en-GB": ["hounds"]})])
    expected = (["cats", "felines", "cats: small pets", "dogs", "hounds"], [0, 0, 0, 1, 1])
    for lang in ("en-GB", "en", "EN", "en-US"):
        caplog.clear()
        with caplog.at_level("WARNING", logger="tagsmith"):
            texts, owners = label_texts(space, lang=lang)
        assert (texts, owners.tolist()) == expected, lang
        assert "no label has a name" not in caplog.text


def test_labels_sharing_a_name_tie_by_lower_id_whatever_k():
    """Labels with the same name have the same vector and tie. Exact search let
    np.argpartition choose among ties at the k-th place, so --k 10 suggested labels
    1..9 and 12 of forty labels named 'cats' (not the lower ids first, as TopK ranks
    ties), and the search's top k was not a prefix of its top k + 1."""
    space = LabelSpace([Label("u:dog", {"en": "dogs"})]
                       + [Label(f"u:cat{i}", {"en": "cats"}) for i in range(40)])
    scorer = ZeroShotClassifier(space, _TableEncoder({"cats": [1, 0, 0, 0],
                                                      "dogs": [0, 1, 0, 0]}), index="exact")
    query = np.array([[1, 0, 0, 0], [1, 0.1, 0, 0]], np.float32)
    for k in (1, 3, 10, 25, 40):
        assert scorer.topk_from_embeddings(query, k).indices.tolist() == \
            [list(range(1, k + 1))] * 2, k
    vectors = np.tile(np.eye(1, 8, dtype=np.float32), (1000, 1))
    vectors[::7] = np.eye(1, 8, 1, dtype=np.float32)  # fewer tied rows, still most
    everything, _ = ExactIndex(vectors).search(vectors[:1], 1000)
    for k in (1, 2, 5, 50, 500, 999):
        assert ExactIndex(vectors).search(vectors[:1], k)[0][0].tolist() == \
            everything[0, :k].tolist(), k


def test_a_vocabulary_of_deprecated_labels_alone_is_refused_saying_so(tmp_path):
    """Every label deprecated read "must be at least one label with a name", which sent
    users looking for missing names (and with --bundle the bundle was blamed)."""
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    from conftest import FAST_FEATURES

    space = LabelSpace([Label("u:a", {"en": "cats"}, deprecated=True),
                        Label("u:b", {"en": "money"}, deprecated=True)])
    with pytest.raises(InvalidParameterError, match="label_space") as refused:
        ZeroShotClassifier(space, _CountingEncoder())
    assert "not deprecated" in str(refused.value) and "2 labels" in str(refused.value)
    with pytest.raises(InvalidParameterError, match="with a name"):  # not deprecated: nameless
        ZeroShotClassifier(LabelSpace([Label("u:x"), Label("u:y", deprecated=True)]),
                           _CountingEncoder())
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en,deprecated\nu:sport,sport,true\nu:food,food,yes\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("The team won the final\n")
    trained = LabelSpace([Label("u:sport", {"en": "sport"}), Label("u:old", {"en": "old"})])
    texts = ["the team won the final", "an old story"] * 5
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 5, np.float32))
    train_classifier(texts, Y, trained, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES)).save(tmp_path / "b")
    for extra in ([], ["--bundle", str(tmp_path / "b")]):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "zeroshot", str(vocab), str(docs), "--cache-dir", "", *extra])
        assert result.exit_code == 3 and result.stdout == "", result.output
        assert str(vocab) in result.stderr and "every label is deprecated" in result.stderr


def test_blend_checks_that_both_top_ks_name_the_same_labels():
    """A TopK holds ids alone: a model of another vocabulary of the same size, or of the
    same labels in another order, was blended id by id with no word. Given the two label
    spaces, blend_topk checks that every model id names the same URI."""
    model = TopK(np.array([[0, 1]]), np.array([[0.9, 0.2]]), 2)
    zs = TopK(np.array([[1, 0]]), np.array([[0.7, 0.3]]), 2)
    trained = LabelSpace.from_uris(["u:a", "u:b"])
    for other, where in ((LabelSpace.from_uris(["u:x", "u:y"]), "id 0 is 'u:a'"),
                         (LabelSpace.from_uris(["u:a", "u:c"]), "id 1 is 'u:b'"),
                         (LabelSpace.from_uris(["u:b", "u:a"]), "id 0 is 'u:a'")):
        with pytest.raises(InvalidParameterError, match="model_space") as refused:
            blend_topk(model, zs, k=2, model_space=trained, zeroshot_space=other)
        assert where in str(refused.value) and "LabelSpace.updated" in str(refused.value)
    # a vocabulary merged into the model's keeps its ids: a new label after them is fine
    bigger = trained.updated(LabelSpace.from_uris(["u:b", "u:new", "u:a"]))
    wider = TopK(np.array([[2, 1, 0]]), np.array([[0.7, 0.3, 0.1]]), 3)
    checked = blend_topk(model, wider, k=3, model_space=trained, zeroshot_space=bigger)
    plain = blend_topk(model, wider, k=3)
    np.testing.assert_array_equal(checked.indices, plain.indices)
    np.testing.assert_array_equal(checked.scores, plain.scores)
    assert blend_topk(None, zs, k=2, zeroshot_space=trained).indices.tolist() == [[1, 0]]
    with pytest.raises(InvalidParameterError, match="'model_space'.*both label spaces"):
        blend_topk(model, zs, k=2, zeroshot_space=trained)
    with pytest.raises(InvalidParameterError, match="'zeroshot_space'.*both label spaces"):
        blend_topk(model, zs, k=2, model_space=trained)
    with pytest.raises(InvalidParameterError, match="'zeroshot_space'.*2 labels"):
        blend_topk(model, zs, k=2, model_space=trained, zeroshot_space=bigger)
    with pytest.raises(InvalidParameterError, match="'model_space'.*LabelSpace"):
        blend_topk(model, zs, k=2, model_space=["u:a", "u:b"], zeroshot_space=trained)
    with pytest.raises(InvalidParameterError, match="'model_space'.*3 labels, more"):
        blend_topk(TopK(np.array([[0]]), np.array([[0.9]]), 3), zs, k=2,
                   model_space=bigger, zeroshot_space=trained)


def test_an_empty_document_gets_no_zero_shot_suggestion(encoder, caplog):
    """An empty or whitespace-only text was embedded (as ".") and got the same labels
    as every other empty text, with scores that looked like evidence; alone or blended
    with a trained model."""
    space = LabelSpace([Label("u:a", {"en": "cats"}), Label("u:b", {"en": "money"})])
    scorer = ZeroShotClassifier(space, encoder)
    texts = ["", "a tabby cat", " \t\n", "bank loans"]
    with caplog.at_level("WARNING", logger="tagsmith"):
        topk = scorer.predict_topk(texts, 2)
    assert "2 of 4 documents are empty" in caplog.text
    assert topk.valid.sum(axis=1).tolist() == [0, 2, 0, 2]
    filled = scorer.predict_topk(["a tabby cat", "bank loans"], 2)
    np.testing.assert_array_equal(topk.indices[[1, 3]], filled.indices)
    # equal to float32 rounding: a product of 4 rows and of 2 may round apart in the
    # last bit on some CPUs (it failed on one machine by 1.2e-07)
    np.testing.assert_allclose(topk.scores[[1, 3]], filled.scores, rtol=0, atol=1e-6)
    model = TopK(np.array([[1, 0]] * 4), np.array([[0.9, 0.1]] * 4), 2)  # a model's priors
    for weight in (0.0, 0.5, 1.0):
        blended = blend_topk(model, topk, weight=weight, k=2)
        assert blended.valid.sum(axis=1).tolist() == [0, 2, 0, 2], weight
    assert scorer.predict_topk(["", " "], 2).indices.tolist() == [[-1, -1]] * 2


def test_cli_zeroshot_gives_an_empty_document_no_suggestion(tmp_path):
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    from conftest import FAST_FEATURES

    trained = LabelSpace([Label("u:sport", {"en": "sport"}), Label("u:food", {"en": "food"})])
    texts = ["the team won the final", "bread and cake"] * 5
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 5, np.float32))
    train_classifier(texts, Y, trained, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES)).save(tmp_path / "b")
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    docs = tmp_path / "docs.txt"
    # a line with no text before its TAB is refused (test_cli); empty documents come
    # from --whole-file below
    docs.write_text("I baked bread\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text(" \n\n")
    args = ["-q", "zeroshot", str(vocab), "--k", "2", "--cache-dir", ""]
    for extra in ([], ["--bundle", str(tmp_path / "b")]):
        result = CliRunner().invoke(tagsmith_cli.cli, [*args, str(docs), *extra])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [line["doc"] for line in lines] == [f"{docs}:1"]
        assert len(lines[0]["suggestions"]) == 2
        result = CliRunner().invoke(tagsmith_cli.cli, [
            *args, "--whole-file", str(tmp_path / "empty.txt"), str(tmp_path / "blank.txt"),
            *extra])
        assert result.exit_code == 0, result.output
        assert [json.loads(line)["suggestions"] for line in result.stdout.splitlines()] \
            == [[], []]


def test_cli_word_less_documents_in_zeroshot_and_suggest_as_the_readme_says(tmp_path):
    """The README said a line with nothing before its tab gets no zero-shot suggestion
    (it is refused naming file:line, in suggest too), and said nothing of suggest, which
    answers an empty document with its model's scores of no features; a line of
    punctuation alone got zero-shot labels."""
    _save_small_bundle(tmp_path / "b", ["sport", "food"], [
        ("the team won the final", 0), ("bread and cake", 1), ("cake again", 1)])
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("I baked bread\n...\n\n \t \n?! --\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    tabbed = tmp_path / "tabbed.txt"
    tabbed.write_text("fine\n\tu:food\n")
    zeroshot = ["-q", "zeroshot", str(vocab), "--k", "2", "--cache-dir", ""]
    for extra in ([], ["--bundle", str(tmp_path / "b")]):
        result = CliRunner().invoke(tagsmith_cli.cli, [*zeroshot, str(docs), *extra])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        # blank lines get no record; punctuation alone a record without suggestions
        assert [line["doc"] for line in lines] == [f"{docs}:{n}" for n in (1, 2, 5)]
        assert [len(line["suggestions"]) for line in lines] == [2, 0, 0]
    suggest = ["-q", "suggest", str(tmp_path / "b"), "--k", "2", "--threshold", "0"]
    result = CliRunner().invoke(tagsmith_cli.cli, [*suggest, "--whole-file", str(empty)])
    assert result.exit_code == 0, result.output
    assert [s["uri"] for s in json.loads(result.stdout)["suggestions"]][:1] == ["u:food"]
    for command in (zeroshot, suggest):
        result = CliRunner().invoke(tagsmith_cli.cli, [*command, str(tabbed)])
        assert result.exit_code != 0 and f"{tabbed}:2" in result.output, command
        assert "no text before the TAB" in result.output

def test_zeroshot_whole_file_empty_stdin_gets_a_record_without_suggestions(tmp_path):
    """An empty --whole-file file gets a record with no suggestion (README); empty
    stdin, one document as well under --whole-file, got no record at all."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    for text in ("", " \n"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "zeroshot", str(vocab), "--k", "2", "--cache-dir", "", "--whole-file"],
            input=text)
        assert result.exit_code == 0, result.output
        assert [json.loads(line) for line in result.stdout.splitlines()] == [
            {"doc": "stdin", "suggestions": []}]

def test_hnsw_ties_by_lower_id_like_exact_search():
    """hnswlib's top k took whichever of the rows tied with the k-th best its graph
    search met first: of forty labels named "cats", --index hnsw suggested labels 220,
    214, ... where exact search gives 200, 201, ..., and which changed with k and with
    the build. The whole candidate list is now ranked by score, then row id."""
    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(0)
    other = rng.normal(size=(500, 16)).astype(np.float32)
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    cat = np.eye(1, 16, dtype=np.float32)
    vectors = np.vstack([other[:200], np.tile(cat, (40, 1)), other[200:]])
    queries = np.vstack([cat, cat + 0.05 * rng.normal(size=(1, 16)).astype(np.float32)])
    exact = ExactIndex(vectors)
    for threads in (1, 2):
        index = HnswIndex(vectors, n_threads=threads)
        for k in (1, 5, 10, 30, 40, 45):
            ids, sims = index.search(queries, k)
            expected_ids, expected_sims = exact.search(queries, k)
            np.testing.assert_array_equal(ids, expected_ids, err_msg=f"k={k}")
            np.testing.assert_allclose(sims, expected_sims, atol=1e-5)
    table = {"cats": [1, 0, 0, 0], "dogs": [0, 1, 0, 0]}
    space = LabelSpace([Label("u:dog", {"en": "dogs"})]
                       + [Label(f"u:cat{i}", {"en": "cats"}) for i in range(40)])
    scorer = ZeroShotClassifier(space, _TableEncoder(table), index="hnsw")
    query = np.array([[1, 0, 0, 0], [1, 0.1, 0, 0]], np.float32)
    for k in (1, 3, 10, 25):
        assert scorer.topk_from_embeddings(query, k).indices.tolist() == \
            [list(range(1, k + 1))] * 2, k


def test_cli_zeroshot_blend_takes_the_models_best_labels_in_vocab(tmp_path):
    """The model's top k was taken before the labels outside VOCAB were dropped: a
    document whose best model labels are not in VOCAB lost the model's share of the
    labels that are, and at --weight 0 (the model alone) got fewer than k suggestions,
    or none, though the model scores every label of VOCAB."""
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    from conftest import FAST_FEATURES

    trained = LabelSpace([Label("u:old", {"en": "old"}), Label("u:sport", {"en": "sport"}),
                          Label("u:past", {"en": "past"}), Label("u:food", {"en": "food"})])
    texts = ["old times", "the team won the final", "old past times",
             "bread and soup for dinner"] * 5
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]] * 5,
                               np.float32))
    train_classifier(texts, Y, trained, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES)).save(
        tmp_path / "b")
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")  # old, past: dropped
    docs = tmp_path / "docs.txt"
    docs.write_text("old times past\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", str(vocab), str(docs), "--k", "2", "--cache-dir", str(tmp_path),
        "--bundle", str(tmp_path / "b"), "--weight", "0"])
    assert result.exit_code == 0, result.output
    suggested = {s["uri"] for s in json.loads(result.stdout)["suggestions"]}
    assert suggested == {"u:sport", "u:food"}


def test_blank_label_names_count_as_no_name(caplog):
    """A name, alternative label or description of spaces alone was embedded (as the
    encoder embeds a blank text: as '.'), so a label named '  ' was suggested for
    whatever sits near '.', and a blank English name hid the label's name in another
    language."""
    from tagsmith.zeroshot.scorer import label_texts

    space = LabelSpace([Label("u:a", {"en": "cats"}, {"en": [" ", "felines"]},
                              description={"en": "\t"}),
                        Label("u:b", {"en": "  "}),
                        Label("u:c", {"en": " ", "fi": "raha"}, {"en": ["\n"]})])
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, owners = label_texts(space)
    assert texts == ["cats", "felines", "raha"]
    assert owners.tolist() == [0, 0, 2]
    assert "1 label without a name" in caplog.text and "is never" in caplog.text
    assert "u:b" in caplog.text


def test_hnsw_searches_of_other_depths_from_several_threads_answer_as_alone():
    """Each search sets the shared index's query depth (``ef``) from its ``k`` and then
    queries it: a search in another thread set its own depth in between, and a web
    service asking for 5 labels got a different top 5 while another request asked for
    100 (checked against the same searches one at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.normal(size=(64, 24)).astype(np.float32)
    # a sparse graph searched shallowly: the depth changes the answers
    index = HnswIndex(vectors, M=4, ef_construction=20, ef=10, n_threads=1)
    alone = {k: index.search(queries, k) for k in (5, 100)}

    def search(i: int) -> bool:
        k = (5, 100)[i % 2]
        ids, sims = index.search(queries, k)
        return np.array_equal(ids, alone[k][0]) and np.array_equal(sims, alone[k][1])

    with ThreadPoolExecutor(8) as pool:
        same = list(pool.map(search, range(400)))
    assert all(same), f"{same.count(False)} of {len(same)} concurrent searches differ"


def test_concurrent_first_searches_build_one_label_index():
    """The label index is built on first use: requests arriving together each found
    none and built their own (an HNSW graph over a large label space takes minutes and
    its memory, once per thread), and answered from graphs that differ in a few links
    from the one kept."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    pytest.importorskip("hnswlib")
    space = LabelSpace([Label(f"u:{i}", {"en": f"label {i}"}) for i in range(3000)])
    scorer = ZeroShotClassifier(space, _CountingEncoder(), index="hnsw")
    start = Barrier(8)

    def first_use(_):
        start.wait()
        return scorer.index

    with ThreadPoolExecutor(8) as pool:
        indexes = list(pool.map(first_use, range(8)))
    assert len({id(index) for index in indexes}) == 1
    assert scorer.index is indexes[0]


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_a_used_zeroshot_classifier_pickles(kind):
    """A multiprocessing pool pickles its arguments: a classifier that had answered
    failed with "cannot pickle '_thread.lock' object" (its index's and its own locks,
    which made every request wait for one index). A copy answers the same, with locks
    of its own."""
    import pickle

    if kind == "hnsw":
        pytest.importorskip("hnswlib")
    space = LabelSpace([Label(f"u:{i}", {"en": f"label {i}"}) for i in range(50)])
    scorer = ZeroShotClassifier(space, _CountingEncoder(), index=kind)
    texts = ["a document", "another one"]
    before = scorer.predict_topk(texts, k=5)
    copy = pickle.loads(pickle.dumps(scorer))
    after = copy.predict_topk(texts, k=5)
    np.testing.assert_array_equal(after.indices, before.indices)
    np.testing.assert_array_equal(after.scores, before.scores)
    assert copy._index_lock is not scorer._index_lock
    if kind == "hnsw":
        assert copy.index._lock is not scorer.index._lock


def test_blank_background_documents_are_left_out_of_the_hubness(caplog):
    """A blank background text was embedded (as "." by the packaged encoder) and
    counted toward every label row's hubness, where predict_topk gives a blank
    document no suggestion at all."""
    space = LabelSpace([Label(f"u:{i}", {"en": f"label {i}"}) for i in range(5)])
    texts = [f"document {i}" for i in range(6)]
    plain = ZeroShotClassifier(space, _CountingEncoder()).fit_background(texts, neighbors=3)
    scorer = ZeroShotClassifier(space, _CountingEncoder())
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        scorer.fit_background(["", *texts[:3], " \n", *texts[3:], "\t"], neighbors=3)
    np.testing.assert_array_equal(scorer.hubness, plain.hubness)
    assert "3 of 9 background documents are empty or have no letter or digit" in caplog.text
    with pytest.raises(InvalidParameterError, match="every one blank"):
        scorer.fit_background(["", "  "])


def test_label_zeroshot_shortlist_leaves_blank_documents_out_of_the_background(monkeypatch):
    """`label --shortlist-zeroshot` fitted the hubness correction on the embeddings of
    every document, blank ones (embedded as '.') included."""
    from tagsmith.cli import llm_commands
    from tagsmith.zeroshot import scorer as scorer_module

    seen: list[np.ndarray] = []
    original = scorer_module.ZeroShotClassifier.fit_background

    def spy(self, texts=None, *, vectors=None, **kwargs):
        seen.append(vectors)
        return original(self, texts, vectors=vectors, **kwargs)

    monkeypatch.setattr(scorer_module.ZeroShotClassifier, "fit_background", spy)
    space = LabelSpace([Label(f"u:{i}", {"en": name}) for i, name in
                        enumerate(["joy", "anger", "sadness", "surprise"])])
    texts = [f"text number {i} about feelings" for i in range(llm_commands.MIN_BACKGROUND)]
    texts[3:3] = ["", "   "] * 10  # twenty blank documents among them
    shortlist, _ = llm_commands._shortlists(texts, space, None, True, 2, False)
    assert len(shortlist) == len(texts)
    # the hundred written documents, none of the blank ones
    assert len(seen) == 1 and len(seen[0]) == llm_commands.MIN_BACKGROUND


def test_documents_and_label_texts_without_a_letter_or_digit_count_as_blank(caplog):
    """Punctuation alone ('...', '?!', '--') was embedded like any text: such a document
    got confident-looking labels (the same for every one of them, as an empty text did),
    and a label named '?' was suggested for whatever sits near punctuation."""
    from tagsmith.zeroshot.scorer import label_texts

    space = LabelSpace([Label("u:a", {"en": "cats"}, {"en": ["!!", "felines"]},
                              description={"en": "..."}),
                        Label("u:b", {"en": "?"}),
                        Label("u:c", {"en": "--", "fi": "raha"}),
                        Label("u:d", {"en": "__"}, description={"en": "weather"}),
                        Label("u:e", {"en": "R2"})])
    with caplog.at_level("WARNING", logger="tagsmith"):
        texts, owners = label_texts(space)
    assert texts == ["cats", "felines", "raha", "weather", "R2"]
    assert owners.tolist() == [0, 0, 2, 3, 4]
    assert "1 label without a name" in caplog.text and "u:b" in caplog.text
    scorer = ZeroShotClassifier(space, _CountingEncoder())
    docs = ["...", "cats and felines", "?! --", "\u2014 \U0001F600", "42", "Straße"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        topk = scorer.predict_topk(docs, 2)
    assert "3 of 6 documents are empty or without a letter or digit" in caplog.text
    assert topk.valid.sum(axis=1).tolist() == [0, 2, 0, 0, 2, 2]
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        scorer.predict_topk(["!", "cats"], 2)
    assert "1 of 2 documents is empty or without a letter or digit: no zero-shot " \
           "suggestion for it" in caplog.text
    with pytest.raises(InvalidParameterError, match="every one blank or punctuation"):
        scorer.fit_background(["...", "?!"])


def _save_small_bundle(path, names, examples, repeat=5):
    """Train and save a small TF-IDF bundle over labels ``u:NAME`` from ``(text, label
    index)`` examples, each repeated ``repeat`` times (the CLI tests' trained model)."""
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    from conftest import FAST_FEATURES

    space = LabelSpace([Label(f"u:{name}", {"en": name}) for name in names])
    texts = [text for text, _ in examples] * repeat
    Y = np.zeros((len(examples), len(names)), np.float32)
    Y[np.arange(len(examples)), [label for _, label in examples]] = 1
    train_classifier(texts, sp.csr_matrix(np.tile(Y, (repeat, 1))), space,
                     options=TrainOptions(dev_fraction=0.0,
                                          featurizer_params=FAST_FEATURES)).save(path)


def test_cli_zeroshot_on_a_folder_names_documents_as_the_corpus_reader_does(tmp_path):
    """zeroshot named a folder's documents by path (docs/a.txt) where the corpus reader
    (train, eval, audit, label) names them by stem (a): the two never joined. Now its
    ids, selection and order are the corpus reader's; two folders whose files share a
    stem are refused naming both files."""
    from tagsmith.data.readers import read_records

    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "match.txt").write_text("The team won the final\n")
    (docs / "bread.txt").write_text("I baked bread and a cake\n")
    (docs / "notes.TXT").write_text("not read")
    (docs / ".hidden.txt").write_text("not read")
    args = ["-q", "zeroshot", str(vocab), "--k", "1", "--cache-dir", str(tmp_path)]
    result = CliRunner().invoke(tagsmith_cli.cli, [*args, str(docs)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["doc"] for line in lines] == [r.doc_id for r in read_records(docs)] \
        == ["bread", "match"]
    assert [line["suggestions"][0]["label"] for line in lines] == ["food", "sport"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "match.txt").write_text("A marathon runner")
    result = CliRunner().invoke(tagsmith_cli.cli, [*args, str(docs), str(other)])
    assert result.exit_code == 3, result.output
    assert (f"{other}/match.txt: the id 'match' repeats: it is the id of the document at "
            f"{docs}/match.txt too") in result.output


def test_cli_zeroshot_blend_gives_the_same_best_labels_whatever_k(tmp_path):
    """The blend turned zero-shot cosines into a distribution over the top k alone and
    dropped the model's scores outside its top k, so --k decided the ranking: with --k 1
    a label the model does not know got the whole zero-shot share (a document on a rainy
    day and a cat was 'weather' at --k 1, 'cats' at --k 2). Both sides now give the same
    candidates whatever k, and --k N is the first N of a wider --k."""
    _save_small_bundle(tmp_path / "b", ["cats", "dogs", "finance"], [
        ("my cat sleeps on the couch", 0), ("the kitten chased a mouse", 0),
        ("the dog barked loudly", 1), ("puppy training at the park", 1),
        ("the bank raised interest rates", 2), ("mortgage loans are expensive", 2)])
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:cats,cats\nu:dogs,dogs\nu:finance,finance\n"
                     "u:weather,weather\nu:animals,animals\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("Rainy weather kept the cat indoors.\nA kitten and a puppy played in "
                    "the rain.\nAnimals at the zoo were wet from the storm.\nThe bank lent "
                    "money to a pet shop selling puppies.\n")
    out = {}
    for k in ("1", "2", "5"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "zeroshot", str(vocab), str(docs), "--k", k, "--cache-dir", str(tmp_path),
            "--bundle", str(tmp_path / "b"), "--weight", "0.5"])
        assert result.exit_code == 0, result.output
        out[int(k)] = [json.loads(line)["suggestions"] for line in result.stdout.splitlines()]
    assert [len(s) for s in out[5]] == [5] * 4
    for k in (1, 2):
        assert out[k] == [suggestions[:k] for suggestions in out[5]]


def test_cli_zeroshot_threshold_keeps_the_suggestions_scoring_at_least_it(
        tmp_path, monkeypatch, encoder):
    """`tagsmith zeroshot` had --k alone to limit its output, while `suggest` has
    --threshold: a new vocabulary's user could not ask for "labels scoring at least S".
    It applies to the score printed (after blending with --bundle), within the --k best."""
    import tagsmith.zeroshot.encoder as encoder_module

    # the session's encoder, not one loaded per command (a few seconds each)
    monkeypatch.setattr(encoder_module, "SentenceEncoder", lambda: encoder)
    _save_small_bundle(tmp_path / "b", ["sport", "food"], [
        ("the team won the final", 0), ("bread and soup", 1)])
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\nu:music,music\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("The team won the final\nI baked bread and a cake\n")
    base = ["-q", "zeroshot", str(vocab), str(docs), "--k", "3", "--cache-dir", str(tmp_path)]
    for extra in ([], ["--bundle", str(tmp_path / "b")]):
        def run(*options, extra=extra):
            result = CliRunner().invoke(tagsmith_cli.cli, [*base, *extra, *options])
            assert result.exit_code == 0, result.output
            return [json.loads(line) for line in result.stdout.splitlines()]

        everything = run()
        scores = [[s["score"] for s in line["suggestions"]] for line in everything]
        assert [len(row) for row in scores] == [3, 3]
        # between the first document's best and second: its best alone, and of the
        # other document those at least as high
        cut = (scores[0][0] + scores[0][1]) / 2
        kept = run("--threshold", str(cut))
        assert [line["doc"] for line in kept] == [line["doc"] for line in everything]
        assert kept[0]["suggestions"] == everything[0]["suggestions"][:1]
        assert kept[1]["suggestions"] == [s for s in everything[1]["suggestions"]
                                          if s["score"] >= cut]
        # above every score: each document keeps its record, with no suggestion
        top = max(max(row) for row in scores)
        assert [line["suggestions"] for line in run("--threshold", str(top + 1e-3))] \
            == [[], []]
        result = CliRunner().invoke(tagsmith_cli.cli, [*base, *extra, "--format", "tsv",
                                                       "--threshold", str(cut)])
        assert result.exit_code == 0, result.output
        assert len(result.stdout.splitlines()) == 1 + len(kept[1]["suggestions"])
    # a blended score is in [0, 1], a cosine in [-1.5, 1.5] at most: refused, by name
    for options in (["--bundle", str(tmp_path / "b"), "--threshold", "1.2"],
                    ["--threshold", "2"], ["--threshold", "nan"]):
        result = CliRunner().invoke(tagsmith_cli.cli, [*base, *options])
        assert result.exit_code == 2 and result.stdout == "", result.output
        assert "'--threshold'" in result.stderr


@pytest.mark.parametrize("threshold", ["1.2", "-1.2"])
def test_cli_zeroshot_threshold_past_a_cosine_is_refused_without_background(tmp_path,
                                                                            threshold):
    """Without --background a score is a cosine, in [-1, 1]; --threshold took up to 1.5
    (the range with --background): 1.2 gave every document no suggestion, -1.2 kept
    all --k, without a word."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("The team won the final\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", str(vocab), str(docs), "--cache-dir", str(tmp_path),
        "--threshold", threshold])
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert "'--threshold': expected a number in [-1, 1] without --background (a cosine)" \
        in result.stderr


def test_cli_zeroshot_threshold_compares_the_score_it_prints(tmp_path, monkeypatch, encoder):
    """--threshold compared the unrounded score while the output showed it to 6
    decimals: 0.4999996 printed as 0.5 but was dropped at --threshold 0.5."""
    import dataclasses

    import tagsmith.zeroshot.encoder as encoder_module
    from tagsmith.zeroshot.scorer import ZeroShotClassifier

    monkeypatch.setattr(encoder_module, "SentenceEncoder", lambda: encoder)
    predict = ZeroShotClassifier.predict_topk

    def below_what_is_printed(self, texts, k=10, **options):
        # each score 4e-7 under the 6-decimal value it prints as
        topk = predict(self, texts, k, **options)
        return dataclasses.replace(topk, scores=(
            np.round(topk.scores.astype(np.float64), 6) - 4e-7).astype(topk.scores.dtype))

    monkeypatch.setattr(ZeroShotClassifier, "predict_topk", below_what_is_printed)
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\nu:music,music\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("The team won the final\nI baked bread and a cake\n")
    base = ["-q", "zeroshot", str(vocab), str(docs), "--k", "3", "--cache-dir", str(tmp_path)]

    def run(*options):
        result = CliRunner().invoke(tagsmith_cli.cli, [*base, *options])
        assert result.exit_code == 0, result.output
        return [json.loads(line)["suggestions"] for line in result.stdout.splitlines()]

    everything = run()
    cut = everything[0][1]["score"]  # the first document's second best, as printed
    kept = run("--threshold", repr(cut))
    assert kept == [[s for s in row if s["score"] >= cut] for row in everything]
    assert kept[0] == everything[0][:2]


@pytest.mark.parametrize("root_level, shown", [(logging.INFO, False), (logging.DEBUG, True)])
def test_encoder_load_says_nothing_through_sentence_transformers_unless_asked(
        caplog, root_level, shown):
    # without -q, sentence-transformers' "Loading SentenceTransformer model from ..."
    # (INFO) came out on every load: transformers was quieted, sentence-transformers
    # (Python logging) was not; with -vv (root at DEBUG) the libraries' messages show
    from tagsmith.zeroshot.encoder import SentenceEncoder

    st_logger = logging.getLogger("sentence_transformers")
    before = st_logger.level
    caplog.set_level(root_level)
    SentenceEncoder()
    said = [r for r in caplog.records if r.name.startswith("sentence_transformers")]
    assert bool(said) == shown
    assert st_logger.level == before  # as it was, once loaded


def test_cli_taxonomy_maps_by_meaning_with_the_packaged_encoder(tmp_path, caplog):
    """taxonomy --map-to matched by spelling alone: 'Dogs' never met 'Canines'. With
    --map-by meaning (the packaged encoder, as zeroshot loads it) it does, and the
    printed lines, the JSON summary, the CSV's closematch column and the SKOS
    closeMatch agree; an unrelated label still gets no match at the default 0.5."""
    import csv

    from tagsmith.testing.llm_server import LocalChatServer

    pytest.importorskip("rdflib")  # --skos
    table = taxonomy_table(
        ("Dogs", "Posts about pet dogs."),
        ("Zebra husbandry", "Keeping striped horses."))
    docs = tmp_path / "docs.txt"
    docs.write_text("my dog barks\nthe zebra eats\n", encoding="utf-8")
    target = tmp_path / "existing.csv"
    target.write_text("uri,label_en,description_en\nv:canines,Canines,"
                      "\"Dogs, wolves and foxes.\"\nv:refund,Reimbursement,\n", encoding="utf-8")
    out, ttl = tmp_path / "t.csv", tmp_path / "t.ttl"
    args = ["taxonomy", str(docs), "--use-case", "pet forum", "-o", str(out), "--sample", "2",
            "--no-summaries", "--llm", "m", "--cache", str(tmp_path / "c.db"),
            "--map-to", str(target)]
    with LocalChatServer(lambda body: table) as server:
        by_spelling = CliRunner().invoke(tagsmith_cli.cli, [*args, "--base-url",
                                                            server.base_url])
        assert by_spelling.exit_code == 0, by_spelling.output
        assert "map 'Dogs' -> no match" in by_spelling.stdout
        # the embeddings cached in the test's folder, not in ~/.cache (the default, read
        # from HOME when tagsmith is imported): the run is then the same on a CI runner
        # with an empty home and here, where earlier runs had cached them
        with caplog.at_level("INFO", logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [
                *args, "--base-url", server.base_url, "--map-by", "meaning", "--skos",
                str(ttl), "--cache-dir", str(tmp_path / "embeddings")])
    assert result.exit_code == 0, result.output
    # the vocabulary's embedding shows its progress (STW's: minutes of silence)
    assert any(r.getMessage().startswith("embedding: ") for r in caplog.records), \
        caplog.records
    dogs, zebra = json.loads(result.stderr.strip().splitlines()[-1])["mapping"]
    assert (dogs["match_uri"], zebra["match_uri"]) == ("v:canines", None)
    assert dogs["similarity"] >= 0.5 > zebra["similarity"]
    assert f"map 'Dogs' -> 'Canines' ({dogs['similarity']:.2f})" in result.stdout
    assert "map 'Zebra husbandry' -> no match" in result.stdout
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [row["closematch"] for row in rows] == ["v:canines", ""]
    assert load_vocabulary(ttl) == load_vocabulary(out)
    turtle = ttl.read_text(encoding="utf-8")
    assert turtle.count("skos:closeMatch") == 1 and "skos:closeMatch <v:canines>" in turtle


def test_map_to_vocabulary_by_meaning_matches_alt_labels_and_never_a_deprecated_label(
        encoder):
    """By meaning a vocabulary's alternative labels count (as zero-shot embeds them);
    a vocabulary whose every label is deprecated gives no match, as by spelling, where
    the scorer refused it (after a taxonomy had been paid for)."""
    from tagsmith.pipeline.llm import map_to_vocabulary

    generated = LabelSpace([Label("g:dogs", {"en": "Dogs"},
                                  description={"en": "Posts about pet dogs."})])
    vocabulary = LabelSpace([Label("v:m", {"en": "Mammals"}, alt_labels={"en": ["Dogs"]}),
                             Label("v:f", {"en": "Felines"})])
    [match] = map_to_vocabulary(generated, vocabulary, encoder=encoder)
    assert match["match_uri"] == "v:m" and match["similarity"] >= 0.5
    retired = LabelSpace([Label("v:c", {"en": "Canines"}, deprecated=True)])
    assert map_to_vocabulary(generated, retired, encoder=encoder) == [
        {"uri": "g:dogs", "label": "Dogs", "match_uri": None, "match_label": None,
         "similarity": 0.0}]


@pytest.mark.parametrize("flag, shown", [("-v", False), ("-vv", True)])
def test_cli_vv_shows_the_debug_messages_of_transformers_too(tmp_path, flag, shown):
    # -vv is "those of the libraries it uses too", but transformers' level stayed at
    # WARNING (its own handler on stderr, not the root logger's level): none of its debug
    # messages showed, such as the one saying the packaged model loads offline. In a
    # process of its own: transformers' handler keeps the stderr it was made with
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("The team won the final\n")
    # this checkout's tagsmith, not an installed copy
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-m", "tagsmith", flag, "zeroshot", str(vocab),
                             str(docs), "--cache-dir", str(tmp_path)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert ("Offline mode: forcing local_files_only=True" in result.stderr) == shown
    assert ("loading configuration file" in result.stderr) == shown
    # formatted as tagsmith's lines (time and level), not by transformers' own handler
    # ("[transformers] loading configuration file ...")
    lines = [line for line in result.stderr.splitlines() if "configuration file" in line]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ", line)
               for line in lines), lines


def test_cli_taxonomy_map_by_meaning_reads_the_vocabulary_embeddings_cached(
        tmp_path, monkeypatch, encoder):
    """`taxonomy --map-to VOCAB --map-by meaning` embedded the whole vocabulary on every
    run (STW: about 150 s on 2 cores), never cached, unlike zeroshot's label embeddings:
    with --cache-dir the second run embeds the generated labels alone."""
    import tagsmith.zeroshot.encoder as encoder_module
    from tagsmith.testing.llm_server import LocalChatServer

    from conftest import ROOT

    embedded: list[str] = []

    class Recording:  # the session's packaged encoder, recording what it is asked
        name, dim, identity = encoder.name, encoder.dim, encoder.identity

        def encode(self, texts, *, show_progress=False):
            embedded.extend(texts)
            return encoder.encode(texts, show_progress=show_progress)

    monkeypatch.setattr(encoder_module, "SentenceEncoder", lambda **kwargs: Recording())
    table = taxonomy_table(("Refund requests", "Customers asking for money back."))
    target = tmp_path / "existing.tsv"
    target.write_text("<v:refund>\tRefunds\n<v:dogs>\tDogs\n", encoding="utf-8")
    cache_dir = tmp_path / "emb"
    runs = []
    for _ in range(2):
        embedded.clear()
        with LocalChatServer(lambda body: table) as server:
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "-q", "taxonomy", str(ROOT / "tests" / "data" / "reuters-sample.jsonl.gz"),
                "--use-case", "tickets", "-o", str(tmp_path / "t.csv"), "--sample", "5",
                "--no-summaries", "--llm", "m", "--base-url", server.base_url,
                "--cache", str(tmp_path / "c.db"), "--map-to", str(target),
                "--map-by", "meaning", "--cache-dir", str(cache_dir)])
        assert result.exit_code == 0, result.output
        runs.append((list(embedded), json.loads(result.stderr.strip().splitlines()[-1])))
    (first, report), (second, again) = runs
    assert "Dogs" in first and list(cache_dir.glob("labels-*.npz"))
    assert second == ["Refund requests: Customers asking for money back."]
    assert again["mapping"] == report["mapping"]
    assert report["mapping"][0]["match_uri"] == "v:refund"


def test_cli_label_shortlist_zeroshot_caches_label_embeddings_in_cache_dir(tmp_path,
                                                                            monkeypatch):
    """`label --shortlist-zeroshot` had no --cache-dir (zeroshot has): the vocabulary's
    label embeddings were computed anew on every run, with no say where they went."""
    from tagsmith.testing.llm_server import LocalChatServer

    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:sport>\tsport\n<u:food>\tfood\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("I baked bread and a cake\nThe team won the final\n")
    embeddings, cwd = tmp_path / "emb", tmp_path / "cwd"
    embeddings.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    with LocalChatServer(answer_sport) as server:
        args = ["-q", "label", str(docs), "--vocab", str(vocab), "--shortlist-zeroshot",
                "--shortlist-k", "1", "--base-url", server.base_url, "--llm", "m",
                "--cache", str(tmp_path / "c.sqlite")]
        result = CliRunner().invoke(tagsmith_cli.cli, [
            *args, "-o", str(tmp_path / "o.jsonl"), "--cache-dir", str(embeddings)])
        assert result.exit_code == 0, result.output
        # the label embeddings' file and the documents' (cached alike since)
        assert [path.suffix for path in embeddings.iterdir()] == [".npz", ".npz"]
        # '' is no cache, not the working directory
        result = CliRunner().invoke(tagsmith_cli.cli, [
            *args, "-o", str(tmp_path / "o2.jsonl"), "--cache-dir", ""])
        assert result.exit_code == 0, result.output
        assert list(cwd.iterdir()) == [] and len(list(embeddings.iterdir())) == 2
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o3.jsonl"),
        "--llm", "m", "--base-url", "http://127.0.0.1:9/v1", "--cache-dir", str(embeddings)])
    assert result.exit_code == 2
    assert "--cache-dir only applies with --shortlist-zeroshot" in result.output


def test_building_an_hnsw_index_says_so_before_and_after(caplog):
    # the build is silent and takes minutes over a large vocabulary (48 s for YSO's
    # 27,754 labels on 2 cores), after the embedding bar had ended at 100%
    pytest.importorskip("hnswlib")
    vectors = np.random.default_rng(0).normal(size=(1200, 8)).astype(np.float32)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        HnswIndex(vectors)
    said = [record.getMessage() for record in caplog.records]
    assert said[0] == "building the HNSW label index over 1,200 rows", said
    assert re.fullmatch(r"HNSW label index built in \d+\.\d s", said[1]), said


def test_a_cache_file_that_cannot_be_written_is_warned_of_naming_it_once(tmp_path, caplog):
    # a write past a file size limit (as a full disk): the cache file is named once, and
    # why; the warning named it twice, the second time inside the OSError's own text
    import resource

    from tagsmith.zeroshot.scorer import embed_cached

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))  # Python ignores SIGXFSZ
    try:
        with caplog.at_level("WARNING", logger="tagsmith"):
            vectors = embed_cached(_CountingEncoder(), ["a", "b"] * 20, tmp_path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert vectors.shape == (40, 8) and not list(tmp_path.iterdir())
    [message] = [r.getMessage() for r in caplog.records]
    assert re.fullmatch(f"cannot write the zero-shot embedding cache {re.escape(str(tmp_path))}"
                        r"/labels-\w+\.npz: File too large", message), message


def _folder_of_length(base, length: int) -> str:
    """A path below ``base`` of ``length`` bytes (names of at most 200 bytes). Counted in
    bytes (a user's name in ``base`` may not be ASCII), never with an empty last name: one
    byte short, os.path.join(folder, "") added a bare "/" the error does not count, and
    the tests below failed for 2 lengths of tmp_path in 201."""
    folder = str(base)
    while (left := length - len(os.fsencode(folder))) > 0:
        folder = os.path.join(folder, "x" * (199 if left == 202 else min(200, left - 1)))
    assert len(os.fsencode(os.path.abspath(folder))) == length
    return folder


def test_cli_zeroshot_cache_dir_too_long_for_its_files_is_refused_naming_it(tmp_path,
                                                                          monkeypatch):
    # a --cache-dir whose path (each name well under 255 bytes) leaves no room under the
    # file system's 4,096 bytes for the cache's files: exit 3 named labels-X.npz or
    # labels-X.hnsw-Y.bin, files the user never named, or (a little shorter) the run
    # went on and warned naming a staging file; refused before the encoder loads
    import errno

    import tagsmith.zeroshot.encoder as encoder_module

    pytest.importorskip("hnswlib")
    monkeypatch.setattr(encoder_module, "SentenceEncoder", lambda **kw: _CountingEncoder())
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\n" + "".join(f"u:{i},label {i}\n" for i in range(30)))
    docs = tmp_path / "docs.txt"
    docs.write_text("label 3 here\n")
    limit = os.pathconf(tmp_path, "PC_PATH_MAX")
    for length in (limit - 96, limit - 56, limit - 36):
        folder = _folder_of_length(tmp_path, length)
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "zeroshot", str(vocab), str(docs), "--index", "hnsw", "--cache-dir", folder])
        assert result.exit_code == 3, (length, result.output)
        said = result.output.strip()
        assert said.startswith(f"error: {folder}: --cache-dir: its path is {length:,} bytes "
                               "long, too long for the files written in it"), said
        assert "labels-" not in said and os.strerror(errno.ENAMETOOLONG) not in said, said
    assert not any(p.name.startswith("labels-") for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("extra", [-60, 0, 1000])  # room short for a file; too long itself
def test_a_library_cache_dir_too_long_for_its_files_names_the_parameter(tmp_path, extra):
    # the CLI's --cache-dir was checked (above); ZeroShotClassifier(cache_dir=...) and
    # map_to_vocabulary(..., cache_dir=...) met a bare OSError (File name too long)
    # naming labels-X.npz, a file the caller never named
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.llm import map_to_vocabulary

    space = LabelSpace([Label("u:sport", {"en": "sport"}), Label("u:music", {"en": "music"})])
    length = os.pathconf(tmp_path, "PC_PATH_MAX") + extra
    folder = _folder_of_length(tmp_path, length)
    encoder = _CountingEncoder()
    said = f"cache_dir: its path is {length:,} bytes long, too long for the files written in it"
    with pytest.raises(DataError, match=re.escape(said)):
        ZeroShotClassifier(space, encoder, cache_dir=folder)
    with pytest.raises(DataError, match=re.escape(said)):
        map_to_vocabulary(space, space, encoder=encoder, cache_dir=folder)
    assert encoder.calls == 0  # before any embedding


def test_cli_zeroshot_blend_says_how_vocab_differs_from_the_bundles(tmp_path, caplog):
    """A VOCAB that changed since the bundle was trained (a label added, one renamed,
    one deprecated, one removed) blended with not a word: the new label ranked on
    zero-shot alone, the deprecated and removed ones the model had learnt were dropped
    silently. One warning now says each, naming the labels."""
    _save_small_bundle(tmp_path / "b", ["sport", "old", "gone", "food"], [
        ("the team won the final", 0), ("an old story", 1), ("gone with the wind", 2),
        ("bread and soup", 3)])
    vocab = tmp_path / "v2.csv"
    vocab.write_text("uri,label_en,deprecated\nu:sport,sports,false\nu:old,old,true\n"
                     "u:food,food,false\nu:new,weather,false\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("the team won again\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "zeroshot", str(vocab), str(docs), "--k", "3", "--cache-dir", str(tmp_path),
            "--bundle", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1, warned
    message = warned[0]
    assert str(vocab) in message and str(tmp_path / "b") in message
    assert "1 new label ('weather')" in message  # ranked on zero-shot alone
    assert "'gone'" in message and "'old'" in message  # never suggested
    assert "'sport' -> 'sports'" in message  # renamed: VOCAB's name shown
    assert "tagsmith train" in message
    names = {s["label"] for s in json.loads(result.stdout)["suggestions"]}
    assert "sport" not in names and "gone" not in names and "old" not in names
    # the bundle's own vocabulary, or one that only reorders it: no warning
    same = tmp_path / "same.csv"
    same.write_text("uri,label_en\nu:food,food\nu:gone,gone\nu:old,old\nu:sport,sport\n")
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "zeroshot", str(same), str(docs), "--k", "3", "--cache-dir", str(tmp_path),
            "--bundle", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text


def test_cli_zeroshot_blend_tells_a_distilled_bundle_to_label_and_distil_again(tmp_path,
                                                                               caplog):
    """A support team's student (label --budget --student, or distill) blended with a
    vocabulary that gained 'Gift card' was told to "retrain (tagsmith train CORPUS
    --vocab ...)": it has no corpus of that label, its labels came from the LLM, which
    must label with the new vocabulary first (every ticket asked anew: the label set is
    part of the prompt)."""
    from tagsmith.pipeline.classifier import TextClassifier

    _save_small_bundle(tmp_path / "b", ["refund", "login"], [
        ("I want my money back", 0), ("cannot log in", 1)])
    student = TextClassifier.load(tmp_path / "b")
    student.manifest["distillation"] = {"strategy": "robust", "budget": 10, "rounds": []}
    student.save(tmp_path / "student")
    vocab = tmp_path / "v2.csv"
    vocab.write_text("uri,label_en\nu:refund,refund\nu:login,login\nu:gift,gift card\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("my gift card code does not work\n")
    for bundle, advice in (("b", f"retrain (tagsmith train CORPUS --vocab {vocab} "
                                 "--output BUNDLE)"),
                           ("student", f"label with it and distil again (tagsmith label "
                                       f"CORPUS --vocab {vocab} --output LABELS, then "
                                       f"tagsmith distill LABELS --vocab {vocab} "
                                       "--output BUNDLE; every "
                                       "document is asked anew, the label set being part "
                                       "of each prompt)")):
        caplog.clear()
        with caplog.at_level("WARNING", logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "zeroshot", str(vocab), str(docs), "--k", "2", "--cache-dir", str(tmp_path),
                "--bundle", str(tmp_path / bundle)])
        assert result.exit_code == 0, result.output
        assert f"; to learn its changes, {advice}" in caplog.text, caplog.text


def test_blend_passes_a_replaced_labels_model_score_on():
    """A deprecated label's model score was lost: its replacement (dct:isReplacedBy)
    now takes it (the larger of it and its own), each replacement of a split one too."""
    model = TopK(np.array([[0, 1, 2]]), np.array([[0.8, 0.3, 0.1]]), 3)
    zs = TopK(np.array([[3, 4, 1]]), np.array([[0.4, 0.35, 0.3]]), 5)
    known = np.array([False, True, True, False, False])  # 0 deprecated, 3 and 4 new
    exclude = np.array([True, False, False, False, False])
    before = blend_topk(model, zs, weight=0.0, k=3, known_labels=known, exclude=exclude)
    assert before.indices.tolist() == [[1, 2, -1]]
    after = blend_topk(model, zs, weight=0.0, k=4, known_labels=known, exclude=exclude,
                       replacements={0: [1, 4]})
    assert after.indices.tolist()[0][:3] in ([1, 4, 2], [4, 1, 2])
    np.testing.assert_allclose(after.scores[0, :3], [0.8, 0.8, 0.1], atol=1e-6)
    # the maximum, not the sum: 2 keeps its own where higher
    kept = blend_topk(model, zs, weight=0.0, k=3, known_labels=known, exclude=exclude,
                      replacements={0: [2]})
    assert kept.indices.tolist() == [[2, 1, -1]]
    np.testing.assert_allclose(kept.scores[0, :2], [0.8, 0.3], atol=1e-6)
    half = blend_topk(model, zs, weight=0.5, k=3, known_labels=known, exclude=exclude,
                      replacements={0: [3]})
    assert half.indices[0, 0] == 3 and 0 not in half.indices.tolist()[0]
    with pytest.raises(InvalidParameterError, match="replacements"):
        blend_topk(model, zs, k=3, replacements={0: [9]})


def test_cli_zeroshot_blend_gives_a_deprecated_labels_score_to_its_replacement(tmp_path,
                                                                              caplog):
    """zeroshot --bundle with a VOCAB deprecating a trained label dropped its model score
    ('a dct:isReplacedBy is not followed'): at --weight 0 a document the model tags 'old'
    got nothing of it. Its replacement takes it now, and the warning says so."""
    _save_small_bundle(tmp_path / "b", ["sport", "old", "food"], [
        ("the team won the final", 0), ("an old story", 1), ("bread and soup", 2)])
    vocab = tmp_path / "v2.csv"
    vocab.write_text("uri,label_en,deprecated,replaced_by\nu:sport,sport,,\n"
                     "u:old,old,true,u:history\nu:food,food,,\nu:history,history,,\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("an old story\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "zeroshot", str(vocab), str(docs), "--k", "2", "--cache-dir", str(tmp_path),
            "--bundle", str(tmp_path / "b"), "--weight", "0"])
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout)["suggestions"][0]
    assert first["uri"] == "u:history"
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1, warned
    assert "1 trained label it deprecates with a replacement (dct:isReplacedBy: 'old' -> " \
           "'history') is never suggested, its model score going to its replacement" \
        in warned[0], warned[0]
    assert "not followed" not in warned[0]


def test_cli_zeroshot_blend_warns_of_replacements_a_vocab_adds_alone(tmp_path, caplog):
    """A bundle trained on a label already deprecated (documents carry it) and a VOCAB
    differing from its vocabulary only in that label's replacement: the model score went
    to the replacement with no word, as the early return saw the same ids, names and
    deprecations. VOCAB with the bundle's replacements says nothing."""
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    from conftest import FAST_FEATURES

    space = LabelSpace([Label("u:sport", {"en": "sport"}),
                        Label("u:old", {"en": "old"}, deprecated=True),
                        Label("u:food", {"en": "food"}), Label("u:history", {"en": "history"})])
    texts = ["the team won the final", "an old story", "bread and soup", "kings and wars"] * 5
    Y = sp.csr_matrix(np.tile(np.eye(4, dtype=np.float32), (5, 1)))
    train_classifier(texts, Y, space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES)).save(tmp_path / "b")
    vocab = tmp_path / "v2.csv"
    docs = tmp_path / "docs.txt"
    docs.write_text("an old story\n")

    def warnings(replaced_by):
        vocab.write_text("uri,label_en,deprecated,replaced_by\nu:sport,sport,,\n"
                         f"u:old,old,true,{replaced_by}\nu:food,food,,\nu:history,history,,\n")
        caplog.clear()
        with caplog.at_level("WARNING", logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "zeroshot", str(vocab), str(docs), "--k", "2", "--cache-dir", str(tmp_path),
                "--bundle", str(tmp_path / "b"), "--weight", "0"])
        assert result.exit_code == 0, result.output
        return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]

    assert warnings("") == []
    warned = warnings("u:history")
    assert len(warned) == 1 and "(dct:isReplacedBy: 'old' -> 'history')" in warned[0], warned


def _stw_like_vocab(tmp_path):
    """A vocabulary named in English and German, as STW's SKOS file is."""
    vocab = tmp_path / "stw.csv"
    vocab.write_text("uri,label_en,label_de\nhttp://zbw.eu/stw/descriptor/10710-5,Tariffs,Zoll\n"
                     "http://zbw.eu/stw/descriptor/11282-2,Money,Geld\n", encoding="utf-8")
    docs = tmp_path / "docs.txt"
    docs.write_text("Import duties on Japanese goods were raised\n")
    return vocab, docs


@pytest.mark.parametrize(("lang", "warned"), [("de", True), ("de-AT", True), ("en", False),
                                              ("en-GB", False), ("fr", False)])
def test_zeroshot_warns_that_its_encoder_reads_english_only(tmp_path, caplog, lang, warned):
    """``zeroshot stw.ttl --lang de`` encoded STW's German names with the English-only
    encoder without a word (Reuters texts got 'Mass Customization' for grain stocks
    eaten by vermin, where the English names gave 'Crops'): README says such names
    match little better than chance. Warned, naming the language and the English names
    the vocabulary has; ``fr``, a language no label is named in, is warned about as
    such (its names fall back to others), not as this."""
    vocab, docs = _stw_like_vocab(tmp_path)
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "zeroshot", str(vocab), str(docs), "--lang", lang, "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    said = "the zero-shot encoder (all-MiniLM-L6-v2) was trained on English" in caplog.text
    assert said == warned, caplog.text
    if warned:
        assert (f"--lang {lang}: the zero-shot encoder (all-MiniLM-L6-v2) was trained on "
                f"English: it matches label names in '{lang.lower()}' to documents little "
                "better than chance") in caplog.text
        assert "2 labels of the vocabulary have English names: --lang en encodes them" \
            in caplog.text


def test_the_english_encoder_warning_says_of_how_many_labels_the_english_names_are(caplog):
    """A EUROVOC-style thesaurus named in en/de/fr/pl, some concepts lacking English
    (named in Polish or German alone): ``zeroshot --lang de`` said "89 labels of the
    vocabulary have English names", leaving its user to guess whether that was most of
    them. It says of how many (the deprecated, never offered, left out), and that
    ``--lang en`` encodes the rest by their names in other languages."""
    space = LabelSpace([
        Label("http://eurovoc.europa.eu/1622", {"en": "data protection", "de": "Datenschutz"}),
        Label("http://eurovoc.europa.eu/1631", {"en": "road transport",
                                                "de": "Stra\u00dfenverkehr"}),
        Label("http://eurovoc.europa.eu/4001", {"pl": "so\u0142ectwo"}),
        Label("http://eurovoc.europa.eu/5002", {"en": "data processing",
                                                "de": "Datenverarbeitung"}, deprecated=True,
              replaced_by=["http://eurovoc.europa.eu/1622"])])
    with caplog.at_level("WARNING", logger="tagsmith"):
        tagsmith_cli.warn_english_encoder(space, "de")
    assert ("; 2 of the vocabulary's 3 labels (deprecated ones left out) have English "
            "names: --lang en encodes them, and the other 1 by its name in another "
            "language") in caplog.text, caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="tagsmith"):
        tagsmith_cli.warn_english_encoder(LabelSpace(list(space)[:2]), "de")
    assert "; all 2 labels of the vocabulary have English names: --lang en encodes them" \
        in caplog.text, caplog.text


def test_the_english_encoder_warning_says_deprecated_labels_are_left_out_when_all_are_named(
        caplog):
    """Every live label named in English but a deprecated one not: the warning said "all
    2 labels of the vocabulary" of a vocabulary of 3, and "its 1 label" of one of 2,
    where the other branch says the deprecated are left out."""
    live = [Label("http://eurovoc.europa.eu/1622", {"en": "data protection",
                                                    "de": "Datenschutz"}),
            Label("http://eurovoc.europa.eu/1631", {"en": "road transport",
                                                    "de": "Stra\u00dfenverkehr"})]
    old = Label("http://eurovoc.europa.eu/4001", {"pl": "so\u0142ectwo"}, deprecated=True)
    with caplog.at_level("WARNING", logger="tagsmith"):
        tagsmith_cli.warn_english_encoder(LabelSpace([*live, old]), "de")
        tagsmith_cli.warn_english_encoder(LabelSpace([live[0], old]), "de")
        tagsmith_cli.warn_english_encoder(LabelSpace(live), "de")
    assert ("; all 2 labels of the vocabulary (deprecated ones left out) have English "
            "names: --lang en encodes them") in caplog.text, caplog.text
    assert ("; its 1 label (deprecated ones left out) has an English name: --lang en "
            "encodes it") in caplog.text, caplog.text
    assert "; all 2 labels of the vocabulary have English names" in caplog.text


def test_a_concept_lacking_lang_is_embedded_by_its_english_name(tmp_path):
    """A EUROVOC-style concept lacking German, named in Polish first, then English:
    ``zeroshot --lang de`` embedded its Polish name (the file's first) with the
    English-trained encoder while ``suggest``/``vocab`` show its English one. English
    comes before the file's first name, as ``LabelSpace.name_of`` shows it."""
    pytest.importorskip("rdflib")
    ttl = tmp_path / "ev.ttl"
    ttl.write_text(
        "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
        '<http://eurovoc.europa.eu/9001> a skos:Concept ; skos:prefLabel "dumping cenowy"@pl ,'
        ' "price dumping"@en .\n'
        '<http://eurovoc.europa.eu/9002> a skos:Concept ; skos:prefLabel "so\u0142ectwo"@pl .\n'
        '<http://eurovoc.europa.eu/9003> a skos:Concept ; skos:prefLabel "Preisdumping"@de .\n',
        encoding="utf-8")
    from tagsmith.zeroshot.scorer import label_texts

    texts, owners = label_texts(load_vocabulary(ttl), lang="de")
    assert texts == ["price dumping", "so\u0142ectwo", "Preisdumping"]
    assert owners.tolist() == [0, 1, 2]


def test_label_shortlist_zeroshot_warns_that_its_encoder_reads_english_only(tmp_path, caplog):
    """``label --shortlist-zeroshot --lang de`` shortlisted by STW's German names with
    the English-only encoder, saying nothing; a vocabulary with no English names is
    told to label with an LLM (and train) instead."""
    from tagsmith.testing.llm_server import LocalChatServer

    vocab, docs = _stw_like_vocab(tmp_path)
    german = tmp_path / "de.tsv"
    german.write_text("<http://zbw.eu/stw/descriptor/10710-5>\tZoll\n"
                      "<http://zbw.eu/stw/descriptor/11282-2>\tGeld\n", encoding="utf-8")
    answer = json.dumps({"labels": [{"label": "Zoll", "confidence": 0.9}]})
    for path, english in ((vocab, True), (german, False)):
        caplog.clear()
        with LocalChatServer(lambda body: answer) as server, \
                caplog.at_level("WARNING", logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "label", str(docs), "--vocab", str(path), "-o", str(tmp_path / "l.jsonl"),
                "--force", "--shortlist-zeroshot", "--lang", "de", "--cache-dir",
                str(tmp_path), "--base-url", server.base_url, "--llm", "m", "--cache",
                str(tmp_path / "cache.sqlite")])
        assert result.exit_code == 0, result.output
        assert ("--lang de: the zero-shot encoder (all-MiniLM-L6-v2) was trained on "
                "English: it matches label names in 'de' to documents little better than "
                "chance") in caplog.text
        assert ("--lang en encodes them" in caplog.text) == english
        assert ("label a sample with an LLM (tagsmith label) and train on it"
                in caplog.text) == (not english)


def test_a_name_that_begins_with_its_own_notation_is_embedded_without_it():
    """STW's thesaurus categories are named by their notation then their name,
    ``'W.20  R&D sector'`` of notation ``W.20``: the encoder embedded the code, and the
    codes drew Reuters' earnings shorthand (``1ST QTR SHR 28 CTS VS 22 CTS``: cosine 0.33
    to ``'W.20  R&D sector'``, 0.20 to ``'R&D sector'``), so categories were 13.5% of
    the suggestions over 300 Reuters texts. The words alone are embedded; a name that
    is the notation alone, or holds it otherwise, is kept as it is."""
    from tagsmith.zeroshot.scorer import label_texts

    space = LabelSpace([
        Label("http://zbw.eu/stw/thsys/70879", {"en": "W.20  R&D sector"}, notation="W.20",
              description={"en": "research firms"}),
        Label("u:b", {"en": "W.2 wine"}, notation="W.20"),      # another code
        Label("u:c", {"en": "P.01"}, notation="P.01"),          # the notation alone
        Label("u:d", {"en": "E11.9x diabetes"}, notation="E11.9"),  # no space after it
        Label("u:e", {"en": "Tariffs"})])
    texts, owners = label_texts(space)
    assert texts == ["R&D sector", "R&D sector: research firms", "W.2 wine", "P.01",
                     "E11.9x diabetes", "Tariffs"]
    assert owners.tolist() == [0, 0, 1, 2, 3, 4]


def test_a_notation_that_is_a_word_is_stripped_only_as_stw_writes_it():
    """A notation of letters alone may be the name's first word ('A cappella' of
    notation 'A' was embedded as 'cappella'): it is stripped only where two spaces
    follow it, STW's own form for its top categories ('A  General descriptors' of
    notation 'A'); a notation with a digit or a dot is a code, followed by any
    whitespace."""
    from tagsmith.zeroshot.scorer import _without_notation

    assert _without_notation("A cappella", "A") == "A cappella"
    assert _without_notation("Tax law", "Tax") == "Tax law"
    assert _without_notation("A  General descriptors", "A") == "General descriptors"
    assert _without_notation("satyr play", "s") == "satyr play"  # YSO's, as it is
    assert _without_notation("W.20  R&D sector", "W.20") == "R&D sector"
    assert _without_notation("E11 diabetes", "E11") == "diabetes"


def test_cli_zeroshot_counts_blank_and_long_documents_over_the_whole_run(tmp_path, caplog):
    # a folder of 20 reports is scored in batches of 16 and 4: the warning said "1 of 16
    # documents is empty" and "1 of 4", never 2 of 20; and that 3 reports were scored
    # by their first 200 words alone was said in --help only
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label\nu:flood,flood defence\nu:roads,road repairs\n")
    folder = tmp_path / "reports"
    folder.mkdir()
    for i in range(20):
        text = ("" if i in (3, 18) else "The river embankment and drainage works. " * 60
                if i in (0, 5, 19) else f"Pothole repairs on road {i}.")
        (folder / f"r{i:02d}.txt").write_text(text)
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "zeroshot", str(vocab), str(folder), "--k", "1", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 20
    assert caplog.text.count("empty or without a letter or digit") == 1, caplog.text
    assert "2 of 20 documents are empty or without a letter or digit" in caplog.text
    assert "3 of 20 documents are longer than the 256 word pieces (about 200 words) the " \
           "encoder reads: scored by their beginning alone" in caplog.text


def test_cli_zeroshot_bundle_says_only_the_zero_shot_part_read_a_long_documents_start(
        tmp_path, caplog):
    """With --bundle, long documents were said to be "scored by their beginning alone",
    but the bundle's TF-IDF model reads the whole text: only the zero-shot part of the
    blend reads the beginning, and the warning now says so."""
    _save_small_bundle(tmp_path / "b", ["flood", "roads"], [
        ("river embankment and drainage works", 0), ("pothole repairs on the road", 1)])
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:flood,flood\nu:roads,roads\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("The river embankment and drainage works. " * 60
                    + "\nPothole repairs on the road.\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "zeroshot", str(vocab), str(docs), "--k", "1", "--cache-dir", str(tmp_path),
            "--bundle", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "1 of 2 documents is longer than the 256 word pieces (about 200 words) the " \
           "encoder reads: the zero-shot part of the scores read its beginning alone, " \
           "the bundle's model the whole text" in caplog.text, caplog.text
    assert "scored by its beginning alone" not in caplog.text


def test_cli_zeroshot_says_how_many_documents_are_not_english(tmp_path, caplog):
    """German STW titles with English label names scored P@1 0.37 against 1.00 on their
    English translations, and zeroshot said nothing of it (it warns of names in another
    language alone). It now counts the documents that look written in another language,
    once over the run, naming the languages; English documents are not counted."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:tax,tax relief\nu:energy,renewable energy\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("Die Rolle der Steuervergünstigung für die Energiewende\n"
                    "Ein Modell für erneuerbare Energien mit Anwendung auf Bayern\n"
                    "Theoretische Überlegungen zu Steuerbefreiung\n"
                    "The role of tax relief for the energy transition\n"
                    "可再生能源的税收优惠\n"
                    "Tax relief and renewable energy: a panel study of OECD countries\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "zeroshot", str(vocab), str(docs), "--k", "1", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 6
    assert caplog.text.count("written in another language than English") == 1, caplog.text
    assert "4 of 6 documents look written in another language than English (German 3, a " \
           "non-Latin script 1, by their commonest words or letters): the zero-shot " \
           "encoder (all-MiniLM-L6-v2) was trained on English" in caplog.text, caplog.text
    caplog.clear()
    docs.write_text("The role of tax relief for the energy transition\n"
                    "Da real MVP\nDEL E. WEBB INVESTMENT PROPERTIES INC 1st qtr\n")
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "zeroshot", str(vocab), str(docs), "--k", "1", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "another language" not in caplog.text, caplog.text


def test_foreign_language_counts_words_as_often_as_they_occur_and_letters_by_script():
    """foreign_language, counting by regular expressions and a Counter (a loop over
    each letter took 0.9 ms a 4 KB document): a word counted each time it occurs, an
    accented one too, and the script judged by letters, not words or digits."""
    from tagsmith.zeroshot.scorer import foreign_language

    assert foreign_language("für für Reports Reports") == "German"  # 2 German, 0 English
    assert foreign_language("the für the") is None  # 1 + 1 accented, not above 2
    assert foreign_language("Überlegungen für the") == "German"  # 1 + 2 accented > 1
    # 3 Latin letters and 3 Cyrillic ones: half is not most; digits are no letters
    assert foreign_language("abc где 12345") is None
    assert foreign_language("ab где 12345") == "a non-Latin script"
    assert foreign_language("São Tomé ab где") is None  # ã and é are Latin letters
    assert (foreign_language("1234 5678"), foreign_language("")) == (None, None)


def test_cli_zeroshot_foreign_documents_are_judged_against_the_names_language(tmp_path,
                                                                             caplog):
    """zeroshot --lang de on German documents (German names: P@1 0.95 on STW titles)
    was told they looked written in another language than English, matched little
    better than chance, and advised to use an LLM. The documents are now compared with
    the names' language: German ones under --lang de are not counted (the names' own
    warning says the encoder is English-trained), English and French ones are, said as
    another language than the label names."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en,label_de\nu:tax,tax relief,Steuervergünstigung\n"
                     "u:energy,renewable energy,Erneuerbare Energie\n", encoding="utf-8")
    docs = tmp_path / "docs.txt"
    german = ("Die Rolle der Steuervergünstigung für die Energiewende\n"
              "Ein Modell für erneuerbare Energien mit Anwendung auf Bayern\n")
    docs.write_text(german, encoding="utf-8")

    def zeroshot(*options):
        caplog.clear()
        with caplog.at_level("WARNING", logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [
                "zeroshot", str(vocab), str(docs), "--k", "1", "--cache-dir",
                str(tmp_path), *options])
        assert result.exit_code == 0, result.output
        return caplog.text

    text = zeroshot("--lang", "de")
    assert "another language" not in text, text
    assert "--lang de: the zero-shot encoder (all-MiniLM-L6-v2) was trained on English" \
        in text, text
    docs.write_text(german + "The role of tax relief for the energy transition\n"
                    "Le rôle des allègements fiscaux dans la transition énergétique\n",
                    encoding="utf-8")
    text = zeroshot("--lang", "de")
    assert text.count("written in another language") == 1, text
    assert "2 of 4 documents look written in another language than the label names " \
           "(--lang de, German; English 1, French 1, by their commonest words or letters)" \
           ": the zero-shot encoder (all-MiniLM-L6-v2) matches documents to names in " \
           "another language little better than chance" in text, text
    assert "than English" not in text, text
    text = zeroshot()  # English names: the German and French ones, as before
    assert "3 of 4 documents look written in another language than English (German 2, " \
           "French 1," in text, text


def test_foreign_language_takes_english_titles_with_one_foreign_word_for_english():
    """"El Niño threatens crops in Peru" was Spanish ("el" and one accented word) and
    "La La Land wins at Oscars" French ("la" twice): one common word of another
    language, repeated or beside an accented name, no longer makes a title foreign
    unless its words are half of the title's; two different ones still do."""
    from tagsmith.zeroshot.scorer import foreign_language

    assert foreign_language("El Niño threatens crops in Peru") is None
    assert foreign_language("La La Land wins at Oscars") is None
    assert foreign_language("Viña del Mar workshop on cataclysmic variable stars") is None
    assert foreign_language("Le rôle de la banque centrale") == "French"  # le, la
    assert foreign_language("Überlegungen zur Geldpolitik") == "German"  # half the words
    assert foreign_language("Café con leche") == "Spanish"  # 2 of 3 words


#: runs the CLI with the arguments given, then says whether torch was imported
_LABEL_THEN_SAY_TORCH = """
import sys
from tagsmith.cli import main
try:
    main(sys.argv[1:])
finally:
    print("torch loaded:", "torch" in sys.modules)
"""


def test_lazy_sentence_encoder_is_the_packaged_one_without_loading_it(encoder):
    """Its size and identity (the embedding cache's key), read from the model's files,
    are those of the model loaded; it loads on its first encode, and embeds alike."""
    from tagsmith.zeroshot.encoder import LazySentenceEncoder, config_embedding_dim

    lazy = LazySentenceEncoder(n_threads=2)
    assert not lazy.loaded
    assert (lazy.name, lazy.dim, lazy.identity) == (encoder.name, encoder.dim,
                                                    encoder.identity)
    np.testing.assert_allclose(lazy.encode(["a cat"]), encoder.encode(["a cat"]),
                               atol=1e-6)
    assert lazy.loaded and config_embedding_dim(ROOT) is None


def test_cli_label_shortlist_zeroshot_rerun_from_the_cache_loads_no_encoder(tmp_path):
    """A rerun of label --shortlist-zeroshot whose label names, documents and human
    sample were all in --cache-dir loaded torch and the sentence encoder anyway
    (seconds, ~200 MB of its 640 MB): now the model loads only for a text to embed, and
    the output is the same byte for byte."""
    from tagsmith.testing.llm_server import LocalChatServer

    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:sport>\tsport\n<u:food>\tfood\n", encoding="utf-8")
    docs, human = tmp_path / "docs.txt", tmp_path / "h.tsv"
    docs.write_text("I baked bread and a cake\nThe team won the final\n", encoding="utf-8")
    human.write_text("the match tonight\t<u:sport>\n", encoding="utf-8")
    script = tmp_path / "run.py"
    script.write_text(_LABEL_THEN_SAY_TORCH, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    said = []
    with LocalChatServer(answer_sport) as server:
        for run in ("o1.jsonl", "o2.jsonl"):
            done = subprocess.run(
                [sys.executable, str(script), "-q", "label", str(docs), "--vocab",
                 str(vocab), "--shortlist-zeroshot", "--shortlist-k", "1", "--human",
                 str(human), "--base-url", server.base_url, "--llm", "m", "--cache",
                 str(tmp_path / "c.sqlite"), "--cache-dir", str(tmp_path / "emb"), "-o",
                 str(tmp_path / run)], env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
            said.append(done.stdout.split("torch loaded: ")[-1].strip())
    assert said == ["True", "False"]
    assert (tmp_path / "o1.jsonl").read_bytes() == (tmp_path / "o2.jsonl").read_bytes()
