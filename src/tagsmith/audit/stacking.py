"""Stacking: one estimate of ``P(given | evidence)`` for every (document, label) pair.

A weighted logistic regression (Newton's method; a handful of features, so a tiny
dense solve per iteration) over the features of :func:`tagsmith.audit.evidence.design_matrix`,
fitted on the given pairs (target 1), the missing candidates and a weighted random
sample of all other pairs (target 0), so its probabilities hold for every pair.
Pairs a model ranks in its top-k and pairs it does not are different regimes (a
ranked pair has a real score, an unranked one only its label group's base rate), so
each gets its own regression. Fitting uses at most ``fit_sample`` pairs of each kind
per regime (weighted to stand for all of them), and prediction runs in chunks, so
memory stays bounded at tens of millions of pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagsmith.audit.evidence import FEATURE_NAMES, PairEvidence, design_matrix
from tagsmith.progress import progress_bar

#: pairs per chunk when computing features for prediction: each chunk's features, design
#: matrix and their temporaries come to ~200 bytes a pair (a million pairs: ~200 MB on
#: top of the audit's peak on yso-finna-en, in its "issues" step), a quarter of that now
CHUNK = 250_000
#: pairs per chunk when computing the fitting sample's features (a progress step)
FIT_CHUNK = 100_000
#: fewest pairs of each class (given, not given) in a regime to fit its regression;
#: below it the calibrated model scores are used as they are
MIN_CLASS_PAIRS = 200
#: ridge penalty per unit of the smaller class's weight, on standardised features
L2 = 0.1


@dataclass
class PairSet:
    """(document, label) pairs with their stacking inputs.

    ``raw`` is the model's score, ``-inf`` for pairs outside the top-k; ``calibrated``
    the calibrated ``P(given | score)``; ``weight`` how many pairs each one stands for.
    """

    rows: np.ndarray
    labels: np.ndarray
    given: np.ndarray
    calibrated: np.ndarray
    raw: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ranked(self) -> np.ndarray:
        return np.isfinite(self.raw)

    @classmethod
    def empty(cls) -> PairSet:
        return cls(*(np.zeros(0, t) for t in (np.int32, np.int32, bool, np.float32,
                                               np.float32, np.float32)))


def _design(evidence: PairEvidence, pairs: PairSet, idx: np.ndarray,
            symmetric_seed: int | None,
            held: list | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The pairs' design matrix, and their centroid cosines (``None`` without text):
    read from ``held`` (the fitting samples' cosines, :func:`centroid_cache`) where it
    has them, computed for the rest."""
    centroid = None
    if held is not None:
        centroid = np.full(len(idx), np.nan)
        for keys, values in held:  # keys sorted: a fitting sample's pair indices
            at = np.minimum(np.searchsorted(keys, idx), len(keys) - 1)
            hit = keys[at] == idx
            centroid[hit] = values[at[hit]]
        todo = np.isnan(centroid)
        if todo.any():
            at = idx[todo]
            centroid[todo] = evidence.centroid_cosines(pairs.rows[at], pairs.labels[at],
                                                       pairs.given[at])
    features = evidence.features(pairs.rows[idx], pairs.labels[idx], pairs.given[idx],
                                 symmetric_seed=symmetric_seed, centroid=centroid)
    return design_matrix(pairs.calibrated[idx].astype(np.float64), features), centroid


def centroid_cache(evidence: PairEvidence | None, groups: list[PairSet]) -> list | None:
    """For :func:`stack_probabilities`' ``centroid_cache``: per group, a list to hold
    the centroid cosines of its fitting samples (``(sorted pair indices, cosines)``, one
    entry per regime), or ``None`` where the evidence has no centroids. The fitting
    samples alone: at most ``fit_sample`` pairs per group and regime (8 bytes a pair
    and 8 for its index), not every pair (tens of millions at 10^4+ labels, where a
    cache of all of them raised the audit's peak memory by 180 MB)."""
    if evidence is None or not evidence.has_text:
        return None
    return [[] for _ in groups]


