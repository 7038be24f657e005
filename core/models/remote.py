"""Served models: log-probabilities from an OpenAI-compatible completions endpoint (vLLM, SGLang, ...).

Perturbation methods, generated targets and both probes need only the
log-probabilities of given tokens after given prompts. A served model answers
those through ``POST {endpoint}/completions`` with the prompt as token ids,
``echo`` and ``logprobs`` (the protocol lm-evaluation-harness uses). The
tokenizer is loaded here, from the model's id or folder (or ``tokenizer``), so
the token ids sent are the ones attributed.

A spec asks for one with a model object::

    "model": {"name": "meta-llama/Llama-3.1-70B-Instruct", "endpoint": "http://gpu-box:8000/v1"}

Settings (environment, never the spec or the database): ``WHYLM_ENDPOINT_API_KEY``
(sent as a bearer token), ``WHYLM_ENDPOINT_CONCURRENCY`` (requests in flight,
default 4), ``WHYLM_ENDPOINT_TIMEOUT_S`` (per request, default 60).

Before a server is first used, :func:`self_check` compares a generated token's
log-probability with the same token echoed back (as text, then as token ids); a
server whose answers disagree (the llama-cpp-python server's echo is shifted by
one token), that returns no log-probabilities, or that takes no token-id prompts
is refused with a sentence.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import Cancelled, ModelLoadError, WhyLMError
from core.models.sharing import ModelShare

API_KEY_ENV = "WHYLM_ENDPOINT_API_KEY"
CONCURRENCY_ENV = "WHYLM_ENDPOINT_CONCURRENCY"
TIMEOUT_ENV = "WHYLM_ENDPOINT_TIMEOUT_S"
RETRIED_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
ATTEMPTS = 4
ROWS_PER_REQUEST = 32
CHECK_PROMPT = "The capital of France is"
CHECK_TOLERANCE = 0.05  # nats: a served model's generation and scoring paths may differ this much
_CHECKED: dict[tuple[str, str], int] = {}  # checked servers: the tokens a scoring request asks for
_CHECK_LOCK = threading.Lock()


class EndpointError(WhyLMError):
    """A served model did not answer as it should (a sentence for the user)."""


def _setting(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise WhyLMError(f"{name} must be a number (got {raw!r}).") from None
    if value < minimum:
        raise WhyLMError(f"{name} must be at least {minimum:g} (got {raw}).")
    return value


@dataclass
class RemoteModel:
    """A model served behind an OpenAI-compatible endpoint, with its tokenizer loaded here.

    It stands where a :class:`~core.models.loading.LoadedModel` stands for the
    perturbation methods and probes; gradient methods need local weights.
    """

    name: str
    endpoint: str
    tokenizer: Any
    display_name: str
    revision: str = "served"
    max_context: int = 4096
    lock: ModelShare = field(default_factory=ModelShare)
    model: None = None
    output_head: None = None
    dtype_name: str = "served"
    n_parameters: int = 0
    score_tokens: int = 1  # tokens a scoring request asks to generate: 0 where the server allows it (no waste)

    @property
    def device(self) -> Any:
        """Where the inputs go: nowhere local (the CPU, for tensors built on the way)."""
        import torch

        return torch.device("cpu")

    def complete(self, prompts: list[list[int]], max_tokens: int, echo: bool, **extra: Any) -> list[dict[str, Any]]:
        """The server's choices for ``prompts`` (token ids), in order."""
        body = {"model": self.name, "prompt": prompts, "max_tokens": max_tokens, "echo": echo, "logprobs": 1,
                "temperature": 0.0, **extra}
        doc = _post(f"{self.endpoint}/completions", body)
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if not isinstance(choices, list) or len(choices) != len(prompts):
            raise EndpointError(f"The server at {self.endpoint} answered without one choice per prompt; "
                                "is it an OpenAI-compatible completions endpoint?")
        return sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)

    def complete_text(self, prompt: str, max_tokens: int, echo: bool) -> dict[str, Any]:
        """The server's one choice for a text prompt (every OpenAI-compatible server takes text)."""
        body = {"model": self.name, "prompt": prompt, "max_tokens": max_tokens, "echo": echo, "logprobs": 1,
                "temperature": 0.0}
        doc = _post(f"{self.endpoint}/completions", body)
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
            raise EndpointError(f"The server at {self.endpoint} answered without a choice; "
                                "is it an OpenAI-compatible completions endpoint?")
        return choices[0]

    def generate(self, prompt_ids: list[int], max_new_tokens: int, seed: int | None = None,
                 temperature: float = 0.0, top_p: float = 1.0) -> list[int]:
        """The served model's continuation of ``prompt_ids`` as token ids (greedy unless a temperature is given)."""
        extra: dict[str, Any] = {"temperature": temperature, "top_p": top_p}
        if seed is not None:
            extra["seed"] = seed
        [choice] = self.complete([prompt_ids], max_new_tokens, echo=False, **extra)
        ids = (choice.get("logprobs") or {}).get("token_ids")
        if isinstance(ids, list) and all(isinstance(t, int) for t in ids):
            return ids
        return list(self.tokenizer(choice.get("text", ""), add_special_tokens=False)["input_ids"])


