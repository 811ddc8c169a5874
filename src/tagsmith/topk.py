"""TopK: the universal prediction type.

For ``n`` documents a TopK holds the ``k`` best labels of each, best first:
``indices`` (int32, ``n x k``) and ``scores`` (float32, ``n x k``). Rows with fewer
than ``k`` candidates are padded with index ``-1`` and score ``-inf``. Calibration,
conformal sets, audits and metrics all consume it, so nothing ever needs a dense
documents x labels array when the label space is large.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_int, check_language
from tagsmith._plural import plural, plural_s
from tagsmith.exceptions import InvalidParameterError

PAD = -1


class _NamedLabels(Protocol):
    """What :meth:`TopK.to_columns` reads of a label space (a
    :class:`~tagsmith.data.labelspace.LabelSpace`; not imported: this module is below
    the data layer)."""

    def __len__(self) -> int: ...

    def uri_of(self, label_id: int) -> str: ...

    def name_of(self, label_id: int, lang: str = "en") -> str: ...

#: most entries of one ``indices`` or ``scores`` array (4 bytes each): numpy refuses a
#: larger one, or a dimension beyond it, with "Maximum allowed dimension exceeded" or
#: "array is too big", naming no parameter
MAX_ENTRIES = np.iinfo(np.intp).max // 4

#: most labels a TopK can hold: its ``indices`` are int32, the last id 2**31 - 1
MAX_LABELS = int(np.iinfo(np.int32).max) + 1


def _as_threshold_array(threshold, n_labels: int) -> np.ndarray:
    try:
        given = np.asarray(threshold)
        # numpy reads "0.5" as 0.5 and True as 1.0: numbers only, as every check does
        if given.dtype.kind not in "iuf":
            raise TypeError
        thr = given.astype(np.float32)
    except (TypeError, ValueError):
        raise InvalidParameterError("threshold", "a number or an array of numbers",
                                    threshold) from None
    if np.isnan(thr).any():  # NaN compares false: it silently kept nothing
        raise InvalidParameterError("threshold", "numbers (no NaN)", threshold)
    if thr.ndim == 0:
        return np.full(n_labels, float(thr), dtype=np.float32)
    if thr.shape != (n_labels,):
        raise InvalidParameterError(
            "threshold", f"a number or an array of shape ({n_labels},)", f"shape {thr.shape}"
        )
    return thr


@dataclass(frozen=True)
class TopK:
    """Sorted top-k label ids and scores for a batch of documents.

    >>> topk = TopK.from_scores(np.array([[0.1, 0.9, 0.4], [0.7, 0.2, 0.3]]), k=2)
    >>> topk.indices.tolist(), topk.scores.astype(float).round(2).tolist()
    ([[1, 2], [0, 2]], [[0.9, 0.4], [0.7, 0.3]])
    >>> topk.label_sets(0.35).toarray().astype(int).tolist()
    [[0, 1, 1], [1, 0, 0]]
    """

    indices: np.ndarray
    scores: np.ndarray
    n_labels: int

    def __post_init__(self):
        n_labels = _check_n_labels(self.n_labels)
        indices = _check_indices(self.indices, n_labels)
        scores = np.asarray(self.scores)
        if scores.dtype.kind not in "fiu":
            raise InvalidParameterError("scores", "an array of numbers", f"dtype {scores.dtype}")
        scores = np.ascontiguousarray(scores, dtype=np.float32)
        if indices.shape != scores.shape:
            raise InvalidParameterError(
                "indices/scores", "two 2-D arrays of one shape",
                f"shapes {indices.shape} and {scores.shape}",
            )
        _check_scores(indices, scores)
        _check_distinct(indices)
        _check_sorted(indices, scores)
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "n_labels", n_labels)

    @classmethod
    def _trusted(cls, indices: np.ndarray, scores: np.ndarray, n_labels: int) -> TopK:
        """A TopK of arrays valid by construction (a slice, padding or merge of checked
        TopKs, or a top-k this module computed): the checks are skipped."""
        topk = object.__new__(cls)
        object.__setattr__(topk, "indices", np.ascontiguousarray(indices, dtype=np.int32))
        object.__setattr__(topk, "scores", np.ascontiguousarray(scores, dtype=np.float32))
        object.__setattr__(topk, "n_labels", int(n_labels))
        return topk

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def empty(cls, n_docs: int, k: int, n_labels: int) -> TopK:
        """``n_docs`` rows of ``k`` padding entries (label :data:`PAD`, score ``-inf``)."""
        n_docs = _check_n_docs(n_docs)
        k = _check_width(k, n_docs)
        return cls._trusted(np.full((n_docs, k), PAD, np.int32),
                            np.full((n_docs, k), -np.inf, np.float32),
                            _check_n_labels(n_labels))

    @classmethod
    def from_scores(cls, scores: npt.ArrayLike, k: int) -> TopK:
        """Top-k of a dense ``n x n_labels`` score array (``k`` is capped at n_labels)."""
        if sp.issparse(scores):  # numpy: 'setting an array element with a sequence'
            raise InvalidParameterError("scores", "a dense 2-D array (TopK.from_csr takes a "
                                        "sparse matrix)", type(scores).__name__)
        array = _as_float32("scores", scores, np.asarray, "a 2-D array of numbers")
        if array.ndim != 2:
            raise InvalidParameterError("scores", "a 2-D array", f"{array.ndim}-D")
        _check_finite("scores", array)
        n_docs, n_labels = array.shape
        _check_label_table("scores", n_labels)
        k = _check_k(k, n_labels)
        if k == 0 or n_docs == 0:
            return cls.empty(n_docs, k, n_labels)
        if k < n_labels:
            part = _top_k_columns(array, k)
        else:
            part = np.broadcast_to(np.arange(n_labels), (n_docs, n_labels))
        part_scores = np.take_along_axis(array, part, axis=1)
        # stable order: higher score first, then lower label id (deterministic ties)
        order = np.lexsort((part, -part_scores), axis=1)
        indices = np.take_along_axis(part, order, axis=1)
        # distinct column ids in range, finite scores: nothing left to check
        return cls._trusted(indices, np.take_along_axis(part_scores, order, axis=1), n_labels)

    @classmethod
    def from_csr(cls, matrix: sp.spmatrix | sp.sparray, k: int) -> TopK:
        """Top-k of each row of a sparse score matrix; missing entries are not candidates."""
        shape = matrix.shape if sp.issparse(matrix) else np.shape(matrix)
        if len(shape) != 2:  # scipy: 'CSR arrays don't yet support 3D'; 1-D made one row
            raise InvalidParameterError("matrix", "a 2-D score matrix", f"shape {shape}")
        matrix = _as_float32("matrix", matrix, sp.csr_matrix, "a 2-D matrix of numbers")
        n_docs, n_labels = matrix.shape
        _check_label_table("matrix", n_labels)
        k = _check_k(k, n_labels)
        out = cls.empty(n_docs, k, n_labels)
        if k == 0 or matrix.nnz == 0:
            return out
        # as from_scores: a NaN would sort anywhere and poison every later step
        _check_finite("matrix", matrix.data)
        with np.errstate(over="ignore"):  # an overflowing sum: refused below
            matrix.sum_duplicates()  # one entry per (row, label): distinct ids per row
        if not np.isfinite(matrix.data).all():
            raise InvalidParameterError(
                "matrix", "numbers a float32 holds", "an entry stored several times whose "
                "parts sum beyond float32's range")
        row_of = np.repeat(np.arange(n_docs), np.diff(matrix.indptr))
        # sort entries by (row, -score, label id) then keep the first k of each row
        order = np.lexsort((matrix.indices, -matrix.data, row_of))
        # rows are the primary sort key, so sorted position p still lies in row_of[p]'s range
        rank = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], np.diff(matrix.indptr))
        ranked_rows = row_of[order]
        keep = rank < k
        out.indices[ranked_rows[keep], rank[keep]] = matrix.indices[order][keep]
        out.scores[ranked_rows[keep], rank[keep]] = matrix.data[order][keep]
        return out

    @classmethod
    def concatenate(cls, parts: Sequence[TopK]) -> TopK:
        """The rows of ``parts`` (a non-empty list of TopKs over the same labels) stacked in
        order; parts of different ``k`` are padded to the widest."""
        if isinstance(parts, TopK) or not isinstance(parts, Sequence) or not parts:
            raise InvalidParameterError("parts", "a non-empty list of TopKs",
                                        "an empty list" if isinstance(parts, Sequence)
                                        else type(parts).__name__)
        for i, part in enumerate(parts):
            if not isinstance(part, TopK):
                raise InvalidParameterError("parts", "a non-empty list of TopKs",
                                            f"{type(part).__name__} at position {i}")
        n_labels = parts[0].n_labels
        k = max(p.k for p in parts)
        padded = [p.padded_to(k) for p in parts]
        if any(p.n_labels != n_labels for p in parts):
            raise InvalidParameterError("parts", "TopKs over one label space", "different n_labels")
        return cls._trusted(np.vstack([p.indices for p in padded]),
                            np.vstack([p.scores for p in padded]), n_labels)

    # -- shape ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.indices.shape[0]

    def __array__(self, dtype=None, copy=None):
        """Refused, saying which array to take: ``np.asarray(topk)`` (and scikit-learn's
        metrics given a TopK) read it as nested documents, one a row, and failed with
        "the requested array would exceed the maximum number of dimension of 64".

        >>> np.asarray(TopK.from_scores(np.array([[0.1, 0.9]]), k=1))
        Traceback (most recent call last):
        ...
        TypeError: a TopK is no array: take .indices or .scores (documents x k, best \
first) or .to_csr() (documents x labels, scores of the top k, 0 elsewhere)
        """
        raise TypeError("a TopK is no array: take .indices or .scores (documents x k, best "
                        "first) or .to_csr() (documents x labels, scores of the top k, 0 "
                        "elsewhere)")

    def __repr__(self) -> str:
        """One line, as a user checks it at a prompt: the dataclass repr printed both
        arrays of the batch.

        >>> TopK.from_scores(np.array([[0.1, 0.9, 0.4], [0.7, 0.2, 0.3]]), k=2)
        TopK(n_docs=2, k=2, n_labels=3, n_padded=0)
        >>> TopK.empty(3, 2, n_labels=5)
        TopK(n_docs=3, k=2, n_labels=5, n_padded=6)
        """
        n_padded = int(np.count_nonzero(self.indices < 0))
        return (f"TopK(n_docs={len(self)}, k={self.k}, n_labels={self.n_labels}, "
                f"n_padded={n_padded})")

    @property
    def k(self) -> int:
        """Entries per document (columns; padded ones included)."""
        return self.indices.shape[1]

    @property
    def valid(self) -> np.ndarray:
        """Boolean ``n x k`` mask of real (non-padding) entries."""
        return self.indices >= 0

    def head(self, k: int) -> TopK:
        """The first ``k`` columns (all of them when ``k >= self.k``)."""
        k = _check_k(k, None)
        return TopK._trusted(self.indices[:, :k], self.scores[:, :k], self.n_labels)

    def rescored(self, score: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> TopK:
        """The real entries rescored by ``score(label_ids, scores)`` (1-D arrays of them),
        re-sorted best first, ties by lower label id; padding stays last. For per-label
        maps such as calibration, whose new scores need not keep the old order.

        ``score`` is called once per block of rows (the real entries of about
        :data:`BLOCK_ENTRIES` entries' rows at a time), so it must score each entry by
        its label id and score alone: a function of the whole array it is given, such as
        ``lambda ids, s: s / s.max()``, would give other scores than one call on every
        entry. It returns one finite score per entry it is given.

        >>> topk = TopK.from_scores(np.array([[0.9, 0.4, 0.1]]), k=2)
        >>> topk.rescored(lambda ids, s: s * np.array([0.2, 1.0, 1.0])[ids]).indices.tolist()
        [[1, 0]]
        """
        valid = self.valid
        scores = np.full(self.scores.shape, -np.inf, dtype=np.float32)
        # in blocks of rows: ``score`` (a calibrator's curves) and the sort make several
        # float64 and int64 temporaries per entry, 450 MB for 100,000 documents x 28
        # labels at once; each entry's score and each row's order are the same either way
        blocks = [slice(start, start + block_rows(self.k))
                  for start in range(0, max(len(self), 1), block_rows(self.k))]
        n_total = int(valid.sum())
        for rows in blocks:
            real = valid[rows]
            n_real = int(real.sum())
            # the result is trusted: a NaN, an infinity or a wrong count from ``score``
            # would make a TopK the constructor refuses (a NaN sorts anywhere)
            new = np.asarray(score(self.indices[rows][real], self.scores[rows][real]),
                             dtype=np.float32)
            if new.shape != (n_real,):
                raise _wrong_count(new.shape, n_real, n_total, rows, len(blocks), len(self))
            scores[rows][real] = new
        _check_finite("score", scores[valid])
        indices = np.empty_like(self.indices)
        for rows in blocks:
            order = np.lexsort((self.indices[rows], -scores[rows]), axis=1)
            indices[rows] = np.take_along_axis(self.indices[rows], order, axis=1)
            scores[rows] = np.take_along_axis(scores[rows], order, axis=1)
        return TopK._trusted(indices, scores, self.n_labels)

    def padded_to(self, k: int) -> TopK:
        """This TopK widened to ``k`` columns with padding entries (itself when ``k`` is
        not wider)."""
        k = check_int("k", k, 0, numpy=True)  # 1.5, True or -1 came back as if widened
        if k <= self.k:
            return self
        _check_width(k, len(self))
        extra = k - self.k
        n = len(self)
        return TopK._trusted(np.hstack([self.indices, np.full((n, extra), PAD, np.int32)]),
                             np.hstack([self.scores, np.full((n, extra), -np.inf, np.float32)]),
                             self.n_labels)

    def __getitem__(self, rows) -> TopK:
        """Select documents (a slice, index array or boolean mask)."""
        indices = self.indices[rows]
        if indices.ndim == 1:
            indices = indices[None, :]
            return TopK._trusted(indices, self.scores[rows][None, :], self.n_labels)
        return TopK._trusted(indices, self.scores[rows], self.n_labels)

    def rows(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per document, the (label ids, scores) without padding."""
        valid = self.valid
        for i in range(len(self)):
            yield self.indices[i, valid[i]], self.scores[i, valid[i]]

    # -- conversion -------------------------------------------------------------------------
    def to_columns(self, label_space: _NamedLabels, *,
                   lang: str = "en") -> dict[str, np.ndarray]:
        """The predictions as named columns of equal length, one entry per (document,
        label), best first within a document, padding dropped: ``doc`` (its position),
        ``rank`` (from 1), ``label_id``, ``uri``, ``label`` (the name in ``lang``, as
        :meth:`LabelSpace.name_of <tagsmith.data.labelspace.LabelSpace.name_of>` gives
        it; ``uri`` and ``label`` are arrays of ``str`` objects) and ``score`` (float32,
        as stored). ``pandas.DataFrame(topk.to_columns(space))`` is a long table of
        them, its columns there for a TopK with no label too. ``label_space`` must hold
        :attr:`n_labels` labels.

        >>> from tagsmith.data.labelspace import LabelSpace
        >>> topk = TopK.from_scores(np.array([[0.1, 0.9], [0.7, 0.2]]), k=1)
        >>> columns = topk.to_columns(LabelSpace.from_names(["joy", "anger"]))
        >>> list(columns)
        ['doc', 'rank', 'label_id', 'uri', 'label', 'score']
        >>> columns["doc"].tolist(), columns["rank"].tolist(), columns["label"].tolist()
        ([0, 1], [1, 1], ['anger', 'joy'])
        >>> columns["score"]
        array([0.9, 0.7], dtype=float32)
        """
        if not all(callable(getattr(label_space, method, None))
                   for method in ("__len__", "uri_of", "name_of")):
            raise InvalidParameterError("label_space", "a LabelSpace",
                                        type(label_space).__name__)
        if len(label_space) != self.n_labels:
            raise InvalidParameterError("label_space", f"a space of the TopK's {self.n_labels:,} "
                                        "labels", f"{len(label_space):,} labels")
        lang = check_language("lang", lang)
        # padding comes only after a row's real entries: a real entry's rank is its column + 1
        doc, col = np.nonzero(self.valid)
        label_id = self.indices[doc, col]
        # each label named once, those the TopK holds only
        used = np.zeros(self.n_labels, dtype=bool)
        used[label_id] = True
        uris = np.empty(self.n_labels, dtype=object)
        names = np.empty(self.n_labels, dtype=object)
        for i in np.flatnonzero(used).tolist():
            uris[i] = label_space.uri_of(i)
            names[i] = label_space.name_of(i, lang)
        return {"doc": doc, "rank": (col + 1).astype(np.int32, copy=False),
                "label_id": label_id, "uri": uris[label_id], "label": names[label_id],
                "score": self.scores[doc, col]}

    def to_csr(self) -> sp.csr_matrix:
        """Scores as a sparse ``n x n_labels`` matrix (padding dropped), in canonical
        form: column indices sorted within a row, as scipy consumers expect (the rows
        are filled in rank order)."""
        valid = self.valid
        n = len(self)
        indptr = np.concatenate([[0], np.cumsum(valid.sum(axis=1))])
        out = sp.csr_matrix((self.scores[valid], self.indices[valid], indptr),
                            shape=(n, self.n_labels))
        out.sort_indices()
        return out

    def label_sets(self, threshold: float | npt.ArrayLike = 0.5, *, min_labels: int = 0,
                   max_labels: int | None = None) -> sp.csr_matrix:
        """Labels whose score reaches the threshold, as a boolean sparse matrix.

        ``threshold`` is one number or one per label (shape ``(n_labels,)``). A
        document may get no label; ``min_labels`` forces its best ``min_labels``
        candidates in (of those whose threshold is finite: an infinite one is a label
        never predicted) and ``max_labels`` caps the set size.
        """
        thr = _as_threshold_array(threshold, self.n_labels)
        # a negative count would slice from the end (max_labels=-1 dropped the last column)
        min_labels = check_int("min_labels", min_labels, 0, numpy=True)
        max_labels = check_int("max_labels", max_labels, 0, allow_none=True, numpy=True)
        sizes = np.empty(len(self), dtype=np.int64)
        kept = []
        # in blocks of rows: each entry's label id, threshold and comparison took ten
        # bytes at once (280 MB for a million documents x 28 labels)
        for start in range(0, len(self), block_rows(self.k)):
            rows = slice(start, start + block_rows(self.k))
            indices = self.indices[rows]
            valid = indices >= 0
            at = thr[np.where(valid, indices, 0)]
            keep = valid & (self.scores[rows] >= at)
            if min_labels:
                # the best min_labels that can be predicted: an infinite threshold is a
                # label never predicted (never learnt, or no cut reaching min_precision),
                # and was forced in where it ranked first
                able = valid & (at < np.inf)
                keep |= able & (np.cumsum(able, axis=1, dtype=np.int32) <= min_labels)
            if max_labels is not None:
                keep[:, max_labels:] = False
            sizes[rows] = keep.sum(axis=1)
            kept.append(indices[keep])
        indptr = np.concatenate([[0], np.cumsum(sizes)])
        data = np.ones(int(indptr[-1]), dtype=bool)
        out = sp.csr_matrix((data, np.concatenate(kept) if kept else np.zeros(0, np.int32),
                             indptr), shape=(len(self), self.n_labels))
        out.sort_indices()  # canonical, as :meth:`to_csr`
        return out


class RowFill:
    """:meth:`TopK.concatenate` of parts given one at a time, written into arrays sized
    for all ``n_docs`` rows up front: a chunked prediction never holds its result twice
    (every part, then their stack). Parts of different ``k`` are padded to the widest,
    as concatenate pads them (a wider part widens the rows filled before it).

    >>> fill = RowFill(3, n_labels=4)
    >>> fill.add(TopK.from_scores(np.array([[0.1, 0.9, 0.4, 0.2]]), 1))
    >>> fill.add(TopK.from_scores(np.array([[0.1, 0.9, 0.4, 0.2]] * 2), 2))
    >>> fill.result().indices.tolist()
    [[1, -1], [1, 2], [1, 2]]
    """

    def __init__(self, n_docs: int, n_labels: int):
        self.n_docs = _check_n_docs(n_docs)
        self.n_labels = _check_n_labels(n_labels)
        self.filled = 0
        self.indices: np.ndarray | None = None
        self.scores: np.ndarray | None = None

    def add(self, part: TopK) -> None:
        """Write ``part``'s rows after those added before."""
        if part.n_labels != self.n_labels:
            raise InvalidParameterError("parts", "TopKs over one label space", "different n_labels")
        end = self.filled + len(part)
        if end > self.n_docs:
            raise InvalidParameterError("parts", f"{self.n_docs:,} rows in all", f"{end:,}")
        if self.indices is None or self.scores is None:
            self.indices = np.empty((self.n_docs, part.k), np.int32)
            self.scores = np.empty((self.n_docs, part.k), np.float32)
        elif part.k > self.indices.shape[1]:  # padding for the rows already filled
            k = self.indices.shape[1]
            indices = np.full((self.n_docs, part.k), PAD, np.int32)
            scores = np.full((self.n_docs, part.k), -np.inf, np.float32)
            indices[:, :k], scores[:, :k] = self.indices, self.scores
            self.indices, self.scores = indices, scores
        rows = slice(self.filled, end)
        self.indices[rows, :part.k] = part.indices
        self.indices[rows, part.k:] = PAD
        self.scores[rows, :part.k] = part.scores
        self.scores[rows, part.k:] = -np.inf
        self.filled = end

    def result(self) -> TopK:
        """The stacked TopK, once every row is filled."""
        if self.indices is None or self.scores is None:
            # as concatenate refuses no parts: a fill of 0 rows said "must be 0 rows in
            # all, got '0'", its rows all there
            raise InvalidParameterError("parts", "at least one TopK added", "none")
        if self.filled != self.n_docs:
            raise InvalidParameterError("parts", f"{self.n_docs:,} rows in all",
                                        f"{self.filled:,}")
        return TopK._trusted(self.indices, self.scores, self.n_labels)


def _describe(value) -> str:
    dtype = getattr(value, "dtype", None)
    return f"{type(value).__name__} of dtype {dtype}" if dtype is not None \
        else type(value).__name__


def check_topk(topk: object, name: str = "topk") -> TopK:
    """``topk`` once it is a :class:`TopK` (else an error naming ``name``, not an
    AttributeError deep inside)."""
    if not isinstance(topk, TopK):
        raise InvalidParameterError(name, "a tagsmith.topk.TopK", type(topk).__name__)
    return topk


def _top_k_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Column ids of each row's k best scores; ties at the cut go to lower ids."""
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1:k]
    above = scores > kth
    tied = scores == kth
    needed = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= needed))
    return np.nonzero(chosen)[1].reshape(scores.shape[0], k)


