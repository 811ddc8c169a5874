"""The tagsmith subcommands (see ``tagsmith COMMAND --help``)."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import sys
from collections import Counter
from contextlib import AbstractContextManager
from itertools import islice
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from tagsmith._params import MAX_FOLDS
from tagsmith._plural import and_more, plural, plural_s
from tagsmith._score import SCORE_DECIMALS, score_text, shown_score
from tagsmith.audit import CALIBRATION_FOLDS as AUDIT_CALIBRATION_FOLDS
from tagsmith.audit import (
    COOCCURRENCE_GRID,
    COOCCURRENCE_WEIGHT,
    DECISION_VALUES,
    MAX_CALIBRATION_FOLDS,
)
from tagsmith.cli import (
    VOCAB_FORMATS,
    a_path,
    cli,
    finite_number,
    given_on_command_line,
    json_lines_as_json,
    language_code,
    load_selected_vocabulary,
    miss_rate,
    print_json,
    printable,
    ranking_ks,
    refuse_unused,
    selection_given,
    selection_resolved,
    tsv_field,
    vocab_selection,
    warn,
    warn_alpha_too_small,
    warn_unnamed_language,
)
from tagsmith.exceptions import (
    AmbiguousLabelError,
    BundleError,
    DataError,
    InvalidParameterError,
    UnknownLabelError,
)
from tagsmith.models import available_models

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path

    import numpy as np
    import scipy.sparse as sp

    from tagsmith.data.ids import FirstSeen
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.data.readers import NoTextColumnError
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.io import LabelledData
    from tagsmith.pipeline.train import TrainOptions
    from tagsmith.progress import _LogProgress, _NoProgress

_T = TypeVar("_T")

ERROR_POLICY = click.Choice(["fail", "skip"])
#: the help of --on-error and --unknown-labels, alike for every command reading a corpus
ON_ERROR_HELP = "Malformed corpus lines: fail, or skip and count."
UNKNOWN_LABELS_HELP = "Labels not in the vocabulary: fail, or drop and count."


def _parse_params(pairs: tuple[str, ...], option: str) -> dict:
    params: dict = {}
    given: dict[str, str] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidParameterError(option, "KEY=VALUE", pair)
        if key in given:  # the last one won, the earlier value was dropped without a word
            raise InvalidParameterError(option, f"one VALUE per KEY ({key} is {given[key]})",
                                        pair)
        given[key] = raw
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
        except ValueError:  # an integer past Python's limit of digits: no JSONDecodeError
            digits = sys.get_int_max_str_digits()
            raise InvalidParameterError(
                option, f"KEY=VALUE with a number of at most {digits} digits",
                f"{key}=... ({len(raw)} characters)") from None
        except RecursionError:  # '[' * 100000: json nests a call per bracket, a traceback
            raise InvalidParameterError(
                option, "KEY=VALUE with a JSON value of fewer nested lists or objects "
                f"(Python's recursion limit is {sys.getrecursionlimit()})",
                f"{key}=... ({len(raw)} characters)") from None
    return params


def train_options_naming_params(**settings: Any) -> TrainOptions:
    """``TrainOptions(**settings)``, validated as :func:`validate_naming_params` does:
    the options refuse a bad field where they are made, so a refused ``-p``/
    ``--feature-param`` value is named by its option there too."""
    from tagsmith.pipeline.train import TrainOptions

    try:
        options = TrainOptions(**settings)
    except InvalidParameterError as exc:
        _name_param_option(exc, (("--param", settings.get("model_params", {})),
                                 ("--feature-param", settings.get("featurizer_params", {}))))
        raise
    validate_naming_params(options)
    return options


def validate_naming_params(options: TrainOptions) -> None:
    """``options.validate()``, a refused ``-p``/``--feature-param`` value naming its
    option: ``train -p C=abc`` said "parameter 'C' must be a number > 0", which named
    no option (``C`` reads as a library name, and which of ``--param`` and
    ``--feature-param`` gave it was unsaid). A name both options give, a member's
    error (its own owner), and a message of its own (a subclass) stay as they are."""
    try:
        options.validate()
    except InvalidParameterError as exc:
        _name_param_option(exc, (("--param", options.model_params),
                                 ("--feature-param", options.featurizer_params)))
        raise


def _name_param_option(exc: InvalidParameterError,
                       options: Iterable[tuple[str, Mapping]]) -> None:
    """Raise ``exc`` again naming the one option of ``options`` (pairs of an option and
    the parameters it gave) that gave its parameter (see :func:`validate_naming_params`);
    return where none or several did, or ``exc`` is not a plain one of its own."""
    if type(exc) is not InvalidParameterError or exc.owner is not None:
        return
    given = [option for option, params in options if exc.name in params]
    if len(given) == 1:
        raise InvalidParameterError(exc.name, exc.expected, exc.got,
                                    owner=f"option {given[0]!r}") from None


#: ``train`` says its held-out figures rest on too few documents to measure the model
#: below this many (3 documents gave every metric as 1.0000)
FEW_HELDOUT_CHECK_DOCS = 30

#: ``train`` has no ``--conformal-fraction``: it splits what ``--calibration-fraction``
#: set aside between the calibrator and the conformal sets at calibrate's default share
#: (half each). Its warnings about that split name this, not ``conformal_fraction``,
#: which nothing here sets
_TRAIN_CONFORMAL_SHARE = ("the conformal share %g (train's fixed split of what "
                          "--calibration-fraction set aside; tagsmith calibrate "
                          "--conformal-fraction splits it otherwise)")
#: nor a ``--max-set-size``: its warning of too-wide sets names the limit so, not as
#: ``max_set_size`` (no parentheses: it sits in a parenthesis of that warning)
_TRAIN_SET_SIZE_LIMIT = ("train's default limit, which tagsmith calibrate --max-set-size "
                         "sets otherwise")


#: the help of ``tagsmith train``
TRAIN_HELP = """Train a model on CORPUS (.tsv, .csv, .jsonl, optionally .gz, or a folder of .txt
files with .tsv/.key label files) into a bundle."""


def record_training_files(classifier: TextClassifier, *, data: str, vocab: str | None = None,
                          dev: str | None = None) -> None:
    """Name in ``classifier``'s manifest the files it was trained from, as provenance
    (``training.data``, ``.vocab``, ``.dev``: their base names, which info shows beside
    the fingerprints; never read again, a renamed file changes nothing; and
    ``.vocab_types``, ``.vocab_schemes``, ``.vocab_prefixes``: the command's
    ``--vocab-type``, ``--vocab-scheme`` and ``--vocab-prefix``, where given, and
    ``.vocab_type_uris``, ``.vocab_scheme_uris``: the URIs the first two named in
    VOCAB, however written): train, distill
    and label --budget --student (whose bundles named none) alike. The --text-column
    columns the documents were read from go to ``training.text_columns``: the commands
    reading documents with the bundle read them so too, where given none of their own."""
    from tagsmith.data.readers import current_text_columns

    # normpath: a folder given as docs/ had the base name "", naming no corpus
    names: dict[str, object] = {
        key: os.path.basename(os.path.normpath(path))
        for key, path in (("data", data), ("dev", dev), ("vocab", vocab)) if path}
    columns = current_text_columns()
    if columns is not None:
        names["text_columns"] = list(columns)
    # --vocab-type and --vocab-scheme: which of VOCAB's concepts the labels are, which
    # its base name alone did not say (STW's descriptors, or all its concepts?)
    given = selection_given() if vocab else {}
    for key, option in (("types", "vocab_types"), ("schemes", "vocab_schemes"),
                        ("prefixes", "vocab_prefixes")):
        if given.get(key):
            names[option] = list(given[key])
    # and the URIs the classes and schemes named, however written: 'Descriptor' and
    # 'zbwext:Descriptor' are one selection (warn_other_selection compares these)
    # (train reads VOCAB with its corpus, not through load_selected_vocabulary: the
    # space it trained on says what it resolved)
    resolved = (selection_resolved() or getattr(classifier.label_space, "selection", {})
                ) if vocab else {}
    for key, option in (("types", "vocab_type_uris"), ("schemes", "vocab_scheme_uris")):
        if given.get(key) and resolved.get(key):
            names[option] = list(resolved[key])
    # an active student (label --budget --student) has no training section of its own
    classifier.manifest["training"] = {**names, **(classifier.manifest.get("training") or {})}


@cli.command(short_help="Train a model on CORPUS into a bundle.", help=TRAIN_HELP)
@vocab_selection
@click.argument("corpus", callback=a_path)
@click.option("-o", "--output", required=True, callback=a_path,
              help="Directory to write the model bundle to.")
@click.option("--vocab", callback=a_path,
              help=f"Vocabulary ({VOCAB_FORMATS}); default: derived from the corpus.")
@click.option("--model", type=click.Choice(available_models()), default="linear",
              show_default=True, help="Model family.")
@click.option("--dev", callback=a_path, help="Labelled corpus for tuning thresholds.")
@click.option("--dev-fraction", type=float, default=0.1, show_default=True,
              help="Without --dev, hold out this fraction of CORPUS to tune thresholds.")
@click.option("--no-refit", is_flag=True, help="Do not refit on all data after tuning.")
@click.option("-p", "--param", multiple=True, help="Model parameter KEY=VALUE (JSON value).")
@click.option("--featurizer", type=click.Choice(["tfidf", "embedding", "views"]),
              default="tfidf", show_default=True,
              help="Features: TF-IDF n-grams, sentence embeddings (tagsmith[embed]), or "
              "several named views (--feature-param NAME='{\"kind\": ...}' each).")
@click.option("--feature-param", multiple=True, help="Featurizer parameter KEY=VALUE.")
@click.option("--on-error", type=ERROR_POLICY, default="fail", show_default=True,
              help=ON_ERROR_HELP)
@click.option("--unknown-labels", type=ERROR_POLICY, default="fail", show_default=True,
              help=UNKNOWN_LABELS_HELP)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the held-out splits (--dev-fraction, --calibration-fraction), "
              "the --crossfit-folds folds and the solver.")
@click.option("--crossfit-folds", type=int, default=0, show_default=True,
              help="Also store out-of-fold scores of the training documents from N folds "
              f"(2 <= N <= {MAX_FOLDS}; for calibration and label audits); 0 for none.")
@click.option("--calibration-fraction", type=float, default=0.0, show_default=True,
              help="Set this share of CORPUS aside (never trained on) and calibrate on it: "
              "probabilities, thresholds on them (on --dev's probabilities when given), "
              "conformal sets (see tagsmith calibrate).")
@click.option("--calibration-method", type=click.Choice(["isotonic", "platt", "temperature"]),
              default="isotonic", show_default=True, help="With --calibration-fraction.")
@click.option("--calibrator-source", type=click.Choice(["split", "crossfit", "same"]),
              default="split", show_default=True,
              help="With --calibration-fraction: split: calibrator and conformal sets on "
              "disjoint parts of the set-aside share (exact guarantee); crossfit: the "
              "calibrator on the out-of-fold scores of --crossfit-folds, the conformal sets "
              "on all of the share; same: both on all of it (approximate).")
@click.option("--min-precision", type=float, default=None,
              callback=finite_number(0, 1, min_open=True, max_open=True),
              help="With --calibration-fraction: thresholds for this precision per label "
              "(below 1) instead of F1, as tagsmith calibrate --min-precision.")
@click.option("--min-recall", type=float, default=None,
              callback=finite_number(0, 1, min_open=True, max_open=True),
              help="With --calibration-fraction: thresholds for this recall per label "
              "(below 1) instead of F1, as tagsmith calibrate --min-recall.")
@click.option("--single-label", type=click.Choice(["auto", "yes", "no"]), default="auto",
              show_default=True, help="Whether every document has one label by design (a "
              "catalogue). auto (the default): warn where every labelled document of CORPUS "
              "carries exactly one label and the model may give several; yes: a catalogue, "
              "no warning (refuses a document given two); no: the labels are each "
              "document's main one of several, no warning.")
@click.option("--json", "as_json", is_flag=True, help="The summary as one JSON object.")
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of label names.")
@click.pass_obj
def train(obj, corpus, output, vocab, model, dev, dev_fraction, no_refit, param, featurizer,
          feature_param, on_error, unknown_labels, seed, crossfit_folds, calibration_fraction,
          calibration_method, calibrator_source, min_precision, min_recall, single_label,
          as_json, lang):
    from tagsmith.cli.confidence import (
        _n_unlearnt,
        recall_reach_line,
        recall_thresholds_line,
        refuse_one_objective,
    )
    from tagsmith.pipeline.confidence import ConfidenceOptions, untrained_out_of_sets

    refuse_unused("--calibration-fraction", calibration_fraction > 0, "calibration_method",
                  "calibrator_source", "min_precision", "min_recall")
    refuse_one_objective(min_precision, min_recall)
    # the names of a derived label space are the corpus's keys, in no language
    refuse_unused("--vocab", bool(vocab), "lang")
    if calibrator_source == "crossfit" and not crossfit_folds:
        # the library's refusal would name ConfidenceOptions, which nobody typed here
        raise click.UsageError("--calibrator-source crossfit needs --crossfit-folds N "
                               "(N >= 2): the calibrator is fitted on the training "
                               "documents' out-of-fold scores")
    # --dev is the held-out set as it is: nothing is split off CORPUS, nothing refitted
    refuse_unused("a share of CORPUS held out (no --dev)", not dev, "dev_fraction", "no_refit")
    # nothing held out, nothing tuned: the model is fitted once on all of CORPUS
    refuse_unused("a share of CORPUS held out (--dev-fraction above 0)", dev or dev_fraction,
                  "no_refit")
    from tagsmith.pipeline.io import read_labelled_corpora
    from tagsmith.pipeline.train import train_classifier

    options = train_options_naming_params(
                           model=model, model_params=_parse_params(param, "--param"),
                           featurizer=featurizer,
                           featurizer_params=_parse_params(feature_param, "--feature-param"),
                           dev_fraction=dev_fraction, refit=not no_refit, seed=seed,
                           crossfit_folds=crossfit_folds, show_progress=not obj["quiet"],
                           calibration_fraction=calibration_fraction,
                           # none without a split: the library refuses options that
                           # cannot apply (--calibrator-source's default 'split' is one)
                           confidence=ConfidenceOptions(method=calibration_method, seed=seed,
                                                        calibrator_source=calibrator_source,
                                                        min_precision=min_precision,
                                                        min_recall=min_recall)
                           if calibration_fraction else None)
    # (it fails on a mistyped parameter before reading any data)
    from tagsmith.store.bundle import check_bundle_target

    check_bundle_target(output)  # and on an output the bundle cannot be written to
    paths = [corpus] + ([dev] if dev else [])
    try:
        label_space, read = read_labelled_corpora(paths, vocab, on_error=on_error,
                                                  unknown_labels=unknown_labels,
                                                  language=lang, **selection_given())
    except UnknownLabelError as exc:
        if exc.hint or isinstance(exc, AmbiguousLabelError):
            raise  # what the key is instead (a name in another case) says more
        # a newcomer's corpus naming a label the vocabulary lacks: eval and calibrate
        # said the way out, train did not (the option was in --help alone)
        selecting = ", keep it in the selection (--vocab-type, --vocab-scheme, " \
            "--vocab-prefix)" if any(selection_given().values()) else ""
        raise exc.advised(f"correct it, add it to the vocabulary{selecting}, or give "
                          "--unknown-labels skip to leave out such labels (counted)") from None
    if vocab:  # as label, vocab and zeroshot do: a mistyped --lang went unnoticed
        warn_unnamed_language(label_space, lang)
    # the vocabulary named, or none given: the labels are the corpora's own
    named = f"the vocabulary {vocab}" if vocab else None
    # the featurizer's refusal of blank texts alone blamed --feature-param, which the
    # user had not given, exit code 2; a blank --dev tuned the thresholds on nothing
    data = read[0].require_labels(corpus, named).require_text(corpus, "train on")
    dev_data = (read[1].require_labels(dev, named).require_text(
        dev, "tune thresholds on", "--dev") if dev else None)
    if single_label == "yes":  # before the training, as audit --single-label yes refuses
        import numpy as np

        from tagsmith.pipeline.train import labels_per_document

        # --dev too: thresholds tuned on documents given two were not a catalogue's
        for path, read_data, whose in ((corpus, data, ""), (dev, dev_data, " (--dev)")):
            if read_data is None:
                continue
            # counted as the manifest's label_cardinality counts them (a duplicate
            # entry one label, a stored 0 none)
            per_doc = labels_per_document(read_data.Y)
            if (per_doc > 1).any():
                first = _where_document(path, label_space, int(np.argmax(per_doc > 1)),
                                        on_error=on_error, unknown_labels=unknown_labels)
                n_two = int((per_doc > 1).sum())
                raise click.BadParameter(
                    f"{printable(path)}{whose}: one label a document was said, but "
                    f"{n_two:,} of its {int((per_doc > 0).sum()):,} labelled documents "
                    f"{'carries' if n_two == 1 else 'carry'} two or more; train it with "
                    f"--single-label auto or no (the first: {first})",
                    param_hint="--single-label")
    try:
        classifier = train_classifier(
            data.texts, data.Y, label_space, options=options,
            dev_texts=dev_data.texts if dev_data else None,
            dev_Y=dev_data.Y if dev_data else None, dev_name="--dev", dev_source=str(dev),
            _conformal_share=_TRAIN_CONFORMAL_SHARE, _set_size_limit=_TRAIN_SET_SIZE_LIMIT,
            # the share of CORPUS set aside for calibration, named in its manifest entry
            _corpus_name=os.path.basename(os.path.normpath(corpus)),
            lang=lang)  # its warnings name labels as --lang does (they were English)
    except DataError as exc:
        if exc.path is not None or "crossfit_folds" not in exc.parameters:
            raise
        # CORPUS's labelled documents cannot be cross-fitted: named, as audit names it
        raise DataError(exc.reason, path=corpus, parameters=exc.parameters) from None
    except InvalidParameterError as exc:
        if exc.name != "conformal_fraction":
            raise
        # train has no --conformal-fraction (its share is calibrate's default, half):
        # "parameter 'conformal_fraction' must be ..., got 0.5" named nothing it takes
        raise InvalidParameterError(
            "calibration_fraction", "a share setting aside documents that the calibrator / "
            f"conformal split (half each) can divide: {exc.expected}; --calibrator-source "
            "same fits both on all of them", calibration_fraction) from None
    record_training_files(classifier, data=corpus, vocab=vocab, dev=dev)
    # what the trainer said of the corpus (a catalogue, yes; main subjects, no): audit
    # --bundle under --single-label auto takes it (bundles before it record none: auto)
    classifier.manifest["training"]["single_label"] = single_label
    classifier.save(output)
    # the audit command it advises, with the vocabulary and selection train read
    one_label = _one_label_training_warning(classifier.manifest["training"]["label_cardinality"],
                                            classifier.thresholds.max_labels, single_label,
                                            audit_words(corpus, vocab),
                                            n_used=_labels_in_use(data.Y))
    if classifier.conformal is not None:  # as calibrate warns of its --alpha
        # the bundle's alpha: suggest --sets would answer every label
        # (not where the warning of too-wide sets has said it)
        warn_alpha_too_small(classifier.conformal, [classifier.conformal.alpha],
                             "--calibration-fraction",
                             (classifier.manifest.get("calibration") or {}).get("conformal"))
        out_of_sets = untrained_out_of_sets(classifier, lang=lang)
        if out_of_sets:  # as calibrate says it
            warn(out_of_sets)
    heldout = classifier.manifest["metrics"].get("heldout")
    training = classifier.manifest["training"]
    aside = training.get("n_calibration_docs") or 0
    calibration = classifier.manifest.get("calibration")
    n_docs, n_labels = training["n_docs"], len(label_space)
    if aside > n_docs:  # a share above 0.5: 0.99 trained on 30 of 3,000 and said nothing
        warn(f"--calibration-fraction {calibration_fraction:g} sets {aside:,} "
             f"document{plural_s(aside)} aside for calibration and trains the model on "
             f"{n_docs:,}: it learns from fewer documents than calibration takes")
    # a check on 3 documents printed every metric as 1.0000, as if it measured something
    few_heldout = (heldout["n_docs"] if heldout and heldout["n_docs"] < FEW_HELDOUT_CHECK_DOCS
                   else 0)
    # held-out documents none of which has a label (a corpus mostly unlabelled): every
    # figure read 0.0000 (LRAP 1.0000), as if the model had been measured and failed
    unlabelled = (heldout["n_docs"] if heldout and heldout["metrics"].get(
        "n_docs_without_labels") == heldout["n_docs"] else 0)
    nothing = (plural(unlabelled, "the one held-out document has no label", "none of the "
                      f"{unlabelled:,} held-out documents has a label")
               + ": these figures measure nothing")
    if as_json:
        if one_label:  # in the summary's warnings
            warn(one_label)
        if unlabelled:
            warn(nothing)
        elif few_heldout:
            warn(f"the held-out check rests on {few_heldout:,} document"
                 f"{plural_s(few_heldout)}: too few for its figures to measure the model")
        # with the warnings of the run, which -q hid (as taxonomy's and label's summaries)
        print_json({**_train_summary(model, output, len(label_space), training, heldout,
                                     calibration, classifier.manifest["thresholds"],
                                     _thresholds_source(classifier) if calibration else None),
                    "warnings": obj.get("warnings") or []})
        return
    click.echo(f"trained {model} on {n_docs:,} document{plural_s(n_docs)}"
               + (f" ({aside:,} more set aside for calibration)" if aside else "")
               + f", {n_labels:,} label{plural_s(n_labels)} in {training['seconds']:.1f}s "
               f"-> {printable(output)}")
    if heldout:
        m = heldout["metrics"]
        click.echo(f"held-out ({heldout['source']}, {heldout['n_docs']:,} "
                   f"doc{plural_s(heldout['n_docs'])}): "
                   f"P@1 {m['p@1']:.4f}  nDCG@5 {m['ndcg@5']:.4f}  "
                   f"micro-F1 {m['micro_f1']:.4f}  macro-F1 {m['macro_f1']:.4f}"
                   + (f"  ({nothing})" if unlabelled else
                      f"  ({few_heldout:,} document{plural_s(few_heldout)}: too few for "
                      "these figures to measure the model)" if few_heldout else ""))
    if calibration:
        n_fit, n_conf = calibration["n_calibrator_docs"], calibration["n_conformal_docs"]
        # --calibrator-source crossfit fits on the training documents' out-of-fold
        # scores: '4,136 set-aside documents' named the training corpus as set aside
        fitted_on = ("out-of-fold training" if calibration.get("calibrator_source")
                     == "crossfit" else "set-aside")
        click.echo(f"calibrated ({calibration['method']}) on {n_fit:,} {fitted_on} "
                   f"document{plural_s(n_fit)}, conformal sets on {n_conf:,} "
                   f"document{plural_s(n_conf)}: ECE "
                   f"{calibration['raw']['ece']:.4f} -> {calibration['calibrated']['ece']:.4f}")
        thresholds = classifier.manifest["thresholds"]
        # the labels never learnt, left out of the counts, as calibrate ends its line
        unlearnt = _n_unlearnt(classifier.thresholds)
        also = f", {unlearnt:,} never predicted (no training document)" if unlearnt else ""
        if thresholds.get("objective") == "precision":  # as calibrate says: said nowhere
            # but in the warning of the labels that cannot reach it, if any
            never = thresholds["n_unreachable_labels"]
            own = thresholds["n_tuned_labels"] - never
            click.echo(f"thresholds for precision {thresholds['min_precision']:g}: {own:,} "
                       f"label{plural_s(own)} with one, {never:,} never predicted (no "
                       f"threshold reaches it){also}")
        elif thresholds.get("objective") == "recall":
            click.echo(recall_thresholds_line(thresholds, "",
                                              classifier.n_labels - unlearnt) + also)
            # the share of the positives it tuned on out of the target's reach, as
            # calibrate --min-recall says it (said nowhere by train), of the documents
            # named as calibrate names them
            reach = recall_reach_line(calibration.get("recall_reach"),
                                      thresholds["min_recall"],
                                      _thresholds_source(classifier))
            if reach:
                click.echo(reach)
    if one_label:  # after the held-out figures it speaks of (it came before them)
        warn(one_label)


def _where_document(path: str, label_space, index: int, *, on_error: str,
                    unknown_labels: str) -> str:
    """Where document ``index`` (from 0, as read) of the corpus ``path`` is: ``line N``,
    or its file in a folder corpus, read again (a refusal's path alone: the reading
    kept no line numbers). "document 1" named no line: a corpus skipping malformed
    lines, or a folder, put it elsewhere. A corpus that is no file or folder (``-``, a
    named pipe: ``<(zcat corpus.tsv.gz)``) is not read again: a second read of a pipe
    waits for a writer that never comes, and the refusal hung instead of being said."""
    from pathlib import Path

    from tagsmith.data.corpus import Corpus

    if not (Path(path).is_file() or Path(path).is_dir()):
        return f"document {index + 1:,}"
    corpus = Corpus(path, label_space, on_error=on_error, unknown_labels=unknown_labels)
    for at, (_, record) in enumerate(corpus.with_records()):
        if at == index:
            return (f"line {record.line:,}" if corpus.format != "dir"
                    else f"file {printable(record.source)}")
    return f"document {index + 1:,}"  # not found again (the file changed since)


def _labels_in_use(Y) -> int:
    """The labels some document of ``Y`` carries (a stored 0 none: none in a read
    corpus), counted off its CSR indices as the audit's one-label note counts them."""
    import numpy as np
    import scipy.sparse as sp

    Y = sp.csr_matrix(Y)
    return int(np.count_nonzero(np.bincount(Y.indices, minlength=Y.shape[1])))


def audit_words(corpus: str, vocab: str | None) -> str:
    """``corpus`` and the vocabulary options a command read it with (``--vocab`` and its
    ``--vocab-type``, ``--vocab-scheme``, ``--vocab-prefix``), as the words after
    ``tagsmith audit`` in a command a warning advises: train's one-label warning named
    the corpus alone, and an audit of it derived the labels from the corpus, losing
    the vocabulary's names and hierarchy (distill's named ``--vocab`` and dropped the
    selection). Each word quoted for a shell ('my docs.tsv' split in two)."""
    from tagsmith._shell import shell_path

    words = [shell_path(corpus)]
    if vocab:
        words += [f"--vocab {shell_path(vocab)}", *_selection_options()]
    return printable(" ".join(words))


