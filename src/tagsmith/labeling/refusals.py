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


def refusal_words(text: str) -> str | None:
    """The words of ``text`` that decline the task, whitespace made single spaces; None
    where it says none.

    >>> print(refusal_words('I\\'m sorry, but I can\\'t  help with "user at 555-0199".'))
    I can't help
    >>> refusal_words("None of the labels applies.")
    """
    found = REFUSAL.search(text[:SEARCHED])
    return None if found is None else " ".join(found.group(0).split())
