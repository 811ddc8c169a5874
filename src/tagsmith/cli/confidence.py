"""``tagsmith calibrate`` and ``tagsmith shift``: confidence you can trust."""

from __future__ import annotations

import os

import click

from tagsmith._plural import and_more, plural, plural_s
from tagsmith.cli import (
    a_path,
    cli,
    finite_number,
    given_on_command_line,
    language_code,
    miss_rate,
    print_json,
    printable,
    warn,
    warn_alpha_too_small,
    warn_unnamed_language,
)
from tagsmith.cli.commands import (
    ERROR_POLICY,
    MOST_FILES_NAMED,
    ON_ERROR_HELP,
    UNKNOWN_LABELS_HELP,
    bundle_vocabulary,
    not_calibrated,
)
from tagsmith.exceptions import DataError, InvalidParameterError

#: what the manifest's ``calibration`` entry records of a ``--data`` corpus: its file
#: name and the fingerprint training records of its own (``training.data_fingerprint``);
#: of the share ``train --calibration-fraction`` set aside, the training corpus's name
#: and fingerprint, the fraction and the seed (:func:`~tagsmith.pipeline.train.
#: calibration_share_origin`); a later calibration on the documents the bundle stored
#: keeps them, and bundles calibrated before have none
CALIBRATION_ORIGIN = ("data", "data_fingerprint", "data_fraction", "data_seed")


def _band_table(rows: list[dict]) -> list[str]:
    lines = [f"{'band (train count)':<20} {'labels':>7} {'entries':>9} {'positives':>9} "
             f"{'mean p':>7} {'rate':>7} {'ECE':>7}"]
    for row in rows:
        mean = "-" if row["mean_probability"] is None else f"{row['mean_probability']:.4f}"
        rate = "-" if row["observed_rate"] is None else f"{row['observed_rate']:.4f}"
        lines.append(f"{printable(row['band']):<20} {row['n_labels']:>7} {row['n_entries']:>9} "
                     f"{row['n_positive']:>9} {mean:>7} {rate:>7} {row['ece']:>7.4f}")
    return lines


#: the help of ``tagsmith calibrate``
CALIBRATE_HELP = """Calibrate BUNDLE: probabilities, thresholds on them, conformal label sets.

Uses documents the model never saw: --data CORPUS, or the calibration split the
bundle stores. The report compares raw and calibrated reliability on the part
of them the calibrator did not see.
"""


@cli.command(short_help="Calibrate BUNDLE: probabilities, conformal sets.", help=CALIBRATE_HELP)
@click.argument("bundle", callback=a_path)
@click.option("--data", callback=a_path,
              help="Labelled corpus the model was NOT trained on; default: the "
              "calibration split stored by train --calibration-fraction.")
@click.option("-o", "--output", callback=a_path,
              help="Write the calibrated bundle here (default: in place).")
@click.option("--method", type=click.Choice(["isotonic", "platt", "temperature"]),
              default="isotonic", show_default=True, help="Score-to-probability map.")
@click.option("--bands", "n_bands", type=click.IntRange(min=1), default=4, show_default=True,
              help="Label frequency bands (shrinkage, threshold back-off, Mondrian sets).")
@click.option("--shrinkage", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Strength of the pull of rare labels toward their band.")
@click.option("--calibrator-source", type=click.Choice(["split", "same"]), default="split",
              show_default=True, help="split: calibrator and conformal sets on disjoint "
              "parts (exact guarantee); same: both on all of it (approximate).")
@click.option("--conformal-fraction", type=float, default=0.5, show_default=True,
              help="Share of the held-out documents for the conformal sets (the rest fit "
              "the calibrator; each part needs at least 5).")
@click.option("--alpha", type=float, default=0.1, show_default=True, callback=miss_rate,
              help="Default miss rate of conformal sets (suggest --sets).")
@click.option("--max-set-size", type=click.IntRange(min=1), default=None,
              help="Sets larger than this abstain (default: 3 x the mean number of true "
                   "labels per conformal document, at least 3).")
@click.option("--lpicp/--no-lpicp", default=None,
              help="Label-powerset sets (default: for label spaces up to 100 labels).")
@click.option("--beta", type=float, default=1.0, show_default=True,
              help="Thresholds maximise F-beta.")
@click.option("--min-precision", type=float, default=None,
              callback=finite_number(0, 1, min_open=True, max_open=True),
              help="Thresholds for this precision per label instead of F-beta (below 1): "
              "each label's lowest whose held-out precision reaches P by the lower end of "
              "its 95% Wilson interval, on documents the calibrator did not fit; a label "
              "that cannot is never predicted (named in a warning).")
@click.option("--min-recall", type=float, default=None,
              callback=finite_number(0, 1, min_open=True, max_open=True),
              help="Thresholds for this recall per label instead of F-beta (below 1): each "
              "label's highest whose held-out recall reaches R by the lower end of its 95% "
              "Wilson interval; a label that cannot is capped at its lowest held-out "
              "positive, not predicted for every document (named in a warning); one with "
              "fewer than 5 held-out positives takes its frequency band's threshold.")
@click.option("--max-labels", type=click.IntRange(min=1), default=None,
              help="Cap the thresholded label sets at this size.")
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=None,
              help="Candidates scored per held-out document (default: every label up to "
              "100, else 50); with --data only.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the split of the held-out documents into the calibrator's "
              "and the conformal parts.")
@click.option("--reliability-png", callback=a_path,
              help="Write a reliability diagram to this new .png file "
              "(never an input; needs matplotlib).")
@click.option("--json", "as_json", is_flag=True, help="The full report as one JSON object.")
@click.option("--on-error", type=ERROR_POLICY, default="fail", show_default=True,
              help=ON_ERROR_HELP)
