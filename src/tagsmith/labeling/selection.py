"""Budgeted choice of documents to send to the teacher (robust active distillation).

Robust Active Distillation (Baykal et al., ICLR 2023; METHODS.md section 2) treats the
choice as a game: the learner picks inclusion probabilities ``p`` (``sum p = b``,
``0 <= p <= 1``) to collect informative documents (gain ``g_i``, the student's
uncertainty), an adversary makes the teacher wrong on ``k`` of them, removing the ``k``
largest values ``p_i g_i``. The learner's optimum solves the linear program

    max  sum_i p_i g_i - k*theta - sum_i u_i
    s.t. u_i >= p_i g_i - theta,  u_i >= 0,  sum_i p_i = b,  0 <= p_i <= 1

(the top-k sum written as ``min_theta k*theta + sum_i (v_i - theta)_+``), solved with
scipy's HiGHS. In the usual regime (``k >= 1``, ``b`` well below ``n``) the optimum
equalises ``p_i g_i`` over the ``m*`` most informative documents, ``p_i = c / g_i``
with ``c = b / sum_{i<=m} 1/g_i`` and ``m* = argmax_{m>k} (m - k) c``; that closed form
is used as a fast path when its cap check (``c <= g_m``) holds and the LP otherwise
(``k = 0`` is plain top-``b``). The most informative documents are *down*-weighted,
because that is where a teacher's mistakes do the most harm.

A batch of exactly ``b`` documents is then drawn with these inclusion probabilities by
systematic (Madow) sampling in a random order.

Where the teacher's per-label precision is known (a human-labelled sample), the gain
of a document is its uncertainty times the chance that the teacher answers it right
(:func:`teacher_error_risk`): the adversary's ``k`` mistakes come on top of the
mistakes already expected. This is our extension of the game to a teacher whose
reliability differs by label; without precisions it is the game above.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_choice, check_int, check_number
from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import TopK, check_topk

STRATEGIES = ("robust", "uncertainty", "random")
#: the kinds of :func:`uncertainty_gains`
GAINS = ("margin", "normalised", "binary")
MIN_GAIN = 1e-6
#: how far outside [0, 1] a probability of :func:`systematic_sample` may stray (the LP's
#: rescaling and the closed form's cap check leave slips of ~1e-12) before it is refused
_SLACK = 1e-6


def uncertainty_gains(topk: TopK, kind: str = "margin") -> np.ndarray:
    """Student uncertainty per document in (0, 1] (shape ``(n_docs,)``).

    Scores are clipped to [0, 1] (tagsmith's models score in [0, 1]). ``"margin"``:
    ``1 - (s1 - s2)``, the gap between the row's two best scores; ``"normalised"``: the
    same on scores normalised to sum to 1 over the row (multi-class style);
    ``"binary"``: mean over the row's top-5 labels of the binary uncertainty
    ``1 - |2s - 1|`` (multi-label style).

    >>> topk = TopK.from_scores(np.array([[0.9, 0.1, 0.0], [0.5, 0.5, 0.0]]), k=3)
    >>> uncertainty_gains(topk).round(2).tolist()
    [0.2, 1.0]
    """
    topk = check_topk(topk)
    scores = np.where(topk.valid, np.clip(topk.scores, 0.0, 1.0), 0.0).astype(np.float64)
    second = scores[:, 1] if scores.shape[1] > 1 else np.zeros(len(scores))
    if kind == "margin":
        gains = 1.0 - (scores[:, 0] - second) if scores.shape[1] else np.ones(len(scores))
    elif kind == "normalised":
        total = scores.sum(axis=1, keepdims=True)
        q = np.divide(scores, total, out=np.full_like(scores, 0.0), where=total > 0)
        gains = 1.0 - (q[:, 0] - (q[:, 1] if q.shape[1] > 1 else 0.0))
        gains[total[:, 0] == 0] = 1.0
    elif kind == "binary":
        top = scores[:, :5]
        gains = (1.0 - np.abs(2.0 * top - 1.0)).mean(axis=1) if top.shape[1] else \
            np.ones(len(scores))
    else:
        raise InvalidParameterError("kind", "'margin', 'normalised' or 'binary'", kind)
    return np.clip(gains, MIN_GAIN, 1.0)


def _floats(name: str, value, expected: str) -> np.ndarray:
    """``value`` as a float64 array, or an error naming ``name`` (strings and ragged
    lists raised numpy's ValueError, in numpy's words)."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError(name, expected, type(value).__name__) from None


def teacher_error_risk(topk: TopK, precision: np.ndarray) -> np.ndarray:
    """Expected chance that the teacher gets a document wrong (shape ``(n_docs,)``).

    The teacher's per-label precision (from a human-labelled sample,
    :class:`~tagsmith.labeling.reliability.Reliability`) averaged over the labels the
    student expects, weighted by the student's scores over its top labels.

    >>> topk = TopK(np.array([[0, 1], [1, 0]]), np.array([[0.9, 0.1], [1.0, 0.0]]), 2)
    >>> teacher_error_risk(topk, np.array([0.9, 0.5])).round(2).tolist()
    [0.14, 0.5]
    """
    topk = check_topk(topk)
    precision = _floats("precision", precision, "an array of numbers in [0, 1]")
    if precision.shape != (topk.n_labels,):
        raise InvalidParameterError("precision", f"shape ({topk.n_labels},)", precision.shape)
    if not np.all((precision >= 0) & (precision <= 1)):  # NaN fails both
        raise InvalidParameterError("precision", "values in [0, 1] (no NaN)",
                                    f"range [{precision.min()}, {precision.max()}]")
    scores = np.where(topk.valid, np.clip(topk.scores, 0.0, 1.0), 0.0).astype(np.float64)
    total = scores.sum(axis=1, keepdims=True)
    weights = np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)
    miss = 1.0 - precision[np.where(topk.valid, topk.indices, 0)]
    risk = (weights * miss).sum(axis=1)
    risk[total[:, 0] == 0] = float(np.mean(1.0 - precision))
    return np.clip(risk, 0.0, 1.0)


