"""Leave-one-out label co-occurrence blended into the audit's kNN scores."""

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.audit import COOCCURRENCE_GRID, COOCCURRENCE_WEIGHT
from tagsmith.audit.detect import find_label_issues
from tagsmith.audit.report import render_html
from tagsmith.audit.scores import blend_cooccurrence, choose_cooccurrence, given_p_at_1, knn_scores
from tagsmith.data.labelspace import LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.models.knn import KNNModel
from tagsmith.pipeline.audit import CROSSFIT_UP_TO_LABELS, AuditOptions, audit_corpus
from tagsmith.topk import TopK

tagsmith_cli._register_commands()


def _corpus(seed: int, n_docs: int = 60, n_labels: int = 25):
    """Random labels: documents given none, one or many labels, labels given once
    (no other document: P = 0) or never; and a random kNN top-k of width 6."""
    rng = np.random.default_rng(seed)
    dense = rng.random((n_docs, n_labels)) < rng.uniform(0.02, 0.4, size=(n_docs, 1))
    dense[:4] = False  # no label
    dense[4:8] = False
    dense[4:8, rng.integers(0, n_labels, 4)] = True  # one label
    dense[8, :12] = True  # many
    dense[:, n_labels - 1] = False  # a label nobody has
    dense[:, n_labels - 2] = False
    dense[9, n_labels - 2] = True  # a label given once
    Y = sp.csr_matrix(dense)
    k = 6
    indices = np.full((n_docs, k), -1, np.int32)
    scores = np.full((n_docs, k), -np.inf, np.float32)
    for d in range(n_docs):
        width = int(rng.integers(0, k + 1))  # some rows padded, some empty
        indices[d, :width] = rng.choice(n_labels, width, replace=False)
        scores[d, :width] = np.sort(rng.random(width).astype(np.float32))[::-1]
    return Y, TopK(indices, scores, n_labels)


def _dense_blend(Y, knn: TopK, weight: float) -> np.ndarray:
    """``knn + weight * cooc``, densely (a float64 port of the offline experiment's
    ``blend``, /tmp/h30/cooc/exp.py)."""
    n, L = Y.shape
    Yf = sp.csr_matrix(Y, dtype=np.float64)
    cnt = np.bincount(Yf.indices, minlength=L).astype(np.float64)
    C = (Yf.T @ Yf).tocsr()
    C.setdiag(0)
    C.eliminate_zeros()
    inv = np.where(cnt >= 2, 1.0 / np.maximum(cnt - 1, 1), 0.0)
    S = (Yf @ sp.diags(inv) @ C).toarray()
    G = Yf.toarray() > 0
    corr = Yf @ inv  # sum of inv over each document's given labels
    S = np.where(G, S - (corr[:, None] - inv[None, :]), S)  # leave-one-out
    S[np.abs(S) < 1e-12] = 0  # what the subtraction leaves of an exact 0
    S = np.maximum(S, 0)
    g = np.diff(Yf.indptr).astype(np.float64)[:, None]
    S = S / np.where(G, np.maximum(g - 1, 1), np.maximum(g, 1))
    T = weight * S
    rows = np.repeat(np.arange(n), knn.k).reshape(n, knn.k)
    real = knn.indices >= 0
    T[rows[real], knn.indices[real]] += knn.scores[real]
    return T


def _candidates(T: np.ndarray, knn: TopK, d: int) -> np.ndarray:
    """Row ``d``'s candidates: the kNN top-k's labels, whatever their score, and the
    labels blended above 0."""
    keep = T[d] > 0
    keep[knn.indices[d][knn.indices[d] >= 0]] = True
    return keep


def _width(knn: TopK, k: int) -> TopK:
    """``knn`` cut or padded to width ``k``."""
    pad = ((0, 0), (0, max(0, k - knn.k)))
    return TopK(np.pad(knn.indices, pad, constant_values=-1)[:, :k],
                np.pad(knn.scores, pad, constant_values=-np.inf)[:, :k], knn.n_labels)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weight", [0.05, 0.3, 1.0, 7.0])
