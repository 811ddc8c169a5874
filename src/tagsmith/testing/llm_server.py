"""A local OpenAI-compatible chat-completions server, for tests and benchmarks.

It stands in for a remote LLM API (the only thing tagsmith talks to outside this
machine), so the real :class:`~tagsmith.labeling.client.OpenAIChatClient` is exercised
over real HTTP on 127.0.0.1. A *behaviour* function decides each answer from the
request body: a string is the assistant's message, a :class:`Reply` can also set the
status, headers, a delay (to provoke client time-outs) or a raw, broken body.

>>> from tagsmith.labeling.client import ChatRequest, OpenAIChatClient
>>> with LocalChatServer(lambda body: "hello " + body["model"]) as server:
...     client = OpenAIChatClient(server.base_url, "m1")
...     client.complete(ChatRequest("m1", ({"role": "user", "content": "hi"},))).text
'hello m1'
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """One scripted HTTP answer."""

    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None
    #: close the connection after answering without saying so (no ``Connection:
    #: close``), as servers drop kept-alive connections that sit idle
    hang_up: bool = False
    #: send all but this many bytes of the body announced in ``Content-Length``, then
    #: close the connection (a reply cut short: a proxy or server dying mid-answer)
    cut_short: int = 0


Behaviour = Callable[[dict], "str | Reply"]


def user_prompt(body: dict) -> str:
    """The last user message of a chat-completions request body."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


class LocalChatServer:
    """``ThreadingHTTPServer`` on 127.0.0.1 (a free port) answering ``POST .../chat/completions``.

    Use as a context manager; ``base_url`` ends in ``/v1``; ``requests`` keeps every
    request body received (thread-safe append), ``paths`` every request's path and query
    (a query string after ``/chat/completions`` is allowed, as Azure's ``api-version``).
    """

    def __init__(self, behaviour: Behaviour, *, host: str = "127.0.0.1",
                 models: Callable[[], dict | bytes] | None = None):
        self.behaviour = behaviour
        #: the body of ``GET .../models`` (OpenAI's model list), asked anew each time
        #: (bytes: sent as they are, as text/html: a web page in its place); None:
        #: HTTP 404, as a server without the list answers
        self.models = models
        #: how many ``GET .../models`` were received
        self.n_model_lists = 0
        self.requests: list[dict] = []
        #: the path (and query) of every POST received
        self.paths: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # the headers and the body go out in two writes: with Nagle's algorithm the
            # body waited for the client's delayed ACK of the headers, ~40 ms a reply
            # (an "instant" server answered 20 requests a second to one client)
            disable_nagle_algorithm = True

            def log_message(self, format, *args):  # quiet
                pass

            def do_GET(self):
                listing = self.path.partition("?")[0].endswith("/models")
                with server._lock:
                    server.n_model_lists += listing
                if not listing or server.models is None:
                    self._send(404, b'{"error": "not found"}', {})
                    return
                body = server.models()
                if isinstance(body, bytes):
                    self._send(200, body, {}, content_type="text/html")
                    return
                self._send(200, json.dumps(body).encode("utf-8"), {})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with server._lock:
                    server.paths.append(self.path)
                if not self.path.partition("?")[0].endswith("/chat/completions"):
                    self._send(404, b'{"error": "not found"}', {})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, b'{"error": "bad json"}', {})
                    return
                with server._lock:
                    server.requests.append(body)
                reply = server.behaviour(body)
                if isinstance(reply, str):
                    reply = Reply(content=reply)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.raw is not None:
                    payload = reply.raw
                elif reply.status == 200:
                    content = reply.content or ""
                    payload = json.dumps({
                        "id": "chatcmpl-local", "object": "chat.completion",
                        "model": body.get("model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": len(raw) // 4,
                                  "completion_tokens": max(1, len(content) // 4),
                                  "total_tokens": len(raw) // 4 + max(1, len(content) // 4)},
                    }).encode("utf-8")
                else:
                    payload = json.dumps({"error": {"message": reply.content or "error"}}
                                         ).encode("utf-8")
                self._send(reply.status, payload, reply.headers, reply.cut_short)
                if reply.hang_up or reply.cut_short:
                    self.close_connection = True

            def _send(self, status: int, payload: bytes, headers: dict[str, str],
                      cut_short: int = 0, content_type: str = "application/json"):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload[:max(len(payload) - cut_short, 0)])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a time-out test)

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host}:{port}/v1"

    def start(self) -> LocalChatServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalChatServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
