"""The HNSW label index saved beside the label-embedding cache and read back on the
next run instead of rebuilt (48 s for YSO's labels on every `zeroshot --index hnsw`)."""

import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.zeroshot import index as index_module
from tagsmith.zeroshot.index import ExactIndex, HnswIndex, build_index
from tagsmith.zeroshot.scorer import ZeroShotClassifier

pytest.importorskip("hnswlib")

NAMES = ["cats", "dogs", "tax law", "income tax", "weather", "rain", "football",
         "tennis", "banks", "loans", "poetry", "novels"]


class _StandInEncoder:
    """Deterministic unit rows from a seeded hash of each text."""

    name = "stand-in"
    identity = "stand-in:1"
    dim = 16

    def encode(self, texts, *, show_progress=False):
        rows = [np.random.default_rng(sum(map(ord, text)) * 7919 + len(text)).normal(
            size=self.dim) for text in texts]
        out = np.asarray(rows, np.float32).reshape(len(texts), self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _space():
    return LabelSpace([Label(f"u:{i}", {"en": name}) for i, name in enumerate(NAMES)])


def _scorer(cache_dir, **kwargs):
    return ZeroShotClassifier(_space(), _StandInEncoder(), cache_dir=cache_dir,
                              index="hnsw", **kwargs)


def _saved(cache_dir):
    return sorted(p.name for p in cache_dir.glob("labels-*.hnsw-*"))


def _docs():
    return _StandInEncoder().encode(["cats and rain", "income tax loans", "a novel"])


def test_second_run_reads_the_saved_index(tmp_path, caplog):
    first = _scorer(tmp_path)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        built = first.topk_from_embeddings(_docs(), 4)
    assert not first.index.loaded
    assert any("building the HNSW label index" in r.message for r in caplog.records)
    (binary, record) = _saved(tmp_path)
    assert binary.endswith(".bin") and record == binary + ".json"
    caplog.clear()
    second = _scorer(tmp_path)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        again = second.topk_from_embeddings(_docs(), 4)
    assert second.index.loaded
    assert not any("building" in r.message for r in caplog.records)
    assert any("read from" in r.message for r in caplog.records)
    np.testing.assert_array_equal(again.indices, built.indices)
    np.testing.assert_allclose(again.scores, built.scores, atol=1e-6)
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)


def test_changed_parameters_or_vectors_rebuild(tmp_path, monkeypatch):
    vectors = _StandInEncoder().encode(NAMES)
    prefix = tmp_path / "labels-x"
    assert not build_index(vectors, "hnsw", cache_prefix=prefix).loaded
    assert build_index(vectors, "hnsw", cache_prefix=prefix).loaded
    # another M, ef_construction or seed: another graph, another file
    for params in ({"M": 8}, {"ef_construction": 50}, {"seed": 1}):
        assert not build_index(vectors, "hnsw", cache_prefix=prefix, **params).loaded
        assert build_index(vectors, "hnsw", cache_prefix=prefix, **params).loaded
    assert len(list(tmp_path.glob("*.bin"))) == 4
    # other vectors of the same shape under the same prefix: rebuilt, not reused
    other = vectors[::-1].copy()
    index = build_index(other, "hnsw", cache_prefix=prefix)
    assert not index.loaded
    ids, _ = index.search(other[:3], 1)
    assert ids[:, 0].tolist() == [0, 1, 2]
    # another hnswlib version
    monkeypatch.setattr(index_module, "_hnswlib_version", lambda: "99.0")
    assert not build_index(other, "hnsw", cache_prefix=prefix).loaded


#: the files opened while a test counts them (None: not counting); see _opened
_OPENED: list | None = None


def _audit(event, args):
    if event == "open" and _OPENED is not None and isinstance(args[0], (str, bytes, Path)):
        _OPENED.append(Path(os.fsdecode(args[0])))