def stack_probabilities(evidence: PairEvidence | None, groups: list[PairSet], *,
                        fit_sample: int = 500_000, seed: int = 0,
                        show_progress: bool = False,
                        symmetric: bool = False,
                        centroid_cache: list | None = None) -> tuple[list, dict]:
    """``P(given | evidence)`` for every pair of every group, and a JSON-able account.

    Without ``evidence`` the calibrated model scores are returned as they are.
    ``show_progress``: progress bars over the pairs of each regime's fitting sample
    (their features, then the regression) and over the pairs predicted (the stacking
    is most of an audit's "issues" step: 94 of 107 s at 20k documents and 2k labels).
    ``symmetric``: the co-occurrence evidence of a pair not given leaves out one of the
    document's given labels (picked by a hash of ``seed``, the document and the label),
    as a given pair's leaves out its own (``symmetric_seed`` of
    :meth:`PairEvidence.features`): the fit the noise-rate bounds read (its progress
    bars are named "bounds' stacking").
    ``centroid_cache`` (from :func:`centroid_cache`): the fitting samples' centroid
    cosines, kept as computed and read where they were, so that each fit's prediction
    of its own fitting sample, and a second stacking of the same groups (drawing the
    same samples), does not compute them again: the same values.
    """
    if evidence is None:
        return [g.calibrated.astype(np.float64) for g in groups], {"stacked": False}
    rng = np.random.default_rng(seed)
    symmetric_seed = int(seed) if symmetric else None
    what = "bounds' stacking" if symmetric else "stacking"  # the progress bars' names
    names = [n for n in FEATURE_NAMES if evidence.has_text or n != "centroid_cosine"]
    out = [np.empty(len(g)) for g in groups]
    details: dict = {"stacked": True, "regimes": {}}
    for regime, want_ranked in (("ranked", True), ("unranked", False)):
        members = [_members(g, want_ranked) for g in groups]
        if sum(len(m) for m in members) == 0:
            continue
        targets, weights = [], []
        # the fitting sample's design matrix, filled a chunk at a time, with a column
        # more for the fit's intercept (_fit_logistic_in_place)
        n_fit = sum(min(len(m), fit_sample) for m in members)
        fit_design: np.ndarray | None = None
        at = 0
        # the fitting sample's features and the regression: half of the stacking's time
        # (32 of 66 s at 20k documents and 2k labels), which had no progress of its own
        with progress_bar(total=n_fit,
                          desc=f"issues ({what}, fitting on {regime} pairs)", unit="pair",
                          enabled=show_progress) as bar:
            for gi, (g, m) in enumerate(zip(groups, members, strict=True)):
                if len(m) == 0:
                    continue
                held = None if centroid_cache is None else centroid_cache[gi]
                take = m if len(m) <= fit_sample else np.sort(rng.choice(m, fit_sample,
                                                                          replace=False))
                # kept for this fit's prediction of its sample and for the other fit
                # (drawn alike: the same seed and pairs), unless held already
                keep = held is not None and not any(
                    np.array_equal(keys, take) for keys, _ in held)
                kept = []
                # each chunk copied straight into its rows of ``fit_design`` (a per-group
                # stack, then a stack of those, once copied the features twice)
                for start in range(0, len(take), FIT_CHUNK):
                    design, cosines = _design(evidence, g, take[start:start + FIT_CHUNK],
                                              symmetric_seed, held)
                    if fit_design is None:
                        fit_design = np.empty((n_fit, design.shape[1] + 1))
                    fit_design[at:at + len(design), :-1] = design
                    at += len(design)
                    if keep and cosines is not None:
                        kept.append(cosines)
                    bar.update(len(design))
                if held is not None and kept:
                    held.append((take, np.concatenate(kept)))
                targets.append(g.given[take])
                weights.append(g.weight[take].astype(np.float64) * (len(m) / len(take)))
            y = np.concatenate(targets).astype(np.float64)
            n_given = int(y.sum())
            if min(n_given, len(y) - n_given) < MIN_CLASS_PAIRS:
                # too few pairs to learn weights (a tiny corpus separates perfectly and the
                # regression would overrule the model): keep the calibrated scores
                for g, m, o in zip(groups, members, out, strict=True):
                    o[m] = g.calibrated[m]
                details["regimes"][regime] = {"stacked": False, "n_pairs": int(len(y))}
                continue
            bar.set_postfix_str("regression")
            # the chunks were copied into one matrix as computed (a list of them, then
            # their stack, then fit_logistic's standardised copy: 1.5 million pairs, 48
            # MB each, at the audit's peak on yso-finna-en); standardised in place
            assert fit_design is not None and at == n_fit
            coef = _fit_logistic_in_place(fit_design, y, np.concatenate(weights))
            del fit_design
        details["regimes"][regime] = {
            "coefficients": dict(zip(names + ["intercept"], np.round(coef, 5).tolist(),
                                     strict=True)),
            "n_fit_pairs": int(len(y))}
        with progress_bar(total=sum(len(m) for m in members),
                          desc=f"issues ({what}, {regime} pairs)", unit="pair",
                          enabled=show_progress) as bar:
            for gi, (g, m, o) in enumerate(zip(groups, members, out, strict=True)):
                held = None if centroid_cache is None else centroid_cache[gi]
                for start in range(0, len(m), CHUNK):
                    idx = m[start:start + CHUNK]
                    o[idx] = predict_logistic(_design(evidence, g, idx, symmetric_seed,
                                                      held)[0], coef)
                    bar.update(len(idx))
    return out, details


