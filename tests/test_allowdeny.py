"""Allow and deny lists and hierarchy branches per request (`suggest --only`,
`--exclude`, `--under`; `TextClassifier.suggest(only=, exclude=, under=)`): a
subject-indexing team suggests from one collection's subjects, less those it never
uses, or from one branch of its thesaurus, and still gets its k best labels."""

import json
import random

import numpy as np
import pytest

import tagsmith.cli as tagsmith_cli
from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.features.tfidf import TfidfFeaturizer
from tagsmith.models.base import COLUMN_TOPK, NESTED_TOPK, SCORE_BATCHES, BaseModel
from tagsmith.models.linear import LinearOVR
from tagsmith.pipeline.classifier import PREDICT_CHUNK, TextClassifier
from tagsmith.topk import TopK

from conftest import run_quiet

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]
#: a tree: R; A, B, C under R; A1..A3 under A, B1..B3 under B, C1..C3 under C
BROADER = {"A": "R", "B": "R", "C": "R",
           **{f"{p}{i}": p for p in "ABC" for i in (1, 2, 3)}}
NAMES = ["R", "A", "B", "C"] + [f"{p}{i}" for p in "ABC" for i in (1, 2, 3)]


def run(*args, code=0):
    return run_quiet(*args, code=code)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A bundle over the tree's 13 labels, the same without hierarchy, and 6 documents."""
    base = tmp_path_factory.mktemp("allowdeny")
    rng = random.Random(5)
    with open(base / "train.tsv", "w", encoding="utf-8") as out:
        for _ in range(300):
            labels = rng.sample(NAMES, rng.choice([1, 2, 3]))
            words = [f"w{name}{rng.choice('xyz')}" for name in labels for _ in range(2)]
            words += [f"n{rng.randrange(30)}" for _ in range(3)]
            out.write(" ".join(words) + "\t" + " ".join(f"<u:{n}>" for n in labels) + "\n")
    (base / "hier.csv").write_text("uri,label_en,broader\n" + "".join(
        f"u:{n},name {n},{'u:' + BROADER[n] if n in BROADER else ''}\n" for n in NAMES))
    (base / "flat.csv").write_text("uri,label_en\n" + "".join(f"u:{n},name {n}\n"
                                                              for n in NAMES))
    (base / "docs.txt").write_text("wAx wA1y n3\nwB2x wBy wRz\nwC3x n1 n2\nwA2y wB1x\n"
                                   "n5 n6 n7\nwRx wCy wC1z\n")
    for name in ("hier", "flat"):
        run("train", base / "train.tsv", "--output", base / name, "--vocab",
            base / f"{name}.csv", "--dev-fraction", "0.25", "--no-refit", *FAST)
    return base


def uris(output, fmt="json"):
    """Each document's suggested URIs, in order."""
    if fmt == "tsv":
        per_doc: dict[str, list[str]] = {}
        for line in output.splitlines():
            doc, uri, *_ = line.split("\t")
            per_doc.setdefault(doc, []).append(uri.strip("<>"))
        return per_doc
    return {json.loads(line)["doc"]: [s["uri"] for s in json.loads(line)["suggestions"]]
            for line in output.splitlines()}


def everything(bundles, fmt="json"):
    """Every label of each document, ranked (the reference the options filter)."""
    return uris(run("suggest", bundles / "hier", bundles / "docs.txt", "--threshold", 0,
                    "--k", 13, "--format", fmt), fmt)


BRANCH_A = {"u:A", "u:A1", "u:A2", "u:A3"}


@pytest.mark.parametrize("fmt", ["json", "tsv"])
@pytest.mark.parametrize("options, allowed", [
    (["--only", "u:A1,<u:B2>,name C3"], {"u:A1", "u:B2", "u:C3"}),
    (["--exclude", "u:R", "--exclude", "u:A,u:B"], set(NAMES) - {"R", "A", "B"}),
    (["--under", "u:A"], BRANCH_A),
    (["--under", "u:A", "--under", "u:C3"], BRANCH_A | {"u:C3"}),
    (["--under", "u:A", "--exclude", "u:A", "--only", "u:A1,u:A2,u:B1"], {"u:A1", "u:A2"}),
])
def test_each_option_keeps_the_k_best_allowed_labels_of_the_ranking(bundles, fmt, options,
                                                                    allowed):
    allowed = {u if u.startswith("u:") else f"u:{u}" for u in allowed}
    ranked = everything(bundles, fmt)
    for k in (1, 3):
        got = uris(run("suggest", bundles / "hier", bundles / "docs.txt", "--threshold", 0,
                       "--k", k, "--format", fmt, *options), fmt)
        assert list(got) == list(ranked)  # every document answered, in order
        for doc, labels in ranked.items():
            # the k best allowed ones, in the ranking's order, however far down they are
            assert got[doc] == [u for u in labels if u in allowed][:k], (doc, options)


