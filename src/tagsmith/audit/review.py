"""The review queue: audit candidates for people to decide, and applying their decisions.

:func:`review_rows` turns the ranked candidates into rows with everything a reviewer
needs (the document's text, the label's URI and name, what kind of error is
suspected, the probability, the labels the document has now), and
:func:`write_review` writes them as CSV (for a spreadsheet) or JSONL. A reviewer fills
the ``decision`` column with ``accept`` or ``reject`` (also ``accepted``/``rejected``,
``yes``/``no``, ``y``/``n``, ``true``/``false``, ``1``/``0``, ``x`` for accept; case is
ignored; empty means not reviewed). A spreadsheet may save it
back with ``;`` or tabs between the cells; the header tells which.

:func:`apply_review` reads the decisions back and writes a **new** corpus file with the
accepted corrections applied: an accepted *missing* candidate adds the label, an
accepted *wrong* one removes it. The original corpus is never modified (writing to its
own path is refused) and the new file appears only once complete. Each row names its
document by position, by a fingerprint of its text and (where the corpus has ids) by
its id, so a review applied to a changed corpus fails with the review file's line
instead of editing the wrong document.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import functools
import hashlib
import itertools
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from tagsmith._params import check_language
from tagsmith._plural import and_more, plural, plural_s
from tagsmith.audit import DECISION_VALUES, KEPT_MARK, REVIEW_MARK
from tagsmith.audit.detect import KINDS
from tagsmith.data.corpus import ReadReport
from tagsmith.data.csvlimits import (
    FORMULA_START,
    csv_field_limit,
    csv_writer,
    header_delimiter,
    next_csv_row,
    spreadsheet_safe,
    spreadsheet_text,
)
from tagsmith.data.ids import FirstSeen
from tagsmith.data.labelspace import LabelSpace
from tagsmith.data.readers import (
    check_not_a_vocabulary,
    corpus_layout,
    detect_format,
    is_lone_uri,
    line_end_throughout,
    no_documents,
    skipped_count,
)
from tagsmith.data.textio import (
    atomic_text_writer,
    check_writable,
    json_line,
    open_text,
    same_file,
)
from tagsmith.exceptions import (
    AmbiguousLabelError,
    CorpusFormatError,
    DataError,
    InvalidParameterError,
    ReviewFormatError,
)
from tagsmith.progress import COUNT_STEP, counted, progress_bar

if TYPE_CHECKING:
    import scipy.sparse as sp

    from tagsmith.audit.detect import LabelIssues
    from tagsmith.data.readers import Record
    from tagsmith.topk import TopK

logger = logging.getLogger("tagsmith")

COLUMNS = ("rank", "decision", "kind", "action", "label_uri", "label_name", "probability",
           "model_score", "threshold", "doc", "line", "doc_id", "doc_key", "given_labels",
           "given_names", "model_top", "copies", "related_rows", "text")
REQUIRED = ("decision", "kind", "label_uri", "doc", "doc_key")
#: the columns :func:`read_decisions` reads (the others are for the reviewer)
_READ = (*REQUIRED, "action", "doc_id")
#: what accepting a candidate of each kind does to the corpus
ACTIONS = {"missing": "add", "wrong": "remove"}
#: the kind an accepted row's action implies, where its kind is left empty
KIND_OF_ACTION = {action: kind for kind, action in ACTIONS.items()}
# 1.0/0.0: a spreadsheet that turned the 1 into a number writes it so, and JSON's 1.0
# a tick (check mark) is how many reviewers mark a row taken
ACCEPT = frozenset({"accept", "accepted", "yes", "y", "1", "1.0", "true", "x", "\u2713",
                    "\u2714"})
REJECT = frozenset({"reject", "rejected", "no", "n", "0", "0.0", "false"})
#: every decision honoured (a set built once: the reader tests each filled cell)
_DECISIONS = ACCEPT | REJECT


def _one_move(issues: LabelIssues, rows: np.ndarray, space: LabelSpace):
    """For :func:`review_rows`' limit: a test of whether the candidates ``rows[p]`` and
    ``rows[p + 1]`` are of one move. In a single-label corpus every flagged row of a
    document is (ranked together); in one coded at the most specific level
    (:func:`~tagsmith.audit.detect.pair_broader`) a wrong broader label and the
    narrower missing one after it are (any wrong ancestor between them too), where two
    other rows of a document are not."""
    doc = np.asarray(issues.doc)[rows]
    if not isinstance(issues.details.get("broader_moves"), dict):
        return lambda p: bool(doc[p] == doc[p + 1])
    from tagsmith.audit.detect import MISSING, WRONG

    kind = np.asarray(issues.kind)[rows]
    label = np.asarray(issues.label)[rows]
    # the ancestors of the few labels the limit's rows name, walked up the space's
    # broader links: the whole ancestor matrix, which pair_broader built already, was
    # built again for the handful of rows around the cut
    known = len(space) == issues.n_labels

    def above(c: int) -> set[int]:
        seen: set[int] = set()
        todo = space.broader_ids(c)
        while todo:
            a = todo.pop()
            if a not in seen:
                seen.add(a)
                todo.extend(space.broader_ids(a))
        seen.discard(c)  # a label is no ancestor of itself (a cycle)
        return seen

    def together(p: int) -> bool:
        if not known or doc[p] != doc[p + 1] or kind[p] != WRONG:
            return False
        m = p + 1  # the missing row after the wrong ones
        while m < len(rows) and doc[m] == doc[p] and kind[m] == WRONG:
            m += 1
        if m == len(rows) or doc[m] != doc[p] or kind[m] != MISSING:
            return False
        return set(label[p:m].tolist()) <= above(int(label[m]))

    return together


def _cut(every: np.ndarray, limit: int, together, single: bool) -> np.ndarray:
    """The rows of ``every`` a queue of ``limit`` rows keeps (``0 < limit <
    len(every)``), a move (``together``: :func:`_one_move`) never cut in two: one the
    limit would cut is left out whole, but for the first move, kept whole where that
    holds at most one row more than ``limit``. The queue is never more than one row
    over: it held a single-label document's every flagged row (``wrong A``, then
    ``missing B``, ``missing C``...: at ``--max-review 1``, three rows or more) and a
    code given with two of its ancestors (``wrong E``, ``wrong E11``, ``missing
    E11.9``) whole. A single-label document's rows are cut after ``limit + 1`` (the
    wrong row and each missing one after it make a move: ``limit + 1 >= 2`` rows are
    whole moves); a longer move of a coded corpus is left out whole, the queue taken
    from the rows after it as from the first (empty where no move after it fits).

    >>> rows = np.arange(5)
    >>> _cut(rows, 1, lambda p: p < 2, True).tolist()  # one document's 3 rows, then 2
    [0, 1]
    >>> _cut(rows, 1, lambda p: p in (0, 1, 3), False).tolist()  # E, E11, E11.9; then 2
    [3, 4]
    >>> _cut(rows, 2, lambda p: p < 2, False).tolist(), _cut(rows, 3, lambda p: p == 2,
    ...                                                       False).tolist()
    ([0, 1, 2], [0, 1])
    """
    skip = 0  # the rows of leading moves left out whole, too long to keep
    while skip < len(every):
        start = skip + limit
        if start >= len(every):
            return every[skip:]
        while start > skip and together(start - 1):
            start -= 1
        if start > skip:
            return every[skip:start]
        end = skip + 1  # the limit cuts the first move: where it ends
        while end < len(every) and together(end - 1):
            end += 1
        if end - skip <= limit + 1:
            return every[skip:end]
        if single:
            return every[skip:skip + limit + 1]
        skip = end
    return every[:0]


def doc_key(text: str) -> str:
    """A short fingerprint of a document's text (first 16 hex digits of SHA-256).

    >>> doc_key("Rain today")
    '689510f8623b48c1'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def review_rows(issues: LabelIssues, texts: Sequence[str], Y: sp.csr_matrix, space: LabelSpace,
                *, lang: str = "en",
                lines: Sequence[int] | None = None, doc_ids: Sequence[str | None] | None = None,
                limit: int | None = None, flagged_only: bool = True,
                topk: TopK | None = None, hashes: np.ndarray | None = None,
                exclude: np.ndarray | None = None) -> list[dict]:
    """Rows of the review queue, best candidate first (see :data:`COLUMNS`).

    ``issues``: :class:`~tagsmith.audit.detect.LabelIssues`; ``texts`` and ``Y`` (the
    given labels, CSR) of the audited corpus; ``lines``/``doc_ids``: where each
    document is in its file. ``limit`` caps the number of rows (in a single-label
    corpus, or one coded at the most specific level, a move it would cut in two is left
    out whole, but for the first, kept whole where that is one row above the limit at
    most: :func:`_cut`).
    ``topk``: the
    out-of-sample scores the audit ranked by, whose first :data:`MODEL_TOP` labels of
    each document fill ``model_top`` (empty without). ``hashes``: the audit's
    :func:`~tagsmith.audit.duplicates.text_hashes` of ``texts``, which tell the copies
    of a text apart for ``related_rows`` (worked out for the rows' documents without).
    ``exclude``: a boolean mask of candidates left out before ``limit`` is taken (those
    an earlier review decided: :func:`reviewed_candidates`).
    """
    chosen = np.flatnonzero(issues.flagged) if flagged_only else np.arange(len(issues))
    if exclude is not None:
        chosen = chosen[~np.asarray(exclude, dtype=bool)[chosen]]
    if limit is not None:
        every, chosen = chosen, chosen[:limit]
        # a move (a single-label document's, or a broader label given for a narrower
        # one), its wrong and missing rows side by side, is not cut in two: the half
        # within the limit is left out with the other, unless that is the first move,
        # kept whole (a limit of 1 emptied the queue)
        single = isinstance(issues.details.get("single_label"), dict)
        paired = single or isinstance(issues.details.get("broader_moves"), dict)
        if paired and 0 < limit < len(every):
            chosen = _cut(every, limit, _one_move(issues, every, space), single)
    # the candidates' arrays as Python numbers at once: a NumPy scalar a row (six of
    # them, and round() and float() of each) took most of the review's time
    docs = np.asarray(issues.doc)[chosen].tolist()
    labels = np.asarray(issues.label)[chosen].tolist()
    kinds = np.asarray(issues.kind)[chosen].tolist()
    probabilities = np.asarray(issues.probability)[chosen].tolist()
    scores = np.asarray(issues.score)[chosen].tolist()
    at = np.asarray(docs, dtype=np.int64)
    if topk is None:
        top_ids: list = [()] * len(chosen)
        top_scores: list = top_ids
    else:
        top_ids = topk.indices[at, :MODEL_TOP].tolist()
        top_scores = topk.scores[at, :MODEL_TOP].tolist()
    # each row's given labels as one list sliced per row: a NumPy slice and tolist() a
    # row cost a tenth of the review's time
    indptr = np.asarray(Y.indptr, dtype=np.int64)
    starts, counts = indptr[at], indptr[at + 1] - indptr[at]
    bounds = np.concatenate(([0], np.cumsum(counts))).tolist()
    given_ids = np.asarray(Y.indices)[np.repeat(starts - np.asarray(bounds[:-1], np.int64), counts)
                                      + np.arange(bounds[-1])].tolist()
    # each label's URI, name and threshold looked up once, before the rows, for every
    # label they name: a name lookup (the language fallback) is slow, the rows repeat a
    # few thousand labels (300,000 rows: model_top's three names each took a third of
    # the review's time), and a cached lookup a call took a fifth of it again
    used = np.unique(np.concatenate((np.asarray(labels, dtype=np.int64),
                                     np.asarray(given_ids, dtype=np.int64),
                                     np.asarray(top_ids, dtype=np.int64).ravel())))
    used = used[used >= 0].tolist()  # a TopK pads a short row with -1
    names = {label_id: space.name_of(label_id, lang) for label_id in used}
    uris = {label_id: space.uri_of(label_id) for label_id in used}
    thresholds: dict[int, float | None] = {}
    for label_id in set(labels):
        value = float(issues.threshold[label_id])
        thresholds[label_id] = round(value, 6) if math.isfinite(value) else None
    # how many of each row's copies (its text's, where it has some) carry its label: the
    # copies of every text are needed, each text hashed once for it and _relate alike
    if hashes is None and docs:
        from tagsmith.audit.duplicates import text_hashes

        hashes = text_hashes(texts)
    copies = _copies_cells(docs, labels, texts, Y, hashes)
    # a document's fingerprint worked out once (a document has several rows)
    keys: dict[int, str] = {}
    rows = []
    uri_of, name_of = uris.__getitem__, names.__getitem__
    for rank, (doc, label, kind, probability, score, best, best_scores) in enumerate(
            zip(docs, labels, kinds, probabilities, scores, top_ids, top_scores, strict=True),
            1):
        given = given_ids[bounds[rank - 1]:bounds[rank]]
        key = keys.get(doc)
        if key is None:
            key = keys[doc] = doc_key(texts[doc])
        rows.append({
            "rank": rank, "decision": "", "kind": KINDS[kind],
            "action": ACTIONS[KINDS[kind]],
            "label_uri": uris[label], "label_name": names[label],
            "probability": round(probability, 6),
            # a broader label paired with its narrower one that the scores found right
            # (detect.pair_broader) has no score
            "model_score": round(score, 6) if math.isfinite(score) else None,
            # the label's self-confidence threshold, which model_score is judged against
            # (a missing candidate mostly scores above it, a wrong one below): without it
            # a reviewer saw a score of 0.95 and could not tell whether that was high for
            # its label (labels.csv had it, a file and a lookup away)
            "threshold": thresholds[label], "doc": doc,
            "line": None if lines is None else lines[doc],
            "doc_id": None if doc_ids is None else doc_ids[doc],
            "doc_key": key,
            "given_labels": list(map(uri_of, given)),
            "given_names": list(map(name_of, given)),
            # rounded as model_score is: .3g wrote 1 and 9.51e-05 beside its 1.0 and 1e-06
            "model_top": [f"{names[t]} ({round(v, 6)})"
                          for t, v in zip(best, best_scores, strict=True) if t >= 0],
            "copies": copies[rank - 1],
            "related_rows": [],  # filled in by _relate, once every row is known
            "text": texts[doc],
        })
    _relate(rows, texts, docs, hashes)
    return rows


def _copies_cells(docs: list[int], labels: list[int], texts: Sequence[str], Y: sp.csr_matrix,
                  hashes: np.ndarray | None) -> list[str]:
    """Each row's ``copies`` cell: where its document's text has copies (the audit's
    exact duplicates, blank texts none), how many of them carry the row's label, as
    ``2 of 3 copies carry it``; else empty. A reviewer saw a *missing* row and nothing
    of the two other copies of the comment given the label (or a *wrong* one, added to
    one copy of two): the copies' own agreement, which the queue now ranks by
    (:func:`tagsmith.audit.detect.flag_copies`), is why the row is there.
    """
    from tagsmith.audit.duplicates import EMPTY_HASH, text_hashes

    if not docs:
        return []
    keys = np.asarray(hashes) if hashes is not None else text_hashes(texts)
    _, group, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    at = np.asarray(docs, dtype=np.int64)
    several = (sizes[group[at]] > 1) & (keys[at] != EMPTY_HASH)
    if not several.any():
        return [""] * len(docs)
    wanted = np.unique(group[at[several]])
    members = np.flatnonzero(np.isin(group, wanted))
    copies_of: dict[int, list[int]] = {}
    for m, g in zip(members.tolist(), group[members].tolist(), strict=True):
        copies_of.setdefault(g, []).append(m)
    # counted once per text and label: a text of 50,000 copies has as many rows
    counted: dict[tuple[int, int], str] = {}
    cells = []
    for i, (doc, label) in enumerate(zip(docs, labels, strict=True)):
        if not several[i]:
            cells.append("")
            continue
        g = int(group[doc])
        cell = counted.get((g, label))
        if cell is None:
            copies = copies_of[g]
            # a stored zero is no label (nonzero = given); the copies' rows read at once
            # (a slice of Y per copy took 50,000 numpy calls for a text of as many)
            sub = Y[copies]
            given = (sub.indices == label) & (sub.data != 0)
            rows_of = np.repeat(np.arange(len(copies)), np.diff(sub.indptr))
            carried = len(np.unique(rows_of[given]))
            cell = counted[(g, label)] = f"{carried:,} of {len(copies):,} copies carry it"
        cells.append(cell)
    return cells


#: how many of a document's best-scored labels a review row names in ``model_top``,
#: each with its score: a *wrong* candidate showed what the model doubted, never what
#: it would give instead (Reuters-21578's "ROSPATCH TO RESPOND TO DIAGNOSTIC BID",
#: ``earn`` flagged wrong, the model's ``acq 0.382`` nowhere in the row), nor how sure
#: it was of anything (a bank story's best label, ``earn``, at 0.119)
MODEL_TOP = 3

#: the most other rows a review row names in ``related_rows`` (a boilerplate text of
#: thousands of copies would fill the cell), the count of the rest after them
MAX_RELATED = 5


def _relate(rows: list[dict], texts: Sequence[str], docs: list[int],
            hashes: np.ndarray | None) -> None:
    """Give each row ``related_rows``: the queue's other rows of its document, or of a
    copy of its text (equal as the audit's exact duplicates are: by their
    :func:`~tagsmith.audit.duplicates.text_hashes`, ``hashes`` where given), best first.

    Auditing Reuters-21578 as it is, one story's ``acq`` was flagged wrong at rank 35
    and ``earn`` missing at rank 24, one relabelling seen as two unrelated rows; and
    GoEmotions' "Happy cake day!" three times over, decided three times.
    """
    from tagsmith.audit.duplicates import text_hashes

    at = np.asarray(docs, dtype=np.int64)
    if hashes is None:  # each document's text normalized once (a document has several rows)
        distinct, inverse = np.unique(at, return_inverse=True)
        keys = text_hashes([texts[d] for d in distinct.tolist()])[inverse]
    else:
        keys = np.asarray(hashes)[at]
    # the rows grouped by their text's hash, each group in rank order, by a stable sort:
    # a dict of lists built row by row cost a tenth of the review's time
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    edges = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [len(keys)]))
    several = ends - starts > 1
    del keys, ordered
    ranked = order.tolist()
    # a row alone in its group names none; of a larger group only the first
    # MAX_RELATED + 1 rows are ever named, each described once (not once a row naming it)
    for start, end in zip(starts[several].tolist(), ends[several].tolist(), strict=True):
        group = ranked[start:end]
        shown = group[:MAX_RELATED + 1]
        near = {j: f"#{rows[j]['rank']} {rows[j]['kind']} "
                   f"{rows[j]['label_name'] or rows[j]['label_uri']}" for j in shown}
        far = {j: f"{near[j]} (doc {docs[j]}, same text)" for j in shown} \
            if any(docs[j] != docs[group[0]] for j in group) else near
        more = [f"and {len(group) - 1 - MAX_RELATED} more"] \
            if len(group) - 1 > MAX_RELATED else []
        for i in group:
            doc = docs[i]
            rows[i]["related_rows"] = [near[j] if docs[j] == doc else far[j]
                                       for j in shown if j != i][:MAX_RELATED] + more