@click.option("--unknown-labels", type=ERROR_POLICY, default="fail", show_default=True,
              help=UNKNOWN_LABELS_HELP)
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of the label names in warnings.")
@click.pass_obj
def calibrate(obj, bundle, data, output, method, n_bands, shrinkage, calibrator_source,
              conformal_fraction, alpha, max_set_size, lpicp, beta, min_precision, min_recall,
              max_labels, k, seed, reliability_png, as_json, on_error, unknown_labels, lang):
    from tagsmith.cli import refuse_unused
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.confidence import (
        ConfidenceOptions,
        calibrate_classifier,
        heldout_from_corpus,
        untrained_out_of_sets,
    )

    refuse_unused("--calibrator-source split", calibrator_source == "split",
                  "conformal_fraction")
    refuse_unused("--data (the stored calibration split keeps its own width)", bool(data), "k")
    refuse_one_objective(min_precision, min_recall)
    options = ConfidenceOptions(method=method, n_bands=n_bands, shrinkage=shrinkage,
                                calibrator_source=calibrator_source,
                                conformal_fraction=conformal_fraction, alpha=alpha,
                                lpicp=lpicp, beta=beta, max_labels=max_labels,
                                min_precision=min_precision, min_recall=min_recall,
                                max_set_size=max_set_size, seed=seed)
    options.validate()
    check_png_output(reliability_png, "--reliability-png",
                     {"the bundle": bundle, "the --data corpus": data,
                      "the output bundle": output})
    if output:
        from pathlib import Path

        from tagsmith.store.bundle import check_bundle_target

        inside = Path(os.path.realpath(bundle))  # not resolve(): a loop of links raised
        if inside in Path(os.path.realpath(output)).parents:  # written into the input bundle, an
            # unlisted folder there makes it refuse every later in-place calibration
            raise click.BadParameter(f"{output} is inside the input bundle {bundle}; write "
                                     "the calibrated bundle elsewhere, or leave -o out to "
                                     "calibrate in place", param_hint="-o/--output")
        from tagsmith.data.textio import same_file

        # before the work, not after it; -o BUNDLE (or a link to it) is saved in place
        check_bundle_target(output, in_place=same_file(output, bundle))
    classifier = TextClassifier.load(bundle)
    if not output:  # in place: a bundle holding files of its own is refused by the
        # writer, which comes after the work
        from tagsmith.store.bundle import check_bundle_target

        check_bundle_target(bundle, in_place=True)
    classifier.show_progress = True  # -q turns every bar off
    # a mistyped --lang, or labels named in none under the default en, as suggest warns
    warn_unnamed_language(classifier.label_space, lang)
    # where the calibration came from: the manifest named no corpus, only its counts
    # (n_calibrator_docs, n_conformal_docs), so info could not say what it was fitted on
    previous = classifier.manifest.get("calibration") or {}
    origin = {key: previous[key] for key in CALIBRATION_ORIGIN if key in previous}
    if data:
        heldout, fingerprint = _heldout_corpus(classifier, bundle, data, k, on_error,
                                               unknown_labels, heldout_from_corpus)
        # normpath: a folder given as docs/ had the base name "", naming no corpus
        origin = {"data": os.path.basename(os.path.normpath(data)),
                  "data_fingerprint": fingerprint}
    elif classifier.heldout is not None:  # the documents the last calibration stored
        heldout = classifier.heldout
    else:
        # a missing option, not a bad value: "..., got None" read as if one was given.
        # A distilled bundle (distill, label --budget) has no --calibration-fraction to
        # train it again with: its advice was an option distill does not have
        keep = (" (a human-labelled sample, as distill's --human: a distilled bundle keeps "
                "no calibration split)" if "distillation" in classifier.manifest else
                ", or train with --calibration-fraction to keep one")
        raise click.UsageError(f"{printable(bundle)} stores no calibration split: give "
                               f"--data, a labelled corpus the model was not trained on{keep}")
    had_shift = classifier.label_shift is not None
    # its warnings name labels in --lang (a German team read them in English)
    report = calibrate_classifier(classifier, heldout, options=options, lang=lang)
    classifier.manifest["calibration"] = {**classifier.manifest["calibration"], **origin}
    conformal = classifier.conformal
    assert conformal is not None  # calibrate_classifier has just fitted it
    # the bundle's default alpha: suggest --sets would answer every label (lpicp's groups
    # all hold every document)
    # not where the warning of too-wide sets has said it
    warn_alpha_too_small(conformal, [alpha], "--alpha", report["conformal"])
    out_of_sets = untrained_out_of_sets(classifier, lang=lang)
    if out_of_sets:  # once, here and in suggest --sets: in every set, it was noise
        warn(out_of_sets)
    from tagsmith.data.textio import same_file

    # -o BUNDLE (or another name of it) is a save in place too: it was written as a new
    # bundle, dropping a save of BUNDLE another command made while this one ran
    classifier.save(output or bundle, in_place=not output or same_file(output, bundle))
    if reliability_png:  # once the bundle it shows is saved: a failed save leaves no
        # diagram of a calibration that is nowhere (it is written atomically)
        _diagram(classifier, heldout, report, reliability_png)
        report["reliability_png"] = str(reliability_png)  # --json: stdout is one object
    if had_shift:  # estimated on the probabilities just replaced: calibration drops it
        warn(f"the label shift stored in {printable(bundle)} was estimated for the old "
             f"probabilities and is not in {printable(output or bundle)}; run tagsmith "
             "shift --save again to adapt to new label frequencies")
    if as_json:  # with the warnings of the run, which -q hid (as taxonomy's summary)
        print_json({**report, "warnings": obj.get("warnings") or []})
        return
    raw, cal = report["raw"], report["calibrated"]
    n_docs, n_conf = report["n_calibrator_docs"], report["n_conformal_docs"]
    click.echo(f"calibrated ({method}) on {n_docs:,} document{plural_s(n_docs)}; "
               f"conformal sets on {n_conf:,} document{plural_s(n_conf)} "
               f"({report['calibrator_source']}), "
               f"{report['seconds']:.1f}s -> {printable(output or bundle)}")
    # "over the top 28" had no noun: 28 candidate labels of each document
    # --calibrator-source same measures the calibrator on its own documents
    measured = ("in-sample reliability (the calibrator's own documents)"
                if report["calibrator_source"] == "same" else "held-out reliability")
    click.echo(f"{measured} over {_candidates(report['k'], classifier.n_labels)}: "
               f"ECE {raw['ece']:.4f} -> "
               f"{cal['ece']:.4f}, Brier {raw['brier']:.4f} -> {cal['brier']:.4f}, "
               f"top-1 ECE {raw['top1_ece']:.4f} -> {cal['top1_ece']:.4f}")
    for line in _band_table(cal["bands"]):
        click.echo("  " + line)
    thr = report["thresholds"]
    unlearnt = _n_unlearnt(classifier.thresholds)
    # labels without a training document: counted as global ones (at an infinite
    # threshold), or left out of the counts
    also = f", {unlearnt:,} never predicted (no training document)" if unlearnt else ""
    if thr.get("objective") == "precision":
        never = thr["n_unreachable_labels"]
        own = thr["n_tuned_labels"] - never
        docs = ("the conformal documents" if report["thresholds_tuned_on"] == "conformal"
                else "the calibrator's own documents")
        nothing = ("; no label can ever be suggested: suggestions will be empty"
                   if not _n_predictable(classifier.thresholds) else "")
        click.echo(f"thresholds for precision {thr['min_precision']:g} (tuned on {docs}): "
                   f"{own:,} label{plural_s(own)} with one, {never:,} never predicted (no "
                   f"threshold reaches it){also}{nothing}")
    elif thr.get("objective") == "recall":
        docs = ("the conformal documents" if report["thresholds_tuned_on"] == "conformal"
                else "the calibrator's own documents")
        click.echo(recall_thresholds_line(thr, f" (tuned on {docs})",
                                          classifier.n_labels - unlearnt) + also)
        reach = recall_reach_line(report.get("recall_reach"), thr["min_recall"],
                                  report["thresholds_source"])
        if reach:
            click.echo(reach)
    else:
        _print_fbeta_thresholds(thr, classifier.n_labels - unlearnt, also)
    click.echo(f"conformal sets: {', '.join(report['conformal']['methods'])} "
               f"(default alpha {alpha:g})")
    if reliability_png:
        click.echo(f"reliability diagram -> {printable(reliability_png)}")


