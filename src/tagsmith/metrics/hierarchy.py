"""Set-based hierarchical precision, recall and F1 (Kiritchenko et al. 2005).

Each document's true and predicted label sets are augmented with every ancestor of
their labels (a label's broader labels, theirs, and so on, in a polyhierarchy those of
every parent), then precision and recall are micro-averaged over the augmented sets::

    hP = sum |P' & T'| / sum |P'|      hR = sum |P' & T'| / sum |T'|
    hF1 = 2 hP hR / (hP + hR)

A prediction of a true label's broader label earns partial credit (the ancestors the
two share) where flat precision counts it wrong. Zero denominators give 0 (as the set
metrics' ``zero_division=0``).

The hierarchy is an ``n_labels x n_labels`` sparse matrix whose row ``c`` marks ``c``'s
parents; :func:`ancestor_closure` turns it, once, into the reflexive closure ``A`` (row
``c`` marks ``c`` and its ancestors), and a label matrix ``Y`` is augmented as the
nonzero pattern of ``Y @ A``: sparse products over blocks of documents, no loop over
documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, cast

import numpy as np
import scipy.sparse as sp

from tagsmith._plural import and_more
from tagsmith._typing import LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics.sets import _safe_div, as_label_matrix, check_label_values

if TYPE_CHECKING:
    from tagsmith.data.labelspace import LabelSpace

__all__ = ["ancestor_closure", "hierarchical_scores", "most_specific", "parent_matrix"]

#: a label space (its ``broader`` links) or a parent matrix (row ``c`` marks ``c``'s parents)
Hierarchy: TypeAlias = "LabelSpace | sp.spmatrix | sp.sparray"

#: documents per block of the augmented products (each block's augmented sets exist
#: for that block only)
BLOCK_DOCS = 50_000


def parent_matrix(space: LabelSpace) -> sp.csr_matrix:
    """An ``(n_labels, n_labels)`` 0/1 CSR whose row ``c`` marks the broader labels of
    label ``c`` inside ``space`` (links to URIs outside it are left out, as the space's
    hierarchy leaves them out); all zeros for a space without hierarchy.

    >>> from tagsmith.data.labelspace import Label, LabelSpace
    >>> space = LabelSpace([Label("E"), Label("E11", broader=["E"])])
    >>> parent_matrix(space).toarray().tolist()
    [[0, 0], [1, 0]]
    """
    n = len(space)
    parents = [space.broader_ids(c) for c in range(n)]  # a loop over labels, once
    rows = np.repeat(np.arange(n, dtype=np.int64), [len(p) for p in parents])
    cols = np.fromiter((p for ps in parents for p in ps), np.int64, count=len(rows))
    m = sp.csr_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    m.sum_duplicates()
    m.data[:] = 1  # a parent named twice is one parent
    return m


def _binary(m: sp.spmatrix) -> sp.csr_matrix:
    """``m``'s nonzero pattern as an int32 0/1 CSR (products of 0/1 matrices count
    paths; only whether there is one matters)."""
    m = sp.csr_matrix(m)
    m.eliminate_zeros()
    return sp.csr_matrix((np.ones(m.nnz, np.int32), m.indices, m.indptr), shape=m.shape)


def ancestor_closure(parents: sp.spmatrix | sp.sparray, name: str = "parents"
                     ) -> sp.csr_matrix:
    """The reflexive transitive closure of ``parents`` (row ``c`` marks ``c``'s
    parents, :func:`parent_matrix`): row ``c`` marks ``c`` itself and all its ancestors.

    Found by squaring: ``A <- A @ A`` from ``A = I + parents`` until no entry is added,
    ``log2`` of the depth products. A cycle (a label its own ancestor) raises
    :class:`InvalidParameterError` naming ``name`` (the caller's parameter) and the
    labels on it (ids counted from 0): the augmented sets would be the same for every
    label on it.

    >>> parents = sp.csr_matrix([[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    >>> ancestor_closure(parents).toarray().tolist()
    [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    """
    if not sp.issparse(parents) or parents.ndim != 2 or parents.shape[0] != parents.shape[1]:
        raise InvalidParameterError(name, "a square sparse matrix (n_labels x n_labels)",
                                    getattr(parents, "shape", type(parents).__name__))
    n = parents.shape[0]
    direct = _binary(parents)
    closure = _binary(sp.identity(n, np.int32, format="csr") + direct)
    while True:
        # the depth reached doubles each time: at most ~log2(n) + 1 products
        squared = _binary(closure @ closure)
        if squared.nnz == closure.nnz:
            break
        closure = squared
    # c reaches itself through one of its parents: a cycle
    looped = np.flatnonzero((direct @ closure).diagonal())
    if len(looped):
        raise InvalidParameterError(
            name, "an acyclic hierarchy (no label its own ancestor)",
            f"a cycle through labels {and_more(looped.tolist(), 10, serial=False)} "
            "(ids counted from 0)")
    closure.sort_indices()
    return closure


def _augmented(y: sp.csr_matrix, closure: sp.csr_matrix) -> sp.csr_matrix:
    """Each row's labels and all their ancestors (0/1)."""
    return _binary(sp.csr_matrix(y, dtype=np.int32) @ closure)


def hierarchical_counts(y_true: sp.csr_matrix, y_pred: sp.csr_matrix,
                        closure: sp.csr_matrix) -> tuple[int, int, int]:
    """``(sum |P' & T'|, sum |P'|, sum |T'|)`` over the documents of the canonical
    boolean CSR label matrices ``y_true`` and ``y_pred`` (:func:`as_label_matrix`),
    augmented by ``closure`` (:func:`ancestor_closure`), a block of documents at a time."""
    both = pred = true = 0
    for start in range(0, y_true.shape[0], BLOCK_DOCS):
        block = slice(start, start + BLOCK_DOCS)
        t = _augmented(y_true[block], closure)
        p = _augmented(y_pred[block], closure)
        both += int(t.multiply(p).count_nonzero())
        pred += p.nnz
        true += t.nnz
    return both, pred, true


def _scores(both: int, pred: int, true: int) -> dict[str, float]:
    return {"hierarchical_precision": float(_safe_div(both, pred)),
            "hierarchical_recall": float(_safe_div(both, true)),
            "hierarchical_f1": float(_safe_div(2 * both, pred + true))}


def hierarchical_scores(y_true: LabelMatrix, y_pred: LabelMatrix,
                        hierarchy: Hierarchy) -> dict[str, float]:
    """Micro-averaged hierarchical precision, recall and F1 of ``y_pred`` against
    ``y_true`` (label matrices of one shape): ``hierarchical_precision``,
    ``hierarchical_recall``, ``hierarchical_f1``. ``hierarchy``: a
    :class:`~tagsmith.data.labelspace.LabelSpace` (its ``broader`` links) or a parent
    matrix (row ``c`` marks ``c``'s parents, :func:`parent_matrix`). Without a
    hierarchy (no label has a parent) the scores equal the flat micro ones:
    :func:`tagsmith.metrics.evaluate` then leaves them out.

    >>> from tagsmith.data.labelspace import Label, LabelSpace
    >>> space = LabelSpace([Label("E"), Label("E11", broader=["E"]),
    ...                     Label("E11.9", broader=["E11"])])
    >>> hierarchical_scores([[0, 0, 1]], [[0, 1, 0]], space)  # E11 for E11.9
    ... # doctest: +NORMALIZE_WHITESPACE
    {'hierarchical_precision': 1.0, 'hierarchical_recall': 0.6666666666666666,
     'hierarchical_f1': 0.8}
    """
    # labels 0 or 1, as evaluate takes them: a NaN gap or a 0.5 was counted a label
    t = as_label_matrix(check_label_values(y_true, "y_true"), "y_true", copy=False)
    p = as_label_matrix(check_label_values(y_pred, "y_pred"), "y_pred", copy=False)
    if p.shape != t.shape:
        raise InvalidParameterError("y_pred", f"a label matrix of shape {t.shape} "
                                    "(like y_true)", f"shape {p.shape}")
    return _scores(*hierarchical_counts(t, p, _closure_of(hierarchy, t.shape[1])))


def _parents_of(hierarchy: Hierarchy, n_labels: int,
                labels_of: str = "y_true") -> sp.csr_matrix:
    """``hierarchy`` (a label space or a parent matrix) as a parent matrix, checked to
    be one of ``n_labels`` labels (the columns of the caller's parameter ``labels_of``,
    named in the refusal)."""
    if sp.issparse(hierarchy):
        matrix = cast("sp.spmatrix", hierarchy)
        if matrix.shape != (n_labels, n_labels):
            raise InvalidParameterError("hierarchy", f"a {n_labels} x {n_labels} matrix "
                                        f"({labels_of}'s columns)", f"shape {matrix.shape}")
        return _binary(matrix)
    if not hasattr(hierarchy, "broader_ids"):
        raise InvalidParameterError("hierarchy", "a LabelSpace or a sparse parent matrix",
                                    type(hierarchy).__name__)
    space = cast("LabelSpace", hierarchy)
    if len(space) != n_labels:
        raise InvalidParameterError("hierarchy", f"a label space of {n_labels} labels "
                                    f"({labels_of}'s columns)", f"{len(space)} labels")
    return parent_matrix(space)


def _closure_of(hierarchy: Hierarchy, n_labels: int) -> sp.csr_matrix:
    return ancestor_closure(_parents_of(hierarchy, n_labels), "hierarchy")


def closure_if_hierarchical(hierarchy: Hierarchy, n_labels: int) -> sp.csr_matrix | None:
    """:func:`ancestor_closure` of ``hierarchy`` (a label space or a parent matrix of
    ``n_labels`` labels), or None where no label has a parent (the hierarchical scores
    would repeat the flat ones)."""
    parents = _parents_of(hierarchy, n_labels)
    return ancestor_closure(parents, "hierarchy") if parents.nnz else None


def scores_with_closure(y_true: sp.csr_matrix, y_pred: sp.csr_matrix,
                        closure: sp.csr_matrix) -> dict[str, float]:
    """:func:`hierarchical_scores` of canonical label matrices and a closure made once."""
    return _scores(*hierarchical_counts(y_true, y_pred, closure))


def most_specific_with_closure(y_pred: sp.csr_matrix, closure: sp.csr_matrix
                               ) -> sp.csr_matrix:
    """:func:`most_specific` of a canonical boolean CSR label matrix and a closure made
    once (:func:`ancestor_closure`): a label is dropped from a row where the row's
    labels, through ``closure`` less its diagonal, reach it as a strict ancestor. A
    caller trimming many batches with one closure makes :func:`strict_ancestors` once
    and calls :func:`without_ancestors`."""
    return without_ancestors(y_pred, strict_ancestors(closure))


def strict_ancestors(closure: sp.csr_matrix) -> sp.csr_matrix:
    """``closure`` (:func:`ancestor_closure`) less its diagonal: row ``c`` marks ``c``'s
    ancestors, not ``c``; what :func:`without_ancestors` takes, made once.

    >>> closure = ancestor_closure(sp.csr_matrix([[0, 0], [1, 0]]))
    >>> strict_ancestors(closure).toarray().tolist()
    [[0, 0], [1, 0]]
    """
    return _binary(closure - sp.identity(closure.shape[0], np.int32, format="csr"))


def without_ancestors(y_pred: sp.csr_matrix, strict: sp.csr_matrix) -> sp.csr_matrix:
    """:func:`most_specific_with_closure` of ``strict`` (:func:`strict_ancestors` of the
    closure, made once): each row of ``y_pred`` less the labels its labels reach as
    strict ancestors."""
    kept = []
    for start in range(0, y_pred.shape[0], BLOCK_DOCS):
        y = sp.csr_matrix(y_pred[start:start + BLOCK_DOCS], dtype=np.int32)
        # (y @ strict)[d, a] > 0: some label of document d has a as a strict ancestor
        covered = _binary(y @ strict)
        block = (y - y.multiply(covered)).astype(bool)
        block.eliminate_zeros()
        kept.append(block)
    out = sp.csr_matrix(sp.vstack(kept, format="csr") if kept
                        else sp.csr_matrix(y_pred.shape, dtype=bool))
    out.sort_indices()
    return out


def most_specific(y_pred: LabelMatrix, hierarchy: Hierarchy) -> sp.csr_matrix:
    """Each document's predicted labels less every label one of whose descendants (its
    narrower labels, theirs, and so on; in a polyhierarchy through any parent) is
    predicted too: the most specific labels alone, as teams coding at the most specific
    level (ICD-10, GICS) code. ``y_pred``: a label matrix (documents x labels);
    ``hierarchy``: a :class:`~tagsmith.data.labelspace.LabelSpace` or a parent matrix
    (:func:`parent_matrix`). Returns a boolean CSR of ``y_pred``'s shape. Each label
    dropped is an ancestor of one kept: the sets augmented with their ancestors, and so
    :func:`hierarchical_scores`, are unchanged by it (flat figures are not). A hierarchy
    in which no label has a parent (a flat label space) is refused with
    :class:`InvalidParameterError` naming ``hierarchy``: the option would change nothing.

    >>> from tagsmith.data.labelspace import Label, LabelSpace
    >>> space = LabelSpace([Label("E"), Label("E11", broader=["E"]),
    ...                     Label("E11.9", broader=["E11"]), Label("I")])
    >>> most_specific([[1, 1, 1, 0], [1, 1, 0, 1]], space).toarray().astype(int).tolist()
    [[0, 0, 1, 0], [0, 1, 0, 1]]
    """
    y = as_label_matrix(y_pred, "y_pred")
    return most_specific_with_closure(y, most_specific_closure(hierarchy, y.shape[1]))


def most_specific_closure(hierarchy: Hierarchy, n_labels: int,
                          labels_of: str = "y_pred") -> sp.csr_matrix:
    """The :func:`ancestor_closure` of ``hierarchy`` (of ``n_labels`` labels: the
    columns of the caller's parameter ``labels_of``, named where ``hierarchy`` has
    another number) for :func:`most_specific_with_closure`, made once; a hierarchy in
    which no label has a parent is refused with :class:`InvalidParameterError` naming
    ``hierarchy``."""
    parents = _parents_of(hierarchy, n_labels, labels_of)
    if not parents.nnz:
        raise _flat(n_labels)
    return ancestor_closure(parents, "hierarchy")


def _flat(n_labels: int) -> InvalidParameterError:
    """The refusal of a flat hierarchy where the most specific labels are asked for:
    the option would change nothing."""
    return InvalidParameterError(
        "hierarchy", "a label space with a hierarchy (some label with a broader one) "
        "to keep the most specific labels of", f"a flat label space of {n_labels:,} "
        "labels (no label has a broader one)")


def check_closure(closure: object, hierarchy: Hierarchy, n_labels: int,
                  name: str = "closure") -> sp.csr_matrix:
    """``closure``, a closure made by the caller (:func:`most_specific_closure` of
    ``hierarchy``, of ``n_labels`` labels), as a 0/1 CSR once it is that closure, else
    :class:`InvalidParameterError` naming ``name``: a dense array (refused, as a dense
    ``hierarchy`` is: ``sp.csr_matrix(closure)`` of one), one of another shape, one
    less its diagonal (the strict ancestors), or the closure of another hierarchy of
    the same width (checked with one product: the closure ``C`` of a hierarchy whose
    parent matrix is ``P`` is the one matrix with ``C = I + P @ C``). A flat
    ``hierarchy`` is refused as :func:`most_specific_closure` refuses it.

    >>> from tagsmith.data.labelspace import Label, LabelSpace
    >>> space = LabelSpace([Label("E"), Label("E11", broader=["E"]), Label("I")])
    >>> check_closure(most_specific_closure(space, 3), space, 3).toarray().tolist()
    [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    >>> chain = sp.csr_matrix(([1, 1], ([1, 2], [0, 1])), shape=(3, 3))
    >>> try:
    ...     check_closure(ancestor_closure(chain), space, 3)
    ... except InvalidParameterError as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    parameter 'closure' must be the ancestor closure of the label space (of its broader
    labels: most_specific_closure(label_space, n_labels)), got '2 entries that differ,
    e.g. label 2 with label 0 as an ancestor, which the label space does not make it'
    """
    if not sp.issparse(closure):
        raise InvalidParameterError(
            name, f"a sparse {n_labels} x {n_labels} ancestor closure (as "
            "most_specific_closure makes it; sp.csr_matrix(closure) of a dense one)",
            f"a dense {type(closure).__name__}")
    matrix = cast("sp.spmatrix", closure)
    if matrix.shape != (n_labels, n_labels):
        raise InvalidParameterError(
            name, f"a {n_labels} x {n_labels} ancestor closure (the classifier's labels)",
            f"shape {matrix.shape}")
    # each label its own ancestor, as ancestor_closure makes it: a closure less its
    # diagonal (the audit's ancestor_matrix) made every label its own strict ancestor,
    # and every set came out empty, every set metric 0, without a word
    missing = int(n_labels - np.count_nonzero(matrix.diagonal()))
    if missing:
        raise InvalidParameterError(
            name, "a reflexive ancestor closure, each label its own ancestor "
            "(tagsmith.metrics.hierarchy.most_specific_closure)",
            f"{missing:,} of {n_labels:,} labels with no 1 on the diagonal")
    parents = _parents_of(hierarchy, n_labels)
    if not parents.nnz:
        raise _flat(n_labels)
    given = _binary(matrix)
    # a closure of another hierarchy of the same width trimmed each set by another
    # hierarchy's ancestors, without a word
    made = _binary(sp.identity(n_labels, np.int32, format="csr") + parents @ given)
    differ = sp.coo_matrix(given - made)
    differ.eliminate_zeros()
    if differ.nnz:
        first = int(np.lexsort((differ.col, differ.row))[0])
        label, ancestor = int(differ.row[first]), int(differ.col[first])
        how = ("which the label space does not make it" if differ.data[first] > 0
               else "which the closure leaves out")
        raise InvalidParameterError(
            name, "the ancestor closure of the label space (of its broader labels: "
            "most_specific_closure(label_space, n_labels))",
            f"{differ.nnz:,} entr{'y' if differ.nnz == 1 else 'ies'} that differ"
            f"{'s' if differ.nnz == 1 else ''}, e.g. label {label} with label {ancestor} "
            f"as an ancestor, {how}")
    return given
