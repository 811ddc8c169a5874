"""LLM clients behind one small interface (DESIGN.md rule 3).

:class:`LLMClient` is the protocol: ``complete(request) -> ChatResponse`` plus a shared
:class:`Usage` account. Implementations:

- :class:`OpenAIChatClient`: any OpenAI-compatible ``/chat/completions`` endpoint
  (OpenAI, vLLM, Ollama, llama.cpp server, gateways), on the standard library's
  ``http.client``: timeouts, retries with exponential backoff and jitter on
  408/409/425/429, 5xx (but 501 and 505), timeouts and broken connections
  (``Retry-After`` honoured), a concurrency limit, token and cost accounting, the API
  key from an environment variable, the proxy from ``HTTPS_PROXY`` / ``HTTP_PROXY``
  (``NO_PROXY`` and loopback hosts go direct).
- :class:`ScriptedLLM`: the in-process test double, answering with a Python function.
- :class:`~tagsmith.labeling.cache.CachedClient` wraps either with the SQLite cache.

:func:`complete_all` runs many requests on a bounded thread pool, in order, with a
progress bar that shows calls, cache hits and cost.

>>> llm = ScriptedLLM(lambda request: "pong")
>>> llm.complete(ChatRequest(model="any", messages=({"role": "user", "content": "ping"},))).text
'pong'
>>> llm.usage.n_requests
1
"""

from __future__ import annotations

import base64
import contextvars
import datetime
import email.utils
import errno
import functools
import hashlib
import http.client
import io
import ipaddress
import json
import logging
import math
import numbers
import os
import random
import re
import selectors
import socket
import ssl
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote_to_bytes, urlsplit

from tagsmith._params import check_int, check_number
from tagsmith._plural import clip, plural, plural_s
from tagsmith.data.textio import LONE_SURROGATE
from tagsmith.exceptions import (
    InvalidParameterError,
    LLMConfigError,
    LLMError,
    LLMRefusalError,
)
from tagsmith.labeling.refusals import refusal_words
from tagsmith.progress import progress_bar

if TYPE_CHECKING:
    from tagsmith.labeling.cache import ResponseCache

logger = logging.getLogger("tagsmith")

#: HTTP statuses worth retrying: timeouts, conflicts, rate limits; server errors are
#: retried by :func:`_is_transient` (every 5xx but these)
RETRY_STATUSES = frozenset({408, 409, 425, 429})
#: server errors that say the request will never work there: not implemented, an HTTP
#: version not supported (asking again gets the same answer)
PERMANENT_SERVER_ERRORS = frozenset({501, 505})
#: the names an error object's ``code`` or ``type`` gives a request that is refused as
#: it is, asking again getting the same answer (OpenAI's, Anthropic's, Azure's)
BAD_REQUEST_ERRORS = frozenset({
    "invalid_request_error", "context_length_exceeded", "string_above_max_length",
    "invalid_prompt", "invalid_value", "invalid_type", "missing_required_parameter",
    "unsupported_parameter", "unsupported_value", "request_too_large", "content_filter",
    "content_policy_violation"})
#: the names an error object's ``code``, ``type`` or inner error's ``code`` gives a
#: prompt a provider's content filter or safety system refused (Azure OpenAI's
#: ``content_filter`` with ``ResponsibleAIPolicyViolation``, OpenAI's
#: ``content_policy_violation``): that document alone, asking again getting the same
CONTENT_FILTER_ERRORS = frozenset({"content_filter", "content_policy_violation",
                                   "responsibleaipolicyviolation"})
#: the names an error object's ``code`` or ``type`` gives a refused API key (OpenAI's
#: ``invalid_api_key`` comes with the type ``invalid_request_error``)
KEY_ERRORS = frozenset({"authentication_error", "permission_error", "invalid_api_key"})
#: the names an error object's ``code`` or ``type`` gives an account out of quota or
#: credit (OpenAI's comes as HTTP 429, a rate limit's status, but no wait lifts it)
QUOTA_ERRORS = frozenset({"insufficient_quota"})
#: the names an error object's ``code`` or ``type`` gives a model the endpoint does not
#: serve (OpenAI's ``model_not_found`` comes with the type ``invalid_request_error``,
#: Anthropic's ``not_found_error``), as HTTP 404 says
MODEL_ERRORS = frozenset({"model_not_found", "not_found_error"})
#: the codes of failures worth a retry that an error object may give with a type of
#: :data:`BAD_REQUEST_ERRORS` (rate limits, a server error, an overloaded server)
RETRY_ERRORS = frozenset({
    "rate_limit_exceeded", "rate_limit_error", "server_error", "overloaded_error",
    "api_error", "timeout", "service_unavailable"})
USER_AGENT = "tagsmith-llm-client"
#: what the message of a refusal told from the response cache ends with
CACHED_REFUSAL = " (kept in the response cache: --retry-refused asks again)"
#: the longest per-request timeout accepted (a day), in seconds
MAX_TIMEOUT = 86400.0
#: the highest price per million tokens accepted (1,000 a token, in any currency): a
#: price of 1e308 passed as finite, and the tokens of a few calls cost inf
MAX_PRICE = 10 ** 9
#: the largest reply body read (a chat answer is a few kilobytes)
MAX_RESPONSE_BYTES = 16 << 20
#: the longest :func:`complete_all` waits, once interrupted, for the calls it aborted to end
ABORT_GRACE = 5.0
#: how often that wait looks whether the calls left are only storing their answers
ABORT_POLL = 0.05
#: how often, in seconds, a connection attempt looks whether abort() was called (the
#: socket a connect is waiting on does not exist for abort() to shut down until then)
CONNECT_POLL = 0.1
#: seconds (at most the client's timeout) that the TLS handshake tried after an HTTP
#: 400 to an ``http://`` URL waits: the server has just answered, and one of HTTPS
#: answers a handshake at once, where one of plain HTTP may wait for a line end
HTTPS_PROBE_TIMEOUT = 5.0
#: the largest token count a reply's usage may report for one request (more is a broken
#: count, estimated instead: SQLite cannot even store one from 2**63)
MAX_REPORTED_TOKENS = 10**12
#: the longest, in seconds, a request goes on asking a server that answers it is still
#: loading its model (llama.cpp's HTTP 503 "Loading model") before those tries count
#: against ``max_retries``: a model that took over ~30 s to load failed the first
#: documents, and could stop the run
LOAD_WAIT = 300.0
#: the longest wait, in seconds, between two tries of a server loading its model
LOAD_POLL = 5.0
#: a request's try after one that timed out waits twice as long, up to this many times
#: the client's ``timeout``: a server answering one request at a time keeps the others
#: queued, and a retry at the same timeout went to the back of the queue and timed
#: out again, every try of every document (6 x 60 s each)
TIMEOUT_GROWTH = 2.0
#: how many tries in a row, across the requests of a run (a :func:`complete_all`; each
#: starts the count afresh), with no reply from the server between them, may time out
#: before the run stops (:class:`LLMConfigError`, a rerun resuming): a server that
#: answered and then stalled cost each document ``1 + max_retries`` whole timeouts,
#: the run stopping after ten of them (an hour)
TIMEOUTS_IN_A_ROW = 3
#: the highest sampling temperature chat-completions endpoints accept
MAX_TEMPERATURE = 2.0
#: the largest ``max_tokens`` (output token limit) a request may ask for: no model
#: writes a million tokens in one answer
MAX_OUTPUT_TOKENS = 1_000_000
#: the request parameters a server may refuse (HTTP 400 or 422 naming one), which are
#: then left out, and what leaving each out means
OPTIONAL_PARAMETERS = {
    # LM Studio, older vLLM and models without JSON mode: answers are still parsed as
    # strictly, the prompt asks for the JSON object
    "response_format": " (the prompt asks for JSON all the same)",
    # OpenAI's reasoning models (o1, o3, gpt-5) take only their default temperature
    "temperature": " (at the server's default temperature: answers may vary between "
                   "runs)",
    "seed": "",
    # OpenAI's reasoning models want max_completion_tokens instead; the parameter, which
    # the command line names by its option (it told Python callers "--max-tokens")
    "max_tokens": " (at the server's own output token limit: max_tokens has no effect)",
}
#: the longest, in seconds, the model list (``GET .../models``) is waited for, once a
#: run (:meth:`OpenAIChatClient.listed_details`)
LIST_TIMEOUT = 5.0
#: the longest, in seconds, :meth:`CachedClient.close` waits for a model list already
#: answered to be compared and noted (a read and a write of the cache)
LIST_NOTE_WAIT = 2.0
#: the kind of the cache's ``endpoint_notes`` row noting what the model list said of a
#: model name (:data:`~tagsmith.labeling.cache.NOTES_SCHEMA`)
LISTED_KEY = "listed"
#: the kind of the ``endpoint_notes`` row naming the models that served a model name
#: in turn
SEVERAL_KEY = "several"
#: the ``system_fingerprint`` of Ollama's replies, whose model list's ``created`` is the
#: time the model was pulled or made (vLLM's and llama.cpp's: the time of the listing)
OLLAMA_FINGERPRINT = "fp_ollama"
#: between the model names noted for a model name asked that the endpoint serves by
#: several models in turn (an ``endpoint_notes`` row's ``note``; a name has no line
#: break), and how many are kept
SERVED_SEPARATOR = "\n"
MAX_SERVED_NOTED = 8
#: the stop flag of the :func:`complete_all` run whose worker thread makes the call now
#: (None outside one): set once the run stops, it is checked before each try and each
#: send (:meth:`OpenAIChatClient.complete`). The client's own events (``try_no_more``,
#: ``abort``) are replaced when set, so that later calls are not affected: a worker
#: that had not yet sent its request when they were set took the fresh ones and made
#: every try of it after the run had stopped
_RUN_STOP: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "tagsmith_llm_run_stop", default=None)


def run_stop() -> threading.Event | None:
    """The stop flag of the :func:`complete_all` run whose worker thread calls this (a
    client's ``complete``), or None outside one: set once the run stops (a stopping
    failure, Ctrl-C), it tells a client of the caller's own (any :class:`LLMClient`) to
    send nothing more and end the call, as :class:`OpenAIChatClient` does before each
    try and each send. ``run_stop().wait(delay)`` in place of ``time.sleep(delay)`` ends a
    wait to retry at once. A client of one's own could not see it (the flag was private):
    its calls went on sending, and retrying, after the run had stopped, and the run
    waited for them.

    >>> run_stop() is None  # no run here
    True
    """
    return _RUN_STOP.get()


_HEADER_SAFE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")


def check_temperature(name: str, value: object) -> float:
    """``value`` as a sampling temperature in [0, :data:`MAX_TEMPERATURE`], for an
    option to keep; otherwise raise :class:`InvalidParameterError`.

    Numpy numbers pass and come back as a ``float`` (a ``float32`` failed the request's
    JSON); a Python ``int`` comes back unchanged, so the request, and with it the
    response cache's key, stays what it was (``"temperature": 0``, not ``0.0``) and a
    rerun still finds the answers it paid for.

    >>> import numpy as np
    >>> check_temperature("temperature", np.float32(0.5)), check_temperature("t", 0)
    (0.5, 0)
    """
    number = check_number(name, value, 0, maximum=MAX_TEMPERATURE, numpy=True)
    return value if type(value) is int else number


def check_max_tokens(name: str, value: object) -> int | None:
    """``value`` as an output token limit (``max_tokens``) in [1,
    :data:`MAX_OUTPUT_TOKENS`], or None (the server's own), for an option to keep;
    otherwise raise :class:`InvalidParameterError`.

    >>> check_max_tokens("max_tokens", 2048), check_max_tokens("max_tokens", None)
    (2048, None)
    """
    number = check_int(name, value, 1, allow_none=True, numpy=True)
    if number is not None and number > MAX_OUTPUT_TOKENS:
        raise InvalidParameterError(name, f"None or an integer in [1, {MAX_OUTPUT_TOKENS:,}]",
                                    value)
    return number


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request; its :meth:`cache_key` covers everything sent."""

    model: str
    messages: tuple[dict, ...]
    temperature: float = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    json_mode: bool = False

    def payload(self) -> dict:
        """The JSON body sent to ``/chat/completions``, a new dict each call (the client
        drops a refused parameter from its own).

        Its messages are checked for lone surrogates once (:func:`_valid_text`): a
        request's payload is built for its cache key, its POST and the cache's record
        of it, and each build scanned the whole prompt again. A request whose messages
        held none is remembered as clean (a flag, not the payload: 20,000 payloads
        kept would cost more memory than they save time).

        >>> request = ChatRequest("m", ({"role": "user", "content": "cut \\ud83d"},))
        >>> sent = [request.payload()["messages"][0]["content"] for _ in range(2)]
        >>> sent == ["cut \\ufffd"] * 2
        True
        >>> request.payload() is request.payload()
        False
        """
        if self.__dict__.get("_clean"):
            messages = [dict(m) for m in self.messages]
        else:
            messages = [{key: _valid_text(value) for key, value in m.items()}
                        for m in self.messages]
            if messages == list(self.messages):  # no lone surrogate: none to check again
                object.__setattr__(self, "_clean", True)  # frozen: not a field
        body: dict = {"model": self.model, "messages": messages,
                      "temperature": self.temperature}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.seed is not None:
            body["seed"] = self.seed
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        return body

    def cache_key(self) -> str:
        """SHA-256 over the canonical JSON payload (model + prompt + parameters).

        Computed once per request and kept (a request's messages are not to be changed
        once made): a rerun of ``label`` answered from the cache hashed each request
        four times (its check, the pre-call count, the cache, the client): 23.5 s of
        a 20,000-call rerun became 15.4 s.

        >>> request = ChatRequest("m", ({"role": "user", "content": "hi"},))
        >>> request.cache_key() is request.cache_key()
        True
        """
        key = self.__dict__.get("_cache_key")
        if key is None:
            canonical = json.dumps(self.payload(), sort_keys=True, ensure_ascii=False,
                                   separators=(",", ":"))
            key = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
            object.__setattr__(self, "_cache_key", key)  # frozen: not a field
        return key


@dataclass
class ChatResponse:
    """The assistant's text and the tokens it cost (``cached``: served from the cache);
    ``estimated_*``: the part of each count estimated, where the reply reported none."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    #: why the model stopped, where the reply said ("length": cut at its output token
    #: limit); not kept in the response cache
    finish_reason: str | None = None
    estimated_prompt_tokens: int = 0
    estimated_completion_tokens: int = 0
    #: how many of its two token counts the reply reported (0 among them: a count)
    reported_counts: int = 0
    #: the reply's field the text was read from where it was not ``content``: a
    #: reasoning field holding the whole answer (``reasoning_content``), "" otherwise;
    #: not kept in the response cache
    read_from: str = ""
    #: what the reply said served it: its ``model`` (OpenAI's dated snapshot behind an
    #: alias) and ``system_fingerprint`` (the backend's configuration), "" where it
    #: said none; not kept in the response cache (:class:`CachedClient` notes them
    #: per model, warning when they change)
    served_model: str = ""
    fingerprint: str = ""

    def cut_note(self) -> str:
        """What a message about a malformed answer adds when the answer was cut at the
        output token limit (its JSON unfinished): the reason, not the model, to fix.

        >>> ChatResponse('{"labels": [', finish_reason="length").cut_note()[-47:]
        "finish_reason 'length'; --max-tokens raises it)"
        """
        return (" (the answer was cut at the server's output token limit: finish_reason "
                "'length'; --max-tokens raises it)" if self.finish_reason == "length"
                else "")


@dataclass
class Usage:
    """Thread-safe account of calls, tokens and cost (prices per million tokens).

    >>> usage = Usage(price_prompt=1.0, price_completion=2.0)
    >>> usage.add(ChatResponse("x", prompt_tokens=1_000_000, completion_tokens=500_000))
    >>> usage.cost, usage.n_requests
    (2.0, 1)
    """

    #: None: no price given (the cost unknown); 0: free, as a model served locally is
    price_prompt: float | None = None
    price_completion: float | None = None
    n_requests: int = 0
    n_cached: int = 0
    n_retries: int = 0
    #: tries made again because the server said it was still loading its model
    #: (:data:`LOAD_WAIT`): not retries of a failure (a load of minutes read "240
    #: retries" for 4 documents, as if the endpoint were failing)
    n_load_polls: int = 0
    n_failed: int = 0
    #: calls the model or a content filter refused (:class:`LLMRefusalError`, or an
    #: answer declining in prose: :meth:`count_prose_refusal`): not failures (the JSON
    #: usage's "failed" counted them, where the labeling's n_failed_calls did not), nor
    #: answered calls (``n_requests``); their replies' tokens are counted, as billed
    n_refused: int = 0
    #: the part of ``n_refused`` declining in prose (:meth:`count_prose_refusal`): an
    #: answer the response cache stored (label keeps it; taxonomy drops it, counted in
    #: its ``n_dropped``), not in the JSON usage
    n_prose_refused: int = 0
    #: calls abandoned by an abort (Ctrl-C): not failures, a rerun asks them again
    n_interrupted: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: the part of ``prompt_tokens`` / ``completion_tokens`` estimated (at 4 characters
    #: a token) because the reply reported no count
    estimated_prompt_tokens: int = 0
    estimated_completion_tokens: int = 0
    #: the token counts the replies reported, 0 among them: "all estimated: the endpoint
    #: reported none" where one reported ``prompt_tokens: 0`` alone (0 + the estimated
    #: completion made every token estimated)
    reported_counts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, response: ChatResponse) -> None:
        with self._lock:
            if response.cached:
                self.n_cached += 1
                return
            self.n_requests += 1
            self.prompt_tokens += response.prompt_tokens
            self.completion_tokens += response.completion_tokens
            self.estimated_prompt_tokens += response.estimated_prompt_tokens
            self.estimated_completion_tokens += response.estimated_completion_tokens
            self.reported_counts += response.reported_counts

    def bill(self, prompt_tokens: int, completion_tokens: int,
             estimated_prompt_tokens: int = 0, estimated_completion_tokens: int = 0,
             reported_counts: int = 0) -> None:
        """Tokens of a reply that could not be used (no text in it): the provider bills
        them all the same, so costs count them (``estimated_*``: the part estimated;
        ``reported_counts``: how many of the two counts the reply reported)."""
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.estimated_prompt_tokens += estimated_prompt_tokens
            self.estimated_completion_tokens += estimated_completion_tokens
            self.reported_counts += reported_counts

    def count(self, what: str) -> None:
        """Count a retry (``"retry"``), a try made again as the server loads its model
        (``"load_poll"``), a request that failed for good (``"failed"``),
        one abandoned by an abort (``"interrupted"``), one the model or a content filter
        refused (``"refused"``) or a refusal told from the response cache
        (``"cached"``)."""
        with self._lock:
            if what == "retry":
                self.n_retries += 1
            elif what == "load_poll":
                self.n_load_polls += 1
            elif what == "cached":
                self.n_cached += 1
            elif what == "refused":
                self.n_refused += 1
            elif what == "interrupted":
                self.n_interrupted += 1
            else:
                self.n_failed += 1

    def count_prose_refusal(self) -> None:
        """Count an answer received (:meth:`add`) as refused instead: its text declines
        the task in prose (or in a JSON object listing nothing), a refusal as the
        model's own ``message.refusal`` is. Its tokens stay counted: it was billed."""
        with self._lock:
            self.n_requests = max(0, self.n_requests - 1)
            self.n_refused += 1
            self.n_prose_refused += 1

    def uncount_cached(self) -> None:
        """Take back one cache hit (a refusal, or an answer, told from the response
        cache), the request having been asked again (``label --retry-refused``): the
        new call is counted, the hit it replaced was counted as well (3 documents read
        "cached: 3" beside the 2 calls asked again)."""
        with self._lock:
            self.n_cached = max(0, self.n_cached - 1)

    @property
    def cost(self) -> float:
        return (self.prompt_tokens * (self.price_prompt or 0.0)
                + self.completion_tokens * (self.price_completion or 0.0)) / 1e6

    @property
    def priced(self) -> bool:
        """Whether a price was given (either): without one the cost is unknown, not 0
        (the summaries said 'cost 0.0000', which read as a free run). A price of 0 is
        one: a local model's calls are free (``--price-prompt 0`` read as no price, the
        cost 'unknown (no --price-*)')."""
        return self.price_prompt is not None or self.price_completion is not None

    def to_dict(self) -> dict:
        """The counts as JSON keys; ``cost`` is None where no price was given;
        ``estimated_*_tokens`` the part of each token count the client estimated (the
        replies reported none), 0 where the endpoint reported every count."""
        return {"requests": self.n_requests, "cached": self.n_cached,
                "retries": self.n_retries, "load_polls": self.n_load_polls,
                "failed": self.n_failed,
                "refused": self.n_refused,
                "interrupted": self.n_interrupted, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "estimated_prompt_tokens": self.estimated_prompt_tokens,
                "estimated_completion_tokens": self.estimated_completion_tokens,
                "cost": round(self.cost, 6) if self.priced else None}

    def summary(self, *, flags: bool = False) -> str:
        """One line of the counts and cost. A price not given is named as a Python
        caller gives it, the client's ``price_prompt``; ``flags``: as the command line
        gives it (``--price-prompt``), the CLI's wording (it was the default, and
        ``client.usage.summary()`` in a notebook told of options of a command it never
        ran)."""
        interrupted = f", {self.n_interrupted:,} interrupted" if self.n_interrupted else ""
        if self.n_refused:  # a refusal is a reply, billed: its tokens are counted below
            interrupted = f", {self.n_refused:,} refused (billed)" + interrupted
        tokens = self.prompt_tokens + self.completion_tokens
        guessed = self.estimated_prompt_tokens + self.estimated_completion_tokens
        # an endpoint that reports no usage: its counts read as the server's own
        # "all" where no count was reported: a reported 0 is reported, not missing
        estimated = ((" (all estimated: the endpoint reported none)"
                      if guessed == tokens and not self.reported_counts
                      else f" ({guessed:,} estimated: the endpoint reported none)")
                     if guessed else "")
        # n_requests counts the calls answered (a failed one is in n_failed): a failed
        # run read "0 calls, ..., 5 failed", as if the failures were of no call
        # every count with separators, as the tokens ("1200 answered calls, ...,
        # 1,234,567 tokens")
        return (f"{self.n_requests:,} answered call{plural_s(self.n_requests)}, "
                f"{self.n_cached:,} cached, "
                f"{self.n_retries:,} {plural(self.n_retries, 'retry', 'retries')}, "
                + (f"{self.n_load_polls:,} asked again as the model loaded, "
                   if self.n_load_polls else "") +
                f"{self.n_failed:,} failed{interrupted}, "
                f"{tokens:,} token{plural_s(tokens)}{estimated}, "
                + (f"cost {self.cost:.4f}{self._cost_part(flags=flags)}" if self.priced
                   else "cost unknown (no --price-*)" if flags
                   else "cost unknown (no price given to the client)"))

    def _cost_part(self, short: bool = False, *, flags: bool = False) -> str:
        """What :attr:`cost` leaves out where one price alone was given: it counts the
        other kind of token at no cost (``--price-completion`` alone read as the whole
        cost, the prompts' unknown price as free). ``short``: the progress bar's
        note, " (completion only)", as its running 'cost X' read as the whole cost.
        ``flags``: the price not given named as :meth:`summary` names it."""
        def missing(kind: str) -> str:
            return f"--price-{kind}" if flags else f"price_{kind} given to the client"

        if self.price_prompt is None and self.prompt_tokens:
            return (" (completion only)" if short else
                    " (completion tokens only: the prompt price is unknown, no "
                    f"{missing('prompt')})")
        if self.price_completion is None and self.completion_tokens:
            return (" (prompt only)" if short else
                    " (prompt tokens only: the completion price is unknown, no "
                    f"{missing('completion')})")
        return ""

    def cost_postfix(self, cost: float | None = None) -> str:
        """The progress bar's " cost X" (``cost``: this pass's part, else the whole),
        noting "(completion only)" where one price alone was given; "" where none was
        (no 'cost 0.0000', which read as free)."""
        if not self.priced:
            return ""
        return f" cost {self.cost if cost is None else cost:.4f}{self._cost_part(short=True)}"


