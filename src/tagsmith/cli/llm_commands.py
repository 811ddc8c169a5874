"""LLM-assisted and zero-shot subcommands: taxonomy, label, distill, zeroshot."""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tagsmith._plural import and_more, none_of, plural, plural_s
from tagsmith._score import score_text, shown_score
from tagsmith.cli import (
    KILL_DEADLINE,
    VOCAB_FORMATS,
    LaterStopsIgnored,
    a_cache_dir,
    a_path,
    cli,
    finite_number,
    json_lines_as_json,
    language_code,
    load_selected_vocabulary,
    print_json,
    printable,
    tsv_field,
    vocab_selection,
    warn,
    warn_english_encoder,
    warn_unnamed_language,
)
from tagsmith.cli.commands import (
    ERROR_POLICY,
    LABEL_LIST_HELP,
    MOST_SPECIFIC_HELP,
    ON_ERROR_HELP,
    UNKNOWN_LABELS_HELP,
    _batches,
    _parse_params,
    _read_documents,
    allowed_by_options,
    check_document_files,
    documents_progress,
    input_ready,
    label_list,
    most_specific_closure,
    most_specific_ids,
    read_stdin_bytes,
    reads_stdin,
    record_training_files,
    refuse_csv_vocabulary,
    train_options_naming_params,
    warn_no_documents,
    warn_one_label_student,
)
from tagsmith.labeling import MAX_VOTES
from tagsmith.labeling.client import (
    LOAD_POLL,
    LOAD_WAIT,
    MAX_OUTPUT_TOKENS,
    MAX_PRICE,
    MAX_TIMEOUT,
)
from tagsmith.models import available_models

if TYPE_CHECKING:
    from tagsmith.exceptions import InvalidParameterError

#: a click command function (llm_options returns it with its options added)
_Command = TypeVar("_Command", bound=Callable[..., Any])

#: documents a zero-shot shortlist needs before they serve as their own background
#: (hubness correction), and the most it uses
MIN_BACKGROUND = 100
BACKGROUND_SAMPLE = 5000
#: label's and taxonomy's --cache: in the working folder
DEFAULT_LLM_CACHE = ".tagsmith-llm-cache.sqlite"



def _embedding_cache() -> str:
    """Where zero-shot label embeddings are cached by default: ``tagsmith/embeddings``
    in ``$XDG_CACHE_HOME`` where that is an absolute path (the XDG base directory rule,
    which numba's cache of tagsmith's kernels follows too), else in ``~/.cache``. It
    was always ``~/.cache``: a user whose home cannot be written and who points
    ``XDG_CACHE_HOME`` elsewhere got numba's cache there, but not this one."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "tagsmith", "embeddings")


#: the default ``--cache-dir`` of zeroshot, label and taxonomy
EMBEDDING_CACHE = _embedding_cache()


class _EnvOption(click.Option):
    """An option that may come from an environment variable and says so in --help
    (``show_envvar``) and when it is missing: "Missing option '--base-url' (env var:
    'TAGSMITH_LLM_BASE_URL')". A user who had not exported the variables was told only
    "Missing option '--base-url'". click 8.2 and later add the variable to the error
    themselves; 8.1 (still allowed) does not, so it is added here where it is absent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("show_envvar", True)
        super().__init__(*args, **kwargs)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = super().get_error_hint(ctx)
        if isinstance(self.envvar, str) and self.envvar not in hint:
            hint += f" (env var: '{self.envvar}')"
        return hint


def llm_options(func: _Command) -> _Command:
    """The options every command that calls an LLM shares."""
    options = [
        click.option("--base-url", cls=_EnvOption, envvar="TAGSMITH_LLM_BASE_URL",
                     required=True,
                     help="OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1."),
        click.option("--llm", "llm_model", cls=_EnvOption, envvar="TAGSMITH_LLM_MODEL",
                     required=True, help="Model name sent to the endpoint."),
        click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
                     help="Environment variable holding the API key (none sent if unset)."),
        click.option("--api-key-header", cls=_EnvOption,
                     envvar="TAGSMITH_LLM_API_KEY_HEADER", default=None, metavar="NAME",
                     help="HTTP header the API key is sent in, as it is, e.g. "
                     "Ocp-Apim-Subscription-Key for an Azure API Management gateway "
                     "(default: a bearer token, or Azure OpenAI's api-key header on its "
                     "hosts)."),
        click.option("--cache", default=DEFAULT_LLM_CACHE, show_default=True,
                     callback=a_path,
                     help="SQLite response cache: reruns and resumed runs cost nothing."),
        click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True,
                     help="Requests in flight at once."),
        click.option("--timeout", type=float, default=60.0, show_default=True,
                     help=f"Seconds per request (above 0, at most {MAX_TIMEOUT:g}); a try "
                     "after one that timed out waits twice as long."),
        click.option("--load-wait", type=float, default=LOAD_WAIT, show_default=True,
                     metavar="SECONDS",
                     help=f"Seconds a request goes on asking a server that says it is "
                     f"still loading its model (llama.cpp's HTTP 503 'Loading model'), "
                     f"at most every {LOAD_POLL:g} s, before those tries count against "
                     f"--max-retries (at most {MAX_TIMEOUT:g}; 0: they count at once)."),
        click.option("--max-retries", type=click.IntRange(min=0), default=5, show_default=True,
                     help="Tries after the first of a request that timed out, lost its "
                     "connection or got HTTP 408/409/425/429 or 5xx, with growing waits "
                     "(or the server's Retry-After); 0: one try. 3 tries in a row that "
                     "time out, with no reply from the server between them, stop the "
                     "run."),
        click.option("--max-tokens", type=click.IntRange(1, MAX_OUTPUT_TOKENS), default=None,
                     help="Output token limit each request asks for (max_tokens; default: "
                     "the server's own): raise it where answers are cut at the limit "
                     "(finish_reason 'length')."),
        click.option("--price-prompt", type=float, default=None,
                     callback=finite_number(0, MAX_PRICE),
                     # the cap as --help writes its other large limits (86400) and
                     # README and the library write this one: it read 1e+09 here
                     help=f"Price per million prompt tokens (for the cost shown; at most "
                     f"{MAX_PRICE}; 0 for a model served locally: without a price the cost "
                     "is unknown)."),
        click.option("--price-completion", type=float, default=None,
                     callback=finite_number(0, MAX_PRICE),
                     help=f"Price per million completion tokens (at most {MAX_PRICE})."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _client(base_url, llm_model, api_key_env, api_key_header, cache, concurrency, timeout,
            load_wait, max_retries, price_prompt, price_completion):
    """The LLM client of the options, checked (each value names its option) but with no
    cache yet: nothing is created or sent. :func:`_cached` adds the cache once every
    other check has passed and the work begins."""
    from tagsmith.exceptions import DataError
    from tagsmith.labeling.cache import check_cache_path
    from tagsmith.pipeline.llm import make_client

    client = make_client(base_url, llm_model, cache=None, api_key_env=api_key_env,
                         api_key_header=api_key_header,
                         timeout=timeout, load_wait=load_wait, max_retries=max_retries,
                         max_concurrency=concurrency, price_prompt=price_prompt,
                         price_completion=price_completion)
    try:  # a directory or no database: refused now, not once the work is done
        check_cache_path(cache)
    except DataError as exc:
        hint = ""
        if cache == DEFAULT_LLM_CACHE and exc.reason.endswith("is not writable"):
            # the default, in a read-only working folder: the user named no folder
            hint = " (the cache defaults to the working folder: give --cache a path elsewhere)"
        raise DataError(f"--cache: {exc.reason}{hint}", path=cache) from None
    return client


def _cached(client, cache, keep_refusals: bool = False):
    """``client`` with the response cache ``cache`` (its file created now) in front,
    keeping refusals too where ``keep_refusals`` (``label``'s)."""
    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import CachedClient

    # Ctrl-C lets the calls in flight end and store their answers (_wait_for_calls)
    return CachedClient(client, ResponseCache(cache), keep_refusals=keep_refusals,
                        finish_on_interrupt=True)


def _stopped(client, cache: str, exc: BaseException, *,
             dropped_as: str = "malformed", refusals_kept: bool = False) -> None:
    """What a run that failed or was stopped spent, and, stopped by Ctrl-C or
    ``kill`` (``exc`` a KeyboardInterrupt), how to resume: the user saw only the usage
    and "interrupted", not that the answers were kept nor what to do with them.

    Answers still being stored (another process holds the cache's lock) are waited for,
    saying so (the run hung silently up to the lock timeout after "interrupted", then
    claimed them kept though they were lost); Ctrl-C (again), or a second ``kill``,
    leaves them. They are waited for too when a failure stopped the run (it hung
    silently at exit), the answers lost counted then as well; a Ctrl-C (``kill``) that
    leaves them ends the run as every other does, with exit code 130 (143), not the
    failure's (6), after the failure's message (raised here, the KeyboardInterrupt
    caught). Once the answers are stored or left, further Ctrl-Cs are ignored until
    the closing lines are said: a third Ctrl-C during the short wait for the abandoned
    writes left before the usage and the answers lost were said. A further ``kill``
    ends the process there and then, without them (exit code 143).

    ``dropped_as``: what the answers dropped from the cache were (label's, malformed;
    taxonomy's, "malformed or rejected": a step whose answers broke its requirements
    even once repaired drops them too). ``refusals_kept``: whether the response cache
    keeps the refusals (label's does, a prose one as an answer; taxonomy's keeps none,
    dropping a prose one as it comes)."""
    from tagsmith.cli import Terminated

    interrupted = isinstance(exc, KeyboardInterrupt)
    # how to leave the answers, as the run was stopped: one stopped by ``kill`` was
    # told "Ctrl-C again", which a run under ``timeout`` or a scheduler has no way to do
    leave = ("stop it again (kill or Ctrl-C)" if isinstance(exc, Terminated)
             else "Ctrl-C again" if interrupted else "Ctrl-C")
    with LaterStopsIgnored() as stops:
        _say_stopped(client, cache, exc, leave, stops, dropped_as, refusals_kept)


def _say_stopped(client, cache: str, exc: BaseException, leave: str,
                 stops: LaterStopsIgnored, dropped_as: str = "malformed",
                 refusals_kept: bool = False) -> None:
    """:func:`_stopped` within its :class:`LaterStopsIgnored`."""
    from tagsmith.cli import Terminated, kill_deadline
    from tagsmith.exceptions import TagsmithError

    interrupted = isinstance(exc, KeyboardInterrupt)
    # kill (docker stop, a scheduler, a hang-up) may be followed by SIGKILL within
    # seconds: each wait ends by its share of one deadline from the kill (the waits
    # added up to 8 s, 3 s for the calls, up to 5 s for those aborted or 3 s for the
    # saves and 2 s for the writes left to give up), the rest left for the closing lines
    deadline = kill_deadline() if isinstance(exc, Terminated) else None
    if interrupted:
        _wait_for_calls(client, leave, stops, until=_share(deadline, KILL_CALLS_LEFT),
                        abort_until=_share(deadline, KILL_ABORTED_LEFT))
    stop = _wait_for_saves(client, cache, leave=leave, stops=stops,
                           until=_share(deadline, KILL_SAVES_LEFT),
                           give_up_until=_share(deadline, KILL_CLOSING))
    click.echo(f"LLM usage: {client.usage.summary(flags=True)}", err=True)
    unsaved = getattr(client, "n_unsaved", 0)
    if unsaved:
        click.echo(f"{unsaved} answer{plural_s(unsaved)} received could not be saved in "
                   f"the response cache {printable(cache)} and {plural(unsaved, 'is', 'are')} "
                   f"lost: a rerun pays for {plural(unsaved, 'it', 'them')} again", err=True)
    if stop is not None and not interrupted:
        # the user stopped the wait that followed a failure: the run ended with the
        # failure's exit code (6), as though the answers had been waited for; the
        # failure's message, which the interrupt replaces, is said here
        message = str(exc) if isinstance(exc, TagsmithError) \
            else f"{type(exc).__name__}: {exc}"
        click.secho(f"error: {printable(message, keep_layout=True)}", fg="red", err=True)
        raise stop from exc
    usage = client.usage
    # the refusals received, not answered calls in the usage: label's cache keeps them
    # (a run stopped after prose refusals alone said nothing of resuming); taxonomy's
    # keeps none, and drops a prose one as it comes (counted in n_dropped: it made the
    # answers kept "malformed or rejected", not kept)
    refused = getattr(usage, "n_refused", 0)
    kept_refusals = refused if refusals_kept else 0
    if not interrupted or not (usage.n_requests or usage.n_cached or kept_refusals):
        return  # (stopped before any answer came: there is nothing to resume from)
    if getattr(client, "write_failed", False):  # a warning said why, when it happened
        click.echo("to resume, run the same command again: the response cache could not "
                   "be written, so it asks again for the answers of this run that it "
                   "does not hold", err=True)
        return
    # (beside a lost one, "the answers received so far are kept" claimed it kept too;
    # and so it claimed the malformed ones, dropped from the cache as they came)
    dropped = getattr(client, "n_dropped", 0)
    refused_dropped = 0 if refusals_kept else min(getattr(usage, "n_prose_refused", 0),
                                                  dropped)
    malformed = dropped - refused_dropped
    if refused_dropped:  # "malformed or rejected" -> "malformed, rejected or refused"
        dropped_as = (", ".join(dropped_as.rsplit(" or ", 1)) + " or refused"
                      if malformed else "refused")
    if dropped and malformed >= usage.n_requests + kept_refusals - unsaved \
            and not usage.n_cached:
        # (beside lost ones, "the answers received were malformed" counted them too)
        answers = ("other " if unsaved else "") + plural(dropped, "answer", "answers")
        click.echo(f"to resume, run the same command again: the {answers} received "
                   f"{plural(dropped, 'was', 'were')} {dropped_as} and "
                   f"{plural(dropped, 'is', 'are')} not kept in the response cache "
                   f"{printable(cache)}: a rerun asks for {plural(dropped, 'it', 'them')} "
                   "again", err=True)
        return
    but = (f", but for {dropped} {dropped_as} {plural(dropped, 'one', 'ones')}, dropped "
           f"from it: a rerun asks for {plural(dropped, 'it', 'them')} again"
           if dropped else "")
    click.echo(f"to resume, run the same command again: the {'other ' if unsaved else ''}"
               f"answers received so far are kept in the response cache {printable(cache)} "
               f"and are not paid for again{but}", err=True)


#: seconds a stopped run waits quietly for its answers to be stored before saying so
SAVE_GRACE = 1.0
#: seconds of each slice of a stopped run's wait for its calls or writes, after which a
#: further stop is looked for
STOP_POLL = 0.1
#: seconds a run stopped by ``kill`` (SIGTERM, SIGHUP) waits for its calls in flight
#: before abandoning them: it waited up to --timeout (60 s), and ``docker stop`` kills
#: after 10 s, before the usage and "to resume" lines were said. The waits of such a
#: run end by shares of one deadline, :data:`tagsmith.cli.KILL_DEADLINE` (5 s) after
#: the kill: the calls with this many seconds of it left (3 s after the kill), the
#: calls then aborted with :data:`KILL_ABORTED_LEFT` left, the answers waiting for the
#: cache's lock with :data:`KILL_SAVES_LEFT`, the writes then left giving up with
#: :data:`KILL_CLOSING`, which the closing lines and the exit have
KILL_CALLS_LEFT = 2.0
KILL_ABORTED_LEFT = 1.5
KILL_SAVES_LEFT = 1.0
KILL_CLOSING = 0.5
#: seconds a run stopped by ``kill`` waits for its calls in flight, from the kill
KILL_GRACE = KILL_DEADLINE - KILL_CALLS_LEFT


def _share(deadline: float | None, left: float) -> float | None:
    """When a wait with ``left`` seconds of ``deadline`` left ends (None: no deadline)."""
    return None if deadline is None else deadline - left


def _seconds_to(until: float) -> float:
    """Seconds from now to ``until`` (``time.monotonic``), 0 once past."""
    import time

    return max(0.0, until - time.monotonic())


def _wait_for_calls(client, leave: str, stops: LaterStopsIgnored,
                    until: float | None = None, abort_until: float | None = None) -> None:
    """Let the calls in flight when the run was stopped (Ctrl-C, ``kill``) end and
    store their answers, saying so: they were abandoned, and an endpoint that had read
    them billed them while the rerun asked them again. Each ends with the try under way
    (no retry), by the client's timeout at the latest. Ctrl-C again (``kill`` again for
    a run ``kill`` stopped) abandons them, as the first did before (counted as
    interrupted); a further one then leaves the answers waiting to be stored
    (:func:`_wait_for_saves`). ``until``: when (``time.monotonic``) they stop being
    waited for (a run stopped by ``kill``: :data:`KILL_GRACE` after it), after which
    they are abandoned so too; None: as long as they take. ``abort_until``: when the
    wait for the calls then aborted ends (None: :data:`ABORT_GRACE` after the abort)."""

    from tagsmith.labeling.client import ABORT_GRACE, _abort, _wrapped_with

    wait = getattr(client, "wait_for_calls", None)
    if not callable(wait):
        return

    def aborted_wait() -> float:  # the wait for the calls aborted, as it begins
        return ABORT_GRACE if abort_until is None else _seconds_to(abort_until)
    try:  # from here: a Ctrl-C just after the line (a loaded machine) escaped the wait
        n = client.calls_in_flight
        if not n:
            return
        # how long: each call ends by the client's timeout (--timeout; twice it for a
        # try after one that timed out) at the latest; the line said nothing of it, and
        # a slow model's wait looked like a hang
        timed = _wrapped_with(client, "timeout")
        longest = getattr(timed, "longest_try", None) if timed is not None else None
        longest = longest if isinstance(longest, (int, float)) else getattr(
            timed, "timeout", None)
        grace = None if until is None else _seconds_to(until)
        if grace is not None and (longest is None or grace < longest):
            within = (f", up to {round(grace, 1):g} s (stopped by kill: then abandoned, as "
                      "docker stop and schedulers end a run for good soon after)")
        else:
            within = f", up to {longest:g} s" if longest is not None else ""
        click.echo(f"waiting for {n} call{plural_s(n)} in flight{within}; {leave} to "
                   f"abandon {plural(n, 'it', 'them')}", err=True)
        # in slices: a Ctrl-C the kernel hands to another thread wakes no endless wait
        # of the main thread's (it was taken once a call ended, by its timeout)
        while not wait(STOP_POLL if until is None else min(STOP_POLL, _seconds_to(until))):
            if until is not None and not _seconds_to(until):
                if _abort(client):  # counted as interrupted by the usage said next
                    wait(aborted_wait())
                break
    except KeyboardInterrupt:
        if _abort(client):
            wait(aborted_wait())  # counted as interrupted by the usage said next
        stops.deaf = False  # a further stop leaves the answers waiting to be stored


def _wait_for_saves(client, cache: str, *, leave: str = "Ctrl-C again",
                    stops: LaterStopsIgnored | None = None,
                    until: float | None = None,
                    give_up_until: float | None = None) -> KeyboardInterrupt | None:
    """Let the answers being stored reach the cache before the run ends (the worker
    threads are waited for at exit anyway), saying so when that takes a while: another
    process holds the cache's lock. A second Ctrl-C leaves them (they are then counted
    as unsaved), also one before that line (Ctrl-C twice in quick succession escaped
    the quiet wait, and the run hung silently at exit up to the lock timeout); so does a
    second ``kill``. ``leave``: what the line says leaves them ("Ctrl-C again" after
    Ctrl-C, "Ctrl-C" after a failure, "stop it again ..." after ``kill``). Returns
    the KeyboardInterrupt (:class:`~tagsmith.cli.Terminated` for ``kill``) that left
    them, ``None`` when none did. ``stops``: the caller's :class:`LaterStopsIgnored`,
    deafened once the answers are stored or left (its handler deafens it as it raises
    the stop that leaves them). ``until``: when (``time.monotonic``) they stop being
    waited for (a run stopped by ``kill``: :data:`KILL_SAVES_LEFT` before its deadline;
    it waited up to the lock timeout, 60 s), after which they are left so too; None: up
    to the lock timeout. ``give_up_until``: when the wait for the writes left to give
    up ends (None: at their next try's end, a second or two)."""
    wait = getattr(client, "wait_for_writes", None)
    if not callable(wait):
        if stops is not None:
            stops.deafen()
        return None
    from tagsmith.labeling import cache as cache_module

    grace = None if until is None else _seconds_to(until)
    # each left write gives up at its next try
    give_up = 10 * cache_module.WRITE_POLL + 1

    def given_up_wait() -> float:
        return give_up if give_up_until is None else min(give_up,
                                                         _seconds_to(give_up_until))

    try:
        # quietly a moment first; after a kill, half the time left at most, the line
        # then saying the rest (it said "up to 0.1 s" once the quiet second had passed)
        if wait(SAVE_GRACE if grace is None else min(SAVE_GRACE, grace / 2)):
            if stops is not None:
                stops.deafen()
            return None
        pending = client.writes_in_flight
        left = None if until is None else _seconds_to(until)
        within = (f"{cache_module.LOCK_TIMEOUT:g} s" if left is None
                  or left >= cache_module.LOCK_TIMEOUT else
                  f"{round(left, 1):g} s (stopped by kill: then left, as docker stop and "
                  "schedulers end a run for good soon after)")
        click.echo(f"saving {pending} answer{plural_s(pending)} to {printable(cache)}: it "
                   f"is locked by another process, waiting up to {within}; {leave} to "
                   "leave them", err=True)
        # in slices, as in _wait_for_calls
        while not wait(STOP_POLL if until is None else min(STOP_POLL, _seconds_to(until))):
            if until is not None and not _seconds_to(until):
                client.abandon_writes()  # counted as unsaved, said next
                wait(given_up_wait())
                break
    except KeyboardInterrupt as stop:
        client.abandon_writes()
        wait(given_up_wait())
        return stop
    if stops is not None:
        stops.deafen()
    return None


def _check_cache_apart(cache: str, **written: str | None) -> None:
    """Refuse a ``--cache`` that is a file the command writes, or lies inside one (a
    bundle folder): ``written`` maps option names (``output``, ``student``) to paths.
    The output was written over the cache, losing the answers paid for, while SQLite's
    write-ahead log beside it went on serving them and would write its pages into the
    output at its next checkpoint."""
    from pathlib import Path

    where = Path(os.path.realpath(cache))  # not resolve(): see same_file
    for name, path in written.items():
        resolved = Path(os.path.realpath(path)) if path else None
        if resolved is not None and (resolved == where or resolved in where.parents):
            raise click.BadParameter(f"must differ from --{name} (and not lie inside it)",
                                     param_hint="--cache")


def _check_not_input(option: str, path: str | None, **inputs: str | None) -> None:
    """Refuse an output file ``path`` that is one of the command's ``inputs`` (option
    name -> path): it was read, the LLM paid, and the input then replaced by the output
    (a corpus by its labels, cut to --budget or --limit documents; a --map-to
    vocabulary by the generated one)."""
    if not path:
        return
    from tagsmith.data.textio import same_file

    for name, source in inputs.items():
        if source and same_file(path, source):
            raise click.BadParameter(f"must differ from {name}, an input it would replace",
                                     param_hint=option)


def _check_output_file(path: str | None, option: str) -> None:
    """Fail before any work (and any LLM call) when ``path`` cannot be written as a file:
    an existing directory, a path below a file, a read-only folder. A missing folder
    is created when the file is written, as everywhere else."""
    if not path:
        return
    from pathlib import Path

    from tagsmith.data.textio import check_writable
    from tagsmith.exceptions import DataError

    target = Path(path)
    try:
        check_writable(target)
    except DataError as exc:
        raise DataError(f"{option}: {exc.reason}", path=path) from None
    folder = next(p for p in target.parents if p.exists())
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists()
                                                     and not os.access(target, os.W_OK)):
        raise DataError(f"{option}: not writable", path=path)


