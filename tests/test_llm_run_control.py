"""How a run of many LLM calls (``complete_all``) tells its calls to stop, and shows
where it is: a client of the caller's own sees the run's stop, the progress moves as
any call ends."""

import threading

import pytest

from tagsmith.exceptions import LLMError
from tagsmith.labeling.client import ChatRequest, ChatResponse, Usage, complete_all

#: a safety net only: no test passes by reaching it (each asserts the event that ends
#: the wait was set), it keeps a broken run from hanging the suite
NET = 30.0


def request(text: str) -> ChatRequest:
    return ChatRequest(model="m", messages=({"role": "user", "content": text},))


class OwnClient:
    """A client of the user's own (no tagsmith class): "fail" fails for good; "wait"
    waits for the run's stop, as a client waiting to retry would, and notes whether it
    saw it."""

    model = "own"

    def __init__(self):
        self.usage = Usage()
        self.saw_stop = threading.Event()
        self.failed = threading.Event()

    def complete(self, request: ChatRequest) -> ChatResponse:
        from tagsmith.labeling.client import run_stop

        text = request.messages[-1]["content"]
        if text == "fail":
            self.failed.set()
            raise LLMError("down")
        stop = run_stop()
        assert stop is not None  # inside a run
        assert self.failed.wait(NET)
        if stop.wait(NET):
            self.saw_stop.set()
            raise LLMError("abandoned: the run stopped")
        return ChatResponse("late")


def test_a_client_of_ones_own_sees_the_runs_stop():
    # the run's stop was private (_RUN_STOP): a client of one's own went on sending and
    # retrying after the run had stopped on a failure, the run waiting for it
    from tagsmith.labeling.client import run_stop

    client = OwnClient()
    with pytest.raises(LLMError, match="^1 request in a row failed.*Last: down"):
        complete_all(client, [request("wait"), request("fail")], n_workers=2,
                     max_consecutive_failures=1)
    assert client.saw_stop.is_set()
    assert run_stop() is None  # outside a run


def test_a_call_abandoned_as_the_run_stops_is_no_failure_and_the_message_names_the_real_one():
    # an earlier document waiting to retry (a flaky 503) when a later one failed for good
    # was abandoned, counted as one more failure, and raised first (the pool's order):
    # "2 requests in a row failed; ... Last: request abandoned (interrupted)" hid the 400
    # (strict: the earliest request's failure is the one raised, so without that fix
    # the abandoned one is, every run; it was a race that passed 2 runs in 3)
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer, Reply, user_prompt

    asked_flaky = threading.Event()

    def behaviour(body):
        if user_prompt(body) == "flaky":
            asked_flaky.set()
            return Reply("busy", status=503)
        assert asked_flaky.wait(NET)
        return Reply("this request is malformed", status=400)

    with LocalChatServer(behaviour) as server:
        # a backoff of a minute: the flaky call is waiting to retry when the run stops
        client = OpenAIChatClient(server.base_url, "m", backoff_base=60.0, backoff_max=60.0,
                                  timeout=NET)
        with pytest.raises(LLMError) as raised:
            complete_all(client, [request("flaky"), request("bad")], n_workers=2,
                         max_consecutive_failures=1)
    said = str(raised.value)
    assert said.startswith("1 request in a row failed"), said
    assert "HTTP 400" in said and "abandoned" not in said, said
    assert client.usage.n_interrupted == 1 and client.usage.n_failed == 1


