"""Label tree for extreme label spaces (the Parabel / Bonsai / XR-Linear family).

Training:

1. **Label representations**: each label is the normalised sum of its positive
   documents' feature vectors (PIFA), optionally concatenated with features of the
   label's names (``fit(..., label_features=...)``, weighted by ``label_feature_weight``).
2. **Tree**: recursive balanced spherical 2-means over those representations.
   ``branching`` (a power of two) collapses ``log2(branching)`` binary splits into
   one tree level, so ``branching=2`` is Parabel's binary tree and ``branching=16``
   or more gives the shallow, wide trees of Bonsai and XR-Linear. A cluster of at
   most ``leaf_size`` labels is a leaf, whose children are the labels themselves.
3. **Node classifiers**: every node trains one binary linear classifier per child on
   the documents that reach the node (those with a label below it). A child's
   positives are the documents with a label below the child, its negatives the
   node's other documents — the hard negatives that reached the node; every
   document, one without any label too, reaches the root, as in one-vs-rest. The
   compiled dual coordinate descent solver of :mod:`tagsmith.models._solver` trains the
   classifiers of a tree level in parallel threads, with sample weights and soft
   targets; weights below ``prune_threshold`` are dropped.

Prediction is beam search: keep the ``beam_width`` best nodes per level, where a
node's score is the product of its path's classifier scores; a label's score is its
leaf path's product, in [0, 1].

Memory stays bounded by the data: the features matrix, the label matrix, the label
representations (pruned to ``max_rep_features`` per label) and per-level index
arrays the size of the label matrix; nothing dense of docs x labels or features x
labels is ever built.
"""

from __future__ import annotations

import logging
import math
import numbers
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_choice, check_int, check_number
from tagsmith._plural import plural_s
from tagsmith._size import byte_size
from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.exceptions import InvalidParameterError
from tagsmith.models.base import (
    SAMPLE_WEIGHT,
    SOFT_TARGETS,
    BaseModel,
    check_features,
    check_sample_weight,
    check_targets,
    check_weighted_targets,
    warn_if_all_pruned,
)
from tagsmith.models.knn import _float32_norm_lost, _float64_row_norms
from tagsmith.progress import progress_bar
from tagsmith.topk import TopK, _check_k

logger = logging.getLogger("tagsmith")

LOSSES = ("squared_hinge", "logistic")
#: solver epochs per node classifier: few by design (see fit's max_iter note)
DEFAULT_MAX_ITER = 10
SCORES = ("sigmoid", "l2-hinge", "l3-hinge")
#: which nodes matcher-aware negatives join: those whose children are labels, or all
NEGATIVE_LEVELS = ("leaves", "all")
# documents per prediction call (bounds the output and keeps progress moving)
PREDICT_BATCH = 65_536
#: a forest averages its trees' proposals for this many (document, label) entries at a
#: time (documents x trees x labels per tree)
MERGE_ENTRIES = 1 << 21
# fewest children a node's training task is split down to
MIN_TASK_CHILDREN = 8
# margin of a child that was never trained (no training document reaches its node)
UNREACHED_BIAS = 12.0


