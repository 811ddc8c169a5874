"""A fitted featurizer counts terms and normalises rows without scikit-learn (whose
import, with the scipy.stats it pulls in, was 1.3 s of a one-document ``suggest``): its
counts and unit rows must be scikit-learn's, to the bit. (Where scikit-learn is imported
already, rows are normalised by it: this module imports it, so the numpy path is called
by name.)"""

import random

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from tagsmith.exceptions import InvalidParameterError
from tagsmith.features import tfidf
from tagsmith.features.tfidf import TfidfFeaturizer

WORDS = ["Café", "naïve", "a", "I", "Straße", "हिन्दी", "x", "ab", "dog", "cat's", "ÉTÉ",
         "e\u0301te\u0301", "İstanbul", "Ver\xadsicherung", "עִבְרִית", "don't", "3.14",
         "今日は", "東京タワー", "ภาษาไทย", "Ｆｉｎａｌ", "ﬁnal", "😀", "\u2060"]
SEPARATORS = [" ", "  ", "\t", "\n", ", ", "-", " \u00a0", "\r\n ", ".", "\x1c", "_"]

SETTINGS = [
    {},  # word (1, 2) and char_wb (2, 5), lowercase, normalize_unicode
    {"word_ngrams": (1, 3), "char_ngrams": (1, 4), "lowercase": False},
    {"word_ngrams": (2, 3), "char_ngrams": None, "normalize_unicode": False},
    {"word_ngrams": (1, 1), "char_ngrams": (3, 3), "lowercase": False,
     "normalize_unicode": False},
    {"word_ngrams": (1, 2), "char_ngrams": (4, 6), "split_unspaced": True},
    {"word_ngrams": (1, 2), "char_ngrams": None, "split_unspaced": True,
     "normalize_unicode": False},
    {"word_ngrams": (3, 3), "char_ngrams": (1, 1), "unicode_form": "NFKC"},
]


def _texts(seed, n):
    rng = random.Random(seed)
    return ["".join(rng.choice(WORDS) + rng.choice(SEPARATORS)
                    for _ in range(rng.randint(0, 40))) for _ in range(n)]


@pytest.mark.parametrize("settings", SETTINGS, ids=range(len(SETTINGS)))
def test_the_counts_are_scikit_learns(settings):
    featurizer = TfidfFeaturizer(min_df=1, **settings).fit(_texts(1, 60))
    # unseen texts too (terms out of the vocabulary), an empty and a blank one
    texts = _texts(2, 60) + ["", " \n ", "a", "Café Café café"]
    for block in featurizer.blocks_:
        ours = block.counter(featurizer).transform(texts)
        theirs = featurizer._counter(block.analyzer, block.ngrams,
                                     vocabulary=block.vocabulary()).transform(texts).tocsr()
        assert type(ours) is type(theirs) and ours.shape == theirs.shape
        assert ours.nnz > 0
        for name in ("data", "indices", "indptr"):
            mine, sk = getattr(ours, name), getattr(theirs, name)
            assert mine.dtype == sk.dtype, name
            np.testing.assert_array_equal(mine, sk, err_msg=name)


@pytest.mark.parametrize("piece", [1, 2, 7])
def test_counts_gathered_in_pieces_are_the_counts_of_all_at_once(monkeypatch, piece):
    # entries moved into arrays a few at a time (a piece ends inside a text's entries,
    # right after one, at an empty or blank text, or at one with no known term): the
    # same matrix as one gathering of every entry
    featurizer = TfidfFeaturizer(min_df=1).fit(_texts(3, 40))
    texts = ["", "zzzz qqqq"] + _texts(4, 30) + ["", " \n ", "a", "Café Café café", ""]
    for block in featurizer.blocks_:
        counter = block.counter(featurizer)
        monkeypatch.setattr(tfidf, "COUNT_PIECE", 10 ** 9)
        whole = counter.transform(texts)
        monkeypatch.setattr(tfidf, "COUNT_PIECE", piece)
        pieces = counter.transform(texts)
        assert whole.nnz > 0 and pieces.shape == whole.shape
        for name in ("data", "indices", "indptr"):
            assert getattr(pieces, name).dtype == getattr(whole, name).dtype, name
            np.testing.assert_array_equal(getattr(pieces, name), getattr(whole, name),
                                          err_msg=name)
        assert counter.transform([]).shape == (0, whole.shape[1])


