"""The audit report as JSON (for machines) and as one self-contained HTML page (for people).

The HTML page carries its plots inline (PNG as base64 ``data:`` URIs) and its style
in the page, so it can be mailed or archived as one file. Plots need matplotlib,
an optional extra (``pip install 'tagsmith[report]'``), imported only when a page
with plots is rendered; :func:`check_plotting` fails early with the install hint.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from tagsmith import _plotting
from tagsmith._plural import plural
from tagsmith.audit.health import MAX_EXAMPLES
from tagsmith.data.textio import atomic_text_writer

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;
color:#1d2330;line-height:1.45;padding:0 1rem;overflow-wrap:break-word}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #d8dce5}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}.card{background:#f3f5f9;border-radius:8px;
padding:.6rem .9rem;min-width:9rem}.card b{display:block;font-size:1.3rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}td,th{border:1px solid #d8dce5;
padding:.25rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}.plots{display:flex;flex-wrap:wrap;
gap:1rem}.plots img{max-width:34rem;width:100%}.muted{color:#667}.kind-missing{color:#0a6}
.kind-wrong{color:#c33}small{color:#667}.warn{background:#fff4d6;border-left:4px solid #d90;
padding:.4rem .7rem}
"""


def check_plotting(feature: str = "drawing the plots of the HTML audit report") -> None:
    """Raise :class:`MissingDependencyError` unless matplotlib can be imported
    (``feature`` says what needs it: the command line names its --no-plots)."""
    _plotting.check_plotting("report", feature)


def write_json(report: dict, path: str | Path) -> Path:
    """Write the report as indented strict JSON, atomically: a float JSON cannot hold
    (``-p C=Infinity``) is written as a string, numpy values as plain ones (the report
    records options as given, and the checks accept numpy values there); see
    :mod:`tagsmith._json`."""
    from tagsmith._json import strict

    path = Path(path)
    with atomic_text_writer(path) as out:
        json.dump(strict(report), out, indent=1, ensure_ascii=False, allow_nan=False)
        out.write("\n")
    return path


def write_html(report: dict, path: str | Path, *, plots: bool = True) -> Path:
    """Render :func:`render_html` to ``path``, atomically."""
    page = render_html(report, plots=plots)
    path = Path(path)
    with atomic_text_writer(path) as out:
        out.write(page)
    return path


def _e(value) -> str:
    return html.escape(str(value))


def _num(value) -> str:
    """A number for the page: 4 significant digits below 1, one decimal from 1 on.

    A value just under 1 (or over -1) is cut to 0.9999, not rounded to 1: a candidate's
    error probability of 0.99996 was shown as 1, certain.

    >>> _num(0.99996), _num(-0.99996), _num(0.25), _num(1.0), _num(12345)
    ('0.9999', '-0.9999', '0.25', '1.0', '12,345')
    """
    if isinstance(value, float):
        if abs(value) >= 1:
            return f"{value:,.1f}"
        text = f"{value:,.4g}"
        return text if text not in ("1", "-1") else text.replace("1", "0.9999")
    if isinstance(value, int):
        return f"{value:,}"
    return _e(value)


def _count(n, word: str, many: str | None = None) -> str:
    """A count and its noun for the page, singular for exactly 1 and plural otherwise (a
    decimal estimate such as 1.0 too), thousands separated as :func:`_num` writes them.

    >>> _count(1, "document"), _count(2345, "document"), _count(0, "entry", "entries")
    ('1 document', '2,345 documents', '0 entries')
    >>> _count(1.0, "wrong label")
    '1.0 wrong labels'
    """
    one = isinstance(n, int) and not isinstance(n, bool) and n == 1
    return f"{_num(n)} {word if one else (many or word + 's')}"


def _estimate(value: float) -> str:
    """An estimated count (the audit rounds it to one decimal), one decimal at any size:
    :func:`_num` wrote 0.0 as "0" and 11.0 as "11.0".

    >>> _estimate(0.0), _estimate(0.4), _estimate(11.0), _estimate(12345.0)
    ('0.0', '0.4', '11.0', '12,345.0')
    """
    return f"{value:,.1f}"


def _score(scores: dict, key: str) -> str:
    """A score-quality figure (P@1, recall@10 against the given labels) as the cards
    write P@1, to three decimals; "?" for one a report does not hold.

    >>> _score({"p@1_vs_given": 0.3333}, "p@1_vs_given"), _score({}, "r@10_vs_given")
    ('0.333', '?')
    """
    value = scores.get(key)
    return "?" if value is None else f"{value:.3f}"


def _table(headers: list[str], rows: list[list], numeric: set[int] | None = None, *,
           empty: str = "None.") -> str:
    """A table of ``rows``, or ``empty`` (a sentence) when there is none: a table of
    headers alone (no pair seen often enough for NPMI) read as a rendering fault.

    >>> _table(["label"], [])
    '<p class="muted">None.</p>'
    """
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_num(v)}</td>' if i in numeric else f"<td>{v}</td>"
                         for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


_NO_LANGUAGE = object()


def _named(name: str, lang=_NO_LANGUAGE) -> str:
    """A label name marked with the language it is in (the page is English; screen readers
    pick the pronunciation from ``lang``): ``lang=""`` (unknown) for ``None``, a name that
    is the label's URI; unmarked when the report does not say (one built before it did)."""
    if lang is _NO_LANGUAGE:
        return _e(name)
    return f'<span lang="{_e(lang or "")}">{_e(name)}</span>'


def _document(text: str) -> str:
    """A document's text, marked ``lang=""`` (unknown language): unmarked, it took the
    English of the page, though tagsmith never knows what language a corpus is in (a
    screen reader read Finnish text with English pronunciation). An empty text says so:
    its review candidates showed a blank cell, as if the text had been lost.

    >>> _document(""), _document("a & b")
    ('<span class="muted">(empty text)</span>', '<span lang="">a &amp; b</span>')
    """
    if not text.strip():
        return '<span class="muted">(empty text)</span>'
    return f'<span lang="">{_e(text)}</span>'


def _label(ref: dict) -> str:
    """A label's name and, in small type, its URI; a label whose only name is its URI
    shown once (the page read "http://ex.org/a <http://ex.org/a>" for each label of a
    space derived from the corpus).

    >>> _label({"name": "u:a", "uri": "u:a", "name_lang": None})
    '<span lang="">u:a</span>'
    """
    if ref["name"] == ref["uri"]:
        return _named(ref["name"], ref.get("name_lang", _NO_LANGUAGE))
    return (f'{_named(ref["name"], ref.get("name_lang", _NO_LANGUAGE))} '
            f'<small>&lt;{_e(ref["uri"])}&gt;</small>')


def _cards(report: dict) -> str:
    corpus, labels = report["corpus"], report["labels"]
    cardinality = f'{corpus["cardinality"]:.3g}'
    items = [(plural(corpus["n_docs"], "document", "documents"), _num(corpus["n_docs"])),
             ("labels used", f'{_num(labels["n_used"])} / {_num(corpus["n_labels_in_space"])}'),
             # a mean of exactly 1 (one label each) reads "1 label per document"
             ("label per document" if cardinality == "1" else "labels per document",
              cardinality),
             ("density", f'{corpus["density"]:.3g}')]
    noise = report.get("noise")
    if noise:
        bounds = noise.get("bounds")
        if bounds:
            items += [("wrong labels, at most", f'{100 * bounds["wrong_rate"]:.1f}%'),
                      ("missing labels, at most", f'{100 * bounds["missing_rate"]:.1f}%')]
        else:
            items += [("est. wrong labels", f'{100 * noise["wrong_rate"]:.1f}%'),
                      ("est. missing labels", f'{100 * noise["missing_rate"]:.1f}%')]
        items.append(("flagged", _num(noise["n_flagged_missing"] + noise["n_flagged_wrong"])))
    dups = report.get("duplicates")
    if dups:
        at_least = "at least " if dups.get("near_counts_lower_bound") else ""
        n_pairs = dups["n_exact_pairs"] + dups["n_near_pairs"]
        items.append((plural(n_pairs, "duplicate pair", "duplicate pairs"),
                      at_least + _num(n_pairs)))
    scores = report.get("scores", {})
    if "p@1_vs_given" in scores:
        items.append(("scores' P@1 vs given labels", _score(scores, "p@1_vs_given")))
    # the warnings that qualify these figures stand by them, as the command prints the
    # few-texts one under its rates: the scores' P@1, too few distinct texts for the
    # noise figures, most given labels on rare labels (the stronger note, which
    # switches the small-corpus one off) and a small corpus (all also in the Label
    # noise section)
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{v}</b>{_e(k)}</div>' for k, v in items) + "</div>" + \
        _signal_html(scores) + _signal_html(noise or {}) + \
        _signal_html({"warning": (noise or {}).get("rare_labels_note")}) + \
        _signal_html({"warning": (noise or {}).get("small_corpus_note")})