def _check_rng(rng) -> np.random.Generator:
    # a seed or None is refused rather than turned into a generator: the caller's
    # generator carries on across rounds, a seed taken here would repeat its draws
    if not isinstance(rng, np.random.Generator):
        raise InvalidParameterError("rng", "a numpy.random.Generator (np.random.default_rng"
                                    "(seed))", type(rng).__name__)
    return rng


def _check(gains, budget: int, n_mistakes: float) -> np.ndarray:
    gains = _floats("gains", gains, "a non-empty 1-D array of numbers in (0, 1]")
    if gains.ndim != 1 or not len(gains):
        raise InvalidParameterError("gains", "a non-empty 1-D array", gains.shape)
    if not np.all(np.isfinite(gains)) or gains.min() <= 0 or gains.max() > 1:
        raise InvalidParameterError("gains", "values in (0, 1]",
                                    f"range [{gains.min()}, {gains.max()}]")
    check_int("budget", budget, 1, numpy=True)
    check_number("n_mistakes", n_mistakes, 0, finite=True, numpy=True)
    return gains


def rad_value(p: np.ndarray, gains: np.ndarray, n_mistakes: float) -> float:
    """The game's value of ``p``: ``sum p g`` minus the ``k`` largest ``p g`` (k may be
    fractional: the top-k sum's convex extension)."""
    v = np.sort(np.asarray(p) * np.asarray(gains))[::-1]
    whole = int(np.floor(n_mistakes))
    removed = v[:whole].sum() + (n_mistakes - whole) * (v[whole] if whole < len(v) else 0.0)
    return float(v.sum() - removed)


