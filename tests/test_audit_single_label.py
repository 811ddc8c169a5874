"""Single-label collections (a product catalogue, one category each): a swap is one
error, shown as its two halves side by side and applied by accepting both."""

import csv
import json
import random

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli
from tagsmith.audit.detect import find_label_issues, pair_single_label
from tagsmith.topk import TopK

from conftest import accept_every_row, apply_review

tagsmith_cli._register_commands()


def invoke(*args):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])


def _catalogue(tmp_path, n_products=600, n_swapped=40, n_on_parent=7, seed=3):
    """A Google-format taxonomy of 2 top categories x 2 parents x 3 leaves and a CSV
    catalogue of products, one leaf each, titles from per-leaf word pools beside
    generic words; ``n_swapped`` products put on another leaf, the next
    ``n_on_parent`` on their leaf's parent. Returns the paths and ``{id: (given,
    true)}`` of the swapped products."""
    rng = random.Random(seed)

    def word():
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7))

    lines, leaves, next_id = ["# Google_Product_Taxonomy_Version: 2021-09-21"], [], 100
    parent_of = {}
    for top in ("Home & Garden", "Electronics"):
        next_id += 1
        lines.append(f"{next_id} - {top}")
        for p in range(2):
            next_id += 1
            parent = f"{top} > Group {p}"
            lines.append(f"{next_id} - {parent}")
            parent_id = str(next_id)
            for leaf in range(3):
                next_id += 1
                parent_of[str(next_id)] = parent_id
                lines.append(f"{next_id} - {parent} > Leaf {leaf}")
                leaves.append(str(next_id))
    taxonomy = tmp_path / "taxonomy-with-ids.en-US.txt"
    taxonomy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pools = {leaf: [word() for _ in range(8)] for leaf in leaves}
    generic = [word() for _ in range(30)]
    swapped = {}
    with open(tmp_path / "catalogue.csv", "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "text", "labels"])
        for i in range(n_products):
            true = leaves[i % len(leaves)]
            words = rng.choices(pools[true], k=6) + rng.choices(generic, k=6)
            rng.shuffle(words)
            given = true
            if i < n_swapped:
                given = rng.choice([leaf for leaf in leaves if leaf != true])
                swapped[f"P{i}"] = (given, true)
            elif i < n_swapped + n_on_parent:
                given = parent_of[true]
            out.writerow([f"P{i}", " ".join(words), given])
    return tmp_path / "catalogue.csv", taxonomy, swapped


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    base = tmp_path_factory.mktemp("catalogue")
    corpus, taxonomy, swapped = _catalogue(base)
    result = invoke("audit", corpus, "--vocab", taxonomy, "-o", base / "audit",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    (base / "output.txt").write_text(result.output, encoding="utf-8")
    with open(base / "audit" / "review.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return base, corpus, taxonomy, swapped, rows


def test_a_swapped_category_is_one_move_whose_two_rows_sit_together(audited):
    """On a catalogue with one category a product, a product put on leaf A that
    belongs on B showed as a row adding B and, where at all, a row removing A dozens
    of ranks away (a synthetic catalogue of 3,030 products: both halves for 13 of 150
    swaps, none adjacent): a reviewer accepting "add B" alone left the product on two
    categories. Now each flagged product has both rows, remove A then add B, next to
    each other."""
    _, _, _, swapped, rows = audited
    by_doc: dict[str, list[dict]] = {}
    for row in rows:
        by_doc.setdefault(row["doc_id"], []).append(row)
    found = [doc for doc in swapped if doc in by_doc]
    assert len(found) >= len(swapped) // 5
    for doc in found:
        given, true = swapped[doc]
        kinds = [(r["kind"], r["label_uri"]) for r in by_doc[doc]]
        assert kinds[:2] == [("wrong", given), ("missing", true)], (doc, kinds)
        ranks = [int(r["rank"]) for r in by_doc[doc]]
        assert ranks == list(range(ranks[0], ranks[0] + len(ranks))), (doc, ranks)


def test_accepting_a_swaps_two_rows_moves_the_product(audited, tmp_path):
    """The review accepted as the audit wrote it (every row) gives each swapped
    product flagged its true leaf alone, where accepting the add alone gave it two."""
    base, corpus, taxonomy, swapped, rows = audited
    review = accept_every_row(rows, tmp_path / "review.csv")
    labels = apply_review(corpus, review, taxonomy, tmp_path / "fixed.csv")
    moved = {r["doc_id"] for r in rows}
    assert all(len(labels[doc].split()) == 1 for doc in labels), "a product on two"
    assert sum(labels[doc] == swapped[doc][1] for doc in swapped if doc in moved) \
        >= len(swapped) // 5


def test_the_report_and_the_command_say_how_to_read_a_move(audited, tmp_path):
    """report.json counts the rows flagged as a move's other half, and the command's
    flagged line and the page say that a document's two rows are one move."""
    base, corpus, taxonomy, *_ = audited
    report = json.loads((base / "audit" / "report.json").read_text(encoding="utf-8"))
    assert report["corpus"]["cardinality"] == 1
    paired = report["noise"]["method"]["single_label"]
    assert paired["n_wrong_added"] + paired["n_missing_added"] > 0
    assert "missing rows are one move, adjacent in the queue; accept both" in (
        base / "output.txt").read_text(encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", taxonomy, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-plots")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "audit" / "report.html").read_text(encoding="utf-8")
    assert "are one move, two adjacent rows of the review queue" in page
    assert "<h3>Labels in use that have narrower labels</h3><p>7 documents carry one" in page


def test_a_multi_label_corpus_is_left_as_it_was():
    rng = np.random.default_rng(0)
    truth = rng.random((400, 4)) < 0.4
    truth[truth.sum(1) == 0, 0] = True
    scores = np.clip(truth * 0.8 + rng.random((400, 4)) * 0.2, 0, 1)
    given = truth.copy()
    given[:30, 1] = ~given[:30, 1]
    issues = find_label_issues(sp.csr_matrix(given), TopK.from_scores(scores, k=4))
    paired = pair_single_label(issues, sp.csr_matrix(given))
    assert paired.details["single_label"] is False
    for name in ("doc", "label", "kind", "probability", "flagged"):
        assert np.array_equal(getattr(paired, name), getattr(issues, name))


def test_a_corpus_with_optional_labels_is_not_single_label():
    """A corpus whose documents have one label or none (labels optional, the truth
    multi-label: each document kept only its first label) was taken for a catalogue:
    a flagged missing label made the given one flagged wrong, though it is true (3
    true labels flagged wrong here). A document given no label makes the corpus no
    single-label one, and its audit is left as it was."""
    from tagsmith.audit.detect import is_single_label

    rng = np.random.default_rng(0)
    truth = rng.random((400, 4)) < 0.4
    scores = np.clip(truth * 0.8 + rng.random((400, 4)) * 0.2, 0, 1)
    given = np.zeros_like(truth)
    for d in np.flatnonzero(truth.any(1)):
        given[d, np.flatnonzero(truth[d])[0]] = True
    assert 0 < (given.sum(1) == 0).sum() < 100 and given.sum(1).max() == 1
    issues = find_label_issues(sp.csr_matrix(given), TopK.from_scores(scores, k=4))
    assert issues.flagged.any()
    paired = pair_single_label(issues, sp.csr_matrix(given))
    assert paired.details["single_label"] is False
    for name in ("doc", "label", "kind", "probability", "flagged"):
        assert np.array_equal(getattr(paired, name), getattr(issues, name))
    # every document given one: single-label
    assert is_single_label(sp.csr_matrix(given[given.any(1)]))


def test_products_on_a_parent_category_are_counted_and_listed(audited):
    """Products put on a parent category rather than a leaf were reported only where
    the scores flagged them (9 of 60 on a synthetic catalogue, crossfit scores): now
    the report counts the documents on a label with narrower labels, lists those
    labels, and the command names them in a single-label collection."""
    base, *_ = audited
    labels = json.loads((base / "audit" / "report.json").read_text(encoding="utf-8"))["labels"]
    assert labels["n_docs_on_labels_with_narrower"] == 7
    assert sum(r["count"] for r in labels["with_narrower_in_use"]) == 7
    assert all(r["n_narrower"] == 3 and " > Group " in r["name"]
               for r in labels["with_narrower_in_use"])
    assert labels["n_with_narrower_in_use"] == len(labels["with_narrower_in_use"])
    assert "on a label that has narrower labels (not a leaf): 7 documents" in (
        base / "output.txt").read_text(encoding="utf-8")


def test_products_on_a_parent_category_are_listed_by_document(audited):
    """The catalogue's 7 products on a parent category were counted, their categories
    listed, and the products named nowhere but where the scores flagged them: now
    report.json and the page list them, and the command says where."""
    from tagsmith.audit.report import render_html

    base, *_ = audited
    report = json.loads((base / "audit" / "report.json").read_text(encoding="utf-8"))
    docs = report["labels"]["docs_on_labels_with_narrower"]
    # products P40 to P46 (after the 40 swapped ones), on lines 42 to 48
    assert [(d["doc"], d["line"], d["doc_id"]) for d in docs] == [
        (i, i + 2, f"P{i}") for i in range(40, 47)]
    assert all(len(d["labels"]) == 1 and " > Group " in d["labels"][0]["name"]
               for d in docs)
    assert ("report.json's labels section lists the labels, with_narrower_in_use, and the "
            "documents, docs_on_labels_with_narrower; the review queue names only those "
            "the scores flagged; ") in (base / "output.txt").read_text(encoding="utf-8")
    # every one in docs_on_parent_labels.csv too, whether the queue has a row of it or not
    with open(base / "audit" / "docs_on_parent_labels.csv", newline="",
              encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [r["doc_id"] for r in table] == [f"P{i}" for i in range(40, 47)]
    assert [r["review_rows"] for r in table] == ["; ".join(map(str, d["review_rows"]))
                                                 for d in docs]
    assert all(len(r["narrower_uris"].split("; ")) == 3 for r in table)
    section = render_html(report, plots=False).split(
        "Labels in use that have narrower labels")[1].split("<h2>")[0]
    assert "<td>P40</td>" in section and "<td>P46</td>" in section
    assert "more documents" not in section


def test_a_flat_label_space_has_no_label_with_narrower_ones():
    from tagsmith.audit.health import labels_section
    from tagsmith.data.labelspace import LabelSpace

    section = labels_section(sp.csr_matrix(np.eye(3, dtype=bool)),
                             LabelSpace.from_uris(["u:a", "u:b", "u:c"]))
    assert section["n_docs_on_labels_with_narrower"] == 0
    assert section["with_narrower_in_use"] == []


def test_max_review_does_not_cut_a_move_in_two(audited, tmp_path):
    """--max-review N kept the first N rows, so a cut between a product's wrong and
    missing rows left the queue's last row "remove A" without its "add B". The half
    within the limit is now left out with the other, and the command and page say
    the queue holds fewer rows."""
    base, corpus, taxonomy, _, rows = audited
    cut = next(i for i in range(2, len(rows))
               if rows[i]["doc_id"] == rows[i - 1]["doc_id"])  # between a move's rows
    result = invoke("audit", corpus, "--vocab", taxonomy, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-plots", "--max-review", cut)
    assert result.exit_code == 0, result.output
    with open(tmp_path / "audit" / "review.csv", newline="", encoding="utf-8") as f:
        kept = list(csv.DictReader(f))
    assert [r["doc_id"] for r in kept] == [r["doc_id"] for r in rows[:cut - 1]]
    assert (f"the review queue holds the {cut - 1:,} most likely: --max-review {cut:,}, "
            "less the half of a move it would cut in two") in result.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    assert report["noise"]["n_review_rows"] == cut - 1
    page = (tmp_path / "audit" / "report.html").read_text(encoding="utf-8")
    assert f"holds the {cut - 1:,} most likely of them (--max-review {cut:,}, less" in page
    # the table shows the whole queue: not "the first 3 of the 4 rows" of a queue of 3
    assert "Top review candidates</h3>" in page


def test_max_review_never_empties_a_queue_that_has_candidates(audited, tmp_path):
    """--max-review 1 on a catalogue whose first move is two rows left the queue empty:
    the half within the limit was left out with the other. The first move is now kept
    whole, the queue holding more rows than the limit, and the command and page say
    so."""
    base, corpus, taxonomy, _, rows = audited
    n_first = next(i for i, r in enumerate(rows) if r["doc_id"] != rows[0]["doc_id"])
    assert n_first == 2, rows[:3]  # remove A, add B
    result = invoke("audit", corpus, "--vocab", taxonomy, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-plots", "--max-review", 1)
    assert result.exit_code == 0, result.output
    with open(tmp_path / "audit" / "review.csv", newline="", encoding="utf-8") as f:
        kept = list(csv.DictReader(f))
    assert [(r["doc_id"], r["kind"]) for r in kept] == [
        (r["doc_id"], r["kind"]) for r in rows[:2]]
    assert ("the review queue holds the 2 most likely: --max-review 1, raised to keep its "
            "first move whole") in result.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    assert report["noise"]["n_review_rows"] == 2
    page = (tmp_path / "audit" / "report.html").read_text(encoding="utf-8")
    assert "holds the 2 most likely of them (--max-review 1, raised to keep its first " \
        "move whole)" in page
    assert "Top review candidates</h3>" in page  # not "the first 2 of the 1 rows"


def test_a_catalogue_with_a_product_given_no_category_is_still_paired(tmp_path):
    """A catalogue with one product not yet categorised was taken for a corpus with
    optional labels: none of its moves was paired, and the line on products on a parent
    category was left out. A document or two (at most 1%) given no label are now taken
    as not yet labelled: the moves are paired, and the command, report.json and the
    page say how many documents had no label."""
    corpus, taxonomy, _ = _catalogue(tmp_path, n_products=240, n_swapped=16)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    lines[-1] = lines[-1].rsplit(",", 1)[0] + ","  # the last product given no category
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", taxonomy, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-plots")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    assert report["corpus"]["n_docs_without_labels"] == 1
    assert report["labels"]["n_docs_on_labels_with_narrower"] == 7
    paired = report["noise"]["method"]["single_label"]
    assert paired["n_docs_without_labels"] == 1
    assert paired["n_wrong_added"] + paired["n_missing_added"] > 0
    assert ("one label a document, 1 given none and taken as not yet labelled: a "
            "document's wrong and missing rows are one move") in result.output
    assert "on a label that has narrower labels (not a leaf): 7 documents" in result.output
    page = (tmp_path / "audit" / "report.html").read_text(encoding="utf-8")
    assert "Every document given a label has one (1 document has none, taken as not yet " \
        "labelled" in page


def test_a_catalogue_with_many_products_given_no_category_is_no_single_label_one(tmp_path):
    """More than 1% of the documents given no label: a corpus with optional labels,
    left unpaired, and no line on products on a parent category."""
    corpus, taxonomy, _ = _catalogue(tmp_path, n_products=120, n_swapped=0)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    for i in (-1, -2):  # 2 of 120 products given no category
        lines[i] = lines[i].rsplit(",", 1)[0] + ","
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", taxonomy, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    assert report["corpus"]["n_docs_without_labels"] == 2
    assert report["noise"]["method"]["single_label"] is False
    assert "on a label that has narrower labels" not in result.output


def test_single_label_yes_refuses_a_multi_label_corpus_naming_its_documents(tmp_path):
    """Single-label mode was detected, with no way to force or refuse it: --single-label
    yes on a corpus whose documents carry two labels is refused before the work, naming
    the option and the documents."""
    corpus, taxonomy, _ = _catalogue(tmp_path, n_products=60, n_swapped=0)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    for i in (3, 9):  # P2 and P8 given a second category
        lines[i] = lines[i] + " " + lines[i + 1].rsplit(",", 1)[1]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", taxonomy, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-html", "--single-label", "yes")
    # a usage error about the option (exit code 2, as README's exit codes say of a bad
    # parameter), not bad input data (3, which it was)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "Invalid value for --single-label: " in said, result.output
    assert (f"{corpus}: one label a document was asked for, but 2 documents are "
            "given two or more (line 4 ('P2'), 2 labels; line 10 ('P8'), 2 labels): a "
            "multi-label corpus; audit it with --single-label auto or no") in said
    assert not (tmp_path / "audit").exists()
    # it said "audit it without --single-label", whose default (auto) or no it meant; the
    # Python API says its own values
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus, read_audit_corpus

    space = load_vocabulary(taxonomy)
    data = read_audit_corpus(corpus, space)
    with pytest.raises(DataError, match=r"multi-label corpus; audit it with single_label "
                                        r"None \(detected\) or False$"):
        audit_corpus(data.texts, data.Y, space, options=AuditOptions(single_label=True))


def test_single_label_yes_and_no_override_the_detection(tmp_path):
    """--single-label yes pairs a catalogue with more products given no category than
    auto takes (3 of 120); no leaves a catalogue unpaired, without the line on products
    on a parent category."""
    corpus, taxonomy, _ = _catalogue(tmp_path, n_products=120, n_swapped=6)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    for i in (-1, -2, -3):
        lines[i] = lines[i].rsplit(",", 1)[0] + ","
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for choice, out in (("auto", "a"), ("yes", "y")):
        result = invoke("audit", corpus, "--vocab", taxonomy, "-o", tmp_path / out,
                        "--scores", "knn", "--no-html", "--single-label", choice)
        assert result.exit_code == 0, result.output
        report = json.loads((tmp_path / out / "report.json").read_text(encoding="utf-8"))
        paired = report["noise"]["method"]["single_label"]
        assert report["meta"]["options"]["single_label"] is {"auto": None, "yes": True}[choice]
        if choice == "auto":
            assert paired is False
        else:
            assert paired["n_docs_without_labels"] == 3
            assert "on a label that has narrower labels (not a leaf): 7" in result.output
    corpus, taxonomy, _ = _catalogue(tmp_path, n_products=120, n_swapped=6)
    result = invoke("audit", corpus, "--vocab", taxonomy, "-o", tmp_path / "n",
                    "--scores", "knn", "--no-html", "--single-label", "no")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "n" / "report.json").read_text(encoding="utf-8"))
    assert report["noise"]["method"]["single_label"] is False
    assert report["meta"]["options"]["single_label"] is False
    assert "on a label that has narrower labels" not in result.output
    assert "are one move" not in result.output


def test_audit_bundle_takes_what_train_single_label_said(tmp_path):
    """train --single-label yes or no was recorded nowhere: audit --bundle of the same
    catalogue detected its own reading (auto paired it as a catalogue where the trainer
    had said main subjects). The bundle records it (training.single_label), audit
    --bundle under auto takes it and says so, on stdout and in report.json; a bundle
    recording none (written before) is audited as auto was."""
    from tagsmith.pipeline.classifier import TextClassifier

    corpus, taxonomy, _ = _catalogue(tmp_path, n_products=60, n_swapped=0)
    for said in ("yes", "no"):
        result = invoke("train", corpus, "--vocab", taxonomy, "-o", tmp_path / said,
                        "--single-label", said, "--feature-param", "char_ngrams=null")
        assert result.exit_code == 0, result.output
        manifest = TextClassifier.load(tmp_path / said).manifest
        assert manifest["training"]["single_label"] == said
    # main subjects, said at training: not paired as a catalogue, and said whence
    result = invoke("audit", corpus, "--bundle", tmp_path / "no", "-o", tmp_path / "a-no",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    assert (f"one label a document: --single-label no, as the bundle {tmp_path / 'no'} was "
            "trained (train --single-label no); give --single-label yes or no to say "
            "otherwise") in " ".join(result.output.split()), result.output
    report = json.loads((tmp_path / "a-no" / "report.json").read_text(encoding="utf-8"))
    assert report["meta"]["options"]["single_label"] is False
    assert report["meta"]["single_label_from"] == "bundle"
    assert report["noise"]["method"]["single_label"] is False
    # a bundle written before train recorded it: auto, detected (paired), no line
    old = TextClassifier.load(tmp_path / "no")
    del old.manifest["training"]["single_label"]
    old.save(tmp_path / "old")
    result = invoke("audit", corpus, "--bundle", tmp_path / "old", "-o", tmp_path / "a-old",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    assert "as the bundle" not in result.output
    report = json.loads((tmp_path / "a-old" / "report.json").read_text(encoding="utf-8"))
    assert report["meta"]["options"]["single_label"] is None
    assert "single_label_from" not in report["meta"]
    assert isinstance(report["noise"]["method"]["single_label"], dict)
    # a catalogue, said at training: a corpus giving a product two categories is refused,
    # the way out not auto (which takes the bundle's yes again) but no
    lines = corpus.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3] + " " + lines[4].rsplit(",", 1)[1]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("audit", corpus, "--bundle", tmp_path / "yes", "-o", tmp_path / "a-yes",
                    "--scores", "knn", "--no-html")
    assert result.exit_code == 2, result.output
    assert (f"a multi-label corpus; --single-label yes is the bundle's {tmp_path / 'yes'} "
            "(train --single-label yes): audit it with --single-label no"
            ) in " ".join(result.output.split()), result.output


def test_single_label_is_checked_in_the_python_api():
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.pipeline.audit import AuditOptions

    with pytest.raises(InvalidParameterError, match="single_label"):
        AuditOptions(single_label="no").validate()
    given = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], bool))
    scores = np.array([[0.9, 0.1, 0.8], [0.1, 0.9, 0.1], [0.2, 0.1, 0.9]])
    issues = find_label_issues(given, TopK.from_scores(scores, k=3))
    with pytest.raises(InvalidParameterError, match=r"Y's rows 0\)"):
        pair_single_label(issues, given, single_label=True)
    assert pair_single_label(issues, given, single_label=False).details["single_label"] is False
    # more than five: five named and the rest counted, as the package's other lists
    # are (it said "..." and no count)
    many = sp.csr_matrix(np.ones((7, 3), bool))
    issues = find_label_issues(many, TopK.from_scores(np.full((7, 3), 0.5), k=3))
    with pytest.raises(InvalidParameterError, match=r"7 are: Y's rows 0, 1, 2, 3, 4, and 2 more\)"):
        pair_single_label(issues, many, single_label=True)


