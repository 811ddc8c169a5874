"""TF-IDF features of Unicode text (normal forms, invisible characters, combining marks) and
the max_features cut."""

import gzip
import json
import unicodedata
from itertools import islice

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import TfidfFeaturizer

from conftest import GOEMOTIONS

TEXTS = ["Café naïve résumé über Straße", "Ein Versicherungsvertrag für Ärzte",
         "हिन्दी भाषा का इतिहास", "עִבְרִית וְעַרְבִית", "plain ascii words"]


def _nfd(texts):
    return [unicodedata.normalize("NFD", text) for text in texts]


def _dense(featurizer, texts):
    return featurizer.transform(texts).toarray()


@pytest.mark.parametrize("fit_form", ["NFC", "NFD"])
def test_composed_and_decomposed_text_give_the_same_features(fit_form):
    """A decomposed 'é' (e + combining acute, as text from macOS often has it) was
    other terms than the composed one: 'naïve' in NFD was the words 'nai' and 've',
    and its features shared a third of the composed text's (cosine 0.38)."""
    fit_texts = TEXTS if fit_form == "NFC" else _nfd(TEXTS)
    featurizer = TfidfFeaturizer(min_df=1).fit(fit_texts)
    np.testing.assert_array_equal(_dense(featurizer, TEXTS), _dense(featurizer, _nfd(TEXTS)))
    assert "naïve" in featurizer.blocks_[0].terms


@pytest.mark.parametrize("options", [{}, {"lowercase": False, "unicode_form": "NFKC"}])
def test_a_featurizer_that_has_featurized_pickles(options):
    """A multiprocessing pool pickles its arguments: a classifier that had predicted
    failed with "Can't pickle local object 'unicode_preprocessor.<locals>.preprocess'"
    (its TF-IDF counter's preprocessor, made on first use), one that had not pickled."""
    import pickle

    featurizer = TfidfFeaturizer(min_df=1, **options).fit(TEXTS)
    before = _dense(featurizer, TEXTS + ["ＦＩＮＡＬ Café"])
    copy = pickle.loads(pickle.dumps(featurizer))
    np.testing.assert_array_equal(_dense(copy, TEXTS + ["ＦＩＮＡＬ Café"]), before)


@pytest.mark.parametrize("invisible", ["\u00ad", "\u2060", "\ufeff"])
def test_soft_hyphens_and_word_joiners_do_not_split_words(invisible):
    """A soft hyphen (a hyphenation hint in web text), a word joiner or a zero-width
    no-break space inside a word cut it in two words."""
    featurizer = TfidfFeaturizer(min_df=1).fit(TEXTS)
    hinted = [text.replace("Versicherungs", f"Ver{invisible}sicherungs") for text in TEXTS]
    np.testing.assert_array_equal(_dense(featurizer, hinted), _dense(featurizer, TEXTS))


def test_combining_marks_stay_inside_word_tokens():
    """Python's \\w holds no combining mark: 'हिन्दी' was cut at each vowel sign and
    virama into single consonants, pointed Hebrew into letters."""
    featurizer = TfidfFeaturizer(min_df=1, char_ngrams=None, word_ngrams=(1, 1)).fit(TEXTS)
    terms = set(featurizer.blocks_[0].terms)
    assert {"हिन्दी", "भाषा", "इतिहास", "עִבְרִית", "וְעַרְבִית"} <= terms
    assert "ह" not in terms


def test_text_without_marks_or_other_forms_keeps_its_features():
    """Text in NFC without combining marks or invisible characters (the usual case: the
    bundled GoEmotions lines that hold none) is featurized exactly as before."""
    with gzip.open(GOEMOTIONS / "train.tsv.gz", "rt", encoding="utf-8") as handle:
        texts = [line.split("\t", 1)[0] for line in islice(handle, 2000)]
    texts = [text for text in texts if not any(
        unicodedata.category(char) in ("Mn", "Mc", "Cf") for char in text)]
    new = TfidfFeaturizer(min_df=1)
    old = TfidfFeaturizer(min_df=1, normalize_unicode=False)
    assert (new.fit_transform(texts) != old.fit_transform(texts)).nnz == 0
    assert [b.terms for b in new.blocks_] == [b.terms for b in old.blocks_]


