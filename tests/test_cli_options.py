"""The command line speaks in options: every error about a value names the option the
user typed (``--dev-fraction``), never the Python parameter the library checked it as
(``'dev_fraction'``), and options that would be ignored are refused in one wording.

The sweep walks every command of the click group and feeds a bad value to each of its
typed options (a choice, a number, a range); values only the library checks (strings,
limits click does not know) are listed by hand in ``LIBRARY_CHECKED``.
"""

import json
import logging
import re
import shutil

import click
import pytest
from click.testing import CliRunner

import tagsmith.cli as tagsmith_cli

from conftest import GOEMOTIONS, _slice

tagsmith_cli._register_commands()
COMMANDS = tagsmith_cli.cli.commands
FAST = ["--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"]
LLM = ["--base-url", "http://127.0.0.1:9/v1", "--llm", "m", "--cache", "{base}/cache.sqlite"]


def run(*args, input=None, quiet=True):
    return CliRunner().invoke(tagsmith_cli.cli, [*(["-q"] if quiet else []), *map(str, args)],
                              input=input)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    base = tmp_path_factory.mktemp("options")
    corpus = _slice(GOEMOTIONS / "train.tsv.gz", base / "train.tsv", 600)
    return {"corpus": corpus, "vocab": GOEMOTIONS / "vocab.tsv", "base": base,
            "review": base / "review.csv", "out": base / "out", "bundle": base / "no-bundle"}


@pytest.fixture(scope="module")
def bundle(files):
    """A small calibrated bundle (it stores its calibration split)."""
    out = files["base"] / "model"
    result = run("train", files["corpus"], "-o", out, "--vocab", files["vocab"],
                 "--calibration-fraction", "0.3", *FAST)
    assert result.exit_code == 0, result.output
    return out


#: per command, arguments that reach its checks (real files where a command reads one
#: before a check)
BASE = {
    "apply-review": ["{corpus}", "{review}", "-o", "{out}.tsv"],
    "audit": ["{corpus}", "-o", "{out}"],
    "calibrate": ["{bundle}"],
    "distill": ["{corpus}.jsonl", "--vocab", "{vocab}", "-o", "{out}"],
    "estimate-noise": ["{review}"],
    "eval": ["{bundle}", "{corpus}"],
    "info": ["{bundle}"],
    "label": ["{corpus}", "--vocab", "{vocab}", "-o", "{out}.jsonl", *LLM],
    "shift": ["{bundle}"],
    "suggest": ["{bundle}"],
    "taxonomy": ["{corpus}", "--use-case", "topics", "-o", "{out}.csv", *LLM],
    "train": ["{corpus}", "-o", "{out}"],
    "vocab": ["{vocab}"],
    "zeroshot": ["{vocab}"],
}

#: options a bad value reaches only together with another one
WITH = {
    ("label", "seed"): ["--budget", "2"],  # the seed of the document selection
    ("label", "vote_temperature"): ["--votes", "2"],  # the temperature of the votes
}

#: values only the library checks: (command, arguments, the flag to name, the library's name)
LIBRARY_CHECKED = [
    ("apply-review", ["{corpus}", "{review}", "-o", "{corpus}"], "-o/--output", "output"),
    ("audit", ["{corpus}", "-o", "{out}", "--lang", ""], "--lang", "lang"),
    # audit --folds 40000: refused by the command line's range (test_cli's
    # test_the_most_folds_are_said_in_help_and_refused_by_the_command_line)
    ("train", ["{corpus}", "-o", "{out}", "--crossfit-folds", "1"], "--crossfit-folds",
     "crossfit_folds"),
    ("train", ["{corpus}", "-o", "{out}", "--crossfit-folds", "40000"], "--crossfit-folds",
     "crossfit_folds"),
    # more --crossfit-folds than the documents: the corpus's doing, exit code 3, as audit
    # says of its --folds (test_train_options' test_crossfit_folds_above_the_documents_...)
    # a share of the 600 documents that rounds to none, or to all of them: the message
    # named heldout_split's parameter 'fraction'
    ("train", ["{corpus}", "-o", "{out}", "--calibration-fraction", "0.0001"],
     "--calibration-fraction", "calibration_fraction"),
    ("train", ["{corpus}", "-o", "{out}", "--calibration-fraction", "0.9999"],
     "--calibration-fraction", "calibration_fraction"),
    ("calibrate", ["{bundle}", "--beta", "0"], "--beta", "beta"),
    ("taxonomy", ["{corpus}", "--use-case", " ", "-o", "{out}.csv", *LLM], "--use-case",
     "use_case"),
    ("taxonomy", ["{corpus}", "--use-case", "t", "-o", "{out}.csv", "--timeout", "0", *LLM],
     "--timeout", "timeout"),
    ("label", ["{corpus}", "--vocab", "{vocab}", "-o", "{out}.jsonl", "--base-url", "ftp://x",
               "--llm", "m", "--cache", "{base}/cache.sqlite"], "--base-url", "base_url"),
    ("label", ["{corpus}", "--vocab", "{vocab}", "-o", "{out}.jsonl", "--base-url",
               "http://127.0.0.1:9/v1", "--llm", "", "--cache", "{base}/cache.sqlite"],
     "--llm", "model"),
    ("label", ["{corpus}", "--vocab", "{vocab}", "-o", "{out}.jsonl", "--timeout", "-1", *LLM],
     "--timeout", "timeout"),
    ("zeroshot", ["{vocab}", "--template", "no braces"], "--template", "template"),
]


def _bad_value(option: click.Option) -> str | None:
    """A value ``option`` refuses, by its type (None: a flag or free text)."""
    kind = option.type
    if option.is_flag:
        return None
    if isinstance(kind, click.Choice):
        return "not-a-choice"
    if isinstance(kind, click.IntRange):
        return str(kind.min - 1) if kind.min is not None else str(kind.max + 1)
    if isinstance(kind, click.FloatRange) or kind == click.FLOAT:
        return "nan"  # click lets NaN through every float range
    if kind == click.INT:
        return "-1"  # counts and seeds alike
    return None


def _sweep():
    for name, command in sorted(COMMANDS.items()):
        for option in command.params:
            if not isinstance(option, click.Option):
                continue
            bad = _bad_value(option)
            if bad is not None:
                yield pytest.param(name, option.name, bad, id=f"{name}-{option.opts[-1]}={bad}")


def _fill(args, files):
    return [arg.format(**{key: str(value) for key, value in files.items()}) for arg in args]


def _assert_names_the_flag(result, flags: str, python_name: str):
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    long_flag = flags.split("/")[-1]
    # click: Invalid value for '-k' / '--k'; tagsmith: option '-k/--k' must be ...
    assert f"'{long_flag}'" in output or f"'{flags}'" in output, output
    if python_name != long_flag.lstrip("-"):
        assert f"'{python_name}'" not in output, output
    assert "parameter '" not in output, output