class _SlowClock:
    """``time.monotonic`` for the progress log: every reading 60 s after the last, so
    that every update of the bar logs its line."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 60.0
        return self.now


def test_the_progress_moves_as_any_call_ends_not_only_the_earliest(monkeypatch):
    # the bar followed the pool's order: one slow first document held it at 0/N while
    # every other call had ended ("0/5,000 calls" for the whole of a slow answer)
    import logging

    import tagsmith.progress as progress
    from tagsmith.labeling.client import ScriptedLLM

    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.setattr(progress, "time", _SlowClock())
    others_counted = threading.Event()
    lines: list[str] = []

    class Watch(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())
            if record.getMessage().startswith("calls: 2/3"):
                others_counted.set()

    def answer(request):
        if request.messages[-1]["content"] == "slow":
            # answers only once the bar has counted both others
            assert others_counted.wait(NET), lines
        return "ok"

    logger = logging.getLogger("tagsmith")
    watch, level = Watch(), logger.level
    logger.addHandler(watch)
    logger.setLevel(logging.INFO)
    try:
        got = complete_all(ScriptedLLM(answer), [request("slow"), request("b"), request("c")],
                           n_workers=3, desc="calls", show_progress=True)
    finally:
        logger.removeHandler(watch)
        logger.setLevel(level)
    assert [response.text for response in got] == ["ok"] * 3  # in order still
    assert others_counted.is_set()
    assert lines[-1].startswith("calls: 3/3 calls (100%)")



def test_a_run_stopped_by_a_failure_says_it_waits_for_the_calls_in_flight():
    # once a failure stopped the run, complete_all waited for the tries under way (up
    # to the client's timeout, minutes on a slow model) and said nothing: it looked hung
    import logging

    from tagsmith.labeling.client import ScriptedLLM

    said = threading.Event()
    lines: list[str] = []

    class Watch(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())
            if "waiting for 1 call in flight" in record.getMessage():
                said.set()

    failed = threading.Event()

    def answer(request):
        if request.messages[-1]["content"] == "fail":
            failed.set()
            raise LLMError("down")
        assert failed.wait(NET)
        assert said.wait(NET), lines  # answers once the wait for it was said
        return "late"

    logger = logging.getLogger("tagsmith")
    watch = Watch(level=logging.WARNING)
    logger.addHandler(watch)
    try:
        with pytest.raises(LLMError, match="^1 request in a row failed"):
            complete_all(ScriptedLLM(answer), [request("slow"), request("fail")],
                         n_workers=2, max_consecutive_failures=1)
    finally:
        logger.removeHandler(watch)
    assert said.is_set()
    assert [line for line in lines if "waiting for" in line] == [
        "the run is stopping: waiting for 1 call in flight to end its try under way "
        "(not retried)"]


def test_first_tries_queued_together_behind_a_cold_start_time_out_as_one():
    # Ollama loads its model at the first request and says nothing of it (llama.cpp
    # answers 503 "Loading model"): the --concurrency first tries, queued behind the
    # load, timed out together, and three of them were "3 tries in a row timed out":
    # the run stopped at once, where the retries (given twice the time) were answered.
    # Here the model is "loaded" once every first try has timed out and been retried
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer

    loaded = threading.Event()
    lock = threading.Lock()
    received = [0]

    def behaviour(body):
        with lock:
            received[0] += 1
            if received[0] == 8:  # the 4 first tries, then each one's retry
                loaded.set()
        loaded.wait(NET)
        return "ok"

    with LocalChatServer(behaviour) as server:
        client = OpenAIChatClient(server.base_url, "m", timeout=1.0, backoff_base=0.01,
                                  backoff_max=0.05)
        try:
            got = complete_all(client, [request(f"doc {i}") for i in range(4)], n_workers=4)
        finally:
            loaded.set()
    assert [response.text for response in got] == ["ok"] * 4
    assert client.usage.n_retries == 4 and client.usage.n_failed == 0


def _reply_served_by(model: str, fingerprint: str):
    """A server whose replies say ``model`` and ``system_fingerprint`` served them (as
    OpenAI's name the dated snapshot behind an alias)."""
    import json

    from tagsmith.testing.llm_server import Reply

    def behaviour(body):
        return Reply(raw=json.dumps({
            "id": "c", "object": "chat.completion", "model": model,
            "system_fingerprint": fingerprint,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1}}).encode())
    return behaviour


def test_a_model_served_anew_under_the_name_asked_is_said(tmp_path, caplog):
    # the cache keys answers by the model name asked: an alias moved to a new snapshot
    # (or a model replaced under its name) replayed the old model's answers beside the
    # new one's, and nothing said so
    import logging

    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import CachedClient, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer

    path = tmp_path / "llm.sqlite"

    def run(served: str, fingerprint: str, texts: list[str]) -> list[str]:
        caplog.clear()
        with LocalChatServer(_reply_served_by(served, fingerprint)) as server:
            with CachedClient(OpenAIChatClient(server.base_url, "m", timeout=NET),
                              ResponseCache(path)) as client:
                with caplog.at_level(logging.WARNING, logger="tagsmith"):
                    complete_all(client, [request(text) for text in texts], n_workers=2)
        return [r.getMessage() for r in caplog.records if "served by" in r.getMessage()]

    assert run("m-2024-05-13", "fp_a", ["a", "b"]) == []  # the first run: nothing before
    assert run("m-2024-05-13", "fp_a", ["a", "c"]) == []  # the same model: nothing said
    said = run("m-2025-01-31", "fp_b", ["a", "d"])
    assert len(said) == 1, said
    assert ("'m' is served by m-2025-01-31, system_fingerprint fp_b" in said[0]
            and "came from m-2024-05-13, system_fingerprint fp_a" in said[0]
            and str(path) in said[0]), said[0]
    assert run("m-2025-01-31", "fp_b", ["e"]) == []  # noted: said once


