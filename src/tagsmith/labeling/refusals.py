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
#: answer that none applies
REFUSAL = re.compile(
    r"\b(?:I\s*(?:can\s*not|can['\u2019]?t|cannot|won['\u2019]?t|will\s+not"
    r"|(?:am|['\u2019]m)\s+(?:not\s+able|unable)\s+to)\s+(?:help|assist|comply|engage|do\s+that"
    r"|process\s+(?:this|that)|continue|support)"
    r"|I\s+must\s+(?:decline|refuse)|unable\s+to\s+(?:help|assist|comply))", re.IGNORECASE)

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
