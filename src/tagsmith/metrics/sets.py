"""Set metrics on predicted label sets: micro, macro and per-sample F1.

``y_true`` and ``y_pred`` are ``n_docs x n_labels`` label matrices: scipy sparse
(any format, any dtype; a nonzero entry means "in the set"), a dense 0/1 or boolean
array, or anything :class:`scipy.sparse.csr_matrix` accepts. Nothing is densified:
true positives come from an elementwise product of the two CSR matrices, and per
label / per document counts from ``np.bincount`` on the column indices and from the
row pointers, so the cost is ``O(nnz)`` at any label-space size.

Zero denominators follow scikit-learn with ``zero_division=0``: a precision, recall
or F1 whose denominator is 0 is 0 (``f1_samples`` lets you choose the value for a
document whose true and predicted sets are both empty).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_number
from tagsmith._plural import plural_s
from tagsmith._typing import LabelMatrix
from tagsmith.exceptions import InvalidParameterError

__all__ = [
    "as_label_matrix",
    "f1_macro",
    "f1_micro",
    "f1_samples",
    "per_label_counts",
    "per_label_f1",
    "precision_micro",
    "recall_micro",
    "wilson_interval",
]


def as_label_matrix(y: LabelMatrix, name: str = "y_true", *, copy: bool = True) -> sp.csr_matrix:
    """A canonical boolean CSR copy of a label matrix (nonzero = in the set).

    Duplicate entries are summed first (scipy's convention, in a wide dtype: an int8
    ``1`` stored 256 times summed to 0 in its own and the label was lost), explicit
    zeros dropped, column indices sorted. Raises :class:`InvalidParameterError` naming ``name`` when
    ``y`` is not a 2-D matrix. ``copy=False`` takes over a CSR ``y`` the caller made
    for this and will not use again (such as :func:`check_label_values`' copy): its
    arrays are shared and may be changed, instead of copied once more.

    >>> as_label_matrix([[0, 2], [0, 0]]).toarray().tolist()
    [[False, True], [False, False]]
    """
    matrix = _to_csr(y, name, copy=copy)
    sum_duplicates_wide(matrix)
    out = sp.csr_matrix((matrix.data != 0, matrix.indices, matrix.indptr), shape=matrix.shape)
    out.eliminate_zeros()
    return out


def check_label_values(y_true: LabelMatrix, name: str = "y_true", *, soft_ok: bool = False
                       ) -> sp.csr_matrix:
    """``y_true`` as a CSR copy once its values are labels 0 or 1 (booleans, or numbers
    0 and 1; 1 = a true label), else :class:`InvalidParameterError` naming ``name``.

    For held-out labels that tune or fit something: a NaN or a 2 was counted as a true
    label, a -1 too, and a fraction such as 0.5 (a soft target, whose true labels are
    its nonzero entries: pass ``y != 0``). With ``soft_ok`` values in [0, 1] pass
    (nonzero = a label): label audits take soft labels on purpose.

    >>> check_label_values([[0, 1], [1, 0]]).toarray().tolist()
    [[0, 1], [1, 0]]
    >>> try:
    ...     check_label_values([[0, 0.5]])
    ... except InvalidParameterError as exc:
    ...     print(exc)
    ... # doctest: +NORMALIZE_WHITESPACE
    parameter 'y_true' must be labels 0 or 1 (or true/false), got '1 other value, e.g.
    0.5 at document 0, label 1 (counted from 0)'
    """
    y = _entries_as_csr(y_true) if isinstance(y_true, sp.coo_matrix | sp.coo_array) \
        and y_true.ndim == 2 else _to_csr(y_true, name)
    if y.dtype.kind not in "biuf":
        raise InvalidParameterError(name, "a numeric or boolean label matrix",
                                    f"dtype {y.dtype}")
    # each stored value is checked, before duplicates are merged: a 1 stored twice
    # summed to 2 and was refused as a label of 2 no input held
    data = y.data  # compared in its own dtype: no float64 copy of every entry
    if soft_ok:
        bad = ~((data >= 0) & (data <= 1))  # NaN fails both
        expected = "labels in [0, 1] (0 or 1; no NaN)"
    else:
        bad = ~((data == 0) | (data == 1))  # NaN fails both
        expected = "labels 0 or 1 (or true/false)"
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        count = int(bad.sum())
        raise InvalidParameterError(
            name, expected, f"{count} other value{plural_s(count)}, e.g. "
            f"{data[first]:g} {_entry_position(y, first)}")
    merge_duplicate_labels(y)
    return y


def _entries_as_csr(coo: sp.coo_matrix | sp.coo_array) -> sp.csr_matrix:
    """A COO matrix's stored entries as a CSR matrix, each kept: scipy's conversion sums
    a pair stored twice, and a label stored twice (1 + 1) was refused as a 2."""
    row, col = np.asarray(coo.row), np.asarray(coo.col)
    order = np.lexsort((col, row))
    indptr = np.zeros(coo.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=coo.shape[0]), out=indptr[1:])
    return sp.csr_matrix((np.asarray(coo.data)[order], col[order], indptr), shape=coo.shape)


def _entry_position(y: sp.csr_matrix, entry: int) -> str:
    """Where stored entry number ``entry`` of ``y`` is: its document (row) and label
    (column), counted from 0, and how often that pair is stored where more than once."""
    row = int(np.searchsorted(y.indptr, entry, side="right")) - 1
    column = int(y.indices[entry])
    stored = int(np.count_nonzero(y.indices[y.indptr[row]:y.indptr[row + 1]] == column))
    again = f", stored {stored} times" if stored > 1 else ""
    return f"at document {row}, label {column}{again} (counted from 0)"


def sum_duplicates_wide(matrix: sp.csr_matrix) -> None:
    """``matrix.sum_duplicates()`` in place, summed in a wide dtype (int64 or float64)
    where it holds duplicates: in an int8 or uint8 matrix a label stored 128 or 256
    times overflowed, to a negative number or to 0 (then dropped as no label). A
    boolean matrix is left boolean (its sum is a logical or, which cannot overflow)."""
    if matrix.has_canonical_format:
        return
    kind = matrix.dtype.kind
    if kind in "iu" and matrix.dtype.itemsize < 8:
        matrix.data = matrix.data.astype(np.int64)
    elif kind == "f" and matrix.dtype.itemsize < 8:
        matrix.data = matrix.data.astype(np.float64)
    matrix.sum_duplicates()


def first_duplicate(y: sp.csr_matrix) -> tuple[int, int, int] | None:
    """(document, label, times stored) of the first pair ``y`` stores more than once
    (rows and columns counted from 0), or None; sorts ``y``'s column indices."""
    if y.has_canonical_format:
        return None
    rows, new = _pair_starts(y)
    if new.all():
        return None
    entry = int(np.flatnonzero(~new)[0])  # the second entry of the first repeated pair
    row, column = int(rows[entry]), int(y.indices[entry])
    span = y.indices[y.indptr[row]:y.indptr[row + 1]]
    return row, column, int(np.count_nonzero(span == column))


def _pair_starts(y: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Each stored entry's row, and whether it is the first entry of its (document,
    label) pair, once ``y``'s column indices are sorted (in place): the entries of a
    pair stored more than once are then adjacent."""
    y.sort_indices()
    rows = np.repeat(np.arange(y.shape[0], dtype=np.int64), np.diff(y.indptr))
    new = np.ones(y.nnz, bool)
    new[1:] = (rows[1:] != rows[:-1]) | (y.indices[1:] != y.indices[:-1])
    return rows, new


def merge_duplicate_labels(y: sp.csr_matrix) -> None:
    """Merge the entries ``y`` stores more than once for a document and label, in place,
    keeping the largest: each a valid label (0 or 1, or a soft one in [0, 1]), a 1
    stored twice is one label, not a label of 2; column indices end up sorted."""
    if y.has_canonical_format:
        return
    starts = np.flatnonzero(_pair_starts(y)[1])
    data = np.maximum.reduceat(y.data, starts) if y.nnz else y.data
    indices = y.indices[starts]
    indptr = np.searchsorted(starts, y.indptr).astype(y.indptr.dtype)
    y.data, y.indices, y.indptr = data.astype(y.dtype, copy=False), indices, indptr
    y.has_canonical_format = True


def _to_csr(y, name: str, copy: bool = True) -> sp.csr_matrix:
    if sp.issparse(y):
        if len(y.shape) != 2:
            raise InvalidParameterError(name, "a 2-D label matrix", f"shape {y.shape}")
        return sp.csr_matrix(y, copy=copy)
    try:
        arr = np.asarray(y)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(name, "a sparse or dense 2-D label matrix",
                                    type(y).__name__) from exc
    if arr.ndim != 2:
        raise InvalidParameterError(name, "a 2-D label matrix", f"{arr.ndim}-D array")
    try:
        return sp.csr_matrix(arr)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(name, "a numeric or boolean label matrix",
                                    f"dtype {arr.dtype}") from exc


def _safe_div(num, den) -> np.ndarray:
    """``num / den`` elementwise, 0 where ``den`` is 0 (float64)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


@dataclass(frozen=True)
class _Counts:
    """True-positive, predicted and true counts per label and per document."""

    tp_label: np.ndarray
    pred_label: np.ndarray
    true_label: np.ndarray
    tp_doc: np.ndarray
    pred_doc: np.ndarray
    true_doc: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """Labels that occur in ``y_true`` or ``y_pred``."""
        return (self.pred_label + self.true_label) > 0


def _counts(y_true, y_pred, *, copy: bool = True) -> _Counts:
    """``copy=False``: both are CSR copies the caller made for this (as
    :func:`as_label_matrix` takes them), not copied once more."""
    y_true = as_label_matrix(y_true, "y_true", copy=copy)
    y_pred = as_label_matrix(y_pred, "y_pred", copy=copy)
    if y_pred.shape != y_true.shape:
        raise InvalidParameterError("y_pred", f"a label matrix of shape {y_true.shape} "
                                    "(like y_true)", f"shape {y_pred.shape}")
    tp = sp.csr_matrix(y_true.multiply(y_pred))
    tp.eliminate_zeros()
    n_labels = y_true.shape[1]

    def per_label(m):
        return np.bincount(m.indices, minlength=n_labels).astype(np.int64)

    def per_doc(m):
        return np.diff(m.indptr).astype(np.int64)

    return _Counts(per_label(tp), per_label(y_pred), per_label(y_true),
                   per_doc(tp), per_doc(y_pred), per_doc(y_true))


def _strict_counts(y_true, y_pred) -> _Counts:
    """:func:`_counts` once both matrices' values are labels 0 or 1, as
    :func:`~tagsmith.metrics.evaluate` takes them (an error naming ``y_true`` or
    ``y_pred`` otherwise): each public metric counted any nonzero entry as a label, a
    NaN gap, a 2 or a 0.5 a label nobody gave."""
    return _counts(check_label_values(y_true, "y_true"), check_label_values(y_pred, "y_pred"),
                   copy=False)  # the checks' own copies


def _precision_micro(c: _Counts) -> float:
    return float(_safe_div(c.tp_label.sum(), c.pred_label.sum()))


def _recall_micro(c: _Counts) -> float:
    return float(_safe_div(c.tp_label.sum(), c.true_label.sum()))


def _f1_micro(c: _Counts) -> float:
    return float(_safe_div(2 * c.tp_label.sum(), c.pred_label.sum() + c.true_label.sum()))


def precision_micro(y_true: LabelMatrix, y_pred: LabelMatrix) -> float:
    """Micro precision: all true positives / all predicted labels (0 if none predicted).

    >>> precision_micro([[1, 0, 1], [0, 1, 0]], [[1, 1, 0], [0, 1, 0]])
    0.6666666666666666
    """
    return _precision_micro(_strict_counts(y_true, y_pred))


def recall_micro(y_true: LabelMatrix, y_pred: LabelMatrix) -> float:
    """Micro recall: all true positives / all true labels (0 if there are none).

    >>> recall_micro([[1, 0, 1], [0, 1, 0]], [[1, 1, 0], [0, 1, 0]])
    0.6666666666666666
    """
    return _recall_micro(_strict_counts(y_true, y_pred))


def f1_micro(y_true: LabelMatrix, y_pred: LabelMatrix) -> float:
    """Micro F1: ``2 TP / (|predicted| + |true|)`` pooled over all documents and labels.

    0 when both are empty (sklearn ``f1_score(average="micro", zero_division=0)``).

    >>> f1_micro([[1, 0, 1], [0, 1, 0]], [[1, 1, 0], [0, 1, 0]])
    0.6666666666666666
    """
    return _f1_micro(_strict_counts(y_true, y_pred))


def per_label_f1(y_true: LabelMatrix, y_pred: LabelMatrix
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-label ``(precision, recall, f1, support)``, each of shape ``(n_labels,)``.

    precision = TP / predicted, recall = TP / true, F1 = 2 TP / (predicted + true),
    each 0 where its denominator is 0 (sklearn ``precision_recall_fscore_support``
    with ``average=None, zero_division=0``); support is the number of true documents
    (int64).

    >>> p, r, f, s = per_label_f1([[1, 0, 1], [1, 1, 0]], [[1, 1, 0], [0, 1, 0]])
    >>> p.tolist(), r.tolist(), f.round(3).tolist(), s.tolist()
    ([1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.667, 0.667, 0.0], [2, 1, 1])
    """
    c = _strict_counts(y_true, y_pred)
    return (_safe_div(c.tp_label, c.pred_label), _safe_div(c.tp_label, c.true_label),
            _safe_div(2 * c.tp_label, c.pred_label + c.true_label), c.true_label)


def wilson_interval(successes: npt.ArrayLike, trials: npt.ArrayLike, *,
                    confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the proportions ``successes / trials`` (elementwise):
    ``(low, high)``, NaN where ``trials`` is 0.

    Unlike the normal approximation it stays inside [0, 1] and is not of width 0 at 0
    or ``trials`` successes: 9 of 10 is 0.596-0.982, 0 of 6 is 0-0.390, where a precision
    or recall of 1.0 or 0.0 on a rare label's handful of documents reads as certain.

    >>> low, high = wilson_interval([9, 0], [10, 6])
    >>> low.round(3).tolist(), high.round(3).tolist()
    ([0.596, 0.0], [0.982, 0.39])
    """
    if check_number("confidence", confidence, 0, strict=True, numpy=True, maximum=1) >= 1:
        # the quantile of 1 is infinite: every interval [0, 1]
        raise InvalidParameterError("confidence", "a number in (0, 1)", confidence)
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if k.shape != n.shape or np.any(k < 0) or np.any(k > n):
        raise InvalidParameterError("successes", "counts from 0 to trials, shaped like it",
                                    f"{k.tolist()} of {n.tolist()}")
    # imported here: scipy.special is 6 MiB and 0.05 s of every suggest and eval, which
    # import this module and need the interval only for --per-label
    from scipy.special import ndtri

    z = float(ndtri(0.5 + confidence / 2))
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # exactly 0 (1) where no (every) trial succeeded: rounding left 1e-17 above 0
    low[(n > 0) & (k == 0)] = 0.0
    high[(n > 0) & (k == n)] = 1.0
    return low, high


def per_label_counts(y_true: LabelMatrix, y_pred: LabelMatrix
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per label, ``(true_positives, predicted, support)`` (int64, shape ``(n_labels,)``):
    what :func:`per_label_f1`'s ratios are of, for intervals on them
    (:func:`wilson_interval`).

    >>> [c.tolist() for c in per_label_counts([[1, 0, 1], [1, 1, 0]], [[1, 1, 0], [0, 1, 0]])]
    [[1, 1, 0], [1, 2, 0], [2, 1, 1]]
    """
    c = _strict_counts(y_true, y_pred)
    return c.tp_label, c.pred_label, c.true_label


def _macro(c: _Counts, labels: str) -> float:
    f1 = _safe_div(2 * c.tp_label, c.pred_label + c.true_label)
    if labels == "present":
        f1 = f1[c.present]
    elif labels != "all":
        raise InvalidParameterError("labels", '"present" or "all"', labels)
    return float(f1.mean()) if f1.size else 0.0


def f1_macro(y_true: LabelMatrix, y_pred: LabelMatrix, labels: str = "present") -> float:
    """Macro F1: the unweighted mean of per-label F1.

    ``labels="present"`` (default) averages over the labels that occur in ``y_true``
    or ``y_pred`` -- F1 is undefined (0/0) for the others -- which equals sklearn
    ``f1_score(average="macro", labels=<those labels>, zero_division=0)``; 0.0 if no
    label occurs. ``labels="all"`` averages over all ``n_labels`` columns, counting
    empty ones as 0 (sklearn ``f1_score(average="macro", zero_division=0)``).

    >>> y_true, y_pred = [[1, 0, 0], [1, 1, 0]], [[1, 0, 0], [0, 0, 0]]
    >>> f1_macro(y_true, y_pred), f1_macro(y_true, y_pred, labels="all")
    (0.3333333333333333, 0.2222222222222222)
    """
    return _macro(_strict_counts(y_true, y_pred), labels)


def _samples(c: _Counts, zero_division: float) -> float:
    if c.tp_doc.size == 0:
        return 0.0
    den = c.pred_doc + c.true_doc
    f1 = _safe_div(2 * c.tp_doc, den)
    if np.isnan(zero_division):  # sklearn: such documents leave the average
        f1 = f1[den > 0]
        return float(f1.mean()) if f1.size else float("nan")
    f1[den == 0] = zero_division
    return float(f1.mean())


def f1_samples(y_true: LabelMatrix, y_pred: LabelMatrix, zero_division: float = 0.0) -> float:
    """Per-document F1 ``2 TP_i / (|pred_i| + |true_i|)``, averaged over documents.

    A document whose true and predicted sets are both empty scores ``zero_division``, a
    number in [0, 1] (sklearn ``f1_score(average="samples", zero_division=...)`` allows
    0.0 and 1.0); NaN, as in sklearn, leaves such documents out of the average (NaN if
    every document is one). 0.0 for no documents.

    >>> f1_samples([[1, 0], [0, 0]], [[1, 1], [0, 0]]), f1_samples(
    ...     [[1, 0], [0, 0]], [[1, 1], [0, 0]], zero_division=1.0)
    (0.3333333333333333, 0.8333333333333333)
    """
    return _samples(_strict_counts(y_true, y_pred), _check_zero_division(zero_division))


def _check_zero_division(value) -> float:
    # an F1 is in [0, 1]: zero_division=2 gave an average F1 above 1
    expected = "a number in [0, 1] (usually 0.0 or 1.0) or NaN"
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError("zero_division", expected, value) from exc
    if isinstance(value, str) or not (np.isnan(number) or 0.0 <= number <= 1.0):
        raise InvalidParameterError("zero_division", expected, value)
    return number