def _corpus_html(corpus: dict) -> str:
    """The corpus section's other figures (documents without labels, empty texts,
    distinct label sets, labels and words per document): report.json had them, the
    page showed none, so an empty text or an unlabelled document went unseen; empty
    for a report written without them.

    >>> _corpus_html({"n_docs": 12, "n_docs_without_labels": 0, "n_empty_texts": 1,
    ...               "n_distinct_label_sets": 8,
    ...               "labels_per_doc": {"max": 3, "p50": 1.0, "p90": 2.9, "p99": 3.0},
    ...               "words_per_doc": {"mean": 7.58, "p50": 6.0, "p90": 18.7, "p99": 20.0}}
    ... ).split(". ")  # doctest: +NORMALIZE_WHITESPACE
    ['<p>12 documents: 0 without labels, 1 with an empty text; 8 distinct label sets',
     'Labels per document: median 1, 90th percentile 2.9, at most 3',
     'Words per document: mean 7.58, median 6, 90th percentile 18.7.</p>']
    """
    keys = ("n_docs_without_labels", "n_empty_texts", "n_distinct_label_sets",
            "labels_per_doc", "words_per_doc")
    if not all(key in corpus for key in keys):
        return ""
    labels, words = corpus["labels_per_doc"], corpus["words_per_doc"]
    empty = corpus["n_empty_texts"]
    return (f'<p>{_count(corpus["n_docs"], "document")}: '
            f'{_num(corpus["n_docs_without_labels"])} without labels, '
            f'{_num(empty)} with {plural(empty, "an empty text", "empty texts")}; '
            f'{_count(corpus["n_distinct_label_sets"], "distinct label set")}. '
            f'Labels per document: median {labels["p50"]:g}, 90th percentile '
            f'{labels["p90"]:g}, at most {_num(labels["max"])}. Words per document: mean '
            f'{words["mean"]:g}, median {words["p50"]:g}, 90th percentile '
            f'{words["p90"]:g}.</p>')


def _signal_html(scores: dict) -> str:
    """A highlighted warning when the out-of-sample scores recover few given labels (or,
    given the noise section, when the corpus has too few distinct texts)."""
    if not scores.get("warning"):
        return ""
    return f'<p class="warn"><b>Warning:</b> {_e(scores["warning"])}.</p>'


def _warnings_html(warnings: list[str]) -> str:
    """The warnings the audit gave of its own choices (report.json's ``warnings``:
    scores auto not using the n_folds given, a bundle's folds that split equal texts),
    highlighted as the figures' own are; report.json listed them, the page did not.
    None for a report written before the list.

    >>> _warnings_html(["scores auto chose <knn>"])
    '<p class="warn"><b>Warning:</b> scores auto chose &lt;knn&gt;.</p>'
    """
    return "".join(f'<p class="warn"><b>Warning:</b> {_e(warning)}.</p>'
                   for warning in warnings)


def _heldout_bundle(scores: dict) -> str:
    """For the scores line of ``heldout`` scores: whose predictions they are (the page
    read "heldout (linear)", not that a bundle trained elsewhere scored the corpus).

    "Other" documents only where none of the corpus's is one of them
    (``n_corpus_training_docs``: 0); where some are, how many; where that could not be
    checked (a bundle recording no training texts, or a report from before), neither.

    >>> _heldout_bundle({"source": "heldout", "n_train_docs": 43410,
    ...                  "n_corpus_training_docs": 0})
    ', the predictions of a bundle trained on 43,410 other documents'
    >>> _heldout_bundle({"source": "heldout", "n_train_docs": 43410,
    ...                  "n_corpus_training_docs": 42})
    ', the predictions of a bundle trained on 43,410 documents, 42 of them among these'
    >>> _heldout_bundle({"source": "heldout", "n_train_docs": 43410})
    ', the predictions of a bundle trained on 43,410 documents'
    >>> _heldout_bundle({"source": "knn"})
    ''
    """
    if scores.get("source") != "heldout" or not isinstance(scores.get("n_train_docs"), int):
        return ""
    n_in = scores.get("n_corpus_training_docs")
    among = (" other documents" if n_in == 0 else
             f" documents, {n_in:,} of them among these" if isinstance(n_in, int) else
             " documents")
    return _e(f", the predictions of a bundle trained on {scores['n_train_docs']:,}{among}")


def _cooccurrence_weight(scores: dict) -> str:
    """The kNN scores' co-occurrence weight for the scores line (nothing for other
    sources), and with ``auto`` the weights it was chosen among.

    >>> _cooccurrence_weight({"cooccurrence": 1.0, "cooccurrence_auto": {
    ...     "grid": [0.0, 1.0], "p@1_vs_given": [0.25, 0.5]}})
    ', co-occurrence weight 1 (auto: best P@1 vs given labels of 0.250 at 0, 0.500 at 1)'
    """
    if "cooccurrence" not in scores:
        return ""
    text = f', co-occurrence weight {scores["cooccurrence"]:g}'
    auto = scores.get("cooccurrence_auto")
    if auto:
        tried = ", ".join(f"{p:.3f} at {w:g}"
                          for w, p in zip(auto["grid"], auto["p@1_vs_given"], strict=True))
        text += f" (auto: best P@1 vs given labels of {tried})"
    return _e(text)


def _plots(report: dict) -> str:
    check_plotting()
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    images: list[tuple[str, str]] = []  # (title, base64 PNG)

    def emit(fig, ax) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        # the plot's title and axes as its alternative text: every image's was "plot"
        alt = f"{ax.get_title()}: {ax.get_ylabel()} by {ax.get_xlabel()}"
        images.append((alt, base64.b64encode(buffer.getvalue()).decode("ascii")))

    tail = report["labels"]["rank_frequency"]
    if tail["rank"] and len(tail["rank"]) == len(tail["count"]) and max(tail["count"]) > 0:
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        ax.loglog(tail["rank"], tail["count"], color="#2a5caa")
        ax.set(xlabel="label rank", ylabel="documents", title="Long tail of label frequencies")
        emit(fig, ax)
    hist = report["corpus"]["labels_per_doc_histogram"]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.bar(range(len(hist)), hist, color="#2a5caa")
    ax.set(xlabel="labels per document (20 = 20+)", ylabel="documents",
           title="Label cardinality")
    emit(fig, ax)
    noise = report.get("noise")
    bands = [b for b in noise["bands"] if b["n_given"] > 0] if noise else []
    if bands:
        names = [_band(b) for b in bands]
        x = range(len(bands))
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        ax.bar([i - 0.2 for i in x], [b["wrong_rate"] for b in bands], 0.4, label="wrong",
               color="#c33")
        ax.bar([i + 0.2 for i in x], [b["missing_rate"] for b in bands], 0.4, label="missing",
               color="#0a6")
        ax.set_xticks(list(x), names, rotation=45, ha="right")
        ax.set(xlabel="documents per label (band)", ylabel="estimated rate",
               title="Estimated noise rates by label frequency")
        ax.legend()
        emit(fig, ax)
    quality = noise["doc_quality"]["histogram"] if noise else []
    if any(quality):  # a log scale needs a document
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        ax.bar([(i + 0.5) / len(quality) for i in range(len(quality))], quality,
               width=1 / len(quality), color="#2a5caa")
        ax.set_yscale("log")
        ax.set(xlabel="P(all labels right)", ylabel="documents", title="Document quality")
        emit(fig, ax)
    return '<div class="plots">' + "".join(
        f'<img alt="{_e(alt)}" src="data:image/png;base64,{img}">'
        for alt, img in images) + "</div>"


