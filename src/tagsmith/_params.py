"""Parameter checks: keyword-only hyper-parameters (list them, reject unknown names
clearly) and the checks every estimator and option class shares (:func:`check_int`,
:func:`check_number`, :func:`check_fraction`, :func:`check_bool`, :func:`check_choice`,
:func:`check_language`)."""

from __future__ import annotations

import copy
import inspect
import math
import numbers
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Literal, TypeGuard, TypeVar, overload

from tagsmith.exceptions import InvalidParameterError

#: most folds cross-fitting takes (fold numbers are stored as int16); here, not in
#: pipeline.crossfit, so that the command line's --help shows it without importing scipy
MAX_FOLDS = 2 ** 15 - 1

_T = TypeVar("_T")


def keyword_params(cls: type) -> list[str]:
    """Names of the keyword-only parameters of ``cls.__init__``, in order."""
    signature = inspect.signature(cls)  # the constructor, without self
    return [p.name for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY]


def check_param_names(cls: type, params: Mapping[str, object], owner: str | None = None
                      ) -> None:
    """Raise :class:`InvalidParameterError` naming the first unknown key of ``params``;
    ``owner`` names what they are given to, as the caller named it (``model 'linear'``),
    where the class name is none of the caller's words (the CLI's ``-p foo=1`` was
    told "must be a parameter of LinearOVR").

    >>> class Demo:
    ...     def __init__(self, *, alpha=1.0): ...
    >>> try:
    ...     check_param_names(Demo, {"alhpa": 2})
    ... except InvalidParameterError as exc:
    ...     print(exc)
    parameter 'alhpa' must be a parameter of Demo (alpha), got 'alhpa'
    >>> try:
    ...     check_param_names(Demo, {"alhpa": 2}, owner="model 'demo'")
    ... except InvalidParameterError as exc:
    ...     print(exc)
    parameter 'alhpa' must be a parameter of model 'demo' (alpha), got 'alhpa'
    """
    valid = keyword_params(cls)
    for key in params:
        if key not in valid:
            raise InvalidParameterError(
                key, f"a parameter of {owner or cls.__name__} ({', '.join(valid)})", key)


# -- numeric checks ------------------------------------------------------------------------
# One definition of "an integer >= 1", "a number > 0" and the like, so every parameter
# rejects the same things with the same words. ``bool`` is never a number here (True
# would pass as 1). Without ``numpy=True`` only Python ``int`` and ``float`` pass (and
# ``np.float64``, a float subclass), so values kept in configs and bundles stay plain
# Python numbers; with it numpy scalars pass too, through the ``numbers`` ABCs numpy
# registers with (no numpy import here: the LLM client does without numpy).


def _is_int(value: object, numpy: bool) -> TypeGuard[int]:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral if numpy else int)


def _is_number(value: object, numpy: bool) -> TypeGuard[float]:
    return not isinstance(value, bool) and isinstance(value, numbers.Real if numpy
                                                      else int | float)


@overload
def check_int(name: str, value: object, minimum: int = ..., *,
              allow_none: Literal[False] = ..., numpy: bool = ...) -> int: ...
@overload
def check_int(name: str, value: object, minimum: int = ..., *,
              allow_none: bool, numpy: bool = ...) -> int | None: ...
