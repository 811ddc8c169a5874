"""`zeroshot --only / --exclude / --under`: an economics library indexing with STW from
its SKOS file got STW's thesaurus categories (`thsys`, headings, not subjects) among the
suggestions, often as the twin of a descriptor of the same name (`Crop production` and
`W.01.01  Crop production`), with no way to keep them out short of a TSV of English names
without alternative labels or hierarchy. suggest had the three options; zeroshot had none."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

import tagsmith.cli as tagsmith_cli
from tagsmith.exceptions import InvalidParameterError

from conftest import FAST_FEATURES, GOEMOTIONS, run_quiet

tagsmith_cli._register_commands()

#: a tiny STW-like SKOS vocabulary: two categories (zbwext:Thsys, notation then name, as
#: STW names them) over three descriptors
STW_LIKE = """@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix zbwext: <http://zbw.eu/namespaces/zbw-extensions/> .
@prefix t: <http://zbw.eu/stw/thsys/> .
@prefix d: <http://zbw.eu/stw/descriptor/> .

t:1 a skos:Concept, zbwext:Thsys ; skos:notation "W.10" ;
    skos:prefLabel "W.10  Agricultural trade"@en, "W.10  Agrarhandel"@de ;
    skos:narrower d:1 .
t:2 a skos:Concept, zbwext:Thsys ; skos:notation "N.05" ;
    skos:prefLabel "N.05  Sport economics"@en, "N.05  Sportökonomik"@de .
d:1 a skos:Concept, zbwext:Descriptor ;
    skos:prefLabel "Agricultural trade"@en, "Agrarhandel"@de ;
    skos:altLabel "Farm trade"@en .
d:2 a skos:Concept, zbwext:Descriptor ; skos:broader t:2 ;
    skos:prefLabel "Sport economics"@en, "Sportökonomik"@de .
d:3 a skos:Concept, zbwext:Descriptor ; skos:broader t:1 ;
    skos:prefLabel "Grain trade"@en, "Getreidehandel"@de .
