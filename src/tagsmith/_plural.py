"""The one plural helper of messages and log lines ("1 document", "2 documents")."""

from __future__ import annotations


def plural_s(n: int) -> str:
    """The plural ending for a count of ``n`` ("1 label", "2 labels", "0 labels").

    >>> f"3 label{plural_s(3)}, 1 document{plural_s(1)}"
    '3 labels, 1 document'
    """
    return "" if n == 1 else "s"
