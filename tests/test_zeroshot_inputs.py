"""Bad input to the zero-shot API: a clear tagsmith error naming the parameter, never a
numpy or attribute error, never a silently wrong result (stand-in encoder, no model)."""

import numpy as np
import pytest

from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import TopK
from tagsmith.zeroshot.scorer import (
    ZeroShotClassifier,
    blend_topk,
    label_sets_by_margin,
    label_texts,
    softmax_scores,
)

from conftest import refuse_stat_below


class _HashEncoder:
    name = "hash"
    dim = 8

    def encode(self, texts, *, show_progress=False):
        rows = [np.random.default_rng(sum(map(ord, text))).normal(size=self.dim)
                for text in texts]
        out = np.asarray(rows, np.float32).reshape(len(texts), self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


SPACE = LabelSpace([Label("u:a", {"en": "cats"}), Label("u:b", {"en": "dogs"}),
                    Label("u:c", {"en": "money"})])


@pytest.fixture()
def scorer():
    return ZeroShotClassifier(SPACE, _HashEncoder())


def _raises(name):
    return pytest.raises(InvalidParameterError, match=f"parameter '{name}'")


def test_the_scorer_is_one_short_line_at_a_prompt(scorer):
    # it was <tagsmith.zeroshot.scorer.ZeroShotClassifier object at 0x7f...>
    assert repr(scorer) == ("ZeroShotClassifier(n_labels=3, n_label_texts=3, index='auto', "
                            "background=False)")
    scorer.fit_background(["a cat", "two dogs", "money money"], neighbors=1)
    assert repr(scorer).endswith("background=True)")


@pytest.mark.parametrize("texts", [None, 5])
def test_predict_topk_refuses_texts_that_are_no_list(scorer, texts):
    with _raises("texts"):  # was TypeError: 'NoneType' object is not iterable
        scorer.predict_topk(texts)


def test_predict_topk_valid_texts_unchanged(scorer):
    assert scorer.predict_topk([]).indices.shape == (0, 3)
    from_gen = scorer.predict_topk(t for t in ["a cat", "money"])
    from_list = scorer.predict_topk(["a cat", "money"])
    assert np.array_equal(from_gen.indices, from_list.indices)
    assert np.array_equal(from_gen.scores, from_list.scores)
    assert scorer.topk_from_embeddings([], 2).indices.shape == (0, 2)


@pytest.mark.parametrize("vectors", [np.ones((2, 5)), np.ones(8), np.ones((1, 2, 8)),
                                     np.full((1, 8), "a"), np.full((1, 8), np.nan)],
                         ids=["dim", "1d", "3d", "str", "nan"])
def test_topk_from_embeddings_refuses_bad_vectors(scorer, vectors):
    with _raises("doc_vectors"):  # were matmul/broadcast/axis errors, NaN named 'matrix'
        scorer.topk_from_embeddings(vectors, 2)


@pytest.mark.parametrize("vectors", [np.full((2, 8), np.nan), np.full((1, 8), "a"),
                                     np.ones((2, 3))], ids=["nan", "str", "dim"])
def test_fit_background_refuses_bad_vectors(scorer, vectors):
    with _raises("background"):  # NaN gave every label a NaN hubness
        scorer.fit_background(vectors=vectors)


@pytest.mark.parametrize("space", [None, ["cats", "dogs"]])
def test_refuses_what_is_no_label_space(space):
    with _raises("label_space"):  # was AttributeError: no attribute 'deprecated_mask'
        ZeroShotClassifier(space, _HashEncoder())
    with _raises("label_space"):
        label_texts(space)


@pytest.mark.parametrize(("param", "value"), [("lang", None), ("lang", 5), ("lang", ""),
                                              ("use_alt_labels", "no"),
                                              ("use_descriptions", None)])
def test_refuses_bad_label_text_options(param, value):
    # lang=None matched no language and fell back silently; "no" was truthy
    with _raises(param):
        ZeroShotClassifier(SPACE, _HashEncoder(), **{param: value})


TOPK = TopK(np.array([[0, 1, 2], [2, 0, 1]]), np.array([[0.6, 0.5, 0.1], [0.7, 0.2, 0.1]]), 3)


@pytest.mark.parametrize("func", [
    lambda bad: softmax_scores(bad), lambda bad: label_sets_by_margin(bad, 0.1)])
def test_refuses_what_is_no_topk(func):
    with _raises("topk"):  # was AttributeError
        func(np.ones((2, 3)))


@pytest.mark.parametrize(("param", "kwargs"), [
    ("zeroshot_topk", {"model_topk": None, "zeroshot_topk": np.ones((2, 3))}),
    ("model_topk", {"model_topk": np.ones((2, 3)), "zeroshot_topk": TOPK})])
def test_blend_refuses_what_is_no_topk(param, kwargs):
    with _raises(param):
        blend_topk(**kwargs)


@pytest.mark.parametrize("param", ["known_labels", "exclude"])
@pytest.mark.parametrize("mask", [np.array([0.5, 1.0, 0.0]), np.array([0, 1, 2]),
                                  np.array([1.0, np.nan, 0.0]), ["no", "no", "no"]],
                         ids=["half", "ids", "nan", "str"])
def test_blend_refuses_label_masks_that_are_no_mask(param, mask):
    # each was cast to bool: 0.5, 2, NaN and "no" read as True
    with _raises(param):
        blend_topk(TOPK, TOPK, **{param: mask})


def test_blend_masks_of_zeros_and_ones_unchanged():
    as_bool = blend_topk(TOPK, TOPK, known_labels=np.array([True, False, True]),
                         exclude=np.array([False, False, True]))
    as_int = blend_topk(TOPK, TOPK, known_labels=[1, 0, 1], exclude=np.array([0., 0., 1.]))
    assert np.array_equal(as_bool.indices, as_int.indices)
    assert np.array_equal(as_bool.scores, as_int.scores)


@pytest.mark.parametrize(("param", "kwargs"), [
    ("margin", {"margin": -0.1}), ("margin", {"margin": float("nan")}),
    ("margin", {"margin": "0.1"}), ("margin", {"margin": None}),
    ("min_score", {"min_score": float("nan")}), ("min_score", {"min_score": "a"})])
def test_label_sets_by_margin_refuses_bad_numbers(param, kwargs):
    # a negative or NaN margin silently kept the best label alone; strings were numpy errors
    with _raises(param):
        label_sets_by_margin(TOPK, **kwargs)


@pytest.mark.parametrize(("param", "kwargs"), [
    ("encoder", {"encoder": None}), ("encoder", {"encoder": "all-MiniLM-L6-v2"}),
    ("cache_dir", {"cache_dir": 5}), ("show_progress", {"show_progress": "no"})])
def test_classifier_refuses_bad_encoder_cache_dir_and_flags(param, kwargs):
    # None was an AttributeError on 'encode', 5 a pathlib TypeError, "no" read as True
    args = {"encoder": _HashEncoder()} | kwargs
    with _raises(param):
        ZeroShotClassifier(SPACE, args.pop("encoder"), **args)


def test_an_encoder_whose_dim_is_a_numpy_integer_is_accepted():
    """The encoder check took only a Python int as ``dim``; numpy integers are accepted
    everywhere else in tagsmith."""
    encoder = _HashEncoder()
    encoder.dim = np.int64(8)
    plain = ZeroShotClassifier(SPACE, _HashEncoder()).predict_topk(["cats and dogs"], 2)
    topk = ZeroShotClassifier(SPACE, encoder).predict_topk(["cats and dogs"], 2)
    assert topk.indices.tolist() == plain.indices.tolist()


class _PlainEncoder(_HashEncoder):
    """An encoder as ZeroShotClassifier's docstring described one: ``encode(texts)``."""

    def encode(self, texts):
        return super().encode(texts)


class _KeywordsEncoder(_HashEncoder):
    def encode(self, texts, **options):
        return super().encode(texts)


def test_an_encoder_whose_encode_takes_no_show_progress_is_refused_naming_it():
    """The docstring said any object with ``encode(texts)`` would do; such a stand-in
    failed with a TypeError from inside the scorer ("encode() got an unexpected keyword
    argument 'show_progress'"). It is refused naming the encoder and the signature; one
    taking ``**options`` is accepted."""
    with pytest.raises(InvalidParameterError) as refused:
        ZeroShotClassifier(SPACE, _PlainEncoder())
    assert str(refused.value) == (
        "parameter 'encoder' must be an encoder with encode(texts, *, show_progress=False) "
        "and an int dim, got '_PlainEncoder (its encode takes no show_progress)'")
    topk = ZeroShotClassifier(SPACE, _KeywordsEncoder()).predict_topk(["cats"], 2)
    plain = ZeroShotClassifier(SPACE, _HashEncoder()).predict_topk(["cats"], 2)
    assert topk.indices.tolist() == plain.indices.tolist()


def test_help_of_the_zero_shot_classifier_says_every_parameter():
    """help(tagsmith.ZeroShotClassifier) said nothing of lang, template,
    use_alt_labels, use_descriptions or show_progress, nor how to make an encoder."""
    import inspect

    doc = inspect.getdoc(ZeroShotClassifier)
    for name in inspect.signature(ZeroShotClassifier).parameters:
        if name != "label_space":  # the first line's
            assert f"``{name}``" in doc, name
    assert "SentenceEncoder()" in doc and "show_progress=False" in doc
    assert inspect.getdoc(ZeroShotClassifier.n_labels)


@pytest.mark.parametrize(("below", "said"), [
    (True, "is a path that cannot be looked at (permission denied)"),
    (False, "is a folder whose files cannot be looked at (permission denied)")])
def test_a_cache_dir_that_cannot_be_looked_into_is_refused_naming_it(
        tmp_path, monkeypatch, below, said):
    """A cache_dir below a folder that may not be looked into, or such a folder itself:
    the cache file's exists() raised that PermissionError bare (Python 3.11), after the
    check of cache_dir; refused by it now, as the CLI refuses --cache-dir. os.stat is
    made to refuse as such a folder would (root passes)."""
    import re

    from tagsmith.exceptions import DataError

    locked = tmp_path / "locked"
    locked.mkdir()
    refuse_stat_below(monkeypatch, locked)
    cache_dir = locked / "emb" if below else locked
    with pytest.raises(DataError, match=re.escape(f"{cache_dir}: cache_dir: {said}")):
        ZeroShotClassifier(SPACE, _HashEncoder(), cache_dir=cache_dir)


def test_an_empty_cache_dir_is_no_cache_as_on_the_command_line(tmp_path, monkeypatch):
    """``cache_dir=""`` was the path "", the working directory, which got the cache file;
    the CLI's ``--cache-dir ''`` means no cache, and so does the API now."""
    monkeypatch.chdir(tmp_path)
    plain = ZeroShotClassifier(SPACE, _HashEncoder()).predict_topk(["cats and dogs"], 2)
    topk = ZeroShotClassifier(SPACE, _HashEncoder(), cache_dir="").predict_topk(
        ["cats and dogs"], 2)
    assert list(tmp_path.iterdir()) == []
    assert topk.indices.tolist() == plain.indices.tolist()


@pytest.mark.parametrize("temperature", [1e-39, 1e-320, np.float32(1e-45)])
def test_a_tiny_temperature_is_the_arg_max_not_all_zeros(temperature):
    """Cosines divided by 1e-39 overflowed float32 to infinity, inf - inf was NaN and
    every candidate got probability 0 with no error."""
    tied = TopK(np.array([[0, 1, 2]]), np.array([[0.5, 0.5, 0.1]]), 3)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert softmax_scores(TOPK, temperature).scores.tolist() == [[1, 0, 0], [1, 0, 0]]
        assert softmax_scores(tied, temperature).scores.tolist() == [[0.5, 0.5, 0]]
        blended = blend_topk(None, TOPK, k=2, temperature=temperature)
    assert blended.indices.tolist() == [[0, 1], [2, 0]]
    np.testing.assert_allclose(blended.scores[:, 0], 1.0, atol=1e-6)


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
@pytest.mark.parametrize("k", [0, -1, 2.5, "3", True, None])
def test_label_index_search_refuses_a_k_that_is_no_positive_integer(kind, k):
    # exact search answered k=0 with empty rows, -1 with numpy's "negative dimensions",
    # 2.5 with a TypeError; hnswlib answered k=0 with nothing: none named k
    if kind == "hnsw":
        pytest.importorskip("hnswlib")
    from tagsmith.zeroshot.index import build_index

    index = build_index(np.eye(4, dtype=np.float32), kind, n_threads=1)
    with _raises("k"):
        index.search(np.eye(4, dtype=np.float32)[:1], k)


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_label_index_search_of_positive_k_unchanged(kind):
    if kind == "hnsw":
        pytest.importorskip("hnswlib")
    from tagsmith.zeroshot.index import build_index

    index = build_index(np.eye(4, dtype=np.float32), kind, n_threads=1)
    query = np.array([[0.1, 0.9, 0.0, 0.3]], np.float32)
    for k in (1, np.int64(2), 9):
        ids, sims = index.search(query, k)
        assert ids.tolist() == [[1, 3, 0, 2][:min(int(k), 4)]]
        assert sims.shape == (1, min(int(k), 4))


class _CountingHashEncoder(_HashEncoder):
    def __init__(self, *args, **kwargs):
        self.texts = 0

    def encode(self, texts, *, show_progress=False):
        self.texts += len(texts)
        return super().encode(texts, show_progress=show_progress)


@pytest.mark.parametrize("index", ["hnsw", "auto"])
def test_an_hnsw_index_without_hnswlib_is_refused_before_any_label_is_embedded(
        monkeypatch, tmp_path, index):
    """The index is built on first use: without hnswlib, ``index="hnsw"`` (or ``"auto"``
    above HNSW_FROM_ROWS label rows) failed after every label text was embedded."""
    import sys

    import tagsmith.zeroshot.index
    from tagsmith.exceptions import MissingDependencyError

    monkeypatch.setitem(sys.modules, "hnswlib", None)  # None: not installed
    monkeypatch.setattr(tagsmith.zeroshot.index, "HNSW_FROM_ROWS", 2)  # 3 labels: hnsw
    encoder = _CountingHashEncoder()
    with pytest.raises(MissingDependencyError, match="'hnswlib': pip install 'tagsmith"):
        ZeroShotClassifier(SPACE, encoder, index=index, cache_dir=tmp_path)
    assert encoder.texts == 0 and list(tmp_path.iterdir()) == []
    # exact search (auto at or below the limit) needs no hnswlib
    monkeypatch.setattr(tagsmith.zeroshot.index, "HNSW_FROM_ROWS", 3)
    kinds = ["exact", "auto"] if index == "auto" else ["exact"]
    for kind in kinds:
        scorer = ZeroShotClassifier(SPACE, encoder, index=kind)
        assert scorer.predict_topk(["cats"], 1).indices.shape == (1, 1)


def test_cli_zeroshot_index_hnsw_without_hnswlib_is_refused_before_the_encoder(
        monkeypatch, tmp_path):
    import sys

    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    import tagsmith.zeroshot.encoder

    tagsmith_cli._register_commands()
    made = []
    monkeypatch.setattr(tagsmith.zeroshot.encoder, "SentenceEncoder",
                        lambda *args, **kwargs: made.append(_CountingHashEncoder()) or made[-1])
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # None: not installed
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("The team won the final\n")
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "zeroshot", str(vocab), str(docs),
                                                   "--index", "hnsw", "--cache-dir", ""])
    assert result.exit_code == 5, result.output
    assert "needs the package 'hnswlib': pip install 'tagsmith[embed]'" in result.output
    assert not made and "Traceback" not in result.output
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "zeroshot", str(vocab), str(docs),
                                                   "--index", "exact", "--cache-dir", ""])
    assert result.exit_code == 0, result.output