def test_a_new_fingerprint_alone_is_noted_not_said(tmp_path, caplog):
    # OpenAI's system_fingerprint changes as its backend is reconfigured, several in
    # turn for one dated snapshot: warned of, nearly every run said "'gpt-4o' is served
    # by ..." of the very model that answered before. A reply naming no model (a
    # server that leaves it out) neither warns nor forgets the model noted
    import logging

    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import CachedClient, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer

    path = tmp_path / "llm.sqlite"

    def run(served: str, fingerprint: str, text: str) -> list[str]:
        caplog.clear()
        with LocalChatServer(_reply_served_by(served, fingerprint)) as server:
            with CachedClient(OpenAIChatClient(server.base_url, "m", timeout=NET),
                              ResponseCache(path)) as client:
                with caplog.at_level(logging.WARNING, logger="tagsmith"):
                    complete_all(client, [request(text)], n_workers=1)
        return [r.getMessage() for r in caplog.records if "served by" in r.getMessage()]

    assert run("m-2024-08-06", "fp_a", "a") == []
    assert run("m-2024-08-06", "fp_b", "b") == []  # the same snapshot, another backend
    assert run("m-2024-08-06", "fp_a", "c") == []
    with ResponseCache(path) as cache:
        assert cache.served_by("m") == ("m-2024-08-06", "fp_a")  # noted all the same
    assert run("", "fp_c", "d") == []  # no model said: nothing to compare
    with ResponseCache(path) as cache:
        assert cache.served_by("m") == ("m-2024-08-06", "fp_c")  # the model kept
    said = run("m-2025-01-31", "fp_c", "e")  # a new snapshot is said still
    assert len(said) == 1 and "came from m-2024-08-06" in said[0], said


def test_what_served_a_model_is_shown_without_its_control_characters(tmp_path, caplog):
    # the served model comes from the server's reply, and from the cache's served
    # table (a cache handed over): an escape sequence in either reached the terminal
    import logging

    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import CachedClient, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer

    path = tmp_path / "llm.sqlite"
    with ResponseCache(path) as cache:
        cache.note_served("m", "old\x1b[2J", "fp\x07")
    with LocalChatServer(_reply_served_by("new\x1b]0;owned\x07", "fp_b")) as server:
        with CachedClient(OpenAIChatClient(server.base_url, "m", timeout=NET),
                          ResponseCache(path)) as client:
            with caplog.at_level(logging.WARNING, logger="tagsmith"):
                complete_all(client, [request("a")], n_workers=1)
    said = [r.getMessage() for r in caplog.records if "served by" in r.getMessage()]
    assert len(said) == 1, said
    assert "\x1b" not in said[0] and "\x07" not in said[0], said[0]
    assert r"'new\x1b]0;owned\x07'" in said[0] and r"'old\x1b[2J'" in said[0], said[0]


def test_of_two_calls_failing_at_once_the_earliest_requests_failure_is_raised():
    # which failure stopped the run was the first out of as_completed: two documents
    # refused at once (a key revoked mid-run, two messages) told the later one's where
    # it came back first, and a run of the same requests told the other: a race
    import time

    from tagsmith.exceptions import LLMConfigError
    from tagsmith.labeling.client import OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer, Reply, user_prompt

    clients: list[OpenAIChatClient] = []

    def behaviour(body):
        if user_prompt(body) == "first":
            # answered only once the later call has failed, and a moment after
            deadline = time.monotonic() + NET
            while clients[0].usage.n_failed < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)
            return Reply('{"error": {"message": "key one revoked"}}', status=401)
        return Reply('{"error": {"message": "key two revoked"}}', status=401)

    with LocalChatServer(behaviour) as server:
        client = OpenAIChatClient(server.base_url, "m", timeout=NET)
        clients.append(client)
        with pytest.raises(LLMConfigError) as raised:
            complete_all(client, [request("first"), request("second")], n_workers=2)
    said = str(raised.value)
    assert "key one revoked" in said and "key two" not in said, said
    assert client.usage.n_failed == 2


