"""TF-IDF features over word and character n-grams, saved without pickle.

scikit-learn's ``CountVectorizer`` gives the preprocessing and tokenising when fitting,
and the counts are its ``fit_transform``'s to the bit, counted here a distinct word's
character n-grams at a time (:func:`_char_wb_batch_counts`); the idf
weighting is ours, so the whole fitted state is a vocabulary (JSON) and an idf vector (npz) and a
bundle can be loaded without executing code. A fitted featurizer counts and normalises
as scikit-learn does without importing it (:class:`_VocabularyCounter`,
:func:`_l2_normalize_rows`), so that predicting skips its import.
"""

from __future__ import annotations

import copy
import functools
import numbers
import re
import sys
import unicodedata
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, KeysView, Mapping, Sequence, Set
from itertools import repeat
from typing import Any, Literal, TypeVar

import numpy as np
import scipy.sparse as sp

from tagsmith._chunks import WHITESPACE, whitespace_chunks
from tagsmith._params import (
    check_bool,
    check_choice,
    check_int,
    check_param_names,
    keyword_params,
)
from tagsmith._plural import plural_s
from tagsmith.data.textio import check_no_lone_surrogate
from tagsmith.exceptions import InvalidParameterError, NotFittedError

#: texts longer than this (in characters) are counted a chunk at a time when fitted and
#: transformed (:func:`_chunk_counts`): the analyzer's list of every n-gram of a 16 MB
#: text took about 3.8 GB; shorter texts keep the faster whole-text counting (a fit's
#: character n-grams as a sparse product, the longer texts' rows streamed between its
#: batches: :func:`_char_wb_fitted_counts`)
STREAM_MIN_CHARS = 100_000
#: about how many characters of a long text are analyzed at a time (a chunk ends after a
#: whitespace character, so no token or char_wb n-gram is cut)
STREAM_CHUNK_CHARS = 1 << 16
#: about how many characters of a long text are preprocessed at a time
#: (:func:`_preprocessed_pieces`)
PREPROCESS_PIECE_CHARS = 1 << 18

# one- and two-letter tokens matter in short texts ("ok", "no", "i")
WORD_TOKEN_PATTERN = r"(?u)\b\w+\b"
#: invisible characters that never separate words: soft hyphen, word joiner and the
#: zero-width no-break space (byte-order mark); "Ver\xadsicherung" is "Versicherung"
INVISIBLE_IN_WORDS = re.compile("[\u00ad\u2060\ufeff]")


@functools.cache
def unicode_word_pattern() -> str:
    """The word token pattern with ``normalize_unicode``: a word character followed by
    word characters and combining marks (Unicode categories Mn and Mc).

    Python's ``\\w`` holds no combining mark, so ``\\b\\w+\\b`` cut "हिन्दी" at each
    vowel sign into single consonants (Devanagari, Tamil, pointed Hebrew and Arabic
    alike). Variation selectors stay out, as before: an emoji's VS16 is no part of a
    word. On text without combining marks the tokens are those of
    :data:`WORD_TOKEN_PATTERN`. Built on first use, from the first two planes: above
    them the only marks are variation selectors.
    """
    category, wanted = unicodedata.category, {"Mn", "Mc"}
    marks = [char for char in map(chr, range(0x20000))  # the fastest loop found (60 ms)
             if category(char) in wanted and not 0xFE00 <= ord(char) <= 0xFE0F]
    ranges: list[list[str]] = []
    for char in marks:
        if ranges and ord(char) == ord(ranges[-1][1]) + 1:
            ranges[-1][1] = char
        else:
            ranges.append([char, char])
    spans = "".join(re.escape(a) if a == b else f"{re.escape(a)}-{re.escape(b)}"
                    for a, b in ranges)
    return rf"(?u)\w[\w{spans}]*"


#: scripts written without spaces between words: Han, Hiragana and Katakana (half-width
#: too), Thai, Lao, Khmer and Myanmar; with ``split_unspaced`` each of their characters
#: (with its combining marks) is a word token of its own
UNSPACED = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff"
            "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
            "\U00020000-\U0003134f")
_HAS_UNSPACED = re.compile(f"[{UNSPACED}]")
#: ``split_unspaced="auto"`` splits when at least this share of the training texts hold
#: a character of the :data:`UNSPACED` scripts: a Chinese, Japanese or Thai corpus, not an
#: English one quoting "玛雅" in a few texts (its features stay those of before)
UNSPACED_SHARE = 0.1
#: where a chunk of a long text's word n-grams may end under ``split_unspaced``: after a
#: whitespace character, or before a word character of the :data:`UNSPACED` scripts
#: (each starts a token of its own, so no token spans two chunks)
_UNSPACED_CUT = re.compile(rf"(?u)\s|(?=[{UNSPACED}])(?=\w)")


def holds_unspaced(texts: Sequence[str]) -> bool:
    """Whether :data:`UNSPACED_SHARE` of ``texts`` (or more) hold a character of the
    :data:`UNSPACED` scripts (what ``split_unspaced="auto"`` decides by).

    >>> holds_unspaced(["今日は", "hello"]), holds_unspaced(["hello 玛雅"] + ["hi"] * 10)
    (True, False)
    """
    found = sum(1 for text in texts if _HAS_UNSPACED.search(text))
    return bool(texts) and found >= UNSPACED_SHARE * len(texts)


@functools.cache
def word_token_pattern(normalize_unicode: bool, split_unspaced: bool) -> str:
    """The word token pattern: :func:`unicode_word_pattern` (``normalize_unicode``) or
    :data:`WORD_TOKEN_PATTERN`; with ``split_unspaced``, a character of the
    :data:`UNSPACED` scripts (and its marks) is a token of its own, so that word n-grams
    of (1, 2) are the character unigrams and bigrams of Chinese, Japanese or Thai text,
    where a whole sentence was one token, seen once. Text without those characters gets
    the same tokens either way.

    >>> re.findall(word_token_pattern(True, True), "今日は Tokyo ２０２６")
    ['今', '日', 'は', 'Tokyo', '２０２６']
    """
    if not split_unspaced:
        return unicode_word_pattern() if normalize_unicode else WORD_TOKEN_PATTERN
    if normalize_unicode:
        # "\w[\w<marks>]*" with the unspaced characters taken out of both classes
        marks = unicode_word_pattern()[len("(?u)\\w[\\w"):-len("]*")]
    else:
        marks = ""  # "\b\w+\b" finds what "\w+" finds
    other = f"(?![{UNSPACED}])"
    tail = f"[{marks}]" if marks else "(?!)"
    return (rf"(?u)(?=\w)[{UNSPACED}](?:{tail})*"
            rf"|{other}\w(?:{other}(?:\w|{tail}))*")


def unicode_preprocessor(lowercase: bool, form: str = "NFC") -> Callable[[str], str]:
    """A text as ``normalize_unicode`` features it: in NFC (a decomposed "é", as text
    from macOS often has it, is the composed one), without the
    :data:`INVISIBLE_IN_WORDS`, then lowercased if ``lowercase``.

    >>> unicode_preprocessor(True)("Cafe\\u0301 Ver\\xadsicherung")
    'café versicherung'

    ``form="NFKC"`` folds compatibility characters too: full-width Latin and digits (as
    Chinese and Japanese input methods type them), ligatures (PDF text), but also "…"
    to "..." and "™" to "TM" (see ``unicode_form``).

    >>> unicode_preprocessor(True, "NFKC")("Ｆｉｎａｌ ﬁnal ２０２６")
    'final final 2026'
    """
    return _UnicodePreprocessor(lowercase, "NFKC" if form == "NFKC" else "NFC")


class _UnicodePreprocessor:
    """:func:`unicode_preprocessor`'s function: an object rather than a closure, so that a
    featurizer that has featurized pickles (a closure made a classifier that had
    predicted fail to pickle, as a multiprocessing pool pickles its arguments: "Can't
    pickle local object 'unicode_preprocessor.<locals>.preprocess'")."""

    __slots__ = ("lowercase", "normal_form")

    def __init__(self, lowercase: bool, normal_form: Literal["NFC", "NFKC"]):
        self.lowercase = lowercase
        self.normal_form: Literal["NFC", "NFKC"] = normal_form

    def __call__(self, text: str) -> str:
        text = INVISIBLE_IN_WORDS.sub("", unicodedata.normalize(self.normal_form, text))
        return text.lower() if self.lowercase else text


def _check_split_unspaced(value: object) -> bool:
    try:
        return check_bool("split_unspaced", value)
    except InvalidParameterError:
        raise InvalidParameterError("split_unspaced", "true, false or \"auto\"",
                                    value) from None


def _check_range(name: str, value) -> tuple[int, int] | None:
    """``value`` as a pair of plain ints ``(min_n, max_n)``, or ``None``.

    numpy integers pass (an array works), and are kept as plain ints (the pair goes
    into the bundle's JSON); floats, bools and strings are refused rather than cut to
    ints ("12" used to read as (1, 2)).
    """
    if value is None:
        return None
    expected = "a pair (min_n, max_n) or None"
    if isinstance(value, str | bytes):
        raise InvalidParameterError(name, expected, value)
    try:
        pair = list(value)
    except TypeError:
        raise InvalidParameterError(name, expected, value) from None
    if len(pair) != 2:
        raise InvalidParameterError(name, expected, value)
    try:
        low, high = (check_int(name, v, 1, numpy=True) for v in pair)
    except InvalidParameterError:
        if all(_is_integer(v) for v in pair):  # an integer < 1
            raise InvalidParameterError(name, "1 <= min_n <= max_n", value) from None
        raise InvalidParameterError(name, expected, value) from None
    if not low <= high:
        raise InvalidParameterError(name, "1 <= min_n <= max_n", value)
    return (low, high)


def _is_integer(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral)


def _counted(texts: list[str], what: str) -> Iterator[str]:
    """Yield ``texts`` while a progress bar counts them
    (:func:`~tagsmith.progress.counted`'s steps: a third copy of its counting was here)."""
    from tagsmith.progress import counted, progress_bar

    with progress_bar(total=len(texts), desc=f"features ({what})", unit="doc") as bar:
        yield from counted(texts, bar)


