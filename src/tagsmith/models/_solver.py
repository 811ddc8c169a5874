"""Compiled sparse linear training shared by one-vs-rest and the label tree.

The solver is dual coordinate descent for L2-regularised linear classifiers
(Hsieh et al. 2008 for the squared hinge loss, Yu, Huang & Lin 2011 for the
logistic loss), the algorithms behind LIBLINEAR's ``-s 1`` and ``-s 7``, compiled
with numba and run without the GIL so that several threads train at once.

The unit of work is a *block*: a set of training rows of one CSR feature matrix and
a range of binary classifiers ("children") that share those rows. A row can be a
positive of several children, with a target in (0, 1]: a target ``t`` counts as
``t`` of a positive and ``1 - t`` of a negative instance (exact soft targets), and
a per-row weight multiplies the cost ``C``. One-vs-rest is one block of all rows
with every label a child; a label-tree node is a block of the rows that reach the
node with its children as classifiers.

Weights are learned in a dense per-thread buffer over all features, read back only
at the features the block's rows use, pruned by magnitude and returned sparse.
"""

from __future__ import annotations

import numpy as np

from tagsmith._numba import njit

LOSS_SQUARED_HINGE = 0
LOSS_LOGISTIC = 1
LOSS_CODES = {"squared_hinge": LOSS_SQUARED_HINGE, "logistic": LOSS_LOGISTIC}
# margin given to a classifier without positive examples (sigmoid(-12) ~ 6e-6)
NO_POSITIVE_MARGIN = 12.0
# smallest tolerance the squared hinge solver shrinks at. Margins are float32 sums, so
# a projected-gradient gap much below this may never be reached, and shrunk examples
# return only once the active set reaches the tolerance: at tol=1e-8 they often never
# did, and the solver settled on a subset of the examples, at weights whose objective
# was up to 40% above the optimum on small random problems (a tighter tol gave a
# worse model). Below it every example stays active, so more epochs approach the
# optimum. The default tol (0.1) shrinks as before.
SHRINK_MIN_EPS = 1e-3


def kernel_seed(value: int) -> int:
    """A seed derived from ``random_state`` as the int64 the compiled kernels take.

    The kernels use a seed only as ``np.uint64(seed)``, so a seed counts modulo 2**64:
    this keeps the low 64 bits, as a (possibly negative) int64 with those bits. Seeds
    below 2**63 pass unchanged; larger ones (``random_state * 7_919`` of a 64-bit
    ``--seed`` such as ``$(date +%s%N)``) were refused by numba with "int too big to
    convert" after the features were built.

    >>> kernel_seed(5), kernel_seed(2**64 + 5), kernel_seed(2**64 - 1)
    (5, 5, -1)
    """
    value = int(value) % 2**64
    return value - 2**64 if value >= 2**63 else value


def kernel_count(value: int) -> int:
    """An iteration limit (``max_iter``, ``cluster_iter``) as the int64 the compiled
    kernels take: at most ``2**63 - 1``.

    The loops stop when they converge, long before such a limit, so a larger one
    (``max_iter=2**64``, "no limit") trains exactly as ``2**63 - 1`` does. Passed as
    it was, numba refused it after the features were built ("int too big to convert",
    or a typing error at 2**64), or, at 2**63, compiled the kernel again for uint64,
    where ``range(2**63)`` ran no iteration at all: the model learnt nothing.

    >>> kernel_count(10), kernel_count(2**64)
    (10, 9223372036854775807)
    """
    return min(int(value), 2**63 - 1)


@njit(nogil=True, cache=True, inline="always")
def assign_local_ids(indices, indptr, rows, local):
    """Number the features used by CSR rows ``rows`` 0, 1, ... in order of first use,
    into ``local`` (int32, n_features; -1 = not yet numbered); returns how many."""
    n_used = 0
    for r in range(rows.shape[0]):
        row = rows[r]
        for p in range(indptr[row], indptr[row + 1]):
            f = indices[p]
            if local[f] < 0:
                local[f] = n_used
                n_used += 1
    return n_used


@njit(nogil=True, cache=True, error_model="numpy")
def _next_random(state: np.uint64) -> np.uint64:
    # xorshift64*: fast, deterministic, good enough for shuffling
    state ^= state >> np.uint64(12)
    state ^= state << np.uint64(25)
    state ^= state >> np.uint64(27)
    return state * np.uint64(2685821657736338717)