def refuse_one_objective(min_precision: float | None,
                         min_recall: float | None = None) -> None:
    """--min-precision, --min-recall and --beta: one objective for one set of
    thresholds."""
    if min_precision is not None and min_recall is not None:
        raise click.UsageError("--min-precision and --min-recall are two objectives for "
                               "the thresholds (a precision or a recall per label): give "
                               "one")
    beta = "beta" in click.get_current_context().params and given_on_command_line("beta")
    if min_precision is not None and beta:
        raise click.UsageError("--min-precision and --beta are two objectives for the "
                               "thresholds (a precision per label, F-beta): give one")
    if min_recall is not None and beta:
        raise click.UsageError("--min-recall and --beta are two objectives for the "
                               "thresholds (a recall per label, F-beta): give one")


def recall_thresholds_line(thr: dict, tuned_on: str = "", n_labels: int | None = None
                           ) -> str:
    """How calibrate and train say the thresholds of a ``--min-recall`` (the manifest's
    ``thresholds``): the labels that hold it, those capped short of it, and those of too
    few held-out positives backed off to their band's (and, given ``n_labels``, the
    labels counted, to the global one).

    >>> print(recall_thresholds_line({"min_recall": 0.95, "n_tuned_labels": 21,
    ...     "n_capped_labels": 13, "n_band_labels": 6, "n_unreachable_labels": 1},
    ...     n_labels=28))  # doctest: +NORMALIZE_WHITESPACE
    thresholds for recall 0.95: 7 labels reach it, 13 capped at their lowest held-out
    positive (short of it), 6 from their band, 1 global, 1 never predicted (no held-out
    positive ranked)

    (A label of no held-out positive ranked backs off to its band's or the global
    threshold: "never predicted" is said of thresholds tuned before, where it counts.)
    """
    capped, never = thr.get("n_capped_labels", 0), thr.get("n_unreachable_labels", 0)
    band = thr.get("n_band_labels", 0)
    shared = thr.get("n_capped_shared_labels", 0)
    own = thr["n_tuned_labels"] - capped - never
    n_global = _n_global(thr, n_labels)
    return (f"thresholds for recall {thr['min_recall']:g}{tuned_on}: {own:,} "
            f"label{plural_s(own)} reach{'es' if own == 1 else ''} it, {capped:,} capped at "
            f"{'its' if capped == 1 else 'their'} lowest held-out positive (short of it), "
            f"{band:,} from {'its' if band == 1 else 'their'} band"
            + (f", {n_global:,} global" if n_global > 0 else "")
            + (f" ({shared:,} of them on a band's or the global threshold capped short of "
               "it likewise)" if shared else "")
            + (f", {never:,} never predicted (no held-out positive ranked)" if never else ""))


