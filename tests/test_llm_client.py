"""The real OpenAI-compatible client against a real local HTTP server."""

import json
import logging
import os
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tagsmith.exceptions import DataError, InvalidParameterError, LLMConfigError, LLMError
from tagsmith.labeling.cache import DropMalformed, ResponseCache, check_cache_path
from tagsmith.labeling.client import (
    REPLY_PRIMING_TOKENS,
    TOKENS_PER_MESSAGE,
    CachedClient,
    ChatRequest,
    ChatResponse,
    OpenAIChatClient,
    complete_all,
    estimate_tokens,
)
from tagsmith.testing.llm_server import LocalChatServer, Reply, user_prompt

from conftest import refuse_stat_below


def request(text="hi", **kw):
    return ChatRequest(model="m", messages=({"role": "user", "content": text},), **kw)


def prompt_estimate(text="hi"):
    """The client's prompt estimate of :func:`request` ``(text)``: its text at 4
    characters a token, plus the chat template's tokens (one message, and the reply's
    priming)."""
    return estimate_tokens(text) + TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS


def client_for(server, **kw):
    # a timeout that only a reply held on purpose reaches: with 2 s a local reply on a
    # loaded runner could time out, be retried, and change the counts a test checks
    params = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 30.0, **kw}
    return OpenAIChatClient(server.base_url, "m", **params)


def authorization_headers(server) -> list:
    """The Authorization header of every request ``server`` gets from now on."""
    headers: list = []
    original = server._httpd.RequestHandlerClass.do_POST

    def spy(handler):
        headers.append(handler.headers.get("Authorization"))
        original(handler)

    server._httpd.RequestHandlerClass.do_POST = spy
    return headers


def test_answer_tokens_cost_and_api_key(monkeypatch):
    seen = []

    def behaviour(body):
        seen.append(body)
        return "answer to " + user_prompt(body)

    monkeypatch.setenv("TEST_LLM_KEY", "sekret")
    with LocalChatServer(behaviour) as server:
        client = client_for(server, api_key_env="TEST_LLM_KEY", price_prompt=2.0,
                            price_completion=4.0)
        response = client.complete(request("hello", temperature=0.3, seed=7, json_mode=True))
    assert response.text == "answer to hello" and not response.cached
    assert seen[0]["temperature"] == 0.3 and seen[0]["seed"] == 7
    assert seen[0]["response_format"] == {"type": "json_object"}
    usage = client.usage
    assert usage.n_requests == 1 and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.cost == pytest.approx((usage.prompt_tokens * 2 + usage.completion_tokens * 4)
                                       / 1e6)


@pytest.mark.parametrize("usage, estimated", [
    (None, (True, True)),  # no usage: every count estimated
    ({"prompt_tokens": 7}, (False, True)),  # the completion's count is missing
    ({"prompt_tokens": 7, "completion_tokens": -3}, (False, True)),  # no count
    ({"prompt_tokens": 7, "completion_tokens": 2}, (False, False)),
    # a count of 0 reported is reported: "all estimated: the endpoint reported none"
    # where it reported the prompt's
    ({"prompt_tokens": 0}, (False, True)),
])
def test_the_usage_tells_estimated_token_counts_from_reported_ones(usage, estimated):
    # a server that sends no usage has the client estimate the tokens: the summary
    # gave them as prompt_tokens / completion_tokens, as if the server had counted them
    body = {"choices": [{"message": {"role": "assistant", "content": "an answer"},
                         "finish_reason": "stop"}], **({"usage": usage} if usage else {})}
    with LocalChatServer(lambda _: Reply(raw=json.dumps(body).encode())) as server:
        client = client_for(server)
        for _ in range(2):
            client.complete(request("a prompt of some forty characters or so"))
    report = client.usage.to_dict()
    prompt, completion = report["prompt_tokens"], report["completion_tokens"]
    assert (report["estimated_prompt_tokens"], report["estimated_completion_tokens"]) == (
        prompt if estimated[0] else 0, completion if estimated[1] else 0)
    assert prompt == (2 * usage["prompt_tokens"] if not estimated[0]
                      else 2 * prompt_estimate("a prompt of some forty characters or so"))
    said = client.usage.summary()
    if all(estimated):
        assert f"{prompt + completion} tokens (all estimated: the endpoint reported none)" \
            in said, said
    elif any(estimated):
        assert f"({completion} estimated: the endpoint reported none)" in said, said
    else:
        assert "estimated" not in said, said


@pytest.mark.parametrize("stream", [False, True])
def test_llama_cpp_timings_are_read_as_reported_counts_where_the_usage_is_missing(stream):
    # llama.cpp's server reports its counts in "timings" (prompt_n: the prompt tokens
    # it evaluated, cache_n: those its cache held, predicted_n: the tokens written);
    # where a reply had no usage the counts were shown as estimated all the same
    timings = {"cache_n": 30, "prompt_n": 12, "prompt_ms": 80.5, "predicted_n": 5,
               "predicted_ms": 120.0}
    if stream:
        raw = (b'data: {"choices": [{"delta": {"content": "an answer"}}]}\n\n'
               b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}], "timings": '
               + json.dumps(timings).encode() + b'}\n\ndata: [DONE]\n\n')
    else:
        raw = json.dumps({"choices": [{"message": {"role": "assistant", "content": "an answer"},
                                       "finish_reason": "stop"}],
                          "timings": timings}).encode()
    with LocalChatServer(lambda _: Reply(raw=raw)) as server:
        client = client_for(server)
        response = client.complete(request("a prompt of some forty characters or so"))
    assert (response.prompt_tokens, response.completion_tokens) == (42, 5)
    report = client.usage.to_dict()
    assert (report["prompt_tokens"], report["completion_tokens"]) == (42, 5)
    assert report["estimated_prompt_tokens"] == report["estimated_completion_tokens"] == 0
    assert "estimated" not in client.usage.summary()


def test_a_usage_count_wins_over_llama_cpp_timings():
    raw = json.dumps({"choices": [{"message": {"role": "assistant", "content": "an answer"},
                                   "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 7},
                      "timings": {"prompt_n": 1, "predicted_n": -1}}).encode()
    with LocalChatServer(lambda _: Reply(raw=raw)) as server:
        client = client_for(server)
        response = client.complete(request("a prompt of some forty characters or so"))
    # the usage's prompt count is kept; a broken predicted_n is estimated, as before
    assert response.prompt_tokens == 7
    assert client.usage.to_dict()["estimated_completion_tokens"] == response.completion_tokens


def test_tokens_billed_for_a_reply_without_text_are_counted_estimated_where_unreported():
    # a reply without text and no usage bills its prompt as estimated: so is it counted
    reply = json.dumps({"choices": [{"finish_reason": "length", "message": {
        "role": "assistant", "content": None, "reasoning_content": "Hmm. " * 40}}]})
    with LocalChatServer(lambda body: Reply(raw=reply.encode())) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match="output token limit"):
            client.complete(request())
    report = client.usage.to_dict()
    assert report["estimated_prompt_tokens"] == report["prompt_tokens"] > 0
    assert report["estimated_completion_tokens"] == report["completion_tokens"] == 200 // 4


def test_the_usage_line_writes_every_count_with_thousands_separators():
    # "1200 answered calls, 3400 cached, 1500 retries, 1000 failed, 1,234,567 tokens":
    # the tokens alone had separators, as the progress lines and messages now have
    from tagsmith.labeling.client import Usage

    usage = Usage(n_requests=1200, n_cached=3400, n_retries=1500, n_failed=1000,
                  n_interrupted=2000, prompt_tokens=1234567)
    assert usage.summary().startswith(
        "1,200 answered calls, 3,400 cached, 1,500 retries, 1,000 failed, 2,000 "
        "interrupted, 1,234,567 tokens, "), usage.summary()


def test_authorization_header_sent_only_when_key_set(monkeypatch):
    with LocalChatServer(lambda body: "ok") as server:
        headers = authorization_headers(server)
        monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
        client_for(server, api_key_env="NO_SUCH_KEY_VAR").complete(request())
        monkeypatch.setenv("SOME_KEY_VAR", "k1")
        client_for(server, api_key_env="SOME_KEY_VAR").complete(request())
    assert headers == [None, "Bearer k1"]


@pytest.mark.parametrize("key, header", [("k1", ("k1", None)),
                                         ("eyJhbGciOi.x.y", (None, "Bearer eyJhbGciOi.x.y"))])
def test_azure_gets_the_api_key_in_its_api_key_header(monkeypatch, key, header):
    # Azure OpenAI takes a key only as "api-key: KEY"; sent as a bearer token every
    # request was answered 401. A Microsoft Entra token (a JWT) stays a bearer token
    monkeypatch.setenv("AZ_KEY", key)
    seen = []
    with LocalChatServer(lambda body: "ok") as server:
        original = server._httpd.RequestHandlerClass.do_POST

        def spy(handler):
            seen.append((handler.headers.get("api-key"), handler.headers.get("Authorization")))
            original(handler)

        server._httpd.RequestHandlerClass.do_POST = spy
        url = server.base_url.rsplit("/v1", 1)[0] + "/openai/deployments/d?api-version=2024-10-21"
        OpenAIChatClient(url, "m", api_key_env="AZ_KEY").complete(request())
    assert seen == [header]
    assert OpenAIChatClient("https://r.openai.azure.com/openai/v1", "m")._azure
    assert not OpenAIChatClient("https://api.openai.com/v1", "m")._azure


@pytest.mark.parametrize("query", ["", "?api-version=2024-10-21"])
def test_the_api_key_goes_in_the_header_named_for_a_gateway(monkeypatch, query):
    # Azure API Management in front of Azure OpenAI under its own host name: it takes
    # the key only as Ocp-Apim-Subscription-Key, which could not be sent (a bearer
    # token, or api-key with an api-version query, answered 401 on every request)
    monkeypatch.setenv("APIM_KEY", "sub-123")

    def behaviour(body):
        return "ok" if seen[-1] == ("sub-123", None, None) else Reply("denied", status=401)

    seen: list = []
    with LocalChatServer(behaviour) as server:
        original = server._httpd.RequestHandlerClass.do_POST

        def spy(handler):
            seen.append(tuple(handler.headers.get(name) for name in (
                "Ocp-Apim-Subscription-Key", "api-key", "Authorization")))
            original(handler)

        server._httpd.RequestHandlerClass.do_POST = spy
        url = server.base_url + query
        with pytest.raises(LLMConfigError, match="HTTP 401"):
            OpenAIChatClient(url, "m", api_key_env="APIM_KEY").complete(request())
        client = OpenAIChatClient(url, "m", api_key_env="APIM_KEY",
                                  api_key_header="Ocp-Apim-Subscription-Key")
        assert client.complete(request()).text == "ok"
        # Authorization named: a bearer token there, even on Azure (refused here)
        with pytest.raises(LLMConfigError, match="HTTP 401"):
            OpenAIChatClient(url, "m", api_key_env="APIM_KEY",
                             api_key_header="authorization").complete(request())
    assert seen[1:] == [("sub-123", None, None), (None, None, "Bearer sub-123")]


@pytest.mark.parametrize("name", ["Api Key", "x:y", "sk-\n", 3])
def test_an_api_key_header_that_is_no_header_name_is_refused(name):
    with pytest.raises(InvalidParameterError, match="api_key_header.*the name of an HTTP "
                                                    "header"):
        OpenAIChatClient("http://127.0.0.1:9/v1", "m", api_key_header=name)


@pytest.mark.parametrize("name", ["Content-Type", "content-length", "Host", "USER-AGENT"])
def test_an_api_key_header_the_client_sends_itself_is_refused(name):
    # --api-key-header Content-Type replaced the client's own header with the key: the
    # server could not read the body, and the key went where no gateway looks
    with pytest.raises(InvalidParameterError, match="api_key_header.*not one every "
                                                    "request sends"):
        OpenAIChatClient("http://127.0.0.1:9/v1", "m", api_key_header=name)


def _flaky(failures):
    """Answers with each failure in turn, then succeeds."""
    state = {"n": 0}

    def behaviour(body):
        state["n"] += 1
        if state["n"] <= len(failures):
            return failures[state["n"] - 1]
        return "finally"
    return behaviour, state


@pytest.mark.parametrize("failure", [
    Reply("slow down", status=429),
    Reply("overloaded", status=503),
    Reply("boom", status=500),
    Reply(raw=b"<html>bad gateway</html>"),
    Reply(raw=b'{"choices": []}'),
    Reply(raw=b"[" * 100_000 + b"]" * 100_000),  # RecursionError in json.loads
])
def test_transient_failures_are_retried(failure):
    behaviour, state = _flaky([failure, failure])
    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        assert client.complete(request()).text == "finally"
    assert state["n"] == 3 and client.usage.n_retries == 2


@pytest.mark.parametrize("status", [520, 522, 524, 529])
def test_every_server_error_is_retried(status):
    """The README promises retries on 5xx, as the OpenAI SDK does; only 500/502/503/504
    were, so a gateway's 520-524 (origin unreachable, timed out) or an overloaded
    provider's 529 failed the document at once."""
    behaviour, state = _flaky([Reply("try again", status=status)])
    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        assert client.complete(request()).text == "finally"
    assert state["n"] == 2 and client.usage.n_retries == 1


@pytest.mark.parametrize("status", [501, 505])
def test_a_server_error_that_never_changes_is_not_retried(status):
    with LocalChatServer(lambda body: Reply("not implemented", status=status)) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match=f"HTTP {status}"):
            client.complete(request())
    assert client.usage.n_retries == 0 and len(server.requests) == 1


def _waits(caplog) -> list[float]:
    """The waits before each retry, in seconds, as the client's debug lines say them
    (read, not timed: a loaded machine makes every timed wait longer)."""
    import re

    return [float(match[1]) for record in caplog.records
            if (match := re.search(r": try \d+ in ([0-9.]+) s$", record.getMessage()))]


def test_retry_after_is_honoured(caplog):
    behaviour, _ = _flaky([Reply("wait", status=429, headers={"Retry-After": "0.4"})])
    with LocalChatServer(behaviour) as server:
        client = client_for(server)  # its own backoff is 0.05 s at most
        started = time.perf_counter()
        with caplog.at_level("DEBUG", logger="tagsmith"):
            client.complete(request())
    assert _waits(caplog) == [0.4]
    # and it waited that long (a lower bound: a slow machine only waits longer)
    assert time.perf_counter() - started >= 0.35


#: llama.cpp's server's reply while it loads its model
LOADING = Reply(raw=json.dumps({"error": {"code": 503, "message": "Loading model",
                                          "type": "unavailable_error"}}).encode(), status=503)


def test_a_server_loading_its_model_is_asked_again_past_the_retries(caplog):
    # llama.cpp answers 503 "Loading model" until the model is in memory: the retries
    # (about 16-31 s at the defaults) gave up on a model that takes minutes to load,
    # failing the first documents. Those tries no longer count against max_retries
    behaviour, state = _flaky([LOADING] * 12)
    with LocalChatServer(behaviour) as server:
        client = client_for(server, max_retries=2)
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            assert client.complete(request()).text == "finally"
            assert client.complete(request()).text == "finally"
    # asked again as the model loads, not retried: a load of minutes read "240 retries"
    # for 4 documents (up to 60 a request), as if the endpoint were failing
    assert state["n"] == 14 and client.usage.n_retries == 0
    assert client.usage.n_load_polls == 12 and client.usage.to_dict()["load_polls"] == 12
    assert client.usage.summary().startswith(
        "2 answered calls, 0 cached, 0 retries, 12 asked again as the model loaded, 0 failed")
    said = [r.getMessage() for r in caplog.records if "loading its model" in r.getMessage()]
    assert len(said) == 1 and "Loading model" in said[0] and "300 s" in said[0], said


def test_a_server_loading_its_model_past_the_load_wait_counts_the_tries():
    # the wait is bounded: past load_wait, "Loading model" is a failure as any 503 is
    with LocalChatServer(lambda body: LOADING) as server:
        client = client_for(server, max_retries=2, load_wait=0)
        with pytest.raises(LLMError, match=r"no answer after 3 tries .*HTTP 503: .*Loading "
                                           r"model.*still loading its model after 0 s"):
            client.complete(request())
    assert len(server.requests) == 3


@pytest.mark.parametrize("said", [
    {"error": {"code": 503, "message": "server busy, please try again.  maximum pending "
               "requests exceeded"}},  # Ollama's queue full
    {"error": {"message": "Service Unavailable", "type": "unavailable_error"}},
    "Loading model",  # not JSON: a proxy's page
])
def test_other_503s_are_retried_as_before(said, caplog):
    raw = json.dumps(said).encode() if isinstance(said, dict) else said.encode()
    with LocalChatServer(lambda body: Reply(raw=raw, status=503)) as server:
        client = client_for(server, max_retries=2)
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            with pytest.raises(LLMError, match="no answer after 3 tries"):
                client.complete(request())
    assert len(server.requests) == 3
    assert not [r for r in caplog.records if "loading its model" in r.getMessage()]


def test_load_wait_is_checked_by_name():
    with pytest.raises(InvalidParameterError, match="load_wait"):
        OpenAIChatClient("http://127.0.0.1:8000/v1", "m", load_wait=-1)


def test_retry_after_as_an_http_date():
    import email.utils

    from tagsmith.labeling.client import _retry_after

    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= _retry_after(soon) <= 30
    assert _retry_after(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert _retry_after("2.5") == 2.5
    assert _retry_after("not a date") is None and _retry_after(None) is None


@pytest.fixture
def new_york_time(monkeypatch):
    """Local time 4-5 hours behind GMT for the test (time.tzset), restored after it."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_retry_after_as_an_asctime_date_is_gmt(new_york_time, caplog):
    """An HTTP date is GMT in all three forms; the asctime one names no zone and was
    read in local time: in New York a wait of 30 s became 5 hours (capped, but every
    retry waited the cap), east of GMT it was already past."""
    from tagsmith.labeling.client import _retry_after

    assert time.localtime().tm_gmtoff < 0  # the time zone took effect
    soon = time.asctime(time.gmtime(time.time() + 30))  # "Thu Dec  3 17:40:00 2026"
    assert 25 <= _retry_after(soon) <= 30
    assert 25 <= _retry_after(soon + " -0000") <= 30  # "-0000": GMT, as RFC 5322 says
    state = {"n": 0}

    def busy_for_two_seconds(body):  # the date as of the request, however late it comes
        state["n"] += 1
        if state["n"] > 1:
            return "finally"
        return Reply("busy", status=503, headers={
            "Retry-After": time.asctime(time.gmtime(time.time() + 2))})

    with LocalChatServer(busy_for_two_seconds) as server:
        client = client_for(server)  # a wish is capped at 5 s, its backoff is 0.05 s
        with caplog.at_level("DEBUG", logger="tagsmith"):
            assert client.complete(request()).text == "finally"
    # the 2 s the date says (less the part of a second it does not write), neither the
    # 5 s cap that hours in local time came to, nor the backoff of a date not read
    [wait] = _waits(caplog)
    assert 0.05 < wait <= 2 and state["n"] == 2


@pytest.mark.parametrize("value", ["NaN", "nan", "-nan", "inf", "1e400"])
def test_a_retry_after_that_is_no_number_of_seconds_falls_back_to_backoff(value):
    # float() reads "nan": time.sleep(nan) raised ValueError, no LLMError, which
    # ended a whole complete_all run
    from tagsmith.labeling.client import _retry_after

    assert _retry_after(value) is None
    behaviour, state = _flaky([Reply("busy", status=503, headers={"Retry-After": value})])
    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        assert client.complete(request()).text == "finally"
    assert state["n"] == 2 and client.usage.n_retries == 1


def test_a_reply_cut_short_is_reported_as_cut_short_and_retried():
    """A body shorter than its Content-Length (the server or a proxy closed the
    connection mid-answer) was parsed as it was and reported as a 'malformed
    chat-completions reply', which reads as the server's fault in what it sent."""
    cut = Reply("a full answer", cut_short=20)
    with LocalChatServer(lambda body: cut) as server:
        client = client_for(server, max_retries=0)
        with pytest.raises(LLMError, match=r"reply cut short: the connection closed after "
                           r"[0-9,]+ of [0-9,]+ bytes of its body") as error:
            client.complete(request())
    assert "malformed" not in str(error.value)
    behaviour, state = _flaky([cut, cut])
    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        assert client.complete(request()).text == "finally"
    assert state["n"] == 3 and client.usage.n_retries == 2


@pytest.mark.parametrize("stream, written", [(True, len('{"labels": ["billing"') // 4),
                                              (False, 0)])
def test_a_reply_cut_short_bills_its_prompt_and_the_text_it_sent(stream, written):
    # a stream failing mid-answer (the connection lost, no usage ever sent): the prompt
    # was processed and paid for on every try, and the text sent before the cut, but
    # each try billed 0 tokens
    if stream:
        raw = (b'data: {"choices": [{"delta": {"content": "{\\"labels\\": "}}]}\n\n'
               b'data: {"choices": [{"delta": {"content": "[\\"billing\\""}}]}\n\n'
               b'data: {"choices": [{"delta": {"content": "]}"}, "finish_reason": "stop"}]}'
               b'\n\ndata: [DONE]\n\n')
        cut = len(raw) - raw.index(b'data: {"choices": [{"delta": {"content": "]}"') - 5
    else:
        raw, cut = json.dumps({"choices": [{"message": {"content": "{}"}}]}).encode(), 5
    prompt = "a prompt of forty characters, give or ta"
    with LocalChatServer(lambda body: Reply(raw=raw, cut_short=cut)) as server:
        client = client_for(server, max_retries=1)
        with pytest.raises(LLMError, match="reply cut short"):
            client.complete(request(prompt))
    assert len(server.requests) == 2
    assert client.usage.prompt_tokens == 2 * prompt_estimate(prompt)
    assert client.usage.completion_tokens == 2 * written


def test_an_error_reply_cut_short_bills_nothing():
    with LocalChatServer(lambda body: Reply("overloaded", status=503, cut_short=5)) as server:
        client = client_for(server, max_retries=1)
        with pytest.raises(LLMError, match="reply cut short"):
            client.complete(request("a prompt"))
    assert client.usage.prompt_tokens == client.usage.completion_tokens == 0


def test_timeout_is_retried_then_succeeds():
    behaviour, state = _flaky([Reply("late", delay=1.0)])
    with LocalChatServer(behaviour) as server:
        client = client_for(server, timeout=0.3)
        assert client.complete(request()).text == "finally"
    # each try but the last timed out (the answer after the late one can too, on a
    # loaded machine: 0.3 s is short for it, and the first must time out)
    assert state["n"] >= 2 and client.usage.n_retries == state["n"] - 1


def test_gives_up_after_max_retries_with_clear_error():
    with LocalChatServer(lambda body: Reply("down", status=502)) as server:
        client = client_for(server, max_retries=2)
        with pytest.raises(LLMError, match="no answer after 3 tries.*HTTP 502"):
            client.complete(request())
    assert client.usage.n_failed == 1 and len(server.requests) == 3


def test_a_request_that_always_times_out_says_to_raise_the_timeout_or_lower_concurrency():
    # a small model on a CPU (minutes an answer) behind a server that answers one
    # request at a time: every try timed out, and the message said only that
    with LocalChatServer(lambda body: Reply("late", delay=1.0)) as server:
        client = client_for(server, timeout=0.2, max_retries=1)
        # the second try waited twice as long (TIMEOUT_GROWTH)
        with pytest.raises(LLMError, match=r"no answer after 2 tries \(last: timed out after "
                           r"0\.4 s\); .*queue.* raise --timeout.*--concurrency 1"):
            client.complete(request())
    with LocalChatServer(lambda body: Reply("down", status=502)) as server:
        with pytest.raises(LLMError) as failed:  # no time-out: no such advice
            client_for(server, max_retries=0).complete(request())
    assert "HTTP 502" in str(failed.value) and "--timeout" not in str(failed.value)


def test_a_run_whose_first_request_only_times_out_stops_with_the_advice(caplog):
    # a model on a CPU, minutes an answer: each document took (1 + max_retries) tries of
    # the whole timeout to fail, and the run stopped after ten of them in a row (an hour
    # with --concurrency 1), the first advice said only when the first one failed
    with LocalChatServer(lambda body: Reply("late", delay=1.0)) as server:
        client = client_for(server, timeout=0.2, max_retries=1)
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            # the second try waited twice as long (TIMEOUT_GROWTH)
            with pytest.raises(LLMConfigError, match=r"no answer after 2 tries \(last: timed "
                               r"out after 0\.4 s\); .*--concurrency 1; the server has "
                               r"answered no request of this run, so it stops"):
                complete_all(client, [request(text) for text in "abcde"], n_workers=1)
    assert len(server.requests) == 2 and client.usage.n_failed == 1
    # and the advice came at the first try that timed out, once
    said = [r.getMessage() for r in caplog.records if "no answer within" in r.getMessage()]
    assert len(said) == 1 and "0.2 s (try 1 of 2)" in said[0] and "--timeout" in said[0]


def test_time_outs_after_an_answer_fail_that_document_alone():
    # the server answers: a document whose tries all time out fails alone, as before,
    # the answers between them keeping their time-outs from being in a row
    def behaviour(body):
        return "ok" if user_prompt(body) in "ac" else Reply("late", delay=1.0)

    with LocalChatServer(behaviour) as server:
        client = client_for(server, timeout=0.2, max_retries=1)
        results = complete_all(client, [request(text) for text in "abcd"], n_workers=1)
    assert results[0].text == "ok" and results[2].text == "ok"
    assert all(type(r) is LLMError and "timed out" in str(r) for r in results[1::2]), results
    assert len(server.requests) == 6  # 2 tries of each late one


def test_a_try_after_a_time_out_waits_longer_and_gets_its_answer():
    """A try that timed out was tried again at the same timeout: a server that answers
    just after it (one queueing the requests of a run) failed every try of every
    document. The next try now waits twice as long (up to 2 x the timeout)."""
    with LocalChatServer(lambda body: Reply("at last", delay=1.4)) as server:
        client = client_for(server, timeout=1.0, max_retries=2)
        assert client.longest_try == 1.0
        assert client.complete(request()).text == "at last"
    assert len(server.requests) == 2 and client.usage.n_retries == 1
    # what a stopped run's "waiting for N calls in flight, up to X s" says from now on
    assert client.longest_try == 2.0


def test_a_server_that_answered_and_then_stalls_stops_the_run_after_three_time_outs():
    """A server that had answered and then answered nothing cost each document
    1 + max_retries whole timeouts, the run stopping after ten documents in a row
    (60 tries, an hour at 60 s with --concurrency 1). Three tries in a row that time
    out, with no reply between them, now stop the run with the advice."""
    def behaviour(body):
        return "ok" if user_prompt(body) == "a" else Reply("stalled", delay=3.0)

    with LocalChatServer(behaviour) as server:
        client = client_for(server, timeout=0.2, max_retries=5)
        with pytest.raises(LLMConfigError, match=r"3 tries in a row timed out, with no reply "
                           r"from the server between them \(last: timed out after 0\.4 s\);"
                           r" .*--concurrency 1; so the run stops here \(a rerun resumes\)"
                           ) as stopped:
            complete_all(client, [request(text) for text in "abcdefghijkl"], n_workers=1)
    assert "answered no request" not in str(stopped.value)  # it answered "a"
    assert len(server.requests) == 1 + 3


def test_the_time_outs_in_a_row_of_an_earlier_run_do_not_stop_the_next_one():
    """The count of tries timed out in a row lived on the client: a library user
    reusing a client (a notebook, a service) whose earlier run ended after two
    time-outs had its next run stopped at its first time-out ("3 tries in a row"),
    though its second try would have been answered. Each run counts its own."""
    tries = {"b": 0}

    def behaviour(body):
        if user_prompt(body) in "az":
            return "ok" if user_prompt(body) == "z" else Reply("stalled", delay=3.0)
        tries["b"] += 1
        return Reply("late", delay=3.0) if tries["b"] == 1 else "ok"

    with LocalChatServer(behaviour) as server:
        client = client_for(server, timeout=0.2, max_retries=1)
        first = complete_all(client, [request("z"), request("a")], n_workers=1)
        assert isinstance(first[1], LLMError)  # its 2 tries timed out: that document fails
        second = complete_all(client, [request("b")], n_workers=1)
    assert second[0].text == "ok" and tries["b"] == 2


def _loading_then_late(n_loading: int):
    """llama.cpp on a CPU: "Loading model" ``n_loading`` times, then replies slower
    than the clients' timeout."""
    state = {"n": 0}

    def behaviour(body):
        state["n"] += 1
        return LOADING if state["n"] <= n_loading else Reply("late", delay=1.0)
    return behaviour


def test_the_first_time_out_after_a_load_numbers_the_try_among_those_counted(caplog):
    # the warning numbered the try among every try, the loading ones too: "try 6 of 2"
    with LocalChatServer(_loading_then_late(5)) as server:
        client = client_for(server, timeout=0.2, max_retries=1)
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            with pytest.raises(LLMError):
                client.complete(request())
    said = [r.getMessage() for r in caplog.records if "no answer within" in r.getMessage()]
    assert len(said) == 1 and "(try 1 of 2)" in said[0], said


def test_a_run_whose_server_loaded_and_then_only_timed_out_stops_at_its_first_request():
    # the "Loading model" tries made the first request's tries not all time-outs, so
    # the run went on to the next document (another (1 + max_retries) timeouts each)
    with LocalChatServer(_loading_then_late(3)) as server:
        client = client_for(server, timeout=0.2, max_retries=1)
        with pytest.raises(LLMConfigError, match=r"no answer after 5 tries .*the server "
                           r"has answered no request of this run, so it stops"):
            complete_all(client, [request(text) for text in "abc"], n_workers=1)
    assert len(server.requests) == 5 and client.usage.n_failed == 1


def test_a_stop_during_the_wait_for_a_loading_server_counts_no_retry():
    # the retry was counted before the wait for the next try: a run stopped (its first
    # Ctrl-C, try_no_more) while it waited for a server loading its model said "1
    # retry" of a try never made. The stop comes here just as the wait begins (from the
    # line saying it, in the calling thread)
    client_box: list = []

    class StopAtTheWait(logging.Handler):
        def emit(self, record):
            if " in " in record.getMessage() and "try 2" in record.getMessage():
                client_box[0].try_no_more()

    handler = StopAtTheWait(logging.DEBUG)
    logger = logging.getLogger("tagsmith")
    level = logger.level
    with LocalChatServer(lambda body: LOADING) as server:
        client = client_for(server, max_retries=2)
        client_box.append(client)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            with pytest.raises(LLMError, match="interrupted"):
                client.complete(request())
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
    assert len(server.requests) == 1
    assert (client.usage.n_retries, client.usage.n_load_polls,
            client.usage.n_interrupted) == (0, 0, 1)


def test_a_404_at_a_base_url_without_a_path_suggests_the_v1_it_lacks():
    # Ollama's and vLLM's API is under /v1 alone: TAGSMITH_LLM_BASE_URL=http://HOST:11434
    # got "HTTP 404 (is the base URL right, ...?): 404 page not found", no more
    with LocalChatServer(lambda body: Reply("404 page not found", status=404)) as server:
        bare = server.base_url.removesuffix("/v1")
        for base, hint in ((bare + "/", True), (server.base_url, False)):
            client = OpenAIChatClient(base, "qwen3:4b", max_retries=0)
            with pytest.raises(LLMError, match="HTTP 404") as failed:
                client.complete(request())
            said = f"serve the API under /v1: {bare}/v1)"
            assert (said in str(failed.value)) is hint, str(failed.value)


def test_client_errors_are_not_retried():
    with LocalChatServer(lambda body: Reply("bad key", status=401)) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match="HTTP 401.*API key"):
            client.complete(request())
    assert len(server.requests) <= 2  # the one refused, and one the worker had started


