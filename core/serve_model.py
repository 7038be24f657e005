"""A small OpenAI-compatible completions server over a local model: ``python -m core.serve_model``.

It answers what WhyLM (and lm-evaluation-harness) ask a served model for, as vLLM
does: ``POST /v1/completions`` with ``prompt`` as text or token ids (one prompt or
a list), ``max_tokens`` (greedy), ``echo`` with ``logprobs`` (each prompt token's
log-probability, the first one null; ``text_offset`` for a text prompt), and
vLLM's ``prompt_logprobs``;
``GET /v1/models`` names the model. Use it to put a model on a GPU machine for a
team's WhyLM, or to try the served-model path on one machine::

    python -m core.serve_model --model default --port 8000
    # then a spec's model: {"name": "default", "endpoint": "http://127.0.0.1:8000/v1"}

The numbers are the local engine's (its batched scorer), so a run through this
server equals a local run. Requests are served on threads; the model is shared
turn by turn, as the dashboard shares it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.errors import WhyLMError

MAX_BODY_BYTES = 64 * 2**20
MAX_NEW_TOKENS = 512


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


def complete(lm: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Answer one completions request (the OpenAI response document)."""
    from core.attribution.scorer import BatchedScorer

    prompts = _prompts(body, lm.tokenizer)
    text_prompt = isinstance(body.get("prompt"), str)  # offsets in the text only for text (scoring sends ids)
    vocab = len(lm.tokenizer)
    if any(not p or min(p) < 0 or max(p) >= max(vocab, lm.model.config.vocab_size) for p in prompts):
        raise BadRequest("every prompt needs at least one token, each a token id of this model.")
    max_tokens = body.get("max_tokens", 16)
    if not isinstance(max_tokens, int) or not 0 <= max_tokens <= MAX_NEW_TOKENS:
        raise BadRequest(f"max_tokens must be a whole number from 0 to {MAX_NEW_TOKENS}.")
    echo = bool(body.get("echo", False))
    want_logprobs = body.get("logprobs") is not None
    want_prompt_logprobs = body.get("prompt_logprobs") is not None
    outputs = [_greedy(lm, p, max_tokens) if max_tokens else [] for p in prompts]
    every = _all_log_probs(BatchedScorer(lm), [p + out for p, out in zip(prompts, outputs)])
    choices = []
    for index, (p, out) in enumerate(zip(prompts, outputs)):
        values = every[index]
        prompt_lp: list[float | None] = [None, *values[: len(p) - 1]]
        new_lp = values[len(p) - 1 :]
        ids = (p if echo else []) + out
        choice: dict[str, Any] = {
            "index": index,
            "text": lm.tokenizer.decode(ids),
            "finish_reason": "length",
            "logprobs": None,
        }
        if want_logprobs:
            tokens = lm.tokenizer.convert_ids_to_tokens(ids)
            lps = (prompt_lp if echo else []) + new_lp
            choice["logprobs"] = {
                "tokens": tokens,
                "token_ids": ids,
                "token_logprobs": lps,
                "top_logprobs": [None if lp is None else {tok: lp} for tok, lp in zip(tokens, lps)],
            }
            if text_prompt:  # where each token starts in the text (echo) or after the prompt (not echoed)
                start = 0 if echo else len(lm.tokenizer.decode(p))
                choice["logprobs"]["text_offset"] = [start + len(lm.tokenizer.decode(ids[:i])) for i in range(len(ids))]
        if want_prompt_logprobs:
            choice["prompt_logprobs"] = [
                None if lp is None else {str(t): {"logprob": lp, "decoded_token": lm.tokenizer.decode([t])}}
                for t, lp in zip(p, prompt_lp)
            ]
        choices.append(choice)
    return {
        "id": f"cmpl-{time.time_ns()}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": body.get("model") or lm.name,
        "choices": choices,
        "usage": {"prompt_tokens": sum(map(len, prompts)), "completion_tokens": sum(map(len, outputs))},
    }


def _all_log_probs(scorer: Any, seqs: list[list[int]]) -> list[list[float]]:
    """Each sequence's log-probability of every token after the first, scoring shared beginnings once.

    Sorted, each sequence shares its beginning with the one before it; a token inside that
    shared part has the same context in both, so its log-probability is copied, and only
    the rest is scored (after the shared part, whose key/value cache the scorer reuses).
    """
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    starts: dict[int, tuple[int | None, int]] = {}
    rows = []
    before: int | None = None
    for i in order:
        seq = seqs[i]
        if len(seq) < 2:
            continue
        shared = 0
        if before is not None:
            other = seqs[before]
            while shared < min(len(other), len(seq)) and other[shared] == seq[shared]:
                shared += 1
        k = max(1, min(shared, len(seq) - 1))
        starts[i] = (before if k > 1 else None, k)
        rows.append((seq[:k], seq[k:]))
        before = i
    scored = iter(scorer.log_probs(rows)) if rows else iter(())
    out: dict[int, list[float]] = {}
    for i in order:
        if i not in starts:
            out[i] = []
            continue
        source, k = starts[i]
        copied = out[source][: k - 1] if source is not None else []
        out[i] = copied + [float(v) for v in next(scored)]
    return [out[i] for i in range(len(seqs))]


def _greedy(lm: Any, prompt: list[int], n: int) -> list[int]:
    """The model's greedy continuation of ``prompt``: ``n`` tokens (an end-of-text token is kept)."""
    import torch

    ids = torch.tensor([prompt], dtype=torch.long, device=lm.device)
    eos = lm.tokenizer.eos_token_id
    with torch.inference_mode(), lm.lock.turn():
        out = lm.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
            do_sample=False, temperature=None, top_p=None, top_k=None, pad_token_id=eos,
        )
    return [int(t) for t in out[0, len(prompt):]]


def make_handler(lm: Any, served_name: str) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to a loaded model."""

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
                self._send(200, complete(lm, body))
            except (BadRequest, ValueError) as exc:
                self._error(400, str(exc))
            except WhyLMError as exc:
                self._error(400, str(exc))
            except Exception as exc:  # noqa: BLE001 - a server answers, it does not die
                self._error(int(HTTPStatus.INTERNAL_SERVER_ERROR), f"{type(exc).__name__}: {exc}")

    return Handler


def serve(model: str, host: str, port: int, served_name: str | None = None) -> ThreadingHTTPServer:
    """Load ``model`` and return the (not yet serving) HTTP server on ``host:port``."""
    from core.models.loading import load_model

    lm = load_model(model)
    server = ThreadingHTTPServer((host, port), make_handler(lm, served_name or lm.name))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m core.serve_model", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help="model to serve: default, a hub id or a folder")
    parser.add_argument("--served-name", default=None, help="the name clients ask for (default: --model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    args = parser.parse_args(argv)
    try:
        server = serve(args.model, args.host, args.port, args.served_name)
    except WhyLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}).", file=sys.stderr)
        return 2
    print(f"Serving {args.served_name or args.model} on http://{args.host}:{server.server_port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