class TfidfFeaturizer:
    """Sublinear TF-IDF over word n-grams and (optionally) character n-grams.

    Each block is L2-normalised and the blocks are scaled so that every row has
    unit norm overall. ``max_word_features``/``max_char_features`` keep the terms
    counted most often (after ``min_df``); of terms counted equally often at the cut,
    those first in code point order, on every machine (:func:`_most_frequent`).
    Output: CSR ``float32`` of shape ``(n_docs, n_features)``.
    With ``normalize_unicode`` (the default) texts are featurized in NFC and without
    soft hyphens, word joiners and byte-order marks (:func:`unicode_preprocessor`), so
    a text gets the same features in every Unicode normal form, and words keep their
    combining marks (:func:`unicode_word_pattern`); a state saved before the setting
    existed loads with it off, featurizing texts as given. With ``split_unspaced`` each
    character of a script written without spaces (Chinese, Japanese, Thai:
    :data:`UNSPACED`) is a word token (:func:`word_token_pattern`); ``"auto"`` (the
    default) decides on the training texts (:func:`holds_unspaced`), and the state
    saves what it decided; a state saved before the setting loads with it off.
    ``unicode_form="NFKC"`` (with ``normalize_unicode``) folds compatibility characters
    as well (full-width "Ａ１" is "a1", "ﬁ" is "fi"); NFC, the default, leaves them.

    >>> feats = TfidfFeaturizer(char_ngrams=None, min_df=1).fit(["a cat", "a dog"])
    >>> X = feats.transform(["cat cat dog"])
    >>> X.shape, round(float(X.multiply(X).sum()), 4)
    ((1, 5), 1.0)
    """

    kind = "tfidf"
    #: a progress bar over the documents while fitting and transforming (set by training
    #: and the audit for their run; not a parameter, not saved in a bundle)
    show_progress = False
    #: what ``split_unspaced="auto"`` decides when set (not None), in place of deciding on
    #: the texts fitted on: training decides once on its whole corpus, so a model fitted
    #: on part of it and the final one split alike (not a parameter, not saved)
    unspaced_decided: bool | None = None

    def __init__(self, *, word_ngrams: Sequence[int] | None = (1, 2),
                 char_ngrams: Sequence[int] | None = (2, 5), min_df: int = 2,
                 max_word_features: int | None = 400_000,
                 max_char_features: int | None = 400_000,
                 lowercase: bool = True, sublinear_tf: bool = True,
                 normalize_unicode: bool = True, split_unspaced: bool | str = "auto",
                 unicode_form: str = "NFC"):
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.lowercase = lowercase
        self.sublinear_tf = sublinear_tf
        self.normalize_unicode = normalize_unicode
        self.split_unspaced = split_unspaced
        self.unicode_form = unicode_form

    @classmethod
    def from_params(cls, **params: Any) -> TfidfFeaturizer:
        """A new featurizer; unknown parameter names are a clear error."""
        check_param_names(cls, params)
        return cls(**params)

    def __repr__(self) -> str:
        # one line at a prompt, as a model's (it was <...TfidfFeaturizer object at 0x...>)
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        fitted = f", n_features={self.n_features}" if hasattr(self, "blocks_") else ""
        return f"{type(self).__name__}({args}{fitted})"

    # -- parameters ----------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """The constructor's parameters, the n-gram ranges as lists (as a bundle's JSON
        holds them). ``deep`` is scikit-learn's (its ``clone`` passes ``deep=False``,
        which was a TypeError): no parameter is an estimator, so both give the same."""
        return {
            "word_ngrams": None if self.word_ngrams is None else list(self.word_ngrams),
            "char_ngrams": None if self.char_ngrams is None else list(self.char_ngrams),
            "min_df": self.min_df,
            "max_word_features": self.max_word_features,
            "max_char_features": self.max_char_features,
            "lowercase": self.lowercase,
            "sublinear_tf": self.sublinear_tf,
            "normalize_unicode": self.normalize_unicode,
            "split_unspaced": self.split_unspaced,
            "unicode_form": self.unicode_form,
        }

    def set_params(self, **params: Any) -> TfidfFeaturizer:
        """Set parameters by name, as a model's ``set_params`` (scikit-learn's
        ``GridSearchCV``); an unknown name is refused naming it."""
        check_param_names(type(self), params)
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def __sklearn_clone__(self) -> TfidfFeaturizer:
        # scikit-learn's clone: an unfitted copy with the same parameters (its own
        # clone refused get_params' lists as parameters the constructor modified)
        return type(self)(**copy.deepcopy({name: getattr(self, name)
                                           for name in keyword_params(type(self))}))

    def validate(self) -> None:
        """Refuse bad settings by name (fit calls it; so does training, before any text is
        read). scikit-learn's own refusals would otherwise read as "every term pruned"
        and give an empty block: ``lowercase="False"`` gave no features at all.

        numpy integers pass and are stored back as plain ints (the settings go into the
        bundle's JSON, where a numpy value failed the save after a whole training run).
        """
        word = _check_range("word_ngrams", self.word_ngrams)
        char = _check_range("char_ngrams", self.char_ngrams)
        if word is None and char is None:
            raise InvalidParameterError("word_ngrams/char_ngrams", "at least one not None", None)
        min_df = check_int("min_df", self.min_df, 1, numpy=True)
        max_word = check_int("max_word_features", self.max_word_features, 1, allow_none=True,
                             numpy=True)
        max_char = check_int("max_char_features", self.max_char_features, 1, allow_none=True,
                             numpy=True)
        lowercase = check_bool("lowercase", self.lowercase)
        sublinear_tf = check_bool("sublinear_tf", self.sublinear_tf)
        normalize_unicode = check_bool("normalize_unicode", self.normalize_unicode)
        split_unspaced = (self.split_unspaced if isinstance(self.split_unspaced, str)
                          and self.split_unspaced == "auto"
                          else _check_split_unspaced(self.split_unspaced))
        # every field checked: only now store them back
        self.word_ngrams, self.char_ngrams, self.min_df = word, char, min_df
        self.max_word_features, self.max_char_features = max_word, max_char
        self.lowercase, self.sublinear_tf = lowercase, sublinear_tf
        unicode_form = check_choice("unicode_form", self.unicode_form, ("NFC", "NFKC"))
        if unicode_form != "NFC" and not normalize_unicode:  # it would do nothing, silently
            raise InvalidParameterError("unicode_form", "NFC with normalize_unicode=false "
                                        "(the normalize_unicode preprocessor applies it)",
                                        unicode_form)
        self.normalize_unicode, self.split_unspaced = normalize_unicode, split_unspaced
        self.unicode_form = unicode_form

    def _split_unspaced(self) -> bool:
        """``split_unspaced`` as fitted (``"auto"`` decided on the training texts)."""
        fitted = getattr(self, "split_unspaced_", None)
        return bool(self.split_unspaced is True if fitted is None else fitted)

    def _blocks_spec(self) -> list[tuple[str, Sequence[int], int | None]]:
        self.validate()
        spec = []
        if self.word_ngrams is not None:
            spec.append(("word", self.word_ngrams, self.max_word_features))
        if self.char_ngrams is not None:
            spec.append(("char_wb", self.char_ngrams, self.max_char_features))
        return spec

    def _vocabulary_counter(self, analyzer: str, ngrams,
                            vocabulary: dict[str, int]) -> _VocabularyCounter:
        """What ``self._counter(analyzer, ngrams, vocabulary)`` counts with, without
        scikit-learn (see :class:`_VocabularyCounter`)."""
        preprocessor: Callable[[str], str] = (
            unicode_preprocessor(self.lowercase, self.unicode_form) if self.normalize_unicode
            else str.lower if self.lowercase else _unchanged)
        return _VocabularyCounter(analyzer, ngrams, vocabulary, preprocessor,
                                  word_token_pattern(self.normalize_unicode,
                                                     self._split_unspaced()))

    def _counter(self, analyzer: str, ngrams, vocabulary=None, min_df=1):
        from sklearn.feature_extraction.text import CountVectorizer

        kwargs: dict = {"lowercase": self.lowercase}
        if self.normalize_unicode:  # the preprocessor lowercases (sklearn then would not)
            kwargs = {"preprocessor": unicode_preprocessor(self.lowercase, self.unicode_form),
                      "lowercase": False}
        if analyzer == "word":
            kwargs["token_pattern"] = word_token_pattern(self.normalize_unicode,
                                                         self._split_unspaced())
        return CountVectorizer(analyzer=analyzer, ngram_range=tuple(ngrams),
                               vocabulary=vocabulary,
                               min_df=min_df, dtype=np.float32,
                               **kwargs)

    # -- fitting -------------------------------------------------------------------------
    def fit(self, texts: Iterable[str]) -> TfidfFeaturizer:
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        texts = self._fit_texts(texts)
        return self._fit_blocks(len(texts), lambda analyzer, ngrams, min_df:
                                self._fit_counts(texts, analyzer, ngrams, min_df))

    def _fit_texts(self, texts: Iterable[str]) -> list[str]:
        """``texts`` as a list, checked for a fit (:meth:`fit_transform`, :meth:`analyze`):
        at least one, no lone surrogate, valid settings; ``split_unspaced`` decided."""
        texts = _as_list(texts)
        if not texts:
            raise InvalidParameterError("texts", "at least one document", "none")
        # terms holding one were learned, and failed the bundle save after the whole fit
        check_no_lone_surrogate(texts)
        self.validate()
        self._decide_unspaced(texts)
        return texts

    def _decide_unspaced(self, texts: Sequence[str]) -> None:
        if self.split_unspaced != "auto":
            self.split_unspaced_ = bool(self.split_unspaced)
        elif self.unspaced_decided is not None:
            self.split_unspaced_ = bool(self.unspaced_decided)
        else:
            self.split_unspaced_ = holds_unspaced(texts)

    def analyze(self, texts: Iterable[str], min_df: int) -> AnalyzedTexts:
        """Every text's terms counted once, for :meth:`fit_transform_analyzed` to fit on
        any subset of them (training fits on part of its corpus to tune thresholds, then
        on all of it: each text was tokenised and n-grammed twice). Terms in fewer than
        ``min_df`` of all the texts are left out: no fit with a ``min_df`` (capped at its
        number of texts) of at least that keeps them."""
        texts = self._fit_texts(texts)
        blocks = {}
        for analyzer, ngrams, _ in self._blocks_spec():
            counter = self._counter(analyzer, ngrams)
            blocks[analyzer] = _AnalyzedBlock.count(
                counter, analyzer, self._shown(texts, analyzer), len(texts), min_df)
        return AnalyzedTexts(len(texts), bool(self.split_unspaced_), min_df, blocks,
                             self._tokens())

    def _tokens(self) -> dict[str, Any]:
        """The settings (but n-grams and ``split_unspaced``) that decide a text's
        terms: an analysis serves only a featurizer of the same."""
        return {name: getattr(self, name)
                for name in ("lowercase", "normalize_unicode", "unicode_form")}

    def fit_transform_analyzed(self, analyzed: AnalyzedTexts,
                               rows: np.ndarray | None = None) -> sp.csr_matrix:
        """What ``fit_transform([texts[i] for i in rows])`` gives (the same matrix and
        fitted state, to the bit), ``analyzed`` holding :meth:`analyze` of ``texts`` by a
        featurizer of the same settings; ``rows`` (distinct indices of them, in fit order;
        None: every text)."""
        rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        if rows is not None:
            # a text taken twice counts its terms twice, where the analysis counted it
            # once and left out the terms of too few texts (rows [0, 1, 1]: "a dog",
            # in 2 of them, was missing from the vocabulary fit_transform gives); one
            # outside read another text's counts, or failed deep in numpy
            outside = rows.ndim != 1 or bool(rows.size) and (
                int(rows.min()) < 0 or int(rows.max()) >= analyzed.n_texts)
            if outside or np.unique(rows).size != rows.size:
                raise InvalidParameterError(
                    "rows", f"distinct indices of the {analyzed.n_texts:,} analysed texts",
                    "an index outside them" if outside else "a repeated index")
        n_texts = analyzed.n_texts if rows is None else len(rows)
        if not n_texts:
            raise InvalidParameterError("texts", "at least one document", "none")
        self.validate()
        min_df = min(self.min_df, n_texts)
        if min_df < analyzed.min_df:  # the terms it keeps were left out of the analysis
            raise ValueError(f"min_df {min_df} below the analysis's {analyzed.min_df}")
        for name, value in self._tokens().items():  # (validated: plain values)
            if value != analyzed.tokens[name]:
                raise ValueError(f"{name} differs from the analysis's")
        if self.split_unspaced == "auto" and self.unspaced_decided is None:
            self.split_unspaced_ = analyzed.split_unspaced  # decided on all the texts
        else:
            self._decide_unspaced([])
        if self.split_unspaced_ != analyzed.split_unspaced:
            raise ValueError("split_unspaced differs from the analysis's")
        spec = self._blocks_spec()
        if sorted(analyzed.blocks) != sorted(analyzer for analyzer, _, _ in spec):
            raise ValueError("the analysis holds other n-gram blocks")
        return self._fit_blocks(n_texts, lambda analyzer, ngrams, min_df:
                                analyzed.blocks[analyzer].fitted_counts(ngrams, rows, min_df))

    def _fit_blocks(self, n_texts: int, fit_counts: Callable[
            [str, Sequence[int], int], tuple[sp.csr_matrix, list[str]] | None]
                    ) -> sp.csr_matrix:
        self.blocks_ = []
        outputs = []
        for analyzer, ngrams, max_features in self._blocks_spec():
            min_df = min(self.min_df, n_texts)
            # max_features is applied below, not by scikit-learn (see _most_frequent)
            fitted = fit_counts(analyzer, ngrams, min_df)
            if fitted is None:  # every term pruned (tiny corpora): an empty block
                self.blocks_.append(_Block(analyzer, ngrams, [], np.zeros(0, np.float32)))
                outputs.append(sp.csr_matrix((n_texts, 0), dtype=np.float32))
                continue
            counts, terms = fitted
            if max_features is not None and len(terms) > max_features:
                keep = _most_frequent(counts, max_features)
                counts, terms = counts[:, keep], [terms[i] for i in keep]
            df = np.bincount(counts.indices, minlength=counts.shape[1])
            idf = (np.log((1.0 + n_texts) / (1.0 + df)) + 1.0).astype(np.float32)
            block = _Block(analyzer, ngrams, terms, idf)
            self.blocks_.append(block)
            outputs.append(self._weight(counts, block))
            # the raw counts (a copy of the block's arrays) let go: the last block's
            # were held through the combine, the fit's peak (96 MB of a label --budget
            # pool's 20,000 texts, their character n-grams)
            del counts, fitted
        return self._combine(outputs)

    def _fit_counts(self, texts: list[str], analyzer: str, ngrams,
                    min_df: int) -> tuple[sp.csr_matrix, list[str]] | None:
        """The term counts of ``texts`` and the terms of their columns (sorted, those in at
        least ``min_df`` texts), as scikit-learn's ``fit_transform`` gives them (the same
        matrix to the bit, each row's entries in its order); ``None`` when no term is
        left, where scikit-learn raises :class:`ValueError`.

        Not counted by scikit-learn's ``fit_transform``, which took 10 of the 18 s of an
        audit's features on 1,000 Reuters stories, listing every character n-gram of
        every word of every text in Python: each distinct word's are numbered once, and
        the counts are a sparse product (:func:`_char_wb_fitted_counts`; texts longer
        than :data:`STREAM_MIN_CHARS` a chunk at a time); word n-grams are counted as
        :meth:`analyze` counts them (:func:`_term_id_rows`). Its ``CountVectorizer``
        still gives the preprocessor and tokenizer.
        """
        counter = self._counter(analyzer, ngrams, min_df=min_df)
        if analyzer == "char_wb":
            return _char_wb_fitted_counts(counter, self._shown(texts, analyzer), len(texts),
                                          min_df)
        analyzed = _AnalyzedBlock.count(counter, analyzer, self._shown(texts, analyzer),
                                        len(texts), min_df)
        return analyzed.fitted_counts(ngrams, None, min_df)

    # -- transforming ------------------------------------------------------------------------
    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        if not hasattr(self, "blocks_"):
            raise NotFittedError("TfidfFeaturizer is not fitted: call fit() or load a bundle")
        texts = _as_list(texts)
        outputs = []
        for block in self.blocks_:
            if not block.terms:
                outputs.append(sp.csr_matrix((len(texts), 0), dtype=np.float32))
                continue
            outputs.append(self._weight(self._counts(texts, block), block))
        return self._combine(outputs)

    def _counts(self, texts: list[str], block: _Block) -> sp.csr_matrix:
        """The term counts of ``texts`` in ``block``'s vocabulary: texts longer than
        :data:`STREAM_MIN_CHARS` counted a chunk at a time (the same counts), the others
        by scikit-learn in batches."""
        counter = block.counter(self)
        shown = self._shown(texts, block.analyzer)
        if all(len(text) <= STREAM_MIN_CHARS for text in texts):
            return counter.transform(shown).tocsr()
        pieces: list[sp.csr_matrix] = []
        batch: list[str] = []
        for text in shown:
            if len(text) <= STREAM_MIN_CHARS:
                batch.append(text)
                continue
            if batch:
                pieces.append(counter.transform(batch).tocsr())
                batch = []
            pieces.append(_streamed_counts(counter, block.analyzer, block.vocabulary(), text))
        if batch:
            pieces.append(counter.transform(batch).tocsr())
        return sp.vstack(pieces, format="csr", dtype=np.float32)

    def _shown(self, texts: list[str], analyzer: str) -> Iterable[str]:
        """``texts``, through a progress bar when ``show_progress`` is on."""
        if not self.show_progress:
            return texts
        return _counted(texts, "word n-grams" if analyzer == "word" else "character n-grams")

    def _weight(self, counts: sp.csr_matrix, block: _Block) -> sp.csr_matrix:
        counts = counts.astype(np.float32)
        if self.sublinear_tf:
            np.log(counts.data, out=counts.data)
            counts.data += 1.0
        counts.data *= block.idf[counts.indices]
        return _l2_normalize_rows(counts)

    def _combine(self, outputs: Sequence[sp.csr_matrix]) -> sp.csr_matrix:
        if len(outputs) == 1:
            return outputs[0]
        combined = _hstack_rows(outputs)
        combined.data /= np.float32(np.sqrt(len(outputs)))
        return _l2_normalize_rows(combined)

    @property
    def n_features(self) -> int:
        return sum(len(block.terms) for block in self.blocks_)

    # -- state ---------------------------------------------------------------------------
    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-able config + vocabularies, and the idf arrays."""
        meta = {"kind": self.kind, "params": self.get_params(),
                # what "auto" decided, so that the bundle featurizes as it was fitted
                "split_unspaced": self._split_unspaced(),
                "blocks": [{"analyzer": b.analyzer, "ngrams": list(b.ngrams), "terms": b.terms}
                           for b in self.blocks_]}
        arrays = {f"idf_{i}": b.idf for i, b in enumerate(self.blocks_)}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> TfidfFeaturizer:
        """The featurizer ``to_state`` saved; :class:`ValueError` saying what is wrong with
        any other state (a bundle loads it as a damaged bundle).

        Everything is checked here, not on first use: a crafted state with a negative idf
        flipped every feature's sign, another analyzer or n-gram range silently changed
        the features the model was trained on, and a NaN idf, a repeated term or an
        unknown analyzer loaded, then failed on the first text.
        """
        params = meta["params"]
        if not isinstance(params, dict):
            raise ValueError(f"params is a {type(params).__name__}, not a mapping")
        # bundles saved before normalize_unicode featurized the texts as given, and those
        # saved before split_unspaced kept a run of Chinese or Thai as one word token
        params = {"normalize_unicode": False, "split_unspaced": False, **params}
        if params["normalize_unicode"] is False and params.get("unicode_form") == "NFKC":
            # saved before validate() refused it: trained without the preprocessor that
            # applies NFKC, so featurized without it; it loads as it featurized
            params["unicode_form"] = "NFC"
        featurizer = cls(**params)
        featurizer.validate()  # InvalidParameterError, a ValueError, names the setting
        decided = meta.get("split_unspaced", featurizer.split_unspaced is True)
        if not isinstance(decided, bool) or (decided != featurizer.split_unspaced
                                             and featurizer.split_unspaced != "auto"):
            raise ValueError(f"split_unspaced {decided!r} with the setting "
                             f"{featurizer.split_unspaced!r}")
        featurizer.split_unspaced_ = decided
        spec = featurizer._blocks_spec()
        blocks = meta["blocks"]
        if not isinstance(blocks, list) or len(blocks) != len(spec):
            raise ValueError(f"the settings make {len(spec)} n-gram "
                             f"block{plural_s(len(spec))}, the state "
                             f"holds {len(blocks) if isinstance(blocks, list) else blocks!r}")
        expected = {f"idf_{i}" for i in range(len(spec))}
        if set(arrays) != expected:
            raise ValueError(f"arrays {sorted(arrays)}, expected {sorted(expected)}")
        featurizer.blocks_ = [_block_from_state(i, block, analyzer, ngrams, arrays[f"idf_{i}"])
                              for i, (block, (analyzer, ngrams, _)) in
                              enumerate(zip(blocks, spec, strict=True))]
        return featurizer


def _block_from_state(i: int, block: dict, analyzer: str, ngrams: Sequence[int],
                      idf: np.ndarray) -> _Block:
    """Block ``i`` of a saved state once it is the block the settings make: ``analyzer``
    and ``ngrams``, distinct str terms, one finite idf > 0 per term."""
    if block["analyzer"] != analyzer:
        raise ValueError(f"block {i}: analyzer {block['analyzer']!r}, the settings make "
                         f"{analyzer!r}")
    if not isinstance(block["ngrams"], list) or tuple(block["ngrams"]) != ngrams:
        raise ValueError(f"block {i}: n-grams {block['ngrams']!r}, the settings make "
                         f"{list(ngrams)}")
    terms = block["terms"]
    if not isinstance(terms, list) or not all(isinstance(term, str) for term in terms):
        raise ValueError(f"block {i}: terms are not a list of str")
    if len(set(terms)) != len(terms):
        raise ValueError(f"block {i}: a term is listed twice")
    if idf.dtype.kind not in "iuf" or idf.shape != (len(terms),):
        raise ValueError(f"block {i}: idf has shape {idf.shape} and dtype {idf.dtype}, "
                         f"vocabulary has {len(terms)} terms")
    idf = idf.astype(np.float32)
    if not (np.isfinite(idf) & (idf > 0)).all():
        raise ValueError(f"block {i}: idf holds values that are not finite numbers > 0")
    return _Block(analyzer, ngrams, terms, idf)


class _Block:
    """One fitted n-gram block: analyzer, vocabulary in column order, idf weights."""

    def __init__(self, analyzer: str, ngrams, terms: list[str], idf: np.ndarray):
        self.analyzer = analyzer
        self.ngrams = tuple(ngrams)
        self.terms = terms
        self.idf = idf
        self._counter: _VocabularyCounter | None = None
        self._vocabulary: dict[str, int] | None = None

    def vocabulary(self) -> dict[str, int]:
        """Each term's column."""
        if self._vocabulary is None:
            self._vocabulary = {term: i for i, term in enumerate(self.terms)}
        return self._vocabulary

    def counter(self, featurizer: TfidfFeaturizer) -> _VocabularyCounter:
        if self._counter is None:
            self._counter = featurizer._vocabulary_counter(self.analyzer, self.ngrams,
                                                           self.vocabulary())
        return self._counter


class AnalyzedTexts:
    """:meth:`TfidfFeaturizer.analyze` of some texts: their number, the
    ``split_unspaced`` they were tokenised with, the ``min_df`` below which terms were
    left out, an :class:`_AnalyzedBlock` per analyzer, and ``tokens``, the other
    settings the terms depend on (lowercasing, Unicode normalisation)."""

    def __init__(self, n_texts: int, split_unspaced: bool, min_df: int,
                 blocks: dict[str, _AnalyzedBlock], tokens: dict[str, Any]):
        self.n_texts = n_texts
        self.split_unspaced = split_unspaced
        self.min_df = min_df
        self.blocks = blocks
        self.tokens = tokens


class _AnalyzedBlock:
    """One analyzer's term counts of every text: ``ids`` (into ``terms``) and
    ``counts``, text after text (``indptr``), each text's terms in the order its
    analyzer first meets them; ``rank`` is each term's place in code point order.

    Enough to give what scikit-learn's ``fit_transform`` gives on any subset of the
    texts, in any order (:meth:`fitted_counts`): which terms it keeps, their columns,
    and within a row the order of its entries, which is the order scikit-learn first
    met the terms in that subset (and the order the rows' squares are added in when
    normalised, so it decides the last bit of every feature).
    """

    def __init__(self, ngrams: Sequence[int], terms: list[str], rank: np.ndarray,
                 ids: np.ndarray, counts: np.ndarray, indptr: np.ndarray):
        self.ngrams = tuple(ngrams)
        self.terms, self.rank = terms, rank
        self.ids, self.counts, self.indptr = ids, counts, indptr

    @classmethod
    def count(cls, counter, analyzer: str, texts: Iterable[str], n_texts: int,
              min_df: int) -> _AnalyzedBlock:
        """The counts of ``texts`` by ``counter``'s analyzer (a ``CountVectorizer``'s
        n-grams of its preprocessor and tokenizer), texts longer than
        :data:`STREAM_MIN_CHARS` a chunk at a time (word n-grams by :func:`_term_id_rows`,
        ``char_wb`` ones by the fit's batch product, :func:`_char_wb_analyzed_rows`);
        terms in fewer than ``min_df`` texts left out."""
        # a new term's id is the number of terms before it (as scikit-learn numbers them)
        vocabulary: defaultdict[str, int] = defaultdict()
        vocabulary.default_factory = vocabulary.__len__
        ids, counts = array("i"), array("i")  # 4 bytes an entry (scikit-learn's: 8 and more)
        indptr = array("q", [0])
        if analyzer == "char_wb":
            for row_ids, row_counts, lengths in _char_wb_analyzed_rows(
                    counter, texts, vocabulary.__getitem__, vocabulary.__len__):
                ids.frombytes(row_ids.astype(np.int32).tobytes())
                counts.frombytes(row_counts.astype(np.int32).tobytes())
                indptr.frombytes((np.cumsum(lengths, dtype=np.int64) + indptr[-1]).tobytes())
        else:
            for row in _term_id_rows(counter, analyzer, texts, vocabulary.__getitem__):
                ids.extend(row)  # in the order the analyzer first met them
                counts.extend(row.values())
                indptr.append(len(ids))
        all_ids = np.frombuffer(ids, dtype=np.int32) if ids else np.zeros(0, np.int32)
        kept = np.bincount(all_ids, minlength=len(vocabulary)) >= min_df
        # the kept terms keep their order: an id is still the order the texts met it in
        new = (np.cumsum(kept) - 1).astype(np.int32)
        terms = [term for term, keep in zip(vocabulary, kept.tolist(), strict=True) if keep]
        del vocabulary
        entry_kept = kept[all_ids]
        kept_before = np.concatenate([[0], np.cumsum(entry_kept)])
        order = sorted(range(len(terms)), key=terms.__getitem__)
        rank = np.empty(len(terms), dtype=np.int32)
        rank[order] = np.arange(len(terms))
        kept_ids = new[all_ids[entry_kept]]
        del ids
        kept_counts = np.frombuffer(counts, dtype=np.int32)[entry_kept]
        del counts
        # the smallest type that holds every count (a byte for titles and abstracts)
        count_type = np.min_scalar_type(int(kept_counts.max()) if kept_counts.size else 0)
        return cls(counter.ngram_range, terms, rank, kept_ids,
                   kept_counts.astype(count_type),
                   kept_before[np.frombuffer(indptr, dtype=np.int64)])

    def fitted_counts(self, ngrams: Sequence[int], rows: np.ndarray | None,
                      min_df: int) -> tuple[sp.csr_matrix, list[str]] | None:
        """What ``TfidfFeaturizer._fit_counts`` gives for the texts ``rows``."""
        if tuple(ngrams) != self.ngrams:
            raise ValueError(f"n-grams {tuple(ngrams)}, the analysis's {self.ngrams}")
        if rows is None:  # every text, in order
            ids, counts, indptr = self.ids, self.counts, self.indptr
        else:
            starts, ends = self.indptr[rows], self.indptr[rows + 1]
            lengths = ends - starts
            indptr = np.concatenate([[0], np.cumsum(lengths)])
            take = np.arange(indptr[-1]) + np.repeat(starts - indptr[:-1], lengths)
            ids, counts = self.ids[take], self.counts[take]
            del take
        if not indptr[-1]:
            return None  # no term (or none in min_df texts): scikit-learn's ValueError
        n_rows, n_terms = len(indptr) - 1, len(self.terms)
        # 4-byte indices where they fit: every temporary here is one an entry
        index_type = (np.int32 if max(n_terms, int(indptr[-1])) <= np.iinfo(np.int32).max
                      else np.int64)
        kept = np.bincount(ids, minlength=n_terms) >= min_df
        if not kept.any():
            return None
        kept_ids = np.flatnonzero(kept)
        kept_ids = kept_ids[np.argsort(self.rank[kept_ids], kind="stable")]  # term order
        column = _term_columns(kept_ids, n_terms, index_type)
        # the order scikit-learn first meets the terms in (the ids' own order when the
        # texts are all, in order)
        met: np.ndarray | None = None
        if rows is None:
            met_ids = ids.astype(index_type)  # a copy: sort_indices sorts it in place
        else:
            found, first = np.unique(ids, return_index=True)
            met = np.empty(n_terms, dtype=index_type)
            met[found[np.argsort(first, kind="stable")]] = np.arange(len(found))
            del first
            met_ids = met[ids]
        # scikit-learn sorts each row by the order the terms were met, then renumbers
        # the columns in term order, then drops the pruned ones, keeping the rows' order
        by_met = sp.csr_matrix((counts.astype(np.float32), met_ids, indptr),
                               shape=(n_rows, n_terms))
        del met_ids, counts
        by_met.sort_indices()
        data, sorted_met, row_ptr = by_met.data, by_met.indices, by_met.indptr
        del by_met
        if met is None:
            columns = column[sorted_met]
        else:
            met_to_id = np.empty(len(found), dtype=index_type)
            met_to_id[met[found]] = found
            columns = column[met_to_id[sorted_met]]
            del met_to_id
        del sorted_met
        data, columns, row_ptr = _pruned(data, columns, row_ptr)
        return (_counts_matrix([data], [columns], [row_ptr], len(kept_ids)),
                [self.terms[i] for i in kept_ids.tolist()])


def _term_id_rows(counter, analyzer: str, texts: Iterable[str],
                  id_of: Callable[[str], int]) -> Iterator[dict[int, int]]:
    """Each text's terms by ``counter``'s word analyzer (a ``CountVectorizer`` or a
    :class:`_VocabularyCounter`), as ``id_of`` numbers them, and their counts: what
    ``Counter(map(id_of, counter.build_analyzer()(text)))`` holds, in the same order (that
    in which the analyzer first meets them), ``id_of`` called in the order scikit-learn's
    fit meets the terms of all the texts; texts longer than :data:`STREAM_MIN_CHARS`
    counted a chunk at a time (:func:`_streamed_term_counts`). ``char_wb`` n-grams are
    counted as a product (:func:`_char_wb_analyzed_rows`, :func:`_char_wb_fitted_counts`).
    """
    if analyzer == "char_wb":
        raise ValueError("char_wb n-grams are counted by _char_wb_batch_counts")
    preprocess, decode = counter.build_preprocessor(), counter.decode
    min_n, max_n = counter.ngram_range
    tokenize = counter.build_tokenizer()
    for text in texts:
        if len(text) > STREAM_MIN_CHARS:
            row: dict[int, int] = {}
            for term, count in _streamed_term_counts(counter, analyzer, text):
                index = id_of(term)
                row[index] = row.get(index, 0) + count
            yield row
        else:
            yield Counter(map(id_of, _word_ngrams(tokenize(preprocess(decode(text))),
                                                   min_n, max_n)))


def _char_wb_analyzed_rows(counter, texts: Iterable[str], id_of: Callable[[str], int],
                           width: Callable[[], int]
                           ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The ``char_wb`` n-gram counts of ``texts`` a piece of rows at a time: ids (as
    ``id_of`` numbers them, called in the order scikit-learn's fit meets them), counts
    and each row's length, each row's terms in the order its text first holds them (what
    ``Counter`` of its n-grams holds). Counted as the fit counts
    (:func:`_char_wb_batch_counts`, a batch's texts x distinct words times their
    n-grams); each row's order is that of its entries' first places in its text: its
    distinct words in the order it first holds them, each word's n-grams as listed (a
    Python ``Counter`` over every n-gram of every text took 3 s of GoEmotions' 43,410).
    Texts longer than :data:`STREAM_MIN_CHARS` a chunk at a time, as one row."""
    preprocess, decode = counter.build_preprocessor(), counter.decode
    min_n, max_n = counter.ngram_range

    def ids_of(ngrams: list[str]) -> np.ndarray:  # new n-grams numbered as they are met
        return np.fromiter(map(id_of, ngrams), np.int64, len(ngrams))

    def counted(batch: list[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        by_text, grams = _char_wb_batch_matrices(batch, min_n, max_n, ids_of, width)
        return _in_met_order(by_text, grams, [len(words) for words in batch])

    def streamed(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids, counts = array("q"), array("q")
        for term, count in _streamed_term_counts(counter, "char_wb", text):
            ids.append(id_of(term))
            counts.append(count)
        return (np.frombuffer(ids, np.int64) if ids else np.zeros(0, np.int64),
                np.frombuffer(counts, np.int64) if counts else np.zeros(0, np.int64),
                np.array([len(ids)], np.int64))

    yield from _char_wb_batched(texts, lambda text: preprocess(decode(text)), counted,
                                streamed)


def _in_met_order(by_text: sp.csr_matrix, grams: sp.csr_matrix, n_words: list[int]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``by_text @ grams`` (the counts) as ids, counts and row lengths, each row's
    entries in the order its text first meets them. ``by_text``'s entries are each
    text's words as it holds them (one an occurrence, not summed)."""
    counts = sp.csr_matrix(by_text @ grams)
    counts.sort_indices()  # by (text, id): the order of np.unique's keys below
    n_texts, n_ids = counts.shape
    if not counts.nnz:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64),
                np.zeros(n_texts, np.int64))
    # each text's distinct words, in the order it first holds them
    text_of = np.repeat(np.arange(n_texts, dtype=np.int64), n_words)
    word_of = by_text.indices.astype(np.int64)
    _, first = np.unique(text_of * grams.shape[0] + word_of, return_index=True)
    first.sort()
    texts, words = text_of[first], word_of[first]
    del text_of, word_of, first
    # their n-grams as listed, in turn: a text's n-grams in the order it meets them, but
    # its repeated words' (which meet nothing new)
    starts = grams.indptr[words].astype(np.int64)
    lengths = grams.indptr[words + 1].astype(np.int64) - starts
    ends = np.cumsum(lengths)
    take = np.arange(ends[-1] if len(ends) else 0, dtype=np.int64) + np.repeat(
        starts - (ends - lengths), lengths)
    keys = np.repeat(texts, lengths) * n_ids + grams.indices[take]
    del take, starts, lengths, ends
    found, first = np.unique(keys, return_index=True)
    del keys
    if len(found) != counts.nnz:
        raise AssertionError("char_wb counts and their first places disagree")
    order = np.argsort(first, kind="stable")  # texts in turn, each in met order
    return ((found % n_ids)[order], counts.data[order].astype(np.int64),
            np.diff(counts.indptr).astype(np.int64))


def _char_wb_fitted_counts(counter, texts: Iterable[str], n_texts: int,
                           min_df: int) -> tuple[sp.csr_matrix, list[str]] | None:
    """What ``_AnalyzedBlock.count(counter, "char_wb", texts, ...).fitted_counts(...)``
    gives for every text (scikit-learn's ``fit_transform``, to the bit): as
    :meth:`_VocabularyCounter._char_wb_transform` counts (:func:`_char_wb_batch_counts`),
    a batch's texts x its distinct words times their n-grams, a sparse product, where the
    n-grams are numbered in the order scikit-learn first meets them (a word's in turn, the
    words in the order the texts first hold them); texts longer than
    :data:`STREAM_MIN_CHARS` a chunk at a time (:func:`_streamed_term_counts`), their
    n-grams numbered in turn with the batches'. Each row sorted in that order, as
    scikit-learn sorts it, then its columns renumbered in term order and the terms in
    fewer than ``min_df`` texts dropped. No entry of a short text's row is counted in
    Python.
    """
    preprocess, decode = counter.build_preprocessor(), counter.decode
    min_n, max_n = counter.ngram_range
    vocabulary: defaultdict[str, int] = defaultdict()
    vocabulary.default_factory = vocabulary.__len__
    id_of = vocabulary.__getitem__

    def ids_of(ngrams: list[str]) -> np.ndarray:  # new n-grams numbered as they are met
        return np.fromiter(map(id_of, ngrams), np.int64, len(ngrams))

    def counted(batch: list[list[str]]) -> sp.csr_matrix:
        return _char_wb_batch_counts(batch, min_n, max_n, ids_of, vocabulary.__len__)

    def streamed(text: str) -> sp.csr_matrix:
        return _streamed_row(counter, text, id_of, vocabulary.__len__)

    pieces = _char_wb_pieces(texts, lambda text: preprocess(decode(text)), counted, streamed)
    n_terms = len(vocabulary)
    if not n_terms:
        return None  # no term: scikit-learn's ValueError
    # a piece's columns are the ids met up to it (fewer than n_terms)
    df = np.zeros(n_terms, np.int64)
    for piece in pieces:
        df[:piece.shape[1]] += np.bincount(piece.indices, minlength=piece.shape[1])
    kept = df >= min_df
    del df
    if not kept.any():
        return None  # none left after pruning: scikit-learn's ValueError
    terms = list(vocabulary)
    vocabulary.clear()
    kept_ids = np.array(sorted(np.flatnonzero(kept).tolist(), key=terms.__getitem__),
                        dtype=np.int64)  # term order
    index_type = (np.int32 if max(n_terms, sum(piece.nnz for piece in pieces))
                  <= np.iinfo(np.int32).max else np.int64)
    column = _term_columns(kept_ids, n_terms, index_type)
    # each piece renumbered and pruned, then let go, before the pieces are joined: the
    # stacked pieces and their renumbered copies were alive together
    datas, columns, row_ptrs = [], [], []
    pieces.reverse()
    while pieces:
        piece = pieces.pop()
        piece.sort_indices()  # each row in the order scikit-learn met its terms
        data, piece_columns = piece.data, column[piece.indices]
        row_ptr = piece.indptr.astype(np.int64)
        del piece  # its indices, before the kept entries are copied
        data, piece_columns, row_ptr = _pruned(data, piece_columns, row_ptr)
        datas.append(data)
        columns.append(piece_columns)
        row_ptrs.append(row_ptr)
    return (_counts_matrix(datas, columns, row_ptrs, len(kept_ids)),
            [terms[i] for i in kept_ids.tolist()])


#: a piece of rows as a caller of :func:`_char_wb_batched` counts it
_Piece = TypeVar("_Piece")


def _char_wb_pieces(texts: Iterable[str], shown_of: Callable[[str], str],
                    counted: Callable[[list[list[str]]], sp.csr_matrix],
                    streamed: Callable[[str], sp.csr_matrix] | None = None,
                    ) -> list[sp.csr_matrix]:
    """The rows of ``texts``, in turn, as pieces: each text's words (of ``shown_of(text)``,
    split at whitespace) batched and a batch ``counted`` once it holds
    :data:`CHAR_WB_WORDS` words or :data:`CHAR_WB_CHARS` characters (bounding the words
    held at once, and their characters: unspaced scripts, Chinese or Thai, have few words,
    each as long as a sentence or a text); with ``streamed``, a text longer than
    :data:`STREAM_MIN_CHARS` is its own piece, the batch before it counted first (only
    that text counted a chunk at a time: one such text sent every text's n-grams through
    a Counter, 20,000 short texts 5.1 s, 8.3 s with it). One piece at least, maybe empty.
    """
    pieces = list(_char_wb_batched(texts, shown_of, counted, streamed))
    if not pieces:
        pieces.append(counted([]))
    return pieces


def _char_wb_batched(texts: Iterable[str], shown_of: Callable[[str], str],
                     counted: Callable[[list[list[str]]], _Piece],
                     streamed: Callable[[str], _Piece] | None = None) -> Iterator[_Piece]:
    """:func:`_char_wb_pieces`' batching, a piece yielded as soon as it is counted (none
    for no text): shared with training's analysis (:func:`_char_wb_analyzed_rows`), so
    the fit, a transform and the analysis count their rows in the same batches."""
    batch: list[list[str]] = []
    n_words = n_chars = 0
    for text in texts:
        if streamed is not None and len(text) > STREAM_MIN_CHARS:
            if batch:
                yield counted(batch)
                batch, n_words, n_chars = [], 0, 0
            yield streamed(text)
            continue
        shown = shown_of(text)
        batch.append(shown.split())
        n_words += len(batch[-1])
        n_chars += len(shown)
        if n_words >= CHAR_WB_WORDS or n_chars >= CHAR_WB_CHARS:
            yield counted(batch)
            batch, n_words, n_chars = [], 0, 0
    if batch:
        yield counted(batch)


def _streamed_row(counter, text: str, id_of: Callable[[str], int],
                  width: Callable[[], int]) -> sp.csr_matrix:
    """``text``'s ``char_wb`` n-gram counts, a chunk at a time, as one row: its columns
    ``id_of`` its n-grams, called in the order scikit-learn first meets them."""
    ids, counts = array("q"), array("q")
    for term, count in _streamed_term_counts(counter, "char_wb", text):
        ids.append(id_of(term))
        counts.append(count)
    return sp.csr_matrix(
        (np.frombuffer(counts, np.int64).astype(np.float32) if counts
         else np.zeros(0, np.float32),
         np.frombuffer(ids, np.int64) if ids else np.zeros(0, np.int64),
         np.array([0, len(ids)], np.int64)), shape=(1, width()))


def _char_wb_batch_counts(batch: list[list[str]], min_n: int, max_n: int,
                          ids_of: Callable[[list[str]], np.ndarray],
                          width: Callable[[], int]) -> sp.csr_matrix:
    """The ``char_wb`` n-gram counts of a batch's texts: ``by_text @ grams`` of
    :func:`_char_wb_batch_matrices`. Shared by a transform, a fit and training's
    analysis (:func:`_char_wb_analyzed_rows`)."""
    by_text, grams = _char_wb_batch_matrices(batch, min_n, max_n, ids_of, width)
    by_text.sum_duplicates()
    return sp.csr_matrix(by_text @ grams)


def _char_wb_batch_matrices(batch: list[list[str]], min_n: int, max_n: int,
                            ids_of: Callable[[list[str]], np.ndarray],
                            width: Callable[[], int]
                            ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The ``char_wb`` n-gram counts of a batch's texts (each its words), a sparse
    product: texts x their distinct words times the words' n-grams, whose columns
    ``ids_of`` gives (-1: none), ``width()`` of them once all are given. The n-grams are
    listed about :data:`CHAR_WB_NGRAMS` at a time (a string object of about 50 bytes
    each): 5,000 words at a time were 3.4 GB for 5,000 Chinese texts of 2,000 characters
    (a word each: no spaces). ``by_text`` holds each text's words as it holds them (an
    entry an occurrence, its duplicates not summed), ``grams`` each distinct word's
    n-grams as listed (an n-gram twice in a word twice)."""
    flat = [word for words in batch for word in words]
    distinct = list(dict.fromkeys(flat))
    word_id = {word: i for i, word in enumerate(distinct)}
    sizes = np.zeros(len(distinct), np.int64)
    found: list[np.ndarray] = []
    ngrams: list[str] = []
    for i, word in enumerate(distinct):
        before = len(ngrams)
        ngrams.extend(_char_wb_ngrams(word, min_n, max_n))
        sizes[i] = len(ngrams) - before
        if len(ngrams) >= CHAR_WB_NGRAMS:
            found.append(ids_of(ngrams))
            ngrams = []
    found.append(ids_of(ngrams))
    del ngrams
    columns = np.concatenate(found)
    del found
    # each word's row its n-grams' columns as listed (an n-gram twice in a word is
    # summed by the product): no owner per n-gram and no COO copy (the fit's were 200-300
    # MB a batch of Chinese or Thai text)
    indptr = np.zeros(len(distinct) + 1, np.int64)
    np.cumsum(sizes, out=indptr[1:])
    known = columns >= 0
    if not known.all():
        indptr = np.concatenate([[0], np.cumsum(known, dtype=np.int64)])[indptr]
        columns = columns[known]
    del known
    # float32 counts, as the other counting gives them (exact below 2 ** 24)
    grams = sp.csr_matrix((np.ones(len(columns), np.float32), columns, indptr),
                          shape=(len(distinct), width()))
    del columns, indptr
    by_text = sp.csr_matrix(
        (np.ones(len(flat), np.float32),
         np.fromiter(map(word_id.__getitem__, flat), np.int64, len(flat)),
         np.r_[0, np.cumsum([len(words) for words in batch], dtype=np.int64)]),
        shape=(len(batch), len(distinct)))
    return by_text, grams


def _term_columns(kept_ids: np.ndarray, n_terms: int, index_type) -> np.ndarray:
    """Each term id's column (-1: pruned), ``kept_ids`` in term (column) order."""
    column = np.full(n_terms, -1, dtype=index_type)
    column[kept_ids] = np.arange(len(kept_ids))
    return column


def _pruned(data: np.ndarray, columns: np.ndarray,
            row_ptr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows' entries (``row_ptr`` int64) without those whose column is -1 (pruned)."""
    entry_kept = columns >= 0
    if entry_kept.all():
        return data, columns, row_ptr
    # each row's end among the kept entries, without a second int64 copy an entry
    kept_before = np.cumsum(entry_kept, dtype=np.int64)
    row_ptr = np.where(row_ptr > 0, kept_before[np.maximum(row_ptr, 1) - 1], 0)
    del kept_before
    return data[entry_kept], columns[entry_kept], row_ptr


def _counts_matrix(datas: list[np.ndarray], columns: list[np.ndarray],
                   row_ptrs: list[np.ndarray], n_columns: int) -> sp.csr_matrix:
    """The float32 count matrix of pieces of rows (their entries and int64 row starts),
    4-byte indices where they fit."""
    if len(datas) == 1:
        data, all_columns, row_ptr = datas[0], columns[0], row_ptrs[0]
    else:
        offsets = np.cumsum([0] + [len(piece) for piece in datas[:-1]], dtype=np.int64)
        row_ptr = np.concatenate([row_ptrs[0]] + [ptr[1:] + offset for ptr, offset
                                                   in zip(row_ptrs[1:], offsets[1:],
                                                          strict=True)])
        data = np.concatenate(datas)
        datas.clear()
        all_columns = np.concatenate(columns)
        columns.clear()
    index_dtype = np.int64 if len(all_columns) > np.iinfo(np.int32).max else np.int32
    return sp.csr_matrix((data.astype(np.float32, copy=False),
                          all_columns.astype(index_dtype, copy=False),
                          row_ptr.astype(index_dtype, copy=False)),
                         shape=(len(row_ptr) - 1, n_columns), dtype=np.float32)


def _unchanged(text: str) -> str:
    return text


#: entries :meth:`_VocabularyCounter.transform` gathers in lists before it moves them
#: into arrays
COUNT_PIECE = 1 << 16


class _VocabularyCounter:
    """The term counts scikit-learn's ``CountVectorizer(vocabulary=...)`` gives in
    ``transform`` (the same matrix: float32 counts, int32 indices, sorted within a row),
    without importing scikit-learn: that import, with the scipy.stats it pulls in, took
    1.3 s of the 2 s a one-document ``suggest`` spent. Its analyzers are scikit-learn's:
    ``char_wb`` n-grams (:func:`_char_wb_ngrams`), or the word n-grams
    (:func:`_word_ngrams`) of the token pattern's matches in the preprocessed text.
    Fitting takes scikit-learn's preprocessor and tokenizer
    (:meth:`TfidfFeaturizer._counter`) and counts as its ``fit_transform`` counts.
    """

    def __init__(self, analyzer: str, ngram_range: Sequence[int],
                 vocabulary: dict[str, int], preprocessor: Callable[[str], str],
                 token_pattern: str):
        self.analyzer = analyzer
        self.ngram_range = (ngram_range[0], ngram_range[1])
        self.vocabulary_ = vocabulary
        self.preprocessor = preprocessor
        self.token_pattern = token_pattern

    def decode(self, text: str) -> str:
        return text  # texts are str (_as_list): there are no bytes to decode

    def build_preprocessor(self) -> Callable[[str], str]:
        return self.preprocessor

    def build_tokenizer(self) -> Callable[[str], list[str]]:
        return re.compile(self.token_pattern).findall

    def build_analyzer(self) -> Callable[[str], list[str]]:
        preprocess = self.preprocessor
        min_n, max_n = self.ngram_range
        if self.analyzer == "char_wb":
            return lambda text: list(_char_wb_ngrams(preprocess(text), min_n, max_n))
        tokenize = self.build_tokenizer()
        return lambda text: _word_ngrams(tokenize(preprocess(text)), min_n, max_n)

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        if self.analyzer == "char_wb":
            return self._char_wb_transform(texts)
        analyze = self.build_analyzer()
        column_of = self.vocabulary_.get
        # the entries go into arrays COUNT_PIECE at a time: lists of every entry's
        # column and count (an int object each) were 36 bytes an entry, 290 MB for the
        # character n-grams of 50,000 short texts (an audit's features)
        column_dtype = np.int32 if len(self.vocabulary_) <= np.iinfo(np.int32).max \
            else np.int64
        index_pieces: list[np.ndarray] = []
        value_pieces: list[np.ndarray] = []
        indices: list[int] = []
        values: list[int] = []
        indptr = [0]
        n_before = 0  # entries in the pieces
        for text in texts:
            row: dict[int, int] = {}
            for term, count in Counter(analyze(text)).items():
                column = column_of(term)
                if column is not None:  # terms are distinct, so are their columns
                    row[column] = count
            indices.extend(row)
            values.extend(row.values())
            indptr.append(n_before + len(indices))
            if len(indices) >= COUNT_PIECE:
                index_pieces.append(np.asarray(indices, dtype=column_dtype))
                value_pieces.append(np.asarray(values, dtype=np.float32))
                n_before += len(indices)
                indices, values = [], []
        index_pieces.append(np.asarray(indices, dtype=column_dtype))
        value_pieces.append(np.asarray(values, dtype=np.float32))
        del indices, values
        index_dtype = np.int64 if indptr[-1] > np.iinfo(np.int32).max else np.int32
        counts = sp.csr_matrix((np.concatenate(value_pieces),
                                np.concatenate(index_pieces).astype(index_dtype, copy=False),
                                np.asarray(indptr, dtype=index_dtype)),
                               shape=(len(indptr) - 1, len(self.vocabulary_)),
                               dtype=np.float32)
        counts.sort_indices()
        return counts

    def _char_wb_transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        """:meth:`transform` for ``char_wb`` n-grams, each distinct word's n-grams
        counted once per :data:`CHAR_WB_WORDS` words (or :data:`CHAR_WB_CHARS` characters)
        of text: they never cross a word's edge, so a text's counts are the sum of its
        words' (times how often each occurs), a sparse product of texts x words and words
        x terms. Counting every n-gram of every word
        in Python spent 25 s of an audit's leakage check on 3,776 Reuters texts; the same
        counts, to the bit.
        """
        min_n, max_n = self.ngram_range
        preprocess, column_of = self.preprocessor, self.vocabulary_.get

        def ids_of(ngrams: list[str]) -> np.ndarray:
            return np.fromiter(map(column_of, ngrams, repeat(-1)), np.int64, len(ngrams))

        def counted(batch: list[list[str]]) -> sp.csr_matrix:
            return _char_wb_batch_counts(batch, min_n, max_n, ids_of,
                                         lambda: len(self.vocabulary_))

        pieces = _char_wb_pieces(texts, preprocess, counted)
        counts = pieces[0] if len(pieces) == 1 else sp.vstack(pieces, format="csr")
        del pieces
        index_dtype = np.int64 if counts.nnz > np.iinfo(np.int32).max or \
            len(self.vocabulary_) > np.iinfo(np.int32).max else np.int32
        counts.indices = counts.indices.astype(index_dtype, copy=False)
        counts.indptr = counts.indptr.astype(index_dtype, copy=False)
        counts.sort_indices()
        return counts


#: words (of the texts, each occurrence) :meth:`_VocabularyCounter._char_wb_transform`
#: and a fit (:func:`_char_wb_fitted_counts`) gather before they count their texts and
#: let them go (bounds their memory)
CHAR_WB_WORDS = 250_000
#: characters of the preprocessed texts :meth:`_VocabularyCounter._char_wb_transform`
#: and :func:`_char_wb_fitted_counts` gather at most (but for one text) before they count
#: their texts
CHAR_WB_CHARS = 2_000_000
#: n-grams of distinct words a transform and a fit (:func:`_char_wb_batch_counts`) list at once
#: (at most; but for one word's, up to four times the characters of a text)
CHAR_WB_NGRAMS = 150_000


def _word_ngrams(tokens: list[str], min_n: int, max_n: int) -> list[str]:
    """scikit-learn's word n-grams of ``tokens``, in its order: the tokens (where
    ``min_n`` is 1), then the n-grams of each length, by position, joined by a space."""
    if max_n == 1:
        return tokens
    ngrams = list(tokens) if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n + 1, len(tokens) + 1)):
        # position by position: zip stops with the last slice, at len(tokens) - n + 1
        ngrams.extend(map(" ".join, zip(*[tokens[i:] for i in range(n)], strict=False)))
    return ngrams