def test_unreachable_endpoint_fails_cleanly():
    with LocalChatServer(lambda body: "x") as server:
        url = server.base_url
    client = OpenAIChatClient(url, "m", max_retries=1, backoff_base=0.01, timeout=1.0)
    with pytest.raises(LLMError, match="connection failed"):
        client.complete(request())


def test_a_refused_connection_before_any_reply_is_not_retried():
    # nothing listening on the port: the default retries took about 80 s to say so
    import socket

    closed = socket.socket()  # bound, never listening: every connection is refused
    closed.bind(("127.0.0.1", 0))
    try:
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
        client = OpenAIChatClient(url, "m", max_retries=3, backoff_base=0.01, timeout=2.0)
        with pytest.raises(LLMConfigError, match="refused.*nothing listens there.*not retried"):
            client.complete(request())
        assert (client.usage.n_retries, client.usage.n_failed) == (0, 1)
        # and a run stops at once, not after 10 such requests in a row
        with pytest.raises(LLMConfigError, match="nothing listens"):
            complete_all(client, [request(str(i)) for i in range(20)], n_workers=1)
        assert client.usage.n_failed == 2
    finally:
        closed.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_refused_local_server_may_still_be_loading_its_model(host):
    # vLLM listens only once its model is loaded: a run started with it said only "is
    # the server running, and is the base URL right?", though it was starting
    import socket

    closed = socket.socket()  # bound, never listening: every connection is refused
    closed.bind(("127.0.0.1", 0))
    try:
        url = f"http://{host}:{closed.getsockname()[1]}/v1"
        client = OpenAIChatClient(url, "m", max_retries=3, backoff_base=0.01, timeout=2.0)
        with pytest.raises(LLMConfigError, match="nothing listens there") as caught:
            client.complete(request())
        assert ("is the base URL right? A local server may still be loading its model: "
                "vLLM listens only once it is loaded)") in str(caught.value)
    finally:
        closed.close()


def test_only_a_local_or_private_host_is_said_to_be_maybe_loading_its_model():
    from tagsmith.labeling.client import _local_host

    for host in ("localhost", "LOCALHOST", "127.0.0.1", "127.0.0.2", "::1", "10.0.0.5",
                 "192.168.1.20", "172.16.0.3", "fe80::1", "gpu.localhost"):
        assert _local_host(host), host
    for host in ("api.openai.com", "8.8.8.8", "2001:4860:4860::8888", "", "172.32.0.1",
                 "localhost.example.com"):
        assert not _local_host(host), host


@pytest.mark.parametrize("errno_name", ["EAI_NONAME", "EAI_AGAIN"])
def test_a_host_name_that_does_not_resolve_before_any_reply_is_not_retried(
        monkeypatch, errno_name):
    # a typo in --base-url's host (or TAGSMITH_LLM_BASE_URL's, in a cron job): "Name or
    # service not known" was retried as a passing failure, 6 tries a request until 12
    # failed in a row, 85 s before the run said so, where a refused port stops at once.
    # The resolver's answer that the name is unknown is taken as such; a temporary
    # failure of the resolver (EAI_AGAIN) is still retried. The resolver is stood in
    # for: no test asks a real DNS server.
    import socket

    asked = []

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        code = getattr(socket, errno_name)
        raise socket.gaierror(code, "Name or service not known" if errno_name == "EAI_NONAME"
                              else "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    client = OpenAIChatClient("http://llm.example.invalid/v1", "m", max_retries=3,
                              backoff_base=0.01, timeout=2.0)
    if errno_name == "EAI_AGAIN":
        with pytest.raises(LLMError, match="no answer after 4 tries") as caught:
            client.complete(request())
        assert not isinstance(caught.value, LLMConfigError) and len(asked) == 4
        return
    with pytest.raises(LLMConfigError, match="Name or service not known; the host name "
                       "llm.example.invalid is unknown.*not retried"):
        client.complete(request())
    assert (client.usage.n_retries, client.usage.n_failed, len(asked)) == (0, 1, 1)


@contextmanager
def socket_server(handle):
    """A server on 127.0.0.1 whose thread accepts each connection and calls
    ``handle(connection)`` with it, one at a time, until the test ends (the listener shut
    down, the thread ended). Yields its ``http://`` base URL."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            handle(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        listener.close()
        thread.join(10)
    assert not thread.is_alive()


def self_signed_tls(tmp_path):
    """A TLS server context with a certificate for 127.0.0.1 that no machine trusts
    (made by the openssl command: the test is skipped without it)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("makes its self-signed certificate with the openssl command")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def tls_handshakes(context, accepted: list):
    """A :func:`socket_server` handler that counts each connection in ``accepted`` and
    answers it a TLS handshake (``context``'s), closing it after: one the client refuses
    (a certificate not trusted, plain HTTP sent) is closed as well."""
    def handle(connection):
        accepted.append(1)
        try:
            context.wrap_socket(connection, server_side=True).close()
        except OSError:  # refused by the client, or plain HTTP ("HTTP_REQUEST")
            connection.close()

    return handle


def reset_after_reading(connection):
    """A :func:`socket_server` handler: something read, then the connection reset
    (SO_LINGER 0: RST on close)."""
    import socket
    import struct

    connection.recv(1)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def test_a_certificate_not_trusted_before_any_reply_is_not_retried(tmp_path):
    # an endpoint whose certificate the machine does not trust (a self-signed one, a
    # proxy inspecting TLS): "CERTIFICATE_VERIFY_FAILED" was retried as a passing
    # failure, 63 retries and 91 s before label said so, with no word of what to do
    handshakes: list = []
    with socket_server(tls_handshakes(self_signed_tls(tmp_path), handshakes)) as url:
        url = url.replace("http://", "https://")
        client = OpenAIChatClient(url, "m", max_retries=3, backoff_base=0.01, timeout=10.0)
        with pytest.raises(LLMConfigError, match="CERTIFICATE_VERIFY_FAILED.*its certificate "
                           "is not trusted.*not retried.*SSL_CERT_FILE"):
            client.complete(request())
        assert (client.usage.n_retries, client.usage.n_failed) == (0, 1)
        assert len(handshakes) == 1


def test_an_https_url_of_a_plain_http_server_before_any_reply_is_not_retried():
    # https:// where the server speaks plain HTTP (a local vLLM or Ollama, the scheme
    # mistyped): "WRONG_VERSION_NUMBER" was retried as a passing failure, 62 retries and
    # 88 s before label said so, with no word of the scheme
    with LocalChatServer(lambda body: "ok") as server:
        url = server.base_url.replace("http://", "https://")
        client = OpenAIChatClient(url, "m", max_retries=3, backoff_base=0.01, timeout=10.0)
        with pytest.raises(LLMConfigError, match=r"SSLError.*; it speaks no TLS.*not "
                           r"retried \(a server of plain HTTP: is the URL's scheme http://"):
            client.complete(request())
        assert (client.usage.n_retries, client.usage.n_failed) == (0, 1)
        assert server.requests == []  # the server read no request: no JSON


def test_an_http_url_of_an_https_server_before_any_reply_is_not_retried(tmp_path):
    # http:// where the server speaks only TLS (the scheme mistyped the other way): the
    # server resets the plain request ("Connection reset by peer"), which was retried as
    # a passing failure for about 90 s, with no word of the scheme. A TLS handshake with
    # it now tells, and the call stops at once
    connections: list = []
    with socket_server(tls_handshakes(self_signed_tls(tmp_path), connections)) as url:
        client = OpenAIChatClient(url, "m", max_retries=3, backoff_base=0.01, timeout=10.0)
        with pytest.raises(LLMConfigError, match=r"it answers a TLS handshake.*not "
                           r"retried \(a server of HTTPS.*is the URL's scheme https://"):
            client.complete(request())
        assert (client.usage.n_retries, client.usage.n_failed) == (0, 1)
        assert len(connections) == 2  # the request, then the handshake that tells


def _complete_in_thread(client):
    """Start ``client.complete(request())`` in a daemon thread; returns the thread and
    the list its exception (if any) is appended to, for tests that abort the call."""
    errors: list[Exception] = []

    def call():
        try:
            client.complete(request())
        except Exception as exc:  # noqa: BLE001 - the tests check it
            errors.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    return worker, errors


def test_a_reset_by_a_server_that_speaks_no_tls_is_retried_still():
    # a server of plain HTTP (or nothing) that resets connections is asked again, as
    # before: only one that answers a TLS handshake stops the call
    with socket_server(reset_after_reading) as url:
        client = OpenAIChatClient(url, "m", max_retries=2, backoff_base=0.0, timeout=10.0)
        with pytest.raises(LLMError, match="no answer after 3 tries.*ConnectionReset") \
                as caught:
            client.complete(request())
        assert not isinstance(caught.value, LLMConfigError)
        assert (client.usage.n_retries, client.usage.n_failed) == (2, 1)


def test_an_abort_while_the_tls_probe_waits_for_its_handshake_returns_at_once():
    # the TLS handshake that asks whether an http:// URL's server speaks HTTPS (after a
    # reset before any reply) was made on a socket abort() did not know of: where the
    # server answered it nothing, Ctrl-C waited the whole timeout for the probe to end
    import socket

    probing = threading.Event()
    held = []

    def handle(connection):
        if not held:  # the request: something read, then reset
            held.append(connection)
            reset_after_reading(connection)
            return
        held.append(connection)  # the probe: its handshake gets no answer
        connection.recv(1, socket.MSG_PEEK)  # its hello sent: the probe waits
        probing.set()

    try:
        with socket_server(handle) as url:
            # a timeout no machine comes near; the test waits a minute at most for the
            # call to end, a bound that only a call waiting for the timeout hits
            client = OpenAIChatClient(url, "m", timeout=300.0, max_retries=3,
                                      backoff_base=0.0)
            worker, errors = _complete_in_thread(client)
            assert probing.wait(60)
            client.abort()
            worker.join(60)
            assert not worker.is_alive()  # not the 300 s timeout
            assert len(errors) == 1 and "abandoned" in str(errors[0]), errors
            assert client.usage.n_interrupted == 1 and client.usage.n_retries == 0
    finally:
        for connection in held[1:]:
            connection.close()


@contextmanager
def raw_http_server(answer):
    """A server on 127.0.0.1 that reads each request (headers and Content-Length body)
    and then calls ``answer(connection)`` to write the reply as it likes, closing the
    connection afterwards. Yields its base URL and the count of connections."""
    accepted: list = []

    def handle(connection):
        accepted.append(1)
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = connection.recv(65536)
                if not piece:
                    break
                data += piece
            head, _, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            while length and len(body) < int(length.group(1)):
                body += connection.recv(65536)
            answer(connection)

    with socket_server(handle) as url:
        yield url, accepted


@pytest.mark.parametrize("version, length", [("HTTP/1.1", True), ("HTTP/1.0", False)])
def test_a_reply_that_closes_the_connection_is_read_whole(version, length):
    """A reply that closes the connection (Connection: close, or HTTP/1.0 read to its
    end) whose body came after its headers failed with EBADF ("Bad file descriptor"),
    retried as a broken connection on every try: http.client closed the socket once
    the headers were read, and the client's reader did not keep it open."""
    body = json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "whole"}}]}).encode()
    headers_read = threading.Event()
    # the hook below overrides a private method: renamed, the override was never called,
    # and the server's wait for it raced the client's timeout (both 60 s). It fails here
    # at once instead, and a hook not called fails the assertion after the call
    assert callable(getattr(OpenAIChatClient, "_hold_for_abort", None)), (
        "OpenAIChatClient._hold_for_abort is gone: hook what the client does once "
        "getresponse() has read the headers")

    class HeadersSeen(OpenAIChatClient):
        # the first thing the client does once getresponse() has read the headers (and
        # http.client has let go of the socket): the body is sent only after it, however
        # slow the machine (a 0.3 s sleep let a slow one read both at once, and pass
        # without the fix)
        def _hold_for_abort(self, connection, reply):
            held = super()._hold_for_abort(connection, reply)
            headers_read.set()
            return held

    def answer(connection):
        connection.sendall(f"{version} 200 OK\r\nConnection: close\r\nContent-Type: "
                           "application/json\r\n".encode()
                           + (b"Content-Length: %d\r\n" % len(body) if length else b"")
                           + b"\r\n")
        # the body in a later segment, once the headers were read; a hook never called
        # lets it go well before the client's timeout, for the assertion below to say so
        headers_read.wait(20)
        connection.sendall(body)

    with raw_http_server(answer) as (url, accepted):
        client = HeadersSeen(url, "m", max_retries=2, backoff_base=0.0, timeout=60.0)
        assert client.complete(request()).text == "whole"
        assert headers_read.is_set(), "the hook _hold_for_abort was never called"
        assert client.usage.n_retries == 0 and len(accepted) == 1


NGINX_HTTPS_PORT = (b"<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS "
                    b"port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1>"
                    b"</center>\r\n<center>The plain HTTP request was sent to HTTPS port"
                    b"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


def test_an_http_url_of_a_port_of_https_answering_400_stops_at_once():
    """http:// to a port of HTTPS that answers plain HTTP with a 400 (nginx: "The plain
    HTTP request was sent to HTTPS port"; Go: "Client sent an HTTP request to an HTTPS
    server", as HTTP/1.0 read to its end) failed each document with the 400, the scheme
    never named: the call now stops at once (exit code 6) asking whether the scheme is
    https://, and a batch stops with it."""
    with LocalChatServer(lambda body: Reply(status=400, raw=NGINX_HTTPS_PORT, headers={
            "Content-Type": "text/html"})) as server:
        client = client_for(server, max_retries=3)
        with pytest.raises(LLMConfigError, match=r"HTTP 400 \(the server says plain HTTP "
                           r"reached its port of HTTPS.*is the URL's scheme https://\?"):
            complete_all(client, [request(str(i)) for i in range(20)], n_workers=1)
        assert len(server.requests) <= 2 and client.usage.n_retries == 0

    def go(connection):
        connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n"
                           b"Client sent an HTTP request to an HTTPS server.\n")

    with raw_http_server(go) as (url, accepted):
        client = OpenAIChatClient(url, "m", max_retries=3, backoff_base=0.0, timeout=10.0)
        with pytest.raises(LLMConfigError, match=r"HTTP 400 \(the server says plain HTTP "
                           r"reached its port of HTTPS.*scheme https://\?.*Client sent"):
            client.complete(request())
        assert len(accepted) == 1 and client.usage.n_retries == 0


def test_a_400_of_a_port_that_answers_tls_stops_at_once(tmp_path):
    """A port of HTTPS answering plain HTTP with a 400 of other words (no JSON error):
    a TLS handshake with it tells, before any HTTP 200; a server of plain HTTP whose
    400 says the same is not probed into a config error (the 400 fails as before)."""
    import socket

    context = self_signed_tls(tmp_path)
    bad = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nBad Request"

    for speaks_tls in (True, False):
        handshakes: list = []

        def handle(connection, handshakes=handshakes, speaks_tls=speaks_tls):
            with connection:
                first = connection.recv(1, socket.MSG_PEEK)
                if first == b"\x16":  # a TLS ClientHello: the probe
                    handshakes.append(1)
                    if not speaks_tls:  # refused as a bad request, as nginx does
                        connection.sendall(bad)
                        return
                    try:
                        context.wrap_socket(connection, server_side=True).close()
                    except OSError:
                        pass
                    return
                data = b""
                while b"\r\n\r\n" not in data:
                    piece = connection.recv(65536)
                    if not piece:
                        break
                    data += piece
                connection.sendall(bad)

        with socket_server(handle) as url:
            client = OpenAIChatClient(url, "m", max_retries=3, backoff_base=0.0,
                                      timeout=10.0)
            with pytest.raises(LLMError, match="HTTP 400") as caught:
                client.complete(request())
            assert isinstance(caught.value, LLMConfigError) is speaks_tls
            if speaks_tls:
                assert "it answers a TLS handshake" in str(caught.value)
                assert "scheme https://?" in str(caught.value)
            else:  # probed once a run: a second 400 is not
                with pytest.raises(LLMError, match="HTTP 400") as caught:
                    client.complete(request())
                assert not isinstance(caught.value, LLMConfigError)
            assert client.usage.n_retries == 0 and handshakes == [1]


def test_an_abort_while_a_reply_that_closes_the_connection_sends_its_body_returns_at_once():
    """Ctrl-C while a reply that closes the connection (Connection: close, HTTP/1.0)
    sent its body slowly waited the whole timeout: http.client lets go of the socket
    once such a reply's headers are read, and abort() shut down the sockets its
    connections held, none. The test waits a minute at most for the call to end, a
    bound only a call waiting for its 300 s timeout reaches."""
    headers_sent, release = threading.Event(), threading.Event()

    def answer(connection):
        connection.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: "
                           b"application/json\r\nContent-Length: 100\r\n\r\n{\"cho")
        headers_sent.set()
        release.wait(120)  # the rest of the body never comes while the test runs

    with raw_http_server(answer) as (url, accepted):
        client = OpenAIChatClient(url, "m", max_retries=3, timeout=300.0)
        errors: list[Exception] = []

        def call():
            try:
                client.complete(request())
            except LLMError as exc:
                errors.append(exc)

        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        try:
            assert headers_sent.wait(60)
            # the reply's headers are read once http.client has let go of the socket
            start = time.monotonic()
            while not any(connection.sock is None for connection in list(client._open)) \
                    and time.monotonic() - start < 60:
                time.sleep(0.01)
            client.abort()
            thread.join(60)
            assert not thread.is_alive(), "the call waited for its timeout"
        finally:
            release.set()
            thread.join(60)
        assert len(errors) == 1 and "interrupted" in str(errors[0]), errors
        assert (client.usage.n_interrupted, client.usage.n_retries) == (1, 0)
        assert len(accepted) == 1  # not sent again


def test_a_refused_connection_after_a_reply_is_retried_as_a_restart():
    with LocalChatServer(lambda body: Reply("first", hang_up=True)) as server:
        client = client_for(server, max_retries=2)
        assert client.complete(request("a")).text == "first"
    # the server is gone (restarting): asked again, as before
    with pytest.raises(LLMError, match="no answer after 3 tries.*refused") as caught:
        client.complete(request("b"))
    assert not isinstance(caught.value, LLMConfigError)
    assert client.usage.n_retries == 2


def test_a_stopping_run_says_how_many_answers_the_cache_keeps(tmp_path):
    # "answers so far are cached" was said when none had come, or no cache kept them
    def behaviour(body):
        return "ok" if user_prompt(body) == "a" else Reply("down", status=503)

    with LocalChatServer(behaviour) as server:
        with pytest.raises(LLMError, match=r"stopping \(no request was answered\)"):
            complete_all(client_for(server, max_retries=0), [request("b"), request("c")],
                         n_workers=1, max_consecutive_failures=1)
        with pytest.raises(LLMError, match=r"\(1 request answered, not cached: a rerun "
                                           r"asks for it again\)"):
            complete_all(client_for(server, max_retries=0), [request("a"), request("b")],
                         n_workers=1, max_consecutive_failures=1)
        cached = CachedClient(client_for(server, max_retries=0),
                              ResponseCache(tmp_path / "cache.sqlite"))
        with pytest.raises(LLMError, match=r"\(the 1 answer received is in the response "
                                           r"cache: a rerun asks only for the others\)"):
            complete_all(cached, [request("a"), request("b")], n_workers=1,
                         max_consecutive_failures=1)
        # a later batch of one request: "no request of the 1 of this batch was answered"
        with pytest.raises(LLMError, match=r"\(the one request of this batch was not "
                                           r"answered; the answer received before it is in "
                                           r"the response cache"):
            complete_all(cached, [request("c")], n_workers=1, max_consecutive_failures=1)