def _rows(rng, lengths, dtype):
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    scale = rng.choice([1e-3, 1.0, 300.0], size=indptr[-1])
    data = (rng.random(indptr[-1]) * scale).astype(dtype)
    indices = np.concatenate([np.sort(rng.choice(5000, n, replace=False)) for n in lengths])
    return sp.csr_matrix((data, indices.astype(np.int32), indptr), shape=(len(lengths), 5000))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_are_normalised_as_scikit_learn_normalises_them(dtype):
    rng = np.random.default_rng(0)
    # empty rows, short ones, and rows longer than _LONG_ROW (summed one at a time)
    lengths = rng.integers(0, 400, 300).tolist() + [0, 1, tfidf._LONG_ROW,
                                                    tfidf._LONG_ROW + 1, 3000]
    matrix = _rows(rng, lengths, dtype)
    matrix.data[matrix.indptr[-2]:matrix.indptr[-1]][:5] = 0.0  # explicit zeros kept
    expected = normalize(matrix.copy(), norm="l2", copy=False).astype(np.float32)
    ours = tfidf._l2_normalize_rows_numpy(matrix.copy())
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours.indptr, expected.indptr)
    np.testing.assert_array_equal(ours.indices, expected.indices)
    assert ours.data.tobytes() == expected.data.tobytes()
    # the test tells the orders of adding apart: numpy's pairwise sums differ somewhere
    squares = (matrix.data * matrix.data).astype(np.float64)
    starts = matrix.indptr[:-1][np.diff(matrix.indptr) > 0]
    pairwise = np.add.reduceat(squares, starts)
    assert not np.array_equal(pairwise, tfidf._row_sums_in_order(squares, matrix.indptr)[
        np.diff(matrix.indptr) > 0])


def test_a_row_of_zeros_or_of_squares_too_small_for_float32_stays_as_it_is():
    matrix = sp.csr_matrix(np.array([[0, 0, 0], [1e-30, 0, 2e-30], [3, 4, 0]], np.float32))
    ours = tfidf._l2_normalize_rows_numpy(matrix.copy())
    expected = normalize(matrix.copy(), norm="l2", copy=False)
    assert ours.data.tobytes() == expected.data.tobytes()
    np.testing.assert_array_equal(ours.toarray()[:2], matrix.toarray()[:2])
    np.testing.assert_array_equal(ours.toarray()[2], np.float32([0.6, 0.8, 0]))


def _same_csr(ours, theirs):
    assert type(ours) is type(theirs) and ours.shape == theirs.shape
    for name in ("data", "indices", "indptr"):  # within a row in the same order, too
        mine, sk = getattr(ours, name), getattr(theirs, name)
        assert mine.dtype == sk.dtype, name
        np.testing.assert_array_equal(mine, sk, err_msg=name)


def _same_state(ours, theirs):
    (meta, arrays), (their_meta, their_arrays) = ours.to_state(), theirs.to_state()
    assert meta == their_meta and arrays.keys() == their_arrays.keys()
    for key, array in arrays.items():
        assert array.dtype == their_arrays[key].dtype
        np.testing.assert_array_equal(array, their_arrays[key])


@pytest.mark.parametrize("settings", SETTINGS + [{"min_df": 3, "max_word_features": 40,
                                                   "max_char_features": 90}],
                         ids=range(len(SETTINGS) + 1))
def test_fitting_on_analysed_texts_is_fitting_on_the_texts(settings, monkeypatch):
    """Training analyses its corpus once and fits on a part of it, then on all of it:
    each fit must be ``fit_transform`` of its texts to the bit (vocabulary, idf, and
    every row's entries in scikit-learn's order, in which its squares are added)."""
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 300)  # some texts counted in chunks
    monkeypatch.setattr(tfidf, "STREAM_CHUNK_CHARS", 64)
    texts = _texts(3, 80) + ["", " \n "] + ["".join(_texts(4, 12))]
    settings = {"min_df": 2, **settings}
    analyzed = TfidfFeaturizer(**settings).analyze(texts, settings["min_df"])
    rows = np.random.default_rng(0).permutation(len(texts))[:70]
    for part in (rows, None):
        expected = TfidfFeaturizer(**settings)
        X = expected.fit_transform(texts if part is None else [texts[i] for i in part])
        featurizer = TfidfFeaturizer(**settings)
        _same_csr(featurizer.fit_transform_analyzed(analyzed, part), X)
        _same_state(featurizer, expected)