def test_cli_zeroshot_index_auto_over_the_limit_without_hnswlib_is_refused_before_the_encoder(
        monkeypatch, tmp_path):
    """--index auto above HNSW_FROM_ROWS label rows needs hnswlib too: without it the
    scorer refused it, but only after the sentence encoder had loaded (seconds)."""
    import sys

    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    import tagsmith.zeroshot.encoder
    import tagsmith.zeroshot.index

    tagsmith_cli._register_commands()
    made = []
    monkeypatch.setattr(tagsmith.zeroshot.encoder, "SentenceEncoder",
                        lambda *args, **kwargs: made.append(_CountingHashEncoder()) or made[-1])
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # None: not installed
    monkeypatch.setattr(tagsmith.zeroshot.index, "HNSW_FROM_ROWS", 2)  # 3 labels: hnsw
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\nu:sport,sport\nu:food,food\nu:art,art\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("The team won the final\n")
    command = ["-q", "zeroshot", str(vocab), str(docs), "--cache-dir", ""]
    result = CliRunner().invoke(tagsmith_cli.cli, command)
    assert result.exit_code == 5, result.output
    assert "needs the package 'hnswlib': pip install 'tagsmith[embed]'" in result.output
    assert not made and "Traceback" not in result.output
    monkeypatch.setattr(tagsmith.zeroshot.index, "HNSW_FROM_ROWS", 3)  # exact: no hnswlib
    result = CliRunner().invoke(tagsmith_cli.cli, command)
    assert result.exit_code == 0, result.output
    assert len(made) == 1