@pytest.mark.parametrize("k", [3, 6, 40])  # 40 > the 25 labels: every candidate fits
def test_blend_matches_a_dense_reference(seed, weight, k):
    Y, knn = _corpus(seed)
    knn = _width(knn, k)
    T = _dense_blend(Y, knn, weight)
    blended = blend_cooccurrence(knn, Y, weight)
    assert blended.k == k
    for d in range(Y.shape[0]):
        values = T[d]
        expected = np.lexsort((np.arange(len(values)), -values))  # ties: smaller id first
        expected = expected[_candidates(T, knn, d)[expected]][:k]
        got = blended.indices[d][blended.indices[d] >= 0]
        assert len(got) == len(expected), d
        np.testing.assert_allclose(blended.scores[d, :len(got)], values[got], rtol=1e-6,
                                   atol=1e-7)
        assert np.all(blended.indices[d, len(got):] == -1)
        assert np.all(blended.scores[d, len(got):] == -np.inf)
        # the reference's labels in its order, but that values equal but for float
        # rounding (sums taken in another order; ~1e-18 apart) may come in either order,
        # and at the cut either may be kept: position by position, the same values
        assert np.allclose(values[got], values[expected], rtol=0, atol=1e-12), d


def test_documents_given_no_label_keep_their_knn_top_k():
    Y, knn = _corpus(0)
    blended = blend_cooccurrence(knn, Y, 0.3)
    for d in range(4):  # given no label: cooc is 0, the kNN entries as they were
        assert blended.indices[d].tolist() == knn.indices[d].tolist()
        assert blended.scores[d].tolist() == knn.scores[d].tolist()


def test_labels_the_knn_scored_zero_stay_candidates():
    # k = 2 of 2 labels: the kNN lists the label it scores 0; dropping it changed which
    # label the audit found wrong (a given label absent from the top-k is read otherwise)
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 0]], bool))
    knn = TopK(np.array([[0, 1], [1, 0], [1, 0]]), np.array([[1.0, 0.0], [1.0, 0.0],
                                                             [0.8, 0.0]]), 2)
    blended = blend_cooccurrence(knn, Y, 0.3)
    assert blended.indices.tolist() == knn.indices.tolist()
    assert blended.scores.tolist() == knn.scores.tolist()  # one label each: no cooc


def test_equal_blended_scores_rank_the_smaller_label_id_first():
    # document 0 has label 0, which documents 1 and 2 share with labels 3 and 1: both
    # score 1/2; k = 1 keeps label 1
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 0, 0, 1], [1, 1, 0, 0]], bool))
    empty = TopK(np.full((3, 1), -1), np.full((3, 1), -np.inf), 4)
    blended = blend_cooccurrence(empty, Y, 1.0)
    assert blended.indices[0].tolist() == [1] and blended.scores[0].tolist() == [0.5]
    wide = blend_cooccurrence(TopK(np.full((3, 3), -1), np.full((3, 3), -np.inf), 4), Y, 1.0)
    assert wide.indices[0].tolist() == [1, 3, -1]


@pytest.mark.parametrize("seed", [0, 3])
def test_cooccurrence_is_the_mean_probability_without_the_document(seed):
    """For every document d and label c, cooc(d, c) is the mean over d's other given
    labels a of P(c | a) on the corpus without d (0 where a has no other document)."""
    Y, _ = _corpus(seed, n_docs=40, n_labels=15)
    n, L = Y.shape
    dense = Y.toarray()
    none = TopK(np.full((n, L), -1), np.full((n, L), -np.inf), L)
    cooc = blend_cooccurrence(none, Y, 1.0)  # k = every label: each score is cooc itself
    for d in range(n):
        rest = np.delete(dense, d, axis=0).astype(np.int64)
        given = np.flatnonzero(dense[d])
        got = np.zeros(L)
        real = cooc.indices[d] >= 0
        got[cooc.indices[d][real]] = cooc.scores[d][real]
        for c in range(L):
            others = [a for a in given if a != c]
            probabilities = [(rest[:, a] & rest[:, c]).sum() / rest[:, a].sum()
                             if rest[:, a].sum() else 0.0 for a in others]
            expected = np.mean(probabilities) if others else 0.0
            assert got[c] == pytest.approx(expected, abs=1e-6), (d, c)


