"""Zero-shot with a restriction on a cold label-embedding cache: `zeroshot --eval --only`
of 300 of YSO's 27,754 labels with an empty --cache-dir spent 21 minutes embedding every
label text (0:53 once cached). Where the whole vocabulary's embeddings are not cached,
the allowed labels' texts alone are embedded now, cached in a part file that a later
run over the whole vocabulary (or another restriction) takes its vectors from."""

import json
import logging

import numpy as np
import pytest

import tagsmith.cli as tagsmith_cli
from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.zeroshot.scorer import ZeroShotClassifier, restricted_scorer

from conftest import ENCODER_WORDS as WORDS
from conftest import WordEncoder as TextCountingEncoder
from conftest import run_quiet

tagsmith_cli._register_commands()



def _space():
    return LabelSpace([Label(f"u:{word}", {"en": word}, alt_labels={"en": [f"{word} news"]})
                       for word in WORDS])


DOCS = ["the football final tonight", "a concert and some cooking", "election markets fall",
        "weather for travel", "science of cooking"]


def _allowed(space, *uris):
    return np.isin(space.uris, [f"u:{uri}" for uri in uris])


@pytest.mark.parametrize("background", [False, True])
def test_cold_restricted_scorer_embeds_the_allowed_texts_alone(tmp_path, background):
    space = _space()
    allowed = _allowed(space, "football", "cooking", "markets")
    encoder = TextCountingEncoder()
    scorer = ZeroShotClassifier(space, encoder, cache_dir=tmp_path / "cold", allowed=allowed)
    # 3 labels of 2 texts each, not 16
    assert sorted(encoder.embedded) == sorted(
        ["football", "football news", "cooking", "cooking news", "markets", "markets news"])
    ranker = restricted_scorer(scorer, allowed)
    assert ranker is scorer
    # what a scorer over the whole vocabulary (its embeddings cached) ranks
    whole = ZeroShotClassifier(space, TextCountingEncoder(), cache_dir=tmp_path / "warm")
    if background:
        scorer.fit_background(DOCS[:3])
        whole.fit_background(DOCS[:3])
    expected = restricted_scorer(whole, allowed).predict_topk(DOCS, 3)
    got = ranker.predict_topk(DOCS, 3)
    assert got.indices.tolist() == expected.indices.tolist()
    np.testing.assert_allclose(got.scores, expected.scores, rtol=0, atol=1e-6)
    assert got.n_labels == len(space)


def test_a_later_whole_run_embeds_only_what_no_restricted_run_did(tmp_path):
    space = _space()
    first = TextCountingEncoder()
    ZeroShotClassifier(space, first, cache_dir=tmp_path, allowed=_allowed(space, "football"))
    assert [p.name.endswith(".part.npz") for p in tmp_path.glob("labels-*.npz")] == [True]
    # the same restriction again: read from its part file, nothing embedded
    again = TextCountingEncoder()
    ZeroShotClassifier(space, again, cache_dir=tmp_path, allowed=_allowed(space, "football"))
    assert again.embedded == []
    # another restriction overlapping it: the new label's texts alone
    other = TextCountingEncoder()
    ZeroShotClassifier(space, other, cache_dir=tmp_path,
                       allowed=_allowed(space, "football", "weather"))
    assert sorted(other.embedded) == ["weather", "weather news"]
    # the whole vocabulary: the 12 texts no restricted run embedded
    whole = TextCountingEncoder()
    scorer = ZeroShotClassifier(space, whole, cache_dir=tmp_path)
    assert len(whole.embedded) == 12 and "football" not in whole.embedded
    fresh = ZeroShotClassifier(space, TextCountingEncoder())
    np.testing.assert_array_equal(scorer.label_vectors, fresh.label_vectors)
    # now cached whole: a restricted run reads it and embeds nothing, over every label
    # (restricted_scorer searches the allowed rows of it, or its saved HNSW graph)
    late = TextCountingEncoder()
    restricted = ZeroShotClassifier(space, late, cache_dir=tmp_path,
                                    allowed=_allowed(space, "science"))
    assert late.embedded == [] and restricted.allowed is None
    assert len(restricted.owners) == 2 * len(WORDS)