def _check_k(k, n_labels: int | None) -> int:
    k = check_int("k", k, 1, numpy=True)
    return k if n_labels is None else int(min(k, n_labels))


def _check_n_docs(n_docs) -> int:
    n_docs = check_int("n_docs", n_docs, 0, numpy=True)
    if n_docs > MAX_ENTRIES:
        raise InvalidParameterError("n_docs", f"an integer in [0, {MAX_ENTRIES:,}] (rows "
                                    "of one array)", n_docs)
    return n_docs


def _check_width(k, n_docs: int) -> int:
    """``k``, an integer >= 0, when ``n_docs`` rows of it fit in one array."""
    k = check_int("k", k, 0, numpy=True)
    most = MAX_ENTRIES // max(n_docs, 1)
    if k > most:
        raise InvalidParameterError("k", f"an integer in [0, {most:,}] ({MAX_ENTRIES:,} "
                                    f"entries at most over {n_docs:,} rows)", k)
    return k


def _check_n_labels(n_labels) -> int:
    """``n_labels``, when int32 ``indices`` can address its every label (ids up to
    2**31 - 1): a larger one was taken, its labels beyond that never to be named."""
    n_labels = check_int("n_labels", n_labels, 0, numpy=True)
    if n_labels > MAX_LABELS:
        raise InvalidParameterError("n_labels", f"an integer in [0, {MAX_LABELS:,}] (label "
                                    "ids are int32)", n_labels)
    return n_labels