def test_a_state_saved_before_normalize_unicode_featurizes_as_it_did():
    """A bundle saved before the setting has its vocabulary of texts as given: it loads
    with normalize_unicode off, so its features do not change."""
    old = TfidfFeaturizer(min_df=1, normalize_unicode=False).fit(TEXTS)
    meta, arrays = old.to_state()
    meta = json.loads(json.dumps(meta))
    del meta["params"]["normalize_unicode"]
    loaded = TfidfFeaturizer.from_state(meta, arrays)
    assert loaded.normalize_unicode is False
    np.testing.assert_array_equal(_dense(loaded, _nfd(TEXTS)), _dense(old, _nfd(TEXTS)))
    # a new state says so, and loads as it was saved
    meta, arrays = TfidfFeaturizer(min_df=1).fit(TEXTS).to_state()
    assert json.loads(json.dumps(meta))["params"]["normalize_unicode"] is True
    assert TfidfFeaturizer.from_state(meta, arrays).normalize_unicode is True


def test_normalize_unicode_must_be_a_bool():
    with pytest.raises(InvalidParameterError, match="normalize_unicode"):
        TfidfFeaturizer(normalize_unicode="no").fit(TEXTS)


def test_fitting_on_a_lone_surrogate_is_refused_naming_the_text():
    """UTF-8 cannot hold half of a surrogate pair: the featurizer learned character
    n-grams holding one, and the bundle save failed on them after the whole fit."""
    texts = ["good fine great", "bad x\ud800y awful", "fine again"]
    with pytest.raises(InvalidParameterError, match=r"'texts\[1\]'.*lone surrogate"):
        TfidfFeaturizer(min_df=1).fit(texts)


# -- max_word_features / max_char_features ------------------------------------------------
# scikit-learn's max_features broke ties at the cut with numpy's unstable argsort, whose
# order depends on the CPU's vector instructions: the same corpus kept other terms (and
# trained another model) on a machine with AVX-512 than on one without, or with AVX2 only.

@pytest.mark.parametrize("block", ["word", "char"])
def test_max_features_keeps_the_most_frequent_terms_ties_in_term_order(block):
    from sklearn.feature_extraction.text import CountVectorizer

    rng = np.random.default_rng(0)
    words = [f"w{i:04d}" for i in range(3000)]
    texts = [" ".join(rng.choice(words, 8)) for _ in range(600)]
    limit = 500
    if block == "word":
        featurizer = TfidfFeaturizer(word_ngrams=(1, 1), char_ngrams=None, min_df=1,
                                     max_word_features=limit)
        reference = CountVectorizer(token_pattern=r"\S+")
    else:
        featurizer = TfidfFeaturizer(word_ngrams=None, char_ngrams=(3, 4), min_df=1,
                                     max_char_features=limit)
        reference = CountVectorizer(analyzer="char_wb", ngram_range=(3, 4))
    counts = reference.fit_transform(texts).sum(axis=0).A1
    ranked = sorted(zip(reference.get_feature_names_out(), counts, strict=True),
                    key=lambda term_count: (-term_count[1], term_count[0]))
    assert len({count for _, count in ranked[limit - 1:limit + 1]}) == 1  # a tie at the cut
    expected = sorted(term for term, _ in ranked[:limit])
    featurizer.fit(texts)
    assert featurizer.blocks_[0].terms == expected
    # the kept columns are counted and weighted as without a limit
    full = TfidfFeaturizer(**{**featurizer.get_params(), "max_word_features": None,
                              "max_char_features": None}).fit(texts)
    columns = [full.blocks_[0].terms.index(term) for term in expected]
    assert np.array_equal(featurizer.blocks_[0].idf, full.blocks_[0].idf[columns])


def test_chinese_japanese_and_thai_words_are_characters():
    """Written without spaces, a whole sentence was one word token, seen once: with word
    n-grams alone (char_ngrams=None) a new sentence had no features at all, and two
    sentences sharing every word but one shared no word feature."""
    train = ["城市米饭饺子在我们", "昨天烤鸭今天非常", "今日はラーメンを食べた", "ข้าวเหนียวทุกคนส้มตำ"]
    featurizer = TfidfFeaturizer(char_ngrams=None, min_df=1).fit(train)
    X = featurizer.transform(["我们的饺子", "ラーメンが好き", "ส้มตำอร่อย"])
    assert (np.diff(X.indptr) > 0).all()
    terms = featurizer.blocks_[0].terms
    assert {"饺", "饺 子", "ラ", "ラ ー", "ส้", "ส้ ม"} <= set(terms)  # bigrams: two tokens
    assert "城市米饭饺子在我们" not in terms


def test_split_unspaced_keeps_the_tokens_of_other_scripts():
    """Text without characters of the unspaced scripts (the bundled GoEmotions lines,
    German, Hindi, Hebrew) has the same tokens, byte for byte, as without the setting."""
    import re

    from tagsmith.features.tfidf import UNSPACED

    with gzip.open(GOEMOTIONS / "train.tsv.gz", "rt", encoding="utf-8") as handle:
        texts = [line.split("\t", 1)[0] for line in islice(handle, 5000)] + TEXTS
    texts = [text for text in texts if not re.search(f"[{UNSPACED}]", text)]
    assert len(texts) > 4900
    for normalize in (True, False):
        new, old = (TfidfFeaturizer(normalize_unicode=normalize, split_unspaced=split)
                    ._counter("word", (1, 2)).build_analyzer() for split in (True, False))
        assert [new(text) for text in texts] == [old(text) for text in texts]