def test_a_damaged_part_file_is_a_miss(tmp_path, caplog):
    space = _space()
    allowed = _allowed(space, "travel")
    ZeroShotClassifier(space, TextCountingEncoder(), cache_dir=tmp_path, allowed=allowed)
    (part,) = tmp_path.glob("labels-*.part.npz")
    part.write_bytes(part.read_bytes()[:100])
    encoder = TextCountingEncoder()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        scorer = ZeroShotClassifier(space, encoder, cache_dir=tmp_path, allowed=allowed)
    assert sorted(encoder.embedded) == ["travel", "travel news"]
    assert any("ignoring the zero-shot embedding cache" in r.getMessage() for r in caplog.records)
    # rewritten whole, used by the next run
    next_run = TextCountingEncoder()
    again = ZeroShotClassifier(space, next_run, cache_dir=tmp_path, allowed=allowed)
    assert next_run.embedded == []
    np.testing.assert_array_equal(again.label_vectors, scorer.label_vectors)


def test_zeroshot_only_on_a_cold_cache_matches_a_warm_whole_cache(tmp_path):
    """The CLI, with the packaged encoder: --only on an empty --cache-dir writes a part
    file alone, and suggests what it suggests with the whole vocabulary cached."""
    pytest.importorskip("sentence_transformers")
    vocab = tmp_path / "v.tsv"
    vocab.write_text("".join(f"u:{word}\t{word}\n" for word in WORDS), encoding="utf-8")
    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    only = ("--only", "u:football,u:cooking,u:markets,u:science")
    cold, warm = tmp_path / "cold", tmp_path / "warm"
    out_cold = run_quiet("zeroshot", vocab, docs, "--cache-dir", cold, "--k", "3", *only)
    assert [p.name.endswith(".part.npz") for p in cold.glob("labels-*.npz")] == [True]
    run_quiet("zeroshot", vocab, docs, "--cache-dir", warm, "--k", "1")  # caches all 8
    out_warm = run_quiet("zeroshot", vocab, docs, "--cache-dir", warm, "--k", "3", *only)
    cold_rows = [json.loads(line)["suggestions"] for line in out_cold.splitlines()]
    warm_rows = [json.loads(line)["suggestions"] for line in out_warm.splitlines()]
    assert [[s["uri"] for s in row] for row in cold_rows] == \
        [[s["uri"] for s in row] for row in warm_rows]
    np.testing.assert_allclose([[s["score"] for s in row] for row in cold_rows],
                               [[s["score"] for s in row] for row in warm_rows], atol=1e-5)
    # zeroshot --eval --only takes the same path: the same figures cold as warm
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("the football final tonight\tfootball\na concert and some cooking\t"
                      "cooking concert\nelection markets fall\tmarkets\nscience of cooking\t"
                      "science\n", encoding="utf-8")
    figures = []
    for cache in (tmp_path / "cold-eval", warm):
        out = run_quiet("zeroshot", vocab, corpus, "--eval", "--json", "--cache-dir", cache,
                        *only)
        run = json.loads(out)
        figures.append({key: value for key, value in run.items() if key != "provenance"})
    assert [p.name.endswith(".part.npz")
            for p in (tmp_path / "cold-eval").glob("labels-*.npz")] == [True]
    assert figures[0] == figures[1]


def test_restricted_scorer_refuses_labels_a_cold_scorer_left_out(tmp_path):
    """A scorer built with allowed= on a cold cache holds those labels' rows alone:
    restricted_scorer gave it back for a mask allowing more, which then went unranked."""
    space = _space()
    scorer = ZeroShotClassifier(space, TextCountingEncoder(), cache_dir=tmp_path,
                                allowed=_allowed(space, "football", "cooking"))
    with pytest.raises(InvalidParameterError, match="allowing 1 other label"):
        restricted_scorer(scorer, _allowed(space, "football", "weather"))
    assert restricted_scorer(scorer, _allowed(space, "football", "cooking")) is scorer
    assert restricted_scorer(scorer, _allowed(space, "football")) is not None