def test_scores_are_the_unrestricted_ones_and_thresholds_apply_after(bundles):
    """The allowed labels keep their scores; the tuned thresholds cut the allowed
    labels as they cut them without the options."""
    args = ["suggest", bundles / "hier", bundles / "docs.txt", "--k", 13]
    full = [json.loads(line) for line in run(*args, "--threshold", 0).splitlines()]
    got = [json.loads(line) for line in run(*args, "--threshold", 0, "--exclude",
                                            "u:R").splitlines()]
    for before, after in zip(full, got, strict=True):
        assert after["suggestions"] == [s for s in before["suggestions"]
                                        if s["uri"] != "u:R"]
    tuned = uris(run(*args))
    tuned_exclude = uris(run(*args, "--exclude", "u:R"))
    for doc, labels in tuned.items():
        assert tuned_exclude[doc] == [u for u in labels if u != "u:R"]


def test_the_library_gives_the_same_and_a_document_still_gets_k_labels(bundles):
    clf = TextClassifier.load(bundles / "hier")
    texts = (bundles / "docs.txt").read_text().splitlines()
    full = clf.suggest(texts, k=13, threshold=0)
    for k in (1, 2, 4):
        # a deny list of each document's top 5 labels: the k after them
        top = {s.uri for s in full[0][:5]}
        got = clf.suggest(texts, k=k, threshold=0, exclude=sorted(top))
        for before, after in zip(full, got, strict=True):
            assert len(after) == k
            assert after == [s for s in before if s.uri not in top][:k]
    branch = clf.suggest(texts, k=13, threshold=0, under="name B")
    assert [{s.uri for s in row} for row in branch] == [{"u:B", "u:B1", "u:B2", "u:B3"}] * 6
    # the predict_topk of a restricted copy pads where fewer labels are allowed than k
    topk = clf.restricted(only=["u:A", "u:B"]).predict_topk(texts, 3)
    assert topk.indices.shape == (6, 3) and (topk.indices[:, 2] == -1).all()
    assert clf.restricted() is clf
    with pytest.raises(InvalidParameterError, match="parameter 'only'.*'u:nope'"):
        clf.suggest(texts, only=["u:nope"])
    with pytest.raises(InvalidParameterError, match="loses its guarantee"):
        clf.restricted(exclude="u:R").suggest_sets(texts)


def test_most_specific_applies_to_the_allowed_labels(bundles):
    got = uris(run("suggest", bundles / "hier", bundles / "docs.txt", "--threshold", 0,
                   "--k", 13, "--under", "u:A", "--most-specific"))
    assert all(labels == [u for u in labels if u != "u:A"] and "u:A" not in labels
               and len(labels) == 3 for labels in got.values())


def test_labels_from_a_file_and_errors_name_the_option_the_label_and_the_line(bundles,
                                                                              tmp_path):
    listed = tmp_path / "allowed.txt"
    listed.write_text("# our collection\nu:A1\n\n<u:B2>\nu:Bogus\n")
    out = run("suggest", bundles / "hier", bundles / "docs.txt", "--only", listed, code=2)
    assert "'--only'" in out and f"u:Bogus ({listed}:5)" in out, out
    listed.write_text("# our collection\nu:A1\n\n<u:B2>\n")
    got = uris(run("suggest", bundles / "hier", bundles / "docs.txt", "--threshold", 0,
                   "--only", listed))
    assert all(sorted(labels) == ["u:A1", "u:B2"] for labels in got.values())
    out = run("suggest", bundles / "hier", bundles / "docs.txt", "--exclude", "u:A,u:Q",
              code=2)
    assert "'--exclude' must be one of the 13 labels of the label space" in out, out
    assert "got 'u:Q'" in out, out
    # a name in another case: the label space's hint says which label it is
    out = run("suggest", bundles / "hier", bundles / "docs.txt", "--under", "NAME a",
              code=2)
    assert "'--under'" in out and "u:A" in out, out
    out = run("suggest", bundles / "hier", bundles / "docs.txt", "--only", "u:A,",
              code=2)
    assert "--only" in out and "a label is empty" in out, out
    out = run("suggest", bundles / "flat", bundles / "docs.txt", "--under", "u:A", code=2)
    assert "'--under'" in out and "hierarchy" in out, out
    out = run("suggest", bundles / "hier", bundles / "docs.txt", "--only", "u:A",
              "--exclude", "u:A", code=2)
    assert "'--only and --exclude'" in out and "allows none" in out, out


