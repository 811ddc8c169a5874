"""tagsmith: multi-label text classification at any scale.

Importing the package is cheap: heavy dependencies load only in the modules that
need them (a test keeps it so).
"""

from __future__ import annotations

#: the one place the version is written: pyproject.toml reads it from here (a literal, so
#: that setuptools finds it without importing the package)
__version__ = "0.1.0"

__all__ = ["__version__", "TextClassifier", "LabelSpace", "Document", "TopK"]


def __getattr__(name: str):
    # lazy exports keep `import tagsmith` fast
    if name == "TextClassifier":
        from tagsmith.pipeline.classifier import TextClassifier

        return TextClassifier
    if name == "LabelSpace":
        from tagsmith.data.labelspace import LabelSpace

        return LabelSpace
    if name == "Document":
        from tagsmith.data.document import Document

        return Document
    if name == "TopK":
        from tagsmith.topk import TopK

        return TopK
    raise AttributeError(f"module 'tagsmith' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the lazy exports too, so dir() and tab completion show what can be imported
    return sorted(set(globals()) | set(__all__))