def test_weight_zero_is_the_knn_top_k_unchanged():
    rng = np.random.default_rng(5)
    X = sp.random(80, 30, density=0.2, random_state=5, format="csr", dtype=np.float32)
    Y = sp.csr_matrix(rng.random((80, 12)) < 0.25)
    loo = KNNModel(n_neighbors=7).fit(X, Y).leave_one_out_topk(X, 5)
    off = knn_scores(X, Y, k=5, params={"n_neighbors": 7}, cooccurrence=0.0)
    assert np.array_equal(off.topk.indices, loo.indices)
    assert np.array_equal(off.topk.scores, loo.scores)
    assert off.details["cooccurrence"] == 0.0
    assert blend_cooccurrence(loo, Y, 0) is loo
    on = knn_scores(X, Y, k=5, params={"n_neighbors": 7}, cooccurrence=0.3)
    assert on.describe()["cooccurrence"] == 0.3
    assert not np.array_equal(on.topk.indices, loo.indices)
    expected = blend_cooccurrence(loo, Y, 0.3)
    assert np.array_equal(on.topk.indices, expected.indices)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "0.3", None, "Auto",
                                 "best"])
def test_cooccurrence_option_is_checked_by_name(bad):
    with pytest.raises(InvalidParameterError, match="parameter 'cooccurrence' must be 'auto' "
                       "or a finite number >= 0"):
        AuditOptions(cooccurrence=bad).validate()
    with pytest.raises(InvalidParameterError, match="'weight'"):
        Y, knn = _corpus(0)
        blend_cooccurrence(knn, Y, bad)


def test_cooccurrence_option_accepts_numbers_and_reaches_the_report():
    options = AuditOptions(cooccurrence=np.float32(0.5))
    options.validate()
    assert type(options.cooccurrence) is float and options.cooccurrence == 0.5
    assert AuditOptions().cooccurrence == COOCCURRENCE_WEIGHT
    space = LabelSpace.from_uris(["u:rain", "u:sun", "u:wet"])
    texts = ["rain and clouds", "sunny and warm", "heavy rain", "warm sun"] * 5
    Y = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, 0]] * 5, bool))
    result = audit_corpus(texts, Y, space, options=AuditOptions(
        scores="knn", cooccurrence=0.7, knn_params={"n_neighbors": 3},
        featurizer_params={"char_ngrams": None, "min_df": 1}))
    assert result.report["scores"]["cooccurrence"] == 0.7
    assert result.report["meta"]["options"]["cooccurrence"] == 0.7


def test_auto_scores_refuse_a_cooccurrence_weight_they_would_ignore():
    space = LabelSpace.from_uris(["u:a", "u:b"])  # auto: cross-fitting
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 10, bool))
    texts = ["rain", "sun"] * 10
    from tagsmith._surface import command_line

    # a Python caller's parameter; the command's option on the command line
    with pytest.raises(InvalidParameterError, match=r"when cooccurrence is given"):
        audit_corpus(texts, Y, space, options=AuditOptions(cooccurrence=0.5))
    with command_line(), pytest.raises(InvalidParameterError,
                                       match=r"cooccurrence \(--cooccurrence\) is given"):
        audit_corpus(texts, Y, space, options=AuditOptions(cooccurrence=0.5))


def test_auto_scores_name_the_one_source_that_uses_what_they_would_ignore():
    """The refusal said "must be 'crossfit' or 'knn'" for any option: a user who chose
    'crossfit' for a co-occurrence weight was refused again (only kNN scores use it),
    one who chose 'knn' for a --model likewise (only cross-fitting uses it)."""
    space = LabelSpace.from_uris(["u:a", "u:b"])  # auto: cross-fitting
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]] * 10, bool))
    texts = ["rain", "sun"] * 10
    with pytest.raises(InvalidParameterError) as error:
        audit_corpus(texts, Y, space, options=AuditOptions(cooccurrence=0.5))
    assert "must be 'knn', not 'auto'" in str(error.value), str(error.value)
    wide = LabelSpace.from_uris([f"u:{i}" for i in range(CROSSFIT_UP_TO_LABELS + 1)])
    Y = sp.csr_matrix((np.ones(20, bool), (np.arange(20), np.arange(20) % 2)),
                      shape=(20, len(wide)))  # auto: kNN
    with pytest.raises(InvalidParameterError) as error:
        audit_corpus(texts, Y, wide, options=AuditOptions(model="tree"))
    # a Python caller's parameter, not audit's --model
    assert "must be 'crossfit', not 'auto', when model is given" \
        in str(error.value), str(error.value)
    from tagsmith._surface import command_line

    with command_line(), pytest.raises(InvalidParameterError) as error:
        audit_corpus(texts, Y, wide, options=AuditOptions(model="tree"))
    assert "must be 'crossfit', not 'auto', when model (--model) is given" \
        in str(error.value), str(error.value)