def review_format(path: str | Path) -> str:
    """``"csv"`` or ``"jsonl"`` from a review file's name (optionally ``.gz``)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in (".csv", ".jsonl", ".ndjson"):
        return "csv" if suffixes[-1] == ".csv" else "jsonl"
    raise InvalidParameterError("review file", "a name ending in .csv or .jsonl", str(path))


#: the columns a row may hold (:func:`write_review` refuses others)
_COLUMN_SET = frozenset(COLUMNS)


#: the free-text columns :func:`read_decisions` reads back
_READ_BACK = ("doc_id", "label_uri")


#: a number as a spreadsheet reads one: digits, a decimal point, an exponent
_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


#: a month's name or abbreviation, as a spreadsheet reads one in a date in English and
#: in the languages of Europe's common locales: German (``Mär``, ``Mrz``, ``Okt``,
#: ``Dez``, Austria's ``Jänner``), French (``janv``, ``févr``, ``avr``, ``mai``,
#: ``juil``, ``août``, ``déc``), Spanish (``ene``, ``abr``, ``ago``, ``dic``), Italian
#: (``gen``, ``mag``, ``giu``, ``lug``, ``set``, ``ott``), Portuguese (``fev``, ``out``,
#: ``dez``), Dutch (``mrt``, ``mei``), Danish and Norwegian (``maj``, ``des``), Swedish
#: (``maj``), Finnish (``tammi``, ``maaliskuu``, ``joulukuuta``), each accented letter
#: also bare (``fevr``, ``aout``, ``Marz``): protected in more cells than one locale
#: reads, where protecting one too many only adds a ``'`` that reads back
_MONTH = ("(?:"
          # English
          r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
          # German, Dutch, Swedish, Danish, Norwegian
          r"|j[aä]n(?:uar[iy]?|ner)?|febr?(?:uar[iy]?)?|m[aä]rz?|mrz|mrt|maart|mars"
          r"|mai|mei|maj|jun[ie]?|jul[ie]?|augusti?|augustus|okt(?:ober)?"
          r"|dez(?:ember)?|des(?:ember)?"
          # French
          r"|janv(?:ier)?|f[ée]vr?(?:ier)?|avr(?:il)?|juin|juil(?:let)?|ao[uû]t"
          r"|d[ée]c(?:embre)?|septembre|octobre|novembre"
          # Spanish, Portuguese, Italian
          r"|ene(?:ro)?|feb(?:rero|braio)|fev(?:ereiro)?|marzo|mar[çc]o|abr(?:il)?|aprile"
          r"|mayo|maio|mag(?:gio)?|jun(?:io|ho)|giu(?:gno)?|jul(?:io|ho)|lug(?:lio)?"
          r"|ago(?:sto)?|set(?:embro|tembre)?|setiembre|septiembre|ott(?:obre)?"
          r"|out(?:ubro)?|octubre|noviembre|nov(?:embro)?|dic(?:iembre)?|dez(?:embro)?"
          r"|gen(?:naio)?"
          # Finnish: a month's stem, its name (-kuu) and the name in a date (-kuuta)
          r"|(?:tammi|helmi|maalis|huhti|touko|kes[äa]|hein[äa]|elo|syys|loka|marras"
          r"|joulu)(?:kuu(?:ta)?)?"
          ")")
#: what comes between a month's name and a number: ``-``, ``/``, a space, a dot, a
#: dot and a space (``janv. 2``, ``3. Mär``), or nothing
_BY = r"(?:[-/]|\.? ?)"
#: what a spreadsheet reads as a date or time, saved as another: 2 or 3 numbers by
#: ``-`` or ``/`` (Excel's ``3/4`` as 4-Mar, ``12-2024`` as Dec-24; ISO ``2024-01-05``),
#: by ``.`` as LibreOffice's D.M.Y and D.M. (``1.2.3``, ``1.2.``; ``1.2`` is a decimal),
#: a month's name beside a number (``Jan-5``, ``5-Jan``, ``5 Dec 2024``, the gene
#: MARCH1 saved as 1-Mar, ``Mär 3``, ``3 mai``, ``5. joulukuuta 2024``) and a time
#: (``1:2`` as 01:02:00)
_DATE_LIKE = re.compile(
    rf"[0-9]{{1,4}}[-/][0-9]{{1,4}}(?:[-/][0-9]{{1,4}})?"
    rf"|[0-9]{{1,4}}\.[0-9]{{1,4}}\.(?:[0-9]{{1,4}})?"
    rf"|{_MONTH}\.?{_BY}[0-9]{{1,4}}\.?(?:,?{_BY}[0-9]{{1,4}})?"
    rf"|[0-9]{{1,4}}{_BY}{_MONTH}\.?(?:{_BY}[0-9]{{1,4}})?"
    r"|[0-9]{1,2}:[0-9]{1,2}(?::[0-9]{1,2}(?:\.[0-9]{1,9})?)?", re.IGNORECASE)
#: the length of the longest :data:`_DATE_LIKE` (a month's longest name, Finnish
#: ``marraskuuta``, with a dot, a day, a comma and a year, and a few more)
_DATE_LONGEST = 24
#: a mixed fraction, a number to Excel (``1 1/2`` read as 1.5 and saved so)
_MIXED_FRACTION = re.compile(r"[0-9]+ +[0-9]+/[0-9]+")


def _lossy_number(value: str) -> bool:
    """Whether a spreadsheet reads ``value`` as a number it saves changed: a leading
    zero dropped (NAICS's ``0111`` saved as ``111``, an id ``0042`` as ``42``, Dewey's
    ``004.6`` as ``4.6``), a trailing one (``330.10`` as ``330.1``, ``1.0`` as ``1``) or
    point (``7.``), digits past the 15th lost, an exponent worked out (``1e5`` saved as
    ``100000``, ``1e-5`` as ``1E-05``), a mixed fraction (``1 2/4`` saved as ``1 1/2``,
    ``0 1/2`` as ``1/2``); or as a date or time (:data:`_DATE_LIKE`: ``1-2``, ``3/4``,
    ``1.2.3``, ``Jan-5``, ``Mär 3``, ``janv. 2``), which it saves as one.

    >>> [v for v in ("0111", "004.6", "330.10", "7.", ".5", "1e-5", "0", "0.5", "330.1")
    ...  if _lossy_number(v)]
    ['0111', '004.6', '330.10', '7.', '.5', '1e-5']
    >>> [v for v in ("1-2", "3/4", "1.2.3", "Jan-5", "MARCH1", "1:2", "1.2", "E11.9")
    ...  if _lossy_number(v)]
    ['1-2', '3/4', '1.2.3', 'Jan-5', 'MARCH1', '1:2']
    >>> [v for v in ("Mär 3", "janv. 2", "3 mai", "3. Okt", "1 1/2", "Marseille 13", "1 1")
    ...  if _lossy_number(v)]
    ['Mär 3', 'janv. 2', '3 mai', '3. Okt', '1 1/2']
    """
    if not _NUMBER.fullmatch(value):
        # a date is short: a URI skips the pattern (a review's every row has one)
        return (len(value) <= _DATE_LONGEST and bool(_DATE_LIKE.fullmatch(value))
                or bool(_MIXED_FRACTION.fullmatch(value)))
    whole, point, fraction = value.partition(".")
    return ("e" in value.lower() or len(value) > 15 and sum(map(str.isdigit, value)) > 15
            or len(whole) > 1 and whole.startswith("0")
            or bool(point) and (not whole or not fraction or fraction.endswith("0")))


def _unquoted(value: str, quoted: bool = True) -> str:
    """A read-back cell of a review CSV as :func:`_read_back_cell` had it (a JSONL
    review's values are as they were: nothing to strip)."""
    return value[1:] if quoted and value.startswith("'") and (
        value[1:].startswith((*FORMULA_START, "'"))
        or _lossy_number(value[1:])) else value


def _read_back_cell(value: str) -> str:
    """:func:`spreadsheet_safe` for a cell read back, which also gets a ``'`` where
    a spreadsheet would change the number it reads it as (:func:`_lossy_number`), as
    the ``doc_key`` cell does (a leading ``'`` makes a spreadsheet's cell text, where
    ``="0111"`` is a formula a CSV reader reads as it is), and where it starts with
    one that :func:`_unquoted` would strip: a document id ``'-4`` was read back as
    ``-4`` and its accepted rows failed as "the corpus was changed".

    >>> [_unquoted(_read_back_cell(v)) for v in ("-4", "'-4", "''x", "'x", "0111", "'01")]
    ['-4', "'-4", "''x", "'x", '0111', "'01"]
    >>> _read_back_cell("0111"), _read_back_cell("111")
    ("'0111", '111')
    """
    return "'" + value if value.startswith(FORMULA_START) or _unquoted(value) != value \
        or _lossy_number(value) else value


#: a fingerprint a spreadsheet would read as a number (digits alone, or digits in
#: scientific notation such as ``1234e56``): it shows and saves ``6.31124E+15``, the
#: digits past the 15th lost, and the row no longer names its document
_NUMBER_LIKE = re.compile(r"[0-9]+(?:e[0-9]+)?")
_DOC_KEY = re.compile(r"[0-9a-f]{16}")
#: a whole number as a spreadsheet may save a number cell: ``175.0`` (zeros alone after
#: the decimal point; no exponent, whose digits could run to any length)
_WHOLE_DECIMAL = re.compile(r"[+-]?[0-9]+\.0+")


def _key_cell(key: str) -> str:
    """The ``doc_key`` cell of a review CSV: ``'``-prefixed where a spreadsheet would
    take the fingerprint for a number (about one row in 800), as formulas are."""
    return "'" + key if _NUMBER_LIKE.fullmatch(key) else key


#: a review CSV's list cells and what separates their entries (a JSONL review keeps lists)
LIST_SEPARATORS = {"given_labels": " ", "given_names": " | ", "model_top": " | ",
                   "related_rows": "; "}
#: the list columns of docs_without_broader.csv (no column of the review's), read by
#: :func:`list_cell_entries` too
_TABLE_LIST_SEPARATORS = {"narrower_uris": "; "}
#: the character every separator holds: a cell holding it once a separator has none inside
_LIST_MARKS = {" ": " ", " | ": "|", "; ": ";"}


def _list_entry(entry: str, separator: str) -> str:
    """One entry of a list cell: as it is where the cell splits back at it (holds no
    ``separator``, nor ends in the start of one, ``'a |'`` before ``' | '``; does not start
    with ``"``, nor with ``'`` and a formula character, as :func:`spreadsheet_safe`
    writes a cell; is not empty), else in double quotes with its own doubled, as a CSV cell is.

    >>> _list_entry("a | b", " | "), _list_entry('say "hi"', " | "), _list_entry("x", "; ")
    ('"a | b"', 'say "hi"', 'x')
    >>> print(_list_entry("a |", " | "), _list_entry("'=x", " | "), _list_entry("", "; "))
    "a |" "'=x" ""
    """
    if (entry and (entry + separator).find(separator) == len(entry)
            and not entry.startswith('"')
            and not (entry.startswith("'") and entry[1:].startswith(FORMULA_START))):
        return entry
    return '"' + entry.replace('"', '""') + '"'


def _list_cell(entries: Sequence[str], separator: str) -> str:
    """A review CSV's list cell: the entries joined by ``separator``, each written as
    :func:`_list_entry` writes it, so that :func:`list_cell_entries` splits it back
    exactly; a cell of entries holding neither the separator's mark (``|``, ``;``) nor a
    quote is their plain join, as every cell was written before."""
    if not entries:
        return ""
    joined = separator.join(entries)
    if (joined.count(_LIST_MARKS[separator]) == len(entries) - 1 and '"' not in joined
            and "'" not in joined and "" not in entries):
        return joined
    return separator.join(_list_entry(entry, separator) for entry in entries)


def list_cell_entries(value: str, column: str) -> list[str]:
    """The entries of a list cell of a review CSV (``given_labels``, ``given_names``,
    ``model_top``, ``related_rows``; :data:`LIST_SEPARATORS`) as :func:`write_review` had
    them: split at the separator, an entry in double quotes unquoted (a label name
    holding the separator, ``'Oil | gas'``, a URI holding a space, is written so), and
    the ``'`` a spreadsheet-safe cell starts with taken off (of ``given_labels``, the
    one ``label_uri`` gets too: ``'051020``). A cell that is not such a list (a quote
    left open, text after a closing quote) raises
    :class:`~tagsmith.exceptions.ReviewFormatError` naming the column.

    >>> list_cell_entries('acq (0.5) | "Oil | gas (0.25)"', "model_top")
    ['acq (0.5)', 'Oil | gas (0.25)']
    >>> list_cell_entries("'-x | y", "given_names"), list_cell_entries("", "related_rows")
    (['-x', 'y'], [])
    >>> list_cell_entries('"Toys > Dolls" 3237', "given_labels")
    ['Toys > Dolls', '3237']
    """
    separator = LIST_SEPARATORS.get(column) or _TABLE_LIST_SEPARATORS.get(column)
    if separator is None:
        raise InvalidParameterError(
            "column", f"one of {', '.join([*LIST_SEPARATORS, *_TABLE_LIST_SEPARATORS])}",
            column)
    if column in ("given_labels", "narrower_uris"):  # written as label_uri is
        # (_read_back_cell)
        value = _unquoted(value)
    elif value.startswith("'") and value[1:].startswith(FORMULA_START):
        value = value[1:]
    entries: list[str] = []
    at = 0
    while value:
        if value.startswith('"', at):
            end = at + 1
            while True:
                end = value.find('"', end)
                if end < 0:
                    raise ReviewFormatError(f"{column}: a quote left open in {value[at:][:80]!r}")
                if not value.startswith('"', end + 1):
                    break
                end += 2
            entries.append(value[at + 1:end].replace('""', '"'))
            at = end + 1
            if at == len(value):
                break
            if not value.startswith(separator, at):
                raise ReviewFormatError(f"{column}: {value[at:][:80]!r} after a quoted entry, "
                                        f"where {separator!r} or the end of the cell goes")
            at += len(separator)
        else:
            end = value.find(separator, at)
            if end < 0:
                entries.append(value[at:])
                break
            entries.append(value[at:end])
            at = end + len(separator)
    return entries


def write_review(rows: list[dict], path: str | Path) -> Path:
    """Write review rows as CSV or JSONL (by the suffix), atomically.

    In CSV, cells that a spreadsheet would run as a formula (the text, label names,
    document ids, label URIs) get a leading ``'``, and so does a text fingerprint
    (``doc_key``) that a spreadsheet would take for a number, and a document id or label
    URI it would save as another number (``0111`` as ``111``); :func:`read_decisions`
    strips it from those cells, the ones it reads back (where one of those already
    starts with ``'`` and a formula character, such a number or another ``'``, one more
    is written, so it reads back as it was; such a cell an earlier tagsmith wrote bare,
    protecting fewer values, still names its document and label: see
    :class:`Decision`'s ``doc_id_cell``). JSONL keeps them as they are, and reads them so.
    """
    fmt = review_format(path)
    path = Path(path)
    with atomic_text_writer(path) as out:
        if fmt == "jsonl":
            for row in rows:
                out.write(json_line({**row, "decision": None}))
            return path
        # quotes a text's lone \r, which the reader (as a spreadsheet) takes as a row end
        writer = csv_writer(out)
        writer.writerow(COLUMNS)
        whole = (f"{path.stem}.jsonl (audit --review-format jsonl) keeps the whole text"
                 if path.stem in ("review", "sample") else "JSONL keeps the whole text")
        # a label's URI cell worked out once (the rows repeat a few thousand labels), and a
        # document's id cell (a document has several rows)
        uri_cells: dict[str, str] = {}
        id_cells: dict[str, str] = {}
        for row in rows:
            extra = row.keys() - _COLUMN_SET
            if extra:  # as csv.DictWriter refused them
                raise ValueError("dict contains fields not in fieldnames: "
                                 + ", ".join(repr(key) for key in extra))
            label_uri = str(row["label_uri"])
            uri_cell = uri_cells.get(label_uri)
            if uri_cell is None:
                uri_cell = uri_cells[label_uri] = _read_back_cell(label_uri)
            doc_id = str(row["doc_id"] or "")
            id_cell = id_cells.get(doc_id)
            if id_cell is None:
                id_cell = id_cells[doc_id] = _read_back_cell(doc_id)
            threshold = row.get("threshold")
            # related_rows needs no spreadsheet_safe: each of its entries starts "#" (or
            # '"#', quoted); a name holding its cell's separator is quoted (_list_cell)
            writer.writerow((
                row.get("rank", ""), row.get("decision", ""), row.get("kind", ""),
                row.get("action", ""), uri_cell, spreadsheet_safe(str(row["label_name"])),
                row.get("probability", ""), row.get("model_score", ""),
                "" if threshold is None else threshold, row.get("doc", ""),
                "" if row["line"] is None else row["line"],
                id_cell, _key_cell(row["doc_key"]),
                # a document of one code, 051020, showed the reviewer 51020 (never read
                # back: given for the reviewer's eyes, so protected as label_uri is)
                # URIs joined by spaces, as a TSV corpus lists them; one holding a space
                # (a category path of a catalogue without ids, 'Toys > Dolls') in double
                # quotes, so the cell splits back (list_cell_entries)
                _read_back_cell(_list_cell(row["given_labels"], " ")),
                spreadsheet_safe(_list_cell(row["given_names"], " | ")),
                spreadsheet_safe(_list_cell(row.get("model_top", []), " | ")),
                row.get("copies") or "",
                _list_cell(row.get("related_rows", []), "; "),
                # a report's 130,028 characters in one cell: Excel holds 32,767 (the
                # text is never read back: doc_key names the document)
                spreadsheet_safe(spreadsheet_text(str(row["text"]), whole))))
    return path


@dataclass(frozen=True)
class Decision:
    """One accepted correction: add (``missing``) or remove (``wrong``) a label."""

    doc: int
    kind: str
    label_id: int
    doc_key: str
    line: int  # in the review file
    #: the document's id when audited ("" where the review names none)
    doc_id: str = ""
    #: the ``doc_id`` cell as written where ``doc_id`` is read with its ``'`` stripped
    #: (:func:`_unquoted`), else "": an earlier tagsmith, whose rule protected fewer
    #: values, wrote an id ``'1-2`` bare, so the cell names the document either way
    doc_id_cell: str = ""
    #: a row of docs_without_broader.csv: the narrower labels the document carried
    #: under the broader label it adds (those the vocabulary has); empty for a review's
    #: row. Added only where the document still carries one of them
    narrower_ids: tuple[int, ...] = ()
    #: a *missing* row ``decide_from``'s label output accepted: its answer's stated score
    #: of the label, written beside it (None: a person's decision, scoring 1.0, marked
    #: :data:`~tagsmith.audit.REVIEW_MARK`)
    score: float | None = None


def _text_lines(path: Path):
    """``(line number, text)`` of a review file (``.gz`` aware), decoded line by line,
    so a file that is not UTF-8 (a spreadsheet's "CSV" may be cp1252) fails naming its
    first bad line, in one pass."""
    from tagsmith.data.readers import (
        NotUTF8,
        decode_line,
        numbered_lines,
        open_binary,
        split_lines,
        wide_encoding,
    )
    from tagsmith.exceptions import CorpusFormatError

    open_text(path).close()  # a missing file or a directory: the usual clear error
    is_csv = review_format(path) == "csv"
    # what to save it as: "UTF-8 CSV" for a JSONL review sent its reviewer the wrong way
    save_as = "save the review as UTF-8 " + ("CSV" if is_csv else "JSON Lines")
    with open_binary(path, ReviewFormatError) as handle:
        # line ends as the corpus readers take them (an old Mac file's lone CRs too)
        # a CSV's header line decides how its lines end (csv joins quoted cells)
        lines = numbered_lines(split_lines(handle, header=is_csv), path)
        while True:
            try:  # a damaged .gz is a damaged review, with the review's own error
                number, raw = next(lines)
            except StopIteration:
                return
            except CorpusFormatError as exc:
                raise ReviewFormatError(exc.reason, path=path, line=exc.line) from None
            # Excel's "Unicode Text" is UTF-16: refused as "invalid start byte at byte
            # 0", which did not say what the file was, as the corpus readers do
            wide = wide_encoding(raw) if number == 1 else None
            if wide is not None:
                raise ReviewFormatError(f"the file is {wide} text (it starts with a {wide} "
                                        "byte-order mark; a spreadsheet's \"Unicode text\"); "
                                        + save_as, path=path, line=1)
            try:
                text = decode_line(raw, number)
            except NotUTF8 as exc:
                raise ReviewFormatError(f"{exc.args[0]}; {save_as}", path=path,
                                        line=number) from None
            yield number, text


def _review_records(path: Path):
    """``(line, dict)`` per review row, CSV or JSONL."""
    lines = _text_lines(path)
    if review_format(path) == "jsonl":
        # the corpus reader's decoder: a row naming a key twice (two "decision" fields)
        # is refused, where json.loads kept the last one silently
        from tagsmith.data.readers import _JSON_DECODER, _Malformed

        for number, text in lines:
            if not text.strip():
                continue
            try:
                obj = _JSON_DECODER.decode(text)
            except _Malformed as exc:
                raise ReviewFormatError(exc.args[0], path=path, line=number) from None
            except (ValueError, RecursionError) as exc:
                raise ReviewFormatError(f"invalid JSON: {exc}", path=path,
                                        line=number) from None
            if not isinstance(obj, dict):
                raise ReviewFormatError("expected a JSON object", path=path, line=number)
            yield number, obj
        return
    texts = (text for _, text in lines)
    first = next(texts, None)
    delimiter = _delimiter(first)
    # csv joins quoted multi-line cells (_text_lines splits an old Mac file's lone CRs)
    # strict: a quote left open would otherwise swallow every later row (and its
    # decision) into one cell, silently, as the corpus and vocabulary readers refuse
    reader = csv.reader(itertools.chain(() if first is None else (first,), texts),
                        delimiter=delimiter, strict=True)
    # a row is named by the line it starts on (a quoted text may span lines), as the
    # corpus and vocabulary readers name theirs, with their error
    header = next_csv_row(reader, path, 1, ReviewFormatError) or []
    # a spreadsheet may capitalise or pad the header ("Decision ")
    names = [str(name).strip().lower() for name in header]
    if not any(names):  # "the header has []" left the reader to work out what was wrong
        where = ("the file is empty" if first is None else
                 "line 1 holds no column names")
        raise ReviewFormatError(f"no header: {where} (the audit's review.csv starts with "
                                "rank,decision,kind,...)", path=path, line=1)
    # the audit's docs_without_broader.csv: each row adds its broader label (broader_uri)
    # to its document, where the desk accepts it
    broader_table = ("broader_uri" in names and "label_uri" not in names
                     and "kind" not in names)
    if broader_table and "narrower_uri" in names and "narrower_uris" not in names:
        # the table an earlier audit wrote (a row per pair, no doc_key) with a decision
        # column added by hand: "missing column doc_key" did not say what it was
        raise ReviewFormatError(
            "is an earlier audit's docs_without_broader.csv (a row per narrower and "
            "broader label, without the doc_key apply-review checks each document by): "
            "run the audit again to write the table anew (a row per document and broader "
            "label, with a decision column), and decide that one", path=path, line=1)
    if broader_table:
        names = [{"broader_uri": "label_uri", "broader_name": "label_name"}.get(n, n)
                 for n in names]
    missing = [c for c in REQUIRED if c not in names
               and not (broader_table and c == "kind")]
    if missing:
        hint = _renamed_decision(reader, names) if "decision" in missing else ""
        raise ReviewFormatError(f"missing column{plural_s(len(missing))} "
                                f"{', '.join(missing)}; the header "
                                f"has {header}{hint}", path=path, line=1)
    # a column read twice (a second "Decision" column added for another reviewer) kept
    # the last one silently, as json.loads did a JSONL row's repeated key: every
    # decision in the first was read as none, and a re-run audit overwrote the review
    twice = [c for c in _READ if names.count(c) > 1]
    if twice:
        raise ReviewFormatError(f"column{plural_s(len(twice))} "
                                f"{', '.join(repr(c) for c in twice)} given "
                                "twice in the header; which one holds the review is not "
                                "for us to guess: rename or remove the others",
                                path=path, line=1)
    # a spreadsheet may pad the header with unnamed columns; rows need not fill those
    width = len(names)
    while width and not names[width - 1]:
        width -= 1
    while True:
        start = reader.line_num + 1
        cells = next_csv_row(reader, path, start, ReviewFormatError)
        if cells is None:
            return
        # blank lines are no rows, nor are rows of empty cells, which a spreadsheet
        # saves below the data (",,,,"): they were counted as undecided candidates, and
        # one narrower than the header was refused as a row "cut short"
        if not any(cell.strip() for cell in cells):
            continue
        # a row of another length than the header's has lost or gained a cell somewhere
        # (a cut-off row, a comma in a cell that was not quoted): the cells after that
        # point sit under the wrong columns, and reading it anyway would take a decision,
        # a label or a document number from the wrong cell (a short row once failed as
        # "doc must be a document number, found None"); blank cells past the end are
        # a spreadsheet's padding
        if len(cells) < width or any(cell.strip() for cell in cells[len(names):]):
            raise ReviewFormatError(
                f"{len(cells)} cells, the header has {width}: "
                + ("the row is cut short" if len(cells) < width else
                   "a comma in a cell that is not quoted shifts the cells after it")
                + "; a decision read from it could land on the wrong label or document, "
                "so fix the row (or save the review again from the spreadsheet)",
                path=path, line=start)
        padded = [*cells, *[""] * (len(names) - len(cells))]
        row = dict(zip(names, padded[:len(names)], strict=True))
        yield start, ({**row, "kind": "missing"} if broader_table else row)


#: the columns that tell an audit's review from a corpus (which has none of the others)
_REVIEW_MARKS = frozenset((*REQUIRED, "text"))


def is_review_file(path: str | Path) -> bool:
    """Whether ``path`` is recognisably an audit's review (:func:`write_review`): named
    ``.csv`` or ``.jsonl`` (optionally ``.gz``), its header (a JSONL file's first row)
    naming the review's ``decision``, ``kind``, ``label_uri``, ``doc``, ``doc_key`` and
    ``text``, which no corpus holds all of. Anything unreadable is no review (the corpus
    reader says what is wrong with it)."""
    path = Path(path)
    try:
        fmt = review_format(path)
        if not path.is_file():
            return False
        first = next((text for _, text in _text_lines(path) if text.strip()), None)
        if first is None:
            return False
        if fmt == "jsonl":
            row = json.loads(first)
            names = set(row) if isinstance(row, dict) else set()
        else:
            header = next(csv.reader([first], delimiter=_delimiter(first)), [])
            names = {str(name).strip().lower() for name in header}
    # RecursionError: a JSONL corpus's first line nested too deeply ([[[[...), which the
    # corpus reader refuses as such, crashed label and taxonomy with a traceback here
    except (DataError, InvalidParameterError, OSError, ValueError, RecursionError,
            csv.Error):
        return False
    return _REVIEW_MARKS <= names


def review_documents(path: str | Path, *, counts: dict[str, int] | None = None
                     ) -> list[tuple[str, str, int]]:
    """``(doc_id, text, line)`` of each document an audit's review lists (by its
    ``doc`` number), once each, in the order of its first row: what ``tagsmith label``
    asks the LLM about where it reads a review (:func:`is_review_file`). ``doc_id`` is
    the audit's id of the document ("" where the corpus gave none), ``line`` that of
    its first row. A document a person decided in full (every row of it has a
    decision) is left out: ``apply-review --decide-from`` decides only the rows left
    undecided, so its answer would decide nothing (it was asked, and paid for);
    ``counts``, a dict given, gets how many were left out (``n_decided_documents``).
    In CSV,
    the ``'`` the writer put before a cell a spreadsheet would run as a formula is
    taken off as it was put on
    (:func:`spreadsheet_safe`: before a text starting ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return; an earlier label sent ``'- [NAME]``); where the text itself began
    with ``'`` (which the writer leaves bare), the fingerprint says so and it is kept.

    >>> from tagsmith.data.csvlimits import spreadsheet_safe
    >>> [_review_text(spreadsheet_safe(t), doc_key(t)) for t in ("-5 degrees", "'=x", "'a")]
    ['-5 degrees', "'=x", "'a"]
    """
    path = Path(path)
    csv_cells = review_format(path) == "csv"
    seen: dict[str, int] = {}  # per document: its place in documents
    documents: list[tuple[str, str, int]] = []
    undecided: list[bool] = []  # per document: whether a row of it has no decision
    for line, row in _review_records(path):
        text = row.get("text")
        if not isinstance(text, str):
            raise ReviewFormatError(f"text must be the document's text, found {text!r}",
                                    path=path, line=line)
        key = _read_key(row.get("doc_key"), path, line)
        # by the audit's document number: two documents of one text (a corpus's own
        # copies) are two lines under their own ids (label asks the text once)
        doc = str(row.get("doc") if row.get("doc") is not None else "").strip() or key
        open_row = not _decided(row.get("decision"))
        at = seen.get(doc)
        if at is not None:
            undecided[at] = undecided[at] or open_row
            continue
        seen[doc] = len(documents)
        undecided.append(open_row)
        written_id = "" if row.get("doc_id") is None else str(row["doc_id"]).strip()
        documents.append((_unquoted(written_id, csv_cells),
                          _review_text(text, key) if csv_cells else text, line))
    if counts is not None:
        counts["n_decided_documents"] = undecided.count(False)
    return [document for document, left in zip(documents, undecided, strict=True) if left]


def _review_text(cell: str, key: str) -> str:
    """A review CSV's ``text`` cell as the document's text: without the ``'``
    :func:`spreadsheet_safe` put before a text a spreadsheet runs as a formula, unless
    the cell is the text itself (its fingerprint ``key``: a text that began with ``'``
    and such a character, which the writer left bare). A text cut at a cell's limit
    has no fingerprint to tell by: the writer's rule decides."""
    if not (cell.startswith("'") and cell[1:].startswith(FORMULA_START)):
        return cell
    return cell if doc_key(cell) == key else cell[1:]


def _renamed_decision(reader, names: list[str]) -> str:
    """``"; " + `` :meth:`_DecisionLike.hint` for the rows after a header that lacks
    ``decision`` (best effort: a malformed row ends the search)."""
    added = _DecisionLike()
    try:
        with csv_field_limit():  # (a row's text is a whole document)
            for cells in reader:
                added.see(dict(zip(names, cells, strict=False)))
    except csv.Error:
        pass
    hint = added.hint()
    return f"; {hint}" if hint else ""


def _delimiter(header: str | None) -> str:
    """The review CSV's delimiter, told from its header line: ``,`` as written, or the
    ``;`` (or tab) a spreadsheet saves "CSV" with where the decimal mark is a comma
    (German, French, Dutch... locales); such a file was refused for missing columns.
    The delimiter under which the header names the most required columns wins (a
    comma on a tie): one that needed every required column under ``;`` took a ``;``
    header lacking one (``decision`` renamed) for a comma's, and reported every
    required column missing from one column named ``rank;decision;kind;...``.

    >>> _delimiter("rank;accept;kind;label_uri;doc;doc_key")
    ';'
    """
    return header_delimiter(header, frozenset(REQUIRED))


def _decided(value: object) -> bool:
    return value is not None and str(value).strip().lower() not in ("", "none", "null")


class _DecisionLike:
    """Columns a reviewer added (not the audit's) whose filled cells are all decisions
    (``yes``, ``x``, ``TRUE``...): an "accept" column filled in instead of ``decision``,
    or ``decision`` renamed. The decision column alone is read, so such a review was
    applied as no decision at all (an unchanged copy and a warning) or refused as
    "missing column decision", neither naming the column that held the review."""

    def __init__(self) -> None:
        self.filled: dict[str, int] = {}
        self.values: dict[str, set[str]] = {}
        self.other: set[str] = set()
        # the audit's columns and those ruled out, skipped as one set difference: each
        # cell looked up in COLUMNS (a tuple) was about 1 s of 6-7 per 10^5 rows
        self._skip: set[str] = set(_COLUMN_SET)

    def see(self, row: dict) -> None:
        for column in row.keys() - self._skip:
            value = row[column]
            if not _decided(value):
                continue
            if str(value).strip().lower() in _DECISIONS:
                self.filled[column] = self.filled.get(column, 0) + 1
                self.values.setdefault(column, set()).add(str(value).strip())
            else:
                self.other.add(column)
                self._skip.add(column)
                self.filled.pop(column, None)

    def column(self) -> tuple[str, int] | None:
        """The column that seems to hold the decisions, and how many it holds."""
        found = [(column, n) for column, n in self.filled.items() if column not in self.other]
        return found[0] if len(found) == 1 else None

    def hint(self) -> str:
        """Which column seems to hold the decisions (empty: none does)."""
        if (found := self.column()) is None:
            return ""
        column, n = found
        shown = sorted(self.values[column])
        values = ", ".join(shown[:3]) + (", ..." if len(shown) > 3 else "")
        return (f"column {column!r} holds {n:,} decision{plural_s(n)} ({values}); only the "
                "decision column is read: copy them into it, or rename that column to "
                "decision")


def count_decisions(path: str | Path) -> int:
    """How many rows of a review file have a decision filled in (accept or reject).

    Where none has, the decisions a column of the reviewer's own holds (an "Accept"
    column filled in instead, which :func:`read_decisions` refuses, naming it): they
    count, so that a re-run audit does not overwrite them.

    Raises :class:`ReviewFormatError` for a file that is not a readable review."""
    added = _DecisionLike()
    n_decided = 0
    for _, row in _review_records(Path(path)):
        n_decided += _decided(row.get("decision"))
        added.see(row)
    found = added.column()
    return n_decided or (0 if found is None else found[1])


def read_decisions(path: str | Path, space: LabelSpace, *, space_name: str = "the vocabulary",
                   lang: str = "en") -> tuple[list[Decision], dict]:
    """The accepted corrections of a review file, and counts of every decision:
    ``accepted`` counts candidates (document and label), ``repeated`` the rows that
    accept a candidate an earlier row accepted already (applied once).

    Raises :class:`ReviewFormatError` naming the file and line of a malformed row, and
    of a row that decides a candidate an earlier row decided the other way (accepted
    once and rejected once: which one the reviewer meant is not for us to guess).
    ``space_name`` says where ``space`` came from, in the message for a label not in it;
    ``lang``: the language its messages name labels in.
    """
    decisions, _, counts = _read_decisions(Path(path), space, space_name,
                                           check_language("lang", lang))
    return decisions, {k: v for k, v in counts.items() if k != "kept_rows"}


def label_answers(path: str | Path, space: LabelSpace, *, min_score: float = 0.5,
                  space_name: str = "the vocabulary") -> LabelAnswers:
    """The labels a label file gives each of its documents, by text fingerprint
    (:func:`doc_key`): ``tagsmith label``'s output (a label counts where its score is at
    least ``min_score``, or its line's ``kept_by_review`` names it: a person kept it), or
    any corpus (each label scores 1). A document the file
    holds twice with other labels is left out (which to believe is not for us to
    guess); one it does not hold (a call that failed or was refused) is not in it.
    A copy ``label --budget`` marks ``"copy_of": ID`` (never sent) has the answer of
    the line of id ``ID``. A line listing ``unknown_labels`` (names the LLM gave that
    no label has, a misspelt one) is marked ``partial``: a label it lacks may be among
    them. A line listing ``offered`` (the labels its shortlist offered) keeps them, as
    label ids: a label not among them was never offered, so the answer says nothing of
    it; a line whose ``offered`` is no list of names offered none, and is warned of
    (how many, the file and their first lines). Two lines of one text with the same
    labels agree whatever else they list (:func:`_merged`). The file is read once.
    The answers are also kept by each line's id and text (:class:`LabelAnswers`'s
    ``by_id``; a copy's under its own id), where :func:`apply_review` looks a row's
    ``doc_id`` and ``doc_key`` up when its text is answered two ways: two copies of one
    text naming other ids each decide by the line they copy, where by text the later
    one's answer decided both.

    Raises :class:`~tagsmith.exceptions.CorpusFormatError` naming the file and line of
    a malformed line or a label not in ``space``."""
    from tagsmith.pipeline.llm import _read_soft_labels

    min_score = float(min_score)
    if not 0 < min_score <= 1:
        raise InvalidParameterError("min_score", "a number in (0, 1]", str(min_score))
    # with each line's unknown_labels (names the vocabulary lacks, "gratitute") and
    # offered, and the copies label --budget marks "copy_of" (never sent, given their
    # document's answer), which read_soft_labels leaves out, in the one pass (a second
    # one read the whole file again for them): a copy's rows stayed undecided, counted
    # as documents the file does not hold
    # a copy's (id, text, the id and text of the line it copies)
    copied: list[tuple[str | None, str, str | None, str]] = []
    ids: list[str | None] = []
    offered = _OfferedIds(space)
    texts, Y, metas = _read_soft_labels(path, space, vocabulary=space_name,
                                        keys=("unknown_labels", "offered", "scores",
                                              REVIEW_MARK, KEPT_MARK),
                                        copied=copied,
                                        convert=offered, ids=ids, empty_ok=True)
    offered.warn(path)
    if not texts and not copied:
        # label's output for a review a person decided in full (or with no rows): it
        # was refused ("no documents in the file"), failing a scripted monthly cycle
        logger.warning("%s holds no answer (label's output for a review that left no "
                       "document to ask about?): it decides no row", path)
    answers = LabelAnswers()
    conflicting: set[str] = set()
    by_id = answers.by_id
    conflicting_ids: set[tuple[str, str]] = set()
    unresolved: set[str] = set()  # texts with a line no id and text of its own tell
    for row, text in enumerate(texts):
        start, end = Y.indptr[row], Y.indptr[row + 1]
        key = doc_key(text)
        meta = metas[row]
        named = meta.get("unknown_labels")
        # the answer's stated scores (a label output's), for the labels it adds; read
        # as float32: 6 decimals give the file's number back (label writes 4)
        # (a label a person added, its line's REVIEW_MARK: apply-review's output decides,
        # scoring 1.0, a person's decision: no LLM's stated 1.0, added with it unmarked;
        # one a person kept, its KEPT_MARK, keeps the LLM's low score beside it: given
        # whatever that score, a person's decision (read by min_score, a kept 0.4 was
        # absent, and a wrong row of it accepted: the label a person kept removed)
        by_person = {_resolve(space, k) for mark in (REVIEW_MARK, KEPT_MARK)
                     if isinstance(marked := meta.get(mark), list)
                     for k in marked if isinstance(k, str)}
        given = frozenset(int(j) for j, v in zip(Y.indices[start:end], Y.data[start:end],
                                                 strict=True)
                          if v >= min_score or int(j) in by_person)
        stated = {int(j): round(float(v), 6) for j, v in zip(
            Y.indices[start:end], Y.data[start:end], strict=True)
            if int(j) in given and int(j) not in by_person} \
            if meta.get("scores") is True else None
        answer = LabelAnswer(given, bool(named), meta.get("offered"),
                             named if isinstance(named, tuple) else (), stated)
        _add_answer(answers, conflicting, key, answer)
        if ids[row] is None:
            unresolved.add(key)
        else:
            _add_answer(by_id, conflicting_ids, (ids[row], key), answer)
    for copy_id, copy, source_id, source in copied:
        key = doc_key(copy)
        source_key = doc_key(source)
        copied_answer = None if source_key in conflicting else answers.get(source_key)
        if copied_answer is not None:
            # two copies of one text whose lines answer apart: a text answered two ways
            # (the later one's answer decided both)
            _add_answer(answers, conflicting, key, copied_answer)
        # by id too: two copies of one text naming other ids (two outputs concatenated)
        # each get the answer of the line they copy, where by text the later one won
        if copy_id is None:
            unresolved.add(key)
            continue
        source_answer = None if source_id is None or (source_id, source_key) \
            in conflicting_ids else by_id.get((source_id, source_key))
        if source_answer is None:
            source_answer = copied_answer
        if source_answer is not None:
            _add_answer(by_id, conflicting_ids, (copy_id, key), source_answer)
        elif key in conflicting:
            unresolved.add(key)
    for key in conflicting:
        del answers[key]
    answers.two_ways = conflicting
    for pair in conflicting_ids:
        del by_id[pair]
        unresolved.add(pair[1])
    # only a text answered two ways is looked up by id: the others' entries let go
    # (a second key per line of a 10^5-line file)
    answers.by_id = {pair: answer for pair, answer in by_id.items()
                     if pair[1] in conflicting}
    if conflicting:
        n = len(conflicting)
        n_left = len(conflicting & unresolved)
        # texts, not rows: the rows left undecided are counted as the review is read
        # (review_undecided_two_ways; "their rows are left undecided" was said of rows
        # their doc_id's line then decided)
        by_ids = ("no line has an id and text of its own" if n_left == n else
                  f"every line of {n - n_left:,} of them has an id and text of its own"
                  if n_left else "every line has an id and text of its own")
        logger.warning("%s gives %s %s different labels in two lines (%s): a row of %s is "
                       "decided by the line of its doc_id and text where there is one, "
                       "else left undecided (counted as rows whose text the file answers "
                       "two ways)", path, f"{n:,}", plural(n, "text", "texts"), by_ids,
                       plural(n, "it", "one"))
    return answers


def _add_answer(answers: dict, conflicting: set, key: Any, answer: LabelAnswer) -> None:
    """:func:`label_answers`'s adding of one line's ``answer`` under ``key``: a key
    answered with other labels before is ``conflicting``; one answered alike is one
    answer (:func:`_merged`)."""
    earlier = answers.setdefault(key, answer)
    if earlier is answer:
        return
    if earlier.labels != answer.labels:
        conflicting.add(key)
    else:  # one text answered alike twice, its lines' shortlists apart: one answer
        answers[key] = _merged(earlier, answer)


class LabelAnswers(dict):
    """:func:`label_answers`'s answers: by text fingerprint (:func:`doc_key`), and in
    ``by_id`` by the line's id and text fingerprint, which decides a review row whose
    ``doc_id`` and ``doc_key`` name a line where its text is answered two ways: two
    documents of one text answered apart (two outputs concatenated), or two copies of
    one text naming other ids, each decide their own rows, where by text they were one
    key (the later answer won, or the rows were left undecided)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.by_id: dict[tuple[str, str], LabelAnswer] = {}
        self._ids: dict[str, list[str]] | None = None  # text -> the ids by_id holds it by
        #: the texts (:func:`doc_key`) the file answers two ways: a row of one that no
        #: line of its id tells apart is counted apart (the warning counted texts)
        self.two_ways: set[str] = set()

    def of_document(self, doc_id: str, key: str) -> LabelAnswer | None:
        """The answer of the line of id ``doc_id`` and text ``key`` in ``by_id``: that
        id, else the one line whose id names the same document as :func:`_same_id`
        reads it (``42`` the line of ``0042``, ``1.23457E+15`` that of
        ``1234567890123456``: a review saved by a spreadsheet; an exact lookup left
        such rows undecided, with no word, where every other review id check reads
        them so). Lines that both match and answer apart decide nothing (None)."""
        found = self.by_id.get((doc_id, key))
        if found is not None or not self.by_id:
            return found
        if self._ids is None:  # built once, on the first id not found as it is
            self._ids = {}
            for line_id, text in self.by_id:
                self._ids.setdefault(text, []).append(line_id)
        matches = [self.by_id[(line_id, key)] for line_id in self._ids.get(key, ())
                   if _same_id(doc_id, line_id) or _same_id(line_id, doc_id)]
        if not matches or any(m.labels != matches[0].labels for m in matches[1:]):
            return None
        return functools.reduce(_merged, matches)


class _OfferedIds:
    """:func:`label_answers`'s reading of each line's values: ``offered`` as the sorted
    label ids its keys name (a URI, or any key the vocabulary reads as one label; each
    distinct key looked up once), ``unknown_labels`` as its names (a tuple; whether it
    lists any, where they are not all strings). An
    ``offered`` of 100 URIs per line was kept as a frozenset of them: about 1.1 GB at
    10^5 lines, where an array of ids is 0.5 kB a line. A value that is no list, or an
    item that is no string, is counted by line, for :meth:`warn`: such a line read as
    offering nothing and left its rows undecided with no word."""

    def __init__(self, space: LabelSpace):
        self.space = space
        self.ids: dict[str, int] = {}  # key -> label id, -1: none, or several
        self.malformed: list[int | None] = []  # the lines of an offered not understood

    def __call__(self, key: str, value: Any, line: int | None) -> Any:
        if key == "scores":
            # whether the line states scores (their values are read into Y): the list
            # was kept whole for every line, a float object a label (tens of MB at 10^5)
            return isinstance(value, list)
        if key == "unknown_labels":
            # the names, which apply-review --decide-from reads against each row's label
            # (a list of no string: any label may be among them)
            names = tuple(dict.fromkeys(item for item in value if isinstance(item, str))) \
                if isinstance(value, list) else ()
            # (a name listed twice is still known: it fell back to any label)
            return names if names and all(isinstance(item, str) for item in value) \
                else bool(value)
        if key != "offered":
            return value
        if value is None:  # written as null: every label offered, as with no key
            return None
        items = value if isinstance(value, list) else ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in items):
            self.malformed.append(line)
        found = [self._id(item) for item in items if isinstance(item, str)]
        ids = np.unique(np.asarray(found, np.int32))
        return ids[ids >= 0] if len(ids) and ids[0] < 0 else ids

    def _id(self, item: str) -> int:
        found = self.ids.get(item)
        if found is None:
            try:
                label_id = self.space.lookup(item)
            except AmbiguousLabelError:  # several labels' key offers none of them
                label_id = None
            found = self.ids[item] = -1 if label_id is None else label_id
        return found

    def warn(self, path: str | Path) -> None:
        if self.malformed:
            n = len(self.malformed)
            shown = and_more([line for line in self.malformed if line is not None],
                             10, serial=False)
            logger.warning("%s: %s line%s whose 'offered' is not a list of label names "
                           "(%s): what is no name offers no label, and a row whose label "
                           "its line does not name stays undecided (counted as never "
                           "offered)", path, f"{n:,}", plural_s(n),
                           f"line{plural_s(n)} {shown}")


def _merged(one: LabelAnswer, other: LabelAnswer) -> LabelAnswer:
    """Two answers of one text with the same labels, as one: a label both lack is known
    absent where an answer naming no unknown label was offered it, so the answers with
    no ``unknown_labels`` (where there are any) and the union of what they were offered
    (None: every label). Such lines (two ``label`` runs with other bundles,
    concatenated) were read as two answers in conflict, their rows left undecided."""
    if one.partial != other.partial:
        return other if one.partial else one
    # an answer whose names are not known (none readable) may name any label: merged
    # with one whose names are, the names known alone read as all it named
    unknown = tuple(dict.fromkeys((*one.unknown, *other.unknown))) \
        if one.unknown and other.unknown else ()
    # the labels' stated scores kept (they were dropped: a label the merged answer added
    # scored 1.0, marked as a person's, its confidence lost), the lower of two stated
    scores = _merged_scores(one.scores, other.scores)
    if one.offered is None or other.offered is None:
        return LabelAnswer(one.labels, one.partial, None, unknown, scores)
    return LabelAnswer(one.labels, one.partial, np.union1d(one.offered, other.offered),
                       unknown, scores)


def _merged_scores(one: dict[int, float] | None,
                   other: dict[int, float] | None) -> dict[int, float] | None:
    """Two answers' stated scores as one: each label's lower where both state it, the
    one stated where one does (None where neither answer states any)."""
    if one is None or other is None:
        return other if one is None else one
    return {j: min(v, other[j]) if j in other else v for j, v in {**other, **one}.items()}


def _was_offered(label_id: int, offered: np.ndarray) -> bool:
    """Whether a line's ``offered`` (sorted label ids) holds ``label_id`` (by
    :func:`bisect.bisect_left`: about 1.6 us a row at 100 ids, where
    :func:`numpy.searchsorted`'s call took 6.5 us)."""
    at = bisect.bisect_left(offered, label_id)
    return at < len(offered) and int(offered[at]) == label_id


@dataclass(frozen=True, eq=False)
class LabelAnswer:
    """The labels a label file gives one document (:func:`label_answers`)."""

    labels: frozenset[int]
    #: the answer also named labels the vocabulary lacks: one it lacks may be among them
    partial: bool = False
    #: the label ids its prompt offered (a shortlist; sorted), None where it offered
    #: every one: a label not among them the LLM could not name, so the answer decides
    #: nothing of it
    offered: np.ndarray | None = None
    #: the names of ``partial`` (label's ``unknown_labels``; empty where the file gave
    #: none readable: then any label may be among them)
    unknown: tuple[str, ...] = ()
    #: each given label's stated score (a label output's ``scores``), None where the
    #: file states none (a corpus of the user's own): ``apply_review`` gives a label the
    #: answer added its score, an LLM's stated confidence
    scores: dict[int, float] | None = None


#: how alike (difflib's ratio of the folded names) an unknown name and a label's name
#: must be for the name to be read as possibly that label misspelt ("gratitute" and
#: "gratitude": 0.89; "Something else entirely" and "Trade topics": 0.29)
MISSPELT_RATIO = 0.75


def _contained_from(name: str) -> int:
    """How long ``name`` must be for :func:`_may_name` to read a name holding it (or
    held in it) as alike: 3 characters, 2 in a script written without spaces (CJK,
    Thai...: :data:`~tagsmith.features.tfidf.UNSPACED`), where a word is two characters
    ("天气" in "天气预报", a ratio of 0.67 only, read as unlike and the label rejected).

    >>> _contained_from("ai"), _contained_from("天气")
    (3, 2)
    """
    from tagsmith.features.tfidf import UNSPACED

    return 2 if re.search(f"[{UNSPACED}]", name) else 3


class _NameFolds:
    """The names :func:`_may_name` compares, folded once within one reading of a review
    (:func:`_read_decisions`): each label's names (with how long a name must be to be
    read as held, :func:`_contained_from`), each unknown name, and a
    :class:`difflib.SequenceMatcher` for each label name that an unknown name's length
    allows to be alike. They were rebuilt on every undecided row: a label's 120 names
    folded, and each name indexed by difflib again for every unknown name (50 labels of
    120 names, 10^4 rows: 20 s)."""

    def __init__(self) -> None:
        self._labels: dict[int, tuple[tuple[str, int], ...]] = {}
        self._given: dict[str, tuple[str, int]] = {}
        self._matchers: dict[str, Any] = {}

    def label(self, space: LabelSpace, label_id: int) -> tuple[tuple[str, int], ...]:
        """The folded names of label ``label_id`` (preferred or alternative, any
        language, its notation and URI), each with :func:`_contained_from` of it."""
        names = self._labels.get(label_id)
        if names is None:
            from tagsmith.labeling.parsing import fold_name

            label = space[label_id]
            folded = dict.fromkeys(fold_name(name) for name in (
                *label.pref_labels.values(), *(alt for alts in label.alt_labels.values()
                                               for alt in alts), label.notation or "",
                label.uri) if name)
            names = self._labels[label_id] = tuple((name, _contained_from(name))
                                                   for name in folded)
        return names

    def given(self, name: str) -> tuple[str, int]:
        """An unknown name folded, with :func:`_contained_from` of it."""
        folded = self._given.get(name)
        if folded is None:
            from tagsmith.labeling.parsing import fold_name

            fold = fold_name(name)
            folded = self._given[name] = (fold, _contained_from(fold))
        return folded

    def matcher(self, name: str):
        """A :class:`difflib.SequenceMatcher` whose second sequence is ``name`` (the one
        difflib indexes)."""
        alike = self._matchers.get(name)
        if alike is None:
            import difflib

            alike = self._matchers[name] = difflib.SequenceMatcher(None, "", name)
        return alike


def _may_name(answer: LabelAnswer, label_id: int, space: LabelSpace,
              folds: _NameFolds | None = None) -> bool:
    """Whether one of the names ``answer`` gave that no label has may be the label
    ``label_id`` (misspelt, shared with another label, or given with an invalid
    confidence): a folded name of the label (preferred or alternative, any language, its
    notation) equal to it, holding it or held in it (:func:`_contained_from`), or alike
    by :data:`MISSPELT_RATIO`. ``folds`` keeps the names folded across calls (one
    review's rows).
    An answer whose names are not known may name any label.

    >>> from tagsmith.data.labelspace import Label
    >>> space = LabelSpace([Label("u:g", {"en": "gratitude"}), Label("u:t", {"en": "Trade"})])
    >>> [_may_name(LabelAnswer(frozenset(), True, None, ("Gratitute",)), j, space)
    ...  for j in (0, 1)]
    [True, False]
    >>> _may_name(LabelAnswer(frozenset(), True, None, ("Something else entirely",)), 1,
    ...           space), _may_name(LabelAnswer(frozenset(), True), 1, space)
    (False, True)
    """
    if not answer.unknown:
        return True
    folds = _NameFolds() if folds is None else folds
    names = folds.label(space, label_id)
    for given in answer.unknown:
        folded, folded_from = folds.given(given)
        if not folded:
            continue
        # the ratio reached through its upper bounds, as difflib.get_close_matches
        # does: 12 ms a row of a label of 120 names, 20 minutes at 10^5 rows. The
        # first, real_quick_ratio, is of the lengths alone: taken here, before a
        # matcher of the name is built
        for name, name_from in names:
            # the shorter's _contained_from (the unknown name's where they are as long)
            shorter, shorter_from = ((folded, folded_from) if len(folded) <= len(name)
                                     else (name, name_from))
            if folded == name or (len(shorter) >= shorter_from
                                  and (folded in name or name in folded)):
                return True
            if 2.0 * len(shorter) / (len(folded) + len(name)) < MISSPELT_RATIO:
                continue
            alike = folds.matcher(name)
            alike.set_seq1(folded)
            if alike.quick_ratio() >= MISSPELT_RATIO and alike.ratio() >= MISSPELT_RATIO:
                return True
    return False


def _decided_by(row: dict, answers: dict[str, LabelAnswer], space: LabelSpace,
                path: Path, line: int, csv_cells: bool, space_name: str,
                beside: list[tuple[str, ...]] | None = None,
                folds: _NameFolds | None = None
                ) -> tuple[str | None, tuple[int, int] | None, float | None]:
    """The decision a label file's answer for the row's document implies (``accept``
    or ``reject``); None where the file does not hold that document, and ``partial``
    (no decision) where the answer lacks the label but named one the vocabulary lacks
    (perhaps this label, misspelt: "gratitute" took gratitude off a comment that has
    it), ``not_offered`` (no decision) where it lacks a label its shortlist never
    offered, ``two_ways`` (no decision) where the file answers its text with other
    labels in two lines and no line of its ``doc_id`` tells them apart. With it, the
    row's document and label (:func:`_doc_and_label`) where
    they were read (None where the file does not hold the document): the caller
    applying the decision reads them no second time. A row whose label the answer
    lacks, decided though the answer also named labels the vocabulary lacks (none of
    them like the label: :func:`_may_name`), has those names appended to ``beside``;
    ``folds`` keeps the names :func:`_may_name` folded across one review's rows. Third,
    the answer's stated score of the row's label where it gives it (None where it states
    none)."""
    # the answer looked up before any cell is checked: an undecided row is no decision,
    # read nowhere, and a row whose document the file lacks stays one (a row added by
    # hand and left blank failed the whole run, though nothing would decide it)
    try:
        key = _read_key(row["doc_key"], path, line)
    except ReviewFormatError:
        key = ""  # matched by its text alone; a decided row's key is checked as ever
    answer = answers.get(key)
    if answer is None and isinstance(answers, LabelAnswers) and answers.by_id and key \
            and row.get("doc_id") is not None:
        # a text answered two ways: by the document's id and text (two copies of one
        # text naming other ids, two label outputs concatenated, were one key, the
        # later answer deciding both). A row with no doc_id (a corpus without ids) is
        # not looked up so: label named its line review.csv:LINE, its document's first
        # row, which a review sorted, moved or renamed since no longer names
        written_id = str(row["doc_id"]).strip()
        if written_id:
            answer = answers.of_document(_unquoted(written_id, csv_cells), key)
    if answer is None and isinstance(row.get("text"), str) and row["text"]:
        # label read the review itself and its text cell was no document's text: cut
        # below a cell's limit (label takes the ' off a text the CSV protected from a
        # spreadsheet, "'-5 degrees"; an earlier label sent it, cell and all)
        cell = row["text"]
        for asked in dict.fromkeys((_review_text(cell, key) if csv_cells else cell, cell)):
            answer = answers.get(doc_key(asked))
            if answer is not None:
                break
    if answer is None:
        # a text answered two ways that no line of the row's id tells apart: counted
        # apart from the documents the file lacks (they were one count)
        two_ways = isinstance(answers, LabelAnswers) and key in answers.two_ways
        return ("two_ways" if two_ways else None), None, None
    pair = _doc_and_label(row, space, path, line, csv_cells, space_name)
    label_id = pair[1]
    present = label_id in answer.labels
    if not present and answer.offered is not None \
            and not _was_offered(label_id, answer.offered):
        # off the document's shortlist (a month-old bundle never offers the month's new
        # labels): a wrong row was accepted, a right label taken off, only because the
        # LLM could not name it
        return "not_offered", pair, None
    if not present and answer.partial and _may_name(answer, label_id, space, folds):
        # a name the answer gave that no label has may be this label, misspelt; one
        # like no name of it ("Something else entirely" beside "Trade topics") decides
        # as the answer's other labels do: the stop-56 walk left 43 of 100 rows
        # undecided, the teacher naming a label outside the taxonomy in every answer
        return "partial", pair, None
    if not present and answer.partial and beside is not None:
        beside.append(answer.unknown)
    # a missing label is accepted (added) where the answer gives it, a wrong one
    # accepted (removed) where the answer leaves it out
    verdict = "accept" if present == (row_kind(row, path, line) == "missing") else "reject"
    return verdict, pair, (answer.scores or {}).get(label_id) if present else None


def _read_decisions(path: Path, space: LabelSpace, space_name: str = "the vocabulary",
                    lang: str = "en", answers: dict[str, LabelAnswer] | None = None
                    ) -> tuple[list[Decision], list[Decision], dict]:
    """:func:`read_decisions`, and the rows repeating an earlier acceptance as
    decisions of their own (applied once, but each checked against its document).
    ``answers`` (:func:`label_answers`) decides the rows left undecided whose document
    it holds, counted in ``decided_by_labels``."""
    accepted: dict[tuple[int, int], Decision] = {}
    repeated: list[Decision] = []
    verdicts: dict[tuple[int, int], tuple[bool, int]] = {}  # (accepted?, first line)
    # accepted counts candidates, not rows: a row repeating an earlier acceptance (a
    # copied row) is applied once, and counted as "repeated"
    counts = {"accepted": 0, "rejected": 0, "undecided": 0, "repeated": 0}
    if answers is not None:  # read_decisions's counts are as they were without them
        counts.update({"decided_by_labels": 0, "undecided_unknown_labels": 0,
                       "undecided_not_offered": 0, "undecided_two_ways": 0,
                       "decided_beside_unknown_labels": 0})
    # the names beside which rows were decided (the unknown names of their answers)
    beside: list[tuple[str, ...]] = []
    folds = _NameFolds()  # the names _may_name compares, folded once for every row
    # a JSONL review keeps its values as they are: no ' to strip from them
    csv_cells = review_format(path) == "csv"
    added = _DecisionLike()
    unresolved: list[int] = []  # lines of accepted rows naming a narrower label not found
    kept: list[Decision] = []  # the wrong rows a person rejected (kind "kept")
    for line, row in _review_records(path):
        for column in REQUIRED:
            if column not in row:
                raise ReviewFormatError(f"missing field {column!r}", path=path, line=line)
        added.see(row)
        # the row's document and label, where the label file's decision read them (a
        # decided row's cells were read twice)
        read: tuple[int, int] | None = None
        stated: float | None = None  # the deciding answer's score of the row's label
        by_person = _decided(row["decision"])
        if not by_person:
            n_beside = len(beside)
            verdict, read, stated = (None, None, None) if answers is None else _decided_by(
                row, answers, space, path, line, csv_cells, space_name, beside, folds)
            if answers is not None:
                counts["decided_beside_unknown_labels"] += len(beside) - n_beside
            if verdict is None or verdict in ("partial", "not_offered", "two_ways"):
                counts["undecided"] += 1
                if verdict is not None:
                    counts["undecided_unknown_labels" if verdict == "partial" else
                           f"undecided_{verdict}"] += 1
                continue
            # a person's decision stands; the label file decides the rows left empty
            counts["decided_by_labels"] += 1
            row = {**row, "decision": verdict}
        decision = str(row["decision"]).strip().lower()
        if decision not in _DECISIONS:
            raise ReviewFormatError(f"decision must be {DECISION_VALUES}, or empty, found "
                                    f"{row['decision']!r}", path=path, line=line)
        if decision in REJECT:
            counts["rejected"] += 1
            try:
                pair = read or _doc_and_label(row, space, path, line, csv_cells, space_name)
                # a wrong row a person rejected: the label kept, a person's decision
                # (KEPT_MARK), by the row's text and id (the corpus may have moved)
                if by_person and row_kind(row, path, line) == "wrong":
                    written_id = "" if row.get("doc_id") is None else \
                        str(row["doc_id"]).strip()
                    kept.append(Decision(pair[0], "kept", pair[1], _read_key(
                        row["doc_key"], path, line, pair[0]), line,
                        _unquoted(written_id, csv_cells)))
            except ReviewFormatError:
                continue  # a rejection changes nothing; only a contradiction would matter
            _check_verdict(verdicts, pair, False, row, path, line)
            continue
        kind = row_kind(row, path, line)
        doc, label_id = read or _doc_and_label(row, space, path, line, csv_cells,
                                               space_name)
        _check_label_name(row, space, label_id, path, line, csv_cells, lang)
        key = _read_key(row["doc_key"], path, line, doc)
        _check_verdict(verdicts, (doc, label_id), True, row, path, line)
        previous = accepted.get((doc, label_id))
        if previous is not None and previous.kind != kind:
            raise ReviewFormatError(f"contradicts line {previous.line}: both adding and "
                                    "removing this label", path=path, line=line)
        written_id = "" if row.get("doc_id") is None else str(row["doc_id"]).strip()
        read_id = _unquoted(written_id, csv_cells)
        narrower: tuple[int, ...] = ()
        if kind == "missing" and row.get("narrower_uris"):
            cell = row["narrower_uris"]
            uris = ([str(u) for u in cell if u] if isinstance(cell, list)
                    else list_cell_entries(str(cell), "narrower_uris") if csv_cells
                    else [u for u in str(cell).split("; ") if u])
            found = [_resolve(space, uri) for uri in uris]
            narrower = tuple(i for i in found if i is not None)
            if None in found:
                # dropped without a word, and with none left the check that the
                # document still carries a narrower label was skipped
                unresolved.append(line)
        correction = Decision(doc, kind, label_id, key, line, read_id,
                              written_id if read_id != written_id else "", narrower,
                              stated if kind == "missing" else None)
        if previous is not None:
            # the first row's decision stands, but this row's fingerprint and id are
            # checked against the document too: a copy whose doc number was edited (or
            # a row from a review of another corpus) must not slip by behind the first
            counts["repeated"] += 1
            repeated.append(correction)
            continue
        accepted[(doc, label_id)] = correction
    counts["accepted"] = len(accepted)
    # not a count: apply_review marks their labels (KEPT_MARK), read_decisions drops it
    counts["kept_rows"] = kept  # type: ignore[assignment]
    if unresolved:
        logger.warning(
            "%s accepted row%s of %s (line %s%s) name%s narrower labels not in %s: those "
            "are left out of the check that the document still carries one of the row's "
            "narrower labels, which a row with none found is added without",
            f"{len(unresolved):,}", plural_s(len(unresolved)), path, unresolved[0],
            " first" if len(unresolved) > 1 else "", "" if len(unresolved) > 1 else "s",
            space_name)
    hint = added.hint()
    if hint and not accepted and not counts["rejected"]:
        raise ReviewFormatError(f"the decision column is empty, but {hint}", path=path,
                                line=1 if csv_cells else None)
    if answers is not None:
        # what those answers named, most often first (ties by name), for the closing line
        named = Counter(name for names in beside for name in set(names))
        counts["beside_unknown_names"] = sorted(  # type: ignore[assignment]
            named.items(), key=lambda item: (-item[1], item[0]))[:5]
    return sorted(accepted.values(), key=lambda d: (d.doc, d.line)), repeated, counts


@dataclass
class ReviewedPairs:
    """The (document, label) pairs earlier reviews decided, and what the reviewer said
    of each: whether the label applies to the document (accepting a *missing* row or
    rejecting a *wrong* one says it does; accepting a *wrong* row or rejecting a
    *missing* one says it does not). A document is named by its ``doc_id`` and its
    text's fingerprint (``doc_key``) where the review has an id (a text edited since
    the review is asked about again), else by the fingerprint alone: the ``doc`` number
    shifts when documents are added before it or the corpus is reordered. Of a corpus
    whose documents have no ids, a row with a ``doc_id`` is matched by its fingerprint
    too (its id names nothing there)."""

    #: ``(doc_id, doc_key, label id)`` -> (the label applies?, ``file:line`` of the
    #: decision)
    by_id: dict[tuple[str, str, int], tuple[bool, str]] = dataclasses.field(
        default_factory=dict)
    #: ``(doc_key, label id)`` -> the same, for rows without a ``doc_id``
    by_key: dict[tuple[str, int], tuple[bool, str]] = dataclasses.field(default_factory=dict)
    #: ``(doc_key, label id)`` -> ``doc_id`` -> the same: the rows of ``by_id`` by their
    #: fingerprint, for a corpus without ids
    id_rows_by_key: dict[tuple[str, int], dict[str, tuple[bool, str]]] = dataclasses.field(
        default_factory=dict)
    #: the review files read, in order (a later file's decision of a pair replaces an
    #: earlier one's)
    files: list[str] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.by_id) + len(self.by_key)

    def verdict(self, doc_id: str | None, key: str, label_id: int, *,
                corpus_has_ids: bool = True,
                fallback: TextFallback | None = None) -> bool | None:
        """Whether the reviewer said ``label_id`` applies to the document (None: the
        pair was not decided). ``corpus_has_ids=False``: the corpus gives its documents
        no ids, so a row with a ``doc_id`` decides the document of its ``doc_key`` too (it
        matched nothing: a review of the corpus with ids, given for its text alone);
        rows of one fingerprint whose ids were decided apart, the two ways, decide
        nothing. ``fallback``: the rows whose id names no document of a corpus with ids,
        matched by their text (:meth:`text_fallback`), those of one text decided both
        ways deciding nothing too."""
        found = self.decision(doc_id, key, label_id, corpus_has_ids=corpus_has_ids,
                              fallback=fallback)
        return None if found is None else found[0]

    def decision(self, doc_id: str | None, key: str, label_id: int, *,
                 corpus_has_ids: bool = True, fallback: TextFallback | None = None
                 ) -> tuple[bool, str] | None:
        """:meth:`verdict`, and where it was decided (``file:line``; of rows of one
        fingerprint matched for a corpus without ids, the first in the files' order). A
        row's ``doc_id`` names the document as :func:`_same_id` reads it (``42`` a
        spreadsheet wrote for ``0042``), an exact id first."""
        found = self.by_id.get((doc_id, key, label_id)) if doc_id else None
        if found is None and doc_id:
            # an id a spreadsheet rewrote (42 for 0042, 1.23457E+15) names its document
            # as apply-review reads it; the fingerprint still has to match
            found = next((decided for written, decided in
                          self.id_rows_by_key.get((key, label_id), {}).items()
                          if _same_id(written, doc_id)), None)
        if found is None:
            found = self.by_key.get((key, label_id))
        if found is None and not corpus_has_ids:
            rows = list(self.id_rows_by_key.get((key, label_id), {}).values())
            if len({applies for applies, _ in rows}) == 1:
                return rows[0]
        if found is None and fallback is not None and fallback.names(doc_id, key):
            # a row whose id names no document of the corpus: by its text, where one
            # document (of an id no row names) has it
            rows = [decided for written, decided in
                    self.id_rows_by_key.get((key, label_id), {}).items()
                    if written in fallback.lost]
            if len({applies for applies, _ in rows}) == 1:
                return rows[0]
        return found

    def text_fallback(self, doc_ids: Sequence[str | None],
                      key_of: Callable[[int], str]) -> TextFallback:
        """The rows of ids that name no document of the corpus of ``doc_ids`` (a
        spreadsheet rewrote them beyond what :func:`_same_id` reads, or the corpus gave
        its documents other ids), to be matched by their text's fingerprint
        (:meth:`decision`'s ``fallback``): each is matched to the document of its text
        where the corpus has one alone and no row names its id; a text several
        documents share is ambiguous (empty texts, boilerplate: their ids alone told
        them apart), and such rows match nothing. ``key_of(n)``: the :func:`doc_key` of
        document ``n``."""
        recorded = {doc_id for doc_id, _, _ in self.by_id if doc_id}
        if not recorded:
            return TextFallback()
        index = _NumericIds(recorded)
        named: set[str] = set()
        unnamed = [True] * len(doc_ids)  # whether each document's id names no row
        for doc, found in index.naming_each(doc_ids).items():
            named.update(found)
            unnamed[doc] = False
        lost = recorded - named
        if not lost:
            return TextFallback()
        lost_keys = {key for doc_id, key, _ in self.by_id if doc_id in lost}
        owners: dict[str, list[int]] = {}  # the documents of each lost row's text
        for doc in range(len(doc_ids)):
            key = key_of(doc)
            if key in lost_keys:
                owners.setdefault(key, []).append(doc)
        sole = {key: doc_ids[docs[0]] for key, docs in owners.items()
                if len(docs) == 1 and unnamed[docs[0]]}
        shared = frozenset(key for key, ids in owners.items() if len(ids) > 1)
        pairs = [(key, label_id, applies) for (doc_id, key, label_id), (applies, _)
                 in self.by_id.items() if doc_id in lost]
        # rows of one text and label under lost ids decided both ways decide nothing
        # (decision): not counted as matched, which the warning said they were
        said: dict[tuple[str, int], set[bool]] = {}
        for key, label_id, applies in pairs:
            said.setdefault((key, label_id), set()).add(applies)
        # a row of that text and label without an id decides it for every document of
        # the text (by_key, read before the fallback): matched by the text, not asked
        # about again (the warning said so of a text several documents share)
        by_key = self.by_key
        return TextFallback(frozenset(lost), sole, shared, held=frozenset(owners),
                            n_pairs=len(pairs),
                            n_matched=sum((key, label_id) in by_key and key in owners
                                          or key in sole and len(said[(key, label_id)]) == 1
                                          for key, label_id, _ in pairs),
                            n_ambiguous=sum(key in shared and (key, label_id) not in by_key
                                            for key, label_id, _ in pairs))