def test_fitting_on_analysed_texts_without_terms_gives_empty_blocks():
    analyzed = TfidfFeaturizer(min_df=1).analyze(["a cat", "", " "], 1)
    featurizer = TfidfFeaturizer(min_df=1)
    X = featurizer.fit_transform_analyzed(analyzed, np.array([1, 2]))
    assert X.shape == (2, 0) and [len(block.terms) for block in featurizer.blocks_] == [0, 0]


def test_fitting_on_an_analysis_that_left_out_terms_it_keeps_is_refused():
    analyzed = TfidfFeaturizer(min_df=3).analyze(_texts(5, 20), 3)
    with pytest.raises(ValueError, match="min_df 2 below the analysis's 3"):
        TfidfFeaturizer(min_df=2).fit_transform_analyzed(analyzed)


@pytest.mark.parametrize("rows", [[0, 1, 1], [0, 5], [-1, 0]], ids=["repeated", "past the end",
                                                                   "negative"])
def test_fitting_on_rows_not_a_subset_of_the_analysis_is_refused(rows):
    # a repeated row counts its terms twice, in texts the analysis counted once and left
    # out below its min_df: fit_transform of those texts kept "cat" (in 2 of them), the
    # analysis's fit gave a matrix of other columns; a row past the end or negative read
    # another text's counts, or none
    texts = ["a cat", "a dog", "a bird", "the dog", "the bird"]
    analyzed = TfidfFeaturizer(min_df=2, char_ngrams=None).analyze(texts, 2)
    with pytest.raises(InvalidParameterError, match=r"^parameter 'rows' must be distinct "
                                                    r"indices of the 5 analysed texts"):
        TfidfFeaturizer(min_df=2, char_ngrams=None).fit_transform_analyzed(analyzed,
                                                                           np.array(rows))


@pytest.mark.parametrize("setting", [{"lowercase": False}, {"normalize_unicode": False},
                                     {"unicode_form": "NFKC"}])
def test_fitting_on_an_analysis_of_other_tokens_is_refused(setting):
    # the analysis's terms are those of its own preprocessing: a featurizer that
    # lowercases or normalises otherwise got them as its own ("Cat" fitted as "cat")
    texts = ["A Cat", "a cat", "ＣＡＴ"]
    analyzed = TfidfFeaturizer(min_df=1).analyze(texts, 1)
    with pytest.raises(ValueError, match=f"^{next(iter(setting))} differs from the analysis's"):
        TfidfFeaturizer(min_df=1, **setting).fit_transform_analyzed(analyzed)


@pytest.mark.parametrize("words", [1, 2, 7])
def test_char_ngrams_counted_in_batches_are_the_counts_of_all_at_once(monkeypatch, words):
    # character n-grams are counted a batch of texts at a time, each distinct word of a
    # batch once (a batch ends inside a text's words, at an empty or blank text, at one
    # with no known term): the same matrix as one batch of every text
    featurizer = TfidfFeaturizer(min_df=1).fit(_texts(3, 40))
    texts = ["", "zzzz qqqq"] + _texts(4, 30) + ["", " \n ", "a", "Café Café café", ""]
    counter = featurizer.blocks_[1].counter(featurizer)
    assert counter.analyzer == "char_wb"
    monkeypatch.setattr(tfidf, "CHAR_WB_WORDS", 10 ** 9)
    whole = counter.transform(texts)
    monkeypatch.setattr(tfidf, "CHAR_WB_WORDS", words)
    batches = counter.transform(texts)
    assert whole.nnz > 0 and batches.shape == whole.shape and batches.has_sorted_indices
    for name in ("data", "indices", "indptr"):
        assert getattr(batches, name).dtype == getattr(whole, name).dtype, name
        np.testing.assert_array_equal(getattr(batches, name), getattr(whole, name),
                                      err_msg=name)
    assert counter.transform([]).shape == (0, whole.shape[1])


def test_char_ngrams_of_a_word_are_taken_once_however_often_texts_repeat_it(monkeypatch):
    # every n-gram of every word of every text was generated in Python: 25 s of an
    # audit's leakage check on 3,776 Reuters texts, whose words repeat text after text
    featurizer = TfidfFeaturizer(min_df=1).fit(["the cat sat", "the dog ran"])
    counter = featurizer.blocks_[1].counter(featurizer)
    calls = []
    ngrams = tfidf._char_wb_ngrams
    monkeypatch.setattr(tfidf, "_char_wb_ngrams",
                        lambda text, *args: calls.append(text) or ngrams(text, *args))
    texts = ["The cat sat, the dog ran"] * 50 + ["the CAT"] * 50
    counts = counter.transform(texts)
    assert sorted(calls) == sorted({"the", "cat", "sat,", "dog", "ran"})
    theirs = featurizer._counter("char_wb", (2, 5), vocabulary=counter.vocabulary_
                                 ).transform(texts).tocsr()
    for name in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(counts, name), getattr(theirs, name))