def _zeroshot_cli(monkeypatch, *args):
    """``tagsmith -q zeroshot ARGS`` in a CliRunner with the stand-in encoder."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    import tagsmith.zeroshot.encoder

    tagsmith_cli._register_commands()
    monkeypatch.setattr(tagsmith.zeroshot.encoder, "SentenceEncoder",
                        lambda *args, **kwargs: _HashEncoder())
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", "zeroshot", *map(str, args),
                                                 "--cache-dir", ""])


def test_cli_zeroshot_empty_background_is_bad_input_naming_it(monkeypatch, tmp_path):
    """An empty --background file exited 2 (a usage error, "Invalid value for
    --background") where shift B empty.txt, FILES with no document, exits 3 (bad input
    data), as the README's exit codes say."""
    vocab, docs = tmp_path / "v.tsv", tmp_path / "docs.txt"
    vocab.write_text("<u:a>\tcats\n<u:b>\tdogs\n")
    docs.write_text("a cat sat\n")
    empty, blank = tmp_path / "e.txt", tmp_path / "blank.txt"
    empty.write_text("")
    blank.write_text("\n  \n")
    result = _zeroshot_cli(monkeypatch, vocab, docs, "--background", empty)
    assert result.exit_code == 3, result.output
    assert (f"error: no document in --background {empty} (empty, or blank lines alone)"
            in result.output)
    result = _zeroshot_cli(monkeypatch, vocab, docs, "--background", empty, "--background",
                           blank)
    assert result.exit_code == 3, result.output
    assert f"no document in --background {empty}, {blank} (empty" in result.output