@dataclass(frozen=True)
class TextFallback:
    """The review rows whose ``doc_id`` names no document of a corpus
    (:meth:`ReviewedPairs.text_fallback`), matched by their text's fingerprint alone:
    ``lost`` their ids, ``sole`` each fingerprint of theirs that one document alone has
    (of an id no row names), and that document's id, ``shared`` those several documents
    have, ``held`` every one of theirs some document has. ``n_pairs`` counts their
    decided pairs,
    ``n_matched`` those of a text one document has, ``n_ambiguous`` those of a text
    several documents share (matched nowhere: their ids cannot tell which one)."""

    lost: frozenset[str] = frozenset()
    sole: dict[str, str | None] = dataclasses.field(default_factory=dict)
    shared: frozenset[str] = frozenset()
    held: frozenset[str] = frozenset()
    n_pairs: int = 0
    n_matched: int = 0
    n_ambiguous: int = 0

    def names(self, doc_id: str | None, key: str) -> bool:
        """Whether the document of ``doc_id`` and fingerprint ``key`` is the one a lost
        row of that text names."""
        return key in self.sole and self.sole[key] == doc_id


def texts_changed(pairs: ReviewedPairs, texts: Sequence[str],
                  doc_ids: Sequence[str | None], keys: dict[int, str] | None = None
                  ) -> list[str]:
    """The ids of documents ``pairs`` decided by id whose text in this corpus has none of
    the fingerprints the reviews recorded for that id (edited since, or read with other
    text options, ``--text-column``): their pairs are asked about again, and a whole
    corpus read another way brought the whole queue back with no word. ``keys``: each
    document's :func:`doc_key` by number, as :func:`reviewed_candidates` left them (its
    flagged documents), read rather than hashed again, and filled."""
    recorded: dict[str, set[str]] = {}
    for doc_id, key, _ in pairs.by_id:
        if doc_id:
            recorded.setdefault(doc_id, set()).add(key)
    if not recorded:
        return []
    if len(doc_ids) != len(texts):
        raise ValueError(f"{len(doc_ids)} ids for {len(texts)} texts")
    # an id a spreadsheet rewrote (42 for 0042, 1.23457E+15) names its document as
    # ReviewedPairs.decision reads it (_same_id): such a document, edited since, was not
    # counted. Found through an index of the ids as numbers, not a scan of every id.
    index = _NumericIds(recorded)
    keys = {} if keys is None else keys
    changed = []
    for doc, named in index.naming_each(doc_ids).items():
        its_id = doc_ids[doc]
        assert its_id is not None
        known = keys.get(doc)
        if known is None:
            known = keys[doc] = doc_key(texts[doc])
        if all(known not in recorded[written] for written in named):
            changed.append(its_id)
    return changed


