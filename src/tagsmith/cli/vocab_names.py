"""A bundle's labels read against a newer vocabulary (``suggest --vocab``, ``eval
--vocab``): a thesaurus updated since training (YSO and STW monthly) renames, deprecates,
removes and adds labels, and retraining a 25,000-label model for a renamed prefLabel is
not what a user expects to do. The bundle's labels are matched to VOCAB's by URI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tagsmith._plural import and_more, plural, plural_s
from tagsmith.cli import load_selected_vocabulary, warn

if TYPE_CHECKING:
    import scipy.sparse as sp

    from tagsmith.data.labelspace import Label, LabelSpace
    from tagsmith.pipeline.classifier import Suggestion, TextClassifier


@dataclass
class BundleVocab:
    """VOCAB over a bundle's labels.

    ``merged``: the bundle's ids with VOCAB's labels (names, deprecation, replacements;
    a bundle label VOCAB lacks kept under the bundle's name as a deprecated slot), VOCAB's
    labels the bundle lacks appended; ``shown``: its first ``n_labels`` (the bundle's
    ids, VOCAB's names, a broader link through VOCAB's new labels kept as the bundle's
    labels it reaches: :func:`_bundle_broader`); ``retired``: the bundle's ids VOCAB
    deprecates or lacks; ``replacements``: those of them VOCAB replaces
    (dct:isReplacedBy), as ids of ``merged``; ``in_vocab``: VOCAB's URIs;
    ``distilled``: whether the bundle was distilled from an LLM's labels (its
    manifest's ``distillation``), which :func:`learn_advice` tells how to learn VOCAB's
    changes."""

    merged: LabelSpace
    shown: LabelSpace
    n_labels: int
    in_vocab: set[str]
    retired: set[int] = field(default_factory=set)
    replacements: dict[int, list[int]] = field(default_factory=dict)
    distilled: bool = False

    def replaced(self, suggestions: list[Suggestion], k: int, lang: str) -> list[Suggestion]:
        """``suggestions`` (best first) with each retired label's replaced by its
        replacements on its score (a replacement suggested on its own keeps the higher
        of the two), a retired label without one left out; best first, at most ``k``."""
        from tagsmith.pipeline.classifier import Suggestion

        best: dict[int, Suggestion] = {}
        for s in suggestions:
            if s.label_id in self.retired:
                taking = [Suggestion(j, self.merged.uri_of(j), self.merged.name_of(j, lang),
                                     s.score) for j in self.replacements.get(s.label_id, ())]
            else:
                taking = [s]
            for t in taking:
                if t.label_id not in best or best[t.label_id].score < t.score:
                    best[t.label_id] = t
        return sorted(best.values(), key=lambda s: -s.score)[:k]


def read_bundle_vocab(classifier: TextClassifier, vocab: str, bundle: str,
                      lang: str = "en") -> BundleVocab:
    """VOCAB (loaded in ``lang``) over the labels of ``bundle`` (``classifier``); a VOCAB
    sharing no URI with it is refused naming both."""
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import InvalidParameterError

    space = load_selected_vocabulary(vocab, language=lang)
    warn_other_selection(classifier, vocab, bundle)
    trained = classifier.label_space
    if not any(uri in trained for uri in space.uris):
        raise InvalidParameterError("--vocab", "a vocabulary sharing labels with the bundle "
                                    f"{bundle} (matched by URI; none is shared)", vocab)
    n = len(trained)
    merged = trained.updated(space)
    shown = LabelSpace(_bundle_broader(merged, n), name=merged.name, source=merged.source)
    retired = {i for i in range(n) if merged[i].deprecated}
    replacements = {i: ids for i, ids in merged.replacements().items() if i < n}
    return BundleVocab(merged, shown, n, set(space.uris), retired, replacements,
                       "distillation" in classifier.manifest)


def warn_other_selection(classifier: TextClassifier, vocab: str, bundle: str,
                         given_as: str = "--vocab") -> None:
    """Warn where ``--vocab-type``, ``--vocab-scheme`` or ``--vocab-prefix`` differ from
    those the bundle was trained with (its manifest's ``training.vocab_types``...),
    naming ``vocab`` as the command takes it (``given_as``: zeroshot's ``VOCAB``):
    read without them, STW's 592 categories left out of a descriptors' bundle were new
    labels to learn, with nothing said of the selection that left them out."""
    from tagsmith.cli import selection_given, selection_resolved

    training = classifier.manifest.get("training") or {}
    given = selection_given()
    options = (("types", "--vocab-type"), ("schemes", "--vocab-scheme"),
               ("prefixes", "--vocab-prefix"))
    then = {key: list(training.get(f"vocab_{key}") or []) for key, _ in options}
    now = {key: list(given[key]) for key, _ in options}
    # the same selection written otherwise ("<URI>" or URI, in another order, twice) is
    # the same: warned of, it told the user to give what they had given
    from tagsmith.data.labelspace import strip_brackets

    # a class or scheme by the URI it named in the vocabulary, where the bundle
    # recorded it (training.vocab_type_uris...) and VOCAB was read: 'Descriptor' and
    # 'zbwext:Descriptor' were "another selection"
    resolved = selection_resolved() or {}
    uris = {"types": training.get("vocab_type_uris"),
            "schemes": training.get("vocab_scheme_uris")}

    def same(key: str) -> bool:
        if uris.get(key) and resolved.get(key) and now[key]:
            return set(uris[key] or ()) == set(resolved[key])
        return {strip_brackets(v) for v in then[key]} == {strip_brackets(v) for v in now[key]}

    if all(same(key) for key, _ in options):
        return

    def said(selection: dict[str, list[str]]) -> str:
        return " ".join(f"{option} {value}" for key, option in options
                        for value in selection[key]) or "no selection"

    warn(f"the bundle {bundle} was trained on the labels of its vocabulary selected with "
         f"{said(then)}; {given_as} {vocab} is read with {said(now)}: give the same selection, "
         "or the labels it keeps apart read as labels the bundle was not trained on")


def _bundle_broader(merged: LabelSpace, n: int) -> list[Label]:
    """The first ``n`` labels of ``merged`` (the bundle's), each broader link to a label
    only VOCAB has replaced by the bundle's labels reached through it: ``shown`` keeps
    no label past ``n``, and a link to one dropped its own ancestors (``G`` new, ``L4``
    under ``G`` under ``L0``: ``L4`` is under ``L0``), which ``eval --vocab``'s
    hierarchical metrics augment the sets with."""
    from dataclasses import replace

    labels = list(merged)[:n]
    if len(merged) == n or not merged.has_hierarchy:
        return labels
    for i, label in enumerate(labels):
        parents = merged.broader_ids(i)
        if all(p < n for p in parents):
            continue
        kept = [p for p in parents if p < n]
        stack, seen = [p for p in parents if p >= n], set()
        while stack:  # through VOCAB's labels to the nearest of the bundle's
            q = stack.pop()
            if q not in seen:
                seen.add(q)
                for r in merged.broader_ids(q):
                    (kept if r < n else stack).append(r)
        labels[i] = replace(label, broader=[merged.uri_of(p) for p in dict.fromkeys(kept)])
    return labels


def learn_advice(vocab: str, distilled: bool) -> str:
    """How to learn what VOCAB changed, as the warnings of ``zeroshot --bundle``,
    ``suggest``, ``eval``, ``audit`` and ``apply-review --vocab`` end: ``train`` again, or,
    for a bundle distilled from an LLM's labels (``distilled``), ``label`` with VOCAB and
    ``distill`` again. A support team's student was told to "retrain (tagsmith train
    CORPUS ...)", where it has no corpus of its new 'Gift card' intent."""
    from tagsmith._shell import shell_path, shell_word
    from tagsmith.cli import selection_given

    # one word of the command pasted: 'my vocab.ttl' split in two ('no such file: my')
    vocab = shell_path(vocab)
    # and the command's selection of VOCAB's labels (--vocab-type...), without which the
    # command advised learns the labels the selection left out
    given = selection_given()
    vocab += "".join(f" {option} {shell_word(value)}" for key, option in (
        ("types", "--vocab-type"), ("schemes", "--vocab-scheme"),
        ("prefixes", "--vocab-prefix")) for value in given[key])
    if distilled:  # its labels came from an LLM: they must be asked for first
        return (f"label with it and distil again (tagsmith label CORPUS --vocab {vocab} "
                f"--output LABELS, then tagsmith distill LABELS --vocab {vocab} --output "
                "BUNDLE; every document is asked anew, the label set being part of each "
                "prompt)")
    # each command as it runs: without --output (required) it stopped at a usage error
    return f"retrain (tagsmith train CORPUS --vocab {vocab} --output BUNDLE)"


def _renamed(before: dict[str, str], after: dict[str, str], lang: str) -> bool:
    """Whether a label's preferred names changed: in ``lang`` where both have one, else
    in a language both have (a name only gained or lost in ``lang``, a translation,
    renames nothing), else (no language shared: a TSV's names take ``--lang``) any."""
    from tagsmith.data.labelspace import language_in

    was, now = language_in(before, lang), language_in(after, lang)
    if was is not None and now is not None:
        return before[was] != after[now]
    shared = before.keys() & after.keys()
    return any(before[tag] != after[tag] for tag in shared) if shared else True


def _zeros_dropped(merged: LabelSpace, view: BundleVocab, n: int
                   ) -> list[tuple[list[str], str]]:
    """``(bundle's codes, VOCAB's code)`` of each of VOCAB's new labels that is, digits
    alone, the code of bundle labels VOCAB lacks without their leading zeros
    (``05102020``, ``5102020``): ``00`` is ``0``, and ``05`` and ``005`` are both ``5``."""
    gone: dict[str, list[str]] = {}
    for uri in (merged.uri_of(i) for i in range(n)):
        if uri not in view.in_vocab and uri.isdigit() and uri.startswith("0"):
            gone.setdefault(uri.lstrip("0") or "0", []).append(uri)
    if not gone:
        return []
    return [(gone[uri], uri) for uri in (merged.uri_of(j) for j in range(n, len(merged)))
            if uri.isdigit() and uri in gone]


def warn_vocab_differs(view: BundleVocab, trained: LabelSpace, vocab: str, bundle: str,
                       lang: str, command: str, replace: bool = False,
                       advice: str | None = None) -> None:
    """Warn once, naming counts and examples, of what differs between VOCAB and the
    vocabulary ``bundle`` was trained on (matched by URI), in the words of ``zeroshot
    --bundle``'s warning, each part saying what ``command`` (``suggest``: with
    ``replace``, ``--replace-deprecated``; ``eval``; ``audit``; ``apply-review``) does
    with it. A renamed label whose old name VOCAB gives to another label is said to be
    read by its new name alone (the old one reads as that label, as
    :func:`warn_name_clashes` says), not "by either name". ``advice``: how to learn
    VOCAB's changes, where not by retraining (``apply-review``: on the corpus it wrote)."""
    from tagsmith.exceptions import AmbiguousLabelError

    merged, n = view.merged, view.n_labels
    renamed, replaced, deprecated, gone = [], [], [], []
    # renamed labels whose old name VOCAB gives to another label: a corpus's old name
    # is read as that one (warn_name_clashes), not "by either name"; the space the
    # command reads a corpus over (eval's holds VOCAB's new labels, the others' not)
    taken = []
    reading = merged if command == "eval" else view.shown
    for i in range(n):
        name, now = trained.name_of(i, lang), merged.name_of(i, lang)
        if merged.uri_of(i) not in view.in_vocab:
            gone.append(name)
        elif i in view.retired and (not trained[i].deprecated
                                    or trained[i].replaced_by != merged[i].replaced_by):
            if i in view.replacements:
                replaced.append(f"{name!r} -> " + ", ".join(
                    repr(merged.name_of(j, lang)) for j in view.replacements[i]))
            else:
                deprecated.append(name)
        elif now != name and _renamed(trained[i].pref_labels, merged[i].pref_labels, lang):
            try:
                read_as = reading.lookup(name)
            except AmbiguousLabelError:
                read_as = -1  # several of VOCAB's: read as none of them, refused
            if command != "suggest" and read_as is not None and read_as != i:
                taken.append(f"{name!r} -> {now!r}, {name!r} now "
                             + (f"<{merged.uri_of(read_as)}>" if read_as >= 0
                                else "several labels' name"))
            else:
                renamed.append(f"{name!r} -> {now!r}")
    taking = {j for ids in view.replacements.values() for j in ids} if replace else set()
    new = [merged.name_of(j, lang) for j in range(n, len(merged))
           if not merged[j].deprecated and j not in taking]
    done = {"audit": "audited", "apply-review": "read and written"}.get(command, "evaluated")
    parts = []
    zeros = _zeros_dropped(merged, view, n)
    if zeros:
        # a finance team's sector codes saved by a spreadsheet as numbers: 05 and 5 read
        # as a label removed and a new one of one name ('Energy' gone, 'Energy' new)
        parts.append(f"{len(zeros):,} of its label{plural_s(len(zeros))} "
                     f"{plural(len(zeros), 'is a code', 'are codes')} of the bundle "
                     f"without {plural(len(zeros), 'its', 'their')} leading zero ("
                     + and_more(zeros, 5, lambda pair: f"<{pair[1]}> for "
                                + " or ".join(f"<{was}>" for was in pair[0]), serial=False)
                     + f"): a spreadsheet saving {vocab}'s codes as numbers drops it; format "
                     "its code columns as text and save it again")
    if renamed:
        parts.append(f"{len(renamed):,} renamed label{plural_s(len(renamed))} "
                     + (f"{plural(len(renamed), 'is', 'are')} shown with "
                        f"{plural(len(renamed), 'its', 'their')} new "
                        f"name{plural_s(len(renamed))}" if command == "suggest" else
                        f"{plural(len(renamed), 'is', 'are')} "
                        + ("shown with the new name and " if command == "audit" else "")
                        + "read in the corpus by either name")
                     + f" ({and_more(renamed, 5, serial=False)})")
    if taken:
        parts.append(f"{len(taken):,} renamed label{plural_s(len(taken))} "
                     f"{plural(len(taken), 'is', 'are')} "
                     + ("shown with the new name and " if command == "audit" else "")
                     + f"read in the corpus by {plural(len(taken), 'its', 'their')} new "
                     f"name alone: {vocab} gives {plural(len(taken), 'its', 'their')} old "
                     f"one to another label, which it is read as "
                     f"({and_more(taken, 5, sep='; ', serial=False)})")
    one = len(replaced) == 1
    if replaced:
        said = (f"{len(replaced):,} of the bundle's labels it deprecates with a replacement "
                f"(dct:isReplacedBy: {and_more(replaced, 5, serial=False)})")
        if command != "suggest":
            parts.append(f"{said} {plural(int(one), 'is', 'are')} {done} as without "
                         "--vocab (a document labelled with a replacement instead does not "
                         "have the model's label)")
        elif replace:
            parts.append(f"{said} {plural(int(one), 'is', 'are')} never suggested, "
                         f"{plural(int(one), 'its', 'their')} score going to "
                         f"{plural(int(one), 'its', 'their')} "
                         f"replacement{plural_s(len(replaced))} (each, where higher than "
                         "its own)")
        else:
            parts.append(f"{said} {plural(int(one), 'is', 'are')} still suggested, as the "
                         "model learnt them (--replace-deprecated suggests the replacements "
                         "instead)")
    if gone or deprecated:
        said_ = [f"{len(gone):,} of the bundle's labels not in it "
                 f"({and_more(gone, 5, repr, serial=False)})"] if gone else []
        said_ += [f"{len(deprecated):,} it deprecates with no replacement "
                  f"({and_more(deprecated, 5, repr, serial=False)})"] if deprecated else []
        are = plural(len(gone) + len(deprecated), "is", "are")
        if command != "suggest":
            parts.append(f"{' and '.join(said_)} {are} {done} as without --vocab")
        else:
            parts.append(f"{' and '.join(said_)} {are} "
                         + ("never suggested" if replace else "still suggested")
                         + (" (the bundle's name shown)" if gone and not replace else ""))
    if new:
        parts.append(f"{len(new):,} new label{plural_s(len(new))} "
                     f"({and_more(new, 5, repr, serial=False)}) "
                     f"{plural(len(new), 'is', 'are')} unknown to the model and never "
                     + ("suggested" if command == "suggest" else "predicted"))
    if parts:
        warn(f"{vocab} differs from the vocabulary {bundle} was trained on (matched by "
             f"URI): {'; '.join(parts)}; to learn its changes, "
             + (advice or learn_advice(vocab, view.distilled)))


def review_space(view: BundleVocab, trained: LabelSpace) -> LabelSpace:
    """:func:`bundle_space`, as ``apply-review --bundle --vocab`` reads a corpus and
    review over it, but a bundle label VOCAB lacks as the bundle had it: the deprecated
    slot :meth:`~tagsmith.data.labelspace.LabelSpace.updated` keeps for it had its
    documents counted as carrying a label VOCAB "marks deprecated", which VOCAB does not
    (it has no such label: :func:`warn_vocab_differs` says so)."""
    from tagsmith.data.labelspace import LabelSpace

    labels = [label if label.uri in view.in_vocab else trained[i]
              for i, label in enumerate(view.shown)]
    return _with_bundle_names(LabelSpace(labels, name=view.shown.name,
                                          source=view.shown.source), trained)


def bundle_space(view: BundleVocab, trained: LabelSpace) -> LabelSpace:
    """The bundle's labels (ids and URIs) by VOCAB's names, as ``audit --bundle --vocab``
    reads a corpus over them: a key VOCAB does not name looked up among the bundle's
    names too, one of VOCAB's new labels not found (the model has no such label)."""
    return _with_bundle_names(view.shown, trained)


def _with_bundle_names(space: LabelSpace, trained: LabelSpace) -> LabelSpace:
    """``space`` (the bundle's ids first), a key it does not know looked up among the
    bundle's names too."""
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.exceptions import AmbiguousLabelError

    class _VocabThenBundle(LabelSpace):
        #: a name read as VOCAB's label that names another of the bundle's: key -> ids
        clashes: dict[str, tuple[int, int]]

        def lookup(self, key: str, *, by_name: bool = True) -> int | None:
            found = super().lookup(key, by_name=by_name)
            if found is None and by_name:
                found = trained.lookup(key)  # the bundle's ids are the first ones here
            elif found is not None and by_name and key.strip() not in self:
                try:  # by name: the bundle may have named another label so
                    before = trained.lookup(key)
                except AmbiguousLabelError:
                    before = None
                if before is not None and before != found:
                    self.clashes[key.strip()] = (found, before)
            return found

    read = _VocabThenBundle(list(space), name=space.name, source=space.source)
    read.clashes = {}
    return read


def warn_name_clashes(space: LabelSpace, corpus: str, vocab: str, bundle: str,
                      lang: str = "en") -> None:
    """Warn once of the corpus's label names that ``space`` (:func:`gold_space`,
    :func:`bundle_space`) read as VOCAB's label where the bundle named another label
    so (VOCAB renamed it and gave its old name to another): a corpus written before the
    update meant the bundle's."""
    clashes = getattr(space, "clashes", None)
    if not clashes:
        return
    said = [f"{key!r} as <{space.uri_of(now)}> ({space.name_of(now, lang)!r}), not "
            f"<{space.uri_of(was)}> (now {space.name_of(was, lang)!r})"
            for key, (now, was) in list(clashes.items())]
    warn(f"{corpus}: {len(said):,} label name{plural_s(len(said))} that {vocab} gives to "
         f"another label than {bundle} did {plural(len(said), 'is', 'are')} read as {vocab}'s: "
         f"{and_more(said, 5, sep='; ', serial=False)}"
         + "; a corpus written before the update meant the bundle's: write its URI")


def gold_space(view: BundleVocab, trained: LabelSpace) -> LabelSpace:
    """The space ``eval --vocab`` reads a corpus's labels over: ``view.merged``, a key
    it does not know looked up among the bundle's names too (a corpus labelled by name
    before the update: 'admiration' where VOCAB renamed it 'esteem')."""
    return _with_bundle_names(view.merged, trained)


def known_to_model(Y: sp.csr_matrix, view: BundleVocab, corpus: str,
                   vocab: str) -> sp.csr_matrix:
    """``Y`` (over ``gold_space``) cut to the bundle's labels, saying in one warning how
    many gold labels of the corpus were VOCAB's labels that the model does not know, and
    so left out of the metrics (it cannot predict them)."""
    import numpy as np

    n = view.n_labels
    if Y.shape[1] <= n:
        return Y
    extra = Y[:, n:].tocsc()
    per_label = np.diff(extra.indptr)
    total = int(per_label.sum())
    if total:
        top = int(np.argmax(per_label))
        before = int((np.diff(Y.tocsr().indptr) > 0).sum())
        Y = Y.tocsr()[:, :n]
        emptied = before - int((np.diff(Y.indptr) > 0).sum())
        distinct = int((per_label > 0).sum())
        if not Y.nnz:  # require_labels said "none naming a label" and blamed the format
            from tagsmith.exceptions import DataError

            raise DataError(f"no document carries a label the model knows: its {total:,} "
                            f"gold label{plural_s(total)} ({distinct:,} distinct, most often "
                            f"{view.merged.name_of(n + top)!r}) "
                            f"{plural(total, 'is a label', 'are labels')} of {vocab} new "
                            "since training, which the model cannot predict; "
                            f"{learn_advice(vocab, view.distilled)} to evaluate on them",
                            path=corpus)
        # "new since training" misdescribed one VOCAB deprecates for a model's label
        merged, table = view.merged, view.merged.replacements()
        retired = [f"{merged.name_of(n + j)!r} -> " + ", ".join(
            repr(merged.name_of(t)) for t in table[n + j])
            for j in map(int, np.flatnonzero(per_label))
            if merged[n + j].deprecated and any(t < n for t in table.get(n + j, ()))]
        why = "new since training" + (
            f", but for {len(retired):,} distinct it deprecates with a replacement the model "
            "knows, not read in "
            f"{plural(len(retired), 'its', 'their')} place: {and_more(retired, 5, serial=False)}"
            if retired else "")
        warn(f"{corpus}: {total:,} gold label{plural_s(total)} ({distinct:,} "
             f"distinct, most often {view.merged.name_of(n + top)!r} x{int(per_label[top]):,}) "
             f"{plural(total, 'is a label', 'are labels')} of {vocab} the model does not know "
             f"({why}): left out of the metrics, as it cannot predict them"
             + (f"; {emptied:,} document{plural_s(emptied)} left without a label"
                if emptied else ""))
        return Y
    return Y.tocsr()[:, :n]