@pytest.mark.parametrize("first, then, said", [
    (["a", "bad"], ["c"], "the one request of this batch was not answered; the answer received "
                   "before it is in the response cache, not the malformed one: a rerun "
                   "asks only for the others"),
    (["bad"], ["c"], "the one request of this batch was not answered; the answer received "
                     "before it was malformed, not kept in the response cache: a rerun "
                     "asks for it again"),
    (["a", "a"], ["c"], "the one request of this batch was not answered; the answer "
                        "received before it is in the response cache: a rerun asks only "
                        "for the others"),
    (["a", "bad"], ["d", "c"], "the 1 answer received in this batch is in the "
                               "response cache, as is the answer received before this batch, not "
                               "the malformed one: a rerun asks only for the others"),
    (["bad"], ["d", "c"], "the 1 answer received in this batch is in the response cache, "
                          "not the answer received before this batch, which was "
                          "malformed: a rerun asks only for the others"),
    # asked again in this batch: this batch's
    (["a", "bad"], ["bad", "c"], "the answer received in this batch was malformed, not "
                                 "kept in the response cache: a rerun asks for it again; "
                                 "the answer received before this batch is in it"),
    (["bad"], ["bad2", "c"], "the answer received in this batch was malformed, not kept "
                             "in the response cache, as was the answer received before "
                             "this batch: a rerun asks for them again"),
])
def test_a_later_batch_that_stops_counts_the_answers_before_it_exactly(tmp_path, first,
                                                                        then, said):
    # "the 2 answers received before it are in the response cache (malformed ones
    # aside)": the malformed answer dropped in an earlier batch, and an answer asked
    # twice, were counted among those before, and hedged
    def behaviour(body):
        return Reply("down", status=503) if user_prompt(body) == "c" else user_prompt(body)

    with LocalChatServer(behaviour) as server:
        cached = CachedClient(client_for(server, max_retries=0),
                              ResponseCache(tmp_path / "cache.sqlite"))
        checks = {request(bad).cache_key(): lambda text: False for bad in ("bad", "bad2")}
        complete_all(DropMalformed(cached, checks), [request(t) for t in first],
                     n_workers=1)
        with pytest.raises(LLMError) as caught:
            complete_all(DropMalformed(cached, checks), [request(t) for t in then],
                         n_workers=1, max_consecutive_failures=1)
    assert f"({said})" in str(caught.value), caught.value


def test_concurrency_limit_holds():
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def behaviour(body):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return "ok"

    with LocalChatServer(behaviour) as server:
        client = client_for(server, max_concurrency=2)
        results = complete_all(client, [request(str(i)) for i in range(12)], n_workers=6)
    assert all(r.text == "ok" for r in results)
    assert state["max"] <= 2


def test_cache_makes_reruns_free_and_keys_cover_parameters(tmp_path):
    with LocalChatServer(lambda body: "v" + str(body.get("seed"))) as server:
        cache = ResponseCache(tmp_path / "cache.sqlite")
        client = CachedClient(client_for(server), cache)
        first = [client.complete(request("a")), client.complete(request("a", seed=1))]
        assert len(server.requests) == 2
        again = CachedClient(client_for(server), ResponseCache(tmp_path / "cache.sqlite"))
        second = [again.complete(request("a")), again.complete(request("a", seed=1))]
    assert len(server.requests) == 2  # nothing new was sent
    assert [r.text for r in first] == [r.text for r in second] == ["vNone", "v1"]
    assert all(r.cached for r in second) and again.usage.n_cached == 2
    assert again.usage.cost == 0


def test_failures_do_not_stop_the_batch_and_a_rerun_resumes(tmp_path):
    broken = {"on": True}

    def behaviour(body):
        if broken["on"] and "fail" in user_prompt(body):
            return Reply("down", status=500)
        return "ok " + user_prompt(body)

    with LocalChatServer(behaviour) as server:
        cache = ResponseCache(tmp_path / "c.sqlite")
        client = CachedClient(client_for(server, max_retries=1), cache)
        texts = ["a", "fail b", "c", "fail d"]
        results = complete_all(client, [request(t) for t in texts], n_workers=2)
        assert [isinstance(r, LLMError) for r in results] == [False, True, False, True]
        sent_before = len(server.requests)
        broken["on"] = False
        results = complete_all(client, [request(t) for t in texts], n_workers=2)
    assert [r.text for r in results] == ["ok a", "ok fail b", "ok c", "ok fail d"]
    assert len(server.requests) - sent_before == 2  # only the failed ones were asked again


@pytest.mark.parametrize("kw", [{"timeout": 0}, {"max_retries": -1}, {"max_concurrency": 0}])
def test_bad_parameters_are_named(kw):
    with pytest.raises(InvalidParameterError, match=next(iter(kw))):
        OpenAIChatClient("http://127.0.0.1:9/v1", "m", **kw)


@pytest.mark.parametrize("option", ["backoff_base", "backoff_max"])
@pytest.mark.parametrize("value", [float("inf"), 1e300])
def test_a_wait_past_a_day_is_refused(option, value):
    """backoff_base=1e300 and backoff_max=1e300 were taken, and the first retry waited
    1e300 seconds: threading.Event.wait raised OverflowError ("timestamp out of range
    for platform time_t"); an infinite backoff_max let the waits grow until it did.
    Both are seconds, at most a day, as the timeout is."""
    with pytest.raises(InvalidParameterError,
                       match=rf"'{option}' must be a number of seconds in \[0, 86400"):
        OpenAIChatClient("http://127.0.0.1:9/v1", "m", **{option: value})
    OpenAIChatClient("http://127.0.0.1:9/v1", "m", **{option: 86400})


@pytest.mark.parametrize("backoff_base", [0.0, 0.01, 2.0])
def test_the_wait_before_a_late_retry_is_the_longest_wait(backoff_base):
    """backoff_base * 2 ** attempt raised OverflowError ("int too large to convert to
    float") from the 1024th retry on: a run with --max-retries 2000 against a server
    busy for good ended in a traceback after its days of waiting."""
    client = OpenAIChatClient("http://127.0.0.1:9/v1", "m", max_retries=2000,
                              backoff_base=backoff_base, backoff_max=60.0)
    for attempt in (1023, 1024, 1999):
        delay = client._delay(attempt, None)
        assert (delay == 0.0) if backoff_base == 0 else (30.0 <= delay <= 60.0)


@pytest.mark.parametrize("option", ["price_prompt", "price_completion"])
def test_a_price_whose_cost_overflows_is_refused(option):
    """A price of 1e308 per million tokens passed as finite, and 7,000 tokens at it
    cost inf: the progress bar said 'cost inf' and the JSON summary '"cost":
    "Infinity"'. A price is at most 1e9 per million tokens (1,000 a token)."""
    with pytest.raises(InvalidParameterError,
                       match=rf"'{option}' must be None or a number in "
                       r"\[0, 1000000000\], got 1e\+308"):
        OpenAIChatClient("http://127.0.0.1:9/v1", "m", **{option: 1e308})
    client = OpenAIChatClient("http://127.0.0.1:9/v1", "m", **{option: 10 ** 9})
    client.usage.add(ChatResponse("x", prompt_tokens=10 ** 15, completion_tokens=10 ** 15))
    assert client.usage.cost == 1e18


def test_numpy_numbers_are_taken_and_kept_as_plain_values():
    """numpy integers (settings from an array) were refused for max_retries and
    max_concurrency, a float32 for the timeouts and prices, and random.Random refused a
    numpy seed naming nothing; a float32 price made the usage report's cost a float32,
    which JSON refuses."""
    import json

    calls: list = []

    def busy_once(body):
        calls.append(body)
        return Reply("busy", status=503) if len(calls) == 1 else "ok"

    with LocalChatServer(busy_once) as server:
        client = OpenAIChatClient(
            server.base_url, "m", timeout=np.float32(2), max_retries=np.int64(2),
            backoff_base=np.float32(0.01), backoff_max=np.int64(1),
            max_concurrency=np.int32(3), price_prompt=np.float32(1.5),
            price_completion=np.int64(2), seed=np.int64(7))
        assert client.complete(request()).text == "ok"  # after one retry
    assert client.usage.n_retries == 1
    for name, kind in (("timeout", float), ("backoff_base", float), ("backoff_max", float),
                       ("max_retries", int), ("max_concurrency", int)):
        assert type(getattr(client, name)) is kind, name
    assert (client.timeout, client.max_retries, client.max_concurrency) == (2.0, 2, 3)
    assert type(client.usage.price_prompt) is type(client.usage.price_completion) is float
    report = json.loads(json.dumps(client.usage.to_dict()))
    assert report["cost"] == pytest.approx(client.usage.cost) and client.usage.cost > 0
    # the seed drives the backoff's jitter: a numpy seed draws as the same int does
    delays = [OpenAIChatClient("http://127.0.0.1:9/v1", "m", seed=seed)._delay(3, None)
              for seed in (np.int64(7), 7)]
    assert delays[0] == delays[1]


@pytest.mark.parametrize("option, value", [
    ("max_retries", True), ("max_retries", "2"), ("max_retries", 2.0),
    ("max_retries", np.float64(2)), ("max_retries", np.bool_(True)),
    ("max_concurrency", np.int64(0)), ("max_concurrency", 1.5),
    ("timeout", "5"), ("timeout", True), ("timeout", np.float32("nan")),
    ("backoff_base", "1"), ("backoff_max", np.float64(-1)), ("price_prompt", np.float32(-1)),
    ("seed", "7"), ("seed", 1.5), ("seed", True)])
def test_client_settings_of_the_wrong_type_are_named(option, value):
    with pytest.raises(InvalidParameterError, match=f"'{option}' must be"):
        OpenAIChatClient("http://127.0.0.1:9/v1", "m", **{option: value})


def test_bad_base_url():
    with pytest.raises(InvalidParameterError, match="base_url"):
        OpenAIChatClient("ftp://x", "m")
    for url in (5, None, ["http://h/v1"]):  # 5: an AttributeError from urlsplit
        with pytest.raises(InvalidParameterError, match="'base_url' must be an http"):
            OpenAIChatClient(url, "m")
    # another scheme, or no host: the URL was shown whole, its key and password too
    for url in ("ftp://user:s3cret@x/v1?key=s3cret", "http://user:s3cret@/v1?key=s3cret"):
        with pytest.raises(InvalidParameterError, match="an http:// or https:// URL") as error:
            OpenAIChatClient(url, "m")
        assert "s3cret" not in str(error.value) and "/v1" in str(error.value)
    for port in ("99999", "abc"):  # refused up front, naming the port but not the key
        with pytest.raises(InvalidParameterError, match=f"port {port}") as error:
            OpenAIChatClient(f"http://user:s3cret@h:{port}/v1", "m")
        assert "s3cret" not in str(error.value)
    # an IPv6 address without its closing bracket (or no address in them): urlsplit's
    # ValueError "Invalid IPv6 URL" came out as a traceback, naming no option
    # a password holding an '@' unencoded: urlsplit takes the credentials up to the
    # last '@', and the message showed what followed the first ('ss@[::1/v1')
    for url in ("http://user:s3cret@[::1/v1?key=s3cret", "http://[not-v6]:8000/v1",
                "http://user:s3c@s3cret@[::1/v1"):
        with pytest.raises(InvalidParameterError, match="'base_url' must be a URL") as error:
            OpenAIChatClient(url, "m")
        assert "s3c" not in str(error.value) and "[" in str(error.value)


@pytest.mark.parametrize("url", [
    "http://usr7:12/s3c9rt@127.0.0.2/v1", "http://usr7:ab/s3c9rt@127.0.0.2/v1",
    "https://usr7:s3c?9rt@127.0.0.2/v1", "http://usr7:s3c#9rt@127.0.0.2:8000/v1",
    "http://usr7:s3c@9r/t@127.0.0.2/v1?key=s3c9rt"])
def test_a_base_url_password_holding_a_slash_is_refused_unshown(tmp_path, url):
    """--base-url http://user:12/secret@127.0.0.2/v1: urllib ends the host at the '/',
    so the client connected to host 'user', port 12, and every message showed
    '/secret@127.0.0.2/v1' as the path (with letters after the ':', 'port ab'): now
    refused up front, naming the option, saying to percent-encode, no part of the
    password shown."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    with pytest.raises(InvalidParameterError, match="'base_url'.*percent-encoded") as error:
        OpenAIChatClient(url, "m")
    message = str(error.value)
    assert "s3c" not in message and "9r" not in message and "usr7" not in message, message
    assert "127.0.0.2" in message
    tagsmith_cli._register_commands()
    docs = tmp_path / "d.txt"
    docs.write_text("a text\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(docs), "--vocab", "v.tsv", "-o", str(tmp_path / "o.jsonl"),
        "--base-url", url, "--llm", "m"])
    assert result.exit_code == 2 and "'--base-url'" in result.output, result.output
    assert "percent-encode" in result.output and "s3c" not in result.output
    # percent-encoded, it is the URL it says: host 127.0.0.2, the password kept
    client = OpenAIChatClient("http://user:12%2Fs3cret@127.0.0.2/v1", "m")
    assert (client._parts.hostname, client._parts.port) == ("127.0.0.2", None)
    assert client.shown_url == "http://127.0.0.2/v1"
    # no scheme: the URL was shown whole, password and all
    with pytest.raises(InvalidParameterError, match="an http:// or https://") as error:
        OpenAIChatClient("user:s3cret@llm.example.com/v1", "m")
    assert "s3cret" not in str(error.value) and "llm.example.com/v1" in str(error.value)


@pytest.mark.parametrize("url", ["http://127.0.0.2/v1?contact=ops@example.org",
                                 "http://127.0.0.2/v1/ops@example.org",
                                 "http://127.0.0.2:abc/v1/team@example.org"])
def test_a_refused_base_url_with_an_at_in_its_path_or_query_shows_no_other_host(monkeypatch,
                                                                                url):
    """An '@' of the path or query is refused as a password's '/' (write it %40), and the
    message showed what follows it as the URL: 'got http://example.org', a host the user
    never wrote. What is hidden is shown hidden; so for a proxy variable."""
    with pytest.raises(InvalidParameterError, match="'base_url'.*%40") as error:
        OpenAIChatClient(url, "m")
    message = str(error.value)
    assert "'http://***@example.org'" in message and "'http://example.org'" not in message
    assert "127.0.0.2" not in message and "ops" not in message and "team" not in message
    for other in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://user:se/cret@proxy.example.com:3128")
    with pytest.raises(LLMConfigError) as caught:
        OpenAIChatClient("http://127.0.0.2:9/v1", "m", max_retries=0).complete(request())
    assert "HTTP_PROXY, http://***@proxy.example.com:3128, has" in str(caught.value)


def test_a_base_url_with_one_slash_after_its_scheme_is_refused_as_no_url_not_credentials():
    """http:/user:secret@host/v1 (a slash left out) was refused as a password holding a
    '/' to percent-encode, the scheme and the slash not shown: it is no URL with a host,
    and the message says so, showing 'http:/' and no part of the credentials."""
    with pytest.raises(InvalidParameterError, match="an http:// or https:// URL with a "
                       "host") as error:
        OpenAIChatClient("http:/usr7:s3cret@llm.example.com/v1", "m")
    message = str(error.value)
    assert "percent" not in message and "'http:/***@llm.example.com/v1'" in message, message
    assert "s3cret" not in message and "usr7" not in message


@pytest.mark.parametrize("name", ["sk-abc123verysecretkey", "Bearer x", "1KEY", "MY KEY"])
def test_an_api_key_given_as_the_variable_name_is_refused_unshown(name):
    """--api-key-env sk-... (the key, not its variable) sent no key, and a 401 printed
    "$sk-..." in its message and the log."""
    with pytest.raises(InvalidParameterError, match="api_key_env.*not the key itself") as error:
        OpenAIChatClient("http://127.0.0.1:9/v1", "m", api_key_env=name)
    assert name not in str(error.value) and f"{len(name)} characters" in str(error.value)
    for fine in ("OPENAI_API_KEY", "_my_key2", "", None):  # '' and None: no key at all
        OpenAIChatClient("http://127.0.0.1:9/v1", "m", api_key_env=fine)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/v1/chat/completions",
                                 "https://u:s3cret@h/v1/Chat/Completions/?key=s3cret"])
def test_a_base_url_with_the_endpoint_path_is_refused(url):
    """A base URL copied with its /chat/completions posted to
    .../chat/completions/chat/completions, and the 404 blamed the URL or the model."""
    with pytest.raises(InvalidParameterError, match="base_url.*without the /chat/completions"
                       ) as error:
        OpenAIChatClient(url, "m")
    assert "s3cret" not in str(error.value)
    assert OpenAIChatClient("http://h/v1/chat", "m")._path == "/v1/chat/chat/completions"


@pytest.mark.parametrize("query", ["?code=s3cret x", "?code=s3cret\x7f"])
def test_a_base_url_query_a_request_cannot_carry_is_refused_unshown(query):
    # the query is kept on every request now (Azure's api-version): one with a space
    # failed each try with http.client's InvalidURL, which quoted it, secret and all
    with pytest.raises(InvalidParameterError, match="base_url.*percent-encode") as error:
        OpenAIChatClient("http://127.0.0.1:9/v1" + query, "m")
    assert "s3cret" not in str(error.value)


def test_plain_http_proxy_from_the_environment(monkeypatch):
    """The endpoint is reached through the proxy named in HTTP_PROXY (the local server
    plays the proxy and sees the absolute URL in the request line)."""
    paths = []
    with LocalChatServer(lambda body: "via proxy") as proxy:
        original = proxy._httpd.RequestHandlerClass.do_POST

        def spy(handler):
            paths.append(handler.path)
            original(handler)

        proxy._httpd.RequestHandlerClass.do_POST = spy
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.base_url.rsplit("/v1", 1)[0])
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = OpenAIChatClient("http://llm.example.invalid/v1", "m", max_retries=0)
        assert client.complete(request()).text == "via proxy"
    assert paths == ["http://llm.example.invalid/v1/chat/completions"]


@pytest.mark.parametrize("password", ["s3cret", "s3c%20ret", "s3c ret"])
def test_a_plain_http_proxy_never_gets_the_base_url_password(monkeypatch, password):
    """Through a plain-HTTP proxy the request line was the base URL with its
    user:password (and the Host header http.client takes from it): the password went
    to the proxy, and one with a space failed each try with http.client's InvalidURL
    quoting it in the message."""
    seen = []
    with LocalChatServer(lambda body: "via proxy") as proxy:
        original = proxy._httpd.RequestHandlerClass.do_POST

        def spy(handler):
            seen.append((handler.path, handler.headers.get("Host")))
            original(handler)

        proxy._httpd.RequestHandlerClass.do_POST = spy
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.base_url.rsplit("/v1", 1)[0])
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = OpenAIChatClient(f"http://usr7:{password}@llm.example.invalid:8080/v1", "m",
                                  max_retries=0)
        assert client.complete(request()).text == "via proxy"
    assert seen == [("http://llm.example.invalid:8080/v1/chat/completions",
                     "llm.example.invalid:8080")]


@contextmanager
def login_proxy(upstream, login: bytes):
    """A proxy on 127.0.0.1 wanting Basic ``login`` (user:password) in
    Proxy-Authorization, as squid with auth_param basic does: without it (or with
    another) 407; with it a POST is forwarded to ``upstream`` (a LocalChatServer), and a
    CONNECT answered 200 then closed (the header is what is tested). Yields the URL
    base (http://127.0.0.1:PORT) and the (method, path, Proxy-Authorization) of each
    request."""
    import base64
    import http.client
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list = []
    wanted = "Basic " + base64.b64encode(login).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # as squid answers

        def log_message(self, *args):
            pass

        def _allowed(self) -> bool:
            given = self.headers.get("Proxy-Authorization")
            seen.append((self.command, self.path, given))
            if given == wanted:
                return True
            body = b"<html>407 Proxy Authentication Required</html>"
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return False

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not self._allowed():
                return
            port = int(upstream.base_url.split(":")[2].split("/")[0])
            forward = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            forward.request("POST", "/v1/chat/completions", body=body,
                            headers={"Content-Type": "application/json"})
            reply = forward.getresponse()
            raw = reply.read()
            forward.close()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_CONNECT(self):
            if self._allowed():
                self.send_response(200)
                self.end_headers()
            self.close_connection = True

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def _proxy_env(monkeypatch, scheme: str, url: str) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(f"{scheme.upper()}_PROXY", url)


def test_proxy_credentials_in_the_proxy_variable_are_sent(monkeypatch):
    """HTTP_PROXY=http://user:pass@proxy:3128: the credentials were never sent (no
    Proxy-Authorization), so a proxy wanting a login answered 407 to every request.
    They now go as Basic credentials, percent-decoded, as curl and requests send them;
    the base URL's own server never gets them."""
    import base64

    login = "usr7:p@ss/w:rd é".encode()
    with LocalChatServer(lambda body: "via proxy") as upstream, \
            login_proxy(upstream, login) as (proxy, seen):
        host = proxy.split("//")[1]
        _proxy_env(monkeypatch, "http", f"http://usr7:p%40ss%2Fw:rd%20%C3%A9@{host}")
        client = OpenAIChatClient("http://llm.example.invalid/v1", "m", max_retries=0)
        assert client.complete(request()).text == "via proxy"
        assert seen == [("POST", "http://llm.example.invalid/v1/chat/completions",
                         "Basic " + base64.b64encode(login).decode())]
        # a CONNECT tunnel (https://) carries them on the CONNECT, not inside
        seen.clear()
        _proxy_env(monkeypatch, "https", f"http://usr7:p%40ss%2Fw:rd%20%C3%A9@{host}")
        client = OpenAIChatClient("https://llm.example.invalid/v1", "m", max_retries=0)
        with pytest.raises(LLMError):  # the tunnel closes once open: no TLS behind it
            client.complete(request())
        assert seen == [("CONNECT", "llm.example.invalid:443",
                         "Basic " + base64.b64encode(login).decode())]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("login", ["", "usr7:wr0ng@", "@", ":@"])
def test_a_proxy_asking_for_a_login_stops_the_call_naming_its_variable(monkeypatch, scheme,
                                                                        login):
    """A 407 from the proxy (none or wrong credentials in HTTP(S)_PROXY) was an HTTP 407
    failing each document alike (plain HTTP), or through a CONNECT tunnel an OSError
    retried for each of them: now it stops the call at once, not retried (exit code 6),
    naming the proxy and its variable, never the password. An empty login
    (http://@proxy:3128) is none: it went as 'Basic Og==', the message saying the
    proxy refused it."""
    with LocalChatServer(lambda body: "via proxy") as upstream, \
            login_proxy(upstream, b"usr7:r1ght") as (proxy, seen):
        host = proxy.split("//")[1]
        _proxy_env(monkeypatch, scheme, f"http://{login}{host}")
        client = OpenAIChatClient(f"{scheme}://llm.example.invalid/v1", "m", max_retries=3,
                                  backoff_base=0.0)
        with pytest.raises(LLMConfigError) as caught:
            client.complete(request())
        assert len(seen) == 1 and upstream.requests == []
    sent = "usr7" in login
    assert (seen[0][2] is not None) == sent, seen
    message = str(caught.value)
    assert "407" in message and f"the proxy {proxy} ({scheme.upper()}_PROXY)" in message
    assert ("refused the user name and password" if sent else "wants a login") in message
    assert "wr0ng" not in message and "usr7" not in message, message
    assert (client.usage.n_retries, client.usage.n_failed) == (0, 1)


@contextmanager
def answering_proxy(status: bytes, body: bytes, content_type: bytes = b"text/html",
                    headers: bytes = b""):
    """A proxy on 127.0.0.1 answering every request and CONNECT with ``status`` (its
    connection kept open, as squid keeps it), then waiting for the client to close it;
    ``headers`` (whole lines, each ending in CRLF) go with it.
    Yields its URL base (http://127.0.0.1:PORT), the request line of each request, and
    an event set once the client has closed its last connection."""
    lines: list = []
    closed = threading.Event()

    def handle(connection):
        closed.clear()
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                piece = connection.recv(65536)
                if not piece:
                    break
                head += piece
            lines.append(head.split(b"\r\n")[0].decode())
            connection.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type
                               + b"\r\n" + headers
                               + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            while connection.recv(65536):  # a request body, then the client's close
                pass
        closed.set()

    with socket_server(handle) as url:
        yield url.rsplit("/v1", 1)[0], lines, closed


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_proxy_refusing_the_host_stops_the_call_naming_the_proxy_not_the_key(monkeypatch,
                                                                                scheme):
    """A proxy whose access rules forbid the host answers 403 (squid's ERR_ACCESS_DENIED
    page): to a CONNECT it was an OSError retried as a passing failure on every try, and
    through a plain-HTTP proxy it got the hint of a bad API key. It now stops the call
    at once, not retried (exit code 6), naming the proxy and its variable and saying
    that the proxy refused; the proxy's connection is closed with the error still held."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-s3cret")
    with answering_proxy(b"403 Forbidden", b"<html>ERR_ACCESS_DENIED</html>",
                         headers=b"Server: squid/5.7\r\n"
                         b"X-Squid-Error: ERR_ACCESS_DENIED 0\r\n") \
            as (proxy, lines, closed):
        _proxy_env(monkeypatch, scheme, proxy)
        client = OpenAIChatClient(f"{scheme}://llm.example.invalid/v1", "m", max_retries=3,
                                  backoff_base=0.0)
        with pytest.raises(LLMConfigError) as caught:
            client.complete(request())
        assert closed.wait(60)  # not left open until the error is dropped
        assert len(lines) == 1 and lines[0].startswith(
            "CONNECT llm.example.invalid:443" if scheme == "https" else "POST http://")
    message = str(caught.value)
    assert "HTTP 403" in message and f"the proxy {proxy} ({scheme.upper()}_PROXY)" in message
    assert "the proxy refused" in message and "not of the API key" in message, message
    assert "OPENAI_API_KEY" not in message and "s3cret" not in message
    assert (client.usage.n_retries, client.usage.n_failed) == (0, 1)


@pytest.mark.parametrize("headers", [
    b"X-Squid-Error: ERR_ACCESS_DENIED 0\r\n", b"Proxy-Agent: corp-gw/2\r\n",
    b"Server: squid/6.1\r\n",
    b'Proxy-Status: corpgw; error=http_request_denied; details="rule 7"\r\n'])
def test_each_header_of_a_proxys_own_reply_blames_the_proxy(monkeypatch, headers):
    """Each header that only a proxy's own reply carries makes a plain proxy's
    403 its refusal, the header quoted in the message."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-s3cret")
    with answering_proxy(b"403 Forbidden", b"", headers=headers) as (proxy, _, _closed):
        _proxy_env(monkeypatch, "http", proxy)
        with OpenAIChatClient("http://llm.example.invalid/v1", "m", max_retries=0) \
                as client, pytest.raises(LLMConfigError) as caught:
            client.complete(request())
    message = str(caught.value)
    assert "the proxy refused the request" in message, message
    assert headers.split(b":")[0].decode() + ":" in message, message


@pytest.mark.parametrize("body, headers", [
    (b"<html><center>nginx</center>403 Forbidden</html>",
     b"Server: nginx\r\nVia: 1.1 squid-gw (squid/6.1)\r\n"),
    (b"", b""),
    (b"<html>Access denied by the WAF</html>",
     b"Proxy-Status: corpgw; received-status=403\r\n")])