def recall_reach_line(reach: dict | None, min_recall: float, documents: str = "") -> str:
    """What share of the held-out positives a recall target can reach (calibrate's
    ``recall_reach``), said where the rest is material (at least
    :data:`~tagsmith.pipeline.confidence.MATERIAL_UNREACHABLE` of them): '' otherwise.
    ``documents`` names the documents counted (their ``thresholds_source``), as calibrate
    and train both say them: train's line named none.

    >>> print(recall_reach_line({"n_positives": 23679, "n_reachable": 5968,
    ...     "n_never_learnt": 3031, "n_unranked": 14680, "k": 50,
    ...     "share_reachable": 0.252037}, 0.5, "dev.tsv"))  # doctest: +NORMALIZE_WHITESPACE
    recall 0.5 is of the positives the thresholds can reach: 5,968 of the 23,679 held-out
    positives tuned on (25.2%; dev.tsv); 3,031 are of labels never learnt and 14,680 of
    labels ranked outside each document's top 50 candidates, missed at any threshold
    >>> recall_reach_line({"n_positives": 100, "n_reachable": 100, "n_never_learnt": 0,
    ...     "n_unranked": 0, "k": 28, "share_reachable": 1.0}, 0.9)
    ''
    """
    from tagsmith.pipeline.confidence import MATERIAL_UNREACHABLE

    if not reach or not reach["n_positives"]:
        return ""
    total, reachable = reach["n_positives"], reach["n_reachable"]
    if (total - reachable) / total < MATERIAL_UNREACHABLE:
        return ""
    never, unranked = reach["n_never_learnt"], reach["n_unranked"]
    parts = ([f"{never:,} {plural(never, 'is', 'are')} of labels never learnt"]
             if never else [])
    if unranked:
        k = reach.get("max_labels") or reach["k"]
        verb = "" if never else f" {plural(unranked, 'is', 'are')}"
        parts.append(f"{unranked:,}{verb} of labels ranked outside each document's top "
                     f"{k:,} candidate{plural_s(k)}"
                     # the cap keeps no label ranked below it: those counted too
                     + (f" (the --max-labels cap, of {reach['k']:,} scored)"
                        if reach.get("max_labels") else ""))
    return (f"recall {min_recall:g} is of the positives the thresholds can reach: "
            f"{reachable:,} of the {total:,} held-out positive{plural_s(total)} tuned on "
            f"({100 * reachable / total:.1f}%{'; ' + documents if documents else ''}); "
            f"{' and '.join(parts)}, missed at any "
            "threshold")


def _print_fbeta_thresholds(thr: dict, n_labels: int, also: str = "") -> None:
    # "the rest global" when no label was left (24 own and 4 from their band of 28)
    # read as if some were; the count says it
    band = thr["n_band_labels"]
    n_global = _n_global(thr, n_labels)
    click.echo(f"thresholds: {thr['n_tuned_labels']:,} label{plural_s(thr['n_tuned_labels'])} "
               f"own, {band:,} from {'its' if band == 1 else 'their'} band, {n_global:,} global "
               f"({thr['global']:.4f}){also}")


def _n_global(thr: dict, n_labels: int | None) -> int:
    """The labels on the global threshold of a thresholds summary: its
    ``n_global_labels``, or, in a manifest written before that key, the ``n_labels``
    counted (those learnt) less the tuned and band ones (0 without ``n_labels``).

    >>> _n_global({"n_tuned_labels": 3, "n_band_labels": 2, "n_global_labels": 4}, None)
    4
    >>> _n_global({"n_tuned_labels": 3, "n_band_labels": 2}, 9), _n_global({}, None)
    (4, 0)
    """
    if "n_global_labels" in thr:
        return thr["n_global_labels"]
    if n_labels is None:
        return 0
    return n_labels - thr["n_tuned_labels"] - thr.get("n_band_labels", 0)


def _n_predictable(thresholds) -> int:
    """Labels the thresholds can predict (a finite threshold)."""
    import numpy as np

    return int(np.count_nonzero(~np.isposinf(np.asarray(thresholds.per_label))))


def _n_unlearnt(thresholds) -> int:
    """Labels the model never learnt (no training document), never predicted: not
    their own threshold, an infinite one (calibrate_classifier keeps them so)."""
    import numpy as np

    from tagsmith.calibration.thresholds import FROM_LABEL

    assert thresholds.source is not None
    return int(np.count_nonzero(np.isposinf(thresholds.per_label)
                                & (thresholds.source != FROM_LABEL)))


def _floor_part(tail: dict) -> str:
    """What of eval's expected count of true labels outside the top-k is the tails'
    floor: "expected 43,340.5" (3,729 found) read as an estimate, when 41,849 of it was
    the half observation every label's tail keeps from 0, summed over 27,754 labels that
    300 calibration documents mostly never saw.

    >>> _floor_part({"expected_from_floor_at_least": 41900.04})
    ", at least 41,900.0 of it the tails' floor (half a calibration document per label, by \
design), not evidence"
    >>> _floor_part({"expected_from_floor_at_least": 0.0})
    ''
    """
    floor = tail.get("expected_from_floor_at_least", 0.0)
    if not floor:
        return ""
    return (f", at least {floor:,.1f} of it the tails' floor (half a calibration document "
            "per label, by design), not evidence")


def _candidates(k: int, n_labels: int) -> str:
    """The candidate labels of each document that reliability is measured over.

    >>> _candidates(10, 1000), _candidates(1, 5)
    ("each document's top 10 labels", "each document's top 1 label")
    >>> _candidates(28, 28)
    'all 28 labels of each document'
    """
    if k >= n_labels:
        return f"all {n_labels:,} label{plural_s(n_labels)} of each document"
    return f"each document's top {k:,} label{plural_s(k)}"