def test_a_client_of_ones_own_is_not_said_to_try_no_more_as_the_run_stops():
    # "waiting for 1 call in flight to end its try under way (not retried)" was said of
    # a client of the caller's own too, which retries as it is written to (run_stop()
    # only tells it the run has stopped): the wait lasted its retries, as the line
    # said it would not
    import logging

    said = threading.Event()
    lines: list[str] = []

    class Watch(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())
            if "waiting for 1 call in flight" in record.getMessage():
                said.set()

    class Retrying(OwnClient):
        """A client ignoring the run's stop: its call goes on (retrying, say) until
        the run has said its wait."""

        def complete(self, request: ChatRequest) -> ChatResponse:
            if request.messages[-1]["content"] == "fail":
                return super().complete(request)
            assert self.failed.wait(NET)
            assert said.wait(NET), lines
            return ChatResponse("late")

    logger = logging.getLogger("tagsmith")
    watch = Watch(level=logging.WARNING)
    logger.addHandler(watch)
    try:
        with pytest.raises(LLMError, match="^1 request in a row failed"):
            complete_all(Retrying(), [request("slow"), request("fail")], n_workers=2,
                         max_consecutive_failures=1)
    finally:
        logger.removeHandler(watch)
    assert [line for line in lines if "waiting for" in line] == [
        "the run is stopping: waiting for 1 call in flight to end (Retrying, a client of "
        "your own: its retries too, unless it ends it once "
        "tagsmith.labeling.client.run_stop() is set)"]


def test_an_endpoint_serving_a_name_by_several_models_is_said_once_a_run(tmp_path, caplog):
    # openrouter/auto, or a load balancer over different models, answers each request
    # by whichever model it picks: only each run's first answer was looked at, and a
    # run whose first came from another model than the last run's was warned of a
    # "new" model (most runs), saying nothing of what went on
    import itertools
    import json
    import logging
    import threading

    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import CachedClient, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer, Reply

    path = tmp_path / "llm.sqlite"

    def run(models: list[str], texts: list[str]) -> list[str]:
        turn, lock = itertools.cycle(models), threading.Lock()

        def behaviour(body):
            with lock:
                model = next(turn)
            return Reply(raw=json.dumps({
                "id": "c", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1}}).encode())

        caplog.clear()
        with LocalChatServer(behaviour) as server:
            with CachedClient(OpenAIChatClient(server.base_url, "openrouter/auto",
                                               timeout=NET), ResponseCache(path)) as client:
                with caplog.at_level(logging.WARNING, logger="tagsmith"):
                    complete_all(client, [request(text) for text in texts], n_workers=1)
        return [r.getMessage() for r in caplog.records if "served by" in r.getMessage()
                or "serves" in r.getMessage()]

    said = run(["vendor/a", "vendor/b"], ["a", "b", "c", "d"])
    assert len(said) == 1, said
    assert said[0].startswith("the endpoint serves 'm' by several models in turn "
                              "(vendor/a, vendor/b): a router"), said[0]
    # later runs: said once each, at their first answer, what it means, never a "new"
    # model; a model new to the name is noted and named the next time
    said = run(["vendor/b", "vendor/c"], ["e", "f"])
    assert len(said) == 1 and "by several models in turn (vendor/b, vendor/a)" in said[0], said
    said = run(["vendor/c"], ["g"])
    assert len(said) == 1 and "in turn (vendor/c, vendor/b, vendor/a)" in said[0], said
    assert "is served by" not in said[0], said