class LabelTree(BaseModel):
    """Label tree with linear node classifiers and beam search; scores in [0, 1].

    Parameters (keyword-only): ``n_trees`` (trees built from differently seeded
    clusterings; their label scores are averaged, as in Parabel; one when all labels
    fit in a leaf), ``branching`` (children per internal node, a power of two; a node
    whose labels fit into leaves one binary split later splits straight into up to
    ``2 * branching`` leaves), ``leaf_size`` (most labels per leaf) -- both may be
    lists, one value per tree (cycled), for a forest of differently shaped and so
    more diverse trees --, ``max_depth``, ``beam_width``, ``loss`` ("squared_hinge"
    or "logistic"), ``C``, ``tol`` and ``max_iter`` of the solver,
    ``prune_threshold`` (smaller weights are dropped),
    ``score`` (how a margin becomes a path score: "sigmoid", "l2-hinge" =
    exp(-max(0, 1-m)^2), "l3-hinge"), ``max_rep_features`` (features kept per label
    representation for clustering), ``label_feature_weight`` (weight of label-name
    features in the representation), ``cluster_iter``, ``cluster_balance`` (the
    smallest share of a node's labels each side of a 2-means split gets: 0.5 =
    balanced; less lets clusters follow the data), ``negative_beam``
    (matcher-aware negatives, as PECOS's MAN: the ``negative_beam`` nodes per level
    that beam search over the levels trained so far takes a training document to
    join those nodes' training as negatives; 0 = only the documents with a label
    below a node; also one value per tree, so that some trees of a forest use them
    and others do not), ``negative_levels`` ("leaves": only the nodes whose children
    are labels take them, so routing stays as without them; "all": every level),
    ``n_jobs`` (threads; ``None`` = all cores), ``random_state``,
    ``show_progress``.

    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    >>> Y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    >>> model = LabelTree(C=10.0).fit(X, Y)
    >>> model.predict_topk(np.array([[0.9, 0.0]]), k=1).indices.tolist()
    [[0]]
    """

    name = "tree"
    capabilities = frozenset({SAMPLE_WEIGHT, SOFT_TARGETS})

    def __init__(self, *, n_trees: int = 1, branching: int | list[int] = 16,
                 leaf_size: int | list[int] = 100,
                 max_depth: int = 20,
                 beam_width: int = 10, loss: str = "squared_hinge", C: float = 0.5,
                 tol: float = 0.1, max_iter: int = DEFAULT_MAX_ITER, prune_threshold: float = 0.05,
                 score: str = "l3-hinge", max_rep_features: int | None = 500,
                 label_feature_weight: float = 0.0, cluster_iter: int = 20,
                 cluster_balance: float = 0.5, negative_beam: int | list[int] = 0,
                 negative_levels: str = "leaves",
                 n_jobs: int | None = None, random_state: int = 0,
                 show_progress: bool = False):
        self.n_trees = n_trees
        self.branching = branching
        self.leaf_size = leaf_size
        self.max_depth = max_depth
        self.beam_width = beam_width
        self.loss = loss
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.prune_threshold = prune_threshold
        self.score = score
        self.max_rep_features = max_rep_features
        self.label_feature_weight = label_feature_weight
        self.cluster_iter = cluster_iter
        self.cluster_balance = cluster_balance
        self.negative_beam = negative_beam
        self.negative_levels = negative_levels
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.show_progress = show_progress

    # -- validation --------------------------------------------------------------------
    def _validate_params(self) -> None:
        """Refuse bad values by name; numpy numbers pass and are stored back as plain
        ones (``get_params()`` goes into the bundle's JSON, which refuses numpy values)."""
        n_trees = check_int("n_trees", self.n_trees, 1, numpy=True)
        branching = [_plain_int(value) for value in _per_tree(self.branching, "branching")]
        if any(value is None or value < 2 or value & (value - 1) for value in branching):
            raise InvalidParameterError("branching", "a power of two (2, 4, 8, 16, ...) "
                                        "or a list of them, one per tree", self.branching)
        leaf_size = [_plain_int(value) for value in _per_tree(self.leaf_size, "leaf_size")]
        if any(value is None or value < 2 for value in leaf_size):
            raise InvalidParameterError("leaf_size", "an integer >= 2 or a list of them, "
                                        "one per tree", self.leaf_size)
        max_depth = check_int("max_depth", self.max_depth, 1, numpy=True)
        beam_width = check_int("beam_width", self.beam_width, 1, numpy=True)
        max_iter = check_int("max_iter", self.max_iter, 1, numpy=True)
        cluster_iter = check_int("cluster_iter", self.cluster_iter, 1, numpy=True)
        negative_beam = [check_int("negative_beam", value, 0, numpy=True)
                         for value in _per_tree(self.negative_beam, "negative_beam")]
        negative_levels = check_choice("negative_levels", self.negative_levels,
                                       NEGATIVE_LEVELS)
        loss = check_choice("loss", self.loss, LOSSES)
        score = check_choice("score", self.score, SCORES)
        C = check_number("C", self.C, 0.0, strict=True, numpy=True)
        tol = check_number("tol", self.tol, 0.0, strict=True, numpy=True)
        prune_threshold = check_number("prune_threshold", self.prune_threshold, 0, numpy=True)
        label_feature_weight = check_number("label_feature_weight", self.label_feature_weight,
                                            0, numpy=True)
        balance = self.cluster_balance
        if isinstance(balance, bool) or not isinstance(balance, numbers.Real) \
                or not 0 < balance <= 0.5:
            raise InvalidParameterError("cluster_balance", "a number in (0, 0.5]", balance)
        max_rep_features = None if self.max_rep_features is None else \
            check_int("max_rep_features", self.max_rep_features, 1, numpy=True)
        random_state = check_int("random_state", self.random_state, 0, numpy=True)
        self._check_n_jobs()
        # every field checked: only now store them back, a list kept a list
        self.n_trees, self.max_depth, self.beam_width = n_trees, max_depth, beam_width
        self.branching = _same_shape(self.branching, branching)
        self.leaf_size = _same_shape(self.leaf_size, leaf_size)
        self.negative_beam = _same_shape(self.negative_beam, negative_beam)
        self.max_iter, self.cluster_iter = max_iter, cluster_iter
        self.negative_levels, self.loss, self.score = negative_levels, loss, score
        self.C, self.tol, self.prune_threshold = C, tol, prune_threshold
        self.label_feature_weight, self.cluster_balance = label_feature_weight, float(balance)
        self.max_rep_features, self.random_state = max_rep_features, random_state

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: FeatureMatrix, Y: LabelMatrix, sample_weight: npt.ArrayLike | None = None, *,
            label_features: FeatureMatrix | None = None,
            clustering_of: LabelTree | None = None,
            place: np.ndarray | None = None) -> LabelTree:
        """Fit on features ``X`` (docs x features) and targets ``Y`` (docs x labels).

        ``label_features`` (labels x features, e.g. the featurized label names) joins
        the label representations used to build the tree when ``label_feature_weight``
        is above 0.

        ``clustering_of``, a fitted tree over the same labels, gives its trees' shape
        (which labels share a leaf, how leaves group): the labels are not clustered
        again (``train``'s refit on all documents reuses the held-out fit's, its
        longest single step at 25k labels). ``place`` (a mask over the labels): those
        the tree given saw no document of, each moved to the leaf whose labels' mean
        representation here is nearest its own among the leaves holding fewer than
        ``leaf_size`` labels, so no leaf grows past it (one with no document here
        either, or none nearer than its own leaf, stays where it was); given without
        ``clustering_of``, it is refused.
        """
        self._validate_params()
        X = check_features(X)
        Y = check_targets(Y, X.shape[0], soft_ok=True)
        weights = check_sample_weight(sample_weight, X.shape[0])
        check_weighted_targets(Y, weights)
        n_labels = Y.shape[1]
        if label_features is not None:
            label_features = check_features(label_features, n_features=X.shape[1])
            if label_features.shape[0] != n_labels:
                raise InvalidParameterError("label_features", f"{n_labels} row{plural_s(n_labels)} "
                                            "(one per label)",
                                            label_features.shape[0])
        if place is not None and clustering_of is None:
            # it places labels into a reused clustering: without one it did nothing,
            # without a word
            raise InvalidParameterError("place", "given only with clustering_of (the labels "
                                        "to move into its clustering)",
                                        f"a mask of {np.size(place)} and no clustering_of")
        if clustering_of is not None:
            if getattr(clustering_of, "n_labels_", None) != n_labels:
                raise InvalidParameterError("clustering_of", f"a fitted label tree over "
                                            f"{n_labels} label{plural_s(n_labels)}",
                                            getattr(clustering_of, "n_labels_", "unfitted"))
            if place is not None and np.shape(place) != (n_labels,):
                raise InvalidParameterError("place", f"a mask over the {n_labels} labels",
                                            np.shape(place))
        reps = None  # a reused clustering needs them only to place labels
        if clustering_of is None or (place is not None and np.any(place)):
            reps = self._label_representations(
                X, Y if weights is None else sp.csr_matrix(sp.diags(weights) @ Y),
                label_features)
        trees = []
        # a label space that fits in one leaf gives the same flat model whatever the seed
        branchings = _per_tree(self.branching, "branching")
        leaf_sizes = _per_tree(self.leaf_size, "leaf_size")
        negative_beams = _per_tree(self.negative_beam, "negative_beam")
        n_trees = 1 if n_labels <= min(leaf_sizes) else self.n_trees
        if clustering_of is not None:
            n_trees = len(clustering_of.trees_)  # its trees, with their own shapes
        n_classifiers = n_unconverged = 0
        # each tree is trained into the per-tree attributes (node_slot_ptr_, ...): a fit
        # stopped part-way (Ctrl-C, an error) left a model fitted before predicting
        # from half a new tree, its old labels' ids on the new one's nodes
        try:
            for tree in range(n_trees):
                started = time.perf_counter()
                if clustering_of is not None:
                    nodes, node_labels, moved = _reused_tree(
                        clustering_of.trees_[tree], reps, place,
                        leaf_sizes[tree % len(leaf_sizes)])
                    logger.info("label tree %d: the clustering of the fit before, reused; "
                                "%s label%s it saw no document of moved to their nearest "
                                "leaf (%.1f s)", tree, f"{moved:,}", plural_s(moved),
                                time.perf_counter() - started)
                else:
                    nodes, node_labels = self._cluster(cast(sp.csr_matrix, reps), tree,
                                                       branchings, leaf_sizes)
                self._build_structure(nodes)
                n_unconverged += self._train_nodes(X, Y, weights, nodes, node_labels,
                                                   negative_beams[tree % len(negative_beams)])
                n_classifiers += len(self.slot_target_)
                trees.append({name: getattr(self, name) for name in self._ARRAYS})
                warn_if_all_pruned(f"label tree {tree}", float(self.prune_threshold),
                                   len(self.entry_val_), X)
        except BaseException:
            self._restore_fitted_tree()
            raise
        del reps
        # the fit is whole: set before the warning below, where a Ctrl-C left the new
        # tree's attributes under the old trees_ and n_labels_
        self.trees_: list[dict[str, np.ndarray]] = trees
        self._use_tree(0)
        self.n_features_ = X.shape[1]
        self.n_labels_ = n_labels
        if n_unconverged:  # once per fit, not once per node or tree
            # the defaults (10 epochs, tol 0.1) stop most node classifiers early by design
            # (they route documents; more epochs buy little P@1 for much time): a warning
            # on every default fit would teach users to ignore it, so only a max_iter
            # chosen by the user warns, and the default's count is an INFO line
            chosen = int(self.max_iter) != DEFAULT_MAX_ITER
            logger.log(logging.WARNING if chosen else logging.INFO,
                       "label tree: the solver stopped at max_iter=%d before reaching "
                       "tol=%g for %d of %d classifier%s; raise max_iter (or tol) for "
                       "a converged model", self.max_iter, self.tol, n_unconverged,
                       n_classifiers, plural_s(n_classifiers))
        return self

    def _clustering_only(self) -> LabelTree:
        """A tree holding only this fitted one's clustering (which labels share a leaf,
        how leaves group: what ``fit(..., clustering_of=)`` reads), not its weights: the
        ensemble's ``weights="auto"`` keeps its tuning fit's clustering for the final fit
        without the tuning models' weights."""
        self._check_fitted()
        shell = LabelTree(**self.get_params())
        shell.trees_ = [{name: tree[name] for name in _SHAPE_ARRAYS} for tree in self.trees_]
        shell.n_labels_ = self.n_labels_
        return shell

    def _clustering_key(self) -> tuple:
        """The parameters that decide the clustering (with the features, targets, sample
        weights and label-name features it is clustered from): two trees of equal keys
        fitted on the same data cluster the labels alike, so the second may take the
        first's (``fit(..., clustering_of=first)``) and train exactly the same model.
        Call after ``_validate_params`` (the values plain, lists as given)."""
        def plain(value):
            return tuple(value) if isinstance(value, list | tuple) else value

        return tuple(plain(getattr(self, name)) for name in CLUSTERING_PARAMS)

    def _cluster(self, reps: sp.csr_matrix, tree: int, branchings: list,
                 leaf_sizes: list) -> tuple[list, list[np.ndarray]]:
        """Tree ``tree``'s nodes and their labels, clustered from ``reps``."""
        started = time.perf_counter()
        n_labels = reps.shape[0]
        # the clustering is one call with no progress of its own (about 30 s for
        # yso-finna-en's 27,754 labels on a busy 2-core machine): said before it
        # starts, a log without a terminal was silent from "fitting tree" on
        logger.info("label tree %d: clustering %s label%s ...", tree, f"{n_labels:,}",
                    plural_s(n_labels))
        nodes, node_labels = build_tree(reps, branching=branchings[tree % len(branchings)],
                                        leaf_size=leaf_sizes[tree % len(leaf_sizes)],
                                        max_depth=self.max_depth,
                                        n_iter=self.cluster_iter,
                                        balance=self.cluster_balance,
                                        seed=self.random_state + 1_000 * tree,
                                        n_threads=self._n_threads())
        logger.info("label tree %d: %s label%s in %s node%s, depth %d (%.1f s)", tree,
                    f"{n_labels:,}", plural_s(n_labels), f"{len(nodes):,}",
                    plural_s(len(nodes)), _depth(nodes), time.perf_counter() - started)
        return nodes, node_labels

    def _restore_fitted_tree(self) -> None:
        """The per-tree attributes as the last completed fit left them (tree 0), or none
        where there was none, after a fit that stopped part-way."""
        if hasattr(self, "trees_"):
            self._use_tree(0)
            return
        for name in self._ARRAYS:
            self.__dict__.pop(name, None)

    def _use_tree(self, tree: int) -> None:
        """Point the per-tree attributes (``node_slot_ptr_``, ...) at tree ``tree``."""
        for name, value in self.trees_[tree].items():
            setattr(self, name, value)

    def _label_representations(self, X: sp.csr_matrix, Y: sp.csr_matrix,
                               label_features: sp.csr_matrix | None) -> sp.csr_matrix:
        """Row-normalised PIFA (+ label-name features), at most max_rep_features per row."""
        Yc = Y.tocsc()
        parts = []
        chunk = 2048
        for lo in range(0, Yc.shape[1], chunk):
            block = (Yc[:, lo:lo + chunk].T.tocsr() @ X).tocsr()
            parts.append(_normalize_rows(_prune_rows(block, self.max_rep_features)))
        reps = sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, X.shape[1]))
        weight = self.label_feature_weight
        if label_features is not None and weight > 0:
            names = _normalize_rows(label_features.tocsr())
            if weight <= _LARGEST_NAME_WEIGHT:
                reps = _normalize_rows(sp.hstack([reps, names * weight], format="csr"))
            else:
                # names * weight would overflow float32 (its squares above about 1.8e19,
                # the entries themselves above 3.4e38 or at infinity): every label
                # with a name was left empty. The row normalisation does not see a
                # common factor, so the PIFA part of a named label is divided by the
                # weight instead (in float64; at infinity it is 0: the names alone)
                shrink = np.where(np.diff(names.indptr) > 0, 1.0 / weight, 1.0)
                pifa = sp.diags(shrink) @ sp.csr_matrix(reps, dtype=np.float64)
                joined = sp.hstack([pifa, sp.csr_matrix(names, dtype=np.float64)],
                                   format="csr")
                joined.eliminate_zeros()
                reps = _normalize_rows(joined).astype(np.float32)
                reps.eliminate_zeros()  # what fell below float32's range
        return reps.astype(np.float32)

    def _build_structure(self, nodes: list) -> None:
        slot_ptr = np.zeros(len(nodes) + 1, np.int64)
        for i, (_, children) in enumerate(nodes):
            slot_ptr[i + 1] = slot_ptr[i] + len(children)
        self.node_slot_ptr_ = slot_ptr
        self.slot_target_ = np.concatenate([children for _, children in nodes]).astype(np.int32)
        self.slot_is_label_ = np.concatenate(
            [np.full(len(children), is_leaf, np.uint8) for is_leaf, children in nodes])

    def _train_nodes(self, X, Y, weights, nodes, node_labels, negative_beam: int) -> int:
        """Train the node classifiers of one tree; returns how many of them (with a
        positive example) the solver stopped at ``max_iter`` before reaching ``tol``."""
        from tagsmith.models._solver import LOSS_CODES, kernel_count, kernel_seed, train_block

        n_docs, n_labels = Y.shape
        depth_of = _node_depths(nodes)
        data = X.data
        indices = X.indices
        indptr = X.indptr.astype(np.int64)
        Ycoo = Y.tocoo()
        # documents of weight 0 are left out, exactly as if they were not there; so are
        # stored zero targets: a zero entry would make its document a row (a negative)
        # of every node above the label, unlike the same matrix without it
        keep = Ycoo.data > 0
        if weights is not None:
            keep &= weights[Ycoo.row] > 0
        doc_of, label_of, value_of = (Ycoo.row[keep].astype(np.int64),
                                      Ycoo.col[keep].astype(np.int64),
                                      Ycoo.data[keep].astype(np.float64))
        del Ycoo
        doc_weight = np.ones(n_docs) if weights is None else weights
        # documents without a label are negatives of every child of the root, as in
        # one-vs-rest: they reach no node below it, but the root's classifiers must
        # learn to reject them (left out, a tree fitted on a corpus with untagged
        # documents scored them as if they were like the tagged ones)
        unlabelled = np.setdiff1d(np.flatnonzero(doc_weight > 0), doc_of)
        loss = LOSS_CODES[self.loss]
        pool_buffers = _LocalMaps(X.shape[1])
        n_threads = self._n_threads()
        results: dict[int, list] = {}
        n_unconverged = 0
        # a node has at most max(branching, leaf_size) children: uint8 or uint16 suffices
        child_dtype = _child_dtype(int(np.diff(self.node_slot_ptr_).max()))
        max_depth = int(depth_of.max())
        # matcher-aware negatives: the nodes each document reaches by beam search over
        # the levels trained so far (every document starts at the root)
        beam = None
        if negative_beam and max_depth > 0:
            is_leaf_node = np.array([bool(is_leaf) for is_leaf, _ in nodes])
            live = np.flatnonzero(doc_weight > 0)
            beam = (live, np.zeros((len(live), 1), np.int32), np.zeros((len(live), 1)))
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            for depth in range(max_depth + 1):
                depth_started = time.perf_counter()
                reached = None
                if beam is not None and depth > 0:
                    live, beam_nodes, _ = beam
                    valid = beam_nodes >= 0
                    reached = (beam_nodes[valid].astype(np.int64),
                               np.broadcast_to(live[:, None], beam_nodes.shape)[valid])
                    if self.negative_levels == "leaves":
                        # only the label classifiers get them; routing nodes keep
                        # their plain training (the beam still passes through them)
                        on_leaf = is_leaf_node[reached[0]]
                        reached = (reached[0][on_leaf], reached[1][on_leaf])
                if depth == 0 and len(unlabelled):
                    reached = (np.zeros(len(unlabelled), np.int64), unlabelled)
                blocks = _depth_blocks(depth, depth_of, nodes, node_labels, doc_of, label_of,
                                       value_of, n_labels, reached)
                del reached
                tasks = _split_tasks(blocks, nodes, indptr, n_threads)
                # the progress bar moves when a task ends: the root's few tasks over
                # every document (35 s on yso-finna-en, 590k documents) left a log
                # without a terminal silent, so each depth says what it starts
                n_rows = sum(len(b[0]) for b in blocks.values())
                logger.info("label tree depth %d: training %s node%s on %s row%s ...",
                            depth, f"{len(blocks):,}", plural_s(len(blocks)), f"{n_rows:,}",
                            plural_s(n_rows))

                def work(task, blocks=blocks):
                    node, lo, hi = task
                    rows, row_ptr, row_child, row_target = blocks[node]
                    local = pool_buffers.get()
                    out = train_block(data, indices, indptr, rows, row_ptr, row_child,
                                      row_target, doc_weight[rows], len(nodes[node][1]), lo, hi,
                                      float(self.C), 1.0, loss, float(self.tol),
                                      kernel_count(self.max_iter), float(self.prune_threshold),
                                      kernel_seed(int(self.random_state) * 1_000_003
                                                  + node * 131),
                                      local)
                    return node, lo, _compact(out, child_dtype), int(out[4])

                # the bar counts work, not classifiers: each classifier of a task over
                # each row of its node (a "classifier-row"). Counted in classifiers, the
                # root's two over 590k yso-finna-en documents were 2 of 28,282 and the
                # bar read 2% after 70 s of a 125 s fit (a tqdm ETA of 26 hours)
                task_work = [len(blocks[node][0]) * (hi - lo) for node, lo, hi in tasks]
                futures = [pool.submit(work, task) for task in tasks]
                try:
                    with progress_bar(total=sum(task_work), desc=f"training tree depth {depth}",
                                      unit="classifier-row", enabled=self.show_progress) as bar:
                        for future, amount in zip(futures, task_work, strict=True):
                            node, lo, out, stopped = future.result()
                            n_unconverged += stopped
                            results.setdefault(node, []).append((lo, out))
                            bar.update(amount)
                            del out
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
                # a finished future keeps its result: drop them so that only `results`
                # holds the raw weights, which assembly then frees node by node
                futures.clear()
                logger.info("label tree depth %d: %s node%s, %s row%s, %s task%s (%.1f s)",
                            depth, f"{len(blocks):,}", plural_s(len(blocks)), f"{n_rows:,}",
                            plural_s(n_rows), f"{len(tasks):,}", plural_s(len(tasks)),
                            time.perf_counter() - depth_started)
                if beam is not None and depth < max_depth:
                    started = time.perf_counter()
                    beam = self._expand_beam(X, beam, results, blocks, child_dtype,
                                             negative_beam)
                    logger.info("label tree depth %d: beam of %s training documents (%.1f s)",
                                depth + 1, f"{len(beam[0]):,}", time.perf_counter() - started)
                del blocks
        self._assemble(results, nodes, child_dtype)
        return n_unconverged

    def _expand_beam(self, X, beam, results, blocks, child_dtype, negative_beam: int):
        """Each training document's best ``negative_beam`` nodes one level further down.

        Uses the classifiers just trained at the current depth (``blocks`` names its
        nodes), packed without disturbing ``results``.
        """
        from tagsmith.models._tree_kernels import SCORE_CODES, expand_beam, launch

        live, beam_nodes, beam_scores = beam
        level = {node: results[node] for node in blocks if node in results}
        packed = _pack_nodes(level, len(self.node_slot_ptr_) - 1, self.node_slot_ptr_,
                             child_dtype)
        X_live = X if len(live) == X.shape[0] else X[live]
        if not X_live.has_sorted_indices:  # the kernel merges sorted feature lists
            X_live = X_live.copy() if X_live is X else X_live
            X_live.sort_indices()
        # no more places than nodes: the ones beyond could only hold -1 (negative_beam=10**9
        # allocated documents x 10**9 places)
        width = min(int(negative_beam), len(self.node_slot_ptr_) - 1)
        out_nodes = np.empty((len(live), width), np.int32)
        out_scores = np.empty((len(live), width), np.float64)
        max_children = int(np.diff(self.node_slot_ptr_).max())
        launch(expand_beam, X_live.data, X_live.indices, X_live.indptr.astype(np.int64),
               beam_nodes, beam_scores, self.node_slot_ptr_, self.slot_target_,
               self.slot_is_label_, packed["slot_bias"], packed["node_feat_ptr"],
               packed["feat_ids"], packed["feat_entry_ptr"], packed["entry_child"],
               packed["entry_val"], max_children, SCORE_CODES[self.score], out_nodes,
               out_scores)
        return live, out_nodes, out_scores

    def _assemble(self, results: dict[int, list], nodes: list, child_dtype) -> None:
        """Per node: its weights as a CSR matrix by feature, and one bias per child."""
        packed = _pack_nodes(results, len(nodes), self.node_slot_ptr_, child_dtype)
        self.node_feat_ptr_ = packed["node_feat_ptr"]
        self.feat_ids_ = packed["feat_ids"]
        self.feat_entry_ptr_ = packed["feat_entry_ptr"]
        self.entry_child_ = packed["entry_child"]
        self.entry_val_ = packed["entry_val"]
        self.slot_bias_ = packed["slot_bias"]
        logger.info("label tree: %s weight%s in %s node%s (%s)", f"{len(self.entry_val_):,}",
                    plural_s(len(self.entry_val_)), f"{len(nodes):,}", plural_s(len(nodes)),
                    byte_size(sum(value.nbytes for value in packed.values())))

    # -- prediction ----------------------------------------------------------------------------
    def predict_topk(self, X: FeatureMatrix, k: int) -> TopK:
        """The ``k`` best labels per document by beam search; scores in [0, 1]."""
        self._check_fitted()
        k = _check_k(k, self.n_labels_)
        X = check_features(X, n_features=self.n_features_)
        if not X.has_sorted_indices:
            X = X.copy()
            X.sort_indices()
        # each tree's arrays are passed explicitly: predicting never writes the model's
        # attributes, so threads may share a fitted model (a forest used to point the
        # shared attributes at each tree in turn and mix trees under concurrent calls)
        if len(self.trees_) == 1:
            return self._predict_tree(X, k)
        # average over the trees; a label outside a tree's top candidates counts 0 there.
        # In blocks of documents: at k = 100 (threshold tuning) three trees' proposals
        # for 33k dev documents were 20M entries, and merging them all at once raised
        # training's peak memory by a quarter
        k_tree = min(self.n_labels_, max(2 * k, 20))
        step = max(1, MERGE_ENTRIES // (len(self.trees_) * k_tree))
        n_docs = X.shape[0]
        blocks = []
        # one bar over the documents (the blocks are each too small to show their own)
        with progress_bar(total=n_docs, desc="predicting", unit="doc",
                          enabled=self.show_progress and n_docs > PREDICT_BATCH) as bar:
            for start in range(0, max(n_docs, 1), step):
                blocks.append(self._average_trees(X[start:start + step], k, k_tree))
                bar.update(min(step, n_docs - start))
        return blocks[0] if len(blocks) == 1 else TopK.concatenate(blocks)

    def _average_trees(self, X: sp.csr_matrix, k: int, k_tree: int) -> TopK:
        """The forest's top ``k``: each tree's top ``k_tree`` averaged."""
        parts = [self._predict_tree(X, k_tree, tree, progress=False).to_csr()
                 for tree in self.trees_]
        total = sum(parts[1:], parts[0])
        # adding CSR matrices drops the sums that are 0: a label every tree proposed with
        # a score of 0 (underflow) went missing. Scores are never negative, so only a pair
        # every tree scored 0 sums to 0: the proposals scored 0 are added back as 0
        # entries (exact, so the other scores stay as they were)
        zeros = [(np.repeat(np.arange(part.shape[0]), np.diff(part.indptr))[part.data == 0],
                  part.indices[part.data == 0]) for part in parts if not part.data.all()]
        if zeros:
            total = total.tocoo()
            rows = np.concatenate([total.row] + [r for r, _ in zeros])
            cols = np.concatenate([total.col] + [c for _, c in zeros])
            values = np.concatenate([total.data, np.zeros(len(rows) - total.nnz,
                                                          total.dtype)])
            total = sp.coo_matrix((values, (rows, cols)), shape=total.shape).tocsr()
        return TopK.from_csr(total / len(parts), k)

    def _predict_tree(self, X: sp.csr_matrix, k: int,
                      tree: dict[str, np.ndarray] | None = None, *,
                      progress: bool = True) -> TopK:
        """Beam search in one tree: ``tree`` holds its arrays (default: the attributes);
        ``progress=False`` shows no bar (a forest shows one over all its blocks)."""
        from tagsmith.models._tree_kernels import SCORE_CODES, beam_search, launch

        t = tree if tree is not None else {name: getattr(self, name) for name in self._ARRAYS}
        n_docs = X.shape[0]
        out_idx = np.full((n_docs, k), -1, np.int32)
        out_score = np.full((n_docs, k), -np.inf, np.float32)
        slot_ptr = t["node_slot_ptr_"]
        max_children = int(np.diff(slot_ptr).max()) if len(slot_ptr) > 1 else 1
        # a level never offers more candidates than the tree has nodes: a wider beam
        # keeps them all alike, but its buffers (beam x children per document) were
        # allocated as asked, and beam_width=10**9 failed inside numba (SystemError)
        beam = max(min(int(self.beam_width), len(slot_ptr) - 1), 1)
        indptr = X.indptr.astype(np.int64)
        with progress_bar(total=n_docs, desc="predicting", unit="doc",
                          enabled=progress and self.show_progress
                          and n_docs > PREDICT_BATCH) as bar:
            for lo in range(0, n_docs, PREDICT_BATCH):
                hi = min(n_docs, lo + PREDICT_BATCH)
                sub_ptr = indptr[lo:hi + 1] - indptr[lo]
                a, b = indptr[lo], indptr[hi]
                launch(beam_search, X.data[a:b], X.indices[a:b], sub_ptr, slot_ptr,
                       t["slot_target_"], t["slot_is_label_"], t["slot_bias_"],
                       t["node_feat_ptr_"], t["feat_ids_"], t["feat_entry_ptr_"],
                       t["entry_child_"], t["entry_val_"], max_children, beam, k,
                       SCORE_CODES[self.score], out_idx[lo:hi], out_score[lo:hi])
                bar.update(hi - lo)
        return TopK._trusted(out_idx, out_score, self.n_labels_)

    # -- state ---------------------------------------------------------------------------------
    _ARRAYS = ("node_slot_ptr_", "slot_target_", "slot_is_label_", "slot_bias_",
               "node_feat_ptr_", "feat_ids_", "feat_entry_ptr_", "entry_child_", "entry_val_")
    _DTYPES = (np.int64, np.int32, np.uint8, np.float32, np.int64, np.int32, np.int64, np.int32,
               np.float32)

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {"params": self.get_params(), "n_features": int(self.n_features_),
                "n_labels": int(self.n_labels_), "n_trees": len(self.trees_)}
        arrays = {}
        for tree, tree_arrays in enumerate(self.trees_):
            prefix = "" if tree == 0 else f"t{tree}_"
            arrays.update({prefix + name.rstrip("_"): value
                           for name, value in tree_arrays.items()})
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> LabelTree:
        model = cls(**cls.params_from_json(meta["params"]))
        # beam search reads score and beam_width: a bad one is a damaged state now, not
        # a KeyError at the first prediction
        model._validate_params()
        model.n_features_ = int(meta["n_features"])
        model.n_labels_ = int(meta["n_labels"])
        model.trees_ = []
        n_trees = check_int("n_trees", meta.get("n_trees", 1), 1)
        for tree in range(n_trees):
            prefix = "" if tree == 0 else f"t{tree}_"
            tree_arrays = {}
            for name, dtype in zip(cls._ARRAYS, cls._DTYPES, strict=True):
                key = prefix + name.rstrip("_")
                if key not in arrays:
                    raise ValueError(f"tree state lacks the array {key!r}")
                stored = np.dtype(arrays[key].dtype)
                # child indices are stored as narrow as the widest node allows, entry
                # offsets in 32 bits where they fit (older bundles: int32 / int64)
                narrow = {"entry_child_": (np.dtype(np.uint8), np.dtype(np.uint16)),
                          "feat_entry_ptr_": (np.dtype(np.uint32),)}.get(name, ())
                wanted = stored if stored in narrow else np.dtype(dtype)
                if np.ndim(arrays[key]) != 1:
                    raise ValueError(f"tree state array {key!r} has shape "
                                     f"{np.shape(arrays[key])}, expected 1-D")
                # the cast below takes anything: strings were parsed as numbers, float ids
                # truncated, complex weights lost their imaginary part, a record read as 0
                kinds = "iuf" if np.dtype(dtype).kind == "f" else "iu"
                if stored.kind not in kinds:
                    raise ValueError(f"tree state array {key!r} has dtype {stored}, expected "
                                     + ("numbers" if kinds == "iuf" else "integers"))
                tree_arrays[name] = np.ascontiguousarray(arrays[key], dtype=wanted)
            model.trees_.append(tree_arrays)
            model._use_tree(tree)
            model._check_state()
        model._use_tree(0)
        return model

    def _check_state(self) -> None:
        """Cheap consistency checks so a damaged state fails here, not inside numba."""
        n_nodes = len(self.node_slot_ptr_) - 1
        n_slots = len(self.slot_target_)
        problems = []
        if n_nodes < 1 or self.node_slot_ptr_[-1] != n_slots:
            problems.append("slot pointers do not match the slots")
        if len(self.slot_is_label_) != n_slots or len(self.slot_bias_) != n_slots:
            raise ValueError("damaged tree state: slot arrays differ in length")
        # the kernels read any non-zero flag as "a label", so only 0 marks an inner node
        is_label = self.slot_is_label_ != 0
        labels = self.slot_target_[is_label]
        inner = self.slot_target_[~is_label]
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_labels_):
            problems.append("label ids out of range")
        if inner.size and (inner.min() <= 0 or inner.max() >= n_nodes):
            problems.append("child node ids out of range")
        # one slot per label and per child node: predictions are built as trusted TopKs,
        # so a label reachable twice would come out twice in a document's top k
        if not problems and (labels.size and np.bincount(labels).max() > 1
                             or inner.size and np.bincount(inner).max() > 1):
            problems.append("a label or node sits in two slots")
        from tagsmith.store.bundle import check_pointers

        # offsets checked first: a decreasing unsigned offset would wrap into a huge count
        check_pointers("damaged tree state: node_slot_ptr", self.node_slot_ptr_)
        check_pointers("damaged tree state: node_feat_ptr", self.node_feat_ptr_,
                       length=n_nodes + 1, end=len(self.feat_ids_))
        check_pointers("damaged tree state: feat_entry_ptr", self.feat_entry_ptr_,
                       length=len(self.feat_ids_) + 1, end=len(self.entry_child_))
        if len(self.entry_val_) != len(self.entry_child_):
            problems.append("weight arrays are inconsistent")
        # a NaN weight or bias made NaN label scores, which beam search hands out as a
        # trusted TopK (an infinite one is the same NaN once a margin adds +inf and -inf)
        if not (np.all(np.isfinite(self.slot_bias_)) and np.all(np.isfinite(self.entry_val_))):
            problems.append("NaN or infinite weights")
        if not problems and inner.size:
            # children are numbered after their parent, so every path down ends; a child
            # pointing back up would send the beam search round in circles
            parent = np.repeat(np.arange(n_nodes, dtype=np.int64), np.diff(self.node_slot_ptr_))
            if np.any(self.slot_target_[~is_label] <= parent[~is_label]):
                problems.append("a child node is numbered before its parent")
        if self.feat_ids_.size and (self.feat_ids_.min() < 0
                                    or self.feat_ids_.max() >= self.n_features_):
            problems.append("feature ids out of range")
        if not problems and self.entry_child_.size:
            from tagsmith.models._tree_kernels import children_in_range

            # the kernel trusts the pointers, so only once they have passed the checks above
            if not children_in_range(self.node_slot_ptr_, self.node_feat_ptr_,
                                     self.feat_entry_ptr_, self.entry_child_):
                problems.append("child indices out of range")
        if problems:
            raise ValueError("damaged tree state: " + "; ".join(problems))