def _streamed_counts(counter, analyzer: str, vocabulary: dict[str, int], text: str,
                     chunk_chars: int | None = None) -> sp.csr_matrix:
    """One row of the counts ``counter.transform([text])`` gives, without the list of
    every n-gram of ``text`` its analyzer builds (gigabytes for a text of megabytes):
    each chunk's n-grams (:func:`_chunk_counts`) are counted straight into their
    vocabulary columns.
    """
    totals: dict[int, int] = {}
    for _, counts in _chunk_counts(counter, analyzer, text, chunk_chars):
        for term, count in counts.items():
            column = vocabulary.get(term)
            if column is not None:
                totals[column] = totals.get(column, 0) + count
    columns = np.array(sorted(totals), dtype=np.int64)
    values = np.array([totals[c] for c in columns.tolist()], dtype=np.float32)
    return sp.csr_matrix((values, columns, [0, len(columns)]),
                         shape=(1, len(vocabulary)), dtype=np.float32)


def _streamed_term_counts(counter, analyzer: str, text: str,
                          chunk_chars: int | None = None) -> Iterator[tuple[str, int]]:
    """Each term of ``text`` and its count, as ``Counter(counter.build_analyzer()(text))``
    holds them, in the same order (that of their first n-gram in the analyzer's list),
    without that list: word n-grams are listed by length, then position; ``char_wb``
    n-grams word by word.
    """
    groups: dict[int, Counter[str]] = {}
    for size, counts in _chunk_counts(counter, analyzer, text, chunk_chars):
        group = groups.get(size)
        if group is None:
            groups[size] = counts
        else:
            group.update(counts)
    for size in sorted(groups):
        yield from groups.pop(size).items()


