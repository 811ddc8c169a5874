"""The command line in the environment it is run in: stdout's encoding, closed standard
streams, a full disk under ``--help``, colours. Each runs ``python -m tagsmith`` in a
process of its own, its environment or descriptors changed."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LABELS = ["Kissa \N{CAT FACE}", "\u03a3\u03ba\u03cd\u03bb\u03bf\u03c2", "\u9e1f\u7c7b",
          "Fish \N{FISH}"]
KEYS = ["kissa", "\u03c3\u03ba\u03cd\u03bb\u03bf\u03c2", "\u9e1f", "fish"]
WORDS = ["kissa naukuu hiiri",
         "\u03c3\u03ba\u03cd\u03bb\u03bf\u03c2 \u03b2\u03cc\u03bb\u03c4\u03b1",
         "\u9e1f \u98de \u5929\u7a7a", "fish swim water"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("environment")
    vocab = folder / "vocab.tsv"
    vocab.write_text("".join(f"<http://ex.org/{key}>\t{label}\n"
                             for key, label in zip(KEYS, LABELS, strict=True)), encoding="utf-8")
    train = folder / "train.tsv"
    train.write_text("".join(f"{WORDS[i % 4]} {i}\t<http://ex.org/{KEYS[i % 4]}>\n"
                             for i in range(40)), encoding="utf-8")
    return {"vocab": vocab, "train": train, "folder": folder}


def tagsmith(*args, env=None, shell_redirect="", **kwargs):
    """``python -m tagsmith ARGS`` (through ``sh`` where ``shell_redirect``, such as
    ``2>&-``, closes a descriptor), its environment updated by ``env``."""
    command = [sys.executable, "-m", "tagsmith", *map(str, args)]
    if shell_redirect:
        command = ["sh", "-c", f'exec "$@" {shell_redirect}', "sh", *command]
    kwargs.setdefault("capture_output", True)
    return subprocess.run(command, env={**os.environ, **(env or {})}, timeout=300,
                          **kwargs)


LATIN1 = {"PYTHONIOENCODING": "latin-1", "PYTHONUTF8": "0"}


def test_a_label_stdout_cannot_encode_is_escaped_not_a_traceback(corpus):
    # PYTHONIOENCODING=latin-1 (or a latin-1 locale with PYTHONUTF8=0): vocab, suggest
    # --format tsv and the rest ended in a UnicodeEncodeError traceback, exit code 1,
    # at the first Chinese label or emoji
    result = tagsmith("vocab", corpus["vocab"], env=LATIN1)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    out = result.stdout.decode("latin-1")
    assert "<http://ex.org/\\u9e1f>  \\u9e1f\\u7c7b" in out
    assert "Kissa \\U0001f431" in out
    assert b"\\U0001f431" in result.stderr  # the warning's escape of the first one
    # logged, as every warning ("TIME WARNING ...")
    assert result.stderr.count(b" WARNING stdout's encoding, latin-1") == 1


@pytest.mark.parametrize("encoding", ["latin-1", "ascii", "utf-8"])
def test_json_output_reads_back_whatever_stdout_encodes(corpus, encoding):
    # JSON escapes what stdout cannot write as JSON's own \u escapes (a surrogate pair
    # for an emoji), which every JSON reader decodes: no warning needed
    result = tagsmith("vocab", corpus["vocab"], "--json",
                      env={"PYTHONIOENCODING": encoding, "PYTHONUTF8": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    labels = json.loads(result.stdout)["labels"]
    assert [item["label"] for item in labels] == LABELS


def test_json_on_a_stdout_that_is_not_utf8_is_ascii_whatever_its_labels(corpus):
    # a latin-1 stdout wrote 'caf\xe9' as its byte 0xE9 where every label of the text
    # was latin-1 ('vocab V --json > v.json': jq read "caf\ufffd", json.loads refused
    # it), and as \u00e9 where another label was an emoji: a JSON file's reader decodes
    # UTF-8 (RFC 8259), which the ASCII of JSON's \u escapes is, whatever the locale
    vocab = corpus["folder"] / "latin.tsv"
    vocab.write_text("<http://ex.org/cafe>\tcaf\u00e9\n", encoding="utf-8")
    result = tagsmith("vocab", vocab, "--json", env=LATIN1)
    assert result.returncode == 0, result.stderr
    assert result.stdout.isascii()
    assert json.loads(result.stdout)["labels"][0]["label"] == "caf\u00e9"


def test_a_file_name_the_posix_locale_cannot_decode_is_written_back_as_it_was(corpus):
    # LC_ALL=POSIX with PYTHONUTF8=0: Python decodes the name's bytes as surrogate
    # escapes, and click wrote them to its UTF-8 stdout as '?' ('sanasto_???.tsv')
    named = corpus["folder"] / "sanasto_\u9e1f.tsv"
    named.write_bytes(corpus["vocab"].read_bytes())
    result = tagsmith("vocab", named, "--show", "4",
                      env={"LC_ALL": "POSIX", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"path           {named}".encode()
    assert "  \u9e1f\u7c7b".encode() in result.stdout  # a label, UTF-8 as click wrote it


SUMMARY = """\
import os, sys
from tagsmith.cli import print_json
print_json({"output": os.fsdecode(b"out_\\xff.tsv"), "labels": sys.argv[1:]}, err=True)
"""


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_a_json_summary_naming_a_file_the_locale_cannot_decode(encoding):
    # label's and taxonomy's summary on stderr, in a UTF-8 locale: a file name holding
    # the byte 0xff (a surrogate escape) was tested strictly where stderr writes it with
    # backslashreplace (as JSON's \udcff), so every label was written \u-escaped too
    labels = ["caf\u00e9", "\u9e1f", "\N{CAT FACE}"]
    result = subprocess.run([sys.executable, "-c", SUMMARY, *labels], capture_output=True,
                            env={**os.environ, "LC_ALL": "C.UTF-8", "PYTHONUTF8": "0",
                                 "PYTHONIOENCODING": f"{encoding}:strict"}, timeout=60)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stderr)
    assert summary == {"output": "out_\udcff.tsv", "labels": labels}
    if encoding == "utf-8":  # what stderr can write, as it is
        assert "caf\u00e9 \u9e1f".replace(" ", '", "').encode() in result.stderr
    else:  # a latin-1 stderr: JSON's escapes, every one (backslashreplace: \U0001f431)
        assert result.stderr.isascii()


def _in_process(monkeypatch, encoding, errors, *args):
    """``tagsmith.cli.main(ARGS)`` called by a host program whose stdout is ``encoding``
    with ``errors``: its exit code, stdout's bytes and stderr's text."""
    import io

    import tagsmith.cli as tagsmith_cli

    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding=encoding, errors=errors)
    stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace")
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    with pytest.raises(SystemExit) as exited:
        tagsmith_cli.main(list(map(str, args)))
    assert sys.stdout is stdout and sys.stderr is stderr
    assert (stdout.encoding, stdout.errors) == (encoding, errors)  # as they were
    stdout.flush()
    stderr.flush()
    return exited.value.code, out.getvalue(), err.getvalue().decode()


def test_main_in_process_leaves_the_hosts_stdout_as_it_was(corpus, monkeypatch, caplog):
    # a host program calling tagsmith.cli.main([...]) kept a stdout reconfigured to
    # UTF-8 (an ASCII one) or to the escaping handler (a latin-1 one) after it returned,
    # and the warning of the escapes was said once in the process, not once per call
    # (a warning of the tagsmith logger: pytest's handler on the root takes it here)
    for _ in range(2):
        caplog.clear()
        code, out, err = _in_process(monkeypatch, "latin-1", "strict", "vocab",
                                     corpus["vocab"])
        assert code == 0, err
        assert b"\\u9e1f\\u7c7b" in out
        said = [r for r in caplog.records
                if r.getMessage().startswith("stdout's encoding, latin-1")]
        assert len(said) == 1
    code, out, err = _in_process(monkeypatch, "ascii", "strict", "vocab", corpus["vocab"])
    assert code == 0, err
    assert "\u9e1f\u7c7b".encode() in out  # UTF-8 while main ran


def test_a_closed_stdout_is_refused(corpus):
    # `tagsmith vocab V >&-` said nothing and exited 0, its output lost (suggest died in
    # an AttributeError traceback)
    result = tagsmith("vocab", corpus["vocab"], shell_redirect=">&-")
    assert result.returncode == 3
    assert result.stderr.decode().strip() == (
        "error: stdout: cannot be written (it is closed; give >/dev/null to drop the "
        "output)")


def test_a_command_whose_product_is_a_file_runs_with_a_closed_stdout(corpus, tmp_path):
    # `tagsmith -q train C -o B --vocab V >&-` wrote its bundle (exit code 0) until a
    # closed stdout was refused for every command: its stdout is a summary of the bundle
    bundle = tmp_path / "model"
    result = tagsmith("-q", "train", corpus["train"], "--vocab", corpus["vocab"], "-o",
                      bundle, "--feature-param", "char_ngrams=null", "--feature-param",
                      "min_df=1", shell_redirect=">&-")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert (bundle / "manifest.json").exists()
    # its help, and a file written to stdout, are stdout's: refused still
    for args in (["train", "--help"], ["label", corpus["train"], "--vocab", corpus["vocab"],
                                       "-o", "/dev/stdout"]):
        refused = tagsmith(*args, shell_redirect=">&-")
        assert refused.returncode == 3
        assert refused.stderr.startswith(b"error: stdout: cannot be written (it is closed")


def test_only_an_output_option_naming_stdout_makes_it_the_product(corpus, tmp_path):
    """Any option value that was /dev/stdout was taken for a file written to stdout:
    `train C -o m -p /dev/stdout >&-` (or --vocab /dev/stdout, an input) was refused as
    a closed stdout (exit code 3), not for its own mistake. Only the options naming
    outputs (-o, taxonomy --skos, calibrate --reliability-png) are looked at."""
    from tagsmith.cli import _product_is_a_file, _register_commands

    _register_commands()
    for args in (["train", "c.tsv", "-o", "m", "-p", "/dev/stdout"],
                 ["train", "c.tsv", "-o", "m", "--vocab", "/dev/stdout"],
                 ["label", "c.tsv", "-o", "o.jsonl", "--shortlist", "/dev/fd/1"]):
        assert _product_is_a_file(args), args
    for args in (["taxonomy", "c.tsv", "-o", "v.tsv", "--skos", "/dev/stdout"],
                 ["calibrate", "m", "--data", "c.tsv", "--reliability-png", "/dev/stdout"]):
        assert not _product_is_a_file(args), args
    result = tagsmith("train", corpus["train"], "-o", tmp_path / "m", "-p", "/dev/stdout",
                      shell_redirect=">&-")
    assert result.returncode == 2, result.stderr
    assert b"closed" not in result.stderr and b"--param" in result.stderr, result.stderr


def test_a_closed_stderr_does_not_end_the_command(corpus, tmp_path):
    # `tagsmith train ... 2>&-`: the progress bar asked the closed stderr (None) whether
    # it is a terminal, an AttributeError nobody saw, exit code 1, no bundle
    bundle = tmp_path / "model"
    result = tagsmith("train", corpus["train"], "--vocab", corpus["vocab"], "-o", bundle,
                      "--feature-param", "char_ngrams=null", "--feature-param", "min_df=1",
                      shell_redirect="2>&-")
    assert result.returncode == 0
    assert result.stdout.startswith(b"trained linear on 40 documents")
    assert (bundle / "manifest.json").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_to_a_full_disk_is_one_line(args):
    # before any command ran (click's parsing): an OSError traceback
    with open("/dev/full", "w") as full:
        result = tagsmith(*args, stdout=full, stderr=subprocess.PIPE, capture_output=False)
    assert result.returncode == 1
    assert result.stderr.decode().strip() == "error: writing the output: No space left on device"


@pytest.mark.skipif(not Path("/usr/bin/script").exists(), reason="needs script(1) for a tty")
@pytest.mark.parametrize("env", [{}, {"NO_COLOR": "1"}, {"NO_COLOR": ""}, {"TERM": "dumb"}])
def test_no_color_and_a_dumb_terminal_get_no_colours(tmp_path, env):
    # on a terminal, the error line was red whatever NO_COLOR (https://no-color.org) said
    # or TERM=dumb; an empty NO_COLOR asks for nothing
    command = f"{sys.executable} -m tagsmith vocab {tmp_path / 'missing.tsv'}"
    outer = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    result = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True,
                            env={**outer, "TERM": "xterm", **env}, timeout=120)
    assert b"error:" in result.stdout
    assert (b"\x1b[" in result.stdout) == (not env.get("NO_COLOR") and "TERM" not in env)


def _unwritable_home_and_docs(corpus, tmp_path):
    """A home that cannot be written (a service account's; here a file, which root
    cannot write below either) and a document file of two lines for zeroshot."""
    pytest.importorskip("sentence_transformers")
    home = tmp_path / "home"
    home.write_text("not a folder", encoding="utf-8")
    docs = corpus["folder"] / "docs.txt"
    docs.write_text("kissa naukuu\nfish swim\n", encoding="utf-8")
    return home, docs


def test_a_default_embedding_cache_that_cannot_be_written_is_given_up(corpus, tmp_path):
    # a home that cannot be written (a service account; here a file, which root cannot
    # write below either): zeroshot was refused, exit code 3, for a cache nobody asked for
    home, docs = _unwritable_home_and_docs(corpus, tmp_path)
    result = tagsmith("zeroshot", corpus["vocab"], docs, "-k", "1",
                      env={"HOME": str(home), "XDG_CACHE_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["suggestions"][0]["label"]
            for line in result.stdout.splitlines()] == [LABELS[0], LABELS[3]]
    assert b" WARNING no label embedding cache: " in result.stderr  # logged, as every warning
    assert b"is a file, not a folder" in result.stderr
    # one given is still refused, before the encoder loads
    given = tagsmith("zeroshot", corpus["vocab"], docs, "--cache-dir", home / "cache",
                     env={"HOME": str(home)})
    assert given.returncode == 3
    assert b"--cache-dir" in given.stderr and b"is a file, not a folder" in given.stderr


def _vocab_failing(monkeypatch, tmp_path, error):
    """``tagsmith vocab`` in this process, its vocabulary's reading raising ``error``."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    import tagsmith.data.vocab

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(tagsmith.data.vocab, "load_vocabulary", fail)
    tagsmith_cli._register_commands()
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<urn:x:1>\tone\n", encoding="utf-8")
    return CliRunner().invoke(tagsmith_cli.cli, ["vocab", str(vocab)])