def _pack_nodes(results: dict[int, list], n_nodes: int, node_slot_ptr: np.ndarray,
                child_dtype) -> dict[str, np.ndarray]:
    """The model arrays (weights as CSR by feature per node, slot biases) of ``results``.

    ``results[node]`` holds the node's compacted task outputs (see :func:`_compact`),
    each sorted by feature. They are popped from ``results`` and copied into
    preallocated arrays node by node, so packing needs little beyond the packed size.
    Nodes without results get no weights and a bias that never chooses them.
    """
    # children of nodes no training document reaches are never chosen
    slot_bias = np.full(int(node_slot_ptr[-1]), -UNREACHED_BIAS, np.float32)
    n_entries = sum(len(piece[3]) for pieces in results.values() for _, piece in pieces)
    n_feats = sum(len(piece[0]) for pieces in results.values() for _, piece in pieces)
    entry_child = np.empty(n_entries, child_dtype)
    entry_val = np.empty(n_entries, np.float32)
    feat_ids = np.empty(n_feats, np.int32)  # an upper bound: split nodes share features
    # entry offsets: 32 bits while a tree has fewer than 2^32 weights (4 bytes saved on
    # every (node, feature) pair: about 43 MB of a yso-finna-en tree's 340)
    feat_entry_ptr = np.empty(n_feats + 1, np.uint32 if n_entries < 2**32 else np.int64)
    node_feat_ptr = np.zeros(n_nodes + 1, np.int64)
    at_entry = at_feat = 0
    for node in range(n_nodes):
        pieces = sorted(results.pop(node, []), key=lambda item: item[0])
        s0 = node_slot_ptr[node]
        for lo, (_, _, _, _, biases) in pieces:
            slot_bias[s0 + lo:s0 + lo + len(biases)] = biases
        if len(pieces) == 1:
            unique_feat, counts, child, val, _ = pieces[0][1]
        elif pieces:  # several child ranges: merge them by feature, children in order
            feat = np.concatenate([np.repeat(p[0], p[1]) for _, p in pieces])
            order = np.argsort(feat, kind="stable")
            child = np.concatenate([p[2] for _, p in pieces])[order]
            val = np.concatenate([p[3] for _, p in pieces])[order]
            unique_feat, counts = np.unique(feat, return_counts=True)
            del feat, order
        else:
            unique_feat = counts = np.zeros(0, np.int64)
            child, val = np.zeros(0, child_dtype), np.zeros(0, np.float32)
        n_here, f_here = len(child), len(unique_feat)
        entry_child[at_entry:at_entry + n_here] = child
        entry_val[at_entry:at_entry + n_here] = val
        feat_ids[at_feat:at_feat + f_here] = unique_feat
        if f_here:
            feat_entry_ptr[at_feat:at_feat + f_here] = at_entry + np.concatenate(
                [[0], np.cumsum(counts)[:-1]])
        at_entry += n_here
        at_feat += f_here
        node_feat_ptr[node + 1] = at_feat
        del pieces, child, val
    feat_entry_ptr[at_feat] = at_entry
    return {"node_feat_ptr": node_feat_ptr, "feat_ids": feat_ids[:at_feat].copy(),
            "feat_entry_ptr": feat_entry_ptr[:at_feat + 1].copy(), "entry_child": entry_child,
            "entry_val": entry_val, "slot_bias": slot_bias}


