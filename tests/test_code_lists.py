"""A financial-data team's numeric sector code list (GICS-like, plainly synthetic): codes
of four levels by prefix, some with a leading zero (``0510``), a level named as its only
sublevel (``151010`` and ``15101010`` 'Aerospace & Defense'), and the files a team keeps."""

import re

import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli

tagsmith_cli._register_commands()
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]
#: code, name, parent code
CODES = [("05", "Energy", ""), ("0510", "Energy Equipment", "05"),
         ("051010", "Drilling", "0510"), ("05101010", "Offshore Drilling", "051010"),
         ("15", "Industrials", ""), ("1510", "Capital Goods", "15"),
         ("151010", "Aerospace & Defense", "1510"),
         ("15101010", "Aerospace & Defense", "151010"),
         ("151020", "Machinery", "1510"), ("15102010", "Farm Machinery", "151020")]
TEXTS = {"05101010": "OFS (NYSE: OFS) offshore rig dayrate jackup fleet revenue $1,234.5m",
         "15101010": "AER (NYSE: AER) aircraft defense contracts backlog avionics (12.3)",
         "15102010": "TRC (NYSE: TRC) tractors combines dealers farm equipment 4.5%"}


def run(*args):
    return CliRunner().invoke(tagsmith_cli.cli, ["-q", *map(str, args)])


@pytest.fixture(scope="module")
def sectors(tmp_path_factory):
    base = tmp_path_factory.mktemp("codes")
    vocab = base / "sectors.csv"
    vocab.write_text("uri,label,broader\n"
                     + "".join(f"{code},{name},{parent}\n" for code, name, parent in CODES))
    corpus = base / "train.csv"
    corpus.write_text("id,text,labels\n" + "".join(
        f"F{i}-{code},\"{text} q{i}\",{code}\n"
        for i in range(6) for code, text in TEXTS.items()))
    bundle = base / "model"
    result = run("train", corpus, "-o", bundle, "--vocab", vocab, "--dev-fraction", "0",
                 *FAST)
    assert result.exit_code == 0, result.output
    return {"base": base, "vocab": vocab, "corpus": corpus, "bundle": bundle}


def test_eval_per_label_tells_apart_two_codes_of_one_name(sectors, tmp_path):
    """The table named both 151010 and 15101010 'Aerospace & Defense', two rows no
    reader could tell apart; each now shows its code, with its leading zero, while a name
    of one row stays as it was."""
    corpus = tmp_path / "test.csv"
    corpus.write_text("id,text,labels\n"
                      f"T1,\"{TEXTS['15101010']}\",15101010\n"
                      f"T2,\"AER aircraft defense\",151010\n"
                      f"T3,\"{TEXTS['05101010']}\",05101010\n")
    result = run("eval", sectors["bundle"], corpus, "--per-label")
    assert result.exit_code == 0, result.output
    assert re.search(r"\n  Aerospace & Defense <151010>\s+1\s", result.output)
    assert re.search(r"\n  Aerospace & Defense <15101010>\s+1\s", result.output)
    assert re.search(r"\n  Offshore Drilling\s+1\s", result.output)


def test_review_csv_keeps_the_leading_zero_of_a_documents_one_given_code(tmp_path):
    """A filing coded 051020 alone had the given_labels cell 051020 bare, which a
    spreadsheet opening review.csv shows (and saves) as 51020, while the label_uri cell
    beside it was protected; now it is '051020 as well, and a cell of several codes,
    text to a spreadsheet, stays bare."""
    import csv

    from tagsmith.audit.review import doc_key, write_review

    rows = [{"rank": rank, "decision": "", "kind": "missing", "action": "add",
             "label_uri": "05102020", "label_name": "Exploration & Production",
             "probability": 0.9, "model_score": 0.8, "doc": rank, "line": rank + 1,
             "doc_id": f"F{rank}", "doc_key": doc_key(text), "given_labels": given,
             "given_names": ["Oil & Gas Producers"] * len(given), "text": text}
            for rank, (given, text) in enumerate(
                [(["051020"], "EXP (NYSE: EXP) acreage reserves (12.3)"),
                 (["051020", "30101020"], "EXP regional bank $1,234.5m")], start=1)]
    path = write_review(rows, tmp_path / "review.csv")
    with open(path, newline="", encoding="utf-8") as f:
        cells = [(row["label_uri"], row["given_labels"]) for row in csv.DictReader(f)]
    assert cells == [("'05102020", "'051020"), ("'05102020", "051020 30101020")]