def _memory_limit(monkeypatch, megabytes):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (megabytes * 2 ** 20,
                                                              resource.RLIM_INFINITY))


def test_running_out_of_memory_is_one_line_naming_the_limit(monkeypatch, tmp_path):
    # under `ulimit -v`, a MemoryError traceback (exit code 1)
    _memory_limit(monkeypatch, 195)
    result = _vocab_failing(monkeypatch, tmp_path, MemoryError())
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: out of memory: the address-space limit (ulimit -v) is 195 MB; raise it "
        "or give the command less to hold")


@pytest.mark.parametrize("wrapped", [False, True], ids=["import", "as-missing-package"])
def test_a_library_that_cannot_be_mapped_is_out_of_memory_not_missing(monkeypatch, tmp_path,
                                                                       wrapped):
    # `ulimit -v 700000` and zeroshot: "zero-shot labeling needs the package
    # 'sentence-transformers': pip install 'tagsmith[embed]'" (exit code 5) of an
    # installed package whose libtorch_cpu.so the loader could not map; train: an
    # ImportError traceback of scipy's
    from tagsmith.exceptions import MissingDependencyError

    _memory_limit(monkeypatch, 683)
    cause = ImportError("libtorch_cpu.so: failed to map segment from shared object")
    error: Exception = cause
    if wrapped:
        error = MissingDependencyError("sentence-transformers", extra="embed",
                                       feature="zero-shot labeling")
        error.__cause__ = cause
    result = _vocab_failing(monkeypatch, tmp_path, error)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: out of memory loading a library (libtorch_cpu.so: failed to map segment "
        "from shared object): the address-space limit (ulimit -v) is 683 MB; raise it or "
        "give the command less to hold")