def test_a_passed_on_403_through_a_plain_proxy_names_both_key_and_access_rule(
        monkeypatch, body, headers):
    """Through a plain-HTTP proxy, any 403 with no JSON body was the proxy's refusal,
    'not of the API key': the API's own firewall or nginx page passed on (a Via header
    says only that it went through the proxy), or an empty body, too. Where no header
    shows the proxy made it, the message says it may be the key or an access rule,
    naming both, and still stops the call; the proxy's connection (kept open by it) is
    closed at once, as after the proxy's own 403, not left open until the client is."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-s3cret")
    with answering_proxy(b"403 Forbidden", body, headers=headers) \
            as (proxy, lines, closed):
        _proxy_env(monkeypatch, "http", proxy)
        client = OpenAIChatClient("http://llm.example.invalid/v1", "m", max_retries=3,
                                  backoff_base=0.0)
        with pytest.raises(LLMConfigError) as caught:
            client.complete(request())
        assert closed.wait(60), caught.value  # the client still open: closed all the same
        client.close()
    message = str(caught.value)
    assert "not of the API key" not in message
    assert "the proxy refused the request" not in message
    assert f"HTTP 403 through the proxy {proxy} (HTTP_PROXY)" in message, message
    assert "is the API key in $OPENAI_API_KEY right?" in message, message
    assert "an access rule may forbid the host" in message, message
    assert "s3cret" not in message and len(lines) == 1


def test_an_api_error_403_through_a_plain_proxy_still_says_the_key():
    """A 403 the API itself answers (a JSON error) through a plain-HTTP proxy still asks
    whether the key is right: only a proxy's own page (no JSON) is the proxy's."""
    with answering_proxy(b"403 Forbidden", b'{"error": {"message": "bad key"}}',
                         b"application/json") as (proxy, lines, closed):
        with pytest.MonkeyPatch.context() as monkeypatch:
            _proxy_env(monkeypatch, "http", proxy)
            monkeypatch.delenv("OPENAI_API_KEY", raising=False)
            with OpenAIChatClient("http://llm.example.invalid/v1", "m",
                                  max_retries=0) as client, \
                    pytest.raises(LLMConfigError, match=r"HTTP 403 \(\$OPENAI_API_KEY is "
                                  "not set") as caught:
                client.complete(request())
    assert "the proxy" not in str(caught.value)


def test_a_proxy_answering_a_connect_with_a_server_error_is_still_retried(monkeypatch):
    """A proxy's 502 to a CONNECT (the host unreachable for now) is a passing failure,
    asked again as before; only a 4xx refusal stops the call."""
    with answering_proxy(b"502 Bad Gateway", b"<html>down</html>") as (proxy, lines, _):
        _proxy_env(monkeypatch, "https", proxy)
        client = OpenAIChatClient("https://llm.example.invalid/v1", "m", max_retries=2,
                                  backoff_base=0.0)
        with pytest.raises(LLMError, match="no answer after 3 tries.*502") as caught:
            client.complete(request())
        assert not isinstance(caught.value, LLMConfigError)
        assert len(lines) == 3 and client.usage.n_retries == 2


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_proxys_connection_is_closed_after_its_407_with_the_error_still_held(monkeypatch,
                                                                               scheme):
    """After a 407 (to a CONNECT or a request) from a proxy that keeps its connection
    open, the client closes it at once, not when the error (and any reply its context
    refers to) is dropped: a guard, found closed on Python 3.11 (http.client closes the
    CONNECT's reply and socket; the client drops a plain request's connection)."""
    with answering_proxy(b"407 Proxy Authentication Required", b"<html>login</html>") \
            as (proxy, lines, closed):
        _proxy_env(monkeypatch, scheme, proxy)
        client = OpenAIChatClient(f"{scheme}://llm.example.invalid/v1", "m", max_retries=3)
        with pytest.raises(LLMConfigError, match="407") as caught:
            client.complete(request())
        assert closed.wait(60), caught.value  # the error held: closed all the same
        assert len(lines) == 1


@pytest.mark.parametrize("variable", [None, "HTTP_PROXY"])
def test_a_407_from_a_proxy_no_variable_names_says_how_to_give_its_login(monkeypatch,
                                                                         variable):
    """A 407 from a proxy on the way that no variable names (a transparent one, or one
    NO_PROXY sends the host past) said that a proxy wants a login, and not how to give
    it: the message now says to give the user name and password with the proxy's
    address in the variable for the scheme, and names a variable set but not used."""
    with answering_proxy(b"407 Proxy Authentication Required", b"<html>login</html>") \
            as (proxy, lines, closed):
        _proxy_env(monkeypatch, "http", "http://usr7:s3cret@proxy.example.invalid:3128")
        if variable is None:
            monkeypatch.delenv("HTTP_PROXY")
        # a loopback host goes direct: the proxy answering is on the way, unnamed
        client = OpenAIChatClient(proxy + "/v1", "m", max_retries=3, backoff_base=0.0)
        with pytest.raises(LLMConfigError) as caught:
            client.complete(request())
        assert closed.wait(60) and len(lines) == 1
    message = str(caught.value)
    assert "HTTP 407" in message and "asks for credentials" in message, message
    assert "give them with its address as HTTP_PROXY=http://USER:PASSWORD@PROXY:PORT" \
        in message
    assert ("HTTP_PROXY is set, but this host goes direct" in message) == bool(variable)
    assert "s3cret" not in message and "usr7" not in message
    assert (client.usage.n_retries, client.usage.n_failed) == (0, 1)


def test_a_refused_key_stops_the_whole_batch_at_once():
    from tagsmith.exceptions import LLMConfigError

    with LocalChatServer(lambda body: Reply("bad key", status=401)) as server:
        with pytest.raises(LLMConfigError, match="401"):
            complete_all(client_for(server), [request(str(i)) for i in range(50)], n_workers=1)
    assert len(server.requests) <= 2  # the one refused, and one the worker had started


def test_an_endpoint_that_stays_down_stops_the_batch():
    with LocalChatServer(lambda body: Reply("down", status=503)) as server:
        with pytest.raises(LLMError, match="3 requests in a row failed"):
            complete_all(client_for(server, max_retries=0), [request(str(i)) for i in range(50)],
                         n_workers=1, max_consecutive_failures=3)
    assert len(server.requests) <= 4  # 3 failures, and one the worker had started
    with LocalChatServer(lambda body: Reply("down", status=503)) as server:
        with pytest.raises(LLMError, match="requests in a row failed"):
            complete_all(client_for(server, max_retries=0), [request(str(i)) for i in range(200)],
                         n_workers=4, max_consecutive_failures=10)
    # once stopping, no new request is sent: the 10 failures and what was in flight
    assert len(server.requests) <= 10 + 4


def test_tokens_are_estimated_when_the_endpoint_reports_no_usage():
    body = b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}'
    with LocalChatServer(lambda b: Reply(raw=body)) as server:
        client = client_for(server, price_prompt=10.0, price_completion=30.0)
        response = client.complete(request("a fairly long prompt " * 50))
    assert response.prompt_tokens >= 200 and response.completion_tokens >= 1
    assert client.usage.prompt_tokens == response.prompt_tokens and client.usage.cost > 0.002


def test_a_refused_request_is_counted_as_failed():
    with LocalChatServer(lambda body: Reply("bad request", status=400)) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match="HTTP 400"):
            client.complete(request())
    assert client.usage.n_failed == 1 and client.usage.n_retries == 0


@pytest.mark.parametrize("option, value", [
    ("timeout", float("inf")), ("timeout", 1e10), ("price_prompt", -5.0),
    ("price_prompt", float("nan")), ("price_completion", float("inf"))])
def test_client_options_out_of_range_are_named(option, value):
    with pytest.raises(InvalidParameterError, match=option):
        OpenAIChatClient("http://127.0.0.1:9/v1", "m", **{option: value})


@pytest.mark.parametrize("price", ["-5", "nan", "inf", "2e9"])
@pytest.mark.parametrize("option", ["--price-prompt", "--price-completion"])
def test_cli_prices_must_be_finite_and_not_negative(tmp_path, option, price):
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    tagsmith_cli._register_commands()
    docs = tmp_path / "d.txt"
    docs.write_text("a text\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(docs), "--vocab", "v.tsv", "-o", str(tmp_path / "o.jsonl"),
        "--base-url", "http://127.0.0.1:9/v1", "--llm", "m", option, price])
    assert result.exit_code == 2 and option in result.output
    # the maximum is said where it is refused and in --help (only README said it), one
    # way everywhere, as --help writes its other large limits (86400, 32767): --help
    # and the refusal said 1e+09, README and the library 1000000000
    if price == "2e9":
        # the value in the digits of the cap: it said "got 2000000000.0" (1e10: "got
        # 10000000000.0")
        assert "expected a number in [0, 1000000000], got 2000000000\n" in result.output, \
            result.output
        helped = CliRunner().invoke(tagsmith_cli.cli, ["label", "--help"],
                                    terminal_width=400).output
        assert "at most 1000000000" in helped and "at most 86400" in helped
        assert "e+09" not in helped
        readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
        assert "`--price-completion` (per million tokens, at most 1000000000)" in readme


def test_an_oversized_reply_is_refused_unread(monkeypatch):
    import tagsmith.labeling.client as client_module

    monkeypatch.setattr(client_module, "MAX_RESPONSE_BYTES", 10_000)
    with LocalChatServer(lambda body: "x" * 20_000) as server:
        client = client_for(server, max_retries=0)
        with pytest.raises(LLMError, match="over 10,000 bytes"):
            client.complete(request())
    assert client.usage.n_failed == 1 and client.usage.completion_tokens == 0


@pytest.mark.parametrize("suffix, path", [
    ("", "/chat/completions"), ("/", "/chat/completions"),
    ("/v1/", "/v1/chat/completions"), ("/openai/v1", "/openai/v1/chat/completions"),
    # Azure OpenAI: the query was dropped, and every request was answered 404
    ("/openai/deployments/gpt4o?api-version=2024-10-21",
     "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"),
    ("/openai/deployments/gpt4o/?api-version=2024-10-21",
     "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"),
])
def test_every_form_of_base_url_posts_to_its_chat_completions(suffix, path):
    with LocalChatServer(lambda body: "ok") as server:
        root = server.base_url.rsplit("/v1", 1)[0]
        client = OpenAIChatClient(root + suffix, "m", max_retries=0)
        assert client.complete(request()).text == "ok"
    assert server.paths == [path]
    # messages show neither the query (it may hold a key) nor a trailing slash
    assert client.shown_url == root + suffix.partition("?")[0].rstrip("/")


def test_credentials_in_the_base_url_never_reach_messages():
    with LocalChatServer(lambda body: Reply("nope", status=400)) as server:
        url = server.base_url.replace("http://", "http://user:s3cret@") + "?key=abc"
        client = OpenAIChatClient(url, "m", max_retries=0)
        with pytest.raises(LLMError) as error:
            client.complete(request())
    assert "s3cret" not in str(error.value) and "key=abc" not in str(error.value)
    assert "s3cret" not in repr(client)


def test_an_api_key_with_a_line_break_is_trimmed_or_refused_without_showing_it(monkeypatch):
    # a key from a CRLF .env ends in "\r": http.client refused the header with a
    # ValueError quoting it whole ("Invalid header value b'Bearer sk-...\r'")
    with LocalChatServer(lambda body: "ok") as server:
        headers = authorization_headers(server)
        monkeypatch.setenv("CRLF_KEY", "sk-trailing-7f3a\r\n")
        assert client_for(server, api_key_env="CRLF_KEY").complete(request()).text == "ok"
        monkeypatch.setenv("BROKEN_KEY", "sk-inner-9c2e\rX-Evil: 1")
        client = client_for(server, api_key_env="BROKEN_KEY")
        with pytest.raises(LLMConfigError, match="BROKEN_KEY") as error:
            client.complete(request())
    assert headers == ["Bearer sk-trailing-7f3a"]
    assert "sk-inner-9c2e" not in str(error.value) and client.usage.n_failed == 1


def test_a_kept_alive_connection_the_server_closed_is_reopened_without_a_retry():
    with LocalChatServer(lambda body: Reply("ok", hang_up=True)) as server:
        client = client_for(server, max_retries=0)
        assert [client.complete(request(f"q{i}")).text for i in range(3)] == ["ok"] * 3
    assert len(server.requests) == 3
    assert client.usage.n_retries == 0 and client.usage.n_failed == 0


def test_a_reply_without_text_is_retried_and_its_tokens_are_billed():
    import json

    empty = json.dumps({"choices": [{"message": {"role": "assistant", "content": None}}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 40}}).encode()
    replies = iter([Reply(raw=empty), Reply(raw=empty), "fine"])
    with LocalChatServer(lambda body: next(replies)) as server:
        client = client_for(server)
        assert client.complete(request()).text == "fine"
    usage = client.usage
    assert usage.n_requests == 1 and usage.n_retries == 2
    assert usage.prompt_tokens > 200 and usage.completion_tokens >= 80 + 1


@pytest.mark.parametrize("message, finish, said", [
    # only the words that refuse are quoted: the rest may echo the document
    ({"content": None, "refusal": "I can't help with that."}, "stop",
     "the model refused to answer \\(it said \"I can't help\"\\)$"),
    ({"content": None, "tool_calls": [{"id": "c", "type": "function", "function": {
        "name": "label", "arguments": "{}"}}]}, "tool_calls",
     "the model answered with a tool call, not text"),
    # vLLM's and llama.cpp's reasoning parsers: the thinking in its own field, the
    # answer never reached
    ({"content": None, "reasoning_content": "Let me think..."}, "length",
     "output token limit \\(finish_reason 'length'\\) before any answer text, its "
     "reasoning having taken it all: --max-tokens raises it, or the server's own limit"),
    ({"content": "", "reasoning": "Let me think..."}, "length", "its reasoning having"),
    # Azure OpenAI
    ({"content": None}, "content_filter", "content filter withheld the answer"),
    # only reasoning, and no finish_reason to say the model ended its turn (with "stop"
    # the reasoning field is read as the answer: below)
    ({"content": None, "reasoning_content": 'So {"labels": []}'}, None,
     "the reply holds the model's reasoning but no answer text"),
    ({"content": " ", "reasoning": "Hm."}, None, "reasoning but no answer text"),
    # the model ended its turn having written nothing: retried as malformed, each try
    # paid for and answered alike (one without a finish_reason still is)
    ({"content": None}, "stop", "the model answered nothing \\(no text in its message, "
     "finish_reason 'stop'\\)$"),
])
def test_a_reply_without_text_that_says_why_is_not_retried(message, finish, said):
    # retried max_retries times, each try paid for and answered alike, the message
    # showing only the reply's first 200 characters
    import json

    reply = json.dumps({"choices": [{"finish_reason": finish, "message": {
        "role": "assistant", **message}}], "usage": {"prompt_tokens": 100,
                                                    "completion_tokens": 40}}).encode()
    with LocalChatServer(lambda body: Reply(raw=reply)) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match=said):
            client.complete(request())
    usage = client.usage
    # a refusal or a filter's is counted apart from the failures (in the JSON usage too)
    declined = "refusal" in message or finish == "content_filter"
    assert len(server.requests) == 1 and usage.n_retries == 0
    assert (usage.n_failed, usage.n_refused) == ((0, 1) if declined else (1, 0))
    assert (usage.prompt_tokens, usage.completion_tokens) == (100, 40)  # billed


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_an_answer_the_servers_reasoning_parser_filed_as_reasoning_is_read_from_there(
        field, caplog):
    # vLLM's deepseek_r1 reasoning parser on Qwen3 with thinking off (vllm-project/vllm
    # #17349): content null, the whole answer in reasoning_content, finish_reason
    # "stop": every document failed ("reasoning but no answer text") and the run stopped
    reply = json.dumps({"choices": [{"finish_reason": "stop", "message": {
        "role": "assistant", "content": None, field: '{"labels": []}'}}]}).encode()
    with LocalChatServer(lambda body: Reply(raw=reply)) as server:
        client = client_for(server)
        with caplog.at_level(logging.WARNING, logger="tagsmith"):
            answers = [client.complete(request(text)).text for text in ("a", "b")]
    assert answers == ['{"labels": []}'] * 2 and client.usage.n_failed == 0
    assert client.usage.completion_tokens == 2 * (len('{"labels": []}') // 4)
    said = [r.getMessage() for r in caplog.records if "reasoning parser" in r.getMessage()]
    assert len(said) == 1 and f"whole turn in {field}" in said[0]  # said once a run


@pytest.mark.parametrize("said", [
    'Let me think... maybe {"labels": ["a"]}... I am not sure',
    'So the answer is {"labels": ["a"]}',
    '```json\n{"labels": ["a"]}\n```\nDoes that look right?',
])
def test_a_thinking_trace_with_one_draft_in_its_reasoning_field_is_no_answer(said):
    # with finish_reason "stop" the reasoning field was read as the answer whenever it
    # held one object: a hedged draft inside the model's thinking was taken for its
    # answer. Only the answer alone (one object, optionally fenced) is read so
    reply = json.dumps({"choices": [{"finish_reason": "stop", "message": {
        "role": "assistant", "content": None, "reasoning_content": said}}]}).encode()
    with LocalChatServer(lambda body: Reply(raw=reply)) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match="the reply holds the model's reasoning but no "
                                           "answer text"):
            client.complete(request())
    assert len(server.requests) == 1 and client.usage.n_failed == 1


def test_a_fenced_answer_alone_in_the_reasoning_field_is_read():
    said = ' \n```json\n{"labels": ["a"]}\n```\n'
    reply = json.dumps({"choices": [{"finish_reason": "stop", "message": {
        "role": "assistant", "content": None, "reasoning": said}}]}).encode()
    with LocalChatServer(lambda body: Reply(raw=reply)) as server:
        assert client_for(server).complete(request()).text == said


@pytest.mark.parametrize("content", ["", " \n", []])
def test_an_empty_text_with_finish_reason_stop_answered_nothing_as_null_does(content):
    # content null failed its document once ("the model answered nothing"); content ""
    # (or blank, or an empty list of parts) was passed on as an empty answer, counted
    # malformed by the caller
    reply = json.dumps({"choices": [{"finish_reason": "stop", "message": {
        "role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 1}}).encode()
    with LocalChatServer(lambda body: Reply(raw=reply)) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match="the model answered nothing"):
            client.complete(request())
    assert len(server.requests) == 1 and client.usage.n_failed == 1
    assert (client.usage.prompt_tokens, client.usage.completion_tokens) == (100, 1)


@pytest.mark.parametrize("stream", [True, False])
def test_a_reply_ended_by_finish_reason_error_is_a_failed_call_retried(stream):
    # OpenRouter's stream failing mid-answer with no error object, only a finish_reason
    # "error": its partial text was returned as the answer (counted malformed, never
    # asked again); it is a failed call, retried, the prompt and the text billed
    partial = '{"labels": [{"label": "bill'
    if stream:
        raw = (f"data: {json.dumps({'choices': [{'delta': {'content': partial}}]})}\n\n"
               "data: " + json.dumps({"choices": [{"delta": {"content": ""},
                                                   "finish_reason": "error"}]})
               + "\n\ndata: [DONE]\n\n").encode()
    else:
        raw = json.dumps({"choices": [{"finish_reason": "error", "message": {
            "role": "assistant", "content": partial}}]}).encode()
    replies = iter([Reply(raw=raw), '{"labels": []}'])
    with LocalChatServer(lambda body: next(replies)) as server:
        client = client_for(server, max_retries=1)
        assert client.complete(request()).text == '{"labels": []}'
    assert len(server.requests) == 2 and client.usage.n_retries == 1
    assert client.usage.completion_tokens >= estimate_tokens(partial) + 1
    replies = iter([Reply(raw=raw)] * 2)
    with LocalChatServer(lambda body: next(replies)) as server:
        with pytest.raises(LLMError, match="finish_reason 'error'"):
            client_for(server, max_retries=1).complete(request())


@pytest.mark.parametrize("arguments, used", [
    ('{"labels": [{"label": "billing"}]}', True),
    ({"labels": []}, True),  # some servers give the arguments as an object
    ('{"name": "billing"}', False),  # no object the prompt asked for
    ('{"labels": [', False),  # no JSON
    ("{}", False),
])
@pytest.mark.parametrize("content", [None, ""])
def test_a_tool_call_whose_arguments_are_the_answer_asked_for_is_the_answer(arguments, used,
                                                                            content):
    # a server answering JSON mode through a tool call (or a tool parser taking the
    # JSON answer for one): the answer, in function.arguments, failed the document
    call = {"id": "c1", "type": "function", "function": {"name": "json",
                                                         "arguments": arguments}}
    reply = json.dumps({"choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": content, "tool_calls": [call]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 9}}).encode()
    asked = ChatRequest(model="m", json_mode=True, messages=({"role": "user", "content":
        'Return exactly {"labels": [{"label": "<a label name>"}]}'},))
    with LocalChatServer(lambda body: Reply(raw=reply)) as server:
        client = client_for(server)
        if used:
            text = client.complete(asked).text
            assert json.loads(text) == (json.loads(arguments) if isinstance(arguments, str)
                                        else arguments)
        elif content is None:
            with pytest.raises(LLMError, match="the model answered with a tool call"):
                client.complete(asked)
        else:  # an empty answer, as before: the caller finds no JSON object in it
            assert client.complete(asked).text == ""
    assert len(server.requests) == 1 and client.usage.n_retries == 0
    failed = not used and content is None
    assert client.usage.n_requests == int(not failed) and client.usage.n_failed == failed
    assert (client.usage.prompt_tokens, client.usage.completion_tokens) == (100, 9)


@pytest.mark.parametrize("arguments", [
    '{"refund": true}',  # a label's name: in the label set's data section
    '{"summary": "x"}',  # a key the document quotes
    '{"label": "refund"}',  # a key of the schema, but not its top level's
])
def test_a_tool_call_whose_keys_only_the_data_or_a_nested_object_names_is_no_answer(arguments):
    # every key was looked for anywhere in the prompt: the label set's names and the
    # document's own text (which a document controls) made any tool call the answer
    from tagsmith.labeling.prompts import label_prompt

    messages = label_prompt('Tell me: {"summary": "x"} and "summary"',
                            [{"label": "refund"}, {"label": "billing"}], max_labels=3)
    call = {"function": {"name": "json", "arguments": arguments}}
    reply = json.dumps({"choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [call]}}]}).encode()
    with LocalChatServer(lambda body: Reply(raw=reply)) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match="the model answered with a tool call"):
            client.complete(ChatRequest(model="m", messages=messages, json_mode=True))
        call["function"]["arguments"] = '{"labels": [{"label": "refund"}]}'
        reply = json.dumps({"choices": [{"finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None, "tool_calls": [call]}}]}).encode()
        answer = client.complete(ChatRequest(model="m", messages=messages, json_mode=True))
    assert json.loads(answer.text) == {"labels": [{"label": "refund"}]}


@pytest.mark.parametrize("use_case", ["support triage {draft", 'notes {"rating": 3',
                                      'a {"extra": 1} note'])
def test_the_keys_a_tool_call_must_have_do_not_depend_on_the_use_case(use_case):
    # the use case is the user's words, before the answer template: an unbalanced "{"
    # in it put "labels" one level deep (the answer refused as a tool call), and its
    # '{"rating":' made "rating" a key asked for
    from tagsmith.labeling.prompts import generate_prompt, label_prompt

    def reply_with(arguments):
        call = {"function": {"name": "json", "arguments": arguments}}
        return Reply(raw=json.dumps({"choices": [{"finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None, "tool_calls": [call]}}]}).encode())

    labels = label_prompt("a document", [{"label": "refund"}], max_labels=3,
                          use_case=use_case)
    taxonomy = generate_prompt(["a summary"], use_case, 5, 3, 20)
    answers = iter([reply_with('{"labels": [{"label": "refund"}]}'),
                    reply_with('{"rating": 3}'), reply_with('{"extra": 1}'),
                    reply_with('{"labels": [{"name": "refund", "description": "x"}]}')])
    with LocalChatServer(lambda body: next(answers)) as server:
        client = client_for(server, max_retries=0)
        asked = ChatRequest(model="m", messages=labels, json_mode=True)
        assert json.loads(client.complete(asked).text) == {"labels": [{"label": "refund"}]}
        for _ in range(2):
            with pytest.raises(LLMError, match="the model answered with a tool call"):
                client.complete(asked)
        answer = client.complete(ChatRequest(model="m", messages=taxonomy, json_mode=True))
    assert json.loads(answer.text)["labels"][0]["name"] == "refund"


def test_the_keys_a_tool_call_must_have_are_not_read_from_an_earlier_answer():
    # a repair request sends the broken answer back as the assistant's turn: its keys
    # ('{"summaries": [], "pwned": 1}') were read as keys the prompt asked for, and a
    # tool call answering '{"pwned": 1}' was taken for the answer
    from tagsmith.labeling.prompts import repair_prompt, summarise_prompt

    first = summarise_prompt([{"id": "1", "text": "x"}], "support triage", 20)
    again = repair_prompt(first, '{"summaries": [], "pwned": 1}', ["no summary for 1"])
    call = {"function": {"name": "json", "arguments": '{"pwned": 1}'}}
    reply = json.dumps({"choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [call]}}]}).encode()
    with LocalChatServer(lambda body: Reply(raw=reply)) as server:
        client = client_for(server, max_retries=0)
        with pytest.raises(LLMError, match="the model answered with a tool call"):
            client.complete(ChatRequest(model="m", messages=again, json_mode=True))


def test_a_tool_call_is_no_answer_to_a_request_not_in_json_mode():
    call = {"function": {"name": "json", "arguments": '{"labels": []}'}}
    reply = json.dumps({"choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [call]}}]}).encode()
    with LocalChatServer(lambda body: Reply(raw=reply)) as server:
        with pytest.raises(LLMError, match="the model answered with a tool call"):
            client_for(server).complete(request('Return exactly {"labels": []}'))


def test_a_reply_without_text_nor_usage_bills_what_the_model_wrote():
    # a reasoning model out of tokens, its thinking all it wrote, on a server reporting
    # no usage: the completion was billed as 0 tokens, the run's cost its prompts' only
    reply = json.dumps({"choices": [{"finish_reason": "length", "message": {
        "role": "assistant", "content": None, "reasoning_content": "Hmm. " * 800}}]})
    with LocalChatServer(lambda body: Reply(raw=reply.encode())) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match="output token limit"):
            client.complete(request())
    assert client.usage.completion_tokens == 4000 // 4 and client.usage.prompt_tokens > 0


def test_a_reply_sent_as_an_event_stream_though_none_was_asked_for_is_read_whole():
    # a proxy or server that always streams: "data: {...}" lines were malformed JSON,
    # retried, each try paid for, until the document failed
    import json

    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
              {"choices": [{"index": 0, "delta": {"content": '{"labels": '}}]},
              {"choices": [{"index": 0, "delta": {"content": "[]}"},
                            "finish_reason": "stop"}]},
              {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}}]
    stream = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    with LocalChatServer(lambda body: Reply(raw=stream.encode(), headers={
            "Content-Type": "text/event-stream"})) as server:
        client = client_for(server)
        assert client.complete(request()).text == '{"labels": []}'
    assert len(server.requests) == 1 and client.usage.n_retries == 0
    assert (client.usage.prompt_tokens, client.usage.completion_tokens) == (12, 5)


@pytest.mark.parametrize("usages, expected", [
    # the spec's (OpenAI's include_usage, llama.cpp, Ollama): null usage on every chunk
    # but the last, which holds the whole request's
    ([None, None, {"prompt_tokens": 12, "completion_tokens": 5}], (12, 5, 0)),
    # a gateway translating Anthropic's events: the prompt in the first chunk, the
    # completion in the last (with no prompt count, or a 0 for it)
    ([{"prompt_tokens": 12}, None, {"completion_tokens": 5}], (12, 5, 0)),
    ([{"prompt_tokens": 12, "completion_tokens": 0}, None,
      {"prompt_tokens": 0, "completion_tokens": 5}], (12, 5, 0)),
    # vLLM's continuous_usage_stats: each chunk's usage so far, the last the whole (not
    # summed)
    ([{"prompt_tokens": 12, "completion_tokens": 1}, {"prompt_tokens": 12,
                                                      "completion_tokens": 3},
      {"prompt_tokens": 12, "completion_tokens": 5}], (12, 5, 0)),
    # a count no chunk reports is estimated still
    ([{"prompt_tokens": 12}, None, None], (12, 14 // 4, 14 // 4)),
])
def test_a_streams_usage_spread_over_its_chunks_is_read_whole(usages, expected):
    # only the last chunk's usage was kept: the prompt a first chunk reported was
    # estimated (a gateway reporting it first, the completion last)
    texts = ['{"labels": ', "[]", "}"]
    chunks = [{"choices": [{"index": 0, "delta": {"content": text}}],
               **({"usage": usage} if usage is not None else {"usage": None})}
              for text, usage in zip(texts, usages, strict=True)]
    chunks[-1]["choices"][0]["finish_reason"] = "stop"
    stream = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    with LocalChatServer(lambda body: Reply(raw=stream.encode(), headers={
            "Content-Type": "text/event-stream"})) as server:
        client = client_for(server)
        assert client.complete(request()).text == '{"labels": []}'
    usage = client.usage
    assert (usage.prompt_tokens, usage.completion_tokens,
            usage.estimated_prompt_tokens + usage.estimated_completion_tokens) == expected


@pytest.mark.parametrize("stream", [
    # JSON sent unescaped (ensure_ascii off): U+2028 or U+0085 in a string is no line end
    'data: {"choices": [{"delta": {"content": "{\\"labels\\": [\\"a\u2028b\\"]}"}}]}\n\n'
    'data: [DONE]\n\n',
    'data: {"choices": [{"delta": {"content": "{\\"labels\\": [\\"a\x85b\\"]}"}}]}\n\n',
    # one event's data on several data: lines, joined by line ends
    'data: {"choices": [{"delta":\ndata: {"content": "{\\"labels\\": [\\"a b\\"]}"}}]}'
    '\r\n\r\ndata: [DONE]\r\n\r\n',
])
def test_an_event_streams_lines_end_only_where_server_sent_events_end_them(stream):
    # each piece of a str.splitlines() line (it splits at U+2028, U+0085 ...) and each
    # data: line of an event was read as JSON: malformed, retried, each try paid for
    with LocalChatServer(lambda body: Reply(raw=stream.encode(), headers={
            "Content-Type": "text/event-stream"})) as server:
        client = client_for(server)
        text = client.complete(request()).text
    assert text.replace("\u2028", " ").replace("\x85", " ") == '{"labels": ["a b"]}'
    assert len(server.requests) == 1 and client.usage.n_retries == 0


@pytest.mark.parametrize("start", [
    ": OPENROUTER PROCESSING\n\n", ":\n", "event: message\n", "id: 1\r\n", "retry: 3000\n\n",
    "\ufeff", "\ufeff: keep-alive\n\n", "data\n\n"])
def test_an_event_stream_starting_with_another_line_than_data_is_read_whole(start):
    # only a body whose first line was data: was taken for an event stream: OpenRouter's
    # ": OPENROUTER PROCESSING" comment first made it malformed, retried, each try paid for
    chunk = 'data: {"choices": [{"delta": {"content": "ok"}, "finish_reason": "stop"}]}\n\n'
    with LocalChatServer(lambda body: Reply(raw=(start + chunk).encode())) as server:
        client = client_for(server)
        assert client.complete(request()).text == "ok"
    assert len(server.requests) == 1 and client.usage.n_retries == 0


@pytest.mark.parametrize("code, tries", [(502, 2), (400, 1)])
@pytest.mark.parametrize("choices", [False, True])
def test_an_error_event_in_a_stream_fails_the_reply_as_an_error_in_a_200_does(code, tries,
                                                                            choices):
    # the provider failing mid-answer (OpenRouter sends it as an error chunk, with a
    # finish_reason "error" choice or none): the text so far was taken for the answer
    error = {"error": {"message": "Provider disconnected", "code": code}}
    if choices:
        error["choices"] = [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]
    stream = ('data: {"choices": [{"delta": {"content": "{\\"labels\\": [\\"a"}}]}\n\n'
              f"data: {json.dumps(error)}\n\ndata: [DONE]\n\n")
    with LocalChatServer(lambda body: Reply(raw=stream.encode())) as server:
        with pytest.raises(LLMError, match="HTTP 200 reply that is an error.*: Provider "
                                           "disconnected"):
            client_for(server, max_retries=1).complete(request())
    assert len(server.requests) == tries


@pytest.mark.parametrize("prefix", [b"", b"\xef\xbb\xbf"])  # a BOM before it too
def test_a_reply_with_bytes_that_are_not_utf8_is_read(prefix):
    # a Latin-1 byte anywhere in the reply failed the whole of it, asked again and paid
    # for each time alike, until the document failed
    raw = prefix + (b'{"id": "r\xe9ponse", "choices": [{"message": {"content": '
                    b'"caf\xe9 ok"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}')
    with LocalChatServer(lambda body: Reply(raw=raw)) as server:
        client = client_for(server)
        assert client.complete(request()).text == "caf\ufffd ok"
    assert len(server.requests) == 1 and client.usage.n_retries == 0


def test_an_error_in_an_http_200_reply_is_retried_saying_what_it_is():
    # OpenRouter reports an upstream provider's failure with HTTP 200 and an error
    # object: it read as a "malformed chat-completions reply ('choices')"
    error = Reply(raw=b'{"error": {"message": "Provider returned error", "code": 502}}')
    behaviour, state = _flaky([error])
    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        assert client.complete(request()).text == "finally"
        with LocalChatServer(lambda body: error) as failing:
            with pytest.raises(LLMError, match=r"\(last: HTTP 200 reply that is an error: "
                                               r"Provider returned error\)"):
                client_for(failing, max_retries=1).complete(request())
    assert state["n"] == 2


@pytest.mark.parametrize("code, retried", [
    (400, False), ("400", False), (413, False), (501, False),
    (408, True), (429, True), ("503", True), (None, True), ("server_error", True)])
def test_an_error_in_an_http_200_reply_is_retried_only_where_its_code_says_so(code,
                                                                              retried):
    # OpenRouter's HTTP 200 error objects carry the upstream status: a 400 (the context
    # too long) was asked again max_retries times, each try paid for, answered alike
    error = {"message": "context too long", **({"code": code} if code is not None else {})}
    behaviour, state = _flaky([Reply(raw=json.dumps({"error": error}).encode())])
    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        if retried:
            assert client.complete(request()).text == "finally"
        else:
            with pytest.raises(LLMError, match=f"HTTP 200 reply that is an error \\(code "
                                               f"{code}\\): context too long$"):
                client.complete(request())
            assert client.usage.n_failed == 1 and client.usage.n_retries == 0
            assert client.usage.prompt_tokens == client.usage.completion_tokens == 0
    assert state["n"] == (2 if retried else 1)


@pytest.mark.parametrize("raw, said", [
    (b'{"choices": [], "usage": {"prompt_tokens": 3}}', "no choice in it"),
    (b'{"choices": [{"finish_reason": "stop"}]}', "no 'message' in it"),
    (b'{"object": "chat.completion"}', "no 'choices' in it"),
])
def test_a_reply_without_a_message_says_what_is_missing(raw, said):
    # "malformed chat-completions reply (list index out of range)", or ('message')
    with LocalChatServer(lambda body: Reply(raw=raw)) as server:
        with pytest.raises(LLMError, match=re.escape(f"malformed chat-completions reply "
                                                     f"({said}): ")):
            client_for(server, max_retries=0).complete(request())


def test_a_reply_whose_content_is_a_list_of_parts_is_read_as_its_text():
    # LiteLLM, Mistral and other gateways may send the message's content as parts
    # ([{"type": "text", "text": ...}]): the reply was "malformed" and retried, each
    # try paid for, until the document failed
    import json

    parts = json.dumps({"choices": [{"message": {"role": "assistant", "content": [
        {"type": "text", "text": '{"labels": '}, {"type": "image_url", "image_url": {}},
        {"type": "text", "text": "[]}"}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4}}).encode()
    with LocalChatServer(lambda body: Reply(raw=parts)) as server:
        client = client_for(server)
        assert client.complete(request()).text == '{"labels": []}'
    assert len(server.requests) == 1 and client.usage.n_retries == 0


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_a_reply_compressed_though_none_was_asked_for_is_unpacked(encoding):
    # a gateway or proxy that compresses every reply: each was "malformed" and retried,
    # paid for, until the document failed
    import json
    import zlib

    plain = json.dumps({"choices": [{"message": {"role": "assistant", "content": "ok"}}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1}}).encode()
    packer = zlib.compressobj(wbits={"gzip": 31, "deflate": 15, "raw-deflate": -15}[encoding])
    packed = packer.compress(plain) + packer.flush()
    name = "deflate" if encoding == "raw-deflate" else encoding
    with LocalChatServer(lambda body: Reply(raw=packed, headers={"Content-Encoding": name})
                         ) as server:
        client = client_for(server)
        assert client.complete(request()).text == "ok"
    assert len(server.requests) == 1 and client.usage.n_retries == 0


def test_a_gzip_reply_of_several_members_is_read_whole_and_one_cut_short_says_so():
    # RFC 1952: a gzip file may be several members one after another (a proxy packing
    # as it streams); only the first was read, the rest dropped: malformed, retried,
    # paid for; a body cut inside its gzip encoding was read as far as it went
    import gzip

    plain = json.dumps({"choices": [{"message": {"role": "assistant", "content": "ok"}}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1}}).encode()
    members = gzip.compress(plain[:20]) + gzip.compress(plain[20:])
    with LocalChatServer(lambda body: Reply(raw=members, headers={"Content-Encoding": "gzip"})
                         ) as server:
        client = client_for(server)
        assert client.complete(request()).text == "ok"
    assert len(server.requests) == 1 and client.usage.n_retries == 0
    cut = gzip.compress(plain)[:-12]
    with LocalChatServer(lambda body: Reply(raw=cut, headers={"Content-Encoding": "gzip"})
                         ) as server:
        with pytest.raises(LLMError, match="no answer after 3 tries .*HTTP 200 reply cut "
                                           "short in its gzip encoding"):
            client_for(server, max_retries=2).complete(request())


def test_a_reply_compressed_in_an_encoding_not_read_is_refused_naming_it():
    with LocalChatServer(lambda body: Reply(raw=b"\x1b\x00", headers={"Content-Encoding": "br"})
                         ) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match="HTTP 200 reply compressed as 'br', which this "
                                           "client cannot read"):
            client.complete(request())
    assert len(server.requests) == 1


@pytest.mark.parametrize("status, retried", [(502, True), (429, True), (400, False)])
def test_an_error_reply_in_an_encoding_not_read_is_still_judged_by_its_status(status,
                                                                               retried):
    # the body was unpacked before the status was looked at: a 502 compressed as br
    # failed the document at its first try, as a refusal would, never asked again
    behaviour, state = _flaky([Reply(raw=b"\x1b\x00", status=status,
                                     headers={"Content-Encoding": "br"})])
    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        if retried:
            assert client.complete(request()).text == "finally"
        else:
            with pytest.raises(LLMError, match=f"HTTP {status}: .*compressed as 'br'"):
                client.complete(request())
    assert state["n"] == (2 if retried else 1)


@pytest.mark.parametrize("name, error, kw", [
    # LM Studio and servers without JSON mode; vLLM and llama.cpp answer 400 so
    ("response_format", "unsupported parameter: response_format", {"json_mode": True}),
    # OpenAI's reasoning models (o1, o3, gpt-5)
    ("temperature", "Unsupported value: 'temperature' does not support 0 with this model. "
                    "Only the default (1) value is supported.", {}),
    ("seed", "Unsupported parameter: 'seed'", {"seed": 3}),
    # OpenAI's reasoning models want max_completion_tokens
    ("max_tokens", "Unsupported parameter: 'max_tokens' is not supported with this model. "
                   "Use 'max_completion_tokens' instead.", {"max_tokens": 500}),
])
def test_an_optional_parameter_the_server_refuses_is_left_out_from_then_on(
        caplog, name, error, kw):
    # every request failed with the same HTTP 400, and no option could leave it out
    def behaviour(body):
        return Reply(error, status=400) if name in body else "ok"

    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        with caplog.at_level("WARNING", logger="tagsmith"):
            assert [client.complete(request(f"q{i}", **kw)).text for i in range(3)] == ["ok"] * 3
    assert [name in body for body in server.requests] == [True, False, False, False]
    assert client.usage.n_failed == 0 and client.usage.n_retries == 0
    warned = [r.getMessage() for r in caplog.records if "refuses" in r.getMessage()]
    assert len(warned) == 1 and f"refuses {name} (HTTP 400" in warned[0]


def test_a_refused_max_tokens_is_said_to_have_no_effect_as_its_caller_gives_it(caplog):
    """The warning that the server refuses max_tokens told a Python caller "--max-tokens
    has no effect", a flag: it names the parameter, and label, whose filter renames it,
    its option. The name the server refused (the API's) stays as it is."""
    import tagsmith.cli as tagsmith_cli

    def behaviour(body):
        return Reply("Unsupported parameter: 'max_tokens'", status=400) \
            if "max_tokens" in body else "ok"

    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        with caplog.at_level("WARNING", logger="tagsmith"):
            assert client.complete(request(max_tokens=50)).text == "ok"
    [record] = [r for r in caplog.records if "refuses" in r.getMessage()]
    assert "refuses max_tokens (HTTP 400" in record.getMessage()
    assert record.getMessage().endswith(
        "asking without it from now on (at the server's own output token limit: "
        "max_tokens has no effect)")
    assert "--" not in record.getMessage()
    tagsmith_cli._register_commands()
    assert tagsmith_cli._OptionNames(tagsmith_cli.cli.commands["label"]).filter(record)
    assert "refuses max_tokens (HTTP 400" in record.getMessage()
    assert record.getMessage().endswith("limit: --max-tokens has no effect)")


def test_requests_in_flight_when_a_parameter_is_refused_are_asked_again_without_it():
    # label's concurrent requests: those sent before the first refusal came back failed,
    # as the parameter was already dropped when their own refusal arrived
    arrived = threading.Barrier(4, timeout=30)

    def behaviour(body):
        if "response_format" in body:
            arrived.wait()  # all four sent with it before any is refused
            return Reply("unsupported parameter: response_format", status=400)
        return "ok"

    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        results = complete_all(client, [request(f"q{i}", json_mode=True) for i in range(4)],
                               n_workers=4)
    assert [getattr(r, "text", r) for r in results] == ["ok"] * 4
    assert sum("response_format" in body for body in server.requests) == 4
    assert len(server.requests) == 8


def test_a_parameter_refused_while_another_request_is_built_breaks_neither():
    # label's pool: one thread building its body iterated the set of dropped parameters
    # while another added to it ("RuntimeError: Set changed size during iteration",
    # escaping complete() as no LLMError)
    client = OpenAIChatClient("http://127.0.0.1:9/v1", "m")
    refused = json.dumps(request(seed=3).payload()).encode()

    class Racing(set):
        def __iter__(self):
            for number, name in enumerate(super().__iter__()):
                if number == 0:  # another thread's refusal arrives meanwhile
                    assert client._refused_parameter(refused, 400, b"unsupported: seed")
                yield name

    client.dropped_parameters = Racing({"temperature", "response_format"})
    body = json.loads(client._body(request(json_mode=True, seed=3)))
    assert "temperature" not in body and "response_format" not in body
    assert set(client.dropped_parameters) == {"temperature", "response_format", "seed"}
    assert "seed" not in json.loads(client._body(request(seed=3)))


def test_a_bad_request_quoting_the_prompt_refuses_no_parameter_it_quotes(caplog):
    # a 400 quoting the document ("... seed the fields ..."): seed was taken for refused,
    # left out of that request and every later one, and the warning said so
    quoting = "Farmers seed the fields in spring when the temperature rises."

    def behaviour(body):
        if user_prompt(body) == quoting:
            return Reply(f"Prompt rejected: {quoting!r}", status=400)
        return "ok"

    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        with caplog.at_level("WARNING", logger="tagsmith"):
            with pytest.raises(LLMError, match="HTTP 400: .*Prompt rejected"):
                client.complete(request(quoting, seed=3))
            assert client.complete(request("next", seed=3)).text == "ok"
    assert len(server.requests) == 2
    assert all(body["seed"] == 3 and "temperature" in body for body in server.requests)
    assert not [r for r in caplog.records if "refuses" in r.getMessage()]


def test_a_bad_request_naming_no_parameter_sent_fails_as_before():
    with LocalChatServer(lambda body: Reply("context length exceeded", status=400)) as server:
        client = client_for(server)
        with pytest.raises(LLMError, match="HTTP 400: .*context length exceeded"):
            client.complete(request(json_mode=True))
        with pytest.raises(LLMError, match="HTTP 400: .*response_format"):
            # named, though the request did not send it: nothing to leave out
            with LocalChatServer(lambda body: Reply("bad response_format", status=400)) as other:
                client_for(other).complete(request())
    assert len(server.requests) == 1


def test_an_api_key_in_a_refusal_is_masked_as_in_other_errors(monkeypatch):
    # a refusal's text went into the message as it came, key and all; now only the
    # words that refuse are quoted, so neither the key nor its mask is
    key = "sk-test-" + "y" * 40
    monkeypatch.setenv("OPENAI_API_KEY", key)
    reply = json.dumps({"choices": [{"finish_reason": "stop", "message": {
        "content": None, "refusal": f"I won't help with the key {key}."}}]}).encode()
    with LocalChatServer(lambda body: Reply(raw=reply)) as server:
        with pytest.raises(LLMError, match=r"refused to answer \(it said \"I won't help\"\)$"
                           ) as info:
            client_for(server).complete(request())
    assert key not in str(info.value) and "y" * 10 not in str(info.value)


def test_an_api_key_echoed_by_the_server_is_masked_in_errors(monkeypatch):
    key = "sk-test-" + "x" * 40
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with LocalChatServer(lambda body: Reply(f"invalid key {key} for this model",
                                            status=401)) as server:
        client = client_for(server)
        with pytest.raises(LLMConfigError) as info:
            client.complete(request())
    assert key not in str(info.value) and "[API key]" in str(info.value)


def test_ctrl_c_stops_the_requests_in_flight_at_once_without_retrying():
    # Ctrl-C left a request to a hanging endpoint running in its worker thread, which
    # the interpreter waits for at exit: it timed out and was retried, max_retries
    # times, so the command took minutes to stop (and kept sending requests)
    arrived = threading.Event()

    def behaviour(body):
        arrived.set()
        return Reply("late", delay=600)

    # a timeout no machine comes near: before the fix the abandoned call ran into it
    # (and then retried); now it ends as soon as it is abandoned. The test waits for
    # that end a minute at most, a bound that only a call waiting for the timeout hits
    with LocalChatServer(behaviour) as server:
        inner = client_for(server, timeout=300.0, max_retries=3)
        finished: list[float] = []

        class Interrupted:  # Ctrl-C while one request hangs
            model, usage = inner.model, inner.usage

            def __init__(self):
                self.inner = inner

            def complete(self, chat):
                if user_prompt(chat.payload()) == "stop":
                    arrived.wait(60)
                    raise KeyboardInterrupt
                try:
                    return inner.complete(chat)
                finally:
                    finished.append(time.monotonic())

        with pytest.raises(KeyboardInterrupt):
            complete_all(Interrupted(), [request("stop"), request("hang")], n_workers=2)
        start = time.monotonic()
        while not finished and time.monotonic() - start < 60:
            time.sleep(0.05)
        assert finished  # not the 300 s timeout
        assert len(server.requests) == 1  # not sent again
        assert (inner.usage.n_interrupted, inner.usage.n_retries) == (1, 0)
        server.behaviour = lambda body: "fine"  # and later calls are answered as before
        assert inner.complete(request("again")).text == "fine"


def test_a_refused_request_without_a_key_says_the_variable_is_unset(monkeypatch):
    # a misspelt --api-key-env sent no key, and the 401 asked whether the key "in $VAR"
    # was right, as if there were one
    monkeypatch.delenv("MY_MISSPELT_KEY", raising=False)
    monkeypatch.setenv("MY_KEY", "sk-1")
    with LocalChatServer(lambda body: Reply("missing key", status=401)) as server:
        with pytest.raises(LLMConfigError, match=r"\$MY_MISSPELT_KEY is not set.*no API key"):
            client_for(server, api_key_env="MY_MISSPELT_KEY").complete(request())
        with pytest.raises(LLMConfigError, match=r"is the API key in \$MY_KEY right"):
            client_for(server, api_key_env="MY_KEY").complete(request())


def test_a_single_try_is_one_try_in_the_message():
    """``max_retries=0`` said "no answer after 1 tries"."""
    from tagsmith.labeling.client import ChatRequest, LLMError, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer, Reply

    with LocalChatServer(lambda body: Reply("busy", status=503)) as server:
        client = OpenAIChatClient(server.base_url, "m", max_retries=0)
        with pytest.raises(LLMError, match="no answer after 1 try "):
            client.complete(ChatRequest("m", ({"role": "user", "content": "hi"},)))


def test_a_stopping_failure_lets_the_answers_in_flight_reach_the_cache(tmp_path):
    # abandoning the requests in flight is for Ctrl-C: when the run stops on failures,
    # an answer already on its way is kept (and cached) as before, not thrown away
    slow_arrived = threading.Event()

    def behaviour(body):
        if user_prompt(body) == "slow":
            slow_arrived.set()
            return Reply("kept", delay=0.5)
        # fail only once the slow request is in flight: on a loaded machine its worker
        # could otherwise start after the run had stopped, and never send it
        slow_arrived.wait(60)
        return Reply("bad request", status=400)

    with LocalChatServer(behaviour) as server:
        cache = ResponseCache(tmp_path / "cache.sqlite")
        client = CachedClient(client_for(server, max_retries=0), cache)
        with pytest.raises(LLMError, match="in a row failed"):
            complete_all(client, [request("bad"), request("slow")], n_workers=2,
                         max_consecutive_failures=1)
        start = time.monotonic()
        while len(cache) == 0 and time.monotonic() - start < 60:
            time.sleep(0.05)
        cached = cache.get(request("slow"))
        assert cached is not None and cached.text == "kept"



@pytest.mark.parametrize("failure", ["config", "bug"])
def test_a_stopping_failure_waits_for_the_calls_in_flight_which_try_no_more(tmp_path, failure):
    """complete_all stopped by a failure (a refused key, a bug in a wrapper) returned
    while its workers were still calling: they went on after the run had ended (the
    interpreter waited for them at exit, through every retry) and stored their answers
    in a cache already closed, opening it afresh. It now waits for the calls in flight,
    each ending with the try under way: the answer that comes is cached before it
    returns, and a try that fails is not retried."""
    release = threading.Event()
    held = threading.Event()
    in_flight: set = set()
    seen = threading.Lock()

    def behaviour(body):
        said = user_prompt(body)
        if said == "bad":
            held.wait(60)  # refused once both other calls are in flight
            return Reply("invalid key", status=401)
        with seen:  # both, not the first of them: a call not yet sent when the stop
            in_flight.add(said)  # came is a call made after it (3 in 5 runs were so)
            if len(in_flight) == 2:
                held.set()
        release.wait(600)
        return "kept" if said == "slow" else Reply("busy", status=503)

    with LocalChatServer(behaviour) as server:
        inner = client_for(server, max_retries=3)

        class Stopping:  # the stop reaches the inner client's try_no_more: the held
            model, usage = inner.model, inner.usage  # calls are let go then

            def __init__(self, inner):
                self.inner = inner

            def complete(self, chat):
                if failure == "bug" and user_prompt(chat.payload()) == "bad":
                    held.wait(60)
                    raise AttributeError("a bug in a wrapper")
                return self.inner.complete(chat)

            def try_no_more(self):
                release.set()
                inner.try_no_more()

        cache = ResponseCache(tmp_path / "cache.sqlite")
        client = CachedClient(Stopping(inner), cache)
        try:
            with pytest.raises(LLMConfigError if failure == "config" else AttributeError):
                complete_all(client, [request("bad"), request("slow"), request("busy")],
                             n_workers=3)
            # ended before complete_all returned; an answer still being stored is left
            # to the caller (complete_all's doc): waited for here as the CLI does
            for _ in range(1000):
                if client.writes_in_flight == 0:
                    break
                time.sleep(0.01)
            assert client.writes_in_flight == 0
            cached = cache.get(request("slow"))
            assert cached is not None and cached.text == "kept"
            busy = [body for body in server.requests if user_prompt(body) == "busy"]
            assert len(busy) == 1  # not retried
            assert inner.usage.n_interrupted == 1 and inner.usage.n_retries == 0
        finally:
            release.set()
            held.set()

def test_an_abort_while_a_connection_opens_stops_the_request_before_it_is_sent(monkeypatch):
    # abort() shuts down the sockets of the open connections; one registered but not
    # yet connected had no socket to shut down, so its request was sent and waited for
    # the whole timeout although the call was abandoned
    import http.client

    with LocalChatServer(lambda body: Reply("late", delay=20)) as server:
        client = client_for(server, timeout=10.0, max_retries=3)
        connect = http.client.HTTPConnection.connect
        # (not timed: a request sent is one the server has, however fast the machine)

        def abort_then_connect(self):
            client.abort()  # Ctrl-C just before the socket exists
            connect(self)

        monkeypatch.setattr(http.client.HTTPConnection, "connect", abort_then_connect)
        with pytest.raises(LLMError, match="abandoned"):
            client.complete(request())
        assert not server.requests  # never sent
        assert (client.usage.n_interrupted, client.usage.n_retries) == (1, 0)


def test_ctrl_c_counts_the_requests_in_flight_as_interrupted_and_a_rerun_resumes(tmp_path):
    # the requests Ctrl-C abandoned were counted as failed ("LLM usage: ... 2 failed"),
    # as if the endpoint had refused them; they are interrupted, and the answers that
    # had arrived are in the cache, so a rerun asks only for the others
    slow_arrived, fast_done = threading.Event(), threading.Event()

    def behaviour(body):
        if user_prompt(body) == "slow":
            slow_arrived.set()
            return Reply("late", delay=20)
        return "quick"

    with LocalChatServer(behaviour) as server:
        inner = client_for(server, timeout=10.0, max_retries=3)
        cached = CachedClient(inner, ResponseCache(tmp_path / "cache.sqlite"))

        class Interrupted:  # Ctrl-C once one answer is in and one request hangs
            model, usage = inner.model, inner.usage

            def __init__(self):
                self.inner = cached

            def complete(self, chat):
                if user_prompt(chat.payload()) == "stop":
                    slow_arrived.wait(60)
                    fast_done.wait(60)
                    raise KeyboardInterrupt
                try:
                    return cached.complete(chat)
                finally:
                    if user_prompt(chat.payload()) == "fast":
                        fast_done.set()

        with pytest.raises(KeyboardInterrupt):
            complete_all(Interrupted(), [request("stop"), request("fast"), request("slow")],
                         n_workers=3)
        # counted by the time complete_all has stopped, for the summary printed next
        assert (inner.usage.n_interrupted, inner.usage.n_failed) == (1, 0)
        assert inner.usage.n_requests == 1
        assert "0 failed, 1 interrupted" in inner.usage.summary()
        assert inner.usage.to_dict()["interrupted"] == 1
        sent = len(server.requests)
        server.behaviour = lambda body: "fine"
        again = CachedClient(client_for(server), ResponseCache(tmp_path / "cache.sqlite"))
        answers = complete_all(again, [request("fast"), request("slow")], n_workers=2)
    assert [a.text for a in answers] == ["quick", "fine"]
    assert again.usage.n_cached == 1 and len(server.requests) == sent + 1


def test_an_abort_while_the_connection_attempt_hangs_returns_at_once():
    # abort() shuts down the sockets of the open connections, but the socket of a
    # connect still waiting for an answer (a blackholed host, a server whose backlog is
    # full) did not exist for it yet: the call waited the whole timeout to stop
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    try:
        for _ in range(16):  # fill the accept queue: further connects get no answer
            probe = socket.socket()
            probe.settimeout(0.5)
            try:
                probe.connect(address)
            except TimeoutError:
                probe.close()
                break
            except OSError as exc:
                probe.close()
                pytest.skip(f"this system refuses connects to a full backlog ({exc})")
            fillers.append(probe)
        else:
            pytest.skip("this system accepts every connect to a full backlog")
        # a timeout no machine comes near; the test waits a minute at most for the
        # call to end, a bound that only a call waiting for the timeout hits
        client = OpenAIChatClient(f"http://127.0.0.1:{address[1]}/v1", "m", timeout=300.0,
                                  max_retries=3)
        worker, errors = _complete_in_thread(client)
        time.sleep(0.5)  # the connect is waiting
        client.abort()
        worker.join(60)
        assert not worker.is_alive()  # not the 300 s timeout
        assert len(errors) == 1 and "abandoned" in str(errors[0])
        assert client.usage.n_interrupted == 1 and client.usage.n_retries == 0
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


def _hold_write_lock(path, seconds):
    """Another connection (as another process would) writing ``path`` for ``seconds``."""
    import sqlite3
    import threading

    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE IF NOT EXISTS other (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO other VALUES (1)")

    def release():
        holder.execute("COMMIT")
        holder.close()

    timer = threading.Timer(seconds, release)
    timer.start()
    return timer


def test_a_new_cache_another_process_is_creating_waits_for_it(tmp_path):
    # two runs started together on one new cache: switching to WAL found the other's
    # lock and failed at once, calling the cache "not a usable SQLite cache"
    path = tmp_path / "cache.sqlite"
    timer = _hold_write_lock(path, 0.5)
    try:
        cache = ResponseCache(path)
    finally:
        timer.join()
    cache.put(request("a"), ChatResponse(text="x"))
    assert cache.get(request("a")).text == "x"
    journal = cache._connection().execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


class _BusyAtFirst(ResponseCache):
    """A response cache whose first connections meet an extended "busy" code, as SQLite
    answers while another process recovers the write-ahead log (SQLITE_BUSY_RECOVERY)."""

    busy_left = 2

    def _connection(self):
        import sqlite3

        if self.busy_left:
            self.busy_left -= 1
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = sqlite3.SQLITE_BUSY_RECOVERY
            error.sqlite_errorname = "SQLITE_BUSY_RECOVERY"
            raise error
        return super()._connection()


def test_a_new_cache_busy_with_an_extended_code_waits_too(tmp_path):
    # the WAL setup compared the whole code with SQLITE_BUSY: SQLITE_BUSY_RECOVERY
    # (another process recovering the log) called the cache "not a usable SQLite cache"
    cache = _BusyAtFirst(tmp_path / "cache.sqlite")
    assert cache.busy_left == 0
    cache.put(request("a"), ChatResponse(text="x"))
    assert cache.get(request("a")).text == "x"


def test_a_cache_locked_for_too_long_says_so_not_unusable(tmp_path, monkeypatch):
    from tagsmith.labeling import cache as cache_module

    monkeypatch.setattr(cache_module, "LOCK_TIMEOUT", 0.2)
    path = tmp_path / "cache.sqlite"
    timer = _hold_write_lock(path, 1.0)
    try:
        with pytest.raises(DataError, match="locked by another process") as error:
            ResponseCache(path)
    finally:
        timer.join()
    assert str(path) in str(error.value) and "not a usable" not in str(error.value)


def test_a_reply_without_text_or_usage_bills_its_prompt_as_estimated():
    """An answer without ``usage`` has its tokens estimated, so costs count it; a reply
    without text (a refusal, a reasoning model out of tokens) that also lacked
    ``usage`` cost nothing however often it came, though its prompt was billed."""
    import json

    empty = json.dumps({"choices": [{"message": {"role": "assistant",
                                                 "content": None}}]}).encode()
    prompt = "a fairly long prompt " * 50
    replies = iter([Reply(raw=empty), Reply(raw=empty), Reply(raw=b"<html>busy</html>")])
    with LocalChatServer(lambda body: next(replies)) as server:
        client = client_for(server, max_retries=2, price_prompt=10.0)
        with pytest.raises(LLMError, match="no answer after 3 tries"):
            client.complete(request(prompt))
    usage = client.usage
    # the two completions are billed (about 260 tokens each); the error page is not
    assert usage.prompt_tokens == 2 * prompt_estimate(prompt) > 500
    assert usage.cost == pytest.approx(usage.prompt_tokens * 10.0 / 1e6)
    assert usage.n_failed == 1 and usage.n_requests == 0


def test_a_cache_write_locked_for_too_long_names_the_cache(tmp_path, monkeypatch, caplog):
    # another process holds the write lock while a run stores an answer: the bare
    # sqlite3.OperationalError escaped complete_all's worker as a traceback, naming no
    # file; then a DataError naming it ended the run, the answer paid for lost. Now the
    # answer is used, and one warning names the cache
    import sqlite3

    from tagsmith.labeling import cache as cache_module

    monkeypatch.setattr(cache_module, "LOCK_TIMEOUT", 0.2)
    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with LocalChatServer(lambda body: "answer") as server:
        cached = CachedClient(client_for(server), cache)
        try:
            with caplog.at_level("WARNING", logger="tagsmith"):
                answers = complete_all(cached, [request("a"), request("b")], n_workers=2)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert [a.text for a in answers] == ["answer", "answer"]
        warnings = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
        assert len(warnings) == 1 and "locked by another process" in warnings[0]
        assert cached.write_failed and cache.get(request("a")) is None
        # once the lock is gone, the cache works again (for a run that starts afresh)
        CachedClient(client_for(server), cache).complete(request("a"))
    assert cache.get(request("a")).text == "answer"


def test_a_damaged_cache_row_is_a_clear_error_naming_the_cache(tmp_path):
    # a row whose text is not UTF-8 (a damaged page, another program's writes): the
    # run died with "sqlite3.OperationalError: Could not decode to UTF-8" and a traceback
    import sqlite3

    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    cache.put(request("a"), ChatResponse(text="fine"))
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE responses SET text = CAST(x'33ff80' AS TEXT)")
    with LocalChatServer(lambda body: "answer") as server:
        cached = CachedClient(client_for(server), cache)
        with pytest.raises(DataError, match="not a usable SQLite cache.*delete it") as error:
            complete_all(cached, [request("a")])
        assert not server.requests
    assert str(path) in str(error.value)


@pytest.mark.parametrize("schema", [
    # a view that never ends: get() scanned it for ever, and the run could not be
    # stopped (a kill waited for the cache's thread)
    "CREATE VIEW responses(key, model, request, text, prompt_tokens, completion_tokens,"
    " created) AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n)"
    " SELECT CAST(x AS TEXT), 'm', 'r', 't', 1, 1, x FROM n",
    # a trigger runs SQL the file's author chose on every write
    "CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL,"
    " text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
    " created REAL NOT NULL); CREATE TABLE other (x); CREATE TRIGGER t AFTER INSERT ON"
    " responses BEGIN INSERT INTO other VALUES (new.text); END",
    # other columns: get() failed on the first request, after the run had started
    "CREATE TABLE responses (key TEXT PRIMARY KEY, answer TEXT)",
    # the same in capitals (the table get() reads), a virtual table, a generated column
    "CREATE TABLE RESPONSES (key TEXT PRIMARY KEY, answer TEXT)",
    # the table of the malformed answers a budget run keeps, of other columns: its
    # first malformed answer failed to be kept, after the run had started
    "CREATE TABLE kept_malformed (key TEXT PRIMARY KEY, answer TEXT)",
    # the table of the models served, of other columns: the first answer's note failed
    "CREATE TABLE served (model TEXT PRIMARY KEY, x TEXT)",
    # the table of the notes of the endpoint (several models, the model list)
    "CREATE TABLE endpoint_notes (model TEXT, kind TEXT, x TEXT)",
    "CREATE VIRTUAL TABLE responses USING fts5(key, model, request, text, prompt_tokens,"
    " completion_tokens, created)",
    "CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL,"
    " text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
    " created REAL NOT NULL, extra TEXT GENERATED ALWAYS AS (upper(text)) STORED)",
])
def test_a_cache_of_another_schema_is_refused_before_it_is_read(tmp_path, schema):
    import sqlite3

    path = tmp_path / "cache.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(schema)
    connection.close()
    with pytest.raises(DataError, match="not a tagsmith response cache") as error:
        ResponseCache(path)
    assert str(path) in str(error.value)
    with pytest.raises(DataError, match="not a tagsmith response cache"):
        check_cache_path(path)


def test_a_cache_below_a_folder_that_cannot_be_looked_into_is_refused_naming_it(
        tmp_path, monkeypatch):
    """check_cache_path and ResponseCache asked is_dir() (exists()) of the cache, which
    on Python 3.11 raise the PermissionError of a folder above that may not be looked
    into: a traceback. os.stat is made to refuse as such a folder would (root passes)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    refuse_stat_below(monkeypatch, locked)
    said = "is a path that cannot be looked at (permission denied)"
    for check in (check_cache_path, ResponseCache):
        with pytest.raises(DataError, match=re.escape(f"{locked / 'c.sqlite'}: {said}")):
            check(locked / "c.sqlite")
    with pytest.raises(DataError, match="is a directory, expected an SQLite cache file"):
        ResponseCache(locked)
    assert not any(locked.iterdir())


class _TrickleServer:
    """A chat endpoint on 127.0.0.1 that sends its (valid) answer a byte at a time,
    ``pause`` seconds apart, after ``padding`` spaces: never silent for a whole
    timeout, yet slower than one in all. With ``headers``, its status line and headers
    (the padding in one of them) are what it sends a byte at a time (the body goes at
    once)."""

    def __init__(self, padding=40, pause=0.1, headers=False):
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        answer = json.dumps({"choices": [{"message": {"role": "assistant", "content": "ok"}}],
                             "usage": {"prompt_tokens": 3, "completion_tokens": 1}}).encode()
        payload = answer if headers else b" " * padding + answer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if headers:
                    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            + (b"X-Padding: %s\r\n" % (b"x" * padding) if padding else b"")
                            + b"Content-Length: %d\r\n\r\n" % len(payload))
                    try:
                        for i in range(len(head)):
                            self.wfile.write(head[i:i + 1])
                            self.wfile.flush()
                            time.sleep(pause)
                        self.wfile.write(payload)
                    except OSError:  # the client gave up
                        self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    for i in range(padding):
                        self.wfile.write(payload[i:i + 1])
                        self.wfile.flush()
                        time.sleep(pause)
                    self.wfile.write(payload[padding:])
                except OSError:  # the client gave up
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True,
                         kwargs={"poll_interval": 0.05}).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("slow, within", [
    # the timeout bounded each read from the socket, not the request: a server sending
    # its reply a byte at a time (a gateway padding with whitespace, a stalled proxy)
    # held a request with --timeout 0.5 for the 4 s it took, and one trickling forever
    # held the run forever
    ({"padding": 600, "pause": 0.1}, ({"padding": 3, "pause": 0.05}, 10.0)),
    # then only the body was read by the request's deadline: getresponse read the status
    # line and headers with the socket's timeout for each read, so a server sending them
    # a byte at a time (70 bytes, 0.1 s apart) held a request with --timeout 0.5 for 7 s
    ({"padding": 600, "pause": 0.1, "headers": True},
     ({"padding": 0, "pause": 0.005, "headers": True}, 10.0)),
], ids=["body", "headers"])
def test_a_reply_sent_slowly_times_out_after_the_timeout_in_all(slow, within):
    # the slow replies take a minute or more: the half-minute bound is one that only a
    # request not cut at its 0.5 s deadline reaches, however loaded the machine
    with _TrickleServer(**slow) as server:
        client = OpenAIChatClient(server.base_url, "m", timeout=0.5, max_retries=0)
        start = time.monotonic()
        with pytest.raises(LLMError, match=r"timed out after 0\.5 s"):
            client.complete(request())
        assert time.monotonic() - start < 30
    assert client.usage.n_failed == 1
    server_params, timeout = within  # slow, but within the timeout
    with _TrickleServer(**server_params) as server:
        client = OpenAIChatClient(server.base_url, "m", timeout=timeout, max_retries=0)
        assert [client.complete(request()).text for _ in range(2)] == ["ok", "ok"]


def test_a_redirect_is_not_followed_and_stops_the_batch_naming_where_it_points(monkeypatch):
    # a redirect (http:// for an https:// API, a moved path) answers every request
    # alike, but each document failed on its own with "HTTP 308: " and an empty body,
    # never saying where it pointed, until 10 in a row stopped the run
    monkeypatch.setenv("OPENAI_API_KEY", "sk-redirect-secret")
    target = "https://user:pw@other.example:8443/v1/chat/completions?token=abc"
    echoed = "http://127.0.0.1:1/sk-redirect-secret/v1"  # a server quoting the key
    with LocalChatServer(lambda body: Reply(status=308, headers={"Location": target},
                                            raw=b"")) as server:
        with pytest.raises(LLMConfigError) as info:
            complete_all(client_for(server), [request(str(i)) for i in range(50)], n_workers=1)
    message = str(info.value)
    assert "HTTP 308" in message and "https://other.example:8443/v1/chat/completions" in message
    assert "not followed" in message and "--base-url" in message
    for secret in ("pw", "token", "abc", "sk-redirect-secret"):
        assert secret not in message
    assert len(server.requests) <= 2  # not followed, not retried, the batch stopped
    with LocalChatServer(lambda body: Reply(status=302, headers={"Location": echoed})) \
            as server:
        with pytest.raises(LLMConfigError, match=r"127\.0\.0\.1:1/\[API key\]/v1") as info:
            client_for(server).complete(request())
    assert "sk-redirect-secret" not in str(info.value)


def test_an_absurd_token_count_is_estimated_and_the_answer_cached(tmp_path):
    # a count no request can have (here 10**23) was taken as reported: the cache could
    # not store it (OverflowError out of a worker thread: the run crashed and the
    # answer just paid for was lost) and the cost shown was astronomical
    body = (b'{"choices": [{"message": {"role": "assistant", "content": "ok"}}], '
            b'"usage": {"prompt_tokens": 100000000000000000000000, "completion_tokens": 7}}')
    with LocalChatServer(lambda b: Reply(raw=body)) as server:
        client = CachedClient(client_for(server), ResponseCache(tmp_path / "c.sqlite"))
        [answer] = complete_all(client, [request("a prompt of a few words")])
    assert answer.text == "ok" and answer.completion_tokens == 7
    assert answer.prompt_tokens == prompt_estimate("a prompt of a few words")
    assert client.usage.prompt_tokens == answer.prompt_tokens
    assert client.cache.get(request("a prompt of a few words")).text == "ok"


class _ReadOnlyCache(ResponseCache):
    """A response cache whose file turns read-only once it is open (as a full disk or a
    remounted volume does): every write fails in SQLite, reads still work."""

    def _connection(self):
        connection = super()._connection()
        if getattr(self, "read_only", False):
            connection.execute("PRAGMA query_only = ON")
        return connection


def test_answers_paid_for_are_used_when_the_cache_cannot_store_them(tmp_path, caplog):
    # a failed write raised DataError in a worker thread: the run ended, and every
    # answer received so far (paid for, not stored) was lost with it
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.client import ScriptedLLM
    from tagsmith.labeling.labeler import label_documents

    cache = _ReadOnlyCache(tmp_path / "cache.sqlite")
    cache.read_only = True
    cache.close()  # the next connection is read-only
    with pytest.raises(DataError, match="readonly"):  # the failure is a real one
        cache.put(request("probe"), ChatResponse("x", 1, 1))
    answers = {"a": "joy", "b": "anger", "c": "[", "d": "joy"}  # c: malformed, discarded

    def responder(req):
        text = req.messages[-1]["content"]
        name = next(answers[k] for k in answers if f"text {k}" in text)
        return f'{{"labels": [{{"label": "{name}", "confidence": 0.9}}]}}'
    llm = ScriptedLLM(responder)
    client = CachedClient(llm, cache)
    space = LabelSpace.from_uris(["u:joy", "u:anger"], names={"u:joy": "joy",
                                                              "u:anger": "anger"})
    with caplog.at_level("WARNING", logger="tagsmith"):
        result = label_documents([f"text {k}" for k in answers], space, client)
    assert llm.usage.n_requests == 4 and client.write_failed
    assert result.answered.tolist() == [True, True, False, True]
    assert result.Y.toarray().astype(float).round(2).tolist() == [[0.9, 0], [0, 0.9], [0, 0],
                                                                  [0.9, 0]]
    warnings = [r.getMessage() for r in caplog.records if "response cache" in r.getMessage()]
    assert len(warnings) == 1 and str(tmp_path / "cache.sqlite") in warnings[0]


def test_a_write_failing_once_writes_were_abandoned_still_warns_each_reason(tmp_path, caplog):
    """Once a stopped run abandoned its writes (Ctrl-C twice), a write that failed for
    another reason (the cache made read-only, a full disk) was lost without a word, as
    was one failing for a new reason after a first warning: one warning per reason."""
    from tagsmith.labeling.cache import ABANDONED
    from tagsmith.labeling.client import ScriptedLLM

    path = tmp_path / "cache.sqlite"
    cache = _ReadOnlyCache(path)
    cached = CachedClient(ScriptedLLM(lambda req: "answer"), cache)
    cached.abandon_writes()
    cache.read_only = True
    cache.close()  # the next connection is read-only

    def fail(reason):
        def write():
            raise DataError(reason, path=path)
        return write

    with caplog.at_level("WARNING", logger="tagsmith"):
        assert cached.complete(request("a")).text == "answer"  # a real failure
        assert cached.write_failed
        # writes already under way when it failed: the same reason says nothing new, a
        # write left on purpose nothing at all, another reason is said
        assert cached.store(lambda: cache.put(request("b"), ChatResponse("x"))) is None
        assert cached.store(fail(ABANDONED)) is None
        assert cached.store(fail("database or disk is full")) is None
    warnings = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert "readonly" in warnings[0] and "disk is full" in warnings[1]
    assert cached.n_unsaved == 1 and cache.get(request("a")) is None


@pytest.mark.parametrize("stored, then, stopping, said", [
    # stored before the cache turned read-only: a (and b); then a cache hit, and one
    # request asked twice whose answer could not be stored
    (["a", "b"], ["a", "c", "c"], ["fail"],
     "the one request of this batch was not answered; of the 3 answers received before "
     "it, 2 are in the response cache and 1 could not be saved in it: a rerun asks for "
     "that one again"),
    ([], ["c", "c", "d"], ["fail", "fail2"],
     "none of the 2 requests of this batch was answered; the 2 answers received before "
     "it could not be saved in the response cache: a rerun asks for them again"),
    (["a", "bad"], ["c"], ["fail"],
     "the one request of this batch was not answered; of the 3 answers received before "
     "it, 1 is in the response cache, 1 was malformed, dropped from it, and 1 could not "
     "be saved in it: a rerun asks for those 2 again"),
    (["bad"], ["c"], ["fail"],
     "the one request of this batch was not answered; the 2 answers received before it "
     "are not in the response cache (1 malformed, 1 not saved): a rerun asks for them "
     "again"),
    # answers in the stopping batch: counted with those before it
    (["a", "b"], [], ["a", "c", "fail"],
     "of the 3 answers received so far, 2 are in the response cache and 1 could not be "
     "saved in it: a rerun asks for that one again"),
])
def test_a_stopping_run_whose_cache_writes_failed_counts_what_the_cache_holds(
        tmp_path, stored, then, stopping, said):
    # "the 5 answers received before it are not cached: a rerun asks for them again":
    # once a write had failed, the usage counts (an answer asked twice counted twice,
    # cache hits too) were all called not cached, though the cache held those stored
    # before the failure and those replayed from it
    def behaviour(body):
        text = user_prompt(body)
        return Reply("down", status=503) if text.startswith("fail") else text

    with LocalChatServer(behaviour) as server:
        cache = _ReadOnlyCache(tmp_path / "cache.sqlite")
        cached = CachedClient(client_for(server, max_retries=0), cache)
        checks = {request("bad").cache_key(): lambda text: False}
        complete_all(DropMalformed(cached, checks), [request(t) for t in stored],
                     n_workers=1)
        cache.read_only = True
        cache.close()  # the next connection is read-only
        complete_all(cached, [request(t) for t in then], n_workers=1)
        with pytest.raises(LLMError) as caught:
            complete_all(DropMalformed(cached, checks), [request(t) for t in stopping],
                         n_workers=1, max_consecutive_failures=1)
    assert cached.write_failed and cached.n_unsaved >= 1
    assert f"({said})" in str(caught.value), caught.value


def test_usage_and_stopping_messages_agree_with_their_counts():
    from tagsmith.labeling.client import Usage

    usage = Usage()
    for _ in range(5):
        usage.count("failed")
    # "0 calls, ..., 5 failed": the calls counted are those answered
    assert usage.summary().startswith("0 answered calls, 0 cached, 0 retries, 5 failed, ")
    assert usage.to_dict()["requests"] == 0 and usage.to_dict()["failed"] == 5
    usage = Usage()
    usage.add(ChatResponse("x", prompt_tokens=1, completion_tokens=0))
    usage.count("retry")
    assert usage.summary().startswith("1 answered call, 0 cached, 1 retry, 0 failed, 1 token, ")
    usage.add(ChatResponse("x", prompt_tokens=1, completion_tokens=1))
    usage.count("retry")
    assert usage.summary().startswith("2 answered calls, 0 cached, 2 retries, 0 failed, 3 tokens, ")
    with LocalChatServer(lambda body: Reply("down", status=503)) as server:
        with pytest.raises(LLMError, match="^1 request in a row failed"):
            complete_all(client_for(server, max_retries=0), [request("a"), request("b")],
                         n_workers=1, max_consecutive_failures=1)


def test_the_progress_postfix_counts_the_passs_own_calls(caplog):
    """The bar counts one pass's requests, but its "calls" postfix was the client's
    whole usage: "3/3 calls ... calls 5" after an earlier pass (a human sample's) of 2."""
    from tagsmith.labeling.client import ScriptedLLM

    client = ScriptedLLM(lambda request: "ok")
    complete_all(client, [request("a"), request("b")], show_progress=False)
    with caplog.at_level("INFO", logger="tagsmith"):
        complete_all(client, [request("c"), request("d"), request("e")], desc="second pass",
                     show_progress=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("second")]
    # "answered", as the usage line says: "3/3 calls (100%) calls 3 cached 0" said
    # "calls" twice, of two counts (every call of the bar, then those not cached)
    # no price given: 'cost 0.0000' read as free, the cost is unknown
    assert lines[-1] == "second pass: 3/3 calls (100%) answered 3 cached 0"
    assert client.usage.n_requests == 5  # the run's total, as the summary's usage says


@contextmanager
def _locked_by_another_process(path):
    """Within the block another connection (as another process would) holds the write
    lock of the SQLite cache at ``path``; released and closed afterwards."""
    import sqlite3

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.fixture
def long_lock_timeout(monkeypatch):
    """The cache's lock timeout (60 s) set to 2 minutes: a wait that the fix ends at
    once is checked against a bound (a minute) that no loaded machine reaches, and that
    only a wait out to the lock timeout passes."""
    from tagsmith.labeling import cache as cache_module

    monkeypatch.setattr(cache_module, "LOCK_TIMEOUT", 120.0)


def _wait_until_a_write_waits(cached, check=True):
    """Wait (30 s at most) until one of ``cached``'s writes waits for the cache's lock;
    ``check``: assert that one does (off on a thread other than the test's)."""
    deadline = time.monotonic() + 30
    while not cached.writes_in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    if check:
        assert cached.writes_in_flight == 1


def _start_a_waiting_write(cached):
    """Start a thread asking ``cached`` for request "a" and wait until its answer waits
    to be stored (the cache's lock held by another process); the thread."""
    worker = threading.Thread(target=cached.complete, args=(request("a"),))
    worker.start()
    _wait_until_a_write_waits(cached)
    return worker


def test_a_write_waiting_for_a_lock_is_counted_and_can_be_abandoned(tmp_path, caplog,
                                                                    long_lock_timeout):
    """An answer waiting to be stored while another process holds the cache's lock kept
    a stopped run alive up to the lock timeout (60 s, SQLite's own wait, which nothing
    could cut short), and once it failed nothing counted the answers lost. The wait is
    visible (writes_in_flight), ends at once on abandon_writes, and the answer is
    counted in n_unsaved, with no warning that the run goes on."""
    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    with _locked_by_another_process(path):
        with LocalChatServer(lambda body: "answer") as server:
            cached = CachedClient(client_for(server), cache)
            answers = []
            worker = threading.Thread(target=lambda: answers.append(
                cached.complete(request("a"))))
            with caplog.at_level("WARNING", logger="tagsmith"):
                worker.start()
                _wait_until_a_write_waits(cached)
                assert not cached.wait_for_writes(0.3)  # held by the lock
                cached.abandon_writes()
                assert cached.wait_for_writes(60)  # not the lock timeout
                worker.join(60)
    assert [a.text for a in answers] == ["answer"]  # paid for: still used
    assert cached.n_unsaved == 1 and cached.write_failed
    assert cache.get(request("a")) is None
    assert not [r for r in caplog.records if str(path) in r.getMessage()]


def test_ctrl_c_during_a_write_waiting_for_a_lock_counts_the_answer_lost(ctrl_c_raises, tmp_path,
                                                                          capsys,
                                                                          long_lock_timeout):
    """Ctrl-C reaching the thread whose write waits for another process's lock (the
    taxonomy's steps store their answers on the main thread) lost the answer without
    counting it in n_unsaved, so the stopped run said it was kept; and it left the
    write's transaction open on that thread's connection. The closing lines say that
    one answer is lost and the others are kept (not "the answers ... are kept")."""
    import _thread

    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)

    def interrupt_once_waiting():
        _wait_until_a_write_waits(cached, check=False)
        time.sleep(0.35)  # a few tries of the write
        _thread.interrupt_main()

    with _locked_by_another_process(path):
        with LocalChatServer(lambda body: "answer") as server:
            cached = CachedClient(client_for(server), cache)
            interrupter = threading.Thread(target=interrupt_once_waiting)
            interrupter.start()
            started = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                cached.complete(request("a"))
            interrupter.join(60)
            assert time.monotonic() - started < 60  # not the lock timeout
    assert cached.n_unsaved == 1 and cached.writes_in_flight == 0
    assert cache.get(request("a")) is None
    assert not cache._connection().in_transaction

    from tagsmith.cli.llm_commands import _stopped

    _stopped(cached, str(path), KeyboardInterrupt())
    lines = capsys.readouterr().err.splitlines()
    assert lines[1:] == [
        f"1 answer received could not be saved in the response cache {path} and is lost: "
        "a rerun pays for it again",
        "to resume, run the same command again: the other answers received so far are "
        f"kept in the response cache {path} and are not paid for again"], lines


def test_a_second_ctrl_c_soon_after_the_first_leaves_the_waiting_writes(ctrl_c_raises, tmp_path,
                                                                        capsys,
                                                                        long_lock_timeout):
    """A stopped run waits quietly a moment (SAVE_GRACE) for its answers to be stored
    before saying that another process holds the cache's lock; Ctrl-C twice in quick
    succession landed in that quiet wait, escaped it without abandoning the writes, and
    the run then hung silently up to the lock timeout (60 s) at exit, the answers lost
    without a word. That second Ctrl-C leaves them too."""
    import _thread

    from tagsmith.cli.llm_commands import SAVE_GRACE, _wait_for_saves

    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    with _locked_by_another_process(path):
        with LocalChatServer(lambda body: "answer") as server:
            cached = CachedClient(client_for(server), cache)
            worker = _start_a_waiting_write(cached)
            timer = threading.Timer(SAVE_GRACE / 4, _thread.interrupt_main)
            timer.start()
            started = time.monotonic()
            _wait_for_saves(cached, str(path))  # the second Ctrl-C, within the grace
            timer.join(60)
            worker.join(60)
            assert time.monotonic() - started < 60  # not the lock timeout
    assert cached.writes_in_flight == 0 and cached.n_unsaved == 1
    assert cache.get(request("a")) is None


def _stop_while_a_write_waits_for_a_lock(tmp_path, stopped_by, release_after):
    """A cached client's one answer waiting for another process's lock on the cache,
    the run stopped by ``stopped_by`` (the exception ``_stopped`` is given) and the lock
    released ``release_after`` seconds into the stop; ``(path, cache, cached)``."""
    import sqlite3

    from tagsmith.cli.llm_commands import _stopped

    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(release_after, lambda: holder.execute("ROLLBACK"))
    try:
        with LocalChatServer(lambda body: "answer") as server:
            cached = CachedClient(client_for(server), cache)
            worker = _start_a_waiting_write(cached)
            release.start()
            _stopped(cached, str(path), stopped_by)
            assert cached.writes_in_flight == 0  # stored before the run ends
            worker.join(60)
    finally:
        release.join(60)
        holder.close()
    return path, cache, cached


def test_a_run_stopped_by_a_failure_waits_for_its_answers_being_stored(tmp_path, capsys):
    """A run that a failure stopped (the endpoint down: an LLMError) while another
    process held the cache's lock printed its usage and ended, then hung silently at
    exit for the answers being stored, which its message had called cached; it says
    that it waits for them, as a run stopped by Ctrl-C does."""
    from tagsmith.cli.llm_commands import SAVE_GRACE

    path, cache, cached = _stop_while_a_write_waits_for_a_lock(
        tmp_path, LLMError("5 requests in a row failed; stopping"), SAVE_GRACE + 1.0)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (f"saving 1 answer to {path}: it is locked by another process, "
                        "waiting up to 60 s; Ctrl-C to leave them"), lines
    assert lines[1].startswith("LLM usage: 1 answered call") and len(lines) == 2, lines
    assert cache.get(request("a")).text == "answer" and cached.n_unsaved == 0


def test_ctrl_c_does_not_wait_the_abort_grace_for_a_call_that_began_storing(ctrl_c_raises,
                                                                            tmp_path,
                                                                            monkeypatch,
                                                                            long_lock_timeout):
    """Once interrupted, complete_all waits (ABORT_GRACE, 5 s) for the calls it aborted,
    but not for those only storing their answer; it looked again only when a call
    ended, so a call that began a write after it looked (here: dropping a malformed
    answer, while another process holds the cache's lock) kept it waiting the whole
    grace, silently, before the run could say why it waits."""
    import signal
    import sqlite3

    from tagsmith.labeling import client as client_module
    from tagsmith.labeling.cache import DropMalformed
    from tagsmith.labeling.client import complete_all

    # a grace (and lock timeout) of 2 minutes, against a bound of a minute that only a
    # wait for the grace reaches: 5 s against 3 s, a loaded runner could miss
    monkeypatch.setattr(client_module, "ABORT_GRACE", 120.0)

    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    checking = threading.Event()

    def malformed(text):  # the lock is taken once the answer is stored
        holder.execute("BEGIN IMMEDIATE")
        checking.set()
        time.sleep(0.6)
        return False

    sent = []

    def interrupt():
        checking.wait(60)
        sent.append(time.monotonic())
        # Ctrl-C, to the main thread: os.kill's may be taken by another thread, and the
        # main thread's wait (a lock) then ends only with the worker, 120 s later
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    with LocalChatServer(lambda body: "answer") as server:
        cached = CachedClient(client_for(server), cache)
        client = DropMalformed(cached, {request("a").cache_key(): malformed})
        interrupter = threading.Thread(target=interrupt)
        interrupter.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                complete_all(client, [request("a")], n_workers=1)
            stopped = time.monotonic()
            interrupter.join(60)
            assert checking.is_set() and sent
            assert stopped - sent[0] < 60  # the check's 0.6 s, not the grace
        finally:
            if holder.in_transaction:
                holder.execute("ROLLBACK")
            assert cached.wait_for_writes(10)
            holder.close()



def test_closing_the_cache_makes_a_write_waiting_for_a_lock_give_up(tmp_path, caplog,
                                                                    monkeypatch,
                                                                    long_lock_timeout):
    """close() waits for the operation under way on each thread's connection; a write
    waiting for another process's lock held it up to the lock timeout (60 s). Once
    CLOSE_GRACE has passed the write gives up, its answer counted unsaved and the
    reason said."""
    from tagsmith.labeling import cache as cache_module
    from tagsmith.labeling.client import ScriptedLLM

    monkeypatch.setattr(cache_module, "CLOSE_GRACE", 0.2, raising=False)
    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    with _locked_by_another_process(path):
        cached = CachedClient(ScriptedLLM(lambda chat: "answer"), cache)
        with caplog.at_level("WARNING", logger="tagsmith"):
            worker = _start_a_waiting_write(cached)
            closer = threading.Thread(target=cache.close)
            closer.start()
            closer.join(60)
            closed = not closer.is_alive()  # not the lock timeout (2 minutes)
            worker.join(60)
        assert closed and cached.writes_in_flight == 0 and cached.n_unsaved == 1
    assert "the cache was closed while it waited" in caplog.text
    assert cache.get(request("a")) is None  # and it opens afresh after close()
    cache.put(request("a"), ChatResponse(text="answer"))
    assert cache.get(request("a")).text == "answer"

@pytest.mark.parametrize("stopped_by, leave", [
    ("kill", "stop it again (kill or Ctrl-C)"), ("ctrl_c", "Ctrl-C again")])
def test_the_saving_line_says_how_to_leave_the_answers_as_the_run_was_stopped(
        ctrl_c_raises, tmp_path, capsys, stopped_by, leave):
    """A run stopped by ``kill`` (SIGTERM: ``timeout``, a scheduler) was told "Ctrl-C
    again to leave them", a key it was never stopped with."""
    from tagsmith.cli import Terminated
    from tagsmith.cli.llm_commands import SAVE_GRACE

    path, cache, cached = _stop_while_a_write_waits_for_a_lock(
        tmp_path, Terminated() if stopped_by == "kill" else KeyboardInterrupt(),
        SAVE_GRACE + 0.5)
    lines = capsys.readouterr().err.splitlines()
    # a kill waits 3 s at most (KILL_GRACE: docker stop kills after 10 s); the lock is
    # released here before that
    within = ("3 s (stopped by kill: then left, as docker stop and schedulers end a run "
              "for good soon after)" if stopped_by == "kill" else "60 s")
    assert lines[0] == (f"saving 1 answer to {path}: it is locked by another process, "
                        f"waiting up to {within}; {leave} to leave them"), lines
    assert cache.get(request("a")).text == "answer" and cached.n_unsaved == 0


@pytest.mark.parametrize("how", ["ctrl_c", "kill"])
def test_stopping_the_wait_after_a_failure_ends_as_an_interrupt(ctrl_c_raises, tmp_path, capsys,
                                                                how):
    """Ctrl-C in the wait for the answers being stored after a failure left them, but
    the run ended with the failure's exit code (6), not 130 as every other Ctrl-C (143
    for ``kill``): the KeyboardInterrupt is raised, after the answers left unsaved and
    the failure's message are said."""
    import signal
    import sqlite3

    from tagsmith.cli import Terminated, _terminate_as_interrupt
    from tagsmith.cli.llm_commands import SAVE_GRACE, _stopped

    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    sent = signal.SIGINT if how == "ctrl_c" else signal.SIGTERM
    stop = threading.Timer(SAVE_GRACE + 0.5, lambda: os.kill(os.getpid(), sent))
    failure = LLMError("5 requests in a row failed; stopping")
    try:
        with LocalChatServer(lambda body: "answer") as server, _terminate_as_interrupt():
            cached = CachedClient(client_for(server), cache)
            worker = _start_a_waiting_write(cached)
            stop.start()
            with pytest.raises(KeyboardInterrupt) as raised:
                _stopped(cached, str(path), failure)
            stop.join(60)
            worker.join(60)
    finally:
        # a signal the wait did not take must never reach the test runner afterwards
        stop.cancel()
        holder.execute("ROLLBACK")
        holder.close()
    assert isinstance(raised.value, Terminated) == (how == "kill")
    assert raised.value.__cause__ is failure
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("waiting up to 60 s; Ctrl-C to leave them"), lines
    assert lines[1].startswith("LLM usage: 1 answered call"), lines
    assert lines[2:] == [f"1 answer received could not be saved in the response cache "
                         f"{path} and is lost: a rerun pays for it again",
                         "error: 5 requests in a row failed; stopping"], lines
    assert cached.n_unsaved == 1 and cache.get(request("a")) is None


def test_a_third_ctrl_c_while_the_left_writes_end_still_says_the_closing_lines(
        ctrl_c_raises, tmp_path, capsys):
    """Ctrl-C, then Ctrl-C again to leave the answers waiting for another process's
    lock, then a third while the left writes were given up: the run ended (130, right)
    before saying its usage, the answer lost and how to resume. Once the user has asked
    to leave, further Ctrl-Cs are ignored until those lines are said; the handler the
    run had is put back afterwards."""
    import signal

    from tagsmith.cli.llm_commands import SAVE_GRACE, _stopped

    class ThirdCtrlCAsTheWritesAreLeft(CachedClient):
        def abandon_writes(self):
            os.kill(os.getpid(), signal.SIGINT)  # handled at once, on this (main) thread
            super().abandon_writes()

    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    second = threading.Timer(SAVE_GRACE + 0.5, lambda: signal.pthread_kill(
        threading.main_thread().ident, signal.SIGINT))
    escaped = []
    with _locked_by_another_process(path):
        with LocalChatServer(lambda body: "answer") as server:
            cached = ThirdCtrlCAsTheWritesAreLeft(client_for(server), cache)
            worker = _start_a_waiting_write(cached)
            second.start()
            try:
                _stopped(cached, str(path), KeyboardInterrupt())
            except KeyboardInterrupt:
                escaped.append(True)
            finally:
                second.cancel()  # never reaching the test runner
                second.join(60)
                worker.join(60)
    assert not escaped
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("waiting up to 60 s; Ctrl-C again to leave them"), lines
    assert lines[1].startswith("LLM usage: 1 answered call"), lines
    assert lines[2:] == [
        f"1 answer received could not be saved in the response cache {path} and is lost: "
        "a rerun pays for it again",
        "to resume, run the same command again: the response cache could not be written, "
        "so it asks again for the answers of this run that it does not hold"], lines
    assert cached.n_unsaved == 1 and cache.get(request("a")) is None



def test_ctrl_c_again_abandons_the_calls_in_flight_and_a_third_leaves_the_writes(
        ctrl_c_raises, tmp_path, capsys, long_lock_timeout):
    """The first Ctrl-C of a label run waits for the calls in flight (saying so); the
    second abandons them, as the first did before; a third then leaves the answers
    waiting for another process's lock, as the second did before."""
    import signal

    from tagsmith.cli.llm_commands import _stopped
    from tagsmith.labeling.cache import ABANDONED

    waiting = {"calls": threading.Event(), "writes": threading.Event()}

    seen: list = []

    class Seen(CachedClient):  # says when each wait it is stopped in begins
        def wait_for_calls(self, timeout=None):
            waiting["calls"].set()
            return super().wait_for_calls(timeout)

        def wait_for_writes(self, timeout=None):
            seen.append(timeout)
            if len(seen) > 1:  # said it waits: not the quiet wait before
                waiting["writes"].set()
            return super().wait_for_writes(timeout)

    def ctrl_c_when(what):
        if waiting[what].wait(60):  # to the main thread: another may take a process's
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    release, held = threading.Event(), threading.Event()

    def behaviour(body):
        if user_prompt(body) == "held":
            held.set()
            release.wait(600)
        return "answer"

    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    with _locked_by_another_process(path):
        with LocalChatServer(behaviour) as server:
            cached = Seen(client_for(server), cache, finish_on_interrupt=True)
            answers: list = []

            def ask(what):
                try:
                    answers.append(cached.complete(request(what)).text)
                except LLMError as exc:  # the held call, abandoned
                    answers.append(str(exc))

            workers = [threading.Thread(target=ask, args=(what,)) for what in ("a", "held")]
            for worker in workers:
                worker.start()
            _wait_until_a_write_waits(cached)
            assert held.wait(60)
            cached.finish()  # the first Ctrl-C, as complete_all takes it
            stops = [threading.Thread(target=ctrl_c_when, args=(what,))
                     for what in ("calls", "writes")]
            for stop in stops:
                stop.start()
            try:
                _stopped(cached, str(path), KeyboardInterrupt())
            finally:
                release.set()
                for thread in (*stops, *workers):
                    thread.join(60)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "waiting for 1 call in flight, up to 30 s; Ctrl-C again to abandon it", lines
    assert lines[1] == (f"saving 1 answer to {path}: it is locked by another process, "
                        "waiting up to 120 s; Ctrl-C again to leave them"), lines
    assert "1 interrupted" in lines[2], lines
    # left by the third Ctrl-C, not failed once the lock timeout (2 minutes) ran out
    assert cached._warned == {ABANDONED}, cached._warned
    assert cached.n_unsaved == 1 and cache.get(request("a")) is None
    assert sorted(answers)[0] == "answer" and "abandoned" in sorted(answers)[1], answers


def test_cached_client_keeps_one_entry_per_distinct_request(tmp_path):
    # it kept the cache key of every answer it stored in a second set, only to count the
    # ones dropped later; what it keeps now is one entry per distinct request (the exact
    # tally a stopped run's message counts from), none for a request asked again
    from tagsmith.labeling.cache import ResponseCache, discard_cached
    from tagsmith.labeling.client import CachedClient, ChatRequest, ScriptedLLM

    client = CachedClient(ScriptedLLM(lambda request: "{}"), ResponseCache(tmp_path / "c.db"))
    requests = [ChatRequest("m", ({"role": "user", "content": f"doc {i}"},))
                for i in range(300)]
    responses = [client.complete(request) for request in requests]
    for _ in range(100):
        client.complete(requests[0])
    sizes = {name: len(value) for name, value in vars(client).items()
             if isinstance(value, (set, dict, list, tuple))}
    assert sizes.pop("_answered") == 300, sizes
    assert max(sizes.values(), default=0) < 10, sizes
    # the answers dropped are still counted: this run's, not an older run's
    assert discard_cached(client, requests[0], responses[0]) and client.n_dropped == 1
    rerun = CachedClient(ScriptedLLM(lambda request: "{}"), ResponseCache(tmp_path / "c.db"))
    old = rerun.complete(requests[1])
    assert old.cached and discard_cached(rerun, requests[1], old) and rerun.n_dropped == 0


def test_a_cache_on_a_full_disk_says_so_not_unusable(tmp_path, caplog):
    # SQLite's SQLITE_FULL (a full disk or quota, a file size limit; here the page
    # limit of the connection, which SQLite reports alike) read "not a usable SQLite
    # cache (database or disk is full)", which sends a user to delete a cache that is fine
    from tagsmith.labeling.client import ScriptedLLM

    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    cache.put(request("kept"), ChatResponse(text="fine"))
    pages = cache._connection().execute("PRAGMA page_count").fetchone()[0]
    cache._connection().execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(DataError) as error:
        cache.put(request("big"), ChatResponse(text="x" * 100_000))
    assert str(error.value) == (f"{path}: its disk is full (database or disk is full); the "
                                "answers it holds are kept: free some space and run again")
    client = CachedClient(ScriptedLLM(lambda req: "answer"), cache)
    with caplog.at_level("WARNING", logger="tagsmith"):
        assert client.complete(request("b" * 100_000)).text == "answer"
    assert client.write_failed and client.n_unsaved == 1
    warnings = [r.getMessage() for r in caplog.records if "response cache" in r.getMessage()]
    assert len(warnings) == 1 and "its disk is full" in warnings[0], warnings
    assert cache.get(request("kept")).text == "fine"


def test_a_cache_past_the_file_size_limit_says_so_not_unusable(tmp_path, caplog):
    # 'ulimit -f': SQLite's unix VFS reports EFBIG as SQLITE_IOERR_WRITE ("disk I/O
    # error"), not SQLITE_FULL, so a label run whose cache grew past the limit warned
    # "not a usable SQLite cache (disk I/O error)", which sends a user to delete a cache
    # that is fine (Python ignores SIGXFSZ)
    import resource

    from tagsmith.labeling.client import ScriptedLLM

    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)
    cache.put(request("kept"), ChatResponse(text="fine"))
    files = [path, tmp_path / "cache.sqlite-wal", tmp_path / "cache.sqlite-shm"]
    limit = max(f.stat().st_size for f in files) + 20_000
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        with pytest.raises(DataError) as error:
            cache.put(request("big"), ChatResponse(text="x" * 100_000))
        client = CachedClient(ScriptedLLM(lambda req: "answer"), cache)
        with caplog.at_level("WARNING", logger="tagsmith"):
            assert client.complete(request("b" * 100_000)).text == "answer"
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert str(error.value) == (
        f"{path}: a write failed (disk I/O error) with this process's file size limit "
        f"('ulimit -f') at {limit:,} bytes, which the cache's files reach; the answers it "
        "holds are kept: raise the limit and run again")
    assert client.write_failed and client.n_unsaved == 1
    warnings = [r.getMessage() for r in caplog.records if "response cache" in r.getMessage()]
    assert len(warnings) == 1 and "file size limit" in warnings[0], warnings
    assert cache.get(request("kept")).text == "fine"


@pytest.mark.parametrize("stream", [False, True])
def test_an_error_in_an_http_200_reply_without_usage_bills_the_prompt_and_partial_text(stream):
    # an error object comes with HTTP 200 only once the model has started on the request
    # (OpenRouter): its prompt, and the text a stream sent before failing, were paid for
    # on every try, and were billed "tokens 0 0"
    error = {"error": {"message": "Provider disconnected", "code": 502}}
    raw = (('data: {"choices": [{"delta": {"content": "' + "x" * 400 + '"}}]}\n\n'
            f"data: {json.dumps(error)}\n\n") if stream else json.dumps(error))
    with LocalChatServer(lambda body: Reply(raw=raw.encode())) as server:
        client = client_for(server, max_retries=1)
        with pytest.raises(LLMError, match="HTTP 200 reply that is an error"):
            client.complete(request("hi " * 400))
    assert len(server.requests) == 2
    assert client.usage.prompt_tokens == 2 * prompt_estimate("hi " * 400) == 2 * 306
    assert client.usage.completion_tokens == (2 * 100 if stream else 0)


def test_a_refused_error_after_a_streams_text_still_bills_the_prompt_and_text():
    # a request refused as it is bills nothing, but a stream that sent text before its
    # error chunk had the model started on it: its prompt and text were paid for
    error = {"error": {"message": "filtered", "code": "content_filter"}}
    raw = ('data: {"choices": [{"delta": {"content": "' + "x" * 400 + '"}}]}\n\n'
           f"data: {json.dumps(error)}\n\n")
    with LocalChatServer(lambda body: Reply(raw=raw.encode())) as server:
        client = client_for(server, max_retries=1)
        with pytest.raises(LLMError, match=r"HTTP 200 reply that is an error \(code "
                                           r"content_filter\)"):
            client.complete(request("hi " * 400))
    assert len(server.requests) == 1
    assert (client.usage.prompt_tokens, client.usage.completion_tokens) == (
        prompt_estimate("hi " * 400), 100)


@pytest.mark.parametrize("error, retried, what", [
    ({"code": "context_length_exceeded", "type": "invalid_request_error"}, False,
     "code context_length_exceeded: the document is too long for the model, its prompt "
     "over the model's context length: asking again cannot help"),
    ({"code": "string_above_max_length"}, False, "code string_above_max_length"),
    ({"code": None, "type": "invalid_request_error"}, False, "type invalid_request_error"),
    ({"code": "invalid_request_error"}, False, "code invalid_request_error"),
    ({"code": "rate_limit_exceeded", "type": "requests"}, True, ""),
    ({"code": "server_error", "type": "server_error"}, True, ""),
    ({"type": "overloaded_error"}, True, ""),
    ({"code": "rate_limit_exceeded", "type": "invalid_request_error"}, True, ""),
])
def test_an_error_in_an_http_200_reply_naming_a_bad_request_is_not_retried(error, retried,
                                                                           what):
    # OpenAI's error objects name the failure by code and type, not by a number: a
    # "context_length_exceeded" was asked again max_retries times, each try paid for
    behaviour, state = _flaky([Reply(raw=json.dumps(
        {"error": {"message": "too long", **error}}).encode())])
    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        if retried:
            assert client.complete(request()).text == "finally"
        else:
            with pytest.raises(LLMError, match=f"HTTP 200 reply that is an error \\({what}\\)"
                                               ": too long$") as info:
                client.complete(request())
            assert not isinstance(info.value, LLMConfigError)
            assert client.usage.n_failed == 1 and client.usage.n_retries == 0
            # refused before the model saw it (a prompt too long is large just so):
            # billed as nothing, not as the prompt estimated
            assert client.usage.prompt_tokens == client.usage.completion_tokens == 0
    assert state["n"] == (2 if retried else 1)


@pytest.mark.parametrize("error", [
    {"code": 401}, {"code": "403"}, {"type": "authentication_error"},
    {"type": "permission_error"}, {"code": "invalid_api_key", "type": "invalid_request_error"}])
def test_a_refused_key_in_an_http_200_reply_stops_the_whole_batch_as_a_401_does(error,
                                                                                monkeypatch):
    # a 401 status stops the run (every request is refused alike); a 401 code in an error
    # object failed only its document, and the next, ... until 10 in a row had failed
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    raw = json.dumps({"error": {"message": "bad key", **error}}).encode()
    with LocalChatServer(lambda body: Reply(raw=raw)) as server:
        client = client_for(server)
        with pytest.raises(LLMConfigError, match=r"HTTP 200 reply that is an error \(.*\): "
                                                 r"bad key \(is the API key in \$OPENAI"):
            complete_all(client, [request(str(i)) for i in range(50)], n_workers=1)
    assert len(server.requests) <= 2  # the one refused, and one the worker had started
    # refused before the model saw it: not billed as an error the model ran into is
    assert client.usage.prompt_tokens == client.usage.completion_tokens == 0


def test_usage_without_a_price_leaves_the_cost_unknown_not_free():
    # no --price-*: the usage line said 'cost 0.0000' and the JSON '"cost": 0.0', which
    # read as a free run
    from tagsmith.labeling.client import Usage

    unpriced, priced = Usage(), Usage(price_prompt=1.0)
    for usage in (unpriced, priced):
        usage.add(ChatResponse("x", prompt_tokens=1_000_000, completion_tokens=2))
    assert unpriced.summary(flags=True).endswith("1,000,002 tokens, cost unknown (no --price-*)")
    assert unpriced.to_dict()["cost"] is None
    assert priced.summary(flags=True).endswith("1,000,002 tokens, cost 1.0000 (prompt tokens only: "
                                     "the completion price is unknown, no --price-completion)")
    assert priced.to_dict()["cost"] == 1.0
    # a price of 0 given for one kind of token, not the other, still prices the run
    assert Usage(price_completion=2.0).to_dict()["cost"] == 0.0
    # and so do prices of 0 (a model served locally): the run was free, not unpriced
    free = Usage(price_prompt=0.0, price_completion=0.0)
    free.add(ChatResponse("x", prompt_tokens=10, completion_tokens=2))
    assert free.summary().endswith("12 tokens, cost 0.0000") and free.to_dict()["cost"] == 0.0


def test_usage_summary_names_the_clients_prices_to_a_python_caller():
    # client.usage.summary() in a notebook (README's llm_local snippet) said "no
    # --price-*", options of a command the caller never ran; the CLI asks flags=True
    from tagsmith.labeling.client import Usage

    unpriced, completion = Usage(), Usage(price_completion=2.0)
    for usage in (unpriced, completion):
        usage.add(ChatResponse("x", prompt_tokens=1_000_000, completion_tokens=500_000))
    assert unpriced.summary().endswith("cost unknown (no price given to the client)")
    assert completion.summary().endswith(
        "cost 1.0000 (completion tokens only: the prompt price is unknown, no "
        "price_prompt given to the client)")
    assert "--price" not in unpriced.summary() + completion.summary()


def test_usage_with_one_price_says_the_cost_leaves_the_other_tokens_out():
    # --price-completion alone: the usage line said "cost 1.0000" as the whole cost,
    # the prompt tokens (of unknown price) counted as free; the JSON key is kept
    from tagsmith.labeling.client import Usage

    completion, prompt = Usage(price_completion=2.0), Usage(price_prompt=1.0)
    for usage in (completion, prompt):
        usage.add(ChatResponse("x", prompt_tokens=1_000_000, completion_tokens=500_000))
    assert completion.summary(flags=True).endswith(
        "cost 1.0000 (completion tokens only: the prompt price is unknown, no --price-prompt)")
    assert prompt.summary(flags=True).endswith(
        "cost 1.0000 (prompt tokens only: the completion price is unknown, "
        "no --price-completion)")
    assert completion.to_dict()["cost"] == 1.0 and prompt.to_dict()["cost"] == 1.0


def test_the_progress_postfix_shows_the_cost_where_a_price_is_given(caplog):
    from tagsmith.labeling.client import ScriptedLLM

    client = ScriptedLLM(lambda request: "ok")
    client.usage.price_prompt, client.usage.price_completion = 1e6, 0.0  # both: no note
    with caplog.at_level("INFO", logger="tagsmith"):
        complete_all(client, [request("c")], desc="priced", show_progress=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("priced")]
    assert re.fullmatch(r"priced: 1/1 calls? \(100%\) answered 1 cached 0 cost \d+\.\d{4}",
                        lines[-1]), lines


@pytest.mark.parametrize("price, only", [({"price_completion": 2.0}, "completion"),
                                         ({"price_prompt": 1.0}, "prompt")])
def test_the_progress_postfix_says_which_tokens_one_price_alone_covers(caplog, price, only):
    # --price-completion alone: the bar's running "cost 0.0001" read as the whole cost,
    # the prompts (of unknown price) counted free, as the usage line says apart
    with LocalChatServer(lambda body: "ok") as server:
        client = client_for(server, **price)
        with caplog.at_level("INFO", logger="tagsmith"):
            complete_all(client, [request("c")], desc="priced", show_progress=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("priced")]
    assert re.fullmatch(r"priced: 1/1 calls? \(100%\) answered 1 cached 0 "
                        rf"cost \d+\.\d{{4}} \({only} only\)", lines[-1]), lines
    assert client.usage.summary(flags=True).endswith(f"({only} tokens only: the "
                                           f"{'prompt' if only == 'completion' else 'completion'}"
                                           f" price is unknown, no --price-"
                                           f"{'prompt' if only == 'completion' else 'completion'})")


@pytest.mark.parametrize("status", [429, 200])
def test_an_account_out_of_quota_stops_the_whole_batch_unbilled(status):
    # OpenAI's insufficient_quota comes as HTTP 429, a rate limit's status: it was
    # retried with backoff on every document, though no wait lifts it
    raw = json.dumps({"error": {"message": "You exceeded your current quota",
                                "type": "insufficient_quota",
                                "code": "insufficient_quota"}}).encode()
    with LocalChatServer(lambda body: Reply(raw=raw, status=status)) as server:
        client = client_for(server, max_retries=3)
        with pytest.raises(LLMConfigError, match=f"HTTP {status}") as info:
            complete_all(client, [request(str(i)) for i in range(50)], n_workers=1)
    assert "quota or credit is used up: see its plan and billing" in str(info.value)
    assert "You exceeded your current quota" in str(info.value)
    assert len(server.requests) <= 2  # the one refused, and one the worker had started
    assert client.usage.n_retries == 0
    assert client.usage.prompt_tokens == client.usage.completion_tokens == 0


@pytest.mark.parametrize("error", [
    {"code": "model_not_found", "type": "invalid_request_error"},
    {"type": "not_found_error"},
    # OpenRouter passing the upstream status: it failed only its document, each alike
    {"code": 404}, {"code": "404"}])
def test_a_model_not_found_in_an_http_200_reply_stops_the_whole_batch_as_a_404_does(error):
    # an HTTP 404 stops the run naming the model; model_not_found in an error object
    # failed only its document (each one refused alike), and not_found_error was retried
    raw = json.dumps({"error": {"message": "no such model", **error}}).encode()
    with LocalChatServer(lambda body: Reply(raw=raw)) as server:
        client = client_for(server, max_retries=3)
        with pytest.raises(LLMConfigError, match=r"HTTP 200 reply that is an error \(.*\): "
                                                 r"no such model \(is the base URL right, "
                                                 r"and does it serve model 'm'\?\)"):
            complete_all(client, [request(str(i)) for i in range(50)], n_workers=1)
    assert len(server.requests) <= 2  # the one refused, and one the worker had started
    assert client.usage.n_retries == 0
    assert client.usage.prompt_tokens == client.usage.completion_tokens == 0


@pytest.mark.parametrize("in_200", [False, True])
def test_a_404_refusing_a_parameter_drops_it_rather_than_stopping_the_run(in_200, caplog):
    # OpenRouter's "No endpoints found that support the requested output format
    # (response_format)", as HTTP 404 or as code 404 in a 200 reply: the run stopped with
    # "does it serve model 'm'?", though the model is served without that parameter
    said = ("No endpoints found that support the requested output format "
            "(response_format).")

    def behaviour(body):
        if "response_format" in body:
            if in_200:
                return Reply(raw=json.dumps({"error": {"message": said,
                                                       "code": 404}}).encode())
            return Reply(said, status=404)
        return "ok"

    with LocalChatServer(behaviour) as server:
        client = client_for(server)
        with caplog.at_level("WARNING", logger="tagsmith"):
            assert client.complete(request("a", json_mode=True)).text == "ok"
            assert client.complete(request("b", json_mode=True)).text == "ok"
    assert ["response_format" in body for body in server.requests] == [True, False, False]
    assert [r.getMessage() for r in caplog.records if "refuses response_format" in
            r.getMessage()]


def test_the_default_cache_in_a_read_only_working_folder_names_the_folder(tmp_path,
                                                                          monkeypatch):
    # refused as ".tagsmith-llm-cache.sqlite: --cache: . is not writable": "." named no
    # folder, nor said that the user, who gave no --cache, could give one
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli
    from tagsmith.data import textio

    tagsmith_cli._register_commands()
    (tmp_path / "d.txt").write_text("a text\n")
    (tmp_path / "v.tsv").write_text("joy\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    real_access = textio.os.access  # tests run as root: chmod is ignored
    monkeypatch.setattr(textio.os, "access", lambda path, mode: Path(path).absolute() != work
                        and real_access(path, mode))
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "label", str(tmp_path / "d.txt"), "--vocab", str(tmp_path / "v.tsv"),
        "-o", str(tmp_path / "o.jsonl"), "--base-url", "http://127.0.0.1:9/v1", "--llm", "m"])
    assert result.exit_code == 3, result.output
    assert (f"--cache: the working folder {work} is not writable (the cache defaults to "
            "the working folder: give --cache a path elsewhere)") in result.output