def _check_label_table(name: str, n_labels: int) -> None:
    """A score array's columns are its labels: past :data:`MAX_LABELS` the refusal named
    ``n_labels``, a parameter ``from_csr`` and ``from_scores`` have not."""
    if n_labels > MAX_LABELS:
        raise InvalidParameterError(name, f"a score array of at most {MAX_LABELS:,} label "
                                    "columns (label ids are int32)", f"{n_labels:,} columns")


def _check_indices(indices, n_labels: int) -> np.ndarray:
    """``indices`` as contiguous int32 once they are integers in [-1, n_labels).

    Checked before the cast: a float id would be truncated, 2**32 would wrap to 0.
    """
    raw = np.asarray(indices)
    if raw.ndim != 2:
        raise InvalidParameterError("indices/scores", "two 2-D arrays of one shape",
                                    f"{raw.ndim}-D indices")
    if raw.dtype.kind not in "iu" and (raw.size or raw.dtype.kind != "f"):
        raise InvalidParameterError("indices", "integer label ids", f"dtype {raw.dtype}")
    if raw.size:
        low, high = raw.min(), raw.max()
        if low < PAD or high >= n_labels or high > np.iinfo(np.int32).max:
            raise InvalidParameterError(
                "indices", f"label ids in [0, {n_labels}) or -1 for padding",
                f"range [{low}, {high}]")
    return np.ascontiguousarray(raw, dtype=np.int32)


