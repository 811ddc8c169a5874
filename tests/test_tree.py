"""The compiled linear solver and the label tree."""

import json
import re
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from tagsmith._size import byte_size
from tagsmith.exceptions import InvalidParameterError
from tagsmith.models._solver import LOSS_CODES, train_block
from tagsmith.models.tree import LabelTree, build_tree


def _problem(n_docs=600, n_features=120, n_labels=3, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n_docs, n_features, density=0.08, random_state=seed, format="csr",
                  dtype=np.float32)
    truth = rng.normal(size=(n_features, n_labels))
    Y = (X @ truth + 0.05 * rng.normal(size=(n_docs, n_labels)) > 0.1).astype(np.float32)
    return X, sp.csr_matrix(Y)


def _solve(X, Y, *, loss="squared_hinge", C=1.0, weights=None, tol=1e-7, lo=0, hi=None):
    """Weights (features x labels) and biases from one block of all rows."""
    Y = sp.csr_matrix(Y)
    hi = Y.shape[1] if hi is None else hi
    rows = np.arange(X.shape[0], dtype=np.int64)
    weights = np.ones(X.shape[0]) if weights is None else np.asarray(weights, np.float64)
    child, feat, val, bias, _ = train_block(
        X.data, X.indices, X.indptr.astype(np.int64), rows, Y.indptr.astype(np.int64),
        Y.indices.astype(np.int32), Y.data.astype(np.float64), weights, Y.shape[1], lo, hi, C,
        1.0, LOSS_CODES[loss], tol, 5000, 0.0, 0, np.full(X.shape[1], -1, np.int32))
    W = np.zeros((X.shape[1], Y.shape[1]))
    W[feat, child] = val
    return W, bias


@pytest.mark.parametrize("loss", ["squared_hinge", "logistic"])
def test_solver_matches_liblinear(loss):
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    X, Y = _problem()
    W, bias = _solve(X, Y, loss=loss, C=2.0)
    for label in range(Y.shape[1]):
        y = Y[:, label].toarray().ravel()
        if loss == "logistic":
            ref = LogisticRegression(C=2.0, solver="liblinear", dual=True, tol=1e-8,
                                     max_iter=100_000).fit(X, y)
        else:
            ref = LinearSVC(C=2.0, dual=True, tol=1e-8, max_iter=100_000).fit(X, y)
        np.testing.assert_allclose(W[:, label], ref.coef_.ravel(), atol=2e-4)
        assert bias[label] == pytest.approx(ref.intercept_[0], abs=2e-4)


def test_solver_integer_weights_equal_duplicated_rows():
    X, Y = _problem(n_docs=300)
    counts = np.random.default_rng(1).integers(1, 4, size=X.shape[0])
    weighted, bias_w = _solve(X, Y, weights=counts)
    repeat = np.repeat(np.arange(X.shape[0]), counts)
    duplicated, bias_d = _solve(X[repeat], Y[repeat])
    np.testing.assert_allclose(weighted, duplicated, atol=1e-3)
    np.testing.assert_allclose(bias_w, bias_d, atol=1e-3)


@pytest.mark.parametrize("loss", ["squared_hinge", "logistic"])
def test_solver_soft_target_is_a_split_row(loss):
    X, Y = _problem(n_docs=300, n_labels=1)
    soft = Y.toarray()
    soft[::3, 0] = 0.3  # every third document is 30% positive
    W_soft, b_soft = _solve(X, sp.csr_matrix(soft), loss=loss)
    # the same as a positive copy with weight 0.3 plus a negative copy with weight 0.7
    n = X.shape[0]
    X2 = sp.vstack([X, X], format="csr")
    Y2 = np.concatenate([(soft > 0).astype(np.float32), np.zeros_like(soft)])
    w2 = np.concatenate([np.where(soft[:, 0] > 0, soft[:, 0], 0.0),
                         1.0 - soft[:, 0]])
    keep = w2 > 0
    W_split, b_split = _solve(X2[keep], sp.csr_matrix(Y2[keep]), loss=loss, weights=w2[keep])
    assert n < keep.sum()
    np.testing.assert_allclose(W_soft, W_split, atol=1e-3)
    np.testing.assert_allclose(b_soft, b_split, atol=1e-3)


def test_solver_child_range_equals_whole_block():
    X, Y = _problem(n_labels=4)
    whole, bias = _solve(X, Y)
    part, part_bias = _solve(X, Y, lo=1, hi=3)
    np.testing.assert_allclose(part[:, 1:3], whole[:, 1:3], atol=1e-4)
    np.testing.assert_allclose(part_bias, bias[1:3], atol=1e-4)
    assert not part[:, [0, 3]].any()


def _clustered_problem(n_labels=60, n_docs=3000, n_features=400, seed=3):
    """Documents of a few topics; each label belongs to a topic and to some words."""
    rng = np.random.default_rng(seed)
    label_words = [rng.choice(n_features, size=6, replace=False) for _ in range(n_labels)]
    rows, cols, vals, ys = [], [], [], []
    for doc in range(n_docs):
        labels = rng.choice(n_labels, size=rng.integers(1, 3), replace=False)
        words = np.concatenate([rng.choice(label_words[lab], size=3) for lab in labels]
                               + [rng.integers(0, n_features, size=3)])
        rows.extend([doc] * len(words))
        cols.extend(words)
        vals.extend(np.ones(len(words)))
        ys.append(labels)
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n_docs, n_features), dtype=np.float32)
    X.sum_duplicates()
    norms = np.sqrt(X.multiply(X).sum(axis=1)).A1
    X = sp.csr_matrix(sp.diags(1 / norms) @ X, dtype=np.float32)
    Y = sp.lil_matrix((n_docs, n_labels), dtype=np.float32)
    for doc, labels in enumerate(ys):
        Y[doc, labels] = 1
    return X, Y.tocsr()


def test_build_tree_is_balanced_and_covers_every_label_once():
    X, Y = _clustered_problem()
    reps = sp.csr_matrix(Y.T @ X)
    nodes, node_labels = build_tree(reps, branching=4, leaf_size=5, max_depth=10, n_iter=10,
                                    seed=0, n_threads=2)
    leaves = [children for is_leaf, children in nodes if is_leaf]
    assert sorted(np.concatenate(leaves).tolist()) == list(range(Y.shape[1]))
    assert all(len(leaf) <= 5 for leaf in leaves)
    for is_leaf, children in nodes:
        if not is_leaf:
            # a node whose labels fit into leaves one round later splits into up to
            # twice the branching, straight into leaves
            assert 2 <= len(children) <= 8
            sizes = [len(node_labels[c]) for c in children]
            assert max(sizes) - min(sizes) <= 2  # balanced splits
    again, _ = build_tree(reps, branching=4, leaf_size=5, max_depth=10, n_iter=10, seed=0,
                          n_threads=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(nodes, again, strict=True))