def _chunk_counts(counter, analyzer: str, text: str,
                  chunk_chars: int | None = None) -> Iterator[tuple[int, Counter[str]]]:
    """The n-grams of ``text`` counted about ``chunk_chars`` characters at a time, each
    count with the n-gram length it counts for word n-grams (0 for ``char_wb``, whose
    counts are of every length).

    The text is preprocessed a piece at a time (:func:`_preprocessed_pieces`, each cut
    before a space, where NFC, NFKC and lowercasing give what they give the whole text),
    then analyzed a chunk at a time, each chunk ending after a whitespace character: no
    token, and no ``char_wb`` n-gram (which stays inside a word), spans two chunks. Word
    n-grams do: the last ``max_n - 1`` tokens of the text so far are carried into the
    next chunk, and each n-gram is counted in the chunk holding its last token, so none
    is lost or counted twice.
    """
    chunk_chars = STREAM_CHUNK_CHARS if chunk_chars is None else chunk_chars
    pieces = _preprocessed_pieces(counter.build_preprocessor(), counter.decode(text),
                                  PREPROCESS_PIECE_CHARS)
    min_n, max_n = counter.ngram_range
    if analyzer != "word":
        for piece in pieces:
            for chunk in whitespace_chunks(piece, chunk_chars):
                yield 0, Counter(_char_wb_ngrams(chunk, min_n, max_n))
        return
    tokenize = counter.build_tokenizer()
    # under split_unspaced each character of those scripts is a token: Chinese or Japanese
    # text, often without any whitespace, is cut before them too, or a long one was a
    # single chunk, its millions of tokens listed at once
    cut = (_UNSPACED_CUT if counter.token_pattern in (word_token_pattern(True, True),
                                                      word_token_pattern(False, True))
           else WHITESPACE)
    carry: list[str] = []
    for piece in pieces:
        for chunk in whitespace_chunks(piece, chunk_chars, cut):
            window = carry + tokenize(chunk)
            for n in range(min_n, max_n + 1):
                yield n, Counter(_word_ngrams_ending_after(window, len(carry), n, n))
            carry = window[len(window) - (max_n - 1):] if max_n > 1 else []