def check_int(name: str, value: object, minimum: int = 1, *, allow_none: bool = False,
              numpy: bool = False) -> int | None:
    """``value`` as an ``int`` when it is an integer >= ``minimum``; otherwise raise
    :class:`InvalidParameterError` ("an integer >= 1", "None or an integer >= 0").

    ``bool`` and floats are rejected, numpy integers unless ``numpy=True``, ``None``
    unless ``allow_none=True`` (then it is returned as is).

    >>> import numpy as np
    >>> check_int("k", 5), check_int("k", 0, 0), check_int("k", None, allow_none=True)
    (5, 0, None)
    >>> check_int("k", np.int64(3), numpy=True)
    3
    >>> def show(*args, **kwargs):
    ...     try:
    ...         check_int(*args, **kwargs)
    ...     except InvalidParameterError as exc:
    ...         print(exc)
    >>> for bad in (0, True, 2.0, "3", None, np.int64(3)):
    ...     show("k", bad)
    parameter 'k' must be an integer >= 1, got 0
    parameter 'k' must be an integer >= 1, got True
    parameter 'k' must be an integer >= 1, got 2.0
    parameter 'k' must be an integer >= 1, got '3'
    parameter 'k' must be an integer >= 1, got None
    parameter 'k' must be an integer >= 1, got np.int64(3)
    >>> show("k", np.bool_(True), numpy=True)
    parameter 'k' must be an integer >= 1, got np.True_
    >>> show("n_folds", 1, 2)
    parameter 'n_folds' must be an integer >= 2, got 1
    >>> show("limit", -1, 0, allow_none=True)
    parameter 'limit' must be None or an integer >= 0, got -1
    """
    if value is None and allow_none:
        return None
    if not _is_int(value, numpy) or value < minimum:
        expected = f"an integer >= {minimum}"
        raise InvalidParameterError(name, f"None or {expected}" if allow_none else expected,
                                    value)
    return int(value)


@overload
def check_number(name: str, value: object, minimum: float = ..., *, strict: bool = ...,
                 finite: bool = ..., allow_none: Literal[False] = ..., numpy: bool = ...,
                 unit: str | None = ..., maximum: float | None = ...) -> float: ...
@overload
def check_number(name: str, value: object, minimum: float = ..., *, strict: bool = ...,
                 finite: bool = ..., allow_none: bool, numpy: bool = ...,
                 unit: str | None = ..., maximum: float | None = ...) -> float | None: ...
def check_number(name: str, value: object, minimum: float = 0, *, strict: bool = False,
                 finite: bool = False, allow_none: bool = False, numpy: bool = False,
                 unit: str | None = None, maximum: float | None = None) -> float | None:
    """``value`` as a ``float`` when it is a number >= ``minimum`` (> with ``strict``)
    and <= ``maximum`` (if given); otherwise raise :class:`InvalidParameterError`
    ("a number >= 0", "a number > 0", "a number of seconds > 0" with ``unit="seconds"``,
    "a number in [0, 1]" with ``maximum=1``, "a finite number >= 0" with ``finite=True``).

    ``bool`` and NaN are always rejected, infinity only with ``finite=True``; ints
    pass; numpy scalars other than ``np.float64`` only with ``numpy=True``; ``None``
    only with ``allow_none=True`` (then it is returned as is). ``minimum`` appears in
    the message as written (0 or 0.0).

    >>> import numpy as np
    >>> check_number("beta", 1), check_number("beta", 0.5, strict=True)
    (1.0, 0.5)
    >>> check_number("C", np.float32(2), strict=True, numpy=True), check_number("C", float("inf"))
    (2.0, inf)
    >>> def show(*args, **kwargs):
    ...     try:
    ...         check_number(*args, **kwargs)
    ...     except InvalidParameterError as exc:
    ...         print(exc)
    >>> for bad in (-1, True, float("nan"), "1", None, np.float32(1)):
    ...     show("shrinkage", bad)
    parameter 'shrinkage' must be a number >= 0, got -1
    parameter 'shrinkage' must be a number >= 0, got True
    parameter 'shrinkage' must be a number >= 0, got nan
    parameter 'shrinkage' must be a number >= 0, got '1'
    parameter 'shrinkage' must be a number >= 0, got None
    parameter 'shrinkage' must be a number >= 0, got np.float32(1.0)
    >>> show("shrinkage", float("inf"), finite=True)
    parameter 'shrinkage' must be a finite number >= 0, got inf
    >>> show("tol", -1, strict=True, finite=True)
    parameter 'tol' must be a finite number > 0, got -1
    >>> show("tol", 0.0, 0.0, strict=True)
    parameter 'tol' must be a number > 0.0, got 0.0
    >>> show("timeout", 0, strict=True, unit="seconds")
    parameter 'timeout' must be a number of seconds > 0, got 0
    >>> show("rate", -0.5, allow_none=True)
    parameter 'rate' must be None or a number >= 0, got -0.5
    >>> check_number("weight", 1, maximum=1)
    1.0
    >>> for bad in (1.5, float("nan"), -0.1):
    ...     show("weight", bad, maximum=1)
    parameter 'weight' must be a number in [0, 1], got 1.5
    parameter 'weight' must be a number in [0, 1], got nan
    parameter 'weight' must be a number in [0, 1], got -0.1
    """
    if value is None and allow_none:
        return None
    # NaN fails both comparisons; +inf is the one non-finite value left after them
    if not _is_number(value, numpy) or not (value > minimum if strict else value >= minimum) \
            or finite and value == math.inf or maximum is not None and value > maximum:
        # infinity refused as "a number >= 0" read as if inf were no number or below 0
        finite_word = "finite " if finite and maximum is None else ""
        expected = f"a {finite_word}number" + (f" of {unit}" if unit else "")
        if maximum is not None:
            expected += f" in {'(' if strict else '['}{minimum}, {maximum}]"
        else:
            expected += (" > " if strict else " >= ") + str(minimum)
        raise InvalidParameterError(name, f"None or {expected}" if allow_none else expected,
                                    value)
    return float(value)