def test_running_out_of_memory_loading_the_commands_is_one_line(monkeypatch, capsys):
    # `ulimit -v 60000 tagsmith vocab V`: numpy, imported as the commands register
    # (before any command ran), ended in an ImportError traceback (libscipy_openblas
    # ...so: failed to map segment from shared object); under 150000 a MemoryError one
    import tagsmith.cli as tagsmith_cli

    def fail():
        try:
            raise ImportError("libscipy_openblas64_.so: failed to map segment from shared "
                              "object")
        except ImportError as exc:  # numpy's: its advice, 24 lines, in the error line
            raise ImportError("\n\nIMPORTANT: PLEASE READ THIS FOR ADVICE ON HOW TO SOLVE "
                              f"THIS ISSUE!\n\nOriginal error was: {exc}\n") from exc

    _memory_limit(monkeypatch, 58)
    monkeypatch.setattr(tagsmith_cli, "_register_commands", fail)
    with pytest.raises(SystemExit) as exited:
        tagsmith_cli.main(["vocab", "v.tsv"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "error: out of memory loading a library (libscipy_openblas64_.so: failed to map "
        "segment from shared object): the address-space limit (ulimit -v) is 58 MB; "
        "raise it or give the command less to hold")


def test_other_import_errors_keep_their_meaning(monkeypatch, tmp_path):
    from tagsmith.exceptions import MissingDependencyError

    missing = MissingDependencyError("rdflib", extra="skos", feature="reading SKOS")
    missing.__cause__ = ModuleNotFoundError("No module named 'rdflib'")
    result = _vocab_failing(monkeypatch, tmp_path, missing)
    assert result.exit_code == 5
    assert "needs the package 'rdflib'" in result.output
    broken = _vocab_failing(monkeypatch, tmp_path, ImportError("undefined symbol: x"))
    assert broken.exit_code == 1 and isinstance(broken.exception, ImportError)


@pytest.mark.parametrize("wrapped", [False, True, "numpy"],
                         ids=["import", "as-missing-package", "numpy's-advice"])
def test_a_library_on_a_noexec_file_system_is_not_out_of_memory(monkeypatch, tmp_path,
                                                                 wrapped):
    # the loader says "failed to map segment from shared object" of a library on a file
    # system mounted noexec (a venv or PYTHONPATH there) just as under `ulimit -v`:
    # 'zeroshot --index hnsw' with hnswlib's .so there said "error: out of memory
    # loading a library (...)", where nothing ran out
    from tagsmith.exceptions import MissingDependencyError

    library = str(tmp_path / "noexec" / "hnswlib.cpython-311-x86_64-linux-gnu.so")
    real_statvfs = os.statvfs

    def statvfs(path):
        result = real_statvfs(tmp_path)
        if os.fspath(path) != library:
            return real_statvfs(path)
        return os.statvfs_result((*result[:8], result.f_flag | os.ST_NOEXEC, *result[9:]))

    monkeypatch.setattr(os, "statvfs", statvfs)
    _memory_limit(monkeypatch, 683)  # not memory even where a limit is set
    cause = ImportError(f"{library}: failed to map segment from shared object",
                        name="hnswlib", path=library)
    error: Exception = cause
    if wrapped == "numpy":  # numpy on such a PYTHONPATH: its advice, the loader's words
        error = ImportError(f"IMPORTANT: PLEASE READ THIS\n\nOriginal error was: {cause}")
        error.__cause__ = cause
    elif wrapped:
        error = MissingDependencyError("hnswlib", extra="embed",
                                       feature="approximate nearest-neighbour search")
        error.__cause__ = cause
    result = _vocab_failing(monkeypatch, tmp_path, error)
    assert "out of memory" not in result.output
    if wrapped == "numpy":
        assert result.exit_code == 1 and result.exception is error
    elif wrapped:
        assert result.exit_code == 5
        assert "needs the package 'hnswlib'" in result.output
    else:
        assert result.exit_code == 1 and result.exception is cause


@pytest.mark.parametrize("wrapped", [False, True], ids=["import", "as-missing-package"])
def test_a_library_that_cannot_be_mapped_without_a_memory_limit_keeps_its_meaning(
        monkeypatch, tmp_path, wrapped):
    # the loader says "failed to map segment from shared object" of a library that
    # SELinux or fapolicyd will not let be mapped too: with no limit on the address space
    # (ulimit -v, ulimit -d) it read as "error: out of memory loading a library (...)"
    import resource

    from tagsmith.exceptions import MissingDependencyError

    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY,
                                                              resource.RLIM_INFINITY))
    cause = ImportError("/opt/venv/hnswlib.so: failed to map segment from shared object")
    error: Exception = cause
    if wrapped:
        error = MissingDependencyError("hnswlib", extra="embed",
                                       feature="approximate nearest-neighbour search")
        error.__cause__ = cause
    result = _vocab_failing(monkeypatch, tmp_path, error)
    assert "out of memory" not in result.output
    if wrapped:
        assert result.exit_code == 5
        assert "needs the package 'hnswlib'" in result.output
    else:
        assert result.exit_code == 1 and result.exception is cause