def _headers() -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(API_KEY_ENV, "").strip()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _post(url: str, body: dict[str, Any], should_stop: Callable[[], bool] | None = None) -> Any:
    """POST ``body`` as JSON; retry transient failures with back-off; a sentence for any other failure."""
    timeout = _setting(TIMEOUT_ENV, 60.0, 0.1)
    data = json.dumps(body).encode("utf-8")
    for attempt in range(ATTEMPTS):
        request = urllib.request.Request(url, data=data, headers=_headers(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - a configured URL
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRIED_STATUS or attempt == ATTEMPTS - 1:
                raise EndpointError(_refusal(url, exc)) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError) or isinstance(exc, TimeoutError):
                raise EndpointError(
                    f"The server at {url} did not answer within {timeout:g} s; it may be overloaded. "
                    f"Try again, or raise {TIMEOUT_ENV}."
                ) from None
            if attempt == ATTEMPTS - 1:
                raise EndpointError(
                    f"Could not reach the server at {url} ({reason}); check that it is running and the "
                    "endpoint address is right."
                ) from None
        except ValueError:
            raise EndpointError(f"The server at {url} did not answer with JSON; is it a completions endpoint?") from None
        _sleep(0.5 * 2**attempt, should_stop)
    raise EndpointError(f"The server at {url} did not answer.")  # not reached


def _sleep(seconds: float, should_stop: Callable[[], bool] | None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if should_stop is not None and should_stop():
            raise Cancelled("Stopped.")
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def _refusal(url: str, exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read()).get("error", {}).get("message", "")
    except (ValueError, AttributeError, OSError):
        message = ""
    said = f": {str(message)[:300]}" if message else ""
    if exc.code in (401, 403):
        return f"The server at {url} refused the request ({exc.code}); set {API_KEY_ENV} to a key it accepts."
    if exc.code == 404:
        return f"The server at {url} does not know this model or path (404{said}); check the model name and endpoint."
    return f"The server at {url} answered {exc.code}{said}."


def _token_logprobs(choice: Any, url: str) -> list[float | None]:
    logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
    values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
    if not isinstance(values, list) or not values:
        raise EndpointError(
            f"The server at {url} returns no log-probabilities for the prompt (echo with logprobs), which WhyLM "
            "needs; use a server that does, such as vLLM or `python -m core.serve_model`."
        )
    return values


class RemoteScorer:
    """Scores target tokens after prompts through a served model (the interface of ``BatchedScorer``).

    Rows are sent sorted, so rows that share a prefix go out together and the
    server's prefix cache can serve them; ``concurrency`` requests are in flight
    at once; Stop cancels what has not been sent and ends the run.
    """

    def __init__(self, lm: RemoteModel, progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.lm = lm
        self.progress = progress
        self.should_stop = should_stop
        self.concurrency = int(_setting(CONCURRENCY_ENV, 4, 1))
        self.forward_passes = 0
        self.model_calls = 0
        self.tokens_processed = 0

    def log_probs(self, rows: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[np.ndarray]:
        """Log-probability of each target token for each (prompt ids, target ids) row, in input order."""
        keys = [(tuple(int(t) for t in p), tuple(int(t) for t in c)) for p, c in rows]
        if any(not p or not c for p, c in keys):
            raise ValueError("a prompt and a target must each have at least one token")
        unique = sorted(set(keys), key=lambda k: k[0] + k[1])
        chunks = [unique[i : i + ROWS_PER_REQUEST] for i in range(0, len(unique), ROWS_PER_REQUEST)]
        found: dict[tuple[tuple[int, ...], tuple[int, ...]], np.ndarray] = {}
        done = 0
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        pending: set[Future] = set()
        try:
            queue = iter(chunks)
            while True:
                self._check_stop()
                for chunk in queue:
                    pending.add(pool.submit(self._score, chunk))
                    if len(pending) >= self.concurrency:
                        break
                if not pending:
                    break
                finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in finished:
                    part = future.result()
                    found.update(part)
                    done += len(part)
                    if self.progress is not None:
                        self.progress(done, len(unique))
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
        return [found[k].copy() for k in keys]

    def summed_log_probs(self, prompt_ids: Sequence[Sequence[int]], continuation_ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Log-probability of each continuation (summed over its tokens) after each prompt."""
        rows = [(p, c) for p in prompt_ids for c in continuation_ids]
        sums = np.array([lp.sum() for lp in self.log_probs(rows)], dtype=float)
        return sums.reshape(len(prompt_ids), len(continuation_ids))

    def _check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("Stopped.")

    def _score(self, chunk: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> dict[Any, np.ndarray]:
        seqs = [list(p + c) for p, c in chunk]
        url = f"{self.lm.endpoint}/completions"
        body = {"model": self.lm.name, "prompt": seqs, "max_tokens": self.lm.score_tokens, "echo": True,
                "logprobs": 1, "temperature": 0.0}
        doc = _post(url, body, self.should_stop)
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if not isinstance(choices, list) or len(choices) != len(chunk):
            raise EndpointError(f"The server at {url} answered without one choice per prompt.")
        choices = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
        out = {}
        for (prompt, target), choice in zip(chunk, choices):
            values = _token_logprobs(choice, url)
            picked = values[len(prompt) : len(prompt) + len(target)]
            if len(picked) != len(target) or any(not isinstance(v, (int, float)) for v in picked):
                raise EndpointError(f"The server at {url} returned log-probabilities for fewer tokens than it was sent.")
            out[(prompt, target)] = np.array(picked, dtype=float)
        self.model_calls += 1
        self.forward_passes += len(chunk)
        self.tokens_processed += sum(len(s) for s in seqs)
        return out


def _echo_position(choice: dict[str, Any], text_chars: int, fallback: int) -> int:
    """Index of the echoed token that starts at character ``text_chars`` (``text_offset``), else ``fallback``."""
    offsets = (choice.get("logprobs") or {}).get("text_offset")
    if isinstance(offsets, list) and text_chars in offsets:
        return offsets.index(text_chars)
    return fallback


def _inconsistent(endpoint: str, said: float, again: float, route: str) -> ModelLoadError:
    return ModelLoadError(
        f"The server at {endpoint} gives inconsistent log-probabilities: it generated a token with "
        f"log-probability {said:.3f} but scores the same token {again:.3f} when it is echoed back{route} (its echo "
        "may be shifted by a token), so attributions through it would be wrong; use a server whose echo "
        "is right, such as vLLM or `python -m core.serve_model`."
    )


def self_check(lm: RemoteModel) -> None:
    """Refuse a server whose echoed log-probabilities disagree with its generated ones (once per server).

    Three requests: a token generated after a text prompt, with its log-probability;
    the prompt and that token echoed back as text (every OpenAI-compatible server
    takes text; the echoed token is found by its ``text_offset``); and the same
    echoed as token ids, the form scoring sends (with ``max_tokens`` 0 where the
    server allows it, so nothing is generated). Both echoes must give the generated
    token the log-probability it was generated with. The llama-cpp-python server
    (0.3.x) fails the text echo: its echoed log-probabilities are one token late.
    """
    key = (lm.endpoint, lm.name)
    with _CHECK_LOCK:
        if key in _CHECKED:
            lm.score_tokens = _CHECKED[key]
            return
        url = f"{lm.endpoint}/completions"
        first = lm.complete_text(CHECK_PROMPT, 1, echo=False)
        values = _token_logprobs(first, url)
        text = first.get("text", "")
        if not text or not isinstance(values[0], (int, float)):
            raise EndpointError(f"The server at {url} returned no token with its log-probability; WhyLM needs both.")
        said = float(values[0])
        prompt = list(lm.tokenizer(CHECK_PROMPT, add_special_tokens=False)["input_ids"])
        echoed = lm.complete_text(CHECK_PROMPT + text, 1, echo=True)
        back = _token_logprobs(echoed, url)
        at = _echo_position(echoed, len(CHECK_PROMPT), len(prompt))
        if at >= len(back) or not isinstance(back[at], (int, float)):
            raise EndpointError(f"The server at {url} echoes fewer log-probabilities than the tokens it was sent.")
        if abs(said - float(back[at])) > CHECK_TOLERANCE * max(1.0, abs(said)):
            raise _inconsistent(lm.endpoint, said, float(back[at]), "")
        ids = (first.get("logprobs") or {}).get("token_ids")
        generated = ids[:1] if isinstance(ids, list) and ids and isinstance(ids[0], int) else list(
            lm.tokenizer(text, add_special_tokens=False)["input_ids"])
        sent = prompt + generated[:1]
        try:  # scoring needs no generated token; a server that refuses max_tokens 0 gets 1
            [by_ids] = lm.complete([sent], 0, echo=True)
            lm.score_tokens = 0
        except EndpointError:
            try:
                [by_ids] = lm.complete([sent], 1, echo=True)
            except EndpointError as exc:
                raise EndpointError(
                    f"The server at {url} does not take prompts as token ids ({exc}), which WhyLM sends so "
                    "that the tokens it attributes are the ones scored; use vLLM, SGLang or "
                    "`python -m core.serve_model`."
                ) from None
            lm.score_tokens = 1
        again = _token_logprobs(by_ids, url)
        if lm.score_tokens == 0 and len(again) > len(sent):
            lm.score_tokens = 1  # it generated anyway (0 read as "no limit"): ask for one token, not a page
        if len(again) <= len(prompt) or not isinstance(again[len(prompt)], (int, float)):
            raise EndpointError(f"The server at {url} echoes fewer log-probabilities than the tokens it was sent.")
        if len(generated) == 1 and abs(said - float(again[len(prompt)])) > CHECK_TOLERANCE * max(1.0, abs(said)):
            raise _inconsistent(lm.endpoint, said, float(again[len(prompt)]), " as token ids")
        _CHECKED[key] = lm.score_tokens