def test_char_ngrams_of_long_unspaced_words_are_listed_a_bounded_number_at_a_time(monkeypatch):
    # Chinese or Thai texts are a word each (no spaces), as long as the text: 5,000
    # distinct words' n-grams listed at once were 3.4 GB for 5,000 Chinese texts of
    # 2,000 characters; now the n-grams listed and the characters gathered are bounded
    import tracemalloc

    rng = random.Random(5)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    texts = ["".join(rng.choices(chars, k=3000)) for _ in range(40)] + ["", "a b"]
    featurizer = TfidfFeaturizer(min_df=1, word_ngrams=None).fit(texts[:5])
    counter = featurizer.blocks_[0].counter(featurizer)
    theirs = featurizer._counter("char_wb", (2, 5), vocabulary=counter.vocabulary_
                                 ).transform(texts).tocsr()
    monkeypatch.setattr(tfidf, "CHAR_WB_NGRAMS", 1_000, raising=False)
    monkeypatch.setattr(tfidf, "CHAR_WB_CHARS", 10_000, raising=False)
    tracemalloc.start()
    try:
        counts = counter.transform(texts)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for name in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(counts, name), getattr(theirs, name))
    # every n-gram of the 40 texts (480,000 strings) at once was above 30 MB
    assert peak < 12e6, peak


#: texts a fit must count as scikit-learn does: empty and blank ones, copies of one text,
#: one word repeated in a text and across texts, Unicode forms, cases that lowercase to
#: more or other letters, unspaced scripts, emoji, invisible characters, one-letter words
TRICKY = (["", " ", "\n\t ", "a", "a", "a", "Café café CAFÉ", "Cafe\u0301 e\u0301te\u0301 été",
           "今日は東京タワー", "東京 東京 東京タワー", "ภาษาไทย ไทย", "Ｆｉｎａｌ ﬁnal final",
           "😀😀 😀 x😀", "aaaa aaaa aaaaa aa a", "İstanbul ıstanbul ISTANBUL",
           "Ver\xadsicherung Versicherung", "ab ab ab ba ab", "don't stop don't",
           "ΣΊΣΥΦΟΣ σίσυφος", "Straße STRASSE", "the cat sat\x1cthe\u2028cat"]
          + _texts(5, 60) + ["The cat sat, the dog ran"] * 4 + _texts(5, 10))


@pytest.mark.parametrize("cache", [10 ** 9, 1], ids=["remembered", "forgotten"])
@pytest.mark.parametrize("min_df", [1, 2, 4])
@pytest.mark.parametrize("settings", SETTINGS, ids=range(len(SETTINGS)))
def test_fitted_counts_are_scikit_learns_fit_transform(settings, min_df, cache, monkeypatch):
    """A fit counts each distinct word's character n-grams once, not through
    scikit-learn's ``fit_transform``: its counts must be that method's to the bit (the
    vocabulary, the columns, each row's entries in its order: the order its squares are
    added in when normalised), in one batch of texts or in batches of a few words
    (``CHAR_WB_WORDS``: "forgotten", each word's n-grams listed again in each batch);
    so must training's analysis of them."""
    monkeypatch.setattr(tfidf, "CHAR_WB_WORDS", 10 ** 9 if cache > 1 else 3)
    # the words' n-grams listed a few at a time too (CHAR_WB_NGRAMS)
    monkeypatch.setattr(tfidf, "CHAR_WB_NGRAMS", 150_000 if cache > 1 else 5)
    featurizer = TfidfFeaturizer(**{**settings, "min_df": min_df})
    featurizer._fit_texts(TRICKY)  # validated, split_unspaced decided
    for analyzer, ngrams, _ in featurizer._blocks_spec():
        counter = featurizer._counter(analyzer, ngrams, min_df=min_df)
        theirs = counter.fit_transform(TRICKY).tocsr()
        counts, terms = featurizer._fit_counts(TRICKY, analyzer, ngrams, min_df)
        assert terms == sorted(counter.vocabulary_, key=counter.vocabulary_.__getitem__)
        _same_csr(counts, theirs)
        # training's analysis counts char_wb n-grams as the fit does, but keeps each
        # row in its text's own order (to fit on any subset of the texts)
        analyzed = tfidf._AnalyzedBlock.count(counter, analyzer, TRICKY, len(TRICKY), min_df)
        counts, terms = analyzed.fitted_counts(ngrams, None, min_df)
        assert terms == sorted(counter.vocabulary_, key=counter.vocabulary_.__getitem__)
        _same_csr(counts, theirs)