class _NumericIds:
    """The ids of review rows, found by a corpus's id as :func:`_same_id` reads them:
    exactly, as the same number written in full (``42`` for ``0042``), or as a
    spreadsheet's rounding (``1.23457E+15``), without comparing each pair.

    >>> index = _NumericIds(["42", "1.23457E+15", "a7"])
    >>> index.naming("0042"), index.naming("1234567890123456"), index.naming("a7")
    (['42'], ['1.23457E+15'], ['a7'])
    >>> index.naming("43"), index.naming("1234667890123456")
    ([], [])
    """

    def __init__(self, ids) -> None:
        import bisect

        self._bisect = bisect
        self._exact = set(ids)
        self._plain: dict[float, list[str]] = {}
        # numbers past a float's range (1E999), which _same_id compares exactly: few,
        # each checked by it for a document whose id is as large
        self._huge: list[str] = []
        # by the digits shown: each one's values sorted, for the window around a number
        rounded: dict[int, list[tuple[float, str]]] = {}
        for written in self._exact:
            try:
                shown = float(written)
            except ValueError:
                continue
            if not math.isfinite(shown):
                if math.isinf(shown) and _NUMBER_CHARS.fullmatch(written):
                    self._huge.append(written)
                continue
            mantissa, e, _ = written.lower().partition("e")
            if not e:
                self._plain.setdefault(shown, []).append(written)
            else:
                digits = len(mantissa.lstrip("+-").replace(".", "").lstrip("0")) or 1
                rounded.setdefault(digits, []).append((shown, written))
        self._rounded = {digits: sorted(values) for digits, values in rounded.items()}

    def naming(self, doc_id: str) -> list[str]:
        """The ids that name the document ``doc_id`` (an exact one first)."""
        named = [doc_id] if doc_id in self._exact else []
        stripped = doc_id.strip()
        if stripped != doc_id and stripped in self._exact:
            named.append(stripped)
        if not (self._plain or self._rounded or self._huge):
            return named
        try:
            actual = float(doc_id)
        except ValueError:
            return named
        if math.isnan(actual):
            return named
        # one past a float's range names a number near its own (2E308 names 1.6e308)
        candidates = self._huge if self._huge and not abs(actual) < _HUGE else []
        if not math.isfinite(actual):
            return named + [written for written in candidates
                            if written not in named and _same_id(written, doc_id)]
        candidates = [*candidates, *self._plain.get(actual, ())]
        for digits, values in self._rounded.items():
            # _same_id's tolerance is half a unit of the last digit shown: a window
            # wider than any it allows (its digits of this number), each candidate in it
            # then checked by _same_id itself
            width = 2 * 10.0 ** (1 - digits) * abs(actual)
            low = self._bisect.bisect_left(values, (actual - width, ""))
            high = self._bisect.bisect_right(values, (actual + width, "\U0010ffff"))
            candidates.extend(written for _, written in values[low:high])
        named.extend(written for written in candidates
                     if written not in named and _same_id(written, doc_id))
        return named

    def naming_each(self, doc_ids: Sequence[str | None]) -> dict[int, list[str]]:
        """:meth:`naming` of each document of ``doc_ids`` (by number, ascending) that an
        id names; those no id names (an empty or None id too) left out. The same as
        calling it on each, in one pass: only a document whose id is one of the ids, or a
        number some id's window holds (found over every number at once, with numpy), is
        asked; 1,000,000 numeric ids took 5 s one at a time."""
        asked: set[int] = set()
        exact = self._exact
        numeric = bool(self._plain or self._rounded or self._huge)
        maybe_number = _NUMBER_CHARS.fullmatch

        def parsed():
            for n, doc_id in enumerate(doc_ids):
                if not doc_id:
                    yield math.nan
                    continue
                if doc_id in exact or doc_id.strip() in exact:
                    asked.add(n)
                # float() reads no finite number of other characters: a text id is not
                # tried (an exception each cost more than the rest)
                if numeric and maybe_number(doc_id):
                    try:
                        yield float(doc_id)
                        continue
                    except ValueError:
                        pass
                yield math.nan

        # each id as a number (nan: none), 8 bytes a document
        every = np.fromiter(parsed(), dtype=np.float64, count=len(doc_ids))
        plain = np.fromiter(self._plain, dtype=np.float64)
        shown = {digits: np.asarray([value for value, _ in values], dtype=np.float64)
                 for digits, values in self._rounded.items()}
        # in slices of 65,536 ids: the windows' arrays of a million at once took 60 MB
        for start in range(0, len(every) if numeric else 0, 1 << 16):
            part = every[start:start + (1 << 16)]
            where = np.flatnonzero(np.isfinite(part))
            actual = part[where]
            near = np.isin(actual, plain) if len(plain) else np.zeros(len(actual), bool)
            for digits, values in shown.items():
                # naming's window, for every number of the slice at once; past a float's
                # range (an id 9e307) it is infinite, as naming's is, and not warned of
                # (a RuntimeWarning printed to the user, an error under -W error)
                with np.errstate(over="ignore"):
                    width = 2 * 10.0 ** (1 - digits) * np.abs(actual)
                    low = np.searchsorted(values, actual - width, side="left")
                    high = np.searchsorted(values, actual + width, side="right")
                near |= high > low
            asked.update((where[near] + start).tolist())
            if self._huge:  # ids as large as those past a float's range (1e999)
                asked.update((np.flatnonzero(np.abs(part) >= _HUGE) + start).tolist())
        found: dict[int, list[str]] = {}
        for n in sorted(asked):
            named = self.naming(doc_ids[n])  # type: ignore[arg-type]
            if named:
                found[n] = named
        return found


