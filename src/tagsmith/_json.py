"""Strict JSON for every JSON file and output tagsmith writes.

Python's :mod:`json` writes a float that JSON cannot hold (NaN, the infinities) as the
bare tokens ``NaN``, ``Infinity`` and ``-Infinity``, which strict parsers (JavaScript's,
jq, Go's) refuse: one such value made a whole file unreadable to them. A parameter
may well be infinite (``-p C=Infinity``: no regularisation), so :func:`strict` writes
these floats as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` instead (the
tokens Python would have written, quoted), and :func:`dumps` refuses anything else
that is not JSON. Where such a value is read back as a number (a model's parameters
in a bundle), :func:`number_from_json` turns the string back into the float.

numpy is not imported here (``tagsmith --help`` stays fast): numpy values are
converted only once numpy is loaded, which it is wherever they can occur.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

#: the strings :func:`strict` writes for the floats JSON cannot hold
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def strict(value: object) -> object:
    """``value`` with every float JSON cannot hold written as a string (see above),
    numpy scalars and arrays as plain values, tuples as lists; the rest as it is.

    >>> strict({"C": float("inf"), "tol": (float("nan"), 1.5), "n": -float("inf")})
    {'C': 'Infinity', 'tol': ['NaN', 1.5], 'n': '-Infinity'}
    >>> import numpy as np
    >>> strict([np.float32(2.5), np.array([np.inf, 1.0]), np.int64(3)])
    [2.5, ['Infinity', 1.0], 3]
    """
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic | numpy.ndarray):
        value = value.tolist()
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict(item) for item in value]
    return value


def dumps(obj: object, **kwargs: Any) -> str:
    """:func:`json.dumps` of :func:`strict` ``(obj)``, refusing what JSON cannot hold.

    >>> dumps({"C": float("inf")}, separators=(",", ":"))
    '{"C":"Infinity"}'
    """
    return json.dumps(strict(obj), allow_nan=False, **kwargs)


def number_from_json(value: object) -> object:
    """``value`` read back from strict JSON where a number belongs: one of the strings
    :func:`strict` writes for a float JSON cannot hold becomes that float again; any
    other value (a number, a bare ``Infinity`` that an older tagsmith wrote and
    :func:`json.loads` read as a float, a string that is no such number) is returned
    as it is.

    >>> number_from_json("Infinity"), number_from_json("-Infinity"), number_from_json(0.5)
    (inf, -inf, 0.5)
    >>> number_from_json("squared_hinge")
    'squared_hinge'
    """
    if isinstance(value, str):
        return NON_FINITE.get(value, value)
    return value