def _check_label_output(path: str) -> None:
    """Refuse, before any call, an existing ``label`` output that no ``label`` run wrote
    (a file of the user's own named ``labels.jsonl``): it was replaced with no word,
    where every other command replaces only its own output without ``--force``. A
    rerun's own earlier output is replaced, as before."""
    from tagsmith.exceptions import DataError
    from tagsmith.pipeline.llm import is_soft_labels_file

    # (a pipe or a device never gets here: _check_output_file refuses it, --force or not)
    if not is_soft_labels_file(path):
        raise DataError("-o/--output: is a file label did not write (its first line is not "
                        'a label output\'s {"id": ..., "text": ..., "labels": [...], '
                        '"scores": [...]}); refusing to replace it (move it away, write to '
                        "another file, or pass --force to replace it)", path=path)


def _check_jsonl_name(path: str) -> None:
    """Refuse, before any call, a ``label`` output not named as JSONL: the lines are
    JSONL whatever the name, and every reader takes a file's format from its suffix
    (``distill labels.tsv`` read each line as a text with no label, after the LLM had
    been paid): named as the corpus readers tell JSONL (``detect_format``)."""
    from tagsmith.data.readers import detect_format
    from tagsmith.exceptions import DataError

    try:
        jsonl = detect_format(path) == "jsonl"
    except DataError:  # no corpus suffix (a folder of that name is no JSONL either)
        jsonl = False
    if not jsonl:
        raise click.BadParameter(
            f"{printable(path)} is not named as JSONL: label writes JSONL lines, and "
            "distill, train and eval read a file by its suffix: name it .jsonl (or "
            ".ndjson, optionally .gz)", param_hint="-o/--output")


def _read_texts(path: str, vocab_option: str = "--vocab", *, review_done_ok: bool = False
                ) -> tuple[list[str], list[str]]:
    """(ids, texts) of a corpus file (labels ignored), or of a plain text file, one per line.
    A vocabulary given as the corpus is refused, as eval, calibrate and audit refuse one:
    label and taxonomy sent its URIs to the LLM, paying for each. ``vocab_option``: the
    command's option that takes a vocabulary, which the refusal names.
    ``review_done_ok``: an audit's review leaving no document to ask about (every row
    decided by a person, or no row) gives none, with a warning, where it was refused
    (label's: its empty output decides nothing, as the review needs)."""
    from tagsmith.data.corpus import detect_format, read_records
    from tagsmith.data.readers import (
        NoTextColumnError,
        check_not_a_vocabulary,
        refuse_all_blank,
    )
    from tagsmith.exceptions import CorpusFormatError, UnsupportedFormatError

    try:
        detect_format(path)
    except UnsupportedFormatError:
        # a plain text file: _read_documents refuses a vocabulary before reading it
        # whole (check_document_files reads it up to its first text not a lone URI)
        pairs = list(_read_documents((path,), whole_file=False,
                                     vocab_option=vocab_option))
        ids, texts = [doc_id for doc_id, _ in pairs], [text for _, text in pairs]
    else:
        from tagsmith.audit.review import is_review_file, review_documents

        if is_review_file(path):
            # an audit's review (label audit/review.csv, then apply-review --decide-from):
            # each flagged document once, under the audit's id (its rows were written as
            # review.csv:2, review.csv:3, ..., joining no corpus), its text as the
            # corpus has it (the ' protecting a formula-like text from a spreadsheet
            # reached the LLM)
            import logging

            from tagsmith.exceptions import ReviewFormatError

            counts: dict[str, int] = {}
            try:
                documents = review_documents(path, counts=counts)
            except ReviewFormatError as exc:
                # a corpus whose columns are named as a review's failed on a cell of
                # it ("doc_key must be the 16 hexadecimal digits the audit wrote")
                # without a word of why an audit's rules applied to it
                raise ReviewFormatError(
                    f"{exc.reason} (read as an audit's review: its header names the "
                    "review's decision, kind, label_uri, doc, doc_key and text)",
                    path=exc.path, line=exc.line) from None
            logging.getLogger("tagsmith").info(
                "%s is an audit's review: the %s document%s it flags asked about, each "
                "once, under its doc_id", printable(path), f"{len(documents):,}",
                plural_s(len(documents)))
            n_decided = counts["n_decided_documents"]
            if n_decided:
                # apply-review --decide-from decides only the rows left undecided: the
                # answers for these decided nothing, and each was a call paid for
                logging.getLogger("tagsmith").warning(
                    "%s: %s document%s whose every row has a decision (a person's) not "
                    "asked about: apply-review --decide-from decides only the rows left "
                    "undecided", printable(path), f"{n_decided:,}", plural_s(n_decided))
            if not documents and not review_done_ok and n_decided:
                raise ReviewFormatError(
                    "every row has a decision: no document left for the LLM to "
                    "decide (apply-review reads the decisions as they are)", path=path)
            if not documents and review_done_ok:
                why = ("every row has a decision" if n_decided else
                       "it has no rows (the audit flagged nothing)")
                # a monthly cycle scripted (audit, label, apply-review --decide-from)
                # stopped here with exit code 3 on a month a person decided in full
                logging.getLogger("tagsmith").warning(
                    "%s: %s: no document left for the LLM to decide; apply-review "
                    "--decide-from reads the empty output as deciding no row (and the "
                    "review's decisions as they are)", printable(path), why)
                return [], []
            ids = [doc_id or f"{path}:{line}" for doc_id, _, line in documents]
            texts = [text for _, text, _ in documents]
        else:
            try:
                records = list(read_records(path))
            except NoTextColumnError as exc:  # a CSV vocabulary's header, or none
                refuse_csv_vocabulary(exc, path, vocab_option)
            ids = [r.doc_id or f"{path}:{r.line}" for r in records]
            texts = [r.text for r in records]
        check_not_a_vocabulary(texts, path, vocab_option=vocab_option,
                               labelled=False)  # CORPUS's labels are ignored
    if not texts:
        raise CorpusFormatError("no documents in the file", path=path)
    # (a CSV or JSONL corpus: blank lines of a text file are no documents) label sent no
    # request and failed as an LLM error (exit code 6), taxonomy named a parameter 'texts'
    # (exit code 2)
    refuse_all_blank(texts, path, "ask the LLM about", error=CorpusFormatError)
    return ids, texts


#: the help of ``tagsmith taxonomy``
TAXONOMY_HELP = """Generate a label taxonomy from the texts of CORPUS with an LLM (TnT-LLM phase 1).

CORPUS is any corpus file (labels ignored) or a text file with one document per line
(not stdin: '-' is refused, as it is by every file or folder option).
"""


@cli.command(short_help="Generate a label taxonomy of CORPUS with an LLM.", help=TAXONOMY_HELP)
@vocab_selection(param="map_to", option="--map-to")
@click.argument("corpus", callback=a_path)
@click.option("--use-case", required=True, help="What the labels are for, in a sentence.")
@click.option("-o", "--output", required=True, callback=a_path,
              help="Vocabulary to write (.csv or .tsv).")
@click.option("--skos", callback=a_path,
              help="Also write the taxonomy as SKOS Turtle to this .ttl path.")
@click.option("--max-labels", type=click.IntRange(min=1), default=25, show_default=True,
              help="Most labels of the taxonomy (asked of the LLM; any beyond are dropped).")
@click.option("--name-words", type=click.IntRange(min=1), default=5, show_default=True,
              help="Most words of a label name (asked of the LLM; a longer name is dropped).")
@click.option("--description-words", type=click.IntRange(min=1), default=30, show_default=True,
              help="Most words of a label description (asked of the LLM; a longer one is "
              "cut).")
@click.option("--sample", type=click.IntRange(min=1), default=200, show_default=True,
              help="Documents sampled for the taxonomy.")
@click.option("--minibatch", type=click.IntRange(min=1), default=50, show_default=True,
              help="Summaries per generate/update call.")
@click.option("--no-summaries", is_flag=True, help="Use (cut) texts instead of summaries.")
@click.option("--base-uri", default="urn:tagsmith:taxonomy:", show_default=True,
              help="Prefix of the label URIs: each label's URI is it followed by a slug of "
              "its name.")
@click.option("--map-to", callback=a_path,
              help=f"Existing vocabulary ({VOCAB_FORMATS}) to map the generated "
              "labels onto: each label's best match is printed, in the JSON summary's "
              "mapping, in the CSV's closematch column and as --skos skos:closeMatch (a "
              ".tsv output keeps none).")
@click.option("--map-by", type=click.Choice(["spelling", "meaning"]), default="spelling",
              show_default=True, help="How --map-to matches. spelling: cosine of character "
              "n-gram TF-IDF of the names (the vocabulary's alternative labels too; "
              "fast; 'Refund requests' meets 'Refund request', 'Dogs' never meets "
              "'Canines'). meaning: embedding cosine of each generated "
              "name and description against the vocabulary's names, alternative labels and "
              "descriptions with the packaged all-MiniLM-L6-v2, as zeroshot (needs "
              "tagsmith[embed]; 'Dogs' meets 'Canines'; minutes for thousands of labels).")
@click.option("--min-similarity", type=float, default=0.5, show_default=True,
              callback=finite_number(-1, 1), help="Least similarity of a --map-to match; a "
              "label whose best is below it gets no match. The scales differ: by spelling "
              "the same name is 1.0 and names sharing a word about 0.5-0.8; by meaning the "
              "same name is about 0.8-0.9, synonyms 0.5-0.9, and in a vocabulary of thousands "
              "of concepts an unrelated label still finds a neighbour near 0.6 (there, try "
              "0.7).")
@click.option("--cache-dir", default=EMBEDDING_CACHE,
              show_default=True, callback=a_cache_dir,
              help="Where --map-by meaning caches the vocabulary's label "
              "embeddings, as zeroshot does, so a rerun does not embed it again ('' for no "
              "cache); not --cache, the LLM's response cache.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the --sample drawn and of the order of the minibatches.")
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language tag of the label names and descriptions: the LLM is asked "
              "to write them in it, the files tag them with it (label_de, @de) and "
              "--map-to matches them on the vocabulary's names in it.")
@click.option("--extend", callback=a_path, metavar="VOCAB",
              help=f"Extend this vocabulary (last month's taxonomy; {VOCAB_FORMATS}) "
              "instead of starting from nothing: its labels are given to every update "
              "step as labels in use and written first, as they are (same URIs, names and "
              "descriptions; an LLM's rename, merge, drop or rewrite of one is refused and "
              "reported, but for what --accept-edits accepts), then the new labels, with "
              "new URIs from --base-uri; "
              "--max-labels counts both (not VOCAB's deprecated labels, kept but never "
              "offered). -o may be VOCAB itself: it is replaced only once "
              "the run succeeded. Default: none (a new taxonomy).")
@click.option("--accept-edits", is_flag=True,
              help="With --extend: accept the LLM's respellings (case, spacing, "
              "punctuation, plural) and new descriptions of labels in use instead of "
              "refusing them; the label keeps its URI, its old name is kept as an "
              "alternative name (altLabel), and each edit is listed in the JSON summary's "
              "extend.accepted_edits. A label left out or renamed to another name is kept "
              "as it was all the same. Default: off (every edit refused).")
@llm_options
@click.pass_obj
def taxonomy(obj, corpus, use_case, output, skos, max_labels, name_words, description_words,
             sample, minibatch, no_summaries, base_uri, map_to, map_by, min_similarity,
             cache_dir, seed, lang, extend, accept_edits, **llm):
    from tagsmith.cli import refuse_unused
    from tagsmith.labeling.taxonomy import TaxonomyOptions
    from tagsmith.pipeline.llm import run_taxonomy

    refuse_unused("--map-to", bool(map_to), "map_by", "min_similarity")
    refuse_unused("--extend", bool(extend), "accept_edits")
    refuse_unused("--map-by meaning", map_by == "meaning", "cache_dir")
    options = TaxonomyOptions(use_case=use_case, max_labels=max_labels, name_words=name_words,
                              description_words=description_words, sample_size=sample,
                              minibatch_size=minibatch, summarise=not no_summaries, seed=seed,
                              n_workers=llm["concurrency"], show_progress=not obj["quiet"],
                              max_tokens=llm.pop("max_tokens"), lang=lang)
    options.validate()
    inner = _client(**llm)  # before the corpus is read
    _check_output_file(output, "--output")
    from tagsmith.data.vocab import detect_format
    from tagsmith.exceptions import UnsupportedFormatError

    try:
        written_as = detect_format(output)
    except UnsupportedFormatError:  # its message lists the SKOS suffixes -o refuses too
        written_as = None
    if written_as not in ("csv", "tsv"):  # run_taxonomy's message names its skos= argument
        raise click.BadParameter("a .csv or .tsv vocabulary (--skos FILE.ttl adds Turtle)",
                                 param_hint="-o/--output")
    if written_as == "tsv":  # up front, before anything is paid for
        # the --map-to matches too: the CSV's closematch column and SKOS closeMatch
        # hold them, a TSV has no place for them (its third column is the notation)
        if not skos:
            lost = "the descriptions the LLM writes" + (" and the --map-to matches"
                                                        if map_to else "")
            where = "a .csv or --skos FILE.ttl keeps them" + (
                "; the matches are in the JSON summary too" if map_to else "")
            warn(f"{output}: a TSV vocabulary holds the label names only: {lost} are not "
                 f"kept there ({where})")
        elif map_to:
            warn(f"{output}: a TSV vocabulary holds the label names only: the descriptions "
                 f"and the --map-to matches are in {skos} alone (the matches in the JSON "
                 "summary too)")
        else:
            warn(f"{output}: a TSV vocabulary holds the label names only: the descriptions "
                 f"are in {skos} alone")
    _check_output_file(skos, "--skos")
    for option, path in (("-o/--output", output), ("--skos", skos)):
        _check_not_input(option, path, CORPUS=corpus, **{"--map-to": map_to})
    if skos and os.path.abspath(skos) == os.path.abspath(output):
        raise click.BadParameter("must differ from --output", param_hint="--skos")
    _check_cache_apart(llm["cache"], output=output, skos=skos)
    from tagsmith.pipeline.llm import check_base_uri

    check_base_uri(base_uri, "--base-uri")  # every label's URI starts with it
    if skos:
        import importlib.util

        from tagsmith.exceptions import MissingDependencyError
        from tagsmith.pipeline.llm import check_turtle_path

        check_turtle_path(skos, "--skos")  # before any call, not after the last

        if importlib.util.find_spec("rdflib") is None:
            raise MissingDependencyError("rdflib", extra="skos",
                                         feature="writing SKOS vocabularies (--skos)")
    target, encoder = None, None
    if map_to:
        # TSV names (no language tag) are in --lang, as label and zeroshot read VOCAB:
        # a German TSV under --lang de was read as English and warned it had no German
        target = load_selected_vocabulary(map_to, language=lang)
        if len(target) and target.deprecated_mask.all():
            # nothing to match onto: refused before any call, as zeroshot refuses it
            from tagsmith.exceptions import VocabularyError

            raise VocabularyError("--map-to: every label is deprecated, and a deprecated "
                                  "label is never a match: mark the labels to map onto as "
                                  "not deprecated", path=map_to)
    extended = None
    if extend:
        from tagsmith.data.vocab import load_vocabulary
        from tagsmith.exceptions import VocabularyError

        # TSV names (no language tag) are in --lang, as --map-to reads them
        extended = load_vocabulary(extend, language=lang)
        n_live = int((~extended.deprecated_mask).sum())
        if not n_live:
            raise VocabularyError("--extend: every label is deprecated: no label in use "
                                  "to extend", path=extend)
        from tagsmith.data.labelspace import names_instead, unnamed_in

        named = unnamed_in((label for label, dead in zip(
            extended, extended.deprecated_mask, strict=True) if not dead), lang)
        if named:  # a mistyped --lang, or last month's in another: said before any call
            warn(f"{extend}: no label in use has a name in language {lang!r} (--lang): "
                 f"{names_instead(named, 'shown to the LLM')}, and no description, while "
                 f"the new labels are asked in {lang!r}; give --lang as {extend} names "
                 "its labels")
        if n_live >= max_labels:  # before any call: no room for a new label
            raise click.BadParameter(
                f"{max_labels} leaves no room for a new label: --extend {extend} has "
                f"{n_live:,} label{plural_s(n_live)} in use, counted with the new ones "
                f"(give at least {n_live + 1})", param_hint="--max-labels")
    ids, texts = _read_texts(corpus, "--map-to")
    if map_by == "meaning" and target is not None:
        # as zeroshot loads it, and before any call: a missing tagsmith[embed] or model
        # failed once the taxonomy had been paid for
        from tagsmith.zeroshot.encoder import SentenceEncoder

        if cache_dir:
            cache_dir = _check_cache_dir(cache_dir)
        # as zeroshot does: the packaged encoder matches German names little better than
        # chance, and --lang de said nothing of it
        warn_english_encoder(target, lang)
        encoder = SentenceEncoder(feature="taxonomy --map-by meaning")
    client = _cached(inner, llm["cache"])  # every check passed: the cache file may appear
    try:
        space, report = run_taxonomy(texts, client, options, output, skos=skos,
                                     base_uri=base_uri, map_to=target, encoder=encoder,
                                     cache_dir=(cache_dir or None) if encoder else None,
                                     min_similarity=min_similarity, doc_ids=ids,
                                     lang=lang, extend=extended, accept_edits=accept_edits)
    except BaseException as exc:  # what was spent, also when the run failed or was stopped
        _stopped(client, llm["cache"], exc, dropped_as="malformed or rejected")
        raise
    finally:  # closed here, as label closes it: main freezes what is left at exit
        client.close()
    if not obj["quiet"]:  # -q: the JSON summary below has the usage (counted, kept)
        click.echo(f"LLM usage: {client.usage.summary(flags=True)}", err=True)
    from tagsmith.data.labelspace import in_language

    n_kept = 0 if extended is None else len(extended)
    # a deprecated label is kept but counted by no --max-labels (no step is shown it,
    # label offers it to no document): "taxonomy of 21 labels" under --max-labels 20
    # read as the limit broken
    n_retired = 0 if extended is None else int(extended.deprecated_mask.sum())
    click.echo(f"taxonomy of {len(space):,} label{plural_s(len(space))} -> {printable(output)}"
               + (f" and {printable(skos)}" if skos else "")
               + ("" if extended is None else
                  f" ({n_kept:,} kept from {printable(extend)}"
                  + (f", {n_retired:,} of them deprecated (not counted by --max-labels)"
                     if n_retired else "")
                  + f", {len(space) - n_kept:,} new, marked +)"))
    for i in range(len(space)):
        # or a variant's, as name_of: an en-GB vocabulary extended under --lang en
        # printed its labels in use undescribed
        description = in_language(space[i].description, lang) or ""  # "" under --lang de
        mark = "" if extended is None else ("+ " if i >= n_kept else "  ")
        retired = " (deprecated)" if i < n_kept and space.deprecated_mask[i] else ""
        click.echo(f"  {mark}{printable(space.name_of(i, lang))}{retired}: "
                   f"{printable(description)}")
    if target is not None:
        # in the JSON summary too (the lines below were the mapping's only record, for a
        # reader to parse back out of prose), and in the files written
        # a name several labels of --map-to share (ICD-10's J18 and J18.9, "Pneumonia,
        # unspecified organism") named no one of them: its URI is shown beside it
        names = Counter(" ".join(target.name_of(i, lang).split()).casefold()
                        for i in range(len(target)))
        for match in report["mapping"]:
            if match.get("kept"):  # last month's, hundreds of lines; the new ones said
                continue
            shown = _shown_similarity(match["similarity"], min_similarity,
                                      match["match_uri"] is not None)
            if match["match_uri"] is None:  # the best was under the threshold: unnamed
                click.echo(f"  map {match['label']!r} -> no match (best similarity {shown})")
            else:
                shared = names[" ".join(match["match_label"].split()).casefold()] > 1
                uri = f" <{printable(match['match_uri'])}>" if shared else ""
                click.echo(f"  map {match['label']!r} -> {match['match_label']!r}{uri} "
                           f"({shown})")
        if n_kept:
            n_matched = sum(match["match_uri"] is not None
                            for match in report["mapping"] if match.get("kept"))
            click.echo(f"  (the {n_kept:,} label{plural_s(n_kept)} kept from "
                       f"{printable(extend)}: mapped "
                       f"too, {n_matched:,} with a match, in the files and the JSON "
                       "summary's mapping, not shown here)")
    cleaned = {key: value for key, value in report["cleaned"].items() if value}
    if not obj["quiet"]:
        repaired, rejected = report["repaired_answers"], report["rejected_steps"]
        refused = report["refused_steps"]
        click.echo(f"changes: {repaired} answer{plural_s(repaired)} sent back for repair, "
                   f"{rejected} step{plural_s(rejected)} rejected (previous table kept), "
                   + (f"{refused} step{plural_s(refused)} refused by the model or a content "
                      "filter (previous table kept), " if refused else "")
                   + _refused_edits(report.get("extend")) +
                   "cleaned: " + (", ".join(f"{value} {key.replace('_', ' ')}"
                                            for key, value in cleaned.items()) or "nothing")
                   + f"; ratings {report['ratings']}"
                   + _summary_changes(report["summaries"]), err=True)
    if not obj["quiet"]:  # on stderr: stdout holds the results alone
        # after the changes: line (it was printed above it), the JSON summary alone
        # after it: stderr ends with that summary, its last line, which scripts parse
        click.echo(_next_after_taxonomy(corpus, output, use_case, lang), err=True)
    print_json({**report, "warnings": obj.get("warnings", [])}, err=True)


