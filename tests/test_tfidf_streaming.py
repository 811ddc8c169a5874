"""Long texts are counted a chunk at a time when fitted and transformed (features/tfidf.py
STREAM_MIN_CHARS): the features are those of the list-based path, with far less memory."""

import random
import tracemalloc

import numpy as np
import pytest

from tagsmith._chunks import whitespace_chunks
from tagsmith.features import tfidf
from tagsmith.features.tfidf import TfidfFeaturizer

WORDS = ["Café", "naïve", "a", "I", "Straße", "हिन्दी", "x", "ab", "dog", "cat's", "ÉTÉ",
         "e\u0301te\u0301", "İstanbul", "Ver\xadsicherung", "עִבְרִית", "don't", "3.14",
         "longwordlongerthanachunk"]
SEPARATORS = [" ", "  ", "\t", "\n", ", ", "-", " \u00a0", "\r\n ", ".", " \u2060"]


def _text(rng, n_chars):
    parts, size = [], 0
    while size < n_chars:
        part = rng.choice(WORDS) + rng.choice(SEPARATORS)
        parts.append(part)
        size += len(part)
    return "".join(parts)


def _same(a, b):
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


SETTINGS = [
    {},  # word (1, 2) and char_wb (2, 5), lowercase, normalize_unicode
    {"word_ngrams": (1, 3), "char_ngrams": (1, 4), "lowercase": False},
    {"word_ngrams": (2, 3), "char_ngrams": None, "normalize_unicode": False},
    {"word_ngrams": (1, 1), "char_ngrams": (3, 3), "lowercase": False,
     "normalize_unicode": False},
    {"word_ngrams": None, "char_ngrams": (4, 6), "sublinear_tf": False},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=range(len(SETTINGS)))
@pytest.mark.parametrize("chunk_chars", [1, 5, 13, 1000])
def test_streamed_counts_equal_the_list_based_ones(settings, chunk_chars, monkeypatch):
    rng = random.Random(7)
    corpus = [_text(rng, 300) for _ in range(40)]
    featurizer = TfidfFeaturizer(min_df=1, **settings).fit(corpus)
    # long texts among short ones, a text without whitespace, an empty and a blank one
    texts = [corpus[0], _text(rng, 6000), "", _text(rng, 4000), corpus[1], "Straße" * 700,
             "  \n ", _text(rng, 3001)]
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 10**9)
    expected = featurizer.transform(texts)
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100)
    monkeypatch.setattr(tfidf, "STREAM_CHUNK_CHARS", chunk_chars)
    # the chunks do cut across words and across word n-grams
    long_text = texts[1]
    assert any(long_text[i].isalnum() and long_text[i + 1].isalnum()
               for i in range(chunk_chars - 1, len(long_text) - 1, chunk_chars))
    _same(featurizer.transform(texts), expected)


def test_whitespace_chunks_cover_the_text_and_end_after_whitespace():
    text = "ab cd  efgh\tij" + "k" * 50 + " l"
    for size in (1, 2, 3, 7, 100):
        chunks = list(whitespace_chunks(text, size))
        assert "".join(chunks) == text
        assert all(chunk[-1].isspace() for chunk in chunks[:-1])
        assert all(len(chunk) >= size for chunk in chunks[:-1])


def _peak(function):
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_text_takes_far_less_memory_streamed(monkeypatch):
    rng = random.Random(3)
    vocab = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(20, 30)))
             for _ in range(3000)]
    corpus = [" ".join(rng.choices(vocab, k=40)) for _ in range(100)]
    featurizer = TfidfFeaturizer(min_df=1, char_ngrams=None).fit(corpus)
    text = " ".join(rng.choices(vocab, k=200_000))  # about 5 MB
    assert len(text) > 4_500_000
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 10**9)
    listed = _peak(lambda: featurizer.transform([text]))
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100_000)
    streamed = _peak(lambda: featurizer.transform([text]))
    # the list path holds 400,000 n-gram strings; the streamed one a chunk's worth and
    # the preprocessed text
    assert streamed * 3 < listed, (streamed, listed)
    assert streamed < 3 * len(text), (streamed, len(text))