def test_a_multi_label_corpus_with_a_hierarchy_gets_no_parent_category_section(tmp_path):
    """The page listed the labels in use that have narrower ones for any corpus with a
    hierarchy, "each may belong on a narrower label", where a multi-label corpus (a
    thesaurus's documents given a broad concept beside narrow ones) gives them by
    design: every broad concept in use was listed. The section is now the single-label
    collection's, as the command's line is; report.json keeps the counts."""
    corpus, taxonomy, _ = _catalogue(tmp_path, n_products=120, n_swapped=0, n_on_parent=0)
    parent = {}
    for line in taxonomy.read_text(encoding="utf-8").splitlines()[1:]:
        label_id, path = line.split(" - ", 1)
        parent[path] = label_id
    leaf_parent = {}
    for line in taxonomy.read_text(encoding="utf-8").splitlines()[1:]:
        label_id, path = line.split(" - ", 1)
        if " > Leaf " in path:
            leaf_parent[label_id] = parent[path.rsplit(" > ", 1)[0]]
    lines = corpus.read_text(encoding="utf-8").splitlines()
    for i in range(1, len(lines), 4):  # a quarter of the products on the leaf's parent too
        leaf = lines[i].rsplit(",", 1)[1]
        lines[i] += " " + leaf_parent[leaf]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("audit", corpus, "--vocab", taxonomy, "-o", tmp_path / "audit",
                    "--scores", "knn", "--no-plots")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text(encoding="utf-8"))
    assert report["labels"]["n_docs_on_labels_with_narrower"] == 30
    assert report["noise"]["method"]["single_label"] is False
    page = (tmp_path / "audit" / "report.html").read_text(encoding="utf-8")
    assert "Labels in use that have narrower labels" not in page
    assert report["labels"]["docs_on_labels_with_narrower"] == []
    assert "Documents on them" not in page
    assert "Most frequent</h3>" in page


