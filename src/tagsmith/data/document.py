"""The Document record that corpora stream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Document:
    """One text with its label ids (ids of a :class:`~tagsmith.data.LabelSpace`).

    >>> Document("Rain expected", (3, 7), doc_id="d1").label_ids
    (3, 7)
    """

    text: str
    label_ids: tuple[int, ...] = ()
    doc_id: str | None = None
    metadata: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