# -- fitting -----------------------------------------------------------------------------
FIT_SETTINGS = [
    {"min_df": 1},  # word (1, 2) and char_wb (2, 5), lowercase, normalize_unicode
    {"min_df": 2, "word_ngrams": (1, 3), "char_ngrams": (1, 4), "lowercase": False},
    {"min_df": 2, "word_ngrams": (2, 3), "char_ngrams": None, "normalize_unicode": False},
    {"min_df": 1, "word_ngrams": (1, 1), "char_ngrams": (3, 3), "lowercase": False,
     "normalize_unicode": False, "max_word_features": 9, "max_char_features": 40},
    {"min_df": 2, "word_ngrams": None, "char_ngrams": (4, 6), "sublinear_tf": False,
     "max_char_features": 25},
]


def _fit(settings, texts):
    featurizer = TfidfFeaturizer(**settings)
    X = featurizer.fit_transform(texts)
    return X, featurizer.to_state()


@pytest.mark.parametrize("settings", FIT_SETTINGS, ids=range(len(FIT_SETTINGS)))
@pytest.mark.parametrize("chunk_chars", [1, 13, 1000])
def test_fitting_on_streamed_texts_gives_the_list_based_features(settings, chunk_chars,
                                                                monkeypatch):
    rng = random.Random(11)
    # long texts among short ones; "Zebrafishonly" is in two long texts only, "Qux" in one
    # short text only (pruned with min_df 2)
    texts = [_text(rng, 300), _text(rng, 6000) + " Zebrafishonly tail", "Qux", "",
             _text(rng, 200), "Straße" * 700, "  \n ", "Zebrafishonly " + _text(rng, 3001),
             _text(rng, 250)]
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 10**9)
    expected, (expected_meta, expected_idf) = _fit(settings, texts)
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100)
    monkeypatch.setattr(tfidf, "STREAM_CHUNK_CHARS", chunk_chars)
    got, (meta, idf) = _fit(settings, texts)
    assert got.dtype == expected.dtype and got.indices.dtype == expected.indices.dtype
    _same(got, expected)
    assert meta == expected_meta
    assert idf.keys() == expected_idf.keys()
    for name in idf:
        assert idf[name].dtype == expected_idf[name].dtype
        np.testing.assert_array_equal(idf[name], expected_idf[name])
    terms = [term for block in meta["blocks"] for term in block["terms"]]
    word = settings.get("word_ngrams", (1, 2))
    if word is not None and word[0] == 1 and "max_word_features" not in settings:
        lower = settings.get("lowercase", True)
        assert ("zebrafishonly" if lower else "Zebrafishonly") in terms
        assert (("qux" if lower else "Qux") in terms) == (settings["min_df"] == 1)


@pytest.mark.parametrize("min_df", [1, 2, 5])
def test_fitting_when_every_term_is_pruned_gives_an_empty_block(min_df, monkeypatch):
    texts = ["", "  ", "ab " * 60, "  \t"]  # one text with terms, only one
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 10**9)
    expected, (expected_meta, _) = _fit({"min_df": min_df, "char_ngrams": None}, texts)
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100)
    got, (meta, _) = _fit({"min_df": min_df, "char_ngrams": None}, texts)
    assert meta == expected_meta
    _same(got, expected)
    # one text holds every term: min_df 1 keeps them, more prunes them (min_df is cut to
    # the 4 texts, so 5 prunes too)
    assert meta["blocks"][0]["terms"] == (["ab", "ab ab"] if min_df == 1 else [])
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100)
    blank, (blank_meta, _) = _fit({"min_df": 1, "char_ngrams": None}, ["  " * 80, ""])
    assert blank.shape == (2, 0) and blank_meta["blocks"][0]["terms"] == []