MODERATED = {"error": {"code": 403, "message": "Input was flagged for violence", "metadata": {
    "reasons": ["violence"], "flagged_input": "a text", "provider_name": "p"}}}


@pytest.mark.parametrize("status", [403, 200])
def test_a_moderation_flag_fails_its_document_only(status, monkeypatch):
    # OpenRouter's 403 for a prompt its moderation flagged stopped the whole run as a
    # refused key does (saying to check the key), though it concerns one document
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")

    def behaviour(body):
        return (Reply(raw=json.dumps(MODERATED).encode(), status=status)
                if user_prompt(body) == "1" else "fine")

    with LocalChatServer(behaviour) as server:
        client = client_for(server, max_retries=3)
        results = complete_all(client, [request(str(i)) for i in range(4)], n_workers=1)
    assert [r.text for r in results if isinstance(r, ChatResponse)] == ["fine"] * 3
    assert isinstance(results[1], LLMError) and not isinstance(results[1], LLMConfigError)
    assert "the provider's moderation flagged this document's prompt" in str(results[1])
    assert "API key" not in str(results[1])
    assert len(server.requests) == 4 and client.usage.n_retries == 0


def test_a_403_without_a_moderation_flag_still_stops_the_batch():
    raw = json.dumps({"error": {"code": 403, "message": "forbidden",
                                "metadata": {"provider_name": "p"}}}).encode()
    with LocalChatServer(lambda body: Reply(raw=raw, status=403)) as server:
        with pytest.raises(LLMConfigError, match="HTTP 403"):
            complete_all(client_for(server), [request(str(i)) for i in range(5)],
                         n_workers=1)