def test_a_single_label_documents_quality_counts_its_move_once():
    """A document's quality multiplied its label's chance of being right by each other
    label's of not being missing: in a single-label corpus those are one move seen from
    two sides, counted twice (a move 0.3 likely from both read 0.49, below 0.5). It is
    now the probability that its one label is right, the move counted once, and never
    above one minus any of its rows' probabilities."""
    rng = np.random.default_rng(1)
    n, k = 600, 4
    truth = rng.integers(0, k, n)
    scores = rng.random((n, k)) * 0.6
    scores[np.arange(n), truth] += 0.4
    given = truth.copy()
    given[:60] = (truth[:60] + rng.integers(1, k, 60)) % k
    Y = sp.csr_matrix((np.ones(n, bool), (np.arange(n), given)), shape=(n, k))
    issues = find_label_issues(Y, TopK.from_scores(scores, k=k))
    paired = pair_single_label(issues, Y)
    assert isinstance(paired.details["single_label"], dict)
    quality = paired.doc_quality
    for d, p in zip(paired.doc.tolist(), paired.probability.tolist(), strict=True):
        assert quality[d] <= 1 - p + 1e-6, (d, quality[d], p)
    # every pair is a candidate here (none below 0.001), so each side reads whole: the
    # label's chance of being right, and no other label's being missing; the quality is
    # the smaller, where the product counted the move on both
    assert len(issues) == n * k
    rows: dict[int, dict[int, list[float]]] = {}
    for d, kind, p in zip(issues.doc.tolist(), issues.kind.tolist(),
                          issues.probability.tolist(), strict=True):
        rows.setdefault(d, {0: [], 1: []})[kind].append(p)
    checked = 0
    for d, by_kind in rows.items():
        right = 1 - by_kind[1][0]
        none_missing = float(np.prod([1 - p for p in by_kind[0]]))
        once, twice = min(right, none_missing), right * none_missing
        assert issues.doc_quality[d] == pytest.approx(twice, abs=1e-4)  # before pairing
        assert quality[d] == pytest.approx(once, abs=1e-4), (d, by_kind)
        checked += once - twice > 0.05
    assert checked >= 50
    # fewer documents read as more likely wrong than not
    assert (quality < 0.5).sum() < (issues.doc_quality < 0.5).sum()


