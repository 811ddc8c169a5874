"""The words with which a model declines a task ("I'm sorry, but I can't help with
that"), shared by the client (OpenAI's ``message.refusal``) and the labeler (a refusal
in prose, or in a JSON object listing no label). Only those words are ever quoted: the
rest of a refusal may echo the document (a phone number from a user's report). Kept
free of other imports, so either module can use it without a cycle."""

from __future__ import annotations

import re

#: what an answer declining the task says (hosted and local models alike: "I'm sorry,
#: but I can't help with that", "I cannot assist with this request", "I'm not able to
#: help with that"); not "I cannot classify it as any of them", which explains an
#: answer that none applies, nor "I cannot help but note none applies" nor "I can't
#: support any of these labels" (support only of a request, a task, content, or "this"
#: / "that" ending the sentence): in ``{"labels": [], "note": ...}`` these made an
#: honest "none applies" a refusal; nor the same idiom with a gerund, "I can't help
#: noticing it is about billing" (a refusal only of the task's own verbs: "I can't help
#: labelling this")
_HELP = (r"(?:help|assist)\b(?!\s+but\b)(?!\s+(?!(?:label+ing|classifying|categori[sz]ing"
         r"|tagging|processing|analy[sz]ing)\b)[a-z]+ing\b)")
_SUPPORT = (r"support\s+(?:(?:this|that|such|your|these|those)\s+(?:kinds?\s+of\s+)?"
            r"(?:requests?|tasks?|content|material)\b|(?:this|that)\s*(?:[.!;]|$)"
            r"|(?:requests?|content)\b)")
#: the task declined in the words hosted models also use ("I cannot fulfill this
#: request", "I can't provide that.", "I cannot complete this task"), each left an
#: unanswered document counted a malformed answer: not "I can't provide a label",
#: which explains that none applies
_DECLINED = (r"|fulfill?\s+(?:this|that|your)\s+request|complete\s+(?:this|that)\s+"
             r"(?:task|request)|provide\s+(?:assistance|help)\b"
             r"|provide\s+(?:this|that)\s*(?:[.!;]|$)")
REFUSAL = re.compile(
    r"\b(?:I\s*(?:can\s*not|can['\u2019]?t|cannot|won['\u2019]?t(?:\s+be\s+able\s+to)?"
    r"|will\s+not|(?:am|['\u2019]m)\s+(?:not\s+able|unable|not\s+going)\s+to)\s+(?:"
    + _HELP + r"|comply|engage|do\s+that|process\s+(?:this|that)|continue|" + _SUPPORT
    + _DECLINED + r")"
    r"|I\s+(?:must|have\s+to)\s+(?:decline|refuse)|unable\s+to\s+(?:" + _HELP
    + r"|comply))", re.IGNORECASE)

#: how much of a text is searched for them (a refusal says so at its start)
SEARCHED = 2000

#: a quotation: in double quotes (straight, curly, low-9 as German opens them, guillemets
#: either way) or single ones (straight or curly), an apostrophe within a word ("can't",
#: "I’m") not ending it. A note quoting the document's own words ("The text quotes a
#: customer: 'I can't assist my mother anymore'") was a refusal
_QUOTED = re.compile(
    r'"[^"]*"|“[^”]*”|„[^“”]*[“”]'
    r"|«[^»]*»|»[^«]*«"
    r"|(?<!\w)'(?:[^']|(?<=\w)'(?=\w))*'(?!\w)"
    r"|‘(?:[^’]|(?<=\w)’(?=\w))*’(?!\w)")
#: reported speech: a verb of saying, then the words said, at most a pronoun and a form
#: of "be" before them ("the user says they are unable to help it", "the customer
#: writes: I can't assist my mother anymore", "she said that I cannot help her"), the
#: speaker's words reported, no refusal of the model's
_REPORTED = re.compile(
    r"\b(?:says|said|writes|wrote|reads|states|stated|quotes|quoted|reports|reported"
    r"|claims|claimed|complains|complained|explains|explained|mentions|mentioned"
    r"|adds|added|insists|insisted|admits|admitted)\b\s*[:,]?\s*(?:that\s+)?"
    r"(?:(?:he|she|they|we|you|it|I)\s+(?:(?:is|are|was|were)\s+)?)?$", re.IGNORECASE)


def _quotations(text: str) -> list[tuple[int, int]]:
    """The spans of ``text`` in quotation marks, but for one opening the text: a
    model may put its whole answer in quotes."""
    lead = len(text) - len(text.lstrip())
    return [found.span() for found in _QUOTED.finditer(text) if found.start() != lead]


def refusal_words(text: str) -> str | None:
    """The words of ``text`` that decline the task, whitespace made single spaces; None
    where it says none. Words in quotation marks, or reported after a verb of saying,
    are a speaker's (the document's), not the model's.

    >>> print(refusal_words('I\\'m sorry, but I can\\'t  help with "user at 555-0199".'))
    I can't help
    >>> refusal_words("None of the labels applies.")
    >>> refusal_words("The text quotes a customer: 'I can't assist my mother anymore'")
    >>> refusal_words("The user says they are unable to help it; no label fits.")
    """
    head = text[:SEARCHED]
    quoted = None
    for found in REFUSAL.finditer(head):
        if quoted is None:
            quoted = _quotations(head)
        start = found.start()
        if any(begin < start < end for begin, end in quoted):
            continue
        sentence = re.split(r"[.!?\n]", head[:start])[-1]
        said = _REPORTED.search(sentence)
        # "as the policy states, I can't help": the model's own words, after an aside
        if said and not re.search(r"\bas\b", re.split(r"[,;:]", sentence[:said.start()])[-1],
                                  re.IGNORECASE):
            continue
        return " ".join(found.group(0).split())
    return None
