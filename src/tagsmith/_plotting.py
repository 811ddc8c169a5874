"""The one check that matplotlib, an optional dependency, can be imported: commands call
it before the work whose plots they draw, so a core install fails before that work."""

from __future__ import annotations

from tagsmith.exceptions import MissingDependencyError


def check_plotting(extra: str, feature: str) -> None:
    """Raise :class:`MissingDependencyError` unless matplotlib can be imported:
    ``feature`` says what needs it, ``extra`` which of tagsmith's extras installs it.

    >>> check_plotting("plot", "writing reliability diagrams")  # matplotlib installed
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", extra=extra, feature=feature) from exc