def check_fraction(name: str, value: object, *, numpy: bool = False) -> float:
    """``value`` as a ``float`` when it is a number in [0, 1): a share of something
    that must leave some of it (documents held out, a rate of mistakes); otherwise
    raise :class:`InvalidParameterError` ("a number in [0, 1)"). ``bool`` and NaN are
    rejected; numpy scalars other than ``np.float64`` only with ``numpy=True``.

    >>> check_fraction("dev_fraction", 0), check_fraction("dev_fraction", 0.25)
    (0.0, 0.25)
    >>> for bad in (1, 1.0, -0.1, float("nan"), True, "0.1"):
    ...     try:
    ...         check_fraction("dev_fraction", bad)
    ...     except InvalidParameterError as exc:
    ...         print(exc)
    parameter 'dev_fraction' must be a number in [0, 1), got 1
    parameter 'dev_fraction' must be a number in [0, 1), got 1.0
    parameter 'dev_fraction' must be a number in [0, 1), got -0.1
    parameter 'dev_fraction' must be a number in [0, 1), got nan
    parameter 'dev_fraction' must be a number in [0, 1), got True
    parameter 'dev_fraction' must be a number in [0, 1), got '0.1'
    """
    if not _is_number(value, numpy) or not 0 <= value < 1:  # NaN fails the comparison
        raise InvalidParameterError(name, "a number in [0, 1)", value)
    return float(value)


def check_bool(name: str, value: object) -> bool:
    """``value`` as a plain ``bool`` when it is ``True`` or ``False`` (a numpy bool
    too: a flag taken from an array, or a comparison's result); otherwise raise
    :class:`InvalidParameterError` ("true or false"). Numbers, strings such as
    ``"no"`` (truthy) and ``None`` are refused rather than read by their truth value.

    >>> import numpy as np
    >>> check_bool("review", False), check_bool("review", np.bool_(True))
    (False, True)
    >>> type(check_bool("review", np.bool_(True)))
    <class 'bool'>
    >>> try:
    ...     check_bool("review", "no")
    ... except InvalidParameterError as exc:
    ...     print(exc)
    parameter 'review' must be true or false, got 'no'
    """
    # numpy's bool is no bool subclass and no number; numpy is looked up, not imported
    # (a value can only be a numpy bool once numpy is loaded)
    numpy = sys.modules.get("numpy")
    if not (isinstance(value, bool) or numpy is not None and isinstance(value, numpy.bool_)):
        raise InvalidParameterError(name, "true or false", value)
    return bool(value)