def test_cli_cooccurrence_reaches_the_audit_options(monkeypatch, tmp_path):
    import tagsmith.pipeline.audit as audit_module

    seen = {}

    class Stop(Exception):
        pass

    def capture(*args, options=None, **kwargs):
        seen["options"] = options
        raise Stop

    monkeypatch.setattr(audit_module, "audit_corpus", capture)
    corpus = tmp_path / "c.tsv"
    corpus.write_text("rain\t<u:a>\nsun\t<u:b>\n" * 5, encoding="utf-8")

    def run(*args):
        return CliRunner().invoke(tagsmith_cli.cli, ["-q", "audit", str(corpus), "-o",
                                                     str(tmp_path / "out"), "--no-html",
                                                     *args])

    result = run("--scores", "knn", "--cooccurrence", "0.75")
    assert isinstance(result.exception, Stop), result.output
    assert seen["options"].cooccurrence == 0.75
    result = run("--scores", "knn")
    assert isinstance(result.exception, Stop), result.output
    assert seen["options"].cooccurrence == COOCCURRENCE_WEIGHT
    result = run("--scores", "knn", "--cooccurrence", "0")
    assert seen["options"].cooccurrence == 0.0
    for bad in ("-1", "nan", "x"):
        result = run("--scores", "knn", "--cooccurrence", bad)
        assert result.exit_code == 2 and "--cooccurrence" in result.output, result.output
    result = run("--scores", "knn", "--cooccurrence", "auto")
    assert isinstance(result.exception, Stop), result.output
    assert seen["options"].cooccurrence == "auto"
    for bad in ("best", "AUTO", ""):
        result = run("--scores", "knn", "--cooccurrence", bad)
        assert result.exit_code == 2, result.output
        assert "'--cooccurrence'" in result.output, result.output
        assert "expected 'auto' or a finite number >= 0" in result.output, result.output
    result = run("--scores", "crossfit", "--cooccurrence", "auto")
    assert result.exit_code == 2 and "--cooccurrence only applies with --scores knn" \
        in result.output, result.output
    result = run("--scores", "crossfit", "--cooccurrence", "0.5")
    assert result.exit_code == 2 and "--cooccurrence only applies with --scores knn" \
        in result.output, result.output


def _paired(n_pairs: int = 20, n_wrong: int = 10, wrong_score: float = 0.5):
    """Documents given label pairs ``{2p, 2p + 1}`` (always together) whose kNN top-1 is
    a wrong label ``2 * n_pairs + j`` scored ``wrong_score``, the true labels missing
    from it: only the co-occurrence brings them up, and only with a weight above
    ``wrong_score`` (the given labels' co-occurrence is 1)."""
    n_labels = 2 * n_pairs + n_wrong
    docs = [p for p in range(n_pairs) for _ in range(3)]
    dense = np.zeros((len(docs), n_labels), bool)
    indices = np.full((len(docs), 2), -1, np.int32)
    scores = np.full((len(docs), 2), -np.inf, np.float32)
    for d, p in enumerate(docs):
        dense[d, [2 * p, 2 * p + 1]] = True
        indices[d, 0] = 2 * n_pairs + d % n_wrong
        scores[d, 0] = wrong_score
    return sp.csr_matrix(dense), TopK(indices, scores, n_labels)