@pytest.mark.parametrize("analyzer", ["word", "char_wb"])
def test_a_fit_without_terms_left_is_none_where_scikit_learn_refuses(analyzer):
    featurizer = TfidfFeaturizer()
    featurizer._fit_texts(["", " ", "a b", "b c"])
    # not char_wb 1-grams: their " " (a word's edge) is a term of every non-blank text
    ngrams = (1, 1) if analyzer == "word" else (3, 3)
    for texts, min_df in ((["", " "], 1), ([" \n", "\t"], 1),
                          (["ab cd", "cd ef", "ef gh"], 3)):
        with pytest.raises(ValueError):
            featurizer._counter(analyzer, ngrams, min_df=min_df).fit_transform(texts)
        assert featurizer._fit_counts(texts, analyzer, ngrams, min_df) is None


def test_a_fit_takes_each_word_s_char_ngrams_once_however_often_texts_repeat_it(monkeypatch):
    # scikit-learn's fit_transform generated every n-gram of every word of every text in
    # Python: 40 of the 55 s of fitting on Reuters' 7,770 training stories
    calls = []
    ngrams = tfidf._char_wb_ngrams
    monkeypatch.setattr(tfidf, "_char_wb_ngrams",
                        lambda text, *args: calls.append(text) or ngrams(text, *args))
    texts = ["The cat sat, the dog ran"] * 50 + ["the CAT"] * 50
    featurizer = TfidfFeaturizer(min_df=1)
    X = featurizer.fit_transform(texts)
    assert sorted(calls) == sorted({"the", "cat", "sat,", "dog", "ran"})
    expected = TfidfFeaturizer(min_df=1)
    expected._fit_texts(texts)
    counter = expected._counter("char_wb", (2, 5))
    theirs = counter.fit_transform(texts).tocsr()
    assert featurizer.blocks_[1].terms == sorted(counter.vocabulary_,
                                                 key=counter.vocabulary_.__getitem__)
    df = np.bincount(theirs.indices, minlength=theirs.shape[1])
    idf = (np.log(101.0 / (1.0 + df)) + 1.0).astype(np.float32)
    np.testing.assert_array_equal(featurizer.blocks_[1].idf, idf)
    assert X.shape == (100, len(featurizer.blocks_[0].terms) + len(idf))
    # training's analysis of its corpus (fitted on in parts) takes each word's once too
    calls.clear()
    TfidfFeaturizer(min_df=1).analyze(texts, 1)
    assert sorted(calls) == sorted({"the", "cat", "sat,", "dog", "ran"})


@pytest.mark.parametrize("min_df", [1, 2])
@pytest.mark.parametrize("words", [10 ** 9, 3])
@pytest.mark.parametrize("settings", SETTINGS[:2] + SETTINGS[4:5], ids=[0, 1, 4])
def test_a_fit_streams_only_its_long_texts(settings, words, min_df, monkeypatch):
    """A text longer than STREAM_MIN_CHARS is counted a chunk at a time; it sent every
    text's character n-grams through a Counter (20,000 short texts 5.1 s, 8.3 s with one
    long text). Now only it is streamed, its row numbered in turn with the batches':
    the counts are scikit-learn's ``fit_transform``'s with the long texts streamed or
    not (at the start, between batches, one after another, at the end)."""
    long = ["Café naïve " * 30, "東京タワー今日は" * 40 + " x", "ab ab " * 50]
    texts = [long[0]] + TRICKY[:40] + long[1:] + TRICKY[40:] + [long[0] + "x"]
    monkeypatch.setattr(tfidf, "CHAR_WB_WORDS", words)
    monkeypatch.setattr(tfidf, "STREAM_CHUNK_CHARS", 64)
    rows = []
    term_id_rows = tfidf._term_id_rows
    monkeypatch.setattr(tfidf, "_term_id_rows", lambda counter, analyzer, *args: (
        rows.append(analyzer) or term_id_rows(counter, analyzer, *args)))
    featurizer = TfidfFeaturizer(**{**settings, "min_df": min_df})
    featurizer._fit_texts(texts)
    counter = featurizer._counter("char_wb", featurizer.char_ngrams, min_df=min_df)
    theirs = counter.fit_transform(texts).tocsr()
    for stream_min_chars in (10 ** 9, 200):  # no text streamed; the long ones streamed
        monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", stream_min_chars)
        counts, terms = featurizer._fit_counts(texts, "char_wb", featurizer.char_ngrams,
                                               min_df)
        assert terms == sorted(counter.vocabulary_, key=counter.vocabulary_.__getitem__)
        _same_csr(counts, theirs)
    assert rows == []  # the short texts' n-grams are a product, not Counters


