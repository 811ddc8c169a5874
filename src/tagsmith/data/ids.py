"""One first-seen map of document ids, for every reader that refuses or warns on an id
given twice (suggest and zeroshot, the training and evaluation readers, the audit and
apply-review): each id met so far and where it was first met, so that a repeat can be
reported naming both places. What is said, and whether it is an error or a warning, is
each caller's."""

from __future__ import annotations

from typing import Generic, TypeVar

P = TypeVar("P")


class FirstSeen(Generic[P]):
    """Each document id met so far and the place it was first met at (a line number,
    ``file:line``, a position: whatever the caller names a document by).

    >>> ids = FirstSeen[int]()
    >>> ids.claim("a", 1), ids.claim("b", 2), ids.claim("a", 3)
    (None, None, 1)
    """

    __slots__ = ("places",)

    def __init__(self) -> None:
        self.places: dict[str, P] = {}

    def claim(self, doc_id: str, place: P) -> P | None:
        """Note that the document at ``place`` has the id ``doc_id``: None when the id
        is new, else the place it was first met at (kept; ``place`` is not noted)."""
        n_seen = len(self.places)
        first = self.places.setdefault(doc_id, place)
        return None if len(self.places) > n_seen else first

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.places

    def __len__(self) -> int:
        return len(self.places)