def test_the_notes_of_several_models_and_the_model_list_leave_served_as_older_tagsmith_reads_it(
        tmp_path, caplog):
    # the models serving a name in turn were noted in ``served`` joined by a line
    # break, and the model list's note under a NUL-prefixed name: a tagsmith from before
    # reads ``served_model`` as the one model serving the name, and warned on every run
    # that the name was now served by another ("vendor/a\nvendor/b"). They have a
    # table of their own, created in a cache made before it
    import itertools
    import json
    import logging
    import sqlite3
    import time

    from tagsmith.labeling.cache import (
        KEPT_SCHEMA,
        REFUSALS_SCHEMA,
        SCHEMA,
        SERVED_SCHEMA,
        ResponseCache,
    )
    from tagsmith.labeling.client import CachedClient, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer, Reply

    path = tmp_path / "llm.sqlite"
    with sqlite3.connect(path) as connection:  # a cache of the tagsmith before the notes
        for schema in (SCHEMA, REFUSALS_SCHEMA, KEPT_SCHEMA, SERVED_SCHEMA):
            connection.execute(schema)
    connection.close()
    turn, lock = itertools.cycle(["vendor/a", "vendor/b"]), threading.Lock()

    def behaviour(body):
        with lock:
            model = next(turn)
        return Reply(raw=json.dumps({
            "id": "c", "object": "chat.completion", "model": model,
            "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1}}).encode())

    created = int(time.time()) - 30 * 86400
    with LocalChatServer(behaviour, models=_ollama_list(created)) as server:
        with CachedClient(OpenAIChatClient(server.base_url, "m", timeout=NET),
                          ResponseCache(path)) as client:
            with caplog.at_level(logging.WARNING, logger="tagsmith"):
                complete_all(client, [request(t) for t in "abcd"], n_workers=1)
                for thread in client.listing_threads:
                    thread.join(NET)
    assert any("by several models in turn" in r.getMessage() for r in caplog.records)
    with sqlite3.connect(path) as connection:
        served = connection.execute("SELECT model, served_model FROM served").fetchall()
        # what a tagsmith from before reads: one model per name asked, as it wrote them
        assert served == [("m", "vendor/a")], served
        notes = dict(((model, kind), note) for model, kind, note in connection.execute(
            "SELECT model, kind, note FROM endpoint_notes"))
    connection.close()
    assert notes[("m", "several")] == "vendor/a\nvendor/b"
    assert notes[("m", "listed")].startswith("created "), notes


def test_a_model_pulled_anew_under_its_name_is_told_by_the_model_list(tmp_path, caplog):
    # Ollama's replies name the model asked and the fingerprint fp_ollama whatever
    # `ollama pull` fetched: a model pulled anew under its name was not told, and the
    # cache (keyed by the name) replayed the old model's answers. Its model list
    # (GET /v1/models, OpenAI's protocol) gives each model's created time: looked at
    # once a run, noted, and a change said
    import logging
    import time

    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import CachedClient, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer

    path = tmp_path / "llm.sqlite"
    pulled = int(time.time()) - 30 * 86400

    def run(created: int, texts: list[str], listing: bool = True) -> tuple[list[str], int]:
        caplog.clear()

        def models():  # Ollama's: "llama3:latest" for "llama3", owned_by "library"
            return {"object": "list", "data": [
                {"id": "other:latest", "object": "model", "created": 1,
                 "owned_by": "library"},
                {"id": "m:latest", "object": "model", "created": created,
                 "owned_by": "library"}]}

        with LocalChatServer(_reply_served_by("m", "fp_ollama"),
                             models=models if listing else None) as server:
            with CachedClient(OpenAIChatClient(server.base_url, "m", timeout=NET),
                              ResponseCache(path)) as client:
                with caplog.at_level(logging.WARNING, logger="tagsmith"):
                    complete_all(client, [request(text) for text in texts], n_workers=2)
                    for thread in client.listing_threads:  # read off the run's path
                        thread.join(NET)
            lists = server.n_model_lists
        return [r.getMessage() for r in caplog.records
                if "model list" in r.getMessage()], lists

    assert run(pulled, ["a", "b", "c"]) == ([], 1)  # noted; one request a run
    assert run(pulled, ["a", "d"]) == ([], 1)  # the same model: nothing said
    assert run(pulled, ["e"], listing=False) == ([], 1)  # no list (404): quiet
    said, lists = run(pulled + 86400, ["a", "f"])  # pulled anew
    assert lists == 1 and len(said) == 1, said
    def day(stamp: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))

    assert (f"the endpoint's model list now says of 'm': created {day(pulled + 86400)}; "
            f"the answers the response cache {path} holds for it came when it said: "
            f"created {day(pulled)}") in said[0], said[0]
    assert run(pulled + 86400, ["g"]) == ([], 1)  # noted: said once
    # a model pulled a minute before the run is said at that run (created within 10
    # minutes of now was taken for the time of a listing and left out: said later)
    said, _ = run(int(time.time()) - 60, ["h"])
    assert len(said) == 1 and "now says of 'm': created" in said[0], said


def test_a_servers_start_or_listing_time_as_created_is_no_new_model(tmp_path, caplog):
    # vLLM and llama.cpp give the time of the listing as created, another server may
    # give its own start: created older than 10 minutes was noted, and every restart
    # warned of a model "pulled or built anew". Read only of Ollama (fp_ollama)
    import logging
    import time

    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import CachedClient, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer

    path = tmp_path / "llm.sqlite"

    def run(started: int, owned_by: str, fingerprint: str, text: str) -> list[str]:
        caplog.clear()

        def models():
            return {"object": "list", "data": [{"id": "m", "object": "model",
                                                "created": started, "owned_by": owned_by}]}

        with LocalChatServer(_reply_served_by("m", fingerprint), models=models) as server:
            with CachedClient(OpenAIChatClient(server.base_url, "m", timeout=NET),
                              ResponseCache(path)) as client:
                with caplog.at_level(logging.WARNING, logger="tagsmith"):
                    complete_all(client, [request(text)], n_workers=1)
                    for thread in client.listing_threads:
                        thread.join(NET)
        return [r.getMessage() for r in caplog.records if "model list" in r.getMessage()]

    now = int(time.time())
    assert run(now - 7200, "organization_owner", "", "a") == []  # started 2 hours ago
    assert run(now - 3600, "organization_owner", "", "b") == []  # restarted
    assert run(now, "vllm", "", "c") == []
    # Ollama's is the model's own time: a change is said
    assert run(now - 86400, "library", "fp_ollama", "d") == []
    assert len(run(now - 600, "library", "fp_ollama", "e")) == 1


def _ollama_list(created: int):
    def models():
        return {"object": "list", "data": [{"id": "m:latest", "object": "model",
                                            "created": created, "owned_by": "library"}]}
    return models


def test_a_slow_model_list_holds_no_run_and_one_answered_after_the_close_says_nothing(
        tmp_path, caplog, monkeypatch):
    # the model list was read in the worker that stored the first answer: a slow
    # GET /v1/models held the run up to LIST_TIMEOUT (5 s; the whole run at one
    # worker). It is read on a thread of its own: the run ends without it
    import logging
    import time

    import tagsmith.labeling.client as client_module
    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import LISTED_KEY, CachedClient, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer

    monkeypatch.setattr(client_module, "LIST_TIMEOUT", NET)  # as long as it takes
    path = tmp_path / "llm.sqlite"
    pulled = int(time.time()) - 30 * 86400

    def run(created: int, close_first: bool, texts: tuple[str, ...]):
        caplog.clear()
        asked, release, answered = threading.Event(), threading.Event(), threading.Event()
        listing = _ollama_list(created)

        def models():
            asked.set()
            release.wait(NET)
            answered.set()
            return listing()

        with LocalChatServer(_reply_served_by("m", "fp_ollama"), models=models) as server:
            client = CachedClient(OpenAIChatClient(server.base_url, "m", timeout=NET),
                                  ResponseCache(path))
            with caplog.at_level(logging.WARNING, logger="tagsmith"):
                complete_all(client, [request(t) for t in texts], n_workers=1)
                # the run did not wait for the list (it waited 5 s, or all NET here)
                assert not answered.is_set()
                assert asked.wait(NET)
                if close_first:
                    client.close()
                release.set()
                for thread in client.listing_threads:
                    thread.join(NET)
                    assert not thread.is_alive()
                if not close_first:
                    client.close()
        with ResponseCache(path) as cache:
            noted = cache.endpoint_note("m", LISTED_KEY)
        said = [r.getMessage() for r in caplog.records if "model list" in r.getMessage()]
        return said, noted

    said, noted = run(pulled, False, ("a", "b", "c"))
    assert said == [] and noted is not None  # compared as it came
    # answered once the client was closed: not looked at, no warning, no crash
    said, after = run(pulled + 86400, True, ("d", "e"))
    assert said == [] and after == noted
    # not noted then: said at the next run that reads it
    said, _ = run(pulled + 86400, False, ("f",))
    assert len(said) == 1 and "model list now says of 'm'" in said[0]


def test_a_model_list_as_a_web_page_a_404_or_answered_after_the_run_stopped_is_quiet(
        tmp_path, caplog):
    import logging
    import time

    from tagsmith.labeling.cache import ResponseCache
    from tagsmith.labeling.client import LISTED_KEY, CachedClient, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer, Reply, user_prompt

    path = tmp_path / "llm.sqlite"
    pulled = int(time.time()) - 30 * 86400

    def noted() -> tuple[str, str] | None:
        with ResponseCache(path) as cache:
            return cache.endpoint_note("m", LISTED_KEY)

    def run(models, texts=("a",), behaviour=None, after=None):
        caplog.clear()
        with LocalChatServer(behaviour or _reply_served_by("m", "fp_ollama"),
                             models=models) as server:
            with CachedClient(OpenAIChatClient(server.base_url, "m", timeout=NET,
                                               max_retries=0),
                              ResponseCache(path)) as client:
                with caplog.at_level(logging.WARNING, logger="tagsmith"):
                    try:
                        complete_all(client, [request(t) for t in texts], n_workers=1)
                    except LLMError as exc:
                        error = str(exc)
                    else:
                        error = ""
                    if after is not None:
                        after()
                    for thread in client.listing_threads:
                        thread.join(NET)
            lists = server.n_model_lists
        return [r.getMessage() for r in caplog.records
                if "model list" in r.getMessage()], lists, error

    assert run(lambda: b"<html><body>Sign in</body></html>") == ([], 1, "")
    assert run(None, ("b",)) == ([], 1, "")  # 404
    assert noted() is None
    assert run(_ollama_list(pulled), ("c",)) == ([], 1, "")
    first = noted()
    assert first is not None
    # the run stops (a refused key) while the list is read: answered after the run
    # has ended, it is not looked at (no warning of a "new" model, nothing noted)
    release = threading.Event()
    slow = _ollama_list(pulled + 86400)

    def models():
        release.wait(NET)
        return slow()

    ok = _reply_served_by("m", "fp_ollama")

    def behaviour(body):
        if user_prompt(body) == "fail":
            return Reply(status=401, raw=b'{"error": {"message": "bad key"}}')
        return ok(body)

    said, lists, error = run(models, ("d", "fail"), behaviour, after=release.set)
    assert "bad key" in error and lists == 1 and said == [] and noted() == first


def test_the_model_lists_connect_waits_the_lists_time_not_the_clients_timeout():
    # the list's connect waited the client's whole timeout (minutes) on an address that
    # had stopped answering; a call's connect after it, on the same connection, still
    # waits the client's own
    from tagsmith.labeling.client import LIST_TIMEOUT, OpenAIChatClient
    from tagsmith.testing.llm_server import LocalChatServer

    models = {"data": [{"id": "m", "root": "/weights/m"}]}
    with LocalChatServer(_reply_served_by("m", ""), models=lambda: models) as server:
        client = OpenAIChatClient(server.base_url, "m", timeout=600.0, max_retries=0)
        waits: list[float] = []
        opened = client._open_socket

        def opening(address, timeout, source_address=None):
            waits.append(timeout)
            return opened(address, timeout, source_address)

        client._open_socket = opening  # type: ignore[method-assign]
        assert client.listed_details("m") == "root /weights/m"
        client._local.connection.close()  # the socket only: the call opens it anew
        client.complete(request("a"))
        client.close()
    assert waits == [LIST_TIMEOUT, 600.0]


def test_a_subclass_of_tagsmiths_client_keeping_its_calls_is_not_said_to_be_ones_own():
    # a subclass of OpenAIChatClient changing only its headers runs tagsmith's complete
    # (no retry once the run has stopped): it was said "a client of your own: its
    # retries too", which it does not; one with a complete of its own still is
    from tagsmith.labeling.client import CachedClient, OpenAIChatClient, _own_client

    class Headed(OpenAIChatClient):
        def _headers(self):
            return {**super()._headers(), "X-Team": "labels"}

    class Logged(OpenAIChatClient):
        def complete(self, request):
            return super().complete(request)

    headed = Headed("http://127.0.0.1:9/v1", "m", api_key_env="TAGSMITH_NO_SUCH_KEY")
    logged = Logged("http://127.0.0.1:9/v1", "m", api_key_env="TAGSMITH_NO_SUCH_KEY")
    assert _own_client(headed) is None
    assert _own_client(logged) == "Logged"
    assert _own_client(OwnClient()) == "OwnClient"
    assert _own_client(CachedClient.__new__(CachedClient)) is None