class _Hidden:
    """A value that may be a secret, shown in messages by its length alone.

    >>> _Hidden("sk-123")
    <a value of 6 characters, not shown>
    """

    def __init__(self, value: object):
        self.size = len(value) if isinstance(value, str) else None

    def __repr__(self) -> str:
        return (f"<a value of {self.size} character{plural_s(self.size)}, not shown>"
                if self.size is not None else "<a value that is not a string, not shown>")


def _valid_text(value):
    """``value`` with any lone surrogate as U+FFFD when it is a string (else as it is).

    A JSON corpus with an emoji cut in half (``"\\ud83d"``) gives a string that neither
    the request body, the cache key nor SQLite can encode as UTF-8.

    >>> _valid_text("ok \\ud83d cut") == "ok \\ufffd cut", _valid_text(3)
    (True, 3)
    """
    return LONE_SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


class LLMClient(Protocol):
    """What the labeling engine needs from an LLM."""

    model: str
    usage: Usage

    def complete(self, request: ChatRequest) -> ChatResponse:
        """The assistant's answer to ``request``; raises :class:`LLMError` on failure."""
        ...


def check_client(name: str, client: object) -> None:
    """Refuse ``client`` unless it is an :class:`LLMClient` (a ``complete`` method, a
    ``model`` and a ``usage``): None, or a model name given for the client, failed as an
    AttributeError deep in the labeling (``'str' object has no attribute 'model'``).

    >>> check_client("client", "gpt-4o-mini")
    Traceback (most recent call last):
    ...
    tagsmith.exceptions.InvalidParameterError: parameter 'client' must be an LLM client \
(OpenAIChatClient(base_url, model), CachedClient, ScriptedLLM), got 'str'
    """
    if not (callable(getattr(client, "complete", None)) and hasattr(client, "model")
            and hasattr(client, "usage")):
        raise InvalidParameterError(
            name, "an LLM client (OpenAIChatClient(base_url, model), CachedClient, "
                  "ScriptedLLM)", type(client).__name__)


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters per token) where an endpoint reports none."""
    return max(1, len(text) // 4)


class ScriptedLLM:
    """In-process test double: ``responder(request) -> str`` plays the model.

    A responder may raise :class:`LLMError` to play a failing endpoint.
    """

    def __init__(self, responder: Callable[[ChatRequest], str], *, model: str = "scripted",
                 usage: Usage | None = None):
        self.responder = responder
        self.model = model
        self.usage = usage or Usage()

    def __repr__(self) -> str:  # it was <...ScriptedLLM object at 0x7f...>
        return f"{type(self).__name__}(model={self.model!r})"

    def complete(self, request: ChatRequest) -> ChatResponse:
        """The responder's text for ``request`` as a :class:`ChatResponse`, its tokens
        estimated from the prompt and the text (counted in ``usage``); whatever the
        responder raises (an :class:`LLMError` playing a failure) is raised."""
        text = self.responder(request)
        prompt, written = _prompt_estimate(request), estimate_tokens(text)
        response = ChatResponse(text, prompt, written, estimated_prompt_tokens=prompt,
                                estimated_completion_tokens=written)
        self.usage.add(response)
        return response


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's wish, in seconds;
    ``billed`` the (prompt, completion) tokens a reply without usable text reported,
    then the part of each estimated and how many were reported (as :func:`_billing`
    gives them)."""

    def __init__(self, reason: str, retry_after: float | None = None,
                 billed: tuple[int, int, int, int, int] | None = None, refused: bool = False,
                 final: bool = False, config: str = "", unknown_host: str = "",
                 untrusted: bool = False, no_tls: bool = False, speaks_tls: bool = False,
                 declined: bool = False, timed_out: bool = False, loading: bool = False,
                 refused_at: str = ""):
        super().__init__(reason)
        #: the address that refused the connection ("" where unknown)
        self.refused_at = refused_at
        #: the server said it is still loading its model (llama.cpp's HTTP 503
        #: "Loading model"): asked again for up to ``load_wait`` seconds
        self.loading = loading
        #: no whole reply within the timeout (a slow model, or a queue before it)
        self.timed_out = timed_out
        #: the model or a content filter declined the document (a refusal, finish_reason
        #: "content_filter", a moderation flag): an :class:`LLMRefusalError` when final
        self.declined = declined
        self.retry_after = retry_after
        self.billed = billed
        #: the connection was refused: nothing listens at the address
        self.refused = refused
        #: the host name the resolver said it does not know (not that it failed for
        #: now, EAI_AGAIN), "" for any other failure
        self.unknown_host = unknown_host
        #: the server's certificate failed verification (self-signed, a proxy
        #: inspecting TLS, another host's): asking again gets the same certificate
        self.untrusted = untrusted
        #: the server answered the TLS handshake with no TLS (plain HTTP at an
        #: ``https://`` URL): asking again gets the same
        self.no_tls = no_tls
        #: the server reset (or closed unanswered) an ``http://`` request and answers a
        #: TLS handshake (HTTPS at an ``http://`` URL): asking again gets the same
        self.speaks_tls = speaks_tls
        #: a reply without text that asking again would get again, paid for each time (a
        #: refusal, a tool call, the token limit reached before any answer): not retried
        self.final = final
        #: what is misconfigured (in an error object of an HTTP 200 reply): "key" (the
        #: API key refused: the run stops as at an HTTP 401 or 403), "model" (a model
        #: not served: as at an HTTP 404), "quota" (the account's quota used up) or ""
        #: (nothing: the request alone failed)
        self.config = config


class _Aborted(Exception):
    """A call ended by :meth:`OpenAIChatClient.abort`."""


#: how a kept-alive connection the server closed while it sat idle fails on reuse
#: (vLLM, uvicorn and most gateways close idle connections after a few seconds)
_STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                     ConnectionAbortedError)


