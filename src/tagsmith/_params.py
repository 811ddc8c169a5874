"""Keyword-only hyper-parameters: list them and reject unknown names clearly."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from tagsmith.exceptions import InvalidParameterError


def keyword_params(cls: type) -> list[str]:
    """Names of the keyword-only parameters of ``cls.__init__``, in order."""
    signature = inspect.signature(cls)  # the constructor, without self
    return [p.name for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY]


def check_param_names(cls: type, params: Mapping[str, object]) -> None:
    """Raise :class:`InvalidParameterError` naming the first unknown key of ``params``.

    >>> class Demo:
    ...     def __init__(self, *, alpha=1.0): ...
    >>> try:
    ...     check_param_names(Demo, {"alhpa": 2})
    ... except InvalidParameterError as exc:
    ...     print(exc)
    parameter 'alhpa' must be a parameter of Demo (alpha), got 'alhpa'
    """
    valid = keyword_params(cls)
    for key in params:
        if key not in valid:
            raise InvalidParameterError(key, f"a parameter of {cls.__name__} ({', '.join(valid)})",
                                        key)
