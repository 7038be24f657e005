"""A small OpenAI-compatible completions server over a local model: ``python -m core.serve_model``.

It answers what WhyLM (and lm-evaluation-harness) ask a served model for, as vLLM
does: ``POST /v1/completions`` with ``prompt`` as text or token ids (one prompt or
a list), ``max_tokens`` (greedy), ``echo`` with ``logprobs: k`` (each token's
log-probability, the first one null; its text in ``tokens``, as it reads in the
decoded text; the ``k`` most likely tokens at each position in ``top_logprobs``,
with the token itself; ``text_offset`` for a text prompt), and vLLM's
``prompt_logprobs``; ``GET /v1/models`` names the model. Use it to put a model on
a GPU machine for a team's WhyLM, or to try the served-model path on one machine::

    python -m core.serve_model --model default --port 8000
    # then a spec's model: {"name": "default", "endpoint": "http://127.0.0.1:8000/v1"}

Prompts go through a prefix key/value cache (``core.models.prefix_cache``, like
vLLM's automatic prefix caching): rows sent in lexicographic token order, as
WhyLM's client sends them, compute each shared beginning once, across requests
too (``--no-prefix-cache`` turns it off; the numbers agree to 1e-5). A request
whose client hangs up is abandoned at its next model call. The port is taken
before the model loads, so a port in use is said at once. Requests are served on
threads; the model is shared turn by turn, as the dashboard shares it.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.errors import Cancelled, WhyLMError
from core.models.prefix_cache import DEFAULT_BUDGET_MB, TOP_K, Path, PrefixCache

MAX_BODY_BYTES = 64 * 2**20
MAX_NEW_TOKENS = 512
ABANDONED: deque[float] = deque(maxlen=100)  # when the last requests whose client hung up were abandoned


class BadRequest(Exception):
    """A request the server cannot answer; its message is sent back as the error."""


def _prompts(body: dict[str, Any], tokenizer: Any) -> list[list[int]]:
    """The request's prompts as token-id lists (text is encoded without special tokens)."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [list(tokenizer(prompt, add_special_tokens=False)["input_ids"])]
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        return [list(prompt)]
    if isinstance(prompt, list) and prompt and all(isinstance(p, (str, list)) for p in prompt):
        return [ids for p in prompt for ids in _prompts({"prompt": p}, tokenizer)]
    raise BadRequest("prompt must be a text, a list of token ids, or a list of those.")