def _as_float32(name: str, given, convert: Callable, expected: str):
    """``convert(given, dtype=np.float32)`` (``np.asarray`` or ``sp.csr_matrix``), or
    :class:`InvalidParameterError` naming ``name``: for no matrix of numbers (numpy's
    strings or ragged rows), a Python int beyond float64 (a raw OverflowError) and
    finite values beyond float32, which the cast made infinite: 'infinite' would blame
    the caller for values it never had. NaN and infinities of the caller's own are left
    to :func:`_check_finite`."""
    try:
        with np.errstate(over="ignore"):  # finite values beyond float32: refused below
            converted = convert(given, dtype=np.float32)
    except OverflowError:  # 'int too large to convert to float'
        raise InvalidParameterError(
            name, "numbers a float64 holds (magnitude at most "
            f"{float(np.finfo(np.float64).max):.4g})",
            "an integer beyond float64's range") from None
    except (TypeError, ValueError):
        raise InvalidParameterError(name, expected, _describe(given)) from None
    values = converted.data if sp.issparse(converted) else converted
    if np.isfinite(values).all():
        return converted
    wide = convert(given, dtype=np.float64)  # the caller's values, to tell them apart
    wide = np.abs(wide.data if sp.issparse(wide) else wide)
    with np.errstate(over="ignore"):
        beyond = np.isfinite(wide) & np.isinf(wide.astype(np.float32))
    if beyond.any():
        n_beyond = int(beyond.sum())
        limit = float(np.finfo(np.float32).max)
        raise InvalidParameterError(
            name, f"numbers a float32 holds (magnitude at most {limit:.4g})",
            f"{n_beyond} value{plural_s(n_beyond)} beyond float32's range (largest "
            f"magnitude {float(wide[beyond].max()):.4g})")
    return converted