class OpenAIChatClient:
    """Client for an OpenAI-compatible chat-completions endpoint.

    ``base_url`` is the API root (``https://api.openai.com/v1``,
    ``http://127.0.0.1:8000/v1``); requests go to ``{base_url}/chat/completions``.
    The API key is read from the environment variable ``api_key_env`` (none is sent
    when it is unset, as local servers need none), and sent as a bearer token, or in
    Azure OpenAI's ``api-key`` header there, or in the header ``api_key_header`` names.
    ``timeout`` is per request in seconds (connecting, sending and the whole reply,
    however slowly it comes); a request is tried ``1 + max_retries`` times, waiting
    ``min(backoff_max, backoff_base * 2**attempt)`` times a random factor in [0.5, 1]
    between tries, or the server's ``Retry-After`` (at most ``5 * max(backoff_max, 1)``
    seconds: a server asking for hours is asked again sooner). A server that answers it
    is still loading its model (llama.cpp's HTTP 503 "Loading model") is asked again,
    at most every :data:`LOAD_POLL` seconds, for up to ``load_wait`` seconds a request
    before those tries count against ``max_retries``. At most
    ``max_concurrency`` requests are in flight at once, however many threads call
    :meth:`complete`.
    Prices are per million prompt / completion tokens; None (neither given): the cost
    is unknown; 0: free (a model served locally).

    Shown without the user:password or query the URL may hold; :meth:`close` (or the end
    of a ``with`` block) closes its connections. Here it asks the loopback test server:

    >>> from tagsmith.testing.llm_server import LocalChatServer
    >>> OpenAIChatClient("https://user:pw@api.example.com/v1", "gpt-4o-mini")
    OpenAIChatClient('https://api.example.com/v1', model='gpt-4o-mini')
    >>> with LocalChatServer(lambda body: "pong") as server:
    ...     with OpenAIChatClient(server.base_url, "m") as client:
    ...         client.complete(ChatRequest("m", ({"role": "user", "content": "ping"},))).text
    ...         client.usage.n_requests
    'pong'
    1
    """

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 60.0, max_retries: int = 5, backoff_base: float = 1.0,
                 backoff_max: float = 60.0, max_concurrency: int = 4,
                 price_prompt: float | None = None, price_completion: float | None = None,
                 seed: int | None = None, api_key_header: str | None = None,
                 load_wait: float = LOAD_WAIT):
        if not isinstance(base_url, str):  # a number: an AttributeError from urlsplit
            raise InvalidParameterError("base_url", "an http:// or https:// URL",
                                        type(base_url).__name__)
        if _credentials_cut(base_url):
            # user:12/secret@127.0.0.2: urllib ends the host at the "/", reading host
            # "user" and port 12 (the request went there), and every message showed the
            # rest of the password as the path; with letters after the ":" the port
            # error showed them. The "got" is the URL after its last "@"
            raise InvalidParameterError(
                "base_url", "a URL whose credentials (user:password@) have any '/', '?' "
                "or '#' in them percent-encoded (%2F, %3F, %23), else the host is read "
                "from inside the password (an '@' of the path or query: write it %40)",
                _unparsed_redact(base_url))
        try:
            parts = urlsplit(base_url)
        except ValueError:  # "Invalid IPv6 URL": a bracket unclosed, no address in them
            # shown without user:password nor query (either may hold a secret)
            raise InvalidParameterError(
                "base_url", "a URL whose host, if in brackets, is an IPv6 address "
                "(http://[::1]:8000/v1)", _unparsed_redact(str(base_url))) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidParameterError("base_url", "an http:// or https:// URL with a "
                                        "host (http://HOST:PORT/v1)",
                                        _unparsed_redact(str(base_url)))
        try:
            parts.port  # noqa: B018 - urllib checks the port only when it is read
        except ValueError:  # the value shown is the port alone: the URL may hold a secret
            raise InvalidParameterError(
                "base_url", "a URL whose port is a number in 0-65535",
                "port " + parts.netloc.rpartition("@")[2].rpartition(":")[2]) from None
        if parts.path.rstrip("/").lower().endswith("/chat/completions"):
            # the endpoint's full URL, pasted from a provider's docs: every request would
            # go to .../chat/completions/chat/completions and come back 404
            raise InvalidParameterError(
                "base_url", "the API root, without the /chat/completions that every "
                "request adds (e.g. http://127.0.0.1:8000/v1)", _redact(base_url.rstrip("/")))
        if re.search(r"[\x00-\x20\x7f]", parts.path + parts.query):
            # kept on every request, where http.client refused it quoting it all (a
            # query may hold a key): each try failed alike
            raise InvalidParameterError(
                "base_url", "a URL without spaces or control characters in its path or "
                "query (percent-encode them: %20 for a space)", _redact(base_url))
        if not model or not isinstance(model, str):  # a number went out as the JSON 5
            raise InvalidParameterError("model", "a model name", model)
        if api_key_env and not (isinstance(api_key_env, str)
                                and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", api_key_env)):
            # the key itself given as the variable's name: no key was sent, and a 401's
            # message printed it as "$sk-..."; shown here by its length alone
            raise InvalidParameterError(
                "api_key_env", "the name of the environment variable that holds the API "
                "key (letters, digits and _), not the key itself", _Hidden(api_key_env))
        if api_key_header is not None and not (
                isinstance(api_key_header, str)
                and re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]*", api_key_header)):
            raise InvalidParameterError(
                "api_key_header", "the name of an HTTP header (letters, digits and -, "
                "e.g. Ocp-Apim-Subscription-Key)", _Hidden(api_key_header))
        if api_key_header and api_key_header.lower() in _OWN_HEADERS:
            # the key would replace a header the client sends itself (Content-Type: the
            # server could not read the body)
            raise InvalidParameterError(
                "api_key_header", "a header of the key's own (e.g. "
                "Ocp-Apim-Subscription-Key), not one every request sends "
                f"({', '.join(sorted(_OWN_HEADERS))})", api_key_header)
        # numpy numbers pass and are kept as plain Python ones (the costs they make go
        # into JSON reports); bools, strings and (for counts) floats are refused
        timeout = check_number("timeout", timeout, 0, strict=True, unit="seconds",
                               numpy=True)
        if timeout > MAX_TIMEOUT:  # sockets overflow on huge timeouts (inf, 1e10)
            raise InvalidParameterError("timeout", f"at most {MAX_TIMEOUT:g} seconds", timeout)
        # a wait of 1e300 seconds raised OverflowError in Event.wait: at most a day too
        backoff_base = check_number("backoff_base", backoff_base, 0, unit="seconds",
                                    numpy=True, maximum=int(MAX_TIMEOUT))
        backoff_max = check_number("backoff_max", backoff_max, 0, unit="seconds", numpy=True,
                                   maximum=int(MAX_TIMEOUT))
        price_prompt = check_number("price_prompt", price_prompt, 0, numpy=True,
                                    maximum=MAX_PRICE, allow_none=True)
        price_completion = check_number("price_completion", price_completion, 0, numpy=True,
                                        maximum=MAX_PRICE, allow_none=True)
        max_retries = check_int("max_retries", max_retries, 0, numpy=True)
        load_wait = check_number("load_wait", load_wait, 0, unit="seconds", numpy=True,
                                 maximum=int(MAX_TIMEOUT))
        max_concurrency = check_int("max_concurrency", max_concurrency, 1, numpy=True)
        if seed is not None:  # random.Random refused a numpy integer, naming no parameter
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
                raise InvalidParameterError("seed", "None or an integer", seed)
            seed = int(seed)
        # the query stays (Azure's ``?api-version=...``: without it every request is
        # answered 404), after the path's trailing slash is gone
        self.base_url = parts._replace(path=parts.path.rstrip("/"), fragment="").geturl()
        #: the URL as messages and logs show it: no user:password, no query string
        self.shown_url = _redact(self.base_url)
        self.model = model
        self.api_key_env = api_key_env
        #: the header the API key is sent in, as it is (an API Management gateway's
        #: ``Ocp-Apim-Subscription-Key``); None or "": chosen by the endpoint (below)
        self.api_key_header = api_key_header or None
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        #: how long a request asks again a server loading its model (see the class)
        self.load_wait = load_wait
        self.max_concurrency = max_concurrency
        self.usage = Usage(price_prompt=price_prompt, price_completion=price_completion)
        self._parts = parts
        #: the optional parameters the server refused, left out of every request since
        #: (replaced, never changed: a request being built in another thread iterates it)
        self.dropped_parameters: frozenset[str] = frozenset()
        #: Azure OpenAI (its hosts, or a gateway in front of it that wants the
        #: ``api-version`` query): the API key goes in an ``api-key`` header
        self._azure = bool(re.search(r"(^|&)api-version=", parts.query)) or bool(
            re.search(r"\.(openai\.azure\.com|cognitiveservices\.azure\.com|"
                      r"services\.ai\.azure\.com)$", parts.hostname.lower()))
        self._path = (parts.path.rstrip("/") or "") + "/chat/completions" \
            + (f"?{parts.query}" if parts.query else "")
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._local = threading.local()
        self._random = random.Random(seed)
        # abort(): the connections open now (to shut down) and the event that the calls
        # in flight watch (set once, then replaced, so later calls are not affected)
        self._open: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._aborted = threading.Event()
        # set by try_no_more() (and by abort()): the calls made before it try no more
        self._finishing = threading.Event()
        self._abort_lock = threading.Lock()
        #: whether the server (or the proxy) has replied to any request of this client:
        #: a refused connection before that is not retried (see :meth:`complete`)
        self.replied = False
        #: whether a reply has had its answer read from its reasoning field (said once)
        self._said_reasoning_answer = False
        #: whether the server's "Loading model" was said (again after an answer)
        self._said_loading = False
        #: whether a try's time-out was said (once: the advice comes at the first)
        self._said_timeout = False
        #: the tries in a row that timed out with no reply from the server between them
        #: (any request's: see :data:`TIMEOUTS_IN_A_ROW`)
        self._timeouts_in_a_row = 0
        #: how many time-outs :attr:`_timeouts_in_a_row` has counted, ever: a try that
        #: times out counts only where it was sent after the last one counted. Tries
        #: sent together time out together: an Ollama loading its model at a cold start
        #: (it says nothing of it, as llama.cpp's 503 does) kept --concurrency 4 first
        #: tries queued past --timeout, and three of them stopped the run at once, where
        #: their retries (given twice the time) would have been answered
        self._timeout_epoch = 0
        #: whether any reply was an HTTP 200: a server of plain HTTP, so a later 400
        #: is not probed for TLS (:meth:`_https_port`)
        self._answered_ok = False
        #: whether the server answered the TLS handshake a 400 had it tried; None: not
        #: tried yet. Once a run (a server of plain HTTP given a handshake may wait
        #: for the rest of a line, as long as the probe waits)
        self._tls_after_400: bool | None = None

    def __repr__(self) -> str:
        return f"OpenAIChatClient({self.shown_url!r}, model={self.model!r})"

    @property
    def longest_try(self) -> float:
        """The longest a try in flight may wait for its reply, in seconds: ``timeout``,
        or, once a try has timed out (the next try of its request waits longer, see
        :data:`TIMEOUT_GROWTH`), that many times it."""
        with self._abort_lock:
            grown = self._said_timeout
        return min(self.timeout * TIMEOUT_GROWTH, MAX_TIMEOUT) if grown else self.timeout

    def abort(self) -> None:
        """End the calls in flight now (Ctrl-C): their connections are shut down, one
        still being opened gives up within :data:`CONNECT_POLL` seconds, a call waiting
        to retry stops waiting, and each fails with :class:`LLMError`
        without another try, counted as interrupted (``usage.n_interrupted``), not as
        failed. Calls made afterwards are not affected.

        :func:`complete_all` calls it when it is interrupted: otherwise its worker
        threads, which the interpreter waits for at exit, went on waiting for a slow
        endpoint and retrying, for up to ``(1 + max_retries) * timeout`` seconds.
        """
        with self._abort_lock:
            aborted, self._aborted = self._aborted, threading.Event()
            finishing, self._finishing = self._finishing, threading.Event()
            aborted.set()
            finishing.set()  # wakes a call waiting to retry
            connections = list(self._open)
        for connection in connections:
            sock = connection.sock
            if sock is not None:
                try:  # wakes a thread blocked reading from it (close alone does not)
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def try_no_more(self) -> None:
        """Let the calls in flight end with the try under way (its answer, or its
        timeout), but try no more (:func:`complete_all` stopped by a failure, or the
        first Ctrl-C of a ``label`` or ``taxonomy`` run):
        a call not sent yet, waiting to retry or whose try fails ends with
        :class:`LLMError` at once, counted as interrupted (``usage.n_interrupted``).
        :meth:`abort` ends the calls in flight too. Calls made afterwards are not
        affected."""
        with self._abort_lock:
            finishing, self._finishing = self._finishing, threading.Event()
        finishing.set()

    def _new_run(self) -> None:
        """A :func:`complete_all` run starts: the tries that timed out in a row before it
        (an earlier run's, stopped by Ctrl-C or a failure, maybe hours ago) are not
        counted against it (:data:`TIMEOUTS_IN_A_ROW`): a client reused for a second run
        stopped it at its first time-out, saying "3 tries in a row timed out".
        """
        with self._abort_lock:
            self._timeouts_in_a_row = 0

    def close(self) -> None:
        """Close the connections kept open to the endpoint (HTTP keep-alive), every
        thread's; a later call opens a fresh one. ``with OpenAIChatClient(...) as
        client:`` closes them at the end of the block.

        >>> with OpenAIChatClient("http://127.0.0.1:8000/v1", "m") as client:
        ...     client.model
        'm'
        """
        with self._abort_lock:
            connections = list(self._open)
            self._open = weakref.WeakSet()
        for connection in connections:
            connection.close()
        self._local = threading.local()  # every thread's, not only this one's

    def __enter__(self) -> OpenAIChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request ------------------------------------------------------------------------
    def complete(self, request: ChatRequest) -> ChatResponse:
        """Send ``request`` and return the model's answer, retried as the class says.

        Sent: one POST of ``request.payload()`` (model, messages, ``temperature``,
        ``max_tokens``, ``response_format`` ... as JSON) to ``{base_url}/chat/completions``,
        less any parameter the server refused earlier in the run
        (``dropped_parameters``); at most ``max_concurrency`` at once. A failure worth
        another try (a time-out, HTTP 408, 409, 425, 429 or most 5xx, a broken
        connection, a reply without usable text) is tried again, ``1 + max_retries``
        tries in all, after the backoff or the server's ``Retry-After``; a time-out
        lengthens the next try's (up to ``timeout * TIMEOUT_GROWTH``), and a server
        loading its model is asked again for up to ``load_wait`` seconds without
        counting.

        Returns a :class:`ChatResponse`: the answer's text (the reasoning field's where
        the message content is empty, warned once), the tokens it cost (the reply's
        ``usage``, estimated where it gives none) and ``finish_reason``; each is added
        to ``usage``. Raises :class:`LLMRefusalError` where the model declines (no retry
        would answer it), :class:`LLMConfigError` where the endpoint cannot work at all
        (nothing listens and nothing ever answered this run, a bad key or model, tries
        timing out in a row with no reply: the run should stop), and :class:`LLMError`
        for any other failure, the tries spent included, and for a request abandoned
        by :meth:`abort` or the end of a :func:`complete_all` run. Nothing is cached
        here: :class:`CachedClient` does."""
        with self._abort_lock:
            aborted, finishing = self._aborted, self._finishing
        # the stop of the complete_all run making this call: one that stopped before the
        # events above were taken (this call not yet sent) stops it all the same
        run_stop = _RUN_STOP.get()

        def stopped() -> bool:
            return aborted.is_set() or finishing.is_set() or (
                run_stop is not None and run_stop.is_set())

        last: _Transient | None = None
        # tries: every one made; counted: those that count against max_retries (a
        # server loading its model is asked again, for up to load_wait seconds,
        # without counting them); loading_since: when it first said so
        tries = counted = timeouts = 0
        loading_since: float | None = None
        polling = False  # the try before said the model was loading (not counted)
        delay = 0.0
        # this request's timeout for its next try: longer after a try that timed out
        self._local.try_timeout = self.timeout
        while counted <= self.max_retries:
            if tries:
                # the wait (Retry-After or backoff) is said, not only done: the log
                # shows how long a run pauses, and a check can read it without a clock
                logger.debug("%s: try %d in %.3f s", self.shown_url, tries + 1, delay)
                _wait_unless(delay, finishing, run_stop)  # abort() sets finishing too
                # counted once made: a run finishing its calls (or aborted) during the
                # wait tries no more, and said a retry of a try never made
                if not stopped():
                    self.usage.count("load_poll" if polling else "retry")
            tries += 1
            try:
                if stopped():
                    raise _Aborted()
                with self._slots:
                    if stopped():
                        raise _Aborted()
                    with self._abort_lock:
                        sent_epoch = self._timeout_epoch
                    response = self._post(self._body(request), request, aborted)
                self.usage.add(response)
                self._said_loading = False  # loaded: a later reload is said again
                if response.read_from and not self._said_reasoning_answer:
                    self._said_reasoning_answer = True
                    logger.warning(
                        "%s answers with no message content, the model's whole turn in "
                        "%s (the server's reasoning parser took the answer for "
                        "reasoning: vLLM's deepseek_r1 on a model that wrote no <think>, "
                        "Qwen3 with thinking off): the answers are read from there",
                        self.shown_url, response.read_from)
                return response
            except _Aborted:
                self.usage.count("interrupted")
                raise LLMError(f"{self.shown_url}: request abandoned (interrupted)") from None
            except _Transient as exc:
                if aborted.is_set():  # the failure abort() caused: no retry
                    self.usage.count("interrupted")
                    raise LLMError(f"{self.shown_url}: request abandoned (interrupted)"
                                   ) from None
                if (exc.refused or exc.unknown_host or exc.untrusted or exc.no_tls
                        or exc.speaks_tls) and not self.replied:
                    # nothing listens there and nothing ever did in this run (a wrong
                    # port, a server not started), or no host has that name (a typo in
                    # it): the default retries took about 80 s to say so. After a first
                    # reply, a refusal (a restart) is retried
                    self.usage.count("failed")
                    # through a proxy (HTTPS_PROXY ...) the host and the port are the
                    # proxy's: the message blamed the base URL
                    proxy, source = _proxy_named(self._parts.scheme,
                                                 self._parts.hostname or "")
                    what, hint = ((f"the host name {exc.unknown_host} is unknown",
                                   f"it is the host of the proxy {proxy} ({source}): is "
                                   "that right? NO_PROXY names the hosts reached without it")
                                  if exc.unknown_host and proxy else
                                  (f"nothing listens at the proxy {proxy} ({source})",
                                   f"is the proxy running, and is {source} right? NO_PROXY "
                                   "names the hosts reached without it")
                                  if exc.refused and proxy else
                                  (f"the host name {exc.unknown_host} is unknown",
                                   "is the base URL's host right?") if exc.unknown_host else
                                  ("its certificate is not trusted",
                                   "is the base URL's host right? A certificate of its "
                                   "own, or of a proxy inspecting TLS: name the CA file "
                                   "that signed it in SSL_CERT_FILE") if exc.untrusted else
                                  ("it speaks no TLS", "a server of plain HTTP: is "
                                   "the URL's scheme http://?") if exc.no_tls else
                                  ("it answers a TLS handshake", "a server of HTTPS, "
                                   "which resets plain HTTP: is the URL's scheme "
                                   "https://?") if exc.speaks_tls else
                                  ("nothing listens there",
                                   "is the server running, and is the base URL right?"
                                   + _loading_hint(self._parts.hostname or "",
                                                   exc.refused_at)))
                    raise LLMConfigError(
                        f"{self.shown_url}: {exc}; {what}, and it has not answered any "
                        f"request of this run, so it is not retried ({hint})") from None
                last = exc
                if exc.billed:
                    self.usage.bill(*exc.billed)
                if exc.config:
                    self.usage.count("failed")
                    raise LLMConfigError(f"{self.shown_url}: {exc}"
                                         f"{self._config_hint(exc.config)}") from None
                if exc.final:
                    self.usage.count("refused" if exc.declined else "failed")
                    # a refusal is said apart from a failure: its document goes to a
                    # person, and no retry, nor a working endpoint, would answer it
                    raise (LLMRefusalError if exc.declined else LLMError)(
                        f"{self.shown_url}: {exc}") from None
                logger.debug("%s: try %d failed: %s", self.shown_url, tries, exc)
                timeouts += exc.timed_out
                if exc.timed_out:  # numbered among the tries counted (not loading ones)
                    with self._abort_lock:
                        # in a row: sent after the time-out counted last, not in flight
                        # beside it (queued with it, as a cold start's first tries are)
                        if sent_epoch == self._timeout_epoch:
                            self._timeouts_in_a_row += 1
                            self._timeout_epoch += 1
                        in_a_row = self._timeouts_in_a_row
                    if in_a_row >= TIMEOUTS_IN_A_ROW:
                        # the server answers nothing (any more): each document would
                        # take 1 + max_retries timeouts to fail, the run stopping after
                        # ten in a row (an hour with --concurrency 1)
                        self.usage.count("failed")
                        never = ("" if self._answered_ok else
                                 "; the server has answered no request of this run")
                        raise LLMConfigError(
                            f"{self.shown_url}: {in_a_row} tries in a row timed out, with "
                            f"no reply from the server between them (last: {exc}); "
                            f"{_TIMEOUT_ADVICE}{never}; so the run stops here (a rerun "
                            "resumes)") from None
                    self._say_timeout(counted + 1)
                    self._local.try_timeout = min(self._local.try_timeout * 2.0,
                                                  self.timeout * TIMEOUT_GROWTH, MAX_TIMEOUT)
                if exc.loading:
                    now = time.monotonic()
                    loading_since = now if loading_since is None else loading_since
                    if now - loading_since < self.load_wait:
                        self._say_loading()
                        # asked again soon (the model may be ready any moment), not
                        # counted: the tries were spent in ~30 s of a load of minutes
                        delay = min(self._delay(tries - counted - 1, exc), LOAD_POLL)
                        polling = True
                        continue
                polling = False
                counted += 1
                delay = self._delay(counted - 1, last)
            except LLMError as exc:  # refused for good (HTTP 400, 401, ...): not worth a retry
                self.usage.count("refused" if isinstance(exc, LLMRefusalError) else "failed")
                raise
        self.usage.count("failed")
        # a model on a CPU takes minutes an answer, and a server answering one request
        # at a time keeps the others in its queue, their clocks running: every try of
        # every request timed out, and the message said no more than that
        hint = ("; " + _TIMEOUT_ADVICE if last is not None and last.timed_out else "")
        if last is not None and last.loading and loading_since is not None:
            hint = (f"; the server was still loading its model after {self.load_wait:g} s "
                    "of asking: is it loading at all (see its log)? A rerun resumes")
        said = (f"{self.shown_url}: no answer after {tries} "
                f"{'try' if tries == 1 else 'tries'} (last: {last}){hint}")
        if timeouts == counted and not self._answered_ok:
            # every try timed out (of those counted: a server that said it was loading
            # its model, and then only timed out, is one that never answered), and the
            # server has answered no request of this run:
            # the next documents would do the same, each taking (1 + max_retries) *
            # timeout, the run stopping only after ten of them in a row (an hour with
            # --concurrency 1, the advice itself), the advice said only then
            raise LLMConfigError(f"{said}; the server has answered no request of this "
                                 "run, so it stops here (a rerun resumes)")
        raise LLMError(said)

    def _body(self, request: ChatRequest) -> bytes:
        """The JSON body sent for ``request``: its payload without the parameters the
        server refused (:meth:`_refused_parameter`)."""
        payload = request.payload()
        for name in self.dropped_parameters:
            payload.pop(name, None)
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def _refused_parameter(self, body: bytes, status: int, raw: bytes) -> bool:
        """Whether the reply ``status`` / ``raw`` refuses a parameter that
        :data:`OPTIONAL_PARAMETERS` names and ``body`` sent (``response_format`` on
        servers without JSON mode, ``temperature`` 0 on OpenAI's reasoning models); if
        so it is dropped from this and every later request, with one warning. The
        response cache's key stays the request's: a rerun finds the answers."""
        if status not in (400, 404, 422):
            # 404 too: OpenRouter's "No endpoints found that support the requested
            # output format (response_format)" is no model missing
            return False
        sent = json.loads(body)  # the request's own: another may have dropped one since
        text = raw[:4096].decode("utf-8", "replace").lower()
        model = str(sent.get("model") or "").lower()
        if model:
            # "bytedance/seed-oss-36b is not a valid model ID" (404) refuses the model,
            # not the seed its name holds (the name whole: model "m" is no word's m)
            text = re.sub(rf"(?<![\w./:-]){re.escape(model)}(?![\w./:-])", " ", text)
        for name in OPTIONAL_PARAMETERS:
            if name in sent and _names(text, name, sent.get("messages") or ()):
                with self._abort_lock:
                    new = name not in self.dropped_parameters
                    self.dropped_parameters = frozenset(self.dropped_parameters | {name})
                if new:
                    # the note in the template: its max_tokens is the caller's parameter
                    # (label's --max-tokens), the name refused (an argument) the API's
                    logger.warning("%s refuses %s (HTTP %d: %s): asking without it "
                                   "from now on" + OPTIONAL_PARAMETERS[name].replace("%", "%%"),
                                   self.shown_url, name, status, self._snippet(raw),
                                   extra={"parameters": ("max_tokens",)})
                return True
        return False

    def _key_hint(self) -> str:
        """What a message about a refused key adds: whether one was sent, and from where."""
        if not self._api_key():
            return (f" (${self.api_key_env} is not set or empty, so no API key was sent; "
                    "--api-key-env names the variable)" if self.api_key_env
                    else " (no API key was sent)")
        return f" (is the API key in ${self.api_key_env} right?)"

    def _config_hint(self, config: str) -> str:
        """What a message about a refusal every request gets alike adds, for the
        ``config`` of :class:`_Transient`: "key", "model" or "quota"."""
        if config == "quota":
            return _QUOTA_HINT
        if config == "model":
            return self._model_hint()
        return self._key_hint()

    def _model_hint(self) -> str:
        """What a message about a model not found (HTTP 404) adds: a base URL with no
        path gets the ``/v1`` it most likely lacks (Ollama and vLLM serve the API under
        it alone: the message asked only whether the URL was right)."""
        if not self._parts.path.strip("/"):
            return (f" (is the base URL right, and does it serve model {self.model!r}? "
                    "OpenAI-compatible servers, Ollama's and vLLM's among them, serve the "
                    f"API under /v1: {self.shown_url.rstrip('/')}/v1)")
        return f" (is the base URL right, and does it serve model {self.model!r}?)"

    def _say_timeout(self, tries: int) -> None:
        """Say once, at the first try that timed out (``tries``: its number among the
        tries counted against ``max_retries``), why a request may, and what to do (the
        message of a request whose every try timed out came minutes later)."""
        with self._abort_lock:
            said, self._said_timeout = self._said_timeout, True
        if not said:
            logger.warning(
                "%s: no answer within %g s (try %d of %d), asking again, waiting up to "
                "twice as long (at most %g s): the timeout "
                "counts the whole answer and any wait in the server's queue; if requests "
                "keep timing out (a local model on a CPU takes minutes an answer), raise "
                "--timeout, and give a server that answers one request at a time "
                "--concurrency 1", self.shown_url, self._local.try_timeout, tries,
                self.max_retries + 1, min(self.timeout * TIMEOUT_GROWTH, MAX_TIMEOUT))

    def _say_loading(self) -> None:
        """Say once (again after an answer) that the server is loading its model."""
        with self._abort_lock:
            said, self._said_loading = self._said_loading, True
        if not said:
            logger.warning("%s is loading its model (HTTP 503 \"Loading model\"): "
                           "asking again, at most every %g s, for up to %g s a request",
                           self.shown_url, LOAD_POLL, self.load_wait)

    def _delay(self, attempt: int, error: _Transient | None) -> float:
        if error is not None and error.retry_after is not None:
            return min(max(error.retry_after, 0.0), max(self.backoff_max, 1.0) * 5)
        # 2 ** 1024 is past any float (the 1024th retry raised OverflowError); long
        # before 2 ** 1000 every wait is backoff_max
        return min(self.backoff_max, self.backoff_base * 2.0 ** min(attempt, 1000)) \
            * (0.5 + 0.5 * self._random.random())

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            host, port = self._parts.hostname or "", self._parts.port
            proxy = _proxy_for(self._parts.scheme, host)
            target_host, target_port = (proxy.hostname or "", proxy.port) if proxy else \
                (host, port)
            # the proxy's user:password (HTTPS_PROXY=http://user:pass@proxy:3128) was
            # never sent, and a proxy wanting a login answered every request 407
            login = _proxy_authorization(proxy) if proxy is not None else ""
            if self._parts.scheme == "https":
                connection = http.client.HTTPSConnection(
                    target_host, target_port, timeout=self.timeout,
                    context=ssl.create_default_context())
                if proxy is not None:  # CONNECT tunnel through the proxy
                    connection.set_tunnel(host, port, headers={
                        "Proxy-Authorization": login} if login else None)
            else:
                connection = http.client.HTTPConnection(target_host, target_port,
                                                        timeout=self.timeout)
            # the TCP connect watches abort(): one to an address that never answers (a
            # blackholed host, a server whose backlog is full) waited the whole timeout.
            # http.client opens every connection through this attribute (not in typeshed)
            connection._create_connection = self._open_socket  # type: ignore[attr-defined]
            self._local.connection = connection
            with self._abort_lock:
                self._open.add(connection)
            self._local.absolute = proxy is not None and self._parts.scheme == "http"
            #: the Proxy-Authorization a request through a plain-HTTP proxy carries
            #: (a CONNECT carries it itself, the request inside the tunnel not)
            self._local.proxy_login = login if self._local.absolute else ""
            #: whether the proxy was sent a login (a 407 then refuses it)
            self._local.proxy_login_sent = bool(login)
        return connection

    def _open_socket(self, address: tuple[str, int | None], timeout: float,
                     source_address: tuple[str, int] | None = None) -> socket.socket:
        """:func:`socket.create_connection` that gives up as soon as the call it opens
        for is aborted: the connect is waited for in slices of :data:`CONNECT_POLL`
        seconds (``http.client`` asks for the connection through this)."""
        aborted: threading.Event | None = getattr(self._local, "aborted", None)
        host, port = address
        error: OSError | None = None
        try:
            addresses = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in _NAME_UNKNOWN:  # the host the message names (a proxy's too)
                exc.unknown_host = host  # type: ignore[attr-defined]
            raise
        for family, kind, proto, _, sockaddr in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                if source_address:
                    sock.bind(source_address)
                _connect(sock, sockaddr, timeout, aborted)
                return sock
            except OSError as exc:
                sock.close()
                if aborted is not None and aborted.is_set():
                    raise
                if isinstance(exc, ConnectionRefusedError):
                    # the address that refused (a Docker service name's, say), for the
                    # message to tell a private network's server from another's
                    exc.refused_at = str(sockaddr[0])  # type: ignore[attr-defined]
                error = exc
        raise error or OSError(f"getaddrinfo found no address for {host}")

    def _speaks_tls(self, timeout: float | None = None) -> bool:
        """Whether the server at the base URL answers a TLS handshake (its certificate
        unchecked: nothing is sent over the connection, closed once the handshake ends),
        or a TLS alert (no protocol in common, a client certificate wanted): a server of
        HTTPS. On a new connection, which abort() ends as it does any, waiting ``timeout``
        seconds at most (the client's by default)."""
        timeout = self.timeout if timeout is None else min(timeout, self.timeout)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        host, port = self._parts.hostname or "", self._parts.port or 80
        aborted: threading.Event | None = getattr(self._local, "aborted", None)
        try:
            plain = self._open_socket((host, port), timeout)
        except OSError:
            return False
        try:  # the handshake waited for below, where abort() can end it
            sock = context.wrap_socket(plain, server_hostname=host,
                                       do_handshake_on_connect=False)
        except OSError:
            plain.close()
            return False
        # listed where abort() shuts sockets down: a server that answered the handshake
        # nothing held Ctrl-C for the whole timeout
        probe = http.client.HTTPConnection(host, port)
        probe.sock = sock
        with self._abort_lock:
            self._open.add(probe)
        try:
            if aborted is not None and aborted.is_set():  # before it was listed
                return False
            sock.do_handshake()
            return True
        except ssl.SSLError as exc:
            return "ALERT" in str(getattr(exc, "reason", "") or "")
        except OSError:  # reset, closed, timed out: no TLS (nor anything else) there
            return False
        finally:
            with self._abort_lock:
                self._open.discard(probe)
            sock.close()

    def _https_port(self, raw: bytes) -> str:
        """Why the HTTP 400 reply ``raw`` to an ``http://`` URL is a port of HTTPS
        refusing plain HTTP, or "": its body says so (nginx's "The plain HTTP request was
        sent to HTTPS port", Go's "Client sent an HTTP request to an HTTPS server",
        Apache's "speaking plain HTTP to an SSL-enabled server port"), or, for a body
        with no JSON error object before any HTTP 200 reply, straight to the server (a
        proxy's is another's), the server answers a TLS handshake."""
        head = raw[:4096].lower()
        if any(said in head for said in _HTTPS_PORT_SAYS):
            return "the server says plain HTTP reached its port of HTTPS"
        if (not self._answered_ok and not getattr(self._local, "absolute", False)
                and _error_object(raw) is None):
            if self._tls_after_400 is None:
                # the server has just answered: a TLS one answers a handshake at once
                self._tls_after_400 = self._speaks_tls(timeout=HTTPS_PROBE_TIMEOUT)
            if self._tls_after_400:
                return "it answers a TLS handshake: a server of HTTPS"
        return ""

    def _hold_for_abort(self, connection: http.client.HTTPConnection,
                        reply: http.client.HTTPResponse) -> http.client.HTTPConnection | None:
        """Where ``reply`` closes the connection (``Connection: close``, HTTP/1.0),
        http.client lets go of the socket once its headers are read, and the reply reads
        its body from it alone: a connection holding that socket, listed where abort()
        finds it (it found none, and Ctrl-C waited the whole timeout for a slow body),
        for the caller to remove once the body is read; None where ``connection``
        keeps its socket."""
        sock = getattr(reply, "sock", None)
        if connection.sock is not None or sock is None:
            return None
        held = http.client.HTTPConnection(self._parts.hostname or "", self._parts.port)
        held.sock = sock
        with self._abort_lock:
            self._open.add(held)
        return held

    def _proxy_login_refused(self) -> str:
        """The message for a 407 from the proxy: naming it and its variable, and whether
        a login was sent (the password never shown)."""
        proxy, source = _proxy_named(self._parts.scheme, self._parts.hostname or "")
        if not proxy:  # a proxy on the way that no variable names (a transparent one)
            # it said so, and no more: not how to give the login it wants
            from urllib.request import getproxies

            variable = f"{self._parts.scheme.upper()}_PROXY"
            set_proxy = getproxies().get(self._parts.scheme)  # the environment read once
            direct = (f" ({_proxy_source(self._parts.scheme, set_proxy)}"
                      " is set, but this host goes direct: NO_PROXY lists it, or it is a "
                      "loopback one)" if set_proxy else "")
            return (f"{self.shown_url}: HTTP 407 (Proxy Authentication Required) though "
                    f"no proxy is set for this host{direct}: a proxy on the way (a "
                    "transparent one) asks for credentials, a user name and password on "
                    f"it; give them with its address as {variable}=http://USER:PASSWORD@"
                    "PROXY:PORT (percent-encoded; your network's administrator knows the "
                    "proxy); not retried")
        hint = (f"it refused the user name and password in {source}: are they right, "
                "with any '/', '?', '#', '@' or '%' in them percent-encoded (%2F, %3F, "
                "%23, %40, %25)?"
                if getattr(self._local, "proxy_login_sent", False) else
                f"it wants a login: give it in {source} as "
                "http://USER:PASSWORD@host:port, percent-encoded")
        return (f"{self.shown_url}: HTTP 407 (Proxy Authentication Required) from the "
                f"proxy {proxy} ({source}); {hint}; not retried")

    def _proxy_refused(self, said: str, what: str) -> str:
        """The message for a proxy refusing ``what`` (the CONNECT, the request) with
        ``said`` (its status): naming the proxy and its variable, not the API key."""
        proxy, source = _proxy_named(self._parts.scheme, self._parts.hostname or "")
        return (f"{self.shown_url}: {said} from the proxy {proxy} ({source}): the proxy "
                f"refused {what}, as its access rules may forbid the host (a refusal of "
                f"the proxy's, not of the API key; asking again cannot help): is {source} "
                "the proxy for this host? NO_PROXY names the hosts reached without it; "
                "not retried")

    def _proxy_or_key_refused(self, raw: bytes) -> str:
        """The message for a 403 with no JSON body through a plain-HTTP proxy whose
        headers do not show the proxy made it: the API's host (its key check, its
        firewall) or the proxy may have refused, and the message names both."""
        proxy, source = _proxy_named(self._parts.scheme, self._parts.hostname or "")
        key = self._key_hint().strip()[1:-1]  # without its parentheses
        return (f"{self.shown_url}: HTTP 403 through the proxy {proxy} ({source}), whose "
                "reply does not say whether the API's host or the proxy refused: the API "
                f"key may be refused ({key}), or an access rule may forbid the host (the "
                f"proxy's: is {source} the proxy for this host? NO_PROXY names the hosts "
                "reached without it; or a firewall's in front of the API); not retried: "
                f"{self._snippet(raw)}")

    def listed_details(self, model: str, *, created: bool = False) -> str | None:
        """What the endpoint's model list (``GET .../models``, OpenAI's protocol) says of
        ``model``, as one line, or None where it lists nothing telling (or answers
        nothing: every failure is quiet, the list read within :data:`LIST_TIMEOUT`
        seconds): Ollama's ``created`` where ``created`` (the time the model was last
        pulled or made; its replies name the model asked and ``fp_ollama`` whatever was
        pulled), llama.cpp's ``meta`` (the GGUF file's size and parameters), vLLM's
        ``root`` (the weights' path). ``created`` is read only of a server known to
        give the model's own time there (Ollama: the caller says so, its replies'
        ``fp_ollama``): vLLM and llama.cpp give the time of the listing, another
        server may give its own start, which changes at each restart. One request, on
        the calling thread's connection (:class:`CachedClient` asks on a thread of its
        own)."""
        chat = self._path.partition("?")
        stop = _RUN_STOP.get()
        if not chat[0].endswith("/chat/completions") or (stop is not None
                                                         and stop.is_set()):
            return None  # nothing more is sent once the run has stopped
        path = chat[0][:-len("/chat/completions")] + "/models" + chat[1] + chat[2]
        try:
            connection = self._connection()
            deadline = time.monotonic() + min(LIST_TIMEOUT, self.timeout)
            connection.response_class = functools.partial(  # type: ignore[assignment]
                _DeadlineResponse, deadline=deadline)
            if connection.sock is None:
                # the connect too within the list's time: it waited the client's whole
                # timeout (minutes) on an address that had stopped answering
                kept, connection.timeout = connection.timeout, min(LIST_TIMEOUT,
                                                                   self.timeout)
                try:
                    connection.connect()
                finally:  # a later call's connect on this connection waits its own
                    connection.timeout = kept
            path, headers = self._request_target(path)
            headers.pop("Content-Type", None)
            _time_left(connection, deadline)
            connection.request("GET", path, headers=headers)
            _time_left(connection, deadline)
            reply = connection.getresponse()
            raw = _read_body(reply, connection, deadline)
            if reply.getheader("Connection", "").lower() == "close":
                self._drop_connection()
            if reply.status != 200 or len(raw) > MAX_RESPONSE_BYTES:
                return None
            listed = json.loads(raw)
        except Exception:  # noqa: BLE001 - a hint only: any failure says nothing
            self._drop_connection()
            return None
        return _listed_details(listed, model, created=created)

    def _request_target(self, path: str) -> tuple[str, dict[str, str]]:
        """The request line's target for ``path`` on this thread's connection, and the
        headers to send. A plain-HTTP proxy wants the absolute URL in the request line:
        without the base URL's user:password, which went to the proxy in it (and in the
        Host header http.client takes from it), and one with a space was refused by
        http.client quoting the URL, password and all, in the message; its login goes
        as Proxy-Authorization (:meth:`complete` and :meth:`listed_details` alike)."""
        if getattr(self._local, "absolute", False):
            path = f"http://{self._parts.netloc.rpartition('@')[2]}{path}"
        headers = self._headers()
        if getattr(self._local, "proxy_login", ""):
            headers["Proxy-Authorization"] = self._local.proxy_login
        return path, headers

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": USER_AGENT}
        key = self._api_key()
        if key:
            if not _HEADER_SAFE.fullmatch(key):
                # http.client would refuse it with the whole header, key and all, in the
                # message; this one names the variable, never its value
                raise LLMConfigError(f"${self.api_key_env} holds characters an HTTP header "
                                     "cannot carry (a line break or a non-ASCII character "
                                     "inside the key?)")
            if self.api_key_header and self.api_key_header.lower() != "authorization":
                # named by the user: a gateway in front of Azure OpenAI under its own
                # host name (Azure API Management) wants its subscription key so
                headers[self.api_key_header] = key
            elif self._azure and not key.startswith("eyJ") and not self.api_key_header:
                # Azure OpenAI takes an API key in its own header only (as a bearer
                # token it answered 401 "Access token is missing, invalid..."); a
                # Microsoft Entra token (a JWT, "eyJ...") goes as a bearer token there too
                headers["api-key"] = key
            else:
                headers["Authorization"] = f"Bearer {key}"
        return headers

    def _api_key(self) -> str:
        # a key from a file or a CRLF .env ends in a line break: never part of the key
        return os.environ.get(self.api_key_env, "").strip() if self.api_key_env else ""

    def _snippet(self, raw: bytes) -> str:
        """The start of a reply body for a message, the API key masked should the server
        echo it (some gateways quote the request's headers in their errors)."""
        return _snippet(raw, secret=self._api_key())

    def _decoded(self, raw: bytes, encoding: str, status: int) -> bytes:
        """A body sent compressed though none was asked for (``Accept-Encoding:
        identity``), as some gateways and proxies do: gzip and deflate are unpacked (to
        :data:`MAX_RESPONSE_BYTES` at most), any other encoding is refused naming it."""
        wbits = {"gzip": 31, "x-gzip": 31, "deflate": 15}.get(encoding)
        if wbits is None:
            raise LLMError(f"{self.shown_url}: HTTP {status} reply compressed as "
                           f"{encoding[:40]!r}, which this client cannot read (it asks "
                           "for none: is a proxy compressing it?)")
        try:
            try:
                unpacker = zlib.decompressobj(wbits)
                data = unpacker.decompress(raw, MAX_RESPONSE_BYTES + 1)
            except zlib.error:
                if encoding != "deflate":
                    raise
                # "deflate" as many servers send it: raw deflate, without zlib's header
                unpacker = zlib.decompressobj(-15)
                data = unpacker.decompress(raw, MAX_RESPONSE_BYTES + 1)
            # gzip members one after another (RFC 1952) make one body, as a proxy
            # packing while it streams sends it: the first alone was no JSON
            # (zero bytes after the last are padding, as gzip(1) takes them)
            while (wbits == 31 and unpacker.eof and unpacker.unused_data.strip(b"\0")
                   and len(data) <= MAX_RESPONSE_BYTES):
                rest = unpacker.unused_data
                unpacker = zlib.decompressobj(wbits)
                data += unpacker.decompress(rest, MAX_RESPONSE_BYTES + 1 - len(data))
        except zlib.error as exc:
            raise _Transient(f"HTTP {status} reply not in the {encoding} encoding it "
                             f"names ({exc})") from exc
        if not unpacker.eof and not unpacker.unconsumed_tail \
                and len(data) <= MAX_RESPONSE_BYTES:
            raise _Transient(f"HTTP {status} reply cut short in its {encoding} encoding "
                             f"({len(raw):,} bytes)")
        if len(data) > MAX_RESPONSE_BYTES or unpacker.unconsumed_tail:
            raise LLMError(f"{self.shown_url}: a reply over {MAX_RESPONSE_BYTES:,} bytes "
                           f"once unpacked ({encoding}); refused unread")
        return data

    def _post(self, body: bytes, request: ChatRequest,
              aborted: threading.Event | None = None) -> ChatResponse:
        run_stop = _RUN_STOP.get()
        if run_stop is not None and run_stop.is_set():
            # each send, a try's own again too (a parameter the server refused left
            # out, a kept-alive connection found closed): none once the run has stopped
            raise _Aborted()
        reused = getattr(self._local, "connection", None) is not None
        self._local.aborted = aborted  # what a connection that opens now watches
        connection = self._connection()
        # the timeout is the request's, not each read's: a server sending its reply a
        # byte at a time (whitespace padding, a stalled proxy) was never silent for a
        # whole timeout, and held the request (and the run) for as long as it liked
        timeout = getattr(self._local, "try_timeout", None) or self.timeout
        deadline = time.monotonic() + timeout
        reply: http.client.HTTPResponse | None = None
        try:
            # every read of the reply (status line, headers, body) waits only for the
            # time left: a server sending its headers a byte at a time held the request
            # for as long as it liked, as a body did before
            connection.response_class = functools.partial(  # type: ignore[assignment]
                _DeadlineResponse, deadline=deadline)
            if connection.sock is None:
                # connect before the abort check: abort() sets its event before it looks
                # for sockets to shut down, so a call that sees no abort here has a
                # socket abort() will find (one still opening had none: its request
                # went out and waited the whole timeout)
                connection.connect()
            if aborted is not None and aborted.is_set():
                raise _Aborted()
            path, headers = self._request_target(self._path)
            _time_left(connection, deadline)
            connection.request("POST", path, body=body, headers=headers)
            _time_left(connection, deadline)
            reply = connection.getresponse()
            self.replied = True  # something listens there (a refusal later: a restart)
            with self._abort_lock:  # the server replies: its time-outs are not in a row
                self._timeouts_in_a_row = 0
            held = self._hold_for_abort(connection, reply)
            try:
                watch = aborted if held is not None else None
                if watch is not None and watch.is_set():
                    raise _Aborted()  # abort() looked before the socket was listed
                status, raw = reply.status, _read_body(reply, connection, deadline)
                if watch is not None and watch.is_set():
                    # shut down by abort(): a body read to the connection's end is cut
                    raise _Aborted()
            finally:
                if held is not None:
                    with self._abort_lock:
                        self._open.discard(held)
            retry_after = _retry_after(reply.getheader("Retry-After"))
            proxy_made = _proxy_made(reply)
            location = reply.getheader("Location", "")
            encoding = reply.getheader("Content-Encoding", "").strip().lower()
            if reply.getheader("Connection", "").lower() == "close":
                self._drop_connection()
        except TimeoutError as exc:
            self._drop_connection()
            raise _Transient(f"timed out after {timeout:g} s", timed_out=True) from exc
        except http.client.IncompleteRead as exc:  # no reply to parse (nor "malformed")
            self._drop_connection()
            if aborted is not None and aborted.is_set():
                raise _Aborted() from exc
            # a chunked body's IncompleteRead knows neither part nor whole
            where = "before the end of its body"
            if exc.expected:
                whole = len(exc.partial) + exc.expected
                where = f"after {len(exc.partial):,} of {whole:,} byte{plural_s(whole)} of its body"
            # an HTTP 200 reply cut short (a stream failing mid-answer): the prompt was
            # processed and paid for, and the text sent before the cut; it billed 0
            billed = None
            if reply is not None and reply.status == 200:
                partial = _partial_text(exc.partial)
                billed = _billing(None, _prompt_estimate(request),
                                  estimate_tokens(partial) if partial else 0)
            raise _Transient(f"reply cut short: the connection closed {where}",
                             billed=billed) from exc
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            self._drop_connection()
            if aborted is not None and aborted.is_set():
                raise _Aborted() from exc
            tunnel = re.match(r"Tunnel connection failed: (\d{3})(.*)", str(exc))
            if tunnel and tunnel.group(1) == "407":
                # the proxy refused the CONNECT for want of a login: an OSError, retried
                # for each document
                raise LLMConfigError(self._proxy_login_refused()) from None
            if tunnel and tunnel.group(1).startswith("4") \
                    and int(tunnel.group(1)) not in RETRY_STATUSES:
                # the proxy refused the CONNECT (403: its access rules forbid the host):
                # an OSError retried as a passing failure, every try alike
                raise LLMConfigError(self._proxy_refused(
                    f"HTTP {tunnel.group(1)}{tunnel.group(2).rstrip()}",
                    "the CONNECT (the tunnel to "
                    f"{self._parts.hostname}:{self._parts.port or 443})")) from None
            if reused and isinstance(exc, _STALE_CONNECTION):
                # closed by the server while idle: send again on a fresh connection, once
                # and without counting a retry (the next failure is a real one)
                logger.debug("%s: kept-alive connection closed by the server (%s); "
                             "reconnecting", self.shown_url, type(exc).__name__)
                return self._post(body, request, aborted)
            # http:// to a port of HTTPS: the server resets the request, or closes it
            # unanswered, or answers with a TLS alert no status line begins with, each
            # request alike, and the retries took about 90 s to say "connection reset".
            # Where nothing has replied yet, a TLS handshake tells
            speaks_tls = (self._parts.scheme == "http" and not self.replied
                          and not getattr(self._local, "absolute", False)
                          and isinstance(exc, (*_STALE_CONNECTION,
                                               http.client.BadStatusLine))
                          and self._speaks_tls())
            raise _Transient(f"connection failed: {type(exc).__name__}: {exc}",
                             speaks_tls=speaks_tls,
                             refused=isinstance(exc, ConnectionRefusedError),
                             refused_at=getattr(exc, "refused_at", ""),
                             unknown_host=getattr(exc, "unknown_host", ""),
                             untrusted=isinstance(exc, ssl.SSLCertVerificationError),
                             no_tls=isinstance(exc, ssl.SSLError)
                             and getattr(exc, "reason", None) in _NOT_TLS) from exc
        if len(raw) > MAX_RESPONSE_BYTES:
            self._drop_connection()  # the rest of the body is never read
            raise LLMError(f"{self.shown_url}: a reply over {MAX_RESPONSE_BYTES:,} bytes; "
                           "refused unread")
        if encoding not in ("", "identity"):
            try:
                raw = self._decoded(raw, encoding, status)
            except (LLMError, _Transient) as exc:
                if status == 200:
                    raise
                # an error reply's body is only for its message: its status still says
                # whether to ask again (a 502 compressed as br failed for good at once)
                said = str(exc).removeprefix(f"{self.shown_url}: ")
                raw = f"[body not read: {said}]".encode()
        if status == 200:
            self._answered_ok = True
        if status == 400 and self._parts.scheme == "http":
            said = self._https_port(raw)
            if said:
                # an http:// URL of a port of HTTPS that answers plain HTTP with a 400
                # (nginx, Go, Apache) rather than a reset: each document failed with it,
                # and the scheme was never named
                raise LLMConfigError(
                    f"{self.shown_url}: HTTP 400 ({said}; asking again cannot help: is the "
                    f"URL's scheme https://?): {self._snippet(raw)}")
        if status == 407:
            # a proxy wanting a login (or refusing the one sent): each document failed
            # alike with "HTTP 407" and the proxy's HTML page
            self._drop_connection()
            raise LLMConfigError(self._proxy_login_refused())
        if status == 403 and getattr(self._local, "absolute", False) and not _is_json(raw):
            if proxy_made:
                # a plain-HTTP proxy's own refusal (squid's ERR_ACCESS_DENIED page: its
                # access rules forbid the host), no API's JSON error: it got the hint of
                # a bad key
                self._drop_connection()
                raise LLMConfigError(self._proxy_refused(
                    f"HTTP 403 ({proxy_made}; {self._snippet(raw)})", "the request"))
            # no header says the proxy made it: the API's own firewall or nginx page
            # passed through (or an empty body) was blamed on the proxy, "not the key";
            # the call stops, so the proxy's connection is closed now, as above
            self._drop_connection()
            raise LLMConfigError(self._proxy_or_key_refused(raw))
        if status == 429 and _quota_refused(raw):
            # OpenAI's insufficient_quota: a 429 no wait lifts; retried with backoff on
            # every document, none could succeed (nor was any billed)
            raise LLMConfigError(f"{self.shown_url}: HTTP {status}{_QUOTA_HINT}: "
                                 f"{self._snippet(raw)}")
        if _is_transient(status):
            raise _Transient(f"HTTP {status}: {self._snippet(raw)}", retry_after,
                             loading=_loading_model(status, raw))
        if status != 200 and self._refused_parameter(body, status, raw):
            return self._post(self._body(request), request, aborted)
        if status == 200 and b'"error"' in raw[:4096]:
            # the same refusal as an error object in an HTTP 200 reply (OpenRouter's code
            # 404 or 400 for a parameter no provider of the model takes): it failed every
            # document alike, or stopped the run as a model not served
            coded = _error_status(_error_object(raw))
            if coded is not None and self._refused_parameter(body, coded, raw):
                return self._post(self._body(request), request, aborted)
        if status != 200:
            hint = ""
            error_object = _error_object(raw) if 400 <= status <= 499 else None
            flagged = _moderation(error_object) if status == 403 else None
            if flagged:
                # OpenRouter's: this one document is refused (it stopped the whole run
                # as a refused key does); the others go on. Its body quotes the
                # flagged input, the document's text: not shown
                raise LLMRefusalError(f"{self.shown_url}: HTTP {status} ({flagged}; asking "
                                      f"again cannot help): {_error_said(error_object)}")
            filtered = _content_filtered(error_object)
            if filtered:
                # Azure OpenAI's HTTP 400 content_filter, OpenAI's
                # content_policy_violation: this document's prompt, not the request's
                # form (it was counted as a failed call, though asking again gets the
                # same: a refusal now, usage.n_refused)
                raise LLMRefusalError(f"{self.shown_url}: HTTP {status} (the provider's "
                                      f"content filter refused this document's prompt, "
                                      f"{filtered}; asking again cannot help): "
                                      f"{_error_said(error_object)}")
            hint = _too_long(error_object, end=")")
            if status in (401, 403):
                hint = self._key_hint()
            elif status == 404:
                hint = self._model_hint()
            elif 300 <= status <= 399:
                # every request is redirected alike (http:// for an https:// API, a moved
                # path): a wrong base URL. Not followed, so the key never goes elsewhere
                shown = _shown_location(location)
                if self._api_key():  # masked, should a server put it in the address
                    shown = shown.replace(self._api_key(), "[API key]")
                hint = (f" (redirected to {shown}; redirects are not followed: give the "
                        "address to use as --base-url)")
            error = LLMConfigError if status in (401, 403, 404) or 300 <= status <= 399 \
                else LLMError
            raise error(f"{self.shown_url}: HTTP {status}{hint}: {self._snippet(raw)}")
        return _parse_completion(raw, request, secret=self._api_key())


#: what the HTTP 400 reply of a port of HTTPS to plain HTTP says (lowercase): nginx's,
#: Go's net/http, Apache's
_HTTPS_PORT_SAYS = (b"the plain http request was sent to https port",
                    b"client sent an http request to an https server",
                    b"speaking plain http to an ssl-enabled server port")

#: the headers every request sends or http.client writes itself (lowercase), which
#: ``api_key_header`` may not name
_OWN_HEADERS = frozenset({"content-type", "content-length", "accept", "accept-encoding",
                          "user-agent", "host", "connection", "transfer-encoding"})

#: what a message about an account out of quota adds
_QUOTA_HINT = (" (the account's quota or credit is used up: see its plan and billing "
               "with the provider; asking again cannot help)")


_TIMEOUT_ADVICE = (
    "the timeout counts the whole answer and any wait in the server's queue: for a slow "
    "model (a local one on a CPU, minutes an answer) raise --timeout, and give a server "
    "that answers one request at a time --concurrency 1")


def _wait_unless(delay: float, finishing: threading.Event,
                 run_stop: threading.Event | None) -> None:
    """Wait ``delay`` seconds, less where ``finishing`` or ``run_stop`` is set meanwhile
    (the second looked at every :data:`ABORT_POLL` seconds)."""
    if run_stop is None:
        finishing.wait(delay)
        return
    deadline = time.monotonic() + delay
    while not (finishing.is_set() or run_stop.is_set()):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        finishing.wait(min(left, ABORT_POLL))


def _loading_model(status: int, raw: bytes) -> bool:
    """Whether the reply ``status`` / ``raw`` says the server is still loading its model:
    llama.cpp's server answers so until the model is in memory (HTTP 503, an error
    object of type ``unavailable_error`` saying "Loading model"). Any other 503 (an
    overloaded server, Ollama's full queue) is not this.

    >>> _loading_model(503, b'{"error": {"code": 503, "message": "Loading model", '
    ...                     b'"type": "unavailable_error"}}')
    True
    >>> _loading_model(503, b'{"error": "server busy"}'), _loading_model(500, b"Loading model")
    (False, False)
    """
    if status != 503:
        return False
    try:
        data = _json_reply(raw)
    except (ValueError, RecursionError):
        return False
    error = data.get("error") if isinstance(data, dict) else None
    said = error.get("message") if isinstance(error, dict) else error
    return isinstance(said, str) and said.strip().lower().startswith("loading model")


def _quota_refused(raw: bytes) -> bool:
    """Whether the error reply ``raw`` says that the account's quota is used up (its error
    object's ``code`` or ``type`` in :data:`QUOTA_ERRORS`), which no retry changes.

    >>> _quota_refused(b'{"error": {"type": "insufficient_quota"}}'), _quota_refused(b"slow")
    (True, False)
    """
    try:
        data = _json_reply(raw)
    except (ValueError, RecursionError):
        return False
    error = data.get("error") if isinstance(data, dict) else None
    return _error_named(error, QUOTA_ERRORS) is not None


def _error_named(error: object, names: frozenset[str]) -> str | None:
    """Which of the ``code`` and ``type`` of the error object ``error`` is one of
    ``names`` (lower case), as "code NAME" or "type NAME"; None where neither is."""
    if not isinstance(error, dict):
        return None
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and value.strip().lower() in names:
            return f"{key} {value.strip()}"
    return None


def _listed_details(listed: object, model: str, *, created: bool = False) -> str | None:
    """The line :meth:`OpenAIChatClient.listed_details` makes of a model list (the
    parsed body of ``GET .../models``) for ``model`` (Ollama lists ``name`` as
    ``name:latest``), or None; its ``created`` only where ``created`` (a server known
    to give the model's own time there: Ollama).

    >>> _listed_details({"data": [{"id": "llama3:latest", "created": 1715000000}]},
    ...                 "llama3", created=True)
    'created 2024-05-06 12:53:20 UTC'
    >>> _listed_details({"data": [{"id": "m", "created": 1715000000}]}, "m") is None
    True
    """
    data = listed.get("data") if isinstance(listed, dict) else None
    if not isinstance(data, list):
        return None
    names = (model, f"{model}:latest")
    entry = next((item for name in names for item in data
                  if isinstance(item, dict) and item.get("id") == name), None)
    if entry is None:
        return None
    parts = []
    # vLLM and llama.cpp give the time of the listing as created (a "change" at every
    # run, told apart by a 10-minute rule that hid a model pulled just before a run);
    # another server may give its start (a "change" at every restart): read only where
    # the caller knows it for the model's own time
    stamp = entry.get("created") if created else None
    if isinstance(stamp, int) and not isinstance(stamp, bool):
        try:  # said as a date: an epoch count read as nothing
            day = datetime.datetime.fromtimestamp(stamp, datetime.UTC)
            parts.append(f"created {day:%Y-%m-%d %H:%M:%S} UTC")
        except (OverflowError, OSError, ValueError):
            parts.append(f"created {stamp}")
    meta = entry.get("meta")
    if isinstance(meta, dict):
        said = [f"{key} {meta[key]}" for key in ("size", "n_params", "n_vocab")
                if isinstance(meta.get(key), int)]
        if said:
            parts.append(", ".join(said))
    root = entry.get("root")
    if isinstance(root, str) and root and root != model:
        parts.append(f"root {root[:200]}")
    line = "; ".join(parts)
    return line if line and line.isprintable() else (repr(line) if line else None)


def _time_left(connection: http.client.HTTPConnection, deadline: float) -> None:
    """Give the socket of ``connection`` the time left until ``deadline`` (on
    :func:`time.monotonic`) as its timeout, or raise :class:`TimeoutError` when none is."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    if connection.sock is not None:
        connection.sock.settimeout(left)


class _DeadlineSocketIO(io.RawIOBase):
    """The raw reader of a socket that gives each read from it only the time left until
    ``deadline`` (on :func:`time.monotonic`), or raises :class:`TimeoutError`.

    It reads through the socket's own ``makefile`` reader, which the socket counts: a
    reply that closes the connection (HTTP/1.0, ``Connection: close``) has
    ``HTTPConnection`` close the socket once its headers are read, and the socket stays
    open until its readers are closed. Made as a ``SocketIO`` of its own, uncounted, the
    descriptor closed under it: a body not read yet failed with EBADF ("Bad file
    descriptor", retried as a broken connection), each try alike."""

    def __init__(self, sock: socket.socket, deadline: float):
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self._sock.settimeout(left)
        return self._raw.readinto(b)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """An :class:`http.client.HTTPResponse` read by ``deadline``: its status line and
    headers too, which ``getresponse`` reads line by line, each read with the socket's
    whole timeout (a server trickling them was never bounded)."""

    def __init__(self, sock: socket.socket, *args, deadline: float, **kwargs):
        super().__init__(sock, *args, **kwargs)
        #: the socket read from, which abort() shuts down where the connection has let
        #: go of it (a reply that closes the connection)
        self.sock = sock
        self.fp.close()  # the plain reader made above: unread, and holds a socket ref
        self.fp = io.BufferedReader(_DeadlineSocketIO(sock, deadline))


def _read_body(reply: http.client.HTTPResponse, connection: http.client.HTTPConnection,
               deadline: float) -> bytes:
    """The body of ``reply``, at most :data:`MAX_RESPONSE_BYTES` + 1 bytes of it (more
    is refused by the caller), read by ``deadline`` or :class:`TimeoutError`;
    :class:`http.client.IncompleteRead` where the connection closes before the
    ``Content-Length`` announced (read1 returned the part as if it were all)."""
    pieces: list[bytes] = []
    size = 0
    while size <= MAX_RESPONSE_BYTES:
        _time_left(connection, deadline)
        piece = reply.read1(min(1 << 16, MAX_RESPONSE_BYTES + 1 - size))
        if not piece:
            if reply.length:  # read1 closed the connection short of Content-Length
                raise http.client.IncompleteRead(b"".join(pieces), reply.length)
            # the end: read() marks the reply as done (read1 does not when a length was
            # announced), or the next request on the connection is refused as not ready
            reply.read()
            break
        pieces.append(piece)
        size += len(piece)
    return b"".join(pieces)


def _is_transient(status: int) -> bool:
    """Whether an HTTP ``status`` is worth asking again: :data:`RETRY_STATUSES` and every
    5xx but :data:`PERMANENT_SERVER_ERRORS`, as the OpenAI SDK does (a gateway's 520-524
    when the origin is unreachable or slow, a provider's 529 when overloaded).

    >>> [status for status in (400, 429, 500, 501, 503, 520, 529) if _is_transient(status)]
    [429, 500, 503, 520, 529]
    """
    return status in RETRY_STATUSES or (500 <= status <= 599
                                         and status not in PERMANENT_SERVER_ERRORS)


#: what :func:`socket.getaddrinfo` says of a host name no DNS server knows (NXDOMAIN,
#: or a name with no address), as against a resolver failing for now (EAI_AGAIN)
_NAME_UNKNOWN = frozenset(code for code in (getattr(socket, "EAI_NONAME", None),
                                            getattr(socket, "EAI_NODATA", None))
                          if code is not None)


#: the reasons OpenSSL gives where the server's answer to the handshake is no TLS (a
#: plain HTTP server's "HTTP/1.1 400" read as a TLS record), by OpenSSL version
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                      "UNKNOWN_PROTOCOL"})