def _one_label_training_warning(cardinality: dict, max_labels: int | None,
                                single_label: str, corpus: str = "CORPUS", *,
                                n_used: int | None = None,
                                teacher: str | None = None,
                                figures: bool = True) -> str | None:
    """train's warning (and distill's and label --student's: ``teacher``, the file of
    the LLM's labels given, ``corpus`` then naming it with its vocabulary; ``figures``
    False where the command prints no agreement with the teacher, label's) where every
    labelled document of CORPUS carries exactly one label
    (``cardinality``: the manifest's ``training.label_cardinality``) and the model may
    give several (``max_labels`` not 1, and ``n_used``, the labels the documents carry,
    not under 2: a corpus giving every document one same label was told the model may
    give several, where it has one to give), under ``--single-label auto``: None
    otherwise.
    A model trained on Reuters-21578 kept to each story's first topic said nothing: its
    held-out figures (P@1 0.92, micro-F1 0.93) were measured against the one topic kept,
    where against the true sets micro-F1 read 0.83.

    >>> one = {"n_labelled_docs": 7770, "mean_labels": 1.0, "share_one_label": 1.0}
    >>> print(_one_label_training_warning(one, None, "auto"))
    ... # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    every one of the 7,770 labelled documents carries exactly one label, and the model
    may give a document several: ...
    >>> [_one_label_training_warning(one, None, said) for said in ("yes", "no")]
    [None, None]
    >>> _one_label_training_warning(one, 1, "auto") is None  # one label a document out
    True
    >>> _one_label_training_warning({**one, "share_one_label": 0.99}, None, "auto") is None
    True
    >>> _one_label_training_warning(one, None, "auto", n_used=1) is None  # one label
    True
    >>> print(_one_label_training_warning(one, None, "auto", "l.jsonl --vocab v.tsv",
    ...                                   teacher="l.jsonl"))
    ... # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    every one of the 7,770 labelled documents carries exactly one label, and the student
    may give a document several: ... Audit it with tagsmith audit l.jsonl --vocab v.tsv
    --single-label no ...; if the LLM was asked for one label a document, ...
    """
    n = cardinality.get("n_labelled_docs") or 0
    if (single_label != "auto" or max_labels == 1 or n < 2
            or (n_used is not None and n_used < 2)
            or cardinality.get("share_one_label") != 1.0):
        return None
    model, said = (("model", "train's held-out figures") if teacher is None else
                   ("student", "its agreement with the teacher"))
    # label --student prints no agreement with the teacher: the words named figures unseen
    counted = (f", and {said} count{'s' if teacher else ''} a second label it suggests "
               "as wrong" if figures else "")
    return (f"every one of the {n:,} labelled documents carries exactly one label, and the "
            f"{model} may give a document several: if a document can carry several labels "
            "and was coded with its main one alone (a library's main subject), the "
            f"{model} learnt a second subject as evidence against the first{counted}. Audit it "
            f"with tagsmith audit {corpus} --single-label no --review-sample N (then "
            "tagsmith estimate-noise on the decided sample) to measure how many labels "
            "were left off; "
            + ("if each document truly has one label (a catalogue), train with "
               "--single-label yes, and this warning is not given" if teacher is None else
               f"if the LLM was asked for one label a document, {teacher} holds its main "
               "one alone: label again asking for every label that applies"))