def _review_of(tmp_path, corpus_rows, decisions):
    """The corpus of ``corpus_rows`` (id, text, codes) and an accepted review of
    ``decisions`` (document number, kind, code)."""
    from tagsmith.audit.review import doc_key, write_review

    corpus = tmp_path / "filings.csv"
    corpus.write_text("id,text,labels\n" + "".join(
        f"{doc_id},\"{text}\",{'|'.join(codes)}\n" for doc_id, text, codes in corpus_rows))
    rows = [{"rank": rank, "decision": "accept", "kind": kind,
             "action": "add" if kind == "missing" else "remove", "label_uri": code,
             "label_name": "", "probability": 0.9, "model_score": 0.8, "doc": doc,
             "line": doc + 2, "doc_id": corpus_rows[doc][0],
             "doc_key": doc_key(corpus_rows[doc][1]), "given_labels": corpus_rows[doc][2],
             "given_names": [], "text": corpus_rows[doc][1]}
            for rank, (doc, kind, code) in enumerate(decisions, start=1)]
    return corpus, write_review(rows, tmp_path / "review.csv")


def test_apply_review_says_an_added_leaf_sits_beside_the_parent_code_kept(sectors, tmp_path,
                                                                          caplog):
    """A filing coded at its industry, 151010, where the audit proposed the leaf
    15101010: accepting the row wrote both codes, without a word, and a team's sector
    counts then counted it twice. apply-review now says so, naming the document, both
    codes and how to take the parent off; a leaf added beside an unrelated code, or with
    the parent taken off by an accepted row, is not warned of."""
    import logging

    filings = [("F1", "AER (NYSE: AER) aircraft defense backlog $1,234.5m", ["151010"]),
               ("F2", "OFS (NYSE: OFS) offshore rig dayrate (12.3)", ["05101010"]),
               ("F3", "TRC (NYSE: TRC) tractors and avionics 4.5%", ["15102010"])]
    corpus, review = _review_of(tmp_path, filings,
                                [(0, "missing", "15101010"), (2, "missing", "15101010")])
    out = tmp_path / "fixed.csv"
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "apply-review", str(corpus), str(review), "-o", str(out), "--vocab",
            str(sectors["vocab"])])
    assert result.exit_code == 0, result.output
    assert "F1,\"AER (NYSE: AER) aircraft defense backlog $1,234.5m\",151010 15101010" \
        in out.read_text()
    assert ("1 document carries a label an accepted row added beside a broader label it "
            "already had (first: id 'F1', 15101010 ('Aerospace & Defense') added under "
            "151010 ('Aerospace & Defense'))") in caplog.text, caplog.text
    assert "kind wrong, action remove" in caplog.text
    caplog.clear()
    corpus, review = _review_of(tmp_path, filings, [(0, "missing", "15101010"),
                                                    (0, "wrong", "151010"),
                                                    (2, "missing", "15101010")])
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, [
            "apply-review", str(corpus), str(review), "-o", str(tmp_path / "fixed2.csv"),
            "--vocab", str(sectors["vocab"])])
    assert result.exit_code == 0, result.output
    assert "2 labels added, 1 removed" in result.output
    assert "beside a broader label" not in caplog.text