def test_fitting_on_a_long_text_takes_far_less_memory_streamed(monkeypatch):
    rng = random.Random(4)
    vocab = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(20, 30)))
             for _ in range(60)]
    corpus = [" ".join(rng.choices(vocab, k=40)) for _ in range(20)]
    text = " ".join(rng.choices(vocab, k=160_000))  # about 4 MB
    assert len(text) > 3_500_000
    settings = {"min_df": 1, "char_ngrams": None}
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 10**9)
    listed = _peak(lambda: TfidfFeaturizer(**settings).fit_transform(corpus + [text]))
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100_000)
    streamed = _peak(lambda: TfidfFeaturizer(**settings).fit_transform(corpus + [text]))
    # the list path holds 320,000 n-gram strings; the streamed one a chunk's worth, the
    # preprocessed text and the (few) distinct terms
    assert streamed * 3 < listed, (streamed, listed)
    assert streamed < 3 * len(text), (streamed, len(text))


def test_fitting_long_texts_with_a_progress_bar_gives_the_same_features(monkeypatch):
    rng = random.Random(2)
    texts = [_text(rng, 200), _text(rng, 2000), _text(rng, 150), _text(rng, 1500)]
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100)
    plain = TfidfFeaturizer(min_df=1, char_ngrams=(2, 3))
    shown = TfidfFeaturizer(min_df=1, char_ngrams=(2, 3))
    shown.show_progress = True
    _same(shown.fit_transform(texts), plain.fit_transform(texts))
    assert shown.to_state()[0] == plain.to_state()[0]


# -- scripts without spaces (split_unspaced) ----------------------------------------------
UNSPACED_WORDS = ["今日は", "東京タワー", "ภาษาไทย", "กิน", "中文文本", "Tokyo", "２０２６",
                  "café", "ກິນ", "ー", "・", "。", "x"]


def _unspaced_text(rng, n_chars):
    parts, size = [], 0
    while size < n_chars:
        part = rng.choice(UNSPACED_WORDS) + rng.choice(["", "", "", " ", "、"])
        parts.append(part)
        size += len(part)
    return "".join(parts)


@pytest.mark.parametrize("settings", [{"char_ngrams": None},
                                      {"word_ngrams": (1, 3), "normalize_unicode": False}],
                         ids=["normalized", "as-given"])
@pytest.mark.parametrize("chunk_chars", [1, 5, 13])
def test_streamed_unspaced_text_gives_the_list_based_features(settings, chunk_chars,
                                                              monkeypatch):
    """Chinese, Japanese and Thai text (with its combining marks) has few or no spaces:
    cut before each of its characters too, the counts are those of the list path."""
    rng = random.Random(5)
    texts = [_unspaced_text(rng, 300) for _ in range(20)] + [
        _unspaced_text(rng, 5000), "中文" * 2000, "กิ" * 1500, "", _unspaced_text(rng, 200)]
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 10**9)
    expected, (expected_meta, expected_idf) = _fit({"min_df": 1, **settings}, texts)
    assert expected_meta["split_unspaced"] is True
    featurizer = TfidfFeaturizer(min_df=1, **settings).fit(texts[:20])
    expected_transform = featurizer.transform(texts[20:])
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100)
    monkeypatch.setattr(tfidf, "STREAM_CHUNK_CHARS", chunk_chars)
    got, (meta, idf) = _fit({"min_df": 1, **settings}, texts)
    _same(got, expected)
    assert meta == expected_meta
    for name in idf:
        np.testing.assert_array_equal(idf[name], expected_idf[name])
    _same(featurizer.transform(texts[20:]), expected_transform)


def test_a_long_text_without_spaces_takes_far_less_memory_streamed(monkeypatch):
    """A Chinese text has no whitespace to cut at: it was one chunk, all its character
    tokens (one a character, split_unspaced) listed at once, as without streaming."""
    rng = random.Random(3)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    corpus = ["".join(rng.choices(chars, k=40)) for _ in range(100)]
    featurizer = TfidfFeaturizer(min_df=1, char_ngrams=None).fit(corpus)
    assert featurizer.split_unspaced_
    # half a million characters: the listed tokens take five times the memory of a
    # streamed chunk's (a million took ten times, and twice the time)
    text = "".join(rng.choices(chars, k=500_000))
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 10**9)
    listed = _peak(lambda: featurizer.transform([text]))
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100_000)
    streamed = _peak(lambda: featurizer.transform([text]))
    assert streamed * 3 < listed, (streamed, listed)