def _members(pairs: PairSet, ranked: bool) -> np.ndarray:
    """The positions of ``pairs``' pairs in one regime (ranked in the top-k or not), in
    order: 32-bit where they fit, found a :data:`CHUNK` of pairs at a time. The 64-bit
    positions of every missing candidate (8 bytes a pair: 94 MB at 11.8 million on
    yso-finna-en) were held through each regime's fit and prediction; the same values.

    >>> p = PairSet(*(np.zeros(5, t) for t in (np.int32, np.int32, bool, np.float32)),
    ...             np.array([0.5, -np.inf, 0.1, 0.2, -np.inf], np.float32),
    ...             np.ones(5, np.float32))
    >>> _members(p, True).tolist(), _members(p, False).dtype.name
    ([0, 2, 3], 'int32')
    """
    kind = np.int32 if len(pairs) < 2**31 else np.int64
    parts = [np.zeros(0, kind)]
    for start in range(0, len(pairs), CHUNK):
        part = np.flatnonzero(np.isfinite(pairs.raw[start:start + CHUNK]) == ranked)
        parts.append(np.add(part, start, dtype=kind))
    return np.concatenate(parts)


def fit_logistic(Z: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, *,
                 l2: float = L2, max_iter: int = 50, tol: float = 1e-7) -> np.ndarray:
    """Weighted L2-regularised logistic regression by Newton's method.

    ``Z`` (``n x d`` float), ``y`` (0/1), ``weight`` (per row, default 1). Features
    are standardised internally; returns ``d + 1`` coefficients (intercept last) on
    the original scale, for :func:`predict_logistic`.

    >>> Z = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> coef = fit_logistic(Z, y, l2=0.1)
    >>> (predict_logistic(Z, coef) > 0.5).tolist()
    [False, False, True, True]
    """
    Z = np.asarray(Z, dtype=np.float64)
    A = np.empty((Z.shape[0], Z.shape[1] + 1))
    A[:, :-1] = Z
    return _fit_logistic_in_place(A, y, weight, l2=l2, max_iter=max_iter, tol=tol)


def _fit_logistic_in_place(A: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None,
                           *, l2: float = L2, max_iter: int = 50,
                           tol: float = 1e-7) -> np.ndarray:
    """:func:`fit_logistic` of ``Z = A[:, :-1]`` (``A``: C-ordered float64, one
    column more than the features), overwriting ``A`` with the standardised features
    and a column of ones: the same coefficients, without a copy of ``Z`` beside the
    standardised one (the stacking fills ``A`` as it computes the fitting sample's
    features: the sample's chunks, their stack and the standardised copy were three
    matrices of 1.5 million pairs at once on yso-finna-en, in the audit's peak)."""
    Z = A[:, :-1]
    y = np.asarray(y, dtype=np.float64)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
    total = w.sum()
    mean = (w[:, None] * Z).sum(axis=0) / total
    std = np.sqrt((w[:, None] * (Z - mean) ** 2).sum(axis=0) / total)
    std[std < 1e-12] = 1.0
    # (Z - mean) / std in place, then the intercept's column: column_stack's values
    np.subtract(Z, mean, out=Z)
    np.divide(Z, std, out=Z)
    A[:, -1] = 1.0
    del Z
    beta = np.zeros(A.shape[1])
    prior = np.clip((w * y).sum() / total, 1e-12, 1 - 1e-12)
    beta[-1] = np.log(prior / (1 - prior))
    # scaled by the smaller class's weight: the background pairs' large weights would
    # otherwise let the penalty swamp the likelihood of the rare class
    minority = min(float(w[y > 0.5].sum()), float(w[y <= 0.5].sum()))
    penalty = np.full(A.shape[1], l2 * max(minority, 1.0))
    penalty[-1] = 0.0
    def objective(b: np.ndarray) -> float:
        z = A @ b
        return float((w * (np.logaddexp(0.0, z) - y * z)).sum() + 0.5 * (penalty * b * b).sum())

    current = objective(beta)
    for _ in range(max_iter):
        p = _sigmoid(A @ beta)
        gradient = A.T @ (w * (y - p)) - penalty * beta
        hessian = (A * (w * p * (1 - p))[:, None]).T @ A + np.diag(penalty) \
            + 1e-9 * max(minority, 1.0) * np.eye(A.shape[1])
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-4:  # backtracking: Newton overshoots on nearly separable data
            trial = objective(beta + scale * step)
            if trial <= current:
                break
            scale /= 2
        beta += scale * step
        current = objective(beta)
        if np.max(np.abs(scale * step)) < tol:
            break
    coef = np.empty(A.shape[1])
    coef[:-1] = beta[:-1] / std
    coef[-1] = beta[-1] - (beta[:-1] * mean / std).sum()
    return coef


def predict_logistic(Z: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Probabilities of the rows of ``Z`` under :func:`fit_logistic`'s coefficients."""
    return _sigmoid(np.asarray(Z, dtype=np.float64) @ coef[:-1] + coef[-1])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))
