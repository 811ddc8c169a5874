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
    with pytest.raises(LLMError, match="in a row failed"):
        complete_all(client, [request("wait"), request("fail")], n_workers=2,
                     max_consecutive_failures=1)
    assert client.saw_stop.is_set()
    assert run_stop() is None  # outside a run