def _preprocessed_pieces(preprocess: Callable[[str], str], text: str,
                         size: int) -> Iterator[str]:
    """``preprocess`` of ``text`` (NFC or NFKC, the invisible characters taken out,
    lowercasing: :func:`unicode_preprocessor`, or scikit-learn's lowercasing) in
    consecutive pieces, each of about ``size`` characters before it is preprocessed and
    cut just before an ASCII space or a line feed: their concatenation is
    ``preprocess(text)``, without that whole copy (several, each of 4 bytes a character
    where the text holds an emoji: a 34 MB text took 626 MB to suggest labels for).

    A space or a line feed is a cut that changes nothing: it composes and decomposes
    with nothing in either normal form, and it is neither cased nor case-ignorable, so
    lowercasing's one rule that looks at the neighbours (a final sigma) stops at it. A
    stretch without either is one piece (a text of lines without spaces was one piece
    until the line feed cut too).
    """
    start, size = 0, max(size, 1)
    while start < len(text):
        found = _PIECE_CUT.search(text, start + size)
        end = len(text) if found is None else found.start()
        yield preprocess(text[start:end])
        start = end


#: where :func:`_preprocessed_pieces` may cut a text (just before the match)
_PIECE_CUT = re.compile("[ \n]")


def _word_ngrams_ending_after(tokens: list[str], first: int, min_n: int,
                              max_n: int) -> Iterator[str]:
    """The word n-grams (``min_n`` to ``max_n`` tokens, joined by a space, as
    scikit-learn joins them) of ``tokens`` whose last token is at ``first`` or after."""
    for n in range(min_n, max_n + 1):
        for i in range(max(0, first - n + 1), len(tokens) - n + 1):
            yield tokens[i] if n == 1 else " ".join(tokens[i:i + n])