def test_sets_and_replace_deprecated_are_refused_with_the_options(bundles):
    out = run("suggest", bundles / "hier", bundles / "docs.txt", "--sets", "--only", "u:A",
              code=2)
    assert "cannot be combined with --sets" in out and "guarantee" in out, out
    out = run("suggest", bundles / "hier", bundles / "docs.txt", "--vocab",
              bundles / "hier.csv", "--replace-deprecated", "--exclude", "u:A", code=2)
    assert "cannot be combined with --replace-deprecated" in out, out


@pytest.mark.parametrize("option", ["--only", "--exclude", "--under"])
def test_a_file_listing_no_label_is_refused_naming_it(bundles, tmp_path, option):
    # an allow list not filled in yet (comments alone) dropped the option: every label
    # was suggested, without a word
    listed = tmp_path / "allowed.txt"
    listed.write_text("# our collection, to be filled in\n\n")
    out = run("suggest", bundles / "hier", bundles / "docs.txt", option, listed, code=2)
    assert f"'{option}'" in out and str(listed) in out and "no label" in out, out


def test_explain_with_a_restriction_explains_the_allowed_labels_and_keeps_the_explainer(
        bundles):
    # the hand-merge of --explain: a restricted copy explained its suggestions, but made
    # its Explainer anew on every call (the bundle's term list and weights), never kept
    clf = TextClassifier.load(bundles / "hier")
    texts = ["wAx wA1y n3", "wC3x n1 n2"]
    got = clf.suggest(texts, k=2, threshold=0, only=["u:A1", "name C3"], explain=2)
    assert [[s.uri for s in row] for row in got] == [["u:A1", "u:C3"], ["u:C3", "u:A1"]]
    assert [e.term for e in got[0][0].evidence] == ["wa1y"]
    assert [e.term for e in got[1][0].evidence][:1] == ["wc3x"]
    made = getattr(clf, "_made_explainer", None)
    assert made is not None
    clf.suggest(texts, k=2, only=["u:A1"], explain=2)
    assert clf._made_explainer is made
    out = run("suggest", bundles / "hier", bundles / "docs.txt", "--threshold", 0, "--k", 2,
              "--only", "u:A1,name C3", "--explain", 2)
    first = json.loads(out.splitlines()[0])["suggestions"]
    assert [s["uri"] for s in first] == ["u:A1", "u:C3"]
    assert [e["term"] for e in first[0]["evidence"]] == ["wa1y"]


class _ShortRanking(BaseModel):
    """A third-party family's model that ranks the labels in id order (label 0 best,
    whatever the text) and gives back at most ``n_labels - 1`` columns, unpadded, however
    many are asked for; it records each width asked and refuses a 20th call (a widening
    that never stopped)."""

    name = "short-ranking"
    capabilities = frozenset({NESTED_TOPK})

    def __init__(self):
        self.n_labels_ = 100
        self.asked: list[int] = []

    def predict_topk(self, X, k):
        self.asked.append(k)
        assert len(self.asked) < 20, f"the widening never stopped: asked {self.asked}"
        width = min(k, self.n_labels_ - 1)
        ids = np.tile(np.arange(width, dtype=np.int32), (X.shape[0], 1))
        return TopK(ids, -ids.astype(np.float32), self.n_labels_)


def _short_ranking_classifier():
    texts = ["one text", "another text"]
    featurizer = TfidfFeaturizer(word_ngrams=(1, 1), char_ngrams=None, min_df=1).fit(texts)
    model = _ShortRanking()
    model.n_features_ = featurizer.n_features
    space = LabelSpace([Label(f"u:{i}") for i in range(model.n_labels_)])
    return TextClassifier(space, featurizer, model), model, texts