def test_unbalanced_splits_follow_the_clusters():
    # 30 labels around one direction, 10 around an orthogonal one: a balanced split
    # must mix them (20/20); with a low balance floor the first split separates them
    rng = np.random.default_rng(0)
    centers = np.eye(2, 50)
    rows = [centers[0] + 0.05 * rng.random(50) for _ in range(30)]
    rows += [centers[1] + 0.05 * rng.random(50) for _ in range(10)]
    reps = sp.csr_matrix(np.array(rows) / np.linalg.norm(rows, axis=1, keepdims=True))
    for balance, expected in ((0.5, [20, 20]), (0.1, [10, 30])):
        nodes, node_labels = build_tree(reps, branching=2, leaf_size=8, max_depth=10,
                                        n_iter=10, seed=0, balance=balance)
        root_children = nodes[0][1]
        assert sorted(len(node_labels[c]) for c in root_children) == expected
        leaves = [children for is_leaf, children in nodes if is_leaf]
        assert sorted(np.concatenate(leaves).tolist()) == list(range(40))
        assert all(len(leaf) <= 8 for leaf in leaves)
    small = min(root_children, key=lambda c: len(node_labels[c]))
    assert set(node_labels[small].tolist()) == set(range(30, 40))
    # a floor keeps a split from cutting off a sliver
    nodes, node_labels = build_tree(reps, branching=2, leaf_size=8, max_depth=10, n_iter=10,
                                    seed=0, balance=0.4)
    assert sorted(len(node_labels[c]) for c in nodes[0][1]) == [16, 24]
    with pytest.raises(InvalidParameterError, match="cluster_balance"):
        LabelTree(cluster_balance=0.0).fit(np.eye(3), np.eye(3))


def _exhaustive_scores(model: LabelTree, x: np.ndarray) -> np.ndarray:
    """Every label's path score, by walking the whole tree in Python."""
    from tagsmith.models._tree_kernels import SCORE_CODES, _log_score

    scores = np.full(model.n_labels_, -np.inf)
    stack = [(0, 0.0)]
    while stack:
        node, acc = stack.pop()
        s0, s1 = model.node_slot_ptr_[node], model.node_slot_ptr_[node + 1]
        margins = model.slot_bias_[s0:s1].astype(np.float64)
        for f_pos in range(model.node_feat_ptr_[node], model.node_feat_ptr_[node + 1]):
            f = model.feat_ids_[f_pos]
            for e in range(model.feat_entry_ptr_[f_pos], model.feat_entry_ptr_[f_pos + 1]):
                margins[model.entry_child_[e]] += x[f] * model.entry_val_[e]
        for j, margin in enumerate(margins):
            value = acc + _log_score(margin, SCORE_CODES[model.score])
            if model.slot_is_label_[s0 + j]:
                scores[model.slot_target_[s0 + j]] = np.exp(value)
            else:
                stack.append((model.slot_target_[s0 + j], value))
    return scores


@pytest.mark.parametrize("score", ["sigmoid", "l2-hinge"])
def test_wide_beam_equals_exhaustive_search(score):
    X, Y = _clustered_problem()
    model = LabelTree(branching=4, leaf_size=6, beam_width=1000, score=score,
                      n_jobs=2).fit(X, Y)
    topk = model.predict_topk(X[:40], k=5)
    dense = X[:40].toarray()
    for row in range(40):
        expected = _exhaustive_scores(model, dense[row])
        order = np.argsort(-expected, kind="stable")[:5]
        np.testing.assert_allclose(topk.scores[row], expected[order], rtol=1e-4)
        assert set(topk.indices[row]) == set(order) or \
            np.allclose(np.sort(expected[topk.indices[row]]), np.sort(expected[order]))


def test_tree_is_close_to_flat_one_vs_rest():
    X, Y = _clustered_problem()
    X_test, Y_test = X[2500:], Y[2500:]
    flat = LabelTree(leaf_size=1000).fit(X[:2500], Y[:2500])
    tree = LabelTree(branching=4, leaf_size=6).fit(X[:2500], Y[:2500])
    assert len(flat.node_slot_ptr_) == 2 and len(tree.node_slot_ptr_) > 5

    def p_at_1(model):
        top = model.predict_topk(X_test, 1).indices[:, 0]
        return Y_test[np.arange(len(top)), top].mean()

    assert p_at_1(flat) > 0.8
    assert p_at_1(tree) > p_at_1(flat) - 0.05


def test_state_round_trip_and_damage_detection():
    X, Y = _clustered_problem()
    model = LabelTree(branching=4, leaf_size=6).fit(X, Y)
    meta, arrays = model.to_state()
    again = LabelTree.from_state(meta, dict(arrays))
    a, b = model.predict_topk(X[:100], 5), again.predict_topk(X[:100], 5)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)
    broken = dict(arrays)
    broken["entry_child"] = broken["entry_child"].copy()
    broken["entry_child"][0] = np.iinfo(broken["entry_child"].dtype).max
    with pytest.raises(ValueError, match="child indices"):
        LabelTree.from_state(meta, broken)
    broken = dict(arrays)
    del broken["feat_ids"]
    with pytest.raises(ValueError, match="feat_ids"):
        LabelTree.from_state(meta, broken)
    # a label in two slots would come out twice in a document's top k
    broken = dict(arrays)
    broken["slot_target"] = broken["slot_target"].copy()
    label_slots = np.flatnonzero(broken["slot_is_label"])
    broken["slot_target"][label_slots[1]] = broken["slot_target"][label_slots[0]]
    with pytest.raises(ValueError, match="two slots"):
        LabelTree.from_state(meta, broken)
    with pytest.raises(ValueError, match="n_trees"):
        LabelTree.from_state({**meta, "n_trees": 2.5}, dict(arrays))
    # the parameters prediction reads are checked at load, not at the first prediction
    for bad in ({"score": "exp"}, {"beam_width": "10"}):
        with pytest.raises(InvalidParameterError, match=next(iter(bad))):
            LabelTree.from_state({**meta, "params": {**meta["params"], **bad}}, dict(arrays))


def test_unreached_labels_rank_last():
    X, Y = _clustered_problem()
    Y = sp.hstack([Y, sp.csr_matrix((Y.shape[0], 3))], format="csr")  # 3 labels, no documents
    model = LabelTree(branching=2, leaf_size=4).fit(X, Y)
    top = model.predict_topk(X[:50], 5)
    assert not np.isin(top.indices, [60, 61, 62]).any()


@pytest.mark.parametrize("params", [{"branching": 3}, {"branching": 1}, {"leaf_size": 1},
                                    {"loss": "hinge"}, {"score": "exp"}, {"C": 0},
                                    {"max_rep_features": 0}, {"beam_width": 0}])
def test_bad_parameters_are_named(params):
    X, Y = _problem()
    name = next(iter(params))
    with pytest.raises(InvalidParameterError, match=name):
        LabelTree(**params).fit(X, Y)


def test_label_features_shape_is_checked():
    X, Y = _problem()
    with pytest.raises(InvalidParameterError, match="label_features"):
        LabelTree(label_feature_weight=1.0).fit(X, Y, label_features=X[:2])
    model = LabelTree(label_feature_weight=1.0).fit(X, Y, label_features=X[:3])
    assert model.predict_topk(X[:2], 2).indices.shape == (2, 2)