def test_vocab_option_says_a_spreadsheet_dropped_the_codes_leading_zeros(sectors, tmp_path,
                                                                          caplog):
    """eval --vocab (and suggest --vocab) of the code list saved from a spreadsheet,
    05101010 now 5101010: the warning listed 'Offshore Drilling' among the bundle's
    labels not in it and again among its new labels, the codes nowhere, so the team could
    not see what differed. It now says which codes lost their leading zero and why."""
    import logging

    lost = tmp_path / "sectors_from_excel.csv"
    lost.write_text("uri,label,broader\n" + "".join(
        f"{int(code)},{name},{int(parent) if parent else ''}\n"
        for code, name, parent in CODES))
    corpus = tmp_path / "test.csv"
    corpus.write_text(f"id,text,labels\nT1,\"{TEXTS['05101010']}\",05101010\n"
                      f"T2,\"{TEXTS['15101010']}\",15101010\n")
    docs = tmp_path / "docs.txt"
    docs.write_text(TEXTS["05101010"] + "\n")
    for args in (("eval", sectors["bundle"], corpus), ("suggest", sectors["bundle"], docs)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            result = CliRunner().invoke(tagsmith_cli.cli, [*map(str, args), "--vocab",
                                                           str(lost)])
        assert result.exit_code == 0, result.output
        assert ("4 of its labels are codes of the bundle without their leading zero (<5> "
                "for <05>, <510> for <0510>, <51010> for <051010>, <5101010> for "
                "<05101010>): a spreadsheet saving") in caplog.text, caplog.text
        assert "format its code columns as text" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = CliRunner().invoke(tagsmith_cli.cli, ["eval", str(sectors["bundle"]),
                                                       str(corpus), "--vocab",
                                                       str(sectors["vocab"])])
    assert result.exit_code == 0, result.output
    assert "leading zero" not in caplog.text


def test_audit_labels_csv_keeps_the_leading_zero_of_a_code(sectors, tmp_path):
    """labels.csv wrote the uri cell 05101010 bare, which a spreadsheet shows and saves
    as 5101010 (review.csv's label_uri was protected); it is '05101010 now, and a code
    a spreadsheet keeps, 15101010, stays bare."""
    import csv

    out = tmp_path / "audit"
    result = run("audit", sectors["corpus"], "-o", out, "--vocab", sectors["vocab"],
                 "--scores", "knn", "--no-plots")
    assert result.exit_code == 0, result.output
    with open(out / "labels.csv", newline="", encoding="utf-8") as f:
        uris = {row["uri"] for row in csv.DictReader(f)}
    assert {"'05101010", "15101010", "15102010"} <= uris, uris


def test_eval_baseline_tells_apart_two_codes_of_one_name(sectors, tmp_path):
    """eval --baseline listed the labels whose F1 rose by name alone: 151010 and
    15101010 read as one label twice; each now shows its code."""
    texts = {**TEXTS, "151010": "AER (NYSE: AER) aircraft defense"}

    def corpus(name, codes, n, tag):
        path = tmp_path / name
        path.write_text("id,text,labels\n" + "".join(
            f"{tag}{i}-{code},\"{texts[code]} {tag}{i}\",{code}\n"
            for i in range(n) for code in codes))
        return path

    bundles = {}
    for name, codes in (("new", list(texts)), ("base", ["05101010", "15102010"])):
        bundles[name] = tmp_path / name
        result = run("train", corpus(f"{name}.csv", codes, 6, "q"), "-o", bundles[name],
                     "--vocab", sectors["vocab"], "--dev-fraction", "0", *FAST)
        assert result.exit_code == 0, result.output
    result = run("eval", bundles["new"], corpus("test.csv", list(texts), 12, "z"),
                 "--baseline", bundles["base"])
    assert result.exit_code == 0, result.output
    assert re.search(r"\n  Aerospace & Defense <15101010>\s+support\s+12\s", result.output)
    assert re.search(r"\n  Aerospace & Defense <151010>\s+support\s+12\s", result.output)
    assert re.search(r"\n  Farm Machinery\s+support", result.output), result.output