def _char_wb_ngrams(text: str, min_n: int, max_n: int) -> Iterator[str]:
    """scikit-learn's ``char_wb`` n-grams of ``text``: those of each whitespace-separated
    word padded with a space on either side; a padded word shorter than ``n`` counts
    once, whole, and no longer n-grams are taken from it."""
    for word in text.split():
        word = " " + word + " "
        length = len(word)
        for n in range(min_n, max_n + 1):
            yield word[:n]
            for offset in range(1, length - n + 1):
                yield word[offset:offset + n]
            if length <= n:
                break


def _most_frequent(counts: sp.csr_matrix, limit: int) -> np.ndarray:
    """The columns, ascending, of the ``limit`` terms counted most often in ``counts``
    (whose columns are in term order); of terms counted equally often at the cut, those
    first in term (code point) order are kept.

    scikit-learn's ``max_features`` broke such ties with numpy's unstable argsort, whose
    order depends on the CPU's vector instructions: the same corpus kept other terms
    (and trained another model) on a machine with AVX-512 than on one without.

    >>> _most_frequent(sp.csr_matrix(np.array([[1, 2, 2, 3]], np.float32)), 2)
    array([1, 3])
    """
    totals = np.asarray(counts.sum(axis=0, dtype=np.float64)).ravel()
    return np.sort(np.argsort(-totals, kind="stable")[:limit])


