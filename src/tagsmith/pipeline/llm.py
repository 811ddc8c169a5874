"""LLM-assisted labeling as file-level jobs for the CLI and scripts.

- :func:`make_client`: an OpenAI-compatible client behind the SQLite response cache.
- :func:`run_taxonomy`: generate a taxonomy from texts and write it as a vocabulary
  (CSV with names and descriptions, optionally SKOS Turtle and TSV).
- :func:`write_soft_labels` / :func:`read_soft_labels`: the LLM's labels as JSONL,
  ``{"id", "text", "labels": [uri, ...], "scores": [soft target, ...]}`` per line,
  a corpus every tagsmith reader accepts (the scores ride along as metadata).
- :func:`map_to_vocabulary`: match generated labels to an existing vocabulary.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import scipy.sparse as sp

from tagsmith._params import check_choice, check_int, check_options
from tagsmith._plural import NAME_LIMIT, and_more, clip, none_of, plural, plural_s
from tagsmith.data.labelspace import LabelSpace
from tagsmith.data.textio import atomic_text_writer, json_line
from tagsmith.exceptions import (
    AmbiguousLabelError,
    CorpusFormatError,
    DataError,
    InvalidParameterError,
    NoTeacherAnswersError,
)

if TYPE_CHECKING:
    from tagsmith.labeling.client import CachedClient, LLMClient, OpenAIChatClient
    from tagsmith.labeling.labeler import LabelingOptions, LabelingReport
    from tagsmith.labeling.taxonomy import TaxonomyOptions
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.distill import ActiveOptions
    from tagsmith.topk import TopK
    from tagsmith.zeroshot.encoder import Encoder

logger = logging.getLogger("tagsmith")


def make_client(base_url: str, model: str, *, cache: str | Path | None,
                **client_params: Any) -> OpenAIChatClient | CachedClient:
    """:class:`~tagsmith.labeling.client.OpenAIChatClient` with the response cache in
    front (``cache=None`` for none)."""
    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import CachedClient, OpenAIChatClient

    client = OpenAIChatClient(base_url, model, **client_params)
    return client if cache is None else CachedClient(client, ResponseCache(cache))


def run_taxonomy(texts: Sequence[str], client: LLMClient, options: TaxonomyOptions,
                 output: str | Path, *,
                 skos: str | Path | None = None, base_uri: str = "urn:tagsmith:taxonomy:",
                 lang: str | None = None, map_to: LabelSpace | None = None,
                 encoder: Encoder | None = None, cache_dir: str | Path | None = None,
                 min_similarity: float = 0.5, doc_ids: Sequence[str] | None = None,
                 extend: LabelSpace | None = None,
                 accept_edits: bool = False) -> tuple[LabelSpace, dict]:
    """Generate a taxonomy and write it (CSV, or TSV by suffix; SKOS when asked).

    ``extend`` (last month's vocabulary) is extended, not replaced: its labels that are
    not deprecated are the labels in use given to every update step
    (:func:`~tagsmith.labeling.taxonomy.generate_taxonomy`'s ``existing``: its names and
    descriptions in ``lang``), and the vocabulary written is all of its labels as they
    are (URIs, names, descriptions, deprecated ones too), then the new ones, whose URIs
    (``base_uri`` + slug) never take one of its URIs. ``options.max_labels`` counts
    the labels in use with the new ones, not its deprecated labels (shown to no step,
    offered by ``label`` to no document): the vocabulary written may hold more. The
    report's ``"extend"`` lists the labels kept, the new ones and the edits of labels
    in use that the model made and that were refused (``refused_edits``). With
    ``accept_edits`` (``generate_taxonomy``'s), the respellings and descriptions of
    labels in use that the model made are accepted: the label keeps its URI and the
    rest, its name in ``lang`` (or the variant it was shown by) is the new one, the old
    name an alternative name (``altLabel``) beside it, so that an answer of ``label``
    and a review's ``label_name`` naming it the old way still find it; its description
    is the new one; the report lists them in ``accepted_edits``.

    With ``map_to`` (an existing vocabulary) each generated label is matched onto it by
    :func:`map_to_vocabulary` (by meaning with a sentence ``encoder``, else by spelling;
    ``min_similarity`` the least similarity of a match; ``cache_dir`` where the
    vocabulary's embeddings are cached, as zero-shot caches them, so a rerun does not
    embed it again), the matches are the report's
    ``"mapping"`` (with ``extend``, of its labels too, each entry's ``kept`` saying
    which), and each label that matched carries its match in the files:
    ``skos:closeMatch`` in SKOS (the match is by similarity, no claim the two are the
    same concept) and a ``closematch`` column in CSV, which the vocabulary reader
    ignores (a TSV holds names only: the matches are in the report alone).

    ``lang`` (``None``: ``options.lang``) is the language the LLM is asked to write the
    names and descriptions in, the tag they are written with (the CSV's ``label_<lang>``
    column, SKOS's ``@lang``, the TSV's names) and the language of ``map_to``'s names
    they are matched on (each falling back as :meth:`~LabelSpace.name_of` does). It
    was the tag alone: German names were asked for in English, and a TSV output of a
    taxonomy tagged ``de`` held no names.
    """
    from tagsmith.data.vocab import (
        SUFFIXES,
        format_suffix,
        save_vocabulary_csv,
        save_vocabulary_skos,
        save_vocabulary_tsv,
    )
    from tagsmith.labeling.taxonomy import TaxonomyOptions, generate_taxonomy

    options = check_options("options", options, TaxonomyOptions)
    if lang is not None:  # "DE" is options.lang "de"
        from tagsmith._params import check_language

        lang = check_language("lang", lang)
    if lang is not None and lang != options.lang:
        if options.lang != "en":  # two languages asked for: which one was meant?
            raise InvalidParameterError("lang", f"None or options.lang ({options.lang!r})",
                                        lang)
        import dataclasses

        options = dataclasses.replace(options, lang=lang)
    options.validate()  # the language too, before the LLM is paid
    lang = options.lang
    # not vocab.detect_format's refusal: it speaks of files read (Google's taxonomy told by its
    # first line, load_vocabulary's format=), where this one is to be written
    kind = SUFFIXES.get(format_suffix(Path(output)))
    if kind not in ("csv", "tsv"):
        raise InvalidParameterError("output", "a .csv or .tsv path (use skos= for Turtle)",
                                    str(output))
    if skos is not None:
        check_turtle_path(skos, "skos")
    check_base_uri(base_uri, "base_uri")
    # before the LLM is paid: a bad threshold failed only when the mapping ran, after it
    min_similarity = _check_min_similarity(min_similarity)
    _check_mapping_encoder(map_to, encoder, cache_dir)
    if map_to is not None and len(map_to) and map_to.deprecated_mask.all():
        # no label could match; by meaning the scorer refused the vocabulary only once
        # the taxonomy had been paid for
        raise InvalidParameterError(
            "map_to", "a vocabulary with a label that is not deprecated (a deprecated "
            "label is never a match)",
            f"{len(map_to)} label{plural_s(len(map_to))}, every one deprecated")
    # a map_to named in no concept in lang (an English thesaurus under lang="de") was
    # said only at mapping time, once the LLM had been paid; said now, and not again then
    said = None if map_to is None else _warn_unnamed_target(map_to, lang)
    live = [] if extend is None else [i for i in range(len(extend))
                                      if not extend.deprecated_mask[i]]
    if extend is not None and not live:
        raise InvalidParameterError("extend", "a vocabulary with a label that is not "
                                    "deprecated (the labels in use it extends)",
                                    f"{len(extend)} label{plural_s(len(extend))}, "
                                    "none in use")
    from tagsmith.data.labelspace import in_language

    # the description in lang or a variant of it, as name_of finds the name: an en-GB
    # vocabulary's labels went to the model named under --lang en but undescribed
    existing = None if extend is None else [
        (extend.name_of(i, lang), in_language(extend[i].description, lang) or "")
        for i in live]
    if accept_edits and extend is None:
        raise InvalidParameterError("accept_edits", "False without extend (no label in "
                                    "use to edit)", accept_edits)
    taxonomy = generate_taxonomy(list(texts), client, options, doc_ids=doc_ids,
                                 existing=existing, accept_edits=accept_edits)
    if extend is None:
        space = taxonomy.to_label_space(base_uri, lang)
    else:
        import dataclasses

        _refuse_respellings_to_alt_names(taxonomy, extend, live, existing or [])
        namesakes: dict[str, dict] = {}  # a new label named as another language's name
        added = dataclasses.replace(taxonomy, labels=_not_alt_names(
            taxonomy, extend, live, existing or [], lang, namesakes))
        new_space = added.to_label_space(base_uri, lang, taken=extend.uris)
        kept = _with_accepted_edits(extend, live, taxonomy, existing or [], lang)
        if taxonomy.accepted_edits and kind == "tsv" and skos is None:
            # the summary listed them as accepted, the file written held none of the
            # descriptions and none of the old names that still find a respelled label
            logger.warning("%d edit%s of labels in use accepted (accept_edits), but a TSV "
                           "holds names alone: the new descriptions and the old names "
                           "(alternative names) are not written; write a CSV or SKOS "
                           "(--skos) to keep them", len(taxonomy.accepted_edits),
                           plural_s(len(taxonomy.accepted_edits)))
        space = LabelSpace([*kept, *new_space], name=extend.name)
        # its prefixes and schemes' titles too: a SKOS export bound none of its prefixes,
        # so a --vocab-scheme CURIE (thes:main) that read VOCAB read the export of none
        space.namespaces = dict(extend.namespaces)
        space.scheme_titles = dict(extend.scheme_titles)
    if said is not None:
        logger.addFilter(said)
    try:
        mapping = None if map_to is None else map_to_vocabulary(
            space, map_to, encoder=encoder, cache_dir=cache_dir,
            min_similarity=min_similarity, lang=lang,
            show_progress=options.show_progress)  # by meaning, minutes of silence otherwise
    finally:
        if said is not None:
            logger.removeFilter(said)
    # None without map_to: the CSV has no closematch column then; with it, the column
    # is there even where no label matched (empty), so its shape does not hang on data
    matches = None if mapping is None else {
        match["uri"]: match["match_uri"] for match in mapping
        if match["match_uri"] is not None}
    # every file is written beside its target first and moved in place only when all
    # were written, so a failure leaves no output half done
    writes = [(Path(output), lambda path: save_vocabulary_csv(space, path,
                                                              close_matches=matches)
               if kind == "csv" else save_vocabulary_tsv(space, path, language=lang))]
    scheme_uri, title = None, f"Taxonomy for: {options.use_case}"
    if extend is not None:
        # a vocabulary from outside tagsmith keeps its concept scheme and title, the new
        # labels put in it: they were in a scheme of the URIs' (…/concept/scheme) alone,
        # titled anew, and --vocab-scheme with the original dropped them
        source = {uri for label in extend for uri in label.schemes}
        if len(source) == 1:
            scheme_uri = source.pop()
            title = extend.scheme_titles.get(scheme_uri, title)
    if skos is not None:
        writes.append((Path(skos), lambda path: save_vocabulary_skos(
            space, path, scheme_uri=scheme_uri, title=title, close_matches=matches)))
    _write_together(writes)
    report = {"n_labels": len(space), "ratings": taxonomy.ratings,
              "n_invalid_ratings": taxonomy.n_invalid_ratings,
              "n_blank_docs": taxonomy.n_blank_docs, "n_cut_docs": taxonomy.n_cut_docs,
              "summaries": taxonomy.summaries,
              "rejected_steps": taxonomy.rejected_steps,
              "refused_steps": taxonomy.refused_steps,
              "n_refused_calls": taxonomy.n_refused_calls,
              "repaired_answers": taxonomy.repaired_answers, "cleaned": taxonomy.cleaned,
              "suspect_labels": taxonomy.suspect_labels,
              "usage": client.usage.to_dict()}
    if extend is not None:
        assert existing is not None
        from tagsmith.labeling.taxonomy import duplicate_key

        # a deprecated label of VOCAB is shown to no update step: the model may name a
        # new label as it (a topic back), which gets a URI of its own, two labels of one
        # name in the file; said, with the URI to restore instead
        retired: dict[str, str] = {}
        for i in range(len(extend)):
            if extend.deprecated_mask[i]:
                retired.setdefault(duplicate_key(extend.name_of(i, lang)), extend.uris[i])
        new = []
        for i in range(len(extend), len(space)):
            entry: dict[str, Any] = {"uri": space.uris[i], "name": space.name_of(i, lang)}
            namesake = retired.get(duplicate_key(entry["name"]))
            if namesake is not None:
                entry["deprecated_namesake"] = namesake
                logger.warning("new label %r has the name of the deprecated label <%s> of "
                               "the vocabulary extended: it is a new label, %s (to bring "
                               "the old one back, mark it not deprecated instead)",
                               clip(entry["name"], NAME_LIMIT, collapse=False), namesake,
                               entry["uri"])
            other = namesakes.get(duplicate_key(entry["name"]))
            if other is not None:
                entry["other_language_namesake"] = other
            new.append(entry)
        extended: dict = {
            "n_kept": len(extend), "n_new": len(space) - len(extend), "new": new,
            # the URI by the label's place (by name, two labels in use of one name
            # both got the first's)
            "refused_edits": [{"uri": extend.uris[live[edit["index"]]],
                               **{key: value for key, value in edit.items()
                                  if key != "index"}}
                              for edit in taxonomy.refused_edits]}
        if accept_edits:
            extended["accepted_edits"] = [
                {"uri": extend.uris[live[edit["index"]]],
                 **{key: value for key, value in edit.items() if key != "index"}}
                for edit in taxonomy.accepted_edits]
        report["extend"] = extended
    if mapping is not None:
        if extend is not None:
            # the labels in use are mapped too (the files carry no match of last month's:
            # a vocabulary read keeps none), each said as kept, apart from the new ones
            for n, match in enumerate(mapping):
                match["kept"] = n < len(extend)
        report["mapping"] = mapping
    return space, report


def _with_accepted_edits(extend: LabelSpace, live: list[int], taxonomy,
                         existing: list[tuple[str, str]], lang: str) -> list:
    """The labels of ``extend``, those ``taxonomy.accepted_edits`` edited as the model
    made them (its ``labels[:n_existing]``, in the order of ``live``): a respelled one
    named anew where its name was shown (``lang``, or the variant it was read from), the
    old name an alternative name in that language; a new description where its
    description was shown. URIs and the rest as they were."""
    import dataclasses

    labels = list(extend)
    for n in sorted({edit["index"] for edit in taxonomy.accepted_edits}):
        i = live[n]
        label = labels[i]
        (old_name, old_description), (name, description) = existing[n], taxonomy.labels[n]
        pref, alt, about = (dict(label.pref_labels), {k: list(v) for k, v in
                                                      label.alt_labels.items()},
                            dict(label.description))
        hidden = {k: list(v) for k, v in label.hidden_labels.items()}
        if name != old_name:
            key = next((k for k in pref if pref[k] == old_name and k.lower() == lang.lower()),
                       next((k for k in pref if pref[k] == old_name), lang))
            pref[key] = name
            # the new name no alternative name of its own (an altLabel "Cocoa markets"
            # the label was respelled to stayed one: preferred and alternative at once)
            alt[key] = [other for other in alt.get(key, []) if other != name]
            if old_name not in alt[key]:
                alt[key].append(old_name)
            # nor a hidden name of its own: respelled to its hiddenLabel ("Petroleum oil"),
            # it was written as skos:prefLabel and skos:hiddenLabel at once (SKOS forbids it)
            if name in hidden.get(key, ()):
                hidden[key] = [other for other in hidden[key] if other != name]
                if not hidden[key]:
                    del hidden[key]
        if description != old_description:
            key = next((k for k in about if about[k] == old_description
                        and k.lower() == lang.lower()),
                       next((k for k in about if about[k] == old_description and
                             old_description), lang))
            about[key] = description
        labels[i] = dataclasses.replace(label, pref_labels=pref, alt_labels=alt,
                                        hidden_labels=hidden, description=about)
    return labels


def _refuse_respellings_to_alt_names(taxonomy, extend: LabelSpace, live: list[int],
                                     existing: list[tuple[str, str]]) -> None:
    """Refuse each accepted respelling of ``taxonomy`` to an alternative name
    (``altLabel`` or ``hiddenLabel``, in any language) of another label in use, as one
    to another label in use's name is refused: the label keeps the name it had, the edit moves to
    ``refused_edits`` (``not_accepted`` ``"alt name in use"``), warned. Accepted, the
    name pointed at two labels when ``label`` or a review resolved it."""
    from tagsmith.labeling.taxonomy import fold_name

    holders: dict[str, set[int]] = {}  # a folded alternative name -> the labels' places
    for n, i in enumerate(live):  # a hiddenLabel names its concept as an altLabel does
        for alts in (*extend[i].alt_labels.values(), *extend[i].hidden_labels.values()):
            for alt in alts:
                holders.setdefault(fold_name(alt), set()).add(n)
    for edit in list(taxonomy.accepted_edits):
        n = edit["index"]
        others = holders.get(fold_name(edit["to"]), set()) - {n} \
            if edit["change"] == "renamed" else set()
        if not others:
            continue
        taxonomy.accepted_edits.remove(edit)
        taxonomy.labels[n] = (existing[n][0], taxonomy.labels[n][1])
        taxonomy.refused_edits.append({**edit, "not_accepted": "alt name in use"})
        other = existing[min(others)][0]
        logger.warning("%s: the model respelled the label in use %r (to %r): refused, the "
                       "label kept as it was (not accepted: an alternative name of the "
                       "label in use %r)", edit["step"],
                       clip(edit["name"], NAME_LIMIT, collapse=False),
                       clip(edit["to"], 120, collapse=False),
                       clip(other, NAME_LIMIT, collapse=False))


def _not_alt_names(taxonomy, extend: LabelSpace, live: list[int],
                   existing: list[tuple[str, str]], lang: str,
                   namesakes: dict[str, dict] | None = None) -> list[tuple[str, str]]:
    """The new labels of ``taxonomy`` (after its ``n_existing`` labels in use) that are
    named as no other name of a label in use: an alternative name (``altLabel`` or
    ``hiddenLabel``, in any language) or its name in another language. One that is ("Oil", VOCAB's
    "Petroleum" having the alternative name "Oil"; "Kaffee", the German name of
    "Coffee market") is refused as a duplicate, as a new label named as a label in use
    is, warned and noted in ``taxonomy.refused_edits`` (``change`` ``"alt name"`` or
    ``"name in another language"``, step ``"the table written"``); it became a new
    label silently, two labels of one concept. Only ``lang``'s alternative names
    were looked at: a label named as a German altLabel, or as another language's
    name, passed. A name in another language of a label in use named in ``lang`` is
    no refusal, but a warning, the new label kept and noted in ``namesakes`` (its
    :func:`duplicate_key` -> ``{"uri", "lang"}``): it is often another concept's word
    ("Gift", German for poison; "Art"), and every such English label was refused."""
    from tagsmith.data.labelspace import in_language
    from tagsmith.labeling.taxonomy import duplicate_key

    shown = {duplicate_key(name) for name, _ in existing}
    other_of: dict[str, tuple[int, str]] = {}  # a name's key -> (its label's place, kind)
    for n, i in enumerate(live):  # lang's alternative names first: as said before
        for alt in in_language(extend[i].alt_labels, lang) or ():
            other_of.setdefault(duplicate_key(alt), (n, "alt name"))
    for n, i in enumerate(live):
        # a hiddenLabel (a misspelling or variant of the name) is an alternative name too
        for alts in (*extend[i].alt_labels.values(), *extend[i].hidden_labels.values()):
            for alt in alts:
                other_of.setdefault(duplicate_key(alt), (n, "alt name"))
        # a label named in lang: its name in another language may be another concept's
        # word in lang ("Gift", German for poison), warned; one named in no variant of
        # lang (shown by a name in another language) is refused
        homograph = in_language(extend[i].pref_labels, lang) is not None
        for tag, name in extend[i].pref_labels.items():
            key = duplicate_key(name)
            if key not in shown:  # a name in another language (or the name shown)
                other_of.setdefault(key, (n, f"namesake {tag}" if homograph
                                          else "name in another language"))
    kept: list[tuple[str, str]] = []
    for name, description in taxonomy.labels[taxonomy.n_existing:]:
        found = other_of.get(duplicate_key(name))
        if found is None:
            kept.append((name, description))
            continue
        at, change = found
        if change.startswith("namesake "):
            kept.append((name, description))
            if namesakes is not None:
                namesakes[duplicate_key(name)] = {"uri": extend.uris[live[at]],
                                                  "lang": change.split(" ", 1)[1]}
            logger.warning("new label %r has the name in %r of the label in use %r (<%s>): "
                           "kept as a new label, a word of another language; drop it if "
                           "it is the same concept", clip(name, NAME_LIMIT, collapse=False),
                           change.split(" ", 1)[1],
                           clip(existing[at][0], NAME_LIMIT, collapse=False),
                           extend.uris[live[at]])
            continue
        taxonomy.refused_edits.append({"name": existing[at][0], "change": change,
                                       "to": name, "step": "the table written",
                                       "index": at})
        logger.warning("the model added the label %r, %s of the label in use %r (%s): "
                       "refused as a duplicate, not written",
                       clip(name, NAME_LIMIT, collapse=False),
                       "an alternative name" if change == "alt name"
                       else "its name in another language",
                       clip(existing[at][0], NAME_LIMIT, collapse=False),
                       extend.uris[live[at]])
    return kept


class _Said(logging.Filter):
    """Drops a warning that says ``message`` again (it was said already)."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno != logging.WARNING or record.getMessage() != self.message


def _warn_unnamed_target(map_to: LabelSpace, lang: str) -> _Said | None:
    """Warn, as the mapping would, when no live label of ``map_to`` is named in
    ``lang`` (each is matched by its English name, else its first); the filter that
    keeps the mapping from saying it again, or None when nothing was said."""
    from tagsmith.data.labelspace import unnamed_in
    from tagsmith.zeroshot.scorer import unnamed_warning

    languages = unnamed_in((label for label, dead in zip(map_to, map_to.deprecated_mask,
                                                          strict=True) if not dead), lang)
    if not languages:
        return None
    message = unnamed_warning(lang, languages)
    logger.warning("%s", message)
    return _Said(message)


def check_turtle_path(path: str | Path, name: str) -> None:
    """Refuse a SKOS output path whose suffix is not ``.ttl`` (optionally ``.gz``): the
    scheme is written as Turtle, and a vocabulary file is read by its suffix, so a
    ``.tsv``, ``.csv`` or ``.rdf`` name would hold Turtle that no reader accepts."""
    from tagsmith.data.vocab import format_suffix

    if format_suffix(Path(path)) != ".ttl":
        raise InvalidParameterError(name, "a .ttl path (the taxonomy is written as Turtle; "
                                    ".ttl.gz compresses it)", str(path))


def check_base_uri(base_uri: str, name: str) -> None:
    """Refuse a ``base_uri`` that makes no URI a vocabulary file holds (whitespace, a
    control character, one of ``<>"``, half a surrogate pair, or too long for a slug
    after it): each label's URI is ``base_uri`` + its slug, and the writers refused
    every one of them once the taxonomy had been generated and paid for. The check is
    the vocabulary's own (:func:`~tagsmith.data.vocab.label_problem`), on the longest
    URI a label can get. An empty or relative prefix (no scheme, ``labels/``) is refused
    too: the labels' URIs were bare slugs, which the SKOS file (``--skos``) writes as
    relative IRIs and its reader refuses."""
    import re

    from tagsmith.data.labelspace import Label
    from tagsmith.data.vocab import label_problem
    from tagsmith.labeling.taxonomy import MAX_SLUG

    expected = "a URI prefix such as 'urn:tagsmith:taxonomy:'"
    if not isinstance(base_uri, str):
        raise InvalidParameterError(name, expected, base_uri)
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", base_uri):  # RFC 3986's scheme
        raise InvalidParameterError(name, "an absolute URI prefix, a scheme and ':' first "
                                    "(such as 'urn:tagsmith:taxonomy:' or "
                                    "'http://example.org/labels/')", base_uri)
    # a slug of MAX_SLUG and a "-N" to tell it apart from a slug like it
    problem = label_problem(Label(base_uri + "x" * (MAX_SLUG + 10)))
    if problem is not None:
        raise InvalidParameterError(name, f"{expected} that makes valid URIs (checked on "
                                    f"the longest a label gets: the prefix, then "
                                    f"{MAX_SLUG + 10} characters of its slug)", problem)


def _write_together(writes) -> None:
    """``[(path, write(path))]``: write each to a temporary file beside ``path``, then
    rename them all into place; on any error no temporary file is left and no ``path``
    replaced.

    A rename that fails (the target became a folder, its folder read-only) undoes the
    ones before it: each output but the last is kept aside (a hard link, else a copy)
    until all are in place, and put back, or a new one removed, on failure. The CSV was
    left replaced next to the old SKOS. An error writing or renaming a file (a full
    disk, a read-only folder) names the output, not its temporary file.
    """
    import os
    import shutil

    from tagsmith.data.textio import current_umask
    from tagsmith.store.staging import make_staging_file, remove_stale_files

    done: list[tuple[Path, Path]] = []
    path = Path()
    try:
        for path, write in writes:
            path.parent.mkdir(parents=True, exist_ok=True)
            # a unique name keeping the suffixes the writer goes by (two runs never
            # share), named after this process: the next run removes those of a killed
            # one (SIGKILL, the OOM killer), which stayed forever
            remove_stale_files(path, "".join(path.suffixes))
            # a run killed mid-swap may have left an output only as its copy kept
            # aside: put it back (the last good output), never delete it
            remove_stale_files(path, ".old", restore=True)
            fd, name = make_staging_file(path, "".join(path.suffixes))
            os.close(fd)
            done.append((Path(name), path))
            write(Path(name))
            # a replaced output keeps its permissions, a new one gets the umask's (the
            # writer kept mkstemp's 0600 on the file it found)
            os.chmod(name, path.stat().st_mode & 0o777 if path.exists()
                     else 0o666 & ~current_umask())
    except BaseException as exc:
        for temporary, _ in done:
            temporary.unlink(missing_ok=True)
        _raise_naming_output(exc, path)
    kept: list[tuple[Path, Path | None]] = []  # (output replaced, its old one aside)
    old: Path | None = None
    try:
        for number, (temporary, path) in enumerate(done):
            old = None
            if number < len(done) - 1 and os.path.lexists(path):
                fd, name = make_staging_file(path, ".old")
                os.close(fd)
                old = Path(name)
                try:
                    os.unlink(old)
                    os.link(path, old, follow_symlinks=False)
                except OSError:  # no hard links on this file system
                    shutil.copy2(path, old, follow_symlinks=False)
            os.replace(temporary, path)
            kept.append((path, old))
    except BaseException as exc:
        if old is not None:  # set aside for the output that was not replaced
            old.unlink(missing_ok=True)
        for replaced, previous in reversed(kept):
            if previous is None:
                replaced.unlink(missing_ok=True)
            else:
                os.replace(previous, replaced)
        for temporary, _ in done:
            temporary.unlink(missing_ok=True)
        _raise_naming_output(exc, path)
    for _, previous in kept:
        if previous is not None:
            previous.unlink(missing_ok=True)


def _raise_naming_output(exc: BaseException, path: Path) -> NoReturn:
    """Raise ``exc``, as an error of the output ``path`` where it names a temporary file
    beside it (``.NAME.*``: :func:`_write_together`'s, or a writer's own) or no file at
    all (a full disk): the user never gave that name, and with two outputs written
    together 'No space left on device' did not say which one failed."""
    def temporary(name: object) -> bool:
        return isinstance(name, (str, Path)) and Path(name).parent == path.parent \
            and Path(name).name.startswith(f".{path.name}.")

    if isinstance(exc, OSError) and exc.errno is not None \
            and (exc.filename is None or temporary(exc.filename)):
        raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from exc
    if type(exc) is DataError and temporary(exc.path):
        raise DataError(exc.reason, path=path, line=exc.line) from exc
    raise exc


def write_soft_labels(path: str | Path, texts: Sequence[str], Y: sp.csr_matrix,
                      label_space: LabelSpace, *, doc_ids: Sequence[str] | None = None,
                      answered: np.ndarray | None = None,
                      copy_of: Sequence[str | None] | None = None,
                      unknown: Sequence[Sequence[str]] | None = None,
                      offered: Sequence[Sequence[int] | None] | None = None) -> int:
    """Write one JSONL line per answered document (atomically); returns lines written.

    ``unknown`` (one list per document, of ``texts``): the names the LLM gave that no
    label has (a misspelt label), several share, or gave with an invalid confidence
    ("high"); a line whose list is not empty ends with
    ``"unknown_labels": [...]`` after its scores, so that a reader deciding by the
    labels a line lacks (``apply-review --decide-from``) knows the answer named more.

    ``offered`` (one per document, ``None`` where it was offered every label; None: all
    were): the label ids the prompt offered it (its shortlist); a line offered fewer
    than every label not deprecated ends with
    ``"offered": [uri, ...]`` (as its labels are written) after those, so that such a
    reader leaves a label the LLM was never offered undecided, not absent.

    ``copy_of`` (one per document, ``None`` for most) marks a document that is a copy
    of another (its text, case and spacing aside; given that document's labels, never
    sent): its line ends with ``"copy_of": <that document's id>``, which
    :func:`read_soft_labels` reads to learn the text once. Other lines are unchanged."""
    Y = sp.csr_matrix(Y)
    # a tiny confidence (1e-05) was written as 0.0 beside its label: a label the file
    # names, that distill then read as no label
    scores = _round_scores(Y.data)
    n_active = int(np.count_nonzero(~label_space.deprecated_mask))
    written = 0
    with atomic_text_writer(path) as out:
        for row, text in enumerate(texts):
            if answered is not None and not answered[row]:
                continue
            start, end = Y.indptr[row], Y.indptr[row + 1]
            order = np.argsort(-Y.data[start:end], kind="stable")
            ids = Y.indices[start:end][order]
            record = {"id": doc_ids[row] if doc_ids is not None else str(row + 1),
                      "text": text, "labels": [label_space.uri_of(int(i)) for i in ids],
                      "scores": scores[start:end][order].tolist()}
            if unknown is not None and unknown[row]:
                record["unknown_labels"] = list(dict.fromkeys(unknown[row]))
            shown = None if offered is None else offered[row]
            # a shortlist of every label in use (--shortlist-k above the vocabulary's
            # size) offered all, as no shortlist does: its k URIs on each line said nothing
            if shown is not None and len(shown) < n_active:
                record["offered"] = [label_space.uri_of(int(i)) for i in shown]
            if copy_of is not None and copy_of[row] is not None:
                record["copy_of"] = copy_of[row]
            out.write(json_line(record))
            written += 1
    return written


#: how a line of :func:`write_soft_labels` begins: its id, then its text
_SOFT_LABELS_START = re.compile(r'\A\{"id": "(?:[^"\\]|\\.)*", "text": "')
#: and how it ends: its labels' scores, then a copy's ``copy_of`` (a JSONL corpus, as
#: write_records or a script's json.dumps writes one, begins as a label output does),
#: then the labels a review added or a person kept (``added_by_review``,
#: ``kept_by_review``: apply-review's output of a label output, which without them no
#: longer read as one, in audit and eval as in ``label -o``)
_SOFT_LABELS_END = re.compile(r'\], "scores": \[[-+0-9.eE, ]*\]'
                              r'(?:, "unknown_labels": \[(?:"(?:[^"\\]|\\.)*"(?:, )?)*\])?'
                              r'(?:, "offered": \[(?:"(?:[^"\\]|\\.)*"(?:, )?)*\])?'
                              r'(?:, "copy_of": "(?:[^"\\]|\\.)*")?'
                              r'(?:, "(?:added|kept)_by_review": '
                              r'\[(?:"(?:[^"\\]|\\.)*"(?:, )?)*\]){0,2}'
                              r'\}\r?\n?\Z')


def is_soft_labels_file(path: str | Path) -> bool:
    """Whether ``path`` may be replaced as an earlier :func:`write_soft_labels` output:
    nothing is there, a symbolic link (the link is replaced, not what it points to), an
    empty file, or a file (``.gz`` read as such) whose first line begins and ends as
    that writer's lines do (its id and text first, its scores last: a JSONL corpus of
    the user's own begins alike). A folder, a pipe, an unreadable file, or any other
    content is not: ``label -o`` replaced a file of the user's own with no word."""
    path = Path(path)
    if path.is_symlink() or not path.exists():
        return True
    if not path.is_file():
        return False
    head: bytes | None = None
    tail = b""
    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
            raw.seek(0)
            stream = (gzip.GzipFile(fileobj=raw, mode="rb") if magic == b"\x1f\x8b"
                      else raw)
            while True:  # the first line, however long (a document's whole text)
                piece = stream.readline(65536)
                head = piece if head is None else head
                tail = (tail + piece)[-131072:]
                if not piece or piece.endswith(b"\n"):
                    break
    except (OSError, EOFError):  # unreadable, or a damaged gzip: not known to be one
        return False
    if not head:
        return True
    return bool(_SOFT_LABELS_START.match(head.decode("utf-8", "replace"))
                and _SOFT_LABELS_END.search(tail.decode("utf-8", "replace")))


def _round_scores(values: np.ndarray) -> np.ndarray:
    """``max(round(s, 4), 1e-4)`` for each positive score ``s``, ``0.0`` for the rest,
    as float64, in one pass (a Python loop per entry was the writer's cost).

    Python's :func:`round` rounds the exact binary value half to even; ``np.round``
    rounds ``s * 1e4``, whose float product can land on the other side of a tie. Those
    few near ties, and scores too large or not finite for the product, keep
    :func:`round`, so every score is written as before.

    >>> _round_scores(np.array([0.12345, 0.00025, 5e-05, 1e-05, 0.03125, 0.0, -0.5])).tolist()
    [0.1235, 0.0003, 0.0001, 0.0001, 0.0312, 0.0, 0.0]
    """
    x = np.asarray(values, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = x * 1e4
        rounded = np.round(scaled) / 1e4
        exact = ~(np.abs(x) <= 1e6) | (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    for i in np.flatnonzero(exact & (x > 0)):
        rounded[i] = round(float(x[i]), 4)
    return np.where(x > 0, np.maximum(rounded, 1e-4), 0.0)


#: how many lines of skipped blank documents :func:`read_soft_labels` names
_SHOWN_LINES = 10

#: how many ids a warning of ids given to other texts names
_SHOWN_IDS = 5


def read_soft_labels(path: str | Path, label_space: LabelSpace, *,
                     vocabulary: str = "the vocabulary", on_error: str = "fail",
                     unknown_labels: str = "fail", counts: dict[str, int] | None = None
                     ) -> tuple[list[str], sp.csr_matrix]:
    """Texts and soft targets from :func:`write_soft_labels`'s JSONL (or any corpus:
    labels without ``scores`` count 1). ``counts``, a dict given, gets ``n_scored``
    and ``n_unscored``: of the documents returned, those whose line holds ``scores``
    (an LLM's labels) and those whose line does not (people's labels concatenated in,
    as a desk retraining on last month's corpus and this month's LLM labels does); and
    ``n_all_labels_skipped``: those whose line named labels, every one of them skipped
    (``unknown_labels="skip"``), left with no label (as an empty label set is); and
    ``n_no_label``: the others left with no label, the LLM's answers that no label
    applies (``"labels": []``).
    ``vocabulary`` names ``label_space`` in an
    unknown label's error (``"the vocabulary V.tsv"``), as
    :func:`~tagsmith.pipeline.io.read_labelled`'s does. ``on_error`` and
    ``unknown_labels`` (``"fail"`` or ``"skip"``), as for
    :class:`~tagsmith.data.corpus.Corpus`: a malformed line, or a label not in
    ``label_space`` (with its score), skipped and counted in a warning.

    A file whose every text is a lone ``<URI>`` (a vocabulary) is refused, naming it, as
    :func:`~tagsmith.pipeline.io.read_labelled` refuses one.
    A line whose text is blank (empty or whitespace only) is skipped with a warning
    naming the file and its lines: the teacher saw no text (``label_documents`` never
    sends one, counting it in ``n_blank_docs``), and a student trained on it learnt its
    labels from no words at all.

    A line marked ``"copy_of": ID`` (``label --budget`` writes one for each copy of a
    document answered, equal text, case and spacing aside) is left out, with an info
    line naming the file: the text is learnt once, from the line of id ``ID``, as the
    budgeted run's own student learnt it. Where no unmarked line has that id (a file cut
    or filtered), the first line marked with it is kept, with a warning naming the file
    and its lines (its text is nowhere else), and the others marked with it are left out.
    An empty ``copy_of`` (a CSV cell on the lines that are no copies) marks nothing. A
    mark the file contradicts (a text not that of the line it names, case and spacing
    aside; a copy of a copy) is a :class:`CorpusFormatError` naming the marked line.
    """
    texts, Y, _ = _read_soft_labels(path, label_space, vocabulary=vocabulary,
                                    on_error=on_error, unknown_labels=unknown_labels,
                                    counts=counts)
    return texts, Y


def _read_soft_labels(path: str | Path, label_space: LabelSpace, *,
                      vocabulary: str = "the vocabulary", on_error: str = "fail",
                      unknown_labels: str = "fail", counts: dict[str, int] | None = None,
                      keys: Sequence[str] = (),
                      convert: Callable[[str, Any, int | None], Any] | None = None,
                      ids: list[str | None] | None = None,
                      copied: list[tuple[str | None, str, str | None, str]] | None = None,
                      empty_ok: bool = False
                      ) -> tuple[list[str], sp.csr_matrix, list[dict]]:
    """:func:`read_soft_labels`, and per text kept the values its line gives of
    ``keys`` (``unknown_labels``, ``offered``), read in the same pass; ``copied``, a
    list given, gets each copy left out (``"copy_of"``) as ``(its id, its text, the id
    and the text of the line it copies)`` (:func:`_copies_found`); ``ids``, a list
    given, gets the id of each text kept. ``convert(key, value, line)``, where given,
    is what is kept of each value (a line's ``offered`` as label ids, say), in place of
    the value with its strings shared. ``empty_ok``: a file with no line gives no
    text, where it was refused (``label``'s output for a review decided in full)."""
    from tagsmith.data.corpus import Corpus, ReadReport
    from tagsmith.data.readers import check_not_a_vocabulary
    from tagsmith.data.texthash import hash_texts

    # label's output holds a 'text' key: --text-column names the columns of other inputs
    corpus = Corpus(path, label_space, on_error=on_error, unknown_labels=unknown_labels,
                    text_columns="text")
    report = ReadReport(source=str(path))
    texts: list[str] = []
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    blank_lines: list[int | str] = []
    # per text kept: its id, and the id it is marked a copy of (None for most)
    doc_ids: list[str | None] = []
    copy_of: list[str | None] = []
    lines: list[int] = []
    scored: list[bool] = []
    # per text kept: its line named labels, and unknown_labels="skip" skipped them all
    all_skipped: list[bool] = []
    metas: list[dict] = []
    # each name the kept values list, once: an "offered" of 100 URIs per line held its
    # own copy of each URI (about 1 GB of strings kept at 10^5 lines), where 25k labels
    # have 25k names
    names: dict[str, str] = {}
    for record in corpus.records(report):
        report.n_docs += 1
        if not record.text.strip():
            # a document folder's record has no line: its file names it
            blank_lines.append(record.line if corpus.format != "dir" else record.source)
            continue
        source = record.metadata.get("copy_of")
        if isinstance(source, str) and not source.strip():
            # a CSV's empty cell, on the lines that are no copies: it marks nothing (all
            # of them read as copies of one id no line has, and all but one left out)
            source = None
        if source is not None and (isinstance(source, bool)
                                   or not isinstance(source, (str, int))):
            raise CorpusFormatError("'copy_of' must be the id (a string or an integer) of "
                                    f"the document the line copies, found {source!r}",
                                    path=path, line=record.line)
        doc_ids.append(record.doc_id)
        metas.append({key: _shared(record.metadata[key], names) if convert is None
                      else convert(key, record.metadata[key], record.line)
                      for key in keys if key in record.metadata})
        copy_of.append(None if source is None else str(source))
        lines.append(record.line)
        number = len(texts)
        scores = record.metadata.get("scores")
        if scores is not None and (not isinstance(scores, list)
                                   or len(scores) != len(record.labels)
                                   or not all(isinstance(s, (int, float))
                                              and not isinstance(s, bool) and 0 <= s <= 1
                                              for s in scores)):
            raise CorpusFormatError("'scores' must be a list of numbers in [0, 1], one per "
                                    "label", path=path, line=record.line)
        n_cells = len(rows)
        for position, key in enumerate(record.labels):
            try:
                label_id = label_space.lookup(key)
            except AmbiguousLabelError as exc:
                if unknown_labels != "skip":
                    raise exc.located(path, record.line) from None
                report.add_unknown(key, ambiguous=True)
                continue
            if label_id is None and unknown_labels == "skip":
                report.add_unknown(key)  # its score goes with it
                continue
            if label_id is None:
                from tagsmith.exceptions import UnknownLabelError

                raise UnknownLabelError(key, path=path, line=record.line,
                                        vocabulary=vocabulary,
                                        hint=label_space.unknown_hint(key))
            rows.append(number)
            cols.append(label_id)
            vals.append(1.0 if scores is None else float(scores[position]))
        # counted as train's corpus counts it: a document --unknown-labels skip left
        # with no label is learnt as one the teacher gave none
        report.n_docs_without_labels += len(rows) == n_cells
        texts.append(record.text)
        scored.append(scores is not None)
        all_skipped.append(bool(record.labels) and len(rows) == n_cells)
    if report.has_skips:  # as a corpus read by train says what it skipped
        logger.warning("%s", report.summary())
    if blank_lines:
        in_files = corpus.format == "dir"
        shown = and_more(blank_lines, _SHOWN_LINES, serial=False)
        if not texts:
            raise CorpusFormatError(f"every document has a blank text (empty or whitespace "
                                    f"only; {'file' if in_files else 'line'}"
                                    f"{plural_s(len(blank_lines))} {shown}): "
                                    "nothing to train on", path=path)
        logger.warning("%s: %s document%s with a blank text (empty or whitespace only) "
                       "skipped, %s%s %s: the teacher saw no text, there is nothing "
                       "to learn its labels from", path, f"{len(blank_lines):,}",
                       plural_s(len(blank_lines)), "in file" if in_files else "at line",
                       plural_s(len(blank_lines)), shown)
    if not texts and not empty_ok:
        # label writes such a file, exit code 0, for a review with nothing left to ask
        # the LLM: a scripted cycle running distill after it failed here with no word why
        raise CorpusFormatError("no documents in the file (tagsmith label writes an empty "
                                "file when its review held no row left to ask the LLM "
                                "about: there is nothing to distil)", path=path)
    # a vocabulary given as LABELS: distill trained a model on its URIs, each its own name
    check_not_a_vocabulary(texts, path)
    # a label listed twice in a line (by URI and by name, say) keeps its highest score,
    # as the labeler keeps a label's best confidence: summed, the target left [0, 1]
    r, c = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    v = np.asarray(vals, np.float32)
    order = np.lexsort((v, c, r))  # by cell, its highest score last
    r, c, v = r[order], c[order], v[order]
    last = np.ones(len(r), bool)
    last[:-1] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    Y = sp.csr_matrix((v[last], (r[last], c[last])), shape=(len(texts), len(label_space)))
    Y.eliminate_zeros()
    keep = _not_repeated(path, doc_ids, copy_of, lines, texts, Y)
    if keep is not None:
        texts = [text for text, kept in zip(texts, keep, strict=True) if kept]
        scored = [flag for flag, kept in zip(scored, keep, strict=True) if kept]
        all_skipped = [flag for flag, kept in zip(all_skipped, keep, strict=True) if kept]
        Y = Y[keep]
        kept_rows = np.flatnonzero(keep)
        doc_ids = [doc_ids[row] for row in kept_rows]
        copy_of = [copy_of[row] for row in kept_rows]
        lines = [lines[row] for row in kept_rows]
        metas = [metas[row] for row in kept_rows]
    # hashed once, for both: _copies_found hashed the whole file again
    hashes = None if all(source is None for source in copy_of) else hash_texts(texts)
    keep = _not_copies(path, doc_ids, copy_of, lines, texts, hashes)
    if keep is not None:
        if copied is not None:
            copied.extend(_copies_found(keep, doc_ids, copy_of, texts, hashes))
        doc_ids = [doc_id for doc_id, kept in zip(doc_ids, keep, strict=True) if kept]
        texts = [text for text, kept in zip(texts, keep, strict=True) if kept]
        scored = [flag for flag, kept in zip(scored, keep, strict=True) if kept]
        all_skipped = [flag for flag, kept in zip(all_skipped, keep, strict=True) if kept]
        metas = [meta for meta, kept in zip(metas, keep, strict=True) if kept]
        Y = Y[keep]
    if counts is not None:
        counts["n_scored"] = sum(scored)
        counts["n_unscored"] = len(scored) - counts["n_scored"]
        counts["n_all_labels_skipped"] = sum(all_skipped)
        # counted here, on the rows kept, beside the lines they came from: distill took
        # the empty rows less n_all_labels_skipped, which went wrong (or negative)
        # without a word were an all-skipped line ever left out and its count kept
        empty = np.diff(Y.indptr) == 0
        counts["n_no_label"] = int(np.count_nonzero(empty & ~np.asarray(all_skipped, bool)))
    if ids is not None:
        ids.extend(doc_ids)
    return texts, Y, metas


def _shared(value: Any, names: dict[str, str]) -> Any:
    """``value``, a list's strings replaced by the equal one ``names`` holds (added where
    it holds none), so that the lines listing one name share one string."""
    if not isinstance(value, list):
        return value
    return [names.setdefault(item, item) if isinstance(item, str) else item
            for item in value]


def _copies_found(keep: np.ndarray, doc_ids: Sequence[str | None],
                  copy_of: Sequence[str | None], texts: Sequence[str],
                  hashes: np.ndarray | None = None
                  ) -> list[tuple[str | None, str, str | None, str]]:
    """Per copy :func:`_not_copies` left out (``keep`` False): ``(its id, its text, the
    id and text of the line kept for the id it names whose text it copies)``, in the
    file's order (case and spacing aside: the unmarked line of that id, or the first
    copy kept where no line has it): the answer a reader deciding by text (or by id and
    text) gives the copy. Two texts under one id (two label outputs of corpora with the
    same file names concatenated) each keep their own copies: the first line of the id
    gave a copy of the second the first's answer. ``hashes``:
    :func:`~tagsmith.data.texthash.hash_texts` of ``texts``, where already computed."""
    from tagsmith.data.texthash import hash_texts

    hashes = (hash_texts(texts) if hashes is None else hashes).tolist()
    # per (id named, text hash): the row kept for it
    kept_for: dict[tuple[str, int], int] = {}
    for row, (doc_id, source) in enumerate(zip(doc_ids, copy_of, strict=True)):
        if keep[row]:
            named = doc_id if source is None else source
            if named is not None:
                kept_for.setdefault((named, hashes[row]), row)
    found = []
    for row, source in enumerate(copy_of):
        if not keep[row] and source is not None and (source, hashes[row]) in kept_for:
            kept = kept_for[(source, hashes[row])]
            found.append((doc_ids[row], texts[row], doc_ids[kept], texts[kept]))
    return found


def _not_repeated(path: str | Path, doc_ids: Sequence[str | None],
                  copy_of: Sequence[str | None], lines: Sequence[int],
                  texts: Sequence[str], Y: sp.csr_matrix) -> np.ndarray | None:
    """Which of a soft-label file's documents to learn from (``None``: all of them): not
    the lines that repeat the id and text (case and spacing aside) of an earlier line, a
    document labelled twice (two ``label`` outputs concatenated), which were learnt as
    two teacher votes. Warns naming the file and the lines left out, and how many of
    them the teacher labelled otherwise (only the first line's labels are learnt).
    Lines without an id, and equal texts under other ids (a corpus's own copies), stay
    documents, as ``train`` reads them. A copy of a document in the file (``copy_of``
    naming an unmarked line's id) is left to :func:`_not_copies`, which leaves every
    one out: its labels are never learnt, so a repeat of it is none of a document
    labelled twice (counted here, two copies of concatenated outputs read as a line
    repeated "with other labels", which were not learnt either way)."""
    if len(set(doc_ids)) == len(doc_ids) or all(doc_id is None for doc_id in doc_ids):
        return None
    from tagsmith.data.texthash import hash_texts

    hashes = hash_texts(texts).tolist()
    Y = Y.tocsr()
    Y.sort_indices()
    indptr, indices, data = Y.indptr.tolist(), Y.indices, Y.data

    def targets(row: int) -> tuple[bytes, bytes]:  # a row's labels and scores, compared
        start, end = indptr[row], indptr[row + 1]
        return indices[start:end].tobytes(), data[start:end].tobytes()

    first: dict[tuple[str, int], int] = {}  # per (id, text hash): its first row
    # per id: the first row of each of its texts (two corpora with the same file names
    # labelled into one file give an id to two texts, learnt as two documents)
    by_id: dict[str, list[int]] = {}
    keep = np.ones(len(texts), bool)
    n_other = 0
    unmarked = {doc_id for doc_id, source in zip(doc_ids, copy_of, strict=True)
                if source is None and doc_id is not None}
    for row, doc_id in enumerate(doc_ids):
        if doc_id is None or copy_of[row] in unmarked:  # (None is not in unmarked)
            continue
        earlier = first.setdefault((doc_id, hashes[row]), row)
        if earlier != row:
            keep[row] = False
            n_other += targets(earlier) != targets(row)
        else:
            by_id.setdefault(doc_id, []).append(row)
    _warn_ids_of_other_texts(path, by_id, lines)
    left_out = np.flatnonzero(~keep)
    if not len(left_out):
        return None
    shown = and_more(left_out, _SHOWN_LINES, lambda row: str(lines[row]), serial=False)
    other = (f"; {n_other:,} of them with other labels or scores than that line, which are "
             "not learnt" if n_other else "")
    logger.warning("%s: %s line%s repeat%s the id and text (case and spacing aside) of an "
                   "earlier line, left out (at line%s %s): a document labelled twice "
                   "(label outputs concatenated?) is learnt once, from its first line, not "
                   "as two teacher votes%s", path, f"{len(left_out):,}", plural_s(len(left_out)),
                   "" if len(left_out) != 1 else "s", plural_s(len(left_out)), shown, other)
    return keep


def _warn_ids_of_other_texts(path: str | Path, by_id: dict[str, list[int]],
                             lines: Sequence[int]) -> None:
    """Warns, naming the file, the first ids and their lines, of the ids ``by_id`` gives
    to rows of more than one text (per id, the first row of each text): each is learnt
    as its own document, which two label outputs of corpora with the same file names
    (``doc1.txt`` in each) concatenated into one file make without a word."""
    shared = [(doc_id, rows) for doc_id, rows in by_id.items() if len(rows) > 1]
    if not shared:
        return

    def said(id_rows: tuple[str, list[int]]) -> str:
        doc_id, rows = id_rows
        return (f"{doc_id!r} at lines {', '.join(str(lines[row]) for row in rows[:4])}"
                f"{', ...' if len(rows) > 4 else ''}")

    shown = and_more(shared, _SHOWN_IDS, said, sep="; ")
    logger.warning("%s: %s id%s %s given to lines of other texts (%s), each learnt as "
                   "its own document: label outputs of corpora with the same document "
                   "names concatenated? An id names one document", path, f"{len(shared):,}",
                   plural_s(len(shared)), "is" if len(shared) == 1 else "are", shown)


def _not_copies(path: str | Path, doc_ids: Sequence[str | None],
                copy_of: Sequence[str | None], lines: Sequence[int],
                texts: Sequence[str], hashes: np.ndarray | None = None
                ) -> np.ndarray | None:
    """Which of a soft-label file's documents to learn from (``None``: all of them): not
    the copies (``copy_of`` naming the id of an unmarked document, whose text is learnt
    already); of the ones naming an id no unmarked document has, the first (whose text
    is nowhere else). Logs how many are left out, and warns of the ones kept.

    A mark the file contradicts is refused naming the file and the marked line (a
    :class:`CorpusFormatError`), never followed: a text that is not its document's (case
    and spacing aside, the rule ``label --budget`` found the copy by:
    :func:`~tagsmith.pipeline.train.duplicate_groups`), or than the first line marked
    with the same missing id, was left out or learnt in another's place; and a mark
    naming a marked line (a copy of a copy, or the line itself), which ``label
    --budget`` never writes, was kept as a text "nowhere else" beside its twin."""
    if all(source is None for source in copy_of):
        return None
    from tagsmith.data.texthash import hash_texts

    if hashes is None:  # hash_texts of texts, unless the caller has them
        hashes = hash_texts(texts)
    present: dict[str, list[int]] = {}  # per unmarked id: its rows
    marked: dict[str, int] = {}  # per marked line's id: its first row
    for row, (doc_id, source) in enumerate(zip(doc_ids, copy_of, strict=True)):
        if doc_id is not None:
            if source is None:
                present.setdefault(doc_id, []).append(row)
            else:
                marked.setdefault(doc_id, row)
    keep = np.ones(len(copy_of), bool)
    orphans: dict[str, int] = {}  # per id not in the file: the row of its copy kept
    for row, source in enumerate(copy_of):
        if source is None:
            continue
        if source in present:
            rows = present[source]
            if not any(hashes[row] == hashes[other] for other in rows):
                raise CorpusFormatError(
                    f"marked 'copy_of' {source!r}, the document at line {lines[rows[0]]}, "
                    "but its text is not that document's (case and spacing aside): a "
                    "copy is left out of training, its text learnt from the document it "
                    "copies; remove the mark, or correct it", path=path, line=lines[row])
            keep[row] = False
        elif source in marked:
            first = marked[source]
            what = ("its own id" if doc_ids[row] == source else
                    f"the id of line {lines[first]}, itself a copy (marked 'copy_of' "
                    f"{copy_of[first]!r})")
            raise CorpusFormatError(
                f"marked 'copy_of' {source!r}, {what}: 'copy_of' names the unmarked "
                "document whose text the line copies", path=path, line=lines[row])
        elif source in orphans:
            first = orphans[source]
            if hashes[row] != hashes[first]:
                raise CorpusFormatError(
                    f"marked 'copy_of' {source!r}, as line {lines[first]} is, but its text "
                    "is not that line's (case and spacing aside): copies of one document "
                    "have one text; remove the mark, or correct it", path=path,
                    line=lines[row])
            keep[row] = False
        else:
            orphans[source] = row
    n_left_out = int(np.count_nonzero(~keep))
    if orphans:
        shown = and_more(list(orphans.values()), _SHOWN_LINES, lambda row: str(lines[row]),
                         serial=False)
        logger.warning("%s: %s line%s marked 'copy_of' an id that no unmarked line has, "
                       "kept (at line%s %s): the text they copy is nowhere else in the "
                       "file", path, f"{len(orphans):,}", plural_s(len(orphans)),
                       plural_s(len(orphans)), shown)
    if n_left_out:
        logger.info("%s: %s copy line%s (marked 'copy_of': equal text, case and spacing "
                    "aside, to a document in the file) left out of training: each text is "
                    "learnt once", path, f"{n_left_out:,}", plural_s(n_left_out))
    return keep


def map_to_vocabulary(generated: LabelSpace, vocabulary: LabelSpace, *,
                      encoder: Encoder | None = None, cache_dir: str | Path | None = None,
                      min_similarity: float = 0.5, lang: str = "en",
                      show_progress: bool = False) -> list[dict]:
    """Best match in ``vocabulary`` for each generated label.

    With a sentence ``encoder`` (by meaning) similarity is embedding cosine of each
    generated ``name: description`` and the vocabulary's names, alternative labels and
    descriptions (as zero-shot scores a label); without (by spelling), cosine of
    character n-gram TF-IDF of the generated names and the vocabulary's names and
    alternative labels (the best of them). Matches below ``min_similarity`` (in [-1, 1];
    compared as reported, rounded to 4 decimals) are reported with ``"match_uri": None``.
    Deprecated labels of ``vocabulary`` are never matched. ``show_progress`` shows the
    encoder's progress (minutes for a vocabulary of thousands of labels on a CPU).
    ``cache_dir`` (with an encoder): where the vocabulary's embeddings are cached, as
    :class:`~tagsmith.zeroshot.scorer.ZeroShotClassifier` caches them (``None`` or ``""``
    for none), so that mapping onto the same vocabulary again does not embed it again.

    The two scales differ: by spelling the same name scores 1.0 and names that share
    a word or an ending about 0.5-0.8 ('Joblessness' and 'Homelessness' 0.58); by
    meaning the same name scores about 0.8-0.9 (a description beside it), synonyms
    about 0.5-0.9 ('Dogs' and 'Canines' 0.66, 'Mergers and acquisitions' and
    'Takeover' 0.93), and in a vocabulary of thousands of concepts a label with no
    equivalent still finds a neighbour near 0.6 ('Zebra husbandry' and 'Animal
    husbandry' in STW): there, about 0.7 keeps the close ones.
    """
    min_similarity = _check_min_similarity(min_similarity)
    _check_mapping_encoder(vocabulary, encoder, cache_dir)
    gen_texts = [_describe(generated, i, lang, descriptions=encoder is not None)
                 for i in range(len(generated))]
    # a deprecated label is retired, never a match (as zero-shot never suggests one)
    live = np.flatnonzero(~vocabulary.deprecated_mask)
    if encoder is not None and not len(live):  # the scorer refuses such a vocabulary
        found = [(-1, 0.0)] * len(generated)
    elif encoder is not None:
        from tagsmith.zeroshot.scorer import ZeroShotClassifier

        scorer = ZeroShotClassifier(vocabulary, encoder, lang=lang,
                                    cache_dir=cache_dir or None,
                                    show_progress=show_progress)
        # the generated labels are no documents: the foreign-text warning (of documents,
        # its advice label_documents and distill_classifier) is not theirs
        topk = scorer.predict_topk(gen_texts, 1, warn_foreign=False)
        found = [(int(topk.indices[i, 0]), float(topk.scores[i, 0]))
                 for i in range(len(generated))]
    else:
        from tagsmith.features.tfidf import TfidfFeaturizer
        from tagsmith.zeroshot.scorer import label_texts

        # the names and alternative labels of the labels not deprecated: an altLabel
        # 'Dogs' names its concept too, and was left out here though meaning counts it
        texts, owners = label_texts(vocabulary, lang=lang, use_descriptions=False) \
            if len(live) else ([], np.zeros(0, np.int32))
        if texts:
            featurizer = TfidfFeaturizer(word_ngrams=None, char_ngrams=(2, 4), min_df=1)
            V = featurizer.fit_transform(texts + gen_texts)
            sims = (V[len(texts):] @ V[:len(texts)].T).toarray()
            best = sims.argmax(axis=1)
            found = [(int(owners[best[i]]), float(sims[i, best[i]]))
                     for i in range(len(generated))]
        else:
            found = [(-1, 0.0)] * len(generated)
    out = []
    for i, (best_id, score) in enumerate(found):
        # the similarity reported decides: 0.49996, reported 0.5, was no match at 0.5
        score = round(score, 4)
        matched = best_id >= 0 and score >= min_similarity
        out.append({"uri": generated.uri_of(i), "label": generated.name_of(i, lang),
                    "match_uri": vocabulary.uri_of(best_id) if matched else None,
                    "match_label": vocabulary.name_of(best_id, lang) if matched else None,
                    "similarity": score})
    return out


def _check_mapping_encoder(map_to: LabelSpace | None, encoder: object,
                           cache_dir: object) -> None:
    """Refuse an ``encoder`` without ``map_to`` (nothing to map: it was silently
    ignored), a ``cache_dir`` without an encoder (only the mapping by meaning embeds),
    and an encoder or cache of the wrong type before anything is paid for (the scorer
    refused them once the taxonomy's LLM calls were spent)."""
    from tagsmith.zeroshot.scorer import check_cache_dir, check_encoder

    if encoder is not None and map_to is None:
        raise InvalidParameterError("encoder", "None without map_to (the encoder maps the "
                                    "generated labels onto map_to by meaning)",
                                    type(encoder).__name__)
    if encoder is not None:
        check_encoder(encoder)
    check_cache_dir(cache_dir)
    if cache_dir not in (None, "") and encoder is None:
        raise InvalidParameterError("cache_dir", "None without an encoder (it caches the "
                                    "vocabulary's embeddings for the mapping by meaning)",
                                    str(cache_dir))


def _check_min_similarity(value: object) -> float:
    """``min_similarity`` as a float in [-1, 1] (both similarities are cosines)."""
    from tagsmith._params import check_number

    return check_number("min_similarity", value, -1, maximum=1, numpy=True)


def _describe(space: LabelSpace, label_id: int, lang: str, *, descriptions: bool) -> str:
    """A generated label's text to match: its name, and ``name: description`` for an
    encoder (as zero-shot embeds a label), which compares meanings. The encoder was
    given the name alone, though the matching was documented over descriptions too; the
    n-gram match compares spellings of names, which a description would only blur."""
    from tagsmith.data.labelspace import in_language

    name = space.name_of(label_id, lang)
    description = (in_language(space[label_id].description, lang) or "").strip()
    return f"{name}: {description}" if descriptions and description else name


#: the fewest human-sample documents the LLM answered for a reliability estimate
#: to pass without a warning, and the largest share of the sample it may leave out
RELIABILITY_MIN_DOCS = 30
RELIABILITY_MAX_LEFT_OUT = 0.25
# times the LLM named a label on the human sample before the info line ranks its precision
LEAST_PRECISE_MIN_NAMED = 5


def _warn_thin_reliability(n_used: int, n_sample: int, n_off_shortlist: int = 0) -> None:
    """Warn that the LLM's reliability rests on few documents: fewer than
    :data:`RELIABILITY_MIN_DOCS` of the human sample answered, or more than
    :data:`RELIABILITY_MAX_LEFT_OUT` of it left out (a failed call or malformed answer is
    no evidence). 64 malformed answers of 79 left an estimate from 15 documents that
    only the summary's ``n_left_out`` told of. ``n_off_shortlist`` of those left out
    were answered with labels off their shortlist only: said apart, as a shortlist too
    narrow (on YSO, all of them were, and were called failed calls or malformed)."""
    left_out = n_sample - n_used
    if n_used >= RELIABILITY_MIN_DOCS and left_out <= RELIABILITY_MAX_LEFT_OUT * n_sample:
        return
    from tagsmith.labeling.labeler import NARROW_SHORTLIST, NARROW_SHORTLIST_PY

    others = left_out - n_off_shortlist

    def why(narrow_hint: str) -> str:
        """What left documents out, advising ``narrow_hint`` of a shortlist too narrow."""
        reasons = [f"{n_off_shortlist:,} answered only with labels off "
                   f"{plural(n_off_shortlist, 'its', 'their')} shortlist: too narrow a "
                   f"shortlist ({narrow_hint})"] \
            if n_off_shortlist else []
        if others:
            reasons.append(f"{others:,} failed or malformed" if reasons
                           else "a failed call or malformed answer")
        return f" ({left_out:,} left out: {'; '.join(reasons)})" if left_out else ""

    told = ("the LLM's per-label reliability is estimated from only %(used)s of the "
            "%(sample)s human-labelled document%(s)s%({})s: a rough estimate (warned under "
            "%(fewest)d documents, or over %(share)d%% of the sample left out)")
    # the shortlist advice names LabelingOptions' shortlist_k to a Python caller, label's
    # options on the command line, whose filter swaps in cli_message (it told a notebook
    # "--shortlist-k" and "--shortlist BUNDLE")
    logger.warning(told.format("why"), {
        "used": f"{n_used:,}", "sample": f"{n_sample:,}", "s": plural_s(n_sample),
        "why": why(NARROW_SHORTLIST_PY), "why_cli": why(NARROW_SHORTLIST),
        "fewest": RELIABILITY_MIN_DOCS, "share": round(RELIABILITY_MAX_LEFT_OUT * 100)},
        extra={"cli_message": told.format("why_cli")})


def _shortlist_recall(shortlist: TopK, Y_human: sp.csr_matrix, label_space: LabelSpace,
                      options: LabelingOptions | None) -> float | None:
    """Share of the human sample's labels that its shortlist offered the LLM (None: the
    sample has no label); the LLM can name no other."""
    from tagsmith.metrics.sets import recall_micro

    truth = sp.csr_matrix(Y_human) > 0
    if not truth.count_nonzero():
        return None
    # the offered ids as a matrix, scored by the library's micro recall (a Python loop
    # over the documents with an isin per row did both)
    return round(recall_micro(truth, _offered_matrix(shortlist, truth.shape, label_space,
                                                     options)), 4)


#: a shortlist offering less of the human sample's labels than this is warned about
SHORTLIST_RECALL_WARN = 0.9

#: :func:`label_corpus`'s ``shortlist_source``: how the recall line names the shortlists
#: (``None``: a caller that did not say, "the shortlists")
SHORTLIST_SOURCES = {None: "the shortlists", "bundle": "the bundle's shortlists",
                     "zeroshot": "zero-shot's shortlists",
                     "union": "the union of the bundle's and zero-shot's shortlists"}


def _say_shortlist_recall(shortlist: TopK, Y_human: sp.csr_matrix, label_space: LabelSpace,
                          options: LabelingOptions | None,
                          source: str | None = None) -> float | None:
    """Log, before any call, how many of the human sample's labels its shortlists offer:
    the LLM can name no other, so a narrow shortlist caps its recall whatever it costs
    (the summary's ``reliability.shortlist_recall`` said so only once all was paid for).
    A warning below :data:`SHORTLIST_RECALL_WARN`. ``source`` names where the shortlists
    came from (:data:`SHORTLIST_SOURCES`). Returns it as
    :func:`_shortlist_recall` does (a dry run's summary took it computed again)."""
    truth = sp.csr_matrix(Y_human) > 0
    n_labels = int(truth.count_nonzero())
    if not n_labels:
        return None
    offered = _offered_matrix(shortlist, truth.shape, label_space, options)
    n_offered = int(truth.multiply(offered).count_nonzero())
    recall = n_offered / n_labels
    from tagsmith.labeling import labeler

    options = check_options("options", options, labeler.LabelingOptions)
    width = min(shortlist.indices.shape[1], options.shortlist_k)
    if recall < SHORTLIST_RECALL_WARN:
        told = ("%(source)s (%(width)d best labels a document) offer %(offered)s of the "
                "human sample's %(labels)s labels (shortlist recall %(recall).4f), before "
                "any call: the LLM can name no other, so %(missed)s of them (and about as "
                "large a share of the corpus's) are out of its reach: %({})s")
        # LabelingOptions' shortlist_k to a Python caller (it was told "raise
        # --shortlist-k"), label's options on the command line (cli_message)
        logger.warning(told.format("hint"), {
            "source": SHORTLIST_SOURCES[source], "width": width,
            "offered": f"{n_offered:,}", "labels": f"{n_labels:,}",
            "recall": recall, "missed": f"{n_labels - n_offered:,}",
            "hint": labeler.NARROW_SHORTLIST_PY, "hint_cli": labeler.NARROW_SHORTLIST},
            extra={"cli_message": told.format("hint_cli")})
    else:
        logger.info("%s (%d best labels a document) offer %s of the human "
                    "sample's %s labels (shortlist recall %.4f): the LLM can name no other",
                    SHORTLIST_SOURCES[source], width, f"{n_offered:,}", f"{n_labels:,}", recall)
    _warn_never_offered(truth, offered, label_space, options, source)
    return round(recall, 4)


def _never_offered_hints(source: str | None, labeler: Any) -> dict[str, str]:
    """:func:`_warn_never_offered`'s advice, to a Python caller (``hint``) and on the
    command line (``hint_cli``): a bundle's shortlist cannot hold the labels its model
    was not trained on; zero-shot's (or the union's) is too narrow."""
    if source in ("zeroshot", "union"):
        return {"hint": labeler.NARROW_SHORTLIST_PY, "hint_cli": labeler.NARROW_SHORTLIST}
    untrained = ("a label the shortlist's model was not trained on (one the vocabulary "
                 "gained since) is offered by ")
    return {"hint": untrained + "a TopK from zero-shot retrieval, or by no shortlist "
            "(the whole label set)",
            "hint_cli": untrained + "--shortlist-zeroshot, or by the whole label set (no "
            "--shortlist)"}


#: the fewest documents of the human sample a label offered to none of them must hold
#: to be warned about (a label once in a sample of thousands of labels is no pattern)
NEVER_OFFERED_MIN_DOCS = 2


def _warn_never_offered(truth: sp.csr_matrix, offered: sp.csr_matrix,
                        label_space: LabelSpace, options: LabelingOptions,
                        source: str | None) -> None:
    """Warn of the labels that the human sample gives at least
    :data:`NEVER_OFFERED_MIN_DOCS` documents but that no shortlist offers to any of its
    documents: not a narrow shortlist but one that cannot hold them (a ``--shortlist``
    bundle trained before the vocabulary gained them): the LLM never names them, and a
    student distilled from its labels never learns them. A shortlist recall of 0.92
    on a news desk's sample passed as an INFO line while all 25 of its labels of the
    month's 8 new topics were out of reach."""
    from tagsmith.labeling import labeler

    held = np.asarray(truth.sum(axis=0)).ravel()
    ever = np.asarray(offered.sum(axis=0)).ravel() > 0
    never = np.flatnonzero((held >= NEVER_OFFERED_MIN_DOCS) & ~ever)
    if not never.size:
        return
    never = never[np.argsort(-held[never], kind="stable")]
    named = [f"{label_space.name_of(int(i), options.lang)!r} ({int(held[i]):,})"
             for i in never]
    told = ("%(n)s label%(s)s that the human sample gives at least %(min)d documents "
            "%(are)s offered by %(source)s to none of its documents (%(named)s; %(held)s "
            "of its %(labels)s labels): the LLM can never name %(them)s, nor a model "
            "distilled from its labels learn %(them)s: %({})s")
    logger.warning(told.format("hint"), {
        "n": f"{never.size:,}", "s": plural_s(never.size), "min": NEVER_OFFERED_MIN_DOCS,
        "are": plural(never.size, "is", "are"), "source": SHORTLIST_SOURCES[source],
        "named": and_more(named, 5, str, serial=False),
        "held": f"{int(held[never].sum()):,}", "labels": f"{int(held.sum()):,}",
        "them": plural(never.size, "it", "them"),
        **_never_offered_hints(source, labeler)},
        extra={"cli_message": told.format("hint_cli")})


def _offered_matrix(shortlist: TopK, shape: tuple[int, int], label_space: LabelSpace,
                    options: LabelingOptions | None) -> sp.csr_matrix:
    """The labels ``shortlist`` offered the LLM, as a boolean ``shape`` matrix."""
    from tagsmith.labeling import labeler

    options = check_options("options", options, labeler.LabelingOptions)
    offered = labeler.offered_labels(shape[0], label_space, shortlist, options)
    lengths = np.fromiter(map(len, offered), np.int64, count=len(offered))
    indices = np.concatenate(offered) if offered else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(indices.size, bool), indices,
                          np.concatenate(([0], np.cumsum(lengths)))), shape=shape)


def _recalls(Y_llm: sp.csr_matrix, Y_human: sp.csr_matrix, answered: np.ndarray,
             offered: sp.csr_matrix | None) -> dict:
    """The LLM's recall end to end, and on what it was offered (issue 6).

    ``end_to_end_recall``: the share of every human label of the sample (the documents
    left out of the reliability estimate included: theirs are all missed) that the LLM's
    labels name, ``n_human_labels_named`` of ``n_human_labels``: about the shortlist's
    recall times the LLM's. With a shortlist (``offered``), ``offered_recall``: the
    LLM's recall on the human labels its shortlist offered, on the documents it
    answered (``micro_recall`` counts every human label of those documents, offered or
    not). ``None`` where there is no such label."""
    truth = sp.csr_matrix(Y_human) > 0
    truth.eliminate_zeros()
    named = sp.csr_matrix(Y_llm) > 0
    hits = truth.multiply(named)
    n_true, n_hits = int(truth.count_nonzero()), int(hits.count_nonzero())
    out: dict[str, Any] = {
        "end_to_end_recall": round(n_hits / n_true, 4) if n_true else None,
        "n_human_labels": n_true, "n_human_labels_named": n_hits}
    if offered is not None:
        rows = np.flatnonzero(answered)
        offered = sp.csr_matrix(offered)[rows]
        # plain ints: numpy's made offered_recall a numpy float in the Python summary
        reachable = int(sp.csr_matrix(truth[rows].multiply(offered)).count_nonzero())
        found = int(sp.csr_matrix(hits.tocsr()[rows].multiply(offered)).count_nonzero())
        out["offered_recall"] = round(found / reachable, 4) if reachable else None
    return out


def _student_on_human(student: TextClassifier, taught: np.ndarray,
                      human_texts: Sequence[str], Y_human: sp.csr_matrix) -> dict:
    """The distilled student's accuracy against the human sample, on the sample's
    documents it was not taught (texts matched as held-out data is checked everywhere,
    :func:`~tagsmith.pipeline.train.in_training`): the sample is drawn apart from the
    pool, but a pool may hold some of its texts. ``human_accuracy`` is ``None`` when no
    untaught document of the sample has a label. ``taught``: the hashes of the texts
    taught (:func:`~tagsmith.pipeline.train.text_hashes`' rule)."""
    from tagsmith.pipeline.evaluate import evaluate_classifier
    from tagsmith.pipeline.train import in_training

    human_texts = list(human_texts)
    was_taught = in_training(np.unique(taught), human_texts)
    keep = np.flatnonzero(~was_taught)
    Y_keep = sp.csr_matrix(Y_human)[keep]
    record: dict[str, Any] = {"n_docs": int(len(keep)),
                              "n_taught_left_out": int(was_taught.sum()),
                              "human_accuracy": None}
    if Y_keep.nnz:
        # source=None: the taught documents are left out above (no second hashing pass)
        record["human_accuracy"] = evaluate_classifier(
            student, [human_texts[i] for i in keep], Y_keep, source=None)
    return record


def label_corpus(texts: Sequence[str], label_space: LabelSpace, client: LLMClient,
                 options: LabelingOptions | None, *, shortlist: TopK | None = None,
                 human: tuple[Sequence[str], sp.csr_matrix] | None = None,
                 human_shortlist: TopK | None = None, budget: int | None = None,
                 strategy: str = "robust", rounds: int = 4, seed: int = 0,
                 rare_share: float = 0.0, rare_give_up: int = 0,
                 student_kept: bool = True,
                 labelled: tuple[Sequence[str], sp.csr_matrix] | None = None,
                 dry_run: bool = False, shortlist_source: str | None = None,
                 _text_hashes: np.ndarray | None = None,
                 _labelled_pool: tuple[np.ndarray, sp.csr_matrix, int] | None = None
                 ) -> dict:
    """Label documents with the LLM: all of them, or a budget chosen by active selection.

    ``human`` (texts, labels) is a human-labelled sample: the LLM labels it too, its
    per-label reliability is estimated (over the documents it answered: failed calls,
    malformed answers and answers naming only labels off the shortlist are left out and
    counted; beside it, the recall end to end, :func:`_recalls`) and its answers become
    reliability-weighted soft targets (and, with a budget, robust selection knows the
    teacher's error rate and per-label precision). ``human_shortlist`` is the sample's
    own shortlist (from the same model or zero-shot scorer as ``shortlist``), needed like
    ``shortlist`` for label spaces too large to show whole. Returns ``{"rows": pool
    indices labelled, "Y": soft targets (rows x labels), "summary": dict, "student":
    TextClassifier or None}``; with a budget, ``rows`` are the documents the teacher
    answered, in the order asked, then
    the copies of those (equal texts, case and spacing aside; never sent) in pool order,
    each with its document's targets (counted in the summary's
    ``active.n_copies_labelled``; ``"copy_of"`` holds, per row, the pool index of the
    document a copy copies, -1 for the documents answered), ``"Y_learnt"`` (the
    targets the student learnt: those of ``labelled``'s documents in the pool, then the
    answered ones', no copy), ``"unknown"`` (with a budget
    or without) per row the names its answer gave that no one label has (a copy: its
    document's), ``"offered"`` (with a shortlist) per row the label ids its prompt
    offered, ``student`` is the model
    distilled along the way (on the documents answered only: a copy would count its text
    twice), and with a budget and
    ``human`` the summary's ``"student"`` holds its accuracy against the human labels
    (``n_docs``, ``n_taught_left_out``, ``human_accuracy``: the sample's documents the
    student was not taught; also in the student's manifest under ``distillation``:
    ``human_accuracy``, the metrics as ``distill --human`` records them, beside
    ``human_n_docs`` and ``human_n_taught_left_out``). With a budget and only blank
    ``texts``, no row is labelled (``student`` ``None``, the summary's
    ``labeling.n_blank_docs`` counting them) and nothing is sent, not even ``human``;
    so with no ``texts``, as without a budget. ``student_kept``: whether the caller
    keeps the student (see :func:`~tagsmith.pipeline.distill.active_distill`).
    ``labelled`` (texts, targets; with a budget): documents the teacher labelled in
    earlier runs (``label --budget --labelled``, their outputs). Those of ``texts`` (equal
    text, case and spacing aside) and their copies are never sent; the student learns
    from them from the first round; the budget buys new documents only, and ``rows`` are
    the new ones (the summary's ``active.n_labelled_before`` counts those found in
    ``texts``, ``active.n_labelled_not_in_pool`` the others, which are not learnt).

    ``dry_run``: check and say everything that comes before the first call (the
    shortlist's recall on ``human``, each pass's calls and prompt size, those the
    response cache answers apart: :func:`~tagsmith.labeling.labeler.count_calls`), then
    return with no call sent and no row: the summary holds ``"dry_run": True``, the
    counts of the human sample in ``human_labeling`` and of the corpus in ``labeling``
    (with a budget, whose documents are chosen as the answers come, ``n_docs``,
    ``budget``, ``n_calls_at_most`` and the estimate of their prompts,
    ``prompt_tokens_each``, ``prompt_tokens_at_most_estimate`` and, where priced,
    ``prompt_cost_at_most_estimate``, instead) and, with a shortlist and ``human``,
    ``reliability.shortlist_recall``.

    ``shortlist_source``: where ``shortlist`` and ``human_shortlist`` came from,
    ``"bundle"`` (a trained model's best labels), ``"zeroshot"`` or ``"union"`` (both),
    as the line saying the shortlist's recall on ``human`` names them (``None``: "the
    shortlists"); ``label`` records it in its summary's ``shortlist_source``.

    ``_text_hashes`` (private, keyword-only, as ``train_classifier``'s and
    ``active_distill``'s; not part of the API, it may go without notice): the texts'
    fingerprints where the caller has them already (:func:`check_labelled_leaves_some`
    returns them, as ``label --budget --labelled`` does), not computed again; and
    ``_labelled_pool``, alike, which of them ``labelled`` labelled (its ``_pool``), read
    with those fingerprints alone.
    """
    from tagsmith.labeling.labeler import LabelingReport, label_documents, warn_rejections
    from tagsmith.labeling.reliability import estimate_minority_reliability, estimate_reliability

    shortlist_source = check_choice("shortlist_source", shortlist_source,
                                    [*SHORTLIST_SOURCES])
    summary: dict = {}
    active: ActiveOptions | None = None
    hashes = groups = np.zeros(0, np.int64)
    all_blank = False  # with a budget: every text is blank (or there is none)
    if budget is not None:  # checked before the human sample is paid for
        from tagsmith.data.texthash import BLANK_HASH, hash_texts
        from tagsmith.features.tfidf import _as_list
        from tagsmith.pipeline.distill import ActiveOptions, budget_cut_message
        from tagsmith.pipeline.train import groups_of_hashes

        budget = check_int("budget", budget, 1, numpy=True)
        # every text hashed once, here: the budget's cut, the selection's copies, the
        # copies given their text's answer and the student's taught texts read these
        texts = _as_list(texts, "texts")
        hashes = hash_texts(texts) if _text_hashes is None else np.asarray(_text_hashes)
        if hashes.shape != (len(texts),):  # another corpus's: a wrong budget and copies
            raise InvalidParameterError("_text_hashes", f"{len(texts):,} fingerprints, "
                                        "one a text", hashes.shape)
        groups = groups_of_hashes(hashes, BLANK_HASH)
        # nothing to send (answered below, once the arguments are checked): no text was
        # refused as "budget must be in [1, 0], got 0", a budget never given
        all_blank = bool(np.all(hashes == BLANK_HASH))
        n_usable = len(texts)
        if not all_blank:
            n_usable = _distinct_non_blank(groups, hashes == BLANK_HASH)  # one at least
        if labelled is not None:  # the pool's documents labelled in earlier runs
            # the caller's, taken with the fingerprints given (a Python loop over the
            # corpus: label --budget --labelled ran it twice)
            before, Y_before, n_not_in_pool = _labelled_pool \
                if _labelled_pool is not None and _text_hashes is not None else \
                _labelled_in_pool(labelled, hashes, len(label_space))
            if not all_blank:  # what is left to send
                n_usable = max(n_usable - len(before), 0)
            if n_not_in_pool:  # another corpus's labels, or a corpus edited since
                logger.warning("%s of the documents labelled before %s not in the corpus "
                               "to label: they are not learnt", f"{n_not_in_pool:,}",
                               plural(n_not_in_pool, "is", "are"))
            if not all_blank:  # before a warning of a budget cut to 0
                _refuse_all_labelled(n_usable, len(before))
        if budget > n_usable and not all_blank:  # the selection can spend no more: say so
            # cut once, to what active distillation sends (no blank text, no copy): a cut
            # to len(texts) here made it cut again, warning of a 'budget=' never asked,
            # and a budget under len(texts) was cut there alone, in other words
            logger.warning("%s", budget_cut_message(
                budget, len(texts), n_usable, "to label",
                1 if options is None else options.votes))
        # (no text: the other options checked as for a pool of one)
        active = ActiveOptions(budget=min(budget, max(n_usable, 1)), strategy=strategy,
                               rounds=rounds, seed=seed, rare_share=rare_share,
                               rare_give_up=rare_give_up,
                               show_progress=options is not None and options.show_progress)
        active.validate(max(len(texts), 1), len(label_space))
    reliability = None
    if human is not None:
        Y_human = sp.csr_matrix(human[1])
        if Y_human.shape != (len(human[0]), len(label_space)):  # before paying for answers
            raise InvalidParameterError("human", f"labels of shape ({len(human[0])}, "
                                        f"{len(label_space)}) for its texts", Y_human.shape)
    if all_blank:
        # with a budget, no row answered and the blank documents counted, as without one,
        # and the human sample not paid for (active distillation refused them as
        # 'pool_texts', a name the CLI's user never gave, after a warning of teacher
        # calls to be spent)
        if dry_run:  # counted as without a budget: its summary lacked "dry_run": True
            return _dry_run(texts, label_space, client, options, shortlist, None, None,
                            None, None)
        return {"rows": np.zeros(0, np.int64),
                "Y": sp.csr_matrix((0, len(label_space)), dtype=np.float32),
                "summary": {"labeling": LabelingReport(n_blank_docs=len(texts)).to_dict()},
                "student": None}
    shortlist_recall = None
    if human is not None and human_shortlist is not None:
        # free to compute, so said before the sample and the corpus are paid for
        shortlist_recall = _say_shortlist_recall(human_shortlist, Y_human, label_space,
                                                 options, shortlist_source)
    if human is not None and active is not None:
        # day 1 paid 800 calls for a budget of 500 and nothing said why: the budget buys
        # documents of the corpus (the output's, the student's); the sample is asked
        # first, for the teacher's reliability, and is not of them
        n_sample = len(human[0])
        logger.info("the human sample's %s document%s %s asked on top of the budget "
                    "(%s document%s of the corpus): its calls are not counted in it",
                    f"{n_sample:,}", plural_s(n_sample), plural(n_sample, "is", "are"),
                    f"{active.budget:,}", plural_s(active.budget))
    teaching = options
    if active is not None:
        # each round chooses by the answers before it: a malformed answer asked again on
        # a rerun got another answer, and the rerun other documents, paid for again. The
        # human sample's too: its answers give the teacher's reliability, which weighs
        # the students' targets and the selection's teacher error rate
        import dataclasses

        from tagsmith.labeling.labeler import LabelingOptions

        teaching = dataclasses.replace(options if options is not None
                                       else LabelingOptions(), keep_malformed=True)
    if dry_run:  # a budget's human sample counted as it is asked (teaching)
        return _dry_run(texts, label_space, client, teaching, shortlist, human,
                        human_shortlist, active, shortlist_recall, groups)
    if human is not None:
        sample = label_documents(list(human[0]), label_space, client, teaching,
                                 shortlist=human_shortlist,
                                 desc="LLM labeling of the human sample")
        # a failed or malformed answer is no evidence that the LLM names no label
        answered = np.flatnonzero(sample.answered)
        if not len(answered):
            from tagsmith.exceptions import LLMError

            # "Last error: None" where every answer named labels off its shortlist only,
            # and "0 answers named only labels off..." where nothing was sent; each kind
            # counted, with its first message: the last error alone was named, where
            # others were malformed or named labels off their shortlist
            unanswered = sample.report.unanswered()
            if unanswered:
                why = "; ".join(unanswered)
                why = why[0].upper() + why[1:]
            elif not sample.report.n_calls:
                why = ("No request was sent: each document was blank or its shortlist "
                       "held only labels deprecated in the vocabulary")
            else:
                why = "No error was reported"
            refused = sample.report.refused_docs
            if refused:
                # for a person to take: the JSON summary's human_labeling.refused_docs,
                # which the warning points at, is never printed when the run stops here
                why += (". Refused, for a person to take: the sample's document"
                        f"{plural_s(len(refused))} "
                        + ", ".join(f"#{doc + 1}" for doc in refused[:20])
                        + (f", ... ({len(refused):,} in all)" if len(refused) > 20 else ""))
            raise LLMError(f"the LLM answered {none_of(len(sample.answered))} "
                           "in the human sample, so its reliability cannot be estimated. "
                           + why)
        offered = None
        if human_shortlist is not None:
            offered = _offered_matrix(human_shortlist, Y_human.shape, label_space, options)
        # each label's recall over the documents it was offered to: one no shortlist
        # offered read as missed by the LLM on all of its documents
        # with votes, the labels the teacher gave are those more than half of a
        # document's votes named: a label one vote of 3 named counted as given, and the
        # more votes, the worse the teacher looked (precision 0.68, 0.52 and 0.40 at 1, 3
        # and 5 votes of a simulated teacher whose majority erred less than its one vote)
        named = sample.majority()
        reliability = estimate_reliability(
            named[answered], Y_human[answered],
            offered=None if offered is None else offered[answered])
        if options is not None and options.votes > 1:
            # the labels at most half the votes named, weighed by their own precision on
            # the sample: that of the labels the votes agree on was applied to them too,
            # a label one vote of 3 named taken for as right as one all 3 named
            fewer = sp.csr_matrix(sample.Y - named)
            fewer.eliminate_zeros()
            reliability.minority = estimate_minority_reliability(fewer[answered],
                                                                 Y_human[answered])
        off = sample.off_shortlist
        n_off = 0 if off is None else int(np.count_nonzero(off))
        summary["reliability"] = {**reliability.to_dict(),
                                  "n_left_out": int(len(sample.answered) - len(answered)),
                                  "n_left_out_off_shortlist": n_off,
                                  "labels": _reliability_per_label(
                                      reliability, named[answered], Y_human[answered],
                                      label_space,
                                      options.lang if options is not None else "en",
                                      None if offered is None else offered[answered])}
        _warn_thin_reliability(len(answered), len(sample.answered), n_off)
        if human_shortlist is not None:
            # the LLM's recall is capped by the shortlist's: say which one falls short
            # (_say_shortlist_recall's figure: computed again, it built the offered
            # matrix a third time)
            summary["reliability"]["shortlist_recall"] = shortlist_recall
        # micro_recall is on the documents answered only: 0.30 on YSO, where 0.116 of
        # every human label of the sample was found (the shortlists missed most)
        summary["reliability"].update(_recalls(named, Y_human, sample.answered, offered))
        summary["human_labeling"] = sample.report.to_dict()
    if active is None:
        result = label_documents(list(texts), label_space, client, options,
                                 shortlist=shortlist)
        Y = (result.Y if reliability is None
             else reliability.soft_targets(result.Y, vote_share=result.vote_share))
        rows = np.flatnonzero(result.answered)
        summary["labeling"] = result.report.to_dict()
        unknown = None if result.unknown is None else [result.unknown[i] for i in rows]
        # each document's shortlist, where it had one: the labels the LLM could name
        offered = None if result.offered is None else [result.offered[i] for i in rows]
        return {"rows": rows, "Y": sp.csr_matrix(Y)[rows], "summary": summary,
                "student": None, "unknown": unknown, "offered": offered}
    from tagsmith.pipeline.distill import BUDGET_STARVED_REMEDY, active_distill, llm_teacher

    if reliability is not None:
        active.teacher_error_rate = min(reliability.doc_error_rate, 0.95)
        active.teacher_precision = reliability.precision
    # the teacher's calls are counted as without a budget: the CLI warns about failed
    # calls and malformed answers, and names the last error, from this report
    # the pool's blank documents, which active distillation never sends, are counted as
    # without a budget (n_blank_docs read 0, though n_docs counts the documents sent)
    report = LabelingReport(n_blank_docs=int(np.count_nonzero(hashes == BLANK_HASH)))
    # each answered document's unknown names (by pool index), for its line: they were
    # not carried through the rounds, and apply-review --decide-from read a misspelt
    # label on a budget run's line as one not given
    unknown_names: dict[int, list[str]] = {}
    teacher = llm_teacher(list(texts), label_space, client, teaching, reliability=reliability,
                          shortlist=shortlist, report=report, unknown=unknown_names)
    try:
        distilled = active_distill(list(texts), label_space, teacher, active,
                                   text_groups=groups, student_kept=student_kept,
                                   _starved_remedy=BUDGET_STARVED_REMEDY,
                                   _text_hashes=hashes,
                                   # its warnings name labels as the prompts do
                                   lang=options.lang if options is not None else "en",
                                   labelled_before=None if labelled is None
                                   else (before, Y_before),
                                   # a zero-shot shortlist scores every document for a
                                   # label's name: rare_share targets labels of no
                                   # positive yet by it (a bundle's or union's ranks
                                   # a label by what was learnt, or by places)
                                   zero_shot=shortlist if shortlist_source == "zeroshot"
                                   and active.rare_share else None)
    except NoTeacherAnswersError:
        # as without a budget: no row answered, the report says why (the CLI names
        # the last error and writes nothing)
        _list_refused_copies(report, groups)
        summary["labeling"] = report.to_dict()
        return {"rows": np.zeros(0, np.int64),
                "Y": sp.csr_matrix((0, len(label_space)), dtype=np.float32),
                "summary": summary, "student": None}
    _list_refused_copies(report, groups)
    summary["labeling"] = report.to_dict()
    if len(distilled.rounds) > 1:
        # each round's warning names its round: the run's totals were nowhere else but
        # in the summary's counts
        warn_rejections(report, f"LLM labeling, all {len(distilled.rounds)} rounds")
    # the budget spent: blank documents and copies in the pool cut the one asked for
    summary["active"] = dict(distilled.classifier.manifest["distillation"])
    # the budget counts a document whose call failed or whose answer was malformed or
    # refused: it spent its call (billed, for a malformed answer), and another document
    # asked in its place would spend more calls than the budget. How many, said: the
    # summary named the budget and the malformed answers apart, never the two together
    summary["active"]["n_spent_unanswered"] = int(
        sum(r["asked"] - r["answered"] for r in distilled.rounds))
    if labelled is not None:
        summary["active"]["n_labelled_before"] = int(len(before))
        summary["active"]["n_labelled_not_in_pool"] = n_not_in_pool
    if budget is not None and active.budget < budget:  # the record had the capped one
        # the student's record too: it held the capped budget as the one asked for
        distilled.classifier.manifest["distillation"]["budget_requested"] = budget
        summary["active"]["budget_requested"] = budget
    # a copy of a document answered (equal text, case and spacing aside) was never sent
    # and was left unlabelled, though the teacher's answer for its text applies to it at
    # no cost: it gets that answer in the output (after the documents sent), not in the
    # student's training, which would count the text twice
    rows, Y = distilled.selected, distilled.Y_teacher
    copies, sources = _copies_of(groups, rows)
    summary["active"]["n_copies_labelled"] = int(len(copies))
    # each copy's document, for the output to mark the copy (distill learns it once)
    copy_of = np.concatenate([np.full(len(rows), -1, np.int64), rows[sources]])
    # each document's shortlist, where it had one (a copy: its document's, which the
    # answer it gets was asked with)
    offered = None
    if shortlist is not None:
        from tagsmith.labeling.labeler import LabelingOptions, offered_labels

        shown = offered_labels(len(texts), label_space, shortlist,
                               teaching if teaching is not None else LabelingOptions())
        offered = [shown[i] for i in (np.concatenate([rows, rows[sources]]) if len(copies)
                                      else rows)]
    # a copy's: its document's, whose answer it gets
    unknown = [unknown_names.get(int(i), []) for i in (np.concatenate([rows, rows[sources]])
                                                        if len(copies) else rows)]
    if len(copies):
        rows = np.concatenate([rows, copies])
        Y = sp.vstack([Y, Y[sources]]).tocsr()
    if human is not None:  # how good the student is, where human labels say (issue 6)
        summary["student"] = _student_on_human(
            distilled.classifier, hashes[distilled.selected if labelled is None else
                                         np.concatenate([before, distilled.selected])],
            human[0], Y_human)
        record = summary["student"]
        # distillation.human_accuracy holds the metrics, as distill_classifier records
        # them (it held this whole record, so its "p@1" was one level deeper here than
        # in a student `distill --human` made); the counts beside it
        distilled.classifier.manifest["distillation"].update(
            human_accuracy=record["human_accuracy"], human_n_docs=record["n_docs"],
            human_n_taught_left_out=record["n_taught_left_out"])
    # the targets the student learnt: the documents labelled before (--labelled) and the
    # ones answered, each text once (no copy); "Y" holds this run's lines alone
    learnt = (distilled.Y_teacher if labelled is None or not len(before)
              else sp.vstack([sp.csr_matrix(Y_before), distilled.Y_teacher]).tocsr())
    return {"rows": rows, "Y": Y, "summary": summary, "student": distilled.classifier,
            "copy_of": copy_of, "offered": offered, "unknown": unknown,
            "Y_learnt": learnt}


def _dry_run(texts: Sequence[str], label_space: LabelSpace, client: LLMClient,
             options: LabelingOptions | None, shortlist: TopK | None,
             human: tuple[Sequence[str], sp.csr_matrix] | None, human_shortlist: TopK | None,
             active: ActiveOptions | None, shortlist_recall: float | None,
             groups: np.ndarray | None = None) -> dict:
    """:func:`label_corpus`'s ``dry_run``: the calls counted, none sent;
    ``shortlist_recall`` as :func:`_say_shortlist_recall` said it; ``groups`` (with a
    budget): the texts' groups of copies, the pool's prompts estimated once a group."""
    from tagsmith.labeling.labeler import LabelingOptions, count_calls

    summary: dict[str, Any] = {"dry_run": True}
    if human is not None:
        summary["human_labeling"] = count_calls(
            list(human[0]), label_space, client, options, shortlist=human_shortlist,
            desc="LLM labeling of the human sample")
        if human_shortlist is not None:
            summary["reliability"] = {"shortlist_recall": shortlist_recall}
    if active is None:
        summary["labeling"] = count_calls(list(texts), label_space, client, options,
                                          shortlist=shortlist)
    else:
        from tagsmith.pipeline.distill import round_sizes

        said = options if options is not None else LabelingOptions()
        votes = said.votes
        most = active.budget * votes
        # the rounds run: a budget too small for --rounds fills fewer ("a budget of 3
        # documents in 4 rounds" ran 3)
        n_rounds = len(round_sizes(active.budget, active.rounds, active.initial_fraction))
        # the documents are chosen round by round as the answers come: which of them the
        # response cache holds is not known before; their prompts' size is estimated
        # from the pool's (one document per distinct text, as the selection sends them):
        # the line said the calls alone, no tokens or cost, even with --price-prompt
        estimate = _budget_prompt_estimate(texts, label_space, client, options, shortlist,
                                           groups, most, summary.get("human_labeling"))
        head = (f"LLM labeling: at most {most:,} call{plural_s(most)} for a budget of "
                f"{active.budget:,} document{plural_s(active.budget)} in {n_rounds} "
                f"round{plural_s(n_rounds)}"
                # at which temperature, as the line of a run without a budget says
                + (f" ({votes} votes each, at temperature {said.vote_temperature})"
                   if votes > 1 else "")
                + ", the documents chosen as the answers come (those the response cache "
                "holds are not known before)")
        # an unknown prompt price named as the caller gives it: the client's
        # price_prompt to a Python caller, label's option on the command line (its
        # filter swaps in cli_message)
        logger.info("%(head)s%(line)s", {"head": head, "line": estimate.pop("line"),
                                          "line_cli": estimate.pop("line_cli")},
                    extra={"cli_message": "%(head)s%(line_cli)s"})
        summary["labeling"] = {"n_docs": len(texts), "budget": active.budget,
                               "n_calls_at_most": most, **estimate}
    return {"rows": np.zeros(0, np.int64),
            "Y": sp.csr_matrix((0, len(label_space)), dtype=np.float32),
            "summary": summary, "student": None}


def _budget_prompt_estimate(texts: Sequence[str], label_space: LabelSpace,
                            client: LLMClient, options: LabelingOptions | None,
                            shortlist: TopK | None, groups: np.ndarray | None, most: int,
                            human_counts: dict | None) -> dict:
    """A budget's dry run: the prompt tokens (and cost, where priced) of its ``most``
    calls, estimated as ``most`` times the mean prompt of the pool's documents (one per
    group of copies, blank ones and those offered no label left out), the human
    sample's calls to send (``human_counts``, :func:`count_calls`) added. Returns the
    summary's fields (``prompt_tokens_each``, ``prompt_tokens_at_most_estimate``,
    ``prompt_cost_at_most_estimate`` where priced) and ``"line"``, the words added to the
    line saying the calls (``"line_cli"``: as the command line words them)."""
    from tagsmith.labeling.labeler import prompt_sizes

    docs = None
    if groups is not None and len(groups) == len(texts):
        docs = np.unique(np.asarray(groups), return_index=True)[1]
    sizes = prompt_sizes(list(texts), label_space, client, options, shortlist=shortlist,
                         docs=docs)
    sizes = sizes[sizes > 0]
    if not len(sizes):
        return {"line": "", "line_cli": ""}
    each = float(sizes.mean())
    tokens = round(most * each)
    human_tokens = int((human_counts or {}).get("prompt_tokens_to_send") or 0)
    usage = getattr(client, "usage", None)
    priced = bool(getattr(usage, "priced", False))
    given = getattr(usage, "price_prompt", None) if priced else None
    price = None if given is None else float(given)
    cost = ("" if not priced else ", prompt cost unknown (no {price_prompt})"
            if price is None else f", prompt cost about {tokens * price / 1e6:.4f}")
    with_human = ""
    if human_counts is not None:
        both = tokens + human_tokens
        with_human = (f"; with the human sample's {human_tokens:,} to send, about "
                      f"{both:,} in all" + ("" if not priced or price is None
                                             else f" (prompt cost about "
                                                  f"{both * price / 1e6:.4f})"))
    line = (f": prompts of about {round(each):,} tokens each (the mean over the pool's "
            f"{len(sizes):,} distinct document{plural_s(len(sizes))}, estimated at 4 "
            "characters a token, and the chat template's 3 a message), about "
            f"{tokens:,} prompt tokens if every call is sent{cost}{with_human}")
    fields: dict[str, Any] = {
        "prompt_tokens_each": round(each),
        "prompt_tokens_at_most_estimate": tokens,
        # the price not given: the client's to a Python caller (it was told of label's
        # --price-prompt), the option on the command line ("line_cli")
        "line": line.replace("{price_prompt}", "price_prompt given to the client"),
        "line_cli": line.replace("{price_prompt}", "--price-prompt")}
    if priced:  # None: the prompt price is unknown (only --price-completion given)
        fields["prompt_cost_at_most_estimate"] = None if price is None \
            else round(tokens * price / 1e6, 6)
    return fields


def _reliability_per_label(reliability, Y_llm: sp.csr_matrix, Y_human: sp.csr_matrix,
                           label_space: LabelSpace, lang: str,
                           offered: sp.csr_matrix | None = None) -> list[dict]:
    """The reliability on the human sample of each label it gives or the LLM named there
    (the others rest on no document of it), with its counts: ``n_human`` (the documents
    people gave it), ``n_named`` (those the LLM named it for), ``n_right`` (both);
    ``precision`` (the estimate the soft targets and robust selection use) and
    ``recall`` are shrunk toward the overall figures where the counts are few. With
    shortlists (``offered``, the labels each prompt offered), ``n_offered`` (the
    documents it was offered to) and ``n_human_offered`` (of its ``n_human``, those it
    was offered for: its recall's documents); ``recall`` is ``None`` where people gave
    it documents and none was offered it (no evidence of the LLM's: 'gold' read recall
    0.35, never offered). The
    summary showed the micro figures alone, so a team could not see which labels its
    teacher gets wrong. Logged (info) are the five least precise labels it named, of those
    it named at least ``LEAST_PRECISE_MIN_NAMED`` times."""
    named = sp.csr_matrix(Y_llm) > 0
    truth = sp.csr_matrix(Y_human) > 0
    n_right = np.asarray(named.multiply(truth).sum(axis=0)).ravel()
    n_named = np.asarray(named.sum(axis=0)).ravel()
    n_human = np.asarray(truth.sum(axis=0)).ravel()
    uris = label_space.uris
    # the labels the sample gives or the LLM named: on a vocabulary of 40,000 (YSO) a
    # row for every label printed tens of thousands of rows of shrunk priors, no counts
    seen = np.flatnonzero((n_human > 0) | (n_named > 0)).tolist()
    rows: list[dict[str, Any]] = [{"label": label_space.name_of(i, lang), "uri": uris[i],
             "precision": round(float(reliability.precision[i]), 4),
             "recall": round(float(reliability.recall[i]), 4),
             "n_human": int(n_human[i]), "n_named": int(n_named[i]),
             "n_right": int(n_right[i])} for i in seen]
    if offered is not None:
        shown = sp.csr_matrix(offered) > 0
        n_offered = np.asarray(shown.sum(axis=0)).ravel()
        n_human_offered = np.asarray(shown.multiply(truth).sum(axis=0)).ravel()
        for i, row in zip(seen, rows, strict=True):
            row["n_offered"] = int(n_offered[i])
            row["n_human_offered"] = int(n_human_offered[i])
            if n_human[i] and not n_human_offered[i]:
                row["recall"] = None
    # only labels named often enough for their precision to say something: at 25,000
    # labels the line listed ties of labels named once, wrong ('pesticides' 0.68 (0 of
    # 1 named right)), the shrunk estimate of a single document
    worst = sorted((row for row in rows if row["n_named"] >= LEAST_PRECISE_MIN_NAMED),
                   key=lambda row: (row["precision"], -row["n_named"]))
    if worst:
        logger.info("the LLM's least precise labels on the human sample, of those it "
                    "named at least %d times: %s (all in the summary's "
                    "reliability.labels)", LEAST_PRECISE_MIN_NAMED, "; ".join(
                        f"{clip(row['label'], NAME_LIMIT, collapse=False)!r} "
                        f"{row['precision']:.2f} ({row['n_right']:,} of {row['n_named']:,} "
                        "named right)" for row in worst[:5]))
    return rows


def check_labelled_leaves_some(texts: Sequence[str],
                               labelled: tuple[Sequence[str], sp.csr_matrix],
                               n_labels: int, *,
                               _pool: list[tuple[np.ndarray, sp.csr_matrix, int]] | None = None
                               ) -> np.ndarray:
    """Raise the :class:`InvalidParameterError` (``labelled``) that :func:`label_corpus`
    with a budget raises where the documents labelled in earlier runs, ``labelled``
    (texts, targets), label every distinct non-blank text of ``texts``; no warning. From
    the texts' fingerprints alone: ``label --labelled`` checks it before the shortlist
    is built (with ``--shortlist-zeroshot``, the corpus embedded), which it was refused
    after. Returns the texts' fingerprints, for :func:`label_corpus`'s ``_text_hashes``
    (``label --budget --labelled`` hashed a large corpus twice). ``_pool`` (private):
    given, the documents of ``texts`` labelled before are added to it, for
    :func:`label_corpus`'s ``_labelled_pool`` (it found them again)."""
    from tagsmith.data.texthash import BLANK_HASH, hash_texts
    from tagsmith.features.tfidf import _as_list
    from tagsmith.pipeline.train import groups_of_hashes

    hashes = hash_texts(_as_list(texts, "texts"))
    blank = hashes == BLANK_HASH
    if bool(np.all(blank)):  # nothing to send: answered as label_corpus answers it
        return hashes
    pool = _labelled_in_pool(labelled, hashes, n_labels)
    if _pool is not None:
        _pool.append(pool)
    before = pool[0]
    n_usable = _distinct_non_blank(groups_of_hashes(hashes, BLANK_HASH), blank)
    _refuse_all_labelled(max(n_usable - len(before), 0), len(before))
    return hashes


def _refuse_all_labelled(n_usable: int, n_before: int) -> None:
    """Refuse earlier labels (``labelled``) that leave no document of the pool to send
    (``n_usable``, of which ``n_before`` distinct documents were labelled before)."""
    if n_usable == 0:
        raise InvalidParameterError(
            "labelled", "earlier labels leaving some document of the corpus "
            "unlabelled (nothing is left to spend the budget on)",
            f"labels for every one of its {n_before:,} distinct documents")


def _labelled_in_pool(labelled: tuple[Sequence[str], sp.csr_matrix], hashes: np.ndarray,
                      n_labels: int) -> tuple[np.ndarray, sp.csr_matrix, int]:
    """The pool documents (their text ``hashes``) labelled in earlier runs: the first
    pool document of each text of ``labelled`` (texts, targets; equal texts, case and
    spacing aside; a text given twice learnt from its first line; a blank one skipped),
    those targets, and how many of ``labelled``'s distinct texts the pool does not hold
    (its lines were counted: a document and the copies label --budget wrote after it
    counted as several documents)."""
    from tagsmith.data.texthash import BLANK_HASH, hash_texts

    texts, Y = labelled
    Y = sp.csr_matrix(Y, dtype=np.float32)
    if Y.shape != (len(texts), n_labels):
        raise InvalidParameterError("labelled", f"targets of shape ({len(texts)}, "
                                    f"{n_labels}) for its texts", Y.shape)
    first: dict = {}
    for row, key in enumerate(hashes.tolist()):
        first.setdefault(key, row)
    rows, where, seen = [], [], set()
    missing = set()
    for line, key in enumerate(hash_texts(list(texts)).tolist()):
        if key == BLANK_HASH:  # never sent nor taught: a pool's blank was counted as
            continue  # labelled, refusing a budget with a document still to send
        found = first.get(key)
        if found is None:
            missing.add(key)
        elif found not in seen:
            seen.add(found)
            rows.append(found)
            where.append(line)
    return (np.asarray(rows, np.int64), Y[np.asarray(where, np.int64)], len(missing))


def _distinct_non_blank(groups: np.ndarray, blank: np.ndarray) -> int:
    """How many texts active distillation may send, from their ``groups`` (equal texts,
    case and spacing aside: :func:`~tagsmith.pipeline.train.duplicate_groups`) and
    which are ``blank``: the distinct ones, blank ones left out.

    >>> _distinct_non_blank(np.array([0, 0, 1, 2, 3]), np.array([0, 0, 1, 1, 0], bool))
    2
    """
    return int(np.unique(groups[~blank]).size)


def _list_refused_copies(report: LabelingReport, groups: np.ndarray) -> None:
    """Add to ``report.refused_docs`` (pool indices) the copies of each refused
    document (the same id of ``groups``): active distillation never sends a copy, so a
    refused report filed twice left its copy neither labelled nor listed for a person,
    where without a budget a copy sharing its prompt is listed."""
    for listed in (report.refused_docs, report.unknown_only_docs):
        # (and of each document whose answers named only labels the vocabulary lacks)
        if listed:
            copies, _ = _copies_of(groups, np.asarray(listed, np.int64))
            listed.extend(copies.tolist())
            listed.sort()


def _copies_of(groups: np.ndarray, sent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The documents that are copies (the same id of ``groups``, one per pool document:
    :func:`~tagsmith.pipeline.train.duplicate_groups`, equal texts, case and spacing
    aside) of one of ``sent`` (pool indices) and not in it, in pool order, with the
    position in ``sent`` of each one's document.

    >>> from tagsmith.pipeline.train import duplicate_groups
    >>> _copies_of(duplicate_groups(["a b", "c", "A  B", "", " ", "C", "d"]), np.array([1, 0]))
    (array([2, 5]), array([1, 0]))
    """
    # per group: its document's place in sent (the first where several share a group,
    # which active selection never sends)
    source = np.full(len(groups), -1, np.int64)
    sent_groups, first = np.unique(groups[sent], return_index=True)
    source[sent_groups] = first
    copy = source[groups] >= 0
    copy[sent] = False
    copies = np.flatnonzero(copy)
    return copies, source[groups[copies]]
