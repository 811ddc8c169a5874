"""LLM labeling (TnT-LLM phase 2): every applicable label, with a confidence.

Each document is sent with the label set -- the whole taxonomy for small label spaces,
or a per-document shortlist (a :class:`~tagsmith.topk.TopK` from a trained tagsmith
model or from zero-shot retrieval) for large ones. Answers are parsed strictly and
validated against the labels offered (:mod:`tagsmith.labeling.parsing`); unknown labels,
invalid items, malformed answers and failed calls are counted in the report. An answer
listing labels none of which is accepted (only unknown, ambiguous or invalid items: the
"hacked" of a prompt injection) is malformed, not an answer without labels (but one
naming a label of the vocabulary off the document's shortlist is counted apart, in
``n_off_shortlist_answers``: the shortlist is too narrow): only an
empty list says that no label applies. With
``votes > 1`` each document is asked several times with different seeds at
``vote_temperature`` (self-consistency) and a label's soft target is its mean
confidence over the votes (0 for a vote that did not name it). A vote naming only labels
off the shortlist chose none of the labels offered: it counts as a vote for none of them,
as an empty one does, once another vote of the document chose one or none (a document
whose every answered vote is off its shortlist stays unanswered); failed and malformed
votes are left out of the mean.

Documents whose prompts are identical (the same text, up to ``max_doc_chars``, with the
same labels offered) are asked once per run: later copies get the first one's answers,
votes included, and are counted in ``n_duplicate_docs``, not in the calls. A copy
offered other labels (ones the prompt does not tell apart) reads each answer among its
own labels, also an answer none of whose items the first document's labels accepted.
Blank documents (empty or whitespace only) are not sent: they are left unanswered and
counted in ``n_blank_docs`` (an answer for no text trained the student on nothing).

The result is a sparse ``n_docs x n_labels`` matrix of soft targets in [0, 1].
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import scipy.sparse as sp

from tagsmith._params import (
    check_at_construction,
    check_bool,
    check_int,
    check_language,
    check_options,
)
from tagsmith._plural import plural, plural_s
from tagsmith.data.labelspace import LabelSpace, check_label_space, in_language
from tagsmith.exceptions import (
    InvalidParameterError,
    LLMError,
    LLMOutputError,
    LLMRefusalError,
    RejectedItemsError,
)
from tagsmith.labeling import MAJORITY_SHARE, MAX_VOTES, prompts
from tagsmith.labeling.cache import DropMalformed
from tagsmith.labeling.client import (
    ChatRequest,
    LLMClient,
    _prompt_estimate,
    check_client,
    check_max_tokens,
    check_temperature,
    complete_all,
)
from tagsmith.labeling.parsing import (
    LabelNames,
    LabelResolver,
    ParsedLabels,
    display_names,
    no_label_key,
    parse_label_answer,
)
from tagsmith.labeling.refusals import refusal_words
from tagsmith.topk import TopK

logger = logging.getLogger("tagsmith")


#: what a message saying the shortlist was too narrow advises: the labeler does not know
#: where its shortlist came from (a bundle, zero-shot or both), so it names both, and
#: their union (both options given), which offers labels neither list alone does
NARROW_SHORTLIST = ("raise --shortlist-k, or try the other shortlist: --shortlist BUNDLE "
                    "or --shortlist-zeroshot, or both (their union)")
#: the same advice to a caller of :func:`label_documents`, who passes the TopK: a
#: shortlist_k above its width offers no more labels (the command line makes the TopK
#: as wide as --shortlist-k)
NARROW_SHORTLIST_PY = ("raise shortlist_k, with a TopK at least that wide, or try the other "
                       "shortlist: a TopK from a trained model or from zero-shot retrieval")
#: how to send more of a long document, where the model's context window holds it: a
#: log message's template, whose ``max_doc_chars`` (``extra={"parameters": ...}``) the
#: command line names by its option (it told a Python caller "--max-doc-chars")
MORE_TEXT = ("max_doc_chars sends more, where the model's context window holds it; "
             "or split each document into parts")

@dataclass
class LabelingOptions:
    """How documents are labelled by the LLM.

    >>> from tagsmith.labeling.client import ScriptedLLM
    >>> space = LabelSpace.from_uris(["u:a", "u:b"], names={"u:a": "sports", "u:b": "music"})
    >>> llm = ScriptedLLM(lambda r: '{"labels": [{"label": "sports", "confidence": 0.8}]}')
    >>> options = LabelingOptions(votes=3, use_case="tag news items", n_workers=1)
    >>> result = label_documents(["the match tonight"], space, llm, options)
    >>> result.Y.toarray().astype(float).round(2).tolist(), llm.usage.n_requests
    ([[0.8, 0.0]], 3)
    """

    max_labels: int = 10
    votes: int = 1
    vote_temperature: float = 0.7
    temperature: float = 0.0
    use_case: str | None = None
    max_doc_chars: int = 4000
    #: shortlist width for label spaces larger than ``full_list_up_to``
    shortlist_k: int = 30
    full_list_up_to: int = 100
    with_descriptions: bool = True
    #: show each label's broader labels (hierarchical vocabularies, METHODS.md 13a "DH")
    with_broader: bool = True
    #: give a document every broader label of the labels the LLM chose (path consistency)
    add_ancestors: bool = False
    n_workers: int = 4
    lang: str = "en"
    show_progress: bool = False
    #: the output token limit each request asks for (``max_tokens``; None: the server's)
    max_tokens: int | None = None
    #: ask again, once, the requests whose refusal the response cache keeps (an
    #: earlier run's; the model's in prose too): a rerun tells them at no cost otherwise
    retry_refused: bool = False
    #: keep malformed answers in the response cache, where they are replayed as the
    #: malformed answers they are (by default one leaves the cache as it arrives, so a
    #: rerun asks again). ``label --budget`` keeps them: each of its rounds chooses
    #: documents by the answers before it, and a malformed answer asked again on a
    #: resumed run got another answer, so another student chose other documents, each
    #: paid for again (a rerun of a 2,000-call run sent about 1,300 calls)
    keep_malformed: bool = False

    def __post_init__(self) -> None:
        # a bad field is refused here, naming it, not where the options are used
        check_at_construction(self)

    def validate(self) -> None:
        """Refuse a bad field before any call; numpy numbers pass and are kept as plain
        Python ones (they go into every request's JSON: a ``float32`` temperature failed
        it, and numpy integers were refused)."""
        for name in ("max_labels", "votes", "max_doc_chars", "shortlist_k", "n_workers"):
            setattr(self, name, check_int(name, getattr(self, name), 1, numpy=True))
        if self.votes > MAX_VOTES:
            raise InvalidParameterError("votes", f"an integer in [1, {MAX_VOTES}]", self.votes)
        self.full_list_up_to = check_int("full_list_up_to", self.full_list_up_to, 0,
                                         numpy=True)
        for name in ("temperature", "vote_temperature"):  # chat-completions: [0, 2]
            setattr(self, name, check_temperature(name, getattr(self, name)))
        if self.votes > 1 and self.vote_temperature == 0:
            # greedy decoding answers each vote alike (most servers ignore the seed at
            # temperature 0): votes=3 paid 3 calls a document for one answer, said nowhere
            raise InvalidParameterError(
                "vote_temperature", "above 0 where votes > 1 (at temperature 0 every vote "
                "gives the same answer, each one paid for; or votes=1)", self.vote_temperature)
        self.max_tokens = check_max_tokens("max_tokens", self.max_tokens)
        # a blank one ("", a shell variable left unset) was dropped from the prompt
        if self.use_case is not None and (not isinstance(self.use_case, str)
                                          or not self.use_case.strip()):
            raise InvalidParameterError("use_case", "None or a description of what the "
                                        "labels are for", self.use_case)
        # one case: the prompts and their cache keys are those of "en" for "EN"
        self.lang = check_language("lang", self.lang)
        for name in ("with_descriptions", "with_broader", "add_ancestors", "show_progress",
                     "retry_refused", "keep_malformed"):
            setattr(self, name, check_bool(name, getattr(self, name)))


#: characters of an unknown name a report shows (the name is counted and looked up whole)
MAX_NAME_SHOWN = 100
#: documents the summary's ``unknown_only_docs`` lists at most (the rest counted in
#: ``n_unknown_only_docs_unlisted``): a taxonomy lacking a label for a third of 10^5
#: documents listed some 33k ids on one JSON line
MAX_LISTED_UNKNOWN_ONLY_DOCS = 1_000
#: and ``refused_docs`` (the rest counted in ``n_refused_docs_unlisted``): a content
#: filter refusing 10^6 documents wrote every id on the summary's one line
MAX_LISTED_REFUSED_DOCS = MAX_LISTED_UNKNOWN_ONLY_DOCS
#: what a kind's message may start with that its count already says ("malformed answer:
#: no JSON object ..."), left out of "(first: ...)"
_KIND_PREFIX = {"failed": "failed call: ", "malformed": "malformed answer: "}


def says_no_label(exc: LLMOutputError, label_space: LabelSpace) -> bool:
    """Whether the rejected answer ``exc`` named only names of
    :data:`~tagsmith.labeling.parsing.NO_LABEL_NAMES` ("none", "N/A", "No label"; each
    a label item of its own, with a confidence or none at all, no other invalid item
    beside) that no label of ``label_space`` has, deprecated ones included: the model
    said that none of the labels applies, in words where the prompt asks for an empty
    list. The vocabulary's names are compared in every language (whatever the
    prompt's).

    >>> from tagsmith.exceptions import RejectedItemsError
    >>> space = LabelSpace.from_uris(["u:a"], names={"u:a": "apple"})
    >>> says_no_label(RejectedItemsError("x", unknown=["None", "N/A"]), space)
    True
    >>> says_no_label(RejectedItemsError("x", unknown=["None", "pear"]), space)
    False
    >>> says_no_label(RejectedItemsError("x", n_invalid_items=1, invalid_names=["none"],
    ...                                  unrated_names=["none"]), space)
    True
    >>> says_no_label(RejectedItemsError("x", unknown=["none"]),
    ...               LabelSpace.from_uris(["u:n"], names={"u:n": "None"}))
    False
    """
    if not isinstance(exc, RejectedItemsError) or exc.ambiguous:
        return False
    # {"label": "none"} with no confidence (models often leave it out for "none", the
    # item then invalid) says it too; an item invalid otherwise is no such answer
    names = [*exc.unknown, *exc.unrated_names]
    if not names or exc.n_invalid_items != len(exc.unrated_names):
        return False
    named = [no_label_key(name) for name in names]
    # a vocabulary's own "None" label (off the shortlist, deprecated) is no such answer
    return None not in named \
        and not _no_label_keys_named(label_space) & set(named)


#: the last label space whose :func:`_no_label_keys_named` were found: (it, weakly; they)
_named_none: tuple[weakref.ref[LabelSpace], frozenset[str]] | None = None
#: held while they are found: worker threads' first "none" answers wait for one pass
#: over the vocabulary (0.8 s over YSO), not each make their own
_named_none_lock = threading.Lock()


def _no_label_keys_named(label_space: LabelSpace) -> frozenset[str]:
    """The keys of :data:`~tagsmith.labeling.parsing.NO_LABEL_NAMES` that a label of
    ``label_space`` (deprecated ones included) is named by, in any language, as a URI,
    its last part or a notation, compared by
    :func:`~tagsmith.labeling.parsing.no_label_key` (looser than answers are resolved:
    "No labels" keeps a label "No label"). Found once a label space: a whole-vocabulary
    resolver looking a "none" up took 11 s over YSO's 27,754 labels.

    >>> space = LabelSpace.from_uris(["u:a", "u:none"], names={"u:a": "N/A"})
    >>> sorted(_no_label_keys_named(space))
    ['n a', 'none']
    """
    global _named_none
    cached = _named_none
    if cached is not None and cached[0]() is label_space:
        return cached[1]
    with _named_none_lock:
        cached = _named_none
        if cached is not None and cached[0]() is label_space:
            return cached[1]
        named = _find_no_label_keys_named(label_space)
        _named_none = (weakref.ref(label_space), named)
    return named


def _find_no_label_keys_named(label_space: LabelSpace) -> frozenset[str]:
    """:func:`_no_label_keys_named`, found (one pass over ``label_space``)."""
    found: set[str] = set()
    for label in label_space:
        names = [label.uri, re.split(r"[/#:]", label.uri)[-1], label.notation or "",
                 *label.pref_labels.values()]
        for alternatives in label.alt_labels.values():
            names += alternatives
        found.update(key for name in names if name and (key := no_label_key(name)))
    return frozenset(found)


def _most_named(names: Counter[str], n: int) -> list[tuple[str, int]]:
    """The ``n`` names counted most, ties by name: the order answers came in (threads
    answering in any order) does not reorder a report.

    >>> _most_named(Counter(["b", "a", "c", "c"]), 2)
    [('c', 2), ('a', 1)]
    """
    return sorted(names.items(), key=lambda item: (-item[1], item[0]))[:n]


def _most_named_alike(names: Counter[str], n: int) -> tuple[list[tuple[str, int]], int]:
    """:func:`_most_named` of ``names`` cut to :data:`MAX_NAME_SHOWN` characters and
    counted by their :func:`~tagsmith.labeling.taxonomy.duplicate_key`, each shown in
    its spelling counted most (ties by name), and how many such names there are.
    "Other topics" and "other topics" were two entries, and two long names sharing
    their first characters showed as one name twice.

    >>> _most_named_alike(Counter({"Other topics": 2, "other topics": 1, "Misc": 2}), 5)
    ([('Other topics', 3), ('Misc', 2)], 2)
    """
    from tagsmith.labeling.taxonomy import duplicate_key

    alike: dict[str, Counter[str]] = {}
    for name, count in names.items():
        cut = name[:MAX_NAME_SHOWN]
        alike.setdefault(duplicate_key(cut), Counter())[cut] += count
    shown = Counter({_most_named(spellings, 1)[0][0]: sum(spellings.values())
                     for spellings in alike.values()})
    return _most_named(shown, n), len(alike)


@dataclass
class LabelingReport:
    """Counts of what happened while labeling."""

    n_docs: int = 0
    n_calls: int = 0
    n_failed_calls: int = 0
    n_malformed_answers: int = 0
    #: calls the model or a content filter declined (a refusal, in its field or in
    #: prose; finish_reason "content_filter"; a content filter's or moderation's error):
    #: neither failed calls nor malformed answers, their documents left unanswered
    n_refused_calls: int = 0
    #: of them, those of requests whose refusal the response cache kept and
    #: ``retry_refused`` asked again, refused again (the warning said "not retried")
    n_refused_again: int = 0
    n_invalid_items: int = 0
    n_unknown_labels: int = 0
    unknown_labels: Counter[str] = field(default_factory=Counter)
    #: of the unknown labels, those that name a label of the vocabulary that was not
    #: offered (off the document's shortlist, or deprecated), not one the model made up:
    #: many of them say the shortlist is too narrow
    n_unoffered_labels: int = 0
    #: answers whose every item was rejected but that name a label of the vocabulary off
    #: the document's shortlist (not malformed: the model answered, outside the labels
    #: shown; the document is left unanswered): the shortlist is too narrow
    n_off_shortlist_answers: int = 0
    #: those of them whose document another vote answered (``votes`` > 1): counted as
    #: a vote for none of the labels offered, the document not left unanswered
    n_off_shortlist_votes: int = 0
    #: of the malformed answers, those whose every item named a label the vocabulary
    #: lacks (no invalid item, no ambiguous name): the model said none of the labels
    #: fits, in a name of its own; many of them call for a catch-all label ("Other")
    n_unknown_only_answers: int = 0
    #: answers that named only "none", "N/A" or the like
    #: (:data:`~tagsmith.labeling.parsing.NO_LABEL_NAMES`, no label
    #: of the vocabulary so named), read as the empty list the prompt asks for: none of
    #: the labels applies (written with an empty label set, no malformed answer)
    n_no_label_named_answers: int = 0
    #: the names those answers gave (each answer's names counted once a name, names
    #: alike by ``duplicate_key`` once, in their first spelling there): what the
    #: model called the documents none of the labels fits ("Something else entirely")
    unknown_only_labels: Counter[str] = field(default_factory=Counter)
    #: with ``votes`` > 1, the documents answered by fewer votes than asked (the others
    #: failed, malformed or refused): their soft targets are the mean of the votes that
    #: answered, one vote's confidence where one alone did
    n_docs_short_of_votes: int = 0
    #: answers naming a name that several offered labels share (resolved to none)
    n_ambiguous_labels: int = 0
    n_docs_without_labels: int = 0
    #: documents not sent because an earlier document of the run had the same prompt:
    #: they share its answers (and its votes) and cost no call of their own
    n_duplicate_docs: int = 0
    #: empty or whitespace-only documents, not sent: nothing to label (left unanswered)
    n_blank_docs: int = 0
    #: documents over ``max_doc_chars`` characters, sent cut to their start (labelled by
    #: it alone; the prompt says the document goes on)
    n_cut_docs: int = 0
    #: the first and the last failed call or malformed answer, as messages (None: none)
    first_error: str | None = None
    last_error: str | None = None
    #: the first message of each kind of unanswered call ("failed", "malformed",
    #: "refused", "off_shortlist": the names it gave), for a message naming every kind
    first_of_kind: dict[str, str] = field(default_factory=dict)
    #: the documents (positions in the texts labelled) left unanswered because a vote
    #: of theirs was refused and none answered, for a person to take; a copy sharing a
    #: refused document's prompt is one of them
    refused_docs: list[int] = field(default_factory=list)
    #: the documents (positions, as ``refused_docs``) left unanswered because their
    #: answers named only labels the vocabulary lacks (``n_unknown_only_answers``): in
    #: no output, and listed nowhere, for a person or a taxonomy --extend to take
    unknown_only_docs: list[int] = field(default_factory=list)

    def __repr__(self) -> str:
        """One line at a prompt: the dataclass repr printed every distinct unknown label
        the model invented and two error messages.

        >>> report = LabelingReport(n_docs=2, n_calls=2, n_unknown_labels=3)
        >>> report.unknown_labels.update(["Sports", "Sports", "Weather"])
        >>> report  # doctest: +NORMALIZE_WHITESPACE
        LabelingReport(n_docs=2, n_calls=2, n_failed_calls=0, n_malformed_answers=0,
                       n_refused_calls=0, n_unknown_labels=3, n_distinct_unknown_labels=2)
        """
        return (f"LabelingReport(n_docs={self.n_docs}, n_calls={self.n_calls}, "
                f"n_failed_calls={self.n_failed_calls}, "
                f"n_malformed_answers={self.n_malformed_answers}, "
                f"n_refused_calls={self.n_refused_calls}, "
                f"n_unknown_labels={self.n_unknown_labels}, "
                f"n_distinct_unknown_labels={len(self.unknown_labels)})")

    def error(self, message: str, kind: str = "failed") -> None:
        """Remember a failed call's or malformed answer's (``kind`` "malformed")
        message; a refusal's (``kind`` "refused") as the first of its kind only, no
        error."""
        self.first_of_kind.setdefault(kind, message)
        if kind == "refused":
            return
        if self.first_error is None:
            self.first_error = message
        self.last_error = message

    def unanswered(self) -> list[str]:
        """Each kind of call that left its document unanswered, counted, with its first
        message (a failed call, a malformed answer, an answer naming only labels off the
        shortlist): where one kind's last error was all a message named.

        >>> report = LabelingReport(n_failed_calls=2, n_malformed_answers=1)
        >>> report.error("HTTP 500"); report.error("malformed answer: x", "malformed")
        >>> report.unanswered()
        ['2 failed calls (first: HTTP 500)', '1 malformed answer (first: x)']
        """
        parts = []
        for kind, count, what in (
                ("failed", self.n_failed_calls, plural(self.n_failed_calls, "failed call",
                                                       "failed calls")),
                ("malformed", self.n_malformed_answers,
                 plural(self.n_malformed_answers, "malformed answer", "malformed answers")),
                ("refused", self.n_refused_calls,
                 plural(self.n_refused_calls, "call", "calls") + " refused by the model or "
                 "a content filter"),
                ("off_shortlist", self.n_off_shortlist_answers,
                 f"{plural(self.n_off_shortlist_answers, 'answer', 'answers')} named only "
                 f"labels off {plural(self.n_off_shortlist_answers, 'its', 'their')} "
                 "document's shortlist")):
            if count:
                first = self.first_of_kind.get(kind)
                if first:  # "1 malformed answer (first: malformed answer: ...)" said it twice
                    first = first.removeprefix(_KIND_PREFIX.get(kind, ""))
                parts.append(f"{count:,} {what}" + (f" (first: {first})" if first else "")
                             + (f": the shortlist is too narrow ({NARROW_SHORTLIST})"
                                if kind == "off_shortlist" else ""))
        return parts

    def count_rejected(self, parsed: ParsedLabels | RejectedItemsError) -> None:
        """Count the invalid items, unknown and ambiguous names of one answer."""
        self.n_invalid_items += parsed.n_invalid_items
        self.n_unknown_labels += len(parsed.unknown)
        self.unknown_labels.update(parsed.unknown)
        self.n_ambiguous_labels += len(parsed.ambiguous)

    def merge(self, other: LabelingReport,
              positions: Sequence[int] | np.ndarray | None = None) -> None:
        """Add the counts of ``other`` (a later batch of the same run) to this report,
        and its ``refused_docs`` and ``unknown_only_docs``: ``positions[i]`` is the
        position among this report's documents of ``other``'s document ``i`` (None:
        ``other`` labelled the same documents, its positions kept). A batched or resumed
        run merging its reports lost the documents listed for a person. The lists come
        out in order, each document once: one both reports list (the same documents
        asked twice) is one document for a person to take.

        >>> report = LabelingReport(n_refused_calls=1, refused_docs=[0])
        >>> report.merge(LabelingReport(n_refused_calls=1, refused_docs=[1],
        ...                             unknown_only_docs=[0]), positions=[5, 3])
        >>> report.n_refused_calls, report.refused_docs, report.unknown_only_docs
        (2, [0, 3], [5])
        >>> report.merge(LabelingReport(n_refused_calls=1, refused_docs=[3, 4]))
        >>> report.n_refused_calls, report.refused_docs
        (3, [0, 3, 4])
        """
        for name in (f.name for f in fields(self) if f.name.startswith("n_")):
            # every count, so one added to the report later is summed too, not dropped
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unknown_labels.update(other.unknown_labels)
        self.unknown_only_labels.update(other.unknown_only_labels)
        for mine, theirs in ((self.refused_docs, other.refused_docs),
                             (self.unknown_only_docs, other.unknown_only_docs)):
            if theirs:
                # (one sort a merge, over the few documents listed: kept, as a report's
                # lists are read in order without its to_dict)
                mine[:] = sorted(set(mine).union(
                    int(doc) if positions is None else int(positions[doc])
                    for doc in theirs))
        for kind, message in other.first_of_kind.items():
            self.first_of_kind.setdefault(kind, message)
        if other.first_error is not None:
            if self.first_error is None:
                self.first_error = other.first_error
            self.last_error = other.last_error

    def to_dict(self) -> dict:
        return {"n_docs": self.n_docs, "n_calls": self.n_calls,
                "n_failed_calls": self.n_failed_calls,
                "n_malformed_answers": self.n_malformed_answers,
                "n_refused_calls": self.n_refused_calls,
                "n_refused_again": self.n_refused_again,
                # the first MAX_LISTED_REFUSED_DOCS (the report keeps them all)
                "refused_docs": sorted(self.refused_docs)[:MAX_LISTED_REFUSED_DOCS],
                "n_refused_docs_unlisted": max(
                    0, len(self.refused_docs) - MAX_LISTED_REFUSED_DOCS),
                # the first MAX_LISTED_UNKNOWN_ONLY_DOCS (the report keeps them all)
                "unknown_only_docs": sorted(self.unknown_only_docs)[
                    :MAX_LISTED_UNKNOWN_ONLY_DOCS],
                "n_unknown_only_docs_unlisted": max(
                    0, len(self.unknown_only_docs) - MAX_LISTED_UNKNOWN_ONLY_DOCS),
                "n_invalid_items": self.n_invalid_items,
                "n_unknown_labels": self.n_unknown_labels,
                # cut, then counted by name alike ("Sports", "sports ", "SPORTS" were
                # three entries, ties in the order the threads' answers came in), each
                # in its spelling counted most, as top_unknown_only_labels
                "top_unknown_labels": _most_named_alike(self.unknown_labels, 10)[0],
                "n_unoffered_labels": self.n_unoffered_labels,
                "n_off_shortlist_answers": self.n_off_shortlist_answers,
                # the catch-all hint's count: the warning alone said it, hidden by -q
                "n_unknown_only_answers": self.n_unknown_only_answers,
                "n_no_label_named_answers": self.n_no_label_named_answers,
                # what they named: the labels a taxonomy --extend may add
                # counted by name alike ("Other topics", "other topics"), names cut first
                "top_unknown_only_labels": _most_named_alike(self.unknown_only_labels, 10)[0],
                "n_ambiguous_labels": self.n_ambiguous_labels,
                "n_docs_short_of_votes": self.n_docs_short_of_votes,
                "n_docs_without_labels": self.n_docs_without_labels,
                "n_duplicate_docs": self.n_duplicate_docs,
                "n_blank_docs": self.n_blank_docs,
                "n_cut_docs": self.n_cut_docs,
                "first_error": self.first_error, "last_error": self.last_error,
                "first_of_kind": dict(self.first_of_kind)}


@dataclass
class LLMLabels:
    """Soft targets from the LLM (``Y``: n_docs x n_labels CSR, values in (0, 1]).

    ``answered`` (bool, n_docs) is False where every vote failed or was malformed
    (including an answer whose every item was rejected, also one naming only labels off
    its shortlist, ``off_shortlist``): such a document has no usable teacher labels and
    should not train a student.
    """

    Y: sp.csr_matrix
    answered: np.ndarray
    report: LabelingReport
    #: (bool, n_docs) the documents left unanswered because their answers named only
    #: labels off their shortlist (counted in ``report.n_off_shortlist_answers``; None:
    #: not told)
    off_shortlist: np.ndarray | None = None
    #: per document, the names its answers gave that resolve to no one label (a
    #: misspelt label, a name two labels share, or one given with an invalid
    #: confidence: rejected, so the label reads as not given; None: not told), the
    #: votes rejected whole included
    unknown: list[list[str]] | None = None
    #: per document, the label ids offered it where a shortlist was used (None: no
    #: shortlist, or not told); a label not among them reads as not given only because
    #: the LLM could not name it
    offered: list[np.ndarray] | None = None
    #: (docs x labels) the share of each document's answered votes naming the label (1
    #: for every label named with one vote; None: not told)
    vote_share: sp.csr_matrix | None = None

    def majority(self) -> sp.csr_matrix:
        """``Y`` where more than half of the document's answered votes named the label
        (all of ``Y`` with one vote): the labels the votes agree on. A label one vote of
        3 named is in ``Y`` (a soft target of a third of its confidence) but no label
        the teacher gave: counted as given, the reliability of 3 votes on a human sample
        was that of their union, precision 0.52 where one vote's was 0.68. A tie is no
        agreement: with ``--votes 2`` "at least half" kept the label one vote of two
        named, and 2 votes naming the true label and one wrong one each looked worse
        (precision 0.33) than 1 vote (0.5).

        >>> votes = LLMLabels(sp.csr_matrix([[0.6, 0.3]]), np.array([True]),
        ...                   LabelingReport(n_docs=1, n_calls=3),
        ...                   vote_share=sp.csr_matrix([[2 / 3, 1 / 3]]))
        >>> votes.majority().toarray().round(2).tolist()
        [[0.6, 0.0]]
        >>> LLMLabels(sp.csr_matrix([[0.9, 0.45, 0.45]]), np.array([True]),
        ...           LabelingReport(n_docs=1, n_calls=2),
        ...           vote_share=sp.csr_matrix([[1.0, 0.5, 0.5]])).majority().toarray().tolist()
        [[0.9, 0.0, 0.0]]
        """
        if self.vote_share is None:
            return self.Y
        kept = sp.csr_matrix(self.Y.multiply(self.vote_share > MAJORITY_SHARE),
                             dtype=self.Y.dtype)
        kept.eliminate_zeros()
        return kept

    def __repr__(self) -> str:
        """One line at a prompt: the dataclass repr printed the answered flag of every
        document and the report's every unknown label.

        >>> LLMLabels(sp.csr_matrix(np.array([[0.9, 0.0], [0.0, 0.0], [0.5, 1.0]])),
        ...           np.array([True, False, True]), LabelingReport(n_docs=3, n_calls=3))
        LLMLabels(n_docs=3, n_labels=2, n_assignments=3, n_answered=2, n_calls=3)
        """
        return (f"LLMLabels(n_docs={self.Y.shape[0]}, n_labels={self.Y.shape[1]}, "
                f"n_assignments={self.Y.nnz}, "
                f"n_answered={int(np.count_nonzero(self.answered))}, "
                f"n_calls={self.report.n_calls})")


def offered_labels(n_docs: int, label_space: LabelSpace, shortlist: TopK | None,
                   options: LabelingOptions) -> list[np.ndarray]:
    """Label ids shown to the model for each document."""
    n_labels = len(label_space)
    active = np.flatnonzero(~label_space.deprecated_mask)
    if shortlist is None:
        if n_labels > options.full_list_up_to:
            raise InvalidParameterError(
                "shortlist", f"a TopK shortlist for a label space of {n_labels:,} "
                             f"label{plural_s(n_labels)} (more "
                f"than full_list_up_to={options.full_list_up_to}) from a trained model or "
                "zero-shot retrieval (CLI: --shortlist BUNDLE or --shortlist-zeroshot)", None)
        return [active] * n_docs
    if len(shortlist) != n_docs or shortlist.n_labels != n_labels:
        raise InvalidParameterError("shortlist", f"a TopK over {n_docs:,} doc{plural_s(n_docs)} x "
                                                 f"{n_labels:,} label{plural_s(n_labels)}",
                                    f"{len(shortlist):,} x {shortlist.n_labels:,}")
    deprecated = label_space.deprecated_mask
    out = []
    for ids, _ in shortlist.head(options.shortlist_k).rows():
        out.append(ids[~deprecated[ids]])
    return out


def _label_list(label_space: LabelSpace, ids: np.ndarray, options: LabelingOptions,
                names: dict[int, str], labels: LabelNames | None = None) -> list[dict]:
    """The offered labels as the prompt lists them, by the resolver's display names (so
    labels sharing a name are told apart, and the model's answer resolves). A broader
    label is left out where the label's name starts with its name and ' > ': a label
    named by its category path (Google's product taxonomy) holds its parent already, and
    listing it again near doubled the label list.

    ``labels``: the pass's :class:`~tagsmith.labeling.parsing.LabelNames` of
    ``label_space`` in ``options.lang``, looking each label up once for all its lists."""
    if labels is not None and not labels.serves(label_space, options.lang):
        labels = None
    name_of = (lambda i: label_space.name_of(i, options.lang)) if labels is None \
        else labels.name
    items = []
    for label_id in ids:
        name = names[int(label_id)]
        item: dict[str, object] = {"label": name}
        if options.with_descriptions:
            description = in_language(label_space[int(label_id)].description, options.lang) \
                if labels is None else labels.description(int(label_id))
            if description:
                item["description"] = description
        broader = label_space.broader_ids(int(label_id)) if options.with_broader else []
        shown = [parent for parent in map(name_of, broader)
                 if not name.startswith(parent + " > ")]
        if shown:
            item["broader"] = shown
        items.append(item)
    return items


def _say_prompt_size(requests: list[ChatRequest], client: LLMClient, desc: str,
                     checks: Sequence[Callable[[str], bool]] | None = None,
                     retry: Callable[[str], bool] | None = None, *,
                     kept: bool = False, votes: str = "") -> dict:
    """Log the calls to send and their prompts' size (and cost, where priced) before any
    is sent, those the response cache answers apart: the prompt grows with the labels
    offered (``--shortlist-k``), and a user saw the tokens only in the usage at the end.

    Counted as :class:`~tagsmith.labeling.cache.DropMalformed` will ask: a cached answer
    its check (``checks``, one a request) rejects is asked again, as is one ``retry``
    returns True for (a refusal in prose); a refusal the cache keeps is told again at no
    cost, unless ``retry`` is given (asked again); with ``kept`` (a budget run's
    teacher), a malformed answer kept apart (``kept_malformed``) is replayed at no cost.
    Returns the counts said:
    ``n_calls``, ``n_calls_cached``, ``n_calls_to_send``, ``prompt_tokens_to_send`` and,
    where priced, ``prompt_cost_to_send`` (None where ``--price-completion`` alone was
    given: the prompts' price is unknown). ``votes`` follows the count of calls (" (3
    votes a document, at temperature 0.7)")."""
    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import _wrapped_with

    found = _wrapped_with(client, "cache")
    cache = found.cache if found is not None and isinstance(found.cache, ResponseCache) \
        else None
    refusals = cache is not None and retry is None and bool(getattr(found, "keep_refusals",
                                                                     False))
    held = 0
    tokens = to_send = 0
    for i, request in enumerate(requests):
        size = _prompt_estimate(request)
        tokens += size
        # looked up first, as DropMalformed's keep replays it first: a refusal in prose
        # that a plain run's new answer left in responses was counted "to send" under
        # --retry-refused, where the kept answer is replayed and nothing is sent
        if kept and cache is not None and cache.get_kept(request) is not None:
            # replayed (DropMalformed's keep), or a good answer in responses won over it
            answered = True
        elif (hit := cache.get(request) if cache is not None else None) is not None:
            answered = (checks is None or checks[i](hit.text)) \
                and (retry is None or not retry(hit.text))
        else:
            answered = refusals and cache is not None and cache.get_refusal(request) \
                is not None
        if answered:
            held += 1
        else:
            to_send += size
    usage = getattr(client, "usage", None)
    priced = bool(getattr(usage, "priced", False))
    given = getattr(usage, "price_prompt", None) if priced else None
    price = None if given is None else float(given)
    # only --price-completion given: the prompts' price is unknown, not 0 (the line said
    # "prompt cost about 0.0000", as if the prompts were free)
    # the price not given is named as the caller gives it: the client's price_prompt to
    # a Python caller (a notebook was told of --price-prompt), label's option on the
    # command line, whose filter swaps in cli_message
    cost, cost_cli = (("", "") if not priced else
                      (", prompt cost unknown (no price_prompt given to the client)",
                       ", prompt cost unknown (no --price-prompt)") if price is None
                      else (f", prompt cost about {to_send * price / 1e6:.4f}",) * 2)
    head = (f"{desc}: {len(requests):,} call{plural_s(len(requests))}{votes}, prompts of "
            f"about "
            f"{round(tokens / len(requests)):,} tokens each (estimated at 4 characters a "
            f"token, and the chat template's 3 a message): {len(requests) - held:,} to send "
            f"({to_send:,} prompt tokens")
    tail = "" if cache is None else f", {held:,} answered by the response cache at no cost"
    logger.info("%(head)s%(cost)s)%(tail)s",
                {"head": head, "cost": cost, "cost_cli": cost_cli, "tail": tail},
                extra={"cli_message": "%(head)s%(cost_cli)s)%(tail)s"})
    counts: dict = {"n_calls": len(requests), "n_calls_cached": held,
                    "n_calls_to_send": len(requests) - held, "prompt_tokens_to_send": to_send}
    if priced:  # None: the prompt price is unknown (only --price-completion given)
        counts["prompt_cost_to_send"] = None if price is None \
            else round(to_send * price / 1e6, 6)
    return counts


@dataclass
class _Prepared:
    """The requests of :func:`label_documents`, built and counted before any is sent."""

    options: LabelingOptions
    texts: list[str]
    offered: list[np.ndarray]
    requests: list[ChatRequest]
    owners: list[int]
    resolvers: dict[int, LabelResolver]
    copies: dict[int, list[int]]
    blank: int
    cut: int
    asking: DropMalformed
    counts: dict
    #: cache key -> (the answer's text, its parse), from the answers' checks
    #: (:func:`_parses`): label_documents reads each answer parsed there
    parsed: dict[str, tuple[str, ParsedLabels]] = field(default_factory=dict)


def _check_shortlist(shortlist: object) -> None:
    """Refuse a ``shortlist`` that is neither a TopK nor None: it failed later with an
    AttributeError (:func:`offered_labels` reads its ``n_labels``)."""
    if shortlist is not None and not isinstance(shortlist, TopK):
        raise InvalidParameterError("shortlist", "a TopK (a model's or zero-shot's "
                                    "predict_topk) or None", type(shortlist).__name__)


def _checked_arguments(texts: Iterable[str], label_space: LabelSpace, client: LLMClient,
                       options: LabelingOptions | None, shortlist: TopK | None
                       ) -> tuple[LabelingOptions, LabelSpace, list[str], list[np.ndarray]]:
    """:func:`label_documents`' arguments checked (:func:`prompt_sizes` refuses what it
    refuses), and each document's offered labels: one check for both, where
    :func:`prompt_sizes` copied :func:`_prepare`'s lines."""
    options = check_options("options", options, LabelingOptions)
    options.validate()
    from tagsmith.features.tfidf import _as_list

    label_space = check_label_space("label_space", label_space)
    check_client("client", client)
    _check_shortlist(shortlist)
    texts = _as_list(texts)  # a DataFrame was labelled as the one document "text"
    return options, label_space, texts, offered_labels(len(texts), label_space, shortlist,
                                                       options)


def _document_prompts(texts: list[str], label_space: LabelSpace, options: LabelingOptions,
                      offered: list[np.ndarray], docs: Iterable[int], name_keys: LabelNames,
                      names_of: Callable[[np.ndarray], dict[int, str]]
                      ) -> Iterator[tuple[int, tuple[dict, ...] | None]]:
    """Each of ``docs`` (positions in ``texts``) with the messages of its prompt, as
    :func:`label_documents` sends it (the document cut to ``max_doc_chars``, its offered
    labels shown by the names ``names_of`` gives them); ``None`` for a blank document or
    one offered no label (never sent). The one prompt-building loop of :func:`_prepare`
    and :func:`prompt_sizes`: the estimate copied it once, and drifted. A LABELS section
    is rendered once for a run of documents offered one list (a full-list run offers
    every document the same array; a shortlist each document its own, whose sections
    kept for the whole pool held 100,000 of them for nothing)."""
    last: tuple[np.ndarray | None, str] = (None, "")
    for doc in docs:
        ids = offered[doc]
        if not texts[doc].strip() or not len(ids):
            yield doc, None
            continue
        if last[0] is not ids:
            last = (ids, prompts.label_section(
                _label_list(label_space, ids, options, names_of(ids), name_keys)))
        yield doc, prompts.label_prompt(texts[doc], last[1],
                                        max_labels=options.max_labels,
                                        use_case=options.use_case,
                                        max_chars=options.max_doc_chars)


def _prepare(texts: Iterable[str], label_space: LabelSpace, client: LLMClient,
             options: LabelingOptions | None, shortlist: TopK | None,
             desc: str, sending: bool = True) -> _Prepared:
    """Check the arguments of :func:`label_documents`, build its requests and say (log)
    what they will cost, those the response cache answers apart; nothing is sent.
    ``sending``: the calls follow (not :func:`count_calls`), so what they need is built
    before the line saying them, not in the silence after it."""
    options, label_space, texts, offered = _checked_arguments(texts, label_space, client,
                                                              options, shortlist)
    requests, owners = [], []
    # documents sharing one offered list share its resolver (its LABELS section is
    # rendered once by _document_prompts: a full-list run JSON-dumped the same labels
    # for every document)
    resolvers: dict[int, LabelResolver] = {}
    unoffered = blank = cut = 0
    # the resolvers' and the lists' names, looked up and keyed once for all of them
    name_keys = LabelNames(label_space, options.lang)

    def names_of(ids: np.ndarray) -> dict[int, str]:
        if id(ids) not in resolvers:
            resolvers[id(ids)] = LabelResolver(label_space, ids, options.lang,
                                               name_keys=name_keys)
        return resolvers[id(ids)].names

    first_asking: dict[str, int] = {}  # prompt (its cache key) -> the first document
    copies: dict[int, list[int]] = {}  # that document -> later ones with the same prompt
    for doc, messages in _document_prompts(texts, label_space, options, offered,
                                                range(len(texts)), name_keys, names_of):
        if messages is None:
            if not texts[doc].strip():  # no text: a paid answer (labels for nothing, or
                blank += 1  # none) trained the student on an empty document
            else:  # a shortlist of deprecated labels only: nothing to ask about (a paid
                unoffered += 1  # call answering 'no label' would train as negative)
            continue
        cut += len(texts[doc]) > options.max_doc_chars
        several = options.votes > 1
        asked = [ChatRequest(model=client.model, messages=messages, json_mode=True,
                             max_tokens=options.max_tokens,
                             temperature=options.vote_temperature if several
                             else options.temperature, seed=vote if several else None)
                 for vote in range(options.votes)]
        # an identical prompt was asked already: share its answers (and its votes)
        # instead of paying for them again
        first = first_asking.setdefault(asked[0].cache_key(), doc)
        if first != doc:
            copies.setdefault(first, []).append(doc)
            continue
        requests.extend(asked)
        owners.extend([doc] * len(asked))
    if copies:
        n_copies = sum(map(len, copies.values()))
        logger.info("%s document%s %s the prompt of an earlier one: asked once", f"{n_copies:,}",
                    plural_s(n_copies), plural(n_copies, "shares", "share"))
    if blank:
        logger.warning("%s blank document%s not sent (left unanswered)", f"{blank:,}",
                       plural_s(blank))
    if cut:  # a report of 40,000 words was labelled by its first page, and nothing said so
        # named by its pass: label --budget's rounds each said it of their batch, and
        # two rounds of equal counts word for word, which the CLI shows once
        logger.warning("%s: %s of %s document%s over %s characters, sent cut to %s first %s "
                       "(between words): labelled by %s beginning alone (" + MORE_TEXT + ")",
                       desc, f"{cut:,}", f"{len(texts):,}", plural_s(len(texts)),
                       f"{options.max_doc_chars:,}", plural(cut, "its", "their"),
                       f"{options.max_doc_chars:,}", plural(cut, "its", "their"),
                       extra={"parameters": ("max_doc_chars",)})
    if unoffered:
        logger.warning("%s document%s not sent: %s shortlist held only deprecated "
                       "labels (left unanswered)", f"{unoffered:,}", plural_s(unoffered),
                       plural(unoffered, "its", "their"))
    # each document's check, by its requests' cache keys: an answer is checked as it
    # arrives, so a malformed one leaves the cache at once, not after every call, and one
    # an older run left there is asked once more instead of replayed (DropMalformed)
    keys = [request.cache_key() for request in requests]  # hashed once, for both uses
    # each answer parsed once: a rerun parsed a cached answer three times (the count
    # before the calls, the check as the cache served it, the labeling), a first run
    # twice (its check, the labeling)
    parsed: dict[str, tuple[str, ParsedLabels]] = {}
    checked = {key: functools.partial(
                   _parses, resolver=resolvers[id(offered[doc])],
                   max_labels=options.max_labels, label_space=label_space,
                   lang=options.lang, memo=parsed, key=key)
               for doc, key in zip(owners, keys, strict=True)}
    # a refusal the cache keeps is told again unless the user asks anew (a prose one is
    # an answer the cache keeps: asked again then too)
    # and {"labels": [{"label": "none"}], "note": "I can't help"}, which the labeling
    # counts a refusal: --retry-refused never asked it again
    refuses = functools.partial(_is_refusal, label_space=label_space,
                                nobody=LabelResolver(label_space, (), options.lang))
    asking = DropMalformed(client, checked,
                           retry_refused=refuses if options.retry_refused else None,
                           keep=options.keep_malformed, is_refusal=refuses)
    if sending and shortlist is not None and requests:
        # the checks of answers naming labels off their shortlist look them up in the
        # whole vocabulary: built here, once, it was built on the first such answer by
        # each worker thread that had one (4 at once, 15 s over YSO's 27,754 labels
        # while the progress bar said "1/300 calls, about 1.3 h left"); before the line
        # saying the calls (built after it, YSO's 4 s went by with nothing said between
        # that line and the bar), and not for a dry run, which asks nothing
        _vocabulary_resolver(label_space, options.lang)
    counts: dict = {"n_calls": 0, "n_calls_cached": 0, "n_calls_to_send": 0,
                    "prompt_tokens_to_send": 0}
    if requests:  # what the calls will cost, said before they are paid for
        # a budget's teacher replays a malformed answer it keeps: none is to send (a
        # resumed run said "36 to send" of a round whose every answer was replayed)
        counts = _say_prompt_size(requests, client, desc, None if options.keep_malformed
                                  else [checked[key] for key in keys],
                                  refuses if options.retry_refused else None,
                                  kept=options.keep_malformed,
                                  # the temperature of the votes was said nowhere: a user
                                  # could not tell that they are sampled answers
                                  votes=f" ({options.votes} votes a document, at temperature "
                                  f"{options.vote_temperature})" if options.votes > 1 else "")
    return _Prepared(options, texts, offered, requests, owners, resolvers, copies, blank,
                     cut, asking, {"n_docs": len(texts), "n_blank_docs": blank,
                                   "n_duplicate_docs": sum(map(len, copies.values())),
                                   "n_cut_docs": cut, **counts}, parsed)


def label_documents(texts: Iterable[str], label_space: LabelSpace, client: LLMClient,
                    options: LabelingOptions | None = None, *,
                    shortlist: TopK | None = None, desc: str = "LLM labeling") -> LLMLabels:
    """Ask the LLM for every applicable label of each text (see the module doc).

    ``desc`` names the pass in the progress bar and the closing warning (a human
    sample's pass and the corpus's were both "LLM labeling", told apart by nothing).

    >>> from tagsmith.labeling.client import ScriptedLLM
    >>> space = LabelSpace.from_uris(["u:a", "u:b"], names={"u:a": "sports", "u:b": "music"})
    >>> llm = ScriptedLLM(lambda r: '{"labels": [{"label": "Music", "confidence": 0.9}]}')
    >>> result = label_documents(["a concert"], space, llm)
    >>> result.Y.toarray().astype(float).round(2).tolist(), result.report.n_unknown_labels
    ([[0.0, 0.9]], 0)
    """
    prepared = _prepare(texts, label_space, client, options, shortlist, desc)
    options, texts, offered = prepared.options, prepared.texts, prepared.offered
    requests, owners, resolvers = prepared.requests, prepared.owners, prepared.resolvers
    copies, blank, cut, asking = (prepared.copies, prepared.blank, prepared.cut,
                                  prepared.asking)
    answers = complete_all(asking, requests,
                           n_workers=options.n_workers,
                           show_progress=options.show_progress, desc=desc,
                           refused=is_prose_refusal)
    report = LabelingReport(n_docs=len(texts), n_calls=len(requests),
                            n_duplicate_docs=sum(map(len, copies.values())),
                            n_blank_docs=blank, n_cut_docs=cut)
    sums: dict[tuple[int, int], float] = {}
    # votes naming each (document, label); with one vote a document, every label named
    # is named by all its votes: the share is read off Y (counting doubled the dict work)
    named_by: dict[tuple[int, int], int] | None = {} if options.votes > 1 else None
    good_votes = np.zeros(len(texts), np.int32)
    off_votes = np.zeros(len(texts), np.int32)  # answers naming only labels off the list
    off_answered: list[int] = []  # the document of each such answer

    def off_shortlist(exc: LLMOutputError) -> bool:
        """Whether ``exc`` rejected an answer naming a vocabulary label off the
        shortlist (the model answered: the shortlist missed), the answer the response
        cache keeps (:func:`_parses`). An answer naming only deprecated labels stays
        malformed, with a shortlist or without: no wider shortlist offers them."""
        return (shortlist is not None and isinstance(exc, RejectedItemsError)
                and _names_only_unoffered(exc, label_space, options.lang)
                and _names_a_live_label(exc, label_space, options.lang))

    refused_votes = np.zeros(len(texts), np.int32)
    unknown_only_votes = np.zeros(len(texts), np.int32)
    unknown_named: list[list[str]] = [[] for _ in texts]

    def count_refusal(doc: int, again: int, message: str) -> None:
        # a refused call (asked again or not), its error, and its document's vote to
        # go to a person: one count wherever the refusal was found
        report.n_refused_calls += 1
        report.n_refused_again += again
        report.error(message, "refused")
        refused_votes[doc] += 1

    for doc, request, answer in zip(owners, requests, answers, strict=True):
        # asked again with retry_refused: its refusal is said to be so
        again = int(request.cache_key() in asking.retried_keys)
        if isinstance(answer, LLMRefusalError):
            # declined, not failed: no retry nor working endpoint answers it, and its
            # document goes to a person (it was one more "failed call")
            count_refusal(doc, again, str(answer))
            continue
        if isinstance(answer, LLMError):
            report.n_failed_calls += 1  # counted once, as the call was made once
            report.error(str(answer))
            continue
        resolver = resolvers[id(offered[doc])]
        parsed: ParsedLabels | None
        rejected: RejectedItemsError | None = None  # the answer, every item rejected
        first_off = False  # every item rejected, naming labels off the shortlist
        no_label_said = False  # "none" as its only label: the empty list, in words
        try:
            # its check parsed it already (the same text, resolver and limit)
            kept = prepared.parsed.pop(request.cache_key(), None)
            parsed = kept[1] if kept is not None and kept[0] == answer.text else None
            if parsed is None:
                parsed = parse_label_answer(answer.text, resolver,
                                            max_labels=options.max_labels)
        except LLMOutputError as exc:
            first_off = off_shortlist(exc)
            if first_off:
                # not malformed (kept in the cache): counted apart, and no error, the
                # warning saying the shortlist is too narrow
                report.n_off_shortlist_answers += 1
                off_answered.append(doc)
                named = exc.unknown if isinstance(exc, RejectedItemsError) else []
                report.first_of_kind.setdefault("off_shortlist", "naming " + ", ".join(
                    repr(name[:MAX_NAME_SHOWN]) for name in named[:3])
                    + (", ..." if len(named) > 3 else ""))
            elif (said := answer_refusal(answer.text, exc)) is not None:
                # "I can't help with that": the model declined, no format problem (it
                # was a malformed answer, its text, which may quote the document, shown)
                count_refusal(doc, again, f'the model refused in prose, with no JSON object '
                                          f'(it said "{said}")')
                continue
            elif says_no_label(exc, label_space):
                said = json_refusal(answer.text, labels_said_none=True)
                if said is not None:
                    # {"labels": [{"label": "none"}], "note": "I can't help"}: a refusal,
                    # as the empty list beside such words is
                    count_refusal(doc, again,
                                  f'the model refused, listing no label (it said "{said}")')
                    continue
                # {"labels": [{"label": "none", ...}]}: that none applies, said in a
                # name (a malformed answer, its document left unanswered and the call
                # asked again on every rerun): the empty list the prompt asks for
                report.n_no_label_named_answers += 1
                no_label_said = True
            else:
                report.n_malformed_answers += 1
                if isinstance(exc, RejectedItemsError) and exc.unknown \
                        and not exc.n_invalid_items and not exc.ambiguous \
                        and not _count_unoffered(Counter(exc.unknown), label_space,
                                                 options.lang):
                    # none fits, in its own words: a deprecated or unoffered label the
                    # vocabulary has is no call for a catch-all label
                    report.n_unknown_only_answers += 1
                    unknown_only_votes[doc] += 1
                    # once a name alike: "Other" and "other" in one answer were two
                    from tagsmith.labeling.taxonomy import duplicate_key
                    report.unknown_only_labels.update(
                        {duplicate_key(name[:MAX_NAME_SHOWN]): name
                         for name in reversed(exc.unknown)}.values())
                # dropped from the cache already
                report.error(f"malformed answer: {exc}{answer.cut_note()}", "malformed")
            if no_label_said:
                parsed = ParsedLabels()  # an answer of no label, as {"labels": []}
            elif not isinstance(exc, RejectedItemsError):
                continue  # no answer of labels at all, whatever labels a copy offers
            else:
                report.count_rejected(exc)  # malformed, but what it named counts
                parsed = None  # every item rejected among the first document's labels
                rejected = exc
        else:
            if not parsed.label_ids and not parsed.unknown and not parsed.ambiguous \
                    and not parsed.n_invalid_items \
                    and (said := json_refusal(answer.text)) is not None:
                # {"labels": [], "note": "I can't help with this"}: JSON mode's refusal,
                # no answer that no label applies (the report was trained as a
                # negative of every label, self-harm included)
                count_refusal(doc, again,
                              f'the model refused, listing no label (it said "{said}")')
                continue
            report.count_rejected(parsed)
        for reader in (doc, *copies.get(doc, ())):
            own = resolvers[id(offered[reader])]
            if own is not resolver and own.offered != resolver.offered:
                # the same prompt can offer other labels (ones no name, description
                # or broader label shown tells apart): names resolve among the reader's,
                # whether or not they did among the first document's. They may resolve
                # to none of the reader's labels: no vote of the reader's, not a
                # 'no label' one
                try:
                    own_parsed = ParsedLabels() if no_label_said else parse_label_answer(
                        answer.text, own, max_labels=options.max_labels)
                except RejectedItemsError as own_exc:
                    off_votes[reader] += off_shortlist(own_exc)
                    # another vote may answer it: its line still says what this named
                    unknown_named[reader].extend(_unresolved(own_exc))
                    continue
            elif parsed is None:
                off_votes[reader] += first_off
                # every item rejected: with another vote answering, the line was
                # written without these names, and its rows decided from the others
                if rejected is not None:
                    unknown_named[reader].extend(_unresolved(rejected))
                continue
            else:
                own_parsed = parsed
            good_votes[reader] += 1
            # a name two labels share resolves to neither: read as absent, as a
            # misspelt one is, the label it meant may be either; so does one given with
            # an invalid confidence ("high")
            unknown_named[reader].extend(_unresolved(own_parsed))
            _add_vote(sums, reader, own_parsed, label_space, options, named_by)
    # a vote off the shortlist answered, choosing none of the labels offered: a vote
    # against each of them, as an empty one is (it was left out of the mean, so music
    # off the shortlist and sport 0.6 gave sport 0.6, where [] and sport 0.6 gave 0.3)
    Y = _soft_matrix(sums, good_votes + off_votes, len(texts), len(label_space))
    # the share of a document's votes naming each label, for the majority's labels
    if named_by is None:
        share = Y.copy()
        share.data[:] = 1
    else:
        share = _soft_matrix(named_by, good_votes + off_votes, len(texts), len(label_space))
    answered = good_votes > 0
    off = ~answered & (off_votes > 0)
    # a document no vote answered and some vote was refused, with the copies sharing
    # its prompt: for a person to take (none was listed anywhere)
    for doc in np.flatnonzero(~answered & (refused_votes > 0)).tolist():
        report.refused_docs.extend([doc, *copies.get(doc, ())])
    report.refused_docs.sort()
    # and those no vote answered but in names the vocabulary lacks (none refused): in
    # no output, where a refused one was listed for a person
    for doc in np.flatnonzero(~answered & (unknown_only_votes > 0)
                              & (refused_votes == 0)).tolist():
        report.unknown_only_docs.extend([doc, *copies.get(doc, ())])
    report.unknown_only_docs.sort()
    # the warning said each such answer left its document unanswered, where another
    # vote answered it (the answer a vote for none of the labels offered)
    report.n_off_shortlist_votes = sum(bool(answered[doc]) for doc in off_answered)
    report.n_docs_without_labels = int(np.count_nonzero(answered & (np.diff(Y.indptr) == 0)))
    if options.votes > 1:
        # a document 1 of whose 3 votes answered was labelled from that vote alone, said
        # nowhere: the warning counted the malformed answers (calls), not the documents
        # resting on fewer votes than asked. The copies sharing a prompt counted too, as
        # the documents of the output they are
        report.n_docs_short_of_votes = int(np.count_nonzero(
            answered & (good_votes + off_votes < options.votes)))
    report.n_unoffered_labels = _count_unoffered(report.unknown_labels, label_space,
                                                 options.lang)
    warn_rejections(report, desc)
    return LLMLabels(Y, answered, report, off, unknown_named,
                     None if shortlist is None else offered, share)


def _unresolved(parsed: ParsedLabels | RejectedItemsError) -> list[str]:
    """The names an answer gave that resolve to no one offered label: unknown (a
    misspelt one), shared by several, or given with an invalid confidence."""
    return [*parsed.unknown, *parsed.ambiguous, *parsed.invalid_names]


def prose_refusal(text: str, exc: LLMOutputError | None = None) -> str | None:
    """The words of ``text``, an answer that ``exc`` rejected, declining the task in
    prose ("I'm sorry, but I can't help with that"); None where it holds a JSON
    object or a brace at all (a broken answer, malformed), lists items, or says no
    such words. Only the words matched are quoted: the rest of a refusal may quote the
    document.

    >>> from tagsmith.exceptions import LLMOutputError
    >>> print(prose_refusal("I'm sorry, but I can't help with that.", LLMOutputError("x")))
    I can't help
    >>> prose_refusal('{"labels": [{"label": "x"', LLMOutputError("broken"))
    """
    if isinstance(exc, RejectedItemsError) or "{" in text:
        return None
    return refusal_words(text)


def json_refusal(text: str, *, labels_said_none: bool = False) -> str | None:
    """The words declining the task in the JSON object the answer ``text`` holds, as a
    model in JSON mode refuses: a string beside an empty or missing ``labels`` list
    (``{"labels": [], "note": "I can't help with this"}``, ``{"error": "I cannot
    assist with that"}``); None where the object lists labels, or says no such words.
    ``labels_said_none``: its labels are words for the empty list (:func:`says_no_label`),
    read as that list, and such words written inside a label item (beside its "none")
    are a refusal too.

    >>> print(json_refusal('{"labels": [], "reason": "Sorry, I cannot assist with that."}'))
    I cannot assist
    >>> json_refusal('{"labels": [{"label": "x"}], "note": "I cannot help more"}')
    >>> print(json_refusal('{"labels": [{"label": "none", "reason": "I cannot help."}]}',
    ...                    labels_said_none=True))
    I cannot help
    """
    from tagsmith.labeling.parsing import extract_json_object

    try:
        found = extract_json_object(text)
    except LLMOutputError:
        return None
    if found.get("labels") not in (None, []) and not labels_said_none:
        return None
    strings = [value for key, value in found.items() if key != "labels"]
    if labels_said_none and isinstance(found.get("labels"), list):
        # {"labels": [{"label": "none", "reason": "I can't help"}]}: the item carries the
        # words the empty list cannot (its "label" is the "none" itself)
        strings += [value for item in found["labels"] if isinstance(item, dict)
                    for key, value in item.items() if key != "label"]
    for value in strings:
        if isinstance(value, str):
            words = refusal_words(value)
            if words is not None:
                return words
    return None


def answer_refusal(text: str, exc: LLMOutputError | None = None) -> str | None:
    """The words of the answer ``text`` declining the task, in prose with no JSON
    object (:func:`prose_refusal`; none where ``exc`` rejected its items) or in a JSON
    object listing no label (:func:`json_refusal`); None where it says none."""
    return prose_refusal(text, exc) or json_refusal(text)


def is_prose_refusal(text: str) -> bool:
    """Whether the answer ``text`` declines the task (:func:`answer_refusal`): a
    refusal, which the response cache keeps as an answer."""
    return answer_refusal(text) is not None


#: :func:`warn_rejections` suggests a catch-all label where more than this share of the
#: calls were answered with only labels the vocabulary lacks
UNKNOWN_ONLY_SHARE = 0.1


def warn_rejections(report: LabelingReport, desc: str) -> None:
    """Warn of what ``report`` counts as rejected, malformed or failed (nothing when it
    counts none): '<desc>: 5 unknown labels rejected, 0 malformed answers, 0 failed
    calls'."""
    # invalid items and ambiguous names were dropped without a word outside the JSON
    # summary: a model giving some confidences as percentages lost those labels unseen
    others = [f"{count:,} {what}" for count, what in (
        (report.n_invalid_items, f"invalid item{plural_s(report.n_invalid_items)} (no "
                                 "string label, or a confidence missing or outside [0, 1])"),
        (report.n_ambiguous_labels, f"ambiguous name{plural_s(report.n_ambiguous_labels)}"))
        if count]
    # an answer naming only labels off its shortlist was "a malformed answer": the
    # shortlist missed, which no retry and no other model changes
    off = report.n_off_shortlist_answers
    # with --votes, one whose document another vote answered counts as a vote for none
    # of the labels offered: "(left unanswered)" said of it was wrong
    voted = min(report.n_off_shortlist_votes, off)
    fate = ("left unanswered" if not voted else
            f"counted as {plural(voted, 'a vote', 'votes')} for none of the labels offered: "
            f"another vote answered {plural(voted, 'its document', 'their documents')}"
            if voted == off else
            f"{off - voted:,} left unanswered, {voted:,} counted as "
            f"{plural(voted, 'a vote', 'votes')} for none of the labels offered")
    refused = report.n_refused_calls
    n_left = len(report.refused_docs)
    # --retry-refused asked the cache's refusals again: "not retried" said of them too
    again = min(report.n_refused_again, refused)

    def told(narrow_hint: str, retry: str, listed: str, extend: str) -> str:
        """The warning, advising ``narrow_hint`` of a shortlist too narrow, naming the
        option ``retry`` that asked refusals again, ``listed``, which lists the
        documents refusals left unanswered, and ``extend``, which adds labels to a
        vocabulary."""
        narrow = (f"; {off:,} {plural(off, 'answer', 'answers')} named only labels off "
                  f"{plural(off, 'its', 'their')} document's shortlist ({fate}): the "
                  f"shortlist is too narrow ({narrow_hint})" if off else "")
        retried = ("not retried" if not again else
                   f"asked again with {retry}, refused again" if again == refused else
                   f"{again:,} of them asked again with {retry}, refused again, the "
                   f"rest not retried")
        declined = (f"; {refused:,} {plural(refused, 'call', 'calls')} refused by the model "
                    f"or a content filter ({retried}; " + (
                        f"{n_left:,} {plural(n_left, 'document', 'documents')} left "
                        f"unanswered, for a person: {listed} lists them)"
                        if n_left else "another vote answered each document)")
                    if refused else "")
        unoffered = report.n_unoffered_labels
        return (f"{desc}: {report.n_unknown_labels:,} unknown "
                f"label{plural_s(report.n_unknown_labels)} rejected"
                + (f" ({unoffered:,} of them in the vocabulary but not offered: off the "
                   "shortlist, or deprecated)" if unoffered else "")
                + f", {report.n_malformed_answers:,} malformed "
                f"answer{plural_s(report.n_malformed_answers)}, "
                f"{report.n_failed_calls:,} failed call{plural_s(report.n_failed_calls)}"
                + declined + (f"; also rejected: {' and '.join(others)}" if others else "")
                + narrow + short + catch_all(extend))

    # with votes: how many documents the failed and malformed calls left labelled from
    # fewer votes than asked, apart from those no vote answered
    n_short = report.n_docs_short_of_votes
    short = (f"; {n_short:,} {plural(n_short, 'document', 'documents')} labelled from fewer "
             f"votes than asked (the mean of those that answered: the others failed, were "
             f"malformed or refused)" if n_short else "")

    # answers naming only labels the vocabulary lacks ("Something else entirely"), each
    # a malformed answer and a call spent: a taxonomy with no catch-all label left the
    # LLM no way to say none fits, and the warning counted them without saying so
    # (and then named neither the names it gave, nor that an empty list, which the
    # prompt asks for, is the answer of no label, nor how to add the labels they call for)
    made_up = report.n_unknown_only_answers

    def catch_all(extend: str) -> str:
        if made_up <= UNKNOWN_ONLY_SHARE * report.n_calls:
            return ""
        top, n_names = _most_named_alike(report.unknown_only_labels, 5)
        names = ", ".join(f"{name!r} ({count:,})" for name, count in top) \
            + (f" and {n_names - len(top):,} more" if n_names > len(top) else "")
        return (f"; {made_up:,} of the {report.n_calls:,} calls' answers named only labels "
                f"the vocabulary lacks (counted as malformed, their documents left "
                f"unanswered: the answer that no label applies is an empty list, as the "
                f"prompt says): {names}; labels for what they name can be added to the "
                f'vocabulary ({extend}), or a catch-all label ("Other")')

    if report.n_unknown_labels or report.n_malformed_answers or report.n_failed_calls \
            or others or off or refused:
        # LabelingOptions' names to a Python caller, label's options on the command line,
        # whose filter swaps in cli_message (it told a notebook "--retry-refused" and
        # "--shortlist-k"); the text is an argument, the user's desc being no template
        logger.warning("%(python)s", {"python": told(NARROW_SHORTLIST_PY, "retry_refused",
                                                     "the report's refused_docs",
                                                     "run_taxonomy(..., extend=label_space)"),
                                      "cli": told(NARROW_SHORTLIST, "--retry-refused",
                                                  "the JSON summary's refused_docs",
                                                  "tagsmith taxonomy CORPUS --extend VOCAB")},
                       extra={"cli_message": "%(cli)s"})
    said = report.n_no_label_named_answers
    if said:
        # read as the empty list, said: they were malformed answers, their documents
        # left unanswered and asked again on every rerun
        logger.warning("%s: %s %s named only \"none\", \"N/A\" or the like as %s labels "
                       "(no label of the vocabulary is so named): read as the answer that "
                       "none of the labels applies, the empty list the prompt asks for",
                       desc, f"{said:,}", plural(said, "answer", "answers"),
                       plural(said, "its", "their"))


def _names_only_unoffered(exc: RejectedItemsError, label_space: LabelSpace,
                          lang: str) -> bool:
    """Whether every item of the rejected answer ``exc`` names a label of the whole
    vocabulary that was not offered (off the shortlist, or deprecated): the model answered
    the question outside the labels shown. One made-up name among them (the ``HACKED`` of
    an injected document) or an invalid or ambiguous item makes the answer malformed, asked
    again and not kept: it was counted off the shortlist and kept in the cache."""
    return (bool(exc.unknown) and not exc.n_invalid_items and not exc.ambiguous
            and _count_unoffered(Counter(exc.unknown), label_space, lang)
            == len(exc.unknown))


def _names_a_live_label(exc: RejectedItemsError, label_space: LabelSpace,
                        lang: str) -> bool:
    """Whether some item of the rejected answer ``exc`` names a label of the vocabulary
    that is not deprecated (or a name several labels share): one a shortlist could have
    offered. An answer naming deprecated labels alone was counted off the shortlist, its
    warning saying to raise --shortlist-k, which never offers them. Each named label's
    own flag is read: the whole vocabulary's ``deprecated_mask``, built anew for each
    such answer, took 18 s over 1,000 answers with YSO's 27,754 labels."""
    everything = _vocabulary_resolver(label_space, lang)
    for name in exc.unknown:
        label_id = everything.resolve(name)
        if label_id is None or not label_space[label_id].deprecated:
            return True
    return False


def _count_unoffered(unknown: Counter[str], label_space: LabelSpace, lang: str) -> int:
    """How many of the ``unknown`` names (with their counts) name a label of the whole
    vocabulary (by name, alternative label or URI, as the offered ones are matched): a
    shortlist miss, where the rest are names the model made up."""
    if not unknown:
        return 0
    everything = _vocabulary_resolver(label_space, lang)
    return sum(count for name, count in unknown.items()
               if everything.resolve(name) is not None or everything.is_ambiguous(name))


#: the last whole-vocabulary resolver built: (its label space, weakly; its language; it)
_whole_vocabulary: tuple[weakref.ref[LabelSpace], str, LabelResolver] | None = None


def _vocabulary_resolver(label_space: LabelSpace, lang: str) -> LabelResolver:
    """A resolver over every label of ``label_space``, built once for a label space and
    language and reused by each later labeling pass over them (the human sample's, the
    corpus's, each round of a budget's): it was built per pass, ~1.5 s a time over the
    27,754 labels of YSO. The label space is held weakly: the resolver goes with it."""
    global _whole_vocabulary
    cached = _whole_vocabulary
    if cached is not None and cached[0]() is label_space and cached[1] == lang:
        return cached[2]
    resolver = LabelResolver(label_space, None, lang)
    _whole_vocabulary = (weakref.ref(label_space), lang, resolver)
    return resolver


def _parses(text: str, resolver: LabelResolver, max_labels: int,
            label_space: LabelSpace | None = None, lang: str = "en",
            memo: dict[str, tuple[str, ParsedLabels]] | None = None,
            key: str = "") -> bool:
    """Whether ``text`` is an answer to keep in the response cache: a labels answer
    among ``resolver``'s labels (not malformed: the check the labeler makes of the
    answer), or one whose every item was rejected, each naming a label of
    ``label_space`` that was not offered (off the shortlist, or deprecated). The model
    answered the question, outside the labels shown: the document stays unanswered,
    but asking the same prompt again gets the same answer, paid for on every rerun
    (only a wider shortlist, another prompt, can change it). A refusal in prose is kept
    too (:func:`is_prose_refusal`; ``retry_refused`` asks it again).

    ``memo`` (with the request's cache ``key``) keeps the parse of a text that passes,
    for the labeling to read, and tells a text checked before as it was: each answer
    is parsed once (the parse depends on the text, ``resolver`` and ``max_labels``
    alone, which one key's check always has the same of)."""
    if memo is not None:
        seen = memo.get(key)
        if seen is not None and seen[0] == text:
            return True
    try:
        parsed = parse_label_answer(text, resolver, max_labels=max_labels)
    except RejectedItemsError as exc:
        # and one naming only "none" or "N/A": the answer that no label applies
        return label_space is not None and (_names_only_unoffered(exc, label_space, lang)
                                            or says_no_label(exc, label_space))
    except LLMOutputError:
        # a refusal in prose: asked again, the same prompt gets the same (each time paid
        # for, and one more flag on the account at a hosted provider)
        return is_prose_refusal(text)
    if memo is not None:
        memo[key] = (text, parsed)
    return True


def _is_refusal(text: str, label_space: LabelSpace, nobody: LabelResolver) -> bool:
    """Whether the answer ``text`` declines the task as the labeling reads it: a refusal
    (:func:`is_prose_refusal`), or words declining it beside labels that are only words
    for the empty list (:func:`says_no_label`: ``{"labels": [{"label": "none", ...}],
    "note": "I can't help"}``). ``nobody`` resolves no label, so every name is rejected.
    """
    if prose_refusal(text) is not None:
        return True
    # this search finds every word json_refusal(text) does, and those in items: an
    # answer saying none (most) has its JSON read once, not twice (is_prose_refusal's
    # read, then this one), and this runs on every answer the cache serves
    if json_refusal(text, labels_said_none=True) is None:
        return False  # no such words: most answers, not parsed again
    if json_refusal(text) is not None:
        return True  # beside an empty or missing labels list
    try:
        parse_label_answer(text, nobody)
    except RejectedItemsError as exc:
        return says_no_label(exc, label_space)
    except LLMOutputError:
        return False
    return False


def _add_vote(sums: dict[tuple[int, int], float], doc: int, parsed: ParsedLabels,
              label_space: LabelSpace, options: LabelingOptions,
              counts: dict[tuple[int, int], int] | None = None) -> None:
    """Add one vote's labels of ``doc`` to the confidence ``sums`` (and, where given, one
    to the ``counts`` of votes naming each)."""
    named = {label_id: confidence for label_id, confidence
             in zip(parsed.label_ids, parsed.confidences, strict=True) if confidence > 0}
    if options.add_ancestors and label_space.has_hierarchy:
        named = _with_ancestors(named, label_space)  # per vote: each vote is a path
    for label_id, confidence in named.items():
        sums[(doc, label_id)] = sums.get((doc, label_id), 0.0) + confidence
        if counts is not None:
            counts[(doc, label_id)] = counts.get((doc, label_id), 0) + 1


def _with_ancestors(vote: dict[int, float], label_space: LabelSpace) -> dict[int, float]:
    """One vote's labels, each chosen label's ancestors with at least its confidence.

    Applied per vote, before the votes are averaged: a vote that names a label names
    its ancestors too, so an ancestor's soft target is its mean over the votes of the
    best confidence each gave it (directly or through a descendant)."""
    out = dict(vote)
    for label_id, value in vote.items():
        seen: set[int] = set()
        stack = label_space.broader_ids(label_id)
        while stack:
            parent = stack.pop()
            if parent in seen:
                continue
            seen.add(parent)
            out[parent] = max(out.get(parent, 0.0), value)
            stack.extend(label_space.broader_ids(parent))
    return out


def _soft_matrix(sums: Mapping[tuple[int, int], float], good_votes: np.ndarray, n_docs: int,
                 n_labels: int) -> sp.csr_matrix:
    if not sums:
        return sp.csr_matrix((n_docs, n_labels), dtype=np.float32)
    keys = np.array(list(sums.keys()), dtype=np.int64)
    values = np.fromiter(sums.values(), dtype=np.float64, count=len(sums))
    values /= np.maximum(good_votes[keys[:, 0]], 1)
    Y = sp.csr_matrix((np.clip(values, 0.0, 1.0).astype(np.float32), (keys[:, 0], keys[:, 1])),
                      shape=(n_docs, n_labels))
    Y.sort_indices()
    return Y


def count_calls(texts: Iterable[str], label_space: LabelSpace, client: LLMClient,
                options: LabelingOptions | None = None, *,
                shortlist: TopK | None = None, desc: str = "LLM labeling") -> dict:
    """What :func:`label_documents` with these arguments would send, said (logged) as it
    says it before its first call, and returned; nothing is sent (a dry run). The
    counts: ``n_docs``, ``n_blank_docs``, ``n_duplicate_docs`` (asked once, with an
    earlier document sharing its prompt), ``n_cut_docs``, ``n_calls``,
    ``n_calls_cached`` (answered by the client's response cache at no cost, as the run
    would use it), ``n_calls_to_send``, ``prompt_tokens_to_send`` (estimated at 4
    characters a token) and, where the client's usage is priced,
    ``prompt_cost_to_send`` (None where only its completion price is given: the
    prompts' price is unknown, not 0).

    >>> from tagsmith.labeling.client import ScriptedLLM
    >>> space = LabelSpace.from_uris(["u:a", "u:b"], names={"u:a": "sports", "u:b": "music"})
    >>> llm = ScriptedLLM(lambda r: '{"labels": []}')
    >>> counts = count_calls(["a match", "a match", " "], space, llm)
    >>> counts["n_calls_to_send"], counts["n_duplicate_docs"], llm.usage.n_requests
    (1, 1, 0)
    """
    return _prepare(texts, label_space, client, options, shortlist, desc,
                    sending=False).counts


def prompt_sizes(texts: Iterable[str], label_space: LabelSpace, client: LLMClient,
                 options: LabelingOptions | None = None, *, shortlist: TopK | None = None,
                 docs: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """The estimated prompt tokens of one call for each of ``docs`` (positions in
    ``texts``; all of them where ``None``), as :func:`label_documents` would build its
    prompt (the document cut to ``max_doc_chars``, its offered labels) and
    :func:`count_calls` counts it (4 characters a token, and the chat template's 3 a
    message); 0 for a blank document or one offered no label (never sent). Nothing is
    sent or logged: ``label --dry-run --budget``, whose documents are chosen as the
    answers come, estimates its calls from their mean.

    >>> from tagsmith.labeling.client import ScriptedLLM
    >>> space = LabelSpace.from_uris(["u:a", "u:b"], names={"u:a": "sports", "u:b": "music"})
    >>> llm = ScriptedLLM(lambda r: '{"labels": []}')
    >>> sizes = prompt_sizes(["a match", "a much longer text " * 20, " "], space, llm)
    >>> bool(sizes[1] > sizes[0] > 0), int(sizes[2])
    (True, 0)
    """
    options, label_space, texts, offered = _checked_arguments(texts, label_space, client,
                                                              options, shortlist)
    positions = np.arange(len(texts)) if docs is None else np.asarray(docs, np.int64)
    if positions.ndim != 1 or (len(positions) and not 0 <= positions.min() <= positions.max()
                               < len(texts)):  # -1 was the last text's size, silently
        raise InvalidParameterError("docs", f"positions in [0, {len(texts):,}) or None",
                                    np.asarray(docs).tolist()[:5])
    name_keys = LabelNames(label_space, options.lang)  # as _prepare looks names up
    sizes = np.zeros(len(positions), np.int64)
    # the resolver's display names (display_names) without the resolver: building its
    # name indexes, which no answer uses here, was 85% of a shortlisted pool's estimate
    # (5,000 shortlists of 30: 13 s)
    for i, (_, messages) in enumerate(_document_prompts(
            texts, label_space, options, offered, positions.tolist(), name_keys,
            lambda ids: display_names(label_space, ids, options.lang, labels=name_keys))):
        if messages is not None:
            sizes[i] = _prompt_estimate(ChatRequest(model=client.model, messages=messages,
                                                    json_mode=True,
                                                    max_tokens=options.max_tokens))
    return sizes