def rad_closed_form(gains: npt.ArrayLike, budget: int, n_mistakes: float) -> np.ndarray | None:
    """The equalising solution, or ``None`` where it does not apply (k < 1 or the cap
    ``p <= 1`` would bind).

    Documents of equal gain get equal probabilities: where the cut ``m*`` falls inside
    a run of equal gains (the value ``(m - k) c`` is then the same for every ``m``
    along it, so which of them are taken does not change the game's value), the mass
    those taken would get is spread evenly over the whole run rather than given to the
    earliest pool positions.

    >>> p = rad_closed_form(np.array([1.0, 0.8, 0.5, 0.4, 0.2]), 2, 1)
    >>> p.round(3).tolist(), round(float(p.sum()), 6)
    ([0.471, 0.588, 0.941, 0.0, 0.0], 2.0)
    >>> rad_closed_form(np.array([0.4, 0.4, 0.8, 0.4, 0.8]), 3, 1).round(3).tolist()
    [0.667, 0.667, 0.5, 0.667, 0.5]
    """
    gains = _check(gains, budget, n_mistakes)
    n = len(gains)
    if n_mistakes < 1 or budget >= n:
        return None
    order = np.argsort(-gains, kind="stable")
    g = gains[order]
    harmonic = np.cumsum(1.0 / g)
    m = np.arange(1, n + 1)
    c = budget / harmonic
    value = np.where(m > n_mistakes, (m - n_mistakes) * c, -np.inf)
    best = int(np.argmax(value))
    if not np.isfinite(value[best]) or c[best] > g[best] * (1 + 1e-12):
        return None
    p = np.zeros(n)
    p[order[:best + 1]] = c[best] / g[:best + 1]
    if best + 1 < n and g[best + 1] == g[best]:
        # a tie at the cut: the stable sort gave its nonzero probabilities to the
        # earliest pool positions. Spread evenly over the tie, they keep sum p (and
        # p <= 1, each lower); the game's value stays (m* - k) c, as at least k
        # documents above the tie keep p g = c (an optimum cut inside a tie needs it)
        tied = order[g == g[best]]
        p[tied] = (best + 1 - np.searchsorted(-g, -g[best])) * c[best] / g[best] / len(tied)
    return p


def rad_lp(gains: npt.ArrayLike, budget: int, n_mistakes: float) -> np.ndarray:
    """The exact optimum of the linear program (scipy HiGHS, ``2n + 1`` variables).

    Seconds for a few thousand documents, about a minute for 40,000: the closed form
    in :func:`rad_probabilities` avoids it whenever it applies.
    """
    from scipy.optimize import linprog

    gains = _check(gains, budget, n_mistakes)
    n = len(gains)
    if budget >= n:
        return np.ones(n)
    # more mistakes than documents spoil them all (value 0 whatever p): k > n made the
    # program unbounded (theta -> -inf), and HiGHS's failure a RuntimeError
    n_mistakes = min(float(n_mistakes), float(n))
    # variables: p (n), u (n), theta (1); minimise -g.p + k*theta + sum u
    cost = np.concatenate([-gains, np.ones(n), [n_mistakes]])
    rows = np.repeat(np.arange(n), 3)
    cols = np.stack([np.arange(n), n + np.arange(n), np.full(n, 2 * n)], axis=1).ravel()
    vals = np.stack([gains, -np.ones(n), -np.ones(n)], axis=1).ravel()
    a_ub = sp.csr_matrix((vals, (rows, cols)), shape=(n, 2 * n + 1))
    a_eq = sp.csr_matrix((np.ones(n), (np.zeros(n, int), np.arange(n))), shape=(1, 2 * n + 1))
    bounds = [(0.0, 1.0)] * n + [(0.0, None)] * n + [(None, None)]
    result = linprog(cost, A_ub=a_ub, b_ub=np.zeros(n), A_eq=a_eq, b_eq=[float(budget)],
                     bounds=bounds, method="highs")
    if result.status != 0:  # pragma: no cover - the program is always feasible and bounded
        raise RuntimeError(f"HiGHS failed on the selection program: {result.message}")
    p = np.clip(result.x[:n], 0.0, 1.0)
    return p * (budget / p.sum())


def rad_probabilities(gains: npt.ArrayLike, budget: int, n_mistakes: float) -> np.ndarray:
    """Inclusion probabilities of robust selection (shape ``(n,)``, sum ``budget``).

    >>> gains = np.array([1.0, 0.9, 0.5, 0.3, 0.1])
    >>> rad_probabilities(gains, 2, 0).tolist()          # no mistakes: plain top-b
    [1.0, 1.0, 0.0, 0.0, 0.0]
    >>> p = rad_probabilities(gains, 2, 1)
    >>> bool(p[0] < p[2]), round(float(p.sum()), 6)      # the surest gain is down-weighted
    (True, 2.0)
    """
    gains = _check(gains, budget, n_mistakes)
    n = len(gains)
    if budget >= n:
        return np.ones(n)
    if n_mistakes == 0:
        p = np.zeros(n)
        p[np.argsort(-gains, kind="stable")[:budget]] = 1.0
        return p
    if n_mistakes >= n:
        return np.full(n, budget / n)  # the adversary can spoil everything: spread evenly
    closed = rad_closed_form(gains, budget, n_mistakes)
    return closed if closed is not None else rad_lp(gains, budget, n_mistakes)