def test_cli_zeroshot_of_no_documents_says_so_naming_the_files(monkeypatch, tmp_path,
                                                               caplog):
    """zeroshot on empty stdin (or an empty file, or both) said nothing but the INFO
    line 'zeroshot: 0 docs' (exit 0), where suggest warns naming them: it warns as
    suggest does now. Not refused: stdin may be empty by design in a pipeline."""
    vocab, empty, docs = tmp_path / "v.tsv", tmp_path / "e.txt", tmp_path / "docs.txt"
    vocab.write_text("<u:a>\tcats\n<u:b>\tdogs\n")
    empty.write_text("\n \n")
    docs.write_text("a cat sat\n")
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    import tagsmith.zeroshot.encoder

    tagsmith_cli._register_commands()
    monkeypatch.setattr(tagsmith.zeroshot.encoder, "SentenceEncoder",
                        lambda *args, **kwargs: _HashEncoder())

    def run(*args):  # not -q: the warning is the point
        return CliRunner().invoke(tagsmith_cli.cli, ["zeroshot", str(vocab), *map(str, args),
                                                     "--cache-dir", ""], input="")

    for args, named in (((), "stdin (empty or blank)"),
                        ((empty,), f"{empty} (empty or blank)"),
                        ((empty, "-"), f"{empty}, stdin (each empty or blank)")):
        caplog.clear()
        result = run(*args)
        assert result.exit_code == 0 and result.stdout == "", result.output
        assert f"no documents in {named}: nothing suggested" in caplog.text, args
    caplog.clear()
    result = run(empty, docs)
    assert result.exit_code == 0 and result.stdout, result.output
    assert "no documents in" not in caplog.text