def test_a_state_saved_before_split_unspaced_featurizes_as_it_did():
    texts = TEXTS + ["城市米饭饺子在我们", "城市米饭饺子在我们"]
    old = TfidfFeaturizer(min_df=1, split_unspaced=False).fit(texts)
    meta, arrays = old.to_state()
    meta = json.loads(json.dumps(meta))
    del meta["params"]["split_unspaced"], meta["split_unspaced"]  # as before the setting
    loaded = TfidfFeaturizer.from_state(meta, arrays)
    assert loaded.split_unspaced is False
    np.testing.assert_array_equal(_dense(loaded, texts), _dense(old, texts))
    meta, arrays = TfidfFeaturizer(min_df=1).fit(texts).to_state()
    assert TfidfFeaturizer.from_state(meta, arrays).split_unspaced_ is True
    with pytest.raises(InvalidParameterError, match="split_unspaced"):
        TfidfFeaturizer(split_unspaced="no").fit(TEXTS)


def test_split_unspaced_auto_decides_on_the_training_texts():
    """An English corpus quoting "玛雅" in a few texts keeps its features (GoEmotions: 6 of
    54,263 texts would change); a corpus of Chinese or Thai texts is split, and the state
    saves what was decided."""
    english = ["we ate at 玛雅 today", "a good day", "a bad day"] * 2 + ["fine"] * 20
    featurizer = TfidfFeaturizer(min_df=1).fit(english)
    assert "玛雅" in featurizer.blocks_[0].terms
    meta, arrays = featurizer.to_state()
    assert meta["params"]["split_unspaced"] == "auto"
    assert meta["split_unspaced"] is False
    chinese = TfidfFeaturizer(min_df=1).fit(["城市米饭饺子在我们", "昨天烤鸭今天非常"] + english)
    assert "饺" in chinese.blocks_[0].terms
    meta, arrays = chinese.to_state()
    assert meta["split_unspaced"] is True
    loaded = TfidfFeaturizer.from_state(json.loads(json.dumps(meta)), arrays)
    assert loaded.get_params() == chinese.get_params()
    np.testing.assert_array_equal(_dense(loaded, ["饺子", "玛雅"]),
                                  _dense(chinese, ["饺子", "玛雅"]))
    with pytest.raises(InvalidParameterError, match='split_unspaced.*"auto"'):
        TfidfFeaturizer(split_unspaced="yes").fit(TEXTS)


def test_unicode_form_nfkc_folds_full_width_letters_digits_and_ligatures():
    """Full-width 'Ｆｉｎａｌ ２０２６' (typed with a Chinese or Japanese input method) and the
    'ﬁ' ligature (text from PDFs) were other terms than 'final 2026': NFKC matches them;
    NFC, the default, keeps them apart as before."""
    texts = ["final match 2026", "Ｆｉｎａｌ ｍａｔｃｈ ２０２６", "ﬁnal match 2026", "a cup"]
    nfkc = TfidfFeaturizer(min_df=1, unicode_form="NFKC").fit(texts)
    X = _dense(nfkc, texts)
    np.testing.assert_array_equal(X[0], X[1])
    np.testing.assert_array_equal(X[0], X[2])
    nfc = _dense(TfidfFeaturizer(min_df=1).fit(texts), texts)
    assert float(nfc[0] @ nfc[1]) < 0.1
    meta, arrays = nfkc.to_state()
    loaded = TfidfFeaturizer.from_state(json.loads(json.dumps(meta)), arrays)
    np.testing.assert_array_equal(_dense(loaded, texts), X)
    with pytest.raises(InvalidParameterError, match="unicode_form"):
        TfidfFeaturizer(unicode_form="nfkd").fit(TEXTS)


def test_unicode_form_nfkc_without_normalize_unicode_is_refused():
    """NFKC is applied by the normalize_unicode preprocessor: with that off, full-width
    'Ｆｉｎａｌ' stayed a term of its own and the setting did nothing, without a word."""
    featurizer = TfidfFeaturizer(normalize_unicode=False, unicode_form="NFKC", min_df=1)
    with pytest.raises(InvalidParameterError, match="unicode_form.*normalize_unicode"):
        featurizer.fit(["Ｆｉｎａｌ ２０２６", "final 2026"])
    assert TfidfFeaturizer(normalize_unicode=False).fit(["a b"]).unicode_form == "NFC"