def test_auto_keeps_the_weight_whose_blend_agrees_best_with_the_given_labels(caplog):
    # the true labels overtake the wrong one at weight 1 (1 > 0.5), not at 0.3; 1 and 3
    # tie at P@1 1: the smaller is kept
    Y, knn = _paired()
    with caplog.at_level("INFO", logger="tagsmith"):
        weight, blended, details = choose_cooccurrence(knn, Y)
    assert details == {"grid": list(COOCCURRENCE_GRID), "p@1_vs_given": [0.0, 0.0, 0.0, 1.0,
                                                                          1.0]}
    assert weight == 1.0
    expected = blend_cooccurrence(knn, Y, 1.0)
    assert np.array_equal(blended.indices, expected.indices)
    assert np.array_equal(blended.scores, expected.scores)
    lines = [r.getMessage() for r in caplog.records if "co-occurrence weight auto" in r.message]
    assert lines == ["co-occurrence weight auto: P@1 vs given 0.0000 at 0, 0.0000 at 0.1, "
                     "0.0000 at 0.3, 1.0000 at 1, 1.0000 at 3; chose 1"]
    # a lower wrong score: 0.3 already lifts the true labels, and is kept over 1 and 3
    Y, knn = _paired(wrong_score=0.2)
    weight, _, details = choose_cooccurrence(knn, Y)
    assert weight == 0.3 and details["p@1_vs_given"] == [0.0, 0.0, 1.0, 1.0, 1.0]


def test_auto_keeps_weight_zero_when_the_cooccurrence_hurts():
    # 60 documents given {0, 1}, 40 given {0} alone, all with kNN top-1 label 0 (right);
    # for the 40, label 1 gains weight * P(1 | 0) = weight * 60/99 over label 0's 0.03:
    # every weight > 0 puts a label they were not given first
    dense = np.zeros((100, 3), bool)
    dense[:, 0] = True
    dense[:60, 1] = True
    Y = sp.csr_matrix(dense)
    knn = TopK(np.tile(np.array([[0, 2]], np.int32), (100, 1)),
               np.tile(np.array([[0.03, 0.01]], np.float32), (100, 1)), 3)
    weight, blended, details = choose_cooccurrence(knn, Y)
    assert weight == 0.0 and blended is knn
    assert details["p@1_vs_given"][0] == 1.0
    assert max(details["p@1_vs_given"][1:]) == 0.6


def test_auto_through_the_knn_scores_and_the_audit_report(tmp_path):
    rng = np.random.default_rng(3)
    X = sp.random(90, 40, density=0.15, random_state=3, format="csr", dtype=np.float32)
    Y = sp.csr_matrix(rng.random((90, 10)) < 0.3)
    loo = KNNModel(n_neighbors=7).fit(X, Y).leave_one_out_topk(X, 5)
    auto = knn_scores(X, Y, k=5, params={"n_neighbors": 7}, cooccurrence="auto")
    grid = auto.details["cooccurrence_auto"]
    assert grid["grid"] == list(COOCCURRENCE_GRID)
    best = max(grid["p@1_vs_given"])
    chosen = auto.details["cooccurrence"]
    assert chosen == COOCCURRENCE_GRID[grid["p@1_vs_given"].index(best)]
    assert np.array_equal(auto.topk.indices, blend_cooccurrence(loo, Y, chosen).indices)
    # the report: the grid, the choice, and the P@1 at the choice is the report's own
    space = LabelSpace.from_uris(["u:rain", "u:sun", "u:wet"])
    texts = ["rain and clouds", "sunny and warm", "heavy rain", "warm sun"] * 5
    Y = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, 0]] * 5, bool))
    result = audit_corpus(texts, Y, space, options=AuditOptions(
        scores="knn", cooccurrence="auto", knn_params={"n_neighbors": 3},
        featurizer_params={"char_ngrams": None, "min_df": 1}))
    scores = result.report["scores"]
    assert result.report["meta"]["options"]["cooccurrence"] == "auto"
    assert scores["cooccurrence_auto"]["grid"] == list(COOCCURRENCE_GRID)
    p1s = scores["cooccurrence_auto"]["p@1_vs_given"]
    assert scores["cooccurrence"] == COOCCURRENCE_GRID[p1s.index(max(p1s))]
    assert max(p1s) == scores["p@1_vs_given"]
    paths = result.write(tmp_path / "out", plots=False)
    html = paths["report_html"].read_text(encoding="utf-8")
    assert f"co-occurrence weight {scores['cooccurrence']:g} (auto: best P@1 vs given " \
           "labels of " in html
    numeric = audit_corpus(texts, Y, space, options=AuditOptions(
        scores="knn", cooccurrence=0.7, knn_params={"n_neighbors": 3},
        featurizer_params={"char_ngrams": None, "min_df": 1}))
    assert "cooccurrence_auto" not in numeric.report["scores"]
    assert "co-occurrence weight 0.7);" in render_html(numeric.report, plots=False)