def test_single_label_yes_names_five_documents_given_two_and_counts_the_rest():
    """The refusal names the first five documents given two labels or more and counts
    the others ("; and 2 more"), as every message naming many things does."""
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.audit import _refuse_multi_labelled

    Y = sp.csr_matrix(np.array([[1, 1]] * 7 + [[1, 0]]))
    with pytest.raises(DataError) as caught:
        _refuse_multi_labelled(Y, list(range(2, 10)), None, "c.csv")
    assert ("but 7 documents are given two or more (line 2, 2 labels; line 3, 2 labels; "
            "line 4, 2 labels; line 5, 2 labels; line 6, 2 labels; and 2 more): a "
            "multi-label corpus") in str(caught.value)


def test_max_review_keeps_a_single_label_queue_at_most_one_row_over():
    """A product whose given category A is flagged wrong with two categories flagged
    missing has three rows, wrong A, missing B, missing C: --max-review 1 kept them all
    as its first move, two rows over the limit. The wrong row and the first missing
    one are a whole move: the queue now holds those two, one row over."""
    from tagsmith.audit.detect import MISSING, WRONG, LabelIssues
    from tagsmith.audit.review import review_rows
    from tagsmith.data.labelspace import Label, LabelSpace

    space = LabelSpace([Label("A"), Label("B"), Label("C"), Label("D")])
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]))
    n = 4
    issues = LabelIssues(
        doc=np.array([0, 0, 1, 0]), label=np.array([1, 2, 0, 0]),
        kind=np.array([MISSING, MISSING, MISSING, WRONG], np.int8),
        probability=np.array([0.9, 0.85, 0.8, 0.1], np.float32),
        score=np.zeros(4, np.float32), flagged=np.array([True, True, True, False]),
        n_given=np.ones(n, int), band=np.zeros(n, int), threshold=np.zeros(n),
        wrong_rate=np.zeros(n), missing_rate=np.zeros(n), est_wrong=np.zeros(n),
        est_missing=np.zeros(n), doc_quality=np.ones(3, np.float32), n_docs=3, n_labels=n)
    paired = pair_single_label(issues, Y)
    texts = ["lamp", "chair", "desk"]

    def queue(limit):
        rows = review_rows(paired, texts, Y, space, limit=limit)
        return [(row["doc"], row["kind"], row["label_uri"]) for row in rows]

    assert queue(None)[:3] == [(0, "wrong", "A"), (0, "missing", "B"), (0, "missing", "C")]
    assert queue(1) == queue(None)[:2]  # was all three rows
    assert queue(2) == queue(None)[:3]  # one row over
    assert queue(3) == queue(None)[:3]


