"""How many of some documents' words the featurizer has no feature for.

A wave of new words (slang, a new product's name) is invisible to a TF-IDF model: the
words have no column, so the documents score as if they were not there, and an
estimate of label shift from the model's probabilities (``tagsmith shift``) cannot see
what it does not score. The share of word tokens outside the vocabulary is that signal,
measured on the calibration documents when a bundle is calibrated (recorded in its
manifest) and on new documents by ``shift``.

What "outside the vocabulary" means, per featurizer:

- TF-IDF with word n-grams that include unigrams: a word token (the featurizer's own
  preprocessing and token pattern) whose unigram is no term of the word block. Words
  cut by ``min_df`` or ``max_word_features`` count as unseen: the model has no feature
  for them either. Character n-grams of the same featurizer may still see part of such
  a word; the measure is of the word view only.
- TF-IDF without word unigrams (character n-grams alone, or word bigrams only): not
  measured. A new word is partly seen through its character n-grams, and there is no
  whole-word vocabulary to compare it with.
- Sentence embeddings: not measured. Every word gets a vector, known or not.
- Several views: the first TF-IDF view (by name) with word unigrams.

>>> from tagsmith.features.tfidf import TfidfFeaturizer
>>> feats = TfidfFeaturizer(char_ngrams=None, min_df=1).fit(["a cat", "a dog"])
>>> found = unseen_words(feats, ["a cat and a rat"])
>>> found.n_tokens, found.n_unseen, found.top(5)
(5, 2, [('and', 1), ('rat', 1)])
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: what the measure counts (the manifest's and shift's ``view``)
WORD_VIEW = "word unigrams"


@dataclass
class UnseenWords:
    """Word tokens of ``n_docs`` documents: ``n_tokens`` in all, ``n_unseen`` of them
    outside the vocabulary, ``counts`` of each unseen word; ``view`` names what was
    compared (:data:`WORD_VIEW`, with the view's name among several)."""

    n_docs: int
    n_tokens: int
    n_unseen: int
    view: str
    counts: Counter = field(default_factory=Counter, repr=False)

    @property
    def share(self) -> float:
        """The share of word tokens outside the vocabulary (0 for no tokens)."""
        return self.n_unseen / self.n_tokens if self.n_tokens else 0.0

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` most frequent unseen words with their counts (ties: in code point
        order, so that a report is the same on every run)."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:n]

    def summary(self) -> dict[str, Any]:
        """What a bundle's manifest records (JSON)."""
        return {"measured": True, "view": self.view, "n_docs": self.n_docs,
                "n_tokens": self.n_tokens, "n_unseen": self.n_unseen,
                "share": round(self.share, 6)}


def _word_view(featurizer: Any) -> tuple[Any, Any, str] | str:
    """The TF-IDF featurizer, its word block holding unigrams and the view's name, or
    why the featurizer has none (a sentence for the report)."""
    kind = getattr(featurizer, "kind", None)
    if kind == "views":
        reasons = []
        for name in sorted(featurizer.featurizers):
            found = _word_view(featurizer.featurizers[name])
            if not isinstance(found, str):
                return found[0], found[1], f"{WORD_VIEW} of view {name!r}"
            reasons.append(f"view {name!r}: {found}")
        return "; ".join(reasons)
    if kind == "embedding":
        return "an embedding model has no vocabulary (every word gets a vector)"
    if kind != "tfidf":
        return f"a featurizer of kind {kind!r} has no word vocabulary"
    for block in getattr(featurizer, "blocks_", []):
        if block.analyzer == "word" and block.ngrams[0] == 1:
            return featurizer, block, WORD_VIEW
    return ("no word unigrams among the TF-IDF features (character n-grams see part of "
            "a new word)")


def unseen_words(featurizer: Any, texts: Iterable[str]) -> UnseenWords | str:
    """The word tokens of ``texts`` outside ``featurizer``'s vocabulary
    (:class:`UnseenWords`), or, where the featurizer has no word vocabulary, why it is
    not measured (a sentence). Tokens are those the featurizer counts: its
    preprocessing (lowercasing, Unicode normalisation) and its word token pattern."""
    from tagsmith.features import tfidf as tfidf_module

    found = _word_view(featurizer)
    if isinstance(found, str):
        return found
    tfidf, block, view = found
    counter = block.counter(tfidf)
    preprocess = counter.preprocessor
    findall = re.compile(counter.token_pattern).findall
    # a text over STREAM_MIN_CHARS is counted a chunk at a time, as the featurizer
    # counts it: its preprocessed copy and the list of all its tokens took about 14
    # times the text's size (a 20 MB text: 290 MB more, where transform took 9 MB)
    words = tfidf_module._VocabularyCounter("word", (1, 1), {}, preprocess,
                                            counter.token_pattern)
    tokens: Counter = Counter()
    n_docs = 0
    for text in texts:
        if len(text) > tfidf_module.STREAM_MIN_CHARS:
            for _, counts in tfidf_module._chunk_counts(words, "word", text):
                tokens.update(counts)
        else:
            tokens.update(findall(preprocess(text)))
        n_docs += 1
    vocabulary = block.vocabulary()
    unseen = Counter({word: count for word, count in tokens.items()
                      if word not in vocabulary})
    return UnseenWords(n_docs, sum(tokens.values()), sum(unseen.values()), view, unseen)


#: new documents' share is "well above" the calibration documents' when it is at least
#: this many times the calibration share ...
UNSEEN_RATIO = 2.0
#: ... and at least this much above it (a share, 0.01 = 1 percentage point). On the
#: trust-and-safety walk (a bundle trained on month 1), month 2, with no new words,
#: measured about the calibration share, and month 3's scam wave (2.7% of its tokens
#: new slang) about 2.7 points above it; neither test alone would do: a ratio alone
#: fires on a handful of tokens where the calibration share is near 0, a difference
#: alone on a long-tailed corpus whose calibration share is already 10%
UNSEEN_EXCESS = 0.01
#: ... in at least this many unseen tokens: a few documents with a typo or a name
#: (2 new words of 10, 20%) are no wave (month 3's were 2,624)
UNSEEN_MIN_TOKENS = 20


def report(featurizer: Any, texts: Iterable[str], calibration: Any,
           top: int = 10) -> dict[str, Any]:
    """New documents' share of word tokens outside ``featurizer``'s vocabulary against
    ``calibration``, the manifest's ``calibration.unseen_words`` entry (``None`` for a
    bundle that recorded none), with the ``top`` unseen words by count: what
    ``TextClassifier.unseen_words`` returns and ``shift --json`` holds under
    ``unseen_words``. ``measured`` False (with the ``reason``) for a featurizer with no
    word vocabulary; ``calibration_share`` and ``well_above_calibration`` ``None`` where
    no share was recorded (:data:`UNSEEN_RATIO`, :data:`UNSEEN_EXCESS`,
    :data:`UNSEEN_MIN_TOKENS`).

    >>> from tagsmith.features.tfidf import TfidfFeaturizer
    >>> feats = TfidfFeaturizer(char_ngrams=None, min_df=1).fit(["a cat", "a dog"])
    >>> found = report(feats, ["a cat and a rat"], {"measured": True, "share": 0.0}, top=1)
    >>> found["share"], found["top"], found["well_above_calibration"]
    (0.4, [{'word': 'and', 'count': 1}], False)
    """
    found = unseen_words(featurizer, texts)
    if isinstance(found, str):
        return not_measured(found)
    recorded = (calibration["share"] if isinstance(calibration, dict)
                and calibration.get("measured") and isinstance(calibration.get("share"),
                                                               (int, float)) else None)
    result = {**found.summary(), "calibration_share": recorded,
              "top": [{"word": word, "count": count} for word, count in found.top(top)]}
    result["well_above_calibration"] = (
        None if recorded is None else
        found.share >= UNSEEN_RATIO * recorded and found.share - recorded >= UNSEEN_EXCESS
        and found.n_unseen >= UNSEEN_MIN_TOKENS)
    return result


def not_measured(reason: str) -> dict[str, Any]:
    """The manifest's entry where the featurizer has no word vocabulary."""
    return {"measured": False, "reason": reason}


def recorded(texts: Iterable[str], featurizer: Any) -> dict[str, Any]:
    """The manifest's entry for the calibration documents ``texts``."""
    found = unseen_words(featurizer, texts)
    return not_measured(found) if isinstance(found, str) else found.summary()