def test_a_cold_restricted_scorer_searches_as_a_warm_one(tmp_path):
    """index="hnsw" with a few labels allowed: restricted_scorer searches a whole
    scorer's allowed rows exactly; the cold scorer built an HNSW graph over them."""
    pytest.importorskip("hnswlib")
    space = _space()
    allowed = _allowed(space, "football", "cooking", "markets")
    cold = ZeroShotClassifier(space, TextCountingEncoder(), index="hnsw",
                              cache_dir=tmp_path / "cold", allowed=allowed)
    whole = ZeroShotClassifier(space, TextCountingEncoder(), index="hnsw",
                               cache_dir=tmp_path / "warm")
    warm = restricted_scorer(whole, allowed)
    assert warm is not None
    assert restricted_scorer(cold, allowed).index_kind == warm.index_kind == "exact"
    assert not list((tmp_path / "cold").glob("*.hnsw-*"))
    got, expected = cold.predict_topk(DOCS, 3), warm.predict_topk(DOCS, 3)
    assert got.indices.tolist() == expected.indices.tolist()


def test_a_vocabulary_with_one_label_edited_embeds_that_label_alone(tmp_path):
    """A whole vocabulary's cache file keeps each text's digest: one label of YSO renamed
    re-embedded all 27,754 label texts (21 minutes), as the file is keyed by all of them."""
    space = _space()
    ZeroShotClassifier(space, TextCountingEncoder(), cache_dir=tmp_path)
    labels = list(space)
    labels[2] = Label("u:weather", {"en": "weather forecast"},
                      alt_labels={"en": ["weather news"]})
    edited = LabelSpace(labels)
    encoder = TextCountingEncoder()
    scorer = ZeroShotClassifier(edited, encoder, cache_dir=tmp_path)
    assert encoder.embedded == ["weather forecast"]
    fresh = ZeroShotClassifier(edited, TextCountingEncoder())
    np.testing.assert_allclose(scorer.label_vectors, fresh.label_vectors, rtol=0, atol=1e-6)
    # written whole for the edited vocabulary: read back with nothing embedded
    again = TextCountingEncoder()
    ZeroShotClassifier(edited, again, cache_dir=tmp_path)
    assert again.embedded == []


def _many_space(n=12):
    return LabelSpace([Label(f"u:{i}", {"en": f"{WORDS[i % len(WORDS)]} {i}"})
                       for i in range(n)])


def _parts(folder):
    return sorted(p.name for p in folder.glob("labels-*.part.npz"))


def test_many_restrictions_keep_the_most_recently_used_part_files(tmp_path, monkeypatch):
    """Every --only of other labels wrote one more part file, never removed (and a miss
    read every one): the cache keeps PART_FILES_KEPT of them, the most recently used."""
    import tagsmith.zeroshot.scorer as scorer_module

    monkeypatch.setattr(scorer_module, "PART_FILES_KEPT", 3, raising=False)
    space = _many_space()

    def restrict(*ids):
        allowed = np.isin(space.uris, [f"u:{i}" for i in ids])
        encoder = TextCountingEncoder()
        ZeroShotClassifier(space, encoder, cache_dir=tmp_path, allowed=allowed)
        return encoder.embedded

    restrict(0)
    first = _parts(tmp_path)
    for i in (1, 2):
        restrict(i)
    assert restrict(0) == []  # read back, and now the most recently used
    restrict(3)
    names = _parts(tmp_path)
    assert len(names) == 3 and set(first) <= set(names)
    # the one of label 1, least recently used, was removed: embedded anew
    assert restrict(1) == [f"{WORDS[1]} 1"]
    assert len(_parts(tmp_path)) == 3