def test_the_widening_stops_once_k_allowed_labels_are_ranked_or_every_label_was_asked():
    """The widening's stop rule (commit 5d2b2bdc): rows whose ranking holds ``k`` allowed
    labels stop there; a model that gives back fewer columns than asked stops once every
    label was asked for, with the allowed labels it ranks."""
    clf, model, texts = _short_ranking_classifier()
    # the 30 best labels denied: the allowed ones sit from rank 31 down; k 2 of 70
    # allowed asks 4 (the share allowed), then 16, then 64, which holds them
    got = clf.restricted(exclude=[f"u:{i}" for i in range(30)]).predict_topk(texts, 2)
    assert got.indices.tolist() == [[30, 31]] * 2
    assert model.asked == [4, 16, 64]
    # label 99 is allowed, and the model never ranks it: every label is asked for, once
    model.asked.clear()
    got = clf.restricted(only=["u:99"]).predict_topk(texts, 1)
    assert got.indices.tolist() == [[-1]] * 2
    assert model.asked == [100]
    model.asked.clear()
    got = clf.restricted(only=["u:98", "u:99"]).predict_topk(texts, 2)
    assert got.indices.tolist() == [[98, -1]] * 2
    assert model.asked == [100]


@pytest.mark.parametrize("option", ["--only", "--exclude", "--under"])
def test_a_mistyped_file_name_is_refused_as_no_such_file(bundles, tmp_path, option):
    # a lone value that is no file was refused as an unknown label alone: 'got
    # allowd.txt', which read as if the file's labels were wrong
    (tmp_path / "allowed.txt").write_text("u:A1\n")
    typo = tmp_path / "allowd.txt"
    out = run("suggest", bundles / "hier", bundles / "docs.txt", option, typo, code=2)
    assert f"'{option}' must be a FILE of labels" in out, out
    assert f"{typo} (no such file, nor such a label)" in out, out
    out = run("suggest", bundles / "hier", bundles / "docs.txt", option, tmp_path, code=2)
    assert f"{tmp_path} (a folder, not a FILE, nor such a label)" in out, out
    # labels separated by commas are labels: no file is spoken of
    out = run("suggest", bundles / "hier", bundles / "docs.txt", option, "u:A,u:Q", code=2)
    assert "got 'u:Q'" in out and "FILE" not in out, out


def test_an_unknown_label_listed_in_two_files_names_both(bundles, tmp_path):
    # the error named the last file alone: the first file kept the label after a fix
    first, second = tmp_path / "ours.txt", tmp_path / "theirs.txt"
    first.write_text("u:A1\nu:Bogus\n")
    second.write_text("# theirs\nu:Bogus\n")
    out = run("suggest", bundles / "hier", bundles / "docs.txt", "--only", first,
              "--only", second, code=2)
    assert f"u:Bogus ({first}:2, {second}:2)" in out, out
    # a file of another option listing the label is not where this option has it
    out = run("suggest", bundles / "hier", bundles / "docs.txt", "--only", first,
              "--exclude", second, code=2)
    assert "'--only'" in out and f"u:Bogus ({first}:2)" in out, out


def test_two_requests_of_a_restricted_copy_are_scored_together(bundles):
    """suggest's ranking and a --min-recall bundle's count of the labels --k cut short
    (two requests of one batch) were each widened on their own: the model scored every
    text twice. Each round now scores the rows still widened once for both, with the
    results of one request at a time."""
    clf, model, texts = _short_ranking_classifier()
    restricted = clf.restricted(exclude=[f"u:{i}" for i in range(30)])
    one = restricted.predict_topk(texts, 2)
    other = restricted.predict_topk(texts, 10)
    model.asked.clear()
    both = restricted.predict_topks(texts, (2, True, True), (10, True, True))
    assert [t.indices.tolist() for t in both] == [one.indices.tolist(),
                                                   other.indices.tolist()]
    # k 2 asks 4, 16, 64 and k 10 asks 20, 80: the first two rounds scored at once
    assert model.asked == [20, 80, 64]
    real = TextClassifier.load(bundles / "hier")
    texts = (bundles / "docs.txt").read_text().splitlines()
    for options in ({"exclude": ["u:R", "u:A", "u:B"]}, {"under": ["u:C"]}):
        copy = real.restricted(**options)
        requests = ((1, True, True), (5, True, True), (3, False, False, 4))
        together = copy.predict_topks(texts, *requests)
        for request, got in zip(requests, together, strict=True):
            alone = copy.predict_topks(texts, request)[0]
            assert got.indices.tolist() == alone.indices.tolist()
            assert got.scores.tolist() == alone.scores.tolist()


class _Counted(LinearOVR):
    """The linear model, each width it is asked to rank every label for recorded."""

    def predict_topk(self, X, k):
        self.asked = [*getattr(self, "asked", []), k]
        return super().predict_topk(X, k)


