"""The estimator contract every tagsmith model family follows.

Like scikit-learn's: the constructor stores keyword-only hyper-parameters verbatim
and validates nothing; ``fit(X, Y, sample_weight=None)`` validates, learns state in
attributes ending in ``_`` and returns ``self``; ``predict_topk(X, k)`` returns a
:class:`~tagsmith.topk.TopK`. Optional capabilities are declared in
``capabilities`` rather than assumed. ``to_state``/``from_state`` give the fitted
state as JSON-able metadata plus numpy arrays, so bundles never need pickle.
"""

from __future__ import annotations

import logging
import numbers
import os
from typing import Any, ClassVar, NoReturn, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_param_names, keyword_params
from tagsmith._plural import plural_s
from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.exceptions import InvalidParameterError, NotFittedError
from tagsmith.topk import TopK

logger = logging.getLogger("tagsmith")

#: capability names a model may declare
SAMPLE_WEIGHT = "sample_weight"
SOFT_TARGETS = "soft_targets"
PARTIAL_FIT = "partial_fit"
NEW_LABELS = "new_labels"
#: ``predict_topk(X, k).head(j)`` is exactly ``predict_topk(X, j)`` for every ``j <= k``
#: (ties included), so one scoring at the widest k serves several widths
NESTED_TOPK = "nested_topk"
#: ``predict_topk_among(X, k, labels)`` (``labels``: ascending label ids) is exactly the
#: first ``k`` of ``labels`` in ``predict_topk(X, n_labels)``'s ranking, padded to ``k``,
#: with their scores, from those labels' scores alone (an allow list's labels are
#: scored, not every label); a keyword ``columns`` (a dict, or None) keeps what it
#: copies of those labels' weights for the caller's next call with the same labels
COLUMN_TOPK = "column_topk"
#: ``score_batches(X)`` yields ``(start, scores)``: every label's score of the rows from
#: ``start`` on, a dense float32 block, exactly the scores ``predict_topk`` ranks (ties
#: to the lower id there); a calibrated suggest's allow list longer than ``k`` reads
#: each row's ranking once from them instead of asking for wider top-k in rounds
SCORE_BATCHES = "score_batches"


def takes_groups(model: BaseModel) -> bool:
    """Whether ``model.fit`` takes ``groups=`` (one integer id per document, equal texts
    sharing one, e.g. :func:`tagsmith.pipeline.train.duplicate_groups`), to keep equal
    texts on one side of a split it draws itself (the ensemble's ``weights="auto"``
    tuning split). Whoever fits a model on texts passes them to one that does. The
    model's class says so in :attr:`BaseModel.fit_takes_groups`.

    >>> from tagsmith.models.ensemble import EnsembleModel
    >>> from tagsmith.models.linear import LinearOVR
    >>> takes_groups(EnsembleModel()), takes_groups(LinearOVR())
    (True, False)
    """
    return model.fit_takes_groups


