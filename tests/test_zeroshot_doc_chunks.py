"""A corpus's document embeddings (``label --shortlist-zeroshot --cache-dir``) written
in chunks as they are embedded: a run stopped 25 minutes into 30 (Ctrl-C, a crash) lost
every vector, as the cache's file was written only once the whole corpus was embedded."""

import re

import numpy as np
import pytest

from tagsmith.zeroshot import scorer as scorer_module
from tagsmith.zeroshot.scorer import embed_cached, encoder_identity

from conftest import ENCODER_WORDS as WORDS
from conftest import WordEncoder

DOCS = [f"{WORDS[i % len(WORDS)]} report {i} " + "more " * (i % 5) for i in range(35)]


class Stopped(Exception):
    """The run stopped (as Ctrl-C or a crash stops it) while embedding."""


class StoppingEncoder(WordEncoder):
    """A WordEncoder that stops the run on its ``stop_at``-th call to ``encode``: the
    same model (the cache's identity) as a WordEncoder."""

    identity = encoder_identity(WordEncoder())

    def __init__(self, stop_at):
        super().__init__()
        self.calls, self.stop_at = 0, stop_at

    def encode(self, texts, *, show_progress=False):
        self.calls += 1
        if self.calls == self.stop_at:
            raise Stopped
        return super().encode(texts, show_progress=show_progress)


class CallSized(WordEncoder):
    """A WordEncoder whose vectors depend on how many texts each call is given (as a
    sentence model's do, by float rounding, on the batches it makes): a chunk embedded
    in other pieces gives other vectors."""

    def __init__(self, stop_at=None):
        super().__init__()
        self.calls, self.stop_at = 0, stop_at

    def encode(self, texts, *, show_progress=False):
        self.calls += 1
        if self.calls == self.stop_at:
            raise Stopped
        rows = super().encode(texts, show_progress=show_progress).copy()
        rows[:, 0] += 0.01 * len(texts)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _chunks(folder):
    return sorted(folder.glob("documents-*.part.npz"))


def _whole(folder):
    return [path for path in folder.glob("documents-*.npz")
            if not path.name.endswith(".part.npz")]


def test_a_stopped_run_keeps_its_finished_chunks_and_a_rerun_embeds_the_rest(
        tmp_path, monkeypatch, caplog):
    """Stopped on its third chunk, the run leaves the two finished chunks' files, which
    the count of part files kept (a vocabulary's) neither counts nor removes; the rerun
    embeds the 15 texts left alone, gives the vectors a run never stopped gives, and
    its whole file removes the chunk files."""
    cache = tmp_path / "cache"
    with pytest.raises(Stopped):
        embed_cached(StoppingEncoder(stop_at=3), DOCS, cache, kind="document", chunk=10)
    assert len(_chunks(cache)) == 2 and not _whole(cache)
    # a vocabulary's part files written meanwhile, the count kept down to 1
    monkeypatch.setattr(scorer_module, "PART_FILES_KEPT", 1)
    for i in range(3):
        embed_cached(WordEncoder(), [f"label {i}", f"name {i}"], cache, part=True)
    assert len(list(cache.glob("labels-*.part.npz"))) == 1
    assert len(_chunks(cache)) == 2
    again = WordEncoder()
    with caplog.at_level("INFO", logger="tagsmith"):
        got = embed_cached(again, DOCS, cache, kind="document", chunk=10)
    assert again.embedded == DOCS[20:]
    assert "20 of 35 document texts embedded by an earlier run; embedding the other 15" \
        in caplog.text
    assert not _chunks(cache) and len(_whole(cache)) == 1
    never_stopped = tmp_path / "never"
    whole = embed_cached(WordEncoder(), DOCS, never_stopped, kind="document", chunk=10)
    np.testing.assert_array_equal(got, whole)
    with np.load(_whole(cache)[0]) as resumed, np.load(_whole(never_stopped)[0]) as one:
        for member in ("vectors", "hashes", "encoder", "texts"):
            np.testing.assert_array_equal(resumed[member], one[member])
    last = WordEncoder()
    np.testing.assert_array_equal(embed_cached(last, DOCS, cache, kind="document", chunk=10),
                                  whole)
    assert last.embedded == []


