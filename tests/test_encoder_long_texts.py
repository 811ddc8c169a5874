"""A long text is cut before it is tokenized (the tokenizer word-pieced all of it to keep
its first 256 pieces: 2.2 GB for a 10 MB line), and the cut gives the model the word
pieces, and so the embedding, that the whole text gives."""

import gzip
import itertools

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tagsmith.zeroshot.encoder import (  # noqa: E402
    CUT_CHARS_PER_PIECE,
    cut_to_window,
    window_tokenizer,
)

from conftest import GOEMOTIONS  # noqa: E402


@pytest.fixture(scope="module")
def encoder():
    from tagsmith.zeroshot.encoder import SentenceEncoder

    return SentenceEncoder(n_threads=2)


@pytest.fixture(scope="module")
def goemotions_text():
    with gzip.open(GOEMOTIONS / "train.tsv.gz", "rt", encoding="utf-8") as handle:
        lines = itertools.islice(handle, 3000)
        return " ".join(line.split("\t")[0] for line in lines)


def _model_ids(encoder, text):
    """The word piece ids the model reads for ``text``, as sentence-transformers makes
    them (``preprocess`` in version 6, ``tokenize`` before)."""
    make = getattr(encoder.model, "preprocess", None) or encoder.model.tokenize
    return make([text])["input_ids"].tolist()


def _ids(tokenizer, window, text):
    return tokenizer([text], padding=True, truncation="longest_first",
                     max_length=window)["input_ids"][0]


def test_the_packaged_tokenizer_is_cut(encoder):
    assert encoder.window is not None and encoder.window[1] == 256


def _cases(text):
    bound = CUT_CHARS_PER_PIECE * 256
    huge_word = "x" * 30_000
    return {
        "goemotions": text,
        "just under the bound": text[:bound],
        "just over the bound": text[:bound + 1],
        "a space just after the bound": text[:bound] + " " + text[bound:],
        "a space at the bound": text[:bound - 1] + " " + text[bound:],
        "one huge word first": huge_word + " " + text,
        "one huge word only": huge_word * 10,
        "a huge word across the cut": text[:bound - 50] + huge_word + " " + text,
        "spaces first": " " * 50_000 + text,
        "tabs and newlines first": "\t\n\r\u00a0\u3000" * 10_000 + text,
        "spaces only, then a dot": " " * 50_000 + ".",
        "punctuation first": "!?., " * 10_000 + text,
        "punctuation without spaces": "!?.,;" * 10_000,
        "CJK without spaces": "漢字の文章中文" * 3_000,
        "CJK with spaces": "漢字の 文章 中文 " * 3_000,
        "accents": "ÇA ÉTÉ Café e\u0301 \u0301 ΣΑΣ ᾼ İstanbul Straße " * 1_000,
        "combining marks after spaces": "a \u0301\u0327b \u0301 " * 3_000,
        "control characters": "a\x00b\x01 c\ufffd \x7f d " * 3_000,
        "special tokens in the text": "[CLS] [SEP][UNK] x[MASK]y [PAD] " * 2_000,
        "emoji": "😀 👍🏽 family 👨‍👩‍👧 " * 2_000,
        "long vocabulary words": "internationalization " * 3_000,
    }


def test_a_cut_text_gives_the_model_the_word_pieces_of_the_whole_text(encoder,
                                                                     goemotions_text):
    tokenizer, window = encoder.window
    cut_any = False
    for name, text in _cases(goemotions_text).items():
        cut = cut_to_window(tokenizer, window, text)
        assert text.startswith(cut), name
        cut_any |= len(cut) < len(text)
        assert _model_ids(encoder, cut) == _model_ids(encoder, text), name
    assert cut_any
    # a long text of ordinary words is cut near the first bound
    bound = CUT_CHARS_PER_PIECE * window
    assert bound <= len(cut_to_window(tokenizer, window, goemotions_text)) < bound + 100