def test_a_bundle_saved_with_nfkc_and_normalize_unicode_off_still_loads():
    """Before NFKC without normalize_unicode was refused, training took it (and applied
    no NFKC): such a bundle's featurizer failed to load ('damaged', exit 4). It loads
    as it featurized, NFC-free, full-width terms its own; a bad form is still refused."""
    texts = ["Ｆｉｎａｌ ２０２６", "final 2026", "a cup"]
    fitted = TfidfFeaturizer(normalize_unicode=False, min_df=1).fit(texts)
    meta, arrays = fitted.to_state()
    meta["params"]["unicode_form"] = "NFKC"  # what that training saved
    loaded = TfidfFeaturizer.from_state(json.loads(json.dumps(meta)), arrays)
    assert loaded.unicode_form == "NFC" and not loaded.normalize_unicode
    np.testing.assert_array_equal(_dense(loaded, texts), _dense(fitted, texts))
    meta["params"]["unicode_form"] = "NFKD"
    with pytest.raises(InvalidParameterError, match="unicode_form"):
        TfidfFeaturizer.from_state(meta, arrays)


@pytest.mark.parametrize("chunk", [7, 4096])
def test_blocks_are_combined_as_scipys_hstack_to_the_bit_without_its_copies(
        monkeypatch, chunk):
    # the word and character blocks were joined by sp.hstack, which made concatenated
    # copies of both, a result, and a copy of that result: on a label --budget pool of
    # 20,000 texts (13.9 million nonzeros) about 300 MB over the blocks and the result,
    # the run's peak RSS (650 MB), before its first teacher call
    import tracemalloc

    import tagsmith.features.tfidf as tfidf

    monkeypatch.setattr(tfidf, "HSTACK_CHUNK", chunk)  # a rename fails here
    rng = np.random.default_rng(0)
    keep = sp.diags(np.where(np.isin(np.arange(3000), [5, 7]), 0.0, 1.0).astype(np.float32))
    word = sp.random(3000, 500, density=0.02, format="csr", dtype=np.float32,
                     random_state=rng)
    char = sp.random(3000, 900, density=0.2, format="csr", dtype=np.float32,
                     random_state=rng)
    word = (keep @ word).tocsr()  # rows 5 and 7 without a word, row 5 without either
    char = (sp.diags((np.arange(3000) != 5).astype(np.float32)) @ char).tocsr()
    word.eliminate_zeros(), char.eliminate_zeros()
    empty = sp.csr_matrix((3000, 0), dtype=np.float32)  # a block every term was pruned from
    featurizer = TfidfFeaturizer()

    def expected(blocks):
        combined = sp.hstack(blocks, format="csr", dtype=np.float32)
        combined.data /= np.float32(np.sqrt(len(blocks)))
        return tfidf._l2_normalize_rows(combined)

    for blocks in ([word, char], [word, empty, char], [empty, empty]):
        want = expected([b.copy() for b in blocks])
        got = featurizer._combine([b.copy() for b in blocks])
        assert got.shape == want.shape and got.dtype == want.dtype
        for name in ("indptr", "indices", "data"):
            a, b = getattr(got, name), getattr(want, name)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    if chunk == 7:
        return
    size = sum(b.data.nbytes + b.indices.nbytes for b in (word, char))
    import sklearn.preprocessing  # noqa: F401 (a fit has it: rows normalised in place)

    tracemalloc.start()
    try:
        featurizer._combine([word, char])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the result and little else, where scipy's made about twice the result on top
    assert peak < 1.3 * size, (peak, size)


def test_a_fit_lets_each_blocks_raw_counts_go_before_the_blocks_are_combined(monkeypatch):
    # the last block's raw counts (a copy of its weighted block: a label --budget pool's
    # character n-grams, 96 MB) were still held while the blocks were combined, the
    # fit's peak
    import gc
    import weakref

    alive: list = []
    combine = TfidfFeaturizer._combine

    def watched(self, outputs):
        gc.collect()
        alive.extend(ref() is not None for ref in made)
        return combine(self, outputs)

    made: list = []
    counts = TfidfFeaturizer._fit_counts

    def counted(self, *args, **kwargs):
        fitted = counts(self, *args, **kwargs)
        if fitted is not None:
            made.append(weakref.ref(fitted[0]))
        return fitted

    monkeypatch.setattr(TfidfFeaturizer, "_fit_counts", counted)
    monkeypatch.setattr(TfidfFeaturizer, "_combine", watched)
    texts = [f"text number {i} about {w}" for i in range(40) for w in ("cats", "dogs")]
    TfidfFeaturizer(min_df=1).fit_transform(texts)
    assert len(made) == 2 and alive == [False, False]