#: the ids from which one past a float's range (2E308) may name a number (it names
#: those within half a unit of its last digit: 1.5e308 and up)
_HUGE = 1e307

#: the characters of a finite number as float() reads it (digits of any script, as it
#: reads them): an id of others is no number (_NumericIds.naming_each)
_NUMBER_CHARS = re.compile(r"[\s\d+\-._eE]+")


def read_reviewed(paths: str | Path | Sequence[str | Path], space: LabelSpace, *,
                  space_name: str = "the vocabulary") -> ReviewedPairs:
    """The decided pairs of review files (``review.csv`` or ``.jsonl`` an audit wrote, a
    person's decisions filled in), for an audit to leave out of its queue
    (``audit --reviewed``). Undecided rows are skipped, and so are decided rows of a
    label ``space`` does not have (no candidate can name it), with a warning naming the
    file, their count and the first one's line.

    Raises :class:`ReviewFormatError` naming the file and line of a file that is not a
    review (no ``decision``, ``kind``, ``label_uri``, ``doc`` or ``doc_key`` column), of
    a malformed decided row, and of a row deciding a pair an earlier row of the same
    file decided the other way. ``paths``: the files, or one file's path."""
    pairs = ReviewedPairs()
    # one path given alone is one file (a str's characters were each opened as a file)
    for each in [paths] if isinstance(paths, str | Path) else paths:
        path = Path(each)
        csv_cells = review_format(path) == "csv"
        verdicts: dict[tuple[str, str, int], tuple[bool, int]] = {}
        n_decided = n_rows = 0
        unknown: list[tuple[int, str]] = []  # decided rows of a label space lacks
        for line, row in _review_records(path):
            n_rows += 1
            for column in REQUIRED:
                if column not in row:
                    raise ReviewFormatError(f"missing field {column!r}", path=path, line=line)
            if not _decided(row["decision"]):
                continue
            decision = str(row["decision"]).strip().lower()
            if decision not in _DECISIONS:
                raise ReviewFormatError(f"decision must be {DECISION_VALUES}, or empty, "
                                        f"found {row['decision']!r}", path=path, line=line)
            kind = row_kind(row, path, line)
            _doc_number(row, path, line)  # a row cut or shifted fails here, not skipped
            n_decided += 1
            try:
                _, label_id = _doc_and_label(row, space, path, line, csv_cells, space_name)
            except ReviewFormatError:
                if not str(row["label_uri"] or "").strip():
                    raise
                # a label the vocabulary no longer has: no candidate names it
                unknown.append((line, str(row["label_uri"]).strip()))
                continue
            key = _read_key(row["doc_key"], path, line)
            written_id = "" if row.get("doc_id") is None else str(row["doc_id"]).strip()
            doc_id = _unquoted(written_id, csv_cells)
            applies = (kind == "missing") == (decision in ACCEPT)
            who = (doc_id, key, label_id)
            earlier = verdicts.setdefault(who, (applies, line))
            if earlier[0] != applies:
                raise ReviewFormatError(
                    f"contradicts line {earlier[1]}, which says label "
                    f"{str(row['label_uri']).strip()!r} "
                    f"{'applies' if earlier[0] else 'does not apply'} to the same document "
                    f"({'doc_id ' + repr(doc_id) if doc_id else 'doc_key ' + key}); "
                    "decide it one way", path=path, line=line)
            where = f"{path}:{line}"
            if doc_id:
                pairs.by_id[(doc_id, key, label_id)] = (applies, where)
                pairs.id_rows_by_key.setdefault((key, label_id), {})[doc_id] = (applies,
                                                                               where)
            else:
                pairs.by_key[(key, label_id)] = (applies, where)
        if not n_decided and n_rows:  # last month's queue given before anyone decided a
            # row (a queue of no rows, every candidate decided before, is said nothing of)
            logger.warning("%s: no row is decided (its decision column is empty), so it "
                           "leaves nothing out of the queue", path)
        if unknown:  # every row skipped (another vocabulary's review) said nothing
            line, uri = unknown[0]
            logger.warning(
                "%s: %s of its %s decided row%s name%s a label not in %s, left out (first: "
                "line %d, %r)%s", path, f"{len(unknown):,}", f"{n_decided:,}",
                plural_s(n_decided), "s" if len(unknown) == 1 else "", space_name, line,
                uri, ": is it a review of another vocabulary?" if len(unknown) == n_decided
                else "")
        pairs.files.append(str(path))
    return pairs


