"""README.md as a user copies it: its Python snippets run, its CLI options exist.

Python snippets are run on small slices of the bundled GoEmotions data. The only
change made to a snippet is the substitution of file paths, listed per snippet in
``SNIPPETS`` (each substitution must apply, so a README edit that moves a path fails
here instead of silently reading another file). A new Python snippet in the README
fails ``test_every_python_snippet_is_covered`` until it is given an entry here.

Every ``--option`` (and short option) on a ``tagsmith COMMAND`` line of a code block,
and every ``--option`` in a prose span that starts with a command name (`` `suggest
--sets` ``), must appear in that command's ``--help``; every other ``--option`` of the
prose must appear in some command's help (or, next to a ``benchmarks/*.py`` script,
in that script).
"""

import re
import shutil

import click
import numpy as np
import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli

from conftest import GOEMOTIONS, ROOT, _slice

tagsmith_cli._register_commands()

README = ROOT / "README.md"
FENCE = re.compile(r"^[ \t]*```(\w*)[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.S | re.M)


#: the fences of shell code: a ``tagsmith`` line in any of them is checked
SHELL = ("bash", "sh", "shell", "console", "zsh")


def _blocks(lang: str | tuple[str, ...], text: str | None = None) -> list[str]:
    """The bodies of the code blocks fenced as ``lang`` (or any of them), in the README
    or in ``text``."""
    text = README.read_text(encoding="utf-8") if text is None else text
    langs = (lang,) if isinstance(lang, str) else lang
    return [body for kind, body in FENCE.findall(text) if kind in langs]


def _prose() -> str:
    return FENCE.sub("", README.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- Python snippets

#: per snippet, in README order: a line that identifies it, the README paths and the
#: slice each stands for (keys of the ``data`` fixture), and the snippets whose
#: namespace it continues (the confidence example continues the API example)
SNIPPETS = {
    "api": {
        "marker": "clf = train_classifier(",
        "paths": {
            "examples/goemotions/vocab.tsv": "vocab",
            "examples/goemotions/train.tsv.gz": "train",
            "examples/goemotions/dev.tsv.gz": "dev",
            "runs/api": "bundle",
        },
        "continues": None,
        "needs": [],
    },
    "pandas": {
        "marker": "MultiLabelBinarizer(classes=space.uris",
        "paths": {"examples/goemotions/test.tsv.gz": "test"},
        "continues": "api",
        "needs": ["pandas"],
    },
    "zeroshot": {
        "marker": "ZeroShotClassifier(space",
        "paths": {"examples/goemotions/vocab.tsv": "vocab"},
        "continues": None,
        # the packaged sentence encoder: the [embed] extra
        "needs": ["sentence_transformers"],
    },
    "confidence": {
        "marker": "heldout = heldout_from_corpus(",
        "paths": {
            "examples/goemotions/test.tsv.gz": "test",
            "runs/api": "bundle",
        },
        "continues": "api",
        "needs": [],
    },
    "compare": {
        "marker": "result = compare_predictions(",
        "paths": {"examples/goemotions/test.tsv.gz": "test"},
        "continues": "api",
        "needs": [],
    },
    "audit": {
        "marker": "result = audit_corpus(",
        "paths": {
            "vocab.tsv": "vocab",
            "train.tsv": "audit_train",
            "audit/": "audit_dir",
        },
        "continues": None,
        # result.write renders report.html with plots: the [report] extra
        "needs": ["matplotlib"],
    },
    "audit_apply": {
        "marker": "fixed = apply_decisions(",
        "paths": {},
        "continues": "audit",
        "needs": ["pandas"],
    },
    "llm_local": {
        "marker": "LocalChatServer(answer) as server",
        "paths": {
            "examples/goemotions/vocab.tsv": "vocab",
            "examples/goemotions/train.tsv.gz": "train",
        },
        "continues": None,
        "needs": [],
    },
    "helpdesk": {
        "marker": "def clean_body(",
        "paths": {"export.csv": "helpdesk_export", "tickets.csv": "helpdesk_tickets"},
        "continues": None,
        "needs": [],
    },
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Small slices: 1,500 training, 300 dev and test documents, 600 to audit."""
    base = tmp_path_factory.mktemp("readme")
    return {
        "vocab": shutil.copy(GOEMOTIONS / "vocab.tsv", base / "vocab.tsv"),
        "train": _slice(GOEMOTIONS / "train.tsv.gz", base / "train.tsv", 1500),
        "dev": _slice(GOEMOTIONS / "dev.tsv.gz", base / "dev.tsv", 300),
        "test": _slice(GOEMOTIONS / "test.tsv.gz", base / "test.tsv", 300),
        "audit_train": _slice(GOEMOTIONS / "train.tsv.gz", base / "audit-train.tsv", 600),
        "bundle": base / "runs" / "goemotions",
        "audit_dir": base / "audit",
        "helpdesk_export": base / "export.csv",
        "helpdesk_tickets": base / "tickets.csv",
    }


def _snippet(name: str) -> str:
    marker = SNIPPETS[name]["marker"]
    found = [code for code in _blocks("python") if marker in code]
    assert len(found) == 1, f"README has {len(found)} Python snippets with {marker!r}"
    return found[0]


def _substitute(code: str, paths: dict[str, str], data: dict) -> str:
    """Replace the quoted README paths (whole string literals only) by the slices'."""
    for readme_path, key in paths.items():
        literal = f'"{readme_path}"'
        assert literal in code, f"README snippet no longer uses {literal}"
        code = code.replace(literal, repr(str(data[key])))
    return code


def _run(name: str, data: dict, namespaces: dict) -> dict:
    spec = SNIPPETS[name]
    for module in spec["needs"]:
        pytest.importorskip(module, reason=f"README {name} snippet needs {module} "
                                           "(an optional extra)")
    namespace = dict(namespaces[spec["continues"]]) if spec["continues"] else {}
    code = _substitute(_snippet(name), spec["paths"], data)
    exec(compile(code, f"README.md:{name}", "exec"), namespace)
    namespaces[name] = namespace
    return namespace


@pytest.fixture(scope="module")
def namespaces():
    return {}


def test_every_python_snippet_is_covered():
    blocks = _blocks("python")
    covered = [name for name in SNIPPETS for code in blocks if SNIPPETS[name]["marker"] in code]
    assert len(blocks) == len(SNIPPETS) == len(covered), (
        "every Python snippet of README.md needs an entry in SNIPPETS")


def test_no_python_snippet_saves_over_the_demos_bundle():
    # the API snippet saved an uncalibrated model to runs/goemotions, the demo's
    # calibrated bundle, after which the demo's `suggest --sets` on it was refused
    demo = (ROOT / "scripts" / "demo.sh").read_text(encoding="utf-8")
    outputs = re.findall(r"--output\s+(\S+)", demo)
    assert outputs, "scripts/demo.sh writes no bundle with --output"
    for code in _blocks("python"):
        saved = re.findall(r"\.save\(\s*[\"']([^\"']+)[\"']", code)
        assert not set(saved) & set(outputs), (
            f"a README Python snippet saves to {sorted(set(saved) & set(outputs))}, the "
            "bundle scripts/demo.sh trains and calibrates")


#: the distribution that installs a module a snippet needs, where its name is another
DISTRIBUTIONS = {"sentence_transformers": "sentence-transformers"}


def test_what_a_snippet_needs_comes_with_an_extra_the_install_section_names():
    """README's pandas example needed pandas, which no extra installed (nor the test
    extra, so the snippet was skipped where the suite ran)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    text = README.read_text(encoding="utf-8")
    install = text[text.index("## Install"):text.index("\n## ", text.index("## Install") + 1)]

    def installing(dist: str) -> list[str]:
        return [extra for extra, specs in extras.items()
                if any(re.match(re.escape(dist) + r"(?![\w-])", spec) for spec in specs)]

    for name, spec in SNIPPETS.items():
        for module in spec["needs"]:
            having = installing(DISTRIBUTIONS.get(module, module))
            assert "test" in having, f"the test extra does not install {module} ({name})"
            named = [extra for extra in having
                     if extra != "test" and f'".[{extra}]"' in install]
            assert named, (f"README's {name} snippet needs {module}, which no extra "
                           "named in README's Install section installs")


def test_api_snippet(data, namespaces):
    ns = _run("api", data, namespaces)
    assert (data["bundle"] / "manifest.json").is_file()
    assert ns["topk"].indices.shape == (1, 10)
    suggestions = ns["clf"].suggest(["Thank you, this made my day!"], k=3)
    assert len(suggestions) == 1 and len(suggestions[0]) <= 3


def test_pandas_snippet(data, namespaces):
    if "api" not in namespaces:
        _run("api", data, namespaces)
    ns = _run("pandas", data, namespaces)
    df, Y, space = ns["df"], ns["Y"], ns["space"]
    assert Y.shape == (len(df), len(space)) and Y.nnz >= len(df)
    assert list(ns["best"].index) == list(df.index) and ns["best"]["label"].isin(space.uris).all()
    # one row per document and label of the TopK, best first, named
    named, topk = ns["named"], ns["topk"]
    assert len(named) == int(topk.valid.sum()) and named["label"].isin(space.names()).all()
    assert named[named["rank"] == 1]["uri"].tolist() == ns["best"]["label"].tolist()
    assert ns["scores"].shape == (len(df), len(space))
    metrics = ns["evaluate_classifier"](ns["clf"], df["text"], Y)
    assert ns["f1_score"](Y, ns["sets"], average="micro") == pytest.approx(metrics["micro_f1"])
    assert list(ns["per_label"].columns) == ["precision", "recall", "f1", "support"]
    assert ns["per_label"]["support"].sum() == Y.nnz
    # the texts are scored once: the snippet called predict_topk twice (k=3, then every
    # label for the sets), featurizing and scoring the whole table each time (2.9 s and
    # 3.1 s on GoEmotions' 5,427 test comments); its top 3 are those of a k=3 call
    assert _snippet("pandas").count("predict_topk(") == 1
    again = ns["clf"].predict_topk(df["text"], k=3)
    assert np.array_equal(again.indices, topk.indices)
    assert np.allclose(again.scores, topk.scores)


def test_zeroshot_snippet(data, namespaces):
    ns = _run("zeroshot", data, namespaces)
    # what the snippet's comment says it gives
    assert ns["suggested"] == [
        [("gratitude", 0.26), ("joy", 0.22), ("admiration", 0.16)],
        [("disappointment", 0.34), ("grief", 0.28), ("optimism", 0.27)]]


def test_confidence_snippet(data, namespaces):
    if "api" not in namespaces:
        _run("api", data, namespaces)
    ns = _run("confidence", data, namespaces)
    n = len(ns["texts"])
    assert ns["probs"].scores.shape == (n, 10)
    assert len(ns["sets"].size) == n and len(ns["sets"].abstain) == n
    assert ns["sets"].recall(ns["Y"]).shape == (n,)
    assert ns["clf"].label_shift is not None
    from tagsmith.pipeline.classifier import TextClassifier
    assert TextClassifier.load(data["bundle"]).label_shift is not None
    # calibrated on dev's texts: their share is recorded, and the new texts' compared
    words = ns["new_words"]
    assert words["measured"] and isinstance(words["calibration_share"], float)
    assert words["n_docs"] == n and len(words["top"]) <= 5
    assert isinstance(words["well_above_calibration"], bool)


def test_compare_snippet(data, namespaces):
    if "api" not in namespaces:
        _run("api", data, namespaces)
    ns = _run("compare", data, namespaces)
    result, test = ns["result"], ns["test"]
    assert result["n_docs"] == len(test.texts)
    from tagsmith.pipeline.evaluate import evaluate_classifier

    for name, key in (("b", "bundle"), ("a", "baseline")):  # evaluate_classifier's figures
        metrics = evaluate_classifier(ns[name], test.texts, test.Y, source=None)
        for metric in ("p@1", "micro_f1"):
            assert result["metrics"][metric][key] == pytest.approx(metrics[metric])


def test_audit_snippet(data, namespaces):
    ns = _run("audit", data, namespaces)
    assert "noise" in ns["result"].report
    written = {p.name for p in data["audit_dir"].iterdir()}
    assert {"report.html", "report.json", "review.csv", "labels.csv"} <= written
    from tagsmith.pipeline.audit import LABEL_COLUMNS

    header = (data["audit_dir"] / "labels.csv").read_text(encoding="utf-8").splitlines()[0]
    assert tuple(header.split(",")) == LABEL_COLUMNS


def test_audit_apply_snippet(data, namespaces):
    """The review queue decided as a DataFrame, applied to the labels in memory, and a
    model retrained on them (a notebook had to write and read files for it)."""
    import numpy as np

    if "audit" not in namespaces:
        _run("audit", data, namespaces)
    ns = _run("audit_apply", data, namespaces)
    queue, Y, fixed, space = ns["queue"], ns["data"].Y, ns["fixed"], ns["space"]
    accepted = queue[queue["decision"] == "accept"]
    assert len(accepted) > 0
    changed = np.argwhere((fixed != (Y != 0)).toarray())
    assert sorted(map(tuple, changed.tolist())) == sorted(
        (doc, space.id_of(uri)) for doc, uri in zip(accepted["doc"], accepted["label_uri"],
                                                     strict=True))
    assert ns["retrained"].n_labels == len(space)


def test_llm_local_snippet(data, namespaces):
    """Labeling with an LLM and distilling a student on a budget from Python, against a
    local stand-in server: README said the tests do so, not how a notebook does."""
    ns = _run("llm_local", data, namespaces)
    labelled, result, space = ns["labelled"], ns["result"], ns["space"]
    assert labelled.answered.all() and labelled.Y.shape == (50, len(space))
    assert len(result.selected) == 200 and result.Y_teacher.shape == (200, len(space))
    assert ns["spent"].startswith("250 answered calls")  # 50 + the budget of 200
    assert ns["student"].n_labels == len(space)


# ---------------------------------------------------------------- CLI options

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-z]{1,2})(?![\w-])")
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])")


def _help(*args: str) -> str:
    result = CliRunner().invoke(tagsmith_cli.cli, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def helps():
    main = _help()
    commands = re.findall(r"^  ([a-z][a-z-]*)  ", main.split("Commands:")[1], re.M)
    assert "train" in commands and "apply-review" in commands
    return {"": main, **{name: _help(name) for name in commands}}


def _in_help(option: str, text: str) -> bool:
    if option == "-vv":  # -v counted twice
        option = "-v"
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def _command_lines(body: str) -> list[tuple[str, str]]:
    """(command, rest of the line) of every ``tagsmith COMMAND`` in a shell block.

    Lines continued with a backslash (a ``> `` continuation prompt dropped), or (in the
    synopsis) by an indented line that starts with ``[``, are joined; comments and a
    leading ``$ `` prompt are dropped.
    """
    body = re.sub(r"\\\n\s*(?:>\s)?", " ", body)
    body = re.sub(r"\n\s+(?=\[)", " ", body)
    found = []
    for line in body.splitlines():
        line = re.sub(r"^\s*\$\s+", "", line)  # a console prompt
        match = re.match(r"\s*tagsmith\s+([a-z][a-z-]*)(.*)", line.split("#", 1)[0])
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def _code_commands(text: str | None = None) -> list[tuple[str, str]]:
    """(command, rest of the line) of every ``tagsmith COMMAND`` in the shell code blocks
    of the README (or of ``text``)."""
    return [found for body in _blocks(SHELL, text) for found in _command_lines(body)]


#: a helpdesk's export as one writes it: HTML bodies, a quoted reply, a signature, a
#: German reply header, an empty body
HELPDESK_EXPORT = (
    "id,subject,body,created_at\r\n"
    "T1,Charged twice,\"Hello,<br>I was charged twice for #123 &amp; want a refund \U0001f621"
    "<br><br>On Mon, Mar 4, 2024 at 10:12 AM Support &lt;help@shop.example&gt; wrote:<br>"
    "&gt; For billing questions see our refund policy.<br>\",2024-03-01\r\n"
    "T2,Re: Login,\"<p>I can't log in.</p>--<br>Jane Doe<br>ACME &amp; Co\",2024-03-02\r\n"
    "T3,Lieferung,\"Wo ist mein Paket?<br>Am 3. März 2024 schrieb Support:<br>"
    "&gt; Danke\",2024-03-03\r\n"
    "T4,Where is my order,,2024-03-04\r\n")


def test_helpdesk_snippet(data, namespaces):
    """The recipe turns a helpdesk's export into a corpus every command reads with
    --text-column subject,body: the subject and the body's own lines, without HTML, the
    quoted reply or the signature."""
    from tagsmith.data.readers import read_csv

    data["helpdesk_export"].write_text(HELPDESK_EXPORT, encoding="utf-8")
    _run("helpdesk", data, namespaces)
    records = list(read_csv(data["helpdesk_tickets"], text_columns="subject,body"))
    assert [r.doc_id for r in records] == ["T1", "T2", "T3", "T4"]
    assert [r.text for r in records] == [
        "Charged twice\n\nHello,\nI was charged twice for #123 & want a refund \U0001f621",
        "Re: Login\n\nI can't log in.",
        "Lieferung\n\nWo ist mein Paket?",
        "Where is my order"]
    assert records[0].metadata == {
        "subject": "Charged twice", "created_at": "2024-03-01",
        "body": "Hello,\nI was charged twice for #123 & want a refund \U0001f621"}
    # the export as it is reads the same way, uncleaned
    raw = list(read_csv(data["helpdesk_export"], text_columns=["subject", "body"]))
    assert raw[3].text == "Where is my order" and "&gt;" in raw[0].text


def test_commands_are_read_from_every_shell_block_and_prompt_line():
    """Only ```bash blocks were read, and only lines starting with ``tagsmith``: a
    ```sh, ```console or ```shell block, or a ``$ tagsmith`` line, went unchecked."""
    text = """Intro `tagsmith prose --no` is prose.

```bash
tagsmith train --a 1  # a comment --no
$ tagsmith suggest \\
    --b
```

```sh
tagsmith eval --c
```

```console
$ tagsmith audit --d x \\
> --e
output line tagsmith is not a command --no
```

```shell
  $ tagsmith info BUNDLE
```

```python
tagsmith_python = "--no"
```

```text
tagsmith text --no
```
"""
    assert [(cmd, rest.split()) for cmd, rest in _code_commands(text)] == [
        ("train", ["--a", "1"]), ("suggest", ["--b"]), ("eval", ["--c"]),
        ("audit", ["--d", "x", "--e"]), ("info", ["BUNDLE"])]


def test_code_block_options_exist(helps):
    commands = _code_commands()
    assert len(commands) >= 20  # the synopsis alone has 14
    missing = []
    for command, rest in commands:
        assert command in helps, f"README runs 'tagsmith {command}': no such command"
        rest = re.sub(r"'[^']*'|\"[^\"]*\"", "", rest)  # -p values, use cases
        for option in OPTION.findall(rest):
            if not _in_help(option, helps[command]):
                missing.append(f"tagsmith {command} {option}")
        # choices written as --opt a|b|c must be the command's choices
        for option, choices in re.findall(r"(--[a-z-]+) ([a-z0-9-]+(?:\|[a-z0-9-]+)+)", rest):
            for choice in choices.split("|"):
                if not _in_help(choice, helps[command]):
                    missing.append(f"tagsmith {command} {option} {choice}")
    assert not missing, missing


def test_prose_options_exist(helps):
    prose = _prose()
    missing = []
    attributed = set()
    for span in re.findall(r"`([^`\n]+)`", prose):
        words = span.split()
        if words and words[0] == "tagsmith" and len(words) > 1:
            words = words[1:]
        if words and words[0] in helps:
            for option in LONG_OPTION.findall(span):
                attributed.add(option)
                if not _in_help(option, helps[words[0]]):
                    missing.append(f"`{span}`: {words[0]} has no {option}")
        script = re.search(r"benchmarks/\w+\.py", span)
        if script:
            source = (ROOT / script.group(0)).read_text(encoding="utf-8")
            if "dataset_arguments(" in source:  # --dataset, --data-dir, --work-dir: xmc.py's
                source += (ROOT / "benchmarks" / "xmc.py").read_text(encoding="utf-8")
            for option in LONG_OPTION.findall(span):
                attributed.add(option)
                if f'"{option}"' not in source:
                    missing.append(f"`{span}`: {script.group(0)} has no {option}")
    everything = "\n".join(helps.values())
    for option in set(LONG_OPTION.findall(prose)) - attributed:
        if not _in_help(option, everything):
            missing.append(f"no command has {option}")
    assert not missing, missing


def test_defaults_quoted_in_the_synopsis():
    """In the synopsis, ``[... --opt NUMBER ...]`` quotes the option's default."""
    synopsis = [body for body in _blocks("bash") if "tagsmith info BUNDLE" in body]
    assert len(synopsis) == 1
    checked, wrong = 0, []
    for name, rest in _command_lines(synopsis[0]):
        command = tagsmith_cli.cli.commands[name]
        params = {opt: param for param in command.params for opt in param.opts}
        for bracket in re.findall(r"\[([^\]]*)", rest):
            for option, value in re.findall(r"(--[a-z-]+) ([0-9][0-9.]*)(?![\w.])", bracket):
                param, checked = params[option], checked + 1
                if param.default is None:  # a default that depends on the bundle
                    ok = value in (param.help or "")
                else:
                    ok = float(param.default) == float(value)
                if not ok:
                    wrong.append(f"tagsmith {name} {option} {value}: "
                                 f"default {param.default!r}")
    assert checked >= 5 and not wrong, (checked, wrong)


def test_a_repeatable_option_is_repeated_in_the_synopsis():
    """The synopsis wrote ``eval ... [--alpha A ...]`` and ``audit ... [--split
    test=TEST ...]``, which read as several values after one option: ``eval B C
    --calibration --alpha 0.1 0.2`` is refused ("Got unexpected extra argument (0.2)").
    An option given once per value is written ``[--opt X]...``."""
    synopsis = [body for body in _blocks("bash") if "tagsmith info BUNDLE" in body]
    checked, wrong = 0, []
    for name, rest in _command_lines(synopsis[0]):
        params = {opt: param for param in tagsmith_cli.cli.commands[name].params
                  for opt in param.opts}
        for option in re.findall(r"(--[a-z-]+) [^\s\[\]]+ \.\.\.", rest):
            if params[option].multiple:
                wrong.append(f"tagsmith {name} {option}")
        for option in re.findall(r"\[(--[a-z-]+) [^\s\[\]]+\]\.\.\.", rest):
            checked += 1
            if not params[option].multiple:
                wrong.append(f"tagsmith {name} {option} (not repeatable)")
    assert checked >= 2 and not wrong, (checked, wrong)


def test_the_near_duplicate_slack_is_stated_where_the_threshold_is():
    """The README said "cosine at least the threshold" while the code accepts the
    threshold less COSINE_TOLERANCE (float32 rounding)."""
    from tagsmith.audit.duplicates import COSINE_TOLERANCE

    prose = " ".join(_prose().split())
    tolerance = f"{COSINE_TOLERANCE:.0e}".replace("e-0", "e-")
    assert f"cosine at least `--near-duplicate-threshold` less {tolerance}" in prose


def test_every_json_output_is_in_the_synopsis_and_the_json_bullet():
    """``vocab``, ``calibrate`` and ``shift`` had ``--json`` without a word of it in the
    synopsis (and the latter two not in the JSON output note either)."""
    synopsis = [body for body in _blocks("bash") if "tagsmith info BUNDLE" in body]
    lines = dict(_command_lines(synopsis[0]))
    bullet = " ".join(_prose().split("**JSON output**", 1)[1].split("\n- ", 1)[0].split())
    with_json = sorted(name for name, command in tagsmith_cli.cli.commands.items()
                       if any("--json" in param.opts for param in command.params))
    assert "vocab" in with_json
    missing = [name for name in with_json
               if "[--json]" not in lines.get(name, "") or f"`{name}`" not in bullet]
    assert not missing


def test_the_audits_automatic_choice_of_scores_is_stated_with_both_limits():
    """The README said ``auto`` cross-fits label spaces of up to 100 labels, but it
    also needs a corpus of at most ``CROSSFIT_UP_TO_DOCS`` documents (kNN beyond)."""
    from tagsmith.pipeline.audit import CROSSFIT_UP_TO_DOCS, CROSSFIT_UP_TO_LABELS

    prose = " ".join(_prose().split())
    assert (f"cross-fits label spaces of up to {CROSSFIT_UP_TO_LABELS:,} labels in corpora "
            f"of up to {CROSSFIT_UP_TO_DOCS:,} documents and uses kNN beyond") in prose


def test_help_states_what_the_code_does(helps):
    """``train --help`` listed the corpus files without the folder of ``.txt`` files the
    README names (and the readers take); ``calibrate --help`` gave the default
    ``--max-set-size`` as 3 x the mean labels, which is at least 3
    (``RecallControl.default_max_set_size``)."""
    train_help = " ".join(helps["train"].split())
    assert "a folder of .txt files with .tsv/.key label files" in train_help
    assert "directory of `.txt` files with `.tsv`/`.key`" in " ".join(_prose().split())
    calibrate_help = " ".join(helps["calibrate"].split())
    assert "at least 3)" in calibrate_help
    # label --budget counts documents: at --votes 3 a budget of 600 sends 1,800 calls,
    # which README said and --help did not
    label_help = " ".join(helps["label"].split())
    assert "each asked --votes times, one teacher call a vote" in label_help
    assert "`--budget N` counts documents, N times `--votes` calls" in " ".join(_prose().split())


def test_what_no_files_and_train_seed_do_is_said():
    """``suggest``, ``shift`` and ``zeroshot`` read stdin when given no FILES (their
    ``--help`` said so), which README did not say; ``train --seed`` also seeds the
    ``--calibration-fraction`` split and the ``--crossfit-folds`` folds
    (``TrainOptions.seed``), where its help named the dev split and the solver alone."""
    prose = " ".join(_prose().split())
    assert "or stdin (`-`, at most once, or no file at all;" in prose
    for name in ("suggest", "shift", "zeroshot"):
        files = next(p for p in tagsmith_cli.cli.commands[name].params if p.name == "files")
        assert files.nargs == -1 and not files.required
    seed = next(p for p in tagsmith_cli.cli.commands["train"].params if p.name == "seed")
    for option in ("--dev-fraction", "--calibration-fraction", "--crossfit-folds"):
        assert option in seed.help
        assert option in prose.split("`train --seed` (default 0) seeds", 1)[1][:120]


def test_the_review_queue_columns_are_all_named():
    """The README's list of the review queue's columns left out ``model_score`` and
    ``given_names``, which the queue writes; the list now comes from the code's own."""
    from tagsmith.audit.review import COLUMNS

    prose = _prose()
    paragraph = prose.split("**The review queue**", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", paragraph))
    assert not set(COLUMNS) - named, sorted(set(COLUMNS) - named)


def test_the_per_label_file_columns_are_all_named():
    """The README said only "per-label noise estimates" of ``labels.csv``: a user had to
    guess what ``band``, ``threshold`` or the rates were of."""
    from tagsmith.pipeline.audit import LABEL_COLUMNS

    prose = _prose()
    paragraph = prose.split("**`labels.csv`**", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", paragraph))
    assert not set(LABEL_COLUMNS) - named, sorted(set(LABEL_COLUMNS) - named)


#: the ``##`` sections that document each command; the Command line section is the
#: reference of the core commands, the LLM and audit commands have sections of their own
COMMAND_SECTIONS = {
    "train": ["Command line", "Model families", "Confidence"],
    "calibrate": ["Command line", "Confidence"],
    "suggest": ["Command line", "Confidence"],
    "eval": ["Command line", "Confidence", "Metrics", "Retraining and comparing models"],
    "shift": ["Command line", "Confidence"],
    "vocab": ["Command line"],
    "info": ["Command line", "Model bundles"],
    "taxonomy": ["LLM-assisted labeling"],
    "label": ["LLM-assisted labeling"],
    "distill": ["LLM-assisted labeling"],
    "zeroshot": ["LLM-assisted labeling"],
    "audit": ["Label audit"],
    "apply-review": ["Label audit"],
    "estimate-noise": ["Label audit"],
}


def _sections() -> dict[str, str]:
    """``##`` title -> its text (up to the next ``##``), fences included."""
    parts = re.split(r"^## (.+)$", README.read_text(encoding="utf-8"), flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def _paragraphs(body: str) -> list[str]:
    """The parts of a section that can say which command they are about: each
    ``tagsmith COMMAND ...`` line of its shell blocks, each top-level bullet and each
    paragraph of its prose."""
    lines = [f"tagsmith {name}{rest}" for body_ in _blocks(SHELL, body)
             for name, rest in _command_lines(body_)]
    return lines + re.split(r"\n\s*\n|\n(?=- )", FENCE.sub("\n\n", body))


def _names_command(text: str, name: str) -> bool:
    """Whether ``text`` is about command ``name``: ``tagsmith NAME``, `` `NAME` `` or a
    code span starting with it (`` `NAME --opt` ``)."""
    return re.search(rf"tagsmith {re.escape(name)}(?![\w-])|`{re.escape(name)}[` ]",
                     text) is not None


def _documented_options(sections: dict[str, str]) -> list[str]:
    """``tagsmith COMMAND --option`` of every option the README does not document for
    its own command.

    An option of a command no other command of its sections has is documented by
    being named anywhere in them. One whose name another command of those sections
    also has (``--seed``, ``--cache``, ``--on-error``) must be named in a paragraph,
    bullet or command line that names its command: ``taxonomy --seed`` documented
    nothing about ``label --seed``."""
    commands = tagsmith_cli.cli.commands
    assert set(COMMAND_SECTIONS) == set(commands), (
        "a new command needs an entry in COMMAND_SECTIONS")

    def names_of(param):
        return [o for o in param.opts + param.secondary_opts if o not in ("-h", "--help")]

    missing = []
    for name, command in sorted(commands.items()):
        bodies = [body for title, body in sections.items()
                  if any(title.startswith(s) for s in COMMAND_SECTIONS[name])]
        assert bodies, f"README has no section for {name}: {COMMAND_SECTIONS[name]}"
        whole = "\n".join(bodies)
        own = "\n".join(part for body in bodies for part in _paragraphs(body)
                        if _names_command(part, name))
        mine = set(COMMAND_SECTIONS[name])
        neighbours = {option for other, other_command in commands.items()
                      if other != name and mine & set(COMMAND_SECTIONS[other])
                      for param in other_command.params if isinstance(param, click.Option)
                      for option in names_of(param)}
        for param in command.params:
            if not isinstance(param, click.Option) or not names_of(param):
                continue
            text = own if neighbours & set(names_of(param)) else whole
            if not any(_in_help(option, text) for option in names_of(param)):
                missing.append(f"tagsmith {name} {'/'.join(names_of(param))}")
    return missing


def test_every_command_option_is_documented_in_its_section():
    """``audit --max-review``, ``shift --top``, ``taxonomy --base-uri``, ``label --llm``,
    the options of ``distill`` and a dozen more were in ``--help`` only: every option
    (by any of its names) must appear in a section that documents its command, and one
    that another command there shares in a part about its own command (``label
    --use-case``, ``train --on-error`` and ``audit --force`` went undocumented behind
    ``taxonomy --use-case``, ``eval``'s and ``apply-review``'s)."""
    missing = _documented_options(_sections())
    assert not missing, missing


def test_a_shared_option_counts_only_where_its_command_is_named():
    """The check itself: ``--seed`` named for ``taxonomy`` documents ``taxonomy --seed``
    alone; ``label --seed`` and ``distill --seed`` stay missing."""
    text = ("- **`taxonomy`**: `--seed` seeds the sample.\n"
            "- the cache (`--cache`) of `label` and `taxonomy`.\n")
    sections = {title: text for title in {s for titles in COMMAND_SECTIONS.values()
                                          for s in titles}}
    missing = _documented_options(sections)
    assert "tagsmith label --seed" in missing and "tagsmith distill --seed" in missing
    assert "tagsmith taxonomy --seed" not in missing
    assert "tagsmith label --cache" not in missing
    assert "tagsmith taxonomy --cache" not in missing


def _anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to ``-``."""
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title.strip().lower()))


def test_the_contents_list_every_section_in_order():
    """A README of over 1,000 lines had no table of contents; it is kept in step with
    the ``##`` headings (titles, order, anchors)."""
    text = README.read_text(encoding="utf-8")
    contents = text.split("**Contents**\n\n", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^- \[([^\]]+)\]\(#([^)]+)\)$", contents, re.M)
    assert len(listed) == len(re.findall(r"^- ", contents, re.M)), contents
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert [title for title, _ in listed] == headings
    assert [anchor for _, anchor in listed] == [_anchor(title) for title in headings]
    assert text.index("**Contents**") < text.index("\n## ")


def test_the_contents_list_every_subsection_under_its_section():
    """"Auditing your test set" sat 1,000 lines into "Label audit" with no way to it from
    the contents, which listed the ``##`` sections alone: each ``###`` subsection is
    listed, indented, under its section (titles, order, anchors)."""
    text = README.read_text(encoding="utf-8")
    contents = text.split("**Contents**\n\n", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^(- |  - )\[([^\]]+)\]\(#([^)]+)\)$", contents, re.M)
    assert len(listed) == len(contents.splitlines()), contents
    headings = [(len(hashes), title) for hashes, title in
                re.findall(r"^(##|###) (.+)$", FENCE.sub("", text), re.M)]
    assert [(2 if bullet == "- " else 3, title) for bullet, title, _ in listed] == headings
    assert [anchor for _, _, anchor in listed] == [_anchor(title) for _, title in headings]


def test_the_fresh_machine_commands_come_first_and_ci_runs_the_test_one():
    """The README opens with the two commands for a fresh machine (the main job, the
    tests), and ``.ci/run`` runs exactly that test command."""
    first = _blocks("bash")[0]
    commands = [line.split("#", 1)[0].strip() for line in first.splitlines()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    text = README.read_text(encoding="utf-8")
    assert text.index("```bash") < text.index("\n## ")
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")
          and not line.startswith(("set ", "cd "))]
    assert ci == [commands[1]]


def test_every_key_of_the_health_report_json_is_named():
    """report.json's health sections were documented by topic only: `cardinality`,
    `density`, `gini` or `fraction_near` were named nowhere, nor whether a share is a
    fraction or a percentage, nor whether document numbers count from 0."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    words = "rain sun cloud wind snow fog hail storm".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, 6)) for _ in range(40)]
    texts[1] = texts[0].upper()  # an exact duplicate, with other labels
    Y = sp.csr_matrix(np.array([[i % 2 == 0, i % 3 == 0, False] for i in range(40)]))
    report = audit_corpus(texts, Y, LabelSpace.from_uris(["u:a", "u:b", "u:c"]),
                          splits={"test": texts[:3]}, options=AuditOptions(scores="knn")).report
    assert report["duplicates"]["conflict_examples"] and report["leakage"]["test"]["examples"]
    readme = README.read_text(encoding="utf-8")

    def keys(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield key
                if key not in ("method", "bounds", "withheld_bounds", "options", "read",
                               "params"):
                    yield from keys(inner)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            yield from keys(value[0])

    sections = ("corpus", "labels", "cooccurrence", "duplicates", "noise")
    named = set(report) | {key for section in sections for key in keys(report[section])}
    named |= set(keys(report["leakage"]["test"])) | set(report["meta"])
    missing = sorted(key for key in named if f"`{key}`" not in readme)
    assert not missing, f"report.json keys the README does not name: {missing}"


def test_every_key_of_the_report_json_scores_section_is_named():
    """report.json's `scores` section (which scores the audit used and how well they
    agree with the given labels) was named in the README by its title only: `source`,
    `k`, `seconds`, `n_folds`, `seed` or `min_p@1_vs_given` were named nowhere. Every
    source's keys: kNN with the automatic co-occurrence weight, and cross-fitting."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.audit import AuditOptions, audit_corpus

    words = "rain sun cloud wind snow fog hail storm".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, 6)) for _ in range(40)]
    Y = sp.csr_matrix(np.array([[i % 2 == 0, i % 3 == 0, False] for i in range(40)]))
    space = LabelSpace.from_uris(["u:a", "u:b", "u:c"])
    named: set[str] = set()
    for options in (AuditOptions(scores="knn", cooccurrence="auto"),
                    AuditOptions(scores="crossfit", n_folds=2)):
        scores = audit_corpus(texts, Y, space, options=options).report["scores"]
        named |= set(scores) | set(scores.get("cooccurrence_auto", {}))
    assert {"source", "k", "seconds", "model", "params", "n_folds", "seed",
            "cooccurrence", "cooccurrence_auto", "grid", "p@1_vs_given",
            "min_p@1_vs_given"} <= named
    readme = README.read_text(encoding="utf-8")
    scores_paragraph = readme[readme.index("**`report.json`** holds"):]
    scores_paragraph = scores_paragraph[:scores_paragraph.index("\n\n")]
    missing = sorted(key for key in named if f"`{key}`" not in scores_paragraph)
    assert not missing, f"scores keys the report.json paragraph does not name: {missing}"


#: a code span naming an option (``--opt``, ``--opt N``, ``label --opt``, ``--a x --opt
#: y``: its last option), then the default the prose gives it: ``, default 5``,
#: ``(default 0.9``, ``(default: `en```
PROSE_DEFAULT = re.compile(r"`((?:[a-z][a-z-]* )?[^`]*?(--[a-z][a-z0-9-]*)(?: [A-Za-z]+)?)`"
                           r",? \(?default:? (`[^`]+`|[0-9][0-9.]*[0-9]|[0-9])")


def _same_default(default, quoted: str) -> bool:
    if isinstance(default, bool):
        return False
    if isinstance(default, int | float):
        return re.fullmatch(r"[0-9.]+", quoted) is not None and float(default) == float(quoted)
    return str(default) == quoted


def test_defaults_quoted_in_the_prose():
    """The prose gives options' defaults (``--minibatch``, default 50; ``label
    --max-labels`` (default 10)); each must be the default of the option of the command
    the span names, or of some command that has it. Defaults that depend on the data
    (``None``: the help says how) are not checked."""
    prose = " ".join(_prose().split())
    by_option: dict[str, dict[str, object]] = {}
    for name, command in tagsmith_cli.cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                for option in param.opts:
                    by_option.setdefault(option, {})[name] = param.default
    checked, wrong = 0, []
    for span, option, quoted in PROSE_DEFAULT.findall(prose):
        quoted = quoted.strip("`")
        commands = by_option.get(option, {})
        first = span.split()[0]
        if first in commands:  # `label --max-labels`: that command's
            commands = {first: commands[first]}
        defaults = [d for d in commands.values() if d is not None]
        if not defaults:
            continue
        checked += 1
        if not any(_same_default(default, quoted) for default in defaults):
            wrong.append(f"`{span}` default {quoted}: the code's {commands}")
    assert checked >= 20 and not wrong, (checked, wrong)


def test_every_key_of_the_eval_json_metrics_is_named_in_metrics():
    """``eval --json`` (and ``train --json``'s held-out ``metrics``) has
    ``micro_precision``, ``micro_recall`` and ``n_labels_evaluated``, which the Metrics
    section named nowhere; every key of the report must be named there (``p@k`` for
    ``p@1``, ``p@3``, ``p@5``)."""
    import numpy as np

    from tagsmith.metrics import evaluate
    from tagsmith.topk import TopK

    topk = TopK.from_scores([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]], k=3)
    from tagsmith.data.labelspace import Label, LabelSpace

    # a vocabulary with a hierarchy: its hierarchical metrics too
    space = LabelSpace([Label("u:a"), Label("u:b", broader=["u:a"]), Label("u:c")])
    report = evaluate([[1, 0, 1], [0, 1, 0]], topk, topk.label_sets(0.5),
                      propensity=np.full(3, 0.5), hierarchy=space)
    assert "hierarchical_f1" in report
    section = _prose().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    missing = sorted({re.sub(r"@\d+$", "@k", key) for key in report}
                     - set(re.findall(r"`([^`]+)`", section)))
    assert not missing, f"eval --json keys the Metrics section does not name: {missing}"


def test_every_key_of_eval_labels_before_json_is_named():
    """``eval --labels-before --json``'s ``labels_before`` holds P@1's
    ``n_docs_right_now`` and ``n_docs_wrong_now`` (the documents a review made right or
    wrong), ``resamples``, ``seed``, ``confidence`` and ``min_docs_differing``, which
    "Auditing your test set" named nowhere among its keys: each is named there."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.pipeline.compare import compare_gold

    before = sp.csr_matrix([[1, 0], [0, 1], [0, 1], [1, 0]])
    after = sp.csr_matrix([[1, 0], [1, 0], [0, 1], [1, 0]])
    result = compare_gold(before, after, np.array([0, 0, 1, 0]), after)
    keys = set(result) | {key for figure in result["metrics"].values() for key in figure}
    section = _prose().split("\n### Auditing your test set\n", 1)[1].split("\n## ", 1)[0]
    missing = sorted(keys - set(re.findall(r"`([^`]+)`", section)))
    assert not missing, f"labels_before keys the section does not name: {missing}"


def test_the_zeroshot_cache_clean_up_command_is_the_log_lines():
    """README gave the clean-up command for ``~/.cache/tagsmith/embeddings`` alone, its
    advice after the why, and said nothing of a ``--cache-dir`` or
    ``$XDG_CACHE_HOME`` folder: the command is the one the log line prints (for the
    default folder), and README says which folder to put in its place."""
    from tagsmith.zeroshot.scorer import CACHE_FILES_FIND, UNUSED_DAYS

    prose = " ".join(_prose().split())
    command = (f"find ~/.cache/tagsmith/embeddings -maxdepth 1 {CACHE_FILES_FIND} "
               f"-mtime +{UNUSED_DAYS} -delete")
    assert "To remove the label-embedding files unused for more than " \
           f"{UNUSED_DAYS} days, " \
           f"run `{command}` (with your `--cache-dir`, or " \
           "`$XDG_CACHE_HOME/tagsmith/embeddings`, in place of the default folder" in prose


def test_whether_votes_pay_is_said_before_its_figures():
    """"Whether votes pay" ran 20 lines of simulated-teacher figures before its advice,
    which a user skimming for whether to pass ``--votes`` never reached: the advice
    comes first, the figures after it."""
    prose = " ".join(_prose().split())
    assert ("Whether votes pay: `--votes` is for a corpus smaller than the calls you can "
            "pay for, not a better way to spend a fixed number of calls. At equal calls"
            in prose)
    assert prose.count("not a better way to spend a fixed number of calls") == 1


def test_what_auto_does_with_a_held_out_bundle_is_said_whatever_it_picks():
    """"Auditing your test set" said ``audit test.tsv --bundle bundle`` cross-fits the
    test split and warns; above 100 labels or 200,000 documents ``auto`` takes kNN
    scores (the warning then says "scores with leave-one-out kNN"), and a bundle without
    training texts draws no warning. Both are said, as the code does them."""
    import inspect

    from tagsmith.pipeline import audit

    code = inspect.getsource(audit._warn_bundle_not_scoring)
    assert "scores with leave-one-out kNN" in code and "train_hashes is None" in code
    section = " ".join(_prose().split("\n### Auditing your test set\n", 1)[1].split())
    assert ("(above 100 labels or 200,000 documents, scores it with leave-one-out kNN "
            "instead)" in section)
    assert "not for a bundle that records no training texts" in section


def test_options_shared_by_name_are_documented_for_each_command():
    """``calibrate -o``, ``calibrate --seed``, ``eval --threshold`` and ``train --seed``
    passed the section check on the strength of other commands' options of the same name
    (``train -o``, ``audit --seed``, ``suggest --threshold``) and were documented nowhere:
    each is named in a span that starts with its command."""
    spans = re.findall(r"`([^`]+)`", " ".join(_prose().split()))
    for command, option in (("calibrate", "-o"), ("calibrate", "--seed"),
                            ("eval", "--threshold"), ("train", "--seed")):
        assert any(span.startswith(f"{command} ") and option in span.split()
                   for span in spans), f"`{command} {option}` is named nowhere"


def test_every_key_of_the_confidence_report_is_named(data, namespaces):
    """``eval --calibration --json``'s ``calibration`` (``evaluate_confidence``) named
    none of its keys in the README: ``calibration_k``, ``top1_ece``, ``tail_labels``,
    an LP-ICP summary's ``epsilon`` where the others have ``alpha``..."""
    from tagsmith.pipeline.confidence import evaluate_confidence

    if "confidence" not in namespaces:
        test_confidence_snippet(data, namespaces)
    ns = namespaces["confidence"]
    report = evaluate_confidence(ns["clf"], ns["texts"], ns["Y"], alphas=(0.1,))

    def keys(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield key
                yield from keys(inner)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            yield from keys(value[0])

    methods = report["sets"]["alpha=0.1"]
    assert {"recall", "mondrian", "lpicp"} <= set(methods)
    named = set(keys(report)) - {"alpha=0.1"}
    readme = README.read_text(encoding="utf-8")
    missing = sorted(key for key in named if f"`{key}`" not in readme)
    assert not missing, f"evaluate_confidence keys the README does not name: {missing}"


def test_every_model_parameter_is_named_in_its_family():
    """``-p`` takes every parameter of a model family, but ``linear``'s (``C``,
    ``max_iter``, ...) and the tree's ``max_depth`` and ``cluster_iter`` were named
    nowhere: each must be in its family's bullet of Model families."""
    from tagsmith.models import make_model

    section = _prose().split("\n## Model families\n", 1)[1].split("\n### ", 1)[0]
    bullets = {m.group(1): m.group(2) for m in
               re.finditer(r"^- \*\*`(\w+)`\*\*(.*?)(?=^- \*\*|\Z)", section, re.S | re.M)}
    missing = [f"{name} {param}" for name in ("linear", "tree", "knn", "dense_knn", "ensemble")
               for param in make_model(name).get_params()
               if f"`{param}`" not in bullets.get(name, "")]
    assert not missing, f"model parameters Model families does not name: {missing}"


def test_every_featurizer_parameter_is_named():
    """``--feature-param`` takes every parameter of the featurizer, but TF-IDF's
    ``word_ngrams``, ``min_df``, ``lowercase``, ``sublinear_tf`` and the embedding's
    ``batch_size`` and ``n_threads`` were named nowhere."""
    import inspect

    from tagsmith.features.embedding import EmbeddingFeaturizer
    from tagsmith.features.tfidf import TfidfFeaturizer

    prose = _prose()
    missing = [f"{cls.__name__} {name}" for cls in (TfidfFeaturizer, EmbeddingFeaturizer)
               for name in inspect.signature(cls.__init__).parameters
               if name != "self" and f"`{name}`" not in prose]
    assert not missing, f"featurizer parameters the README does not name: {missing}"


def _refused_unused_options() -> list[tuple[str, list[str]]]:
    """Per ``refuse_unused`` call of the CLI, for each option it refuses: the command's
    name and the option's names (an argument's metavar, ``FILES``)."""
    import ast
    import inspect

    callbacks = {command.callback.__name__: (name, command)
                 for name, command in tagsmith_cli.cli.commands.items()
                 if command.callback is not None}
    found = []
    for module in {inspect.getmodule(command.callback)
                   for _, command in callbacks.values()}:
        for function in ast.walk(ast.parse(inspect.getsource(module))):
            if not isinstance(function, ast.FunctionDef) or function.name not in callbacks:
                continue
            name, command = callbacks[function.name]
            params = {param.name: param for param in command.params}
            for call in ast.walk(function):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                        and call.func.id == "refuse_unused"):
                    for arg in call.args[2:]:
                        param = params[ast.literal_eval(arg)]
                        found.append((name, [*param.opts, param.human_readable_name]))
    return found


def test_every_option_refused_when_unused_is_in_the_list_of_refusals():
    """``label --cache-dir`` without ``--shortlist-zeroshot``, ``taxonomy --map-by`` and
    ``--min-similarity`` without ``--map-to`` and ``taxonomy --cache-dir`` without
    ``--map-by meaning`` were refused (exit code 2) but missing from the README's list of
    options refused rather than silently ignored: each option a command refuses so
    (``refuse_unused``) must be named there, and its command too."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    start = text.index("An option that would be silently ignored is refused instead")
    refusals = text[start:text.index("A value refused is named by the option", start)]
    found = _refused_unused_options()
    assert len(found) > 30 and ("label", ["--cache-dir", "cache_dir"]) in found
    # each option in its command's part of the list, from the command's name to the next
    # command named: anywhere in the list, `label --cache-dir` was found in `taxonomy
    # --cache-dir`, and a bare parameter name ('seed', 'files') in any word of the prose
    commands = sorted(tagsmith_cli.cli.commands, key=len, reverse=True)
    marks = [(m.start(), m.group(1)) for m in re.finditer(
        "`({})[ `]".format("|".join(map(re.escape, commands))), refusals)]
    parts: dict[str, str] = {}
    for (at, name), (end, _) in zip(marks, [*marks[1:], (len(refusals), "")], strict=True):
        parts[name] = parts.get(name, "") + refusals[at:end]
    missing = [f"{name} {names[0]}" for name, names in found
               if not any(re.search(rf"`{re.escape(option)}\b|{re.escape(option)}`"
                                    if option.startswith("-") else rf"\b{option}\b",
                                    parts.get(name, ""))
                          for option in names if option.startswith("-") or option.isupper())]
    assert not missing, f"not named in their command's part of the list: {missing}"