def _reuters_first_topic(tmp_path):
    """The test suite's 200 Reuters-21578 stories, each kept to its first listed topic
    (a library coding one subject a document): the true label sets left aside."""
    import gzip
    from pathlib import Path

    sample = Path(__file__).parent / "data" / "reuters-sample.jsonl.gz"
    with gzip.open(sample, "rt", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    assert any(len(doc["labels"]) > 1 for doc in docs)
    corpus = tmp_path / "first-topic.jsonl"
    corpus.write_text("".join(json.dumps({**doc, "labels": doc["labels"][:1]}) + "\n"
                              for doc in docs if doc["labels"]), encoding="utf-8")
    return corpus


def test_one_label_a_document_says_it_may_be_a_main_subject_coding(tmp_path):
    """A multi-label corpus coded with each document's main label alone (Reuters-21578
    kept to its first topic) was read as a catalogue without a word: each flagged
    missing topic flagged the story's true topic wrong ("accept both"), and the
    missing-label bound read 0.34% where 19% of the labels were left off. The command,
    report.json and the page now say that every document carries one label, how many
    wrong rows were flagged only as a move's other half, and that such a corpus is
    audited with --single-label no and its missing rate measured on a review sample;
    --single-label no keeps the second half, yes (a catalogue, said so) none."""
    import gzip
    from pathlib import Path

    corpus = _reuters_first_topic(tmp_path)
    result = invoke("audit", corpus, "-o", tmp_path / "auto", "--scores", "knn",
                    "--no-plots")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "auto" / "report.json").read_text(encoding="utf-8"))
    note = report["noise"]["one_label_note"]
    paired = report["noise"]["method"]["single_label"]
    assert isinstance(paired, dict)
    assert note.startswith("every labelled document carries exactly one label (")
    assert (f"({paired['n_wrong_added']:,} of the {report['noise']['n_flagged_wrong']:,} "
            "wrong row") in note
    assert "audit again with --single-label no" in note
    assert "--review-sample N" in note and "estimate-noise" in note
    # GoEmotions kept to its first label: the bound read 12.55% where 15% were left off
    assert "they can read far under" in note
    # under auto the wrong rows keep the error probability's order (the figures of record)
    assert "one_label_wrong_order" not in report["noise"]["method"]
    # the label space is the corpus's: a topic never listed first is in none of it
    assert "give the vocabulary (--vocab)" in note
    # a true catalogue is told how to say so, which drops the note (it fired on every
    # audit of one under auto, and said only --single-label no)
    assert note.endswith("audit it with --single-label yes (single_label=True), and this "
                         "note is not given")
    assert f"warning: {note}" in " ".join(result.output.split())
    # the flagged line said "accept both" against the warning: it defers to it now
    flagged = next(x for x in result.output.splitlines() if x.startswith("flagged "))
    # the one-label warning named: a small corpus's warning may stand above it too
    assert flagged.endswith("accept both only if each document has one label; see the "
                            "one-label warning above)")
    page = (tmp_path / "auto" / "report.html").read_text(encoding="utf-8")
    assert "every labelled document carries exactly one label (" in page
    assert ("accept both to move it only if each document has one label, see the "
            "one-label warning below") in page

    vocab = tmp_path / "topics.txt"
    with gzip.open(Path(__file__).parent / "data" / "reuters-sample.jsonl.gz", "rt",
                   encoding="utf-8") as f:
        topics = sorted({label for line in f for label in json.loads(line)["labels"]})
    vocab.write_text("\n".join(topics) + "\n", encoding="utf-8")
    result = invoke("audit", corpus, "-o", tmp_path / "no", "--scores", "knn",
                    "--no-html", "--single-label", "no", "--vocab", vocab)
    assert result.exit_code == 0, result.output
    note = json.loads((tmp_path / "no" / "report.json").read_text(
        encoding="utf-8"))["noise"]["one_label_note"]
    assert "--single-label no" not in note and "--review-sample N" in note
    assert "if a document can carry several labels" in note
    assert "--vocab" not in note
    assert "--single-label yes" not in note  # said not single-label: not offered

    result = invoke("audit", corpus, "-o", tmp_path / "yes", "--scores", "knn",
                    "--no-html", "--single-label", "yes")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "yes" / "report.json").read_text(encoding="utf-8"))
    assert report["noise"]["one_label_note"] is None
    assert "exactly one label" not in result.output
    # nor are its wrong rows put in another order (the audit benchmarks' corpora)
    assert "one_label_wrong_order" not in report["noise"]["method"]