def test_a_chunk_file_of_another_corpus_is_kept(tmp_path):
    """The whole file written removes the chunk files whose every text it holds, not
    those of a stopped run over other texts (still to be resumed)."""
    cache = tmp_path / "cache"
    other = [f"weather note {i}" for i in range(25)]
    with pytest.raises(Stopped):
        embed_cached(StoppingEncoder(stop_at=2), other, cache, kind="document", chunk=10)
    kept = _chunks(cache)
    assert len(kept) == 1
    embed_cached(WordEncoder(), DOCS, cache, kind="document", chunk=10)
    assert _chunks(cache) == kept
    resumed = WordEncoder()
    embed_cached(resumed, other, cache, kind="document", chunk=10)
    assert resumed.embedded == other[10:] and not _chunks(cache)


def test_embed_said_resumed_gives_the_vectors_of_a_run_never_stopped_one_rate_line(
        tmp_path, monkeypatch, caplog):
    """label --shortlist-zeroshot's probe times the first documents; called on each
    chunk it would say a rate (with the chunk's count as the documents left) a chunk,
    and a bar a chunk. One rate line and one bar for the run, the count of the run's
    texts left; a rerun after a stop embeds only the chunks left, and each chunk in the
    same pieces as a run never stopped (an encoder whose vectors depend on the pieces
    gives the same vectors)."""
    from tagsmith.cli import llm_commands

    monkeypatch.setattr(llm_commands, "EMBED_PROBE_FROM", 30)
    monkeypatch.setattr(llm_commands, "EMBED_WARM_UP", 2)
    monkeypatch.setattr(llm_commands, "EMBED_PROBE", 4)
    monkeypatch.setattr(llm_commands, "DOCUMENT_CHUNK", 40)
    texts = [f"{WORDS[i % len(WORDS)]} story {i}" for i in range(130)]
    # a text of the second chunk the first holds too (its vectors in the first's file):
    # taken from there, the second chunk was embedded one short, in other pieces
    texts[50] = texts[3]

    def rate_lines():
        return [r.getMessage() for r in caplog.records
                if re.search(r"documents a second", r.getMessage())]

    def bar_lines():
        return [r.getMessage() for r in caplog.records
                if r.getMessage().startswith("embedding: ")]

    with caplog.at_level("INFO", logger="tagsmith"):
        never = llm_commands._embed_said(_Scorer(CallSized()), texts, 5, str(tmp_path / "n"))
    assert len(rate_lines()) == 1 and "for the 129 left" in rate_lines()[0]  # 130 - 6 + 5
    assert bar_lines() == ["embedding: 130/130 texts (100%)"]
    cache = tmp_path / "cache"
    # 3 calls a chunk of 30 or more (warm-up, probe, the rest): stopped in the second
    with pytest.raises(Stopped):
        llm_commands._embed_said(_Scorer(CallSized(stop_at=5)), texts, 5, str(cache))
    assert len(_chunks(cache)) == 1
    caplog.clear()
    resumed = CallSized()
    with caplog.at_level("INFO", logger="tagsmith"):
        got = llm_commands._embed_said(_Scorer(resumed), texts, 5, str(cache))
    assert resumed.embedded == texts[40:]
    assert len(rate_lines()) == 1 and "for the 89 left" in rate_lines()[0]  # 90 - 6 + 5
    assert bar_lines() == ["embedding: 90/90 texts (100%)"]
    np.testing.assert_array_equal(got, never)
    # without a cache: the same pieces, the same vectors
    np.testing.assert_array_equal(
        llm_commands._embed_said(_Scorer(CallSized()), texts, 5, ""), never)


