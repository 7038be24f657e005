"""A misbehaving OpenAI-compatible completions server on 127.0.0.1, for the served-model hardening tests.

It answers as a plain, consistent server would (every token's log-probability
``-1.0``, so WhyLM's self-check passes) until its ``fault`` says otherwise:
``fault(number, body)`` is called for each POST (numbered from 0) and may return
None (answer normally), a document to send, or a :class:`Raw` answer (status,
headers and a body given as bytes or as an iterator of chunks, each sent after
``pause`` seconds: a drip). Every request's headers are kept in ``seen``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHECK_TEXT = " Paris"
CHECK_ID = 7042  # any id of the bundled tokenizer's vocabulary
LOG_PROB = -1.0
MAX_SECONDS = 20.0  # a drip or a huge answer stops by itself after this long


@dataclass
class Raw:
    """An answer written as it is: status line, headers, and a body (bytes, or chunks sent ``pause`` s apart)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    pause: float = 0.0
    head_pause: float = 0.0  # seconds between the bytes of the status line (a header drip)


def normal_answer(body: dict[str, Any], log_prob: float = LOG_PROB) -> dict[str, Any]:
    """What a consistent server answers: ``log_prob`` for every token, the check text when generating."""
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) or (isinstance(prompt, list) and prompt and
                                                       isinstance(prompt[0], int)) else list(prompt or [])
    n_new = int(body.get("max_tokens", 16))
    choices = []
    for index, p in enumerate(prompts):
        sent = list(p) if isinstance(p, list) else [0] * 200  # a text prompt: plenty of echoed positions
        new = [CHECK_ID] * n_new
        ids = (sent if body.get("echo") else []) + new
        lps: list[float | None] = [log_prob] * len(ids)
        if body.get("echo"):
            lps[0] = None
        logprobs: dict[str, Any] = {"token_logprobs": lps, "tokens": ["x"] * len(ids)}
        if isinstance(p, list):
            logprobs["token_ids"] = ids
        choices.append({"index": index, "text": CHECK_TEXT * n_new, "logprobs": logprobs, "finish_reason": "length"})
    return {"object": "text_completion", "choices": choices}


class FakeServer:
    """The server, serving on a thread; ``url`` is its ``/v1`` address."""

    def __init__(self, fault: Callable[[int, dict[str, Any]], Any] | None = None,
                 log_prob: float = LOG_PROB) -> None:
        self.fault = fault or (lambda number, body: None)
        self.log_prob = log_prob
        self.seen: list[dict[str, str]] = []
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with fake.lock:
                    fake.seen.append(dict(self.headers))
                self._write(Raw(404, {"Content-Type": "text/plain"}, b"no"))

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                with fake.lock:
                    number = len(fake.bodies)
                    fake.seen.append(dict(self.headers))
                    fake.bodies.append(body)
                answer = fake.fault(number, body)
                if answer is None:
                    answer = normal_answer(body, fake.log_prob)
                if not isinstance(answer, Raw):
                    data = json.dumps(answer).encode()  # NaN and Infinity written as JSON extensions, as some servers do
                    answer = Raw(200, {"Content-Type": "application/json", "Content-Length": str(len(data))}, data)
                try:
                    self._write(answer)
                except OSError:  # the client hung up (refused the answer): nothing more to send
                    self.close_connection = True

            def _write(self, answer: Raw) -> None:
                started = time.monotonic()
                status = f"HTTP/1.1 {answer.status} X\r\n".encode()
                if answer.head_pause:
                    for byte in status:
                        if time.monotonic() - started > MAX_SECONDS:
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(answer.head_pause)
                else:
                    self.wfile.write(status)
                for name, value in answer.headers.items():
                    self.wfile.write(f"{name}: {value}\r\n".encode())
                self.wfile.write(b"\r\n")
                chunks: Iterator[bytes] = iter([answer.body]) if isinstance(answer.body, bytes) else iter(answer.body)
                for chunk in chunks:
                    if time.monotonic() - started > MAX_SECONDS:
                        break
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    if answer.pause:
                        time.sleep(answer.pause)
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def close(self) -> None:
        """Stop serving, and forget this process's check of it (its port may serve another server next)."""
        from tests.serving_support import forget_checks

        self.server.shutdown()
        self.server.server_close()
        forget_checks(self.url)


class NotHttp:
    """A port that is open but speaks no HTTP (it greets and hangs up), as an SSH or database port would."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    def close(self) -> None:
        """Stop listening."""
        self.sock.close()


def closed_port() -> str:
    """The ``/v1`` address of a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