def reviewed_candidates(pairs: ReviewedPairs, issues: LabelIssues, texts: Sequence[str],
                        doc_ids: Sequence[str | None] | None = None,
                        keys: dict[int, str] | None = None,
                        fallback: TextFallback | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Two boolean masks over ``issues``' candidates, flagged ones only: those an
    earlier review decided and the corpus agrees with (a *wrong* candidate on a label
    the reviewer said applies, a *missing* one on a label they said does not: asked
    and answered), and those it decided the other way (an accepted fix the corpus does
    not carry: the review was not applied to it, or was undone). ``keys``: the
    :func:`doc_key` of documents by number, read where there, filled with those hashed
    (for :func:`texts_changed` after it). ``doc_ids`` all None or empty is a corpus
    without ids. ``fallback``: the rows whose id names no document of ``doc_ids``,
    matched by their text (:meth:`ReviewedPairs.text_fallback`, taken here where not
    given)."""
    flagged = np.flatnonzero(issues.flagged)
    decided = np.zeros(len(issues), dtype=bool)
    undone = np.zeros(len(issues), dtype=bool)
    if not len(pairs):
        return decided, undone
    docs = np.asarray(issues.doc)[flagged].tolist()
    labels = np.asarray(issues.label)[flagged].tolist()
    kinds = np.asarray(issues.kind)[flagged].tolist()
    keys = {} if keys is None else keys
    has_ids = corpus_has_ids(doc_ids)
    if fallback is None and has_ids:
        fallback = pairs.text_fallback(doc_ids or (), _key_of(texts, keys))
    for at, doc, label, kind in zip(flagged.tolist(), docs, labels, kinds, strict=True):
        key = keys.get(doc)
        if key is None:
            key = keys[doc] = doc_key(texts[doc])
        # a corpus without ids (a TSV's ids are all None) matches a review's rows with
        # ids by their text alone
        applies = pairs.verdict(None if doc_ids is None else doc_ids[doc], key, label,
                                corpus_has_ids=has_ids, fallback=fallback)
        if applies is None:
            continue
        # a missing candidate is a label the document lacks, a wrong one one it has
        if applies == (KINDS[kind] == "wrong"):
            decided[at] = True
        else:
            undone[at] = True
    return decided, undone


def corpus_has_ids(doc_ids: Sequence[str | None] | None) -> bool:
    """Whether any document of ``doc_ids`` has an id (a TSV corpus's are all None)."""
    return doc_ids is not None and any(doc_ids)


def _key_of(texts: Sequence[str], keys: dict[int, str]) -> Callable[[int], str]:
    """``key_of(n)``: the :func:`doc_key` of ``texts[n]``, read from ``keys`` where
    there, else hashed and kept there."""
    def key_of(doc: int) -> str:
        key = keys.get(doc)
        if key is None:
            key = keys[doc] = doc_key(texts[doc])
        return key
    return key_of


def row_kind(row: dict, path: Path, line: int) -> str:
    """A review row's kind, ``missing`` or ``wrong``: its ``kind`` cell, else (a row added
    by hand that says only what to do) the one its ``action`` tells, case-insensitive as
    decision and action are ("Missing" from a spreadsheet). Raises
    :class:`ReviewFormatError` naming the file and line for an unknown kind or an action
    that contradicts it (apply-review, ``audit --reviewed`` and ``estimate-noise`` each
    had a copy of this)."""
    kind = str(row["kind"] or "").strip().lower()
    action = str(row.get("action") or "").strip().lower()
    if not kind and action in KIND_OF_ACTION:
        kind = KIND_OF_ACTION[action]
    if kind not in KINDS:
        either = " (or leave it empty and give action add or remove)" if not kind else ""
        raise ReviewFormatError(f"kind must be one of {', '.join(KINDS)}{either}, found "
                                f"{kind!r}", path=path, line=line)
    if action and action != ACTIONS[kind]:
        raise ReviewFormatError(f"action {action!r} contradicts kind {kind!r}, whose "
                                f"accepted correction is to {ACTIONS[kind]} the label; "
                                "to do the opposite, reject this row", path=path, line=line)
    return kind


def _doc_and_label(row: dict, space: LabelSpace, path: Path, line: int,
                   csv_cells: bool = True, space_name: str = "the vocabulary"
                   ) -> tuple[int, int]:
    """The document number and label id a review row decides about (``csv_cells``:
    the row is a CSV's, its label URI written by :func:`_read_back_cell`)."""
    doc = _doc_number(row, path, line)
    # a JSONL row's null is an empty cell: it was read as the label 'None', "unknown"
    cell = "" if row["label_uri"] is None else str(row["label_uri"]).strip()
    uri = _unquoted(cell, csv_cells)
    if not uri.strip("<>").strip():  # a row added by hand, the label typed by name alone
        raise ReviewFormatError("label_uri is empty" + _empty_uri_hint(row, space, csv_cells),
                                path=path, line=line)
    label_id = space.lookup(f"<{uri.strip('<>')}>")
    if label_id is None and uri != cell:
        # a code '1-2 written bare by an earlier tagsmith, whose rule protected fewer
        # values (the ' read as its protection): the cell as written names it
        label_id = space.lookup(f"<{cell.strip('<>')}>")
    if label_id is None:
        raise ReviewFormatError(f"unknown label {row['label_uri']!r} (not in "
                                f"{space_name}){_name_hint(uri, space)}", path=path,
                                line=line)
    return doc, label_id


def _doc_number(row: dict, path: Path, line: int) -> int:
    """The document number a review row names (its ``doc`` cell)."""
    value = row["doc"]
    try:
        # a JSONL review holds JSON numbers: int() took 2.5 as document 2 and true as
        # document 1 (and failed on Infinity with an OverflowError), where a CSV cell
        # "2.5" is refused; a number that is a whole one (2.0) names its document
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        # so does a cell a spreadsheet wrote as a decimal number ("175.0"), read exactly
        # (no float: "175.5" and a long number's lost digits must not round to a document)
        if isinstance(value, str) and _WHOLE_DECIMAL.fullmatch(value.strip()):
            value = value.strip().partition(".")[0]
        doc = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ReviewFormatError(f"doc must be a document number (a whole number), found "
                                f"{value!r}", path=path, line=line) from None
    if doc < 0:
        raise ReviewFormatError(f"doc must be >= 0, found {doc}", path=path, line=line)
    return doc


def _check_label_name(row: dict, space: LabelSpace, label_id: int, path: Path, line: int,
                      csv_cells: bool, lang: str = "en") -> None:
    """Refuse an accepted row whose ``label_name`` cell is no name of the label its
    ``label_uri`` names: one of the two was edited (the name, the column a reviewer
    reads, was ignored and the URI's label written; a URI edited beside the name
    wrote a label the row never showed). A blank or absent cell is not checked; any
    language's preferred or alternative name, the notation or the URI matches, case
    and spacing aside. The refusal names the label in ``lang``."""
    written = row.get("label_name")
    if written is None or not str(written).strip():
        return
    known = _names(space[label_id])
    cells = {str(written), _unquoted(str(written).strip(), csv_cells)}
    written_keys = {" ".join(cell.split()).casefold() for cell in cells}
    if not known & written_keys:
        if any(_names(other) & written_keys for other in space):
            why = ("one of the two cells was edited; to correct the label, edit both (or "
                   "empty label_name), or reject this row")
        elif not any(label.pref_labels for label in space):
            # apply-review with no --vocab after an audit with one: the labels the
            # corpus names carry no names, and "renamed since the audit?" sent the user
            # looking for a rename that never happened
            # (or --vocab a list of URIs alone: "no vocabulary was given" was said then too)
            why = ("the labels read have no names (no vocabulary was given, the labels "
                   "being the corpus's own URIs, or one that names no label): give the "
                   "vocabulary the audit used (apply-review --vocab), or empty label_name")
        else:  # the name of no label: a thesaurus update renamed it since the audit?
            why = ("it names no label of the vocabulary: renamed since the audit? Then "
                   "empty label_name (the row's label is taken by its URI) or apply the "
                   "review with the vocabulary the audit used; if one of the two cells "
                   "was edited, edit both, or reject this row")
        raise ReviewFormatError(
            f"label_name {written!r} is not a name of the label of label_uri "
            f"{row['label_uri']!r} ({space.name_of(label_id, lang)!r}): {why}", path=path,
            line=line)


def _names(label) -> set[str]:
    """Every name :func:`_check_label_name` matches a ``label_name`` cell to: any
    language's preferred or alternative name, the notation and the URI, case and
    spacing aside."""
    names = {label.uri, label.notation or "", *label.pref_labels.values(),
             *(name for names in label.alt_labels.values() for name in names)}
    return {" ".join(name.split()).casefold() for name in names}


def _name_hint(key: str, space: LabelSpace) -> str:
    """Why a ``label_uri`` cell that names a label (its preferred name or notation, as
    the ``label_name`` column shows it, or an alternative label of it) is no URI, and
    which URI to write instead; empty when it names none. Such a cell was reported as
    not in the vocabulary, which it is.

    >>> space = LabelSpace.from_uris(["http://x/a"], names={"http://x/a": "apple"})
    >>> print(_name_hint("apple", space))
    ; 'apple' is a name or alternative label of a label: the label_uri column takes its URI, 'http://x/a'
    >>> _name_hint("pear", space)
    ''
    """
    try:
        found = space.lookup(key.strip("<>"))
    except AmbiguousLabelError as error:
        return f"; {error}"
    if found is not None:
        return (f"; {key.strip('<>')!r} is a name or alternative label of a label: the "
                f"label_uri column takes its URI, {space.uri_of(found)!r}")
    # typed as the page shows it ("Snow" for "snow"), or an alternative label: "not in
    # the vocabulary" alone said the label was not there
    named = _named(key.strip("<>"), space)
    if not named:
        # a code a spreadsheet made a number of ('0111' saved as 111), or retyped
        # another way (e11.9, E119): "not in the vocabulary" alone named no code
        code = space.code_hint(key.strip("<>").strip())
        return f"; it is {code}" if code else ""
    where = f"{key.strip('<>').strip()!r} is a name of "
    if len(named) == 1:
        return (f"; {where}a label (another case or spacing aside): the label_uri column "
                f"takes its URI, {space.uri_of(named[0])!r}")
    return (f"; {where}{len(named)} labels (another case or spacing aside), "
            + ", ".join(repr(space.uri_of(i)) for i in named[:5])
            + (", ..." if len(named) > 5 else "")
            + ": the label_uri column takes the URI of the one meant")


def _named(name: str, space: LabelSpace) -> list[int]:
    """The labels one of whose names (preferred or alternative, any language) or
    notation ``name`` is, case and spacing aside. Scans every label: for errors only.

    >>> space = LabelSpace.from_uris(["http://x/a"], names={"http://x/a": "Apple pie"})
    >>> _named(" apple  PIE", space), _named("pear", space)
    ([0], [])
    """
    folded = " ".join(name.split()).casefold()
    if not folded:
        return []
    found = []
    for i in range(len(space)):
        label = space[i]
        names = [*label.pref_labels.values(), label.notation or "",
                 *(n for names in label.alt_labels.values() for n in names)]
        if any(" ".join(n.split()).casefold() == folded for n in names):
            found.append(i)
    return found


def _empty_uri_hint(row: dict, space: LabelSpace, csv_cells: bool) -> str:
    """What to do about an empty ``label_uri`` cell: the URI of the label its
    ``label_name`` cell names, where it names one."""
    name = _unquoted(str(row.get("label_name") or "").strip(), csv_cells)
    named = _named(name, space)
    if len(named) == 1:
        return (f"; label_name {name!r} is a name of the label of URI "
                f"{space.uri_of(named[0])!r}: write that URI in label_uri")
    return (": write the URI of the label to add or remove (the label_uri column), or "
            "reject the row")


def _read_key(value: object, path: Path, line: int, doc: int | None = None) -> str:
    """The text fingerprint of an accepted row, as :func:`doc_key` wrote it. A cell
    that is none (blank, ``null``, or a number a spreadsheet made of it) was compared
    as it came, and failed as "a different text than when it was audited", blaming
    the corpus for what happened to the review. A blank one (a row added by hand) is
    told where the fingerprint of its document ``doc`` is."""
    key = str(value).strip().removeprefix("'").lower() if isinstance(value, str) else ""
    if not _DOC_KEY.fullmatch(key):
        hint = ("; a spreadsheet turned it into a number: open the review with this column "
                "as text, or copy the cell from the audit's file"
                if isinstance(value, (str, int, float)) and _looks_numeric(str(value)) else
                _key_elsewhere(path, doc) if not _decided(value) and doc is not None
                else "")
        raise ReviewFormatError(f"doc_key must be the 16 hexadecimal digits the audit wrote, "
                                f"found {value!r}{hint}", path=path, line=line)
    return key


def _key_elsewhere(path: Path, doc: int) -> str:
    """``"; "`` and where the review holds the fingerprint of document ``doc`` (the first
    other row naming it), or how to compute it. Reads the review again: for errors only
    (a malformed row ends the search)."""
    try:
        for line, row in _review_records(path):
            try:
                same = int(str(row.get("doc")).strip().partition(".")[0]) == doc
                key = _read_key(row.get("doc_key"), path, line)
            except (ValueError, ReviewFormatError):
                continue
            if same:
                return (f"; line {line} names the same document (doc {doc}): copy its "
                        f"doc_key, {key!r}")
    except ReviewFormatError:
        pass
    return (f"; no other row names document {doc}: its doc_key is the first 16 hexadecimal "
            "digits of the SHA-256 of its text (UTF-8), tagsmith.audit.review.doc_key(text)")


def _same_id(written: str, doc_id: str | None) -> bool:
    """Whether a review's ``doc_id`` cell names the document ``doc_id``: the same, or the
    same number as a spreadsheet shows it (``0042`` as ``42``, a long one as
    ``1.23457E+15``: equal to the digits shown); a blank cell (or a corpus without ids)
    names any.

    >>> _same_id("42", "0042"), _same_id("1.23457E+15", "1234567890123456")
    (True, True)
    >>> _same_id("100001", "100000"), _same_id("1.23457E+15", "1234667890123456")
    (False, False)
    """
    if not written or doc_id is None or written == doc_id.strip():
        return True
    try:
        float(written), float(doc_id)
    except ValueError:
        return False
    mantissa, e, exponent = written.lower().partition("e")
    # the numbers compared exactly, not as floats: 19-digit ids (a snowflake's,
    # 1234567890123456789) one apart are one float, and a review's row named its
    # neighbours as the same number; each parsed once (it was up to three times).
    # Past a float's range too: 1E999 names 1e999 as the same number, not as two
    # infinities (2e999 and inf were the same id; the index, _NumericIds, said neither)
    shown_exactly, actual_exactly = Decimal(written), Decimal(doc_id)
    try:
        above = actual_exactly - shown_exactly  # the id above the number shown
        difference = abs(above)
    except ArithmeticError:  # (inf - inf: words, "inf" and "Infinity", not numbers;
        return False  # past Decimal's range: nothing to tell them apart by but the text)
    if not e:  # every digit shown: the same number (a relative tolerance took the
        return not difference  # neighbouring ids of numbered documents for one)
    # half a unit of the last digit shown: a tolerance of 0.5 * 10 ** (1 - digits) of
    # the larger number was up to 20 times wider (a one-digit 9e307 named 1.7e308)
    place = _last_place(mantissa, exponent)
    if place is None:  # an exponent that is no integer: nothing is closer than that
        return True
    try:
        half = Decimal(5).scaleb(place - 1)
        sign = shown_exactly.compare(0)
    except ArithmeticError:  # (past Decimal's range)
        return float(difference) <= _half_unit(mantissa, exponent)
    # rounded half away from zero, as Excel and LibreOffice show a number (1550 with
    # 2 digits is 1.6E+3, -1550 -1.6E+3): the interval of the numbers shown as it is
    # half-open, not closed (1550 was named by 1.5E+3 and 1.6E+3 both)
    if sign > 0:
        return -half <= above < half
    if sign < 0:
        return -half < above <= half
    return -half < above < half


def _last_place(mantissa: str, exponent: str) -> int | None:
    """The place of the last digit the number ``mantissa`` e ``exponent`` shows, as a
    power of ten (``1.23457`` e ``15``: 10; ``0.0120`` e ``3``: -1); None where the
    exponent is no integer."""
    whole, _, fraction = mantissa.lstrip("+-").partition(".")
    significant = (whole + fraction).lstrip("0")
    if whole.lstrip("0"):  # the first digit's place, as a power of ten
        first = len(whole.lstrip("0")) - 1
    else:
        first = -(len(fraction) - len(fraction.lstrip("0")) + 1) if significant else 0
    try:
        if not significant:  # zero: its shown zeros say the place (0.00E+00 named 0.3)
            return int(exponent) - len(fraction)
        return int(exponent) + first - len(significant) + 1
    except ValueError:
        return None


def _half_unit(mantissa: str, exponent: str) -> float:
    """Half a unit of the last digit of the number ``mantissa`` e ``exponent`` shows
    (``1.23457`` e ``15``: 5e9; ``9`` e ``307``: 5e306); inf where an exponent is no
    integer or the unit is past a float's range (nothing is closer than that).

    >>> _half_unit("1.23457", "+15"), _half_unit("9", "307"), _half_unit("0.0120", "3")
    (5000000000.0, 5e+306, 0.05)
    """
    place = _last_place(mantissa, exponent)
    if place is None:
        return math.inf
    try:
        return 0.5 * 10.0 ** place
    except OverflowError:
        return math.inf


def _looks_numeric(value: str) -> bool:
    try:
        float(value.replace(",", "."))
    except ValueError:
        return False
    return True


def _check_verdict(verdicts: dict, pair: tuple[int, int], accept: bool, row: dict,
                   path: Path, line: int) -> None:
    """Refuse a row that decides a candidate another way than an earlier row did (a
    copied row, or two reviewers in one file): the acceptance used to win silently."""
    earlier = verdicts.setdefault(pair, (accept, line))
    if earlier[0] != accept:
        label = str(row["label_uri"]).strip()
        raise ReviewFormatError(
            f"contradicts line {earlier[1]}, which {'accepts' if earlier[0] else 'rejects'} "
            f"the same candidate (document {pair[0]}, label {label!r}); decide it one way",
            path=path, line=line)


def check_unique_id(id_lines: FirstSeen[int], record: Record, path: str | Path) -> None:
    """Refuse a record whose id an earlier record of the corpus has (``id_lines``: each
    id met and its line, updated), naming the id and both lines: the review names a
    document by its number, line and id, and apply-review checks the id against the
    document's, which cannot tell two documents of one id apart. A record without an id
    (a TSV corpus, a blank id cell) is not checked."""
    doc_id = record.doc_id
    if not doc_id:
        return
    first = id_lines.claim(doc_id, record.line)
    if first is not None:
        raise DataError(f"the id {doc_id!r} is the id of the document at line {first} too; "
                        "the audit's review names documents by id, and apply-review checks "
                        "it: give each document an id of its own (or drop the id column)",
                        path=path, line=record.line)


def _check_decided_id(id_lines: FirstSeen[int], decided: dict[str, tuple[int, int]],
                      repeated: list[tuple[str, int, int]], record: Record,
                      todo: Sequence[Decision] | None, path: str | Path) -> None:
    """Refuse a record of an id an earlier record has when a decision of the review
    names either of them (the review names a document by number, text and id, and apply-
    review checks the id, which cannot tell two documents of one id apart), naming the
    id, both lines and the review's line. An id repeated by documents no decision names
    leaves nothing ambiguous: noted in ``repeated`` (for one warning) and written as it
    is. ``id_lines`` and ``decided`` (each decided id: its line and the first review
    line on it) are updated; a record without an id is not checked."""
    doc_id = record.doc_id
    if not doc_id:
        return
    first = id_lines.claim(doc_id, record.line)
    if todo:
        decided.setdefault(doc_id, (record.line, min(d.line for d in todo)))
    if first is None:
        return
    if doc_id in decided:
        line, review_line = decided[doc_id]
        raise DataError(f"the id {doc_id!r} is the id of the document at line {first} too; "
                        f"the review's line {review_line} decides about the one at line "
                        f"{line}, and apply-review checks the id, which cannot tell them "
                        "apart: give each document an id of its own (or drop the id column)",
                        path=path, line=record.line)
    repeated.append((doc_id, first, record.line))


@dataclass
class _SkipsNoted(ReadReport):
    """A read's report that also notes the first line of each malformed record skipped
    (``skipped_at``, ascending as read)."""

    skipped_at: list[int] = dataclasses.field(default_factory=list)

    def skip_line(self, error: CorpusFormatError) -> None:
        if error.line is not None:
            self.skipped_at.append(error.line)
        super().skip_line(error)


def _check_corpus_first(source, corpus: Path) -> None:
    """Refuse ``source`` as a vocabulary (:func:`~tagsmith.data.readers.check_not_a_vocabulary`)
    when every text is a lone ``<URI>``, reading it only up to the first that is not, and
    as holding no document (:func:`~tagsmith.data.readers.no_documents`), as every
    other command refuses an empty corpus: it wrote an empty corpus."""
    uris = []
    report = ReadReport(source=str(corpus))
    for record in source.records(report):
        if not is_lone_uri(record.text):
            return
        uris.append(record.text)
    if not uris:
        raise no_documents(corpus, report.n_skipped_lines, report.n_missing_files,
                           report.first_malformed)
    check_not_a_vocabulary(uris, corpus)


def text_columns_checked(columns: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``columns``, refused where they join a ``text`` column with others: apply-review
    would write that column back holding them joined."""
    from tagsmith.data.readers import shown_text_columns

    if columns is not None and len(columns) > 1 and "text" in (c.lower() for c in columns):
        raise InvalidParameterError(
            "text_columns", "columns other than 'text', or 'text' alone: apply-review "
            "writes the columns back as they were, and 'text' would hold them joined",
            shown_text_columns(columns))
    return columns


def apply_review(corpus: str | Path, review: str | Path, output: str | Path,
                 space: LabelSpace, *, on_error: str = "fail", format: str | None = None,
                 overwrite: bool = False, keep: Sequence[str | Path] = (),
                 space_name: str = "the vocabulary", lang: str = "en",
                 text_columns: str | Sequence[str] | None = None,
                 decide_from: str | Path | None = None,
                 decide_min_score: float = 0.5, show_progress: bool = False) -> dict:
    """Write ``corpus`` with the review's accepted corrections to the new file ``output``.

    ``show_progress``: a progress bar (or log line every 10 s) over each pass over the
    corpus (the command line's; a million documents took minutes with no word).

    ``decide_from``: a label file (``tagsmith label``'s output for the flagged
    documents, or any corpus) that decides the rows the review leaves undecided, as a
    person would: a *missing* row is accepted where it gives the document the label (a
    score of at least ``decide_min_score``), else rejected, and a *wrong* row accepted
    where it does not; rows whose document it does not hold (by text fingerprint) stay
    undecided, and rows a person decided keep their decision. A label it adds keeps its
    stated score (a label output's; 1.0 and :data:`~tagsmith.audit.REVIEW_MARK` where the
    file states none). Counted in
    ``review_decided_by_labels``. A row whose label the answer lacks where it also
    named a label the vocabulary lacks (``unknown_labels`` in ``tagsmith label``'s
    line: a misspelt name) like the row's label (:func:`_may_name`) stays undecided too,
    counted in ``review_undecided_unknown_labels``; one beside names like no name of the
    label is decided, counted in ``review_decided_beside_unknown_labels``, the names most
    often given in ``review_beside_unknown_names`` (5 ``(name, rows)`` pairs). A row
    whose label the answer lacks and its line's ``offered`` (``label --shortlist``'s)
    does not list stays undecided, counted in
    ``review_undecided_not_offered``: the LLM could not name it. A row of a text the
    file answers with other labels in two lines, where no line of the row's ``doc_id``
    and text tells them apart, stays undecided, counted in ``review_undecided_two_ways``.

    ``text_columns``: the CSV columns or JSONL keys the audit read the text from
    (:func:`~tagsmith.data.readers.read_records`), which the review's texts are checked
    against; they are written back as they were (no ``text`` column is added), so they
    may not join a ``text`` column of the corpus with others.

    A corpus file written in its own format is copied line for line, the lines of the
    documents an accepted row changed written in their own style
    (:func:`~tagsmith.data.writers.rewrite_changed`): the two differ only there.
    ``on_error`` must be the policy the audit read the corpus with (document numbers
    count the documents read). ``format`` (``tsv``, ``csv``, ``jsonl``) defaults to
    the output's suffix. ``output`` may never be the corpus, the review or a file in
    ``keep`` (say, the vocabulary), and an existing ``output`` is replaced only with
    ``overwrite``. Returns counts: documents written and changed, labels added and
    removed, documents left without any label by the review (``n_docs_emptied``; the
    first :data:`EMPTIED_NAMED` as ``file:line``, a folder's file alone, in
    ``docs_emptied``: train reads such a line as a negative of every label),
    corrections already in place, malformed lines skipped under
    ``on_error="skip"`` (they are not written: a warning says so; ``n_missing_files`` of
    them a folder's files deleted after it was listed), and the review's
    decisions. ``space_name`` says where ``space`` came from (a label not in it is
    reported as not in ``space_name``); ``lang``: the language its warnings and errors
    name labels in (a label without a name in it falls back as
    :meth:`~tagsmith.data.labelspace.LabelSpace.name_of` picks one). An id two
    documents of the corpus share is refused where an accepted decision names either of
    them (:class:`DataError`), and otherwise written as it is with one warning. A
    corpus whose every text is a lone ``<URI>`` (a vocabulary) is refused, as the audit
    refuses it
    (:func:`~tagsmith.data.readers.check_not_a_vocabulary`), before the review is read
    (a file or folder; a pipe as it is read); no output file appears. So is a corpus
    with no document (:func:`~tagsmith.data.readers.no_documents`), as train, eval and
    the audit refuse it.

    A row names its document by number, and that document must have the row's text
    fingerprint and id. Where one does not (documents added or removed before it, the
    corpus reordered), the rows are matched as ``audit --reviewed`` matches them
    (:meth:`ReviewedPairs.decision`: by id and fingerprint where the row has an id, else
    by fingerprint, then every document of that text), reading the corpus file again; a
    row whose document is not found (its text edited since the review, or the document
    removed) is not applied, counted (``n_text_changed``, ``n_not_found``) and warned of.
    ``n_matched_elsewhere`` counts the rows applied to a document at another number. A
    row whose id names no document of the corpus (one without ids, other ids, or ids a
    spreadsheet rewrote past reading) is matched by its fingerprint alone, with a warning
    counting such rows: of a corpus with ids, to the document of that text where it is
    the only one and no row names its id; a text several documents share is ambiguous,
    as is one whose document another row names or whose label rows of other such ids
    decide the other way (not applied, counted in ``n_not_found`` and warned of).
    Where no row matches, or the corpus is a pipe (read once), the first row not found
    at its number is refused as before.
    """
    from contextlib import nullcontext

    from tagsmith.data.readers import reading_text_columns, text_column_names

    # checked first: a bad one surfaced only inside the message of a refused row
    lang = check_language("lang", lang)
    columns = None if text_columns is None else \
        text_columns_checked(text_column_names(text_columns))
    keep = [*keep, *([] if decide_from is None else [decide_from])]
    options: dict[str, Any] = {"on_error": on_error, "format": format,
                               "overwrite": overwrite, "keep": keep,
                               "space_name": space_name, "lang": lang,
                               "show_progress": bool(show_progress)}
    # read so by every reader of this call
    with nullcontext() if columns is None else reading_text_columns(columns):
        # the review's rows as the first pass read them: a row found moved is matched,
        # and the output written, without reading the review again (it was read three
        # times). The corpus is read again to match them: the first pass keeping each
        # document's fingerprint for it cost every apply-review more than it saved
        read: list[tuple[list[Decision], list[Decision], dict]] = []
        if decide_from is not None:
            # checked here, read where the review is: after the output and the corpus
            # (read before them, a malformed LABELS was told about first, the whole of
            # it read for a run then refused for an output that exists)
            decide_min_score = float(decide_min_score)
            if not 0 < decide_min_score <= 1:
                raise InvalidParameterError("decide_min_score", "a number in (0, 1]",
                                            str(decide_min_score))
            options["decide"] = (decide_from, decide_min_score)
        try:
            return _apply_review(corpus, review, output, space, read=read, **options)
        except _Moved as moved:
            matched = _match_moved(Path(corpus), Path(review), space, on_error, read[0],
                                   show_progress=bool(show_progress))
            if matched is None:
                raise moved from None
            return _apply_review(corpus, review, output, space, matched=matched, read=read,
                                 **options)


class _Moved(ReviewFormatError):
    """A row's document is not at its number: the review is matched by id and text
    (:func:`_match_moved`) before anything is refused."""


@dataclass
class _Matched:
    """The accepted rows of a review matched to documents by id and text
    (:func:`_match_moved`): each document's decisions and repeated rows by number, and
    the rows matched nowhere: ``ambiguous`` those whose id names no document and whose
    text a document has but does not name one (several have it, another row names it,
    or rows of other such ids decide the label the other way). ``by_text``: the rows
    with an id matched by their text alone (a corpus without ids, or their id names no
    document of it)."""

    by_doc: dict[int, list[Decision]]
    repeats_of: dict[int, list[Decision]]
    moved: int
    text_changed: list[Decision]
    not_found: list[Decision]
    by_text: int = 0
    ambiguous: list[Decision] = dataclasses.field(default_factory=list)
    #: the documents read (the writing pass's progress total)
    n_docs: int | None = None
    #: the corpus's size and modification time as the matching pass began
    #: (:func:`_stamp`): the writing pass refuses a corpus changed since
    stamp: tuple | None = None


def _match_moved(corpus: Path, review: Path, space: LabelSpace, on_error: str,
                 read: tuple[list[Decision], list[Decision], dict], *,
                 show_progress: bool = False) -> _Matched | None:
    """The accepted rows of ``review`` (``read``: its :func:`_read_decisions`) matched
    to the documents of ``corpus`` as ``audit --reviewed`` matches its decided pairs (a
    :class:`ReviewedPairs` of them): by id and text fingerprint where the row has an id,
    else by fingerprint (every document of that text). None where the corpus cannot be
    read again (a pipe) or no row matches."""
    from tagsmith.data.corpus import Corpus

    if not (corpus.is_file() or corpus.is_dir()):
        return None
    stamp = _stamp(corpus)
    decisions, repeated, _ = read
    # every accepted row, a copy of another's number too (its text or id may name
    # another document): the first row of each document and label decides, the others
    # are checked with it
    rows = sorted([*decisions, *repeated], key=lambda d: d.line)
    # what the reading says (a folder's unlabelled documents, ...) the pass writing the
    # output says again: said once
    # with a progress line: a million documents were read for minutes with no word
    with progress_bar(total=None, unit="doc", enabled=show_progress, desc=(
            "apply-review: documents matched to the review's rows by id and text")) as bar:
        documents = [(record.doc_id, doc_key(record.text)) for record in _read_quietly(
            Corpus(corpus, space, on_error=on_error).records(ReadReport(source=str(corpus))),
            bar)]
    has_ids = any(doc_id for doc_id, _ in documents)
    ids = {doc_id for doc_id, _ in documents if doc_id}
    # the ids of the documents of each row's text (not of every text: a list a document,
    # ~150 MB of a million documents' peak, where a review's rows name a few thousand)
    row_keys = {row.doc_key for row in rows}
    ids_of_key: dict[str, list[str]] = {}
    for doc_id, key in documents:
        if doc_id and key in row_keys:
            ids_of_key.setdefault(key, []).append(doc_id)
    rows = _as_corpus_ids(rows, ids_of_key, ids, review,
                          id_at=lambda number: documents[number][0]
                          if 0 <= number < len(documents) else None)
    pairs = ReviewedPairs()
    row_of: dict[str, Decision] = {}
    copies: dict[tuple[str, str, int], list[Decision]] = {}  # the rows of each pair
    labels_of: dict[str, set[int]] = {}  # each fingerprint's decided labels
    for row in rows:
        who = (row.doc_id, row.doc_key, row.label_id)
        same = copies.setdefault(who, [])
        if same and same[0].kind != row.kind:
            raise ReviewFormatError(f"contradicts line {same[0].line}: both adding and "
                                    "removing this label of the same document (by its "
                                    "text and id)", path=review, line=row.line)
        same.append(row)
        if len(same) > 1:
            continue
        where = f"{review}:{row.line}"
        applies = row.kind == "missing"
        row_of[where] = row
        labels_of.setdefault(row.doc_key, set()).add(row.label_id)
        if row.doc_id:
            pairs.by_id[who] = (applies, where)
            pairs.id_rows_by_key.setdefault((row.doc_key, row.label_id), {})[row.doc_id] = (
                applies, where)
        else:
            pairs.by_key[(row.doc_key, row.label_id)] = (applies, where)
    # rows whose id names no document (a spreadsheet rewrote it beyond 42 for 0042, or
    # the corpus has other ids now): by their text, where one document has it
    fallback = pairs.text_fallback([doc_id for doc_id, _ in documents],
                                   lambda doc: documents[doc][1]) if has_ids else None
    lost = fallback.lost if fallback is not None else frozenset()
    by_doc: dict[int, list[Decision]] = {}
    repeats_of: dict[int, list[Decision]] = {}
    used: set[int] = set()  # the review lines matched
    moved = 0
    for number, (doc_id, key) in enumerate(documents):
        for label_id in sorted(labels_of.get(key, ())):
            found = pairs.decision(doc_id, key, label_id, corpus_has_ids=has_ids,
                                   fallback=fallback)
            if found is None:
                continue
            first = row_of[found[1]]
            # a row matched by its text alone names the document's id, as _apply checks
            its_id = (doc_id or "") if first.doc_id in lost else None
            by_doc.setdefault(number, []).append(_placed(first, number, its_id))
            later = copies[(first.doc_id, first.doc_key, first.label_id)][1:]
            repeats_of.setdefault(number, []).extend(_placed(other, number, its_id)
                                                     for other in later)
            used.update(d.line for d in (first, *later))
            moved += first.doc != number
    if not used:
        return None
    left = [d for d in rows if d.line not in used]
    # a lost row whose text a document has, left unmatched: several documents have
    # it, the one that has it is named by another row, or rows of other lost ids
    # decide its label the other way (it was "no document has its text": one had)
    held = fallback.held if fallback is not None else frozenset()
    ambiguous = [d for d in left if d.doc_id in lost and d.doc_key in held]
    n_by_text = sum(1 for d in rows if d.line in used and d.doc_id
                    and (not has_ids or d.doc_id in lost))
    return _Matched({n: sorted(ds, key=lambda d: d.line) for n, ds in by_doc.items()},
                    repeats_of, moved, [d for d in left if d.doc_id and d.doc_id in ids],
                    [d for d in left if not (d.doc_id and d.doc_id in ids)
                     and not (d.doc_id in lost and d.doc_key in held)],
                    n_by_text, ambiguous, len(documents), stamp)


def _stamp(corpus: Path) -> tuple:
    """``corpus``'s size and modification time; a folder's, the name, size and
    modification time of each document file it lists, and the names of its label files
    (document names alone let a document edited in place between the passes through:
    its rows were checked against the old text). A label file is not looked into: its
    edit places no row (rows are matched by text and id), and a stat each doubled the
    cost (20,000 documents: 0.5 s listed, 1.3 s with every file's stat, under load).
    Not the folder's own modification time: any file made in it changes that, and an
    output written into the corpus's folder (its atomic writer's temporary file there)
    refused every such run as "changed while apply-review read it". A file edited
    keeping its size and modification time (a tool that restores it) is not told apart:
    the README says so."""
    if corpus.is_dir():
        from tagsmith.data.readers import _list_documents

        files, sidecars, _, _ = _list_documents(corpus)
        # strings, not Paths: a Path a file took more than the stat's own time
        folder = str(corpus)
        return (tuple(sorted((f.name, *_file_stamp(os.path.join(folder, f.name)))
                             for f in files)), tuple(sorted(sidecars)))
    st = corpus.stat()
    return st.st_size, st.st_mtime_ns


def _file_stamp(path: str) -> tuple[int, int]:
    """``path``'s size and modification time; ``(-1, -1)`` where it is gone (a folder's
    file deleted after it was listed, which ``on_error="skip"`` reads past)."""
    try:
        st = os.stat(path)
    except OSError:
        return -1, -1
    return st.st_size, st.st_mtime_ns


def _changed_since_matched(corpus: Path, matched: _Matched, n_docs: int,
                           done: bool) -> None:
    """Refuse ``corpus`` changed between the pass matching the review's rows and the
    pass writing it (``n_docs`` read so far, ``done`` at its end): the rows were matched
    to documents by number in the corpus as it was (its progress passed 100%, and a
    row could be written to another document)."""
    n = matched.n_docs
    if n is None:
        return
    if n_docs > n or done and (n_docs < n or _stamp(corpus) != matched.stamp):
        raise DataError(f"changed while apply-review read it: {n:,} document"
                        f"{plural_s(n)} when the review's rows were matched to them, "
                        f"{'more' if n_docs > n else f'{n_docs:,}'} now"
                        f"{' (or edited)' if n_docs == n else ''}; no output written: run "
                        "again once nothing writes to it", path=corpus)


def _read_quietly(records, bar):
    """``records`` read again, what the reading logs dropped (said by the pass before:
    :func:`~tagsmith.data.corpus._quiet_rereading`), each counted on ``bar``, whose
    lines are not dropped."""
    from tagsmith.data.corpus import _quiet_rereading

    records = iter(records)
    while True:
        with _quiet_rereading():
            chunk = list(itertools.islice(records, COUNT_STEP))
        if not chunk:
            return
        bar.update(len(chunk))
        yield from chunk


def _placed(row: Decision, number: int, doc_id: str | None) -> Decision:
    """``row`` naming document ``number``, and its id ``doc_id`` where not None."""
    if doc_id is None:
        return dataclasses.replace(row, doc=number)
    return dataclasses.replace(row, doc=number, doc_id=doc_id, doc_id_cell="")


def _as_corpus_ids(rows: list[Decision], ids_of_key: dict[str, list[str]],
                   ids: set[str], review: Path | None = None,
                   id_at: Callable[[int], str | None] | None = None) -> list[Decision]:
    """``rows`` each naming the corpus id its ``doc_id`` cell names as :func:`_same_id`
    reads it (``42`` a spreadsheet wrote for ``0042``), as the row's number names its
    document: one of the documents of its text first, else (its text edited since) the
    first of ``ids`` that it names. The rows left to the second look are found through
    one index of their ids (:class:`_NumericIds`) in one pass over ``ids``: compared
    with each corpus id, 1,000 such rows against a million ids took minutes. An id a
    spreadsheet cut to 15 digits (``1234567890123450000``, a bare cell of a CSV
    ``review``: tagsmith writes the id ``'1234567890123450000``, text no spreadsheet
    cuts) names the document of its text whose id it was cut from, and is refused
    (:class:`ReviewFormatError`, naming ``review``'s line) where it is itself an id of
    the corpus and names another document of its text too: either may be the row's;
    unless the document at the row's number has that very id (``id_at(number)``: the
    id of document ``number``), the number and the id agreeing on it."""
    found: dict[int, str] = {}
    by_written: dict[str, list[int]] = {}  # the ids of the rows left, as written
    # only a CSV's bare cell can be a spreadsheet's cut: tagsmith writes such an id
    # with a leading ' (text to a spreadsheet, kept whole), and a JSONL review keeps it
    cut_cells = review is not None and review_format(review) == "csv"
    for n, row in enumerate(rows):
        if (cut_cells and row.doc_id and not row.doc_id_cell
                and _SPREADSHEET_CUT.fullmatch(row.doc_id)):
            # a long number a spreadsheet kept 15 digits of: the document of its text
            # whose id it may be, itself or the one it was cut from; an id of the
            # corpus, it named that document alone, another text's or one of the same
            # (boilerplate), where the row was the other's
            cut = [doc_id for doc_id in dict.fromkeys(ids_of_key.get(row.doc_key, ()))
                   if doc_id == row.doc_id or _cut_from(row.doc_id, doc_id)]
            # the document at the row's number has that very id: the number and the
            # id agree on it, as a row whose id was cut would not (its number named the
            # document cut from): kept, refused or redirected by the cut alone
            agree = id_at is not None and id_at(row.doc) == row.doc_id
            if len(cut) > 1 and row.doc_id in ids and not agree:
                shown = sorted(cut, key=lambda doc_id: doc_id != row.doc_id)
                raise ReviewFormatError(
                    f"doc_id {row.doc_id!r} names {len(cut)} documents of its text "
                    f"({and_more(shown, 3, repr)}): a spreadsheet "
                    "keeps 15 significant digits of a number and writes the others as "
                    "zeros, so it may be either; write the document's id in the row as "
                    "text (the audit's review file has it) and apply the review again",
                    path=review, line=row.line)
            if len(cut) == 1 and cut[0] != row.doc_id and not agree:
                found[n] = cut[0]
                continue
        if not row.doc_id or row.doc_id in ids:
            continue
        its = [row.doc_id, *([row.doc_id_cell] if row.doc_id_cell else [])]
        first = next((doc_id for doc_id in ids_of_key.get(row.doc_key, ())
                      if any(_same_id(written, doc_id) for written in its)), None)
        if first is not None:
            found[n] = first
        elif any(ch.isdigit() for ch in row.doc_id):
            if all(_indexable(written) for written in its):
                for written in its:
                    by_written.setdefault(written, []).append(n)
            else:  # a number past a float's range (1e999), which _same_id reads as
                # inf and the index leaves out: compared with each id, as before
                first = next((doc_id for doc_id in ids
                              if any(_same_id(written, doc_id) for written in its)), None)
                if first is not None:
                    found[n] = first
    if by_written:
        index = _NumericIds(by_written)
        left = {n for rows_of in by_written.values() for n in rows_of}
        order = list(ids)
        for at, named in index.naming_each(order).items():
            doc_id = order[at]
            if doc_id != doc_id.strip():
                # an id with spaces around it is itself only as a number (_same_id)
                named = [written for written in named if _same_id(written, doc_id)]
            for written in named:
                for n in by_written[written]:
                    if n in left:
                        found[n] = doc_id
                        left.discard(n)
            if not left:
                break
    return [dataclasses.replace(row, doc_id=found[n]) if n in found else row
            for n, row in enumerate(rows)]


#: a whole number of more than 15 significant digits, those past the 15th zeros: what a
#: spreadsheet (Excel) makes of a longer id it read as a number
_SPREADSHEET_CUT = re.compile(r"\+?0*[1-9]\d{14}0+")


def _cut_from(written: str, doc_id: str) -> bool:
    """Whether ``written`` (:data:`_SPREADSHEET_CUT`) may be the whole number ``doc_id``
    as a spreadsheet keeps it: its first 15 significant digits, cut (Excel) or rounded
    (LibreOffice), the others zeros.

    >>> _cut_from("1234567890123450000", "1234567890123456789")
    True
    >>> _cut_from("1234567890123450000", "1234567890123460000")
    False
    """
    if not _WHOLE.fullmatch(doc_id):
        return False
    shown, actual = int(written), int(doc_id)
    unit = 10 ** (len(str(shown)) - 15)
    return -unit // 2 <= actual - shown < unit


_WHOLE = re.compile(r"\+?\d+")


def _indexable(written: str) -> bool:
    """Whether :class:`_NumericIds` finds what ``written`` names: text, a number a
    float holds, or a number written in digits past its range (1e999); not inf and nan
    written as words."""
    try:
        shown = float(written)
    except ValueError:
        return True
    return math.isfinite(shown) or math.isinf(shown) and bool(_NUMBER_CHARS.fullmatch(written))


def _apply_review(corpus: str | Path, review: str | Path, output: str | Path,
                  space: LabelSpace, *, on_error: str = "fail", format: str | None = None,
                  overwrite: bool = False, keep: Sequence[str | Path] = (),
                  space_name: str = "the vocabulary", lang: str = "en",
                  matched: _Matched | None = None,
                  read: list[tuple[list[Decision], list[Decision], dict]] | None = None,
                  decide: tuple[str | Path, float] | None = None,
                  show_progress: bool = False) -> dict:
    """:func:`apply_review` under the text columns set; ``matched``: the rows matched by
    id and text (:func:`_match_moved`), else by their numbers. ``read``: the review's
    :func:`_read_decisions`, read here where empty and kept there. ``decide``:
    ``decide_from`` and ``decide_min_score``, read with the review."""
    from tagsmith.data.readers import current_text_columns

    text_columns_checked(current_text_columns())
    from tagsmith.data.corpus import Corpus
    from tagsmith.data.writers import (
        header_fields,
        output_format,
        rewrite_changed,
        write_records,
    )

    corpus, review, output = Path(corpus), Path(review), Path(output)
    output_format(output, format)
    for role, path in (("the corpus (never edited in place)", corpus),
                       ("the review file", review),
                       *(("an input of this run", Path(p)) for p in keep)):
        if same_file(output, path):
            raise InvalidParameterError("output", f"a new file, not {role}", str(output))
    # a folder first: it was "must be a file that does not exist yet (pass --force)",
    # and with --force "is a directory", the flag suggested no use
    check_writable(output)
    if output.exists() and not overwrite:
        # both spellings: the keyword for Python callers, the flag for the command line
        raise InvalidParameterError("output", "a file that does not exist yet (pass "
                                    "overwrite=True to replace it; CLI: --force)", str(output))
    source = Corpus(corpus, space, on_error=on_error)
    # a pipe can be read once: checked as it is written (below), a file or folder here
    checked = corpus.is_file() or corpus.is_dir()
    if checked:
        # the corpus before the review, as every command checks its corpus first: a
        # vocabulary given as the corpus with a malformed review was told about the review
        _check_corpus_first(source, corpus)
    if read is None or not read:
        answers = None if decide is None else label_answers(
            decide[0], space, min_score=decide[1], space_name=space_name)
        taken = _read_decisions(review, space, space_name, lang, answers)
        if read is not None:
            read.append(taken)
    else:
        taken = read[0]
    decisions, repeated, counts = taken
    stats = {"n_docs": 0, "n_docs_changed": 0, "n_added": 0, "n_removed": 0,
             "n_already_applied": 0, "n_narrower_gone": 0, "n_skipped_lines": 0,
             "n_missing_files": 0, "n_stale_marks": 0, "n_docs_emptied": 0,
             "docs_emptied": [], "n_kept_marked": 0,
             **{f"review_{k}": v for k, v in counts.items() if k != "kept_rows"}}
    # the labels a person kept (wrong rows rejected), by text fingerprint: marked on a
    # scored line (KEPT_MARK), read as a person's decision by the next audit
    kept_by_key: dict[str, list[tuple[str, int]]] = {}
    for row in counts.get("kept_rows", ()):
        kept_by_key.setdefault(row.doc_key, []).append((row.doc_id, row.label_id))
    # each kept row met on a line: True where the line has scores (None: some line has)
    kept_seen: dict[tuple[str, str, int] | None, bool] = {}
    report = _SkipsNoted(source=str(corpus))
    # the first line of each malformed record skipped (ascending, as read), which a
    # corpus rewritten line for line leaves out
    skipped_at = report.skipped_at
    by_doc: dict[int, list[Decision]] = {}
    for decision in decisions:
        by_doc.setdefault(decision.doc, []).append(decision)
    repeats_of: dict[int, list[Decision]] = {}  # a repeated row names its first's document
    for decision in repeated:
        repeats_of.setdefault(decision.doc, []).append(decision)
    stats.update({"n_matched_elsewhere": 0, "n_text_changed": 0, "n_not_found": 0})
    if matched is not None:
        by_doc, repeats_of = dict(matched.by_doc), matched.repeats_of
        stats.update({"n_matched_elsewhere": matched.moved,
                      "n_text_changed": len(matched.text_changed),
                      "n_not_found": len(matched.not_found) + len(matched.ambiguous)})

    # ids given to two documents: (id, first line, other line), for the warning
    repeated_ids: list[tuple[str, int, int]] = []
    # the corpus's keys the space lacks (a concept a thesaurus update removed), kept
    unknown: Counter[str] = Counter()
    # and those naming several of its labels (ambiguous: train asks for their <uri>)
    ambiguous: Counter[str] = Counter()
    # the documents written carrying each deprecated label (read so, or added by an
    # accepted row): train, distill and the audit warn of them, this wrote them silently
    deprecated = space.deprecated_mask
    in_use: Counter[int] = Counter()
    # the documents an accepted row gave a label beside a broader one they keep (a
    # filing coded 301020 gaining 30102010): how many, and the first's (record, added,
    # broader)
    hierarchy = space.has_hierarchy
    n_beside_broader = [0]
    beside_broader: list[tuple[Any, int, int]] = []

    def changed_records():
        style: list[str] = []  # the key style of the last labelled record, for new keys
        # what the last CSV labels cell put between its labels: a CSV written keeps it
        joiner: str | None = None
        # the texts read while each is a lone <URI>: a vocabulary, if none is not (a pipe
        # only: a file or folder was checked before the review was read)
        uris: list[str] | None = None if checked else []
        id_lines = FirstSeen[int]()
        decided: dict[str, tuple[int, int]] = {}  # id -> (line, review line) decided on
        # the documents the rows were matched among: a corpus grown since is refused
        limit = math.inf if matched is None or matched.n_docs is None else matched.n_docs
        # the corpus's layout (a CSV's label joiner, a JSONL's key order) is read here
        # alone: every other command reads without it (read_records' layout)
        for number, record in enumerate(source.records(report, layout=True)):
            todo = by_doc.pop(number, None)
            stats["n_docs"] += 1
            if stats["n_docs"] > limit and matched is not None:  # refused: no output
                _changed_since_matched(corpus, matched, stats["n_docs"], False)
            # raised inside the atomic writer: no output file appears
            _check_decided_id(id_lines, decided, repeated_ids, record, todo, corpus)
            if uris is not None and is_lone_uri(record.text):
                uris.append(record.text)
            else:
                uris = None
            if record.labels:
                style = list(record.labels)
                for key in record.labels:
                    try:
                        if space.lookup(key) is None:
                            unknown[key] += 1
                    except AmbiguousLabelError:
                        ambiguous[key] += 1
            joiner = record.label_joiner or joiner
            read = record
            if kept_by_key:
                record = _mark_kept(record, kept_by_key, space, stats, kept_seen)
            if todo:
                record = _apply(record, todo, space, review, stats, style,
                                repeats_of.get(number, ()), folder=source.format == "dir")
                if record.label_joiner is None and joiner:
                    # a label added to a cell of one: separated as the cells before it
                    record = dataclasses.replace(record, label_joiner=joiner)
                pair = _added_beside_broader(record, todo, space) if hierarchy else None
                if pair is not None:
                    n_beside_broader[0] += 1
                    if not beside_broader:
                        beside_broader.append((record, *pair))
            if deprecated.any() and record.labels:
                ids = {_resolve(space, key) for key in record.labels}
                in_use.update(i for i in ids if i is not None and deprecated[i])
            yield record, record is not read
        if matched is not None:
            _changed_since_matched(corpus, matched, stats["n_docs"], True)
        if not stats["n_docs"]:  # a pipe (a file or folder was checked before)
            raise no_documents(corpus, report.n_skipped_lines, report.n_missing_files,
                               report.first_malformed)
        if uris:  # the audit refused it: no review is of it
            check_not_a_vocabulary(uris, corpus)
        if by_doc:  # raised inside the atomic writer: no output file appears
            first = min((d for ds in by_doc.values() for d in ds), key=lambda d: d.line)
            n = stats["n_docs"]
            # document numbers count from 0: "document 4000 does not exist: the corpus
            # has 4000 documents" read as a contradiction
            numbered = "" if n == 0 else " (document 0)" if n == 1 else \
                f", numbered 0 to {n - 1:,}"
            raise _Moved(f"document {first.doc:,} does not exist: the corpus has "
                         f"{n:,} document{plural_s(n)}{numbered}", path=review,
                         line=first.line)

    # the corpus's layout, told from its head in one read: a CSV written as its input
    # was (a ';' and Excel's "sep=;" line kept), a diff of the two showing the accepted
    # changes, not every line; its columns as they were (their order and names, "Text",
    # " labels ", no id column where it had none, a labels column added last where it
    # had none: a label added would be lost); its rows ending as the input's did (CRLF,
    # where a Windows tool wrote every line so), after the UTF-8 byte-order mark it
    # started with (Excel's "CSV UTF-8"), where it is written in its own format: a JSON
    # reader refuses a JSONL starting with one
    fmt = detect_format(corpus) if corpus.is_file() else None
    layout = corpus_layout(corpus, fmt) if fmt is not None else None
    same = layout is not None and fmt == output_format(output, format)
    delimiter, sep_line, header = (",", None, None)
    if layout is not None and same and fmt == "csv":
        delimiter, sep_line, header = layout.delimiter, layout.sep_line, layout.header
    if header is not None and "labels" not in header_fields(header):
        header = [*header, "labels"]
    bom = layout is not None and same and layout.bom
    # a progress line (of how many, where the rows were matched in a pass before): a
    # million documents were read and written for minutes with no word
    with progress_bar(total=None if matched is None else matched.n_docs, unit="doc",
                      desc="apply-review: documents read and written",
                      enabled=show_progress) as bar:
        if fmt is not None and layout is not None and same \
                and (fmt != "csv" or layout.header is not None):
            # its lines copied, those of the records an accepted row changed written in
            # their style: a diff of the two shows the accepted changes alone (a CSV of
            # no labels column gains one: its other rows copied, an empty cell added to
            # each)
            rewrite_changed(counted(changed_records(), bar), corpus, output, fmt, layout,
                            skipped_at, space, add_labels=header != layout.header)
        else:  # another format, a pipe
            # ending its lines as every row of the corpus did (its head's rows ending in
            # CRLF, it may have LF rows further on: read through, where its head says
            # CRLF)
            newline = "\n" if fmt is None or layout is None else \
                line_end_throughout(corpus, fmt, layout.newline)
            write_records((record for record, _ in counted(changed_records(), bar)),
                          output, format, label_space=space, delimiter=delimiter,
                          sep_line=sep_line, newline=newline, header=header, bom=bom)
    if repeated_ids:  # no decision names them: written as they were, but say so
        doc_id, first, other = repeated_ids[0]
        n = len(repeated_ids)
        logger.warning("%s: %s document%s %s the id of an earlier document (first %r, on "
                       "lines %d and %d); no accepted decision names %s, so %s written as "
                       "%s, but a review cannot tell such documents apart: give each "
                       "document an id of its own", corpus, f"{n:,}", plural_s(n),
                       plural(n, "repeats", "repeat"), doc_id, first, other,
                       plural(n, "it", "them"), plural(n, "it is", "they are"),
                       plural(n, "it was", "they were"))
    if matched is not None:
        _warn_matched(matched, review, output)
    if in_use:
        _warn_deprecated_written(in_use, space, output, space_name)
    if beside_broader:
        record, added, broader = beside_broader[0]
        _warn_beside_broader(n_beside_broader[0], record, added, broader, space, output,
                             lang)
    # the audit left them out, saying so; kept here, but not silently
    for keys, what in ((unknown, "not in"), (ambiguous, "naming several labels of")):
        if not keys:
            continue
        n, (key, count) = sum(keys.values()), keys.most_common(1)[0]
        fix = f"write {plural(n, 'its', 'their')} <uri>, or " if keys is ambiguous else ""
        # another command's options (train's): a Python caller is told read_labelled's
        # parameter, the command line the command
        told = ("%s: %s label occurrence%s %s %s (%s distinct, most often %r x%s) "
                "written as %s: {} with that vocabulary refuses %s (%s{} leaves %s out)")
        logger.warning(told.format("read_labelled", 'read_labelled(..., unknown_labels="skip")'),
                       corpus, f"{n:,}", plural_s(n), what, space_name, f"{len(keys):,}",
                       key, f"{count:,}", plural(n, "it was", "they were"),
                       plural(n, "it", "them"), fix, plural(n, "it", "them"),
                       extra={"cli_message": told.format("train --vocab",
                                                         "--unknown-labels skip")})
    # a malformed line is no record, so it cannot be written: say so, not silently
    # a folder's file deleted after the listing is counted apart: no line of it was read
    stats["n_skipped_lines"] = report.n_skipped_lines
    stats["n_missing_files"] = report.n_missing_files
    # the kept rows left unmarked, which went with no count or word: their text is not
    # in the corpus (or not with their id), or, in a label output (a line has scores),
    # their line has none
    rows = {(key, doc_id, label_id) for key, pairs in kept_by_key.items()
            for doc_id, label_id in pairs}
    stats["n_kept_not_found"] = sum(row not in kept_seen for row in rows)
    stats["n_kept_unscored"] = sum(kept_seen.get(row) is False for row in rows) \
        if None in kept_seen else 0
    if report.n_skipped_lines:
        # a folder's file gone missing is a document, as the reader's summary says
        # ("first: document 13, zgone.txt: ..."), not "line 13"
        missing = report.first_missing
        malformed = report.first_malformed or (None if missing else report.skipped_lines[0])
        examples = []
        if malformed:
            examples.append(f"first at line {malformed[0]}: {malformed[1]}")
        if missing:
            examples.append(f"first{' gone' if malformed else ''}: document {missing[0]}, "
                            f"{missing[1]}")
        logger.warning("%s: %s (on_error skip) and not written to %s (%s)", corpus,
                       skipped_count(report.n_skipped_lines, report.n_missing_files),
                       output, "; ".join(examples),
                       extra={"parameters": ("on_error",)})  # the CLI: --on-error
    return stats


def _warn_matched(matched: _Matched, review: Path, output: Path) -> None:
    """Warn of the accepted rows applied to a document at another number than theirs,
    and of those not applied: their document's text changed, or no document has it."""
    if matched.moved:
        logger.warning("%s: %s accepted row%s applied to a document at another number than "
                       "the review's (documents added, removed or moved since the audit: "
                       "matched by id and text, as audit --reviewed matches them)", review,
                       f"{matched.moved:,}", plural_s(matched.moved))
    if matched.by_text:
        logger.warning("%s: %s accepted row%s matched by text alone: %s doc_id names no "
                       "document of the corpus (a corpus without ids, other ids, or ids a "
                       "spreadsheet rewrote)", review, f"{matched.by_text:,}",
                       plural_s(matched.by_text), plural(matched.by_text, "its", "their"))
    for rows, why in ((matched.text_changed, "its document (by id) has another text now: "
                       "edited since the review, so the decision may no longer hold; audit "
                       "it again"),
                      (matched.not_found, "no document has its text (and id) now: removed or "
                       "edited since the review"),
                      (matched.ambiguous, "its doc_id names no document of the corpus, and "
                       "its text does not name one: several documents have it, another row "
                       "names the one that has it, or rows of other such ids decide the label "
                       "the other way; give the row the document's id")):
        if rows:
            first = min(rows, key=lambda d: d.line)
            named = f"id {first.doc_id!r}" if first.doc_id else f"document {first.doc}"
            logger.warning("%s: %s accepted row%s not applied to %s: %s (first: line %d, %s)",
                           review, f"{len(rows):,}", plural_s(len(rows)), output, why,
                           first.line, named)


def _mark_kept(record, kept_by_key: dict[str, list[tuple[str, int]]], space: LabelSpace,
               stats: dict, seen: dict | None = None):
    """``record`` with the labels a person kept (a *wrong* row rejected, ``kept_by_key``:
    ``(doc_id, label id)`` by text fingerprint; an empty id names every document of the
    text) named in its :data:`~tagsmith.audit.KEPT_MARK`, on a line with one score a
    label (a label output); as it is where none is new. Counted in ``n_kept_marked``.
    ``seen``: each row met, ``(doc_key, doc_id, label_id)``, True where its line has
    scores (a key of None: some line has), for the rows left unmarked to be counted."""
    metadata = record.metadata or {}
    scores = metadata.get("scores")
    scored = isinstance(scores, list) and len(scores) == len(record.labels)
    if scored and seen is not None:
        seen[None] = True
    key = doc_key(record.text)
    rows = kept_by_key.get(key)
    if not rows:
        return record
    mine = [(doc_id, label_id) for doc_id, label_id in rows
            if not doc_id or _same_id(doc_id, record.doc_id)]
    if seen is not None:
        for doc_id, label_id in mine:
            seen[key, doc_id, label_id] = seen.get((key, doc_id, label_id)) or scored
    if not scored:
        return record
    labels = {label_id for _, label_id in mine}
    # the marks' keys matched to the line's as the audit's reader matches them, each
    # read once (review_mark was called again for each of the line's labels)
    marked = mark_on_line(review_mark(record, KEPT_MARK), record.labels)
    added = set(mark_on_line(review_mark(record), record.labels))
    # each key once: a line repeating a key got it twice in the mark, counted twice
    new = list(dict.fromkeys(key for key in record.labels if key not in marked
                             and _resolve(space, key) in labels and key not in added))
    if not new:
        return record
    stats["n_kept_marked"] += len(new)
    return dataclasses.replace(record, metadata=MappingProxyType(
        {**metadata, KEPT_MARK: [*marked, *new]}))


def _added_beside_broader(record, decisions: Sequence[Decision],
                          space: LabelSpace) -> tuple[int, int] | None:
    """``(added, broader)``: a label an accepted ``missing`` row of ``decisions`` added
    to ``record`` and a broader label of it (its parent, or further up) that the record
    carries too, or None."""
    ids = {_resolve(space, key) for key in record.labels} - {None}
    for decision in decisions:
        if decision.kind != "missing" or decision.label_id not in ids:
            continue
        seen: set[int] = set()
        above = space.broader_ids(decision.label_id)
        while above:
            label_id = above.pop()
            if label_id in ids:
                return decision.label_id, label_id
            if label_id not in seen:
                seen.add(label_id)
                above.extend(space.broader_ids(label_id))
    return None


def _warn_beside_broader(n: int, record, added: int, broader: int, space: LabelSpace,
                         output: Path, lang: str = "en") -> None:
    """Warn that ``n`` documents written to ``output`` carry a label an accepted row
    added and a broader label of it (the first: ``record``, ``added`` under ``broader``):
    accepting the row adds the label, it takes none off. Labels are named in ``lang``."""
    where = f"id {record.doc_id!r}" if record.doc_id else f"line {record.line}"

    def named(label_id: int) -> str:
        name = space.name_of(label_id, lang)
        uri = space.uri_of(label_id)
        return uri if name == uri else f"{uri} ({name!r})"

    logger.warning("%s: %s document%s %s a label an accepted row added beside a broader "
                   "label %s already had (first: %s, %s added under %s), both written: "
                   "where the new label refines the broader one (a document coded at a "
                   "parent level where a leaf exists), take the broader one off: add a row "
                   "for it to the review (kind wrong, action remove, decision accept, the "
                   "doc, doc_id and doc_key cells copied from the document's row) and apply "
                   "the review again", output, f"{n:,}", plural_s(n),
                   plural(n, "carries", "carry"), plural(n, "it", "they"), where,
                   named(added), named(broader))


def _warn_deprecated_written(in_use: Counter[int], space: LabelSpace, output: Path,
                             space_name: str) -> None:
    """Warn of the labels ``space`` marks deprecated that documents written to ``output``
    carry (``in_use``: each one's documents), as train words it: counted, the one most
    documents carry named (the lowest id of those tied), and the replacements of the most
    used (:meth:`LabelSpace.replaced_as`)."""
    used = sorted(in_use, key=lambda i: (-in_use[i], i))
    top, n = used[0], len(used)
    replaced = space.replaced_as(used)
    logger.warning("%s: %s label%s %s marks deprecated %s written (%s<%s>, in %s "
                   "document%s): train learns and suggests %s like any other label%s",
                   output, f"{n:,}", plural_s(n), space_name, plural(n, "is", "are"),
                   "most often " if n > 1 else "", space.uri_of(top), f"{in_use[top]:,}",
                   plural_s(in_use[top]), plural(n, "it", "them"),
                   f"; relabel with the vocabulary's replacements ({replaced})"
                   if replaced else "")


def _resolve(space: LabelSpace, key: str) -> int | None:
    """The label id of a key; a name several concepts share is unresolved, as the audit
    counted it (see :meth:`LabelSpace.lookup`)."""
    try:
        return space.lookup(key)
    except AmbiguousLabelError:
        return None


def key_like(keys: Sequence[str], label_id: int, space: LabelSpace) -> str:
    """The key to add ``label_id`` with, in the style of a record's ``keys``: ``<uri>``
    unless the keys are bare URIs (a corpus of bare keys, its label space derived from
    it) or preferred names, then the label's bare URI or its name in the same language,
    so the corpus reads back the same under the vocabulary it was read with.

    >>> from tagsmith.data.labelspace import Label
    >>> space = LabelSpace([Label("urn:x:1", {"en": "rain"}), Label("urn:x:2", {"en": "sun"})])
    >>> key_like(["rain"], 1, space), key_like(["urn:x:1"], 1, space), key_like([], 1, space)
    ('sun', 'urn:x:2', '<urn:x:2>')
    """
    uri = space.uri_of(label_id)
    for key in keys:
        key = key.strip()
        if key.startswith("<") and key.endswith(">"):
            break
        if space.lookup(key, by_name=False) is not None:
            if not any(c.isspace() for c in uri):
                return uri
            break
        known = _resolve(space, key)
        if known is None:
            continue
        for lang, name in space[known].pref_labels.items():
            if name == key:
                mine = space[label_id].pref_labels.get(lang)
                if mine and _resolve(space, mine) == label_id:
                    return mine
        break
    return f"<{uri}>"




def review_mark(record: Record, mark: str = REVIEW_MARK) -> list[str]:
    """The keys ``record``'s :data:`~tagsmith.audit.REVIEW_MARK` names ([] where it has
    none); a value that is not a list of strings (a string, a number) is refused, naming
    the line: it was dropped with no word when the line was rewritten, and ignored on
    reading. One check for ``apply-review`` and the audit's reader
    (:func:`tagsmith.pipeline.audit.read_audit_corpus`), which warned of it and read on."""
    from tagsmith.exceptions import DataError

    marked = (record.metadata or {}).get(mark)
    if marked is None:
        return []
    if not isinstance(marked, list) or not all(isinstance(k, str) for k in marked):
        raise DataError(f"{mark!r} must be a list of the line's label keys, got "
                        f"{marked!r}", path=record.source, line=record.line)
    return list(marked)


def mark_on_line(marked: Sequence[str], keys: Sequence[str]) -> list[str]:
    """A mark's ``marked`` keys spelled as the line's label ``keys`` are, each once: a
    key matches a label whose key is the same once spaces around them are stripped, as
    the audit's reader matches them (:func:`tagsmith.pipeline.audit._record_scores`); a
    key matching none is left as written (stale). apply-review compared exactly, so a
    key with a stray space was read as marked by the audit and dropped as stale here.

    >>> mark_on_line([" joy", "snwo"], ["joy ", "snow"])
    ['joy ', 'snwo']
    """
    spelled: dict[str, str] = {}
    for key in keys:
        spelled.setdefault(key.strip(), key)
    return list(dict.fromkeys(spelled.get(key.strip(), key) for key in marked))


#: how many of the documents a review left without any label apply-review names
EMPTIED_NAMED = 5


def _apply(record, decisions: list[Decision], space: LabelSpace, review: Path, stats: dict,
           style: Sequence[str] = (), repeats: Sequence[Decision] = (), *,
           folder: bool = False):
    """``record`` with ``decisions`` applied; ``repeats`` (rows repeating one of them)
    are only checked against the document, as every decision is. ``folder``: the
    record is a folder corpus's file, named alone (its ``line`` is its place in the
    folder, no line of the file)."""
    key = doc_key(record.text)
    # every row, in the review's order: one with a stray doc number must not slip by
    for decision in sorted([*decisions, *repeats], key=lambda d: d.line):
        if decision.doc_key != key:
            raise _Moved(f"document {decision.doc} ({record.source}:{record.line}) "
                         "has a different text than when it was audited; was the "
                         "corpus changed, or the row's doc cell edited (the row "
                         "names its document by that number)?", path=review,
                         line=decision.line)
        # the text does not tell documents of one text apart (empty texts, boilerplate):
        # with a document deleted above a run of them, the next one took the correction
        if not (_same_id(decision.doc_id, record.doc_id) or decision.doc_id_cell
                and _same_id(decision.doc_id_cell, record.doc_id)):
            raise _Moved(
                f"document {decision.doc} ({record.source}:{record.line}) has id "
                f"{record.doc_id!r}, the review names id {decision.doc_id!r}; was the corpus "
                "changed? (if a spreadsheet rewrote the doc_id cells, empty them)",
                path=review, line=decision.line)
    keys = list(record.labels)
    ids = [_resolve(space, key) for key in keys]
    # a label output's (label's, distill's input) confidences, one per label: kept
    # beside their labels, an added label scoring 1 (a person's decision). They were
    # left as they were: a removed label's score stayed on the next label, an added one
    # had none, and distill refused the file ("'scores' must be ... one per label")
    scores = record.metadata.get("scores")
    scored = isinstance(scores, list) and len(scores) == len(keys)
    kept_scores: list = list(scores) if scored else []
    # the labels a review added (REVIEW_MARK, a scored line's; a person's or, with
    # decide_from, an LLM's decision): their 1.0 is a decision,
    # not an LLM's certainty; it read as the LLM's stated 1.0 in the next audit's
    # --label-confidence, the file telling the two apart nowhere. Read on a scored line
    # only: an unscored line's mark is never used (its metadata is written as it was),
    # and a malformed one there refused the whole review over a key nothing reads
    # (their keys matched to the line's as the audit's reader matches them)
    added = mark_on_line(review_mark(record), keys) if scored else []
    # the labels a person kept (KEPT_MARK): a later review removing one takes it off
    kept = mark_on_line(review_mark(record, KEPT_MARK), keys) if scored else []
    changed = False
    for decision in decisions:
        present = [i for i, label_id in enumerate(ids) if label_id == decision.label_id]
        if decision.kind == "missing":
            if present:
                stats["n_already_applied"] += 1
                continue
            if decision.narrower_ids and not set(decision.narrower_ids) & set(ids):
                # a row of docs_without_broader.csv whose narrower labels the review
                # applied before removed: its broader label was asked for on their
                # account, and added it stood on a premise the desk had just undone
                stats["n_narrower_gone"] += 1
                continue
            keys.append(key_like(keys or style, decision.label_id, space))
            ids.append(decision.label_id)
            if decision.score is None:  # a person's decision: 1.0, marked
                kept_scores.append(1.0)
                added.append(keys[-1])
            else:
                # decide_from's LLM stated it: its score, read as that LLM's confidence
                # (marked, it read as unknown, the deciding answer's confidence lost)
                kept_scores.append(decision.score)
            stats["n_added"] += 1
        else:
            if not present:
                stats["n_already_applied"] += 1
                continue
            gone = {keys[i] for i in present}
            added = [k for k in added if k not in gone]
            kept = [k for k in kept if k not in gone]
            keys = [k for i, k in enumerate(keys) if i not in present]
            ids = [j for i, j in enumerate(ids) if i not in present]
            kept_scores = [v for i, v in enumerate(kept_scores) if i not in present]
            stats["n_removed"] += 1
        changed = True
    stats["n_docs_changed"] += changed
    if changed and record.labels and not keys:
        # every label of the document removed and none added: train and distill read
        # such a line as a negative of every label, its right one too; it was written so
        # with no word (a 300-comment GoEmotions review: "OP is going places!" lost its
        # one label, neutral). Counted, the first few named by file and line
        stats["n_docs_emptied"] += 1
        if len(stats["docs_emptied"]) < EMPTIED_NAMED:
            # a folder's document is its file (its "line" its place in the listing:
            # "a.txt:37" named a line the one-document file lacks)
            stats["docs_emptied"].append(str(record.source) if folder
                                         else f"{record.source}:{record.line}")
    if not changed:
        return record
    if scored:
        metadata = {**record.metadata, "scores": kept_scores}
        # a key the line no longer has (a hand edit respelled it): it was carried over,
        # and named a later label of that key as a review's (its confidence unknown)
        # (kept_by_review's too: its stale keys were dropped with no count or word)
        stale = [k for k in (*added, *kept) if k not in keys]
        stats["n_stale_marks"] = stats.get("n_stale_marks", 0) + len(stale)
        added = [k for k in added if k in keys]
        if added:
            metadata[REVIEW_MARK] = added
        else:
            metadata.pop(REVIEW_MARK, None)
        kept = [k for k in kept if k in keys]
        if kept:
            metadata[KEPT_MARK] = kept
        else:
            metadata.pop(KEPT_MARK, None)
        return dataclasses.replace(record, labels=tuple(keys),
                                   metadata=MappingProxyType(metadata))
    return dataclasses.replace(record, labels=tuple(keys))