def warn_one_label_student(classifier: TextClassifier, Y: Any, labels: str, vocab: str, *,
                           figures: bool = True) -> None:
    """distill's and label --student's one-label warning, as train's
    (:func:`_one_label_training_warning`): the LLM's labels of ``labels`` (``Y``, the
    soft targets the student learnt), one a document, taught a student that may give
    several. They said nothing where train warned (an LLM asked for one label a
    document gives the same corpus). A label counts at the target the student learns
    a positive at (:data:`~tagsmith.pipeline.distill.LEARNT_TARGET`): any nonzero score
    counted, a document given one label at 0.9 and another at 0.2 read as two.
    ``figures``: the command prints the student's agreement with the teacher."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.pipeline.distill import LEARNT_TARGET
    from tagsmith.pipeline.train import label_cardinality

    learnt = sp.csr_matrix(Y, dtype=np.float64, copy=True)
    learnt.data = (learnt.data >= LEARNT_TARGET).astype(np.float64)
    learnt.eliminate_zeros()
    # counted off Y: label --student's active student records no training section
    message = _one_label_training_warning(
        label_cardinality(learnt),
        classifier.thresholds.max_labels, "auto", audit_words(labels, vocab),
        n_used=_labels_in_use(learnt), teacher=printable(labels), figures=figures)
    if message:
        warn(message)


def _thresholds_source(classifier) -> str:
    """The documents a trained bundle's calibrated thresholds were tuned on, by name: the
    held-out documents where train tuned them again there (the manifest's
    ``thresholds_source``), else the part of the set-aside ones (as calibrate names
    them: :func:`~tagsmith.pipeline.confidence.thresholds_documents`)."""
    from tagsmith.pipeline.confidence import thresholds_documents

    calibration = classifier.manifest.get("calibration") or {}
    if "thresholds_source" in calibration:
        return str(calibration["thresholds_source"])
    source = classifier.heldout.source if classifier.heldout is not None else ""
    return thresholds_documents(calibration, source)


def _train_summary(model: str, output: str, n_labels: int, training: dict,
                   heldout: dict | None, calibration: dict | None,
                   thresholds: dict, thresholds_source: str | None = None) -> dict:
    """What ``train`` prints at the end, as keys (``train --json``): the held-out
    metrics (every one ``eval --json`` has) and the calibration are ``None`` when
    there were none; ``thresholds``, the manifest's (their objective, and with a
    precision the labels never predicted)."""
    return {
        "model": model, "output": str(output), "n_docs": training["n_docs"],
        "n_calibration_docs": training.get("n_calibration_docs") or 0,
        "n_labels": n_labels, "seconds": round(training["seconds"], 3),
        "heldout": None if not heldout else {
            "source": heldout["source"], "n_docs": heldout["n_docs"],
            "metrics": heldout["metrics"]},  # all of them, as eval --json has
        "calibration": None if not calibration else {
            "method": calibration["method"],
            "n_calibrator_docs": calibration["n_calibrator_docs"],
            "n_conformal_docs": calibration["n_conformal_docs"],
            "ece_raw": calibration["raw"]["ece"],
            "ece_calibrated": calibration["calibrated"]["ece"],
            # the documents the thresholds were tuned on, as calibrate --json has them
            "thresholds_tuned_on": calibration.get("thresholds_tuned_on"),
            "thresholds_source": thresholds_source},
        "thresholds": thresholds,
        # with a recall target, what share of the held-out positives its thresholds
        # were tuned on it can reach (as calibrate --json gives it)
        **({"recall_reach": calibration["recall_reach"]}
           if calibration and "recall_reach" in calibration else {}),
    }


#: suggest --sets lists at most this many members of a set (the most probable first)
SET_MEMBERS_LISTED = 100
#: suggest --sets --format tsv: the label column of the one row of an empty set
EMPTY_SET_MARKER = "(empty set)"
def _text_column(line: str, name: str, number: int) -> str:
    """The text of line ``number`` of ``name``: everything before the first TAB (labels
    may follow). A line with nothing but blanks before its TAB and something after it
    (a tab-indented paragraph, a corpus line without its text) is refused naming
    ``file:line``, as the TSV corpus reader refuses an empty text: its words were
    dropped and an empty document answered in its place without a word."""
    text, tab, rest = line.rstrip("\r\n").partition("\t")
    if tab and not text.strip() and rest.strip():
        raise DataError("no text before the TAB (a line is TEXT, then optionally a TAB and "
                        "labels, which are ignored; use --whole-file for a document whose "
                        "lines start with a TAB)", path=name, line=number)
    return text


def _read_documents(files: tuple[str, ...], whole_file: bool, stdin: bytes | None = None,
                    *, unique_ids: bool = True, vocab_option: str | None = None,
                    checked: bool = False):
    """(doc_id, text) pairs: one document per non-empty line, or per file (per stdin);
    of a CSV or JSON Lines corpus (:func:`record_format`), one per record with a text;
    of a folder, one per ``.txt`` file (:func:`_folder_documents`). Lines end as the
    corpus readers end them (:func:`~tagsmith.data.readers.split_lines`).

    ``-`` among ``files`` reads stdin in its place; no files at all read stdin. Every
    file is checked first (it exists, is a file and can be read), so a typo in a later
    name fails before anything is printed. Bytes that are not UTF-8 and damaged ``.gz``
    streams fail naming ``file:line`` (exit 3), as the corpus readers do. ``stdin``:
    its bytes, read already (two options reading it: it can be read only once).
    ``unique_ids``: a document id met twice fails (:func:`_claim_id`); off for a
    caller that reads the texts alone. A vocabulary given among ``files`` (or on stdin)
    is refused (:func:`check_document_files`); ``vocab_option`` is the command's option
    or argument that takes one, which the refusal names (None: the bundle's).
    ``checked``: the caller checked ``files`` already (:func:`check_document_files`,
    before its bundle or encoder loaded), so they are not checked twice (a folder's
    files were each listed and looked up again: one stat a document on a network file
    system each time).
    """
    files = files or ("-",)
    if files.count("-") > 1:  # the second read nothing: no document, no word
        raise click.UsageError("'-' (stdin) is given more than once; stdin can be read "
                               "only once")
    if not checked:
        check_document_files(files, whole_file, vocab_option=vocab_option)
    return _documents(files, whole_file, stdin, unique_ids=unique_ids,
                      vocab_option=vocab_option)


def check_document_files(files: tuple[str, ...], whole_file: bool = False, *,
                         vocab_option: str | None = None) -> None:
    """Check every file named in ``files`` (not ``-``) as :func:`_read_documents` does,
    before a command loads its bundle or encoder: a typo in a name failed only after
    the load (zeroshot's encoder: seconds). With ``whole_file``, a CSV or JSON Lines
    corpus among them is refused: its records are its documents.

    A file given twice (by any spelling or link), or given and also a ``.txt`` document
    of a folder given, is refused naming both: its documents were answered twice, the
    lines of a plain text file under the same ``file:line`` ids.

    A file or folder whose every document is a lone ``<URI>`` is a vocabulary (a TSV's
    ``<uri>`` TAB name lines), refused naming it with
    :func:`~tagsmith.data.readers.check_not_a_vocabulary`, as train, eval, audit and
    label refuse one for a corpus: suggest, shift and zeroshot answered each URI as a
    document. ``vocab_option``: the command's option or argument that takes a
    vocabulary (None: a bundle's command, the bundle holding it). Only the documents up
    to the first that is not a lone URI are read for it (a corpus: its first).
    Refused the same way, as they are read: a SKOS vocabulary (a file named ``.ttl``,
    ``.rdf``, ``.xml``, ``.owl``, ``.nt`` or ``.jsonld``, optionally ``.gz``, whose first
    :data:`SKOS_SNIFF_LINES` lines name the SKOS namespace: :func:`_file_documents`),
    read one document per line or as one (stdin, which has no name, as one document
    where those lines name it: :func:`_refusing_skos_text`), and a CSV vocabulary (a
    header with a ``uri`` column and no ``text``: :func:`_record_documents`). Stdin and
    a named pipe, read once, are checked as they are read (:func:`_documents`), a CSV or
    JSON Lines pipe too."""
    seen: dict[tuple[int, int], str] = {}  # (device, inode) -> how it was given

    def claim(path: str, given: str) -> None:
        status = os.stat(path)
        key = (status.st_dev, status.st_ino)
        first = seen.get(key)
        if first is not None:  # given before (the same spelling too)
            raise DataError(f"is given more than once ({first} and {given}); each document "
                            "is read once, so give each file or folder once", path=path)
        seen[key] = given

    for name in files:
        if name != "-":
            _check_input_file(name)
            claim(name, name)
            if os.path.isdir(name):
                from tagsmith.data.readers import directory_files

                for member in directory_files(name, warn=False):
                    claim(str(member), f"a document of the folder {name}")
            fmt = record_format(name) if whole_file else None
            if fmt is not None:
                raise click.UsageError(
                    f"--whole-file reads each file as one document, but {name} is a "
                    f"{fmt.upper()} corpus, read one document per record; drop "
                    "--whole-file, or give the text in a file of another name (such "
                    "as .txt)")
    for name in files:  # after every name is checked: a typo in a later one comes first
        if name == "-":  # stdin, checked as it is read: a folder named '-' here had this
            continue     # check read stdin up, and the documents were none, exit 0
        if os.path.isfile(name) and not whole_file and record_format(name) is None:
            from tagsmith.data.readers import feature_file_error

            refusal = feature_file_error(name)  # each line was answered as a text
            if refusal is not None:
                raise refusal
        if os.path.isdir(name) or (os.path.isfile(name) and not whole_file):
            # a whole file is a lone URI only where it holds nothing else; a pipe can be
            # read once, so it is checked as it is read (_documents)
            # warn=False: the reading warns of a folder's names in another case, once
            _check_not_a_vocabulary(_documents((name,), whole_file, unique_ids=False,
                                               vocab_option=vocab_option, warn=False),
                                    name, vocab_option)


def _check_not_a_vocabulary(documents, name: str, vocab_option: str | None) -> list:
    """The (doc_id, text) pairs of ``documents`` up to the first whose text is not a
    lone URI (all of them where each is one: then refused as a vocabulary naming
    ``name``, when there is any), read no further."""
    from tagsmith.data.readers import check_not_a_vocabulary, is_lone_uri

    read = []
    for doc_id, text in documents:
        read.append((doc_id, text))
        if not is_lone_uri(text):
            return read
    check_not_a_vocabulary([text for _, text in read], name, vocab_option=vocab_option,
                           labelled=False)  # documents: their labels are ignored
    return read


#: the corpus formats whose files suggest and zeroshot read record by record
RECORD_FORMATS = ("csv", "jsonl")


def record_format(name: str) -> str | None:
    """``"csv"`` or ``"jsonl"`` when ``name`` is a corpus file of that format by its
    suffix (``.csv``, ``.jsonl``, ``.ndjson``, each optionally ``.gz``), as the corpus
    readers tell it; None for any other file (read one document per line), and for a
    folder. The file is not opened: a .txt input was opened twice more per call, by
    the corpus readers' refusal of a file of no corpus suffix, its message dropped."""
    from tagsmith.data.readers import suffix_format
    from tagsmith.data.textio import reachable_kind
    from tagsmith.exceptions import DataError

    try:
        if reachable_kind(name) == "a folder":
            return None
    except DataError:  # cannot be looked at: refused where it is read
        return None
    fmt = suffix_format(name)
    return fmt if fmt in RECORD_FORMATS else None


def documents_progress(desc: str) -> AbstractContextManager[_NoProgress | _LogProgress]:
    """One progress bar (or log line every 10 s) over the documents a streaming command
    (suggest, zeroshot) has answered; their number is not known ahead. None while the
    answers themselves go to a terminal, where they show the progress."""
    from tagsmith.progress import progress_bar

    return progress_bar(total=None, desc=desc, unit="doc", enabled=not sys.stdout.isatty())


def reads_stdin(files: tuple[str, ...]) -> bool:
    """Whether :func:`_read_documents` reads stdin for ``files``."""
    return not files or "-" in files


def _open_stdin():
    """``sys.stdin``, refused naming it where it is closed (``<&-``: ``sys.stdin`` is
    None, and reading it raised a TypeError)."""
    if sys.stdin is None:
        raise DataError("cannot be read (it is closed)", path="stdin")
    return sys.stdin


def read_stdin_bytes() -> bytes:
    """All of stdin, for more than one reader of it."""
    stdin = getattr(_open_stdin(), "buffer", None)
    if stdin is None:  # a text-only stream (embedded use)
        return sys.stdin.read().encode("utf-8")
    return _waiting(stdin).read()


def _waiting(stream):
    """``stream`` (stdin's buffered reader), or where its descriptor is non-blocking
    (``O_NONBLOCK``, which the process that gave the pipe may have set), a buffered reader
    of it that waits for the input to come: the read of a non-blocking pipe with nothing
    in it yet gave ``b""``, which read as the end of the input (``suggest B -`` answered
    no document, ``--whole-file`` one empty document, ``shift B -`` said stdin held
    none), and the documents written a moment later were never read."""
    try:
        if os.get_blocking(stream.fileno()):
            return stream
    except (OSError, ValueError, AttributeError):  # no descriptor (embedded use)
        return stream
    return io.BufferedReader(_CountingReader(stream), 1 << 16)


def _text_given_as_file(name: str) -> str:
    """The way to tag ``name``, a FILES argument no file has, where it reads as a text
    rather than a file's name (words, no folder, no file suffix), else ``""``: a
    newcomer's ``tagsmith suggest B "I love it"`` said only "I love it: file not found".

    >>> _text_given_as_file("notes.txt"), _text_given_as_file("docs/my notes.txt")
    ('', '')
    """
    import re
    import shlex

    from tagsmith._shell import shell_path

    if not re.search(r"\s", name.strip()) or os.sep in name \
            or re.fullmatch(r"\.[A-Za-z0-9]{1,6}", os.path.splitext(name)[1]):
        return ""
    ctx = click.get_current_context(silent=True)
    if ctx is None or name not in (ctx.params.get("files") or ()):  # not --background's
        return ""
    # the command as given up to FILES: its first argument (a bundle, a vocabulary)
    first = next((param for param in ctx.command.params
                  if isinstance(param, click.Argument) and param.name != "files"), None)
    value = ctx.params.get(first.name) if first is not None and first.name else None
    command = f"tagsmith {ctx.info_name}" + (f" {shell_path(str(value))}" if value else "")
    return (f"; FILES are files of documents (or - for stdin): to give the text itself, "
            f"pipe it in: echo {shlex.quote(name)} | {command}")


def _check_input_file(name: str) -> None:
    from pathlib import Path

    from tagsmith.data.textio import reachable_kind

    path = Path(name)
    kind = reachable_kind(name)  # not exists(): a PermissionError of its own (3.11)
    if kind == "missing":
        raise DataError("file not found" + _text_given_as_file(name), path=name)
    if kind == "a folder":
        _check_document_folder(name)
        return
    if not os.access(path, os.R_OK):
        raise DataError("cannot be read (permission denied)", path=name)
    from tagsmith.data.readers import compression_mismatch

    problem = compression_mismatch(path)  # before a model or encoder is loaded
    if problem is not None:
        raise DataError(problem, path=name)


def _check_document_folder(name: str) -> None:
    """Refuse a folder given as documents that cannot be read as one: unreadable, a
    model bundle, or without a ``.txt`` document (which would answer nothing)."""
    from tagsmith.data.readers import annif_json_folder, directory_files, json_file_count
    from tagsmith.store.bundle import is_bundle

    if not os.access(name, os.R_OK | os.X_OK):
        raise DataError("cannot be read (permission denied)", path=name)
    if is_bundle(name):
        raise DataError("this is a tagsmith model bundle, not documents (a file, or a "
                        "folder of .txt documents)", path=name)
    if not directory_files(name, warn=False):
        n_json = json_file_count(name)
        raise DataError("is a folder without .txt files: a folder is read one document "
                        "per .txt file (a name ending in exactly .txt, not hidden)"
                        + (f"; it {annif_json_folder(name, n_json)}" if n_json else ""),
                        path=name)


def _folder_documents(name: str, *, warn: bool = True):
    """(path, doc_id, text) of each document of the folder ``name``, as the corpus
    reader selects, orders and names them (:func:`~tagsmith.data.readers.directory_files`),
    each file read only when its turn comes. The id is the file's stem (``a`` for
    ``docs/a.txt``; bytes that are not UTF-8 written ``\\xNN``), the corpus reader's
    id for it (:func:`~tagsmith.data.readers.document_id`), so that what suggest or zeroshot
    answer for a folder joins with an audit or eval of it; ``path`` (``name`` joined
    with the file's name) is where an error points. The text is the file's, stripped,
    as the corpus reader reads it (its line ends kept, CR LF too). ``warn``: as
    :func:`~tagsmith.data.readers.directory_files` takes it."""
    from tagsmith.data.readers import directory_files, document_id, id_clash

    escaped: dict[str, str] = {}
    for path in directory_files(name, warn=warn):
        where = os.path.join(name, path.name)
        doc_id = document_id(path)
        clash = id_clash(escaped, path, doc_id)
        if clash is not None:  # as the corpus reader refuses it
            raise DataError(clash, path=name)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read the file ({exc.strerror or exc})",
                            path=where) from None
        # line ends kept, as the corpus reader keeps them: CR LF made LF here gave one
        # file two texts (suggest's and zeroshot's, and train's, eval's, audit's, or
        # the LLM labeler's, whose prompts and cache keys hold the text)
        yield where, doc_id, _decode_all(raw, where)


def _documents(files: tuple[str, ...], whole_file: bool, stdin: bytes | None = None, *,
               unique_ids: bool = True, vocab_option: str | None = None, warn: bool = True):
    from pathlib import Path

    from tagsmith.data.ids import FirstSeen

    ids = FirstSeen[str]()  # each record's id, and where it was first seen
    # the ids made up here (file:line, stdin:N, a file's path) differ from each other
    # once no file is given twice (check_document_files), so they are kept, to be told
    # from another id, only where one may meet them: a record's id (a CSV or JSON Lines
    # corpus among the files), 'stdin' as a file with '-', or a folder document's stem
    # (d1/a.txt and d2/a.txt are both 'a'; 'x:3.txt' is 'x:3'): a long text file alone
    # keeps no id per line
    made: FirstSeen[str] | None = None
    # each file told once, for this and for its reading (a folder, or a record format)
    kinds = []
    for name in files:
        is_dir = name != "-" and Path(name).is_dir()
        kinds.append((name, is_dir, None if name == "-" or is_dir or whole_file
                      else record_format(name)))
    if unique_ids and (any(is_dir or fmt for _, is_dir, fmt in kinds)
                       or ("-" in files and "stdin" in files)):
        made = ids
    from tagsmith.data.readers import refuse_text_columns

    for name, is_dir, fmt in kinds:
        # --text-column names a CSV or JSONL corpus's columns: refused for any other input
        if name == "-":
            refuse_text_columns("stdin", "read as text, a document "
                                + ("in all" if whole_file else "a line"))
        elif is_dir:
            refuse_text_columns(name, "a folder of .txt documents")
        elif fmt is None:
            refuse_text_columns(name, "a plain text file, read as "
                                + ("one document (--whole-file)" if whole_file
                                   else "a document a line"))
        if name == "-":
            documents = _stdin_documents(whole_file, stdin)
            if whole_file:  # no name to tell a SKOS vocabulary by: its first lines tell
                documents = _refusing_skos_text(documents, "stdin", vocab_option)
            else:  # read once: held while each is a lone URI, then let go
                documents = _refusing_a_vocabulary(documents, "stdin", vocab_option)
        elif is_dir:
            for where, doc_id, text in _folder_documents(name, warn=warn):
                if made is not None:  # named by the file, not by the shared stem
                    _claim_id(made, doc_id, where)
                yield doc_id, text
            continue
        elif fmt is not None:
            documents = _record_documents(name, fmt, ids if unique_ids else None,
                                          vocab_option=vocab_option)
            if not Path(name).is_file():  # a pipe: read once
                documents = _refusing_a_vocabulary(documents, name, vocab_option)
            yield from documents
            continue
        else:
            documents = _file_documents(name, whole_file, vocab_option=vocab_option)
            if not whole_file and not Path(name).is_file():  # a pipe: read once
                documents = _refusing_a_vocabulary(documents, name, vocab_option)
        for doc_id, text in documents:
            if made is not None:
                _claim_id(made, doc_id, doc_id)
            yield doc_id, text


def _refusing_feature_lines(lines, name: str):
    """The (number, line) pairs of ``name`` (stdin or a pipe, read once, one document a
    line), refused as a regular file is (:func:`~tagsmith.data.readers.feature_file_error`,
    which reads a regular file's head) when their first two non-blank lines are an
    svmlight or XMC feature file's: each line was answered as a document. The lines are
    told whole, as a regular file's are (a TSV line's TAB and labels too: its text
    column alone, '1 0:1 2:2', was refused where the same file was read). A first line
    that may begin a feature file (:func:`~tagsmith.data.readers.may_begin_feature_file`)
    is held until the second arrives (or the stream ends), an XMC header and a feature
    line until the third, as many as a file's check reads, no longer (:func:`~tagsmith.
    data.readers.feature_head_told`); any other is let go at once: a document typed at
    a terminal was answered only once the next was."""
    from tagsmith.data.readers import feature_head_told, feature_lines_error

    lines = iter(lines)
    held, head = [], []
    for number, line in lines:
        held.append((number, line))
        if line.strip():
            head.append(line.rstrip("\r\n"))
            if feature_head_told(head):
                break
    refusal = feature_lines_error(name, head) if len(head) > 1 else None
    if refusal is not None:
        raise refusal
    yield from held
    yield from lines


def _refusing_a_vocabulary(documents, name: str, vocab_option: str | None):
    """``documents`` of ``name`` (stdin or a pipe, which can be read only once), refused
    as a vocabulary when every one is a lone URI (:func:`check_document_files`): those
    met first are held, not yielded, until one is not."""
    documents = iter(documents)
    yield from _check_not_a_vocabulary(documents, name, vocab_option)
    yield from documents


#: the lines of a file named as a SKOS vocabulary (``.ttl``...) read for the SKOS
#: namespace before any is a document (:func:`_file_documents`): a Turtle, RDF/XML or
#: JSON-LD file declares it in its prefixes, at the top
SKOS_SNIFF_LINES = 64
SKOS_NAMESPACE = "http://www.w3.org/2004/02/skos/core#"


def _file_documents(name: str, whole_file: bool, *, vocab_option: str | None = None):
    """(doc_id, text) of the plain text file ``name``: the whole file, or each non-blank
    line, named ``file:line``. Read either way, a file named as a SKOS vocabulary whose
    first :data:`SKOS_SNIFF_LINES` lines name the SKOS namespace is refused as one,
    naming ``file:line`` of the first that does (``vocab_option``: the command's option
    taking a vocabulary, None: the bundle's): suggest answered each line of Turtle (with
    --whole-file, the whole file as one document)."""
    from pathlib import Path

    from tagsmith.data.readers import numbered_lines, open_binary, split_lines

    with open_binary(name) as handle:
        if whole_file:
            documents = [(name, _decode_all(_read_all(handle, name), name))]
            if _skos_named(name):  # answered as a document, silently: refused as by line
                documents = _refusing_skos_text(documents, name, vocab_option)
            yield from documents
            return
        # lines end as in corpus files: LF, CR LF, or CR in a file with no LF
        lines = _decoded(numbered_lines(split_lines(handle), name), name)
        if _skos_named(name):
            lines = _refusing_skos(lines, name, vocab_option)
        if not Path(name).is_file():  # a pipe, read once: told as its lines arrive
            lines = _refusing_feature_lines(lines, name)
        for number, line in lines:
            if line.strip():
                yield f"{name}:{number}", _text_column(line, name, number)


def _skos_named(name: str) -> bool:
    """Whether ``name`` is named as a SKOS vocabulary, as the vocabulary loader tells it
    (:func:`tagsmith.data.vocab.detect_format`)."""
    from tagsmith.data.vocab import detect_format
    from tagsmith.exceptions import UnsupportedFormatError

    try:
        return detect_format(name) == "skos"
    except UnsupportedFormatError:  # no vocabulary suffix
        return False


def _refusing_skos_text(documents, name: str, vocab_option: str | None):
    """``documents``, each a whole file (or stdin, ``--whole-file``), refused as a SKOS
    vocabulary where one of the first :data:`SKOS_SNIFF_LINES` lines of its text names
    the SKOS namespace (:func:`_refusing_skos`, ``file:line`` naming that line)."""
    for doc_id, text in documents:
        head = enumerate(_first_lines(text, SKOS_SNIFF_LINES), start=1)
        next(_refusing_skos(head, name, vocab_option, "read as one document "
                            "(--whole-file)"), None)
        yield doc_id, text


def _first_lines(text: str, n: int) -> list[str]:
    """The first ``n`` lines of ``text``, as ``text.splitlines()[:n]``, split from as
    short a start of it as holds them: splitting all of a whole file (or stdin) to look
    at its first lines took 7 s and 380 MB beside a 95 MB text of short lines.

    >>> _first_lines("a\\r\\nb\\nc", 2), _first_lines("a\\nb", 5)
    (['a', 'b'], ['a', 'b'])
    """
    size = 4096
    while True:
        # a line cut short at the end is the last of them, after the n whole ones
        lines = text[:size].splitlines()
        if len(lines) > n or size >= len(text):
            return lines[:n]
        size *= 4


def _refusing_skos(lines, name: str, vocab_option: str | None,
                   read_as: str = "read one document per line"):
    """The (number, line) pairs of ``lines``, the first :data:`SKOS_SNIFF_LINES` held
    (before a TAB-indented one is refused as a document without text) and refused as a
    SKOS vocabulary where one names the SKOS namespace (``read_as``: how the file was
    to be read)."""
    from tagsmith.data.readers import vocabulary_refused

    lines = iter(lines)
    head = list(islice(lines, SKOS_SNIFF_LINES))
    for number, line in head:
        if SKOS_NAMESPACE in line:
            raise vocabulary_refused(f"names the SKOS namespace <{SKOS_NAMESPACE}>, a SKOS "
                                     f"vocabulary's, {read_as}", name,
                                     vocab_option=vocab_option, line=number, labelled=False)
    yield from head
    yield from lines


def _claim_id(ids: FirstSeen[str], doc_id: str, here: str, field: str = "") -> None:
    """Note that the document at ``here`` (``file:line``) has the id ``doc_id``; one
    noted before, at another place or at this one again, fails naming both: two outputs
    under one id could not be told apart (making it unique would name a document by an
    id it lacks). ``field``: the record's field the id is, where not its ``id``."""
    first = ids.claim(doc_id, here)
    if first is None:
        return
    name, _, line = here.rpartition(":")
    where = ("this document was read already (the file is given more than once)"
             if first == here else f"it is the id of the document at {printable(first)} too")
    of = f" (its {field})" if field else ""
    message = (f"the id {printable(doc_id)!r}{of} repeats: {where}; each document needs "
               "an id of its own (their outputs would share it)")
    if name and line.isdigit():
        raise DataError(message, path=name, line=int(line))
    raise DataError(message, path=here)


def _record_documents(name: str, fmt: str, ids: FirstSeen[str] | None = None, *,
                      vocab_option: str | None = None):
    """(doc_id, text) of each record of the CSV or JSON Lines corpus ``name``, read by
    the corpus reader (labels and other fields ignored; a malformed record fails naming
    ``file:line``). The id is the record's ``id``, else its ``document_id`` (Annif's
    CSV and JSON Lines corpora name their documents so: they were named by line), else
    ``file:line`` of its first line. A record with an empty text is left out, as a blank
    line is, and a warning once the file is read counts such records: 120 records gave
    118 answers without a word.

    With ``ids`` (each id met so far and its ``file:line``, updated), an ``id`` given
    twice, in this file or an earlier one, fails naming both places: two outputs under
    one id could not be told apart (making it unique would name a document by an id it
    lacks).

    A CSV vocabulary (its header names a ``uri`` column and no ``text``) is refused as
    one, naming the option or argument that takes it (``vocab_option``; None: the
    bundle holds it), not only as a corpus without a text column."""
    from tagsmith.data.readers import NoTextColumnError, read_records

    n_empty = 0
    try:
        for record in read_records(name, fmt):
            if not record.text.strip():
                n_empty += 1
                continue
            here = f"{name}:{record.line}"
            annif_id = None if record.doc_id else _annif_document_id(record, fmt == "csv")
            doc_id = record.doc_id or annif_id or here
            if ids is not None:  # a record without an id is named file:line, as a line is
                # Annif's document_id named: "the id 'd1' repeats" of a corpus with no id
                _claim_id(ids, doc_id, here, "document_id" if annif_id else "")
            yield doc_id, record.text
    except NoTextColumnError as exc:
        refuse_csv_vocabulary(exc, name, vocab_option)
    if n_empty:
        warn(f"{printable(name)}: {n_empty:,} record{plural_s(n_empty)} with an empty text "
             f"left out (no output for {plural(n_empty, 'it', 'them')})")


def _annif_document_id(record, strip: bool = False) -> str | None:
    """The ``document_id`` of ``record`` (a string or an integer, as an ``id`` may
    be; not blank), where Annif's CSV or JSON Lines corpus names it so; else None.
    ``strip``: a CSV's, whose cell is stripped as its ``id``'s is (' 7 ' named it)."""
    value = record.metadata.get("document_id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip() if strip else str(value)
    return text if text.strip() else None


def refuse_stdin(value: str | None, param: str = "CORPUS",
                 what: str = "a file (a corpus, or a text file with one document per "
                             "line); save the documents to a file and give its name",
                 *, output: bool = False) -> None:
    """Refuse ``-`` as ``param``, a path not given as one (``audit --split NAME=PATH``):
    ``-`` was looked for as a file and failed "-: file not found", which named no
    option. (A file or folder argument or option refuses ``-`` itself, in
    :func:`tagsmith.cli.a_path`.) ``output``: ``param`` is written, and ``-`` is not
    stdout there."""
    if value == "-":
        stream = "(stdout) is not written" if output else "(stdin) is not read"
        raise click.BadParameter(f"'-' {stream} here: {param} is {what}", param_hint=param)


def refuse_csv_vocabulary(exc: NoTextColumnError, name: str,
                          vocab_option: str | None) -> NoReturn:
    """Raise ``exc``, the CSV file ``name`` having no ``text`` column, as a vocabulary
    given as documents where its header is a vocabulary's (a ``uri`` column), naming
    ``vocab_option``, the command's option or argument taking one (None: the bundle
    holds it); as it is otherwise."""
    from tagsmith.data.readers import vocabulary_refused

    if "uri" not in exc.columns:
        raise exc
    raise vocabulary_refused("its header names a 'uri' column and no 'text' column, "
                             "a CSV vocabulary's header", name,
                             vocab_option=vocab_option, line=exc.line, labelled=False
                             ) from None


def _stdin_documents(whole_file: bool, data: bytes | None = None):
    from tagsmith.data.readers import numbered_lines, split_lines

    stdin = getattr(_open_stdin() if data is None else sys.stdin, "buffer", None)
    if data is not None:  # read already
        lines = numbered_lines(split_lines(io.BytesIO(data)), "stdin")
    elif stdin is None:  # a text-only stream (embedded use): nothing to decode
        lines = enumerate((line.encode("utf-8") for line in sys.stdin), start=1)
    elif whole_file:
        lines = numbered_lines(split_lines(_waiting(stdin)), "stdin")
    else:
        lines = numbered_lines(input_ready.taken(split_lines(input_ready.watch(stdin))),
                               "stdin")
    if whole_file:
        # one document even when empty, as an empty file is: empty stdin gave no
        # record at all, where the same text in a file got its own (zeroshot: no
        # suggestion, and a warning counting it)
        yield "stdin", _decode_all(b"".join(raw for _, raw in lines), "stdin")
        return
    try:
        for number, line in _refusing_feature_lines(_decoded(lines, "stdin"), "stdin"):
            if line.strip():
                yield f"stdin:{number}", _text_column(line, "stdin", number)
    finally:
        input_ready.watch(None)


class _InputReady:
    """Whether the documents being read have more to read at once: false while they
    come from stdin, a pipe or terminal, whose writer has written nothing more yet
    (:func:`_batches` answers the documents read so far then). True for every other
    input, and where it cannot tell.

    A line already read from the pipe (a writer's burst is read at once) is more to
    read too: select sees only the descriptor, and each line of a burst after the
    first ended a batch of its own (3,000 documents in bursts of 100: 692 batches,
    twice the time of the same documents from a file). The lines read ahead are known
    by the line feeds read (:class:`_CountingReader`) against those taken."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._reader: _CountingReader | None = None
        self._taken = 0

    def watch(self, stream):
        """Poll ``stream`` (stdin being read line by line; None: nothing), returning the
        stream to read it through: a buffered reader counting the line feeds it reads.
        A regular file always has more to read up to its end: it is not polled, and
        is returned as it is."""
        self._fd, self._reader, self._taken = None, None, 0
        if stream is None:
            return None
        import stat

        try:
            fd = stream.fileno()
            if stat.S_ISREG(os.fstat(fd).st_mode):
                return stream
        except (OSError, ValueError, AttributeError):  # no descriptor (embedded use)
            return stream
        self._fd, self._reader = fd, _CountingReader(stream)
        return io.BufferedReader(self._reader, 1 << 16)

    def taken(self, lines):
        """``lines`` (read from what :meth:`watch` returned), counting their line feeds."""
        for line in lines:
            self._taken += line.count(b"\n")
            yield line

    def __call__(self) -> bool:
        if self._fd is None or self._reader is None:
            return True
        if self._reader.line_feeds > self._taken:  # a whole line read already
            return True
        import select

        try:
            return bool(select.select([self._fd], [], [], 0)[0])
        except (OSError, ValueError):  # a descriptor select cannot poll (Windows)
            return True


class _CountingReader(io.RawIOBase):
    """``stream`` (stdin's buffered reader) as a raw stream, counting the line feeds it
    has given (:class:`_InputReady`). Each read is one ``read1``: what is there, or, where
    nothing is, one read of the descriptor; of a non-blocking descriptor, a read that
    finds nothing waits for the input to come (or end), as a blocking one does."""

    def __init__(self, stream) -> None:
        super().__init__()
        self.stream = stream
        self.line_feeds = 0

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.stream.fileno()

    def readinto(self, buffer) -> int | None:
        read = getattr(self.stream, "read1", self.stream.read)
        data = read(len(buffer))
        if not data:
            # a buffered reader of a non-blocking descriptor with nothing yet gives b"",
            # as at the end of the input (a raw one gives None): the command took stdin
            # for empty and ended before its documents came
            data = self._wait_and_read(len(buffer), data)
        size = len(data)
        buffer[:size] = data
        self.line_feeds += data.count(b"\n")
        return size

    def _wait_and_read(self, size: int, read: bytes | None) -> bytes:
        """What :meth:`readinto` read (``read``: nothing), or where the descriptor is
        non-blocking, its next bytes once there are some, b"" at the end of the input
        (the stream's buffer is empty: it gave nothing, so the descriptor is read)."""
        import select

        try:
            fd = self.stream.fileno()
            if os.get_blocking(fd):
                return read or b""  # the end of the input
        except (OSError, ValueError, AttributeError):  # no descriptor: as read
            return read or b""
        while True:
            try:
                return os.read(fd, size)
            except BlockingIOError:
                select.select([fd], [], [])  # until there is input, or its end


input_ready = _InputReady()


def _read_all(handle, name: str) -> bytes:
    """All of the file ``handle`` (``--whole-file``), read by lines bounded as stdin's
    are: a line over :data:`~tagsmith.data.readers.MAX_LINE_BYTES` is refused naming
    ``file:line`` (it was read whole and answered, where the same bytes on stdin were
    refused at stdin:1); a gzip file cut short is refused as when read by lines, saying
    how many lines were read before the cut."""
    import zlib

    from tagsmith.data.readers import numbered_lines, split_lines

    try:
        return b"".join(raw for _, raw in numbered_lines(split_lines(handle), name))
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read the file ({exc})", path=name) from None


def _decoded(lines, name: str):
    from tagsmith.data.readers import NotUTF8, decode_line

    for number, raw in lines:
        try:
            text = decode_line(raw, number)
        except NotUTF8 as exc:
            raise DataError(exc.args[0], path=name, line=number) from None
        yield number, text


def _decode_all(raw: bytes, name: str) -> str:
    """``raw`` as UTF-8 text (a file given ``--whole-file``, or stdin), without a BOM,
    stripped, its line ends kept (CR LF too): the text a folder document of the same
    bytes has (:func:`_folder_documents`), and the corpus reader's. Making CR LF LF here
    gave one file two texts, by whether it was named alone or by its folder."""
    return _decode_utf8(raw, name).strip()


def _decode_utf8(raw: bytes, name: str) -> str:
    """``raw`` as UTF-8 text without a BOM, its line ends as they are; bytes that are
    not UTF-8 fail naming ``name`` and the line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        from tagsmith.data.readers import not_utf8_in_text

        number, reason = not_utf8_in_text(raw, exc)  # the byte, and the line as cp1252
        raise DataError(reason, path=name, line=number) from None
    return text.removeprefix("\ufeff")


def _batches(iterable, size: int, first: int | None = None, ready=None):
    """Lists of ``size`` items of ``iterable`` (the last may be shorter); with ``first``,
    the first batch has ``first`` items and each next one twice as many, up to ``size``.
    With ``ready``, a batch also ends after an item when ``ready()`` is false (no more
    input to read yet, :data:`input_ready`): a writer's documents are answered while it
    pauses, not once it has written a whole batch or closed the pipe.

    >>> [len(batch) for batch in _batches(range(300), 256, first=16)]
    [16, 32, 64, 128, 60]
    >>> [len(batch) for batch in _batches(range(5), 4, ready=iter([1, 0, 1, 1, 1]).__next__)]
    [2, 3]
    """
    iterator = iter(iterable)
    step = min(first or size, size)
    while True:
        if ready is None:
            batch = list(islice(iterator, step))
        else:
            batch = []
            for item in iterator:
                batch.append(item)
                if len(batch) >= step or not ready():
                    break
        if not batch:
            return
        yield batch
        step = min(2 * step, size)


#: the help of ``--most-specific`` (suggest and eval)
MOST_SPECIFIC_HELP = ("Drop from each document's label set every label one of whose "
                      "narrower labels (at any depth, through any broader label) is in it "
                      "too: the most specific codes alone. Needs a vocabulary with a "
                      "hierarchy")


class _ExplainTerms(click.IntRange):
    """``suggest --explain``'s optional N: a word that is no number after it (a FILE
    the option took as its N) is refused saying how to write the option."""

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as exc:
            if isinstance(value, str) and not value.lstrip("+-").isdigit():
                self.fail(f"{value!r} is not a number of terms: --explain takes an "
                          "optional N, so a FILE right after it is read as N; write "
                          "--explain=N or put --explain after the FILES", param, ctx)
            raise exc


#: the help of ``tagsmith suggest``
SUGGEST_HELP = """Suggest labels for documents in FILES (one per line; '-' or none: stdin).

On a line, a TAB and whatever follows it are ignored, so a labelled TSV corpus
can be given as it is. A .csv or .jsonl file (optionally .gz) is read as a corpus:
one document per record, its text column or key, named by its id when it has one
(else by its document_id, as Annif's CSV and JSON Lines corpora name them).
A folder is read as the corpus reader reads one: one document per .txt file in it
(sorted by name), named by its stem as the corpus reader names it (NAME for
FOLDER/NAME.txt, so the ids join with an eval or audit of FOLDER); a file given
on its own keeps its path (with --whole-file) or FILE:LINE as its id.
A file, folder or stdin whose every document is a lone <URI> (a vocabulary) is
refused, as is a SKOS vocabulary (.ttl...) or a CSV one (a 'uri' column, no
'text'). A calibrated bundle's scores are probabilities.
"""


#: what :func:`label_list` says of a lone value of ``--only``, ``--exclude`` or ``--under``
#: that is no file (indexed by whether it is a folder), should it be no label either
NOT_A_FILE = ("no such file", "a folder, not a FILE")


def label_list(ctx: click.Context, param: click.Parameter,
               values: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """A click callback for ``suggest``'s ``--only``, ``--exclude`` and ``--under``
    (repeatable): each value a FILE (one label a line; blank lines and lines starting
    with ``#`` skipped; a FILE with none is refused) or labels separated by commas, as
    ``(key, where)`` pairs (``where``: ``FILE:LINE`` for a key read from a file, else
    None; for a lone value that is no file, what it is as a file: a mistyped FILE
    was refused as an unknown label alone), so an unknown label is named with its
    line."""
    keys: list[tuple[str, str | None]] = []
    for value in values:
        if os.path.isfile(value):
            listed = len(keys)
            try:
                with open(value, encoding="utf-8-sig") as lines:
                    for number, line in enumerate(lines, 1):
                        key = line.strip()
                        if key and not key.startswith("#"):
                            keys.append((key, f"{value}:{number}"))
            except (OSError, UnicodeDecodeError) as exc:
                raise click.BadParameter(f"cannot read {printable(value)}: {exc}",
                                         param=param) from None
            if len(keys) == listed:  # dropped, it restricted nothing: every label came
                raise click.BadParameter(  # back, as if the option were not given
                    f"{printable(value)} lists no label (blank lines and # comments "
                    "alone): give a FILE of labels, one a line", param=param)
            continue
        parts = [part.strip() for part in value.split(",")]
        if not all(parts):
            raise click.BadParameter(
                f"{value!r} is no file, nor labels separated by commas (a label is "
                "empty): give a FILE of labels (one a line) or URI,URI,...", param=param)
        if len(parts) == 1:  # a FILE's name mistyped read as one label: said as a file too
            keys.append((parts[0], NOT_A_FILE[os.path.isdir(value)]))
            continue
        keys += [(part, None) for part in parts]
    return keys


def restrict_suggestions(classifier: TextClassifier, only: list[tuple[str, str | None]],
                         exclude: list[tuple[str, str | None]],
                         under: list[tuple[str, str | None]]) -> TextClassifier:
    """``classifier`` restricted to the labels ``suggest``'s ``--only``, ``--exclude``
    and ``--under`` allow (:meth:`TextClassifier.restricted`; ``(key, where)`` pairs of
    :func:`label_list`), a refusal naming the option, the label and where a FILE has it."""
    return _restricting(classifier.label_space, only, exclude, under,
                        lambda **keys: classifier.restricted(**keys))


def allowed_by_options(space: LabelSpace, only: list[tuple[str, str | None]],
                       exclude: list[tuple[str, str | None]],
                       under: list[tuple[str, str | None]]) -> np.ndarray | None:
    """The mask of the labels of ``space`` that ``--only``, ``--exclude`` and ``--under``
    allow (``zeroshot``'s, as ``suggest``'s), or ``None`` where none is given; refused
    as :func:`restrict_suggestions` refuses."""
    from tagsmith.pipeline.restrict import allowed_labels

    return _restricting(space, only, exclude, under,
                        lambda **keys: allowed_labels(space, **keys))


def _restricting(space: LabelSpace, only: list[tuple[str, str | None]],
                 exclude: list[tuple[str, str | None]],
                 under: list[tuple[str, str | None]], restrict: Callable[..., _T]) -> _T:
    """``restrict(only=..., exclude=..., under=...)`` given the keys of the three options,
    its refusal naming the option, the label and where a FILE has it."""
    # each option's keys and where each was given (a label listed in two FILEs: both)
    where: dict[str, dict[str, list[str]]] = {}
    for name, keys in (("only", only), ("exclude", exclude), ("under", under)):
        for key, origin in keys:
            if origin:
                where.setdefault(name, {}).setdefault(key, []).append(origin)
    try:
        return restrict(only=[key for key, _ in only] or None,
                        exclude=[key for key, _ in exclude] or None,
                        under=[key for key, _ in under] or None)
    except InvalidParameterError as exc:
        names = exc.name.split(" and ")
        if not set(names) <= {"only", "exclude", "under"}:
            raise
        got, expected = exc.got, exc.expected
        origins = where.get(names[0], {}).get(got, []) if isinstance(got, str) else []
        lines = [origin for origin in origins if origin not in NOT_A_FILE]
        if lines:
            got = f"{got} ({', '.join(dict.fromkeys(lines))})"
        elif origins and _unknown_label(space, str(got)):
            # a lone value, no label and no file: a FILE's name mistyped, most likely
            # (an ambiguous label's refusal is its own: it names the labels meant)
            expected = f"a FILE of labels (one a line) or {expected}"
            got = f"{got} ({origins[0]}, nor such a label)"
        raise InvalidParameterError(" and ".join(f"--{name}" for name in names),
                                    expected, got) from None


def _unknown_label(space: LabelSpace, key: str) -> bool:
    """Whether ``key`` names no label of ``space`` (an ambiguous name names some)."""
    from tagsmith.exceptions import AmbiguousLabelError

    try:
        return space.lookup(key) is None
    except AmbiguousLabelError:
        return False


#: the help of ``--only``, ``--exclude`` and ``--under`` (each: FILE or LABEL,LABEL,...)
LABEL_LIST_HELP = ("a FILE of labels (one a line, # comments) or labels separated by commas "
                   "(a URI, <URI>, a preferred name, a notation or an alternative label); "
                   "repeatable")


@cli.command(short_help="Suggest labels for documents with BUNDLE.", help=SUGGEST_HELP)
@vocab_selection
@click.argument("bundle", callback=a_path)
@click.argument("files", nargs=-1, callback=a_path)
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Candidates per document.")
@click.option("--threshold", type=float, default=None, callback=finite_number(0, 1),
              help="Keep candidates scoring at least this (in [0, 1]; the score as printed, "
              "to 6 decimals); default: the tuned thresholds.")
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl", "tsv"]), default="json",
              show_default=True, callback=json_lines_as_json,
              help="json: one object per document; tsv: one row per "
              "suggestion, doc, <uri>, label, score (with --sets: per set member, then the "
              "set's size and ok/abstain); jsonl: json's other name (one object a line). "
              "With --sets, a set lists at most its 100 most "
              "probable members: JSON then says truncated: true, TSV ends the set with a row "
              "whose URI column is empty and whose label column says how many more there "
              "are; an empty set is one such row reading (empty set).")
@click.option("--whole-file", is_flag=True, help="Each FILE (or stdin) is one document, not "
              "one per line (refused for a .csv or .jsonl corpus).")
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of label names.")
@click.option("--sets", is_flag=True, help="Conformal label sets with a guarantee, their size "
              "and an abstain flag (a calibrated bundle).")
@click.option("--alpha", type=float, default=None, callback=miss_rate,
              help="With --sets: allowed miss rate (default: the bundle's, usually 0.1).")
@click.option("--set-method", type=click.Choice(["recall", "mondrian", "lpicp"]),
              default="recall", show_default=True,
              help="recall: >= 1-alpha of the true labels, averaged over documents (marginal: "
              "a document's own set may miss more); mondrian: the same within each "
              "frequency band; lpicp: the whole label set, for 1-alpha of documents. A "
              "label never trained (no training document) is in no set of any method, "
              "outside these guarantees (lpicp: the label set less such labels).")
@click.option("--max-set-size", type=click.IntRange(min=1), default=None,
              help="With --sets: larger sets abstain (default: the bundle's).")
@click.option("--min-confidence", type=float, callback=finite_number(0, 1), default=0.0,
              help="With --sets: abstain when the best label's probability (LP-ICP: the best "
              "label set's credibility) is below this.")
@click.option("--vocab", callback=a_path,
              help=f"Name the bundle's labels as this vocabulary ({VOCAB_FORMATS}) does, "
              "matched by URI: a thesaurus updated since training; what differs is warned "
              "of once.")
@click.option("--replace-deprecated", is_flag=True,
              help="With --vocab: suggest the labels VOCAB replaces a deprecated one by "
              "(dct:isReplacedBy) on its score instead of it; one it deprecates with no "
              "replacement, or lacks, is not suggested (default: suggested, as the model "
              "learnt them).")
@click.option("--most-specific", is_flag=True, help=MOST_SPECIFIC_HELP
              + "; not with --sets (a conformal set's guarantee is over all its members).")
@click.option("--explain", type=_ExplainTerms(min=1), is_flag=False, flag_value=5,
              default=None, metavar="[N]",
              help="Per suggested label, the N terms of the document contributing most to "
              "its score (default 5): JSON 'evidence' (term, kind word or char, weight: "
              "its share of the label's margin), TSV an extra column. A linear-model "
              "bundle over TF-IDF features only. Before FILES, write --explain=N or "
              "--explain N (a FILE right after it is read as N).")
@click.option("--only", multiple=True, callback=label_list, metavar="FILE|LABEL,...",
              help="Suggest only these labels (each document gets its --k best of them): "
              + LABEL_LIST_HELP + ".")
@click.option("--exclude", multiple=True, callback=label_list, metavar="FILE|LABEL,...",
              help="Never suggest these labels: " + LABEL_LIST_HELP + ".")
@click.option("--under", multiple=True, callback=label_list, metavar="FILE|LABEL,...",
              help="Suggest only labels in these branches of the hierarchy (each label "
              "and its narrower ones, at any depth): " + LABEL_LIST_HELP + ". With --only "
              "and --exclude: a label in both --only and a branch, not excluded. Not with "
              "--sets or --replace-deprecated.")
def suggest(bundle, files, k, threshold, fmt, whole_file, lang, sets, alpha, set_method,
            max_set_size, min_confidence, vocab, replace_deprecated, most_specific,
            explain, only, exclude, under):
    from tagsmith.pipeline.classifier import TextClassifier

    if (only or exclude or under) and (sets or replace_deprecated):
        # a set cut to some labels loses its guarantee; a replacement may be any label
        raise click.UsageError(
            "--only, --exclude and --under cannot be combined with "
            + ("--sets: a conformal set's guarantee holds for the set as made, over every "
               "label; restrict the ranked suggestions" if sets else
               "--replace-deprecated: a replacement is a label of VOCAB the bundle may "
               "lack, outside the labels allowed"))

    if most_specific and sets:
        # a set's guarantee (1-alpha of the true labels in it) counts its broader
        # members: dropping them would break it
        raise click.UsageError(
            "--most-specific and --sets cannot be combined: a conformal set's guarantee "
            "holds for the set as made, its broader labels included; use --most-specific "
            "with the ranked suggestions")

    refuse_unused("--sets", sets, "alpha", "set_method", "max_set_size", "min_confidence")
    # the TSV rows of --sets list the set members alone: no ranking is cut or thresholded
    refuse_unused("ranked suggestions (with --sets, --format json has them)",
                  not (sets and fmt == "tsv"), "k", "threshold")
    refuse_unused("--vocab", bool(vocab), "replace_deprecated")
    # a conformal set's guarantee is over the model's own labels
    refuse_unused("ranked suggestions alone (not with --sets)", not sets,
                  "replace_deprecated")
    _refuse_explain(explain, sets, fmt, replace_deprecated)
    check_document_files(files, whole_file, vocab_option="--vocab" if vocab else None)
    classifier = TextClassifier.load(bundle)
    if explain is not None:
        try:  # before any document is read
            classifier._explainer()
        except InvalidParameterError as exc:
            raise click.UsageError(f"--explain: {exc.expected}; {printable(bundle)} is "
                                   f"{exc.got}") from None
    renamed = None
    if vocab:  # VOCAB's names for the bundle's labels (same ids and URIs)
        from tagsmith.cli.vocab_names import read_bundle_vocab, warn_vocab_differs

        renamed = read_bundle_vocab(classifier, vocab, bundle, lang)
        warn_vocab_differs(renamed, classifier.label_space, vocab, bundle, lang, "suggest",
                           replace_deprecated)
        classifier.label_space = renamed.shown
        if not replace_deprecated:
            renamed = None
    classifier = restrict_suggestions(classifier, only, exclude, under)
    # with --vocab, VOCAB's hierarchy (the thesaurus coded with now), as eval's; with
    # --replace-deprecated all of VOCAB's labels, as a replacement may be one the bundle
    # lacks (it was dropped without a word, its id past the bundle's labels)
    strict = None
    if most_specific:  # the closure less its diagonal made once, not per batch
        from tagsmith.metrics.hierarchy import strict_ancestors

        strict = strict_ancestors(most_specific_closure(
            classifier.label_space if renamed is None else renamed.merged, bundle, vocab))
    warn_unnamed_language(classifier.label_space, lang)
    if sets:
        conformal = classifier.conformal
        if conformal is None or classifier.calibrator is None:
            # the library's refusal names its own parameter ('classifier'), not the option
            raise not_calibrated("--sets", bundle)
        # once, not per batch: the sets say nothing that every label would not
        set_alpha = conformal.check_options(alpha, max_set_size, min_confidence,
                                            set_method)[0]
        too_small = conformal.alpha_too_small(set_alpha, set_method)
        if too_small:
            warn(f"--alpha: {too_small} ({printable(bundle)})")
        from tagsmith.pipeline.confidence import untrained_out_of_sets

        out_of_sets = untrained_out_of_sets(classifier, method=set_method, lang=lang)
        if out_of_sets:  # once, not per batch
            warn(f"{out_of_sets} ({printable(bundle)})")
        if classifier.label_shift is not None:
            _warn_sets_ignore_shift(classifier.label_shift, bundle)
    n_docs = cut_short = n_empty = 0
    abstained: Counter[str] = Counter()
    with documents_progress("suggest") as progress:
        for batch in _batches(_read_documents(files, whole_file, checked=True), 512,
                              ready=input_ready):
            cut_short += _suggest_batch(classifier, batch, k, threshold, lang, sets, fmt,
                                        alpha, set_method, max_set_size, min_confidence,
                                        renamed, abstained, strict, explain)
            n_docs += len(batch)
            n_empty += sum(not text.strip() for _, text in batch)
            progress.update(len(batch))
    if not n_docs:
        # an empty month's export gave a job an empty result, exit 0, and only the INFO
        # line "suggest: 0 docs" (shift refuses such FILES, exit code 3); stdin may be
        # empty by design in a pipeline, so a warning, not a refusal
        warn_no_documents(files)
    if cut_short:
        _warn_cut_short(classifier, cut_short, n_docs, k)
    if n_empty:  # an empty file of a folder got 'Internal audit 0.45', without a word
        warn(f"{n_empty:,} of {n_docs:,} document{plural_s(n_docs)} "
             f"{plural(n_empty, 'is', 'are')} empty: {plural(n_empty, 'its', 'their')} "
             "suggestions are what the model scores for a text without features (about "
             "its label priors), not labels of a text")
    if sets and n_docs and classifier.conformal is not None:  # --sets refused it else
        conformal = classifier.conformal
        labelled = int(conformal.recall.n_docs.sum()) \
            if conformal.recall is not None else conformal.n_docs
        # recall.n_docs counts the documents with a label the model learnt: one whose
        # only labels it never trained on is counted with those that carried none
        untrained = conformal.recall is not None and conformal.recall.n_excluded > 0
        _say_abstained(abstained, n_docs, min_confidence,
                       conformal.set_size_limit(set_method, max_set_size),
                       unlabelled=(conformal.n_docs - labelled, conformal.n_docs),
                       untrained=untrained)


#: most FILES a warning of suggest names (a glob may be thousands): it counts the rest
MOST_FILES_NAMED = 5


def warn_no_documents(files: tuple[str, ...]) -> None:
    """Warn that ``files`` (stdin where none, or ``-``) held no document, each empty or
    blank, so nothing was suggested: suggest's and zeroshot's, which said nothing but
    the INFO line "zeroshot: 0 docs" (exit 0). A glob of thousands of empty files named
    each on one line: the first :data:`MOST_FILES_NAMED` are named, the rest counted."""
    read = [("stdin" if name == "-" else printable(name)) for name in files] or ["stdin"]
    warn(f"no documents in {and_more(read, MOST_FILES_NAMED)} "
         f"({'each ' if len(read) > 1 else ''}empty or blank): nothing suggested")


#: how suggest --sets' summary names each reason a set abstains for (DocumentSet's)
ABSTAIN_REASONS = {"too_large": "with a set too large (more than {limit:,} labels, "
                                "--max-set-size)",
                   "low_confidence": "with confidence below --min-confidence "
                                     "{min_confidence:g}",
                   "empty": "with an empty set (no label set typical enough)"}


def _warn_sets_ignore_shift(shift, bundle) -> None:
    """suggest --sets on a bundle holding a saved label shift: the sets ignore it. A
    trust-and-safety team saved month 3's shift (a scam wave) and read the sets as
    keeping their 1 - alpha; they held 0.87 of the true labels at alpha 0.1, and nothing
    said that the sets were of the calibration's label frequencies."""
    warn(f"{printable(bundle)} holds a label shift (shift --save, total variation "
         f"{shift.total_variation():.4f}), which --sets does not apply: the sets, and the "
         "probabilities they list, are of the calibration's label frequencies, and their "
         "guarantee (1 - alpha of a document's true labels, on average) is of documents "
         "drawn as the calibration documents were, which the saved shift says these may "
         "not be. Measure the sets on labelled documents of the new period (eval "
         "--calibration) or calibrate on them (calibrate --data)")


def _refuse_explain(explain, sets, fmt, replace_deprecated) -> None:
    """``suggest --explain`` explains the ranked suggestions: refused where none is
    printed (``--sets --format tsv``) and with ``--replace-deprecated`` (a replacement
    label is not one the model scored)."""
    if explain is None:
        return
    if sets and fmt == "tsv":
        raise click.UsageError("--explain explains the ranked suggestions, which "
                               "--sets --format tsv does not print (--format json does)")
    if replace_deprecated:
        raise click.UsageError("--explain and --replace-deprecated cannot be combined: a "
                               "replacement label is not one the model scored")


def _say_abstained(abstained: Counter[str], n_docs: int, min_confidence: float,
                   limit: int, unlabelled: tuple[int, int] = (0, 0),
                   untrained: bool = False) -> None:
    """suggest --sets' last line, on stderr (stdout is the sets; not with -q): how many
    of the ``n_docs`` documents abstain (to send to a human) and why. Nothing counted
    them: a finance walk read 200 sets to learn that all of them abstained."""
    n_abstain = abstained["abstain"]
    line = (f"{n_abstain:,} of {n_docs:,} document{plural_s(n_docs)} "
            f"({n_abstain / n_docs:.1%}) abstain{plural(n_abstain, 's', '')} "
            "(send to a human)")
    if n_abstain:
        reasons = [f"{abstained[key]:,} "
                   f"{words.format(min_confidence=min_confidence, limit=limit)}"
                   for key, words in ABSTAIN_REASONS.items() if abstained[key]]
        line += ": " + ", ".join(reasons)
        if sum(abstained[key] for key in ABSTAIN_REASONS) > n_abstain:
            line += " (a document may have more than one reason)"
        # the sets, not the documents: say so. From exactly half, where "most sets"
        # said more than the count did
        if abstained["too_large"] * 2 >= n_docs:
            line += ("; half the sets or more are too large: try a larger --alpha, another "
                     "--set-method, or a larger --max-set-size")
    empty = abstained["empty_kept"]
    if empty:
        # a recall or mondrian set of no label does not abstain: a support team routing
        # by the sets read "1 of 20 abstain" and lost the ticket whose set was empty
        # "0 of 20 documents abstain; 1 more has ..." read as if one had abstained
        line += (f"; {empty:,}{' more' if n_abstain else ''} "
                 f"{plural(empty, 'has', 'have')} an empty set (no label "
                 "reaches the set's threshold) and do" + plural(empty, "es", "")
                 + " not abstain: a set of size 0 names no label, so send "
                 + plural(empty, "it", "them") + " to a human too (a smaller --alpha "
                 "makes sets reach further down)")
        n_none, n_conformal = unlabelled
        if n_none > 0:
            # a moderation team, half of whose posts are benign (no label), was told to
            # send half its traffic to a person: an empty set is also the answer for a
            # document that rightly has no label, of which the recall promise says nothing
            # (a document whose labels were all never trained is counted with them)
            carried = "none, or only labels never trained" if untrained else "none"
            line += (f", unless a document can rightly carry no label ({n_none:,} of the "
                     f"sets' {n_conformal:,} calibration documents carried {carried}): "
                     "an empty set is then also that answer, which the sets do not tell "
                     "from a miss")
    if not (click.get_current_context().find_root().obj or {}).get("quiet"):
        click.echo(line, err=True)


def _warn_cut_short(classifier, cut_short: int, n_docs: int, k: int) -> None:
    """Warn that ``--k`` left out labels passing a recall's thresholds below the ``k``
    listed for ``cut_short`` of the ``n_docs`` documents: a --min-recall 0.9 bundle
    passes about 20 of GoEmotions' 28 labels per document, and the default --k 10 left
    the others out, silently (micro recall 0.912 where eval's, at the same thresholds,
    was 0.980)."""
    warn(f"{cut_short:,} of {n_docs:,} document{plural_s(n_docs)} "
         f"{plural(cut_short, 'has', 'have')} labels passing the bundle's thresholds (for "
         f"recall {classifier.thresholds.min_recall:g}) below the --k {k} listed, left "
         f"out: a larger --k (up to {_probed_width(classifier):,}, the candidates the "
         "thresholds were tuned on) lists them")


def _counts_cut_short(classifier, k, threshold) -> bool:
    """Whether suggest counts the documents with labels passing the thresholds below
    the ``k`` listed (:func:`_count_cut_short`): not with a ``threshold``, which keeps
    the best ``k`` alone by design, thresholds of another objective than a recall, or a
    ``k`` of every candidate they were tuned on."""
    return (threshold is None and classifier.thresholds.min_recall is not None
            and k < _probed_width(classifier))


def _count_cut_short(classifier, wide, results, replacing=None) -> int:
    """How many documents have labels passing a recall's thresholds below the ``k``
    listed (``results``: their rankings), among the candidates the thresholds were
    tuned on (``wide``: their top :func:`_probed_width`). With ``replacing``
    (``--replace-deprecated``), a document counts where the labels passing there, each
    retired one replaced, name one not listed: what a larger ``k`` would add."""
    # a recall's thresholds pass many labels: those among the candidates they were
    # tuned on passing below the k listed are counted, to be said
    chosen = classifier.label_sets(wide)
    if replacing is None:
        passing = chosen.getnnz(axis=1)
        return sum(int(n) > len(listed) for n, listed in zip(passing, results, strict=True))
    cut = 0
    for row, listed in enumerate(results):
        named: set[int] = set()
        for label_id in chosen.indices[chosen.indptr[row]:chosen.indptr[row + 1]].tolist():
            named.update(replacing.replacements.get(label_id, ())
                         if label_id in replacing.retired else (label_id,))
        cut += bool(named - {s.label_id for s in listed})
    return cut


def _suggest_batch(classifier, batch, k, threshold, lang, sets, fmt, alpha, set_method,
                   max_set_size, min_confidence, replacing=None,
                   abstained: Counter[str] | None = None, strict=None,
                   explain: int | None = None) -> int:
    """Write the answers for one batch of ``(doc_id, text)`` pairs (see :func:`suggest`);
    ``replacing``: ``--replace-deprecated``'s
    :class:`~tagsmith.cli.vocab_names.BundleVocab`; ``abstained`` (with ``sets``) counts
    the abstaining sets (``"abstain"``) and each of their reasons; ``strict``
    (``--most-specific``, not with ``sets``): the strict ancestors (the ancestor closure
    of :func:`most_specific_closure` less its diagonal,
    :func:`~tagsmith.metrics.hierarchy.strict_ancestors`, made once) by which each
    document's suggestions lose the labels one of whose descendants is suggested too.
    Returns how many of the documents
    have labels passing the tuned thresholds below the ``k`` listed, among the
    candidates they were tuned on (:func:`_probed_width`), for thresholds tuned for a
    recall (``--min-recall``; 0 otherwise, with a ``threshold``, which keeps the best
    ``k`` alone by design, and with the text rows of ``--sets``, which list no
    ranking)."""
    texts = [text for _, text in batch]
    none = [None] * len(batch)
    shown_threshold = threshold
    if threshold is not None:
        # the library compares the unrounded scores: every score printed at least the
        # threshold is at least this, and the rest are cut below on the printed score
        threshold = max(0.0, threshold - 10.0 ** -SCORE_DECIMALS)
    set_options = {"alpha": alpha, "method": set_method, "lang": lang,
                   "max_set_size": max_set_size, "min_confidence": min_confidence,
                   "max_members": SET_MEMBERS_LISTED}
    cut_short = 0
    # with --explain, the features scoring made, explained without featurizing again
    kept: list | None = None if explain is None else []
    if replacing is not None:  # not with --sets
        # its rankings are cut by --k as well: counted as any other (they were never)
        width = (_probed_width(classifier) if _counts_cut_short(classifier, k, threshold)
                 else None)
        results, wide = _replacing_deprecated(classifier, texts, k, threshold,
                                              shown_threshold, lang, replacing, width)
        label_sets = none
        if wide is not None:
            cut_short = _count_cut_short(classifier, wide, results, replacing)
    elif not sets and _counts_cut_short(classifier, k, threshold):
        # the ranking and the count from one featurizing and scoring of the batch (a
        # second, at the wider width, took as long again)
        topk, wide = classifier._predict_topks_kept(
            texts, ((k, True, True), (_probed_width(classifier), True, True)), kept)
        results, label_sets = classifier._suggestions(topk, threshold, lang), none
        cut_short = _count_cut_short(classifier, wide, results)
    elif not sets and kept is not None:
        topk = classifier._predict_topks_kept(texts, ((k, True, True),), kept)[0]
        results, label_sets = classifier._suggestions(topk, threshold, lang), none
    elif not sets:
        results, label_sets = classifier.suggest(texts, k=k, threshold=threshold,
                                                 lang=lang), none
    elif fmt == "json":  # the ranking and the sets from one scoring of the batch
        # its ranking is cut by --k as suggest's alone: the candidates the thresholds
        # were tuned on from that scoring too (a second one took as long again)
        counts = _counts_cut_short(classifier, k, threshold)
        results, label_sets, wide = classifier._suggest_with_sets(
            texts, *([(_probed_width(classifier), True, True)] if counts else []), k=k,
            threshold=threshold, kept=kept, **set_options)
        if counts:
            cut_short = _count_cut_short(classifier, wide[0], results)
    else:  # the text rows of --sets list the sets alone: no ranking to score for them
        # nor LP-ICP's count of each set's label sets, which they do not show (seconds on
        # a weak model's documents, every one capped at a million)
        results, label_sets = none, classifier._suggest_sets(texts, count=False,
                                                             **set_options)
    if shown_threshold is not None and results is not none and replacing is None:
        results = [[s for s in suggestions if shown_score(s.score) >= shown_threshold]
                   for suggestions in results]
    if strict is not None and results is not none:  # after every other cut: of the
        # suggestions shown, those a narrower one shown makes redundant
        results = _most_specific_suggestions(results, strict)
    if explain is not None and results is not none:  # of the suggestions shown
        from tagsmith.pipeline.classifier import _stacked

        results = classifier.explain(texts, results, explain,
                                     features=_stacked(kept) if kept else None)
    for (doc_id, _), suggestions, doc_set in zip(batch, results, label_sets, strict=True):
        if doc_set is not None and doc_set.abstain and abstained is not None:
            abstained.update(("abstain", *doc_set.abstain_reasons))
        elif doc_set is not None and doc_set.size == 0 and abstained is not None:
            abstained["empty_kept"] += 1  # names no label, yet goes to no person
        if fmt == "json":
            line = {"doc": doc_id, "suggestions": [s.to_dict() for s in suggestions]}
            if doc_set is not None:
                line["set"] = doc_set.to_dict(SET_MEMBERS_LISTED)
            print_json(line)
        elif doc_set is not None:
            doc = tsv_field(doc_id)
            flag = "abstain" if doc_set.abstain else "ok"
            listed = doc_set.labels[:SET_MEMBERS_LISTED]
            for s in listed:
                click.echo(f"{doc}\t<{tsv_field(s.uri)}>\t{tsv_field(s.label)}\t"
                           f"{score_text(s.score)}\t{doc_set.size}\t{flag}")
            if not listed:  # an empty set (alpha near 1, or an LP-ICP abstention)
                # has no member to carry its size and flag: without a row of its
                # own the document vanished from the output, abstention and all
                click.echo(f"{doc}\t\t{EMPTY_SET_MARKER}\t\t0\t{flag}")
            if doc_set.size > len(listed):  # the marker row of a truncated set
                click.echo(f"{doc}\t\t... {doc_set.size - len(listed)} more not "
                           f"listed\t\t{doc_set.size}\t{flag}")
        else:
            for s in suggestions:
                evidence = "" if s.evidence is None else \
                    "\t" + tsv_field("; ".join(e.shown() for e in s.evidence))
                click.echo(f"{tsv_field(doc_id)}\t<{tsv_field(s.uri)}>\t"
                           f"{tsv_field(s.label)}\t{score_text(s.score)}{evidence}")
    return cut_short


def most_specific_closure(space: LabelSpace, bundle: str | None,
                          vocab: str | None = None) -> sp.csr_matrix:
    """``--most-specific``'s ancestor closure of ``space`` (the bundle's label space, or
    with ``--vocab`` VOCAB's view of it, whose hierarchy the hierarchical metrics use;
    zeroshot's VOCAB, ``bundle`` None),
    made once (:func:`tagsmith.metrics.hierarchy.most_specific_closure`); a label space
    without hierarchy is refused naming the option and the bundle (or VOCAB), before any
    document is read."""
    from tagsmith.metrics.hierarchy import most_specific_closure as closure_of

    try:
        return closure_of(space, len(space))
    except InvalidParameterError as exc:
        if exc.name != "hierarchy":
            raise
        whose = (f"the bundle {bundle}" if vocab is None
                 else f"VOCAB {vocab}" if bundle is None else f"--vocab {vocab}")
        raise InvalidParameterError(
            "--most-specific", "used with a vocabulary that has a hierarchy (some label "
            "with a broader one)", f"{whose}, whose {len(space):,} labels have no broader "
            "label (has_hierarchy no)") from None


def _most_specific_suggestions(results, strict):
    """Each document's ``results`` (its suggestions) less those one of whose descendants
    is among them, in their order (label ids of ``strict``'s label space: with
    ``--replace-deprecated``, VOCAB's, whose new labels follow the bundle's):
    :func:`most_specific_ids` of their label ids."""
    kept = most_specific_ids([[s.label_id for s in r] for r in results], strict)
    return [[s for s in suggestions if s.label_id in keep]
            for suggestions, keep in zip(results, kept, strict=True)]


def most_specific_ids(label_ids: Sequence[Sequence[int]],
                      strict: sp.csr_matrix) -> list[set[int]]:
    """Of each document's ``label_ids`` (a list of label ids a document, as listed: by
    suggest, by zeroshot), those no other of its ids has as a strict ancestor:
    :func:`~tagsmith.metrics.hierarchy.without_ancestors` of the batch's label matrix
    and ``strict`` (:func:`~tagsmith.metrics.hierarchy.strict_ancestors`, made once),
    one sparse product, no loop over label pairs."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.metrics.hierarchy import without_ancestors

    indptr = np.cumsum([0, *(len(r) for r in label_ids)])
    ids = np.fromiter((i for r in label_ids for i in r), np.int64, count=indptr[-1])
    chosen = sp.csr_matrix((np.ones(len(ids), bool), ids, indptr),
                           shape=(len(label_ids), strict.shape[0]))
    chosen.sum_duplicates()
    kept = without_ancestors(chosen, strict)
    return [set(kept.indices[kept.indptr[row]:kept.indptr[row + 1]].tolist())
            for row in range(len(label_ids))]


def _probed_width(classifier) -> int:
    """The candidates per document whose labels passing the tuned thresholds suggest
    counts, to warn where ``--k`` lists fewer: those the thresholds were tuned on
    (eval's, and a calibration's width)."""
    from tagsmith.pipeline.evaluate import tuning_k

    width = tuning_k(classifier.n_labels)
    if classifier.calibrator is not None:
        width = max(width, int(classifier.calibrator.k))
    return min(width, classifier.n_labels)


def _replacing_deprecated(classifier, texts, k, threshold, shown_threshold, lang, replacing,
                          width=None):
    """Each of ``texts``' suggestions, ``replacing`` (``--replace-deprecated``) the
    retired labels: from the shortest head of its ranking that names ``k`` labels once
    replaced (the top ``k``, as without the option, where none is retired), those passing
    the thresholds (``threshold``, else the tuned ones), replaced. The ranking is asked
    for twice as deep, and again only where its head was cut short: asking every document
    for ``k`` besides every retired label took 601 s, not 15 s, for 10,000 documents of a
    YSO bundle with 3,300 retired labels and ``--threshold 0``, and a label below the top
    ``k`` that passed its threshold was suggested where no label was retired.
    Returns them and, given ``width``, every text's top ``width`` from the first
    scoring (for :func:`_count_cut_short`; else None)."""
    from tagsmith.pipeline.classifier import Suggestion

    space = classifier.label_space
    results: list = [None] * len(texts)
    todo, depth = list(range(len(texts))), k
    wide = None
    while todo:
        depth = min(classifier.n_labels, 2 * depth)
        if wide is None and width is not None:  # the first round: every text
            topk, wide = classifier.predict_topks(texts, (depth, True, True),
                                                  (width, True, True))
        else:
            topk = classifier.predict_topk([texts[i] for i in todo], depth)
        chosen = classifier.label_sets(topk, threshold)
        again = []
        for row, (i, (ids, scores)) in enumerate(zip(todo, topk.rows(), strict=True)):
            keep = set(chosen.indices[chosen.indptr[row]:chosen.indptr[row + 1]].tolist())
            named: set[int] = set()  # the labels the head names, replaced
            head = []
            for label_id, score in zip(ids.tolist(), scores.tolist(), strict=True):
                if len(named) >= k:
                    break
                named.update(replacing.replacements.get(label_id, ())
                             if label_id in replacing.retired else (label_id,))
                if label_id in keep and (shown_threshold is None
                                         or shown_score(score) >= shown_threshold):
                    head.append(Suggestion(label_id, space.uri_of(label_id),
                                           space.name_of(label_id, lang), score))
            if len(named) < k and depth < classifier.n_labels and len(ids) >= depth:
                again.append(i)  # cut short at this depth
            results[i] = replacing.replaced(head, k, lang)
        todo = again
    return results, wide


#: the help of ``tagsmith eval``
EVAL_HELP = """Evaluate BUNDLE on the labelled CORPUS."""


@cli.command(name="eval", short_help="Evaluate BUNDLE on the labelled CORPUS.", help=EVAL_HELP)
@vocab_selection
@click.argument("bundle", callback=a_path)
@click.argument("corpus", callback=a_path)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
@click.option("--threshold", type=float, default=None, callback=finite_number(0, 1),
              help="One global threshold in [0, 1] for the set metrics; default: the tuned "
              "thresholds.")
@click.option("--on-error", type=ERROR_POLICY, default="fail", show_default=True,
              help=ON_ERROR_HELP)
@click.option("--unknown-labels", type=ERROR_POLICY, default="fail", show_default=True,
              help=UNKNOWN_LABELS_HELP)
@click.option("--calibration", is_flag=True, help="Also report reliability (ECE, Brier, per "
              "band; raw vs calibrated) and conformal sets (a calibrated bundle).")
@click.option("--alpha", "alphas", type=float, multiple=True, callback=miss_rate,
              help="With --calibration: miss rates for the sets (default 0.05, 0.1, 0.2).")
@click.option("--reliability-k", type=click.IntRange(min=1), default=None,
              help="With --calibration: reliability over each document's top K (default, "
              "and at most: the calibration width).")
@click.option("--reliability-png", callback=a_path,
              help="With --calibration: write a reliability diagram to "
              "this .png file (never an input).")
@click.option("--vocab", callback=a_path,
              help=f"The corpus's labels are this vocabulary's ({VOCAB_FORMATS}; a "
              "thesaurus updated since training), matched to the bundle's by URI: its names "
              "read, the bundle's too; its labels the model does not know are left out "
              "(counted in a warning), as is what differs.")
@click.option("--per-label", is_flag=True, help="Also each label's support, precision and "
              "recall at the thresholds, with 95% Wilson intervals (labels true or "
              "predicted in CORPUS).")
@click.option("--results-file", callback=a_path,
              help="Also write per-label results to this TSV file (never an input): a "
              "row per label in the truth or the label sets, its <uri>, label, support, "
              "true/false positives, false negatives, precision, recall and F1.")
@click.option("--baseline", callback=a_path,
              help="Also compare with this bundle (last month's) on the same documents and "
              "gold labels: P@1 and micro-F1 of both, their difference with a 95% paired "
              "bootstrap interval, and each label's F1 (not with --calibration or "
              "--unknown-labels skip).")
@click.option("--labels-before", callback=a_path, metavar="CORPUS",
              help="The same documents as CORPUS, in the same order, with the labels they "
              "had before a review (the file apply-review corrected into CORPUS): P@1 and "
              "micro-F1 under both, the documents relabelled, and each figure's move with "
              "a 95% paired bootstrap interval (not with --baseline, --calibration, "
              "--vocab or --most-specific).")
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of label names (--per-label, --results-file, --baseline's "
              "labels, --vocab's warnings).")
@click.option("--most-specific", is_flag=True, help=MOST_SPECIFIC_HELP + "; as suggest "
              "--most-specific, before the set metrics are measured (the ranking and "
              "hierarchical metrics are unchanged by it); not with --calibration or "
              "--baseline.")
@click.option("--k", "ks", multiple=True, metavar="K[,K...]", callback=ranking_ks,
              help="The k of the ranking metrics (p@K, r@K, ndcg@K, f1@K, psp@K): whole "
              "numbers >= 1, comma-separated or the option repeated (--k 1,3,5,10 adds "
              "ndcg@10, Annif's NDCG@10); default 1,3,5.")
def evaluate(bundle, corpus, as_json, threshold, on_error, unknown_labels, calibration, alphas,
             reliability_k, reliability_png, vocab, per_label, results_file, baseline,
             labels_before, lang, most_specific, ks):
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.evaluate import DEFAULT_KS, evaluate_classifier
    from tagsmith.pipeline.io import StreamedLabelledData, read_labelled

    ks = ks or DEFAULT_KS
    refuse_unused("--calibration", calibration, "alphas", "reliability_k", "reliability_png")
    if baseline and calibration:
        raise click.UsageError("--baseline and --calibration cannot be combined: compare "
                               "the reliability of each bundle with eval --calibration")
    if baseline and unknown_labels == "skip":  # the skipped gold labels: both bundles'
        # misses, the baseline's right predictions of those it knows counted wrong
        raise click.UsageError(
            "--baseline and --unknown-labels skip cannot be combined: the gold labels the "
            "bundle does not know would be left out for both bundles, and the baseline's "
            "right predictions of them counted as wrong; give the vocabulary the corpus is "
            "labelled with, --vocab VOCAB, which keeps them")
    from tagsmith.cli.confidence import check_png_output

    check_png_output(reliability_png, "--reliability-png",
                     {"the corpus": corpus, "the bundle": bundle})
    check_png_output(results_file, "--results-file",
                     {"the corpus": corpus, "the bundle": bundle, "--vocab": vocab,
                      "--reliability-png": reliability_png}, suffix=None)
    if labels_before:
        for other, given in (("--baseline", baseline), ("--calibration", calibration),
                             ("--vocab", vocab), ("--most-specific", most_specific)):
            if given:
                raise click.UsageError(
                    f"--labels-before and {other} cannot be combined: measure how the "
                    f"figures move between the two label versions with --labels-before "
                    f"alone, then {other} on the corrected corpus")
        if os.path.realpath(labels_before) == os.path.realpath(corpus):
            raise click.UsageError(f"--labels-before {labels_before} is CORPUS itself: give "
                                   "the file the review corrected, the labels before it")
    for other, given in (("--calibration", calibration), ("--baseline", baseline)):
        if most_specific and given:
            raise click.UsageError(f"--most-specific and {other} cannot be combined: "
                                   "measure the most specific labels with eval "
                                   "--most-specific alone")
    classifier = TextClassifier.load(bundle)
    base = TextClassifier.load(baseline) if baseline else None  # refused before the corpus
    if calibration and classifier.calibrator is None:
        # as suggest --sets: the library's refusal named 'bundle' and came once the
        # whole corpus had been read
        raise not_calibrated("--calibration", bundle)
    classifier.show_progress = True  # -q turns every bar off
    # a corpus without labels measures nothing: every metric would read 0 (and the
    # set recall of --calibration is undefined)
    named = bundle_vocabulary(bundle)
    space, view = classifier.label_space, None
    if vocab:
        from tagsmith.cli.vocab_names import gold_space, read_bundle_vocab, warn_vocab_differs

        view = read_bundle_vocab(classifier, vocab, bundle, lang)
        warn_vocab_differs(view, space, vocab, bundle, lang, "eval")
        space = gold_space(view, space)
        named = f"{vocab} nor {named}"
    # a flat label space refused before the corpus is read; the closure made here is
    # the one the trimming uses (VOCAB's view is the classifier's label space by then)
    closure = (most_specific_closure(classifier.label_space if view is None else view.shown,
                                     bundle, vocab) if most_specific else None)
    # the texts are hashed as they are read (for the training-overlap check) and read
    # again a chunk at a time to be scored: holding them all took 15 MB per 100,000
    try:
        data = read_labelled(corpus, space, on_error=on_error,
                             unknown_labels=unknown_labels, vocabulary=named,
                             vocab_option=None, keep_texts=False)
    except UnknownLabelError as exc:
        if vocab or exc.hint or isinstance(exc, AmbiguousLabelError):
            raise
        # a test set labelled with this month's vocabulary, evaluated with last month's
        # bundle: the way out was in the README alone
        raise exc.advised(  # --baseline refuses --unknown-labels skip
            "a label added since the bundle was trained? give the updated vocabulary "
            "with --vocab VOCAB to leave out the labels the model does not know"
            + ("" if baseline else ", or --unknown-labels skip")) from None
    if as_json:  # of the documents and gold labels as read, before any is left out:
        # the same corpus gives the same fingerprint whichever bundle is evaluated
        from tagsmith.pipeline.compare import corpus_fingerprint

        corpus_print = corpus_fingerprint(_text_hashes(data), data.Y, space)
    gold = (data.Y, space)  # --baseline measures both bundles against every gold label
    if view is not None:  # VOCAB's labels the model does not know: left out, counted
        from tagsmith.cli.vocab_names import known_to_model, warn_name_clashes

        warn_name_clashes(space, corpus, vocab, bundle, lang)
        data.Y = known_to_model(data.Y, view, corpus, vocab)
        # --per-label names the labels as VOCAB does (same ids and URIs), as suggest
        # --vocab shows them: a row of 'athletics' read 'sport', the name it replaced
        classifier.label_space = view.shown
    if per_label or results_file or baseline or vocab:  # where labels are named: as
        # suggest, under the default en too (a bundle named in Finnish alone)
        warn_unnamed_language(classifier.label_space, lang)
    data.require_labels(corpus, named).require_text(
        corpus, "evaluate on")  # every figure measured nothing
    # a named pipe cannot be read twice: its texts are held
    texts = data.streamed if isinstance(data, StreamedLabelledData) else data.texts
    report = None
    rows_wanted = per_label or bool(results_file)  # --results-file writes the same rows
    if calibration:  # metrics and report from one scoring of the corpus
        from tagsmith.pipeline.confidence import evaluate_with_confidence

        alphas = alphas or (0.05, 0.1, 0.2)
        if classifier.conformal is not None:  # as calibrate, train and suggest --sets:
            # a set at an alpha the conformal documents cannot meet is every label
            warn_alpha_too_small(classifier.conformal, alphas, "--alpha")
        metrics, report = evaluate_with_confidence(
            classifier, texts, data.Y, threshold=threshold,
            alphas=alphas, reliability_k=reliability_k,
            png=reliability_png, source=corpus, per_label=rows_wanted, lang=lang, ks=ks)
    elif labels_before:  # the bundle's top-k kept, measured against both label versions
        from tagsmith.pipeline.evaluate import evaluate_topk, evaluation_k, overlap_checked

        before, before_read = _read_labels_before(labels_before, data, space, on_error,
                                                  unknown_labels, named, corpus)
        ks, k = evaluation_k(classifier, ks, threshold)
        checked = overlap_checked(classifier, texts, corpus)
        topk = classifier.predict_topk(checked, k)
        sets = classifier.label_sets(topk, threshold)
        metrics = evaluate_topk(classifier, data.Y, topk, ks=ks, threshold=threshold,
                                per_label=rows_wanted, y_pred=sets, lang=lang)
        from tagsmith.pipeline.compare import compare_gold

        # which files were compared, beyond their paths: a saved report could not tell
        # the before file it was measured against once it was edited or replaced
        # and what its read left out, as provenance gives CORPUS's: a before file whose
        # --on-error skip or --unknown-labels skip dropped lines or labels said so in
        # the log alone
        moved = {"corpus": labels_before, "sha256": _file_sha256(labels_before),
                 "corpus_sha256": _file_sha256(corpus),
                 "n_unknown_labels_skipped": getattr(before_read, "n_unknown_labels", 0),
                 "n_lines_skipped": getattr(before_read, "n_skipped_lines", 0),
                 **compare_gold(before, data.Y, topk.indices[:, 0], sets)}
    elif base is not None:  # the bundle's top-k kept, for the comparison
        from tagsmith.pipeline.classifier import predict_topk_pair
        from tagsmith.pipeline.evaluate import (
            evaluate_topk,
            evaluation_k,
            overlap_checked,
            tuning_k,
            warn_training_overlap,
        )

        ks, k = evaluation_k(classifier, ks, threshold)
        checked = overlap_checked(classifier, texts, corpus)
        # a baseline trained on test documents is measured optimistically, as the bundle is
        warn_training_overlap(base, checked, f"{corpus}, for the baseline {baseline}")
        # the texts featurized once where both bundles' featurizer files are the same
        topk, base_topk = predict_topk_pair(classifier, base, checked, k,
                                            tuning_k(base.n_labels))
        # the bundle's label sets, built once for its metrics and the comparison (each
        # built its own of the whole corpus)
        sets = classifier.label_sets(topk, threshold)
        metrics = evaluate_topk(classifier, data.Y, topk, ks=ks, threshold=threshold,
                                per_label=rows_wanted, y_pred=sets, lang=lang)
        comparison = _compare(classifier, topk, sets, base, base_topk, baseline, gold,
                              threshold, lang)
    else:  # documents the bundle was trained on are warned of, naming the corpus
        metrics = evaluate_classifier(classifier, texts, data.Y, ks=ks, threshold=threshold,
                                      source=corpus, per_label=rows_wanted,
                                      most_specific=most_specific, closure=closure,
                                      lang=lang)
    rows = metrics.pop("per_label", None)  # named in --lang by the library
    if results_file:
        _write_label_results(results_file, rows or [])
    if per_label:
        metrics["per_label"] = rows
    if as_json:
        from tagsmith.pipeline.compare import provenance

        # which bundle measured which documents, so that saved reports can be matched
        read = data.report  # what --unknown-labels skip and --on-error skip left out
        metrics["provenance"] = provenance(
            classifier, bundle, corpus, corpus_print, vocab=vocab, threshold=threshold,
            n_unknown_labels=getattr(read, "n_unknown_labels", 0),
            n_skipped_lines=getattr(read, "n_skipped_lines", 0))
        if base is not None:
            metrics["baseline"] = comparison
        if labels_before:
            metrics["labels_before"] = moved
        print_json(metrics if report is None else {**metrics, "calibration": report})
        return
    metrics.pop("per_label", None)
    print_metrics(metrics)
    if per_label:
        _print_per_label(rows or [], classifier.thresholds.min_labels)
    if report is not None:
        _print_confidence(report, classifier.n_labels)
    if base is not None:
        _print_comparison(comparison)
    if labels_before:
        _print_labels_moved(moved)


def _read_labels_before(path: str, data, space, on_error: str, unknown_labels: str,
                        named: str, corpus: str):
    """``eval --labels-before``'s labels (documents x ``space``'s labels): the file read as
    CORPUS was, refused unless it holds CORPUS's documents, text for text in order (the
    file ``apply-review`` corrected into CORPUS), naming the first that differs; and the
    read's report (what ``--on-error skip`` and ``--unknown-labels skip`` left out)."""
    import numpy as np

    from tagsmith.pipeline.io import read_labelled

    before = read_labelled(path, space, on_error=on_error, unknown_labels=unknown_labels,
                           vocabulary=named, vocab_option=None, keep_texts=False)
    ours, theirs = _text_hashes(data), _text_hashes(before)
    # --on-error skip: a line skipped in one file and not the other read "holds 599
    # documents and CORPUS 600" with no word of the skipped line
    skipped = "".join(_skipped_note(name, getattr(read, "report", None))
                      for name, read in ((path, before), (corpus, data)))
    if len(ours) != len(theirs):
        raise click.UsageError(
            f"--labels-before {path} holds {len(theirs):,} document{plural_s(len(theirs))} "
            f"and {corpus} {len(ours):,}{skipped}: give the same documents in the same "
            "order, the corpus apply-review corrected")
    differs = np.flatnonzero(np.asarray(ours) != np.asarray(theirs))
    if len(differs):
        raise click.UsageError(
            f"--labels-before {path}: {len(differs):,} of its documents' texts differ from "
            f"{corpus}'s at the same place (the first: its document {differs[0] + 1:,}, "
            f"counted from 1){skipped}: give the same "
            "documents in the same order, the corpus apply-review corrected")
    return before.Y, getattr(before, "report", None)


def _file_sha256(path: str) -> str | None:
    """The SHA-256 of the file at ``path`` as it is on disk, or None for stdin ("-") and
    for a folder."""
    from pathlib import Path

    from tagsmith.store.bundle import _sha256

    return _sha256(Path(path)) if path != "-" and os.path.isfile(path) else None


def _skipped_note(name: str, report) -> str:
    """``; --on-error skip left out N lines of NAME (the first: line L, REASON)``, or ""
    where the read skipped no line."""
    n = getattr(report, "n_skipped_lines", 0)
    if not n:
        return ""
    first = getattr(report, "first_malformed", None) or getattr(report, "first_missing",
                                                                   None)
    where = ""
    if first is not None:
        line, reason = first
        where = f" (the first: {'line ' + format(line, ',') + ', ' if line else ''}{reason})"
    return (f"; --on-error skip left out {n:,} line{plural_s(n)} of "
            f"{printable(name)}{where}")


def _print_labels_moved(result: dict) -> None:
    """eval --labels-before's text: each figure under the labels before and now."""
    pct = round(result["confidence"] * 100)
    n_docs, relabelled = result["n_docs"], result["n_docs_relabelled"]
    click.echo(f"\nagainst the labels of {printable(result['corpus'])} (before): "
               f"{relabelled:,} of the {n_docs:,} document{plural_s(n_docs)} relabelled "
               f"(paired bootstrap over documents, {result['resamples']:,} resamples, "
               f"{pct}% intervals):")
    for key, m in result["metrics"].items():
        line = _moved_line(key, m, m["before"], m["after"])
        if "n_docs_right_now" in m:
            line += (f" (the best label right now where it was wrong on "
                     f"{m['n_docs_right_now']:,} document{plural_s(m['n_docs_right_now'])}, "
                     f"wrong now where it was right on {m['n_docs_wrong_now']:,})")
        click.echo(line)


def print_metrics(metrics: dict) -> None:
    """eval's text: a metric a line, its name then its value (4 decimals)."""
    width = max(len(key) for key in metrics)
    for key, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        click.echo(f"{printable(key):<{width}}  {printable(shown)}")


def _compare(classifier, topk, sets, base, base_topk, baseline: str, gold,
             threshold, lang: str = "en") -> dict:
    """``eval --baseline``'s comparison: the baseline's top-k of the same texts and the
    bundle's (``sets``: its label sets), measured against ``gold``, the corpus's labels
    as read (with ``--vocab``, those the bundle does not know too: see
    compare_predictions)."""
    from tagsmith.pipeline.compare import compare_predictions

    result = compare_predictions(
        gold[0], gold[1], classifier.label_space, topk.indices[:, 0], sets,
        base.label_space, base_topk.indices[:, 0], base.label_sets(base_topk, threshold),
        lang=lang)
    manifest = base._loaded_manifest or base.manifest
    from tagsmith.pipeline.compare import bundle_fingerprint

    return {"bundle": baseline, "bundle_created": manifest.get("created"),
            "bundle_fingerprint": bundle_fingerprint(manifest), **result}


#: labels eval --baseline's table lists of those whose F1 moved beyond noise, each way
COMPARED_LABELS_SHOWN = 20


def _moved_line(key: str, m: dict, was: float, now: float) -> str:
    """A compared figure's line of eval --baseline and --labels-before: its name, the
    figure before and now, the difference, its interval and the verdict."""
    low, high = m["interval"]
    return (f"  {key:<9} {was:.4f} -> {now:.4f}  "
            f"{m['difference']:+.4f} [{low:+.4f}, {high:+.4f}]  {m['verdict']}")


def _print_comparison(result: dict) -> None:
    """eval --baseline's text: the two metrics, then the labels whose F1 moved beyond
    noise (worst first), new and dropped labels, and the count of the others."""
    pct = round(result["confidence"] * 100)
    n_docs = result["n_docs"]
    click.echo(f"\nagainst baseline {printable(result['bundle'])} on the same "
               f"{n_docs:,} document{plural_s(n_docs)} (paired bootstrap over documents, "
               f"{result['resamples']:,} resamples, {pct}% intervals):")
    for key, m in result["metrics"].items():
        line = _moved_line(key, m, m["baseline"], m["bundle"])
        if "n_docs_better" in m:
            better = m["n_docs_better"]
            line += (f" (right where the baseline was wrong on {better:,} "
                     f"document{plural_s(better)}, wrong where it was right on "
                     f"{m['n_docs_worse']:,})")
        elif 0 < m.get("n_docs_differing", 0) < m.get("min_docs_differing", 0):
            differing = m["n_docs_differing"]
            line += (f" (the label sets differ on {differing:,} "
                     f"document{plural_s(differing)}, fewer than "
                     f"{m['min_docs_differing']:,})")
        click.echo(line)
    rows = result["per_label"]
    # names shared among all the compared labels, one of them in a table or not
    named = {id(row): name for row, name in zip(rows, _row_names(rows), strict=True)}
    moved = sorted((row for row in rows if row["verdict"] != "within noise"
                    and row["in_bundle"] and row["in_baseline"]),
                   key=lambda row: row["difference"])
    worse = [row for row in moved if row["verdict"] == "worse"]
    better = [row for row in moved if row["verdict"] == "better"][::-1]

    def table(title: str, chosen: list[dict], total: int) -> None:
        if not chosen:
            return
        more = f", the first {len(chosen)} of {total:,}" if total > len(chosen) else ""
        click.echo(f"labels whose F1 {title} beyond noise{more}:")
        width = max(len(named[id(row)]) for row in chosen)
        for row in chosen:
            low, high = row["interval"]
            click.echo(f"  {named[id(row)]:<{width}}  support {row['support']:>6,}  F1 "
                       f"{row['baseline_f1']:.3f} -> {row['f1']:.3f}  "
                       f"{row['difference']:+.3f} [{low:+.3f}, {high:+.3f}]")

    table("fell", worse[:COMPARED_LABELS_SHOWN], len(worse))
    table("rose", better[:COMPARED_LABELS_SHOWN], len(better))
    shared = [row for row in rows if row["in_bundle"] and row["in_baseline"]]
    quiet = sum(1 for row in shared if row["verdict"] == "within noise")
    # a label whose predictions differ on 1 to 5 documents: counted with the others
    few = sum(1 for row in shared if row["verdict"] == "too few documents")
    if few:
        least = result["metrics"]["micro_f1"]["min_docs_differing"]
        click.echo(f"{quiet + few:,} other label{plural_s(quiet + few)} within noise or on "
                   f"too few documents ({few:,} whose predictions by the two bundles "
                   f"differ on fewer than {least:,} documents; --json lists every label)")
    else:
        click.echo(f"{quiet:,} other label{plural_s(quiet)} within noise (--json lists "
                   "every label)")
    # a --vocab label of the corpus neither bundle holds: listed apart, its F1 None
    # (it was listed new, and its F1 None failed the line's format)
    for kept, what, f1 in (
            (lambda row: row["in_bundle"] and not row["in_baseline"],
             "new, not in the baseline", "f1"),
            (lambda row: row["in_baseline"] and not row["in_bundle"],
             "only in the baseline", "baseline_f1"),
            (lambda row: not row["in_bundle"] and not row["in_baseline"],
             "in neither bundle", "")):
        only = [row for row in rows if kept(row)]
        if only:
            def said(row: dict, f1: str = f1) -> str:
                return (f"{named[id(row)]} (support {row['support']:,}"
                        + (f", F1 {row[f1]:.3f})" if f1 else ")"))

            shown = and_more(only, COMPARED_LABELS_SHOWN, said, serial=False)
            click.echo(f"labels {what}: {shown}")


def _text_hashes(data: LabelledData) -> np.ndarray:
    """Each text's hash (:func:`~tagsmith.data.texthash.hash_texts`), of the texts held
    or of those hashed as they were streamed."""
    from tagsmith.data.texthash import hash_texts

    streamed = getattr(data, "streamed", None)
    hashes = getattr(streamed, "hashes", None)
    if hashes is not None:
        return hashes
    return hash_texts(data.texts if streamed is None else streamed)


def _row_names(rows: list[dict]) -> list[str]:
    """Each row's label name as a table shows it, printable; a name several of ``rows``
    share (a code list names a level and its only sublevel alike: 151010 and 15101010
    'Aerospace & Defense') followed by each one's URI, which told the rows apart nowhere
    in the table."""
    names = [printable(row["label"]) for row in rows]
    shared = {name for name, count in Counter(names).items() if count > 1}
    return [f"{name} <{printable(row['uri'])}>" if name in shared else name
            for name, row in zip(names, rows, strict=True)]


def _print_per_label(rows: list[dict], min_labels: int = 0) -> None:
    """eval --per-label's table: a label's precision and recall with their intervals
    ("-" where there is no ratio: nothing predicted, or no document carries it), and
    how many predictions ``min_labels`` forced in below their label's threshold."""

    def ratio(value, interval) -> str:
        if value is None:
            return "-"
        return f"{value:.3f} [{interval[0]:.3f}-{interval[1]:.3f}]"

    names = _row_names(rows)
    width = max([len("label"), *map(len, names)])
    click.echo("\nper label (95% Wilson intervals):")
    click.echo(f"  {'label':<{width}} {'support':>7} {'predicted':>9} {'threshold':>9}  "
               f"{'precision':<21}  recall")
    for name, row in zip(names, rows, strict=True):
        # None: an infinite threshold, never reached (JSON null, "reachable" false), or
        # no threshold: zeroshot --eval's best label of each document
        shown = ("inf" if not row["reachable"] else "best" if row["threshold"] is None
                 else f"{row['threshold']:.4f}")
        click.echo(f"  {name:<{width}} {row['support']:>7} {row['predicted']:>9} "
                   f"{shown:>9}  "
                   f"{ratio(row['precision'], row['precision_interval']):<21}  "
                   f"{ratio(row['recall'], row['recall_interval'])}")
    forced = sum(row["forced"] for row in rows)
    if forced:  # the threshold column alone read as the bar every prediction passed
        predicted = sum(row["predicted"] for row in rows)
        click.echo(f"  {forced:,} of the {predicted:,} predictions are documents' best "
                   f"labels below their threshold (min_labels {min_labels}): the figures "
                   "include them (JSON: forced, per label; eval --threshold T forces none)")


#: the columns of ``eval --results-file``, Annif's per-subject results
LABEL_RESULT_COLUMNS = ("uri", "label", "support", "true_positives", "false_positives",
                        "false_negatives", "precision", "recall", "f1")


def _write_label_results(path: str, rows: list[dict]) -> None:
    """Write ``eval --results-file`` from ``eval --per-label``'s rows: a header, then a
    row a label (written whole, or not at all); a ratio with nothing to count is 0, as
    Annif writes it (``--per-label`` says ``-``/null)."""
    from tagsmith.data.textio import atomic_text_writer

    with atomic_text_writer(path) as out:
        out.write("\t".join(LABEL_RESULT_COLUMNS) + "\n")
        for row in rows:
            tp = row["true_positives"]
            out.write(f"<{tsv_field(row['uri'])}>\t{tsv_field(row['label'])}\t"
                      f"{row['support']}\t{tp}\t{row['predicted'] - tp}\t"
                      f"{row['support'] - tp}\t{row['precision'] or 0.0:.4f}\t"
                      f"{row['recall'] or 0.0:.4f}\t{row['f1']:.4f}\n")


def _band_recalls(rows: list[dict]) -> str:
    """One line of a set method's recall per frequency band, for ``eval --calibration``:
    ``recall by band (train count): 0-45 0.5000 (40 docs), 46-90 0.8500 (38 docs)``.

    >>> _band_recalls([{"band": "0-45", "n_docs": 40, "recall_mean": 0.5},
    ...                {"band": "46+", "n_docs": 0, "recall_mean": None}])
    'recall by band (train count): 0-45 0.5000 (40 docs), 46+ - (0 docs)'
    """
    parts = [f"{printable(row['band'])} "
             f"{'-' if row['recall_mean'] is None else format(row['recall_mean'], '.4f')} "
             f"({row['n_docs']:,} doc{plural_s(row['n_docs'])})" for row in rows]
    return "recall by band (train count): " + ", ".join(parts)


def _below_guarantee(summary: dict, method: str) -> str:
    """``eval --calibration``'s flag on sets whose recall (LP-ICP: coverage) falls short
    of 1 - alpha by more than the documents evaluated allow: a month of posts whose
    sets held 0.868 of the true labels at alpha 0.1 was shown without a word.

    >>> _below_guarantee({"alpha": 0.1, "recall_mean": 0.868, "n_labelled_docs": 1500,
    ...                   "guarantee_lower_bound": 0.887333}, "recall")[:90]
    'below 1 - alpha = 0.9 by more than 1,500 labelled documents allow (95% lower bound 0.8873)'
    >>> _below_guarantee({"alpha": 0.1, "coverage": 0.7, "n_docs": 900,
    ...                   "guarantee_lower_bound": 0.87, "guarantee_n_calibration": 300},
    ...                  "lpicp")[:79]
    'below 1 - alpha = 0.9 by more than 900 documents and 300 calibration ones allow'
    """
    n, what = ((summary["n_docs"], "document") if method == "lpicp"
               else (summary["n_labelled_docs"], "labelled document"))
    drawn = summary.get("guarantee_n_calibration", 0)
    drawn = f" and {drawn:,} calibration ones" if drawn else ""
    return (f"below 1 - alpha = {1 - summary['alpha']:g} by more than {n:,} {what}"
            f"{plural_s(n)}{drawn} allow (95% lower bound "
            f"{summary['guarantee_lower_bound']:.4f}): "
            "these documents are not covered as the calibration ones were (a label shift, "
            "words the model never saw, or a calibration too small to hold); calibrate "
            "--data on labelled documents like them refits the sets")


def _print_confidence(report: dict, n_labels: int) -> None:
    from tagsmith.cli.confidence import _band_table, _candidates, _floor_part

    raw, cal = report["raw"], report["calibrated"]
    # as calibrate's summary: "each document's top 28" had no noun, and all 28 of 28
    # labels are no top
    click.echo(f"\nreliability over {_candidates(report['k'], n_labels)}:")
    click.echo(f"  ECE {raw['ece']:.4f} -> {cal['ece']:.4f}   Brier {raw['brier']:.4f} -> "
               f"{cal['brier']:.4f}   top-1 ECE {raw['top1_ece']:.4f} -> {cal['top1_ece']:.4f}")
    for line in _band_table(cal["bands"]):
        click.echo("  " + line)
    if "tail" in cal:
        tail = cal["tail"]
        click.echo(f"  true labels outside "
                   f"{_candidates(report['calibration_k'], n_labels)}: "
                   f"{tail['observed_positives_outside_topk']:,} "
                   f"(expected {tail['expected_positives_outside_topk']:,.1f}"
                   f"{_floor_part(tail)})")
    for alpha, methods in report["sets"].items():
        for method, summary in methods.items():
            if method == "lpicp":
                click.echo(f"{alpha} {method:<8} coverage {summary['coverage']:.4f}  "
                           f"label sets {summary['n_sets_mean']:.1f} (median "
                           f"{summary['n_sets_median']:g})  abstain "
                           f"{summary['abstain_rate']:.3f}")
                capped = summary.get("n_sets_capped", 0)
                if capped:  # the mean read as exact where counts stopped at the cap
                    whose = plural(summary["n_docs"], "document's", "documents'")
                    click.echo(f"  label sets: a lower bound, {capped:,} of "
                               f"{summary['n_docs']:,} {whose} "
                               f"{plural(capped, 'count', 'counts')} stopped at "
                               f"{summary['n_sets_cap']:,}")
            else:
                click.echo(f"{alpha} {method:<8} recall {summary['recall_mean']:.4f}  set size "
                           f"{summary['set_size_mean']:.2f} (median "
                           f"{summary['set_size_median']:g})  abstain "
                           f"{summary['abstain_rate']:.3f}")
                if len(summary.get("recall_by_band") or []) > 1:
                    click.echo("  " + _band_recalls(summary["recall_by_band"]))
            if summary.get("below_guarantee"):
                click.echo("  " + _below_guarantee(summary, method))
    untrained = max((summary.get("n_untrained_positives", 0) for methods in
                     report["sets"].values() for summary in methods.values()), default=0)
    if untrained:  # recall_mean read as every true label's, 1 - alpha missed for these
        # the measures that left them out: sets calibrated before such labels were left
        # out of one method (a bundle's older lpicp sets) still count them, as misses
        left_out = {("coverage" if method == "lpicp" else "recall")
                    for methods in report["sets"].values()
                    for method, summary in methods.items()
                    if summary.get("n_untrained_positives", 0)}
        measures = " and ".join(sorted(left_out, reverse=True))  # recall, then coverage
        verb = "leave" if len(left_out) > 1 else "leaves"
        click.echo(f"{measures} {verb} out the {untrained:,} true "
                   f"label{plural_s(untrained)} of labels never trained (in no set, "
                   "outside the guarantee; the model misses every one)")
    if "reliability_png" in report:
        click.echo(f"reliability diagram -> {printable(report['reliability_png'])}")


#: the formats ``vocab --output`` writes
EXPORT_FORMATS = ("csv", "tsv", "skos")


#: the help of ``tagsmith vocab``
VOCAB_HELP = (f"Inspect a vocabulary file ({VOCAB_FORMATS}); with --output, write the "
              "labels read as CSV, TSV or SKOS.")


@cli.command(short_help="Inspect or export a vocabulary file.", help=VOCAB_HELP)
@vocab_selection
@click.argument("vocab", callback=a_path)
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of the names shown, and of a TSV --output's one name.")
@click.option("--show", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many labels to list.")
@click.option("--json", "as_json", is_flag=True, help="Summary as one JSON object.")
@click.option("-o", "--output", callback=a_path,
              help="Write the vocabulary read (the labels --vocab-type, --vocab-scheme and "
              "--vocab-prefix keep) to this file: CSV (every field), SKOS (.ttl .rdf .xml "
              ".owl .nt .jsonld: every field) or TSV (URI, the --lang name, notation: no "
              "other language, hierarchy or deprecation); optionally .gz.")
@click.option("--format", "out_format", type=click.Choice(EXPORT_FORMATS),
              help="The format of --output (default: told by its suffix).")
@click.option("--force", is_flag=True, help="Replace --output if it exists (never VOCAB).")
def vocab(vocab, lang, show, as_json, output, out_format, force):
    from tagsmith.data.labelspace import in_language

    refuse_unused("--output", bool(output), "out_format", "force")
    if output:  # before reading: STW takes seconds to load
        out_format = _export_checked(vocab, output, out_format, force)
    space = load_selected_vocabulary(vocab, language=lang)
    warn_unnamed_language(space, lang)
    written = _export_vocabulary(space, output, out_format, lang) if output else None
    deprecated = space.deprecated_mask
    unnamed = [i for i, label in enumerate(space) if not deprecated[i]
               and any(label.pref_labels.values()) and not in_language(label.pref_labels, lang)]
    summary = {
        "path": vocab, "n_labels": len(space), "languages": space.languages,
        "n_deprecated": int(deprecated.sum()), "has_hierarchy": space.has_hierarchy,
        # a deprecated concept has no broader one (STW unlinks them): no root of the
        # hierarchy ('n_roots 1157' for STW's 7 top concepts)
        "n_roots": sum(1 for i in space.roots() if not deprecated[i]),
        "fingerprint": space.fingerprint,
        # labels named, but not in --lang: shown by another language's name, which
        # 'vocab --lang de' did without a word (3 of STW's concepts without a German name
        # were listed in English among the German ones)
        "n_unnamed": len(unnamed),
        # a deprecated label's replacements (dct:isReplacedBy), a chain followed to the
        # labels not deprecated: what to use instead
        "labels": [{"id": i, "uri": space.uri_of(i), "label": space.name_of(i, lang),
                    "deprecated": bool(deprecated[i]),
                    "replaced_by": [space.uri_of(j) for j in space.replacement_ids(i)]}
                   for i in range(min(show, len(space)))],
    }
    if written is not None:
        summary["output"] = written
    if as_json:
        print_json(summary)
        return
    if written is not None:
        click.echo(f"wrote {written['n_labels']:,} label{plural_s(written['n_labels'])} to "
                   f"{printable(output)} ({written['format']})")
    # words a person reads, not Python's reprs ('languages ['de', 'en']', 'has_hierarchy True')
    shown = {**summary, "languages": ", ".join(space.languages) or "none",
             "has_hierarchy": "yes" if space.has_hierarchy else "no"}
    for key in ("path", "n_labels", "languages", "n_deprecated", "has_hierarchy", "n_roots",
                "fingerprint"):
        click.echo(f"{key:<14} {printable(shown[key])}")
    if unnamed and len(unnamed) < len(space) - int(deprecated.sum()):
        # all of them unnamed is warn_unnamed_language's "no label has a name in ..."
        examples = _other_language_names(space, unnamed, lang)
        click.echo(f"{'n_unnamed':<14} {len(unnamed):,} "
                   + plural(len(unnamed), "label has", "labels have")
                   + f" no name in {lang!r}, shown by another language's: {examples}"
                   + (", ..." if len(unnamed) > 3 else ""))
    for item in summary["labels"]:
        instead = ", ".join(space.name_of(space.id_of(uri), lang) for uri in item["replaced_by"])
        click.echo(f"{item['id']:>8}  <{printable(item['uri'])}>  {printable(item['label'])}"
                   + (f"  (deprecated -> {printable(instead)})" if instead
                      else "  (deprecated)" if item["deprecated"] else ""))


def _other_language_names(space, ids: list[int], lang: str) -> str:
    """The first three of ``ids`` (labels with no name in ``lang``) as ``vocab`` lists
    them: ``<URI> 'name' (the name's language)``, the name :meth:`LabelSpace.name_of`
    shows; said alike by the summary's ``n_unnamed`` and the TSV export's warning."""
    from tagsmith.data.labelspace import language_in

    return ", ".join(
        f"<{printable(space.uri_of(i))}> {printable(space.name_of(i, lang))!r} "
        f"({language_in(space[i].pref_labels, 'en') or next(iter(space[i].pref_labels))})"
        for i in ids[:3])


def _export_checked(vocab: str, output: str, out_format: str | None, force: bool) -> str:
    """The format ``vocab --output`` writes (``out_format``, else the suffix's), having
    refused, before the vocabulary is read, an output that is VOCAB, that exists
    without ``--force``, that cannot be written, or whose suffix names no format this
    writes (or another format than ``--format``: the file would be read back as that)."""
    from pathlib import Path

    from tagsmith.data.textio import check_writable, same_file
    from tagsmith.data.vocab import RDF_FORMATS, SUFFIXES, format_suffix

    if same_file(output, vocab):
        raise InvalidParameterError("--output", "a new file, not VOCAB, the vocabulary read",
                                    output)
    suffix = format_suffix(Path(output))
    told = SUFFIXES.get(suffix)
    writable = " ".join(s for s in SUFFIXES if SUFFIXES[s] in EXPORT_FORMATS)
    if out_format is None:
        if told not in EXPORT_FORMATS:
            raise InvalidParameterError(
                "--output", f"a file ending {writable} (each optionally .gz), or --format "
                "csv|tsv|skos with another suffix", output)
        out_format = told
    elif told is not None and told != out_format:
        raise InvalidParameterError(
            "--output", f"a file whose suffix names no other format than --format "
            f"{out_format} ({suffix} is read back as {told})", output)
    elif out_format == "skos" and suffix not in RDF_FORMATS:
        raise InvalidParameterError(
            "--output", f"a file ending {' '.join(RDF_FORMATS)} (each optionally .gz), the "
            "suffix telling the RDF syntax, with --format skos", output)
    elif not suffix and output.lower().endswith(".gz"):
        # out.gz: compressed, and named no format; no command read it back (an
        # "unknown vocabulary format '(no suffix)'"), while out.csv.gz reads as written
        raise InvalidParameterError(
            "--output", f"a name with the format's suffix before .gz "
            f"({output[:-3]}.{out_format}.gz): the file is read back by it", output)
    check_writable(output)
    if os.path.lexists(output) and not force:
        raise InvalidParameterError("--output", "a file that does not exist yet (pass --force "
                                    "to replace it)", output)
    return out_format


def _export_vocabulary(space, output: str, out_format: str, lang: str) -> dict:
    """Write ``space`` to ``output`` as ``out_format`` (atomically: a failed write leaves
    an existing file as it was), warning of what a TSV leaves out and of the labels
    written by another language's name; what was written, for the summary."""
    from tagsmith.data.labelspace import in_language
    from tagsmith.data.vocab import (
        save_vocabulary_csv,
        save_vocabulary_skos,
        save_vocabulary_tsv,
    )

    fallback: list[int] = []
    if out_format == "csv":
        save_vocabulary_csv(space, output)
    elif out_format == "skos":
        save_vocabulary_skos(space, output)
    else:
        # a TSV holds one name: a label without one in --lang gets the name 'vocab
        # --lang' shows (English, else its first language's), not the empty name
        # save_vocabulary_tsv(language="de") wrote, said here
        fallback = [i for i, label in enumerate(space) if any(label.pref_labels.values())
                    and in_language(label.pref_labels, lang) is None]
        save_vocabulary_tsv(space, output, language=lang, fallback=True)
        _warn_tsv_losses(space, output, lang, len(fallback))
    if fallback:
        examples = _other_language_names(space, fallback, lang)
        n = len(fallback)
        warn(f"{printable(output)}: {plural(n, '1 label has', f'{n:,} labels have')} "
             f"no name in {lang!r} and {plural(n, 'was', 'were')} written by "
             f"another language's: {examples}{', ...' if n > 3 else ''}")
    return {"path": output, "format": out_format, "n_labels": len(space),
            "n_other_language_names": len(fallback)}


def _warn_tsv_losses(space, output: str, lang: str, n_fallback: int = 0) -> None:
    """One warning of what ``space`` holds that a TSV (URI, one name, notation) does not:
    reading the file back gives the labels without it. ``n_fallback``: the labels
    written by another language's name (not lost, said so)."""
    langs = [tag for tag in space.languages if tag.lower().split("-")[0]
             != lang.lower().split("-")[0]]
    counts = (
        (sum(len(names) for label in space for names in label.alt_labels.values()),
         "alternative label", "alternative labels"),
        # the hidden ones (skos:hiddenLabel) dropped with no word, where altLabels were said
        (sum(len(names) for label in space for names in label.hidden_labels.values()),
         "hidden label", "hidden labels"),
        (sum(1 for label in space if label.description), "description", "descriptions"),
        (sum(len(label.broader) for label in space), "broader link", "broader links"),
        (int(space.deprecated_mask.sum()), "deprecation (the label is written as any "
         "other)", "deprecations (the labels are written as any other)"),
    )
    # "not written: names in en" where the labels lacking a German name had their
    # English one written, as the warning before it said
    but = (f" (save the {n_fallback:,} written for "
           f"{plural(n_fallback, 'a label', 'labels')} with none in {lang!r})"
           if n_fallback else "")
    lost = ([f"names in {', '.join(langs)}{but}"] if langs else []) + [
        f"{n:,} {plural(n, one, many)}" for n, one, many in counts if n]
    if lost:
        warn(f"{printable(output)}: a TSV holds a URI, one name and a notation per label; "
             f"not written: {'; '.join(lost)} (write .csv or SKOS to keep them)")


#: the help of ``tagsmith info``
INFO_HELP = """Show a model bundle's manifest (versions, fingerprints, held-out metrics)."""


@cli.command(short_help="Show a bundle's manifest and held-out metrics.", help=INFO_HELP)
@click.argument("bundle", callback=a_path)
@click.option("--json", "as_json", is_flag=True, help="The manifest as one JSON object on "
              "one line (default: indented).")
def info(bundle, as_json):
    from tagsmith.pipeline.classifier import SHIFT_META, check_manifest_sections, rounds_from_1
    from tagsmith.store.bundle import Bundle

    with Bundle(bundle) as opened:
        check_manifest_sections(opened.manifest, bundle)  # what loading it would refuse
        # a student saved before numbered its rounds from 0: shown from 1, as now
        shown = rounds_from_1(opened.manifest)
        if opened.has(SHIFT_META):  # a saved shift was in no line info printed
            shown = {**shown, "label_shift": _stored_shift(opened)}
        print_json(shown, indent=None if as_json else 2)


def _stored_shift(opened) -> dict:
    """What ``info`` shows of the label shift ``shift --save`` stored: label_shift.json
    (method, documents, ``estimated_at``, ``total_variation``...), the total variation
    worked out of its priors for a bundle saved before it was recorded (the date then
    unknown)."""
    from tagsmith.pipeline.classifier import SHIFT_ARRAYS, SHIFT_META

    meta = opened.read_json(SHIFT_META)
    if not isinstance(meta, dict):
        raise BundleError(f"{SHIFT_META} is not an object", path=opened.path)
    if "total_variation" not in meta:
        from tagsmith.calibration.shift import LabelShift

        # through the loader's checks: 2-D or NaN priors got a total variation here
        # (or NaN), where loading the bundle refuses them as damaged
        try:
            meta["total_variation"] = round(LabelShift.from_state(
                meta, opened.read_arrays(SHIFT_ARRAYS)).total_variation(), 6)
        except (KeyError, ValueError, TypeError) as exc:
            raise BundleError(f"{SHIFT_META}, {SHIFT_ARRAYS}: incompatible or damaged contents "
                              f"({type(exc).__name__}: {exc})", path=opened.path) from exc
    return meta


def not_calibrated(name: str, bundle: str) -> InvalidParameterError:
    """The refusal of an uncalibrated ``bundle`` where ``name`` (an option or argument)
    needs a calibrated one, naming the bundle and how to calibrate it (suggest --sets,
    eval --calibration, shift's BUNDLE); the library's own says only 'bundle'.

    >>> str(not_calibrated("BUNDLE", "runs/model")).startswith("parameter 'BUNDLE' must be "
    ...                                                      "a calibrated bundle (run")
    True
    """
    what = "used with a calibrated bundle" if name.startswith("--") else "a calibrated bundle"
    return InvalidParameterError(name, f"{what} (run tagsmith calibrate, or train with "
                                 "--calibration-fraction)", f"{bundle}, which is not calibrated")


def bundle_vocabulary(bundle: str) -> str:
    """How errors about labels a corpus has and a bundle lacks name the bundle's label
    space (eval, calibrate and audit alike), not just "the vocabulary": the user gave
    no vocabulary file, and may have a different one open.

    >>> bundle_vocabulary("runs/model")
    'the vocabulary of the bundle runs/model'
    """
    return f"the vocabulary of the bundle {bundle}"


def _bundle_single_label(classifier, bundle: str | None) -> str | None:
    """What ``train --single-label`` said of the bundle's corpus where it said yes or no
    (the manifest's ``training.single_label``): ``audit --bundle`` under
    ``--single-label auto`` takes it. None without a bundle, where auto was trained, or
    for a bundle written before train recorded it; a value of none of train's choices is
    a BundleError naming the field."""
    if classifier is None:
        return None
    said = (classifier.manifest.get("training") or {}).get("single_label")
    if said is None or said == "auto":
        return None
    if said not in ("yes", "no"):
        raise BundleError(f"manifest.json: training.single_label is none of auto, yes and "
                          f"no: {said!r}", path=bundle)
    return str(said)


def _label_space_for(corpus: str, vocab: str | None, bundle: str | None, on_error: str,
                     derive: bool = True, show_progress: bool = False):
    """The bundle's label space (and classifier), else the vocabulary's, else one derived
    from the corpus (``None`` with ``derive=False``: the caller derives it while reading).
    A vocabulary given with a bundle must be the bundle's."""
    space = None
    if vocab:
        space = load_selected_vocabulary(vocab)
    if bundle:
        from tagsmith.pipeline.classifier import TextClassifier

        classifier = TextClassifier.load(bundle)
        if space is not None and space.fingerprint != classifier.label_space.fingerprint:
            raise InvalidParameterError("--vocab", "the bundle's vocabulary (or leave it out)",
                                        vocab)
        return classifier.label_space, classifier
    if space is not None or not derive:
        return space, None
    from tagsmith.pipeline.io import resolve_label_space

    return resolve_label_space([corpus], None, on_error=on_error,
                               show_progress=show_progress), None


def _where_docs_on_parents(labels: dict, html: bool, table: Path | None = None) -> str:
    """Where the audit lists the documents given a label that has narrower labels: the
    labels and the first documents in report.json (and the page), none in the queue;
    every one in ``table`` (docs_on_parent_labels.csv), where written."""
    n_docs = labels["n_docs_on_labels_with_narrower"]
    listed = len(labels.get("docs_on_labels_with_narrower") or [])
    first = "the" if listed >= n_docs else f"the first {listed:,}"
    page = " and report.html's Labels section" if html else ""
    every = ("" if table is None else f"; {printable(table)} lists "
             f"{'it' if n_docs == 1 else f'all {n_docs:,}'}, each with its review rows")
    return (f" (report.json's labels section lists the labels, with_narrower_in_use, and "
            f"{first} documents, docs_on_labels_with_narrower{page}; the review "
            f"queue names only those the scores flagged{every})")


def _broader_left_off_line(left_off: dict, table: Path | None = None) -> str:
    """The command's line on the documents given a narrower label without a broader
    one the corpus codes beside it almost always (report.json's ``broader_left_off``,
    with at least one such document): the pair with the most of them, by its share,
    how many the review queue asks to add, and where every one is listed.

    >>> pair = {"narrower": {"name": "wheat"}, "broader": {"name": "grain"},
    ...         "n_docs": 283, "n_beside": 280, "share": 0.9894, "n_left_off": 3}
    >>> _broader_left_off_line({"n_docs": 4, "n_rows": 5, "n_in_review": 1,
    ...                         "n_pairs": 9, "min_share": 0.9, "pairs": [pair]})
    ... # doctest: +NORMALIZE_WHITESPACE
    "broader label left off: 4 documents (5 rows, a row per document and broader label)
    carry a narrower label
    without a broader one the corpus gives beside it in at least 90% of that label's
    documents (9 such pairs; 'grain' beside 'wheat' in 280 of 283, 98.9%: 3 without
    it); the review queue asks to add the broader label in 1 of these 5 rows
    (report.json's broader_left_off lists the pairs and the first documents)"
    """
    top = left_off["pairs"][0]
    n_docs, n_rows, n_in = left_off["n_docs"], left_off["n_rows"], left_off["n_in_review"]
    n_pairs = left_off["n_pairs"]
    # and how to add them: the desk added every accepted one by hand
    every = ("" if table is None
             else f"; {printable(table)} lists {'it' if n_rows == 1 else f'all {n_rows:,}'}: "
             "accept a row in its decision column and apply-review adds the broader label")
    if left_off.get("table_kept_decided"):
        # the folder's table was decided while the audit ran and kept: these counts are
        # of the table that was not written
        every = ("; the folder's docs_without_broader.csv, decided while the audit ran, "
                 "was kept: these counts are of a table not written")
    # a document without grain and without commodities above it is two rows: "16
    # documents ... 6 of these 20" mixed the two counts
    rows = ("" if n_rows == n_docs
            else f" ({n_rows:,} rows, a row per document and broader label)")
    return (f"broader label left off: {n_docs:,} document{plural_s(n_docs)}{rows} carr"
            f"{'ies' if n_docs == 1 else 'y'} a narrower label without a "
            f"broader one the corpus gives beside it in at least "
            f"{left_off['min_share']:.0%} of that label's documents ({n_pairs:,} such "
            f"pair{plural_s(n_pairs)}; {printable(top['broader']['name'])!r} beside "
            f"{printable(top['narrower']['name'])!r} in {top['n_beside']:,} of "
            f"{top['n_docs']:,}, {top['share']:.1%}: {top['n_left_off']:,} without it); "
            f"the review queue asks to add the broader label in {n_in:,} of these "
            f"{n_rows:,} row{plural_s(n_rows)} (report.json's "
            f"broader_left_off lists the pairs and the first documents{every})")


def _parse_splits(pairs: tuple[str, ...]) -> dict[str, str]:
    splits: dict[str, str] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise InvalidParameterError("--split", "NAME=PATH (e.g. test=test.tsv)", pair)
        if name in splits:
            raise InvalidParameterError("--split", f"one PATH per NAME (split {name!r} is "
                                        f"{splits[name]})", pair)
        splits[name] = path
    return splits


def _refuse_corpus_as_split(corpus: str, name: str, path: str) -> None:
    """Refuse ``--split NAME=CORPUS``: the audited corpus given as another split (by a
    name, a link or another spelling) was reported as every document leaking into it,
    a duplicate of itself."""
    from tagsmith.data.textio import same_file

    if same_file(path, corpus):
        raise InvalidParameterError("--split", "a corpus other than CORPUS (the corpus given "
                                    "as a split leaks every document into it)",
                                    f"{name}={path}")


def _cooccurrence_weight(ctx: click.Context, param: click.Parameter,
                         value: str) -> float | str:
    """``--cooccurrence``: ``auto`` or a finite number >= 0."""
    import math

    if value == "auto":
        return value
    try:
        weight = float(value)
    except ValueError:
        weight = math.nan
    if not math.isfinite(weight) or weight < 0:
        raise click.BadParameter(f"expected 'auto' or a finite number >= 0, got {value!r}",
                                 ctx=ctx, param=param)
    return weight


#: the help of ``tagsmith audit``
AUDIT_HELP = """Audit CORPUS: missing and wrong labels, duplicates, leakage, a data health report.

Writes OUTPUT/report.html, report.json, review.csv (or .jsonl), labels.csv and
duplicates.csv; with a hierarchical vocabulary, docs_without_broader.csv too (documents
given a narrower label without the broader one the corpus codes beside it). Labels not
in the vocabulary are counted in the report, not fatal.
"""


def _label_confidence_words(noise: dict) -> str | None:
    """The command's line under ``audit --label-confidence`` saying where its wrong rows
    come from (None without the option). The cap binds the two lists only:
    --band-budget-below's labels, --copies-majority's copies and a single-label corpus's
    pairs flag wrong rows beside them, so the line said "at most 8" under "flagged 11
    wrong"; it says so where more are flagged."""
    rule = (noise.get("method") or {}).get("label_confidence")
    if not isinstance(rule, dict) or "n_wrong_cap" not in rule:
        return None
    n_wrong = int(noise.get("n_flagged_wrong", 0))
    # --copies-majority's rows flagged after the two lists: the counts said did not add
    # up to the wrong rows flagged
    n_copies = int(rule.get("n_wrong_flagged_by_copies") or 0)
    # "the others" beyond the copies' rows, said beside them: 9 flagged, 8 by the lists
    # and 1 by the copies, was said twice, the copies' row again among "the others"
    others = (f"; {n_wrong:,} wrong flagged in all, the others outside the two lists "
              "(--band-budget-below, --copies-majority, a single-label corpus's pairs)"
              if n_wrong > int(rule["n_wrong_cap"]) + n_copies else "")
    # said after the cap: before it, "at most N" read as if it covered the copies' rows
    copies = (f", and --copies-majority's {n_copies:,} (flagged by its copies' majority, "
              "outside the two lists and their cap)" if n_copies else "")
    return (f"label confidence: the wrong rows are the audit's "
            f"{rule['n_wrong_flagged_by_audit']:,} and the LLM's "
            f"{rule['n_wrong_flagged_by_llm']:,} least confident labels in turn, "
            f"at most {rule['n_wrong_cap']:,} (the larger of the audit's count "
            f"and the LLM's expected wrong count, "
            f"{rule['n_llm_expected_wrong']:,}: not their sum){copies}{others}")


def _broader_moves_words(n_moves: int) -> str:
    """audit's words, after its flagged counts, for ``n_moves`` broader-for-narrower
    moves: "1 move among them, each ..." read of a single move.

    >>> _broader_moves_words(1)[:60]
    ' (1 move among them, a broader label given for a narrower on'
    >>> _broader_moves_words(3)[:50]
    ' (3 moves among them, each a broader label given f'
    """
    return (f" ({n_moves:,} {plural(n_moves, 'move among them, a', 'moves among them, each a')}"
            " broader label given for a narrower one missing: its wrong and missing rows "
            "adjacent in the queue; accept both to replace it)")


def _is_label_output(corpus: str) -> bool:
    """Whether CORPUS is label's output (an LLM's labels with their scores)."""
    from pathlib import Path

    from tagsmith.pipeline.llm import is_soft_labels_file

    path = Path(corpus)
    return path.is_file() and bool(path.stat().st_size) and is_soft_labels_file(path)


def _warn_label_output(corpus: str) -> None:
    """Warn where CORPUS is label's output (an LLM's labels with their scores): the
    audit reads its labels as given, and said nothing of the confidences it left unused."""
    from tagsmith.pipeline.audit import soft_labels_warning

    if _is_label_output(corpus):
        logging.getLogger("tagsmith").warning(soft_labels_warning(
            f"{printable(corpus)} is label's output (an LLM's labels with its confidences)"))


@cli.command(short_help="Audit CORPUS: label errors, duplicates, leaks.", help=AUDIT_HELP)
@vocab_selection
@click.argument("corpus", callback=a_path)
@click.option("-o", "--output", required=True, callback=a_path,
              help="Directory for the report and review queue.")
@click.option("--vocab", callback=a_path,
              help=f"Vocabulary ({VOCAB_FORMATS}); default: the bundle's, or derived "
              "from the corpus. With --bundle: the bundle's updated since training, its "
              "names shown for the bundle's labels (matched by URI; what differs is warned "
              "of once).")
@click.option("--bundle", callback=a_path,
              help="A model bundle: its featurizer, model family and (when trained "
              "on this corpus with --crossfit-folds) its stored out-of-fold scores.")
@click.option("--scores", type=click.Choice(["auto", "knn", "crossfit", "bundle", "heldout"]),
              default="auto", show_default=True,
              help="Out-of-sample scores: leave-one-out kNN (fast at any scale), K-fold "
              "cross-fitting, the bundle's stored ones, or heldout: the --bundle's own "
              "predictions, for a corpus it was not trained on (a test split audited with "
              "the model trained on the train split); auto picks (never heldout).")
@click.option("--model", type=click.Choice(available_models()), default=None,
              help="Model family for --scores crossfit (default: the bundle's, else linear).")
@click.option("-p", "--param", multiple=True, help="Parameter KEY=VALUE of that model (or of "
              "the kNN for --scores knn).")
@click.option("--folds", type=click.IntRange(2, MAX_FOLDS), default=5, show_default=True,
              help="Folds for --scores crossfit.")
@click.option("--cooccurrence", default=str(COOCCURRENCE_WEIGHT), metavar="WEIGHT|auto",
              callback=_cooccurrence_weight, show_default=True,
              help="Weight of the documents' leave-one-out label co-occurrence blended into "
              "the kNN scores (--scores knn, or auto when it picks kNN) before their top-k "
              "is taken: labels a document's other labels imply become candidates; 0 turns "
              "it off; auto tries " + ", ".join(f"{w:g}" for w in COOCCURRENCE_GRID)
              + " and keeps the one whose scores' P@1 against the given labels is highest "
              "(ties: the smaller).")
@click.option("--split", "splits", multiple=True, help="Another split NAME=PATH to check for "
              "leakage (duplicates of training documents); repeatable.")
@click.option("--review-format", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True, help="The review queue as OUTPUT/review.csv (for a "
              "spreadsheet) or review.jsonl.")
@click.option("--max-review", type=click.IntRange(min=0), default=None,
              help="At most this many rows in the review queue (default: every flagged one).")
@click.option("--review-sample", type=click.IntRange(min=1), default=None, metavar="N",
              help="Also draw N documents at random (seeded by --seed, whatever the audit "
              "ranked) for exhaustive review, every given label and the model's top "
              "labels of each, as OUTPUT/sample.csv (or .jsonl); decided, tagsmith "
              "estimate-noise reads it.")
@click.option("--review-sample-flagged", type=click.IntRange(min=2), default=None,
              metavar="M",
              help="Stratify the sample: draw M documents among those with a flagged "
              "candidate (all of them, with a warning, where fewer have one), and "
              "--review-sample's N among the others (N + M in all); "
              "estimate-noise weights each stratum by its documents, and reads the "
              "flagged candidates' precision from the M.")
@click.option("--min-probability", type=click.FloatRange(0, 1, min_open=True), default=0.5,
              callback=finite_number(0, 1, min_open=True),  # FloatRange lets NaN through
              show_default=True, help="Flag candidates at least this likely to be errors.")
@click.option("--label-confidence", is_flag=True,
              help="CORPUS is label's output: blend each given label's confidence (its "
              "'scores') into the wrong-label ranking, a label less confident than the "
              "corpus's mean rising, and take the LLM's least confident labels in turn "
              "with the audit's most likely in the review queue (its probability column "
              "then not in order; off: every label is given alike, the confidences "
              "unused).")
@click.option("--copies-majority", is_flag=True,
              help="Copies of one text that disagree on a label: flag the side most copies "
              "disagree with (a label most copies carry is missing on the others, one a "
              "minority carries wrong; ties left to the scores). Off: the review's copies "
              "column shows the disagreement only.")
@click.option("--broader-min-docs", type=click.IntRange(1), default=10, show_default=True,
              help="Broader labels left off (docs_without_broader.csv): read a pair "
              "(narrower, broader) only where the narrower label is given to at least this "
              "many documents.")
@click.option("--broader-min-share", type=click.FloatRange(0, 1, min_open=True),
              default=0.9, show_default=True, callback=finite_number(0, 1, min_open=True),
              help="Broader labels left off: read a pair where at least this share of the "
              "narrower label's documents carry the broader one too. The review queue is "
              "not changed by either.")
@click.option("--near-duplicate-threshold", type=click.FloatRange(0, 1, min_open=True),
              default=0.9, show_default=True, callback=finite_number(0, 1, min_open=True),
              help="Cosine from which texts are near duplicates (less 1e-4 for float32 "
              "rounding).")
@click.option("--no-near-duplicates", is_flag=True, help="Only look for exact duplicates.")
@click.option("--no-evidence", is_flag=True, help="Rank by the calibrated scores alone (no "
              "label-centroid and co-occurrence evidence).")
@click.option("--every-doc-labelled", type=click.Choice(["auto", "yes", "no"]), default="auto",
              show_default=True, help="Whether a document given no label is missing one "
              "(auto: yes when at least 80% of the documents carry labels).")
@click.option("--single-label", type=click.Choice(["auto", "yes", "no"]), default="auto",
              show_default=True, help="Whether every document has one label (a catalogue): "
              "a document's wrong and missing rows are then one move, paired side by side "
              "(auto: what train --single-label said of --bundle's corpus, recorded in "
              "the bundle, else yes when every document given a label has one and at "
              "most 1% of them have none; yes refuses a document given two).")
@click.option("--calibration-folds", type=click.IntRange(1, MAX_CALIBRATION_FOLDS),
              default=AUDIT_CALIBRATION_FOLDS, show_default=True,
              help="Cross-fit the calibration of the scores over this many folds of "
              "documents, so no pair's probability depends on its own label (1: in-sample).")
@click.option("--band-budget-below", type=click.IntRange(min=0), default=0, metavar="N",
              show_default=True,
              help="Labels given to 2 to N-1 documents (N: 20, say) get wrong flags by "
              "frequency band: the band's estimated wrong count, most probable first "
              "across its labels, whatever --min-probability (0: off).")
@click.option("--reviewed", "reviewed", multiple=True, metavar="REVIEW", callback=a_path,
              help="An earlier audit's review, decided (review.csv or .jsonl): its decided "
              "pairs (document id and text fingerprint, else the fingerprint, and label) "
              "are left out of the "
              "review queue where the corpus agrees with the decision; repeatable.")
@click.option("--no-html", is_flag=True, help="Write the JSON report only.")
@click.option("--no-plots", is_flag=True, help="HTML report without plots (no matplotlib).")
@click.option("--on-error", type=ERROR_POLICY, default="fail", show_default=True,
              help="Malformed corpus lines: fail, or skip and count.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the cross-fitting and calibration folds and of the "
              "--review-sample draw (the documents drawn and their strata).")
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of label names.")
@click.option("--force", is_flag=True, help="Overwrite a review file in OUTPUT whose decisions "
              "have been filled in (a CSV's decision column, a JSONL review's decision key "
              "on each line; the reviewer's work is lost), and a report.json, report.html, "
              "labels.csv or duplicates.csv there that no audit wrote.")
@click.pass_obj
def audit(obj, corpus, output, vocab, bundle, scores, model, param, folds, cooccurrence, splits,
          review_format,
          max_review, review_sample, review_sample_flagged, min_probability, label_confidence,
          copies_majority, broader_min_docs, broader_min_share,
          near_duplicate_threshold, no_near_duplicates,
          no_evidence, every_doc_labelled, single_label, calibration_folds, band_budget_below,
          reviewed, no_html, no_plots, on_error, seed, lang, force):
    from tagsmith.pipeline.audit import (
        MULTI_LABELLED_ADVICE,
        AuditOptions,
        audit_corpus,
        check_audit_corpus,
        check_output,
        check_score_params,
        check_split_corpus,
        read_audit_corpus,
        read_summary,
    )

    # scores auto refuses what its choice ignores (pipeline.audit); these are by name
    refuse_unused("--scores crossfit (or auto)", scores in ("crossfit", "auto"), "model", "folds")
    # heldout scores are the bundle's own predictions: a parameter would fit nothing
    refuse_unused("--scores crossfit or knn (or auto)", scores not in ("bundle", "heldout"),
                  "param")
    refuse_unused("--scores knn (or auto)", scores in ("knn", "auto"), "cooccurrence")
    refuse_unused("near-duplicate search (not with --no-near-duplicates)",
                  not no_near_duplicates, "near_duplicate_threshold")
    refuse_unused("--review-sample (the documents drawn among those with no flagged "
                  "candidate)", review_sample is not None, "review_sample_flagged")
    if review_sample_flagged is not None and review_sample < 2:
        raise click.BadParameter("at least 2 where the sample is stratified "
                                 "(--review-sample-flagged): a stratum's variance needs two",
                                 param_hint="--review-sample")
    params = _parse_params(param, "--param")
    # None where not given: scores auto warns of a --folds it does not use (not the default)
    options = AuditOptions(scores=scores, model=model,
                           n_folds=folds if given_on_command_line("folds") else None,
                           seed=seed if given_on_command_line("seed") else None, lang=lang,
                           model_params=params if scores != "knn" else {},
                           knn_params=params if scores == "knn" else {},
                           cooccurrence=cooccurrence,
                           min_probability=min_probability, max_review=max_review,
                           review_sample=review_sample,
                           review_sample_flagged=review_sample_flagged,
                           near_duplicates=not no_near_duplicates, evidence=not no_evidence,
                           every_doc_labelled={"auto": None, "yes": True,
                                               "no": False}[every_doc_labelled],
                           single_label={"auto": None, "yes": True, "no": False}[single_label],
                           calibration_folds=calibration_folds,
                           band_budget_below=band_budget_below,
                           near_duplicate_threshold=near_duplicate_threshold,
                           label_confidence=label_confidence,
                           copies_majority=copies_majority,
                           broader_min_docs=broader_min_docs,
                           broader_min_share=broader_min_share,
                           show_progress=not obj["quiet"])
    options.validate()
    # fail before the work: an output that is a file, or a review someone has filled in
    paths = _parse_splits(splits)
    for name, split_path in paths.items():
        refuse_stdin(split_path, "--split", "NAME=PATH, PATH a corpus file")
        _refuse_corpus_as_split(corpus, name, split_path)
    # the audit's inputs are never replaced by its files (a vocabulary named labels.csv)
    for review_path in reviewed:
        refuse_stdin(review_path, "--reviewed", "a review file an audit wrote")
        from tagsmith.audit.review import review_format as format_of

        try:  # a corpus given by mistake (train.tsv) is named with the option
            format_of(review_path)
        except InvalidParameterError:
            raise click.BadParameter(f"{printable(review_path)} is no review file: an audit "
                                     "writes review.csv or review.jsonl",
                                     param_hint="--reviewed") from None
    # an earlier review given as --reviewed is an input too: even with --force, the audit
    # into last month's folder does not replace the decisions next month's audit needs
    inputs = [corpus, *paths.values(), *([vocab] if vocab else []), *reviewed]
    check_output(output, review_format=review_format, force=force, name="-o/--output",
                 html=not no_html, keep=inputs, sample=review_sample is not None)
    if not no_html and not no_plots:
        from tagsmith.audit.report import check_plotting

        # before the work, not after it; a core install learns that --no-plots needs none
        check_plotting("drawing the HTML report's plots (--no-plots leaves them out)")
    space, classifier = _label_space_for(corpus, None if bundle else vocab, bundle, on_error,
                                         derive=False)
    # --single-label auto with a bundle: what train --single-label said of its corpus
    trained_said = _bundle_single_label(classifier, bundle) if single_label == "auto" else None
    if trained_said is not None:
        import dataclasses

        options = dataclasses.replace(options, single_label=trained_said == "yes")
    if vocab and bundle:  # VOCAB's names for the bundle's labels (same ids and URIs)
        from tagsmith.cli.vocab_names import (
            bundle_space,
            read_bundle_vocab,
            warn_name_clashes,
            warn_vocab_differs,
        )

        view = read_bundle_vocab(classifier, vocab, bundle, lang)
        warn_vocab_differs(view, space, vocab, bundle, lang, "audit")
        space = bundle_space(view, space)
    try:  # checked only as the scores were fitted, after the features: named by option
        check_score_params(options, classifier)
    except InvalidParameterError as exc:
        _name_param_option(exc, (("--param", params),))
        raise
    derived = space is None
    if space is None:  # derived while reading: the corpus is read once, not twice
        from tagsmith.pipeline.io import read_deriving_labels

        space, (data,) = read_deriving_labels([corpus], lambda path, deriving: (
            read_audit_corpus(path, deriving, on_error=on_error,
                              confidences=label_confidence)))
    else:
        data = read_audit_corpus(corpus, space, on_error=on_error,
                                 confidences=label_confidence)
        if vocab and bundle:
            warn_name_clashes(space, corpus, vocab, bundle, lang)
    check_audit_corpus(data, corpus=corpus,
                       vocab=vocab or (bundle_vocabulary(bundle) if bundle else None),
                       label_space=space)
    if label_confidence:
        if data.confidences is None:  # before the work, not a ranking silently unchanged
            raise click.BadParameter(
                f"{printable(corpus)} has no 'scores' beside its labels (label's output "
                "has, one confidence per label): nothing to blend", param_hint="--label-confidence")
    else:
        _warn_label_output(corpus)
    split_data = {name: read_audit_corpus(path, space, on_error=on_error)
                  for name, path in paths.items()}
    for name, split in split_data.items():
        check_split_corpus(split, name=name, path=paths[name])
    other = {name: split.texts for name, split in split_data.items()}
    drawn = (review_sample or 0) + (review_sample_flagged or 0)
    decided = None
    if reviewed:  # before the work: a file that is no review fails naming its line
        from tagsmith.audit.review import read_reviewed

        decided = read_reviewed(reviewed, space, space_name=(
            "the corpus's labels" if derived else f"{printable(vocab or bundle)}"))
    if drawn > len(data.texts):
        raise click.BadParameter(
            f"{drawn:,} documents"
            + ("" if review_sample_flagged is None else " (with --review-sample-flagged)")
            + f", more than the {len(data.texts):,} of {printable(corpus)}: a sample draws "
            "each document once", param_hint="--review-sample")
    try:
        result = audit_corpus(
            data.texts, data.confidences if label_confidence else data.Y, space,
            options=options, classifier=classifier, splits=other,
            unknown_labels=data.unknown_labels, lines=data.lines, doc_ids=data.doc_ids,
            source=corpus,
            split_lines={name: split.lines for name, split in split_data.items()},
            vocabulary=not derived, reviewed=decided,
            read=read_summary({corpus: data, **{paths[name]: split for name, split
                                                in split_data.items()}}, on_error))
    except DataError as exc:
        if MULTI_LABELLED_ADVICE not in exc.reason:
            raise
        # --single-label yes on a multi-label corpus: a usage error about the option
        # (exit code 2, as for every option that does not fit its input; it was 3, a
        # corpus that could not be read), in the option's own values, not the Python
        # API's None and False
        reason = exc.reason.removeprefix("single_label: ").replace(
            MULTI_LABELLED_ADVICE, "audit it with --single-label auto or no"
            if trained_said is None else f"--single-label yes is the bundle's "
            f"{printable(bundle)} (train --single-label yes): audit it with --single-label no")
        where = "" if exc.path is None else f"{printable(exc.path)}: "
        raise click.BadParameter(where + reason, param_hint="--single-label") from None
    if trained_said is not None:  # report.json says where the setting came from
        result.report["meta"]["single_label_from"] = "bundle"
    written = result.write(output, html=not no_html, plots=not no_plots,
                           review_format=review_format, force=force, keep=inputs)
    report = result.report
    noise, dups = report["noise"], report["duplicates"]
    click.echo(f"audited {len(data.texts):,} document{plural_s(len(data.texts))}, "
               f"{len(space):,} label{plural_s(len(space))} "
               f"({report['scores']['source']} scores) in {report['timing']['total']:.1f}s")
    if trained_said is not None:  # the setting the user did not give, and whence
        click.echo(f"one label a document: --single-label {trained_said}, as the bundle "
                   f"{printable(bundle)} was trained (train --single-label {trained_said}); "
                   "give --single-label yes or no to say otherwise")
    bounds = noise.get("bounds")
    if bounds:
        click.echo(f"at most {100 * bounds['wrong_rate']:.2f}% wrong and "
                   f"{100 * bounds['missing_rate']:.2f}% missing labels (mixture-proportion "
                   "bounds, if errors fall at random: labels left off by habit go uncounted; "
                   f"confident learning counts {100 * noise['wrong_rate']:.2f}% and "
                   f"{100 * noise['missing_rate']:.2f}%, inflated by the scores' own errors)")
        for kind in bounds.get("raised_to_flagged", []):
            # the mixture bound read under the candidates the audit flagged (Reuters-21578:
            # 23.6 missing, 33 flagged, 22 of them confirmed by a reviewer)
            click.echo(f"the {kind} bound is raised to the "
                       f"{bounds['n_flagged_likely'][kind]:,} flagged candidates more likely "
                       f"errors than not (mixture proportion read "
                       f"{bounds['by_mixture'][f'est_{kind}']:,.1f}, under them)")
    else:
        click.echo(f"estimated {100 * noise['wrong_rate']:.2f}% wrong and "
                   f"{100 * noise['missing_rate']:.2f}% missing labels")
    # scores that recover few given labels, and too few distinct texts: the figures
    # above, and the candidates, say little (printed here too: -q silences the log)
    for warning in (report["scores"].get("warning"), noise.get("warning"),
                    noise.get("bounds_note"), noise.get("rare_labels_note"),
                    noise.get("one_label_note"),
                    noise.get("small_corpus_note")):
        if warning:
            click.echo(f"warning: {warning}")
    n_flagged = noise["n_flagged_wrong"] + noise["n_flagged_missing"]
    left_out = noise.get("reviewed", {}).get("n_left_out", 0)
    # the queue may hold fewer rows than were flagged: say so, not let the count suggest
    # every flagged candidate is in it
    # --label-confidence: the queue takes the audit's flagged rows and the LLM's least
    # confident labels in turn, its probability column out of order: "the 300 most
    # likely" was not what it held
    interleaved = _label_confidence_words(noise) is not None

    def held(n: int) -> str:
        return (f"its first {n:,} rows, the audit's most likely and the LLM's least "
                "confident in turn" if interleaved else f"the {n:,} most likely")

    capped = ("" if max_review is None or max_review >= n_flagged - left_out else
              " (the review queue is empty: --max-review 0)" if max_review == 0 else
              f" (the review queue holds {held(max_review)}: --max-review)"
              if len(result.review) == max_review else
              f" (the review queue holds {held(len(result.review))}: "
              f"--max-review {max_review:,}, raised to keep its first move whole)"
              if len(result.review) > max_review else
              f" (the review queue holds {held(len(result.review))}: "
              f"--max-review {max_review:,}, less the half of a move it would cut in two)")
    # one label a document: a document's wrong and missing rows are one move
    paired = (noise.get("method") or {}).get("single_label")
    moved = isinstance(paired, dict)  # the audit read one label a document
    n_unlabelled = paired.get("n_docs_without_labels", 0) if isinstance(paired, dict) else 0
    moves = (" (one label a document"
             + (f", {n_unlabelled:,} given none and taken as not yet labelled"
                if n_unlabelled else "")
             + ": a document's wrong and missing rows are one move, adjacent in the queue; "
             # every document one label: the warning above says the given label may be
             # right (a main subject), and this line told the reviewer to accept both
             # (named: the small-corpus warning may stand above it too)
             + ("accept both only if each document has one label; see the one-label "
                "warning above)"
                if noise.get("one_label_note") else "accept both)")
             if moved and n_flagged else "")
    # coded at the most specific level (ICD-10): a broader code for a narrower one
    broader = (noise.get("method") or {}).get("broader_moves")
    n_moves = broader.get("n_moves", 0) if isinstance(broader, dict) else 0
    if n_moves and not moves:
        moves = _broader_moves_words(n_moves)
    click.echo(f"flagged {noise['n_flagged_wrong']:,} wrong and "
               f"{noise['n_flagged_missing']:,} missing{capped}{moves}")
    # --label-confidence: the wrong count beside the estimate said nothing of where its
    # rows came from (GoEmotions: 1,485 flagged, 742.5 estimated, the two lists added)
    conf_words = _label_confidence_words(noise)
    if conf_words:
        click.echo(conf_words)
    # copies of one text that disagree (detect.flag_copies): the rows they flagged, and
    # why, where the command said only how many duplicate pairs conflict
    copies = (noise.get("method") or {}).get("copies")
    # ties alone are said too, as the page says them (README: the command says how many
    # ties it left to the scores)
    if isinstance(copies, dict) and (copies.get("n_missing", 0) + copies.get("n_wrong", 0)
                                     + copies.get("n_ties", 0)):
        n_texts, n_ties = copies["n_texts"], copies.get("n_ties", 0)
        # a tie (one of two copies) is not raised: it says one copy is wrong, not which
        ties = (f"; {n_ties:,} tie{plural_s(n_ties)} (as many copies each side) left to "
                "the scores" if n_ties else "")
        click.echo(f"copies: {copies['n_missing']:,} missing and {copies['n_wrong']:,} wrong "
                   f"flagged where copies of a text disagree ({n_texts:,} label"
                   f"{plural_s(n_texts)} of a text): a label most copies carry is missing "
                   f"on the others, one a minority carries wrong{ties}; "
                   "the queue's copies column says how many copies carry each")
    # an LLM's labels (label's output): its errors spread thin, few of them at least
    # min_probability likely: 28 rows flagged of 617 planted errors, and nothing said
    # how to spend a review budget of 300 rows
    estimated = (noise.get("est_wrong") or 0) + (noise.get("est_missing") or 0)
    # not above the bounds printed above it: 500 GoEmotions comments (579 given labels)
    # read "at most 53.90% wrong and 70.21% missing", then "about 1,140 wrong or missing
    # labels estimated", confident learning's count, over both bounds together (894)
    bounded = (bounds["est_wrong"] + bounds["est_missing"]) if bounds else None
    said_estimate = f"about {estimated:,.0f} wrong or missing labels estimated"
    if bounded is not None and bounded < estimated:
        said_estimate = (f"at most about {bounded:,.0f} wrong or missing labels (the bounds "
                         f"above; confident learning counts {estimated:,.0f})")
        estimated = bounded
    if estimated >= 10 and estimated >= 4 * n_flagged and max_review is None:
        click.echo(f"note: {said_estimate}, "
                   f"{n_flagged:,} flagged (those at least {min_probability:g} likely to "
                   "be errors: --min-probability); to fill a review budget of N rows, "
                   + ("the audit's most likely and the LLM's least confident in turn"
                      if interleaved else "most likely first")
                   + ", audit again with a lower --min-probability (0.05) and --max-review N")
    if "reviewed" in noise:
        section = noise["reviewed"]
        n_files = len(section["files"])
        click.echo(f"left out of the review queue: {left_out:,} flagged candidate"
                   f"{plural_s(left_out)} decided in the earlier review{plural_s(n_files)} "
                   f"(--reviewed: {section['n_decided_pairs']:,} decided pair"
                   f"{plural_s(section['n_decided_pairs'])})"
                   + (f"; {section['n_not_applied']:,} kept, decided there the other way "
                      "from this corpus" if section["n_not_applied"] else ""))
    # without the search a near count of 0 says nothing
    not_searched = " (near duplicates not looked for)" if no_near_duplicates else ""
    # the noun agrees with the count next to it: "1 exact and 1 near pairs" read wrongly
    last = dups["n_exact_pairs"] if not_searched else dups["n_near_pairs"]
    click.echo(f"duplicates: {dups['n_exact_pairs']:,} exact"
               + ("" if not_searched else " and " + (
                   "at least " if dups.get("near_counts_lower_bound") else "")
                  + f"{dups['n_near_pairs']:,} near")
               + f" pair{plural_s(last)}{not_searched}, {dups['n_conflicting_pairs']:,} with "
               "conflicting labels")
    labels = report["labels"]
    on_parent = labels.get("n_docs_on_labels_with_narrower", 0)
    # one label a document, a catalogue: one on a parent category belongs on a leaf (a
    # thesaurus's documents given a broad concept beside narrow ones are no such case,
    # nor a corpus with optional labels: the audit's own reading, detect.is_single_label;
    # nor one coded at the most specific level, no label given beside a broader one
    # (ICD-10: a document on E11 belongs on one of its subcodes)
    if on_parent and (moved or isinstance(broader, dict)):
        n_parents = labels["n_with_narrower_in_use"]
        click.echo(f"on a label that has narrower labels (not a leaf): {on_parent:,} "
                   f"document{plural_s(on_parent)}, {n_parents:,} label{plural_s(n_parents)}"
                   # where: the count alone sent a coder looking for documents that no
                   # review row names (the scores flagged 5 of an ICD corpus's 41)
                   + _where_docs_on_parents(labels, not no_html,
                                            written.get("docs_on_parents")))
    left_off = report.get("broader_left_off")
    if left_off and left_off.get("n_rows"):  # {"skipped": ...}: not read
        click.echo(_broader_left_off_line(left_off, written.get("broader_left_off")))
    for name, leak in report["leakage"].items():
        last = leak["n_exact"] if not_searched else leak["n_near"]
        click.echo(f"leakage into {printable(name)}: {leak['n_exact']:,} exact"
                   + ("" if not_searched else f", {leak['n_near']:,} near")
                   + f" duplicate{plural_s(last)} of training documents (of its "
                   f"{leak['n_docs']:,} "
                   f"document{plural_s(leak['n_docs'])}"
                   # one bracket: "(of its 1 document) (near duplicates ...)" read as two
                   + ("; near duplicates not looked for" if not_searched else "") + ")")
    # labels the audit could not take (a document whose every label is one was audited
    # as unlabelled): the page counts them, the log is silenced by -q
    unknown = report["labels"]["not_in_vocabulary"]
    if unknown["n_occurrences"]:
        from tagsmith.progress import _percent

        n, n_keys = unknown["n_occurrences"], unknown["n_distinct"]
        top = unknown["examples"][0] if unknown["examples"] else None
        click.echo(("not in the vocabulary: " if unknown.get("vocabulary", True) else
                    "naming no label: ")
                   + f"{n:,} label occurrence{plural_s(n)} of {n_keys:,} distinct "
                   f"key{plural_s(n_keys)}"
                   + ("" if top is None else f" ({printable(top['key'])})" if n_keys == 1
                      else f" (most often {printable(top['key'])} x{top['count']:,})")
                   # most of them: the figures above describe a corpus stripped of its
                   # labels (check_audit_corpus warned, which -q silences)
                   # (999 of 1,000 is no "100%": _percent never rounds up to it)
                   + (f", {_percent(n, n + data.Y.nnz)}% of the label occurrences: the "
                      "figures above say little" if n > data.Y.nnz else "")
                   + ", left out of the audit"
                   + (f"; {printable(data.unknown_hint)}" if data.unknown_hint else ""))
    read = report["meta"]["read"]
    if read["n_skipped_lines"]:
        # a folder's file deleted after the listing is no malformed line: worded apart
        gone = read.get("n_missing_files", 0)
        malformed = read["n_skipped_lines"] - gone
        skipped = [f"{n:,} {what}{plural_s(n)}{more}" for n, what, more in (
            (malformed, "malformed line", ""), (gone, "file", " that went missing")) if n]
        click.echo(f"skipped {' and '.join(skipped)} (--on-error skip): give apply-review "
                   "--on-error skip too")
    for key, path in written.items():
        click.echo(f"{key}: {printable(path)}")
    # the queue's own rows: every flagged candidate decided before (--reviewed) leaves
    # none to fill in
    n_rows = len(result.review)
    # the hints go to stderr, none under -q, as the other commands' next: lines do: on
    # stdout, which holds the results alone, -q kept them in a script's output
    if "review" in written and n_rows and max_review != 0 and not obj["quiet"]:
        # the step after an audit is not in its output: say how to apply the review
        from tagsmith._shell import shell_path

        given = [f"{option} {shell_path(value)}" for option, value in
                 (("--vocab", vocab), ("--bundle", bundle)) if value]
        # the labels of VOCAB the audit kept: without them the printed commands read the
        # whole vocabulary (a SKOS file's every concept, where the audit had its
        # --vocab-scheme's), and apply-review refused the review's labels or label
        # offered the LLM labels the audit never had
        selected = _selection_options() if vocab else []
        given.extend(selected)
        if on_error == "skip":
            given.append("--on-error skip")
        if lang != "en":  # its warnings name labels as the review does
            given.append(f"--lang {shell_path(lang)}")
        command = " ".join(["tagsmith apply-review", shell_path(corpus),
                            shell_path(written["review"]), "-o NEW_CORPUS", *given])
        click.echo(f"next: fill in {_decision_field(str(written['review']))} of "
                   f"{printable(written['review'])} (accept or reject), then run: "
                   f"{printable(command)}", err=True)
        if result.scores.source == "heldout" and bundle:
            # a test split audited with the bundle of train: the step after the fix, how
            # the figures reported on it move, was in the README alone
            measure = " ".join(["tagsmith eval", shell_path(bundle), "NEW_CORPUS",
                                "--labels-before", shell_path(corpus)])
            click.echo(f"  then see how the bundle's figures on it move: {printable(measure)}",
                       err=True)
        # the other path (README: an LLM instead of a person deciding the queue) was in
        # the README alone: label asks about the flagged documents, and its output
        # decides the rows left empty
        answers = shell_path(os.path.join(os.path.dirname(str(written["review"])),
                                          "llm.jsonl"))
        # label's --lang is the language of the label names the LLM is shown, as the
        # audit's is of those the review names: without it, an audit --lang fi printed
        # a command that showed the LLM the names in English
        label = " ".join(["tagsmith label", shell_path(written["review"]),
                          f"--vocab {shell_path(vocab) if vocab else 'VOCAB'}",
                          *selected, f"-o {answers}",
                          *([f"--lang {shell_path(lang)}"] if lang != "en" else [])])
        # the corpus an LLM's labels: the same LLM, asked again, answered each flagged
        # document as its labels say, and rejected every row (300 of 300, no change)
        itself = _is_label_output(str(corpus))
        click.echo(f"  or let {'another' if itself else 'an'} LLM decide the rows "
                   + ("(not the one that labelled CORPUS: asked again, it answers as its "
                      "labels say and rejects every row; give label another --llm and "
                      "--cache) " if itself else "")
                   + f"(label's endpoint options: see "
                   f"tagsmith label --help): {printable(label)}, then the command above "
                   f"with --decide-from {printable(answers)}", err=True)
    if "sample" in written:
        from tagsmith._shell import shell_path

        sampled = report["review_sample"]
        strata = sampled.get("strata") or []
        among = "" if len(strata) < 2 else " (" + ", ".join(
            f"{s['n_sampled']:,} of the {s['population']:,} "
            + ("with a flagged candidate" if s["name"] == "flagged" else "others")
            for s in strata) + ")"
        click.echo(f"review sample: {sampled['n_sampled']:,} document"
                   f"{plural_s(sampled['n_sampled'])} drawn at random{among}, "
                   f"{sampled['n_rows']:,} row{plural_s(sampled['n_rows'])} in "
                   f"{printable(written['sample'])}: decide every row (accept a given "
                   "label's row where it does not apply, another's where it does; add rows, "
                   "action add, for labels missing and not shown), then run: tagsmith "
                   f"estimate-noise {printable(shell_path(written['sample']))}")


def _decision_field(review: str) -> str:
    """Where a review's decisions go: a CSV has a decision column, a JSONL review a
    decision key on each line (it has no columns)."""
    from tagsmith.audit.review import review_format

    return ("the decision column" if review_format(review) == "csv"
            else "the decision key of each line")


def _selection_options() -> list[str]:
    """The command's ``--vocab-type``, ``--vocab-scheme`` and ``--vocab-prefix``, as
    options to print in a command for the next step (each value quoted for a shell;
    one beginning with ``-`` joined by ``=``, which no option parser takes for an
    option of its own)."""
    from tagsmith._shell import shell_word

    given = selection_given()
    return [f"{option}{'=' if value.startswith('-') else ' '}{shell_word(value)}"
            for option, key in (("--vocab-type", "types"), ("--vocab-scheme", "schemes"),
                                ("--vocab-prefix", "prefixes")) for value in given[key]]


@cli.command(name="apply-review",
             short_help="Write CORPUS with a review's accepted fixes.",
             help="Write CORPUS with the accepted corrections of REVIEW applied to a new "
             "file.\n\nREVIEW is the audit's review.csv or review.jsonl with the decision "
             f"column (JSONL: each line's decision key) filled in: {DECISION_VALUES}; "
             "case is ignored; empty = not reviewed.")
@vocab_selection
@click.argument("corpus", callback=a_path)
@click.argument("review", callback=a_path)
@click.option("-o", "--output", required=True, callback=a_path,
              help="The new corpus file (.tsv, .csv, .jsonl, "
              "optionally .gz); never the original.")
@click.option("--vocab", callback=a_path,
              help="The vocabulary the audit used (default: the bundle's, or "
              "derived from the corpus); with --bundle, as audit --bundle --vocab took it.")
@click.option("--bundle", callback=a_path,
              help="The bundle whose label space the audit used.")
@click.option("--on-error", type=ERROR_POLICY, default="fail", show_default=True,
              help="As given to the audit (document numbers count the documents read).")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists (it may never be "
              "CORPUS, REVIEW or the vocabulary).")
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of label names in its warnings (as given to the audit).")
@click.option("--decide-from", "decide_from", metavar="LABELS", callback=a_path,
              help="Decide the rows left undecided by LABELS, tagsmith label's output for "
              "the flagged documents (or any corpus): a missing row is accepted where "
              "LABELS gives its document the label, a wrong row where it does not; rows "
              "of documents LABELS lacks stay undecided, a person's decisions stand.")
@click.option("--decide-min-score", type=click.FloatRange(0, 1, min_open=True), default=0.5,
              show_default=True, callback=finite_number(0, 1, min_open=True),
              help="With --decide-from: the least score of a label LABELS gives.")
def apply_review_command(corpus, review, output, vocab, bundle, on_error, force, lang,
                         decide_from, decide_min_score):
    """Write CORPUS with the accepted corrections of REVIEW (the help: ``help=``)."""
    from tagsmith.audit.review import apply_review, text_columns_checked
    from tagsmith.data.readers import current_text_columns

    refuse_unused("--decide-from", bool(decide_from), "decide_min_score")
    _refuse_swapped_review(corpus, review)
    text_columns_checked(current_text_columns())  # before the corpus is read for its labels
    # a million documents read for their labels: a minute with no word
    space, classifier = _label_space_for(corpus, None if bundle else vocab, bundle, on_error,
                                         show_progress=True)
    if vocab and bundle:  # as audit --bundle --vocab read it: VOCAB's names, same ids
        from tagsmith._shell import shell_path
        from tagsmith.cli.vocab_names import read_bundle_vocab, review_space, warn_vocab_differs

        view = read_bundle_vocab(classifier, vocab, bundle, lang)
        # what differs, as suggest, eval and audit warn of it (it was read silently)
        warn_vocab_differs(view, space, vocab, bundle, lang, "apply-review",
                           advice="train on the corrected corpus (tagsmith train "
                                  f"{shell_path(output)} --vocab {shell_path(vocab)})")
        space = review_space(view, space)
    warn_unnamed_language(space, lang)  # a mistyped --lang, as audit and suggest
    # a label space derived from the corpus lacks every label no document carries: "not
    # in the vocabulary" sent the reviewer looking in a vocabulary that was not given
    # with both, VOCAB's: its names, its deprecations (the bundle's vocabulary had none)
    space_name = (printable(vocab) if vocab and bundle else "the bundle's vocabulary"
                  if bundle else "the vocabulary" if vocab else
                  f"the labels {printable(corpus)} uses; no --vocab or --bundle was given: "
                  "give the audit's")
    stats = apply_review(corpus, review, output, space, on_error=on_error, overwrite=force,
                         keep=[p for p in (vocab, bundle) if p], space_name=space_name,
                         lang=lang, decide_from=decide_from,
                         decide_min_score=decide_min_score, show_progress=True)
    if decide_from:
        n_by = stats["review_decided_by_labels"]
        n_unknown = stats["review_undecided_unknown_labels"]
        n_unoffered = stats["review_undecided_not_offered"]
        n_two_ways = stats["review_undecided_two_ways"]
        n_absent = stats["review_undecided"] - n_unknown - n_unoffered - n_two_ways
        # a clause of 0 rows left out, as the closing line's (it printed "0 whose
        # document it does not hold, 0 whose label it lacks where ..." when every row
        # was decided)
        undecided = [f"{n:,} {why}" for n, why in (
            (n_absent, "whose document it does not hold"),
            (n_unknown, "whose label it lacks where the answer named labels the vocabulary "
                        "lacks (one like the label's name: a misspelt name?), several labels "
                        "share, or gave with an invalid confidence"),
            (n_unoffered, "whose label its document's shortlist never offered the LLM"),
            # counted with the documents it lacks, where its warning counted texts
            (n_two_ways, "whose text it answers with other labels in two lines, no line of "
                         "their doc_id telling the answers apart"))
            if n]
        # rows decided beside names the vocabulary lacks, none like the row's label:
        # they were left undecided (43 of 100 on the stop-56 walk), unnamed
        n_beside = stats.get("review_decided_beside_unknown_labels", 0)
        names = ", ".join(f"{printable(name[:100])!r} ({n:,})"
                          for name, n in stats.get("review_beside_unknown_names", ()))
        beside = (f" ({n_beside:,} of them whose answer also named labels the vocabulary "
                  f"lacks, none like the row's label: {names}; tagsmith taxonomy CORPUS "
                  "--extend VOCAB adds labels for what they name)" if n_beside else "")
        click.echo(f"{n_by:,} row{plural_s(n_by)} of {printable(review)} decided by "
                   f"{printable(decide_from)}{beside}; "
                   + ("left undecided: " + ", ".join(undecided) if undecided
                      else "none left undecided"))
    click.echo(f"wrote {stats['n_docs']:,} document{plural_s(stats['n_docs'])} to "
               f"{printable(output)}: {stats['n_added']:,} label{plural_s(stats['n_added'])} "
               f"added, {stats['n_removed']:,} removed in {stats['n_docs_changed']:,} "
               f"document{plural_s(stats['n_docs_changed'])} "
               f"({stats['review_accepted']:,} accepted, {stats['review_rejected']:,} rejected, "
               f"{stats['review_undecided']:,} undecided; {stats['n_already_applied']:,} "
               "already in place)")
    if stats.get("n_kept_marked"):
        # the file's only change for a rejected wrong row: said, not left to be found
        kept = stats["n_kept_marked"]
        click.echo(f"{kept:,} label{plural_s(kept)} a person kept (wrong rows rejected) "
                   f"named in {plural(kept, 'its', 'their')} line's kept_by_review: audit "
                   "--label-confidence reads them as a person's decision, not the LLM's "
                   "doubt")
    if not stats["review_accepted"] and not stats["review_rejected"]:
        # "0 accepted" alone hid that nothing was reviewed; the copy is still written (a
        # script may expect the output to exist), with a warning
        n_rows = stats["review_undecided"]
        rows = (f"none of the {n_rows:,} rows of {printable(review)} has a decision"
                if n_rows > 1 else f"the one row of {printable(review)} has no decision"
                if n_rows else f"{printable(review)} has no rows, so no decision")
        logging.getLogger("tagsmith").warning(
            "%s filled in: %s holds the documents of %s unchanged; fill in %s with %s and "
            "run apply-review again", rows, printable(output), printable(corpus),
            _decision_field(review), DECISION_VALUES)
    if stats["review_accepted"] or stats["review_rejected"]:
        # the walk from raw texts (taxonomy, label, audit, apply-review, distill) ended
        # here with no word of the step after: the audit's "next:" named apply-review,
        # apply-review named nothing, and distill (not train) is the step for an LLM's
        # labels, which keep their scores
        if not (click.get_current_context().obj or {}).get("quiet"):
            click.echo(_next_after_review(corpus, output, vocab, on_error, lang,
                                          bundle=bundle, classifier=classifier), err=True)
    if stats.get("n_narrower_gone"):
        gone = stats["n_narrower_gone"]
        logging.getLogger("tagsmith").warning(
            "%s accepted row%s of %s not applied: %s document no longer carries any of "
            "the row's narrower labels (a review applied before removed them), so the "
            "broader label asked for on their account was not added", f"{gone:,}",
            plural_s(gone), printable(review), "its" if gone == 1 else "each one's")
    if stats.get("n_docs_emptied"):
        emptied = stats["n_docs_emptied"]
        # the corpus's file names as printed everywhere (a control character escaped)
        named = ", ".join(map(printable, stats["docs_emptied"])) + (", ..." if emptied > len(
            stats["docs_emptied"]) else "")
        logging.getLogger("tagsmith").warning(
            "%s document%s left without any label by the review, so written to %s (%s): "
            "train reads such a line as a negative of every label, its right one too; "
            "give %s its right label (accept a missing row, or add one) or remove it",
            f"{emptied:,}", plural_s(emptied), printable(output), named,
            "it" if emptied == 1 else "each")
    if stats.get("n_stale_marks"):
        stale = stats["n_stale_marks"]
        logging.getLogger("tagsmith").warning(
            "%s key%s of added_by_review or kept_by_review named no label of %s line "
            "(edited by hand?): "
            "dropped from the mark", f"{stale:,}", plural_s(stale),
            "its" if stale == 1 else "their")
    if stats.get("n_kept_not_found") or stats.get("n_kept_unscored"):
        # a kept row left unmarked went with no count or word, as stale marks did
        lost, unscored = stats.get("n_kept_not_found", 0), stats.get("n_kept_unscored", 0)
        why = [f"{lost:,} whose text (with its id) is not in the corpus" if lost else "",
               f"{unscored:,} whose line has no scores" if unscored else ""]
        logging.getLogger("tagsmith").warning(
            "%s kept row%s (a wrong row rejected) not named in any line's kept_by_review "
            "(%s): audit --label-confidence cannot read %s as a person's decision",
            f"{lost + unscored:,}", plural_s(lost + unscored), "; ".join(w for w in why if w),
            plural(lost + unscored, "it", "them"))
    if stats["review_repeated"]:
        repeated = stats["review_repeated"]
        click.echo(f"{repeated:,} row{plural_s(repeated)} of {printable(review)} "
                   f"{plural(repeated, 'repeats', 'repeat')} an earlier row's acceptance; "
                   "each correction was applied once")
    if stats["n_skipped_lines"]:
        skipped, gone = stats["n_skipped_lines"], stats["n_missing_files"]
        # a folder's file deleted after the listing is no malformed line: worded apart
        told = [f"{n:,} {plural(n, one, many)} of {printable(corpus)} "
                f"{plural(n, 'was', 'were')} skipped{why} (--on-error skip) and "
                f"{plural(n, 'is', 'are')} not in the new corpus"
                for n, one, many, why in ((skipped - gone, "malformed line", "malformed lines",
                                          ""),
                                         (gone, "file", "files", " as it went missing"))
                if n]
        click.echo("; ".join(told))


def _refuse_swapped_review(corpus: str, review: str) -> None:
    """Refuse ``apply-review review.csv labels.jsonl``, the arguments swapped: the review
    was read as the corpus (a CSV with a text column reads as one) and the corpus then
    failed as a review with 'labels.jsonl:1: missing field 'decision'', naming neither
    the order nor the swap."""
    from tagsmith.audit.review import is_review_file
    from tagsmith.exceptions import ReviewFormatError

    if is_review_file(corpus) and not is_review_file(review):
        raise ReviewFormatError(
            f"CORPUS {printable(corpus)} is an audit's review and REVIEW {printable(review)} "
            "is not: the arguments are CORPUS (the file the audit read) then REVIEW "
            "(its review.csv), swapped here?", path=review)


def _has_text_field(path: str) -> bool:
    """Whether the CSV header (a JSONL file's first object) of apply-review's output
    ``path`` names a ``text`` column; True for a TSV and for anything unreadable (no
    ``--text-column`` to add)."""
    import csv
    import gzip

    name = str(path).lower().removesuffix(".gz")
    if not name.endswith((".csv", ".jsonl")):
        return True
    try:
        with (gzip.open if str(path).lower().endswith(".gz") else open)(
                path, "rt", encoding="utf-8-sig", newline="") as handle:
            first = next((line for line in handle if line.strip()), "")
        if name.endswith(".jsonl"):
            row = json.loads(first)
            return not isinstance(row, dict) or "text" in row
        return "text" in next(csv.reader([first]), [])
    except (OSError, ValueError, EOFError, csv.Error):
        return True


def _next_after_review(corpus: str, output: str, vocab: str | None, on_error: str,
                       lang: str, *, bundle: str | None = None,
                       classifier: TextClassifier | None = None) -> str:
    """The line apply-review ends with: the command that learns from its OUTPUT, distill
    for label's output (an LLM's labels with their scores), train for any other corpus,
    given the vocabulary and the options the review was read with. With --bundle and no
    --vocab, VOCAB is the bundle's (named where its manifest records the file it was
    trained with): train given none derived a vocabulary from the corpus, not the
    bundle's label space, and a corpus of URIs lost the names."""
    from tagsmith._shell import shell_path, shell_word
    from tagsmith.data.readers import current_text_columns

    by_llm = _is_label_output(str(corpus))
    manifest = ((classifier._loaded_manifest or classifier.manifest or {})
                if bundle and not vocab and classifier is not None else {})
    # a bundle trained with no vocabulary (its labels the corpus's keys) records none:
    # train derives the labels from the corrected corpus as it did
    trained = (manifest.get("training") or {}).get("vocab")
    given = ([f"--vocab {shell_path(vocab)}", *_selection_options()] if vocab
             else ["--vocab VOCAB"] if by_llm or trained else [])  # distill needs one
    note = (f" (VOCAB: {printable(trained)}, the vocabulary {printable(bundle)} was "
            "trained with, whose labels the audit used)" if trained else "")
    columns = current_text_columns()
    # a CSV corpus written as CSV (JSONL as JSONL) keeps its own text columns and gets
    # no 'text' one: 'train fixed.csv' was printed without --text-column body, and
    # refused as "no 'text' column in the header"
    if columns and columns != ("text",) and not _has_text_field(output):
        given.append(f"--text-column {shell_word(','.join(columns))}")
    if on_error == "skip":
        given.append("--on-error skip")
    if lang != "en":
        given.append(f"--lang {shell_path(lang)}")
    command = " ".join(["tagsmith", "distill" if by_llm else "train", shell_path(output),
                        *given, "-o STUDENT" if by_llm else "-o BUNDLE"])
    what = ("distil a student from the reviewed LLM labels" if by_llm
            else "train on the corrected corpus")
    return f"next: {what}: {printable(command)}{note}"


@cli.command(name="estimate-noise",
             short_help="Estimate noise from a reviewed random sample.",
             help="Estimate the share of wrong labels and the number of missing ones, with "
             "95% intervals, from SAMPLE: the sample.csv (or .jsonl) that audit "
             "--review-sample drew, every row decided (accept a given label's row where "
             "the label does not apply, another's where it does; rows added with action "
             "add count as missing labels found). Also the precision and recall of the "
             "audit's flagged candidates. Reads the audit's report.json beside SAMPLE "
             "(or --report).")
# not "sample": OPTION_ALIASES spells the library's sample_size so (taxonomy --sample)
@click.argument("sample_file", metavar="SAMPLE", callback=a_path)
@click.option("--report", callback=a_path,
              help="The audit's report.json (default: the one beside SAMPLE).")
@click.option("--json", "as_json", is_flag=True, help="The estimates as one JSON object.")
def estimate_noise(sample_file, report, as_json):
    """Estimates from a reviewed random sample (the help: ``help=``)."""
    from pathlib import Path

    from tagsmith.audit.sample import estimate_from_sample, read_sample_record

    report_path = Path(report) if report else Path(sample_file).parent / "report.json"
    # the report given with --report is no file 'beside SAMPLE' to be told of
    record, bounds = read_sample_record(report_path, None if report else sample_file)
    result = estimate_from_sample(sample_file, record, bounds=bounds)
    if as_json:
        print_json(result)
        return
    for line in _estimate_lines(result):
        click.echo(line)


def _estimate_lines(result: dict) -> list[str]:
    """The text of ``estimate-noise``."""
    def pct(x: float) -> str:
        return f"{100 * x:.2f}%"

    wrong, missing, audit = result["wrong"], result["missing"], result["audit"]
    n, n_docs = result["n_sampled"], result["n_docs"]
    lines = [f"reviewed sample: {n:,} of {n_docs:,} document{plural_s(n_docs)} (seed "
             f"{result['seed']}), {result['given_in_sample']:,} given label"
             f"{plural_s(result['given_in_sample'])}, {result['n_rows_decided']:,} pairs "
             "decided"]
    strata = result.get("strata")
    for stratum in strata or ():
        lines.append(f"  stratum {stratum['name']}: {stratum['n_sampled']:,} of its "
                     f"{stratum['population']:,} document{plural_s(stratum['population'])}, "
                     f"{stratum['wrong_found']:,} wrong and {stratum['missing_found']:,} "
                     "missing found")
    low, high = wrong["interval"]
    lines.append(
        f"wrong labels: {wrong['k']:,} of {wrong['n']:,} given"
        + ("" if wrong["share"] is None else
           f" ({pct(wrong['share'])}{', strata weighted' if strata else ''}, 95% interval "
           f"{pct(low)} to {pct(high)}, {'stratified ' if strata else ''}Wilson): about "
           f"{wrong['corpus_count']:,.0f} ({wrong['corpus_interval'][0]:,.0f} to "
           f"{wrong['corpus_interval'][1]:,.0f}) of the corpus's {result['n_given']:,}"))
    low, high = missing["corpus_interval"]
    added = missing["n_added_by_reviewer"]
    lines.append(
        f"missing labels: {missing['k']:,} found ({added:,} added by the reviewer), "
        f"{missing['per_doc']:.4f} a document: about {missing['corpus_count']:,.0f} in the "
        f"corpus's {n_docs:,} documents (95% interval {low:,.0f} to {high:,.0f}, "
        + ("Fay-Feuer gamma, strata weighted)" if strata else "exact Poisson)"))
    bounds = result["bounds"]

    def bound(value: object) -> str:
        # a report.json may hold null or "NaN" (how tagsmith writes a NaN) for a bound
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            return "n/a"
        return f"{value:,.1f}"

    if bounds:
        lines.append(("the audit's bounds (withheld as not informative) read "
                      if bounds.get("withheld") else "the audit's bounds read ")
                     + f"at most {bound(bounds.get('est_wrong'))} wrong and "
                     f"{bound(bounds.get('est_missing'))} missing"
                     + ("; the missing count's interval lies above that bound: labels go "
                        "missing other than at random here (by habit), which the bound does "
                        "not count"
                        if bounds.get("missing_above_bound") else ""))
    for kind, what in (("wrong", "wrong"), ("missing", "missing"), ("all", "all")):
        prec, rec = audit[kind]["precision"], audit[kind]["recall"]
        parts = []
        if prec["n"]:
            parts.append(f"{prec['k']:,} of {prec['n']:,} flagged confirmed (precision "
                         f"{pct(prec['share'])}, {pct(prec['interval'][0])} to "
                         f"{pct(prec['interval'][1])})")
        else:
            parts.append("none flagged in the sample")
        if rec["n"]:
            parts.append(f"{rec['k']:,} of {rec['n']:,} errors found were flagged (recall "
                         f"{pct(rec['share'])}{', strata weighted' if strata else ''}, "
                         f"{pct(rec['interval'][0])} to "
                         f"{pct(rec['interval'][1])})")
        lines.append(f"audit's candidates ({what}): " + "; ".join(parts))
    lines.append(f"assumes: {result['assumes']}")
    return lines