# -- preprocessing a piece at a time ---------------------------------------------------------
#: characters whose preprocessing looks at a neighbour or changes the length: a final
#: sigma, combining marks (also right after a space), compatibility characters for NFKC,
#: the invisible ones taken out, Hangul jamo that compose, an emoji (4 bytes a character)
TRICKY = ["Σ", "ΟΔΟΣ", "σ", "ς", "Α", "'", ".", "\u0301", "\u0308", "e", "a", "ﬁ", "Ａ",
          "２", "…", "™", "\u00ad", "\u2060", "\ufeff", "\u1100", "\u1161", "\u11a8", "😀",
          "İ", "ß", "\u00a0", "\u3000", "\t", "\n", "\x1f", "\x85", " ", " ", " ", "  "]


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("form", ["NFC", "NFKC"])
def test_preprocessed_pieces_join_to_the_whole_text_preprocessed(lowercase, form):
    rng = random.Random(11)
    preprocessors = [tfidf.unicode_preprocessor(lowercase, form), str.lower,
                     tfidf._unchanged]
    texts = ["", " ", "   ", "\n\t ", "x" * 50, " Σ Σ ΟΔΟΣ σ", "a \u0301 e\u0301 ΣΑΣ "]
    texts += ["".join(rng.choices(TRICKY, k=rng.randint(1, 300))) for _ in range(60)]
    for preprocess in preprocessors:
        for text in texts:
            whole = preprocess(text)
            for size in (1, 2, 3, 7, 40, 10**6):
                pieces = list(tfidf._preprocessed_pieces(preprocess, text, size))
                assert "".join(pieces) == whole, (text, size)
                assert bool(pieces) == bool(text)


def test_a_long_text_of_lines_without_spaces_is_preprocessed_in_pieces():
    # pieces were cut before an ASCII space only: a text of lines without a space (a
    # Japanese document, a list of words) was one piece, the whole copies held at once
    # (tracemalloc over transform of 1.1 MB of such lines: 17.6 MB, as before the pieces)
    text = "今日は東京😀\n" * 1000 + "ΟΔΟΣ\n\r\nΣ\u0301\n"
    for preprocess in (tfidf.unicode_preprocessor(True, "NFKC"), str.lower):
        pieces = list(tfidf._preprocessed_pieces(preprocess, text, 70))
        assert "".join(pieces) == preprocess(text)
        assert len(pieces) > 50 and all(len(piece) < 100 for piece in pieces)


@pytest.mark.parametrize("settings", SETTINGS + [{"unicode_form": "NFKC"}],
                         ids=range(len(SETTINGS) + 1))
@pytest.mark.parametrize("piece_chars", [1, 9, 1000])
def test_features_of_texts_preprocessed_in_pieces_equal_the_whole_ones(
        settings, piece_chars, monkeypatch):
    rng = random.Random(5)
    corpus = [_text(rng, 300) for _ in range(30)]
    corpus += ["".join(rng.choices(TRICKY + WORDS, k=100)) for _ in range(10)]
    texts = [_text(rng, 5000), "".join(rng.choices(TRICKY + WORDS, k=3000)), "",
             "   \n ", "Straße" * 700, "ΟΔΟΣ " * 500 + "ΟΔΟΣ", corpus[0]]
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 10**9)
    expected_fit = _fit({"min_df": 1, **settings}, corpus + texts)
    featurizer = TfidfFeaturizer(min_df=1, **settings).fit(corpus)
    expected = featurizer.transform(texts)
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 100)
    monkeypatch.setattr(tfidf, "PREPROCESS_PIECE_CHARS", piece_chars)
    _same(featurizer.transform(texts), expected)
    X, state = _fit({"min_df": 1, **settings}, corpus + texts)
    _same(X, expected_fit[0])
    meta, arrays = expected_fit[1]
    assert state[0] == meta
    for name, array in state[1].items():
        np.testing.assert_array_equal(array, arrays[name])