def test_a_whole_vocabulary_cached_removes_the_part_files_it_covers(tmp_path):
    space = _many_space()
    for ids in ((0, 1), (2,), (3, 4, 5)):
        ZeroShotClassifier(space, TextCountingEncoder(), cache_dir=tmp_path,
                           allowed=np.isin(space.uris, [f"u:{i}" for i in ids]))
    # a part of another vocabulary, holding a text the whole one lacks, is kept
    other = LabelSpace([*space, Label("u:x", {"en": "elsewhere"})])
    ZeroShotClassifier(other, TextCountingEncoder(), cache_dir=tmp_path,
                       allowed=np.isin(other.uris, ["u:x", "u:0"]))
    assert len(_parts(tmp_path)) == 4
    kept = _parts(tmp_path)
    # an HNSW graph saved beside a part file goes with it
    graph = tmp_path / kept[0].replace(".npz", ".hnsw-0123456789abcdef.bin")
    graph.write_bytes(b"graph")
    encoder = TextCountingEncoder()
    whole = ZeroShotClassifier(space, encoder, cache_dir=tmp_path)
    assert len(encoder.embedded) == len(space) - 6
    remaining = _parts(tmp_path)
    assert len(remaining) == 1 and remaining[0] in kept
    assert graph.exists() == (remaining[0] == kept[0])
    fresh = ZeroShotClassifier(space, TextCountingEncoder())
    np.testing.assert_allclose(whole.label_vectors, fresh.label_vectors, rtol=0, atol=1e-6)
    # a restriction now reads the whole file, nothing embedded
    late = TextCountingEncoder()
    ZeroShotClassifier(space, late, cache_dir=tmp_path, allowed=np.isin(space.uris, ["u:2"]))
    assert late.embedded == []


