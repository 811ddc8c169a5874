"""Splits of documents that keep groups whole: cross-fitting folds along a permutation
(:func:`folds_in_order`) and a held-out share (:func:`split_order`), ``groups`` holding
one id per document (equal texts sharing one) so that no document is scored by a model
fitted on its twin.

They sit with the engine's input checks, below every layer that splits: the ensemble's
``weights="auto"`` tuning split, the audit's calibration folds and the pipeline's
cross-fitting (:mod:`tagsmith.pipeline.crossfit`, which names them too) all draw here.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tagsmith._plural import plural_s
from tagsmith.exceptions import InvalidParameterError
from tagsmith.models.base import check_groups


def has_repeats(groups: npt.ArrayLike) -> bool:
    """Whether some group id of ``groups`` is shared by two documents.

    >>> has_repeats([0, 1, 0]), has_repeats([0, 1, 2])
    (True, False)
    """
    array = np.asarray(groups)
    return bool(array.size) and np.unique(array).size < array.size


def check_order(name: str, order: npt.ArrayLike, n_docs: int) -> np.ndarray:
    """``order`` as an int64 permutation of ``range(n_docs)``, else
    :class:`InvalidParameterError` naming ``name`` (a repeated or missing position drew
    some documents twice and others never).

    >>> check_order("order", [2, 0, 1], 3).tolist()
    [2, 0, 1]
    """
    array = np.asarray(order)
    got: str | None = None
    if array.shape != (n_docs,) or (n_docs and array.dtype.kind not in "iu"):
        got = f"shape {array.shape}, dtype {array.dtype}"
    elif n_docs and not np.array_equal(np.sort(array), np.arange(n_docs)):
        got = "positions repeated or missing"
    if got is not None:
        raise InvalidParameterError(name, f"a permutation of the {n_docs:,} documents' "
                                    f"positions (0 to {n_docs - 1:,}, each once)", got)
    return array.astype(np.int64, copy=False)


def groups_by_first(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``groups`` renumbered 0, 1, ... in the order each group first comes, with the
    first position and the size of each group in that numbering. The one renumbering of
    the splits here and of the audit's duplicate groups
    (:func:`tagsmith.audit.duplicates.groups_of_hashes`).

    >>> member, first, sizes = groups_by_first(np.array([7, 3, 7, 9]))
    >>> member.tolist(), first.tolist(), sizes.tolist()
    ([0, 1, 0, 2], [0, 1, 3], [2, 1, 1])
    """
    _, first, inverse, sizes = np.unique(groups, return_index=True, return_inverse=True,
                                         return_counts=True)
    by_first = np.argsort(first, kind="stable")
    rank = np.empty(first.size, np.int64)
    rank[by_first] = np.arange(first.size)
    return rank[inverse.reshape(-1)], first[by_first], sizes[by_first]


