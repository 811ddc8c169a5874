"""The most specific labels alone (`tagsmith.metrics.most_specific`, `suggest
--most-specific`, `eval --most-specific`): finance (GICS-like) and clinical-coding
(ICD-10) walks got a code with one of its ancestors (`202010` beside `20201030`), where
such teams code at the most specific level."""

import json
import random

import numpy as np
import pytest
import scipy.sparse as sp

import tagsmith.cli as tagsmith_cli
from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.metrics import ancestor_closure, most_specific, parent_matrix

from conftest import run_quiet

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]


def rows(matrix):
    """Each row's label ids, as a list of lists."""
    m = sp.csr_matrix(matrix)
    return [m.indices[m.indptr[i]:m.indptr[i + 1]].tolist() for i in range(m.shape[0])]


def icd_chain():
    """E > E11 > E11.9, E > E10; I alone."""
    return LabelSpace([Label("E"), Label("E11", broader=["E"]),
                       Label("E11.9", broader=["E11"]), Label("E10", broader=["E"]),
                       Label("I")])


def diamond():
    """R; A and B under R; C under both A and B (a polyhierarchy); D alone."""
    return LabelSpace([Label("u:R"), Label("u:A", broader=["u:R"]),
                       Label("u:B", broader=["u:R"]),
                       Label("u:C", broader=["u:A", "u:B"]), Label("u:D")])


def test_a_small_dag_keeps_the_deepest_of_each_line_by_hand():
    y = [[1, 1, 1, 0, 0],   # E, E11, E11.9: the leaf alone
         [1, 1, 0, 1, 1],   # E, E11, E10, I: E goes (E11 and E10 under it), I stays
         [1, 0, 1, 0, 0],   # E and E11.9 (its grandparent, the parent absent): E goes
         [0, 1, 0, 1, 0],   # siblings E11 and E10: neither is the other's ancestor
         [0, 0, 0, 0, 0],   # nothing predicted: nothing
         [0, 0, 0, 0, 1]]   # a label without hierarchy stays
    out = most_specific(y, icd_chain())
    assert out.dtype == bool and out.shape == (6, 5)
    assert rows(out) == [[2], [1, 3, 4], [2], [1, 3], [], [4]]
    # a parent matrix gives the same as the label space
    assert rows(most_specific(y, parent_matrix(icd_chain()))) == rows(out)


def test_a_polyhierarchy_drops_every_parent_of_a_label_of_two_parents():
    y = [[1, 1, 0, 1, 0],   # R, A, C: C alone (A its parent, R its grandparent)
         [0, 1, 1, 0, 0],   # A and B: siblings, both stay
         [0, 0, 1, 1, 1],   # B, C, D: B is C's other parent, it goes
         [1, 1, 1, 1, 1]]   # everything: the leaves C and D
    assert rows(most_specific(y, diamond())) == [[3], [1, 2], [3, 4], [3, 4]]


def test_a_flat_label_space_is_refused_naming_the_hierarchy():
    flat = LabelSpace([Label("a"), Label("b")])
    with pytest.raises(InvalidParameterError, match=r"parameter 'hierarchy' must be a label "
                       r"space with a hierarchy.*flat label space of 2 labels"):
        most_specific([[1, 1]], flat)
    # the labels' width is y_pred's (the parameter given): y_true, which most_specific
    # has not, was named
    with pytest.raises(InvalidParameterError, match=r"parameter 'hierarchy' must be a "
                       r"label space of 3 labels \(y_pred's columns\), got '5 labels'"):
        most_specific([[1, 1, 0]], icd_chain())  # 3 columns, 5 labels
    with pytest.raises(InvalidParameterError, match=r"a 3 x 3 matrix \(y_pred's columns\)"):
        most_specific([[1, 1, 0]], parent_matrix(icd_chain()))