def systematic_sample(p: npt.ArrayLike, rng: np.random.Generator) -> np.ndarray:
    """Draw ``round(sum p)`` distinct indices, index ``i`` with probability ``p[i]``.

    Madow's systematic sampling over a random order (sorted indices out).

    ``p`` is a 1-D array of probabilities in [0, 1] (rounding slips of ``1e-6`` either
    side are clipped away); ``rng`` a :class:`numpy.random.Generator` (a seed or
    ``None`` is refused, not turned into one).

    >>> systematic_sample(np.array([1.0, 0.5, 0.5, 0.0]), np.random.default_rng(0)).size
    2
    """
    rng = _check_rng(rng)
    probs = _floats("p", p, "a 1-D array of probabilities in [0, 1]")
    if probs.ndim != 1:
        raise InvalidParameterError("p", "a 1-D array of probabilities", f"shape {probs.shape}")
    if probs.size and not np.all((probs >= -_SLACK) & (probs <= 1 + _SLACK)):  # NaN fails both
        raise InvalidParameterError("p", "probabilities in [0, 1] (no NaN)",
                                    f"range [{probs.min()}, {probs.max()}]")
    probs = np.clip(probs, 0.0, 1.0)
    size = int(round(probs.sum()))
    if size == 0:
        return np.zeros(0, np.int64)
    order = rng.permutation(len(probs))
    edges = np.cumsum(probs[order])
    edges *= size / edges[-1]
    points = rng.random() + np.arange(size)
    picked = order[np.minimum(np.searchsorted(edges, points, side="right"), len(probs) - 1)]
    return np.unique(picked)


def top_gains(gains: npt.ArrayLike, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of the ``budget`` largest gains; where equal gains straddle the
    cut, those taken are drawn at random with ``rng`` (a stable sort gave them to the
    earliest positions, so a pool's order decided). Without such a tie ``rng`` is not
    used.

    >>> top_gains(np.array([0.9, 0.5, 0.5, 0.5, 0.1]), 2, np.random.default_rng(0)).size
    2
    """
    gains = _check(gains, budget, 0.0)
    rng = _check_rng(rng)
    if budget >= len(gains):
        return np.arange(len(gains))
    cut = np.partition(gains, len(gains) - budget)[len(gains) - budget]  # budget-th largest
    above = np.flatnonzero(gains > cut)
    tied = np.flatnonzero(gains == cut)
    if len(above) + len(tied) > budget:
        tied = np.sort(rng.choice(tied, size=budget - len(above), replace=False))
    return np.union1d(above, tied)


def select_batch(strategy: str, gains: npt.ArrayLike, budget: int, *, n_mistakes: float = 0.0,
                 rng: np.random.Generator) -> np.ndarray:
    """Indices of ``budget`` documents (fewer only if the pool is smaller).

    ``"robust"`` draws with :func:`rad_probabilities` (without mistakes, the top
    gains as ``"uncertainty"``), ``"uncertainty"`` takes the ``budget`` largest gains
    (:func:`top_gains`: ties at the cut drawn with ``rng``), ``"random"`` a uniform
    sample. ``rng`` must be a
    :class:`numpy.random.Generator` (a seed or ``None`` is refused, not turned into one).

    >>> gains = np.array([0.9, 0.8, 0.5, 0.2, 0.1])
    >>> select_batch("uncertainty", gains, 2, rng=np.random.default_rng(0)).tolist()
    [0, 1]
    >>> len(select_batch("robust", gains, 2, n_mistakes=1, rng=np.random.default_rng(0)))
    2
    """
    strategy = check_choice("strategy", strategy, STRATEGIES)
    rng = _check_rng(rng)
    gains = _check(gains, budget, n_mistakes)
    n = len(gains)
    if budget >= n:
        return np.arange(n)
    if strategy == "random":
        return np.sort(rng.choice(n, size=budget, replace=False))
    if strategy == "uncertainty" or n_mistakes == 0:  # robust without mistakes: top-b
        return top_gains(gains, budget, rng)
    chosen = systematic_sample(rad_probabilities(gains, budget, n_mistakes), rng)
    if len(chosen) < budget:  # rounding: top up uniformly from the rest
        rest = np.setdiff1d(np.arange(n), chosen)
        chosen = np.union1d(chosen, rng.choice(rest, size=budget - len(chosen), replace=False))
    return chosen[:budget] if len(chosen) > budget else chosen