def _groups_in_order(order: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """The groups of ``groups`` in the order their first document comes in ``order``:
    ``(group of each document as 0.., first position of each group, size of each)``,
    groups numbered by that order (group 0 is the one of ``order[0]``)."""
    ranked, first, sizes = groups_by_first(groups[order])
    member = np.empty(order.size, np.int64)
    member[order] = ranked
    return member, first, sizes


def _water_fill(fixed: np.ndarray, n_more: int) -> np.ndarray:
    """Fold sizes once ``n_more`` documents are poured, one at a time, into the fold
    with the fewest (the lowest-numbered of equals) over ``fixed`` documents per fold.

    >>> _water_fill(np.array([0, 5, 0, 1]), 8).tolist()
    [3, 5, 3, 3]
    """
    low, high = int(fixed.min()), int(fixed.min()) + n_more
    while low < high:  # the highest level every fold below it can be filled to
        level = (low + high + 1) // 2
        if int(np.maximum(level - fixed, 0).sum()) <= n_more:
            low = level
        else:
            high = level - 1
    loads = np.maximum(fixed, low)
    rest = n_more - int((loads - fixed).sum())
    loads[np.flatnonzero(fixed <= low)[:rest]] += 1
    return loads


def folds_in_order(order: np.ndarray, n_folds: int,
                   groups: npt.ArrayLike | None = None) -> np.ndarray:
    """Folds (int16) dealt round-robin along the permutation ``order`` (``order[j]`` in
    fold ``j % n_folds``), with ``groups`` kept whole as
    :func:`~tagsmith.pipeline.crossfit.fold_assignment` keeps them; for callers that draw
    the permutation from their own random stream.

    >>> folds_in_order(np.array([2, 0, 3, 1]), 2, groups=[0, 1, 0, 2]).tolist()
    [0, 1, 0, 1]
    """
    n_docs = order.size
    fold = np.empty(n_docs, np.int16)
    fold[order] = np.arange(n_docs) % n_folds
    if groups is None:
        return fold
    member, first, sizes = _groups_in_order(order, check_groups(groups, n_docs))
    fold[:] = _group_folds(first % n_folds, sizes, n_folds, -(-n_docs // n_folds))[member]
    single = sizes[member] == 1
    fixed = np.bincount(fold[~single], minlength=n_folds)
    want = _water_fill(fixed, int(np.count_nonzero(single))) - fixed
    # single documents beyond their fold's share move, the last in the permutation
    # first, to the folds short of theirs, in fold order
    position = np.empty(n_docs, np.int64)
    position[order] = np.arange(n_docs)
    singles = np.flatnonzero(single)
    singles = singles[np.lexsort((position[singles], fold[singles]))]
    in_fold = fold[singles].astype(np.int64)
    starts = np.searchsorted(in_fold, np.arange(n_folds))
    movers = singles[np.arange(singles.size) - starts[in_fold] >= want[in_fold]]
    movers = movers[np.argsort(position[movers])]
    have = np.bincount(in_fold, minlength=n_folds)
    fold[movers] = np.repeat(np.arange(n_folds), np.maximum(want - have, 0))
    return fold


def _group_folds(home: np.ndarray, sizes: np.ndarray, n_folds: int, share: int) -> np.ndarray:
    """The fold of each group: its ``home`` (the fold of its first document) while the
    groups of more than one document in that fold, in order, fit ``share`` documents;
    the others, largest first, each into the fold with the fewest (its home among equals,
    else the lowest-numbered). Groups sent home regardless piled up: six copies of six
    texts over 5 folds left a fold empty for most seeds. Single documents stay home
    (:func:`folds_in_order` evens the folds with them)."""
    multi = np.flatnonzero(sizes > 1)
    by_home = multi[np.argsort(home[multi], kind="stable")]  # each fold's groups in order
    filled = np.cumsum(sizes[by_home])
    starts = np.searchsorted(home[by_home], np.arange(n_folds))
    before = np.r_[0, filled][starts][home[by_home]]  # what the fold's earlier groups hold
    fits = filled - before <= share
    folds = home.copy()
    loads = np.bincount(home[by_home[fits]], weights=sizes[by_home[fits]],
                        minlength=n_folds).astype(np.int64)
    rest = by_home[~fits]  # rarely any: a loop over them only
    for group in rest[np.argsort(-sizes[rest], kind="stable")]:
        target = home[group] if loads[home[group]] == loads.min() else int(np.argmin(loads))
        folds[group] = target
        loads[target] += sizes[group]
    return folds


def split_order(order: np.ndarray, n_held: int,
                groups: npt.ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(kept rows, held-out rows)``, each sorted: the first ``n_held`` documents of the
    permutation ``order`` held out, or with ``groups`` (one id per document) whole groups
    in the order their first document comes, each held out while it fits in what is left
    of ``n_held`` (so twins fall on one side; with every group a single document that is
    the same split); then, if some is left, the first group left that brings the count
    nearer ``n_held`` and leaves a document kept. A few more or fewer than ``n_held``
    may be held out, none where every group holds at least twice ``n_held`` or all but
    none of the documents. A large group that comes early is passed over while later
    groups fill the share: 500 copies of "Thank you!" early in a corpus of 3,500 were
    held out for its 350, a held-out part of nearly one text.

    >>> split_order(np.array([3, 0, 2, 1]), 2, groups=[0, 1, 0, 2])
    (array([0, 2]), array([1, 3]))
    """
    n_docs = order.size
    if groups is None:
        return np.sort(order[n_held:]), np.sort(order[:n_held])
    member, _, sizes = _groups_in_order(order, check_groups(groups, n_docs))
    held = np.zeros(sizes.size, bool)
    ends = np.cumsum(sizes)
    prefix = int(np.searchsorted(ends, n_held, side="right"))  # whole groups that fit
    held[:prefix] = True
    count = int(ends[prefix - 1]) if prefix else 0
    for g in range(prefix, sizes.size):  # then any later group that fits what is left
        room = n_held - count
        if room <= 0:
            break
        if sizes[g] <= room and count + sizes[g] < n_docs:
            held[g] = True
            count += int(sizes[g])
    room = n_held - count
    if room > 0:  # then the first group left that brings it nearer, if any
        nearer = np.flatnonzero(~held & (sizes < 2 * room) & (count + sizes < n_docs))
        if nearer.size:
            held[nearer[0]] = True
    is_held = held[member]
    return np.flatnonzero(~is_held), np.flatnonzero(is_held)


def unfit_groups(groups: npt.ArrayLike | None, n_held: int) -> str:
    """Why :func:`split_order` held out none of the documents of ``groups`` for
    ``n_held``: it said each group 'is more than twice' it, false for a group of exactly
    twice (as far from the share as none) and for one holding every document.

    >>> unfit_groups([0, 0, 1, 1, 1], 1)[:57]
    'each group of equal texts (the smallest has 2 documents) '
    >>> unfit_groups([4, 4, 4], 1)
    'the 3 documents are copies of one text'
    """
    # None: every document its own group (split_order then holds out n_held >= 1)
    counts = np.ones(1, np.int64) if groups is None else np.unique(
        np.asarray(groups), return_counts=True)[1]
    if counts.size == 1 and counts[0] > 1:
        # 'each group (the smallest has 30,003 documents)' of a corpus of one text
        return f"the {int(counts[0]):,} documents are copies of one text"
    smallest = int(counts.min())
    return (f"each group of equal texts (the smallest has {smallest} "
            f"document{plural_s(smallest)}) holds out at least twice {n_held} or leaves no "
            "document on the other side")