def _top_share(labels: dict, percent: int) -> str:
    """What the top ``percent``% of labels carry, its verb agreeing: ``the top 1% of
    labels (the N most used) carry X%``, or ``the most used label (the top 1% of labels)
    carries X%`` when that share is one label (it read "the top 1% of labels (the most
    used one) carry"); without N (a report.json written before it recorded N) ``the top
    1% of labels carry X%``.

    >>> share = {"share_of_assignments_top_1pct_labels": 0.4}
    >>> _top_share({**share, "n_top_1pct_labels": 1}, 1)
    'the most used label (the top 1% of labels) carries 40.0%'
    >>> _top_share({**share, "n_top_1pct_labels": 3}, 1), _top_share(share, 1)
    ('the top 1% of labels (the 3 most used) carry 40.0%', 'the top 1% of labels carry 40.0%')
    """
    n = labels.get(f"n_top_{percent}pct_labels")
    share = f'{100 * labels[f"share_of_assignments_top_{percent}pct_labels"]:.1f}%'
    if n == 1:
        return f"the most used label (the top {percent}% of labels) carries {share}"
    count = "" if n is None else f" (the {_num(n)} most used)"
    return f"the top {percent}% of labels{count} carry {share}"


def _more(total: int | None, shown: int, what: str) -> str:
    """The line under a table capped at its first rows, saying how many it leaves out:
    Reuters-21578's "Most frequent" table showed 20 of its 90 labels, and its pairs 20 of
    584, with nothing to say the list went on. Empty where the table shows them all.

    >>> _more(90, 20, "label"), _more(21, 20, "pair"), _more(20, 20, "pair")
    ('<p class="muted">… and 70 more labels.</p>', '<p class="muted">… and 1 more pair.</p>', '')
    """
    if total is None or total <= shown:
        return ""
    return f'<p class="muted">… and {_count(total - shown, "more " + what)}.</p>'


#: the page's word where the folder's docs_without_broader.csv, decided while the audit
#: ran, was kept (report.json's ``broader_left_off.table_kept_decided``)
KEPT_TABLE_HTML = ("docs_without_broader.csv is not this audit's: decided while the audit "
                   "ran, it was kept, and these counts are of the table that was not "
                   "written; apply it with <code>tagsmith apply-review</code>, then audit "
                   "again for a new table.</p>")


def _broader_left_off_html(left_off: dict | None) -> str:
    """The pairs (narrower, broader) the corpus codes together almost always and the
    documents given the narrower label without the broader one (report.json's
    ``broader_left_off``; None, no hierarchy, or a report written before it: nothing).

    >>> ref = lambda name: {"id": 0, "uri": name, "name": name, "name_lang": None}
    >>> left = {"min_share": 0.9, "min_docs": 10, "n_pairs": 1, "n_docs": 1, "n_rows": 1,
    ...         "n_in_review": 0, "pairs": [{"narrower": ref("wheat"),
    ...         "broader": ref("grain"), "n_docs": 283, "n_beside": 280, "share": 0.9894,
    ...         "n_left_off": 3}], "docs": [{"doc": 7, "line": 8, "doc_id": "13744",
    ...         "narrower": [ref("wheat")], "broader": ref("grain"), "share": 0.9894,
    ...         "missing_row": None, "review_rows": []}]}
    >>> page = _broader_left_off_html(left)
    >>> "280 of 283" in page and "13744" in page and "no row" in page
    True
    >>> _broader_left_off_html(None)
    ''
    >>> _broader_left_off_html({"skipped": "not read: coded at the most specific level",
    ...                         "n_pairs": 0})  # doctest: +ELLIPSIS
    '<h3>Narrower labels given without their broader label</h3><p class="muted">Not read: ...'
    """
    if left_off and left_off.get("skipped"):
        # a corpus coded at the most specific level: the page said nothing, and a
        # reader could not tell a check not run from one that found nothing
        reason = str(left_off["skipped"])
        return ("<h3>Narrower labels given without their broader label</h3>"
                f'<p class="muted">{_e(reason[:1].upper() + reason[1:])}.</p>')
    if not left_off or not left_off.get("n_pairs"):
        return ""
    top = left_off["pairs"][0]
    parts = [
        "<h3>Narrower labels given without their broader label</h3><p>"
        f'{_count(left_off["n_pairs"], "pair")} of a narrower label and a broader one '
        f'the corpus gives beside it in at least {left_off["min_share"]:.0%} of the '
        f'narrower label\'s documents (of labels given to at least '
        f'{_count(left_off["min_docs"], "document")}); '
        f'{_count(left_off["n_docs"], "document")} carry the narrower label without it: '
        "each may miss the broader label (or the corpus codes it so on purpose). "
        f'{_label(top["broader"])} is given beside {_label(top["narrower"])} in '
        f'{_num(top["n_beside"])} of {_count(top["n_docs"], "document")} '
        f'({top["share"]:.1%}); {_num(top["n_left_off"])} do not carry it. '
        # "16 documents ... asks to add 6 of these 20" mixed two counts: a story without
        # grain beside both wheat and corn is two rows
        f'The review queue asks to add the broader label in {_num(left_off["n_in_review"])} '
        f'of these {_count(left_off["n_rows"], "row")} (a row per document and broader '
        'label); '
        + (KEPT_TABLE_HTML if left_off.get("table_kept_decided") else
           'docs_without_broader.csv lists every one: accept a row in its decision column '
           'and <code>tagsmith apply-review</code> adds the broader label.</p>')
        + _table(["narrower", "broader", "documents", "with broader", "share", "without"],
                 [[_label(p["narrower"]), _label(p["broader"]), p["n_docs"], p["n_beside"],
                   f'{p["share"]:.1%}', p["n_left_off"]] for p in left_off["pairs"][:MAX_EXAMPLES]],
                 {2, 3, 4, 5})
        + _more(left_off["n_pairs"], min(len(left_off["pairs"]), MAX_EXAMPLES), "pair")]
    docs = left_off.get("docs") or []
    if docs:
        parts.append("<h4>Documents without the broader label (first)</h4>" + _table(
            ["doc", "id", "narrower", "broader left off", "review row adding it"],
            [[_e(r["doc"]) + ("" if r.get("line") is None else
                              f'<br><small>line {_e(r["line"])}</small>'),
              "—" if r.get("doc_id") is None else _e(r["doc_id"]),
              # a list (one row per document and broader label); a dict in a report
              # written when a row was one pair
              ", ".join(_label(n) for n in (r["narrower"] if isinstance(r["narrower"], list)
                                            else [r["narrower"]])),
              _label(r["broader"]),
              "no row" if r.get("missing_row") is None else f'#{_e(r["missing_row"])}']
             for r in docs])
            + _more(left_off["n_rows"], len(docs), "row"))
    return "".join(parts)