def test_a_data_size_limit_is_a_memory_limit_too(monkeypatch, tmp_path):
    # `ulimit -d` (RLIMIT_DATA) stops the loader mapping a library as `ulimit -v` does
    import resource

    def getrlimit(which):
        if which == resource.RLIMIT_DATA:
            return (500 * 2 ** 20, resource.RLIM_INFINITY)
        return (resource.RLIM_INFINITY, resource.RLIM_INFINITY)

    monkeypatch.setattr(resource, "getrlimit", getrlimit)
    error = ImportError("libtorch_cpu.so: failed to map segment from shared object")
    result = _vocab_failing(monkeypatch, tmp_path, error)
    assert result.exit_code == 1
    # the limit that is set named, as the address-space limit is (it named none)
    assert result.output.strip() == (
        "error: out of memory loading a library (libtorch_cpu.so: failed to map segment "
        "from shared object): the data-size limit (ulimit -d, RLIMIT_DATA) is 500 MB; "
        "raise it or give the command less to hold")


def test_the_default_embedding_cache_follows_xdg_cache_home(corpus, tmp_path):
    # numba's cache of the kernels went to $XDG_CACHE_HOME/numba, the label embeddings
    # to ~/.cache whatever it said: with a home that cannot be written, none was kept
    home, docs = _unwritable_home_and_docs(corpus, tmp_path)
    xdg = tmp_path / "xdg"
    result = tagsmith("zeroshot", corpus["vocab"], docs, "-k", "1",
                      env={"HOME": str(home), "XDG_CACHE_HOME": str(xdg)})
    assert result.returncode == 0, result.stderr
    # any case: logged since 8ba9d1e, the cache's warning reads "TIME WARNING no label
    # embedding cache: ...", which b"warning" alone no longer matched
    assert b"warning" not in result.stderr.lower(), result.stderr
    assert list((xdg / "tagsmith" / "embeddings").glob("labels-*.npz"))