def _heldout_corpus(classifier, bundle, data, k, on_error, unknown_labels,
                    heldout_from_corpus):
    from tagsmith.exceptions import AmbiguousLabelError, UnknownLabelError
    from tagsmith.pipeline.io import read_labelled
    from tagsmith.pipeline.train import data_fingerprint

    try:
        corpus = read_labelled(data, classifier.label_space, on_error=on_error,
                               unknown_labels=unknown_labels,
                               vocabulary=bundle_vocabulary(bundle),
                               vocab_option=None)  # the bundle holds it: no --vocab here
    except UnknownLabelError as exc:
        if exc.hint or isinstance(exc, AmbiguousLabelError):
            raise  # what the key is instead (a name in another case) says more
        # a held-out set labelled with this month's vocabulary, calibrating last month's
        # bundle: the bare error said nothing of why or of the way out
        raise exc.advised(
            "a label added since the bundle was trained? the bundle knows only the labels "
            "it was trained with: retrain it (tagsmith train --vocab VOCAB) to calibrate "
            "that label too, or give --unknown-labels skip to calibrate on the labels it "
            "knows, leaving that one out") from None
    # blank texts alone: the calibrator was fitted on the scores of no words
    corpus.require_text(data, "calibrate on", "--data")
    # heldout_from_corpus refuses shuffled copies and subsets by per-text hashes; bundles
    # that predate them have only the fingerprint of the whole training corpus
    trained_on = classifier.manifest.get("training", {}).get("data_fingerprint")
    fingerprint = data_fingerprint(corpus.texts, corpus.Y)
    if trained_on and fingerprint == trained_on:
        raise InvalidParameterError("--data", "documents the model was not trained on",
                                    f"{data} (the training corpus itself)")
    return heldout_from_corpus(classifier, corpus.texts, corpus.Y, k=k, source=str(data),
                               name="--data"), fingerprint


def _diagram(classifier, heldout, report, path) -> None:
    from tagsmith.calibration.reliability import reliability_diagram, reliability_report
    from tagsmith.pipeline.confidence import _split, _unit_scores

    _, part, _ = _split(heldout, _options_from(report), None, None)
    reliability_diagram(
        {"raw": reliability_report(part.Y, _unit_scores(part.topk)),
         "calibrated": reliability_report(part.Y, classifier.calibrator.apply(part.topk))},
        path, title=f"Reliability on {len(part):,} held-out document{plural_s(len(part))}")


def check_png_output(path: str | None, option: str, inputs: dict[str, str | None], *,
                     suffix: str | None = ".png") -> None:
    """Refuse, before any work, a diagram path that would destroy an input or cannot be
    written: no ``.png`` suffix (so a corpus or vocabulary is never overwritten by
    mistake; ``suffix=None``: any name, for a file other than a diagram, which needs no
    matplotlib), one of ``inputs`` (role -> path; a file inside an input directory such
    as a bundle counts), a directory, or a path below a file."""
    if not path:
        return
    from pathlib import Path

    from tagsmith.data.textio import check_writable, same_file
    from tagsmith.exceptions import DataError

    target = Path(path)
    if suffix is not None and target.suffix.lower() != suffix:
        raise InvalidParameterError(option, "a file name ending in .png", str(path))
    resolved = Path(os.path.realpath(target))  # not resolve(): see same_file
    for role, source in inputs.items():
        if not source:
            continue
        source_path = Path(source)
        inside = source_path.is_dir() and resolved.is_relative_to(
            os.path.realpath(source_path))
        same = same_file(target, source_path)
        if inside or same:
            raise InvalidParameterError(option, f"a new file, not {role}"
                                        + (" or a file inside it" if inside and not same
                                           else ""), str(path))
    try:
        check_writable(target)
    except DataError as exc:
        raise DataError(f"{option}: {exc.reason}", path=path) from None
    if suffix is None:  # no diagram: eval --results-file was refused on a core install
        return
    from tagsmith.calibration.reliability import check_plotting

    check_plotting()  # a core install (no tagsmith[plot]) fails before the work


def _clear_shift(classifier, bundle: str, as_json: bool) -> None:
    """shift --clear: remove a stored shift and say whether there was one (--json: as
    one JSON object, which scripts parse; the line of text broke them)."""
    removed = classifier.label_shift is not None
    if removed:  # nothing to remove: the bundle is left as it was, not rewritten
        classifier.label_shift = None
        classifier.save(bundle, in_place=True)
    if as_json:
        print_json({"bundle": str(bundle), "label_shift_removed": removed})
    elif removed:
        click.echo(f"label shift removed from {printable(bundle)}")
    else:
        click.echo(f"no label shift stored in {printable(bundle)}; left as it was")


#: what to do where ``shift --save`` saved nothing since every estimated label is unsupported
_ALL_UNSUPPORTED_REMEDY = ("calibrate on more documents or give more in FILES, or add "
                           "--save-unsupported to apply the estimates anyway")


def _warn_nothing_saved(bundle: str, why: str, n_unsupported: int, stored: bool,
                        remedy: str) -> None:
    """Warn that ``shift --save`` saved nothing, why and what to do (``remedy``): no
    label was estimated (``why="none_estimated"``) or the change of every estimated one
    is unsupported (``"all_unsupported"``). A shift the bundle ``stored`` before stays."""
    kept = (" (the shift it stored before stays; shift --clear removes it)"
            if stored else "")
    if why == "none_estimated":  # "(the warning above says why)": -q hid that warning
        reason = f"the shift of no label could be estimated for lack of evidence ({remedy})"
    else:  # a shift of 60 calibration documents that the report had just called
        # indistinguishable from none was saved, and every probability moved by it
        every = plural(n_unsupported, "the only label", f"all {n_unsupported:,} labels")
        reason = (f"the change of {every} estimated is unsupported (within {_support_z():g} "
                  "standard errors, or on too few calibration positives or negatives: not "
                  "told from no shift). The shift may be genuinely tiny, or too few documents "
                  f"measured it: {remedy}")
    warn(f"--save saved nothing, so {printable(bundle)} is left as it was{kept}: {reason}")