def _labels_html(labels: dict, single_label: bool = False) -> str:
    """The labels section; ``single_label``: the audit read one label a document (a
    catalogue) or a corpus coded at the most specific level (ICD-10, its
    ``broader_moves``), where a label with narrower ones in use is a product on a parent
    category or a code where a subcode belongs, listed; elsewhere (a thesaurus's
    documents given a broad concept beside narrow ones) it is no error, and the list was
    every broad concept in use."""
    top = _top_share(labels, 1)
    # one label in the top 10% is the one label of the top 1%: its share again
    top_tenth = ("and it is the top 10% of labels too"
                 if labels.get("n_top_10pct_labels") == 1 else _top_share(labels, 10))
    parts = [f'<p>{_count(labels["n_used"], "label")} used; {_num(labels["n_unused"])} unused, '
             f'{_num(labels["n_rare"])} rare (fewer than '
             f'{_count(labels["rare_below"], "document")}), '
             f'{_num(labels["n_deprecated_in_use"])} deprecated but in use. '
             f'{top[:1].upper()}{top[1:]} of the assignments, {top_tenth} '
             f'(Gini {labels["gini"]}; a share of the labels in use is rounded up to whole '
             f'labels, at least one).</p>']
    parts.append("<h3>Most frequent</h3>" + _table(
        ["label", "documents"], [[_label(r), r["count"]] for r in labels["most_frequent"]], {1},
        empty="No label is used.") + _more(labels["n_used"], len(labels["most_frequent"]),
                                           "label"))
    for key, title, total, what in (
            ("unused_examples", "Unused labels (first)", "n_unused", "unused label"),
            ("rare_examples", "Rare labels (rarest first)", "n_rare", "rare label"),
            ("deprecated_in_use", "Deprecated labels in use", "n_deprecated_in_use",
             "deprecated label")):
        if not labels[key]:
            continue
        # the vocabulary's replacements of deprecated labels (a report written before
        # they were read has none)
        replaced = any(r.get("replaced_by") for r in labels[key])
        parts.append(f"<h3>{title}</h3>" + _table(
            ["label", "documents"] + ["replaced by"] * replaced,
            [[_label(r), r.get("count", 0)]
             + [", ".join(_label(x) for x in r.get("replaced_by", [])) or "—"] * replaced
             for r in labels[key]], {1}) + _more(labels[total], len(labels[key]), what))
    # a report written before these were counted has none
    if single_label and labels.get("with_narrower_in_use"):
        parts.append(
            "<h3>Labels in use that have narrower labels</h3><p>"
            f'{_count(labels["n_docs_on_labels_with_narrower"], "document")} carry one: '
            "each may belong on a narrower label (a product on a parent category rather "
            "than a leaf, a code where one of its subcodes belongs).</p>" + _table(
                ["label", "documents", "narrower labels"],
                [[_label(r), r["count"], r["n_narrower"]]
                 for r in labels["with_narrower_in_use"]], {1, 2})
            + _more(labels["n_with_narrower_in_use"], len(labels["with_narrower_in_use"]),
                    "label"))
        # the documents themselves: no review row names those the scores did not flag
        # (a report written before they were listed has none)
        docs = labels.get("docs_on_labels_with_narrower") or []
        if docs:
            # whether each is in the review queue (a report written before has no ranks)
            ranked = all("review_rows" in r for r in docs)
            parts.append("<h4>Documents on them (first)</h4>" + _table(
                ["doc", "id", "label"] + (["review rows"] if ranked else []),
                [[_e(r["doc"]) + ("" if r.get("line") is None else
                                  f'<br><small>line {_e(r["line"])}</small>'),
                  "—" if r.get("doc_id") is None else _e(r["doc_id"]),
                  ", ".join(_label(x) for x in r["labels"])]
                 + ([", ".join(f"#{_e(rank)}" for rank in r["review_rows"]) or "none"]
                    if ranked else []) for r in docs])
                + _more(labels["n_docs_on_labels_with_narrower"], len(docs), "document"))
    unknown = labels["not_in_vocabulary"]
    # none: "0 occurrences of 0 distinct keys named none (such as <>)" said it in riddles
    if unknown.get("vocabulary", True) and not unknown["n_occurrences"]:
        parts.append("<h3>Labels missing from the vocabulary</h3><p>None: every label key "
                     "of the corpus names a label of the vocabulary.</p>")
    elif unknown.get("vocabulary", True):
        parts.append(f'<h3>Labels missing from the vocabulary</h3><p>'
                     f'{_count(unknown["n_occurrences"], "occurrence")} of '
                     f'{_count(unknown["n_distinct"], "distinct key")}.</p>')
    elif not unknown["n_occurrences"]:
        parts.append("<h3>Label keys that name no label</h3><p>No vocabulary was given: "
                     "the labels are the corpus's own, and every key names one (none is "
                     "such as <code>&lt;&gt;</code>).</p>")
    else:  # "0 occurrences" there read as every label checked against a vocabulary
        parts.append(f'<h3>Label keys that name no label</h3><p>No vocabulary was given: '
                     "the labels are the corpus's own, and "
                     f'{_count(unknown["n_occurrences"], "occurrence")} of '
                     f'{_count(unknown["n_distinct"], "distinct key")} named none (such as '
                     "<code>&lt;&gt;</code>).</p>")
    if unknown["examples"]:
        parts.append(_table(["key", "occurrences"],
                            [[_named(r["key"], None), r["count"]] for r in unknown["examples"]],
                            {1}) + _more(unknown["n_distinct"], len(unknown["examples"]), "key"))
    return "".join(parts)


def _cooccurrence_html(section: dict) -> str:
    def rows(items, with_npmi):
        return [[_label(r["a"]), _label(r["b"]), r["count"]] + ([r["npmi"]] if with_npmi
                                                                 else []) for r in items]

    return (f'<p>{_count(section["n_pairs"], "distinct co-occurring pair")}.</p>'
            "<h3>Most frequent pairs</h3>"
            + _table(["label", "label", "documents"], rows(section["top_by_count"], False), {2},
                     empty="No document has two labels.")
            + _more(section["n_pairs"], len(section["top_by_count"]), "pair")
            + "<h3>Most strongly associated pairs (NPMI, at least "
            f'{_count(section["npmi_min_count"], "document")})</h3>'
            + _table(["label", "label", "documents", "NPMI"], rows(section["top_by_npmi"], True),
                     {2, 3}, empty="No pair of labels shares at least "
                     f'{_count(section["npmi_min_count"], "document")}.'))


def _band(band: dict) -> str:
    """A frequency band's counts of documents per label: ``2–3``, and ``1`` (not
    ``1–1``) for a band of one count, such as the unused labels' ``0``.

    >>> _band({"min_count": 2, "max_count": 3}), _band({"min_count": 0, "max_count": 0})
    ('2–3', '0')
    """
    low, high = band["min_count"], band["max_count"]
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _tighter(bounds: dict, noise: dict, where: str = "above") -> str:
    """How the bounds compare with the confident counts, as they are here: the page said
    "much tighter" even where a bound was above its count (a small corpus, a weak scorer).
    ``where`` the counts stand on the page: "below" where the small-corpus note puts the
    bounds first (the page pointed "above" at counts that followed).

    >>> _tighter({"est_wrong": 5.0, "est_missing": 9.0}, {"est_wrong": 7.0, "est_missing": 20.0})
    'are tighter than the counts above'
    >>> _tighter({"est_wrong": 9.0, "est_missing": 9.0}, {"est_wrong": 7.0, "est_missing": 20.0})
    'are tighter than the count above for missing labels (for wrong ones, the count is)'
    >>> _tighter({"est_wrong": 9.0, "est_missing": 29.0}, {"est_wrong": 7.0, "est_missing": 20.0})
    'are not tighter than the counts above here'
    >>> _tighter({"est_wrong": 9.0, "est_missing": 9.0}, {"est_wrong": 7.0, "est_missing": 20.0},
    ...          "below")
    'are tighter than the count below for missing labels (for wrong ones, the count is)'
    """
    wrong = bounds["est_wrong"] < noise["est_wrong"]
    missing = bounds["est_missing"] < noise["est_missing"]
    if wrong and missing:
        return f"are tighter than the counts {where}"
    if not wrong and not missing:
        return f"are not tighter than the counts {where} here"
    tight, loose = ("missing labels", "wrong ones") if missing else ("wrong labels",
                                                                     "missing ones")
    return f"are tighter than the count {where} for {tight} (for {loose}, the count is)"


def _bounds_html(bounds: dict | None, noise: dict, where: str = "above") -> str:
    if not bounds:
        # withheld as not informative (little signal, or vacuous): say so, not stay silent
        note = noise.get("bounds_note")
        return f'<p class="warn"><b>No bounds:</b> {_e(note)}.</p>' if note else ""
    return (f'<p>Upper bounds by mixture proportion: at most {_estimate(bounds["est_wrong"])} '
            f'wrong labels ({100 * bounds["wrong_rate"]:.2f}% of given labels) and '
            f'{_estimate(bounds["est_missing"])} missing ones ({100 * bounds["missing_rate"]:.2f}% '
            'of true labels). They compare the probabilities of given and not-given pairs '
            '(missing labels taken as missing at random, at one rate for every label, wrong '
            f'ones as equally likely for every label) and {_tighter(bounds, noise, where)}, but '
            'they too include '
            'the pairs the scorer cannot tell apart. They hold only as far as errors fall at '
            f'random{_tail_html(bounds.get("missing_tail"))}: labels left off some labels '
            'more often than others, as by a habit of the indexers (Reuters-21578 gives '
            '<i>dlr</i> without <i>money-fx</i>, <i>wheat</i> without <i>grain</i>), '
            'make their label score lower (the scorer learns the habit), are not counted, '
            'and the missing bound then reads under the truth (Reuters-21578: at most '
            '23.6, where a reviewer found at least 26).'
            + _raised_html(bounds) + '</p>')


def _tail_html(tail: dict | None) -> str:
    """Where the missing bound was read (:func:`tagsmith.audit.detect.mixture_bounds`'
    ``missing_tail``), empty for a report written before it was recorded.

    >>> print(_tail_html({"threshold": 0.9912, "share_of_given": 0.22, "n_not_given": 1.0}))
    ... # doctest: +NORMALIZE_WHITESPACE
    ; the missing one rests on the 22% of given labels scored 0.9912 and above, among
    which 1 pair not given scores, and counts no missing label scored below them
    """
    if not tail:
        return ""
    count = round(tail["n_not_given"])  # weighted: the background sample stands for many
    return (f'; the missing one rests on the {100 * tail["share_of_given"]:.0f}% of given '
            f'labels scored {_num(tail["threshold"])} and above, among which '
            f'{_count(count, "pair")} not given score{"s" if count == 1 else ""}, and '
            "counts no missing label scored below them")