def test_cli_zeroshot_background_of_punctuation_alone_is_refused_naming_it(monkeypatch,
                                                                          tmp_path):
    """A --background file whose documents are blank or punctuation alone was refused as
    "parameter 'texts' must be at least one background document with a letter or
    digit", naming neither the option nor the file."""
    vocab, docs, background = tmp_path / "v.tsv", tmp_path / "docs.txt", tmp_path / "bg.txt"
    vocab.write_text("<u:a>\tcats\n<u:b>\tdogs\n")
    docs.write_text("a cat sat\n")
    background.write_text("!!!\n😀\n")
    result = _zeroshot_cli(monkeypatch, vocab, docs, "--background", background)
    assert result.exit_code == 3, result.output  # bad input data, not a usage error
    assert (f"error: no document with a letter or digit in --background {background} (its 2 "
            "documents are each blank or punctuation alone)") in result.output
    assert "'texts'" not in result.output
    background.write_text("a dog ran\n!!!\n")
    assert _zeroshot_cli(monkeypatch, vocab, docs, "--background", background).exit_code == 0


def test_cli_zeroshot_vocabulary_without_a_label_name_is_refused_naming_it(monkeypatch,
                                                                          tmp_path):
    """A vocabulary of URIs alone was refused as "parameter 'label_space' must be at
    least one label with a name, got 0" (exit code 2), naming no file."""
    vocab, docs = tmp_path / "v.tsv", tmp_path / "docs.txt"
    vocab.write_text("<u:a>\n<u:b>\t!!\n")
    docs.write_text("a cat sat\n")
    result = _zeroshot_cli(monkeypatch, vocab, docs)
    assert result.exit_code == 3, result.output
    assert f"{vocab}: no label has a name, alternative label or description" in result.output
    assert "'label_space'" not in result.output