def test_every_command_is_swept():
    assert set(BASE) == set(COMMANDS)


@pytest.mark.parametrize("command, name, bad", list(_sweep()))
def test_a_bad_option_value_is_refused_naming_the_option(command, name, bad, files):
    option = next(p for p in COMMANDS[command].params if p.name == name)
    flags = "/".join(option.opts)
    result = run(command, *_fill(BASE[command], files), *WITH.get((command, name), []),
                 option.opts[-1], bad)
    _assert_names_the_flag(result, flags, name)


@pytest.mark.parametrize("command, args, flags, python_name", LIBRARY_CHECKED,
                         ids=[f"{c}-{f}" for c, _, f, _ in LIBRARY_CHECKED])
def test_a_value_the_library_refuses_names_the_option(command, args, flags, python_name,
                                                      files):
    result = run(command, *_fill(args, files))
    _assert_names_the_flag(result, flags, python_name)
    assert f"option '{flags}' must be" in result.output


@pytest.mark.parametrize("use_case", ["", "   "])
def test_a_blank_use_case_is_refused_in_command_line_words(files, use_case):
    """label --use-case "" said "must be None or a description ...": None is Python's,
    no value an option takes; the API's message keeps it (test_labeling)."""
    result = run("label", *_fill(BASE["label"], files), "--use-case", use_case)
    assert result.exit_code == 2, result.output
    assert ("error: option '--use-case' must be a non-blank description of what the labels "
            f"are for, or leave the option out, got {use_case!r}") in result.output
    assert "None" not in result.output


def test_the_library_checks_of_the_sweep_name_the_option_in_the_library_wording(files):
    """Not click's wording: the library's, with the flag in place of its name."""
    result = run("train", files["corpus"], "-o", files["out"], "--calibration-fraction", "nan")
    assert result.exit_code == 2
    assert "error: option '--calibration-fraction' must be a number in [0, 1), got nan" \
        in result.output


def test_an_infinite_number_is_refused_as_not_finite(tmp_path):
    """``--shrinkage inf`` read "must be a number >= 0, got inf": inf is a number >= 0;
    it is refused for not being finite, and before the bundle is read."""
    result = run("calibrate", tmp_path / "no-bundle", "--shrinkage", "inf")
    assert result.exit_code == 2
    assert "error: option '--shrinkage' must be a finite number >= 0, got inf" in result.output


LANG_COMMANDS = sorted(name for name, command in COMMANDS.items()
                       if any(param.name == "lang" for param in command.params))


def test_lang_commands_are_the_expected_ones():
    assert LANG_COMMANDS == ["apply-review", "audit", "calibrate", "distill", "eval", "label",
                             "shift", "suggest", "taxonomy", "train", "vocab", "zeroshot"]


@pytest.mark.parametrize("command", LANG_COMMANDS)
def test_an_empty_lang_is_refused_by_every_command(command, files):
    """suggest, shift, vocab and zeroshot took --lang "" (exit 0: every name fell back to
    another language) while audit refused it; one check refuses it everywhere, before
    any file is read (the bundle here does not exist)."""
    result = run(command, *_fill(BASE[command], files), "--lang", "")
    _assert_names_the_flag(result, "--lang", "lang")
    assert "option '--lang' must be a language tag such as 'en' or 'pt-BR'" in result.output
    assert "got ''" in result.output


@pytest.mark.parametrize("command", LANG_COMMANDS)
def test_a_malformed_lang_is_refused_by_every_command(command, files):
    """--lang "en us" or pt_BR (no tag a vocabulary file can hold) was taken by every
    command but taxonomy, each name falling back to another language; one check refuses
    it everywhere, before any file is read, naming --lang."""
    for lang in ("en us", "pt_BR"):
        result = run(command, *_fill(BASE[command], files), "--lang", lang)
        _assert_names_the_flag(result, "--lang", "lang")
        assert f"option '--lang' must be a language tag such as 'en' or 'pt-BR' " \
            f"(letters and digits in groups of 1 to 8, joined by '-', letters first), " \
            f"got {lang!r}" in result.output, result.output


def test_lang_is_read_in_bcp47_case():
    """--lang EN asked the taxonomy's LLM with other prompts, under other cache keys,
    than --lang en; every --lang is now read in one case, as the library reads it."""
    import click

    from tagsmith.cli import language_code
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.labeling.taxonomy import TaxonomyOptions
    from tagsmith.pipeline.audit import AuditOptions

    param = click.Option(["--lang"])
    assert [language_code(None, param, value) for value in ("EN", "pt-br", "zh-hant-tw")] \
        == ["en", "pt-BR", "zh-Hant-TW"]
    taxonomy, labeling = TaxonomyOptions(use_case="x", lang="EN"), LabelingOptions(lang="PT-br")
    audit = AuditOptions(lang="De-at")
    for options in (taxonomy, labeling, audit):  # as the functions taking them validate
        options.validate()
    assert (taxonomy.lang, labeling.lang, audit.lang) == ("en", "pt-BR", "de-AT")


def test_flags_for_names_the_command_lacks_stay_as_they_are():
    from tagsmith.cli import as_typed, option_flags
    from tagsmith.exceptions import InvalidParameterError

    train = COMMANDS["train"]
    assert option_flags(train, "output") == "-o/--output"
    assert option_flags(train, "corpus") is None  # an argument, not an option
    assert option_flags(train, "min_support") is None  # the library's alone
    assert as_typed(train, InvalidParameterError("min_support", "an integer", -1)) \
        == "parameter 'min_support' must be an integer, got -1"
    assert as_typed(train, InvalidParameterError("--param", "KEY=VALUE", "x")) \
        == "option '--param' must be KEY=VALUE, got 'x'"
    # train's --model is the model family; the LLM client's 'model' is --llm elsewhere
    assert option_flags(train, "model") == "--model"
    assert option_flags(COMMANDS["label"], "model") == "--llm"


@pytest.mark.parametrize("typed, shown", [("-5", "-5"), ("1e15", "1000000000000000"),
                                           ("1.5", "1.5"), ("1e20", "1e+20")])