def _warn_unsupported(report: dict) -> None:
    """Warn of the estimated labels whose change the evidence does not support: on
    unshifted GoEmotions documents such labels moved 5-7 times their calibration share
    and made a total variation of 0.23 that nothing in the report told from a shift."""
    from tagsmith.calibration.shift import SUPPORT_Z

    n_unsupported = report["n_labels_unsupported"]
    if not n_unsupported:
        return
    weak = report.get("n_labels_few_calibration_examples",
                      report.get("n_labels_few_calibration_positives", 0))
    # "1 of the 1 label estimated moved ..., 1 of them on fewer than ...": one label
    # (or every one) is said so
    few = (f",{f' {weak:,} of them' if n_unsupported > 1 else ''} on fewer than "
           f"{report['min_calibration_positives']:g} expected positives or negatives "
           f"among the {report['calibration_docs']:,} calibration documents" if weak else "")
    n_estimated = report["n_labels_estimated"]
    which = (plural(n_estimated, "the only label", f"all {n_estimated:,} labels")
             if n_unsupported >= n_estimated
             else f"{n_unsupported:,} of the {n_estimated:,} labels")
    # where every estimated label is unsupported, "without them the shift is 0.0000" was
    # a figure over no label (as the first line's was): it says none is left
    without = (f"without {plural(n_estimated, 'it', 'them')} no estimated label is left to "
               "give a shift" if n_unsupported >= n_estimated else
               f"without them the shift is {report['total_variation_supported']:.4f}")
    warn(f"{which} estimated "
         f"moved within {SUPPORT_Z:g} standard errors or on too few calibration "
         f"positives or negatives{few}: not told from no shift (marked 'unsupported' in the list); "
         f"{without}")


def _headline_shift(report: dict) -> str:
    """What shift's first line gives after "(total variation of label frequencies)": the
    supported labels' total variation where some labels are unsupported, the total
    counting them second. A month with no real shift led with 0.2050, moves of labels on
    under one calibration positive, and the 0.0310 of the supported ones came only in a
    warning; each total is normalised over its own label mix, so the supported one can
    even be the larger. Where no estimated label is supported (usual on unshifted
    documents) the line read "0.0000 over the supported labels" of none: it says so.

    >>> _headline_shift({"total_variation": 0.205, "total_variation_supported": 0.031,
    ...                  "n_labels_unsupported": 3, "n_labels_estimated": 5})
    ' 0.0310 over the supported labels (0.2050 counting the 3 unsupported ones)'
    >>> _headline_shift({"total_variation": 0.205, "total_variation_supported": 0.205,
    ...                  "n_labels_unsupported": 0, "n_labels_estimated": 5})
    ' 0.2050'
    >>> _headline_shift({"total_variation": 0.1513, "total_variation_supported": 0.0,
    ...                  "n_labels_unsupported": 24, "n_labels_estimated": 24})
    ": no estimated label's move is supported (0.1513 counting the 24 unsupported ones)"
    >>> _headline_shift({"total_variation": 0.1513, "total_variation_supported": 0.0,
    ...                  "n_labels_unsupported": 1, "n_labels_estimated": 1})
    ": no estimated label's move is supported (0.1513 counting the unsupported one)"
    """
    n_unsupported = report.get("n_labels_unsupported", 0)
    if not n_unsupported:
        return f" {report['total_variation']:.4f}"
    ones = plural(n_unsupported, "unsupported one", f"{n_unsupported:,} unsupported ones")
    counting = f"({report['total_variation']:.4f} counting the {ones})"
    if n_unsupported >= report.get("n_labels_estimated", n_unsupported + 1):
        return f": no estimated label's move is supported {counting}"
    return f" {report['total_variation_supported']:.4f} over the supported labels {counting}"


def _support_z() -> float:
    from tagsmith.calibration.shift import SUPPORT_Z

    return SUPPORT_Z


def _unsupported_mark(row: dict) -> str:
    """What shift prints after a listed label the evidence does not support (JSON
    ``"supported": false``): its standard error, and its expected calibration positives
    or negatives (the fewer) when fewer than
    :data:`~tagsmith.calibration.shift.MIN_SOURCE_POSITIVES`.

    >>> _unsupported_mark({"supported": True, "standard_error": 0.001})
    ''
    >>> _unsupported_mark({"supported": False, "standard_error": 0.01234,
    ...                    "calibration_positives": 1.0})
    '  unsupported (+-0.0123, 1 calibration positive)'
    >>> _unsupported_mark({"supported": False, "standard_error": 0.01234,
    ...                    "calibration_positives": 4.5})
    '  unsupported (+-0.0123, 4.5 calibration positives)'
    >>> _unsupported_mark({"supported": False, "standard_error": 0.01234,
    ...                    "calibration_positives": 198.0, "calibration_negatives": 2.0})
    '  unsupported (+-0.0123, 2 calibration negatives)'
    """
    from tagsmith.calibration.shift import MIN_SOURCE_POSITIVES

    if row.get("supported", True):
        return ""
    positives = row.get("calibration_positives", MIN_SOURCE_POSITIVES)
    negatives = row.get("calibration_negatives", MIN_SOURCE_POSITIVES)
    count, kind = (negatives, "negative") if negatives < positives else (positives, "positive")
    few = (f", {count:g} calibration {kind}{plural_s(count)}"
           if count < MIN_SOURCE_POSITIVES else "")
    return f"  unsupported (+-{row['standard_error']:.4f}{few})"


def _unseen_words_report(classifier, texts: list[str], top: int) -> dict:
    """shift's ``unseen_words``: :meth:`TextClassifier.unseen_words` (one implementation
    for Python callers and the CLI), with a warning when FILES' share is well above the
    calibration documents' (:func:`tagsmith.features.unseen.report`)."""
    # the warning names 5 words whatever --top lists
    report = classifier.unseen_words(texts, top=max(top, 5))
    named = report.get("top", [])[:5]
    if "top" in report:
        report["top"] = report["top"][:top]
    if report.get("well_above_calibration"):
        words = ", ".join(f"{printable(row['word'])} ({row['count']:,})" for row in named)
        warn(f"{report['share']:.1%} of the word tokens in FILES are words the model has no "
             f"feature for, against {report['calibration_share']:.1%} in its calibration "
             f"documents: new words ({words}) that the shift estimate cannot see, so it may "
             "under-state a shift they carry. Label some of these documents and train again "
             "with them (calibrate --data alone gives the model no feature for the new words; "
             "eval --calibration on them measures what they cost)")
    return report