def _connect(sock: socket.socket, address, timeout: float,
             aborted: threading.Event | None) -> None:
    """Connect ``sock`` to ``address`` within ``timeout`` seconds (:class:`TimeoutError`
    otherwise), or fail with :class:`ConnectionAbortedError` within
    :data:`CONNECT_POLL` seconds of ``aborted`` being set; ``sock`` is left with
    ``timeout`` as its timeout."""
    deadline = time.monotonic() + timeout
    sock.setblocking(False)
    error = sock.connect_ex(address)
    if error not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
        raise OSError(error, os.strerror(error))
    with selectors.DefaultSelector() as selector:  # reports a failed connect too
        selector.register(sock, selectors.EVENT_WRITE)
        while error:
            if aborted is not None and aborted.is_set():
                raise ConnectionAbortedError("connection attempt aborted")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            if selector.select(min(left, CONNECT_POLL)):
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    raise OSError(error, os.strerror(error))
    sock.settimeout(timeout)


def _proxy_for(scheme: str, host: str):
    """The proxy URL (split) from the environment (``HTTPS_PROXY`` ...), unless ``NO_PROXY``
    or a loopback host says to go direct."""
    from urllib.request import getproxies, proxy_bypass

    if host in ("127.0.0.1", "localhost", "::1"):
        return None
    url = getproxies().get(scheme)
    if not url or proxy_bypass(host):
        return None
    full = url if "://" in url else f"http://{url}"
    why = ""
    if _credentials_cut(full):
        # user:pa/ss@proxy:3128: urllib ends the host at the "/", reading host "user"
        # and port "pa" (or 12 of user:12/ss@..., a proxy it then connected to), the
        # rest of the password a path that messages showed
        why = ("a '/', '?' or '#' before its last '@': one in its credentials (name, password) "
               "must be percent-encoded (%2F, %3F, %23), else the host is read from "
               "inside the password")
    else:
        try:
            parts = urlsplit(full)
            parts.port  # noqa: B018 - urllib checks the port only when it is read
        except ValueError as exc:
            # "Invalid IPv6 URL" or a port not a number, raised inside the request as a
            # traceback
            why = ("a host in brackets that is no IPv6 address (or a bracket left open)"
                   if "IPv6" in str(exc) else "a port that is no number in 0-65535")
        else:
            if not parts.hostname:
                # http://:3128 was ignored: the request went direct, and its failure
                # blamed the base URL
                why = "no host"
    if why:
        raise LLMConfigError(
            f"the proxy URL in {_proxy_source(scheme, url)}, {_unparsed_redact(full)}, "
            f"has {why}: set it "
            "to the proxy's URL (http://proxy.example.com:3128, http://[::1]:3128), or "
            "name the host in NO_PROXY to reach it without a proxy")
    return parts