def _naive(y, parents):
    """Per document, per label: dropped where some other predicted label has it among
    its ancestors (walked up one parent at a time)."""
    n = parents.shape[0]
    up = [set(np.flatnonzero(parents[c]).tolist()) for c in range(n)]

    def ancestors(c):
        seen, todo = set(), list(up[c])
        while todo:
            a = todo.pop()
            if a not in seen:
                seen.add(a)
                todo.extend(up[a])
        return seen

    out = []
    for row in y:
        chosen = set(np.flatnonzero(row).tolist())
        covered = set().union(*(ancestors(c) for c in chosen)) if chosen else set()
        out.append(sorted(chosen - covered))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_equals_a_naive_per_document_reference_on_random_dags(seed):
    rng = np.random.default_rng(seed)
    n = 30
    parents = np.zeros((n, n), int)
    for c in range(1, n):  # parents among earlier labels: acyclic, some of two parents
        for p in rng.choice(c, size=min(c, int(rng.integers(0, 3))), replace=False):
            parents[c, p] = 1
    y = (rng.random((40, n)) < 0.2).astype(int)
    got = most_specific(y, sp.csr_matrix(parents))
    assert rows(got) == _naive(y, parents)
    assert ancestor_closure(sp.csr_matrix(parents)).shape == (n, n)

