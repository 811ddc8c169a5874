"""Allow and deny lists, and hierarchy branches, per request (``suggest --only``,
``--exclude``, ``--under``; :meth:`TextClassifier.suggest`'s ``only``, ``exclude`` and
``under``).

A subject-indexing team suggests from part of its thesaurus alone: the subjects of one
collection, less those it never uses, or one branch of the hierarchy. The labels are
resolved against the bundle's label space as a corpus's are
(:meth:`~tagsmith.data.labelspace.LabelSpace.lookup`: a URI, ``<URI>``, a preferred name
in any language or a notation); the result is a boolean mask of the labels allowed, which
:class:`~tagsmith.pipeline.classifier.TextClassifier` applies before its top ``k`` and its
thresholds (a document gets its ``k`` best allowed labels).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tagsmith.data.labelspace import LabelSpace
from tagsmith.exceptions import AmbiguousLabelError, InvalidParameterError

#: what a label key of ``only``, ``exclude`` and ``under`` may be
LABEL_KEY = ("labels of the label space (a URI, <URI>, a preferred name, a notation or an "
             "alternative label)")


def _keys(name: str, keys: Iterable[str] | str | None) -> list[str]:
    """``keys`` as a list of strings; a lone string is one key (iterating it gave its
    characters), an empty list is refused (it allows or denies nothing, by mistake)."""
    if keys is None:
        return []
    if isinstance(keys, str):
        keys = [keys]
    try:
        out = list(keys)
    except TypeError:
        raise InvalidParameterError(name, "a list of " + LABEL_KEY, keys) from None
    for key in out:
        if not isinstance(key, str) or not key.strip():
            raise InvalidParameterError(name, "a list of " + LABEL_KEY
                                        + ", each a non-empty string", key)
    if not out:
        raise InvalidParameterError(name, "a non-empty list of " + LABEL_KEY, out)
    return out


def resolve_label(space: LabelSpace, key: str, name: str) -> int:
    """The id of ``key`` in ``space``, or :class:`InvalidParameterError` naming the
    parameter ``name`` and the key, with the label space's hint where it has one (a
    preferred name in another case or spacing: :meth:`LabelSpace.unknown_hint`; an
    alternative label is read by :meth:`LabelSpace.lookup`)."""
    try:
        found = space.lookup(key)
    except AmbiguousLabelError as exc:
        raise InvalidParameterError(name, f"{LABEL_KEY}, one label each ({exc})", key) from None
    if found is None:
        hint = space.unknown_hint(key)
        raise InvalidParameterError(
            name, f"one of the {len(space):,} " + LABEL_KEY.removesuffix(")")
            + (f"; {hint}" if hint else "") + ")", key)
    return found


def descendants(space: LabelSpace, label_ids: Iterable[int], name: str = "under"
                ) -> np.ndarray:
    """The labels ``label_ids`` and every label below one of them (at any depth, through
    any broader label), as a boolean mask over ``space``; a space without hierarchy is
    refused naming ``name`` (every branch would be one label)."""
    from tagsmith.metrics.hierarchy import closure_if_hierarchical

    closure = closure_if_hierarchical(space, len(space))
    if closure is None:
        raise InvalidParameterError(name, "used with a vocabulary that has a hierarchy "
                                    "(some label with a broader one)",
                                    f"{len(space):,} labels with no broader label")
    ids = np.fromiter(label_ids, dtype=np.int64)
    # row c of the closure marks c and its ancestors: the rows with a mark in one of
    # the columns ids are those labels and their descendants
    below = closure.tocsc()[:, ids].getnnz(axis=1) > 0
    return np.asarray(below, dtype=bool)


def allowed_labels(space: LabelSpace, *, only: Iterable[str] | str | None = None,
                   exclude: Iterable[str] | str | None = None,
                   under: Iterable[str] | str | None = None,
                   names: tuple[str, str, str] = ("only", "exclude", "under")
                   ) -> np.ndarray | None:
    """The labels of ``space`` a request allows, as a boolean mask, or ``None`` when it
    gives none of ``only`` (the labels allowed), ``exclude`` (the labels denied) and
    ``under`` (branches: each label and its descendants). A label must be in ``only``
    (when given) and in a branch of ``under`` (when given), and not in ``exclude``.
    ``names``: how errors name the three (the command line's options). A mask allowing no
    label is refused: every document would get no suggestion.

    >>> from tagsmith.data.labelspace import Label
    >>> space = LabelSpace([Label("u:a", {"en": "art"}), Label("u:b", broader=["u:a"]),
    ...                     Label("u:c")])
    >>> allowed_labels(space, under=["art"], exclude=["<u:a>"]).tolist()
    [False, True, False]
    >>> allowed_labels(space) is None
    True
    """
    only_keys, exclude_keys, under_keys = (_keys(name, keys) for name, keys in
                                           zip(names, (only, exclude, under), strict=True))
    if not (only_keys or exclude_keys or under_keys):
        return None
    n = len(space)
    allowed = np.ones(n, dtype=bool)
    if only_keys:
        allowed[:] = False
        allowed[[resolve_label(space, key, names[0]) for key in only_keys]] = True
    denied = [resolve_label(space, key, names[1]) for key in exclude_keys]
    if under_keys:
        allowed &= descendants(space, [resolve_label(space, key, names[2])
                                       for key in under_keys], names[2])
    allowed[denied] = False
    if not allowed.any():
        given = " and ".join(name for name, keys in zip(
            names, (only_keys, exclude_keys, under_keys), strict=True) if keys)
        raise InvalidParameterError(given, f"a restriction allowing some of the {n:,} "
                                    "labels", "one that allows none")
    return allowed