def _credentials_cut(url: str) -> bool:
    """Whether a ``/``, ``?`` or ``#`` comes before the last ``@`` of ``url`` (after its
    ``scheme://``): one inside its credentials, not percent-encoded, where urllib ends
    the host, reading it (and the port) from inside the password.

    Only a URL with ``scheme://`` has credentials: ``http:/user:secret@host/v1`` (one
    slash) has no host, and is refused as no http:// URL, not as a password to encode.
    An ``@`` in the path or query (``http://host/v1?user=me@x.com``) stays refused: a
    password holding an unencoded ``/`` and ``?`` reads exactly so
    (``http://user:1/a?b@host`` is host ``user``, port 1, and a message would show
    ``1/a``), and ``%40`` keeps every password unshown.

    >>> _credentials_cut("http://user:12/secret@127.0.0.2/v1"), _credentials_cut(
    ...     "http://user:p%2Fss@proxy:3128"), _credentials_cut("http://u:p@ss@h/v1")
    (True, False, False)
    >>> _credentials_cut("http:/user:12/secret@host/v1"), _credentials_cut(
    ...     "http://host/v1?user=me@x.com"), _credentials_cut("http://u:12/s?t@host/v1")
    (False, True, True)
    """
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url)
    if scheme is None:
        return False
    rest = url[scheme.end():]
    return "@" in rest and any(char in rest[:rest.rindex("@")] for char in "/?#")


def _proxy_authorization(proxy) -> str:
    """The ``Proxy-Authorization`` header for the proxy URL (split) ``proxy``: Basic
    with its user name and password percent-decoded (to the bytes encoded), as curl and
    requests send them; "" where it has neither (``http://@proxy:3128`` and
    ``http://:@proxy:3128`` sent an empty login, ``Basic Og==``, which a proxy
    wanting none may refuse, and one wanting a login answered "refused" rather than
    "wants a login").

    >>> _proxy_authorization(urlsplit("http://user:p%40ss%2F@proxy:3128"))
    'Basic dXNlcjpwQHNzLw=='
    >>> _proxy_authorization(urlsplit("http://@proxy:3128")), _proxy_authorization(
    ...     urlsplit("http://:@proxy:3128"))
    ('', '')
    """
    if "@" not in proxy.netloc or not (proxy.username or proxy.password):
        return ""
    login = unquote_to_bytes(proxy.username or "") + b":" \
        + unquote_to_bytes(proxy.password or "")
    return "Basic " + base64.b64encode(login).decode("ascii")


def _proxy_source(scheme: str, url: str) -> str:
    """The environment variable the proxy ``url`` for ``scheme`` is from (``HTTPS_PROXY``,
    ``https_proxy`` ...), as :func:`urllib.request.getproxies` read it."""
    # urllib reads the variables whatever their case, the lower-case one first
    return next((name for name in sorted(os.environ, key=lambda name: not name.islower())
                 if name.lower() == f"{scheme}_proxy" and os.environ[name] == url),
                "the system's proxy settings")


def _loading_hint(host: str, refused_at: str) -> str:
    """What a message about a connection refused by ``host`` (at the address
    ``refused_at``, "" where unknown) adds: the server there may still be loading its
    model, as vLLM listens only once it is loaded. Said of any host, as that may be so
    of any (a Docker service name, ``http://vllm:8000/v1``, a cloud machine's address:
    those were told nothing), and as surely as what is known allows: a local one's by
    its name or address, another's as what a server starting there would do.

    >>> _loading_hint("localhost", "127.0.0.1")[:48]
    ' A local server may still be loading its model: '
    >>> _loading_hint("vllm", "172.18.0.3")[:76]
    ' vllm is at 172.18.0.3, a private address: a server starting there may still'
    >>> _loading_hint("gpu.example.com", "93.184.216.34")[:65]
    ' If a server is starting there, it may still be loading its model'
    """
    if _local_host(host):
        return " A local server may still be loading its model: vLLM listens only once it " \
            "is loaded"
    if refused_at and _local_host(refused_at):
        return (f" {host} is at {refused_at}, a private address: a server starting there "
                "may still be loading its model (vLLM listens only once it is loaded)")
    return (" If a server is starting there, it may still be loading its model (vLLM "
            "listens only once it is loaded)")


def _local_host(host: str) -> bool:
    """Whether ``host`` is this machine or one of a private network (``localhost``, a
    loopback or private address): where a refused connection may be a local server
    still loading its model (vLLM listens only once it is loaded), not a wrong URL."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def _proxy_named(scheme: str, host: str) -> tuple[str, str]:
    """The proxy :func:`_proxy_for` gives for ``host`` as messages name it: its URL
    without credentials, and the environment variable it is from (``HTTPS_PROXY``,
    ``https_proxy`` ...); ("", "") where requests go direct. A refused connection or
    an unknown host name is then the proxy's, not the base URL's."""
    from urllib.request import getproxies

    proxy = _proxy_for(scheme, host)
    if proxy is None:
        return "", ""
    return _redact(proxy.geturl()), _proxy_source(scheme, getproxies().get(scheme, ""))


def _redact(url: str) -> str:
    """``url`` without credentials or query string, for messages and logs.

    >>> _redact("https://user:secret@api.example.com:8443/v1?key=abc")
    'https://api.example.com:8443/v1'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc, query="", fragment="").geturl()


def _unparsed_redact(url: str) -> str:
    """``url``, one :func:`urlsplit` refuses, without user:password nor query (either may
    hold a secret): everything after ``scheme://`` (or from the start, where there is
    none) up to the last ``@`` (up to the first, a password holding an ``@`` was shown
    in part; up to one before any ``/``, a password holding a ``/``, ``?`` or ``#`` was
    shown whole or up to that character; with no ``//``, ``user:secret@host/v1``
    as a base URL, the whole URL was shown). What was cut is shown as ``***@``: the
    last ``@`` may be one of the path (``http://host:12/v1/ops@example.org``, refused
    as :func:`_credentials_cut`), and what follows it, shown alone, read as the URL of
    another host (``http://example.org``). ``http:/`` (a slash left out) is kept as
    the scheme: what the user wrote wrong stays in view.

    >>> _unparsed_redact("http://user:p@ss@[::1/v1?key=abc")
    'http://***@[::1/v1'
    >>> _unparsed_redact("http://user:pa/s#s@proxy:3128")
    'http://***@proxy:3128'
    >>> _unparsed_redact("user:s3cret@llm.example.com/v1")
    '***@llm.example.com/v1'
    >>> _unparsed_redact("http:/user:s3cret@llm.example.com/v1")
    'http:/***@llm.example.com/v1'
    >>> _unparsed_redact("http://host:abc/v1?e=a@b.org"), _unparsed_redact("http://[::1")
    ('http://***@b.org', 'http://[::1')
    """
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*:/+", url)  # http:/ too (a slash left out)
    head = scheme.group() if scheme else ""
    _, at, rest = url[len(head):].rpartition("@")
    return head + ("***@" if at else "") + re.split(r"[?#]", rest)[0]


def _shown_location(location: str, limit: int = 200) -> str:
    """A redirect's ``Location`` for a message: no credentials or query, on one line.

    >>> _shown_location("https://u:pw@example.com/v1/chat/completions?key=1")
    'https://example.com/v1/chat/completions'
    """
    try:
        shown = _redact(location.strip())
    except ValueError:  # a port that is no number
        shown = ""
    return shown[:limit] if shown.isprintable() and shown else "an address not given"


def _snippet(raw: bytes, limit: int = 200, secret: str = "") -> str:
    """The first ``limit`` characters of a reply body on one line, ``secret`` masked.

    >>> _snippet(b'{"error": "bad key sk-123456789"}', limit=24, secret="sk-123456789")
    '{"error": "bad key [API '
    """
    text = raw[:4 * limit + 4 * len(secret)].decode("utf-8", "replace")
    if secret:
        text = text.replace(secret, "[API key]")
    return text[:limit].replace("\n", " ")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date).

    An HTTP date is in GMT whatever form it takes (RFC 9110 5.6.7): the asctime form
    (``Sun Nov  6 08:49:37 1994``) names no zone, and was read in local time (hours
    off, or already past, outside GMT).
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # float() also reads "nan" and "inf", which time.sleep refuses or never ends
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # asctime form, or "-0000": GMT all the same
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())


def _parse_completion(raw: bytes, request: ChatRequest, secret: str = "") -> ChatResponse:
    """Text and token counts of a chat-completions reply; garbage is worth a retry.

    Token counts the endpoint does not report are estimated (from ``request`` for the
    prompt), so costs never silently count completions only. A well-formed reply with
    no text carries the tokens it reported to the retry, to be billed; one that reports
    no usage bills its prompt as estimated, as an answer does (such replies cost
    nothing, however many came). One that says why it has none, which asking again
    would not change (:func:`_why_no_text`: a refusal, a tool call, the token limit
    reached), is not retried: each try was paid for."""
    data: Any = None
    choice: dict = {}
    message = None
    try:
        data = _event_stream(raw) if _is_event_stream(raw) else _json_reply(raw)
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content")
        called = _tool_answer(message, request) if isinstance(message, dict) and (
            content is None or content == "") else None
        # a reasoning field holding the whole answer, where the content has no text
        read_from = "" if called is not None or (
            isinstance(content, str | list) and _message_text(content).strip()) else \
            _reasoning_answer(choice, message)
        text = (called if called is not None else message[read_from] if read_from
                else _message_text(content))
        # "" or blank with finish_reason "stop" answered nothing, as null does: it was
        # passed on as an empty answer (counted malformed by the caller)
        if not text.strip() and (choice.get("finish_reason") in ("length", "stop")
                                 or _reasoning(message)):
            raise TypeError("content is empty")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError,
            RecursionError) as exc:  # RecursionError: a body of absurdly nested arrays
        usage = _usage(data) if isinstance(data, dict) else None
        # a chat completion whose message has no text: the prompt was processed (and
        # billed), whether or not the endpoint says so; garbage (an error page) was not
        processed = _prompt_estimate(request) if isinstance(message, dict) else 0
        # and what the model wrote instead of text (its reasoning, a refusal, a tool
        # call), where the endpoint does not say: 0 counted a reasoning model's
        # thinking up to its token limit as free
        written = _written(message) if isinstance(message, dict) else 0
        billed = None
        if isinstance(usage, dict) or processed:
            billed = _billing(usage, processed, written)
        why = _why_no_text(choice, message) if isinstance(message, dict) else None
        if why and isinstance(message, dict):
            raise _Transient(why, billed=billed, final=True,
                             declined=_declined(choice, message)) from exc
        error = data.get("error") if isinstance(data, dict) else None
        if error and not data.get("choices"):
            # OpenRouter and gateways report an upstream failure so, with HTTP 200: a
            # failure once the model has started on the request has its prompt (and the
            # text a stream sent before failing) paid for; billed 0 on every try where
            # the reply reports no usage
            partial = data.get(_PARTIAL)
            processed = _prompt_estimate(request)
            written = estimate_tokens(partial) if isinstance(partial, str) and partial else 0
            billed = _billing(usage, processed, written)
            said = error.get("message") if isinstance(error, dict) else error
            # retried where its code says asking again may help (429, 5xx) or says
            # nothing; a 400 (the context too long) was asked again, each try paid for
            # a key refused (401, 403) stops the run, as the HTTP status does; nothing
            # was processed, so nothing is billed but the usage it reports
            # but not OpenRouter's 403 for a prompt its moderation flagged: that one
            # document is refused, the others are not (it stopped the whole run)
            flagged = _moderation(error)
            key = None if flagged else _key_refused(error)
            # a model not served (as HTTP 404: its name, or OpenRouter's code 404 with
            # the upstream status) and an account out of quota (OpenAI's
            # insufficient_quota) too: every request alike
            model = None if key or flagged else (
                _error_named(error, MODEL_ERRORS)
                or ("code 404" if _error_status(error) == 404 else None))
            quota = None if key or model or flagged else _error_named(error, QUOTA_ERRORS)
            what = flagged or key or model or quota or _refused_by(error)
            filtered = None if key or model or quota else _content_filtered(error)
            # nor for a request refused as it is (context_length_exceeded, a 400): the
            # model never read the prompt, estimated the larger for being too long, so
            # each one counted it; an error after the model began (text before it in a
            # stream, a server error) keeps the estimate
            if what and not written and not isinstance(usage, dict):
                billed = None
            what = f"{what}{_too_long(error, lead=': ')}" if what else what
            # a moderation flag's metadata quotes the flagged input, the document: its
            # message alone is shown
            raise _Transient(f"HTTP 200 reply that is an error"
                             f"{f' ({what})' if what else ''}: "
                             + (_error_said(error) if flagged else
                                _snippet(str(said).encode(), secret=secret)),
                             billed=billed, final=bool(what or filtered),
                             declined=bool(flagged or filtered),
                             config="key" if key else "model" if model
                             else "quota" if quota else "") from exc
        if isinstance(data, dict) and data.get("choices") == []:
            what = "no choice in it"  # "list index out of range"
        elif isinstance(data, dict) and message is None and isinstance(exc, KeyError):
            what = f"no {exc} in it"  # "'message'", "'choices'"
        else:
            what = str(exc)
        raise _Transient(f"malformed chat-completions reply ({what}): "
                         f"{_snippet(raw, secret=secret)}", billed=billed) from exc
    usage = _usage(data)
    text = _valid_text(text)  # a reply may escape a lone surrogate too ("\\udc00")
    finish = choice.get("finish_reason")
    if finish == "content_filter":
        # the filter cut the answer (Azure OpenAI's): what came before the cut is no
        # answer (its JSON broken, or labels chosen before the rest was withheld), and
        # asking again gets the same. It was counted malformed, its text shown, and
        # asked again on every rerun
        raise _Transient("the server's content filter cut the answer short (finish_reason "
                         f"'content_filter' after {len(text):,} characters, discarded)",
                         billed=_billing(usage, _prompt_estimate(request),
                                         estimate_tokens(text)), final=True, declined=True)
    if finish == "error":
        # the provider failed mid-answer, saying so by finish_reason alone (OpenRouter's
        # stream, no error object): the text so far is no answer (it was taken for one,
        # counted malformed, never asked again); retried as a failed call, its prompt
        # and that text paid for
        raise _Transient("the reply ended with finish_reason 'error' (the provider "
                         f"failed mid-answer): {_snippet(raw, secret=secret)}",
                         billed=_billing(usage, _prompt_estimate(request),
                                         estimate_tokens(text)))
    prompt, completion, guessed_prompt, guessed_completion, reported = _billing(
        usage, _prompt_estimate(request), estimate_tokens(text))
    served = data.get("model") if isinstance(data, dict) else None
    fingerprint = data.get("system_fingerprint") if isinstance(data, dict) else None
    return ChatResponse(text, prompt, completion,
                        finish_reason=finish if isinstance(finish, str) else None,
                        estimated_prompt_tokens=guessed_prompt,
                        estimated_completion_tokens=guessed_completion,
                        reported_counts=reported, read_from=read_from,
                        served_model=served[:200] if isinstance(served, str) else "",
                        fingerprint=(fingerprint[:200] if isinstance(fingerprint, str)
                                     else ""))


def _reasoning_answer(choice: dict, message: object) -> str:
    """The reasoning field of a reply ``message`` with no answer text that holds the
    answer all the same, "" where none does: the model ended its turn (``finish_reason``
    "stop") with no refusal nor tool call, everything it wrote filed as reasoning. vLLM's
    ``deepseek_r1`` reasoning parser files so all a model writes without closing a
    ``<think>`` (Qwen3 with thinking off, an instruct model): every document failed,
    however right its answer. The answer is then parsed as strictly as any (drafts beside
    it that differ make it ambiguous); one cut at the token limit stays none.

    The field is read so only where it holds the answer alone (:func:`_answer_alone`):
    a thinking trace with one hedged draft in it ("maybe {...}... I am not sure") was
    taken for the answer; it stays none, as any reasoning with no answer text does.

    >>> _reasoning_answer({"finish_reason": "stop"},
    ...                   {"content": None, "reasoning_content": '{"labels": []}'})
    'reasoning_content'
    >>> _reasoning_answer({"finish_reason": "stop"},
    ...                   {"reasoning": 'Maybe {"labels": []}? Not sure.'})
    ''
    >>> _reasoning_answer({"finish_reason": "length"}, {"reasoning": '{"labels": []}'})
    ''
    """
    if (not isinstance(message, dict) or choice.get("finish_reason") != "stop"
            or message.get("refusal") or message.get("tool_calls")
            or message.get("function_call")):
        return ""
    return next((key for key in ("reasoning_content", "reasoning")
                 if isinstance(message.get(key), str) and message[key].strip()
                 and _answer_alone(message[key])), "")