@njit(nogil=True, cache=True, error_model="numpy")
def _shuffle(order, n, state):
    for i in range(n - 1):
        state = _next_random(state)
        j = i + np.int64(state % np.uint64(n - i))
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp
    return state


@njit(nogil=True, cache=True, error_model="numpy")
def _logistic_step(alpha, upper, quad, lin):
    """One Newton-solved coordinate step of the logistic dual; returns the new alpha.

    Minimises over ``z`` in (0, upper): z log z + (upper - z) log(upper - z)
    + quad/2 (z - alpha)^2 + lin (z - alpha) (Yu, Huang & Lin 2011, with the variable
    and its complement swapped when the complement is the better one to move).
    """
    complement = upper - alpha
    swap = 0.5 * quad * (complement - alpha) + lin < 0.0
    old = complement if swap else alpha
    sign = -1.0 if swap else 1.0
    z = old
    if upper - z < 0.5 * upper:
        z = 0.1 * z
    grad = quad * (z - old) + sign * lin + np.log(z / (upper - z))
    for _ in range(100):
        if abs(grad) < 1e-8:
            break
        hess = quad + upper / (upper - z) / z
        trial = z - grad / hess
        if trial <= 0.0:
            z *= 0.1
        elif trial >= upper:
            z = upper - 0.1 * (upper - z)
        else:
            z = trial
        if z <= 0.0 or z >= upper:
            break
        grad = quad * (z - old) + sign * lin + np.log(z / (upper - z))
    # keep strictly inside (0, upper): the logarithms above need it next time
    z = min(max(z, 1e-12 * upper), (1.0 - 1e-12) * upper)
    return upper - z if swap else z