def test_a_corpus_embedded_in_chunks_is_not_copied_whole_again(tmp_path):
    """The chunks' vectors were joined into a new array (np.concatenate) beside the
    pieces: a corpus's vectors held three times over (plus the cache's) at the peak,
    150 MB each at 100,000 documents. They are filled into one array as embedded."""
    import tracemalloc

    class Flat:
        name, dim = "flat", 256

        def encode(self, texts, *, show_progress=False):
            rows = np.zeros((len(texts), self.dim), np.float32)
            rows[:, 0] = 1.0
            return rows

    texts = [f"text {i}" for i in range(4000)]
    size = len(texts) * Flat.dim * 4
    tracemalloc.start()
    try:
        got = embed_cached(Flat(), texts, tmp_path, kind="document", chunk=500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.shape == (4000, 256)
    # the array returned, the cache's zeros of the texts not found, and a chunk's
    assert peak < 2.5 * size, (peak, size)


def test_chunk_files_left_by_a_stop_after_the_whole_file_are_removed_by_the_next_run(
        tmp_path, monkeypatch):
    """A run stopped (Ctrl-C, a kill) after writing the corpus's whole file but before
    removing its chunk files left the corpus on disk twice: every later run read the
    whole file and returned, and the chunk files stayed until unused for 30 days (300 MB
    at 100,000 documents). The run that reads the whole file removes them."""
    cache = tmp_path / "cache"
    real = scorer_module._prune_chunks

    def stopped(*args, **kwargs):
        raise Stopped

    monkeypatch.setattr(scorer_module, "_prune_chunks", stopped)
    with pytest.raises(Stopped):
        embed_cached(WordEncoder(), DOCS, cache, kind="document", chunk=10)
    assert len(_chunks(cache)) == 4 and len(_whole(cache)) == 1
    monkeypatch.setattr(scorer_module, "_prune_chunks", real)
    again = WordEncoder()
    embed_cached(again, DOCS, cache, kind="document", chunk=10)
    assert again.embedded == [] and not _chunks(cache) and len(_whole(cache)) == 1


class Batched(WordEncoder):
    """A WordEncoder that embeds in batches of ``batch_size`` and says each batch
    (``on_batch``), as :class:`~tagsmith.zeroshot.encoder.SentenceEncoder` does."""

    batch_size = 4

    def encode(self, texts, *, show_progress=False, on_batch=None):
        rows = []
        for start in range(0, len(texts), self.batch_size):
            rows.append(super().encode(texts[start:start + self.batch_size]))
            if on_batch is not None:
                on_batch(len(rows[-1]))
        return np.vstack(rows) if rows else np.zeros((0, self.dim), np.float32)


class _Scorer:
    """The scorer label --shortlist-zeroshot embeds with: its encoder and whether it
    shows progress; its top k the vectors it is given."""

    def __init__(self, encoder, show_progress=True):
        self.encoder = encoder
        self.show_progress = show_progress

    def predict_topk(self, texts, k, *, warn_foreign, vectors):
        return vectors


def _recorded_bars(monkeypatch):
    """The progress bars made, each as the list of its updates."""
    import contextlib

    from tagsmith import progress

    bars = []

    @contextlib.contextmanager
    def progress_bar(**_):
        bars.append([])

        class Bar:
            def update(self, n):
                bars[-1].append(n)

        yield Bar()

    monkeypatch.setattr(progress, "progress_bar", progress_bar)
    return bars


def test_the_one_bar_moves_with_each_batch_of_a_chunk(tmp_path, monkeypatch):
    """The run's one bar moved once a chunk of 1,024 documents: nothing shown for the
    first minute at 15-20 documents a second, then once a minute. It moves with each
    batch the encoder says, within a chunk, and counts each text once."""
    bars = _recorded_bars(monkeypatch)
    got = embed_cached(Batched(), DOCS, tmp_path, show_progress=True, kind="document",
                       chunk=20)
    assert bars == [[4, 4, 4, 4, 4, 4, 4, 4, 3]]  # chunks of 20 and 15, batches of 4
    np.testing.assert_array_equal(got, WordEncoder().encode(DOCS))
    # an encoder that says no batches: the bar moves once a chunk, as before
    bars.clear()
    embed_cached(WordEncoder(), DOCS, "", show_progress=True, kind="document", chunk=20)
    assert bars == [[20, 15]]


def test_embed_said_bar_moves_with_the_batches_under_the_probe(tmp_path, monkeypatch):
    """label --shortlist-zeroshot's probing encoder passes the bar's callback to the
    wrapped encoder's batches (warm-up, probe and the rest of each chunk)."""
    from tagsmith.cli import llm_commands

    monkeypatch.setattr(llm_commands, "EMBED_PROBE_FROM", 30)
    monkeypatch.setattr(llm_commands, "EMBED_WARM_UP", 2)
    monkeypatch.setattr(llm_commands, "EMBED_PROBE", 4)
    monkeypatch.setattr(llm_commands, "DOCUMENT_CHUNK", 40)
    texts = [f"{WORDS[i % len(WORDS)]} story {i}" for i in range(50)]

    bars = _recorded_bars(monkeypatch)
    got = llm_commands._embed_said(_Scorer(Batched()), texts, 0, str(tmp_path))
    # chunk 1 of 40: warm-up 2, probe 4, the rest 34 in batches of 4; chunk 2 of 10
    assert bars == [[2, 4] + [4] * 8 + [2] + [4, 4, 2]]
    np.testing.assert_array_equal(got, WordEncoder().encode(texts))


def test_sentence_encoder_says_each_forward_pass(monkeypatch):
    """SentenceEncoder's ``on_batch`` counts each forward pass of its model (one a
    batch of sentence-transformers' ``encode``), its batches left as they were."""
    from collections import UserDict

    torch = pytest.importorskip("torch")
    from tagsmith.zeroshot.encoder import _batches_said

    class Model(torch.nn.Module):
        def forward(self, features):
            return features

        def encode(self, texts, batch_size):
            for start in range(0, len(texts), batch_size):
                # a Mapping that is no dict, as transformers' BatchEncoding is
                self(UserDict(input_ids=torch.zeros((len(texts[start:start + batch_size]),
                                                     3))))

    said = []
    model = Model()
    with _batches_said(model, said.append):
        model.encode(["a"] * 10, 4)
    model.encode(["a"] * 10, 4)  # the hook removed after the block
    assert said == [4, 4, 2]


def test_sentence_encoder_says_the_batches_of_a_model_calling_its_own_forward():
    """sentence-transformers 3.x's ``encode`` calls ``self.forward(features)``, not
    ``self(features)``: a hook on the model itself never ran, and the bar moved once a
    chunk. The hook is on its first module, which ``forward`` calls."""
    from collections import UserDict

    torch = pytest.importorskip("torch")
    from tagsmith.zeroshot.encoder import _batches_said

    class Model(torch.nn.Sequential):
        def encode(self, texts, batch_size):
            for start in range(0, len(texts), batch_size):
                self.forward(UserDict(input_ids=torch.zeros(
                    (len(texts[start:start + batch_size]), 3))))

    class Module(torch.nn.Module):
        def forward(self, features):
            return features

    said = []
    model = Model(Module(), Module())
    with _batches_said(model, said.append):
        model.encode(["a"] * 10, 4)
    model.encode(["a"] * 10, 4)
    assert said == [4, 4, 2]  # each batch once (not once a module), none after


def test_a_stop_while_embedding_the_human_sample_keeps_its_finished_chunks(
        tmp_path, monkeypatch):
    """label --human's sample was embedded whole, after the corpus: a run stopped while
    embedding it lost all of it. It is embedded in chunks too, each written as done."""
    from tagsmith.cli import llm_commands

    monkeypatch.setattr(llm_commands, "DOCUMENT_CHUNK", 10)
    human = [f"{WORDS[i % len(WORDS)]} sample {i}" for i in range(25)]

    with pytest.raises(Stopped):
        llm_commands._human_topk(_Scorer(StoppingEncoder(stop_at=2), False), human, 3,
                                 str(tmp_path))
    assert len(_chunks(tmp_path)) == 1
    resumed = WordEncoder()
    got = llm_commands._human_topk(_Scorer(resumed, False), human, 3, str(tmp_path))
    assert resumed.embedded == human[10:]
    np.testing.assert_array_equal(got, WordEncoder().encode(human))
    assert _chunks(tmp_path) == []


def test_a_killed_chunk_writes_temporary_file_is_removed_once_old(tmp_path):
    """A chunk write killed outright (SIGKILL) left its temporary file, which only the
    next write to the same chunk file removed: never, once the corpus had changed. The
    corpus's file written (or read) removes those older than STALE_TEMP_SECONDS."""
    import os
    import time

    from tagsmith.store.staging import make_staging_file

    old_target = tmp_path / f"documents-{'a' * 32}.part.npz"
    fd, old = make_staging_file(old_target, ".tmp")
    os.close(fd)
    fd, fresh = make_staging_file(tmp_path / f"documents-{'b' * 32}.part.npz", ".tmp")
    os.close(fd)
    mine = tmp_path / ".documents-mine.tmp"  # not a name the cache gives: kept
    mine.write_text("x")
    past = time.time() - scorer_module.STALE_TEMP_SECONDS - 60
    os.utime(old, (past, past))
    os.utime(mine, (past, past))
    embed_cached(WordEncoder(), DOCS, tmp_path, kind="document", chunk=20)
    assert not old.exists()
    assert fresh.exists() and mine.exists()