def test_a_long_text_is_embedded_as_its_whole(encoder, goemotions_text, monkeypatch):
    cases = _cases(goemotions_text)
    texts = [cases[name] for name in ("goemotions", "just over the bound", "one huge word first",
                                      "spaces first", "CJK with spaces", "accents")]
    texts.append("a short text")
    seen: list = []
    encode = encoder.model.encode

    def spy(part, **kwargs):
        seen.extend(part)
        return encode(part, **kwargs)

    monkeypatch.setattr(encoder.model, "encode", spy)
    cut = encoder.encode(texts)
    # the model is handed the cut texts, not the whole ones
    assert len(seen[0]) < len(texts[0]) and seen[-1] == "a short text"
    monkeypatch.setattr(encoder, "window", None)
    seen.clear()
    whole = encoder.encode(texts)
    assert seen == texts
    assert np.array_equal(cut, whole)


_ALPHABET = st.sampled_from(
    list("abcxyzABCXYZ0189") + [" "] * 8 + list("\t\n\r\u00a0\u2003\u3000") +
    list(".,!?;:'\"-()[]#") + list("éÉçÇßİΣσς\u0301\u0327\u0308ᾼ") +
    list("漢字中文の한글") + ["\x00", "\x01", "\x7f", "\ufffd", "\u200b", "😀", "🏽", "\u200d"] +
    ["[SEP]", "[CLS]", "[UNK]", "internationalization", " the ", " a ", "x" * 101,
     "x" * 100, "y" * 99 + "."])


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(pieces=st.lists(_ALPHABET, min_size=0, max_size=300),
       window=st.integers(min_value=2, max_value=40),
       chars_per_piece=st.integers(min_value=0, max_value=4))
def test_random_texts_cut_to_a_small_window_keep_their_first_word_pieces(
        encoder, pieces, window, chars_per_piece):
    # a small window and first cut, so that short random texts are cut, often where the
    # prefix holds just about the pieces the window takes
    tokenizer, _ = encoder.window
    text = "".join(pieces)
    cut = cut_to_window(tokenizer, window, text, chars_per_piece)
    assert text.startswith(cut)
    assert _ids(tokenizer, window, cut) == _ids(tokenizer, window, text)


def test_texts_cut_where_the_prefix_just_fills_the_window(encoder, goemotions_text):
    # each window from 2 to 80 pieces, a first cut at every few characters: a cut one
    # word short, or a prefix one piece short of the window, is caught
    tokenizer, _ = encoder.window
    texts = [goemotions_text[:3000], ("x" * 101 + " ") * 30 + goemotions_text[:500],
             " ".join("x" * n for n in range(95, 110)) * 3]
    for text in texts:
        for window in range(2, 80):
            whole = _ids(tokenizer, window, text)  # the same for every chars_per_piece
            for chars_per_piece in (1, 2, 3, 5):
                cut = cut_to_window(tokenizer, window, text, chars_per_piece)
                assert _ids(tokenizer, window, cut) == whole, \
                    (window, chars_per_piece, text[:50])


def test_other_tokenizers_are_not_cut():
    pytest.importorskip("tokenizers")
    from tokenizers import AddedToken, Tokenizer
    from tokenizers.models import WordPiece
    from tokenizers.normalizers import NFKC, BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer, Whitespace
    from transformers import PreTrainedTokenizerFast

    class Module:
        def __init__(self, tokenizer, window=256):
            self.tokenizer, self.max_seq_length = tokenizer, window

    def fast(normalizer=None, pre_tokenizer=None, **kwargs):
        backend = Tokenizer(WordPiece({"[UNK]": 0, "a": 1, "b": 2}, unk_token="[UNK]"))
        backend.normalizer = normalizer or BertNormalizer()
        backend.pre_tokenizer = pre_tokenizer or BertPreTokenizer()
        return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", **kwargs)

    bert = fast()
    assert window_tokenizer([Module(bert)]) == (bert, 256)
    assert window_tokenizer([Module(fast(normalizer=NFKC()))]) is None
    assert window_tokenizer([Module(fast(pre_tokenizer=Whitespace()))]) is None
    assert window_tokenizer([Module(fast(truncation_side="left"))]) is None
    spaced = fast()
    spaced.add_tokens([AddedToken("new york")])
    assert window_tokenizer([Module(spaced)]) is None
    assert window_tokenizer([Module(bert, window=10**30)]) is None
    assert window_tokenizer([Module(bert, window=None)]) is None
    assert window_tokenizer([Module(object())]) is None
    assert window_tokenizer([]) is None