def run(*args, code=0):
    return run_quiet(*args, code=code)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A bundle over diamond()'s labels (R, A, B, C under A and B, D), one over the same
    labels without hierarchy, and a test corpus of four documents."""
    base = tmp_path_factory.mktemp("mostspecific")
    rng = random.Random(3)
    names = "RABCD"
    with open(base / "train.tsv", "w", encoding="utf-8") as out:
        for _ in range(120):
            labels = rng.sample(range(5), rng.choice([1, 1, 2]))
            words = [f"w{names[i]}{rng.choice('xyz')}" for i in labels for _ in range(2)]
            out.write(" ".join(words) + "\t"
                      + " ".join(f"<u:{names[i]}>" for i in labels) + "\n")
    broader = {"A": "u:R", "B": "u:R", "C": "u:A u:B"}
    (base / "hier.csv").write_text("uri,label_en,broader\n" + "".join(
        f"u:{c},{c},{broader.get(c, '')}\n" for c in names))
    (base / "flat.csv").write_text("uri,label_en\n" + "".join(f"u:{c},{c}\n" for c in names))
    # gold: {C}, {A}, {D}, {R, A}
    (base / "test.tsv").write_text("wCx wCy\t<u:C>\nwAx\t<u:A>\nwDz\t<u:D>\n"
                                   "wRx wAy\t<u:R> <u:A>\n")
    for name in ("hier", "flat"):
        run("train", base / "train.tsv", "--output", base / name, "--vocab",
            base / f"{name}.csv", "--dev-fraction", "0.25", "--no-refit", *FAST)
    return base


def test_eval_most_specific_figures_equal_a_hand_computed_case(bundles):
    """At --threshold 0 every label is predicted for every document; the most specific
    of them are the leaves C and D. Gold {C}, {A}, {D}, {R, A}: flat TP 2 of 8 predicted
    and 5 true; augmented, each P' is all 5 labels and the T' are {C, A, B, R}, {A, R},
    {D}, {R, A}: 9 shared of 20 predicted and 9 true."""
    base = json.loads(run("eval", bundles / "hier", bundles / "test.tsv", "--json",
                          "--threshold", 0))
    got = json.loads(run("eval", bundles / "hier", bundles / "test.tsv", "--json",
                         "--threshold", 0, "--most-specific"))
    assert got["micro_precision"] == pytest.approx(2 / 8)
    assert got["micro_recall"] == pytest.approx(2 / 5)
    assert got["micro_f1"] == pytest.approx(4 / 13)
    assert got["hierarchical_precision"] == pytest.approx(9 / 20)
    assert got["hierarchical_recall"] == pytest.approx(1.0)
    assert got["hierarchical_f1"] == pytest.approx(18 / 29)
    # without it: all 5 labels each, 5 of 20 right, every gold label found
    assert base["micro_precision"] == pytest.approx(5 / 20)
    assert base["micro_recall"] == pytest.approx(1.0)
    # the ranking metrics are the ranking's, and the augmented sets are the same (every
    # label dropped is an ancestor of one kept): both unchanged
    assert got["p@1"] == base["p@1"] and got["lrap"] == base["lrap"]
    for key in ("hierarchical_precision", "hierarchical_recall", "hierarchical_f1"):
        assert got[key] == base[key], key
    text = run("eval", bundles / "hier", bundles / "test.tsv", "--threshold", 0,
               "--most-specific").splitlines()
    assert ["micro_f1", f"{4 / 13:.4f}"] in [line.split() for line in text]


def test_eval_most_specific_at_the_tuned_thresholds_is_the_librarys(bundles):
    from tagsmith.metrics import evaluate
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.io import read_labelled

    got = json.loads(run("eval", bundles / "hier", bundles / "test.tsv", "--json",
                         "--most-specific"))
    clf = TextClassifier.load(bundles / "hier")
    test = read_labelled(bundles / "test.tsv", clf.label_space)
    topk = clf.predict_topk(test.texts, clf.n_labels)
    sets = most_specific(clf.label_sets(topk), clf.label_space)
    expected = evaluate(test.Y, topk, sets, hierarchy=clf.label_space)
    for key in ("micro_f1", "micro_precision", "macro_f1", "hierarchical_f1"):
        assert got[key] == pytest.approx(expected[key]), key


@pytest.mark.parametrize("fmt", ["json", "jsonl", "tsv"])
def test_suggest_most_specific_lists_the_leaves_alone_in_every_format(bundles, fmt):
    args = ["suggest", bundles / "hier", bundles / "test.tsv", "--threshold", 0,
            "--format", fmt]

    def labels(output):
        if fmt == "tsv":
            per_doc: dict[str, list[str]] = {}
            for line in output.splitlines():
                doc, uri, *_ = line.split("\t")
                per_doc.setdefault(doc, []).append(uri.strip("<>"))
            return list(per_doc.values())
        return [[s["uri"] for s in json.loads(line)["suggestions"]]
                for line in output.splitlines()]

    everything = labels(run(*args))
    specific = labels(run(*args, "--most-specific"))
    assert len(specific) == len(everything) == 4
    for all_of_them, kept in zip(everything, specific, strict=True):
        assert sorted(all_of_them) == ["u:A", "u:B", "u:C", "u:D", "u:R"]
        # the ranking's order kept, less R, A and B (C's ancestors)
        assert kept == [u for u in all_of_them if u in ("u:C", "u:D")]


def test_a_flat_bundle_refuses_most_specific_naming_the_option_and_bundle(bundles):
    for command in (["suggest", bundles / "flat", bundles / "test.tsv"],
                    ["eval", bundles / "flat", bundles / "test.tsv"]):
        out = run(*command, "--most-specific", code=2)
        assert "--most-specific" in out and "has_hierarchy no" in out, out
        assert str(bundles / "flat") in out, out


def test_most_specific_with_sets_calibration_or_baseline_is_refused(bundles):
    out = run("suggest", bundles / "hier", bundles / "test.tsv", "--sets",
              "--most-specific", code=2)
    assert "--most-specific and --sets cannot be combined" in out
    for other in (["--calibration"], ["--baseline", bundles / "flat"]):
        out = run("eval", bundles / "hier", bundles / "test.tsv", "--most-specific", *other,
                  code=2)
        assert f"--most-specific and {other[0]} cannot be combined" in out


def test_suggest_most_specific_keeps_a_replacement_the_bundle_lacks(bundles, tmp_path):
    """With --vocab --replace-deprecated a deprecated label is suggested as its
    replacement, which may be a label new in VOCAB (its id past the bundle's labels):
    --most-specific dropped it without a word (D deprecated for E, a new leaf under R,
    left C alone). It is kept, and R, E's parent, goes."""
    vocab = tmp_path / "v2.csv"
    vocab.write_text("uri,label_en,broader,deprecated,replaced_by\n"
                     "u:R,R,,,\nu:A,A,u:R,,\nu:B,B,u:R,,\nu:C,C,u:A u:B,,\n"
                     "u:D,D,,true,u:E\nu:E,E,u:R,,\n")
    args = ["suggest", bundles / "hier", bundles / "test.tsv", "--threshold", 0, "--vocab",
            vocab, "--replace-deprecated"]
    everything = [[s["uri"] for s in json.loads(line)["suggestions"]]
                  for line in run(*args).splitlines()]
    specific = [[s["uri"] for s in json.loads(line)["suggestions"]]
                for line in run(*args, "--most-specific").splitlines()]
    assert len(specific) == len(everything) == 4
    for all_of_them, kept in zip(everything, specific, strict=True):
        assert sorted(all_of_them) == ["u:A", "u:B", "u:C", "u:E", "u:R"]
        assert kept == [u for u in all_of_them if u in ("u:C", "u:E")]


def test_evaluate_classifier_uses_a_closure_made_once_by_the_caller(bundles):
    """eval --most-specific makes the ancestor closure to refuse a flat space before the
    corpus is read, and evaluate_classifier made it again: it now takes the caller's.
    Given one, its figures are those it makes itself; one of another width, or one
    without most_specific, is refused naming 'closure' before any text is scored."""
    from tagsmith.metrics.hierarchy import most_specific_closure
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import evaluate_classifier
    from tagsmith.pipeline.io import read_labelled

    clf = TextClassifier.load(bundles / "hier")
    test = read_labelled(bundles / "test.tsv", clf.label_space)
    closure = most_specific_closure(clf.label_space, clf.n_labels)
    made_here = evaluate_classifier(clf, test.texts, test.Y, threshold=0.0,
                                    most_specific=True)
    given = evaluate_classifier(clf, test.texts, test.Y, threshold=0.0,
                                most_specific=True, closure=closure)
    assert given == made_here
    assert given["micro_precision"] == pytest.approx(2 / 8)  # the leaves C and D alone
    with pytest.raises(InvalidParameterError, match=r"parameter 'closure' must be a 5 x 5"):
        evaluate_classifier(clf, ["never scored"], sp.csr_matrix((1, 5)),
                            most_specific=True, closure=closure[:3, :3])
    with pytest.raises(InvalidParameterError, match=r"parameter 'closure' must be None "
                       r"unless most_specific"):
        evaluate_classifier(clf, ["never scored"], sp.csr_matrix((1, 5)), closure=closure)


def test_suggest_most_specific_trims_the_labels_listed_alone(bundles):
    """A narrower label below the top --k does not remove its ancestor (README: the
    ancestor would vanish with nothing shown in its place): each document's --k 1 is
    kept whole, and at --k 2 a label goes only where the other one listed is below it."""
    args = ["suggest", bundles / "hier", bundles / "test.tsv", "--threshold", 0]

    def uris(output):
        return [[s["uri"] for s in json.loads(line)["suggestions"]]
                for line in output.splitlines()]

    top1 = uris(run(*args, "-k", 1))
    # a broader label (R, A or B) ranks first for some document, though C (under each)
    # is a candidate of every document at --threshold 0: it stays
    assert any(row[0] in ("u:R", "u:A", "u:B") for row in top1), top1
    assert uris(run(*args, "-k", 1, "--most-specific")) == top1
    ancestors = {"u:A": {"u:R"}, "u:B": {"u:R"}, "u:C": {"u:A", "u:B", "u:R"}}
    top2 = uris(run(*args, "-k", 2))
    for listed, kept in zip(top2, uris(run(*args, "-k", 2, "--most-specific")),
                            strict=True):
        covered = set().union(*(ancestors.get(u, set()) for u in listed))
        assert kept == [u for u in listed if u not in covered]


@pytest.mark.parametrize("fmt", ["json", "tsv"])
def test_zeroshot_most_specific_drops_a_listed_label_whose_narrower_one_is_listed(tmp_path,
                                                                                  fmt):
    """zeroshot had no --most-specific: a team coding at the most specific level got
    'food' beside 'baking' (food's narrower label) with no way to drop it."""
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en,broader\nu:food,food,\nu:baking,baking bread and cakes,"
                     "u:food\nu:sport,sport,\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("I baked bread and a cake\nThe team won the final\n")
    args = ["zeroshot", vocab, docs, "--cache-dir", tmp_path, "--format", fmt]

    def uris(output):
        per_doc: dict[str, list[str]] = {}
        for line in output.splitlines():
            if fmt == "tsv":
                doc, uri, *_ = line.split("\t")
                per_doc.setdefault(doc, []).append(uri.strip("<>"))
            else:
                row = json.loads(line)
                per_doc[row["doc"]] = [s["uri"] for s in row["suggestions"]]
        return list(per_doc.values())

    everything = uris(run(*args, "--k", 3))
    specific = uris(run(*args, "--k", 3, "--most-specific"))
    assert len(everything) == len(specific) == 2
    for all_of_them, kept in zip(everything, specific, strict=True):
        assert sorted(all_of_them) == ["u:baking", "u:food", "u:sport"]
        assert kept == [u for u in all_of_them if u != "u:food"]  # in the ranking's order


def test_zeroshot_most_specific_refuses_a_flat_vocab_and_eval(tmp_path):
    flat = tmp_path / "flat.csv"
    flat.write_text("uri,label_en\nu:food,food\nu:sport,sport\n")
    docs = tmp_path / "docs.txt"
    docs.write_text("I baked bread\n")
    out = run("zeroshot", flat, docs, "--cache-dir", tmp_path, "--most-specific", code=2)
    assert "--most-specific" in out and f"VOCAB {flat}" in out, out
    assert "has_hierarchy no" in out, out
    gold = tmp_path / "gold.tsv"
    gold.write_text("I baked bread\t<u:food>\n")
    out = run("zeroshot", flat, gold, "--eval", "--most-specific", code=2)
    assert "--most-specific and --eval cannot be combined" in out, out


def test_evaluate_classifier_refuses_a_closure_without_its_diagonal(bundles):
    """closure= took any matrix of the right shape: one less its diagonal (the strict
    ancestors, as the audit's ancestor_matrix gives them) made every label its own
    strict ancestor, and every set came out empty, every set metric 0, without a word.
    It is refused naming 'closure' before any text is scored."""
    from tagsmith.metrics.hierarchy import most_specific_closure, strict_ancestors
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import evaluate_classifier

    clf = TextClassifier.load(bundles / "hier")
    strict = strict_ancestors(most_specific_closure(clf.label_space, clf.n_labels))
    with pytest.raises(InvalidParameterError, match=r"parameter 'closure' must be a "
                       r"reflexive ancestor closure.*'5 of 5 labels with no 1 on the "
                       r"diagonal'"):
        evaluate_classifier(clf, ["never scored"], sp.csr_matrix((1, 5)),
                            most_specific=True, closure=strict)


@pytest.mark.parametrize("case", ["another hierarchy", "one link short", "dense", "flat"])
def test_evaluate_classifier_refuses_a_closure_not_of_its_label_space(bundles, case):
    """closure= took any sparse matrix of the right shape with its diagonal: the
    closure of another hierarchy of the same width (R > A > C alone, B and D free)
    trimmed each set by that hierarchy's ancestors (micro precision 2/12 where the
    bundle's own gives 2/8), and a dense array was used as a matrix, where a dense
    hierarchy is refused. Each is refused naming 'closure' (a flat label space, whose
    closure is the identity, naming 'hierarchy', as without a closure); the label
    space's own closure is taken (test_evaluate_classifier_uses_a_closure_made_once_by_
    the_caller)."""
    from tagsmith.metrics.hierarchy import most_specific_closure
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import evaluate_classifier

    clf = TextClassifier.load(bundles / "hier")
    own = most_specific_closure(clf.label_space, clf.n_labels)
    if case == "another hierarchy":
        chain = sp.csr_matrix(([1, 1], ([1, 3], [0, 1])), shape=(5, 5))
        closure, match = ancestor_closure(chain), (
            r"'closure' must be the ancestor closure of the label space.*entries that "
            r"differ, e.g. label 2 with label 0 as an ancestor, which the closure leaves")
    elif case == "one link short":  # C (3) with B (2) as an ancestor left out
        closure = sp.lil_matrix(own)
        closure[3, 2] = 0
        closure, match = sp.csr_matrix(closure), (
            r"'1 entry that differs, e.g. label 3 with label 2 as an ancestor, which the "
            r"closure leaves out'")
    elif case == "dense":
        closure, match = own.toarray(), (r"'closure' must be a sparse 5 x 5 ancestor "
                                         r"closure.*got 'a dense ndarray'")
    else:
        clf.label_space = LabelSpace.from_uris(clf.label_space.uris)
        closure, match = sp.identity(5, format="csr"), (r"'hierarchy' must be a label "
                                                        r"space with a hierarchy")
    with pytest.raises(InvalidParameterError, match=match):
        evaluate_classifier(clf, ["never scored"], sp.csr_matrix((1, 5)),
                            most_specific=True, closure=closure)