def test_several_trees_average_their_scores_and_round_trip():
    X, Y = _clustered_problem()
    forest = LabelTree(n_trees=3, branching=4, leaf_size=6).fit(X[:2500], Y[:2500])
    assert len(forest.trees_) == 3
    # the trees come from different clusterings
    assert not all(np.array_equal(forest.trees_[0]["slot_target_"], t["slot_target_"])
                   for t in forest.trees_[1:])
    top = forest.predict_topk(X[2500:], 3)
    singles = []
    queries = X[2500:].tocsr()
    queries.sort_indices()  # the kernel expects sorted features; predict_topk sorts them
    for tree in range(3):
        singles.append(forest._predict_tree(queries, 20, forest.trees_[tree]).to_csr())
    mean = (singles[0] + singles[1] + singles[2]) / 3
    rows = np.arange(top.indices.shape[0])[:, None]
    np.testing.assert_allclose(top.scores, mean.toarray()[rows, top.indices], rtol=1e-5)
    meta, arrays = forest.to_state()
    again = LabelTree.from_state(meta, dict(arrays))
    np.testing.assert_array_equal(again.predict_topk(X[2500:], 3).indices, top.indices)
    # entry offsets are kept in 32 bits; a state with 64-bit offsets (older bundles)
    # loads and predicts the same
    assert arrays["feat_entry_ptr"].dtype == np.uint32
    assert again.trees_[1]["feat_entry_ptr_"].dtype == np.uint32
    wide = {key: value.astype(np.int64) if key.endswith("feat_entry_ptr") else value
            for key, value in arrays.items()}
    older = LabelTree.from_state(meta, wide)
    assert older.trees_[0]["feat_entry_ptr_"].dtype == np.int64
    np.testing.assert_array_equal(older.predict_topk(X[2500:], 3).indices, top.indices)
    # a damaged offset array is refused with a clear error (an unsigned offset that
    # decreases must not wrap into a huge allocation)
    broken = dict(arrays)
    broken["t1_feat_entry_ptr"] = arrays["t1_feat_entry_ptr"].copy()
    broken["t1_feat_entry_ptr"][5] = broken["t1_feat_entry_ptr"][7] + 1
    with pytest.raises(ValueError, match="damaged tree state: feat_entry_ptr"):
        LabelTree.from_state(meta, broken)
    # a weight entry naming a child its node does not have (each dtype the state uses)
    for key in ("entry_child", "t2_entry_child"):
        broken = dict(arrays)
        broken[key] = arrays[key].copy()
        broken[key][len(broken[key]) // 2] = np.iinfo(broken[key].dtype).max
        with pytest.raises(ValueError, match="child indices out of range"):
            LabelTree.from_state(meta, broken)
    # inconsistent lengths are reported before the entries are walked
    broken = dict(arrays)
    broken["entry_child"] = arrays["entry_child"][:-3]
    with pytest.raises(ValueError, match="weight arrays are inconsistent|feat_entry_ptr ends at"):
        LabelTree.from_state(meta, broken)


def test_trees_of_a_forest_can_take_their_own_shapes():
    X, Y = _clustered_problem()
    n_labels = Y.shape[1]
    forest = LabelTree(n_trees=3, branching=[2, 8], leaf_size=[4, 4, 12]).fit(X[:2500],
                                                                               Y[:2500])
    widths = [int(np.diff(t["node_slot_ptr_"])[0]) for t in forest.trees_]
    leaf_sizes = [int(np.diff(t["node_slot_ptr_"])[t["slot_is_label_"].astype(bool)[
        t["node_slot_ptr_"][:-1]]].max()) for t in forest.trees_]
    assert widths[0] == 2 and widths[1] > 2  # branching cycles: 2, 8, 2
    assert leaf_sizes[0] <= 4 and leaf_sizes[1] <= 4 and 4 < leaf_sizes[2] <= 12
    assert forest.predict_topk(X[2500:], 3).indices.shape == (X.shape[0] - 2500, 3)
    meta, arrays = forest.to_state()
    again = LabelTree.from_state(json.loads(json.dumps(meta)), dict(arrays))
    np.testing.assert_array_equal(again.predict_topk(X[2500:], 3).indices,
                                  forest.predict_topk(X[2500:], 3).indices)
    assert n_labels > 4
    for bad in ({"branching": [16, 3]}, {"branching": []}, {"leaf_size": [100, 1]},
                {"leaf_size": [True]}):
        with pytest.raises(InvalidParameterError, match=next(iter(bad))):
            LabelTree(**bad).fit(X[:50], Y[:50])


@pytest.mark.parametrize("shape", [{"branching": 2, "leaf_size": 4},
                                   {"branching": [2, 4, 2], "leaf_size": [4, 8, 2]}])
def test_forest_predicts_the_same_from_several_threads(shape):
    from concurrent.futures import ThreadPoolExecutor

    X, Y = _clustered_problem(n_labels=40, n_docs=1500, n_features=300)
    forest = LabelTree(n_trees=3, n_jobs=1, **shape).fit(X[:1000], Y[:1000])
    queries = X[1000:]
    attributes = {name: getattr(forest, name) for name in LabelTree._ARRAYS}
    reference = forest.predict_topk(queries, 5)

    def predict(_):
        top = forest.predict_topk(queries, 5)
        return (np.array_equal(top.indices, reference.indices)
                and np.array_equal(top.scores, reference.scores))

    # predicting used to point the shared per-tree attributes at each tree in turn:
    # concurrent calls mixed the trees' arrays (wrong labels, or a crash in the kernel)
    with ThreadPoolExecutor(8) as pool:
        same = list(pool.map(predict, range(96)))
    assert all(same), f"{same.count(False)} of {len(same)} concurrent predictions differ"
    # prediction leaves the model's attributes alone
    assert all(getattr(forest, name) is value for name, value in attributes.items())


WORKQUEUE_SCRIPT = """
import sys
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

sys.path.insert(0, sys.argv[1])
from test_tree import _clustered_problem
from tagsmith.models.tree import LabelTree

X, Y = _clustered_problem(n_labels=30, n_docs=700, n_features=200)
forest = LabelTree(n_trees=2, branching=2, leaf_size=4, n_jobs=1).fit(X[:500], Y[:500])
queries = [X[500 + 25 * i:525 + 25 * i] for i in range(8)]
alone = [forest.predict_topk(q, 5) for q in queries]
with ThreadPoolExecutor(8) as pool:
    together = list(pool.map(lambda i: forest.predict_topk(queries[i % 8], 5), range(200)))
same = [np.array_equal(top.indices, alone[i % 8].indices)
        and np.array_equal(top.scores, alone[i % 8].scores) for i, top in enumerate(together)]
print(numba.threading_layer(), all(same))
"""


def test_forest_predicts_from_several_threads_on_numba_s_workqueue_layer(tmp_path):
    """Without TBB or an OpenMP runtime (a slim container without libgomp, macOS without
    libomp) numba runs parallel kernels on its workqueue layer, which aborts the whole
    process when two threads launch one at once ("Concurrent access has been
    detected"): a web service predicting with a tree from a thread pool died, no
    exception raised. Launches are serialised on that layer."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    script = tmp_path / "workqueue.py"
    script.write_text(WORKQUEUE_SCRIPT, encoding="utf-8")
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script), str(ROOT / "tests")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["workqueue", "True"]


FORK_SCRIPT = """
import multiprocessing
import sys

import numba
import numpy as np

sys.path.insert(0, sys.argv[1])
from test_tree import _clustered_problem
from tagsmith.models.tree import LabelTree

X, Y = _clustered_problem(n_labels=30, n_docs=700, n_features=200)
forest = LabelTree(n_trees=2, branching=2, leaf_size=4, n_jobs=1).fit(X[:500], Y[:500])
alone = forest.predict_topk(X[500:], 5)  # the parent's kernels start its threads


def child(queue):
    top = forest.predict_topk(X[500:], 5)
    # training launches the other parallel kernel (the beam over the nodes)
    LabelTree(branching=2, leaf_size=4, negative_beam=2, n_jobs=1).fit(X[:200], Y[:200])
    queue.put(np.array_equal(top.indices, alone.indices)
              and np.array_equal(top.scores, alone.scores))


context = multiprocessing.get_context("fork")
queue = context.Queue()
process = context.Process(target=child, args=(queue,))
process.start()
process.join(240)
same = queue.get(timeout=5) if process.exitcode == 0 else None
print(numba.threading_layer(), process.exitcode, same)
"""


def test_forest_predicts_in_a_process_forked_after_the_parent_predicted(tmp_path):
    """A multiprocessing pool (fork, Linux's default) or a pre-forking server whose
    parent had predicted with a tree lost every worker that predicted: on numba's usual
    layer, GNU OpenMP, a parallel launch in the forked child aborted it ("Terminating:
    fork() called from a process already using GNU OpenMP, this is unsafe."), and the
    pool waited for ever. Such a child runs the kernels serially."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    script = tmp_path / "fork.py"
    script.write_text(FORK_SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script), str(ROOT / "tests")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[1:] == ["0", "True"], done.stdout + done.stderr[-2000:]


def test_serial_twins_give_what_the_parallel_kernels_give():
    from tagsmith.models._tree_kernels import SERIAL_TWINS, beam_search, expand_beam

    X, Y = _clustered_problem()
    model = LabelTree(branching=4, leaf_size=6, n_jobs=1).fit(X, Y)
    X = X[:40]
    X.sort_indices()
    arrays = (model.node_slot_ptr_, model.slot_target_, model.slot_is_label_, model.slot_bias_,
              model.node_feat_ptr_, model.feat_ids_, model.feat_entry_ptr_, model.entry_child_,
              model.entry_val_)
    x = (X.data, X.indices, X.indptr.astype(np.int64))
    max_children = int(np.diff(model.node_slot_ptr_).max())
    results = []
    # the output dtypes LabelTree._predict_tree passes (int32 labels, float32 scores):
    # int64 and float64 had numba compile both kernels again for this test alone
    for kernel in (beam_search, SERIAL_TWINS[beam_search]):
        out = np.zeros((40, 5), np.int32), np.zeros((40, 5), np.float32)
        kernel(*x, *arrays, max_children, 4, 5, 0, *out)
        results.append(out)
    beam = np.zeros((40, 1), np.int32), np.zeros((40, 1))
    for kernel in (expand_beam, SERIAL_TWINS[expand_beam]):
        out = np.zeros((40, 3), np.int32), np.zeros((40, 3))
        kernel(*x, *beam, *arrays, max_children, 0, *out)
        results.append(out)
    for a, b in (results[:2], results[2:]):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert (results[0][0][:, 0] >= 0).all() and (results[2][0][:, 0] >= 0).all()


def test_depth_blocks_take_routed_documents_as_negatives():
    from tagsmith.models.tree import _depth_blocks

    # root (node 0) -> nodes 1 and 2 (leaves with labels {0, 1} and {2, 3})
    nodes = [(False, np.array([1, 2])), (True, np.array([0, 1])), (True, np.array([2, 3]))]
    node_labels = [np.arange(4), np.array([0, 1]), np.array([2, 3])]
    depth_of = np.array([0, 1, 1])
    doc_of, label_of = np.array([0, 1, 2]), np.array([0, 3, 1])  # docs 0, 2 in leaf 1
    value_of = np.ones(3)
    plain = _depth_blocks(1, depth_of, nodes, node_labels, doc_of, label_of, value_of, 4)
    assert plain[1][0].tolist() == [0, 2] and plain[2][0].tolist() == [1]
    # beam search also takes doc 1 to leaf 1 and doc 0 to leaf 2 (and doc 0 to leaf 1,
    # where it is already a row)
    reached = (np.array([1, 2, 1]), np.array([1, 0, 0]))
    blocks = _depth_blocks(1, depth_of, nodes, node_labels, doc_of, label_of, value_of, 4,
                           reached)
    rows, row_ptr, child, target = blocks[1]
    assert rows.tolist() == [0, 1, 2]
    positives = [sorted(c for c in child[row_ptr[i]:row_ptr[i + 1]] if c >= 0)
                 for i in range(3)]
    assert positives == [[0], [], [1]]  # doc 1 is a negative of every child of leaf 1
    assert blocks[2][0].tolist() == [0, 1]


def test_expand_beam_keeps_the_best_child_nodes():
    from tagsmith.models._tree_kernels import SCORE_CODES, _log_score, expand_beam

    X, Y = _clustered_problem()
    model = LabelTree(branching=4, leaf_size=6, n_jobs=1).fit(X, Y)
    X = X[:30]
    X.sort_indices()
    out_nodes = np.empty((30, 2), np.int32)
    out_scores = np.empty((30, 2))
    expand_beam(X.data, X.indices, X.indptr.astype(np.int64), np.zeros((30, 1), np.int32),
                np.zeros((30, 1)), model.node_slot_ptr_, model.slot_target_,
                model.slot_is_label_, model.slot_bias_, model.node_feat_ptr_, model.feat_ids_,
                model.feat_entry_ptr_, model.entry_child_, model.entry_val_, 16,
                SCORE_CODES[model.score], out_nodes, out_scores)
    s0, s1 = model.node_slot_ptr_[0], model.node_slot_ptr_[1]
    dense = X.toarray()
    for row in range(30):
        margins = model.slot_bias_[s0:s1].astype(np.float64)
        for f_pos in range(model.node_feat_ptr_[0], model.node_feat_ptr_[1]):
            f = model.feat_ids_[f_pos]
            for e in range(model.feat_entry_ptr_[f_pos], model.feat_entry_ptr_[f_pos + 1]):
                margins[model.entry_child_[e]] += dense[row, f] * model.entry_val_[e]
        logs = np.array([_log_score(m, SCORE_CODES[model.score]) for m in margins])
        best = np.argsort(-logs, kind="stable")[:2]
        np.testing.assert_allclose(out_scores[row], logs[best], rtol=1e-5, atol=1e-9)
        assert set(out_nodes[row]) == set(model.slot_target_[s0 + best])


def test_negative_beam_trains_on_routed_documents_and_stays_accurate():
    X, Y = _clustered_problem()
    X_test, Y_test = X[2500:], Y[2500:]
    plain = LabelTree(branching=4, leaf_size=6, n_jobs=2).fit(X[:2500], Y[:2500])
    mined = LabelTree(branching=4, leaf_size=6, n_jobs=2,
                      negative_beam=3).fit(X[:2500], Y[:2500])

    def p_at_1(model):
        top = model.predict_topk(X_test, 1).indices[:, 0]
        return Y_test[np.arange(len(top)), top].mean()

    assert p_at_1(mined) >= p_at_1(plain) - 0.02
    # the extra negatives change the leaf classifiers, so the models differ
    assert not np.array_equal(plain.entry_val_, mined.entry_val_)
    again = LabelTree(branching=4, leaf_size=6, n_jobs=1,
                      negative_beam=3).fit(X[:2500], Y[:2500])
    np.testing.assert_allclose(again.predict_topk(X_test, 5).scores,
                               mined.predict_topk(X_test, 5).scores, rtol=1e-5)


def test_negative_beam_per_tree_applies_to_its_own_tree_only():
    X, Y = _clustered_problem()
    mixed = LabelTree(n_trees=2, branching=4, leaf_size=6, n_jobs=1,
                      negative_beam=[3, 0]).fit(X[:1500], Y[:1500])
    plain = LabelTree(n_trees=2, branching=4, leaf_size=6, n_jobs=1,
                      negative_beam=0).fit(X[:1500], Y[:1500])
    # same seeds, so the same clusterings: only the first tree's classifiers differ
    assert not np.array_equal(mixed.trees_[0]["entry_val_"], plain.trees_[0]["entry_val_"])
    for name, value in plain.trees_[1].items():
        np.testing.assert_array_equal(mixed.trees_[1][name], value, err_msg=name)
    with pytest.raises(InvalidParameterError, match="negative_beam"):
        LabelTree(negative_beam=[2, -1]).fit(X[:50], Y[:50])
    with pytest.raises(InvalidParameterError, match="negative_beam"):
        LabelTree(negative_beam=[]).fit(X[:50], Y[:50])


def test_negative_levels_leaves_keeps_routing_classifiers_as_without_negatives():
    X, Y = _clustered_problem()
    params = {"branching": 4, "leaf_size": 6, "n_jobs": 1}
    plain = LabelTree(**params).fit(X[:1500], Y[:1500])
    leaves = LabelTree(**params, negative_beam=3).fit(X[:1500], Y[:1500])
    every = LabelTree(**params, negative_beam=3, negative_levels="all").fit(X[:1500], Y[:1500])
    assert leaves.negative_levels == "leaves"  # the default
    routing = plain.slot_is_label_ == 0
    assert routing.any() and (~routing).any()
    # same clustering; routing nodes train on the same rows, label classifiers on more
    np.testing.assert_array_equal(leaves.slot_bias_[routing], plain.slot_bias_[routing])
    assert not np.array_equal(leaves.slot_bias_[~routing], plain.slot_bias_[~routing])
    assert not np.array_equal(every.slot_bias_[routing], plain.slot_bias_[routing])
    with pytest.raises(InvalidParameterError, match="negative_levels"):
        LabelTree(negative_levels="leaf").fit(X[:50], Y[:50])


@pytest.mark.parametrize("shape", [{"leaf_size": 1000}, {"branching": 2, "leaf_size": 40},
                                   {"branching": 4, "leaf_size": 12, "negative_beam": 2},
                                   {"n_trees": 2, "branching": [2, 4], "leaf_size": 20}])
def test_the_tree_does_not_depend_on_the_number_of_threads(shape):
    # nodes are split into tasks by the thread count: the trained weights must not be
    X, Y = _clustered_problem(n_labels=80, n_docs=1500)
    params = {"max_iter": 5, **shape}
    models = [LabelTree(n_jobs=n_jobs, **params).fit(X, Y) for n_jobs in (1, 2, 5)]
    for other in models[1:]:
        for name in ("slot_target_", "node_slot_ptr_"):
            np.testing.assert_array_equal(getattr(other, name), getattr(models[0], name))
        first, second = models[0].predict_topk(X[:200], 10), other.predict_topk(X[:200], 10)
        np.testing.assert_array_equal(first.indices, second.indices)
        np.testing.assert_array_equal(first.scores, second.scores)


def test_stored_zero_targets_change_nothing():
    # an explicit 0 in the targets is no label: it used to make its document a row,
    # and so a negative, of every node above that label
    X, Y = _problem(n_docs=200, n_features=40, n_labels=12, seed=2)
    Y = Y.tolil()
    Yz = Y.copy()
    for d in range(0, 200, 3):
        for label in range(12):
            if Y[d, label] == 0:
                Yz[d, label] = 1.0
    Y, Yz = Y.tocsr(), Yz.tocsr()
    Yz.data[np.asarray(Y[Yz.nonzero()]).ravel() == 0] = 0.0
    assert (Yz != Y).nnz == 0 and Yz.nnz > Y.nnz
    params = dict(leaf_size=3, branching=2, n_jobs=1)
    plain, zeros = LabelTree(**params).fit(X, Y), LabelTree(**params).fit(X, Yz)
    for name in LabelTree._ARRAYS:
        np.testing.assert_array_equal(getattr(plain, name), getattr(zeros, name), err_msg=name)


def test_forest_keeps_labels_every_tree_scores_zero():
    # labels without positives score 0.0 (an underflowed path product); one tree returns
    # them, and the forest's average used to drop them (a CSR sum drops zero entries),
    # giving fewer than k labels although every tree proposed k
    X, Y = _problem(n_docs=200, n_features=30, n_labels=12, seed=4)
    Y = Y.tolil()
    Y[:, 6:] = 0
    Y = Y.tocsr()
    Y.eliminate_zeros()
    params = dict(leaf_size=2, branching=2, beam_width=20, n_jobs=1)
    single = LabelTree(**params).fit(X, Y).predict_topk(X[:5], 12)
    assert single.valid.all() and np.any(single.scores == 0)
    forest = LabelTree(n_trees=2, **params).fit(X, Y).predict_topk(X[:5], 12)
    assert forest.valid.all()
    assert np.all(forest.scores[:, :-1] >= forest.scores[:, 1:])


def test_forest_averages_in_blocks_of_documents_with_the_same_result(monkeypatch):
    """The forest merges its trees' proposals a block of documents at a time (merging
    them all at once raised training's peak memory by a quarter at k = 100): any block
    size gives the same top-k, labels every tree scored 0 included."""
    import tagsmith.models.tree as tree_module

    X, Y = _problem(n_docs=300, n_features=30, n_labels=12, seed=4)
    Y = Y.tolil()
    Y[:, 8:] = 0  # labels without positives: scored 0 by every tree
    Y = Y.tocsr()
    Y.eliminate_zeros()
    forest = LabelTree(n_trees=3, leaf_size=2, branching=2, beam_width=20, n_jobs=1).fit(X, Y)
    whole = forest.predict_topk(X, 12)
    monkeypatch.setattr(tree_module, "MERGE_ENTRIES", 3 * 24 * 7)  # blocks of 7 documents
    blocks = forest.predict_topk(X, 12)
    np.testing.assert_array_equal(whole.indices, blocks.indices)
    np.testing.assert_array_equal(whole.scores, blocks.scores)
    assert blocks.valid.all() and np.any(blocks.scores == 0)
    assert len(forest.predict_topk(X[:0], 12)) == 0


def test_forest_shows_one_bar_over_its_documents(monkeypatch):
    """Merged a block of documents at a time, a forest's trees each predict fewer
    documents than PREDICT_BATCH and would show no bar: the forest shows one, counting
    every document once."""
    import tagsmith.models.tree as tree_module

    X, Y = _problem(n_docs=300, n_features=30, n_labels=12, seed=4)
    forest = LabelTree(n_trees=3, leaf_size=2, branching=2, beam_width=20, n_jobs=1).fit(X, Y)
    bars = []
    real = tree_module.progress_bar

    class Counting:
        def __init__(self, bar):
            self.bar, self.seen = bar, 0

        def __enter__(self):
            self.bar.__enter__()
            return self

        def __exit__(self, *exc):
            return self.bar.__exit__(*exc)

        def update(self, n=1):
            self.seen += n

    def spy(**kw):
        counting = Counting(real(**kw))
        bars.append((kw["desc"], kw["total"], kw["enabled"], counting))
        return counting

    monkeypatch.setattr(tree_module, "progress_bar", spy)
    monkeypatch.setattr(tree_module, "PREDICT_BATCH", 100)
    monkeypatch.setattr(tree_module, "MERGE_ENTRIES", 3 * 24 * 7)  # blocks of 7 documents
    forest.show_progress = True
    forest.predict_topk(X, 12)
    shown = [(desc, total, bar.seen) for desc, total, enabled, bar in bars if enabled]
    assert shown == [("predicting", 300, 300)]


def test_any_non_negative_seed_trains():
    """A 64-bit random_state (``--seed $(date +%s%N)``) overflowed the int64 seeds of the
    clustering and node-training kernels ("int too big to convert" from numba). Seeds
    count modulo 2**64: one that worked before builds exactly the tree it did."""
    X, Y = _problem(n_docs=200, n_features=40, n_labels=12, seed=2)
    params = {"branching": 2, "leaf_size": 2, "negative_beam": 2, "n_trees": 2, "n_jobs": 1}
    for seed in (3, 1_700_000_000_000_000_000):
        big = LabelTree(random_state=seed + 2**64, **params).fit(X, Y)
        plain = LabelTree(random_state=seed, **params).fit(X, Y)
        for big_tree, plain_tree in zip(big.trees_, plain.trees_, strict=True):
            for name, values in plain_tree.items():
                np.testing.assert_array_equal(big_tree[name], values, err_msg=name)


def test_a_beam_wider_than_the_tree_is_exhaustive_search():
    """``beam_width`` or ``negative_beam`` of 10**9 ("keep everything") allocated that
    many places per document: prediction failed inside numba (SystemError), training
    with matcher-aware negatives asked for documents x 10**9 node ids (MemoryError).
    No level has more nodes than the tree, so any wider beam keeps every candidate,
    exactly as a beam as wide as the tree does."""
    X, Y = _problem(n_docs=200, n_features=40, n_labels=12, seed=2)
    params = {"branching": 2, "leaf_size": 4, "n_jobs": 1}
    wide = LabelTree(beam_width=1_000, negative_beam=1_000, **params).fit(X, Y)
    huge = LabelTree(beam_width=10**9, negative_beam=10**9, **params).fit(X, Y)
    for name, values in wide.trees_[0].items():
        np.testing.assert_array_equal(huge.trees_[0][name], values, err_msg=name)
    expected = wide.predict_topk(X, 12)
    topk = huge.predict_topk(X, 12)
    np.testing.assert_array_equal(topk.indices, expected.indices)
    np.testing.assert_array_equal(topk.scores, expected.scores)
    assert np.all(topk.valid)  # exhaustive: every label reached


def _leaf_groups(model) -> set:
    """The labels of each node whose children are labels, as a set of frozensets."""
    ptr, target, is_label = (model.node_slot_ptr_, model.slot_target_, model.slot_is_label_)
    groups = set()
    for node in range(len(ptr) - 1):
        slots = slice(ptr[node], ptr[node + 1])
        if is_label[slots].any():
            groups.add(frozenset(target[slots][is_label[slots] == 1].tolist()))
    return groups


def _names_against_documents():
    """8 labels whose documents group them (0-3, 4-7) and whose names group them
    (even, odd); the names have features of their own."""
    rng = np.random.default_rng(3)
    rows, labels = [], []
    for doc in range(160):
        label = doc % 8
        row = np.zeros(8, np.float32)
        row[label // 4] = 1.0
        row[2 + rng.integers(2)] = 0.2
        rows.append(row)
        labels.append(label)
    X = sp.csr_matrix(np.array(rows))
    Y = sp.csr_matrix((np.ones(160, np.float32), (np.arange(160), labels)), shape=(160, 8))
    names = np.zeros((8, 8), np.float32)
    names[np.arange(8), 4 + np.arange(8) % 2] = 1.0
    return X, Y, sp.csr_matrix(names)


@pytest.mark.parametrize("weight", [1e6, 1e20, 1e30, 1e300, float("inf")])
def test_huge_label_feature_weight_clusters_by_the_names(weight):
    """With label_feature_weight above about 1e19 (or infinite) the weighted names'
    squares overflowed float32 and every label representation came out empty: the
    tree was clustered on nothing, without a word. A huge weight means the names
    decide, as they already do at 1e6."""
    X, Y, names = _names_against_documents()
    params = {"branching": 2, "leaf_size": 4, "n_jobs": 1, "random_state": 1}
    by_documents = LabelTree(**params).fit(X, Y)
    assert _leaf_groups(by_documents) == {frozenset({0, 1, 2, 3}), frozenset({4, 5, 6, 7})}
    model = LabelTree(label_feature_weight=weight, **params).fit(X, Y, label_features=names)
    assert _leaf_groups(model) == {frozenset({0, 2, 4, 6}), frozenset({1, 3, 5, 7})}



@pytest.mark.parametrize("scale", [1e20, 1e30])
def test_huge_feature_values_cluster_the_labels_as_at_scale_one(scale):
    """A label's PIFA representation (the sum of its documents' features) with values
    above about 1.8e19 had its float32 norm overflow and came out empty: the labels
    were clustered on nothing. Row normalisation ignores the scale, so the tree is the
    one of the same features at scale 1."""
    rng = np.random.default_rng(5)
    labels = np.arange(160) % 8
    X = np.zeros((160, 6), np.float32)
    X[np.arange(160), labels % 2] = 1.0  # the documents group the labels even / odd
    X[np.arange(160), 2 + rng.integers(4, size=160)] = 0.2
    Y = sp.csr_matrix((np.ones(160, np.float32), (np.arange(160), labels)), shape=(160, 8))
    params = {"branching": 2, "leaf_size": 4, "n_jobs": 1, "random_state": 1}
    plain = LabelTree(**params).fit(sp.csr_matrix(X), Y)
    assert _leaf_groups(plain) == {frozenset({0, 2, 4, 6}), frozenset({1, 3, 5, 7})}
    scaled = LabelTree(**params).fit(sp.csr_matrix(X * np.float32(scale)), Y)
    assert _leaf_groups(scaled) == _leaf_groups(plain)


def test_documents_without_a_label_are_negatives_at_the_root():
    """A document with no label reached no node, not even the root: a one-label tree
    (spam / not spam) trained on its positives alone and scored every document about
    1.0, and the flat tree of a small label space was not the one-vs-rest model the
    README says it is. They are now negatives of every child of the root."""
    from tagsmith.models.linear import LinearOVR

    rng = np.random.default_rng(4)
    X = rng.random((400, 6)).astype(np.float32)
    Y = (X[:, :1] > 0.5).astype(np.float32)  # one label, on about half of the documents
    scores = LabelTree(n_jobs=1).fit(X, Y).predict_topk(X, 1).scores.ravel()
    assert scores[Y[:, 0] == 0].mean() < 0.2 < 0.8 < scores[Y[:, 0] > 0].mean()
    # a label space in one leaf: the same classifiers as one-vs-rest, unlabelled rows too
    X, Y = _problem(n_labels=5, seed=3)
    assert 0 < np.count_nonzero(Y.getnnz(axis=1) == 0) < X.shape[0]
    solver = {"C": 1.0, "tol": 1e-4, "max_iter": 1000, "prune_threshold": 0.0, "n_jobs": 1}
    flat = LabelTree(score="sigmoid", **solver).fit(X, Y).predict_topk(X, 5)
    ovr = LinearOVR(**solver).fit(X, Y).predict_topk(X, 5)
    np.testing.assert_allclose(flat.to_csr().toarray(), ovr.to_csr().toarray(), atol=1e-4)


def test_counts_of_one_are_singular_in_log_lines_and_messages(caplog):
    """A one-label tree logged 'label tree 0: 1 labels in 1 nodes', leave-one-out audit
    scores of one document '1 documents', and an all-zero Y of one document and label read
    'all zeros (1 documents x 1 labels)'."""
    import logging

    from tagsmith.audit.scores import knn_scores

    caplog.set_level(logging.INFO, logger="tagsmith")
    X, _ = _problem(n_docs=40, n_labels=1)
    LabelTree(n_trees=1).fit(X, sp.csr_matrix(np.ones((40, 1), np.float32)))
    assert "label tree 0: 1 label in 1 node, depth " in caplog.text
    knn_scores(X[:1], sp.csr_matrix(np.ones((1, 1), np.float32)), k=1)
    assert "leave-one-out kNN scores of 1 document in " in caplog.text
    with pytest.raises(InvalidParameterError, match=r"all zeros \(1 document x 1 label\)"):
        LabelTree().fit(X[:1], sp.csr_matrix((1, 1), dtype=np.float32))
    assert "1 documents" not in caplog.text and "1 labels" not in caplog.text


def _tree_unconverging_problem():
    rng = np.random.default_rng(3)
    X = sp.csr_matrix(rng.random((80, 10)) * (rng.random((80, 10)) < 0.5))
    Y = (rng.random((80, 6)) < 0.4).astype(np.float32)
    return X, sp.csr_matrix(Y)


@pytest.mark.parametrize("n_trees", [1, 2])
def test_tree_stopping_at_max_iter_warns_once_with_the_count(caplog, n_trees):
    # the node classifiers' count of solver stops at max_iter was dropped: a tree
    # (or forest) trained with too few epochs said nothing
    X, Y = _tree_unconverging_problem()
    with caplog.at_level("WARNING", logger="tagsmith"):
        model = LabelTree(n_trees=n_trees, branching=2, leaf_size=2, tol=1e-6, max_iter=1,
                          n_jobs=2).fit(X, Y)
    warnings = [r.getMessage() for r in caplog.records if "max_iter" in r.getMessage()]
    assert len(warnings) == 1, warnings
    n_classifiers = sum(len(tree["slot_target_"]) for tree in model.trees_)
    assert n_classifiers > 6
    assert f" of {n_classifiers} classifiers;" in warnings[0]
    assert warnings[0].startswith("label tree: the solver stopped at max_iter=1 before")
    assert "raise max_iter" in warnings[0]


def test_a_converged_tree_does_not_warn(caplog):
    X, Y = _tree_unconverging_problem()
    with caplog.at_level("WARNING", logger="tagsmith"):
        LabelTree(branching=2, leaf_size=2, tol=0.1, max_iter=10_000, n_jobs=2).fit(X, Y)
    assert not [r for r in caplog.records if "max_iter" in r.getMessage()]


def test_a_default_tree_logs_its_early_stops_without_warning(caplog):
    # the default 10 epochs stop most node classifiers before tol by design: a warning
    # on every default fit would be noise, so the count is an INFO line there
    X, Y = _tree_unconverging_problem()
    with caplog.at_level("INFO", logger="tagsmith"):
        LabelTree(branching=2, leaf_size=2, tol=1e-6, n_jobs=2).fit(X, Y)
    stops = [r for r in caplog.records if "stopped at max_iter=10" in r.getMessage()]
    assert len(stops) == 1
    assert stops[0].levelname == "INFO"


def test_the_weights_size_is_logged_in_a_unit_that_shows_it(caplog):
    # a small tree logged "label tree: ... weights in 5 nodes (0 MB)"
    X, Y = _tree_unconverging_problem()
    with caplog.at_level("INFO", logger="tagsmith"):
        model = LabelTree(branching=2, leaf_size=2, n_jobs=1).fit(X, Y)
    lines = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith("label tree: ") and " in " in r.getMessage()
             and "node" in r.getMessage()]
    assert lines, [r.getMessage() for r in caplog.records]
    n_bytes = sum(getattr(model, name).nbytes for name in (
        "node_feat_ptr_", "feat_ids_", "feat_entry_ptr_", "entry_child_", "entry_val_",
        "slot_bias_"))
    assert n_bytes < 2 ** 20
    assert lines[-1].endswith(f"({byte_size(n_bytes)})"), lines
    assert "0 MB" not in lines[-1]


def test_the_clustering_and_each_depth_say_they_start(caplog):
    # without a terminal the log showed "fitting tree" and then nothing while the labels
    # were clustered (29 s on yso-finna-en) and the root's few tasks over every document
    # ran (35 s): the progress bar moves when a task ends, so each phase says it starts
    X, Y = _tree_unconverging_problem()
    with caplog.at_level("INFO", logger="tagsmith"):
        LabelTree(branching=2, leaf_size=2, n_jobs=1).fit(X, Y)
    lines = [r.getMessage() for r in caplog.records]
    built = next(i for i, line in enumerate(lines) if line.startswith("label tree 0: 6 labels in"))
    assert lines[built - 1] == "label tree 0: clustering 6 labels ...", lines
    for depth in range(2):
        done = next(i for i, line in enumerate(lines)
                    if line.startswith(f"label tree depth {depth}: ") and line.endswith(" s)"))
        started = [line for line in lines[:done]
                   if line.startswith(f"label tree depth {depth}: training ")]
        assert len(started) == 1, lines
        assert started[0].endswith(" rows ..."), started


def test_the_training_bar_counts_work_not_classifiers(monkeypatch):
    # counted in classifiers, the root's two over every yso-finna-en document were 2 of
    # 28,282: after 70 s of a 125 s fit the bar read 2% (a tqdm ETA of 26 hours). Each
    # depth's bar counts classifier-rows, a task's classifiers times its node's rows
    import tagsmith.models.tree as tree_module

    X, Y = _clustered_problem(n_labels=32, n_docs=800, n_features=200, seed=5)
    blocks_seen = {}
    real_blocks = tree_module._depth_blocks

    def recording_blocks(depth, *args, **kw):
        blocks = real_blocks(depth, *args, **kw)
        blocks_seen[depth] = blocks
        return blocks

    bars = []

    class Recording:
        def __init__(self, kw):
            self.kw, self.updates = kw, []

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1):
            self.updates.append(n)

    def spy(**kw):
        bars.append(Recording(kw))
        return bars[-1]

    monkeypatch.setattr(tree_module, "_depth_blocks", recording_blocks)
    monkeypatch.setattr(tree_module, "progress_bar", spy)
    model = LabelTree(branching=2, leaf_size=4, n_jobs=1, show_progress=True).fit(X, Y)
    nodes_children = np.diff(model.node_slot_ptr_)
    assert [bar.kw["desc"] for bar in bars] == [f"training tree depth {depth}"
                                                 for depth in sorted(blocks_seen)]
    assert len(bars) >= 3
    for bar, depth in zip(bars, sorted(blocks_seen), strict=True):
        assert bar.kw["unit"] == "classifier-row" and bar.kw["enabled"]
        work = sum(len(rows) * int(nodes_children[node])
                   for node, (rows, *_) in blocks_seen[depth].items())
        assert bar.kw["total"] == work and sum(bar.updates) == work, depth
    # the root's 2 classifiers over all 800 documents outweigh the many leaf classifiers
    # over a few documents each: the depths' shares follow their work
    assert bars[0].kw["total"] == 2 * 800
    leaves = bars[-1]
    n_leaf_classifiers = sum(int(nodes_children[node]) for node in blocks_seen[len(bars) - 1])
    assert n_leaf_classifiers > 10 * 2
    assert leaves.kw["total"] < 800 * n_leaf_classifiers / 2


def test_a_fit_stopped_part_way_leaves_the_tree_fitted_before(monkeypatch):
    """The tree being trained is built in the model's per-tree attributes: a refit
    stopped in it (Ctrl-C in a notebook, an error) left the earlier model predicting from
    half a new tree with its old labels."""
    X, Y = _problem(n_docs=300, n_labels=6)
    model = LabelTree(leaf_size=2, branching=2, n_jobs=1).fit(X, Y)
    before = model.predict_topk(X[:20], 3)
    trained = LabelTree._train_nodes

    def interrupted(self, *args, **kwargs):
        trained(self, *args, **kwargs)  # the new tree's nodes written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(LabelTree, "_train_nodes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, sp.csr_matrix(Y[:, ::-1].toarray()[:, :4]))  # other labels, fewer
    after = model.predict_topk(X[:20], 3)
    assert model.n_labels_ == 6
    np.testing.assert_array_equal(after.indices, before.indices)
    np.testing.assert_array_equal(after.scores, before.scores)
    # a first fit stopped so leaves the model unfitted, with no half tree
    fresh = LabelTree(leaf_size=2, branching=2, n_jobs=1)
    with pytest.raises(KeyboardInterrupt):
        fresh.fit(X, Y)
    assert not fresh.is_fitted and not hasattr(fresh, "node_slot_ptr_")


def test_a_fit_stopped_in_its_last_warning_leaves_one_whole_fit(monkeypatch):
    """Ctrl-C in the solver's warning, after the last tree was trained, left the model's
    per-tree attributes on the new tree under the old trees_ and n_labels_."""
    import tagsmith.models.tree as tree_module

    X, Y = _problem(n_docs=300, n_labels=6)
    params = dict(leaf_size=2, branching=2, n_jobs=1, max_iter=1, tol=1e-12)
    model = LabelTree(**params).fit(X, Y)
    other = sp.csr_matrix(Y[:, ::-1].toarray()[:, :4])  # other labels, fewer
    whole = LabelTree(**params).fit(X, other)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tree_module.logger, "log", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, other)
    monkeypatch.undo()
    assert model.n_labels_ == 4
    after, expected = model.predict_topk(X[:20], 3), whole.predict_topk(X[:20], 3)
    np.testing.assert_array_equal(after.indices, expected.indices)
    np.testing.assert_array_equal(after.scores, expected.scores)


def _leaves_of(model: LabelTree) -> dict[int, int]:
    """Label -> the node of its leaf in a fitted tree."""
    ptr = model.node_slot_ptr_
    return {int(label): node for node in range(len(ptr) - 1)
            for label, is_label in zip(model.slot_target_[ptr[node]:ptr[node + 1]],
                                       model.slot_is_label_[ptr[node]:ptr[node + 1]],
                                       strict=True) if is_label}


def test_a_refit_reuses_the_clustering_and_places_the_labels_it_learns(caplog):
    # train's refit on all documents clustered the labels again (70 s of 306 s at
    # 27,754 labels); it takes the held-out fit's tree, and a label that fit saw no
    # document of goes to the leaf of the labels most like it, not where chance put it
    X, Y = _clustered_problem()
    part = Y.tolil()
    # label 0's documents were all held out (label 7's nearest leaf is full: it stays)
    part[:, 0] = 0
    first = LabelTree(branching=2, leaf_size=4, n_jobs=1).fit(X, part.tocsr())
    place = np.zeros(Y.shape[1], bool)
    place[0] = True
    with caplog.at_level("INFO", logger="tagsmith"):
        refit = LabelTree(branching=2, leaf_size=4, n_jobs=1).fit(X, Y, clustering_of=first,
                                                                  place=place)
    messages = [record.getMessage() for record in caplog.records]
    assert not any("clustering 60 labels" in message for message in messages)
    assert any("reused; 1 label it saw no document of moved" in message for message in messages)
    before, after = _leaves_of(first), _leaves_of(refit)
    assert {label: node for label, node in before.items() if label != 0} == \
        {label: node for label, node in after.items() if label != 0}
    # label 0's leaf is the one whose other labels' mean representation is nearest its own
    reps = refit._label_representations(X, Y, None).toarray()
    leaves = {node for node in after.values()}

    def nearness(node):
        mates = [label for label, at in after.items() if at == node and label != 0]
        centroid = reps[mates].sum(axis=0)
        return float(reps[0] @ centroid / np.linalg.norm(centroid))

    # among the leaves with room: one holding leaf_size labels takes no more (see
    # the test below)
    sizes = Counter(before.values())
    room = {node for node in leaves if sizes[node] < 4 or node == before[0]}
    assert nearness(after[0]) == pytest.approx(max(nearness(node) for node in room))
    assert nearness(after[0]) > nearness(before[0])
    assert refit.predict_topk(X[Y[:, 0].nonzero()[0][:20]], 3).indices[:, 0].tolist().count(0) > 0
    with pytest.raises(InvalidParameterError, match="clustering_of"):
        LabelTree(n_jobs=1).fit(X[:, :], Y[:, :10], clustering_of=first)


def test_a_refit_placing_labels_keeps_leaf_size_a_maximum(caplog):
    # README promises leaf_size as the most labels per leaf; the refit moved each label
    # the held-out fit never saw into its nearest leaf whether or not it was full, and
    # leaves of 4 grew to 5
    X, Y = _clustered_problem()
    unseen = [7, 8, 9, 10, 11, 12]
    part = Y.tolil()
    part[:, unseen] = 0
    first = LabelTree(branching=2, leaf_size=4, n_jobs=1).fit(X, part.tocsr())
    place = np.zeros(Y.shape[1], bool)
    place[unseen] = True
    with caplog.at_level("INFO", logger="tagsmith"):
        refit = LabelTree(branching=2, leaf_size=4, n_jobs=1).fit(X, Y, clustering_of=first,
                                                                  place=place)
    # labels did move (the nearest leaf is often not the one chance gave them)
    moved = [int(found.group(1)) for record in caplog.records
             if (found := re.search(r"reused; (\d+) labels? it saw no document of moved",
                                    record.getMessage()))]
    assert moved and moved[0] > 0
    after = _leaves_of(refit)
    assert sorted(after) == list(range(Y.shape[1]))
    assert max(Counter(after.values()).values()) <= 4
    assert max(Counter(_leaves_of(first).values()).values()) == 4  # full leaves there were