def _as_list(texts: Iterable[str], name: str = "texts") -> list[str]:
    """``texts`` as a list, every item a ``str``; a bare ``str`` (or bytes) is refused,
    where iterating it would give one document per character."""
    if isinstance(texts, str | bytes):
        shown = texts if len(texts) <= 60 else texts[:57] + "..."
        raise InvalidParameterError(name, "a list of str (one str per document, not a bare "
                                    "str)", shown)
    refused = _unordered_or_table(texts)
    if refused is not None:
        raise InvalidParameterError(name, "a list of str (one str per document)", refused)
    if not isinstance(texts, list):
        try:
            texts = list(texts)
        except TypeError:  # None or a number: "'NoneType' object is not iterable"
            raise InvalidParameterError(name, "a list of str (one str per document)",
                                        type(texts).__name__) from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidParameterError(f"{name}[{i}]", "a str", type(text).__name__)
    return texts


def _unordered_or_table(texts: object) -> str | None:
    """What ``texts`` is, where iterating it would not give its documents in order:
    a table of rows and columns (a pandas DataFrame iterates as its column names, so
    ``df[["text"]]`` was the one document ``"text"``; a 2-D array as its rows), a
    mapping (its keys, the ids of ``{id: text}``, were the documents) or a set (no order
    to match the results to); ``None`` for anything else.

    >>> _unordered_or_table({"d1": "a text"}), _unordered_or_table(["a text"])
    ('a dict (iterated as its keys; pass list(texts.values()))', None)
    """
    shape = getattr(texts, "shape", None)
    if getattr(texts, "ndim", 1) != 1 and isinstance(shape, tuple):
        if not shape:
            return f"a 0-d {type(texts).__name__} (one value, not one per document)"
        shape_text = " x ".join(str(n) for n in shape)
        if getattr(texts, "columns", None) is not None:
            return (f"a {shape_text} {type(texts).__name__} (iterated as its column names; "
                    'pass one column of it, e.g. df["text"])')
        return f"a {shape_text} {type(texts).__name__} (one text per document, not a table)"
    if isinstance(texts, Mapping):
        return (f"a {type(texts).__name__} (iterated as its keys; pass "
                "list(texts.values()))")
    if isinstance(texts, Set) and not isinstance(texts, KeysView):  # a dict's are ordered
        return f"a {type(texts).__name__} (no order to match the results to; pass a list)"
    return None