#: one markdown code fence around the whole of a text (its language tag optional)
_WHOLE_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)\n?```", re.DOTALL)


def _answer_alone(text: str) -> bool:
    """Whether ``text`` is an answer and nothing else, as every prompt asks for one: a
    JSON object, once whitespace around it is stripped, optionally in one markdown code
    fence, with no prose before, after or in it.

    >>> _answer_alone(' ```json\\n{"labels": ["a"]}\\n``` '), _answer_alone('{"x": 1}')
    (True, True)
    >>> _answer_alone('Let me think... maybe {"labels": ["a"]}... I am not sure')
    False
    >>> _answer_alone('[1]'), _answer_alone('{"x": 1} {"x": 2}')
    (False, False)
    """
    stripped = text.strip()
    fenced = _WHOLE_FENCE.fullmatch(stripped)
    candidate = fenced.group(1).strip() if fenced else stripped
    try:
        return isinstance(json.loads(candidate), dict)
    except (ValueError, RecursionError):
        return False


def _error_status(error: object) -> int | None:
    """The HTTP status an error object of a reply gives as its ``code`` (OpenRouter
    gives the upstream provider's), or None where its code is none (``"server_error"``).

    >>> _error_status({"code": 400}), _error_status({"code": "503"}), _error_status("x")
    (400, 503, None)
    """
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, str) and code.strip().isdecimal() and len(code.strip()) == 3:
        code = int(code)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


#: the names an error object's ``code`` or ``type`` gives a prompt longer than the
#: model's context (OpenAI's, vLLM's)
TOO_LONG_ERRORS = frozenset({"context_length_exceeded"})


def _too_long(error: object, lead: str = " (", end: str = "") -> str:
    """What a message about the error object ``error`` adds where it says the prompt is
    longer than the model's context (:data:`TOO_LONG_ERRORS`): that the document is,
    asking again not helping, after ``lead`` and before ``end``; "" otherwise.

    >>> _too_long({"code": "context_length_exceeded"}, end=")")[:40]
    ' (the document is too long for the model'
    """
    return (f"{lead}the document is too long for the model, its prompt over the "
            f"model's context length: asking again cannot help{end}"
            if _error_named(error, TOO_LONG_ERRORS) else "")


def _moderation(error: object) -> str | None:
    """What says that the error object ``error`` is a moderation flag on the prompt
    (OpenRouter's 403, its ``metadata`` giving ``reasons`` or ``flagged_input``): it
    concerns that document alone, not the API key; None otherwise.

    >>> _moderation({"code": 403, "metadata": {"reasons": ["violence"]}})
    "the provider's moderation flagged this document's prompt"
    >>> _moderation({"code": 403, "message": "forbidden"})
    """
    metadata = error.get("metadata") if isinstance(error, dict) else None
    if isinstance(metadata, dict) and ("reasons" in metadata or "flagged_input" in metadata):
        return "the provider's moderation flagged this document's prompt"
    return None


def _content_filtered(error: object) -> str | None:
    """What says that the error object ``error`` is a content filter's refusal of the
    prompt (:data:`CONTENT_FILTER_ERRORS` naming its ``code``, ``type`` or inner error's
    ``code``, as Azure OpenAI's ``innererror`` gives ``ResponsibleAIPolicyViolation``);
    None otherwise.

    >>> _content_filtered({"code": "content_filter", "innererror": {"code": "x"}})
    'code content_filter'
    >>> _content_filtered({"innererror": {"code": "ResponsibleAIPolicyViolation"}})
    'code ResponsibleAIPolicyViolation'
    >>> _content_filtered({"code": "context_length_exceeded"})
    """
    if not isinstance(error, dict):
        return None
    inner = error.get("innererror")
    for found in (error, inner if isinstance(inner, dict) else {}):
        for key in ("code", "type"):
            value = found.get(key)
            if isinstance(value, str) and value.strip().lower() in CONTENT_FILTER_ERRORS:
                return f"code {value.strip()}"
    return None


def _error_said(error: object) -> str:
    """The ``message`` of the error object ``error`` alone, quoted and cut to 200
    characters (its ``metadata``, such as OpenRouter's ``flagged_input``, and Azure's
    filter results can quote the document, which a message must not carry).

    >>> _error_said({"message": "Input was flagged", "metadata": {"flagged_input": "x"}})
    "'Input was flagged'"
    """
    said = error.get("message") if isinstance(error, dict) else None
    if not isinstance(said, str) or not said.strip():
        return "(no message)"
    said = " ".join(said.split())
    return repr(said[:200] + ("..." if len(said) > 200 else ""))


def _declined(choice: dict, message: dict) -> bool:
    """Whether a chat completion's ``message`` (of ``choice``) without answer text is
    the model's refusal or a content filter's (:func:`_why_no_text`'s first and third
    reasons): the document is declined, not failed.

    >>> _declined({}, {"refusal": "No."}), _declined({"finish_reason": "length"}, {})
    (True, False)
    """
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        return True
    if message.get("tool_calls") or message.get("function_call"):
        return False
    return choice.get("finish_reason") == "content_filter"


def _error_object(raw: bytes) -> object:
    """The ``error`` of the JSON reply body ``raw``, or None where it has none."""
    try:
        data = _json_reply(raw)
    except (ValueError, RecursionError):
        return None
    return data.get("error") if isinstance(data, dict) else None


#: the Server header of a proxy's own reply (a reply it passes on keeps the API's)
_PROXY_SERVER = re.compile(r"\s*(squid|tinyproxy|privoxy)\b", re.IGNORECASE)


def _proxy_made(reply: http.client.HTTPResponse) -> str:
    """Which header of ``reply`` shows that a proxy made it rather than passing on the
    API's ("" where none does): ``X-Squid-Error``, ``Proxy-Agent``, a ``Server`` naming
    squid, tinyproxy or privoxy, or a ``Proxy-Status`` giving an ``error`` (RFC 9209;
    one giving only ``received-status`` is passed on). ``Via`` is not one: a proxy adds
    it to the replies it passes on too."""
    for name in ("X-Squid-Error", "Proxy-Agent"):
        value = reply.getheader(name)
        if value is not None:
            return f"{name}: {clip(value, 80)}"
    server = reply.getheader("Server", "")
    if _PROXY_SERVER.match(server):
        return f"Server: {clip(server, 80)}"
    status = reply.getheader("Proxy-Status", "")
    if re.search(r";\s*error\s*=", status):
        return f"Proxy-Status: {clip(status, 80)}"
    return ""


def _is_json(raw: bytes) -> bool:
    """Whether the reply body ``raw`` is JSON (an API's error, not a proxy's HTML page).

    >>> _is_json(b'{"error": "forbidden"}'), _is_json(b"<html>Access Denied</html>")
    (True, False)
    """
    try:
        _json_reply(raw)
    except (ValueError, RecursionError):
        return False
    return True


def _key_refused(error: object) -> str | None:
    """What says that the error object ``error`` of an HTTP 200 reply refuses the API
    key, as HTTP 401 and 403 do (every request alike): its ``code`` 401 or 403, or
    :data:`KEY_ERRORS` naming its code or type; None otherwise.

    >>> _key_refused({"code": 401}), _key_refused({"type": "authentication_error"})
    ('code 401', 'type authentication_error')
    """
    status = _error_status(error)
    if status is not None or not isinstance(error, dict):
        return f"code {status}" if status in (401, 403) else None
    return _error_named(error, KEY_ERRORS)


def _refused_by(error: object) -> str | None:
    """What says that the error object ``error`` of an HTTP 200 reply refuses the request
    itself, asking again getting the same (each try paid for): its ``code`` as an HTTP
    status of 4xx but 408/409/425/429, or 501/505 (OpenRouter's), or else as a name of
    :data:`BAD_REQUEST_ERRORS`, or its ``type`` so (OpenAI's ``invalid_request_error``,
    unless the code names a failure worth a retry); None where asking again may help.

    >>> _refused_by({"code": "context_length_exceeded", "type": "invalid_request_error"})
    'code context_length_exceeded'
    >>> _refused_by({"code": 400}), _refused_by({"code": 502}), _refused_by({"type": "api_error"})
    ('code 400', None, None)
    """
    status = _error_status(error)
    if status is not None:
        return (f"code {status}" if 400 <= status <= 599 and not _is_transient(status)
                else None)
    if not isinstance(error, dict):
        return None
    code, kind = (error.get(key) for key in ("code", "type"))
    code = code.strip() if isinstance(code, str) else ""
    if code.lower() in BAD_REQUEST_ERRORS:
        return f"code {code}"
    if code.lower() in RETRY_ERRORS:
        return None
    kind = kind.strip() if isinstance(kind, str) else ""
    return f"type {kind}" if kind.lower() in BAD_REQUEST_ERRORS else None


def _json_reply(raw: bytes) -> Any:
    """The JSON value of a reply body; bytes that are not UTF-8 (a server or proxy
    writing Latin-1) read as U+FFFD, where they failed the whole reply, asked again and
    paid for each time alike (a label name so damaged resolves to no label).

    >>> _json_reply(b'{"id": "caf\\xe9", "n": 1}')
    {'id': 'caf\ufffd', 'n': 1}
    """
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        return json.loads(raw.decode("utf-8-sig", "replace"))


#: how a server-sent event stream may begin (after a byte order mark and blank lines): a
#: comment (OpenRouter's ": OPENROUTER PROCESSING") or a field the spec defines, its
#: colon left out where the value is empty
_STREAM_START = re.compile(rb"(?::|(?:data|event|id|retry)(?::|\r|\n|$))")


def _is_event_stream(raw: bytes) -> bool:
    """Whether a reply body is a server-sent event stream, not a JSON value (which
    starts with none of its lines).

    >>> _is_event_stream(b": OPENROUTER PROCESSING\\n\\ndata: {}"), _is_event_stream(b'{"a": 1}')
    (True, False)
    """
    return bool(_STREAM_START.match(raw.removeprefix(b"\xef\xbb\xbf").lstrip()))


#: the key under which :func:`_event_stream` gives the text a stream sent before an
#: error chunk (no JSON reply's key: a NUL in it)
_PARTIAL = "\0partial"


def _event_stream(raw: bytes) -> dict:
    """A reply sent as server-sent events (``data: {chunk}`` lines, ``data: [DONE]``)
    though ``stream`` was not asked for, as some proxies and servers do, as the one
    chat completion its chunks make: their ``delta`` contents joined, the last
    ``finish_reason`` given and the counts of every ``usage`` (:func:`_stream_usage`),
    or the ``error`` of a chunk that has one (with no choices, the text before it under
    :data:`_PARTIAL`, to be billed).
    :class:`ValueError` where a line is no JSON.

    >>> _event_stream(b'data: {"choices": [{"delta": {"content": "o"}}]}\\n\\n'
    ...               b'data: {"choices": [{"delta": {"content": "k"}, '
    ...               b'"finish_reason": "stop"}]}\\n\\ndata: [DONE]\\n\\n')["choices"]
    [{'message': {'role': 'assistant', 'content': 'ok'}, 'finish_reason': 'stop'}]
    """
    parts: list[str] = []
    finish = usage = timings = None
    # a byte order mark before it is no part of its first line (the spec drops one)
    for event in _event_data(raw.decode("utf-8", "replace").removeprefix("\ufeff")):
        if event.strip() in ("[DONE]", ""):
            continue  # the end, or an event without data (a keep-alive)
        chunk = json.loads(event)
        if isinstance(chunk.get("usage"), dict):
            # the chunks' counts together, not the last chunk's alone: a gateway may
            # report the prompt's first and the completion's last
            usage = _stream_usage(usage, chunk["usage"])
        if isinstance(chunk.get("timings"), dict):
            timings = chunk["timings"]  # llama.cpp's, in its last chunk
        if chunk.get("error"):
            # the provider failed mid-answer (OpenRouter): the text so far is no answer,
            # and the reply fails as an error object in an HTTP 200 reply does (that
            # text billed all the same)
            return {"error": chunk["error"], "usage": usage, "timings": timings,
                    _PARTIAL: "".join(parts)}
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or choice.get("message") or {}
            if isinstance(delta.get("content"), str):
                parts.append(delta["content"])
            finish = choice.get("finish_reason") or finish
    if not parts:
        raise ValueError("an event stream with no text in it")
    return {"choices": [{"message": {"role": "assistant", "content": "".join(parts)},
                         "finish_reason": finish}], "usage": usage, "timings": timings}


def _usage(data: dict) -> object:
    """The ``usage`` of the reply ``data``, its counts completed from llama.cpp's
    ``timings`` where it has none (a server that sends no usage, or not every count):
    ``prompt_n`` (the prompt tokens evaluated) plus ``cache_n`` (those its cache held)
    for the prompt, ``predicted_n`` for the completion. They were counted as estimated.

    >>> _usage({"timings": {"cache_n": 30, "prompt_n": 12, "predicted_n": 5}})
    {'prompt_tokens': 42, 'completion_tokens': 5}
    >>> _usage({"usage": {"prompt_tokens": 7}, "timings": {"prompt_n": 1, "predicted_n": 5}})
    {'prompt_tokens': 7, 'completion_tokens': 5}
    >>> _usage({"usage": None})
    """
    usage, timings = data.get("usage"), data.get("timings")
    if not isinstance(timings, dict):
        return usage
    said = dict(usage) if isinstance(usage, dict) else {}
    prompt, cached = timings.get("prompt_n"), timings.get("cache_n", 0)
    if not _reported(said.get("prompt_tokens")) and _reported(prompt) and _reported(cached):
        said["prompt_tokens"] = prompt + cached
    if not _reported(said.get("completion_tokens")) and _reported(timings.get("predicted_n")):
        said["completion_tokens"] = timings["predicted_n"]
    return said if said or isinstance(usage, dict) else usage


def _stream_usage(kept: dict | None, usage: dict) -> dict:
    """The usage of a stream's chunks so far (``kept``) and of its next: each token
    count the largest that a chunk reported (the spec's, llama.cpp's and Ollama's
    streams report them in their last chunk; vLLM's continuous usage in every chunk, the
    counts so far, not to be summed; a gateway translating Anthropic's events the
    prompt's in its first, the completion's in its last, a 0 or nothing for the other).

    >>> _stream_usage({"prompt_tokens": 12, "completion_tokens": 0},
    ...               {"prompt_tokens": 0, "completion_tokens": 5})
    {'prompt_tokens': 12, 'completion_tokens': 5}
    >>> _stream_usage({"prompt_tokens": 12}, {"completion_tokens": 5, "total_tokens": 17})
    {'prompt_tokens': 12, 'completion_tokens': 5, 'total_tokens': 17}
    """
    merged = {**(kept or {}), **usage}
    for key in ("prompt_tokens", "completion_tokens"):
        counts = [said[key] for said in (kept or {}, usage) if _reported(said.get(key))]
        if counts:
            merged[key] = max(counts)
    return merged


def _partial_text(raw: bytes) -> str:
    """The answer text a reply cut short had sent: the ``delta`` contents of the
    complete events of a server-sent event stream (the last, cut, skipped); "" for a
    body that is no stream (a JSON reply cut short tells no text).

    >>> _partial_text(b'data: {"choices": [{"delta": {"content": "ab"}}]}\\n\\ndata: {"cho')
    'ab'
    """
    if not _is_event_stream(raw):
        return ""
    parts: list[str] = []
    for event in _event_data(raw.decode("utf-8", "replace").removeprefix("\ufeff")):
        try:
            chunk = json.loads(event)
        except (ValueError, RecursionError):
            continue
        for choice in (chunk.get("choices") if isinstance(chunk, dict) else None) or ():
            delta = (choice.get("delta") or choice.get("message") or {}) \
                if isinstance(choice, dict) else {}
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                parts.append(delta["content"])
    return "".join(parts)


def _event_data(text: str) -> list[str]:
    """The data of each event of a server-sent event stream: its lines end at CR LF, LF
    or CR only (not at what :meth:`str.splitlines` ends them: U+2028 or U+0085 in a JSON
    string sent unescaped), an event's ``data:`` lines joined by LF, a blank line ending
    it; other fields (``event:``, ``id:``) and ``: comments`` are skipped.

    >>> _event_data(': hi\\r\\ndata: {"a":\\r\\ndata:1}\\r\\n\\r\\nevent: x\\ndata: [DONE]\\n\\n')
    ['{"a":\\n1}', '[DONE]']
    """
    events: list[str] = []
    data: list[str] | None = None
    for line in re.split(r"\r\n|\r|\n", text):
        if not line:
            if data is not None:
                events.append("\n".join(data))
            data = None
        elif line.startswith("data:") or line == "data":  # the colon left out: no value
            value = line[5:]
            data = (data or []) + [value[1:] if value.startswith(" ") else value]
    if data is not None:  # the last event, without the blank line that ends it
        events.append("\n".join(data))
    return events


def _names(text: str, name: str, messages: Sequence[dict]) -> bool:
    """Whether the (lowercase) error ``text`` names the parameter ``name`` other than
    where it quotes the prompt ``messages``: a 400 quoting a document that says "seed" or
    "temperature" refused no parameter (each was left out of every later request).

    >>> _names("prompt rejected: 'we seed in may'", "seed", [{"content": "We seed in May"}])
    False
    >>> _names("unsupported parameter: 'seed'", "seed", [{"content": "We seed in May"}])
    True
    """
    for message in messages:
        content = str(message.get("content", "")).lower()
        start = content.find(name)
        while start != -1 and name in text:
            # the name with a few characters either side, as an echo of the prompt has it
            # (a prompt of the name alone tells nothing: taken for no echo)
            quoted = content[max(start - 8, 0):start + len(name) + 8]
            if len(quoted) > len(name) + 4:
                text = text.replace(quoted, " ")
            start = content.find(name, start + 1)
    return name in text


def _why_no_text(choice: dict, message: dict) -> str | None:
    """Why a chat completion's ``message`` (of ``choice``) holds no answer text, where
    asking again would get the same: the model refused (``refusal``), answered with a
    tool call (vLLM's or a gateway's tool parser took a JSON answer for one), a content
    filter withheld it, the model reached its output token limit first
    (``finish_reason`` "length": a reasoning model's thinking can take it all), it
    holds only the model's reasoning, or the model ended its turn without writing
    anything (``finish_reason`` "stop"); None otherwise. Of a refusal only the words
    that refuse are quoted (:func:`~tagsmith.labeling.refusals.refusal_words`): the rest
    may echo the document, a phone number from a user's report (it was quoted whole, its
    first 200 characters, ``secret``, the API key, masked in it).

    >>> print(_why_no_text({}, {"content": None, "refusal": "I can't help with 'Al, 555-0199'."}))
    the model refused to answer (it said "I can't help")
    >>> _why_no_text({"finish_reason": "stop"}, {"content": None, "refusal": "No."})
    'the model refused to answer'
    """
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        words = refusal_words(refusal)
        return "the model refused to answer" + (f' (it said "{words}")' if words else "")
    if message.get("tool_calls") or message.get("function_call"):
        return ("the model answered with a tool call, not text (none was offered: does "
                "the server turn JSON answers into tool calls?)")
    if choice.get("finish_reason") == "content_filter":  # Azure OpenAI's, for one
        return ("the server's content filter withheld the answer (finish_reason "
                "'content_filter')")
    if choice.get("finish_reason") == "length":
        return ("the model reached its output token limit (finish_reason 'length') before "
                "any answer text" + (", its reasoning having taken it all"
                                     if _reasoning(message) else "")
                + ": --max-tokens raises it, or the server's own limit on output tokens")
    if _reasoning(message):
        # vLLM's or llama.cpp's reasoning parser, when the model never closed its
        # thinking, files all it wrote as reasoning
        return ("the reply holds the model's reasoning but no answer text (did the "
                "server's reasoning parser take the answer for reasoning?)")
    if choice.get("finish_reason") == "stop":
        # the model ended its turn having written nothing: asked again at the same
        # temperature it answers so again, each try paid for (a reply that gives no
        # finish_reason says nothing of why: that one is retried as malformed)
        return ("the model answered nothing (no text in its message, finish_reason "
                "'stop')")
    return None


#: a data section of a prompt (:func:`tagsmith.labeling.prompts.data_section`): its
#: JSON on one line between ``<<<NAME`` and ``NAME>>>``
_DATA_SECTION = re.compile(r"<<<(\w+)\n[^\n]*\n\1>>>")
#: a quoted key and its colon, as a prompt's answer template writes one
_TEMPLATE_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')
#: the heading of a prompt's answer template, after the user's words (a --use-case)
_OUTPUT_HEADING = "# Output\n"


def _output_section(text: str) -> str:
    """The part of a message from its last ``# Output`` heading on (every prompt of
    :mod:`~tagsmith.labeling.prompts` ends with it, after the use case a user wrote),
    or the whole ``text`` where it has none: a use case's unbalanced ``{`` made the
    template's keys one level deeper than they are, its ``{"x":`` one asked for.

    >>> _output_section('Use case: a {draft\\n\\n# Output\\nReturn {"labels": []}')
    '# Output\\nReturn {"labels": []}'
    """
    if text.startswith(_OUTPUT_HEADING):
        return text
    at = text.rfind("\n" + _OUTPUT_HEADING)
    return text if at < 0 else text[at + 1:]


def _asked_keys(prompt: str) -> set[str]:
    """The top-level keys of the JSON objects ``prompt`` asks for in its own words
    (``Return exactly {"labels": [{"label": ...}]}``: ``labels``, not ``label``), its
    data sections (a document, a label set) left out.

    >>> sorted(_asked_keys('<<<D\\n{"x": 1}\\nD>>> Return {"rating": <1-10>, "labels": '
    ...                    '[{"name": "<n>"}]}'))
    ['labels', 'rating']
    """
    text = _DATA_SECTION.sub("", prompt)
    keys: set[str] = set()
    depth = start = 0
    while start < len(text):
        char = text[start]
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif char == '"':
            key = _TEMPLATE_KEY.match(text, start)
            if key:
                if depth == 1:
                    try:
                        keys.add(json.loads(f'"{key.group(1)}"'))
                    except ValueError:
                        pass
                start = key.end()
                continue
        start += 1
    return keys


def _tool_answer(message: dict, request: ChatRequest) -> str | None:
    """The answer a reply ``message`` without text gives as its one tool call's
    ``function.arguments`` (vLLM's or a gateway's tool parser, or a server answering
    JSON mode through a tool call, takes the JSON answer for one), where that is the
    answer the prompt asked for: ``request`` in JSON mode, and the arguments a JSON
    object whose every key is a top-level key of the object the prompt's own words ask
    for (``"labels"``: :func:`_asked_keys`, not a document's nor a label's name, read
    from each message's :func:`_output_section`, not from a use case); None otherwise.

    >>> ask = ChatRequest("m", ({"role": "user", "content": 'Return {"labels": []}'},),
    ...                   json_mode=True)
    >>> call = {"function": {"name": "json", "arguments": '{"labels": ["a"]}'}}
    >>> _tool_answer({"tool_calls": [call]}, ask)
    '{"labels": ["a"]}'
    >>> _tool_answer({"tool_calls": [{"function": {"arguments": '{"x": 1}'}}]}, ask)
    """
    if not request.json_mode:
        return None
    calls = message.get("tool_calls")
    if not calls and isinstance(message.get("function_call"), dict):
        calls = [{"function": message["function_call"]}]
    if not isinstance(calls, list) or len(calls) != 1 or not isinstance(calls[0], dict):
        return None
    function = calls[0].get("function")
    arguments = function.get("arguments") if isinstance(function, dict) else None
    try:
        answer = json.loads(arguments) if isinstance(arguments, str) else arguments
    except (ValueError, RecursionError):
        return None
    if not isinstance(answer, dict) or not answer:
        return None
    # the keys the prompt's own words ask for, not its data's: every key looked for
    # anywhere in the prompt took a label's name (or one a document quotes) for one;
    # and in its answer template, not in the use case a user wrote before it; nor in
    # an answer of the model's own, sent back by a repair request (its keys were taken
    # for ones asked for)
    asked = _asked_keys("\n".join(_output_section(str(m.get("content", "")))
                                  for m in request.messages
                                  if m.get("role") != "assistant"))
    if not all(key in asked for key in answer):
        return None
    return arguments.strip() if isinstance(arguments, str) \
        else json.dumps(answer, ensure_ascii=False)


def _written(message: dict) -> int:
    """The tokens (estimated) of what a reply ``message`` without answer text holds
    instead: its reasoning, refusal or tool calls; 0 for none.

    >>> _written({"content": None, "reasoning_content": "Let me think it over."})
    5
    """
    written = [message[key] for key in ("reasoning_content", "reasoning", "refusal")
               if isinstance(message.get(key), str)]
    for key in ("tool_calls", "function_call"):
        if message.get(key):
            try:
                written.append(json.dumps(message[key], ensure_ascii=False, default=str))
            except (RecursionError, ValueError):  # absurdly nested: its size unknown
                pass
    return estimate_tokens("".join(written)) if "".join(written) else 0


def _reasoning(message: dict) -> bool:
    """Whether a reply ``message`` holds a reasoning model's thinking in a field of its
    own (``reasoning_content``: vLLM, llama.cpp, DeepSeek; ``reasoning``: Ollama,
    OpenRouter, newer vLLM)."""
    return any(isinstance(message.get(key), str) and bool(message[key].strip())
               for key in ("reasoning_content", "reasoning"))


def _message_text(content: object) -> str:
    """The text of a reply message's ``content``: a string, or a list of content parts
    whose text parts are joined (``[{"type": "text", "text": ...}]``, as LiteLLM, Mistral
    and other gateways send it); :class:`TypeError` for anything else, or a list with no
    text part.

    >>> _message_text([{"type": "text", "text": '{"labels": '}, {"type": "text", "text": "[]}"}])
    '{"labels": []}'
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part["text"] for part in content if isinstance(part, dict)
                 and part.get("type", "text") == "text" and isinstance(part.get("text"), str)]
        if texts:
            return "".join(texts)
        raise TypeError("content is a list with no text part")
    raise TypeError(f"content is {type(content).__name__}")


def _count(value: object, estimate: int) -> int:
    """A reported token count, or ``estimate`` where it is missing or not a count (a
    negative number, or one over :data:`MAX_REPORTED_TOKENS`).

    >>> _count(12, 3), _count(-1, 3), _count(10**23, 3), _count("12", 3)
    (12, 3, 3, 3)
    """
    if isinstance(value, int) and _reported(value):
        return value
    return estimate


def _reported(value: object) -> bool:
    """Whether ``value`` is a token count a reply may report (see :func:`_count`)."""
    return isinstance(value, int) and not isinstance(value, bool) \
        and 0 <= value <= MAX_REPORTED_TOKENS


def _billing(usage: object, prompt: int, completion: int) -> tuple[int, int, int, int, int]:
    """The (prompt, completion) tokens a reply's ``usage`` reports, each estimated as
    ``prompt`` / ``completion`` where it reports none (or no count), then the part of
    each estimated and how many of the two were reported (a 0 is reported), for the
    usage to tell estimates from the endpoint's counts.

    >>> _billing({"prompt_tokens": 12, "completion_tokens": -1}, 3, 4), _billing(None, 3, 4)
    ((12, 4, 0, 4, 1), (3, 4, 3, 4, 0))
    """
    reported = usage if isinstance(usage, dict) else {}
    said = (reported.get("prompt_tokens"), reported.get("completion_tokens"))
    counts = [_count(value, guess) for value, guess in zip(said, (prompt, completion),
                                                              strict=True)]
    return (counts[0], counts[1], 0 if _reported(said[0]) else prompt,
            0 if _reported(said[1]) else completion,
            int(_reported(said[0])) + int(_reported(said[1])))


#: tokens a chat template adds around each message (its role and delimiters), and once
#: to prime the reply (``<|start|>assistant<|message|>``), as OpenAI's cookbook counts
#: them for its chat models; 1 more for a message with a ``name``
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3


def _prompt_estimate(request: ChatRequest) -> int:
    """Prompt tokens of ``request``: each message's text by :func:`estimate_tokens`,
    plus the chat template's tokens around each message and priming the reply (the
    text alone was ~16% under what servers counted), for endpoints that do not report
    usage (costs would otherwise count completions only) and the count said before a
    run's calls.

    >>> _prompt_estimate(ChatRequest("m", ({"role": "system", "content": "x" * 40},
    ...                                    {"role": "user", "content": "y" * 80})))
    39
    """
    return sum(estimate_tokens(str(m.get("content", ""))) + TOKENS_PER_MESSAGE
               + (TOKENS_PER_NAME if m.get("name") else 0)
               for m in request.messages) + REPLY_PRIMING_TOKENS


def complete_all(client: LLMClient, requests: Sequence[ChatRequest], *, n_workers: int = 4,
                 show_progress: bool = False, desc: str = "LLM calls",
                 max_consecutive_failures: int = 10,
                 refused: Callable[[str], bool] | None = None) -> list[ChatResponse | LLMError]:
    """Answer every request (in order) on ``n_workers`` threads.

    A request that fails for good gives its :class:`LLMError` in its slot instead of
    stopping the others. But the run stops with an :class:`LLMError` at once when the
    endpoint refuses a request for a reason that applies to all
    (:class:`~tagsmith.exceptions.LLMConfigError`: bad key, wrong URL or model), or after
    ``max_consecutive_failures`` requests in a row failed for good (the endpoint is
    down; a refusal, :class:`~tagsmith.exceptions.LLMRefusalError`, is no failure of
    the endpoint's and counts as an answer does here): answers received so far stay in
    the cache, so a rerun resumes (the message says how many there are, and whether a
    cache keeps them, not counting the malformed answers a
    :class:`~tagsmith.labeling.cache.DropMalformed` dropped); the requests in flight
    then end with the try under way (no retry) and are waited for, so that no worker
    goes on once it has returned; an :class:`OpenAIChatClient` checks the run's stop
    before each try and each send, so a request whose worker had not sent it yet when
    the run stopped is not sent at all (it was, every try of it). Ctrl-C cancels
    what has not started and abandons the requests in flight (the client's ``abort``),
    so the program stops at once rather than when a slow endpoint answers; the abandoned
    requests are counted as interrupted (``usage.n_interrupted``), not as failed, and
    the answers received before stay in the cache, so a rerun resumes. Where the client
    is a :class:`CachedClient` made with ``finish_on_interrupt`` (``label`` and
    ``taxonomy``'s), Ctrl-C sends no new request but leaves those in flight to end and
    store their answers (:meth:`CachedClient.finish`): the caller waits for them
    (:meth:`CachedClient.wait_for_calls`), and may abort them.
    The progress bar shows the calls made, cache hits and the cost of these requests
    (not of earlier ones the client made), and the calls refused apart from those
    answered: a refusal (:class:`~tagsmith.exceptions.LLMRefusalError`) and a reply whose
    text ``refused`` says declines the task (a refusal in prose), not told from the cache
    ("2/2 calls (100%) answered 2" was said of two refusals).

    >>> llm = ScriptedLLM(lambda request: request.messages[-1]["content"].upper())
    >>> asked = [ChatRequest("m", ({"role": "user", "content": text},)) for text in "abc"]
    >>> [response.text for response in complete_all(llm, asked, n_workers=2)]
    ['A', 'B', 'C']
    """
    # checked by name before any request (a 0 stopped the run at the first failure,
    # a string failed inside the thread pool); numpy integers pass, as plain ints
    n_workers = check_int("n_workers", n_workers, 1, numpy=True)
    max_consecutive_failures = check_int("max_consecutive_failures",
                                         max_consecutive_failures, 1, numpy=True)
    results: list[ChatResponse | LLMError | None] = [None] * len(requests)
    state = {"failures": 0, "running": 0, "refused": 0, "prose": 0}
    stop = threading.Event()  # set on the first stopping failure: no new request is sent
    lock = threading.Lock()
    idle = threading.Condition(lock)  # notified whenever a call in flight ends

    def one(index: int) -> int:
        with lock:  # with the count: once the run stops, it counts every call under way
            if stop.is_set():
                results[index] = LLMError("not sent: the run was stopping")
                return index
            state["running"] += 1
        # the client checks the run's stop before each try and each send: a call that
        # passed the check above just before the stop sends nothing after it
        token = _RUN_STOP.set(stop)
        try:
            return call(index)
        finally:
            _RUN_STOP.reset(token)
            with lock:
                state["running"] -= 1
                idle.notify_all()

    def call(index: int) -> int:
        try:
            response = results[index] = client.complete(requests[index])
            prose = (refused is not None and not response.cached
                     and refused(response.text))
            # not an answered call in the usage either, but a refused one (the usage
            # line said "1 answered call" of it, the progress line "refused 1"); a
            # client's own usage without the method keeps it answered: the bar says so
            recount = getattr(client.usage, "count_prose_refusal", None) if prose else None
            if recount is not None:
                recount()
            with lock:
                state["failures"] = 0
                state["prose"] += prose and recount is None
                state["refused"] += prose
        except LLMConfigError:
            stop.set()
            raise
        except LLMRefusalError as exc:
            # the endpoint answered: it declined this document. Ten reports in a row
            # that its filter flagged (a queue sorted by category, or one report's
            # votes) stopped the run as an endpoint that is down
            results[index] = exc
            with lock:
                state["failures"] = 0
                state["refused"] += not exc.cached
        except LLMError as exc:
            results[index] = exc
            with lock:
                if stop.is_set():
                    # ended by the run's stop (abandoned while waiting to retry, or not
                    # sent): no failure of the endpoint's. Counted, it was raised first
                    # where its document came earlier, "2 requests in a row failed ...
                    # Last: request abandoned (interrupted)" hiding the failure that
                    # stopped the run
                    return index
                state["failures"] += 1
                if state["failures"] >= max_consecutive_failures:
                    stop.set()
                    failures = state["failures"]
                    # the answers before this batch: called, or replayed from the
                    # cache (a resumed run's earlier rounds are all cache hits)
                    kept = _kept(client, results, requests, start[0] + start[1],
                                 answered_before)
                    raise LLMError(f"{failures} request{plural_s(failures)} in a row "
                                   f"failed; stopping ({kept}). "
                                   f"Last: {exc}") from exc
        return index

    if not requests:
        return []
    fresh = _wrapped_with(client, "_new_run", method=True)
    if fresh is not None:  # the time-outs in a row are counted within this run
        fresh._new_run()
    pool = ThreadPoolExecutor(max_workers=max(1, min(n_workers, len(requests))))
    # the postfix counts this pass's own calls, as its bar does: the client's usage
    # runs over the whole run ("50/50 calls ... calls 70" after a human sample's 20)
    before = client.usage
    start = (before.n_requests, before.n_cached, before.cost)
    # the distinct requests answered before this batch, where a CachedClient keeps them
    # (usage counts an answer asked twice twice, and a malformed one as any other)
    tally = _wrapped_with(client, "answered_keys", method=True)
    answered_before = set(tally.answered_keys()) if tally is not None else None
    futures: dict[Future, int] = {}
    try:
        with progress_bar(total=len(requests), desc=desc, unit="call",
                          enabled=show_progress) as bar:
            # counted as each call ends, in any order: in the pool's order (its map) one
            # slow first document held the bar at 0/N while every other call had ended;
            # a stopping failure stops the run as it comes, not after the documents before
            # it; raised once the calls in flight have ended, the earliest request's of
            # those that failed (_earliest_failure: it was whichever came out first)
            futures = {pool.submit(one, i): i for i in range(len(requests))}
            for future in as_completed(futures):
                future.result()
                bar.update(1)
                usage = client.usage
                # "answered", as the usage line: "calls" after the bar's own count of
                # calls ("193/193 calls (100%) calls 83 cached 110") read as a second total
                # no cost where no price was given: 'cost 0.0000' read as free
                # a refusal is said apart: "2/2 calls (100%) answered 2" of two refusals
                with lock:
                    n_refused, n_prose = state["refused"], state["prose"]
                bar.set_postfix_str(f"answered {usage.n_requests - start[0] - n_prose:,} "
                                    + (f"refused {n_refused:,} " if n_refused else "")
                                    + f"cached {usage.n_cached - start[1]:,}"
                                    + _cost_postfix(usage, usage.cost - start[2]),
                                    refresh=False)
    except BaseException as exc:
        with lock:
            stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        finishing = _wrapped_with(client, "finish_on_interrupt")
        if isinstance(exc, Exception):
            # a stopping failure (LLMError, or a bug) lets the answers in flight arrive
            # and reach the cache, with the try under way (no retry: the run stops).
            # Waited for here: the workers went on after the run had ended, their
            # retries keeping it at exit, and opened the cache afresh once it was closed
            # (not for answers being stored: the caller says why those take long)
            _try_no_more(client)
            with lock:
                waited = state["running"] - _storing(client)
            if waited > 0:
                # said: the wait lasts up to the client's timeout (minutes on a slow
                # model), and a run stopped by a failure looked hung meanwhile
                timed = _wrapped_with(client, "longest_try")
                longest = getattr(timed, "longest_try", None) if timed is not None else None
                within = (f", up to {longest:g} s" if isinstance(longest, (int, float))
                          else "")
                own = _own_client(client)
                if own is None:
                    logger.warning(
                        "the run is stopping: waiting for %d call%s in flight to end %s "
                        "try under way (not retried)%s", waited, plural_s(waited),
                        plural(waited, "its", "their"), within)
                else:
                    # "(not retried)" is tagsmith's clients' promise: one of the caller's
                    # own retries as it is written to
                    logger.warning(
                        "the run is stopping: waiting for %d call%s in flight to end "
                        "(%s, a client of your own: %s retries too, unless it ends %s "
                        "once tagsmith.labeling.client.run_stop() is set)%s", waited,
                        plural_s(waited), own, plural(waited, "its", "their"),
                        plural(waited, "it", "them"), within)
            try:
                _wait_for_workers(client, state, idle, None)
            except BaseException:  # Ctrl-C in that wait: as below
                if finishing is None or not finishing.finish_on_interrupt:
                    _wait_for_workers(client, state, idle, ABORT_GRACE, _abort(client))
                raise
            earliest = _earliest_failure(futures)
            if earliest is not None and earliest is not exc:
                raise earliest from earliest.__cause__  # its own cause, not the other
        elif finishing is not None and finishing.finish_on_interrupt:
            # Ctrl-C: no new call; the calls in flight end and store their answers (the
            # caller waits for them, saying so, and a second Ctrl-C abandons them)
            finishing.finish()
        elif _abort(client):
            # Ctrl-C: the interpreter waits for the worker threads at exit. The aborted
            # calls end within moments: wait for them (a while at most), so
            # that the usage the caller reports next counts them as interrupted
            _wait_for_workers(client, state, idle, ABORT_GRACE)
        raise
    pool.shutdown()
    return [r if r is not None else LLMError("no result") for r in results]


def _earliest_failure(futures: dict[Future, int]) -> Exception | None:
    """The failure of the earliest request (``futures`` maps each call's future to its
    request's index) among the calls ended by one, once the run has stopped and its calls
    in flight have ended: which failure the run raised was the first to come out of
    ``as_completed``, a race between two calls failing at once (two documents refused
    for the same bad key, or a failure raised beside the one that stopped the run), so
    two runs of the same requests told different failures."""
    failed = [(index, error) for future, index in futures.items()
              if future.done() and not future.cancelled()
              and isinstance(error := future.exception(), Exception)]
    return min(failed, key=lambda pair: pair[0])[1] if failed else None


def _cost_postfix(usage, cost: float) -> str:
    """The progress bar's " cost X" of ``usage`` (:meth:`Usage.cost_postfix`); a client
    of the caller's own whose ``usage`` is no :class:`Usage` (a ``priced`` flag and a
    ``cost``, as :class:`LLMClient` asks) gets the plain " cost X", or "" unpriced: its
    run stopped on an AttributeError at the first answer."""
    postfix = getattr(usage, "cost_postfix", None)
    if callable(postfix):
        return str(postfix(cost))
    return f" cost {cost:.4f}" if getattr(usage, "priced", False) else ""


def _wait_for_workers(client, state: dict, idle: threading.Condition,
                      timeout: float | None, wait: bool = True) -> None:
    """:func:`complete_all`'s wait, once stopped, for its calls under way to end
    (``timeout`` seconds at most; None: as long as they take; none where not ``wait``),
    not for those only storing their answer: the caller says why those take long. A
    call that begins storing does not notify: looked at again every moment (it kept
    the run waiting the whole grace, silently)."""
    if not wait:
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    with idle:
        while state["running"] > _storing(client):
            left = ABORT_POLL if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            idle.wait(min(left, ABORT_POLL))


def _try_no_more(client) -> None:
    """Have ``client``, or the first client it wraps with a ``try_no_more`` method
    (see :meth:`OpenAIChatClient.try_no_more`), try no more for the calls in flight."""
    found = _wrapped_with(client, "try_no_more", method=True)
    if found is not None:
        found.try_no_more()


def _kept(client, results: Sequence[object], requests: Sequence[ChatRequest],
          earlier: int = 0, answered_before: set[str] | None = None) -> str:
    """What a stopping run leaves of the answers received so far in ``results`` (to
    ``requests``): it said "answers so far are cached" when none had come, or no cache
    kept them, and counted among them the malformed answers that a
    :class:`~tagsmith.labeling.cache.DropMalformed` had dropped from the cache (a rerun
    asked for them again). ``earlier`` counts the answers the client received before
    this batch (a budget's earlier rounds, a human sample), from the endpoint or the
    cache: "no request was answered" read as the whole run's, after a round of answers.
    ``answered_before``: the cache keys of the distinct requests answered before this
    batch, where the :class:`CachedClient`'s :meth:`~CachedClient.answered_keys` kept
    them; those it holds and those it dropped are then counted exactly ("the 30 answers
    received before it (malformed ones aside)" said 30 where the cache held 28)."""
    answered = [i for i, result in enumerate(results) if isinstance(result, ChatResponse)]
    n = len(answered)
    tally = _wrapped_with(client, "answered_keys", method=True)
    good_before: int | None = None  # not known: malformed ones not told apart
    lost: set[str] = set()
    held: dict[str, bool] = {}
    if tally is not None and answered_before is not None:
        held = tally.answered_keys()
        # an answer asked in this batch again is this batch's
        mine = {requests[i].cache_key() for i in answered}
        # the distinct requests whose answer could not be stored (a write failed): the
        # usage counts it called "not cached" the answers the cache held all the same
        unsaved = getattr(tally, "unsaved_keys", None)
        lost = set(unsaved()) - held.keys() if callable(unsaved) else set()
        before = [held.get(key, False) for key in answered_before - mine]
        earlier = len(before)
        good_before = sum(before)
    if not n and not earlier and not lost:
        return "no request was answered"
    batch = ""
    if not n:
        # (none_of read "no request of the 1 of this batch was answered")
        batch = plural(len(requests), "the one request of this batch was not answered",
                       f"none of the {len(requests):,} requests of this batch was answered")
    if lost and answered_before is not None:
        # counted run-wide (this batch's answers with those before): held, dropped, lost
        status = [held[key] for key in (answered_before | mine) if key in held]
        return _kept_unsaved(sum(status), len(status) - sum(status), len(lost), batch)
    checker = _wrapped_with(client, "dropped_keys")
    dropped = set(checker.dropped_keys) if checker is not None else set()
    seen = 0
    while client is not None and seen < 10:  # CachedClient, or a wrapper of one
        if getattr(client, "cache", None) is not None:
            bad = _count_bad(requests, answered, dropped)
            if good_before is not None:
                return _kept_exactly(n or None, bad, good_before, earlier - good_before,
                                     batch)
            if getattr(client, "write_failed", False):
                break
            # the answers of the batches before: those well-formed are cached as this
            # batch's
            before_it = (f"; {plural(earlier, 'the answer', f'the {earlier:,} answers')} "
                         "received before it")
            if not n:
                return (f"{batch}{before_it} {plural(earlier, 'is', 'are')} in the "
                        "response cache (malformed ones aside): a rerun asks only for the "
                        "others")
            answers = plural(earlier, "is the well-formed answer",
                             "are the well-formed answers")
            also = f", as {answers} received before this batch" if earlier else ""
            where = " in this batch" if earlier else ""
            kept = n - bad
            if not kept:
                return (f"{plural(n, 'the answer', f'the {n} answers')} received{where} "
                        f"{plural(n, 'was', 'were')} malformed, not kept in the response "
                        f"cache: a rerun asks for {plural(n, 'it', 'them')} again{also}")
            malformed = (f", not {plural(bad, 'the malformed one', f'the {bad} malformed ones')}"
                         if bad else "")
            return (f"the {kept} {plural(kept, 'answer', 'answers')} received{where} "
                    f"{plural(kept, 'is', 'are')} in the response cache{malformed}{also}: "
                    "a rerun asks only for the others")
        client, seen = getattr(client, "inner", None), seen + 1
    before_it = (f"; {plural(earlier, 'the answer', f'the {earlier:,} answers')} "
                 "received before it")
    if not n:
        return (f"{batch}{before_it} {plural(earlier, 'is', 'are')} not cached: a rerun "
                f"asks for {plural(earlier, 'it', 'them')} again")
    also = f", nor the {earlier:,} received before this batch" if earlier else ""
    # "1 request answered, not cached: a rerun asks for them again"
    return (f"{n} {plural(n, 'request', 'requests')} answered, not cached{also}: "
            f"a rerun asks for {plural(n + earlier, 'it', 'them')} again")


def _kept_unsaved(good: int, bad: int, lost: int, batch: str) -> str:
    """:func:`_kept` where answers could not be stored (the cache's writes failed),
    counted over the run so far, one for each distinct request: ``good`` in the
    response cache, ``bad`` dropped from it as malformed, ``lost`` not stored; ``batch``
    says that none of this batch's requests was answered ("" where some were)."""
    lead, where = (f"{batch}; ", "before it") if batch else ("", "so far")
    total = good + bad + lost
    if not good:
        why = (f" ({bad:,} malformed, {lost:,} not saved)" if bad else "")
        return (f"{lead}{_answers(total)} received {where} "
                + (f"{plural(total, 'is', 'are')} not in the response cache{why}" if bad
                   else "could not be saved in the response cache")
                + f": a rerun asks for {plural(total, 'it', 'them')} again")
    malformed = f", {bad:,} {plural(bad, 'was', 'were')} malformed, dropped from it," \
        if bad else ""
    again = bad + lost
    return (f"{lead}of {_answers(total)} received {where}, {good:,} "
            f"{plural(good, 'is', 'are')} in the response cache{malformed} and {lost:,} "
            f"could not be saved in it: a rerun asks for "
            f"{plural(again, 'that one', f'those {again:,}')} again")


def _count_bad(requests: Sequence[ChatRequest], answered: Sequence[int],
               dropped: set[str]) -> int:
    """How many of the ``answered`` requests' answers were dropped from the cache."""
    return sum(requests[i].cache_key() in dropped for i in answered) if dropped else 0


def _answers(n: int, what: str = "answers") -> str:
    """ "the answer", "the 3 answers" (``what``: the plural noun)."""
    return plural(n, f"the {what[:-1]}", f"the {n:,} {what}")


def _kept_exactly(n: int | None, bad: int, good_before: int, bad_before: int,
                  batch: str) -> str:
    """:func:`_kept` with a cache, the answers before this batch counted exactly:
    ``n`` answers received in this batch (None: none, ``batch`` saying so), ``bad`` of
    them malformed (dropped from the cache); ``good_before`` answers received before it
    in the cache, ``bad_before`` dropped as malformed."""
    earlier = good_before + bad_before
    if n is None:
        before = f"{batch}; {_answers(earlier)} received before it"
        if not good_before:
            return (f"{before} {plural(earlier, 'was', 'were')} malformed, not kept in the "
                    f"response cache: a rerun asks for {plural(earlier, 'it', 'them')} "
                    "again")
        if bad_before:
            before = (f"{batch}; {_answers(good_before)} received before it "
                      f"{plural(good_before, 'is', 'are')} in the response cache, not "
                      f"{_answers(bad_before, 'malformed ones')}")
        else:
            before = f"{before} {plural(earlier, 'is', 'are')} in the response cache"
        return f"{before}: a rerun asks only for the others"
    kept = n - bad
    where = " in this batch" if earlier else ""
    if good_before:
        among = f", not {_answers(bad_before, 'malformed ones')}" if bad_before else ""
        also = (f", as {plural(good_before, 'is', 'are')} {_answers(good_before)} "
                f"received before this batch{among}")
    elif bad_before:
        also = (f", not {_answers(bad_before)} received before this batch, "
                f"{plural(bad_before, 'which was', 'which were')} malformed")
    else:
        also = ""
    if not kept:
        if good_before:
            return (f"{_answers(n)} received{where} {plural(n, 'was', 'were')} malformed, "
                    f"not kept in the response cache: a rerun asks for "
                    f"{plural(n, 'it', 'them')} again; {_answers(good_before)} received "
                    f"before this batch {plural(good_before, 'is', 'are')} in it"
                    + (f", not {_answers(bad_before, 'malformed ones')}" if bad_before
                       else ""))
        also = (f", as {plural(bad_before, 'was', 'were')} {_answers(bad_before)} received "
                "before this batch" if bad_before else "")
        return (f"{_answers(n)} received{where} {plural(n, 'was', 'were')} malformed, not "
                f"kept in the response cache{also}: a rerun asks for "
                f"{plural(n + bad_before, 'it', 'them')} again")
    malformed = f", not {_answers(bad, 'malformed ones')}" if bad else ""
    return (f"the {kept} {plural(kept, 'answer', 'answers')} received{where} "
            f"{plural(kept, 'is', 'are')} in the response cache{malformed}{also}: "
            "a rerun asks only for the others")


def _wrapped_with(client, name: str, *, method: bool = False):
    """The first of ``client`` and the clients it wraps (``inner``, as
    :class:`CachedClient` does; ten deep at most) with an attribute ``name`` (a callable
    one where ``method``), or None."""
    seen = 0
    while client is not None and seen < 10:
        value = getattr(client, name, None)
        if value is not None and (not method or callable(value)):
            return client
        client, seen = getattr(client, "inner", None), seen + 1
    return None


def _own_client(client) -> str | None:
    """The class name of the client ``client`` is or wraps (``inner``, ten deep at most)
    where it is the caller's own (no class of tagsmith's), None for one of tagsmith's:
    those try no more once the run has stopped, a client of one's own only where it
    looks at :func:`run_stop`. Judged by the class whose ``complete`` it runs: a subclass
    of :class:`OpenAIChatClient` changing only its headers or its URL tries as
    tagsmith's does (it was said to retry as a client of one's own)."""
    for _ in range(10):
        inner = getattr(client, "inner", None)
        if inner is None:
            break
        client = inner
    kind = type(client)
    calls = next((cls for cls in kind.__mro__ if "complete" in vars(cls)), kind)
    return None if calls.__module__.startswith("tagsmith.") else kind.__name__


def _storing(client) -> int:
    """How many answers ``client`` (or a client it wraps, ``inner``) is storing in its
    response cache: calls that received their answer and are no longer in flight."""
    found = _wrapped_with(client, "writes_in_flight")
    return 0 if found is None else int(found.writes_in_flight)


def _abort(client) -> bool:
    """End the calls in flight of ``client``, or of the client it wraps (``inner``, as
    :class:`CachedClient` does), where one has an ``abort`` method; whether one had."""
    found = _wrapped_with(client, "abort", method=True)
    if found is not None:
        found.abort()
    return found is not None


class CachedClient:
    """Any :class:`LLMClient` with the persistent response cache in front of it.

    A cache hit costs nothing and is counted in ``usage.n_cached``; a new answer is
    stored (and committed) before it is returned. When storing fails (disk full, the
    file made read-only, another process's lock held too long), the answer is still
    returned: it was paid for, and the failed write ended the whole run, every answer
    received with it. A warning names the cache file and why (one for each reason:
    writes already under way may fail otherwise), and the run stops writing to it
    (``write_failed``): each later write would fail or wait the same way.
    ``n_unsaved`` counts the answers received but not stored.

    A run stopped while answers wait to be stored (another process holds the cache's
    lock) can wait for them (:meth:`wait_for_writes`, ``writes_in_flight`` of them) or
    leave them (:meth:`abandon_writes`).

    >>> import os, tempfile
    >>> from tagsmith.labeling.cache import ResponseCache
    >>> cache = ResponseCache(os.path.join(tempfile.mkdtemp(), "llm.sqlite"))
    >>> asked = ChatRequest("m", ({"role": "user", "content": "hi"},))
    >>> with CachedClient(ScriptedLLM(lambda request: "hello"), cache) as client:
    ...     [client.complete(asked).cached for _ in range(2)], client.usage.n_cached
    ([False, True], 1)
    """

    def __init__(self, inner: LLMClient, cache: ResponseCache, *,
                 keep_refusals: bool = False, finish_on_interrupt: bool = False):
        check_client("inner", inner)
        if not all(callable(getattr(cache, method, None)) for method in ("get", "put")):
            # a path given for the cache failed at the first call, as an AttributeError
            raise InvalidParameterError("cache", "a ResponseCache (ResponseCache(path))",
                                        type(cache).__name__)
        from tagsmith._params import check_bool

        self.inner = inner
        self.cache = cache
        #: whether a refusal (:class:`LLMRefusalError`) is stored, and told again on the
        #: next call of its request without asking, ``cached`` (``label`` does: a rerun
        #: paid for every refusal again, and asked a hosted model once more for each
        #: document its safety system had flagged); :func:`~tagsmith.labeling.cache.
        #: discard_refused` deletes one, to ask again
        self.keep_refusals = check_bool("keep_refusals", keep_refusals)
        self._refusals = self.keep_refusals and all(
            callable(getattr(cache, method, None))
            for method in ("get_refusal", "put_refusal", "discard_refusal"))
        #: whether :func:`complete_all`, interrupted (Ctrl-C), lets the calls in flight
        #: end and store their answers (:meth:`finish`; the caller waits for them,
        #: :meth:`wait_for_calls`, and may abort them, the inner client's ``abort``)
        #: rather than abandoning
        #: them at once: an endpoint that had read them may bill them, and a rerun asked
        #: them again (``label`` and ``taxonomy`` do)
        self.finish_on_interrupt = check_bool("finish_on_interrupt", finish_on_interrupt)
        self.model = inner.model
        self.usage = inner.usage
        #: whether a write to the cache failed (the run then answers without storing)
        self.write_failed = False
        #: answers received that are not in the cache (a write failed or was stopped by
        #: Ctrl-C, or was not tried after one had failed): a rerun pays for them again
        self.n_unsaved = 0
        #: answers received and stored by this run that were then dropped from the
        #: cache (malformed, or of a rejected taxonomy step): a rerun pays for them again
        self.n_dropped = 0
        # run-wide, by cache key, the requests answered (from the endpoint or the cache)
        # and whether the cache holds the answer (False: dropped, malformed or rejected);
        # it counts a stopped run's answers exactly (one entry per distinct request)
        self._answered: dict[str, bool] = {}
        # run-wide, the cache keys of the requests answered whose answer was not stored
        # (one entry per distinct request: ``n_unsaved`` counts each call)
        self._unsaved: set[str] = set()
        self._lock = threading.Lock()
        self._writes = 0
        self._writes_done = threading.Condition(self._lock)
        self._calls = 0  # calls asked of the endpoint whose answer has not come
        self._calls_done = threading.Condition(self._lock)
        self._finishing = False  # finish() was called: no new call is sent
        self._warned: set[str] = set()  # the reasons of the failed writes warned about
        # the model names asked whose serving model this client has looked at
        # (:meth:`_check_served`): once each, at its first answer from the endpoint
        self._served_seen: set[str] = set()
        # per model name asked, the models the endpoint said served it in this run (in
        # the order they came), and the names said to be served by several
        self._served_models: dict[str, list[str]] = {}
        self._several_said: set[str] = set()
        # the model names asked whose entry in the endpoint's model list this client
        # has looked at (:meth:`_check_listed`): once each
        self._listed_seen: set[str] = set()
        # the model list is read on a thread of its own (:meth:`_note_listed`), off the
        # run's path; once closed, a list answered later is not compared, and close()
        # waits (a moment at most) for one being compared and noted
        self._closed = False
        self._noting = 0
        self._noted = threading.Condition(self._lock)
        #: the threads reading the endpoint's model list (:meth:`_check_listed`)
        self.listing_threads: list[threading.Thread] = []


    def __repr__(self) -> str:  # it was <...CachedClient object at 0x7f...>
        return f"{type(self).__name__}({self.inner!r}, {self.cache!r})"

    def close(self) -> None:
        """Close the client inside and the cache (what each has open: connections to
        the endpoint, the SQLite file); ``with CachedClient(...) as client:`` does so at
        the end of the block.

        >>> import os, tempfile
        >>> from tagsmith.labeling.cache import ResponseCache
        >>> cache = ResponseCache(os.path.join(tempfile.mkdtemp(), "llm.sqlite"))
        >>> with CachedClient(ScriptedLLM(lambda request: "hi"), cache) as client:
        ...     client.complete(ChatRequest("m", ({"role": "user", "content": "x"},))).text
        'hi'
        """
        with self._lock:
            self._closed = True  # a model list answered from now on is not looked at
            # one being compared and noted ends first (a read and a write): its write
            # met a closed cache, and said the cache could not be written
            self._noted.wait_for(lambda: self._noting == 0, timeout=LIST_NOTE_WAIT)
        for part in (self.inner, self.cache):
            close = getattr(part, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> CachedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(self, request: ChatRequest) -> ChatResponse:
        """The answer to ``request``: the cache's where it holds one, else the inner
        client's, stored before it is returned.

        The key is :meth:`ChatRequest.cache_key`, a SHA-256 of the request's payload
        (model, messages and parameters): the same prompt to the same model with the
        same parameters is asked once, whatever the endpoint or the run. A hit is
        returned with ``cached=True``, costing nothing (counted in ``usage.n_cached``);
        with ``keep_refusals`` a refusal stored earlier is raised again as a cached
        :class:`LLMRefusalError`. A miss calls ``inner.complete`` (its retries, its
        errors, raised as they are; a refusal stored first with ``keep_refusals``); a
        failed store still returns the answer (see the class: ``n_unsaved``,
        ``write_failed``). Raises :class:`LLMError` "not sent" for a miss once the run
        is stopping (:meth:`finish`)."""
        hit = self.cache.get(request)
        if hit is not None:
            self.usage.add(hit)
            with self._lock:
                self._answered[request.cache_key()] = True
            return hit
        said = self.cache.get_refusal(request) if self._refusals else None
        if said is not None:  # told again at no cost (it was asked, and paid for, anew)
            self.usage.count("cached")
            error = LLMRefusalError(said.removesuffix(CACHED_REFUSAL) + CACHED_REFUSAL)
            error.cached = True
            raise error
        with self._lock:
            if self._finishing:  # checked with the count: the count is exact once it is set
                raise LLMError("not sent: the run was stopping")
            self._calls += 1
        try:
            try:
                response = self.inner.complete(request)
            finally:
                with self._lock:
                    self._calls -= 1
                    self._calls_done.notify_all()
        except LLMRefusalError as exc:
            if self._refusals and not self.write_failed:
                self.store(functools.partial(self.cache.put_refusal, request, str(exc)))
            raise

        def put() -> bool:
            self.cache.put(request, response)
            return True

        saved = False
        try:
            saved = not self.write_failed and self.store(put) is not None
        finally:  # Ctrl-C in the write too (on the thread that took it): lost, said so
            with self._lock:
                if saved:
                    self._answered[request.cache_key()] = True
                else:
                    self.n_unsaved += 1
                    self._unsaved.add(request.cache_key())
        if saved:  # after the answer's own write: a locked cache keeps that one first
            self._check_served(request.model, response)
            self._check_listed(request.model, response)
        return response

    def _check_listed(self, model: str, response: ChatResponse) -> None:
        """Once a run for ``model``, at its first answer stored: have the endpoint's
        model list read (:meth:`OpenAIChatClient.listed_details`: one request) on a
        thread of its own, which compares what it says of the model with what the cache
        noted last time, warning where it changed, and notes it
        (:meth:`_note_listed`). Ollama's replies name the model asked and ``fp_ollama``
        whatever ``ollama pull`` fetched, so a model pulled anew under its name was not
        told, and its answers replayed beside the old model's; its list gives the
        model's ``created`` time, read where the answer says ``fp_ollama`` (vLLM's and
        llama.cpp's is the time of the listing). Read in the worker, a slow list held the run up to
        :data:`LIST_TIMEOUT` (the whole run at one worker); a run stopped, or a client
        closed, before the list came says nothing of it."""
        with self._lock:
            if model in self._listed_seen or self._closed:
                return
            self._listed_seen.add(model)
        found = _wrapped_with(self.inner, "listed_details", method=True)
        looked = getattr(self.cache, "endpoint_note", None)
        note = getattr(self.cache, "note_endpoint", None)
        if found is None or self.write_failed or not (callable(looked) and callable(note)):
            return
        stop = _RUN_STOP.get()
        if stop is not None and stop.is_set():
            return  # nothing more is sent once the run has stopped
        # the run's stop goes with it (the context): the list asks nothing once it is set
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run,
                                  args=(self._note_listed, found, model, stop,
                                        response.fingerprint == OLLAMA_FINGERPRINT),
                                  name=f"tagsmith model list {model[:40]}", daemon=True)
        with self._lock:
            self.listing_threads.append(thread)
        thread.start()

    def _note_listed(self, found: Any, model: str, stop: threading.Event | None,
                     created: bool) -> None:
        """:meth:`_check_listed`'s thread: read the list, and unless the run has
        stopped or the client was closed meanwhile, compare and note."""
        try:
            details = found.listed_details(model, created=created)
        finally:  # this thread's own connection, not left to the garbage collector
            drop = getattr(found, "_drop_connection", None)
            if callable(drop):
                drop()
        with self._lock:
            if details is None or self._closed or self.write_failed \
                    or (stop is not None and stop.is_set()):
                return
            self._noting += 1
        try:
            self._compare_listed(model, details)
        finally:
            with self._lock:
                self._noting -= 1
                self._noted.notify_all()

    def _compare_listed(self, model: str, details: str) -> None:
        from tagsmith.exceptions import DataError

        looked = self.cache.endpoint_note
        note = self.cache.note_endpoint
        try:
            before = looked(model, LISTED_KEY)
        except DataError:
            return
        if before and before != details:
            logger.warning(
                "the endpoint's model list now says of %r: %s; the answers the response "
                "cache %s holds for it came when it said: %s (a model pulled or built "
                "anew under its name?): they are replayed as they are (another --cache "
                "asks the new model again)", model, details,
                getattr(self.cache, "path", ""),
                before if before.isprintable() else repr(before))
        if before != details:
            self.store(functools.partial(note, model, LISTED_KEY, details))

    def replay_kept(self, request: ChatRequest,
                    check: Callable[[ChatRequest, str], bool] | None = None
                    ) -> ChatResponse | None:
        """The malformed answer to ``request`` that a budget run kept
        (:meth:`~tagsmith.labeling.cache.ResponseCache.put_kept`), counted as a cache
        hit; ``None`` where none is kept, or where the cache's answer to it passes
        ``check`` (a later plain run asked again and got a good one): that one wins, and
        the kept one, superseded, is deleted."""
        hit = self.cache.get_kept(request)
        if hit is not None and check is not None:
            newer = self.cache.get(request)
            if newer is not None and check(request, newer.text):
                if not self.write_failed:
                    self.store(functools.partial(self.cache.discard_kept, request))
                return None
        if hit is not None:
            self.usage.add(hit)
            with self._lock:
                self._answered[request.cache_key()] = True
        return hit

    def prune_kept(self, request: ChatRequest) -> bool:
        """Delete the malformed answer a budget run kept for ``request``
        (:meth:`replay_kept`), which a good answer this run got supersedes; ``False``
        where none was kept or the cache cannot be written (a failed look-up is no error
        of this run's: the budget's rerun prunes it then)."""
        from tagsmith.exceptions import DataError

        if self.write_failed:
            return False
        try:
            if self.cache.get_kept(request) is None:  # a read: most calls stop here
                return False
        except DataError:
            return False
        return bool(self.store(functools.partial(self.cache.discard_kept, request)))

    def keep_malformed(self, request: ChatRequest, response: ChatResponse) -> bool:
        """Keep ``response``, a malformed answer to ``request``, for a budget run's rerun
        (:meth:`replay_kept`); ``False`` where it was not written."""
        if self.write_failed:
            return False
        def put() -> bool:
            self.cache.put_kept(request, response)
            return True

        return bool(self.store(put))

    def _check_served(self, model: str, response: ChatResponse) -> None:
        """At the first answer from the endpoint for ``model``, compare what its reply
        said served it (``model``, ``system_fingerprint``) with what the cache noted last
        time, warning where the model it names changed (not for the fingerprint alone),
        and note both. Every answer's model is looked at: where two in one run differ
        (a router such as ``openrouter/auto``, a load balancer over different models)
        that is said instead, once a run, and noted, so that later runs say it once
        rather than warning of a changed model on most runs. The cache keys answers by the name
        asked: an alias moved to a new snapshot went on replaying the old model's
        answers beside the new one's, unsaid. A model replaced under the very name its
        replies give (a local server's weights swapped) is not told: only its
        fingerprint changes, which OpenAI's does for one snapshot too."""
        served, fingerprint = response.served_model, response.fingerprint
        served = served.replace(SERVED_SEPARATOR, " ")  # no name noted as several
        if not (served or fingerprint) or self.write_failed:
            return
        with self._lock:
            # every answer's model is looked at (in memory): one endpoint serving the
            # name by several models in turn (openrouter/auto, a load balancer over
            # different models) warned of a "new" model on most runs
            seen = self._served_models.setdefault(model, [])
            new = bool(served) and served not in seen
            said_several = model in self._several_said
            several = new and len(seen) == 1 and not said_several
            if new and len(seen) < MAX_SERVED_NOTED:
                seen.append(served)
            first = model not in self._served_seen
            self._served_seen.add(model)
            if several:
                self._several_said.add(model)
            models = list(seen)
        # once said to be served by several, each new one is noted (quietly)
        if not (first or several or (new and said_several)):
            return
        looked = getattr(self.cache, "served_by", None)
        note = getattr(self.cache, "note_served", None)
        if not (callable(looked) and callable(note)):
            return  # a cache of the caller's own, without the table
        # the models noted as serving it in turn: a table of their own, which a tagsmith
        # from before it ignores (in ``served``, joined, it was read as a new model)
        looked_several = getattr(self.cache, "endpoint_note", None)
        note_several = getattr(self.cache, "note_endpoint", None)
        from tagsmith.exceptions import DataError

        try:
            before = looked(model)
            several_before = looked_several(model, SEVERAL_KEY) \
                if callable(looked_several) and callable(note_several) else None
        except DataError:  # the answer's write says what is wrong with the cache
            return

        def said(text: str) -> str:
            # the server's words, or a cache handed over: an escape sequence in
            # them went to the terminal as it was (quoted where not printable)
            return text if text.isprintable() else repr(text)

        noted_several = bool(several_before)
        if several or noted_several or said_several:
            named = list(dict.fromkeys(
                models + (several_before.split(SERVED_SEPARATOR) if several_before
                          else [])))[:MAX_SERVED_NOTED]
            if callable(note_several) and several_before != SERVED_SEPARATOR.join(named):
                self.store(functools.partial(note_several, model, SEVERAL_KEY,
                                             SERVED_SEPARATOR.join(named)))
            # ``served`` keeps one model, as a tagsmith from before the notes reads it
            if first and served and before != (served, fingerprint):
                self.store(functools.partial(note, model, served, fingerprint))
            if not (several or first):
                return
            # said once a run: what it means, not a "change" of model
            with self._lock:
                self._several_said.add(model)
            logger.warning(
                "the endpoint serves %r by several models in turn (%s): a router "
                "(openrouter/auto) or a load balancer over different models. Each "
                "answer is from whichever model took its request, and the response cache "
                "%s replays them as they are, so a model replaced behind the name is not "
                "told (a name that only one model answers to asks that one)", model,
                ", ".join(said(name) for name in named), getattr(self.cache, "path", ""))
            return
        # a new model behind the name is said; a new fingerprint alone is only noted:
        # OpenAI's changes as its backend is reconfigured, several in turn for one
        # snapshot (load-balanced), and warned of, nearly every run said the model had
        # changed when it had not. A reply saying no model tells nothing either way
        if before is not None and before[0] and served and before[0] != served:
            def shown(pair: tuple[str, str]) -> str:
                return (f"{said(pair[0]) or '(no model)'}"
                        + (f", system_fingerprint {said(pair[1])}" if pair[1] else ""))
            logger.warning(
                "the endpoint now says %r is served by %s; the answers the response "
                "cache %s holds for it came from %s: they are replayed as they are "
                "(another --cache asks the new model again)", model,
                shown((served, fingerprint)), getattr(self.cache, "path", ""),
                shown(before))
        # a reply naming no model keeps the one noted: a later new one is still said
        served = served or (before[0] if before is not None else "")
        if before != (served, fingerprint):
            self.store(functools.partial(note, model, served, fingerprint))

    def dropped(self, request: ChatRequest, received: bool = True) -> None:
        """Note that the cached answer to ``request`` was deleted
        (:func:`~tagsmith.labeling.cache.discard_cached`): counted in ``n_dropped`` when
        ``received`` (this run received and stored it: a rerun pays for it again), and
        marked not held in :meth:`answered_keys` whether this run or an older one
        (replayed from the cache) had stored it."""
        with self._lock:
            key = request.cache_key()
            if key in self._answered:
                self._answered[key] = False
            if received:
                self.n_dropped += 1

    def answered_keys(self) -> dict[str, bool]:
        """The cache keys of the distinct requests this run had answered so far, from
        the endpoint or the cache (an answer asked twice counted once; none whose write
        failed), each with whether the cache holds its answer: False where it was
        dropped (malformed, or of a rejected taxonomy step), this run's or an older
        run's replayed. A copy."""
        with self._lock:
            return dict(self._answered)

    def unsaved_keys(self) -> set[str]:
        """The cache keys of the distinct requests this run had answered whose answer
        could not be stored (a write failed or was stopped by Ctrl-C, or was not tried
        after one had failed); one stored by another call since is among them. A
        copy."""
        with self._lock:
            return set(self._unsaved)

    def finish(self) -> None:
        """Send no new call (one asked from now on fails with :class:`LLMError`, a
        cache hit is still answered), and have the client inside try no more (its
        ``try_no_more``, where it has one): the calls in flight (``calls_in_flight``) end
        with the try under way, their answers stored as they come. For the rest of
        this client's life: the run is stopping."""
        with self._lock:
            self._finishing = True
        _try_no_more(self.inner)

    @property
    def calls_in_flight(self) -> int:
        """How many calls asked of the endpoint wait for their answer."""
        with self._lock:
            return self._calls

    def wait_for_calls(self, timeout: float | None = None) -> bool:
        """Wait until no call waits for its answer (at most ``timeout`` seconds,
        ``None`` for as long as they take); whether none does. The answers are stored
        as they come (see :meth:`wait_for_writes`)."""
        with self._calls_done:
            return self._calls_done.wait_for(lambda: self._calls == 0, timeout)

    @property
    def writes_in_flight(self) -> int:
        """How many writes to the cache are under way (waiting for a lock, say)."""
        with self._lock:
            return self._writes

    def wait_for_writes(self, timeout: float | None = None) -> bool:
        """Wait until no write to the cache is under way (at most ``timeout`` seconds,
        ``None`` for as long as they take: each gives up after the cache's
        ``LOCK_TIMEOUT``); whether none is."""
        with self._writes_done:
            return self._writes_done.wait_for(lambda: self._writes == 0, timeout)

    def abandon_writes(self) -> None:
        """Make the writes waiting for another process's lock give up now (their
        answers are counted in ``n_unsaved``), and every later one fail as soon as it
        meets the lock."""
        abandon = getattr(self.cache, "abandon", None)
        if callable(abandon):
            abandon()

    def store(self, write: Callable[[], object]) -> object:
        """Run ``write`` (a change to the cache) and return what it returns, or None
        where it failed. A :class:`~tagsmith.exceptions.DataError` (SQLite's failures,
        naming the file) turns writing off for the rest of the run, with one warning for
        each reason (none for a write the run gave up waiting for: :meth:`abandon_writes`;
        a write that failed otherwise since, a full disk say, was lost without a word)."""
        from tagsmith.exceptions import DataError
        from tagsmith.labeling.cache import ABANDONED

        with self._lock:
            self._writes += 1
        try:
            return write()
        except DataError as exc:
            with self._lock:
                self.write_failed = True
                new = exc.reason != ABANDONED and exc.reason not in self._warned
                self._warned.add(exc.reason)
            if new:
                logger.warning("could not write to the response cache %s (%s): this run "
                               "goes on with the answers received, without storing them; "
                               "a rerun asks for them again",
                               getattr(self.cache, "path", "?"), exc.reason)
            return None
        finally:
            with self._lock:
                self._writes -= 1
                self._writes_done.notify_all()