@pytest.mark.parametrize("status", [400, 200])
@pytest.mark.parametrize("error", [{"code": "context_length_exceeded"},
                                   {"type": "context_length_exceeded"},
                                   {"code": "context_length_exceeded",
                                    "type": "invalid_request_error"}])
def test_a_prompt_over_the_context_length_fails_at_once_saying_the_document_is_too_long(
        status, error):
    raw = json.dumps({"error": {"message": "maximum context length is 8192 tokens",
                                **error}}).encode()
    with LocalChatServer(lambda body: Reply(raw=raw, status=status)) as server:
        client = client_for(server, max_retries=3)
        with pytest.raises(LLMError, match="the document is too long for the model, its "
                                           "prompt over the model's context length: "
                                           "asking again cannot help") as info:
            client.complete(request())
    assert not isinstance(info.value, LLMConfigError)
    assert len(server.requests) == 1 and client.usage.n_retries == 0


@pytest.mark.parametrize("in_200", [False, True])
def test_a_404_naming_a_model_whose_name_holds_a_parameter_drops_nothing(in_200, caplog):
    # a 404 for a model not served whose name holds a parameter's ("seed-oss-36b", as
    # OpenRouter's bytedance/seed-oss-36b-instruct) was read as refusing "seed": it was
    # dropped, with a warning, and the request sent again before the run stopped
    from tagsmith.exceptions import LLMError

    model = "bytedance/seed-oss-36b"
    said = f"{model} is not a valid model ID"

    def behaviour(body):
        if in_200:
            return Reply(raw=json.dumps({"error": {"message": said, "code": 404}}).encode())
        return Reply(said, status=404)

    with LocalChatServer(behaviour) as server:
        client = OpenAIChatClient(server.base_url, model, backoff_base=0.01,
                                  backoff_max=0.05, timeout=30.0, max_retries=0)
        asked = ChatRequest(model=model, messages=({"role": "user", "content": "hi"},),
                            seed=1)
        with caplog.at_level("WARNING", logger="tagsmith"), pytest.raises(LLMError):
            client.complete(asked)
    assert "refuses seed" not in caplog.text, caplog.text
    assert ["seed" in body for body in server.requests] == [True]
    assert client.dropped_parameters == frozenset()


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy"])
def test_a_proxy_that_refuses_or_does_not_resolve_is_named(monkeypatch, name):
    # the proxy from HTTPS_PROXY refused the connection (or its host did not resolve):
    # the message blamed the base URL ("is the base URL right?"), naming no proxy
    import socket

    for other in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(other, raising=False)
    closed = socket.socket()  # bound, never listening: every connection is refused
    closed.bind(("127.0.0.1", 0))
    try:
        port = closed.getsockname()[1]
        monkeypatch.setenv(name, f"http://user:secret@127.0.0.1:{port}")
        client = OpenAIChatClient("https://api.example.com/v1", "m", max_retries=0,
                                  timeout=2.0)
        with pytest.raises(LLMConfigError) as caught:
            client.complete(request())
        message = str(caught.value)
        assert f"nothing listens at the proxy http://127.0.0.1:{port} ({name})" in message
        assert f"is {name} right?" in message and "base URL" not in message
        assert "secret" not in message
    finally:
        closed.close()

    def getaddrinfo(host, *args, **kwargs):  # no test asks a real DNS server
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv(name, "http://nosuchproxy.invalid:8080")
    client = OpenAIChatClient("https://api.example.com/v1", "m", max_retries=0, timeout=2.0)
    with pytest.raises(LLMConfigError, match=r"nosuchproxy\.invalid is unknown") as caught:
        client.complete(request())
    message = str(caught.value)
    assert f"the proxy http://nosuchproxy.invalid:8080 ({name})" in message
    assert "base URL" not in message