def test_a_fit_lists_its_words_char_ngrams_a_bounded_number_at_a_time(monkeypatch):
    # as a transform does (a fit's n-grams of a batch of Chinese text, with their owners
    # and a COO copy, were 200-300 MB): the fit shares the transform's batch counting
    rng = random.Random(7)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 300)]
    texts = ["".join(rng.choices(chars, k=400)) for _ in range(30)] + ["", "a b"]
    monkeypatch.setattr(tfidf, "CHAR_WB_NGRAMS", 1_000)
    listed = []
    batch_counts = tfidf._char_wb_batch_counts

    def recorded(batch, min_n, max_n, ids_of, width):
        def listing(ngrams):
            listed.append(len(ngrams))
            return ids_of(ngrams)
        return batch_counts(batch, min_n, max_n, listing, width)

    monkeypatch.setattr(tfidf, "_char_wb_batch_counts", recorded)
    featurizer = TfidfFeaturizer(min_df=2, word_ngrams=None)
    featurizer._fit_texts(texts)
    counts, terms = featurizer._fit_counts(texts, "char_wb", (2, 5), 2)
    counter = featurizer._counter("char_wb", (2, 5), min_df=2)
    theirs = counter.fit_transform(texts).tocsr()
    assert terms == sorted(counter.vocabulary_, key=counter.vocabulary_.__getitem__)
    _same_csr(counts, theirs)
    # every distinct word's n-grams listed once (one batch), at most a word's (1,598 of
    # 400 characters) beyond the bound at a time
    words = {word for text in texts for word in text.split()}
    assert sum(listed) == sum(len(list(tfidf._char_wb_ngrams(word, 2, 5))) for word in words)
    assert len(listed) > 10 and max(listed) < 1_000 + 1_598, listed


@pytest.mark.parametrize("words", [10 ** 9, 3])
@pytest.mark.parametrize("settings", SETTINGS[:2] + SETTINGS[4:5], ids=[0, 1, 4])
def test_training_s_analysis_counts_char_ngrams_as_the_fit_does(settings, words, monkeypatch):
    """Training's analysis (``tagsmith train`` without ``--dev``) counted every character
    n-gram of every text through a ``Counter``; it now takes the fit's batch product
    (``_char_wb_batch_counts``), each row in its text's own first-met order, so that a
    fit on any subset (here texts meeting known words in another order: "sat cat" after
    "the cat sat") is scikit-learn's ``fit_transform`` of that subset to the bit."""
    long = ["Café naïve " * 30, "東京タワー今日は" * 40 + " x"]
    texts = (["the cat sat", "sat cat the dog", "dog dog the"] + TRICKY[:30] + long
             + TRICKY[30:] + ["cat sat sat, the"])
    monkeypatch.setattr(tfidf, "CHAR_WB_WORDS", words)
    monkeypatch.setattr(tfidf, "STREAM_MIN_CHARS", 200)
    monkeypatch.setattr(tfidf, "STREAM_CHUNK_CHARS", 64)
    analyzers = []
    term_id_rows = tfidf._term_id_rows
    monkeypatch.setattr(tfidf, "_term_id_rows", lambda counter, analyzer, *args: (
        analyzers.append(analyzer) or term_id_rows(counter, analyzer, *args)))
    # decided once (a subset without the Chinese would decide otherwise)
    settings = {"min_df": 1, "split_unspaced": True, **settings}
    analyzed = TfidfFeaturizer(**settings).analyze(texts, 1)
    assert "char_wb" not in analyzers
    rng = np.random.default_rng(1)
    for part in ([1, 2, 0], rng.permutation(len(texts))[:40], rng.permutation(len(texts)),
                 None):
        expected = TfidfFeaturizer(**settings)
        X = expected.fit_transform(texts if part is None else [texts[i] for i in part])
        featurizer = TfidfFeaturizer(**settings)
        rows = None if part is None else np.asarray(part)
        _same_csr(featurizer.fit_transform_analyzed(analyzed, rows), X)
        _same_state(featurizer, expected)