@njit(nogil=True, cache=True, error_model="numpy")
def train_block(data, indices, indptr, rows, row_ptr, row_child, row_target, row_weight,
                n_children, child_lo, child_hi, C, bias, loss, eps, max_iter, prune, seed,
                local):
    """Train the binary classifiers ``child_lo <= c < child_hi`` of one block.

    ``rows`` are row ids of the CSR matrix (data, indices, indptr); row ``r`` is a
    positive of children ``row_child[row_ptr[r]:row_ptr[r+1]]`` with targets
    ``row_target[...]`` in (0, 1]; ``row_weight`` (per entry of ``rows``) scales the
    cost. ``local`` (int32, n_features) is a per-thread scratch buffer that must be -1
    everywhere on entry and is left so. ``seed`` draws the order the rows are visited
    in, epoch by epoch, shared by all the block's children.

    A child's weights depend only on its own targets, the rows and ``seed``, never on
    which other children share its block: callers split children into blocks by the
    number of threads, and the model must not change with it.

    All the block's classifiers are solved together: the weights are one matrix of
    (features used by the rows) x (children), so a visit of a row computes every
    child's margin from contiguous memory, and each child runs its own dual
    coordinate descent on its own variables. Returns ``(child, feature, value,
    biases, n_unconverged)``: the kept weights as parallel arrays sorted by (feature,
    child), one bias per trained child, and how many children (with a positive
    example) were still above the tolerance ``eps`` when ``max_iter`` epochs ran out.
    """
    n_rows = rows.shape[0]
    width = child_hi - child_lo
    # a child without any positive example is never chosen: no weights, a very low bias
    has_positive = np.zeros(width, np.bool_)
    for r in range(n_rows):
        if row_weight[r] > 0.0:
            for p in range(row_ptr[r], row_ptr[r + 1]):
                c = row_child[p] - child_lo
                if 0 <= c < width and row_target[p] > 0.0:
                    has_positive[c] = True
    # local ids for the features the block's rows use, most frequent first so that the
    # hot rows of the weight matrix share cache lines
    n_used = assign_local_ids(indices, indptr, rows, local)
    used = np.empty(n_used, np.int32)
    frequency = np.zeros(n_used, np.int64)
    for r in range(n_rows):
        row = rows[r]
        for p in range(indptr[row], indptr[row + 1]):
            j = local[indices[p]]
            used[j] = indices[p]
            frequency[j] -= 1
    by_frequency = np.argsort(frequency, kind="mergesort")
    used = used[by_frequency]
    for j in range(n_used):
        local[used[j]] = j

    row_norm = np.empty(n_rows, np.float64)
    for r in range(n_rows):
        row = rows[r]
        total = bias * bias
        for p in range(indptr[row], indptr[row + 1]):
            total += data[p] * data[p]
        row_norm[r] = total

    weights = np.zeros((n_used + 1, width), np.float32)  # last row: the bias weights
    alpha_pos = np.zeros((n_rows, width), np.float64)
    alpha_neg = np.zeros((n_rows, width), np.float64)
    target = np.zeros(width, np.float64)
    margin = np.empty(width, np.float32)
    step = np.empty(width, np.float32)
    order = np.arange(n_rows)
    state = np.uint64(seed) * np.uint64(2654435761) + np.uint64(88172645463325252)

    if loss == LOSS_LOGISTIC:
        # start strictly inside (0, C): alpha = min(0.001 C, 1e-8) for each instance
        for r in range(n_rows):
            cost = C * row_weight[r]
            if cost <= 0.0:
                continue
            for c in range(width):
                target[c] = 0.0
            for p in range(row_ptr[r], row_ptr[r + 1]):
                c = row_child[p] - child_lo
                if 0 <= c < width:
                    target[c] = row_target[p]
            row = rows[r]
            for c in range(width):
                t = target[c]
                step[c] = 0.0
                if t > 0.0:
                    a = min(0.001 * cost * t, 1e-8)
                    alpha_pos[r, c] = a
                    step[c] += a
                if t < 1.0:
                    a = min(0.001 * cost * (1.0 - t), 1e-8)
                    alpha_neg[r, c] = a
                    step[c] -= a
            for p in range(indptr[row], indptr[row + 1]):
                j = local[indices[p]]
                v = data[p]
                for c in range(width):
                    weights[j, c] += v * step[c]
            for c in range(width):
                weights[n_used, c] += bias * step[c]
        for c in range(width):
            target[c] = 0.0

    # Shrinking, per child as in LIBLINEAR: an example whose dual variable sits at 0
    # with a gradient beyond last epoch's largest projected gradient leaves the active
    # set; when a child converges on its active set, its shrunk examples come back
    # for a final check. Most (row, child) pairs of a node are easy negatives, so
    # after an epoch or two a row visit touches only a few children.
    active = np.ones((n_rows, width), np.uint8)
    n_shrunk = np.zeros(width, np.int64)
    done = np.zeros(width, np.bool_)
    pg_max_old = np.full(width, np.inf)
    pg_min_old = np.full(width, -np.inf)
    pg_max_new = np.full(width, -np.inf)
    pg_min_new = np.full(width, np.inf)
    for c in range(width):
        if not has_positive[c]:
            done[c] = True
    chosen = np.empty(width, np.int64)
    shrink = loss == LOSS_SQUARED_HINGE and eps >= SHRINK_MIN_EPS
    for _ in range(max_iter):
        state = _shuffle(order, n_rows, state)
        for s in range(n_rows):
            r = order[s]
            cost = C * row_weight[r]
            if cost <= 0.0:
                continue
            n_chosen = 0
            for c in range(width):
                if active[r, c] and not done[c]:
                    chosen[n_chosen] = c
                    n_chosen += 1
            if n_chosen == 0:
                continue
            row = rows[r]
            start, end = indptr[row], indptr[row + 1]
            for p in range(row_ptr[r], row_ptr[r + 1]):
                c = row_child[p] - child_lo
                if 0 <= c < width:
                    target[c] = row_target[p]
            dense = 16 * n_chosen > width
            if dense:
                for c in range(width):
                    margin[c] = weights[n_used, c] * bias
                for p in range(start, end):
                    j = local[indices[p]]
                    v = data[p]
                    for c in range(width):
                        margin[c] += v * weights[j, c]
            else:
                # rounded to float32 at each step exactly as the dense loop above, so
                # that a child's margins do not depend on which loop its block takes
                for i in range(n_chosen):
                    c = chosen[i]
                    total = np.float32(weights[n_used, c] * bias)
                    for p in range(start, end):
                        total = np.float32(total + data[p] * weights[local[indices[p]], c])
                    margin[c] = total
            quad = row_norm[r]
            n_changed = 0
            for i in range(n_chosen):
                c = chosen[i]
                t = target[c]
                delta = 0.0
                # the positive part (weight t), then the negative part (weight 1 - t)
                for part in range(2):
                    if part == 0:
                        if t <= 0.0:
                            continue
                        sign = 1.0
                        upper = cost * t
                        old = alpha_pos[r, c]
                    else:
                        if t >= 1.0:
                            continue
                        sign = -1.0
                        upper = cost * (1.0 - t)
                        old = alpha_neg[r, c]
                    m = margin[c] + delta * quad
                    if loss == LOSS_LOGISTIC:
                        lin = sign * m
                        new = _logistic_step(old, upper, quad, lin)
                        grad = abs(lin + np.log(old / (upper - old)))
                        if grad > pg_max_new[c]:
                            pg_max_new[c] = grad
                        if pg_min_new[c] > 0.0:
                            pg_min_new[c] = 0.0
                    else:
                        dii = 0.5 / upper
                        grad = sign * m - 1.0 + dii * old
                        pg = grad
                        if old == 0.0 and grad > 0.0:
                            if shrink and grad > pg_max_old[c] and (t <= 0.0 or t >= 1.0):
                                active[r, c] = 0
                                n_shrunk[c] += 1
                                continue
                            pg = 0.0
                        if pg > pg_max_new[c]:
                            pg_max_new[c] = pg
                        if pg < pg_min_new[c]:
                            pg_min_new[c] = pg
                        if abs(pg) <= 1e-12:
                            continue
                        new = old - grad / (quad + dii)
                        if new < 0.0:
                            new = 0.0
                    if part == 0:
                        alpha_pos[r, c] = new
                    else:
                        alpha_neg[r, c] = new
                    delta += (new - old) * sign
                if delta != 0.0:
                    step[n_changed] = delta
                    chosen[n_changed] = c  # reuse: changed children, in order
                    n_changed += 1
            for p in range(row_ptr[r], row_ptr[r + 1]):
                c = row_child[p] - child_lo
                if 0 <= c < width:
                    target[c] = 0.0
            if n_changed == 0:
                continue
            if 16 * n_changed > width:
                for c in range(width):
                    margin[c] = 0.0
                for i in range(n_changed):
                    margin[chosen[i]] = step[i]
                for p in range(start, end):
                    j = local[indices[p]]
                    v = data[p]
                    for c in range(width):
                        weights[j, c] += v * margin[c]
                for c in range(width):
                    weights[n_used, c] += bias * margin[c]
            else:
                for i in range(n_changed):
                    c = chosen[i]
                    scale = step[i]
                    for p in range(start, end):
                        weights[local[indices[p]], c] += data[p] * scale
                    weights[n_used, c] += bias * scale
        all_done = True
        for c in range(width):
            if done[c]:
                continue
            if pg_max_new[c] - pg_min_new[c] <= eps:
                if n_shrunk[c] == 0:
                    done[c] = True
                    continue
                for r in range(n_rows):
                    active[r, c] = 1
                n_shrunk[c] = 0
                pg_max_old[c] = np.inf
                pg_min_old[c] = -np.inf
            else:
                pg_max_old[c] = pg_max_new[c] if pg_max_new[c] > 0.0 else np.inf
                pg_min_old[c] = pg_min_new[c] if pg_min_new[c] < 0.0 else -np.inf
            pg_max_new[c] = -np.inf
            pg_min_new[c] = np.inf
            all_done = False
        if all_done:
            break

    n_unconverged = 0
    for c in range(width):
        if not done[c]:  # max_iter epochs ran out before its gap reached eps
            n_unconverged += 1
    biases = np.empty(width, np.float32)
    for c in range(width):
        biases[c] = weights[n_used, c] * bias if has_positive[c] else -NO_POSITIVE_MARGIN
        if not has_positive[c]:
            for j in range(n_used):
                weights[j, c] = 0.0
    size = 0
    for j in range(n_used):
        for c in range(width):
            if abs(weights[j, c]) > prune:
                size += 1
    out_child = np.empty(size, np.int32)
    out_feat = np.empty(size, np.int32)
    out_val = np.empty(size, np.float32)
    # entries come out sorted by (feature id, child): callers need no sort to build CSR
    by_id = np.argsort(used)
    size = 0
    for i in range(n_used):
        j = by_id[i]
        for c in range(width):
            value = weights[j, c]
            if abs(value) > prune:
                out_child[size] = c + child_lo
                out_feat[size] = used[j]
                out_val[size] = value
                size += 1
    for j in range(n_used):
        local[used[j]] = -1
    return out_child, out_feat, out_val, biases, n_unconverged