def test_cli_zeroshot_vocabulary_without_a_label_name_is_refused_before_the_encoder(
        monkeypatch, tmp_path):
    """The refusal of a vocabulary with no label name came after the sentence encoder
    had loaded (seconds, and torch installed)."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    import tagsmith.zeroshot.encoder

    tagsmith_cli._register_commands()
    made = []
    monkeypatch.setattr(tagsmith.zeroshot.encoder, "SentenceEncoder",
                        lambda *args, **kwargs: made.append(_HashEncoder()) or made[-1])
    vocab, docs = tmp_path / "v.tsv", tmp_path / "docs.txt"
    vocab.write_text("<u:a>\n<u:b>\t!!\n")
    docs.write_text("a cat sat\n")
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "zeroshot", str(vocab), str(docs),
                                                   "--cache-dir", ""])
    assert result.exit_code == 3, result.output
    assert f"{vocab}: no label has a name" in result.output
    assert not made


def test_cli_zeroshot_background_of_punctuation_alone_is_refused_before_the_encoder(
        monkeypatch, tmp_path):
    """The refusal of a --background of blank or punctuation-alone documents came after
    the sentence encoder had loaded and every label text was embedded."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    import tagsmith.zeroshot.encoder

    tagsmith_cli._register_commands()
    made = []
    monkeypatch.setattr(tagsmith.zeroshot.encoder, "SentenceEncoder",
                        lambda *args, **kwargs: made.append(_HashEncoder()) or made[-1])
    vocab, docs, background = tmp_path / "v.tsv", tmp_path / "docs.txt", tmp_path / "bg.txt"
    vocab.write_text("<u:a>\tcats\n<u:b>\tdogs\n")
    docs.write_text("a cat sat\n")
    background.write_text("!!!\n")
    result = CliRunner().invoke(tagsmith_cli.cli, ["-q", "zeroshot", str(vocab), str(docs),
                                                   "--background", str(background),
                                                   "--cache-dir", ""])
    assert result.exit_code == 3, result.output  # bad input, as an empty --background
    assert "no document with a letter or digit in --background" in result.output
    assert not made