def test_one_label_a_document_said_not_single_label_orders_wrong_rows_by_score(tmp_path):
    """Reuters-21578 kept to each story's first topic, audited with --single-label no:
    the wrong rows came in order of the error probability, which weighs each label's
    estimated wrong rate, and true main subjects with a rival topic (acq, earn) came
    first; with 2% of the topics replaced at random, 0.70 of the first 100 wrong rows
    were replaced ones. They come in order of the given label's own score now (0.97),
    and the note says so and why a wrong row may still be a true label."""
    docs = [json.loads(line) for line in _reuters_first_topic(tmp_path).read_text(
        encoding="utf-8").splitlines()]
    topics = sorted({doc["labels"][0] for doc in docs})
    rng = random.Random(5)
    for doc in rng.sample(docs, 12):  # another topic, given at random
        doc["labels"] = [rng.choice([t for t in topics if t != doc["labels"][0]])]
    corpus = tmp_path / "replaced.jsonl"
    corpus.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    result = invoke("audit", corpus, "-o", tmp_path / "no", "--scores", "knn", "--no-html",
                    "--single-label", "no", "--min-probability", "0.05")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "no" / "report.json").read_text(encoding="utf-8"))
    with open(tmp_path / "no" / "review.csv", newline="", encoding="utf-8") as f:
        wrong = [row for row in csv.DictReader(f) if row["kind"] == "wrong"]
    scores = [float(row["model_score"]) for row in wrong]
    assert len(wrong) >= 3
    assert scores == sorted(scores)
    # the error probability's order is another (it was the queue's)
    probabilities = [float(row["probability"]) for row in wrong]
    assert probabilities != sorted(probabilities, reverse=True)
    assert report["noise"]["method"]["one_label_wrong_order"] == {"n_rows": len(wrong)}
    note = report["noise"]["one_label_note"]
    assert (f"its {len(wrong):,} wrong rows are in order of the given label's own score "
            "(model_score, lowest first)") in note
    assert "a wrong row may be a true label all the same" in note