def _next_after_taxonomy(corpus: str, output: str, use_case: str, lang: str) -> str:
    """The line taxonomy ends its labels with: the label run over the same corpus with the
    vocabulary written, and the --use-case the taxonomy was made for (label shows it to
    the LLM; it was lost between the two steps where the user did not give it again)."""
    from tagsmith._shell import shell_path, shell_word
    from tagsmith.data.readers import current_text_columns

    # a use case holding a line break or tab (read from a file, "$(cat use_case.txt)")
    # was printed quoted with a literal \n in it: run as printed, label sent another use
    # case (another prompt, the cache missed). A placeholder, and a note to give it as
    # written
    as_written = printable(use_case) != use_case
    given = [f"--vocab {shell_path(output)}",
             f"--use-case {'USE_CASE' if as_written else shell_word(use_case)}"]
    columns = current_text_columns()
    if columns and columns != ("text",):  # the corpus read as the taxonomy read it
        given.append(f"--text-column {shell_word(','.join(columns))}")
    if lang != "en":
        given.append(f"--lang {shell_word(lang)}")
    given += _endpoint_options_given()
    command = " ".join(["tagsmith label", shell_path(corpus), *given, "-o LABELS.jsonl"])
    return (f"next: read {printable(output)} (edit names or descriptions as you see fit), "
            f"then label the documents with it: {printable(command)} ("
            + ("USE_CASE: the --use-case given here, as written: it holds a line break, tab "
               "or other control character, which this line cannot show; " if as_written
               else "")
            + "--budget N --student STUDENT: N documents, and a student distilled as it goes)")


def _endpoint_options_given() -> list[str]:
    """The endpoint's options given on the command line (not from the environment nor
    by default), as options of a command to print for the next LLM step: --base-url and
    --llm are required, and taxonomy's 'next: ... tagsmith label ...' given them on its
    command line printed a label command that failed "Missing option '--base-url'". A
    base URL holding a user, password or query string (a secret, maybe) is shown as
    BASE_URL, the key itself never (only --api-key-env, its variable's name)."""
    from click.core import ParameterSource

    from tagsmith._shell import shell_word

    ctx = click.get_current_context()
    given = []
    for name, option in (("base_url", "--base-url"), ("llm_model", "--llm"),
                         ("api_key_env", "--api-key-env"),
                         ("api_key_header", "--api-key-header")):
        value = ctx.params.get(name)
        if value is None or ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        value = str(value)
        shown = ("BASE_URL" if name == "base_url" and any(c in value for c in "@?#")
                 else shell_word(value))
        given.append(f"{option}{'=' if value.startswith('-') else ' '}{shown}")
    return given


def _refused_edits(extended: dict | None) -> str:
    """ "3 edits of labels in use refused (kept as they were), " for the "changes:" line
    of ``taxonomy --extend`` ('' without it, or with none)."""
    n = len((extended or {}).get("refused_edits", ()))
    accepted = len((extended or {}).get("accepted_edits", ()))
    return ((f"{n} edit{plural_s(n)} of labels in use refused (kept as they were), "
             if n else "")
            + (f"{accepted} edit{plural_s(accepted)} of labels in use accepted "
               "(--accept-edits), " if accepted else ""))


def _shown_similarity(similarity: float, min_similarity: float, matched: bool) -> str:
    """A map line's similarity: 2 decimals, or all 4 the JSON summary has where 2 would
    put it on the wrong side of --min-similarity ('no match (best similarity 0.68)' at
    --min-similarity 0.678, for 0.6771)."""
    text = f"{similarity:.2f}"
    return text if (float(text) >= min_similarity) == matched else f"{similarity:g}"


def _failures(labeling: dict) -> str:
    """ "1 failed call, 2 malformed answers" from a labeling report (", 3 answers
    naming only labels off the shortlist" where there are some)."""
    failed = labeling.get("n_failed_calls", 0)
    malformed = labeling.get("n_malformed_answers", 0)
    refused = labeling.get("n_refused_calls", 0)
    off = labeling.get("n_off_shortlist_answers", 0)
    return (f"{failed:,} failed call{plural_s(failed)}, "
            f"{malformed:,} malformed answer{plural_s(malformed)}"
            + (f", {refused:,} call{plural_s(refused)} refused by the model or a content "
               "filter" if refused else "")
            + (f", {off:,} answer{plural_s(off)} naming only labels off the shortlist"
               if off else ""))


def _lines_without_labels(Y) -> int:
    """How many rows of label's soft targets ``Y`` (the lines it writes) hold no label:
    the LLM answered that none of the labels offered applies."""
    import numpy as np
    import scipy.sparse as sp

    return int(np.count_nonzero(np.diff(sp.csr_matrix(Y).indptr) == 0))


def _no_label_said(n_no_label: int, written: int) -> str:
    """ "; 20 of the 50 written with an empty label set: ..." for label's closing line
    ('' where every line written names a label).

    >>> _no_label_said(20, 50)[:60]
    '; 20 of the 50 written with an empty label set: the LLM answ'
    >>> _no_label_said(1, 1)[:40], _no_label_said(0, 3)
    ('; with an empty label set: the LLM answe', '')
    """
    if not n_no_label:
        return ""
    # "of them" read, in a --budget run's line, as of the pool's documents
    which = ("" if written == 1 else f"all {written:,} " if n_no_label == written
             else f"{n_no_label:,} of the {written:,} written ")
    return (f"; {which}with an empty label set: the LLM answered that none of the labels "
            "applies, which distill learns as a negative of every label")


def _first_of_kind(labeling: dict) -> str:
    """ "First failed call: HTTP 500; first malformed answer: ..." from a labeling
    report's first message of each kind of failure ('' where it names none)."""
    firsts = labeling.get("first_of_kind") or {}
    # "first malformed answer: malformed answer: ..." said it twice
    named = [f"{what}: {firsts[kind].removeprefix(what + ': ')}" for kind, what in (
        ("failed", "failed call"), ("malformed", "malformed answer"),
        ("refused", "refusal")) if firsts.get(kind)]
    return "First " + "; first ".join(named) if named else ""


def _summary_changes(counts: dict) -> str:
    """What the summary step rejected, for the taxonomy's "changes:" line ('' if nothing)."""
    n_malformed = counts.get("n_malformed_answers", 0)
    unknown, twice = counts.get("n_unknown_ids", 0), counts.get("n_duplicate_ids", 0)
    refused = counts.get("n_refused_calls", 0)
    parts = [f"{counts[key]:,} {what}" for key, what in (
        ("n_unknown_ids", plural(unknown, "for a document not in its batch",
                                 "for documents not in their batch")),
        ("n_duplicate_ids", f"for {plural(twice, 'a document', 'documents')} given twice "
                            "in one answer"),
        ("n_invalid_items", "invalid"),
        ("n_malformed_answers", f"malformed answer{plural_s(n_malformed)}"))
        if counts.get(key)]
    # a batch refused was "a failed call" (or, in prose, "a malformed answer")
    said = (f"; {refused:,} summary {plural(refused, 'batch', 'batches')} refused by the "
            "model or a content filter" if refused else "")
    return ("; summaries rejected: " + ", ".join(parts) if parts else "") + said


#: the help of ``tagsmith label``
LABEL_HELP = """Label the documents of CORPUS with an LLM; write soft labels as JSONL.

CORPUS is any corpus file (labels ignored) or a text file with one document per line
(not stdin: '-' is refused, as it is by every file or folder option).

Interrupt at any time: answers are cached, a rerun resumes where it stopped.
"""


@cli.command(short_help="Label CORPUS with an LLM: soft labels as JSONL.", help=LABEL_HELP)
@vocab_selection
@click.argument("corpus", callback=a_path)
@click.option("--vocab", required=True, callback=a_path,
              help=f"Label set ({VOCAB_FORMATS}), e.g. from taxonomy.")
@click.option("-o", "--output", required=True, callback=a_path,
              help="JSONL of soft labels to write (named "
              ".jsonl or .ndjson, optionally .gz: readers go by the suffix).")
@click.option("--shortlist", "shortlist_bundle", callback=a_path,
              help="Model bundle whose top labels are offered per document (large label sets).")
@click.option("--shortlist-zeroshot", is_flag=True,
              help="Offer the zero-shot top labels per document (needs tagsmith[embed]); "
              "with 100 or more documents, corrected for hub labels with the documents "
              "themselves as background.")
@click.option("--cache-dir", default=EMBEDDING_CACHE,
              show_default=True, callback=a_cache_dir,
              help="Where label embeddings, and with --shortlist-zeroshot the "
              "documents' (of the corpus and --human), are cached ('' for no cache).")
@click.option("--shortlist-k", type=click.IntRange(min=1), default=30, show_default=True,
              help="Labels of the shortlist offered per document; a label the LLM names "
              "off it is rejected (counted in n_unoffered_labels; an answer naming only such "
              "labels in n_off_shortlist_answers).")
@click.option("--votes", type=click.IntRange(1, MAX_VOTES), default=1, show_default=True,
              help="Self-consistency: ask each document this many times.")
@click.option("--vote-temperature", type=click.FloatRange(0, 2, min_open=True), default=0.7,
              show_default=True,
              help="Sampling temperature of each vote (with --votes above 1; each vote "
              "sends its number as the seed). Above 0: greedy votes repeat one answer.")
@click.option("--max-labels", type=click.IntRange(min=1), default=10, show_default=True,
              help="Most labels asked for and kept per answer (the most confident).")
@click.option("--use-case", help="What the labels are for (shown to the LLM).")
@click.option("--max-doc-chars", type=click.IntRange(min=1), default=4000, show_default=True,
              help="A longer document is sent cut to its first this many characters (at a "
              "space), the prompt saying it goes on; the warning counts them. Raise it "
              "where the model's context window holds more (about 4 characters a token "
              "of English).")
@click.option("--human", callback=a_path,
              help="Human-labelled corpus (same vocabulary) to estimate the LLM's "
              "per-label reliability; labels become reliability-weighted soft targets.")
@click.option("--limit", type=click.IntRange(min=1), help="Label only the first N documents.")
@click.option("--budget", type=click.IntRange(min=1),
              help="Label only this many documents (each asked --votes times, one "
              "teacher call a vote), chosen in rounds by --strategy while a "
              "student model is distilled (active distillation); copies of a document "
              "labelled (equal text, case and spacing aside) are never sent and get its "
              "labels, their lines marked \"copy_of\": its id. The --human sample's "
              "calls come on top of it.")
@click.option("--labelled", "labelled_files", multiple=True, callback=a_path,
              metavar="FILE",
              help="With --budget: an earlier run's OUTPUT (repeat it for several): its "
              "documents are never sent again and the student learns from them from the "
              "first round; the budget buys new documents only, and OUTPUT holds those.")
@click.option("--strategy", type=click.Choice(["robust", "uncertainty", "random"]),
              default="robust", show_default=True, help="How --budget documents are chosen.")
@click.option("--rare-share", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              callback=finite_number(0, 1, max_open=True),  # FloatRange lets NaN through
              show_default=True, metavar="FRACTION",
              help="With --budget: share of each round after the first spent, in turn, on "
              "the labels bought fewest so far (1 to 19 positives): the document the "
              "student scores highest for each (with --shortlist-zeroshot also labels "
              "bought none, all by the zero-shot scores of their names); the rest goes "
              "by --strategy.")
@click.option("--rare-give-up", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="ROUNDS",
              help="With --rare-share: a rare label targeted this many rounds in a row "
              "and never given by the teacher is targeted no more (its turns go to the "
              "other rare labels); default 0, never given up.")
@click.option("--rounds", type=click.IntRange(min=1), default=4, show_default=True,
              help="With --budget: rounds the budget is spent in: a first random quarter, "
              "then the rest in even batches chosen by --strategy with the student refit "
              "on the answers so far.")