"""
THSYS = ["http://zbw.eu/stw/thsys/1", "http://zbw.eu/stw/thsys/2"]
DOCS = ("Japan resists U.S. demands to open its farm trade in rice and wheat\n"
        "The football league's clubs earn more from television rights\n")


def _setup(tmp_path):
    vocab = tmp_path / "stw.ttl"
    vocab.write_text(STW_LIKE, encoding="utf-8")
    docs = tmp_path / "docs.txt"
    docs.write_text(DOCS, encoding="utf-8")
    return vocab, docs


def _suggested(output):
    return [[s["uri"] for s in json.loads(line)["suggestions"]]
            for line in output.splitlines()]


def test_exclude_keeps_thsys_categories_out_and_still_fills_k(tmp_path):
    vocab, docs = _setup(tmp_path)
    args = ["zeroshot", vocab, docs, "--cache-dir", tmp_path, "--k", "3"]
    everything = _suggested(run_quiet(*args, "--k", "5"))
    # the walk's complaint: a category comes with its descriptor twin
    assert any(uri in THSYS for row in everything for uri in row)
    listed = tmp_path / "thsys.txt"  # zcat stw-en.tsv.gz | grep /thsys/ | cut -f1
    listed.write_text("# STW's thesaurus categories\n" + "".join(f"<{u}>\n" for u in THSYS))
    for exclude in (str(listed), ",".join(THSYS)):
        kept = _suggested(run_quiet(*args, "--exclude", exclude))
        for row, full in zip(kept, everything, strict=True):
            # every document still gets --k suggestions, the descriptors in zero-shot's order
            assert row == [uri for uri in full if uri not in THSYS][:3]
            assert len(row) == 3
    # TSV output and --most-specific keep the hierarchy of the SKOS file
    tsv = run_quiet(*args, "--exclude", listed, "--format", "tsv", "--most-specific")
    assert "/thsys/" not in tsv and tsv.count("\n") >= 2


def test_only_and_under_restrict_to_labels_and_branches(tmp_path):
    vocab, docs = _setup(tmp_path)
    args = ["zeroshot", vocab, docs, "--cache-dir", tmp_path, "--k", "5"]
    under = _suggested(run_quiet(*args, "--under", "W.10"))  # a notation names a label
    # the category and its descriptors (one by skos:narrower, one by skos:broader)
    assert all(set(row) == {THSYS[0], "http://zbw.eu/stw/descriptor/1",
                            "http://zbw.eu/stw/descriptor/3"} for row in under)
    only = _suggested(run_quiet(*args, "--only", "Grain trade,Sport economics"))
    assert all(sorted(row) == ["http://zbw.eu/stw/descriptor/2",
                               "http://zbw.eu/stw/descriptor/3"] for row in only)
    # German names are labels' names too, as in a corpus
    assert _suggested(run_quiet(*args, "--only", "Getreidehandel,Sportökonomik")) == only


def test_unknown_label_and_eval_are_refused_before_the_encoder_loads(tmp_path):
    vocab, docs = _setup(tmp_path)
    listed = tmp_path / "deny.txt"
    listed.write_text("<http://zbw.eu/stw/thsys/1>\n<http://zbw.eu/stw/thsys/9>\n")
    out = run_quiet("zeroshot", vocab, docs, "--cache-dir", tmp_path, "--exclude", listed,
                    code=2)
    assert "--exclude" in out and "thsys/9" in out and f"{listed}:2" in out, out
    out = run_quiet("zeroshot", vocab, docs, "--cache-dir", tmp_path, "--exclude",
                    ",".join(THSYS), "--only", ",".join(THSYS), code=2)
    assert "allows none" in out, out
    gold = tmp_path / "gold.tsv"
    gold.write_text("Rice and wheat trade\t<http://zbw.eu/stw/descriptor/3>\n")
    # with --eval (its figures over the allowed labels), a restriction leaving CORPUS no
    # document is refused before the encoder loads too
    out = run_quiet("zeroshot", vocab, gold, "--eval", "--cache-dir", tmp_path, "--only",
                    "Sport economics", code=3)
    assert "no document of CORPUS carries a label --only allows" in out, out
    assert not list(tmp_path.glob("*.npy"))  # nothing was embedded


def test_exclude_applies_to_a_blend_with_a_bundle(tmp_path):
    """With --bundle, a label the model learnt (a category a careless corpus holds) is
    denied too, at every weight, and each document still gets its --k best others."""
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    vocab, docs = _setup(tmp_path)

    space = load_vocabulary(vocab)
    cat, grain = space.lookup(THSYS[0]), space.lookup("Grain trade")
    sport = space.lookup("Sport economics")
    texts = ["rice farm trade quota", "wheat farm trade tariff", "football club revenue",
             "tennis league income"] * 5
    Y = np.zeros((len(texts), len(space)), np.float32)
    for i, text in enumerate(texts):
        Y[i, [cat, grain] if "farm" in text else [sport]] = 1
    train_classifier(texts, sp.csr_matrix(Y), space, options=TrainOptions(
        dev_fraction=0.0, featurizer_params=FAST_FEATURES)).save(tmp_path / "b")
    for weight in ("0", "0.5"):
        args = ["zeroshot", vocab, docs, "--cache-dir", tmp_path, "--bundle", tmp_path / "b",
                "--weight", weight, "--k", "2"]
        full = _suggested(run_quiet(*args))
        assert THSYS[0] in full[0]  # the model learnt the category: suggested first
        kept = _suggested(run_quiet(*args, "--exclude", THSYS[0]))
        assert THSYS[0] not in kept[0] and len(kept[0]) == 2
        assert space.uri_of(grain) in kept[0]


def test_only_deprecated_labels_is_refused_before_the_encoder_loads(tmp_path):
    """--only of labels VOCAB deprecates allowed none zero-shot may suggest: every
    document got no suggestion, exit code 0, with no word of why."""
    vocab = tmp_path / "stw.ttl"
    vocab.write_text(STW_LIKE.replace(
        "@prefix d:", "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n@prefix d:").replace(
        'skos:prefLabel "Grain trade"@en', 'owl:deprecated true ; skos:prefLabel "Grain trade"@en'),
        encoding="utf-8")
    docs = tmp_path / "docs.txt"
    docs.write_text(DOCS, encoding="utf-8")
    out = run_quiet("zeroshot", vocab, docs, "--cache-dir", tmp_path, "--only",
                    "Grain trade", code=2)
    assert "--only" in out and "deprecated" in out, out
    assert not list(tmp_path.glob("*.npy"))  # nothing was embedded


def test_only_labels_without_a_name_is_refused_before_the_encoder_loads(tmp_path):
    """--only of a label whose name is punctuation alone (no text to match, never
    suggested) was refused after the encoder loaded and every label text was embedded,
    as "parameter 'allowed' must be ..." (a parameter no command line has)."""
    vocab = tmp_path / "v.tsv"
    vocab.write_text("http://x/a\tGrain trade\nhttp://x/b\t...\n", encoding="utf-8")
    docs = tmp_path / "docs.txt"
    docs.write_text(DOCS, encoding="utf-8")
    for option in (("--only", "http://x/b"), ("--exclude", "http://x/a")):
        out = run_quiet("zeroshot", vocab, docs, "--cache-dir", tmp_path, *option, code=2)
        assert option[0] in out and "'allowed'" not in out and "name" in out, out
    assert not list(tmp_path.glob("*.npy"))  # nothing was embedded


def test_restricted_scorer_searches_the_allowed_rows_alone_with_the_same_ranking(tmp_path):
    """zeroshot --only of 10 of YSO's 25,000 labels asked the scorer for --k plus every
    denied label and dropped those: nearly the whole vocabulary was ranked for each
    document. The allowed labels' rows alone are searched now, and each document gets
    the same labels in the same order with the same scores (to float32 rounding: BLAS
    sums a product of another shape in another order, as it does a batch of one
    document), with and without the hubness correction, a label of several rows
    (alternative labels) too; blank documents get none either way."""
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.zeroshot.encoder import SentenceEncoder
    from tagsmith.zeroshot.scorer import ZeroShotClassifier, _first_allowed, restricted_scorer

    stw, _ = _setup(tmp_path)
    texts = (DOCS.splitlines()
             + (GOEMOTIONS / "sentences.txt").read_text(encoding="utf-8").splitlines())
    encoder = SentenceEncoder(n_threads=2)
    vectors = encoder.encode(texts)
    for vocab in (stw, GOEMOTIONS / "vocab.tsv"):
        space = load_vocabulary(vocab)
        scorer = ZeroShotClassifier(space, encoder)
        n = len(space)
        masks = [np.arange(n) % 2 == 0, np.arange(n) == n - 1, np.arange(n) >= n // 2]
        for background in (None, vectors[:4]):
            if background is not None:
                scorer.fit_background(vectors=background, neighbors=2)
            for allowed in masks:
                restricted = restricted_scorer(scorer, allowed)
                assert restricted is not None
                # its index holds the allowed labels' rows, and no other
                assert set(restricted.owners) <= set(np.flatnonzero(allowed))
                assert restricted.index.vectors.shape[0] == int(allowed[scorer.owners].sum())
                for k in (1, 3, n):
                    full = _first_allowed(scorer.topk_from_embeddings(vectors, n),
                                          allowed, k, n)
                    got = restricted.topk_from_embeddings(vectors, k)
                    assert got.n_labels == n and got.indices.shape == full.indices.shape
                    assert np.array_equal(got.indices, full.indices), (vocab, k)
                    assert np.array_equal(got.valid, full.valid)
                    np.testing.assert_allclose(got.scores[got.valid], full.scores[full.valid],
                                               rtol=0, atol=1e-6)
        blank = restricted.predict_topk(["", "..."], 2, warn=False)
        assert not blank.valid.any()
        with pytest.raises(InvalidParameterError, match="allowed"):
            scorer.restricted(np.zeros(n, bool))


def test_restricted_scorer_keeps_the_whole_scorer_when_a_few_labels_are_denied():
    """zeroshot --exclude of one label took the restricted path: a copy of nearly the
    whole label-embedding matrix, searched as the whole one is, for no gain. Fewer than
    one row in RESTRICT_FROM_DENIED denied, the whole scorer is asked for k plus those;
    a mask of the wrong shape is refused naming 'allowed', not an IndexError."""
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.zeroshot.encoder import SentenceEncoder
    from tagsmith.zeroshot.scorer import ZeroShotClassifier, restricted_scorer

    space = load_vocabulary(GOEMOTIONS / "vocab.tsv")
    scorer = ZeroShotClassifier(space, SentenceEncoder(n_threads=2))
    n = len(space)
    one_label = np.arange(n) == 0
    assert restricted_scorer(scorer, ~one_label) is None
    assert restricted_scorer(scorer, one_label) is not None
    with pytest.raises(InvalidParameterError, match="allowed"):
        restricted_scorer(scorer, np.ones(n + 1, bool))