def complete(lm: Any, body: dict[str, Any], cache: PrefixCache | None = None,
             should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Answer one completions request (the OpenAI response document).

    Prompts are scored one after the other in lexicographic token order through
    ``cache`` (a :class:`~core.models.prefix_cache.PrefixCache`; a private one,
    off, when None), each greedily continued by ``max_tokens``. ``logprobs: k`` gives
    each token's log-probability, its text (``tokens``) and the ``k`` most likely
    tokens at its position (``top_logprobs``, with the token itself, as vLLM does).
    ``should_stop`` (the client went away) ends the work between model calls.
    """
    prompts = _prompts(body, lm.tokenizer)
    text_prompt = isinstance(body.get("prompt"), str)  # offsets in the text only for text (scoring sends ids)
    vocab = len(lm.tokenizer)
    if any(not p or min(p) < 0 or max(p) >= max(vocab, lm.model.config.vocab_size) for p in prompts):
        raise BadRequest("every prompt needs at least one token, each a token id of this model.")
    max_tokens = body.get("max_tokens", 16)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 0 <= max_tokens <= MAX_NEW_TOKENS:
        raise BadRequest(f"max_tokens must be a whole number from 0 to {MAX_NEW_TOKENS}.")
    top_k = _top_k(body.get("logprobs"))
    echo = bool(body.get("echo", False))
    want_prompt_logprobs = body.get("prompt_logprobs") is not None
    cache = cache if cache is not None else PrefixCache(lm, enabled=False)
    paths: dict[int, Path] = {}
    for index in sorted(range(len(prompts)), key=lambda i: prompts[i]):  # trie order: each shares most with the last
        paths[index] = cache.score(prompts[index], max_tokens, should_stop)
    choices = []
    for index, p in enumerate(prompts):
        path = paths[index]
        shown = slice(0 if echo else len(p), len(path.ids))
        ids = path.ids[shown]
        choice: dict[str, Any] = {
            "index": index,
            "text": lm.tokenizer.decode(ids),
            "finish_reason": "length",
            "logprobs": None,
        }
        if top_k is not None:
            pieces = token_texts(lm.tokenizer, path.ids)[shown]
            choice["logprobs"] = {
                "tokens": pieces,
                "token_ids": ids,
                "token_logprobs": path.log_probs[shown],
                "top_logprobs": [
                    _top_dict(lm.tokenizer, path.ids, i, path.tops[i], path.log_probs[i], top_k)
                    for i in range(len(path.ids))[shown]
                ],
            }
            if text_prompt:  # where each token starts in the text (echo) or after the prompt (not echoed)
                start = 0 if echo else len(lm.tokenizer.decode(p))
                offsets, at = [], start
                for piece in pieces:
                    offsets.append(at)
                    at += len(piece)
                choice["logprobs"]["text_offset"] = offsets
        if want_prompt_logprobs:
            choice["prompt_logprobs"] = [
                None if lp is None else {str(t): {"logprob": lp, "decoded_token": lm.tokenizer.decode([t])}}
                for t, lp in zip(p, path.log_probs[: len(p)])
            ]
        choices.append(choice)
    return {
        "id": f"cmpl-{time.time_ns()}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": body.get("model") or lm.name,
        "choices": choices,
        "usage": {"prompt_tokens": sum(map(len, prompts)), "completion_tokens": max_tokens * len(prompts)},
    }


def _top_k(value: Any) -> int | None:
    """The request's ``logprobs`` (how many most likely tokens per position), or None when not asked."""
    if value is None or value is False:
        return None
    if value is True:
        return 1
    if not isinstance(value, int) or not 0 <= value <= TOP_K:
        raise BadRequest(f"logprobs must be a whole number from 0 to {TOP_K}.")
    return value


def token_texts(tokenizer: Any, ids: list[int], window: int = 4) -> list[str]:
    """Each token's text as it reads in the decoded sequence (" capital", not "Ġcapital"), as vLLM gives it.

    Decoded with up to ``window`` tokens before it, so a tokenizer that drops a word's
    leading space when a token is decoded alone (SentencePiece) keeps it.
    """
    out = []
    for i, token in enumerate(ids):
        before = ids[max(0, i - window) : i]
        head = tokenizer.decode(before)
        whole = tokenizer.decode([*before, token])
        out.append(whole[len(head) :] if whole.startswith(head) else tokenizer.decode([token]))
    return out


def _top_dict(tokenizer: Any, ids: list[int], i: int, top: tuple[list[int], list[float]] | None,
              own: float | None, k: int) -> dict[str, float] | None:
    """``top_logprobs`` at position ``i``: its ``k`` most likely tokens by text, and the token itself (``own``)."""
    if top is None or own is None:
        return None
    pairs = [*zip(top[0][:k], top[1][:k]), (ids[i], own)]
    before = ids[max(0, i - 4) : i]
    head = tokenizer.decode(before)
    out: dict[str, float] = {}
    for token, value in pairs:
        whole = tokenizer.decode([*before, token])
        text = whole[len(head) :] if whole.startswith(head) else tokenizer.decode([token])
        out[text] = max(value, out.get(text, value))  # two tokens with one text: the likelier one
    return out


def client_gone(sock: socket.socket) -> bool:
    """Whether the client at the other end of ``sock`` hung up (it can be read and reads as the end)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def make_handler(lm: Any, served_name: str, cache: PrefixCache | None = None) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to a loaded model (and its prefix cache)."""
    cache = cache if cache is not None else PrefixCache(lm)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            """Quiet: one line per error only."""

        def _send(self, status: int, doc: dict[str, Any]) -> None:
            data = json.dumps(doc).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            """``/v1/models``: the served model."""
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": served_name, "object": "model"}]})
            else:
                self._error(404, f"no such path {self.path}; use /v1/completions or /v1/models.")

        def do_POST(self) -> None:  # noqa: N802
            """``/v1/completions``."""
            if self.path.rstrip("/") not in ("/v1/completions", "/completions"):
                self._error(404, f"no such path {self.path}; use /v1/completions.")
                return
            size = int(self.headers.get("Content-Length") or 0)
            if size > MAX_BODY_BYTES:
                self._error(413, "the request is too large.")
                return
            try:
                body = json.loads(self.rfile.read(size) or b"{}")
                if not isinstance(body, dict):
                    raise BadRequest("the request body must be a JSON object.")
                name = body.get("model")
                if name is not None and name != served_name:
                    self._error(404, f"the model '{name}' does not exist here; this server serves '{served_name}'.")
                    return
                self._send(200, complete(lm, body, cache, lambda: client_gone(self.connection)))
            except Cancelled:  # the client hung up: nobody to answer
                self.close_connection = True
                ABANDONED.append(time.monotonic())
            except (BadRequest, ValueError) as exc:
                self._error(400, str(exc))
            except WhyLMError as exc:
                self._error(400, str(exc))
            except Exception as exc:  # noqa: BLE001 - a server answers, it does not die
                self._error(int(HTTPStatus.INTERNAL_SERVER_ERROR), f"{type(exc).__name__}: {exc}")

    return Handler


class _NotYet(BaseHTTPRequestHandler):
    """The handler while the model loads (the port is already taken; nothing is served before ``serve_forever``)."""


def serve(model: str, host: str, port: int, served_name: str | None = None, prefix_cache: bool = True,
          cache_mb: float = DEFAULT_BUDGET_MB) -> ThreadingHTTPServer:
    """Take ``host:port``, then load ``model``; return the (not yet serving) HTTP server.

    The port is taken first, so a port in use fails at once with a sentence
    (``WhyLMError``), before the model's load.
    """
    from core.models.loading import load_model

    try:
        server = ThreadingHTTPServer((host, port), _NotYet)
    except OSError as exc:
        raise WhyLMError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); is another server using that port? "
            "Pick another with --port."
        ) from None
    server.daemon_threads = True
    try:
        lm = load_model(model)
    except BaseException:
        server.server_close()
        raise
    server.RequestHandlerClass = make_handler(lm, served_name or lm.name, PrefixCache(lm, prefix_cache, cache_mb))
    return server


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m core.serve_model", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help="model to serve: default, a hub id or a folder")
    parser.add_argument("--served-name", default=None, help="the name clients ask for (default: --model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--no-prefix-cache", action="store_true", help="compute every prompt from its first token")
    parser.add_argument("--prefix-cache-mb", type=float, default=DEFAULT_BUDGET_MB,
                        help=f"memory the prefix cache may hold (default {DEFAULT_BUDGET_MB:g} MB)")
    args = parser.parse_args(argv)
    try:
        server = serve(args.model, args.host, args.port, args.served_name, not args.no_prefix_cache,
                       args.prefix_cache_mb)
    except WhyLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Serving {args.served_name or args.model} on http://{args.host}:{server.server_port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