def test_an_option_the_library_refuses_shows_its_value_in_digits(tmp_path, typed, shown):
    """--dev-fraction=-5 was refused 'got -5.0' and 1e15 'got 1000000000000000.0' (the
    library's check, repr of the float click made of it), where an option the CLI
    refuses itself says 'got -5' (c0f00360): a whole number is written in digits."""
    corpus = tmp_path / "c.tsv"
    corpus.write_text("rain all day\train\nsun today\tsun\n", encoding="utf-8")
    result = run("train", corpus, "-o", tmp_path / "m", f"--dev-fraction={typed}")
    assert result.exit_code == 2, result.output
    assert f"option '--dev-fraction' must be a number in [0, 1), got {shown}\n" \
        in result.output, result.output
    from tagsmith.cli import as_typed
    from tagsmith.exceptions import InvalidParameterError

    # an int or a str as the library got it: as it was
    for got, said in ((-5, "-5"), ("x", "'x'"), (True, "True")):
        assert as_typed(COMMANDS["train"], InvalidParameterError("dev_fraction", "a number",
                                                                 got)).endswith(f"got {said}")


def test_every_alias_names_an_option_of_some_command():
    from tagsmith.cli import OPTION_ALIASES, option_flags

    for library_name, option in OPTION_ALIASES.items():
        spelled = [option_flags(command, library_name) for command in COMMANDS.values()
                   if any(p.name == option for p in command.params)]
        assert spelled and all(spelled), (library_name, option)
    assert option_flags(COMMANDS["taxonomy"], "sample_size") == "--sample"
    assert option_flags(COMMANDS["taxonomy"], "n_workers") == "--concurrency"
    assert option_flags(COMMANDS["audit"], "n_folds") == "--folds"
    assert option_flags(COMMANDS["eval"], "alpha") == "--alpha"


