"""Zero-shot scores: label texts and documents in one embedding space.

Each label contributes one row per text that names it -- its preferred name, each
alternative label, and ``"name: description"`` when it has a description -- and its
score for a document is the best cosine similarity over its rows (as TELEClass scores
a class by its best term). Label embeddings are cached on disk (``.npz``, keyed by the
encoder's identity and the exact label texts, both also recorded in the file and checked
with the vectors on every read), so a vocabulary is embedded once; an HNSW label index
is saved beside them and read back instead of rebuilt (:class:`HnswIndex`).

Hubness correction (:meth:`ZeroShotClassifier.fit_background`): some label texts sit
close to almost every document (GoEmotions' "neutral", generic YSO concepts) and win
too often. Given unlabelled documents of the collection, each label row's score becomes
``cos - r/2``, where ``r`` is the row's mean cosine to its ``neighbors`` most similar
background documents: the ranking of cross-domain similarity local scaling (CSLS,
Conneau et al., ICLR 2018; the document's own term is the same for every label, so it is
dropped). The correction is folded into the search vectors (``[label, -r/2]`` against
``[document, 1]``), so exact and HNSW search rank by the corrected score directly.

:func:`blend_topk` mixes zero-shot scores with a trained model's, ``(1 - weight) *
model + weight * zero-shot`` for every label, and lets labels the model has never seen
(a brand-new label with no training document, model score 0) be suggested on their
share of the zero-shot score.
"""

from __future__ import annotations

import errno
import hashlib
import inspect
import logging
import numbers
import os
import re
import string
import threading
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from glob import escape as glob_escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import scipy.sparse as sp

from tagsmith._params import check_bool, check_choice, check_int, check_language, check_number
from tagsmith._plural import plural, plural_s
from tagsmith.data.labelspace import (
    LabelSpace,
    in_language,
    language_in,
    names_instead,
    unnamed_in,
)
from tagsmith.exceptions import InvalidParameterError
from tagsmith.topk import PAD, TopK, _check_k, check_topk
from tagsmith.zeroshot.index import (
    HNSW_FROM_ROWS,
    INDEX_KINDS,
    ExactIndex,
    HnswIndex,
    build_index,
    require_hnswlib,
    resolve_index_kind,
)

if TYPE_CHECKING:
    from typing import IO

    from tagsmith.pipeline.classifier import Suggestion
    from tagsmith.zeroshot.encoder import Encoder

logger = logging.getLogger("tagsmith")

#: label rows fetched per wanted label (a label may own several rows)
ROW_EXPANSION = 3
#: labels each side of a blend (:func:`blend_topk`) offers, at least k: the zero-shot
#: distribution is over them, whatever k, so ``--k 1`` is the first of ``--k 10``
BLEND_CANDIDATES = 100
#: background documents x label rows per block when measuring hubness
HUBNESS_BLOCK_ENTRIES = 2 ** 24
#: a letter or digit of any script: a text without one has no word to match by
_WORD_CHARACTER = re.compile(r"[^\W_]")


def label_texts(label_space: LabelSpace, *, lang: str = "en", template: str = "{}",
                use_alt_labels: bool = True, use_descriptions: bool = True
                ) -> tuple[list[str], np.ndarray]:
    """(texts, owner label id per text) for every non-deprecated label.

    A label's name is its preferred name in ``lang`` (or a variant of it, as
    :meth:`LabelSpace.name_of` finds it: ``en-GB`` falls back to ``en``), else in
    English, else in another language; its alternative labels and description are those
    in ``lang`` or a variant of it. A label without any name, alternative label or
    description (a blank one, of spaces alone, counts as none, as does one without a
    letter or digit, such as ``"?"`` or ``"--"``) has no text to embed and is left out
    with a warning (embedding its URI would rank it by the look of the URI; the encoder
    gave punctuation alone confident-looking similarities to documents that have nothing
    to do with it).

    >>> from tagsmith.data.labelspace import Label
    >>> space = LabelSpace([Label("u:a", {"en": "cats"}, {"en": ["felines"]},
    ...                           description={"en": "small pets"})])
    >>> label_texts(space)
    (['cats', 'felines', 'cats: small pets'], array([0, 0, 0], dtype=int32))

    A concept lacking ``lang`` is embedded by its English name, whatever the order of
    its names (EUROVOC-style: Polish first):

    >>> label_texts(LabelSpace([Label("u:b", {"pl": "dumping cenowy", "en": "price dumping"}),
    ...                         Label("u:c", {"de": "Preisdumping"})]), lang="de")[0]
    ['price dumping', 'Preisdumping']
    """
    texts, owners, languages, nameless, borrowed = _label_texts(
        label_space, lang=lang, template=template, use_alt_labels=use_alt_labels,
        use_descriptions=use_descriptions)
    if languages:  # a mistyped --lang, or a vocabulary in other languages
        logger.warning("%s", unnamed_warning(lang, languages))
    elif borrowed:
        # some labels unnamed in lang (a thesaurus's new concepts, named in Finnish before
        # they are translated): embedded by a name in another language, which an English
        # encoder matches poorly to English documents, and none said so
        logger.warning(
            "%s label%s %s no name in language %r (e.g. %s): %s embedded by %s name in "
            "another language (English, else the first); alternative labels and "
            "descriptions are read in %r or a variant of it only", f"{len(borrowed):,}",
            plural_s(len(borrowed)), plural(len(borrowed), "has", "have"), lang,
            ", ".join(f"<{uri}> {name!r} ({tag})" for uri, name, tag in borrowed[:3]),
            plural(len(borrowed), "it is", "they are"),
            plural(len(borrowed), "its", "their"), lang)
    if nameless:
        logger.warning("%s label%s without a name, alternative label or description (with "
                       "a letter or digit) %s never suggested zero-shot, e.g. %s",
                       f"{len(nameless):,}", plural_s(len(nameless)),
                       plural(len(nameless), "is", "are"), ", ".join(nameless[:3]))
    return texts, owners


def unnamed_warning(lang: str, languages: Sequence[str]) -> str:
    """What :func:`label_texts` warns when no label is named in ``lang`` and the names
    in ``languages`` (:func:`~tagsmith.data.labelspace.unnamed_in`) are used instead;
    ``taxonomy --map-to`` says it before the LLM is paid, in the same words."""
    # in the CLI's words: "names in 'de', 'en', 'pl' are used" did not say English
    # comes first
    return (f"no label has a name in language {lang!r}: "
            f"{names_instead(list(languages), 'used')}, and alternative labels and "
            f"descriptions (read in {lang!r} or a variant of it only) are not")


def _label_texts(label_space: LabelSpace, *, lang: str, template: str,
                 use_alt_labels: bool, use_descriptions: bool
                 ) -> tuple[list[str], np.ndarray, list[str], list[str],
                            list[tuple[str, str, str]]]:
    """:func:`label_texts`, warning of nothing: (texts, owners, the languages of the
    names used instead of ``lang``'s when no label is named in it, the URIs of the
    labels without a text, and (URI, name, language tag) of each label embedded by a
    name in another language than ``lang``)."""
    _check_label_space(label_space)
    _check_template(template)
    # None or 5 matched no language and fell back to other names with a warning
    lang = check_language("lang", lang)
    use_alt_labels = check_bool("use_alt_labels", use_alt_labels)
    use_descriptions = check_bool("use_descriptions", use_descriptions)
    texts: list[str] = []
    owners: list[int] = []
    deprecated = label_space.deprecated_mask
    nameless: list[str] = []
    borrowed: list[tuple[str, str, str]] = []
    for label_id, label in enumerate(label_space):
        if deprecated[label_id]:
            continue
        # a blank name, or one of punctuation alone, is no name: the encoder embeds a
        # blank text as '.', and '?' as a vector near every short document
        own = _text(in_language(label.pref_labels, lang))
        # else English, as LabelSpace.name_of shows it (and the encoder reads), before
        # the file's first name: a concept named in pl, en and fr got its Polish name
        tag = None if own else (language_in(label.pref_labels, "en") if _text(
            in_language(label.pref_labels, "en")) else next(
            (other_tag for other_tag, other in label.pref_labels.items() if _text(other)),
            None))
        name = own or ("" if tag is None else label.pref_labels[tag])
        name = _without_notation(name, label.notation)
        if tag is not None and name:
            borrowed.append((label.uri, name, tag))
        names = [name] if name else []
        if use_alt_labels:
            alts = in_language(label.alt_labels, lang) or []
            names += [alt for alt in alts if _text(alt) and alt != name]
        described = _text(in_language(label.description, lang)) if use_descriptions else ""
        if described:
            names.append(f"{name}: {described}" if name else described)
        if not names:
            nameless.append(label.uri)
            continue
        texts += [template.format(text) for text in dict.fromkeys(names)]
        owners += [label_id] * len(dict.fromkeys(names))
    languages = unnamed_in((label for label_id, label in enumerate(label_space)
                            if not deprecated[label_id]), lang)
    return texts, np.asarray(owners, dtype=np.int32), languages, nameless, borrowed


def check_index_available(label_space: LabelSpace, index: str = "auto", *, lang: str = "en",
                          template: str = "{}", use_alt_labels: bool = True,
                          use_descriptions: bool = True) -> None:
    """Raise MissingDependencyError where a :class:`ZeroShotClassifier` of these
    arguments would search its label texts with HNSW (``index="hnsw"``, or ``"auto"``
    above :data:`~tagsmith.zeroshot.index.HNSW_FROM_ROWS` rows) and hnswlib is not
    installed: for a caller to check before it loads an encoder (seconds; the scorer
    checks before embedding). The label texts are counted only when hnswlib is missing.
    """
    from tagsmith.exceptions import MissingDependencyError

    index = check_choice("index", index, INDEX_KINDS)
    if index == "exact":
        return
    try:
        require_hnswlib()
    except MissingDependencyError:
        if index == "hnsw":
            raise
        n_rows = len(_label_texts(label_space, lang=lang, template=template,
                                  use_alt_labels=use_alt_labels,
                                  use_descriptions=use_descriptions)[0])
        if resolve_index_kind(index, n_rows) == "hnsw":
            raise


def has_words(text: str) -> bool:
    """Whether ``text`` holds a letter or digit (of any script).

    >>> [has_words(text) for text in ("a cat", "42", "Straße", "", " ", "?!", "__", "...")]
    [True, True, True, False, False, False, False, False]
    """
    return _WORD_CHARACTER.search(text) is not None


def blank_texts(texts: list[str]) -> np.ndarray:
    """Boolean mask of the ``texts`` without a word: empty, whitespace only, or
    punctuation and symbols alone (no letter or digit). There is nothing to match a
    label by, and the encoder embeds them near one another (an empty text as ``"."``),
    which gave each the same confident-looking labels: they get no suggestion and are
    no background.

    >>> blank_texts(["a cat", "", " \\n ", "?!", "42"]).tolist()
    [False, True, True, True, False]
    """
    return np.fromiter((not has_words(text) for text in texts), bool, len(texts))


def _without_notation(name: str, notation: str | None) -> str:
    """``name`` less the label's own ``notation`` and the whitespace after it, where it
    begins with them and words follow (STW's thesaurus categories are named so): the
    encoder embedded the code too, and codes drew number-laden texts (earnings reports)
    to every category so named. A notation without a digit or a dot may be the name's
    first word (``A cappella`` of notation ``A``): it is stripped only where two
    spaces follow it, as STW writes its top categories (``A  General descriptors``).
    Else ``name`` as it is.

    >>> _without_notation("W.20  R&D sector", "W.20"), _without_notation("P.01", "P.01")
    ('R&D sector', 'P.01')
    >>> _without_notation("A  General descriptors", "A"), _without_notation("A cappella", "A")
    ('General descriptors', 'A cappella')
    """
    if not notation or not name.startswith(notation):
        return name
    # the whitespace a code needs after it: one, or two where it is letters alone
    gap = 1 if re.search(r"[\d.]", notation) else 2
    if name[len(notation):len(notation) + gap].isspace():
        rest = name[len(notation):].strip()
        if _text(rest):
            return rest
    return name


def _text(value: str | None) -> str:
    """``value``, or ``""`` when it is None or has no word (blank, or punctuation
    alone)."""
    return value if value and has_words(value) else ""


def _check_label_space(label_space) -> LabelSpace:
    """``label_space`` once it is a :class:`LabelSpace` (None or a list of names was an
    AttributeError deep inside)."""
    if not isinstance(label_space, LabelSpace):
        raise InvalidParameterError("label_space", "a tagsmith LabelSpace",
                                    type(label_space).__name__)
    return label_space


def _check_doc_vectors(name: str, vectors, dim: int) -> np.ndarray:
    """``vectors`` as float32 once they are a finite numeric ``n x dim`` matrix (a wrong
    dimension was a matmul or broadcast error, strings numpy's ValueError, NaN a NaN
    hubness for every label)."""
    arr = np.asarray(vectors)
    if arr.shape == (0,):  # no documents, e.g. an empty list: an empty result as before
        arr = np.zeros((0, dim), np.float32)
    if arr.dtype.kind not in "biuf" or arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidParameterError(name, f"a numeric matrix n x {dim} (one embedding per "
                                    "document)", f"shape {arr.shape}, dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise InvalidParameterError(name, "finite numbers (no NaN or infinity)",
                                    f"{int((~np.isfinite(arr)).sum())} other values")
    return arr