def _opened(call):
    """``call()`` and the files Python code opened during it (an audit hook: it sees
    open, io.open, Path.open and os.open alike; hnswlib's own reads are not Python's)."""
    global _OPENED
    if not getattr(_opened, "hooked", False):
        sys.addaudithook(_audit)  # for good: a hook cannot be removed
        _opened.hooked = True
    _OPENED = []
    try:
        result = call()
        return result, _OPENED
    finally:
        _OPENED = None


def test_a_saved_index_is_read_once_for_its_sha256_and_its_check(tmp_path):
    """The saved file's SHA-256 is of the bytes the structural check reads: it was read
    whole for the one and again for the other (450 MB twice for 250,000 labels at
    dimension 384)."""
    vectors = _StandInEncoder().encode(NAMES)
    prefix = tmp_path / "labels-x"
    built = build_index(vectors, "hnsw", cache_prefix=prefix)
    index, opened = _opened(lambda: build_index(vectors, "hnsw", cache_prefix=prefix))
    assert index.loaded
    assert opened.count(built.cache_file) == 1, opened


def test_corrected_index_has_its_own_file(tmp_path):
    scorer = _scorer(tmp_path)
    scorer.topk_from_embeddings(_docs(), 2)
    scorer.fit_background(vectors=_docs())
    scorer.topk_from_embeddings(_docs(), 2)
    assert not scorer.index.loaded
    assert len(_saved(tmp_path)) == 4
    again = _scorer(tmp_path).fit_background(vectors=_docs())
    assert again.index.loaded and again.index.index.dim == _StandInEncoder.dim + 1