@click.option("--student", callback=a_path,
              help="With --budget: save the distilled student bundle here.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="With --budget: seed of the document selection and the student.")
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of label names.")
@click.option("--force", is_flag=True, help="Replace an OUTPUT that label did not write "
              "(an earlier label output is replaced without it).")
@click.option("--retry-refused", is_flag=True,
              help="Ask again the documents the model or a content filter refused in an "
              "earlier run (the response cache keeps refusals: a rerun tells them at no "
              "cost).")
@click.option("--dry-run", is_flag=True,
              help="Say what the run would send (the shortlist's recall on --human, each "
              "pass's calls, prompt size and cost, those the response cache answers "
              "apart), then stop: no call is sent and OUTPUT is not written.")
@llm_options
@click.pass_obj
def label(obj, corpus, vocab, output, shortlist_bundle, shortlist_zeroshot, cache_dir,
          shortlist_k, votes, vote_temperature, max_labels, use_case, max_doc_chars, human,
          limit, budget,
          labelled_files, strategy, rare_share, rare_give_up, rounds, student, seed, lang, force,
          retry_refused, dry_run, **llm):
    from tagsmith.cli import refuse_unused
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.labeling.labeler import LabelingOptions
    from tagsmith.pipeline.io import read_labelled
    from tagsmith.pipeline.llm import label_corpus, write_soft_labels

    refuse_unused("--budget", bool(budget), "strategy", "rounds", "student", "seed",
                  "labelled_files", "rare_share", "rare_give_up")
    # the give-up rule is of the share's targets: without a share it would do nothing
    refuse_unused("--rare-share", bool(rare_share), "rare_give_up")
    # one answer a document is asked at temperature 0: a vote temperature would be ignored
    refuse_unused("--votes above 1", votes > 1, "vote_temperature")
    # without a shortlist every label is offered: its width would be silently ignored
    # (with both shortlists, each document is offered their union: _shortlists)
    refuse_unused("--shortlist or --shortlist-zeroshot",
                  bool(shortlist_bundle or shortlist_zeroshot), "shortlist_k")
    # the zero-shot shortlist embedded the vocabulary anew on every run: its label
    # embeddings are cached as zeroshot caches them
    refuse_unused("--shortlist-zeroshot", bool(shortlist_zeroshot), "cache_dir")
    # every option first: the corpus, the shortlist model and the zero-shot embeddings
    # come after, and the cache file is created only once they all passed
    max_tokens = llm.pop("max_tokens")
    inner = _client(**llm)
    if budget:  # the selection's settings (label_corpus checks them again on the pool)
        from tagsmith.pipeline.distill import ActiveOptions

        ActiveOptions(budget=budget, strategy=strategy, rounds=rounds,
                      seed=seed, rare_share=rare_share,
                      rare_give_up=rare_give_up).validate(budget)
    if use_case is not None and not use_case.strip():
        # the library's "None or a description" names Python's None, no option value
        raise InvalidParameterError("--use-case", "a non-blank description of what the "
                                    "labels are for, or leave the option out", use_case)
    options = LabelingOptions(max_labels=max_labels, votes=votes, use_case=use_case,
                              vote_temperature=vote_temperature,
                              max_doc_chars=max_doc_chars,
                              shortlist_k=shortlist_k, n_workers=llm["concurrency"],
                              show_progress=not obj["quiet"], lang=lang,
                              max_tokens=max_tokens, retry_refused=retry_refused)
    options.validate()
    _check_output_file(output, "--output")
    _check_not_input("-o/--output", output, CORPUS=corpus, **{"--vocab": vocab, "--human": human})
    for earlier in labelled_files:  # replacing day 1's labels with day 2's lost day 1's
        _check_not_input("-o/--output", output, **{"--labelled": earlier})
    if student:
        from pathlib import Path

        from tagsmith.store.bundle import check_bundle_target

        check_bundle_target(student)  # a bundle: the bundle writer's own rule
        # the labels are written first: on the same path (or one inside the other) the
        # student's save was refused after every LLM call had been paid for
        labels_path = Path(os.path.realpath(output))  # not resolve(): see same_file
        bundle_path = Path(os.path.realpath(student))
        if labels_path == bundle_path or bundle_path in labels_path.parents \
                or labels_path in bundle_path.parents:
            raise click.BadParameter("must differ from --output (and neither may lie "
                                     "inside the other)", param_hint="--student")
    _check_jsonl_name(output)  # (after --student: a student on the labels' path says so)
    if not force:
        _check_label_output(output)
    _check_cache_apart(llm["cache"], output=output, student=student)
    if shortlist_zeroshot and cache_dir:
        cache_dir = _check_cache_dir(cache_dir)
    space = load_selected_vocabulary(vocab, language=lang)
    warn_unnamed_language(space, lang)
    if shortlist_zeroshot:  # before the encoder loads and embeds the label names
        warn_english_encoder(space, lang)
    if shortlist_bundle:  # match the bundle's labels to VOCAB's by URI, not by position
        from tagsmith.cli.vocab_names import warn_other_selection
        from tagsmith.pipeline.classifier import TextClassifier

        bundle_path, shortlist_bundle = shortlist_bundle, TextClassifier.load(shortlist_bundle)
        # as suggest, eval and audit --vocab: read without the bundle's --vocab-type, the
        # labels it left out are offered to the LLM as labels the bundle never ranks
        warn_other_selection(shortlist_bundle, vocab, bundle_path)
        space = _bundle_space(shortlist_bundle, space, vocab, lang, shortlist_zeroshot)
        _warn_untrained_shortlist(shortlist_bundle, space, vocab, shortlist_zeroshot)
    if not (shortlist_bundle or shortlist_zeroshot) \
            and len(space) > options.full_list_up_to:
        raise click.UsageError(
            f"the vocabulary has {len(space):,} label{plural_s(len(space))}, more than the "
            f"{options.full_list_up_to:,} that are shown whole: pass --shortlist BUNDLE (a "
            "trained model's top labels) or --shortlist-zeroshot")
    ids, texts = _read_texts(corpus, review_done_ok=not student)
    if not texts:  # an audit's review a person decided in full (or with no rows)
        _label_nothing(obj, output, space, dry_run, inner)
        return
    if limit:
        ids, texts = ids[:limit], texts[:limit]
        if not any(text.strip() for text in texts):
            # no request to send: it failed as the LLM's error (exit code 6)
            raise click.BadParameter(
                f"{plural(len(texts), 'the first document', f'the first {len(texts):,} documents')}"
                f" of {corpus} {plural(len(texts), 'has', 'have')} a blank text (empty or "
                "whitespace only): nothing to ask the LLM about; give a larger --limit",
                param_hint="--limit")
    human_data = read_labelled(human, space) if human else None
    labelled = text_hashes = None
    labelled_pool: list = []  # the documents labelled before, found once
    if labelled_files:  # an earlier day's labels: read before any call is paid for
        import scipy.sparse as sp

        from tagsmith.pipeline.llm import read_soft_labels

        parts = [read_soft_labels(path, space, vocabulary=f"the vocabulary {vocab}")
                 for path in labelled_files]
        labelled = ([text for part in parts for text in part[0]],
                    sp.vstack([part[1] for part in parts]).tocsr())
        # a corpus labelled whole before is refused before the shortlist is built (with
        # --shortlist-zeroshot, the corpus embedded): it was refused only after
        from tagsmith.pipeline.llm import check_labelled_leaves_some

        try:
            # its fingerprints of the corpus serve label_corpus too (it hashed it again)
            # and the documents labelled before, which label_corpus found again
            text_hashes = check_labelled_leaves_some(texts, labelled, len(space),
                                                     _pool=labelled_pool)
        except InvalidParameterError as exc:
            if exc.name != "labelled":
                raise
            raise _labelled_whole(exc, corpus, labelled_files) from None
    shortlist, human_shortlist = _shortlists(
        texts, space, shortlist_bundle, shortlist_zeroshot, shortlist_k, not obj["quiet"],
        human_texts=human_data.texts if human_data else None, cache_dir=cache_dir,
        lang=lang)
    # where the shortlist came from: the recall line and the summary name it (the line
    # read "the shortlists" alike for a bundle's, zero-shot's and their union)
    source = (("union" if shortlist_zeroshot else "bundle") if shortlist_bundle
              else "zeroshot" if shortlist_zeroshot else None)
    if dry_run:
        _label_dry_run(obj, inner, llm["cache"], output, texts, space, options,
                       shortlist, human_data, human_shortlist, budget, strategy, rounds,
                       seed, labelled, text_hashes, source,
                       labelled_pool[0] if labelled_pool else None)
        return
    # every check passed: the cache file may appear
    client = _cached(inner, llm["cache"], keep_refusals=True)
    try:
        result = label_corpus(texts, space, client, options, shortlist=shortlist,
                              human=(human_data.texts, human_data.Y) if human_data else None,
                              human_shortlist=human_shortlist,
                              budget=budget, strategy=strategy, rounds=rounds, seed=seed,
                              rare_share=rare_share, rare_give_up=rare_give_up,
                              student_kept=bool(student), labelled=labelled,
                              shortlist_source=source, _text_hashes=text_hashes,
                              _labelled_pool=labelled_pool[0] if labelled_pool else None)
        rows = result["rows"]
        labeling = result["summary"].get("labeling", {})
        # the refused documents by their ids, for a person to take (positions meant
        # nothing outside the run)
        if labeling.get("refused_docs"):
            labeling["refused_docs"] = [ids[i] for i in labeling["refused_docs"]]
        if labeling.get("unknown_only_docs"):  # by id too: in no output to look them up
            labeling["unknown_only_docs"] = [ids[i] for i in labeling["unknown_only_docs"]]
        human_labeling = result["summary"].get("human_labeling") or {}
        if human_labeling.get("refused_docs"):  # its reader keeps no ids: its Nth document
            human_labeling["refused_docs"] = [f"{human}#{i + 1}"
                                              for i in human_labeling["refused_docs"]]
        if human_labeling.get("unknown_only_docs"):
            human_labeling["unknown_only_docs"] = [
                f"{human}#{i + 1}" for i in human_labeling["unknown_only_docs"]]
        if texts and not len(rows):  # every call failed: say why, keep any earlier output
            from tagsmith.exceptions import LLMError

            # the usage is printed below, as on every failure: not in the message too
            # each kind's first message, as a human sample's failure names them: "Last
            # error:" alone hid the other kinds (a malformed answer's, the failed calls')
            firsts = _first_of_kind(labeling)
            off = labeling.get("n_off_shortlist_answers", 0)
            if off:  # "No error was reported" where each answer named such labels
                from tagsmith.labeling.labeler import NARROW_SHORTLIST

                why = ((f"{firsts}; {off:,} {plural(off, 'answer', 'answers')}"
                        if firsts else "Each answer") + " named only labels off "
                       + (plural(off, "its", "their") if firsts else "its") + " document's "
                       f"shortlist: the shortlist is too narrow ({NARROW_SHORTLIST})")
            elif firsts:
                why = firsts
            elif not labeling.get("n_calls"):
                why = ("No request was sent: each document was blank or its shortlist "
                       "held only labels deprecated in the vocabulary")
            else:
                why = "No error was reported"
            # the refused documents, for a person: the warning pointed at the JSON
            # summary's refused_docs, which a run that fails never prints
            refused = [printable(str(doc)) for doc in labeling.get("refused_docs") or ()]
            # the summary lists the first MAX_LISTED_REFUSED_DOCS, counting the rest
            n_refused = len(refused) + labeling.get("n_refused_docs_unlisted", 0)
            if refused:
                why += (f". Refused, for a person to take: {', '.join(refused[:20])}"
                        + (f", ... ({n_refused:,} in all)" if n_refused > 20 else ""))
            # with a budget, the documents sent (not the whole pool)
            raise LLMError(f"the LLM answered {none_of(labeling.get('n_docs') or len(texts))}"
                           f" ({_failures(labeling)}); {output} was not written. {why}")
        if labeling.get("last_error"):
            # the counts are in the labeling's own warning, just before: said again here,
            # a failed call was counted twice on two lines in a row
            first, last = labeling.get("first_error") or "", labeling["last_error"]
            warn("LLM labeling: " + (f"error: {printable(last)}" if first in ("", last) else
                                     f"first error: {printable(first)}; "
                                     f"last: {printable(last)}"))
        # a copy's line names its document's id: distill learns the text once
        copy_of = result.get("copy_of")
        written = write_soft_labels(output, [texts[i] for i in rows], result["Y"], space,
                                    doc_ids=[ids[i] for i in rows],
                                    unknown=result.get("unknown"),
                                    offered=result.get("offered"),
                                    copy_of=None if copy_of is None else
                                    [ids[j] if j >= 0 else None for j in copy_of])
        # with a budget, the copies of the documents answered (never sent) are written
        # after them with their labels; the student learnt from the documents answered
        n_copies = result["summary"].get("active", {}).get("n_copies_labelled", 0)
        answered = written - n_copies
        # lines of an empty label set: answers that no label applies ({"labels": []}),
        # valid answers distill learns as negatives of every label. "labelled 50 of 70"
        # counted them with the labelled ones, unsaid, and the summary nowhere
        n_no_label = _lines_without_labels(result["Y"])
        no_label_said = _no_label_said(n_no_label, written)
        if student:
            # the documents and vocabulary it learnt from, as train's bundle names them
            record_training_files(result["student"], data=corpus, vocab=vocab)
            result["student"].save(student)
            before = result["summary"].get("active", {}).get("n_labelled_before", 0)
            # with --labelled it learnt the earlier runs' documents too
            taught = answered + before
            click.echo(f"student distilled from {taught:,} document{plural_s(taught)}"
                       + (f" ({before:,} labelled before, by --labelled)" if before else "")
                       + f" -> {printable(student)}")
            # as distill and train warn of labels one a document (an LLM asked for one)
            # counted on what the student learnt (--labelled's documents too); label
            # prints no agreement with the teacher for the warning to speak of
            warn_one_label_student(result["student"], result.get("Y_learnt", result["Y"]),
                                   output, vocab, figures=False)
        active_record = result["summary"].get("active", {})
        if active_record.get("rare_share"):
            # what the share spent and bought, run-wide (each round's record has its own):
            # the printed lines said nothing of it
            from tagsmith.pipeline.distill import LEARNT_TARGET

            rounds = active_record.get("rounds", [])
            asked = sum(row.get("rare_asked", 0) for row in rounds)
            got = sum(row.get("rare_bought", 0) for row in rounds)
            ranked = ("the zero-shot scores of their names"
                      if active_record.get("rare_share_ranked_by") == "zeroshot"
                      else "the student's scores")
            # a run of one round said "0 of the documents sent were for rare labels" and
            # not why: that round was at random (the student chooses from the second)
            random_only = (" (the run's only round was picked at random: the share is spent "
                           "from the second round on)" if not asked and len(rounds) == 1
                           else "")
            # the labels --rare-give-up gave up: only INFO lines (hidden by -q) named them
            gave_up = active_record.get("rare_given_up")
            gave_up_said = "" if gave_up is None else (
                f"; {len(gave_up):,} label{plural_s(len(gave_up))} given up "
                f"(--rare-give-up {active_record['rare_give_up']})"
                + (": " + and_more(gave_up, 5, lambda uri: repr(
                    space.name_of(space.id_of(uri), lang))) if gave_up else ""))
            click.echo(f"--rare-share {active_record['rare_share']:g}: {asked:,} of the documents "
                       f"sent were for rare labels{random_only} (ranked by {ranked}), {got:,} of "
                       f"them given the label sent for at {LEARNT_TARGET:g} or more (distill's "
                       f"positive){gave_up_said}")
        on_human = result["summary"].get("student") or {}
        if on_human.get("human_accuracy"):  # held out: the sample is not in the pool
            n, metrics = on_human["n_docs"], on_human["human_accuracy"]
            click.echo(f"student's accuracy against human labels ({n:,} document{plural_s(n)}"
                       f" of {human} it was not taught): P@1 {metrics['p@1']:.4f}  "
                       f"micro-F1 {metrics['micro_f1']:.4f}  macro-F1 {metrics['macro_f1']:.4f}")
        elif on_human:  # a --human run that printed no figure said nothing of why
            taught = on_human["n_taught_left_out"]
            warn(f"the student is not scored against {human}: "
                 + (f"all {taught:,} of its documents are documents it was taught"
                    if not on_human["n_docs"] else
                    f"none of its {on_human['n_docs']:,} documents it was not taught has a "
                    "label"))
        summary = {**result["summary"], "n_no_label": n_no_label,
                   "shortlist_source": source, "usage": client.usage.to_dict()}
        if budget:  # "labelled 19 of 300" read as 281 documents the LLM failed on
            sent = labeling.get("n_docs", 0)
            # "1 copy of them" where one document was answered
            copied = (f" and {n_copies:,} {plural(n_copies, 'copy', 'copies')} of "
                      f"{plural(answered, 'it', 'them')} (equal text, case and spacing "
                      "aside), not sent" if n_copies else "")
            # a cut budget showed the one asked for ("--budget 80 of 55 documents"): the
            # calls it could spend, in the cut warning's words (budget_cut_message)
            spendable = result["summary"].get("active", {}).get("budget", budget)
            # (with --votes, each document that many calls: "at most 30 teacher calls
            # spent" of a run that spent 90)
            calls = spendable * votes
            spent = (f"--budget {budget} cut: at most {calls:,} teacher "
                     f"call{plural_s(calls)} spent"
                     + (f" ({votes} votes a document)," if votes > 1 else ",")
                     if spendable < budget else f"--budget {budget}")
            # the budget's calls that bought no labels: spent all the same (a malformed
            # answer is billed), never made up for by another document
            lost = result["summary"].get("active", {}).get("n_spent_unanswered", 0)
            # documents, where the failures are calls: with --votes 3 "2 of the budget's
            # documents unanswered, each spending its call (0 failed calls, 9 malformed
            # answers)" counted two units as one, each document three calls
            n_calls = labeling.get("n_calls", 0)
            lost_said = (f"; {lost:,} of the budget's documents unanswered, each "
                         f"spending its {'call' if votes == 1 else f'{votes} calls'} "
                         f"(of the teacher's {n_calls:,} call{plural_s(n_calls)}: "
                         f"{_failures(labeling)})" if lost else "")
            click.echo(f"labelled {answered:,} of the {sent:,} document{plural_s(sent)} sent"
                       f"{copied} ({spent} of {len(texts):,} "
                       f"document{plural_s(len(texts))}{lost_said}{no_label_said}) -> "
                       f"{printable(output)}")
        else:
            click.echo(f"labelled {written:,} of {len(texts):,} document{plural_s(len(texts))} "
                       + (f"({no_label_said.removeprefix('; ')}) " if no_label_said else "")
                       + f"-> {printable(output)}")
        if written and not obj["quiet"]:  # on stderr: stdout holds the results alone
            hint = _next_after_label(corpus, output, vocab, student if budget else None, lang)
            if hint:
                click.echo(hint, err=True)
    except InvalidParameterError as exc:
        if exc.name != "labelled":
            _stopped(client, llm["cache"], exc, refusals_kept=True)
            raise
        # before any call: it read "parameter 'labelled' must be ...", after a warning
        # of the budget cut to 0 calls
        raise _labelled_whole(exc, corpus, labelled_files) from None
    except BaseException as exc:  # what was spent, also when the run failed or was stopped
        _stopped(client, llm["cache"], exc, refusals_kept=True)
        raise
    finally:
        # the response cache's SQLite connections (and the endpoint's) closed here, not
        # left to the interpreter's teardown: a --budget run's objects sit in reference
        # cycles the last collections freed for seconds after the summary (main freezes
        # them instead, in a process of its own)
        client.close()
    # the warnings said (or, under -q, not said) on the way: -q hid them all
    print_json({**summary, "warnings": obj.get("warnings", [])}, err=True)


def _label_nothing(obj, output: str, space, dry_run: bool, client) -> None:
    """label's end on an audit's review that leaves no document to ask about (every row
    decided by a person, or none; :func:`_read_texts` warned): an empty ``output``,
    which ``apply-review --decide-from`` reads as deciding no row, and exit code 0. It
    was refused (exit code 3): a scripted monthly cycle stopped on a month a person
    decided in full, and a ``-o`` of the month before was left in place."""
    import scipy.sparse as sp

    from tagsmith.pipeline.llm import write_soft_labels

    if dry_run:
        click.echo(f"nothing to send: no document to ask about; {printable(output)} "
                   "would be written empty")
        return
    write_soft_labels(output, [], sp.csr_matrix((0, len(space)), dtype="float32"), space,
                      doc_ids=[])
    click.echo(f"labelled 0 of 0 documents -> {printable(output)}")
    # the keys of a run's summary a script reads (usage.requests: a KeyError where only
    # labeling's were printed)
    print_json({"labeling": {"n_docs": 0, "n_calls": 0}, "shortlist_source": None,
                "usage": client.usage.to_dict(), "warnings": obj.get("warnings", [])},
               err=True)


def _next_after_label(corpus: str, output: str, vocab: str, student: str | None,
                      lang: str) -> str | None:
    """The line label ends with: README's audit before distilling, then distill (the
    walk from raw texts found neither named). None for an audit's review (label
    audit/review.csv), whose next step the audit's own closing lines gave."""
    from tagsmith._shell import shell_path
    from tagsmith.audit.review import is_review_file
    from tagsmith.cli.commands import _selection_options

    if is_review_file(corpus):
        return None
    given = [f"--vocab {shell_path(vocab)}", *_selection_options()]
    if lang != "en":
        given.append(f"--lang {shell_path(lang)}")
    audit = " ".join(["tagsmith audit", shell_path(output), *given, "-o AUDIT_DIR",
                      "--min-probability 0.05 --max-review 300"])
    distill = " ".join(["tagsmith distill", shell_path(output), *given, "-o STUDENT"])
    return (f"next: audit the LLM's labels before distilling: {printable(audit)}, then "
            "distill what apply-review writes; "
            + (f"the student in {printable(student)} learnt them as they are"
               if student else f"or distill them as they are: {printable(distill)}"))


def _label_dry_run(obj, inner, cache: str, output: str, texts, space, options, shortlist,
                   human_data, human_shortlist, budget, strategy, rounds, seed,
                   labelled, text_hashes, source: str | None = None,
                   labelled_pool=None) -> None:
    """``label --dry-run``: every line said before the first call, then the JSON
    summary (``"dry_run": true``); no call is sent, OUTPUT is not written, and a
    response cache that does not exist is not created (every call is then to send)."""
    from tagsmith.pipeline.llm import label_corpus

    client = _cached(inner, cache, keep_refusals=True) if os.path.exists(cache) else inner
    try:
        result = label_corpus(texts, space, client, options, shortlist=shortlist,
                              human=(human_data.texts, human_data.Y) if human_data else None,
                              human_shortlist=human_shortlist, budget=budget,
                              strategy=strategy, rounds=rounds, seed=seed, student_kept=False,
                              labelled=labelled, dry_run=True, shortlist_source=source,
                              _text_hashes=text_hashes, _labelled_pool=labelled_pool)
    finally:  # also when it is refused: the cache and the client behind it were left open
        if client is not inner:
            client.close()
    click.echo(f"dry run: no call sent, {printable(output)} not written")
    print_json({**result["summary"], "shortlist_source": source,
                "usage": client.usage.to_dict(), "warnings": obj.get("warnings", [])},
               err=True)


def _check_cache_dir(cache_dir: str) -> str:
    """Refuse, before any work, a zero-shot ``--cache-dir`` that cannot be written or
    whose path leaves no room for the cache's files (taxonomy, label, zeroshot).

    The default one (:data:`EMBEDDING_CACHE`), which nobody asked for, is
    given up with a warning instead: a user whose home cannot be written (a service
    account, an installation run by another user) could not run zeroshot at all
    without ``--cache-dir ''``. Returns the folder to cache in, '' for none."""
    from click.core import ParameterSource

    from tagsmith.data.textio import check_writable_dir
    from tagsmith.exceptions import DataError
    from tagsmith.zeroshot.scorer import cache_name_bytes

    try:
        check_writable_dir(cache_dir, "--cache-dir", room=cache_name_bytes())
    except DataError as exc:
        ctx = click.get_current_context(silent=True)
        if ctx is None or ctx.get_parameter_source("cache_dir") is not ParameterSource.DEFAULT:
            raise
        warn(f"no label embedding cache: {exc}; the label embeddings are computed again "
             f"in each run (give --cache-dir a folder that can be written to keep them)")
        return ""
    return cache_dir


def _shortlist(texts, space, bundle, zeroshot, k, show_progress):
    """The per-document shortlist of ``texts`` (``None`` without a shortlist option)."""
    return _shortlists(texts, space, bundle, zeroshot, k, show_progress)[0]


def _labelled_whole(exc: InvalidParameterError, corpus: str,
                    labelled_files: Sequence[str]) -> click.BadParameter:
    """The refusal of ``--labelled`` files that label every document of ``corpus``
    already (the library's ``exc`` read "parameter 'labelled' must be ...")."""
    return click.BadParameter(
        f"every document of {printable(corpus)} is labelled in the --labelled "
        f"file{plural_s(len(labelled_files))} already ({exc.got}): nothing is left to "
        "spend --budget on", param_hint="--labelled")


def _shortlists(texts, space, bundle, zeroshot, k, show_progress, human_texts=None,
                cache_dir=None, lang="en"):
    """Shortlists of ``texts`` and of ``human_texts`` (the ``--human`` sample), both from
    the same bundle or zero-shot scorer (``(None, None)`` without a shortlist option; the
    second is ``None`` without ``human_texts``); the zero-shot scorer caches its label
    embeddings in ``cache_dir`` (``None`` or ``''``: no cache) and encodes the label
    names in ``lang``. With both a bundle and ``zeroshot``, each document's shortlist is
    the union of the two (:func:`_union_shortlist`), ``k`` labels wide."""
    parts = []
    if bundle:
        parts.append(_bundle_shortlists(texts, space, bundle, k, human_texts))
    if zeroshot:
        parts.append(_zeroshot_shortlists(texts, space, k, show_progress, human_texts,
                                          cache_dir, lang))
    if not parts:
        return None, None
    if len(parts) == 1:
        return parts[0]
    (mine, human_mine), (theirs, human_theirs) = parts
    union = _union_shortlist(mine, theirs, k)
    _say_union(union, mine, theirs, k)
    return union, None if human_texts is None else _union_shortlist(human_mine,
                                                                    human_theirs, k)


def _bundle_shortlists(texts, space, bundle, k, human_texts):
    """:func:`_shortlists` of a ``--shortlist`` bundle."""
    from tagsmith.pipeline.classifier import TextClassifier

    classifier = TextClassifier.load(bundle) if isinstance(bundle, str) else bundle
    if not classifier.label_space.is_compatible_prefix_of(space):
        from tagsmith.exceptions import InvalidParameterError

        raise InvalidParameterError("--shortlist", "a bundle over the same vocabulary "
                                    "(see _bundle_space)", str(bundle))

    # the bundle's labels VOCAB lacks are deprecated slots, never offered: ask the
    # model for that many more, so that k of the others remain
    offered = ~space.deprecated_mask
    width = min(classifier.n_labels, k + int((~offered[:classifier.n_labels]).sum()))
    # a trained label VOCAB deprecates with a replacement (dct:isReplacedBy) gives its
    # model score to its replacements, as in zeroshot --bundle: it was dropped, and
    # a text the model tagged with it shortlisted neither
    replacements = _trained_replacements(classifier, space)

    from tagsmith.zeroshot.scorer import _first_allowed, _passed_on

    def topk(some_texts):  # the bundle's ids are a prefix of the space's
        found = classifier.predict_topk(some_texts, width)
        if replacements:
            found, _ = _passed_on(found, offered, replacements, len(space))
        # the first k offered labels of each row, kept in order: as zeroshot --only keeps
        # its allowed ones (this was a copy of it)
        return _first_allowed(found, offered, k, len(space))

    return topk(texts), None if human_texts is None else topk(human_texts)


def _zeroshot_shortlists(texts, space, k, show_progress, human_texts, cache_dir, lang):
    """:func:`_shortlists` of ``--shortlist-zeroshot``."""
    import numpy as np

    from tagsmith.zeroshot.encoder import sentence_encoder
    from tagsmith.zeroshot.scorer import ForeignTexts, ZeroShotClassifier, blank_texts

    # German documents shortlisted by English names were matched little better than
    # chance, their labels likely off the shortlist, and label said nothing of it
    foreign = ForeignTexts(lang)
    foreign.add(texts)
    foreign.warn(len(texts), "the zero-shot shortlist may leave out the labels that apply "
                 "to them: offer the whole label set (no --shortlist-zeroshot) or a "
                 "--shortlist BUNDLE trained on documents like them")
    n_human = 0 if human_texts is None else len(human_texts)
    # said before the encoder loads and the labels are embedded (minutes at 25,000
    # labels and no cache), which it followed
    _say_embedding(len(texts), n_human, cache_dir)
    # '' is no cache: as a path it was the working directory (as for zeroshot)
    # loaded on the first text the cache lacks: a rerun whose label names, documents and
    # human sample were all cached loaded torch and the model anyway (seconds, ~200 MB)
    scorer = ZeroShotClassifier(space, sentence_encoder(), cache_dir=cache_dir or None,
                                show_progress=show_progress, lang=lang)
    # the documents' embeddings cached in cache_dir as the labels' are (by the encoder's
    # identity and each text's digest): a rerun embedded the whole corpus again
    vectors = _embed_said(scorer, texts, n_human, cache_dir)
    # blank documents are no background: each embedded as '.' counted toward every
    # label's hubness (fit_background leaves blank texts out; vectors it cannot judge)
    rows = np.flatnonzero(~blank_texts(texts))
    if len(rows) >= MIN_BACKGROUND:
        scorer.fit_background(
            vectors=vectors[rows[_sample_rows(len(rows), BACKGROUND_SAMPLE)]])
    return (scorer.topk_from_embeddings(vectors, k),
            None if human_texts is None else _human_topk(scorer, human_texts, k, cache_dir))


def _human_topk(scorer, human_texts, k, cache_dir):
    """``scorer.predict_topk(human_texts, k)``, the sample's embeddings read from (and
    written to) ``cache_dir`` as the corpus's are; predict_topk's own handling of blank
    texts (a copy of it here had to be kept in step). Embedded in the corpus's chunks
    (:data:`DOCUMENT_CHUNK`), each written as it is done: a run stopped while embedding
    the sample lost all of it. (The encoder, a sentence encoder's, hands its model
    1,024 at a time anyway: the same vectors.)"""
    from tagsmith.zeroshot.scorer import embed_cached

    human_texts = list(human_texts)
    vectors = embed_cached(scorer.encoder, human_texts, cache_dir or None,
                           show_progress=scorer.show_progress, kind="document",
                           chunk=DOCUMENT_CHUNK)
    return scorer.predict_topk(human_texts, k, warn_foreign=False, vectors=vectors)


#: the documents ``--shortlist-zeroshot`` embeds first to time the encoder (after
#: EMBED_WARM_UP untimed), where the corpus holds at least EMBED_PROBE_FROM
EMBED_PROBE = 64
EMBED_WARM_UP = 8
EMBED_PROBE_FROM = 500
#: the documents ``--shortlist-zeroshot`` hands the encoder at a time, each chunk's
#: vectors written to ``--cache-dir`` as it is done (the encoder's own progress step)
DOCUMENT_CHUNK = 1024


def _say_embedding(n_docs: int, n_human: int, cache_dir=None) -> None:
    """The line :func:`_embed_said` goes with: how many documents
    ``--shortlist-zeroshot`` embeds, whether an earlier run's embeddings are looked for
    in ``cache_dir``, and whether it times them first."""
    import logging

    told = (f"--shortlist-zeroshot: embedding the corpus's {n_docs:,} "
            f"document{plural_s(n_docs)}"
            + (f" and the human sample's {n_human:,}" if n_human else "")
            + " with the zero-shot sentence encoder before any call (a --dry-run's too)")
    if cache_dir:
        told += f"; those an earlier run embedded are read from {cache_dir}"
    if n_docs >= EMBED_PROBE_FROM:
        told += (f"; timing it on {EMBED_PROBE} of them first" if not cache_dir else
                 f"; timing it on {EMBED_PROBE} of them first where {EMBED_PROBE_FROM} "
                 "or more are left to embed")
    logging.getLogger("tagsmith").info("%s", told)


def _embed_said(scorer, texts, n_human: int, cache_dir=None):
    """``scorer.embed(texts)``, where there are at least :data:`EMBED_PROBE_FROM` to
    embed, said about how long at the rate measured on :data:`EMBED_PROBE` of them
    (after :func:`_say_embedding`'s count). A desk's 3,885 Reuters documents took 30 of
    the run's 32 minutes on 2 busy cores, a --dry-run's as well, and nothing said so
    before. With ``cache_dir`` (``label --cache-dir``), the embeddings are read from the
    file an earlier run wrote there for these texts (:func:`~tagsmith.zeroshot.scorer.
    embed_cached`: keyed by the encoder's identity and the texts' digests, checked on
    every read, a damaged or other model's file never trusted), and those of texts no
    earlier run embedded alone are embedded (and timed) and the file written: a rerun of
    a 3,000-comment walk spent 5 of its 6 minutes embedding them again."""
    import logging

    from tagsmith.zeroshot.scorer import embed_cached

    probing = _ProbingEncoder(scorer.encoder, n_human,
                              getattr(scorer, "show_progress", False), cached=bool(cache_dir))
    # embedded DOCUMENT_CHUNK at a time, each chunk written to the cache as it is done:
    # a run stopped 25 minutes into 30 lost every vector (without a cache too, so that
    # both embed in the same pieces)
    vectors = embed_cached(probing, list(texts), cache_dir or None, kind="document",
                           show_progress=probing.show_progress, chunk=DOCUMENT_CHUNK)
    if not cache_dir:
        return vectors
    if not probing.embedded:
        logging.getLogger("tagsmith").info(
            "--shortlist-zeroshot: the %s document%s' embeddings read from %s, where an "
            "earlier run wrote them", f"{len(texts):,}", plural_s(len(texts)), cache_dir)
    return vectors


class _ProbingEncoder:
    """``encoder`` (of :func:`_embed_said`), timing its first call of at least
    :data:`EMBED_PROBE_FROM` texts on :data:`EMBED_PROBE` of them and saying about how
    long the rest (and ``n_human`` more) takes; ``embedded`` counts the texts it was
    given. The cache keys its files by the encoder it wraps: ``cached``, an encoder
    without the ``dim`` or ``name`` the cache reads is refused, naming it (it was copied
    as 0 or "", and the cache's write failed with a vague "not caching" warning)."""

    def __init__(self, encoder, n_human: int, show_progress: bool, *, cached: bool = False):
        self.encoder, self.n_human, self.show_progress = encoder, n_human, show_progress
        self.embedded = 0
        if cached:
            from tagsmith.exceptions import InvalidParameterError

            for attribute in ("dim", "name"):
                if not hasattr(encoder, attribute):
                    raise InvalidParameterError(
                        "encoder", "an encoder with the dim and name that the embedding "
                        "cache keys its files by", f"{type(encoder).__name__} (it has no "
                        f"{attribute})")
        # the wrapped encoder's, read by the cache alone (which checked them above)
        self.dim: int = getattr(encoder, "dim", 0)
        self.name: str = getattr(encoder, "name", "")

    @functools.cached_property
    def identity(self) -> str:
        """The wrapped encoder's, worked out once (a sentence encoder's hashes its
        model's files) though the cache reads it on each file it looks at."""
        from tagsmith.zeroshot.scorer import encoder_identity

        return encoder_identity(self.encoder)

    def encoding_planned(self, n_texts: int) -> None:
        """Told by the cache (:func:`~tagsmith.zeroshot.scorer.embed_cached`) how many
        texts this run embeds, in chunks: the rate line's count of those left is of the
        run, not of the chunk timed (a line a chunk, each with the chunk's count)."""
        self.planned = n_texts

    planned: int | None = None
    timed = False

    def encode(self, texts, *, show_progress: bool | None = None, on_batch=None):
        import logging
        import time

        import numpy as np

        from tagsmith.zeroshot.scorer import takes_on_batch

        texts = list(texts)
        self.embedded += len(texts)
        shown = self.show_progress if show_progress is None else show_progress
        n_docs = len(texts)
        # the cache's one bar moved by the wrapped encoder's batches (of each chunk)
        batches = on_batch is not None and takes_on_batch(self.encoder)

        def encode(part, **shown_arg):
            if batches:
                return self.encoder.encode(part, on_batch=on_batch, **shown_arg)
            got = self.encoder.encode(part, **shown_arg)
            if on_batch is not None:
                on_batch(len(part))
            return got

        if n_docs < EMBED_PROBE_FROM:
            return encode(texts, show_progress=shown)
        # every call this large in the same three pieces, timed or not: a chunk's vectors
        # are then the same whichever run embeds it (a rerun after a stop embeds the
        # chunks left, and writes the file a run never stopped writes)
        timed = EMBED_WARM_UP + EMBED_PROBE
        warm = encode(texts[:EMBED_WARM_UP])  # the model's first call: slow
        start = time.perf_counter()
        probe = encode(texts[EMBED_WARM_UP:timed])
        if not self.timed:  # one rate line a run
            self.timed = True
            rate = EMBED_PROBE / max(time.perf_counter() - start, 1e-6)
            n_left = (n_docs if self.planned is None else max(self.planned, n_docs)) \
                - timed + self.n_human
            left = n_left / rate
            logging.getLogger("tagsmith").info(
                "--shortlist-zeroshot: %.1f documents a second, about %s for the %s left "
                "(a rough figure: the first documents' lengths, the machine's load now)",
                rate, f"{round(left / 60):,} min" if left >= 90 else f"{max(1, round(left))} s",
                f"{n_left:,}")
        return np.vstack([warm, probe,
                          encode(texts[timed:], show_progress=shown)])


def _union_shortlist(first, second, k: int):
    """Each document's labels of ``first`` and ``second`` (two shortlists, each best
    first) taken alternately, first's best, second's best, first's second, ..., a label
    both hold kept at its first place only, up to ``k`` a document. The two scorers'
    scores are not on one scale (a model's probability, a cosine), so the union is
    ranked by that order, its scores the negated places (0, -1, -2, ...)."""
    import numpy as np

    from tagsmith.topk import PAD, TopK

    a, b = first.indices, second.indices
    n_docs, n = len(first), min(a.shape[1], b.shape[1])
    # interleaved whole (a per-document Python loop took 0.9 s on 100,000 documents);
    # each is k wide as built here: a wider one's tail comes last
    both = np.concatenate([np.stack([a[:, :n], b[:, :n]], axis=2).reshape(n_docs, 2 * n),
                           a[:, n:], b[:, n:]], axis=1).astype(np.int64)
    # a label's first place only: among equal labels of a row (sorted stably), the first
    order = np.argsort(both, axis=1, kind="stable")
    ranked = np.take_along_axis(both, order, axis=1)
    repeat = np.zeros(both.shape, dtype=bool)
    repeat[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
    keep = np.empty(both.shape, dtype=bool)
    np.put_along_axis(keep, order, ~repeat, axis=1)
    keep &= both != PAD
    places = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept first, in order
    indices = np.full((n_docs, k), PAD, dtype=np.int32)
    width = places.shape[1]
    indices[:, :width] = np.where(np.take_along_axis(keep, places, axis=1),
                                  np.take_along_axis(both, places, axis=1), PAD)
    scores = np.where(indices != PAD, -np.arange(k, dtype=np.float32), -np.inf)
    return TopK(indices, scores, first.n_labels)


def _say_union(union, bundle, zeroshot, k: int) -> None:
    """Log what the union of the two shortlists offers: how many labels a document,
    how many of them each shortlist brought and how many both held (before any call, as
    the shortlist's recall on --human is said)."""
    import logging

    import numpy as np

    n_docs = len(union)
    if not n_docs:
        return
    offered = union.indices != -1

    def held(shortlist):  # each offered label on that document's list, all rows at once
        rows = np.arange(n_docs, dtype=np.int64)[:, None] * (union.n_labels + 1)
        keys = (rows + np.sort(shortlist.indices, axis=1)).ravel()  # sorted, row by row
        if not keys.size:
            return np.zeros(n_docs, dtype=np.int64)
        wanted = rows + union.indices
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        return ((keys[at] == wanted) & offered).sum(axis=1)

    # (a per-document np.isin took 4.2 s on 100,000 documents)
    in_bundle, in_zeroshot = held(bundle), held(zeroshot)
    n_offered = offered.sum(axis=1)
    both = in_bundle + in_zeroshot - n_offered
    logging.getLogger("tagsmith").info(
        "shortlist: the union of the --shortlist bundle's and the zero-shot best labels, "
        "taken alternately, up to %d a document: %.1f labels a document on average, %.1f "
        "of them in the bundle's top %d, %.1f in zero-shot's (%.1f in both)", k,
        n_offered.mean(), in_bundle.mean(), k,
        in_zeroshot.mean(), both.mean())


def _trained_replacements(classifier, space) -> dict[int, list[int]]:
    """``space.replacements()`` of the labels the bundle ``classifier`` was trained on
    (with training documents): those whose model score passes on to their
    replacements (``zeroshot --bundle``, ``label --shortlist``)."""
    return {label_id: ids for label_id, ids in space.replacements().items()
            if label_id < classifier.n_labels and classifier.label_counts[label_id] > 0}


def _bundle_space(classifier, space, vocab: str, lang: str = "en", zeroshot: bool = False):
    """VOCAB's label space with the bundle's ids: labels matched by URI (a SKOS export
    lists the labels of its CSV in another order), the bundle's labels that VOCAB lacks
    kept as deprecated slots (never offered), VOCAB's labels that the bundle lacks
    appended (never shortlisted by the bundle: warned about, naming them in ``lang``, as
    the prompts show them, and what offers them: ``--shortlist-zeroshot``, or the whole
    label set; with ``zeroshot``, the union's zero-shot half offers them, said so: a
    month's new labels were said "never offered" while zero-shot offered them, and
    without it the warning named no way to offer them)."""
    from tagsmith.exceptions import InvalidParameterError
    from tagsmith.labeling.labeler import LabelingOptions

    trained = classifier.label_space
    if trained.fingerprint == space.fingerprint:
        return space
    shared = set(trained.uris) & set(space.uris)
    if not shared:
        raise InvalidParameterError("--shortlist", f"a bundle over the labels of {vocab} "
                                    "(matched by URI; none is shared)", trained.name)
    merged = trained.updated(space)
    # a replacement of a trained label is shortlisted on its model score (_shortlists)
    taking = {merged.uri_of(j) for ids in _trained_replacements(classifier, merged).values()
              for j in ids}
    missing = [space.name_of(i, lang) for i, label in enumerate(space)
               if label.uri not in trained
               and not label.deprecated and label.uri not in taking]
    if missing:
        are = plural(len(missing), "is", "are")
        them = plural(len(missing), "it", "them")
        if zeroshot:
            offered = f"only the zero-shot half of the union offers {them} to the LLM"
        else:
            whole = (f", or leave --shortlist out to offer the whole label set "
                     f"({len(space):,} labels)"
                     if len(space) <= LabelingOptions().full_list_up_to else "")
            offered = (f"{are} never offered to the LLM, which cannot name {them} (nor "
                       f"a student distilled from its labels learn {them}): add "
                       f"--shortlist-zeroshot to offer {them}{whole}")
        warn(f"{len(missing):,} label{plural_s(len(missing))} of {vocab} "
             f"({and_more(missing, 5, repr, serial=False)}) "
             f"{are} not in the --shortlist bundle and {offered}")
    # the bundle's labels VOCAB removed or deprecated (a thesaurus update): never offered
    gone = [trained.name_of(i, lang) for i, label in enumerate(trained)
            if label.uri not in space and not label.deprecated]
    retired = [i for i, label in enumerate(trained) if label.uri in space
               and not label.deprecated and space[space.id_of(label.uri)].deprecated]
    deprecated = [trained.name_of(i, lang) for i in retired]
    if gone or deprecated:
        said = [f"{len(gone):,} of the bundle's labels not in {vocab} "
                f"({and_more(gone, 5, repr, serial=False)})"] if gone else []
        said += [f"{len(deprecated):,} it deprecates "
                 f"({and_more(deprecated, 5, repr, serial=False)})"] if deprecated else []
        # what VOCAB offers instead (dct:isReplacedBy): offered where shortlisted
        replaced = space.replaced_as((space.id_of(trained.uri_of(i)) for i in retired),
                                     lang=lang)
        warn(f"{' and '.join(said)} {plural(len(gone) + len(deprecated), 'is', 'are')} never "
             "offered to the LLM" + (f"; what {vocab} uses instead (dct:isReplacedBy): "
                                     f"{replaced}" if replaced else ""))
    return merged


def _warn_vocab_changed(classifier, space, vocab: str, bundle: str, lang: str,
                        weight: float) -> None:
    """Warn once, naming the labels, where VOCAB differs from the vocabulary ``bundle``
    was trained on (matched by URI): labels it added (ranked on zero-shot alone), the
    bundle's labels that it lacks or has since deprecated (never suggested; one it
    replaces, ``dct:isReplacedBy``, passes its model score on to its replacements) and
    labels it renamed (shown with VOCAB's name). A thesaurus updated after training (YSO and
    STW monthly) blended with not a word about any of it."""
    trained = classifier.label_space
    # the replacements as URIs, each space's once (a walk per label was quadratic in a
    # chain): a VOCAB differing only in them passed model scores on with no word
    now_as, then_as = space.replacements(), trained.replacements()
    replaced_now = {space.uri_of(i): [space.uri_of(j) for j in ids]
                    for i, ids in now_as.items()}
    replaced_then = {trained.uri_of(i): [trained.uri_of(j) for j in ids]
                     for i, ids in then_as.items()}
    if trained.fingerprint == space.fingerprint and replaced_now == replaced_then and all(
            trained.name_of(i, lang) == space.name_of(i, lang)
            and trained[i].deprecated == space[i].deprecated for i in range(len(space))):
        return

    new, gone, deprecated, renamed, replaced = [], [], [], [], []
    for label_id, label in enumerate(space):
        if label.uri not in trained and not label.deprecated:
            new.append(space.name_of(label_id, lang))
    for label_id, label in enumerate(trained):
        name = trained.name_of(label_id, lang)
        if label.uri not in space:
            if not label.deprecated and classifier.label_counts[label_id] > 0:
                gone.append(name)
            continue
        now = space.id_of(label.uri)
        # one deprecated at training whose replacements VOCAB changed passes its model
        # score on anew (zeroshot gives every trained replaced label's)
        if space[now].deprecated and classifier.label_counts[label_id] > 0 and (
                not label.deprecated
                or replaced_now.get(label.uri, []) != replaced_then.get(label.uri, [])):
            instead = [space.name_of(i, lang) for i in now_as.get(now, [])]
            if instead:
                replaced.append(f"{name!r} -> " + ", ".join(map(repr, instead)))
            elif not label.deprecated:
                deprecated.append(name)
        elif space.name_of(now, lang) != name:
            renamed.append(f"{name!r} -> {space.name_of(now, lang)!r}")
    parts = []
    if new:
        parts.append(f"{len(new):,} new label{plural_s(len(new))} "
                     f"({and_more(new, 5, repr, serial=False)}) "
                     f"{'ranks' if len(new) == 1 else 'rank'} on {weight:g} x "
                     f"{plural(len(new), 'its', 'their')} zero-shot score alone (a higher "
                     "--weight favours new labels)")
    if gone or deprecated:
        said = [f"{len(gone):,} trained label{plural_s(len(gone))} not in it "
                f"({and_more(gone, 5, repr, serial=False)})"] if gone else []
        said += [f"{len(deprecated):,} it deprecates "
                 f"({and_more(deprecated, 5, repr, serial=False)})"] if deprecated else []
        one = len(gone) + len(deprecated) == 1
        parts.append(f"{' and '.join(said)} {plural(int(one), 'is', 'are')} never suggested"
                     + (" (it names no replacement, dct:isReplacedBy)" if deprecated else ""))
    if replaced:
        shown = and_more(replaced, 5, serial=False)
        one = len(replaced) == 1
        parts.append(f"{len(replaced):,} trained label{plural_s(len(replaced))} it deprecates "
                     f"with a replacement (dct:isReplacedBy: {shown}) "
                     f"{plural(int(one), 'is', 'are')} never suggested, "
                     f"{plural(int(one), 'its', 'their')} model score going to "
                     f"{plural(int(one), 'its', 'their')} replacement{plural_s(len(replaced))} "
                     "(each, where higher than its own)")
    if renamed:
        shown = and_more(renamed, 5, serial=False)
        parts.append(f"{len(renamed):,} renamed label{plural_s(len(renamed))} "
                     f"{plural(len(renamed), 'is', 'are')} shown with "
                     f"{plural(len(renamed), 'its', 'their')} new name{plural_s(len(renamed))}"
                     f" ({shown})")
    if parts:
        from tagsmith.cli.vocab_names import learn_advice

        advice = learn_advice(vocab, "distillation" in classifier.manifest)
        warn(f"{vocab} differs from the vocabulary {bundle} was trained on (matched by "
             f"URI): {'; '.join(parts)}; to learn its changes, {advice}")


def _warn_untrained_shortlist(classifier, space, vocab: str, zeroshot: bool = False) -> None:
    """Warn of VOCAB's labels (not deprecated) that the ``--shortlist`` bundle has no
    training document for: it never predicts them, so no shortlist offers them and the
    LLM can never name them (a bundle trained on the first 3,000 documents of
    yso-finna-en left 22,877 of YSO's 27,754 labels out). A replacement
    (dct:isReplacedBy) of a trained label is offered on that label's model score
    (:func:`_shortlists`): not counted. A bundle without training statistics says
    nothing. With ``zeroshot`` (both shortlists given), only the zero-shot half of their
    union can offer them: said so (it read "--shortlist-zeroshot offers every label",
    advising what was given already)."""
    import numpy as np

    if not classifier.n_train_docs:
        return
    untrained = np.zeros(len(space), bool)  # labels the bundle lacks: warned about apart
    untrained[:classifier.n_labels] = classifier.label_counts == 0
    for ids in _trained_replacements(classifier, space).values():
        untrained[ids] = False  # shortlisted on the trained label's score
    n_untrained = int((untrained & ~space.deprecated_mask).sum())
    n_offered = int((~space.deprecated_mask).sum())
    if n_untrained:
        warn(f"{n_untrained:,} of the {n_offered:,} labels of {vocab} "
             f"{plural(n_untrained, 'has', 'have')} no training document in the "
             "--shortlist bundle: "
             + ("only the zero-shot half of the union offers them to the LLM" if zeroshot
                else "it never offers them to the LLM (--shortlist-zeroshot offers every "
                "label)"))


def _sample_rows(n: int, most: int):
    """Sorted rows of a seeded random sample of at most ``most`` of ``n``."""
    import numpy as np

    return np.sort(np.random.default_rng(0).permutation(n)[:most])


#: the help of ``tagsmith distill``
DISTILL_HELP = """Train a fast model on the LLM's soft LABELS (JSONL from `tagsmith label`).

Lines marked "copy_of" (copies `label --budget` gave their document's labels) are
left out: each text is learnt once, from its document's line. A mark the file
contradicts (another text, case and spacing aside; a copy of a copy) is an error
naming the line. A line repeating an earlier line's id and text (two label outputs
concatenated) is left out with a warning: each document is learnt once; an id given
to other texts is warned of (each text is learnt as a document). LABELS is
a file, not stdin ('-' is refused, as it is by every file or folder option).
"""


@cli.command(short_help="Train a fast model on an LLM's soft labels.", help=DISTILL_HELP)
@vocab_selection
@click.argument("labels", callback=a_path)
@click.option("--vocab", required=True, callback=a_path, help="The vocabulary the labels use.")
@click.option("-o", "--output", required=True, callback=a_path,
              help="Directory to write the student bundle to.")
@click.option("--model", type=click.Choice(available_models()), default="linear",
              show_default=True, help="Model family of the student, as for `train`.")
@click.option("-p", "--param", multiple=True, help="Model parameter KEY=VALUE (JSON value).")
@click.option("--featurizer", type=click.Choice(["tfidf", "embedding", "views"]),
              default="tfidf", show_default=True,
              help="Features, as for `train`: TF-IDF n-grams, sentence embeddings "
              "(tagsmith[embed]; dense_knn needs them), or several named views.")
@click.option("--feature-param", multiple=True, help="Featurizer parameter KEY=VALUE.")
@click.option("--human", callback=a_path,
              help="Human-labelled corpus to report the student's accuracy on.")
@click.option("--dev-fraction", type=float, default=0.1, show_default=True,
              help="Teacher-labelled share held out for agreement and thresholds.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the --dev-fraction split and the solver.")
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of label names.")
@click.option("--on-error", type=ERROR_POLICY, default="fail", show_default=True,
              help=ON_ERROR_HELP + " For LABELS and --human.")
@click.option("--unknown-labels", type=ERROR_POLICY, default="fail", show_default=True,
              help=UNKNOWN_LABELS_HELP + " For LABELS (a label with its score) "
              "and --human.")
@click.option("--json", "as_json", is_flag=True, help="The summary as one JSON object.")
@click.pass_obj
def distill(obj, labels, vocab, output, model, param, featurizer, feature_param, human,
            dev_fraction, seed, lang, on_error, unknown_labels, as_json):
    from tagsmith.pipeline.distill import DISTILL_STARVED_REMEDY, distill_classifier
    from tagsmith.pipeline.io import read_labelled
    from tagsmith.pipeline.llm import read_soft_labels

    # --featurizer: --model offered dense_knn, which needs sentence embeddings, and
    # refused it asking for a --featurizer distill did not have
    options = train_options_naming_params(
        model=model, model_params=_parse_params(param, "--param"), featurizer=featurizer,
        featurizer_params=_parse_params(feature_param, "--feature-param"),
        dev_fraction=dev_fraction, seed=seed, show_progress=not obj["quiet"])
    from tagsmith.store.bundle import check_bundle_target

    check_bundle_target(output)  # the bundle writer's own rule, before any work
    space = load_selected_vocabulary(vocab, language=lang)
    warn_unnamed_language(space, lang)  # as label does: a mistyped --lang went unnoticed
    # an unknown label's error names the vocabulary file, as train's and eval's do
    named = f"the vocabulary {vocab}"
    # a desk retraining on last month's human corpus and this month's LLM labels
    # concatenated read "from 7,536 LLM-labelled documents", 3,698 of them people's
    kinds: dict[str, int] = {}
    texts, Y = read_soft_labels(labels, space, vocabulary=named, on_error=on_error,
                                unknown_labels=unknown_labels, counts=kinds)
    # label's answers that no label applies: learnt as negatives of every label, which
    # the closing line said nowhere ("distilled linear from 50 LLM-labelled documents");
    # the lines whose every label --unknown-labels skip skipped, counted apart (they
    # were counted as the LLM's answers that no label applies): kinds' n_no_label, the
    # reader's own count (the empty rows less the skipped went wrong, or negative, were
    # an all-skipped line ever left out and counted)
    if not Y.nnz:
        from tagsmith.exceptions import CorpusFormatError
        from tagsmith.pipeline.io import review_queue_hint

        queue = review_queue_hint(labels)  # distill audit/review.csv, apply-review skipped
        raise CorpusFormatError(f"none of the {len(texts):,} document{plural_s(len(texts))} has a "
                                "label (with a "
                                "score above 0): nothing to distill from"
                                + (f"; {queue}" if queue else ""), path=labels)
    _warn_few_documents_a_label(Y, labels)
    # a --human corpus naming no label scored the student 0.0000 on every figure, as
    # if it were wrong everywhere; eval refuses such a corpus, so does distill
    human_data = (read_labelled(human, space, vocabulary=named, on_error=on_error,
                                unknown_labels=unknown_labels).require_labels(human, named)
                  if human else None)
    classifier, report = distill_classifier(
        texts, Y, space, options=options,
        human_texts=human_data.texts if human_data else None,
        human_Y=human_data.Y if human_data else None, human_name="--human",
        human_source=str(human), lang=lang,  # warnings name labels in --lang
        _starved_remedy=DISTILL_STARVED_REMEDY)
    # what info can say the student was distilled from, as calibrate keeps its --data's
    # base name (normpath: a folder given as docs/ has the base name "")
    classifier.manifest["distillation"].update(
        {"labels_file": os.path.basename(os.path.normpath(labels)),
         **({"human_file": os.path.basename(os.path.normpath(human))} if human else {})})
    # training.data and .vocab, as train's bundle names its files (a distilled one named
    # none there)
    record_training_files(classifier, data=labels, vocab=vocab)
    classifier.save(output)
    # how many documents each figure is on: 0.75 on 4 held-out documents says little
    heldout = classifier.manifest["metrics"].get("heldout") or {}
    # --human given label's output (the teacher's labels of held-out texts, a team with
    # no labels of its own) printed "accuracy against human labels": a teacher agreement
    from tagsmith.cli.commands import _is_label_output

    human_by_llm = bool(human) and _is_label_output(str(human))
    if as_json:
        # as train --json: a nightly label-then-distill job read the agreement with the
        # teacher out of the text lines, the one command saving a bundle with no --json
        training = classifier.manifest["training"]
        n_human = len(human_data.texts) if human_data else 0
        warn_one_label_student(classifier, Y, labels, vocab)  # in the warnings
        print_json({
            "model": model, "output": str(output), "n_docs": len(texts),
            "n_llm_labelled": kinds["n_scored"], "n_without_scores": kinds["n_unscored"],
            "n_no_label": kinds["n_no_label"],
            "n_all_labels_skipped": kinds["n_all_labels_skipped"],
            "n_labels": len(space), "seconds": round(training["seconds"], 3),
            **{key: {"n_docs": n, "metrics": report[key]} if report.get(key) else None
               for key, n in (("teacher_agreement", heldout.get("n_docs", 0)),
                              ("human_accuracy", n_human))},
            # human_accuracy's labels are an LLM's where --human is label's output
            **({"human_llm_labelled": human_by_llm} if human else {}),
            # as train --json's: the thresholds shipped, and the run's warnings, which
            # -q hid (a label the teacher never gave, never predicted)
            "thresholds": classifier.manifest["thresholds"],
            # the labels of 1 to 5 positives, each with its count (a warning names them)
            "starved_labels": report["starved_labels"],
            # counted at a target of at least this (0.5, as label --budget's summary)
            "starved_min_target": report["starved_min_target"],
            "warnings": obj.get("warnings") or []})
        if not obj["quiet"]:  # on stderr: stdout holds the one JSON object
            click.echo(_next_after_distill(output, human, lang, n_human, human_by_llm),
                       err=True)
        return
    click.echo(f"distilled {model} from {_documents_learnt(kinds)} -> {printable(output)}")
    for key, title, n in (
            ("teacher_agreement", "agreement with the teacher", heldout.get("n_docs", 0)),
            ("human_accuracy", f"agreement with the LLM's labels of {printable(str(human))}, "
             "label's output, not people's" if human_by_llm else
             "accuracy against human labels", len(human_data.texts) if human_data else 0)):
        metrics = report.get(key)
        if metrics:
            what = (f"held-out document{plural_s(n)}" if key == "teacher_agreement" else
                    f"document{plural_s(n)} it was not taught" if human_by_llm else
                    f"document{plural_s(n)}")
            click.echo(f"{title} ({n:,} {what}): P@1 {metrics['p@1']:.4f}  "
                       f"micro-F1 {metrics['micro_f1']:.4f}  macro-F1 {metrics['macro_f1']:.4f}")
    # after the figures it speaks of, as train warns (it said nothing: train warned)
    warn_one_label_student(classifier, Y, labels, vocab)
    if not obj["quiet"]:  # on stderr: stdout holds the results alone
        click.echo(_next_after_distill(output, human, lang,
                                       len(human_data.texts) if human_data else 0,
                                       human_by_llm), err=True)


def _next_after_distill(output: str, human: str | None, lang: str, n_human: int,
                        human_by_llm: bool = False) -> str:
    """The line distill ends with: the commands that use the student (the walk from raw
    texts stopped at its figures, naming none): suggest over new documents, and eval on
    a labelled corpus it was not taught; with --human that measure was taken above, so
    calibrate on it instead (probabilities and thresholds from documents not taught),
    where it holds as many documents as calibrate accepts (``n_human``: fewer, and the
    calibrate named failed as printed, "calibration needs at least 10"), and where it
    holds people's labels: ``human_by_llm`` (--human is label's output) named calibrate
    all the same, fitting the thresholds to the teacher's labels without a word."""
    from tagsmith._shell import shell_path, shell_word
    from tagsmith.pipeline.confidence import MIN_HELDOUT_DOCS

    student = shell_path(output)
    suggest = f"tagsmith suggest {student} DOCS" + (
        f" --lang {shell_word(lang)}" if lang != "en" else "")
    if human and not human_by_llm and n_human >= MIN_HELDOUT_DOCS:
        return (f"next: suggest labels with the student: {printable(suggest)}; or calibrate "
                f"it on --human first: {printable(f'tagsmith calibrate {student} --data')} "
                f"{printable(shell_path(human))}")
    return (f"next: suggest labels with the student: {printable(suggest)}; measure it on "
            f"a labelled corpus it was not taught: {printable(f'tagsmith eval {student} TEST')}")


def _documents_learnt(kinds: dict[str, int]) -> str:
    """What ``distill`` learnt from, its documents counted by kind: those with an LLM's
    ``scores``, and those without (labels counted 1: people's, concatenated in); and
    how many of them have no label (``n_no_label``: negatives of every label), and how
    many were left with none by ``--unknown-labels skip`` (``n_all_labels_skipped``).

    >>> _documents_learnt({"n_scored": 50, "n_unscored": 0, "n_no_label": 20})
    '50 LLM-labelled documents (20 of them with no label: learnt as negatives of every label)'
    >>> _documents_learnt({"n_scored": 50, "n_unscored": 0, "n_no_label": 0,
    ...                    "n_all_labels_skipped": 3})[26:86]
    '(3 of them whose every label --unknown-labels skip skipped: '
    """
    scored, unscored = kinds["n_scored"], kinds["n_unscored"]
    n_none, n_skipped = kinds.get("n_no_label", 0), kinds.get("n_all_labels_skipped", 0)
    parts = ([f"{n_none:,} of them with no label"] if n_none else []) + (
        [f"{n_skipped:,} {'more' if n_none else 'of them'} whose every label "
         "--unknown-labels skip skipped"] if n_skipped else [])
    none = (f" ({', '.join(parts)}: learnt as negatives of every label)" if parts else "")
    if not unscored:
        return f"{scored:,} LLM-labelled document{plural_s(scored)}{none}"
    if not scored:
        return (f"{unscored:,} document{plural_s(unscored)} without scores (no LLM's "
                f"labels: each label counted 1){none}")
    return (f"{scored + unscored:,} documents: {scored:,} LLM-labelled, {unscored:,} "
            f"without scores (labels counted 1, as people's){none}")


#: ``distill`` warns where the teacher's labels hold fewer documents than this a label on
#: average (over the labels they name), when they name at least
#: :data:`FEW_DOCUMENTS_FROM_LABELS` labels: at YSO's 27,754 labels, 1,001 documents over
#: about 1,200 labels distilled a student of P@1 .018 (stop 51)
FEW_DOCUMENTS_A_LABEL = 5
#: the fewest labels named for :data:`FEW_DOCUMENTS_A_LABEL`'s warning (a 2-label toy run
#: of 8 documents is no large label space to say this of)
FEW_DOCUMENTS_FROM_LABELS = 20


def _warn_few_documents_a_label(Y, labels: str) -> None:
    """Warn where the LLM-labelled documents are too few for the labels they name: fewer
    than :data:`FEW_DOCUMENTS_A_LABEL` documents a label on average, over at least
    :data:`FEW_DOCUMENTS_FROM_LABELS` labels named. A student learns a label from its
    documents; distilled so, at a large vocabulary it learnt next to nothing, and
    distill said nothing of it before its figures."""
    import numpy as np

    per_label = np.asarray((Y > 0).sum(axis=0)).ravel()
    named = int((per_label > 0).sum())
    if named < FEW_DOCUMENTS_FROM_LABELS:
        return
    mean = float(per_label.sum()) / named
    if mean >= FEW_DOCUMENTS_A_LABEL:
        return
    n_docs = Y.shape[0]
    warn(f"{labels}: the teacher's labels name {named:,} labels over {n_docs:,} document"
         f"{plural_s(n_docs)}, {mean:.1f} documents a label on average (fewer than "
         f"{FEW_DOCUMENTS_A_LABEL}): a student learns a label from its documents, and "
         "learns little from so few (1,001 documents over about 1,200 of YSO's labels "
         "distilled a student of P@1 .018); label more documents, label with a smaller "
         "vocabulary (--vocab-type, or the labels that matter), or train on a human-"
         "labelled corpus with the LLM-labelled documents added")


def _weights(value: str) -> tuple[float, ...]:
    """``zeroshot --weight``: one number in [0, 1], or several comma-separated
    (``--eval``'s rows), each finite; a weight given twice is refused."""
    import math

    weights = []
    for part in value.split(","):
        try:
            weight = float(part)
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or not 0.0 <= weight <= 1.0:
            raise click.BadParameter(f"expected a number in [0, 1], or several separated "
                                     f"by commas, got {part.strip()!r}"
                                     + (f" in {value!r}" if "," in value else ""),
                                     param_hint="'--weight'")
        if weight in weights:
            raise click.BadParameter(f"{weight:g} is given twice in {value!r}",
                                     param_hint="'--weight'")
        weights.append(weight)
    return tuple(weights)


def _check_eval_arguments(files: tuple[str, ...]) -> None:
    """``zeroshot --eval``: one CORPUS among FILES, and none of the options of
    suggestions."""
    from tagsmith.cli import given_on_command_line
    from tagsmith.cli.commands import refuse_stdin

    given = [option for name, option in (("k", "--k"), ("fmt", "--format"),
                                         ("whole_file", "--whole-file"))
             if given_on_command_line(name)]
    if given:
        raise click.UsageError(f"{' and '.join(given)} cannot be combined with --eval: "
                               "it measures each document's candidates as eval does "
                               "(P@1, P@3, P@5, and the label sets)")
    if len(files) != 1:
        raise click.UsageError("--eval takes one labelled CORPUS after VOCAB, got "
                               + ("none" if not files else f"{len(files)}: "
                                  + ", ".join(files)))
    refuse_stdin(files[0], "CORPUS")


def _read_gold(corpus: str, vocab: str, vocab_space, space, on_error: str,
               unknown_labels: str, *, keep_texts: bool = True):
    """``zeroshot --eval``'s CORPUS read as eval reads one, against the labels of VOCAB
    (``vocab_space``; a label of the corpus it lacks is refused, or left out with
    ``--unknown-labels skip``), its label table moved to the ids of ``space`` (VOCAB
    merged with a --bundle's labels). ``keep_texts=False``: each text's hash kept
    instead, the texts read again a chunk at a time to be scored, as eval reads its
    corpus (:func:`~tagsmith.pipeline.io.read_labelled`)."""
    import numpy as np
    import scipy.sparse as sp

    from tagsmith.exceptions import AmbiguousLabelError, UnknownLabelError
    from tagsmith.pipeline.io import read_labelled

    try:
        data = read_labelled(corpus, vocab_space, on_error=on_error,
                             unknown_labels=unknown_labels,
                             vocabulary=f"the vocabulary {vocab}",
                             vocab_option=_ZEROSHOT_VOCAB, keep_texts=keep_texts)
    except UnknownLabelError as exc:
        if exc.hint or isinstance(exc, AmbiguousLabelError):
            raise
        # as eval advises it: zero-shot suggests VOCAB's labels alone, so a gold label
        # outside it can only be missed
        raise exc.advised("give the vocabulary the corpus is labelled with as VOCAB, or "
                          "--unknown-labels skip to leave out the labels VOCAB lacks") \
            from None
    data.require_labels(corpus, vocab).require_text(corpus, "evaluate on")
    if space is not vocab_space:  # VOCAB's ids in the space merged with the bundle's
        ids = np.array([space.lookup(uri) for uri in vocab_space.uris], dtype=np.int64)
        move = sp.csr_matrix((np.ones(len(ids), data.Y.dtype), (np.arange(len(ids)), ids)),
                             shape=(len(vocab_space), len(space)))
        data.Y = sp.csr_matrix(data.Y @ move)
    return data


class _Restriction:
    """``zeroshot --eval``'s ``--only``, ``--exclude`` and ``--under``: the figures are
    over the labels they allow (``allowed``, a boolean mask over the labels, deprecated
    ones denied): each document's other labels are dropped from its truth, and a
    document left with none (or given none) is left out of the figures, counted (it
    would count 0 in P@k whatever zero-shot suggested: the restriction, not the scorer,
    would decide its figures). DEV (``--tune-on``) is restricted alike, so that the
    thresholds are tuned on the documents and labels evaluated."""

    def __init__(self, allowed, only, exclude, under):
        self.allowed = allowed
        self.keys = {name: [key for key, _ in keys] for name, keys in
                     (("only", only), ("exclude", exclude), ("under", under))}
        #: the options given, as a message names them ("--only and --exclude")
        self.given = " and ".join(f"--{name}" for name, keys in self.keys.items() if keys)
        #: (documents read, left out, label assignments dropped) of CORPUS and of DEV
        self.counts: dict[str, tuple[int, int, int]] = {}

    def apply(self, data, path: str, what: str, *, tuning: bool = False):
        """``data`` (a corpus read by :func:`_read_gold`) over the allowed labels: its
        documents carrying one, their labels outside dropped; a restriction leaving no
        document is refused naming ``path`` (``what``: CORPUS, ``--tune-on``)."""
        import numpy as np
        import scipy.sparse as sp

        from tagsmith.exceptions import DataError
        from tagsmith.pipeline.io import LabelledData, StreamedLabelledData

        Y = sp.csr_matrix(data.Y)
        kept = sp.csr_matrix(Y @ sp.diags(self.allowed.astype(Y.dtype)))
        kept.eliminate_zeros()
        rows = np.diff(kept.indptr) > 0
        n, n_kept = len(rows), int(rows.sum())
        if not n_kept:
            n_allowed = int(self.allowed.sum())
            raise DataError(
                f"no document of {what} carries a label {self.given} "
                f"allow{'' if ' and ' in self.given else 's'} ("
                + plural(n, "its one document carries none", f"none of its {n:,} "
                         "documents carries one") + f" of the {n_allowed:,} allowed label"
                f"{plural_s(n_allowed)}): nothing to "
                + ("tune thresholds on" if tuning else "evaluate")
                + "; allow labels the corpus holds", path=path)
        self.counts["tune" if tuning else "corpus"] = (n, n - n_kept, Y.nnz - kept.nnz)
        Y = kept[rows]
        if isinstance(data, StreamedLabelledData):
            return StreamedLabelledData([], Y, data.report, data.streamed.selected(rows),
                                        data.has_text)
        return LabelledData([text for text, keep in zip(data.texts, rows, strict=True)
                             if keep], Y, data.report)

    def record(self) -> dict:
        """``--json``'s ``provenance.restriction``: the options' labels as given, the
        labels allowed, and what was left out of CORPUS (and DEV)."""
        n, out, dropped = self.counts["corpus"]
        tune = self.counts.get("tune")
        return {**self.keys, "n_labels_allowed": int(self.allowed.sum()),
                "n_docs_read": n, "n_docs_left_out": out,
                "n_labels_dropped": dropped,
                "n_tune_docs_left_out": None if tune is None else tune[1]}

    def summary(self, n_labels: int) -> str:
        """The text's line above the figures."""
        n, out, dropped = self.counts["corpus"]
        n_allowed = int(self.allowed.sum())
        # ("1 of CORPUS's 5 documents carry one and are evaluated"; "of 1 documents")
        line = (f"restricted to {n_allowed:,} of {n_labels:,} label{plural_s(n_labels)} "
                f"({self.given}): {n - out:,} of CORPUS's {n:,} document{plural_s(n)} "
                + plural(n - out, "carries one and is", "carry one and are")
                + f" evaluated, {out:,} without one left out; {dropped:,} "
                f"label{plural_s(dropped)} given outside them dropped from the truth")
        tune = self.counts.get("tune")
        if tune is not None:
            line += (f"; DEV alike: {tune[0] - tune[1]:,} of {tune[0]:,} "
                     f"document{plural_s(tune[0])} kept")
        return line


def _tuning_objective(classifier) -> dict:
    """``zeroshot --eval --tune-on``'s objective, :func:`tune_thresholds`' keywords:
    the bundle's, as train tuned its thresholds (its F-beta, or the precision or recall
    its calibrated thresholds were tuned for, and its ``min_support`` and
    ``max_labels``); train's defaults without a bundle."""
    from tagsmith.pipeline.train import TrainOptions

    defaults = TrainOptions()
    if classifier is None:
        return {"beta": defaults.beta, "min_support": defaults.min_support}
    thresholds = classifier.thresholds
    options = classifier.manifest.get("training", {}).get("options", {})
    objective = {"min_support": int(options.get("min_support", defaults.min_support)),
                 "max_labels": thresholds.max_labels}
    if thresholds.min_precision is not None:
        return {**objective, "min_precision": thresholds.min_precision}
    if thresholds.min_recall is not None:
        return {**objective, "min_recall": thresholds.min_recall}
    beta = thresholds.beta if thresholds.beta is not None else options.get("beta")
    return {**objective, "beta": float(beta if beta is not None else defaults.beta)}


def _warn_tuning_overlap(dev, corpus_hashes, tune_on: str, corpus: str) -> None:
    """``zeroshot --eval --tune-on DEV``: DEV's documents of CORPUS warned of (eval's rule
    for CORPUS, :func:`in_training`: whitespace collapsed, case folded): thresholds tuned
    on the documents the figures are measured on make the figures optimistic. (Those the
    bundle was trained on are train --dev's check's, :func:`check_overlap`, as DEV is
    read.)"""
    import logging

    import numpy as np

    from tagsmith.cli.commands import _text_hashes
    from tagsmith.data.texthash import BLANK_HASH, in_training

    hashes = _text_hashes(dev)
    n = len(hashes)
    if not n:
        return
    known = np.unique(corpus_hashes[corpus_hashes != BLANK_HASH])
    n_seen = int(in_training(known, dev.texts, hashes=hashes).sum())
    if n_seen:
        logging.getLogger("tagsmith").warning(
            "%s (--tune-on): %s of its %s document%s %s of CORPUS %s: thresholds tuned on "
            "them make the figures optimistic (tune on documents neither the bundle nor "
            "CORPUS holds for a fair estimate)", printable(tune_on), f"{n_seen:,}",
            f"{n:,}", plural_s(n), plural(n_seen, "is a document", "are documents"),
            printable(corpus))


#: documents zeroshot --eval embeds and scores at a time (12 MB of embeddings)
EVAL_CHUNK = 8192


def _zeroshot_in_chunks(scorer, texts, k: int, *, blended: bool | None = None,
                        allowed=None):
    """``scorer.predict_topk(texts, k)`` a chunk of :data:`EVAL_CHUNK` documents at a
    time (``texts`` a list, or :class:`~tagsmith.data.corpus.StreamedTexts` read again
    from their corpus), under one progress bar: the same top-k, and one warning counting
    the blank documents of all of them, without holding every embedding at once.
    ``blended`` not None: one warning too counting the documents longer than the
    encoder's window, scored by their start alone, as ``zeroshot`` counts them
    (:func:`~tagsmith.zeroshot.scorer.warn_beyond_window`; ``blended``: with a bundle's
    scores). ``allowed``, a boolean mask over the labels: each document's top ``k`` of
    those alone, as ``zeroshot --only`` ranks them (the allowed labels' rows alone
    searched, :func:`~tagsmith.zeroshot.scorer.restricted_scorer`)."""
    from tagsmith.data.corpus import StreamedTexts
    from tagsmith.progress import progress_bar
    from tagsmith.topk import RowFill
    from tagsmith.zeroshot.encoder import n_beyond_window
    from tagsmith.zeroshot.scorer import (
        ForeignTexts,
        _first_allowed,
        blank_texts,
        restricted_scorer,
        warn_beyond_window,
        warn_blank,
    )

    n_docs = len(texts)
    foreign = ForeignTexts(getattr(scorer, "lang", "en"))
    if not n_docs:
        return scorer.predict_topk([], k)
    chunks = texts.chunks(EVAL_CHUNK) if isinstance(texts, StreamedTexts) else (
        texts[start:start + EVAL_CHUNK] for start in range(0, n_docs, EVAL_CHUNK))
    fill = RowFill(n_docs, scorer.n_labels)
    n_blank = n_long = 0
    show, scorer.show_progress = scorer.show_progress, False
    ranker = None if allowed is None else restricted_scorer(scorer, allowed)

    def ranked(chunk):
        if allowed is None:
            return scorer.predict_topk(chunk, k, warn=False)
        if ranker is not None:
            return ranker.predict_topk(chunk, k, warn=False)
        # nearly every label allowed: enough candidates for k allowed ones, the denied
        # ones dropped (as zeroshot ranks them)
        n_labels = scorer.n_labels
        return _first_allowed(scorer.predict_topk(
            chunk, min(n_labels, k + int((~allowed).sum())), warn=False),
            allowed, k, n_labels)

    try:
        with progress_bar(total=n_docs, desc="embedding", unit="text", enabled=show) as bar:
            for chunk in chunks:
                fill.add(ranked(chunk))
                n_blank += int(blank_texts(chunk).sum())
                if blended is not None:
                    n_long += n_beyond_window(scorer.encoder, chunk)
                    foreign.add(chunk)
                bar.update(len(chunk))
    finally:
        scorer.show_progress = show
    if n_blank:
        warn_blank(n_blank, n_docs)
    window = getattr(scorer.encoder, "window", None)
    if n_long and window is not None:
        # as zeroshot says it: the figures measured the scores of their start alone
        warn_beyond_window(n_long, n_docs, window[1], blended=bool(blended))
    foreign.warn(n_docs)
    return fill.result()


def _evaluate_zeroshot(scorer, classifier, gold, weights, threshold, per_label: bool,
                       as_json: bool, corpus: str, vocab: str, bundle: str | None,
                       background, *, known, width: int, model_k: int,
                       replacements, dev=None, tune_on: str | None = None,
                       lang: str = "en", restriction: _Restriction | None = None) -> None:
    """``zeroshot --eval``: every document of ``gold`` embedded and scored once (and by
    the bundle once), then eval's metrics (:func:`evaluate_label_sets`) of the zero-shot
    ranking, or of its blend at each of ``weights``; the label sets are each document's
    best label (:func:`label_sets_by_margin`), or the labels of a score (as printed) of
    at least ``threshold``, or with ``dev`` (the labelled corpus ``tune_on``, scored
    alike) the labels passing per-label thresholds tuned on ``dev``'s scores at each
    weight as train tunes a bundle's (:func:`tune_thresholds`, the bundle's
    objective). The per-label rows name labels in ``lang`` (``--lang``), as eval's do.
    ``restriction`` (``--only``, ``--exclude``, ``--under``; ``gold`` and ``dev``
    restricted by it already): the allowed labels alone are ranked, blended and
    predicted, and the output says what was left out."""
    import numpy as np

    from tagsmith._score import shown_scores
    from tagsmith.calibration.thresholds import tune_thresholds
    from tagsmith.cli.commands import (
        _print_per_label,
        _text_hashes,
        print_metrics,
    )
    from tagsmith.pipeline.compare import corpus_fingerprint
    from tagsmith.pipeline.evaluate import (
        evaluate_label_sets,
        forced_below,
        warn_training_overlap,
    )
    from tagsmith.pipeline.io import StreamedLabelledData
    from tagsmith.pipeline.train import _tune_learnt
    from tagsmith.topk import TopK
    from tagsmith.zeroshot.scorer import blend_topk, label_sets_by_margin

    space = scorer.label_space
    # a named pipe cannot be read twice: its texts are held
    texts = gold.streamed if isinstance(gold, StreamedLabelledData) else gold.texts
    propensity = None
    if classifier is not None:
        # documents the bundle was trained on, warned of as eval warns of them
        warn_training_overlap(classifier, texts, corpus)
        if classifier.n_train_docs:  # as eval's psp@k, a label new to the bundle unseen
            import scipy.sparse as sp

            from tagsmith.metrics import propensities

            counts = np.zeros(len(space))
            counts[:classifier.n_labels] = classifier.label_counts
            propensity = propensities(sp.csr_matrix(counts[None, :]),
                                      n_docs=classifier.n_train_docs)

    corpus_hashes = _text_hashes(gold)
    if dev is not None:
        _warn_tuning_overlap(dev, corpus_hashes, tune_on or "", corpus)

    def scored(texts, long_warned: bool = False):
        """A function of a weight: the texts' zero-shot ranking, or its blend at it.
        ``long_warned``: the documents longer than the encoder reads counted in a warning
        (CORPUS's, once: the figures are of their start's scores)."""
        zeroshot_topk = _zeroshot_in_chunks(
            scorer, texts, width, blended=(classifier is not None) if long_warned else None,
            allowed=None if restriction is None else restriction.allowed)
        if classifier is None:
            return lambda weight: zeroshot_topk
        model_topk = classifier.predict_topk(texts, model_k)
        return lambda weight: blend_topk(
            model_topk, zeroshot_topk, weight=weight, k=width, known_labels=known,
            exclude=denied, model_space=classifier.label_space,
            zeroshot_space=space, replacements=replacements)

    denied = space.deprecated_mask if restriction is None else ~restriction.allowed
    scores = scored(texts, long_warned=True)
    dev_scores = None if dev is None else scored(dev.texts)
    objective = None if dev is None else _tuning_objective(classifier)
    thresholds = None if threshold is None else np.full(len(space), threshold)
    corpus_print = corpus_fingerprint(corpus_hashes, gold.Y, space)
    read = gold.report
    runs = []
    min_labels = {}  # a weight's tuned min_labels, for the per-label table's note
    untrained = None  # at weight 0 (the model alone), the labels with no model score
    if classifier is not None and known is not None:
        untrained = ~known
        for ids in replacements.values():  # the model's scores passed on make them known
            untrained[list(ids)] = False
    for weight in (weights if classifier is not None else (None,)):
        topk = scores(weight)
        forced = None
        if dev_scores is not None and untrained is not None and weight == 0:
            # as train tunes the thresholds of labels the model never learnt: left out
            # of the tuning and never predicted (they backed off to the global
            # threshold, a score of 0 never reaching it, without a word)
            tuned = _tune_learnt(dev.Y, dev_scores(weight), untrained, **(objective or {}))
            y_pred = tuned.label_sets(topk)
            thresholds = tuned.per_label
            forced = forced_below(tuned, topk, y_pred) if per_label else None
            min_labels[weight] = tuned.min_labels
        elif dev_scores is not None:  # thresholds tuned on DEV's scores at this weight
            tuned = tune_thresholds(dev.Y, dev_scores(weight), **(objective or {}))
            y_pred = tuned.label_sets(topk)
            thresholds = tuned.per_label
            forced = forced_below(tuned, topk, y_pred) if per_label else None
            min_labels[weight] = tuned.min_labels
        elif threshold is None:
            y_pred = label_sets_by_margin(topk)
        else:  # the score as zeroshot prints it, as zeroshot --threshold compares it
            shown = TopK._trusted(topk.indices, shown_scores(topk.scores), topk.n_labels)
            y_pred = shown.label_sets(threshold)
        metrics = evaluate_label_sets(gold.Y, topk, y_pred, space, thresholds,
                                      propensity=propensity, per_label=per_label,
                                      forced=forced, lang=lang)
        runs.append((weight, metrics))
    # the labels never predicted at weight 0, in train's words
    never = 0 if untrained is None or 0 not in min_labels else int(
        np.count_nonzero(untrained & ~denied))
    if as_json:
        from datetime import UTC, datetime

        from tagsmith import __version__
        from tagsmith.pipeline.compare import provenance

        skipped = {"n_unknown_labels": getattr(read, "n_unknown_labels", 0),
                   "n_skipped_lines": getattr(read, "n_skipped_lines", 0)}
        if classifier is not None:  # eval's, naming the bundle as it does (its
            # fingerprints, of its data and labels: a path alone matched no saved bundle)
            common = provenance(classifier, bundle or "", corpus, corpus_print,
                                vocab=vocab, threshold=threshold, **skipped)
        else:
            common = {
                "vocab": vocab, "bundle": None, "corpus": corpus,
                "corpus_fingerprint": corpus_print,
                "n_unknown_labels_skipped": skipped["n_unknown_labels"],
                "n_lines_skipped": skipped["n_skipped_lines"], "threshold": threshold,
                "evaluated": datetime.now(UTC).isoformat(timespec="seconds"),
                "tagsmith_version": __version__}
        for weight, metrics in runs:
            if dev is not None:  # beside the counts: only the per-label rows said it
                rows = metrics.pop("per_label", None)
                metrics["n_never_learnt_labels"] = never if weight == 0 else 0
                if rows is not None:
                    metrics["per_label"] = rows
            print_json({**metrics, "provenance": {
                **common, "weight": weight, "background": list(background) or None,
                "tune_on": tune_on,
                "n_tune_docs": None if dev is None else len(dev.texts),
                "restriction": None if restriction is None else restriction.record()}})
        return
    if restriction is not None:
        click.echo(restriction.summary(len(space)))
    if dev is not None:
        also = (f"; at weight 0, {never:,} label{plural_s(never)} never predicted (no "
                "training document)" if never else "")
        click.echo(f"thresholds tuned per label on {printable(tune_on or '')} "
                   f"({len(dev.texts):,} document{plural_s(len(dev.texts))}) at each "
                   f"weight, as train tunes them{also}")
    if len(runs) == 1:
        weight, metrics = runs[0]
        if weight is not None:
            click.echo(f"weight {weight:g}")
        rows = metrics.pop("per_label", None)
        print_metrics(metrics)
        if per_label:
            _print_per_label(rows or [], min_labels.get(weight, 0))
        return
    columns = [key for key in runs[0][1] if key in WEIGHT_TABLE_METRICS]
    widths = [max(6, len(key)) for key in columns]
    # as wide as the longest weight: --weight 0.33333 pushed its row out of line
    first = max(len("weight"), *(len(f"{weight:g}") for weight, _ in runs))
    click.echo("  ".join([f"{'weight':<{first}}", *(
        f"{key:>{width}}" for key, width in zip(columns, widths, strict=True))]))
    for weight, metrics in runs:
        click.echo("  ".join([f"{weight:<{first}g}", *(
            f"{metrics[key]:>{width}.4f}" for key, width in zip(columns, widths,
                                                                 strict=True))]))
    n_docs = runs[0][1]["n_docs"]
    click.echo(f"({n_docs:,} document{plural_s(n_docs)}; --json: every metric, a weight a line)")
    if per_label:
        for weight, metrics in runs:
            click.echo(f"\nweight {weight:g}:", nl=False)
            _print_per_label(metrics["per_label"] or [], min_labels.get(weight, 0))


#: the columns of zeroshot --eval's table of several --weight
WEIGHT_TABLE_METRICS = ("p@1", "p@3", "p@5", "lrap", "micro_f1", "macro_f1",
                        "samples_f1", "micro_precision", "micro_recall")


#: what zeroshot's refusal of a vocabulary given as documents names
_ZEROSHOT_VOCAB = "VOCAB, the first argument"


#: the help of ``tagsmith zeroshot``
ZEROSHOT_HELP = """Suggest labels of VOCAB for documents in FILES (one per line; '-' or none: stdin)
without training data or an LLM. A .csv or .jsonl file (optionally .gz) is read as
a corpus: one document per record, named by its id when it has one; a folder, one
document per .txt file in it (sorted by name), named by its stem as the corpus
reader names it (NAME for FOLDER/NAME.txt, so the ids join with an eval or audit of
FOLDER); a file given on its own keeps its path (with --whole-file) or FILE:LINE.
A file, folder or stdin whose every document is a lone <URI> (a vocabulary) is
refused, as is a SKOS vocabulary (.ttl...) or a CSV one (a 'uri' column, no
'text'), among FILES and --background alike.

Scores are embedding similarities between documents and label names, alternative
labels and descriptions (the packaged all-MiniLM-L6-v2; needs tagsmith[embed]).
A text is read up to its first 256 word pieces (about 200 words); the rest of a
longer document does not count.
With --background, each label's score is lowered by half its mean similarity to
its nearest background documents, so generic labels stop winning everywhere
(+0.7 to +1.2 points of P@1 from names only on GoEmotions, Reuters and YSO test;
benchmarks/RESULTS.md).
With --eval, FILES is one labelled CORPUS, and eval's figures are printed instead:
of zero-shot, or of its blend with --bundle at each --weight (0,0.25,0.5: a row
each), to choose a weight.
"""


@cli.command(short_help="Suggest labels of VOCAB with no training data.", help=ZEROSHOT_HELP)
@vocab_selection
@click.argument("vocab", callback=a_path)
@click.argument("files", nargs=-1, callback=a_path)
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Suggestions per document.")
@click.option("--threshold", type=float, default=None, callback=finite_number(-1.5, 1.5),
              help="Keep suggestions (of the --k best) scoring at least this; a document "
              "may get none. Without --bundle a score is a cosine (in [-1, 1]; with "
              "--background in [-1.5, 1.5]); with --bundle the blended score, in [0, 1]. "
              "Default: all --k.")
@click.option("--bundle", callback=a_path,
              help="Trained bundle to blend with: each label scores (1 - weight) "
              "x model + weight x zero-shot, matched by URI; labels of VOCAB the bundle "
              "never trained on have model score 0, labels not in VOCAB are never "
              "suggested; a bundle that shares no label with VOCAB is refused.")
@click.option("--weight", "weights", default="0.5", show_default=True, metavar="W[,W...]",
              callback=lambda ctx, param, value: _weights(value),
              help="Zero-shot share of the blended score: 0 the model alone, 1 zero-shot "
              "alone. With --eval, several comma-separated (0,0.25,0.5): one row of "
              "figures each, the documents embedded and scored once.")
@click.option("--index", type=click.Choice(["auto", "exact", "hnsw"]), default="auto",
              show_default=True, help="Label search (hnsw: approximate, for huge vocabularies).")
@click.option("--template", default="{}", show_default=True,
              help="Text each label name is put in, e.g. 'This text is about {}.'")
@click.option("--cache-dir", default=EMBEDDING_CACHE,
              show_default=True, callback=a_cache_dir,
              help="Where label embeddings (and an HNSW label index) are "
              "cached ('' for no cache).")
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl", "tsv"]), default="json",
              show_default=True, callback=json_lines_as_json,
              help="json: one object per document; tsv: one row per "
              "suggestion, doc, <uri>, label, score; jsonl: json's other name (one object "
              "a line).")
@click.option("--whole-file", is_flag=True, help="Each FILE (or stdin) is one document, not "
              "one per line (refused for a .csv or .jsonl corpus).")
@click.option("--background", "background", multiple=True, callback=a_path,
              help="Unlabelled documents of the collection (one per line; of a TSV "
              "corpus, the text before the first tab; of a .csv or .jsonl corpus, each "
              "record's text), to correct for labels that are "
              "close to every document (CSLS hubness correction); may be FILES "
              "themselves; repeatable.")
@click.option("--background-sample", type=click.IntRange(min=1), default=BACKGROUND_SAMPLE,
              show_default=True, help="At most this many background documents (a seeded "
              "random sample).")
@click.option("--hubness-neighbors", type=click.IntRange(min=1), default=10, show_default=True,
              help="Background documents per label row that measure its hubness.")
@click.option("--lang", default="en", show_default=True, callback=language_code,
              help="Language of the label names encoded and shown (and of a TSV "
              "vocabulary's names).")
@click.option("--eval", "eval_corpus", is_flag=True,
              help="Evaluate instead of suggesting: FILES is one labelled CORPUS (as eval "
              "reads it, labelled with VOCAB's labels), and the figures of eval are "
              "printed, the label sets each document's best label, or the labels "
              "scoring at least --threshold.")
@click.option("--tune-on", callback=a_path, metavar="DEV",
              help="With --eval: a labelled corpus (read as CORPUS) whose scores at each "
              "--weight tune per-label thresholds as train tunes a bundle's (its "
              "objective), the label sets of CORPUS then those passing them.")
@click.option("--json", "as_json", is_flag=True,
              help="With --eval: one JSON object a --weight, as eval --json's.")
@click.option("--per-label", is_flag=True, help="With --eval: also each label's support, "
              "precision and recall, as eval --per-label.")
@click.option("--on-error", type=ERROR_POLICY, default="fail", show_default=True,
              help="With --eval: " + ON_ERROR_HELP)
@click.option("--unknown-labels", type=ERROR_POLICY, default="fail", show_default=True,
              help="With --eval: " + UNKNOWN_LABELS_HELP)
@click.option("--most-specific", is_flag=True, help=MOST_SPECIFIC_HELP
              + " (VOCAB's; with --bundle, VOCAB's over the bundle's), as suggest "
              "--most-specific: of the suggestions listed, after --k and --threshold; not "
              "with --eval.")
@click.option("--only", multiple=True, callback=label_list, metavar="FILE|LABEL,...",
              help="Suggest only these labels of VOCAB (each document gets its --k best of "
              "them), as suggest --only: " + LABEL_LIST_HELP + ".")
@click.option("--exclude", multiple=True, callback=label_list, metavar="FILE|LABEL,...",
              help="Never suggest these labels (a thesaurus's categories, STW's thsys, that "
              "are headings, not subjects): " + LABEL_LIST_HELP + ".")
@click.option("--under", multiple=True, callback=label_list, metavar="FILE|LABEL,...",
              help="Suggest only labels in these branches of VOCAB's hierarchy (each label "
              "and its narrower ones, at any depth): " + LABEL_LIST_HELP + ". With --eval "
              "(any of the three): the figures are over the allowed labels, each "
              "document's others dropped from its truth and a document left with none "
              "left out (counted); --tune-on's DEV restricted alike.")
@click.pass_obj
def zeroshot(obj, vocab, files, k, threshold, bundle, weights, index, template, cache_dir, fmt,
             whole_file, background, background_sample, hubness_neighbors, lang, eval_corpus,
             tune_on, as_json, per_label, on_error, unknown_labels, most_specific,
             only, exclude, under):
    import numpy as np

    from tagsmith.cli import refuse_unused
    from tagsmith.zeroshot.encoder import SentenceEncoder, n_beyond_window
    from tagsmith.zeroshot.scorer import (
        BLEND_CANDIDATES,
        ForeignTexts,
        ZeroShotClassifier,
        _first_allowed,
        blank_texts,
        blend_topk,
        check_index_available,
        restricted_scorer,
        warn_beyond_window,
        warn_blank,
    )

    refuse_unused("--bundle", bool(bundle), "weights")
    refuse_unused("--eval", eval_corpus, "tune_on", "as_json", "per_label", "on_error",
                  "unknown_labels")
    if eval_corpus and most_specific:
        raise click.UsageError("--most-specific and --eval cannot be combined: measure "
                               "the most specific labels of a bundle with eval "
                               "--most-specific")
    if eval_corpus:
        _check_eval_arguments(files)
        if tune_on is not None and threshold is not None:
            raise click.UsageError("--tune-on and --threshold cannot be combined: the "
                                   "label sets are those of thresholds tuned on DEV, or "
                                   "of the one given")
    elif len(weights) > 1:
        raise click.BadParameter("several weights only apply with --eval (one blend "
                                 "suggests)", param_hint="'--weight'")
    weight = weights[0]
    refuse_unused("--background", bool(background), "background_sample", "hubness_neighbors")
    if bundle and threshold is not None and not 0.0 <= threshold <= 1.0:
        # a blended score is in [0, 1]: above 1 no document would get a suggestion
        raise click.BadParameter(f"expected a number in [0, 1] with --bundle (a blended "
                                 f"score), got {threshold!r}", param_hint="'--threshold'")
    if not bundle and not background and threshold is not None \
            and not -1.0 <= threshold <= 1.0:
        # a cosine is in [-1, 1]: 1.2 gave no document a suggestion, -1.2 kept all --k
        raise click.BadParameter(f"expected a number in [-1, 1] without --background (a "
                                 f"cosine), got {threshold!r}", param_hint="'--threshold'")

    if index == "hnsw":  # (auto: checked below, once the label rows can be counted)
        from tagsmith.zeroshot.index import require_hnswlib

        # before the bundle, the encoder and every label text's embedding load
        require_hnswlib()
    if cache_dir:
        cache_dir = _check_cache_dir(cache_dir)
    # before the encoder and bundle load; a vocabulary given as the documents or the
    # background is refused, naming the argument that takes one
    if not eval_corpus:  # a corpus is checked as it is read, as eval reads it
        check_document_files(files, whole_file, vocab_option=_ZEROSHOT_VOCAB)
    check_document_files(tuple(background), vocab_option=_ZEROSHOT_VOCAB)
    classifier = None
    if bundle:
        from tagsmith.pipeline.classifier import TextClassifier

        classifier = TextClassifier.load(bundle)
    space = load_selected_vocabulary(vocab, language=lang)
    vocab_space = space  # of VOCAB alone: the labels of a corpus to evaluate on
    if classifier is not None:
        # as suggest, eval and audit --vocab do: the labels a selection left out of the
        # bundle's vocabulary were "added" labels ranked on zero-shot alone, and nothing
        # named the selection
        from tagsmith.cli.vocab_names import warn_other_selection

        warn_other_selection(classifier, vocab, bundle, "VOCAB")
        _warn_vocab_changed(classifier, space, vocab, bundle, lang, weight)
        space = classifier.label_space.updated(space)
    warn_english_encoder(space, lang)  # before the encoder loads (seconds)
    if len(space) and space.deprecated_mask.all():
        # the scorer said "at least one label with a name", after loading the encoder,
        # and with --bundle the bundle was refused as sharing no label instead
        from tagsmith.exceptions import VocabularyError

        raise VocabularyError("every label is deprecated, and zero-shot never suggests a "
                              "deprecated label: mark the labels to suggest as not "
                              "deprecated", path=vocab)
    # before the encoder loads (seconds): an unknown label is refused naming its option
    allowed = allowed_by_options(space, only, exclude, under)
    # deprecated labels and those the options deny: never suggested
    denied = space.deprecated_mask if allowed is None else space.deprecated_mask | ~allowed
    if allowed is not None and denied.all():  # each document got no suggestion, exit 0
        from tagsmith.exceptions import InvalidParameterError

        given = " and ".join(f"--{name}" for name, keys in
                             (("only", only), ("exclude", exclude), ("under", under)) if keys)
        raise InvalidParameterError(given, "a restriction allowing some label that is not "
                                    "deprecated (zero-shot never suggests a deprecated "
                                    "label)", "one that allows deprecated labels alone")
    strict = None
    if most_specific:  # a flat vocabulary refused before the encoder loads (seconds);
        # the closure less its diagonal made once, not per batch
        from tagsmith.metrics.hierarchy import strict_ancestors

        strict = strict_ancestors(most_specific_closure(space, None, vocab))
    known, model_k, width, replacements = None, k, k, {}
    if eval_corpus:  # eval's candidates: every label (the top 100 of a larger vocabulary)
        from tagsmith.pipeline.evaluate import tuning_k

        model_k = width = tuning_k(len(space))
    if classifier is not None:  # labels with training documents; new ones go zero-shot
        known = np.zeros(len(space), bool)
        known[:classifier.n_labels] = classifier.label_counts > 0
        known &= ~denied
        # a trained label VOCAB deprecates with a replacement (dct:isReplacedBy) gives
        # its model score to its replacements: it was lost
        replacements = _trained_replacements(classifier, space)
        # both sides offer the same candidates whatever k: the zero-shot distribution
        # was over its top k alone and the model's scores outside its top k were
        # dropped, so --k decided the ranking (--k 1 was not the first of --k 2)
        width = min(len(space), max(width, BLEND_CANDIDATES))
        # the model's top k of its own labels may hold labels it cannot suggest here
        # (not in VOCAB, or never trained on): ask for that many more, so that it still
        # gives its k best of the others (at --weight 0 a document got fewer, or none)
        model_k = min(classifier.n_labels,
                      width + int((~known[:classifier.n_labels]).sum()))
        if not known[:classifier.n_labels].any() and not replacements:
            # a bundle of another vocabulary: the model would add nothing (--weight 0 gave
            # no suggestion at all, exit 0); refused before the encoder loads
            from tagsmith.exceptions import InvalidParameterError

            raise InvalidParameterError("--bundle", f"a bundle trained on labels of {vocab} "
                                        "(matched by URI; it shares none with training "
                                        "documents)", bundle)
    if index == "auto":
        # above HNSW_FROM_ROWS label rows auto needs hnswlib: the scorer refused it only
        # after the encoder had loaded (seconds)
        check_index_available(space, index, lang=lang, template=template)
    from tagsmith.exceptions import VocabularyError
    from tagsmith.zeroshot.scorer import _label_texts

    texts_owners = _label_texts(space, lang=lang, template=template, use_alt_labels=True,
                                use_descriptions=True)[:2]
    if not texts_owners[0]:
        # before the encoder loads (seconds); the scorer's refusal, "parameter
        # 'label_space' must be at least one label with a name, got 0", named no file, a
        # parameter no command line has, and exit code 2
        raise VocabularyError("no label has a name, alternative label or description (with "
                              "a letter or digit): zero-shot matches documents to label "
                              "names; give the labels names (a TSV vocabulary's second "
                              "column)", path=vocab)
    if allowed is not None and not allowed[texts_owners[1]].any():
        # the allowed labels have no text to match (a name of punctuation alone): the
        # restricted scorer refused them after the encoder had loaded, naming a
        # parameter 'allowed' no command line has (each document got none before)
        from tagsmith.exceptions import InvalidParameterError

        given = " and ".join(f"--{name}" for name, keys in
                             (("only", only), ("exclude", exclude), ("under", under)) if keys)
        raise InvalidParameterError(given, "a restriction allowing some label with a name, "
                                    "alternative label or description (with a letter or "
                                    "digit): zero-shot never suggests a label without one",
                                    "one that allows such labels alone")
    gold = None
    if eval_corpus:  # read and checked before the encoder loads (seconds)
        # its texts read again a chunk at a time to be scored, as eval streams its
        # corpus: every text and embedding was held (15 MB of text and 150 MB of
        # embeddings per 100,000 documents)
        gold = _read_gold(files[0], vocab, vocab_space, space, on_error, unknown_labels,
                          keep_texts=False)
    restriction = None
    if gold is not None and allowed is not None:
        # over the allowed labels alone: the others dropped from the truth, and the
        # documents left with none left out of the figures (counted), before the encoder
        # loads
        restriction = _Restriction(allowed & ~space.deprecated_mask, only, exclude, under)
        gold = restriction.apply(gold, files[0], "CORPUS")
    dev = None
    if tune_on is not None:  # read alike, before the encoder loads
        dev = _read_gold(tune_on, vocab, vocab_space, space, on_error, unknown_labels)
        if restriction is not None:  # tuned on the documents and labels evaluated
            dev = restriction.apply(dev, tune_on, "--tune-on", tuning=True)
        if classifier is not None:
            from tagsmith.pipeline.train import check_overlap

            # train --dev's rule: a DEV of at least half the bundle's training documents
            # tunes nothing and is refused (it was warned of alone, and the figures tuned
            # on it reported), one of fewer warned of
            check_overlap(classifier.train_hashes, dev.texts, name="--tune-on",
                          source=printable(tune_on))
    stdin = None
    if background and reads_stdin(tuple(background)) and reads_stdin(files):
        stdin = read_stdin_bytes()  # both read stdin, which can be read only once
    background_texts = None
    if background:  # read and checked before the encoder loads (seconds)
        texts = [text for _, text in _read_documents(tuple(background), False, stdin,
                                                     unique_ids=False, checked=True,
                                                     vocab_option=_ZEROSHOT_VOCAB)]
        from tagsmith.exceptions import DataError

        # bad input data (exit code 3), as shift's FILES with no document and a
        # vocabulary with no label text are: a usage error (2) said the command line
        # was wrong where the file was
        named = "--background " + ", ".join("stdin" if name == "-" else name
                                            for name in background)
        if not texts:
            raise DataError(f"no document in {named} (empty, or blank lines alone)")
        from tagsmith.zeroshot.scorer import blank_texts

        if blank_texts(texts).all():
            # the scorer's refusal named a parameter 'texts' and no file (exit code 2)
            n = len(texts)
            raise DataError(f"no document with a letter or digit in {named} ("
                            + plural(n, "its one document is", f"its {n:,} documents are each")
                            + " blank or punctuation alone)")
        # left out before the sample is drawn (a log message counts them): drawn first,
        # a sample of a file of mostly such documents could hold none else, refused
        # naming a parameter 'texts' (exit code 2)
        texts = ZeroShotClassifier._without_blanks(texts)
        background_texts = [texts[i] for i in _sample_rows(len(texts), background_sample)]
        # the sample alone is kept: every document was held while the encoder loaded and
        # embedded the label texts and the sample (a 20.7 MB file: 32.5 MB)
        del texts
    # '' is no cache: as a path it was the working directory, which got the cache files
    encoder = SentenceEncoder()
    # with --only / --exclude / --under and no cached embeddings of the whole VOCAB, the
    # allowed labels' texts alone are embedded (restricted_scorer then gives it back)
    scorer = ZeroShotClassifier(space, encoder, lang=lang, template=template,
                                index=index, cache_dir=cache_dir or None,
                                show_progress=not obj["quiet"], allowed=allowed)
    if background_texts is not None:
        scorer.fit_background(background_texts, neighbors=hubness_neighbors)
    if gold is not None:
        _evaluate_zeroshot(scorer, classifier, gold, weights, threshold, per_label, as_json,
                           files[0], vocab, bundle, background, known=known, width=width,
                           model_k=model_k, replacements=replacements, dev=dev,
                           tune_on=tune_on, lang=lang, restriction=restriction)
        return
    # one bar over all documents: a bar per batch of 256 ended at 100% (in a log: a line
    # "embedding: 256/256 text (100%)" a batch) and never said how far the input was
    scorer.show_progress = False
    # the allowed labels' rows alone searched: asking for width plus every denied label
    # ranked nearly all of YSO's 25,000 for each document with --only of ten
    ranker = None if allowed is None else restricted_scorer(scorer, allowed)
    n_docs = n_blank = n_long = 0
    foreign = ForeignTexts(lang)
    with documents_progress("zeroshot") as progress:
        # the first batches smaller (16, 32, ... 256 documents): the count stood at 0
        # while the first 256 were embedded, 10-35 s on 2 cores
        for batch in _batches(_read_documents(files, whole_file, stdin, checked=True,
                                              vocab_option=_ZEROSHOT_VOCAB), 256, first=16,
                              ready=input_ready):
            texts = [text for _, text in batch]
            # counted over the run: a warning a batch said "2 of 14 documents" of 30
            if allowed is None:
                topk = scorer.predict_topk(texts, width, warn=False)
            elif ranker is not None:
                topk = ranker.predict_topk(texts, width, warn=False)
            else:  # enough candidates for width allowed ones, the denied ones dropped
                topk = _first_allowed(scorer.predict_topk(
                    texts, min(len(space), width + int((~allowed).sum())), warn=False),
                    allowed, width, len(space))
            n_docs += len(texts)
            n_blank += int(blank_texts(texts).sum())
            n_long += n_beyond_window(encoder, texts)
            foreign.add(texts)
            if classifier is not None:
                topk = blend_topk(classifier.predict_topk(texts, model_k), topk, weight=weight,
                                  k=k, known_labels=known, exclude=denied,
                                  model_space=classifier.label_space, zeroshot_space=space,
                                  replacements=replacements)
            # the threshold compares the score printed: 0.4999996, printed 0.5, was
            # dropped at --threshold 0.5
            listed = [[(int(i), shown_score(s)) for i, s in zip(ids, scores, strict=True)
                       if threshold is None or shown_score(s) >= threshold]
                      for ids, scores in topk.rows()]
            if strict is not None:  # after --k and --threshold, as suggest's
                kept = most_specific_ids([[i for i, _ in row] for row in listed], strict)
                listed = [[(i, s) for i, s in row if i in keep]
                          for row, keep in zip(listed, kept, strict=True)]
            for (doc_id, _), row in zip(batch, listed, strict=True):
                items = [{"uri": space.uri_of(i), "label": space.name_of(i, lang),
                          "score": s} for i, s in row]
                if fmt == "json":
                    print_json({"doc": doc_id, "suggestions": items})
                else:
                    for item, (_, s) in zip(items, row, strict=True):
                        click.echo(f"{tsv_field(doc_id)}\t<{tsv_field(item['uri'])}>\t"
                                   f"{tsv_field(item['label'])}\t{score_text(s)}")
            progress.update(len(batch))
    if not n_docs:  # said nothing but the INFO line "zeroshot: 0 docs", as suggest did
        warn_no_documents(files)
    if n_blank:
        warn_blank(n_blank, n_docs)
    if n_long and encoder.window is not None:
        # said in --help alone: a folder of reports was scored by their first page
        warn_beyond_window(n_long, n_docs, encoder.window[1], blended=classifier is not None)
    foreign.warn(n_docs)