def check_options(name: str, value: object, cls: type[_T]) -> _T:
    """``value`` when it is a ``cls``, a default ``cls()`` for ``None``; otherwise raise
    :class:`InvalidParameterError` naming ``name`` (a dict of settings failed later with
    ``'dict' object has no attribute 'validate'``, and an empty one was silently taken
    for the defaults).

    The example of the message is one the user can write: a dict made into the class
    (``cls(**options)``), else the class's first field (``TrainOptions(model=...)``); it
    read ``TrainOptions(k=...)``, a field no such class has.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class DemoOptions:
    ...     scores: str = "auto"
    >>> type(check_options("options", None, DemoOptions)).__name__
    'DemoOptions'
    >>> try:
    ...     check_options("options", {"scores": "knn"}, DemoOptions)
    ... except InvalidParameterError as exc:
    ...     print(exc.expected)
    a DemoOptions (DemoOptions(**options) of the dict's settings) or None
    >>> @dataclass
    ... class AuditOptions:
    ...     scores: str = "auto"
    >>> try:
    ...     check_options("options", [], AuditOptions)
    ... except InvalidParameterError as exc:
    ...     print(exc)
    parameter 'options' must be an AuditOptions (AuditOptions(scores=...)) or None, got 'list'
    """
    if value is None:
        return cls()
    if not isinstance(value, cls):
        article = "an" if cls.__name__[:1] in "AEIOU" else "a"
        if isinstance(value, dict):
            example = f"{cls.__name__}(**{name}) of the dict's settings"
        else:
            fields = list(getattr(cls, "__dataclass_fields__", None) or ())
            example = f"{cls.__name__}({fields[0]}=...)" if fields else f"{cls.__name__}()"
        raise InvalidParameterError(name, f"{article} {cls.__name__} ({example}) or None",
                                    type(value).__name__)
    return value


def check_at_construction(options: object, *args: object) -> None:
    """Run ``options.validate(*args)`` on a copy, so that a bad field is refused where
    the options are made, naming it, while the options themselves keep the values given
    (numpy numbers stay numpy numbers, ``None`` defaults stay ``None``: ``validate``,
    run again where they are used, resolves them). ``ConfidenceOptions(alpha=nan)``,
    ``TrainOptions(seed=-1)`` were made without a word and refused only when used, a
    notebook cell or a long run later. Options nested in a field (``TrainOptions``'
    ``confidence``) are copied too: their ``validate`` sets fields on them.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class DemoOptions:
    ...     alpha: float = 0.1
    ...     def __post_init__(self):
    ...         check_at_construction(self)
    ...     def validate(self):
    ...         self.alpha = check_fraction("alpha", self.alpha, numpy=True)
    >>> try:
    ...     DemoOptions(alpha=float("nan"))
    ... except InvalidParameterError as exc:
    ...     print(exc)
    parameter 'alpha' must be a number in [0, 1), got nan
    >>> import numpy as np
    >>> type(DemoOptions(alpha=np.float32(0.5)).alpha).__name__  # kept as given
    'float32'
    """
    probe = copy.copy(options)
    for name, value in vars(probe).items():
        if callable(getattr(value, "validate", None)) and hasattr(value, "__dataclass_fields__"):
            setattr(probe, name, copy.copy(value))
    probe.validate(*args)  # type: ignore[attr-defined]


# -- choices -------------------------------------------------------------------------------
# ``value in ("a", "b")`` compares ``value == "a"``: for a numpy array that is an array,
# whose truth value numpy refuses ("The truth value of an array ... is ambiguous"), and a
# set or dict of choices raises TypeError for an unhashable value (a list). The type is
# checked first, so every bad value gets the same message naming the parameter.


def describe_choices(choices: Iterable[object]) -> str:
    """``"'a' or 'b'"``, ``"one of 'a', 'b', 'c'"`` (``None`` shown as None).

    >>> describe_choices(["fail", "skip"]), describe_choices(("tsv", "csv", None))
    ("'fail' or 'skip'", "one of 'tsv', 'csv', None")
    """
    shown = [repr(choice) for choice in choices]
    if len(shown) == 1:
        return shown[0]
    if len(shown) == 2:
        return f"{shown[0]} or {shown[1]}"
    return "one of " + (", ".join(shown) if shown else "(none available)")