@pytest.mark.parametrize("args, message", [
    (["eval", "m", "c.tsv", "--alpha", "0.1"], "--alpha only applies with --calibration"),
    (["eval", "m", "c.tsv", "--reliability-k", "3", "--reliability-png", "r.png"],
     "--reliability-k and --reliability-png only apply with --calibration"),
    (["suggest", "m", "--alpha", "0.2", "--set-method", "lpicp", "--min-confidence", "0.5"],
     "--alpha, --set-method and --min-confidence only apply with --sets"),
    (["calibrate", "m", "-k", "5"], "-k/--k only applies with --data"),
    (["shift", "m", "d.txt", "--clear"], "FILES only applies with an estimate (not with "
     "--clear)"),
    (["label", "d.txt", "--vocab", "v.tsv", "-o", "o.jsonl", "--seed", "3", "--llm", "m",
      "--base-url", "http://127.0.0.1:9/v1"],
     "--seed only applies with --budget"),
    # the give-up rule is of the share's targets: nothing to give up without one
    (["label", "d.txt", "--vocab", "v.tsv", "-o", "o.jsonl", "--budget", "5",
      "--rare-give-up", "2", "--llm", "m", "--base-url", "http://127.0.0.1:9/v1"],
     "--rare-give-up only applies with --rare-share"),
    # every label was offered and the width dropped without a word
    (["label", "d.txt", "--vocab", "v.tsv", "-o", "o.jsonl", "--shortlist-k", "5", "--llm",
      "m", "--base-url", "http://127.0.0.1:9/v1"],
     "--shortlist-k only applies with --shortlist or --shortlist-zeroshot"),
])
def test_options_that_would_be_ignored_are_refused_in_one_wording(args, message):
    """eval said "parameter '--alpha/--reliability-*' must be used with --calibration",
    and several options read "--alpha, --min-confidence only applies"."""
    result = run(*args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_calibrate_has_a_short_k_as_suggest_and_zeroshot_have():
    for command in ("calibrate", "suggest", "zeroshot"):
        option = next(p for p in COMMANDS[command].params if p.name == "k")
        assert "-k" in option.opts and "--k" in option.opts


def _log_hook(logger_name, when, action):
    """A logging handler that runs ``action`` on the first record starting with ``when``
    (a debug record too: the command must run with ``-v`` for those to be made)."""
    class Hook(logging.Handler):
        done = False

        def emit(self, record):
            if not self.done and record.getMessage().startswith(when):
                self.done = True
                action()

    hook = Hook(logging.DEBUG)
    logging.getLogger(logger_name).addHandler(hook)
    return hook


def test_calibrate_writes_the_reliability_diagram_only_once_the_bundle_is_saved(bundle,
                                                                               tmp_path):
    """The diagram was drawn before the save, so a save that failed left a diagram of a
    calibration stored nowhere."""
    pytest.importorskip("matplotlib")
    out, png = tmp_path / "calibrated", tmp_path / "reliability.png"

    def block_the_output():  # after the up-front checks, before the save
        out.mkdir()
        (out / "notes.txt").write_text("someone else's file\n")

    hook = _log_hook("tagsmith", "calibrated (", block_the_output)
    try:
        # calibrate logs "calibrated (...)" at debug level, its summary on stdout
        result = run("-v", "calibrate", bundle, "-o", out, "--reliability-png", png,
                     quiet=False)
    finally:
        logging.getLogger("tagsmith").removeHandler(hook)
    assert hook.done, result.output
    assert result.exit_code == 3 and "refusing to overwrite" in result.output, result.output
    assert not png.exists()
    assert not list(tmp_path.glob("*.png*")) and not list(tmp_path.glob(".*png*"))
    shutil.rmtree(out)
    result = run("calibrate", bundle, "-o", out, "--reliability-png", png)
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(b"\x89PNG") and (out / "manifest.json").exists()


def test_calibrate_in_place_refuses_a_bundle_it_cannot_replace_before_the_work(bundle,
                                                                              tmp_path):
    """In place (no -o), a bundle holding a file of its own was refused by the writer
    only after the whole calibration."""
    copy = tmp_path / "model"
    shutil.copytree(bundle, copy)
    (copy / "notes.txt").write_text("mine\n")
    calibrated = []
    hook = _log_hook("tagsmith", "calibrated (", lambda: calibrated.append(True))
    try:
        result = run("-v", "calibrate", copy, quiet=False)
    finally:
        logging.getLogger("tagsmith").removeHandler(hook)
    assert result.exit_code == 3 and "'notes.txt'" in result.output, result.output
    assert not calibrated


@pytest.mark.parametrize("action", ["--save", "--clear"])
def test_shift_in_place_refuses_a_bundle_it_cannot_replace_before_the_work(bundle, tmp_path,
                                                                          action):
    """shift --save and --clear save in place, and a bundle holding a file of its own was
    refused by the writer only after the estimate (here: after reading FILES, which do
    not exist, so the error was about them)."""
    copy = tmp_path / "model"
    shutil.copytree(bundle, copy)
    (copy / "notes.txt").write_text("mine\n")
    args = ["--save", tmp_path / "missing.txt"] if action == "--save" else ["--clear"]
    result = run("shift", copy, *args)
    assert result.exit_code == 3 and "'notes.txt'" in result.output, result.output
    assert "missing.txt" not in result.output
    assert (copy / "notes.txt").read_text() == "mine\n"


LLM_BAD = [["--timeout", "0"], ["--base-url", "ftp://x"], ["--llm", ""],
           ["--cache", "{corpus}"],  # a corpus is no SQLite cache
           # the endpoint's full URL: every request went to .../chat/completions twice
           ["--base-url", "http://127.0.0.1:9/v1/chat/completions"],
           ["--api-key-env", "sk-not-a-variable-name"],  # the key, not its variable
           ["--api-key-header", "Api Key: x"],  # no header name
           # urlsplit's ValueError: a traceback, exit code 1
           ["--base-url", "http://[::1/v1"], ["--base-url", "http://[not-v6]/v1"],
           ["--load-wait", "-1"], ["--load-wait", "nan"]]


@pytest.mark.parametrize("bad", LLM_BAD, ids=lambda bad: bad[0])
@pytest.mark.parametrize("command", ["label", "taxonomy"])
def test_llm_options_are_checked_before_the_corpus_is_read(files, tmp_path, command, bad):
    """The client (and its cache) was made after the corpus was read and the shortlists
    built (zero-shot embeddings, even): a bad --timeout cost all of that. The corpus
    given here does not exist, so reading it first fails on it instead."""
    missing = tmp_path / "missing.tsv"
    args = {"label": [missing, "--vocab", files["vocab"], "-o", tmp_path / "out.jsonl"],
            "taxonomy": [missing, "--use-case", "topics", "-o", tmp_path / "out.csv"]}[command]
    before = files["corpus"].read_bytes()
    result = run(command, *args, *_fill(LLM + bad, files))
    assert result.exit_code in (2, 3), result.output
    assert "missing.tsv" not in result.output and bad[0] in result.output, result.output
    assert files["corpus"].read_bytes() == before


@pytest.mark.parametrize("command", ["label", "taxonomy"])
def test_stdin_as_corpus_is_refused_naming_corpus(files, tmp_path, command):
    """``label -`` (and ``taxonomy -``) said "-: file not found", though suggest and
    zeroshot read stdin from '-': CORPUS is a file, and '-' is refused saying so,
    before any request or cache file."""
    args = {"label": ["-", "--vocab", files["vocab"], "-o", tmp_path / "out.jsonl"],
            "taxonomy": ["-", "--use-case", "topics", "-o", tmp_path / "out.csv"]}[command]
    result = run(command, *args, *_fill(LLM, {**files, "base": tmp_path}),
                 input="a document\nanother\n")
    assert result.exit_code == 2, result.output
    assert "CORPUS" in result.output and "(stdin) is not read here" in result.output
    assert "file not found" not in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.parametrize("command,option", [("label", "--vocab"), ("label", "--human"),
                                            ("taxonomy", "--map-to")])
def test_stdin_as_an_input_file_option_is_refused_naming_the_option(files, tmp_path,
                                                                    command, option):
    """``label CORPUS --human -`` (``--vocab -``, ``taxonomy --map-to -``) said
    "-: file not found" (or "-: vocabulary file not found") naming no option: the
    option is named, and that stdin is not read there, before any request or file."""
    args = {"label": [files["corpus"], "--vocab", files["vocab"], "-o",
                      tmp_path / "out.jsonl"],
            "taxonomy": [files["corpus"], "--use-case", "topics", "-o",
                         tmp_path / "out.csv"]}[command]
    result = run(command, *args, option, "-", *_fill(LLM, {**files, "base": tmp_path}),
                 input="a document\nanother\n")
    assert result.exit_code == 2, result.output
    assert option in result.output and "(stdin) is not read here" in result.output
    assert "not found" not in result.output, result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def _path_params():
    for name, command in sorted(COMMANDS.items()):
        for param in command.params:
            if param.callback in (tagsmith_cli.a_path, tagsmith_cli.a_cache_dir):
                yield pytest.param(command, param, id=f"{name}-{param.name}")


@pytest.mark.parametrize("command,param", list(_path_params()))
def test_every_single_path_refuses_dash_naming_itself_and_a_list_reads_stdin(command, param):
    """Only the documents FILES (and zeroshot --background), lists, read stdin for '-';
    every other file or folder argument or option refuses it in the shared callback,
    naming itself and what it takes, so that no command can forget to (``train -``,
    ``eval B -``, ``calibrate B --data -`` said "-: file not found"; ``train C -o -``
    saved the bundle into a folder named '-')."""
    ctx = click.Context(command)
    if param.nargs == -1 or param.multiple:
        assert tagsmith_cli.a_path(ctx, param, ("-",)) == ("-",)
        return
    assert param.name in tagsmith_cli._PATH_ROLES  # says what it is, not "a file or folder"
    with pytest.raises(click.BadParameter) as refused:
        tagsmith_cli.a_path(ctx, param, "-")
    spelled = "/".join(param.opts) if isinstance(param, click.Option) \
        else param.human_readable_name
    assert f"here: {spelled} is " in refused.value.message
    assert refused.value.message.startswith("'-' (std"), refused.value.message


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_help_naming_the_options_that_refuse_dash_names_them_all(name):
    """label --help said '-' is refused "as it is for --vocab, --human, --shortlist and
    --student", while -o, --cache and --cache-dir refuse it too (taxonomy's named
    --map-to alone, not -o, --skos, --cache or --cache-dir; distill's --vocab and --human,
    not -o): a help text that lists the options refusing '-' lists every one of them, or
    names none."""
    command = COMMANDS[name]
    refusing = {"/".join(param.opts) for param in command.params
                if isinstance(param, click.Option) and not param.multiple
                and param.callback in (tagsmith_cli.a_path, tagsmith_cli.a_cache_dir)}
    said = " ".join((command.help or "").split())
    for sentence in [s for s in re.split(r"(?<=\.) ", said) if "'-' is refused" in s]:
        named = set(re.findall(r"--?[a-z][a-z-]*", sentence))
        spelled = {opts for opts in refusing if named & set(opts.split("/"))}
        assert not named or spelled == refusing, (sentence, sorted(refusing - spelled))


def test_label_votes_says_its_range_in_the_help():
    """--votes refused 101 (LabelingOptions' most) while its help said x>=1."""
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.labeling import MAX_VOTES
    from tagsmith.labeling.labeler import LabelingOptions

    help_text = " ".join(run("label", "--help").output.split())
    assert f"ask each document this many times. [default: 1; 1<=x<={MAX_VOTES}]" in help_text
    with pytest.raises(InvalidParameterError, match=rf"\[1, {MAX_VOTES}\]"):
        LabelingOptions(votes=MAX_VOTES + 1).validate()


@pytest.mark.parametrize("command", ["label", "taxonomy"])
def test_the_timeout_help_says_a_try_after_a_time_out_waits_longer(command):
    """--timeout said "Seconds per request" and --max-retries "Tries after the first of
    a request that timed out", while a try after a time-out waits twice as long and 3
    tries in a row that time out stop the run, whatever --max-retries says."""
    help_text = " ".join(run(command, "--help").output.split())
    assert "a try after one that timed out waits twice as long." in help_text
    assert ("3 tries in a row that time out, with no reply from the server between "
            "them, stop the run.") in help_text


def test_suggest_set_method_says_the_guarantee_is_marginal():
    """A clinical-coding team read "recall: >= 1-alpha of a document's labels on
    average" as every document's set holding 90% of its codes at alpha 0.1; on 160
    synthetic discharge summaries 28 sets held fewer (half at worst) while the
    mean, 0.95, kept the guarantee. The help says it is an average over documents."""
    help_text = " ".join(run("suggest", "--help").output.split())
    assert ("recall: >= 1-alpha of the true labels, averaged over documents (marginal: a "
            "document's own set may miss more)") in help_text
    assert "lpicp: the whole label set, for 1-alpha of documents." in help_text


#: the str options that name no file or folder (values, names, URLs, templates)
NOT_PATHS = {"param", "feature_param", "use_case", "base_url", "llm_model", "api_key_env",
             "api_key_header",
             "base_uri", "template", "cooccurrence", "lang", "splits", "weights",
             "text_columns", "ks",
             # labels or a FILE of labels: '-' is no file there, so an unknown label
             "only", "exclude", "under",
             # a class, scheme or URI prefix selecting a vocabulary's labels
             "vocab_type", "vocab_scheme", "vocab_prefix"}


def test_every_file_or_folder_option_has_a_path_callback():
    """``--cache-dir`` (zeroshot, label, taxonomy) had no callback, so ``--cache-dir -``
    was taken as a folder named '-', which every other file or folder option refuses:
    a str option is a value listed in NOT_PATHS or goes through a path callback."""
    unchecked = [f"{name} {'/'.join(param.opts)}" for name, command in sorted(COMMANDS.items())
                 for param in command.params
                 if isinstance(param.type, click.types.StringParamType)
                 and param.name not in NOT_PATHS
                 and param.callback not in (tagsmith_cli.a_path, tagsmith_cli.a_cache_dir)]
    assert not unchecked, unchecked


@pytest.mark.parametrize("command", ["zeroshot", "label", "taxonomy"])
def test_a_dash_cache_dir_is_refused_and_an_empty_one_is_no_cache(files, tmp_path,
                                                                  monkeypatch, command):
    """``zeroshot V F --cache-dir -`` cached the label embeddings in a folder named '-'
    of the current one, and ``label --shortlist-zeroshot`` and ``taxonomy --map-by
    meaning`` with ``--cache-dir -`` went on to their LLM calls: README says every file
    or folder option but the documents FILES refuses '-'. Refused before any work,
    naming the option; ``--cache-dir ''`` still means no cache."""
    from tagsmith.cli import a_cache_dir

    monkeypatch.chdir(tmp_path)
    args = {"zeroshot": [files["vocab"], files["corpus"]],
            "label": [files["corpus"], "--vocab", files["vocab"], "-o", "out.jsonl",
                      "--shortlist-zeroshot", *LLM],
            "taxonomy": [files["corpus"], "--use-case", "topics", "-o", "out.csv",
                         "--map-to", files["vocab"], "--map-by", "meaning", *LLM]}[command]
    result = run(command, *_fill(list(map(str, args)), {**files, "base": tmp_path}),
                 "--cache-dir", "-")
    assert result.exit_code == 2, result.output
    assert "'-' (stdin or stdout) is not used here: --cache-dir is " in result.output, \
        result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == []
    param = next(p for p in COMMANDS[command].params if p.name == "cache_dir")
    assert a_cache_dir(click.Context(COMMANDS[command]), param, "") == ""


@pytest.mark.parametrize("args,named,stream", [
    (["train", "-", "-o", "{out}"], "CORPUS", "(stdin) is not read"),
    (["train", "{corpus}", "-o", "-"], "-o/--output", "(stdout) is not written"),
    (["train", "{corpus}", "-o", "{out}", "--dev", "-"], "--dev", "(stdin) is not read"),
    (["eval", "{bundle}", "-"], "CORPUS", "(stdin) is not read"),
    (["calibrate", "{bundle}", "--data", "-"], "--data", "(stdin) is not read"),
    (["calibrate", "-"], "BUNDLE", "(stdin) is not read"),
    (["vocab", "-"], "VOCAB", "(stdin) is not read"),
    (["zeroshot", "-", "{corpus}"], "VOCAB", "(stdin) is not read"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_stdin_where_a_command_reads_a_file_is_refused_naming_the_argument(
        bundle, files, tmp_path, monkeypatch, args, named, stream):
    """These said "-: file not found" (or "-: no such model bundle", "-: vocabulary file
    not found"), naming no argument or option; ``train C -o -`` trained and saved the
    bundle into a folder named '-'. Refused before any work, nothing written."""
    monkeypatch.chdir(tmp_path)  # where a '-' would be written
    fill = {**files, "bundle": bundle, "out": tmp_path / "out"}
    result = run(*(arg.format(**fill) for arg in args), input="a document\tjoy\n")
    assert result.exit_code == 2, result.output
    assert f"'-' {stream} here: {named} is " in result.output, result.output
    assert "not found" not in result.output and "no such" not in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.parametrize("command,labelled", [
    ("train", True), ("eval", True), ("audit", True), ("apply-review", True),
    ("taxonomy", False), ("label", False)])
def test_a_dash_corpus_is_refused_saying_what_the_command_takes(command, labelled):
    """``train -`` (eval's, audit's, apply-review's) was told CORPUS is "a corpus file
    (or a text file with one document per line)", which only taxonomy and label take:
    their CORPUS needs labels."""
    group = tagsmith_cli.cli
    cmd = group.get_command(click.Context(group), command)
    param = next(p for p in cmd.params if p.name == "corpus")
    with pytest.raises(click.BadParameter) as refused:
        tagsmith_cli.a_path(click.Context(cmd, info_name=command), param, "-")
    said = refused.value.message
    assert ("CORPUS is a labelled corpus file" in said) is labelled, said
    assert ("one document per line" in said) is not labelled, said


@pytest.mark.parametrize("option,stream", [("--shortlist", "(stdin) is not read"),
                                           ("--student", "(stdout) is not written")])
def test_label_refuses_dash_as_shortlist_or_student(files, tmp_path, option, stream):
    """``label --shortlist -`` said "-: no such model bundle", naming no option, and
    ``label --budget N --student -`` paid every LLM call and then saved the student to a
    folder named '-': both are refused naming the option, before any request or file."""
    result = run("label", files["corpus"], "--vocab", files["vocab"], "-o",
                 tmp_path / "out.jsonl", *(["--budget", "2"] if option == "--student"
                                           else []), option, "-",
                 *_fill(LLM, {**files, "base": tmp_path}), input="a document\n")
    assert result.exit_code == 2, result.output
    assert option in result.output and f"'-' {stream} here" in result.output, result.output
    assert "no such model bundle" not in result.output, result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.parametrize("command,option", [
    ("audit", "CORPUS"), ("audit", "--vocab"), ("audit", "--bundle"), ("audit", "--split"),
    ("apply-review", "CORPUS"), ("apply-review", "--vocab"), ("apply-review", "--bundle")])
def test_audit_and_apply_review_refuse_stdin_naming_the_argument_or_option(
        files, tmp_path, command, option):
    """``audit -`` (``--vocab -``, ``--bundle -``, ``--split test=-``) and ``apply-review
    -`` (``--vocab -``, ``--bundle -``) said "-: (vocabulary) file not found" or "-: no
    such model bundle" on Reuters-21578, naming no argument or option."""
    corpus = "-" if option == "CORPUS" else files["corpus"]
    extra = {"CORPUS": [], "--vocab": ["--vocab", "-"], "--bundle": ["--bundle", "-"],
             "--split": ["--split", "test=-"]}[option]
    args = {"audit": [corpus, "-o", tmp_path / "audit", "--scores", "knn", *extra],
            "apply-review": [corpus, tmp_path / "review.csv", "-o", tmp_path / "new.tsv",
                             *extra]}[command]
    result = run(command, *args, input="a document\tjoy\n")
    assert result.exit_code == 2, result.output
    assert option in result.output and "(stdin) is not read here" in result.output, \
        result.output
    assert "not found" not in result.output and "no such" not in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["LABELS", "--vocab", "--human"])
def test_distill_refuses_stdin_naming_the_argument_or_option(files, tmp_path, option):
    """``distill - --vocab V`` (``--vocab -``, ``--human -``) said "-: (vocabulary) file
    not found", naming neither the argument nor the option."""
    given = {"LABELS": files["corpus"], "--vocab": files["vocab"]}
    given[option] = "-"
    args = [given["LABELS"], "--vocab", given["--vocab"], "-o", tmp_path / "student",
            *(["--human", "-"] if option == "--human" else [])]
    result = run("distill", *args, input="a document\n")
    assert result.exit_code == 2, result.output
    assert option in result.output and "(stdin) is not read here" in result.output
    assert "not found" not in result.output, result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [["--budget", "2", "--seed", "-1"], ["--timeout", "0"],
                                 ["--concurrency", "0"]], ids=lambda bad: bad[-2])
def test_a_refused_llm_run_leaves_no_cache_file(files, tmp_path, monkeypatch, bad):
    """With the default --cache, a run refused for a bad option left an empty
    .tagsmith-llm-cache.sqlite in the current directory (the cache was opened before
    the selection's --seed was checked)."""
    monkeypatch.chdir(tmp_path)
    result = run("label", files["corpus"], "--vocab", files["vocab"], "-o", "out.jsonl",
                 "--base-url", "http://127.0.0.1:9/v1", "--llm", "m", *bad)
    assert result.exit_code == 2 and bad[-2] in result.output, result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_suggest_warns_once_when_no_label_is_named_in_the_language(bundle, caplog):
    """--lang fr on a vocabulary named in English fell back to English without a word."""
    docs = "so happy\n" * 600  # two batches: still one warning
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = run("suggest", bundle, "--lang", "fr", "-k", "1", input=docs, quiet=False)
    assert result.exit_code == 0, result.output
    warnings = [r.getMessage() for r in caplog.records if "no label has a name" in
                r.getMessage()]
    assert warnings == ["no label has a name in language 'fr' (--lang): names in 'en' are "
                        "shown instead"]
    assert '"label": "joy"' in result.output  # the English names, as the warning says
    for lang in ("en", "EN-gb"):  # a variant of the language is no fallback
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            result = run("suggest", bundle, "--lang", lang, input="so happy\n", quiet=False)
        assert result.exit_code == 0
        assert "no label has a name" not in caplog.text



def test_vocab_and_shift_warn_of_a_language_no_label_is_named_in(bundle, caplog):
    from conftest import ROOT

    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = run("vocab", ROOT / "tests" / "data" / "stw-slice.ttl", "--lang", "fr",
                     "--show", "1", quiet=False)
    assert result.exit_code == 0, result.output
    assert "no label has a name in language 'fr' (--lang): each label's English name, else " \
        "its first, is shown instead (languages 'de', 'en')" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tagsmith"):
        result = run("shift", bundle, "--lang", "fr", "--min-count", "0",
                     input="so happy\nso sad\n", quiet=False)
    assert result.exit_code == 0, result.output
    assert "no label has a name in language 'fr'" in caplog.text


@pytest.mark.parametrize("command, args, message", [
    ("train", ["-p", "C=1", "-p", "C=8"],
     "option '--param' must be one VALUE per KEY (C is 1), got 'C=8'"),
    ("train", ["--feature-param", "min_df=1", "--feature-param", "min_df=2"],
     "option '--feature-param' must be one VALUE per KEY (min_df is 1), got 'min_df=2'"),
    ("audit", ["-p", "n_neighbors=5", "-p", "n_neighbors=30", "--scores", "knn"],
     "option '--param' must be one VALUE per KEY (n_neighbors is 5), got 'n_neighbors=30'"),
])
def test_a_parameter_given_twice_is_refused(files, command, args, message):
    """``-p C=1 -p C=8`` trained with C=8 and dropped the first value without a word (a
    default in a script followed by an override, or a typo in a long list of -p): the
    rule for every option that would be silently ignored, as for ``audit --split``."""
    out = files["base"] / f"twice-{command}"
    result = run(command, files["corpus"], "-o", out, "--vocab", files["vocab"], *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()


@pytest.mark.parametrize("option, key", [("--param", "max_iter"), ("--feature-param", "min_df")])
def test_a_parameter_of_more_digits_than_python_reads_is_refused(files, option, key):
    """json.loads of an integer past Python's 4300 digits raised ValueError ("Exceeds
    the limit (4300 digits) for integer string conversion"), no JSONDecodeError: a
    traceback, exit code 1, instead of the option's refusal."""
    out = files["base"] / f"digits-{key}"
    result = run("train", files["corpus"], "-o", out, "--vocab", files["vocab"],
                 option, f"{key}={'9' * 5000}")
    assert result.exit_code == 2, result.output
    assert f"option '{option}' must be KEY=VALUE with a number of at most 4300 digits, " \
        f"got '{key}=... (5000 characters)'" in result.output, result.output
    assert not out.exists()


@pytest.mark.parametrize("option, key", [("--param", "max_iter"), ("--feature-param", "min_df")])
def test_a_parameter_nested_deeper_than_python_reads_is_refused(files, option, key):
    """json.loads of a value nested 100,000 deep ('[[[...') raised RecursionError, no
    JSONDecodeError: a traceback, exit code 1, instead of the option's refusal."""
    out = files["base"] / f"nested-{key}"
    result = run("train", files["corpus"], "-o", out, "--vocab", files["vocab"],
                 option, f"{key}={'[' * 100000}")
    assert result.exit_code == 2, result.output
    assert f"option '{option}' must be KEY=VALUE with a JSON value of fewer nested " \
        "lists or objects (Python's recursion limit is " in result.output, result.output
    assert f"got '{key}=... (100000 characters)'" in result.output, result.output
    assert not out.exists()


def test_a_featurizer_that_keeps_no_feature_is_named_by_its_option(files):
    """The library's check names ``featurizer_params``, a TrainOptions field no CLI user
    typed: the message reads as the option the value came from."""
    out = files["base"] / "no-features"
    result = run("train", files["corpus"], "-o", out, "--vocab", files["vocab"],
                 "--feature-param", "min_df=100000")
    assert result.exit_code == 2, result.output
    assert "option '--feature-param' must be settings that keep some features" \
        in result.output, result.output
    assert "featurizer_params" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("min_df", ["1", "2"])
def test_texts_without_a_term_at_any_min_df_are_not_sent_to_lower_it(files, tmp_path, min_df):
    """Emoji and punctuation alone with word n-grams only keep no feature at any min_df:
    the refusal said "a lower min_df keeps more", with min_df=1 given too."""
    corpus = tmp_path / "emoji.tsv"
    corpus.write_text("".join(f"{'😀' * (i % 3 + 1)} !!!\t<u:{'a' if i % 2 else 'b'}>\n"
                              for i in range(30)), encoding="utf-8")
    result = run("train", corpus, "-o", tmp_path / "b", "--feature-param", "char_ngrams=null",
                 "--feature-param", f"min_df={min_df}")
    assert result.exit_code == 2, result.output
    assert ("no text holds a term these settings count, at any min_df: emoji, punctuation "
            "or symbols alone, say; char_ngrams keep features of them") in result.output
    assert "a lower min_df" not in result.output and not (tmp_path / "b").exists()
    # where a lower min_df does keep some, it still says so
    result = run("train", files["corpus"], "-o", tmp_path / "b", "--vocab", files["vocab"],
                 "--feature-param", "min_df=100000")
    assert result.exit_code == 2 and "a lower min_df keeps more" in result.output


@pytest.mark.parametrize("name, lines", [
    ("c.jsonl", ['{"text": "", "labels": ["a"]}', '{"text": "  ", "labels": ["b"]}']),
    ("c.csv", ["text,labels", '"",a', '" ",b'])])
def test_a_corpus_whose_every_text_is_empty_is_refused_naming_it(tmp_path, name, lines):
    """A CSV or JSONL corpus of empty texts alone (a TSV line refuses one) was refused
    as '--feature-param' settings that keep no features, which the user had not given,
    exit code 2, with "a lower min_df keeps more"."""
    corpus = tmp_path / name
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("train", corpus, "-o", tmp_path / "b")
    assert result.exit_code == 3, result.output
    assert f"{corpus}: every document has a blank text (empty or whitespace only; all 2 " \
        "documents): nothing to train on" in result.output
    assert "--feature-param" not in result.output and not (tmp_path / "b").exists()


@pytest.mark.parametrize("command", ["train --dev", "eval", "calibrate --data"])
def test_a_held_out_corpus_whose_every_text_is_blank_is_refused_naming_it(
        tmp_path, files, bundle, command):
    """A --dev corpus of blank texts alone was accepted (train refused only a training
    corpus of them) and the thresholds were tuned on it, "held-out (dev corpus, 2 docs)";
    eval printed figures and calibrate --data fitted a calibrator on such a corpus, each
    measuring nothing, exit code 0."""
    corpus = tmp_path / "blank.jsonl"
    corpus.write_text("".join(json.dumps({"text": " " * (i % 3), "labels": [
        f"<urn:goemotions:{'joy' if i % 2 else 'anger'}>"]}) + "\n" for i in range(40)),
        encoding="utf-8")
    out = tmp_path / "out"
    args = {"train --dev": ["train", files["corpus"], "--vocab", files["vocab"], "-o", out,
                            "--dev", corpus, *FAST],
            "eval": ["eval", bundle, corpus],
            "calibrate --data": ["calibrate", bundle, "--data", corpus, "-o", out]}[command]
    result = run(*args)
    assert result.exit_code == 3, result.output
    option = {"train --dev": "--dev: ", "eval": "", "calibrate --data": "--data: "}[command]
    what = {"train --dev": "tune thresholds on", "eval": "evaluate on",
            "calibrate --data": "calibrate on"}[command]
    assert f"{corpus}: {option}every document has a blank text (empty or whitespace only; " \
        f"all 40 documents): nothing to {what}" in result.output
    assert not out.exists()


def test_every_option_of_every_command_says_what_it_does():
    """``shift --lang``, ``zeroshot -k``, ``zeroshot --lang`` and ``calibrate --seed``
    showed in ``--help`` with no word of what they do, and so did ``distill --model``,
    ``label --rounds``, ``taxonomy --max-labels`` and the shared ``--max-retries`` of
    the LLM commands: every option of every command (and of the group) is checked."""
    tagsmith_cli._register_commands()
    assert {"label", "taxonomy", "distill", "zeroshot", "audit", "apply-review"} <= set(COMMANDS)
    bare = [f"{name} {'/'.join(param.opts)}"
            for name, params in [("tagsmith", tagsmith_cli.cli.params)]
            + [(name, command.params) for name, command in sorted(COMMANDS.items())]
            for param in params
            if isinstance(param, click.Option) and not (param.help or "").strip()]
    assert not bare, f"options without a help text: {bare}"


def test_a_reliability_diagram_without_matplotlib_is_refused_before_the_work(bundle, tmp_path,
                                                                            files, monkeypatch):
    """On a core install (no tagsmith[plot]), calibrate --reliability-png recalibrated and
    saved the bundle in place, then failed (exit 5) on the missing matplotlib, and eval
    --calibration --reliability-png scored the whole corpus before failing."""
    import sys

    import tagsmith.pipeline.confidence as confidence

    copy = tmp_path / "model"
    shutil.copytree(bundle, copy)
    before = {path.name: path.read_bytes() for path in copy.iterdir()}
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    png = tmp_path / "reliability.png"
    result = run("calibrate", copy, "--reliability-png", png)
    assert result.exit_code == 5, result.output
    assert "pip install 'tagsmith[plot]'" in result.output
    assert {path.name: path.read_bytes() for path in copy.iterdir()} == before
    assert not list(tmp_path.glob("*.png*"))

    def scored(*args, **kwargs):
        raise AssertionError("the corpus was scored")

    monkeypatch.setattr(confidence, "evaluate_with_confidence", scored)
    result = run("eval", copy, files["corpus"], "--calibration", "--reliability-png", png)
    assert result.exit_code == 5, result.output
    assert "pip install 'tagsmith[plot]'" in result.output and not png.exists()


def test_a_child_logger_s_record_names_the_option_too(monkeypatch, tmp_path, caplog):
    """The filter renaming library parameters to option names sat on the ``tagsmith``
    logger, whose filters never see a child logger's records (``tagsmith.store.staging``
    logging with ``extra={"parameters": ...}`` kept the library's name): it is on the
    handlers now. Another library's record is left alone."""
    import tagsmith.data.vocab

    real = tagsmith.data.vocab.load_vocabulary

    def logging_load(*args, **kwargs):
        for name in ("tagsmith", "tagsmith.data.child", "otherlib"):
            logging.getLogger(name).warning("show 3 from %s", name,
                                            extra={"parameters": ("show",)})
        return real(*args, **kwargs)

    monkeypatch.setattr(tagsmith.data.vocab, "load_vocabulary", logging_load)
    tagsmith_cli._register_commands()
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<urn:x:1>\tone\n", encoding="utf-8")
    with caplog.at_level(logging.INFO):
        result = CliRunner().invoke(tagsmith_cli.cli, ["vocab", str(vocab)])
    assert result.exit_code == 0, result.output
    said = [record.getMessage() for record in caplog.records
            if record.getMessage().endswith(("tagsmith", "child", "otherlib"))]
    assert said == ["--show 3 from tagsmith", "--show 3 from tagsmith.data.child",
                    "show 3 from otherlib"]
    # and Python callers keep the parameters' names once the command is over
    caplog.clear()
    logging.getLogger("tagsmith.data.child").warning("show 4", extra={"parameters": ("show",)})
    assert [record.getMessage() for record in caplog.records] == ["show 4"]


@pytest.mark.parametrize("command, args, message", [
    ("train", ["-p", "C=abc"],
     "option '--param': parameter 'C' must be a number > 0, got 'abc'"),
    ("distill", ["-p", "C=abc"],
     "option '--param': parameter 'C' must be a number > 0, got 'abc'"),
    ("train", ["-p", "foo=1"], "option '--param': parameter 'foo' must be a parameter of "
     "model 'linear'"),
    ("distill", ["--feature-param", "min_df=abc"],
     "option '--feature-param': parameter 'min_df' must be an integer >= 1, got 'abc'"),
])
def test_a_bad_model_or_feature_parameter_names_its_option(files, command, args, message):
    """``train -p C=abc`` said "parameter 'C' must be a number > 0", naming no option:
    C reads as a library name, and which of -p and --feature-param it was is unsaid."""
    out = files["base"] / f"badparam-{command}"
    corpus = files["corpus"]
    if command == "distill":
        corpus = files["base"] / "soft.jsonl"
        corpus.write_text(json.dumps({"id": "1", "text": "so glad", "labels": ["joy"]}) + "\n")
    result = run(command, corpus, "-o", out, "--vocab", files["vocab"], *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()


def test_calibrate_min_recall_says_what_it_replaces_and_its_back_off():
    """calibrate --help's --min-recall read "Thresholds for this recall per label
    instead (below 1)", instead of nothing, and did not say that a label with few
    held-out positives takes its band's threshold, as README's Operating points does."""
    help_text = " ".join(run("calibrate", "--help").output.split())
    recall = help_text.split("--min-recall FLOAT", 1)[1].split(" --", 1)[0]
    assert "instead of F-beta" in recall, recall
    assert "band" in recall, recall


def test_every_help_naming_vocabulary_formats_names_the_plain_list_and_googles():
    """--vocab's help said "(TSV, CSV or SKOS)" in train, suggest, eval, audit, the
    vocab command and the LLM commands, though a .txt plain list and Google's product
    taxonomy are read too: every help naming the formats names them all, one wording."""
    every = "TSV, CSV, SKOS, a .txt list or Google's product taxonomy"
    named = []
    for name, command in sorted(COMMANDS.items()):
        helps = [(name, command.help or ""), (name, command.short_help or "")] + [
            (f"{name} {param.opts[0]}", getattr(param, "help", None) or "")
            for param in command.params]
        for where, text in helps:
            if "TSV, CSV" in text:  # a list of the formats (not shift's "a SKOS ...")
                named.append(where)
                assert every in text, (where, text)
    assert {"train --vocab", "vocab", "taxonomy --map-to"} <= set(named), named
    # the vocab command's short_help names no format: the command list shows each command's
    # short_help uncut, at most 50 characters (test_cli's command-list test)
    assert len(named) >= 7, named


@pytest.mark.parametrize("name", sorted(n for n, c in COMMANDS.items()
                                        if any(p.name == "base_url" for p in c.params)))
@pytest.mark.parametrize("option, variable", [("--base-url", "TAGSMITH_LLM_BASE_URL"),
                                              ("--llm", "TAGSMITH_LLM_MODEL")])
def test_a_missing_llm_option_names_its_environment_variable(name, option, variable, tmp_path):
    """Without the variables exported, label said only "Missing option '--base-url'": a
    user following README's `export TAGSMITH_LLM_BASE_URL=...` in another shell was not
    told which variable would do. The error and --help now name it, for every command
    that calls an LLM."""
    command = COMMANDS[name]
    given = {"--base-url": "http://127.0.0.1:9/v1", "--llm": "m"}
    args = [str(tmp_path / "corpus.txt")]
    for param in command.params:
        if isinstance(param, click.Option) and param.required and param.opts[0] not in given:
            args += [param.opts[0], str(tmp_path / "x.jsonl")]
    args += [a for o, v in given.items() if o != option for a in (o, v)]
    result = CliRunner(env={"TAGSMITH_LLM_BASE_URL": None, "TAGSMITH_LLM_MODEL": None}).invoke(
        tagsmith_cli.cli, ["-q", name, *args])
    assert result.exit_code == 2, result.output
    assert f"Missing option '{option}' (env var: '{variable}')" in result.output
    help_text = " ".join(run(name, "--help").output.split())
    assert f"[env var: {variable}; required]" in help_text
