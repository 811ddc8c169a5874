"""Accepting an audit's corrections in memory (a notebook's texts and label matrix)."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from tagsmith import AuditOptions, LabelSpace, apply_decisions, audit_corpus, load_vocabulary
from tagsmith.exceptions import InvalidParameterError

GOEMOTIONS = Path(__file__).resolve().parents[1] / "examples" / "goemotions"


@pytest.fixture(scope="module")
def audited():
    """700 GoEmotions comments as a notebook holds them (texts, a 0/1 matrix), audited."""
    space = load_vocabulary(GOEMOTIONS / "vocab.tsv")
    texts, rows = [], []
    with gzip.open(GOEMOTIONS / "train.tsv.gz", "rt", encoding="utf-8") as lines:
        for line, _ in zip(lines, range(700), strict=False):
            text, labels = line.rstrip("\n").split("\t")[:2]
            texts.append(text)
            rows.append([space.lookup(key) for key in labels.split()])
    Y = np.zeros((len(texts), len(space)), dtype=np.int64)
    for doc, ids in enumerate(rows):
        Y[doc, ids] = 1
    result = audit_corpus(texts, Y, space, options=AuditOptions(scores="knn"))
    kinds = {row["kind"] for row in result.review}
    assert kinds == {"missing", "wrong"}  # the test needs both
    return space, texts, Y, result.review


def _first(review, kind):
    return next(i for i, row in enumerate(review) if row["kind"] == kind)


def test_accepted_rows_add_and_remove_their_labels_and_the_rest_change_nothing(audited):
    """A notebook user had the review queue as data (``result.review``) but no way to
    apply its decisions but ``apply-review``, which reads a corpus file and a review
    file and writes a third: the labels had to go through files, or be edited by hand
    in a CSR matrix."""
    space, texts, Y, review = audited
    rows = [dict(row) for row in review]
    add, remove = _first(rows, "missing"), _first(rows, "wrong")
    rejected = next(i for i in range(len(rows)) if i not in (add, remove))
    rows[add]["decision"] = "accept"
    rows[remove]["decision"] = "x"
    rows[rejected]["decision"] = "reject"
    before = Y.copy()
    fixed = apply_decisions(Y, rows, space, texts=texts)
    assert np.array_equal(Y, before)  # the caller's labels are left as they were
    changed = np.argwhere(fixed.toarray() != Y)
    expected = sorted((rows[i]["doc"], space.id_of(rows[i]["label_uri"])) for i in (add, remove))
    assert sorted(map(tuple, changed.tolist())) == expected
    assert fixed[rows[add]["doc"], space.id_of(rows[add]["label_uri"])] == 1
    assert fixed[rows[remove]["doc"], space.id_of(rows[remove]["label_uri"])] == 0
    # nothing decided: the labels as given
    assert np.array_equal(apply_decisions(Y, review, space).toarray(), Y)


def test_a_dataframe_of_the_review_is_applied_its_empty_cells_undecided(audited):
    pd = pytest.importorskip("pandas")
    space, texts, Y, review = audited
    queue = pd.DataFrame(review)
    queue["decision"] = None  # NaN-like cells, as a column filled in part
    add = _first(review, "missing")
    queue.loc[add, "decision"] = "accept"
    fixed = apply_decisions(Y, queue, space, texts=pd.Series(texts))
    doc, label = review[add]["doc"], space.id_of(review[add]["label_uri"])
    assert fixed[doc, label] == 1 and Y[doc, label] == 0
    assert (fixed.toarray() != Y).sum() == 1


def test_texts_in_another_order_than_audited_are_refused(audited):
    """Rows name documents by position: applied to a table sorted since the audit, they
    gave their corrections to other documents."""
    space, texts, Y, review = audited
    rows = [dict(row) for row in review]
    rows[0]["decision"] = "accept"
    with pytest.raises(InvalidParameterError, match=r"review\[0\]\['doc_key'\].*not in the "
                       r"order audited"):
        apply_decisions(Y, rows, space, texts=texts[::-1])


def test_bad_rows_are_refused_naming_the_row():
    space = LabelSpace.from_uris(["u:a", "u:b"])
    Y = [[1, 0], [0, 1]]

    def row(**cells):
        return {"decision": "accept", "kind": "missing", "label_uri": "u:b", "doc": 0,
                **cells}

    cases = [([row(), row(kind="wrong")], r"review\[1\].*contradicting review\[0\]"),
             ([row(doc=2)], r"review\[0\]\['doc'\].*\[0, 2\)"),
             ([row(doc=0.5)], r"review\[0\]\['doc'\]"),
             ([row(doc=True)], r"review\[0\]\['doc'\]"),
             ([row(doc=float("nan"))], r"review\[0\]\['doc'\]"),
             ([row(label_uri="u:z")], r"review\[0\]\['label_uri'\]"),
             ([row(decision="maybe")], r"review\[0\]\['decision'\]"),
             ([row(kind="odd")], r"review\[0\]\['kind'\]")]
    for rows, message in cases:
        with pytest.raises(InvalidParameterError, match=message):
            apply_decisions(Y, rows, space)
    with pytest.raises(InvalidParameterError, match="apply_review"):
        apply_decisions(Y, "audit/review.csv", space)
    # a whole float names its document (a DataFrame's doc column upcast by a gap in it)
    assert apply_decisions(Y, [row(doc=np.float64(1.0))], space).toarray().tolist() == \
        [[1, 0], [0, 1]]
    assert apply_decisions(Y, [row(doc=0.0)], space).toarray().tolist() == [[1, 1], [0, 1]]
    # the kind told by the action alone, as a review file's row may
    assert apply_decisions(Y, [row(kind="", action="remove", label_uri="u:a")],
                           space).toarray().tolist() == [[0, 0], [0, 1]]


def test_a_label_table_sorted_apart_from_its_texts_is_refused(audited):
    """``audit_corpus`` refuses a one-hot DataFrame whose index is not its texts'; here it
    passed, and the accepted rows corrected other documents (``doc`` is a position in
    the texts, whose fingerprints matched)."""
    pd = pytest.importorskip("pandas")
    space, texts, Y, review = audited
    rows = [dict(row) for row in review]
    rows[_first(rows, "missing")]["decision"] = "accept"
    order = np.random.default_rng(0).permutation(len(texts))
    df = pd.DataFrame({"text": texts}, index=np.arange(1000, 1000 + len(texts)))
    df = df.iloc[order]  # a sampled frame, its index kept
    table = pd.DataFrame(Y[order], index=df.index).sort_index()  # sorted apart from it
    doc_of = {doc: at for at, doc in enumerate(order)}  # the review as audited on df
    for row in rows:
        row["doc"] = doc_of[row["doc"]]
    with pytest.raises(InvalidParameterError, match="'Y'"):
        apply_decisions(table, rows, space, texts=df["text"])
    fixed = apply_decisions(table.loc[df.index], rows, space, texts=df["text"])
    assert (fixed.toarray() != Y[order]).sum() == 1


def test_a_review_csv_read_back_with_pandas_applies_its_quoted_cells(audited, tmp_path):
    """review.csv, decided by a person and read back with ``pd.read_csv``: a
    fingerprint a spreadsheet would take for a number (about one row in 800) is written
    ``'0123...``, and a label URI it would save as another number (a code ``0111``)
    ``'0111``; apply_decisions refused such an accepted row as "the texts are not those
    audited" (or "no label of label_space"), where apply-review applies it."""
    pd = pytest.importorskip("pandas")
    from tagsmith.audit.review import doc_key, write_review

    space, texts, Y, review = audited
    # a text whose fingerprint is digits alone (found by trying; about 1 in 1,800)
    numeric = next(text for text in (f"comment {i}" for i in range(100_000))
                   if doc_key(text).isdigit())
    row = dict(review[_first(review, "missing")])
    texts = list(texts)
    texts[row["doc"]] = numeric
    row.update(doc_key=doc_key(numeric), text=numeric, decision="accept")
    path = write_review([row], tmp_path / "review.csv")
    assert f"'{doc_key(numeric)}" in path.read_text(encoding="utf-8")
    queue = pd.read_csv(path, dtype={"decision": str})
    fixed = apply_decisions(Y, queue, space, texts=texts)
    label = space.lookup(f"<{row['label_uri']}>")
    assert fixed[row["doc"], label] == 1 and Y[row["doc"], label] == 0
    # a code list's URI, 0111, written '0111
    codes = LabelSpace.from_uris(["0111", "0112"])
    coded = dict(row, label_uri="0111", label_name="0111", given_labels=["0112"],
                 given_names=["0112"], model_top=[])
    path = write_review([coded], tmp_path / "codes.csv")
    assert "'0111" in path.read_text(encoding="utf-8")
    queue = pd.read_csv(path, dtype={"decision": str, "label_uri": str})
    fixed = apply_decisions(np.zeros((len(texts), 2)), queue, codes, texts=texts)
    assert fixed[row["doc"], 0] == 1 and fixed.nnz == 1


def test_a_review_csv_read_with_pythons_csv_applies(audited, tmp_path):
    """review.csv read back with ``csv.DictReader`` (no pandas): every cell a str, and
    the accepted rows were refused as "doc must be a document number, got '82'"."""
    import csv

    from tagsmith.audit.review import write_review

    space, texts, Y, review = audited
    path = write_review([dict(row, decision="accept" if i < 3 else "")
                         for i, row in enumerate(review)], tmp_path / "review.csv")
    with open(path, newline="", encoding="utf-8") as lines:
        rows = list(csv.DictReader(lines))
    assert rows[0]["doc"] == str(review[0]["doc"])
    fixed = apply_decisions(Y, rows, space, texts=texts).toarray()
    in_memory = apply_decisions(Y, [dict(row, decision="accept") for row in review[:3]],
                                space, texts=texts).toarray()
    assert np.array_equal(fixed, in_memory)
    assert int((fixed != Y).sum()) == len({(row["doc"], row["label_uri"])
                                           for row in review[:3]})
    # not a number: still refused, naming the row
    rows[0]["doc"] = "12b"
    with pytest.raises(InvalidParameterError, match=r"review\[0\]\['doc'\]"):
        apply_decisions(Y, rows, space, texts=texts)