def _raised_html(bounds: dict) -> str:
    """The sentence saying which bounds were raised to the audit's own count of likely
    flagged candidates (:func:`tagsmith.audit.detect.floor_bounds`), empty where none was
    (or for a report written before they were).

    >>> print(_raised_html({"raised_to_flagged": ["missing"], "n_flagged_likely":
    ...     {"wrong": 8, "missing": 33}, "by_mixture": {"est_wrong": 161.9,
    ...     "est_missing": 23.6}}))  # doctest: +NORMALIZE_WHITESPACE
     The missing bound is raised to the 33 flagged candidates more likely errors than not
     (by mixture proportion: 23.6): an "at most" below them would contradict them, and
     the assumption fails here.
    """
    raised = bounds.get("raised_to_flagged") or []
    if not raised:
        return ""
    parts = [f'the {_num(bounds["n_flagged_likely"][kind])} flagged {kind} candidates'
             if len(raised) > 1 else
             f'the {_num(bounds["n_flagged_likely"][kind])} flagged candidates'
             for kind in raised]
    mixture = ", ".join(f'{_estimate(bounds["by_mixture"][f"est_{kind}"])}'
                        + (f" {kind}" if len(raised) > 1 else "") for kind in raised)
    return (f' The {" and ".join(raised)} bound{"s are" if len(raised) > 1 else " is"} '
            f'raised to {" and ".join(parts)} more likely errors than not (by mixture '
            f'proportion: {mixture}): an "at most" below them would contradict them, and '
            'the assumption fails here.')


def _queue_html(noise: dict, max_review: int | None) -> str:
    """What the review queue holds when ``--max-review`` cut it short of the flagged
    pairs (nothing otherwise): the page gave the flagged counts alone, as if the review
    file held them all, where the command said the queue held fewer or none.

    >>> _queue_html({"n_flagged_missing": 2, "n_flagged_wrong": 3}, 1)
    ' The review queue holds the 1 most likely of them (--max-review).'
    >>> _queue_html({"n_flagged_missing": 2, "n_flagged_wrong": 3}, 0)
    ' The review queue is empty (--max-review 0).'
    >>> _queue_html({"n_flagged_missing": 2, "n_flagged_wrong": 3, "n_review_rows": 2}, 1)[:65]
    ' The review queue holds the 2 most likely of them (--max-review 1'
    >>> _queue_html({"n_flagged_missing": 2, "n_flagged_wrong": 3}, 5)
    ''

    Under ``--label-confidence`` the queue takes two lists in turn, its probability
    column out of order: "the most likely" was not what it held.

    >>> _queue_html({"n_flagged_missing": 2, "n_flagged_wrong": 3, "method": {
    ...     "label_confidence": {"n_wrong_cap": 3}}}, 1)[:74]
    " The review queue holds the first 1 of them, the audit's most likely and t"
    """
    reviewed = noise.get("reviewed")
    left_out = reviewed["n_left_out"] if reviewed else 0
    said = ""
    if reviewed:
        said = (f" {_num(left_out)} of them {'was' if left_out == 1 else 'were'} decided in "
                f"the earlier review{'' if len(reviewed['files']) == 1 else 's'} given "
                "(--reviewed) and left out of the review queue"
                + (f"; {_num(reviewed['n_not_applied'])} decided there the other way from "
                   "the corpus are kept in it" if reviewed["n_not_applied"] else "") + ".")
    flagged = noise["n_flagged_missing"] + noise["n_flagged_wrong"] - left_out
    if max_review is None or max_review >= flagged:
        return said
    if max_review == 0:
        return said + " The review queue is empty (--max-review 0)."
    rows = noise.get("n_review_rows", max_review)  # a report written before has none

    def held(n: int) -> str:
        # --label-confidence: the queue takes two lists in turn, not the most likely
        return (f"the first {_num(n)} of them, the audit's most likely and the LLM's "
                "least confident in turn" if _interleaved(noise) else
                f"the {_num(n)} most likely of them")
    if rows > max_review:
        return said + (f" The review queue holds {held(rows)} "
                       f"(--max-review {_num(max_review)}, raised to keep its first move "
                       "whole).")
    if rows < max_review:
        return said + (f" The review queue holds {held(rows)} "
                       f"(--max-review {_num(max_review)}, less the half of a move it would "
                       "cut in two).")
    return said + f" The review queue holds {held(max_review)} (--max-review)."


def _interleaved(noise: dict) -> bool:
    """Whether ``--label-confidence`` interleaved the queue (its two lists in turn: the
    probability column out of order)."""
    rule = (noise.get("method") or {}).get("label_confidence")
    return isinstance(rule, dict) and "n_wrong_cap" in rule


def _moves_html(noise: dict) -> str:
    """In a single-label collection, or one coded at the most specific level, that a
    wrong and a missing row of one document are one move (nothing otherwise, and for a
    report written before the pairing), and how many documents given no label a
    single-label one was taken to hold all the same.

    >>> _moves_html({"method": {"single_label": {"n_wrong_added": 2, "n_missing_added": 1,
    ...                                          "n_unpaired": 0}}})[:60]
    ' Every document has one label: a flagged wrong label and a f'
    >>> _moves_html({"method": {"single_label": {"n_wrong_added": 2, "n_missing_added": 1,
    ...              "n_unpaired": 0, "n_docs_without_labels": 1}}})[:70]
    ' Every document given a label has one (1 document has none, taken as n'
    >>> "only if each document has one label" in _moves_html({"one_label_note": "x",
    ...     "method": {"single_label": {"n_wrong_added": 2, "n_missing_added": 1}}})
    True
    >>> _moves_html({"method": {"single_label": False}}), _moves_html({})
    ('', '')
    >>> _moves_html({"method": {"single_label": False, "broader_moves": {"n_moves": 2}}})[:52]
    ' The corpus is coded at the most specific level (no '
    """
    paired = (noise.get("method") or {}).get("single_label")
    broader = (noise.get("method") or {}).get("broader_moves")
    if isinstance(broader, dict) and broader.get("n_moves"):
        return (" The corpus is coded at the most specific level (no document is given a "
                "label beside a broader one of it): a broader label given where a narrower "
                "one is flagged missing is one move, two adjacent rows of the review queue "
                "(wrong first); accept both to replace it, as accepting the narrower one "
                f'alone leaves the document on both ({_num(broader["n_moves"])} such '
                f'move{"s" if broader["n_moves"] != 1 else ""}).')
    if not isinstance(paired, dict):
        return ""
    # a report written before documents given no label were tolerated has no count
    n_unlabelled = paired.get("n_docs_without_labels", 0)
    every = ("Every document has one label" if not n_unlabelled else
             f"Every document given a label has one ({_count(n_unlabelled, 'document')} "
             f"{'has' if n_unlabelled == 1 else 'have'} none, taken as not yet labelled: "
             "a flagged missing row of one stands alone)")
    return (f" {every}: a flagged wrong label and a flagged "
            "missing one of a document are one move, two adjacent rows of the review queue "
            "(wrong first); accept both to move it "
            # the one-label warning below says the given label may be right (named:
            # the small-corpus warning may stand below it too)
            + ("only if each document has one label, see the one-label warning below "
               if noise.get("one_label_note") else "")
            + f'({_num(paired["n_wrong_added"] + paired["n_missing_added"])} of the rows '
            "were flagged as the other half of such a move).")


def _copies_html(noise: dict) -> str:
    """What the copies rule (``audit --copies-majority``, :func:`tagsmith.audit.detect.
    flag_copies`) flagged, as the command says it (nothing where it was off, or flagged
    nothing): the page said nothing of why rows on copies of one text sat at the top of
    its queue.

    >>> _copies_html({"method": {"copies": {"n_texts": 3, "n_missing": 1, "n_wrong": 2,
    ...                                     "n_ties": 1, "n_added": 1,
    ...                                     "n_flagged_before": 0}}})[:75]
    ' Copies of one text disagree on 3 labels: 1 missing and 2 wrong rows flagge'
    >>> _copies_html({"method": {}}), _copies_html({})
    ('', '')
    """
    copies = (noise.get("method") or {}).get("copies")
    if not isinstance(copies, dict):
        return ""
    raised = copies.get("n_missing", 0) + copies.get("n_wrong", 0)
    n_ties = copies.get("n_ties", 0)
    if not raised and not n_ties:
        return ""
    ties = (f" {_count(n_ties, 'tie')} (as many copies each side: one is wrong, not which) "
            "kept the scores' own probability and {} in the queue only where the scores "
            "flag {}.".format(*(("is", "it") if n_ties == 1 else ("are", "them")))
            if n_ties else "")
    return (f" Copies of one text disagree on {_count(copies['n_texts'], 'label')}: "
            f"{_num(copies['n_missing'])} missing and {_num(copies['n_wrong'])} wrong rows "
            "flagged by the copies' majority (--copies-majority: a label most copies carry "
            "is missing on the others, one a minority carries wrong), "
            f"{_num(copies.get('n_flagged_before', 0))} of them flagged by the scores "
            f"already; the queue's copies column says how many copies carry each.{ties}")