class _Widened(_Counted):
    """The same, without scoring some labels alone: the widening rounds rank them."""

    capabilities = LinearOVR.capabilities - {COLUMN_TOPK}


def test_a_linear_model_scores_the_allowed_labels_alone_with_the_widening_results(bundles):
    """A short --only list on a linear bundle asked for every label's score in widening
    rounds (2-4 times an unrestricted call); its raw scores rank the allowed labels from
    their own columns, with the same labels, order and scores."""
    clf = TextClassifier.load(bundles / "hier")
    assert isinstance(clf.model, LinearOVR) and clf.calibrator is None
    texts = (bundles / "docs.txt").read_text().splitlines() * 3
    for options in ({"only": ["u:A1", "u:C3"]}, {"under": "u:B"},
                    {"exclude": ["u:R", "u:A", "u:B", "u:C"]}, {"only": ["u:B2"]}):
        restricted = clf.restricted(**options)
        got = {}
        for kind in (_Counted, _Widened):
            clf.model.__class__ = kind
            clf.model.asked = []
            got[kind] = [restricted.predict_topks(texts, *requests) for requests in
                         (((1, True, True),), ((3, True, True), (5, False, False, 6)))]
            asked = clf.model.asked
            clf.model.__class__ = LinearOVR
            if kind is _Counted and 2 * restricted.allowed.sum() <= clf.n_labels:
                assert asked == [], options  # the model ranked no label outside them
        for alone, widened in zip(got[_Counted], got[_Widened], strict=True):
            for a, b in zip(alone, widened, strict=True):
                assert a.indices.tolist() == b.indices.tolist(), options
                assert a.scores.tolist() == b.scores.tolist(), options
    features = clf.featurizer.transform(texts[:2])
    for labels in ([3, 1], [], [0, 13]):
        with pytest.raises(InvalidParameterError, match="parameter 'labels'"):
            clf.model.predict_topk_among(features, 1, labels)


def test_a_calibrated_linear_model_scores_a_short_allow_list_alone_when_k_covers_it(
        bundles, tmp_path):
    """A calibrated linear bundle's short --only list (k at least the labels allowed)
    asked for every label's score and calibrated every one of them, in a round k +
    the labels denied wide, to keep the allowed ones; their own columns' scores
    calibrated give the same labels, order and probabilities. With k below the labels
    allowed, the model's top candidates still decide (widening rounds)."""
    rng = random.Random(11)  # held-out documents written as the fixture's
    with open(tmp_path / "held.tsv", "w", encoding="utf-8") as out:
        for _ in range(150):
            labels = rng.sample(NAMES, rng.choice([1, 2, 3]))
            words = [f"w{name}{rng.choice('xyz')}" for name in labels for _ in range(2)]
            out.write(" ".join(words + [f"n{rng.randrange(30)}"]) + "\t"
                      + " ".join(f"<u:{n}>" for n in labels) + "\n")
    run("calibrate", bundles / "hier", "--data", tmp_path / "held.tsv", "-o", tmp_path / "cal")
    # a stored label shift too: the (k, True, True) requests' probabilities are adjusted
    (tmp_path / "new.txt").write_text("wA1x wA1y\nwA1z wC3x\nwA1x wB2y\n" * 20)
    run("shift", tmp_path / "cal", tmp_path / "new.txt", "--save", "--save-unsupported",
        "--min-count", 0)
    clf = TextClassifier.load(tmp_path / "cal")
    assert isinstance(clf.model, LinearOVR) and clf.calibrator is not None
    assert clf.label_shift is not None
    texts = (bundles / "docs.txt").read_text().splitlines() * 3
    adjusted = 0
    for options in ({"only": ["u:A1", "u:C3"]}, {"under": "u:B"}, {"only": ["u:B2"]},
                    {"only": ["u:R", "u:A", "u:A2", "u:B3", "u:C", "u:C1"]}):
        restricted = clf.restricted(**options)
        n_allowed = int(restricted.allowed.sum())
        batches = (((n_allowed, True, True),), ((n_allowed + 2, True, False),
                                                 (n_allowed, False, False, 6)),
                   ((max(1, n_allowed - 1), True, True),))
        got = {}
        for kind in (_Counted, _Widened):
            clf.model.__class__ = kind
            got[kind] = []
            for requests in batches:
                clf.model.asked = []
                got[kind].append(restricted.predict_topks(texts, *requests))
                if kind is _Counted and all(k >= n_allowed for k, *_ in requests):
                    assert clf.model.asked == [], options  # no label outside them ranked
            clf.model.__class__ = LinearOVR
        for alone, widened in zip(got[_Counted], got[_Widened], strict=True):
            for a, b in zip(alone, widened, strict=True):
                assert a.indices.tolist() == b.indices.tolist(), options
                assert a.scores.tolist() == b.scores.tolist(), options
        assert got[_Counted][0][0].scores.max() > 0  # probabilities, not padding alone
        # the shift adjusted the one and not the other
        adjusted += not np.array_equal(
            np.sort(got[_Counted][0][0].scores, axis=1),
            np.sort(got[_Counted][1][0].scores[:, :n_allowed], axis=1))
    assert adjusted