@pytest.mark.parametrize("weight", [0.3, "auto", 0.0])
def test_the_audit_builds_the_cooccurrence_counts_once(monkeypatch, weight):
    import tagsmith.audit.evidence as evidence

    built = []
    original = evidence.label_cooccurrence

    def counting(Y):
        built.append(Y.shape)
        return original(Y)

    monkeypatch.setattr(evidence, "label_cooccurrence", counting)
    space = LabelSpace.from_uris(["u:rain", "u:sun", "u:wet"])
    texts = ["rain and clouds", "sunny and warm", "heavy rain", "warm sun"] * 5
    Y = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, 0]] * 5, bool))
    audit_corpus(texts, Y, space, options=AuditOptions(
        scores="knn", cooccurrence=weight, knn_params={"n_neighbors": 3},
        featurizer_params={"char_ngrams": None, "min_df": 1}))
    assert built == [(20, 3)]  # the blend's (none at weight 0) and the evidence's: one


def test_shared_cooccurrence_counts_change_no_result():
    from tagsmith.audit.evidence import label_cooccurrence

    rng = np.random.default_rng(7)
    X = sp.random(120, 40, density=0.15, random_state=7, format="csr", dtype=np.float32)
    Y = sp.csr_matrix(rng.random((120, 15)) < 0.2)
    counts = label_cooccurrence(Y)
    loo = KNNModel(n_neighbors=7).fit(X, Y).leave_one_out_topk(X, 6)
    own = blend_cooccurrence(loo, Y, 0.3)
    shared = blend_cooccurrence(loo, Y, 0.3, cooccurrence_counts=counts)
    assert np.array_equal(own.indices, shared.indices)
    assert np.array_equal(own.scores, shared.scores)
    a = find_label_issues(Y, own, X=X)
    b = find_label_issues(Y, own, X=X, cooccurrence_counts=counts)
    for name in ("doc", "label", "kind", "probability", "flagged"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    with pytest.raises(InvalidParameterError, match="'cooccurrence_counts'"):
        blend_cooccurrence(loo, Y, 0.3, cooccurrence_counts=label_cooccurrence(Y[:, :5]))
    with pytest.raises(InvalidParameterError, match="'cooccurrence_counts'"):
        find_label_issues(Y, own, X=X, cooccurrence_counts=label_cooccurrence(Y[:5]))


@pytest.mark.parametrize("block", [1, 7, 1_000])
@pytest.mark.parametrize("seed", [0, 1])
def test_auto_measures_each_weight_on_blocks_of_documents_as_on_the_whole_blend(
        monkeypatch, block, seed):
    # auto blends a block of documents at a time to measure each weight's P@1 (a whole
    # blend per weight raised the audit's peak memory by a top-k per weight): the P@1s
    # are those of the whole blends, and the blend returned is the chosen weight's
    import tagsmith.audit.scores as scores

    monkeypatch.setattr(scores, "_P1_BLOCK", block)
    Y, knn = _corpus(seed)
    weight, blended, details = choose_cooccurrence(knn, Y)
    whole = [given_p_at_1(Y, blend_cooccurrence(knn, Y, w)) for w in COOCCURRENCE_GRID]
    assert details["p@1_vs_given"] == whole
    assert weight == COOCCURRENCE_GRID[whole.index(max(whole))]
    expected = blend_cooccurrence(knn, Y, weight)
    assert np.array_equal(blended.indices, expected.indices)
    assert np.array_equal(blended.scores, expected.scores)