def _compact(out: tuple, child_dtype) -> tuple:
    """A solver output ``(child, feature, value, biases, n_unconverged)``, sorted by
    feature, made compact.

    Returns ``(unique features, entries per feature, child, value, biases)`` with
    children in ``child_dtype``: 5-6 bytes per weight instead of 12. The count of
    children that stopped at ``max_iter`` is not part of it: the caller adds it up
    for the fit's one warning.
    """
    child, feat, val, biases, _ = out
    new_feature = np.ones(len(feat), bool)
    new_feature[1:] = feat[1:] != feat[:-1]
    starts = np.flatnonzero(new_feature)
    counts = np.diff(np.append(starts, len(feat)))
    return feat[starts], counts, child.astype(child_dtype), val, biases


def _per_tree(value, name: str) -> list:
    """A shape parameter as a list of per-tree values (tree ``t`` takes item ``t % len``).

    >>> _per_tree(16, "branching"), _per_tree([16, 32], "branching")
    ([16], [16, 32])
    """
    if isinstance(value, list | tuple):
        if not value:
            raise InvalidParameterError(name, "a value or a non-empty list", value)
        return list(value)
    return [value]


def _plain_int(value) -> int | None:
    """``value`` as a plain ``int`` when it is an integer (numpy ones too, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def _same_shape(given, values: list):
    """Checked per-tree ``values`` in the shape they were given: one value, or a list."""
    return list(values) if isinstance(given, list | tuple) else values[0]


def _child_dtype(n_children: int):
    if n_children <= 256:
        return np.uint8
    return np.uint16 if n_children <= 65_536 else np.int32


# -- tree construction ----------------------------------------------------------------------
#: the largest ``label_feature_weight`` the label representations apply as a factor on
#: the label-name features in float32; above it the factor's squares overflow there
_LARGEST_NAME_WEIGHT = 1e18


def _normalize_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (empty rows stay empty), in ``matrix``'s dtype.

    Rows whose norm, from float32 squares, overflowed or underflowed (values above
    about 1.8e19 or below about 1e-23: a PIFA sum of such features) have it summed
    again in float64, as :func:`tagsmith.models.knn.l2_normalize` does: they became
    empty, or stayed unscaled, and the labels were clustered on nothing.
    """
    matrix = matrix.tocsr()
    with np.errstate(over="ignore"):  # rows whose squares overflow are summed again
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    redo = _float32_norm_lost(norms, matrix)
    norms[norms == 0] = 1.0
    scale = 1.0 / norms
    if redo.size:
        exact = _float64_row_norms(matrix, redo)
        scale[redo] = np.divide(1.0, exact, out=np.ones_like(exact), where=exact > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def _prune_rows(matrix: sp.csr_matrix, keep: int | None) -> sp.csr_matrix:
    """Keep the ``keep`` largest entries of every row."""
    matrix = matrix.tocsr()
    lengths = np.diff(matrix.indptr)
    if keep is None or lengths.max(initial=0) <= keep:
        return matrix
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    # order entries by row, then by decreasing magnitude; keep each row's first `keep`
    order = np.lexsort((-np.abs(matrix.data), rows))
    rank = np.arange(len(order)) - np.repeat(matrix.indptr[:-1], lengths)
    selected = order[rank < keep]
    selected.sort()
    counts = np.minimum(lengths, keep)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return sp.csr_matrix((matrix.data[selected], matrix.indices[selected], indptr),
                         shape=matrix.shape)


def build_tree(reps: sp.csr_matrix, *, branching: int, leaf_size: int, max_depth: int,
               n_iter: int, seed: int, n_threads: int = 1,
               balance: float = 0.5) -> tuple[list, list]:
    """Hierarchical clustering of label representations into a tree by 2-means splits.

    ``balance`` is the smallest share of a node's labels either side of a split
    takes: 0.5 splits exactly in half (Parabel); less lets each label go to its
    nearer centroid down to that floor, so clusters follow the data (in the spirit
    of Bonsai's unconstrained k-means) and the tree's depth varies.

    Returns ``nodes`` (a list of ``(is_leaf, children)``, node 0 the root; a leaf's
    children are label ids, an internal node's children are node ids) and the label
    ids under each node. The binary splits of one round run in parallel threads.
    """
    from tagsmith.models._solver import kernel_count, kernel_seed
    from tagsmith.models._tree_kernels import balanced_two_means

    splits = int(round(math.log2(branching)))
    n_labels = reps.shape[0]
    reps = reps.tocsr()
    data, indices = reps.data.astype(np.float32), reps.indices.astype(np.int32)
    indptr = reps.indptr.astype(np.int64)
    scratch = _LocalMaps(reps.shape[1])

    def split(job: tuple[int, np.ndarray]) -> list[np.ndarray]:
        salt, part = job
        if len(part) <= leaf_size:
            return [part]
        left = balanced_two_means(data, indices, indptr, part.astype(np.int64),
                                  kernel_count(n_iter),
                                  kernel_seed(seed * 7_919 + salt), scratch.get(),
                                  max(1, math.ceil(balance * len(part))))
        return [part[left], part[~left]]

    nodes: list = [None]
    node_labels: list[np.ndarray] = [np.arange(n_labels)]
    frontier = [(0, 0)]
    n_jobs = 0
    with ThreadPoolExecutor(max_workers=max(1, n_threads)) as pool:
        while frontier:
            expanding = []
            for node, depth in frontier:
                labels = node_labels[node]
                if len(labels) <= leaf_size or depth >= max_depth:
                    nodes[node] = (True, labels.astype(np.int32))
                else:
                    expanding.append((node, depth, [labels], _split_rounds(len(labels),
                                                                           leaf_size, splits)))
            # rounds of binary splits, every expanding node's parts at once
            for round_ in range(max((item[3] for item in expanding), default=0)):
                owners, jobs = [], []
                for i, (_, _, parts, rounds) in enumerate(expanding):
                    if round_ >= rounds:
                        continue
                    for part in parts:
                        owners.append(i)
                        jobs.append((n_jobs, part))
                        n_jobs += 1
                results = list(pool.map(split, jobs))
                for i in set(owners):
                    expanding[i][2].clear()
                for i, pieces in zip(owners, results, strict=True):
                    expanding[i][2].extend(pieces)
            frontier = []
            for node, depth, parts, _ in expanding:
                children = []
                for part in parts:
                    children.append(len(nodes))
                    nodes.append(None)
                    node_labels.append(part)
                    frontier.append((len(nodes) - 1, depth + 1))
                nodes[node] = (False, np.array(children, np.int32))
    return nodes, node_labels


#: the parameters that decide a tree's clustering, in :meth:`LabelTree._clustering_key`'s order
CLUSTERING_PARAMS = ("n_trees", "branching", "leaf_size", "max_depth", "max_rep_features",
                     "label_feature_weight", "cluster_iter", "cluster_balance", "random_state")
#: the arrays of a fitted tree that :func:`_reused_tree` reads: its shape, not its weights
_SHAPE_ARRAYS = ("node_slot_ptr_", "slot_target_", "slot_is_label_")


def _reused_tree(arrays: dict, reps: sp.csr_matrix | None,
                 place: np.ndarray | None,
                 leaf_size: int) -> tuple[list, list[np.ndarray], int]:
    """The ``nodes`` and ``node_labels`` (as :func:`build_tree` returns them) of a fitted
    tree's arrays, with the labels in ``place`` that have a representation in ``reps``
    moved to the leaf of the most similar mean representation of the labels staying
    among the leaves with room (fewer than ``leaf_size`` labels); a leaf that would be
    left empty keeps them. Also: how many labels moved."""
    ptr, target, is_label = (arrays["node_slot_ptr_"], arrays["slot_target_"],
                             arrays["slot_is_label_"])
    nodes: list = []
    for lo, hi in zip(ptr[:-1], ptr[1:], strict=True):
        nodes.append((bool(hi > lo and is_label[lo]), np.asarray(target[lo:hi], np.int32)))
    moved = 0
    if reps is not None and place is not None and np.any(place):
        n_labels = reps.shape[0]
        leaves = np.array([i for i, (leaf, _) in enumerate(nodes) if leaf], np.int64)
        leaf_of = np.full(n_labels, -1, np.int64)
        for j, node in enumerate(leaves):
            leaf_of[nodes[node][1]] = j
        moving = np.asarray(place, bool) & (np.diff(reps.indptr) > 0) & (leaf_of >= 0)
        staying = (leaf_of >= 0) & ~moving
        kept = np.bincount(leaf_of[staying], minlength=len(leaves))
        moving &= kept[np.maximum(leaf_of, 0)] > 0  # a leaf of movers alone keeps them
        staying = (leaf_of >= 0) & ~moving
        if moving.any():
            rows = np.flatnonzero(staying)
            members = sp.csr_matrix((np.ones(len(rows), np.float32), (leaf_of[rows], rows)),
                                    shape=(len(leaves), n_labels))
            centroids = _normalize_rows(sp.csr_matrix(members @ reps))
            movers = np.flatnonzero(moving)
            similarity = np.asarray((reps[movers] @ centroids.T).todense())
            # a leaf takes movers only while it holds fewer than leaf_size labels (or
            # than it held, where max_depth left it larger): the nearest leaf filled up
            # grew past leaf_size, which README promises as a maximum. The surest
            # movers choose first; one whose leaves with room are no nearer than its
            # own stays (a mover leaving frees its place, so no leaf ever overflows)
            size = np.bincount(leaf_of[leaf_of >= 0], minlength=len(leaves))
            capacity = np.maximum(size, int(leaf_size))
            old_leaf = leaf_of.copy()
            for i in np.argsort(-similarity.max(axis=1), kind="stable"):
                own = leaf_of[movers[i]]
                for j in np.argsort(-similarity[i], kind="stable"):
                    if j == own or similarity[i, j] <= 0:
                        break
                    if size[j] < capacity[j]:
                        size[j] += 1
                        size[own] -= 1
                        leaf_of[movers[i]] = j
                        break
            movers = movers[leaf_of[movers] != old_leaf[movers]]
            if len(movers):
                changed = np.unique(np.concatenate([old_leaf[movers], leaf_of[movers]]))
                order = np.argsort(leaf_of, kind="stable")
                bounds = np.searchsorted(leaf_of[order], [changed, changed + 1])
                for j, lo, hi in zip(changed, *bounds, strict=True):
                    nodes[leaves[j]] = (True, order[lo:hi].astype(np.int32))
                moved = len(movers)
    node_labels: list[np.ndarray] = [np.empty(0, np.int64)] * len(nodes)
    for node in range(len(nodes) - 1, -1, -1):  # a child's id is above its parent's
        leaf, children = nodes[node]
        node_labels[node] = (children.astype(np.int64) if leaf else
                             np.concatenate([node_labels[child] for child in children]))
    return nodes, node_labels, moved


def _split_rounds(n_labels: int, leaf_size: int, splits: int) -> int:
    """Binary split rounds for a node of ``n_labels`` labels (``splits`` = log2(branching)).

    A node whose labels fit into leaves within one round more than a full level
    splits straight into leaves (up to ``2 * branching`` of them) rather than
    leaving a thin last level of two-child nodes, which would add one more
    classifier to every path for nothing.

    >>> _split_rounds(27_754, 100, 4), _split_rounds(1_734, 100, 4), _split_rounds(150, 100, 4)
    (4, 5, 1)
    """
    needed = math.ceil(math.log2(n_labels / leaf_size))
    return needed if needed <= splits + 1 else splits


class _LocalMaps:
    """Per-thread int32 feature maps (all -1) for the compiled kernels."""

    def __init__(self, n_features: int):
        self.n_features = n_features
        self._local = threading.local()

    def get(self) -> np.ndarray:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = np.full(self.n_features, -1, np.int32)
            self._local.buffer = buffer
        return buffer


def _node_depths(nodes: list) -> np.ndarray:
    depth = np.zeros(len(nodes), np.int64)
    for node, (is_leaf, children) in enumerate(nodes):
        if not is_leaf:
            depth[children] = depth[node] + 1
    return depth


def _depth(nodes: list) -> int:
    return int(_node_depths(nodes).max()) + 1


def _depth_blocks(depth, depth_of, nodes, node_labels, doc_of, label_of, value_of, n_labels,
                  reached=None):
    """Training blocks of the nodes at one depth: node -> (rows, row_ptr, child, target).

    A document is a row of a node when it has a label below the node; it is a
    positive of each child with a label of it below that child, with the largest such
    target (soft targets stay soft). ``reached`` = (nodes, docs) adds the documents
    that beam search takes to a node as rows too: negatives of every child they have
    no label under (entries with child -1, which the solver skips).
    """
    label_node = np.full(n_labels, -1, np.int64)
    label_child = np.full(n_labels, -1, np.int64)
    at_depth = np.flatnonzero(depth_of == depth)
    for parent in at_depth:
        is_leaf, children = nodes[parent]
        if is_leaf:
            label_node[children] = parent
            label_child[children] = np.arange(len(children))
        else:
            for j, child in enumerate(children):
                label_node[node_labels[child]] = parent
                label_child[node_labels[child]] = j
    node = label_node[label_of]
    keep = node >= 0
    node, doc, child = node[keep], doc_of[keep], label_child[label_of[keep]]
    value = value_of[keep]
    if reached is not None:
        node = np.concatenate([node, reached[0]])
        doc = np.concatenate([doc, reached[1]])
        child = np.concatenate([child, np.full(len(reached[0]), -1, np.int64)])
        value = np.concatenate([value, np.zeros(len(reached[0]))])
    order = np.lexsort((child, doc, node))
    node, doc, child, value = node[order], doc[order], child[order], value[order]
    # one entry per (node, doc, child), the largest target
    new_entry = np.ones(len(node), dtype=bool)
    new_entry[1:] = (node[1:] != node[:-1]) | (doc[1:] != doc[:-1]) | (child[1:] != child[:-1])
    starts = np.flatnonzero(new_entry)
    value = np.maximum.reduceat(value, starts) if len(starts) else value
    node, doc, child = node[starts], doc[starts], child[starts]
    new_row = np.ones(len(node), dtype=bool)
    new_row[1:] = (node[1:] != node[:-1]) | (doc[1:] != doc[:-1])
    row_starts = np.flatnonzero(new_row)
    row_node, row_doc = node[row_starts], doc[row_starts]
    blocks = {}
    node_bounds = np.searchsorted(row_node, at_depth, side="left"), \
        np.searchsorted(row_node, at_depth, side="right")
    for position, current in enumerate(at_depth):
        lo, hi = node_bounds[0][position], node_bounds[1][position]
        entry_lo = row_starts[lo] if lo < len(row_starts) else len(node)
        entry_hi = row_starts[hi] if hi < len(row_starts) else len(node)
        row_ptr = np.append(row_starts[lo:hi], entry_hi) - entry_lo
        blocks[int(current)] = (row_doc[lo:hi].astype(np.int64), row_ptr.astype(np.int64),
                                child[entry_lo:entry_hi].astype(np.int32),
                                value[entry_lo:entry_hi].astype(np.float64))
    return blocks


def _split_tasks(blocks: dict, nodes: list, indptr: np.ndarray,
                 n_threads: int) -> list[tuple[int, int, int]]:
    """(node, child_lo, child_hi) tasks of about equal work, biggest first."""
    from_children = {}
    work = {}
    for node, (rows, _, _, _) in blocks.items():
        n_children = len(nodes[node][1])
        from_children[node] = n_children
        work[node] = float((indptr[rows + 1] - indptr[rows]).sum() + len(rows)) * n_children
    total = sum(work.values())
    target = max(total / (2 * max(n_threads, 1)), 1.0)
    tasks: list[tuple[int, int, int]] = []
    for node in sorted(work, key=lambda n: -work[n]):
        n_children = from_children[node]
        if n_children == 0:
            continue
        # a task solves its children together over shared rows (the solver's strength),
        # so a node is split only as far as needed to keep every thread busy
        pieces = int(min(max(1, n_children // MIN_TASK_CHILDREN), max(1, n_threads),
                         max(1, math.ceil(work[node] / target))))
        bounds = np.linspace(0, n_children, pieces + 1).round().astype(int)
        tasks.extend((node, int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:],
                                                                strict=True) if hi > lo)
    return tasks