def test_excluding_a_few_labels_ranks_as_the_full_ranking_without_them(bundles):
    """--exclude of a few labels allowed nearly every label, and the column path copied
    nearly every weight for a ranking that one widening round, k + the labels denied
    wide, gives from the weights as they are (the copy is no longer kept on the model:
    test_a_short_allow_list_copies_its_columns_once_per_call counts copies)."""
    clf = TextClassifier.load(bundles / "hier")
    assert isinstance(clf.model, LinearOVR) and clf.calibrator is None
    texts = (bundles / "docs.txt").read_text().splitlines()
    restricted = clf.restricted(exclude=["u:A1"])
    got = restricted.predict_topks(texts, (3, False, False))[0]
    ranked = clf.predict_topks(texts, (clf.n_labels, False, False))[0]
    denied = int(np.flatnonzero(~restricted.allowed)[0])
    for row, want in zip(got.indices.tolist(), ranked.indices.tolist(), strict=True):
        assert row == [label for label in want if label != denied][:3]
    short = clf.restricted(only=["u:A1", "u:C3"]).predict_topks(texts, (1, False, False))[0]
    assert short.indices.shape == (len(texts), 1)


def _held_bytes(model) -> int:
    """The bytes of the arrays and sparse matrices a model holds as attributes."""
    total = 0
    for value in vars(model).values():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, np.ndarray):
                total += item.nbytes
            elif hasattr(item, "data") and hasattr(item, "indices"):  # a scipy sparse one
                total += item.data.nbytes + item.indices.nbytes + item.indptr.nbytes
    return total


def test_a_linear_model_holds_no_more_after_scoring_a_short_allow_list(bundles):
    """The allowed labels' columns (up to half the weights) were kept on the model after
    a restricted call, for as long as it lived; they are copied for the call only, with
    the same rankings on every call."""
    clf = TextClassifier.load(bundles / "hier")
    texts = (bundles / "docs.txt").read_text().splitlines()
    clf.predict_topks(texts, (3, False, False))  # the model's dense weights, once
    held = _held_bytes(clf.model)
    restricted = clf.restricted(only=["u:A1", "u:B", "u:C3", "u:R"])
    first = restricted.predict_topks(texts, (2, False, False))[0]
    assert _held_bytes(clf.model) == held
    again = restricted.predict_topks(texts, (2, False, False))[0]
    assert first.indices.tolist() == again.indices.tolist()
    assert first.scores.tolist() == again.scores.tolist()


def test_an_ambiguous_lone_label_is_not_called_no_label():
    # a lone value that is no file but names two labels was refused as "no such file,
    # nor such a label": it is a label, ambiguous, as the error's expected part says
    from tagsmith.cli.commands import label_list, restrict_suggestions

    clf, _, _ = _short_ranking_classifier()
    clf.label_space = LabelSpace([Label("u:1", pref_labels={"en": "twin"}),
                                  Label("u:2", pref_labels={"en": "twin"})]
                                 + [Label(f"u:{i}") for i in range(3, 100)])
    only = label_list(None, None, ("twin",))
    with pytest.raises(InvalidParameterError) as caught:
        restrict_suggestions(clf, only, [], [])
    message = str(caught.value)
    assert "twin" in message and "u:1" in message, message
    assert "nor such a label" not in message and "FILE" not in message, message


class _CopiesCounted(LinearOVR):
    """The linear model, each read of its weights (a copy of some columns follows each
    in predict_topk_among) recorded."""

    def _prediction_weights(self):
        self.reads = getattr(self, "reads", 0) + 1
        return super()._prediction_weights()