def test_a_damaged_part_file_is_warned_of_once_and_removed(tmp_path, caplog):
    """A damaged part file was warned of on every miss of every other run, until the
    restriction that wrote it ran again: it is removed with the warning now."""
    space = _many_space()

    def restrict(*ids):
        encoder = TextCountingEncoder()
        ZeroShotClassifier(space, encoder, cache_dir=tmp_path,
                           allowed=np.isin(space.uris, [f"u:{i}" for i in ids]))
        return encoder.embedded

    restrict(0)
    (part,) = tmp_path.glob("labels-*.part.npz")
    part.write_bytes(part.read_bytes()[:200])
    warned = []
    for ids in ((1,), (2,), (0, 3)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            embedded = restrict(*ids)
        warned.append(sum("ignoring the zero-shot embedding cache" in r.getMessage()
                          for r in caplog.records))
        assert len(embedded) == len(ids)  # the damaged file's vectors never used
    assert warned == [1, 0, 0]
    assert not part.exists()


def test_a_part_file_with_a_compressed_digest_member_is_not_unpacked(tmp_path, caplog):
    """The digests of a part file were read whatever their size: a deflated member of
    64 MB of digests (64 KB on disk) was unpacked whole on the next miss of any run."""
    import io
    import tracemalloc
    import zipfile

    space = _many_space()
    ZeroShotClassifier(space, TextCountingEncoder(), cache_dir=tmp_path,
                       allowed=np.isin(space.uris, ["u:0"]))
    (part,) = tmp_path.glob("labels-*.part.npz")
    with zipfile.ZipFile(part) as archive:
        members = {name: archive.read(name) for name in ("encoder.npy", "vectors.npy")}
    digests = io.BytesIO()
    np.save(digests, np.zeros((2_000_000, 32), np.uint8))
    with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
        archive.writestr("hashes.npy", digests.getvalue())
    del digests
    assert part.stat().st_size < 1_000_000
    encoder = TextCountingEncoder()
    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            ZeroShotClassifier(space, encoder, cache_dir=tmp_path,
                               allowed=np.isin(space.uris, ["u:1"]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert encoder.embedded == [f"{WORDS[1]} 1"]
    assert peak < 16_000_000, peak
    assert any("hashes.npy is compressed" in r.getMessage() for r in caplog.records)


def test_a_text_wanted_twice_takes_its_cached_vector_for_both_rows(tmp_path):
    """Two labels sharing a name: both rows take the vector a restricted run cached."""
    space = LabelSpace([Label("u:a", {"en": "football"}), Label("u:b", {"en": "football"}),
                        Label("u:c", {"en": "weather"})])
    ZeroShotClassifier(space, TextCountingEncoder(), cache_dir=tmp_path,
                       allowed=np.isin(space.uris, ["u:a"]))
    encoder = TextCountingEncoder()
    whole = ZeroShotClassifier(space, encoder, cache_dir=tmp_path)
    assert encoder.embedded == ["weather"]
    fresh = ZeroShotClassifier(space, TextCountingEncoder())
    np.testing.assert_allclose(whole.label_vectors, fresh.label_vectors, rtol=0, atol=1e-6)


def test_a_damaged_whole_file_is_warned_of_once_by_a_restricted_run(tmp_path, caplog):
    """A restricted run found the whole VOCAB's file damaged (a warning), then drew its
    texts from the cache's files and warned of the same file again."""
    space = _many_space()
    ZeroShotClassifier(space, TextCountingEncoder(), cache_dir=tmp_path)
    (whole,) = tmp_path.glob("labels-*.npz")
    whole.write_bytes(whole.read_bytes()[:300])
    warned = []
    for ids in ((1,), (2,)):
        caplog.clear()
        encoder = TextCountingEncoder()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            ZeroShotClassifier(space, encoder, cache_dir=tmp_path,
                               allowed=np.isin(space.uris, [f"u:{i}" for i in ids]))
        assert encoder.embedded == [f"{WORDS[ids[0]]} {ids[0]}"]
        warned.append(sum(whole.name in r.getMessage() for r in caplog.records))
    assert warned == [1, 0]


def test_another_models_files_of_more_dimensions_are_left_and_not_warned_of(tmp_path, caplog):
    """A miss searches every file of the cache folder (by default shared by all models):
    another model's files, of more dimensions than this encoder's bound on their vectors,
    were warned of as damaged and removed -- its whole vocabulary's embeddings too."""
    from tagsmith.zeroshot.scorer import embed_cached

    class WideEncoder:
        name, dim = "wide", 4 * len(WORDS)

        def encode(self, texts, *, show_progress=False):
            narrow = TextCountingEncoder().encode(texts)
            return np.tile(narrow, 4) / np.float32(2.0)  # unit length still

    texts = [f"{word} {i}" for i in range(40) for word in WORDS]
    embed_cached(WideEncoder(), texts, tmp_path)
    embed_cached(WideEncoder(), texts[:200], tmp_path, part=True)
    wide_files = sorted(tmp_path.glob("labels-*.npz"))
    assert len(wide_files) == 2
    encoder = TextCountingEncoder()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        embed_cached(encoder, texts[:100], tmp_path, part=True)
    assert not [r for r in caplog.records if "zero-shot embedding cache" in r.getMessage()]
    assert len(encoder.embedded) == 100
    assert set(wide_files) <= set(tmp_path.glob("labels-*.npz"))


def test_a_file_of_the_users_named_as_a_label_cache_is_left(tmp_path, caplog):
    """A miss read every ``labels-*.npz`` of the cache folder and removed, as damaged,
    any it could not use: a file of the user's there too."""
    from tagsmith.zeroshot.scorer import embed_cached

    mine = tmp_path / "labels-mine.npz"
    np.savez(mine, table=np.arange(3))
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        embed_cached(TextCountingEncoder(), ["football", "concert"], tmp_path, part=True)
    assert mine.exists()
    assert not [r for r in caplog.records if "zero-shot embedding cache" in r.getMessage()]