@overload
def check_choice(name: str, value: object, choices: Iterable[str], *,
                 note: str | None = ...) -> str: ...
@overload
def check_choice(name: str, value: object, choices: Iterable[str | None], *,
                 note: str | None = ...) -> str | None: ...
def check_choice(name: str, value: object, choices: Iterable[str | None], *,
                 note: str | None = None) -> str | None:
    """``value`` (as a plain ``str``) when it is a string among ``choices`` (or ``None``
    when ``None`` is one of them); otherwise raise :class:`InvalidParameterError` listing
    the choices, with ``note`` after them in parentheses.

    >>> import numpy as np
    >>> check_choice("on_error", "skip", ("fail", "skip"))
    'skip'
    >>> def show(*args, **kwargs):
    ...     try:
    ...         check_choice(*args, **kwargs)
    ...     except InvalidParameterError as exc:
    ...         print(exc)
    >>> for bad in ("Skip", None, ["skip"], np.array(["fail", "skip"])):
    ...     show("on_error", bad, ("fail", "skip"))
    parameter 'on_error' must be 'fail' or 'skip', got 'Skip'
    parameter 'on_error' must be 'fail' or 'skip', got None
    parameter 'on_error' must be 'fail' or 'skip', got ['skip']
    parameter 'on_error' must be 'fail' or 'skip', got array(['fail', 'skip'], dtype='<U4')
    >>> show("method", "lpicp", ["recall"], note="the ones this model was calibrated for")
    parameter 'method' must be 'recall' (the ones this model was calibrated for), got 'lpicp'
    """
    choices = tuple(choices)
    if value is None and None in choices:
        return None
    # only a str is compared with the choices: == on anything else may not give a bool
    if isinstance(value, str) and value in choices:
        return str(value)  # a str subclass (np.str_) as a plain str
    expected = describe_choices(choices)
    raise InvalidParameterError(name, f"{expected} ({note})" if note else expected, value)


#: a language tag as RDF holds one (BCP 47's shape): what every ``lang`` (``--lang``)
#: may be
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
LANGUAGE_TAG_EXPECTED = ("a language tag such as 'en' or 'pt-BR' (letters and digits in "
                         "groups of 1 to 8, joined by '-', letters first)")


def check_language(name: str, value: object) -> str:
    """``value``, a language tag, in BCP 47's case (language lower, region upper,
    script title case: ``pt-BR``, ``zh-Hant-TW``; after a singleton such as ``x``, all
    lower), else :class:`InvalidParameterError` naming ``name``. The one check of every
    ``--lang``: ``--lang EN`` changed the taxonomy prompt and its cache key, and
    ``en us`` or ``pt_BR`` (no tag a file can hold) was taken outside ``taxonomy``.

    >>> check_language("lang", "EN"), check_language("lang", "pt-br")
    ('en', 'pt-BR')
    >>> check_language("lang", "zh-hant-tw"), check_language("lang", "de-CH-x-PHONEBK")
    ('zh-Hant-TW', 'de-CH-x-phonebk')
    >>> try:
    ...     check_language("lang", "pt_BR")
    ... except InvalidParameterError as exc:
    ...     print(exc)
    parameter 'lang' must be a language tag such as 'en' or 'pt-BR' (letters and digits \
in groups of 1 to 8, joined by '-', letters first), got 'pt_BR'
    """
    if not isinstance(value, str) or not LANGUAGE_TAG.fullmatch(value):
        raise InvalidParameterError(name, LANGUAGE_TAG_EXPECTED, value)
    first, *rest = value.split("-")
    parts = [first.lower()]
    singleton = len(first) == 1  # x-..., i-...: private use, all lower case
    for part in rest:
        singleton = singleton or len(part) == 1
        if singleton:
            parts.append(part.lower())
        elif len(part) == 2 and part.isalpha():
            parts.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            parts.append(part.title())
        else:
            parts.append(part.lower())
    return "-".join(parts)