def test_too_few_file_descriptors_is_the_environment_not_a_damaged_bundle(corpus, tmp_path):
    # `ulimit -n 12; tagsmith suggest BUNDLE doc.txt`: "error: BUNDLE: file thresholds.npz
    # cannot be read (Too many open files)", exit code 4, as if the bundle were damaged
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    tagsmith_cli._register_commands()
    # the bundle trained, and found sound, in this process: only the limited suggest
    # needs a process of its own
    bundle, doc = tmp_path / "model", tmp_path / "doc.txt"
    trained = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "train", str(corpus["train"]), "--vocab", str(corpus["vocab"]), "-o",
        str(bundle), "--feature-param", "char_ngrams=null", "--feature-param", "min_df=1"])
    assert trained.exit_code == 0, trained.output
    doc.write_text("kissa naukuu\n", encoding="utf-8")
    command = [sys.executable, "-m", "tagsmith", "suggest", str(bundle), str(doc)]
    result = subprocess.run(["sh", "-c", 'ulimit -n 12 && exec "$@"', "sh", *command],
                            capture_output=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stderr.decode().strip() == (
        "error: too many open files: the open-files limit (ulimit -n) is 12; raise it "
        "(ulimit -n 1024)")
    sound = CliRunner().invoke(tagsmith_cli.cli, ["suggest", str(bundle), str(doc)])
    assert sound.exit_code == 0, sound.output  # the bundle is sound


_SQLITE_WITHOUT_DESCRIPTORS = """
import os, resource, sys
from tagsmith.cli import _files_ran_out, _too_many_files
from tagsmith.labeling.cache import ResponseCache, check_cache_path
path = sys.argv[1]
ResponseCache(path).close()
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
for attempt in (lambda: check_cache_path(path), lambda: ResponseCache(path)):
    try:
        attempt()
        print("opened")
    except Exception as exc:
        print(type(exc).__name__, _files_ran_out(exc) is not None, _too_many_files(exc))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_NOFILE")
def test_an_llm_cache_sqlite_cannot_open_for_want_of_descriptors_is_the_limit(tmp_path):
    # SQLite says "unable to open database file" (no errno) where the process has no
    # descriptor left: the cache was called "not a usable SQLite cache" (exit code 3),
    # sending the user to a sound file, not to `ulimit -n`
    result = subprocess.run([sys.executable, "-c", _SQLITE_WITHOUT_DESCRIPTORS,
                             str(tmp_path / "cache.sqlite")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    line = ("DataError True too many open files: the open-files limit (ulimit -n) is 64; "
            "raise it (ulimit -n 1024)")
    assert result.stdout.splitlines() == [line, line], result.stdout


@pytest.mark.parametrize("code, says", [
    (errno.EMFILE, "too many open files: the open-files limit (ulimit -n) is 64; raise it "
                   "(ulimit -n 1024)"),
    (errno.ENFILE, "too many open files: the system's table of open files is full; close "
                   "files other programs hold, or raise the system's limit (fs.file-max)")])
@pytest.mark.parametrize("wrapped", [False, True])
def test_no_file_descriptor_left_is_one_line_however_it_is_raised(monkeypatch, tmp_path,
                                                                  code, says, wrapped):
    # a reader's own error (a corpus "cannot be read (Too many open files)", exit code
    # 3) or the bare OSError (a traceback): the line says what ran out
    import resource

    from tagsmith.exceptions import CorpusFormatError

    monkeypatch.setattr(resource, "getrlimit", lambda which: (64, 4096))
    cause = OSError(code, os.strerror(code), "v.tsv")
    error: Exception = cause
    if wrapped:
        error = CorpusFormatError(f"cannot be read ({cause.strerror})", path="v.tsv")
        error.__cause__ = cause
    result = _vocab_failing(monkeypatch, tmp_path, error)
    assert (result.exit_code, result.output.strip()) == (1, f"error: {says}")


@pytest.mark.skipif(not Path("/usr/bin/script").exists(), reason="needs script(1) for a tty")
@pytest.mark.parametrize("term", ["dumb", "xterm"])
def test_a_dumb_terminal_gets_progress_log_lines_not_bars(corpus, tmp_path, term):
    # `TERM=dumb tagsmith train ...` on a terminal drew tqdm's bars, redrawn with
    # carriage returns a dumb terminal cannot honour
    # a terminal of 100 columns (script's has none here, which gets the log lines too)
    command = (f"stty cols 100 rows 40; {sys.executable} -m tagsmith train "
               f"{corpus['train']} --vocab {corpus['vocab']} -o {tmp_path / 'model'} "
               "--feature-param char_ngrams=null --feature-param min_df=1")
    result = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True,
                            env={**os.environ, "TERM": term}, timeout=300)
    assert result.returncode == 0, result.stdout
    shown = result.stdout.decode(errors="replace")
    assert ("%|" in shown) == (term != "dumb"), shown  # tqdm's bar: "50%|#####     |"
    if term == "dumb":
        assert "INFO training labels: 4/4 labels (100%)" in shown


def test_a_closed_stdout_is_judged_by_the_parsed_command_not_its_words(corpus, tmp_path):
    # `tagsmith -q train C -o -h >&-`, a bundle named -h: the word -h was taken for
    # help, whose output is stdout's, and the run refused ("stdout: cannot be written
    # (it is closed ...)", exit code 3); the words are parsed as the command parses them
    import tagsmith as tagsmith_package

    result = tagsmith("-q", "train", corpus["train"], "--vocab", corpus["vocab"], "-o", "-h",
                      "--feature-param", "char_ngrams=null", "--feature-param", "min_df=1",
                      shell_redirect=">&-", cwd=tmp_path,
                      # this tagsmith, from another working folder
                      env={"PYTHONPATH": str(Path(tagsmith_package.__file__).parents[1])})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "-h" / "manifest.json").exists()