def _unseen_words_line(unseen: dict) -> str:
    """shift's line on the words outside the vocabulary."""
    if not unseen["measured"]:
        return f"words outside the vocabulary: not measured ({unseen['reason']})"
    recorded = unseen["calibration_share"]
    against = (f"{recorded:.2%} in the calibration documents" if recorded is not None else
               "none recorded for the calibration documents (a bundle calibrated before "
               "tagsmith recorded it: calibrate --data on labelled documents the model "
               "never saw records it, as training it again does; its stored split keeps "
               "no texts to measure)")
    line = (f"words outside the vocabulary: {unseen['share']:.2%} of "
            f"{unseen['n_tokens']:,} word token{plural_s(unseen['n_tokens'])}, against "
            f"{against}")
    if unseen["top"]:
        line += "; most frequent: " + ", ".join(
            f"{printable(row['word'])} ({row['count']:,})" for row in unseen["top"])
    return line


def _options_from(report):
    from tagsmith.pipeline.confidence import ConfidenceOptions

    return ConfidenceOptions(**report["options"])


#: the help of ``tagsmith shift``
SHIFT_HELP = """Estimate how label frequencies in FILES (unlabelled) differ from calibration.

Reads one document per line (or per file with --whole-file; stdin without FILES;
of a .csv or .jsonl corpus, one per record; of a folder, one per .txt file in it,
the documents the corpus reader reads from it, in its order); a file, folder or
stdin whose every document is a lone <URI> (a vocabulary) is refused, as is a SKOS
vocabulary (.ttl...) or a CSV one (a 'uri' column, no 'text').
Only labels with at least --min-count expected occurrences in FILES are
re-estimated; the report says how many, and --save saves nothing when none is.
A listed label that moved within 2 standard errors, or was estimated on fewer than
20 expected calibration positives or negatives, is marked unsupported, with a
warning that gives the shift without such labels; --save keeps such labels at
their calibration share (--save-unsupported applies them too) and says what it saved;
where nothing is left to save, it saves nothing and says so (exit code 0).
The share of FILES' word tokens outside the model's word vocabulary is reported against
the calibration documents' (recorded by train and calibrate), with the most frequent
such words; a warning when it is at least twice that and 1 point above it (in 20
unseen tokens or more).
"""


@cli.command(short_help="Estimate how label frequencies shift in FILES.", help=SHIFT_HELP)
@click.argument("bundle", callback=a_path)
@click.argument("files", nargs=-1, callback=a_path)
@click.option("--method", type=click.Choice(["em", "bbse"]), default="em", show_default=True,
              help="em: Saerens EM; bbse: black-box shift estimation (needs the stored "
              "calibration documents; small label spaces).")
@click.option("--whole-file", is_flag=True, help="Each FILE (or stdin) is one document, not "
              "one per line (refused for a .csv or .jsonl corpus).")
@click.option("--save", is_flag=True, help="Store the shift in BUNDLE: suggestions and "
              "thresholded sets then use the adjusted probabilities. Labels marked "
              "unsupported keep their calibration share (nothing is saved, with a "
              "warning, when every estimated label is unsupported).")
@click.option("--save-unsupported", is_flag=True,
              help="With --save: apply the unsupported labels' estimates too.")
@click.option("--clear", is_flag=True, help="Remove a stored shift from BUNDLE and exit.")
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True,
              help="Labels with the largest change, and words outside the vocabulary, "
              "to list.")