def _check_template(template) -> None:
    """Refuse a template that is not one ``{}`` for the label text in literal text (``{{``
    and ``}}`` for braces): ``'{{}}'`` gave every label the same text ``'{}'``, and
    ``'{} {x}'`` a KeyError."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion
                  in string.Formatter().parse(template) if name is not None] \
            if isinstance(template, str) else None
    except ValueError:
        fields = None
    if fields != [("", "", None)]:
        raise InvalidParameterError("template", "a string with one '{}' for the label text "
                                    "('{{' and '}}' for literal braces)", template)


#: a cached row's L2 norm may differ from 1 by this much (the encoder normalises rows;
#: float32 rounding leaves about 1e-7)
CACHE_NORM_TOLERANCE = 1e-3
#: how many part files (``labels-*.part.npz``, a restricted run's label embeddings) of
#: one encoder the cache keeps, the most recently used: each ``zeroshot --only`` of
#: another set of labels wrote one more (0.5 MB for 300 of YSO's labels), never removed,
#: and a miss reads the digests of every one
PART_FILES_KEPT = 16
#: and at most this many bytes of them (with the one just written, kept whatever its
#: size): 16 restrictions to 10,000 of YSO's labels are 250 MB
PART_BYTES_KEPT = 128 * 2**20


#: what an encoder is, as :func:`check_encoder` refuses what is not one
ENCODER = "an encoder with encode(texts, *, show_progress=False) and an int dim"


def check_encoder(encoder: object, name: str = "encoder") -> None:
    """Refuse, naming ``name``, what is no encoder: one needs ``encode(texts, *,
    show_progress=False)`` and an int ``dim`` (numpy integers too). Callers that pay for
    something before the scorer is built (``run_taxonomy``'s LLM calls) check it first.

    An ``encode(texts)`` without ``show_progress``, as the docstring of
    :class:`ZeroShotClassifier` described a stand-in, failed with a TypeError from the
    call inside it ('got an unexpected keyword argument'):

    >>> class Words:
    ...     dim = 3
    ...     def encode(self, texts):
    ...         return texts
    >>> check_encoder(Words())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tagsmith.exceptions.InvalidParameterError: parameter 'encoder' must be an encoder \
with encode(texts, *, show_progress=False) and an int dim, got 'Words (its encode takes \
no show_progress)'
    """
    dim = getattr(encoder, "dim", None)
    encode = getattr(encoder, "encode", None)
    if not callable(encode) or isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise InvalidParameterError(name, ENCODER, type(encoder).__name__)
    try:
        parameters = inspect.signature(encode).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): the call decides
        return
    if not any(p.name == "show_progress" and p.kind is not p.POSITIONAL_ONLY
               or p.kind is p.VAR_KEYWORD for p in parameters):
        raise InvalidParameterError(
            name, ENCODER, f"{type(encoder).__name__} (its encode takes no show_progress)")


def check_cache_dir(cache_dir: object, name: str = "cache_dir") -> None:
    """Refuse, naming ``name``, a label-embedding cache that is neither None nor a path,
    or (a :class:`~tagsmith.exceptions.DataError`, as the CLI's ``--cache-dir`` check
    raises) a path too long for the cache's files (:func:`cache_name_bytes`): it was a
    bare OSError (File name too long) naming a cache file the caller never named; and one
    that cannot be looked at or into (permission denied), a bare PermissionError."""
    if cache_dir is not None and not isinstance(cache_dir, str | Path):
        raise InvalidParameterError(name, "None or a directory path", type(cache_dir).__name__)
    if cache_dir is None or (isinstance(cache_dir, str) and not cache_dir):
        return  # no cache
    from tagsmith.data.textio import (
        check_may_look_into,
        check_name_lengths,
        check_path_room,
        reachable_kind,
    )

    check_name_lengths(Path(cache_dir), f"{name}: ")
    check_path_room(cache_dir, cache_name_bytes(), f"{name}: ")
    # below a folder that may not be looked into, or one itself: the cache file's
    # exists() raised that PermissionError bare (Python 3.11), a traceback
    if reachable_kind(cache_dir, f"{name}: ") == "a folder":
        check_may_look_into(cache_dir, f"{name}: ")


def encoder_identity(encoder: Encoder) -> str:
    """What the cache records of the encoder: its ``identity`` attribute when it has
    one (:class:`~tagsmith.zeroshot.encoder.SentenceEncoder` hashes its resolved model
    directory and files), else its class, ``name`` and ``dim``."""
    identity = getattr(encoder, "identity", None)
    if isinstance(identity, str) and identity:
        return identity
    kind = type(encoder)
    return f"{kind.__module__}.{kind.__qualname__}:{encoder.name}:{encoder.dim}"


def _texts_digest(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def index_cache_prefix(encoder: Encoder, texts: list[str], cache_dir: str | Path | None,
                       *, part: bool = False) -> Path | None:
    """Where a saved label index of these label texts goes (:func:`embed_cached`'s file
    less ``.npz``; ``part``: of a restricted scorer's texts, ``.part.npz`` less
    ``.npz``), or None for no cache (``cache_dir`` None or ``""``)."""
    if cache_dir is None or (isinstance(cache_dir, str) and not cache_dir):
        return None
    path = _cache_file(Path(cache_dir), encoder_identity(encoder), _texts_digest(texts))
    return _part_file(path).with_suffix("") if part else path.with_suffix("")


#: what a cache file's texts are (:func:`embed_cached`'s ``kind``): typed, so that a
#: misspelling ("documents", the files' word) is caught before :func:`_prefix` refuses it
CacheKind = Literal["label", "document"]


def _cache_file(cache_dir: Path, identity: str, texts_digest: str,
                kind: CacheKind = "label") -> Path:
    """``labels-*.npz``, or ``documents-*.npz`` for a corpus's texts (``kind``
    ``"document"``): those are removed once unused for :data:`UNUSED_DAYS` days
    (:func:`_say_unused`), a vocabulary's are not."""
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass"))
    digest.update(b"\x00" + texts_digest.encode("ascii"))
    return cache_dir / f"{_prefix(kind)}-{digest.hexdigest()[:32]}.npz"


def _prefix(kind: str) -> str:
    """The names of the cache files of ``kind``'s texts begin with this.

    >>> _prefix("document"), _prefix("label")
    ('documents', 'labels')
    """
    if kind not in ("label", "document"):
        # "documents" (the files' word) made a corpus's file a vocabulary's, kept for good
        raise ValueError(f"kind must be 'label' or 'document', not {kind!r}")
    return "documents" if kind == "document" else "labels"


def _part_file(path: Path) -> Path:
    """The file of part of a vocabulary's label texts (a restricted run's, see
    :func:`embed_cached`) beside the whole vocabulary's file ``path`` of those texts."""
    return path.with_suffix(".part.npz")


def _text_hashes(texts: Sequence[str]) -> np.ndarray:
    """One SHA-256 digest per text, ``(len(texts), 32)`` uint8: what a part file keys
    each of its vectors by."""
    joined = b"".join(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
                      for text in texts)
    return np.frombuffer(joined, np.uint8).reshape(len(texts), 32)


def cache_name_bytes() -> int:
    """The most bytes the name of a file the label cache writes in its folder may have:
    an HNSW index's JSON record, or a file being written (see
    :func:`~tagsmith.store.staging.make_staging_file`). The CLI's ``--cache-dir`` must
    leave that much room under the file system's limit on a path."""
    from tagsmith.store.staging import staging_file_name_bytes

    # _cache_file, _part_file, hnsw_cache_file
    record = f"labels-{'0' * 32}.part.hnsw-{'0' * 16}.bin.json"
    return max(len(record), staging_file_name_bytes(".tmp"))