def test_a_multi_label_corpus_gets_no_one_label_note(tmp_path):
    """The same stories with every topic given: no note."""
    import gzip
    from pathlib import Path

    corpus = tmp_path / "all.jsonl"
    with gzip.open(Path(__file__).parent / "data" / "reuters-sample.jsonl.gz", "rt",
                   encoding="utf-8") as f:
        corpus.write_text(f.read(), encoding="utf-8")
    result = invoke("audit", corpus, "-o", tmp_path / "a", "--scores", "knn", "--no-html")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "a" / "report.json").read_text(encoding="utf-8"))
    assert report["noise"]["one_label_note"] is None
    assert "exactly one label" not in result.output
    # nor, said --single-label no, are its wrong rows put in the one-label order
    result = invoke("audit", corpus, "-o", tmp_path / "no", "--scores", "knn", "--no-html",
                    "--single-label", "no")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "no" / "report.json").read_text(encoding="utf-8"))
    assert "one_label_wrong_order" not in report["noise"]["method"]


def _one_label_wrong_rows(score, confidence_rule=None):
    """Four documents of one label each (two labels in use), one flagged wrong row each."""
    from tagsmith.audit.detect import WRONG, LabelIssues

    n = len(score)
    issues = LabelIssues(
        doc=np.arange(n), label=np.arange(n) % 2, kind=np.full(n, WRONG, np.int8),
        probability=np.linspace(.9, .6, n).astype(np.float32),
        score=np.array(score, np.float32), flagged=np.ones(n, bool), n_given=np.ones(2),
        band=np.zeros(2), threshold=np.ones(2), wrong_rate=np.zeros(2),
        missing_rate=np.zeros(2), est_wrong=np.zeros(2), est_missing=np.zeros(2),
        doc_quality=np.ones(n), n_docs=n, n_labels=2)
    if confidence_rule is not None:
        issues.details = {"label_confidence": confidence_rule}
    Y = sp.csr_matrix((np.ones(n), (np.arange(n), np.arange(n) % 2)), shape=(n, 2))
    return issues, Y


