"""LP-ICP's compiled count of label sets (:attr:`tagsmith.conformal.lpicp.PowersetSets.n_sets`),
in a module of its own so that :mod:`tagsmith.conformal.lpicp` loads without numba
(imported on the first count)."""

from __future__ import annotations

import numpy as np

from tagsmith._numba import njit

#: meet in the middle over at most this many flips (two halves of 2^16 sums)
HALVES_MOST = 32


@njit(cache=True)
def count_within(costs, budgets, cap):  # pragma: no cover - compiled
    """Per row: subsets of the (ascending) costs whose sum fits the budget, capped.

    A depth-first count takes one step per subset counted: a weak model's documents,
    each with a million subsets or more, took seconds per thousand to reach the cap.
    Of the ``k`` flips that fit alone (the cheapest), the first ``p = min(k, 32)`` are
    counted by meet in the middle once a depth-first count passes ``2^ceil(p/2)``: the
    subset sums of each half of them (``2^(p/2)`` each, ascending), each sum of one half
    with the number of the other's that fit beside it. For ``k <= 32`` that is the
    count. Beyond, all ``k`` are counted visiting only the subsets some flip extends
    (:func:`_count_by_extension`), up to ``2^ceil(p/2)`` first; past it, the
    meet in the middle over the ``p`` cheapest (a lower bound) settles the rows whose
    count reaches the cap, and the others are counted on to the cap. The same counts
    (capped) as the depth-first count alone."""
    n, m = costs.shape
    out = np.zeros(n, np.int64)
    for r in range(n):
        budget = budgets[r]
        if budget < 0:
            continue
        k = 0
        while k < m and costs[r, k] <= budget:
            k += 1
        p = min(k, HALVES_MOST)
        limit = min(cap, 1 << ((p + 1) // 2))
        if k > p:  # the count of the p cheapest is a lower bound: see above
            count = _count_by_extension(costs[r, :k], budget, limit)
            if count >= limit and limit < cap:
                count = _count_halves(costs[r, :p], budget, cap)
                if count < cap:  # short of the cap: all k counted
                    count = _count_by_extension(costs[r, :k], budget, cap)
        else:
            count = _count_depth_first(costs[r], budget, limit)
            if count >= limit and limit < cap:
                count = _count_halves(costs[r, :p], budget, cap)
        out[r] = min(count, cap)
    return out


@njit(cache=True)
def _count_by_extension(costs, budget, cap):  # pragma: no cover - compiled
    """Subsets of the (ascending) ``costs`` whose sum fits ``budget``, capped: the
    depth-first count's subsets, each subset that some flip extends visited once.

    At a subset (its next flip ``i``, budget left ``left``) the flips ``i..`` that fit
    beside it are found at once (a binary search), each one more subset, and only the
    first of them, those the next flip after still fits beside, are extended further
    (fewer as the flips grow: once one is not, none after is). Past 32 flips, where the
    32 cheapest counted fewer than ``cap``, the depth-first count took a step per
    subset up to the cap (a million), where most subsets are extended by no flip
    when only a few flips fit together. The same
    arithmetic as the depth-first count (``left - cost``, ``cost > left``), so the
    same counts."""
    m = costs.size
    count = 1  # no flip: Ŷ itself
    # at most m waiting: the flips they start at rise from the bottom up (a subset
    # extended is the top one, its extensions start past it), each below m
    stack_at = np.empty(m + 1, np.int64)
    stack_left = np.empty(m + 1)
    stack_at[0] = 0
    stack_left[0] = budget
    top = 0
    while top >= 0 and count < cap:
        i = stack_at[top]
        left = stack_left[top]
        top -= 1
        end = i + np.searchsorted(costs[i:], left, side="right")
        count += end - i
        for j in range(i, end):
            rest = left - costs[j]
            if j + 1 >= m or costs[j + 1] > rest:
                break
            top += 1
            stack_at[top] = j + 1
            stack_left[top] = rest
    return count


@njit(cache=True)
def _count_depth_first(costs, budget, limit):  # pragma: no cover - compiled
    """Subsets of the (ascending) ``costs`` whose sum fits ``budget``, depth first,
    stopping at ``limit``."""
    m = costs.size
    idx = np.empty(m + 1, np.int64)
    rem = np.empty(m + 1)
    count = 1  # no flip: Ŷ itself
    top = 0
    idx[0] = 0
    rem[0] = budget
    while top >= 0 and count < limit:
        i = idx[top]
        if i >= m or costs[i] > rem[top]:
            top -= 1
            continue
        count += 1
        idx[top] = i + 1
        top += 1
        idx[top] = i + 1
        rem[top] = rem[top - 1] - costs[i]
    return count


@njit(cache=True)
def _count_halves(costs, budget, cap):  # pragma: no cover - compiled
    """Subsets of ``costs`` whose sum fits ``budget``, by meet in the middle, stopping
    once past ``cap``: each sum of the first half's subsets (ascending) with the number
    of the second half's that fit beside it (fewer as the first grows)."""
    half = costs.size // 2
    first = _sorted_subset_sums(costs[:half])
    second = _sorted_subset_sums(costs[half:])
    count = 0
    fit = second.size
    for spent in first:
        if spent > budget:
            break
        while fit > 0 and second[fit - 1] > budget - spent:
            fit -= 1
        count += fit
        if count >= cap:
            break
    return count


@njit(cache=True)
def _sorted_subset_sums(costs):  # pragma: no cover - compiled
    """The ``2^len(costs)`` sums of the subsets of ``costs``, ascending: the sums with
    each cost merged with the same sums plus it (both ascending)."""
    sums = np.zeros(1 << costs.size)
    merged = np.empty_like(sums)
    size = 1
    for cost in costs:
        i = j = out = 0
        while i < size or j < size:
            if j >= size or (i < size and sums[i] <= sums[j] + cost):
                merged[out] = sums[i]
                i += 1
            else:
                merged[out] = sums[j] + cost
                j += 1
            out += 1
        sums[:2 * size] = merged[:2 * size]
        size *= 2
    return sums