def test_cli_zeroshot_background_sample_is_drawn_from_documents_with_a_word(monkeypatch,
                                                                           tmp_path):
    """--background-sample drew its sample from every --background document, then left
    out the blank or punctuation-alone ones: a file of mostly such documents gave a
    sample of them alone, refused as "parameter 'background' must be at least one
    document" (exit code 2), though the file holds documents with words."""
    vocab, docs, background = tmp_path / "v.tsv", tmp_path / "docs.txt", tmp_path / "bg.txt"
    vocab.write_text("<u:a>\tcats\n<u:b>\tdogs\n")
    docs.write_text("a cat sat\n")
    background.write_text("!!!\n" * 50 + "a dog ran\n")
    result = _zeroshot_cli(monkeypatch, vocab, docs, "--background", background,
                           "--background-sample", 2)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("texts, says", [(["a dog ran"], "from 1 background document:"),
                                         (["a dog ran", "cats"],
                                          "from 2 background documents:")])
def test_the_hubness_log_counts_its_background_documents_in_number(scorer, caplog, texts,
                                                                   says):
    """It read "zero-shot hubness from 1 background documents" (zeroshot --background
    of one document with a word, or --background-sample 1)."""
    with caplog.at_level("INFO", logger="tagsmith"):
        scorer.fit_background(texts)
    assert says in caplog.text, caplog.text


def test_cli_zeroshot_holds_only_the_background_sample_once_the_encoder_loads(monkeypatch,
                                                                             tmp_path):
    """Read before the encoder loads (a3b9e3e), every --background document was held
    while the model loaded, the label texts were embedded and the sample was: 32.5 MB
    traced at the encoder's load for a 20.7 MB file and --background-sample 10 (0.4 MB
    at 30a6e57, which read the background after). Only the sample is kept now."""
    import tracemalloc

    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    import tagsmith.zeroshot.encoder

    tagsmith_cli._register_commands()
    held = []

    def encoder(*args, **kwargs):
        held.append(tracemalloc.get_traced_memory()[0])
        return _HashEncoder()

    monkeypatch.setattr(tagsmith.zeroshot.encoder, "SentenceEncoder", encoder)
    vocab, docs, background = tmp_path / "v.tsv", tmp_path / "docs.txt", tmp_path / "bg.txt"
    vocab.write_text("<u:a>\tcats\n<u:b>\tdogs\n")
    docs.write_text("a cat sat\n")
    background.write_text("".join(f"a dog ran past the cat, line {i:06d}\n"
                                  for i in range(40_000)))  # 1.5 MB
    tracemalloc.start()
    try:
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "-q", "zeroshot", str(vocab), str(docs), "--background", str(background),
            "--background-sample", "10", "--cache-dir", ""])
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.output
    assert held and held[0] < background.stat().st_size / 2, (held, background.stat().st_size)