def _label_confidence_html(noise: dict) -> str:
    """The sentence saying where the flagged wrong rows of ``--label-confidence`` come
    from: beside "Estimated N wrong labels" the count read as the audit's own, though
    half the queue was the LLM's least confident labels (GoEmotions: 1,077 flagged
    beside an estimate of 742.5, unexplained).

    >>> _label_confidence_html({"method": {"label_confidence": {
    ...     "n_wrong_flagged_by_audit": 965, "n_wrong_flagged_by_llm": 1077,
    ...     "n_llm_expected_wrong": 1077, "n_wrong_cap": 1077}}})[-84:]
    'the larger of the audit&#x27;s count and the LLM&#x27;s expected one, not their sum.'
    >>> _label_confidence_html({"method": {}})
    ''

    The cap binds the two lists only: --band-budget-below's labels, --copies-majority's
    copies and a single-label corpus's pairs flag wrong rows beside them, so "at most
    N wrong rows are flagged" stood beside "Flagged for review: M wrong", M above N.

    >>> _label_confidence_html({"n_flagged_wrong": 11, "method": {"label_confidence": {
    ...     "n_wrong_flagged_by_audit": 7, "n_wrong_flagged_by_llm": 8,
    ...     "n_llm_expected_wrong": 8, "n_wrong_cap": 8}}}).split("their sum")[1][:62]
    '; the other wrong rows flagged (11 in all) are outside the two'
    """
    rule = (noise.get("method") or {}).get("label_confidence")
    if not rule or "n_wrong_cap" not in rule:
        return ""
    cap = int(rule["n_wrong_cap"])
    n_wrong = int(noise.get("n_flagged_wrong", 0))
    # --copies-majority's rows flagged after the two lists: "the audit's X and the
    # LLM's Y" did not add up to the wrong rows flagged. Said after the cap, which does
    # not cover them (before it, "at most N" read as if it did)
    n_copies = int(rule.get("n_wrong_flagged_by_copies") or 0)
    copies = (f"; --copies-majority's {_num(n_copies)} more are flagged by its copies' "
              "majority, outside the two lists and their cap" if n_copies else "")
    # "the other wrong rows" beyond the copies' rows, said beside them: 9 flagged, 8 by
    # the lists and 1 by the copies, named the copies' row twice
    others = (f"; the other wrong rows flagged ({_num(n_wrong)} in all) are outside the "
              "two lists (--band-budget-below, --copies-majority, a single-label corpus's "
              "pairs)" if n_wrong > cap + n_copies else "")
    return html.escape(
        " With --label-confidence the wrong rows come from two lists taken in turn: the "
        f"audit's ({_num(rule['n_wrong_flagged_by_audit'])} within its budget) and the "
        f"LLM's least confident labels ({_num(rule['n_wrong_flagged_by_llm'])}; it expects "
        f"{_num(rule['n_llm_expected_wrong'])} of its labels wrong); two estimates of the "
        f"same errors, so at most {_num(cap)} of their wrong rows are flagged, the "
        f"larger of the audit's count and the LLM's expected one, not their sum"
        f"{copies}{others}.")


def _noise_html(noise: dict, candidates: list[dict], scores: dict,
                max_review: int | None = None) -> str:
    # where the small-corpus note fires, the bounds and the note lead the section and
    # confident learning's figures follow, said to be inflated: 500 GoEmotions comments
    # (5% wrong, 10% missing planted) were headlined "71.97% of true labels" missing,
    # and a document quality of 0.24, with the bounds and the warning below them
    small = bool(noise.get("small_corpus_note") and noise.get("bounds"))
    lead = (_bounds_html(noise.get("bounds"), noise, "below")
            + _signal_html({"warning": noise.get("small_corpus_note")})) if small else ""
    parts = [lead + ("<p>Confident learning's estimates, inflated at this size (see the "
                     "warning above): " if small else "<p>Estimated ")
             + f'{_estimate(noise["est_wrong"])} wrong labels '
             f'({100 * noise["wrong_rate"]:.2f}% of given labels) and '
             f'{_estimate(noise["est_missing"])} missing ones ({100 * noise["missing_rate"]:.2f}% '
             f'of true labels). Flagged for review: {_num(noise["n_flagged_wrong"])} wrong, '
             f'{_num(noise["n_flagged_missing"])} missing, in '
             f'{_count(noise["n_docs_with_flagged"], "document")}.'
             f'{_queue_html(noise, max_review)}{_moves_html(noise)}{_copies_html(noise)}'
             f'{_label_confidence_html(noise)}</p>'
             '<p class="muted">These are confident-learning estimates: they count the pairs '
             "the out-of-sample scores confidently disagree with, so a weak scorer inflates "
             f'them (here P@1 against the given labels is {_score(scores, "p@1_vs_given")}, '
             f'recall@10 {_score(scores, "r@10_vs_given")}). '
             "Compare labels and bands with them rather than reading them as the true noise "
             + ("level; the review queue takes the audit's flagged pairs, most likely "
                "first, and the LLM's least confident labels, least confident first, in "
                "turn (--label-confidence), so its probability column need not be in "
                "order.</p>"
                if _interleaved(noise) else
                "level; the review queue is ranked by the probability of each pair being "
                "an error.</p>") + ("" if small else _bounds_html(noise.get("bounds"), noise))
             + _signal_html(scores) + _signal_html(noise)
             + _signal_html({"warning": noise.get("rare_labels_note")})
             + _signal_html({"warning": noise.get("one_label_note")})
             + ("" if small else _signal_html({"warning": noise.get("small_corpus_note")}))
             + _quality_html(noise.get("doc_quality"), inflated=small)]
    parts.append("<h3>By label frequency</h3>" + _table(
        ["documents per label", "labels", "given", "est. wrong rate", "est. missing rate",
         "flagged wrong", "flagged missing"],
        [[_band(b), b["n_labels"], b["n_given"], b["wrong_rate"] if b["n_given"] else "–",
          b["missing_rate"], b["n_flagged_wrong"], b["n_flagged_missing"]]
         for b in noise["bands"]], {1, 2, 3, 4, 5, 6}))
    for key, title in (("noisiest_by_wrong_rate", "Labels most often given wrongly"),
                       ("noisiest_by_missing_rate", "Labels most often missing")):
        rows = noise[key]
        parts.append(f'<h3>{title} (at least '
                     f'{_count(noise["label_min_support"], "document")})</h3>'
                     + _table(["label", "given", "threshold", "est. wrong", "est. wrong rate",
                               "est. missing", "est. missing rate", "flagged wrong",
                               "flagged missing"],
                              [[_label(r), r["n_given"], r.get("threshold", "–"),
                                r.get("est_wrong", "–"), r["wrong_rate"],
                                r.get("est_missing", "–"), r["missing_rate"],
                                r.get("n_flagged_wrong", "–"), r.get("n_flagged_missing", "–")]
                               for r in rows], {1, 2, 3, 4, 5, 6, 7, 8},
                              empty="No label is given to at least "
                              f'{_count(noise["label_min_support"], "document")}.')
                     + _unflagged_rates_html(rows, key.endswith("missing_rate")))
    if candidates:
        parts.append(f"<h3>Top review candidates{_shown_of(noise, max_review, len(candidates))}"
                     "</h3>" + _table(
            ["#", "kind", "label", "probability", "given labels", "text"],
            [[c["rank"], f'<span class="kind-{c["kind"]}">{c["kind"]}</span>',
              _label({"name": c["label_name"], "uri": c["label_uri"],
                      **({"name_lang": c["label_name_lang"]} if "label_name_lang" in c
                         else {})}),
              c["probability"], _given_names(c), _document(c["text"])]
             for c in candidates], {0, 3}))
        if any(c.get("text_shortened") for c in candidates):
            # a long story cut before the paragraph that decides its candidate was
            # judged from the page as if it were the whole text
            parts.append('<p class="muted">Texts are shortened here to their first 200 '
                         "characters; the review queue holds each whole, with its model "
                         "score, its label's threshold and its related rows.</p>")
    return "".join(parts)