def _truncate(binary, record):
    binary.write_bytes(binary.read_bytes()[: binary.stat().st_size // 2])


def _flip_byte(binary, record):
    data = bytearray(binary.read_bytes())
    data[len(data) // 2] ^= 0xFF
    binary.write_bytes(bytes(data))


def _garbage_record(binary, record):
    record.write_text("{not json")


def _lying_record(binary, record):
    saved = json.loads(record.read_text())
    saved["size"] = binary.stat().st_size // 2
    _truncate(binary, record)
    saved["sha256"] = "0" * 64
    record.write_text(json.dumps(saved))


def _no_record(binary, record):
    record.unlink()


def _huge_record(binary, record):
    record.write_text(" " * (index_module.HNSW_RECORD_MAX_BYTES + 1))


@pytest.mark.parametrize("damage", [_truncate, _flip_byte, _garbage_record, _lying_record,
                                    _no_record, _huge_record])
def test_damaged_saved_index_is_rebuilt_with_a_warning(tmp_path, damage, caplog):
    expected = ZeroShotClassifier(_space(), _StandInEncoder(), index="exact") \
        .topk_from_embeddings(_docs(), 4)
    _scorer(tmp_path).topk_from_embeddings(_docs(), 4)
    names = _saved(tmp_path)
    damage(tmp_path / names[0], tmp_path / names[1])
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        scorer = _scorer(tmp_path)
        got = scorer.topk_from_embeddings(_docs(), 4)
    assert not scorer.index.loaded
    assert sum("ignoring the saved HNSW label index" in r.message
               for r in caplog.records) == 1
    np.testing.assert_array_equal(got.indices, expected.indices)
    # rewritten: the next run reads it without a warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert _scorer(tmp_path).index.loaded
    assert not caplog.records
    assert _saved(tmp_path) == names


def test_no_cache_dir_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for cache_dir in ("", None):
        scorer = _scorer(cache_dir)
        scorer.topk_from_embeddings(_docs(), 2)
        assert scorer.index.cache_file is None and not scorer.index.loaded
    assert not list(tmp_path.iterdir())


def test_unwritable_cache_costs_the_cache_alone(tmp_path, caplog):
    vectors = _StandInEncoder().encode(NAMES)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        index = build_index(vectors, "hnsw", cache_prefix=blocker / "labels-x")
    assert isinstance(index, HnswIndex) and not index.loaded
    assert any("cannot save the HNSW label index" in r.message for r in caplog.records)
    ids, _ = index.search(vectors[:2], 1)
    assert ids[:, 0].tolist() == [0, 1]


def test_exact_index_ignores_the_cache(tmp_path):
    vectors = _StandInEncoder().encode(NAMES)
    assert isinstance(build_index(vectors, "exact", cache_prefix=tmp_path / "x"), ExactIndex)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("cache", [False, True])
def test_an_hnsw_index_over_no_rows_answers_no_neighbours(tmp_path, cache):
    """As an exact index over no rows does (``build_index`` picks either): an empty
    matrix failed inside hnswlib's add_items with "IndexError: index 0 is out of bounds
    for axis 0 with size 0". Nothing is saved: there is no graph to build again."""
    vectors = np.zeros((0, 16), np.float32)
    prefix = tmp_path / "labels-x" if cache else None
    queries = _docs()
    for _ in range(2):
        index = build_index(vectors, "hnsw", cache_prefix=prefix)
        assert isinstance(index, HnswIndex) and not index.loaded
        for k in (1, 5):
            ids, sims = index.search(queries, k)
            exact_ids, exact_sims = ExactIndex(vectors).search(queries, k)
            assert ids.shape == sims.shape == exact_ids.shape == (3, 0)
            assert (ids.dtype, sims.dtype) == (exact_ids.dtype, exact_sims.dtype)
    assert not list(tmp_path.iterdir())


def test_cli_zeroshot_counts_documents_after_a_small_first_batch(tmp_path, monkeypatch):
    """The documents' count stood at 0 while the first 256 were embedded (10-35 s on 2
    cores for 200 short documents): the first batches are 16, 32, ... documents."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    from tagsmith.zeroshot import encoder as encoder_module

    tagsmith_cli._register_commands()
    monkeypatch.setattr(encoder_module, "SentenceEncoder", lambda: _StandInEncoder())
    sizes = []
    predict = ZeroShotClassifier.predict_topk

    def recording(self, texts, k=10, **options):
        sizes.append(len(texts))
        return predict(self, texts, k, **options)

    monkeypatch.setattr(ZeroShotClassifier, "predict_topk", recording)
    vocab = tmp_path / "v.csv"
    vocab.write_text("uri,label_en\n" + "".join(f"u:{i},{n}\n" for i, n in enumerate(NAMES)))
    docs = tmp_path / "docs.txt"
    docs.write_text("".join(f"document {i} about {NAMES[i % len(NAMES)]}\n"
                            for i in range(300)))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "zeroshot", str(vocab), str(docs), "--k", "1", "--cache-dir", ""])
    assert result.exit_code == 0, result.output
    assert sizes == [16, 32, 64, 128, 60]
    assert len(result.stdout.splitlines()) == 300


def test_two_processes_saving_at_once_leave_a_matching_record(tmp_path, monkeypatch, caplog):
    """hnswlib's graphs differ build to build (two threads): of two runs saving one index
    at once, the second's file could be put in place between the first's file and its
    record, the first's record written last; the next run found a file of another SHA-256
    and rebuilt it, with a warning. The file and its record are swapped in under a lock."""
    import threading

    import hnswlib

    from tagsmith.data import textio

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    graphs = []
    for depth in (20, 40):  # two files of one record, as two builds of a graph give
        graph = hnswlib.Index(space="ip", dim=8)
        graph.init_index(max_elements=300, M=8, ef_construction=depth)
        graph.add_items(vectors, np.arange(300), num_threads=1)
        graphs.append(graph)
    record = {"format": 1, "rows": 300, "dim": 8, "vectors": "v"}
    path = tmp_path / "labels-x.hnsw-k.bin"
    writer = textio.atomic_binary_writer
    other = threading.Thread(target=index_module._save_hnsw, args=(graphs[1], path, record))

    def interleaved(target, *args, **kwargs):
        if not other.is_alive() and target.name.endswith(".json") and not other.ident:
            # the first save has its file in place: the second saves (or waits) now
            other.start()
            other.join(timeout=3)
        return writer(target, *args, **kwargs)

    monkeypatch.setattr(textio, "atomic_binary_writer", interleaved)
    index_module._save_hnsw(graphs[0], path, record)
    other.join()
    assert other.ident  # the second save did run
    saved = json.loads(path.with_name(path.name + ".json").read_text())
    assert saved["sha256"] == index_module._file_sha256(path)
    with caplog.at_level(logging.INFO, logger="tagsmith"):
        assert index_module._load_hnsw(path, record, vectors) is not None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def _graph_parts(data):
    """The header of an hnswlib file and where its level-0 rows and link lists start."""
    head = np.frombuffer(data, index_module._HNSW_HEADER, count=1)[0]
    start = index_module._HNSW_HEADER.itemsize
    return head, start, start + int(head["count"]) * int(head["element_size"])


def _level0_link_out_of_range(data):
    head, start, _ = _graph_parts(data)
    data[start + 4:start + 8] = (2 ** 31 - 1).to_bytes(4, "little")  # row 0's first link


def _upper_link_to_a_lower_row(data):
    head, start, offset = _graph_parts(data)
    sizes, lists = [], []
    for _ in range(int(head["count"])):
        size = int.from_bytes(data[offset:offset + 4], "little")
        sizes.append(size)
        lists.append(offset + 4)
        offset += 4 + size
    low = sizes.index(0)  # a row on level 0 alone
    high = next(row for row, size in enumerate(sizes) if size)
    data[lists[high]:lists[high] + 2] = (1).to_bytes(2, "little")
    data[lists[high] + 4:lists[high] + 8] = low.to_bytes(4, "little")


def _entry_out_of_range(data):
    field = index_module._HNSW_HEADER.fields["entry"][1]
    data[field:field + 4] = (10 ** 6).to_bytes(4, "little")


@pytest.mark.parametrize("craft", [_level0_link_out_of_range, _upper_link_to_a_lower_row,
                                   _entry_out_of_range])
def test_a_crafted_index_with_a_matching_record_is_not_handed_to_hnswlib(tmp_path, craft,
                                                                         caplog):
    # hnswlib trusts the graph it loads: a link past the last row made the first search
    # read outside it (a segmentation fault), and the record's SHA-256 is the crafter's
    import hashlib

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    prefix = tmp_path / "labels-x"
    built = build_index(vectors, "hnsw", cache_prefix=prefix, M=8)
    binary = built.cache_file
    record = binary.with_name(binary.name + ".json")
    data = bytearray(binary.read_bytes())
    craft(data)
    binary.write_bytes(bytes(data))
    saved = json.loads(record.read_text())
    saved.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    record.write_text(json.dumps(saved))
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        index = build_index(vectors, "hnsw", cache_prefix=prefix, M=8)
    assert not index.loaded
    assert sum("ignoring the saved HNSW label index" in r.message
               for r in caplog.records) == 1
    ids, _ = index.search(vectors[:5], 3)
    assert ids[:, 0].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("rows, M, ef_construction", [(1, 2, 1), (2, 16, 8), (40, 32, 10),
                                                      (40, 8, 200)])
def test_an_index_built_with_ef_construction_below_m_is_read_back(tmp_path, rows, M,
                                                                   ef_construction, caplog):
    # hnswlib raises ef_construction to M and saves that: the check compared the file's
    # with the record's and ignored every such index as damaged, building it each run
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(rows, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    params = dict(M=M, ef_construction=ef_construction, cache_prefix=tmp_path / "labels-x")
    assert not HnswIndex(vectors, **params).loaded
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        assert HnswIndex(vectors, **params).loaded
    assert not caplog.records