class BaseModel:
    """Base class: parameter handling, input validation and the fitted check."""

    name: ClassVar[str] = "base"
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: whether ``fit`` takes ``groups=`` (see :func:`takes_groups`): a family that
    #: draws a split of its own declares it, so callers pass the texts' groups to it
    fit_takes_groups: ClassVar[bool] = False
    #: the number of labels, set by ``fit`` (its absence means not fitted)
    n_labels_: int

    # -- parameters (sklearn style) ----------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        return keyword_params(cls)

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's parameters as stored. ``deep`` is scikit-learn's (its
        ``clone``, ``GridSearchCV`` and ``Pipeline`` pass ``deep=False``, which was a
        TypeError): no parameter is an estimator of its own (an ensemble's members are
        ``[name, params]`` lists), so both give the same."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseModel:
        check_param_names(type(self), params)
        for key, value in params.items():
            setattr(self, key, value)
        return self

    @classmethod
    def params_from_json(cls, params: dict) -> dict:
        """``params`` as read back from a bundle's JSON: for each parameter whose default
        is a float (``C``, ``tol``, ...), the string strict JSON writes for a float it
        cannot hold is that float again (``-p C=Infinity`` is saved as ``"C":
        "Infinity"``, see :mod:`tagsmith._json`), so the loaded model has the parameters
        it was trained with and can be fitted again with them.

        >>> from tagsmith.models.linear import LinearOVR
        >>> LinearOVR.params_from_json({"C": "Infinity", "loss": "logistic"})
        {'C': inf, 'loss': 'logistic'}
        """
        import inspect

        from tagsmith._json import number_from_json

        floats = {name for name, parameter in inspect.signature(cls).parameters.items()
                  if isinstance(parameter.default, float)}
        return {key: number_from_json(value) if key in floats else value
                for key, value in params.items()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- contract ----------------------------------------------------------------------
    def fit(self, X: FeatureMatrix, Y: LabelMatrix, sample_weight: npt.ArrayLike | None = None
            ) -> BaseModel:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_topk(self, X: FeatureMatrix, k: int) -> TopK:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> BaseModel:  # pragma: no cover
        raise NotImplementedError

    def uses_label_features(self) -> bool:
        """Whether ``fit`` reads label-name features (``fit(..., label_features=...)``,
        labels x features): a ``label_feature_weight`` above 0. Callers featurize the
        label names only for a model that says so."""
        weight = getattr(self, "label_feature_weight", None)
        return isinstance(weight, numbers.Real) and not isinstance(weight, bool) \
            and float(weight) > 0

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_labels_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() first")

    # -- threads (for models with an ``n_jobs`` parameter) ---------------------------------
    def _checked_n_jobs(self) -> int | None:
        """``n_jobs`` as a plain int (or ``None``); a bad one is refused by name. The
        model is not modified (prediction checks it too)."""
        n_jobs = getattr(self, "n_jobs", None)
        if n_jobs is None:
            return None
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
            raise InvalidParameterError("n_jobs", "None, a positive integer or -1", n_jobs)
        return int(n_jobs)

    def _check_n_jobs(self) -> None:
        """Refuse a bad ``n_jobs`` by name; a numpy integer passes and is stored back as
        a plain int (``get_params()`` goes into the bundle's JSON)."""
        n_jobs = self._checked_n_jobs()
        if n_jobs is not None:
            self.n_jobs: int | None = n_jobs

    def _n_threads(self) -> int:
        """Threads to use: ``n_jobs``, or every core for ``None`` and negative values."""
        n_jobs = getattr(self, "n_jobs", None)
        if n_jobs is None or n_jobs < 0:
            return os.cpu_count() or 1
        return n_jobs


def _describe(value) -> str:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None:
        return f"shape {shape}" + (f" (dtype {dtype})" if dtype is not None else "")
    return type(value).__name__


def as_float32_csr(value: sp.spmatrix | sp.sparray | npt.ArrayLike, name: str, expected: str,
                   *, copy: bool = False) -> sp.csr_matrix:
    """``value`` (sparse, dense or nested lists) as a float32 CSR matrix, or
    :class:`InvalidParameterError` naming ``name`` when it is no 2-D matrix of numbers
    (scipy's "CSR arrays don't yet support 3D", numpy's "could not convert string to
    float" otherwise)."""
    if not sp.issparse(value):
        try:
            dense = np.asarray(value)
        except (TypeError, ValueError):
            raise InvalidParameterError(name, expected, _describe(value)) from None
        if dense.ndim > 2:
            raise InvalidParameterError(name, expected, f"{dense.ndim}-D array")
        if dense.dtype.kind not in "biuf":
            raise InvalidParameterError(name, expected + " of real numbers", _describe(dense))
    elif cast("sp.spmatrix", value).dtype.kind not in "biuf":  # sparse here (cast: for mypy)
        # complex: the float32 conversion dropped the imaginary part
        raise InvalidParameterError(name, expected + " of real numbers", _describe(value))
    try:
        return sp.csr_matrix(value, dtype=np.float32, copy=copy)
    except (TypeError, ValueError):
        raise InvalidParameterError(name, expected + " of numbers", _describe(value)) from None


def refuse_non_finite_features(given: FeatureMatrix | npt.ArrayLike) -> NoReturn:
    """Raise :class:`InvalidParameterError` for ``X`` whose float32 copy holds a NaN or
    an infinity, saying which of the two ``given`` (the caller's matrix) held: a NaN or
    an infinity of its own, or finite values too large for float32 (magnitude above
    about 3.4e38), which turned infinite when converted."""
    try:
        values = sp.csr_matrix(given).data if sp.issparse(given) else np.asarray(given)
        if values.dtype == object:  # nested lists of Python ints beyond int64
            values = values.astype(np.float64)
        out_of_range = values.size > 0 and bool(np.all(np.isfinite(values)))
    except (TypeError, ValueError, OverflowError):
        out_of_range = False
    if out_of_range:
        limit = float(np.finfo(np.float32).max)
        n_beyond = int(np.sum(np.abs(values) > limit))
        raise InvalidParameterError(
            "X", f"feature values a float32 holds (magnitude at most {limit:.4g})",
            f"{n_beyond} value{plural_s(n_beyond)} beyond float32's range (largest magnitude "
            f"{float(np.max(np.abs(values))):.4g})" if n_beyond else
            "an entry stored several times whose parts sum beyond float32's range")
    raise InvalidParameterError("X", "finite feature values", "NaN or infinity")


def _int32_indices(X: sp.csr_matrix) -> sp.csr_matrix:
    """``X`` with int32 ``indices`` and ``indptr`` where they fit, sharing its values.

    scipy keeps a matrix's int64 index arrays (a caller's own, or from stacking large
    parts), and the compiled kernels are typed by their arguments: int64 indices made
    numba compile the solver and the tree's beam search a second time (15-30 s on
    first use). Only the index arrays are copied, and only when they are int64; a
    matrix too large for int32 indices keeps them."""
    if X.indices.dtype == np.int32 and X.indptr.dtype == np.int32:
        return X
    limit = np.iinfo(np.int32).max
    if X.nnz > limit or max(X.shape) > limit:
        return X
    return sp.csr_matrix((X.data, X.indices.astype(np.int32), X.indptr.astype(np.int32)),
                         shape=X.shape)


def dense_float32_2d(X: npt.ArrayLike) -> np.ndarray:
    """Dense ``X`` (an array or nested lists) as a 2-D float32 array, or
    :class:`InvalidParameterError` naming ``X``: complex numbers would lose their imaginary
    part and strings would be parsed, and numpy's own words for ragged rows do not say
    which argument was wrong."""
    try:
        kind = np.asarray(X).dtype.kind
        if kind in "cSUV":
            raise TypeError(kind)
        out = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidParameterError("X", "a 2-D feature matrix of real numbers",
                                    _describe(X)) from None
    if out.ndim != 2:
        raise InvalidParameterError("X", "a 2-D feature matrix", f"{out.ndim}-D array")
    return out


def check_features(X: FeatureMatrix, *, n_features: int | None = None) -> sp.csr_matrix:
    """Validate a feature matrix and return it as CSR float32."""
    given = X
    if sp.issparse(X):
        X = _int32_indices(as_float32_csr(X, "X", "a 2-D feature matrix"))
        if not X.has_canonical_format:
            # an entry stored twice means the sum, but the compiled kernels read entries
            # one by one (the solver's row norms squared each part): sum them, on a copy
            # (the arrays may be the caller's), and keep the caller's order otherwise
            summed = X.copy()
            summed.sum_duplicates()
            if summed.nnz != X.nnz:
                X = summed
    else:
        X = sp.csr_matrix(dense_float32_2d(X))
    if X.nnz and not np.all(np.isfinite(X.data)):
        refuse_non_finite_features(given)
    if n_features is not None and X.shape[1] != n_features:
        raise InvalidParameterError("X", f"{n_features} feature column{plural_s(n_features)}",
                                    X.shape[1])
    return X


def check_targets(Y: LabelMatrix, n_docs: int, *, soft_ok: bool) -> sp.csr_matrix:
    """Validate a targets matrix (docs x labels) with values in [0, 1] to fit on.

    There must be something to learn: at least one document, and at least one
    positive target among them (a model fitted on none, or on an all-zero ``Y``,
    used to fit silently and rank labels by their column order).

    Returns a matrix of its own: models sum duplicates, drop zeros and sort in place,
    which must not touch the caller's arrays."""
    given = Y
    Y = as_float32_csr(Y, "Y", "a 2-D target matrix (documents x labels)", copy=True)
    if Y.shape[0] != n_docs:
        raise InvalidParameterError("Y", f"{n_docs} row{plural_s(n_docs)} (one per document)",
                                    Y.shape[0])
    if Y.shape[1] < 1:
        raise InvalidParameterError("Y", "at least one label column", Y.shape[1])
    if n_docs == 0:
        raise InvalidParameterError("Y", "the targets of at least one document to fit on",
                                    "0 rows")
    Y.sum_duplicates()
    n_nan = int(np.isnan(Y.data).sum())
    if n_nan:  # the range of data holding a NaN reads "range [nan, nan]"
        raise InvalidParameterError("Y", "target values in [0, 1]",
                                    f"{n_nan} NaN value{plural_s(n_nan)}")
    if Y.nnz and (Y.data.min() < 0 or Y.data.max() > 1):
        got = f"range [{Y.data.min()}, {Y.data.max()}]"
        duplicate = _duplicate_entry(given)
        if duplicate is not None:  # two 1s for one label read "range [1.0, 2.0]"
            got += (f": duplicate entries for (row {duplicate[0]}, column {duplicate[1]}) "
                    "were summed (scipy sums an entry stored more than once); store each "
                    "(document, label) once")
        raise InvalidParameterError("Y", "target values in [0, 1]", got)
    if not soft_ok and Y.nnz and np.any((Y.data > 0) & (Y.data < 1)):
        raise InvalidParameterError("Y", "binary targets (this model has no soft targets)",
                                    "values strictly between 0 and 1")
    if not np.any(Y.data):
        raise InvalidParameterError("Y", "at least one positive target (a label of some "
                                    "document) to fit on",
                                    f"all zeros ({n_docs} document{plural_s(n_docs)} x "
                                    f"{Y.shape[1]} label{plural_s(Y.shape[1])})")
    return Y


def _duplicate_entry(given) -> tuple[int, int] | None:
    """The first (row, column), in row order, that a sparse ``given`` stores more than
    once (a CSR or COO matrix built from repeated pairs) with values that sum outside
    [0, 1], or None.

    >>> _duplicate_entry(sp.coo_matrix(([1, 1, 1], ([1, 0, 1], [2, 0, 2])), shape=(2, 3)))
    (1, 2)
    >>> print(_duplicate_entry(sp.coo_matrix(([.5, .5], ([0, 0], [1, 1])), shape=(1, 2))))
    None
    """
    if not sp.issparse(given):
        return None
    coo = given.tocoo()  # keeps duplicates as they are stored
    if coo.nnz < 2:
        return None
    order = np.lexsort((coo.col, coo.row))
    rows, cols = coo.row[order], coo.col[order]
    starts = np.flatnonzero(np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])])
    sums = np.add.reduceat(np.asarray(coo.data, dtype=np.float64)[order], starts)
    repeated = np.diff(np.r_[starts, len(rows)]) > 1
    bad = np.flatnonzero(repeated & ((sums < 0) | (sums > 1)))
    return (int(rows[starts[bad[0]]]), int(cols[starts[bad[0]]])) if bad.size else None