def test_a_short_allow_list_copies_its_columns_once_per_call(bundles):
    """A restricted suggest on a linear bundle copied the allowed labels' weight columns
    (up to half the weights) for every chunk of 8,192 texts, and again for suggest
    --sets' recall count: once per call now, with the same results."""
    clf = TextClassifier.load(bundles / "hier")
    texts = (bundles / "docs.txt").read_text().splitlines()
    texts = texts * (PREDICT_CHUNK // len(texts) + 2)  # two chunks under a progress bar
    restricted = clf.restricted(only=["u:A1", "u:C3"])
    requests = ((1, False, False), (2, False, False))
    expected = [restricted.predict_topks(texts, request)[0] for request in requests]
    clf.model.__class__ = _CopiesCounted
    try:
        restricted.show_progress = True
        got = restricted.predict_topks(texts, *requests)
        assert clf.model.reads == 1  # 4 before: 2 chunks, 2 requests each
    finally:
        clf.model.__class__ = LinearOVR
    for a, b in zip(expected, got, strict=True):
        assert a.indices.tolist() == b.indices.tolist()
        assert a.scores.tolist() == b.scores.tolist()
    columns: dict = {}  # a caller's own dict: filled once, read thereafter
    features = clf.featurizer.transform(texts[:5])
    first = clf.model.predict_topk_among(features, 1, [0, 2], columns=columns)
    kept = list(columns.values())
    again = clf.model.predict_topk_among(features, 1, [0, 2], columns=columns)
    assert len(kept) == 1 and list(columns.values())[0] is kept[0]
    assert first.indices.tolist() == again.indices.tolist()


class _Rounds(_Counted):
    """The linear model without every label's scores in batches: a calibrated allow
    list longer than k is ranked in widening rounds."""

    capabilities = LinearOVR.capabilities - {SCORE_BATCHES}


def _tied_calibrated_classifier(calibrator_k):
    """A calibrated linear classifier of 400 labels whose scores tie: labels 100-299
    share one weight column, labels 300-309 saturate at 1.0, and labels 380-399 score
    low for every text. Each label's Platt curve differs, so probabilities re-rank
    what the raw scores rank; a stored label shift adjusts them again."""
    from scipy import sparse

    from tagsmith.calibration.bands import FrequencyBands
    from tagsmith.calibration.scaling import Calibrator
    from tagsmith.calibration.shift import LabelShift

    rng = np.random.default_rng(5)
    words = [f"f{i}" for i in range(30)]
    texts = [" ".join(rng.choice(words, size=rng.integers(2, 8))) for _ in range(300)]
    featurizer = TfidfFeaturizer(word_ngrams=(1, 1), char_ngrams=None, min_df=1).fit(texts)
    n_labels, n_features = 400, featurizer.n_features
    weights = rng.normal(0, 1.5, (n_features, n_labels)).astype(np.float32)
    intercept = rng.normal(-1, 1, n_labels).astype(np.float32)
    weights[:, 100:300] = weights[:, [100]]
    intercept[100:300] = intercept[100]
    intercept[300:310] = 80.0  # sigmoid's float32 1.0, whatever the text
    intercept[380:] = -12.0
    model = LinearOVR()
    model.coef_ = sparse.csc_matrix(weights)
    model.intercept_, model.n_features_, model.n_labels_ = intercept, n_features, n_labels
    model._dense_coef = None
    params = np.column_stack([rng.uniform(0.2, 3.0, n_labels), rng.normal(0, 2, n_labels)])
    counts = rng.integers(1, 50, n_labels)
    calibrator = Calibrator("platt", "logit", FrequencyBands.from_counts(counts, 2),
                            np.full(n_labels, 0.01), np.full(n_labels, 0.05), 100,
                            calibrator_k, 30.0, label_params=params)
    shift = LabelShift("em", np.full(n_labels, 0.05), rng.uniform(0.01, 0.2, n_labels), 100)
    space = LabelSpace([Label(f"u:{i}") for i in range(n_labels)])
    clf = TextClassifier(space, featurizer, model, calibrator=calibrator, label_shift=shift)
    return clf, texts


@pytest.mark.parametrize("calibrator_k", [2, 100])
def test_a_calibrated_allow_list_longer_than_k_reads_the_rounds_from_one_scoring(
        calibrator_k):
    """A calibrated linear bundle's allow list longer than k (a 50-label branch of 5,475
    labels, k 10) was ranked in rounds, each asking for every label's top w and
    calibrating all of it, w growing 4 times a round: 40 s for 2,000 texts. Every
    label's scores are now read once and only the allowed labels within the round
    that stops each row are calibrated: the same labels, order and probabilities,
    ties at the cut and allowed labels ranked last included. A calibrator wider than
    the first round (calibrator_k 100) still widens in rounds."""
    clf, texts = _tied_calibrated_classifier(calibrator_k)
    others = [f"u:{i}" for i in [*range(0, 99), *range(110, 209)]]
    # allowed: among the tied block, the saturated labels, the low ones and others;
    # then 200 labels, k 2: a first round of 4, cut inside the saturated labels
    # (ranks 0-9) at the 2nd allowed one (301, 303), or just above it (303, 304)
    for only in ([f"u:{i}" for i in (3, 40, 99, 101, 150, 151, 220, 298, 299, 300, 305, 309)]
                 + [f"u:{i}" for i in range(380, 400, 2)],
                 ["u:301", "u:303", *others], ["u:303", "u:304", *others]):
        restricted = clf.restricted(only=only)
        requests = ((2, True, True), (3, True, True), (10, True, False),
                    (15, True, True, 40), (21, True, True), (4, False, False))
        got = {}
        for kind in (_Counted, _Rounds):
            clf.model.__class__ = kind
            clf.model.asked = []
            got[kind] = (restricted.predict_topks(texts, *requests),
                         [restricted.predict_topks(texts, request)[0]
                          for request in requests])
            if kind is _Counted and calibrator_k == 2:
                # no round asked for any label's top w; but of 200 allowed, the request
                # of width 40 has a first round of 30 (15 x 400 / 200): it widens
                assert clf.model.asked == ([] if len(only) == 22 else [40, 120] * 2)
        clf.model.__class__ = LinearOVR
        for together, alone in (got[_Counted], got[_Rounds]):
            for a, b, c in zip(together, alone, got[_Rounds][0], strict=True):
                assert a.indices.tolist() == b.indices.tolist() == c.indices.tolist()
                assert a.scores.tolist() == b.scores.tolist() == c.scores.tolist()
        if len(only) == 22:  # k 21 of the 22 allowed: every row reaches the low ones
            last = got[_Rounds][0][4]
            assert ((last.indices >= 380).sum(axis=1) >= 9).all()
            assert np.isfinite(last.scores).all()
        elif only[0] == "u:301" and calibrator_k == 2:
            # a round of 4 (of the model's top 4) holds those two alone, whatever the text
            assert (np.sort(got[_Rounds][0][0].indices, axis=1)
                    == [int(label[2:]) for label in only[:2]]).all()
    # the case is what it says: ties of allowed labels
    scores = clf.model.predict_scores(clf.featurizer.transform(texts))
    assert (scores[:, 100:300] == scores[:, [100]]).all() and (scores[:, 300:310] == 1).all()


def test_an_ensemble_of_linear_members_takes_a_short_allow_list(bundles, tmp_path):
    """An ensemble of linear members kept their column top-k capability, which it has no
    method for: `suggest --only A,B` failed with "'NoneType' object is not callable"."""
    run("train", bundles / "train.tsv", "--output", tmp_path / "ens", "--vocab",
        bundles / "flat.csv", "--dev-fraction", "0", "--model", "ensemble", "-p",
        'members=[["linear", {}], ["linear", {"C": 10}]]', *FAST)
    clf = TextClassifier.load(tmp_path / "ens")
    assert COLUMN_TOPK not in clf.model.capabilities
    texts = (bundles / "docs.txt").read_text().splitlines()
    restricted = clf.restricted(only=["u:A1", "u:C3"])
    [topk] = restricted.predict_topks(texts, (2, True, True))
    allowed = {clf.label_space.lookup("<u:A1>"), clf.label_space.lookup("<u:C3>")}
    assert topk.indices.shape == (len(texts), 2)
    assert {int(i) for i in topk.indices.ravel()} <= allowed


def test_a_restriction_key_that_is_an_alternative_label_is_read_and_the_errors_say_so():
    # --only/--exclude/--under read an alternative label as its concept since lookup does,
    # but their errors and help still listed "a URI, <URI>, a preferred name or a
    # notation": a user with a synonym list was told synonyms were not taken
    from tagsmith.cli.commands import LABEL_LIST_HELP
    from tagsmith.pipeline.restrict import resolve_label

    space = LabelSpace([Label("u:a", {"en": "Apple"}, {"en": ["Malus"]})])
    assert resolve_label(space, "Malus", "only") == 0
    with pytest.raises(InvalidParameterError, match="a notation or an alternative label"):
        resolve_label(space, "Pear", "only")
    assert "an alternative label" in LABEL_LIST_HELP