#: rows longer than this are summed one at a time by :func:`_row_sums_in_order`
_LONG_ROW = 1024


#: nonzeros of a block copied at once by :func:`_hstack_rows` (its positions' scratch)
HSTACK_CHUNK = 1 << 20


def _hstack_rows(blocks: Sequence[sp.csr_matrix]) -> sp.csr_matrix:
    """``sp.hstack(blocks, format="csr", dtype=np.float32)``, the same matrix to the bit
    (each row's columns block by block, in order), written once into arrays of the
    result's size. scipy's stacked the blocks' arrays into concatenated copies, then a
    result, then copied that result again (a one-block vstack): on the 20,000 texts of a
    ``label --budget`` pool (13.9 million nonzeros, word and character n-grams) about
    300 MB over the blocks and the result, the run's peak, reached before its first
    teacher call. Scratch here: one int64 position per nonzero of a chunk of
    :data:`HSTACK_CHUNK`."""
    blocks = [sp.csr_matrix(block) if not sp.isspmatrix_csr(block) else block
              for block in blocks]
    n_rows = blocks[0].shape[0]
    if any(block.shape[0] != n_rows for block in blocks):
        raise ValueError(f"blocks of {sorted({b.shape[0] for b in blocks})} rows")
    n_cols = sum(block.shape[1] for block in blocks)
    counts = [np.diff(block.indptr).astype(np.int64) for block in blocks]
    indptr64 = np.zeros(n_rows + 1, np.int64)
    np.cumsum(sum(counts), out=indptr64[1:])
    nnz = int(indptr64[-1])
    # scipy's choice (get_index_dtype)
    index_dtype = np.int32 if max(nnz, n_cols - 1) <= np.iinfo(np.int32).max else np.int64
    data = np.empty(nnz, np.float32)
    indices = np.empty(nnz, index_dtype)
    filled = indptr64[:-1].copy()  # where each row's next block starts in the result
    col_offset = 0
    for block, count in zip(blocks, counts, strict=True):
        block_indptr = block.indptr.astype(np.int64, copy=False)
        # rows taken a chunk of about HSTACK_CHUNK nonzeros at a time
        row = 0
        while row < n_rows:
            end = int(np.searchsorted(block_indptr, block_indptr[row] + HSTACK_CHUNK,
                                      side="right")) - 1
            end = min(max(end, row + 1), n_rows)
            first, last = int(block_indptr[row]), int(block_indptr[end])
            if last > first:
                # a nonzero's place: its row's start in the result, plus its rank in the
                # block's row
                places = np.repeat(filled[row:end] - block_indptr[row:end],
                                   count[row:end])
                places += np.arange(first, last)
                data[places] = block.data[first:last]
                indices[places] = block.indices[first:last] + col_offset
            row = end
        filled += count
        col_offset += block.shape[1]
    return sp.csr_matrix((data, indices, indptr64.astype(index_dtype)), shape=(n_rows, n_cols))


def _l2_normalize_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` (CSR) with each nonzero row scaled to unit length, in place, to the bit
    as scikit-learn's ``normalize(matrix, copy=False)`` scales it: by scikit-learn's
    compiled loop where scikit-learn is imported already (fitting counts with it; ten
    times faster than numpy here), else by :func:`_l2_normalize_rows_numpy`, which skips
    scikit-learn's 1.3 s import when a fitted featurizer predicts."""
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        # no documents (an empty batch) or every term pruned (tiny corpora): nothing to
        # normalise (scikit-learn refuses 0 rows)
        return sp.csr_matrix(matrix, dtype=np.float32)
    if "sklearn" in sys.modules:
        from sklearn.preprocessing import normalize

        return normalize(matrix, norm="l2", copy=False).astype(np.float32, copy=False)
    return _l2_normalize_rows_numpy(matrix)


def _l2_normalize_rows_numpy(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """What scikit-learn's ``normalize(matrix, copy=False)`` does to a CSR ``matrix`` with
    rows, in numpy: each row's squares, in the data's dtype, added left to right in
    float64, each value divided in float64 by the square root and rounded back; an
    all-zero row kept. Returned as float32."""
    matrix = matrix.tocsr()
    if matrix.dtype not in (np.float32, np.float64):
        matrix = matrix.astype(np.float64)
    data = matrix.data
    if not np.isfinite(data).all():  # as scikit-learn refused them
        raise ValueError("Input contains NaN or infinity.")
    norms = np.sqrt(_row_sums_in_order((data * data).astype(np.float64), matrix.indptr))
    norms[norms == 0.0] = 1.0  # an all-zero row stays as it is
    np.divide(data, np.repeat(norms, np.diff(matrix.indptr)), out=data, casting="unsafe")
    return matrix.astype(np.float32, copy=False)


def _row_sums_in_order(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """The sum of each CSR row's ``values``, added left to right from 0.0 as a C loop adds
    them (numpy's ``sum`` and ``reduceat`` add pairwise, which can round otherwise): the
    rows of up to :data:`_LONG_ROW` values a position at a time, all such rows at once,
    longer ones each by a running sum."""
    lengths = np.diff(indptr)
    sums = np.zeros(len(lengths), dtype=np.float64)
    for row in np.flatnonzero(lengths > _LONG_ROW).tolist():
        sums[row] = np.add.accumulate(values[indptr[row]:indptr[row + 1]])[-1]
    short = np.flatnonzero((lengths > 0) & (lengths <= _LONG_ROW))
    short = short[np.argsort(-lengths[short], kind="stable")]  # longest first
    starts, short_lengths = indptr[short], lengths[short]
    totals = np.zeros(len(short), dtype=np.float64)
    for position in range(int(short_lengths[0]) if len(short) else 0):
        # the rows still holding a value at this position: a prefix, longest first
        active = int(np.searchsorted(-short_lengths, -position, side="left"))
        totals[:active] += values[starts[:active] + position]
    sums[short] = totals
    return sums
