"""A score as suggest and zeroshot print it (TSV, JSON, ``Suggestion.to_dict``) and as
their ``--threshold`` compares it: 6 decimals from 0.001 up (and 0), 6 significant
digits below. A ``tree`` bundle's scores are products of path probabilities, mostly far
below 0.1 (a YSO bundle's median top score was 0.00076): at 6 decimals they kept about
3 significant digits, so labels the model ranks apart printed as ties and metrics
recomputed from the printed rankings (Annif's) differed from eval's."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: decimals of a score of at least :data:`SMALL_SCORE` as suggest and zeroshot print it
SCORE_DECIMALS = 6
#: significant digits of a score below :data:`SMALL_SCORE` (other than 0)
SCORE_DIGITS = 6
#: below this (in absolute value) a score is printed to significant digits
SMALL_SCORE = 0.001


def shown_score(score: float) -> float:
    """``score`` as suggest and zeroshot print it: ``--threshold`` compares this, so a
    score printed as 0.500000 is kept at ``--threshold 0.5`` even where it was 0.4999996.

    >>> shown_score(0.4999996), shown_score(0.000761234567), shown_score(3.14159265e-7)
    (0.5, 0.000761235, 3.14159e-07)
    """
    value = float(score)
    if value == 0 or abs(value) >= SMALL_SCORE:
        return round(value, SCORE_DECIMALS)
    return float(f"{value:.{SCORE_DIGITS}g}")


def score_text(score: float) -> str:
    """``score`` as suggest and zeroshot write it in a TSV row: :func:`shown_score`,
    with 6 decimals from 0.001 up (as ever: ``0.500000``) and 6 significant digits
    below (``0.000761235``, ``3.14159e-07``: Python's, Annif's and any CSV reader's
    float syntax).

    >>> score_text(0.4999996), score_text(0.000761234567), score_text(0.00050000001)
    ('0.500000', '0.000761235', '0.0005')
    >>> score_text(0.0009999996), score_text(0.0), score_text(3.14159265e-7)
    ('0.001000', '0.000000', '3.14159e-07')
    """
    value = float(score)
    if value == 0 or abs(value) >= SMALL_SCORE:  # most rows: formatted once, no rounding
        return f"{value:.{SCORE_DECIMALS}f}"    # first (the same digits: both round once)
    value = shown_score(value)
    if value == 0 or abs(value) >= SMALL_SCORE:
        return f"{value:.{SCORE_DECIMALS}f}"
    return f"{value:.{SCORE_DIGITS}g}"


def shown_scores(scores: npt.ArrayLike) -> np.ndarray:
    """:func:`shown_score` of each of ``scores`` (float64, same shape)."""
    import numpy as np

    values = np.asarray(scores, dtype=np.float64)
    out = np.round(values, SCORE_DECIMALS)
    small = (values != 0) & ~(np.abs(values) >= SMALL_SCORE)
    if small.any():
        out[small] = [shown_score(v) for v in values[small].tolist()]
    return out