def test_a_refusal_names_no_proxy_where_no_proxy_says_to_go_direct(monkeypatch):
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    try:
        port = closed.getsockname()[1]
        for other in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(other, raising=False)
        monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.com:3128")
        monkeypatch.setenv("NO_PROXY", "127.0.0.2")
        # 127.0.0.2 is loopback too, but not one of the names _proxy_for goes direct for
        client = OpenAIChatClient(f"http://127.0.0.2:{port}/v1", "m", max_retries=0,
                                  timeout=2.0)
        with pytest.raises(LLMConfigError, match="nothing listens there") as caught:
            client.complete(request())
        assert "proxy" not in str(caught.value)
    finally:
        closed.close()


def test_an_https_proxy_with_no_host_is_named_not_ignored(monkeypatch):
    """HTTPS_PROXY='http://:3128' was ignored: the request went direct, and its failure
    said "is the server running, and is the base URL right?". The variable is named."""
    for other in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://:3128")
    client = OpenAIChatClient("https://127.0.0.2:9/v1", "m", max_retries=2,
                              backoff_base=0.0)
    with pytest.raises(LLMConfigError) as caught:
        client.complete(request())
    message = str(caught.value)
    assert "the proxy URL in HTTPS_PROXY, http://:3128, has no host" in message, message
    assert "base URL" not in message
    assert (client.usage.n_retries, client.usage.n_failed) == (0, 1)