@click.option("--min-count", type=float, callback=finite_number(0), default=50.0,
              show_default=True,
              help="Evidence a label needs to be re-estimated: its expected number of "
              "occurrences in FILES (sum of its probabilities). Labels below it keep their "
              "calibration share; 0 estimates every label (noisy on few documents).")
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of the label names in the report.")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
def shift(bundle, files, method, whole_file, save, save_unsupported, clear, top, min_count,
          lang, as_json):
    from tagsmith.cli import refuse_unused
    from tagsmith.cli.commands import _read_documents
    from tagsmith.pipeline.classifier import TextClassifier
    from tagsmith.pipeline.confidence import estimate_shift

    if save and clear:
        raise click.UsageError("--save and --clear cannot be combined")
    # --clear removes the stored shift and estimates nothing
    refuse_unused("an estimate (not with --clear)", not clear, "files", "method", "whole_file",
                  "top", "min_count", "lang")
    refuse_unused("--save", save, "save_unsupported")
    classifier = TextClassifier.load(bundle)
    if save or clear:  # saved in place: a bundle the writer would refuse (a file of its
        # own beside the model, a read-only folder) is refused before the estimate, as
        # calibrate does
        from tagsmith.store.bundle import check_bundle_target

        check_bundle_target(bundle, in_place=True)
    classifier.show_progress = True  # -q turns every bar off
    if clear:
        _clear_shift(classifier, bundle, as_json)
        return
    warn_unnamed_language(classifier.label_space, lang)
    texts = [text for _, text in _read_documents(files, whole_file, unique_ids=False)]
    # with --whole-file an empty stdin or FILE is one empty document: the shift was
    # estimated on it (exit 0), where the same blank lines read by line were refused
    if not any(text.strip() for text in texts):
        # bad input, as every command refuses a corpus with no documents (exit code 3),
        # naming the files: "parameter 'FILES' must be at least one document" (exit
        # code 2) read as a usage error
        read = [("stdin" if name == "-" else name) for name in files] or ["stdin"]
        if len(read) == 1:
            raise DataError("no documents in FILES: nothing to estimate a shift on",
                            path=read[0])
        # each name as suggest's warning writes it: a newline in one split the message
        raise DataError(f"no documents in FILES ({and_more(read, MOST_FILES_NAMED, printable)}, "
                        "each empty or blank): "
                        "nothing to estimate a shift on")
    if classifier.calibrator is None:  # the library's refusal named no bundle; after the
        # FILES, whose errors (not UTF-8, missing) come first as for every command
        raise not_calibrated("BUNDLE", bundle)
    estimated = estimate_shift(classifier, texts, method=method, min_count=min_count)
    # only the --top labels listed are named (every label was, in a Python loop)
    report = estimated.report(lambda i: classifier.label_space.name_of(i, lang), top=top)
    # a dashboard fed by a monthly `shift --json` keys a label by its URI: label_id is its
    # place in this bundle (a retrained one numbers its labels anew) and label its name
    # in --lang, and neither row named the label as suggest and eval --json do
    report["largest_changes"] = [
        {"label_id": row["label_id"], "uri": classifier.label_space[row["label_id"]].uri,
         **{key: value for key, value in row.items() if key != "label_id"}}
        for row in report["largest_changes"]]
    n_sparse = estimated.n_frozen - estimated.n_flat
    these = ("this document" if estimated.n_docs == 1 else
             f"these {estimated.n_docs:,} document{plural_s(estimated.n_docs)}")
    reasons = [f"{n_sparse} expected fewer than --min-count {min_count:g} times in "
               f"{these}"] if n_sparse else []
    if estimated.n_flat:
        reasons.append(f"{estimated.n_flat} with the same probability in every document "
                       "(which says nothing of their share)")
    unestimated = (f"{estimated.n_frozen} of {estimated.n_labels} "
                   f"label{plural_s(estimated.n_labels)} left at their "
                   f"calibration share: {'; '.join(reasons)}")
    # a lower --min-count helps only labels it left out: not those with one probability
    # in every document (one document, or all alike), nor any when it is 0 already
    lower = " or a lower --min-count" if n_sparse else ""
    # documents the model scores alike (copies of one text): more of them never help
    alike = estimated.n_docs > 1 and estimated.n_flat == estimated.n_labels
    # --save with nothing to save (no label estimated, or every estimate unsupported:
    # usual on a month without a shift) saves nothing, warns and exits 0: it was refused,
    # exit code 2, and a monthly `shift --save` under `set -e` stopped the job there
    not_saved = remedy = None
    if save and estimated.n_estimated == 0:
        not_saved = "none_estimated"
    if estimated.n_estimated == 0:  # "most labels ...; the shift covers only 0 labels"
        # read as a shift of 0 measured, when none was measured at all
        more = "documents that differ" if alike else f"more documents{lower}"
        remedy = f"{more} would estimate some"
        warn(f"no label was estimated for lack of evidence ({unestimated}): the report shows "
             f"the calibration shares unchanged, not a measured shift ({remedy})")
    elif estimated.n_frozen * 2 > estimated.n_labels:
        warn(f"most labels were not estimated for lack of evidence ({unestimated}); the "
             f"shift covers only {estimated.n_estimated} label{plural_s(estimated.n_estimated)} "
             f"(more documents{lower} would cover more)")
    _warn_unsupported(report)
    unseen = _unseen_words_report(classifier, texts, top)
    report["unseen_words"] = unseen
    n_unsupported = report["n_labels_unsupported"]
    skipped = 0 if save_unsupported else n_unsupported
    if save and skipped and skipped >= estimated.n_estimated:
        not_saved, remedy = "all_unsupported", _ALL_UNSUPPORTED_REMEDY
    if not_saved is not None:
        assert remedy is not None  # set with not_saved, in either case
        _warn_nothing_saved(bundle, not_saved, skipped, classifier.label_shift is not None,
                            remedy)
        # the remedy in the JSON too: -q hid every warning that said it
        report.update(saved=None, not_saved=not_saved, not_saved_remedy=remedy,
                      saved_labels=0, saved_unsupported=0, total_variation_saved=None)
    elif save:
        saved = estimated if save_unsupported else estimated.without_unsupported()
        classifier.label_shift = saved
        classifier.save(bundle, in_place=True)
        report["saved"] = str(bundle)
        report["saved_labels"] = estimated.n_estimated - skipped
        report["saved_unsupported"] = n_unsupported if save_unsupported else 0
        report["total_variation_saved"] = round(saved.total_variation(), 6)
    if as_json:
        print_json(report)
        return
    click.echo(f"{method}: {report['n_docs']:,} document{plural_s(report['n_docs'])}, estimated "
               f"shift (total variation of label frequencies){_headline_shift(report)}; "
               f"labels per document {report['labels_per_doc_source']:.3f} -> "
               f"{report['labels_per_doc_target']:.3f}")
    if estimated.n_frozen:
        click.echo(f"{unestimated}, so not estimated")
    for row in report["largest_changes"]:
        click.echo(f"  {row['source_prior']:.4f} -> {row['target_prior']:.4f}  "
                   f"{printable(row['label'])}{_unsupported_mark(row)}")
    click.echo(_unseen_words_line(unseen))
    if not_saved is not None:  # on stdout too: -q hides the warning
        # what to do, not only what went wrong: -q hid the warnings that said it
        click.echo(f"nothing saved: {printable(bundle)} is left as it was ("
                   + (f"no label was estimated: {remedy}" if not_saved == "none_estimated"
                      else "every estimated label is unsupported") + ")")
    elif save:
        n_saved = report["saved_labels"]
        applied = (f"the estimates of {n_saved:,} label{plural_s(n_saved)} (total variation "
                   f"{report['total_variation_saved']:.4f})")
        if save_unsupported and n_unsupported:
            applied += (f", {n_unsupported:,} of {plural(n_unsupported, 'it', 'them')} "
                        "unsupported (--save-unsupported)")
        elif skipped:
            applied += (f"; the {skipped:,} unsupported label{plural_s(skipped)} "
                        f"{plural(skipped, 'keeps its', 'keep their')} calibration share "
                        "(--save-unsupported applies them)")
        click.echo(f"saved in {printable(bundle)}: probabilities are now adjusted to "
                   f"{applied}")