def check_sample_weight(sample_weight: npt.ArrayLike | None, n_docs: int,
                        name: str = "sample_weight") -> np.ndarray | None:
    """``n_docs`` finite non-negative numbers as float64 (``None`` passes), else
    :class:`InvalidParameterError` naming ``name`` (also used for the vote weights a
    kNN bundle stores). Strings are refused, not parsed."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    # not complex: its imaginary part was dropped without a word
    if weights.shape != (n_docs,) or weights.dtype.kind not in "biuf":
        raise InvalidParameterError(name, f"shape ({n_docs},) numbers",
                                    f"shape {weights.shape} (dtype {weights.dtype})")
    weights = weights.astype(np.float64)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise InvalidParameterError(name, "finite non-negative weights",
                                    "negative or non-finite values")
    return weights


def check_groups(groups: npt.ArrayLike, n_docs: int, *, name: str = "groups",
                 docs: str = "document", hint: str = "") -> np.ndarray:
    """``groups`` as a 1-D int64 array of one group id per document, else
    :class:`InvalidParameterError` naming it (``name``; ``docs`` says which documents,
    ``hint`` how to make them, e.g. ``": duplicate_groups(pool_texts)"``)."""
    array = np.asarray(groups)
    if array.shape != (n_docs,) or (array.size and array.dtype.kind not in "iu"):
        raise InvalidParameterError(name, f"one integer group id per {docs} ({n_docs}){hint}",
                                    f"an array of shape {array.shape}, dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def scaled_weights(weights: np.ndarray) -> np.ndarray:
    """``weights`` times the power of two that brings the largest into [1, 2).

    For sums of products over the weights that end as ratios (a kNN vote share, a
    weighted mean): a power of two scales every product and sum exactly, so the results
    keep their bits, but two weights of 1e308 summed to infinity (NaN results) and
    weights near 1e-320 had lost their digits in the products. Weights whose largest is
    in [1, 2) (all 1: unweighted), or is 0 or not finite, are returned as they are.

    >>> scaled_weights(np.array([2.0 ** 1023, 2.0 ** 1022])).tolist()
    [1.0, 0.5]
    """
    top = float(weights.max(initial=0.0))
    if not 0 < top < float("inf"):
        return weights
    return np.ldexp(weights, 1 - int(np.frexp(top)[1]))


def check_weighted_targets(Y: sp.csr_matrix, weights: np.ndarray | None) -> None:
    """Refuse, naming ``sample_weight``, weights that leave nothing to learn: weight 0 on
    every document with a positive target. Documents of weight 0 are left out of
    fitting, so such a fit saw no positive at all (what :func:`check_targets` refuses
    for ``Y``), fitted silently and ranked every document's labels alike."""
    if weights is None:
        return
    has_positive = np.zeros(Y.shape[0], dtype=bool)
    rows = np.repeat(np.arange(Y.shape[0]), np.diff(Y.indptr))
    has_positive[rows[Y.data > 0]] = True
    if not np.any(weights[has_positive] > 0):
        raise InvalidParameterError(
            "sample_weight", "a weight above 0 on at least one document with a positive "
            "target", f"0 on all {int(has_positive.sum())} such documents")


def warn_if_all_pruned(model: str, prune_threshold: float, n_weights: int, X: sp.csr_matrix
                       ) -> None:
    """Warn when ``prune_threshold`` dropped every weight of a model trained on features.

    Such a model scores every document by its biases alone, so it gives every document
    the same labels; nothing else says so (``prune_threshold=inf`` or any value above
    the largest weight does it).
    """
    if n_weights == 0 and prune_threshold > 0 and X.nnz and np.any(X.data):
        logger.warning("%s: prune_threshold=%g dropped every weight; the model scores "
                       "from its biases alone and gives every document the same labels "
                       "(lower prune_threshold)", model, prune_threshold)