@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy"])
@pytest.mark.parametrize("proxy, why", [
    ("http://user:secret@[::1", "a host in brackets that is no IPv6 address"),
    ("http://user:se@cret@[::1", "a host in brackets that is no IPv6 address"),
    ("http://user:secret@proxy.example.com:abc", "a port that is no number in 0-65535"),
    ("user:secret@proxy.example.com:99999", "a port that is no number in 0-65535"),
    ("http://:3128", "no host"), ("http://user:secret@:3128", "no host"),
    ("http://user:se/cret@proxy.example.com:3128", "a '/', '?' or '#' before its last '@'"),
    ("http://user:sec/re#t@proxy.example.com:3128", "a '/', '?' or '#' before its last '@'"),
    ("http://user:se?cr@et@proxy.example.com:3128", "a '/', '?' or '#' before its last '@'")])
def test_a_malformed_proxy_variable_is_named_not_a_traceback(tmp_path, monkeypatch, name,
                                                              proxy, why):
    """HTTP_PROXY='http://[::1' (or a port not a number) failed inside the request as
    a ValueError traceback from urlsplit ("Invalid IPv6 URL", exit code 1): now a
    config error (exit code 6) naming the variable, not retried, credentials not shown.
    So is a proxy URL with no host ('http://:3128' was ignored, the request sent direct
    and its failure blaming the base URL), and one whose password holds an unencoded
    '/', '?' or '#' (urllib ends the host there: the message showed the password, whole
    or in part, as a host, port or path)."""
    from click.testing import CliRunner

    import tagsmith.cli as tagsmith_cli

    tagsmith_cli._register_commands()
    for other in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, proxy)
    # 127.0.0.2 is loopback, but not one of the names _proxy_for goes direct for
    client = OpenAIChatClient("http://127.0.0.2:9/v1", "m", max_retries=3, backoff_base=0.0)
    with pytest.raises(LLMConfigError) as caught:
        client.complete(request())
    message = str(caught.value)
    assert f"the proxy URL in {name}" in message and why in message, message
    assert "secret" not in message and "user" not in message, message
    assert "cret" not in message and "se/" not in message and "sec" not in message, message
    assert (client.usage.n_retries, client.usage.n_failed) == (0, 1)

    docs = tmp_path / "d.txt"
    docs.write_text("football tonight\n")
    vocab = tmp_path / "v.tsv"
    vocab.write_text("<u:sport>\tsport\n<u:music>\tmusic\n")
    result = CliRunner().invoke(tagsmith_cli.cli, [
        "-q", "label", str(docs), "--vocab", str(vocab), "-o", str(tmp_path / "o.jsonl"),
        "--base-url", "http://127.0.0.2:9/v1", "--llm", "m"])
    assert result.exit_code == 6, result.output
    assert f"the proxy URL in {name}" in result.output and why in result.output
    assert "Traceback" not in result.output and "secret" not in result.output


def test_a_cache_whose_connection_is_not_its_thread_s_is_refused_not_spun_on(tmp_path):
    # the cache holds this thread's connection for each operation, fetching it again where
    # close() replaced it meanwhile: a subclass returning another connection looped forever
    import sqlite3

    class _Elsewhere(ResponseCache):
        def _connection(self):
            super()._connection()
            return sqlite3.connect(":memory:")

    with _Elsewhere(tmp_path / "cache.sqlite") as cache, \
            pytest.raises(RuntimeError, match="must return the connection"):
        len(cache)


def test_the_local_server_answers_at_once_not_after_a_delayed_ack():
    # its replies each waited ~40 ms (Nagle's algorithm holding the body until the
    # client's delayed ACK of the headers): benchmarks and tests of thousands of calls
    # against an "instant" server measured that stall, not tagsmith. Checked on the
    # accepted socket itself, not by timing replies (a loaded 2-core CI machine)
    import socket

    with LocalChatServer(lambda body: '{"labels": []}') as server:
        nodelay: list[int] = []
        original = server._httpd.RequestHandlerClass.do_POST

        def spy(handler):
            nodelay.append(handler.connection.getsockopt(socket.IPPROTO_TCP,
                                                         socket.TCP_NODELAY))
            original(handler)

        server._httpd.RequestHandlerClass.do_POST = spy
        client = OpenAIChatClient(server.base_url, "m1")
        request = ChatRequest("m1", ({"role": "user", "content": "hi"},))
        client.complete(request)
        client.complete(request)  # the kept-alive connection too
    assert len(nodelay) == 2 and all(nodelay), nodelay


def test_a_call_not_yet_sent_when_the_run_stops_sends_nothing():
    """A worker that had passed complete_all's own stop check, but not yet sent its
    request (a wrapper's or a cache's lookup under way), when a stopping failure came
    took the client's fresh events (try_no_more replaces them, for later calls) and
    made every try of its request after the run had stopped: 4 requests to a server
    answering 503. The run's own stop is now checked before each try and each send."""
    late_entered = threading.Event()

    def behaviour(body):
        if user_prompt(body) == "bad":
            late_entered.wait(60)  # refused once the other call is past the run's check
            return Reply("invalid key", status=401)
        return Reply("busy", status=503)

    with LocalChatServer(behaviour) as server:
        inner = client_for(server, max_retries=3)
        stopped = inner._finishing  # set by the run's try_no_more, then replaced

        class Slow:  # the caller's client, slow before its inner call (a lookup)
            model, usage = inner.model, inner.usage

            def __init__(self):
                self.inner = inner

            def complete(self, chat):
                if user_prompt(chat.payload()) == "late":
                    late_entered.set()
                    stopped.wait(60)  # the run has stopped before this call is sent
                return inner.complete(chat)

        with pytest.raises(LLMConfigError, match="invalid key"):
            complete_all(Slow(), [request("bad"), request("late")], n_workers=2)
        assert stopped.is_set()
        late = [body for body in server.requests if user_prompt(body) == "late"]
        assert late == []
        assert inner.usage.n_interrupted == 1 and inner.usage.n_retries == 0
        server.behaviour = lambda body: "fine"  # a later call is not affected
        assert inner.complete(request("again")).text == "fine"


def test_a_refused_docker_service_name_may_still_be_loading_its_model(monkeypatch):
    """A base URL naming a Docker service, ``http://vllm:8000/v1``, whose connection
    vLLM refuses while it loads, got no word that it may be loading (said of localhost
    and IP addresses alone): the message now says so of a name at a private address,
    naming it. The service name is resolved to the loopback here, as Docker's resolver
    would to the container's address: no test asks a real DNS server."""
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real("127.0.0.1" if host == "vllm" else host, *args, **kwargs)

    closed = socket.socket()  # bound, never listening: every connection is refused
    closed.bind(("127.0.0.1", 0))
    try:
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        client = OpenAIChatClient(f"http://vllm:{closed.getsockname()[1]}/v1", "m",
                                  max_retries=3, backoff_base=0.01, timeout=2.0)
        with pytest.raises(LLMConfigError, match="nothing listens there") as caught:
            client.complete(request())
        assert ("is the base URL right? vllm is at 127.0.0.1, a private address: a server "
                "starting there may still be loading its model (vLLM listens only once "
                "it is loaded))") in str(caught.value), str(caught.value)
    finally:
        closed.close()


def test_the_prompt_estimate_counts_the_chat_templates_tokens():
    """The prompt estimate (of a server that reports no usage, and said before a run's
    calls) counted the messages' text alone, ~16% under what servers count (348 against
    414 a call at YSO scale): a chat template adds tokens around each message and primes
    the reply, 3 each as OpenAI's cookbook counts them, 1 more for a message's name."""
    from tagsmith.labeling.client import TOKENS_PER_NAME, _prompt_estimate

    asked = ChatRequest("m", ({"role": "system", "content": "s" * 400},
                              {"role": "user", "content": "u" * 800, "name": "ann"}))
    assert _prompt_estimate(asked) == (100 + 200 + 2 * TOKENS_PER_MESSAGE + TOKENS_PER_NAME
                                       + REPLY_PRIMING_TOKENS) == 310


def test_a_request_sent_again_within_its_try_is_not_once_the_run_has_stopped():
    """A try whose request the server refused for a parameter (response_format) sends
    it again at once without it, within the same try: a run stopped meanwhile (another
    document's refused key) still sent it. The run's stop is checked before each send."""
    bad_answered = threading.Event()

    def behaviour(body):
        if user_prompt(body) == "bad":
            return Reply("invalid key", status=401)
        if "response_format" in body:
            bad_answered.wait(60)
            time.sleep(1.0)  # the run has stopped on the 401 by now
            return Reply("response_format is not supported", status=400)
        return "fine"

    def sent(body):  # the 401 is on its way once it is chosen
        reply = behaviour(body)
        if user_prompt(body) == "bad":
            bad_answered.set()
        return reply

    with LocalChatServer(sent) as server:
        client = client_for(server, max_retries=0)
        slow = request("slow", json_mode=True)
        with pytest.raises(LLMConfigError, match="invalid key"):
            complete_all(client, [slow, request("bad")], n_workers=2)
    asked = [body for body in server.requests if user_prompt(body) == "slow"]
    assert len(asked) == 1 and "response_format" in asked[0]  # not sent again without