def _unflagged_rates_html(rows: list[dict], missing: bool) -> str:
    """A line under a table of the noisiest labels where some of its labels have an
    estimated error count and no flagged pair, saying why (empty otherwise): Reuters-21578's
    page listed retail missing 50% of the time (meal-feed 45%, yen 42%) with no row in
    the review queue, and read as if the review had lost them.

    >>> rows = [{"name": "retail", "est_missing": 21.2, "n_flagged_missing": 0,
    ...          "threshold": 0.238}, {"name": "gas", "est_missing": 6.0,
    ...          "n_flagged_missing": 2, "threshold": 0.6}]
    >>> print(_unflagged_rates_html(rows, True))  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    <p class="muted">1 of these labels (retail) has no flagged pair. A label's estimated
    missing count (confident learning, shrunk toward its frequency band's) counts its
    pairs not given that score at least its threshold, the mean probability of its given
    pairs; a pair is flagged only where ...
    >>> _unflagged_rates_html(rows[1:], True)
    ''
    """
    kind = "missing" if missing else "wrong"
    unflagged = [r for r in rows if r.get(f"est_{kind}", 0) >= 0.5
                 and r.get(f"n_flagged_{kind}", 1) == 0]
    if not unflagged:
        return ""
    # each name marked with its language, as the table's own names are
    names = ", ".join(_named(r["name"], r.get("name_lang", _NO_LANGUAGE))
                      for r in unflagged[:5]) + (", ..." if len(unflagged) > 5 else "")
    return (f'<p class="muted">{_num(len(unflagged))} of these labels ({names}) '
            f'{"has" if len(unflagged) == 1 else "have"} no flagged pair. A label\'s '
            f'estimated {kind} count (confident learning, shrunk toward its frequency '
            "band's) counts its pairs "
            + ("not given that score at least its threshold, the mean probability of its "
               "given pairs" if missing else
               "given that score below its threshold and no more than its pairs not given "
               "do on average")
            + "; a pair is flagged only where its own probability of being an error reaches "
            f"--min-probability, which takes a score well {'above' if missing else 'below'} "
            "the threshold: pairs just past it are counted and not flagged, most of all for "
            "a label the scores learned poorly (a low threshold). Such a rate says the "
            "scores are unsure of the label's pairs, not that the review lost its errors; "
            "read it with its counts.</p>")


def _quality_html(quality: dict | None, *, inflated: bool = False) -> str:
    """The document-quality figures of report.json in words: the page showed them only as
    a plot (none under --no-plots), with neither the mean nor how many documents fall
    below 0.5. ``inflated`` (the small-corpus note fired): the figures are said to read
    confident learning's rates, inflated at that size (500 GoEmotions comments with 5%
    of their labels wrong read a mean of 0.24 beside the bounds, as if most were wrong).

    >>> print(_quality_html({"mean": 0.9512, "n_below_0.5": 1234, "histogram": []}))
    ... # doctest: +NORMALIZE_WHITESPACE
    <p>Document quality (the probability that all of a document's labels are right):
    mean 0.9512; 1,234 documents below 0.5.</p>
    >>> print(_quality_html({"mean": 1.0, "n_below_0.5": 1, "histogram": []})[-35:])
    mean 1.0; 1 document below 0.5.</p>
    >>> print(_quality_html({"mean": 0.24, "n_below_0.5": 400, "histogram": []},
    ...                     inflated=True)[-150:])  # doctest: +NORMALIZE_WHITESPACE
    below 0.5. It reads confident learning's rates, inflated at this size: it is low where
    the scores learnt little, not only where labels are wrong.</p>
    >>> _quality_html(None)
    ''
    """
    if not quality:
        return ""
    return ("<p>Document quality (the probability that all of a document's labels are "
            f'right): mean {_num(float(quality["mean"]))}; '
            f'{_count(quality["n_below_0.5"], "document")} below 0.5.'
            + (" It reads confident learning's rates, inflated at this size: it is low "
               "where the scores learnt little, not only where labels are wrong."
               if inflated else "") + "</p>")


def _shown_of(noise: dict, max_review: int | None, shown: int) -> str:
    """How many of the review queue's rows the page's table of candidates shows, where it
    shows fewer (empty otherwise): Reuters-21578's page listed 50 of 105 under "Top
    review candidates", every one *missing*, and the 6 *wrong* ones below them were
    nowhere to be read of.

    >>> _shown_of({"n_flagged_missing": 99, "n_flagged_wrong": 6}, None, 50)
    ' (the first 50 of the 105 rows of the review queue)'
    >>> _shown_of({"n_flagged_missing": 99, "n_flagged_wrong": 6}, 20, 20)
    ''
    >>> _shown_of({"n_flagged_missing": 99, "n_flagged_wrong": 6, "n_review_rows": 3}, 4, 3)
    ''
    """
    queue = noise["n_flagged_missing"] + noise["n_flagged_wrong"]
    queue -= (noise.get("reviewed") or {}).get("n_left_out", 0)  # decided before: not in it
    if max_review is not None:
        # the queue's own rows where counted: a single-label move kept whole or left out
        # makes them more or fewer than --max-review
        queue = noise.get("n_review_rows", min(queue, max_review))
    if shown >= queue:
        return ""
    return f" (the first {_num(shown)} of the {_num(queue)} rows of the review queue)"


def _given_names(candidate: dict) -> str:
    names = candidate["given_names"]
    langs = candidate.get("given_names_langs")
    if langs is None or len(langs) != len(names):
        return _e(", ".join(names))
    return ", ".join(_named(name, lang) for name, lang in zip(names, langs, strict=True))


def _duplicates_html(dups: dict) -> str:
    threshold = dups.get("near_duplicate_threshold")
    # the near search stopped at its budget of candidate pairs (a report written before
    # it recorded that has no key: its counts were complete or did not say)
    at_least = "at least " if dups.get("near_counts_lower_bound") else ""
    found = (f'{_num(dups["n_exact_pairs"])} exact and {at_least}'
             f'{_count(dups["n_near_pairs"], "near duplicate pair")} (cosine at least '
             f"{_e(threshold)})" if threshold is not None
             else f'{_count(dups["n_exact_pairs"], "exact duplicate pair")} (near duplicates '
             "were not looked for: --no-near-duplicates)")
    conflicting, exact = dups["n_conflicting_pairs"], dups["n_conflicting_exact_pairs"]
    # "(2 of them between exact copies)" of 2 pairs counted what "all" says
    copies = ("" if not conflicting else ", between exact copies" if exact == conflicting == 1
              else ", all between exact copies" if exact == conflicting
              else f" ({_num(exact)} of them between exact copies)")
    parts = [f'<p>{found} in {_count(dups["n_duplicate_groups"], "group")}; '
             f'{_count(conflicting, "pair")} {plural(conflicting, "carries", "carry")} '
             f'different labels{copies}.</p>']
    if at_least:
        parts.append("<p>The near-duplicate search stopped after its budget of candidate "
                     "pairs (too many distinct near-identical texts): its counts of near "
                     "pairs and conflicts are lower bounds, and some groups may be split."
                     "</p>")
    examples = dups["conflict_examples"]
    if examples:
        # the counts are of pairs of documents, the rows of pairs of texts: 5 conflicting
        # pairs over 3 rows read as a contradiction
        shown = (f"the first {_num(len(examples))}" if len(examples) >= MAX_EXAMPLES
                 else _num(len(examples)))
        parts.append(f"<p>The table lists {shown} conflicting "
                     f"{plural(len(examples), 'pair', 'pairs')} of texts, not every pair "
                     "of documents: each exact copy beside the first document of its "
                     "group, each near pair of texts once (exact copies first). The counts "
                     "above are of pairs of documents: three copies of one text with "
                     "different labels are 3 conflicting pairs and 2 rows.</p>")
        parts.append(_table(
            ["documents", "cosine", "text", "labels only on the first", "only on the second"],
            [[f'{c["doc_a"]} / {c["doc_b"]}' + _lines_of(c), c["cosine"],
              _document(c["text_a"]) + ("" if c["exact"] else "<br><small>"
                                        + _document(c["text_b"]) + "</small>"),
              ", ".join(_label(r) for r in c["only_a"]),
              ", ".join(_label(r) for r in c["only_b"])] for c in examples],
            {1}))
        parts.append(_more_pairs(dups, "conflict", examples))
    # the pairs carrying the same labels, which a steward removes a copy of (the counts
    # named none of them); a report written before they were listed has none
    same = dups.get("same_label_examples") or []
    if same:
        shown = (f"the first {_num(len(same))}" if len(same) >= MAX_EXAMPLES
                 else _num(len(same)))
        parts.append(f"<h3>Duplicates with the same labels</h3><p>The table lists {shown} "
                     f"{plural(len(same), 'pair', 'pairs')} of texts that carry the same "
                     "labels, as the table above lists its pairs (exact copies first).</p>")
        parts.append(_table(
            ["documents", "cosine", "text", "labels"],
            [[f'{c["doc_a"]} / {c["doc_b"]}' + _lines_of(c), c["cosine"],
              _document(c["text_a"]) + ("" if c["exact"] else "<br><small>"
                                        + _document(c["text_b"]) + "</small>"),
              ", ".join(_label(r) for r in c["labels"])] for c in same],
            {1}))
        parts.append(_more_pairs(dups, "same_label", same))
    return "".join(parts)