#: top-k entries per block of rows that work over every entry goes through at a time
#: (:meth:`TopK.rescored`, :meth:`TopK.label_sets`, :func:`tagsmith.metrics.evaluate`,
#: calibration's entry look-up): their temporaries are those of one block
BLOCK_ENTRIES = 1 << 19


def block_rows(k: int) -> int:
    """Rows of a top-``k`` per block: :data:`BLOCK_ENTRIES` entries' worth, at least one."""
    return max(1, BLOCK_ENTRIES // max(k, 1))


def _wrong_count(shape: tuple, n_real: int, n_total: int, rows: slice, n_blocks: int,
                 n_rows: int) -> InvalidParameterError:
    """:meth:`TopK.rescored`'s error for a ``score`` that returned ``shape`` for the
    ``n_real`` real entries of ``rows``: the count expected of the whole call (as when
    it was called once, on every entry) and, for one block of several, the block's."""
    expected = f"a function returning {n_total} score{plural_s(n_total)} (one per real entry"
    if n_blocks == 1:
        return InvalidParameterError("score", f"{expected})", f"shape {shape}")
    last = min(rows.stop, n_rows) - 1
    where = f"row {last}" if last == rows.start else f"rows {rows.start} to {last}"
    return InvalidParameterError(
        "score", f"{expected}; it is called once per block of rows)",
        f"shape {shape} for the {n_real} real {plural(n_real, 'entry', 'entries')} of "
        f"{where} (of {n_rows})")


def _check_finite(name: str, values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        n_nan = int(np.isnan(values).sum())
        n_inf = int(np.isinf(values).sum())
        raise InvalidParameterError(
            name, "finite numbers (no NaN or infinity)",
            f"{n_nan} NaN value{plural_s(n_nan)}" if n_nan else
            f"{n_inf} infinite value{plural_s(n_inf)}")


def _check_scores(indices: np.ndarray, scores: np.ndarray) -> None:
    """Every label id's score is finite; padding slots (id -1, score -inf) may be anything
    but NaN."""
    finite = np.isfinite(scores)
    if finite.all():
        return
    bad = ~finite & ((indices >= 0) | np.isnan(scores))
    if bad.any():
        row, col = (int(x[0]) for x in np.nonzero(bad))
        raise InvalidParameterError(
            "scores", "finite numbers for every label id (padding: id -1, score -inf)",
            f"{scores[row, col]} for label {indices[row, col]} in row {row}")


def _check_sorted(indices: np.ndarray, scores: np.ndarray) -> None:
    """Each row best first: real entries' scores non-increasing (ties in any order) and
    padding (id -1) only after the last real entry. Metrics read column 0 as the best label,
    so an unsorted row silently gave a wrong P@1."""
    if indices.shape[1] < 2 or indices.shape[0] == 0:
        return
    valid = indices >= 0
    early_pad = ~valid[:, :-1] & valid[:, 1:]
    if early_pad.any():
        row, col = (int(x[0]) for x in np.nonzero(early_pad))
        raise InvalidParameterError(
            "indices", "padding (id -1) only after a row's real entries",
            f"padding in column {col} before label {indices[row, col + 1]} in row {row}")
    rising = valid[:, 1:] & (scores[:, 1:] > scores[:, :-1])
    if rising.any():
        row, col = (int(x[0]) for x in np.nonzero(rising))
        raise InvalidParameterError(
            "scores", "each row sorted best first (non-increasing scores; ties in any order)",
            f"{scores[row, col]} then {scores[row, col + 1]} in row {row}")


#: rows up to this width are checked for repeats by comparing column pairs, not sorting
PAIRWISE_MAX_K = 4


def _check_distinct(indices: np.ndarray) -> None:
    """No label id twice in a row (padding -1 may repeat): sort each row and compare
    neighbours, O(n k log k) in numpy (a repeated id counted twice in every metric)."""
    n, k = indices.shape
    if k < 2 or n == 0:
        return
    if k <= PAIRWISE_MAX_K:
        repeated = np.zeros(n, bool)
        for a in range(k - 1):
            column = indices[:, a]
            for b in range(a + 1, k):
                repeated |= (column == indices[:, b]) & (column >= 0)
        if not repeated.any():
            return
        row = int(np.flatnonzero(repeated)[0])
    else:
        flat = np.sort(indices, axis=1).ravel()
        same = flat[1:] == flat[:-1]
        if not same.any():
            return
        same &= flat[1:] >= 0  # padding may repeat
        same[k - 1::k] = False  # the last id of a row against the next row's first
        if not same.any():
            return
        row = int(np.flatnonzero(same)[0]) // k
    ids, counts = np.unique(indices[row][indices[row] >= 0], return_counts=True)
    raise InvalidParameterError("indices", "distinct label ids within each row",
                                f"label {int(ids[counts > 1][0])} repeated in row {row}")
