"""Domain types and readers: documents, corpora, label spaces and vocabularies."""

from tagsmith.data.document import Document
from tagsmith.data.labelspace import Label, LabelSpace

__all__ = ["Document", "Label", "LabelSpace"]