def _more_pairs(dups: dict, kind: str, shown: list[dict]) -> str:
    """The line under a duplicates table (``kind`` ``conflict`` or ``same_label``) capped
    at its first rows: how many pairs it leaves out, how many of them near ones (listed
    after the exact copies, none showed once there were 20 of those), and where every
    one is. Empty where the table shows them all, or for a report written before it
    counted its rows.

    >>> _more_pairs({"n_conflict_rows": 25, "n_conflict_rows_near": 4}, "conflict",
    ...             [{"exact": True}] * 20)[17:79]
    '… and 5 more pairs (4 of them near duplicates); duplicates.csv'
    """
    total = dups.get(f"n_{kind}_rows")
    if total is None or total <= len(shown):
        return ""
    left = total - len(shown)
    near = dups.get(f"n_{kind}_rows_near", 0) - sum(not c["exact"] for c in shown)
    of_them = ((" (a near duplicate)" if left == 1 else " (all near duplicates)")
               if near == left else f" ({_num(near)} of them near duplicates)" if near > 0 else "")
    return (f'<p class="muted">… and {_count(left, "more pair")}{of_them}; '
            "duplicates.csv beside this report lists every one.</p>")


def _lines_of(pair: dict) -> str:
    """The lines of a duplicate pair's documents, under their numbers (which count from
    0: document 1527 is on line 1528 of a TSV, and was looked for on line 1527); empty
    for a report without them."""
    if "line_a" not in pair:
        return ""
    return f'<br><small>lines {_e(pair["line_a"])} / {_e(pair["line_b"])}</small>'


def _near_leaks(result: dict) -> int | str:
    """A split's near duplicates of training documents, or that none were looked for
    (a leakage section written before it recorded that shows its count)."""
    if "near_duplicate_threshold" in result and result["near_duplicate_threshold"] is None:
        return "not looked for"
    return result["n_near"]


def _leakage_html(leakage: dict) -> str:
    if not leakage:
        return '<p class="muted">No other splits given (use --split NAME=PATH).</p>'
    parts = [_table(["split", "documents", "exact duplicates of training documents",
                     "near duplicates"],
                    [[_e(name), r["n_docs"], r["n_exact"], _near_leaks(r)]
                     for name, r in leakage.items()], {1, 2, 3})]
    for name, result in leakage.items():
        if result["examples"]:
            parts.append(f"<h3>{_e(name)}: first leaking documents</h3>" + _table(
                ["doc", "cosine", "text", "training document"],
                # the split's line under its document number (which counts from 0),
                # written as the line and the training document's are: not "1,019"
                [[_e(r["doc"]) + (f'<br><small>line {_e(r["line"])}</small>'
                                    if "line" in r else ""),
                  r["cosine"], _document(r["text"]),
                  _document(r["train_text"] or "") + _train_place(r)]
                 for r in result["examples"]], {1})
                + _more(result["n_exact"] + (result["n_near"] or 0), len(result["examples"]),
                        "leaking document"))
    return "".join(parts)


def _train_place(example: dict) -> str:
    """Where a leaking document's training document is: its number and its line (the
    number counts from 0); empty for a report written before it recorded the line."""
    if "train_line" not in example:
        return ""
    return (f'<br><small>document {_e(example["train_doc"])}, line '
            f'{_e(example["train_line"])}</small>')


def _read_html(read: dict) -> str:
    """How the files were read: the --on-error policy and the lines it skipped."""
    if not read:
        return ""
    policy = _e(read.get("on_error", "fail"))
    n = read.get("n_skipped_lines", 0)
    if not n:
        return f'<p class="muted">Read with --on-error {policy}; no line skipped.</p>'
    shown = read.get("skipped_lines", [])
    # every skipped line is listed up to a cap: "(the first 1 below)" for the only one
    listed = "listed below" if len(shown) >= n else f"the first {_num(len(shown))} below"
    # a folder's file deleted after the listing is no malformed line: counted apart
    gone = read.get("n_missing_files", 0)
    skipped = ", ".join(told for count, told in (
        (n - gone, f'{_count(n - gone, "malformed line")} skipped'),
        (gone, f'{_count(gone, "file")} skipped that went missing')) if count)
    parts = [f'<p class="warn">Read with --on-error {policy}: '
             f'{skipped} ({listed}). Document '
             "numbers count the documents read: give apply-review the same --on-error "
             f"{policy}.</p>"]
    parts.append(_table(["where", "reason"],
                        [[f'{_e(r["file"])}:{_e(r["line"])}', _e(r["reason"])]
                         for r in shown]))
    return "".join(parts)


#: how every page :func:`render_html` writes begins (:func:`is_report_html` looks for it)
HTML_START = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
              "<title>tagsmith data health report</title>")


def is_report_html(path: str | Path) -> bool:
    """Whether ``path`` is a plain file that :func:`render_html` wrote (it begins with
    :data:`HTML_START`): a page an audit may replace or remove, unlike a user's own."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    start = HTML_START.encode("utf-8")
    try:
        with open(path, "rb") as file:
            return file.read(len(start)) == start
    except OSError:
        return False


def render_html(report: dict, *, plots: bool = True) -> str:
    """The report (as built by :func:`tagsmith.pipeline.audit.audit_corpus`) as one page."""
    sections = [("Overview", _cards(report) + _warnings_html(report.get("warnings", []))
                 + _corpus_html(report["corpus"])
                 + _read_html(report.get("meta", {}).get("read", {}))
                 + (_plots(report) if plots else ""))]
    method = (report.get("noise") or {}).get("method") or {}
    # a catalogue, or a corpus coded at the most specific level (ICD-10): a label with
    # narrower ones in use may belong on a narrower one
    leafward = (isinstance(method.get("single_label"), dict)
                or isinstance(method.get("broader_moves"), dict))
    sections.append(("Labels", _labels_html(report["labels"], leafward)
                     + _broader_left_off_html(report.get("broader_left_off"))))
    sections.append(("Co-occurrence", _cooccurrence_html(report["cooccurrence"])))
    if report.get("noise"):
        max_review = report.get("meta", {}).get("options", {}).get("max_review")
        sections.append(("Label noise", _noise_html(report["noise"],
                                                    report.get("top_candidates", []),
                                                    report.get("scores", {}), max_review)))
    if report.get("duplicates"):
        sections.append(("Duplicates", _duplicates_html(report["duplicates"])))
    sections.append(("Leakage between splits", _leakage_html(report.get("leakage", {}))))
    meta = report.get("meta", {})
    scores = report.get("scores", {})
    footer = (f'<p class="muted">Corpus {_e(meta.get("corpus", ""))}; scores: '
              f'{_e(scores.get("source", "none"))} ({_e(scores.get("model", ""))}'
              f'{_cooccurrence_weight(scores)}{_heldout_bundle(scores)}); '
              f'tagsmith {_e(meta.get("tagsmith_version", ""))}, {_e(meta.get("created", ""))}.'
              "</p>")
    body = "".join(f"<h2>{_e(title)}</h2>{content}" for title, content in sections)
    return (f"{HTML_START}<style>{_STYLE}</style></head><body><h1>Data health report</h1>"
            f"{body}{footer}</body></html>\n")