def test_one_label_wrong_order_keeps_the_llm_interleave_it_reports():
    """Ordered by score after the --label-confidence interleave, the LLM's least
    confident row went back to its score's place while n_interleaved still counted it:
    the ordered rows are interleaved again, and the record says so."""
    from tagsmith.audit.detect import order_one_label_wrong

    # score order: docs 3, 2, 1, 0; the LLM doubts doc 0 most (its score is the highest)
    issues, Y = _one_label_wrong_rows([.4, .3, .2, .1], {"n_llm_expected_wrong": 1,
                                                         "n_interleaved": 1})
    confidence = sp.csr_matrix(np.array([[.05, 0], [0, .9], [.8, 0], [0, .95]]))
    ordered = order_one_label_wrong(issues, Y, single_label=False, confidence=confidence)
    assert ordered.doc.tolist() == [3, 0, 2, 1]
    assert ordered.details["label_confidence"]["n_interleaved"] == 1
    assert ordered.details["one_label_wrong_order"] == {"n_rows": 4, "interleaved": True}
    # no stated confidences: the score's order alone, not said interleaved
    plain = order_one_label_wrong(issues, Y, single_label=False)
    assert plain.doc.tolist() == [3, 2, 1, 0]
    assert plain.details["one_label_wrong_order"] == {"n_rows": 4}


def test_one_label_wrong_order_keeps_a_row_without_a_score_in_its_place():
    """A wrong row flagged on copies' evidence alone has no score (NaN): sorted last, it
    fell where --max-review cuts; it keeps its place, the scored rows ordered around it."""
    from tagsmith.audit.detect import order_one_label_wrong

    issues, Y = _one_label_wrong_rows([.5, np.nan, .3, .1])
    ordered = order_one_label_wrong(issues, Y, single_label=False)
    assert ordered.doc.tolist() == [3, 1, 2, 0]
    assert ordered.details["one_label_wrong_order"] == {"n_rows": 3}