def _check_vectors(vectors: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``vectors`` if they are float32 of ``shape``, finite and of unit length (what the
    encoder gives and the cache stores), else :class:`ValueError` saying why."""
    if vectors.dtype != np.float32:
        raise ValueError(f"vectors of dtype {vectors.dtype}, not float32")
    if vectors.shape != shape:
        raise ValueError(f"vectors of shape {vectors.shape}, not {shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors with NaN or infinite values")
    # squared norms in float32, row by row without a copy of the matrix (a float64 copy
    # of 100k label vectors took 300 MB on every cache hit); exact far below the tolerance
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    if len(norms) and np.abs(norms - 1.0).max() > CACHE_NORM_TOLERANCE:
        raise ValueError("vectors that are not unit length")
    return vectors


def _read_cache(path: Path, identity: str, texts_digest: str, shape: tuple[int, int]
                ) -> np.ndarray:
    """The cached vectors, or :class:`ValueError` saying why the file is not usable."""
    with np.load(path, allow_pickle=False) as data:  # one open of the archive
        infos = data.zip.infolist()
        names = {info.filename for info in infos}
        # hashes.npy: each text's digest, that a miss over other texts takes vectors by
        # (absent from a file written before it was kept)
        if names - {"hashes.npy"} != {"vectors.npy", "encoder.npy", "texts.npy"}:
            raise ValueError(f"unexpected members {sorted(i.filename for i in infos)}")
        # np.savez stores uncompressed: a member larger than the expected array (plus
        # its header) is not ours, and is not decompressed
        _check_stored(infos)
        limit = {"vectors.npy": shape[0] * shape[1] * 4 + 4096,
                 "encoder.npy": 4 * (len(identity) + 1) + 4096,
                 "texts.npy": 4 * 64 + 4096, "hashes.npy": shape[0] * 32 + 4096}
        for info in infos:
            if info.file_size > limit[info.filename]:
                raise ValueError(f"{info.filename} is {info.file_size} bytes")
        stored_identity = str(data["encoder"][()])
        stored_texts = str(data["texts"][()])
        vectors = data["vectors"]
    if stored_identity != identity:
        raise _OtherEncoder("written by another encoder")
    if stored_texts != texts_digest:
        raise ValueError("written for other label texts")
    return _check_vectors(vectors, shape)


def _touch(path: Path) -> None:
    """Mark a cache file as just used (its modification time), for :func:`_prune_parts`,
    and for a user removing the files unused for long (README: a whole vocabulary's file
    read kept the time it was written, and looked unused)."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache is still read
        pass


def _check_stored(infos: Iterable[zipfile.ZipInfo]) -> None:
    """:class:`ValueError` where a member of a cache file is compressed: ``np.savez``
    stores them as they are, and a compressed one could unpack to any size."""
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise ValueError(f"{info.filename} is compressed")


class _OtherEncoder(ValueError):
    """A cache file another encoder wrote: not this run's to read (nor damaged)."""


class _Unkeyed(ValueError):
    """A whole vocabulary's cache file written before it kept each text's digest: not
    a source of vectors for other texts (nor damaged)."""


def _digest_keys(hashes: np.ndarray) -> np.ndarray:
    """The first 8 bytes of ``(n, 32)`` uint8 digests as ``n`` uint64, to sort and
    search (32-byte values sorted 4x slower than a dict per row); a match is checked on
    the whole digest."""
    return np.ascontiguousarray(hashes[:, :8]).view("<u8").ravel()


def _any_in(sorted_keys: np.ndarray, keys: np.ndarray) -> bool:
    """Whether any of ``keys`` is one of ``sorted_keys`` (sorted ascending)."""
    if not len(sorted_keys) or not len(keys):
        return False
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return bool((sorted_keys[at] == keys).any())


def _mapped_member(handle: IO[bytes], info: zipfile.ZipInfo) -> np.ndarray:
    """The 2-D float32 array of the stored (uncompressed) ``.npy`` member ``info`` of
    the archive open as ``handle``, mapped from the file rather than read: the rows
    taken are read alone. :class:`ValueError` where the member is not such an array
    within its bounds.

    ``handle`` is the file the archive's index was read from, not its name opened
    again: a file another run put in its place meanwhile had its rows read against the
    first file's index."""
    import struct

    handle.seek(info.header_offset)
    local = handle.read(30)  # the member's local header, then its name and extra
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise ValueError(f"{info.filename}: no local header")
    name_bytes, extra_bytes = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_bytes + extra_bytes
    handle.seek(start)
    version = np.lib.format.read_magic(handle)
    if version not in ((1, 0), (2, 0)):  # np.savez writes 1.0 (2.0: a large header)
        raise ValueError(f"{info.filename}: .npy format {version}")
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read_header(handle)
    offset = handle.tell()
    if dtype != np.float32 or len(shape) != 2 or fortran:
        raise ValueError(f"vectors of dtype {dtype} and shape {shape}")
    if offset + shape[0] * shape[1] * 4 > start + info.file_size:
        raise ValueError(f"{info.filename} is cut short")
    if not shape[0] * shape[1]:
        return np.zeros(shape, np.float32)
    try:
        return np.memmap(handle, np.float32, "r", offset, shape)
    except (FileNotFoundError, MemoryError):  # pruned by another run; out of memory
        raise
    except OSError as exc:
        if exc.errno == errno.ENOMEM:  # no room to map it: no room to read it either
            raise
        # a file system that cannot map files (ENODEV: a FUSE mount, some network
        # ones): read whole, as before the map; every part file was passed over there
        # with a warning, and its texts embedded again
        handle.seek(offset)
        vectors = np.fromfile(handle, np.float32, shape[0] * shape[1])
        if vectors.size != shape[0] * shape[1]:
            raise ValueError(f"{info.filename} is cut short") from None
        return vectors.reshape(shape)


def _read_part(path: Path, identity: str, dim: int, wanted: np.ndarray | None = None,
               *, mapped: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The per-text digests and vectors of a file keeping its vectors by text digest
    (a part file, or a whole vocabulary's file since it keeps them; :func:`embed_cached`),
    or :class:`ValueError` saying why the file is not usable (:class:`_Unkeyed` for an
    older whole file). ``wanted``: sorted digests (:func:`_digest_keys`); where the
    file holds none of them, its vectors are not read, and None. ``mapped``: the vectors
    are mapped from the file (:func:`_mapped_member`), of its dtype and shape but not
    read, nor checked finite and of unit length: the caller checks the rows it takes
    (a miss drawing 300 of YSO's texts from its whole file read all 43 MB)."""
    with np.load(path, allow_pickle=False) as data:  # one open of the archive
        infos = {info.filename: info for info in data.zip.infolist()}
        if set(infos) - {"texts.npy"} != {"vectors.npy", "encoder.npy", "hashes.npy"}:
            if set(infos) == {"vectors.npy", "encoder.npy", "texts.npy"}:
                raise _Unkeyed("a whole vocabulary's file without text digests")
            raise ValueError(f"unexpected members {sorted(infos)}")
        # stored uncompressed (np.savez), so the digests read are at most the file's
        # bytes (a deflated member of gigabytes of digests was read whole), and the
        # rows they give bound the vectors
        _check_stored(infos.values())
        rows = infos["hashes.npy"].file_size // 32
        limit = {"encoder.npy": 4 * (len(identity) + 1) + 4096,
                 "vectors.npy": rows * dim * 4 + 4096, "texts.npy": 4 * 64 + 4096}
        for name, most in limit.items():
            if name in infos and infos[name].file_size > most:
                if name == "encoder.npy":
                    # an identity longer than this encoder's: not this encoder's file,
                    # nor damaged (another model's of an identity ~1,000 characters
                    # longer was removed as damage, before the identity was compared)
                    raise _OtherEncoder("written by another encoder")
                raise ValueError(f"{name} is {infos[name].file_size} bytes")
            if name == "encoder.npy" and str(data["encoder"][()]) != identity:
                # before the vectors' bound, which is this encoder's dimension: another
                # model's file (of more dimensions) was taken as damaged and removed
                raise _OtherEncoder("written by another encoder")
        hashes = data["hashes"]
        if hashes.dtype != np.uint8 or hashes.ndim != 2 or hashes.shape[1] != 32:
            raise ValueError(f"text digests of dtype {hashes.dtype} and shape {hashes.shape}")
        if wanted is not None and not _any_in(wanted, _digest_keys(hashes)):
            return hashes, None
        if mapped:
            # the file whose index was read, not the name opened anew
            handle = data.zip.fp
            if handle is None:  # (open within the with)
                raise ValueError("the archive is closed")
            vectors = _mapped_member(handle, infos["vectors.npy"])
            if vectors.shape != (len(hashes), dim):
                raise ValueError(f"vectors of shape {vectors.shape}, not "
                                 f"{(len(hashes), dim)}")
            return hashes, vectors
        vectors = data["vectors"]
    return hashes, _check_vectors(vectors, (len(hashes), dim))


def _from_parts(cache_dir: Path, identity: str, dim: int, hashes: np.ndarray,
                skip: Path | None = None, kind: CacheKind = "label", *,
                parts: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The vectors of the texts of digests ``hashes`` found in the files of ``cache_dir``
    written by the encoder ``identity`` that keep their vectors by text digest (part
    files, and whole vocabularies' files: a vocabulary with one label edited takes the
    others' vectors from its earlier file), the most recently written first: ``(found,
    vectors)``, ``found`` a boolean mask over ``hashes``, ``vectors`` zero where not
    found. A file holding none of them has only its digests read. An unusable file
    (other than ``skip``, warned of already) is passed over with a warning. ``parts``
    False: the part files (``*.part.npz``) are not read (a corpus embedded in chunks
    reads its chunk files whole, :func:`_from_chunks`)."""
    found = np.zeros(len(hashes), bool)
    vectors = np.zeros((len(hashes), dim), np.float32)
    if not len(hashes):
        return found, vectors
    keys = _digest_keys(hashes)
    order = np.argsort(keys, kind="stable")
    wanted = keys[order]  # sorted; a file's keys are searched in it
    # a corpus edited since takes its unchanged texts' vectors from its earlier file; a
    # vocabulary's search does not open the (far larger) document files
    for path in _newest_first(cache_dir, f"{_prefix(kind)}-*.npz"):
        if path == skip or (not parts and path.name.endswith(".part.npz")):
            continue
        taken = None
        try:
            stored, stored_vectors = _read_part(path, identity, dim,
                                                wanted[~found[order]], mapped=True)
            if stored_vectors is not None:
                # each stored row against the wanted rows of its key (a text may be
                # wanted twice), the whole digest compared; the rows taken alone read
                # and checked
                stored_keys = _digest_keys(stored)
                first = np.searchsorted(wanted, stored_keys, "left")
                count = np.searchsorted(wanted, stored_keys, "right") - first
                row = np.repeat(np.arange(len(stored)), count)
                at = order[np.repeat(first - np.cumsum(count) + count, count)
                           + np.arange(int(count.sum()))]
                take = ~found[at] & (stored[row] == hashes[at]).all(axis=1)
                row, at = row[take], at[take]
                if len(row):  # (none: 8-byte keys alike, whole digests not)
                    unique_rows, back = np.unique(row, return_inverse=True)
                    taken = _check_vectors(np.array(stored_vectors[unique_rows]),
                                           (len(unique_rows), dim))
                del stored_vectors  # the file's map closed once its rows are taken
        # FileNotFoundError: pruned by another run
        except (_Unkeyed, _OtherEncoder, FileNotFoundError):
            continue
        except Exception as exc:  # noqa: BLE001 - an unusable part file is only a miss
            stored_vectors = None  # its map closed before the removal below (Windows)
            if not _is_damage(exc):  # not ours to remove
                logger.warning("ignoring the zero-shot embedding cache %s (%s)", path,
                               _reason(exc))
                continue
            # damaged: removed, so that it is warned of once, not on every miss until the
            # run that wrote it runs again
            logger.warning("ignoring the zero-shot embedding cache %s (%s: %s); removing "
                           "it", path, type(exc).__name__, exc)
            _remove_cache_file(path)
            continue
        if taken is None:  # none of the texts wanted
            continue
        _touch(path)  # used: the last pruned (PART_FILES_KEPT)
        vectors[at] = taken[back]
        found[at] = True
        if found.all():
            break
    return found, vectors


#: the names :func:`_cache_file` and :func:`_part_file` give
_CACHE_NAME = re.compile(r"(labels|documents)-[0-9a-f]{32}(\.part)?\.npz")


def _named_cache_files(cache_dir: Path, pattern: str) -> list[Path]:
    """The files of ``cache_dir`` matching ``pattern`` named as the cache names its
    files: a file of the user's there (``labels-mine.npz``) is neither read nor, as
    damaged, removed."""
    return [path for path in cache_dir.glob(pattern) if _CACHE_NAME.fullmatch(path.name)]


def _newest_first(cache_dir: Path, pattern: str) -> list[Path]:
    """:func:`_named_cache_files`, the most recently written (or used: :func:`_touch`)
    first, ties by name; a file removed meanwhile (by another run) left out."""
    dated = []
    for path in _named_cache_files(cache_dir, pattern):
        try:
            dated.append((-path.stat().st_mtime_ns, path.name, path))
        except OSError:
            continue
    return [path for _, _, path in sorted(dated)]


def _is_damage(exc: BaseException) -> bool:
    """Whether ``exc``, raised reading a cache file, says the file is damaged (to be
    removed): not an :class:`OSError` (unreadable: permissions, another run's file) nor
    a :class:`MemoryError` (this run's want of memory; a 43 MB file of YSO's was
    removed as damaged under memory pressure, and embedded again for 21 minutes)."""
    return not isinstance(exc, (OSError, MemoryError))


def _reason(exc: BaseException) -> str:
    """What the warning of an unusable cache file says of ``exc``: its kind and text
    (a MemoryError's text is often empty)."""
    if isinstance(exc, MemoryError) or (isinstance(exc, OSError)
                                        and exc.errno == errno.ENOMEM):  # (a map of it)
        return f"not enough memory to read it{': ' + str(exc) if str(exc) else ''}"
    return f"{type(exc).__name__}: {exc}"


def _remove_cache_file(path: Path) -> None:
    """Remove a label-embedding file and the HNSW graphs saved beside it (quietly where
    another run removed them first)."""
    prefix = path.name[:-len(".npz")]
    for stale in [path, *path.parent.glob(f"{glob_escape(prefix)}.hnsw-*")]:
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("cannot remove the zero-shot embedding cache %s: %s", stale,
                           exc.strerror or exc)


def _digest_set(hashes: np.ndarray) -> set[bytes]:
    """The whole 32-byte digests of ``(n, 32)`` uint8 ``hashes``, as a set (25 ms for
    YSO's 27,754 texts)."""
    joined = np.ascontiguousarray(hashes, np.uint8).tobytes()
    return {joined[at:at + 32] for at in range(0, len(joined), 32)}


def _prune_parts(cache_dir: Path, written: Path, identity: str, dim: int,
                 covered: set[bytes] | None = None) -> None:
    """Remove part files of the encoder ``identity`` in ``cache_dir`` the cache no
    longer needs: where ``covered`` (the whole digests of a whole vocabulary's file just
    written, :func:`_digest_set`) is given, those whose every text it holds (it serves
    their runs); and all but the :data:`PART_FILES_KEPT` most recently used (``written``
    the newest), of at most :data:`PART_BYTES_KEPT` bytes together. Another encoder's
    part files are neither counted nor removed (its own runs prune them). Then the HNSW
    graphs whose file is gone (:func:`_prune_orphan_graphs`)."""
    # ``written`` one of those kept where it is a part file (a whole vocabulary's file
    # written kept one part file fewer)
    kept = int(written.name.endswith(".part.npz"))
    kept_bytes = _file_bytes(written) if kept else 0
    for path in _newest_first(cache_dir, "labels-*.part.npz"):
        if path == written:
            continue
        try:
            stored, _ = _read_part(path, identity, dim, np.zeros(0, "<u8"))
        # removed by another run: not one kept; another model's: counted by its runs
        # (restrictions with one model removed the part files of another, a project
        # sharing the default folder)
        except (FileNotFoundError, _OtherEncoder):
            continue
        except Exception:  # noqa: BLE001 - damaged or unreadable: kept until the oldest
            stored = None
        # whole digests, not the 8-byte keys a search goes by: a text of the part
        # sharing its key with one of the whole file's (and no more) took the part
        # as covered, and removed the only vectors of that text
        if covered is not None and stored is not None and _digest_set(stored) <= covered:
            _remove_cache_file(path)
            continue
        kept += 1
        kept_bytes += _file_bytes(path)
        if kept > PART_FILES_KEPT or kept_bytes > PART_BYTES_KEPT:
            _remove_cache_file(path)
    _prune_orphan_graphs(cache_dir)


def _file_bytes(path: Path) -> int:
    """The size of ``path``, 0 where it is gone (removed by another run)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


#: the names :func:`~tagsmith.zeroshot.index.hnsw_cache_file` gives a saved HNSW graph
#: and its record beside a file of :data:`_CACHE_NAME` (the group: that file less .npz)
_GRAPH_NAME = re.compile(
    r"(labels-[0-9a-f]{32}(?:\.part)?)\.hnsw-[0-9a-f]{16}\.bin(?:\.json)?")


def _prune_orphan_graphs(cache_dir: Path) -> None:
    """Remove the saved HNSW graphs (and records) of ``cache_dir`` whose label-embedding
    file is gone: a graph is removed with its file (:func:`_remove_cache_file`), but one
    another run was still building (48 s for YSO) was saved after the removal and stayed
    for good, as no graph is read without its file's vectors."""
    for path in cache_dir.glob("labels-*.hnsw-*"):
        match = _GRAPH_NAME.fullmatch(path.name)
        if match is None or (cache_dir / f"{match[1]}.npz").exists():
            continue
        try:
            path.unlink()
        except FileNotFoundError:  # removed by another run's pruning
            pass
        except OSError as exc:
            logger.warning("cannot remove the zero-shot embedding cache %s: %s", path,
                           exc.strerror or exc)


def cached_vectors(encoder: Encoder, texts: list[str], cache_dir: str | Path | None
                   ) -> np.ndarray | None:
    """The embeddings of ``texts`` from the file :func:`embed_cached` writes for exactly
    them, or None where there is none (or no cache); an unusable one is warned of, as
    :func:`embed_cached` does, and is None."""
    if cache_dir is None or (isinstance(cache_dir, str) and not cache_dir):
        return None
    identity = encoder_identity(encoder)
    texts_digest = _texts_digest(texts)
    path = _cache_file(Path(cache_dir), identity, texts_digest)
    if not path.exists():
        return None
    try:
        vectors = _read_cache(path, identity, texts_digest, (len(texts), encoder.dim))
        _touch(path)  # used: a file unused for long may be removed (README)
        return vectors
    except FileNotFoundError:  # removed by another run since: a miss, not damage
        return None
    except Exception as exc:  # noqa: BLE001 - any unreadable cache is only a miss
        if not _is_damage(exc):  # not ours to remove
            logger.warning("ignoring the zero-shot embedding cache %s (%s); embedding "
                           "the label texts again", path, _reason(exc))
            return None
        # damaged: removed, or the restricted run's search of the cache for its texts
        # warned of it a second time (and every later restricted run twice again)
        logger.warning("ignoring the zero-shot embedding cache %s (%s: %s); removing it "
                       "and embedding the label texts again", path, type(exc).__name__, exc)
        _remove_cache_file(path)
        return None


def embed_cached(encoder: Encoder, texts: list[str], cache_dir: str | Path | None, *,
                 show_progress: bool = False, part: bool = False,
                 kind: CacheKind = "label", chunk: int | None = None) -> np.ndarray:
    """Embeddings of ``texts``, read from / written to ``cache_dir`` when given.

    A cache file records the encoder's identity (:func:`encoder_identity`) and a digest
    of the texts, and is used only when both match and its vectors are float32, one
    finite unit-length row per text of the encoder's dimension. Any other file -- damaged,
    truncated, tampered with, written by another model -- is a cache miss: a warning,
    the texts are embedded again and the file is rewritten (atomically). Vectors that
    would fail those checks are not written (they would be refused on every read).

    ``part``: ``texts`` are part of a vocabulary's (a restricted run's: ``zeroshot
    --only``), written to a part file (``labels-*.part.npz``) that keeps each vector
    beside a SHA-256 digest of its text. On a miss, the texts that any part file of the
    same encoder holds are taken from it and the others alone embedded: a later run
    over the whole vocabulary (or another restriction) embeds only what no restricted
    run did, and writes its own file. (Embedded in other batches, a vector may differ
    from the whole vocabulary's by float32 rounding.) A whole vocabulary's file keeps
    those digests too, so a vocabulary edited since (a label renamed, added or removed)
    takes the vectors of its unchanged texts from it and embeds the edited ones alone.
    The cache keeps the :data:`PART_FILES_KEPT` most recently used part files of each
    encoder (of :data:`PART_BYTES_KEPT` bytes at most), and a whole vocabulary's file
    written removes the part files whose every text it holds; a damaged part file
    another run draws from is removed with its warning.

    ``cache_dir=""`` is no cache, as ``--cache-dir ''`` on the command line: as a path it
    was the working directory, which got the cache files.

    ``kind``: what the texts are, as the lines name them (``"label"``; ``label
    --shortlist-zeroshot`` caches its corpus's embeddings here too, as ``"document"``:
    a rerun of a walk embedded its 3,000 comments again, 5 of its 6 minutes).

    ``chunk``: the texts to embed are handed to the encoder ``chunk`` at a time (under
    one progress bar), and each chunk's vectors are written as soon as it is embedded,
    as a chunk file (``documents-*.part.npz``, keyed by text digest as a part file is):
    a run stopped (Ctrl-C, a crash) 25 minutes into 30 lost every vector, and its rerun
    takes the finished chunks' vectors from their files and embeds the rest alone, in
    the same chunks (the same vectors, byte for byte, as a run never stopped). The whole
    file written at the end removes the chunk files it covers; the count of part files
    kept (:data:`PART_FILES_KEPT`, a vocabulary's) does not count or remove them, and
    an unfinished run's are removed, as a corpus's files are, when unused for
    :data:`UNUSED_DAYS` days. An encoder with ``encoding_planned(n)`` is told how many
    texts the run embeds before the first chunk (the probe of ``label
    --shortlist-zeroshot`` says how long those take).
    """
    _prefix(kind)  # a misspelt kind refused with a cache or without
    if chunk is not None:
        chunk = check_int("chunk", chunk, 1, allow_none=True)
    if cache_dir is None or (isinstance(cache_dir, str) and not cache_dir):
        if chunk:
            return _encode_chunks(encoder, texts, chunk, show_progress)
        return encoder.encode(texts, show_progress=show_progress)
    from tagsmith.data.textio import atomic_binary_writer
    from tagsmith.exceptions import DataError

    cache_dir = Path(cache_dir)
    identity = encoder_identity(encoder)
    texts_digest = _texts_digest(texts)
    path = _cache_file(cache_dir, identity, texts_digest, kind)
    if part:
        path = _part_file(path)
    shape = (len(texts), encoder.dim)
    hashes = _text_hashes(texts)
    skip = None
    if path.exists():
        try:
            if not part:
                vectors = _read_cache(path, identity, texts_digest, shape)
                _touch(path)  # used: a file unused for long may be removed (README)
                if kind == "document":
                    # chunk files a run stopped after writing this file left: the
                    # corpus on disk twice, until unused for 30 days (300 MB at 10^5)
                    _prune_chunks(cache_dir, identity, encoder.dim, hashes)
                return vectors
            stored, part_vectors = _read_part(path, identity, encoder.dim)
            if np.array_equal(stored, hashes) and part_vectors is not None:
                _touch(path)  # used: the last pruned (PART_FILES_KEPT)
                return part_vectors
            raise ValueError("written for other label texts")
        except FileNotFoundError:  # removed by another run since (pruned): a miss
            pass
        except Exception as exc:  # noqa: BLE001 - any unreadable cache is only a miss
            logger.warning("ignoring the zero-shot embedding cache %s (%s); embedding "
                           "the %s texts again", path, _reason(exc), kind)
            skip = path
    found, vectors = _from_parts(cache_dir, identity, encoder.dim, hashes, skip, kind,
                                 parts=not chunk)
    missing = np.flatnonzero(~found)
    if chunk and len(missing):
        missing = _from_chunks(cache_dir, identity, texts, missing, chunk, kind, vectors)
    if len(missing) < len(texts):
        logger.info("%s of %s %s text%s embedded by an earlier run; "
                    "embedding the other %s", f"{len(texts) - len(missing):,}",
                    f"{len(texts):,}", kind, plural_s(len(texts)), f"{len(missing):,}")
    if chunk and len(missing):
        writer = _ChunkWriter(cache_dir, identity, kind)
        encoded = _encode_chunks(encoder, [texts[i] for i in missing], chunk,
                                 show_progress, writer.write)
        if encoded.shape != (len(missing), encoder.dim) or len(missing) == len(texts):
            vectors = encoded  # (of another shape: refused below, as before)
        else:
            vectors[missing] = encoded
    elif len(missing) == len(texts):
        vectors = np.asarray(encoder.encode(texts, show_progress=show_progress),
                             dtype=np.float32)
    elif len(missing):
        encoded = np.asarray(encoder.encode([texts[i] for i in missing],
                                            show_progress=show_progress), dtype=np.float32)
        if encoded.shape != (len(missing), encoder.dim):  # refused below, as before
            encoded = np.asarray(encoder.encode(texts, show_progress=show_progress),
                                 dtype=np.float32)
            vectors = encoded
        else:
            vectors[missing] = encoded
    try:
        _check_vectors(vectors, shape)
    except ValueError as exc:
        logger.warning("not caching the %s embeddings (%s)", kind, exc)
        return vectors
    try:
        with atomic_binary_writer(path) as out:
            if part:
                np.savez(out, vectors=vectors, encoder=np.str_(identity), hashes=hashes)
            else:
                # each text's digest too: a vocabulary edited since takes the vectors
                # of its texts left as they were from this file (one label edited
                # re-embedded YSO's 27,754 texts, 21 minutes)
                np.savez(out, vectors=vectors, encoder=np.str_(identity),
                         texts=np.str_(texts_digest), hashes=hashes)
    except (OSError, DataError) as exc:  # a full disk costs the cache, not the results
        # an OSError's strerror alone: its text names the file again
        logger.warning("cannot write the zero-shot embedding cache %s: %s", path,
                       exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
        return vectors
    # restrictions of a vocabulary now cached whole, and the least recently used of many
    # restrictions, are removed: every --only of other labels added a file for good
    # a corpus's file covers no vocabulary's part file: a part whose texts the corpus
    # happened to hold was removed (and every part file opened to see) on each write
    _prune_parts(cache_dir, path, identity, encoder.dim,
                 None if part or kind == "document" else _digest_set(hashes))
    if kind == "document" and not part:
        # the chunk files of this run (or of a stopped one) it holds every text of
        _prune_chunks(cache_dir, identity, encoder.dim, hashes)
    if not part:
        _say_unused(cache_dir)
    return vectors


def _encode_chunks(encoder: Encoder, texts: list[str], chunk: int, show_progress: bool,
                   each=None) -> np.ndarray:
    """``encoder``'s vectors of ``texts``, handed to it ``chunk`` at a time under one
    progress bar (moved by each of the encoder's batches where its ``encode`` takes
    ``on_batch``, :func:`takes_on_batch`; by each chunk, else), ``each(chunk_texts,
    vectors)`` called after
    each chunk; the encoder's ``encoding_planned(len(texts))`` first, where it has one.
    Vectors of another shape than ``(len(texts), dim)`` are returned as they are (the
    caller refuses them): the rest is not embedded."""
    from tagsmith.progress import progress_bar

    planned = getattr(encoder, "encoding_planned", None)
    if callable(planned):
        planned(len(texts))
    dim = getattr(encoder, "dim", None)
    out: np.ndarray | None = None  # filled chunk by chunk (no copy of the pieces joined)
    with progress_bar(total=len(texts), desc="embedding", unit="text",
                      enabled=show_progress) as bar:
        batches = takes_on_batch(encoder)
        counted = [0, 0]  # the texts the chunk's batches said, the chunk's size

        def on_batch(n: int) -> None:
            # the bar moved once a chunk: nothing shown for the first minute of a run
            # at 15-20 documents a second, then once a minute
            n = min(int(n), counted[1] - counted[0])
            if n > 0:
                counted[0] += n
                bar.update(n)

        for start in range(0, len(texts), chunk):
            part = texts[start:start + chunk]
            counted[:] = [0, len(part)]
            got = np.asarray(
                cast(Any, encoder).encode(part, show_progress=False, on_batch=on_batch)
                if batches else encoder.encode(part, show_progress=False), dtype=np.float32)
            if got.ndim != 2 or got.shape[0] != len(part) or (
                    isinstance(dim, numbers.Integral) and got.shape[1] != dim):
                return got
            if each is not None:
                each(part, got)
            if out is None:
                out = np.empty((len(texts), got.shape[1]), np.float32)
            out[start:start + len(part)] = got
            if len(part) > counted[0]:  # what the encoder's batches did not say
                bar.update(len(part) - counted[0])
    if out is None:
        return np.zeros((0, int(dim) if isinstance(dim, numbers.Integral) else 0),
                        np.float32)
    return out


def takes_on_batch(encoder: object) -> bool:
    """Whether ``encoder.encode`` takes an ``on_batch`` callable (called with the count
    of texts of each batch it has embedded), for a progress bar that moves within a
    call (:func:`embed_cached`'s chunks of 1,024)."""
    import inspect

    try:
        parameters = inspect.signature(encoder.encode).parameters  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return False
    found = parameters.get("on_batch")
    return found is not None and found.kind in (found.KEYWORD_ONLY,
                                                found.POSITIONAL_OR_KEYWORD)


def _from_chunks(cache_dir: Path, identity: str, texts: list[str], missing: np.ndarray,
                 chunk: int, kind: CacheKind, vectors: np.ndarray) -> np.ndarray:
    """The rows of ``missing`` left to embed once the chunk files of the chunks they
    make (``chunk`` at a time, as :func:`_encode_chunks` hands them to the encoder) are
    read into ``vectors``: a chunk is read whole from the file of exactly its texts, or
    embedded whole. (Its texts taken one by one from other chunks' files, a text that a
    finished chunk also held left the chunk short, and the rest of it was embedded in
    other pieces than a run never stopped embeds it in: other vectors.)"""
    left = []
    for start in range(0, len(missing), chunk):
        rows = missing[start:start + chunk]
        part_texts = [texts[i] for i in rows]
        path = _part_file(_cache_file(cache_dir, identity, _texts_digest(part_texts), kind))
        got = None
        if path.exists():
            try:
                stored, got = _read_part(path, identity, vectors.shape[1])
                if not np.array_equal(stored, _text_hashes(part_texts)):
                    raise ValueError("written for other texts")
            except (FileNotFoundError, _OtherEncoder):  # removed since; another model's
                got = None
            except Exception as exc:  # noqa: BLE001 - an unusable chunk file is a miss
                got = None
                logger.warning("ignoring the zero-shot embedding cache %s (%s)%s", path,
                               _reason(exc), "; removing it" if _is_damage(exc) else "")
                if _is_damage(exc):
                    _remove_cache_file(path)
        if got is None:
            left.append(rows)
            continue
        _touch(path)
        vectors[rows] = got
    return np.concatenate(left) if left else missing[:0]


class _ChunkWriter:
    """Writes each chunk of a corpus's vectors as a chunk file (a part file of the
    corpus's kind, ``documents-*.part.npz``) through :func:`atomic_binary_writer`: one
    that cannot be written is warned of once, and no more are tried (the run goes on)."""

    def __init__(self, cache_dir: Path, identity: str, kind: CacheKind):
        self.cache_dir, self.identity, self.kind = cache_dir, identity, kind
        self.failed = False

    def write(self, texts: list[str], vectors: np.ndarray) -> None:
        from tagsmith.data.textio import atomic_binary_writer
        from tagsmith.exceptions import DataError

        if self.failed:
            return
        try:
            _check_vectors(vectors, vectors.shape)
        except ValueError:  # not written, as the whole file is not (warned of there)
            return
        path = _part_file(_cache_file(self.cache_dir, self.identity, _texts_digest(texts),
                                      self.kind))
        try:
            with atomic_binary_writer(path) as out:
                np.savez(out, vectors=vectors, encoder=np.str_(self.identity),
                         hashes=_text_hashes(texts))
        except (OSError, DataError) as exc:
            self.failed = True
            logger.warning("cannot write the zero-shot embedding cache %s: %s; a stopped "
                           "run embeds its texts again", path,
                           exc.strerror if isinstance(exc, OSError) and exc.strerror
                           else exc)


def _prune_chunks(cache_dir: Path, identity: str, dim: int, hashes: np.ndarray) -> None:
    """Remove the chunk files (``documents-*.part.npz``, :class:`_ChunkWriter`) of the
    encoder ``identity`` whose every text the corpus's file just written (or read)
    holds (``hashes``, its texts' digests); others (another encoder's, another
    corpus's, a stopped run's) are kept. The digests' set is made only where there is
    a chunk file (a rerun reading its corpus's file looks, for those a run stopped
    after writing it left). The temporary files of chunk writes killed outright
    (SIGKILL, the OOM killer) more than :data:`STALE_TEMP_SECONDS` ago are removed too:
    the next write to the same chunk file removed one, and a corpus changed since never
    writes that chunk again."""
    _remove_stale_temporaries(cache_dir)
    covered: set[bytes] | None = None
    for path in _named_cache_files(cache_dir, "documents-*.part.npz"):
        try:
            stored, _ = _read_part(path, identity, dim, np.zeros(0, "<u8"))
        except Exception:  # noqa: BLE001 - gone, another encoder's, damaged: not ours
            continue
        if covered is None:
            covered = _digest_set(hashes)
        if _digest_set(stored) <= covered:
            _remove_cache_file(path)


#: a chunk file's temporary file (``.documents-*.part.npz.HOST~NS-PID-*.tmp``, as
#: :func:`~tagsmith.data.textio.atomic_binary_writer` names it) unchanged for this many
#: seconds is a killed write's, removed by :func:`_prune_chunks` (a live write of a
#: chunk takes well under a second)
STALE_TEMP_SECONDS = 86_400

#: the temporary files :func:`atomic_binary_writer` makes for a chunk file
_CHUNK_TEMP_NAME = re.compile(r"\.documents-[0-9a-f]{32}\.part\.npz\..+-[0-9]+-[^.]+\.tmp")


def _remove_stale_temporaries(cache_dir: Path) -> None:
    """Remove the temporary files of chunk writes (:data:`_CHUNK_TEMP_NAME`) unchanged
    for :data:`STALE_TEMP_SECONDS` (each as big as its chunk file, ~1.5 MB)."""
    import time

    before = time.time() - STALE_TEMP_SECONDS
    for path in cache_dir.glob(".documents-*.part.npz.*.tmp"):
        if not _CHUNK_TEMP_NAME.fullmatch(path.name):
            continue
        try:
            if path.stat().st_mtime < before:
                path.unlink()
                logger.info("removed %s, the temporary file of a chunk write that was "
                            "killed", path)
        except OSError:  # removed meanwhile, not ours to remove
            continue


#: an embedding file not read for this many days is named by :func:`_say_unused`
#: (a vocabulary's) or removed (a corpus's, ``documents-*.npz``)
UNUSED_DAYS = 30


def _say_unused(cache_dir: Path) -> None:
    """Remove the corpora's files (``documents-*.npz``) of ``cache_dir`` unused for
    :data:`UNUSED_DAYS` days, and log them and the vocabularies' files unused as long,
    with how to remove those: the cache never removes a vocabulary's file (the default
    folder is shared, another project may still read one; each earlier version of
    YSO's left 43 MB behind unsaid), but a corpus's is one version of a pool, of
    private texts, ~150 MB at 10^5 documents, and every version stayed for good."""
    import time

    from tagsmith._shell import shell_path
    from tagsmith._size import byte_size

    # find's -mtime +30 counts whole days: a file unused for 30.5 days is not removed
    before = time.time() - (UNUSED_DAYS + 1) * 86_400
    count = size = removed = removed_size = 0
    for path in _named_cache_files(cache_dir, "*.npz"):
        try:
            stat = path.stat()
        except OSError:
            continue
        if stat.st_mtime >= before:
            continue
        if path.name.startswith("documents-"):
            # a corpus's embeddings (~150 MB a version of 10^5 documents, of private
            # texts): every version of a growing pool stayed for good; removed by the
            # same rule (a rerun within the 30 days reads them, keeping them)
            _remove_cache_file(path)
            if not path.exists():
                removed, removed_size = removed + 1, removed_size + stat.st_size
        else:
            count, size = count + 1, size + stat.st_size
    if count or removed:
        said = [f"{count:,} label-embedding file{plural_s(count)} ({byte_size(size)}): "
                f"find {shell_path(cache_dir)} -maxdepth 1 {CACHE_FILES_FIND} -mtime "
                f"+{UNUSED_DAYS} -delete removes them"] if count else []
        if removed:
            said.insert(0, f"{removed:,} document-embedding file{plural_s(removed)} "
                           f"removed ({byte_size(removed_size)})")
        logger.info("embedding files in %s unused for more than %s days: %s", cache_dir,
                    UNUSED_DAYS, "; ".join(said))


#: ``find`` tests of the names :data:`_CACHE_NAME` gives, as the count of
#: :func:`_say_unused` reads them: 32 characters after ``labels-``, then ``.npz`` or
#: ``.part.npz`` (a ``labels-????...*.npz`` took a file of the user's named
#: ``labels-`` and 32 characters or more too); with ``-maxdepth 1``, as the count does
#: not look in subfolders (the find went through every folder under ``--cache-dir .``)
CACHE_FILES_FIND = (f"\\( -name 'labels-{'?' * 32}.npz' -o "
                    f"-name 'labels-{'?' * 32}.part.npz' \\)")


#: words common in each language's sentences and in no English one (a heuristic of
#: :func:`foreign_language`: "die", "in", "an", "per", "of" or "is" left out)
_FUNCTION_WORDS = {
    "English": frozenset(
        "the and of to is are for with that this from by was were be been how what which "
        "on its their has have not after into between about new".split()),
    "German": frozenset(
        "der das und von zu den mit für auf ist im des dem ein eine einer eines nicht auch "
        "sich über wie nach bei zur zum oder werden wird sind durch aus".split()),
    "French": frozenset(
        "le la les des et du une est pour dans sur avec que qui pas aux par ces sont "
        "leur".split()),
    "Spanish": frozenset(
        "el los las del y una por con para que es al sobre como su sus entre".split()),
    "Italian": frozenset(
        "il di che della delle degli dei nel nella sono una con gli alla".split()),
    "Dutch": frozenset(
        "het een van en voor niet op met zijn ook bij naar wordt deze".split()),
    "Portuguese": frozenset(
        "os das dos uma não para com que mais pelo pela".split()),
    "Swedish": frozenset(
        "och att det som för inte med av är på ett från".split()),
    "Finnish": frozenset(
        "ja on ei että se ovat tai kanssa mukaan sekä".split()),
}
_WORD = re.compile(r"[^\W\d_]+")
#: a letter (of :data:`_WORD`) outside ASCII and Latin-1 to Latin Extended-B
_NON_LATIN = re.compile("[^\\W\\d_\x00-\x7f\u00c0-\u024f]")
#: how much of a text is looked at (the encoder reads about 4,096 characters)
_LANGUAGE_CHARS = 4096


#: the language of :data:`_FUNCTION_WORDS` that a --lang code names (its first subtag)
_LANGUAGE_OF_CODE = {"en": "English", "de": "German", "fr": "French", "es": "Spanish",
                     "it": "Italian", "nl": "Dutch", "pt": "Portuguese", "sv": "Swedish",
                     "fi": "Finnish"}


def text_language(text: str) -> str | None:
    """:func:`foreign_language`, where English is ``"English"`` (two or more of its
    common words, more than any other language's): None, a text the heuristic cannot
    place.

    >>> text_language("The role of the central bank in inflation")
    'English'
    >>> text_language("Central bank"), text_language("Die Rolle der Zentralbank für Preise")
    (None, 'German')
    """
    text = text[:_LANGUAGE_CHARS].lower()
    words = _WORD.findall(text)
    if not words:
        return None
    # counted by the regular expressions and a Counter, not a loop over each letter and
    # word: that took 0.9 ms a 4 KB document, 7.5 minutes of 500,000 documents before
    # label --shortlist-zeroshot's first call
    if not text.isascii() and len(_NON_LATIN.findall(text)) * 2 > sum(map(len, words)):
        return "a non-Latin script"
    seen = Counter(words)
    counts = {language: sum(seen[word] for word in common if word in seen)
              for language, common in _FUNCTION_WORDS.items()}
    english = counts.pop("English")
    language, most = max(counts.items(), key=lambda item: item[1])
    # a word with an accent or umlaut ("Überlegungen") counts for it too, but one
    # common word alone is none ("Da real MVP", "[NAME]. Im sorry", "DEL E. WEBB")
    accented = sum(n for word, n in seen.items() if not word.isascii())
    # and two different common words, or half the words: one repeated or beside one
    # accented name in an English title is none ("La La Land wins at Oscars", "El Niño
    # threatens crops in Peru" were French and Spanish)
    evidence = most + accented
    if most and evidence >= 2 and evidence > english and (
            evidence * 2 >= len(words)
            or sum(1 for word in _FUNCTION_WORDS[language] if word in seen) >= 2):
        return language
    # English by the same rule (a document :class:`ForeignTexts` counts under a --lang
    # other than English): two of its words, more than any other language's
    return "English" if english >= 2 and english > most + accented else None


def foreign_language(text: str) -> str | None:
    """The language a text looks written in, where that is not English: by its letters
    (most of them outside the Latin script: ``"a non-Latin script"``), else by its
    commonest words (more of one other language's, and of its words with an accent,
    than of English's, at least two, and two different common words or half the
    words), else None. A
    heuristic for a warning (:class:`ForeignTexts`), not a language identifier: a text
    of names alone is taken for English.

    >>> foreign_language("Die Rolle der Zentralbank für die Inflation nach der Krise")
    'German'
    >>> foreign_language("The role of the central bank in inflation"), foreign_language("")
    (None, None)
    >>> foreign_language("央行在通货膨胀中的作用")
    'a non-Latin script'
    """
    language = text_language(text)
    return None if language == "English" else language


#: what :meth:`ForeignTexts.warn` advises by default (zeroshot's)
_FOREIGN_ADVICE = ("outside English, label a sample with an LLM (tagsmith label) and train "
                   "on it")
#: ... and under a --lang other than English
_FOREIGN_ADVICE_LANG = ("name the labels in the documents' language (--lang), where the "
                        "vocabulary has it, or label a sample with an LLM (tagsmith label) "
                        "and train on it")

#: ... and to a Python caller (:meth:`ZeroShotClassifier.predict_topk`), in its terms
_FOREIGN_ADVICE_PYTHON = ("outside English, label a sample with an LLM (label_documents) and "
                          "train on it (distill_classifier)")
_FOREIGN_ADVICE_PYTHON_LANG = ("name the labels in the documents' language "
                               "(ZeroShotClassifier(..., lang=...)), where the vocabulary has "
                               "it, or label a sample with an LLM (label_documents) and train "
                               "on it (distill_classifier)")


#: how many of a :meth:`ZeroShotClassifier.predict_topk` call's texts its language check
#: reads, evenly spaced: checking every text took 7 s of the call's 9 s at 100,000
#: GoEmotions comments (with a stand-in encoder), and again on every batch; a share of
#: 1% in another language is all but sure to show in 1,000 (the chance it does not:
#: 0.99 ** 1000, 4e-5)
FOREIGN_SAMPLE = 1_000
#: ... and at least so many of a later call's, once a scorer has read
#: :data:`FOREIGN_SAMPLE` texts without a warning (a tenth of the call's texts, from
#: this up to :data:`FOREIGN_SAMPLE`: :func:`_later_sample`): a stream scored in batches
#: of 1,000 was checked whole, batch by batch (a share of 10% in another language shows
#: in 100 all but surely: 0.9 ** 100, 3e-5)
FOREIGN_SAMPLE_LATER = 100
#: the state of the language check (:meth:`ZeroShotClassifier.predict_topk`): what this
#: scorer read and whether it warned. Not carried to a copy (:meth:`restricted`, a pickle
#: for a pool): a copy of a scorer that had warned scored a new corpus unchecked
_FOREIGN_STATE = ("_foreign_said", "_foreign_read")


def _later_sample(n_texts: int) -> int:
    """How many of a call's ``n_texts`` the language check reads once its scorer has
    read :data:`FOREIGN_SAMPLE`: a tenth, at least :data:`FOREIGN_SAMPLE_LATER`, at most
    :data:`FOREIGN_SAMPLE`. A flat 100 read of a later call of 100,000 texts missed a share
    of 1% in another language more than one time in three (0.99 ** 100, 0.37).

    >>> _later_sample(500), _later_sample(5_000), _later_sample(100_000)
    (100, 500, 1000)
    """
    return max(FOREIGN_SAMPLE_LATER, min(FOREIGN_SAMPLE, n_texts // 10))


class ForeignTexts:
    """Counts the documents of a run that :func:`text_language` takes for another
    language than the label names' (``lang``, English by default), to warn once at its
    end (:meth:`warn`): the packaged encoder was trained on English, and ``zeroshot`` on
    German STW titles with English names gave P@1 0.37 against 1.00 on their English
    translations, without a word said. Under ``--lang de`` the German documents are not
    counted (German names on German STW titles gave P@1 0.95; that the encoder was
    trained on English the names' warning says, :func:`~tagsmith.cli.warn_english_encoder`),
    the English or French ones are; documents in a non-Latin script are not counted
    where ``lang`` is a language the heuristic does not know (``--lang ru``)."""

    def __init__(self, lang: str = "en", *, python: bool = False) -> None:
        self.lang = lang
        #: the names' language said as a Python caller gave it (``lang='de'``), not as
        #: the command line's option
        self.python = python
        code = lang.lower().split("-")[0]
        self.names_language = _LANGUAGE_OF_CODE.get(code)
        self.english = code == "en"
        self.n_docs = 0
        self.languages: dict[str, int] = {}

    def add(self, texts: Sequence[str]) -> None:
        detect = foreign_language if self.english else text_language
        names, known = self.names_language, self.names_language is not None
        for text in texts:
            language = detect(text)
            if language is None or language == names or (
                    not known and language == "a non-Latin script"):
                continue
            self.n_docs += 1
            self.languages[language] = self.languages.get(language, 0) + 1

    def warn(self, n_docs: int, advice: str | None = None, *,
             sampled_from: int | None = None) -> None:
        """Warn, where any of the ``n_docs`` documents looked written in another
        language than the names, how many did and in which, and ``advice``: what to do
        instead (by default zeroshot's). ``sampled_from``: the ``n_docs`` were a sample
        of that many documents (:meth:`ZeroShotClassifier.predict_topk`'s), which the
        warning says."""
        if not self.n_docs:
            return
        seen = sorted(self.languages.items(), key=lambda item: (-item[1], item[0]))
        counts = ", ".join(f"{language} {count:,}" for language, count in seen)
        of = (f" (a sample, evenly spaced, of the {sampled_from:,} given)"
              if sampled_from is not None and sampled_from > n_docs else "")
        if self.english:
            logger.warning(
                "%s of %s document%s%s look%s written in another language than English (%s, "
                "by %s commonest words or letters): the zero-shot encoder "
                "(all-MiniLM-L6-v2) was trained on English and matches such documents "
                "little better than chance (P@1 0.37 on German STW titles with English "
                "names, 1.00 on their English translations); %s", f"{self.n_docs:,}",
                f"{n_docs:,}", plural_s(n_docs), of, plural(self.n_docs, "s", ""), counts,
                plural(self.n_docs, "its", "their"), advice or _FOREIGN_ADVICE)
            return
        names = f"lang={self.lang!r}" if self.python else f"--lang {self.lang}"
        if self.names_language:
            names += f", {self.names_language}"
        logger.warning(
            "%s of %s document%s%s look%s written in another language than the label "
            "names (%s; %s, by %s commonest words or letters): the zero-shot encoder "
            "(all-MiniLM-L6-v2) matches documents to names in another language little "
            "better than chance (P@1 0.37 on German STW titles with English names, 1.00 "
            "on their English translations); %s", f"{self.n_docs:,}", f"{n_docs:,}",
            plural_s(n_docs), of, plural(self.n_docs, "s", ""), names, counts,
            plural(self.n_docs, "its", "their"), advice or _FOREIGN_ADVICE_LANG)


def _evenly_spaced(texts: Sequence[str], n: int) -> Sequence[str]:
    """``texts`` where there are at most ``n``, else ``n`` of them evenly spaced, the
    first and the last included: a stream's batches sorted or grouped (by source, by
    language) are read across, not by their head.

    >>> _evenly_spaced(list("abcdefghij"), 4), _evenly_spaced(list("abc"), 4)
    (['a', 'd', 'g', 'j'], ['a', 'b', 'c'])
    """
    if len(texts) <= n:
        return texts
    return [texts[int(i)] for i in np.linspace(0, len(texts) - 1, n).round()]


def _allowed_rows_index(index: str, n_rows: int, n_allowed: int) -> str:
    """How ``n_allowed`` of a scorer's ``n_rows`` label rows are searched, the scorer's
    ``index`` naming how it searches them all: exactly where it searches exactly, else as
    ``"auto"`` searches that many rows (:meth:`ZeroShotClassifier.restricted`, and a
    scorer built with ``allowed=`` on a cold cache, searched alike)."""
    if resolve_index_kind(index, n_rows) == "exact":
        return "exact"
    return resolve_index_kind("auto", n_allowed)


def warn_blank(n_blank: int, n_docs: int) -> None:
    """Warn that ``n_blank`` of ``n_docs`` documents got no zero-shot suggestion (empty,
    or without a letter or digit)."""
    logger.warning("%s of %s document%s %s empty or without a letter or digit: no "
                   "zero-shot suggestion for %s", f"{n_blank:,}", f"{n_docs:,}",
                   plural_s(n_docs), plural(n_blank, "is", "are"),
                   plural(n_blank, "it", "them"))


def warn_beyond_window(n_long: int, n_docs: int, window: int, *,
                       blended: bool = False) -> None:
    """Warn that ``n_long`` of ``n_docs`` documents hold more than the ``window`` word
    pieces the encoder reads (:func:`~tagsmith.zeroshot.encoder.n_beyond_window`).
    ``blended``: the scores were blended with a bundle's (``zeroshot --bundle``), whose
    model reads the whole text; only the zero-shot part is the beginning's."""
    scored = ("the zero-shot part of the scores read %s beginning alone, the bundle's "
              "model the whole text" if blended else "scored by %s beginning alone")
    logger.warning("%s of %s document%s %s longer than the %s word pieces (about %s words) "
                   "the encoder reads: " + scored + " (split a long document into parts, "
                   "one a line, to score the rest)", f"{n_long:,}",
                   f"{n_docs:,}", plural_s(n_docs), plural(n_long, "is", "are"),
                   f"{window:,}", f"{int(round(window * 0.78, -1)):,}",
                   plural(n_long, "its", "their"))


class ZeroShotClassifier:
    """Scores the labels of ``label_space`` for texts by embedding similarity: zero-shot
    labelling, without training documents (the ``zeroshot`` command's scores). Each
    label's texts (name, alternative labels, ``"name: description"``) are embedded once,
    here; :meth:`predict_topk` embeds the documents and gives each its best labels.

    >>> from tagsmith import load_vocabulary
    >>> from tagsmith.zeroshot.encoder import SentenceEncoder
    >>> space = load_vocabulary("examples/goemotions/vocab.tsv")  # doctest: +SKIP
    >>> zeroshot = ZeroShotClassifier(space, SentenceEncoder())  # doctest: +SKIP
    >>> zeroshot.predict_topk(["Thank you, this made my day!"], k=3)  # doctest: +SKIP
    TopK(n_docs=1, k=3, n_labels=28, n_padded=0)

    ``encoder``: a :class:`~tagsmith.zeroshot.encoder.SentenceEncoder`
    (``SentenceEncoder()`` loads the packaged all-MiniLM-L6-v2: the ``embed`` extra); any
    object with ``name``, an int ``dim`` and ``encode(texts, *, show_progress=False)``
    (unit vectors) will do, as the stand-in below.
    ``lang``: the language of the label texts embedded (a label without a name in it is
    embedded by its English name, else its first; alternative labels and descriptions
    are read in ``lang`` only). ``template``: each label text is embedded as
    ``template.format(text)`` (one ``{}``, e.g. ``"This text is about {}."``).
    ``use_alt_labels``, ``use_descriptions``: embed the labels' alternative labels and
    descriptions too (a label scores a document by its best text).
    ``index``: ``"auto"``, ``"exact"`` or ``"hnsw"`` (see :mod:`tagsmith.zeroshot.index`).
    ``cache_dir``: where label embeddings are cached (:func:`embed_cached`); ``None`` or
    ``""`` for no cache (``""`` as on the command line, not the working directory).
    ``show_progress``: progress bars while label texts and documents are embedded (see
    :mod:`tagsmith.progress`).
    ``allowed``: a boolean mask over the labels that are to be scored (``zeroshot
    --only``); where the whole vocabulary's embeddings are not in ``cache_dir`` (or there
    is none), only the allowed labels' texts are embedded (and cached as a part file,
    :func:`embed_cached`) and the scorer ranks those labels alone, as
    :meth:`restricted` of a whole scorer does (same labels and order; scores the same
    to float32 rounding); where they are, it holds every label. Ask
    :func:`restricted_scorer` for the scorer to rank with either way (None: ask this one
    for ``k`` plus the denied labels and drop those).

    Scores in the returned :class:`TopK` are cosine similarities in [-1, 1]; after
    :meth:`fit_background`, cosines less half each label row's hubness (module
    docstring), in [-1.5, 1.5].

    A stand-in encoder of one dimension per word:

    >>> import numpy as np
    >>> from tagsmith.data.labelspace import Label, LabelSpace
    >>> class WordEncoder:
    ...     name, dim, words = "words", 3, ("football", "concert", "weather")
    ...     def encode(self, texts, *, show_progress=False):
    ...         vectors = np.array([[word in text.lower() for word in self.words]
    ...                             for text in texts], np.float32) + 0.01
    ...         return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    >>> space = LabelSpace([Label("u:sport", {"en": "football"}),
    ...                     Label("u:music", {"en": "concert"})])
    >>> zeroshot = ZeroShotClassifier(space, WordEncoder())
    >>> topk = zeroshot.predict_topk(["the football final", "a concert tonight"], k=1)
    >>> [space.uris[i] for i in topk.indices[:, 0]], topk.scores[:, 0].round(2).tolist()
    (['u:sport', 'u:music'], [1.0, 1.0])
    """

    def __init__(self, label_space: LabelSpace, encoder: Encoder, *, lang: str = "en",
                 template: str = "{}", index: str = "auto", cache_dir: str | Path | None = None,
                 use_alt_labels: bool = True, use_descriptions: bool = True,
                 show_progress: bool = False, allowed: np.ndarray | None = None):
        self.label_space = _check_label_space(label_space)
        index = check_choice("index", index, INDEX_KINDS)  # before minutes of embedding
        # None was an AttributeError on 'encode', cache_dir=5 a TypeError from pathlib,
        # show_progress="no" read as True
        check_encoder(encoder)
        check_cache_dir(cache_dir)
        self.encoder = encoder
        self.show_progress = check_bool("show_progress", show_progress)
        self.lang = lang  # the names' language (ForeignTexts of zeroshot --eval)
        texts, self.owners = label_texts(label_space, lang=lang, template=template,
                                         use_alt_labels=use_alt_labels,
                                         use_descriptions=use_descriptions)
        if not texts:
            deprecated = int(label_space.deprecated_mask.sum())
            if deprecated and deprecated == len(label_space):
                # "at least one label with a name" sent users looking for missing names
                raise InvalidParameterError(
                    "label_space", "at least one label that is not deprecated (zero-shot "
                    "never suggests a deprecated label; no option includes them: mark the "
                    "labels to suggest as not deprecated in the vocabulary)",
                    f"{deprecated} label{plural_s(deprecated)}, every one deprecated")
            unnamed = sum(1 for label in label_space if not label.pref_labels)
            raise InvalidParameterError(
                "label_space", "at least one label with a name"
                + (" (a space built by LabelSpace.from_uris(names) has URIs and no names: "
                   "build it with LabelSpace.from_names(names), or give from_uris "
                   "names={uri: name})" if unnamed == len(label_space) else ""), 0)
        #: the labels this scorer alone holds the rows of (``allowed``, where the whole
        #: vocabulary's embeddings were not cached), or None: every label's
        self.allowed: np.ndarray | None = None
        self._left_out = np.zeros(0, np.int64)
        vectors = None
        if allowed is not None:
            allowed = _label_mask("allowed", allowed, len(label_space), default=False)
            keep = allowed[self.owners]
            if not keep.any():
                raise InvalidParameterError("allowed", "a mask allowing at least one "
                                            "label with a label text (not deprecated)", "none")
            if not keep.all():
                # the whole vocabulary's embeddings where cached (restricted_scorer then
                # searches them, or their saved HNSW graph); else the allowed labels'
                # texts alone are embedded: zeroshot --only of 300 of YSO's labels on a
                # cold cache embedded all 27,754 texts (21 min)
                vectors = cached_vectors(encoder, texts, cache_dir)
                if vectors is None:
                    rows = np.flatnonzero(keep)
                    texts = [texts[i] for i in rows]
                    # the labels with a text left out: restricted_scorer refuses a mask
                    # allowing one of them (this scorer cannot rank it)
                    self._left_out = np.unique(self.owners[~keep])
                    # searched as restricted() searches the allowed rows of a whole
                    # scorer: --index hnsw with 300 allowed built an approximate graph
                    # over them where the warm cache's run searched them exactly
                    index = _allowed_rows_index(index, len(self.owners), len(rows))
                    self.owners = self.owners[rows]
                    self.allowed = allowed
        if resolve_index_kind(index, len(texts)) == "hnsw":
            # the index is built on first use: without hnswlib, after every label text
            # was embedded (minutes at a large vocabulary)
            require_hnswlib()
        if vectors is None:
            vectors = embed_cached(encoder, texts, cache_dir, show_progress=show_progress,
                                   part=self.allowed is not None)
        self.label_vectors = vectors
        # an HNSW graph is saved beside the embeddings and read back on the next run
        self._index_cache = index_cache_prefix(encoder, texts, cache_dir,
                                               part=self.allowed is not None)
        self.index_kind = index
        self.rows_per_label = max(1, int(np.bincount(self.owners).max()))
        #: ids of the labels that own label rows (not deprecated)
        self.live_labels = np.unique(self.owners)
        #: per label row, mean cosine to its nearest background documents (None: no
        #: hubness correction)
        self.hubness: np.ndarray | None = None
        #: the largest of ``hubness`` (of the whole vocabulary's rows in a copy of
        #: :meth:`restricted`)
        self._hubness_max = 0.0
        self._index: ExactIndex | HnswIndex | None = None
        # requests arriving together each found no index and built their own (an HNSW
        # graph over a large label space takes minutes): one builds, the rest wait
        self._index_lock = threading.Lock()

    def __repr__(self) -> str:
        # one line at a prompt (it was <...ZeroShotClassifier object at 0x7f...>)
        return (f"{type(self).__name__}(n_labels={len(self.label_space)}, "
                f"n_label_texts={len(self.owners)}, index={self.index_kind!r}, "
                f"background={self.hubness is not None})")

    @property
    def index(self) -> ExactIndex | HnswIndex:
        """The label search index, built on first use (over the corrected vectors after
        :meth:`fit_background`)."""
        index = self._index
        if index is None:
            with self._index_lock:
                index = self._index
                if index is None:
                    vectors = self.label_vectors if self.hubness is None else np.hstack(
                        [self.label_vectors, (-0.5 * self.hubness)[:, None]]
                    ).astype(np.float32)
                    # (a corrected index has one more column: a file of its own)
                    index = self._index = build_index(vectors, self.index_kind,
                                                      cache_prefix=self._index_cache)
        return index

    @index.setter
    def index(self, index: ExactIndex | HnswIndex) -> None:
        self._index = index

    def __getstate__(self) -> dict:
        # a multiprocessing pool pickles its arguments: the lock failed it ("cannot
        # pickle '_thread.lock' object"); the copy gets a lock of its own. The language
        # check's state stays too: a copy checks the texts it is given afresh
        return {name: value for name, value in self.__dict__.items()
                if name != "_index_lock" and name not in _FOREIGN_STATE}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._index_lock = threading.Lock()

    def clear_background(self) -> ZeroShotClassifier:
        """Drop the hubness correction: plain cosines again. Returns ``self``."""
        self.hubness = None
        self._index = None
        return self

    def fit_background(self, texts: Iterable[str] | None = None, *,
                       vectors: np.ndarray | None = None,
                       neighbors: int = 10) -> ZeroShotClassifier:
        """Correct for hub labels with unlabelled documents of the collection.

        ``texts`` (or their embeddings, ``vectors``): a sample of the documents to be
        labelled, or of the same kind -- no labels needed. A few thousand are plenty
        (the benchmark uses 5,000). Each label row's hubness is its mean cosine to its
        ``neighbors`` most similar background documents, and its scores are lowered by
        half of it from then on. Returns ``self``.
        """
        neighbors = check_int("neighbors", neighbors, 1)
        if (texts is None) == (vectors is None):
            raise InvalidParameterError("texts", "background texts or their vectors (one "
                                        "of the two)", "both" if texts is not None else None)
        if vectors is None:
            vectors = self.embed(self._without_blanks(texts))
        dim = self.label_vectors.shape[1]
        vectors = np.ascontiguousarray(_check_doc_vectors("background", vectors, dim))
        if not len(vectors):
            raise InvalidParameterError("background", f"at least one document (vectors of "
                                        f"dimension {dim})", vectors.shape)
        neighbors = min(neighbors, len(vectors))
        labels = np.ascontiguousarray(self.label_vectors, dtype=np.float32)
        hubness = np.empty(len(labels), np.float32)
        block = max(1, HUBNESS_BLOCK_ENTRIES // len(vectors))
        for start in range(0, len(labels), block):
            sims = labels[start:start + block] @ vectors.T
            if neighbors < sims.shape[1]:
                sims = np.partition(sims, sims.shape[1] - neighbors, axis=1)[:, -neighbors:]
            hubness[start:start + block] = sims.mean(axis=1)
        self.hubness = hubness
        self._hubness_max = float(hubness.max())
        self._index = None
        logger.info("zero-shot hubness from %s background document%s: median %.3f, "
                    "max %.3f", f"{len(vectors):,}", plural_s(len(vectors)),
                    float(np.median(hubness)), float(hubness.max()))
        return self

    @staticmethod
    def _without_blanks(texts) -> list[str]:
        """Background ``texts`` less those without a word (:func:`blank_texts`; a log
        message counts them): each was embedded as ``"."`` (or near it) and counted toward
        every label row's hubness, where :meth:`predict_topk` gives such a document no
        suggestion."""
        from tagsmith.features.tfidf import _as_list

        texts = _as_list(texts)
        kept = [text for text, blank in zip(texts, blank_texts(texts), strict=True)
                if not blank]
        if len(kept) < len(texts):
            n_blank = len(texts) - len(kept)
            logger.info("%s of %s background document%s %s no letter or digit: left out "
                        "of the hubness correction", f"{n_blank:,}", f"{len(texts):,}",
                        plural_s(len(texts)), plural(n_blank, "is empty or has",
                                                     "are empty or have"))
        if texts and not kept:
            raise InvalidParameterError("texts", "at least one background document with a "
                                        "letter or digit",
                                        f"{len(texts):,}, every one blank or punctuation alone")
        return kept

    def restricted(self, allowed: np.ndarray) -> ZeroShotClassifier:
        """A copy that scores only the labels the boolean mask ``allowed``
        (``(n_labels,)``) allows: their label rows alone are searched, so its top ``k``
        is that of this scorer's ranking with every other label left out (the same
        labels, in the same order, with the same scores: :meth:`topk_from_embeddings`),
        where asking this scorer for ``k`` plus every label denied ranked nearly the
        whole vocabulary for each document (``zeroshot --only`` of 10 of YSO's 25,000
        labels). Label ids stay those of ``label_space``; the embeddings and the hubness
        correction are shared, not recomputed. The copy checks its texts' language
        afresh (:meth:`predict_topk`), whether or not this scorer has warned.

        The allowed rows are searched as ``"auto"`` searches that many rows (exactly up
        to :data:`HNSW_FROM_ROWS` of them, else by an HNSW graph of their own, built
        here and not cached), or exactly where this scorer searches exactly.
        """
        allowed = _label_mask("allowed", allowed, self.n_labels, default=False)
        rows = np.flatnonzero(allowed[self.owners])
        if not len(rows):
            raise InvalidParameterError("allowed", "a mask allowing at least one label "
                                        "with a label text (not deprecated)", "none")
        copy = type(self).__new__(type(self))
        copy.__setstate__(self.__getstate__())
        copy.label_vectors = self.label_vectors[rows]
        copy.owners = self.owners[rows]
        copy.hubness = None if self.hubness is None else self.hubness[rows]
        copy.rows_per_label = max(1, int(np.bincount(copy.owners).max()))
        copy.live_labels = np.unique(copy.owners)
        copy.index_kind = _allowed_rows_index(self.index_kind, len(self.owners), len(rows))
        copy._index_cache = None
        copy._index = None
        return copy

    @property
    def n_labels(self) -> int:
        """The labels of ``label_space`` (the width of the scores)."""
        return len(self.label_space)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` (a list of str; a bare str is refused, where iterating
        it scored one document per character)."""
        from tagsmith.features.tfidf import _as_list

        return self.encoder.encode(_as_list(texts), show_progress=self.show_progress)

    def predict_topk(self, texts: Iterable[str], k: int = 10, *, warn: bool = True,
                     warn_foreign: bool | None = None, vectors: np.ndarray | None = None) -> TopK:
        """Top ``k`` labels per text (``n_docs x k``), best cosine first.

        A text without a word -- empty, whitespace only, or punctuation and symbols
        alone, without a letter or digit (:func:`blank_texts`) -- gets no label (an empty
        row; a warning counts such texts, :func:`warn_blank`, unless ``warn`` is false:
        a caller scoring a stream in batches counts them over all of it): it has nothing
        to match a label by, and its embedding (of ``"."`` for an empty text) gave every
        such document the same confident-looking labels.

        Texts that look written in another language than the label names (``lang``)
        are counted and warned of, as the ``zeroshot`` command warns of them
        (:class:`ForeignTexts`: the encoder was trained on English, and matches them
        little better than chance), unless ``warn_foreign`` is false (``None``: as
        ``warn``): at most :data:`FOREIGN_SAMPLE` of a call's texts, evenly spaced, are
        checked (a tenth of them, :data:`FOREIGN_SAMPLE_LATER` to :data:`FOREIGN_SAMPLE`,
        once this scorer has read that many), and once a call has warned, this scorer
        checks no more by default (a notebook scoring a stream in batches was warned on
        every batch, and checking each of 100,000 texts cost 7 s); ``warn_foreign=True``
        checks a call's texts all the same (a new corpus), as a first call's. A copy
        (:meth:`restricted`, a pickle) checks afresh.

        ``vectors``: the texts' embeddings, one row a text, where the caller has them
        (``label --shortlist-zeroshot``'s, read from its cache); ``None``: embedded here.
        """
        from tagsmith.features.tfidf import _as_list

        texts = _as_list(texts)
        if vectors is None:
            vectors = self.embed(texts)
        elif len(vectors) != len(texts):
            raise InvalidParameterError("vectors", f"{len(texts):,} rows (one a text)",
                                        f"{len(vectors):,}")
        topk = self.topk_from_embeddings(vectors, k)
        # warn_foreign=True, given: checked even after a warning (a second corpus got
        # none, asked for or not), read as a first call's
        forced = warn_foreign is True
        if (warn if warn_foreign is None else warn_foreign) and (
                forced or not getattr(self, "_foreign_said", False)):
            # a notebook zero-shotting German texts with English names was told nothing
            # (P@1 0.37 against 1.00 on their translations): the command line's check,
            # on a sample, and said once a scorer (a race of two threads says it twice)
            foreign = ForeignTexts(self.lang, python=True)
            read = getattr(self, "_foreign_read", 0)
            checked = _evenly_spaced(texts, FOREIGN_SAMPLE if forced or read < FOREIGN_SAMPLE
                                     else _later_sample(len(texts)))
            foreign.add(checked)
            self._foreign_read = read + len(checked)
            if foreign.n_docs:
                self._foreign_said = True
                foreign.warn(len(checked), (_FOREIGN_ADVICE_PYTHON if foreign.english
                                            else _FOREIGN_ADVICE_PYTHON_LANG)
                             + " (said once for this ZeroShotClassifier: its later calls "
                             "are not checked unless given warn_foreign=True)",
                             sampled_from=len(texts))
        blank = blank_texts(texts)
        if blank.any():
            if warn:
                warn_blank(int(blank.sum()), len(texts))
            topk = _without_suggestions(topk, blank)
        return topk

    def suggest(self, texts: Iterable[str], *, k: int = 10, lang: str | None = None,
                warn_foreign: bool | None = None) -> list[list[Suggestion]]:
        """:meth:`predict_topk`'s labels by name, as :meth:`TextClassifier.suggest
        <tagsmith.pipeline.classifier.TextClassifier.suggest>` gives them: per text, its
        ``k`` best labels, best first, each a
        :class:`~tagsmith.pipeline.classifier.Suggestion` (``label_id``, ``uri``,
        ``label``: the name in ``lang``, None: the language the scorer embedded names
        in; ``score``: the cosine). A blank text gets none. A table of them:
        ``pandas.DataFrame([s.to_dict() for s in row])`` per text. ``warn_foreign``:
        as :meth:`predict_topk`'s (false: no warning of texts in another language; None,
        the default: checked until this scorer has warned; true: checked even after).
        """
        from tagsmith.pipeline.classifier import Suggestion

        lang = self.lang if lang is None else check_language("lang", lang)
        # warn_foreign: the warning could be turned off only by the logger's level
        topk = self.predict_topk(texts, k, warn_foreign=warn_foreign)
        space = self.label_space
        return [[Suggestion(int(i), space.uri_of(int(i)), space.name_of(int(i), lang),
                            float(score)) for i, score in zip(ids, scores, strict=True)]
                for ids, scores in topk.rows()]

    def _search_labels(self, doc_vectors: np.ndarray, fetch: int, k: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(doc, owner label, similarity) of the best label rows of each document: its
        ``fetch`` best, or more until they name ``k`` distinct labels (or all of them).

        A label owns several rows (alternative labels, description), and one with many
        rows close to a document can fill all ``fetch`` of them; the labels after it
        would then be missing, or ranked on lesser rows. Once the best rows name ``k``
        labels, those are the ``k`` best labels (a label's score is its best row)."""
        n_rows = len(self.owners)
        want = min(k, len(self.live_labels))
        pending = np.arange(len(doc_vectors))
        parts = []
        while len(pending):
            rows, sims = self.index.search(doc_vectors[pending], fetch)
            labels = self.owners[rows]
            if fetch >= n_rows:
                done = np.ones(len(pending), bool)
            else:
                ordered = np.sort(labels, axis=1)
                distinct = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(axis=1)
                done = distinct >= want
            parts.append((np.repeat(pending[done], rows.shape[1]), labels[done].ravel(),
                          sims[done].ravel()))
            pending = pending[~done]
            fetch = min(n_rows, 2 * fetch)
        docs, labels, sims = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
        return docs, labels, sims

    def topk_from_embeddings(self, doc_vectors: np.ndarray, k: int) -> TopK:
        """As :meth:`predict_topk`, from document embeddings (``n_docs x dim``)."""
        k = _check_k(k, None)
        doc_vectors = _check_doc_vectors("doc_vectors", doc_vectors,
                                         self.label_vectors.shape[1])
        n_docs = len(doc_vectors)
        if n_docs == 0:
            return TopK.empty(0, min(k, self.n_labels), self.n_labels)
        fetch = min(len(self.owners), k * (ROW_EXPANSION if self.rows_per_label > 1 else 1))
        shift = 1.0 + 1e-6
        if self.hubness is not None:
            doc_vectors = np.hstack([doc_vectors, np.ones((n_docs, 1), np.float32)])
            # of every label row, a restricted copy's too (:meth:`restricted`): the scores
            # come back through the same shift, bit for bit those of the whole vocabulary
            shift += 0.5 * max(0.0, self._hubness_max, float(self.hubness.max()))
        docs, labels, sims = self._search_labels(doc_vectors, fetch, k)
        # keep each (doc, label)'s best row: sort by doc, label, -sim and take firsts
        order = np.lexsort((-sims, labels, docs))
        docs, labels, sims = docs[order], labels[order], sims[order]
        first = np.ones(len(docs), bool)
        first[1:] = (docs[1:] != docs[:-1]) | (labels[1:] != labels[:-1])
        # TopK rows pad with -inf; shift scores above 0 so no score is an implicit 0
        matrix = sp.csr_matrix((sims[first] + shift, (docs[first], labels[first])),
                               shape=(n_docs, self.n_labels))
        topk = TopK.from_csr(matrix, min(k, self.n_labels))
        scores = np.where(topk.valid, topk.scores - shift, -np.inf)
        return TopK._trusted(topk.indices, scores, self.n_labels)


def label_sets_by_margin(topk: TopK, margin: float = 0.0, min_score: float | None = None
                         ) -> sp.csr_matrix:
    """Label sets without any labelled data: each document's best label plus every label
    within ``margin`` of its best score. With ``min_score``, only labels scoring at least
    ``min_score`` are kept, the best one too: a document whose best score is below it
    gets an empty set.

    >>> topk = TopK(np.array([[2, 0, 1]]), np.array([[0.5, 0.48, 0.2]]), 3)
    >>> label_sets_by_margin(topk, 0.05).toarray().astype(int).tolist()
    [[1, 0, 1]]
    >>> label_sets_by_margin(topk, 0.05, min_score=0.6).toarray().astype(int).tolist()
    [[0, 0, 0]]
    """
    topk = check_topk(topk)
    # a negative margin kept the best label alone, NaN too; a str was a numpy error
    margin = check_number("margin", margin, 0, numpy=True)
    if min_score is not None and (isinstance(min_score, bool) or not isinstance(
            min_score, numbers.Real) or np.isnan(min_score)):
        raise InvalidParameterError("min_score", "None or a number (not NaN)", min_score)
    best = topk.scores[:, :1]
    keep = topk.valid & (topk.scores >= best - margin)
    keep[:, 0] |= topk.valid[:, 0]  # the best label always (inf - inf compares false)
    if min_score is not None:
        # a minimum asked for holds for the best label too (it was kept below it)
        keep &= topk.scores >= min_score
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    return sp.csr_matrix((np.ones(int(indptr[-1]), bool), topk.indices[keep], indptr),
                         shape=(len(topk), topk.n_labels))


def softmax_scores(topk: TopK, temperature: float = 0.05) -> TopK:
    """Cosines turned into a distribution over each row's candidates (scores in [0, 1]).

    >>> topk = TopK(np.array([[0, 1]]), np.array([[0.6, 0.5]]), 2)
    >>> softmax_scores(topk, 0.1).scores.astype(float).round(3).tolist()
    [[0.731, 0.269]]
    """
    topk = check_topk(topk)
    check_number("temperature", temperature, 0, strict=True, numpy=True)
    valid = topk.valid
    # the row's best score is subtracted before dividing, in float64: a tiny temperature
    # (1e-39) divided float32 cosines into infinities, inf - inf was NaN and every
    # candidate got probability 0; now the gaps are <= 0 and at worst -inf (weight 0)
    scores = topk.scores.astype(np.float64)
    best = np.max(np.where(valid, scores, -np.inf), axis=1, keepdims=True, initial=-1e30)
    scaled = np.full_like(scores, -np.inf)
    with np.errstate(over="ignore"):
        np.divide(scores - best, temperature, out=scaled, where=valid)
    weights = np.where(valid, np.exp(scaled), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    probs = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    return TopK._trusted(topk.indices, np.where(valid, probs, -np.inf).astype(np.float32),
                         topk.n_labels)


def blend_topk(model_topk: TopK | None, zeroshot_topk: TopK, *, weight: float = 0.5,
               k: int = 10, known_labels: np.ndarray | None = None,
               temperature: float = 0.05, exclude: np.ndarray | None = None,
               model_space: LabelSpace | None = None,
               zeroshot_space: LabelSpace | None = None,
               replacements: Mapping[int, Sequence[int]] | None = None) -> TopK:
    """``(1 - weight) * model + weight * zero-shot`` over the union of candidates.

    Zero-shot cosines first become a distribution over each document's candidates
    (:func:`softmax_scores`). The weight applies to every label alike: ``weight=0`` is
    the model alone, ``weight=1`` zero-shot alone (that side's top k as it ranks and
    scores it, less the labels not suggested here, its places of score 0 included).
    Labels outside ``known_labels`` (boolean, ``(n_labels,)``; labels the model was
    never trained on, e.g. added to the vocabulary after training) have a model score
    of 0, so they rank on
    ``weight * zero-shot``: a brand-new label can be suggested before it has a single
    training document whenever the zero-shot share is above 0. ``model_topk`` may cover
    fewer labels (an older label space whose ids are a prefix of the new one).
    ``exclude`` (boolean, ``(n_labels,)``; e.g. the label space's ``deprecated_mask``)
    labels are never suggested: ask the model for ``k`` plus the number of its labels
    excluded or not known, so its top-k still holds its ``k`` best of the others. A
    document without any zero-shot candidate (an empty text, to which
    :meth:`ZeroShotClassifier.predict_topk` gives none) gets no suggestion either,
    whatever the weight: a model's scores of an empty text are its label priors, not
    evidence.

    A :class:`TopK` holds label ids alone: a model of another vocabulary of the same
    size (or of the same labels in another order) would be blended id by id, each
    label with another's scores. Give ``model_space`` (the model's
    ``label_space``) and ``zeroshot_space`` (the scorer's) and the two are checked to
    agree: every model id on the same URI in the zero-shot space, as
    ``LabelSpace.updated`` keeps them when a new vocabulary is merged into the model's
    (the CLI's ``zeroshot --bundle`` does that, and passes both).

    ``replacements`` (label id -> the ids replacing it, as
    :meth:`LabelSpace.replacements` gives a deprecated label's ``dct:isReplacedBy``)
    passes each replaced label's model score on to each of its replacements, which
    take the larger of it and their own (the maximum, not the sum: a score stays a
    probability however many retired labels one replaces), and count as known: a
    label the model learned as the old concept is suggested as the new one, where its
    model score was lost. A replaced label passes its score on whether or not it is in
    ``known_labels`` (a deprecated label is no label to suggest; it is also in
    ``exclude``): give only the replacements of labels the model was trained on.

    The blend depends on how wide each top-k is (the zero-shot distribution is over
    ``zeroshot_topk``'s candidates, and a label outside ``model_topk`` has model score
    0): give both of the same width whatever ``k`` (the CLI gives
    :data:`BLEND_CANDIDATES`, or ``k`` if more), so a smaller ``k`` is a prefix of a
    larger one's answer.

    >>> model = TopK(np.array([[0, 1]]), np.array([[0.9, 0.2]]), 2)
    >>> zs = TopK(np.array([[2, 1]]), np.array([[0.7, 0.3]]), 3)
    >>> out = blend_topk(model, zs, weight=0.5, k=3, known_labels=np.array([1, 1, 0], bool))
    >>> out.indices.tolist()
    [[2, 0, 1]]
    >>> blend_topk(model, zs, weight=0.0, k=3).indices.tolist()  # the model alone
    [[0, 1, -1]]
    """
    weight = check_number("weight", weight, 0, maximum=1, numpy=True)
    zeroshot_topk = check_topk(zeroshot_topk, "zeroshot_topk")
    if model_topk is not None:
        model_topk = check_topk(model_topk, "model_topk")
    _check_blend_spaces(model_topk, zeroshot_topk, model_space, zeroshot_space)
    n_labels = zeroshot_topk.n_labels
    k = min(check_int("k", k, 1, numpy=True), n_labels)  # before any work
    probabilities = softmax_scores(zeroshot_topk, temperature)
    known = _label_mask("known_labels", known_labels, n_labels, default=True)
    if known_labels is None and model_topk is not None:
        known[model_topk.n_labels:] = False
    allowed = ~_label_mask("exclude", exclude, n_labels, default=False)
    if model_topk is not None and (len(model_topk) != len(zeroshot_topk)
                                   or model_topk.n_labels > n_labels):
        raise InvalidParameterError("model_topk", "one row per document, labels a prefix "
                                    "of the zero-shot label space", model_topk.n_labels)
    if model_topk is not None and replacements:
        model_topk, known = _passed_on(model_topk, known, replacements, n_labels)
    # one side alone is that side's own top k, in its order and with its scores: through
    # the sparse blend below, weight 0 dropped the model's labels of score 0 (a k-NN
    # model fills its top k with them, most frequent first) and re-ranked its ties by id
    if model_topk is None or weight == 1.0:
        topk = _first_allowed(probabilities, allowed, k, n_labels)
    elif weight == 0.0:
        topk = _first_allowed(model_topk, known & allowed, k, n_labels)
    else:
        model = model_topk.to_csr()
        model = sp.csr_matrix((np.clip(model.data, 0, 1), model.indices, model.indptr),
                              shape=(len(model_topk), n_labels))
        model = sp.csr_matrix(model @ sp.diags(known.astype(np.float32)))
        model.eliminate_zeros()  # a label the model never trained on is no model candidate
        topk = _blended_topk(model * (1.0 - weight) + probabilities.to_csr() * weight,
                             allowed, k, n_labels)
    return _without_suggestions(topk, zeroshot_topk.valid.sum(axis=1) == 0)


def _passed_on(model_topk: TopK, known: np.ndarray, replacements: Mapping[int, Sequence[int]],
               n_labels: int) -> tuple[TopK, np.ndarray]:
    """``model_topk`` (over ``n_labels`` labels, its unknown labels dropped) with each
    replaced label's score given to each of its replacements too, which keep the larger
    of it and their own; and ``known`` with the replacements added."""
    model = model_topk.to_csr().tocoo()
    sources, targets = [], []
    for source, ids in replacements.items():
        for target in ids:
            if not 0 <= source < n_labels or not 0 <= target < n_labels:
                raise InvalidParameterError("replacements", f"label ids in [0, {n_labels})",
                                            (source, target))
            sources.append(source)
            targets.append(target)
    if not sources:
        return model_topk, known
    # every (source, target) pair: the entries of a source column, once per target
    order = np.argsort(sources, kind="stable")
    source_of, target_of = np.asarray(sources)[order], np.asarray(targets)[order]
    keep = known[model.col]
    own = (model.row[keep], model.col[keep], model.data[keep])
    rows, cols, scores = model.row, model.col, model.data
    first = np.searchsorted(source_of, cols, side="left")
    last = np.searchsorted(source_of, cols, side="right")
    counts = last - first
    entry = np.repeat(np.arange(len(cols)), counts)
    pair = np.repeat(first - np.cumsum(np.concatenate([[0], counts[:-1]])), counts) \
        + np.arange(len(entry))
    rows = np.concatenate([own[0], rows[entry]])
    new_cols = np.concatenate([own[1], target_of[pair]])
    scores = np.concatenate([own[2], scores[entry]])
    # one entry per (row, label): the largest of its scores
    by = np.lexsort((-scores, new_cols, rows))
    rows, new_cols, scores = rows[by], new_cols[by], scores[by]
    head = np.ones(len(rows), bool)
    head[1:] = (rows[1:] != rows[:-1]) | (new_cols[1:] != new_cols[:-1])
    passed = sp.csr_matrix((scores[head], (rows[head], new_cols[head])),
                           shape=(len(model_topk), n_labels))
    known = known.copy()
    known[target_of] = True
    width = max(int(np.diff(passed.indptr).max(initial=0)), 1)
    return TopK.from_csr(passed, min(width, n_labels)), known


#: :func:`restricted_scorer` copies the allowed rows only where at least one row in
#: this many is denied; fewer denied, the whole scorer is asked for ``k`` plus those
RESTRICT_FROM_DENIED = 10


def restricted_scorer(scorer: ZeroShotClassifier, allowed: np.ndarray
                      ) -> ZeroShotClassifier | None:
    """``scorer.restricted(allowed)`` (:meth:`ZeroShotClassifier.restricted`), or None
    where that would build an HNSW graph of its own over more than
    :data:`HNSW_FROM_ROWS` allowed rows (minutes, each run) where ``scorer`` has one,
    cached, over all of them: there, a few labels denied, ask ``scorer`` for ``k`` plus
    the denied ones and keep the allowed (:func:`_first_allowed`). None too where
    nearly every row is allowed (``--exclude`` of a few labels): the copy would hold
    nearly the whole label-embedding matrix, searched as ``scorer`` searches it, and
    asking for ``k`` plus the few denied costs next to nothing. ``scorer`` itself where
    it was built over the allowed labels alone (its ``allowed``, a cold cache)."""
    allowed = _label_mask("allowed", allowed, scorer.n_labels, default=False)
    n_rows = len(scorer.owners)
    n_allowed = int(allowed[scorer.owners].sum())
    if getattr(scorer, "allowed", None) is not None:
        # built over its allowed labels' rows alone: a label it left out was ranked
        # nowhere, silently (restricted_scorer gave this scorer back)
        left_out = getattr(scorer, "_left_out", np.zeros(0, np.int64))
        other = int(allowed[left_out].sum())
        if other:
            raise InvalidParameterError(
                "allowed", "labels the scorer was built with allowed= for (on a cold "
                "cache it embedded those labels' texts alone)",
                f"a mask allowing {other:,} other label{plural_s(other)}")
        if n_allowed == n_rows:
            return scorer
    if n_allowed and (n_rows - n_allowed) * RESTRICT_FROM_DENIED <= n_rows:
        return None
    if n_allowed > HNSW_FROM_ROWS and \
            resolve_index_kind(scorer.index_kind, n_rows) == "hnsw":
        return None
    return scorer.restricted(allowed)


def _first_allowed(topk: TopK, allowed: np.ndarray, k: int, n_labels: int) -> TopK:
    """The first ``k`` entries of each row of the sorted ``topk`` whose labels the
    boolean ``allowed`` (``(n_labels,)``) allows, in ``topk``'s order and with its scores
    (``k`` wide, padded)."""
    keep = topk.valid & allowed[np.where(topk.valid, topk.indices, 0)]
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept first, in their order
    kept = np.take_along_axis(keep, order, axis=1)
    return TopK._trusted(
        np.where(kept, np.take_along_axis(topk.indices, order, axis=1), PAD),
        np.where(kept, np.take_along_axis(topk.scores, order, axis=1), -np.inf),
        n_labels).padded_to(k)


def _blended_topk(blended, allowed: np.ndarray, k: int, n_labels: int) -> TopK:
    """Top ``k`` of the sparse blended scores among the ``allowed`` labels."""
    blended = sp.csr_matrix(blended, dtype=np.float64, copy=True)
    blended.data += 1e-6  # keep zero blends as candidates
    blended = sp.csr_matrix(blended @ sp.diags(allowed.astype(np.float64)))
    blended.eliminate_zeros()  # excluded labels are no candidates at all
    topk = TopK.from_csr(blended, k)
    return TopK._trusted(topk.indices, np.where(topk.valid, topk.scores - 1e-6, -np.inf),
                         n_labels)


def _without_suggestions(topk: TopK, rows: np.ndarray) -> TopK:
    """``topk`` with the documents of the boolean mask ``rows`` given no label."""
    if not rows.any():
        return topk
    indices, scores = topk.indices.copy(), topk.scores.copy()
    indices[rows], scores[rows] = PAD, -np.inf
    return TopK._trusted(indices, scores, topk.n_labels)


def _check_blend_spaces(model_topk: TopK | None, zeroshot_topk: TopK,
                        model_space: LabelSpace | None, zeroshot_space: LabelSpace | None
                        ) -> None:
    """Refuse label spaces (of :func:`blend_topk`) that are not those of the top-ks, or
    whose ids do not name the same labels; nothing to check without them."""
    if model_space is None and zeroshot_space is None:
        return
    if zeroshot_space is None or (model_space is None and model_topk is not None):
        missing = "zeroshot_space" if zeroshot_space is None else "model_space"
        raise InvalidParameterError(missing, "a LabelSpace to check the other against "
                                    "(both label spaces or neither)", None)
    _check_space_of("zeroshot_space", zeroshot_space, zeroshot_topk)
    if model_topk is None or model_space is None:
        return  # zero-shot alone: no model to check
    _check_space_of("model_space", model_space, model_topk)
    if model_space.is_compatible_prefix_of(zeroshot_space):
        return
    expected = ("a label space whose ids name the same labels (URIs) as the zero-shot "
                "label space's (merge a new vocabulary into the model's with "
                "LabelSpace.updated, and score zero-shot over the result)")
    model_uris, zeroshot_uris = model_space.uris, zeroshot_space.uris
    where = next((i for i, (a, b) in enumerate(zip(model_uris, zeroshot_uris, strict=False))
                  if a != b), None)
    if where is None:
        raise InvalidParameterError("model_space", expected, f"{len(model_uris):,} "
                                                             f"label{plural_s(len(model_uris))}, "
                                    f"more than the zero-shot {len(zeroshot_uris):,}")
    raise InvalidParameterError(
        "model_space", expected, f"id {where} is {model_uris[where]!r} in the model, "
        f"{zeroshot_uris[where]!r} in the zero-shot label space")


def _check_space_of(name: str, space, topk: TopK) -> None:
    if not isinstance(space, LabelSpace):
        raise InvalidParameterError(name, "a tagsmith LabelSpace", type(space).__name__)
    if len(space) != topk.n_labels:
        raise InvalidParameterError(name, f"the label space of its top-k ({topk.n_labels:,} "
                                    f"label{plural_s(topk.n_labels)})",
                                    f"{len(space):,} label{plural_s(len(space))}")


def _label_mask(name: str, mask: np.ndarray | None, n_labels: int, *, default: bool
                ) -> np.ndarray:
    if mask is None:
        return np.full(n_labels, default, bool)
    arr = np.asarray(mask)
    if arr.shape != (n_labels,):
        raise InvalidParameterError(name, f"shape ({n_labels},)", arr.shape)
    # a mask, not label ids nor weights: "no" or 0.5 was read as True, [0, 1, 2] too
    if arr.dtype.kind not in "biuf" or not np.isin(arr, (0, 1)).all():
        raise InvalidParameterError(name, f"a boolean mask of shape ({n_labels},)",
                                    f"dtype {arr.dtype}" if arr.dtype.kind not in "biuf"
                                    else f"values {np.unique(arr[~np.isin(arr, (0, 1))])[:3]}")
    return arr.astype(bool)
